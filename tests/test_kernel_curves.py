"""The structured kernels' curves under review: the calibration's memory while it measures
them, the cache of calibrations made before they were curves, damaged curves in a report
folder, tiny calibrations and steps of no macs.

Nothing here asserts a time; the one calibration is tiny (``cache=False``, a 32 KiB top).
"""

import json
import math
import shutil
import tracemalloc

import numpy as np
import pandas as pd
import pytest
from conftest import FLAT_RATES

from analyzer.machine import Calibration, calibrate, predict_step
from analyzer.machine import calibration as calibration_module
from analyzer.report import render, write_report

BASE = dict(FLAT_RATES)
CURVES = {"dense·row-block": ((1e4, 1e9), (1e8, 1e8)), "diagonal·dense": ((1e4, 2e9),)}


class _Stop(Exception):
    """Ends a calibration once what a test watches has been seen."""


# ----------------------------------------------------------------------------- memory
@pytest.mark.parametrize("top", [2**22, 2**24])
def test_kernel_curves_take_no_more_memory_than_the_read_and_write_buffers(top):
    """The kernel phase keeps every size's operands alive at once (interleaved passes) but
    only one result at a time: at most the ``2 * top`` bytes the read and write buffers take
    (it took 40 bytes per element of operands and kept one result through the timing, about
    five times that)."""
    sizes = calibration_module._kernel_sizes("full", top)
    tracemalloc.start()
    try:
        curves = calibration_module._kernel_rates(sizes, 1e-5, 0.0, 1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= 2 * top, (sizes, peak)
    assert all(len(points) == len(sizes) for points in curves.values())


def test_the_largest_kernel_size_is_kept_from_the_smallest_default_top():
    """16 Mi elements (128 MiB results, several times a last-level cache) from a 256 MiB top,
    the smallest default: their operands and one result fit in its read and write buffers."""
    assert max(calibration_module._kernel_sizes("full", 2**28)) == 2**24
    assert max(calibration_module._kernel_sizes("full", 2**30)) == 2**24


def test_kernel_operands_share_their_buffers_but_dense_diagonal_reads_two():
    """Each size holds 16 bytes per element of operands: one buffer of ones shared by the
    row-block and dense operands, and a second one for ``dense·diagonal``'s diagonal (two
    views of one buffer would halve the bytes that kernel reads)."""
    n = 2**12
    pairs = calibration_module._kernel_pairs(n)
    owners = {}
    for pair in pairs.values():
        for block in pair:
            array = block.data if block.data.base is None else block.data.base
            owners[id(array)] = array
    assert sum(a.nbytes for a in owners.values() if a.size >= n) == 16 * n
    left, right = pairs["dense·diagonal"]
    assert not np.shares_memory(left.data, right.data)


def test_the_read_and_write_buffers_are_freed_before_the_kernels(monkeypatch):
    """``reused`` (``top`` bytes) is no longer alive when the kernels are measured: the loop
    that sliced the timings by group left ``jobs`` holding views of it."""
    top = 2**22
    seen = []

    def watch(sizes, budget, call, rounds):
        seen.append(tracemalloc.get_traced_memory()[0])
        raise _Stop

    monkeypatch.setattr(calibration_module, "_kernel_rates", watch)
    tracemalloc.start()
    try:
        with pytest.raises(_Stop):
            calibrate(cache=False, top=top, budget=1e-4, gemm_n=8, quick=True)
    finally:
        tracemalloc.stop()
    assert seen and seen[0] < top / 4, seen


# ----------------------------------------------------------------------------- cache
def test_a_cached_calibration_with_plain_kernel_rates_is_measured_again(tmp_path):
    """A cache file whose kernel rates are numbers was measured before the kernels were
    curves (the machine model then prices structured steps otherwise): measure again."""
    curved = Calibration(**BASE, kernel_rates=CURVES)
    path = tmp_path / "cal.json"
    data = {"version": calibration_module.CALIBRATION_VERSION, **curved.to_dict()}
    path.write_text(json.dumps(data))
    assert calibration_module._load(path) == curved
    data["kernel_rates"] = {"dense·row-block": 5e8, "diagonal·dense": [[1e4, 2e9]]}
    path.write_text(json.dumps(data))
    assert calibration_module._load(path) is None
    # read elsewhere (a report's or a sweep's saved calibration), plain rates still are
    assert Calibration.from_dict(data).kernel_rates["dense·row-block"] == 5e8


# ----------------------------------------------------------------------------- report
DAMAGED = {
    "text": "junk",
    "a text rate": {"dense·row-block": "fast"},
    "NaN": {"dense·row-block": math.nan},
    "negative": {"dense·row-block": -1.0},
    "empty curve": {"dense·row-block": []},
    "nested junk": {"dense·row-block": [[[1, 2], [3, 4]], {"a": 1}, None]},
    "one point": {"dense·row-block": [[1e4, 1e9]]},
    "duplicate x": {"dense·row-block": [[1e4, 1e9], [1e4, 2e9]]},
    "bad rows among good": {"dense·row-block": [[1e4, 1e9], ["x", 2], [1e6, -3], [1e7, 5e8]]},
    "a list": [[1, 2]],
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    results = pd.DataFrame({"cost": "dense", "order": ["input-first", "output-first"],
                            "sweep": "H", "H": [8, 8], "macs": [2048, 256]})  # fmt: skip
    write_report(root, results, None)
    return root


@pytest.mark.parametrize("name", list(DAMAGED))
def test_report_renders_a_calibration_with_damaged_kernel_curves(name, folder, tmp_path):
    """``analyzer report`` on a folder whose calibration has damaged kernel curves renders,
    with the calibration figure (its kernel panel keeps only the valid rows)."""
    copy = tmp_path / "folder"
    shutil.copytree(folder, copy)
    calibration = {**Calibration(**BASE).to_dict(), "kernel_rates": DAMAGED[name]}
    meta = json.loads((copy / "meta.json").read_text()) if (copy / "meta.json").exists() else {}
    (copy / "meta.json").write_text(json.dumps({**meta, "calibration": calibration}))
    text = render(copy).read_text(encoding="utf-8")
    assert "calibration.png" in text and (copy / "calibration.png").is_file()


# ----------------------------------------------------------------------------- odd inputs
@pytest.mark.parametrize("top", [1, 2**15, 2**17])
def test_tiny_tops_give_one_small_kernel_size(top):
    sizes = calibration_module._kernel_sizes("full", top)
    assert len(sizes) == 1 and 1 <= sizes[0] <= max(top, 2**15) // 8
    assert calibration_module._kernel_sizes("quick", top) == sizes


def test_a_step_of_no_macs_on_a_kernel_curve_costs_its_overhead():
    cal = Calibration(**BASE, kernel_rates=CURVES)
    step = {"structures": "dense·row-block", "shapes": "(1×0)·(0×0)", "macs": 0, "bytes": 800,
            "bytes_written": 0}  # fmt: skip
    p = predict_step(cal, step)
    assert p.seconds == p.overhead == BASE["step_overhead"]["default"]
    assert p.compute == p.read == p.write == 0.0


# ----------------------------------------------------------------------------- explain
def test_a_kernel_bound_step_leaving_the_cache_is_named_not_the_overhead():
    """A structured step priced whole by its kernel's curve (bound ``kernel``) whose working
    set leaves the last-level cache: the bend is the curve's fall from cache to memory, not the
    overhead fading (which bends the other way)."""
    from analyzer.machine.explain import explain

    rows = pd.DataFrame({"N": [4096, 8192, 16384], "working_set": [3e7, 6e7, 1.2e8],
        "model_level": ["L3", "L3", "memory"], "model_capacity": [6.5e7, 6.5e7, math.inf],
        "model_bound": ["kernel"] * 3, "model_fresh": [True] * 3,
        "model_step": ["J(out,u)·J(u,W)"] * 3, "model_seconds": [1e-3, 4e-3, 1.4e-2],
        "model_overhead": [1e-4, 1e-4, 1e-4], "model_last_level": ["L3"] * 3})  # fmt: skip
    note = explain(rows, "N")
    assert "leaves the last-level cache (L3" in note and "between N=8192 and N=16384" in note
    assert "overhead" not in note


def test_calibration_table_holds_the_kernel_curves():
    """Every point of every kernel curve is a row (macs, macs/s); a plain rate is no curve."""
    from analyzer.machine import calibration_table

    table = calibration_table(Calibration(**BASE, kernel_rates={**CURVES, "dense·diagonal": 3e9}))
    for structures, points in CURVES.items():
        rows = table[table["curve"] == f"kernel {structures}"]
        assert list(zip(rows["x"], rows["rate"], strict=True)) == list(points)
        assert set(rows["unit"]) == {"macs"} and set(rows["rate_unit"]) == {"macs/s"}
    assert not table["curve"].str.contains("dense·diagonal").any()


def test_a_one_point_curve_reads_once_in_the_summary():
    summary = Calibration(**BASE, kernel_rates=CURVES).summary()
    assert "diagonal·dense 2 G (10 k macs)" in summary and "2 G (10 k macs) .." not in summary
