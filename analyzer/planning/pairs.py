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

from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any

from .bounds import LowerBound
from .cuts import EXACT_CUT_VERTICES, split_network

__all__ = ["pair_bound", "pack_greedily", "PairBound", "MAX_PAIRS"]

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


def _flows_of(flows: _Flows, u: Hashable, v: Hashable) -> tuple[int, int, int, int]:
    """The four separators of the two cases of ``u -> v`` (module docstring), in the start graph.

    ``κ_out(u; G - v)``, ``κ_in(v; u uncuttable)``, ``κ_in(v; G - u)``,
    ``κ_out(u; v uncuttable)``.
    """
    infinite = flows.total
    return (
        flows.out_of(u, v, 0),
        flows.into(v, u, infinite),
        flows.into(v, u, 0),
        flows.out_of(u, v, infinite),
    )


def _case_gain(bound: LowerBound, u: Hashable, v: Hashable, four: tuple) -> Any:
    """``γ(u, v)`` from the separators ``four`` and the bound's current bases and ``φ``."""
    sizes, price = bound.sizes, bound._price
    out_u_free, in_v_kept, in_v_free, out_u_kept = four
    in_u, out_u = bound.base[u]
    in_v, out_v = bound.base[v]
    # u first: v among u's successors; v's predecessors later avoid u
    raised_out_u = sizes[v] + max(out_u_free, bound.fixed_out[u])
    first = price(u, in_u, max(raised_out_u, out_u)) + price(v, max(in_v_kept, in_v), out_v)
    # v first: u among v's predecessors; u's successors later avoid v
    raised_in_v = sizes[u] + max(in_v_free, bound.fixed_in[v])
    second = price(v, max(raised_in_v, in_v), out_v) + price(u, in_u, max(out_u_kept, out_u))
    return min(first, second) - bound.value[u] - bound.value[v]


def _gain(bound: LowerBound, flows: _Flows, u: Hashable, v: Hashable) -> Any:
    """``γ(u, v)``: what the two cases of the module docstring add to the single bounds."""
    return _case_gain(bound, u, v, _flows_of(flows, u, v))


def _matching(bound: LowerBound, nodes: Sequence[Hashable], budget: Any) -> dict | None:
    """A greedy matching of sides: ``{(u, v): four separators}`` (``None``: none to look at).

    Pairs are taken by what they add over the penalties of the factors whose
    sides they use, largest first. Stops early (``None``) when ``budget`` runs out.
    """
    state, dense = bound.state, bound.dense
    nodes = [x for x in nodes if x in state.pred]
    sizes_total = sum(bound.sizes[x] for x in nodes)
    if len(nodes) > EXACT_CUT_VERTICES or sizes_total >= 2**30:
        return None
    edges = [
        (u, v)
        for u in nodes
        if u in dense and u in bound.value
        for v in state.succ[u]
        if v in dense and v in bound.value
    ]
    if not edges or len(edges) > MAX_PAIRS:
        return None
    flows = _Flows(state, bound.sizes, nodes, bound.eliminable)
    gains = []
    for u, v in edges:
        if budget is not None and budget.expired():
            return None
        four = _flows_of(flows, u, v)
        gain = _case_gain(bound, u, v, four)
        if gain > 0:
            gains.append((gain, u, v, four))
    packed, _ = pack_greedily(
        bound.penalty, gains, lambda g: (("out", g[1]), ("in", g[2])), lambda g: g[0]
    )
    return {(u, v): four for _, u, v, four in packed}


def pack_greedily(
    penalty: dict,
    candidates: list,
    sides_of: Callable[[Any], Iterable[tuple]],
    gain_of: Callable[[Any], Any],
    budget: Any = None,
) -> tuple[list, Any]:
    """A greedy packing of candidates no two of which use the same side of a vertex, and
    what it adds to the bound: ``(packed, added)``.

    Each round takes the candidate that adds most over the penalties it drops (those of
    the factors charging the sides it uses, item 5 of :mod:`~analyzer.planning.bounds`),
    until none adds anything or ``budget`` runs out (what is packed then is a packing too).
    Sides are ``("out", vertex)`` and ``("in", vertex)``; ``penalty`` maps factors
    ``(u, v)`` (charging ``("out", u)`` and ``("in", v)``) to their penalties.

    >>> pack_greedily({("a", "b"): 1}, [(5, "a", "b"), (3, "a", "c")],
    ...               lambda g: (("out", g[1]), ("in", g[2])), lambda g: g[0])
    ([(5, 'a', 'b')], 4)
    """
    incident: dict[tuple, list] = {}  # the penalties that charge each side of a vertex
    for key in penalty:
        incident.setdefault(("out", key[0]), []).append(key)
        incident.setdefault(("in", key[1]), []).append(key)
    used: set = set()
    lost: set = set()
    packed: list = []
    added: Any = 0
    while candidates and not (budget is not None and budget.expired()):
        best, best_change = None, 0
        for item in candidates:
            dropped = {k for x in sides_of(item) for k in incident.get(x, ()) if k not in lost}
            change = gain_of(item) - sum(penalty[k] for k in dropped)
            if change > best_change:
                best, best_change = item, change
        if best is None:
            break
        sides = tuple(sides_of(best))
        packed.append(best)
        used.update(sides)
        lost.update(k for x in sides for k in incident.get(x, ()))
        added += best_change
        candidates = [c for c in candidates if not used.intersection(sides_of(c))]
    return packed, added


