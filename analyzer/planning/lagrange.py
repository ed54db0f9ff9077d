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
import numbers
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from ..elimination import State
from .cuts import EXACT_CUT_VERTICES, joined_through
from .improve import DenseBoard
from .search import Budget

__all__ = ["lagrangian_bound", "NEAR", "ROUNDS"]

#: Near members of a vertex on each side (its tables have ``2^NEAR`` entries a side).
NEAR = 8
#: Most subgradient steps.
ROUNDS = 400
#: Most of the budget the tables may take (the steps get the rest at least).
TABLE_SHARE = 0.7
#: Steps without a higher value before the step is halved.
PATIENCE = 50
#: Longest path (in factors) between a vertex and a member (other than the order's pairs).
DISTANCE = 3
#: Most entries (pairs of distinct side values) of all the tables together, which bounds
#: the steps' memory (about 50 bytes an entry); past it a vertex keeps its least entry.
ENTRIES = 4_000_000
#: Vertices without tables whose cut bounds one batch of maximum flows computes (the
#: budget is checked between batches).
LATE_BATCH = 32


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
    vertices without tables count their cut bound while the budget lasts, then only
    their never-eliminated neighbours; 0 at once when it has run out on entry; past
    :data:`ENTRIES` a vertex counts its least entry, without members);
    ``upper`` (the cost of an order) is the target of the steps; ``order`` (the vertices
    of ``part`` in the order of elimination, usually the one that costs ``upper``) picks
    the members first, and its costliest vertices get their tables first. 0 on graphs
    too large for exact cuts, and when a size is not an integer (a symbol).
    """
    from .stars import _Network

    nodes = [x for x in nodes if x in state.pred]
    eliminable = {x for x in part if x in state.pred}  # (those eliminated already cost 0)
    if not eliminable or len(nodes) > EXACT_CUT_VERTICES:
        return 0
    if not all(isinstance(sizes[x], numbers.Integral) for x in nodes):
        return 0  # (symbols: no maximum flow; 0 bounds every order)
    if sum(sizes[x] for x in nodes) >= 2**30 or (budget is not None and budget.expired()):
        return 0
    network = _Network(state, sizes, nodes, eliminable)
    position = {x: i for i, x in enumerate(nodes)}
    vertices = [x for x in nodes if x in eliminable]
    joined, priced = (set(), {}) if order is None else _joined(state, sizes, order, eliminable)
    paired = _pairs(state, vertices, eliminable, sizes, position, near, joined)
    left = None if budget is None else budget.left()
    building = None if left is None else Budget(max(left, 1e-9) * TABLE_SHARE)
    members, tables, entries = {}, {}, 0
    late = []  # the vertices the budget left without tables: their cut bounds, in few calls
    # the costliest vertices of the order first: a budget that runs out drops the cheap ones
    for v in sorted(vertices, key=lambda x: -priced.get(x, 0)):
        if building is not None and building.expired():
            late.append(v)
            continue
        sides = []
        for way, neighbours in (("into", state.pred), ("out_of", state.succ)):
            chosen = paired[way][v]
            values = _sides(network, way, v, neighbours, eliminable, sizes, chosen)
            sides.append((chosen, np.array(values, dtype=float)))
        grid = len(np.unique(sides[0][1])) * len(np.unique(sides[1][1]))
        if entries + grid > ENTRIES:  # its least entry alone, without members: still valid
            sides = [([], side[1].min(keepdims=True)) for side in sides]
            grid = 1
        entries += grid
        members[v] = (sides[0][0], sides[1][0])
        tables[v] = (sizes[v], sides[0][1], sides[1][1])
    late_sides = _late(network, state, sizes, eliminable, late, budget)
    for v in late:
        members[v] = ([], [])
        tables[v] = (sizes[v], *(np.array([side], float) for side in late_sides[v]))
    return _dual(vertices, members, tables, budget, upper)


def _late(
    network: Any, state: State, sizes: dict, eliminable: set, late: list, budget: Any
) -> dict:
    """``(c_in, c_out)`` with no member of each vertex of ``late`` (its cut bound), a few
    vertices a call (:data:`LATE_BATCH`) while ``budget`` lasts; once it has run out, the
    never-eliminated neighbours' sizes alone (no flow: valid, weaker, and at once)."""
    found = {}
    for start in range(0, len(late), LATE_BATCH):
        batch = late[start : start + LATE_BATCH]
        flowing = budget is None or not budget.expired()
        sides = []
        for way, neighbours in (("into", state.pred), ("out_of", state.succ)):
            forced = {v: {u for u in neighbours[v] if u not in eliminable} for v in batch}
            queries = [(v, dict.fromkeys(forced[v], 0)) for v in batch]
            flows = network.several(way, queries) if flowing else [0] * len(batch)
            sides.append(
                [sum(sizes[u] for u in forced[v]) + f for v, f in zip(batch, flows, strict=True)]
            )
        found.update((v, (a, b)) for v, a, b in zip(batch, *sides, strict=True))
    return found


