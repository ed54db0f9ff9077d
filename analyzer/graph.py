"""JacobianGraph: a networkx DiGraph of variables (nodes) and Jacobian factors (edges).

A variable is a vector quantity with a size (a matrix is flattened row-major).
Its role is ``parameter`` (differentiated against), ``constant`` (an input held
fixed), ``intermediate`` or ``output``. An edge ``u -> v`` is the factor
``∂v/∂u`` of shape ``(size v, size u)`` with a structure kind (see
:mod:`analyzer.structure`) and a callable that gives its numbers at a point.

Examples
--------
>>> import numpy as np
>>> g = JacobianGraph()
>>> g.add_variable("x", 3, role="parameter", value=np.arange(3.0))
>>> g.add_variable("y", 3, role="output", evaluate=lambda v: np.sin(v["x"]))
>>> g.add_factor("x", "y", "diagonal", lambda v: np.cos(v["x"]))
>>> g.validate().parameters, g.outputs
(['x'], ['y'])
"""

from __future__ import annotations

import contextlib
import keyword
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import networkx as nx
import numpy as np
import sympy

from .errors import AnalyzerError, CycleError, GraphError, PointError
from .structure import KINDS, Block, Kind, LinearMap, add, kind_of, sum_rule

__all__ = ["ROLES", "JacobianGraph", "as_size"]

ROLES = ("parameter", "constant", "intermediate", "output")


def as_size(size: Any, *, name: str = "size") -> Any:
    """A positive int, or a positive integer sympy expression for a symbolic size.

    >>> as_size(4), as_size("H")
    (4, H)
    >>> as_size(0)
    Traceback (most recent call last):
    ...
    analyzer.errors.GraphError: size must be a positive integer or a symbol name, got 0
    """
    if isinstance(size, bool):
        raise GraphError(f"{name} must be a positive integer or a symbol name, got {size!r}")
    if isinstance(size, int | np.integer):
        if size <= 0:
            raise GraphError(f"{name} must be a positive integer or a symbol name, got {size!r}")
        return int(size)
    if isinstance(size, str):
        if not size.isidentifier() or keyword.iskeyword(size):
            raise GraphError(f"{name} {size!r} is not a valid symbol name")
        return sympy.Symbol(size, positive=True, integer=True)
    if isinstance(size, sympy.Basic):
        if size.is_number:
            if size.is_integer is not True:
                raise GraphError(f"{name} must be a positive integer or a symbol, got {size}")
            return as_size(int(size), name=name)
        size = size.subs(
            {s: sympy.Symbol(str(s), positive=True, integer=True) for s in size.free_symbols}
        )
        if size.is_positive is not True or size.is_integer is not True:
            raise GraphError(
                f"{name} must be a positive integer for every positive integer value of its "
                f"symbols, got {size}"
            )
        return size
    raise GraphError(f"{name} must be a positive integer or a symbol name, got {size!r}")


def _hashable(data: Mapping, key: str) -> Any:
    """An attribute as a hashable, type-sensitive value (so 4 and 4.0 differ)."""
    value = data.get(key)
    try:
        hash(value)
    except TypeError:
        return (type(value).__name__, repr(value))
    return (type(value).__name__, value)


def _is_kind(structure: Any) -> bool:
    """A registered kind's name, or a kind (possibly with parameters) of a registered family."""
    if isinstance(structure, Kind):
        return structure.name in KINDS
    return isinstance(structure, str) and structure in KINDS


def _reachable(starts: list[str], neighbours: Callable[[str], Any]) -> set[str]:
    """Every variable reachable from ``starts`` (included) along ``neighbours``."""
    seen, stack = set(starts), list(starts)
    while stack:
        for n in neighbours(stack.pop()):
            if n not in seen:
                seen.add(n)
                stack.append(n)
    return seen


def _complex(value: Any) -> bool:
    try:
        return bool(np.iscomplexobj(value))
    except (TypeError, ValueError):  # ragged or not numbers: the float conversion says so
        return False


def _floats(value: Any, what: str) -> np.ndarray:
    """``value`` as a float array, or a PointError naming what it was meant to be."""
    if _complex(value):
        raise PointError(f"{what} must be real numbers, got complex values")
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError) as error:
        raise PointError(f"{what} must be numbers (a flat vector or arrays): {error}") from None