def pair_bound(bound: LowerBound, nodes: Sequence[Hashable], budget: Any = None) -> Any:
    """A lower bound at least ``bound.total``, from a greedy matching of pairs (module docstring).

    ``bound`` must be fresh (no move made on it since it was built); ``nodes``
    lists its state's vertices in topological order. ``budget`` (a
    :class:`~analyzer.planning.search.Budget`) stops it early, returning
    ``bound.total``.
    """
    matched = _matching(bound, nodes, budget)
    if not matched:
        return bound.total
    sides = {side: key for key in matched for side in (("out", key[0]), ("in", key[1]))}
    total = bound.total
    for key, old in bound.penalty.items():
        if ("out", key[0]) in sides or ("in", key[1]) in sides:
            total -= old
    for (u, v), four in matched.items():
        total += _case_gain(bound, u, v, four)
    return total


class PairBound(LowerBound):
    """The pair bound kept up to date move by move: the search's bound at every state.

    Built like :class:`~analyzer.planning.bounds.LowerBound` (same arguments);
    :meth:`match`, at the start, chooses a matching of sides as
    :func:`pair_bound` does and keeps, per matched pair, its four
    separators in the start graph. At any later state a separator of that
    state is one of the start graph (item 1 of :mod:`~analyzer.planning.bounds`),
    so the two cases still hold with those numbers, and ``γ`` is priced again
    with the state's bases and ``φ``. While both ends of a matched pair are
    alive, its factor carries ``γ`` in place of a penalty and the other
    factors on its two sides carry none; when one end goes, the other's side
    is free again and its factors get their penalties back. After
    :meth:`match` the total is :func:`pair_bound`'s value.

    ``share[v]`` holds every term that names ``v`` (its value, its factors'
    penalties and ``γ`` of its pairs); the terms that do not name ``v`` bound
    what the other vertices cost in any order that eliminates ``v`` now, so
    ``total - share[v]`` is a lower bound of the child's cost to finish, even
    where the total recomputed there is lower (a vertex in two pairs whose
    ``φ`` grows can lose more ``γ`` than it gains value): the search takes the
    larger of the two.
    """

    def __init__(self, *args: Any, **options: Any) -> None:
        self.matched: dict[tuple, tuple] = {}
        self.sides: dict[tuple, tuple] = {}
        super().__init__(*args, **options)

    def match(self, nodes: Sequence[Hashable], budget: Any = None) -> Any:
        """Choose the matching (on a fresh bound) and raise the total by it; return the total.

        ``nodes`` lists the state's vertices in topological order; when
        ``budget`` runs out first, nothing changes.
        """
        matched = _matching(self, nodes, budget)
        if not matched or self.matched:
            return self.total
        pred, succ, value, dense = self.state.pred, self.state.succ, self.value, self.dense
        keys = dict.fromkeys(matched)
        for u, v in matched:
            keys.update(dict.fromkeys((u, s) for s in succ[u] if s in dense and s in value))
            keys.update(dict.fromkeys((p, v) for p in pred[v] if p in dense and p in value))
        self.matched = matched
        for key in matched:
            self.sides["out", key[0]] = key
            self.sides["in", key[1]] = key
        total = self.total
        for key in keys:
            new = self._penalty(*key)
            total += new - (self._set_penalty(*key, new) or 0)
        self.total = total
        return total

    def _penalty(self, u: Hashable, v: Hashable) -> Any:
        four = self.matched.get((u, v))
        if four is not None:
            return _case_gain(self, u, v, four)
        value = self.value
        for side in (("out", u), ("in", v)):
            pair = self.sides.get(side)
            if pair is not None and pair[0] in value and pair[1] in value:
                return 0
        return super()._penalty(u, v)

    def _released(self, w: Hashable) -> list[tuple[Hashable, Hashable]]:
        keys: list[tuple[Hashable, Hashable]] = []
        if not self.matched:
            return keys
        pred, succ, value, dense = self.state.pred, self.state.succ, self.value, self.dense
        pair = self.sides.get(("out", w))  # (w, x): x's input side is free again
        if pair is not None and pair[1] in value:
            x = pair[1]
            keys += [(p, x) for p in pred[x] if p in dense and p in value]
        pair = self.sides.get(("in", w))  # (x, w): x's output side is free again
        if pair is not None and pair[0] in value:
            x = pair[0]
            keys += [(x, s) for s in succ[x] if s in dense and s in value]
        return keys
