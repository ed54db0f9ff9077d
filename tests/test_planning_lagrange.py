"""The Lagrangian bound (analyzer.planning.lagrange) against exact optima and every order."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_planning_scale import layered_graph
from test_planning_stars import _fresh, _graph

from analyzer import from_sequence, plan
from analyzer.planning import Budget, Problem
from analyzer.planning.board import Board
from analyzer.planning.lagrange import _joined, _pairs, lagrangian_bound
from analyzer.planning.subset import subset_optimum


def _bound(problem: Problem, state=None, part=None, **kwargs) -> int:
    state = problem.state() if state is None else state
    part = list(problem.intermediates) if part is None else part
    return lagrangian_bound(state, problem.sizes, part, problem.nodes, **kwargs)


def _optimum(problem: Problem, state=None, part=None) -> int:
    state = problem.state() if state is None else state
    part = list(problem.intermediates) if part is None else part
    return subset_optimum(state, problem.pricer(), part, "macs", Budget(None))[0]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 6), near=st.integers(0, 4), data=st.data())
def test_never_above_the_brute_force_optimum(seed, n, near, data):
    """Every order of the intermediates, priced by the board, costs at least the bound,
    with the members picked by any order (the cheapest, or one drawn at random)."""
    problem = Problem.of(_graph(seed, n))
    board = Board.of(problem)
    costs = {
        order: board.run(order, restore=True)
        for order in itertools.permutations(problem.intermediates)
    }
    cheapest = min(costs.values())
    best = min(costs, key=costs.__getitem__)
    drawn = data.draw(st.permutations(list(problem.intermediates)))
    assert _bound(problem, near=near) <= cheapest
    assert _bound(problem, near=near, upper=cheapest) <= cheapest
    assert _bound(problem, near=near, upper=cheapest, order=best) <= cheapest
    assert _bound(problem, near=near, upper=cheapest, order=drawn) <= cheapest


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(2, 11), near=st.integers(1, 7))
def test_never_above_the_subset_dp_optimum_from_any_state(seed, n, near):
    """From the start and from a state after some eliminations (the rest never-eliminated
    or still to go), the bound is at most the exact optimum of what is left."""
    problem = Problem.of(_graph(seed, n))
    optimum = _optimum(problem)
    assert _bound(problem, near=near, upper=optimum) <= optimum
    heuristic = plan(_graph(seed, n), "markowitz").sequence
    assert _bound(problem, near=near, upper=optimum, order=heuristic) <= optimum
    board = Board.of(problem)
    gone = list(problem.intermediates)[: n // 2]
    for v in gone:
        board.make(v)
    rest = [v for v in problem.intermediates if v in board.alive]
    if rest:
        left = _optimum(problem, board.state, rest)
        assert _bound(problem, board.state, rest, near=near) <= left
        # an order naming gone vertices too (they are skipped)
        assert _bound(problem, board.state, rest, near=near, order=heuristic) <= left
        # a part of the rest alone: the other vertices are never eliminated
        half = rest[: max(1, len(rest) // 2)]
        assert _bound(problem, board.state, half, near=near) <= _optimum(problem, board.state, half)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_at_least_the_single_vertex_bounds_and_at_most_the_optimum(seed):
    """With the multipliers it is at least the cut bound of every vertex alone (bounds.py,
    without its edge penalties) and at most the proven optimum."""
    problem = Problem.of(layered_graph(14, seed))
    single = sum(_fresh(problem, "macs").value.values())
    optimum = plan(layered_graph(14, seed), "subset-dp").macs
    found = _bound(problem, upper=optimum)
    assert single <= found <= optimum


def test_members_come_in_pairs_nearest_first_and_at_most_near_a_side():
    problem = Problem.of(layered_graph(30, 5))
    state = problem.state()
    vertices = list(problem.intermediates)
    position = {x: i for i, x in enumerate(problem.nodes)}
    paired = _pairs(state, vertices, set(vertices), problem.sizes, position, 3, set())
    for v in vertices:
        assert len(paired["into"][v]) <= 3 and len(paired["out_of"][v]) <= 3
        for u in paired["into"][v]:
            assert v in paired["out_of"][u]
    # a vertex with room on both ends pairs with its direct successors first
    for u in vertices:
        direct = [w for w in state.succ[u] if w in paired["into"]]
        if len(direct) <= 3 and all(len(paired["into"][w]) < 3 for w in direct):
            assert set(direct) <= set(paired["out_of"][u])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_pairs_an_order_makes_neighbours_are_its_neighbours_when_each_goes(seed):
    """``_joined`` against the board: eliminating the order's vertices one by one, the
    pairs are exactly the vertex and each of its neighbours still to eliminate."""
    problem = Problem.of(layered_graph(12, seed))
    order = list(plan(layered_graph(12, seed), "min-fill").sequence)
    vertices = set(problem.intermediates)
    board = Board.of(problem)
    expected = set()
    for v in order:
        expected |= {(p, v) for p in board.state.pred[v] if p in vertices}
        expected |= {(v, s) for s in board.state.succ[v] if s in vertices}
        board.make(v)
    assert _joined(problem.state(), problem.sizes, order, vertices)[0] == expected


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_an_order_naming_vertices_outside_the_part_joins_only_the_parts(seed):
    """Vertices outside the part are never eliminated: an order that names them too
    joins the pairs that eliminating only the part's vertices (in that order) makes."""
    problem = Problem.of(layered_graph(12, seed))
    order = list(plan(layered_graph(12, seed), "min-fill").sequence)
    part = set(order[::2])
    board = Board.of(problem)
    expected = set()
    for v in order:
        if v in part:
            expected |= {(p, v) for p in board.state.pred[v] if p in part}
            expected |= {(v, s) for s in board.state.succ[v] if s in part}
            board.make(v)
    assert _joined(problem.state(), problem.sizes, order, part)[0] == expected


