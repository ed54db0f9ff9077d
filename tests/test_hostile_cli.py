"""Hostile input: text read from disk is never evaluated, and the command line never shows
a traceback for bad input.

The first part feeds hostile polynomial texts to the reader of cost polynomials
(``analyzer.symbolic.parse_expression``), directly and through the files that
``analyzer report`` and ``analyzer sweep --resume`` read. The second part drives
``analyzer.cli.main`` with hostile arguments and damaged folders (hypothesis): the
exit status is 0, or 2 with exactly one stderr line ``analyzer: error: ...``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import sympy
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import analyzer.measure as measure
import analyzer.report.compose as report_compose
import analyzer.studies as studies
from analyzer.cli import main
from analyzer.errors import AnalyzerError
from analyzer.files import atomic_write_bytes
from analyzer.fit import fit_exponents, predicted_exponent
from analyzer.machine import Roofline
from analyzer.measure import resolve_model
from analyzer.models import MODELS
from analyzer.planning import ALIASES, ORDERS
from analyzer.symbolic import (
    MAX_DEPTH,
    as_expression,
    degree_in,
    leading_term,
    parse_expression,
    size_symbols,
)

R = Roofline(1e9, 1e10)
REAL_EXECUTE = measure.execute
PAYLOAD = "__import__('pathlib').Path('MARKER').touch() or H**3*N"

HOSTILE_TEXTS = [
    PAYLOAD,
    "__import__('os').system('touch MARKER')",
    "__import__",
    "H.__class__",
    "H.real",
    "(lambda: H)()",
    "lambda x: x",
    "[H for H in ()]",
    "exec('1')",
    "eval('H')",
    "open('MARKER', 'w')",
    "Symbol('H')",
    "H**(",
    "H**",
    "H +",
    "(H",
    "H)",
    "",
    "   ",
    "H N",
    "H**H",
    "H**2**3",
    "H**0.5",
    "1.5*H",
    "H**99999999999999999999",
    "2**256**256",
    "(" * 5000 + "H" + ")" * 5000,
    "-" * 5000 + "H",
    "H+" * 20_000 + "H",
    "((((((((2**200)**200)**200)**200)**200)**200)**200)**200)",
    "(H+N+M+K+1)**200",
    "9" * 5000,
    "H\x00",
    "H;N",
    "H # comment",
    "'H'",
    "b'H'",
    "H@N",
    "H%N",
    "H//N",
    "H==N",
    "log(H)",
    "Max()",
    "0**(-1)",
]


@pytest.mark.parametrize("text", HOSTILE_TEXTS, ids=range(len(HOSTILE_TEXTS)))
def test_hostile_texts_are_refused_and_nothing_runs(tmp_path, monkeypatch, text):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AnalyzerError) as info:
        parse_expression(text)
    message = str(info.value)
    assert message.startswith("cannot read") and len(message) < 300
    assert "\n" not in message
    assert not (tmp_path / "MARKER").exists()
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("H**3*N + H**2*N + H*N + H", "H**3*N + H**2*N + H*N + H"),
        ("H**2*N + H**2 + 2*H", "H**2*N + H**2 + 2*H"),
        ("S*E*I*Q", "S*E*I*Q"),  # sympy's own names are sizes here
        ("3*H*N/2 - H", "3*H*N/2 - H"),
        ("H**(-1) + (H + 1)*(N - 1)", "H*N - H + N - 1 + 1/H"),
        ("  -H ** ( 2 )  ", "-H**2"),
        ("Max(H, N) + min(H, 2)", "Max(H, N) + Min(2, H)"),
        ("12345678901234567890*H", "12345678901234567890*H"),
        ("0", "0"),
    ],
)
def test_the_grammar_reads_what_sympy_prints(text, expected):
    H, N, S, E, I, Q = size_symbols("H N S E I Q")  # noqa: E741
    names = {"H": H, "N": N, "S": S, "E": E, "I": I, "Q": Q}
    want = sympy.expand(
        sympy.sympify(expected, locals={**names, "Max": sympy.Max, "Min": sympy.Min})
    )
    assert as_expression(text) == want
    assert all(s.is_positive and s.is_integer for s in as_expression(text).free_symbols)


def test_deepest_allowed_nesting_reads_and_one_more_is_refused():
    assert parse_expression("(" * MAX_DEPTH + "H" + ")" * MAX_DEPTH) == size_symbols("H")[0]
    with pytest.raises(AnalyzerError, match="nested deeper"):
        parse_expression("(" * (MAX_DEPTH + 1) + "H" + ")" * (MAX_DEPTH + 1))


def test_the_sheets_polynomials_round_trip_through_their_text():
    H, N = size_symbols("H N")
    for cost in (H**3 * N + H**2 * N + H * N + H, H**2 * N + H**2 + 2 * H, 3 * H * N + H):
        assert as_expression(str(cost)) == cost
        assert leading_term(str(cost)) == leading_term(cost)


@pytest.mark.parametrize("text", [PAYLOAD, "H**(", "__import__('os')", "H.real"])
def test_predicted_exponent_and_degree_refuse_hostile_text(tmp_path, monkeypatch, text):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AnalyzerError):
        predicted_exponent(text, "H")
    with pytest.raises(AnalyzerError):
        degree_in(text, "H")
    assert not (tmp_path / "MARKER").exists()


def test_fit_of_a_hostile_leading_term_runs_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    df = pd.DataFrame({"H": [4, 8, 16], "macs": [64, 512, 4096], "leading_term": PAYLOAD})
    with pytest.raises(AnalyzerError, match="cannot read"):
        fit_exponents(df, x="H", y="macs")
    assert not (tmp_path / "MARKER").exists()


@pytest.fixture
def swept_folder(tmp_path):
    folder = tmp_path / "sweep"
    argv = ["sweep", "--H", "4,8", "--N", "3", "--out", str(folder), "--repeat", "1"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(measure, "calibrate", lambda *a, **k: R)
        assert main(argv) == 0
    return folder, argv


@pytest.mark.parametrize("column", ["leading_term", "formula"])
def test_report_and_resume_of_a_poisoned_folder_run_nothing(
    swept_folder, tmp_path, monkeypatch, capsys, column
):
    folder, argv = swept_folder
    results = pd.read_csv(folder / "results.csv")
    results[column] = PAYLOAD
    results.to_csv(folder / "results.csv", index=False)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(measure, "calibrate", lambda *a, **k: R)
    capsys.readouterr()
    for command in (["report", str(folder)], [*argv, "--resume"]):
        status = main(command)
        err = capsys.readouterr().err
        assert status in (0, 2), err
        if status == 2:
            assert err.startswith("analyzer: error: ") and len(err.splitlines()) == 1
            assert "cannot read" in err
        assert not (work / "MARKER").exists()
        assert not (folder / "MARKER").exists()


# ================================================================ the command line, fuzzed
# Nothing here times anything for real: the roofline is fixed, plans with more than
# SMALL_MACS multiply-adds are "executed" by a stand-in that only reports their counts,
# figures are written as stubs, and the study's sizes are tiny.
SMALL_MACS = 20_000


def quick_execute(plan, repeat=1, *args, **kwargs):
    """The real execute at tiny counts (one run), a stand-in with plausible numbers above."""
    if plan.macs <= SMALL_MACS and plan.largest_intermediate <= SMALL_MACS:
        return REAL_EXECUTE(plan, repeat=1, warmup=0, min_seconds=0.0, threads=1)
    seconds = 1e-9 * (plan.macs + 1)
    steps = np.full(len(plan.steps), seconds / max(len(plan.steps), 1))
    return SimpleNamespace(
        macs=plan.macs,
        seconds=seconds,
        seconds_min=seconds,
        seconds_iqr=0.0,
        repeats=1,
        gflops=2 * plan.macs / seconds / 1e9,
        step_seconds=steps,
    )


def stub_figure(fig, path_without_suffix):
    base = str(path_without_suffix)
    paths = [Path(base + ".png"), Path(base + ".svg")]
    for path in paths:
        atomic_write_bytes(path, b"stub")
    return paths


TINY_STUDY = {
    "dense": {"H": [2, 3, 4], "N": 2, "H_fixed": 2, "N_values": [2, 3, 4]},
    "structured": {"H": [2, 3, 4], "N": 2, "H_fixed": 2, "N_values": [2, 3, 4]},
}


@pytest.fixture(scope="module")
def quiet():
    """Patch out calibration, large executions, figure rendering and the study's sizes."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(measure, "calibrate", lambda *a, **k: R)
        mp.setattr(studies, "calibrate", lambda *a, **k: R)
        mp.setattr(measure, "execute", quick_execute)
        mp.setattr(report_compose, "save_figure", stub_figure)
        mp.setattr(
            studies,
            "FORWARD_VS_REVERSE",
            {cost: {"full": g, "quick": g} for cost, g in TINY_STUDY.items()},
        )
        yield


