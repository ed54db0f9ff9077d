"""Reductions that keep the optimum: free copies, independent parts, paths by an interval DP.

Each reduction below is exact (it never loses the optimum); a rule that only
tends to help belongs to :mod:`analyzer.planning.heuristics`.

**Free copies** (structured model; under the dense model no factor is an
identity). Let ``v`` have a single predecessor ``p`` through an identity
factor, and let ``v`` be ``p``'s only successor (say ``v = reshape(p)``, a copy
the numpy tracer makes), or the mirror case (a single successor ``s`` through
an identity, ``v`` the only predecessor of ``s``). Eliminating ``v`` first
costs nothing (identity products alias their operand: 0 macs, 0 bytes) and
merges nothing (``p`` has no other successor), and leaves the graph where
``p`` and ``v`` are one vertex (same size, same factor kinds). Any order of
the original graph maps to an order of that graph of equal cost: while ``p``
and ``v`` both remain, eliminating any other vertex makes the same products
with the same kinds and sizes; whichever of ``p``, ``v`` goes first costs 0 and
leaves exactly the fused vertex; the second is the fused vertex's
elimination. So eliminating ``v`` first keeps the optimum (for the bytes
objective when ``p`` and ``v`` have the same itemsize). Copies are removed
until none is left and shown as preparatory steps.

(Without the single-successor condition it is false: with ``p -> v -> s`` and
``p -> s`` all identities and ``s -> o`` dense, eliminating ``v`` first adds
``I + I = 2I``, a scalar factor, and ``s`` then costs macs, where eliminating
``s`` first costs none.)

**Independent parts** (``macs`` objective). Group the vertices to eliminate
into the connected parts of the graph they induce (two are joined when a
factor links them). Eliminating a vertex makes or changes factors only
between its neighbours, which are in its part or never eliminated, so a
vertex's factors, and so its price, only change by eliminations in its own
part. Factors between never-eliminated vertices are never multiplied (their
merges cost adds, not macs). The cost of any order is then the sum of the
costs of its restrictions to each part, and the optimum is the sum of the
parts' optima, planned apart.

**Paths** (``macs`` objective). When a part's vertices form a directed path
``c1 -> … -> cm`` (each has at most one predecessor and one successor in the
part; its other neighbours are never eliminated), the vertex ``ck``
eliminated last between two remaining path vertices ``ci`` and ``cj`` has
predecessors ``ci`` and the outside predecessors of ``c_{i+1} … ck``, and
successors ``cj`` and the outside successors of ``ck … c_{j-1}``, with
kinds that depend only on which path vertices between ``ci`` and ``cj`` were
eliminated. So the matrix-chain interval DP is exact: ``D(i, j) = min_k D(i, k)
+ D(k, j) + price(i, k, j)`` (``i = 0`` and ``j = m + 1`` stand for no path
vertex). An MLP's intermediates form such a path (each weight matrix is an
outside predecessor of its pre-activation), so MLPs of any depth are solved
in ``O(m³)``. Under the dense model the price is ``|ck|·A(i, k)·B(k, j)`` with
``A``, ``B`` the summed sizes above, one numpy pass per interval length.

**Operators that a merge would form** (``matrix-free``, or operator factors).
Both reductions above price products only and take merges to cost adds. A merge
onto an operator (or of an operator product) first forms its matrix at ``e·min(m,
n)`` macs (``Price.formed``), and whether and where that happens depends on the
order: with ``p -> a -> o``, ``p -> b -> o`` and ``p -> o`` the parts ``{a}`` and
``{b}`` each form ``J(o, p)`` when planned alone, but an order forms it once; on
a path, a product landing on an outside operator factor forms it or not
depending on which path vertex goes first. So :func:`merges_may_form` checks
whether any merge can happen where an operator is present: a merge onto ``p ->
s`` happens in some order exactly when two paths from ``p`` to ``s`` have only
vertices to eliminate inside (the direct factor counts as one), since the factor
``p -> s`` at any time is the sum over the paths whose inside is eliminated.
When it can, :func:`~analyzer.planning.optimal.optimal` skips both reductions and
hands the whole graph to the subset DP or the branch and bound, whose prices
(:meth:`~analyzer.planning.costs.Pricer.elimination`) count every merge's
``formed`` macs, so the optimum stays proven. (Pricing the formed macs inside the
reductions would not do: which merge pays depends on other parts and on the
order inside the interval.) When no merge can happen, no matrix is formed during
elimination, the operators left at the end are the same for every order, and both
reductions are exact as above; an MLP, a path, keeps its interval DP.

Examples
--------
>>> from analyzer.models import mlp
>>> from analyzer.planning.problem import Problem
>>> problem = Problem.of(mlp([3, 4, 5, 2]))
>>> parts(problem.state(), problem.intermediates)
[['u1', 'a1', 'u2', 'a2']]
>>> as_path(problem.state(), ['u1', 'a1', 'u2', 'a2'])
['u1', 'a1', 'u2', 'a2']
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from ..elimination import State, eliminate
from ..structure import DENSE, product_rule, sum_rule
from .costs import Pricer
from .search import Budget

__all__ = [
    "free_copies",
    "parts",
    "as_path",
    "path_optimum",
    "merges_may_form",
    "MAX_STRUCTURED_PATH_WORK",
]

#: Most priced pairs the structured path DP may take (past it the part goes to the search).
MAX_STRUCTURED_PATH_WORK = 3_000_000


def _identity(kind: Any) -> bool:
    return str(kind) == "identity"


def free_copies(
    state: State,
    pricer: Pricer,
    eliminable: Sequence[Hashable],
    objective: str = "macs",
    itemsizes: dict | None = None,
) -> list[Hashable]:
    """Eliminate (in place) every free copy of the module docstring; return them in order."""
    itemsizes = itemsizes or {}
    pred, succ = state.pred, state.succ
    done: list[Hashable] = []
    alive = [v for v in eliminable if v in pred]

    def same_bytes(a: Hashable, b: Hashable) -> bool:
        return objective == "macs" or itemsizes.get(a, 8) == itemsizes.get(b, 8)

    changed = True
    while changed:
        changed = False
        for v in alive:
            if v not in pred:
                continue
            free = False
            if len(pred[v]) == 1:
                ((p, kind),) = pred[v].items()
                free = _identity(kind) and len(succ[p]) == 1 and same_bytes(p, v)
            if not free and len(succ[v]) == 1:
                ((s, kind),) = succ[v].items()
                free = _identity(kind) and len(pred[s]) == 1 and same_bytes(s, v)
            if free:
                eliminate(state, v, pricer.multiply_kinds, pricer.add_kinds)
                done.append(v)
                changed = True
        alive = [v for v in alive if v in pred]
    return done


def parts(state: State, eliminable: Sequence[Hashable]) -> list[list[Hashable]]:
    """The connected parts of the vertices to eliminate, each in the given order."""
    members = set(eliminable)
    parent = {v: v for v in eliminable}

    def root(v: Hashable) -> Hashable:
        while parent[v] != v:
            parent[v] = parent[parent[v]]
            v = parent[v]
        return v

    for v in eliminable:
        for s in state.succ[v]:
            if s in members:
                a, b = root(v), root(s)
                if a != b:
                    parent[b] = a
    grouped: dict[Hashable, list] = {}
    for v in eliminable:
        grouped.setdefault(root(v), []).append(v)
    return list(grouped.values())


def merges_may_form(state: State, pricer: Pricer, eliminable: Sequence[Hashable]) -> bool:
    """Whether some order merges where an operator is (see the module docstring).

    False when no factor is an operator, or when no two paths between the same
    two vertices have only vertices of ``eliminable`` inside (then no order ever
    merges). Sizes must be numbers.
    """
    sizes = pricer.sizes
    if not any(
        kind.densify_macs((sizes[s], sizes[p])) != 0
        for p, heads in state.succ.items()
        for s, kind in heads.items()
    ):
        return False
    inside = set(eliminable)
    sources = {p for v in inside for p in state.pred[v]}
    for p in sources:
        paths: dict[Hashable, int] = {}  # paths from p, at most 2 counted
        seen = {p}
        order: list[Hashable] = []
        stack = [(p, iter(state.succ[p]))]
        while stack:  # vertices reached through eliminable vertices, in DFS post-order
            v, heads = stack[-1]
            nxt = next((s for s in heads if s not in seen), None)
            if nxt is None:
                order.append(v)
                stack.pop()
                continue
            seen.add(nxt)
            stack.append((nxt, iter(state.succ[nxt]) if nxt in inside else iter(())))
        paths[p] = 1
        for v in reversed(order):  # topological order of the reached vertices
            if v != p and v not in inside:
                continue
            for s in state.succ[v]:
                paths[s] = paths.get(s, 0) + paths.get(v, 0)
                if paths[s] >= 2:
                    return True
    return False


def as_path(state: State, part: Sequence[Hashable]) -> list[Hashable] | None:
    """The part's vertices in path order when they form a directed path, else ``None``."""
    members = set(part)
    nexts, prevs = {}, {}
    for v in part:
        inside = [s for s in state.succ[v] if s in members]
        before = [p for p in state.pred[v] if p in members]
        if len(inside) > 1 or len(before) > 1:
            return None
        if inside:
            nexts[v] = inside[0]
        if before:
            prevs[v] = before[0]
    starts = [v for v in part if v not in prevs]
    if len(starts) != 1:
        return None
    path = [starts[0]]
    while path[-1] in nexts:
        path.append(nexts[path[-1]])
    return path if len(path) == len(part) else None


