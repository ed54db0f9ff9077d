"""Memory limits as people write them: ``2_000_000_000``, ``"2 GB"``, ``"512 MiB"``, ``"100kB"``.

Units follow their standard meaning: the decimal (SI) prefixes are powers of
1000 (``kB``, ``MB``, ``GB``, ``TB``: ``"2 GB"`` is 2·10⁹ bytes) and the binary
(IEC) prefixes powers of 1024 (``KiB``, ``MiB``, ``GiB``, ``TiB``: ``"512 MiB"``
is 512·2²⁰ bytes); ``B`` (or no unit) is bytes. Units are read without regard to
case (``"2 gb"`` is ``"2 GB"``); a fractional count of a larger unit is rounded
down to whole bytes (``"1.5 KiB"`` is 1536, ``"0.3 KiB"`` is 307). A count of
bytes (a float, or text with ``B`` or no unit) must be a whole number: ``1.7``
or ``"0.5 B"`` is refused rather than rounded. Anything else (zero, a negative
or non-finite number, a number too large to be a float such as ``"1e400 B"``,
an unknown unit, text that is not a number and a unit, less than one byte) is a
:class:`~analyzer.errors.PlanError`.

>>> parse_memory("2 GB"), parse_memory("512 MiB"), parse_memory("100kB"), parse_memory(4096)
(2000000000, 536870912, 100000, 4096)
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from ..errors import PlanError

__all__ = ["UNITS", "parse_memory"]

#: Bytes per unit, by the unit's lower-case name.
UNITS: dict[str, int] = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
_SHOWN = "B, kB, MB, GB, TB (powers of 1000), KiB, MiB, GiB, TiB (powers of 1024)"
_TEXT = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*$")


def _whole(count: float, limit: Any) -> int:
    """A count of bytes that must be whole (a fraction of a byte is refused, not rounded)."""
    if count != math.floor(count):
        raise PlanError(
            f"memory_limit must be a whole number of bytes, got {limit!r} (write an int, or a "
            f"larger unit such as '2 kB')"
        )
    return int(count)


def parse_memory(limit: Any) -> int:
    """Bytes of a memory limit: a positive int, or a number followed by a unit (see the module)."""
    if isinstance(limit, bool):
        raise PlanError(
            f"memory_limit must be a number of bytes or text like '2 GB', got {limit!r}"
        )
    if isinstance(limit, int | np.integer):
        value = int(limit)
    elif isinstance(limit, float | np.floating):
        if not math.isfinite(limit):
            raise PlanError(f"memory_limit must be a finite number of bytes, got {limit!r}")
        value = _whole(float(limit), limit)
    elif isinstance(limit, str):
        match = _TEXT.match(limit)
        if match is None:
            if limit.strip().startswith("-"):
                raise PlanError(f"memory_limit must be positive, got {limit!r}")
            raise PlanError(
                f"cannot read memory_limit {limit!r}: write a number and a unit, e.g. '2 GB' "
                f"(units: {_SHOWN})"
            )
        number, unit = match.groups()
        if unit.lower() not in UNITS and unit:
            raise PlanError(f"unknown memory unit {unit!r} in {limit!r}; valid units: {_SHOWN}")
        scale = UNITS[unit.lower()] if unit else 1
        try:
            if "." in number or "e" in number.lower():
                count = float(number) * scale
                if not math.isfinite(count):
                    raise PlanError(f"memory_limit {limit!r} is too large (not a finite number)")
                value = _whole(count, limit) if scale == 1 else math.floor(count)
            else:
                value = int(number) * scale
        except ValueError as reason:  # e.g. more digits than int() reads
            if isinstance(reason, PlanError):
                raise
            raise PlanError(f"cannot read memory_limit {limit!r}: {reason}") from None
    else:
        raise PlanError(
            f"memory_limit must be a number of bytes or text like '2 GB', got {limit!r}"
        )
    if value <= 0:
        raise PlanError(f"memory_limit must be positive (at least one byte), got {limit!r}")
    return value
