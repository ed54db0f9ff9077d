"""The JAX reader's per-primitive table: which shared numpy rule reads each lax primitive.

A lax primitive is read by the rule of the numpy operation it computes (from
:data:`analyzer.frontends.numpy_rules.RULES`), so the two front ends give the
same factors, with the same structure kinds, for the same operation; when a
kind changes there, it changes here. An entry of :data:`PRIMITIVES` turns a
jaxpr equation's operands and parameters into ``(rule, operands, params)``
for that rule; only ``logistic``, ``broadcast_in_dim`` (when its result is
used by something other than an elementwise operation) and the ``dot_general``
contractions that are not vector/matrix products need rules of their own,
built with the same helpers. Nothing here imports jax: :func:`jvp_vjp_map` is
handed the module.

Matrix-free reading (``from_jax(..., matrix_free=True)``) keeps each factor's
structure kind only to count its partial derivatives: :func:`partials` is the
``e`` of the ``operator[e]`` factor that replaces it (see its docstring), and
:func:`jvp_vjp_map` is the operator itself, applied by ``jax.jvp`` and ``jax.vjp``.

Examples
--------
>>> rule, operands, params = PRIMITIVES["integer_pow"](("x",), ((4,),), {"y": 3})
>>> rule is RULES["power"], operands, params
(True, ('x', 3), {})
>>> matrix_vector = {"dimension_numbers": (([1], [0]), ([], []))}
>>> PRIMITIVES["dot_general"](("W", "x"), ((3, 2), (2,)), matrix_vector)[0] is RULES["matmul"]
True
>>> broadcast_view((4,), (2, 4), (1,)), broadcast_view((2,), (2, 1), (0,))
((1, 4), (2, 1))
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from scipy.special import expit

from ..errors import TraceError
from ..structure import LinearMap, kind_of, sum_rule
from .numpy_rules import MATMUL, RULES, D, Factor, Rule, Site, elementwise

__all__ = [
    "BROADCAST_IN_DIM",
    "DOT_GENERAL",
    "ELEMENTWISE",
    "VECTORS_PER_CALL",
    "FOLDED",
    "INLINED",
    "LOGISTIC",
    "PRIMITIVES",
    "Binding",
    "broadcast_view",
    "jvp_vjp_map",
    "x64",
    "partials",
    "supported",
]

#: What an entry of :data:`PRIMITIVES` gives: the rule, its operands and its parameters.
Binding = tuple[Rule, tuple, dict]
#: An entry: ``(operands, operand shapes, equation params) -> Binding``.
Entry = Callable[[tuple, tuple, Mapping[str, Any]], Binding]

#: Call-like primitives whose sub-jaxpr is read in place (recursively), by the parameter
#: holding it.
INLINED: dict[str, tuple[str, ...]] = {
    "pjit": ("jaxpr",),
    "jit": ("jaxpr",),
    "closed_call": ("call_jaxpr",),
    "core_call": ("call_jaxpr",),
    "custom_jvp_call": ("call_jaxpr",),
    "custom_vjp_call": ("call_jaxpr", "fun_jaxpr"),
    "custom_vjp_call_jaxpr": ("fun_jaxpr", "call_jaxpr"),
    "remat": ("jaxpr",),
    "remat2": ("jaxpr",),
    "checkpoint": ("jaxpr",),
}

#: Primitives whose Jacobian is the identity on the row-major flattening and that numpy
#: code does not spell: the result is the operand itself (no variable). A float-to-float
#: ``convert_element_type`` only changes the precision JAX computes in.
FOLDED = frozenset({"convert_element_type", "copy", "copy_p"})


def _logistic(x: Any) -> np.ndarray:
    return expit(x)


#: ``logistic`` (``jax.nn.sigmoid``): numpy has no ufunc for it, the derivative is ``y(1-y)``.
LOGISTIC = elementwise(_logistic, D("diagonal", lambda y, x: y * (1.0 - y)))


def _broadcast_to(x: Any, shape: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(x, shape)


#: A ``broadcast_in_dim`` whose result feeds something other than an elementwise operation:
#: numpy's broadcast of an elementwise operand (the operand given in its
#: :func:`broadcast_view` shape), so its kind is the elementwise rules' ``BROADCAST``.
BROADCAST_IN_DIM = elementwise(_broadcast_to, D("identity"))


def broadcast_view(
    shape: tuple[int, ...], out_shape: tuple[int, ...], dimensions: tuple[int, ...]
) -> tuple[int, ...]:
    """The operand of ``broadcast_in_dim`` reshaped to the rank of its result.

    Axis ``k`` of the operand becomes axis ``dimensions[k]`` (increasing); the other
    axes have length 1. It is a reshape (the identity on the row-major flattening),
    and numpy broadcasts it to ``out_shape``, as numpy code that broadcasts implicitly.
    """
    view = [1] * len(out_shape)
    for k, axis in enumerate(dimensions):
        view[axis] = shape[k]
    return tuple(view)


# ----------------------------------------------------------------------- dot_general
def _letters(shapes: tuple, numbers: Any) -> tuple[list[str], list[str], list[str]]:
    """einsum letters of both operands and of the result of ``dot_general``."""
    (lc, rc), (lb, rb) = numbers
    fresh = iter(string.ascii_letters)
    a: list[Any] = [None] * len(shapes[0])
    b: list[Any] = [None] * len(shapes[1])
    for i, j in [*zip(lb, rb, strict=True), *zip(lc, rc, strict=True)]:
        a[i] = b[j] = next(fresh)
    a = [x or next(fresh) for x in a]
    b = [x or next(fresh) for x in b]
    free_a = [a[k] for k in range(len(a)) if k not in lb and k not in lc]
    free_b = [b[k] for k in range(len(b)) if k not in rb and k not in rc]
    return a, b, [a[i] for i in lb] + free_a + free_b


def _dot_general(a: Any, b: Any, dimension_numbers: Any) -> np.ndarray:
    sa, sb, so = _letters((np.shape(a), np.shape(b)), dimension_numbers)
    return np.einsum(f"{''.join(sa)},{''.join(sb)}->{''.join(so)}", a, b)


def _dot_jacobian(i: int, site: Site) -> Callable:
    """Dense ``∂out/∂operand_i``: the other operand times identities on the free axes."""
    mine, other, out = _letters(site.shapes, site.params["dimension_numbers"])
    if i == 1:
        mine, other = other, mine
    theirs = set(other)
    fresh = iter(c for c in string.ascii_letters if c not in set(mine) | set(other))
    columns = [c if c in theirs and c not in out else next(fresh) for c in mine]
    pairs = [(c, col) for c, col in zip(mine, columns, strict=True) if c != col]
    subscripts = ",".join(["".join(other)] + [c + col for c, col in pairs])
    spec = f"{subscripts}->{''.join(out)}{''.join(columns)}"
    rows, cols = math.prod(site.out_shape), math.prod(site.shapes[i])
    sizes = dict(zip(mine, site.shapes[i], strict=True))

    def numbers(y: Any, *operands: Any) -> np.ndarray:
        eyes = [np.eye(sizes[c]) for c, _ in pairs]
        return np.einsum(spec, operands[1 - i], *eyes).reshape(rows, cols)

    return numbers


def _dot_general_factors(site: Site) -> list[Factor | None]:
    return [
        Factor("dense", _dot_jacobian(i, site)) if traced else None
        for i, traced in enumerate(site.traced)
    ]


#: ``dot_general`` contractions other than vector/matrix products (batch axes, other
#: contracted axes): dense factors.
DOT_GENERAL = Rule(_dot_general, _dot_general_factors)


def _dimension_numbers(params: Mapping[str, Any]) -> tuple:
    (lc, rc), (lb, rb) = params["dimension_numbers"]
    return (tuple(lc), tuple(rc)), (tuple(lb), tuple(rb))


def _read_dot_general(operands: tuple, shapes: tuple, params: Mapping) -> Binding:
    """A vector/matrix product ``a @ b`` is numpy's ``matmul`` (its kinds); else dense."""
    numbers = _dimension_numbers(params)
    (lc, rc), (lb, rb) = numbers
    ndims = tuple(len(s) for s in shapes)
    if not lb and not rb and ndims in MATMUL and lc == (ndims[0] - 1,) and rc == (0,):
        return RULES["matmul"], operands, {}
    return DOT_GENERAL, operands, {"dimension_numbers": numbers}


