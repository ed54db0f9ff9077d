"""Exact optimum on chains: the interval DP of matrix-chain ordering, priced by the rule table.

On a chain ``v0 -> v1 -> … -> vn`` an elimination order is a bracketing of
``Jn ⋯ J1``. The kind of a sub-product does not depend on its bracketing (the
product rules are associative in kind, tested in ``tests/test_structure.py``),
so the DP over intervals is exact under every cost model. Chains priced by
macs whose factors are all dense (:func:`chain_optimum`), or all operators and
dense matrices, as under ``"matrix-free"`` (:func:`operator_chain_optimum`, the
GDJCPB rules), use a vectorised DP (all intervals of one length at once); other
chains (other structure kinds, or the bytes objective) a plain interval DP
priced by the rule table. They look at the budget once per interval length and
stop with :class:`OutOfTime` when it has run out (the caller then returns the
best heuristic order, not proven).
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import index as operator_index

import numpy as np

from ..errors import PlanError
from ..structure import DENSE, product_rule
from .problem import Problem
from .search import Budget, SearchRecord

__all__ = [
    "chain_optimum",
    "operator_chain_optimum",
    "chain_search",
    "chain_sequence",
    "OutOfTime",
]


class OutOfTime(Exception):
    """The budget ran out before the DP finished."""


def chain_optimum(dims: Sequence[int], budget: Budget | None = None) -> tuple[int, np.ndarray]:
    """Exact optimum of the dense chain ``J_n ⋯ J_1``, ``J_i`` of shape ``(dims[i], dims[i-1])``.

    Vectorised over all intervals of a length; each candidate is priced by the
    dense product rule. Returns the optimal macs and ``split`` where
    ``split[i, L]`` is the vertex index ``k`` (eliminate ``v_k`` last) of the
    best bracketing of factors ``J_{i+1} … J_{i+L+1}``.

    >>> chain_optimum([25, 20, 10, 5, 15, 35, 30])[0]  # CLRS 15.2, reversed
    15125
    """
    sizes = _chain_sizes(dims)
    p = np.asarray(sizes, dtype=object)
    n = len(p) - 1
    bound = n * max(sizes) ** 3  # Python ints: exact however large
    dtype = np.int64 if bound < 2**62 else object
    p = p.astype(dtype)
    macs = product_rule(DENSE, DENSE).macs
    by_start = np.zeros((n, n), dtype=dtype)  # by_start[i, L] = m[i, i+L]
    by_end = np.zeros((n, n), dtype=dtype)  # by_end[j, L] = m[j-L, j]
    split = np.zeros((n, n), dtype=np.int64)
    windows = np.lib.stride_tricks.sliding_window_view
    for length in range(1, n):
        if budget is not None and budget.expired():
            raise OutOfTime(f"time limit of {budget.time_limit} s")
        count = n - length
        left = by_start[:count, :length]
        right = by_end[length:n, length - 1 :: -1] if length > 1 else by_end[length:n, :1]
        middle = windows(p, length)[1 : count + 1]
        # J(s, v) J(v, p): (dims[end] x dims[k]) @ (dims[k] x dims[start])
        cost = macs((p[length + 1 : n + 1][:, None], middle), (middle, p[:count][:, None]))
        cost = cost + left
        cost += right
        best = np.argmin(cost, axis=1)
        value = cost[np.arange(count), best]
        by_start[:count, length] = value
        by_end[length:n, length] = value
        split[:count, length] = np.arange(count) + best + 1
    return int(by_start[0, n - 1]), split


def chain_sequence(split: np.ndarray, chain: list[str]) -> list[str]:
    """Post-order of the bracketing tree: each split vertex after both of its halves."""
    sequence: list[str] = []
    stack: list[tuple[int, int, bool]] = [(0, len(chain) - 2, False)]
    while stack:
        i, L, expanded = stack.pop()
        if L == 0:
            continue
        k = int(split[i, L])  # vertex v_k joins factors J_{i+1..k} and J_{k+1..i+L+1}
        if expanded:
            sequence.append(chain[k])
            continue
        stack.append((i, L, True))
        stack.append((k, i + L - k, False))
        stack.append((i, k - 1 - i, False))
    return sequence


def _interval_split(problem: Problem, budget: Budget) -> tuple[object, np.ndarray]:
    """The interval DP with every product priced by the problem's pricer, for any objective."""
    chain = problem.chain
    n = len(chain) - 1
    pricer = problem.pricer()
    kinds = {(t, h): k for t, h, k in problem.edges}
    kind = [[None] * n for _ in range(n)]
    cost = [[0] * n for _ in range(n)]
    split = np.zeros((n, n), dtype=np.int64)
    for i in range(n):
        kind[i][0] = kinds[chain[i], chain[i + 1]]
    for length in range(1, n):
        if budget.expired():
            raise OutOfTime(f"time limit of {budget.time_limit} s")
        for i in range(n - length):
            best = None
            start, end = chain[i], chain[i + length + 1]
            for k in range(i + 1, i + length + 1):
                lower, upper = kind[i][k - 1 - i], kind[k][i + length - k]
                price = pricer.product(upper, lower, start, chain[k], end)
                if budget.objective == "macs":
                    value = price.macs
                else:
                    value = (price.read + price.written) * pricer.itemsize(start, end)
                c = cost[i][k - 1 - i] + cost[k][i + length - k] + value
                if best is None or c < best:
                    best, split[i, length], kind[i][length] = c, k, price.result
            cost[i][length] = best
    return cost[0][n - 1], split


