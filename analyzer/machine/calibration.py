"""Measuring this machine's rates (BLAS on one thread), fitting its cache borders, caching it.

:func:`calibrate` measures, each as a median of repeated timings after a warm-up (the read,
write and product curves in interleaved passes over all their points, :func:`_interleaved`):

* the read bandwidth of working sets from 16 KiB to several times the last-level cache, on a
  log grid: a row vector times a matrix of that many bytes (the memory-bound kernel of a
  vector-Jacobian product), again and again;
* the write bandwidth of a freshly allocated result (``np.empty(n).fill``: first touch when
  the allocator maps new pages) and of a reused buffer (``out.fill``), on the same grid;
* the dense product rate as a function of the smallest dimension ``d``: ``(d×K)·(K×K)`` with
  ``K = 384`` (operands in the L2 cache) for ``d = 1 .. 256``, and a square product;
* the *reread* table: the read bandwidth of a row vector times a matrix of 16 KiB .. 16 MiB
  right after a stream of 4 MiB, 16 MiB, 64 MiB and 256 MiB through other memory, longer
  where four times the fitted last-level cache is (what a factor read once per repetition
  of a plan that streams more gets; longer streams evict no more on the machines measured,
  and the model keeps the last row beyond);
* the *cold* curves: the extra time of a tiny executor step right after a step that streamed
  4 MiB .. 256 MiB (the same streams), within a repetition and at the start of the next,
  and right after a step that wrote as many bytes to fresh pages (up to 64 MiB with
  ``--quick``; synthetic chains run by :func:`analyzer.execute`, see :func:`_cold`);
* the rate of each structured kernel (diagonal and row-block products) as a curve over its
  size, from 16 Ki to 16 Mi result elements (4 Mi quick; fewer where the read and write
  buffers are smaller than its operands, see :func:`_kernel_sizes`), a fresh result each
  call as in the executor;
* an elementwise numpy kernel's rate (in L1), the per-call overhead of a numpy kernel, and
  the executor's overhead per step (plans of tiny sizes run by :func:`analyzer.execute`).

Every one of these is a synthetic kernel or a synthetic chain: none runs a plan a sweep
checks, so the predictions are independent of the measurements they are compared with.

Per-call overhead is taken out of the bandwidths and rates. The result is cached per machine
(:func:`cache_path`: the version, the machine's fingerprint, the thread count and the mode).
"""

from __future__ import annotations

import ctypes
import itertools
import json
import math
import os
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..blas import available_memory, blas_threads
from ..errors import AnalyzerError
from ..files import atomic_write_text
from .info import fingerprint, machine_info, nominal_caches
from .model import CALIBRATION_VERSION, COLD_FROM, Calibration, interpolate

__all__ = [
    "CALIBRATION_SECONDS",
    "calibrate",
    "cache_path",
    "fit_bandwidth",
    "calibration_table",
]

#: Target wall time of a calibration, by mode (the default stays under 60 s, quick under 15 s).
CALIBRATION_SECONDS = {"full": 40.0, "quick": 10.0}
_SETTINGS = {
    # points per octave, seconds per point, largest working set (bytes), square GEMM size
    "full": {
        "per_octave": 2,
        "budget": 0.12,
        "top": 2**30,
        "gemm_n": 1024,
        "repeats": 20,
        "cold_repeats": 7,
        "cold_write_top": math.inf,
        "rounds": 3,
    },
    "quick": {
        "per_octave": 1,
        "budget": 0.04,
        "top": 2**29,
        "gemm_n": 512,
        "repeats": 8,
        "cold_repeats": 3,
        "cold_write_top": 2**26,
        "rounds": 2,
    },
}
_SMALLEST = 2**14
_THIN_K = 384
_THIN_D = (1, 2, 4, 8, 16, 32, 64, 128, 256)
_REREAD_SIZES = (2**14, 2**16, 2**18, 2**20, 2**22, 2**24)
_KERNEL_SIZES = {"full": (2**14, 2**17, 2**20, 2**22, 2**24), "quick": (2**14, 2**18, 2**22)}
_STREAM_TOP = 2**28  # longest stream before a reread or a cold step (both level off) ...
_STREAM_CACHES = 4  # ... unless four times the fitted last-level cache is longer


# ----------------------------------------------------------------------------- fitting
def _segments(y: np.ndarray, k: int) -> list[tuple[int, int]]:
    """The split of ``y`` into ``k`` contiguous runs with the least squared error (DP)."""
    n = len(y)
    prefix = np.concatenate([[0.0], np.cumsum(y)])
    prefix2 = np.concatenate([[0.0], np.cumsum(y * y)])

    def sse(i: int, j: int) -> float:  # run y[i:j]
        s, s2, m = prefix[j] - prefix[i], prefix2[j] - prefix2[i], j - i
        return s2 - s * s / m

    cost = np.full((k + 1, n + 1), math.inf)
    back = np.zeros((k + 1, n + 1), dtype=int)
    cost[0, 0] = 0.0
    for parts in range(1, k + 1):
        for j in range(parts, n + 1):
            for i in range(parts - 1, j):
                c = cost[parts - 1, i] + sse(i, j)
                if c < cost[parts, j]:
                    cost[parts, j], back[parts, j] = c, i
    runs, j = [], n
    for parts in range(k, 0, -1):
        i = int(back[parts, j])
        runs.append((i, j))
        j = i
    return runs[::-1]


