"""A KeyboardInterrupt inside a move of the board: it propagates, or ``optimal`` returns
its best order so far with a valid bound (checked against the subset DP)."""

from __future__ import annotations

from test_planning_scale import layered_graph

from analyzer import plan


def test_an_interrupt_inside_a_move_propagates_as_an_interrupt(monkeypatch):
    """A KeyboardInterrupt that lands inside an elimination (here: after it changed the
    state, before the move was recorded) made the undo of the earlier moves fail with a
    KeyError out of ``plan`` (seen from the heuristic orders of ``optimal``); it must
    propagate as the KeyboardInterrupt, at whichever elimination it lands."""
    from analyzer.planning import board as board_module

    real = board_module.eliminate
    graph = layered_graph(14, 3)
    optimum = plan(graph, "subset-dp", time_limit=None).macs
    escaped = set()
    for landing in range(1, 40):
        calls = {"n": 0}

        def interrupted(*args, landing=landing, calls=calls, **kwargs):
            calls["n"] += 1
            step = real(*args, **kwargs)
            if calls["n"] == landing:
                raise KeyboardInterrupt
            return step

        monkeypatch.setattr(board_module, "eliminate", interrupted)
        try:
            found = plan(graph, "optimal", time_limit=0.05)
        except KeyboardInterrupt:
            continue
        except Exception as error:  # what the fix rules out
            escaped.add(type(error).__name__)
            continue
        # (stopped inside the search: the best order so far, with a valid bound)
        assert found.lower_bound <= optimum <= found.macs
    assert not escaped
