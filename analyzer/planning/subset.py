"""Exact optimum over all elimination orders of a small graph: a DP over eliminated subsets.

The graph left after eliminating a set of vertices does not depend on the
order in which they were eliminated (the kind of a product does not depend on
its bracketing and products distribute over sums in kind: see
``tests/test_structure.py`` and ``tests/test_traced_kinds.py``), so the cheapest way
to reach each set extends a cheapest way to reach a set one vertex smaller.
Time and memory grow as ``2^n``: at most :data:`MAX_EXACT_INTERMEDIATES`.
Registered as ``"subset-dp"``, the oracle the exact search is tested against
(``"optimal"`` is the search of :mod:`analyzer.planning.optimal`).

>>> from analyzer.models import one_layer
>>> from analyzer.planning import plan
>>> plan(one_layer(10, 5), "subset-dp").macs
620
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from ..elimination import State, eliminate
from ..errors import PlanError
from .costs import Pricer
from .problem import Problem
from .search import Budget, SearchRecord, register_order

__all__ = ["MAX_EXACT_INTERMEDIATES", "subset_optimum", "subset_search", "OutOfTime"]

#: Largest number of intermediate variables the subset DP accepts.
MAX_EXACT_INTERMEDIATES = 20


class OutOfTime(Exception):
    """The budget ran out before the DP finished."""


def subset_optimum(
    state: State, pricer: Pricer, names: Sequence[Hashable], objective: str, budget: Budget
) -> tuple[Any, list, int]:
    """The cheapest order of ``names`` from ``state`` (left unchanged), its cost, states seen.

    :class:`OutOfTime` when the budget runs out.
    """
    n = len(names)
    layer = {0: (0, state)}
    parent: dict[int, tuple[int, int]] = {}
    states = 1
    for _ in range(n):
        best: dict[int, tuple[object, int, int]] = {}
        for mask, (cost, here) in layer.items():
            if budget.expired():
                raise OutOfTime(f"time limit of {budget.time_limit} s")
            for i in range(n):
                if mask >> i & 1:
                    continue
                candidate = cost + pricer.elimination(here, names[i], objective)
                target = mask | (1 << i)
                if target not in best or candidate < best[target][0]:
                    best[target] = (candidate, mask, i)
        next_layer = {}
        for target, (cost, mask, i) in best.items():
            parent[target] = (mask, i)
            here = layer[mask][1].copy_for(names[i])
            eliminate(here, names[i], pricer.multiply_kinds, pricer.add_kinds)
            next_layer[target] = (cost, here)
        states += len(next_layer)
        layer = next_layer
    sequence, mask = [], (1 << n) - 1
    while mask:
        mask, i = parent[mask]
        sequence.append(names[i])
    ((total, _),) = layer.values() if n else [(0, None)]
    return total, sequence[::-1], states


def subset_search(problem: Problem, budget: Budget) -> SearchRecord:
    """The proven optimum by a DP over subsets of eliminated vertices (:class:`OutOfTime`)."""
    total, sequence, states = subset_optimum(
        problem.state(), problem.pricer(), problem.intermediates, budget.objective, budget
    )
    return SearchRecord(
        "subset-dp",
        sequence,
        proven=True,
        lower_bound=total,
        objective=budget.objective,
        tried={"states": states},
        seconds=budget.elapsed(),
    )


@register_order("subset-dp")
def subset_dp(problem: Problem, budget: Budget) -> SearchRecord:
    """The subset DP itself, for graphs of at most :data:`MAX_EXACT_INTERMEDIATES` intermediates.

    Past that, or past the time limit, it is a :class:`PlanError`: plan ``"optimal"``.
    """
    if problem.symbolic:
        raise PlanError("the optimal order depends on the sizes; give numbers")
    n = len(problem.intermediates)
    if n > MAX_EXACT_INTERMEDIATES:
        raise PlanError(
            f"the subset DP takes at most {MAX_EXACT_INTERMEDIATES} intermediate variables "
            f"(time and memory grow as 2^n), this graph has {n}; plan 'optimal'"
        )
    try:
        return subset_search(problem, budget)
    except OutOfTime as reason:
        raise PlanError(f"the subset DP ran out of time ({reason}); plan 'optimal'") from None
