"""The JAX reader: read a function's jaxpr into a Jacobian graph, one rule per lax primitive.

``jax.make_jaxpr`` records the function once; the reader walks its equations
(JAX's "writing custom interpreters" pattern): an equation that reads a
differentiated value becomes a variable, with one factor per traced operand from
the rules of :mod:`analyzer.frontends.jax_rules` (the numpy tracer's rules);
one on constants only is computed at once. jax is imported when
:func:`from_jax` runs, never when ``analyzer`` is imported.

With ``matrix_free=True`` each of those factors is an ``operator[e]`` instead: its
tangent and adjoint are ``jax.jvp`` and ``jax.vjp`` of the equation with respect to
that operand, at the point the graph is evaluated, and ``e`` is the count of
partial derivatives of the kind the rule gives (:func:`~analyzer.frontends.jax_rules.partials`).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from ..errors import TraceError
from ..graph import JacobianGraph
from ..structure import Operator
from .jax_rules import (
    BROADCAST_IN_DIM,
    ELEMENTWISE,
    FOLDED,
    INLINED,
    PRIMITIVES,
    broadcast_view,
    jvp_vjp_map,
    partials,
    supported,
    x64,
)
from .numpy_rules import Rule, Site
from .numpy_trace import (
    FreshNames,
    _argument_names,
    _check_finite,
    _function_name,
    live_and_outputs,
)

__all__ = ["from_jax"]

#: Equation parameters left out of labels (they do not change the values in float64).
_QUIET = {"preferred_element_type", "out_sharding", "sharding", "accuracy", "precision"}
#: Comparisons and selections: on traced values they only serve a branch.
_BRANCHES = {"gt", "ge", "lt", "le", "eq", "ne", "select_n", "sign", "cond", "while"}


class _Ref(NamedTuple):
    """A jaxpr value that depends on the differentiated arguments.

    It is graph variable ``name`` seen in ``shape`` (the same entries, row-major); with
    ``target`` it is that view broadcast to ``target`` by ``broadcast_in_dim``, not yet
    made a variable (``label`` and ``dtype`` are the broadcast's).
    """

    name: str
    shape: tuple[int, ...]
    target: tuple[int, ...] | None = None
    label: str = ""
    dtype: Any = np.float64


class _Equation(NamedTuple):
    """What JAX computes for one recorded variable: ``bind(*arguments)``, where each
    argument is an operand of ``ins`` (a :class:`_Ref`, or a constant) in ``avals``'
    shape and dtype (a broadcast view broadcast to it)."""

    bind: Callable[..., Any]
    ins: list
    avals: list[tuple[tuple[int, ...], Any]]


class _Pending(NamedTuple):
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    evaluate: Callable
    label: str
    factors: list[tuple[str, str, Callable | None]]


def _import_jax() -> Any:
    try:
        return importlib.import_module("jax")
    except ImportError:
        raise TraceError(
            'from_jax needs jax, an optional extra: pip install -e ".[jax]" '
            '(or pip install "jax>=0.4")'
        ) from None


def _literal_type(jax: Any) -> type:
    try:
        from jax.extend.core import Literal
    except ImportError:  # older jax
        Literal = jax.core.Literal
    return Literal


def _float_dtype(dtype: Any) -> np.dtype:
    dtype = np.dtype(dtype)
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


class _Reader:
    """One reading of a jaxpr: the recorded variables, their example values and names."""

    def __init__(
        self,
        jax: Any,
        reserved: Sequence[str],
        shown: dict[int, str],
        matrix_free: bool = False,
    ) -> None:
        self.jax = jax
        self.matrix_free = matrix_free
        self.literal = _literal_type(jax)
        self.fresh = FreshNames(reserved)
        self.shown = shown  # id of a constant argument's value -> its name
        self.recorded: dict[str, _Pending] = {}
        self.values: dict[str, np.ndarray] = {}  # at the example point
        self.materialized: dict[tuple, _Ref] = {}

    # ------------------------------------------------------------------ walking
    def run(self, jaxpr: Any, consts: Sequence, inputs: Sequence) -> list:
        """Read ``jaxpr`` with its constvars and invars bound; its outputs' values or refs."""
        env: dict[Any, Any] = {}
        for var, value in zip(jaxpr.constvars, consts, strict=True):
            env[var] = np.asarray(value)
        for var, value in zip(jaxpr.invars, inputs, strict=True):
            env[var] = value
        for eqn in jaxpr.eqns:
            ins = [self.read(env, atom) for atom in eqn.invars]
            outs = self.equation(eqn, ins)
            for var, value in zip(eqn.outvars, outs, strict=True):
                env[var] = value
        return [self.read(env, atom) for atom in jaxpr.outvars]

    def read(self, env: dict, atom: Any) -> Any:
        if isinstance(atom, self.literal):
            return np.asarray(atom.val)
        return env[atom]

    def equation(self, eqn: Any, ins: list) -> list:
        primitive = eqn.primitive.name
        params = eqn.params
        if primitive in INLINED:
            return self.inline(eqn, ins)
        if not any(isinstance(x, _Ref) for x in ins):
            return self.eager(eqn, ins)
        label = self.label(primitive, ins, params)
        if primitive in FOLDED:
            (ref,) = ins
            new_dtype = params.get("new_dtype")
            if new_dtype is not None and np.dtype(new_dtype).kind != "f":
                raise TraceError(
                    f"{label} turns a traced value into {np.dtype(new_dtype)} numbers, which "
                    "cuts it out of the graph; only float conversions can be differentiated"
                )
            return [ref]
        if primitive == "broadcast_in_dim":
            return [self.broadcast(ins[0], params, label, eqn.outvars[0].aval.dtype)]
        if primitive not in PRIMITIVES:
            hint = ""
            if primitive in _BRANCHES:
                hint = (
                    " (comparisons and selections on traced values only serve a branch; "
                    "write ReLU as jnp.maximum(x, 0.0))"
                )
            raise TraceError(
                f"the lax primitive {primitive!r} ({label}) is not supported by the JAX "
                f"reader{hint}; {supported()}"
            )
        (out,) = eqn.outvars
        shape = tuple(out.aval.shape)
        ins = self.operands(primitive, ins, shape)
        label = self.label(primitive, ins, params)  # with the broadcasts made variables
        shapes = tuple(x.shape if isinstance(x, _Ref) else np.shape(x) for x in ins)
        try:
            rule, operands, rule_params = PRIMITIVES[primitive](tuple(ins), shapes, params)
        except TraceError as error:
            raise TraceError(f"cannot read {label}: {error}") from None
        avals = [(tuple(a.aval.shape), a.aval.dtype) for a in eqn.invars]
        wide = _float64_params(self.jax, params) if self.matrix_free else params
        computed = _Equation(lambda *a: eqn.primitive.bind(*a, **wide), ins, avals)
        ref = self.record(
            primitive, rule, operands, rule_params, label, shape, out.aval.dtype, computed
        )
        return [ref]

    def inline(self, eqn: Any, ins: list) -> list:
        """Read a call's sub-jaxpr in place."""
        for key in INLINED[eqn.primitive.name]:
            sub = eqn.params.get(key)
            if sub is not None:
                break
        else:
            raise TraceError(f"cannot find the jaxpr called by {eqn.primitive.name}")
        jaxpr, consts = (sub.jaxpr, sub.consts) if hasattr(sub, "consts") else (sub, ())
        if len(jaxpr.invars) != len(ins):
            raise TraceError(
                f"{eqn.primitive.name} passes {len(ins)} values to a jaxpr of "
                f"{len(jaxpr.invars)} inputs"
            )
        return self.run(jaxpr, consts, ins)

    def eager(self, eqn: Any, ins: list) -> list:
        """An equation on constants only: computed now, with jax, and kept as a constant."""
        try:
            result = eqn.primitive.bind(*ins, **eqn.params)
        except Exception as error:  # jax raises many types; any failure is the user's input
            raise TraceError(
                f"computing {eqn.primitive.name} on constants failed: {error}"
            ) from None
        results = result if eqn.primitive.multiple_results else [result]
        return [np.asarray(r) for r in results]

    # ------------------------------------------------------------------ broadcasts
    def broadcast(self, ref: _Ref, params: Any, label: str, dtype: Any) -> _Ref:
        """A broadcast is a view of its operand until something other than an
        elementwise operation reads it (numpy code broadcasts without a call)."""
        out_shape = tuple(int(n) for n in params["shape"])
        view = broadcast_view(ref.shape, out_shape, tuple(params["broadcast_dimensions"]))
        if math.prod(view) == math.prod(out_shape):  # a reshape: the same entries
            return _Ref(ref.name, out_shape)
        return _Ref(ref.name, view, out_shape, label, dtype)

    def operands(self, primitive: str, ins: list, out_shape: tuple) -> list:
        """Broadcast views stay views for an elementwise operation that broadcasts them to its
        result's shape; everywhere else they become variables."""
        views = [x for x in ins if isinstance(x, _Ref) and x.target is not None]
        if not views:
            return ins
        if primitive in ELEMENTWISE:
            shapes = [x.shape if isinstance(x, _Ref) else np.shape(x) for x in ins]
            try:
                if tuple(np.broadcast_shapes(*shapes)) == out_shape:
                    return [x._replace(target=None) if isinstance(x, _Ref) else x for x in ins]
            except ValueError:
                pass
        return [self.materialize(x) if isinstance(x, _Ref) else x for x in ins]

    def materialize(self, ref: _Ref) -> _Ref:
        if ref.target is None:
            return ref
        key = (ref.name, ref.shape, ref.target)
        if key not in self.materialized:
            source = _Ref(ref.name, ref.shape)
            target = ref.target
            computed = _Equation(
                lambda x: self.jax.numpy.broadcast_to(x, target), [source], [(ref.shape, ref.dtype)]
            )
            self.materialized[key] = self.record(
                "broadcast_in_dim",
                BROADCAST_IN_DIM,
                (source,),
                {"shape": ref.target},
                ref.label,
                ref.target,
                ref.dtype,
                computed,
            )
        return self.materialized[key]

    # ------------------------------------------------------------------ recording
    def record(
        self,
        primitive: str,
        rule: Rule,
        operands: tuple,
        params: dict,
        label: str,
        out_shape: tuple,
        dtype: Any,
        computed: _Equation,
    ) -> _Ref:
        """Compute one equation with numpy at the example point and record its factors
        (matrix-free: operators applying ``computed`` by ``jax.jvp`` and ``jax.vjp``)."""
        traced = tuple(isinstance(o, _Ref) for o in operands)
        shapes = tuple(o.shape if t else np.shape(o) for o, t in zip(operands, traced, strict=True))
        plain = [
            self.values[o.name].reshape(o.shape) if t else o
            for o, t in zip(operands, traced, strict=True)
        ]
        try:
            with np.errstate(all="ignore"):  # NaN and infinities are reported below
                value = np.asarray(rule.forward(*plain, **params))
        except (ValueError, TypeError, IndexError) as error:
            raise TraceError(f"{label} failed: {error}") from None
        if value.shape != out_shape:
            raise TraceError(
                f"{label}: numpy computes shape {value.shape}, jax {out_shape}; "
                "this use of the primitive is not supported"
            )
        if not np.all(np.isfinite(value)):
            raise TraceError(f"{label} gives NaN or infinite values at the example point")
        site = Site(shapes=shapes, traced=traced, params=params, out_shape=out_shape)
        try:
            factors = rule.factors(site)
        except TraceError as error:
            raise TraceError(f"cannot read {label}: {error}") from None
        name = self.fresh(primitive)
        names = tuple(o.name if t else None for o, t in zip(operands, traced, strict=True))
        views = tuple(o.shape if t else None for o, t in zip(operands, traced, strict=True))
        constants = tuple(None if t else o for o, t in zip(operands, traced, strict=True))
        forward = rule.forward

        def arguments(v: dict) -> list:
            return [
                c if n is None else np.reshape(v[n], s)
                for n, s, c in zip(names, views, constants, strict=True)
            ]

        def evaluate(v: dict) -> Any:
            return forward(*arguments(v), **params)

        edges = [
            (operand, factor.kind, _numbers_at(factor.numbers, name, arguments))
            for operand, factor in zip(names, factors, strict=True)
            if operand is not None
        ]
        if self.matrix_free:
            edges = self.operators(edges, computed, math.prod(out_shape))
        self.values[name] = value
        self.recorded[name] = _Pending(
            name, out_shape, _float_dtype(dtype), evaluate, f"{name} = {label}", edges
        )
        return _Ref(name, out_shape)

    def operators(self, edges: list, computed: _Equation, rows: int) -> list:
        """One operator factor per traced variable of an equation (uses of it summed)."""
        kinds: dict[str, list] = {}
        for operand, kind, _ in edges:
            kinds.setdefault(operand, []).append(kind)
        out = []
        for operand, used in kinds.items():
            cols = int(np.size(self.values[operand]))
            e = partials(used, (rows, cols))
            out.append((operand, Operator(e), _operator_at(self.jax, computed, operand, rows, e)))
        return out

    def label(self, primitive: str, ins: list, params: Any) -> str:
        shown = [self.show(x) for x in ins]
        for key, value in params.items():
            if key in _QUIET or value is None or hasattr(value, "eqns"):
                continue
            if key == "new_dtype":
                value = np.dtype(value).name
            shown.append(f"{key}={value}")
        return f"{primitive}({', '.join(shown)})"

    def show(self, value: Any) -> str:
        if isinstance(value, _Ref):
            return value.name
        if id(value) in self.shown:
            return self.shown[id(value)]
        array = np.asarray(value)
        if array.ndim == 0:
            return repr(array.item())
        return f"array{array.shape}"


def _numbers_at(numbers: Callable | None, name: str, arguments: Callable) -> Callable | None:
    if numbers is None:
        return None
    return lambda v: numbers(v[name], *arguments(v))


def _float64_params(jax: Any, params: dict) -> dict:
    """An equation's parameters with every floating dtype among them made float64."""
    return {
        key: np.dtype(np.float64) if _is_float_dtype(jax, value) else value
        for key, value in params.items()
    }


def _is_float_dtype(jax: Any, value: Any) -> bool:
    """Whether ``value`` is a floating dtype (float16, bfloat16, float32, ...)."""
    if not isinstance(value, np.dtype | type):
        return False
    try:
        return bool(jax.numpy.issubdtype(value, jax.numpy.floating))
    except TypeError:
        return False


def _wide(jax: Any, value: Any) -> Any:
    """A constant operand in float64 when it is floating (as the ordinary reading computes)."""
    array = np.asarray(value)
    return array.astype(np.float64) if _is_float_dtype(jax, array.dtype) else value


def _operator_at(jax: Any, computed: _Equation, operand: str, rows: int, e: int) -> Callable:
    """``v -> LinearMap`` of the equation's derivative with respect to ``operand`` at ``v``.

    JAX computes it in float64 whatever dtype the function was recorded in (float32
    arguments, or ``jax_enable_x64`` off): the tangents and adjoints run under JAX's
    64-bit mode with every floating operand and dtype parameter made float64, so the
    matrix-free reading gives the ordinary reading's numbers (numpy, float64).
    """
    jnp = jax.numpy
    bind, ins, avals = computed
    wide = np.dtype(np.float64)
    avals = [(shape, wide if _is_float_dtype(jax, t) else t) for shape, t in avals]
    ins = [x if isinstance(x, _Ref) else _wide(jax, x) for x in ins]
    dtypes = [dtype for x, (_, dtype) in zip(ins, avals, strict=True) if _is_use(x, operand)]
    others = {
        x.name: dtype
        for x, (_, dtype) in zip(ins, avals, strict=True)
        if isinstance(x, _Ref) and x.name != operand
    }

    def function(held: dict, a: Any) -> Any:
        arguments = []
        for x, (shape, dtype) in zip(ins, avals, strict=True):
            if not isinstance(x, _Ref):
                arguments.append(x)
                continue
            flat = a if x.name == operand else held[x.name]
            view = jnp.reshape(flat, x.shape)
            arguments.append(jnp.broadcast_to(view, shape).astype(dtype))
        return jnp.ravel(bind(*arguments))

    make = jvp_vjp_map(jax, function, rows, e)

    def at(v: dict) -> Any:
        with x64(jax):
            held = {n: jnp.asarray(np.ravel(v[n]), dtype=dtype) for n, dtype in others.items()}
            primal = jnp.asarray(np.ravel(v[operand]), dtype=jnp.result_type(*dtypes))
        return make(held, primal)

    return at


def _is_use(x: Any, operand: str) -> bool:
    return isinstance(x, _Ref) and x.name == operand


# ---------------------------------------------------------------------------- from_jax
def _positions(argnums: Any, names: list[str]) -> list[int]:
    listing = ", ".join(names) or "none"
    items = [argnums] if isinstance(argnums, int | np.integer) else argnums
    try:
        items = list(items)
    except TypeError:
        raise TraceError(f"argnums is {argnums!r}; give argument positions (integers)") from None
    if not items:
        raise TraceError(f"argnums is empty; give at least one argument position ({listing})")
    chosen: list[int] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int | np.integer):
            raise TraceError(f"argnums holds {item!r}; give argument positions (integers)")
        position = int(item)
        if not 0 <= position < len(names):
            raise TraceError(
                f"argnums names argument position {position}, which does not exist: "
                f"{len(names)} arguments were given ({listing})"
            )
        if position in chosen:
            raise TraceError(f"argnums names argument {names[position]!r} twice")
        chosen.append(position)
    return sorted(chosen)


