"""Elimination orders and their exact multiply-add counts: input-first, output-first, optimal.

A plan is a sequence of vertex eliminations over the intermediate variables of
a :class:`~analyzer.graph.JacobianGraph`. Each elimination multiplies factors,
priced by :func:`analyzer.structure.product_rule` under a cost model:
``"dense"`` treats every factor as a full matrix (as the sheet's Q8 does),
``"structured"`` prices each product by its structure kinds.

Orders are strategies registered by name in :data:`ORDERS` (aliases in
:data:`ALIASES`); ``"optimal"`` is exact: an interval DP on chains, a DP over
subsets of eliminated vertices on other graphs.

Examples
--------
>>> from analyzer.models import one_layer
>>> g = one_layer(10, 5)
>>> plan(g, "input-first").macs, plan(g, "output-first").macs
(5560, 620)
>>> plan(one_layer("H", "N"), "backprop").formula
H**2*N + H**2 + 2*H
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import networkx as nx
import numpy as np
import pandas as pd
import sympy

from .elimination import State, eliminate, final_factors, initial_state
from .errors import PlanError
from .graph import JacobianGraph
from .structure import product_rule, stored_size, sum_rule
from .symbolic import as_expression, leading_term

__all__ = [
    "ORDERS",
    "ALIASES",
    "COST_MODELS",
    "MAX_EXACT_INTERMEDIATES",
    "Problem",
    "Plan",
    "plan",
    "compare",
    "all_orders",
    "canonical_order",
    "check_cost",
    "chain_optimum",
    "from_sequence",
    "Table",
]

COST_MODELS = ("dense", "structured")
ALIASES = {
    "forward": "input-first",
    "tangent": "input-first",
    "reverse": "output-first",
    "adjoint": "output-first",
    "backprop": "output-first",
}
#: Largest number of intermediate variables the exact subset DP accepts.
MAX_EXACT_INTERMEDIATES = 20


def canonical_order(order: str) -> str:
    """The registered name of an order or alias; a clear error for anything else.

    >>> canonical_order("backprop")
    'output-first'
    """
    if isinstance(order, str) and order in ORDERS:
        return order
    if isinstance(order, str) and order in ALIASES:
        return ALIASES[order]
    names = ", ".join(list(ORDERS) + list(ALIASES))
    raise PlanError(f"unknown order {order!r}; valid orders: {names}")


def check_cost(cost: str) -> str:
    """``cost`` if it names a cost model, else a clear error."""
    if cost not in COST_MODELS:
        raise PlanError(f"unknown cost model {cost!r}; valid cost models: {', '.join(COST_MODELS)}")
    return cost


# ----------------------------------------------------------------------------- problem
@dataclass
class Problem:
    """What a planner needs of a graph: the differentiated vertices, sizes and factor kinds."""

    graph: JacobianGraph
    cost: str
    nodes: list[str]
    intermediates: list[str]
    edges: list[tuple[str, str, str]]
    labels: dict[tuple[str, str], str]
    chain: list[str] | None = None
    sizes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, graph: JacobianGraph, cost: str = "dense") -> Problem:
        check_cost(cost)
        if not isinstance(graph, JacobianGraph):
            raise PlanError(f"expected a JacobianGraph, got {type(graph).__name__}")
        graph.validate()
        sub = graph.differentiated()
        position = {n: i for i, n in enumerate(graph.nodes)}
        nodes = list(nx.lexicographical_topological_sort(sub, key=position.get))
        intermediates = [n for n in nodes if graph.nodes[n]["role"] == "intermediate"]
        edges, labels = [], {}
        for tail, head in sub.edges:
            data = graph.edges[tail, head]
            kind = "dense" if cost == "dense" else data["structure"]
            edges.append((tail, head, kind))
            labels[tail, head] = data.get("label") or f"J({head},{tail})"
        edges.sort(key=lambda e: (position[e[0]], position[e[1]]))
        chain = None
        if (
            len(graph.parameters) == 1
            and len(graph.outputs) == 1
            and all(sub.in_degree(n) <= 1 and sub.out_degree(n) <= 1 for n in nodes)
            and len(edges) == len(nodes) - 1
        ):
            chain = nodes
        sizes = {n: graph.nodes[n]["size"] for n in nodes}
        return cls(graph, cost, nodes, intermediates, edges, labels, chain, sizes)

    @property
    def symbolic(self) -> bool:
        return any(not isinstance(s, int) for s in self.sizes.values())

    def state(self, payload: Callable[[str, str, str], Any]) -> State:
        return initial_state(self.nodes, [(t, h, payload(t, h, k)) for t, h, k in self.edges])


class _Factor(NamedTuple):
    kind: str
    shape: tuple
    expr: str
    atomic: bool


# ----------------------------------------------------------------------------- simulate
def _simulate(problem: Problem, sequence: Sequence[str]) -> tuple[list[dict], State]:
    """Run the eliminations on structure kinds and shapes; one record per product."""
    sizes = problem.sizes
    records: list[dict] = []

    def multiply(outer: _Factor, inner: _Factor, p, v, s) -> _Factor:
        rule = product_rule(outer.kind, inner.kind)
        shape = (sizes[s], sizes[p])
        macs = rule.macs(outer.shape, inner.shape)
        result = _Factor(rule.result, shape, f"({outer.expr} {inner.expr})", False)
        records.append(
            {
                "eliminate": v,
                "product": f"J({s},{v})·J({v},{p})",
                "shapes": f"({_dim(outer.shape)})·({_dim(inner.shape)})",
                "structures": f"{outer.kind}·{inner.kind}",
                "result": rule.result,
                "macs": macs,
                "adds": 0,
                "elements": stored_size(rule.result, shape),
                "words": stored_size(outer.kind, outer.shape)
                + stored_size(inner.kind, inner.shape)
                + stored_size(rule.result, shape),
                "written": stored_size(rule.result, shape),
            }
        )
        return result

    def add(existing: _Factor, product: _Factor, p, s) -> _Factor:
        rule = sum_rule(existing.kind, product.kind)
        record = records[-1]
        record["adds"] = rule.adds(existing.shape)
        record["result"] = rule.result
        record["product"] += f" + J({s},{p})"
        record["elements"] = stored_size(rule.result, existing.shape)
        record["words"] += stored_size(existing.kind, existing.shape) + stored_size(
            rule.result, existing.shape
        )
        record["written"] += stored_size(rule.result, existing.shape)
        return _Factor(rule.result, existing.shape, f"[{existing.expr} + {product.expr}]", False)

    state = problem.state(
        lambda t, h, k: _Factor(k, (sizes[h], sizes[t]), problem.labels[t, h], True)
    )
    for v in sequence:
        state = eliminate(state, v, multiply, add)
    return records, state


def _dim(shape: tuple) -> str:
    return "×".join(str(d) for d in shape)


def _total(values: Sequence[Any]) -> Any:
    if all(isinstance(v, int | np.integer) for v in values):
        return int(sum(int(v) for v in values))
    return sympy.expand(sympy.Add(*[sympy.sympify(v) for v in values]))


# ----------------------------------------------------------------------------- Plan
@dataclass
class Plan:
    """A vertex-elimination order with its exact cost.

    Attributes
    ----------
    graph, order, cost : the graph, the order's registered name and the cost model.
    sequence : the intermediate variables in elimination order.
    steps : DataFrame, one row per product: step, eliminate, product, shapes,
        structures, result, macs, adds, elements, bytes (operands read and results
        written, 8 per float64), bytes_written (results only), cumulative_macs.
    formula : total macs as a sympy expression (an Integer for numeric sizes).
    bracketing : the products as nested brackets, e.g. ``(J3 (J2 J1))``.
    largest_intermediate : elements of the largest product or sum formed.
    """

    graph: JacobianGraph
    order: str
    cost: str
    sequence: tuple[str, ...]
    steps: pd.DataFrame
    formula: Any
    adds_formula: Any
    bracketing: str
    largest_intermediate: Any

    @property
    def symbolic(self) -> bool:
        return bool(sympy.sympify(self.formula).free_symbols)

    @property
    def macs(self) -> int:
        """Total multiply-adds (an int); sizes must be numbers."""
        if self.symbolic:
            raise PlanError(
                f"sizes are symbols; use .formula ({self.formula}) or .evaluate(H=..., ...)"
            )
        return int(self.formula)

    @property
    def adds(self) -> int:
        """Additions that merge two paths (counted apart from macs)."""
        if sympy.sympify(self.adds_formula).free_symbols:
            raise PlanError("sizes are symbols; use .adds_formula")
        return int(self.adds_formula)

    @property
    def leading_term(self) -> sympy.Expr:
        """Highest-degree terms of :attr:`formula`, e.g. ``H**3*N``."""
        return leading_term(self.formula)

    @property
    def bytes(self) -> Any:
        """Estimated bytes moved: operands read and results written, 8 bytes per float64."""
        return _total(list(self.steps["bytes"])) if len(self.steps) else 0

    def evaluate(self, **sizes: int) -> int:
        """Total macs with the size symbols replaced by numbers.

        >>> from analyzer.models import one_layer
        >>> plan(one_layer("H", "N"), "input-first").evaluate(H=10, N=5)
        5560
        """
        expr = as_expression(self.formula)
        by_name = {str(s): s for s in self.graph.symbols()}
        by_name.update({str(s): s for s in expr.free_symbols})
        for name, value in sizes.items():
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise PlanError(f"size {name}={value!r} must be a positive integer")
        unknown = sorted(set(sizes) - set(by_name))
        missing = sorted({str(s) for s in expr.free_symbols} - set(sizes))
        if unknown or missing:
            raise PlanError(
                f"sizes to substitute: {', '.join(sorted(by_name)) or 'none'}; "
                f"got {', '.join(sorted(sizes)) or 'none'}"
            )
        return int(expr.subs({by_name[k]: v for k, v in sizes.items()}))

    def _title(self) -> str:
        sizes = self.graph.graph.get("sizes")
        shown = ", ".join(f"{k}={v}" for k, v in sizes.items()) if sizes else ""
        name = self.graph.graph.get("name", "graph")
        return f"{name} ({shown})" if shown else name

    def __str__(self) -> str:
        macs = self.formula
        lines = [
            f"Plan for {self._title()}: order {self.order}, cost model {self.cost}",
            f"  eliminations:         {', '.join(self.sequence) or '(none)'}",
            f"  bracketing:           {self.bracketing}",
            f"  macs:                 {macs}"
            + (f"   (leading term {self.leading_term})" if self.symbolic else ""),
            f"  adds:                 {self.adds_formula}",
            f"  largest intermediate: {self.largest_intermediate} elements",
        ]
        if len(self.steps):
            table = self.steps[
                ["step", "eliminate", "product", "shapes", "structures", "macs", "cumulative_macs"]
            ]
            lines += ["", table.to_string(index=False)]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Plan {self.order} {self.cost}: {self.formula} macs>"


def _bracketing(problem: Problem, state: State) -> str:
    final = final_factors(state)
    graph = problem.graph
    if problem.chain is not None:
        (factor,) = final.values()
        return factor.expr
    parts = []
    for out in graph.outputs:
        for par in graph.parameters:
            if (par, out) in final:
                parts.append(f"∂{out}/∂{par} = {final[par, out].expr}")
    return "; ".join(parts)


def _build_plan(problem: Problem, order: str, sequence: Sequence[str]) -> Plan:
    records, state = _simulate(problem, sequence)
    columns = ["step", "eliminate", "product", "shapes", "structures", "result", "macs", "adds"]
    steps = pd.DataFrame(records, columns=columns[1:] + ["elements", "words", "written"])
    steps.insert(0, "step", range(1, len(steps) + 1))
    macs = list(steps["macs"])
    steps["bytes"] = [8 * w for w in steps["words"]]
    steps["bytes_written"] = [8 * w for w in steps["written"]]
    steps = steps.drop(columns=["words", "written"])
    running, cumulative = 0, []
    for m in macs:
        running = _total([running, m])
        cumulative.append(running)
    steps["cumulative_macs"] = cumulative
    elements = list(steps["elements"])
    if elements and all(isinstance(e, int | np.integer) for e in elements):
        largest = int(max(elements))
    elif elements:
        largest = sympy.Max(*[sympy.sympify(e) for e in elements])
    else:
        largest = 0
    return Plan(
        graph=problem.graph,
        order=order,
        cost=problem.cost,
        sequence=tuple(sequence),
        steps=steps,
        formula=sympy.sympify(_total(macs)) if macs else sympy.Integer(0),
        adds_formula=sympy.sympify(_total(list(steps["adds"]))) if macs else sympy.Integer(0),
        bracketing=_bracketing(problem, state),
        largest_intermediate=largest,
    )


# ----------------------------------------------------------------------------- strategies
def _input_first(problem: Problem) -> list[str]:
    return list(problem.intermediates)


def _output_first(problem: Problem) -> list[str]:
    return list(reversed(problem.intermediates))


def chain_optimum(dims: Sequence[int]) -> tuple[int, np.ndarray]:
    """Exact optimum of the dense chain ``J_n ⋯ J_1``, ``J_i`` of shape ``(dims[i], dims[i-1])``.

    The interval DP of matrix-chain ordering, vectorised over all intervals of a
    length. Returns the optimal macs and ``split`` where ``split[i, L]`` is the
    vertex index ``k`` (eliminate ``v_k`` last) of the best bracketing of factors
    ``J_{i+1} … J_{i+L+1}``.

    >>> chain_optimum([25, 20, 10, 5, 15, 35, 30])[0]  # CLRS 15.2, reversed
    15125
    """
    p = np.asarray(dims)
    n = len(p) - 1
    if n < 1:
        raise PlanError("a chain needs at least one factor")
    bound = float(n) * float(p.max()) ** 3
    dtype = np.int64 if bound < 2.0**62 else object
    p = p.astype(dtype)
    by_start = np.zeros((n, n), dtype=dtype)  # by_start[i, L] = m[i, i+L]
    by_end = np.zeros((n, n), dtype=dtype)  # by_end[j, L] = m[j-L, j]
    split = np.zeros((n, n), dtype=np.int64)
    windows = np.lib.stride_tricks.sliding_window_view
    for length in range(1, n):
        count = n - length
        left = by_start[:count, :length]
        right = by_end[length:n, length - 1 :: -1] if length > 1 else by_end[length:n, :1]
        middle = windows(p, length)[1 : count + 1]
        cost = (p[:count] * p[length + 1 : n + 1])[:, None] * middle
        cost += left
        cost += right
        best = np.argmin(cost, axis=1)
        value = cost[np.arange(count), best]
        by_start[:count, length] = value
        by_end[length:n, length] = value
        split[:count, length] = np.arange(count) + best + 1
    return int(by_start[0, n - 1]), split


def _chain_sequence(split: np.ndarray, n: int, chain: list[str]) -> list[str]:
    """Post-order of the bracketing tree: each split vertex after both of its halves."""
    sequence: list[str] = []
    stack: list[tuple[int, int, bool]] = [(0, n - 1, False)]
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


def _chain_structured_split(problem: Problem) -> np.ndarray:
    """Interval DP pricing products by structure kinds (kinds of a sub-product do not depend
    on its bracketing, so the DP stays exact)."""
    chain = problem.chain
    n = len(chain) - 1
    dims = [problem.sizes[v] for v in chain]
    kinds = {(t, h): k for t, h, k in problem.edges}
    kind = [[None] * n for _ in range(n)]
    cost = [[0] * n for _ in range(n)]
    split = np.zeros((n, n), dtype=np.int64)
    for i in range(n):
        kind[i][0] = kinds[chain[i], chain[i + 1]]
    for length in range(1, n):
        for i in range(n - length):
            best = None
            for k in range(i + 1, i + length + 1):
                lower, upper = kind[i][k - 1 - i], kind[k][i + length - k]
                rule = product_rule(upper, lower)
                c = (
                    cost[i][k - 1 - i]
                    + cost[k][i + length - k]
                    + rule.macs((dims[i + length + 1], dims[k]), (dims[k], dims[i]))
                )
                if best is None or c < best:
                    best, split[i, length], kind[i][length] = c, k, rule.result
            cost[i][length] = best
    return split


def _subset_dp(problem: Problem) -> list[str]:
    """Exact optimum over all elimination orders: DP over the set of eliminated vertices.

    The graph left after eliminating a set does not depend on the order, so the
    cheapest way to reach each set extends a cheapest way to reach a smaller one.
    """
    names = problem.intermediates
    n = len(names)
    if n > MAX_EXACT_INTERMEDIATES:
        raise PlanError(
            f"the exact optimum needs a DP over 2^{n} subsets of the {n} intermediate "
            f"variables; at most {MAX_EXACT_INTERMEDIATES} are supported. "
            "Use order='input-first' or 'output-first', or a smaller graph"
        )
    sizes = problem.sizes
    price_cache: dict = {}

    def price(outer: str, inner: str, s, v, p) -> int:
        key = (outer, inner, sizes[s], sizes[v], sizes[p])
        if key not in price_cache:
            rule = product_rule(outer, inner)
            price_cache[key] = (rule.macs((sizes[s], sizes[v]), (sizes[v], sizes[p])), rule.result)
        return price_cache[key]

    def multiply(outer, inner, p, v, s):
        return price(outer, inner, s, v, p)[1]

    def add(existing, product, p, s):
        return sum_rule(existing, product).result

    def elimination_cost(state: State, v: str) -> int:
        pred, succ = state
        total = 0
        for p, inner in pred[v].items():
            for s, outer in succ[v].items():
                total += price(outer, inner, s, v, p)[0]
        return total

    layer: dict[int, tuple[int, State]] = {0: (0, problem.state(lambda t, h, k: k))}
    parent: dict[int, tuple[int, int]] = {}
    for _ in range(n):
        best: dict[int, tuple[int, int, int]] = {}
        for mask, (cost, state) in layer.items():
            for i in range(n):
                if mask >> i & 1:
                    continue
                candidate = cost + elimination_cost(state, names[i])
                target = mask | (1 << i)
                if target not in best or candidate < best[target][0]:
                    best[target] = (candidate, mask, i)
        next_layer = {}
        for target, (cost, mask, i) in best.items():
            parent[target] = (mask, i)
            next_layer[target] = (cost, eliminate(layer[mask][1], names[i], multiply, add))
        layer = next_layer
    sequence, mask = [], (1 << n) - 1
    while mask:
        mask, i = parent[mask]
        sequence.append(names[i])
    return sequence[::-1]


def _optimal(problem: Problem) -> list[str]:
    if problem.symbolic:
        raise PlanError(
            "the optimal order depends on the sizes; give numbers "
            "(input-first and output-first accept symbols)"
        )
    if problem.chain is not None:
        n = len(problem.chain) - 1
        if all(k == "dense" for _, _, k in problem.edges):
            _, split = chain_optimum([problem.sizes[v] for v in problem.chain])
        else:
            split = _chain_structured_split(problem)
        return _chain_sequence(split, n, problem.chain)
    return _subset_dp(problem)


#: Orders by name: each maps a :class:`Problem` to an elimination sequence.
ORDERS: dict[str, Callable[[Problem], list[str]]] = {
    "input-first": _input_first,
    "output-first": _output_first,
    "optimal": _optimal,
}


# ----------------------------------------------------------------------------- API
def plan(graph: JacobianGraph, order: str = "optimal", cost: str = "dense") -> Plan:
    """Plan the Jacobian of ``graph``'s outputs with respect to its parameters.

    Parameters
    ----------
    graph : JacobianGraph
    order : {"optimal", "input-first", "output-first"} or an alias
        ("forward", "tangent", "reverse", "adjoint", "backprop").
    cost : {"dense", "structured"}

    >>> from analyzer.models import chain
    >>> p = plan(chain([25, 20, 10, 5, 15, 35, 30]))
    >>> p.macs, p.bracketing
    (15125, '((J6 (J5 J4)) ((J3 J2) J1))')
    """
    name = canonical_order(order)
    problem = Problem.of(graph, cost)
    return _build_plan(problem, name, ORDERS[name](problem))


def from_sequence(
    graph: JacobianGraph, sequence: Sequence[str], cost: str = "dense", order: str = "custom"
) -> Plan:
    """The plan that eliminates the intermediate variables in the given sequence.

    Useful to price, with symbolic sizes, an order found at numeric sizes.

    >>> from analyzer.models import one_layer
    >>> from_sequence(one_layer("H", "N"), ["y", "z", "u"]).formula
    H**2*N + H**2 + 2*H
    """
    problem = Problem.of(graph, cost)
    sequence = list(sequence)
    if sorted(sequence) != sorted(problem.intermediates):
        raise PlanError(
            f"a sequence must eliminate each intermediate variable once: "
            f"{', '.join(problem.intermediates)}; got {', '.join(map(str, sequence))}"
        )
    return _build_plan(problem, order, sequence)


def compare(
    graph: JacobianGraph, cost: str = "dense", orders: Sequence[str] | None = None
) -> pd.DataFrame:
    """One row per order: order, macs, vs_best, largest_intermediate, cost, bracketing.

    ``vs_best`` is macs over the cheapest order's macs. With symbolic sizes the
    optimal order is left out (it depends on the sizes), ``macs`` holds the exact
    polynomial and ``leading_term`` replaces ``vs_best``.

    >>> from analyzer.models import one_layer
    >>> compare(one_layer(10, 5))[["order", "macs", "vs_best"]]
              order  macs  vs_best
    0   input-first  5560     8.97
    1  output-first   620     1.00
    2       optimal   620     1.00
    """
    check_cost(cost)
    if not isinstance(graph, JacobianGraph):
        raise PlanError(f"expected a JacobianGraph, got {type(graph).__name__}")
    symbolic = graph.is_symbolic
    if isinstance(orders, str):
        orders = [orders]
    if orders is None:
        orders = ["input-first", "output-first"] + ([] if symbolic else ["optimal"])
    plans = [plan(graph, o, cost) for o in orders]
    rows = [
        {
            "order": p.order,
            "macs": p.formula if symbolic else p.macs,
            "vs_best": None,
            "largest_intermediate": p.largest_intermediate,
            "leading_term": p.leading_term,
            "cost": p.cost,
            "bracketing": p.bracketing,
        }
        for p in plans
    ]
    table = Table(rows)
    if symbolic:
        return table.drop(columns="vs_best")
    best = min(table["macs"])
    table["vs_best"] = [
        round(m / best, 2) if best else (1.0 if m == 0 else float("inf")) for m in table["macs"]
    ]
    return table.drop(columns="leading_term")


class Table(pd.DataFrame):
    """A DataFrame that prints every column in full (comparisons are read, not scrolled)."""

    @property
    def _constructor(self):
        return Table

    def __repr__(self) -> str:
        return self.to_string()


def _catalan(n: int) -> int:
    return math.comb(2 * n, n) // (n + 1)


def _bracketings(lo: int, hi: int) -> list[list[int]]:
    """Every elimination sequence (post-order) of a bracketing of vertices lo..hi (inclusive)."""
    if lo > hi:
        return [[]]
    found = []
    for k in range(lo, hi + 1):  # vertex k eliminated last
        for left in _bracketings(lo, k - 1):
            for right in _bracketings(k + 1, hi):
                found.append(left + right + [k])
    return found


def all_orders(graph: JacobianGraph, cost: str = "dense", limit: int = 10_000) -> pd.DataFrame:
    """Every distinct bracketing (chains) or elimination order (other graphs), with its macs.

    Rows are sorted by macs (cheapest first). Raises :class:`PlanError` when the
    number of orders exceeds ``limit``.

    >>> from analyzer.models import chain
    >>> all_orders(chain([30, 35, 15, 5]))[["bracketing", "macs"]]
        bracketing   macs
    0  ((J3 J2) J1)   7875
    1  (J3 (J2 J1))  18000
    """
    if isinstance(limit, bool) or not isinstance(limit, int | np.integer) or limit < 1:
        raise PlanError(f"limit must be a positive integer, got {limit!r}")
    problem = Problem.of(graph, cost)
    if problem.chain is not None:
        count = _catalan(len(problem.intermediates))
        kind = "bracketings"
    else:
        count = math.factorial(len(problem.intermediates))
        kind = "elimination orders"
    if count > limit:
        raise PlanError(
            f"{count} {kind} exceed the limit of {limit}; raise limit= or plan 'optimal'"
        )
    if problem.chain is not None:
        inner = problem.chain[1:-1]
        sequences = [[inner[k] for k in seq] for seq in _bracketings(0, len(inner) - 1)]
    else:
        sequences = [list(s) for s in itertools.permutations(problem.intermediates)]
    rows = []
    for sequence in sequences:
        p = _build_plan(problem, "enumerated", sequence)
        rows.append(
            {
                "sequence": ", ".join(sequence),
                "bracketing": p.bracketing,
                "macs": p.formula if problem.symbolic else p.macs,
                "largest_intermediate": p.largest_intermediate,
            }
        )
    table = pd.DataFrame(rows)
    if not problem.symbolic:
        table = table.sort_values("macs", kind="stable").reset_index(drop=True)
    return table
