"""The numpy tracer: run a plain numpy function on traced arrays and record its Jacobian graph."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from ..errors import TraceError
from ..graph import JacobianGraph
from .numpy_rules import CONDITIONS, NOT_DIFFERENTIABLE, RULES, Rule, Site

__all__ = ["TracedArray", "trace", "FreshNames"]

#: Binary ufuncs shown as Python operators in labels.
_OPERATORS = {
    "add": "+",
    "subtract": "-",
    "multiply": "*",
    "divide": "/",
    "true_divide": "/",
    "matmul": "@",
    "power": "**",
}
#: Base names of variables whose operation's numpy name reads badly.
_BASE_NAMES = {"getitem": "slice", "absolute": "abs", "true_divide": "divide"}
#: numpy functions that only ask about the shape: answered, never recorded.
_QUERIES = {
    "shape": lambda x: x.shape,
    "ndim": lambda x: x.ndim,
    "size": lambda x, axis=None: x.size if axis is None else x.shape[axis],
}


def _supported() -> str:
    names = sorted(f"np.{name}" for name in RULES if name != "getitem")
    return (
        "supported: operators + - * / ** @ and unary -, abs(), indexing x[...], "
        ".T, .shape, .ndim, .size, .sum, .mean, .reshape, .ravel, .flatten, .transpose, "
        ".squeeze, .dot, and " + ", ".join(names)
    )


def _unsupported(what: str) -> TraceError:
    return TraceError(f"{what} is not supported by the numpy tracer; {_supported()}")


def _branching(what: str) -> TraceError:
    return TraceError(
        f"the function branches on traced values ({what}): a Jacobian graph records one "
        "path through the function, so conditions (if, while, and/or, comparisons, bool()) "
        "must not depend on the differentiated arguments; compute them from constants, or "
        "write piecewise functions with np.maximum or abs()"
    )


class FreshNames:
    """Variable names ``base_1``, ``base_2``, … from one counter, never a reserved name.

    >>> fresh = FreshNames(["tanh_1"])
    >>> fresh("tanh"), fresh("dot")
    ('tanh_2', 'dot_3')
    """

    def __init__(self, reserved: Sequence[str]) -> None:
        self.count = 0
        self.reserved = set(reserved)

    def __call__(self, base: str) -> str:
        while True:
            self.count += 1
            name = f"{base}_{self.count}"
            if name not in self.reserved:
                self.reserved.add(name)
                return name


class _Pending(NamedTuple):
    """A recorded variable, added to the graph once the outputs are known."""

    name: str
    shape: tuple[int, ...]
    evaluate: Callable
    label: str
    factors: list[tuple[str, str, Callable | None]]


class _Trace:
    """One run of the function: the recorded variables and the labels of its constants."""

    def __init__(self, reserved: Sequence[str], constants: dict[int, str]) -> None:
        self.fresh = FreshNames(reserved)
        self.constants = constants
        self.recorded: dict[str, _Pending] = {}

    def show(self, value: Any) -> str:
        """How an operand or parameter reads in a label."""
        if isinstance(value, TracedArray):
            return value.name
        if id(value) in self.constants:
            return self.constants[id(value)]
        if isinstance(value, bool | int | float | np.number):
            return repr(float(value)) if isinstance(value, np.floating) else repr(value)
        if isinstance(value, np.ndarray):
            return repr(value.item()) if value.ndim == 0 else f"array{value.shape}"
        if isinstance(value, list | tuple):
            inner = ", ".join(self.show(v) for v in value)
            return f"[{inner}]" if isinstance(value, list) else f"({inner})"
        if isinstance(value, slice):
            parts = [
                "" if v is None else self.show(v) for v in (value.start, value.stop, value.step)
            ]
            return ":".join(parts[:2]) + (f":{parts[2]}" if value.step is not None else "")
        if value is Ellipsis:
            return "..."
        return repr(value)

    def call(self, func: str, args: Sequence, kwargs: dict) -> str:
        shown = [self.show(a) for a in args] + [f"{k}={self.show(v)}" for k, v in kwargs.items()]
        return f"{func}({', '.join(shown)})"

    def apply(self, op: str, args: Sequence, kwargs: dict, label: str) -> TracedArray:
        """Bind a call to its rule and record it."""
        rule = RULES[op]
        try:
            operands, params = rule.bind(*args, **kwargs)
        except TypeError as error:
            raise TraceError(f"{label}: unsupported arguments: {error}") from None
        return self.record(op, rule, tuple(operands), params, label)

    def record(self, op: str, rule: Rule, operands: tuple, params: dict, label: str) -> TracedArray:
        """Compute one operation on the real arrays and record its variable and factors."""
        traced = tuple(isinstance(o, TracedArray) for o in operands)
        for o in operands:
            if isinstance(o, TracedArray) and o.trace is not self:
                raise TraceError(f"{label} mixes values from two different traces")
        for value in params.values():
            if _holds_tracer(value):
                raise TraceError(f"{label}: a traced value cannot be used as an index or axis")
        plain = [o.value if t else o for o, t in zip(operands, traced, strict=True)]
        try:
            with np.errstate(all="ignore"):  # NaN and infinities are reported below
                value = np.asarray(rule.forward(*plain, **params))
        except (ValueError, TypeError, IndexError) as error:
            raise TraceError(f"{label} failed: {error}") from None
        if value.dtype.kind in "fc" and not np.all(np.isfinite(value)):
            raise TraceError(f"{label} gives NaN or infinite values at the example point")
        site = Site(
            shapes=tuple(np.shape(p) for p in plain),
            traced=traced,
            params=params,
            out_shape=value.shape,
        )
        try:
            factors = rule.factors(site)
        except TraceError as error:
            raise TraceError(f"cannot trace {label}: {error}") from None
        name = self.fresh(_BASE_NAMES.get(op, op))
        names = tuple(o.name if t else None for o, t in zip(operands, traced, strict=True))
        constants = tuple(None if t else o for o, t in zip(operands, traced, strict=True))
        forward = rule.forward

        def arguments(v: dict) -> list:
            return [c if n is None else v[n] for n, c in zip(names, constants, strict=True)]

        def evaluate(v: dict) -> Any:
            return forward(*arguments(v), **params)

        edges = [
            (operand, factor.kind, _numbers_at(factor.numbers, name, arguments))
            for operand, factor in zip(names, factors, strict=True)
            if operand is not None
        ]
        self.recorded[name] = _Pending(name, value.shape, evaluate, label, edges)
        return TracedArray(self, name, value)


def _numbers_at(numbers: Callable | None, name: str, arguments: Callable) -> Callable | None:
    """The factor's jacobian callable: its numbers at the variable values ``v``."""
    if numbers is None:
        return None
    return lambda v: numbers(v[name], *arguments(v))


