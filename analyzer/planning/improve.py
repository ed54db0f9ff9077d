"""Local search over elimination orders: better upper bounds for the exact search and its gap.

The graph left after eliminating a set of vertices does not depend on the order
in which they went (the premise of the subset DP), so the cost of an order is
a sum of segments: reordering the vertices of positions ``k .. k + w - 1``
changes only what those ``w`` eliminations cost. :func:`improve` slides such a
window along the order and replaces each window's order by the cheapest order
of its vertices from the state before it (a subset DP over ``2^w`` states, by
make/unmake on a :class:`~analyzer.planning.board.Board`), until a sweep finds
nothing cheaper (a local optimum for every window). Then, while time is left,
it perturbs the best order (a few vertices moved to random positions, a seeded
generator: the same budget and machine give the same moves) and descends
again, keeping the result when it is cheaper (iterated local search).

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
>>> sequence, cost, tried = improve(board, order, board.run(order, restore=True), Budget(None))
>>> cost, cost == board.run(sequence, restore=True)
(1256, True)
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Sequence
from typing import Any

from .board import Board, run_moves
from .search import Budget

__all__ = ["improve", "DenseBoard", "WINDOW"]

#: Vertices a window reorders exactly (a subset DP of ``2^WINDOW`` states).
WINDOW = 4


class _Stop(Exception):
    pass


class DenseBoard:
    """A board for the dense model under the ``macs`` objective: adjacency sets and summed sizes.

    Eliminating ``v`` costs ``|v|·ΣP·ΣS`` macs (``P``, ``S`` its predecessors and
    successors: every factor a full matrix), the price of
    :meth:`~analyzer.planning.costs.Pricer.elimination` under that model; kept
    here as sums updated move by move, which makes a move several times
    cheaper than on a :class:`~analyzer.planning.board.Board`. Same interface
    as a board for :func:`improve`: ``order``, ``make``, ``unmake``, ``run``,
    ``rewind``.
    """

    def __init__(self, board: Board) -> None:
        self._start(board.state, board.sizes, board.order)

    @classmethod
    def of(cls, state: Any, sizes: dict, order: Sequence[Hashable] = ()) -> DenseBoard:
        """A dense board on ``state`` itself (not changed: the board keeps sets of its own)."""
        found = cls.__new__(cls)
        found._start(state, sizes, order)
        return found

    def _start(self, state: Any, sizes: dict, order: Sequence[Hashable]) -> None:
        self.order = list(order)
        self.sizes = sizes
        self.pred = {v: set(d) for v, d in state.pred.items()}
        self.succ = {v: set(d) for v, d in state.succ.items()}
        self.into = {v: sum(sizes[p] for p in d) for v, d in self.pred.items()}
        self.out = {v: sum(sizes[s] for s in d) for v, d in self.succ.items()}

    @classmethod
    def fits(cls, board: Board) -> bool:
        """Whether a board's prices are those of this class (dense model, macs objective)."""
        return board.objective == "macs" and not board.pricer.model.keeps_structure

    def make(self, v: Hashable) -> _DenseMove:
        pred, succ, into, out, sizes = self.pred, self.succ, self.into, self.out, self.sizes
        inputs, outputs = pred.pop(v), succ.pop(v)
        size = sizes[v]
        price = size * into[v] * out[v] if inputs and outputs else 0
        for p in inputs:
            succ[p].discard(v)
            out[p] -= size
        for s in outputs:
            pred[s].discard(v)
            into[s] -= size
        added = []
        for p in inputs:
            heads, size_p = succ[p], sizes[p]
            for s in outputs:
                if s not in heads:
                    heads.add(s)
                    pred[s].add(p)
                    out[p] += sizes[s]
                    into[s] += size_p
                    added.append((p, s))
        return _DenseMove(v, price, inputs, outputs, added)

    def unmake(self, move: _DenseMove) -> None:
        pred, succ, into, out, sizes = self.pred, self.succ, self.into, self.out, self.sizes
        for p, s in move.added:
            succ[p].discard(s)
            pred[s].discard(p)
            out[p] -= sizes[s]
            into[s] -= sizes[p]
        v, size = move.vertex, sizes[move.vertex]
        for p in move.inputs:
            succ[p].add(v)
            out[p] += size
        for s in move.outputs:
            pred[s].add(v)
            into[s] += size
        pred[v], succ[v] = move.inputs, move.outputs

    def run(self, sequence: Sequence[Hashable], *, restore: bool = False) -> Any:
        return run_moves(self, sequence, restore)

    def rewind(self, moves: list) -> None:
        for move in reversed(moves):
            self.unmake(move)


class _DenseMove:
    __slots__ = ("vertex", "price", "inputs", "outputs", "added")

    def __init__(self, vertex, price, inputs, outputs, added) -> None:
        self.vertex, self.price = vertex, price
        self.inputs, self.outputs, self.added = inputs, outputs, added


