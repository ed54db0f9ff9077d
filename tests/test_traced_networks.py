"""The traced-networks experiment end to end at its smallest scale."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

SCRIPT = Path(__file__).parents[1] / "experiments" / "traced_networks.py"


def load():
    spec = importlib.util.spec_from_file_location("traced_networks", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_traced_networks_report(tmp_path):
    module = load()
    table = module.run(1, tmp_path)
    saved = pd.read_csv(tmp_path / "results.csv")
    assert len(saved) == len(table) == 7 * 2 * 3  # networks x cost models x orders
    for (_, _), part in table.groupby(["network", "cost"]):
        macs = part.set_index("order")["macs"]
        assert macs["optimal"] <= min(macs["input-first"], macs["output-first"])
    sheet = table[table.network == "sheet network"].set_index(["cost", "order"])["macs"]
    # H = 8, N = 4: the dense counts of one_layer, H³N + H²N + HN + H and H²N + H² + 2H
    assert sheet["dense", "input-first"] == 8**3 * 4 + 8**2 * 4 + 8 * 4 + 8
    assert sheet["dense", "output-first"] == 8**2 * 4 + 8**2 + 2 * 8
    assert "## attention" in (tmp_path / "report.md").read_text(encoding="utf-8")
