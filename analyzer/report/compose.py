"""What a report says, in which order: figures, headline, tables, machine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from ..errors import AnalyzerError
from ..files import GRAPH_FILE, atomic_write_text, save_figure
from .document import Document
from .figures import plot_macs, plot_peak_memory, plot_roofline, plot_time
from .format import _command, _need, _numeric, _positive, _size_names, _stem, _sweeps, _uniques
from .headline import headline, lead_figure
from .jacobian import MAX_DRAWN, describe_graph, graph_size, plot_graph
from .machine import MACHINE_NOTE, plot_calibration, plot_model
from .reading import machine_items, reading, roofline_rates
from .tables import PREDICTED_NOTE, results_table, verdict_table

__all__ = ["build"]


def build(
    folder: Path,
    results: pd.DataFrame,
    fits: pd.DataFrame | None,
    steps: pd.DataFrame | None,
    machine: dict[str, Any],
    meta: dict[str, Any],
    func: str,
    graph: dict[str, Any] | None = None,
) -> Path:
    """Write the plots, report.md and report.html into ``folder``; return report.md's path.

    The report leads with the answer (:func:`~analyzer.report.headline.headline`) beside the
    figure that shows it, then the function's Jacobian graph (when ``graph`` is given), the
    sentences, notes and plots; the long tables come last.
    """
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
    peak = roofline_rates(machine, meta)
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
    peaks = ["peak_bytes_predicted", "peak_bytes_measured"]
    if set(peaks) <= set(results.columns):
        for cost in costs:
            part = results[results["cost"].astype(str) == str(cost)]
            if _positive(part, peaks).empty:
                continue
            fig, _ = plot_peak_memory(results, cost)
            caption = f"Measured against predicted peak memory, {cost} cost"
            add(fig, _stem("peak_memory", cost), caption)

    if steps is not None and {"seconds", "model_seconds", "order"} <= set(steps.columns):
        by_cost = "cost" in steps.columns
        for cost in _uniques(steps["cost"]) if by_cost else [None]:
            part = steps[steps["cost"].astype(str) == str(cost)] if by_cost else steps
            if _positive(part, ["seconds", "model_seconds"]).empty:
                continue
            fig, _ = plot_model(steps, cost)
            caption = "Measured against machine-model time of product steps"
            add(fig, _stem("model", cost) if by_cost else "model", f"{caption}, {cost} cost")
    if isinstance(meta.get("calibration"), dict) and meta["calibration"].get("read"):
        try:
            fig, _ = plot_calibration(meta["calibration"])
        except AnalyzerError:  # no read curve left of a damaged calibration: no figure
            fig = None
        if fig is not None:
            add(fig, "calibration", "This machine's calibrated rates (the machine model)")

    graph_stem = None
    if graph is not None and graph_size(graph) <= MAX_DRAWN:
        fig, _ = plot_graph(graph)
        save_figure(fig, folder / "graph")
        graph_stem = "graph"

    doc = Document()
    doc.heading(1, name)
    text, lead_model, lead_cost, lead_x = headline(results, fits, sizes)
    stems = [stem for stem, _ in plots]
    lead = lead_figure(lead_model if several else None, lead_cost, lead_x, stems)
    captions = dict(plots)
    doc.lead(
        text,
        None if lead is None else f"{lead}.png",
        captions.get(lead, ""),
        None if lead is None else (folder / f"{lead}.png").read_bytes(),
    )
    doc.heading(2, "The function and its Jacobian graph" if graph is not None else "The function")
    doc.markdown(str(meta.get("description") or ""))
    if graph is not None:
        sentence = describe_graph(graph)
        if graph_stem is None:
            sentence += (
                f" It is too large to draw legibly (pictures are drawn up to {MAX_DRAWN} "
                f"variables); its variables and factors are listed in `{GRAPH_FILE}`."
            )
        doc.markdown(sentence)
        if graph_stem is not None:
            doc.image(
                f"{graph_stem}.png",
                "Jacobian graph: each variable with its size, each factor with its structure",
                (folder / f"{graph_stem}.png").read_bytes(),
            )
    doc.markdown("**Command** that produced these tables:")
    doc.code(_command(meta))
    doc.heading(2, "Reading the numbers")
    doc.bullets(reading(results, fits, steps, sizes, peak))
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
    doc.heading(2, "Verdicts")
    if fits is None:
        doc.markdown("No fits were given.")
    else:
        doc.table(verdict_table(fits, sizes, several))
        if "predicted_asymptotic" in fits.columns:
            doc.markdown(PREDICTED_NOTE)
        if "predicted_machine" in fits.columns and fits["predicted_machine"].notna().any():
            doc.markdown(MACHINE_NOTE)
        if {"explanation", "verdict"} <= set(fits.columns):
            for _, f in fits[fits["verdict"].astype(str) == "explained"].iterrows():
                who = ", ".join(str(f[c]) for c in ("cost", "order", "x") if c in fits.columns)
                doc.markdown(f"**Explained ({who}).** {f['explanation']}")
    if meta.get("fit_rule"):
        doc.markdown(f"**Fit rule.** {meta['fit_rule']}")
    doc.heading(2, "Results")
    doc.markdown(
        "Seconds are medians over repeats (in a sweep timed in several passes, forward and "
        "backward through the sizes, the mean of the passes' medians); GFLOP/s counts "
        "flops = 2·macs; roofline_ratio is measured / roofline-predicted seconds."
    )
    doc.table(results_table(results, sizes, several))
    doc.heading(2, "Machine")
    items = machine_items(machine, peak)
    if items:
        doc.bullets(items)
    else:
        doc.markdown("No machine description was recorded.")

    atomic_write_text(folder / "report.html", doc.html_text(name))
    return atomic_write_text(folder / "report.md", doc.markdown_text())
