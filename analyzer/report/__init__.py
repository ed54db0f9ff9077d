"""The report of a sweep: figures, tables and report.md / report.html, built from its tables.

Modules: ``format`` (shared formatting and checks), ``figures`` (plots), ``jacobian`` (the
picture of the swept graph, from ``graph.json``), ``headline`` (the answer on the first
screen), ``tables`` (verdict and results tables), ``reading`` (sentences computed from the
tables), ``document`` (markdown, rendered to HTML by markdown-it-py), ``compose`` (what the
report says, in which order), ``folder`` (writing and re-reading a report folder).
"""

from __future__ import annotations

from .figures import plot_macs, plot_roofline, plot_time
from .folder import render, write_report

__all__ = ["plot_time", "plot_macs", "plot_roofline", "write_report", "render"]
