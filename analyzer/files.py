"""Atomic file writes: a temporary file in the target's folder, fsync, then ``os.replace``."""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from .errors import AnalyzerError

__all__ = [
    "atomic_write",
    "atomic_write_text",
    "atomic_write_bytes",
    "write_csv",
    "save_figure",
    "GRAPH_FILE",
]

PathLike = str | os.PathLike

#: The swept graph's variables and factors (node-link JSON), written by a sweep beside its
#: results.csv and drawn by the report.
GRAPH_FILE = "graph.json"


@functools.cache
def _umask() -> int:
    """The process umask (read once; ``os.umask`` can only be read by setting it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def atomic_write(path: PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Write a file atomically: readers see the old content or the new, never a mix.

    ``write`` receives a binary file object opened on a temporary file in the target's
    folder. When it returns, the file is flushed, fsynced and moved onto ``path`` with
    ``os.replace``. If anything raises, the temporary file is removed, ``path`` is left
    untouched and the exception propagates (an ``OSError`` becomes an
    :class:`~analyzer.errors.AnalyzerError`). The parent folder is created if missing.
    A new file gets the usual ``0o666 & ~umask`` permissions; a replaced file keeps its own.

    Parameters
    ----------
    path : str or os.PathLike
        The target file.
    write : callable
        Called once with the open binary file object.

    Returns
    -------
    pathlib.Path
        The target path.

    Raises
    ------
    AnalyzerError
        ``cannot write <path>: <reason>`` when the folder cannot be created or written.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     target = atomic_write(Path(tmp) / "sub" / "a.bin", lambda fh: fh.write(b"abc"))
    ...     target.read_bytes()
    b'abc'
    """
    target = Path(os.fspath(path))
    if not target.name:
        raise AnalyzerError(f"cannot write {str(path)!r}: the path names no file")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(
            dir=target.parent, prefix=f".{target.name}.", suffix=".tmp", delete=False
        )
    except OSError as exc:
        raise AnalyzerError(f"cannot write {target}: {_reason(exc)}") from exc
    tmp_name = handle.name
    try:
        with handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            mode = target.stat().st_mode & 0o7777
        except OSError:
            mode = 0o666 & ~_umask()
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, target)
    except BaseException as exc:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise AnalyzerError(f"cannot write {target}: {_reason(exc)}") from exc
        raise
    return target


def atomic_write_bytes(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     atomic_write_bytes(Path(tmp) / "a.bin", b"\\x00\\x01").read_bytes()
    b'\\x00\\x01'
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise AnalyzerError(
            f"atomic_write_bytes: data must be bytes, bytearray or memoryview, "
            f"got {type(data).__name__}"
        )
    return atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically, encoded with ``encoding`` (newlines kept as is).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     atomic_write_text(Path(tmp) / "note.txt", "H³N\\n").read_text(encoding="utf-8")
    'H³N\\n'
    """
    if not isinstance(text, str):
        raise AnalyzerError(f"atomic_write_text: text must be a str, got {type(text).__name__}")
    data = text.encode(encoding)
    return atomic_write(path, lambda fh: fh.write(data))


def write_csv(df: Any, path: PathLike) -> Path:
    """Write a pandas DataFrame to ``path`` as CSV without its index, atomically.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import pandas as pd
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     p = write_csv(pd.DataFrame({"H": [8, 16], "macs": [512, 4096]}), Path(tmp) / "r.csv")
    ...     print(p.read_text(), end="")
    H,macs
    8,512
    16,4096
    """
    if not hasattr(df, "to_csv"):
        raise AnalyzerError(f"write_csv: expected a pandas DataFrame, got {type(df).__name__}")
    return atomic_write(path, lambda fh: df.to_csv(fh, index=False, encoding="utf-8"))


def save_figure(fig: Any, path_without_suffix: PathLike) -> list[Path]:
    """Save a matplotlib figure as ``<path>.png`` (dpi 120) and ``<path>.svg``, atomically.

    A trailing ``.png`` or ``.svg`` on the path is dropped; any other dot stays part of the
    name. The SVG carries no date and fixed ids, so two equal figures, each made afresh and
    saved once, give the same file (handy for reports kept under version control). Saving
    one figure that has a layout engine ("constrained", "compressed", "tight") a second time
    may not: each save lays it out again from the positions the last one left, which can
    move an axes by a rounding step (an SVG clip id then changes) or, with "compressed",
    by more. If the SVG cannot be written, the PNG already written stays.

    Returns
    -------
    list of pathlib.Path
        The PNG path, then the SVG path.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from matplotlib.figure import Figure
    >>> fig = Figure()
    >>> _ = fig.subplots().plot([1, 2], [3, 4])
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     [p.name for p in save_figure(fig, Path(tmp) / "line")]
    ['line.png', 'line.svg']
    """
    if not hasattr(fig, "savefig"):
        raise AnalyzerError(f"save_figure: expected a matplotlib Figure, got {type(fig).__name__}")
    base = os.fspath(path_without_suffix)
    if base.lower().endswith((".png", ".svg")):
        base = base[:-4]
    png, svg = Path(base + ".png"), Path(base + ".svg")
    atomic_write(png, lambda fh: fig.savefig(fh, format="png", dpi=120))
    engine = fig.get_layout_engine()
    if engine is not None:  # the layout the PNG's draw made holds for the SVG: not made twice
        fig.set_layout_engine("none")
    try:
        atomic_write(svg, lambda fh: _save_svg(fig, fh))
    finally:
        if engine is not None:
            fig.set_layout_engine(engine)
    return [png, svg]


def _save_svg(fig: Any, fh: IO[bytes]) -> None:
    """SVG without a date and with ids from a fixed salt, so equal figures give equal files."""
    import matplotlib

    with matplotlib.rc_context({"svg.hashsalt": "analyzer"}):
        fig.savefig(fh, format="svg", metadata={"Date": None})
