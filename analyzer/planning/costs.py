"""Cost models as objects, and the one function that prices a product, a merge or an elimination.

A cost model says which structure kind each factor is multiplied as: ``dense``
treats every factor as a full matrix (as the course sheet does), ``structured``
keeps each factor's own kind, ``matrix-free`` applies every factor as an
operator of its nonzeros (tangent and adjoint code, as AD tools run). Under
``matrix-free`` a factor stored as another kind is charged its elemental count
``e`` per vector by definition (the structure kernel that computes its numbers
may do less); operator chains realised by sparse matrices count what they do.
Every price then comes from the rule table of :mod:`analyzer.structure`;
:class:`Pricer` is the one place that asks it, and every strategy and the
plan's step table call it.

Examples
--------
>>> pricer = Pricer(cost_model("dense"), {"a": 2, "b": 3, "c": 4}, {})
>>> pricer.product("dense", "dense", "a", "b", "c").macs
24
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..elimination import State
from ..errors import PlanError
from ..structure import (
    DENSE,
    Block,
    Kind,
    LinearMap,
    Operator,
    Price,
    as_dense_block,
    kind_of,
    multiply,
    product_rule,
    sum_rule,
)

__all__ = [
    "CostModel",
    "COST_MODELS",
    "OBJECTIVES",
    "cost_model",
    "check_cost",
    "check_objective",
    "Pricer",
]


@dataclass(frozen=True)
class CostModel:
    """How products are priced: which kind each factor is multiplied as.

    ``treats`` is ``"dense"`` (every factor a full matrix), ``"structured"`` (each
    factor its own kind) or ``"matrix-free"`` (every factor an operator applied at
    ``e`` macs per vector, ``e`` the nonzeros its kind holds: what an AD tool's
    elemental tangent or adjoint costs).
    """

    name: str
    treats: str
    description: str

    @property
    def keeps_structure(self) -> bool:
        """False only when every factor is multiplied as a full matrix."""
        return self.treats != "dense"

    def kind(self, structure: str, shape: tuple | None = None) -> Kind:
        """The kind a factor of this structure (and shape) is multiplied as."""
        if self.treats == "dense":
            return DENSE
        kind = kind_of(structure)
        if self.treats == "structured" or kind.name == "operator":
            return kind
        if shape is None:
            raise PlanError("the matrix-free cost model needs a factor's shape")
        return Operator(kind.nonzeros(shape))

    def materialise(self, block: Block) -> Block:
        """The block as this model multiplies it (dense: a full matrix; matrix-free: a map)."""
        if self.treats == "dense":
            return as_dense_block(block)
        if self.treats == "structured" or block.kind.name == "operator":
            return block
        kind = self.kind(block.kind, tuple(block.shape))
        return Block(kind, block.shape, _as_map(block, kind.e))

    def __str__(self) -> str:
        return self.name


#: Cost models by name.
COST_MODELS: dict[str, CostModel] = {
    model.name: model
    for model in (
        CostModel("dense", "dense", "every factor a full matrix, as the course sheet"),
        CostModel("structured", "structured", "each factor priced by its structure kind"),
        CostModel("matrix-free", "matrix-free", "every factor applied as tangent or adjoint code"),
    )
}

#: What an exact strategy minimises: multiply-adds, or elements read and written (bytes).
OBJECTIVES = ("macs", "bytes")


def _as_map(block: Block, e: int) -> LinearMap:
    """A stored factor as a matrix-free map of ``e`` macs per vector (its nonzeros)."""
    rows, cols = block.shape

    def tangent(X: np.ndarray) -> np.ndarray:
        return multiply(block, Block(DENSE, (cols, X.shape[1]), X)).dense()

    def adjoint(Y: np.ndarray) -> np.ndarray:
        return multiply(Block(DENSE, (Y.shape[0], rows), Y), block).dense()

    return LinearMap((rows, cols), e, tangent, adjoint)


def cost_model(cost: str | CostModel) -> CostModel:
    """The registered cost model of this name; a clear error naming the valid ones otherwise."""
    if isinstance(cost, CostModel):
        return cost
    if isinstance(cost, str) and cost in COST_MODELS:
        return COST_MODELS[cost]
    raise PlanError(f"unknown cost model {cost!r}; valid cost models: {', '.join(COST_MODELS)}")


def check_cost(cost: str | CostModel) -> str:
    """The name of the cost model ``cost`` names; a clear error otherwise."""
    return cost_model(cost).name


def check_objective(objective: str) -> str:
    """``objective`` if it names an objective, else a clear error."""
    if not isinstance(objective, str) or objective not in OBJECTIVES:
        raise PlanError(
            f"unknown objective {objective!r}; valid objectives: {', '.join(OBJECTIVES)}"
        )
    return objective


@dataclass
class Pricer:
    """Prices products and merges of factors between named vertices under a cost model.

    ``sizes`` maps each vertex to its size and ``itemsizes`` to its bytes per
    element (8 when absent); a factor ``p -> s`` has the larger itemsize of the two.
    """

    model: CostModel
    sizes: Mapping[Hashable, Any]
    itemsizes: Mapping[Hashable, int]
    _cache: dict = field(default_factory=dict, repr=False)

    def itemsize(self, tail: Hashable, head: Hashable) -> int:
        return max(self.itemsizes.get(tail, 8), self.itemsizes.get(head, 8))

    def product(self, outer: str, inner: str, p: Hashable, v: Hashable, s: Hashable) -> Price:
        """The price of ``J(s, v) J(v, p)`` for factors of kinds ``outer`` and ``inner``."""
        sizes = self.sizes
        key = ("@", outer, inner, sizes[s], sizes[v], sizes[p])
        found = self._cache.get(key)
        if found is None:
            rule = product_rule(outer, inner)
            found = self._cache[key] = rule.price((sizes[s], sizes[v]), (sizes[v], sizes[p]))
        return found

    def merge(self, existing: str, product: str, p: Hashable, s: Hashable) -> Price:
        """The price of adding a product onto the factor ``p -> s`` already there."""
        sizes = self.sizes
        key = ("+", existing, product, sizes[s], sizes[p])
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = sum_rule(existing, product).price((sizes[s], sizes[p]))
        return found

    def elimination(self, state: State, v: Hashable, objective: str = "macs") -> Any:
        """What eliminating ``v`` from ``state`` (whose factors are kinds) costs, unchanged state.

        ``objective`` ``"macs"`` counts multiply-adds; ``"bytes"`` counts bytes read
        and written by the products and merges. Under the dense model the macs of
        the ``|pred| x |succ|`` products are one call of the dense rule with the
        summed sizes (its price ``m·k·n`` is linear in ``m`` and in ``n``), so the
        price takes time linear in the vertex's degree.
        """
        pred, succ = state.pred, state.succ
        if objective == "macs" and not self.model.keeps_structure:
            sizes = self.sizes
            inputs, outputs = pred[v], succ[v]
            if not inputs or not outputs:
                return 0
            rows = sum(sizes[s] for s in outputs)
            cols = sum(sizes[p] for p in inputs)
            key = ("Σ", rows, sizes[v], cols)
            found = self._cache.get(key)
            if found is None:
                if len(self._cache) > 100_000:
                    self._cache.clear()
                found = self._cache[key] = product_rule(DENSE, DENSE).macs(
                    (rows, sizes[v]), (sizes[v], cols)
                )
            return found
        total = 0
        for p, inner in pred[v].items():
            heads = succ[p]
            for s, outer in succ[v].items():
                price = self.product(outer, inner, p, v, s)
                existing = heads.get(s)
                if objective == "macs":
                    total += price.macs
                    if existing is not None:  # a merge may first form an operator's matrix
                        total += self.merge(existing, price.result, p, s).formed
                    continue
                moved = price.read + price.written
                if existing is not None:
                    merge = self.merge(existing, price.result, p, s)
                    moved += merge.read + merge.written
                total += moved * self.itemsize(p, s)
        return total

    def multiply_kinds(self, outer: str, inner: str, p: Hashable, v: Hashable, s: Hashable) -> Kind:
        """The kind of ``J(s, v) J(v, p)`` (a ``multiply`` callback for :func:`eliminate`)."""
        return self.product(outer, inner, p, v, s).result

    def add_kinds(self, existing: str, product: str, p: Hashable, s: Hashable) -> Kind:
        """The kind of a merge (an ``add`` callback for :func:`eliminate`)."""
        return self.merge(existing, product, p, s).result
