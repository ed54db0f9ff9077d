"""Plots, CSV files and report.md / report.html built from the tables of a sweep."""

from __future__ import annotations

import base64
import html
import json
import math
import numbers
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from .errors import AnalyzerError
from .files import atomic_write_text, save_figure, write_csv
from .fit import FIT_COLUMNS
from .symbolic import degree_in

__all__ = ["plot_time", "plot_macs", "plot_roofline", "write_report", "render"]

# The orders in the sequence plots and tables show them; other order names come after.
_ORDERS = ("input-first", "output-first", "optimal")

_FITS_CSV_COLUMNS = ("model", "cost", "order", "x", "y", *FIT_COLUMNS)
# Columns of a fits table besides the fixed-size columns (an empty fits.csv gets these).

_STYLES: dict[str, dict[str, Any]] = {
    "input-first": {"color": "C3", "marker": "o"},
    "output-first": {"color": "C0", "marker": "s"},
    "optimal": {"color": "C2", "marker": "^", "markerfacecolor": "none"},
}
_EXTRA_COLORS = ("C1", "C4", "C5", "C6", "C8", "C9")
_MODEL_LINESTYLES = ("-", ":", "-.", (0, (5, 1)))
_TIME_Y = ("seconds", "time")  # fits whose `y` is one of these are fits of measured time
_BIG_STEP_SECONDS = 1e-3
_BAND = (0.5, 2.0)
_PREDICTED_NOTE = (
    "*predicted* is the slope the verdict checks: the least-squares slope of the exact "
    "multiply-add counts (each order's cost polynomial) over the fitted sizes; *asymptotic* is "
    "the degree of the leading term in the swept size, the slope only very large sizes reach."
)
_BULLET = re.compile(r"^\s*[-*] ")
_CSS = """
body { font-family: system-ui, sans-serif; max-width: 70rem; margin: 2rem auto;
       padding: 0 1rem; line-height: 1.45; color: #222; }
h1, h2, h3 { line-height: 1.2; }
pre { background: #f4f4f4; padding: .6rem .8rem; overflow-x: auto; }
code { background: #f4f4f4; padding: 0 .2rem; }
table { border-collapse: collapse; font-size: .9rem; margin: .5rem 0 1rem; }
th, td { border: 1px solid #ccc; padding: .2rem .5rem; text-align: right; }
th { background: #eee; }
figure { margin: 1rem 0; }
img { max-width: 100%; height: auto; }
figcaption { font-size: .9rem; color: #555; }
"""


# ----------------------------------------------------------------------------- checks


def _frame(df: Any, what: str, func: str) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise AnalyzerError(f"{func}: {what} must be a pandas DataFrame, got {type(df).__name__}")
    return df


