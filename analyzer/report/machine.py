"""The machine model in a report: its calibrated curves and its per-step predictions."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..errors import AnalyzerError
from .figures import plot_roofline

__all__ = ["plot_calibration", "plot_model", "MACHINE_NOTE"]

MACHINE_NOTE = (
    "*machine* is the slope of the machine model's predicted times over the same sizes (per-step "
    "overhead and its cold excess after heavy traffic, GEMM rate by shape class, read bandwidth "
    "by size and reuse distance, first-touch writes, all calibrated on this machine by "
    "synthetic kernels, none of them a plan a sweep checks). A fit that misses *predicted* but "
    "lies within 0.15 of *machine* is **explained**: the count is right and the time bends for "
    "the reason the explanation names."
)

_CURVES = (
    ("read", "read (vector × matrix, repeated)", "C0", "-"),
    ("write_fresh", "write, fresh pages", "C3", "-"),
    ("write_reused", "write, reused buffer", "C3", "--"),
)


def _rows(values: Any, arity: int, zero_last: bool = False) -> np.ndarray:
    """The rows of ``values`` that are ``arity`` positive finite numbers (the last one may be
    0 when ``zero_last``): a hand-edited or damaged calibration loses its other rows, not the
    report.

    >>> _rows([[1, 2], ["a", 3], [4], None, [5, True], [6, -1], [7, 8.5], [9, 0]], 2).tolist()
    [[1.0, 2.0], [7.0, 8.5]]
    >>> _rows([[9, 0], [0, 1]], 2, zero_last=True).tolist()
    [[9.0, 0.0]]
    """
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        return np.empty((0, arity))

    def number(v: Any, low: float) -> bool:
        return isinstance(v, numbers.Real) and not isinstance(v, bool) and low < v < math.inf

    rows = [
        [float(v) for v in row]
        for row in values
        if isinstance(row, Sequence)
        and not isinstance(row, str | bytes)
        and len(row) == arity
        and all(number(v, 0.0) for v in row[:-1])
        and number(row[-1], -1e-300 if zero_last else 0.0)
    ]
    return np.array(rows, dtype=float).reshape(-1, arity)


def _pairs(calibration: Mapping[str, Any], name: str) -> np.ndarray:
    return _rows(calibration.get(name), 2)


def plot_calibration(calibration: Mapping[str, Any]) -> tuple[Figure, np.ndarray]:
    """Three panels of a calibration (its ``to_dict()``): bandwidths against working-set
    bytes, with the fitted cache borders and the reread rows (reading after a stream of other
    memory); the GEMM rate against the smallest dimension; and the cold excess of a step
    against the bytes the step before it touched (within a repetition and at its start). A
    fourth panel shows the structured kernels' rates against their macs when the
    calibration has them as curves.

    Examples
    --------
    >>> cal = {"read": [[1e4, 5e10], [1e8, 1e10]], "write_fresh": [[1e4, 3e9]],
    ...        "write_reused": [[1e4, 2e10]], "gemm": [[1, 5e9], [1024, 3e10]],
    ...        "levels": [["L3", 4e7, 4e10], ["memory", None, 1e10]],
    ...        "cold_after": [[4e6, 5e-6], [2.7e8, 4e-5]]}
    >>> fig, axes = plot_calibration(cal)
    >>> [ax.get_xlabel() for ax in axes]  # doctest: +NORMALIZE_WHITESPACE
    ['working set (bytes)', 'smallest dimension of the product',
     'bytes the step before touched']
    """
    if not isinstance(calibration, Mapping) or len(_pairs(calibration, "read")) == 0:
        raise AnalyzerError("plot_calibration: need a calibration dict with a 'read' curve")
    kernels = calibration.get("kernel_rates")
    curves = {
        str(name): rows
        for name, value in (kernels.items() if isinstance(kernels, Mapping) else ())
        if not isinstance(value, int | float) and len(rows := _rows(value, 2))
    }
    fig = Figure(figsize=(18.5 if curves else 14, 4))
    axes = fig.subplots(1, 4 if curves else 3)
    left, middle, right = axes[:3]
    for name, label, color, style in _CURVES:
        pairs = _pairs(calibration, name)
        if len(pairs):
            left.plot(pairs[:, 0], pairs[:, 1] / 1e9, ls=style, color=color, marker=".",
                      label=label)  # fmt: skip
    rows = _rows(calibration.get("reread"), 3)
    streams = sorted({float(d) for d in rows[:, 0]})
    for i, stream in enumerate(streams):
        pairs = rows[rows[:, 0] == stream][:, 1:]
        left.plot(pairs[:, 0], pairs[:, 1] / 1e9, ls=":", color="C0", marker=".",
                  alpha=0.35 + 0.65 * (i + 1) / len(streams),
                  label=f"read after a {stream / 1e6:.3g} MB stream")  # fmt: skip
    levels = calibration.get("levels")
    for level in levels if isinstance(levels, Sequence) and not isinstance(levels, str) else []:
        border = _rows([level[1:]], 2) if isinstance(level, Sequence) and len(level) == 3 else []
        if len(border):  # not the memory level (capacity None or inf), nor a damaged one
            name, capacity = level[0], border[0, 0]
            left.axvline(float(capacity), color="0.5", lw=0.8, ls="--")
            left.text(float(capacity), left.get_ylim()[1], f" {name}", va="top", fontsize=8)
    _axes(left, "Bandwidth by working set", "working set (bytes)", "GB/s")
    gemm = _pairs(calibration, "gemm")
    if len(gemm):
        middle.plot(gemm[:, 0], gemm[:, 1] / 1e9, marker="o", color="C2", label="dense product")
    _axes(middle, "Product rate by shape", "smallest dimension of the product", "G macs/s")
    for name, label, style in (("cold_after", "within a repetition", "-"),
                               ("cold_start", "first step of a repetition", "--"),
                               ("cold_write", "after a fresh write", ":")):  # fmt: skip
        pairs = _rows(calibration.get(name), 2, zero_last=True)
        if len(pairs):
            right.plot(pairs[:, 0], pairs[:, 1] * 1e6, ls=style, color="C4", marker=".",
                       label=label)  # fmt: skip
    _axes(right, "Cold excess of a step", "bytes the step before touched", "µs")
    right.set_yscale("linear")
    for i, (name, rows) in enumerate(sorted(curves.items())):
        axes[3].plot(rows[:, 0], rows[:, 1] / 1e9, marker=".", color=f"C{i}", label=name)
    if curves:
        _axes(axes[3], "Structured kernels (fresh results)", "macs of the step", "G macs/s")
    fig.tight_layout()
    return fig, np.asarray(axes)


def _axes(ax: Axes, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)


def plot_model(steps: pd.DataFrame, cost: str | None = None) -> tuple[Figure, Axes]:
    """Measured seconds of each step against the machine model's prediction, per order.

    >>> s = pd.DataFrame({"order": ["input-first"], "cost": "dense", "seconds": [2e-3],
    ...                   "model_seconds": [1.5e-3]})
    >>> fig, ax = plot_model(s, "dense")
    >>> ax.get_xlabel()
    'machine-model seconds'
    """
    if "model_seconds" not in steps.columns:
        raise AnalyzerError("plot_model: the steps have no model_seconds column")
    frame = steps.drop(columns=["roofline_seconds"], errors="ignore").rename(
        columns={"model_seconds": "roofline_seconds"}
    )
    fig, ax = plot_roofline(frame, cost)
    ax.set_title(ax.get_title().replace("roofline-predicted", "machine-model"))
    ax.set_xlabel("machine-model seconds")
    return fig, ax
