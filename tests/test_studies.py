"""Tests of analyzer.studies and the experiment scripts, at tiny sizes.

The studies' timing verdicts at these sizes mean nothing (per-call overhead
dominates), so only counts, files, table shapes and the predicted exponents are
checked, and ``Outcome.passed`` against the verdicts it was given.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import analyzer.measure as measure
import analyzer.studies as studies
from analyzer import compare, models
from analyzer.errors import AnalyzerError
from analyzer.machine import Roofline
from analyzer.studies import Outcome, forward_vs_reverse, mlp_widths, random_chains

REPO = Path(__file__).resolve().parents[1]
R = Roofline(1e9, 1e10)
TINY = {
    "dense": {"H": [4, 6, 8], "N": 3, "H_fixed": 4, "N_values": [2, 3, 4]},
    "structured": {"H": [4, 8, 16], "N": 2, "H_fixed": 8, "N_values": [2, 4, 8]},
}
ORDER_NAMES = ("input-first", "output-first", "optimal")


def forbid_execute(*args, **kwargs):
    raise AssertionError("execute must not run")


# ---------------------------------------------------------------- forward vs reverse
@pytest.fixture(scope="module")
def fvr(tmp_path_factory):
    folder = tmp_path_factory.mktemp("studies") / "fvr"
    outcome = forward_vs_reverse(
        out=folder, sizes=TINY, repeat=1, progress=False, roofline=R, command="pytest fvr"
    )
    return folder, outcome


def test_fvr_writes_the_report_files(fvr):
    folder, outcome = fvr
    for name in ("report.md", "report.html", "results.csv", "fits.csv", "steps.csv"):
        assert (folder / name).is_file(), name
    for cost in ("dense", "structured"):
        assert (folder / "sweeps" / cost / "results.csv").is_file()
        for x in ("H", "N"):
            assert (folder / f"time_vs_{x}_{cost}.png").is_file()
    assert outcome.folder == folder
    assert outcome.report == folder / "report.md"
    text = outcome.report.read_text()
    assert "pytest fvr" in text
    assert "H³N + H²N + HN + H" in text


def test_fvr_results_hold_both_costs_and_both_sweeps(fvr):
    _, outcome = fvr
    results = outcome.results
    assert set(results["cost"]) == {"dense", "structured"}
    assert set(results["sweep"]) == {"H", "N"}
    assert set(results["order"]) == set(ORDER_NAMES)
    for cost, sizes in TINY.items():
        along_h = results[(results["cost"] == cost) & (results["sweep"] == "H")]
        along_n = results[(results["cost"] == cost) & (results["sweep"] == "N")]
        assert sorted(set(along_h["H"])) == sizes["H"] and set(along_h["N"]) == {sizes["N"]}
        assert sorted(set(along_n["N"])) == sizes["N_values"]
        assert set(along_n["H"]) == {sizes["H_fixed"]}
        assert len(along_h) == len(along_n) == 3 * 3
    saved = pd.read_csv(outcome.folder / "results.csv")
    assert len(saved) == len(results) == 2 * 2 * 9


def test_fvr_counts_are_the_closed_forms(fvr):
    results = fvr[1].results
    closed = {
        ("dense", "input-first"): lambda H, N: H**3 * N + H**2 * N + H * N + H,
        ("dense", "output-first"): lambda H, N: H**2 * N + H**2 + 2 * H,
        ("structured", "input-first"): lambda H, N: 3 * H * N + H,
        ("structured", "output-first"): lambda H, N: H * N + 3 * H,
    }
    for (cost, order), formula in closed.items():
        rows = results[(results["cost"] == cost) & (results["order"] == order)]
        assert len(rows) == 6
        for r in rows.itertuples():
            assert r.macs == formula(r.H, r.N), (cost, order, r.H, r.N)


def test_fvr_fits_cover_both_sizes_and_both_measures(fvr):
    fits = fvr[1].fits
    assert set(zip(fits["x"], fits["y"], strict=True)) == {
        ("H", "seconds"),
        ("H", "macs"),
        ("N", "seconds"),
        ("N", "macs"),
    }
    assert len(fits) == 2 * 3 * 4  # cost x order x (x, y)
    assert set(fits["verdict"]) <= {"pass", "fail", "inconclusive", "n/a"}
    saved = pd.read_csv(fvr[0] / "fits.csv")
    assert len(saved) == len(fits)


def test_fvr_predicted_exponents(fvr):
    fits = fvr[1].fits.set_index(["cost", "order", "x", "y"])["predicted_asymptotic"]
    for y in ("seconds", "macs"):
        assert fits["dense", "input-first", "H", y] == 3
        assert fits["dense", "output-first", "H", y] == 2
        assert fits["dense", "optimal", "H", y] == 2
        for order in ORDER_NAMES:
            assert fits["dense", order, "N", y] == 1
            assert fits["structured", order, "H", y] == 1
            assert fits["structured", order, "N", y] == 1


def least_squares_slope(xs, values) -> float:
    u, v = np.log(np.asarray(xs, float)), np.log(np.asarray(values, float))
    return float(((u - u.mean()) * (v - v.mean())).sum() / ((u - u.mean()) ** 2).sum())


def test_fvr_predicted_slopes_are_those_of_the_exact_counts_at_the_swept_sizes(fvr):
    fits = fvr[1].fits.set_index(["cost", "order", "x", "y"])
    closed = {  # the sheet's polynomials, written out by hand
        ("dense", "input-first"): lambda H, N: H**3 * N + H**2 * N + H * N + H,
        ("dense", "output-first"): lambda H, N: H**2 * N + H**2 + 2 * H,
        ("structured", "input-first"): lambda H, N: 3 * H * N + H,
        ("structured", "output-first"): lambda H, N: H * N + 3 * H,
    }
    for (cost, order), f in closed.items():
        sizes = TINY[cost]
        along_h = [f(h, sizes["N"]) for h in sizes["H"]]
        along_n = [f(sizes["H_fixed"], n) for n in sizes["N_values"]]
        fit_h, fit_n = fits.loc[(cost, order, "H", "macs")], fits.loc[(cost, order, "N", "macs")]
        assert fit_h["predicted"] == pytest.approx(least_squares_slope(sizes["H"], along_h))
        assert fit_n["predicted"] == pytest.approx(least_squares_slope(sizes["N_values"], along_n))
        assert fit_h["predicted_from"] == fit_n["predicted_from"] == "formula"
    # at H <= 8, the lower terms weigh: the exact slope in H is well below 3, and passes
    fit = fits.loc[("dense", "input-first", "H", "macs")]
    assert fit["predicted"] < 2.9 and fit["verdict"] == "pass"
    assert (fits.xs("seconds", level="y")["predicted_from"] == "formula").all()


def test_fvr_macs_slopes_order_input_first_above_output_first(fvr):
    fits = fvr[1].fits.set_index(["cost", "order", "x", "y"])["slope"]
    forward = fits["dense", "input-first", "H", "macs"]
    reverse = fits["dense", "output-first", "H", "macs"]
    assert forward > reverse > 1
    assert forward > 2  # tends to 3; lower-order terms still matter at H <= 8


def test_fvr_passed_reflects_the_verdicts(fvr):
    _, outcome = fvr
    assert outcome.passed == bool((outcome.fits["verdict"] != "fail").all())
    summary = outcome.summary()
    assert f"report: {outcome.report}" in summary
    agree = ("all verdicts pass" in summary) or ("no verdict fails" in summary)
    assert agree == outcome.passed


def test_fvr_resume_recomputes_nothing(fvr, monkeypatch, tmp_path):
    folder, outcome = fvr
    monkeypatch.setattr(measure, "execute", forbid_execute)
    reported = []

    def stub_report(where, results, fits, steps, machine, meta):
        reported.append(meta)
        return tmp_path / "report.md"

    monkeypatch.setattr(studies, "write_report", stub_report)
    again = forward_vs_reverse(
        out=folder, resume=True, sizes=TINY, repeat=1, progress=False, roofline=R
    )
    key = ["cost", "order", "sweep", "H", "N", "macs"]
    pd.testing.assert_frame_equal(again.results[key], outcome.results[key])
    assert reported and reported[0]["name"] == "forward_vs_reverse"


def test_fvr_resume_with_other_sizes_is_refused(fvr, monkeypatch):
    folder, _ = fvr
    monkeypatch.setattr(measure, "execute", forbid_execute)
    other = {"dense": {**TINY["dense"], "H": [4, 6, 10]}}
    with pytest.raises(AnalyzerError, match="different settings"):
        forward_vs_reverse(
            out=folder, resume=True, sizes=other, repeat=1, progress=False, roofline=R
        )


# ---------------------------------------------------------------- Outcome
def outcome_with(verdicts) -> Outcome:
    fits = pd.DataFrame(
        {
            "cost": "dense",
            "order": "input-first",
            "x": "H",
            "y": "seconds",
            "slope": 1.0,
            "predicted": 3.0,
            "verdict": verdicts,
        }
    )
    return Outcome(Path("somewhere"), pd.DataFrame(), fits, Path("somewhere/report.md"))


@pytest.mark.parametrize(
    ("verdicts", "passed"),
    [
        (["pass", "fail"], False),
        (["fail"], False),
        (["pass", "pass"], True),
        (["pass", "n/a"], True),
        (["n/a"], True),
        ([], True),
    ],
)
def test_outcome_passed(verdicts, passed):
    outcome = outcome_with(verdicts)
    assert outcome.passed is passed
    summary = outcome.summary()
    assert summary.splitlines()[0] == f"report: {Path('somewhere/report.md')}"
    last = summary.splitlines()[-1]
    if not passed:
        assert last == "SOME VERDICTS FAIL"
    elif all(v == "pass" for v in verdicts):
        assert last == "all verdicts pass"
    else:  # "all verdicts pass" only when they all do
        n = verdicts.count("n/a")
        assert last == f"no verdict fails ({n} n/a)"


def test_a_summary_counts_what_did_not_pass():
    """7 inconclusive fits of 12 are not "all verdicts pass" (as --quick used to print)."""
    outcome = outcome_with(["pass"] * 4 + ["inconclusive"] * 7 + ["explained"])
    assert outcome.summary().splitlines()[-1] == "no verdict fails (1 explained, 7 inconclusive)"
    outcome = outcome_with(["pass", "explained"])
    last = outcome.summary().splitlines()[-1]
    assert last == "all verdicts pass or are explained by the machine model"


# ---------------------------------------------------------------- mlp widths, random chains
def test_the_quick_mlps_have_a_strict_gain():
    for widths in studies.MLP_WIDTHS["quick"]:
        macs = compare(models.mlp(widths)).set_index("order")["macs"]
        assert macs["optimal"] < min(macs["input-first"], macs["output-first"]), widths


@pytest.fixture(scope="module")
def mlp_outcome(tmp_path_factory):
    folder = tmp_path_factory.mktemp("studies") / "mlp"
    return folder, mlp_widths(quick=True, out=folder, repeat=1)


def test_mlp_widths_writes_its_files(mlp_outcome):
    folder, outcome = mlp_outcome
    for name in ("results.csv", "gains.csv", "report.md", "gains.png", "gains.svg"):
        assert (folder / name).is_file(), name
    assert outcome.report == folder / "report.md"
    assert outcome.passed  # no verdicts to fail
    assert "python experiments/mlp_widths.py" in outcome.report.read_text()


def test_mlp_widths_counts(mlp_outcome):
    folder, outcome = mlp_outcome
    rows = outcome.results
    assert len(rows) == 3 * len(studies.MLP_WIDTHS["quick"])
    assert (rows["executed_macs"] == rows["macs"]).all()
    saved = pd.read_csv(folder / "results.csv")
    assert (saved["executed_macs"] == saved["macs"]).all()
    gains = pd.read_csv(folder / "gains.csv")
    assert len(gains) == len(studies.MLP_WIDTHS["quick"])
    assert (gains["counted_gain"] > 1).all()
    best_end = gains[["macs_input_first", "macs_output_first"]].min(axis=1)
    assert gains["counted_gain"].tolist() == pytest.approx(
        (best_end / gains["macs_optimal"]).tolist()
    )
    assert (gains["measured_gain"] > 0).all()


def test_random_chains(tmp_path):
    outcome = random_chains(quick=True, out=tmp_path, repeat=1, count=2)
    for name in ("results.csv", "gains.csv", "report.md"):
        assert (tmp_path / name).is_file(), name
    rows = pd.read_csv(tmp_path / "results.csv")
    assert len(rows) == 2 * 3
    assert (rows["executed_macs"] == rows["macs"]).all()
    assert (outcome.results["executed_macs"] == outcome.results["macs"]).all()
    gains = pd.read_csv(tmp_path / "gains.csv")
    assert len(gains) == 2
    assert (gains["counted_gain"] >= 1).all()
    for r in gains.itertuples():
        assert r.macs_optimal <= min(r.macs_input_first, r.macs_output_first)


# ---------------------------------------------------------------- experiment scripts
def load_script(name: str):
    path = REPO / "experiments" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"experiment_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["forward_vs_reverse", "mlp_widths", "random_chains"])
def test_script_help(capsys, name):
    script = load_script(name)
    with pytest.raises(SystemExit) as info:
        script.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "--quick" in out and "--out" in out


@pytest.mark.parametrize(
    ("verdicts", "expected"), [(["pass"], 0), (["pass", "fail"], 1), (["n/a"], 0)]
)
def test_forward_vs_reverse_script_exit_status(monkeypatch, capsys, tmp_path, verdicts, expected):
    script = load_script("forward_vs_reverse")
    calls = []

    def fake(**kwargs):
        """Stand-in (the script's --help shows this line)."""
        calls.append(kwargs)
        return outcome_with(verdicts)

    monkeypatch.setattr(script, "forward_vs_reverse", fake)
    assert script.main(["--quick", "--out", str(tmp_path)]) == expected
    (call,) = calls
    assert call["quick"] is True and call["out"] == str(tmp_path)
    assert call["command"].startswith("python experiments/forward_vs_reverse.py --quick")
    assert "report:" in capsys.readouterr().out


def test_forward_vs_reverse_script_bad_input(monkeypatch, capsys):
    script = load_script("forward_vs_reverse")

    def refuse(**kwargs):
        """Stand-in that refuses its input."""
        raise AnalyzerError("H=99999: too big")

    monkeypatch.setattr(script, "forward_vs_reverse", refuse)
    assert script.main([]) == 2
    assert capsys.readouterr().err.strip() == "forward_vs_reverse: error: H=99999: too big"


def test_fvr_refuses_a_folder_of_another_experiment(tmp_path, monkeypatch):
    monkeypatch.setattr(measure, "execute", forbid_execute)
    (tmp_path / "results.csv").write_text("case,macs\na,1\n")
    (tmp_path / "meta.json").write_text('{"name": "mlp_widths"}')
    with pytest.raises(AnalyzerError, match="holds the results of 'mlp_widths'"):
        forward_vs_reverse(out=tmp_path, resume=True, sizes=TINY, progress=False, roofline=R)
    (tmp_path / "meta.json").unlink()
    with pytest.raises(AnalyzerError, match="results of another run"):
        forward_vs_reverse(out=tmp_path, sizes=TINY, progress=False, roofline=R)
    assert (tmp_path / "results.csv").read_text() == "case,macs\na,1\n"
    with pytest.raises(AnalyzerError, match="must be named"):
        forward_vs_reverse(out=" ", sizes=TINY, progress=False, roofline=R)
