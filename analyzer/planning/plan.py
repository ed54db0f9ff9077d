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
from .problem import Problem
from .search import SearchRecord

__all__ = ["Plan", "build_plan", "exact_total", "STEP_COLUMNS", "MAX_BRACKETING"]

#: Columns of ``Plan.steps``.
STEP_COLUMNS = [
    "step", "eliminate", "product", "shapes", "structures", "mode", "result", "macs", "adds",
    "elements", "bytes", "bytes_written", "cumulative_macs",
]  # fmt: skip
_EXACT_COLUMNS = ("macs", "adds", "elements", "bytes", "bytes_written", "cumulative_macs")
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


def _dims(shape: tuple) -> str:
    return "×".join(str(d) for d in shape)


def _simulate(problem: Problem, sequence: Sequence[str]):
    sizes, pricer = problem.sizes, problem.pricer()
    records: list[dict] = []

    def multiply(outer: _Factor, inner: _Factor, p, v, s) -> _Factor:
        price = pricer.product(outer.kind, inner.kind, p, v, s)
        itemsize = pricer.itemsize(p, s)
        shape = (sizes[s], sizes[p])
        records.append(
            {
                "eliminate": v,
                "product": f"J({s},{v})·J({v},{p})",
                "shapes": f"({_dims(outer.shape)})·({_dims(inner.shape)})",
                "structures": f"{outer.kind}·{inner.kind}",
                "mode": product_rule(outer.kind, inner.kind).mode(outer.shape, inner.shape),
                "result": price.result,
                "macs": price.macs,
                "adds": 0,
                "elements": price.result.stored(shape),
                "bytes": (price.read + price.written) * itemsize,
                "bytes_written": price.written * itemsize,
            }
        )
        return _Factor(price.result, shape, itemsize, ("·", outer.expr, inner.expr))

    def add(existing: _Factor, product: _Factor, p, s) -> _Factor:
        price = pricer.merge(existing.kind, product.kind, p, s)
        record = records[-1]
        record["adds"] = price.macs
        record["macs"] += price.formed
        record["result"] = price.result
        record["product"] += f" + J({s},{p})"
        record["elements"] = price.result.stored(existing.shape)
        record["bytes"] += (price.read + price.written) * existing.itemsize
        record["bytes_written"] += price.written * existing.itemsize
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
        elements = factor.shape[0] * factor.shape[1]
        records.append(
            {
                "eliminate": "",
                "product": f"preaccumulate J({h},{t})",
                "shapes": f"({_dims(factor.shape)})",
                "structures": str(factor.kind),
                "mode": "preaccumulate",
                "result": DENSE,
                "macs": formed,
                "adds": 0,
                "elements": elements,
                "bytes": (factor.kind.stored(factor.shape) + elements) * factor.itemsize,
                "bytes_written": elements * factor.itemsize,
            }
        )
        final[t, h] = factor._replace(kind=DENSE)
    return records, final


def _rendered_lengths(roots: list[tuple]) -> tuple[dict[int, int], bool]:
    """Length of each sub-expression written out, and whether the expressions form a tree."""
    length: dict[int, int] = {}
    seen: set[int] = set()
    tree = True
    stack = [(r, False) for r in roots]
    while stack:
        expr, ready = stack.pop()
        key = id(expr)
        if expr[0] == "leaf":
            tree &= key not in seen
            seen.add(key)
            length[key] = len(expr[1])
            continue
        if not ready:
            if key in seen:
                tree = False
                continue
            seen.add(key)
            stack.append((expr, True))
            stack.extend((child, False) for child in expr[1:])
            continue
        length[key] = sum(length[id(child)] for child in expr[1:]) + 3
    return length, tree


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
        cumulative_macs. Counts are exact Python integers.
    formula : total macs as a sympy expression (an Integer for numeric sizes).
    bracketing : the products as nested brackets, e.g. ``(J3 (J2 J1))``, when short
        enough to read; otherwise a note pointing at ``steps``.
    largest_intermediate : elements of the largest product or sum formed.
    problem : the planned problem (graph as it was, cost model, factor kinds).
    search : the :class:`~analyzer.planning.search.SearchRecord` of the strategy.
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
        """A cost no order can beat (``None`` when the strategy proves none)."""
        return self.search.lower_bound

    @property
    def bracketing(self) -> str:
        """The products as nested brackets when short enough to read (see the module docstring)."""
        problem = self.problem
        if problem.chain is not None:
            roots = [("", f.expr) for f in self.final.values()]
        else:
            roots = [
                (f"∂{out}/∂{par} = ", self.final[par, out].expr)
                for out in problem.outputs
                for par in problem.parameters
                if (par, out) in self.final
            ]
        lengths, tree = _rendered_lengths([expr for _, expr in roots])
        total = sum(lengths[id(expr)] + len(prefix) for prefix, expr in roots)
        if total > MAX_BRACKETING and not tree:
            return (
                f"(not written out: {total} characters where paths merge; "
                f"see the elimination order and steps)"
            )
        return "; ".join(prefix + _write(expr) for prefix, expr in roots)

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
        if search.proven:
            return f"proven optimal ({search.objective}; {search.seconds:.3g} s)"
        if search.lower_bound is not None:
            return f"not proven optimal; no order costs less than {search.lower_bound}"
        return "no optimality claim"

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
            f"  search:               {self._certificate()}",
        ]
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


def build_plan(problem: Problem, order: str, search: SearchRecord) -> Plan:
    """The plan of ``search.sequence`` on ``problem``, with its step table and totals."""
    sequence = list(search.sequence)
    records, final = _simulate(problem, sequence)
    steps = pd.DataFrame(records, columns=STEP_COLUMNS[1:-1])
    steps.insert(0, "step", range(1, len(steps) + 1))
    running, cumulative = 0, []
    for m in steps["macs"]:
        running = exact_total([running, m])
        cumulative.append(running)
    steps["cumulative_macs"] = cumulative
    for column in _EXACT_COLUMNS:
        steps[column] = pd.Series(list(steps[column]), dtype=object, index=steps.index)
    elements = list(steps["elements"])
    if elements and all(isinstance(e, int | np.integer) for e in elements):
        largest = int(max(elements))
    elif elements:
        largest = sympy.Max(*[sympy.sympify(e) for e in elements])
    else:
        largest = 0
    macs = list(steps["macs"])
    return Plan(
        graph=problem.graph,
        order=order,
        cost=problem.cost.name,
        sequence=tuple(sequence),
        steps=steps,
        formula=sympy.sympify(exact_total(macs)) if macs else sympy.Integer(0),
        adds_formula=sympy.sympify(exact_total(list(steps["adds"]))) if macs else sympy.Integer(0),
        largest_intermediate=largest,
        problem=problem,
        search=search,
        final=final,
    )
