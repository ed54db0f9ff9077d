"""The machine model under hostile input: malformed calibrations, corrupt cache files, odd
steps and plans, odd calibration settings, an interrupted calibration.

Nothing here times anything but one tiny calibration (``cache=False``, a 32 KiB top).
"""

import json
import math
import os

import pandas as pd
import pytest
from conftest import FLAT_RATES
from hypothesis import example, given, settings
from hypothesis import strategies as st

from analyzer.errors import AnalyzerError
from analyzer.machine import Calibration, calibrate, predict_step
from analyzer.machine import calibration as calibration_module
from analyzer.machine.explain import explain, predict_plan

GB = 1e9
BASE = {
    **FLAT_RATES,
    "first_touch_from": 1e6,
    "reread": ((1e8, 1e5, 20 * GB), (1e8, 1e7, 5 * GB)),
    "cold_after": ((1e6, 0.0), (1e8, 6e-5)),
    "cold_start": ((1e6, 0.0), (1e8, 2e-5)),
}
CAL = Calibration(**BASE)
HUGE = 10**400  # an int no float holds


def dense_step(macs=10**6, read=8_008_000, written=8000, shapes="(1×1000)·(1000×1000)"):
    return {
        "structures": "dense·dense",
        "shapes": shapes,
        "macs": macs,
        "bytes": read + written,
        "bytes_written": written,
        "product": "J(b,a)·J(a,x)",
    }


# ----------------------------------------------------------------------------- Calibration
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("reread", ((1e8, 1e5),)),  # arity 2
        ("reread", ((1e8, 1e5, 1e9, 1.0),)),  # arity 4
        ("reread", "abc"),
        ("reread", ("123",)),  # a text of three digits is no triple
        ("reread", (b"abc",)),
        ("reread", (("1e8", "1e5", "1e9"),)),
        ("reread", ((True, True, True),)),
        ("reread", ((1e8, math.nan, 1e9),)),
        ("reread", ((math.inf, 1e5, 1e9),)),
        ("reread", ((1e8, 1e5, -1e9),)),
        ("reread", ((0.0, 1e5, 1e9),)),
        ("reread", ((HUGE, 1e5, 1e9),)),
        ("reread", ((1e8, 1e5, 1e9), (1e8, 1e5, 2e9))),  # two rates for one (D, b)
        ("reread", {(1e8, 1e5, 1e9): 1}),
        ("cold_after", ((1e6, 0.0, 1.0),)),
        ("cold_after", "ab"),
        ("cold_after", ("12",)),
        ("cold_after", ((1e6, math.nan),)),
        ("cold_after", ((1e6, math.inf),)),
        ("cold_after", ((1e6, -1e-6),)),
        ("cold_after", ((0.0, 1e-6),)),
        ("cold_after", ((True, False),)),
        ("cold_after", ((HUGE, 0.0),)),
        ("cold_after", ((1e6, 1e-6), (1e6, 1e-3))),  # two excesses at one size
        ("cold_start", ((1e6,),)),
        ("cold_start", {1e6: 1e-6}),
        ("read", ((1e3, 1e9), (1e3, 2e9))),
        ("read", ((HUGE, 1e9),)),
        ("gemm", ((True, 1e9),)),
        ("step_overhead", None),
        ("step_overhead", {"default": True}),
        ("first_touch_from", math.nan),
        ("first_touch_from", math.inf),
        ("first_touch_from", -1.0),
        ("first_touch_from", 0.0),
        ("first_touch_from", "1e6"),
        ("first_touch_from", True),
        ("meta", [1, 2]),
        ("meta", "abc"),
        ("levels", (("memory", math.inf, HUGE),)),
    ],
)
def test_calibration_refuses_malformed_fields(name, value):
    with pytest.raises(AnalyzerError, match=name):
        Calibration(**{**BASE, name: value})
    with pytest.raises(AnalyzerError):  # the same through from_dict (a cache file)
        Calibration.from_dict({**CAL.to_dict(), name: value})


@pytest.mark.parametrize(
    "data",
    [
        {"elementwise": HUGE},
        {"numpy_call": True},
        {"first_touch_from": HUGE},
        {"levels": [["memory", None, HUGE]]},
        {"step_overhead": {"default": HUGE}},
        {"meta": "abc"},
    ],
)
def test_from_dict_refuses_with_its_own_error(data):
    with pytest.raises(AnalyzerError, match="Calibration"):
        Calibration.from_dict({**CAL.to_dict(), **data})


