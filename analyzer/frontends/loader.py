"""A user's function from the command line: ``FILE.py:FUNCTION`` traced at seeded random values.

Examples
--------
>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "net.py").write_text(
...     "import numpy as np\\ndef f(w, W, x):\\n    return np.tanh(w @ np.tanh(W @ x))\\n")
>>> g = trace_file(f"{folder}/net.py:f", "w=10,W=10x5,x=5", wrt="w,W")
>>> g.parameters
['w', 'W']
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AnalyzerError, TraceError
from ..graph import JacobianGraph

__all__ = ["load_function", "parse_shapes", "example_arguments", "trace_file"]

_SHAPE = re.compile(r"^\d+(x\d+)*$")


def load_function(spec: str) -> Callable:
    """The function ``FUNCTION`` of the Python file ``FILE.py`` named by ``FILE.py:FUNCTION``."""
    if not isinstance(spec, str) or ":" not in spec:
        raise TraceError(f"give the function as FILE.py:FUNCTION, got {spec!r}")
    path_text, name = spec.rsplit(":", 1)
    path = Path(path_text)
    if path.suffix != ".py" or not path.is_file():
        raise TraceError(f"no Python file {path_text!r} (give FILE.py:FUNCTION)")
    if not name.isidentifier():
        raise TraceError(f"{name!r} is not a function name (give FILE.py:FUNCTION)")
    module_name = f"_analyzer_traced_{abs(hash(str(path.resolve())))}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except (Exception, SystemExit) as error:  # the user's file failed to import: name it
        del sys.modules[module_name]
        raise TraceError(f"cannot import {path_text}: {type(error).__name__}: {error}") from None
    function = getattr(module, name, None)
    if not callable(function):
        found = sorted(n for n, v in vars(module).items() if inspect.isfunction(v))
        raise TraceError(
            f"{path_text} has no function {name!r}; its functions: {', '.join(found) or 'none'}"
        )
    return function


def parse_shapes(text: str) -> dict[str, tuple[int, ...]]:
    """``"W=64x32,x=32,s=1"`` as ``{"W": (64, 32), "x": (32,), "s": (1,)}``; ``s=`` is a scalar.

    >>> parse_shapes("W=64x32,x=32,c=")
    {'W': (64, 32), 'x': (32,), 'c': ()}
    """
    shapes: dict[str, tuple[int, ...]] = {}
    for item in filter(None, (part.strip() for part in str(text).split(","))):
        name, sep, dims = item.partition("=")
        name, dims = name.strip(), dims.strip()
        if not sep or not name.isidentifier():
            raise TraceError(f"shapes are NAME=AxB,... (e.g. W=64x32,x=32); got {item!r}")
        if dims and not _SHAPE.match(dims):
            raise TraceError(
                f"shape of {name!r} must be sizes joined by 'x' (e.g. 64x32), got {dims!r}"
            )
        shape = tuple(int(d) for d in dims.split("x")) if dims else ()
        if any(d < 1 for d in shape):
            raise TraceError(f"shape of {name!r} must have positive sizes, got {dims!r}")
        if name in shapes:
            raise TraceError(f"shape of {name!r} is given twice")
        shapes[name] = shape
    if not shapes:
        raise TraceError("give the arguments' shapes: --shapes NAME=AxB,...")
    return shapes


def example_arguments(
    function: Callable, shapes: dict[str, tuple[int, ...]], seed: int = 0
) -> list:
    """Seeded standard-normal arrays of these shapes for the function's parameters, in order."""
    names = [
        p.name
        for p in inspect.signature(function).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    missing = [n for n in names if n not in shapes]
    unknown = sorted(set(shapes) - set(names))
    if missing or unknown:
        raise TraceError(
            f"--shapes must give each argument of {function.__name__}({', '.join(names)}): "
            + (f"missing {', '.join(missing)}" if missing else "")
            + ("; " if missing and unknown else "")
            + (f"unknown {', '.join(unknown)}" if unknown else "")
        )
    total = sum(int(np.prod(shapes[n])) for n in names)
    if total > 50_000_000:
        raise TraceError(f"the arguments hold {total} numbers; at most 50,000,000 are drawn")
    rng = np.random.default_rng(seed)
    return [
        rng.standard_normal(shapes[n]) / np.sqrt(max(1, shapes[n][-1] if shapes[n] else 1))
        for n in names
    ]


def trace_file(
    spec: str,
    shapes: str,
    wrt: str | None = None,
    seed: int = 0,
    jax: bool = False,
    matrix_free: bool = False,
) -> JacobianGraph:
    """Trace ``FILE.py:FUNCTION`` at seeded random arguments of the given shapes.

    ``wrt`` is a comma list of argument names (default: every argument). With
    ``jax`` the function is written with ``jax.numpy`` and read from its jaxpr
    (:func:`~analyzer.frontends.from_jax`); ``matrix_free`` (with ``jax`` only) makes
    each factor an operator applied by JAX's own ``jvp``/``vjp``.
    """
    if matrix_free and not jax:
        raise TraceError("matrix-free reading goes with a JAX function (--jax)")
    function = load_function(spec)
    arguments = example_arguments(function, parse_shapes(shapes), seed)
    chosen = None if wrt is None else tuple(n.strip() for n in str(wrt).split(",") if n.strip())
    name = spec.rsplit(":", 1)[1]
    try:
        return _trace(function, arguments, chosen, name, jax, matrix_free)
    except AnalyzerError:
        raise
    except (Exception, SystemExit) as error:  # the user's function failed: name it, one line
        raise TraceError(f"{spec} raised {type(error).__name__}: {error}") from None


def _trace(
    function: Callable, arguments: list, chosen: Any, name: str, jax: bool, matrix_free: bool
):
    if jax:
        from .jax_reader import from_jax

        names = list(inspect.signature(function).parameters)
        unknown = [n for n in (chosen or ()) if n not in names]
        if unknown:
            raise TraceError(
                f"--wrt names no argument {', '.join(unknown)}; arguments: {', '.join(names)}"
            )
        argnums = (
            tuple(range(len(names))) if chosen is None else tuple(names.index(n) for n in chosen)
        )
        return from_jax(function, *arguments, argnums=argnums, name=name, matrix_free=matrix_free)
    from .numpy_trace import trace

    return trace(function, *arguments, wrt=chosen, name=name)
