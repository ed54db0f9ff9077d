"""The machine model: calibrated rates that turn one product step into a predicted time.

The model
---------
A step multiplies an ``m×k`` factor by a ``k×n`` one (or preaccumulates an operator). With
the rates of a :class:`Calibration`, its predicted time is

    t = t_overhead + max(t_compute, t_read) + t_write

* ``t_compute = macs / rate``: the in-core time, at the calibrated rate of the step's shape
  class. Dense products use the GEMM rate as a function of their smallest dimension
  ``d = min(m, k, n)``: *matrix-vector* (``d = 1``), *thin* (``1 < d < 64``), *square*
  (``d >= 64``), interpolated between the calibrated ``d``; a product of a ``1×1`` factor and
  every product involving a structured kind (diagonal, row-block, ...) is *elementwise*, at
  the calibrated rate of its own kernel (``kernel_rates``: an ``np.einsum`` row-block product
  runs an order of magnitude slower than a plain multiply) or the elementwise rate. A kernel
  calibrated as a *curve* (its whole time, a fresh result included, as a function of its
  macs, from operands in cache to results of 16 Mi elements, 128 MiB) prices the step alone:
  ``t = t_overhead + macs / rate(macs)``, with no separate read and write terms (its bound is
  ``"kernel"``): these streaming kernels stall on their page faults and loads rather than
  overlap them, which the sum of their parts does not follow.
* ``t_read = bytes read / B(b, r)``: the ``b`` bytes a step reads, at the bandwidth of reading
  ``b`` bytes last touched ``r`` bytes of traffic ago (the step's *reuse distance*: the bytes a
  repetition of the plan touches for a factor of the plan, the bytes of the steps since it was
  made for a result). ``B(b, b)`` is the calibrated curve ``B_read`` of reading a buffer again
  and again, which steps down at each cache border (L1, L2, last-level cache, memory): the
  roofline with cache levels. ``B(b, b + D)`` for a stream of ``D`` other bytes in between is
  the calibrated *reread* table (a small factor read after a large stream comes from memory,
  at a lower rate than a stream: no prefetch has ramped up); between calibrated ``D`` it is
  interpolated in ``log(b + D)``.
* ``t_write = bytes written / B_write(result size)``: a result the executor allocates afresh is
  written at the rate of the calibrated *fresh* curve at its size (timed by filling new arrays,
  so it holds the page faults wherever the allocator maps new pages: the *first-touch* cost);
  a buffer written before, at the *reused*-buffer rate. ``first_touch_from`` (the size from
  which the fresh curve stays 1.3× below the reused one) does not change the price: it only
  marks a step's result as written to fresh pages (``StepPrediction.fresh``), which
  :func:`analyzer.machine.explain.explain` names as a change of regime.
* ``t_overhead``: the executor's per-step cost (Python dispatch and numpy calls), calibrated
  by running plans of tiny sizes, per pair of structure kinds, plus its *cold* excess: the
  interpreter's own data evicted by the traffic of the step before. The calibrated curves
  ``cold_after(T)`` and ``cold_start(T)`` give the excess of a tiny executor step right after
  a step that touched ``T`` bytes over the same step after ``COLD_FROM`` (64 KiB; no excess
  at or below it), within a repetition and at the start of the next one (the
  executor's bookkeeping between repetitions warms part of it again, so a first step pays
  less); ``cold_write(W)``, the excess after a step that wrote ``W`` bytes to fresh pages
  (measured after a ``1×1`` times ``1×W/8`` product, which also reads ``W`` bytes), and a
  step pays the larger of the two (:meth:`Calibration.cold_extra`); see
  :func:`analyzer.machine.explain.predict_plan`.

Compute overlaps the loads (the roofline's ``max``); stores, page faults and the per-call
overhead do not overlap and are added, as the ECM model adds the data-transfer terms it
cannot overlap. Sources: S. Williams, A. Waterman, D. Patterson, "Roofline: an insightful
visual performance model for multicore architectures", Commun. ACM 52(4), 2009; J. Treibig,
G. Hager, "Introducing a performance model for bandwidth-limited loop kernels", PPAM 2009,
LNCS 6067, 2010; H. Stengel, J. Treibig, G. Hager, G. Wellein, "Quantifying performance
bottlenecks of stencil computations using the Execution-Cache-Memory model", ICS 2015.

Examples
--------
>>> cal = Calibration(read=((1e3, 1e11), (1e9, 1e10)), write_fresh=((1e3, 1e10),),
...                   write_reused=((1e3, 1e10),), gemm=((1, 1e9), (512, 1e10)),
...                   elementwise=1e9, numpy_call=1e-6, step_overhead={"default": 1e-5})
>>> p = predict_step(cal, {"structures": "dense·dense", "shapes": "(1×1000)·(1000×1000)",
...                        "macs": 10**6, "bytes": 8_016_000, "bytes_written": 8000})
>>> p.shape_class, p.bound, round(p.seconds * 1e6, 1)  # 10 + max(1000, 80.6) + 0.8 µs
('matrix-vector', 'compute', 1010.8)
"""

from __future__ import annotations

import itertools
import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import AnalyzerError

__all__ = [
    "CALIBRATION_VERSION",
    "interpolate",
    "interpolate_linear",
    "megabytes",
    "SQUARE_FROM",
    "COLD_FROM",
    "Roofline",
    "Calibration",
    "StepPrediction",
    "predict_step",
    "shape_class",
    "parse_shapes",
]

