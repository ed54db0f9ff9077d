"""Memory of every order: `python experiments/memory_front.py [--quick] [--out DIR]`.

For the course sheet's network and an ``mlp`` at a few widths, under the ``dense`` and
``structured`` cost models, this plans every elimination order (every permutation of
the intermediate variables), predicts its peak memory with the model of
``analyzer/planning/memory.py``, measures it (``analyzer.execute``: tracemalloc's peak
of one run that builds and frees factors as the model says), marks the orders on the
macs–peak front (``analyzer.pareto``, exact at these sizes) and asks what a memory
limit of half of output-first's peak costs in macs (``analyzer.plan(...,
memory_limit=...)``). Writes ``reports/memory_front/``: ``orders.csv`` (one row per
order), ``fronts.csv``, ``limits.csv``, ``front.png``/``.svg`` (macs against peak),
``peak_memory.png``/``.svg`` (measured against predicted) and ``report.md``.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

import analyzer
from analyzer.files import atomic_write_text, save_figure, write_csv
from analyzer.planning.memory import human_bytes
from analyzer.report import plot_peak_memory

COSTS = ("dense", "structured")
NAMED = ("input-first", "output-first", "optimal")


def cases(quick: bool) -> dict[str, analyzer.JacobianGraph]:
    """The sheet's network and mlp at a few widths (factors of at least 1 MB when not quick)."""
    sheet = [(32, 16)] if quick else [(64, 32), (128, 64)]
    widths = [16, 32] if quick else [32, 64, 128]
    out = {f"sheet network H={h}, N={n}": analyzer.models.one_layer(h, n) for h, n in sheet}
    out.update({f"mlp 32,{w},{w},8": analyzer.models.mlp([32, w, w, 8]) for w in widths})
    return out


def order_rows(name: str, g: analyzer.JacobianGraph, cost: str) -> list[dict]:
    """Every elimination order of ``g``: macs, predicted and measured peak bytes."""
    named: dict[tuple, list[str]] = {}
    for o in NAMED:
        named.setdefault(analyzer.plan(g, o, cost).sequence, []).append(o)
    rows = []
    for sequence in itertools.permutations(g.intermediates):
        p = analyzer.from_sequence(g, list(sequence), cost)
        run = analyzer.execute(p, repeat=1, warmup=0)
        assert run.macs == p.macs
        rows.append(
            {
                "case": name,
                "cost": cost,
                "order": " = ".join(named.get(tuple(sequence), ["other"])),
                "sequence": ", ".join(sequence),
                "macs": p.macs,
                "peak_bytes_predicted": int(p.peak_bytes),
                "peak_bytes_measured": int(run.peak_bytes),
                "measured_over_predicted": run.peak_bytes / p.peak_bytes,
            }
        )
    return rows


def limit_row(name: str, g: analyzer.JacobianGraph, cost: str, orders: pd.DataFrame) -> dict:
    """What a limit of half of output-first's predicted peak costs in macs."""
    mine = orders[(orders["case"] == name) & (orders["cost"] == cost)]
    reverse = mine[mine["order"].str.contains("output-first")].iloc[0]
    optimum = analyzer.plan(g, "optimal", cost)
    limit = int(reverse["peak_bytes_predicted"]) // 2
    leanest = mine.sort_values(["peak_bytes_predicted", "macs"]).iloc[0]
    row = {
        "case": name,
        "cost": cost,
        "output_first_peak": int(reverse["peak_bytes_predicted"]),
        "limit": limit,
        "optimal_macs": optimum.macs,
        "optimal_peak": int(optimum.peak_bytes),
        "leanest_peak": int(leanest["peak_bytes_predicted"]),
        "leanest_macs": int(leanest["macs"]),
    }
    try:
        limited = analyzer.plan(g, "optimal", cost, memory_limit=limit)
    except analyzer.AnalyzerError:
        return {**row, "fits": False, "limited_macs": None, "limited_peak": None,
                "macs_over_optimal": None, "sequence": ""}  # fmt: skip
    # every order was enumerated: the limited optimum is checked against them here
    within = mine[mine["peak_bytes_predicted"] <= limit]
    assert limited.macs == within["macs"].min() and limited.peak_bytes <= limit
    return {
        **row,
        "fits": True,
        "limited_macs": limited.macs,
        "limited_peak": int(limited.peak_bytes),
        "macs_over_optimal": limited.macs / optimum.macs,
        "sequence": ", ".join(limited.sequence),
    }