def _parameter(name: str, value: Any) -> tuple[np.ndarray, np.dtype]:
    """A differentiated argument's value (float64) and dtype (as given)."""
    if isinstance(value, bool | int):
        raise TraceError(
            f"argument {name!r} in argnums is a Python {type(value).__name__}; only floats "
            f"can be differentiated (pass {float(value)!r})"
        )
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise TraceError(f"argument {name!r} in argnums is not an array: {error}") from None
    kind = array.dtype.kind
    if kind in "biu":
        raise TraceError(
            f"argument {name!r} in argnums is an integer array ({array.dtype}); only "
            "floating-point arrays can be differentiated (pass it as floats)"
        )
    if kind == "c":
        raise TraceError(f"argument {name!r} in argnums is complex; only real floats are supported")
    if kind != "f":
        raise TraceError(
            f"argument {name!r} in argnums is not a floating-point array "
            f"({type(value).__name__}, dtype {array.dtype})"
        )
    return np.asarray(array, dtype=float), array.dtype


def from_jax(
    f: Callable[..., Any],
    *example_args: Any,
    argnums: int | Sequence[int] = 0,
    name: str | None = None,
    matrix_free: bool = False,
) -> JacobianGraph:
    """Read a JAX function's jaxpr into a Jacobian graph.

    ``jax.make_jaxpr(f)(*example_args)`` records ``f``; each equation that depends
    on the differentiated arguments becomes a variable named after its primitive
    (``dot_general_1``, ``tanh_2``, … with one counter; the equation in the
    ``label`` node attribute; the dtype JAX computes it in as ``dtype``), with one
    factor per traced operand from the numpy tracer's rule for the same operation
    (:mod:`analyzer.frontends.jax_rules`), so a function written with ``jax.numpy``
    gives the variables and factors that :func:`~analyzer.frontends.trace` gives for
    it written with numpy. Calls (``jit``, ``custom_jvp``, ``custom_vjp``,
    ``checkpoint``) are read in place: a custom derivative rule is not used, the
    primal computation is differentiated (as if the rule were absent); equations on
    constants only are computed at once; a ``broadcast_in_dim`` read by an
    elementwise operation is that operation's broadcast operand (as numpy
    broadcasts implicitly) and a float conversion is its operand: neither is a
    variable. The graph's callables compute with numpy in
    float64 at any point.

    Parameters
    ----------
    f : callable
        A function of arrays written with ``jax.numpy`` / ``jax.lax``.
    *example_args
        Its arguments at the example point; they fix every shape and dtype, the
        parameters' default values and the constants' values.
    argnums : int or sequence of int, default 0
        Positions of the differentiated arguments (floating-point arrays or Python
        floats, a scalar becoming a size-1 variable); the others are constants.
    name : str, optional
        The graph's name (default: ``f``'s name).
    matrix_free : bool, default False
        Make each equation's factor with respect to each traced operand an
        ``operator[e]`` (:class:`~analyzer.structure.Operator`) whose tangent and
        adjoint are JAX's own ``jax.jvp`` and ``jax.vjp`` of that equation (its other
        operands held at the point where the graph is evaluated), and whose ``e`` is
        the number of partial derivatives the ordinary reading's structure kind holds
        (:func:`~analyzer.frontends.jax_rules.partials`: ``n`` for an elementwise
        operation on ``n`` entries, ``m k`` for ``∂(W x)/∂W`` with ``W`` of ``m x k``,
        ``m k p`` for either operand of an ``(m x k) · (k x p)`` product, ...). The
        ``"matrix-free"`` cost model then prices both readings alike, and executing
        the plan really runs JAX's tangents and adjoints, ``e`` macs per vector.
        The identity factors that join a returned value to its output variable stay
        identities.

    Returns
    -------
    JacobianGraph
        Parameters named after ``f``'s arguments, in argument order; outputs the
        returned arrays, in order (a returned value that also feeds another
        operation, or a returned parameter, gets an output variable of its own
        joined by an identity factor).

    Raises
    ------
    TraceError
        When jax is not installed, ``matrix_free`` is not a bool, for an unsupported
        primitive on traced values (naming it and listing the supported ones), a bad
        ``argnums``, a non-float, NaN or infinite differentiated argument, or a
        function that ``jax.make_jaxpr`` cannot record or that returns nothing
        depending on the arguments.

    Examples
    --------
    >>> import numpy as np
    >>> import pytest
    >>> jnp = pytest.importorskip("jax.numpy")  # skipped without jax
    >>> def net(w, W, x):
    ...     return jnp.tanh(w @ jnp.tanh(W @ x))
    >>> w, W, x = np.ones(3, np.float32), np.ones((3, 2), np.float32), np.ones(2, np.float32)
    >>> g = from_jax(net, w, W, x, argnums=(0, 1))
    >>> g.parameters, g.intermediates, g.outputs
    (['w', 'W'], ['dot_general_1', 'tanh_2', 'dot_general_3'], ['tanh_4'])
    >>> g.nodes["tanh_2"]["label"], g.edges["W", "dot_general_1"]["structure"]
    ('tanh_2 = tanh(dot_general_1)', 'row-block')
    >>> g.nodes["tanh_2"]["dtype"], g.function().dtype
    (dtype('float32'), dtype('float64'))
    """
    if not isinstance(matrix_free, bool):
        raise TraceError(f"matrix_free must be True or False, got {matrix_free!r}")
    jax = _import_jax()
    if not callable(f):
        raise TraceError(f"from_jax needs a function, got {type(f).__name__}")
    names = _argument_names(f, len(example_args))
    positions = _positions(argnums, names)
    parameters = {names[i]: _parameter(names[i], example_args[i]) for i in positions}
    _check_finite(names, example_args)
    try:
        closed = jax.make_jaxpr(f)(*example_args)
    except TraceError:
        raise
    except Exception as error:  # tracing runs the user's code: any error is bad input
        raise TraceError(
            f"jax.make_jaxpr could not record {_function_name(f)}: {type(error).__name__}: {error}"
        ) from error
    shown = {
        id(a): n
        for i, (n, a) in enumerate(zip(names, example_args, strict=True))
        if i not in positions
    }
    reader = _Reader(jax, names, shown, matrix_free)
    jaxpr = closed.jaxpr
    inputs: list[Any] = []
    for i, (arg_name, arg) in enumerate(zip(names, example_args, strict=True)):
        if i in positions:
            value, _ = parameters[arg_name]
            if len(inputs) < len(jaxpr.invars):  # the dtype JAX computes in
                parameters[arg_name] = value, _float_dtype(jaxpr.invars[len(inputs)].aval.dtype)
            reader.values[arg_name] = value
            inputs.append(_Ref(arg_name, value.shape))
        else:
            inputs += [np.asarray(leaf) for leaf in jax.tree_util.tree_leaves(arg)]
    if len(inputs) != len(jaxpr.invars):
        raise TraceError(
            f"the jaxpr of {_function_name(f)} has {len(jaxpr.invars)} inputs, its arguments "
            f"{len(inputs)} values"
        )
    results = reader.run(jaxpr, closed.consts, inputs)
    returned = _returned(reader, results, [names[i] for i in positions])
    return _build(reader, parameters, returned, name or _function_name(f))