#: Bumped whenever what :func:`~analyzer.machine.calibrate` measures changes: cached
#: calibrations of another version are measured again.
CALIBRATION_VERSION = 9  # 8: structured kernels measured as curves; 9: cold_write
#: Smallest dimension from which a dense product counts as *square* (below: *thin*).
SQUARE_FROM = 64
#: Bytes of the step before that the cold curves are measured against (their excess is 0
#: there): a step after this much traffic or less pays no cold excess.
COLD_FROM = 2**16


def _real(value: Any) -> float:
    """``value`` as a float: a real number (not a bool, not a text), else a ValueError (an
    integer too large for a float included)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"not a number: {value!r}")
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"too large for a float: {value!r}") from None


def _finite(value: Any) -> float:
    """``value`` as a finite float, NaN for anything else (compares False with any bound)."""
    try:
        number = _real(value)
    except ValueError:
        return math.nan
    return number if math.isfinite(number) else math.nan


def _real_or_nan(value: Any) -> float:
    """``value`` as a float (``inf`` included), NaN for anything but a real number."""
    try:
        return _real(value)
    except ValueError:
        return math.nan


def _records(points: Any, arity: int) -> list[tuple[Any, ...]]:
    """The items of ``points`` as tuples of ``arity`` (a text or a mapping is no list of
    points), else a ValueError or a TypeError."""
    if isinstance(points, str | bytes | Mapping):
        raise TypeError(f"not a list of points: {points!r}")
    out = []
    for item in points:
        if isinstance(item, str | bytes | Mapping):
            raise TypeError(f"not a point: {item!r}")
        item = tuple(item)
        if len(item) != arity:
            raise ValueError(f"not {arity} numbers: {item!r}")
        out.append(item)
    return out


def _distinct(pairs: tuple[tuple[float, ...], ...], name: str) -> tuple[tuple[float, ...], ...]:
    """Sorted points with exact repeats dropped; two values at the same place are an error
    (interpolating between them would pick one at random)."""
    out: list[tuple[float, ...]] = []
    for point in pairs:
        if out and point[:-1] == out[-1][:-1]:
            if point[-1] != out[-1][-1]:
                raise AnalyzerError(
                    f"Calibration: {name} has two values at {point[:-1]!r}: "
                    f"{out[-1][-1]!r} and {point[-1]!r}"
                )
            continue
        out.append(point)
    return tuple(out)


def _levels(levels: Any) -> tuple[tuple[str, float, float], ...]:
    """Cache levels checked: capacities positive and ascending with the last one ``inf``
    (memory), bandwidths positive and finite."""
    try:
        out = tuple((str(n), _real(c), _real(r)) for n, c, r in _records(levels, 3))
    except (TypeError, ValueError) as exc:
        raise AnalyzerError(
            f"Calibration: levels are (name, capacity, bandwidth) triples, got {levels!r}"
        ) from exc
    caps = [c for _, c, _ in out]
    if out and not (
        all(c > 0 and not math.isnan(c) for c in caps)
        and all(a < b for a, b in itertools.pairwise(caps))
        and math.isinf(caps[-1])
        and all(math.isfinite(c) for c in caps[:-1])
    ):
        raise AnalyzerError(
            "Calibration: level capacities must be positive bytes, ascending, the last one "
            f"inf (memory); got {caps!r}"
        )
    if not all(math.isfinite(r) and r > 0 for _, _, r in out):
        raise AnalyzerError(
            f"Calibration: level bandwidths must be positive finite bytes/s, got {out!r}"
        )
    return out


@dataclass(frozen=True)
class Roofline:
    """A two-ceiling performance model: a multiply-add rate and a memory bandwidth.

    The predicted time of a kernel is the larger of its compute time and its memory time.

    Parameters
    ----------
    macs_per_second : float
        Peak multiply-adds per second (``flops = 2 * macs``).
    bytes_per_second : float
        Memory bandwidth in bytes per second (reading).
    write_bytes_per_second : float or None
        Bandwidth of writing a freshly allocated result (page faults included);
        ``None`` prices written bytes like read ones.

    Examples
    --------
    >>> r = Roofline(macs_per_second=1e9, bytes_per_second=1e10)
    >>> r.seconds(1e9, 1e9)  # compute bound
    1.0
    >>> r.seconds(1e6, 1e10)  # memory bound
    1.0
    >>> r.balance  # macs per byte at the ridge point
    0.1
    """

    macs_per_second: float
    bytes_per_second: float
    write_bytes_per_second: float | None = None

    def __post_init__(self) -> None:
        for name in ("macs_per_second", "bytes_per_second", "write_bytes_per_second"):
            value = getattr(self, name)
            if value is None and name == "write_bytes_per_second":
                continue
            if not (isinstance(value, numbers.Real) and np.isfinite(value) and value > 0):
                raise AnalyzerError(
                    f"Roofline: {name} must be a positive finite number, got {value!r}"
                )

    def seconds(self, macs: Any, bytes: Any, written: Any = 0) -> Any:
        """Predicted seconds ``max(macs / rate, memory time)``.

        ``bytes`` counts everything moved, of which ``written`` went to freshly
        allocated results; memory time is ``(bytes - written) / bytes_per_second +
        written / write_bytes_per_second``. Works elementwise on numbers, numpy
        arrays and pandas Series.
        """
        write_rate = self.write_bytes_per_second or self.bytes_per_second
        memory = (bytes - written) / self.bytes_per_second + written / write_rate
        t = np.maximum(macs / self.macs_per_second, memory)
        return float(t) if np.ndim(t) == 0 and not hasattr(t, "index") else t

    @property
    def balance(self) -> float:
        """Macs per byte at the ridge point; kernels below it are memory bound."""
        return self.macs_per_second / self.bytes_per_second

    def to_dict(self) -> dict[str, float]:
        """Plain dict of the rates (JSON-serializable)."""
        return {k: (None if v is None else float(v)) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Roofline:
        """Inverse of :meth:`to_dict`; extra keys are ignored."""
        try:
            write = data.get("write_bytes_per_second")
            return cls(
                float(data["macs_per_second"]),
                float(data["bytes_per_second"]),
                None if write is None else float(write),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise AnalyzerError(
                f"Roofline.from_dict: need numbers under 'macs_per_second' and "
                f"'bytes_per_second', got {data!r} ({exc!r})"
            ) from None


Curve = tuple[tuple[float, float], ...]


def _points(points: Any, name: str, fields: tuple[str, ...], *, required: bool = True,
            zero_last: bool = False) -> tuple[tuple[float, ...], ...]:  # fmt: skip
    """``points`` as sorted tuples of ``len(fields)`` finite positive numbers (the last one
    may be 0 when ``zero_last``), at least one when ``required``; else an AnalyzerError."""
    shape = f"({', '.join(fields)}) {'pairs' if len(fields) == 2 else 'triples'}"
    try:
        rows = tuple(sorted(tuple(_real(v) for v in row) for row in _records(points, len(fields))))
    except (TypeError, ValueError):
        raise AnalyzerError(f"Calibration: {name} must be {shape}, got {points!r}") from None

    def valid(row: tuple[float, ...]) -> bool:
        *head, last = row
        return (
            len(row) == len(fields)
            and all(math.isfinite(v) and v > 0 for v in head)
            and math.isfinite(last)
            and (last >= 0 if zero_last else last > 0)
        )

    if (required and not rows) or not all(valid(row) for row in rows):
        some = "one or more " if required else ""
        sign = "positive (the last one may be 0)" if zero_last else "positive"
        raise AnalyzerError(
            f"Calibration: {name} needs {some}{shape} of finite numbers, {sign}; got {points!r}"
        )
    return _distinct(rows, name)


def _curve(points: Any, name: str) -> Curve:
    """Sorted ``(x, value)`` pairs with positive finite numbers, or an AnalyzerError."""
    return _points(points, name, ("size", "rate"))  # type: ignore[return-value]


Table = tuple[tuple[float, float, float], ...]


def _table(points: Any, name: str) -> Table:
    """Sorted ``(stream bytes, read bytes, bandwidth)`` triples of positive finite numbers."""
    fields = ("stream bytes", "read bytes", "bytes/s")
    return _points(points, name, fields, required=False)  # type: ignore[return-value]


def _extra_curve(points: Any, name: str) -> Curve:
    """Sorted ``(bytes, seconds)`` pairs: positive finite bytes, finite seconds >= 0."""
    fields = ("bytes", "seconds")
    return _points(points, name, fields, required=False, zero_last=True)  # type: ignore[return-value]


def megabytes(nbytes: float) -> str:
    """Bytes as a short text in kB, MB or GB (powers of 10).

    >>> megabytes(2_097_152), megabytes(1500), megabytes(3.2e9)
    ('2.1 MB', '1.5 kB', '3.2 GB')
    """
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:.3g} {unit}"
    return f"{int(nbytes)} bytes"


def _rate_text(rate: float | Curve) -> str:
    """A kernel's rate in G macs/s: one number, or a curve's first and last points.

    >>> _rate_text(2.5e9), _rate_text(((1e4, 9e8), (1e7, 2e8))), _rate_text(((1e4, 9e8),))
    ('2.5 G', '0.9 G (10 k macs) .. 0.2 G (10 M macs)', '0.9 G (10 k macs)')
    """
    if isinstance(rate, float):
        return f"{rate / 1e9:.3g} G"
    if len(rate) == 1:
        return f"{rate[0][1] / 1e9:.3g} G ({_count(rate[0][0])} macs)"
    (x0, r0), (x1, r1) = rate[0], rate[-1]
    return f"{r0 / 1e9:.3g} G ({_count(x0)} macs) .. {r1 / 1e9:.3g} G ({_count(x1)} macs)"


def _count(n: float) -> str:
    """A count in k, M or G (powers of 10)."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.3g}"


