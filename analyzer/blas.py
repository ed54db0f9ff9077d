"""Process resources: BLAS thread pinning and available memory (below executor and timing)."""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Iterator

from threadpoolctl import threadpool_limits

from .errors import AnalyzerError

__all__ = ["blas_threads", "available_memory"]


@contextlib.contextmanager
def blas_threads(n: int | None = 1) -> Iterator[None]:
    """Pin BLAS to ``n`` threads inside a ``with`` block, restoring the old setting after.

    Parameters
    ----------
    n : int or None
        Number of BLAS threads (at least 1); ``None`` leaves the setting as it is.

    Examples
    --------
    >>> import numpy as np
    >>> with blas_threads(1):
    ...     float((np.ones((4, 4)) @ np.ones((4, 4)))[0, 0])
    4.0
    """
    if n is None:
        yield
        return
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise AnalyzerError(f"blas_threads: n must be a positive int or None, got {n!r}")
    with threadpool_limits(limits=int(n), user_api="blas"):
        yield


def available_memory() -> int:
    """Bytes of memory available now (MemAvailable), or 4 GiB when unreadable."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 * 2**30
