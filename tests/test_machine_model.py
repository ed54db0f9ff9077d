"""The machine model on synthetic calibrations: predictions computed by hand, the bandwidth
fit on curves with known cache borders, the calibration cache, verdicts and their notes.

No test here times anything: every rate is made up.
"""

import json
import math
import os

import numpy as np
import pandas as pd
import pytest
from conftest import FLAT_RATES
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.errors import AnalyzerError
from analyzer.fit import fit_exponents
from analyzer.machine import Calibration, calibrate, fit_bandwidth, predict_step, shape_class
from analyzer.machine import calibration as calibration_module
from analyzer.machine.explain import explain, predict_plan
from analyzer.machine.model import CALIBRATION_VERSION, COLD_FROM
from analyzer.models import chain, one_layer
from analyzer.planning import plan

GB = 1e9
# Flat curves make every hand computation a division.
FLAT = Calibration(
    **{
        **FLAT_RATES,
        "step_overhead": {"default": 5e-6, "diagonal·dense": 3e-6},
        "first_touch_from": 1e6,
    }
)


def step(structures, shapes, macs, read, written, product="J(b,a)·J(a,x)"):
    return {
        "structures": structures,
        "shapes": shapes,
        "macs": macs,
        "bytes": read + written,
        "bytes_written": written,
        "product": product,
    }


@pytest.mark.parametrize(
    ("record", "expected", "bound", "cls"),
    [
        # matrix-vector, 1×1000 by 1000×1000: 8 MB read at 20 GB/s = 400 µs > 1e6/4e9 = 250 µs;
        # 8 kB written at 10 GB/s = 0.8 µs; overhead 5 µs
        (
            step("dense·dense", "(1×1000)·(1000×1000)", 10**6, 8_008_000, 8000),
            5e-6 + 8_008_000 / 20e9 + 8000 / 10e9,
            "read",
            "matrix-vector",
        ),
        # square 512^3 at 32e9 macs/s (the curve's flat end): compute bound
        (
            step("dense·dense", "(512×512)·(512×512)", 512**3, 2 * 8 * 512**2, 8 * 512**2),
            5e-6 + 512**3 / 32e9 + 8 * 512**2 / 10e9,
            "compute",
            "square",
        ),
        # thin, d = 8: halfway in log between d = 1 and 64, so the rate is 4e9 * sqrt(8)
        (
            step("dense·dense", "(8×100)·(100×100)", 8 * 100 * 100, 0, 0),
            5e-6 + 8 * 100 * 100 / (4e9 * math.sqrt(8)),
            "compute",
            "thin",
        ),
        # elementwise (structured): overhead of its pair, elementwise rate against the reads
        (
            step("diagonal·dense", "(1×1)·(1×1000)", 1000, 8008, 8000),
            3e-6 + max(1000 / 2e9, 8008 / 20e9) + 8000 / 10e9,
            "overhead",
            "elementwise",
        ),
    ],
)
def test_predict_step_by_hand(record, expected, bound, cls):
    p = predict_step(FLAT, record)
    assert p.seconds == pytest.approx(expected, rel=1e-12)
    assert p.seconds == pytest.approx(p.overhead + max(p.compute, p.read) + p.write)
    assert (p.bound, p.shape_class) == (bound, cls)


def test_predict_step_working_set_picks_the_bandwidth():
    cal = Calibration(
        read=((1e6, 40 * GB), (1e7, 40 * GB), (1e8, 10 * GB)),
        write_fresh=((1e3, 10 * GB),),
        write_reused=((1e3, 10 * GB),),
        gemm=((1, 1e12),),
        elementwise=1e12,
        numpy_call=1e-6,
        step_overhead={"default": 0.0},
        levels=(("L3", 3e7, 40 * GB), ("memory", math.inf, 10 * GB)),
    )
    record = step("dense·dense", "(1×100)·(100×1000)", 10**5, 800_000, 0)
    in_cache = predict_step(cal, record)  # working set = its own 800 kB
    beyond = predict_step(cal, record, working_set=1e8)
    between = predict_step(cal, record, working_set=10**7.5)  # halfway in log: 20 GB/s
    assert in_cache.seconds == pytest.approx(800_000 / 40e9)
    assert beyond.seconds == pytest.approx(800_000 / 10e9)
    assert between.seconds == pytest.approx(800_000 / 20e9)
    assert (in_cache.level, beyond.level) == ("L3", "memory")


def test_fresh_results_use_the_fresh_curve_and_first_touch_flag():
    record = step("diagonal·dense", "(1×1)·(1×400000)", 400_000, 3_200_008, 3_200_000)
    fresh = predict_step(FLAT, record)
    reused = predict_step(FLAT, record, fresh=False)
    assert fresh.write == pytest.approx(3.2e6 / 10e9)
    assert reused.write == pytest.approx(3.2e6 / 40e9)
    assert fresh.fresh and not reused.fresh  # 3.2 MB >= first_touch_from (1 MB)


@pytest.mark.parametrize(
    ("structures", "shapes", "expected"),
    [
        ("dense·dense", "(1×512)·(512×32768)", ("matrix-vector", 1)),
        ("dense·dense", "(32768×512)·(512×1)", ("matrix-vector", 1)),
        ("dense·dense", "(512×512)·(512×32768)", ("square", 512)),
        ("dense·dense", "(16×512)·(512×512)", ("thin", 16)),
        ("dense·dense", "(1×1)·(1×512)", ("elementwise", 1)),
        ("dense·dense", "(300×1)·(1×200)", ("elementwise", 1)),
        ("dense·row-block", "(1×512)·(512×32768)", ("elementwise", 1)),
        ("dense", "(4×4)", ("elementwise", 1)),
    ],
)
def test_shape_classes(structures, shapes, expected):
    assert shape_class(structures, shapes) == expected


