"""Exact search over elimination orders: depth-first branch and bound with learned bounds.

The search eliminates one vertex per level on a :class:`~analyzer.planning.board.Board`
(make/unmake: :func:`~analyzer.elimination.eliminate` and
:func:`~analyzer.elimination.undo`), and prunes with the admissible bound of
:mod:`analyzer.planning.bounds`:

- **Bounds.** ``h`` at a state is the pair bound kept move by move, or the
  larger of it and :attr:`BranchAndBound.residual` (the start's star packing
  less its terms that name an eliminated vertex,
  :mod:`~analyzer.planning.residual`) when one is set; a child's is the larger
  of the two parents' totals less the child's share.
- **Upper bound.** It starts from the cheapest heuristic order; a state whose
  cost so far plus the bound reaches it cannot lead to a cheaper order.
- **Children** are tried cheapest first by ``g + price(v) + h - share(v)``:
  ``h - share(v)`` sums the terms of the bound that do not name ``v``, which
  bound what the other vertices cost in any order that eliminates ``v`` now,
  so it is a lower bound of the child's cost to finish (and the child's bound
  is the larger of it and the one recomputed there), and a child that cannot
  win is discarded before it is made.
- **Memo (dominance).** The graph left after eliminating a set of vertices does
  not depend on their order (the subset DP's premise), so a state is its set of
  eliminated vertices, a bit mask. When a state's subtree is done, the table
  keeps a learned lower bound on what finishing from it costs: the minimum over
  its children of their price plus their own bound. A state reached again at a
  cost that this learned bound prunes is not expanded again.
- **Certificates.** A finished search proves the best order optimal (every
  state that could lead to a cheaper one was pruned by a valid bound). When
  time runs out first, the lower bound is the smallest bound still open on the
  current path: the minimum, down the stack, of each state's learned bound so
  far, its next untried child's bound (children are sorted) and the child in
  progress, never below the bound at the start. (``_pass`` also takes a
  threshold ``T`` for IDA*-style passes that would raise the certificate pass by
  pass; measured on random DAGs, halving the gap pass by pass took about three
  times the nodes of one depth-first pass to prove the optimum, and gained
  little certificate on larger graphs whose bound is flat near the start, so
  the search makes one pass with ``T`` the best order known.)
- **Memory.** The memo holds at most :data:`MEMO_LIMIT` masks (about 200 bytes
  each, under 0.5 GB); when full it is emptied and refilled (its entries only
  prune, so the search stays exact; it may revisit states). Each level of the
  stack keeps at most :data:`CHILDREN_KEPT` children (the next ones are
  listed again when needed) and one undo record (the factors its elimination
  made), so the stack grows with the depth, not with depth times width.
- **Interruption.** ``KeyboardInterrupt`` during the search stops it like a
  time limit: the best order found so far is returned, not proven, with the
  lower bound of the last finished pass and ``tried["stopped"] = "interrupted"``
  (as cotengra's anytime optimisers do; a second interrupt outside the search
  propagates as usual).

Examples
--------
>>> from analyzer.models import mlp
>>> from analyzer.planning import plan
>>> p = plan(mlp([5, 1, 7, 2, 9]), "branch-and-bound")
>>> p.proven_optimal, p.macs == plan(mlp([5, 1, 7, 2, 9]), "subset-dp").macs
(True, True)
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .board import Board
from .bounds import LowerBound
from .residual import Residual
from .search import Budget

__all__ = ["MEMO_LIMIT", "CHILDREN_KEPT", "Outcome", "BranchAndBound"]

#: Most states the memo keeps (then it is emptied and refilled).
MEMO_LIMIT = 2_000_000
#: Most children a level of the stack keeps at once (the next ones are made when needed).
CHILDREN_KEPT = 256
_CHECK_EVERY = 63  # nodes between two looks at the clock (a power of two minus one)


class _Stop(Exception):
    pass


@dataclass
class Outcome:
    """What a search found: an order, its cost, a lower bound, whether it is proven."""

    sequence: list
    cost: Any
    lower_bound: Any
    proven: bool
    tried: dict[str, Any] = field(default_factory=dict)


class BranchAndBound:
    """Branch and bound over the eliminable vertices of ``board`` (see the module docstring).

    ``upper`` is a complete order of the board's vertices with its cost (the
    first upper bound); ``bound`` must be built on the board's state.
    """

    def __init__(
        self,
        board: Board,
        bound: LowerBound,
        budget: Budget,
        upper: tuple[Any, Sequence[Hashable]],
        *,
        memo_limit: int = MEMO_LIMIT,
    ) -> None:
        self.board, self.bound, self.budget = board, bound, budget
        self.upper, self.best = upper[0], list(upper[1])
        self.bit = {v: 1 << i for i, v in enumerate(board.order)}
        self.n = len(board.order)
        self.memo: dict[int, Any] = {}
        self.memo_limit = memo_limit
        self.lower = bound.total
        self.stack: list[list] = []
        self.path: list[Hashable] = []
        self.tried = {"nodes": 0, "expanded": 0, "pruned": 0, "passes": 0, "memo emptied": 0}
        #: A :class:`~analyzer.planning.residual.Residual` on the board's vertices, or None.
        self.residual: Residual | None = None
        #: A callable ``(budget, upper, order) -> bound`` raising the certificate of this
        #: search's start state (``order``: the best known, costing ``upper``), which a
        #: schedule may call between passes (``None``: none).
        self.certify: Callable[[Any, Any, Any], Any] | None = None

    # ------------------------------------------------------------------ one pass
    def _unmake(self, saved: Any) -> None:
        """Undo the bounds' records of one move (the pair bound's, and the residual's)."""
        if self.residual is None:
            self.bound.unmake(saved)
        else:
            self.bound.unmake(saved[0])
            self.residual.unmake(saved[1])

    def _children(self, g: Any, h: Any, skip: int = 0) -> tuple[list[tuple], bool]:
        """Children ``skip`` to ``skip + CHILDREN_KEPT`` in order, and whether more follow.

        The order (by ``g + price + h - share``, then position) depends only on
        the state, so a frame asks again for the next slice when it has tried
        the one it kept: the stack holds at most ``CHILDREN_KEPT`` per level.
        """
        board, share, position = self.board, self.bound.share, self.board.position
        alive, price = board.alive, board.price
        kids = []
        residual = self.residual
        if residual is None:
            for v in board.order:
                if v in alive:
                    c = price(v)
                    kids.append((g + c + h - share[v], position[v], c, v))
        else:
            r, rest = residual.total, residual.share
            for v in board.order:
                if v in alive:
                    c = price(v)
                    other = h - share[v]
                    mine = r - rest[v]
                    kids.append((g + c + (other if other > mine else mine), position[v], c, v))
        kids.sort()
        return kids[skip : skip + CHILDREN_KEPT], skip + CHILDREN_KEPT < len(kids)

    def _pass(self, threshold: Any) -> Any:
        """Explore every state with ``g + h <= threshold``; return the root's learned bound."""
        board, bound, memo, bit, path = self.board, self.bound, self.memo, self.bit, self.path
        tried, budget, n = self.tried, self.budget, self.n
        residual = self.residual
        infinity = float("inf")
        kids, more = self._children(0, bound.total)
        # frame: mask, g, children kept, next child, learned bound, move, bound record,
        # price of the move here, children before those kept, whether more follow
        stack = self.stack = [[0, 0, kids, 0, infinity, None, None, 0, 0, more]]
        result = bound.total
        while stack:
            frame = stack[-1]
            kids, i = frame[2], frame[3]
            if i == len(kids) and frame[9]:  # the next slice of children
                frame[8] += len(kids)
                frame[2], frame[9] = self._children(frame[1], bound.total, frame[8])
                frame[3] = 0
                continue
            if i < len(kids):
                f, _, c, v = kids[i]
                g = frame[1]
                if f >= self.upper or f > threshold:  # so is every later child (sorted)
                    tried["pruned"] += len(kids) - i
                    if f - g < frame[4]:
                        frame[4] = f - g
                    frame[3], frame[9] = len(kids), False
                    continue
                tried["nodes"] += 1
                if not tried["nodes"] & _CHECK_EVERY and budget.expired():
                    raise _Stop("time limit")  # child i is still untried: _open counts it
                frame[3] = i + 1
                g2 = g + c
                mask = frame[0] | bit[v]
                learned = memo.get(mask)
                if learned is not None and (g2 + learned >= self.upper or g2 + learned > threshold):
                    tried["pruned"] += 1  # a state seen before, at no lower cost
                    if c + learned < frame[4]:
                        frame[4] = c + learned
                    continue
                move = board.make(v)
                saved = bound.make(move.step)
                if residual is not None:
                    saved = (saved, residual.make(v))
                if len(path) + 1 == n:  # a complete order
                    if g2 < self.upper:
                        self.upper, self.best = g2, [*path, v]
                    if c < frame[4]:
                        frame[4] = c
                    self._unmake(saved)
                    board.unmake(move)
                    continue
                h = bound.total
                if residual is not None and residual.total > h:
                    h = residual.total
                if f - g2 > h:  # the terms of the parent's bound that do not name v
                    h = f - g2
                if learned is not None and learned > h:
                    h = learned
                if g2 + h >= self.upper or g2 + h > threshold:
                    tried["pruned"] += 1
                    if c + h < frame[4]:
                        frame[4] = c + h
                    self._unmake(saved)
                    board.unmake(move)
                    continue
                path.append(v)
                tried["expanded"] += 1
                kids, more = self._children(g2, bound.total)
                stack.append([mask, g2, kids, 0, infinity, move, saved, c, 0, more])
                continue
            stack.pop()
            learned = frame[4]
            if learned != infinity and learned > memo.get(frame[0], -1):
                if len(memo) >= self.memo_limit:
                    memo.clear()
                    tried["memo emptied"] += 1
                memo[frame[0]] = learned
            if stack:
                parent = stack[-1]
                if frame[7] + learned < parent[4]:
                    parent[4] = frame[7] + learned
                self._unmake(frame[6])
                board.unmake(frame[5])
                path.pop()
            else:
                result = learned
        return result

    # ------------------------------------------------------------------ the search
    def solve(self) -> Outcome:
        """Search until the best order is proven or the budget runs out."""
        stopped = None
        try:
            while self.lower < self.upper:
                if self.budget.expired():
                    raise _Stop("time limit")
                self.tried["passes"] += 1
                threshold = self.upper
                root = self._pass(threshold)
                self.lower = max(self.lower, min(root, self.upper))
        except _Stop as reason:  # raised where the stack is consistent
            stopped = str(reason)
            open_bound = _open(self.stack)
            if open_bound is not None:
                self.lower = max(self.lower, min(open_bound, self.upper))
            for frame in reversed(self.stack[1:]):  # leave the state as it was
                self._unmake(frame[6])
                self.board.unmake(frame[5])
            self.stack, self.path[:] = [], []
        except KeyboardInterrupt:  # anywhere: keep the bound of the last finished pass
            stopped = "interrupted"
        if stopped is not None:
            self.tried["stopped"] = stopped
        self.tried["memo"] = len(self.memo)
        proven = self.lower >= self.upper
        return Outcome(
            self.best, self.upper, self.upper if proven else self.lower, proven, self.tried
        )


def _open(stack: list[list]) -> Any:
    """The least bound on the optimum still open on a stack of frames stopped midway.

    Each frame's bound on what finishing from its state costs is the minimum of
    what it learned from finished children, its next untried child's bound (the
    children are sorted), and the child in progress (the frame above) plus its
    price.
    """
    value, above_cost = None, 0
    for frame in reversed(stack):
        best = frame[4]
        kids, i = frame[2], frame[3]
        if i < len(kids) or frame[9]:  # the next child, or one sorted after the last kept
            nearest = kids[min(i, len(kids) - 1)][0] - frame[1]
            if nearest < best:
                best = nearest
        if value is not None and above_cost + value < best:
            best = above_cost + value
        value, above_cost = best, frame[7]
    if value is None or value == float("inf"):
        return None
    return value
