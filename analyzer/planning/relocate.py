"""Large-neighbourhood search over elimination orders: several vertices moved at once, exactly.

The graph left after eliminating a set of vertices does not depend on the order
in which they went (the premise of the subset DP), so the cost of an order is a
sum over segments whose vertex sets are kept: a *span* of ``L`` consecutive
positions costs what its ``L`` eliminations cost from the state before it, and
reordering it changes nothing before or after it. :func:`relocate` picks a
span and ``k`` of its vertices (neighbours of a random vertex in the graph, or
random ones: a seeded generator), keeps the relative order of the others, and
finds the cheapest way to interleave the ``k`` freed vertices with them: a DP
over ``(how many kept vertices went, which freed vertices went)``, at most
``(L - k + 1)·2^k`` states, each priced by make/unmake on a board. The new span
replaces the old one when it is cheaper. After :data:`STALL` moves per vertex
without a cheaper order, the best order is perturbed (a few vertices moved, as
in :mod:`~analyzer.planning.improve`) and the moves go on from there, the best
order kept (iterated local search). Window descent
(:mod:`~analyzer.planning.improve`) reorders ``w`` consecutive vertices; this
moves each of ``k`` vertices anywhere within ``L`` positions, jointly.

Every order it returns is a complete order of the board's vertices whose cost
was summed from the pricer, like any other; it never claims optimality.

Examples
--------
>>> from analyzer.models import mlp
>>> from analyzer.planning.board import Board
>>> from analyzer.planning.problem import Problem
>>> from analyzer.planning.search import Budget
>>> board = Board.of(Problem.of(mlp([8, 2, 8, 2, 8])))
>>> order = list(board.order)  # input-first: 3840 macs
>>> sequence, cost, tried = relocate(board, order, board.run(order, restore=True),
...                                  Budget(0.5), span=8, free=3)
>>> cost, cost == board.run(sequence, restore=True)  # 1256: the optimum
(1256, True)
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Sequence
from typing import Any

from .board import Board
from .improve import DenseBoard, _kick
from .search import Budget

__all__ = ["relocate", "SPAN", "FREE"]

#: Positions a move may reorder (the span).
SPAN = 30
#: Vertices of a span freed to go anywhere in it (the DP has ``(SPAN - FREE + 1)·2^FREE`` states).
FREE = 5
#: Moves (times the number of vertices) without a cheaper order before the best one is kicked.
STALL = 3
_CHECK_EVERY = 1023  # DP states between two looks at the clock


class _Stop(Exception):
    pass


class _Interleave:
    """The cheapest interleaving of ``free`` (any order) with ``kept`` (its order kept)."""

    def __init__(self, board: Any, kept: list, free: list, budget: Budget) -> None:
        self.board, self.kept, self.free, self.budget = board, kept, free, budget
        self.full = (1 << len(free)) - 1
        self.memo: dict[int, tuple[Any, tuple]] = {}
        self.states = 0

    def best(self, j: int, mask: int) -> tuple[Any, tuple]:
        """The cheapest way to finish from ``j`` kept and ``mask`` freed vertices gone."""
        kept, free, full = self.kept, self.free, self.full
        if j == len(kept) and mask == full:
            return 0, ()
        key = j << len(free) | mask
        found = self.memo.get(key)
        if found is not None:
            return found
        self.states += 1
        if not self.states & _CHECK_EVERY and self.budget.expired():
            raise _Stop
        board = self.board
        result: tuple[Any, tuple] | None = None
        if j < len(kept):  # the next kept vertex first: ties keep the old order
            move = board.make(kept[j])
            try:
                rest, tail = self.best(j + 1, mask)
            except _Stop:  # out of time: undo (not on an interrupt, see relocate)
                board.unmake(move)
                raise
            board.unmake(move)
            result = (move.price + rest, (kept[j], *tail))
        for i, v in enumerate(free):
            bit = 1 << i
            if mask & bit:
                continue
            move = board.make(v)
            try:
                rest, tail = self.best(j, mask | bit)
            except _Stop:
                board.unmake(move)
                raise
            board.unmake(move)
            total = move.price + rest
            if result is None or total < result[0]:
                result = (total, (v, *tail))
        self.memo[key] = result  # type: ignore[assignment]
        return result  # type: ignore[return-value]


def _choose(
    segment: list, free: int, near: dict[Hashable, list], generator: random.Random
) -> list[Hashable]:
    """``free`` vertices of ``segment``: grown from a random one along the graph, or random."""
    if generator.random() < 0.3:
        return generator.sample(segment, free)
    inside = set(segment)
    chosen = [generator.choice(segment)]
    frontier = list(chosen)
    while len(chosen) < free and frontier:
        x = frontier.pop(generator.randrange(len(frontier)))
        for y in near[x]:
            if y in inside and y not in chosen and len(chosen) < free:
                chosen.append(y)
                frontier.append(y)
    rest = [x for x in segment if x not in chosen]
    chosen += generator.sample(rest, free - len(chosen))
    return chosen


def relocate(
    board: Board,
    sequence: Sequence[Hashable],
    cost: Any,
    budget: Budget,
    *,
    span: int = SPAN,
    free: int = FREE,
    seed: int = 0,
    moves: int | None = None,
) -> tuple[list, Any, dict[str, Any]]:
    """A cheaper order of the board's vertices than ``sequence`` (of cost ``cost``), if found.

    Tries span moves (module docstring) until ``budget`` runs out, or after
    ``moves`` moves (default without a time limit: 4 per vertex). The board is
    left as it was. Returns the best order, its cost and counts of what was tried.
    A ``KeyboardInterrupt`` propagates as it is, the board left as it stood (possibly
    in the middle of a move: not to be used again); undoing moves there would meet a
    half-made or half-undone move and raise a ``KeyError`` in place of the interrupt.
    """
    tried: dict[str, Any] = {"moves": 0, "states": 0, "improved": 0, "kicks": 0}
    best, best_cost = list(sequence), cost
    n = len(best)
    span = min(span, n)
    free = min(free, span)
    if n < 2 or free < 2:
        return best, best_cost, tried
    if moves is None and budget.time_limit is None:
        moves = 4 * n
    if isinstance(board, Board) and DenseBoard.fits(board):
        board = DenseBoard(board)  # the same prices, several times faster
    state = board.state if isinstance(board, Board) else board
    # neighbours in the board's order, not a set's: the moves must not depend on string
    # hashing (PYTHONHASHSEED), which changes from one process to the next
    position = {v: i for i, v in enumerate(board.order)}
    near = {
        v: sorted(
            {y for y in (*state.pred[v], *state.succ[v]) if y in position},
            key=position.__getitem__,
        )
        for v in best
    }
    generator = random.Random(seed)
    current, current_cost, stalled = list(best), best_cost, 0
    while moves is None or tried["moves"] < moves:
        if budget.expired():
            break
        if stalled >= STALL * n:  # a local optimum for these moves: kick the best order
            current, _ = _kick(best, 2, generator)
            current_cost, stalled = board.run(current, restore=True), 0
            tried["kicks"] += 1
        start = generator.randrange(n - span + 1)
        segment = current[start : start + span]
        chosen = _choose(segment, free, near, generator)
        kept = [v for v in segment if v not in chosen]
        done = []
        try:
            for v in current[:start]:
                done.append(board.make(v))
            old = board.run(segment, restore=True)
            search = _Interleave(board, kept, chosen, budget)
            try:
                found, order = search.best(0, 0)
            finally:
                tried["states"] += search.states
        except _Stop:
            board.rewind(done)
            break
        board.rewind(done)
        tried["moves"] += 1
        stalled += 1
        if found < old:
            current[start : start + span] = order
            current_cost = current_cost - old + found
            stalled = 0
            if current_cost < best_cost:
                best, best_cost = list(current), current_cost
                tried["improved"] += 1
    return best, best_cost, tried
