"""A stronger start bound from stars and groups: a vertex, some neighbours, and who goes first.

The pair bound of :mod:`~analyzer.planning.pairs` looks at one factor
``c -> x`` at a time. A vertex with several successors still to eliminate
(an *out-star*: ``c`` and leaves ``L``, some of its successors) has more at
stake: each leaf that goes before ``c`` has ``c`` among its predecessors,
each that goes after leaves ``c``'s outputs wider. For any order, let ``Z``
be the leaves eliminated before ``c``. By item 1 of
:mod:`~analyzer.planning.bounds` (an edge exists exactly when a path of the
start graph runs between its ends through eliminated vertices only):

- ``c``'s successors when it goes include the leaves still alive (their
  factors from ``c`` are still there), and, with them, separate ``c`` from
  the never-eliminated vertices; the dead leaves cannot be part of that
  separator. So ``OUT(c) ≥ Σ_{x∈L∖Z} |x| + max(κ_out(c; L∖Z free, Z uncuttable),
  φ_out(c))`` (the never-eliminated successors ``φ`` are in it, and are not
  leaves).
- A leaf ``x ∈ Z`` goes while ``c`` is alive: ``c`` is its predecessor, so
  ``IN(x) ≥ |c| + max(κ_in(x; c free), φ_in(x))``.
- A leaf ``x ∉ Z`` goes after ``c``: ``IN(x) ≥ κ_in(x; c uncuttable)``.

The star's *gain* is the least, over the ``2^|L|`` sets ``Z``, of what these
raise the single bounds ``|v|·B_in·B_out`` of :mod:`~analyzer.planning.bounds`
by (each raise taken on one side of one vertex, over its base ``B``). An
in-star is the mirror (``c``'s input side, the output sides of some of its
predecessors). A star with one leaf is a pair of :mod:`~analyzer.planning.pairs`.

A *group* generalises this to both sides of a centre: the centre (both its
sides), up to :data:`GROUP_SIDE` predecessors (their output sides) and as
many successors (their input sides). For any order, let ``D`` be the members
gone before a member ``x``. When ``x`` goes, its neighbours on a side include
every member still alive that a path of the start graph through members of
``D`` only joins to it (those edges are there then, by item 1), and its
never-eliminated neighbours on that side now; the rest of the side separates
it from the never-eliminated vertices and cannot use ``D``. So the side is at
least the forced sizes plus the narrowest separator with the forced vertices
free and ``D`` uncuttable, and each member's raise depends on ``D`` only. The
least summed raise over every order of the members is a subset DP (``min``
over the last member of a set). A predecessor gone before a successor with
the centre already gone has that successor among its outputs: what stars
and pairs cannot see.

Stars and groups combine as pairs do: the price of a vertex (``|v|·IN·OUT``,
or the bytes form) is bilinear with nonnegative coefficients, so raises on its
two sides add up; two raises of one side need not (separators overlap). So a
packing of stars and groups in which no side of a vertex serves twice, plus
the penalties of :class:`~analyzer.planning.bounds.LowerBound` of the factors
whose two sides none uses, added to the single bounds, is a lower bound of
every order. A fractional packing is one too: with weights ``λ_s`` on the
stars and ``π_σ`` on each side's penalties, ``Σ_{s∋σ} λ_s + π_σ ≤ 1`` on every
side ``σ`` and each penalty weighed by the smaller ``π`` of its two sides, the
weighted sum is at most ``Σ_σ R_σ ≤`` the cost, where ``R_σ`` is the raise
side ``σ`` really gets (each star's gain is at most the raises of its sides in
the case the order takes; the penalties on one side add up to at most its
raise). The bound is the larger of a greedy packing (largest gain over the
penalties it drops first) and the best fractional one (a linear program,
rounded down after its weights are scaled back into the constraints); the
empty packing gives the single bound with its penalties. Only vertices
priced densely take part, only on graphs whose cuts are exact
(:data:`~analyzer.planning.cuts.EXACT_CUT_VERTICES`); each star has at most
:data:`STAR_LEAVES` leaves, chosen among a centre's first
:data:`STAR_NEIGHBOURS` neighbours on that side (every subset of them is a
candidate), and no centre is taken once :data:`MAX_CANDIDATES` stars and
groups were found (the last centre's may take it past that by about 110).

Examples
--------
>>> from analyzer.models import mlp
>>> from analyzer.planning.problem import Problem
>>> from analyzer.planning.bounds import LowerBound
>>> problem = Problem.of(mlp([8, 2, 8, 2, 8]))
>>> bound = LowerBound(problem.initial(), problem.pricer(), problem.intermediates,
...                    order=problem.nodes)
>>> bound.total <= star_bound(bound, problem.nodes) <= 1256  # 1256: the optimum
True
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Sequence
from typing import Any

from .bounds import LowerBound
from .cuts import EXACT_CUT_VERTICES, joined_through, split_network
from .pairs import pack_greedily

__all__ = [
    "star_bound",
    "star_packing",
    "STAR_LEAVES",
    "STAR_NEIGHBOURS",
    "GROUP_SIDE",
    "MAX_CANDIDATES",
]

#: Most leaves of one star (its gain is a minimum over ``2^leaves`` cases).
STAR_LEAVES = 4
#: Neighbours of a centre, on one side, among which its stars' leaves are chosen.
STAR_NEIGHBOURS = 6
#: Most stars and groups a bound packs (the greedy packing takes quadratic time in them).
MAX_CANDIDATES = 3000
#: Neighbours on each side of a centre that its group takes (both sides of the centre).
GROUP_SIDE = 3
#: Most arcs of the disjoint copies that one maximum-flow call of ``_Network.several`` solves.
COPY_ARCS = 2_000_000


class _Network:
    """Maximum flows on the vertex-split network, with some vertices' capacities changed.

    The sparse graph is built once; a query copies its capacities, changes
    those of the vertices that matter (ancestors for a flow into a vertex,
    descendants for one out of it: no other vertex lies on such a path) and
    remembers the answer.
    """

    def __init__(self, state, sizes: dict, nodes: Sequence[Hashable], eliminable: set) -> None:
        import numpy as np
        from scipy.sparse import csr_array
        from scipy.sparse.csgraph import maximum_flow

        self._csr, self._flow = csr_array, maximum_flow
        self.net = net = split_network(state, sizes, nodes, eliminable)
        self.infinite = net.total
        label = np.arange(1, len(net.caps) + 1, dtype=np.int64)
        shape = csr_array((label, (net.rows, net.cols)), shape=net.shape)
        shape.sort_indices()
        where = np.empty(len(net.caps), dtype=np.int64)
        where[shape.data - 1] = np.arange(len(shape.data))
        self._where = where
        self._indices, self._indptr = shape.indices, shape.indptr
        self._caps = net.caps[shape.data - 1].astype(np.int32)
        self._graph = csr_array((self._caps.copy(), shape.indices, shape.indptr), shape=net.shape)
        self._graph.has_sorted_indices = True  # (a flow reads it; only its capacities change)
        self._near = {"into": _reach(nodes, state.pred), "out_of": _reach(nodes[::-1], state.succ)}
        self._known: dict = {}
        self._parts: dict = {}

    def _value(self, way: str, v: Hashable, changes: dict) -> int:
        near = self._near[way][v]
        kept = frozenset((x, c) for x, c in changes.items() if x in near)
        key = (way, v, kept)
        found = self._known.get(key)
        if found is None:
            net, graph = self.net, self._graph
            caps = graph.data
            caps[:] = self._caps
            for x, capacity in kept:
                caps[self._where[net.slot[x]]] = capacity
            i = net.index[v]
            source, sink = (net.source, 2 * i) if way == "into" else (2 * i + 1, net.sink)
            found = self._known[key] = int(self._flow(graph, source, sink).flow_value)
        return found

    def many(self, way: str, v: Hashable, changes: Sequence[dict]) -> list[int]:
        """:meth:`into` (``way="into"``) or :meth:`out_of` for each of ``changes``, in few
        calls: the networks not known yet are solved as disjoint copies of the part of the
        network that can carry such a flow, joined to one source and one sink (a maximum
        flow of disjoint networks is one of each; each copy's value is the flow that
        leaves it), as many copies a call as keep the summed flow within 31 bits. Each
        copy's flow is capped at :attr:`infinite` (its arc from the one source), which a
        flow reaches only if a never-eliminated vertex is made uncuttable: callers make
        only members uncuttable, and every flow then crosses a never-eliminated vertex.
        """
        return self.several(way, [(v, change) for change in changes])

    def several(self, way: str, queries: Sequence[tuple[Hashable, dict]]) -> list[int]:
        """:meth:`many` for queries ``(v, changes)`` of any vertices: the copies of
        different vertices' parts share the calls too (at most :data:`COPY_ARCS` arcs a
        call)."""
        import numpy as np

        keys = []
        for v, change in queries:
            near = self._near[way][v]
            keys.append((way, v, frozenset((x, c) for x, c in change.items() if x in near)))
        missing = [key for key in dict.fromkeys(keys) if key not in self._known]
        per_call = max(1, (2**31 - 1) // (self.infinite + 1) - 1)
        chunk: list = []
        arcs = 0
        for index, key in enumerate(missing):
            part = self._part(way, key[1])
            chunk.append((part, key[2]))
            arcs += len(part[0])
            last = index == len(missing) - 1
            if last or len(chunk) >= per_call or arcs >= COPY_ARCS:
                values = self._copies(chunk)
                done = missing[index + 1 - len(chunk) : index + 1]
                self._known.update(zip(done, (int(x) for x in np.asarray(values)), strict=True))
                chunk, arcs = [], 0
        return [self._known[key] for key in keys]

    def _part(self, way: str, v: Hashable) -> tuple:
        """The arcs that a flow into (out of) ``v`` may use, renumbered from 0: ``(rows,
        cols, caps, where, nodes, source, sink)``; ``where[slot]`` is the arc of a vertex's
        capacity (-1 when it is not in the part)."""
        import numpy as np

        found = self._parts.get((way, v))
        if found is not None:
            return found
        net = self.net
        i = net.index[v]
        keep = np.zeros(net.shape[0], dtype=bool)
        keep[[2 * net.index[x] + side for x in self._near[way][v] for side in (0, 1)]] = True
        if way == "into":
            keep[[2 * i, net.source]] = True
            source, sink = net.source, 2 * i
        else:
            keep[[2 * i + 1, net.sink]] = True
            source, sink = 2 * i + 1, net.sink
        arcs = keep[net.rows] & keep[net.cols]
        number = np.cumsum(keep) - 1
        where = np.full(len(net.caps), -1, dtype=np.int64)
        where[arcs] = np.arange(int(arcs.sum()))
        found = self._parts[(way, v)] = (
            number[net.rows[arcs]], number[net.cols[arcs]], net.caps[arcs].astype(np.int64),
            where, int(keep.sum()), int(number[source]), int(number[sink]),
        )  # fmt: skip
        return found

    def _copies(self, jobs: list) -> Any:
        """The maximum flow of each ``(part, changes)`` of ``jobs`` (``part`` from
        :meth:`_part`, ``changes`` capacity changes), as disjoint copies in one call."""
        import numpy as np

        all_rows, all_cols, all_caps, sources, sinks = [], [], [], [], []
        shift = 0
        for part, changed in jobs:
            rows, cols, base, where, n, source, sink = part
            caps = base.copy()
            for x, capacity in changed:
                arc = where[self.net.slot[x]]
                if arc >= 0:
                    caps[arc] = capacity
            all_rows.append(rows + shift)
            all_cols.append(cols + shift)
            all_caps.append(caps)
            sources.append(source + shift)
            sinks.append(sink + shift)
            shift += n
        count = len(jobs)
        top, bottom = shift, shift + 1  # the one source and the one sink
        sources, sinks = np.array(sources, dtype=np.int64), np.array(sinks, dtype=np.int64)
        all_rows += [np.full(count, top), sinks]
        all_cols += [sources, np.full(count, bottom)]
        all_caps += [np.full(2 * count, self.infinite, dtype=np.int64)]
        graph = self._csr(
            (
                np.concatenate(all_caps).astype(np.int32),
                (np.concatenate(all_rows), np.concatenate(all_cols)),
            ),
            shape=(shift + 2, shift + 2),
        )
        flow = self._flow(graph, top, bottom, method="dinic").flow
        # (a 1-d array from a sparse array; older scipy gives a matrix: flattened alike)
        return np.asarray(flow[sinks, np.full(count, bottom)]).ravel()

    def into(self, v: Hashable, changes: dict) -> int:
        """The narrowest separator of ``v`` from the never-eliminated vertices before it."""
        return self._value("into", v, changes)

    def out_of(self, v: Hashable, changes: dict) -> int:
        """The narrowest separator of ``v`` from the never-eliminated vertices after it."""
        return self._value("out_of", v, changes)


def _reach(order: Sequence[Hashable], neighbours: dict) -> dict:
    """Per vertex, the vertices with a path to it along ``neighbours`` (``order``: those first)."""
    found: dict[Hashable, frozenset] = {}
    for v in order:
        here: set = set()
        for u in neighbours[v]:
            if u in found:
                here.add(u)
                here |= found[u]
        found[v] = frozenset(here)
    return found


def _stars(bound: LowerBound, network: _Network, centre: Hashable, side: str, budget: Any):
    """``(gain, sides)`` of the stars of ``centre`` on ``side`` with a positive gain."""
    state, sizes, price = bound.state, bound.sizes, bound._price
    value, base, dense = bound.value, bound.base, bound.dense
    fixed_in, fixed_out = bound.fixed_in, bound.fixed_out
    out = side == "out"
    around = state.succ[centre] if out else state.pred[centre]
    leaves = [x for x in around if x in dense and x in value][:STAR_NEIGHBOURS]
    if not leaves:
        return []
    infinite, size = network.infinite, sizes[centre]
    raises = {}  # leaf -> (its raise when it goes first, when the centre goes first)
    for x in leaves:
        b_in, b_out = base[x]
        if out:  # x a successor: when it goes first, the centre is its predecessor
            first = size + max(network.into(x, {centre: 0}), fixed_in[x])
            after = network.into(x, {centre: infinite})
            raises[x] = (
                price(x, max(b_in, first), b_out) - value[x],
                price(x, max(b_in, after), b_out) - value[x],
            )
        else:
            first = size + max(network.out_of(x, {centre: 0}), fixed_out[x])
            after = network.out_of(x, {centre: infinite})
            raises[x] = (
                price(x, b_in, max(b_out, first)) - value[x],
                price(x, b_in, max(b_out, after)) - value[x],
            )
    c_in, c_out = base[centre]
    found = []
    for k in range(1, min(len(leaves), STAR_LEAVES) + 1):
        for group in itertools.combinations(leaves, k):
            if budget is not None and budget.expired():
                return found
            gain = None
            for r in range(k + 1):
                for before in itertools.combinations(group, r):  # the leaves gone first
                    changes = {x: (infinite if x in before else 0) for x in group}
                    alive = sum(sizes[x] for x in group if x not in before)
                    if out:
                        wide = alive + max(network.out_of(centre, changes), fixed_out[centre])
                        here = price(centre, c_in, max(c_out, wide)) - value[centre]
                    else:
                        wide = alive + max(network.into(centre, changes), fixed_in[centre])
                        here = price(centre, max(c_in, wide), c_out) - value[centre]
                    here += sum(raises[x][0 if x in before else 1] for x in group)
                    if gain is None or here < gain:
                        gain = here
            if gain > 0:
                other = "in" if out else "out"
                found.append((gain, ((side, centre), *((other, x) for x in group))))
    return found


def _group_gain(bound: LowerBound, network: _Network, sides: dict) -> Any:
    """The least raise, over every order of the group, of the sides it names (module docstring).

    ``sides`` maps each member to the sides (``"in"``, ``"out"``) the group
    charges. A member's side, when it goes with the members ``D`` gone before
    it, has among its neighbours every member still alive that a path of the
    start graph through members of ``D`` only joins to it, and every
    never-eliminated neighbour it has now; the rest of that side separates it
    from the never-eliminated vertices without using ``D``.
    """
    state, sizes, price = bound.state, bound.sizes, bound._price
    value, base, elim = bound.value, bound.base, bound.eliminable
    members = list(sides)
    bit = {x: 1 << i for i, x in enumerate(members)}
    infinite = network.infinite
    raises: dict[tuple, Any] = {}
    for x in members:
        b_in, b_out = base[x]
        others = [y for y in members if y != x]
        for r in range(len(others) + 1):
            for gone in itertools.combinations(others, r):
                dead = set(gone)
                raise_ = 0
                for side in sides[x]:
                    near = state.pred if side == "in" else state.succ
                    forced = joined_through(x, near, dead, bit.__contains__)
                    forced.update(y for y in near[x] if y not in elim)
                    changes = dict.fromkeys(forced, 0)
                    changes.update(dict.fromkeys(dead, infinite))
                    if side == "in":
                        wide = sum(sizes[y] for y in forced) + network.into(x, changes)
                        raise_ += price(x, max(b_in, wide), b_out) - value[x]
                    else:
                        wide = sum(sizes[y] for y in forced) + network.out_of(x, changes)
                        raise_ += price(x, b_in, max(b_out, wide)) - value[x]
                raises[x, sum(bit[y] for y in gone)] = raise_
    best = {0: 0}
    for mask in range(1, 1 << len(members)):
        best[mask] = min(
            best[mask ^ bit[x]] + raises[x, mask ^ bit[x]] for x in members if mask & bit[x]
        )
    return best[(1 << len(members)) - 1]


def _groups(bound: LowerBound, network: _Network, centre: Hashable, budget: Any) -> list:
    """``(gain, sides)`` of the group of ``centre``: it (both sides) and a few neighbours."""
    state, value, dense = bound.state, bound.value, bound.dense
    ins = [x for x in state.pred[centre] if x in dense and x in value][:GROUP_SIDE]
    outs = [x for x in state.succ[centre] if x in dense and x in value][:GROUP_SIDE]
    if not ins or not outs or (budget is not None and budget.expired()):
        return []
    sides = {centre: ("in", "out"), **{x: ("out",) for x in ins}, **{x: ("in",) for x in outs}}
    gain = _group_gain(bound, network, sides)
    if gain <= 0:
        return []
    return [(gain, tuple((side, x) for x, named in sides.items() for side in named))]


def star_bound(bound: LowerBound, nodes: Sequence[Hashable], budget: Any = None) -> Any:
    """A lower bound at least ``bound.total``: the larger of a greedy and a fractional packing
    of stars and groups (module docstring).

    ``bound`` must be fresh (no move made on it since it was built); ``nodes``
    lists its state's vertices in topological order. When ``budget`` (a
    :class:`~analyzer.planning.search.Budget`) runs out, the stars and groups
    found so far are packed (any set of candidates gives a valid bound); the
    linear program is not stopped by it.
    """
    return star_packing(bound, nodes, budget)[0]


def star_packing(
    bound: LowerBound, nodes: Sequence[Hashable], budget: Any = None
) -> tuple[Any, list[tuple[Any, frozenset]]]:
    """:func:`star_bound`'s value and the packing behind it, as ``(weight, members)`` items.

    The items are the packed stars and groups and the penalties kept, each
    with the vertices whose sides it names and its weight (rounded down);
    ``sum(bound.value.values())`` plus the items' weights is at most the value
    (the search's :class:`~analyzer.planning.residual.Residual` reads them).
    Empty when the packing adds nothing over ``bound.total``.
    """
    state, dense = bound.state, bound.dense
    nodes = [x for x in nodes if x in state.pred]
    if len(nodes) > EXACT_CUT_VERTICES or sum(bound.sizes[x] for x in nodes) >= 2**30:
        return bound.total, []
    centres = [x for x in nodes if x in dense and x in bound.value]
    if not centres:
        return bound.total, []
    network = _Network(state, bound.sizes, nodes, bound.eliminable)
    candidates = []
    for centre in centres:
        if len(candidates) >= MAX_CANDIDATES:
            break
        for side in ("out", "in"):
            if budget is not None and budget.expired():
                break
            candidates += _stars(bound, network, centre, side, budget)
        candidates += _groups(bound, network, centre, budget)
    greedy, greedy_items = _greedy_packing(bound, candidates, budget)
    fractional, fractional_items = _fractional_packing(bound, candidates)
    if fractional > greedy:
        return fractional, fractional_items
    return greedy, greedy_items


def _members(sides: Any) -> frozenset:
    return frozenset(x for _, x in sides)


def _greedy_packing(bound: LowerBound, candidates: list, budget: Any = None) -> tuple[Any, list]:
    """:func:`_greedy`'s value and its items (the packed candidates, the penalties kept)."""
    packed, added = pack_greedily(bound.penalty, candidates, lambda c: c[1], lambda c: c[0], budget)
    used = {side for _, sides in packed for side in sides}
    items = [(gain, _members(sides)) for gain, sides in packed]
    items += [
        (p, frozenset(key))
        for key, p in bound.penalty.items()
        if ("out", key[0]) not in used and ("in", key[1]) not in used
    ]
    return bound.total + added, items


def _greedy(bound: LowerBound, candidates: list, budget: Any = None) -> Any:
    """The greedy packing's bound: largest gain over the penalties it drops first.

    When ``budget`` runs out it stops with the stars packed so far (a packing too).
    """
    return _greedy_packing(bound, candidates, budget)[0]


def _fractional(bound: LowerBound, candidates: list) -> Any:
    """The best fractional packing's bound (a linear program; module docstring)."""
    return _fractional_packing(bound, candidates)[0]


def _plain(bound: LowerBound) -> tuple[Any, list]:
    """The single bound with its penalties, as items."""
    return bound.total, [(p, frozenset(key)) for key, p in bound.penalty.items()]


def _fractional_packing(bound: LowerBound, candidates: list) -> tuple[Any, list]:
    """The best fractional packing's bound (a linear program; module docstring), and its items.

    Weights ``λ_s`` on the stars and ``π_σ`` on each side's penalties, with
    ``Σ_{s∋σ} λ_s + π_σ ≤ 1`` on every side ``σ``; a factor's penalty counts
    with the smaller weight of its two sides. Rounded down, after scaling the
    solver's weights back into the constraints (so float error cannot raise it).
    """
    penalty = bound.penalty
    if not candidates:
        return _plain(bound)
    from scipy.optimize import linprog
    from scipy.sparse import coo_array

    sides: dict[tuple, int] = {}
    for _, members in candidates:
        for x in members:
            sides.setdefault(x, len(sides))
    keys = list(penalty)
    for u, v in keys:
        sides.setdefault(("out", u), len(sides))
        sides.setdefault(("in", v), len(sides))
    stars, n_sides, n_keys = len(candidates), len(sides), len(keys)
    # variables: λ (stars), π (sides), t (penalties)
    rows, cols, data = [], [], []
    for j, (_, members) in enumerate(candidates):
        for x in members:
            rows.append(sides[x]), cols.append(j), data.append(1.0)
    for i in range(n_sides):
        rows.append(i), cols.append(stars + i), data.append(1.0)
    row = n_sides
    for k, (u, v) in enumerate(keys):
        for side in (("out", u), ("in", v)):  # t_e <= π_side
            rows += [row, row]
            cols += [stars + n_sides + k, stars + sides[side]]
            data += [1.0, -1.0]
            row += 1
    width = stars + n_sides + n_keys
    matrix = coo_array((data, (rows, cols)), shape=(row, width)).tocsr()
    limits = [1.0] * n_sides + [0.0] * (row - n_sides)
    weights = [-float(g) for g, _ in candidates] + [0.0] * n_sides
    weights += [-float(penalty[k]) for k in keys]
    found = linprog(weights, A_ub=matrix, b_ub=limits, bounds=(0, 1), method="highs")
    if found.status != 0:
        return _plain(bound)
    x = [min(max(float(a), 0.0), 1.0) for a in found.x]
    lam, pi = x[:stars], x[stars : stars + n_sides]
    usage = [pi[i] for i in range(n_sides)]
    for j, (_, members) in enumerate(candidates):
        for side in members:
            usage[sides[side]] += lam[j]
    scale = max(1.0, *usage)
    value = sum(g * a / scale for (g, _), a in zip(candidates, lam, strict=True))
    items = [
        (int(g * a / scale * (1 - 1e-12)), _members(members))
        for (g, members), a in zip(candidates, lam, strict=True)
    ]
    for u, v in keys:
        weight = penalty[u, v] * min(pi[sides["out", u]], pi[sides["in", v]]) / scale
        value += weight
        items.append((int(weight * (1 - 1e-12)), frozenset((u, v))))
    value = int(value * (1 - 1e-12))  # floats: round down, a hair below
    found_value = bound.total - sum(penalty.values()) + value
    if found_value <= bound.total:  # (no stars: the total)
        return _plain(bound)
    return found_value, [item for item in items if item[0] > 0]
