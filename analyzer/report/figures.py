"""Figures: a sweep's time, multiply-adds, roofline agreement and peak memory; the front."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from ..errors import AnalyzerError
from .format import (
    _BAND,
    _choose,
    _context,
    _exponent,
    _finite,
    _fit_for,
    _fixed,
    _frame,
    _need,
    _num,
    _orders,
    _positive,
    _power,
    _sweeps,
    _uniques,
)

__all__ = ["plot_time", "plot_macs", "plot_roofline", "plot_peak_memory", "plot_pareto"]

_STYLES: dict[str, dict[str, Any]] = {
    "input-first": {"color": "C3", "marker": "o"},
    "output-first": {"color": "C0", "marker": "s"},
    "optimal": {"color": "C2", "marker": "^", "markerfacecolor": "none"},
}
_EXTRA_COLORS = ("C1", "C4", "C5", "C6", "C8", "C9")
_MODEL_LINESTYLES = ("-", ":", "-.", (0, (5, 1)))


def _select(
    results: pd.DataFrame, x: str, cost: str | None, model: str | None, y: str, func: str
) -> pd.DataFrame:
    """Rows of one sweep (``sweep == x`` when the column exists), cost and model."""
    results = _frame(results, "results", func)
    _need(results, ["order", y], "results", func)
    if "sweep" in results.columns:
        _choose(x, _sweeps(results), "x (swept size)", func)
        rows = results[results["sweep"].astype(str) == str(x)]
    else:
        if x not in results.columns:
            numeric = [str(c) for c in results.select_dtypes("number").columns]
            raise AnalyzerError(f"{func}: unknown x {x!r}; valid choices: {sorted(numeric)}")
        rows = results
    if cost is not None:
        _need(results, ["cost"], "results", func)
        _choose(cost, _uniques(results["cost"]), "cost", func)
        rows = rows[rows["cost"].astype(str) == str(cost)]
    if model is not None:
        _need(results, ["model"], "results", func)
        _choose(model, _uniques(results["model"]), "model", func)
        rows = rows[rows["model"].astype(str) == str(model)]
    rows = _positive(rows, [x, y])
    if rows.empty:
        raise AnalyzerError(
            f"{func}: no rows with positive {x} and {y} for sweep {x!r}, cost {cost!r}"
            + (f", model {model!r}" if model is not None else "")
        )
    return rows.sort_values(x)


def _series(rows: pd.DataFrame) -> list[tuple[Any, str, pd.DataFrame]]:
    """(model, order, rows) per series, models in name order and orders in _ORDERS order."""
    models = _uniques(rows["model"]) if "model" in rows.columns else [None]
    out = []
    for model in models:
        part = rows if model is None else rows[rows["model"] == model]
        for order in _orders(part["order"]):
            rows_of_order = part[part["order"].astype(str) == order]
            if len(rows_of_order):
                out.append((model, order, rows_of_order))
    return out


def _style(order: str, model: Any, models: list[Any]) -> dict[str, Any]:
    style = dict(_STYLES.get(order, {}))
    if not style:  # an order the library may add later: a stable colour from its name
        style = {"color": _EXTRA_COLORS[sum(map(ord, order)) % len(_EXTRA_COLORS)], "marker": "D"}
    if len(models) > 1:
        style["linestyle"] = _MODEL_LINESTYLES[models.index(model) % len(_MODEL_LINESTYLES)]
    return style


def _label(order: str, model: Any, models: list[Any]) -> str:
    return f"{model}: {order}" if len(models) > 1 else order


def _finish(
    ax: Axes,
    title: str,
    xlabel: str,
    ylabel: str,
    handles: list[Any] | None = None,
    sizes: Iterable[float] | None = None,
) -> None:
    """Log axes, title, labels, grid and legend; ``sizes`` become plain x tick labels."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    if sizes is not None:
        ticks = sorted(set(sizes))
        if 1 < len(ticks) <= 12:  # few sizes: label each, as plain numbers
            ax.set_xticks(ticks, [_num(t) for t in ticks])
            ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", alpha=0.3)
    if handles:
        ax.legend(handles=handles, fontsize="small")
    elif ax.get_legend_handles_labels()[0]:  # nothing labelled (every label left empty): no legend
        ax.legend(fontsize="small")


