"""Memory-limited plans and the macs–peak front: which search runs where, and its certificate.

``plan(graph, "optimal", memory_limit=...)`` and :func:`front_points` pick:

- at most :data:`~analyzer.planning.memsearch.MAX_MEMORY_EXACT` intermediate
  variables: the walk over eliminated subsets of :mod:`~analyzer.planning.memsearch`,
  exact (the cheapest order within the limit, proven; the whole front);
- a longer chain: first the exact unconstrained chain DP (half the time left);
  if its order fits the limit it is the answer, proven. Otherwise the interval
  DP over postorder schedules of :mod:`~analyzer.planning.memchain` (no
  optimality claim unless the order found costs the unconstrained optimum);
  when the time limit ends it, the cheapest fitting one of the unconstrained
  search's order (the optimum, or the best greedy order when it too ran out),
  the greedy orders, input-first and output-first;
- any other graph: the unconstrained optimum if it fits, the heuristic orders,
  and a beam over subsets (:data:`BEAM_WIDTH` subsets per layer), the cheapest
  that fits (no optimality claim unless it costs the unconstrained optimum).

The certificate of a memory-limited plan: ``lower_bound`` is the unconstrained
optimum's lower bound (no order, within the limit or not, costs less), so
``proven_optimal`` is True when the search was exact or the order found costs
that much. When no order fits, a :class:`~analyzer.errors.PlanError` names the
smallest peak any order reaches (exact searches), or the smallest peak found
and a peak no order goes below (chains).

Every stage spends the caller's budget (``time_limit``), never a fixed one; past
it, what was found so far is priced and the cheapest fitting order returned
(the time taken is the limit plus the pricing of a handful of orders). The
front (:func:`front_points`) does the same: on a long chain it runs the
unconstrained DP first (its optimum is a point of the front), then the interval
DP; out of time, the front of the orders at hand.

Ctrl-C (``KeyboardInterrupt``): inside the unconstrained optimum's search it
stops that search as in ``optimal`` (its best order so far stays a candidate)
and the memory-limited search goes on; anywhere else (the subset walk, the
interval DP, the beam, the pricing) it is not caught: it interrupts the
planning and no plan is returned. Give a ``time_limit`` to stop early with the
best order found.

Other strategies given ``memory_limit`` (``input-first``, the heuristics, ...)
plan as usual and their plan is checked against the limit: over it, a
:class:`~analyzer.errors.PlanError` names the plan's peak.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from ..errors import PlanError
from .memchain import OutOfTime as ChainOutOfTime
from .memchain import interval_front, peak_lower_bound
from .memory import human_bytes
from .memsearch import MAX_MEMORY_EXACT, OutOfTime, layered, sequence_memory
from .problem import Problem
from .search import HEURISTICS, ORDERS, Budget, SearchRecord

__all__ = ["BEAM_WIDTH", "limited_search", "front_points", "check_limit", "chain_keep"]

#: Subsets per layer the beam keeps on graphs past exact reach.
BEAM_WIDTH = 64


def chain_keep(n: int, front: bool) -> int:
    """Points per interval the chain DP keeps: fewer on long chains (work grows as n³·keep²)."""
    if front:
        return 8 if n <= 80 else 4
    return 4 if n <= 60 else (3 if n <= 120 else 2)


def _shown(count: Any) -> str:
    return f"{int(count)} bytes ({human_bytes(count)})"


def _unconstrained(problem: Problem, budget: Budget) -> SearchRecord:
    left = budget.left()
    share = None if left is None else max(left / 2, 1e-3)
    return ORDERS["optimal"](problem, Budget(share, "macs"))


def _record(
    method: str, sequence: list, macs: Any, peak: Any, limit: Any, proven: bool, lower: Any,
    budget: Budget, tried: dict | None = None,
) -> SearchRecord:  # fmt: skip
    found = {"method": method, "memory_limit": int(limit), "peak_bytes": int(peak), "cost": macs}
    found.update(tried or {})
    return SearchRecord(
        "optimal (memory limit)",
        list(sequence),
        proven=proven,
        lower_bound=macs if proven else lower,
        objective="macs",
        tried=found,
        seconds=budget.elapsed(),
    )


def _none_fits(limit: Any, least: Any, exact: bool, floor: Any = None) -> PlanError:
    """The error when no order fits; ``floor`` is a peak no order goes below (if known)."""
    if exact or (floor is not None and floor == least):
        return PlanError(
            f"no elimination order fits the memory limit of {_shown(limit)}: the smallest peak "
            f"any order reaches is {_shown(least)}"
        )
    if floor is not None and floor > limit:
        return PlanError(
            f"no elimination order fits the memory limit of {_shown(limit)}: every order peaks "
            f"at {_shown(floor)} or more (the smallest peak found is {_shown(least)})"
        )
    below = f"; no order peaks below {_shown(floor)}" if floor is not None else ""
    return PlanError(
        f"no elimination order found within the memory limit of {_shown(limit)} (the search "
        f"is not exhaustive on this graph): the smallest peak found is {_shown(least)}{below}"
    )


def limited_search(problem: Problem, budget: Budget, limit: int) -> SearchRecord:
    """The cheapest order found whose predicted peak is at most ``limit`` bytes (see the module)."""
    if problem.symbolic:
        raise PlanError("a memory limit needs numeric sizes; give numbers")
    if budget.objective != "macs":
        raise PlanError("a memory limit is planned for the macs objective only")
    n = len(problem.intermediates)
    if n <= MAX_MEMORY_EXACT:
        try:
            labels, _ = layered(problem, "limit", limit, budget)
            if not labels:
                (least,), _ = layered(problem, "peak", None, budget)
                raise _none_fits(limit, least.peak_bytes, exact=True)
        except OutOfTime:
            pass
        else:
            best = labels[0]
            return _record(
                "subset-dp", best.sequence(), best.macs, best.peak_bytes, limit, True, best.macs,
                budget, {"states": 2**n},
            )  # fmt: skip
    if problem.chain is not None:
        return _chain_search(problem, budget, limit)
    return _graph_search(problem, budget, limit)


def _priced(problem: Problem, named: list[tuple[str, list]], limit: int) -> tuple[Any, Any]:
    """The cheapest fitting one of ``named`` (label, sequence, name) or None; the least peak."""
    best, least = None, None
    for name, sequence in named:
        label = sequence_memory(problem, sequence)
        least = label.peak_bytes if least is None else min(least, label.peak_bytes)
        if label.peak_bytes <= limit and (best is None or label.macs < best[0].macs):
            best = (label, sequence, name)
    return best, least


def _heuristic_orders(problem: Problem, budget: Budget) -> list[tuple[str, list]]:
    """The greedy orders, input-first and output-first (fast; they do not look at the clock)."""
    names = [*HEURISTICS, "input-first", "output-first"]
    return [(name, list(ORDERS[name](problem, budget).sequence)) for name in names]


def _chain_search(problem: Problem, budget: Budget, limit: int) -> SearchRecord:
    record = _unconstrained(problem, budget)  # the exact chain DP when it finishes in time
    lower = record.lower_bound
    if record.proven:  # the unconstrained optimum fits: nothing within the limit is cheaper
        label = sequence_memory(problem, record.sequence)
        if label.peak_bytes <= limit:
            return _record(
                "chain-dp (the unconstrained optimum fits)", record.sequence, label.macs,
                label.peak_bytes, limit, True, label.macs, budget,
            )  # fmt: skip
    keep = chain_keep(len(problem.chain) - 1, front=False)
    try:
        points = interval_front(problem, keep, limit, budget)
    except ChainOutOfTime:  # out of time: the best fitting of the orders at hand
        named = [("optimal", list(record.sequence)), *_heuristic_orders(problem, budget)]
        best, least = _priced(problem, named, limit)
        if best is None:
            raise _none_fits(limit, least, exact=False, floor=peak_lower_bound(problem)) from None
        label, sequence, name = best
        proven = lower is not None and label.macs == lower
        return _record(
            f"heuristics ({name}; interval DP out of time)", sequence, label.macs,
            label.peak_bytes, limit, proven, lower, budget, {"stopped": "time limit"},
        )  # fmt: skip
    if not points:
        least = min(p.peak_bytes for p in interval_front(problem, keep, None, None))
        raise _none_fits(limit, least, exact=False, floor=peak_lower_bound(problem))
    best = points[0]
    return _record(
        "interval-dp (postorder schedules)", best.sequence, best.macs, best.peak_bytes, limit,
        best.macs == lower, lower, budget, {"intervals": (len(problem.chain) - 1) ** 2 // 2},
    )  # fmt: skip


def _candidates(problem: Problem, budget: Budget) -> tuple[list[tuple[str, list]], Any]:
    """Orders worth pricing on a large graph: the unconstrained optimum and the heuristics."""
    record = _unconstrained(problem, budget)
    return [
        ("optimal", list(record.sequence)),
        *_heuristic_orders(problem, budget),
    ], record.lower_bound


def _graph_search(problem: Problem, budget: Budget, limit: int) -> SearchRecord:
    candidates, lower = _candidates(problem, budget)
    best, _ = _priced(problem, candidates, limit)
    try:
        labels, _ = layered(problem, "limit", limit, budget, width=BEAM_WIDTH)
    except OutOfTime:
        labels = []
    if labels and (best is None or labels[0].macs < best[0].macs):
        best = (labels[0], labels[0].sequence(), "beam")
    if best is None:
        try:
            (least,), _ = layered(problem, "peak", None, budget, width=BEAM_WIDTH)
            peak = least.peak_bytes
        except (OutOfTime, ValueError):
            peak = min(sequence_memory(problem, s).peak_bytes for _, s in candidates)
        peak = min([peak] + [sequence_memory(problem, s).peak_bytes for _, s in candidates])
        raise _none_fits(limit, peak, exact=False)
    label, sequence, name = best
    proven = lower is not None and label.macs == lower
    return _record(
        f"beam and heuristics ({name})", sequence, label.macs, label.peak_bytes, limit, proven,
        lower, budget, {"width": BEAM_WIDTH},
    )  # fmt: skip


def check_limit(problem: Problem, order: str, sequence: list[Hashable], limit: int) -> None:
    """A clear error when the order ``order``'s plan peaks over ``limit`` bytes."""
    if problem.symbolic:
        raise PlanError("a memory limit needs numeric sizes; give numbers")
    peak = sequence_memory(problem, sequence).peak_bytes
    if peak > limit:
        raise PlanError(
            f"the {order} order peaks at {_shown(peak)}, over the memory limit of "
            f"{_shown(limit)}; plan 'optimal' with this memory_limit for the cheapest order "
            f"within it"
        )


