"""The structure-kind mechanism: Kind objects, their registry, pair rules and the block type.

Nothing here knows a particular kind: the built-in kinds and their rules live in
:mod:`analyzer.structure.basic` and the kinds of traced operations in their own
modules. A pair with no registered rule makes the cheaper operand dense (and a
sum with no rule adds two dense matrices), counting the macs of forming an
operator's matrix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np
import sympy

from ..errors import AnalyzerError

__all__ = [
    "KINDS",
    "Kind",
    "Block",
    "Operands",
    "Price",
    "ProductRule",
    "SumRule",
    "register_kind",
    "register_product",
    "register_sum",
    "kind_of",
    "product_rule",
    "sum_rule",
    "multiply",
    "multiply_counted",
    "add",
    "add_counted",
    "merge_counted",
    "stored_size",
    "to_dense",
    "as_dense_block",
    "exact_quotient",
    "rules_version",
]

Size = Any  # an int, or a sympy expression when sizes are symbols
Shape = tuple[Size, Size]

#: Registered kinds by name.
KINDS: dict[str, Kind] = {}
#: Rules already looked up, by (product or sum, kind, kind); cleared by every registration.
_LOOKUP: dict[tuple[str, str, str], Any] = {}
#: Bumped by every registration, so that a plan priced under other rules is not executed.
VERSION = 0


# ----------------------------------------------------------------------------- kinds
class Kind(str):
    """A structure kind: how a factor of some shape is stored and read.

    Subclasses set :attr:`name` (and :attr:`square` when only square shapes
    are allowed) and override :meth:`stored`, :meth:`nonzeros`,
    :meth:`to_dense` and :meth:`read`; register an instance with
    :func:`register_kind`. A kind compares and hashes as its text: its name,
    followed by its parameters in brackets when it has some (``I_a ⊗ B`` is
    ``block-diagonal[a]``); pair rules are looked up by :attr:`name`.
    """

    name: ClassVar[str] = ""
    square: ClassVar[bool] = False
    params: tuple = ()

    def __new__(cls, *params: Any) -> Kind:
        text = f"{cls.name}[{','.join(map(str, params))}]" if params else cls.name
        kind = super().__new__(cls, text)
        kind.params = tuple(params)
        return kind

    def __reduce__(self):  # copies and pickles rebuild the kind from its class and parameters
        return (type(self), self.params) if self.params else (kind_of, (self.name,))

    def __deepcopy__(self, memo: dict) -> Kind:
        return self

    def __copy__(self) -> Kind:
        return self

    def shape_error(self, shape: Shape) -> str | None:
        """Why a factor of this kind cannot have ``shape`` (``None`` when it can)."""
        if self.square and _differ(shape[0], shape[1]):
            return f"{self} factors are square, got {_dims(shape)}"
        return None

    def stored(self, shape: Shape) -> Size:
        """How many numbers a factor of this shape stores."""
        raise NotImplementedError

    def nonzeros(self, shape: Shape) -> Size:
        """How many entries are not structurally zero."""
        return self.stored(shape)

    def to_dense(self, data: Any, shape: Shape) -> np.ndarray:
        """The full ``rows x cols`` matrix."""
        raise NotImplementedError

    def read(self, numbers: Any, shape: Shape) -> Any:
        """The stored form of the numbers a Jacobian callable gave (their count is checked)."""
        return np.asarray(numbers, dtype=float).reshape(shape)

    def count(self, numbers: Any) -> int:
        """How many stored numbers a Jacobian callable gave (checked against :meth:`stored`)."""
        return int(np.size(numbers))

    def finite(self, data: Any) -> bool:
        """Whether the stored numbers are all finite."""
        return data is None or bool(np.all(np.isfinite(data)))

    def densify_macs(self, shape: Shape) -> Size:
        """Multiply-adds of forming the full matrix (0 for stored kinds; not for operators)."""
        return 0

    def densify(self, data: Any, shape: Shape) -> tuple[np.ndarray, int]:
        """The full matrix as a product step forms it, and the multiply-adds that took."""
        return self.to_dense(data, shape), 0


def register_kind(kind: Kind) -> Kind:
    """Register a kind instance under its name (replacing one of the same name)."""
    if not isinstance(kind, Kind) or not isinstance(kind.name, str) or not kind.name:
        raise AnalyzerError(f"a kind is a Kind instance with a non-empty str name, got {kind!r}")
    if kind.name == "*":
        raise AnalyzerError("'*' is the wildcard of pair rules, not a kind name")
    KINDS[kind.name] = kind
    _changed()
    return kind


def _changed() -> None:
    """Forget looked-up rules and bump :data:`VERSION` (plans made before are refused)."""
    global VERSION
    _LOOKUP.clear()
    VERSION += 1


def kind_of(kind: str) -> Kind:
    """The kind itself (when its family is registered), or the registered kind of this name.

    A clear error names the valid kinds otherwise.

    >>> kind_of("diagonal").stored((4, 4))
    4
    """
    if isinstance(kind, Kind) and KINDS.get(kind.name) is not None:
        return kind
    found = KINDS.get(str(kind)) if isinstance(kind, str) else None
    if found is None:
        raise AnalyzerError(f"unknown structure kind {kind!r}; valid kinds: {', '.join(KINDS)}")
    return found


def _differ(a: Size, b: Size) -> bool:
    if isinstance(a, int | np.integer) and isinstance(b, int | np.integer):
        return a != b
    return bool(sympy.simplify(sympy.sympify(a) - b) != 0)


def _dims(shape: Shape) -> str:
    return "×".join(str(d) for d in shape)


def exact_quotient(a: Size, b: Size) -> Size | None:
    """``a / b`` when ``b`` divides ``a`` exactly (as integers or as polynomials), else None.

    >>> import sympy
    >>> H, N = sympy.symbols("H N", positive=True, integer=True)
    >>> exact_quotient(12, 4), exact_quotient(H * N, H), exact_quotient(N, H)
    (3, N, None)
    """
    a, b = _as_int(a), _as_int(b)
    if isinstance(a, int) and isinstance(b, int):
        return a // b if b > 0 and a % b == 0 else None
    try:
        a, b = sympy.expand(sympy.sympify(a)), sympy.expand(sympy.sympify(b))
    except (sympy.SympifyError, TypeError):
        return None
    symbols = sorted(a.free_symbols | b.free_symbols, key=str)
    if not symbols or b == 0:
        return None
    try:
        quotient, remainder = sympy.div(
            sympy.Poly(a, *symbols, domain="ZZ"), sympy.Poly(b, *symbols, domain="ZZ")
        )
    except (sympy.PolynomialError, sympy.CoercionFailed):
        return None
    if not remainder.is_zero or quotient.is_zero or quotient.domain != sympy.ZZ:
        return None
    if not all(c.is_integer for c in quotient.coeffs()):
        return None
    return quotient.as_expr()


def _as_int(value: Size) -> Size:
    """A Python int for integer values (int, numpy or sympy integers), else ``value``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, sympy.Integer):
        return int(value)
    return value