def _new_axes() -> tuple[Figure, Axes]:
    fig = Figure(figsize=(6.4, 4.8), layout="constrained")
    return fig, fig.subplots()


# ----------------------------------------------------------------------------- plots


def plot_time(
    results: pd.DataFrame,
    x: str,
    cost: str,
    fits: pd.DataFrame | None = None,
    *,
    model: str | None = None,
    sizes: Sequence[str] | None = None,
) -> tuple[Figure, Axes]:
    """Log-log plot of the median measured seconds against the swept size ``x``.

    Uses the rows with ``sweep == x`` (when the table has a ``sweep`` column) and the given
    ``cost``; one series per order (per model and order when several models remain). Error
    bars reach down to ``seconds_min`` (or half of ``seconds_iqr``) and up by half of
    ``seconds_iqr``, when those columns exist. With ``fits``, each series whose fit of time
    (``y`` in ``seconds``/``time`` when the column exists) is found gets the fitted line over
    ``[x_min, x_max]``, labelled ``"input-first: slope 2.93 [2.85, 3.01]"``, and a dashed
    reference line of the predicted slope through the series' last point, labelled
    ``"predicted H^3"`` (``"predicted H^2.83, asymptotically H^3"`` when the fit's exact-count
    prediction differs from its ``predicted_asymptotic``). Without a fit, the predicted slope
    is the degree in ``x`` of ``leading_term``.

    Parameters
    ----------
    results : pandas.DataFrame
        Needs ``order``, ``seconds``, ``cost`` and the column ``x``.
    x : str
        The swept size, e.g. ``"H"``.
    cost : str
        The cost model of the rows to plot, e.g. ``"dense"``.
    fits : pandas.DataFrame, optional
        Fits table (``model``, ``cost``, ``order``, ``x``, ``slope``, ``ci_low``, ...).
    model : str, optional
        Keep only this model's rows.
    sizes : sequence of str, optional
        The size columns (default: the names in ``sweep``); those other than ``x`` that hold
        one value over the plotted rows are named in the title, e.g. ``N=64``.

    Returns
    -------
    (matplotlib.figure.Figure, matplotlib.axes.Axes)

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"order": ["input-first"] * 3, "cost": "dense", "sweep": "H",
    ...                   "H": [8, 16, 32], "seconds": [1e-3, 8e-3, 6.4e-2]})
    >>> fig, ax = plot_time(t, "H", "dense")
    >>> ax.get_title(), ax.get_ylabel()
    ('Median time against H (dense cost)', 'seconds (median)')
    """
    func = "plot_time"
    rows = _select(results, x, cost, model, "seconds", func)
    if fits is not None:
        fits = _frame(fits, "fits", func)
    sizes = list(sizes) if sizes is not None else _sweeps(results)
    fig, ax = _new_axes()
    models = _uniques(rows["model"]) if "model" in rows.columns else [None]
    labels: set[str] = set()
    handles: list[Any] = []
    for mdl, order, part in _series(rows):
        style = _style(order, mdl, models)
        label = _label(order, mdl, models)
        xs = part[x].to_numpy(float)
        ys = part["seconds"].to_numpy(float)
        lower = np.zeros_like(ys)
        upper = np.zeros_like(ys)
        if "seconds_iqr" in part.columns:
            half = pd.to_numeric(part["seconds_iqr"], errors="coerce").fillna(0).to_numpy(float)
            lower, upper = half / 2, half / 2
        if "seconds_min" in part.columns:
            low = pd.to_numeric(part["seconds_min"], errors="coerce").to_numpy(float)
            lower = np.where(np.isfinite(low) & (low > 0), ys - low, lower)
        lower = np.clip(np.minimum(lower, ys * 0.999), 0, None)
        upper = np.clip(upper, 0, None)
        yerr = np.vstack([lower, upper]) if (lower.any() or upper.any()) else None
        handles.append(ax.errorbar(xs, ys, yerr=yerr, label=label, capsize=2, lw=1, **style))
        color = style["color"]
        fit = _fit_for(fits, mdl, cost, order, x)
        predicted = asymptotic = None
        if fit is not None:
            slope = _finite(fit.get("slope"))
            predicted = _finite(fit.get("predicted"))
            asymptotic = _finite(fit.get("predicted_asymptotic"))
            if slope is not None:
                lo = _finite(fit.get("x_min")) or xs.min()
                hi = _finite(fit.get("x_max")) or xs.max()
                inside = (xs >= lo) & (xs <= hi)
                if inside.any():
                    b = np.mean(np.log(ys[inside]) - slope * np.log(xs[inside]))
                    line = np.geomspace(lo, hi, 50)
                    text = f"{label}: slope {slope:.2f}"
                    ci = _finite(fit.get("ci_low")), _finite(fit.get("ci_high"))
                    if None not in ci:
                        text += f" [{ci[0]:.2f}, {ci[1]:.2f}]"
                    fitted = np.exp(b) * line**slope
                    handles += ax.plot(line, fitted, color=color, alpha=0.5, lw=3, label=text)
        if predicted is None and "leading_term" in part.columns:
            predicted = _exponent(part["leading_term"].iloc[-1], x)
        if predicted is not None:
            line = np.geomspace(xs.min(), xs.max(), 50)
            text = f"predicted {_power(x, predicted)}"
            if asymptotic is not None and _power(x, asymptotic) != _power(x, predicted):
                text += f", asymptotically {_power(x, asymptotic)}"
            if text in labels:
                text += f" ({label})"
            labels.add(text)
            handles += ax.plot(
                line,
                ys[-1] * (line / xs[-1]) ** predicted,
                color=color,
                ls="--",
                lw=1,
                alpha=0.8,
                label=text,
            )
    title = f"Median time against {x}{_context(cost, _fixed(rows, x, sizes))}"
    title = title if model is None else f"{model}: {title}"
    _finish(ax, title, x, "seconds (median)", handles, rows[x].astype(float))
    return fig, ax