# ----------------------------------------------------------------------- the table
def _same(name: str) -> Entry:
    """The numpy rule ``name``, operands as they are, no parameters."""

    def read(operands: tuple, shapes: tuple, params: Mapping) -> Binding:
        return RULES[name], operands, {}

    return read


def _with(name: str, make: Callable[[Mapping], dict]) -> Entry:
    """The numpy rule ``name`` with parameters made from the equation's."""

    def read(operands: tuple, shapes: tuple, params: Mapping) -> Binding:
        return RULES[name], operands, make(params)

    return read


def _integer_pow(operands: tuple, shapes: tuple, params: Mapping) -> Binding:
    return RULES["power"], (operands[0], int(params["y"])), {}


def _reshape(params: Mapping) -> dict:
    if params.get("dimensions") is not None:
        raise TraceError("reshape with dimensions (a transpose first) is not supported")
    return {"shape": tuple(params["new_sizes"])}


def _slice(params: Mapping) -> dict:
    strides = params.get("strides") or (None,) * len(params["start_indices"])
    bounds = zip(params["start_indices"], params["limit_indices"], strides, strict=True)
    return {"key": tuple(slice(s, e, k) for s, e, k in bounds)}


def _rev(operands: tuple, shapes: tuple, params: Mapping) -> Binding:
    axes = {int(a) for a in params["dimensions"]}
    key = tuple(slice(None, None, -1) if k in axes else slice(None) for k in range(len(shapes[0])))
    return RULES["getitem"], operands, {"key": key}


