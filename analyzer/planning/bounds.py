"""Lower bounds: a cost no elimination order of the remaining vertices can beat.

The bound is a sum over the vertices still to eliminate of a bound on what
eliminating each one will cost, whenever that happens. Why it holds:

1. **Paths.** In any state, an edge ``a -> b`` exists exactly when the start
   graph has a path from ``a`` to ``b`` whose inner vertices are all
   eliminated (eliminating ``v`` joins each ``p -> v -> s`` into ``p -> s`` and
   removes ``v``). Factors are structural: a zero factor is still an edge.
2. **Separators.** So when ``v`` is eliminated, its predecessors ``P`` meet
   every path from a vertex that is never eliminated (a parameter, an output,
   a vertex outside the search) to ``v``: the last vertex still alive before
   ``v`` on such a path is joined to ``v`` by an edge. Hence
   ``Σ_{p∈P} |p| ≥ κ_in(v)``, the least total size of such a separator (a
   minimum vertex cut, computed as a maximum flow with vertex capacities equal
   to the sizes). Likewise ``Σ_{s∈S} |s| ≥ κ_out(v)``. A predecessor that is
   never eliminated stays one until ``v`` goes (an edge disappears only with an
   endpoint), so ``Σ_P |p| ≥ φ_in(v)``, the summed size of ``v``'s current
   never-eliminated predecessors; likewise ``φ_out``.
3. **Dense price.** When every factor that can enter or leave ``v`` is dense
   (always under the dense model), eliminating ``v`` costs
   ``Σ_{p,s} |s|·|v|·|p| = |v|·ΣP·ΣS ≥ |v|·max(κ_in, φ_in)·max(κ_out, φ_out)``
   macs, and ``|v|·(|P|·ΣS + |S|·ΣP) + ΣP·ΣS ≥ |v|·(κ_in + κ_out) + κ_in·κ_out``
   elements moved (times the smallest itemsize) for the bytes objective.
4. **Other kinds.** The kinds that can ever enter ``v`` are closed under the
   rule table: the kinds of its factors, their products with the kinds that can
   enter an eliminated predecessor, and sums of those (:func:`kind_closures`).
   Eliminating ``v`` makes one product per pair ``(p, s)`` of ``P x S``, each
   of a pair of these kinds, so it costs at least the sum over the pairs of
   the cheapest kind pair at those sizes. ``P`` holds ``v``'s current
   never-eliminated predecessors (or, when it has none yet, some vertex no
   smaller than the smallest that can become one), likewise ``S``. The prices
   of the built-in kinds do not decrease when a size grows, so the smallest
   candidate stands for any. A vertex where a kind that is not built in can
   appear contributes 0.
5. **Edges between two vertices still to eliminate.** For a factor
   ``u -> v`` with both ends still to eliminate (dense-priced), whichever goes
   first has the other as a neighbour then: ``v`` is among ``u``'s successors
   (``OUT(u) ≥ φ_out(u) + |v|``) or ``u`` among ``v``'s predecessors
   (``IN(v) ≥ φ_in(v) + |u|``). Each case raises that vertex's bound by a
   penalty, and the edge adds the smaller of the two. Adding them over all
   such edges is valid because the price ``f(IN, OUT)`` (``|v|·IN·OUT`` or the
   bytes form) is a bilinear polynomial with nonnegative coefficients: raising
   ``IN`` past ``B = max(κ_in, φ_in)`` to ``φ_in + Σ|a_i|`` (all the ``a_i``
   charged to ``v``'s inputs are in ``P``) raises ``f`` by at least the sum of
   the single raises ``φ_in + |a_i| - B``, and raises on the input and output
   sides add up the same way.
6. **Monotone.** Along any order these bounds never decrease: the separators
   of a later state are separators of an earlier one, ``φ`` only grows, and so
   does each edge's penalty; edges only disappear with the vertex eliminated,
   whose price is at least its bound plus the penalties of all its edges (its
   neighbours then are all of them). So the sum is at most the cost of any
   completion (admissible), and at most the price of one elimination plus the
   bound after it (consistent): a search may prune any state whose cost so far
   plus this bound reaches the best order known, and may discard a child
   ``v`` whose ``g + price(v) + total - share(v)`` reaches it, before making it.

Cuts and kind closures come from :mod:`analyzer.planning.cuts`.

Examples
--------
>>> from analyzer.models import chain
>>> from analyzer.planning.problem import Problem
>>> root_bound(Problem.of(chain([10, 1000, 10, 1000, 10])))  # the optimum: 201,000
201000
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any

from ..elimination import State, Step
from ..structure import product_rule
from .chain import _operator_leaves, operator_chain_optimum
from .costs import Pricer
from .cuts import EXACT_CUT_VERTICES, kind_closures, smallest, vertex_cuts
from .problem import Problem

__all__ = [
    "LowerBound",
    "root_bound",
    "MONOTONE_KINDS",
    "EXACT_CUT_VERTICES",
    "CHAIN_BOUND_FACTORS",
]

#: The longest operator chain whose bound is the chain DP's exact optimum (its cost
#: grows as the cube of the length; longer chains get the pair bound of item 4).
CHAIN_BOUND_FACTORS = 200

#: Kinds whose prices do not decrease when a size grows (the built-in ones; an
#: ``operator[e]``'s products cost ``n e``, ``m e`` or the cheaper preaccumulation,
#: each non-decreasing in ``m``, ``k`` and ``n`` for a fixed ``e``).
MONOTONE_KINDS = frozenset(
    {"zero", "identity", "scalar", "diagonal", "row-block", "dense", "operator"}
)


def _name(kind: Any) -> str:
    return getattr(kind, "name", None) or str(kind)


class LowerBound:
    """The admissible bound of the module docstring, kept up to date by :meth:`make`/:meth:`unmake`.

    ``total`` is the bound on what eliminating every vertex of ``eliminable``
    still alive will cost: the vertices' bounds ``value[v]`` plus the edges'
    penalties ``penalty[u, v]``; ``share[v]`` is ``value[v]`` plus the
    penalties of ``v``'s edges (what eliminating ``v`` takes out of ``total``
    at most).
    """

    def __init__(
        self,
        state: State,
        pricer: Pricer,
        eliminable: Iterable[Hashable],
        objective: str = "macs",
        *,
        order: Sequence[Hashable] | None = None,
        itemsizes: dict | None = None,
        exact: bool | None = None,
    ) -> None:
        self.state = state
        self.sizes = sizes = pricer.sizes
        self.objective = objective
        elim = list(eliminable)
        self.eliminable = eliminable_set = set(elim)
        order = [x for x in (order if order is not None else state.pred) if x in state.pred]
        itemsize = min((itemsizes or {}).values(), default=8)
        if objective == "macs":
            itemsize = 1
        self.itemsize = itemsize
        if pricer.model.keeps_structure:
            into, out = kind_closures(state, order, eliminable_set)
            dense = {
                v
                for v in elim
                if into[v] is not None
                and out[v] is not None
                and {str(k) for k in into[v]} == {"dense"} == {str(k) for k in out[v]}
            }
        else:
            into = out = {}
            dense = set(elim)
        self.dense = dense
        self.cut_in, self.cut_out = vertex_cuts(
            state, sizes, order, eliminable_set, [v for v in elim if v in dense], exact=exact
        )
        self.pairs: dict[Hashable, tuple] = {}
        self.least: dict[Hashable, tuple] = {}
        self._cheapest: dict[tuple, Any] = {}
        others = [v for v in elim if v not in dense]
        if others:
            least_in = smallest(order, state.pred, sizes, eliminable_set)
            least_out = smallest(order[::-1], state.succ, sizes, eliminable_set)
            for v in others:
                kinds = (into[v], out[v])
                known = all(k is not None for k in kinds) and all(
                    _name(kind) in MONOTONE_KINDS for side in kinds for kind in side
                )
                self.pairs[v] = [(a, b) for a in out[v] for b in into[v]] if known else []
                self.least[v] = (least_in[v], least_out[v])
        fixed_in: dict[Hashable, Any] = {}
        fixed_out: dict[Hashable, Any] = {}
        for v in dense:
            fixed_in[v] = sum(sizes[p] for p in state.pred[v] if p not in eliminable_set)
            fixed_out[v] = sum(sizes[s] for s in state.succ[v] if s not in eliminable_set)
        self.fixed_in, self.fixed_out = fixed_in, fixed_out
        self.base: dict[Hashable, tuple] = {}
        self.value = {v: self._value(v) for v in elim}
        self.share = dict(self.value)
        self.penalty: dict[tuple[Hashable, Hashable], Any] = {}
        for u in elim:
            if u in dense:
                for v in state.succ[u]:
                    if v in dense:
                        self._set_penalty(u, v, self._penalty(u, v))
        self.total = sum(self.value.values()) + sum(self.penalty.values())

    def _cheapest_pair(self, v: Hashable, m: Any, n: Any) -> Any:
        """The cheapest product ``J(s, v) J(v, p)`` of kinds that can meet at ``v``, sizes m, n."""
        key = (v, m, n)
        found = self._cheapest.get(key)
        if found is None:
            k = self.sizes[v]
            best = None
            for a, b in self.pairs[v]:
                price = product_rule(a, b).price((m, k), (k, n))
                value = price.macs if self.objective == "macs" else price.read + price.written
                if best is None or value < best:
                    best = value
            found = self._cheapest[key] = (best or 0) * self.itemsize
        return found

    def _pairs_value(self, v: Hashable) -> Any:
        """Item 4 of the module docstring: the cheapest products over ``P x S`` known now."""
        if not self.pairs[v]:
            return 0
        sizes, elim = self.sizes, self.eliminable
        ins = [sizes[p] for p in self.state.pred[v] if p not in elim] or [self.least[v][0]]
        outs = [sizes[s] for s in self.state.succ[v] if s not in elim] or [self.least[v][1]]
        return sum(self._cheapest_pair(v, m, n) for m in outs for n in ins)

    def _price(self, v: Hashable, into: Any, out: Any) -> Any:
        if self.objective == "macs":
            return self.sizes[v] * into * out
        return self.itemsize * (self.sizes[v] * (into + out) + into * out)

    def _value(self, v: Hashable) -> Any:
        """``v``'s bound from its cuts and never-eliminated neighbours (sets ``base[v]``)."""
        if v not in self.dense:
            return self._pairs_value(v)
        into = max(self.fixed_in[v], self.cut_in[v])
        out = max(self.fixed_out[v], self.cut_out[v])
        self.base[v] = (into, out)
        return self._price(v, into, out)

    def _penalty(self, u: Hashable, v: Hashable) -> Any:
        """The smaller raise of the bounds of ``u`` (``v`` a successor) or ``v`` (``u`` a pred)."""
        sizes = self.sizes
        into, out = self.base[u]
        raised = self.fixed_out[u] + sizes[v]
        if raised <= out:
            return 0
        first = self._price(u, into, raised) - self.value[u]
        into, out = self.base[v]
        raised = self.fixed_in[v] + sizes[u]
        if raised <= into:
            return 0
        return min(first, self._price(v, raised, out) - self.value[v])

    def _set_penalty(self, u: Hashable, v: Hashable, new: Any) -> Any:
        """Set the penalty of ``u -> v``; return the old one (``None`` when there was none)."""
        penalty, share = self.penalty, self.share
        old = penalty.get((u, v))
        change = new - (old or 0)
        if new:
            penalty[u, v] = new
        elif old is not None:
            del penalty[u, v]
        if change:
            share[u] += change
            share[v] += change
        return old

    def _released(self, w: Hashable) -> list[tuple[Hashable, Hashable]]:
        """Factors whose penalty may change because ``w`` went (besides its neighbours' own).

        None here; a subclass that ties vertices together (the pair bound of
        :mod:`~analyzer.planning.pairs`) lists the factors its ties freed.
        """
        return []

    def make(self, step: Step) -> list:
        """Update after ``step`` (already made on the state); returns what :meth:`unmake` needs.

        Only the factors ``step`` created can change a bound: one from a
        never-eliminated vertex raises ``φ`` of its other end, one between two
        vertices still to eliminate adds a penalty; the edges of a vertex whose
        bound changed get their penalties again.
        """
        w = step.vertex
        value, share, penalty, dense = self.value, self.share, self.penalty, self.dense
        sizes = self.sizes
        saved: list = [("v", w, value[w], self.base.get(w))]
        total = self.total - value[w]
        for p in step.inputs:
            old = penalty.pop((p, w), None)
            if old is not None:
                saved.append(("p", (p, w), old))
                total -= old
                share[p] -= old
        for s in step.outputs:
            old = penalty.pop((w, s), None)
            if old is not None:
                saved.append(("p", (w, s), old))
                total -= old
                share[s] -= old
        del value[w], share[w]
        changed: dict[Hashable, None] = {}
        edges: list[tuple[Hashable, Hashable]] = []
        for fill in step.fills:
            if fill.replaced is not None:
                continue
            p, s = fill.tail, fill.head
            if p in value:
                if s in value:
                    if p in dense and s in dense:
                        edges.append((p, s))
                elif p in dense:
                    saved.append(("o", p, self.fixed_out[p]))
                    self.fixed_out[p] += sizes[s]
                    changed[p] = None
                else:
                    changed[p] = None
            elif s in dense:
                saved.append(("i", s, self.fixed_in[s]))
                self.fixed_in[s] += sizes[p]
                changed[s] = None
            elif s in value:
                changed[s] = None
        pred, succ = self.state.pred, self.state.succ
        for x in changed:
            old, old_base = value[x], self.base.get(x)
            new = self._value(x)
            saved.append(("v", x, old, old_base))
            value[x] = new
            share[x] += new - old
            total += new - old
            if x in dense:
                edges += [(p, x) for p in pred[x] if p in dense and p in value]
                edges += [(x, s) for s in succ[x] if s in dense and s in value]
        edges += self._released(w)
        done = set()
        for key in edges:
            if key in done:
                continue
            done.add(key)
            new = self._penalty(*key)
            old = self._set_penalty(*key, new)
            if (old or 0) != new:
                saved.append(("p", key, old))
                total += new - (old or 0)
        self.total = total
        return saved

    def unmake(self, saved: list) -> None:
        """Undo :meth:`make` (after the state itself was restored)."""
        value, share, penalty = self.value, self.share, self.penalty
        total = self.total
        for entry in reversed(saved[1:]):
            kind = entry[0]
            if kind == "p":
                key, old = entry[1], entry[2]
                if key[0] in value and key[1] in value:
                    now = penalty.get(key, 0)
                    self._set_penalty(*key, old or 0)
                else:  # an edge of the eliminated vertex: comes back with it (below)
                    now = 0
                total += (old or 0) - now
            elif kind == "v":
                _, x, old, old_base = entry
                total += old - value[x]
                share[x] += old - value[x]
                value[x] = old
                if old_base is not None:
                    self.base[x] = old_base
            elif kind == "i":
                self.fixed_in[entry[1]] = entry[2]
            else:
                self.fixed_out[entry[1]] = entry[2]
        _, w, old, old_base = saved[0]
        value[w] = old
        share[w] = old
        if old_base is not None:
            self.base[w] = old_base
        total += old
        for entry in saved[1:]:  # the eliminated vertex's edges
            if entry[0] == "p" and w in entry[1]:
                key, old = entry[1], entry[2]
                penalty[key] = old
                share[key[0]] += old
                share[key[1]] += old
        self.total = total


def root_bound(problem: Problem, objective: str = "macs") -> Any:
    """The bound at the start of ``problem`` (``None`` when sizes are symbols).

    Cheap: what the heuristic and end orders report as ``lower_bound``. On a chain
    of operator and dense factors priced by macs, of at most :data:`CHAIN_BOUND_FACTORS`
    factors, it is the chain DP's optimum (exact; a vectorised interval DP, about
    0.05 s for 100 factors).
    """
    if problem.symbolic:
        return None
    if not problem.intermediates:
        return 0
    chain = problem.chain
    if objective == "macs" and chain is not None and len(chain) <= CHAIN_BOUND_FACTORS + 1:
        leaves = _operator_leaves(problem)
        if leaves is not None and any(e is not None for e in leaves):
            return operator_chain_optimum([problem.sizes[v] for v in problem.chain], leaves)[0]
    bound = LowerBound(
        problem.initial(),
        problem.pricer(),
        problem.intermediates,
        objective,
        order=problem.nodes,
        itemsizes=problem.itemsizes,
    )
    return bound.total
