"""Tests of analyzer.files: atomic writes leave the old file or the new one, never a mix."""

from __future__ import annotations

import os
import re
import stat

import pandas as pd
import pytest
from matplotlib.figure import Figure

from analyzer.errors import AnalyzerError
from analyzer.files import (
    atomic_write,
    atomic_write_bytes,
    atomic_write_text,
    save_figure,
    write_csv,
)


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def _figure():
    fig = Figure()
    ax = fig.subplots()
    ax.plot([1, 2, 3], [1, 4, 9])
    ax.set_title("squares")
    return fig


# ----------------------------------------------------------------------------- round trips


@pytest.mark.parametrize(
    "text", ["", "plain\n", "H³N and σ′ ∇\n", "windows\r\nline ends\r\n", "x" * 100_000]
)
def test_text_round_trip(tmp_path, text):
    path = atomic_write_text(tmp_path / "a.txt", text)
    assert path == tmp_path / "a.txt"
    assert path.read_bytes() == text.encode("utf-8")
    assert _names(tmp_path) == ["a.txt"]


def test_text_encoding(tmp_path):
    atomic_write_text(tmp_path / "a.txt", "é", encoding="latin-1")
    assert (tmp_path / "a.txt").read_bytes() == b"\xe9"


@pytest.mark.parametrize("data", [b"", b"\x00\x01\xff", bytearray(b"abc"), memoryview(b"xyz")])
def test_bytes_round_trip(tmp_path, data):
    atomic_write_bytes(tmp_path / "a.bin", data)
    assert (tmp_path / "a.bin").read_bytes() == bytes(data)


