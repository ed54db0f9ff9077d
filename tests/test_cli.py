"""Tests of the ``analyzer`` command: output, exit statuses and one-line errors.

``main(argv)`` returns 0 when all is well, 1 for a failed verdict under
``--check`` and 2 for bad input, with exactly one line on stderr starting
``analyzer: error:``. Sweeps run at tiny sizes with the roofline calibration
replaced by fixed rates, so nothing here measures the machine.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import analyzer.cli as cli
import analyzer.measure as measure
import analyzer.studies as studies
from analyzer.cli import build_parser, main
from analyzer.errors import AnalyzerError
from analyzer.machine import Roofline
from analyzer.studies import Outcome

REPO = Path(__file__).resolve().parents[1]
R = Roofline(1e9, 1e10)
SIZES = ["--H", "10", "--N", "5"]


def fixed_roofline(threads=1, *args, **kwargs):
    return R


@pytest.fixture
def no_calibration(monkeypatch):
    monkeypatch.setattr(measure, "calibrate", fixed_roofline)


def forbid_execute(*args, **kwargs):
    raise AssertionError("execute must not run")


def error_line(capsys, argv) -> str:
    """Run ``argv``, check it is refused as bad input, and return its one stderr line."""
    status = main(argv)
    captured = capsys.readouterr()
    assert status == 2, captured
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("analyzer: error: ")
    return lines[0]


# ---------------------------------------------------------------- plan and compare
def test_plan_prints_the_plan(capsys):
    status = main(["plan", "--model", "one-layer", *SIZES, "--order", "forward"])
    out = capsys.readouterr().out
    assert status == 0
    assert "5560" in out
    assert "input-first" in out  # the alias is shown by its name
    assert "H=10, N=5" in out


def test_plan_output_first_structured(capsys):
    assert main(["plan", *SIZES, "--order", "reverse", "--cost", "structured"]) == 0
    out = capsys.readouterr().out
    assert "output-first" in out and "structured" in out
    assert str(10 * 5 + 3 * 10) in out  # HN + 3H


def test_compare_prints_the_three_orders(capsys):
    assert main(["compare", *SIZES]) == 0
    out = capsys.readouterr().out
    for word in ("input-first", "output-first", "optimal", "5560", "620"):
        assert word in out


def test_compare_both_cost_models(capsys):
    assert main(["compare", *SIZES, "--cost", "dense,structured"]) == 0
    out = capsys.readouterr().out
    assert "dense" in out and "structured" in out
    assert str(3 * 10 * 5 + 10) in out  # structured input-first: 3HN + H


def test_compare_a_chain(capsys):
    assert main(["compare", "--model", "chain", "--dims", "30,35,15,5,10,20,25"]) == 0
    out = capsys.readouterr().out
    assert "15125" in out
    assert "optimal" in out


# ---------------------------------------------------------------- bad input: exit 2
@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["plan", "--model", "two-layer", *SIZES], ["unknown model", "two-layer", "one-layer"]),
        (["compare", "--model", "two-layer", *SIZES], ["unknown model"]),
        (
            ["plan", *SIZES, "--order", "sideways"],
            ["unknown order", "sideways", "input-first", "output-first", "optimal", "backprop"],
        ),
        (["plan", *SIZES, "--cost", "bogus"], ["unknown cost model", "bogus", "structured"]),
        (["compare", *SIZES, "--cost", "bogus"], ["unknown cost model", "bogus"]),
        (["plan", *SIZES, "--cost", "dense,structured"], ["one cost model"]),
        (["plan", "--H", "10"], ["missing size", "--N"]),
        (["compare", "--model", "chain"], ["missing size", "--dims"]),
        (["compare", *SIZES, "--M", "3"], ["unknown size --M", "H, N"]),
        (["compare", "--H", "2.5", "--N", "5"], ["--H", "integers or symbol names", "'2.5'"]),
        (["compare", "--H", "10,x", "--N", "5"], ["--H takes one value"]),
        (["sweep", "--H", "ten", "--N", "5", "--out", "unused"], ["--H", "integers", "'ten'"]),
        (["compare", *SIZES, "stray"], ["unexpected argument", "stray"]),
        (["compare", "--H", "10", "--N"], ["unexpected argument", "--N"]),
        (["plan", "--H", "10,20", "--N", "5"], ["--H takes one value"]),
        (["compare", "--H", "0", "--N", "5"], ["H", "positive integer", "0"]),
        (["sweep", "--H", "", "--N", "5", "--out", "unused"], ["--H", "integers", "''"]),
        (["sweep", "--H", "4,", "--N", "5", "--out", "unused"], ["--H", "integers"]),
        (["sweep", "--H", "4", "--N", "5", "--out", "unused", "--orders", "up"], ["'up'"]),
        (["sweep", "--H", "4", "--N", "5", "--out", "unused", "--cost", ""], ["cost model"]),
        (["sweep", "--model", "chain", "--dims", "3,4", "--out", "unused"], ["scalar sizes"]),
        (["report", "no/such/folder"], ["no/such/folder", "does not exist"]),
        (["report", "no/such/folder", "--extra"], ["unexpected argument", "--extra"]),
        (["run", "--bogus"], ["unexpected argument", "--bogus"]),
        (["plan", *SIZES, "--time-limit", "0"], ["--time-limit", "positive", "'none'", "'0'"]),
        (["plan", *SIZES, "--time-limit", "-1.5"], ["--time-limit", "'-1.5'"]),
        (["compare", *SIZES, "--time-limit", "soon"], ["--time-limit", "'soon'"]),
        (["compare", *SIZES, "--time-limit", "nan"], ["--time-limit", "'nan'"]),
        (["plan", *SIZES, "--time-limit=-inf"], ["--time-limit", "'-inf'"]),
        (["compare", *SIZES, "--memory-limit", "1e400"], ["memory", "1e400"]),
        (["compare", *SIZES, "--memory-limit", "5."], ["memory", "'5.'"]),
        (["plan", *SIZES, "--time-limit"], ["--time-limit", "expected one argument"]),
    ],
)
def test_bad_input_exits_2_with_one_line(monkeypatch, tmp_path, capsys, argv, needles):
    monkeypatch.chdir(tmp_path)  # "unused" --out folders would land here
    monkeypatch.setattr(measure, "execute", forbid_execute)
    monkeypatch.setattr(measure, "calibrate", fixed_roofline)
    line = error_line(capsys, argv)
    for needle in needles:
        assert needle in line
    assert list(tmp_path.iterdir()) == []


def test_compare_refuses_a_bad_memory_limit_before_printing_a_table(capsys):
    assert main(["compare", *SIZES, "--memory-limit", "2 XB"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1


def test_time_limit_inf_means_no_limit(capsys):
    assert main(["plan", *SIZES, "--time-limit", "inf"]) == 0
    assert "proven optimal" in capsys.readouterr().out


def test_compare_with_an_empty_cost_is_bad_input(capsys):
    line = error_line(capsys, ["compare", *SIZES, "--cost", ""])
    assert "cost" in line


def test_argparse_errors_follow_the_one_line_contract(tmp_path, capsys):
    error_line(capsys, ["sweep", *SIZES, "--out", str(tmp_path), "--repeat", "x"])


def test_out_under_a_regular_file_is_bad_input(no_calibration, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    out = blocker / "sub"
    line = error_line(capsys, ["sweep", "--H", "4", "--N", "3", "--out", str(out), "--repeat", "1"])
    assert "cannot write" in line and str(out) in line
    assert blocker.read_text() == "not a folder"


def test_resume_into_a_folder_made_with_other_settings(monkeypatch, tmp_path, capsys):
    measure.sweep(
        "one-layer",
        {"H": [4, 8], "N": [3]},
        repeat=1,
        min_seconds=0,
        progress=False,
        roofline=R,
        out=tmp_path,
    )
    before = (tmp_path / "results.csv").read_bytes()
    monkeypatch.setattr(measure, "execute", forbid_execute)
    monkeypatch.setattr(measure, "calibrate", fixed_roofline)
    argv = ["sweep", "--H", "4,16", "--N", "3", "--out", str(tmp_path), "--repeat", "1"]
    line = error_line(capsys, [*argv, "--resume"])
    assert "cannot resume" in line and "different settings" in line and "grid" in line
    assert (tmp_path / "results.csv").read_bytes() == before


# ---------------------------------------------------------------- sweep and report
@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """``analyzer sweep`` end to end at H in {4, 8}, N = 3, into a fresh folder."""
    folder = tmp_path_factory.mktemp("cli") / "sweep"
    argv = ["sweep", "--H", "4,8", "--N", "3", "--out", str(folder), "--repeat", "1"]
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(measure, "calibrate", fixed_roofline)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(argv)
    return folder, status, out.getvalue()


def test_sweep_end_to_end(swept):
    folder, status, out = swept
    assert status == 0  # without --check, failed verdicts do not change the status
    for name in ("report.md", "report.html", "results.csv", "fits.csv", "steps.csv", "sweep.json"):
        assert (folder / name).is_file(), name
    assert f"report: {folder / 'report.md'}" in out
    results = pd.read_csv(folder / "results.csv")
    assert len(results) == 2 * 3
    dense_in = results[results["order"] == "input-first"].sort_values("H")
    assert dense_in["macs"].tolist() == [h**3 * 3 + h**2 * 3 + h * 3 + h for h in (4, 8)]
    fits = pd.read_csv(folder / "fits.csv")
    assert set(fits["x"]) == {"H"}
    assert set(fits["y"]) == {"seconds", "macs"}
    assert set(fits["order"]) == {"input-first", "output-first", "optimal"}
    assert "analyzer sweep --H 4,8" in (folder / "report.md").read_text()


def test_sweep_resume_with_the_same_settings_runs_nothing(swept, monkeypatch, capsys):
    folder, _, _ = swept
    monkeypatch.setattr(measure, "execute", forbid_execute)
    monkeypatch.setattr(measure, "calibrate", fixed_roofline)
    argv = ["sweep", "--H", "4,8", "--N", "3", "--out", str(folder), "--repeat", "1", "--resume"]
    assert main(argv) == 0
    assert "report:" in capsys.readouterr().out
    assert len(pd.read_csv(folder / "results.csv")) == 6


def test_sweep_passes_option_reaches_the_sweep(no_calibration, tmp_path, capsys):
    argv = ["sweep", "--H", "4", "--N", "3", "--out", str(tmp_path), "--repeat", "1"]
    assert main([*argv, "--orders", "input-first", "--passes", "3"]) == 0
    assert json.loads((tmp_path / "sweep.json").read_text())["passes"] == 3
    assert pd.read_csv(tmp_path / "results.csv")["repeats"].tolist()[0] >= 3  # a run a pass
    assert main([*argv, "--out", str(tmp_path / "bad"), "--passes", "0"]) == 2
    assert "passes must be a positive integer" in capsys.readouterr().err


def test_report_re_renders_a_folder(swept, capsys):
    folder, _, _ = swept
    pngs = sorted(p.name for p in folder.glob("*.png"))
    assert "time_vs_H_dense.png" in pngs
    (folder / "time_vs_H_dense.png").unlink()
    (folder / "report.md").unlink()
    results = (folder / "results.csv").read_bytes()
    assert main(["report", str(folder)]) == 0
    assert str(folder / "report.md") in capsys.readouterr().out
    assert (folder / "time_vs_H_dense.png").is_file()
    assert (folder / "report.md").is_file()
    assert sorted(p.name for p in folder.glob("*.png")) == pngs
    assert (folder / "results.csv").read_bytes() == results  # data files are not rewritten


def test_sweep_over_two_sizes_reports(no_calibration, tmp_path, capsys):
    argv = ["sweep", "--H", "4,8", "--N", "2,3", "--out", str(tmp_path), "--repeat", "1"]
    argv += ["--orders", "input-first"]
    assert main(argv) == 0
    assert (tmp_path / "report.md").is_file()


# ---------------------------------------------------------------- --check
def forced_fits(verdict):
    real = studies.fit_exponents

    def fit(*args, **kwargs):
        table = real(*args, **kwargs)
        table["verdict"] = verdict
        return table

    return fit


def stub_report(folder, results, fits, steps, machine, meta):
    Path(folder).mkdir(parents=True, exist_ok=True)
    path = Path(folder) / "report.md"
    path.write_text("stub\n")
    return path


@pytest.mark.parametrize(
    ("verdict", "check", "expected"),
    [("fail", True, 1), ("pass", True, 0), ("n/a", True, 0), ("fail", False, 0)],
)
def test_sweep_check(monkeypatch, tmp_path, capsys, verdict, check, expected):
    monkeypatch.setattr(measure, "calibrate", fixed_roofline)
    monkeypatch.setattr(studies, "fit_exponents", forced_fits(verdict))
    monkeypatch.setattr(studies, "write_report", stub_report)
    argv = ["sweep", "--H", "4,8", "--N", "3", "--out", str(tmp_path), "--repeat", "1"]
    argv += ["--orders", "input-first"] + (["--check"] if check else [])
    assert main(argv) == expected
    out = capsys.readouterr().out
    assert ("SOME VERDICTS FAIL" in out) == (verdict == "fail")


class FakeStudy:
    """Stands in for studies.forward_vs_reverse; records how the CLI called it."""

    def __init__(self, verdicts):
        self.verdicts = verdicts
        self.calls = []

    def __call__(self, **kwargs):
        self.calls.append(kwargs)
        folder = Path(kwargs["out"] or "reports/forward_vs_reverse")
        fits = pd.DataFrame({"order": "input-first", "x": "H", "verdict": self.verdicts})
        return Outcome(folder, pd.DataFrame(), fits, folder / "report.md")


@pytest.mark.parametrize(
    ("verdicts", "argv", "expected"),
    [
        (["pass", "fail"], ["--check"], 1),
        (["pass", "fail"], [], 0),
        (["pass", "n/a"], ["--check"], 0),
        ([], ["--check"], 0),
    ],
)
def test_run_check(monkeypatch, tmp_path, capsys, verdicts, argv, expected):
    fake = FakeStudy(verdicts)
    monkeypatch.setattr(studies, "forward_vs_reverse", fake)
    out = str(tmp_path / "fvr")
    assert main(["run", "--quick", "--out", out, "--resume", *argv]) == expected
    (call,) = fake.calls
    assert call["quick"] is True and call["resume"] is True and call["out"] == out
    assert call["command"].startswith("analyzer run --quick --out")
    assert f"report: {Path(out) / 'report.md'}" in capsys.readouterr().out


def test_run_defaults(monkeypatch, capsys):
    fake = FakeStudy(["pass"])
    monkeypatch.setattr(studies, "forward_vs_reverse", fake)
    assert main(["run"]) == 0
    (call,) = fake.calls
    assert call["quick"] is False and call["resume"] is False and call["out"] is None
    assert "all verdicts pass" in capsys.readouterr().out


def test_run_interrupted_exits_130(monkeypatch, capsys):
    def interrupted(**kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(studies, "forward_vs_reverse", interrupted)
    assert main(["run", "--quick"]) == 130
    assert "--resume" in capsys.readouterr().err


# ---------------------------------------------------------------- help
@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("plan", ["--model", "--cost", "--order", "forward", "--NAME VALUE"]),
        ("compare", ["--model", "--cost", "--NAME VALUE"]),
        ("sweep", ["--model", "--cost", "--orders", "--repeat", "--threads", "--out", "--resume"]),
        ("report", ["folder"]),
        ("run", ["--quick", "--out", "--resume", "--check"]),
    ],
)
def test_help_of_every_subcommand(capsys, command, options):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: analyzer {command}")
    for option in options:
        assert option in out


def test_help_lists_the_subcommands(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in ("plan", "compare", "sweep", "report", "run"):
        assert command in out
    assert build_parser().prog == "analyzer"


def test_python_m_analyzer_help():
    done = subprocess.run(
        [sys.executable, "-m", "analyzer", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: analyzer")
    for command in ("plan", "compare", "sweep", "report", "run"):
        assert command in done.stdout


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["plan", "--model", "least-squares", "--m", "4", "--n", "3"], "least_squares (m=4, n=3)"),
        (["compare", "--model", "factorization", "--k", "2", "--n", "3", "--m", "2"], "∂f/∂P"),
        (["plan", "--model", "one-layer", "--H=4", "--N=3"], "one_layer (H=4, N=3)"),
        (["compare", "--model", "affine", "--p", "3", "--n", "2"], "output-first"),
    ],
)
def test_every_model_takes_its_sizes_without_option_abbreviation(capsys, argv, needle):
    # argparse's abbreviations used to read --m as --model
    assert main(argv) == 0
    assert needle in capsys.readouterr().out


def test_a_size_given_twice_is_bad_input(capsys):
    line = error_line(capsys, ["plan", "--model", "one-layer", "--H", "4", "--H", "5", "--N", "3"])
    assert "--H is given twice" in line


def test_planning_huge_sizes_allocates_nothing(capsys):
    # model values are drawn lazily, so planning needs no memory for them
    argv = ["compare", "--model", "one-layer", "--H", "1000000", "--N", "1000000"]
    assert main(argv) == 0
    H = N = 10**6
    assert str(H**3 * N + H**2 * N + H * N + H) in capsys.readouterr().out  # input-first


# ---------------------------------------------------------------- bugs are not bad input
@pytest.mark.parametrize(
    "error", [ValueError("a library bug"), OverflowError("int too large"), ZeroDivisionError()]
)
def test_a_library_bug_shows_its_traceback_and_exits_1(monkeypatch, capsys, error):
    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr(cli, "compare", broken)
    assert main(["compare", *SIZES]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert type(error).__name__ in err and "in broken" in err
    assert "analyzer: error:" not in err
    assert err.splitlines()[-1].startswith("analyzer: internal error")


def test_bad_input_errors_stay_one_line_and_memory_errors_too(monkeypatch, capsys):
    def refuse(*args, **kwargs):
        raise AnalyzerError("first line\nsecond line")

    monkeypatch.setattr(cli, "compare", refuse)
    assert error_line(capsys, ["compare", *SIZES]) == "analyzer: error: first line"

    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(cli, "compare", exhausted)
    assert "not enough memory" in error_line(capsys, ["compare", *SIZES])


# ---------------------------------------------------------------- damaged folders: exit 2
@pytest.fixture
def copy_of_swept(swept, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(swept[0], folder)
    return folder


def resume_argv(folder):
    return ["sweep", "--H", "4,8", "--N", "3", "--out", str(folder), "--repeat", "1", "--resume"]


@pytest.mark.parametrize(
    ("column", "value"), [("H", "abc"), ("N", "three"), ("macs", "many")], ids=str
)
def test_report_of_a_non_numeric_column_is_bad_input(copy_of_swept, capsys, column, value):
    results = pd.read_csv(copy_of_swept / "results.csv")
    results[column] = value  # a raw IndexError before
    results.to_csv(copy_of_swept / "results.csv", index=False)
    line = error_line(capsys, ["report", str(copy_of_swept)])
    assert f"results column '{column}' must hold numbers" in line and repr(value) in line


@pytest.mark.parametrize(
    ("damage", "needles"),
    [
        (lambda f: _drop_column(f / "results.csv", "N"), ["results.csv", "no column 'N'"]),
        (lambda f: _drop_column(f / "steps.csv", "H"), ["steps.csv", "no column 'H'"]),
        (lambda f: _set_column(f / "results.csv", "H", "x"), ["results.csv", "H='x'"]),
        (lambda f: _set_column(f / "results.csv", "N", 2.5), ["N=2.5", "positive integer"]),
        (lambda f: (f / "sweep.json").write_text("[1, 2]"), ["sweep.json", "JSON list"]),
        (lambda f: (f / "sweep.json").write_text("3"), ["sweep.json", "JSON int"]),
    ],
)
def test_resume_from_a_damaged_folder_is_bad_input(
    copy_of_swept, monkeypatch, capsys, damage, needles
):
    monkeypatch.setattr(measure, "execute", forbid_execute)
    monkeypatch.setattr(measure, "calibrate", fixed_roofline)
    damage(copy_of_swept)
    line = error_line(capsys, resume_argv(copy_of_swept))
    for needle in needles:
        assert needle in line


def _drop_column(path, column):
    pd.read_csv(path).drop(columns=column).to_csv(path, index=False)


def _set_column(path, column, value):
    frame = pd.read_csv(path)
    frame[column] = value
    frame.to_csv(path, index=False)


# ---------------------------------------------------------------- folders accepted silently
@pytest.mark.parametrize("out", ["", "  "])
@pytest.mark.parametrize("command", ["sweep", "run"])
def test_a_blank_out_is_refused(monkeypatch, tmp_path, capsys, out, command):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(measure, "execute", forbid_execute)
    monkeypatch.setattr(measure, "calibrate", fixed_roofline)
    monkeypatch.setattr(studies, "calibrate", fixed_roofline)
    argv = ["sweep", "--H", "4,8", "--N", "3", "--repeat", "1"] if command == "sweep" else ["run"]
    line = error_line(capsys, [*argv, "--out", out])
    assert "--out must name a folder" in line
    assert list(tmp_path.iterdir()) == []  # nothing written into the current folder


@pytest.mark.parametrize("folder", ["", " "])
def test_report_of_a_blank_folder_is_refused(swept, monkeypatch, tmp_path, capsys, folder):
    # "" meant the current folder: its results.csv was re-rendered there
    monkeypatch.chdir(tmp_path)
    shutil.copy(swept[0] / "results.csv", tmp_path / "results.csv")
    line = error_line(capsys, ["report", folder])
    assert "FOLDER must name a folder" in line
    assert [p.name for p in tmp_path.iterdir()] == ["results.csv"]


@pytest.mark.parametrize("resume", [["--resume"], []])
def test_run_into_a_sweep_folder_is_refused(copy_of_swept, monkeypatch, capsys, resume):
    monkeypatch.setattr(measure, "execute", forbid_execute)
    monkeypatch.setattr(studies, "calibrate", fixed_roofline)
    before = {p.name: p.read_bytes() for p in copy_of_swept.iterdir()}
    line = error_line(capsys, ["run", "--quick", *resume, "--out", str(copy_of_swept)])
    assert str(copy_of_swept) in line and "analyzer sweep" in line and "overwrite" in line
    assert {p.name: p.read_bytes() for p in copy_of_swept.iterdir()} == before


def test_sweep_into_a_folder_of_other_results_is_refused(copy_of_swept, monkeypatch, capsys):
    monkeypatch.setattr(measure, "execute", forbid_execute)
    monkeypatch.setattr(measure, "calibrate", fixed_roofline)
    (copy_of_swept / "sweep.json").unlink()  # as in a folder made by 'analyzer run'
    before = (copy_of_swept / "results.csv").read_bytes()
    argv = ["sweep", "--H", "4,8", "--N", "3", "--out", str(copy_of_swept), "--repeat", "1"]
    line = error_line(capsys, argv)
    assert str(copy_of_swept) in line and "sweep did not make" in line
    assert (copy_of_swept / "results.csv").read_bytes() == before


@pytest.mark.parametrize(
    "command, given, expected",
    [
        ("plan", [], 10.0),
        ("plan", ["--time-limit", "2.5"], 2.5),
        ("plan", ["--time-limit", "none"], None),
        ("plan", ["--time-limit", "NONE"], None),
        ("compare", [], 10.0),
        ("compare", ["--time-limit", "7"], 7.0),
        ("compare", ["--time-limit", "None"], None),
    ],
)
def test_time_limit_reaches_the_planner(monkeypatch, capsys, command, given, expected):
    import analyzer.planning.api as api

    seen = []
    real = api.plan

    def recording(*args, **kwargs):
        seen.append(kwargs.get("time_limit", "not given"))
        return real(*args, **kwargs)

    monkeypatch.setattr(api, "plan", recording)  # compare plans through it
    if command == "plan":
        monkeypatch.setattr(cli, "plan", recording)
    assert main([command, *SIZES, *given]) == 0
    assert seen and all(limit == expected for limit in seen)
    assert "optimal" in capsys.readouterr().out
