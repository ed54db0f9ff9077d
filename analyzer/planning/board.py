"""An elimination state whose vertices' prices are kept up to date move by move (make/unmake).

The searches and the heuristics price "eliminate ``v`` now" for many vertices
at every step. Eliminating ``w`` changes the price of few of them: under the
``macs`` objective only the neighbours of ``w`` (their factors changed); when
merges are priced too (the ``bytes`` objective, fill counts) also the vertices
``x`` with ``p -> x -> s`` for a factor ``p -> s`` the elimination created or
changed. :class:`Board` caches each price and forgets exactly those.

Examples
--------
>>> from analyzer.models import mlp
>>> from analyzer.planning.problem import Problem
>>> board = Board.of(Problem.of(mlp([2, 3, 2])))
>>> board.price("u1"), board.price("a1")  # |u1|·|W1|·|a1| = 3·6·3, |a1|·|u1|·|u2| = 3·3·2
(54, 18)
>>> move = board.make("u1")
>>> board.price("a1")  # its predecessor is now W1 (6 elements)
36
>>> board.unmake(move)
>>> board.price("a1")
18
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from ..elimination import State, Step, eliminate, undo
from ..structure import Operator
from .costs import Pricer
from .problem import Problem

__all__ = ["Board", "Move", "run_moves"]


@dataclass
class Move:
    """One elimination made on a board: the step that undoes it and the prices it forgot."""

    step: Step
    price: Any
    forgotten: dict[Hashable, Any]
    touched: list[Hashable]


class Board:
    """Factor kinds of a state, the vertices still to eliminate, and their cached prices.

    ``eliminable`` lists the vertices a strategy may eliminate (in a
    deterministic order: ties are broken by it); ``wide`` makes the board
    forget the prices of the vertices around every factor an elimination
    created or changed (needed when a price reads more than the vertex's own
    factors: merges, fill).
    """

    def __init__(
        self,
        state: State,
        pricer: Pricer,
        eliminable: Iterable[Hashable],
        objective: str = "macs",
        *,
        wide: bool | None = None,
    ) -> None:
        self.state = state
        self.pricer = pricer
        self.sizes = pricer.sizes
        self.objective = objective
        self.order = list(eliminable)
        self.position = {v: i for i, v in enumerate(self.order)}
        self.alive = set(self.order)
        if wide is None:  # a price reads p→s factors it does not own: bytes, or a merge
            # onto an operator (which first forms its matrix, priced in macs)
            wide = objective != "macs" or _has_operators(state)
        self.wide = wide
        self._prices: dict[Hashable, Any] = {}

    @classmethod
    def of(cls, problem: Problem, objective: str = "macs", **options: Any) -> Board:
        """A board at the start of ``problem`` where every intermediate may be eliminated."""
        return cls(problem.state(), problem.pricer(), problem.intermediates, objective, **options)

    def price(self, v: Hashable) -> Any:
        """What eliminating ``v`` costs now (cached until a move touches it)."""
        found = self._prices.get(v)
        if found is None:
            found = self._prices[v] = self.pricer.elimination(self.state, v, self.objective)
        return found

    def touched(self, step: Step) -> list[Hashable]:
        """The vertices still to eliminate whose price ``step`` may have changed."""
        alive = self.alive
        found = [x for x in step.inputs if x in alive]
        found += [x for x in step.outputs if x in alive]
        if self.wide and step.fills:
            pred, succ = self.state.pred, self.state.succ
            seen = set(found)
            for fill in step.fills:
                heads, tails = succ[fill.tail], pred[fill.head]
                small, large = (heads, tails) if len(heads) <= len(tails) else (tails, heads)
                for x in small:
                    if x in large and x in alive and x not in seen:
                        seen.add(x)
                        found.append(x)
        return found

    def make(self, v: Hashable) -> Move:
        """Eliminate ``v`` (in place) and forget the prices it changed."""
        price = self.price(v)
        pricer = self.pricer
        step = eliminate(self.state, v, pricer.multiply_kinds, pricer.add_kinds)
        self.alive.discard(v)
        touched = self.touched(step)
        prices = self._prices
        forgotten = {x: prices.pop(x, None) for x in touched}
        forgotten[v] = prices.pop(v, None)
        return Move(step, price, forgotten, touched)

    def unmake(self, move: Move) -> None:
        """Undo the last move not yet undone; its prices come back from the cache it kept."""
        undo(self.state, move.step)
        self.alive.add(move.step.vertex)
        prices = self._prices
        for x, value in move.forgotten.items():
            if value is None:
                prices.pop(x, None)
            else:
                prices[x] = value

    def run(self, sequence: Iterable[Hashable], *, restore: bool = False) -> Any:
        """Eliminate ``sequence`` in turn; return the summed price (``restore``: undo it all)."""
        return run_moves(self, sequence, restore)

    def rewind(self, moves: list[Move]) -> None:
        """Undo ``moves`` (made in this order, the last one last)."""
        for move in reversed(moves):
            self.unmake(move)


def _has_operators(state: State) -> bool:
    """Whether a factor of ``state`` is an operator (products with one stay operators)."""
    return any(
        isinstance(kind, Operator) for heads in state.succ.values() for kind in heads.values()
    )


def run_moves(board: Any, sequence: Iterable[Hashable], restore: bool) -> Any:
    """Make ``sequence``'s moves on ``board`` in turn; their summed price (``restore``: undone).

    An interrupt between two moves undoes the ones made, then propagates. One inside a
    move leaves the board half-changed: the undo may then fail, and the interrupt, not
    that failure, propagates (the board is not to be used again).
    """
    moves: list = []
    try:
        for v in sequence:
            moves.append(board.make(v))
    except BaseException as error:
        try:
            board.rewind(moves)
        except Exception:
            if isinstance(error, KeyboardInterrupt):
                raise error from None
            raise
        raise
    if restore:
        board.rewind(moves)
    return sum(m.price for m in moves)