def _best_order(
    board: Board | DenseBoard, segment: Sequence[Hashable], budget: Budget
) -> tuple[Any, list]:
    """The cheapest order of ``segment`` from the board's state (left as it was), and its cost.

    Ties keep the order of ``segment`` (it is tried first; only a cheaper one replaces it).
    """
    memo: dict[int, tuple[Any, tuple]] = {}
    bits = {v: 1 << i for i, v in enumerate(segment)}
    full = (1 << len(segment)) - 1

    if budget.expired():
        raise _Stop
    cost, order = _best(board, segment, bits, full, memo, 0)
    return cost, list(order)


def _best(board, segment, bits: dict, full: int, memo: dict, mask: int) -> tuple[Any, tuple]:
    """The cheapest order of what ``mask`` leaves of ``segment``, from the board's state.

    A module-level function, not a closure: a recursive closure is a reference cycle,
    which planning (with the cyclic collector paused) would never free.
    """
    if mask == full:
        return 0, ()
    found = memo.get(mask)
    if found is not None:
        return found
    result: tuple[Any, tuple] | None = None
    for v in segment:
        if mask & bits[v]:
            continue
        move = board.make(v)
        rest, tail = _best(board, segment, bits, full, memo, mask | bits[v])
        board.unmake(move)  # (not on an interrupt: see improve)
        total = move.price + rest
        if result is None or total < result[0]:
            result = (total, (v, *tail))
    memo[mask] = result  # type: ignore[assignment]
    return result  # type: ignore[return-value]


def _descend(
    board: Board | DenseBoard,
    sequence: list,
    window: int,
    budget: Budget,
    tried: dict,
    dirty: set[int] | None = None,
) -> tuple[list, Any, bool]:
    """Sweep windows along ``sequence`` until none gets cheaper or time runs out.

    ``dirty`` lists the window starts to look at first (``None``: all); a
    window is looked at again only when a change reached it (the vertices
    before a window, and so the state it starts from, are a set that only a
    change overlapping it can alter). Returns the order, its cost and whether
    time ran out (the order is then as far as the sweep got: no costlier than
    ``sequence``).
    """
    sequence = list(sequence)
    n = len(sequence)
    dirty = set(range(n)) if dirty is None else {k for k in dirty if 0 <= k < n}
    while dirty:
        later: set[int] = set()
        moves, total = [], 0
        try:
            for k in range(n):
                segment = sequence[k : k + window]
                if k in dirty and len(segment) > 1:
                    old = board.run(segment, restore=True)
                    cost, order = _best_order(board, segment, budget)
                    tried["windows"] += 1
                    if cost < old:
                        sequence[k : k + window] = order
                        dirty.update(range(k + 1, k + window))
                        later.update(range(max(k - window + 1, 0), k + 1))
                move = board.make(sequence[k])
                moves.append(move)
                total += move.price
        except _Stop:
            board.rewind(moves)
            return sequence, board.run(sequence, restore=True), True
        board.rewind(moves)
        tried["sweeps"] += 1
        dirty = later
    return sequence, board.run(sequence, restore=True), False


def _kick(sequence: list, window: int, generator: random.Random) -> tuple[list, set[int]]:
    """A few vertices moved (mostly a short way, sometimes anywhere); the windows to look at."""
    current, n = list(sequence), len(sequence)
    dirty: set[int] = set()
    for _ in range(generator.randint(1, 3)):
        i = generator.randrange(n)
        reach = n if generator.random() < 0.25 else 2 * window
        j = min(max(i + generator.randint(-reach, reach), 0), n - 1)
        current.insert(j, current.pop(i))
        dirty.update(range(min(i, j) - window, max(i, j) + window))
    return current, dirty


def improve(
    board: Board,
    sequence: Sequence[Hashable],
    cost: Any,
    budget: Budget,
    *,
    window: int = WINDOW,
    seed: int = 0,
    perturb: bool = True,
) -> tuple[list, Any, dict[str, Any]]:
    """A cheaper order of the board's vertices than ``sequence`` (of cost ``cost``), if found.

    Descends by window DPs, then (``perturb``) iterates perturbation and
    descent until ``budget`` runs out; without a time limit it stops after the
    first descent. The board is left as it was. Returns the best order, its
    cost and counts of what was tried. A ``KeyboardInterrupt`` propagates as it is,
    the board left as it stood (possibly in the middle of a move: not to be used
    again); undoing moves there would meet a half-made or half-undone move and raise
    a ``KeyError`` in place of the interrupt.
    """
    tried: dict[str, Any] = {"sweeps": 0, "windows": 0, "kicks": 0, "improved": 0}
    best, best_cost = list(sequence), cost
    if len(best) < 2:
        return best, best_cost, tried
    if isinstance(board, Board) and DenseBoard.fits(board):
        board = DenseBoard(board)  # the same prices, several times faster
    generator = random.Random(seed)
    current, current_cost, dirty = best, best_cost, None
    while True:
        found, found_cost, stopped = _descend(board, current, window, budget, tried, dirty)
        if found_cost < best_cost:
            best, best_cost = found, found_cost
            tried["improved"] += 1
        if found_cost <= current_cost:  # (a descent never costs more: walk on from it)
            current, current_cost = found, found_cost
        if stopped or not perturb or budget.time_limit is None or budget.expired():
            return best, best_cost, tried
        tried["kicks"] += 1
        current, dirty = _kick(best if generator.random() < 0.5 else current, window, generator)
        current_cost = board.run(current, restore=True)