def test_the_pairs_an_order_makes_neighbours_are_members_first():
    """Every pair the order makes neighbours is a member pair while both ends have room
    (they come before every other pair), whatever its path length."""
    problem = Problem.of(layered_graph(30, 5))
    state = problem.state()
    vertices = list(problem.intermediates)
    position = {x: i for i, x in enumerate(problem.nodes)}
    order = list(plan(layered_graph(30, 5), "markowitz").sequence)
    joined = _joined(state, problem.sizes, order, set(vertices))[0]
    ins, outs = {}, {}
    for u, w in joined:
        outs[u] = outs.get(u, 0) + 1
        ins[w] = ins.get(w, 0) + 1
    paired = _pairs(state, vertices, set(vertices), problem.sizes, position, 5, joined)
    roomy = [(u, w) for u, w in joined if outs[u] <= 5 and ins[w] <= 5]
    assert roomy and all(w in paired["out_of"][u] and u in paired["into"][w] for u, w in roomy)
    far = [(u, w) for u, w in roomy if w not in state.succ[u]]
    assert far  # (some of them are not joined by one factor in the start graph)


def test_a_single_vertex_is_priced_exactly():
    """One intermediate: its only order costs ``|v|·IN·OUT``, and the bound, a whole
    number of macs, is exactly that (not one below it)."""
    from analyzer.graph import JacobianGraph

    g = JacobianGraph(name="one")
    g.add_variable("x", 7, role="parameter")
    g.add_variable("y", 3, role="parameter")
    g.add_variable("v", 5, role="intermediate", evaluate=lambda v: 0)
    g.add_variable("o", 11, role="output", evaluate=lambda v: 0)
    for tail, head in (("x", "v"), ("y", "v"), ("v", "o")):
        g.add_factor(tail, head, "dense", lambda v: 0)
    problem = Problem.of(g.validate())
    assert _bound(problem) == 5 * (7 + 3) * 11 == plan(g, "optimal").macs


def test_a_spent_budget_still_gives_a_valid_bound():
    problem = Problem.of(layered_graph(20, 7))
    optimum = plan(layered_graph(20, 7), "branch-and-bound", time_limit=None).macs
    assert 0 <= _bound(problem, budget=Budget(1e-9)) <= optimum


