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
arrays it touched. A pair with no rule makes the cheaper operand dense (the
registered rule of the other with a dense factor, or a dense product), counting
the macs of forming an operator's matrix. Adding a kind is one :class:`Kind`
subclass and its pair rules.

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

Kinds of traced operations (:mod:`analyzer.structure.traced`): ``block-diagonal[a]``
(``I_a ⊗ B``), ``kron-identity[n]`` (``A ⊗ I_n``), ``selection``, ``summation``;
matrix-free factors (:mod:`analyzer.structure.operator`): ``operator[e]``.

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

from . import basic, operator, traced  # noqa: F401  (register the kinds and their rules)
from .basic import DENSE, DIAGONAL, IDENTITY, ROW_BLOCK, SCALAR, ZERO, row_block_width
from .core import (
    KINDS,
    Block,
    Kind,
    Operands,
    Price,
    ProductRule,
    SumRule,
    add,
    add_counted,
    as_dense_block,
    exact_quotient,
    kind_of,
    merge_counted,
    multiply,
    multiply_counted,
    product_rule,
    register_kind,
    register_product,
    register_sum,
    rules_version,
    stored_size,
    sum_rule,
    to_dense,
)
from .operator import LinearMap, Operator
from .traced import BlockDiagonal, KronIdentity, Selection, Summation

__all__ = [
    "LinearMap",
    "Operator",
    "BlockDiagonal",
    "KronIdentity",
    "Selection",
    "Summation",
    "KINDS",
    "Kind",
    "Block",
    "Operands",
    "Price",
    "ProductRule",
    "SumRule",
    "DENSE",
    "DIAGONAL",
    "IDENTITY",
    "ROW_BLOCK",
    "SCALAR",
    "ZERO",
    "register_kind",
    "register_product",
    "register_sum",
    "rules_version",
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
    "row_block_width",
    "exact_quotient",
]