def fit_bandwidth(
    sizes: Sequence[float],
    rates: Sequence[float],
    caches: Sequence[tuple[str, int]] = (),
    *,
    max_levels: int = 5,
    min_step: float = 1.2,
    memory_step: float = 1.4,
) -> tuple[tuple[str, float, float], ...]:
    """The plateaus of a bandwidth curve: ``((name, capacity, rate), ..., ("memory", inf, rate))``.

    The log rates, in order of size, are split into contiguous runs with the least squared
    error (dynamic programming); the most runs are kept such that every run but the first and
    the last has at least two points and each is faster than the next by a factor of at
    least ``min_step`` (leading points slower than their neighbour, which per-call overhead
    makes, are left out). The last border, into memory, must be a drop of at least
    ``memory_step``: a smaller drop beyond it joins the memory plateau. A run's rate is the
    geometric mean of its points; the border between two runs (the capacity of the first) is
    where the curve, linear in log-log between the points, crosses the geometric mean of
    their rates. The borders are named after the nominal caches (``caches``, e.g.
    :func:`~analyzer.machine.info.nominal_caches`), in order, by the assignment nearest in
    log size overall; a border left without one is ``"cache i"``. The last run is
    ``"memory"`` (capacity ``inf``).

    Examples
    --------
    >>> sizes = [2.0**e for e in range(14, 30)]
    >>> rates = [40e9 if s <= 1.5e6 else 12e9 for s in sizes]
    >>> levels = fit_bandwidth(sizes, rates, [("L2", 2**21)])
    >>> [(name, round(cap / 1e6, 2), round(rate / 1e9, 6)) for name, cap, rate in levels]
    [('L2', 1.48, 40.0), ('memory', inf, 12.0)]
    """
    pairs = sorted(
        (float(s), float(r))
        for s, r in zip(sizes, rates, strict=True)
        if math.isfinite(r) and r > 0 and s > 0
    )
    if len(pairs) < 2:
        raise AnalyzerError(f"fit_bandwidth: need at least 2 positive points, got {len(pairs)}")
    while len(pairs) > 2 and pairs[0][1] * min_step < pairs[1][1]:
        pairs = pairs[1:]  # a rate that grows with size is per-call overhead, not a cache
    x = np.log([p[0] for p in pairs])
    y = np.log([p[1] for p in pairs])
    best = [(0, len(y))]
    for k in range(2, min(max_levels, len(y) // 2) + 1):
        runs = _segments(y, k)
        means = [float(np.mean(y[i:j])) for i, j in runs]
        inner = runs[1:-1]  # a single-point run is allowed at the ends only
        if all(j - i >= 2 for i, j in inner) and all(
            a - b >= math.log(min_step) for a, b in zip(means, means[1:], strict=False)
        ):
            best = runs
    while len(best) > 1 and np.mean(y[slice(*best[-2])]) - np.mean(y[slice(*best[-1])]) < math.log(
        memory_step
    ):  # a small drop beyond the last cache (TLB reach, page sizes) is still memory
        best = [*best[:-2], (best[-2][0], best[-1][1])]
    means = [float(np.mean(y[i:j])) for i, j in best]
    borders = []
    for (_, end), mean, nxt in zip(best, means, means[1:], strict=False):
        xl, xr, yl, yr = x[end - 1], x[end], y[end - 1], y[end]
        middle = (mean + nxt) / 2
        if (yl - middle) * (yr - middle) < 0:
            borders.append(float(np.exp(xl + (middle - yl) / (yr - yl) * (xr - xl))))
        else:
            borders.append(float(np.exp((xl + xr) / 2)))
    names = _names(borders, sorted(caches, key=lambda c: c[1]))
    levels = [
        (name, border, float(np.exp(mean)))
        for name, border, mean in zip(names, borders, means, strict=False)
    ]
    return (*levels, ("memory", math.inf, float(np.exp(means[-1]))))


def _names(borders: list[float], caches: list[tuple[str, int]]) -> list[str]:
    """Names for ascending borders: the nominal caches, in order, nearest in log size in all
    (each used once); borders left over are ``"cache i"``."""
    names = [f"cache {i}" for i in range(1, len(borders) + 1)]
    count = min(len(borders), len(caches))
    if not count:
        return names

    def distance(pairs) -> float:
        return sum(abs(math.log(borders[b]) - math.log(caches[c][1])) for b, c in pairs)

    best = min(
        (
            list(zip(bs, cs, strict=True))
            for bs in itertools.combinations(range(len(borders)), count)
            for cs in itertools.combinations(range(len(caches)), count)
        ),
        key=distance,
    )
    for b, c in best:
        names[b] = caches[c][0]
    return names


def _smooth(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """A running median of three in log rate (a noisy point does not bend predictions)."""
    if len(points) < 3:
        return points
    logs = [math.log(r) for _, r in points]
    kept = [logs[0]] + [sorted(logs[i - 1 : i + 2])[1] for i in range(1, len(logs) - 1)]
    kept.append(logs[-1])
    return [(s, math.exp(v)) for (s, _), v in zip(points, kept, strict=True)]


# ----------------------------------------------------------------------------- timing
def _trim() -> None:
    """Give the C allocator's free memory back to the system (glibc), when it can."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


try:  # glibc only; elsewhere fresh arrays are timed as the allocator gives them
    _LIBC: Any = ctypes.CDLL("libc.so.6")
    if not hasattr(_LIBC, "malloc_trim"):
        _LIBC = None
except OSError:
    _LIBC = None


def _median(
    fn: Callable[[], object],
    budget: float,
    repeats: int = 3,
    before: Callable[[], object] | None = None,
    warm: bool = True,
) -> float:
    """Median seconds of ``fn`` after one warm-up call (unless ``warm`` is False), at least
    ``repeats`` calls and up to ``budget`` seconds (at most 200 calls); ``before`` runs
    untimed before each call."""
    if warm:
        fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < repeats or (time.perf_counter() - start < budget and len(times) < 200):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _grid(top: int, per_octave: int) -> list[int]:
    """Sizes from 16 KiB up to ``top`` (never beyond it), ``per_octave`` per octave, in
    multiples of 4 KiB.

    >>> _grid(2**16, 2), _grid(50_000, 1)
    ([16384, 20480, 32768, 45056, 65536], [16384, 32768])
    """
    count = int(math.floor(math.log2(top / _SMALLEST) * per_octave + 1e-9))
    sizes = {int(_SMALLEST * 2 ** (i / per_octave)) // 4096 * 4096 for i in range(count + 1)}
    return sorted(s for s in sizes if _SMALLEST <= s <= top)


def _matrix(buffer: np.ndarray, nbytes: int) -> np.ndarray:
    """A C-contiguous view of about ``nbytes`` of ``buffer`` as a matrix with ~sqrt(n) rows."""
    n = nbytes // 8
    rows = int(min(512, max(8, round(math.sqrt(n)))))
    return buffer[: n // rows * rows].reshape(rows, n // rows)


def _net(seconds: float, overhead: float) -> float:
    """Seconds with the per-call overhead taken out (never below a fifth of the total)."""
    return max(seconds - overhead, seconds / 5, 1e-12)


_Job = tuple[Callable[[], object], Callable[[], object] | None]


def _interleaved(jobs: Sequence[_Job], budget: float, rounds: int) -> list[float]:
    """Median seconds of each ``(fn, before)`` job, measured in ``rounds`` interleaved passes.

    Each pass times every job in turn for ``budget / rounds`` seconds (at least one call,
    ``before`` untimed before each); a job's result is the median over the passes of its
    per-pass medians, after one warm-up call of each. A slow spell of the machine (a
    neighbour on the host, a frequency change) shorter than a pass then falls in one pass
    and is outvoted (three passes) or halved (two), instead of bending a curve at the
    points it happened to fall on; a slow minute lands on every point of a pass alike.
    """
    for fn, _ in jobs:
        fn()
    passes: list[list[float]] = [[] for _ in jobs]
    for _ in range(rounds):
        for times, (fn, before) in zip(passes, jobs, strict=True):
            times.append(_median(fn, budget / rounds, 1, before, warm=False))
    return [statistics.median(times) for times in passes]


def _read_job(buffer: np.ndarray, size: int) -> tuple[int, _Job]:
    """A row vector times a matrix of about ``size`` bytes of ``buffer``: (bytes, job)."""
    a = _matrix(buffer, size)
    v = np.ones((1, a.shape[0]))
    return a.nbytes, (lambda: v @ a, None)


def _write_job(reused: np.ndarray | None, size: int) -> _Job:
    """Filling ``size`` bytes: a new array (``reused`` None) or a view of ``reused``.

    Before each new array the C allocator gives its free memory back (``malloc_trim``), so
    the array gets new pages, as the executor's results do when the arrays it frees at the
    end of a repetition are given back together (numpy's huge pages for large arrays kept).
    """
    n = size // 8
    if reused is None:
        return (lambda: np.empty(n).fill(1.0), _trim)
    view = reused[:n]
    return (lambda: view.fill(1.0), None)


def _gemm_job(d: int, k: int) -> tuple[int, _Job]:
    """``(d×k)·(k×k)`` into a reused result: (macs, job)."""
    a, b, out = np.ones((d, k)), np.ones((k, k)), np.empty((d, k))
    return d * k * k, (lambda: np.matmul(a, b, out=out), None)


def _kernel_sizes(mode: str, top: int) -> list[int]:
    """Result sizes (elements) of the structured kernels' curves: 16 Ki up to 16 Mi elements
    (128 KiB to 128 MiB results, several times a last-level cache), the smaller ones while
    their operands (16 bytes per element, see :func:`_kernel_pairs`) and the largest result
    take no more than the ``2 * top`` bytes of the read and write buffers.

    >>> _kernel_sizes("full", 2**30), _kernel_sizes("quick", 2**30)
    ([16384, 131072, 1048576, 4194304, 16777216], [16384, 262144, 4194304])
    >>> _kernel_sizes("full", 2**22)
    [16384, 131072]
    """
    sizes, kept = _KERNEL_SIZES[mode], []
    for e in sizes:  # all sizes' operands live at once (interleaved passes), and one result
        if 16 * (sum(kept) + e) + 8 * e > 2 * top:  # no more than the read and write buffers
            break
        kept.append(e)
    return kept or [min(sizes[0], max(top // 24, 1))]


def _streams(top: int) -> list[int]:
    """Stream sizes for the reread table and the cold curves: 4 MiB, 16 MiB, ... up to ``top``."""
    sizes, size = [], 2**22
    while size <= top:
        sizes.append(size)
        size *= 4
    return sizes or [top]


def _stream_top(levels: Sequence[tuple[str, float, float]], largest: int) -> int:
    """The longest stream before a reread or a cold step: 256 MiB, or four times the fitted
    last-level cache where that is longer (the excess levels off once a stream is several
    times the cache), no longer than the largest working set.

    >>> inf = math.inf
    >>> _stream_top((("L3", 6e7, 2e10), ("memory", inf, 1e10)), 2**30) == 2**28
    True
    >>> _stream_top((("L3", 2**28, 2e10), ("memory", inf, 1e10)), 2**31) == 2**30
    True
    >>> _stream_top((("memory", inf, 1e10),), 2**27) == 2**27
    True
    """
    caches = [c for _, c, _ in levels if math.isfinite(c)]
    longest = max(_STREAM_TOP, int(_STREAM_CACHES * caches[-1]) if caches else 0)
    return min(largest, longest)


def _reread(buffer: np.ndarray, streams: Sequence[int], repeats: int,
            call: float) -> list[tuple[float, float, float]]:  # fmt: skip
    """``(D, b, bytes/s)``: a row vector times a separate matrix of ``b`` bytes, timed right
    after a row vector times ``D`` bytes of ``buffer`` (the stream evicts the matrix), net of
    the cold excess of the same call on a tiny matrix after the same stream (the model adds
    that excess to the step's overhead, see :func:`_cold`)."""
    tiny_v, tiny_a = np.ones((1, 8)), np.ones((8, 8))
    warm = _median(lambda: tiny_v @ tiny_a, 0.0, max(repeats, 9))
    table = []
    for stream_bytes in streams:
        stream = _matrix(buffer, stream_bytes)
        u = np.ones((1, stream.shape[0]))

        def streamed() -> object:
            return u @ stream  # noqa: B023

        cold = max(_median(lambda: tiny_v @ tiny_a, 0.0, repeats, before=streamed) - warm, 0.0)
        for read_bytes in _REREAD_SIZES:
            if read_bytes * 4 > stream_bytes:
                break
            a = np.ones(_matrix(np.empty(read_bytes // 8), read_bytes).shape)
            v = np.ones((1, a.shape[0]))
            seconds = _median(lambda: v @ a, 0.0, repeats, before=streamed)  # noqa: B023
            net = _net(seconds - cold, call)
            table.append((float(stream_bytes), float(a.nbytes), a.nbytes / net))
    return table


def _monotone(table: list[tuple[float, float, float]],
              read: list[tuple[int, float]]) -> list[tuple[float, float, float]]:  # fmt: skip
    """The reread table with timing noise taken out where physics bounds it: no rate above
    the read curve's at that size (a buffer read again and again is the best case), and none
    above its rate after a shorter stream (a longer stream evicts no less).

    >>> _monotone([(1e7, 1e4, 9e9), (1e8, 1e4, 2e10)], [(1e4, 1e10)])
    [(10000000.0, 10000.0, 9000000000.0), (100000000.0, 10000.0, 9000000000.0)]
    """
    steady = tuple(_smooth(read))
    best: dict[float, float] = {}
    out = []
    for stream, size, rate in sorted(table):
        rate = min(rate, interpolate(steady, size), best.get(size, math.inf))
        best[size] = rate
        out.append((stream, size, rate))
    return out


def _cold_chains(stream_bytes: int) -> tuple[tuple[list[int], str, int], ...]:
    """The three synthetic chains that measure the cold excess after ``stream_bytes`` of
    traffic, as ``(chain sizes, order, index of the tiny step)``: ``chain([64, K, 1, 1])``
    input-first streams a ``1×K`` times ``K×64`` product and then takes a ``1×1`` times
    ``1×64`` one (*after*: within a repetition, step 1); ``chain([N, 512, 1, 1])``
    output-first ends each repetition with a ``1×512`` times ``512×N`` stream and starts the
    next with a ``1×1`` times ``1×512`` product (*start*: step 0); ``chain([W, 1, 1, 1])``
    output-first ends each repetition with a ``1×1`` times ``1×W`` product, a result of
    ``stream_bytes`` written to fresh pages, and starts the next with a ``1×1`` times
    ``1×1`` one (*write*: step 0).

    >>> _cold_chains(2**22)  # doctest: +NORMALIZE_WHITESPACE
    (([64, 8192, 1, 1], 'input-first', 1), ([1024, 512, 1, 1], 'output-first', 0),
     ([524288, 1, 1, 1], 'output-first', 0))
    """
    return (
        ([64, max(stream_bytes // 512, 1), 1, 1], "input-first", 1),
        ([max(stream_bytes // 4096, 1), 512, 1, 1], "output-first", 0),
        ([max(stream_bytes // 8, 1), 1, 1, 1], "output-first", 0),
    )


def _fixed_chain(dims: Sequence[int]) -> Any:
    """``analyzer.models.chain(dims)`` with fixed factors made once (every entry
    ``1/columns``): the cold curves time steps, not numbers, and drawing a chain's normal
    factors (once to evaluate it, once more for its blocks) took most of their time."""
    from .. import primitives as prim
    from ..graph import JacobianGraph

    g = JacobianGraph(name="chain")
    prim.parameter(g, "v0", dims[0], value=np.ones(dims[0]))
    for i in range(1, len(dims)):
        matrix = np.full((dims[i], dims[i - 1]), 1.0 / dims[i - 1])
        prim.fixed_linear(g, f"v{i}", f"v{i - 1}", matrix, output=i == len(dims) - 1)
    return g.validate()


def _cold(threads: int | None, streams: Sequence[int], repeats: int,
          write_top: float = math.inf) -> tuple[
    list[tuple[float, float]], list[tuple[float, float]], list[tuple[float, float]]
]:  # fmt: skip
    """The cold excess of a tiny executor step after a step that touched, or wrote, each of
    ``streams`` bytes: ``(after, start, write)`` curves of ``(bytes, extra seconds)``, the
    bytes being those the step before touched (after, start) or wrote (write; only streams
    up to ``write_top``, as ``--quick`` keeps within its time: the curve is flat beyond).

    Three synthetic chains per size (:func:`_cold_chains`), run by :func:`analyzer.execute`
    (so the executor's own bookkeeping is in them). The excess is over the same tiny step
    after :data:`~analyzer.machine.model.COLD_FROM` bytes, where the model puts 0.
    """
    from ..executor import execute
    from ..planning import plan

    def tiny(dims: list[int], order: str, index: int, column: str) -> tuple[float, float]:
        p = plan(_fixed_chain(dims), order)
        run = execute(p, repeat=repeats, warmup=1, threads=threads, memory=False)
        before = p.steps.iloc[index - 1][column]
        return float(before), float(run.step_seconds[index])

    columns = ("bytes", "bytes", "bytes_written")
    warm = [
        tiny(*spec, column)[1]
        for spec, column in zip(_cold_chains(COLD_FROM), columns, strict=True)
    ]
    curves: tuple[list[tuple[float, float]], ...] = ([], [], [])
    for stream_bytes in streams:
        specs = _cold_chains(stream_bytes)
        for curve, reference, spec, column in zip(curves, warm, specs, columns, strict=True):
            if column == "bytes_written" and stream_bytes > write_top:
                continue
            nbytes, seconds = tiny(*spec, column)
            curve.append((nbytes, max(seconds - reference, 0.0)))
    return curves  # type: ignore[return-value]


def _kernel_pairs(elements: int) -> dict[str, tuple[Any, Any]]:
    """Operands of each structured kernel with results of about ``elements`` elements, by
    ``structures`` text (row-blocks of 256 rows, as wide as it takes)."""
    from ..structure import DENSE, DIAGONAL, ROW_BLOCK, Block

    rows = 256
    width = max(elements // rows, 1)
    n = rows * width
    # the large operands share one buffer of n ones (each kernel reads it whole, once per
    # call), the diagonal of ``dense·diagonal`` has its own: 16 bytes per element, not 40
    ones, diagonal = np.ones(n), np.ones(n)
    return {
        "diagonal·row-block": (Block(DIAGONAL, (rows, rows), np.ones(rows)),
                               Block(ROW_BLOCK, (rows, n), ones.reshape(rows, width))),
        "dense·row-block": (Block(DENSE, (1, rows), np.ones((1, rows))),
                            Block(ROW_BLOCK, (rows, n), ones.reshape(rows, width))),
        "diagonal·dense": (Block(DIAGONAL, (1, 1), np.ones(1)),
                           Block(DENSE, (1, n), ones.reshape(1, n))),
        "dense·diagonal": (Block(DENSE, (1, n), ones.reshape(1, n)),
                           Block(DIAGONAL, (n, n), diagonal)),
    }  # fmt: skip


def _kernel_rates(sizes: Sequence[int], budget: float, call: float,
                  rounds: int) -> dict[str, list[tuple[float, float]]]:  # fmt: skip
    """Each structured kernel's rate as a curve of ``(macs, macs per second)``, one point per
    result size in ``sizes`` (elements), timed as the executor runs it: a fresh result each
    call (pages mapped anew once it is large), operands in cache at the small sizes and in
    memory at the large ones; measured in interleaved passes (:func:`_interleaved`)."""
    from ..structure import multiply_counted

    jobs, points = [], []
    for elements in sizes:
        for structures, (left, right) in _kernel_pairs(elements).items():
            macs = multiply_counted(left, right)[1]  # not its result: one alive at a time
            jobs.append((lambda a=left, b=right: multiply_counted(a, b), None))
            points.append((structures, float(macs)))
    curves: dict[str, list[tuple[float, float]]] = {}
    for (structures, macs), seconds in zip(points, _interleaved(jobs, budget, rounds), strict=True):
        curves.setdefault(structures, []).append((macs, macs / _net(seconds, call)))
    return curves


def _step_overheads(threads: int | None, repeats: int) -> dict[str, float]:
    """Median seconds of the executor's steps on plans of tiny sizes, by structure pair."""
    from ..executor import execute
    from ..models import one_layer
    from ..planning import plan

    found: dict[str, list[float]] = {}
    for cost in ("dense", "structured"):
        for order in ("input-first", "output-first"):
            p = plan(one_layer(3, 2), order, cost)
            run = execute(p, repeat=repeats, warmup=2, threads=threads, memory=False)
            for structures, seconds in zip(p.steps["structures"], run.step_seconds, strict=True):
                found.setdefault(str(structures), []).append(float(seconds))
    overhead = {k: statistics.median(v) for k, v in found.items()}
    overhead["default"] = overhead.get("dense·dense", statistics.median(overhead.values()))
    return overhead


def _measure(mode: str, threads: int | None, top: int | None, budget: float | None,
             gemm_n: int | None) -> Calibration:  # fmt: skip
    settings = dict(_SETTINGS[mode])
    started = time.perf_counter()
    info = machine_info()
    caches = nominal_caches(info)
    if top is None:
        llc = caches[-1][1] if caches else 32 * 2**20
        top = min(max(4 * llc, 2**28), settings["top"], available_memory() // 8)
    top = max(int(top), 2 * _SMALLEST)
    budget = settings["budget"] if budget is None else float(budget)
    gemm_n = settings["gemm_n"] if gemm_n is None else int(gemm_n)
    sizes = _grid(top, settings["per_octave"])
    buffer = np.ones(max(sizes) // 8)
    reused = np.empty(max(sizes) // 8)
    with blas_threads(threads):
        tiny_a, tiny_b = np.ones((1, 1)), np.ones((1, 1))
        call = _median(lambda: np.matmul(tiny_a, tiny_b), budget, 20)
        fill_call = _median(lambda: np.empty(8).fill(1.0), budget, 20)
        reads = [_read_job(buffer, size) for size in sizes]
        fresh_jobs = [_write_job(None, size) for size in sizes]
        again_jobs = [_write_job(reused, size) for size in sizes]
        shapes = [(d, _THIN_K) for d in _THIN_D if d != gemm_n] + [(gemm_n, gemm_n)]
        products = [_gemm_job(d, k) for d, k in shapes]
        groups = {
            "read": [job for _, job in reads],
            "gemm": [job for _, job in products],
            "fresh": fresh_jobs,
            "again": again_jobs,
        }
        everything = [job for jobs in groups.values() for job in jobs]
        timed = _interleaved(everything, budget, settings["rounds"])
        seconds, start = {}, 0
        for name, jobs in groups.items():
            seconds[name], start = timed[start : start + len(jobs)], start + len(jobs)
        read = [(b, b / _net(t, call)) for (b, _), t in zip(reads, seconds["read"], strict=True)]
        gemm = [
            (d, m / _net(t, call))
            for (d, _), (m, _), t in zip(shapes, products, seconds["gemm"], strict=True)
        ]
        fresh = [(z, z / _net(t, fill_call)) for z, t in zip(sizes, seconds["fresh"], strict=True)]
        again = [(z, z / _net(t, fill_call)) for z, t in zip(sizes, seconds["again"], strict=True)]
        # ``jobs`` too: the loop above leaves it holding views of ``reused``
        del reads, products, fresh_jobs, again_jobs, groups, everything, jobs
        levels = fit_bandwidth([z for z, _ in read], [r for _, r in _smooth(read)], caches)
        streams = _streams(_stream_top(levels, max(sizes)))
        reread = _monotone(_reread(buffer, streams, settings["cold_repeats"], call), read)
        del buffer, reused
        e1, e2, e3 = np.ones(2048), np.ones(2048), np.empty(2048)
        t = _median(lambda: np.multiply(e1, e2, out=e3), budget, 20)
        elementwise = 2048 / _net(t, call)
        kernels = _kernel_rates(_kernel_sizes(mode, top), budget, call, settings["rounds"])
    overhead = _step_overheads(threads, settings["repeats"])
    cold_after, cold_start, cold_write = _cold(
        threads, streams, settings["cold_repeats"], settings["cold_write_top"]
    )
    read = _smooth(read)
    fresh, again = _smooth(fresh), _smooth(again)
    first_touch = None
    for (size, f), (_, r) in zip(reversed(fresh), reversed(again), strict=True):
        if f * 1.3 > r:
            break
        first_touch = size
    return Calibration(
        read=tuple(read),
        write_fresh=tuple(fresh),
        write_reused=tuple(again),
        gemm=tuple(gemm),
        elementwise=elementwise,
        numpy_call=call,
        step_overhead=overhead,
        levels=levels,
        first_touch_from=None if first_touch is None else float(first_touch),
        reread=tuple(reread),
        cold_after=tuple(cold_after),
        cold_start=tuple(cold_start),
        cold_write=tuple(cold_write),
        kernel_rates=kernels,
        meta={
            "version": CALIBRATION_VERSION,
            "fingerprint": fingerprint(info),
            "cpu_model": info.get("cpu_model"),
            "caches": [[n, c] for n, c in caches],
            "mode": mode,
            "threads": threads,
            "largest_working_set": max(sizes),
            "seconds": round(time.perf_counter() - started, 2),
            "date": info.get("date"),
        },
    )


# ----------------------------------------------------------------------------- cache
def cache_path(quick: bool = False, threads: int | None = 1) -> Path:
    """Where the calibration of this machine is cached: ``$ANALYZER_CACHE_DIR`` (default
    ``$XDG_CACHE_HOME/analyzer`` or ``~/.cache/analyzer``), named by the calibration version,
    the machine's fingerprint, the BLAS thread count and the mode."""
    root = os.environ.get("ANALYZER_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "analyzer",
    )
    mode = "quick" if quick else "full"
    name = f"calibration-v{CALIBRATION_VERSION}-{fingerprint()}-t{threads}-{mode}.json"
    return Path(root) / name


#: Every key :func:`calibrate` caches: a cached file without one of them was written by
#: other code (an older layout under the same version) and is measured again.
_CACHED_KEYS = frozenset({"version", *Calibration.__dataclass_fields__})


def _load(path: Path) -> Calibration | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != CALIBRATION_VERSION or not _CACHED_KEYS <= data.keys():
            return None
        kernels = data["kernel_rates"]
        if not isinstance(kernels, dict) or any(
            isinstance(v, int | float) for v in kernels.values()
        ):
            return None  # plain kernel rates: measured before the kernels were curves
        return Calibration.from_dict(data)
    except (OSError, ValueError, ArithmeticError, AttributeError, RecursionError, AnalyzerError):
        return None  # missing or corrupt (deeply nested JSON included): calibrate again


def calibrate(
    threads: int | None = 1,
    *,
    quick: bool = False,
    cache: bool = True,
    refresh: bool = False,
    top: int | None = None,
    budget: float | None = None,
    gemm_n: int | None = None,
    on_cache: Callable[[Path, str | None], None] | None = None,
) -> Calibration:
    """This machine's :class:`~analyzer.machine.model.Calibration`, measured or read from cache.

    Parameters
    ----------
    threads : int or None
        BLAS threads while measuring (default 1, as sweeps run).
    quick : bool
        Fewer points (one per octave, up to 512 MiB) and shorter timings: under 15 s
        instead of under 60 s. Quick callers use the newer of the cached full and quick
        calibrations.
    cache : bool
        Read and write the cache (:func:`cache_path`); False measures without it.
    refresh : bool
        Measure again even when a cached calibration exists (and cache the new one).
    top, budget, gemm_n : optional
        Largest working set in bytes (default four times the last-level cache, at least
        256 MiB, at most 1 GiB or 512 MiB quick and an eighth of the available memory),
        seconds spent per point, square GEMM size: smaller ones calibrate faster, less
        faithfully (the tests use tiny ones). A ``top`` below 32 KiB measures up to 32 KiB;
        a ``top`` or ``gemm_n`` whose buffers would take more than half the available memory
        (alone or together: they are measured at once) is refused (an AnalyzerError), as is
        a ``budget`` that is not a positive finite number.
    on_cache : callable, optional
        Called as ``on_cache(path, None)`` when the result was read from or written to the
        cache file ``path``, and ``on_cache(path, reason)`` when writing it failed
        (``reason`` starts with "cannot write").

    Examples
    --------
    >>> cal = calibrate(cache=False, top=2**17, budget=1e-3, gemm_n=32, quick=True)
    >>> cal.read_bandwidth(2**16) > 0 and cal.gemm_rate(32) > 0
    True
    """
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
    ):
        raise AnalyzerError(f"calibrate: threads must be a positive int or None, got {threads!r}")
    if budget is not None and (
        isinstance(budget, bool)
        or not isinstance(budget, int | float)
        or not (0 < budget < math.inf)
    ):
        raise AnalyzerError(
            f"calibrate: budget must be a positive finite number of seconds, got {budget!r}"
        )
    for name, value in (("top", top), ("gemm_n", gemm_n)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):  # fmt: skip
            raise AnalyzerError(f"calibrate: {name} must be a positive int, got {value!r}")
    # the read and write buffers take twice ``top``, a square product three n×n arrays
    memory = available_memory()
    for name, value, needs in (("top", top, 2 * (top or 0)),
                               ("gemm_n", gemm_n, 24 * (gemm_n or 0) ** 2)):  # fmt: skip
        if value is not None and needs > memory // 2:
            raise AnalyzerError(
                f"calibrate: {name}={value} needs {needs / 2**30:.3g} GiB, more than half of "
                f"the {memory / 2**30:.3g} GiB of memory available"
            )
    if top is not None and gemm_n is not None and 2 * top + 24 * gemm_n**2 > memory // 2:
        # measured in interleaved passes, the buffers and the square product live at once
        raise AnalyzerError(
            f"calibrate: top={top} and gemm_n={gemm_n} together need "
            f"{(2 * top + 24 * gemm_n**2) / 2**30:.3g} GiB (they are measured at once), more "
            f"than half of the {memory / 2**30:.3g} GiB of memory available"
        )
    custom = top is not None or budget is not None or gemm_n is not None
    use_cache = cache and not custom
    if use_cache and not refresh:
        # quick callers take the newer of the full and the quick calibration, so that a
        # ``--quick --refresh`` is seen by the quick callers after it
        found = []
        for candidate in [False] if not quick else [False, True]:
            path = cache_path(candidate, threads)
            loaded = _load(path)
            if loaded is not None:
                found.append((_mtime(path), not candidate, path, loaded))
        if found:
            _, _, path, newest = max(found, key=lambda item: item[:2])
            if on_cache is not None:
                on_cache(path, None)
            return newest
    result = _measure("quick" if quick else "full", threads, top, budget, gemm_n)
    if use_cache:
        path = cache_path(quick, threads)
        try:
            data = {"version": CALIBRATION_VERSION, **result.to_dict()}
            atomic_write_text(path, json.dumps(data, indent=1))
        except (AnalyzerError, OSError) as exc:
            # an unwritable cache folder only costs a calibration next time
            if on_cache is not None:
                reason = str(exc) if isinstance(exc, AnalyzerError) else f"{exc}"
                on_cache(
                    path, reason if "cannot write" in reason else f"cannot write {path}: {reason}"
                )
        else:
            if on_cache is not None:
                on_cache(path, None)
    return result


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return -math.inf


def calibration_table(calibration: Calibration) -> pd.DataFrame:
    """The calibrated curves as one long table: ``curve, x, unit, rate, rate_unit``; a
    structured kernel calibrated as a curve is the curve ``kernel <structures>`` over macs.

    >>> from analyzer.machine.model import Calibration
    >>> cal = Calibration(read=((1e3, 1e10),), write_fresh=((1e3, 1e9),),
    ...                   write_reused=((1e3, 1e10),), gemm=((1, 1e9),), elementwise=1e9,
    ...                   numpy_call=1e-6, step_overhead={"default": 1e-5},
    ...                   kernel_rates={"dense·diagonal": ((1e4, 1e9),), "diagonal·dense": 2e9})
    >>> calibration_table(cal)["curve"].tolist()
    ['read', 'write_fresh', 'write_reused', 'gemm', 'kernel dense·diagonal']
    """
    rows: list[dict[str, Any]] = []
    for curve, unit, rate_unit in (
        ("read", "bytes", "bytes/s"),
        ("write_fresh", "bytes", "bytes/s"),
        ("write_reused", "bytes", "bytes/s"),
        ("gemm", "smallest dimension", "macs/s"),
    ):
        for x, rate in getattr(calibration, curve):
            rows.append(
                {"curve": curve, "x": x, "unit": unit, "rate": rate, "rate_unit": rate_unit}
            )
    for structures, points in calibration.kernel_rates.items():
        for x, rate in () if isinstance(points, float) else points:  # a plain rate: no curve
            rows.append({"curve": f"kernel {structures}", "x": x, "unit": "macs", "rate": rate,
                         "rate_unit": "macs/s"})  # fmt: skip
    return pd.DataFrame(rows, columns=["curve", "x", "unit", "rate", "rate_unit"])
