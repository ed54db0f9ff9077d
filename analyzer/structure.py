"""Structure kinds of Jacobian factors, and the one rule table that prices, runs and types products.

A factor is a :class:`Block`: a structure kind, a shape ``(rows, cols)`` and the
numbers that the kind stores. A kind is a :class:`Kind` object registered by
name in :data:`KINDS` (it validates shapes, counts stored and nonzero entries,
reads the numbers a Jacobian callable gives and materialises itself); a kind is
also a ``str`` equal to its name, so ``kind == "dense"`` reads naturally.

Products and sums are registered pair rules (:func:`register_product`,
:func:`register_sum`). The same rule entry prices a product (macs, elements
read and written, the result's kind) and holds the kernel that executes it;
each kernel also reports the multiply-adds it performed, counted from the
arrays it touched. A pair with no rule falls back to dense, priced as a dense
product. Adding a kind is one :class:`Kind` subclass and its pair rules.

Kinds (``rows x cols``; stored numbers in brackets):

========== ================================================ ==================
kind       matrix                                           stored
========== ================================================ ==================
zero       0                                                nothing
identity   I_n                                              nothing
scalar     c I_n                                            c
diagonal   diag(d)                                          d, length n
row-block  H x HN, row i holds B[i, :] in columns iN..iN+N  B, shape (H, N)
dense      any                                              the whole matrix
========== ================================================ ==================

``row-block`` generalises ``I_H ⊗ xᵀ``, the Jacobian of ``W x`` with respect to
the row-major flattening of ``W`` (then ``B[i, :] = x``).

Examples
--------
>>> import numpy as np
>>> rule = product_rule("diagonal", "row-block")
>>> rule.result, rule.macs((3, 3), (3, 6))
('row-block', 6)
>>> d = Block("diagonal", (3, 3), np.array([1.0, 2.0, 3.0]))
>>> r = Block("row-block", (3, 6), np.ones((3, 2)))
>>> multiply(d, r).data.tolist()
[[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np
import sympy

from .errors import AnalyzerError

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
    "stored_size",
    "to_dense",
    "as_dense_block",
    "row_block_width",
    "exact_quotient",
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
    :func:`register_kind`. A kind compares and hashes as its name.
    """

    name: ClassVar[str] = ""
    square: ClassVar[bool] = False

    def __new__(cls) -> Kind:
        return super().__new__(cls, cls.name)

    def __reduce__(self):  # copies and pickles are the registered kind of this name
        return (kind_of, (self.name,))

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


class _Zero(Kind):
    name = "zero"

    def stored(self, shape):
        return 0

    def nonzeros(self, shape):
        return 0

    def to_dense(self, data, shape):
        return np.zeros(shape)

    def read(self, numbers, shape):
        return None


class _Identity(Kind):
    name = "identity"
    square = True

    def stored(self, shape):
        return 0

    def nonzeros(self, shape):
        return shape[0]

    def to_dense(self, data, shape):
        return np.eye(shape[0])

    def read(self, numbers, shape):
        return None


class _Scalar(Kind):
    name = "scalar"
    square = True

    def stored(self, shape):
        return 1

    def nonzeros(self, shape):
        return shape[0]

    def to_dense(self, data, shape):
        return float(data) * np.eye(shape[0])

    def read(self, numbers, shape):
        return float(np.asarray(numbers, dtype=float).reshape(()))


class _Diagonal(Kind):
    name = "diagonal"
    square = True

    def stored(self, shape):
        return shape[0]

    def to_dense(self, data, shape):
        return np.diag(np.asarray(data, dtype=float))

    def read(self, numbers, shape):
        return np.asarray(numbers, dtype=float).reshape(shape[0])


class _RowBlock(Kind):
    name = "row-block"

    def shape_error(self, shape):
        if exact_quotient(shape[1], shape[0]) is None:
            return f"row-block factors have shape (H, H*N), got {_dims(shape)}"
        return None

    def stored(self, shape):
        return shape[1]

    def to_dense(self, data, shape):
        rows, cols = shape
        blocks = np.asarray(data, dtype=float)
        width = blocks.shape[1]
        out = np.zeros((rows, cols))
        out.reshape(rows, rows, width)[np.arange(rows), np.arange(rows)] = blocks
        return out

    def read(self, numbers, shape):
        return np.asarray(numbers, dtype=float).reshape(shape[0], -1)


class _Dense(Kind):
    name = "dense"

    def stored(self, shape):
        return shape[0] * shape[1]

    def to_dense(self, data, shape):
        return np.asarray(data, dtype=float).reshape(shape)


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


ZERO, IDENTITY, SCALAR, DIAGONAL, ROW_BLOCK, DENSE = (
    register_kind(k()) for k in (_Zero, _Identity, _Scalar, _Diagonal, _RowBlock, _Dense)
)
_DIAGONAL_FAMILY = ("identity", "scalar", "diagonal")