@given(
    points=st.lists(
        st.tuples(st.floats(1.0, 1e12), st.floats(1e3, 1e12)),
        min_size=1,
        max_size=300,
        unique_by=lambda p: p[0],
    ),
)
@settings(max_examples=30, deadline=None)
def test_curves_are_sorted_and_exact_repeats_dropped(points):
    cal = Calibration(**{**BASE, "read": points + points[:3], "cold_after": points[::-1]})
    assert cal.read == tuple(sorted(points))
    assert cal.cold_after == tuple(sorted(points))
    # interpolating on a sorted curve with distinct sizes: at a point, its own value
    x, y = points[0]
    assert cal.read_bandwidth(x) == pytest.approx(y, rel=1e-9)


def test_empty_optional_tables_mean_none():
    for empty in (None, (), []):
        cal = Calibration(**{**BASE, "reread": empty, "cold_after": empty, "cold_start": empty})
        assert cal.reread == cal.cold_after == cal.cold_start == ()
        assert cal.cold_extra(1e9) == 0.0
        assert cal.reread_bandwidth(1e6, 1e9) == cal.read_bandwidth(1e9)
    assert Calibration(**{**BASE, "meta": None}).to_dict()["meta"] == {}


def test_numpy_arrays_and_scalars_make_a_calibration_json_can_write():
    import numpy as np

    cal = Calibration(
        **{
            **BASE,
            "read": np.array([[1e3, 1e9], [1e6, 2e9]]),
            "reread": np.array([[1e8, 1e5, 1e9]]),
            "cold_after": np.array([[1e6, 0.0], [1e8, 1e-5]]),
            "elementwise": np.float32(2e9),
            "numpy_call": np.float64(1e-6),
            "step_overhead": {"default": np.float32(5e-6)},
            "first_touch_from": np.int64(4096),
        }
    )
    assert cal.read == ((1e3, 1e9), (1e6, 2e9)) and cal.reread == ((1e8, 1e5, 1e9),)
    assert cal.cold_extra(1e8) == 1e-5 and cal.first_touch_from == 4096.0
    assert Calibration.from_dict(json.loads(json.dumps(cal.to_dict()))) == cal


# ----------------------------------------------------------------------------- cache files
def _good(version=None):
    data = {"version": calibration_module.CALIBRATION_VERSION, **CAL.to_dict()}
    if version is not None:
        data["version"] = version
    return json.dumps(data)


def _without(key):
    data = json.loads(_good())
    del data[key]
    return json.dumps(data)


def _with(**changes):
    return _good()[:-1] + "".join(f', "{k}": {v}' for k, v in changes.items()) + "}"


CORRUPT = {
    "not json": "{not json",
    "empty": "",
    "a list": "[]",
    "null": "null",
    "deep": "[" * 100_000 + "]" * 100_000,
    "old version": _good(version=3),
    "version as text": _good(version=str(calibration_module.CALIBRATION_VERSION)),
    "an int too large in read": _with(read=f"[[{HUGE}, 1e9]]"),
    "an int too large for elementwise": _with(elementwise=str(HUGE)),
    "an int too large in a level": _with(levels=f'[["memory", null, {HUGE}]]'),
    "an int too large in reread": _with(reread=f"[[{HUGE}, 1, 1]]"),
    "an int too large in cold_after": _with(cold_after=f"[[{HUGE}, 0]]"),
    "an int too large for first_touch_from": _with(first_touch_from=str(HUGE)),
    "first_touch_from NaN": _with(first_touch_from="NaN"),
    "first_touch_from negative": _with(first_touch_from="-1"),
    "first_touch_from true": _with(first_touch_from="true"),
    "elementwise true": _with(elementwise="true"),
    "elementwise 1e400": _with(elementwise="1e400"),
    "reread NaN": _with(reread="[[1e8, NaN, 1e9]]"),
    "reread as text": _with(reread='"abc"'),
    "reread repeated": _with(reread="[[1e8, 1e5, 1e9], [1e8, 1e5, 2e9]]"),
    "cold_start an object": _with(cold_start='{"a": 1}'),
    "meta a list": _with(meta="[1]"),
    "step_overhead null": _with(step_overhead="null"),
    # a file of this version from an older layout (the first commit at version 4 wrote
    # cold_read and cold_write): measured again rather than read without its cold curves
    "no cold_after": _without("cold_after"),
    "no reread": _without("reread"),
}