def _raveled(jacobian: Callable) -> Callable:
    return lambda values: np.ravel(jacobian(values))


class JacobianGraph(nx.DiGraph):
    """Variables and the Jacobian factors between them.

    Node attributes: ``size``, ``role``, ``shape`` (the variable's natural shape,
    e.g. ``(H, N)`` for a matrix parameter), ``value`` (default value of a
    parameter or constant, an array or a callable drawing it: read it with
    :meth:`value`) and ``evaluate`` (callable mapping the dict of values
    computed so far to this variable's value, for intermediates and outputs).
    Edge attributes: ``structure``, ``shape`` and ``jacobian`` (callable mapping
    the dict of values to the stored numbers of the factor's structure kind).
    """

    # ---------------------------------------------------------------- building
    def add_variable(
        self,
        name: str,
        size: Any = None,
        *,
        role: str,
        shape: tuple | None = None,
        value: Any = None,
        evaluate: Callable[[Mapping[str, np.ndarray]], np.ndarray] | None = None,
        dtype: Any = np.float64,
        label: str | None = None,
    ) -> None:
        """Add a variable; give ``size`` for a vector or ``shape`` for a matrix.

        ``dtype`` (float64 by default) sets the bytes per element of its factors;
        ``label`` says what made it (e.g. the numpy call of a traced operation).
        """
        if not isinstance(name, str) or not name:
            raise GraphError(f"a variable name is a non-empty string, got {name!r}")
        try:
            dtype = np.dtype(dtype)
        except TypeError:
            raise GraphError(f"variable {name!r}: {dtype!r} is not a numpy dtype") from None
        if dtype.kind != "f":
            raise GraphError(f"variable {name!r}: dtype must be a float type, got {dtype}")
        if role not in ROLES:
            raise GraphError(f"unknown role {role!r} for {name!r}; valid roles: {', '.join(ROLES)}")
        if name in self:
            raise GraphError(f"variable {name!r} already exists")
        if shape is None:
            if size is None:
                raise GraphError(f"variable {name!r} needs a size or a shape")
            shape = (as_size(size, name=f"size of {name!r}"),)
        elif not isinstance(shape, tuple | list):
            raise GraphError(f"variable {name!r}: shape is a tuple of sizes, got {shape!r}")
        else:
            shape = tuple(as_size(s, name=f"shape of {name!r}") for s in shape)
        total = math.prod(shape)
        if size is not None and as_size(size) != total:
            raise GraphError(f"variable {name!r}: size {size} does not match shape {shape}")
        if role in ("parameter", "constant") and evaluate is not None:
            raise GraphError(f"{role} {name!r} takes a value, not an evaluate callable")
        if evaluate is not None and not callable(evaluate):
            raise GraphError(f"{role} {name!r}: evaluate must be callable, got {evaluate!r}")
        if role in ("intermediate", "output") and value is not None:
            raise GraphError(f"{role} {name!r} is computed; give evaluate, not value")
        if value is not None and not callable(value):
            value = self._checked_value(name, value, shape, total)
        with self._unlocked():
            self.add_node(
                name,
                size=total,
                role=role,
                shape=shape,
                value=value,
                evaluate=evaluate,
                dtype=dtype,
                label=label,
            )

    @staticmethod
    def _checked_value(name: str, value: Any, shape: tuple, total: Any) -> np.ndarray:
        value = _floats(value, f"value of {name!r}")
        if value.size != total:
            raise GraphError(f"value of {name!r} has {value.size} entries, its size is {total}")
        return value.reshape(shape)

    def value(self, name: str, *, keep: bool = True) -> np.ndarray | None:
        """The default value of a parameter or constant (``None`` if it has none).

        A value given as a zero-argument callable is drawn on first use and kept,
        so that a large model can be planned without allocating its values;
        ``keep=False`` draws it without keeping it (freed with the caller's reference).
        """
        data = self.nodes[name]
        if callable(data["value"]):
            drawn = self._checked_value(name, data["value"](), data["shape"], data["size"])
            if not keep:
                return drawn
            data["value"] = drawn
        return data["value"]

    def add_factor(
        self,
        tail: str,
        head: str,
        structure: str,
        jacobian: Callable[[Mapping[str, np.ndarray]], Any] | None = None,
    ) -> None:
        """Add the factor ``∂head/∂tail`` with its structure kind and numbers.

        A square row-block factor (blocks of width 1) is a diagonal matrix and is
        stored as a diagonal factor, so that each matrix has one kind and the
        kinds of eliminated factors do not depend on the elimination order.
        """
        for name in (tail, head):
            if name not in self:
                raise GraphError(f"unknown variable {name!r} in factor {tail!r} -> {head!r}")
        if jacobian is not None and not callable(jacobian):
            raise GraphError(f"factor {tail!r} -> {head!r}: jacobian must be callable")
        if not _is_kind(structure):
            raise GraphError(
                f"unknown structure {structure!r} for factor {tail!r} -> {head!r}; "
                f"valid kinds: {', '.join(KINDS)}"
            )
        if tail == head:
            raise GraphError(f"factor {tail!r} -> {head!r} would make a variable depend on itself")
        shape = (self.nodes[head]["size"], self.nodes[tail]["size"])
        if structure == "row-block" and shape[0] == shape[1]:
            structure = "diagonal"
            if jacobian is not None:
                jacobian = _raveled(jacobian)
        if self.has_edge(tail, head):  # a second path tail -> head: the sum rule
            structure, jacobian = self._summed(tail, head, structure, jacobian)
        with self._unlocked():
            self.add_edge(tail, head, structure=kind_of(structure), shape=shape, jacobian=jacobian)

    # Raw networkx edits would bypass add_variable and add_factor: only they may add.
    _building = False

    def __init__(self, incoming_graph_data: Any = None, **attr: Any) -> None:
        if incoming_graph_data is not None:
            raise GraphError(
                "a JacobianGraph is built with add_variable and add_factor (or copied with "
                ".copy()), not from other graph data"
            )
        super().__init__(**attr)

    @contextlib.contextmanager
    def _unlocked(self) -> Iterator[None]:
        self._building = True
        try:
            yield
        finally:
            self._building = False

    def _guard(self) -> None:
        if not self._building:
            raise GraphError(
                "add variables with add_variable(...) and factors with add_factor(...), "
                "not with networkx's add_node/add_edge"
            )

    def add_node(self, node_for_adding: Any, **attr: Any) -> None:
        self._guard()
        super().add_node(node_for_adding, **attr)

    def add_nodes_from(self, nodes_for_adding: Any, **attr: Any) -> None:
        self._guard()
        super().add_nodes_from(nodes_for_adding, **attr)

    def add_edge(self, u_of_edge: Any, v_of_edge: Any, **attr: Any) -> None:
        self._guard()
        super().add_edge(u_of_edge, v_of_edge, **attr)

    def add_edges_from(self, ebunch_to_add: Any, **attr: Any) -> None:
        self._guard()
        super().add_edges_from(ebunch_to_add, **attr)

    def add_weighted_edges_from(self, ebunch_to_add: Any, weight: str = "weight", **attr) -> None:
        self._guard()
        super().add_weighted_edges_from(ebunch_to_add, weight, **attr)

    def copy(self, as_view: bool = False) -> JacobianGraph:
        """A copy sharing the callables (networkx's ``copy``, allowed to add)."""
        if as_view:
            return nx.graphviews.generic_graph_view(self)
        graph = self.__class__()
        graph.graph.update(self.graph)
        with graph._unlocked():
            graph.add_nodes_from((n, dict(d)) for n, d in self._node.items())
            graph.add_edges_from(
                (u, v, dict(d)) for u, nbrs in self._adj.items() for v, d in nbrs.items()
            )
        return graph

    def fingerprint(self) -> int:
        """A hash of what planning reads: variables, roles, sizes, dtypes, factors and callables.

        A plan keeps the fingerprint of the graph it was made from, so running it
        on a graph changed since is refused instead of silently wrong.
        """
        get = _hashable
        nodes = tuple(
            (
                n,
                get(d, "role"),
                get(d, "size"),
                get(d, "shape"),
                get(d, "dtype"),
                id(d.get("evaluate")),
            )
            for n, d in self._node.items()
        )
        edges = tuple(
            (u, v, get(d, "structure"), get(d, "shape"), id(d.get("jacobian")))
            for u, nbrs in self._adj.items()
            for v, d in nbrs.items()
        )
        return hash((nodes, edges))

    def _summed(self, tail: str, head: str, structure: str, jacobian: Callable | None):
        """Kind and numbers of ``∂head/∂tail`` when an operation uses ``tail`` twice."""
        data = self.edges[tail, head]
        shape, old_kind, old_jacobian = tuple(data["shape"]), data["structure"], data["jacobian"]
        kind = sum_rule(old_kind, structure).result
        where = f"factor {tail!r} -> {head!r}"

        def combined(values: Mapping[str, np.ndarray]) -> Any:
            first = _block(old_kind, shape, old_jacobian, values, where)
            second = _block(structure, shape, jacobian, values, where)
            return add(first, second).data

        return kind, combined

    # ------------------------------------------------------------- inspection
    def _with_role(self, role: str) -> list[str]:
        return [n for n, r in self.nodes(data="role") if r == role]

    @property
    def parameters(self) -> list[str]:
        """Parameters in the order they were added (the Jacobian's column order)."""
        return self._with_role("parameter")

    @property
    def constants(self) -> list[str]:
        return self._with_role("constant")

    @property
    def outputs(self) -> list[str]:
        """Outputs in the order they were added (the Jacobian's row order)."""
        return self._with_role("output")

    @property
    def intermediates(self) -> list[str]:
        """Intermediate variables in topological order."""
        return [n for n in nx.topological_sort(self) if self.nodes[n]["role"] == "intermediate"]

    @property
    def is_symbolic(self) -> bool:
        """True when some size is a symbol (the graph can be planned, not executed)."""
        return any(not isinstance(s, int) for _, s in self.nodes(data="size"))

    def variable_size(self, name: str) -> Any:
        """Size of variable ``name`` (``DiGraph.size`` stays networkx's edge count)."""
        return self.nodes[name]["size"]

    def symbols(self) -> list[sympy.Symbol]:
        """The size symbols, sorted by name."""
        found: set = set()
        for _, size in self.nodes(data="size"):
            if isinstance(size, sympy.Basic):
                found |= size.free_symbols
        return sorted(found, key=str)

    def differentiated(self) -> nx.DiGraph:
        """The subgraph that the derivative needs: variables on a parameter-to-output path.

        Constants, and variables computed from constants only, carry no derivative
        and are left out.
        """
        from_parameters = _reachable(self.parameters, self.successors)
        to_outputs = _reachable(self.outputs, self.predecessors)
        return self.subgraph(from_parameters & to_outputs)

    def validate(self) -> JacobianGraph:
        """Check the graph describes a differentiable function; return it.

        Raises :class:`~analyzer.errors.CycleError` for a cycle and
        :class:`~analyzer.errors.GraphError` for mismatched shapes, a variable
        with no path to an output, an output that depends on no parameter, or a
        role used wrongly.
        """
        if self.number_of_nodes() == 0:
            raise GraphError("the graph is empty")
        self._check_attributes()
        if not nx.is_directed_acyclic_graph(self):
            cycle = nx.find_cycle(self)
            path = " -> ".join([e[0] for e in cycle] + [cycle[0][0]])
            raise CycleError(f"the graph has a cycle: {path}")
        if not self.outputs:
            raise GraphError("the graph has no output variable")
        if not self.parameters:
            raise GraphError("the graph has no parameter to differentiate against")
        for tail, head, data in self.edges(data=True):
            expected = (self.nodes[head]["size"], self.nodes[tail]["size"])
            if tuple(data["shape"]) != expected:
                raise GraphError(
                    f"factor {tail!r} -> {head!r} has shape {data['shape']}, "
                    f"expected (size {head}, size {tail}) = {expected}"
                )
            if not _is_kind(data["structure"]):
                raise GraphError(
                    f"factor {tail!r} -> {head!r} has unknown structure {data['structure']!r}; "
                    f"valid kinds: {', '.join(KINDS)}"
                )
            reason = kind_of(data["structure"]).shape_error(expected)
            if reason:
                raise GraphError(f"factor {tail!r} -> {head!r}: {reason}")
        for name, data in self.nodes(data=True):
            role = data["role"]
            if role in ("parameter", "constant") and self.in_degree(name):
                raise GraphError(f"{role} {name!r} cannot depend on other variables")
            if role == "output" and self.out_degree(name):
                raise GraphError(f"output {name!r} cannot feed other variables")
            if role in ("intermediate", "output") and not self.in_degree(name):
                raise GraphError(f"{role} {name!r} depends on no variable")
        reaches_output = set(self.outputs)
        for name in reversed(list(nx.topological_sort(self))):
            if any(s in reaches_output for s in self.successors(name)):
                reaches_output.add(name)
        for name in self.nodes:
            if name not in reaches_output:
                raise GraphError(f"variable {name!r} has no path to an output")
        from_parameters = _reachable(self.parameters, self.successors)
        for out in self.outputs:
            if out not in from_parameters:
                raise GraphError(f"output {out!r} depends on no parameter")
        return self

    def _check_attributes(self) -> None:
        """Attributes edited by hand (``g.nodes[n][...] = ...``) must still make sense."""
        for name, data in self.nodes(data=True):
            missing = [k for k in ("size", "role", "shape", "dtype") if k not in data]
            if missing:
                raise GraphError(f"variable {name!r} lost its {', '.join(missing)} attribute(s)")
            if data["role"] not in ROLES:
                raise GraphError(
                    f"variable {name!r} has role {data['role']!r}; valid roles: {', '.join(ROLES)}"
                )
            size = data["size"]
            if (
                isinstance(size, bool)
                or not isinstance(size, int | sympy.Basic)
                or (isinstance(size, int) and size < 1)
            ):
                raise GraphError(f"variable {name!r} has size {size!r}, not a positive integer")
            if not isinstance(data["dtype"], np.dtype) or data["dtype"].kind != "f":
                raise GraphError(
                    f"variable {name!r} has dtype {data['dtype']!r}, not a float dtype"
                )
            for key in ("evaluate", "value"):
                value = data.get(key)
                if key == "evaluate" and value is not None and not callable(value):
                    raise GraphError(f"variable {name!r}: evaluate must be callable, got {value!r}")
        for tail, head, data in self.edges(data=True):
            missing = [k for k in ("structure", "shape", "jacobian") if k not in data]
            if missing:
                raise GraphError(
                    f"factor {tail!r} -> {head!r} lost its {', '.join(missing)} attribute(s)"
                )
            if not isinstance(data["shape"], tuple):
                raise GraphError(f"factor {tail!r} -> {head!r} has shape {data['shape']!r}")
            jacobian = data["jacobian"]
            if jacobian is not None and not callable(jacobian):
                raise GraphError(f"factor {tail!r} -> {head!r}: jacobian must be callable")

    # -------------------------------------------------------------- numbers
    def _require_numeric(self) -> None:
        if self.is_symbolic:
            names = ", ".join(map(str, self.symbols()))
            raise GraphError(f"sizes are symbols ({names}); give numbers to evaluate the graph")

    @property
    def parameter_size(self) -> int:
        """Total number of scalar parameters (the Jacobian's column count)."""
        return sum(self.nodes[p]["size"] for p in self.parameters)

    @property
    def output_size(self) -> int:
        """Total number of scalar outputs (the Jacobian's row count)."""
        return sum(self.nodes[o]["size"] for o in self.outputs)

    def default_point(self, *, keep: bool = True) -> dict[str, np.ndarray]:
        """The parameters' default (seeded) values (``keep``: see :meth:`value`)."""
        self._require_numeric()
        point = {}
        for p in self.parameters:
            value = self.value(p, keep=keep)
            if value is None:
                raise PointError(f"parameter {p!r} has no default value; pass a point")
            point[p] = value
        return point

    def point(self, at: Any = None) -> dict[str, np.ndarray]:
        """Normalise a point: None (defaults), a dict of parameter values, or a flat vector.

        A flat vector concatenates the parameters, each flattened row-major, in
        graph order (the Jacobian's column order).
        """
        self._require_numeric()
        if at is None:
            point = self.default_point()
        elif isinstance(at, Mapping):
            unknown = sorted(map(str, set(at) - set(self.parameters)))
            if unknown:
                raise PointError(
                    f"unknown parameter(s) {', '.join(unknown)}; "
                    f"parameters are: {', '.join(self.parameters)}"
                )
            point = {p: (at[p] if p in at else self.value(p)) for p in self.parameters}
            for p, value in point.items():
                if value is None:
                    raise PointError(f"parameter {p!r} has no default value; give it in the point")
                shape, size = self.nodes[p]["shape"], self.nodes[p]["size"]
                given = _floats(value, f"parameter {p!r}")
                if given.shape != tuple(shape) and given.shape != (size,):
                    raise PointError(
                        f"parameter {p!r} has shape {given.shape}, expected {tuple(shape)} "
                        f"(or {size} values flattened row-major)"
                    )
        else:
            vector = _floats(at, "the point").ravel()
            if vector.size != self.parameter_size:
                raise PointError(
                    f"point has {vector.size} values, expected {self.parameter_size} "
                    f"(parameters {', '.join(self.parameters)} flattened and concatenated)"
                )
            point, start = {}, 0
            for p in self.parameters:
                size = self.nodes[p]["size"]
                point[p] = vector[start : start + size]
                start += size
        out = {}
        for p, value in point.items():
            value = _floats(value, f"parameter {p!r}")
            if not np.all(np.isfinite(value)):
                raise PointError(f"parameter {p!r} has NaN or infinite values")
            out[p] = value.reshape(self.nodes[p]["shape"])
        return out

    def flatten(self, point: Mapping[str, np.ndarray]) -> np.ndarray:
        """Concatenate parameter values, row-major, in graph order."""
        return np.concatenate([np.ravel(point[p]) for p in self.parameters])

    def evaluate(self, at: Any = None) -> dict[str, np.ndarray]:
        """Values of every variable at a point (see :meth:`point`)."""
        values: dict[str, np.ndarray] = dict(self.point(at))
        for name in nx.topological_sort(self):
            data = self.nodes[name]
            if data["role"] == "constant":
                value = self.value(name)
                if value is None:
                    raise PointError(f"constant {name!r} has no value")
                if not np.all(np.isfinite(_floats(value, f"constant {name!r}"))):
                    raise PointError(f"constant {name!r} has NaN or infinite values")
                values[name] = value
            elif data["role"] in ("intermediate", "output"):
                if data["evaluate"] is None:
                    raise GraphError(f"{data['role']} {name!r} has no evaluate callable")
                value = _floats(data["evaluate"](values), f"the value of {name!r}")
                if value.size != data["size"]:
                    raise GraphError(
                        f"{data['role']} {name!r} has size {data['size']}, its evaluate "
                        f"callable gave {value.size} values (shape {value.shape})"
                    )
                values[name] = value.reshape(data["shape"])
        return values

    def function(self, at: Any = None) -> np.ndarray:
        """The outputs, flattened and concatenated, at a point."""
        values = self.evaluate(at)
        return np.concatenate([np.ravel(values[o]) for o in self.outputs])

    def factor(self, tail: str, head: str, values: Mapping[str, np.ndarray]) -> Block:
        """The numeric factor ``∂head/∂tail`` at the given variable values."""
        data = self.edges[tail, head]
        shape = tuple(data["shape"])
        return _block(
            data["structure"], shape, data["jacobian"], values, f"factor {tail!r} -> {head!r}"
        )


