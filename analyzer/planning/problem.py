"""What a planner needs of a graph, frozen when planning starts: vertices, sizes, factor kinds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import networkx as nx

from .. import structure
from ..elimination import State
from ..errors import PlanError
from ..graph import JacobianGraph
from .costs import CostModel, Pricer, cost_model

__all__ = ["Problem"]


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
        graph.validate()
        sub = graph.differentiated()
        position = {n: i for i, n in enumerate(graph.nodes)}
        nodes = list(nx.lexicographical_topological_sort(sub, key=position.get))
        intermediates = [n for n in nodes if graph.nodes[n]["role"] == "intermediate"]
        edges, labels = [], {}
        for tail, head in sub.edges:
            data = graph.edges[tail, head]
            edges.append((tail, head, model.kind(data["structure"], tuple(data["shape"]))))
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
        itemsizes = {n: graph.nodes[n]["dtype"].itemsize for n in nodes}
        return cls(
            graph, model, nodes, intermediates, edges, labels, chain, sizes, itemsizes,
            graph.fingerprint(), graph.parameters, graph.outputs, structure.rules_version(),
        )  # fmt: skip

    @property
    def symbolic(self) -> bool:
        return any(not isinstance(s, int) for s in self.sizes.values())

    def pricer(self) -> Pricer:
        """The pricer of this problem's products under its cost model."""
        return Pricer(self.cost, self.sizes, self.itemsizes)

    def state(self, payload=None) -> State:
        """A fresh elimination state whose factors are ``payload(tail, head, kind)`` (or kinds)."""
        make = payload or (lambda t, h, k: k)
        return State.of(self.nodes, [(t, h, make(t, h, k)) for t, h, k in self.edges])

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