def _holds_tracer(value: Any) -> bool:
    if isinstance(value, TracedArray):
        return True
    if isinstance(value, list | tuple):
        return any(_holds_tracer(v) for v in value)
    if isinstance(value, slice):
        return any(_holds_tracer(v) for v in (value.start, value.stop, value.step))
    return False


def _operator(ufunc: np.ufunc, reflected: bool = False) -> Callable:
    """A Python operator method of :class:`TracedArray`: the ufunc, through numpy's dispatch."""

    def method(self: TracedArray, other: Any) -> Any:
        return self._binary(ufunc, other, reflected)

    return method


def _comparison(symbol: str) -> Callable:
    """A comparison method of :class:`TracedArray`: refused, its only use is a branch."""

    def method(self: TracedArray, other: Any) -> Any:
        raise _branching(f"{self.name} {symbol} {self.trace.show(other)}")

    return method


class TracedArray:
    """An array whose operations are recorded as variables of a Jacobian graph.

    It carries its variable's ``name`` and its ``value`` at the example point (a
    numpy array), answers ``.shape``, ``.ndim``, ``.size``, ``.dtype`` and
    ``len()``, and takes part in numpy's dispatch (``__array_ufunc__``,
    ``__array_function__``) and Python's operators. Branching on it raises a
    :class:`~analyzer.errors.TraceError`.

    Examples
    --------
    >>> import numpy as np
    >>> def f(x):
    ...     print(repr(x), repr(x.T), x.ndim)
    ...     return np.sin(x).sum()
    >>> g = trace(f, np.ones((2, 3)))
    TracedArray('x', shape=(2, 3)) TracedArray('transpose_1', shape=(3, 2)) 2
    >>> g.intermediates, g.outputs, g.nodes["sum_3"]["label"]  # transpose_1 unused: left out
    (['sin_2'], ['sum_3'], 'sin_2.sum()')
    """

    __slots__ = ("trace", "name", "value")
    __hash__ = None  # comparisons are refused, so there is no equality to hash by

    def __init__(self, trace: _Trace, name: str, value: np.ndarray) -> None:
        self.trace, self.name, self.value = trace, name, value

    def __repr__(self) -> str:
        return f"TracedArray({self.name!r}, shape={self.shape})"

    # ------------------------------------------------------------ numpy's protocols
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        name = ufunc.__name__
        if method != "__call__":
            raise _unsupported(f"np.{name}.{method}")
        if name in CONDITIONS:
            raise _branching(self.trace.call(f"np.{name}", inputs, kwargs))
        if kwargs:
            raise TraceError(
                f"{self.trace.call(f'np.{name}', inputs, kwargs)}: keyword arguments "
                f"({', '.join(kwargs)}) are not supported; in-place updates (out=, +=) of "
                "constant arrays with traced values cannot be recorded"
            )
        if name not in RULES:
            raise _unsupported(f"np.{name}")
        shown = [self.trace.show(i) for i in inputs]
        if name in _OPERATORS and len(inputs) == 2:
            label = f"{shown[0]} {_OPERATORS[name]} {shown[1]}"
        elif name == "negative":
            label = f"-{shown[0]}"
        else:
            label = f"np.{name}({', '.join(shown)})"
        return self.trace.apply(name, inputs, {}, label)

    def __array_function__(self, func: Callable, types: Any, args: tuple, kwargs: dict) -> Any:
        name = func.__name__
        if getattr(func, "__module__", None) != "numpy":
            module = getattr(func, "__module__", "?")
            raise _unsupported(f"{module}.{name}")
        if name in _QUERIES:
            return _QUERIES[name](*args, **kwargs)
        if name in NOT_DIFFERENTIABLE:
            raise TraceError(f"np.{name} is not supported: {NOT_DIFFERENTIABLE[name]}")
        if name not in RULES or name == "getitem":
            raise _unsupported(f"np.{name}")
        return self.trace.apply(name, args, kwargs, self.trace.call(f"np.{name}", args, kwargs))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TraceError(
            f"converting traced value {self.name!r} to a plain numpy array (np.asarray, "
            f"np.array, a C extension) would cut it out of the graph; {_supported()}"
        )

    # ------------------------------------------------------------ shape queries
    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape

    @property
    def ndim(self) -> int:
        return self.value.ndim

    @property
    def size(self) -> int:
        return self.value.size

    @property
    def dtype(self) -> np.dtype:
        return self.value.dtype

    def __len__(self) -> int:
        return len(self.value)

    def __iter__(self) -> Any:
        for i in range(len(self)):
            yield self[i]

    # ------------------------------------------------------------ methods
    def _method(self, op: str, args: tuple, kwargs: dict, method: str | None = None) -> Any:
        label = self.trace.call(f"{self.name}.{method or op}", args, kwargs)
        return self.trace.apply(op, (self, *args), kwargs, label)

    def sum(self, *args: Any, **kwargs: Any) -> TracedArray:
        return self._method("sum", args, kwargs)

    def mean(self, *args: Any, **kwargs: Any) -> TracedArray:
        return self._method("mean", args, kwargs)

    def dot(self, other: Any) -> TracedArray:
        return self._method("dot", (other,), {})

    def squeeze(self, axis: Any = None) -> TracedArray:
        return self._method("squeeze", (axis,), {})

    def ravel(self, order: str = "C") -> TracedArray:
        kwargs = {} if order == "C" else {"order": order}
        return self._method("ravel", (), kwargs)

    def flatten(self, order: str = "C") -> TracedArray:
        kwargs = {} if order == "C" else {"order": order}
        return self._method("ravel", (), kwargs, method="flatten")

    def reshape(self, *shape: Any, order: str = "C") -> TracedArray:
        if len(shape) == 1 and isinstance(shape[0], tuple | list):
            shape = tuple(shape[0])
        kwargs = {} if order == "C" else {"order": order}
        label = self.trace.call(f"{self.name}.reshape", shape, kwargs)
        return self.trace.apply("reshape", (self, shape), kwargs, label)

    def transpose(self, *axes: Any) -> TracedArray:
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], tuple | list)):
            axes = axes[0]
        label = self.trace.call(f"{self.name}.transpose", axes or (), {})
        return self.trace.apply("transpose", (self, axes or None), {}, label)

    @property
    def T(self) -> TracedArray:
        return self.trace.apply("transpose", (self,), {}, f"{self.name}.T")

    def __getitem__(self, key: Any) -> TracedArray:
        parts = key if isinstance(key, tuple) else (key,)
        label = f"{self.name}[{', '.join(self.trace.show(k) for k in parts)}]"
        return self.trace.apply("getitem", (self, key), {}, label)

    def __setitem__(self, key: Any, value: Any) -> None:
        raise TraceError(
            f"assigning into traced array {self.name!r} ({self.name}[...] = ...) is not "
            "supported: build the array with np.concatenate or np.stack instead"
        )

    def max(self, *args: Any, **kwargs: Any) -> Any:
        raise TraceError(f"{self.name}.max is not supported: {NOT_DIFFERENTIABLE['max']}")

    def min(self, *args: Any, **kwargs: Any) -> Any:
        raise TraceError(f"{self.name}.min is not supported: {NOT_DIFFERENTIABLE['min']}")

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("__") and hasattr(np.ndarray, name):
            raise _unsupported(f"the array method or attribute .{name}")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # ------------------------------------------------------------ operators
    def _binary(self, ufunc: np.ufunc, other: Any, reflected: bool = False) -> Any:
        inputs = (other, self) if reflected else (self, other)
        return self.__array_ufunc__(ufunc, "__call__", *inputs)

    __add__ = _operator(np.add)
    __radd__ = _operator(np.add, reflected=True)
    __sub__ = _operator(np.subtract)
    __rsub__ = _operator(np.subtract, reflected=True)
    __mul__ = _operator(np.multiply)
    __rmul__ = _operator(np.multiply, reflected=True)
    __truediv__ = _operator(np.divide)
    __rtruediv__ = _operator(np.divide, reflected=True)
    __floordiv__ = _operator(np.floor_divide)  # refused by the ufunc dispatch, with the others
    __rfloordiv__ = _operator(np.floor_divide, reflected=True)
    __mod__ = _operator(np.remainder)
    __rmod__ = _operator(np.remainder, reflected=True)
    __pow__ = _operator(np.power)
    __rpow__ = _operator(np.power, reflected=True)
    __matmul__ = _operator(np.matmul)
    __rmatmul__ = _operator(np.matmul, reflected=True)

    def __neg__(self) -> Any:
        return self.__array_ufunc__(np.negative, "__call__", self)

    def __pos__(self) -> Any:
        return self.__array_ufunc__(np.positive, "__call__", self)

    def __abs__(self) -> Any:
        return self.trace.apply("absolute", (self,), {}, f"abs({self.name})")

    # ------------------------------------------------------------ refused: branching
    __lt__ = _comparison("<")
    __le__ = _comparison("<=")
    __gt__ = _comparison(">")
    __ge__ = _comparison(">=")
    __eq__ = _comparison("==")  # type: ignore[assignment]
    __ne__ = _comparison("!=")  # type: ignore[assignment]

    def __bool__(self) -> bool:
        raise _branching(f"bool({self.name})")

    def _number(self, kind: str) -> Any:
        raise TraceError(
            f"{kind}({self.name}) turns a traced value into a Python number, which cuts it "
            "out of the graph (and usually means the function branches on traced values)"
        )

    def __float__(self) -> float:
        return self._number("float")

    def __int__(self) -> int:
        return self._number("int")

    def __index__(self) -> int:
        return self._number("int")

    def __complex__(self) -> complex:
        return self._number("complex")


