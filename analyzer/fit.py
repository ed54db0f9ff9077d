"""Log-log exponent fits of measured cost with 95% confidence intervals and verdicts."""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .errors import AnalyzerError
from .machine.explain import explain
from .symbolic import as_expression, degree_in, evaluate, leading_term, log_value, size_names

__all__ = ["fit_exponents", "predicted_exponent", "FIT_COLUMNS", "MACHINE_TOLERANCE", "VERDICTS"]

#: Largest ``|slope - predicted_machine|`` for which a missed count is ``explained``.
MACHINE_TOLERANCE = 0.15
#: The verdicts, from the best: ``fail`` is the only one ``--check`` refuses.
VERDICTS = ("pass", "explained", "inconclusive", "n/a", "fail")

#: Columns of :func:`fit_exponents` after the group columns and the fixed size columns.
FIT_COLUMNS = (
    "slope",
    "ci_low",
    "ci_high",
    "r2",
    "predicted",
    "predicted_asymptotic",
    "predicted_machine",
    "predicted_from",
    "tolerance",
    "verdict",
    "n_points",
    "x_min",
    "x_max",
    "range_note",
    "explanation",
)


def predicted_exponent(leading_term: str, x: str) -> int:
    """Degree in the size ``x`` of a leading term such as ``"H**3*N"`` (the asymptotic slope).

    The text is read by :func:`analyzer.symbolic.degree_in`, never evaluated.

    Parameters
    ----------
    leading_term : str
        A polynomial in size symbols.
    x : str
        The swept size.

    Raises
    ------
    AnalyzerError
        The text cannot be read as a polynomial, or is not a polynomial in ``x``.

    Examples
    --------
    >>> predicted_exponent("H**3*N", "H"), predicted_exponent("H**3*N", "N")
    (3, 1)
    >>> predicted_exponent("H**2*N", "M")  # a size the term does not contain
    0
    """
    return _degree(str(leading_term), str(x))


@functools.lru_cache(maxsize=256)
def _degree(term: str, x: str) -> int:
    return degree_in(term, x)


def _is_time(y: str) -> bool:
    return y == "seconds" or y.startswith("seconds_") or y.endswith("_seconds")


def _texts(g: pd.DataFrame, column: str) -> list[str]:
    """The non-empty texts of a column (formula or leading_term), in order of appearance."""
    if column not in g:
        return []
    values = g[column].dropna().astype(str).str.strip()
    return list(dict.fromkeys(v for v in values if v))


def _sizes(df: pd.DataFrame, x: str) -> list[str]:
    """Size columns: the symbols of the formulas and leading terms that are columns, but ``x``."""
    names: set[str] = set()
    for column in ("formula", "leading_term"):
        for text in _texts(df, column):
            names.update(size_names(text))
    return sorted(name for name in names if name in df.columns and name != x)


def _check(
    df: pd.DataFrame, x: str, y: str, tolerance: float, min_points: int, machine_tolerance: float
) -> None:
    if not isinstance(df, pd.DataFrame) or df.empty:
        raise AnalyzerError("fit_exponents: need a non-empty pandas DataFrame of measurements")
    valid = ", ".join(map(str, df.columns))
    for role, name in (("x", x), ("y", y)):
        if name not in df.columns:
            raise AnalyzerError(f"fit_exponents: {role}={name!r} is not a column; valid: {valid}")
    for name, value in (("tolerance", tolerance), ("machine_tolerance", machine_tolerance)):
        if isinstance(value, bool) or not (isinstance(value, numbers.Real) and value > 0):
            raise AnalyzerError(f"fit_exponents: {name} must be a number > 0, got {value!r}")
    if (
        isinstance(min_points, bool)
        or not isinstance(min_points, numbers.Integral)
        or min_points < 2
    ):
        raise AnalyzerError(f"fit_exponents: min_points must be an int >= 2, got {min_points!r}")


def _positive(df: pd.DataFrame, column: str) -> None:
    values = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float)
    bad = ~(np.isfinite(values) & (values > 0))
    if bad.any():
        raise AnalyzerError(
            f"fit_exponents: column {column!r} has {int(bad.sum())} non-positive, missing or "
            f"non-numeric values (first: {df[column][bad].iloc[0]!r}); a log-log fit needs "
            "positive finite values"
        )