@pytest.mark.parametrize("text", CORRUPT.values(), ids=CORRUPT.keys())
def test_a_corrupt_cache_file_is_measured_again(text, tmp_path, monkeypatch, capsys):
    from analyzer.cli import main

    monkeypatch.setenv("ANALYZER_CACHE_DIR", str(tmp_path))
    measured = Calibration(**{**BASE, "elementwise": 3e9})
    calls = []
    monkeypatch.setattr(
        calibration_module, "_measure", lambda mode, *args: calls.append(mode) or measured
    )
    path = calibration_module.cache_path(False, 1)
    path.write_text(text)
    assert main(["calibrate"]) == 0
    assert calls == ["full"]
    out, err = capsys.readouterr()
    assert "elementwise 3 G" in out and err == ""
    assert Calibration.from_dict(json.loads(path.read_text())) == measured
    assert os.listdir(tmp_path) == [path.name]


def test_a_good_cache_file_is_read(tmp_path, monkeypatch):
    monkeypatch.setenv("ANALYZER_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(calibration_module, "_measure", lambda *args: pytest.fail("measured"))
    calibration_module.cache_path(False, 1).write_text(_good())
    assert calibrate() == CAL


def test_an_interrupted_calibration_leaves_no_cache_file(tmp_path, monkeypatch):
    from analyzer.cli import main

    monkeypatch.setenv("ANALYZER_CACHE_DIR", str(tmp_path))

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(calibration_module, "_measure", interrupted)
    with pytest.raises(KeyboardInterrupt):
        calibrate()
    assert os.listdir(tmp_path) == []
    assert main(["calibrate"]) == 130
    assert os.listdir(tmp_path) == []


def test_an_interrupted_cache_write_keeps_the_old_file(tmp_path, monkeypatch):
    monkeypatch.setenv("ANALYZER_CACHE_DIR", str(tmp_path))
    path = calibration_module.cache_path(False, 1)
    path.write_text(_good())
    monkeypatch.setattr(calibration_module, "_measure", lambda *args: Calibration(**BASE))

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)  # after part of the file was written
    with pytest.raises(KeyboardInterrupt):
        calibrate(refresh=True)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == [path.name]  # no temporary file left
    assert path.read_text() == _good()


# ----------------------------------------------------------------------------- calibrate()
@pytest.mark.parametrize(
    "kwargs",
    [
        {"budget": True},
        {"budget": math.inf},
        {"budget": math.nan},
        {"budget": -1.0},
        {"budget": "0.1"},
        {"top": 2.0**20},
        {"top": True},
        {"top": 0},
        {"gemm_n": -3},
        {"top": 2**40},  # two 1 TiB buffers
        {"gemm_n": 10**6},  # three 8 TB matrices
    ],
)
def test_calibrate_refuses_odd_settings_before_measuring(kwargs, monkeypatch):
    monkeypatch.setattr(calibration_module, "available_memory", lambda: 64 * 2**30)
    monkeypatch.setattr(calibration_module, "_measure", lambda *args: pytest.fail("measured"))
    with pytest.raises(AnalyzerError, match="calibrate: "):
        calibrate(cache=False, **kwargs)


@given(top=st.integers(2**15, 2**34), per_octave=st.sampled_from([1, 2]))
@example(top=2**31 - 1, per_octave=1)  # log2 just below an integer
@example(top=2**30, per_octave=2)
@settings(max_examples=60, deadline=None)
def test_the_size_grid_stays_within_top(top, per_octave):
    sizes = calibration_module._grid(top, per_octave)
    assert sizes == sorted(set(sizes)) and len(sizes) >= 2
    assert sizes[0] == 2**14 and sizes[-1] <= top
    assert all(s % 4096 == 0 for s in sizes)
    # the last size is within one grid step of top (rounded down to 4 KiB)
    assert sizes[-1] * 2 ** (1 / per_octave) > top - 4096 * 2


def test_a_tiny_calibration_with_a_square_size_on_the_thin_grid():
    # gemm_n = 64 is also a thin size: one rate per size, and the square one is measured
    cal = calibrate(cache=False, top=2**15 + 123, budget=1e-4, gemm_n=64, quick=True)
    sizes = [d for d, _ in cal.gemm]
    assert sizes == sorted(set(sizes)) and 64 in sizes
    assert cal.meta["largest_working_set"] <= 2**15 + 123