def _block(
    kind: str, shape: tuple, jacobian: Callable | None, values: Mapping, where: str
) -> Block:
    """The block of ``kind`` whose stored numbers ``jacobian`` gives at ``values``."""
    if kind_of(kind).name in ("zero", "identity"):
        return Block(kind_of(kind), shape, None)
    if jacobian is None:
        raise GraphError(f"{where} has no jacobian callable")
    numbers = jacobian(values)
    spec = kind_of(kind)
    expected = spec.stored(shape)
    try:
        count = spec.count(numbers)
    except AnalyzerError as error:
        raise GraphError(f"{where}: {error}") from None
    except (TypeError, ValueError):
        count = None
    if count != expected:
        raise GraphError(
            f"{where} ({kind}, shape {shape}) must give {expected} numbers, "
            f"its jacobian gave {count if count is not None else type(numbers).__name__}"
        )
    if _complex(numbers):
        raise GraphError(f"{where}: its jacobian gave complex numbers")
    try:
        block = Block(spec, shape, spec.read(numbers, shape))
        finite = spec.finite(block.data)
    except AnalyzerError as error:
        raise GraphError(f"{where}: {error}") from None
    except (TypeError, ValueError) as error:
        raise GraphError(
            f"{where}: its jacobian gave numbers that are not floats: {error}"
        ) from None
    if block.data is not None and not finite:
        raise GraphError(f"{where}: its jacobian gave NaN or infinite numbers at this point")
    if isinstance(block.data, LinearMap):  # its tangent and adjoint name the factor
        block = Block(spec, shape, block.data.named(where))
    return block
