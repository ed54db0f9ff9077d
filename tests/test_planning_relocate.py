"""Span moves (``relocate``): priced permutations, never costlier, exact interleavings.

Expected values come from brute force over orders and interleavings, and from
the subset DP, never from the local search itself.
"""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_planning_scale import _oracle, dense_brute_force, layered_graph, random_graph

from analyzer.models import mlp
from analyzer.planning import Budget, Problem
from analyzer.planning.board import Board
from analyzer.planning.relocate import _Interleave, relocate

COSTS = ("dense", "structured")


def _graph(n: int, seed: int):
    return random_graph(n, seed) if seed % 2 else layered_graph(n, seed)


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(1, 9),
    cost=st.sampled_from(COSTS),
    objective=st.sampled_from(["macs", "bytes"]),
    span=st.integers(2, 9),
    free=st.integers(2, 5),
)
def test_span_moves_return_a_priced_permutation_no_costlier(seed, n, cost, objective, span, free):
    problem = Problem.of(_graph(n, seed), cost)
    board = Board.of(problem, objective)
    before = (board.state.copy().pred, board.state.copy().succ)
    start = list(problem.intermediates)
    random.Random(seed).shuffle(start)
    start_cost = board.run(start, restore=True)
    sequence, found, tried = relocate(
        board, start, start_cost, Budget(None), span=span, free=free, seed=seed, moves=6
    )
    assert sorted(sequence) == sorted(start)
    assert (board.state.pred, board.state.succ) == before  # the board is left as it was
    assert found == Board.of(problem, objective).run(sequence)  # priced again from scratch
    assert _oracle(problem, objective) <= found <= start_cost
    assert tried["moves"] <= 6


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(2, 7), cost=st.sampled_from(COSTS))
def test_one_move_over_every_vertex_is_the_optimum(seed, n, cost):
    # span = free = n: the interleaving DP is the subset DP over the whole graph
    g = _graph(n, seed)
    problem = Problem.of(g, cost)
    board = Board.of(problem)
    start = list(problem.intermediates)[::-1]
    _, found, _ = relocate(
        board, start, board.run(start, restore=True), Budget(None), span=n, free=n, moves=1
    )
    assert found == _oracle(problem)
    if cost == "dense":
        assert found == dense_brute_force(g)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(3, 8), k=st.integers(1, 3))
def test_the_interleaving_is_the_cheapest_of_every_interleaving(seed, n, k):
    problem = Problem.of(_graph(n, seed))
    board = Board.of(problem)
    order = list(problem.intermediates)
    rng = random.Random(seed)
    rng.shuffle(order)
    free = rng.sample(order, min(k, n))
    kept = [v for v in order if v not in free]
    best = None  # brute force: every order that keeps ``kept``'s relative order
    for candidate in itertools.permutations(order):
        if [v for v in candidate if v in kept] == kept:
            price = board.run(candidate, restore=True)
            best = price if best is None else min(best, price)
    found, sequence = _Interleave(board, kept, free, Budget(None)).best(0, 0)
    assert found == best == board.run(sequence, restore=True)
    assert [v for v in sequence if v in kept] == kept


def test_span_moves_find_the_optimum_of_a_small_mlp_and_stop_on_time():
    g = mlp([8, 2, 8, 2, 8])
    board = Board.of(Problem.of(g))
    start = list(board.order)
    _, found, _ = relocate(board, start, board.run(start, restore=True), Budget(None))
    assert found == dense_brute_force(g)
    problem = Problem.of(layered_graph(20, 3))
    board = Board.of(problem)
    start = list(problem.intermediates)
    cost = board.run(start, restore=True)
    sequence, found, tried = relocate(board, start, cost, Budget(1e-9))
    assert (sequence, found, tried["moves"]) == (start, cost, 0)  # out of time: unchanged


def test_span_moves_are_deterministic():
    problem = Problem.of(layered_graph(16, 4))
    board = Board.of(problem)
    start = list(problem.intermediates)
    cost = board.run(start, restore=True)
    first = relocate(board, start, cost, Budget(None), moves=10, seed=3)
    again = relocate(board, start, cost, Budget(None), moves=10, seed=3)
    assert first == again


@pytest.mark.parametrize("search", ["relocate", "improve"])
def test_local_searches_leave_no_reference_cycles(search):
    """Planning pauses the cyclic garbage collector: what a span move or a window descent
    makes must be freed by reference counting alone (a recursive closure per window did
    not: about 12 MB a second of iterated local search on a 50-intermediate graph)."""
    import gc

    from analyzer.planning.improve import improve

    run = {"relocate": relocate, "improve": improve}[search]
    board = Board.of(Problem.of(layered_graph(12, 1)))
    order = list(board.order)
    cost = board.run(order, restore=True)
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        run(board, order, cost, Budget(0.3))
        assert gc.collect() == 0
    finally:
        if enabled:
            gc.enable()


