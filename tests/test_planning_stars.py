"""The star and group bound and the pair bound kept move by move: never above an optimum.

Expected values come from the subset DP (``subset_optimum``, run from the state at
hand), never from the bounds themselves.
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from test_planning_scale import layered_graph, random_graph

from analyzer import plan
from analyzer.planning import Budget, Problem
from analyzer.planning.board import Board
from analyzer.planning.bounds import LowerBound
from analyzer.planning.pairs import PairBound, pair_bound
from analyzer.planning.stars import _fractional, _greedy, _groups, _Network, _stars, star_bound
from analyzer.planning.subset import subset_optimum

COSTS = ("dense", "structured")


def _graph(seed: int, n: int):
    return random_graph(n, seed, high=6) if seed % 3 == 0 else layered_graph(n, seed)


def _fresh(problem: Problem, objective: str, cls=LowerBound):
    return cls(
        problem.initial(), problem.pricer(), problem.intermediates, objective,
        order=problem.nodes, itemsizes=problem.itemsizes,
    )  # fmt: skip


def _optimum(board: Board, problem: Problem, objective: str) -> int:
    """The exact cost of finishing from the board's state (subset DP over what is left)."""
    left = [v for v in problem.intermediates if v in board.alive]
    return subset_optimum(board.state, problem.pricer(), left, objective, Budget(None))[0]


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(2, 11),
    cost=st.sampled_from(COSTS),
    objective=st.sampled_from(["macs", "bytes"]),
)
def test_star_bound_never_exceeds_the_optimum(seed, n, cost, objective):
    problem = Problem.of(_graph(seed, n), cost)
    bound = _fresh(problem, objective)
    optimum = subset_optimum(
        problem.state(), problem.pricer(), problem.intermediates, objective, Budget(None)
    )[0]
    assert bound.total <= star_bound(bound, problem.nodes) <= optimum
    # both packings, on their own (star_bound returns the larger), of stars, groups, both
    network = _Network(problem.initial(), problem.sizes, problem.nodes, bound.eliminable)
    candidates = [
        star
        for centre in problem.nodes
        if centre in bound.dense and centre in bound.value
        for side in ("out", "in")
        for star in _stars(bound, network, centre, side, None)
    ]
    groups = [
        group
        for centre in problem.nodes
        if centre in bound.dense and centre in bound.value
        for group in _groups(bound, network, centre, None)
    ]
    for found in (candidates, groups, candidates + groups):
        assert bound.total <= _greedy(bound, list(found)) <= optimum
        assert bound.total <= _fractional(bound, found) <= optimum


def test_star_bound_is_stronger_than_the_pair_bound_on_layered_graphs():
    raised = 0
    for seed in range(1, 7):
        problem = Problem.of(layered_graph(10, seed))
        bound = _fresh(problem, "macs")
        found = star_bound(bound, problem.nodes)
        assert found <= plan(problem.graph, "subset-dp").macs
        raised += found > pair_bound(bound, problem.nodes)
    assert raised >= 3