def test_calibration_refuses_bad_data():
    data = FLAT.to_dict()
    with pytest.raises(AnalyzerError, match="read"):
        Calibration.from_dict({**data, "read": [[1e3, -1.0]]})
    with pytest.raises(AnalyzerError, match="default"):
        Calibration.from_dict({**data, "step_overhead": {"dense·dense": 1e-6}})
    with pytest.raises(AnalyzerError, match="not a calibration"):
        Calibration.from_dict({"read": []})
    assert Calibration.from_dict(json.loads(json.dumps(data))) == FLAT


def test_roofline_of_a_calibration():
    r = FLAT.roofline()
    assert (r.macs_per_second, r.bytes_per_second, r.write_bytes_per_second) == (
        32e9,
        20 * GB,
        10 * GB,
    )


# ----------------------------------------------------------------------------- bandwidth fit
def synthetic(levels, sizes, noise=0.0, seed=0):
    """Rates of a step curve: ``levels`` = [(capacity, rate), ..., (inf, memory rate)]."""
    rng = np.random.default_rng(seed)
    rates = [next(r for c, r in levels if s <= c) for s in sizes]
    return [r * math.exp(rng.normal(0, noise)) for r in rates]


@given(
    border=st.floats(2e5, 2e8),
    ratio=st.floats(1.5, 6.0),
    noise=st.floats(0.0, 0.04),
    seed=st.integers(0, 100),
)
@settings(max_examples=40, deadline=None)
def test_fit_bandwidth_finds_a_known_border(border, ratio, noise, seed):
    sizes = [2 ** (14 + i / 2) for i in range(2 * 16 + 1)]  # 16 KiB .. 1 GiB, 2 per octave
    rates = synthetic([(border, ratio * 10 * GB), (math.inf, 10 * GB)], sizes, noise, seed)
    levels = fit_bandwidth(sizes, rates, [("L3", 10**8)])
    assert len(levels) == 2
    (name, capacity, fast), (last, inf, slow) = levels
    assert (name, last, inf) == ("L3", "memory", math.inf)
    below = max(s for s in sizes if s <= border)
    above = min(s for s in sizes if s > border)
    assert below <= capacity <= above
    assert fast == pytest.approx(ratio * 10 * GB, rel=0.05)
    assert slow == pytest.approx(10 * GB, rel=0.05)


def test_fit_bandwidth_three_levels_named_by_nearest_cache():
    sizes = [2 ** (14 + i / 2) for i in range(33)]
    rates = synthetic([(1.5e6, 60 * GB), (4e7, 25 * GB), (math.inf, 9 * GB)], sizes, 0.02)
    levels = fit_bandwidth(sizes, rates, [("L1", 48 * 1024), ("L2", 2**21), ("L3", 300 * 2**20)])
    assert [name for name, _, _ in levels] == ["L2", "L3", "memory"]
    assert 2**20 <= levels[0][1] <= 2**21 and 2**25 <= levels[1][1] <= 2**26


def test_fit_bandwidth_flat_curve_is_one_level():
    sizes = [2.0**e for e in range(14, 30)]
    levels = fit_bandwidth(sizes, synthetic([(math.inf, 10 * GB)], sizes, 0.03))
    assert len(levels) == 1 and levels[0][0] == "memory"
    with pytest.raises(AnalyzerError, match="at least 2"):
        fit_bandwidth([1e3], [1e9])


# ----------------------------------------------------------------------------- cache
@pytest.fixture
def measured(tmp_path, monkeypatch):
    """A cache folder of its own, and a calibration that records each measuring (FLAT)."""
    monkeypatch.setenv("ANALYZER_CACHE_DIR", str(tmp_path))
    calls = []

    def fake_measure(mode, *args):
        calls.append(mode)
        return FLAT

    monkeypatch.setattr(calibration_module, "_measure", fake_measure)
    return calls


def test_calibration_is_cached_per_machine_and_version(measured):
    calls = measured
    assert calibrate() == FLAT and calls == ["full"]
    assert calibrate() == FLAT and calls == ["full"]  # read from the cache
    assert calibrate(quick=True) == FLAT and calls == ["full"]  # a full one serves quick too
    assert calibrate(refresh=True) == FLAT and calls == ["full", "full"]
    path = calibration_module.cache_path()
    assert f"v{CALIBRATION_VERSION}" in path.name and path.exists()
    stale = json.loads(path.read_text())
    stale["version"] = CALIBRATION_VERSION - 1
    path.write_text(json.dumps(stale))
    calibrate()
    assert calls == ["full", "full", "full"]  # another version is measured again
    path.write_text("{not json")
    calibrate()
    assert len(calls) == 4


# ----------------------------------------------------------------------------- plans, verdicts
def test_predict_plan_sums_steps_at_the_plan_working_set():
    steps = [
        step("dense·dense", "(1×1000)·(1000×1000)", 10**6, 8_008_000, 8000, "J(o,u)·J(u,W)"),
        step("diagonal·dense", "(1×1)·(1×1000)", 1000, 8008, 8000, "J(o,y)·J(y,u)"),
    ]
    predictions, row = predict_plan(FLAT, steps, factor_bytes=8_008_008)
    assert row["working_set"] == 8_008_008 + 16000
    assert row["model_seconds"] == pytest.approx(sum(p.seconds for p in predictions))
    expected = [predict_step(FLAT, s, working_set=row["working_set"]).seconds for s in steps]
    assert [p.seconds for p in predictions] == pytest.approx(expected)
    assert row["model_step"] == "J(o,u)·J(u,W)" and row["model_bound"] == "read"
    assert row["model_level"] == "memory"


def sweep_rows(hs, seconds, model_seconds, levels, bound="read", fresh=False):
    n = len(hs)
    return pd.DataFrame(
        {
            "model": "m",
            "cost": "dense",
            "order": "output-first",
            "sweep": "H",
            "H": hs,
            "N": 64,
            "formula": "H**2*N",
            "leading_term": "H**2*N",
            "seconds": seconds,
            "model_seconds": model_seconds,
            "working_set": [8.0 * h * h * 64 for h in hs],
            "model_level": levels,
            "model_capacity": [4e7 if lv == "L3" else math.inf for lv in levels],
            "model_bound": [bound] * n,
            "model_fresh": [fresh] * n,
            "model_step": ["J(out,u)·J(u,W)"] * n,
            "model_overhead": [1e-5] * n,
            "model_last_level": ["L3"] * n,
        }
    )


