"""Tests of analyzer.machine: roofline arithmetic, machine info, BLAS pinning, calibration."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_info

from analyzer.errors import AnalyzerError
from analyzer.machine import Calibration, Roofline, blas_threads, calibrate, machine_info

R = Roofline(macs_per_second=1e9, bytes_per_second=1e10)


@pytest.mark.parametrize(
    ("macs", "nbytes", "expected"),
    [
        (1e9, 1e9, 1.0),  # compute bound
        (1e6, 1e10, 1.0),  # memory bound
        (1e9, 1e10, 1.0),  # on the ridge
        (0, 0, 0.0),
    ],
)
def test_roofline_seconds(macs, nbytes, expected):
    assert R.seconds(macs, nbytes) == pytest.approx(expected)
    assert R.seconds(macs, nbytes) == pytest.approx(expected)
    assert isinstance(R.seconds(macs, nbytes), float)


def test_roofline_elementwise():
    macs = np.array([1e9, 1e6, 2e9])
    nbytes = np.array([1e9, 1e10, 0])
    np.testing.assert_allclose(R.seconds(macs, nbytes), [1.0, 1.0, 2.0])
    series = R.seconds(pd.Series(macs, index=list("abc")), pd.Series(nbytes, index=list("abc")))
    assert isinstance(series, pd.Series)
    assert list(series.index) == list("abc")
    np.testing.assert_allclose(series, [1.0, 1.0, 2.0])


def test_roofline_balance_and_dict_round_trip():
    assert R.balance == pytest.approx(0.1)
    assert Roofline.from_dict(json.loads(json.dumps(R.to_dict()))) == R


@pytest.mark.parametrize("bad", [0, -1.0, math.nan, math.inf, "fast"])
def test_roofline_rejects_bad_rates(bad):
    with pytest.raises(AnalyzerError, match="macs_per_second"):
        Roofline(macs_per_second=bad, bytes_per_second=1.0)


def test_roofline_from_dict_missing_key():
    with pytest.raises(AnalyzerError, match="bytes_per_second"):
        Roofline.from_dict({"macs_per_second": 1.0})


def test_machine_info_is_plain_json():
    info = machine_info()
    keys = {"cpu_model", "logical_cores", "caches", "memory_bytes", "blas"}
    assert keys | {"numpy", "python", "platform", "date"} <= set(info)
    json.dumps(info)
    assert info["numpy"] == np.__version__
    for cache in info["caches"]:
        assert set(cache) == {"level", "type", "size"}
    for lib in info["blas"]:
        assert {"internal_api", "version", "num_threads", "filepath"} <= set(lib)


def test_machine_info_survives_unreadable_files(monkeypatch):
    def fail(*args, **kwargs):
        raise OSError("unreadable")

    monkeypatch.setattr("builtins.open", fail)
    info = machine_info()
    assert info["caches"] == []
    json.dumps(info)


def blas_thread_counts():
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_blas_threads_sets_and_restores():
    before = blas_thread_counts()
    if not before:
        pytest.skip("no BLAS library seen by threadpoolctl")
    with blas_threads(1):
        assert blas_thread_counts() == [1] * len(before)
    assert blas_thread_counts() == before
    with blas_threads(None):
        assert blas_thread_counts() == before


@pytest.mark.parametrize("bad", [0, -2, 1.5, True])
def test_blas_threads_rejects_bad_counts(bad):
    with pytest.raises(AnalyzerError, match="positive int"), blas_threads(bad):
        pass


def test_calibrate_tiny_sizes_give_positive_rates():
    cal = calibrate(cache=False, quick=True, top=2**17, budget=1e-3, gemm_n=32)
    assert isinstance(cal, Calibration)
    for rate in (cal.read_bandwidth(2**16), cal.gemm_rate(1), cal.gemm_rate(32), cal.elementwise):
        assert math.isfinite(rate) and rate > 0
    assert cal.roofline().macs_per_second > 0
    assert Calibration.from_dict(json.loads(json.dumps(cal.to_dict()))) == cal
    # the reread table is measured (the one stream that fits: 128 KiB), and the cold curves
    assert cal.reread and all(d >= 4 * b and r > 0 for d, b, r in cal.reread)
    assert cal.cold_after and cal.cold_start
    # the structured kernels of the built-in kinds, each with its own rate
    assert set(cal.kernel_rates) == {
        "diagonal·row-block", "dense·row-block", "diagonal·dense", "dense·diagonal"
    }  # fmt: skip
    for _, size, rate in cal.reread:  # never above the read curve at that size
        assert rate <= cal.read_bandwidth(size) * (1 + 1e-9)


def test_reread_rows_speak_only_for_the_sizes_they_measured():
    base = {"write_fresh": [[1e3, 1e9]], "write_reused": [[1e3, 1e10]], "gemm": [[1, 1e9]],
            "elementwise": 1e9, "numpy_call": 1e-6, "step_overhead": {"default": 1e-5},
            "levels": [], "read": [[1e4, 4e10], [1e9, 1e10]]}  # fmt: skip
    cal = Calibration.from_dict({**base, "reread": [[1e8, 1e4, 2e9], [1e8, 1e6, 5e9]]})
    # a 1 MB read after a 1e8-byte stream: the table's 5 GB/s
    assert cal.reread_bandwidth(1e6, 1e6 + 1e8) == pytest.approx(5e9)
    # a 50 MB read is larger than the row measured: the read curve at its reuse distance
    plain = Calibration.from_dict(base)
    assert cal.reread_bandwidth(5e7, 2e8) == plain.read_bandwidth(2e8)
    # a read with no other traffic: the read curve at its own size, with or without a table
    assert cal.reread_bandwidth(1e6, 1e6) == plain.read_bandwidth(1e6)


@pytest.mark.parametrize(("name", "value"), [("budget", 0), ("top", -1), ("threads", 0)])
def test_calibrate_rejects_bad_settings(name, value):
    with pytest.raises(AnalyzerError, match=name):
        calibrate(cache=False, **{name: value})
