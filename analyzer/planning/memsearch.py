"""Orders by macs and peak memory: a DP over eliminated subsets with (macs, peak) labels.

The memory model, its factors (:class:`~analyzer.planning.memory.Held`) and the
live totals of one elimination (:func:`~analyzer.planning.memory.transition`)
are those of :mod:`analyzer.planning.memory` (objects are born at their first
read or at their operation and die after their last read). Between
two eliminations the live objects are exactly the non-leaf factors of the
elimination state, and the state depends only on the *set* of vertices
eliminated (eliminations visit neighbours by vertex rank, see
:mod:`analyzer.elimination`), so the live total during the elimination of ``v``
from the state after a set ``S`` is a function of ``(S, v)``: a
:class:`Transition`. An order's peak is the largest over its transitions
(and the final preaccumulations, the same for every order).

:func:`layered` walks the subsets layer by layer keeping, per subset, labels
``(macs so far, peak so far)``: the Pareto set of both (the exact front), the
cheapest label whose peak stays within a limit (the exact memory-limited
optimum: a transition over the limit is forbidden), or the label of least peak.
With ``width`` it keeps only that many subsets per layer (a beam: no
optimality claim), for graphs past :data:`MAX_MEMORY_EXACT` intermediates.

>>> from analyzer.models import chain
>>> from analyzer.planning.problem import Problem
>>> labels, exact = layered(Problem.of(chain([32, 38, 32, 28])), "front")
>>> exact, [(label.macs, label.peak_bytes, label.sequence()) for label in labels]
(True, [(67584, 27648, ['v1', 'v2']), (68096, 25408, ['v2', 'v1'])])
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from ..elimination import State, eliminate
from ..errors import PlanError
from .costs import Pricer
from .memory import Held, Transition, held_callbacks, held_state, transition, visit_order
from .problem import Problem
from .search import Budget

__all__ = [
    "MAX_MEMORY_EXACT",
    "Held",
    "Label",
    "Transition",
    "OutOfTime",
    "visit_order",
    "memory_state",
    "transition",
    "advance",
    "final_peak",
    "sequence_memory",
    "layered",
    "pareto_labels",
]

#: Most intermediate variables :func:`layered` walks exhaustively (``2^n`` subsets).
MAX_MEMORY_EXACT = 14


class OutOfTime(Exception):
    """The budget ran out before the walk over subsets finished."""


@dataclass(frozen=True)
class Label:
    """An order reaching a subset: its macs and peaks so far, the label before, the vertex."""

    macs: Any
    peak_bytes: Any
    peak_elements: Any
    parent: Label | None = None
    vertex: Hashable | None = None

    def sequence(self) -> list:
        """The elimination order leading to this label."""
        found, label = [], self
        while label is not None and label.vertex is not None:
            found.append(label.vertex)
            label = label.parent
        return found[::-1]


def memory_state(problem: Problem) -> tuple[State, Pricer]:
    """The start state whose factors are :class:`~analyzer.planning.memory.Held` leaves, and
    the problem's pricer."""
    return held_state(problem), problem.pricer()


def advance(state: State, v: Hashable, pricer: Pricer, *, in_place: bool = False) -> State:
    """The state after eliminating ``v`` (a copy sharing what it does not change, or in place);
    its products are made by the memory model's callbacks (:func:`held_callbacks`)."""
    here = state if in_place else state.copy_for(v)
    multiply, add = held_callbacks(pricer)
    eliminate(here, v, multiply, add)
    return here


def final_peak(state: State, pricer: Pricer, live: tuple[Any, Any]) -> tuple[Any, Any]:
    """Peak (bytes, elements) of the final preaccumulations: the same for every order."""
    live_b, live_e = live
    peak_b = peak_e = 0
    for (t, h), factor in state.factors().items():
        shape = (pricer.sizes[h], pricer.sizes[t])
        if factor.kind.densify_macs(shape) == 0:
            continue
        if factor.leaf:
            live_b += factor.bytes
            live_e += factor.elements
        dense = shape[0] * shape[1]
        live_b += dense * pricer.itemsize(t, h)
        live_e += dense
        peak_b, peak_e = max(peak_b, live_b), max(peak_e, live_e)
        live_b -= factor.bytes
        live_e -= factor.elements
    return peak_b, peak_e