@contextlib.contextmanager
def inside(folder: str):
    """Work in ``folder`` (contextlib.chdir is Python 3.11+)."""
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    """Run the command line in-process and hold it to the contract; its status and stderr."""
    capsys.readouterr()
    try:
        status = main(argv)
    except SystemExit as done:  # --help
        status = done.code
        assert status == 0, argv
    err = capsys.readouterr().err
    assert "Traceback" not in err, (argv, err)
    if status != 0:
        lines = err.splitlines()
        assert status == 2, (argv, err)
        assert len(lines) == 1 and lines[0].startswith("analyzer: error: "), (argv, err)
    return status, err


HOSTILE_VALUES = [
    "0", "-1", "1", "2", "3", str(10**12), str(10**30), "1.5", "1e3", "", " ", ",", "4,",
    ",4", "2,3", "2,2", "3,2,4", "0,2", " 4", "+4", "0x10", "1_0", "nan", "inf", "٣", "--H",
    "é", "\x00", "4;5", "2,-3",
]  # fmt: skip
MODEL_NAMES = [*MODELS, *MODELS, "", " ", "two-layer", "ONE-LAYER", "one_layer", "é", "../x"]
ORDER_VALUES = [*ORDERS, *ALIASES, "", ",", "sideways", "optimal,optimal", "input-first,,optimal"]
COST_VALUES = ["dense", "structured", "dense,structured", "", ",", "bogus", "matrix-free", "é"]
STRAY = ["--bogus", "-x", "--", "---", "-", "--=", "--H=", "=", "--model", "stray", "--é"]
OUT_VALUES = ["", " ", "out", "é/ü", "a b", "out/../out", "./", "file.txt/sub"]


