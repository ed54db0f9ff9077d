"""Tests of analyzer.measure: sweeps, their columns and closed-form counts, bad input, resume.

Nothing here asserts a wall-clock time: the rows' seconds are only checked for
consistency (gflops, roofline ratio, identical configurations measured once).
Every sweep gets a fixed roofline (so nothing calibrates), one repetition and
``min_seconds=0``.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import weakref

import numpy as np
import pandas as pd
import pytest
import sympy

import analyzer.measure as measure
from analyzer import models
from analyzer.errors import AnalyzerError
from analyzer.machine import Roofline
from analyzer.machine.explain import MODEL_COLUMNS
from analyzer.measure import (
    RESULT_COLUMNS,
    STEP_COLUMNS,
    load_sweep,
    memory_needed,
    normalize_grid,
    resolve_model,
    sweep,
)
from analyzer.planning import plan

R = Roofline(1e9, 1e10)
H_, N_ = sympy.symbols("H N")
SYMBOLS = {"H": H_, "N": N_}  # keeps sympy from reading N as its own function
FAST = {"repeat": 1, "min_seconds": 0, "progress": False, "roofline": R, "passes": 1}
ORDER_NAMES = ("input-first", "output-first", "optimal")
GRID = {"H": [4, 8], "N": [3]}

# closed forms of the one-layer network's gradient (the sheet's Q8/Q9)
CLOSED = {
    ("dense", "input-first"): lambda H, N: H**3 * N + H**2 * N + H * N + H,
    ("dense", "output-first"): lambda H, N: H**2 * N + H**2 + 2 * H,
    ("structured", "input-first"): lambda H, N: 3 * H * N + H,
    ("structured", "output-first"): lambda H, N: H * N + 3 * H,
}
LEADING = {
    ("dense", "input-first"): "H**3*N",
    ("dense", "output-first"): "H**2*N",
    ("dense", "optimal"): "H**2*N",
}


@pytest.fixture(scope="module")
def both():
    """One-layer at H in {4, 8}, N = 3, every order, both cost models."""
    return sweep("one-layer", GRID, cost=["dense", "structured"], **FAST)


class CountingExecute:
    """Stand-in for ``analyzer.measure.execute`` that counts calls and can fail on one."""

    def __init__(self, fail_on: int | None = None, error: type[BaseException] = RuntimeError):
        self.calls = 0
        self.fail_on = fail_on
        self.error = error
        self.real = measure.execute

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.fail_on is not None and self.calls == self.fail_on:
            raise self.error("stop here")
        return self.real(*args, **kwargs)


def forbid_execute(*args, **kwargs):
    raise AssertionError("execute must not run")


def temp_files(folder):
    return [p.name for p in folder.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]


# ---------------------------------------------------------------- columns and counts
def test_columns_are_result_columns_with_the_sizes(both):
    assert list(both.columns) == RESULT_COLUMNS[:4] + ["H", "N"] + RESULT_COLUMNS[4:]


def test_one_row_per_configuration_cost_and_order(both):
    assert len(both) == 2 * 2 * 3
    keys = set(zip(both["H"], both["N"], both["cost"], both["order"], strict=True))
    assert len(keys) == len(both)
    assert set(both["order"]) == set(ORDER_NAMES)
    assert set(both["cost"]) == {"dense", "structured"}
    assert set(both["model"]) == {"one-layer"}


@pytest.mark.parametrize(("cost", "order"), sorted(CLOSED))
def test_planned_macs_equal_the_closed_forms(both, cost, order):
    rows = both[(both["cost"] == cost) & (both["order"] == order)]
    assert len(rows) == 2
    for r in rows.itertuples():
        assert r.macs == CLOSED[cost, order](r.H, r.N)
        # the formula column is the exact polynomial of that order
        formula = sympy.sympify(r.formula, locals=SYMBOLS)
        assert sympy.expand(formula - CLOSED[cost, order](H_, N_)) == 0


def test_optimal_is_no_dearer_than_either_end(both):
    for (cost, h), part in both.groupby(["cost", "H"]):
        macs = part.set_index("order")["macs"]
        assert macs["optimal"] <= min(macs["input-first"], macs["output-first"]), (cost, h)


@pytest.mark.parametrize(("order", "term"), sorted(LEADING.items()))
def test_leading_terms(both, order, term):
    cost, order = order
    assert set(both[(both["cost"] == cost) & (both["order"] == order)]["leading_term"]) == {term}


def test_structured_leading_terms_are_linear_in_both_sizes(both):
    terms = both[both["cost"] == "structured"]["leading_term"]
    for t in terms:
        expr = sympy.sympify(t, locals=SYMBOLS)
        assert sympy.degree(expr, H_) == 1
        assert sympy.degree(expr, N_) == 1


def test_gflops_is_two_macs_per_second(both):
    expected = 2 * both["macs"] / both["seconds"] / 1e9
    assert (both["seconds"] > 0).all()
    pd.testing.assert_series_equal(both["gflops"], expected, check_names=False, rtol=1e-12)


def test_timing_columns_are_consistent(both):
    assert (both["repeats"] >= 1).all()
    assert (both["seconds_min"] <= both["seconds"]).all()
    assert (both["seconds_iqr"] >= 0).all()
    assert (both["largest_intermediate"] > 0).all()
    assert (both["bytes"] > 0).all()


def test_roofline_seconds_recomputed_from_the_steps(both):
    steps = pd.DataFrame(both.attrs["steps"])
    assert list(steps.columns) == STEP_COLUMNS[:4] + ["H", "N"] + STEP_COLUMNS[4:]
    for r in both.itertuples():
        mine = steps[
            (steps["cost"] == r.cost)
            & (steps["order"] == r.order)
            & (steps["H"] == r.H)
            & (steps["N"] == r.N)
            & (steps["sweep"] == r.sweep)
        ]
        assert len(mine) >= 1
        assert mine["macs"].sum() == r.macs
        per_step = [
            max(m / R.macs_per_second, b / R.bytes_per_second)
            for m, b in zip(mine["macs"], mine["bytes"], strict=True)
        ]
        assert mine["roofline_seconds"].tolist() == pytest.approx(per_step, rel=1e-12)
        assert r.roofline_seconds == pytest.approx(sum(per_step), rel=1e-12)
        assert r.roofline_ratio == pytest.approx(r.seconds / r.roofline_seconds, rel=1e-12)


def test_roofline_with_a_write_rate_prices_written_bytes_apart():
    slow_write = Roofline(1e12, 1e10, 1e9)  # memory bound everywhere, writes 10x slower
    df = sweep("one-layer", {"H": [8], "N": [3]}, **{**FAST, "roofline": slow_write})
    steps = pd.DataFrame(df.attrs["steps"])
    assert (steps["bytes_written"] > 0).all()
    assert (steps["bytes_written"] <= steps["bytes"]).all()
    for r in df.itertuples():
        mine = steps[steps["order"] == r.order]
        expected = sum(
            max(m / 1e12, (b - w) / 1e10 + w / 1e9)
            for m, b, w in zip(mine["macs"], mine["bytes"], mine["bytes_written"], strict=True)
        )
        assert r.roofline_seconds == pytest.approx(expected, rel=1e-12)
        # and more than pricing every byte at the read rate
        assert r.roofline_seconds > mine["bytes"].sum() / 1e10


def test_attrs(both):
    assert set(both.attrs) >= {"steps", "machine", "roofline", "settings"}
    assert both.attrs["roofline"] == R.to_dict()
    assert "cpu_model" in both.attrs["machine"]
    settings = both.attrs["settings"]
    assert settings["model"] == "one-layer"
    assert settings["sizes"] == ["H", "N"]
    assert settings["orders"] == list(ORDER_NAMES)
    assert settings["costs"] == ["dense", "structured"]
    assert settings["grid"] == [{"H": 4, "N": 3, "sweep": "H"}, {"H": 8, "N": 3, "sweep": "H"}]
    json.dumps(settings)  # plain data


def test_aliases_are_canonicalised():
    df = sweep("one-layer", {"H": [4], "N": [3]}, orders=("forward", "backprop"), **FAST)
    assert df["order"].tolist() == ["input-first", "output-first"]


# ---------------------------------------------------------------- grids
def test_dict_grid_and_list_grid_give_the_same_counts():
    by_dict = sweep("one-layer", GRID, orders=("input-first",), **FAST)
    by_list = sweep(
        "one-layer", [{"H": 4, "N": 3}, {"H": 8, "N": 3}], orders=("input-first",), **FAST
    )
    assert by_dict["macs"].tolist() == by_list["macs"].tolist() == [256, 1760]
    assert set(by_dict["sweep"]) == {"H"}
    assert set(by_list["sweep"]) == {"grid"}


def test_list_grid_keeps_its_sweep_labels():
    grid = [{"H": 4, "N": 3, "sweep": "H"}, {"H": 4, "N": 5, "sweep": "N"}]
    df = sweep("one-layer", grid, orders=("output-first",), **FAST)
    assert df["sweep"].tolist() == ["H", "N"]
    assert df["N"].tolist() == [3, 5]


def test_identical_configurations_in_two_series_are_measured_once(monkeypatch):
    counter = CountingExecute()
    monkeypatch.setattr(measure, "execute", counter)
    grid = [{"H": 4, "N": 3, "sweep": "H"}, {"H": 4, "N": 3, "sweep": "N"}]
    df = sweep("one-layer", grid, orders=("input-first",), **FAST)
    assert counter.calls == 1
    assert df["sweep"].tolist() == ["H", "N"]
    first, second = df.iloc[0], df.iloc[1]
    for column in ("seconds", "seconds_min", "seconds_iqr", "gflops", "macs"):
        assert first[column] == second[column], column
    steps = pd.DataFrame(df.attrs["steps"])
    assert set(steps["sweep"]) == {"H", "N"}


@pytest.mark.parametrize(
    ("grid", "expected"),
    [
        ({"H": [8, 16], "N": 4}, [(8, 4, "H"), (16, 4, "H")]),
        ({"H": range(4, 6), "N": (3,)}, [(4, 3, "H"), (5, 3, "H")]),
        ({"H": 4, "N": [2, 3]}, [(4, 2, "N"), (4, 3, "N")]),
        ({"H": [4], "N": [3]}, [(4, 3, "grid")]),
        (
            {"H": [4, 8], "N": [2, 3]},
            [(4, 2, "grid"), (4, 3, "grid"), (8, 2, "grid"), (8, 3, "grid")],
        ),
        ([{"H": 4, "N": 3}, {"H": 8, "N": 3, "sweep": "H"}], [(4, 3, "grid"), (8, 3, "H")]),
    ],
)
def test_normalize_grid(grid, expected):
    configs = normalize_grid(grid, ["H", "N"])
    assert [(c["H"], c["N"], c["sweep"]) for c in configs] == expected
    assert all(type(c["H"]) is int and type(c["N"]) is int for c in configs)


def test_normalize_grid_does_not_mutate_a_list_grid():
    grid = [{"H": 4, "N": 3}]
    normalize_grid(grid, ["H", "N"])
    assert grid == [{"H": 4, "N": 3}]


def test_resolve_model_by_name_and_by_factory():
    name, factory, sizes = resolve_model("one-layer")
    assert (name, factory, sizes) == ("one-layer", models.one_layer, ["H", "N"])
    assert resolve_model("chain")[2] == ["dims"]

    def my_model(H, N, seed=0):
        return models.one_layer(H, N)

    name, factory, sizes = resolve_model(my_model)
    assert (name, factory, sizes) == ("my-model", my_model, ["H", "N"])
    df = sweep(my_model, {"H": [4], "N": [3]}, orders=("input-first",), **FAST)
    assert df["model"].tolist() == ["my-model"]
    assert df["macs"].tolist() == [256]


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("kwargs", "needles"),
    [
        ({"model": "two-layer"}, ["unknown model", "two-layer", "one-layer", "chain"]),
        ({"model": 42}, ["model", "one-layer"]),
        ({"orders": ("sideways",)}, ["unknown order", "sideways", "input-first", "backprop"]),
        ({"orders": ()}, ["at least one order"]),
        ({"cost": "bogus"}, ["unknown cost model", "bogus", "dense", "structured"]),
        ({"cost": ["dense", "sparse"]}, ["sparse", "structured"]),
        ({"cost": []}, ["at least one cost"]),
        ({"grid": {"H": [], "N": [3]}}, ["grid is empty"]),
        ({"grid": []}, ["grid is empty"]),
        ({"grid": 5}, ["grid is a dict"]),
        ({"grid": {"H": [0], "N": [3]}}, ["H=0", "positive integer"]),
        ({"grid": {"H": [4], "N": [-2]}}, ["N=-2", "positive integer"]),
        ({"grid": {"H": [4.0], "N": [3]}}, ["H=4.0", "positive integer"]),
        ({"grid": {"H": ["4"], "N": [3]}}, ["H='4'", "positive integer"]),
        ({"grid": {"H": [True], "N": [3]}}, ["H=True", "positive integer"]),
        ({"grid": {"H": [4]}}, ["exactly the sizes H, N"]),
        ({"grid": {"H": [4], "N": [3], "M": [2]}}, ["'M'", "exactly the sizes H, N"]),
        ({"grid": [{"H": 4}]}, ["exactly the sizes H, N"]),
    ],
)
def test_bad_input_is_an_analyzer_error_naming_the_problem(monkeypatch, kwargs, needles):
    monkeypatch.setattr(measure, "execute", forbid_execute)
    args = {"model": "one-layer", "grid": GRID, **kwargs}
    with pytest.raises(AnalyzerError) as info:
        sweep(args.pop("model"), args.pop("grid"), **args, **FAST)
    assert isinstance(info.value, ValueError)
    for needle in needles:
        assert needle in str(info.value)


def test_memory_refusal_before_anything_runs(monkeypatch, tmp_path):
    monkeypatch.setattr(measure, "execute", forbid_execute)
    out = tmp_path / "refused"
    with pytest.raises(AnalyzerError) as info:
        sweep("one-layer", {"H": [16], "N": [3]}, memory_limit=1000, out=out, **FAST)
    assert "H=16" in str(info.value)
    assert not out.exists() or not any(out.iterdir())


def test_memory_refusal_names_the_first_size_over_the_limit(monkeypatch, tmp_path):
    # H=4 fits in 10 000 bytes; H=16 input-first (dense, H x HN intermediate) does not.
    needs = {h: memory_needed(plan(models.one_layer(h, 3), "input-first")) for h in (4, 16)}
    assert needs[4] < 10_000 < needs[16]
    monkeypatch.setattr(measure, "execute", forbid_execute)
    with pytest.raises(AnalyzerError) as info:
        sweep("one-layer", {"H": [4, 16], "N": [3]}, memory_limit=10_000, out=tmp_path, **FAST)
    message = str(info.value)
    assert "H=16, N=3" in message and "input-first" in message and "dense" in message
    assert list(tmp_path.iterdir()) == []  # not even the configuration that fits was saved


def test_memory_needed_counts_factors_and_the_largest_intermediate():
    H, N = 16, 3
    dense = plan(models.one_layer(H, N), "input-first", "dense")
    assert dense.largest_intermediate == H * H * N
    assert memory_needed(dense) >= 8 * 2 * H * H * N
    structured = plan(models.one_layer(H, N), "input-first", "structured")
    assert memory_needed(structured) < memory_needed(dense)
    bigger = plan(models.one_layer(2 * H, N), "input-first", "dense")
    assert memory_needed(bigger) > memory_needed(dense)


def test_memory_needed_is_the_executors_with_each_factors_itemsize(monkeypatch):
    """One helper (the executor's) for the sweep and execute's check; itemsizes, not 8 bytes."""
    import analyzer.executor as executor
    from analyzer.graph import JacobianGraph

    assert measure.memory_needed is executor.memory_needed
    g = JacobianGraph()
    g.add_variable("x", 4, role="parameter", value=np.ones(4))  # float64
    g.add_variable("h", 6, role="intermediate", evaluate=lambda v: np.ones(6), dtype=np.float32)
    g.add_variable("y", 3, role="output", evaluate=lambda v: np.ones(3), dtype=np.float32)
    g.add_factor("x", "h", "dense", lambda v: np.ones((6, 4)))
    g.add_factor("h", "y", "dense", lambda v: np.ones((3, 6)))
    p = plan(g, "input-first")
    # J(h,x): 24 elements at 8 bytes (x is float64); J(y,h): 18 at 4; the result J(y,x):
    # 12 elements, twice, at the largest itemsize (8)
    assert memory_needed(p) == 24 * 8 + 18 * 4 + 2 * 12 * 8
    seen = []
    monkeypatch.setattr(executor, "available_memory", lambda: seen.append(1) or 24 * 8 + 18 * 4)
    with pytest.raises(AnalyzerError, match="not enough memory"):
        executor.execute(p, repeat=1, warmup=0)
    assert seen


# ---------------------------------------------------------------- out and resume
def test_out_writes_results_steps_and_settings(tmp_path):
    df = sweep("one-layer", GRID, out=tmp_path, **FAST)
    assert {p.name for p in tmp_path.iterdir()} == {
        "results.csv",
        "steps.csv",
        "sweep.json",
        "graph.json",
    }
    results, steps, settings = load_sweep(tmp_path)
    assert list(results.columns) == list(df.columns)
    assert results["macs"].tolist() == df["macs"].tolist()
    assert len(steps) == len(df.attrs["steps"])
    assert settings["grid"] == df.attrs["settings"]["grid"]
    assert json.loads((tmp_path / "sweep.json").read_text())["model"] == "one-layer"
    assert temp_files(tmp_path) == []


def test_load_sweep_of_a_folder_without_results(tmp_path):
    with pytest.raises(AnalyzerError, match="results.csv is missing"):
        load_sweep(tmp_path)


def test_resume_recomputes_nothing(monkeypatch, tmp_path):
    first = sweep("one-layer", GRID, cost=["dense", "structured"], out=tmp_path, **FAST)
    monkeypatch.setattr(measure, "execute", forbid_execute)
    again = sweep(
        "one-layer", GRID, cost=["dense", "structured"], out=tmp_path, resume=True, **FAST
    )
    assert list(again.columns) == list(first.columns)
    key = ["cost", "order", "H", "N", "sweep", "macs", "leading_term", "seconds"]
    pd.testing.assert_frame_equal(again[key], first[key])
    assert len(again.attrs["steps"]) == len(first.attrs["steps"])


def test_resume_into_an_empty_folder_runs_everything(tmp_path):
    df = sweep("one-layer", GRID, out=tmp_path / "new", resume=True, **FAST)
    assert len(df) == 6
    assert (tmp_path / "new" / "results.csv").exists()


def test_without_resume_a_folder_is_started_over(monkeypatch, tmp_path):
    sweep("one-layer", GRID, out=tmp_path, **FAST)
    counter = CountingExecute()
    monkeypatch.setattr(measure, "execute", counter)
    df = sweep("one-layer", {"H": [5], "N": [3]}, orders=("input-first",), out=tmp_path, **FAST)
    assert counter.calls == 1
    assert len(df) == 1
    assert pd.read_csv(tmp_path / "results.csv")["H"].tolist() == [5]


@pytest.mark.parametrize(
    ("change", "name"),
    [
        ({"cost": "structured"}, "costs"),
        ({"orders": ("input-first",)}, "orders"),
        ({"grid": {"H": [4, 16], "N": [3]}}, "grid"),
        ({"model": "least-squares"}, "model"),
        ({"repeat": 3}, "repeat"),
        ({"passes": 2}, "passes"),
    ],
)
def test_resume_with_other_settings_names_the_mismatch(monkeypatch, tmp_path, change, name):
    sweep("one-layer", GRID, out=tmp_path, **FAST)
    monkeypatch.setattr(measure, "execute", forbid_execute)
    before = (tmp_path / "results.csv").read_bytes()
    args = {"model": "one-layer", "grid": GRID, **FAST, **change}
    if args["model"] == "least-squares":
        args["grid"] = {"m": [3], "n": [2]}
    with pytest.raises(AnalyzerError) as info:
        sweep(args.pop("model"), args.pop("grid"), out=tmp_path, resume=True, **args)
    message = str(info.value)
    assert "cannot resume" in message and "different settings" in message
    assert name in message
    assert (tmp_path / "results.csv").read_bytes() == before


def test_an_interrupted_sweep_leaves_complete_files_and_resumes(monkeypatch, tmp_path):
    fresh = sweep("one-layer", GRID, **FAST)
    interrupt = CountingExecute(fail_on=3, error=KeyboardInterrupt)
    monkeypatch.setattr(measure, "execute", interrupt)
    with pytest.raises(KeyboardInterrupt):
        sweep("one-layer", GRID, out=tmp_path, **FAST)
    assert interrupt.calls == 3
    assert temp_files(tmp_path) == []
    saved = pd.read_csv(tmp_path / "results.csv")
    assert len(saved) == 2
    assert list(saved.columns) == list(fresh.columns)
    # without a calibration (a fixed roofline) only the machine-model columns are empty
    assert not saved.drop(columns=MODEL_COLUMNS).isna().any().any()
    assert saved["macs"].tolist() == fresh["macs"].tolist()[:2]
    steps = pd.read_csv(tmp_path / "steps.csv")
    assert set(zip(steps["H"], steps["order"], strict=True)) == {
        (4, "input-first"),
        (4, "output-first"),
    }
    json.loads((tmp_path / "sweep.json").read_text())

    rest = CountingExecute()
    monkeypatch.setattr(measure, "execute", rest)
    done = sweep("one-layer", GRID, out=tmp_path, resume=True, **FAST)
    assert rest.calls == 4  # only the missing runs
    assert done["macs"].tolist() == fresh["macs"].tolist()
    assert done[["H", "N", "order"]].equals(fresh[["H", "N", "order"]])
    assert len(pd.read_csv(tmp_path / "results.csv")) == 6
    assert len(done.attrs["steps"]) == len(fresh.attrs["steps"])
    assert temp_files(tmp_path) == []


def test_resume_drops_steps_without_their_result_row_and_reuses_the_saved_roofline(tmp_path):
    grid = {"H": [2, 3], "N": [2]}
    first = measure.sweep(
        "one-layer",
        grid,
        orders=("input-first",),
        repeat=1,
        min_seconds=0,
        roofline=Roofline(1e9, 1e10),
        out=tmp_path,
        progress=False,
    )
    results = pd.read_csv(tmp_path / "results.csv")
    steps = pd.read_csv(tmp_path / "steps.csv")
    # an interruption between writing steps.csv and results.csv: the last row is missing
    results.iloc[:1].to_csv(tmp_path / "results.csv", index=False)
    again = measure.sweep(
        "one-layer",
        grid,
        orders=("input-first",),
        repeat=1,
        min_seconds=0,
        out=tmp_path,
        resume=True,
        progress=False,
    )
    assert len(again.attrs["steps"]) == len(steps)  # no step is counted twice
    assert again.attrs["roofline"] == first.attrs["roofline"]  # no new calibration
    assert again["macs"].tolist() == first["macs"].tolist()


def test_resume_from_a_damaged_folder_is_a_clear_error(tmp_path):
    grid = {"H": [2], "N": [2]}
    kwargs = dict(orders=("input-first",), repeat=1, min_seconds=0, progress=False)
    measure.sweep("one-layer", grid, roofline=Roofline(1e9, 1e10), out=tmp_path, **kwargs)
    (tmp_path / "sweep.json").write_text("{not json")
    with pytest.raises(AnalyzerError, match="cannot read the sweep saved in"):
        measure.sweep("one-layer", grid, out=tmp_path, resume=True, **kwargs)


# ---------------------------------------------------------------- predictions from exact counts
def bottleneck(c):
    """The issue's example: a narrow third layer swept in c."""
    return models.mlp([1000, 100, c, 100])


def test_a_bottleneck_sweep_predicts_the_slope_of_its_exact_counts():
    from analyzer.fit import fit_exponents

    c = [2, 4, 8, 16, 32, 64]
    df = sweep(bottleneck, {"c": c}, orders=("output-first",), cost="structured", **FAST)
    assert df["leading_term"].unique().tolist() == ["20100*c"]
    macs = df["macs"].to_numpy(float)
    u, v = np.log(np.array(c, float)), np.log(macs)
    by_hand = ((u - u.mean()) * (v - v.mean())).sum() / ((u - u.mean()) ** 2).sum()
    fit = fit_exponents(df, x="c", y="macs").iloc[0]
    assert fit["slope"] == pytest.approx(by_hand)
    assert fit["predicted"] == pytest.approx(by_hand) and by_hand < 0.1
    assert fit["predicted_asymptotic"] == 1
    assert fit["verdict"] == "pass"  # was "fail": a slope of 0.03 against a predicted 1


# ---------------------------------------------------------------- a user's own model
def two_layer(n):
    """A model built the README's way: its values drawn at once, so its sizes are numbers."""
    from analyzer.graph import JacobianGraph
    from analyzer.primitives import activation, constant, linear, parameter, weighted_sum

    g = JacobianGraph(name="two_layer")
    rng = np.random.default_rng(0)
    x = constant(g, "x", rng.standard_normal(n))
    W1 = parameter(g, "W1", (n, n), value=rng.standard_normal((n, n)) / 5)
    a = parameter(g, "a", n, value=rng.standard_normal(n))
    h1 = activation(g, "h1", linear(g, "u1", W1, x), "tanh")
    weighted_sum(g, "out", a, h1, output=True)
    return g.validate()


def test_a_numeric_only_factory_sweeps_and_fits_from_its_exact_counts(tmp_path):
    from analyzer.fit import fit_exponents

    with pytest.raises(TypeError):
        two_layer("n")  # what sweep used to call, unguarded
    n = [2, 4, 8]
    df = sweep(two_layer, {"n": n}, orders=ORDER_NAMES, out=tmp_path, **FAST)
    assert len(df) == 3 * 3
    assert (df["formula"] == "").all() and (df["leading_term"] == "").all()
    for order in ORDER_NAMES:
        rows = df[df["order"] == order]
        assert rows["macs"].tolist() == [plan(two_layer(k), order).macs for k in n]
    fit = fit_exponents(df, x="n", y="macs").set_index("order")
    assert (fit["predicted_from"] == "macs").all()
    assert fit["predicted"].tolist() == pytest.approx(fit["slope"].tolist())
    assert fit["predicted_asymptotic"].isna().all()
    # what was saved reads back and resumes without running anything
    again = sweep(two_layer, {"n": n}, orders=ORDER_NAMES, out=tmp_path, resume=True, **FAST)
    assert again["macs"].tolist() == df["macs"].tolist()


def test_a_symbolic_graph_that_is_not_the_numeric_one_gives_no_formula():
    def doubled(H, N):  # numbers are doubled, symbols are not: the formula would be wrong
        return models.one_layer(2 * H if isinstance(H, int) else H, N)

    df = sweep(doubled, {"H": [2, 3], "N": [2]}, orders=("input-first",), **FAST)
    assert (df["formula"] == "").all()
    assert df["macs"].tolist() == [CLOSED["dense", "input-first"](2 * h, 2) for h in (2, 3)]


# ---------------------------------------------------------------- passes
class ShiftedExecute:
    """Stand-in for ``execute`` that records each call's plan and gives the k-th call a median
    of ``base + shift[k]`` seconds, spread evenly over its steps (a machine drifting during a
    sweep, on top of a fixed time per run)."""

    def __init__(self, shift, base=1e-3):
        self.shift, self.base, self.calls, self.real = list(shift), base, [], measure.execute

    def __call__(self, p, **kwargs):
        run = self.real(p, **kwargs)
        seconds = self.base + self.shift[len(self.calls)]
        self.calls.append((p.order, int(p.macs), kwargs))
        steps = len(run.step_seconds)
        return dataclasses.replace(
            run,
            seconds=seconds,
            step_seconds=np.full(steps, seconds / steps),
            times=(seconds,) * run.repeats,
        )


def test_two_passes_go_forward_then_backward_and_average_their_medians(monkeypatch):
    """A drift that grows linearly with time (call k takes k seconds longer) cancels exactly in
    the mean of a forward and a backward pass: every configuration gets the same extra time."""
    grid = {"H": [4, 8, 16], "N": [3]}
    one = sweep("one-layer", grid, orders=("output-first",), **{**FAST, "passes": 1})
    fake = ShiftedExecute([float(k) for k in range(6)])
    monkeypatch.setattr(measure, "execute", fake)
    two = sweep("one-layer", grid, orders=("output-first",), **{**FAST, "passes": 2})
    macs = one["macs"].tolist()
    assert [m for _, m, _ in fake.calls] == macs + macs[::-1]
    # the peak is traced once, on the last pass, when every kernel has already run
    assert [kw["memory"] for *_, kw in fake.calls] == [False] * 3 + [True] * 3
    assert two["peak_bytes_measured"].notna().all()
    # the drift adds (0 + 5) / 2 = (1 + 4) / 2 = (2 + 3) / 2 = 2.5 s to every configuration
    assert np.allclose(two["seconds"], 1e-3 + 2.5)
    assert two["repeats"].tolist() == [2, 2, 2]
    steps = pd.DataFrame(two.attrs["steps"])
    assert np.allclose(steps.groupby("H")["seconds"].sum().to_numpy(), two["seconds"])


def test_a_sweep_keeps_no_jacobian_between_passes(monkeypatch):
    """What a pass keeps is its timings: the Jacobians of earlier configurations are freed."""
    refs, alive, real = [], [], measure.execute

    def spy(p, **kwargs):
        gc.collect()
        alive.append(sum(r() is not None for r in refs))
        run = real(p, **kwargs)
        refs.append(weakref.ref(run.jacobian))
        return run

    monkeypatch.setattr(measure, "execute", spy)
    sweep("affine", {"p": [8, 16, 32], "n": [8]}, orders=("input-first",), **FAST | {"passes": 2})
    assert len(alive) == 6 and max(alive) <= 1


def test_each_pass_gets_its_share_of_the_budgets(monkeypatch):
    fake = ShiftedExecute([0.0] * 4)
    monkeypatch.setattr(measure, "execute", fake)
    sweep("one-layer", {"H": [4], "N": [3]}, orders=("input-first",), repeat=5,
          min_seconds=0.5, progress=False, roofline=R, passes=2)  # fmt: skip
    shares = [
        (kw["repeat"], kw["min_seconds"], kw["max_seconds"], kw["min_repeat"])
        for *_, kw in fake.calls
    ]
    # 5 runs, 0.5 s, max(4 * 0.5, 2) s and MIN_REPEAT = 3 runs shared by two passes
    assert shares == [(3, 0.25, 1.0, 2)] * 2


def test_a_folder_saved_before_passes_existed_resumes_as_one_pass(monkeypatch, tmp_path):
    sweep("one-layer", GRID, out=tmp_path, **FAST)
    saved = json.loads((tmp_path / "sweep.json").read_text())
    del saved["passes"]
    (tmp_path / "sweep.json").write_text(json.dumps(saved))
    monkeypatch.setattr(measure, "execute", forbid_execute)
    again = sweep("one-layer", GRID, out=tmp_path, resume=True, **FAST)
    assert len(again) == 6


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2", None])
def test_bad_passes_are_refused(bad):
    with pytest.raises(AnalyzerError, match="passes must be a positive integer"):
        sweep("one-layer", GRID, **{**FAST, "passes": bad})


def test_resume_mismatch_says_what_was_saved_and_what_is_asked(monkeypatch, tmp_path):
    sweep("one-layer", GRID, out=tmp_path, **FAST)
    monkeypatch.setattr(measure, "execute", forbid_execute)
    with pytest.raises(AnalyzerError, match=r"\(passes: saved 1, now 2\); give the same settings"):
        sweep("one-layer", GRID, out=tmp_path, resume=True, **{**FAST, "passes": 2})


def test_passes_may_be_a_numpy_integer():
    df = sweep("one-layer", {"H": [4], "N": [3]}, orders=("input-first",),
               **{**FAST, "passes": np.int64(2)})  # fmt: skip
    assert df.attrs["settings"]["passes"] == 2 and type(df.attrs["settings"]["passes"]) is int


# ------------------------------------------------- repeat budget; parameters drawn once
def test_max_seconds_is_shared_by_the_passes(monkeypatch):
    fake = ShiftedExecute([0.0] * 2)
    monkeypatch.setattr(measure, "execute", fake)
    df = sweep("one-layer", {"H": [4], "N": [3]}, orders=("input-first",), repeat=5,
               min_seconds=0.5, progress=False, roofline=R, passes=2, max_seconds=0.5)  # fmt: skip
    assert [kw["max_seconds"] for *_, kw in fake.calls] == [0.25, 0.25]
    assert df.attrs["settings"]["max_seconds"] == 0.5


@pytest.mark.parametrize("bad", [0, -1.0, float("inf"), float("nan"), True, "1", [1]])
def test_bad_max_seconds_are_refused(bad):
    with pytest.raises(AnalyzerError, match="max_seconds must be a positive finite number"):
        sweep("one-layer", GRID, **{**FAST, "max_seconds": bad})


def test_a_folder_saved_before_max_seconds_existed_resumes_with_the_budget_it_had(
    monkeypatch, tmp_path
):
    sweep("one-layer", GRID, out=tmp_path, **FAST)
    saved = json.loads((tmp_path / "sweep.json").read_text())
    assert saved["max_seconds"] == 2.0  # max(2 * min_seconds, 2 s) with min_seconds = 0
    del saved["max_seconds"]
    (tmp_path / "sweep.json").write_text(json.dumps(saved))
    monkeypatch.setattr(measure, "execute", forbid_execute)
    assert len(sweep("one-layer", GRID, out=tmp_path, resume=True, **FAST)) == 6
    with pytest.raises(AnalyzerError, match=r"max_seconds: saved 2\.0, now 0\.5"):
        sweep("one-layer", GRID, out=tmp_path, resume=True, **{**FAST, "max_seconds": 0.5})


def test_a_configuration_s_parameters_are_drawn_once_a_pass_and_left_as_drawn(monkeypatch):
    """Its orders run one after the other on the same values (drawing a large configuration's
    parameters took a third of a quick sweep), and no execution changes them."""
    from analyzer.graph import JacobianGraph

    draws, seen, real_point, real_execute = [], [], JacobianGraph.default_point, measure.execute

    def counted(self, **options):
        draws.append(1)
        return real_point(self, **options)

    def spy(p, **kwargs):
        at = kwargs["at"]
        before = {k: np.array(v, copy=True) for k, v in at.items()}
        run = real_execute(p, **kwargs)
        assert all(np.array_equal(before[k], at[k]) for k in at)
        assert np.array_equal(run.jacobian, real_execute(p, repeat=1, memory=False).jacobian)
        seen.append(id(at))
        return run

    monkeypatch.setattr(JacobianGraph, "default_point", counted)
    monkeypatch.setattr(measure, "execute", spy)
    grid = {"H": [4, 8], "N": [3]}
    sweep("one-layer", grid, **{**FAST, "passes": 2})
    assert len(seen) == 12  # 2 configurations x 3 orders x 2 passes
    # one draw each time the configuration changes: H=4, H=8, then (backward) H=8 again
    # without a draw, then H=4; the spy's own reference runs draw 12 more
    assert len(draws) == 3 + 12
    assert [len(set(seen[k : k + 3])) for k in (0, 3, 6, 9)] == [1, 1, 1, 1]
    assert seen[3] == seen[6]


def test_a_configuration_s_parameters_are_freed_before_the_next_configuration_s_are_drawn(
    monkeypatch,
):
    """Drawn once for its orders, a configuration's parameters must not outlive them: a
    plan's graph kept the values it drew (JacobianGraph.value keeps what a callable drew),
    so every configuration's parameters stayed alive, in the plans, to the sweep's end."""
    real_execute = measure.execute
    alive: dict[tuple, list] = {}
    dead_when_next: list[bool] = []

    def spy(p, **kwargs):
        key = tuple(p.problem.graph.nodes[v]["size"] for v in p.problem.graph.parameters)
        if key not in alive:  # the first order of a new configuration: the last one's freed?
            gc.collect()
            dead_when_next.append(all(ref() is None for refs in alive.values() for ref in refs))
            alive[key] = [weakref.ref(v) for v in kwargs["at"].values()]
        return real_execute(p, **kwargs)

    monkeypatch.setattr(measure, "execute", spy)
    sweep("one-layer", {"H": [4, 8, 16], "N": [3]}, **FAST)
    assert dead_when_next == [True, True, True]
