"""The numpy tracer's per-operation rules: how each call is computed and differentiated.

One entry of :data:`RULES` per numpy operation, kept apart from the tracing
mechanism (:mod:`analyzer.frontends.numpy_trace`) as HIPS/autograd keeps its
per-primitive rules apart from its tracer. An entry is a :class:`Rule`: the
numpy function that computes the value, and for each operand the structure
kind of the factor ``∂out/∂operand`` with a callable giving its stored numbers
at a point. Every callable takes ``(y, *operands)``: the operation's value and
its operands' values, in their natural shapes.

The kind of each operation is named once, in its entry, so that moving an
operation to a new structure kind is a one-line change.

Examples
--------
>>> import numpy as np
>>> rule = RULES["tanh"]
>>> x = np.array([0.0, 1.0])
>>> site = Site(shapes=((2,),), traced=(True,), params={}, out_shape=(2,))
>>> (factor,) = rule.factors(site)
>>> factor.kind, factor.numbers(np.tanh(x), x).round(3).tolist()
('diagonal', [1.0, 0.42])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from ..errors import TraceError
from ..structure import BlockDiagonal, KronIdentity

__all__ = [
    "BROADCAST",
    "MATMUL",
    "CONDITIONS",
    "NOT_DIFFERENTIABLE",
    "RULES",
    "D",
    "Factor",
    "Rule",
    "Site",
    "elementwise",
    "reduction",
    "structural",
]

#: Kind of ``∂out/∂x`` when an elementwise operation broadcasts ``x`` to a larger shape.
BROADCAST = "selection"  # a broadcast operand with a derivative (not a plain copy) is dense

#: Elementwise comparisons and logic: their only use on traced values is a branch.
CONDITIONS = frozenset(
    {
        "greater",
        "greater_equal",
        "less",
        "less_equal",
        "equal",
        "not_equal",
        "logical_and",
        "logical_or",
        "logical_not",
        "logical_xor",
        "isnan",
        "isinf",
        "isfinite",
    }
)

#: Operations with no Jacobian in this model, and why.
NOT_DIFFERENTIABLE = {
    name: "it selects one entry per slice, so its Jacobian jumps where the selected entry "
    "changes; it is not differentiable in this model"
    for name in ("max", "amax", "min", "amin", "argmax", "argmin", "sort", "argsort")
}


class Site(NamedTuple):
    """One traced call as its rule sees it while tracing: shapes, never values.

    ``traced[i]`` says whether operand ``i`` is traced (else it is a constant).
    """

    shapes: tuple[tuple[int, ...], ...]
    traced: tuple[bool, ...]
    params: Mapping[str, Any]
    out_shape: tuple[int, ...]


class Factor(NamedTuple):
    """A factor's structure kind and ``numbers(y, *operands)`` (None for identity/zero)."""

    kind: str
    numbers: Callable[..., Any] | None = None


def _positional(*operands: Any) -> tuple[tuple, dict]:
    return operands, {}


@dataclass(frozen=True)
class Rule:
    """How one numpy operation is traced.

    ``bind(*args, **kwargs)`` splits the user's call into operands (arrays, traced or
    not) and static parameters; ``forward(*operands, **params)`` computes the value
    on plain arrays; ``factors(site)`` gives one :class:`Factor` per traced operand
    (``None`` for a constant one).
    """

    forward: Callable[..., Any]
    factors: Callable[[Site], list[Factor | None]]
    bind: Callable[..., tuple[tuple, dict]] = field(default=_positional)