def test_optimal_takes_the_lagrangian_certificate_when_its_search_stops(monkeypatch):
    """On a 50-intermediate layered DAG the first search stops unproven; the certificate
    then rises to the Lagrangian bound (computed here beforehand, so that the test does not
    hang on the machine's speed), and stays at most the macs of every order."""
    import sys
    from pathlib import Path

    import analyzer.planning.optimal as optimal

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
    from benchmarks import layered_dag

    graph = layered_dag(50, seed=3)
    problem = Problem.of(graph)
    value = _bound(problem, upper=3_078_148)
    calls = []

    def known(*args, **kwargs):
        calls.append(args)
        return value

    monkeypatch.setattr(optimal, "lagrangian_bound", known)
    found = plan(graph, "optimal", time_limit=2.0)
    assert calls and found.search.tried.get("lagrangian") == 1
    assert value <= found.lower_bound <= found.macs
    for order in ("input-first", "output-first", "markowitz", "min-fill"):
        assert found.lower_bound <= plan(graph, order).macs
    assert found.macs == from_sequence(graph, found.sequence).macs
    # the structured model prices kinds, not |v|·IN·OUT: no Lagrangian bound there
    calls.clear()
    plan(graph, "optimal", "structured", time_limit=0.5)
    assert not calls


@pytest.mark.parametrize("factor", [10**4, 10**6, 10**9])
def test_float_error_cannot_lift_the_bound_above_the_optimum_when_upper_is_far_above(factor):
    """Sizes near 2**27 (costs near 2**85) and a target far above the optimum make the
    multipliers huge; the sums that cancel them must not lift the value past the optimum
    (found by brute force over every order)."""
    from analyzer.graph import JacobianGraph

    g = JacobianGraph(name="huge")
    g.add_variable("p0", 50703117, role="parameter")
    for name, size in (("v0", 85031333), ("v1", 35858482), ("v2", 73656861)):
        g.add_variable(name, size, role="intermediate", evaluate=lambda v: 0)
    g.add_variable("o", 2, role="output", evaluate=lambda v: 0)
    for tail, head in (("p0", "v0"), ("p0", "v1"), ("p0", "v2"), ("v0", "v2"), ("v1", "o")):
        g.add_factor(tail, head, "dense", lambda v: 0)
    g.add_factor("v2", "o", "dense", lambda v: 0)
    problem = Problem.of(g.validate())
    board = Board.of(problem)
    cheapest = min(
        board.run(order, restore=True) for order in itertools.permutations(problem.intermediates)
    )
    for near in (1, 3, 7):
        assert _bound(problem, near=near, upper=cheapest * factor) <= cheapest


def test_a_part_already_eliminated_costs_nothing_more():
    """A part whose vertices are all gone from the state has bound 0 (it raised before)."""
    problem = Problem.of(layered_graph(6, 2))
    board = Board.of(problem)
    first = list(problem.intermediates)[0]
    board.make(first)
    assert _bound(problem, board.state, [first]) == 0
    rest = [v for v in problem.intermediates if v in board.alive]
    assert _bound(problem, board.state, [first, *rest]) == _bound(problem, board.state, rest)


@pytest.mark.parametrize("entries", [1, 40, 400])
def test_a_cap_on_the_tables_keeps_the_bound_valid(monkeypatch, entries):
    """Past ``ENTRIES`` a vertex keeps its least entry without members: the bound stays
    at least the single-vertex cut bounds and at most the proven optimum."""
    import analyzer.planning.lagrange as lagrange

    monkeypatch.setattr(lagrange, "ENTRIES", entries)
    problem = Problem.of(layered_graph(14, 3))
    single = sum(_fresh(problem, "macs").value.values())
    optimum = plan(layered_graph(14, 3), "subset-dp").macs
    order = plan(layered_graph(14, 3), "min-fill").sequence
    assert single <= _bound(problem, upper=optimum, order=order) <= optimum


