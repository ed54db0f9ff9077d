"""Hostile inputs for the cold_write excess: damaged calibrations, junk step bytes, cyclic order."""

import math

import pytest

from analyzer.errors import AnalyzerError
from analyzer.machine.explain import predict_plan, working_set
from analyzer.machine.model import COLD_FROM, Calibration, predict_step

BASE = {
    "read": [[1e3, 4e10]],
    "write_fresh": [[1e3, 1e10]],
    "write_reused": [[1e3, 1e10]],
    "gemm": [[1, 1e9]],
    "elementwise": 1e9,
    "numpy_call": 1e-6,
    "step_overhead": {"default": 1e-5},
    "levels": [["memory", None, 1e10]],
}
TINY = {"structures": "dense·dense", "shapes": "(1×1)·(1×1)", "macs": 1, "bytes": 24,
        "bytes_written": 8}  # fmt: skip


def _cal(**extra):
    return Calibration.from_dict({**BASE, **extra})


@pytest.mark.parametrize("key", ["bytes_written", "bytes"])
@pytest.mark.parametrize("value", ["MISSING", "abc", None, [1], math.nan, -5, True, math.inf])
def test_predict_plan_junk_step_bytes_is_analyzer_error(key, value):
    # was a KeyError / ValueError / TypeError from float(s[key]), or a message naming the
    # wrong field (working_set, written_before) of the wrong step
    bad = dict(TINY)
    if value == "MISSING":
        del bad[key]
    else:
        bad[key] = value
    with pytest.raises(AnalyzerError, match=f"step 1 needs '{key}'"):
        predict_plan(_cal(), [TINY, bad], 100.0)


def test_working_set_missing_bytes_written_is_analyzer_error():
    with pytest.raises(AnalyzerError, match="bytes_written"):
        working_set(10.0, [{"bytes": 5}])
    assert working_set(10.0, [{"bytes_written": 4}, {"bytes_written": 6.5}]) == 20.5


@pytest.mark.parametrize(
    "curve",
    ["abc", [[1e6, "x"]], [[1e6, math.nan]], [[1e6, -1e-5]], [[-1e6, 1e-5]], [[0, 1e-5]],
     [[1e6, 1e-5], [1e6, 2e-5]], [[1e6, True]], 5, [1, 2], {"a": 1}, [[1e6, math.inf]]],
)  # fmt: skip
def test_damaged_cold_write_is_analyzer_error(curve):
    with pytest.raises(AnalyzerError, match="cold_write"):
        _cal(cold_write=curve)


@pytest.mark.parametrize("value", [math.nan, -1.0, True, "5", None, -math.inf])
def test_predict_step_junk_written_before(value):
    with pytest.raises(AnalyzerError, match="written_before"):
        predict_step(_cal(), TINY, written_before=value)


def test_first_step_pays_cold_write_of_the_last_step():
    # cold_write rises linearly in log bytes from 0 at COLD_FROM to 100 µs at 1e8 bytes
    cal = _cal(cold_write=[[1e8, 1e-4]])
    big = {"structures": "dense·dense", "shapes": "(1×1)·(1×125000)", "macs": 125000,
           "bytes": 2_000_008, "bytes_written": 1_000_000}  # fmt: skip
    predictions, _ = predict_plan(cal, [TINY, big], 0.0)
    expected = 1e-4 * math.log(1e6 / COLD_FROM) / math.log(1e8 / COLD_FROM)
    assert predictions[0].overhead == pytest.approx(1e-5 + expected, rel=1e-9)
    assert predictions[1].overhead == pytest.approx(1e-5, rel=1e-12)  # 8 bytes before: 0
    # at, below and far beyond the ends
    assert cal.cold_extra(0.0, written_before=COLD_FROM) == 0.0
    assert cal.cold_extra(0.0, written_before=1.0) == 0.0
    assert cal.cold_extra(0.0, written_before=math.inf) == pytest.approx(1e-4)
    # the larger of the read and write curves
    both = _cal(cold_write=[[1e8, 1e-4]], cold_after=[[1e8, 3e-4]])
    assert both.cold_extra(1e8, written_before=1e8) == pytest.approx(3e-4)


@pytest.mark.parametrize("value", [math.nan, -1e9, True, "5", None, -math.inf])
@pytest.mark.parametrize("name", ["touched_before", "written_before"])
def test_cold_extra_junk_bytes_is_analyzer_error(name, value):
    # was silently 0 for NaN, negative and True, a TypeError for a text or None
    cal = _cal(cold_write=[[1e8, 1e-4]], cold_after=[[1e8, 1e-4]])
    with pytest.raises(AnalyzerError, match=name):
        cal.cold_extra(**{name: value})


def test_quick_calibration_stops_the_write_curve_at_its_top():
    """The three cold curves come from real executor runs; the write curve skips streams
    over ``write_top`` (what ``--quick`` does past 64 MiB), the read curves do not."""
    from analyzer.machine import calibration as calibration_module

    streams = [2**18, 2**19]
    after, start, write = calibration_module._cold(1, streams, 1, write_top=2**18)
    assert [b for b, _ in write] == [2**18]  # bytes the step before wrote, stream 2**19 skipped
    assert len(after) == len(start) == 2
    assert all(s >= 0 for _, s in after + start + write)
    assert calibration_module._SETTINGS["quick"]["cold_write_top"] == 2**26
    assert calibration_module._SETTINGS["full"]["cold_write_top"] == float("inf")


@pytest.mark.parametrize("stream", [2**16, 2**22])
def test_the_cold_chains_are_the_chain_model_with_fixed_factors(stream):
    """The calibration times the chains of analyzer.models.chain, built with factors made once
    instead of drawn (twice) at random: the same plans, step by step, and an exact product."""
    import numpy as np

    from analyzer import execute, plan
    from analyzer.machine.calibration import _cold_chains, _fixed_chain
    from analyzer.models import chain

    for dims, order, _ in _cold_chains(stream):
        ours, model = plan(_fixed_chain(dims), order), plan(chain(dims), order)
        assert ours.sequence == model.sequence and ours.macs == model.macs
        columns = ["shapes", "structures", "macs", "bytes", "bytes_written"]
        assert ours.steps[columns].equals(model.steps[columns])
        # each factor has every entry 1/columns: so has their product, 1/dims[0]
        jacobian = execute(ours, repeat=1, memory=False).jacobian
        assert jacobian.shape == (dims[-1], dims[0]) and np.allclose(jacobian, 1 / dims[0])