def _need(df: pd.DataFrame, columns: Iterable[str], what: str, func: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise AnalyzerError(
            f"{func}: {what} lacks column(s) {missing}; it has {[str(c) for c in df.columns]}"
        )


def _choose(value: Any, valid: Iterable[Any], what: str, func: str) -> None:
    valid = sorted({str(v) for v in valid})
    if str(value) not in valid:
        raise AnalyzerError(f"{func}: unknown {what} {value!r}; valid choices: {valid}")


def _mapping(obj: Any, what: str, func: str) -> dict[str, Any]:
    if obj is None:
        return {}
    if not isinstance(obj, Mapping):
        raise AnalyzerError(f"{func}: {what} must be a dict or None, got {type(obj).__name__}")
    return dict(obj)


def _order_key(order: Any) -> tuple[int, str]:
    order = str(order)
    return (_ORDERS.index(order), "") if order in _ORDERS else (len(_ORDERS), order)


def _orders(values: Iterable[Any]) -> list[str]:
    """The order names present (missing values left out), in the order tables show them."""
    return sorted({str(v) for v in values if not pd.isna(v)}, key=_order_key)


def _uniques(series: pd.Series) -> list[Any]:
    return sorted(series.dropna().unique().tolist(), key=str)


def _sweeps(results: pd.DataFrame) -> list[str]:
    """Names in the ``sweep`` column that are also columns of the table."""
    if "sweep" not in results.columns:
        return []
    return [s for s in _uniques(results["sweep"].astype(str)) if s in results.columns]


def _size_names(results: pd.DataFrame, meta: Mapping[str, Any] | None, func: str) -> list[str]:
    """The size columns: ``meta['sizes']`` when given, else the names in ``sweep``."""
    sizes = (meta or {}).get("sizes")
    if sizes is None:
        return _sweeps(results)
    if not isinstance(sizes, list | tuple) or not all(isinstance(s, str) for s in sizes):
        raise AnalyzerError(f"{func}: meta['sizes'] must be a list of column names, got {sizes!r}")
    missing = [s for s in sizes if s not in results.columns]
    if missing:
        raise AnalyzerError(
            f"{func}: meta['sizes'] names {missing}, which are not columns of results; "
            f"valid choices: {[str(c) for c in results.columns]}"
        )
    return list(sizes)


def _numeric(results: pd.DataFrame, columns: Iterable[str], func: str) -> None:
    """Refuse a column of ``results`` that holds a value other than a number (or nothing)."""
    for c in columns:
        if c not in results.columns:
            continue
        values = results[c]
        coerced = pd.to_numeric(values, errors="coerce")
        bad = values.notna() & coerced.isna()
        if bad.any():
            raise AnalyzerError(
                f"{func}: results column {c!r} must hold numbers; it holds {int(bad.sum())} "
                f"other value(s), the first {values[bad].iloc[0]!r}"
            )


def _positive(df: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """Rows whose ``columns`` are all finite and positive (what a log axis can show)."""
    keep = pd.Series(True, index=df.index)
    for c in columns:
        values = pd.to_numeric(df[c], errors="coerce")
        keep &= np.isfinite(values) & (values > 0)
    return df[keep]


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


def _num(value: Any) -> str:
    """A number as people write it: integral values without ``.0``, others with 3 digits."""
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        value = float(value)
        if not math.isfinite(value):
            return ""
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.3g}"
    return "" if value is None else str(value)


def _fixed(rows: pd.DataFrame, x: str, sizes: Iterable[str]) -> dict[str, Any]:
    """The sizes other than ``x`` that hold one value over ``rows``."""
    fixed = {}
    for s in sizes:
        if s != x and s in rows.columns:
            values = rows[s].dropna().unique()
            if len(values) == 1:
                fixed[s] = values[0]
    return fixed


def _context(cost: Any, fixed: Mapping[str, Any]) -> str:
    parts = [f"{cost} cost"] if cost is not None else []
    parts += [f"{k}={_num(v)}" for k, v in fixed.items()]
    return f" ({', '.join(parts)})" if parts else ""


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


def _power(x: str, p: float) -> str:
    """``x^p`` as a label: ``H^3``, ``N`` for 1, ``H^2.5`` for fractions, ``const`` for 0."""
    p = float(p)
    if abs(p - round(p)) < 1e-9:
        p = round(p)
        return "const" if p == 0 else x if p == 1 else f"{x}^{p}"
    return f"{x}^{p:.3g}"


def _exponent(term: Any, x: str) -> float | None:
    """Degree in ``x`` of a leading term's text (read, never evaluated); None if unreadable."""
    if not isinstance(term, str) or not term.strip():
        return None
    try:
        return float(degree_in(term, x))
    except AnalyzerError:
        return None


def _finite(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _fit_for(
    fits: pd.DataFrame | None, model: Any, cost: Any, order: str, x: str
) -> pd.Series | None:
    """The fit of measured time for one series, or None."""
    if fits is None or fits.empty or not {"order", "x", "slope"} <= set(fits.columns):
        return None
    keep = (fits["order"].astype(str) == order) & (fits["x"].astype(str) == str(x))
    if cost is not None and "cost" in fits.columns:
        keep &= fits["cost"].astype(str) == str(cost)
    if model is not None and "model" in fits.columns:
        keep &= fits["model"].astype(str) == str(model)
    if "y" in fits.columns:
        keep &= fits["y"].astype(str).isin(_TIME_Y)
    found = fits[keep]
    return None if found.empty else found.iloc[0]


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
    else:
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


# ----------------------------------------------------------------------------- documents


def _inline(text: str) -> str:
    """A small subset of inline markdown as HTML: code spans, bold, italics, links."""
    out = []
    for i, piece in enumerate(re.split(r"`([^`]*)`", text)):
        if i % 2:
            out.append(f"<code>{html.escape(piece)}</code>")
            continue
        piece = html.escape(piece, quote=True)
        piece = re.sub(r"\*\*(\S(?:.*?\S)?)\*\*", r"<strong>\1</strong>", piece)
        piece = re.sub(r"(?<![\w*])\*(?![\s*])(.+?)(?<![\s*])\*(?![\w*])", r"<em>\1</em>", piece)
        piece = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r'<a href="\2">\1</a>', piece)
        out.append(piece)
    return "".join(out)


def _markdown_html(text: str) -> str:
    """Paragraphs, ``-`` lists and fenced code of a markdown text as HTML."""
    out: list[str] = []
    lines = str(text).strip("\n").splitlines()
    block: list[str] = []

    def flush() -> None:
        if not block:
            return
        if all(_BULLET.match(line) for line in block):
            items = "".join(f"<li>{_inline(_BULLET.sub('', b))}</li>" for b in block)
            out.append(f"<ul>{items}</ul>")
        else:
            out.append(f"<p>{_inline(' '.join(b.strip() for b in block))}</p>")
        block.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip().startswith("```"):
            flush()
            code = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                code.append(lines[i])
                i += 1
            out.append(f"<pre><code>{html.escape(chr(10).join(code))}</code></pre>")
        elif not line.strip():
            flush()
        else:
            block.append(line)
        i += 1
    flush()
    return "\n".join(out)


def _md_cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _md_table(df: pd.DataFrame) -> str:
    header = "| " + " | ".join(_md_cell(c) for c in df.columns) + " |"
    rule = "| " + " | ".join("---" for _ in df.columns) + " |"
    rows = ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in df.itertuples(False)]
    return "\n".join([header, rule, *rows])