def _asymptotic(
    g: pd.DataFrame, x: str, y: str, min_seconds: float, min_points: int
) -> tuple[pd.DataFrame, str, bool]:
    """Rows of ``g`` inside the asymptotic range, a note saying what was dropped, and
    whether the range rule had to fall back on points below the floor."""
    if not _is_time(y):
        return g, "", False
    kept = g[g[y] >= min_seconds]
    if kept[x].nunique() >= min_points:
        dropped = len(g) - len(kept)
        note = f"dropped {dropped} points with {y} < {min_seconds:g}" if dropped else ""
        return kept, note, False
    largest = np.sort(g[x].unique())[-min_points:]
    note = (
        f"only {kept[x].nunique()} {x} values with {y} >= {min_seconds:g}; "
        f"used the {len(largest)} largest {x} values instead"
    )
    return g[g[x].isin(largest)], note, True


def _regress(xs: np.ndarray, ys: np.ndarray) -> tuple[float, float, float, float]:
    """Slope, 95% confidence bounds and r² of ``log ys`` on ``log xs``."""
    res = stats.linregress(np.log(xs), np.log(ys))
    slope = float(res.slope)
    dof = len(xs) - 2
    if dof < 1:
        low = high = math.nan
    else:
        half = float(stats.t.ppf(0.975, dof)) * float(res.stderr)
        low, high = slope - half, slope + half
    return slope, low, high, float(res.rvalue) ** 2


@functools.lru_cache(maxsize=1024)
def _expression(text: str):
    return as_expression(text)


def _read(column: str, what, *args):
    """``what(*args)``, with a bad text's error naming its column."""
    try:
        return what(*args)
    except AnalyzerError as error:
        raise AnalyzerError(f"fit_exponents: column {column}: {error}") from None


def _formula_degree(formula: str, x: str) -> int:
    return degree_in(leading_term(_expression(formula)), x)


def _asymptotic_degree(g: pd.DataFrame, x: str) -> tuple[float, str]:
    """Degree in ``x`` of the group's leading terms (of its formulas when there are none)."""
    terms = _texts(g, "leading_term")
    if terms:
        degrees = {_read("leading_term", predicted_exponent, t, x) for t in terms}
    else:
        formulas = _texts(g, "formula")
        degrees = {_read("formula", _formula_degree, f, x) for f in formulas}
        terms = formulas
    if len(degrees) == 1:
        return float(degrees.pop()), ""
    if degrees:
        return math.nan, f"leading terms differ within the group: {', '.join(sorted(terms))}"
    return math.nan, ""


def _exact_counts(used: pd.DataFrame) -> tuple[np.ndarray, str]:
    """Log of each fitted row's exact macs, and where they come from ("" when unavailable).

    A row's exact count is its ``formula`` evaluated at the row's sizes; a row without a
    formula (or whose formula names a size that is not a column) uses its ``macs`` value.
    """
    logs, sources = [], set()
    columns = set(map(str, used.columns))
    for _, row in used.iterrows():
        text = row.get("formula")
        text = "" if text is None or (isinstance(text, float) and math.isnan(text)) else str(text)
        value = math.nan
        if text.strip():
            expr = _read("formula", _expression, text.strip())
            names = {str(s) for s in expr.free_symbols}
            if names <= columns:
                sizes = {name: row[name] for name in names}
                value = log_value(_read("formula", evaluate, expr, sizes))
                if not math.isnan(value):
                    sources.add("formula")
        if math.isnan(value) and "macs" in columns:
            try:
                value = log_value(as_expression(row["macs"]))
            except AnalyzerError:
                value = math.nan
            sources.add("macs")
        if math.isnan(value):
            return np.array([]), ""
        logs.append(value)
    return np.array(logs), "+".join(sorted(sources))


def _predicted(g: pd.DataFrame, used: pd.DataFrame, x: str) -> tuple[float, float, str, str]:
    """Predicted slope, asymptotic degree, where the prediction came from, and a note."""
    asymptotic, note = _asymptotic_degree(g, x)
    logs, source = _exact_counts(used)
    if source and np.unique(used[x]).size >= 2:
        slope = float(stats.linregress(np.log(used[x].to_numpy(float)), logs).slope)
        if abs(slope - round(slope)) < 1e-9:
            slope = float(round(slope))
        return slope, asymptotic, source, note
    if not math.isnan(asymptotic):
        return asymptotic, asymptotic, "leading_term", note
    return math.nan, math.nan, "", note


def _machine_slope(used: pd.DataFrame, x: str, y: str, model: str) -> float:
    """Least-squares slope of the machine model's predicted times over the fitted rows."""
    if not _is_time(y) or model not in used.columns or used[x].nunique() < 2:
        return math.nan
    values = pd.to_numeric(used[model], errors="coerce").to_numpy(float)
    if not (np.isfinite(values).all() and (values > 0).all()):
        return math.nan
    return float(stats.linregress(np.log(used[x].to_numpy(float)), np.log(values)).slope)


