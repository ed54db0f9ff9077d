"""Plain sentences computed from a sweep's tables: reading the numbers, the machine."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .format import (
    _BAND,
    _BIG_STEP_SECONDS,
    _cell,
    _config,
    _finite,
    _human_bytes,
    _num,
    _orders,
    _times,
)

__all__ = ["reading", "machine_items", "roofline_rates"]


def _gflops(df: pd.DataFrame) -> pd.Series:
    if "gflops" in df.columns:
        return pd.to_numeric(df["gflops"], errors="coerce")
    seconds = pd.to_numeric(df.get("seconds", pd.Series(np.nan, index=df.index)), errors="coerce")
    return 2 * pd.to_numeric(df["macs"], errors="coerce") / seconds / 1e9


def roofline_rates(machine: Mapping[str, Any], meta: Mapping[str, Any]) -> dict[str, float]:
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


def reading(
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


def machine_items(machine: Mapping[str, Any], peak: Mapping[str, float]) -> list[str]:
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
