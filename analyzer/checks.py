"""Independent checks: every order gives one Jacobian, equal to central finite differences.

Examples
--------
>>> from analyzer.models import one_layer
>>> table = check(one_layer(4, 3))
>>> bool(table["ok"].all()), len(table)
(True, 9)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from .blas import available_memory
from .errors import CheckError, PlanError
from .executor import execute
from .graph import JacobianGraph
from .planning import COST_MODELS, Plan, plan
from .tables import Table

__all__ = ["check", "finite_differences"]


def finite_differences(graph: JacobianGraph, at: Any = None, step: float = 1e-6) -> np.ndarray:
    """Central finite differences of the graph's function: outputs x parameters.

    Each parameter ``θ_j`` moves by ``h_j = step · max(1, |θ_j|)``; the error is
    ``O(h²)`` plus rounding ``O(ε/h)``, about 1e-9 relative for smooth functions.
    """
    theta = graph.flatten(graph.point(at))
    columns = []
    for j in range(theta.size):
        h = step * max(1.0, abs(theta[j]))
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        columns.append((graph.function(up) - graph.function(down)) / (2 * h))
    return np.stack(columns, axis=1)


def _refuse_too_large(graph: JacobianGraph, plans: Iterable[Plan]) -> None:
    """A :class:`PlanError` before any array is made when checking needs more memory than
    is available: finite differences hold every variable twice and the Jacobian, each run
    its factors and largest products (what :func:`~analyzer.executor.execute` refuses)."""
    variables = sum(int(size) for _, size in graph.nodes(data="size"))
    jacobian = int(graph.output_size) * int(graph.parameter_size)
    needed = 8 * (3 * variables + jacobian)
    for p in plans:
        needed = max(needed, 8 * (int(p.factor_elements) + 2 * int(p.largest_intermediate)))
    if needed > available_memory():
        raise PlanError(
            f"not enough memory to check this graph: finite differences of its "
            f"{graph.parameter_size} parameters and the runs of its plans need about "
            f"{needed / 2**30:.3g} GiB; try smaller sizes"
        )


def check(
    graph: JacobianGraph,
    at: Any = None,
    *,
    orders: Sequence[str] = ("input-first", "output-first", "optimal"),
    costs: Sequence[str] = tuple(COST_MODELS),
    rtol: float = 1e-10,
    fd_tol: float = 1e-6,
    strict: bool = True,
    atol: float = 1e-12,
) -> Table:
    """Execute every order under every cost model and compare the Jacobians.

    Every Jacobian must equal the first one to ``rtol`` and central finite
    differences of the function to ``fd_tol``, both relative to the largest
    entry of the Jacobians compared (differences below ``atol`` always pass,
    so that an all-zero Jacobian can be checked), and every run's counted macs
    must equal its plan's (and its counted adds the plan's adds).

    Returns one row per (order, cost): macs planned and executed, the largest
    difference to the reference and to finite differences, and ``ok``. With
    ``strict`` (the default) a failure raises :class:`CheckError`. Before any
    array is made, a graph whose finite differences or runs need more memory than
    is available raises :class:`~analyzer.errors.PlanError`.
    """
    for name, value in (("rtol", rtol), ("fd_tol", fd_tol), ("atol", atol)):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ):
            raise CheckError(f"{name} must be a finite non-negative number, got {value!r}")
    if not isinstance(graph, JacobianGraph):
        raise CheckError(f"check needs a JacobianGraph, got {type(graph).__name__}")
    for name, value in (("orders", orders), ("costs", costs)):
        if not isinstance(value, str | Sequence | Iterator):
            raise CheckError(f"{name} is a name or a list of names, got {value!r}")
    orders = [orders] if isinstance(orders, str) else list(orders)
    costs = [costs] if isinstance(costs, str) else list(costs)
    if not orders or not costs:
        raise CheckError("check needs at least one order and one cost model")
    graph.validate()
    graph._require_numeric()
    plans = {(cost, order): plan(graph, order, cost) for cost in costs for order in orders}
    _refuse_too_large(graph, plans.values())
    fd = finite_differences(graph, at)
    rows, reference = [], None

    def relative(a: np.ndarray, b: np.ndarray) -> float:
        difference = float(np.abs(a - b).max(initial=0.0))
        if difference <= atol:
            return 0.0
        return difference / max(float(np.abs(a).max()), float(np.abs(b).max()))

    for cost in costs:
        for order in orders:
            p = plans[cost, order]
            run = execute(p, repeat=1, at=at, warmup=0, threads=None)
            if reference is None:
                reference = run.jacobian
            vs_reference = relative(run.jacobian, reference)
            vs_fd = relative(run.jacobian, fd)
            rows.append(
                {
                    "order": p.order,
                    "cost": cost,
                    "planned_macs": p.macs,
                    "executed_macs": run.macs,
                    "vs_reference": vs_reference,
                    "vs_finite_differences": vs_fd,
                    "ok": run.macs == p.macs
                    and run.adds == p.adds
                    and vs_reference <= rtol
                    and vs_fd <= fd_tol,
                }
            )
    table = Table(rows)
    if strict and not table["ok"].all():
        bad = table[~table["ok"]]
        raise CheckError(f"Jacobians or macs disagree:\n{bad.to_string(index=False)}")
    return table
