"""The ``analyzer`` command (``python -m analyzer``): plan, compare, pareto, sweep, report,
run, calibrate.

Sizes are given as ``--NAME VALUE`` with the model's own size names
(``--H 64 --N 32`` for one-layer, ``--dims 30,35,15`` for chain); in a sweep a
comma list gives the values to sweep.

Examples
--------
>>> main(["plan", "--model", "one-layer", "--H", "10", "--N", "5", "--order", "forward"])
Plan for one_layer (H=10, N=5): order input-first, cost model dense
...
0
>>> main(["plan", "--model", "one-layer", "--H", "10", "--N", "5", "--order", "sideways"])
2
"""

from __future__ import annotations

import argparse
import keyword
import os
import shlex
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from . import studies
from .errors import AnalyzerError
from .frontends.loader import trace_file
from .measure import resolve_model, sweep
from .models import MODELS
from .planning import ALIASES, COST_MODELS, ORDERS, compare, pareto, plan
from .planning.memory import human_bytes
from .planning.memunits import parse_memory
from .planning.search import DEFAULT_TIME_LIMIT
from .report import render

__all__ = ["main", "build_parser"]

ORDER_CHOICES = ", ".join(list(ORDERS) + list(ALIASES))


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are the project's own (one line, exit status 2).

    Abbreviated options are off: ``--m`` is the size ``m``, not ``--model``.
    """

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        command = self.prog.removeprefix("analyzer").strip()
        raise AnalyzerError(f"{command}: {message}" if command else message)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = _Parser(
        prog="analyzer",
        description="Exact multiply-add counts of every order of a Jacobian product, "
        "checked against real timing.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def model_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", default="one-layer", help="model name (default one-layer)")
        p.add_argument("--cost", default="dense", help=f"cost model(s): {', '.join(COST_MODELS)}")
        p.epilog = "Sizes: --NAME VALUE with the model's size names, e.g. --H 64 --N 32."

    def memory_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--memory-limit",
            metavar="BYTES",
            help="peak memory allowed, e.g. '2 GB' or '512 MiB' (kB, MB, GB: powers of 1000; "
            "KiB, MiB, GiB: powers of 1024): the cheapest optimal order within it",
        )

    def trace_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--trace", metavar="FILE.py:FUNCTION", help="trace your numpy function")
        p.add_argument("--shapes", help="its arguments' shapes, e.g. W=64x32,x=32 (with --trace)")
        p.add_argument("--wrt", help="differentiated arguments, e.g. W,w (default: all)")
        p.add_argument("--jax", action="store_true", help="the function uses jax.numpy (--trace)")
        p.add_argument(
            "--matrix-free",
            action="store_true",
            help="with --jax: each factor an operator applied by JAX's own jvp/vjp",
        )
        p.epilog = (
            "Sizes: --NAME VALUE with the model's size names, e.g. --H 64 --N 32, or symbols "
            "(--H H --N N) for exact cost polynomials. Or --trace FILE.py:FUNCTION --shapes "
            "W=64x32,x=32 [--wrt W]: your function, traced at seeded random values."
        )

    def time_limit_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--time-limit",
            default=str(DEFAULT_TIME_LIMIT),
            metavar="SECONDS",
            help=f"seconds the exact search may take, or 'none' (default {DEFAULT_TIME_LIMIT:g})",
        )

    p = sub.add_parser("plan", help="print the plan of one order")
    model_options(p)
    trace_options(p)
    p.add_argument("--order", default="optimal", help=f"one of: {ORDER_CHOICES}")
    memory_option(p)
    time_limit_option(p)

    p = sub.add_parser("compare", help="compare input-first, output-first and optimal")
    model_options(p)
    trace_options(p)
    memory_option(p)
    time_limit_option(p)

    p = sub.add_parser("pareto", help="the orders no other beats on both macs and peak memory")
    model_options(p)
    trace_options(p)
    time_limit_option(p)

    p = sub.add_parser("sweep", help="time every order over a grid of sizes and report")
    model_options(p)
    p.add_argument("--orders", default="input-first,output-first,optimal")
    p.add_argument("--repeat", type=int, default=5, help="timed repetitions (at least)")
    p.add_argument(
        "--passes", type=int, default=2, help="timing passes, forward then backward (default 2)"
    )
    p.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    p.add_argument("--out", required=True, help="folder for CSV, plots and report")
    p.add_argument("--resume", action="store_true", help="continue from rows saved in --out")
    p.add_argument("--check", action="store_true", help="exit 1 when a fit verdict fails")

    p = sub.add_parser("calibrate", help="measure this machine's rates for the machine model")
    p.add_argument("--quick", action="store_true", help="fewer points, under 15 s")
    p.add_argument("--refresh", action="store_true", help="measure again even when cached")
    p.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")

    p = sub.add_parser("report", help="re-render plots and report from a folder's CSV files")
    p.add_argument("folder")

    p = sub.add_parser("run", help="the main job: the forward_vs_reverse experiment")
    p.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    p.add_argument("--out", default=None, help="folder (default reports/forward_vs_reverse)")
    p.add_argument("--resume", action="store_true", help="continue from rows saved in --out")
    p.add_argument("--check", action="store_true", help="exit 1 when a verdict fails")
    return parser


def _parse_sizes(
    extra: Sequence[str], names: Sequence[str], symbols: bool = False, optional: Sequence[str] = ()
) -> dict[str, list[int]]:
    sizes: dict[str, list[int]] = {}
    tokens = list(extra)
    while tokens:
        flag = tokens.pop(0)
        if flag.startswith("--") and "=" in flag:
            flag, value = flag.split("=", 1)
        elif flag.startswith("--") and tokens:
            value = tokens.pop(0)
        else:
            raise AnalyzerError(
                f"unexpected argument {flag!r}; sizes are --NAME VALUE with NAME in "
                f"{', '.join(names)}"
            )
        name = flag[2:]
        if name not in names and name not in optional:
            raise AnalyzerError(f"unknown size --{name}; this model's sizes: {', '.join(names)}")
        if name in sizes:
            raise AnalyzerError(f"size --{name} is given twice")
        try:
            sizes[name] = [_size_value(v, symbols) for v in value.split(",")]
        except ValueError:
            kinds = "integers or symbol names" if symbols else "integers"
            raise AnalyzerError(f"size --{name} must be {kinds}, got {value!r}") from None
    missing = [n for n in names if n not in sizes]
    if missing:
        raise AnalyzerError(f"missing size(s): {', '.join('--' + n for n in missing)}")
    return sizes


def _size_value(text: str, symbols: bool) -> int | str:
    text = text.strip()
    if symbols and text.isidentifier() and not keyword.iskeyword(text):
        return text
    return int(text)


_LIST_SIZES = ("widths", "dims", "edges")
#: Optional list arguments of models, given like sizes (``--edges 44,2,18,11``).
_OPTIONAL_SIZES = {"chain": ("edges",)}


def _graph(args: argparse.Namespace, extra: Sequence[str]):
    if args.trace is not None:
        if extra:
            raise AnalyzerError(f"unexpected argument(s) with --trace: {' '.join(extra)}")
        if args.shapes is None:
            raise AnalyzerError("--trace needs --shapes, e.g. --shapes W=64x32,x=32")
        return trace_file(
            args.trace, args.shapes, args.wrt, jax=args.jax, matrix_free=args.matrix_free
        )
    for option in ("shapes", "wrt"):
        if getattr(args, option) is not None:
            raise AnalyzerError(f"--{option} goes with --trace FILE.py:FUNCTION")
    if args.jax or args.matrix_free:
        flag = "--jax" if args.jax else "--matrix-free"
        raise AnalyzerError(f"{flag} goes with --trace FILE.py:FUNCTION")
    name, factory, names = resolve_model(args.model)
    sizes = _parse_sizes(extra, names, symbols=True, optional=_OPTIONAL_SIZES.get(name, ()))
    args = {}
    for k, v in sizes.items():
        if k in _LIST_SIZES:
            args[k] = v
        elif len(v) != 1:
            raise AnalyzerError(f"--{k} takes one value here, got {len(v)}")
        else:
            args[k] = v[0]
    return factory(**args)


def _costs(text: str) -> list[str]:
    costs = [c.strip() for c in text.split(",") if c.strip()]
    if not costs:
        raise AnalyzerError(f"give at least one cost model: {', '.join(COST_MODELS)}")
    return costs


def _time_limit(text: str) -> float | None:
    """``--time-limit``: a positive number of seconds, or ``none`` (or ``inf``) for no limit."""
    if text.strip().lower() in ("none", "inf"):
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise AnalyzerError(
            f"--time-limit must be a positive number of seconds or 'none', got {text!r}"
        )
    return value


def _run(args: argparse.Namespace, extra: list[str], argv: Sequence[str]) -> int:
    command = "analyzer " + " ".join(shlex.quote(a) for a in argv)
    if args.command in ("report", "run", "calibrate") and extra:
        raise AnalyzerError(f"unexpected argument(s): {' '.join(extra)}")
    out = getattr(args, "out", None)
    if out is not None and not out.strip():
        raise AnalyzerError(f"{args.command}: --out must name a folder, got {out!r}")
    if args.command == "report" and not args.folder.strip():
        raise AnalyzerError(f"report: FOLDER must name a folder, got {args.folder!r}")
    if args.command == "plan":
        limit = _time_limit(args.time_limit)
        costs = _costs(args.cost)
        if len(costs) != 1:
            raise AnalyzerError("plan takes one cost model")
        print(
            plan(
                _graph(args, extra),
                args.order,
                costs[0],
                memory_limit=args.memory_limit,
                time_limit=limit,
            )
        )
        return 0
    if args.command == "compare":
        limit = _time_limit(args.time_limit)
        if args.memory_limit is not None:
            parse_memory(args.memory_limit)  # refused before any table is printed
        graph = _graph(args, extra)
        for cost in _costs(args.cost):
            table = compare(graph, cost, time_limit=limit)  # peak: unit in each value
            print(table.drop(columns="peak_bytes").to_string(index=False))
            if args.memory_limit is not None:
                print(_within(graph, cost, args.memory_limit, limit))
        return 0
    if args.command == "pareto":
        limit = _time_limit(args.time_limit)
        graph = _graph(args, extra)
        for cost in _costs(args.cost):
            front = pareto(graph, cost, time_limit=limit)
            print(front.drop(columns="exact").to_string(index=False))
            how = "exact" if front.attrs["exact"] else "found by the search, not proven"
            points = f"{len(front)} point{'s' if len(front) != 1 else ''}"
            print(f"({points}, cost model {cost}, {how}: {front.attrs['method']})")
        return 0
    if args.command == "report":
        print(render(args.folder))
        return 0
    if args.command == "calibrate":
        from .machine import calibrate

        cached: list = []
        calibration = calibrate(
            args.threads,
            quick=args.quick,
            refresh=args.refresh,
            on_cache=lambda path, error: cached.append((path, error)),
        )
        print(calibration.summary())
        for path, error in cached:
            if error is None:
                print(f"cached in {path}")
            else:
                print(f"not cached: {error}", file=sys.stderr)
        return 0
    if args.command == "run":
        outcome = studies.forward_vs_reverse(
            quick=args.quick, out=args.out, resume=args.resume, command=command
        )
        print(outcome.summary())
        return 1 if args.check and not outcome.passed else 0
    # sweep
    name, _, names = resolve_model(args.model)
    grid = _parse_sizes(extra, names, optional=_OPTIONAL_SIZES.get(name, ()))
    if lists := [f"--{k}" for k in grid if k in _LIST_SIZES]:
        scalar = [m for m in MODELS if not set(resolve_model(m)[2]) & set(_LIST_SIZES)]
        raise AnalyzerError(
            f"sweeps need a model with scalar sizes; {name} takes lists ({', '.join(lists)}): "
            f"compare it at given sizes, or sweep one of {', '.join(scalar)}"
        )
    results = sweep(
        args.model,
        grid,
        orders=[o.strip() for o in args.orders.split(",")],
        cost=_costs(args.cost),
        repeat=args.repeat,
        threads=args.threads,
        out=args.out,
        resume=args.resume,
        passes=args.passes,
    )
    outcome = studies.finish(
        args.out,
        results,
        xs=[k for k, v in grid.items() if len(v) > 1 and k in set(results["sweep"])],
        meta={"name": Path(args.out).name, "command": command, "description": ""},
    )
    print(outcome.summary())
    return 1 if args.check and not outcome.passed else 0


def _within(graph, cost: str, limit: str, time_limit: float | None) -> str:
    """One line: the cheapest order found within a memory limit (``compare --memory-limit``)."""
    p = plan(graph, "optimal", cost, memory_limit=limit, time_limit=time_limit)
    claim = "proven" if p.proven_optimal else f"not proven, gap at most {p.gap:.2%}"
    return (
        f"optimal within {limit}: {p.macs} macs, peak {human_bytes(p.peak_bytes)} "
        f"({claim}); {p.bracketing}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit status.

    0: done. 1: a verdict failed under ``--check``, or a bug in the library (its traceback
    is printed on stderr). 2: bad input (an :class:`~analyzer.errors.AnalyzerError`) or not
    enough memory, as one stderr line ``analyzer: error: ...``. 130: interrupted.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        return _run(args, extra, argv)
    except AnalyzerError as error:
        lines = str(error).splitlines()
        print(f"analyzer: error: {lines[0] if lines else type(error).__name__}", file=sys.stderr)
        return 2
    except MemoryError:
        print("analyzer: error: not enough memory for these sizes", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("analyzer: interrupted; saved rows can be continued with --resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader left (``analyzer plan ... | head``): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception:  # any other exception is a bug: show where it happened
        traceback.print_exc()
        print("analyzer: internal error (a bug in analyzer, not in your input)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