def front_points(problem: Problem, budget: Budget) -> tuple[list[tuple[list, str]], bool, str]:
    """Orders on the macs–peak front (cheapest first), whether exact, and the method used."""
    if problem.symbolic:
        raise PlanError("the macs-peak front needs numeric sizes; give numbers")
    n = len(problem.intermediates)
    if n <= MAX_MEMORY_EXACT:
        try:
            labels, _ = layered(problem, "front", None, budget)
        except OutOfTime:
            pass
        else:
            return [(x.sequence(), "subset-dp") for x in labels], True, "subset-dp"
    if problem.chain is not None:
        record = _unconstrained(problem, budget)  # the exact chain DP when it finishes in time
        named = [("optimal", list(record.sequence))]
        try:
            points = interval_front(problem, chain_keep(n + 1, front=True), None, budget)
        except ChainOutOfTime:  # out of time: the orders at hand
            named += _heuristic_orders(problem, budget)
            return [(s, name) for name, s in named], False, "orders at hand (out of time)"
        found = [(p.sequence, "interval-dp") for p in points]
        return found + [(s, name) for name, s in named], False, "interval-dp"
    candidates, _ = _candidates(problem, budget)
    try:
        labels, _ = layered(problem, "front", None, budget, width=BEAM_WIDTH)
    except OutOfTime:
        labels = []
    found = [(x.sequence(), "beam") for x in labels] + [(s, name) for name, s in candidates]
    return found, False, "beam and heuristics"
