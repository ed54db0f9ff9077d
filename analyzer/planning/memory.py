"""Peak memory of an elimination order: which factors are live at each operation, and their total.

The model
---------
A plan runs as a list of *operations*: for each eliminated vertex, in the order
:func:`~analyzer.elimination.eliminate` visits them, its products
``J(s,v)·J(v,p)`` and, where a factor ``p -> s`` already exists, the merge
``existing + product`` (a merge belongs to the step row of the product before
it); then the final preaccumulations (an operator left at the end is formed as
a dense matrix). Every *object* is a leaf factor of the graph or the result of
an operation. Its size is the elements the cost model stores for its kind and
shape (``kind.stored(shape)``: a diagonal stores n numbers, a row-block
``I_H ⊗ xᵀ`` stores HN, a dense factor m·n; every factor is dense under the
``dense`` cost model); its bytes are its size times the itemsize the pricer
gives (8 for float64).

A matrix-free operator (``operator[e]``, under the ``matrix-free`` cost model or
given by the graph) holds 0 elements (:func:`held_elements`). It is code that
applies a map to vectors: a JAX ``jvp`` closure, a fixed matrix of the graph's,
or a sparse matrix's ``e`` nonzeros. Whatever numbers realise it are made by its
factor callable before the run and are held before and after it, like the
graph's inputs; the run never copies them. ``e`` is a cost per vector, not a
storage: a closure with a large ``e`` may hold nothing. So the peak is what the
run itself allocates. An operator's products are dense and counted, and so is
the dense matrix that preaccumulates it. ``Plan.factor_elements`` still reports
``kind.stored`` (the ``e`` entries a sparse realisation would hold). The traced
run of :func:`analyzer.executor.execute` follows the same rule: it does not copy
an operator.

- A leaf factor is *born* at the first operation that reads it. A leaf that no
  operation reads (it goes straight into the Jacobian) is not part of the run
  and is not counted.
- A result is born at its operation.
- An object *dies* right after the last operation that reads it; a factor of the
  final Jacobian never dies (an operator that is preaccumulated at the end dies
  after its preaccumulation: the dense matrix replaces it).
- ``live(op)`` is the total size of the objects born at or before ``op`` and not
  dead before it: the operands, the result and everything else held.
- A step row's ``live_elements`` is the largest ``live`` of its operations (its
  product and its merge, if any); the plan's ``peak_elements`` is the largest over
  all operations (0 when there is none), ``peak_bytes`` the same in bytes.

Between two eliminations the live objects are exactly the non-leaf factors of
the elimination state: a leaf ``J(v,p)`` is read only while eliminating ``v`` or
``p`` (whichever comes first) and dies there, and a product is merged in the same
elimination or becomes a factor read by one later elimination. An elimination
forms its products in the graph's order of variables (the problem's ``rank``), not
in the order earlier eliminations added factors, so the live totals while
eliminating ``v`` after the set ``S`` depend on ``(S, v)`` only, whatever order
eliminated ``S``: a search over subsets prices memory exactly.
One leaf type (:class:`Held`), one start state (:func:`held_state`) and one set of
elimination callbacks (:func:`held_callbacks`) serve both users of the model:
:func:`live_profile` replays a whole sequence with births and deaths, per
operation; :func:`transition` gives the live totals of one elimination from the
state alone, as the searches of :mod:`~analyzer.planning.memsearch` walk them
(the tests check the two against each other and against a replay of their own).

The sheet's network, output-first under the dense model (``one_layer(H, N)``,
eliminations z, y, u; leaves ``J(z,w)``: H, ``J(z,y)``: H, ``J(out,z)``: 1,
``J(y,u)``: H², ``J(u,W)``: H²N)::

    op  product                 live objects                                  live
    1   J(out,z)·J(z,w) -> H    J(out,z), J(z,w), result                      2H + 1
    2   J(out,z)·J(z,y) -> H    J(out,z), J(out,w), J(z,y), result            3H + 1
    3   J(out,y)·J(y,u) -> H    J(out,w), J(out,y), J(y,u), result            H² + 3H
    4   J(out,u)·J(u,W) -> HN   J(out,w), J(out,u), J(u,W), result            H²N + HN + 2H

so the peak is ``H²N + HN + 2H`` elements (the other rows never exceed it for
sizes ≥ 1):

>>> from analyzer.models import one_layer
>>> from analyzer.planning import Problem
>>> profile = live_profile(Problem.of(one_layer("H", "N")), ["z", "y", "u"])
>>> profile.steps_elements
[2*H + 1, 3*H + 1, H**2 + 3*H, H**2*N + H*N + 2*H]
>>> profile.peak_elements
H**2*N + H*N + 2*H
>>> live_profile(Problem.of(one_layer(10, 5)), ["z", "y", "u"]).peak_bytes
4560
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import sympy

from ..elimination import State, eliminate
from .costs import Pricer
from .problem import Problem

__all__ = [
    "Held",
    "MemoryProfile",
    "live_profile",
    "held_state",
    "held_callbacks",
    "Transition",
    "visit_order",
    "transition",
    "peak_of",
    "held_elements",
    "human_bytes",
    "OPERATION_COLUMNS",
]

#: Columns of :meth:`MemoryProfile.table` (one row per operation).
OPERATION_COLUMNS = [
    "operation", "step", "kind", "eliminate", "edge", "elements", "live_elements", "live_bytes",
]  # fmt: skip


class Held(NamedTuple):
    """A factor as the memory model sees it: its kind, stored elements and bytes, and whether
    it is a leaf of the graph (born when first read) or the result of an operation."""

    kind: Any
    elements: Any
    bytes: Any
    leaf: bool


def _dominated(small: dict, big: dict) -> bool:
    """True when ``big >= small`` for every value ≥ 1 of the (positive integer) size symbols.

    ``small`` and ``big`` are polynomials as ``{((symbol index, exponent), ...): coefficient}``.
    A sufficient test: the difference has no negative coefficient, or, with every
    symbol written ``1 + t`` (t ≥ 0), it has none. Never claims a dominance that
    does not hold.
    """
    difference = dict(big)
    for monomial, c in small.items():
        difference[monomial] = difference.get(monomial, 0) - c
    if all(c >= 0 for c in difference.values()):
        return True
    shifted: dict[tuple, int] = {}
    for monomial, c in difference.items():  # c·Π(t_i + 1)^e_i, by the binomial theorem
        if c == 0:
            continue
        for ks in itertools.product(*(range(e + 1) for _, e in monomial)):
            weight = c
            for (_, e), k in zip(monomial, ks, strict=True):
                weight *= math.comb(e, k)
            key = tuple((i, k) for (i, _), k in zip(monomial, ks, strict=True) if k)
            shifted[key] = shifted.get(key, 0) + weight
    return all(c >= 0 for c in shifted.values())


class _Sparse(dict):
    """A polynomial in size symbols as ``{((symbol index, exponent), ...): int coefficient}``.

    Sums of these are dictionary merges: much faster than sympy's expressions (or its
    dense multivariate Polys) for the running live totals of a long symbolic plan.
    """

    gens: tuple = ()

    @classmethod
    def of(cls, value: Any, gens: tuple) -> _Sparse:
        poly = sympy.Poly(value, *gens)
        out = cls(
            (tuple((i, e) for i, e in enumerate(exponents) if e), int(c))
            for exponents, c in poly.as_dict().items()
            if c
        )
        out.gens = gens
        return out

    def plus(self, other: _Sparse, sign: int = 1) -> _Sparse:
        out = _Sparse(self)
        out.gens = self.gens or other.gens
        for monomial, c in other.items():
            total = out.get(monomial, 0) + sign * c
            if total:
                out[monomial] = total
            else:
                out.pop(monomial, None)
        return out

    def key(self) -> frozenset:
        return frozenset(self.items())

    def expr(self) -> sympy.Expr:
        gens = self.gens
        return sympy.Add(*[c * sympy.Mul(*[gens[i] ** e for i, e in m]) for m, c in self.items()])


#: Beyond this many distinct symbolic values, :func:`peak_of` keeps them all in one Max.
MAX_PRUNED = 2000


def _sample_points(count: int) -> list[list[int]]:
    """Sizes to screen dominance with: all 1, all 2, all 1000, each symbol alone at 1000
    (the others 1), and a few seeded draws."""
    rng = np.random.default_rng(0)
    points = [[v] * count for v in (1, 2, 1000)]
    points += [[1000 if j == i else 1 for j in range(count)] for i in range(count)]
    points += [[int(v) for v in rng.integers(1, 60, count)] for _ in range(4)]
    return points


def _value(terms: dict, point: list[int]) -> int:
    return sum(c * math.prod(point[i] ** e for i, e in m) for m, c in terms.items())


def _peak_of_sparse(polys: list[_Sparse]) -> Any:
    """The largest of polynomials (in the same symbols), as :func:`peak_of` describes."""
    distinct = list({p.key(): p for p in polys}.values())
    if len(distinct) == 1:
        return distinct[0].expr()
    if len(distinct) > MAX_PRUNED:
        return sympy.Max(*[p.expr() for p in distinct], evaluate=False)
    points = _sample_points(len(distinct[0].gens))
    values = [tuple(_value(t, point) for point in points) for t in distinct]

    def below(i: int, j: int) -> bool:  # distinct[i] <= distinct[j] everywhere?
        if any(a > b for a, b in zip(values[i], values[j], strict=True)):
            return False  # a counterexample: not dominated
        return _dominated(distinct[i], distinct[j])

    ranked = sorted(range(len(distinct)), key=lambda i: values[i][2], reverse=True)
    kept: list[int] = []
    for i in ranked:
        if any(below(i, j) for j in kept):
            continue
        kept = [j for j in kept if not below(j, i)]
        kept.append(i)
    exprs = [distinct[i].expr() for i in kept]
    if len(exprs) == 1:
        return exprs[0]
    return sympy.Max(*exprs) if len(exprs) <= 4 else sympy.Max(*exprs, evaluate=False)


def peak_of(values: Sequence[Any]) -> Any:
    """The largest value: an int for numbers, else a ``Max`` of the polynomials no other bounds.

    A polynomial is dropped when another is at least as large for every size ≥ 1
    (screened at a few sizes, then proven on the coefficients; see
    :func:`_dominated`); one polynomial left is returned as it is.

    >>> H, N = sympy.symbols("H N", positive=True, integer=True)
    >>> peak_of([3, 12, 5]), peak_of([]), peak_of([H**2*N + 2*H, 2*H + 1, H*N])
    (12, 0, H**2*N + 2*H)
    >>> peak_of([2*H**2*N + H**2, 2*H*N + H + 1])
    Max(2*H**2*N + H**2, 2*H*N + H + 1)
    """
    if not len(values):
        return 0
    if all(isinstance(v, int | np.integer) for v in values):
        return int(max(values))
    if all(isinstance(v, _Sparse) for v in values):
        return _peak_of_sparse(list(values))
    exprs = [sympy.sympify(v) for v in values]
    gens = tuple(sorted(set().union(*(e.free_symbols for e in exprs)), key=str))
    if not gens:
        return max(exprs)
    return _peak_of_sparse([_Sparse.of(e, gens) for e in exprs])


def human_bytes(value: Any) -> str:
    """Bytes for people: binary units, three significant digits.

    >>> human_bytes(1536), human_bytes(512), human_bytes(8 * 2**30)
    ('1.5 KiB', '512 B', '8 GiB')
    """
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(amount) < 1024:
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.3g} {unit}"
        amount /= 1024
    return f"{amount:.3g} TiB"


@dataclass
class MemoryProfile:
    """The live totals of a sequence, per operation and per step row (see the module docstring).

    Attributes
    ----------
    operations : per operation, ``(step, kind, eliminate, edge, elements)``: the
        step row it belongs to (0-based, aligned with ``Plan.steps``), ``"product"``,
        ``"merge"`` or ``"preaccumulate"``, the vertex eliminated (``""`` for a
        preaccumulation), the edge ``(tail, head)`` of its result and the result's
        stored elements.
    live_elements, live_bytes : live total at each operation.
    steps_elements, steps_bytes : per step row, the largest live total of its operations.
    peak_elements, peak_bytes : the largest over all operations (0 when there is none).
    """

    operations: list[tuple]
    live_elements: list
    live_bytes: list
    steps_elements: list
    steps_bytes: list
    peak_elements: Any
    peak_bytes: Any

    def table(self) -> pd.DataFrame:
        """One row per operation (columns :data:`OPERATION_COLUMNS`; exact counts as objects)."""
        rows = [
            (i + 1, step + 1, kind, v, f"{t}->{h}", elements, live, live_b)
            for i, ((step, kind, v, (t, h), elements), live, live_b) in enumerate(
                zip(self.operations, self.live_elements, self.live_bytes, strict=True)
            )
        ]
        frame = pd.DataFrame(rows, columns=OPERATION_COLUMNS)
        for name in ("elements", "live_elements", "live_bytes"):
            frame[name] = pd.Series(list(frame[name]), dtype=object)
        return frame


def held_elements(kind: Any, shape: tuple[Any, Any]) -> Any:
    """Elements an object of ``kind`` holds in the memory model: ``kind.stored(shape)``, and 0
    for a matrix-free operator (code applied to vectors; see the module docstring).

    >>> from analyzer.structure import DENSE, Operator
    >>> held_elements(DENSE, (3, 4)), held_elements(Operator(5), (3, 4))
    (12, 0)
    """
    if getattr(kind, "name", None) == "operator":
        return 0
    return kind.stored(shape)


def held_state(problem: Problem) -> State:
    """A fresh elimination state whose factors are the leaves as :class:`Held` objects."""
    sizes, pricer = problem.sizes, problem.pricer()

    def leaf(t, h, kind) -> Held:
        elements = held_elements(kind, (sizes[h], sizes[t]))
        return Held(kind, elements, elements * pricer.itemsize(t, h), True)

    return problem.state(leaf)


def held_callbacks(pricer: Pricer, record: Callable | None = None) -> tuple[Callable, Callable]:
    """``multiply`` and ``add`` for :func:`eliminate` on :class:`Held` factors: the results the
    model holds (used by :func:`live_profile` and the search's
    :func:`~analyzer.planning.memsearch.advance`); each operation is passed to
    ``record(kind, reads, result, p, s)`` when given."""
    sizes = pricer.sizes
    if record is None:

        def record(*operation) -> None:
            return None

    def multiply(outer: Held, inner: Held, p, v, s) -> Held:
        kind = pricer.product(outer.kind, inner.kind, p, v, s).result
        elements = held_elements(kind, (sizes[s], sizes[p]))
        result = Held(kind, elements, elements * pricer.itemsize(p, s), False)
        record("product", (outer, inner), result, p, s)
        return result

    def add(existing: Held, product: Held, p, s) -> Held:
        kind = pricer.merge(existing.kind, product.kind, p, s).result
        elements = held_elements(kind, (sizes[s], sizes[p]))
        result = Held(kind, elements, elements * pricer.itemsize(p, s), False)
        record("merge", (existing, product), result, p, s)
        return result

    return multiply, add


def live_profile(problem: Problem, sequence: Sequence[Hashable]) -> MemoryProfile:
    """Replay ``sequence`` on ``problem`` and return the live totals of every operation.

    Exact: Python ints for numeric sizes, expanded sympy polynomials (and a ``Max``
    of those no other bounds for the peaks) when sizes are symbols.
    """
    pricer = problem.pricer()
    operations: list[tuple] = []
    reads: list[tuple] = []  # per operation, the ids of the objects it reads
    objects: dict[int, Held] = {}  # by id; kept referenced so ids stay unique
    produced: list[int] = []
    step = [-1]
    current = [None]

    def record(kind, operands, result, p, s) -> None:
        if kind == "product":
            step[0] += 1
        for obj in (*operands, result):
            objects.setdefault(id(obj), obj)
        operations.append((step[0], kind, current[0], (p, s), result.elements))
        reads.append(tuple(id(o) for o in operands))
        produced.append(id(result))

    multiply, add = held_callbacks(pricer, record)
    state = held_state(problem)
    for v in sequence:
        current[0] = v
        eliminate(state, v, multiply, add)
    final = state.factors()
    for (t, h), factor in final.items():  # an operator left at the end is preaccumulated
        shape = (problem.sizes[h], problem.sizes[t])
        if factor.kind.densify_macs(shape) == 0:
            continue
        elements = shape[0] * shape[1]
        dense = Held("dense", elements, elements * pricer.itemsize(t, h), False)
        step[0] += 1
        current[0] = ""
        record("preaccumulate", (factor,), dense, t, h)
        final[t, h] = dense

    count = len(operations)
    birth: dict[int, int] = {}
    death: dict[int, int] = {}
    for i, (read, made) in enumerate(zip(reads, produced, strict=True)):
        for key in read:
            birth.setdefault(key, i)  # a leaf is born at its first reader
            death[key] = i
        birth[made] = i
    for factor in final.values():
        death[id(factor)] = count  # a factor of the final Jacobian never dies
    numeric = all(type(objects[k].elements) is int and type(objects[k].bytes) is int for k in birth)
    if numeric:
        convert, zero = (lambda v: v), 0

        def add(a, b, sign=1):
            return a + sign * b
    else:  # sums of polynomials as sparse dictionaries of terms: fast
        gens = tuple(
            sorted(
                set().union(*(sympy.sympify(objects[k].bytes).free_symbols for k in birth)),
                key=str,
            )
        )
        cache: dict = {}

        def convert(value):
            found = cache.get(value)
            if found is None:
                found = cache[value] = _Sparse.of(value, gens)
            return found

        zero = _Sparse.of(0, gens)

        def add(a, b, sign=1):
            return a.plus(b, sign)

    deltas: list = [zero] * (count + 2)
    deltas_b: list = [zero] * (count + 2)
    for key, born in birth.items():
        obj = objects[key]
        end = death.get(key, born)  # a result nothing reads dies after its operation
        elements, size = convert(obj.elements), convert(obj.bytes)
        deltas[born] = add(deltas[born], elements)
        deltas[end + 1] = add(deltas[end + 1], elements, -1)
        deltas_b[born] = add(deltas_b[born], size)
        deltas_b[end + 1] = add(deltas_b[end + 1], size, -1)
    live = list(itertools.accumulate(deltas[:count], add))
    live_b = list(itertools.accumulate(deltas_b[:count], add))
    rows = step[0] + 1
    per_step: list[list] = [[] for _ in range(rows)]
    per_step_b: list[list] = [[] for _ in range(rows)]
    for (row, *_), value, value_b in zip(operations, live, live_b, strict=True):
        per_step[row].append(value)
        per_step_b[row].append(value_b)
    largest = (lambda values: max(values, default=0)) if numeric else peak_of
    expr = (lambda values: values) if numeric else (lambda values: [v.expr() for v in values])
    return MemoryProfile(
        operations=operations,
        live_elements=expr(live),
        live_bytes=expr(live_b),
        steps_elements=[largest(values) for values in per_step],
        steps_bytes=[largest(values) for values in per_step_b],
        peak_elements=largest(live),
        peak_bytes=largest(live_b),
    )


class Transition(NamedTuple):
    """What eliminating a vertex from a state costs: macs, peak bytes and elements, live after."""

    macs: Any
    peak_bytes: Any
    peak_elements: Any
    after_bytes: Any
    after_elements: Any


def visit_order(state: State, v: Hashable) -> tuple[list[tuple], list[tuple]]:
    """``v``'s ``(predecessor, factor)`` and ``(successor, factor)`` pairs in the order
    :func:`~analyzer.elimination.eliminate` forms its products: by the state's rank."""
    inputs, outputs = state.pred[v], state.succ[v]
    rank = state.rank
    if rank is None:
        return list(inputs.items()), list(outputs.items())
    return (
        [(p, inputs[p]) for p in sorted(inputs, key=rank.__getitem__)],
        [(s, outputs[s]) for s in sorted(outputs, key=rank.__getitem__)],
    )