# ----------------------------------------------------------------------------- predict_step
def test_a_step_of_nothing_costs_its_overhead():
    p = predict_step(CAL, dense_step(macs=0, read=0, written=0))
    assert (p.seconds, p.compute, p.read, p.write) == (5e-6, 0.0, 0.0, 0.0)
    assert p.bound == "overhead"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("macs", math.nan),
        ("macs", -1),
        ("macs", math.inf),
        ("macs", HUGE),
        ("macs", True),
        ("macs", "12"),
        ("macs", None),
        ("bytes", math.nan),
        ("bytes", -8),
        ("bytes", math.inf),
        ("bytes_written", math.nan),
        ("bytes_written", -8),
        ("bytes_written", 10**9),  # more than the step's bytes
    ],
)
def test_predict_step_refuses_odd_numbers(field, value):
    with pytest.raises(AnalyzerError, match="predict_step"):
        predict_step(CAL, {**dense_step(), field: value})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"working_set": math.nan},
        {"working_set": -1.0},
        {"touched_before": math.nan},
        {"touched_before": -1.0},
        {"touched_before": "1e8"},
    ],
)
def test_predict_step_refuses_odd_distances(kwargs):
    with pytest.raises(AnalyzerError, match="predict_step"):
        predict_step(CAL, dense_step(), **kwargs)


def test_predict_step_names_a_missing_field():
    record = dense_step()
    del record["bytes_written"]
    with pytest.raises(AnalyzerError, match="bytes_written"):
        predict_step(CAL, record)


def test_huge_steps_are_priced_by_the_flat_ends():
    p = predict_step(CAL, dense_step(macs=1e300, read=1e299, written=1e298), working_set=math.inf)
    # compute at the matrix-vector rate 4e9; reads at the read curve's far end (20 GB/s: the
    # read is larger than every reread row); fresh writes at 10 GB/s
    assert p.compute == pytest.approx(1e300 / 4e9)
    assert p.read == pytest.approx(1e299 / 20e9)
    assert p.write == pytest.approx(1e298 / 10e9)
    assert math.isfinite(p.seconds) and p.level == "memory"


def test_a_working_set_smaller_than_the_reads_is_the_reads():
    # 8 MB read cannot come from a 2 MB L2, whatever reuse distance the caller claims
    small = predict_step(CAL, dense_step(), working_set=10.0)
    own = predict_step(CAL, dense_step(), working_set=8_008_000)
    assert small == own and small.level == "memory"


# ----------------------------------------------------------------------------- predict_plan
def test_predict_plan_of_no_steps():
    predictions, row = predict_plan(CAL, [], factor_bytes=800)
    assert predictions == [] and row["model_seconds"] == 0.0 and row["working_set"] == 800


def test_predict_plan_of_one_step():
    record = dense_step()
    (p,), row = predict_plan(CAL, [record], factor_bytes=8_008_000)
    # its reuse distance: the factors plus its result; the step before it is itself, in the
    # repetition before: the cold_start excess of its own 8,016,000 bytes (linear in log
    # bytes between 1e6 and 1e8)
    start = 2e-5 * math.log(8_016_000 / 1e6) / math.log(100)
    assert p.working_set == 8_016_000
    assert p.overhead == pytest.approx(5e-6 + start)
    assert row["model_seconds"] == pytest.approx(p.seconds)


def test_explain_with_an_empty_plan_among_the_rows():
    rows = pd.DataFrame(
        {
            "H": [1, 2, 3],
            "working_set": [0.0, 1e6, 1e8],
            "model_level": ["", "L2", "memory"],
            "model_capacity": [math.nan, 2e6, math.inf],
            "model_bound": ["", "read", "read"],
            "model_step": ["", "J(b,a)·J(a,x)", "J(b,a)·J(a,x)"],
            "model_seconds": [0.0, 1e-4, 1e-2],
            "model_overhead": [0.0, 1e-5, 1e-5],
            "model_last_level": ["L2"] * 3,
        }
    )
    note = explain(rows, "H")
    assert "leaves the last-level cache (L2, 2 MB) between H=2 and H=3" in note
    assert "H=1" not in note
    assert explain(rows.iloc[:2], "H") == ""  # overhead share of a zero time: no note


# ----------------------------------------------------------------------------- report
READ = [[1e4, 5e10], [1e8, 1e10]]