# ---------------------------------------------------------------------------- trace
def _argument_names(f: Callable, count: int) -> list[str]:
    """The names of ``f``'s first ``count`` positional arguments (``*args`` as args_0 ...)."""
    try:
        signature = inspect.signature(f)
    except (TypeError, ValueError):
        return [f"arg{i}" for i in range(count)]
    names: list[str] = []
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            names.append(parameter.name)
        elif parameter.kind == parameter.VAR_POSITIONAL:
            names += [f"{parameter.name}_{i}" for i in range(count - len(names))]
    if len(names) < count:
        raise TraceError(
            f"{_function_name(f)} takes {len(names)} positional arguments, "
            f"{count} example arguments were given"
        )
    try:
        signature.bind(*range(count))
    except TypeError as error:
        raise TraceError(f"the example arguments do not fit {_function_name(f)}: {error}") from None
    return names[:count]


def _function_name(f: Callable) -> str:
    name = getattr(f, "__name__", None) or type(f).__name__
    return "lambda" if name == "<lambda>" else name


def _is_float_array(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.dtype.kind == "f"


def _positions(wrt: Any, names: list[str], args: tuple) -> tuple[list[int], bool]:
    """Positions of the differentiated arguments (sorted), and whether wrt named them."""
    listing = ", ".join(names) or "none"
    if wrt is None:
        chosen = [i for i, a in enumerate(args) if _is_float_array(a)]
        if not chosen:
            raise TraceError(
                "no floating-point array argument to differentiate; name the arguments in "
                f"wrt (arguments: {listing})"
            )
        return chosen, False
    items = [wrt] if isinstance(wrt, str | int) else list(wrt)
    if not items:
        raise TraceError(f"wrt is empty; name at least one argument (arguments: {listing})")
    chosen: list[int] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, str | int | np.integer):
            raise TraceError(f"wrt holds {item!r}; give argument positions or names")
        if isinstance(item, str):
            if item not in names:
                raise TraceError(f"wrt names {item!r}, which is not an argument ({listing})")
            position = names.index(item)
        else:
            position = int(item)
            if not 0 <= position < len(names):
                raise TraceError(
                    f"wrt names argument position {position}, which does not exist: "
                    f"{len(names)} arguments were given ({listing})"
                )
        if position in chosen:
            raise TraceError(f"wrt names argument {names[position]!r} twice")
        chosen.append(position)
    return sorted(chosen), True