def stored_size(kind: str, shape: Shape) -> Size:
    """Number of values a factor of this kind and shape stores.

    >>> stored_size("diagonal", (5, 5)), stored_size("row-block", (5, 15))
    (5, 15)
    """
    return kind_of(kind).stored(shape)


# ----------------------------------------------------------------------------- blocks
class Block(NamedTuple):
    """A numeric factor: structure kind, shape ``(rows, cols)`` and stored numbers.

    ``data`` is ``None`` for zero and identity, a float for scalar, a vector for
    diagonal, the ``(H, N)`` blocks for row-block and the matrix for dense.
    """

    kind: str
    shape: tuple[int, int]
    data: Any = None

    def dense(self) -> np.ndarray:
        """The full matrix this block stands for."""
        return to_dense(self)


def to_dense(block: Block) -> np.ndarray:
    """Materialise a block as a full ``rows x cols`` array.

    >>> to_dense(Block("row-block", (2, 4), np.array([[1.0, 2.0], [3.0, 4.0]]))).tolist()
    [[1.0, 2.0, 0.0, 0.0], [0.0, 0.0, 3.0, 4.0]]
    """
    return kind_of(block.kind).to_dense(block.data, tuple(block.shape))


def as_dense_block(block: Block) -> Block:
    """The same factor, stored as a dense block (what the ``dense`` cost model executes)."""
    if block.kind == "dense":
        return block
    return Block(kind_of("dense"), block.shape, to_dense(block))