@pytest.mark.parametrize(
    ("damage", "read", "after", "borders"),
    [
        # the good rows are kept, drawn as they are: here one reread row after 100 MB
        (
            {"reread": [["a", "b", "c"], [1e8, 1e5, 2e10], None, [1e8, 1e6]]},
            READ,
            [[1e5, 20.0]],
            [4e7],
        ),
        ({"reread": 5, "levels": "abc"}, READ, None, []),
        (
            {"reread": [None], "levels": [["L2", "x", 1e9], None, ["L3", 4e7, 4e10]]},
            READ,
            None,
            [4e7],
        ),
        (
            {"read": [[1e4, 5e10], ["a", 1], [1e8, 1e10], [True, 1e9]], "reread": []},
            READ,
            None,
            [4e7],
        ),
    ],
)
def test_plot_calibration_draws_what_is_left_of_a_damaged_calibration(damage, read, after, borders):
    from analyzer.report.machine import plot_calibration

    cal = {
        **CAL.to_dict(),
        "read": READ,
        "levels": [["L3", 4e7, 4e10], ["memory", None, 1e10]],
        **damage,
    }
    left = plot_calibration(cal)[1][0]
    lines = {line.get_label(): line.get_xydata().tolist() for line in left.get_lines()}
    assert lines["read (vector × matrix, repeated)"] == [[x, y / 1e9] for x, y in read]
    assert lines.get("read after a 100 MB stream") == after
    drawn = [line.get_xdata()[0] for line in left.get_lines() if line.get_color() == "0.5"]
    assert drawn == borders
    cold = plot_calibration({**cal, "cold_after": [[1e6, 0.0], ["a", 1], [1e8, 6e-5], [0, 1]]})
    (line,) = [ln for ln in cold[1][2].get_lines() if ln.get_label() == "within a repetition"]
    assert line.get_xydata().tolist() == [[1e6, 0.0], [1e8, 60.0]]  # µs


def test_plot_calibration_draws_kernel_curves_and_skips_damaged_ones():
    from analyzer.report.machine import plot_calibration

    kernels = {"dense·row-block": [[1e4, 1e9], [1e7, 2e8]], "diagonal·dense": 2e9,
               "bad": "fast", "worse": [[1e4, -1.0]], "empty": []}  # fmt: skip
    axes = plot_calibration({**CAL.to_dict(), "kernel_rates": kernels})[1]
    assert len(axes) == 4
    drawn = {line.get_label(): line.get_xydata().tolist() for line in axes[3].get_lines()}
    assert drawn == {"dense·row-block": [[1e4, 1.0], [1e7, 0.2]]}
    # rates given as plain numbers only (older calibrations): three panels
    assert len(plot_calibration({**CAL.to_dict(), "kernel_rates": {"x": 1e9}})[1]) == 3


def test_plot_calibration_without_a_valid_read_curve_is_its_own_error():
    from analyzer.report.machine import plot_calibration

    with pytest.raises(AnalyzerError, match="read"):
        plot_calibration({**CAL.to_dict(), "read": [["a", 1], [0, 1e9]]})


# ----------------------------------------------------------------------------- resume
@pytest.mark.parametrize("offset", [0, -1])
def test_resume_refuses_a_calibration_of_another_version(offset, tmp_path, monkeypatch):
    from analyzer import measure

    version = calibration_module.CALIBRATION_VERSION + offset
    cal = Calibration(**{**BASE, "meta": {"version": version}})
    args = {"orders": ("input-first",), "repeat": 1, "min_seconds": 0, "progress": False}
    grid = {"H": [2, 3], "N": [2]}
    first = measure.sweep("one-layer", grid, calibration=cal, out=tmp_path, **args)
    results = pd.read_csv(tmp_path / "results.csv")
    results.iloc[:1].to_csv(tmp_path / "results.csv", index=False)  # interrupted
    monkeypatch.setattr(measure, "calibrate", lambda **kw: pytest.fail("calibrated again"))
    if offset:
        # a sweep saved by another machine model: its rows and new ones would not agree
        with pytest.raises(AnalyzerError, match=f"machine model version {version}"):
            measure.sweep("one-layer", grid, out=tmp_path, resume=True, **args)
    else:
        again = measure.sweep("one-layer", grid, out=tmp_path, resume=True, **args)
        assert again.attrs["calibration"] == first.attrs["calibration"]
        assert len(again) == len(first)


def test_predict_plan_takes_a_plans_steps_frame_and_refuses_odd_factor_bytes():
    from analyzer.models import one_layer
    from analyzer.planning import plan

    p = plan(one_layer(6, 3), "output-first")
    records = p.steps.to_dict("records")
    (framed, row), (listed, expected) = (
        predict_plan(CAL, p.steps, 800),
        predict_plan(CAL, records, 800),
    )
    assert framed == listed and row["model_seconds"] == expected["model_seconds"]
    for bad in (math.nan, -1.0, math.inf, "800", True):
        with pytest.raises(AnalyzerError, match="factor_bytes"):
            predict_plan(CAL, records, bad)
    with pytest.raises(AnalyzerError, match="mappings"):
        predict_plan(CAL, ["J(b,a)·J(a,x)"], 800)