def _returned(reader: _Reader, results: list, wrt: list[str]) -> list[str]:
    listing = ", ".join(wrt)
    if not any(isinstance(r, _Ref) for r in results):
        raise TraceError(
            f"the function returned nothing that depends on the differentiated arguments "
            f"({listing})"
        )
    out = []
    for k, result in enumerate(results):
        if not isinstance(result, _Ref):
            raise TraceError(
                f"returned value {k} does not depend on the differentiated arguments "
                f"({listing}); return values computed from them only"
            )
        out.append(reader.materialize(result).name)
    return out


def _build(
    reader: _Reader,
    parameters: dict[str, tuple[np.ndarray, np.dtype]],
    returned: list[str],
    name: str,
) -> JacobianGraph:
    """The graph of the recorded variables that reach a returned value."""
    recorded = reader.recorded
    live, as_output = live_and_outputs(recorded, returned, reader.fresh)
    g = JacobianGraph(name=name)
    for p, (value, dtype) in parameters.items():
        if p not in live:
            raise TraceError(f"the returned values do not depend on {p!r}, named in argnums")
        g.add_variable(p, role="parameter", shape=value.shape, value=value, dtype=dtype, label=p)
    for v, pending in recorded.items():
        if v in live and v not in as_output:
            _add(g, pending, "intermediate")
    for out, source in as_output.items():
        if out == source:
            _add(g, recorded[out], "output")
            continue
        if source in recorded:
            shape, dtype = recorded[source].shape, recorded[source].dtype
        else:
            shape, dtype = parameters[source][0].shape, parameters[source][1]
        g.add_variable(
            out,
            role="output",
            shape=shape,
            evaluate=lambda v, source=source: v[source],
            dtype=dtype,
            label=f"{out} = {source}",
        )
        g.add_factor(source, out, "identity")
    return g.validate()


def _add(g: JacobianGraph, pending: _Pending, role: str) -> None:
    g.add_variable(
        pending.name,
        role=role,
        shape=pending.shape,
        evaluate=pending.evaluate,
        dtype=pending.dtype,
        label=pending.label,
    )
    for tail, kind, jacobian in pending.factors:
        g.add_factor(tail, pending.name, kind, jacobian)