def plot_macs(
    results: pd.DataFrame,
    x: str,
    cost: str,
    *,
    model: str | None = None,
    sizes: Sequence[str] | None = None,
) -> tuple[Figure, Axes]:
    """Log-log plot of the counted multiply-adds against the swept size ``x``, one line per order.

    Rows, ``model`` and ``sizes`` are as in :func:`plot_time`.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"order": ["input-first", "output-first"] * 2, "cost": "dense",
    ...                   "sweep": "H", "H": [8, 8, 16, 16], "N": 4,
    ...                   "macs": [2048, 256, 16384, 1024]})
    >>> fig, ax = plot_macs(t, "H", "dense", sizes=["H", "N"])
    >>> ax.get_title(), ax.get_xlabel()
    ('Multiply-adds against H (dense cost, N=4)', 'H')
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['input-first', 'output-first']
    """
    func = "plot_macs"
    rows = _select(results, x, cost, model, "macs", func)
    sizes = list(sizes) if sizes is not None else _sweeps(results)
    fig, ax = _new_axes()
    models = _uniques(rows["model"]) if "model" in rows.columns else [None]
    for mdl, order, part in _series(rows):
        ax.plot(
            part[x].to_numpy(float),
            part["macs"].to_numpy(float),
            label=_label(order, mdl, models),
            lw=1,
            **_style(order, mdl, models),
        )
    title = f"Multiply-adds against {x}{_context(cost, _fixed(rows, x, sizes))}"
    title = title if model is None else f"{model}: {title}"
    _finish(ax, title, x, "macs (multiply-adds)", sizes=rows[x].astype(float))
    return fig, ax