def _logistic_entry(operands: tuple, shapes: tuple, params: Mapping) -> Binding:
    return LOGISTIC, operands, {}


#: How each differentiable lax primitive is read, by primitive name.
PRIMITIVES: dict[str, Entry] = {
    # elementwise: numpy's ufunc rules (identity, scalar, diagonal; broadcast operands dense)
    "add": _same("add"),
    "add_any": _same("add"),
    "sub": _same("subtract"),
    "mul": _same("multiply"),
    "div": _same("divide"),
    "neg": _same("negative"),
    "max": _same("maximum"),
    "min": _same("minimum"),
    "integer_pow": _integer_pow,
    "pow": _same("power"),
    "square": _same("square"),
    "exp": _same("exp"),
    "log": _same("log"),
    "tanh": _same("tanh"),
    "logistic": _logistic_entry,
    "sin": _same("sin"),
    "cos": _same("cos"),
    "sqrt": _same("sqrt"),
    "abs": _same("absolute"),
    # products and reductions
    "dot_general": _read_dot_general,
    "reduce_sum": _with("sum", lambda p: {"axis": tuple(p["axes"]), "keepdims": False}),
    # structural: reshapes are the identity on the row-major flattening
    "reshape": _with("reshape", _reshape),
    "squeeze": _with("squeeze", lambda p: {"axis": tuple(p["dimensions"])}),
    "expand_dims": _with("expand_dims", lambda p: {"axis": tuple(p["dimensions"])}),
    "transpose": _with("transpose", lambda p: {"axes": tuple(p["permutation"])}),
    "slice": _with("getitem", _slice),
    "rev": _rev,
    "concatenate": _with("concatenate", lambda p: {"axis": int(p["dimension"])}),
    "stack": _with("stack", lambda p: {"axis": int(p["axis"])}),
}

#: Primitives computed entry by entry: an operand broadcast by ``broadcast_in_dim`` enters
#: them in its :func:`broadcast_view` shape, as numpy's implicit broadcasting.
ELEMENTWISE = frozenset(
    {
        "add",
        "add_any",
        "sub",
        "mul",
        "div",
        "neg",
        "max",
        "min",
        "integer_pow",
        "pow",
        "square",
        "exp",
        "log",
        "tanh",
        "logistic",
        "sin",
        "cos",
        "sqrt",
        "abs",
    }
)


def supported() -> str:
    """The primitives the reader knows, for error messages."""
    return (
        "supported primitives: "
        + ", ".join(sorted([*PRIMITIVES, "broadcast_in_dim", *FOLDED]))
        + "; calls read in place: "
        + ", ".join(sorted(INLINED))
    )