class _Doc:
    """A report written twice at once: as markdown and as self-contained HTML."""

    def __init__(self) -> None:
        self.md: list[str] = []
        self.html: list[str] = []

    def heading(self, level: int, text: str) -> None:
        self.md.append(f"{'#' * level} {text}")
        self.html.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def markdown(self, text: str) -> None:
        if str(text).strip():
            self.md.append(str(text).strip("\n"))
            self.html.append(_markdown_html(text))

    def code(self, text: str) -> None:
        fence = "````" if "```" in text else "```"
        self.md.append(f"{fence}\n{text}\n{fence}")
        self.html.append(f"<pre><code>{html.escape(text)}</code></pre>")

    def bullets(self, items: Iterable[str]) -> None:
        items = [str(i) for i in items]
        if items:
            self.md.append("\n".join(f"- {i}" for i in items))
            self.html.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")

    def table(self, df: pd.DataFrame) -> None:
        self.md.append(_md_table(df))
        self.html.append(df.to_html(index=False, border=0, escape=True, na_rep=""))

    def image(self, name: str, caption: str, png: bytes) -> None:
        self.md.append(f"![{caption}]({name})")
        data = base64.b64encode(png).decode("ascii")
        self.html.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    def markdown_text(self) -> str:
        return "\n\n".join(self.md) + "\n"

    def html_text(self, title: str) -> str:
        body = "\n".join(self.html)
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
            f"<body>\n{body}\n</body>\n</html>\n"
        )


# ----------------------------------------------------------------------------- sections


