"""Building blocks of network-like functions: each adds a variable and its Jacobian factors.

Every model in :mod:`analyzer.models` is written with these functions, and so
can yours. Each primitive takes the graph, the new variable's name and the
names of its inputs, adds the variable (with how to compute it) and one factor
per input (with its structure kind and how to compute it), and returns the name.

Examples
--------
A one-hidden-layer network with a bias-free linear read-out, ``z = a · tanh(W x)``:

>>> import numpy as np
>>> from analyzer.graph import JacobianGraph
>>> g = JacobianGraph()
>>> x = constant(g, "x", np.ones(3))
>>> W = parameter(g, "W", (2, 3), value=np.full((2, 3), 0.1))
>>> a = parameter(g, "a", 2, value=np.array([1.0, -1.0]))
>>> h = activation(g, "h", linear(g, "u", W, x), "tanh")
>>> z = weighted_sum(g, "z", a, h, output=True)
>>> g.validate().function().round(6).tolist()
[0.0]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import GraphError
from .graph import JacobianGraph

__all__ = [
    "ACTIVATIONS",
    "parameter",
    "constant",
    "linear",
    "matmul",
    "fixed_linear",
    "activation",
    "weighted_sum",
    "add",
    "squared_norm",
]


def _sigmoid(t: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * t))


#: Elementwise activations: name -> (function, derivative).
ACTIVATIONS: dict[str, tuple[Callable, Callable]] = {
    "tanh": (np.tanh, lambda t: 1.0 - np.tanh(t) ** 2),
    "sigmoid": (_sigmoid, lambda t: _sigmoid(t) * (1.0 - _sigmoid(t))),
    "sin": (np.sin, np.cos),
    "softplus": (lambda t: np.logaddexp(0.0, t), _sigmoid),
    "identity": (lambda t: t, np.ones_like),
}


def _role(output: bool) -> str:
    return "output" if output else "intermediate"


def _shape(g: JacobianGraph, name: str) -> tuple:
    if name not in g:
        raise GraphError(f"unknown variable {name!r}")
    return g.nodes[name]["shape"]


def parameter(g: JacobianGraph, name: str, shape: Any, value: Any = None) -> str:
    """Add a parameter (a vector of ``shape`` entries, or a matrix of ``shape=(rows, cols)``)."""
    shape = tuple(shape) if isinstance(shape, tuple | list) else (shape,)
    g.add_variable(name, role="parameter", shape=shape, value=value)
    return name


def constant(g: JacobianGraph, name: str, value: Any = None, shape: Any = None) -> str:
    """Add a constant input (held fixed, never differentiated); give a value or a shape."""
    if shape is None:
        if value is None:
            raise GraphError(f"constant {name!r} needs a value or a shape")
        shape = np.shape(value)
    shape = tuple(shape) if isinstance(shape, tuple | list) else (shape,)
    g.add_variable(name, role="constant", shape=shape, value=value)
    return name


def matmul(g: JacobianGraph, name: str, left: str, right: str, *, output: bool = False) -> str:
    """``C = A B`` for a matrix variable ``A`` (m x k) and a matrix or vector ``B``.

    Flattened row-major, ``∂C/∂A = I_m ⊗ Bᵀ`` (a row-block factor when ``B`` is
    a vector) and ``∂C/∂B = A ⊗ I_n``.
    """
    a_shape, b_shape = _shape(g, left), _shape(g, right)
    if len(a_shape) != 2 or len(b_shape) not in (1, 2) or a_shape[1] != b_shape[0]:
        raise GraphError(
            f"cannot multiply {left!r} of shape {a_shape} by {right!r} of shape {b_shape}"
        )
    shape = (a_shape[0],) + tuple(b_shape[1:])
    g.add_variable(name, role=_role(output), shape=shape, evaluate=lambda v: v[left] @ v[right])
    if len(b_shape) == 1:
        rows = a_shape[0]
        g.add_factor(
            left, name, "row-block", lambda v: np.broadcast_to(v[right], (rows, v[right].size))
        )
        g.add_factor(right, name, "dense", lambda v: v[left])
    else:
        m, n = a_shape[0], b_shape[1]
        g.add_factor(left, name, "dense", lambda v: np.kron(np.eye(m), v[right].T))
        g.add_factor(right, name, "dense", lambda v: np.kron(v[left], np.eye(n)))
    return name


def linear(g: JacobianGraph, name: str, matrix: str, vector: str, *, output: bool = False) -> str:
    """``u = W x`` with a matrix variable ``W`` (usually a parameter) and a vector ``x``.

    ``∂u/∂W`` is the row-block factor ``I_H ⊗ xᵀ`` and ``∂u/∂x = W``.
    """
    if len(_shape(g, vector)) != 1:
        raise GraphError(f"linear needs a vector input, {vector!r} has shape {_shape(g, vector)}")
    return matmul(g, name, matrix, vector, output=output)


def fixed_linear(
    g: JacobianGraph,
    name: str,
    vector: str,
    matrix: Any = None,
    *,
    rows: Any = None,
    output: bool = False,
) -> str:
    """``u = A x`` with a fixed matrix ``A`` (not a variable); the factor is ``A``, dense.

    Give the matrix; or ``rows`` and a zero-argument callable making the matrix
    (values made lazily); or, for symbolic sizes, ``rows`` alone.
    """
    if len(_shape(g, vector)) != 1:
        raise GraphError(f"fixed_linear needs a vector input, {vector!r} is a matrix")
    (cols,) = _shape(g, vector)
    if matrix is not None and not callable(matrix):
        fixed = np.asarray(matrix, dtype=float)
        if fixed.ndim != 2 or fixed.shape[1] != cols:
            raise GraphError(
                f"matrix of shape {fixed.shape} cannot multiply {vector!r} of size {cols}"
            )
        rows = fixed.shape[0]

        def make() -> np.ndarray:
            return fixed

    elif rows is None:
        raise GraphError(f"fixed_linear {name!r} needs a matrix or a number of rows")
    elif matrix is None:  # symbolic sizes: the graph can be planned, never evaluated

        def make() -> np.ndarray:
            raise GraphError(f"fixed_linear {name!r} has no matrix to evaluate")

    else:
        make = matrix
    g.add_variable(name, role=_role(output), shape=(rows,), evaluate=lambda v: make() @ v[vector])
    g.add_factor(vector, name, "dense", lambda v: make())
    return name


def activation(
    g: JacobianGraph, name: str, vector: str, function: str = "tanh", *, output: bool = False
) -> str:
    """``y = f(u)`` elementwise; the factor is ``diag(f'(u))``.

    ``function`` is one of :data:`ACTIVATIONS`.
    """
    if not isinstance(function, str) or function not in ACTIVATIONS:
        raise GraphError(
            f"unknown activation {function!r}; valid activations: {', '.join(ACTIVATIONS)}"
        )
    f, df = ACTIVATIONS[function]
    g.add_variable(
        name, role=_role(output), shape=_shape(g, vector), evaluate=lambda v: f(v[vector])
    )
    g.add_factor(vector, name, "diagonal", lambda v: df(np.ravel(v[vector])))
    return name


def weighted_sum(
    g: JacobianGraph, name: str, weights: str, vector: str, *, output: bool = False
) -> str:
    """``z = wᵀ y`` (a scalar); the factors are ``yᵀ`` and ``wᵀ``, dense ``1 x H``."""
    if _shape(g, weights) != _shape(g, vector) or len(_shape(g, vector)) != 1:
        raise GraphError(
            f"weighted_sum needs two vectors of the same size, got {_shape(g, weights)} "
            f"and {_shape(g, vector)}"
        )
    g.add_variable(name, role=_role(output), shape=(1,), evaluate=lambda v: v[weights] @ v[vector])
    g.add_factor(weights, name, "dense", lambda v: v[vector][None, :])
    g.add_factor(vector, name, "dense", lambda v: v[weights][None, :])
    return name


def add(
    g: JacobianGraph, name: str, a: str, b: str, *, sign: float = 1.0, output: bool = False
) -> str:
    """``c = a + sign · b``; the factors are the identity and ``sign · I`` (a scalar factor)."""
    if _shape(g, a) != _shape(g, b):
        raise GraphError(
            f"cannot add {a!r} of shape {_shape(g, a)} and {b!r} of shape {_shape(g, b)}"
        )
    g.add_variable(
        name, role=_role(output), shape=_shape(g, a), evaluate=lambda v: v[a] + sign * v[b]
    )
    g.add_factor(a, name, "identity")
    if sign == 1.0:
        g.add_factor(b, name, "identity")
    else:
        g.add_factor(b, name, "scalar", lambda v: sign)
    return name


def squared_norm(g: JacobianGraph, name: str, vector: str, *, output: bool = False) -> str:
    """``f = ½ ‖r‖²`` (a scalar); the factor is ``rᵀ``, dense ``1 x m``."""
    g.add_variable(
        name, role=_role(output), shape=(1,), evaluate=lambda v: 0.5 * np.sum(v[vector] ** 2)
    )
    g.add_factor(vector, name, "dense", lambda v: np.ravel(v[vector])[None, :])
    return name
