"""The two ends of the order space: input-first (forward, tangent) and output-first (reverse).

Both carry the cheap lower bound of :func:`~analyzer.planning.bounds.root_bound`
(``None`` when sizes are symbols), so a plan says how far from optimal it may be.
"""

from __future__ import annotations

from .bounds import root_bound
from .problem import Problem
from .search import Budget, SearchRecord, register_order

__all__ = ["input_first", "output_first"]


@register_order("input-first", "forward", "tangent")
def input_first(problem: Problem, budget: Budget) -> SearchRecord:
    """Eliminate in topological order, as forward mode pushes tangents from the inputs."""
    return SearchRecord(
        "input-first",
        list(problem.intermediates),
        lower_bound=root_bound(problem, budget.objective),
        objective=budget.objective,
    )


@register_order("output-first", "reverse", "adjoint", "backprop")
def output_first(problem: Problem, budget: Budget) -> SearchRecord:
    """Eliminate in reverse topological order, as backpropagation pulls adjoints."""
    return SearchRecord(
        "output-first",
        list(reversed(problem.intermediates)),
        lower_bound=root_bound(problem, budget.objective),
        objective=budget.objective,
    )