def _sequence(split: dict, lo: int, hi: int, path: Sequence[Hashable]) -> list[Hashable]:
    """Post-order of the DP's splits between path positions ``lo`` and ``hi`` (exclusive)."""
    out: list[Hashable] = []
    stack = [(lo, hi, False)]
    while stack:
        i, j, ready = stack.pop()
        if j - i < 2:
            continue
        k = split[i, j]
        if ready:
            out.append(path[k - 1])
            continue
        stack += [(i, j, True), (k, j, False), (i, k, False)]
    return out


def _dense_tables(state: State, sizes: dict, path: Sequence[Hashable], members: set):
    m = len(path)
    size = [0] + [sizes[v] for v in path] + [0]
    ins = [[x for x in state.pred[v] if x not in members] for v in path]
    outs = [[x for x in state.succ[v] if x not in members] for v in path]
    A = [[0] * (m + 2) for _ in range(m + 2)]  # A[i][k]: preds of ck with ci left
    B = [[0] * (m + 2) for _ in range(m + 2)]  # B[k][j]: succs of ck with cj left
    for k in range(1, m + 1):
        seen: set = set()
        total = 0
        for i in range(k - 1, -1, -1):
            for x in ins[i]:  # outside predecessors of c_{i+1}
                if x not in seen:
                    seen.add(x)
                    total += sizes[x]
            A[i][k] = size[i] + total
        seen, total = set(), 0
        for j in range(k + 1, m + 2):
            for x in outs[j - 2]:  # outside successors of c_{j-1}
                if x not in seen:
                    seen.add(x)
                    total += sizes[x]
            B[k][j] = size[j] + total
    return size, A, B