def kind_of(kind: str) -> Kind:
    """The registered kind of this name; a clear error naming the valid kinds otherwise.

    >>> kind_of("diagonal").stored((4, 4))
    4
    """
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


def row_block_width(shape: Shape) -> Size:
    """Width N of each row's block in a row-block factor of shape ``(H, H*N)``.

    >>> row_block_width((4, 12))
    3
    """
    width = exact_quotient(shape[1], shape[0])
    if width is None:
        raise AnalyzerError(f"row-block factors have shape (H, H*N), got {_dims(shape)}")
    return width


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
    return Block(DENSE, block.shape, to_dense(block))


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
    """What one product or sum costs: its result's kind, macs (or adds), elements moved."""

    result: Kind
    macs: Size
    read: Size
    written: Size


@dataclass(frozen=True)
class _Entry:
    result: str | Callable[[Operands], str]
    macs: Callable[[Operands], Size]
    kernel: Callable[[Any, Any, Operands], tuple[Any, int]]
    aliases: bool = False
    priority: int = 0


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
    _PRODUCTS[left, right] = _Entry(result, macs, kernel, aliases, priority)
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
        if self.entry.aliases:
            return Price(result, self.entry.macs(o), 0, 0)
        return Price(
            result,
            self.entry.macs(o),
            self.a.stored(shape) + self.b.stored(shape),
            result.stored(shape),
        )

    def run(self, a: Block, b: Block) -> tuple[Any, int]:
        return self.entry.kernel(a, b, self.operands(tuple(a.shape)))


def product_rule(left: str, right: str) -> ProductRule:
    """The rule for ``J_left @ J_right`` where the factors have kinds ``left`` and ``right``.

    Zero absorbs (0 macs), identity is free (0 macs), a scalar costs one mac per
    stored value of the other factor, registered pairs price the rest, and a
    pair with no rule is multiplied as two dense matrices.

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
        entry = _lookup(_PRODUCTS, a, b, _DENSE_FALLBACK)
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


def _lookup(table: dict, a: Kind, b: Kind, fallback: _Entry) -> _Entry:
    """The exact pair's entry, else a wildcard's (left first), else the fallback."""
    if (a.name, b.name) in table:
        return table[a.name, b.name]
    wildcards = [table[key] for key in ((a.name, "*"), ("*", b.name)) if key in table]
    return max(wildcards, key=lambda entry: entry.priority, default=fallback)


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
    rule = sum_rule(a.kind, b.kind)
    data, adds = rule.run(a, b)
    return Block(rule.result, a.shape, data), adds


def add(a: Block, b: Block) -> Block:
    """Execute ``a + b`` with the kernel its rule picks.

    >>> add(Block("identity", (2, 2)), Block("diagonal", (2, 2), np.array([1.0, 5.0]))).data
    array([2., 6.])
    """
    return add_counted(a, b)[0]


# ----------------------------------------------------------------------------- products
def _dense_fallback_kernel(x: Any, y: Any, o: Operands) -> tuple[np.ndarray, int]:
    left, right = o.left.to_dense(x, o.left_shape), o.right.to_dense(y, o.right_shape)
    return left @ right, left.shape[0] * left.shape[1] * right.shape[1]


_DENSE_FALLBACK = _Entry("dense", lambda o: o.m * o.k * o.n, _dense_fallback_kernel)

for _left, _right in (("zero", "*"), ("*", "zero")):
    register_product(
        _left, _right, "zero", lambda o: 0, lambda x, y, o: (None, 0), aliases=True, priority=2
    )
register_product(
    "identity", "*", lambda o: o.right, lambda o: 0, lambda x, y, o: (y, 0), aliases=True,
    priority=1,
)  # fmt: skip
register_product(
    "*", "identity", lambda o: o.left, lambda o: 0, lambda x, y, o: (x, 0), aliases=True,
    priority=1,
)  # fmt: skip
# A scalar scales the stored numbers of the built-in kinds (linear in their matrix); a new
# kind gets the dense fallback until it registers its own scalar rules.
for _kind in ("scalar", "diagonal", "row-block", "dense"):
    register_product(
        "scalar", _kind, _kind, lambda o: o.right.stored(o.right_shape),
        lambda c, y, o: (c * y, int(np.size(y))),
    )  # fmt: skip
    if _kind != "scalar":
        register_product(
            _kind, "scalar", _kind, lambda o: o.left.stored(o.left_shape),
            lambda x, c, o: (x * c, int(np.size(x))),
        )  # fmt: skip
register_product(
    "dense", "dense", "dense", lambda o: o.m * o.k * o.n,
    lambda x, y, o: (x @ y, x.shape[0] * x.shape[1] * y.shape[1]),
)  # fmt: skip
register_product(
    "dense", "diagonal", "dense", lambda o: o.m * o.n, lambda x, d, o: (x * d[None, :], x.size)
)
register_product(
    "diagonal", "dense", "dense", lambda o: o.m * o.n, lambda d, y, o: (d[:, None] * y, y.size)
)
register_product("diagonal", "diagonal", "diagonal", lambda o: o.m, lambda d, e, o: (d * e, d.size))


def _dense_times_row_block(matrix: np.ndarray, blocks: np.ndarray, o) -> tuple[np.ndarray, int]:
    out = (matrix[:, :, None] * blocks[None, :, :]).reshape(matrix.shape[0], -1)
    return out, matrix.shape[0] * blocks.size


def _row_block_times_dense(blocks: np.ndarray, matrix: np.ndarray, o) -> tuple[np.ndarray, int]:
    rows, width = blocks.shape
    out = np.einsum("ij,ijk->ik", blocks, matrix.reshape(rows, width, -1), optimize=False)
    return out, blocks.size * matrix.shape[1]


def _row_block_times_row_block(left: np.ndarray, right: np.ndarray, o) -> tuple[np.ndarray, int]:
    rows, width = left.shape
    return (left[:, :, None] * right.reshape(rows, width, -1)).reshape(rows, -1), right.size


register_product("dense", "row-block", "dense", lambda o: o.m * o.n, _dense_times_row_block)
register_product("row-block", "dense", "dense", lambda o: o.k * o.n, _row_block_times_dense)
register_product(
    "diagonal", "row-block", "row-block", lambda o: o.n, lambda d, r, o: (d[:, None] * r, r.size)
)
register_product(
    "row-block", "diagonal", "row-block", lambda o: o.k,
    lambda r, d, o: (r * d.reshape(r.shape), r.size),
)  # fmt: skip
register_product("row-block", "row-block", "row-block", lambda o: o.n, _row_block_times_row_block)


# ----------------------------------------------------------------------------- sums
def _sparser_second(a: Kind, b: Kind, shape: Shape) -> bool:
    """Whether ``b`` is the operand added onto a copy of ``a`` (the same choice in both orders)."""
    if a.name == "dense" or b.name == "dense":
        return a.name == "dense"
    ka, kb = sympy.sympify(a.nonzeros(shape)), sympy.sympify(b.nonzeros(shape))
    if ka != kb and (ka - kb).is_number:
        return bool(ka > kb)
    return a.name <= b.name


def _dense_sum_adds(o: Operands) -> Size:
    """Adds of :func:`_dense_sum`: one per entry of the operand added onto the other's copy."""
    second = o.right if _sparser_second(o.left, o.right, o.shape) else o.left
    if second.name in _DIAGONAL_FAMILY:
        return o.m
    if second.name == "row-block":
        return o.n
    return o.m * o.n