def front_rows(name: str, g: analyzer.JacobianGraph, cost: str, orders: pd.DataFrame) -> list:
    """The front from ``analyzer.pareto``, checked against the enumerated orders."""
    front = analyzer.pareto(g, cost)
    mine = orders[(orders["case"] == name) & (orders["cost"] == cost)]
    points = list(zip(mine["macs"], mine["peak_bytes_predicted"], strict=True))
    undominated = {
        (m, b)
        for m, b in points
        if not any(m2 <= m and b2 <= b and (m2, b2) != (m, b) for m2, b2 in points)
    }
    assert undominated == set(zip(front["macs"], front["peak_bytes"], strict=True))
    return [
        {
            "case": name,
            "cost": cost,
            "macs": int(r.macs),
            "peak_bytes": int(r.peak_bytes),
            "sequence": r.sequence,
            "exact": bool(r.exact),
        }  # fmt: skip
        for r in front.itertuples()
    ]


def draw_fronts(orders: pd.DataFrame, fronts: pd.DataFrame, limits: pd.DataFrame) -> Figure:
    names = list(dict.fromkeys(orders["case"]))
    fig = Figure(figsize=(3.2 * len(names), 6.0), layout="constrained")
    axes = fig.subplots(len(COSTS), len(names), squeeze=False)
    styles = {"input-first": ("C3", "o"), "output-first": ("C0", "s"), "optimal": ("C2", "^")}
    for (i, cost), (j, name) in itertools.product(enumerate(COSTS), enumerate(names)):
        ax = axes[i][j]
        mine = orders[(orders["case"] == name) & (orders["cost"] == cost)]
        ax.plot(mine["macs"], mine["peak_bytes_predicted"], ".", color="0.6", label="every order")
        front = fronts[(fronts["case"] == name) & (fronts["cost"] == cost)].sort_values("macs")
        ax.step(front["macs"], front["peak_bytes"], where="post", color="k", lw=1, marker=".",
                label="front")  # fmt: skip
        for order, (color, marker) in styles.items():
            row = mine[mine["order"].str.contains(order)]
            ax.plot(row["macs"], row["peak_bytes_predicted"], marker, color=color,
                    markerfacecolor="none", ms=9, label=order)  # fmt: skip
        limit = limits[(limits["case"] == name) & (limits["cost"] == cost)]["limit"].iloc[0]
        ax.axhline(limit, color="C1", ls="--", lw=1, label="½ output-first peak")
        ax.set_xscale("log")
        ax.set_ylim(0, 1.1 * mine["peak_bytes_predicted"].max())
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: human_bytes(v)))
        ax.set_title(f"{name}\n{cost} cost", fontsize="small")
        ax.set_xlabel("macs", fontsize="small")
        ax.set_ylabel("predicted peak", fontsize="small")
        ax.tick_params(labelsize="x-small")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(True, alpha=0.3)
    axes[0][0].legend(fontsize="x-small")
    return fig