def test_star_bound_with_no_time_left_is_the_single_bound():
    problem = Problem.of(layered_graph(10, 2))
    bound = _fresh(problem, "macs")
    assert star_bound(bound, problem.nodes, Budget(1e-9)) == bound.total


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(2, 10),
    cost=st.sampled_from(COSTS),
    objective=st.sampled_from(["macs", "bytes"]),
)
def test_pair_bound_move_by_move_bounds_every_state(seed, n, cost, objective):
    """Along a random order: the kept pair bound never exceeds the exact cost of finishing,
    nor does the parent's total less the child's share (what the search prunes children
    with); it starts at pair_bound's value, is the sum of its parts, and undoes exactly."""
    problem = Problem.of(_graph(seed, n), cost)
    board = Board.of(problem, objective)
    bound = PairBound(
        board.state, problem.pricer(), problem.intermediates, objective,
        order=problem.nodes, itemsizes=problem.itemsizes,
    )  # fmt: skip
    bound.match(problem.nodes)
    assert bound.total == pair_bound(_fresh(problem, objective), problem.nodes)
    before = (bound.total, dict(bound.value), dict(bound.share), dict(bound.penalty))
    order = list(problem.intermediates)
    random.Random(seed).shuffle(order)
    moves = []
    for v in order:
        assert bound.total <= _optimum(board, problem, objective)
        parent = bound.total - bound.share[v]
        move = board.make(v)
        moves.append((move, bound.make(move.step)))
        assert parent <= _optimum(board, problem, objective)
        assert bound.total == sum(bound.value.values()) + sum(bound.penalty.values())
    assert bound.total == 0
    for move, saved in reversed(moves):
        bound.unmake(saved)
        board.unmake(move)
    assert (bound.total, bound.value, bound.share, bound.penalty) == before


def test_pair_bound_ties_pairs_on_layered_graphs():
    tied = 0
    for seed in range(1, 6):
        problem = Problem.of(layered_graph(10, seed))
        bound = _fresh(problem, "macs", PairBound)
        start = bound.total
        tied += bound.match(problem.nodes) > start
        assert bound.total <= plan(problem.graph, "subset-dp").macs
    assert tied >= 3


def test_star_bound_with_few_candidates_still_bounds(monkeypatch):
    from analyzer.planning import stars

    monkeypatch.setattr(stars, "MAX_CANDIDATES", 3)
    for seed in range(1, 4):
        problem = Problem.of(layered_graph(10, seed))
        bound = _fresh(problem, "macs")
        assert (
            bound.total
            <= star_bound(bound, problem.nodes)
            <= _optimum(Board.of(problem), problem, "macs")
        )


def _two_parts():
    """Two layered blocks of 7 intermediates that share only the parameters and the output."""
    from analyzer.graph import JacobianGraph

    rng = random.Random(4)
    g = JacobianGraph(name="two parts")
    for p in ("p0", "p1"):
        g.add_variable(p, rng.randint(2, 9), role="parameter")
    g.add_variable("out", 5, role="output")
    for block in "ab":
        earlier = ["p0", "p1"]
        for i in range(7):
            name = f"{block}{i}"
            g.add_variable(name, rng.randint(2, 9), role="intermediate")
            for tail in rng.sample(earlier, min(len(earlier), 2)):
                g.add_factor(tail, name, "dense")
            earlier = [*earlier[-2:], name]
        for tail in [n for n in g.nodes if n[0] == block and g.out_degree(n) == 0]:
            g.add_factor(tail, "out", "dense")
    return g.validate()