# ----------------------------------------------------------------------- helpers
def _size(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def _is_number(site: Site, i: int) -> bool:
    """Operand ``i`` is a constant single number (a Python or numpy scalar)."""
    return not site.traced[i] and _size(site.shapes[i]) == 1


def _scatter(rows: np.ndarray, cols: np.ndarray, data: Any, shape: tuple[int, int]) -> np.ndarray:
    """A dense matrix with ``data`` at ``(rows, cols)`` and zeros elsewhere."""
    out = np.zeros(shape)
    out[rows, cols] = data
    return out


# ---------------------------------------------------------------- elementwise
class D(NamedTuple):
    """Derivative of an elementwise operation with respect to one operand.

    ``kind`` is identity, scalar (``d`` gives one number) or diagonal (``d`` gives
    the elementwise derivative); with ``scalar_if=j`` a diagonal becomes a scalar
    factor when operand ``j`` (all that ``d`` reads) is a constant number.
    """

    kind: str
    d: Callable[..., Any] | None = None
    scalar_if: int | None = None


def _elementwise_factor(spec: D, in_shape: tuple, out_shape: tuple, site: Site) -> Factor:
    d = spec.d
    if in_shape != out_shape:  # the operand is broadcast: each entry feeds several outputs

        def copies(y: Any, *operands: Any) -> np.ndarray:
            entries = np.arange(_size(in_shape)).reshape(in_shape)
            return np.broadcast_to(entries, out_shape).ravel()

        def broadcast(y: Any, *operands: Any) -> np.ndarray:
            cols = copies(y, *operands)
            data = np.broadcast_to(d(y, *operands), out_shape).ravel()
            return _scatter(np.arange(cols.size), cols, data, (cols.size, _size(in_shape)))

        if spec.kind == "identity":  # each output entry is a copy of one input entry
            return Factor(BROADCAST, copies)
        return Factor("dense", broadcast)
    if spec.kind == "identity":
        return Factor("identity")
    if spec.kind == "scalar" or (spec.scalar_if is not None and _is_number(site, spec.scalar_if)):
        return Factor("scalar", lambda y, *ops: float(np.ravel(d(y, *ops))[0]))
    return Factor("diagonal", lambda y, *ops: np.broadcast_to(d(y, *ops), out_shape).ravel())


def elementwise(ufunc: Callable, *derivatives: D | None) -> Rule:
    """A rule for an elementwise ufunc; ``None`` marks an operand that must be constant."""

    def factors(site: Site) -> list[Factor | None]:
        out: list[Factor | None] = []
        for i, (traced, spec) in enumerate(zip(site.traced, derivatives, strict=True)):
            if not traced:
                out.append(None)
            elif spec is None:
                raise TraceError(f"operand {i + 1} must be a constant, not a traced value")
            else:
                out.append(_elementwise_factor(spec, site.shapes[i], site.out_shape, site))
        return out

    return Rule(ufunc, factors)


# ------------------------------------------------------------------- products
#: ``a @ b`` by the operands' numbers of dimensions: (kind, numbers) for ∂/∂a, then ∂/∂b.
#: Row-major flattening: ∂(A B)/∂A = I_m ⊗ Bᵀ and ∂(A B)/∂B = A ⊗ I_p.
#: An entry is a Factor, or a function of the operands' shapes giving one (kinds with parameters).
MATMUL: dict[tuple[int, int], tuple[Any, Any]] = {
    (1, 1): (
        Factor("dense", lambda y, a, b: b[None, :]),
        Factor("dense", lambda y, a, b: a[None, :]),
    ),
    (2, 1): (
        Factor("row-block", lambda y, a, b: np.broadcast_to(b, a.shape)),  # I_m ⊗ bᵀ
        Factor("dense", lambda y, a, b: a),
    ),
    (1, 2): (
        Factor("dense", lambda y, a, b: b.T),
        lambda shapes: Factor(KronIdentity(shapes[1][1]), lambda y, a, b: a[None, :]),  # aᵀ ⊗ I_p
    ),
    (2, 2): (
        lambda shapes: Factor(  # I_m ⊗ bᵀ
            BlockDiagonal(shapes[0][0]),
            lambda y, a, b: np.broadcast_to(b.T, (a.shape[0], *b.T.shape)),
        ),
        lambda shapes: Factor(KronIdentity(shapes[1][1]), lambda y, a, b: a),  # a ⊗ I_p
    ),
}


def _matmul_factors(site: Site) -> list[Factor | None]:
    ndims = tuple(len(s) for s in site.shapes)
    if ndims not in MATMUL:
        raise TraceError(
            f"products of arrays with {ndims[0]} and {ndims[1]} dimensions are not supported "
            "(vectors and matrices only)"
        )
    entries = [f if isinstance(f, Factor) else f(site.shapes) for f in MATMUL[ndims]]
    return [f if t else None for f, t in zip(entries, site.traced, strict=True)]


def _dot_factors(site: Site) -> list[Factor | None]:
    if any(len(s) == 0 for s in site.shapes):  # np.dot with a scalar multiplies
        return RULES["multiply"].factors(site)
    return _matmul_factors(site)


def _bind_two(a: Any, b: Any, out: Any = None) -> tuple[tuple, dict]:
    if out is not None:
        raise TypeError("out= is not supported")
    return (a, b), {}


# ----------------------------------------------------------------- reductions
def _bind_reduction(
    a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False, **rest
) -> tuple[tuple, dict]:
    if dtype is not None or out is not None or rest:
        given = ["dtype"] * (dtype is not None) + ["out"] * (out is not None) + sorted(rest)
        raise TypeError(f"{', '.join(given)} not supported (axis and keepdims are)")
    return (a,), {"axis": axis, "keepdims": bool(keepdims)}


def _axes(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axis = axis if isinstance(axis, tuple) else (axis,)
    return tuple(int(a) % ndim for a in axis)


def reduction(kind: str, forward: Callable, scale: Callable[[int], float]) -> Rule:
    """A sum-like reduction: each output entry is ``scale(count)`` times a sum of inputs."""

    def factors(site: Site) -> list[Factor | None]:
        (shape,) = site.shapes
        axes = _axes(site.params["axis"], len(shape))
        kept = tuple(1 if k in axes else n for k, n in enumerate(shape))
        weight = scale(_size(tuple(shape[k] for k in axes)))

        def rows(y: Any, x: Any) -> np.ndarray:  # the output entry each input entry adds into
            return np.broadcast_to(np.arange(_size(kept)).reshape(kept), shape).ravel()

        def numbers(y: Any, x: Any) -> np.ndarray:
            into = rows(y, x)
            return _scatter(into, np.arange(into.size), weight, (_size(kept), into.size))

        if kind == "summation" and weight == 1.0:
            return [Factor("summation", rows)]
        return [Factor("dense", numbers)]

    return Rule(forward, factors, _bind_reduction)


# ----------------------------------------------------------------- structural
def structural(kind: str | Callable[[Site], str], forward: Callable, bind: Callable) -> Rule:
    """An operation whose every output entry is one operand entry (or a constant's).

    Its Jacobian with respect to an operand is a 0/1 selection matrix, found by
    applying the operation itself to that operand's entry numbers (the others -1).
    ``kind`` is a kind, or a callable choosing one from the site.
    """

    def factors(site: Site) -> list[Factor | None]:
        chosen = kind(site) if callable(kind) else kind
        out: list[Factor | None] = []
        for i, traced in enumerate(site.traced):
            if not traced:
                out.append(None)
            elif chosen == "identity":
                out.append(Factor("identity"))
            else:
                numbers = _selection(forward, i, site.shapes, site.params)
                if chosen == "selection":
                    out.append(Factor("selection", numbers))
                else:
                    out.append(Factor(chosen, _as_matrix(numbers, site.shapes[i])))
        return out

    return Rule(forward, factors, bind)


def _selection(forward: Callable, i: int, shapes: tuple, params: Mapping) -> Callable:
    """The selection's numbers: for each output entry, the operand entry it copies (or -1)."""

    def numbers(y: Any, *operands: Any) -> np.ndarray:
        entries = [np.full(s, -1) for s in shapes]
        entries[i] = np.arange(_size(shapes[i])).reshape(shapes[i])
        return np.ravel(forward(*entries, **params))

    return numbers


def _as_matrix(picked: Callable, shape: tuple) -> Callable:
    """The 0/1 matrix of a selection (for an operation priced as dense)."""

    def numbers(y: Any, *operands: Any) -> np.ndarray:
        index = picked(y, *operands)
        rows = np.flatnonzero(index >= 0)
        return _scatter(rows, index[rows], 1.0, (index.size, _size(shape)))

    return numbers


def _reshape(a: Any, shape: tuple) -> np.ndarray:
    return np.reshape(a, shape)


def _bind_reshape(a: Any, shape: Any = None, order: str = "C", **rest) -> tuple[tuple, dict]:
    if "newshape" in rest:
        shape = rest.pop("newshape")
    if order != "C" or rest or shape is None:
        raise TypeError("only reshape(a, shape) in row-major order (order='C') is supported")
    return (a,), {"shape": tuple(shape) if isinstance(shape, list | tuple) else (shape,)}


def _bind_ravel(a: Any, order: str = "C") -> tuple[tuple, dict]:
    if order != "C":
        raise TypeError("only ravel in row-major order (order='C') is supported")
    return (a,), {}


def _transpose(a: Any, axes: tuple | None = None) -> np.ndarray:
    return np.transpose(a, axes)


def _bind_transpose(a: Any, axes: Any = None) -> tuple[tuple, dict]:
    return (a,), {"axes": None if axes is None else tuple(axes)}


def _transpose_kind(site: Site) -> str:
    """Identity when the axes longer than 1 keep their order (memory order unchanged)."""
    (shape,) = site.shapes
    axes = site.params["axes"]
    axes = tuple(reversed(range(len(shape)))) if axes is None else axes
    long = [k % len(shape) for k in axes if shape[k] > 1]
    return "identity" if long == sorted(long) else "selection"


def _getitem(a: Any, key: Any) -> np.ndarray:
    return a[key]


def _bind_getitem(a: Any, key: Any) -> tuple[tuple, dict]:
    return (a,), {"key": key}


def _concatenate(*arrays: Any, axis: int = 0) -> np.ndarray:
    return np.concatenate(arrays, axis=axis)


def _stack(*arrays: Any, axis: int = 0) -> np.ndarray:
    return np.stack(arrays, axis=axis)


def _bind_sequence(arrays: Any, axis: int = 0, out: Any = None, **rest) -> tuple[tuple, dict]:
    if out is not None or rest or axis is None:
        raise TypeError("only a sequence of arrays and an integer axis are supported")
    return tuple(arrays), {"axis": axis}


def _squeeze(a: Any, axis: Any = None) -> np.ndarray:
    return np.squeeze(a, axis)


def _bind_axis(a: Any, axis: Any = None) -> tuple[tuple, dict]:
    return (a,), {"axis": axis}


def _expand_dims(a: Any, axis: Any) -> np.ndarray:
    return np.expand_dims(a, axis)


# ----------------------------------------------------------------- the table

#: The rules, by numpy name (ufuncs by ``ufunc.__name__``, functions by ``__name__``;
#: ``getitem`` is indexing ``x[key]``).
RULES: dict[str, Rule] = {
    # elementwise, one operand: kind and derivative d(y, x)
    "negative": elementwise(np.negative, D("scalar", lambda y, x: -1.0)),
    "positive": elementwise(np.positive, D("identity")),
    "exp": elementwise(np.exp, D("diagonal", lambda y, x: y)),
    "log": elementwise(np.log, D("diagonal", lambda y, x: 1.0 / x)),
    "tanh": elementwise(np.tanh, D("diagonal", lambda y, x: 1.0 - y * y)),
    "sin": elementwise(np.sin, D("diagonal", lambda y, x: np.cos(x))),
    "cos": elementwise(np.cos, D("diagonal", lambda y, x: -np.sin(x))),
    "sqrt": elementwise(np.sqrt, D("diagonal", lambda y, x: 0.5 / y)),
    "square": elementwise(np.square, D("diagonal", lambda y, x: 2.0 * x)),
    "absolute": elementwise(np.absolute, D("diagonal", lambda y, x: np.sign(x))),
    "reciprocal": elementwise(np.reciprocal, D("diagonal", lambda y, x: -y * y)),
    # elementwise, two operands: kind and derivative d(y, a, b) for a, then for b
    "add": elementwise(np.add, D("identity"), D("identity")),
    "subtract": elementwise(np.subtract, D("identity"), D("scalar", lambda y, a, b: -1.0)),
    "multiply": elementwise(
        np.multiply,
        D("diagonal", lambda y, a, b: b, scalar_if=1),
        D("diagonal", lambda y, a, b: a, scalar_if=0),
    ),
    "divide": elementwise(
        np.divide,
        D("diagonal", lambda y, a, b: 1.0 / b, scalar_if=1),
        D("diagonal", lambda y, a, b: -y / b),
    ),
    "power": elementwise(np.power, D("diagonal", lambda y, a, b: b * a ** (b - 1)), None),
    "maximum": elementwise(
        np.maximum,
        D("diagonal", lambda y, a, b: np.greater_equal(a, b) * 1.0),
        D("diagonal", lambda y, a, b: np.less(a, b) * 1.0),
    ),
    "minimum": elementwise(
        np.minimum,
        D("diagonal", lambda y, a, b: np.less_equal(a, b) * 1.0),
        D("diagonal", lambda y, a, b: np.greater(a, b) * 1.0),
    ),
    # products of vectors and matrices (kinds in MATMUL)
    "matmul": Rule(np.matmul, _matmul_factors),
    "dot": Rule(np.dot, _dot_factors, _bind_two),
    # reductions
    "sum": reduction("summation", np.sum, lambda count: 1.0),
    "mean": reduction("dense", np.mean, lambda count: 1.0 / count),  # a scaled summation
    # structural; a row-major reshape is the identity on the row-major flattening
    "reshape": structural("identity", _reshape, _bind_reshape),
    "ravel": structural("identity", np.ravel, _bind_ravel),
    "squeeze": structural("identity", _squeeze, _bind_axis),
    "expand_dims": structural("identity", _expand_dims, _bind_axis),
    "transpose": structural(_transpose_kind, _transpose, _bind_transpose),
    "getitem": structural("selection", _getitem, _bind_getitem),
    "concatenate": structural("selection", _concatenate, _bind_sequence),
    "stack": structural("selection", _stack, _bind_sequence),
}
RULES["true_divide"] = RULES["divide"]