def test_an_interrupt_in_span_moves_returns_the_best_order_so_far(monkeypatch):
    from analyzer import plan
    from analyzer.planning import relocate as module

    calls = {"n": 0}
    real = module._Interleave.best

    def interrupted(self, j, mask):
        calls["n"] += 1
        if calls["n"] > 500:
            raise KeyboardInterrupt
        return real(self, j, mask)

    monkeypatch.setattr(module._Interleave, "best", interrupted)
    g = layered_graph(40, 5, width=6, high=40)
    p = plan(g, "optimal", time_limit=3.0)
    assert calls["n"] > 500  # the span moves ran, and were interrupted
    assert p.search.tried["stopped"] == "interrupted"
    assert not p.proven_optimal and p.lower_bound <= p.macs
    assert p.macs == Board.of(Problem.of(g)).run(p.sequence)  # a whole order, priced


@pytest.mark.parametrize("cost", COSTS)
def test_an_interrupt_anywhere_in_span_moves_propagates_as_itself(cost):
    """A KeyboardInterrupt at any elimination of a move (the prefix, the old span's price,
    the DP, a kick) comes out as itself: pricing the old span with ``board.run`` used to
    leave its first moves made, and the move's rewind of the prefix then failed with a
    KeyError (the bytes objective keeps a Board even for dense costs). The board is left as
    it stood (not to be used again), so each try gets a fresh one."""
    problem = Problem.of(layered_graph(10, 1), cost)
    order = list(problem.intermediates)
    for at in range(1, 400, 3):
        board = Board.of(problem, "bytes")
        cost_before = board.run(order, restore=True)
        real, calls = board.make, {"n": 0}

        def make(v, real=real, calls=calls, at=at):
            calls["n"] += 1
            if calls["n"] == at:
                raise KeyboardInterrupt
            return real(v)

        board.make = make
        with pytest.raises(KeyboardInterrupt):
            relocate(board, order, cost_before, Budget(None), span=5, free=2, moves=60)


def test_span_moves_do_not_depend_on_the_hash_seed():
    """The same seed and moves give the same order in every process: the vertices a move
    frees grew along sets of neighbours, iterated in an order that string hashing
    (PYTHONHASHSEED) changes from one process to the next."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "from analyzer.models import mlp\n"
        "from analyzer.planning import Budget, Problem\n"
        "from analyzer.planning.board import Board\n"
        "from analyzer.planning.relocate import relocate\n"
        "board = Board.of(Problem.of(mlp([3, 5, 2, 7, 4, 6, 3, 5, 2])))\n"
        "start = list(board.order)\n"
        "cost = board.run(start, restore=True)\n"
        "print(relocate(board, start, cost, Budget(None), moves=30, seed=1)[:2])\n"
    )
    root = Path(__file__).resolve().parents[1]
    found = set()
    for hash_seed in ("1", "3"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(root)}
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, cwd=root, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        found.add(done.stdout)
    assert len(found) == 1, found


def _interrupt_inside(code, call: int, line: int):
    """A tracer raising KeyboardInterrupt at the ``line``-th line event of the ``call``-th
    call of ``code``: a signal landing in the middle of a move, as Ctrl-C may."""
    calls = {"n": 0}

    def local(frame, event, arg):
        if event == "line":
            local.lines += 1
            if local.lines == line:
                raise KeyboardInterrupt
        return local

    def tracer(frame, event, arg):
        if event == "call" and frame.f_code is code:
            calls["n"] += 1
            if calls["n"] == call:
                local.lines = 0
                return local
        return None

    return tracer, calls


@pytest.mark.parametrize("where", ["make", "unmake"])
@pytest.mark.parametrize("line", [2, 5, 9])
@pytest.mark.parametrize("module_name", ["relocate", "improve"])
def test_an_interrupt_in_the_middle_of_a_move_returns_a_whole_plan(where, line, module_name):
    import sys

    from analyzer import from_sequence, plan
    from analyzer.planning import optimal as optimal_module
    from analyzer.planning.improve import DenseBoard

    code = getattr(DenseBoard, where).__code__
    tracer, calls = _interrupt_inside(code, 300, line)
    real = getattr(optimal_module, module_name)

    def traced(*args, **kwargs):  # the interrupt lands inside this local search only
        sys.settrace(tracer)
        try:
            return real(*args, **kwargs)
        finally:
            sys.settrace(None)

    g = layered_graph(40, 5, width=6, high=40)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(optimal_module, module_name, traced)
        p = plan(g, "optimal", time_limit=3.0)  # before the fix: a KeyError from undoing
    assert calls["n"] >= 300, "the local search did not run long enough to be interrupted"
    assert p.search.tried["stopped"] == "interrupted"
    assert not p.proven_optimal and p.lower_bound <= p.macs
    assert p.macs == from_sequence(g, list(p.sequence)).macs
    again = plan(g, "best-heuristic")  # nothing half-made left for the next call
    assert again.macs == from_sequence(g, list(again.sequence)).macs