def _parameter_value(name: str, value: Any) -> np.ndarray:
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise TraceError(f"argument {name!r} in wrt is not numeric: {error}") from None
    kind = array.dtype.kind
    if kind in "biu":
        raise TraceError(
            f"argument {name!r} in wrt is an integer array ({array.dtype}); only "
            "floating-point arrays can be differentiated (pass it as floats, e.g. "
            f"{name}.astype(float))"
        )
    if kind == "c":
        raise TraceError(f"argument {name!r} in wrt is complex; only real floats are supported")
    if kind != "f":
        raise TraceError(
            f"argument {name!r} in wrt is not numeric (dtype {array.dtype}, "
            f"{type(value).__name__}); only floating-point arrays can be differentiated"
        )
    return np.asarray(array, dtype=float)


def _check_finite(names: list[str], args: tuple) -> None:
    for name, value in zip(names, args, strict=True):
        if isinstance(value, np.ndarray | float | np.floating):
            array = np.asarray(value)
            if array.dtype.kind in "fc" and not np.all(np.isfinite(array)):
                raise TraceError(f"argument {name!r} has NaN or infinite values")


def trace(
    f: Callable[..., Any],
    *example_args: Any,
    wrt: int | str | Sequence[int | str] | None = None,
    name: str | None = None,
) -> JacobianGraph:
    """Trace a plain numpy function into a Jacobian graph.

    ``f`` runs once on the example arguments, the differentiated ones replaced by
    :class:`TracedArray` objects: every numpy operation on them becomes a variable
    (named after the operation, ``matmul_1``, ``tanh_2``, … with one counter, its
    numpy call in the ``label`` node attribute), with one factor per traced operand
    carrying its structure kind (see :mod:`analyzer.frontends.numpy_rules`) and a
    callable that computes its numbers at any point. Operations on constants only
    run eagerly and add nothing.

    Parameters
    ----------
    f : callable
        A function of arrays written with numpy, unchanged.
    *example_args
        Its arguments at the example point: the values are the parameters' defaults,
        the constants' fixed values, and fix every shape.
    wrt : int, str or sequence of them, optional
        The differentiated arguments, by position or name; the others are constants.
        Default: every floating-point numpy array argument.
    name : str, optional
        The graph's name (default: ``f``'s name).

    Returns
    -------
    JacobianGraph
        Parameters named after ``f``'s arguments, in argument order (the Jacobian's
        column order); outputs the returned arrays, in order (its row order). A
        returned array that also feeds another operation, or a returned parameter,
        gets an output variable of its own joined by an identity factor.

    Raises
    ------
    TraceError
        For an unsupported operation, a branch on traced values, a bad ``wrt``, a
        non-float, NaN or infinite example value, or a function returning no traced value.

    Examples
    --------
    >>> import numpy as np
    >>> def net(w, W, x):
    ...     return np.tanh(w @ np.tanh(W @ x))
    >>> rng = np.random.default_rng(0)
    >>> w, W, x = rng.standard_normal(3), rng.standard_normal((3, 2)), rng.standard_normal(2)
    >>> g = trace(net, w, W, x, wrt=("w", "W"))
    >>> g.parameters, g.intermediates, g.outputs
    (['w', 'W'], ['matmul_1', 'tanh_2', 'matmul_3'], ['tanh_4'])
    >>> g.nodes["tanh_2"]["label"], g.edges["W", "matmul_1"]["structure"]
    ('np.tanh(matmul_1)', 'row-block')
    >>> bool(np.allclose(g.function(), net(w, W, x)))
    True
    """
    if not callable(f):
        raise TraceError(f"trace needs a function, got {type(f).__name__}")
    names = _argument_names(f, len(example_args))
    positions, explicit = _positions(wrt, names, example_args)
    _check_finite(names, example_args)
    constants = {
        id(a): n
        for i, (n, a) in enumerate(zip(names, example_args, strict=True))
        if i not in positions and isinstance(a, np.ndarray)
    }
    run = _Trace(names, constants)
    arguments = list(example_args)
    parameters: dict[str, np.ndarray] = {}
    for i in positions:
        value = _parameter_value(names[i], example_args[i])
        parameters[names[i]] = value
        arguments[i] = TracedArray(run, names[i], value)
    result = f(*arguments)
    outputs = _outputs(result, run, names, positions)
    return _build(run, parameters, outputs, explicit, name or _function_name(f))