@pytest.mark.parametrize("upper", [1e308, float("inf"), float("nan")])
def test_a_target_past_the_floats_gives_a_valid_bound(upper):
    """A target at the edge of the floats (or none that is finite) made a step overflow:
    infinite multipliers, NaN minima, then an IndexError in the argmin bookkeeping. The
    steps now stop there (or take no target) and the bound stays below every order."""
    problem = Problem.of(layered_graph(12, 3))
    optimum = _optimum(problem)
    assert 0 < _bound(problem, upper=upper) <= optimum


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_a_sides_groups_give_the_least_term_of_their_sets_and_a_set_that_has_it(data):
    """``_Side`` against every set one by one: per distinct value of a side, the least sum
    of the multipliers of the set's bits, and a set of that value with that sum (small
    integer multipliers, so that ties are exact and frequent)."""
    import numpy as np

    from analyzer.planning.lagrange import _Side

    count = data.draw(st.integers(1, 4))
    pairs = data.draw(st.integers(0, 6))
    none = pairs
    sides, bits = [], []
    for _ in range(count):
        k = data.draw(st.integers(0, 4))
        sides.append(data.draw(st.lists(st.integers(0, 3), min_size=2**k, max_size=2**k)))
        bits.append(data.draw(st.lists(st.integers(0, none), min_size=k, max_size=k)))
    side = _Side(sides, bits, none)
    multipliers = np.array(
        data.draw(st.lists(st.integers(-3, 3), min_size=pairs, max_size=pairs)) + [0], float
    )
    least = side.least(multipliers)
    rows = side.sets(np.arange(len(least)))
    for k, (values, ids) in enumerate(zip(sides, bits, strict=True)):
        term = {
            m: sum(multipliers[b] for i, b in enumerate(ids) if m >> i & 1)
            for m in range(len(values))
        }
        distinct = sorted(set(values))
        assert side.first[k + 1] - side.first[k] == len(distinct)
        for j, value in enumerate(distinct):
            group = side.first[k] + j
            sets = [m for m in range(len(values)) if values[m] == value]
            assert side.values[group] == value
            assert least[group] == min(term[m] for m in sets)
            row = list(rows[group])
            assert any(
                term[m] == least[group]
                and row[: len(ids)] == [b if m >> i & 1 else none for i, b in enumerate(ids)]
                for m in sets
            )
            assert set(row[len(ids) :]) <= {none}


def test_the_duals_minima_are_the_plain_tables_minima(monkeypatch):
    """At every step, each vertex's least entry of the dual over distinct side values equals
    the least entry of its full table ``|v|·c_in[D_in]·c_out[D_out]`` plus the multipliers
    of the sets' bits, computed set by set."""
    import numpy as np

    import analyzer.planning.lagrange as lagrange

    seen, grabbed = [], []
    value, dual = lagrange._value, lagrange._dual

    def spy(lowest, top, multipliers, reach, terms):
        seen.append((lowest.copy(), multipliers.copy()))
        return value(lowest, top, multipliers, reach, terms)

    def grab(vertices, members, tables, budget, upper):
        grabbed.append((vertices, members, tables))
        return dual(vertices, members, tables, budget, upper)

    monkeypatch.setattr(lagrange, "_value", spy)
    monkeypatch.setattr(lagrange, "_dual", grab)
    problem = Problem.of(layered_graph(14, 4))
    order = list(plan(layered_graph(14, 4), "min-fill").sequence)
    _bound(problem, near=4, order=order)
    vertices, members, tables = grabbed[0]
    pairs = {}
    for v in vertices:
        for u in members[v][0]:
            if v in members[u][1]:
                pairs.setdefault((u, v), len(pairs))
    assert pairs and len(seen) > 10
    for lowest, multipliers in seen[::5]:
        for k, v in enumerate(vertices):
            size, c_in, c_out = tables[v]
            ins = [multipliers[pairs[u, v]] if (u, v) in pairs else 0.0 for u in members[v][0]]
            outs = [multipliers[pairs[v, u]] if (v, u) in pairs else 0.0 for u in members[v][1]]
            least = min(
                size * c_in[a] * c_out[b]
                + sum(x for i, x in enumerate(ins) if a >> i & 1)
                + sum(x for i, x in enumerate(outs) if b >> i & 1)
                for a in range(len(c_in))
                for b in range(len(c_out))
            )
            assert np.isclose(lowest[k], least, rtol=1e-12, atol=1e-9)


