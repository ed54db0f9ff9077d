"""Planning: elimination orders, their exact costs, and the strategies that find them.

Modules, lowest first: ``costs`` (cost models, the pricer), ``search`` (the
order registry, budgets, search records), ``problem`` (what a planner reads of
a graph), ``board`` (an elimination state with prices kept up to date),
``cuts`` and ``bounds`` (lower bounds), ``plan`` (the Plan type and its step table), the
strategies (``ends``, ``heuristics``, ``chain``, ``subset``, ``reductions``,
``bnb``, ``optimal``), ``memory`` (peak memory of an order), the memory-aware searches
(``memunits``, ``memsearch``, ``memchain``, ``limited``) and ``api`` (``plan``,
``compare``, ...) with ``front`` (``pareto``).

Examples
--------
>>> from analyzer.models import one_layer
>>> g = one_layer(10, 5)
>>> plan(g, "input-first").macs, plan(g, "output-first").macs
(5560, 620)
>>> plan(one_layer("H", "N"), "backprop").formula
H**2*N + H**2 + 2*H
"""

from . import ends, heuristics, optimal, subset  # noqa: F401  (register the strategies)
from .api import MAX_ENUMERATED, all_orders, compare, from_sequence, plan
from .bounds import root_bound
from .chain import chain_optimum
from .costs import COST_MODELS, OBJECTIVES, CostModel, Pricer, check_cost, cost_model
from .front import pareto
from .plan import Plan, build_plan, exact_total
from .problem import Problem
from .search import (
    ALIASES,
    DEFAULT_TIME_LIMIT,
    HEURISTICS,
    ORDERS,
    Budget,
    SearchRecord,
    canonical_order,
    register_order,
)
from .subset import MAX_EXACT_INTERMEDIATES

__all__ = [
    "ALIASES",
    "COST_MODELS",
    "DEFAULT_TIME_LIMIT",
    "HEURISTICS",
    "MAX_ENUMERATED",
    "MAX_EXACT_INTERMEDIATES",
    "OBJECTIVES",
    "ORDERS",
    "Budget",
    "CostModel",
    "Plan",
    "Pricer",
    "Problem",
    "SearchRecord",
    "all_orders",
    "build_plan",
    "canonical_order",
    "check_cost",
    "chain_optimum",
    "compare",
    "cost_model",
    "exact_total",
    "from_sequence",
    "pareto",
    "plan",
    "register_order",
    "root_bound",
]
