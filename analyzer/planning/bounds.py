"""Lower bounds: a cost no elimination order of the remaining vertices can beat.

The bound is a sum over the vertices still to eliminate of a bound on what
eliminating each one will cost, whenever that happens. Why it holds:

1. **Paths.** In any state, an edge ``a -> b`` exists exactly when the start
   graph has a path from ``a`` to ``b`` whose inner vertices are all
   eliminated (eliminating ``v`` joins each ``p -> v -> s`` into ``p -> s`` and
   removes ``v``). Factors are structural: a zero factor is still an edge.
2. **Separators.** So when ``v`` is eliminated, its predecessors ``P`` meet
   every path from a vertex that is never eliminated (a parameter, an output,
   a vertex outside the search) to ``v``: the last vertex still alive before
   ``v`` on such a path is joined to ``v`` by an edge. Hence
   ``Σ_{p∈P} |p| ≥ κ_in(v)``, the least total size of such a separator (a
   minimum vertex cut, computed as a maximum flow with vertex capacities equal
   to the sizes). Likewise ``Σ_{s∈S} |s| ≥ κ_out(v)``. A predecessor that is
   never eliminated stays one until ``v`` goes (an edge disappears only with an
   endpoint), so ``Σ_P |p| ≥ φ_in(v)``, the summed size of ``v``'s current
   never-eliminated predecessors; likewise ``φ_out``.
3. **Dense price.** When every factor that can enter or leave ``v`` is dense
   (always under the dense model), eliminating ``v`` costs
   ``Σ_{p,s} |s|·|v|·|p| = |v|·ΣP·ΣS ≥ |v|·max(κ_in, φ_in)·max(κ_out, φ_out)``
   macs, and ``|v|·(|P|·ΣS + |S|·ΣP) + ΣP·ΣS ≥ |v|·(κ_in + κ_out) + κ_in·κ_out``
   elements moved (times the smallest itemsize) for the bytes objective.
4. **Other kinds.** The kinds that can ever enter ``v`` are closed under the
   rule table: the kinds of its factors, their products with the kinds that can
   enter an eliminated predecessor, and sums of those (:func:`kind_closures`).
   Eliminating ``v`` makes at least one product, of a pair of these kinds, with
   operands no smaller than the smallest vertex that can be a predecessor or a
   successor of ``v``. The prices of the built-in kinds do not decrease when a
   size grows, so the cheapest such pair at those smallest sizes is a bound.
   A vertex where a kind that is not built in can appear contributes 0.
5. **Monotone.** Along any order these per-vertex bounds never decrease: the
   separators of a later state are separators of an earlier one, and ``φ``
   only grows. So the sum over the remaining vertices is at most the cost of
   any completion (admissible), and at most the price of one elimination plus
   the bound after it (consistent): a search may prune any state whose cost so
   far plus this bound reaches the best order known.

Cuts are exact (scipy's maximum flow) on graphs of up to
:data:`EXACT_CUT_VERTICES` vertices; on larger ones the bound uses the widest
single path instead (any separator holds a vertex of every path, so it weighs
at least the smallest vertex of the widest path), which takes linear time.

Examples
--------
>>> from analyzer.models import chain
>>> from analyzer.planning.problem import Problem
>>> root_bound(Problem.of(chain([10, 1000, 10, 1000, 10])))  # the optimum: 201,000
201000
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any

import numpy as np

from ..elimination import State, Step
from ..structure import product_rule, sum_rule
from .costs import Pricer
from .problem import Problem

__all__ = ["LowerBound", "root_bound", "kind_closures", "vertex_cuts", "EXACT_CUT_VERTICES"]

#: Largest graph (vertices) whose cuts are computed exactly by maximum flows.
EXACT_CUT_VERTICES = 600
#: Kinds whose prices do not decrease when a size grows (the built-in ones).
MONOTONE_KINDS = frozenset({"zero", "identity", "scalar", "diagonal", "row-block", "dense"})
_MAX_KINDS = 24


def _name(kind: Any) -> str:
    return getattr(kind, "name", None) or str(kind)


def _sum_closure(kinds: set | None) -> frozenset | None:
    if kinds is None:
        return None
    found = set(kinds)
    changed = True
    while changed:
        changed = False
        for a in list(found):
            for b in list(found):
                c = sum_rule(a, b).result
                if c not in found:
                    found.add(c)
                    changed = True
                    if len(found) > _MAX_KINDS:
                        return None
    return frozenset(found)


def kind_closures(
    state: State, order: Sequence[Hashable], eliminable: set
) -> tuple[dict[Hashable, frozenset | None], dict[Hashable, frozenset | None]]:
    """The kinds that can ever enter and leave each eliminable vertex (``None``: too many).

    ``order`` lists the state's vertices topologically.
    """
    into: dict[Hashable, frozenset | None] = {}
    for v in order:
        if v not in eliminable:
            continue
        found: set | None = set()
        for u, k in state.pred[v].items():
            found.add(k)
            if u in eliminable:
                inner = into[u]
                if inner is None:
                    found = None
                    break
                found.update(product_rule(k, b).result for b in inner)
        into[v] = _sum_closure(found)
    out: dict[Hashable, frozenset | None] = {}
    for v in reversed(order):
        if v not in eliminable:
            continue
        found = set()
        for s, k in state.succ[v].items():
            found.add(k)
            if s in eliminable:
                outer = out[s]
                if outer is None:
                    found = None
                    break
                found.update(product_rule(a, k).result for a in outer)
        out[v] = _sum_closure(found)
    return into, out


def _widest(
    order: Sequence[Hashable], neighbours: dict, sizes: dict, eliminable: set
) -> dict[Hashable, Any]:
    """Per vertex, the largest smallest-vertex size over paths from never-eliminated vertices."""
    best: dict[Hashable, Any] = {}
    for v in order:
        value = 0
        for u in neighbours[v]:
            through = sizes[u] if u not in eliminable else min(sizes[u], best[u])
            if through > value:
                value = through
        best[v] = value
    return best


def _smallest(
    order: Sequence[Hashable], neighbours: dict, sizes: dict, eliminable: set
) -> dict[Hashable, Any]:
    """Per vertex, the smallest size of a vertex that can become its neighbour on this side."""
    least: dict[Hashable, Any] = {}
    for v in order:
        value = None
        for u in neighbours[v]:
            here = sizes[u] if u not in eliminable else min(sizes[u], least[u])
            if value is None or here < value:
                value = here
        least[v] = 0 if value is None else value
    return least


def vertex_cuts(
    state: State,
    sizes: dict,
    order: Sequence[Hashable],
    eliminable: set,
    targets: Iterable[Hashable],
    *,
    exact: bool | None = None,
) -> tuple[dict[Hashable, Any], dict[Hashable, Any]]:
    """``κ_in`` and ``κ_out`` of each target (see the module docstring), or lower bounds of them.

    Exact minimum vertex cuts when ``exact`` (default: graphs of at most
    :data:`EXACT_CUT_VERTICES` vertices with sizes that fit 31-bit
    capacities); the widest single path otherwise.
    """
    targets = list(targets)
    nodes = list(order)
    total = sum(sizes[x] for x in nodes) + 1
    if exact is None:
        exact = len(nodes) <= EXACT_CUT_VERTICES and total < 2**30
    if not exact or not targets:
        ins = _widest(nodes, state.pred, sizes, eliminable)
        outs = _widest(nodes[::-1], state.succ, sizes, eliminable)
        return {v: ins[v] for v in targets}, {v: outs[v] for v in targets}
    from scipy.sparse import csr_array
    from scipy.sparse.csgraph import maximum_flow

    index = {x: i for i, x in enumerate(nodes)}
    n = len(nodes)
    source, sink = 2 * n, 2 * n + 1
    rows, cols, caps = [], [], []
    for x, i in index.items():
        rows.append(2 * i)
        cols.append(2 * i + 1)
        caps.append(int(sizes[x]))
        for s in state.succ[x]:
            rows.append(2 * i + 1)
            cols.append(2 * index[s])
            caps.append(total)
        if x not in eliminable:  # flows start and end at never-eliminated vertices
            rows += [source, 2 * i + 1]
            cols += [2 * i, sink]
            caps += [total, total]
    graph = csr_array(
        (np.array(caps, dtype=np.int32), (np.array(rows), np.array(cols))),
        shape=(2 * n + 2, 2 * n + 2),
    )
    graph.sort_indices()
    ins, outs = {}, {}
    for v in targets:
        i = index[v]
        ins[v] = int(maximum_flow(graph, source, 2 * i).flow_value)
        outs[v] = int(maximum_flow(graph, 2 * i + 1, sink).flow_value)
    return ins, outs


class LowerBound:
    """The admissible bound of the module docstring, kept up to date by :meth:`make`/:meth:`unmake`.

    ``total`` is the bound on what eliminating every vertex of ``eliminable``
    still alive will cost; ``value[v]`` is each vertex's share.
    """

    def __init__(
        self,
        state: State,
        pricer: Pricer,
        eliminable: Iterable[Hashable],
        objective: str = "macs",
        *,
        order: Sequence[Hashable] | None = None,
        itemsizes: dict | None = None,
        exact: bool | None = None,
    ) -> None:
        self.state = state
        self.sizes = sizes = pricer.sizes
        self.objective = objective
        elim = list(eliminable)
        self.eliminable = eliminable_set = set(elim)
        order = [x for x in (order if order is not None else state.pred) if x in state.pred]
        itemsize = min((itemsizes or {}).values(), default=8)
        if objective == "macs":
            itemsize = 1
        self.itemsize = itemsize
        if pricer.model.keeps_structure:
            into, out = kind_closures(state, order, eliminable_set)
            dense = {
                v
                for v in elim
                if into[v] is not None
                and out[v] is not None
                and {str(k) for k in into[v]} == {"dense"} == {str(k) for k in out[v]}
            }
        else:
            into = out = {}
            dense = set(elim)
        self.dense = dense
        self.cut_in, self.cut_out = vertex_cuts(
            state, sizes, order, eliminable_set, [v for v in elim if v in dense], exact=exact
        )
        self.static: dict[Hashable, Any] = {}
        others = [v for v in elim if v not in dense]
        if others:
            least_in = _smallest(order, state.pred, sizes, eliminable_set)
            least_out = _smallest(order[::-1], state.succ, sizes, eliminable_set)
            for v in others:
                self.static[v] = self._cheapest_pair(
                    into[v], out[v], least_out[v], sizes[v], least_in[v]
                )
        self.value = {v: self._value(v) for v in elim}
        self.total = sum(self.value.values())

    def _cheapest_pair(self, into, out, m, k, n) -> Any:
        if not into or not out:
            return 0
        kinds = set(into) | set(out)
        if any(_name(kind) not in MONOTONE_KINDS for kind in kinds):
            return 0
        best = None
        for a in out:
            for b in into:
                price = product_rule(a, b).price((m, k), (k, n))
                value = price.macs if self.objective == "macs" else price.read + price.written
                if best is None or value < best:
                    best = value
        return best * self.itemsize

    def _value(self, v: Hashable) -> Any:
        if v not in self.dense:
            return self.static[v]
        sizes, fixed = self.sizes, self.eliminable
        into = sum(sizes[p] for p in self.state.pred[v] if p not in fixed)
        out = sum(sizes[s] for s in self.state.succ[v] if s not in fixed)
        into = max(into, self.cut_in[v])
        out = max(out, self.cut_out[v])
        if self.objective == "macs":
            return sizes[v] * into * out
        return self.itemsize * (sizes[v] * (into + out) + into * out)

    def make(self, step: Step) -> list[tuple[Hashable, Any]]:
        """Update after ``step`` (already made on the state); returns what :meth:`unmake` needs."""
        v = step.vertex
        value = self.value
        saved = [(v, value.pop(v))]
        total = self.total - saved[0][1]
        dense = self.dense
        for x in (*step.inputs, *step.outputs):
            if x in dense and x in value:
                old = value[x]
                new = self._value(x)
                if new != old:
                    saved.append((x, old))
                    value[x] = new
                    total += new - old
        self.total = total
        return saved

    def unmake(self, saved: list[tuple[Hashable, Any]]) -> None:
        """Undo :meth:`make` (after the state itself was restored)."""
        value = self.value
        total = self.total
        v, old = saved[0]
        value[v] = old
        total += old
        for x, old in saved[1:]:
            total += old - value[x]
            value[x] = old
        self.total = total


def root_bound(problem: Problem, objective: str = "macs") -> Any:
    """The bound at the start of ``problem`` (``None`` when sizes are symbols).

    Cheap: what the heuristic and end orders report as ``lower_bound``.
    """
    if problem.symbolic:
        return None
    if not problem.intermediates:
        return 0
    bound = LowerBound(
        problem.state(),
        problem.pricer(),
        problem.intermediates,
        objective,
        order=problem.nodes,
        itemsizes=problem.itemsizes,
    )
    return bound.total
