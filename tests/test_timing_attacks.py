"""Hostile inputs against the timing in passes (sweep), min_repeat (execute) and resume."""

from __future__ import annotations

import json
import math
import time as real_time
import tracemalloc

import numpy as np
import pandas as pd
import pytest

import analyzer.executor as executor
import analyzer.machine.calibration as calibration
import analyzer.measure as measure
from analyzer.errors import AnalyzerError, PlanError
from analyzer.executor import execute
from analyzer.machine import Roofline
from analyzer.measure import MIN_REPEAT, sweep
from analyzer.models import one_layer
from analyzer.planning import plan

R = Roofline(1e9, 1e10)
FAST = {"repeat": 1, "min_seconds": 0, "progress": False, "roofline": R}
ONE = {**FAST, "orders": ("input-first",)}
GRID = {"H": [4, 5, 6], "N": [3]}


class Interrupting:
    """Stand-in for ``analyzer.measure.execute``: a KeyboardInterrupt on call ``fail_on``;
    records the sizes of each plan it times."""

    def __init__(self, fail_on: int | None = None):
        self.calls = 0
        self.fail_on = fail_on
        self.timed: list[int] = []
        self.real = measure.execute

    def __call__(self, p, *args, **kwargs):
        self.calls += 1
        if self.calls == self.fail_on:
            raise KeyboardInterrupt
        self.timed.append(int(p.problem.graph.graph["sizes"]["H"]))
        return self.real(p, *args, **kwargs)


