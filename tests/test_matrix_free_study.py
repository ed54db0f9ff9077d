"""The matrix-free experiment end to end at its quick scale."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).parents[1] / "experiments" / "matrix_free.py"


def test_matrix_free_study(tmp_path):
    spec = importlib.util.spec_from_file_location("matrix_free", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    chains, timed = module.run(True, tmp_path)
    assert (timed["macs"] == timed["executed_macs"]).all()
    assert (
        chains["optimal"] <= chains[["jacfwd", "jacrev", "global_preaccumulation"]].min(axis=1)
    ).all()
    assert (chains["optimal"] <= chains[["input-first", "output-first"]].min(axis=1)).all()
    for name in ("chains.csv", "results.csv", "report.md", "optimum_vs_modes.png"):
        assert (tmp_path / name).stat().st_size > 0
