"""Plan: an elimination order with its exact costs, step by step, and how it reads.

:func:`build_plan` runs the eliminations on structure kinds and shapes (no
numbers) through the problem's :class:`~analyzer.planning.costs.Pricer`, one
record per product. Macs, adds, elements and bytes are exact Python integers
(or sympy polynomials when sizes are symbols), never fixed-width integers.

The products are kept as a shared expression (each product points at its two
operands), so a plan of a graph where paths merge stays small; it is written
out as a bracketing only when that text stays short (chains and small trees),
otherwise the plan shows its elimination order and per-step products.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import sympy

from ..elimination import eliminate
from ..errors import PlanError
from ..structure import DENSE, product_rule
from ..symbolic import as_expression, leading_term
from .memory import human_bytes, live_profile
from .problem import Problem, symbols_note
from .search import SearchRecord

__all__ = [
    "Plan",
    "build_plan",
    "bracketing_of",
    "exact_total",
    "summary",
    "largest",
    "STEP_COLUMNS",
    "MAX_BRACKETING",
]

#: Columns of ``Plan.steps``.
STEP_COLUMNS = [
    "step", "eliminate", "product", "shapes", "structures", "mode", "result", "macs", "adds",
    "elements", "bytes", "bytes_written", "cumulative_macs", "live_elements",
]  # fmt: skip
_EXACT_COLUMNS = (
    "macs", "adds", "elements", "bytes", "bytes_written", "cumulative_macs", "live_elements",
)  # fmt: skip
#: A bracketing longer than this is not written out (unless the expression is a tree).
MAX_BRACKETING = 20_000


def exact_total(values: Sequence[Any]) -> Any:
    """The exact sum: a Python int for integers, an expanded sympy polynomial otherwise.

    >>> exact_total([2**62, 2**62, 2**62])
    13835058055282163712
    """
    if all(isinstance(v, int | np.integer) for v in values):
        return sum(int(v) for v in values)
    return sympy.expand(sympy.Add(*[sympy.sympify(v) for v in values]))


class _Factor(NamedTuple):
    kind: str
    shape: tuple
    itemsize: int
    expr: tuple  # ("leaf", label) | ("·", outer, inner) | ("+", existing, product)


_RECORD_COLUMNS = STEP_COLUMNS[1 : STEP_COLUMNS.index("cumulative_macs")]


def _simulate(problem: Problem, sequence: Sequence[str]):
    """Step columns (one entry per product) and the factors left, from kinds and shapes only."""
    sizes, pricer = problem.sizes, problem.pricer()
    columns: dict[str, list] = {name: [] for name in _RECORD_COLUMNS}
    (
        eliminated, products, shapes, structures, modes, results, macs, adds, elements, moved,
        written,
    ) = (columns[name] for name in _RECORD_COLUMNS)  # fmt: skip

    def multiply(outer: _Factor, inner: _Factor, p, v, s) -> _Factor:
        price = pricer.product(outer.kind, inner.kind, p, v, s)
        itemsize = pricer.itemsize(p, s)
        shape = (sizes[s], sizes[p])
        (m, k), n = outer.shape, inner.shape[1]
        eliminated.append(v)
        products.append(f"J({s},{v})·J({v},{p})")
        shapes.append(f"({m}×{k})·({k}×{n})")
        structures.append(f"{outer.kind}·{inner.kind}")
        modes.append(product_rule(outer.kind, inner.kind).mode(outer.shape, inner.shape))
        results.append(price.result)
        macs.append(price.macs)
        adds.append(0)
        elements.append(price.result.stored(shape))
        moved.append((price.read + price.written) * itemsize)
        written.append(price.written * itemsize)
        return _Factor(price.result, shape, itemsize, ("·", outer.expr, inner.expr))

    def add(existing: _Factor, product: _Factor, p, s) -> _Factor:
        price = pricer.merge(existing.kind, product.kind, p, s)
        adds[-1] = price.macs
        macs[-1] += price.formed
        results[-1] = price.result
        products[-1] += f" + J({s},{p})"
        elements[-1] = price.result.stored(existing.shape)
        moved[-1] += (price.read + price.written) * existing.itemsize
        written[-1] += price.written * existing.itemsize
        return _Factor(
            price.result, existing.shape, existing.itemsize, ("+", existing.expr, product.expr)
        )

    state = problem.state(
        lambda t, h, k: _Factor(
            k, (sizes[h], sizes[t]), pricer.itemsize(t, h), ("leaf", problem.labels[t, h])
        )
    )
    for v in sequence:
        eliminate(state, v, multiply, add)
    final = state.factors()
    for (t, h), factor in final.items():  # an operator left at the end is preaccumulated
        formed = factor.kind.densify_macs(factor.shape)
        if formed == 0:
            continue
        size = factor.shape[0] * factor.shape[1]
        eliminated.append("")
        products.append(f"preaccumulate J({h},{t})")
        shapes.append(f"({factor.shape[0]}×{factor.shape[1]})")
        structures.append(str(factor.kind))
        modes.append("preaccumulate")
        results.append(DENSE)
        macs.append(formed)
        adds.append(0)
        elements.append(size)
        moved.append((factor.kind.stored(factor.shape) + size) * factor.itemsize)
        written.append(size * factor.itemsize)
        final[t, h] = factor._replace(kind=DENSE)
    return columns, final


def summary(problem: Problem, sequence: Sequence[str]) -> tuple[Any, Any, str]:
    """Macs, largest intermediate and bracketing of an order, without a step table.

    What :func:`~analyzer.planning.api.all_orders` lists for each order: the
    same simulation as :func:`build_plan` (merges that form an operator's
    matrix and the final preaccumulations included), so the two always agree.
    """
    columns, final = _simulate(problem, sequence)
    macs = columns["macs"]
    total = exact_total(macs) if macs else 0
    return total, largest(columns["elements"]), bracketing_of(problem, final)


def _measure(roots: list[tuple], limit: int) -> tuple[int, bool]:
    """Characters of the expressions written out, and whether they form a tree.

    Walks the expressions as :func:`_write` would; stops as soon as the count
    passes ``limit`` once a shared sub-expression has been seen (a text that
    long is not written), so it takes time linear in what it counts.
    """
    seen: set[int] = set()
    tree, total = True, 0
    stack = list(roots)
    while stack:
        expr = stack.pop()
        key = id(expr)
        if key in seen:
            tree = False
        else:
            seen.add(key)
        if expr[0] == "leaf":
            total += len(expr[1])
        else:
            total += 3
            stack.append(expr[2])
            stack.append(expr[1])
        if not tree and total > limit:
            break
    return total, tree


def bracketing_of(problem: Problem, final: dict) -> str:
    """The bracketing of the factors ``final`` left (see :attr:`Plan.bracketing`)."""
    if problem.chain is not None:
        roots = [("", f.expr) for f in final.values()]
    else:
        roots = [
            (f"∂{out}/∂{par} = ", final[par, out].expr)
            for out in problem.outputs
            for par in problem.parameters
            if (par, out) in final
        ]
    prefix = sum(len(p) for p, _ in roots)
    total, tree = _measure([expr for _, expr in roots], max(0, MAX_BRACKETING - prefix))
    total += prefix
    if total > MAX_BRACKETING and not tree:
        return (
            f"(not written out: over {MAX_BRACKETING} characters where paths merge; "
            f"see the elimination order and steps)"
        )
    return "; ".join(prefix + _write(expr) for prefix, expr in roots)


def _write(expr: tuple) -> str:
    """``("·", a, b)`` as ``(a b)`` and ``("+", a, b)`` as ``[a + b]``, without recursion."""
    out: list[str] = []
    stack: list[Any] = [expr]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
        elif item[0] == "leaf":
            out.append(item[1])
        elif item[0] == "·":
            stack.extend([")", item[2], " ", item[1], "("])
        else:
            stack.extend(["]", item[2], " + ", item[1], "["])
    return "".join(out)


# ----------------------------------------------------------------------------- Plan
@dataclass
class Plan:
    """A vertex-elimination order with its exact cost.

    Attributes
    ----------
    graph, order, cost : the graph, the order's registered name and the cost model's name.
    sequence : the intermediate variables in elimination order.
    steps : DataFrame, one row per product: step, eliminate, product, shapes,
        structures, result, macs, adds, elements, bytes (operands read and results
        written, by each variable's dtype), bytes_written (results only),
        cumulative_macs, live_elements (the largest total of live factor elements
        during the step, see :mod:`analyzer.planning.memory`). Counts are exact
        Python integers.
    formula : total macs as a sympy expression (an Integer for numeric sizes).
    bracketing : the products as nested brackets, e.g. ``(J3 (J2 J1))``, when short
        enough to read; otherwise a note pointing at ``steps``.
    largest_intermediate : elements of the largest product or sum formed.
    peak_elements, peak_bytes : the largest total of live factor elements (and their
        bytes, by each variable's dtype) at any operation of the plan, under the memory
        model of :mod:`analyzer.planning.memory`: an int, or a sympy expression (a
        ``Max`` of polynomials where none bounds the others) when sizes are symbols.
    peak_formula : ``peak_elements`` as a sympy expression (an int for numeric sizes).
    problem : the planned problem (graph as it was, cost model, factor kinds).
    search : the :class:`~analyzer.planning.search.SearchRecord` of the strategy: what
        it tried (``search.tried``: nodes, pruned, ...), how long (``search.seconds``).
    proven_optimal, lower_bound, gap : whether the order is proven optimal, a cost no
        order can beat, and ``cost / lower_bound - 1`` (see the properties).
    """

    graph: Any
    order: str
    cost: str
    sequence: tuple[str, ...]
    steps: pd.DataFrame
    formula: Any
    adds_formula: Any
    largest_intermediate: Any
    problem: Problem = field(repr=False)
    search: SearchRecord = field(repr=False)
    final: dict = field(repr=False, default_factory=dict)
    peak_elements: Any = 0
    peak_bytes: Any = 0

    @property
    def peak_formula(self) -> Any:
        """Peak live elements: an int for numeric sizes, a sympy expression in the size symbols.

        >>> from analyzer.models import one_layer
        >>> from analyzer.planning import plan
        >>> plan(one_layer("H", "N"), "output-first").peak_formula
        H**2*N + H*N + 2*H
        """
        peak = self.peak_elements
        return int(peak) if isinstance(peak, int | np.integer) else sympy.sympify(peak)

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
        """Bytes moved: operands read and results written, by each variable's dtype."""
        return exact_total(list(self.steps["bytes"])) if len(self.steps) else 0

    @property
    def factor_elements(self) -> Any:
        """Elements the graph's factors store under the plan's cost model (before any product)."""
        sizes = self.problem.sizes
        return exact_total(
            [k.stored((sizes[h], sizes[t])) for t, h, k in self.problem.edges] or [0]
        )

    @property
    def proven_optimal(self) -> bool:
        """True when the strategy proved that no order costs less."""
        return bool(self.search.proven)

    @property
    def lower_bound(self) -> Any:
        """A cost no order can beat, in the search's objective (``None`` when unknown).

        Equals the plan's cost when it is proven optimal; heuristic and end
        orders carry the cheap bound of :func:`~analyzer.planning.bounds.root_bound`.
        """
        return self.search.lower_bound

    @property
    def objective_value(self) -> Any:
        """The plan's cost in the search's objective: :attr:`macs` or :attr:`bytes`."""
        return self.bytes if self.search.objective == "bytes" else self.macs

    @property
    def gap(self) -> float | None:
        """How far from optimal the plan may be: ``cost / lower_bound - 1`` (``None``: no bound).

        0 when proven optimal; ``inf`` when the bound is 0 and the cost is not.

        >>> from analyzer.models import mlp
        >>> from analyzer.planning import plan
        >>> plan(mlp([4, 9, 3]), "optimal").gap
        0.0
        """
        bound = self.lower_bound
        if bound is None or self.symbolic:
            return None
        value = self.objective_value
        if bound == 0:
            return 0.0 if value == 0 else float("inf")
        return float(value / bound - 1) if value != bound else 0.0

    @property
    def bracketing(self) -> str:
        """The products as nested brackets when short enough to read (see the module docstring)."""
        return bracketing_of(self.problem, self.final)

    def evaluate(self, **sizes: int) -> int:
        """Total macs with the size symbols replaced by numbers.

        >>> from analyzer.models import one_layer
        >>> from analyzer.planning import plan
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
        shown = ", ".join(f"{k}={v}" for k, v in sizes.items()) if isinstance(sizes, dict) else ""
        name = self.graph.graph.get("name", "graph")
        return f"{name} ({shown})" if shown else name

    def _certificate(self) -> str:
        search = self.search
        unit = search.objective
        tried = search.tried
        work = ", ".join(
            f"{tried[k]} {k}" for k in ("nodes", "pruned", "states", "intervals") if k in tried
        )
        work = f"; {work}" if work else ""
        if "memory_limit" in tried:  # see analyzer.planning.limited
            work += f"; within the memory limit of {tried['memory_limit']} bytes: {tried['method']}"
        if search.proven:
            return f"proven optimal ({unit}; {search.seconds:.3g} s{work})"
        if search.lower_bound is None:
            return "no optimality claim"
        gap = self.gap
        shown = "" if gap is None else f", gap at most {gap:.2%}"
        why = f"stopped: {tried['stopped']}" if "stopped" in tried else f"{self.order}"
        why += work if "memory_limit" in tried else ""
        return (
            f"not proven optimal ({why}); no order costs less than "
            f"{search.lower_bound} {unit}{shown}"
        )

    def __str__(self) -> str:
        macs = self.formula
        shown = list(self.sequence[:50]) + (["…"] if len(self.sequence) > 50 else [])
        bracketing = self.bracketing
        if len(bracketing) > 2000:
            bracketing = bracketing[:2000] + " …"
        lines = [
            f"Plan for {self._title()}: order {self.order}, cost model {self.cost}",
            f"  eliminations:         {', '.join(shown) or '(none)'}",
            f"  bracketing:           {bracketing}",
            f"  macs:                 {macs}"
            + (f"   (leading term {self.leading_term})" if self.symbolic else ""),
            f"  adds:                 {self.adds_formula}",
            f"  largest intermediate: {self.largest_intermediate} elements",
            f"  peak memory:          {self.peak_elements} elements live"
            + (f" ({human_bytes(self.peak_bytes)})" if isinstance(self.peak_bytes, int) else ""),
            f"  search:               {self._certificate()}",
        ]
        if self.search.preparatory:
            free = self.search.preparatory
            lines.insert(
                2,
                f"  preparatory:          {', '.join(map(str, free[:20]))}"
                + (" …" if len(free) > 20 else "")
                + " (free copies, eliminated first at no cost)",
            )
        if len(self.steps):
            columns = ["step", "eliminate", "product", "shapes", "structures", "macs"]
            if (self.steps["mode"] != "product").any():
                columns.insert(5, "mode")
            table = self.steps[columns + ["cumulative_macs"]]
            if len(table) > 60:
                lines += ["", table.head(30).to_string(index=False)]
                lines += [
                    f"  … {len(table) - 40} more steps …",
                    table.tail(10).to_string(index=False, header=False),
                ]
            else:
                lines += ["", table.to_string(index=False)]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Plan {self.order} {self.cost}: {self.formula} macs>"


def largest(elements: Sequence[Any]) -> Any:
    """The largest element count: an int for numbers; for symbols, the distinct ones in a Max.

    Never compares polynomials pairwise (quadratic, and slow in sympy): the
    distinct values are kept in one ``Max`` built without evaluation when
    there are many. Give it numbers all at once with ``xreplace`` (``subs``
    replaces one symbol at a time and compares the terms at each step).

    >>> largest([3, 12, 5]), largest([])
    (12, 0)
    """
    if not elements:
        return 0
    if all(isinstance(e, int | np.integer) for e in elements):
        return int(max(elements))
    distinct = list(dict.fromkeys(sympy.sympify(e) for e in elements))
    numbers = [e for e in distinct if e.is_number]
    symbolic = [e for e in distinct if not e.is_number]
    if numbers:
        symbolic.append(max(numbers))
    if len(symbolic) == 1:
        return symbolic[0]
    if len(symbolic) <= 4:
        return sympy.Max(*symbolic)
    return sympy.Max(*symbolic, evaluate=False)


def _running(values: list) -> list:
    if all(isinstance(v, int | np.integer) for v in values):
        return [int(v) for v in itertools.accumulate(int(v) for v in values)]
    out, running = [], sympy.Integer(0)
    for v in values:
        running = sympy.Add(running, sympy.expand(sympy.sympify(v)))
        out.append(running)
    return out


def _refuse_min(problem: Problem, steps: pd.DataFrame) -> None:
    """A :class:`PlanError` when a step's macs hold a ``min`` of symbols (matrix-free: an
    operator's preaccumulation ``e·min(m, n)``), which is no polynomial in the sizes."""
    if not problem.symbolic:
        return
    for row in steps.itertuples():
        if isinstance(row.macs, sympy.Basic) and row.macs.has(sympy.Min, sympy.Max):
            raise PlanError(
                f"step {row.step} ({row.product}) costs {row.macs}, which depends "
                f"on which size is smaller, and a plan's cost is a polynomial in the sizes; "
                f"give numbers ({symbols_note(problem)})"
            )


def build_plan(problem: Problem, order: str, search: SearchRecord) -> Plan:
    """The plan of ``search.sequence`` on ``problem``, with its step table and totals."""
    sequence = list(search.sequence)
    columns, final = _simulate(problem, sequence)
    table: dict[str, Any] = {"step": range(1, len(columns["macs"]) + 1)}
    for name in _RECORD_COLUMNS:
        values = columns[name]
        table[name] = pd.Series(values, dtype=object) if name in _EXACT_COLUMNS else values
    macs = columns["macs"]
    table["cumulative_macs"] = pd.Series(_running(macs), dtype=object)
    _refuse_min(problem, pd.DataFrame(table))
    memory = live_profile(problem, sequence)
    table["live_elements"] = pd.Series(memory.steps_elements, dtype=object)
    steps = pd.DataFrame(table, columns=STEP_COLUMNS)
    forming = [m for m, mode in zip(macs, columns["mode"], strict=True) if mode == "preaccumulate"]
    if forming and search.lower_bound is not None and search.objective == "macs":
        # operators left at the end are the same for every order: their forming adds to any bound
        search.lower_bound = exact_total([search.lower_bound, *forming])
    return Plan(
        graph=problem.graph,
        order=order,
        cost=problem.cost.name,
        sequence=tuple(sequence),
        steps=steps,
        formula=sympy.sympify(exact_total(macs)) if macs else sympy.Integer(0),
        adds_formula=sympy.sympify(exact_total(columns["adds"])) if macs else sympy.Integer(0),
        largest_intermediate=largest(columns["elements"]),
        problem=problem,
        search=search,
        final=final,
        peak_elements=memory.peak_elements,
        peak_bytes=memory.peak_bytes,
    )