class _NoTimeForTables:
    """A budget that leaves the tables no time (``left`` tiny) but never expires itself:
    every vertex goes the late way, its cut bound by the batched flows."""

    def left(self) -> float:
        return 1e-12

    def expired(self) -> bool:
        return False


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(2, 11))
def test_vertices_without_tables_count_their_cut_bounds(seed, n):
    """No time for tables: every vertex counts ``|v|·B_in·B_out`` with its cuts from the
    one-flow network (the single bounds summed, no members), at most the optimum; a
    budget already spent on entry gives 0 at once."""
    from analyzer.planning.stars import _Network

    problem = Problem.of(_graph(seed, n))
    state, eliminable = problem.state(), set(problem.intermediates)
    network = _Network(state, problem.sizes, problem.nodes, eliminable)
    expected = 0
    for v in problem.intermediates:
        sides = []
        for way, neighbours in (("into", state.pred), ("out_of", state.succ)):
            forced = {u for u in neighbours[v] if u not in eliminable}
            flow = (network.into if way == "into" else network.out_of)(v, dict.fromkeys(forced, 0))
            sides.append(sum(problem.sizes[u] for u in forced) + flow)
        expected += problem.sizes[v] * sides[0] * sides[1]
    assert _bound(problem, budget=_NoTimeForTables()) == expected <= _optimum(problem)
    spent = Budget(1e-9)
    while not spent.expired():
        pass
    assert _bound(problem, budget=spent) == 0


def test_symbolic_sizes_give_zero_not_an_error():
    """Sizes that are symbols admit no maximum flow: the bound is 0 (valid), not a TypeError."""
    import sympy

    from analyzer.graph import JacobianGraph

    n = sympy.Symbol("n", positive=True, integer=True)
    g = JacobianGraph(name="symbols")
    for name, size, role in (("p", n, "parameter"), ("a", 3, "intermediate"),
                             ("b", n, "intermediate"), ("o", 2, "output")):  # fmt: skip
        g.add_variable(name, size, role=role)
    for tail, head in (("p", "a"), ("p", "b"), ("a", "b"), ("a", "o"), ("b", "o")):
        g.add_factor(tail, head, "dense")
    problem = Problem.of(g.validate())
    assert _bound(problem) == 0
    assert _bound(problem, order=["b", "a"], upper=10) == 0


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(3, 10),
    upper=st.sampled_from([float("inf"), float("nan"), 1e308, 1.7e308, 2**200, -1e308]),
)
def test_a_target_near_the_float_range_neither_raises_nor_overshoots(seed, n, upper):
    """An ``upper`` at or past the float range drove the multipliers to inf/NaN, then an
    IndexError (no least entry found); now the steps stop with the best value met, which
    bounds the subset-DP optimum, and no float warning escapes."""
    import warnings

    problem = Problem.of(_graph(seed, n))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        found = _bound(problem, upper=upper, order=list(problem.intermediates)[::-1])
    assert 0 <= found <= _optimum(problem)


class _RunsOutAtOnce:
    """A budget not spent on entry that runs out right after (every later check)."""

    def __init__(self) -> None:
        self.checks = 0

    def left(self) -> float:
        return 1e-12

    def expired(self) -> bool:
        self.checks += 1
        return self.checks > 1


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(2, 11))
def test_a_budget_spent_before_the_cuts_counts_the_never_eliminated_neighbours(seed, n):
    """Past the budget the vertices without tables take no flow: each counts ``|v|`` times
    the sizes of its never-eliminated predecessors times those of its successors."""
    problem = Problem.of(_graph(seed, n))
    state, eliminable, sizes = problem.state(), set(problem.intermediates), problem.sizes
    expected = sum(
        sizes[v]
        * sum(sizes[u] for u in state.pred[v] if u not in eliminable)
        * sum(sizes[u] for u in state.succ[v] if u not in eliminable)
        for v in problem.intermediates
    )
    assert _bound(problem, budget=_RunsOutAtOnce()) == expected <= _optimum(problem)
