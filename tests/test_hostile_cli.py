"""Hostile input: text read from disk is never evaluated, and the command line never shows
a traceback for bad input.

The first part feeds hostile polynomial texts to the reader of cost polynomials
(``analyzer.symbolic.parse_expression``), directly and through the files that
``analyzer report`` and ``analyzer sweep --resume`` read. The second part drives
``analyzer.cli.main`` with hostile arguments and damaged folders (hypothesis): the
exit status is 0, or 2 with exactly one stderr line ``analyzer: error: ...``.
"""

from __future__ import annotations

import os

import pandas as pd
import pytest
import sympy

import analyzer.measure as measure
from analyzer.cli import main
from analyzer.errors import AnalyzerError
from analyzer.fit import fit_exponents, predicted_exponent
from analyzer.machine import Roofline
from analyzer.symbolic import (
    MAX_DEPTH,
    as_expression,
    degree_in,
    leading_term,
    parse_expression,
    size_symbols,
)

R = Roofline(1e9, 1e10)
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