def _cell(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return f"{float(value):.{digits}g}"
    return str(value)


def _verdict_table(fits: pd.DataFrame, sizes: list[str], several_models: bool) -> pd.DataFrame:
    fixed_cols = [s for s in sizes if s in fits.columns]
    rows = []
    for _, f in fits.iterrows():
        row: dict[str, str] = {}
        if several_models and "model" in fits.columns:
            row["model"] = str(f["model"])
        for col in ("cost", "order", "x", "y"):
            if col in fits.columns:
                row[col] = _cell(f[col])
        fixed = [f"{s}={_num(f[s])}" for s in fixed_cols if s != f.get("x") and pd.notna(f[s])]
        if fixed_cols:
            row["fixed"] = ", ".join(fixed)
        slope = _finite(f.get("slope"))
        text = "" if slope is None else f"{slope:.2f}"
        lo, hi = _finite(f.get("ci_low")), _finite(f.get("ci_high"))
        if slope is not None and lo is not None and hi is not None:
            text += f" [{lo:.2f}, {hi:.2f}]"
        row["slope [CI]"] = text
        if "predicted" in fits.columns:
            row["predicted"] = _cell(_finite(f["predicted"]))
        if "predicted_asymptotic" in fits.columns:
            row["asymptotic"] = _cell(_finite(f["predicted_asymptotic"]))
        if "tolerance" in fits.columns:
            tol = _finite(f["tolerance"])
            row["tolerance"] = "" if tol is None else f"±{tol:g}"
        if "r2" in fits.columns:
            r2 = _finite(f["r2"])
            row["r²"] = "" if r2 is None else f"{r2:.4f}"
        if "n_points" in fits.columns:
            n = _finite(f["n_points"])
            span = ""
            if "x_min" in fits.columns and "x_max" in fits.columns:
                span = f" ({_num(f['x_min'])}…{_num(f['x_max'])})"
            row["points"] = ("" if n is None else str(int(n))) + span
        row["verdict"] = _cell(f.get("verdict", ""))
        if (
            "range_note" in fits.columns
            and fits["range_note"].fillna("").astype(str).str.strip().any()
        ):
            row["note"] = _cell(f["range_note"])
        rows.append(row)
    return pd.DataFrame(rows)


def _sort_results(results: pd.DataFrame, sizes: list[str]) -> pd.DataFrame:
    keys = [c for c in ("model", "cost", "sweep") if c in results.columns]
    keys += [s for s in sizes if s in results.columns]
    df = results.copy()
    df["_order"] = [_order_key(o) for o in df["order"]]
    return df.sort_values([*keys, "_order"], kind="stable").drop(columns="_order")


def _results_table(results: pd.DataFrame, sizes: list[str], several_models: bool) -> pd.DataFrame:
    df = _sort_results(results, sizes)
    cols = (["model"] if several_models and "model" in df.columns else []) + [
        c for c in ("cost", "sweep") if c in df.columns
    ]
    cols += [s for s in sizes if s not in cols] + ["order"]
    cols += [c for c in ("macs", "seconds", "gflops", "roofline_ratio") if c in df.columns]
    out = pd.DataFrame(index=df.index)
    for c in cols:
        if c == "seconds":
            out[c] = [_cell(_finite(v)) for v in df[c]]
        elif c in ("gflops", "roofline_ratio"):
            out[c] = ["" if _finite(v) is None else f"{_finite(v):.2f}" for v in df[c]]
        elif c in sizes or c == "macs":
            out[c] = [_num(v) for v in df[c]]
        else:
            out[c] = df[c].astype(str)
    if "gflops" in out.columns:
        out = out.rename(columns={"gflops": "GFLOP/s"})
    return out.reset_index(drop=True)


def _gflops(df: pd.DataFrame) -> pd.Series:
    if "gflops" in df.columns:
        return pd.to_numeric(df["gflops"], errors="coerce")
    seconds = pd.to_numeric(df.get("seconds", pd.Series(np.nan, index=df.index)), errors="coerce")
    return 2 * pd.to_numeric(df["macs"], errors="coerce") / seconds / 1e9


def _times(a: float, b: float) -> str:
    r = a / b
    return f"{r:.3g}×"


def _config(row: pd.Series, sizes: list[str]) -> str:
    return ", ".join(f"{s}={_num(row[s])}" for s in sizes if s in row.index and pd.notna(row[s]))


def _roofline_rates(machine: Mapping[str, Any], meta: Mapping[str, Any]) -> dict[str, float]:
    for source in (machine.get("roofline"), meta.get("roofline"), machine):
        if hasattr(source, "to_dict") and not isinstance(source, Mapping):
            source = source.to_dict()  # e.g. a Roofline object
        if isinstance(source, Mapping):
            mps = _finite(source.get("macs_per_second"))
            bps = _finite(source.get("bytes_per_second"))
            if mps is not None or bps is not None:
                return {k: v for k, v in (("macs", mps), ("bytes", bps)) if v is not None}
    return {}


def _largest(part: pd.DataFrame, x: str | None, sizes: list[str]) -> pd.DataFrame:
    """Rows of the largest configuration: largest ``x`` in a sweep, else largest size product."""
    if x is not None and x in part.columns:
        values = pd.to_numeric(part[x], errors="coerce")
        return part[values == values.max()]
    present = [s for s in sizes if s in part.columns]
    if not present:
        values = pd.to_numeric(part["macs"], errors="coerce")
        return part[values == values.max()]
    product = np.prod(
        [pd.to_numeric(part[s], errors="coerce").to_numpy(float) for s in present], axis=0
    )
    if not np.isfinite(product).any():
        return part.iloc[:0]
    return part[product == np.nanmax(product)]


def _reading(
    results: pd.DataFrame,
    fits: pd.DataFrame | None,
    steps: pd.DataFrame | None,
    sizes: list[str],
    peak: dict[str, float],
) -> list[str]:
    """Plain sentences computed from the tables."""
    items: list[str] = []
    several = "model" in results.columns and results["model"].nunique() > 1
    groups = ["model"] if several else []
    groups += [c for c in ("cost", "sweep") if c in results.columns]
    for key, part in results.groupby(groups, sort=True) if groups else [((), results)]:
        key = key if isinstance(key, tuple) else (key,)
        named = dict(zip(groups, key, strict=True))
        x = named.get("sweep")
        top = _largest(part, x, sizes)
        if top.empty:  # no row has a value for the sizes: no largest configuration
            continue
        by_order = {str(o): r.iloc[0] for o, r in top.groupby("order")}
        where = ", ".join(
            ([str(named["model"])] if "model" in named else [])
            + ([f"{named['cost']} cost"] if "cost" in named else [])
            + ([f"{x} sweep"] if x is not None else [])
        )
        config = _config(top.iloc[0], sizes)
        head = f"**{where or 'all rows'}**, largest configuration ({config or 'n/a'}): "
        fi, fo = by_order.get("input-first"), by_order.get("output-first")
        if fi is not None and fo is not None and _finite(fo["macs"]) and _finite(fi["macs"]):
            text = (
                f"input-first needs {_times(float(fi['macs']), float(fo['macs']))} the macs of "
                f"output-first ({_num(fi['macs'])} vs {_num(fo['macs'])})"
            )
            ti, to = _finite(fi.get("seconds")), _finite(fo.get("seconds"))
            if ti and to and ti > 0 and to > 0:
                rate = (float(fi["macs"]) / float(fo["macs"])) / (ti / to)
                text += (
                    f" and took {_times(ti, to)} as long ({ti:.3g} s vs {to:.3g} s): "
                    f"input-first ran at {rate:.2f}× the mac rate of output-first"
                )
            opt = by_order.get("optimal")
            if opt is not None and _finite(opt["macs"]):
                cheaper = min(float(fi["macs"]), float(fo["macs"]))
                text += (
                    f"; optimal needs {_times(float(opt['macs']), cheaper)} the macs of the "
                    "cheaper of the two"
                )
            items.append(head + text + ".")
        elif by_order:
            parts = [f"{o}: {_num(r['macs'])} macs" for o, r in by_order.items()]
            items.append(head + "; ".join(parts) + ".")
    # achieved rates
    rate_groups = (["model"] if several else []) + (["cost"] if "cost" in results.columns else [])
    gflops = _gflops(results)
    for key, part in results.groupby(rate_groups, sort=True) if rate_groups else [((), results)]:
        key = key if isinstance(key, tuple) else (key,)
        parts = []
        for order in _orders(part["order"]):
            g = gflops[part.index[part["order"].astype(str) == order]]
            g = g[np.isfinite(g) & (g > 0)]
            if len(g):
                parts.append(f"{order} median {g.median():.3g}, max {g.max():.3g}")
        if parts:
            where = " ".join(str(k) for k in key)
            text = f"**{where + ' ' if where else ''}achieved GFLOP/s** (flops = 2·macs): "
            text += "; ".join(parts)
            if "macs" in peak:
                text += f" (calibrated peak {2 * peak['macs'] / 1e9:.3g} GFLOP/s)"
            items.append(text + ".")
    # roofline agreement
    table, what = (steps, "steps") if steps is not None else (results, "runs")
    if table is not None and {"seconds", "roofline_ratio"} <= set(table.columns):
        cost_groups = ["cost"] if "cost" in table.columns else []
        for key, part in table.groupby(cost_groups, sort=True) if cost_groups else [((), table)]:
            key = key if isinstance(key, tuple) else (key,)
            seconds = pd.to_numeric(part["seconds"], errors="coerce")
            ratio = pd.to_numeric(part["roofline_ratio"], errors="coerce")
            big = part[(seconds > _BIG_STEP_SECONDS) & np.isfinite(ratio) & (ratio > 0)]
            where = f"**{key[0]} cost**: " if key else ""
            if big.empty:
                items.append(
                    f"{where}no {what[:-1]} took over 1 ms, so none is checked "
                    "against the roofline."
                )
                continue
            r = pd.to_numeric(big["roofline_ratio"], errors="coerce")
            out = big[(r < _BAND[0]) | (r > _BAND[1])]
            text = (
                f"{where}{len(out)} of {len(big)} {what} over 1 ms have a roofline ratio "
                f"(measured / predicted) outside [{_BAND[0]:g}, {_BAND[1]:g}]"
            )
            if len(out):
                worst = out.assign(_far=np.abs(np.log(r[out.index]))).nlargest(3, "_far")
                named = []
                for i, w in worst.iterrows():
                    label = f"`{w['product']}` " if "product" in w.index else ""
                    where = ", ".join(
                        p for p in (_cell(w.get("order")), _config(w, sizes)) if p and p != "nan"
                    )
                    named.append(f"{label}({where}) at {r[i]:.2f}")
                text += "; furthest: " + "; ".join(named)
            items.append(text + ".")
    # fits
    if fits is not None and not fits.empty and "verdict" in fits.columns:
        counts = fits["verdict"].fillna("n/a").astype(str).value_counts()
        summary = ", ".join(
            f"{counts[v]} {v}" for v in ("pass", "fail", "inconclusive", "n/a") if v in counts
        )
        text = f"**Fits**: {summary} (of {len(fits)})"
        failed = fits[fits["verdict"].astype(str) == "fail"]
        if len(failed):
            named = []
            for _, f in failed.iterrows():
                slope, pred = _finite(f.get("slope")), _finite(f.get("predicted"))
                named.append(
                    f"{f.get('cost', '')} {f['order']} against {f['x']}: slope "
                    f"{'' if slope is None else f'{slope:.2f}'}, predicted "
                    f"{'' if pred is None else f'{pred:g}'}"
                )
            text += "; failing: " + "; ".join(named)
        items.append(text + ".")
    return items


def _human_bytes(value: Any) -> str:
    v = _finite(value)
    if v is None:
        return str(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(v) < 1024 or unit == "TiB":
            return f"{v:.3g} {unit}" if unit != "B" else f"{int(v)} B"
        v /= 1024
    return str(value)  # pragma: no cover


def _machine_items(machine: Mapping[str, Any], peak: Mapping[str, float]) -> list[str]:
    items = []
    shown = {"roofline", "macs_per_second", "bytes_per_second"}
    labels = {
        "cpu_model": "CPU",
        "logical_cores": "logical cores",
        "numpy": "numpy",
        "python": "python",
        "platform": "platform",
        "date": "date",
    }
    for key in ("cpu_model", "logical_cores"):
        if machine.get(key) is not None:
            items.append(f"{labels[key]}: {machine[key]}")
        shown.add(key)
    caches = machine.get("caches")
    if caches:
        names = []
        for c in caches if isinstance(caches, list) else []:
            if isinstance(c, Mapping):
                kind = {"data": "d", "instruction": "i"}.get(str(c.get("type", "")).lower(), "")
                size = c.get("size")
                size = _human_bytes(size) if isinstance(size, numbers.Real) else size
                names.append(f"L{c.get('level', '?')}{kind} {size}")
        items.append("caches: " + (", ".join(names) if names else str(caches)))
    shown.add("caches")
    if machine.get("memory_bytes") is not None:
        items.append(f"memory: {_human_bytes(machine['memory_bytes'])}")
    shown.add("memory_bytes")
    blas = machine.get("blas")
    if blas is not None:
        libs = []
        for b in blas if isinstance(blas, list) else [blas]:
            if isinstance(b, Mapping):
                name = " ".join(str(b[k]) for k in ("internal_api", "version") if b.get(k))
                extra = [
                    f"{k} {v}"
                    for k, v in b.items()
                    if k not in ("internal_api", "version", "filepath", "prefix", "user_api")
                    and v is not None
                ]
                libs.append(name + (f" ({', '.join(extra)})" if extra else ""))
            else:
                libs.append(str(b))
        items.append("BLAS: " + ("; ".join(libs) if libs else "none found"))
    shown.add("blas")
    for key in ("numpy", "python", "platform", "date"):
        if machine.get(key) is not None:
            items.append(f"{labels[key]}: {machine[key]}")
        shown.add(key)
    if peak:
        parts = []
        if "macs" in peak:
            parts.append(
                f"{2 * peak['macs'] / 1e9:.3g} GFLOP/s (flops = 2·macs; "
                f"{peak['macs'] / 1e9:.3g} G macs/s)"
            )
        if "bytes" in peak:
            parts.append(f"{peak['bytes'] / 1e9:.3g} GB/s memory bandwidth")
        items.append("roofline: " + ", ".join(parts))
    for key, value in machine.items():
        if key not in shown:
            items.append(f"{key}: {value}")
    return items


def _command(meta: Mapping[str, Any]) -> str:
    command = meta.get("command")
    if command is None:
        return "(not recorded)"
    if isinstance(command, list | tuple):
        return shlex.join(str(c) for c in command)
    return str(command)


def _stem(*parts: Any) -> str:
    return "_".join(re.sub(r"[^A-Za-z0-9_.-]+", "-", str(p)).strip("-") or "x" for p in parts)


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "to_dict") and not isinstance(obj, Mapping | pd.Series):
        obj = obj.to_dict()  # e.g. a Roofline object
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | np.ndarray | pd.Series):
        return [_jsonable(v) for v in (obj.tolist() if hasattr(obj, "tolist") else obj)]
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        return float(obj) if math.isfinite(float(obj)) else None
    if obj is None or isinstance(obj, str):
        return obj
    return str(obj)