def _cold_at(curve: Curve, nbytes: float) -> float:
    """A cold curve at ``nbytes``: 0 at and below :data:`COLD_FROM`, then linear in log bytes
    from there to the curve's first point and between its points; 0 for no curve."""
    if not curve or not nbytes > COLD_FROM:
        return 0.0
    if curve[0][0] > COLD_FROM:
        curve = ((float(COLD_FROM), 0.0), *curve)
    return max(interpolate_linear(curve, nbytes), 0.0)


def interpolate(points: Curve, x: float) -> float:
    """The value at ``x`` of a curve, linear in log-log between its points, flat beyond its ends.

    >>> round(interpolate(((1.0, 10.0), (100.0, 1000.0)), 10.0), 9)
    100.0
    >>> interpolate(((1.0, 10.0), (100.0, 1000.0)), 1e6)
    1000.0
    """
    if x <= points[0][0]:
        return points[0][1]
    if x >= points[-1][0]:
        return points[-1][1]
    xs = np.log([p[0] for p in points])
    ys = np.log([p[1] for p in points])
    return float(np.exp(np.interp(math.log(max(float(x), 1e-300)), xs, ys)))


def interpolate_linear(points: Curve, x: float) -> float:
    """The value at ``x`` of a curve, linear in ``log x`` between its points, flat beyond its
    ends, 0 for an empty curve (the cold excess curves, whose values may be 0).

    >>> round(interpolate_linear(((1.0, 0.0), (100.0, 2.0)), 10.0), 9), interpolate_linear((), 5.0)
    (1.0, 0.0)
    """
    if not points:
        return 0.0
    xs = np.log([p[0] for p in points])
    ys = [p[1] for p in points]
    return float(np.interp(math.log(max(float(x), 1e-300)), xs, ys))


