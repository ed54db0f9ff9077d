"""A stronger lower bound from pairs of neighbours: which of the two goes first, with cuts.

:class:`~analyzer.planning.bounds.LowerBound` bounds each vertex alone
(``|v|·B_in·B_out`` with ``B`` its narrowest separators, see
:mod:`~analyzer.planning.bounds`) and adds, per factor ``u -> v`` between two
vertices still to eliminate, the smaller raise of ``u``'s outputs by ``|v|`` or
``v``'s inputs by ``|u|`` over the never-eliminated neighbours ``φ``. When
``v``'s other inputs are themselves still to eliminate, ``φ`` is small and
that raise is weak. This module bounds a *pair* ``u -> v`` by the two cases:

- ``u`` goes first: ``v`` is then among ``u``'s successors and the others
  separate ``u`` from the never-eliminated vertices in the graph without
  ``v``, so ``OUT(u) ≥ |v| + κ_out(u; G - v)``; when ``v`` goes later ``u``
  is gone, so ``v``'s predecessors form a separator without ``u``:
  ``IN(v) ≥ κ_in(v; u uncuttable)``.
- ``v`` goes first: mirror, ``IN(v) ≥ |u| + κ_in(v; G - u)`` and
  ``OUT(u) ≥ κ_out(u; v uncuttable)``.

(Why these are separators: by item 1 of :mod:`~analyzer.planning.bounds`, a
path of the graph now from a never-eliminated vertex into ``v`` keeps, at
any later state, its vertices still alive as a path, so the last of them
before ``v`` is a predecessor of ``v`` then.) Each vertex's other side keeps
its single bound. The pair then costs at least the smaller of the two cases'
sums (prices grow with ``IN`` and ``OUT``), a gain ``γ(u, v)`` over the two
single bounds.

Both cases raise only ``u``'s output side and ``v``'s input side. A
vertex's price ``f(IN, OUT)`` (``|v|·IN·OUT``, or the bytes form) is
bilinear with nonnegative coefficients, so raises of its two sides add up
(item 5 of :mod:`~analyzer.planning.bounds`); two raises of one side from
different pairs need not (separators overlap). So the bound takes a
*matching* of sides: pairs ``u -> v`` no two of which use the same output
side of a vertex or the same input side. For such a set ``M``, every order
costs at least the single bounds of all vertices, plus ``γ`` of each pair
of ``M``, plus the penalties of :class:`~analyzer.planning.bounds.LowerBound`
of the factors ``x -> y`` whose sides (``x``'s output, ``y``'s input) no
pair of ``M`` uses (its argument holds on any such set of factors). ``M`` is
chosen greedily by gain; any matching gives a valid bound, and the empty one
gives the old total, so the result never is below it.

Only vertices priced densely take part (as for the penalties), and only on
graphs whose cuts are exact (:data:`~analyzer.planning.cuts.EXACT_CUT_VERTICES`).

Examples
--------
>>> from analyzer.models import mlp
>>> from analyzer.planning.problem import Problem
>>> from analyzer.planning.bounds import LowerBound
>>> problem = Problem.of(mlp([8, 2, 8, 2, 8]))
>>> bound = LowerBound(problem.initial(), problem.pricer(), problem.intermediates,
...                    order=problem.nodes)
>>> bound.total <= pair_bound(bound, problem.nodes) <= 1256  # 1256: the optimum
True
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from .bounds import LowerBound
from .cuts import EXACT_CUT_VERTICES, split_network

__all__ = ["pair_bound", "MAX_PAIRS"]

#: Most factors a pair bound looks at (four maximum flows each).
MAX_PAIRS = 400


class _Flows:
    """Maximum flows with vertex capacities equal to the sizes, one vertex's capacity changed."""

    def __init__(self, state, sizes: dict, nodes: Sequence[Hashable], eliminable: set) -> None:
        from scipy.sparse import csr_array
        from scipy.sparse.csgraph import maximum_flow

        self._csr, self._flow = csr_array, maximum_flow
        net = split_network(state, sizes, nodes, eliminable)
        self.index, self.slot, self.total = net.index, net.slot, net.total
        self.source, self.sink, self.shape = net.source, net.sink, net.shape
        self.rows, self.cols, self.caps = net.rows, net.cols, net.caps

    def _graph(self, x: Hashable, capacity: int):
        caps = self.caps.copy()
        caps[self.slot[x]] = capacity
        graph = self._csr((caps, (self.rows, self.cols)), shape=self.shape)
        graph.sort_indices()
        return graph

    def into(self, v: Hashable, x: Hashable, capacity: int) -> int:
        """The narrowest separator of ``v`` from the never-eliminated, ``x`` at ``capacity``."""
        graph = self._graph(x, capacity)
        return int(self._flow(graph, self.source, 2 * self.index[v]).flow_value)

    def out_of(self, v: Hashable, x: Hashable, capacity: int) -> int:
        """The narrowest separator of ``v`` from the never-eliminated on its output side."""
        graph = self._graph(x, capacity)
        return int(self._flow(graph, 2 * self.index[v] + 1, self.sink).flow_value)


