"""This machine: BLAS thread pinning, a plain description, and roofline calibration."""

from __future__ import annotations

import datetime
import glob
import numbers
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from threadpoolctl import threadpool_info

from .blas import blas_threads
from .errors import AnalyzerError

__all__ = ["blas_threads", "machine_info", "Roofline", "calibrate"]


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


def _cpu_model() -> str:
    for line in (_read("/proc/cpuinfo") or "").splitlines():
        if line.lower().startswith("model name") and ":" in line:
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _caches() -> list[dict[str, Any]]:
    caches = []
    for index in sorted(glob.glob("/sys/devices/system/cpu/cpu0/cache/index*")):
        fields = {key: _read(os.path.join(index, key)) for key in ("level", "type", "size")}
        if any(value is None for value in fields.values()):
            continue
        level = fields["level"].strip()
        caches.append(
            {
                "level": int(level) if level.isdigit() else level,
                "type": fields["type"].strip(),
                "size": fields["size"].strip(),
            }
        )
    return caches


def _memory_bytes() -> int | None:
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                return int(parts[1]) * 1024
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def _blas() -> list[dict[str, Any]]:
    keys = ("internal_api", "version", "architecture", "num_threads", "filepath")
    try:
        pools = threadpool_info()
    except Exception:  # threadpoolctl inspects loaded libraries; never fail on it
        return []
    return [{k: pool.get(k) for k in keys} for pool in pools if pool.get("user_api") == "blas"]


def machine_info() -> dict[str, Any]:
    """Describe this machine as a plain JSON-serializable dict; never raises on unreadable files.

    Keys: ``cpu_model``, ``logical_cores``, ``caches`` (list of ``level``/``type``/``size``),
    ``memory_bytes`` (``None`` if unknown), ``blas`` (one dict per loaded BLAS library:
    ``internal_api``, ``version``, ``architecture``, ``num_threads``, ``filepath``),
    ``numpy``, ``python``, ``platform``, ``date`` (UTC, ISO 8601).

    Examples
    --------
    >>> import json
    >>> info = machine_info()
    >>> sorted(info)[:3]
    ['blas', 'caches', 'cpu_model']
    >>> isinstance(json.dumps(info), str)
    True
    """
    return {
        "cpu_model": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "caches": _caches(),
        "memory_bytes": _memory_bytes(),
        "blas": _blas(),
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


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


def _median_time(fn: Callable[[], object], budget: float, min_repeats: int = 3) -> float:
    """Median wall time of ``fn`` after one warm-up, repeated until ``budget`` seconds pass."""
    fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_repeats or (time.perf_counter() - start < budget and len(times) < 50):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def calibrate(
    threads: int | None = 1,
    seconds: float = 0.5,
    *,
    gemm_n: int = 1024,
    copy_elements: int = 2**25,
) -> Roofline:
    """Measure this machine's multiply-add rate and memory bandwidth.

    The rate comes from a square float64 GEMM of size ``gemm_n`` (``gemm_n**3`` macs per
    call); the read bandwidth from summing ``copy_elements`` float64 values (the default
    256 MiB is far beyond any last-level cache), and the write bandwidth from
    ``np.multiply(src, 1.0)``, which reads them and writes a freshly allocated array, as
    every kernel of the executor does (page faults of new memory included). Each is warmed
    up once, then repeated at least three times within its share of ``seconds`` and the
    median taken, with BLAS pinned to
    ``threads`` threads. Total time is a few times ``seconds`` (allocation and warm-up
    included). Timings are noisy: compare them only on the same machine.

    Parameters
    ----------
    threads : int
        BLAS threads during the measurement (``None`` leaves the setting as is).
    seconds : float
        Rough time budget of the repeats, split between the two measurements.
    gemm_n, copy_elements : int
        Problem sizes; smaller ones calibrate faster but less faithfully.

    Examples
    --------
    >>> r = calibrate(seconds=0.01, gemm_n=64, copy_elements=2**12)
    >>> r.macs_per_second > 0 and r.bytes_per_second > 0
    True
    """
    if not (isinstance(seconds, numbers.Real) and seconds > 0):
        raise AnalyzerError(f"calibrate: seconds must be a positive number, got {seconds!r}")
    for name, value in (("gemm_n", gemm_n), ("copy_elements", copy_elements)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise AnalyzerError(f"calibrate: {name} must be a positive int, got {value!r}")
    rng = np.random.default_rng(0)
    a = rng.standard_normal((gemm_n, gemm_n))
    b = rng.standard_normal((gemm_n, gemm_n))
    c = np.empty((gemm_n, gemm_n))
    src = np.ones(copy_elements)
    with blas_threads(threads):
        gemm_time = _median_time(lambda: np.matmul(a, b, out=c), seconds / 2)
        read_time = _median_time(src.sum, seconds / 4)
        copy_time = _median_time(lambda: np.multiply(src, 1.0), seconds / 4)
    tiny = 1e-9  # guard against a zero timer reading on very small problems
    return Roofline(
        macs_per_second=int(gemm_n) ** 3 / max(gemm_time, tiny),
        bytes_per_second=src.nbytes / max(read_time, tiny),
        write_bytes_per_second=src.nbytes / max(copy_time - read_time, copy_time / 2, tiny),
    )