def test_replaces_existing_file(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert _names(tmp_path) == ["a.txt"]


def test_accepts_str_path_and_creates_parents(tmp_path):
    target = tmp_path / "deep" / "er" / "a.txt"
    path = atomic_write_text(str(target), "x")
    assert path == target and target.read_text() == "x"


def test_csv_round_trip(tmp_path):
    df = pd.DataFrame(
        {
            "order": ["input-first", "output-first"],
            "H": [8, 16],
            "macs": [2048, 1024],
            "seconds": [1.25e-6, 3.0e-7],
            "leading_term": ["H**3*N", "H**2*N"],
        }
    )
    path = write_csv(df, tmp_path / "r.csv")
    assert path.read_text().splitlines()[0] == "order,H,macs,seconds,leading_term"
    pd.testing.assert_frame_equal(pd.read_csv(path), df, check_dtype=False)


def test_save_figure_writes_png_and_svg(tmp_path):
    paths = save_figure(_figure(), tmp_path / "plots" / "squares")
    assert paths == [tmp_path / "plots" / "squares.png", tmp_path / "plots" / "squares.svg"]
    assert paths[0].read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    svg = paths[1].read_text()
    assert "<svg" in svg and "squares" in svg
    assert _names(tmp_path / "plots") == ["squares.png", "squares.svg"]


def test_save_figure_png_dpi_120(tmp_path):
    fig = _figure()
    fig.set_size_inches(2, 1)
    png = save_figure(fig, tmp_path / "f")[0].read_bytes()
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (240, 120)


@pytest.mark.parametrize("name", ["f.png", "f.svg", "f.PNG"])
def test_save_figure_drops_image_suffix(tmp_path, name):
    paths = save_figure(_figure(), tmp_path / name)
    assert [p.name for p in paths] == ["f.png", "f.svg"]


def test_save_figure_keeps_other_dots(tmp_path):
    paths = save_figure(_figure(), tmp_path / "ratio_1.5")
    assert [p.name for p in paths] == ["ratio_1.5.png", "ratio_1.5.svg"]


def test_save_figure_svg_is_reproducible(tmp_path):
    fig = _figure()
    first = save_figure(fig, tmp_path / "a")[1].read_bytes()
    second = save_figure(fig, tmp_path / "b")[1].read_bytes()
    assert first == second


# ----------------------------------------------------------------------------- failures


def test_writer_raising_midway_leaves_old_file(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old content")

    def writer(fh):
        fh.write(b"half of the new")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        atomic_write(target, writer)
    assert target.read_text() == "old content"
    assert _names(tmp_path) == ["a.txt"]


def test_interrupt_midway_leaves_no_temp_file(tmp_path):
    def writer(fh):
        fh.write(b"partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "a.txt", writer)
    assert _names(tmp_path) == []


def test_failing_to_csv_leaves_old_csv(tmp_path, monkeypatch):
    target = tmp_path / "r.csv"
    write_csv(pd.DataFrame({"a": [1]}), target)
    before = target.read_bytes()
    original = pd.DataFrame.to_csv

    def broken(self, path_or_buf=None, **kwargs):
        path_or_buf.write(b"a\n")  # some bytes land in the temporary file first
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    with pytest.raises(AnalyzerError, match="cannot write .*r.csv: No space left on device"):
        write_csv(pd.DataFrame({"a": [2, 3]}), target)
    monkeypatch.setattr(pd.DataFrame, "to_csv", original)
    assert target.read_bytes() == before
    assert _names(tmp_path) == ["r.csv"]


def test_failing_savefig_leaves_old_figure(tmp_path, monkeypatch):
    fig = _figure()
    png, svg = save_figure(fig, tmp_path / "f")
    before = png.read_bytes(), svg.read_bytes()

    def broken(*args, **kwargs):
        raise ValueError("cannot render")

    monkeypatch.setattr(fig, "savefig", broken)
    with pytest.raises(ValueError, match="cannot render"):
        save_figure(fig, tmp_path / "f")
    assert (png.read_bytes(), svg.read_bytes()) == before
    assert _names(tmp_path) == ["f.png", "f.svg"]


def test_path_under_a_regular_file(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(AnalyzerError, match=r"cannot write .*file.*sub.*a\.txt: "):
        atomic_write_text(tmp_path / "file" / "sub" / "a.txt", "y")
    with pytest.raises(AnalyzerError, match="cannot write"):
        atomic_write_text(tmp_path / "file" / "a.txt", "y")


def test_target_is_a_folder(tmp_path):
    (tmp_path / "dir").mkdir()
    with pytest.raises(AnalyzerError, match="cannot write .*dir"):
        atomic_write_text(tmp_path / "dir", "y")
    assert _names(tmp_path) == ["dir"]
    assert _names(tmp_path / "dir") == []


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores permissions"
)
def test_permission_denied(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(AnalyzerError, match="cannot write .*ro.*a.txt: Permission denied"):
            atomic_write_text(folder / "a.txt", "x")
    finally:
        folder.chmod(0o700)


def test_permission_denied_simulated(tmp_path, monkeypatch):
    import analyzer.files

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(analyzer.files.tempfile, "NamedTemporaryFile", denied)
    with pytest.raises(AnalyzerError, match="cannot write .*a.txt: Permission denied"):
        atomic_write_text(tmp_path / "a.txt", "x")
    assert _names(tmp_path) == []


def test_errors_are_value_errors(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError):
        atomic_write_bytes(tmp_path / "file" / "a", b"")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: atomic_write_text(p / "a", b"bytes"), "text must be a str"),
        (lambda p: atomic_write_bytes(p / "a", "text"), "data must be bytes"),
        (lambda p: write_csv([1, 2], p / "a.csv"), "expected a pandas DataFrame"),
        (lambda p: save_figure("fig", p / "f"), "expected a matplotlib Figure"),
    ],
)
def test_bad_arguments(tmp_path, call, message):
    with pytest.raises(AnalyzerError, match=message):
        call(tmp_path)
    assert _names(tmp_path) == []


# ----------------------------------------------------------------------------- permissions


def test_new_file_gets_umask_permissions(tmp_path):
    mask = os.umask(0o022)
    os.umask(mask)
    path = atomic_write_text(tmp_path / "a.txt", "x")
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask


def test_replaced_file_keeps_its_permissions(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    target.chmod(0o640)
    atomic_write_text(target, "new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_save_figure_lays_out_once_and_gives_the_figure_back_as_it_was(tmp_path, monkeypatch):
    """The SVG reuses the layout the PNG's draw made (a constrained layout is the slowest part
    of a save); the figure keeps its layout engine, and saving again gives the same SVG."""
    from matplotlib.figure import Figure
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    def figure():
        fig = Figure(figsize=(4, 3), layout="constrained")
        ax = fig.subplots()
        ax.plot([1, 10, 100], [1, 100, 10_000], label="squares")
        ax.set(xscale="log", yscale="log", title="a long title to lay out", ylabel="seconds")
        ax.legend()
        return fig

    layouts, real = [], ConstrainedLayoutEngine.execute

    def counted(self, fig):
        layouts.append(fig)
        return real(self, fig)

    monkeypatch.setattr(ConstrainedLayoutEngine, "execute", counted)
    fig = figure()
    first = [p.read_bytes() for p in save_figure(fig, tmp_path / "a")]
    assert len(layouts) == 1
    assert isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine)
    again = [p.read_bytes() for p in save_figure(fig, tmp_path / "b")]
    assert again[1] == first[1]
    # the same as an SVG laid out on its own, to within a point
    alone = tmp_path / "alone.svg"
    figure().savefig(alone, format="svg", metadata={"Date": None})
    numbers = re.compile(rb"-?\d+\.\d+")
    ours = [float(x) for x in numbers.findall(first[1])]
    theirs = [float(x) for x in numbers.findall(alone.read_bytes())]
    assert len(ours) == len(theirs)
    assert max(abs(a - b) for a, b in zip(ours, theirs, strict=True)) < 1.0
