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
from .symbolic import degree_in, size_names

__all__ = ["fit_exponents", "predicted_exponent", "FIT_COLUMNS"]

#: Columns of :func:`fit_exponents` after the group columns and the fixed size columns.
FIT_COLUMNS = (
    "slope",
    "ci_low",
    "ci_high",
    "r2",
    "predicted",
    "tolerance",
    "verdict",
    "n_points",
    "x_min",
    "x_max",
    "range_note",
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


def _sizes(df: pd.DataFrame, x: str) -> list[str]:
    """Size columns: the symbols of the leading terms that are columns, except ``x``."""
    if "leading_term" not in df:
        return []
    names: set[str] = set()
    for term in df["leading_term"].dropna().unique():
        names.update(size_names(str(term)))
    return sorted(name for name in names if name in df.columns and name != x)


def _check(df: pd.DataFrame, x: str, y: str, tolerance: float, min_points: int) -> None:
    if not isinstance(df, pd.DataFrame) or df.empty:
        raise AnalyzerError("fit_exponents: need a non-empty pandas DataFrame of measurements")
    valid = ", ".join(map(str, df.columns))
    for role, name in (("x", x), ("y", y)):
        if name not in df.columns:
            raise AnalyzerError(f"fit_exponents: {role}={name!r} is not a column; valid: {valid}")
    if not (isinstance(tolerance, numbers.Real) and tolerance > 0):
        raise AnalyzerError(f"fit_exponents: tolerance must be a number > 0, got {tolerance!r}")
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


def _predicted(g: pd.DataFrame, x: str) -> tuple[float, str]:
    if "leading_term" not in g:
        return math.nan, ""
    terms = g["leading_term"].dropna().astype(str).unique()
    try:
        degrees = {predicted_exponent(term, x) for term in terms}
    except AnalyzerError as error:
        raise AnalyzerError(f"fit_exponents: column leading_term: {error}") from None
    if len(degrees) == 1:
        return float(degrees.pop()), ""
    if degrees:
        return math.nan, f"leading_term differs within the group: {', '.join(sorted(terms))}"
    return math.nan, ""


def fit_exponents(
    df: pd.DataFrame,
    x: str = "H",
    y: str = "seconds",
    by: Sequence[str] = ("model", "cost", "order"),
    tolerance: float = 0.3,
    min_seconds: float = 1e-3,
    min_points: int = 3,
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
    2 points). The predicted exponent is the degree in ``x`` of the group's
    ``leading_term`` (NaN without that column). The verdict is ``"n/a"`` when there is no
    prediction or fewer than 2 points; ``"inconclusive"`` when the data cannot decide: the
    range rule fell back on points below ``min_seconds``, fewer than 3 distinct ``x``
    values were fitted, or the 95% interval is wider than ``4 * tolerance``; otherwise
    ``"pass"`` if ``|slope - predicted| <= tolerance`` and ``"fail"`` if not.

    Parameters
    ----------
    df : pandas.DataFrame
        Measurements, with columns ``x``, ``y`` and optionally ``leading_term``, ``sweep``,
        the ``by`` columns and other size columns.
    x, y : str
        The swept size column and the measured column.
    by : sequence of str
        Group columns (those absent from ``df`` are ignored).
    tolerance : float
        Largest accepted ``|slope - predicted|``.
    min_seconds : float
        Smallest time kept by the asymptotic range rule.
    min_points : int
        Fewest distinct ``x`` values the asymptotic range rule keeps (at least 2).

    Returns
    -------
    pandas.DataFrame
        One row per group: the ``by`` columns, ``x`` and ``y`` (the column names), the other
        size columns (the symbols of ``leading_term`` that are columns of ``df``) with their
        value if constant within the group (NaN otherwise), then
        ``slope, ci_low, ci_high, r2, predicted, tolerance, verdict, n_points, x_min, x_max,
        range_note`` (``n_points``, ``x_min`` and ``x_max`` describe the range used).

    Raises
    ------
    AnalyzerError
        Empty frame, missing ``x`` or ``y`` column, non-positive ``x`` or ``y`` values,
        ``tolerance <= 0`` or ``min_points < 2``.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"order": "input-first", "H": [64, 128, 256], "N": 8,
    ...                    "macs": [64**3 * 8, 128**3 * 8, 256**3 * 8],
    ...                    "leading_term": "H**3*N"})
    >>> fit = fit_exponents(df, x="H", y="macs")
    >>> fit[["order", "x", "y", "N", "slope", "predicted", "verdict", "n_points"]]
             order  x     y  N  slope  predicted verdict  n_points
    0  input-first  H  macs  8    3.0        3.0    pass         3
    """
    _check(df, x, y, tolerance, min_points)
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
    sizes = [s for s in _sizes(df, x) if s not in keys and s not in ("x", "y")]

    groups = df.groupby(keys, dropna=False, sort=False) if keys else [((), df)]
    records = []
    for key, g in groups:
        if g[x].nunique() < 2:
            continue
        used, note, fell_back = _asymptotic(g, x, y, min_seconds, min_points)
        slope, low, high, r2 = _regress(used[x].to_numpy(float), used[y].to_numpy(float))
        predicted, term_note = _predicted(g, x)
        if math.isnan(predicted) or len(used) < 2:
            verdict = "n/a"
        elif fell_back or used[x].nunique() < 3 or not high - low <= 4 * tolerance:
            verdict = "inconclusive"
        else:
            verdict = "pass" if abs(slope - predicted) <= tolerance else "fail"
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
            tolerance=float(tolerance),
            verdict=verdict,
            n_points=len(used),
            x_min=used[x].min().item(),
            x_max=used[x].max().item(),
            range_note="; ".join(n for n in (note, term_note) if n),
        )
        records.append(record)
    return pd.DataFrame(records, columns=[*keys, "x", "y", *sizes, *FIT_COLUMNS])