# ----------------------------------------------------------------------- matrix-free
def partials(kinds: list[Any], shape: tuple[int, int]) -> int:
    """``e`` of a primitive's operator factor: the partial derivatives its kind holds.

    ``kinds`` are the structure kinds the (not matrix-free) reader gives the factor of
    each use of one operand in one equation (two for ``x * x``), ``shape`` the factor's
    ``(output size, operand size)``. The uses are summed as the graph sums them (a
    square row-block being a diagonal) and ``e`` is the sum's
    :meth:`~analyzer.structure.Kind.nonzeros`: the entries of its stored pattern that
    are not structurally zero. So the ``"matrix-free"`` cost model prices the
    matrix-free graph and the ordinary one alike. Per kind, for an output of ``m``
    and an operand of ``n`` entries: identity, scalar, diagonal ``n`` (elementwise
    operations, reshapes); selection ``m`` (copies: transposes, slices,
    concatenations, broadcasts of a copied operand); summation ``n`` (sums over
    axes); row-block ``n`` (``∂(W x)/∂W``, ``W`` of ``m x k``: ``m k``);
    block-diagonal and kron-identity their blocks' entries (``∂(A B)/∂A`` and
    ``∂(A B)/∂B`` for ``A`` ``m x k``, ``B`` ``k x p``: ``m k p`` each); zero 0;
    dense ``m n``. Dense counts every entry even where the derivative is
    structurally zero: a broadcast operand of a non-copying elementwise operation
    (``n`` operand entries feeding ``m`` outputs has ``m`` partials, not ``m n``),
    general ``dot_general`` contractions and scaled reductions (``mean``).

    >>> partials(["diagonal"], (4, 4)), partials(["dense"], (1, 4))
    (4, 4)
    >>> partials(["row-block"], (3, 12)), partials(["diagonal", "diagonal"], (4, 4))
    (12, 4)
    """
    shape = (int(shape[0]), int(shape[1]))
    total = None
    for kind in kinds:
        found = kind_of(kind)
        if found.name == "row-block" and shape[0] == shape[1]:
            found = kind_of("diagonal")
        total = found if total is None else sum_rule(total, found).result
    if total is None:
        raise TraceError("a matrix-free factor needs the kind of at least one use")
    return int(total.nonzeros(shape))


def x64(jax: Any) -> Any:
    """JAX's context manager that turns its 64-bit mode on (float64 computations)."""
    enable = getattr(jax, "enable_x64", None)
    if enable is None:  # jax before 0.4.36 keeps it in jax.experimental
        from jax.experimental import enable_x64 as enable
    return enable(True)


#: The most tangent or adjoint vectors one compiled call of a matrix-free factor applies.
VECTORS_PER_CALL = 256


def jvp_vjp_map(
    jax: Any, function: Callable[[Any, Any], Any], rows: int, e: int
) -> Callable[[Any, Any], LinearMap]:
    """``(held, primal) -> LinearMap``: ``∂function(held, a)/∂a`` at ``a = primal``,
    applied by JAX's ``jvp`` and ``vjp``.

    ``function(held, a)`` maps the other operands ``held`` (a pytree of arrays) and a
    flat operand ``a`` to the flat result of one equation. The tangent of an ``n x p``
    matrix is ``p`` calls of ``jax.jvp``, one per column, and the adjoint of a
    ``q x m`` matrix ``q`` calls of ``jax.vjp``'s pullback, one per row, each
    counted at ``e`` multiply-adds (:func:`partials`). They are batched by
    ``jax.vmap`` in blocks of at most :data:`VECTORS_PER_CALL` vectors, and compiled
    by ``jax.jit`` once per factor and block size (the point is an argument: maps
    made at other points reuse the compiled code).
    """
    from functools import partial

    def push(held: Any, a: Any, t: Any) -> Any:
        return jax.jvp(partial(function, held), (a,), (t.astype(a.dtype),))[1]

    def pull(held: Any, a: Any, y: Any) -> Any:
        out, pullback = jax.vjp(partial(function, held), a)
        return pullback(y.astype(out.dtype))[0]

    pushes = jax.jit(jax.vmap(push, in_axes=(None, None, 0)))
    pulls = jax.jit(jax.vmap(pull, in_axes=(None, None, 0)))

    def at(held: Any, primal: Any) -> LinearMap:
        cols = int(np.size(primal))

        def blocks(apply: Callable, vectors: np.ndarray, width: int) -> np.ndarray:
            """``apply`` to each row of ``vectors``, a block of rows per call."""
            if len(vectors) == 0:
                return np.zeros((0, width))
            step = VECTORS_PER_CALL
            with x64(jax):  # float64 whatever jax_enable_x64 says
                done = [
                    np.asarray(apply(held, primal, vectors[i : i + step]))
                    for i in range(0, len(vectors), step)
                ]
            return np.concatenate(done) if len(done) > 1 else done[0]

        def tangent(X: np.ndarray) -> np.ndarray:
            return blocks(pushes, np.ascontiguousarray(X.T), rows).T

        def adjoint(Y: np.ndarray) -> np.ndarray:
            return blocks(pulls, Y, cols)

        return LinearMap((rows, cols), e, tangent, adjoint)

    return at