def fit_exponents(
    df: pd.DataFrame,
    x: str = "H",
    y: str = "seconds",
    by: Sequence[str] = ("model", "cost", "order"),
    tolerance: float = 0.3,
    min_seconds: float = 1e-3,
    min_points: int = 3,
    sizes: Sequence[str] | None = None,
    machine_tolerance: float = MACHINE_TOLERANCE,
    model: str = "model_seconds",
) -> pd.DataFrame:
    """Fit ``y ~ c * x**slope`` per group in log-log space and check the predicted exponent.

    Rows come from a sweep: one row per configuration and order. If the frame has a
    ``sweep`` column, only rows with ``sweep == x`` are used (a table may hold an H-sweep at
    fixed N and an N-sweep at fixed H). Rows are grouped by the columns of ``by`` that are
    present; groups with fewer than 2 distinct ``x`` values are skipped.

    Asymptotic range rule: when ``y`` is a time column (``"seconds"``, ``"seconds_*"`` or
    ``"*_seconds"``), only points with ``y >= min_seconds`` are fitted, since smaller times
    are dominated by per-call overhead; if fewer than ``min_points`` distinct ``x`` values
    remain, the ``min_points`` largest ``x`` values are used instead, and ``range_note``
    says so. When ``y`` is not a time (e.g. ``"macs"``), all points are used.

    The slope is the ordinary least-squares fit of ``log y`` on ``log x``; its 95%
    confidence interval uses the t distribution with ``n - 2`` degrees of freedom (NaN with
    2 points).

    Predictions. ``predicted`` is the slope the verdict checks: the least-squares slope of
    ``log f`` on ``log x`` over the same rows that are fitted, where ``f`` is the exact count
    of multiply-adds of each row: its ``formula`` (the exact cost polynomial of its
    elimination order) evaluated at the row's sizes, or, for a row without a formula, its
    exact ``macs``. At sizes where lower-order terms still weigh, this slope differs from the
    asymptotic degree, and it is the one the measurements can be held to. When no exact
    counts are available, ``predicted`` is the asymptotic degree. ``predicted_asymptotic`` is
    the degree in ``x`` of the group's ``leading_term`` (of its formula's leading term when
    there is no ``leading_term``); NaN when there is none or it differs within the group.
    ``predicted_from`` says which was used: ``"formula"``, ``"macs"``, ``"formula+macs"``,
    ``"leading_term"`` or ``""`` (no prediction). Texts are read by
    :func:`analyzer.symbolic.parse_expression`, never evaluated.

    The verdict is ``"n/a"`` when there is no prediction or fewer than 2 points;
    ``"inconclusive"`` when the data cannot decide: the range rule fell back on points below
    ``min_seconds``, fewer than 3 distinct ``x`` values were fitted, or the 95% interval is
    wider than ``4 * tolerance``; otherwise
    ``"pass"`` if ``|slope - predicted| <= tolerance``; otherwise ``"explained"`` if
    ``|slope - predicted_machine| <= machine_tolerance``, :func:`analyzer.machine.explain.explain`
    names a cause, and the interval is tight (half-width ``<= machine_tolerance``) or excludes
    ``predicted``; ``"inconclusive"`` if only the interval test fails; ``"fail"`` otherwise
    (no cause computed, or the slope matches neither prediction).

    The machine-model prediction ``predicted_machine`` is the least-squares slope of the
    ``model`` column (the machine model's predicted seconds a sweep records, see
    :mod:`analyzer.machine`) over the same rows; NaN when ``y`` is not a time or the column is
    missing. An ``explained`` fit's ``explanation`` names the change of regime the machine
    model predicts between two of the fitted sizes (:func:`analyzer.machine.explain.explain`):
    a working set leaving a cache level, results written to fresh pages, a change of bound.

    Parameters
    ----------
    df : pandas.DataFrame
        Measurements, with columns ``x``, ``y`` and optionally ``formula``, ``macs``,
        ``leading_term``, ``sweep``, the ``by`` columns and other size columns.
    x, y : str
        The swept size column and the measured column.
    by : sequence of str
        Group columns (those absent from ``df`` are ignored).
    tolerance : float
        Largest accepted ``|slope - predicted|``.
    machine_tolerance : float
        Largest ``|slope - predicted_machine|`` that explains a missed count.
    model : str
        Column of the machine model's predicted seconds.
    min_seconds : float
        Smallest time kept by the asymptotic range rule.
    min_points : int
        Fewest distinct ``x`` values the asymptotic range rule keeps (at least 2).
    sizes : sequence of str, optional
        The size columns shown with their fixed value; default: the size names of
        ``formula`` and ``leading_term`` that are columns of ``df``.

    Returns
    -------
    pandas.DataFrame
        One row per group: the ``by`` columns, ``x`` and ``y`` (the column names), the other
        size columns (see ``sizes``) with their value if constant within the group (NaN
        otherwise), then the :data:`FIT_COLUMNS` ``slope, ci_low, ci_high, r2, predicted,
        predicted_asymptotic, predicted_machine, predicted_from, tolerance, verdict,
        n_points, x_min, x_max, range_note, explanation`` (``n_points``, ``x_min`` and
        ``x_max`` describe the range used).

    Raises
    ------
    AnalyzerError
        Empty frame, missing ``x`` or ``y`` column, non-positive ``x`` or ``y`` values,
        ``tolerance <= 0``, ``min_points < 2``, or a ``formula``/``leading_term`` text that is
        not a polynomial.

    Examples
    --------
    >>> import pandas as pd
    >>> h = pd.Series([4, 8, 16])
    >>> df = pd.DataFrame({"order": "input-first", "H": h, "N": 2,
    ...                    "seconds": 1e-9 * h**3, "formula": "H**3*N + H**2*N + H*N + H",
    ...                    "leading_term": "H**3*N"})
    >>> fit = fit_exponents(df, x="H", min_seconds=0)
    >>> fit[["x", "N", "slope", "predicted", "predicted_asymptotic", "verdict"]].round(2)
       x  N  slope  predicted  predicted_asymptotic verdict
    0  H  2    3.0       2.83                   3.0    pass
    """
    _check(df, x, y, tolerance, min_points, machine_tolerance)
    if "sweep" in df.columns:
        rows = df[df["sweep"] == x]
        if rows.empty:
            swept = ", ".join(map(str, df["sweep"].dropna().unique()))
            raise AnalyzerError(f"fit_exponents: no rows with sweep == {x!r}; sweeps: {swept}")
        df = rows
    _positive(df, x)
    _positive(df, y)
    df = df.assign(**{x: pd.to_numeric(df[x]), y: pd.to_numeric(df[y])})
    keys = [column for column in (by if not isinstance(by, str) else [by]) if column in df]
    sizes = _sizes(df, x) if sizes is None else [s for s in sizes if s in df.columns and s != x]
    sizes = [s for s in sizes if s not in keys and s not in ("x", "y")]

    groups = df.groupby(keys, dropna=False, sort=False) if keys else [((), df)]
    records = []
    for key, g in groups:
        if g[x].nunique() < 2:
            continue
        used, note, fell_back = _asymptotic(g, x, y, min_seconds, min_points)
        slope, low, high, r2 = _regress(used[x].to_numpy(float), used[y].to_numpy(float))
        predicted, asymptotic, source, term_note = _predicted(g, used, x)
        machine = _machine_slope(used, x, y, model)
        explanation = ""
        if math.isnan(predicted) or len(used) < 2:
            verdict = "n/a"
        elif fell_back or used[x].nunique() < 3 or not high - low <= 4 * tolerance:
            verdict = "inconclusive"
        elif abs(slope - predicted) <= tolerance:
            verdict = "pass"
        elif not math.isnan(machine) and abs(slope - machine) <= machine_tolerance:
            # ``explained`` needs a cause computed from the calibration; without one the
            # verdict is what it would be without the machine model. A loose interval that
            # still holds the count's slope cannot tell the two predictions apart.
            cause = explain(used, x)
            if not cause:
                verdict = "fail"
            elif (high - low) / 2 > machine_tolerance and low <= predicted <= high:
                verdict = "inconclusive"
            else:
                verdict = "explained"
                explanation = (
                    f"measured slope {slope:.2f} misses the count's {predicted:.2f} but matches "
                    f"the machine model's {machine:.2f}: {cause}"
                )
        else:
            verdict = "fail"
        record = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        record.update({"x": x, "y": y})
        for s in sizes:
            values = g[s].unique()
            record[s] = values[0] if len(values) == 1 else math.nan
        record.update(
            slope=slope,
            ci_low=low,
            ci_high=high,
            r2=r2,
            predicted=predicted,
            predicted_asymptotic=asymptotic,
            predicted_machine=machine,
            predicted_from=source,
            tolerance=float(tolerance),
            verdict=verdict,
            n_points=len(used),
            x_min=used[x].min().item(),
            x_max=used[x].max().item(),
            range_note="; ".join(n for n in (note, term_note) if n),
            explanation=explanation,
        )
        records.append(record)
    return pd.DataFrame(records, columns=[*keys, "x", "y", *sizes, *FIT_COLUMNS])