HS = np.array([256, 384, 512, 640, 768])
# A step in bandwidth between H = 256 and 384 (working set 34 MB -> 75 MB, border 40 MB)
JUMP = np.array([1.0, 1.8, 2.2, 2.4, 2.5])
LEVELS = ["L3", "memory", "memory", "memory", "memory"]


@pytest.mark.parametrize(
    ("seconds", "model", "verdict"),
    [
        (1e-9 * HS**2 * 64, 1e-9 * HS**2 * 64 * JUMP, "pass"),  # slope 2: the count holds
        (1e-9 * HS**2 * 64 * JUMP, 1e-9 * HS**2 * 64 * JUMP, "explained"),
        (1e-9 * HS**3.5, 1e-9 * HS**2 * 64 * JUMP, "fail"),  # neither
        (1e-9 * HS**2 * 64 * JUMP, 1e-9 * HS**2 * 64, "fail"),  # the model does not bend
    ],
)
def test_verdicts_on_synthetic_fits(seconds, model, verdict):
    rows = sweep_rows(HS, seconds, model, LEVELS)
    fit = fit_exponents(rows, x="H", min_seconds=0).iloc[0]
    assert fit["verdict"] == verdict
    assert fit["predicted"] == pytest.approx(2.0)
    assert fit["predicted_asymptotic"] == 2.0
    model_slope = np.polyfit(np.log(HS), np.log(model), 1)[0]
    assert fit["predicted_machine"] == pytest.approx(model_slope)
    if verdict == "explained":
        note = fit["explanation"]
        assert "leaves the last-level cache (L3, 40 MB) between H=256 and H=384" in note
        assert "J(out,u)·J(u,W)" in note and "33.6 MB at H=256" in note
    else:
        assert fit["explanation"] == ""


def test_inconclusive_beats_explained():
    hs = HS[:2]
    rows = sweep_rows(hs, 1e-9 * hs**3, 1e-9 * hs**3, LEVELS[:2])
    assert fit_exponents(rows, x="H", min_seconds=0).iloc[0]["verdict"] == "inconclusive"


def test_no_machine_column_no_explained_verdict():
    rows = sweep_rows(HS, 1e-9 * HS**2 * 64 * JUMP, 1.0, LEVELS).drop(columns="model_seconds")
    fit = fit_exponents(rows, x="H", min_seconds=0).iloc[0]
    assert fit["verdict"] == "fail" and math.isnan(fit["predicted_machine"])


def test_explain_names_fresh_pages_and_bound_changes():
    rows = sweep_rows(HS, 1.0, 1.0, ["memory"] * 5, bound="write")
    rows["model_fresh"] = [False, False, True, True, True]
    assert "written to fresh pages (first touch) between H=384 and H=512" in explain(rows, "H")
    rows = sweep_rows(HS, 1.0, 1.0, ["memory"] * 5)
    rows["model_bound"] = ["overhead", "overhead", "read", "read", "read"]
    assert "goes from overhead-bound to read-bound between H=384 and H=512" in explain(rows, "H")
    rows = sweep_rows(HS, 1.0, [2e-5, 3e-5, 5e-5, 1e-4, 2e-4], ["memory"] * 5, bound="compute")
    assert (
        explain(rows, "H")
        == "per-step overhead is 50% of the predicted time at H=256 and 5% at H=768"
    )


def test_sweep_records_the_machine_model_per_step_and_per_run():
    from analyzer.measure import sweep
    from analyzer.models import one_layer
    from analyzer.planning import plan

    results = sweep(
        "one-layer",
        {"H": [6, 8], "N": [3]},
        orders=("output-first",),
        repeat=1,
        progress=False,
        calibration=FLAT,
    )
    steps = pd.DataFrame(results.attrs["steps"])
    assert results.attrs["calibration"] == FLAT.to_dict()
    for row in results.itertuples():
        p = plan(one_layer(row.H, row.N), "output-first")
        # the working set: every differentiated factor stored densely, every result written
        graph = p.problem.graph
        factor_bytes = 8 * sum(
            graph.nodes[h]["size"] * graph.nodes[t]["size"] for t, h, _ in p.problem.edges
        )
        ws = factor_bytes + sum(int(b) for b in p.steps["bytes_written"])
        expected = [
            predict_step(FLAT, s, working_set=ws).seconds for s in p.steps.to_dict("records")
        ]
        mine = steps[steps["H"] == row.H]
        assert mine["model_seconds"].tolist() == pytest.approx(expected)
        assert row.model_seconds == pytest.approx(sum(expected))
        assert row.working_set == ws
        assert row.model_ratio == pytest.approx(row.seconds / row.model_seconds)


@pytest.mark.parametrize("capacity", [1.5e6, 3e7, 3e8])
def test_cache_regime_sizes_straddle_the_last_border(capacity):
    from analyzer.regimes import cache_regime_sizes

    cal = Calibration.from_dict(
        {**FLAT.to_dict(), "levels": [["L3", capacity, 4e10], ["memory", None, 1e10]]}
    )
    grid = cache_regime_sizes(cal)
    for swept in ("H", "N"):
        sets = [8 * c["H"] ** 2 * c["N"] for c in grid if c["sweep"] == swept]
        assert len(set(sets)) == len(sets) == 6
        assert sum(s < capacity for s in sets) >= 2 and sum(s > capacity for s in sets) >= 2


def test_cache_regimes_needs_a_border():
    from analyzer.regimes import cache_regime_sizes

    flat = Calibration.from_dict(
        {**FLAT.to_dict(), "levels": [["memory", None, 1e10]], "meta": {"caches": []}}
    )
    with pytest.raises(AnalyzerError, match="no cache border"):
        cache_regime_sizes(flat)