def text_values():
    return st.text(max_size=6)


GOOD_VALUES = st.sampled_from(["2", "3", "4", "2,3", "2,4", "3,2"])
values = st.one_of(
    GOOD_VALUES,
    GOOD_VALUES,
    st.sampled_from(HOSTILE_VALUES),
    text_values(),
    st.integers(-3, 9).map(str),
)


@st.composite
def size_options(draw, model: str) -> list[str]:
    try:
        names = resolve_model(model)[2]
    except AnalyzerError:
        names = ["H", "N"]
    options: list[str] = []
    for name in names:
        if draw(st.integers(0, 9)) == 0:
            continue  # a missing size
        value = draw(values)
        if draw(st.booleans()):
            options += [f"--{name}", value]
        else:
            options.append(f"--{name}={value}")
    if draw(st.integers(0, 5)) == 0:
        options += [draw(st.sampled_from(STRAY + ["--Z"])), draw(values)]
    return options


@st.composite
def command_lines(draw) -> list[str]:
    command = draw(st.sampled_from(["plan", "compare", "sweep", "report", "run"]))
    argv = [command]
    if command in ("plan", "compare", "sweep"):
        model = draw(st.sampled_from(MODEL_NAMES))
        if draw(st.integers(0, 4)):
            argv += ["--model", model]
        else:
            model = "one-layer"
        argv += draw(size_options(model))
        if draw(st.booleans()):
            argv += ["--cost", draw(st.one_of(st.sampled_from(COST_VALUES), text_values()))]
    if command == "plan" and draw(st.booleans()):
        argv += ["--order", draw(st.one_of(st.sampled_from(ORDER_VALUES), text_values()))]
    if command == "sweep":
        argv += ["--out", draw(st.sampled_from(OUT_VALUES))]
        if draw(st.booleans()):
            argv += ["--orders", draw(st.one_of(st.sampled_from(ORDER_VALUES), text_values()))]
        for option in ("--repeat", "--threads"):
            if draw(st.integers(0, 3)) == 0:
                argv += [option, draw(st.sampled_from(["0", "-1", "1", "2", "x", "", "1e9"]))]
        if draw(st.booleans()):
            argv.append("--resume")
    if command == "report":
        argv.append(draw(st.sampled_from(["", ".", "nowhere", "file.txt", "é", "out"])))
    if command == "run":
        argv += draw(st.lists(st.sampled_from(["--quick", "--resume"]), max_size=2))
        argv += ["--out", draw(st.sampled_from(OUT_VALUES + ["sweep-made"]))]
    if draw(st.integers(0, 5)) == 0:
        argv.insert(draw(st.integers(0, len(argv))), draw(st.sampled_from(STRAY)))
    return argv


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(argv=command_lines())
def test_hostile_command_lines_exit_0_or_2_with_one_line(quiet, capsys, argv):
    with tempfile.TemporaryDirectory() as tmp, inside(tmp):
        Path("file.txt").write_text("a file, not a folder")
        if "sweep-made" in argv:
            Path("sweep-made").mkdir()
            Path("sweep-made", "sweep.json").write_text("{}")
            Path("sweep-made", "results.csv").write_text("H,macs\n4,1\n")
        run_cli(argv, capsys)