# ----------------------------------------------------------------------------- rules
class Operands(NamedTuple):
    """The kinds and dimensions of a product ``(m x k) @ (k x n)`` (for a sum, ``k == n``)."""

    left: Kind
    right: Kind
    m: Size
    k: Size
    n: Size

    @property
    def left_shape(self) -> Shape:
        return (self.m, self.k)

    @property
    def right_shape(self) -> Shape:
        return (self.k, self.n)

    @property
    def shape(self) -> Shape:
        """The result's shape."""
        return (self.m, self.n)

    def swapped(self) -> Operands:
        """The same operands with left and right exchanged (for sums)."""
        return Operands(self.right, self.left, self.m, self.k, self.n)


class Price(NamedTuple):
    """What one product or sum costs: its result's kind, macs (or adds), elements moved.

    ``formed`` counts, for a sum, the multiply-adds of forming an operand's matrix
    first (an operator's preaccumulation); it is 0 for stored kinds.
    """

    result: Kind
    macs: Size
    read: Size
    written: Size
    formed: Size = 0


@dataclass(frozen=True)
class _Entry:
    result: str | Callable[[Operands], str]
    macs: Callable[[Operands], Size]
    kernel: Callable[[Any, Any, Operands], tuple[Any, int]]
    aliases: bool = False
    priority: int = 0
    formed: Callable[[Operands], Size] | None = None
    mode: Callable[[Operands], str] | None = None


_PRODUCTS: dict[tuple[str, str], _Entry] = {}
_SUMS: dict[tuple[str, str], _Entry] = {}


def register_product(
    left: str,
    right: str,
    result: str | Callable[[Operands], str],
    macs: Callable[[Operands], Size],
    kernel: Callable[[Any, Any, Operands], tuple[Any, int]],
    *,
    aliases: bool = False,
    priority: int = 0,
    mode: Callable[[Operands], str] | None = None,
) -> None:
    """Register how ``left @ right`` is priced and executed.

    ``left`` or ``right`` may be ``"*"`` (any kind): an exact pair wins over a
    wildcard, and of two wildcards the higher ``priority`` wins (zero absorbs
    before identity passes through). ``result`` is the result's kind name (or a
    function of the :class:`Operands` that reads only their kinds), ``macs(operands)`` the
    price, and ``kernel(left_data, right_data, operands)`` returns the result's
    stored numbers and the multiply-adds it performed, counted from the arrays
    it touched. ``aliases`` marks a kernel that returns an operand unchanged
    (nothing read or written).
    """
    _check_rule(left, right, macs, kernel)
    _PRODUCTS[left, right] = _Entry(result, macs, kernel, aliases, priority, mode=mode)
    _changed()


def register_sum(
    a: str,
    b: str,
    result: str | Callable[[Operands], str],
    adds: Callable[[Operands], Size],
    kernel: Callable[[Block, Block, Operands], tuple[Any, int]],
    *,
    aliases: bool = False,
) -> None:
    """Register how ``a + b`` is priced and executed (registered for both argument orders).

    ``kernel(a_block, b_block, operands)`` returns the sum's stored numbers and
    the additions it performed.
    """
    _check_rule(a, b, adds, kernel)
    _SUMS[a, b] = _Entry(result, adds, kernel, aliases)
    _MIRRORS.discard((a, b))
    if (b, a) not in _SUMS or (b, a) in _MIRRORS:
        _MIRRORS.add((b, a))
        swapped_result = result if isinstance(result, str) else lambda o: result(o.swapped())
        _SUMS[b, a] = _Entry(
            swapped_result,
            lambda o: adds(o.swapped()),
            lambda x, y, o: kernel(y, x, o.swapped()),
            aliases,
        )
    _changed()


