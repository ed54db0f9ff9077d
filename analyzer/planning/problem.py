"""What a planner needs of a graph, frozen when planning starts: vertices, sizes, factor kinds.

Reading a graph takes time linear in its size (up to the log of a heap): the
differentiated part and a deterministic topological order (ties broken by the
order in which variables were added) come from one pass over plain
dictionaries, not from networkx views. A graph is validated once per
fingerprint (and rule version): planning it again (``compare``, ``check``)
skips the checks, which read nothing the fingerprint does not.
"""

from __future__ import annotations

import heapq
import weakref
from dataclasses import dataclass
from typing import Any

from .. import structure
from ..elimination import State
from ..errors import PlanError
from ..graph import JacobianGraph
from .costs import CostModel, Pricer, cost_model

__all__ = ["Problem", "symbols_note"]

#: Graphs already validated, with the fingerprint and rule version they had then.
_VALIDATED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass
class Problem:
    """The differentiated part of a graph under a cost model.

    ``nodes`` are in a deterministic topological order, ``edges`` are
    ``(tail, head, kind)`` with the kind the cost model multiplies each factor
    as, ``chain`` lists the vertices when the graph is a single chain, and
    ``fingerprint`` identifies the graph as it was (see
    :meth:`~analyzer.graph.JacobianGraph.fingerprint`).
    """

    graph: JacobianGraph
    cost: CostModel
    nodes: list[str]
    intermediates: list[str]
    edges: list[tuple[str, str, Any]]
    labels: dict[tuple[str, str], str]
    chain: list[str] | None
    sizes: dict[str, Any]
    itemsizes: dict[str, int]
    fingerprint: int
    parameters: list[str]
    outputs: list[str]
    rules: int  # the rule table's version (analyzer.structure.rules_version()) when planned

    @classmethod
    def of(cls, graph: JacobianGraph, cost: str | CostModel = "dense") -> Problem:
        model = cost_model(cost)
        if not isinstance(graph, JacobianGraph):
            raise PlanError(f"expected a JacobianGraph, got {type(graph).__name__}")
        fingerprint = graph.fingerprint()
        if _VALIDATED.get(graph) != (fingerprint, structure.rules_version()):
            graph.validate()  # what it checks is all in the fingerprint (and the kinds)
            _VALIDATED[graph] = (fingerprint, structure.rules_version())
        succ, pred, data = graph._succ, graph._pred, graph._node
        parameters, outputs = graph.parameters, graph.outputs
        keep = _reachable(parameters, succ) & _reachable(outputs, pred)
        position = {n: i for i, n in enumerate(data)}
        nodes = _topological(keep, succ, pred, position)
        intermediates = [n for n in nodes if data[n]["role"] == "intermediate"]
        edges, labels = [], {}
        kind = model.kind
        for tail in nodes:
            for head, attributes in succ[tail].items():
                if head in keep:
                    edges.append((tail, head, kind(attributes["structure"], attributes["shape"])))
                    labels[tail, head] = attributes.get("label") or f"J({head},{tail})"
        edges.sort(key=lambda e: (position[e[0]], position[e[1]]))
        chain = None
        if (
            len(parameters) == 1
            and len(outputs) == 1
            and len(edges) == len(nodes) - 1
            and all(
                sum(1 for x in pred[n] if x in keep) <= 1
                and sum(1 for x in succ[n] if x in keep) <= 1
                for n in nodes
            )
        ):
            chain = nodes
        sizes = {n: data[n]["size"] for n in nodes}
        itemsizes = {n: data[n]["dtype"].itemsize for n in nodes}
        problem = cls(
            graph, model, nodes, intermediates, edges, labels, chain, sizes, itemsizes,
            fingerprint, parameters, outputs, structure.rules_version(),
        )  # fmt: skip
        problem.__dict__["_rank"] = {n: position[n] for n in nodes}
        return problem

    @property
    def symbolic(self) -> bool:
        return any(not isinstance(s, int) for s in self.sizes.values())

    def pricer(self) -> Pricer:
        """The pricer of this problem's products under its cost model."""
        return Pricer(self.cost, self.sizes, self.itemsizes)

    def state(self, payload=None) -> State:
        """A fresh elimination state whose factors are ``payload(tail, head, kind)`` (or kinds)."""
        make = payload or (lambda t, h, k: k)
        return State.of(self.nodes, [(t, h, make(t, h, k)) for t, h, k in self.edges], self.rank)

    @property
    def rank(self) -> dict:
        """Each vertex's position in the graph (the order it was added): the order in which
        eliminations form their products, whatever eliminations came before."""
        found = self.__dict__.get("_rank")
        if found is None:  # a Problem made by hand: its nodes' order
            found = self.__dict__["_rank"] = {n: i for i, n in enumerate(self.nodes)}
        return found

    def initial(self) -> State:
        """The start state of kinds, made once and shared: read it, never eliminate in it."""
        found = self.__dict__.get("_initial")
        if found is None:
            found = self.__dict__["_initial"] = self.state()
        return found

    def check_unchanged(self) -> None:
        """A clear error when the graph changed since this problem was read from it."""
        if self.rules != structure.rules_version():
            raise PlanError(
                "structure kinds or pair rules were registered since this plan was made; "
                "plan it again"
            )
        if self.graph.fingerprint() != self.fingerprint:
            raise PlanError(
                "the graph changed since this plan was made (variables, factors or sizes were "
                "added, removed or edited); plan it again"
            )


def _reachable(starts: list, neighbours: dict) -> set:
    seen, stack = set(starts), list(starts)
    while stack:
        for n in neighbours[stack.pop()]:
            if n not in seen:
                seen.add(n)
                stack.append(n)
    return seen


def _topological(keep: set, succ: dict, pred: dict, position: dict) -> list:
    """Kahn's order of the vertices in ``keep``; among those ready, the earliest added first."""
    waiting = {n: sum(1 for p in pred[n] if p in keep) for n in keep}
    ready = [(position[n], n) for n, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, n = heapq.heappop(ready)
        order.append(n)
        for s in succ[n]:
            if s in keep:
                waiting[s] -= 1
                if waiting[s] == 0:
                    heapq.heappush(ready, (position[s], s))
    return order


def symbols_note(problem: Problem) -> str:
    """Which orders accept symbolic sizes under ``problem``'s cost model (for error messages)."""
    if problem.cost.treats != "matrix-free":
        return "input-first and output-first accept symbols"
    return (
        "under the matrix-free cost model, input-first and output-first accept symbols "
        "where no min(m, n) and no choice between preaccumulating the left or the right "
        "operator depends on the sizes, as for one_layer('H', 'N')"
    )