def report(orders: pd.DataFrame, fronts: pd.DataFrame, limits: pd.DataFrame) -> str:
    ratio = orders["measured_over_predicted"]
    excess = orders["peak_bytes_measured"] - orders["peak_bytes_predicted"]
    lines = [
        "# Memory of every order",
        "",
        f"{len(orders)} elimination orders (every permutation of the intermediate variables "
        f"of {orders['case'].nunique()} graphs, under the dense and structured cost models). "
        "Predicted peak: the memory model of `analyzer/planning/memory.py`; measured peak: "
        "tracemalloc's peak of one run that builds and frees the factors as the model says "
        "(`analyzer.execute`).",
        "",
        f"Measured / predicted peak: median {ratio.median():.4f}, min {ratio.min():.4f}, "
        f"max {ratio.max():.4f}; measured − predicted from {int(excess.min()):,} to "
        f"{int(excess.max()):,} bytes.",
        "",
        "![macs against predicted peak, every order, with the front](front.png)",
        "",
        "![measured against predicted peak](peak_memory.png)",
        "",
        "## A memory limit of half of output-first's peak",
        "",
        "| case | cost | output-first peak | limit | optimal: macs, peak | within the limit |",
        "| --- | --- | ---: | ---: | --- | --- |",
    ]
    for r in limits.itertuples():
        if r.fits:
            outcome = (f"{r.limited_macs:,} macs ({r.macs_over_optimal:.3g}× the optimum), "
                       f"peak {human_bytes(r.limited_peak)}")  # fmt: skip
        else:
            outcome = (f"no order fits: the leanest peaks at {human_bytes(r.leanest_peak)} "
                       f"({r.leanest_peak / r.output_first_peak:.2f}× output-first's)")  # fmt: skip
        lines.append(
            f"| {r.case} | {r.cost} | {human_bytes(r.output_first_peak)} | "
            f"{human_bytes(r.limit)} | {r.optimal_macs:,}, {human_bytes(r.optimal_peak)} | "
            f"{outcome} |"
        )
    lines += ["", "## The fronts", "", "| case | cost | macs | peak | sequence |",
              "| --- | --- | ---: | ---: | --- |"]  # fmt: skip
    lines += [
        f"| {r.case} | {r.cost} | {r.macs:,} | {human_bytes(r.peak_bytes)} | {r.sequence} |"
        for r in fronts.itertuples()
    ]
    lines += ["", "## Every order", "",
              "| case | cost | order | sequence | macs | predicted peak | measured peak |",
              "| --- | --- | --- | --- | ---: | ---: | ---: |"]  # fmt: skip
    lines += [
        f"| {r.case} | {r.cost} | {r.order} | {r.sequence} | {r.macs:,} | "
        f"{r.peak_bytes_predicted:,} | {r.peak_bytes_measured:,} |"
        for r in orders.itertuples()
    ]
    return "\n".join(lines) + "\n"


def run(quick: bool, out: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    graphs = cases(quick)
    orders = pd.DataFrame(
        [row for name, g in graphs.items() for cost in COSTS for row in order_rows(name, g, cost)]
    )
    fronts = pd.DataFrame(
        [row for name, g in graphs.items() for cost in COSTS
         for row in front_rows(name, g, cost, orders)]
    )  # fmt: skip
    limits = pd.DataFrame(
        [limit_row(name, g, cost, orders) for name, g in graphs.items() for cost in COSTS]
    )
    out.mkdir(parents=True, exist_ok=True)
    write_csv(orders, out / "orders.csv")
    write_csv(fronts, out / "fronts.csv")
    write_csv(limits, out / "limits.csv")
    save_figure(draw_fronts(orders, fronts, limits), out / "front")
    fig, _ = plot_peak_memory(orders.assign(order=orders["order"].str.split(" = ").str[0]))
    save_figure(fig, out / "peak_memory")
    atomic_write_text(out / "report.md", report(orders, fronts, limits))
    return orders, fronts, limits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--out", default="reports/memory_front")
    args = parser.parse_args(argv)
    orders, fronts, limits = run(args.quick, Path(args.out))
    ratio = orders["measured_over_predicted"]
    print(f"{len(orders)} orders; measured / predicted peak: median {ratio.median():.4f}, "
          f"range {ratio.min():.4f} .. {ratio.max():.4f}")  # fmt: skip
    shown = limits.assign(
        output_first_peak=limits["output_first_peak"].map(human_bytes),
        limit=limits["limit"].map(human_bytes),
        leanest_peak=limits["leanest_peak"].map(human_bytes),
    )
    columns = ["case", "cost", "output_first_peak", "limit", "fits", "optimal_macs",
               "limited_macs", "leanest_peak", "leanest_macs"]  # fmt: skip
    print(shown[columns].to_string(index=False))
    print(f"wrote {args.out}/")
    return 0 if np.isfinite(ratio).all() else 1


if __name__ == "__main__":
    sys.exit(main())