def transition(state: State, v: Hashable, pricer: Pricer, live: tuple[Any, Any]) -> Transition:
    """The live totals while eliminating ``v`` from ``state`` (unchanged), by the memory model.

    ``live`` is (bytes, elements) of the objects alive before: the state's non-leaf factors.
    """
    sizes = pricer.sizes
    inputs, outputs = visit_order(state, v)
    live_b, live_e = live
    peak_b = peak_e = 0
    macs = 0
    last_output, last_input = len(outputs) - 1, len(inputs) - 1
    for i, (p, inner) in enumerate(inputs):
        heads = state.succ[p]
        for j, (s, outer) in enumerate(outputs):
            if inner.leaf and j == 0:  # a leaf is born at its first read
                live_b += inner.bytes
                live_e += inner.elements
            if outer.leaf and i == 0:
                live_b += outer.bytes
                live_e += outer.elements
            price = pricer.product(outer.kind, inner.kind, p, v, s)
            elements = held_elements(price.result, (sizes[s], sizes[p]))
            nbytes = elements * pricer.itemsize(p, s)
            macs += price.macs
            live_b += nbytes
            live_e += elements
            peak_b, peak_e = max(peak_b, live_b), max(peak_e, live_e)
            if j == last_output:  # with the last successor: the last read of J(v, p)
                live_b -= inner.bytes
                live_e -= inner.elements
            if i == last_input:  # with the last predecessor: the last read of J(s, v)
                live_b -= outer.bytes
                live_e -= outer.elements
            existing = heads.get(s)
            if existing is not None:  # the merge: existing + product
                if existing.leaf:
                    live_b += existing.bytes
                    live_e += existing.elements
                merge = pricer.merge(existing.kind, price.result, p, s)
                macs += merge.formed
                merged = held_elements(merge.result, (sizes[s], sizes[p]))
                live_b += merged * pricer.itemsize(p, s)
                live_e += merged
                peak_b, peak_e = max(peak_b, live_b), max(peak_e, live_e)
                live_b -= existing.bytes + nbytes
                live_e -= existing.elements + elements
    return Transition(macs, peak_b, peak_e, live_b, live_e)