#: Sum entries made by registering the other argument order (replaced when it is re-registered).
_MIRRORS: set[tuple[str, str]] = set()


def _check_rule(a: str, b: str, price: Any, kernel: Any) -> None:
    for name in (a, b):
        if name != "*" and not (isinstance(name, str) and name in KINDS):
            raise AnalyzerError(
                f"a pair rule names registered kinds or '*'; got {name!r}; valid kinds: "
                f"{', '.join(KINDS)}"
            )
    if not callable(price) or not callable(kernel):
        raise AnalyzerError("a pair rule needs a callable price and a callable kernel")


@dataclass(frozen=True)
class ProductRule:
    """The rule for ``J_left @ J_right`` between two kinds.

    ``result`` is the result's kind, ``macs(left_shape, right_shape)`` the price,
    :meth:`price` the full :class:`Price` (macs and elements read and written)
    and :meth:`run` executes it, returning the result's numbers and the
    multiply-adds the kernel counted.
    """

    left: Kind
    right: Kind
    entry: _Entry

    def operands(self, left_shape: Shape, right_shape: Shape) -> Operands:
        return Operands(self.left, self.right, left_shape[0], left_shape[1], right_shape[1])

    @property
    def result(self) -> Kind:
        result = self.entry.result
        return kind_of(result if isinstance(result, str) else result(self.operands((1, 1), (1, 1))))

    def macs(self, left_shape: Shape, right_shape: Shape) -> Size:
        return self.entry.macs(self.operands(left_shape, right_shape))

    def price(self, left_shape: Shape, right_shape: Shape) -> Price:
        o = self.operands(left_shape, right_shape)
        result = self.result
        if self.entry.aliases:
            return Price(result, self.entry.macs(o), 0, 0)
        read = self.left.stored(o.left_shape) + self.right.stored(o.right_shape)
        return Price(result, self.entry.macs(o), read, result.stored(o.shape))

    def mode(self, left_shape: Shape, right_shape: Shape) -> str:
        """How the product runs: ``product``, or for operators ``tangent``, ``adjoint``, ..."""
        mode = self.entry.mode
        return mode(self.operands(left_shape, right_shape)) if mode else "product"

    def run(self, left: Any, right: Any, left_shape: Shape, right_shape: Shape) -> tuple[Any, int]:
        return self.entry.kernel(left, right, self.operands(left_shape, right_shape))


@dataclass(frozen=True)
class SumRule:
    """The rule for ``J_a + J_b`` (merging two paths onto one factor); adds are counted apart."""

    a: Kind
    b: Kind
    entry: _Entry

    def operands(self, shape: Shape) -> Operands:
        return Operands(self.a, self.b, shape[0], shape[1], shape[1])

    @property
    def result(self) -> Kind:
        result = self.entry.result
        return kind_of(result if isinstance(result, str) else result(self.operands((1, 1))))

    def adds(self, shape: Shape) -> Size:
        return self.entry.macs(self.operands(shape))

    def price(self, shape: Shape) -> Price:
        o = self.operands(shape)
        result = self.result
        formed = self.entry.formed(o) if self.entry.formed else 0
        if self.entry.aliases:
            return Price(result, self.entry.macs(o), 0, 0, formed)
        read = self.a.stored(shape) + self.b.stored(shape)
        return Price(result, self.entry.macs(o), read, result.stored(shape), formed)

    def run(self, a: Block, b: Block) -> tuple[Any, int, int]:
        """The sum's numbers, the additions and the multiply-adds (forming operands) it took."""
        done = self.entry.kernel(a, b, self.operands(tuple(a.shape)))
        return done if len(done) == 3 else (*done, 0)


