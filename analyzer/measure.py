"""Sweeps: plan, execute and time every order over a grid of sizes, with a roofline beside.

Examples
--------
>>> df = sweep("one-layer", {"H": [4, 8], "N": [3]}, orders=("input-first",), repeat=1,
...            progress=False, roofline=Roofline(1e9, 1e10))
>>> df[["H", "N", "order", "macs", "leading_term"]]
   H  N        order  macs leading_term
0  4  3  input-first   256       H**3*N
1  8  3  input-first  1760       H**3*N
"""

from __future__ import annotations

import inspect
import itertools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from numbers import Integral, Real
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .blas import available_memory
from .errors import AnalyzerError
from .executor import execute, memory_needed
from .files import GRAPH_FILE, atomic_write_text, write_csv
from .graph import JacobianGraph
from .machine import Calibration, Roofline, blas_threads, calibrate, machine_info
from .machine.explain import MODEL_COLUMNS, predict_plan
from .machine.model import CALIBRATION_VERSION
from .models import MODELS
from .planning import canonical_order, check_cost, from_sequence, plan
from .symbolic import evaluate, leading_term, size_symbols

__all__ = [
    "MAX_SPREAD",
    "MIN_REPEAT",
    "RESULT_COLUMNS",
    "STEP_COLUMNS",
    "sweep",
    "resolve_model",
    "normalize_grid",
    "available_memory",
    "memory_needed",
    "load_sweep",
    "graph_record",
]

#: A configuration whose interquartile range exceeds this fraction of its median is
#: repeated more (within a time budget) before its median is kept.
MAX_SPREAD = 0.1
#: Fewest timed runs (in all passes) of a plan whose runs already took the sweep's
#: ``max_seconds``: each of ``passes`` passes stops after ``ceil(MIN_REPEAT / passes)`` such runs.
MIN_REPEAT = 3
_MAX_REPEAT = inspect.signature(execute).parameters["max_repeat"].default


def _saved_setting(saved: dict, key: str) -> Any:
    """A setting of a saved sweep.json; for one saved before the setting existed, what the
    sweep that saved it did (one pass; a repeat budget of ``max(2 min_seconds, 2 s)``)."""
    if key in saved:
        return saved[key]
    if key == "passes":
        return 1
    if key == "max_seconds":
        low = saved.get("min_seconds")
        if isinstance(low, int | float) and not isinstance(low, bool):
            return max(2 * float(low), 2.0)
    return None


RESULT_COLUMNS = [
    "model",
    "cost",
    "order",
    "sweep",
    "macs",
    "formula",
    "leading_term",
    "bytes",
    "largest_intermediate",
    "peak_bytes_predicted",
    "peak_bytes_measured",
    "seconds",
    "seconds_min",
    "seconds_iqr",
    "spread",
    "repeats",
    "gflops",
    "roofline_seconds",
    "roofline_ratio",
    *MODEL_COLUMNS,
    "sequence",
]
STEP_COLUMNS = [
    "model",
    "cost",
    "order",
    "sweep",
    "step",
    "product",
    "structures",
    "shapes",
    "macs",
    "bytes",
    "bytes_written",
    "seconds",
    "roofline_seconds",
    "roofline_ratio",
    "working_set",
    "model_seconds",
    "model_ratio",
    "model_bound",
    "model_level",
]


