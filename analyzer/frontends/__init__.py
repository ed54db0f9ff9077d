"""Front ends: what turns a user's function into a Jacobian graph.

The numpy tracer (:func:`trace`) and the JAX reader (:func:`from_jax`; jax itself is
imported only when it runs).
"""

from .jax_reader import from_jax
from .numpy_trace import TracedArray, trace

__all__ = ["TracedArray", "from_jax", "trace"]
