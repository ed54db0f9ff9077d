"""Separators and kinds around a vertex: what the bounds of :mod:`~analyzer.planning.bounds` read.

- :func:`vertex_cuts`: per vertex, the least total size of a set of vertices
  meeting every path from a never-eliminated vertex into it (``κ_in``) and out
  of it (``κ_out``): a minimum vertex cut, computed as a maximum flow with
  vertex capacities equal to the sizes (scipy) on graphs of up to
  :data:`EXACT_CUT_VERTICES` vertices; on larger ones the widest single path
  instead (any separator holds a vertex of every path, so it weighs at least
  the smallest vertex of the widest path), which takes linear time and is
  never more than the exact cut.
- :func:`smallest`: per vertex, the smallest vertex that can ever become its
  neighbour on one side.
- :func:`kind_closures`: the kinds that can ever enter or leave each vertex.

Examples
--------
>>> from analyzer.models import chain
>>> from analyzer.planning.problem import Problem
>>> problem = Problem.of(chain([10, 1000, 10, 1000, 10]))
>>> ins, outs = vertex_cuts(problem.initial(), problem.sizes, problem.nodes,
...                         set(problem.intermediates), ["v2"])
>>> ins["v2"], outs["v2"]
(10, 10)
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

from ..elimination import State
from ..structure import product_rule, sum_rule

__all__ = [
    "vertex_cuts",
    "joined_through",
    "kind_closures",
    "smallest",
    "split_network",
    "SplitNetwork",
    "EXACT_CUT_VERTICES",
]

#: Largest graph (vertices) whose cuts are computed exactly by maximum flows.
EXACT_CUT_VERTICES = 600
_MAX_KINDS = 24


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


def smallest(
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


def joined_through(v: Hashable, neighbours: dict, gone: set, keep: Any) -> set:
    """The vertices ``y`` with ``keep(y)`` that a path along ``neighbours`` joins to ``v``
    through vertices of ``gone`` only (item 1 of :mod:`~analyzer.planning.bounds`: once
    ``gone`` is eliminated, and if ``y`` is not, ``y`` is a neighbour of ``v``).

    >>> joined_through("c", {"c": ["b", "x"], "b": ["a"], "x": [], "a": []}, {"b"},
    ...                lambda y: True) == {"a", "x"}
    True
    """
    found, seen, stack = set(), {v}, [v]
    while stack:
        for y in neighbours[stack.pop()]:
            if y in seen:
                continue
            seen.add(y)
            if y in gone:
                stack.append(y)
            elif keep(y):
                found.add(y)
    return found


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

    net = split_network(state, sizes, nodes, eliminable)
    graph = csr_array((net.caps, (net.rows, net.cols)), shape=net.shape)
    graph.sort_indices()
    index, source, sink = net.index, net.source, net.sink
    ins, outs = {}, {}
    for v in targets:
        i = index[v]
        ins[v] = int(maximum_flow(graph, source, 2 * i).flow_value)
        outs[v] = int(maximum_flow(graph, 2 * i + 1, sink).flow_value)
    return ins, outs


class SplitNetwork(NamedTuple):
    """The flow network of vertex cuts: vertex ``x`` (index ``i``) is the arc ``2i -> 2i+1``.

    Its capacity is the size of ``x`` (entry ``slot[x]`` of ``caps``); the arcs of the
    graph's factors and those joining never-eliminated vertices to ``source`` and
    ``sink`` have capacity ``total`` (more than any cut).
    """

    index: dict
    slot: dict
    rows: np.ndarray
    cols: np.ndarray
    caps: np.ndarray
    total: int
    source: int
    sink: int
    shape: tuple[int, int]


def split_network(
    state: State, sizes: dict, nodes: Sequence[Hashable], eliminable: set
) -> SplitNetwork:
    """The vertex-split flow network of ``nodes`` (see :class:`SplitNetwork`)."""
    index = {x: i for i, x in enumerate(nodes)}
    n = len(nodes)
    total = sum(sizes[x] for x in nodes) + 1
    source, sink = 2 * n, 2 * n + 1
    rows, cols, caps = [], [], []
    slot: dict[Hashable, int] = {}
    for x, i in index.items():
        slot[x] = len(caps)
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
    return SplitNetwork(
        index, slot, np.array(rows), np.array(cols), np.array(caps, dtype=np.int32),
        total, source, sink, (2 * n + 2, 2 * n + 2),
    )  # fmt: skip