def sequence_memory(problem: Problem, sequence: Sequence[Hashable]) -> Label:
    """Macs (without final preaccumulations) and peaks of one elimination order, as a label."""
    state, pricer = memory_state(problem)
    live: tuple[Any, Any] = (0, 0)
    label = Label(0, 0, 0)
    for v in sequence:
        move = transition(state, v, pricer, live)
        label = Label(
            label.macs + move.macs,
            max(label.peak_bytes, move.peak_bytes),
            max(label.peak_elements, move.peak_elements),
            label,
            v,
        )
        live = (move.after_bytes, move.after_elements)
        advance(state, v, pricer, in_place=True)
    peak_b, peak_e = final_peak(state, pricer, live)
    return Label(
        label.macs,
        max(label.peak_bytes, peak_b),
        max(label.peak_elements, peak_e),
        label.parent,
        label.vertex,
    )


def pareto_labels(labels: list[Label]) -> list[Label]:
    """The labels no other beats on both macs and peak bytes, cheapest first (one per point)."""
    kept: list[Label] = []
    for label in sorted(labels, key=lambda x: (x.macs, x.peak_bytes)):
        if not kept or label.peak_bytes < kept[-1].peak_bytes:
            kept.append(label)
    return kept


def _reduce(labels: list[Label], mode: str, limit: Any) -> list[Label]:
    if limit is not None:
        labels = [x for x in labels if x.peak_bytes <= limit]
        if not labels:
            return []
    if mode == "front":
        return pareto_labels(labels)
    if mode == "limit":
        return [min(labels, key=lambda x: (x.macs, x.peak_bytes))]
    return [min(labels, key=lambda x: (x.peak_bytes, x.macs))]  # "peak"


def _beam(kept: dict[int, list[Label]], width: int) -> dict[int, list[Label]]:
    """``width`` subsets: half by their cheapest label, half by their least peak."""
    by_macs = sorted(kept, key=lambda t: (min(x.macs for x in kept[t]), t))
    by_peak = sorted(kept, key=lambda t: (min(x.peak_bytes for x in kept[t]), t))
    chosen = dict.fromkeys(by_macs[: (width + 1) // 2])
    for t in by_peak:
        if len(chosen) >= width:
            break
        chosen.setdefault(t)
    return {t: kept[t] for t in chosen}


def layered(
    problem: Problem,
    mode: str,
    limit: Any = None,
    budget: Budget | None = None,
    width: int | None = None,
) -> tuple[list[Label], bool]:
    """Labels of complete orders, and whether the walk was exhaustive (see the module).

    ``mode`` is ``"front"`` (the Pareto set of macs and peak bytes), ``"limit"``
    (the cheapest order whose peak is at most ``limit`` bytes) or ``"peak"``
    (the order of least peak). Label macs leave out the final preaccumulations
    (the same for every order). Raises :class:`OutOfTime` when ``budget`` runs out.
    Orders whose peak exceeds ``limit`` are dropped (an empty list: none fits).
    """
    if problem.symbolic:
        raise PlanError("peak memory of orders needs numeric sizes; give numbers")
    names = list(problem.intermediates)
    n = len(names)
    exact = width is None or width >= 2**n
    state, pricer = memory_state(problem)
    layer: dict[int, tuple[State, tuple[Any, Any], list[Label]]] = {
        0: (state, (0, 0), [Label(0, 0, 0)])
    }
    for _ in range(n):
        targets: dict[int, list[Label]] = {}
        origin: dict[int, tuple[int, int, tuple[Any, Any]]] = {}
        for mask, (here, live, labels) in layer.items():
            if budget is not None and budget.expired():
                raise OutOfTime(f"time limit of {budget.time_limit} s")
            for i in range(n):
                if mask >> i & 1:
                    continue
                move = transition(here, names[i], pricer, live)
                if limit is not None and move.peak_bytes > limit:
                    continue
                target = mask | (1 << i)
                found = targets.setdefault(target, [])
                if target not in origin:
                    origin[target] = (mask, i, (move.after_bytes, move.after_elements))
                for label in labels:
                    found.append(
                        Label(
                            label.macs + move.macs,
                            max(label.peak_bytes, move.peak_bytes),
                            max(label.peak_elements, move.peak_elements),
                            label,
                            names[i],
                        )
                    )
        kept = {t: _reduce(found, mode, limit) for t, found in targets.items()}
        kept = {t: labels for t, labels in kept.items() if labels}
        if width is not None and len(kept) > width:
            kept = _beam(kept, width)
        before, layer = layer, {}
        for target, labels in kept.items():
            mask, i, live = origin[target]
            layer[target] = (advance(before[mask][0], names[i], pricer), live, labels)
        if not layer:
            return [], exact
    ((here, live, labels),) = layer.values() if n else [(state, (0, 0), layer[0][2])]
    peak_b, peak_e = final_peak(here, pricer, live)
    done = [
        Label(x.macs, max(x.peak_bytes, peak_b), max(x.peak_elements, peak_e), x.parent, x.vertex)
        for x in labels
    ]
    return _reduce(done, mode, limit), exact