def product_rule(left: str, right: str) -> ProductRule:
    """The rule for ``J_left @ J_right`` where the factors have kinds ``left`` and ``right``.

    Zero absorbs (0 macs), identity is free (0 macs), a scalar costs one mac per
    stored value of the other factor, registered pairs price the rest, and a
    pair with no rule makes the cheaper operand dense (see :func:`_densified_product`).

    >>> product_rule("dense", "dense").macs((2, 3), (3, 4))
    24
    >>> product_rule("scalar", "dense").macs((2, 2), (2, 5))
    10
    >>> product_rule("identity", "diagonal").result
    'diagonal'
    """
    found = _LOOKUP.get(("@", left, right))
    if found is None:
        a, b = kind_of(left), kind_of(right)
        entry = _registered(_PRODUCTS, a, b) or _densified_product(a, b)
        found = _LOOKUP["@", left, right] = ProductRule(a, b, entry)
    return found


def sum_rule(a: str, b: str) -> SumRule:
    """The rule for ``J_a + J_b`` (merging two paths onto one factor).

    >>> sum_rule("identity", "identity").result, sum_rule("diagonal", "dense").result
    ('scalar', 'dense')
    >>> sum_rule("diagonal", "dense").adds((4, 4))
    4
    """
    found = _LOOKUP.get(("+", a, b))
    if found is None:
        x, y = kind_of(a), kind_of(b)
        found = _LOOKUP["+", a, b] = SumRule(x, y, _lookup(_SUMS, x, y, _DENSE_SUM_FALLBACK))
    return found


def _registered(table: dict, a: Kind, b: Kind) -> _Entry | None:
    """The exact pair's entry, else the wildcard entry of higher priority, else None."""
    if (a.name, b.name) in table:
        return table[a.name, b.name]
    wildcards = [table[key] for key in ((a.name, "*"), ("*", b.name)) if key in table]
    return max(wildcards, key=lambda entry: entry.priority, default=None)


def _lookup(table: dict, a: Kind, b: Kind, fallback: _Entry) -> _Entry:
    """The registered entry of the pair, else the fallback."""
    found = _registered(table, a, b)
    return found if found is not None else fallback


def _densified_product(a: Kind, b: Kind) -> _Entry:
    """The fallback of a pair with no rule: make one operand dense, whichever is cheaper.

    The candidates are the registered rule of ``(a, dense)`` with ``b`` made dense,
    that of ``(dense, b)`` with ``a`` made dense, and a dense product of both; the
    cheapest at the operands' shapes wins (the kernel makes the same choice).
    """
    dense = KINDS["dense"]
    candidates: list[tuple[_Entry, bool, bool]] = [(_DENSE_FALLBACK, True, True)]
    for entry, left, right in (
        (_registered(_PRODUCTS, a, dense), False, True),
        (_registered(_PRODUCTS, dense, b), True, False),
    ):
        if entry is not None:
            candidates.append((entry, left, right))

    def operands(o: Operands, left: bool, right: bool) -> Operands:
        return Operands(dense if left else o.left, dense if right else o.right, o.m, o.k, o.n)

    def price(o: Operands, entry: _Entry, left: bool, right: bool) -> Size:
        forming = (o.left.densify_macs(o.left_shape) if left else 0) + (
            o.right.densify_macs(o.right_shape) if right else 0
        )
        return entry.macs(operands(o, left, right)) + forming

    def choice(o: Operands) -> tuple[_Entry, bool, bool]:
        priced = [(price(o, *candidate), i) for i, candidate in enumerate(candidates)]
        return candidates[min(priced, key=lambda pair: _sortable(pair[0]))[1]]

    def macs(o: Operands) -> Size:
        return price(o, *choice(o))

    def kernel(x: Any, y: Any, o: Operands) -> tuple[Any, int]:
        entry, left, right = choice(o)
        formed = 0
        if left:
            x, count = o.left.densify(x, o.left_shape)
            formed += count
        if right:
            y, count = o.right.densify(y, o.right_shape)
            formed += count
        data, count = entry.kernel(x, y, operands(o, left, right))
        return data, count + formed

    return _Entry("dense", macs, kernel)


