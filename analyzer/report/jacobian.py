"""A picture of the analysed function's Jacobian graph, drawn from the sweep's graph.json."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import networkx as nx
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.text import Text

from ..errors import AnalyzerError

__all__ = [
    "MAX_DRAWN",
    "graph_from_data",
    "plot_graph",
    "read_graph",
    "describe_graph",
    "graph_size",
]

#: Graphs with more variables than this are described in words, not drawn.
MAX_DRAWN = 50

_ROLE_COLORS = {
    "parameter": "#cfe8cf",
    "constant": "#e6e6e6",
    "intermediate": "#d6e4f5",
    "output": "#f8d9b8",
}
_ROLE_ORDER = ("parameter", "constant", "intermediate", "output")
_ROW_LAYERS = 8  # layers per row of the picture


def read_graph(path: Path, func: str) -> dict[str, Any] | None:
    """The node-link data in ``path``, or None when there is no such file (an older folder).

    Raises
    ------
    AnalyzerError
        If the file cannot be read or is not node-link data of variables and factors.
    """
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AnalyzerError(f"{func}: cannot read {path}: {exc}") from exc
    try:
        graph_from_data(data)
    except AnalyzerError as exc:
        raise AnalyzerError(f"{func}: {path}: {exc}") from None
    return data


def graph_from_data(data: Any) -> nx.DiGraph:
    """A DiGraph of the node-link data: nodes with ``size`` and ``role``, edges with ``structure``.

    Examples
    --------
    >>> g = graph_from_data({"nodes": [{"id": "x", "size": "N", "role": "parameter"},
    ...     {"id": "y", "size": 1, "role": "output"}],
    ...     "links": [{"source": "x", "target": "y", "structure": "dense"}]})
    >>> list(g.edges(data="structure"))
    [('x', 'y', 'dense')]
    >>> graph_from_data({"nodes": [], "links": [{"source": "a", "target": "b"}]})
    Traceback (most recent call last):
    ...
    analyzer.errors.AnalyzerError: graph data: a factor joins unknown variables 'a' -> 'b'
    """
    if not isinstance(data, Mapping):
        raise AnalyzerError(f"graph data must be a JSON object, got {type(data).__name__}")
    nodes, links = data.get("nodes"), data.get("links", data.get("edges"))
    if not isinstance(nodes, list) or not isinstance(links, list):
        raise AnalyzerError("graph data needs lists 'nodes' and 'links'")
    g = nx.DiGraph()
    for node in nodes:
        if not isinstance(node, Mapping) or not isinstance(node.get("id"), str | int):
            raise AnalyzerError(f"graph data: a variable needs an 'id', got {node!r:.80}")
        g.add_node(
            str(node["id"]),
            size=str(node.get("size", "?")),
            role=str(node.get("role", "intermediate")),
        )
    for link in links:
        if not isinstance(link, Mapping):
            raise AnalyzerError(f"graph data: a factor is an object, got {link!r:.80}")
        u, v = str(link.get("source")), str(link.get("target"))
        if u not in g or v not in g:
            raise AnalyzerError(f"graph data: a factor joins unknown variables {u!r} -> {v!r}")
        g.add_edge(u, v, structure=str(link.get("structure", "?")))
    if not nx.is_directed_acyclic_graph(g):
        raise AnalyzerError("graph data: the factors form a cycle")
    return g


def graph_size(data: Mapping[str, Any]) -> int:
    """The number of variables of node-link data."""
    return graph_from_data(data).number_of_nodes()


def describe_graph(data: Mapping[str, Any]) -> str:
    """One sentence naming the graph's size, its inputs and outputs.

    Examples
    --------
    >>> describe_graph({"graph": {"name": "f", "symbolic": True},
    ...     "nodes": [{"id": "x", "size": "N", "role": "parameter"},
    ...               {"id": "y", "size": 1, "role": "output"}],
    ...     "links": [{"source": "x", "target": "y", "structure": "dense"}]})
    'The graph of f has 2 variables and 1 factor (sizes symbolic): parameter x; output y.'
    """
    g = graph_from_data(data)
    info = data.get("graph") if isinstance(data.get("graph"), Mapping) else {}
    name = f" of {info['name']}" if info.get("name") else ""
    at = info.get("at") if isinstance(info.get("at"), Mapping) else {}
    if info.get("symbolic"):
        where = " (sizes symbolic)"
    elif at:
        where = " (sizes at " + ", ".join(f"{k}={v}" for k, v in at.items()) + ")"
    else:
        where = ""
    n, m = g.number_of_nodes(), g.number_of_edges()
    roles = []
    for role in ("parameter", "constant", "output"):
        names = [v for v, r in g.nodes(data="role") if r == role]
        if names:
            shown = ", ".join(names[:8]) + (", …" if len(names) > 8 else "")
            roles.append(f"{role}{'s' if len(names) > 1 else ''} {shown}")
    text = (
        f"The graph{name} has {n} variable{'s' if n != 1 else ''} and {m} "
        f"factor{'s' if m != 1 else ''}{where}"
    )
    return text + (": " + "; ".join(roles) if roles else "") + "."


def _layers(g: nx.DiGraph) -> dict[str, int]:
    """Longest-path layer of each variable: inputs at 0, every output at the last layer."""
    layer: dict[str, int] = {}
    for v in nx.topological_sort(g):
        preds = list(g.predecessors(v))
        layer[v] = 1 + max(layer[p] for p in preds) if preds else 0
    last = max(layer.values(), default=0)
    for v, role in g.nodes(data="role"):
        if role == "output":
            layer[v] = last
    # an input sits just left of the first variable it feeds (no edge runs across a layer)
    for v in g.nodes:
        if g.in_degree(v) == 0 and g.out_degree(v) > 0:
            layer[v] = max(0, min(layer[s] for s in g.successors(v)) - 1)
    return layer


def _positions(g: nx.DiGraph) -> dict[str, tuple[float, float]]:
    """Layered positions, each layer ordered by the mean height of its predecessors."""
    layer = _layers(g)
    columns: dict[int, list[str]] = {}
    for v in g.nodes:  # insertion order: the front end's order
        columns.setdefault(layer[v], []).append(v)
    pos: dict[str, tuple[float, float]] = {}
    for col in sorted(columns):
        names = columns[col]
        if col > 0:

            def centre(v: str, names: list[str] = names) -> float:
                ys = [pos[p][1] for p in g.predecessors(v) if p in pos]
                return -sum(ys) / len(ys) if ys else float(names.index(v))

            names = sorted(names, key=centre)
        k = len(names)
        for i, v in enumerate(names):
            pos[v] = (float(col), (k - 1) / 2 - i)
    # a long graph is folded into rows of _ROW_LAYERS layers, read left to right, top down
    tallest = max((len(c) for c in columns.values()), default=1)
    return {
        v: (x % _ROW_LAYERS, y - (x // _ROW_LAYERS) * (tallest + 0.8)) for v, (x, y) in pos.items()
    }


def _size_text(size: str) -> str:
    return size.replace("**", "^").replace("*", "·")


def _edges(g: nx.DiGraph, pos: dict, ax: Axes, edges: list, style: str) -> None:
    nx.draw_networkx_edges(
        g,
        pos,
        edgelist=edges,
        ax=ax,
        node_size=2600,
        node_shape="s",
        arrows=True,
        arrowstyle="-|>",
        arrowsize=14,
        edge_color="0.35",
        width=1.2,
        connectionstyle=style,
    )
    nx.draw_networkx_edge_labels(
        g,
        pos,
        edge_labels={(u, v): g.edges[u, v]["structure"] for u, v in edges},
        ax=ax,
        font_size=10,
        font_color="#7a2a00",
        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
        rotate=False,
        connectionstyle=style,
    )


def plot_graph(data: Mapping[str, Any]) -> tuple[Figure, Axes]:
    """Layered drawing of the Jacobian graph: inputs left, outputs right.

    Each variable shows its name and size, coloured by role; each factor is an arrow labelled
    with its structure kind.

    Raises
    ------
    AnalyzerError
        If the data is not a graph, or it has more than :data:`MAX_DRAWN` variables.

    Examples
    --------
    >>> fig, ax = plot_graph({"graph": {"name": "f"},
    ...     "nodes": [{"id": "x", "size": "N", "role": "parameter"},
    ...               {"id": "y", "size": 1, "role": "output"}],
    ...     "links": [{"source": "x", "target": "y", "structure": "dense"}]})
    >>> ax.get_title()
    'Jacobian graph of f: variables (size) and factors (structure)'
    """
    g = graph_from_data(data)
    if g.number_of_nodes() > MAX_DRAWN:
        raise AnalyzerError(
            f"the graph has {g.number_of_nodes()} variables; pictures are drawn up to {MAX_DRAWN}"
        )
    pos = _positions(g)
    xs = [x for x, _ in pos.values()] or [0.0]
    ys = [y for _, y in pos.values()] or [0.0]
    width, height = 1 + max(xs) - min(xs), 1 + max(ys) - min(ys)
    fig = Figure(
        figsize=(min(2.0 + 1.7 * width, 18.0), min(1.4 + 0.85 * height, 14.0)),
        layout="constrained",
    )
    ax = fig.subplots()
    layer = _layers(g)
    short = [(u, v) for u, v in g.edges if layer[v] - layer[u] <= 1]
    long = [(u, v) for u, v in g.edges if layer[v] - layer[u] > 1]
    for edges, style in ((short, "arc3"), (long, "arc3,rad=0.2")):
        if not edges:
            continue
        _edges(g, pos, ax, edges, style)
    present = {r for _, r in g.nodes(data="role")}
    # a fixed drawing order (a set's order changes between runs, and so would the SVG)
    for role in [r for r in _ROLE_ORDER if r in present] + sorted(present - set(_ROLE_ORDER)):
        nodes = [v for v, r in g.nodes(data="role") if r == role]
        nx.draw_networkx_labels(
            g.subgraph(nodes),
            pos,
            labels={v: f"{v}\n{_size_text(g.nodes[v]['size'])}" for v in nodes},
            ax=ax,
            font_size=11,
            bbox={
                "boxstyle": "round,pad=0.35",
                "fc": _ROLE_COLORS.get(role, "white"),
                "ec": "0.3",
            },
        )
    roles = [r for r in _ROLE_ORDER if r in {x for _, x in g.nodes(data="role")}]
    ax.legend(
        handles=[Patch(fc=_ROLE_COLORS[r], ec="0.3", label=r) for r in roles],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.02),
        ncol=max(1, len(roles)),
        fontsize="small",
        frameon=False,
    )
    ax.set_xlim(min(xs) - 0.5, max(xs) + 0.5)
    ax.set_ylim(min(ys) - 0.6, max(ys) + 0.6)
    ax.set_axis_off()
    info = data.get("graph") if isinstance(data.get("graph"), Mapping) else {}
    name = f" of {info['name']}" if info.get("name") else ""
    ax.set_title(f"Jacobian graph{name}: variables (size) and factors (structure)")
    # Names are the user's: a ``$`` in one must print as itself, not start mathtext.
    for text in fig.findobj(Text):
        text.set_parse_math(False)
    return fig, ax
