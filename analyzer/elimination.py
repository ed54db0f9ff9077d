"""Vertex elimination in place, with step records that undo it; shared by planners and executor.

A :class:`State` holds, for every vertex, its incoming and outgoing factors:
``pred[v][p]`` is the factor on edge ``p -> v`` and ``succ[v][s]`` the factor on
``v -> s`` (the same object). Eliminating ``v`` replaces every path
``p -> v -> s`` by the product ``J(s, v) J(v, p)``, added onto ``p -> s`` when
that edge exists. What a factor *is* (a structure kind, a numeric block, a
label) is up to the caller, who passes ``multiply`` and ``add``.

:func:`eliminate` changes the state in place and returns a :class:`Step`: the
factors it consumed, and for each product the factor it replaced (if any) and
the one it left. Its work grows with the factors it touches, not with the
graph; :func:`undo` restores the state exactly (make/unmake moves for search).

Examples
--------
>>> state = State.of(["a", "b", "c"], [("a", "b", "B"), ("b", "c", "C")])
>>> step = eliminate(state, "b", lambda out, inn, p, v, s: f"({out} {inn})", None)
>>> state.succ["a"], [f.result for f in step.fills]
({'c': '(C B)'}, ['(C B)'])
>>> undo(state, step)
>>> state.succ["a"], state.succ["b"]
({'b': 'B'}, {'c': 'C'})
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["State", "Fill", "Step", "eliminate", "undo"]


@dataclass
class State:
    """Factors by vertex: ``pred[v]`` maps each predecessor to its factor, ``succ[v]`` likewise.

    ``rank`` (optional) numbers the vertices: when given, :func:`eliminate` forms its
    products and :meth:`factors` lists the edges in that order, so what happens while
    eliminating ``v`` depends on the state's factors only, not on the order in which
    earlier eliminations added them (the premise of the exact memory searches).
    """

    pred: dict[Hashable, dict[Hashable, Any]]
    succ: dict[Hashable, dict[Hashable, Any]]
    rank: dict[Hashable, int] | None = None

    @classmethod
    def of(
        cls,
        nodes: Iterable[Hashable],
        edges: Iterable[tuple[Hashable, Hashable, Any]],
        rank: dict[Hashable, int] | None = None,
    ) -> State:
        """A state from vertices and ``(tail, head, factor)`` edges (``rank``: see the class)."""
        pred: dict = {v: {} for v in nodes}
        succ: dict = {v: {} for v in pred}
        for tail, head, factor in edges:
            succ[tail][head] = factor
            pred[head][tail] = factor
        return cls(pred, succ, rank)

    def copy(self) -> State:
        """An independent copy (the factors themselves are shared)."""
        return State(
            {v: dict(d) for v, d in self.pred.items()},
            {v: dict(d) for v, d in self.succ.items()},
            self.rank,
        )

    def copy_for(self, v: Hashable) -> State:
        """A copy to eliminate ``v`` in: it shares every table that eliminating ``v`` leaves alone.

        Much cheaper than :meth:`copy` in a search that branches on many states.
        """
        pred, succ = dict(self.pred), dict(self.succ)
        for p in pred[v]:
            succ[p] = dict(succ[p])
        for s in succ[v]:
            pred[s] = dict(pred[s])
        return State(pred, succ, self.rank)

    def factors(self) -> dict[tuple[Hashable, Hashable], Any]:
        """The remaining edges as ``{(tail, head): factor}`` (by rank of tail, then head)."""
        rank = self.rank
        if rank is None:
            return {(t, h): f for t, heads in self.succ.items() for h, f in heads.items()}
        return {
            (t, h): heads[h]
            for t, heads in sorted(self.succ.items(), key=lambda item: rank[item[0]])
            for h in sorted(heads, key=rank.__getitem__)
        }


@dataclass
class Fill:
    """One product of an elimination: ``product = J(s, v) J(v, p)``; ``result`` is what edge
    ``p -> s`` holds after it (``product``, or ``replaced + product`` when ``p -> s`` existed)."""

    tail: Hashable
    head: Hashable
    product: Any
    replaced: Any
    result: Any


@dataclass
class Step:
    """What eliminating ``vertex`` did: the factors it consumed and the fills it made."""

    vertex: Hashable
    inputs: dict[Hashable, Any]
    outputs: dict[Hashable, Any]
    fills: list[Fill] = field(default_factory=list)


def eliminate(
    state: State,
    v: Hashable,
    multiply: Callable[[Any, Any, Hashable, Hashable, Hashable], Any],
    add: Callable[[Any, Any, Hashable, Hashable], Any] | None,
) -> Step:
    """Eliminate ``v`` from ``state`` in place; return the :class:`Step` (see :func:`undo`).

    ``multiply(J(s,v), J(v,p), p, v, s)`` returns the product's factor and
    ``add(existing, product, p, s)`` the sum's factor. The products run for each
    predecessor ``p``, for each successor ``s``: in the state's ``rank`` order when it
    has one, else in the order the factors were added.
    """
    pred, succ = state.pred, state.succ
    inputs, outputs = pred.pop(v), succ.pop(v)
    for p in inputs:
        del succ[p][v]
    for s in outputs:
        del pred[s][v]
    step = Step(v, inputs, outputs)
    rank = state.rank
    tails = inputs if rank is None else sorted(inputs, key=rank.__getitem__)
    ahead = outputs if rank is None else sorted(outputs, key=rank.__getitem__)
    for p in tails:
        inner, heads = inputs[p], succ[p]
        for s in ahead:
            outer = outputs[s]
            product = multiply(outer, inner, p, v, s)
            replaced = heads.get(s)
            result = product if replaced is None else add(replaced, product, p, s)
            heads[s] = result
            pred[s][p] = result
            step.fills.append(Fill(p, s, product, replaced, result))
    return step


def undo(state: State, step: Step) -> None:
    """Restore the state as it was before ``step`` (the last elimination not yet undone)."""
    pred, succ = state.pred, state.succ
    for fill in reversed(step.fills):
        if fill.replaced is None:
            del succ[fill.tail][fill.head]
            del pred[fill.head][fill.tail]
        else:
            succ[fill.tail][fill.head] = fill.replaced
            pred[fill.head][fill.tail] = fill.replaced
    v = step.vertex
    pred[v], succ[v] = step.inputs, step.outputs
    for p, factor in step.inputs.items():
        succ[p][v] = factor
    for s, factor in step.outputs.items():
        pred[s][v] = factor
