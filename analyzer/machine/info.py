"""This machine described as plain data: CPU, caches, memory, BLAS, versions; its fingerprint."""

from __future__ import annotations

import datetime
import glob
import hashlib
import json
import os
import platform
import sys
from typing import Any

import numpy as np
from threadpoolctl import threadpool_info

__all__ = ["machine_info", "fingerprint", "nominal_caches", "parse_size"]


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


def parse_size(text: str) -> int | None:
    """Bytes of a cache size as sysfs writes it (``"48K"``, ``"2048K"``); None if unreadable.

    >>> parse_size("48K"), parse_size("2M"), parse_size("512"), parse_size("big")
    (49152, 2097152, 512, None)
    """
    text = str(text).strip().upper().removesuffix("B")
    scale = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:], 1)
    digits = text[:-1] if text[-1:] in "KMG" else text
    return int(digits) * scale if digits.isdigit() else None


def nominal_caches(info: dict[str, Any] | None = None) -> list[tuple[str, int]]:
    """Data and unified caches of ``info`` (default: this machine) as ``[("L1", bytes), ...]``.

    >>> nominal_caches({"caches": [{"level": 1, "type": "Data", "size": "48K"},
    ...                            {"level": 1, "type": "Instruction", "size": "32K"},
    ...                            {"level": 2, "type": "Unified", "size": "2048K"}]})
    [('L1', 49152), ('L2', 2097152)]
    """
    caches = (info if info is not None else machine_info()).get("caches") or []
    found: dict[str, int] = {}
    for cache in caches:
        if str(cache.get("type", "")).lower() == "instruction":
            continue
        size = parse_size(cache.get("size", ""))
        if size:
            found[f"L{cache.get('level')}"] = size
    return sorted(found.items(), key=lambda item: item[1])


def fingerprint(info: dict[str, Any] | None = None) -> str:
    """A short hash of what makes timings of this machine comparable (CPU, cores, caches,
    numpy and the BLAS it was built with); the date, thread settings and whichever other
    BLAS libraries happen to be loaded are left out.

    >>> len(fingerprint())
    12
    """
    info = info if info is not None else machine_info()
    blas = _numpy_blas()
    keys = {k: info.get(k) for k in ("cpu_model", "logical_cores", "caches", "numpy")}
    text = json.dumps({**keys, "blas": blas}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _numpy_blas() -> dict[str, Any]:
    """Name and version of the BLAS numpy was built with (empty when numpy does not say)."""
    try:
        blas = np.__config__.CONFIG["Build Dependencies"]["blas"]
        return {"name": blas.get("name"), "version": blas.get("version")}
    except (AttributeError, KeyError, TypeError):
        return {}