def plot_roofline(
    steps_or_results: pd.DataFrame, cost: str | None = None, *, model: str | None = None
) -> tuple[Figure, Axes]:
    """Log-log scatter of measured seconds against roofline-predicted seconds, per order.

    Draws the line ``measured = predicted`` and the band from half to twice the prediction.
    Works on a steps table (one point per product step) or a results table (one per run).

    Parameters
    ----------
    steps_or_results : pandas.DataFrame
        Needs ``order``, ``seconds`` and ``roofline_seconds`` (and ``cost`` if ``cost`` given).
    cost : str, optional
        Keep only this cost model's rows.
    model : str, optional
        Keep only this model's rows.

    Examples
    --------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"order": ["input-first", "output-first"], "cost": "dense",
    ...                   "seconds": [2e-3, 1e-4], "roofline_seconds": [1e-3, 1e-4]})
    >>> fig, ax = plot_roofline(s, "dense")
    >>> ax.get_title()
    'Measured against roofline-predicted time (dense cost)'
    """
    func = "plot_roofline"
    df = _frame(steps_or_results, "steps_or_results", func)
    _need(df, ["order", "seconds", "roofline_seconds"], "steps_or_results", func)
    if cost is not None:
        _need(df, ["cost"], "steps_or_results", func)
        _choose(cost, _uniques(df["cost"]), "cost", func)
        df = df[df["cost"].astype(str) == str(cost)]
    if model is not None:
        _need(df, ["model"], "steps_or_results", func)
        _choose(model, _uniques(df["model"]), "model", func)
        df = df[df["model"].astype(str) == str(model)]
    df = _positive(df, ["seconds", "roofline_seconds"])
    if df.empty:
        raise AnalyzerError(
            f"{func}: no rows with positive seconds and roofline_seconds for cost {cost!r}"
        )
    fig, ax = _new_axes()
    for order in _orders(df["order"]):
        part = df[df["order"].astype(str) == order]
        style = {k: v for k, v in _style(order, None, [None]).items() if k != "linestyle"}
        ax.plot(
            part["roofline_seconds"].to_numpy(float),
            part["seconds"].to_numpy(float),
            ls="none",
            alpha=0.8,
            label=order,
            **style,
        )
    values = np.concatenate([df["seconds"].to_numpy(float), df["roofline_seconds"].to_numpy(float)])
    line = np.geomspace(values.min() / 1.5, values.max() * 1.5, 50)
    ax.fill_between(
        line,
        line * _BAND[0],
        line * _BAND[1],
        color="0.5",
        alpha=0.15,
        lw=0,
        label="within ×2 of the prediction",
    )
    ax.plot(line, line, color="k", lw=1, label="measured = predicted")
    title = "Measured against roofline-predicted time" + _context(cost, {})
    if cost is None:
        title += " (all costs)"
    _finish(
        ax,
        title if model is None else f"{model}: {title}",
        "roofline-predicted seconds",
        "measured seconds (median)",
    )
    return fig, ax


#: The band drawn around ``measured = predicted`` in :func:`plot_peak_memory` (±10%).
PEAK_BAND = (0.9, 1.1)