def _joined(
    state: State, sizes: dict, order: Sequence[Hashable], eliminable: set
) -> tuple[set[tuple], dict]:
    """The pairs ``(u, w)`` of vertices to eliminate that ``order`` makes neighbours (``u`` a
    predecessor of ``w``, or ``w`` a successor of ``u``, when the first of the two goes), and
    what each vertex costs in that order (dense). Vertices of ``order`` not in
    ``eliminable`` (gone already, or never eliminated) are skipped."""
    board = DenseBoard.of(state, sizes)
    joined, priced = set(), {}
    for v in order:
        if v not in board.pred or v not in eliminable:
            continue
        joined.update((p, v) for p in board.pred[v] if p in eliminable)
        joined.update((v, s) for s in board.succ[v] if s in eliminable)
        priced[v] = board.make(v).price
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
    """The best ``L(λ)`` met by subgradient steps (module docstring), rounded up (:func:`_ceil`).

    ``tables[v]`` is ``(|v|, c_in, c_out)``, the sides by set of members gone first, so
    that ``c_v(D) = |v|·c_in[D_in]·c_out[D_out]``. A side takes few distinct values:
    the sets of one value need only the least of their multiplier terms, and each vertex's
    minimum runs over pairs of distinct values, not pairs of sets.
    """
    if upper is not None and not math.isfinite(upper):
        upper = None  # (no target: the steps aim a little above the value met)
    pairs: dict[tuple, int] = {}
    for v in vertices:
        for u in members[v][0]:
            if v in members[u][1]:
                pairs.setdefault((u, v), len(pairs))
    none = len(pairs)  # the multiplier kept at 0: bits that stand for no pair, and padding
    bits = [
        (
            [pairs.get((u, v), none) for u in members[v][0]],
            [pairs.get((v, u), none) for u in members[v][1]],
        )
        for v in vertices
    ]
    ins = _Side([tables[v][1] for v in vertices], [b[0] for b in bits], none)
    outs = _Side([tables[v][2] for v in vertices], [b[1] for b in bits], none)
    # the entries: per vertex, each distinct input value with each distinct output value
    entry_in, entry_out, base, owner = [], [], [], []
    for k, v in enumerate(vertices):
        g_in = np.arange(ins.first[k], ins.first[k + 1])
        g_out = np.arange(outs.first[k], outs.first[k + 1])
        entry_in.append(np.repeat(g_in, len(g_out)))
        entry_out.append(np.tile(g_out, len(g_in)))
        base.append(np.outer(tables[v][0] * ins.values[g_in], outs.values[g_out]).ravel())
        owner.append(np.full(len(g_in) * len(g_out), k))
    entry_in, entry_out = np.concatenate(entry_in), np.concatenate(entry_out)
    base, owner = np.concatenate(base), np.concatenate(owner)
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    multipliers = np.zeros(len(pairs) + 1)
    # float error: each entry sums at most ``terms`` numbers (its table value, rounded from
    # a product of two, and the multipliers of its bits); ``_value`` subtracts a bound on it
    terms = ins.gather.shape[1] + outs.gather.shape[1] + 3
    top = np.maximum.reduceat(base, starts)
    width = max(len(b[0]) + len(b[1]) for b in bits) or 1
    reach = np.full((len(vertices), width), none)  # per vertex: the multipliers of its pairs
    for k, (b_in, b_out) in enumerate(bits):
        reach[k, : len(b_in) + len(b_out)] = b_in + b_out
    lowest = np.minimum.reduceat(base, starts)
    best = _value(lowest, top, multipliers, reach, terms)
    if not pairs:
        return _ceil(best)
    step, since = 1.0, 0
    with np.errstate(over="ignore", invalid="ignore"):  # (checked: see the loop)
        for _ in range(ROUNDS):
            if budget is not None and budget.expired():
                break
            least_in, least_out = ins.least(multipliers), outs.least(multipliers)
            total = base + least_in[entry_in] + least_out[entry_out]
            lowest = np.minimum.reduceat(total, starts)
            if not np.isfinite(total).all():  # (a target near the float range: the best met)
                break
            hits = np.flatnonzero(total == lowest[owner])
            chosen = hits[np.r_[True, owner[hits][1:] != owner[hits][:-1]]]  # per vertex, in order
            value = float(lowest.sum() - multipliers[:-1].sum())
            safe = _value(lowest, top, multipliers, reach, terms)
            if safe > best:
                best, since = safe, 0
            else:
                since += 1
                if since >= PATIENCE:
                    step, since = step / 2, 0
            gradient = np.full(len(pairs) + 1, -1.0)
            np.add.at(gradient, ins.sets(entry_in[chosen]).ravel(), 1.0)
            np.add.at(gradient, outs.sets(entry_out[chosen]).ravel(), 1.0)
            gradient[-1] = 0.0
            norm = float(gradient @ gradient)
            if norm == 0:  # every pair agrees: no multiplier can raise the value
                break
            target = upper if upper is not None and upper > value else 1.05 * max(value, 1.0)
            moved = multipliers + step * (target - value) / norm * gradient
            if not np.isfinite(moved).all():  # (past the floats: stop with the best value met)
                break
            multipliers = moved
            multipliers[-1] = 0.0
    return _ceil(best)


