"""The star packing carried down the search (``Residual``): never above what finishing costs.

Expected values come from the subset DP run from the state at hand and from brute
force over orders, never from the bounds themselves.
"""

from __future__ import annotations

import itertools
import random

from hypothesis import given, settings
from hypothesis import strategies as st
from test_planning_scale import layered_graph
from test_planning_stars import _fresh, _graph, _optimum

from analyzer import plan
from analyzer.planning import Budget, Problem
from analyzer.planning.board import Board
from analyzer.planning.pairs import PairBound
from analyzer.planning.residual import Residual
from analyzer.planning.stars import star_bound, star_packing

COSTS = ("dense", "structured")


def _residual(problem: Problem, objective: str) -> tuple[Residual, int]:
    bound = _fresh(problem, objective)
    value, items = star_packing(bound, problem.nodes)
    return Residual(dict(bound.value), items), value


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(2, 10),
    cost=st.sampled_from(COSTS),
    objective=st.sampled_from(["macs", "bytes"]),
)
def test_residual_bounds_every_state_of_a_random_order(seed, n, cost, objective):
    """At every state of a random order the residual total, and the parent's total less
    the child's share, are at most the exact cost of finishing; it starts at most at the
    star bound, is the sum of its live terms, and undoes exactly."""
    problem = Problem.of(_graph(seed, n), cost)
    residual, value = _residual(problem, objective)
    assert value == star_bound(_fresh(problem, objective), problem.nodes)
    assert residual.total <= value
    board = Board.of(problem, objective)
    before = (residual.total, dict(residual.share), list(residual.alive))
    order = list(problem.intermediates)
    random.Random(seed).shuffle(order)
    saved = []
    for v in order:
        assert residual.total <= _optimum(board, problem, objective)
        child = residual.total - residual.share[v]
        move = board.make(v)
        saved.append((move, residual.make(v)))
        assert residual.total == child <= _optimum(board, problem, objective)
        live = [w for (w, _), a in zip(residual.items, residual.alive, strict=True) if a]
        alive = [x for x in residual.values if x in board.alive]
        assert residual.total == sum(residual.values[x] for x in alive) + sum(live)
    assert residual.total == 0
    for move, record in reversed(saved):
        residual.unmake(record)
        board.unmake(move)
    assert (residual.total, residual.share, residual.alive) == before


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(2, 6))
def test_residual_is_at_most_every_order_by_brute_force(seed, n):
    """Every order of every start state's rest, priced by the board, costs at least the
    residual total at that state."""
    problem = Problem.of(_graph(seed, n))
    residual, _ = _residual(problem, "macs")
    board = Board.of(problem)
    first = list(problem.intermediates)
    for v in first:
        move = board.make(v)
        record = residual.make(v)
        rest = [x for x in first if x in board.alive]
        for order in itertools.permutations(rest):
            assert residual.total <= board.run(order, restore=True)
        residual.unmake(record)
        board.unmake(move)


def test_the_search_with_the_residual_equals_the_subset_dp_on_layered_graphs():
    for seed in range(1, 5):
        graph = layered_graph(14, seed)
        found = plan(graph, "branch-and-bound", time_limit=None)
        assert found.proven_optimal
        assert found.macs == plan(graph, "subset-dp").macs


def test_the_search_carries_the_residual_on_layered_graphs():
    """On layered graphs the star packing adds something, so the search gets a residual."""
    from analyzer.planning import optimal

    carried = 0
    for seed in range(1, 5):
        problem = Problem.of(layered_graph(14, seed))
        search, _ = optimal._search(
            problem.state(), problem, problem.pricer(), list(problem.intermediates), "macs",
            Budget(None),
        )  # fmt: skip
        if search is not None and search.residual is not None:
            carried += 1
            assert search.residual.total <= search.lower
            assert isinstance(search.bound, PairBound)
    assert carried >= 2
