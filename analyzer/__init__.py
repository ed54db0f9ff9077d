"""analyzer: exact multiply-add counts of every association order of a Jacobian product.

>>> import analyzer
>>> analyzer.plan(analyzer.models.one_layer(10, 5), "input-first").macs
5560
"""

from . import models, primitives
from .checks import check, finite_differences
from .errors import AnalyzerError, CheckError, CycleError, GraphError, PlanError, PointError
from .executor import Execution, execute
from .graph import JacobianGraph
from .models import chain
from .planner import ALIASES, COST_MODELS, ORDERS, Plan, all_orders, compare, plan

__all__ = [
    "ALIASES",
    "COST_MODELS",
    "ORDERS",
    "AnalyzerError",
    "CheckError",
    "CycleError",
    "Execution",
    "GraphError",
    "JacobianGraph",
    "Plan",
    "PlanError",
    "PointError",
    "all_orders",
    "chain",
    "check",
    "compare",
    "execute",
    "finite_differences",
    "models",
    "plan",
    "primitives",
]