# ---------------------------------------------------------------- damaged folders
BASE_ARGV = ["sweep", "--H", "2,3,4", "--N", "2", "--repeat", "1"]


@pytest.fixture(scope="module")
def base_folder(quiet, tmp_path_factory):
    """A folder made by ``analyzer sweep`` (report, plots as stubs, sweep.json)."""
    folder = tmp_path_factory.mktemp("hostile") / "base"
    assert main([*BASE_ARGV, "--out", str(folder)]) == 0
    return folder


FILES = ["results.csv", "steps.csv", "fits.csv", "sweep.json", "meta.json", "machine.json"]
JSON_DAMAGE = [
    "[]",
    "[1, 2]",
    "3",
    "null",
    '"text"',
    "{",
    "true",
    '{"sizes": 5}',
    '{"roofline": "x"}',
    '{"roofline": [1]}',
    '{"name": 5, "sizes": ["H", 3], "notes": 7}',
]


@st.composite
def damages(draw):
    name = draw(st.sampled_from(FILES))
    kind = draw(
        st.sampled_from(
            ["truncate", "empty", "garbage", "binary", "delete", "header", "drop", "set", "json"]
        )
    )
    if kind == "truncate":
        return name, kind, draw(st.floats(0, 1))
    if kind == "garbage":
        return name, kind, draw(st.text(max_size=60))
    if kind == "binary":
        return name, kind, draw(st.binary(max_size=60))
    if kind in ("drop", "set"):
        column = draw(st.sampled_from(["H", "N", "macs", "order", "cost", "sweep", "formula",
                                       "leading_term", "seconds", "slope", "x", "predicted",
                                       "verdict", "step", "roofline_ratio"]))  # fmt: skip
        value = draw(st.sampled_from(["", "abc", "-1", "0", "1e400", "nan", "H**(", "2.5"]))
        return name, kind, (column, value)
    if kind == "json":
        return name, kind, draw(st.sampled_from(JSON_DAMAGE))
    return name, kind, None


def damage(folder: Path, name: str, kind: str, detail) -> None:
    path = folder / name
    data = path.read_bytes() if path.exists() else b""
    if kind == "truncate":
        path.write_bytes(data[: int(len(data) * detail)])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_text(detail, encoding="utf-8", errors="surrogatepass")
    elif kind == "binary":
        path.write_bytes(detail)
    elif kind == "delete":
        path.unlink(missing_ok=True)
    elif kind == "header":
        path.write_bytes(data.split(b"\n", 1)[0] + b"\n")
    elif kind == "json":
        path.write_text(detail)
    elif name.endswith(".csv"):
        try:
            frame = pd.read_csv(path)
        except (OSError, ValueError):  # already damaged, or gone
            return
        column, value = detail
        if column in frame.columns:
            if kind == "drop":
                frame = frame.drop(columns=column)
            else:
                frame[column] = value
        frame.to_csv(path, index=False)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(damaged=st.lists(damages(), min_size=1, max_size=2), resume=st.booleans())
@example(damaged=[("fits.csv", "drop", ("verdict", ""))], resume=False)  # was a KeyError
def test_damaged_report_and_resume_folders_exit_0_or_2_with_one_line(
    base_folder, capsys, damaged, resume
):
    with tempfile.TemporaryDirectory() as tmp, inside(tmp):
        folder = Path(tmp) / "copy"
        shutil.copytree(base_folder, folder)
        for name, kind, detail in damaged:
            damage(folder, name, kind, detail)
        argv = [*BASE_ARGV, "--out", str(folder), "--resume"] if resume else ["report", str(folder)]
        run_cli(argv, capsys)
        assert not Path("MARKER").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["plan", "--model", "least-squares", "--m", "1", "--n", str(2**63)],
        ["compare", "--model", "affine", "--p", str(2**63), "--n", "2"],
        ["plan", "--model", "least-squares", "--m", "100000", "--n", "100000"],
    ],
)
def test_models_too_large_to_draw_are_bad_input(quiet, capsys, argv):
    """least_squares and affine draw their fixed matrix when built: a size past memory is
    refused with one line (it was a raw numpy ValueError, or 80 GB allocated to plan)."""
    run_cli(argv, capsys)