def _outputs(result: Any, run: _Trace, names: list[str], positions: list[int]) -> list[str]:
    items = list(result) if isinstance(result, tuple | list) else [result]
    wrt = ", ".join(names[i] for i in positions)
    if not any(isinstance(r, TracedArray) for r in items):
        raise TraceError(
            f"the function returned nothing traced ({type(result).__name__}): its result "
            f"must depend on the differentiated arguments ({wrt})"
        )
    for k, item in enumerate(items):
        if not isinstance(item, TracedArray):
            raise TraceError(
                f"returned value {k} is not traced ({type(item).__name__}): it does not depend "
                f"on the differentiated arguments ({wrt}); return traced arrays only"
            )
        if item.trace is not run:
            raise TraceError(f"returned value {k} comes from another trace")
    return [item.name for item in items]


def live_and_outputs(
    recorded: Mapping[str, Any], returned: list[str], fresh: Callable[[str], str]
) -> tuple[set[str], dict[str, str]]:
    """The recorded variables that reach a returned value, and each output's source.

    A returned variable becomes an output itself when nothing else reads it (nor
    another output: a variable returned twice gets an output variable each time);
    otherwise a fresh output variable copies it. Shared by the front ends.
    """
    live, stack = set(), list(returned)
    while stack:
        v = stack.pop()
        if v not in live:
            live.add(v)
            if v in recorded:
                stack += [tail for tail, _, _ in recorded[v].factors]
    consumed = {tail for v in live if v in recorded for tail, _, _ in recorded[v].factors}
    as_output: dict[str, str] = {}
    for v in returned:
        if v in recorded and v not in consumed and returned.count(v) == 1:
            as_output[v] = v
        else:
            as_output[fresh("output")] = v
    return live, as_output


