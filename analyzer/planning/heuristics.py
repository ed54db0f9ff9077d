"""Greedy elimination orders: markowitz, min-fill, and the best of the fast orders.

Each greedy order repeatedly eliminates the vertex with the smallest score
now. Scores live in a heap with lazy invalidation: after eliminating ``w``
only the vertices whose score may have changed (see
:class:`~analyzer.planning.board.Board`) are pushed again with a new version,
and stale entries are skipped when popped, so an order takes about
``O((V + E) log V)`` time on a sparse graph rather than re-pricing the whole
graph at every step. Ties go to the vertex first in topological order.

- ``markowitz``: the vertex whose elimination costs least now (the objective
  under the plan's cost model, priced by :meth:`Pricer.elimination`).
- ``min-fill``: the vertex whose elimination creates the fewest new factor
  elements (stored elements of factors it creates, plus the growth of the
  factors it adds onto), ties broken by cost.
- ``best-heuristic``: the cheapest of the registered heuristics and of
  input-first and output-first.

None claims optimality; every one reports the cheap lower bound of
:func:`~analyzer.planning.bounds.root_bound`, so the plan says how far from
optimal it may be.

Examples
--------
>>> from analyzer.models import mlp
>>> from analyzer.planning import plan
>>> g = mlp([8, 2, 8, 2, 8])
>>> [plan(g, o).macs for o in ("input-first", "output-first", "markowitz", "min-fill")]
[3840, 2368, 2880, 1312]
>>> p = plan(g, "best-heuristic")
>>> p.macs, p.search.tried["chosen"], p.lower_bound <= plan(g, "optimal").macs == 1256
(1312, 'min-fill', True)
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from ..errors import PlanError
from .board import Board
from .bounds import root_bound
from .problem import Problem, symbols_note
from .search import HEURISTICS, ORDERS, Budget, SearchRecord, register_order

__all__ = [
    "GREEDY",
    "greedy",
    "markowitz",
    "min_fill",
    "best_heuristic",
    "candidates",
    "fill_elements",
    "markowitz_order",
    "min_fill_order",
    "sequence_cost",
]


def fill_elements(board: Board, v: Hashable) -> Any:
    """Elements of the factors eliminating ``v`` creates, plus the growth of those it adds onto."""
    state, pricer, sizes = board.state, board.pricer, board.sizes
    total = 0
    for p, inner in state.pred[v].items():
        heads = state.succ[p]
        for s, outer in state.succ[v].items():
            result = pricer.product(outer, inner, p, v, s).result
            shape = (sizes[s], sizes[p])
            existing = heads.get(s)
            if existing is None:
                total += result.stored(shape)
            else:
                merged = pricer.merge(existing, result, p, s).result
                grown = merged.stored(shape) - existing.stored(shape)
                if grown > 0:
                    total += grown
    return total


def greedy(
    board: Board, score: Callable[[Board, Hashable], Any], *, restore: bool = False
) -> tuple[list, Any]:
    """Eliminate every vertex of ``board`` by smallest ``score``; return the order and its cost.

    ``restore`` undoes the eliminations at the end (the board is as it was).
    """
    position = board.position
    version = dict.fromkeys(board.order, 0)
    heap = [(score(board, v), position[v], v, 0) for v in board.order]
    heapq.heapify(heap)
    alive = board.alive
    sequence, moves, total = [], [], 0
    while heap:
        _, _, v, seen = heapq.heappop(heap)
        if v not in alive or version[v] != seen:
            continue
        move = board.make(v)
        total += move.price
        sequence.append(v)
        if restore:
            moves.append(move)
        for x in move.touched:
            version[x] += 1
            heapq.heappush(heap, (score(board, x), position[x], x, version[x]))
    board.rewind(moves)
    return sequence, total


def _markowitz_score(board: Board, v: Hashable) -> Any:
    return board.price(v)


def _fill_score(board: Board, v: Hashable) -> Any:
    return (fill_elements(board, v), board.price(v))


def _numbers(problem: Problem, name: str) -> None:
    if problem.symbolic:
        raise PlanError(
            f"{name} compares costs, which depend on the sizes; give numbers "
            f"({symbols_note(problem)})"
        )


def _record(problem: Problem, budget: Budget, name: str, sequence: list, cost: Any) -> SearchRecord:
    return SearchRecord(
        name,
        sequence,
        lower_bound=root_bound(problem, budget.objective),
        objective=budget.objective,
        tried={"cost": cost},
        seconds=budget.elapsed(),
    )


def sequence_cost(problem: Problem, sequence: Sequence[Hashable], objective: str = "macs") -> Any:
    """What eliminating ``sequence`` costs under the problem's cost model (by the pricer)."""
    return Board.of(problem, objective).run(sequence)


def markowitz_order(problem: Problem, objective: str = "macs") -> tuple[list, Any]:
    """The markowitz order of ``problem`` and its cost."""
    return greedy(Board.of(problem, objective), _markowitz_score)


def min_fill_order(problem: Problem, objective: str = "macs") -> tuple[list, Any]:
    """The min-fill order of ``problem`` and its cost."""
    return greedy(Board.of(problem, objective, wide=True), _fill_score)


#: How each heuristic finds its order: name -> f(problem, objective) -> (order, cost).
GREEDY: dict[str, Callable[[Problem, str], tuple[list, Any]]] = {
    "markowitz": markowitz_order,
    "min-fill": min_fill_order,
}


@register_order("markowitz", heuristic=True)
def markowitz(problem: Problem, budget: Budget) -> SearchRecord:
    """Eliminate the vertex that costs least now, again and again."""
    _numbers(problem, "markowitz")
    return _record(problem, budget, "markowitz", *markowitz_order(problem, budget.objective))


@register_order("min-fill", heuristic=True)
def min_fill(problem: Problem, budget: Budget) -> SearchRecord:
    """Eliminate the vertex that creates the fewest new factor elements, again and again."""
    _numbers(problem, "min-fill")
    return _record(problem, budget, "min-fill", *min_fill_order(problem, budget.objective))


def candidates(problem: Problem, budget: Budget) -> list[tuple[str, list, Any]]:
    """``(name, order, cost)`` of every registered heuristic, input-first and output-first."""
    found = []
    for name in [*HEURISTICS, "input-first", "output-first"]:
        if name in GREEDY:
            sequence, cost = GREEDY[name](problem, budget.objective)
        else:
            sequence = list(ORDERS[name](problem, budget).sequence)
            cost = sequence_cost(problem, sequence, budget.objective)
        found.append((name, sequence, cost))
    return found


@register_order("best-heuristic")
def best_heuristic(problem: Problem, budget: Budget) -> SearchRecord:
    """The cheapest of the registered heuristics, input-first and output-first (first of equals)."""
    _numbers(problem, "best-heuristic")
    found = candidates(problem, budget)
    name, sequence, cost = min(found, key=lambda item: item[2])
    record = _record(problem, budget, "best-heuristic", sequence, cost)
    record.tried["chosen"] = name
    record.tried["costs"] = {n: c for n, _, c in found}
    return record