def chain_search(problem: Problem, budget: Budget) -> SearchRecord:
    """The proven optimum of a chain problem (:class:`OutOfTime` when the budget runs out)."""
    chain = problem.chain
    n = len(chain) - 1
    if n == 1:
        return SearchRecord("chain-dp", [], True, 0, budget.objective, {"intervals": 0})
    if budget.objective == "macs" and all(k == DENSE for _, _, k in problem.edges):
        best, split = chain_optimum([problem.sizes[v] for v in chain], budget)
    elif budget.objective == "macs" and (leaves := _operator_leaves(problem)) is not None:
        best, split = operator_chain_optimum([problem.sizes[v] for v in chain], leaves, budget)
    else:
        best, split = _interval_split(problem, budget)
    return SearchRecord(
        "chain-dp",
        chain_sequence(split, chain),
        proven=True,
        lower_bound=best,
        objective=budget.objective,
        tried={"intervals": n * (n - 1) // 2},
        seconds=budget.elapsed(),
    )


def operator_chain_optimum(
    dims: Sequence[int], edges: Sequence[int | None], budget: Budget | None = None
) -> tuple[int, np.ndarray]:
    """Exact GDJCPB optimum of ``J_n ⋯ J_1`` whose factors are operators or dense matrices.

    ``edges[i-1]`` is the cost per vector ``e`` of ``J_i`` (shape ``(dims[i], dims[i-1])``)
    when it is an ``operator[e]``, ``None`` when it is dense. A sub-product of one
    factor keeps that factor's kind; any longer one is dense (every product with an
    operator is). Vectorised over all intervals of a length, as :func:`chain_optimum`,
    with the prices of the operator rules of :mod:`analyzer.structure.operator`, for a
    product ``outer (m×k) · inner (k×n)``:

    - dense · dense: ``m k n`` (the dense rule);
    - operator leaf · dense: ``n e`` (tangents); dense · operator leaf: ``m e`` (adjoints);
    - operator · operator (two leaves): the cheaper of ``e_inner min(k, n) + e_outer n``
      (preaccumulate the inner one, then tangents) and ``e_outer min(m, k) + e_inner m``.

    A single operator factor (``n = 1``) costs 0 here: its final preaccumulation is a
    plan step of its own. Returns the optimal macs and ``split`` as :func:`chain_optimum`
    (ties broken towards the smallest split, as the rule-table DP does).

    >>> operator_chain_optimum([8, 7, 8, 5, 7], [44, 2, 18, 11])[0]  # the issue's example
    408
    >>> operator_chain_optimum([25, 20, 10, 5, 15, 35, 30], [None] * 6)[0]  # all dense
    15125
    """
    sizes = _chain_sizes(dims)
    leaves = _chain_edges(sizes, edges)
    p = np.asarray(sizes, dtype=object)
    n = len(p) - 1
    operator = np.array([e is not None for e in leaves], dtype=bool)
    e = np.asarray([0 if x is None else x for x in leaves], dtype=object)
    top = max(sizes)
    bound = 2 * n * max(top**3, max((x or 0 for x in leaves), default=0) * top * 2)
    dtype = np.int64 if bound < 2**62 else object
    p, e = p.astype(dtype), e.astype(dtype)
    macs = product_rule(DENSE, DENSE).macs
    by_start = np.zeros((n, n), dtype=dtype)  # by_start[i, L] = m[i, i+L]
    by_end = np.zeros((n, n), dtype=dtype)  # by_end[j, L] = m[j-L, j]
    split = np.zeros((n, n), dtype=np.int64)
    windows = np.lib.stride_tricks.sliding_window_view
    for length in range(1, n):
        if budget is not None and budget.expired():
            raise OutOfTime(f"time limit of {budget.time_limit} s")
        count = n - length
        rows, cols = p[length + 1 : n + 1], p[:count]  # m and n of each interval
        middle = windows(p, length)[1 : count + 1]  # k of each split
        step = macs((rows[:, None], middle), (middle, cols[:, None]))
        inner_op, inner_e = operator[:count], e[:count]  # leaf i: the inner factor of split 0
        outer_op, outer_e = operator[length:n], e[length:n]  # leaf i+L: outer of the last split
        if length == 1:
            k = middle[:, 0]
            both = np.minimum(
                inner_e * np.minimum(k, cols) + outer_e * cols,
                outer_e * np.minimum(rows, k) + inner_e * rows,
            )
            first = np.where(
                inner_op & outer_op,
                both,
                np.where(outer_op, cols * outer_e, np.where(inner_op, rows * inner_e, step[:, 0])),
            )
            step[:, 0] = first
        else:
            step[:, 0] = np.where(inner_op, rows * inner_e, step[:, 0])
            step[:, -1] = np.where(outer_op, cols * outer_e, step[:, -1])
        left = by_start[:count, :length]
        right = by_end[length:n, length - 1 :: -1] if length > 1 else by_end[length:n, :1]
        cost = step + left
        cost += right
        best = np.argmin(cost, axis=1)
        value = cost[np.arange(count), best]
        by_start[:count, length] = value
        by_end[length:n, length] = value
        split[:count, length] = np.arange(count) + best + 1
    return int(by_start[0, n - 1]), split


def _integer(value: object) -> int | None:
    """``value`` as a Python int when it is an integer (not a bool), else ``None``."""
    if isinstance(value, bool):
        return None
    try:
        return operator_index(value)
    except TypeError:
        return None


def _chain_sizes(dims: object) -> list[int]:
    """A chain's sizes as Python ints, each at least 1; a :class:`PlanError` otherwise."""
    if isinstance(dims, str | bytes) or not isinstance(dims, Sequence | np.ndarray):
        raise PlanError(f"dims is a list of a chain's sizes (integers >= 1), got {dims!r:.60}")
    sizes = []
    for i, d in enumerate(dims):
        size = _integer(d)
        if size is None or size < 1:
            raise PlanError(f"dims[{i}] is {d!r}; a chain's sizes are integers >= 1")
        sizes.append(size)
    if len(sizes) < 2:
        raise PlanError("a chain needs at least one factor: give at least two sizes")
    return sizes


def _chain_edges(sizes: list[int], edges: object) -> list[int | None]:
    """Each factor's ``e`` (``None``: dense), checked: one per factor, from 1 to m·n."""
    n = len(sizes) - 1
    if isinstance(edges, str | bytes) or not isinstance(edges, Sequence | np.ndarray):
        raise PlanError(
            f"edges is a list of one e per factor ({n}; None for a dense factor), got {edges!r:.60}"
        )
    if len(edges) != n:
        raise PlanError(f"an operator chain needs one e per factor: {n}, got {len(edges)}")
    leaves: list[int | None] = []
    for i, x in enumerate(edges):
        if x is None:
            leaves.append(None)
            continue
        rows, cols = sizes[i + 1], sizes[i]
        e = _integer(x)
        if e is None or not 1 <= e <= rows * cols:
            raise PlanError(
                f"edges[{i}] is {x!r}: factor J{i + 1} ({rows}×{cols}) needs an integer e "
                f"from 1 to m·n = {rows * cols} (or None when it is dense)"
            )
        leaves.append(e)
    return leaves


def _operator_leaves(problem: Problem) -> list[int | None] | None:
    """Each factor's ``e`` (``None`` when dense) when the chain's factors are all
    operators (integer ``e``) or dense and its sizes are numbers; else ``None``."""
    if any(not isinstance(problem.sizes[v], int) for v in problem.chain):
        return None
    kinds = {(t, h): k for t, h, k in problem.edges}
    leaves: list[int | None] = []
    for tail, head in zip(problem.chain, problem.chain[1:], strict=False):
        kind = kinds[tail, head]
        if kind == DENSE:
            leaves.append(None)
        elif kind.name == "operator" and kind.params and isinstance(kind.params[0], int):
            leaves.append(kind.params[0])
        else:
            return None
    return leaves
