"""analyzer: exact multiply-add counts of every association order of a Jacobian product."""

from .errors import AnalyzerError

__all__ = ["AnalyzerError"]
