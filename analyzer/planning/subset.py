"""Exact optimum over all elimination orders of a small graph: a DP over eliminated subsets.

The graph left after eliminating a set of vertices does not depend on the
order in which they were eliminated (the factor kinds of a merge or product do
not depend on it either, see ``tests/test_structure.py``), so the cheapest way
to reach each set extends a cheapest way to reach a set one vertex smaller.
Time and memory grow as ``2^n``: at most :data:`MAX_EXACT_INTERMEDIATES`.
"""

from __future__ import annotations

from ..elimination import eliminate
from ..errors import PlanError
from .chain import chain_search
from .ends import input_first, output_first
from .problem import Problem
from .search import Budget, SearchRecord, register_order

__all__ = ["MAX_EXACT_INTERMEDIATES", "subset_search", "optimal"]

#: Largest number of intermediate variables the subset DP accepts.
MAX_EXACT_INTERMEDIATES = 20


class _OutOfTime(Exception):
    pass


def subset_search(problem: Problem, budget: Budget) -> SearchRecord:
    """The proven optimum by a DP over subsets of eliminated vertices."""
    names = problem.intermediates
    n = len(names)
    if n > MAX_EXACT_INTERMEDIATES:
        raise _OutOfTime(f"{n} intermediates, over the subset DP's {MAX_EXACT_INTERMEDIATES}")
    pricer = problem.pricer()
    objective = budget.objective
    layer = {0: (0, problem.state())}
    parent: dict[int, tuple[int, int]] = {}
    states = 1
    for _ in range(n):
        best: dict[int, tuple[object, int, int]] = {}
        for mask, (cost, state) in layer.items():
            if budget.expired():
                raise _OutOfTime(f"time limit of {budget.time_limit} s")
            for i in range(n):
                if mask >> i & 1:
                    continue
                candidate = cost + pricer.elimination(state, names[i], objective)
                target = mask | (1 << i)
                if target not in best or candidate < best[target][0]:
                    best[target] = (candidate, mask, i)
        next_layer = {}
        for target, (cost, mask, i) in best.items():
            parent[target] = (mask, i)
            state = layer[mask][1].copy_for(names[i])
            eliminate(state, names[i], pricer.multiply_kinds, pricer.add_kinds)
            next_layer[target] = (cost, state)
        states += len(next_layer)
        layer = next_layer
    sequence, mask = [], (1 << n) - 1
    while mask:
        mask, i = parent[mask]
        sequence.append(names[i])
    ((total, _),) = layer.values() if n else [(0, None)]
    return SearchRecord(
        "subset-dp",
        sequence[::-1],
        proven=True,
        lower_bound=total,
        objective=objective,
        tried={"states": states},
        seconds=budget.elapsed(),
    )


@register_order("optimal")
def optimal(problem: Problem, budget: Budget) -> SearchRecord:
    """The proven optimum: the interval DP on chains, the subset DP on other graphs.

    When the time limit runs out first, or the graph has more than
    :data:`MAX_EXACT_INTERMEDIATES` intermediates and is not a chain, the cheaper
    end (input-first or output-first) is returned, marked not proven, with the
    reason in ``search.tried["stopped"]``.
    """
    if problem.symbolic:
        raise PlanError(
            "the optimal order depends on the sizes; give numbers "
            "(input-first and output-first accept symbols)"
        )
    if problem.chain is not None:
        return chain_search(problem, budget)
    try:
        return subset_search(problem, budget)
    except _OutOfTime as reason:
        pricer = problem.pricer()
        ends = [input_first(problem, budget), output_first(problem, budget)]
        costs = []
        for record in ends:
            state, total = problem.state(), 0
            for v in record.sequence:
                total += pricer.elimination(state, v, budget.objective)
                eliminate(state, v, pricer.multiply_kinds, pricer.add_kinds)
            costs.append(total)
        best = ends[costs.index(min(costs))]
        best.strategy = "optimal (stopped: better end)"
        best.tried = {"stopped": str(reason)}
        best.seconds = budget.elapsed()
        return best