def test_cache_regimes_falls_back_on_the_nominal_last_level_cache():
    from analyzer.regimes import FACTORS, cache_regime_sizes, last_border

    nominal = {"caches": [["L1", 49152], ["L2", 2**21], ["L3", 3 * 2**25]]}
    flat = Calibration.from_dict(
        {**FLAT.to_dict(), "levels": [["memory", None, 1e10]], "meta": nominal}
    )
    assert last_border(flat) == ("L3 (nominal)", 3 * 2**25)
    working_sets = sorted(8 * c["H"] ** 2 * c["N"] for c in cache_regime_sizes(flat))
    below = [w for w in working_sets if w < 3 * 2**25]
    assert len(below) >= 4 and len(working_sets) - len(below) >= 4  # both sweeps straddle it
    assert max(working_sets) == pytest.approx(max(FACTORS) * 3 * 2**25, rel=0.1)


def test_cache_regimes_study_writes_both_predictions(tmp_path):
    from analyzer.regimes import cache_regimes

    cal = Calibration.from_dict(
        {**FLAT.to_dict(), "levels": [["L2", 2e5, 4e10], ["memory", None, 1e10]]}
    )
    outcome = cache_regimes(out=tmp_path, calibration=cal, repeat=1, min_seconds=0, progress=False)
    fits = pd.read_csv(tmp_path / "fits.csv")
    assert {"predicted", "predicted_asymptotic", "predicted_machine", "explanation"} <= set(
        fits.columns
    )
    timed = fits[fits["y"] == "seconds"]
    assert set(timed["x"]) == {"H", "N"} and timed["predicted_machine"].notna().all()
    assert outcome.report.exists()


def test_reread_and_cold_steps_by_hand():
    cal = Calibration.from_dict(
        {
            **FLAT.to_dict(),
            "read": [[1e3, 40 * GB], [1e9, 10 * GB]],
            "reread": [[1e8, 1e5, 20 * GB], [1e8, 1e7, 5 * GB]],
            "cold_after": [[1e6, 0.0], [1e8, 6e-5]],
            "cold_start": [[1e6, 0.0], [1e8, 2e-5]],
        }  # fmt: skip
    )
    record = step("dense·dense", "(1×1000)·(1000×1000)", 10**6, 8_008_000, 8000)
    b = 8_008_000  # bytes read
    # after a 1e8-byte stream: the table's row, log-log between (1e5, 20) and (1e7, 5) GB/s
    after = 20 * GB * (5 / 20) ** (math.log(b / 1e5) / math.log(100))
    p = predict_step(cal, record, working_set=1e9, touched_before=1e8)
    assert p.read == pytest.approx(b / after)
    # overhead: the FLAT step overhead plus the cold excess after a step that touched 1e8
    assert p.overhead == pytest.approx(FLAT.overhead("dense·dense") + 6e-5)
    # as the first step of a repetition: the start curve, halfway in log bytes at 1e7
    p = predict_step(cal, record, working_set=1e9, touched_before=1e7, first=True)
    assert p.overhead == pytest.approx(FLAT.overhead("dense·dense") + 1e-5)
    # at no other traffic the read curve at b itself (log-log between 1e3 and 1e9)
    steady = 40 * GB * (10 / 40) ** (math.log(b / 1e3) / math.log(1e6))
    assert predict_step(cal, record, working_set=b).read == pytest.approx(b / steady)
    # halfway in log(b + D) between b (D = 0) and b + 1e8
    mid = math.sqrt(b * (b + 1e8))
    expected = math.exp((math.log(steady) + math.log(after)) / 2)
    assert cal.reread_bandwidth(b, mid) == pytest.approx(expected)
    # without a table, cold or reread data: the read curve at the reuse distance, no excess
    flat = predict_step(FLAT, record, working_set=1e9, touched_before=1e9, first=True)
    assert flat == predict_step(FLAT, record, working_set=1e9)
    assert flat.read == pytest.approx(b / FLAT.read_bandwidth(1e9))


def test_predict_plan_follows_reuse():
    cal = Calibration.from_dict(
        {
            **FLAT.to_dict(),
            "read": [[1e6, 40 * GB], [1e8, 10 * GB]],
            "levels": [["L3", 1e7, 40 * GB], ["memory", None, 10 * GB]],
            "reread": [[1e7, 1e3, 25 * GB], [1e7, 1e4, 25 * GB]],
            "cold_after": [[1e6, 0.0], [1e7, 1e-5], [1e8, 3e-5]],
            "cold_start": [[1e6, 0.0], [1e8, 2e-5]],
        }  # fmt: skip
    )
    big = 8 * 1000 * 4000  # 32 MB: J(u,W) and the product J(y,W)
    steps = [
        step("dense·dense", "(1000×1000)·(1000×4000)", 1000**2 * 4000, 8e6 + big, big,
             "J(y,u)·J(u,W)"),
        step("dense·dense", "(1×1000)·(1000×4000)", 1000 * 4000, 8000 + big, 32000,
             "J(z,y)·J(y,W)"),
        step("dense·dense", "(1×1)·(1×1000)", 1000, 8 + 8000, 8000, "J(o,z)·J(z,w)"),
    ]  # fmt: skip
    factor_bytes = 8e6 + big + 8000 + 8 + 8000
    predictions, row = predict_plan(cal, steps, factor_bytes)
    ws = factor_bytes + big + 32000 + 8000
    base = FLAT.overhead("dense·dense")

    def excess(curve, touched):  # linear in log bytes between the points
        (x0, y0), (x1, y1) = (
            [(x, y) for x, y in curve if x <= touched][-1],
            next((x, y) for x, y in curve if x > touched),
        )
        return y0 + (y1 - y0) * math.log(touched / x0) / math.log(x1 / x0)

    # step 1 reads factors of the plan: the plan's working set is its reuse distance; it
    # starts a repetition after step 3, which touched 16,016 bytes: below cold_start's points
    assert predictions[0].working_set == ws
    assert predictions[0].overhead == pytest.approx(base)
    # step 2 reads J(y,W), written by step 1: the reuse distance is the traffic of the step
    # that wrote it and its own; step 1 touched 8 MB + 64 MB: the cold_after excess there
    assert predictions[1].working_set == steps[0]["bytes"] + steps[1]["bytes"]
    touched = steps[0]["bytes"]
    assert predictions[1].overhead == pytest.approx(
        base + excess([(1e7, 1e-5), (1e8, 3e-5)], touched)
    )
    # step 3 reads small factors: the reread table at 8008 bytes; step 2 touched 32,040,000
    assert predictions[2].read == pytest.approx(8008 / 25e9)
    assert predictions[2].overhead == pytest.approx(
        base + excess([(1e7, 1e-5), (1e8, 3e-5)], steps[1]["bytes"])
    )
    assert row["model_seconds"] == pytest.approx(sum(p.seconds for p in predictions))


