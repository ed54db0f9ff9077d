"""The planning API: plan one order, price a given sequence, compare orders, enumerate them all."""

from __future__ import annotations

import contextlib
import gc
import itertools
import math
from collections.abc import Iterator, Sequence

import numpy as np
import sympy

from ..errors import PlanError
from ..graph import JacobianGraph
from ..tables import Table
from .costs import CostModel, cost_model
from .limited import check_limit, limited_search
from .memory import human_bytes
from .memunits import parse_memory
from .plan import Plan, build_plan, summary
from .problem import Problem
from .search import DEFAULT_TIME_LIMIT, ORDERS, Budget, SearchRecord, canonical_order

__all__ = ["plan", "from_sequence", "compare", "all_orders", "MAX_ENUMERATED"]

#: Most orders :func:`all_orders` will enumerate, whatever ``limit`` asks for.
MAX_ENUMERATED = 100_000


def plan(
    graph: JacobianGraph,
    order: str = "optimal",
    cost: str | CostModel = "dense",
    *,
    time_limit: float | None = DEFAULT_TIME_LIMIT,
    objective: str = "macs",
    memory_limit: int | str | None = None,
) -> Plan:
    """Plan the Jacobian of ``graph``'s outputs with respect to its parameters.

    Parameters
    ----------
    graph : JacobianGraph
    order : a name of :data:`~analyzer.planning.search.ORDERS` ("optimal",
        "input-first", "output-first", the heuristics "markowitz", "min-fill",
        "best-heuristic", and "branch-and-bound", "subset-dp") or an alias
        ("forward", "tangent", "reverse", "adjoint", "backprop").
    cost : a name of :data:`~analyzer.planning.costs.COST_MODELS` ("dense", "structured",
        "matrix-free").
    time_limit : seconds an exact search may take (default
        :data:`~analyzer.planning.search.DEFAULT_TIME_LIMIT`, 10 s; None: no
        limit). Past it the best order found is returned with
        ``proven_optimal`` False, ``lower_bound`` (no order costs less) and ``gap``.
    objective : "macs" (default) or "bytes": what an exact search minimises.
    memory_limit : bytes (an int) or text such as ``"2 GB"`` or ``"512 MiB"`` (decimal
        and binary units, see :mod:`~analyzer.planning.memunits`): with "optimal", the
        cheapest order whose predicted peak memory is within it (exact on small graphs;
        see :mod:`~analyzer.planning.limited`); with any other order, its plan is
        checked against it. A :class:`PlanError` when no order fits (it names the
        smallest peak reached) or the order's plan does not.

    Ctrl-C (``KeyboardInterrupt``) during the exact search stops it and returns the
    best order found so far, not proven, with ``search.tried["stopped"] ==
    "interrupted"`` (see :mod:`analyzer.planning.bnb`); elsewhere it propagates
    (with ``memory_limit``: see :mod:`~analyzer.planning.limited`).

    >>> from analyzer.models import chain
    >>> p = plan(chain([25, 20, 10, 5, 15, 35, 30]))
    >>> p.macs, p.bracketing, p.proven_optimal
    (15125, '((J6 (J5 J4)) ((J3 J2) J1))', True)
    """
    name = canonical_order(order)
    budget = Budget(time_limit, objective)
    limit = None if memory_limit is None else parse_memory(memory_limit)
    with quiet_collector():
        problem = Problem.of(graph, cost)
        if limit is not None and name == "optimal":
            return build_plan(problem, name, limited_search(problem, budget, limit))
        record = ORDERS[name](problem, budget)
        if limit is not None:
            check_limit(problem, name, record.sequence, limit)
        return build_plan(problem, name, record)


@contextlib.contextmanager
def quiet_collector() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while planning (restored after, even on errors).

    Planning builds many small dicts and tuples and frees them by reference
    counting; the collector's passes over a large graph's objects took a third
    of the time of planning a 4,000-variable graph. It runs again afterwards.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def from_sequence(
    graph: JacobianGraph,
    sequence: Sequence[str],
    cost: str | CostModel = "dense",
    order: str = "custom",
) -> Plan:
    """The plan that eliminates the intermediate variables in the given sequence.

    Useful to price, with symbolic sizes, an order found at numeric sizes.

    >>> from analyzer.models import one_layer
    >>> from_sequence(one_layer("H", "N"), ["y", "z", "u"]).formula
    H**2*N + H**2 + 2*H
    """
    problem = Problem.of(graph, cost)
    if isinstance(sequence, str) or not isinstance(sequence, Sequence | Iterator):
        raise PlanError(f"a sequence is a list of variable names, got {sequence!r}")
    sequence = list(sequence)
    if len(sequence) != len(problem.intermediates) or set(sequence) != set(problem.intermediates):
        raise PlanError(
            f"a sequence must eliminate each intermediate variable once: "
            f"{', '.join(problem.intermediates)}; got {', '.join(map(str, sequence))}"
        )
    return build_plan(problem, order, SearchRecord(order, sequence))