class SlowClock:
    """A ``time`` module whose clock advances one second at every reading: every run looks
    long (several seconds), so time budgets, not repeat counts, decide."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 1.0
        return self.now

    def __getattr__(self, name):
        return getattr(real_time, name)


def forbid_execute(*args, **kwargs):
    raise AssertionError("execute must not run")


def temp_files(folder):
    return [p.name for p in folder.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]


# ---------------------------------------------------------------- bad values, refused early
@pytest.mark.parametrize("bad", ["0.1", None, -1, -0.0001, math.nan, math.inf, True, [0.1]])
def test_bad_min_seconds_is_refused_by_name_before_any_work(monkeypatch, tmp_path, bad):
    monkeypatch.setattr(measure, "execute", forbid_execute)
    with pytest.raises(AnalyzerError, match=r"min_seconds") as error:
        sweep("one-layer", GRID, **{**ONE, "min_seconds": bad}, passes=2, out=tmp_path / "o")
    assert repr(bad) in str(error.value)  # the value given, not a share of it
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("name", "bad"), [("repeat", True), ("warmup", -1), ("warmup", True)])
def test_bad_repeat_or_warmup_is_refused_before_any_work(monkeypatch, tmp_path, name, bad):
    monkeypatch.setattr(measure, "execute", forbid_execute)
    with pytest.raises(AnalyzerError, match=name):
        sweep("one-layer", GRID, **{**ONE, name: bad}, passes=2, out=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_numpy_float_min_seconds_is_a_number():
    df = sweep("one-layer", {"H": [4], "N": [3]}, **{**ONE, "min_seconds": np.float32(0)})
    assert len(df) == 1 and df["repeats"].iloc[0] >= 2  # a run in each of the 2 passes


def test_huge_passes_does_not_build_its_schedule_first(monkeypatch):
    counter = Interrupting(fail_on=2)
    monkeypatch.setattr(measure, "execute", counter)
    tracemalloc.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            sweep("one-layer", {"H": list(range(4, 14)), "N": [3]}, **ONE, passes=10**6)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert counter.calls == 2
    assert peak < 50 * 2**20  # not a list of 10**7 (pass, configuration) pairs


@pytest.mark.parametrize("bad", [10**6 + 1, 10**400])
def test_passes_beyond_a_million_are_refused_by_name(monkeypatch, bad):
    monkeypatch.setattr(measure, "execute", forbid_execute)
    with pytest.raises(AnalyzerError, match=r"passes must be a positive integer \(at most"):
        sweep("one-layer", {"H": [4], "N": [3]}, **ONE, passes=bad)


@pytest.mark.parametrize(("repeat", "passes"), [(1001, 1), (2001, 2), (5000, 3), (10**30, 1)])
def test_repeat_over_the_cap_is_refused_naming_the_value_given(monkeypatch, repeat, passes):
    monkeypatch.setattr(measure, "execute", forbid_execute)
    with pytest.raises(AnalyzerError, match=rf"repeat must be at most .*got {repeat}$"):
        sweep("one-layer", {"H": [4], "N": [3]}, **{**ONE, "repeat": repeat}, passes=passes)


@pytest.mark.parametrize("passes", [2, 3, 5])
def test_passes_larger_than_repeat_time_each_pass_once(passes):
    df = sweep("one-layer", {"H": [4], "N": [3]}, **ONE, passes=passes)
    assert df["repeats"].iloc[0] >= passes


# ---------------------------------------------------------------- min_repeat
@pytest.mark.parametrize("bad", [0, -1, True, 2.0, "3"])
def test_execute_refuses_bad_min_repeat(bad):
    with pytest.raises(PlanError, match="min_repeat"):
        execute(plan(one_layer(3, 2), "input-first"), repeat=3, min_repeat=bad)


@pytest.mark.parametrize(
    ("min_repeat", "expected"), [(None, 6), (2, 2), (np.int64(3), 3), (1, 1), (50, 6)]
)
def test_execute_stops_at_min_repeat_once_runs_are_long(monkeypatch, min_repeat, expected):
    monkeypatch.setattr(executor, "time", SlowClock())
    p = plan(one_layer(3, 2), "input-first")
    run = execute(p, repeat=6, max_repeat=6, min_seconds=0, max_seconds=1.0, min_repeat=min_repeat)
    assert run.repeats == len(run.times) == expected


@pytest.mark.parametrize("passes", [1, 2, 3, 4])
def test_long_runs_still_get_min_repeat_runs_over_all_passes(monkeypatch, passes):
    monkeypatch.setattr(executor, "time", SlowClock())
    df = sweep("one-layer", {"H": [4], "N": [3]}, **{**ONE, "repeat": 5}, passes=passes)
    assert df["repeats"].iloc[0] >= MIN_REPEAT


def test_traced_run_is_a_warm_up_and_not_timed(monkeypatch):
    traced = []
    real = executor._traced_run
    monkeypatch.setattr(executor, "_traced_run", lambda *a: traced.append(1) or real(*a))
    p = plan(one_layer(3, 2), "input-first")
    for warmup in (0, 1, 3):
        traced.clear()
        run = execute(p, repeat=2, warmup=warmup, min_seconds=0)
        assert traced == [1] and run.repeats == 2 and run.peak_bytes > 0


# ---------------------------------------------------------------- interrupts and resume
def _sweep(out, passes=2, **kw):
    return sweep("one-layer", GRID, **ONE, passes=passes, out=out, **kw)


@pytest.mark.parametrize("fail_on", [1, 2, 3, 4, 5, 6])
def test_interrupt_in_either_pass_leaves_whole_files_and_resume_redoes_the_rest(
    monkeypatch, tmp_path, fail_on
):
    monkeypatch.setattr(measure, "execute", Interrupting(fail_on=fail_on))
    with pytest.raises(KeyboardInterrupt):
        _sweep(tmp_path)
    assert temp_files(tmp_path) == []
    # pass 1 times H=4,5,6 (calls 1-3), pass 2 H=6,5,4 (calls 4-6); a configuration is
    # saved once its second pass ended
    saved = [6, 5, 4][: max(0, fail_on - 4)]
    if saved:
        results = pd.read_csv(tmp_path / "results.csv")
        steps = pd.read_csv(tmp_path / "steps.csv")
        assert sorted(results["H"]) == sorted(saved)
        assert set(steps["H"]) == set(saved)
        assert json.loads((tmp_path / "sweep.json").read_text())["passes"] == 2
    else:
        assert not (tmp_path / "results.csv").exists()
    counter = Interrupting()
    monkeypatch.setattr(measure, "execute", counter)
    df = _sweep(tmp_path, resume=True)
    missing = [h for h in (4, 5, 6) if h not in saved]
    assert counter.timed == missing + missing[::-1]  # both passes of exactly what is missing
    assert df["H"].tolist() == [4, 5, 6]  # the grid's order, as an uninterrupted sweep
    assert pd.read_csv(tmp_path / "results.csv")["H"].tolist() == [4, 5, 6]
    steps = pd.read_csv(tmp_path / "steps.csv")
    assert steps["H"].tolist() == sorted(steps["H"])
    assert (df["repeats"] >= 2).all() and (df["peak_bytes_measured"] > 0).all()


@pytest.mark.parametrize("other", [1, 3])
def test_resume_with_other_passes_is_refused_by_name(tmp_path, other):
    _sweep(tmp_path)
    before = (tmp_path / "results.csv").read_bytes()
    with pytest.raises(AnalyzerError, match=r"different settings \(passes: saved"):
        _sweep(tmp_path, passes=other, resume=True)
    assert (tmp_path / "results.csv").read_bytes() == before


@pytest.mark.parametrize("damaged", ["2", -1, None, True, "missing"])
def test_damaged_passes_in_sweep_json_is_refused(tmp_path, damaged):
    _sweep(tmp_path)
    saved = json.loads((tmp_path / "sweep.json").read_text())
    if damaged == "missing":
        del saved["passes"]  # a sweep from before passes: one pass
    else:
        saved["passes"] = damaged
    (tmp_path / "sweep.json").write_text(json.dumps(saved))
    with pytest.raises(AnalyzerError, match="passes"):
        _sweep(tmp_path, resume=True)


def test_duplicated_configuration_is_timed_once_and_kept_twice(monkeypatch):
    counter = Interrupting()
    monkeypatch.setattr(measure, "execute", counter)
    df = sweep("one-layer", [{"H": 4, "N": 3}, {"H": 4, "N": 3}], **ONE, passes=2)
    assert counter.timed == [4, 4]  # one plan, two passes
    assert len(df) == 2 and df["seconds"].nunique() == 1


# ---------------------------------------------------------------- interleaved calibration
def test_calibrate_refuses_top_and_gemm_n_that_only_together_overfill_memory(monkeypatch):
    # the interleaved passes keep the read/write buffers (2 top) and the square product
    # (3 gemm_n² doubles) alive at once: each under half the memory, together over it
    top, gemm_n = 2**17, 64
    alone = max(2 * top, 24 * gemm_n**2)
    memory = 2 * (2 * top + 24 * gemm_n**2) - 2  # half of it: over each, under their sum
    assert alone <= memory // 2
    monkeypatch.setattr(calibration, "available_memory", lambda: memory)
    monkeypatch.setattr(calibration, "_measure", forbid_execute)
    with pytest.raises(AnalyzerError, match=r"top=131072 and gemm_n=64 together"):
        calibration.calibrate(cache=False, top=top, gemm_n=gemm_n, budget=1e-4, quick=True)


@pytest.mark.parametrize("quick", [True, False])
@pytest.mark.parametrize(("top", "gemm_n"), [(1, 1), (2**15 + 1, 2), (3, 384)])
def test_calibrate_with_tiny_tops_and_budgets_gives_positive_rates(top, gemm_n, quick):
    cal = calibration.calibrate(cache=False, top=top, gemm_n=gemm_n, budget=1e-6, quick=quick)
    for size in (2**10, 2**14, 2**15, 2**20):
        assert cal.read_bandwidth(size) > 0 and np.isfinite(cal.read_bandwidth(size))
    for d in (1, gemm_n, 1000):
        assert cal.gemm_rate(d) > 0 and np.isfinite(cal.gemm_rate(d))


@pytest.mark.parametrize("rounds", [1, 2, 3])
def test_interleaved_times_every_job_in_every_round_in_turn(rounds):
    calls: list[str] = []
    jobs = [
        (lambda: calls.append("a"), lambda: calls.append("before a")),
        (lambda: calls.append("b"), None),
    ]
    seconds = calibration._interleaved(jobs, 0.0, rounds)
    assert len(seconds) == 2 and all(s >= 0 for s in seconds)
    assert calls[:2] == ["a", "b"]  # one warm-up call each
    # then, each round, at least one call of a (its ``before`` first), then of b
    assert calls[2:] == ["before a", "a", "b"] * rounds


def test_a_resumed_sweep_interrupted_again_resumes_again(monkeypatch, tmp_path):
    monkeypatch.setattr(measure, "execute", Interrupting(fail_on=5))  # H=6 done
    with pytest.raises(KeyboardInterrupt):
        _sweep(tmp_path)
    again = Interrupting(fail_on=4)  # H=4, 5 then 5 done, 4 interrupted
    monkeypatch.setattr(measure, "execute", again)
    with pytest.raises(KeyboardInterrupt):
        _sweep(tmp_path, resume=True)
    assert again.timed == [4, 5, 5]
    assert pd.read_csv(tmp_path / "results.csv")["H"].tolist() == [5, 6]
    last = Interrupting()
    monkeypatch.setattr(measure, "execute", last)
    df = _sweep(tmp_path, resume=True)
    assert last.timed == [4, 4]
    assert df["H"].tolist() == [4, 5, 6]
    assert temp_files(tmp_path) == []