def test_an_interrupt_in_one_parts_bounds_skips_the_other_parts_bounds(monkeypatch):
    """Ctrl-C in the first part's star bound: the second part gets its heuristic order
    at once (its star bound is not computed, with time_limit=None it had no limit)."""
    from analyzer.planning import optimal

    g = _two_parts()
    problem = Problem.of(g)
    assert len(optimal.parts(problem.state(), problem.intermediates)) == 2
    monkeypatch.setattr(optimal, "SMALL_PART", 0)  # both parts get the search
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        raise KeyboardInterrupt

    monkeypatch.setattr(optimal, "star_packing", interrupted)
    p = plan(g, "optimal", time_limit=None)
    assert len(calls) == 1
    assert p.search.tried["stopped"] == "interrupted"
    assert not p.proven_optimal
    assert p.lower_bound <= plan(g, "subset-dp").macs <= p.macs


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(2, 14), largest=st.booleans())
def test_many_flows_at_once_equal_one_flow_at_a_time(seed, n, largest):
    """``_Network.many`` (disjoint copies in one call) against a second network, one flow
    a query, for random capacity changes on both sides (members made uncuttable or free, and
    never-eliminated vertices made free, as :mod:`~analyzer.planning.lagrange` does);
    ``largest`` scales the sizes up to what the callers allow, so that a call holds one or
    two copies (the summed flow must fit 31 bits) and the queries span several calls."""
    import random

    problem = Problem.of(_graph(seed, n))
    scale = (2**30 - 1) // sum(problem.sizes.values()) if largest else 1
    sizes = {x: size * scale for x, size in problem.sizes.items()}
    assert sum(sizes.values()) < 2**30  # (what the callers ask of a network)
    state, nodes = problem.initial(), problem.nodes
    eliminable = set(problem.intermediates)
    network = _Network(state, sizes, nodes, eliminable)
    assert not largest or 3 * network.infinite > 2**31  # (at most two copies a call)
    alone = _Network(state, sizes, nodes, eliminable)  # (one flow a query, its own memo)
    draw = random.Random(seed)
    for v in problem.intermediates:
        for way in ("into", "out_of"):
            changes = []
            for _ in range(draw.randint(1, 8)):
                picked = draw.sample([x for x in nodes if x != v], min(4, len(nodes) - 1))
                changes.append(
                    {
                        x: draw.choice([0, network.infinite]) if x in eliminable else 0
                        for x in picked
                    }
                )
            found = network.many(way, v, changes)
            for change, value in zip(changes, found, strict=True):
                ask = alone.into if way == "into" else alone.out_of
                assert value == ask(v, change)


def test_many_flows_read_back_from_an_older_scipys_csr_matrix():
    """Older scipy (the project allows 1.10) returns the flow as a ``csr_matrix``, whose
    fancy indexing gives a 1×N matrix: the batched values must still be one per query."""
    from types import SimpleNamespace

    from scipy.sparse import csr_matrix

    problem = Problem.of(layered_graph(8, 3))
    state, nodes, sizes = problem.initial(), problem.nodes, problem.sizes
    eliminable = set(problem.intermediates)
    network = _Network(state, sizes, nodes, eliminable)
    flow = network._flow

    def older(*args, **kwargs):
        found = flow(*args, **kwargs)
        return SimpleNamespace(flow_value=found.flow_value, flow=csr_matrix(found.flow))

    network._flow = older
    alone = _Network(state, sizes, nodes, eliminable)
    v = list(problem.intermediates)[-1]
    changes = [{x: network.infinite} for x in problem.intermediates if x != v]
    found = network.many("into", v, changes)
    assert found == [alone.into(v, change) for change in changes]


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(2, 14),
    scale=st.sampled_from([1, 2 * 10**5]),
    arcs=st.sampled_from([1, 40, 2_000_000]),
)
def test_several_vertices_flows_at_once_equal_one_flow_at_a_time(seed, n, scale, arcs):
    """``_Network.several`` mixes the copies of different vertices' parts in one call (at
    most ``arcs`` arcs a call): each value against a fresh one-flow network."""
    from analyzer.planning import stars

    problem = Problem.of(_graph(seed, n))
    sizes = {x: size * scale for x, size in problem.sizes.items()}
    state, nodes = problem.initial(), problem.nodes
    eliminable = set(problem.intermediates)
    draw = random.Random(seed)
    network = _Network(state, sizes, nodes, eliminable)
    old, stars.COPY_ARCS = stars.COPY_ARCS, arcs
    try:
        for way in ("into", "out_of"):
            queries = []
            for _ in range(draw.randint(1, 12)):
                v = draw.choice(list(eliminable))
                picked = draw.sample(sorted(eliminable - {v}), min(3, len(eliminable) - 1))
                queries.append((v, {x: draw.choice([0, network.infinite]) for x in picked}))
            found = network.several(way, queries)
            for (v, change), value in zip(queries, found, strict=True):
                alone = _Network(state, sizes, nodes, eliminable)
                assert value == (alone.into if way == "into" else alone.out_of)(v, change)
    finally:
        stars.COPY_ARCS = old