def _sortable(value: Size) -> Any:
    """A key that orders numbers, and symbolic prices by their value at all sizes 1000."""
    if isinstance(value, int | np.integer | float):
        return value
    expr = sympy.sympify(value)
    return float(expr.subs({s: 1000 for s in expr.free_symbols}))


def multiply_counted(left: Block, right: Block) -> tuple[Block, int]:
    """``left @ right`` with the kernel its rule picks, and the multiply-adds it counted."""
    if _differ(left.shape[1], right.shape[0]):
        raise AnalyzerError(f"cannot multiply a {left.shape} factor by a {right.shape} factor")
    rule = product_rule(left.kind, right.kind)
    data, macs = rule.run(left.data, right.data, tuple(left.shape), tuple(right.shape))
    return Block(rule.result, (left.shape[0], right.shape[1]), data), macs


def multiply(left: Block, right: Block) -> Block:
    """Execute ``left @ right`` with the kernel its rule picks.

    >>> a = Block("dense", (1, 2), np.array([[1.0, 2.0]]))
    >>> b = Block("scalar", (2, 2), 3.0)
    >>> multiply(a, b).data.tolist()
    [[3.0, 6.0]]
    """
    return multiply_counted(left, right)[0]


def add_counted(a: Block, b: Block) -> tuple[Block, int]:
    """``a + b`` with the kernel its rule picks, and the additions it counted."""
    if tuple(a.shape) != tuple(b.shape):
        raise AnalyzerError(f"cannot add a {a.shape} factor to a {b.shape} factor")
    block, adds, _ = merge_counted(a, b)
    return block, adds


def merge_counted(a: Block, b: Block) -> tuple[Block, int, int]:
    """``a + b``, the additions counted, and the multiply-adds of forming an operand first."""
    if tuple(a.shape) != tuple(b.shape):
        raise AnalyzerError(f"cannot add a {a.shape} factor to a {b.shape} factor")
    rule = sum_rule(a.kind, b.kind)
    data, adds, formed = rule.run(a, b)
    return Block(rule.result, a.shape, data), adds, formed


def add(a: Block, b: Block) -> Block:
    """Execute ``a + b`` with the kernel its rule picks.

    >>> add(Block("identity", (2, 2)), Block("diagonal", (2, 2), np.array([1.0, 5.0]))).data
    array([2., 6.])
    """
    return add_counted(a, b)[0]


def rules_version() -> int:
    """A number that changes whenever a kind or a pair rule is registered."""
    return VERSION


# ----------------------------------------------------------------------------- fallbacks
def _dense_fallback_kernel(x: Any, y: Any, o: Operands) -> tuple[np.ndarray, int]:
    left, right = o.left.to_dense(x, o.left_shape), o.right.to_dense(y, o.right_shape)
    return left @ right, left.shape[0] * left.shape[1] * right.shape[1]


def _dense_sum_fallback_kernel(a: Block, b: Block, o: Operands) -> tuple[np.ndarray, int, int]:
    first, formed_a = o.left.densify(a.data, o.shape)
    second, formed_b = o.right.densify(b.data, o.shape)
    out = np.array(first, dtype=float, copy=True)
    out += second
    return out, out.size, formed_a + formed_b


_DENSE_FALLBACK = _Entry("dense", lambda o: o.m * o.k * o.n, _dense_fallback_kernel)
_DENSE_SUM_FALLBACK = _Entry(
    "dense",
    lambda o: o.m * o.n,
    _dense_sum_fallback_kernel,
    formed=lambda o: o.left.densify_macs(o.shape) + o.right.densify_macs(o.shape),
)