def _read_csv(path: Path, func: str) -> pd.DataFrame:
    try:
        # only empty cells are missing: "n/a" (a verdict) and "NA" stay strings
        return pd.read_csv(path, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (OSError, ValueError) as exc:
        raise AnalyzerError(f"{func}: cannot read {path}: {exc}") from exc


def _read_json(path: Path, func: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AnalyzerError(f"{func}: cannot read {path}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise AnalyzerError(f"{func}: {path} must hold a JSON object, got {type(data).__name__}")
    return data


# ----------------------------------------------------------------------------- reports


def _build(
    folder: Path,
    results: pd.DataFrame,
    fits: pd.DataFrame | None,
    steps: pd.DataFrame | None,
    machine: dict[str, Any],
    meta: dict[str, Any],
    func: str,
) -> Path:
    """Write the plots, report.md and report.html into ``folder``; return report.md's path."""
    _need(results, ["order", "cost", "macs"], "results", func)
    sizes = _size_names(results, meta, func)
    if not sizes:
        raise AnalyzerError(
            f"{func}: cannot tell which columns are sizes: give meta['sizes'] or a 'sweep' column"
        )
    _numeric(results, [*sizes, "macs"], func)
    if fits is not None and fits.empty:
        fits = None
    several = "model" in results.columns and results["model"].nunique() > 1
    models = _uniques(results["model"]) if several else [None]
    costs = _uniques(results["cost"])
    sweeps = _sweeps(results) or sizes
    peak = _roofline_rates(machine, meta)
    name = str(meta.get("name") or folder.resolve().name)

    plots: list[tuple[str, str]] = []  # (file stem, caption)

    def add(fig: Figure, stem: str, caption: str) -> None:
        save_figure(fig, folder / stem)
        plots.append((stem, caption))

    for model in models:
        tail = [] if model is None else [model]
        for x in sweeps:
            for cost in costs:
                has = results["cost"].astype(str) == str(cost)
                if "sweep" in results.columns:
                    has &= results["sweep"].astype(str) == str(x)
                if model is not None:
                    has &= results["model"].astype(str) == str(model)
                chosen = results[has]
                if chosen.empty:
                    continue
                if "seconds" in chosen.columns and not _positive(chosen, [x, "seconds"]).empty:
                    fig, _ = plot_time(results, x, cost, fits, model=model, sizes=sizes)
                    add(
                        fig,
                        _stem("time_vs", x, cost, *tail),
                        f"Median time against {x}, {cost} cost" + (f", {model}" if model else ""),
                    )
                if not _positive(chosen, [x, "macs"]).empty:
                    fig, _ = plot_macs(results, x, cost, model=model, sizes=sizes)
                    add(
                        fig,
                        _stem("macs_vs", x, cost, *tail),
                        f"Multiply-adds against {x}, {cost} cost" + (f", {model}" if model else ""),
                    )
    roof = steps if steps is not None else results
    roof_what = "product steps" if steps is not None else "runs"
    if {"seconds", "roofline_seconds", "order"} <= set(roof.columns):
        by_cost = "cost" in roof.columns
        for cost in _uniques(roof["cost"]) if by_cost else [None]:
            part = roof[roof["cost"].astype(str) == str(cost)] if by_cost else roof
            if _positive(part, ["seconds", "roofline_seconds"]).empty:
                continue
            fig, _ = plot_roofline(roof, cost)
            caption = f"Measured against roofline-predicted time of {roof_what}"
            if by_cost:
                add(fig, _stem("roofline", cost), f"{caption}, {cost} cost")
            else:
                add(fig, "roofline", caption)

    doc = _Doc()
    doc.heading(1, name)
    doc.markdown(str(meta.get("description") or ""))
    doc.markdown("**Command** that produced these tables:")
    doc.code(_command(meta))
    doc.heading(2, "Verdicts")
    if fits is None:
        doc.markdown("No fits were given.")
    else:
        doc.table(_verdict_table(fits, sizes, several))
        if "predicted_asymptotic" in fits.columns:
            doc.markdown(_PREDICTED_NOTE)
    if meta.get("fit_rule"):
        doc.markdown(f"**Fit rule.** {meta['fit_rule']}")
    doc.heading(2, "Reading the numbers")
    doc.bullets(_reading(results, fits, steps, sizes, peak))
    notes = meta.get("notes") or []
    if isinstance(notes, str):
        notes = [notes]
    if notes:
        doc.heading(2, "Notes")
        for note in notes:
            doc.markdown(str(note))
    doc.heading(2, "Plots")
    for stem, caption in plots:
        doc.heading(3, caption)
        doc.image(f"{stem}.png", caption, (folder / f"{stem}.png").read_bytes())
    doc.heading(2, "Results")
    doc.markdown(
        "Seconds are medians over repeats; GFLOP/s counts flops = 2·macs; roofline_ratio is "
        "measured / roofline-predicted seconds."
    )
    doc.table(_results_table(results, sizes, several))
    doc.heading(2, "Machine")
    items = _machine_items(machine, peak)
    if items:
        doc.bullets(items)
    else:
        doc.markdown("No machine description was recorded.")

    atomic_write_text(folder / "report.html", doc.html_text(name))
    return atomic_write_text(folder / "report.md", doc.markdown_text())


def write_report(
    folder: str | Path,
    results: pd.DataFrame,
    fits: pd.DataFrame | None,
    steps: pd.DataFrame | None = None,
    machine: Mapping[str, Any] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """Write a sweep's tables, plots, report.md and a self-contained report.html into ``folder``.

    Files written (each atomically): ``results.csv``, ``fits.csv`` (header only when
    ``fits`` is None), ``steps.csv`` (when given; a stale one is removed otherwise),
    ``machine.json``, ``meta.json``, the plots ``time_vs_<x>_<cost>``, ``macs_vs_<x>_<cost>``
    (one per swept size and cost present; ``_<model>`` is appended when there are several
    models) and ``roofline_<cost>`` as PNG and SVG, ``report.html`` (plots embedded as
    base64 PNG) and ``report.md``.

    Parameters
    ----------
    folder : str or pathlib.Path
        Output folder, created if missing.
    results : pandas.DataFrame
        One row per configuration and order: ``model``, ``cost``, ``order``, ``sweep``, size
        columns, ``macs``, ``seconds``, ``gflops``, ``roofline_ratio``, ... Needs at least
        ``order``, ``cost`` and ``macs``; other columns are used when present.
    fits : pandas.DataFrame or None
        One row per fitted exponent (``model``, ``cost``, ``order``, ``x``, ``slope``,
        ``ci_low``, ``ci_high``, ``predicted``, ``verdict``, ...).
    steps : pandas.DataFrame, optional
        One row per executed product step; feeds the roofline plot and its check.
    machine : dict, optional
        Machine description; the roofline rates may sit under ``machine['roofline']``.
    meta : dict, optional
        ``name``, ``command``, ``sizes`` (size column names; else the ``sweep`` values),
        ``description``, ``notes``, ``fit_rule``.

    Returns
    -------
    pathlib.Path
        The path of report.md.

    Examples
    --------
    >>> import tempfile
    >>> import pandas as pd
    >>> results = pd.DataFrame({"model": "one_layer", "cost": "dense",
    ...     "order": ["input-first", "output-first"] * 2, "sweep": "H", "H": [8, 8, 16, 16],
    ...     "N": 4, "macs": [2048, 256, 16384, 1024], "seconds": [2e-6, 3e-7, 1.6e-5, 1.2e-6]})
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     md = write_report(tmp, results, None, meta={"name": "demo", "command": "run"})
    ...     sorted(p.name for p in md.parent.iterdir())
    ['fits.csv', 'machine.json', 'macs_vs_H_dense.png', 'macs_vs_H_dense.svg', 'meta.json',
     'report.html', 'report.md', 'results.csv', 'time_vs_H_dense.png', 'time_vs_H_dense.svg']
    """
    func = "write_report"
    results = _frame(results, "results", func)
    if fits is not None:
        fits = _frame(fits, "fits", func)
    if steps is not None:
        steps = _frame(steps, "steps", func)
    machine = _mapping(machine, "machine", func)
    meta = _mapping(meta, "meta", func)
    _need(results, ["order", "cost", "macs"], "results", func)
    if not _size_names(results, meta, func):  # fail before writing anything
        raise AnalyzerError(
            f"{func}: cannot tell which columns are sizes: give meta['sizes'] or a 'sweep' column"
        )
    _numeric(results, [*_size_names(results, meta, func), "macs"], func)
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise AnalyzerError(f"{func}: {folder} exists and is not a folder")
    write_csv(results, folder / "results.csv")
    write_csv(
        fits if fits is not None else pd.DataFrame(columns=_FITS_CSV_COLUMNS), folder / "fits.csv"
    )
    if steps is not None:
        write_csv(steps, folder / "steps.csv")
    else:
        (folder / "steps.csv").unlink(missing_ok=True)
    atomic_write_text(folder / "machine.json", json.dumps(_jsonable(machine), indent=2) + "\n")
    atomic_write_text(folder / "meta.json", json.dumps(_jsonable(meta), indent=2) + "\n")
    return _build(folder, results, fits, steps, machine, meta, func)


def render(folder: str | Path) -> Path:
    """Re-read a report folder's tables and rewrite its plots, report.md and report.html.

    Reads ``results.csv`` (required), ``fits.csv``, ``steps.csv``, ``machine.json`` and
    ``meta.json`` (each optional) as :func:`write_report` wrote them; the data files are not
    rewritten. Backs the ``analyzer report DIR`` command.

    Returns
    -------
    pathlib.Path
        The path of report.md.

    Raises
    ------
    AnalyzerError
        If the folder or its ``results.csv`` is missing, or a file cannot be read.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import pandas as pd
    >>> results = pd.DataFrame({"cost": "dense", "order": ["input-first", "output-first"],
    ...     "sweep": "H", "H": [8, 8], "macs": [2048, 256]})
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = write_report(tmp, results, None)
    ...     (Path(tmp) / "report.md").unlink()
    ...     render(tmp).name
    'report.md'
    """
    func = "render"
    folder = Path(folder)
    if not folder.is_dir():
        raise AnalyzerError(f"{func}: report folder {folder} does not exist or is not a folder")
    path = folder / "results.csv"
    if not path.is_file():
        raise AnalyzerError(f"{func}: missing {path}; a report folder holds results.csv")
    results = _read_csv(path, func)
    fits = _read_csv(folder / "fits.csv", func) if (folder / "fits.csv").is_file() else None
    steps = _read_csv(folder / "steps.csv", func) if (folder / "steps.csv").is_file() else None
    machine = (
        _read_json(folder / "machine.json", func) if (folder / "machine.json").is_file() else {}
    )
    meta = _read_json(folder / "meta.json", func) if (folder / "meta.json").is_file() else {}
    return _build(folder, results, fits, steps, machine, meta, func)