@dataclass(frozen=True)
class Calibration:
    """The calibrated rates of one machine (see the module docstring for how they are used).

    Parameters
    ----------
    read : pairs ``(working-set bytes, bytes per second)``
        Read bandwidth of a buffer of that size read again and again.
    write_fresh, write_reused : pairs ``(result bytes, bytes per second)``
        Writing a freshly allocated result (first touch when the allocator maps new pages),
        and writing a buffer written before.
    gemm : pairs ``(smallest dimension, macs per second)``
        Dense product rate as a function of ``min(m, k, n)``, operands in cache.
    elementwise : float
        Multiply-adds per second of an elementwise numpy kernel, operands in cache.
    numpy_call : float
        Seconds of one numpy kernel call on tiny arrays.
    step_overhead : dict
        Seconds the executor spends on a step of tiny size, by ``structures`` text (such as
        ``"dense·dense"``); ``"default"`` for the others.
    levels : tuple of ``(name, capacity bytes, bytes per second)``
        The plateaus of the read curve, cache by cache (see
        :func:`~analyzer.machine.calibration.fit_bandwidth`); the memory plateau has
        capacity ``inf``.
    first_touch_from : float or None
        Smallest result size whose fresh write was much slower than a reused one (page
        faults); ``None`` when no size was.
    reread : triples ``(stream bytes D, read bytes b, bytes per second)``, optional
        Bandwidth of reading ``b`` bytes right after streaming ``D`` other bytes (see
        :meth:`reread_bandwidth`); empty: reads are priced on ``read`` at the reuse distance.
    kernel_rates : dict, optional
        Multiply-adds per second of the structured kernels, by ``structures`` text (such as
        ``"dense·row-block"``): a number (the in-cache rate, priced as any compute) or a
        curve of ``(macs, macs per second)`` pairs (the whole step's rate, see
        :meth:`kernel_rate`); a structured step whose pair is not here runs at
        ``elementwise``.
    cold_write : pairs ``(bytes, seconds)``, optional
        Extra seconds of a tiny executor step right after a step that wrote that many bytes
        to fresh pages (page faults and dirty lines evict more than reads do), over the same
        step after :data:`COLD_FROM` bytes; a step pays the larger of this and ``cold_after``
        / ``cold_start`` (see :meth:`cold_extra`); empty: none.
    cold_after, cold_start : pairs ``(bytes, seconds)``, optional
        Extra seconds of a tiny executor step right after a step that touched that many
        bytes (the interpreter's data evicted), within a repetition and as the first step of
        the next one, over the same step after :data:`COLD_FROM` bytes (see
        :meth:`cold_extra`); empty: none.
    meta : dict
        How and where it was measured (version, machine fingerprint, seconds, quick, ...).
    """

    read: Curve
    write_fresh: Curve
    write_reused: Curve
    gemm: Curve
    elementwise: float
    numpy_call: float
    step_overhead: Mapping[str, float]
    levels: tuple[tuple[str, float, float], ...] = ()
    first_touch_from: float | None = None
    reread: Table = ()
    cold_after: Curve = ()
    cold_start: Curve = ()
    cold_write: Curve = ()
    kernel_rates: Mapping[str, float | Curve] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("read", "write_fresh", "write_reused", "gemm"):
            object.__setattr__(self, name, _curve(getattr(self, name), name))
        # optional tables: None or empty for none (an array's truth value is ambiguous)
        optional = (("reread", _table), ("cold_after", _extra_curve),
                    ("cold_start", _extra_curve), ("cold_write", _extra_curve))  # fmt: skip
        for name, check in optional:
            value = getattr(self, name)
            object.__setattr__(self, name, check(() if value is None else value, name))
        for name in ("elementwise", "numpy_call"):
            value = getattr(self, name)
            if not _finite(value) > 0:
                raise AnalyzerError(
                    f"Calibration: {name} must be a positive finite number, got {value!r}"
                )
            object.__setattr__(self, name, float(value))  # plain floats: JSON writes them
        overhead = dict(self.step_overhead) if isinstance(self.step_overhead, Mapping) else {}
        if "default" not in overhead or not all(_finite(v) >= 0 for v in overhead.values()):
            raise AnalyzerError(
                "Calibration: step_overhead maps structures to seconds >= 0 and has a "
                f"'default', got {self.step_overhead!r}"
            )
        object.__setattr__(self, "step_overhead", {str(k): float(v) for k, v in overhead.items()})
        rates = self.kernel_rates if self.kernel_rates is not None else {}
        if not isinstance(rates, Mapping):
            raise AnalyzerError(
                "Calibration: kernel_rates maps structures to positive finite macs/s or to "
                f"(macs, macs/s) curves, got {self.kernel_rates!r}"
            )
        kernels: dict[str, float | Curve] = {}
        for key, value in rates.items():
            if isinstance(value, str | bytes | Mapping) or not hasattr(value, "__iter__"):
                if not _finite(value) > 0:
                    raise AnalyzerError(
                        "Calibration: kernel_rates maps structures to positive finite macs/s "
                        f"or to (macs, macs/s) curves, got {self.kernel_rates!r}"
                    )
                kernels[str(key)] = float(value)
            else:
                kernels[str(key)] = _curve(value, f"kernel_rates[{key!r}]")
        object.__setattr__(self, "kernel_rates", kernels)
        object.__setattr__(self, "levels", _levels(self.levels))
        first = self.first_touch_from
        if first is not None:
            if not _finite(first) > 0:
                raise AnalyzerError(
                    f"Calibration: first_touch_from must be None or positive finite bytes, "
                    f"got {first!r}"
                )
            object.__setattr__(self, "first_touch_from", float(first))
        if not isinstance(self.meta or {}, Mapping):
            raise AnalyzerError(f"Calibration: meta must be a dict, got {self.meta!r}")
        object.__setattr__(self, "meta", dict(self.meta or {}))

    # ---------------------------------------------------------------- the curves
    def read_bandwidth(self, working_set: float) -> float:
        """Bytes per second of reading with this working set (bytes)."""
        return interpolate(self.read, working_set)

    def reread_bandwidth(self, nbytes: float, distance: float) -> float:
        """Bytes per second of reading ``nbytes`` last touched ``distance`` bytes of traffic
        ago (``distance >= nbytes``; the bytes read count in it).

        Without a ``reread`` table this is the read curve at ``distance``. With one, the
        points are ``(nbytes, B_read(nbytes))`` (no other traffic: the buffer read again and
        again) and, per calibrated stream ``D``, ``(nbytes + D, B_D(nbytes))`` with ``B_D``
        the table's row at ``D`` (log-log in the read size); the rate at ``distance`` is
        interpolated between them, log-log, flat beyond the largest ``D``. A row stands for
        reads no larger than the largest it measured: for a larger read its point is the read
        curve at ``nbytes + D``, as without a table (so the rate does not jump to another
        row's where a row ends); a read larger than every row's is priced on the read curve
        at ``distance``.

        >>> cal = Calibration(read=((1e3, 4e10),), write_fresh=((1e3, 1e10),),
        ...     write_reused=((1e3, 1e10),), gemm=((1, 1e9),), elementwise=1e9,
        ...     numpy_call=1e-6, step_overhead={"default": 1e-5},
        ...     reread=((1e8, 1e5, 1e10), (1e8, 1e7, 1e10)))
        >>> cal.reread_bandwidth(1e6, 1e6) / 1e9, round(cal.reread_bandwidth(1e6, 1e9) / 1e9, 9)
        (40.0, 10.0)
        """
        nbytes = max(float(nbytes), 1.0)
        distance = max(float(distance), nbytes)
        if not self.reread:
            return self.read_bandwidth(distance)
        points = [(nbytes, self.read_bandwidth(nbytes))]
        covered = False
        for stream, rows in itertools.groupby(self.reread, key=lambda t: t[0]):
            row = tuple((b, r) for _, b, r in rows)
            if nbytes <= row[-1][0]:
                points.append((nbytes + stream, interpolate(row, nbytes)))
                covered = True
            else:  # a row says nothing of reads larger than it measured
                points.append((nbytes + stream, self.read_bandwidth(nbytes + stream)))
        if not covered:
            return self.read_bandwidth(distance)
        return interpolate(tuple(points), distance)

    def cold_extra(
        self, touched_before: float = 0.0, first: bool = False, written_before: float = 0.0
    ) -> float:
        """Extra seconds of a step right after a step that touched ``touched_before`` bytes,
        ``written_before`` of them written to fresh pages: the larger of ``cold_start`` (for
        the first step of a repetition, else ``cold_after``) at ``touched_before`` and
        ``cold_write`` at ``written_before``. Each curve is linear in log bytes between its
        points and flat beyond the last; 0 at and below :data:`COLD_FROM` bytes (the traffic
        the curves are measured against), rising linearly in log bytes from there to the
        curve's first point; 0 for no curve.

        >>> cal = Calibration(read=((1e3, 4e10),), write_fresh=((1e3, 1e10),),
        ...     write_reused=((1e3, 1e10),), gemm=((1, 1e9),), elementwise=1e9,
        ...     numpy_call=1e-6, step_overhead={"default": 1e-5},
        ...     cold_after=((1e6, 0.0), (1e8, 6e-5)), cold_start=((1e6, 0.0), (1e8, 2e-5)),
        ...     cold_write=((1e6, 0.0), (1e8, 8e-5)))
        >>> round(cal.cold_extra(1e7) * 1e6, 6), round(cal.cold_extra(1e7, first=True) * 1e6, 6)
        (30.0, 10.0)
        >>> round(cal.cold_extra(2e7, written_before=1e7) * 1e6, 6)  # 40 µs after the write
        40.0
        """
        for name, value in (("touched_before", touched_before), ("written_before", written_before)):
            if not _real_or_nan(value) >= 0:
                raise AnalyzerError(f"cold_extra: {name} must be a number >= 0, got {value!r}")
        read = self.cold_start if first else self.cold_after
        return max(_cold_at(read, touched_before), _cold_at(self.cold_write, written_before))

    def write_bandwidth(self, nbytes: float, fresh: bool = True) -> float:
        """Bytes per second of writing a result of ``nbytes``: fresh (allocated) or reused."""
        return interpolate(self.write_fresh if fresh else self.write_reused, nbytes)

    def kernel_rate(self, structures: str, macs: float) -> tuple[float, bool]:
        """Macs per second of a structured kernel doing ``macs``, and whether that rate is
        a whole-step curve (reads and the fresh result included) rather than an in-cache rate;
        ``(elementwise, False)`` for a pair without a calibrated kernel.

        >>> cal = Calibration(read=((1e3, 1e10),), write_fresh=((1e3, 1e9),),
        ...                   write_reused=((1e3, 1e10),), gemm=((1, 1e9),), elementwise=2e9,
        ...                   numpy_call=1e-6, step_overhead={"default": 5e-6},
        ...                   kernel_rates={"diagonal·dense": 1e9,
        ...                                 "dense·row-block": ((1e4, 1e9), (1e7, 1e8))})
        >>> cal.kernel_rate("diagonal·dense", 1e6), cal.kernel_rate("dense·row-block", 1e7)
        ((1000000000.0, False), (100000000.0, True))
        >>> cal.kernel_rate("row-block·diagonal", 1e6)
        (2000000000.0, False)
        """
        value = self.kernel_rates.get(str(structures))
        if value is None:
            return self.elementwise, False
        if isinstance(value, float):
            return value, False
        return interpolate(value, macs), True

    def gemm_rate(self, smallest: float) -> float:
        """Macs per second of a dense product whose smallest dimension is ``smallest``."""
        return interpolate(self.gemm, smallest)

    def overhead(self, structures: str) -> float:
        """Seconds of the executor's per-step overhead for a pair of structure kinds."""
        return float(self.step_overhead.get(str(structures), self.step_overhead["default"]))

    def level(self, working_set: float) -> tuple[str, float]:
        """The level a working set fits in, and its capacity: ``("L2", 2097152.0)``,
        ``("memory", inf)``; ``("", inf)`` when the calibration found no levels."""
        for name, capacity, _ in self.levels:
            if working_set <= capacity:
                return name, capacity
        return ("memory", math.inf) if self.levels else ("", math.inf)

    @property
    def last_level(self) -> tuple[str, float] | None:
        """The last cache level before memory, ``(name, capacity)``; None when there is none."""
        caches = [(n, c) for n, c, _ in self.levels if math.isfinite(c)]
        return caches[-1] if caches else None

    def roofline(self) -> Roofline:
        """The plain roofline of these rates: the square GEMM rate, the read and fresh-write
        bandwidths of the largest working set calibrated."""
        return Roofline(
            macs_per_second=max(r for _, r in self.gemm),
            bytes_per_second=self.read[-1][1],
            write_bytes_per_second=self.write_fresh[-1][1],
        )

    def summary(self) -> str:
        """A few lines a person reads: levels, GEMM rates, writes, overheads.

        >>> print(Calibration(read=((1e3, 4e10), (1e9, 1e10)), write_fresh=((1e3, 3e9),),
        ...     write_reused=((1e3, 2e10),), gemm=((1, 5e9), (1024, 3e10)), elementwise=2e9,
        ...     numpy_call=1e-6, step_overhead={"default": 5e-6},
        ...     levels=(("L3", 4e7, 4e10), ("memory", math.inf, 1e10))).summary())
        read bandwidth: L3 (up to 40 MB) 40 GB/s, memory 10 GB/s
        GEMM (macs/s by smallest dimension): d=1 5 G, d=1024 30 G; elementwise 2 G
        writes: fresh 3 GB/s at 1 kB; reused 20 GB/s at 1 kB
        overhead: numpy call 1 µs; executor step (µs) default 5
        """
        levels = (
            ", ".join(
                f"{n} (up to {megabytes(c)}) {r / 1e9:.3g} GB/s"
                if math.isfinite(c)
                else f"{n} {r / 1e9:.3g} GB/s"
                for n, c, r in self.levels
            )
            or "no levels"
        )
        gemm = ", ".join(f"d={int(d)} {r / 1e9:.3g} G" for d, r in self.gemm)
        (fresh_at, fresh_rate), (again_at, again_rate) = self.write_fresh[-1], self.write_reused[-1]
        fresh = f"fresh {fresh_rate / 1e9:.3g} GB/s at {megabytes(fresh_at)}"
        again = f"reused {again_rate / 1e9:.3g} GB/s at {megabytes(again_at)}"
        if self.first_touch_from is not None:
            fresh += f" (first touch from {megabytes(self.first_touch_from)})"
        steps = ", ".join(f"{k} {v * 1e6:.3g}" for k, v in self.step_overhead.items())
        lines = [
            f"read bandwidth: {levels}",
            f"GEMM (macs/s by smallest dimension): {gemm}; "
            f"elementwise {self.elementwise / 1e9:.3g} G"
            + "".join(f", {k} {_rate_text(v)}" for k, v in self.kernel_rates.items()),
            f"writes: {fresh}; {again}",
            f"overhead: numpy call {self.numpy_call * 1e6:.3g} µs; executor step (µs) {steps}",
        ]
        if self.reread:
            longest = self.reread[-1][0]
            row = ", ".join(
                f"{r / 1e9:.3g} GB/s at {megabytes(b)}" for d, b, r in self.reread if d == longest
            )
            lines.append(f"reread after a {megabytes(longest)} stream: {row}")
        cold = [
            f"{name} {curve[-1][1] * 1e6:.3g} µs after {megabytes(curve[-1][0])}"
            for name, curve in (
                ("within a repetition", self.cold_after),
                ("at its start", self.cold_start),
                ("after a fresh write", self.cold_write),
            )  # fmt: skip
            if curve
        ]
        if cold:
            lines.append(f"cold step excess: {'; '.join(cold)}")
        return "\n".join(lines)

    # ---------------------------------------------------------------- plain data
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serializable dict (``inf`` capacities written as ``None``)."""
        data = asdict(self)
        data["levels"] = [[n, None if math.isinf(c) else c, r] for n, c, r in self.levels]
        for name in ("read", "write_fresh", "write_reused", "gemm", "reread", "cold_after",
                     "cold_start", "cold_write"):  # fmt: skip
            data[name] = [list(p) for p in data[name]]
        data["step_overhead"] = dict(self.step_overhead)
        data["kernel_rates"] = {
            k: v if isinstance(v, float) else [list(p) for p in v]
            for k, v in self.kernel_rates.items()
        }
        data["meta"] = dict(self.meta)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        """Inverse of :meth:`to_dict`; an AnalyzerError names what is missing or wrong."""
        if not isinstance(data, Mapping):
            raise AnalyzerError(f"Calibration.from_dict: need a dict, got {type(data).__name__}")
        try:
            levels = [
                (n, math.inf if c is None else c, r) for n, c, r in _records(data["levels"], 3)
            ]
            first = data.get("first_touch_from")
            return cls(
                read=data["read"],
                write_fresh=data["write_fresh"],
                write_reused=data["write_reused"],
                gemm=data["gemm"],
                elementwise=_real(data["elementwise"]),
                numpy_call=_real(data["numpy_call"]),
                step_overhead=dict(data["step_overhead"]),
                levels=tuple(levels),
                first_touch_from=None if first is None else _real(first),
                reread=data.get("reread") or (),
                cold_after=data.get("cold_after") or (),
                cold_start=data.get("cold_start") or (),
                cold_write=data.get("cold_write") or (),
                kernel_rates=data.get("kernel_rates") or {},
                meta=data.get("meta") or {},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise AnalyzerError(f"Calibration.from_dict: not a calibration ({exc!r})") from None


@dataclass(frozen=True)
class StepPrediction:
    """A step's predicted seconds and what they are made of.

    ``seconds = overhead + max(compute, read) + write``; ``bound`` names the largest of
    ``overhead``, ``compute``, ``read`` and ``write`` (``kernel`` instead of ``compute`` for a
    kernel priced by its whole-step curve, whose ``read`` and ``write`` are then 0); ``level``
    is the level the working set fits in (with its ``capacity``), ``fresh`` whether the
    result is written to new pages.
    """

    seconds: float
    overhead: float
    compute: float
    read: float
    write: float
    shape_class: str
    working_set: float
    level: str
    capacity: float
    fresh: bool
    bound: str


_SHAPES = re.compile(r"^\((\d+)×(\d+)\)·\((\d+)×(\d+)\)$")


def parse_shapes(text: str) -> tuple[int, int, int] | None:
    """``(m, k, n)`` of a step's ``shapes`` text such as ``"(1×512)·(512×32768)"``; None for
    other texts (a preaccumulation's single shape, symbols).

    >>> parse_shapes("(1×512)·(512×32768)"), parse_shapes("(4×4)")
    ((1, 512, 32768), None)
    """
    found = _SHAPES.match(str(text).strip())
    if not found:
        return None
    m, k, k2, n = (int(g) for g in found.groups())
    return (m, k, n) if k == k2 else None


def shape_class(structures: str, shapes: str) -> tuple[str, int]:
    """The shape class of a step and the smallest dimension its GEMM rate is read at.

    >>> shape_class("dense·dense", "(1×512)·(512×32768)")
    ('matrix-vector', 1)
    >>> shape_class("dense·dense", "(512×512)·(512×32768)")
    ('square', 512)
    >>> shape_class("dense·dense", "(8×512)·(512×512)")
    ('thin', 8)
    >>> shape_class("dense·dense", "(1×1)·(1×512)"), shape_class("diagonal·dense", "(4×4)·(4×4)")
    (('elementwise', 1), ('elementwise', 1))
    """
    dims = parse_shapes(shapes)
    if str(structures) != "dense·dense" or dims is None:
        return "elementwise", 1
    m, k, n = dims
    if k == 1:  # a scaling or an outer product: one multiply per element written
        return "elementwise", 1
    smallest = min(m, k, n)
    if smallest == 1:
        return "matrix-vector", 1
    return ("square" if smallest >= SQUARE_FROM else "thin"), smallest


def _field(step: Any, name: str) -> Any:
    try:
        return step[name] if isinstance(step, Mapping) else getattr(step, name)
    except (KeyError, AttributeError):
        raise AnalyzerError(
            f"predict_step: a step needs structures, shapes, macs, bytes and bytes_written; "
            f"{name!r} is missing from {step!r}"
        ) from None


def _amount(value: Any, name: str, infinite: bool = False) -> float:
    """A count of macs, bytes or seconds: a number >= 0 (finite unless ``infinite``)."""
    try:
        number = _real(value)
    except ValueError:
        number = math.nan
    if not (number >= 0 and (infinite or math.isfinite(number))):
        raise AnalyzerError(
            f"predict_step: {name} must be a {'' if infinite else 'finite '}number >= 0, "
            f"got {value!r}"
        )
    return number


def predict_step(
    calibration: Calibration,
    step: Any,
    *,
    working_set: float | None = None,
    fresh: bool = True,
    touched_before: float = 0.0,
    first: bool = False,
    written_before: float = 0.0,
) -> StepPrediction:
    """Predicted seconds of one product step (a row of ``Plan.steps``, a dict or namedtuple
    with ``structures``, ``shapes``, ``macs``, ``bytes`` and ``bytes_written``).

    Parameters
    ----------
    calibration : Calibration
    step : mapping or record
        ``bytes`` counts operands read and results written; ``bytes_written`` the results.
    working_set : float, optional
        The step's reuse distance: bytes touched between two reads of its operands (default:
        the step's bytes); its reads are priced at :meth:`Calibration.reread_bandwidth`.
    fresh : bool
        Whether the result is newly allocated (as the executor does: priced on the
        ``write_fresh`` curve at every size, first touch included where the curve shows it)
        rather than a buffer written before (the ``write_reused`` curve). The prediction's
        ``fresh`` is True only for a fresh result of at least ``first_touch_from`` bytes.
    touched_before : float
        Bytes the step before touched (read and written): the overhead gains
        :meth:`Calibration.cold_extra` of them.
    first : bool
        Whether the step is the first of a repetition (the previous step is the last one of
        the repetition before).
    written_before : float
        Bytes the step before wrote to fresh pages (priced by ``cold_write``).

    Raises
    ------
    AnalyzerError
        A missing field; ``macs``, ``bytes`` or ``bytes_written`` not a finite number >= 0,
        or more bytes written than ``bytes``; ``working_set`` or ``touched_before`` not a
        number >= 0.

    Examples
    --------
    >>> cal = Calibration(read=((1e6, 4e10), (1e8, 1e10)), write_fresh=((1e3, 2e10), (1e8, 2e9)),
    ...                   write_reused=((1e3, 2e10),), gemm=((1, 1e10), (64, 2e10)),
    ...                   elementwise=2e9, numpy_call=1e-6, step_overhead={"default": 5e-6},
    ...                   levels=(("L2", 1e7, 4e10), ("memory", math.inf, 1e10)),
    ...                   first_touch_from=5e7)
    >>> step = {"structures": "dense·dense", "shapes": "(1×1000)·(1000×10000)",
    ...         "macs": 10**7, "bytes": 80_088_000, "bytes_written": 80_000}
    >>> p = predict_step(cal, step, working_set=1e8)  # reads 80 MB at 10 GB/s
    >>> p.bound, p.level, round(p.compute * 1e3, 4), round(p.read * 1e3, 4)
    ('read', 'memory', 1.0, 8.0008)

    The 80 kB result is below ``first_touch_from`` (50 MB), so it is not marked as written
    to fresh pages, yet it is priced on the fresh curve, interpolated in log-log between
    20 GB/s at 1 kB and 2 GB/s at 100 MB: 8.33 GB/s at 80 kB, 9.61 µs; plus 5 µs overhead.

    >>> p.fresh, round(p.write * 1e6, 2), round(p.seconds * 1e3, 4)
    (False, 9.61, 8.0154)
    """
    structures = str(_field(step, "structures"))
    cls, smallest = shape_class(structures, _field(step, "shapes"))
    macs = _amount(_field(step, "macs"), "macs")
    written = _amount(_field(step, "bytes_written"), "bytes_written")
    moved = _amount(_field(step, "bytes"), "bytes")
    if written > moved:
        raise AnalyzerError(
            f"predict_step: bytes ({moved:g}) count the results written, so they cannot be "
            f"fewer than bytes_written ({written:g})"
        )
    read_bytes = moved - written
    # the reuse distance counts the bytes read (see reread_bandwidth), and so does the level
    ws = (
        moved if working_set is None else max(_amount(working_set, "working_set", True), read_bytes)
    )
    touched_before = _amount(touched_before, "touched_before", True)
    whole = False
    if cls == "elementwise":
        rate, whole = calibration.kernel_rate(structures, macs)
    else:
        rate = calibration.gemm_rate(smallest)
    first_touch = (
        fresh
        and calibration.first_touch_from is not None
        and written >= calibration.first_touch_from
    )
    compute = macs / rate
    read = read_bytes / calibration.reread_bandwidth(read_bytes, ws) if read_bytes else 0.0
    write = written / calibration.write_bandwidth(written, fresh=fresh) if written else 0.0
    if whole:  # the kernel's curve holds its reads and its result's pages
        read = write = 0.0
    written_before = _amount(written_before, "written_before", True)
    overhead = calibration.overhead(structures) + calibration.cold_extra(
        touched_before, first, written_before
    )
    parts = {"overhead": overhead, "kernel" if whole else "compute": compute, "read": read,
             "write": write}  # fmt: skip
    level, capacity = calibration.level(ws)
    return StepPrediction(
        seconds=overhead + max(compute, read) + write,
        overhead=overhead,
        compute=compute,
        read=read,
        write=write,
        shape_class=cls,
        working_set=ws,
        level=level,
        capacity=capacity,
        fresh=bool(first_touch),
        bound=max(parts, key=parts.__getitem__),
    )