def plot_peak_memory(
    results: pd.DataFrame, cost: str | None = None, *, model: str | None = None
) -> tuple[Figure, Axes]:
    """Log-log scatter of measured against predicted peak memory (bytes), one point per run.

    The prediction is the memory model's (:mod:`analyzer.planning.memory`), the
    measurement tracemalloc's peak of one run (:func:`analyzer.execute`). Draws the
    line ``measured = predicted`` and a ±10% band.

    Parameters
    ----------
    results : pandas.DataFrame
        Needs ``order``, ``peak_bytes_predicted`` and ``peak_bytes_measured`` (and
        ``cost`` if ``cost`` given, ``model`` if ``model`` given).
    cost, model : str, optional
        Keep only this cost model's (model's) rows.

    Examples
    --------
    >>> import pandas as pd
    >>> r = pd.DataFrame({"order": ["input-first", "output-first"], "cost": "dense",
    ...                   "peak_bytes_predicted": [2e6, 1e6],
    ...                   "peak_bytes_measured": [2.001e6, 1.002e6]})
    >>> fig, ax = plot_peak_memory(r, "dense")
    >>> ax.get_title(), ax.get_xlabel()
    ('Measured against predicted peak memory (dense cost)', 'predicted peak (bytes)')
    """
    func = "plot_peak_memory"
    x, y = "peak_bytes_predicted", "peak_bytes_measured"
    df = _frame(results, "results", func)
    _need(df, ["order", x, y], "results", func)
    if cost is not None:
        _need(df, ["cost"], "results", func)
        _choose(cost, _uniques(df["cost"]), "cost", func)
        df = df[df["cost"].astype(str) == str(cost)]
    if model is not None:
        _need(df, ["model"], "results", func)
        _choose(model, _uniques(df["model"]), "model", func)
        df = df[df["model"].astype(str) == str(model)]
    df = _positive(df, [x, y])
    if df.empty:
        raise AnalyzerError(f"{func}: no rows with positive {x} and {y} for cost {cost!r}")
    fig, ax = _new_axes()
    for order in _orders(df["order"]):
        part = df[df["order"].astype(str) == order]
        style = {k: v for k, v in _style(order, None, [None]).items() if k != "linestyle"}
        ax.plot(
            part[x].to_numpy(float), part[y].to_numpy(float), ls="none", alpha=0.8, label=order,
            **style,
        )  # fmt: skip
    values = np.concatenate([df[x].to_numpy(float), df[y].to_numpy(float)])
    line = np.geomspace(values.min() / 1.5, values.max() * 1.5, 50)
    ax.fill_between(
        line, line * PEAK_BAND[0], line * PEAK_BAND[1], color="0.5", alpha=0.15, lw=0,
        label="within 10% of the prediction",
    )  # fmt: skip
    ax.plot(line, line, color="k", lw=1, label="measured = predicted")
    title = "Measured against predicted peak memory" + _context(cost, {})
    if cost is None:
        title += " (all costs)"
    _finish(
        ax,
        title if model is None else f"{model}: {title}",
        "predicted peak (bytes)",
        "measured peak (bytes, tracemalloc)",
    )
    return fig, ax


def plot_pareto(front: pd.DataFrame, *, title: str | None = None) -> tuple[Figure, Axes]:
    """The macs–peak front of :func:`analyzer.pareto`: macs against predicted peak bytes.

    One point per order, joined as a staircase (every order above and to the right
    of it is beaten); the cheapest and the leanest point are labelled by their
    bracketing when it is short. The title says whether the front is exact.

    Examples
    --------
    >>> import analyzer
    >>> fig, ax = plot_pareto(analyzer.pareto(analyzer.chain([32, 38, 32, 28])))
    >>> ax.get_title(), len(ax.lines[0].get_xdata())
    ('Macs against peak memory (exact front, dense cost)', 2)
    """
    func = "plot_pareto"
    df = _frame(front, "front", func)
    _need(df, ["macs", "peak_bytes"], "front", func)
    if df.empty:
        raise AnalyzerError(f"{func}: the front has no rows")
    df = df.sort_values("peak_bytes")
    peaks = df["peak_bytes"].astype(float).to_numpy()
    macs = df["macs"].astype(float).to_numpy()
    fig, ax = _new_axes()
    ax.step(peaks, macs, where="post", color="C2", marker="o", label="front")
    if "bracketing" in df.columns:
        for row in (df.iloc[0], df.iloc[-1]) if len(df) > 1 else (df.iloc[0],):
            text = str(row["bracketing"])
            if len(text) <= 40:
                ax.annotate(
                    text, (float(row["peak_bytes"]), float(row["macs"])), fontsize="x-small",
                    xytext=(4, 4), textcoords="offset points",
                )  # fmt: skip
    exact = df.attrs.get("exact", front.attrs.get("exact"))
    kind = {True: "exact front", False: "front found by the search"}.get(exact, "front")
    cost = front.attrs.get("cost")
    detail = f"{kind}, {cost} cost" if cost else kind
    ax.set_title(title or f"Macs against peak memory ({detail})")
    ax.set_xlabel("predicted peak memory (bytes)")
    ax.set_ylabel("macs (multiply-adds)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return fig, ax
