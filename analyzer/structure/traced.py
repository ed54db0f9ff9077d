"""Kinds of traced operations: Kronecker forms of matrix products, selections and summations.

With ``A`` of shape ``(m, k)`` and ``B`` of shape ``(k, n)``, flattened row-major,
the Jacobians of ``C = A @ B`` are ``∂C/∂A = I_m ⊗ Bᵀ`` and ``∂C/∂B = A ⊗ I_n``;
broadcasting, transposes, slices and concatenations copy entries (each output
entry is one input entry, or zero); sums over axes add entries up.

=================== ============================================ =======================
kind                matrix                                       stored
=================== ============================================ =======================
block-diagonal[a]   ``a`` blocks ``r x c`` on the diagonal        the blocks, ``(a, r, c)``
                    (``I_a ⊗ B`` when the blocks are equal)
kron-identity[n]    ``A ⊗ I_n``, shape ``(m n, k n)``             ``A``, ``(m, k)``
selection           each row holds at most one 1                 the column of each row's
                    (broadcast, transpose, slice, concatenation)  1, or -1 (a zero row)
summation           each column holds exactly one 1 (a sum       the row of each column's 1
                    over axes)
=================== ============================================ =======================

Products with a selection or a summation copy or add entries: they cost no
multiply-adds (the additions of a summation are not macs). Pairs without a rule
here make the cheaper operand dense (see :mod:`analyzer.structure.core`).

Examples
--------
>>> import numpy as np
>>> from analyzer.structure import Block, multiply
>>> B = np.arange(6.0).reshape(2, 3)
>>> kron = Block(BlockDiagonal(2), (6, 4), np.stack([B.T, B.T]))  # I_2 ⊗ Bᵀ
>>> bool(np.array_equal(kron.dense(), np.kron(np.eye(2), B.T)))
True
>>> pick = Block(Selection(), (3, 4), np.array([3, -1, 0]))  # rows: x3, 0, x0
>>> multiply(pick, Block("dense", (4, 1), np.arange(4.0)[:, None])).data.ravel().tolist()
[3.0, 0.0, 0.0]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import AnalyzerError
from .basic import _DIAGONAL_FAMILY, register_scalable
from .core import (
    Block,
    Kind,
    Operands,
    Shape,
    Size,
    _densified_product,
    _dims,
    exact_quotient,
    register_kind,
    register_product,
    register_sum,
)

__all__ = ["BlockDiagonal", "KronIdentity", "Selection", "Summation"]


# ----------------------------------------------------------------------------- kinds
def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise AnalyzerError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


class BlockDiagonal(Kind):
    """``a`` diagonal blocks of shape ``(r, c)``: shape ``(a r, a c)``; ``I_a ⊗ B`` if equal."""

    name = "block-diagonal"

    def __new__(cls, blocks: int = 0) -> BlockDiagonal:
        return super().__new__(cls, *((_count(blocks, "blocks"),) if blocks else ()))

    @property
    def blocks(self) -> int:
        if not self.params:
            raise AnalyzerError(
                "a block-diagonal kind needs its number of blocks: BlockDiagonal(a)"
            )
        return self.params[0]

    def block_shape(self, shape: Shape) -> tuple[Size, Size]:
        return exact_quotient(shape[0], self.blocks), exact_quotient(shape[1], self.blocks)

    def shape_error(self, shape):
        if not self.params or self.blocks < 1:
            return "a block-diagonal kind needs a positive number of blocks: BlockDiagonal(a)"
        if None in self.block_shape(shape):
            return f"{self} needs both sides divisible by {self.blocks}, got {_dims(shape)}"
        return None

    def stored(self, shape):
        rows, cols = self.block_shape(shape)
        return self.blocks * rows * cols

    def to_dense(self, data, shape):
        blocks = np.asarray(data, dtype=float)
        a, r, c = blocks.shape
        out = np.zeros((a, r, a, c))
        out[np.arange(a), :, np.arange(a), :] = blocks
        return out.reshape(a * r, a * c)

    def read(self, numbers, shape):
        rows, cols = self.block_shape(shape)
        return np.asarray(numbers, dtype=float).reshape(self.blocks, rows, cols)


class KronIdentity(Kind):
    """``A ⊗ I_n``: shape ``(m n, k n)``, stores ``A`` ``(m, k)``; ``∂(A B)/∂B`` row-major."""

    name = "kron-identity"

    def __new__(cls, n: int = 0) -> KronIdentity:
        return super().__new__(cls, *((_count(n, "n"),) if n else ()))

    @property
    def n(self) -> int:
        if not self.params:
            raise AnalyzerError("a kron-identity kind needs its identity size: KronIdentity(n)")
        return self.params[0]

    def factor_shape(self, shape: Shape) -> tuple[Size, Size]:
        return exact_quotient(shape[0], self.n), exact_quotient(shape[1], self.n)

    def shape_error(self, shape):
        if not self.params or self.n < 1:
            return "a kron-identity kind needs a positive identity size: KronIdentity(n)"
        if None in self.factor_shape(shape):
            return f"{self} needs both sides divisible by {self.n}, got {_dims(shape)}"
        return None

    def stored(self, shape):
        rows, cols = self.factor_shape(shape)
        return rows * cols

    def nonzeros(self, shape):
        return self.stored(shape) * self.n  # each number of A sits on n diagonal entries

    def to_dense(self, data, shape):
        return np.kron(np.asarray(data, dtype=float), np.eye(self.n))

    def read(self, numbers, shape):
        return np.asarray(numbers, dtype=float).reshape(self.factor_shape(shape))


def _indices(numbers: Any, count: Size, bound: Size, low: int, what: str) -> np.ndarray:
    index = np.asarray(numbers)
    if index.dtype.kind not in "iu" or index.size != count:
        raise AnalyzerError(
            f"a {what} needs {count} integer indices, got {index.size} of dtype {index.dtype}"
        )
    index = index.astype(np.int64).reshape(-1)
    if index.size and (index.min() < low or index.max() >= bound):
        raise AnalyzerError(
            f"a {what}'s indices must lie in [{low}, {bound}), got {index.tolist()}"
        )
    return index


class Selection(Kind):
    """Each row holds at most one 1: stores, per row, the column of its 1 (or -1 for a zero row)."""

    name = "selection"

    def stored(self, shape):
        return shape[0]

    def nonzeros(self, shape):
        return shape[0]

    def to_dense(self, data, shape):
        out = np.zeros(shape)
        rows = np.flatnonzero(data >= 0)
        out[rows, data[rows]] = 1.0
        return out

    def read(self, numbers, shape):
        return _indices(numbers, shape[0], shape[1], -1, "selection")


class Summation(Kind):
    """Each column holds exactly one 1: stores, per column, the row of its 1."""

    name = "summation"

    def stored(self, shape):
        return shape[1]

    def nonzeros(self, shape):
        return shape[1]

    def to_dense(self, data, shape):
        out = np.zeros(shape)
        out[data, np.arange(shape[1])] = 1.0
        return out

    def read(self, numbers, shape):
        return _indices(numbers, shape[1], shape[0], 0, "summation")


for _kind in (BlockDiagonal(), KronIdentity(), Selection(), Summation()):
    register_kind(_kind)
register_scalable("block-diagonal")
register_scalable("kron-identity")


# ----------------------------------------------------------------------------- block-diagonal
def _div(total: Size, by: int) -> Size:
    """``total / by``, exact: an int for ints, an expanded polynomial for symbolic sizes."""
    quotient = exact_quotient(total, by)
    if quotient is None:
        raise AnalyzerError(f"{total} is not divisible by {by}")
    return quotient


def _same_blocks(o: Operands) -> bool:
    return o.left.params == o.right.params


def _bd_times_dense(blocks, matrix, o):
    a, r, c = blocks.shape
    out = np.matmul(blocks, matrix.reshape(a, c, -1))
    return out.reshape(a * r, -1), blocks.size * matrix.shape[1]


def _dense_times_bd(matrix, blocks, o):
    a, r, c = blocks.shape
    out = np.matmul(matrix.reshape(-1, a, r).transpose(1, 0, 2), blocks)  # (a, m, c)
    return out.transpose(1, 0, 2).reshape(matrix.shape[0], a * c), matrix.shape[0] * blocks.size


def _bd_times_bd(left, right, o):
    if not _same_blocks(o):  # different block counts: the cheaper operand made dense
        return _densified_product(o.left, o.right).kernel(left, right, o)
    return np.matmul(left, right), left.size * right.shape[2]


def _bd_bd_macs(o: Operands) -> Size:
    if _same_blocks(o):
        return _div(o.m * o.k * o.n, o.left.blocks**2)
    return _densified_product(o.left, o.right).macs(o)


register_product(
    "block-diagonal",
    "dense",
    "dense",
    lambda o: _div(o.m * o.k * o.n, o.left.blocks),
    _bd_times_dense,
)
register_product(
    "dense",
    "block-diagonal",
    "dense",
    lambda o: _div(o.m * o.k * o.n, o.right.blocks),
    _dense_times_bd,
)
register_product(
    "block-diagonal", "block-diagonal",
    lambda o: o.left if _same_blocks(o) else "dense", _bd_bd_macs, _bd_times_bd,
)  # fmt: skip
register_product(
    "diagonal", "block-diagonal", lambda o: o.right, lambda o: o.right.stored(o.right_shape),
    lambda d, b, o: (d.reshape(b.shape[0], b.shape[1], 1) * b, b.size),
)  # fmt: skip
register_product(
    "block-diagonal", "diagonal", lambda o: o.left, lambda o: o.left.stored(o.left_shape),
    lambda b, d, o: (b * d.reshape(b.shape[0], 1, b.shape[2]), b.size),
)  # fmt: skip


def _bd_plus_diagonal(a: Block, b: Block, o: Operands) -> tuple[np.ndarray, int]:
    blocks, other = (a, b) if a.kind.name == "block-diagonal" else (b, a)
    out = np.array(blocks.data, dtype=float, copy=True)
    count, size = out.shape[0], out.shape[1]
    diagonal = np.broadcast_to(
        1.0 if other.kind == "identity" else np.asarray(other.data, dtype=float), (count * size,)
    )
    out[:, np.arange(size), np.arange(size)] += diagonal.reshape(count, size)
    return out, o.m


for _other in _DIAGONAL_FAMILY:  # a square block-diagonal has square blocks: the diagonal fits
    register_sum(
        "block-diagonal", _other, lambda o: o.left if o.left.name == "block-diagonal" else o.right,
        lambda o: o.m, _bd_plus_diagonal,
    )  # fmt: skip
register_sum(
    "block-diagonal", "block-diagonal",
    lambda o: o.left if _same_blocks(o) else "dense",
    lambda o: o.left.stored(o.shape) if _same_blocks(o) else o.m * o.n,
    lambda a, b, o: (a.data + b.data, a.data.size) if _same_blocks(o)
    else (a.dense() + b.dense(), o.m * o.n),
)  # fmt: skip


# ----------------------------------------------------------------------------- kron-identity
def _ki_times_dense(factor, matrix, o):
    k = factor.shape[1]
    out = factor @ matrix.reshape(k, -1)
    return out.reshape(-1, matrix.shape[1]), factor.size * (matrix.size // k)


def _dense_times_ki(matrix, factor, o):
    m, k = factor.shape
    n = o.right.n
    out = np.einsum("qin,il->qln", matrix.reshape(matrix.shape[0], m, n), factor, optimize=True)
    return out.reshape(matrix.shape[0], k * n), matrix.shape[0] * factor.size * n


def _ki_times_ki(left, right, o):
    if o.left.params != o.right.params:  # different identities: the cheaper operand made dense
        return _densified_product(o.left, o.right).kernel(left, right, o)
    return left @ right, left.shape[0] * left.shape[1] * right.shape[1]


register_product(
    "kron-identity", "dense", "dense", lambda o: _div(o.m * o.k * o.n, o.left.n), _ki_times_dense
)
register_product(
    "dense", "kron-identity", "dense", lambda o: _div(o.m * o.k * o.n, o.right.n), _dense_times_ki
)
register_product(
    "kron-identity", "kron-identity",
    lambda o: o.left if o.left.params == o.right.params else "dense",
    lambda o: _div(o.m * o.k * o.n, o.left.n**3) if o.left.params == o.right.params
    else _densified_product(o.left, o.right).macs(o),
    _ki_times_ki,
)  # fmt: skip


# ----------------------------------------------------------------------------- selections
def _gather_rows(index: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    out = matrix[np.maximum(index, 0)]
    out[index < 0] = 0.0
    return out


def _grouping(index: np.ndarray, groups: int):
    """The 0/1 sparse matrix sending entry ``j`` to group ``index[j]`` (``-1``: nowhere)."""
    from scipy import sparse

    kept = np.flatnonzero(index >= 0)
    ones = np.ones(kept.size)
    return sparse.csr_matrix((ones, (index[kept], kept)), shape=(groups, index.size))


def _scatter_columns(matrix: np.ndarray, index: np.ndarray, columns: int) -> np.ndarray:
    """``matrix @ S`` for a selection ``S``: column ``index[i]`` gathers column ``i``."""
    return np.asarray((_grouping(index, columns) @ matrix.T).T)


def _sum_rows(index: np.ndarray, matrix: np.ndarray, rows: int) -> np.ndarray:
    """``S @ matrix`` for a summation ``S``: row ``index[j]`` adds row ``j``."""
    return np.asarray(_grouping(index, rows) @ matrix)


register_product(
    "selection", "dense", "dense", lambda o: 0, lambda s, x, o: (_gather_rows(s, x), 0)
)
register_product(
    "dense", "selection", "dense", lambda o: 0,
    lambda x, s, o: (_scatter_columns(x, s, o.n), 0),
)  # fmt: skip
register_product(
    "selection", "selection", "selection", lambda o: 0,
    lambda a, b, o: (np.where(a >= 0, b[np.maximum(a, 0)], -1), 0),
)  # fmt: skip
register_product(
    "summation", "dense", "dense", lambda o: 0, lambda s, x, o: (_sum_rows(s, x, o.m), 0)
)
register_product("dense", "summation", "dense", lambda o: 0, lambda x, s, o: (x[:, s], 0))
register_product("summation", "summation", "summation", lambda o: 0, lambda a, b, o: (a[b], 0))
register_sum(
    "kron-identity", "kron-identity",
    lambda o: o.left if o.left.params == o.right.params else "dense",
    lambda o: o.left.stored(o.shape) if o.left.params == o.right.params else o.m * o.n,
    lambda a, b, o: (a.data + b.data, a.data.size) if o.left.params == o.right.params
    else (a.dense() + b.dense(), o.m * o.n),
)  # fmt: skip


def _ki_plus_scalar(a: Block, b: Block, o: Operands) -> tuple[np.ndarray, int]:
    """``A ⊗ I + c I = (A + c I) ⊗ I``: a square kron-identity absorbs a scalar multiple of I."""
    kron, other = (a, b) if a.kind.name == "kron-identity" else (b, a)
    c = 1.0 if other.kind == "identity" else float(other.data)
    out = np.array(kron.data, dtype=float, copy=True)
    out[np.diag_indices(out.shape[0])] += c
    return out, out.shape[0]


for _other in ("identity", "scalar"):
    register_sum(
        "kron-identity", _other, lambda o: o.left if o.left.name == "kron-identity" else o.right,
        lambda o: _div(o.m, (o.left if o.left.name == "kron-identity" else o.right).n),
        _ki_plus_scalar,
    )  # fmt: skip


# A selection or a summation meeting a diagonal or a scalar: each structural one takes one of
# the other's numbers (a multiplication by one, free): a dense result with those numbers.
def _diagonal_values(block_data: Any, kind: Kind, size: int) -> np.ndarray:
    if kind.name == "scalar":
        return np.full(size, float(block_data))
    return np.asarray(block_data, dtype=float)


def _placed(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape) -> np.ndarray:
    out = np.zeros(shape)
    out[rows, cols] = values
    return out


def _scaled_selection(left: Any, right: Any, o: Operands) -> tuple[np.ndarray, int]:
    if o.left.name == "selection":  # S · D: row i holds d[idx[i]] at column idx[i]
        index, d = left, _diagonal_values(right, o.right, o.n)
        rows = np.flatnonzero(index >= 0)
        return _placed(rows, index[rows], d[index[rows]], (o.m, o.n)), 0
    d, index = _diagonal_values(left, o.left, o.m), right  # D · S: row i holds d[i]
    rows = np.flatnonzero(index >= 0)
    return _placed(rows, index[rows], d[rows], (o.m, o.n)), 0


def _scaled_summation(left: Any, right: Any, o: Operands) -> tuple[np.ndarray, int]:
    if o.left.name == "summation":  # S · D: column j holds d[j] at row idx[j]
        index, d = left, _diagonal_values(right, o.right, o.n)
        return _placed(index, np.arange(o.n), d, (o.m, o.n)), 0
    d, index = _diagonal_values(left, o.left, o.m), right  # D · S: column j holds d[idx[j]]
    return _placed(index, np.arange(o.n), d[index], (o.m, o.n)), 0


for _copying, _kernel in (("selection", _scaled_selection), ("summation", _scaled_summation)):
    for _scaling in ("diagonal", "scalar"):
        register_product(_copying, _scaling, "dense", lambda o: 0, _kernel)
        register_product(_scaling, _copying, "dense", lambda o: 0, _kernel)
