"""The project's own exception types, all subclasses of ``ValueError``."""

from __future__ import annotations

__all__ = [
    "AnalyzerError",
    "GraphError",
    "CycleError",
    "PlanError",
    "PointError",
    "CheckError",
    "TraceError",
]


class AnalyzerError(ValueError):
    """Base class of every error raised by ``analyzer`` for bad input."""


class GraphError(AnalyzerError):
    """A Jacobian graph is malformed: sizes, shapes, roles or connectivity."""


class CycleError(GraphError):
    """A Jacobian graph has a cycle, so it describes no function."""


class PlanError(AnalyzerError):
    """An order, a cost model or an enumeration request cannot be planned."""


class PointError(AnalyzerError):
    """A point to evaluate at is malformed (wrong names, lengths or NaN values)."""


class CheckError(AnalyzerError):
    """Two computations of a Jacobian that must agree do not."""


class TraceError(AnalyzerError):
    """A function cannot be traced into a Jacobian graph (unsupported operation, branching)."""
