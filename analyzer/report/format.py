"""Formatting and checking helpers shared by the report's figures, tables and documents."""

from __future__ import annotations

import math
import numbers
import re
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..errors import AnalyzerError
from ..fit import FIT_COLUMNS
from ..symbolic import degree_in

__all__ = [  # helpers of the report's modules, not part of the public API
    "_ORDERS",
    "_FITS_CSV_COLUMNS",
    "_TIME_Y",
    "_BIG_STEP_SECONDS",
    "_BAND",
    "_frame",
    "_need",
    "_choose",
    "_mapping",
    "_order_key",
    "_orders",
    "_uniques",
    "_sweeps",
    "_size_names",
    "_numeric",
    "_positive",
    "_num",
    "_fixed",
    "_context",
    "_power",
    "_exponent",
    "_finite",
    "_fit_for",
    "_cell",
    "_times",
    "_config",
    "_human_bytes",
    "_command",
    "_stem",
]

_ORDERS = ("input-first", "output-first", "optimal")

_FITS_CSV_COLUMNS = ("model", "cost", "order", "x", "y", *FIT_COLUMNS)
# Columns of a fits table besides the fixed-size columns (an empty fits.csv gets these).
_TIME_Y = ("seconds", "time")  # fits whose `y` is one of these are fits of measured time
_BIG_STEP_SECONDS = 1e-3
_BAND = (0.5, 2.0)
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


def _cell(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return f"{float(value):.{digits}g}"
    return str(value)


def _times(a: float, b: float) -> str:
    r = a / b
    return f"{r:.3g}×"


def _config(row: pd.Series, sizes: list[str]) -> str:
    return ", ".join(f"{s}={_num(row[s])}" for s in sizes if s in row.index and pd.notna(row[s]))


def _human_bytes(value: Any) -> str:
    v = _finite(value)
    if v is None:
        return str(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(v) < 1024 or unit == "TiB":
            return f"{v:.3g} {unit}" if unit != "B" else f"{int(v)} B"
        v /= 1024
    return str(value)  # pragma: no cover


def _command(meta: Mapping[str, Any]) -> str:
    command = meta.get("command")
    if command is None:
        return "(not recorded)"
    if isinstance(command, list | tuple):
        return shlex.join(str(c) for c in command)
    return str(command)


def _stem(*parts: Any) -> str:
    return "_".join(re.sub(r"[^A-Za-z0-9_.-]+", "-", str(p)).strip("-") or "x" for p in parts)
