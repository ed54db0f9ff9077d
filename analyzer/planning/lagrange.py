"""A Lagrangian lower bound: each vertex priced by who goes before it nearby, made to agree.

Dense model, ``macs`` objective: eliminating ``v`` costs ``|v|·IN·OUT``
(``IN``, ``OUT`` the summed sizes of its neighbours then, item 3 of
:mod:`~analyzer.planning.bounds`). Give each vertex ``v`` still to eliminate
some *members*: vertices still to eliminate on its input side and on its
output side, chosen in pairs (``u`` is an input-side member of ``w`` exactly
when ``w`` is an output-side member of ``u``), at most :data:`NEAR` members
a side. Any choice gives a valid bound; pairs make both ends price who goes
first. Given an order (the best one known), the pairs that order makes
neighbours come first: a vertex's neighbours when it goes are what its cost
is made of, so members chosen that way price that order, and the orders near
it, closely. Then the pairs joined by the shortest paths (at most
:data:`DISTANCE` factors), larger first among those. For an order, let ``D`` be the
members of ``v`` gone before it. Then, by items 1 and 2 of
:mod:`~analyzer.planning.bounds`:

- the members not in ``D`` are alive when ``v`` goes, and so are the
  never-eliminated vertices; each of these that a path of the start graph
  joins to ``v`` through members of ``D`` only is its neighbour then
  (*forced*);
- the other neighbours on that side separate ``v`` from the never-eliminated
  vertices in the graph without the forced ones, and hold no member of ``D``
  (gone). So ``IN ≥ c_in(v, D)``: the forced sizes plus the narrowest such
  separator with the members of ``D`` uncuttable (a maximum flow); any vertex
  that is not a member may or may not be gone and is left cuttable, which can
  only make the separator narrower. Likewise ``OUT ≥ c_out(v, D)``.

So ``v`` costs at least ``c_v(D) = |v|·c_in(v, D ∩ in-members)·c_out(v, D ∩
out-members)``. An order fixes, for each pair ``u, v`` (``u`` an input-side
member of ``v``, so ``v`` an output-side member of ``u``), which of the two
goes first: ``b_v(u) = [u ∈ D_v]`` and ``b_u(v) = [v ∈ D_u]`` add up
to 1. For any multipliers ``λ`` (one per such pair, any sign),

``L(λ) = Σ_v min_D (c_v(D) + Σ_{u ∈ D} λ_{uv}) - Σ_pairs λ``

is at most ``Σ_v c_v(D_v) + Σ_pairs λ·(b_v(u) + b_u(v) - 1) = Σ_v c_v(D_v)``
for the sets ``D_v`` of any order (each minimum is at most its value at
``D_v``), hence at most the cost of every order: a lower bound whatever
``λ`` is. :func:`lagrangian_bound` raises it by subgradient steps (Polyak's
rule towards the best order known, the step halved after :data:`PATIENCE`
steps in a row find nothing higher) and returns the best value met, less a
bound on its float error (the multipliers may be far larger than the costs),
rounded up to a whole number of macs (every order costs one). With ``λ = 0``
each vertex takes its cheapest set alone, as if its
neighbours all went the way that suits it; the multipliers make the two ends
of every pair agree on who goes first, which the pair, star and group bounds
each do for a few vertices at a time.

Examples
--------
>>> from analyzer.models import mlp
>>> from analyzer.planning.problem import Problem
>>> from analyzer import plan
>>> problem = Problem.of(mlp([8, 2, 8, 2, 8]))
>>> state, part = problem.state(), list(problem.intermediates)
>>> bound = lagrangian_bound(state, problem.sizes, part, problem.nodes)
>>> bound <= plan(mlp([8, 2, 8, 2, 8]), "optimal").macs
True
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from ..elimination import State
from .cuts import EXACT_CUT_VERTICES, joined_through
from .search import Budget

__all__ = ["lagrangian_bound", "NEAR", "ROUNDS"]

#: Near members of a vertex on each side (its tables have ``2^NEAR`` entries a side).
NEAR = 7
#: Most subgradient steps.
ROUNDS = 400
#: Most of the budget the tables may take (the steps get the rest at least).
TABLE_SHARE = 0.7
#: Steps without a higher value before the step is halved.
PATIENCE = 50
#: Longest path (in factors) between a vertex and a member.
DISTANCE = 3


def lagrangian_bound(
    state: State,
    sizes: dict,
    part: Sequence[Hashable],
    nodes: Sequence[Hashable],
    budget: Any = None,
    upper: float | None = None,
    order: Sequence[Hashable] | None = None,
    near: int = NEAR,
) -> int:
    """The bound of the module docstring for eliminating ``part`` from ``state`` (dense, macs).

    ``nodes`` lists the vertices in topological order (those not in ``state`` are
    skipped); the vertices outside ``part`` are never eliminated. ``budget`` (a
    :class:`~analyzer.planning.search.Budget`) stops the tables and the steps early
    (the tables take at most :data:`TABLE_SHARE` of it; the value met so far is valid;
    vertices without tables count their cut bound);
    ``upper`` (the cost of an order) is the target of the steps; ``order`` (the vertices
    of ``part`` in the order of elimination, usually the one that costs ``upper``) picks
    the members first, and its costliest vertices get their tables first. 0 on graphs
    too large for exact cuts.
    """
    from .stars import _Network

    nodes = [x for x in nodes if x in state.pred]
    eliminable = {x for x in part if x in state.pred}  # (those eliminated already cost 0)
    if not eliminable or len(nodes) > EXACT_CUT_VERTICES or sum(sizes[x] for x in nodes) >= 2**30:
        return 0
    network = _Network(state, sizes, nodes, eliminable)
    position = {x: i for i, x in enumerate(nodes)}
    vertices = [x for x in nodes if x in eliminable]
    joined, priced = (set(), {}) if order is None else _joined(state, sizes, order, eliminable)
    paired = _pairs(state, vertices, eliminable, sizes, position, near, joined)
    left = None if budget is None else budget.left()
    building = None if left is None else Budget(max(left, 1e-9) * TABLE_SHARE)
    members, tables = {}, {}
    # the costliest vertices of the order first: a budget that runs out drops the cheap ones
    for v in sorted(vertices, key=lambda x: -priced.get(x, 0)):
        expired = building is not None and building.expired()
        sides = []
        for way, neighbours in (("into", state.pred), ("out_of", state.succ)):
            chosen = [] if expired else paired[way][v]
            values = _sides(network, way, v, neighbours, eliminable, sizes, chosen)
            sides.append((chosen, np.array(values, dtype=float)))
        members[v] = (sides[0][0], sides[1][0])
        tables[v] = sizes[v] * np.outer(sides[0][1], sides[1][1])
    return _dual(vertices, members, tables, budget, upper)


def _joined(
    state: State, sizes: dict, order: Sequence[Hashable], eliminable: set
) -> tuple[set[tuple], dict]:
    """The pairs ``(u, w)`` of vertices to eliminate that ``order`` makes neighbours (``u`` a
    predecessor of ``w``, or ``w`` a successor of ``u``, when the first of the two goes), and
    what each vertex costs in that order (dense). Vertices of ``order`` not in ``state``
    are skipped."""
    pred = {x: set(ys) for x, ys in state.pred.items()}
    succ = {x: set(ys) for x, ys in state.succ.items()}
    joined, priced = set(), {}
    for v in order:
        if v not in pred:
            continue
        inputs, outputs = pred.pop(v), succ.pop(v)
        priced[v] = sizes[v] * sum(sizes[p] for p in inputs) * sum(sizes[s] for s in outputs)
        joined.update((p, v) for p in inputs if p in eliminable)
        joined.update((v, s) for s in outputs if s in eliminable)
        for p in inputs:
            succ[p].discard(v)
            succ[p] |= outputs
        for s in outputs:
            pred[s].discard(v)
            pred[s] |= inputs
    return joined, priced


def _pairs(
    state: State,
    vertices: list,
    eliminable: set,
    sizes: dict,
    position: dict,
    near: int,
    joined: set,
) -> dict[str, dict]:
    """Members chosen in pairs: ``u`` an input-side member of ``v`` exactly when ``v`` is an
    output-side member of ``u`` (so every member's order is priced on both sides), the
    ``joined`` pairs first, then by path length (at most :data:`DISTANCE` for the others),
    larger first within a length, at most ``near`` a side."""
    into: dict = {v: [] for v in vertices}
    out_of: dict = {v: [] for v in vertices}
    candidates = []
    wanted: dict = {}
    for u, w in joined:
        wanted.setdefault(u, set()).add(w)
    for u in vertices:
        seen, frontier, distance = {u}, [u], 0
        wants = wanted.get(u, set())
        while frontier and (distance < DISTANCE or not wants <= seen):
            distance += 1
            layer = []
            for x in frontier:
                for w in state.succ[x]:
                    if w not in seen:
                        seen.add(w)
                        layer.append(w)
            for w in layer:
                first = (u, w) in joined
                if w in eliminable and (first or distance <= DISTANCE):
                    candidates.append(
                        (not first, distance, -sizes[u] * sizes[w], position[u], position[w], u, w)
                    )
            frontier = layer
    for *_, u, w in sorted(candidates):
        if len(out_of[u]) < near and len(into[w]) < near:
            out_of[u].append(w)
            into[w].append(u)
    return {"into": into, "out_of": out_of}


def _sides(
    network: Any,
    way: str,
    v: Hashable,
    neighbours: dict,
    eliminable: set,
    sizes: dict,
    chosen: list,
) -> list[int]:
    """``c_in`` or ``c_out`` of ``v`` (module docstring) for each set of the ``chosen``
    members gone first (set ``mask``: the members of its bits), by mask."""
    forced_sizes, changes = [], []
    for mask in range(2 ** len(chosen)):
        gone = {u for i, u in enumerate(chosen) if mask >> i & 1}
        stays = (set(chosen) - gone) | (set(neighbours) - eliminable)
        forced = joined_through(v, neighbours, gone, stays.__contains__)
        change = dict.fromkeys(gone, network.infinite)
        change.update(dict.fromkeys(forced, 0))
        changes.append(change)
        forced_sizes.append(sum(sizes[u] for u in forced))
    flows = network.many(way, v, changes)
    return [size + flow for size, flow in zip(forced_sizes, flows, strict=True)]


def _dual(vertices: list, members: dict, tables: dict, budget: Any, upper: float | None) -> int:
    """The best ``L(λ)`` met by subgradient steps (module docstring), rounded up (:func:`_ceil`)."""
    index = {v: i for i, v in enumerate(vertices)}
    pairs: dict[tuple, int] = {}
    for v in vertices:
        for u in members[v][0]:
            if v in members[u][1]:
                pairs.setdefault((u, v), len(pairs))
    # per vertex: which pair each bit of a set of members gone first stands for (-1: none)
    bits = {
        v: (
            np.array([pairs.get((u, v), -1) for u in members[v][0]], dtype=np.int64),
            np.array([pairs.get((v, u), -1) for u in members[v][1]], dtype=np.int64),
        )
        for v in vertices
    }
    rows = max(t.shape[0] for t in tables.values())
    cols = max(t.shape[1] for t in tables.values())
    table = np.full((len(vertices), rows, cols), np.inf)
    for v, t in tables.items():
        table[index[v], : t.shape[0], : t.shape[1]] = t
    # a vertex's term for each of its sets: a sparse sum of multipliers, as index arrays
    gather_in = _gather(vertices, bits, 0, rows)
    gather_out = _gather(vertices, bits, 1, cols)
    multipliers = np.zeros(len(pairs) + 1)  # the last one stands for "no pair", kept at 0
    # float error: each entry sums at most ``terms`` numbers (its table value, rounded from
    # a product of two, and the multipliers of its bits); ``_value`` subtracts a bound on it
    terms = gather_in.shape[2] + gather_out.shape[2] + 3
    top = np.where(np.isfinite(table), table, 0.0).reshape(len(vertices), -1).max(axis=1)
    # per vertex: the multipliers of its pairs (-1, the one kept at 0, pads)
    reach = np.concatenate([gather_in[:, -1, :], gather_out[:, -1, :]], axis=1)
    lowest = table.reshape(len(vertices), -1).min(axis=1)
    best = _value(lowest, top, np.zeros(len(pairs) + 1), reach, terms)
    if not pairs:
        return _ceil(best)
    step, since = 1.0, 0
    for _ in range(ROUNDS):
        if budget is not None and budget.expired():
            break
        terms_in = multipliers[gather_in].sum(axis=2)  # (vertices, rows)
        terms_out = multipliers[gather_out].sum(axis=2)  # (vertices, cols)
        total = table + terms_in[:, :, None] + terms_out[:, None, :]
        flat = total.reshape(len(vertices), -1)
        chosen = flat.argmin(axis=1)
        lowest = flat[np.arange(len(vertices)), chosen]
        value = float(lowest.sum() - multipliers[:-1].sum())
        safe = _value(lowest, top, multipliers, reach, terms)
        if safe > best:
            best, since = safe, 0
        else:
            since += 1
            if since >= PATIENCE:
                step, since = step / 2, 0
        gradient = np.full(len(pairs) + 1, -1.0)
        np.add.at(gradient, gather_in[np.arange(len(vertices)), chosen // cols].ravel(), 1.0)
        np.add.at(gradient, gather_out[np.arange(len(vertices)), chosen % cols].ravel(), 1.0)
        gradient[-1] = 0.0
        norm = float(gradient @ gradient)
        if norm == 0:  # every pair agrees: no multiplier can raise the value
            break
        target = upper if upper is not None and upper > value else 1.05 * max(value, 1.0)
        multipliers += step * (target - value) / norm * gradient
        multipliers[-1] = 0.0
    return _ceil(best)


def _gather(vertices: list, bits: dict, side: int, width: int) -> np.ndarray:
    """``(vertices, width, most)`` indices of the multipliers each set of one side adds.

    ``most`` is the most members a vertex has on that side (at least 1); the last
    multiplier, always 0, fills the bits that stand for no pair and the padding.
    """
    none = -1
    most = max((len(bits[v][side]) for v in vertices), default=0)
    gather = np.full((len(vertices), width, max(most, 1)), none, dtype=np.int64)
    masks = np.arange(width)
    for i, v in enumerate(vertices):
        ids = bits[v][side]
        for b, pair in enumerate(ids):
            if pair >= 0:
                gather[i, :, b] = np.where(masks >> b & 1, pair, none)
    return gather


def _value(lowest: np.ndarray, top: np.ndarray, multipliers: np.ndarray, reach, terms: int):
    """``L(λ)`` from each vertex's least entry ``lowest``, less a bound on the float error.

    Each entry is a float sum of at most ``terms`` numbers of magnitude at most its
    vertex's largest table entry ``top`` or one of its multipliers (``reach``); its
    error, and so its least entry's, is at most ``terms·u`` times their absolute sum
    (``u`` the unit roundoff); the sums over vertices and pairs add theirs. Doubled,
    for the second-order terms. Multipliers far larger than the costs (a target far
    above the optimum) would otherwise cancel into a value above every order's cost.
    """
    unit = np.finfo(float).eps / 2
    size = np.abs(multipliers[:-1])
    per_vertex = terms * unit * (top + np.abs(multipliers)[reach].sum(axis=1))
    total = float(lowest.sum() - multipliers[:-1].sum())
    error = float(per_vertex.sum())
    error += (len(lowest) + 2) * unit * float(np.abs(lowest).sum() + per_vertex.sum())
    error += (len(size) + 2) * unit * float(size.sum())
    error += unit * abs(total)
    return total - 2 * error


def _ceil(value: float) -> int:
    """The least integer not below ``value``, a lower bound already past its float error
    (:func:`_value`): every order costs a whole number of macs, at least ``value``."""
    if not math.isfinite(value) or value <= 0:
        return 0
    return math.ceil(value)
