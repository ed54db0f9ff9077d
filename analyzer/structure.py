"""Structure kinds of Jacobian factors, and the one rule that prices, runs and types each product.

A factor is a :class:`Block`: a structure kind, a shape ``(rows, cols)`` and the
numbers that the kind stores. The same table prices a product (macs), picks the
kernel that executes it and names the structure of the result, so a planner and
an executor that both use :func:`product_rule` cannot disagree.

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
from functools import cache
from typing import Any, NamedTuple

import numpy as np
import sympy

from .errors import AnalyzerError

__all__ = [
    "KINDS",
    "Block",
    "ProductRule",
    "SumRule",
    "product_rule",
    "sum_rule",
    "multiply",
    "add",
    "stored_size",
    "pattern_size",
    "to_dense",
    "as_dense_block",
    "row_block_width",
]

KINDS = ("zero", "identity", "scalar", "diagonal", "row-block", "dense")
_DIAGONAL_FAMILY = ("identity", "scalar", "diagonal")

Size = Any  # an int, or a sympy expression when sizes are symbols
Shape = tuple[Size, Size]


def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise AnalyzerError(f"unknown structure kind {kind!r}; valid kinds: {', '.join(KINDS)}")
    return kind


def _exact_ratio(a: Size, b: Size) -> Size:
    if isinstance(a, int | np.integer) and isinstance(b, int | np.integer):
        return int(a) // int(b)
    return sympy.simplify(sympy.sympify(a) / b)


def row_block_width(shape: Shape) -> Size:
    """Width N of each row's block in a row-block factor of shape ``(H, H*N)``.

    >>> row_block_width((4, 12))
    3
    """
    return _exact_ratio(shape[1], shape[0])


def stored_size(kind: str, shape: Shape) -> Size:
    """Number of values a factor of this kind and shape stores.

    >>> stored_size("diagonal", (5, 5)), stored_size("row-block", (5, 15))
    (5, 15)
    """
    _check_kind(kind)
    rows, cols = shape
    return {
        "zero": 0,
        "identity": 0,
        "scalar": 1,
        "diagonal": rows,
        "row-block": cols,
        "dense": rows * cols,
    }[kind]


def pattern_size(kind: str, shape: Shape) -> Size:
    """Number of entries that are not structurally zero.

    >>> pattern_size("identity", (4, 4)), pattern_size("scalar", (4, 4))
    (4, 4)
    """
    _check_kind(kind)
    if kind in _DIAGONAL_FAMILY:
        return shape[0]
    return stored_size(kind, shape)


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
    rows, cols = block.shape
    kind = block.kind
    if kind == "dense":
        return np.asarray(block.data, dtype=float).reshape(rows, cols)
    if kind == "zero":
        return np.zeros((rows, cols))
    if kind == "identity":
        return np.eye(rows)
    if kind == "scalar":
        return float(block.data) * np.eye(rows)
    if kind == "diagonal":
        return np.diag(np.asarray(block.data, dtype=float))
    if kind == "row-block":
        blocks = np.asarray(block.data, dtype=float)
        width = blocks.shape[1]
        out = np.zeros((rows, cols))
        for i in range(rows):
            out[i, i * width : (i + 1) * width] = blocks[i]
        return out
    raise AnalyzerError(f"unknown structure kind {kind!r}; valid kinds: {', '.join(KINDS)}")


def as_dense_block(block: Block) -> Block:
    """The same factor, stored as a dense block (what the ``dense`` cost model executes)."""
    if block.kind == "dense":
        return block
    return Block("dense", block.shape, to_dense(block))


@dataclass(frozen=True)
class ProductRule:
    """How to multiply a ``left`` factor by a ``right`` factor: ``J_left @ J_right``.

    ``macs(left_shape, right_shape)`` prices the product, ``kernel(left_data,
    right_data, result_shape)`` computes the stored numbers of the result and
    ``result`` is its kind. The executor counts macs with the same ``macs``
    function, evaluated on the shapes of the arrays it multiplies.
    """

    left: str
    right: str
    result: str
    macs: Callable[[Shape, Shape], Size]
    kernel: Callable[[Any, Any, tuple[int, int]], Any]


def _rows_x_cols(a: Shape, b: Shape) -> Size:
    return a[0] * b[1]


def _row_block_times_dense(blocks: np.ndarray, matrix: np.ndarray, shape) -> np.ndarray:
    rows, width = blocks.shape
    return np.einsum("ij,ijk->ik", blocks, matrix.reshape(rows, width, -1), optimize=False)


def _dense_times_row_block(matrix: np.ndarray, blocks: np.ndarray, shape) -> np.ndarray:
    return (matrix[:, :, None] * blocks[None, :, :]).reshape(matrix.shape[0], -1)


def _row_block_times_row_block(left: np.ndarray, right: np.ndarray, shape) -> np.ndarray:
    rows, width = left.shape
    return (left[:, :, None] * right.reshape(rows, width, -1)).reshape(rows, -1)


# Rules between two "real" kinds. Zero, identity and scalar are handled generically.
_TABLE: dict[tuple[str, str], ProductRule] = {
    (rule.left, rule.right): rule
    for rule in (
        ProductRule(
            "dense", "dense", "dense", lambda a, b: a[0] * a[1] * b[1], lambda x, y, s: x @ y
        ),
        ProductRule("dense", "diagonal", "dense", _rows_x_cols, lambda x, d, s: x * d[None, :]),
        ProductRule("diagonal", "dense", "dense", _rows_x_cols, lambda d, y, s: d[:, None] * y),
        ProductRule("diagonal", "diagonal", "diagonal", lambda a, b: a[0], lambda d, e, s: d * e),
        ProductRule(
            "dense", "row-block", "dense", lambda a, b: a[0] * b[1], _dense_times_row_block
        ),
        ProductRule(
            "row-block", "dense", "dense", lambda a, b: a[1] * b[1], _row_block_times_dense
        ),
        ProductRule(
            "diagonal", "row-block", "row-block", lambda a, b: b[1], lambda d, r, s: d[:, None] * r
        ),
        ProductRule(
            "row-block",
            "diagonal",
            "row-block",
            lambda a, b: a[1],
            lambda r, d, s: r * d.reshape(r.shape),
        ),
        ProductRule(
            "row-block", "row-block", "row-block", lambda a, b: b[1], _row_block_times_row_block
        ),
    )
}


@cache
def product_rule(left: str, right: str) -> ProductRule:
    """The rule for ``J_left @ J_right`` where the factors have kinds ``left`` and ``right``.

    Zero absorbs (0 macs), identity is free (0 macs), a scalar costs one mac per
    stored value of the other factor, and the table covers the rest.

    >>> product_rule("dense", "dense").macs((2, 3), (3, 4))
    24
    >>> product_rule("scalar", "dense").macs((2, 2), (2, 5))
    10
    >>> product_rule("identity", "diagonal").result
    'diagonal'
    """
    _check_kind(left)
    _check_kind(right)
    if left == "zero" or right == "zero":
        return ProductRule(left, right, "zero", lambda a, b: 0, lambda x, y, s: None)
    if left == "identity":
        return ProductRule(left, right, right, lambda a, b: 0, lambda x, y, s: y)
    if right == "identity":
        return ProductRule(left, right, left, lambda a, b: 0, lambda x, y, s: x)
    if left == "scalar":
        return ProductRule(
            left, right, right, lambda a, b: stored_size(right, b), lambda c, y, s: c * y
        )
    if right == "scalar":
        return ProductRule(
            left, right, left, lambda a, b: stored_size(left, a), lambda x, c, s: x * c
        )
    return _TABLE[(left, right)]


@dataclass(frozen=True)
class SumRule:
    """How to add two factors of the same shape: ``J_a + J_b``; adds are counted apart."""

    result: str
    adds: Callable[[Shape], Size]
    kernel: Callable[[Block, Block], Any]


def _sum_diagonal_family(a: Block, b: Block) -> Any:
    def as_vector(block: Block) -> np.ndarray:
        if block.kind == "identity":
            return np.ones(block.shape[0])
        if block.kind == "scalar":
            return np.full(block.shape[0], float(block.data))
        return block.data

    return as_vector(a) + as_vector(b)


def _sum_to_dense(a: Block, b: Block) -> np.ndarray:
    first, second = (a, b) if a.kind == "dense" else (b, a)
    out = to_dense(first).copy() if first.kind == "dense" else to_dense(first)
    if second.kind == "identity":
        out[np.diag_indices(out.shape[0])] += 1.0
    elif second.kind in ("scalar", "diagonal"):
        out[np.diag_indices(out.shape[0])] += second.data
    elif second.kind == "row-block":
        rows, width = second.data.shape
        out.reshape(rows, rows, width)[np.arange(rows), np.arange(rows)] += second.data
    else:
        out += to_dense(second)
    return out


@cache
def sum_rule(a: str, b: str) -> SumRule:
    """The rule for ``J_a + J_b`` (merging two paths onto one factor).

    >>> sum_rule("identity", "identity").result, sum_rule("diagonal", "dense").result
    ('scalar', 'dense')
    >>> sum_rule("diagonal", "dense").adds((4, 4))
    4
    """
    _check_kind(a)
    _check_kind(b)
    if a == "zero":
        return SumRule(b, lambda s: 0, lambda x, y: y.data)
    if b == "zero":
        return SumRule(a, lambda s: 0, lambda x, y: x.data)
    if a in _DIAGONAL_FAMILY and b in _DIAGONAL_FAMILY:
        if a == "diagonal" or b == "diagonal":
            return SumRule("diagonal", lambda s: s[0], _sum_diagonal_family)

        def scalar_sum(x: Block, y: Block) -> float:
            value = {"identity": 1.0}
            return value.get(x.kind, x.data) + value.get(y.kind, y.data)

        return SumRule("scalar", lambda s: 1, scalar_sum)
    if a == b == "row-block":
        return SumRule("row-block", lambda s: s[1], lambda x, y: x.data + y.data)
    return SumRule("dense", _dense_sum_adds(a, b), _sum_to_dense)


def _dense_sum_adds(a: str, b: str) -> Callable[[Shape], Size]:
    """Adds of a sum with a dense result: one per entry of the sparser operand's pattern."""
    if a in _DIAGONAL_FAMILY or b in _DIAGONAL_FAMILY:
        return lambda s: s[0]
    if a == "row-block" or b == "row-block":
        return lambda s: s[1]
    return lambda s: s[0] * s[1]


def multiply(left: Block, right: Block) -> Block:
    """Execute ``left @ right`` with the kernel its rule picks.

    >>> a = Block("dense", (1, 2), np.array([[1.0, 2.0]]))
    >>> b = Block("scalar", (2, 2), 3.0)
    >>> multiply(a, b).data.tolist()
    [[3.0, 6.0]]
    """
    if left.shape[1] != right.shape[0]:
        raise AnalyzerError(f"cannot multiply a {left.shape} factor by a {right.shape} factor")
    rule = product_rule(left.kind, right.kind)
    shape = (left.shape[0], right.shape[1])
    return Block(rule.result, shape, rule.kernel(left.data, right.data, shape))


def add(a: Block, b: Block) -> Block:
    """Execute ``a + b`` with the kernel its rule picks.

    >>> add(Block("identity", (2, 2)), Block("diagonal", (2, 2), np.array([1.0, 5.0]))).data
    array([2., 6.])
    """
    if a.shape != b.shape:
        raise AnalyzerError(f"cannot add a {a.shape} factor to a {b.shape} factor")
    rule = sum_rule(a.kind, b.kind)
    return Block(rule.result, a.shape, rule.kernel(a, b))
