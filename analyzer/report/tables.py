"""The report's tables: verdicts per fit and results per run."""

from __future__ import annotations

import pandas as pd

from .format import _cell, _finite, _num, _order_key

__all__ = ["verdict_table", "results_table", "PREDICTED_NOTE"]

PREDICTED_NOTE = (
    "*predicted* is the slope the verdict checks: the least-squares slope of the exact "
    "multiply-add counts (each order's cost polynomial) over the fitted sizes; *asymptotic* is "
    "the degree of the leading term in the swept size, the slope only very large sizes reach."
)
# ----------------------------------------------------------------------------- sections


def verdict_table(fits: pd.DataFrame, sizes: list[str], several_models: bool) -> pd.DataFrame:
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
        if "predicted_machine" in fits.columns and fits["predicted_machine"].notna().any():
            machine = _finite(f["predicted_machine"])
            row["machine"] = "" if machine is None else f"{machine:.2f}"
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


def results_table(results: pd.DataFrame, sizes: list[str], several_models: bool) -> pd.DataFrame:
    df = _sort_results(results, sizes)
    cols = (["model"] if several_models and "model" in df.columns else []) + [
        c for c in ("cost", "sweep") if c in df.columns
    ]
    cols += [s for s in sizes if s not in cols] + ["order"]
    cols += [c for c in ("macs", "seconds", "gflops", "roofline_ratio") if c in df.columns]
    if (
        "model_ratio" in df.columns
        and pd.to_numeric(df["model_ratio"], errors="coerce").notna().any()
    ):
        cols.append("model_ratio")
    out = pd.DataFrame(index=df.index)
    for c in cols:
        if c == "seconds":
            out[c] = [_cell(_finite(v)) for v in df[c]]
        elif c in ("gflops", "roofline_ratio", "model_ratio"):
            out[c] = ["" if _finite(v) is None else f"{_finite(v):.2f}" for v in df[c]]
        elif c in sizes or c == "macs":
            out[c] = [_num(v) for v in df[c]]
        else:
            out[c] = df[c].astype(str)
    if "gflops" in out.columns:
        out = out.rename(columns={"gflops": "GFLOP/s"})
    return out.reset_index(drop=True)
