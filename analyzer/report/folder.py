"""Reading and writing a report folder: write_report and render."""

from __future__ import annotations

import csv
import json
import math
import numbers
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import AnalyzerError
from ..files import GRAPH_FILE, atomic_write_text, write_csv
from ..fit import VERDICTS
from .compose import build
from .format import _FITS_CSV_COLUMNS, _frame, _mapping, _need, _numeric, _size_names
from .jacobian import graph_from_data, read_graph

__all__ = ["write_report", "render"]


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
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (OSError, ValueError) as exc:
        raise AnalyzerError(f"{func}: cannot read {path}: {exc}") from exc
    _whole_rows(path, func)
    return frame


def _whole_rows(path: Path, func: str) -> None:
    """Refuse a CSV file with a row shorter or longer than its header: a file cut midway
    (pandas would fill the missing cells of its last row with nothing, silently)."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                return
            for row in reader:
                if row and len(row) != len(header):
                    raise AnalyzerError(
                        f"{func}: cannot read {path}: line {reader.line_num} has {len(row)} "
                        f"fields, its header {len(header)} (a cut or damaged file)"
                    )
    except AnalyzerError:
        raise
    except (OSError, ValueError, csv.Error) as exc:
        raise AnalyzerError(f"{func}: cannot read {path}: {exc}") from exc


def _checked_verdicts(fits: pd.DataFrame, where: str, func: str) -> pd.DataFrame:
    """The fits with their verdicts checked: an unknown one is an error, and an ``explained``
    one without its explanation or its machine-model slope is shown as ``fail``."""
    if "verdict" not in fits.columns or fits.empty:
        return fits
    verdicts = fits["verdict"]
    given = verdicts.notna()
    unknown = sorted({str(v) for v in verdicts[given] if str(v) not in VERDICTS})
    if unknown:
        raise AnalyzerError(
            f"{func}: {where} has unknown verdicts {', '.join(map(repr, unknown))}; "
            f"verdicts are {', '.join(VERDICTS)}"
        )
    explanation = (
        fits["explanation"].astype(object).fillna("").astype(str).str.strip()
        if "explanation" in fits.columns
        else pd.Series("", index=fits.index)
    )
    machine = (
        pd.to_numeric(fits["predicted_machine"], errors="coerce")
        if "predicted_machine" in fits.columns
        else pd.Series(np.nan, index=fits.index)
    )
    unsupported = (verdicts == "explained") & ((explanation == "") | ~np.isfinite(machine))
    if unsupported.any():
        fits = fits.copy()
        fits.loc[unsupported, "verdict"] = "fail"
    return fits


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


def write_report(
    folder: str | Path,
    results: pd.DataFrame,
    fits: pd.DataFrame | None,
    steps: pd.DataFrame | None = None,
    machine: Mapping[str, Any] | None = None,
    meta: Mapping[str, Any] | None = None,
    *,
    graph: Mapping[str, Any] | None = None,
) -> Path:
    """Write a sweep's tables, plots, report.md and a self-contained report.html into ``folder``.

    Files written (each atomically): ``results.csv``, ``fits.csv`` (header only when
    ``fits`` is None), ``steps.csv`` (when given; a stale one is removed otherwise),
    ``machine.json``, ``meta.json``, the plots ``time_vs_<x>_<cost>``, ``macs_vs_<x>_<cost>``
    (one per swept size and cost present; ``_<model>`` is appended when there are several
    models), ``roofline_<cost>`` and, when the results have ``peak_bytes_predicted`` and
    ``peak_bytes_measured``, ``peak_memory_<cost>`` as PNG and SVG, ``report.html`` (plots
    embedded as base64 PNG) and ``report.md``. With a graph (``graph``, else
    ``results.attrs['graph']`` as :func:`analyzer.measure.sweep` leaves it), also
    ``graph.json`` and its picture ``graph.png``/``graph.svg`` (up to
    :data:`~analyzer.report.jacobian.MAX_DRAWN` variables).

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
    graph : dict, optional
        The swept graph as node-link data (:func:`analyzer.measure.graph_record`).

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
        fits = _checked_verdicts(_frame(fits, "fits", func), "fits", func)
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
    if graph is None:
        graph = results.attrs.get("graph")
    if graph is not None:
        try:
            graph_from_data(graph)
        except AnalyzerError as exc:
            raise AnalyzerError(f"{func}: {exc}") from None
        graph = _jsonable(graph)
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
    if graph is not None:
        atomic_write_text(folder / GRAPH_FILE, json.dumps(graph, indent=1) + "\n")
    else:
        graph = read_graph(folder / GRAPH_FILE, func)  # the sweep's own, in its folder
    return build(folder, results, fits, steps, machine, meta, func, graph)


def render(folder: str | Path) -> Path:
    """Re-read a report folder's tables and rewrite its plots, report.md and report.html.

    Reads ``results.csv`` (required), ``fits.csv``, ``steps.csv``, ``machine.json``,
    ``meta.json`` and ``graph.json`` (each optional; without ``graph.json``, an older
    folder, the report has no picture of the graph) as :func:`write_report` wrote them;
    the data files are not rewritten. Backs the ``analyzer report DIR`` command.

    Returns
    -------
    pathlib.Path
        The path of report.md.

    Raises
    ------
    AnalyzerError
        If the folder or its ``results.csv`` is missing, a file cannot be read, or
        ``fits.csv`` holds a verdict that is not one of :data:`analyzer.fit.VERDICTS`. An
        ``explained`` verdict without its explanation or a finite ``predicted_machine`` is
        shown as ``fail``.

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
    if results.empty:
        raise AnalyzerError(f"{func}: {path} holds no rows; a report needs at least one")
    fits = _read_csv(folder / "fits.csv", func) if (folder / "fits.csv").is_file() else None
    if fits is not None:
        fits = _checked_verdicts(fits, str(folder / "fits.csv"), func)
    steps = _read_csv(folder / "steps.csv", func) if (folder / "steps.csv").is_file() else None
    machine = (
        _read_json(folder / "machine.json", func) if (folder / "machine.json").is_file() else {}
    )
    meta = _read_json(folder / "meta.json", func) if (folder / "meta.json").is_file() else {}
    graph = read_graph(folder / GRAPH_FILE, func)
    return build(folder, results, fits, steps, machine, meta, func, graph)
