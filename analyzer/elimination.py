"""Vertex elimination in place, with step records that undo it; shared by planners and executor.

A :class:`State` holds, for every vertex, its incoming and outgoing factors:
``pred[v][p]`` is the factor on edge ``p -> v`` and ``succ[v][s]`` the factor on
``v -> s`` (the same object). Eliminating ``v`` replaces every path
``p -> v -> s`` by the product ``J(s, v) J(v, p)``, added onto ``p -> s`` when
that edge exists. What a factor *is* (a structure kind, a numeric block, a
label) is up to the caller, who passes ``multiply`` and ``add``.

When the state has a ``rank`` (a number per vertex: planning states rank vertices
by the order they were added to the graph), :func:`eliminate` visits ``v``'s
predecessors and successors by rank, and :meth:`State.factors` lists factors by
the ranks of their ends: the operations of an elimination, and so the memory
they hold, then depend only on the set of vertices eliminated before, not on
the order in which they were (see :mod:`analyzer.planning.memory`).

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

__all__ = ["State", "Fill", "Step", "eliminate", "undo", "visit_order"]


@dataclass
class State:
    """Factors by vertex: ``pred[v]`` maps each predecessor to its factor, ``succ[v]`` likewise.

    ``rank`` (optional) orders the vertices: eliminations visit neighbours by it.
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
        """A state from vertices and ``(tail, head, factor)`` edges."""
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
        """The remaining edges as ``{(tail, head): factor}`` (by the ranks of their ends)."""
        found = {(t, h): f for t, heads in self.succ.items() for h, f in heads.items()}
        rank = self.rank
        if rank is None:
            return found
        return dict(sorted(found.items(), key=lambda item: (rank[item[0][0]], rank[item[0][1]])))


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


def visit_order(state: State, v: Hashable) -> tuple[list[tuple], list[tuple]]:
    """``v``'s ``(predecessor, factor)`` and ``(successor, factor)`` pairs as :func:`eliminate`
    visits them: by rank when the state has ranks, else as stored."""
    inputs, outputs = state.pred[v], state.succ[v]
    rank = state.rank
    if rank is None:
        return list(inputs.items()), list(outputs.items())
    return _ranked(inputs, rank), _ranked(outputs, rank)


def _ranked(factors: dict, rank: dict) -> Any:
    if len(factors) < 2:
        return list(factors.items())
    return sorted(factors.items(), key=lambda item: rank[item[0]])


def eliminate(
    state: State,
    v: Hashable,
    multiply: Callable[[Any, Any, Hashable, Hashable, Hashable], Any],
    add: Callable[[Any, Any, Hashable, Hashable], Any] | None,
) -> Step:
    """Eliminate ``v`` from ``state`` in place; return the :class:`Step` (see :func:`undo`).

    ``multiply(J(s,v), J(v,p), p, v, s)`` returns the product's factor and
    ``add(existing, product, p, s)`` the sum's factor.
    """
    pred, succ, rank = state.pred, state.succ, state.rank
    inputs, outputs = pred.pop(v), succ.pop(v)
    for p in inputs:
        del succ[p][v]
    for s in outputs:
        del pred[s][v]
    step = Step(v, inputs, outputs)
    visit_in = inputs.items() if rank is None else _ranked(inputs, rank)
    visit_out = outputs.items() if rank is None else _ranked(outputs, rank)
    for p, inner in visit_in:
        heads = succ[p]
        for s, outer in visit_out:
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
