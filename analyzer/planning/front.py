"""The macs–peak front: the orders that no other order beats on both macs and peak memory."""

from __future__ import annotations

import pandas as pd

from ..graph import JacobianGraph
from ..tables import Table
from .api import quiet_collector
from .costs import CostModel
from .limited import front_points
from .memory import human_bytes
from .memsearch import sequence_memory
from .plan import build_plan
from .problem import Problem
from .search import DEFAULT_TIME_LIMIT, Budget, SearchRecord

__all__ = ["pareto", "FRONT_COLUMNS"]

#: Columns of :func:`pareto`'s table.
FRONT_COLUMNS = [
    "macs", "peak_bytes", "peak_elements", "peak", "sequence", "bracketing", "found_by", "exact",
]  # fmt: skip


def pareto(
    graph: JacobianGraph,
    cost: str | CostModel = "dense",
    *,
    time_limit: float | None = DEFAULT_TIME_LIMIT,
) -> Table:
    """The orders no other order beats on both macs and predicted peak memory, cheapest first.

    One row per point of the front: ``macs``, ``peak_bytes`` and ``peak_elements``
    (the predicted peak of :mod:`analyzer.planning.memory`), ``peak`` (the bytes in
    binary units, as ``compare`` shows them), ``sequence`` (the elimination order), ``bracketing``,
    ``found_by`` and ``exact``. Exact (``exact`` True, ``attrs["exact"]``) on graphs
    of at most :data:`~analyzer.planning.memsearch.MAX_MEMORY_EXACT` intermediate
    variables (a walk over eliminated subsets); on longer chains from the interval
    DP over postorder schedules, on other graphs from a beam search and the
    heuristic orders (``exact`` False: points the search found, none beaten by
    another found). ``attrs["method"]`` names the search. Points tied on both
    are shown once. Sizes must be numbers. ``time_limit`` bounds the search (past
    it, the points of the orders found so far); Ctrl-C interrupts it and returns
    nothing (see :mod:`~analyzer.planning.limited`).

    >>> from analyzer.models import chain
    >>> front = pareto(chain([30, 35, 15, 5, 10, 20, 25]))
    >>> front.loc[0, "macs"], bool(front.attrs["exact"])
    (15125, True)
    """
    budget = Budget(time_limit, "macs")
    with quiet_collector():
        problem = Problem.of(graph, cost)
        found, exact, method = front_points(problem, budget)
        points = {}
        for sequence, source in found:
            label = sequence_memory(problem, sequence)
            key = (label.macs, label.peak_bytes)
            if key not in points:
                points[key] = (label, sequence, source)
        rows, lowest = [], None
        for key in sorted(points):
            label, sequence, source = points[key]
            if lowest is not None and label.peak_bytes >= lowest:
                continue
            lowest = label.peak_bytes
            p = build_plan(problem, "custom", SearchRecord(source, list(sequence)))
            rows.append(
                {
                    "macs": p.macs,
                    "peak_bytes": int(label.peak_bytes),
                    "peak_elements": int(label.peak_elements),
                    "peak": human_bytes(label.peak_bytes),
                    "sequence": ", ".join(map(str, sequence)),
                    "bracketing": p.bracketing,
                    "found_by": source,
                    "exact": exact,
                }
            )
    table = Table(rows, columns=FRONT_COLUMNS)
    table["macs"] = pd.Series([int(m) for m in table["macs"]], dtype=object)  # exact ints
    table.attrs.update({"exact": exact, "method": method, "cost": problem.cost.name})
    return table
