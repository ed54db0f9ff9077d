"""``render`` (``analyzer report DIR``) refuses a report folder whose CSV files were cut midway.

pandas fills the missing cells of a short last row with nothing, so a results.csv cut in
the middle of a row rendered a report of a partial row beside the saved fits of the
whole sweep; the expected messages name the file and its line.
"""

from __future__ import annotations

import pandas as pd
import pytest

from analyzer.cli import main
from analyzer.errors import AnalyzerError
from analyzer.report.folder import render, write_report


@pytest.fixture
def folder(tmp_path):
    results = pd.DataFrame(
        {
            "cost": "dense",
            "order": ["input-first", "output-first"] * 2,
            "sweep": "H",
            "H": [8, 8, 16, 16],
            "macs": [2048, 256, 16384, 1024],
            "sequence": ["u, y", "y, u"] * 2,
        }
    )
    write_report(tmp_path, results, None)
    return tmp_path


def _cut(path, keep_lines, extra_chars):
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    path.write_text("".join(lines[:keep_lines]) + lines[keep_lines][:extra_chars], "utf-8")


def test_an_intact_folder_renders(folder):
    assert render(folder).name == "report.md"


def test_a_results_file_cut_in_a_row_is_refused(folder):
    _cut(folder / "results.csv", 2, 12)  # the header, one row, and 12 characters of the next
    with pytest.raises(AnalyzerError, match=r"results\.csv: line 3 has \d+ fields, its header"):
        render(folder)


def test_a_results_file_without_rows_is_refused(folder):
    _cut(folder / "results.csv", 1, 0)
    with pytest.raises(AnalyzerError, match="holds no rows"):
        render(folder)


def test_the_command_exits_2_with_one_line(folder, capsys):
    _cut(folder / "results.csv", 3, 5)
    assert main(["report", str(folder)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "cut or damaged" in err