def _build(
    run: _Trace,
    parameters: dict[str, np.ndarray],
    returned: list[str],
    explicit: bool,
    name: str,
) -> JacobianGraph:
    """The graph of the recorded variables that reach a returned value."""
    recorded = run.recorded
    live, as_output = live_and_outputs(recorded, returned, run.fresh)
    g = JacobianGraph(name=name)
    for p, value in parameters.items():
        if p not in live:
            if explicit:
                raise TraceError(f"the returned values do not depend on {p!r}, named in wrt")
            continue
        g.add_variable(p, role="parameter", shape=value.shape, value=value)
        g.nodes[p]["label"] = p
    for v, pending in recorded.items():
        if v in live and v not in as_output:
            _add(g, pending, "intermediate")
    for out, source in as_output.items():
        if out == source:
            _add(g, recorded[out], "output")
        else:
            shape = recorded[source].shape if source in recorded else parameters[source].shape
            g.add_variable(
                out, role="output", shape=shape, evaluate=lambda v, source=source: v[source]
            )
            g.nodes[out]["label"] = source
            g.add_factor(source, out, "identity")
    return g.validate()


def _add(g: JacobianGraph, pending: _Pending, role: str) -> None:
    g.add_variable(pending.name, role=role, shape=pending.shape, evaluate=pending.evaluate)
    g.nodes[pending.name]["label"] = pending.label
    for tail, kind, jacobian in pending.factors:
        g.add_factor(tail, pending.name, kind, jacobian)
