"""A plan's predicted time from the machine model, and why a measured slope bends.

:func:`predict_plan` prices every step of a plan (:func:`~analyzer.machine.model.predict_step`)
at its reuse distance (the plan's working set for a factor, the traffic since it was written
for a result) with the cold excess of the step before, and sums them into the row a sweep
records; :func:`explain` reads those rows along a swept size and names the change of regime
that bends the machine model's slope away from the count's: a working set leaving a cache
level, results written to fresh pages, a step changing what bounds it, or the per-step
overhead fading.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ..errors import AnalyzerError
from .model import Calibration, StepPrediction, megabytes, parse_shapes, predict_step

__all__ = [
    "MODEL_COLUMNS",
    "ACCURACY_BANDS",
    "working_set",
    "predict_plan",
    "explain",
    "megabytes",
    "prediction_accuracy",
]

#: The issue's bars: steps slower than ``seconds`` predicted within ``[low, high]`` times.
ACCURACY_BANDS = ((50e-6, 0.75, 1.33), (5e-6, 0.5, 2.0))

#: Row columns a sweep records from the machine model (see :func:`predict_plan`).
MODEL_COLUMNS = [
    "model_seconds",
    "model_ratio",
    "working_set",
    "model_level",
    "model_capacity",
    "model_bound",
    "model_fresh",
    "model_step",
    "model_overhead",
    "model_compute",
    "model_read",
    "model_write",
    "model_last_level",
]


def working_set(factor_bytes: float, steps: Sequence[Mapping[str, Any]]) -> float:
    """Bytes one repetition of a plan touches: its factors plus every result it writes.

    >>> working_set(800, [{"bytes_written": 80}, {"bytes_written": 8}])
    888.0
    """
    return float(factor_bytes) + sum(_counts(steps, "bytes_written", "working_set"))


def _counts(steps: Sequence[Mapping[str, Any]], key: str, caller: str) -> list[float]:
    """Each step's ``key`` as a float: a finite number >= 0 (not a bool, not a text), else an
    AnalyzerError naming the step, the field and the value.

    >>> _counts([{"bytes": 24}, {"bytes": 8.0}], "bytes", "predict_plan")
    [24.0, 8.0]
    """
    out = []
    for i, step in enumerate(steps):
        value = step.get(key) if isinstance(step, Mapping) else None
        if isinstance(value, bool) or not (
            isinstance(value, numbers.Real) and 0 <= value < math.inf
        ):
            found = (
                "is missing"
                if not isinstance(step, Mapping) or key not in step
                else (f"is {value!r}")
            )
            raise AnalyzerError(
                f"{caller}: step {i} needs '{key}', a finite number >= 0 of bytes; it {found}"
            )
        out.append(float(value))
    return out


_PRODUCT = re.compile(r"^J\(([^,()]+),([^,()]+)\)·J\(([^,()]+),([^,()]+)\)")


def _operands(product: str) -> tuple[str, str, str] | None:
    """Left operand, right operand and result of a product text ``J(s,v)·J(v,p)``.

    >>> _operands("J(out,u)·J(u,W) + J(out,W)")
    ('J(out,u)', 'J(u,W)', 'J(out,W)')
    """
    found = _PRODUCT.match(str(product))
    if not found:
        return None
    s, v, v2, p = found.groups()
    return f"J({s},{v})", f"J({v2},{p})", f"J({s},{p})"


def predict_plan(
    calibration: Calibration,
    steps: Sequence[Mapping[str, Any]] | pd.DataFrame,
    factor_bytes: float,
) -> tuple[list[StepPrediction], dict[str, Any]]:
    """Each step's prediction, and the plan's row of :data:`MODEL_COLUMNS` (``model_ratio``
    left NaN: it needs the measured time). ``steps`` are a plan's steps as records, or its
    ``Plan.steps`` frame; ``factor_bytes`` the bytes of its factors.

    Reads follow reuse: a step whose larger operand was produced earlier in the same
    repetition reads at the reuse distance of the bytes touched since it was written (the
    traffic of the step that wrote it, of the steps in between and its own); a step reading
    factors of the plan reads at the distance of the plan's working set
    (:func:`working_set`), since each repetition reads every factor again. Each
    step's overhead gains the cold excess of the traffic just before it
    (:meth:`~analyzer.machine.model.Calibration.cold_extra`): the bytes the step before it
    touched and those it wrote to fresh pages (the executor allocates every result); for
    the first step, those of the previous repetition's last step, on the ``cold_start``
    curve.

    The row's level, bound and freshness are those of its slowest predicted step
    (``model_step``); ``model_overhead`` ... ``model_write`` are sums over the steps.
    """
    if isinstance(steps, pd.DataFrame):  # a plan's steps as they are (``Plan.steps``)
        steps = steps.to_dict("records")
    if isinstance(factor_bytes, bool) or not (
        isinstance(factor_bytes, numbers.Real) and 0 <= factor_bytes < math.inf
    ):
        raise AnalyzerError(
            f"predict_plan: factor_bytes must be a finite number >= 0, got {factor_bytes!r}"
        )
    if not all(isinstance(s, Mapping) for s in steps):
        raise AnalyzerError("predict_plan: steps must be mappings (a plan's steps as records)")
    step_bytes = _counts(steps, "bytes", "predict_plan")
    written = _counts(steps, "bytes_written", "predict_plan")  # results are fresh arrays
    ws = working_set(factor_bytes, steps)
    last = calibration.last_level
    produced: dict[str, int] = {}
    count = len(steps)
    predictions = []
    for i, step in enumerate(steps):
        names = _operands(step.get("product", ""))
        dims = parse_shapes(step.get("shapes", ""))
        source = None
        if names is not None:
            left, right, result = names
            if dims is not None:
                m, k, n = dims
                larger = left if m * k >= k * n else right
            else:
                larger = right
            source = produced.get(larger)
        step_ws = sum(step_bytes[source : i + 1]) if source is not None else ws
        previous = (i - 1) % count
        predictions.append(
            predict_step(
                calibration,
                step,
                working_set=step_ws,
                touched_before=step_bytes[previous],
                first=i == 0,
                written_before=written[previous],
            )
        )
        if names is not None:
            produced[names[2]] = i
    row: dict[str, Any] = {c: math.nan for c in MODEL_COLUMNS}
    row["working_set"] = ws
    row["model_last_level"] = last[0] if last is not None else ""
    if not predictions:
        row.update(model_seconds=0.0, model_step="", model_level="", model_bound="")
        return predictions, row
    slowest = max(range(len(predictions)), key=lambda i: predictions[i].seconds)
    top = predictions[slowest]
    row.update(
        model_seconds=sum(p.seconds for p in predictions),
        model_level=top.level,
        model_capacity=top.capacity,
        model_bound=top.bound,
        model_fresh=top.fresh,
        model_step=str(steps[slowest].get("product", f"step {slowest + 1}")),
        model_overhead=sum(p.overhead for p in predictions),
        model_compute=sum(p.compute for p in predictions),
        model_read=sum(p.read for p in predictions),
        model_write=sum(p.write for p in predictions),
    )
    return predictions, row


def _size(value: Any) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() else f"{number:g}"


def _level_text(level: str, capacity: float, last: bool) -> str:
    where = f"{level} cache" if level.startswith("L") else str(level)
    if last:
        where = f"last-level cache ({level}"
        return f"{where}, {megabytes(capacity)})"
    return f"{where} ({megabytes(capacity)})"


def explain(rows: pd.DataFrame, x: str) -> str:
    """Name the change of regime, along ``x``, that the machine model predicts in ``rows``.

    ``rows`` hold :data:`MODEL_COLUMNS` (as a sweep records them) and ``x``. The note names,
    between the two neighbouring sizes where it happens: the working set leaving a cache level
    (when the step is read-bound, or kernel-bound: its curve runs from cache to memory), the
    slowest step's result starting to be written to fresh pages, or the slowest step changing
    what bounds it (a level is called the last-level cache only when it is the row's
    ``model_last_level``, the calibration's last cache); when none happens, how the share of
    per-step overhead changes from the smallest to the largest size. Empty when the rows lack
    the columns.

    Examples
    --------
    >>> rows = pd.DataFrame({"H": [256, 384, 512], "working_set": [3.4e7, 7.6e7, 1.3e8],
    ...     "model_level": ["L3", "memory", "memory"], "model_capacity": [4.6e7, math.inf,
    ...     math.inf], "model_bound": ["read"] * 3, "model_fresh": [False] * 3,
    ...     "model_step": ["J(out,u)·J(u,W)"] * 3, "model_seconds": [1e-3, 5e-3, 9e-3],
    ...     "model_overhead": [2e-5] * 3, "model_last_level": ["L3"] * 3})
    >>> print(explain(rows, "H"))  # doctest: +NORMALIZE_WHITESPACE
    the working set of J(out,u)·J(u,W) (34 MB at H=256, 76 MB at H=384) leaves the
    last-level cache (L3, 46 MB) between H=256 and H=384
    """
    needed = {"model_level", "model_bound", "model_step", "working_set", x}
    if not needed <= set(rows.columns) or len(rows) < 2:
        return ""
    rows = rows.sort_values(x).drop_duplicates(x)
    notes: list[str] = []
    records = rows.to_dict("records")
    for a, b in zip(records, records[1:], strict=False):
        between = f"between {x}={_size(a[x])} and {x}={_size(b[x])}"
        step = b["model_step"]
        levels = (a["model_level"], b["model_level"])
        if (
            levels[0] != levels[1]
            and all(isinstance(v, str) and v for v in levels)  # "": a plan without steps
            # reads at the working set's level, or a kernel's curve (cache to memory)
            and {"read", "kernel"} & {a["model_bound"], b["model_bound"]}
        ):
            # the last-level cache is the calibration's, recorded per row: a working set may
            # jump from a smaller cache straight to memory
            llc = a.get("model_last_level")
            last = isinstance(llc, str) and llc != "" and a["model_level"] == llc
            skipped = b["model_level"] == "memory" and not last
            notes.append(
                f"the working set of {step} ({megabytes(a['working_set'])} at {x}={_size(a[x])}, "
                f"{megabytes(b['working_set'])} at {x}={_size(b[x])}) leaves the "
                f"{_level_text(str(a['model_level']), float(a['model_capacity']), last)}"
                f"{' for memory' if skipped else ''} {between}"
            )
        elif bool(b.get("model_fresh")) and not bool(a.get("model_fresh")):
            notes.append(f"the result of {step} is written to fresh pages (first touch) {between}")
        elif a["model_bound"] != b["model_bound"] and a["model_step"] == b["model_step"]:
            notes.append(
                f"{step} goes from {a['model_bound']}-bound to {b['model_bound']}-bound {between}"
            )
    if notes:
        return "; ".join(dict.fromkeys(notes))
    if {"model_overhead", "model_seconds"} <= set(rows.columns):
        first, last = records[0], records[-1]
        shares = [
            r["model_overhead"] / r["model_seconds"] if r["model_seconds"] > 0 else math.nan
            for r in (first, last)
        ]
        if all(math.isfinite(s) for s in shares) and abs(shares[0] - shares[1]) >= 0.05:
            return (
                f"per-step overhead is {shares[0]:.0%} of the predicted time at "
                f"{x}={_size(first[x])} and {shares[1]:.0%} at {x}={_size(last[x])}"
            )
    return ""


def prediction_accuracy(
    steps: pd.DataFrame, bands: Sequence[tuple[float, float, float]] = ACCURACY_BANDS
) -> pd.DataFrame:
    """How many measured steps the machine model predicted within each band.

    ``steps`` holds measured ``seconds`` and ``model_seconds`` (a sweep's steps). One row per
    band ``(seconds, low, high)``: ``steps`` slower than ``seconds``, how many have
    ``seconds / model_seconds`` within ``[low, high]``, and the smallest and largest ratio.

    >>> steps = pd.DataFrame({"seconds": [1e-4, 2e-4, 1e-5, 1e-6],
    ...                       "model_seconds": [1e-4, 1e-4, 1.5e-5, 1e-5]})
    >>> prediction_accuracy(steps)[["steps", "within", "worst_low", "worst_high"]]
       steps  within  worst_low  worst_high
    0      2       1      1.000         2.0
    1      3       3      0.667         2.0
    """
    rows = []
    table = steps.copy()
    table["seconds"] = pd.to_numeric(table["seconds"], errors="coerce")
    table["model_seconds"] = pd.to_numeric(table.get("model_seconds"), errors="coerce")
    table = table[table["model_seconds"] > 0]
    ratio = table["seconds"] / table["model_seconds"]
    for floor, low, high in bands:
        chosen = ratio[table["seconds"] > floor]
        rows.append(
            {
                "over": floor,
                "low": low,
                "high": high,
                "steps": int(len(chosen)),
                "within": int(((chosen >= low) & (chosen <= high)).sum()),
                "worst_low": round(float(chosen.min()), 3) if len(chosen) else math.nan,
                "worst_high": round(float(chosen.max()), 3) if len(chosen) else math.nan,
            }
        )
    return pd.DataFrame(rows)