def _gain(bound: LowerBound, flows: _Flows, u: Hashable, v: Hashable) -> Any:
    """``γ(u, v)``: what the two cases of the module docstring add to the single bounds."""
    sizes, price = bound.sizes, bound._price
    in_u, out_u = bound.base[u]
    in_v, out_v = bound.base[v]
    infinite = flows.total
    # u first: v among u's successors; v's predecessors later avoid u
    raised_out_u = sizes[v] + max(flows.out_of(u, v, 0), bound.fixed_out[u])
    kept_in_v = max(flows.into(v, u, infinite), in_v)
    first = price(u, in_u, max(raised_out_u, out_u)) + price(v, kept_in_v, out_v)
    # v first: u among v's predecessors; u's successors later avoid v
    raised_in_v = sizes[u] + max(flows.into(v, u, 0), bound.fixed_in[v])
    kept_out_u = max(flows.out_of(u, v, infinite), out_u)
    second = price(v, max(raised_in_v, in_v), out_v) + price(u, in_u, kept_out_u)
    return min(first, second) - bound.value[u] - bound.value[v]


def pair_bound(bound: LowerBound, nodes: Sequence[Hashable], budget: Any = None) -> Any:
    """A lower bound at least ``bound.total``, from a greedy matching of pairs (module docstring).

    ``bound`` must be fresh (no move made on it since it was built); ``nodes``
    lists its state's vertices in topological order. ``budget`` (a
    :class:`~analyzer.planning.search.Budget`) stops it early, returning
    ``bound.total``.
    """
    state, dense = bound.state, bound.dense
    nodes = [x for x in nodes if x in state.pred]
    sizes_total = sum(bound.sizes[x] for x in nodes)
    if len(nodes) > EXACT_CUT_VERTICES or sizes_total >= 2**30:
        return bound.total
    edges = [
        (u, v)
        for u in nodes
        if u in dense and u in bound.value
        for v in state.succ[u]
        if v in dense and v in bound.value
    ]
    if not edges or len(edges) > MAX_PAIRS:
        return bound.total
    flows = _Flows(state, bound.sizes, nodes, bound.eliminable)
    gains = []
    for u, v in edges:
        if budget is not None and budget.expired():
            return bound.total
        gain = _gain(bound, flows, u, v)
        if gain > 0:
            gains.append((gain, u, v))
    penalty = bound.penalty
    incident: dict[tuple, list] = {}  # the penalties that charge each side of a vertex
    for key in penalty:
        incident.setdefault(("out", key[0]), []).append(key)
        incident.setdefault(("in", key[1]), []).append(key)
    used: set = set()
    lost: set = set()
    total = bound.total
    while gains:
        best, best_change = None, 0
        for item in gains:
            gain, u, v = item
            sides = (("out", u), ("in", v))
            dropped = {k for x in sides for k in incident.get(x, ()) if k not in lost}
            change = gain - sum(penalty[k] for k in dropped)
            if change > best_change:
                best, best_change = item, change
        if best is None:
            break
        _, u, v = best
        sides = (("out", u), ("in", v))
        used.update(sides)
        lost.update(k for x in sides for k in incident.get(x, ()))
        total += best_change
        gains = [g for g in gains if ("out", g[1]) not in used and ("in", g[2]) not in used]
    return total