def _dense_path(state: State, sizes: dict, path: Sequence[Hashable], members: set):
    m = len(path)
    size, A, B = _dense_tables(state, sizes, path, members)
    top = max(max(size), max(max(r) for r in A), max(max(r) for r in B), 1)
    dtype = np.int64 if float(m + 2) * float(top) ** 3 < 2.0**62 else object
    s = np.array(size, dtype=dtype)
    A, B = np.array(A, dtype=dtype), np.array(B, dtype=dtype)
    n = m + 2
    D = np.zeros((n, n), dtype=dtype)
    split: dict = {}
    macs = product_rule(DENSE, DENSE).macs
    for length in range(2, n):
        i = np.arange(n - length)
        j = i + length
        d = np.arange(1, length)
        K = i[:, None] + d[None, :]
        cost = D[i[:, None], K] + D[K, j[:, None]]
        cost = cost + macs((B[K, j[:, None]], s[K]), (s[K], A[i[:, None], K]))
        best = np.argmin(cost, axis=1)
        D[i, j] = cost[np.arange(len(i)), best]
        for a, b in zip(i.tolist(), best.tolist(), strict=True):
            split[a, a + length] = a + 1 + b
    return int(D[0, n - 1]), split


def _kind_tables(state: State, path: Sequence[Hashable], members: set):
    """Kinds of ``ck``'s factors in from the left and out to the right, per interval end."""
    m = len(path)
    into: dict[tuple[int, int], dict] = {}
    out: dict[tuple[int, int], dict] = {}
    for k in range(1, m + 1):
        current = dict(state.pred[path[k - 1]])
        into[k - 1, k] = dict(current)
        for i in range(k - 2, -1, -1):  # c_{i+1} is eliminated as well
            gone = path[i]
            link = current.pop(gone)
            for q, kind in state.pred[gone].items():
                product = product_rule(link, kind).result
                current[q] = product if q not in current else sum_rule(current[q], product).result
            into[i, k] = dict(current)
        current = dict(state.succ[path[k - 1]])
        out[k, k + 1] = dict(current)
        for j in range(k + 2, m + 2):  # c_{j-1} is eliminated as well
            gone = path[j - 2]
            link = current.pop(gone)
            for q, kind in state.succ[gone].items():
                product = product_rule(kind, link).result
                current[q] = product if q not in current else sum_rule(current[q], product).result
            out[k, j] = dict(current)
    return into, out


