"""Long chains by macs and peak memory: an interval DP over bracketings and postorder schedules.

For a chain too long for the subset walk of :mod:`analyzer.planning.memsearch`,
each interval of factors keeps a small Pareto set of ``(macs, peak bytes)`` over
its *postorder* schedules: a bracketing's sub-products are each computed in
full, one side after the other (left first or right first, as Sethi and Ullman
order register use), the first side's result held while the second runs. With
the memory model of :mod:`analyzer.planning.memory` (a leaf is born when first
read, so a leaf side holds nothing), the peak of a schedule of ``L·R`` run
left first is ``max(peak L, held L + peak R, |L| + |R| + |LR|)``.

Every order found is a real elimination order with exactly that peak, but the
DP is not exact: it keeps at most ``keep`` points per interval (the cheapest,
the one of least peak, and the cheapest under peaks evenly spaced between), and
orders that interleave independent sub-products are not postorders. Its
answers carry no optimality claim unless their macs equal the unconstrained
optimum (a lower bound). The work is vectorised over all intervals of a length.

>>> from analyzer.models import chain
>>> from analyzer.planning.problem import Problem
>>> points = interval_front(Problem.of(chain([30, 35, 15, 5, 10, 20, 25])), keep=8)
>>> [(int(p.macs), int(p.peak_bytes)) for p in points][:1]
[(15125, 11000)]
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..structure import DENSE
from .memory import held_elements
from .problem import Problem
from .search import Budget

__all__ = ["ChainPoint", "interval_front", "peak_lower_bound"]


class OutOfTime(Exception):
    """The budget ran out before the DP finished."""


@dataclass
class ChainPoint:
    """One schedule the interval DP found: macs (no final preaccumulation), peak bytes, order."""

    macs: int
    peak_bytes: int
    sequence: list


@dataclass
class _Tables:
    n: int
    weight: np.ndarray  # weight[i, L]: bytes of the product of factors i..i+L
    held: np.ndarray  # the same, 0 for single factors (a leaf is born when read)
    final: float  # peak of the final preaccumulation (0 when none)
    kinds: list | None  # kinds[i][L] when the factors are not all dense


def _tables(problem: Problem) -> _Tables:
    chain, sizes, pricer = problem.chain, problem.sizes, problem.pricer()
    n = len(chain) - 1
    kinds = {(t, h): k for t, h, k in problem.edges}
    weight = np.zeros((n, n))
    table: list | None = None
    if all(k == DENSE for k in kinds.values()):
        s = np.array([sizes[v] for v in chain], dtype=float)
        itemsize = np.array([problem.itemsizes.get(v, 8) for v in chain], dtype=float)
        i, L = np.indices((n, n))
        head = np.minimum(i + L + 1, n)
        weight = s[i] * s[head] * np.maximum(itemsize[i], itemsize[head])
    else:
        table = [[None] * n for _ in range(n)]
        for i in range(n):
            table[i][0] = kinds[chain[i], chain[i + 1]]
        for L in range(1, n):
            for i in range(n - L):
                tail, head = chain[i], chain[i + L + 1]
                table[i][L] = pricer.product(
                    table[i + 1][L - 1], table[i][0], tail, chain[i + 1], head
                ).result
        for i in range(n):
            for L in range(n - i):
                tail, head = chain[i], chain[i + L + 1]
                shape = (sizes[head], sizes[tail])
                weight[i, L] = held_elements(table[i][L], shape) * pricer.itemsize(tail, head)
    held = weight.copy()
    held[:, 0] = 0
    root_kind = DENSE if table is None else table[0][n - 1]
    shape = (sizes[chain[-1]], sizes[chain[0]])
    final = 0.0
    if root_kind.densify_macs(shape) != 0:
        final = weight[0, n - 1] + shape[0] * shape[1] * pricer.itemsize(chain[0], chain[-1])
    return _Tables(n, weight, held, final, table)


def _costs(problem: Problem, tables: _Tables, L: int) -> np.ndarray:
    """Macs of every split of every interval of length ``L``: shape (n - L, L)."""
    chain, sizes = problem.chain, problem.sizes
    n = tables.n
    count = n - L
    if tables.kinds is None:
        s = np.array([sizes[v] for v in chain], dtype=float)
        i = np.arange(count)[:, None]
        k = i + 1 + np.arange(L)[None, :]
        return s[i] * s[k] * s[i + L + 1]
    pricer, kinds = problem.pricer(), tables.kinds
    out = np.zeros((count, L))
    for i in range(count):
        tail, head = chain[i], chain[i + L + 1]
        for t in range(L):
            k = i + 1 + t
            price = pricer.product(kinds[k][L - 1 - t], kinds[i][t], tail, chain[k], head)
            out[i, t] = price.macs
    return out


def interval_front(
    problem: Problem, keep: int = 6, limit: Any = None, budget: Budget | None = None
) -> list[ChainPoint]:
    """Pareto points (cheapest first) of the postorder schedules the DP keeps (see the module).

    ``keep`` points per interval at most; with ``limit`` (bytes) only schedules
    whose peak is within it. An empty list when none is found within the limit.
    Raises :class:`OutOfTime` when ``budget`` runs out.
    """
    tables = _tables(problem)
    n, weight, held = tables.n, tables.weight, tables.held
    K = max(2, int(keep))
    inf = np.inf
    # fronts by interval start (FM[i, L]) and by interval end (EM[j, L], of j - L .. j), so
    # that the left and right operands of every split of a length are plain slices
    FM, FP = np.full((n, n, K), inf), np.full((n, n, K), inf)
    EM, EP = np.full((n, n, K), inf), np.full((n, n, K), inf)
    FM[:, 0, 0] = FP[:, 0, 0] = EM[:, 0, 0] = EP[:, 0, 0] = 0.0
    j, L = np.indices((n, n))
    start = np.maximum(j - L, 0)
    weight_end, held_end = weight[start, L], held[start, L]
    back = np.zeros((n, n, K, 4), dtype=np.int64)  # split offset, right first, left, right index
    bound = inf if limit is None else float(limit)
    used = 1  # the most points any interval kept so far: the arrays are cut to it
    for L in range(1, n):
        if budget is not None and budget.expired():
            raise OutOfTime(f"time limit of {budget.time_limit} s")
        count = n - L
        flip = slice(L - 1, None, -1) if L > 1 else slice(0, 1)  # right lengths L-1 .. 0
        ML, PL = FM[:count, :L, :used], FP[:count, :L, :used]  # (count, L, used)
        MR, PR = EM[L:n, flip, :used], EP[L:n, flip, :used]
        HL, HR = held[:count, :L], held_end[L:n, flip]
        comb = weight[:count, :L] + weight_end[L:n, flip] + weight[:count, L, None]
        macs = ML[..., :, None] + MR[..., None, :] + _costs(problem, tables, L)[..., None, None]
        first = np.maximum(PL[..., :, None], HL[..., None, None] + PR[..., None, :])
        second = np.maximum(PR[..., None, :], HR[..., None, None] + PL[..., :, None])
        right_first = second < first  # both orders cost the same macs: keep the lower peak
        peaks = np.minimum(first, second)
        np.maximum(peaks, comb[..., None, None], out=peaks)
        macs, peaks = macs.reshape(count, -1), peaks.reshape(count, -1)
        if limit is not None:
            macs[peaks > bound] = inf
        chosen = _select(macs, peaks, K)  # (count, K) flat indices, -1 for none
        valid = chosen >= 0
        safe = np.where(valid, chosen, 0)
        rows = np.arange(count)[:, None]
        FM[:count, L] = EM[L:n, L] = np.where(valid, macs[rows, safe], inf)
        FP[:count, L] = EP[L:n, L] = np.where(valid, peaks[rows, safe], inf)
        tt, x, y = np.unravel_index(safe, (L, used, used))
        o = right_first.reshape(count, -1)[rows, safe]
        back[:count, L] = np.stack([tt, o, x, y], axis=-1)
        used = max(used, int(valid.sum(axis=1).max()))
    points = []
    for idx in range(K):
        m, p = FM[0, n - 1, idx], max(FP[0, n - 1, idx], tables.final)
        if m == inf or p > bound:
            continue
        points.append(
            ChainPoint(int(round(m)), int(round(p)), _sequence(problem.chain, back, n, idx))
        )
    points.sort(key=lambda q: (q.macs, q.peak_bytes))
    front: list[ChainPoint] = []
    for q in points:
        if not front or q.peak_bytes < front[-1].peak_bytes:
            front.append(q)
    return front


def _select(macs: np.ndarray, peaks: np.ndarray, K: int) -> np.ndarray:
    """Per row, up to ``K`` Pareto points: the cheapest under peaks spread from least to cheapest's.

    ``macs`` is ``inf`` where a candidate is not allowed. Returns flat candidate
    indices (``-1``: none), cheapest first.
    """
    inf = np.inf
    count = macs.shape[0]
    rows = np.arange(count)
    chosen = np.full((count, K), -1, dtype=np.int64)
    cheapest = macs.min(axis=1)
    found = cheapest < inf
    ties = np.where(macs == cheapest[:, None], peaks, inf)
    pick = ties.argmin(axis=1)
    cheap_peak = ties[rows, pick]
    chosen[:, K - 1] = np.where(found, pick, -1)
    allowed = np.where(macs < inf, peaks, inf)
    least = allowed.min(axis=1)
    pick = np.where(allowed == least[:, None], macs, inf).argmin(axis=1)
    chosen[:, 0] = np.where(found, pick, -1)
    for j in range(1, K - 1):
        with np.errstate(invalid="ignore"):  # inf - inf in rows with no candidate
            level = least + (cheap_peak - least) * (j / (K - 1))
        under = np.where(allowed <= level[:, None], macs, inf)
        best = under.min(axis=1)
        pick = np.where(under == best[:, None], peaks, inf).argmin(axis=1)
        chosen[:, j] = np.where(found, pick, -1)
    # keep one of each point, Pareto-filtered, cheapest first
    safe = np.where(chosen >= 0, chosen, 0)
    m = np.where(chosen >= 0, macs[rows[:, None], safe], inf)
    p = np.where(chosen >= 0, peaks[rows[:, None], safe], inf)
    order = np.lexsort((p, m), axis=-1)
    m, p = np.take_along_axis(m, order, -1), np.take_along_axis(p, order, -1)
    chosen = np.take_along_axis(chosen, order, -1)
    before = np.concatenate([np.full((count, 1), inf), np.minimum.accumulate(p, axis=1)[:, :-1]], 1)
    keep = (p < before) & (m < inf)
    chosen = np.where(keep, chosen, -1)
    order = np.argsort(~keep, axis=1, kind="stable")
    return np.take_along_axis(chosen, order, -1)


def _sequence(chain: list[Hashable], back: np.ndarray, n: int, idx: int) -> list:
    """The elimination order of a kept point: a postorder, each side in its chosen order."""
    out: list = []
    stack: list[tuple] = [(0, n - 1, idx, False)]
    while stack:
        i, L, j, expanded = stack.pop()
        if L == 0:
            continue
        t, right_first, x, y = (int(v) for v in back[i, L, j])
        k = i + 1 + t
        if expanded:
            out.append(chain[k])
            continue
        stack.append((i, L, j, True))
        left, right = (i, t, x, False), (k, L - 1 - t, y, False)
        first, second = (right, left) if right_first else (left, right)
        stack.append(second)
        stack.append(first)
    return out


def peak_lower_bound(problem: Problem) -> int:
    """A peak no order goes below: eliminating vertex ``k`` joins ``i..k`` and ``k+1..j`` once.

    That product's operands and result are live together, so the peak is at least,
    for every ``k``, the least of those totals over ``i`` and ``j``.
    """
    tables = _tables(problem)
    n, weight = tables.n, tables.weight
    best = tables.final
    for k in range(1, n):  # vertex chain[k] joins factors i..k-1 and k..j
        i = np.arange(k)[:, None]
        j = np.arange(k, n)[None, :]
        total = weight[i, k - 1 - i] + weight[k, j - k] + weight[i, j - i]
        best = max(best, float(total.min()))
    return int(round(best))