def resolve_model(model: str | Callable[..., JacobianGraph]) -> tuple[str, Callable, list[str]]:
    """Name, factory and size arguments of a model given by name or as a factory."""
    if isinstance(model, str):
        if model not in MODELS:
            raise AnalyzerError(f"unknown model {model!r}; valid models: {', '.join(MODELS)}")
        name, factory = model, MODELS[model]
    elif callable(model):
        name, factory = getattr(model, "__name__", "model").replace("_", "-"), model
    else:
        raise AnalyzerError(f"a model is a name ({', '.join(MODELS)}) or a callable")
    sizes = [
        p.name
        for p in inspect.signature(factory).parameters.values()
        if p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    return name, factory, sizes


def normalize_grid(grid: Any, sizes: Sequence[str]) -> list[dict[str, Any]]:
    """Configurations from a dict of lists (their product) or a list of dicts.

    Each configuration gets a ``sweep`` label: the size that varies along its
    series (given as the key ``"sweep"``, or the only key of a dict grid with
    several values, else ``"grid"``).

    >>> normalize_grid({"H": [8, 16], "N": 4}, ["H", "N"])
    [{'H': 8, 'N': 4, 'sweep': 'H'}, {'H': 16, 'N': 4, 'sweep': 'H'}]
    """
    if isinstance(grid, Mapping) and not grid:
        raise AnalyzerError("the grid is empty; give at least one configuration")
    if isinstance(grid, Mapping):
        lists = {
            k: list(v) if isinstance(v, list | tuple | range) else [v] for k, v in grid.items()
        }
        varying = [k for k, v in lists.items() if len(v) > 1]
        label = varying[0] if len(varying) == 1 else "grid"
        configs = [
            {**dict(zip(lists, values, strict=True)), "sweep": label}
            for values in itertools.product(*lists.values())
        ]
    elif isinstance(grid, list | tuple):
        configs = [dict(c) for c in grid]
        for c in configs:
            c.setdefault("sweep", "grid")
    else:
        raise AnalyzerError("a grid is a dict of size lists or a list of size dicts")
    if not configs:
        raise AnalyzerError("the grid is empty; give at least one configuration")
    for c in configs:
        given = set(c) - {"sweep"}
        if given != set(sizes):
            raise AnalyzerError(f"configuration {c} must give exactly the sizes {', '.join(sizes)}")
        for k in sizes:
            v = c[k]
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v <= 0:
                raise AnalyzerError(f"size {k}={v!r} must be a positive integer")
            c[k] = int(v)
    return configs


def _gib(n: float) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} bytes"


def _config_key(row: Mapping[str, Any], sizes: Sequence[str]) -> tuple:
    return (str(row["sweep"]), str(row["cost"]), str(row["order"])) + tuple(
        int(row[s]) for s in sizes
    )


def _folder(out: str | Path) -> Path:
    """An output folder, refusing an empty or blank name (it would mean the current folder)."""
    if isinstance(out, str) and not out.strip():
        raise AnalyzerError(f"an output folder must be named, got {out!r}")
    if not isinstance(out, str | Path):
        raise AnalyzerError(f"an output folder is a path, got {out!r}")
    return Path(out)


def _saved_keys(records: list[dict], sizes: Sequence[str], path: Path) -> list[tuple]:
    """The configuration key of each saved row, refusing a file that cannot give them."""
    keys = []
    for line, record in enumerate(records, start=2):
        missing = [c for c in ("sweep", "cost", "order", *sizes) if c not in record]
        if missing:
            raise AnalyzerError(
                f"cannot resume from {path}: it has no column {', '.join(map(repr, missing))}"
            )
        for s in sizes:
            value = record[s]
            if not _is_count(value):
                raise AnalyzerError(
                    f"cannot resume from {path}: line {line} has size {s}={value!r}, "
                    "not a positive integer"
                )
            record[s] = int(value)
        keys.append(_config_key(record, sizes))
    return keys


def _is_count(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, Real):
        return False
    return math.isfinite(value) and float(value).is_integer() and value > 0


