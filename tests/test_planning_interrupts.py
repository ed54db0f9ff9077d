"""A KeyboardInterrupt between two moves of a local search propagates as itself."""

from __future__ import annotations

import pytest
from test_planning_scale import layered_graph

from analyzer.planning import Budget, Problem
from analyzer.planning import improve as improve_module
from analyzer.planning.board import Board


@pytest.mark.parametrize("model", ["dense", "structured"])
def test_an_interrupt_in_a_window_descent_propagates_as_itself(model, monkeypatch):
    """Interrupting the n-th move, for every n, raises KeyboardInterrupt (a board left
    half-run raised KeyError from the descent's undo before). The local searches leave the
    board as it stood on an interrupt (not to be used again: see improve), so each try
    gets a fresh one."""
    problem = Problem.of(layered_graph(10, 3), model)
    order = list(problem.intermediates)
    cls = improve_module.DenseBoard if model == "dense" else Board
    real = cls.make
    outcomes = set()
    for n in range(1, 160, 2):
        board = Board.of(problem)
        cost = board.run(order, restore=True)
        calls = [0]

        def make(self, v, n=n, calls=calls):
            calls[0] += 1
            if calls[0] == n:
                raise KeyboardInterrupt
            return real(self, v)

        monkeypatch.setattr(cls, "make", make)
        try:
            improve_module.improve(board, order, cost, Budget(None), perturb=False)
        except KeyboardInterrupt:
            outcomes.add("interrupted")
        else:
            outcomes.add("finished")
        monkeypatch.setattr(cls, "make", real)
    assert "interrupted" in outcomes


def test_an_undo_that_fails_after_an_interrupt_still_gives_the_best_plan(monkeypatch):
    """An interrupt inside a move's unmake leaves the board halfway and the undo on the way
    out raises KeyError while handling it: optimal returns its best plan, not proven, as for
    the interrupt itself (the KeyError escaped plan() before)."""
    from analyzer import from_sequence, plan
    from analyzer.planning import optimal as optimal_module

    def broken(*args, **kwargs):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise KeyError("v3") from None

    graph = layered_graph(30, 4)
    monkeypatch.setattr(optimal_module, "improve", broken)
    found = plan(graph, "optimal", time_limit=5.0)
    assert not found.proven_optimal and found.search.tried["stopped"] == "interrupted"
    assert found.lower_bound <= found.macs == from_sequence(graph, found.sequence).macs

    def failing(*args, **kwargs):  # any other error still propagates
        raise KeyError("v3")

    monkeypatch.setattr(optimal_module, "improve", failing)
    with pytest.raises(KeyError):
        plan(graph, "optimal", time_limit=5.0)
