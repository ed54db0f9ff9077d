"""analyzer: exact multiply-add counts of every association order of a Jacobian product.

>>> import analyzer
>>> analyzer.plan(analyzer.models.one_layer(10, 5), "input-first").macs
5560
"""

import importlib

from . import models, planning, primitives, structure
from .checks import check, finite_differences
from .errors import (
    AnalyzerError,
    CheckError,
    CycleError,
    GraphError,
    PlanError,
    PointError,
    TraceError,
)
from .executor import Execution, execute
from .frontends import from_jax, trace
from .graph import JacobianGraph
from .models import chain
from .planning import (
    ALIASES,
    COST_MODELS,
    ORDERS,
    Plan,
    all_orders,
    compare,
    from_sequence,
    pareto,
    plan,
    register_order,
)
from .structure import KINDS, Kind, register_kind, register_product, register_sum
from .tables import Table

#: Modules that load matplotlib or timing code, imported on first use (``analyzer.report``).
_LAZY = ("fit", "machine", "measure", "report", "studies")


def __getattr__(name: str):
    if name in _LAZY:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'analyzer' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "ALIASES",
    "COST_MODELS",
    "KINDS",
    "ORDERS",
    "AnalyzerError",
    "CheckError",
    "CycleError",
    "Execution",
    "GraphError",
    "JacobianGraph",
    "Kind",
    "Plan",
    "PlanError",
    "PointError",
    "Table",
    "TraceError",
    "all_orders",
    "chain",
    "check",
    "compare",
    "execute",
    "finite_differences",
    "from_jax",
    "fit",
    "from_sequence",
    "machine",
    "measure",
    "models",
    "pareto",
    "plan",
    "planning",
    "primitives",
    "register_kind",
    "register_order",
    "register_product",
    "register_sum",
    "report",
    "structure",
    "studies",
    "trace",
]