def load_sweep(folder: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Results, steps and settings saved by :func:`sweep` in ``folder``.

    Raises
    ------
    AnalyzerError
        No ``results.csv``, a file that cannot be read, or a ``sweep.json`` that is not a
        JSON object.
    """
    folder = Path(folder)
    results = folder / "results.csv"
    if not results.exists():
        raise AnalyzerError(f"no saved sweep in {folder}: {results.name} is missing")
    steps = folder / "steps.csv"
    settings = folder / "sweep.json"
    try:
        loaded = (
            pd.read_csv(results),
            pd.read_csv(steps) if steps.exists() else pd.DataFrame(columns=STEP_COLUMNS),
            json.loads(settings.read_text()) if settings.exists() else {},
        )
    except (OSError, ValueError, pd.errors.ParserError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise AnalyzerError(f"cannot read the sweep saved in {folder}: {reason}") from None
    if not isinstance(loaded[2], dict):
        raise AnalyzerError(
            f"cannot read the sweep saved in {folder}: {settings.name} holds a JSON "
            f"{type(loaded[2]).__name__}, not an object"
        )
    return loaded


def _same_machine_model(saved: Mapping[str, Any], out: Path) -> None:
    """Refuse to resume a sweep whose saved calibration another machine model version made:
    read by this one it would lose or misread curves, and new rows would be predicted
    otherwise than the saved ones."""
    meta = saved.get("meta")
    version = meta.get("version") if isinstance(meta, Mapping) else None
    if version is not None and version != CALIBRATION_VERSION:
        raise AnalyzerError(
            f"cannot resume from {out}: its calibration is of machine model version {version!r}, "
            f"this analyzer's is {CALIBRATION_VERSION}; sweep again without --resume"
        )


def sweep(
    model: str | Callable[..., JacobianGraph],
    grid: Any,
    orders: Sequence[str] = ("input-first", "output-first", "optimal"),
    cost: str | Sequence[str] = "dense",
    repeat: int = 5,
    threads: int | None = 1,
    *,
    min_seconds: float = 0.05,
    warmup: int = 1,
    roofline: Roofline | None = None,
    calibration: Calibration | None = None,
    memory_limit: float | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    passes: int = 2,
    max_seconds: float | None = None,
) -> pd.DataFrame:
    """Plan, execute and time each order at each configuration of sizes.

    The exact cost polynomials (``formula`` and ``leading_term``) come from calling the
    model's factory once more with each size as a symbol (a positive integer sympy symbol
    named after the size) and pricing each executed order on that graph. A factory that
    takes numbers only (one that calls ``rng.standard_normal(n)``, say) is fine: when the
    symbolic call raises, or its graph does not give the same macs as the numeric one, those
    two columns are left empty and fits predict from the exact ``macs`` instead (see
    :func:`analyzer.fit.fit_exponents`).

    Parameters
    ----------
    model : a name from :data:`analyzer.models.MODELS` or a factory taking the sizes
        (numbers; symbols too if it can, see above).
    grid : dict of size lists (their product) or a list of size dicts (see
        :func:`normalize_grid`).
    orders, cost : orders and cost model(s) to run.
    repeat, min_seconds, warmup : timing: at least ``repeat`` timed runs and
        ``min_seconds`` in total, after ``warmup`` untimed runs.
    threads : BLAS threads (default 1: reliable timings on a small machine).
    roofline : rates of the plain roofline; from the calibration when not given.
    calibration : the machine model's rates (:func:`analyzer.machine.calibrate`, cached per
        machine), measured when neither it nor ``roofline`` is given. With it, every row and
        step also gets the machine model's prediction (``model_seconds``, ``model_ratio``
        and the regime columns of :data:`analyzer.machine.explain.MODEL_COLUMNS`).
    memory_limit : bytes a configuration may use; default half of the memory
        available. A configuration over it is refused with its size named.
    out : folder to save ``results.csv``, ``steps.csv`` and ``sweep.json`` to,
        atomically, after the last pass of every configuration, and ``graph.json`` (the
        swept graph's variables and factors, see :func:`graph_record`) once (not blank; a
        folder holding a ``results.csv`` that sweep did not make, without ``sweep.json``,
        is refused).
    resume : continue from the rows saved in ``out`` (same settings only).
    passes : the configurations are timed in this many passes, alternately forward and
        backward through the grid (default 2), each with its share of ``repeat``,
        ``min_seconds`` and :data:`MIN_REPEAT`; a configuration's seconds (and each step's)
        are the mean of its passes' medians. A machine that drifts slower or faster during
        a sweep (a neighbour on a shared host) then shifts small and large sizes alike
        instead of bending the fitted slope: with an even number of passes a drift linear
        in time cancels, up to each configuration's own untimed runs, when the passes take
        equal time; an odd number above 1 leaves a share of it. 1 times each configuration
        once (at most 10**6). Interrupted, a sweep keeps the configurations whose last pass ended.
    max_seconds : the time, over all passes, that an order at a configuration may spend on
        timed runs beyond ``repeat`` while their spread exceeds :data:`MAX_SPREAD`, and after
        which :data:`MIN_REPEAT` runs suffice; default ``max(2 * min_seconds, 2.0)``. A
        quick look can give less (``analyzer run --quick`` gives 0.5).

    Returns
    -------
    DataFrame, one row per configuration, cost and order: the sizes, planned
    macs, ``formula`` and ``leading_term`` (the exact polynomial of that elimination
    order in the size symbols; empty when the factory takes numbers only), estimated
    ``bytes`` moved, the peak memory predicted by the model of
    :mod:`analyzer.planning.memory` and measured (tracemalloc, one untimed run) as
    ``peak_bytes_predicted`` and ``peak_bytes_measured``, measured seconds (the mean over
    passes of each pass's median; the min, IQR and count of all timed runs), achieved
    GFLOP/s (2·macs/s), the roofline's predicted seconds and the ratio measured /
    predicted. ``attrs`` holds ``steps`` (one record per product step), ``machine`` and
    ``roofline``.
    """
    name, factory, sizes = resolve_model(model)
    costs = [cost] if isinstance(cost, str) else list(cost)
    if not costs:
        raise AnalyzerError("give at least one cost model")
    for c in costs:
        check_cost(c)
    orders = [canonical_order(o) for o in orders]
    if not orders:
        raise AnalyzerError("give at least one order")
    configs = normalize_grid(grid, sizes)
    if (
        isinstance(min_seconds, bool)
        or not isinstance(min_seconds, Real)
        or not 0 <= min_seconds < math.inf
    ):
        raise AnalyzerError(
            f"min_seconds must be a non-negative finite number, got {min_seconds!r}"
        )
    min_seconds = float(min_seconds)
    if max_seconds is None:
        max_seconds = max(2 * min_seconds, 2.0)
    if (
        isinstance(max_seconds, bool)
        or not isinstance(max_seconds, Real)
        or not 0 < max_seconds < math.inf
    ):
        raise AnalyzerError(
            f"max_seconds must be a positive finite number or None, got {max_seconds!r}"
        )
    max_seconds = float(max_seconds)
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise AnalyzerError(f"warmup must be a non-negative integer, got {warmup!r}")
    settings = {
        "model": name,
        "sizes": list(sizes),
        "orders": orders,
        "costs": costs,
        "grid": configs,
        "repeat": repeat,
        "threads": threads,
        "min_seconds": min_seconds,
        "passes": passes,
        "max_seconds": max_seconds,
    }
    if isinstance(passes, bool) or not isinstance(passes, Integral) or not 1 <= passes <= 10**6:
        raise AnalyzerError(f"passes must be a positive integer (at most 10**6), got {passes!r}")
    passes = settings["passes"] = int(passes)
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise AnalyzerError(f"repeat must be a positive integer, got {repeat!r}")
    if math.ceil(repeat / passes) > _MAX_REPEAT:  # execute's cap, a pass
        raise AnalyzerError(
            f"repeat must be at most {_MAX_REPEAT} a pass ({_MAX_REPEAT * passes} with "
            f"passes={passes}), got {repeat}"
        )
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise AnalyzerError(f"threads must be a positive integer or None, got {threads!r}")
    rows: list[dict] = []
    step_rows: list[dict] = []
    if out is not None:
        out = _folder(out)
        if not resume and (out / "results.csv").exists() and not (out / "sweep.json").exists():
            raise AnalyzerError(
                f"{out} holds results that sweep did not make (results.csv without sweep.json); "
                "choose another folder for this sweep"
            )
        if resume and (out / "results.csv").exists():
            saved_results, saved_steps, saved = load_sweep(out)
            mismatched = [
                k
                for k in (
                    "model",
                    "sizes",
                    "orders",
                    "costs",
                    "grid",
                    "repeat",
                    "threads",
                    "min_seconds",
                    "passes",
                    "max_seconds",
                )
                if _saved_setting(saved, k) != json.loads(json.dumps(settings[k]))
            ]
            if mismatched:
                shown = "; ".join(
                    f"{k}: saved {_short(_saved_setting(saved, k))}, now {_short(settings[k])}"
                    for k in mismatched
                )
                raise AnalyzerError(
                    f"cannot resume from {out}: it was made with different settings "
                    f"({shown}); give the same settings, or sweep again without resume"
                )
            rows = saved_results.to_dict("records")
            kept = set(_saved_keys(rows, sizes, out / "results.csv"))
            # steps.csv is written before results.csv: drop steps of a run without its row
            step_rows = saved_steps.to_dict("records")
            step_keys = _saved_keys(step_rows, sizes, out / "steps.csv")
            step_rows = [r for r, key in zip(step_rows, step_keys, strict=True) if key in kept]
            if roofline is None and saved.get("roofline"):
                if not isinstance(saved["roofline"], Mapping):
                    raise AnalyzerError(
                        f"cannot resume from {out}: the roofline in sweep.json is not an object"
                    )
                roofline = Roofline.from_dict(saved["roofline"])
            if calibration is None and isinstance(saved.get("calibration"), Mapping):
                _same_machine_model(saved["calibration"], out)
                calibration = Calibration.from_dict(saved["calibration"])
    done = {_config_key(r, sizes) for r in rows}
    limit = memory_limit if memory_limit is not None else available_memory() / 2
    work, plans = [], {}
    for config in configs:
        numbers = {s: config[s] for s in sizes}
        for c, order in itertools.product(costs, orders):
            if _config_key({**config, "cost": c, "order": order}, sizes) in done:
                continue
            same = (c, order) + tuple(numbers.values())
            if same not in plans:
                plans[same] = _checked_plan(factory, numbers, order, c, limit)
            work.append((config, numbers, c, order, same))
    if out is not None:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise AnalyzerError(f"cannot write {out}: {error.strerror or error}") from None
    if roofline is None and calibration is None:
        measured_rates = calibrate(threads=threads)
        if isinstance(measured_rates, Calibration):
            calibration = measured_rates
        else:  # a plain Roofline (a caller's own calibrate)
            roofline = measured_rates
    if roofline is None:
        roofline = calibration.roofline()
    settings["roofline"] = roofline.to_dict()
    settings["calibration"] = calibration.to_dict() if calibration is not None else None
    symbolic = _symbolic_graph(factory, sizes)
    drawn = _graph_record(factory, symbolic, configs, sizes)
    if out is not None and drawn is not None:
        atomic_write_text(out / GRAPH_FILE, json.dumps(drawn, indent=1) + "\n")
    kept_rows, kept_steps = list(rows), list(step_rows)
    # rows and steps in the grid's order, as without an interruption (the backward pass
    # finishes the grid's end first)
    position: dict[tuple, int] = {}
    for config in configs:
        for c, order in itertools.product(costs, orders):
            position.setdefault(
                _config_key({**config, "cost": c, "order": order}, sizes), len(position)
            )

    def in_grid_order(records: list[dict]) -> list[dict]:
        return sorted(records, key=lambda r: position.get(_config_key(r, sizes), len(position)))

    numbers_of = {same: numbers for _, numbers, _, _, same in work}
    distinct = list(numbers_of)
    runs: dict[tuple, list[_Pass]] = {same: [] for same in distinct}
    finished: dict[tuple, tuple[dict, list[dict]]] = {}
    schedule = (  # lazy: a huge ``passes`` starts at once
        (i, same) for i in range(passes) for same in (distinct if i % 2 == 0 else distinct[::-1])
    )
    bar = tqdm(
        schedule,
        total=passes * len(distinct),
        desc=f"sweep {name}",
        disable=None if progress else True,
        unit="run",
    )
    # the orders of a configuration run one after the other: its parameters are drawn once
    parameters: tuple[tuple, Any] = ((), None)
    for i, same in bar:
        shown = ", ".join(f"{k}={v}" for k, v in numbers_of[same].items())
        bar.set_postfix_str(f"{shown} {same[1]}" + (f" (pass {i + 1})" if passes > 1 else ""))
        if parameters[0] != same[2:]:
            parameters = ((), None)  # the last configuration's go before the next are drawn
            parameters = (same[2:], _default_point(plans[same]))
        runs[same].append(
            _time(
                plans[same],
                parameters[1],
                repeat,
                min_seconds,
                max_seconds,
                warmup,
                threads,
                passes,
                last=i == passes - 1,
            )
        )
        if i < passes - 1:
            continue
        finished[same] = _record(
            plans[same], symbolic, numbers_of[same], runs.pop(same), roofline, calibration
        )
        rows, step_rows = list(kept_rows), list(kept_steps)
        for config, numbers, c, order, key in work:
            if key in finished:
                row, steps = finished[key]
                base = {
                    "model": name,
                    "cost": c,
                    "order": order,
                    "sweep": config["sweep"],
                    **numbers,
                }
                rows.append({**base, **row})
                step_rows.extend({**base, **s} for s in steps)
        rows, step_rows = in_grid_order(rows), in_grid_order(step_rows)
        if out is not None:
            _save(out, rows, step_rows, settings, sizes)
    results = _frame(rows, sizes, RESULT_COLUMNS)
    results.attrs["steps"] = step_rows
    with blas_threads(threads):
        results.attrs["machine"] = machine_info()
    results.attrs["roofline"] = roofline.to_dict()
    results.attrs["calibration"] = settings["calibration"]
    results.attrs["settings"] = settings
    if drawn is not None:
        results.attrs["graph"] = drawn
    return results


def _short(value: Any, width: int = 60) -> str:
    """A setting as text, cut to ``width`` characters."""
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= width else text[: width - 1] + "…"


def _frame(rows: list[dict], sizes: Sequence[str], columns: list[str]) -> pd.DataFrame:
    ordered = columns[:4] + list(sizes) + columns[4:]
    return pd.DataFrame(rows, columns=ordered)


def _save(out: Path, rows, step_rows, settings, sizes) -> None:
    write_csv(_frame(step_rows, sizes, STEP_COLUMNS), out / "steps.csv")
    atomic_write_text(out / "sweep.json", json.dumps(settings, indent=2))
    write_csv(_frame(rows, sizes, RESULT_COLUMNS), out / "results.csv")


def _checked_plan(factory, numbers, order, cost, limit):
    """Plan one configuration, refusing it when it would not fit in memory."""
    p = plan(factory(**numbers), order, cost)
    needed = memory_needed(p)
    if needed > limit:
        shown = ", ".join(f"{k}={v}" for k, v in numbers.items())
        raise AnalyzerError(
            f"{shown}, {order}, {cost}: needs about {_gib(needed)} (largest intermediate "
            f"{p.largest_intermediate} elements), over the {_gib(limit)} allowed"
        )
    return p


def _symbolic_graph(factory: Callable[..., JacobianGraph], sizes: Sequence[str]):
    """The model at symbolic sizes (positive integer symbols), or None when its factory
    takes numbers only (e.g. it draws ``rng.standard_normal(n)``)."""
    try:
        return factory(**{s: size_symbols(s)[0] for s in sizes})
    except Exception:  # any failure means: this factory builds numeric graphs only
        return None


def graph_record(graph: JacobianGraph, at: Mapping[str, int] | None = None) -> dict[str, Any]:
    """The graph's variables and factors as plain node-link data (JSON), for the report.

    Each node keeps its ``size`` (a number, or the polynomial's text at symbolic sizes),
    ``role`` and ``shape``; each link its ``structure`` kind and ``shape``. ``at`` names the
    sizes of a numeric graph. No numbers of the function are kept.

    Examples
    --------
    >>> from analyzer.models import one_layer
    >>> data = graph_record(one_layer("H", "N"))
    >>> data["graph"]["symbolic"], [n["size"] for n in data["nodes"]][:3]
    (True, ['N', 'H', 'H*N'])
    >>> [(e["source"], e["target"], e["structure"]) for e in data["links"]][:2]
    [('x', 'u', 'dense'), ('w', 'z', 'dense')]
    """
    nodes = [
        {
            "id": str(name),
            "size": _plain(data.get("size")),
            "role": str(data.get("role")),
            "shape": [_plain(s) for s in data.get("shape") or ()],
        }
        for name, data in graph.nodes(data=True)
    ]
    links = [
        {
            "source": str(u),
            "target": str(v),
            "structure": str(data.get("structure")),
            "shape": [_plain(s) for s in data.get("shape") or ()],
        }
        for u, v, data in graph.edges(data=True)
    ]
    meta = {
        "name": str(graph.graph.get("name") or ""),
        "symbolic": bool(graph.is_symbolic),
        "at": {str(k): int(v) for k, v in (at or {}).items()},
    }
    return {"directed": True, "multigraph": False, "graph": meta, "nodes": nodes, "links": links}


def _plain(size: Any) -> int | str:
    return int(size) if isinstance(size, int | np.integer) else str(size)


def _graph_record(factory, symbolic, configs, sizes) -> dict[str, Any] | None:
    """The swept graph to draw: at symbolic sizes, else at the smallest configuration."""
    try:
        if symbolic is not None:
            return graph_record(symbolic)
        smallest = min(configs, key=lambda c: math.prod(int(c[s]) for s in sizes))
        at = {s: int(smallest[s]) for s in sizes}
        return graph_record(factory(**at), at)
    except Exception:  # a picture is a courtesy: a graph that cannot be described has none
        return None


def _formula(symbolic, p, numbers: Mapping[str, int]) -> str:
    """The exact macs polynomial of the plan's elimination order ("" when unknown).

    It is kept only when it gives the plan's macs at the configuration's sizes, so that a
    factory whose symbolic graph is not its numeric one never yields a wrong formula.
    """
    if symbolic is None:
        return ""
    try:
        formula = from_sequence(symbolic, p.sequence, p.cost, order=p.order).formula
        if evaluate(formula, numbers) != p.macs:
            return ""
    except AnalyzerError:
        return ""
    return str(formula)


class _Pass(NamedTuple):
    """What one pass of timing a plan keeps (not its Jacobian: a sweep holds every
    configuration's passes until its last one)."""

    seconds: float
    step_seconds: np.ndarray
    times: tuple[float, ...]
    peak_bytes: int | None


def _default_point(p) -> dict[str, np.ndarray] | None:
    """The plan's graph's default parameter values, not kept by the graph (the plans live
    to the sweep's end; the values only while their configuration runs); None (execute
    draws them, or says why it cannot) when they cannot be drawn here."""
    try:
        return p.problem.graph.default_point(keep=False)
    except (AnalyzerError, MemoryError):
        return None


def _time(p, at, repeat, min_seconds, max_seconds, warmup, threads, passes, last) -> _Pass:
    """One pass of timing one plan, with its share of ``repeat``, of :data:`MIN_REPEAT` and
    of the time budgets; the peak memory is traced on the last pass only, after the plan's
    kernels have all run once (a kernel's first call may import a module)."""
    run = execute(
        p,
        at=at,
        repeat=max(1, math.ceil(repeat / passes)),
        warmup=warmup,
        min_seconds=min_seconds / passes,
        threads=threads,
        max_spread=MAX_SPREAD,
        max_seconds=max_seconds / passes,
        min_repeat=max(1, math.ceil(MIN_REPEAT / passes)),
        memory=last,
    )
    return _Pass(run.seconds, run.step_seconds, run.times, run.peak_bytes)


def _record(p, symbolic, numbers, runs: Sequence[_Pass], roofline, calibration):
    """One plan's row and per-step records from its passes: seconds (of the whole plan and
    of each step) are the mean of the passes' medians."""
    formula = _formula(symbolic, p, numbers)
    times = np.array([t for r in runs for t in r.times])
    seconds = float(np.mean([r.seconds for r in runs]))
    step_seconds = np.mean([r.step_seconds for r in runs], axis=0)
    q1, q3 = np.percentile(times, [25, 75])
    step_macs = np.array([int(m) for m in p.steps["macs"]], dtype=float)
    step_bytes = np.array([int(b) for b in p.steps["bytes"]], dtype=float)
    step_written = np.array([int(b) for b in p.steps["bytes_written"]], dtype=float)
    predicted_steps = roofline.seconds(step_macs, step_bytes, step_written)
    predicted = float(np.sum(predicted_steps))
    step_records = p.steps.to_dict("records")
    if calibration is not None:
        itemsize = max(p.problem.itemsizes.values(), default=8)
        model_steps, model_row = predict_plan(
            calibration, step_records, itemsize * int(p.factor_elements)
        )
        if model_row["model_seconds"] > 0:
            model_row["model_ratio"] = seconds / model_row["model_seconds"]
    else:
        model_steps, model_row = [None] * len(step_records), dict.fromkeys(MODEL_COLUMNS, math.nan)
    row = {
        "macs": p.macs,
        "formula": formula,
        "leading_term": str(leading_term(formula)) if formula else "",
        "bytes": int(p.bytes),
        "largest_intermediate": int(p.largest_intermediate),
        "peak_bytes_predicted": int(p.peak_bytes),
        "peak_bytes_measured": runs[-1].peak_bytes,
        "seconds": seconds,
        "seconds_min": float(times.min()),
        "seconds_iqr": float(q3 - q1),
        "spread": float(q3 - q1) / seconds if seconds > 0 else float("nan"),
        "repeats": len(times),
        "gflops": 2.0 * p.macs / seconds / 1e9 if seconds > 0 else float("nan"),
        "roofline_seconds": predicted,
        "roofline_ratio": seconds / predicted if predicted > 0 else float("nan"),
        **model_row,
        "sequence": ", ".join(p.sequence),
    }
    steps = [
        {
            "step": int(s.step),
            "product": s.product,
            "structures": s.structures,
            "shapes": s.shapes,
            "macs": int(s.macs),
            "bytes": int(s.bytes),
            "bytes_written": int(s.bytes_written),
            "seconds": float(t),
            "roofline_seconds": float(r),
            "roofline_ratio": float(t / r) if r > 0 else float("nan"),
            **_model_step(m, t),
        }
        for s, t, r, m in zip(
            p.steps.itertuples(), step_seconds, predicted_steps, model_steps, strict=True
        )
    ]
    return row, steps


def _model_step(prediction, seconds: float) -> dict[str, Any]:
    """A step's machine-model columns (NaN and empty without a calibration)."""
    if prediction is None:
        return {
            "working_set": math.nan,
            "model_seconds": math.nan,
            "model_ratio": math.nan,
            "model_bound": "",
            "model_level": "",
        }
    return {
        "working_set": prediction.working_set,
        "model_seconds": prediction.seconds,
        "model_ratio": seconds / prediction.seconds if prediction.seconds > 0 else math.nan,
        "model_bound": prediction.bound,
        "model_level": prediction.level,
    }
