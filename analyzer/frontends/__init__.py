"""Front ends: what turns a user's function into a Jacobian graph (today: the numpy tracer)."""

from .numpy_trace import TracedArray, trace

__all__ = ["TracedArray", "trace"]
