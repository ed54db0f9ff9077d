"""Vertex elimination on a graph of factors, shared by the planner and the executor.

A state holds, for every vertex, its incoming and outgoing factors:
``pred[v][p]`` is the factor on edge ``p -> v`` and ``succ[v][s]`` the factor on
``v -> s`` (the same object). Eliminating ``v`` replaces every path
``p -> v -> s`` by the product ``J(s, v) J(v, p)``, added onto ``p -> s`` when
that edge exists. What a factor *is* (a structure kind, a numeric block, a
label) is up to the caller, who passes ``multiply`` and ``add``.

Examples
--------
>>> state = initial_state(["a", "b", "c"], [("a", "b", "B"), ("b", "c", "C")])
>>> pred, succ = eliminate(state, "b", lambda out, inn, p, v, s: f"({out} {inn})", None)
>>> succ["a"]
{'c': '(C B)'}
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any

__all__ = ["State", "initial_state", "eliminate", "final_factors"]

State = tuple[dict[Hashable, dict[Hashable, Any]], dict[Hashable, dict[Hashable, Any]]]


def initial_state(
    nodes: Iterable[Hashable], edges: Iterable[tuple[Hashable, Hashable, Any]]
) -> State:
    """A state from vertices and ``(tail, head, factor)`` edges."""
    pred: dict = {v: {} for v in nodes}
    succ: dict = {v: {} for v in pred}
    for tail, head, factor in edges:
        succ[tail][head] = factor
        pred[head][tail] = factor
    return pred, succ


def eliminate(
    state: State,
    v: Hashable,
    multiply: Callable[[Any, Any, Hashable, Hashable, Hashable], Any],
    add: Callable[[Any, Any, Hashable, Hashable], Any] | None,
) -> State:
    """The state after eliminating ``v``; the given state is left unchanged.

    ``multiply(J(s,v), J(v,p), p, v, s)`` returns the product's factor and
    ``add(existing, product, p, s)`` the sum's factor.
    """
    pred, succ = state
    preds, succs = pred[v], succ[v]
    new_pred = {k: d for k, d in pred.items() if k != v}
    new_succ = {k: d for k, d in succ.items() if k != v}
    for p in preds:
        new_succ[p] = {k: f for k, f in succ[p].items() if k != v}
    for s in succs:
        new_pred[s] = {k: f for k, f in pred[s].items() if k != v}
    for p, inner in preds.items():
        for s, outer in succs.items():
            product = multiply(outer, inner, p, v, s)
            existing = new_succ[p].get(s)
            if existing is not None:
                product = add(existing, product, p, s)
            new_succ[p][s] = product
            new_pred[s][p] = product
    return new_pred, new_succ


def final_factors(state: State) -> dict[tuple[Hashable, Hashable], Any]:
    """The remaining edges as ``{(tail, head): factor}``."""
    _, succ = state
    return {(t, h): f for t, heads in succ.items() for h, f in heads.items()}