def test_cold_excess_is_zero_at_the_reference_traffic_and_rises_to_the_first_point():
    # calibrated cold curves start at a 4 MiB stream with a positive excess; below it the
    # excess must fall to 0 at the reference traffic (COLD_FROM), not stay flat at 5 µs
    cal = Calibration.from_dict(
        {
            **FLAT.to_dict(),
            "cold_after": [[4e6, 5e-6], [2.7e8, 5e-5]],
            "cold_start": [[4e6, 8e-6], [2.7e8, 6e-5]],
        }  # fmt: skip
    )
    for touched in (1.0, 100.0, 1e3, COLD_FROM):
        assert cal.cold_extra(touched) == 0.0 and cal.cold_extra(touched, first=True) == 0.0
    middle = math.sqrt(COLD_FROM * 4e6)  # halfway in log bytes from COLD_FROM to 4e6
    assert cal.cold_extra(middle) == pytest.approx(2.5e-6)
    assert cal.cold_extra(middle, first=True) == pytest.approx(4e-6)
    assert cal.cold_extra(4e6) == pytest.approx(5e-6)
    assert cal.cold_extra(1e10, first=True) == pytest.approx(6e-5)  # flat beyond the last
    # a plan of tiny steps (the kind the step overhead is measured on) pays exactly the
    # calibrated step overhead: no cold excess
    p = plan(one_layer(3, 2), "output-first")
    steps = p.steps.to_dict("records")
    predictions, _ = predict_plan(cal, steps, 1000.0)
    for record, prediction in zip(steps, predictions, strict=True):
        assert prediction.overhead == cal.overhead(record["structures"])


def test_reread_row_that_ends_below_a_read_prices_it_on_the_read_curve():
    # the 4 MB stream's row measured reads up to 1 MB only, the 16 MB stream's up to 4 MB
    read = [[1e3, 40 * GB], [1e10, 10 * GB]]
    cal = Calibration.from_dict(
        {
            **FLAT.to_dict(),
            "read": read,
            "reread": [
                [4e6, 1e4, 5 * GB],
                [4e6, 1e6, 5 * GB],
                [1.6e7, 1e4, 30 * GB],
                [1.6e7, 4e6, 30 * GB],
            ],
        }  # fmt: skip
    )

    def steady(x):  # the read curve, log-log between its two points
        return 40 * GB * (10 / 40) ** (math.log(x / 1e3) / math.log(1e7))

    b = 2e6  # larger than the 4 MB row: its point is the read curve at b + 4 MB
    assert cal.reread_bandwidth(b, b + 4e6) == pytest.approx(steady(b + 4e6))
    # halfway in log distance between that point and the 16 MB row's 30 GB/s
    mid = math.sqrt((b + 4e6) * (b + 1.6e7))
    expected = math.sqrt(steady(b + 4e6) * 30 * GB)
    assert cal.reread_bandwidth(b, mid) == pytest.approx(expected)
    # within both rows the rows speak; larger than every row, the read curve at the distance
    assert cal.reread_bandwidth(1e6, 1e6 + 4e6) == pytest.approx(5 * GB)
    assert cal.reread_bandwidth(5e6, 1e8) == pytest.approx(steady(1e8))


def test_cold_chains_take_a_tiny_step_right_after_the_stream():
    # the calibration's synthetic chains: the timed step is tiny and follows the stream (the
    # first two touch that many bytes, the third writes that many to a fresh result)
    for stream in (COLD_FROM, 2**22):
        chains = calibration_module._cold_chains(stream)
        columns = ["bytes", "bytes", "bytes_written"]
        for (dims, order, index), column in zip(chains, columns, strict=True):
            steps = plan(chain(dims), order).steps
            assert steps.iloc[index]["macs"] <= 512
            before = steps.iloc[index - 1]  # for index 0: the last step of the repetition
            assert stream <= before[column] <= 1.1 * stream
        (dims, order, index) = chains[2]
        writer = plan(chain(dims), order).steps.iloc[index - 1]
        assert writer["bytes_written"] == stream and writer["bytes"] <= 2 * stream + 16


@pytest.mark.parametrize("llc", [3e7, 6e7, 1.5e8, 3e8, 1.2e9])
def test_reread_and_cold_streams_reach_past_the_fitted_last_level_cache(llc):
    # a machine with a larger last-level cache than 256 MiB gets longer streams (when the
    # largest working set allows): the longest is at least the cache, at most 4 times it
    levels = (("L2", 2e6, 4e10), ("L3", llc, 2e10), ("memory", math.inf, 1e10))
    streams = calibration_module._streams(calibration_module._stream_top(levels, 2**32))
    assert max(streams) >= llc and max(streams) <= max(4 * llc, 2**28)
    # never longer than the largest working set measured
    assert calibration_module._stream_top(levels, 2**25) == 2**25