def _dense_sum(a: Block, b: Block, o: Operands) -> tuple[np.ndarray, int]:
    """Dense result: a copy of one operand, the other added on its pattern (never in place)."""
    first, second = (a, b) if _sparser_second(o.left, o.right, o.shape) else (b, a)
    out = np.array(to_dense(first), dtype=float, copy=True)
    if second.kind == "identity":
        out[np.diag_indices(out.shape[0])] += 1.0
        return out, out.shape[0]
    if second.kind in ("scalar", "diagonal"):
        out[np.diag_indices(out.shape[0])] += second.data
        return out, out.shape[0]
    if second.kind == "row-block":
        rows, width = second.data.shape
        out.reshape(rows, rows, width)[np.arange(rows), np.arange(rows)] += second.data
        return out, second.data.size
    out += to_dense(second)
    return out, out.size


_DENSE_SUM_FALLBACK = _Entry("dense", _dense_sum_adds, _dense_sum)


def _as_vector(block: Block) -> np.ndarray:
    if block.kind == "identity":
        return np.ones(block.shape[0])
    if block.kind == "scalar":
        return np.full(block.shape[0], float(block.data))
    return block.data


def _diagonal_sum(a: Block, b: Block, o: Operands) -> tuple[np.ndarray, int]:
    out = _as_vector(a) + _as_vector(b)
    return out, out.size


def _scalar_sum(a: Block, b: Block, o: Operands) -> tuple[float, int]:
    value = {"identity": 1.0}
    return value.get(a.kind, a.data) + value.get(b.kind, b.data), 1


register_sum("zero", "*", lambda o: o.right, lambda o: 0, lambda a, b, o: (b.data, 0), aliases=True)
for _a in _DIAGONAL_FAMILY:
    for _b in _DIAGONAL_FAMILY:
        if "diagonal" in (_a, _b):
            register_sum(_a, _b, "diagonal", lambda o: o.m, _diagonal_sum)
        else:
            register_sum(_a, _b, "scalar", lambda o: 1, _scalar_sum)
register_sum(
    "row-block", "row-block", "row-block", lambda o: o.n,
    lambda a, b, o: (a.data + b.data, a.data.size),
)  # fmt: skip
