"""The built-in kinds (zero, identity, scalar, diagonal, row-block, dense) and their pair rules."""

from __future__ import annotations

import numpy as np
import sympy

from ..errors import AnalyzerError
from .core import (
    Block,
    Kind,
    Operands,
    Shape,
    Size,
    _dims,
    exact_quotient,
    register_kind,
    register_product,
    register_sum,
    to_dense,
)

__all__ = [
    "ZERO",
    "IDENTITY",
    "SCALAR",
    "DIAGONAL",
    "ROW_BLOCK",
    "DENSE",
    "register_scalable",
    "row_block_width",
]


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


ZERO, IDENTITY, SCALAR, DIAGONAL, ROW_BLOCK, DENSE = (
    register_kind(k()) for k in (_Zero, _Identity, _Scalar, _Diagonal, _RowBlock, _Dense)
)
_DIAGONAL_FAMILY = ("identity", "scalar", "diagonal")


def row_block_width(shape: Shape) -> Size:
    """Width N of each row's block in a row-block factor of shape ``(H, H*N)``.

    >>> row_block_width((4, 12))
    3
    """
    width = exact_quotient(shape[1], shape[0])
    if width is None:
        raise AnalyzerError(f"row-block factors have shape (H, H*N), got {_dims(shape)}")
    return width


# ----------------------------------------------------------------------------- products

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


def register_scalable(name: str) -> None:
    """Register ``scalar · K`` and ``K · scalar`` for a kind whose stored numbers are linear
    in its matrix (scaling the matrix scales each stored number): one mac per stored number.

    A kind that does not register this gets the dense fallback for products with a scalar.
    """
    register_product(
        "scalar", name, lambda o: o.right, lambda o: o.right.stored(o.right_shape),
        lambda c, y, o: (c * y, int(np.size(y))),
    )  # fmt: skip
    if name != "scalar":
        register_product(
            name, "scalar", lambda o: o.left, lambda o: o.left.stored(o.left_shape),
            lambda x, c, o: (x * c, int(np.size(x))),
        )  # fmt: skip


for _kind in ("scalar", "diagonal", "row-block", "dense"):
    register_scalable(_kind)
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
    # written in C order, so that the reshape is a view (no second array as large as the
    # result); einsum needs no buffers where a broadcasting multiply uses numpy's (64 KiB)
    out = np.einsum("ij,jk->ijk", matrix, blocks, order="C", optimize=False)
    out = out.reshape(matrix.shape[0], -1)
    return out, matrix.shape[0] * blocks.size


def _row_block_times_dense(blocks: np.ndarray, matrix: np.ndarray, o) -> tuple[np.ndarray, int]:
    rows, width = blocks.shape
    out = np.einsum("ij,ijk->ik", blocks, matrix.reshape(rows, width, -1), optimize=False)
    return out, blocks.size * matrix.shape[1]


def _row_block_times_row_block(left: np.ndarray, right: np.ndarray, o) -> tuple[np.ndarray, int]:
    rows, width = left.shape
    out = np.einsum("ij,ijk->ijk", left, right.reshape(rows, width, -1), order="C", optimize=False)
    return out.reshape(rows, -1), right.size


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


_DENSE_RESULTS = [("dense", k) for k in ("identity", "scalar", "diagonal", "row-block", "dense")]
_DENSE_RESULTS += [(k, "row-block") for k in _DIAGONAL_FAMILY]
for _a, _b in _DENSE_RESULTS:
    register_sum(_a, _b, "dense", _dense_sum_adds, _dense_sum)


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