def test_summary_shows_the_reread_row_and_the_cold_excess():
    cal = Calibration.from_dict(
        {
            **FLAT.to_dict(),
            "reread": [[4e6, 1e4, 30 * GB], [2.5e8, 1e4, 11 * GB], [2.5e8, 1.6e7, 13 * GB]],
            "cold_after": [[4e6, 5e-6], [2.7e8, 4.75e-5]],
            "cold_start": [[4e6, 8e-6], [2.7e8, 6.1e-5]],
        }
    )
    lines = cal.summary().splitlines()
    assert lines[-2] == "reread after a 250 MB stream: 11 GB/s at 10 kB, 13 GB/s at 16 MB"
    assert lines[-1] == (
        "cold step excess: within a repetition 47.5 µs after 270 MB; at its start 61 µs after "
        "270 MB"
    )
    assert len(FLAT.summary().splitlines()) == 4  # nothing of tables it does not have


def test_fit_bandwidth_names_in_order_and_skips_overhead_points():
    sizes = [2 ** (14 + i / 2) for i in range(33)]
    rates = synthetic([(3e5, 45 * GB), (3e6, 55 * GB), (4e7, 24 * GB), (math.inf, 9 * GB)], sizes)
    rates[0] = 5 * GB  # a per-call overhead artifact at 16 KiB
    caches = [("L1", 48 * 1024), ("L2", 2**21), ("L3", 300 * 2**20)]
    levels = fit_bandwidth(sizes, rates, caches)
    names = [name for name, _, _ in levels]
    assert names[-3:] == ["L2", "L3", "memory"]  # a rate growing with size is no border
    capacities = [c for _, c, _ in levels]
    assert capacities == sorted(capacities)


def test_fit_bandwidth_small_drop_beyond_the_last_cache_is_memory():
    sizes = [2 ** (14 + i / 2) for i in range(33)]
    rates = synthetic([(2.4e6, 57 * GB), (5.7e7, 21.5 * GB), (6.3e8, 15.6 * GB),
                       (math.inf, 11.3 * GB)], sizes)  # fmt: skip
    levels = fit_bandwidth(sizes, rates, [("L1", 48 * 1024), ("L2", 2**21), ("L3", 300 * 2**20)])
    assert [n for n, _, _ in levels] == ["L2", "L3", "memory"]
    assert 2**25 <= levels[1][1] <= 2**26.5


def test_cli_calibrate_prints_the_rates(monkeypatch, tmp_path, capsys):
    from analyzer import machine
    from analyzer.cli import main

    monkeypatch.setenv("ANALYZER_CACHE_DIR", str(tmp_path))
    seen = {}

    real = machine.calibrate

    def fake(threads=1, **kwargs):
        seen.update(kwargs, threads=threads)
        return real(threads, **kwargs)

    monkeypatch.setattr(machine, "calibrate", fake)
    monkeypatch.setattr(calibration_module, "_measure", lambda *args: FLAT)
    assert main(["calibrate", "--quick", "--refresh"]) == 0
    out = capsys.readouterr().out
    assert "read bandwidth: L2 (up to 2 MB) 40 GB/s, memory 20 GB/s" in out
    assert f"cached in {calibration_module.cache_path(True, 1)}" in out
    assert calibration_module.cache_path(True, 1).is_file()
    assert {k: seen[k] for k in ("quick", "refresh", "threads")} == {
        "quick": True,
        "refresh": True,
        "threads": 1,
    }
    assert main(["calibrate", "--bogus"]) == 2


def test_explained_needs_a_computed_cause():
    # The model bends the slope but no regime changes between sizes: no cause, no ``explained``.
    rows = sweep_rows(HS, 1e-9 * HS**2 * 64 * JUMP, 1e-9 * HS**2 * 64 * JUMP, ["memory"] * 5)
    assert explain(rows, "H") == ""
    fit = fit_exponents(rows, x="H", min_seconds=0).iloc[0]
    assert abs(fit["slope"] - fit["predicted_machine"]) <= 0.15  # the machine slope matches
    assert fit["verdict"] == "fail" and fit["explanation"] == ""


def test_explained_needs_a_tight_interval():
    # Noisy times around the machine model: the 95% interval is loose and holds the count's 2.
    # The noise is orthogonal to (1, log H), so the fitted slope stays the model's.
    basis = np.vstack([np.ones(5), np.log(HS)]).T
    zigzag = np.array([0.0, 1, -1, 1, -1])
    residual = zigzag - basis @ np.linalg.lstsq(basis, zigzag, rcond=None)[0]
    model = 1e-9 * HS**2 * 64 * JUMP
    rows = sweep_rows(HS, model * np.exp(0.15 * residual), model, LEVELS)
    fit = fit_exponents(rows, x="H", min_seconds=0, tolerance=0.5).iloc[0]
    assert fit["ci_high"] - fit["ci_low"] <= 4 * 0.5  # not inconclusive for the usual rule
    half = (fit["ci_high"] - fit["ci_low"]) / 2
    assert half > 0.15 and fit["ci_low"] <= 2.0 <= fit["ci_high"]
    assert abs(fit["slope"] - fit["predicted_machine"]) <= 0.15
    assert abs(fit["slope"] - 2.0) > 0.5
    assert fit["verdict"] == "inconclusive" and fit["explanation"] == ""