def compare(
    graph: JacobianGraph,
    cost: str | CostModel = "dense",
    orders: Sequence[str] | None = None,
    *,
    time_limit: float | None = DEFAULT_TIME_LIMIT,
) -> Table:
    """One row per order: order, macs, vs_best, largest_intermediate, peak, peak_bytes, cost,
    bracketing.

    ``vs_best`` is macs over the cheapest order's macs. ``peak`` is the predicted
    peak memory as text with its unit, in bytes (binary units: ``1 KiB = 1024 B``),
    and ``peak_bytes`` the exact count (see :mod:`analyzer.planning.memory`). With
    symbolic sizes the optimal order is left out (it depends on the sizes), ``macs``
    holds the exact polynomial, ``leading_term`` replaces ``vs_best`` and ``peak``
    gives the peak in elements (``"... elements"``). ``time_limit`` is what
    each exact search may take, as in :func:`plan`.

    >>> from analyzer.models import one_layer
    >>> compare(one_layer(10, 5))[["order", "macs", "vs_best"]]
              order  macs  vs_best
    0   input-first  5560     8.97
    1  output-first   620     1.00
    2       optimal   620     1.00
    """
    cost_model(cost)
    if not isinstance(graph, JacobianGraph):
        raise PlanError(f"expected a JacobianGraph, got {type(graph).__name__}")
    symbolic = graph.is_symbolic
    if isinstance(orders, str):
        orders = [orders]
    if orders is None:
        orders = ["input-first", "output-first"] + ([] if symbolic else ["optimal"])
    if not isinstance(orders, Sequence | Iterator):
        raise PlanError(f"orders is a list of order names, got {orders!r}")
    orders = list(orders)
    if not orders:
        raise PlanError(f"give at least one order; valid orders: {', '.join(ORDERS)}")
    Budget(time_limit)  # a bad time_limit is refused before any planning
    plans = [plan(graph, o, cost, time_limit=time_limit) for o in orders]
    rows = [
        {
            "order": p.order,
            "macs": p.formula if symbolic else p.macs,
            "vs_best": None,
            "largest_intermediate": p.largest_intermediate,
            "peak": f"{p.peak_formula} elements" if symbolic else human_bytes(p.peak_bytes),
            "peak_bytes": p.peak_bytes,
            "leading_term": p.leading_term,
            "cost": p.cost,
            "bracketing": p.bracketing,
        }
        for p in plans
    ]
    table = Table(rows)
    if symbolic:
        return table.drop(columns="vs_best")
    table["macs"] = table["macs"].astype(object)
    best = min(table["macs"])
    table["vs_best"] = [
        round(m / best, 2) if best else (1.0 if m == 0 else float("inf")) for m in table["macs"]
    ]
    return table.drop(columns="leading_term")


def _catalan(n: int) -> int:
    return math.comb(2 * n, n) // (n + 1)


def _bracketings(lo: int, hi: int) -> list[list[int]]:
    """Every elimination sequence (post-order) of a bracketing of vertices lo..hi (inclusive)."""
    if lo > hi:
        return [[]]
    found = []
    for k in range(lo, hi + 1):  # vertex k eliminated last
        for left in _bracketings(lo, k - 1):
            for right in _bracketings(k + 1, hi):
                found.append(left + right + [k])
    return found


def all_orders(graph: JacobianGraph, cost: str | CostModel = "dense", limit: int = 10_000) -> Table:
    """Every distinct bracketing (chains) or elimination order (other graphs), with its macs.

    Rows are sorted by macs (cheapest first). Raises :class:`PlanError` when the
    number of orders exceeds ``limit`` (at most :data:`MAX_ENUMERATED`).

    >>> from analyzer.models import chain
    >>> all_orders(chain([30, 35, 15, 5]))[["bracketing", "macs"]]
         bracketing   macs
    0  ((J3 J2) J1)   7875
    1  (J3 (J2 J1))  18000
    """
    if isinstance(limit, bool) or not isinstance(limit, int | np.integer) or limit < 1:
        raise PlanError(f"limit must be a positive integer, got {limit!r}")
    if limit > MAX_ENUMERATED:
        raise PlanError(
            f"limit must be at most {MAX_ENUMERATED} (every order is held in memory); "
            f"got {limit}. Plan 'optimal' to find the best order of a larger graph"
        )
    problem = Problem.of(graph, cost)
    if problem.chain is not None:
        count = _catalan(len(problem.intermediates))
        kind = "bracketings"
    else:
        count = math.factorial(len(problem.intermediates))
        kind = "elimination orders"
    if count > limit:
        raise PlanError(
            f"{count} {kind} exceed the limit of {limit}; raise limit= or plan 'optimal'"
        )
    if problem.chain is not None:
        inner = problem.chain[1:-1]
        sequences = [[inner[k] for k in seq] for seq in _bracketings(0, len(inner) - 1)]
    else:
        sequences = [list(s) for s in itertools.permutations(problem.intermediates)]
    rows = []
    for sequence in sequences:
        macs, largest, bracketing = summary(problem, sequence)
        rows.append(
            {
                "sequence": ", ".join(sequence),
                "bracketing": bracketing,
                "macs": sympy.sympify(macs) if problem.symbolic else int(macs),
                "largest_intermediate": largest,
            }
        )
    table = Table(rows)
    if not problem.symbolic:
        table = table.sort_values("macs", kind="stable").reset_index(drop=True)
    return table