def _structured_path(state: State, pricer: Pricer, path: Sequence[Hashable], budget: Budget):
    m = len(path)
    into, out = _kind_tables(state, path, set(path))
    work = sum(len(into[i, k]) for i, k in into) * (m + 2)
    if work > MAX_STRUCTURED_PATH_WORK:
        return None
    price: dict[tuple[int, int, int], Any] = {}
    n = m + 2
    D: dict[tuple[int, int], Any] = {(i, i + 1): 0 for i in range(n - 1)}
    split: dict = {}
    for length in range(2, n):
        if budget.expired():
            return None
        for i in range(n - length):
            j = i + length
            best = None
            for k in range(i + 1, j):
                key = (i, k, j)
                if key not in price:
                    v = path[k - 1]
                    total = 0
                    for p, inner in into[i, k].items():
                        for s, outer in out[k, j].items():
                            total += pricer.product(outer, inner, p, v, s).macs
                    price[key] = total
                c = D[i, k] + D[k, j] + price[key]
                if best is None or c < best:
                    best, split[i, j] = c, k
            D[i, j] = best
    return D[0, n - 1], split


def path_optimum(
    state: State, pricer: Pricer, path: Sequence[Hashable], budget: Budget
) -> tuple[Any, list[Hashable]] | None:
    """The optimal macs and order of a path part (see the module docstring).

    ``None`` when the budget ran out or the structured DP would take too long.
    """
    if not path:
        return 0, []
    if not pricer.model.keeps_structure:
        best, split = _dense_path(state, pricer.sizes, path, set(path))
    else:
        found = _structured_path(state, pricer, path, budget)
        if found is None:
            return None
        best, split = found
    return best, _sequence(split, 0, len(path) + 1, path)