class _Side:
    """One side of every vertex's table, its sets grouped by value.

    ``values[g]`` is the value of group ``g``; the groups of vertex ``k`` are
    ``first[k]`` to ``first[k + 1]``; ``gather`` holds each set's multipliers (``none``
    for bits without a pair, and padding), its rows sorted by group.
    """

    def __init__(self, sides: list, bits: list, none: int) -> None:
        most = max((len(b) for b in bits), default=0) or 1
        values, first, gathers, group_of = [], [0], [], []
        for side, ids in zip(sides, bits, strict=True):
            distinct, group = np.unique(np.asarray(side), return_inverse=True)
            order = np.argsort(group, kind="stable")
            masks = order[:, None] >> np.arange(len(ids)) & 1
            gather = np.full((len(order), most), none, dtype=np.int64)
            gather[:, : len(ids)] = np.where(masks == 1, np.asarray(ids, dtype=np.int64), none)
            gathers.append(gather)
            group_of.append(first[-1] + group[order])
            values.append(distinct)
            first.append(first[-1] + len(distinct))
        self.values = np.concatenate(values).astype(float)
        self.first = first
        self.gather = np.concatenate(gathers)
        self.group = np.concatenate(group_of)
        self.starts = np.flatnonzero(np.r_[True, self.group[1:] != self.group[:-1]])
        self._row = self.starts  # per group, a set that attains its least term (updated)

    def least(self, multipliers: np.ndarray) -> np.ndarray:
        """Per group, the least multiplier term of its sets (and which set has it)."""
        terms = multipliers[self.gather].sum(axis=1)
        least = np.minimum.reduceat(terms, self.starts)
        hits = np.flatnonzero(terms == least[self.group])
        self._row = hits[np.r_[True, self.group[hits][1:] != self.group[hits][:-1]]]
        return least

    def sets(self, groups: np.ndarray) -> np.ndarray:
        """The multipliers of the sets that attained the least term of ``groups``."""
        return self.gather[self._row[groups]]


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