def test_cli_calibrate_says_when_the_cache_cannot_be_written(monkeypatch, tmp_path, capsys):
    from analyzer.cli import main

    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    monkeypatch.setenv("ANALYZER_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setattr(calibration_module, "_measure", lambda *args: FLAT)
    assert main(["calibrate", "--quick"]) == 0
    captured = capsys.readouterr()
    assert "cached in" not in captured.out
    assert captured.err.startswith("not cached: cannot write")
    assert str(blocker / "cache") in captured.err and len(captured.err.splitlines()) == 1


def test_quick_callers_take_the_newer_cached_calibration(tmp_path, monkeypatch):
    monkeypatch.setenv("ANALYZER_CACHE_DIR", str(tmp_path))
    quick = Calibration(**{**FLAT.__dict__, "elementwise": 1e9, "meta": {"mode": "quick"}})
    made = {"full": FLAT, "quick": quick}
    monkeypatch.setattr(calibration_module, "_measure", lambda mode, *args: made[mode])
    calibrate()  # a full calibration is cached
    assert calibrate(quick=True) == FLAT  # it serves quick callers
    assert calibrate(quick=True, refresh=True) == quick
    full_path = calibration_module.cache_path(False, 1)
    quick_path = calibration_module.cache_path(True, 1)
    os.utime(full_path, (1e9, 1e9))  # the full one is older
    os.utime(quick_path, (2e9, 2e9))
    assert calibrate(quick=True) == quick  # the refresh is seen
    assert calibrate() == FLAT  # full callers keep the full one
    os.utime(full_path, (3e9, 3e9))
    assert calibrate(quick=True) == FLAT


@pytest.mark.parametrize(
    "levels",
    [
        (("L2", -2e6, 40 * GB), ("memory", math.inf, 20 * GB)),  # negative capacity
        (("L2", 2e6, -40 * GB), ("memory", math.inf, 20 * GB)),  # negative bandwidth
        (("L2", 2e6, 40 * GB), ("memory", math.inf, math.nan)),  # NaN bandwidth
        (("L3", 4e7, 40 * GB), ("L2", 2e6, 40 * GB), ("memory", math.inf, 20 * GB)),  # order
        (("L2", 2e6, 40 * GB), ("memory", 1e12, 20 * GB)),  # the last level is not memory
        (("L2", 2e6, 40 * GB), ("memory", math.inf, 20 * GB), ("x", math.inf, 1.0)),
        (("L2", 2e6),),  # not a triple
    ],
)
def test_bad_levels_are_refused(levels):
    with pytest.raises(AnalyzerError, match="Calibration: level"):
        Calibration(**{**FLAT.__dict__, "levels": levels})


def test_a_corrupt_cache_is_measured_again(measured):
    calls = measured
    path = calibration_module.cache_path()
    good = {"version": CALIBRATION_VERSION, **FLAT.to_dict()}
    bad = dict(good, levels=[["L2", -2e6, 4e10], ["memory", None, 2e10]])
    for text in (json.dumps(bad), "[" * 100_000 + "]" * 100_000):
        path.write_text(text)
        assert calibrate() == FLAT
    assert calls == ["full", "full"]
    assert calibrate() == FLAT and len(calls) == 2  # the good one written back is read


def test_a_jump_from_a_smaller_cache_to_memory_names_that_cache():
    # L2 -> memory, with L3 the last level: the L2 cache is not "the last-level cache"
    levels = ["L2", "L2", "memory", "memory", "memory"]
    rows = sweep_rows(HS, 1.0, 1.0, levels)
    rows["model_capacity"] = [2e6, 2e6, math.inf, math.inf, math.inf]
    note = explain(rows, "H")
    assert "leaves the L2 cache (2 MB) for memory between H=384 and H=512" in note
    assert "last-level" not in note
    # without the record of the last level, no level is called the last one
    assert "last-level" not in explain(rows.drop(columns="model_last_level"), "H")
    rows["model_last_level"] = "L2"
    assert "leaves the last-level cache (L2, 2 MB) between H=384" in explain(rows, "H")


@pytest.mark.parametrize(("written", "marked"), [(8000, False), (8_000_000, True)])
def test_fresh_results_are_priced_on_the_fresh_curve_at_every_size(written, marked):
    # FLAT: fresh writes 10 GB/s, reused 40 GB/s, first touch from 1 MB (the docstring's rule)
    s = step("dense·dense", "(1×1)·(1×1)", 1, written + 16, written)
    fresh = predict_step(FLAT, s)
    reused = predict_step(FLAT, s, fresh=False)
    assert fresh.write == pytest.approx(written / (10 * GB))
    assert reused.write == pytest.approx(written / (40 * GB))
    assert fresh.fresh is marked and reused.fresh is False


def test_structured_steps_run_at_their_kernels_rate():
    cal = Calibration.from_dict(
        {**FLAT.to_dict(), "kernel_rates": {"dense·row-block": 5e8, "diagonal·dense": 2e9}}
    )
    row_block = step("dense·row-block", "(1×100)·(100×10000)", 10**4, 8800 + 8 * 10**4, 8 * 10**4)
    p = predict_step(cal, row_block)
    assert p.compute == pytest.approx(10**4 / 5e8)  # the kernel's rate, not elementwise
    assert predict_step(FLAT, row_block).compute == pytest.approx(10**4 / FLAT.elementwise)
    # a pair without a calibrated kernel, and a dense scaling, run at the elementwise rate
    other = step("row-block·diagonal", "(100×10000)·(10000×10000)", 10**4, 16 * 10**4, 8 * 10**4)
    assert predict_step(cal, other).compute == pytest.approx(10**4 / FLAT.elementwise)
    scaling = step("dense·dense", "(1×1)·(1×1000)", 1000, 8 + 8000 + 8000, 8000)
    assert predict_step(cal, scaling).compute == pytest.approx(1000 / FLAT.elementwise)
    assert Calibration.from_dict(json.loads(json.dumps(cal.to_dict()))) == cal


@pytest.mark.parametrize(
    "rates", [{"dense·row-block": 0}, {"dense·row-block": float("nan")}, [1, 2], {"x": "fast"}]
)
def test_bad_kernel_rates_are_refused(rates):
    with pytest.raises(AnalyzerError, match="kernel_rates"):
        Calibration.from_dict({**FLAT.to_dict(), "kernel_rates": rates})


def test_curves_are_measured_in_interleaved_passes(monkeypatch):
    """Every job warms up once, then each pass visits every job in turn; a job's seconds are
    the median over passes of what each pass measured (a slow spell in one pass is outvoted)."""
    calls, befores = [], []
    jobs = [
        (lambda: calls.append("a"), lambda: befores.append("a")),
        (lambda: calls.append("b"), None),
    ]
    timed = iter([5.0, 1.0, 6.0, 2.0, 4.0, 90.0])  # pass by pass: a, b
    seen = []

    def fake_median(fn, budget, repeats, before, warm):
        seen.append((budget, repeats, warm))
        if before is not None:
            before()
        fn()
        return next(timed)

    monkeypatch.setattr(calibration_module, "_median", fake_median)
    seconds = calibration_module._interleaved(jobs, 0.3, 3)
    assert seconds == [5.0, 2.0]  # medians of (5, 6, 4) and (1, 2, 90)
    assert calls == ["a", "b"] + ["a", "b"] * 3  # warm-ups first, then interleaved passes
    assert befores == ["a"] * 3  # before each timed call, not before the warm-up
    assert seen == [(0.3 / 3, 1, False)] * 6  # each pass gets its share of the budget


def test_interleaved_passes_time_real_calls():
    spent = calibration_module._interleaved([(lambda: sum(range(2000)), None)] * 2, 1e-3, 2)
    assert len(spent) == 2 and all(s > 0 for s in spent)


def test_a_kernel_curve_prices_the_whole_step_by_hand():
    """A kernel calibrated as a curve: overhead + macs / rate(macs), rate interpolated in
    log-log between its points (1e9 at 1e4 macs, 1e8 at 1e8 macs: 10**8.5 at 1e6)."""
    curve = [[1e4, 1e9], [1e8, 1e8]]
    cal = Calibration.from_dict({**FLAT.to_dict(), "kernel_rates": {"dense·row-block": curve}})
    s = step("dense·row-block", "(1×100)·(100×1000000)", 10**6, 8 * 10**6 + 800, 8 * 10**6)
    p = predict_step(cal, s)
    rate = 10 ** (9 - 0.5)  # halfway in log macs between 1e4 and 1e8
    assert p.compute == pytest.approx(1e6 / rate)
    assert p.read == p.write == 0.0
    assert p.seconds == pytest.approx(FLAT.step_overhead["default"] + 1e6 / rate)
    assert p.bound == "kernel"
    # flat beyond its ends, and another pair still at the elementwise rate
    big = step("dense·row-block", "(1×100)·(100×1e9)", 10**10, 16 * 10**10, 8 * 10**10)
    assert predict_step(cal, big).compute == pytest.approx(1e10 / 1e8)
    other = step("diagonal·dense", "(1×1)·(1×1000)", 1000, 8 + 8000 + 8000, 8000)
    assert predict_step(cal, other).compute == pytest.approx(1000 / FLAT.elementwise)
    # the curve and a plain rate side by side survive the JSON round trip
    both = Calibration.from_dict(
        {**FLAT.to_dict(), "kernel_rates": {"dense·row-block": curve, "diagonal·dense": 2e9}}
    )
    assert Calibration.from_dict(json.loads(json.dumps(both.to_dict()))) == both
    assert "dense·row-block 1 G (10 k macs) .. 0.1 G (100 M macs)" in both.summary()


@pytest.mark.parametrize(
    "curve", [[[1e4, -1.0]], [[1e4]], [], [[1e4, 1e9], [1e4, 2e9]], [["a", 1e9]], {"x": 1}]
)
def test_bad_kernel_curves_are_refused(curve):
    with pytest.raises(AnalyzerError, match="kernel_rates"):
        Calibration.from_dict({**FLAT.to_dict(), "kernel_rates": {"dense·row-block": curve}})


def test_kernel_curves_are_measured_on_the_executors_kernels():
    """One point per size and kernel; the macs are those of the structured product itself
    (a row-block result of 256 rows: one mac per result element, or per stored one)."""
    curves = calibration_module._kernel_rates([2**10, 2**12], 1e-4, 0.0, 2)
    assert sorted(curves) == sorted(calibration_module._kernel_pairs(2**10))
    for name, points in curves.items():
        assert [m for m, _ in points] == [2**10, 2**12], name
        assert all(r > 0 and math.isfinite(r) for _, r in points)


def test_a_step_after_a_fresh_write_pays_the_larger_cold_excess_by_hand():
    """cold_write prices the step after one that wrote to fresh pages; the step pays the
    larger of that and the read curve (here 0 to 80 µs over 64 KiB..1e8 bytes written)."""
    write_curve = ((1e8, 8e-5),)
    cal = Calibration.from_dict({**FLAT.to_dict(), "cold_write": write_curve,
                                 "cold_after": ((1e8, 2e-5),)})  # fmt: skip
    tiny = step("dense·dense", "(1×1)·(1×1)", 1, 24, 8)
    share = math.log(1e7 / COLD_FROM) / math.log(1e8 / COLD_FROM)  # linear in log bytes
    after_write = predict_step(cal, tiny, touched_before=2e7, written_before=1e7)
    after_read = predict_step(cal, tiny, touched_before=2e7)
    base = predict_step(FLAT, tiny).seconds
    assert after_write.seconds - base == pytest.approx(8e-5 * share)
    read_share = math.log(2e7 / COLD_FROM) / math.log(1e8 / COLD_FROM)
    assert after_read.seconds - base == pytest.approx(2e-5 * read_share)
    # predict_plan hands each step the bytes its predecessor wrote (cyclically)
    big = step("dense·dense", "(1×1)·(1×1250000)", 1250000, 2 * 10**7 + 8, 10**7)
    preds, _ = predict_plan(cal, [tiny, big], 0.0)
    assert preds[0].overhead == pytest.approx(
        FLAT.overhead("dense·dense") + cal.cold_extra(2e7 + 8, True, 1e7)
    )
    assert cal.cold_extra(2e7 + 8, True, 1e7) == pytest.approx(8e-5 * share)
    with pytest.raises(AnalyzerError, match="written_before"):
        predict_step(cal, tiny, written_before=-1)
    assert Calibration.from_dict(json.loads(json.dumps(cal.to_dict()))) == cal
