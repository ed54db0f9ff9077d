"""The numpy tracer: traced functions give their values, Jacobians and exact counts.

Every traced function is checked against the function itself (its value at the
example point and at another point), against central finite differences of the
plain numpy function (written here, apart from the library's), across every
order and cost model (``analyzer.check``), and, where there is one, against the
closed-form Jacobian.
"""

from __future__ import annotations

import inspect
import tracemalloc
from typing import Any, NamedTuple

import numpy as np
import pytest

import analyzer
from analyzer import models
from analyzer.errors import TraceError
from analyzer.frontends import TracedArray, trace

RNG = np.random.default_rng(42)
v3 = RNG.standard_normal(3)
a4, b4 = RNG.standard_normal(4), RNG.standard_normal(4)
pos4 = np.abs(RNG.standard_normal(4)) + 0.5  # positive entries, away from 0
X34, Y34 = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))
N42, Y32 = RNG.standard_normal((4, 2)), RNG.standard_normal((3, 2))
T234 = RNG.standard_normal((2, 3, 4))
C4 = RNG.standard_normal(4)  # a constant
A34 = RNG.standard_normal((3, 4))  # a constant matrix
s0 = np.array(0.7)  # a 0-d traced scalar
I3, I4, I12 = np.eye(3), np.eye(4), np.eye(12)


# --------------------------------------------------------------------------- helpers
def flat(result: Any) -> np.ndarray:
    items = result if isinstance(result, tuple | list) else [result]
    return np.concatenate([np.ravel(r) for r in items])


def default_positions(args: tuple) -> tuple[int, ...]:
    return tuple(i for i, a in enumerate(args) if isinstance(a, np.ndarray) and a.dtype.kind == "f")


def function_differences(f, args: tuple, positions, step: float = 1e-6) -> np.ndarray:
    """Central differences of the plain numpy function ``f`` in the arguments at ``positions``."""
    columns = []
    for i in positions:
        base = np.asarray(args[i], dtype=float)
        for j in range(base.size):
            h = step * max(1.0, abs(base.flat[j]))
            up, down = base.copy(), base.copy()
            up.flat[j] += h
            down.flat[j] -= h
            moved_up = list(args)
            moved_down = list(args)
            moved_up[i], moved_down[i] = up, down
            columns.append((flat(f(*moved_up)) - flat(f(*moved_down))) / (2 * h))
    return np.stack(columns, axis=1)


def jacobian(g, order: str = "output-first", cost: str = "structured") -> np.ndarray:
    return analyzer.execute(analyzer.plan(g, order, cost), repeat=1, warmup=0).jacobian


def assert_relative(actual: np.ndarray, expected: np.ndarray, tol: float) -> None:
    scale = max(float(np.abs(expected).max(initial=0.0)), 1.0)
    assert actual.shape == expected.shape
    assert float(np.abs(actual - expected).max(initial=0.0)) <= tol * scale


def traced(f, *args, wrt=None) -> tuple[analyzer.JacobianGraph, np.ndarray]:
    """Trace ``f`` and check what holds for every traced function; return graph and Jacobian.

    The graph's function equals ``f`` at the example point and at a moved point;
    every order under both cost models gives one Jacobian (rtol 1e-8), equal to
    finite differences of the graph, with executed macs equal to planned macs
    (``analyzer.check``); and that Jacobian equals central differences of ``f``.
    """
    g = trace(f, *args, wrt=wrt)
    names = list(inspect.signature(f).parameters)
    positions = default_positions(args) if wrt is None else wrt
    positions = (positions,) if isinstance(positions, int | str) else tuple(positions)
    positions = tuple(sorted(names.index(p) if isinstance(p, str) else p for p in positions))
    np.testing.assert_allclose(g.function(), flat(f(*args)), rtol=1e-13, atol=1e-14)
    moved = list(args)
    for i in positions:
        moved[i] = args[i] + 0.1 * np.cos(np.arange(np.size(args[i]))).reshape(np.shape(args[i]))
    point = {p: moved[i] for p, i in zip(g.parameters, positions, strict=True)}
    np.testing.assert_allclose(g.function(point), flat(f(*moved)), rtol=1e-12, atol=1e-14)
    table = analyzer.check(g, rtol=1e-8)
    assert table["ok"].all()
    assert (table["planned_macs"] == table["executed_macs"]).all()
    J = jacobian(g)
    assert_relative(J, function_differences(f, args, positions), 1e-7)
    return g, J


def kinds(g) -> dict[tuple[str, str], str]:
    return {(t, h): k for t, h, k in g.edges(data="structure")}


# --------------------------------------------------------------------------- operations
class Case(NamedTuple):
    id: str
    f: Any
    args: tuple
    wrt: tuple
    kinds: dict  # expected structure kind of each factor
    closed: Any = None  # the closed-form Jacobian as a function of the arguments


def diag_case(id, f, x, head, kind, derivative) -> Case:
    """An elementwise function of one argument: the Jacobian is diag(derivative(x))."""
    return Case(id, f, (x,), (0,), {("x", head): kind}, lambda x: np.diag(np.ravel(derivative(x))))


def _x(f):
    """Give a one-argument lambda the argument name ``x``."""

    def named(x):
        return f(x)

    return named


ELEMENTWISE = [
    diag_case("exp", _x(np.exp), a4, "exp_1", "diagonal", np.exp),
    diag_case("log", _x(np.log), pos4, "log_1", "diagonal", lambda x: 1 / x),
    diag_case("tanh", _x(np.tanh), a4, "tanh_1", "diagonal", lambda x: 1 - np.tanh(x) ** 2),
    diag_case("tanh-matrix", _x(np.tanh), X34, "tanh_1", "diagonal", lambda x: 1 / np.cosh(x) ** 2),
    diag_case("sin", _x(np.sin), a4, "sin_1", "diagonal", np.cos),
    diag_case("cos", _x(np.cos), a4, "cos_1", "diagonal", lambda x: -np.sin(x)),
    diag_case("sqrt", _x(np.sqrt), pos4, "sqrt_1", "diagonal", lambda x: 0.5 / np.sqrt(x)),
    diag_case("square", _x(np.square), a4, "square_1", "diagonal", lambda x: 2 * x),
    diag_case("np.abs", _x(np.abs), a4, "abs_1", "diagonal", np.sign),
    diag_case("abs()", _x(abs), a4, "abs_1", "diagonal", np.sign),
    diag_case(
        "reciprocal", _x(np.reciprocal), pos4, "reciprocal_1", "diagonal", lambda x: -1 / x**2
    ),
    diag_case("relu", _x(lambda x: np.maximum(x, 0)), a4, "maximum_1", "diagonal", lambda x: x > 0),
    diag_case("x ** 3", _x(lambda x: x**3), a4, "power_1", "diagonal", lambda x: 3 * x**2),
    diag_case(
        "x ** 0.5", _x(lambda x: x**0.5), pos4, "power_1", "diagonal", lambda x: 0.5 / x**0.5
    ),
    diag_case("x * x", _x(lambda x: x * x), a4, "multiply_1", "diagonal", lambda x: 2 * x),
    diag_case("4.0 / x", _x(lambda x: 4.0 / x), pos4, "divide_1", "diagonal", lambda x: -4 / x**2),
    diag_case("x * c", _x(lambda x: x * C4), a4, "multiply_1", "diagonal", lambda x: C4),
    diag_case("-x", _x(lambda x: -x), a4, "negative_1", "scalar", lambda x: -np.ones(4)),
    diag_case("+x", _x(lambda x: +x), a4, "positive_1", "identity", np.ones_like),
    diag_case("x * 3.0", _x(lambda x: x * 3.0), a4, "multiply_1", "scalar", lambda x: 3 + 0 * x),
    diag_case("3 * x", _x(lambda x: 3 * x), a4, "multiply_1", "scalar", lambda x: 3 + 0 * x),
    diag_case(
        "np.float64 * x",
        _x(lambda x: np.float64(2.5) * x),
        a4,
        "multiply_1",
        "scalar",
        lambda x: 2.5 + 0 * x,
    ),
    diag_case("x / 4.0", _x(lambda x: x / 4.0), a4, "divide_1", "scalar", lambda x: 0.25 + 0 * x),
    diag_case("x - 1", _x(lambda x: x - 1), a4, "subtract_1", "identity", np.ones_like),
    diag_case("x + c", _x(lambda x: x + C4), a4, "add_1", "identity", np.ones_like),
    diag_case("1 - x", _x(lambda x: 1 - x), a4, "subtract_1", "scalar", lambda x: -np.ones(4)),
    diag_case("x - x", _x(lambda x: x - x), a4, "subtract_1", "scalar", np.zeros_like),
]


def pair(id, f, kinds_ab, closed) -> Case:
    """A function of two traced vectors a and b of the same shape."""

    def named(a, b):
        return f(a, b)

    head = f"{id}_1"
    return Case(
        id, named, (a4, b4), (0, 1), {("a", head): kinds_ab[0], ("b", head): kinds_ab[1]}, closed
    )


BINARY = [
    pair("add", lambda a, b: a + b, ("identity", "identity"), lambda a, b: np.hstack([I4, I4])),
    pair("subtract", lambda a, b: a - b, ("identity", "scalar"), lambda a, b: np.hstack([I4, -I4])),
    pair(
        "multiply",
        lambda a, b: a * b,
        ("diagonal", "diagonal"),
        lambda a, b: np.hstack([np.diag(b), np.diag(a)]),
    ),
    pair(
        "divide",
        lambda a, b: a / b,
        ("diagonal", "diagonal"),
        lambda a, b: np.hstack([np.diag(1 / b), np.diag(-a / b**2)]),
    ),
    pair(
        "maximum",
        np.maximum,
        ("diagonal", "diagonal"),
        lambda a, b: np.hstack([np.diag(a >= b), np.diag(a < b)]) * 1.0,
    ),
    pair(
        "minimum",
        np.minimum,
        ("diagonal", "diagonal"),
        lambda a, b: np.hstack([np.diag(a <= b), np.diag(a > b)]) * 1.0,
    ),
]


def bias_add(X, b):
    return X + b


def row_scaling(X, s):
    return X * s[:, None]


def scalar_times_matrix(s, X):
    return s * X


def minus_bias(X, b):
    return X - b


def affine_rows(X, W, b):
    return X @ W + b


BROADCASTING = [
    Case(
        "X + b",
        bias_add,
        (X34, a4),
        (0, 1),
        {("X", "add_1"): "identity", ("b", "add_1"): "selection"},
        lambda X, b: np.hstack([I12, np.kron(np.ones((3, 1)), I4)]),
    ),
    Case(
        "X - b",
        minus_bias,
        (X34, a4),
        (0, 1),
        {("X", "subtract_1"): "identity", ("b", "subtract_1"): "dense"},
        lambda X, b: np.hstack([I12, -np.kron(np.ones((3, 1)), I4)]),
    ),
    Case(
        "X * s[:, None]",
        row_scaling,
        (X34, v3),
        (0, 1),
        {
            ("X", "multiply_2"): "diagonal",
            ("s", "slice_1"): "selection",
            ("slice_1", "multiply_2"): "dense",
        },
        lambda X, s: np.hstack(
            [np.diag(np.repeat(s, 4)), np.kron(I3, np.ones((4, 1))) * X.ravel()[:, None]]
        ),
    ),
    Case(
        "s * X",
        scalar_times_matrix,
        (s0, X34),
        (0, 1),
        {("s", "multiply_1"): "dense", ("X", "multiply_1"): "diagonal"},
        lambda s, X: np.hstack([X.reshape(12, 1), s * I12]),
    ),
    Case(
        "X @ W + b",
        affine_rows,
        (X34, N42, RNG.standard_normal(2)),
        (1, 2),
        {
            ("W", "matmul_1"): "kron-identity[2]",
            ("matmul_1", "add_2"): "identity",
            ("b", "add_2"): "selection",
        },
        lambda X, W, b: np.hstack([np.kron(X, np.eye(2)), np.kron(np.ones((3, 1)), np.eye(2))]),
    ),
]


def mm(a, b):
    return a @ b


def np_matmul(a, b):
    return np.matmul(a, b)


def np_dot(a, b):
    return np.dot(a, b)


def method_dot(a, b):
    return a.dot(b)


def constant_left(x, A):
    return A @ x


def constant_right(x, A):
    return x @ A


MATMUL = [
    Case(
        "vector @ vector",
        mm,
        (a4, b4),
        (0, 1),
        {("a", "matmul_1"): "dense", ("b", "matmul_1"): "dense"},
        lambda a, b: np.hstack([b, a])[None, :],
    ),
    Case(
        "matrix @ vector",
        mm,
        (X34, a4),
        (0, 1),
        {("a", "matmul_1"): "row-block", ("b", "matmul_1"): "dense"},
        lambda a, b: np.hstack([np.kron(I3, b[None, :]), a]),
    ),
    Case(
        "vector @ matrix",
        mm,
        (v3, X34),
        (0, 1),
        {("a", "matmul_1"): "dense", ("b", "matmul_1"): "kron-identity[4]"},
        lambda a, b: np.hstack([b.T, np.kron(a[None, :], I4)]),
    ),
    Case(
        "matrix @ matrix",
        mm,
        (X34, N42),
        (0, 1),
        {("a", "matmul_1"): "block-diagonal[3]", ("b", "matmul_1"): "kron-identity[2]"},
        lambda a, b: np.hstack([np.kron(I3, b.T), np.kron(a, np.eye(2))]),
    ),
    Case(
        "np.matmul(matrix, vector)",
        np_matmul,
        (X34, a4),
        (0, 1),
        {("a", "matmul_1"): "row-block", ("b", "matmul_1"): "dense"},
        lambda a, b: np.hstack([np.kron(I3, b[None, :]), a]),
    ),
    Case(
        "np.dot(matrix, matrix)",
        np_dot,
        (X34, N42),
        (0, 1),
        {("a", "dot_1"): "block-diagonal[3]", ("b", "dot_1"): "kron-identity[2]"},
        lambda a, b: np.hstack([np.kron(I3, b.T), np.kron(a, np.eye(2))]),
    ),
    Case(
        "np.dot(vector, vector)",
        np_dot,
        (a4, b4),
        (0, 1),
        {("a", "dot_1"): "dense", ("b", "dot_1"): "dense"},
        lambda a, b: np.hstack([b, a])[None, :],
    ),
    Case(
        "np.dot(scalar, vector)",
        np_dot,
        (s0, a4),
        (0, 1),
        {("a", "dot_1"): "dense", ("b", "dot_1"): "diagonal"},
        lambda a, b: np.hstack([b[:, None], a * I4]),
    ),
    Case(
        "a.dot(b)",
        method_dot,
        (X34, a4),
        (0, 1),
        {("a", "dot_1"): "row-block", ("b", "dot_1"): "dense"},
        lambda a, b: np.hstack([np.kron(I3, b[None, :]), a]),
    ),
    Case(
        "A @ x (constant A)",
        constant_left,
        (a4, A34),
        (0,),
        {("x", "matmul_1"): "dense"},
        lambda x, A: A,
    ),
    Case(
        "x @ A (constant A)",
        constant_right,
        (v3, A34),
        (0,),
        {("x", "matmul_1"): "dense"},
        lambda x, A: A.T,
    ),
]


def reduction(id, f, x, head, closed) -> Case:
    kind = "dense" if "mean" in id else "summation"  # a mean is a scaled summation: dense
    return Case(id, _x(f), (x,), (0,), {("x", head): kind}, lambda x: closed)


REDUCTIONS = [
    reduction("np.sum", np.sum, X34, "sum_1", np.ones((1, 12))),
    reduction("x.sum()", lambda x: x.sum(), a4, "sum_1", np.ones((1, 4))),
    reduction("sum axis 0", lambda x: x.sum(axis=0), X34, "sum_1", np.tile(I4, (1, 3))),
    reduction("sum axis 1", lambda x: np.sum(x, axis=1), X34, "sum_1", np.kron(I3, np.ones(4))),
    reduction("sum axis -1", lambda x: np.sum(x, -1), X34, "sum_1", np.kron(I3, np.ones(4))),
    reduction(
        "sum keepdims",
        lambda x: np.sum(x, axis=1, keepdims=True),
        X34,
        "sum_1",
        np.kron(I3, np.ones(4)),
    ),
    reduction("sum axis (0, 1)", lambda x: np.sum(x, axis=(0, 1)), X34, "sum_1", np.ones((1, 12))),
    reduction("np.mean", np.mean, X34, "mean_1", np.ones((1, 12)) / 12),
    reduction("mean axis 0", lambda x: x.mean(axis=0), X34, "mean_1", np.tile(I4, (1, 3)) / 3),
    reduction(
        "mean keepdims",
        lambda x: np.mean(x, axis=1, keepdims=True),
        X34,
        "mean_1",
        np.kron(I3, np.ones(4)) / 4,
    ),
    reduction("sum axis 0 of 3-d", lambda x: x.sum(0), T234, "sum_1", np.tile(np.eye(12), (1, 2))),
]


def select(shape, key) -> np.ndarray:
    """The 0/1 matrix picking ``x[key]`` out of the row-major flattening of ``x``."""
    size = int(np.prod(shape))
    return np.eye(size)[np.ravel(np.arange(size).reshape(shape)[key])]


def structural(id, f, x, head, kind, closed) -> Case:
    return Case(id, _x(f), (x,), (0,), {("x", head): kind}, lambda x: closed)


TRANSPOSED = np.eye(12)[np.arange(12).reshape(3, 4).T.ravel()]
STRUCTURAL = [
    structural("x.reshape(4, 3)", lambda x: x.reshape(4, 3), X34, "reshape_1", "identity", I12),
    structural("x.reshape((2, 6))", lambda x: x.reshape((2, 6)), X34, "reshape_1", "identity", I12),
    structural("np.reshape", lambda x: np.reshape(x, (12,)), X34, "reshape_1", "identity", I12),
    structural("x.ravel()", lambda x: x.ravel(), X34, "ravel_1", "identity", I12),
    structural("np.ravel", np.ravel, X34, "ravel_1", "identity", I12),
    structural("x.flatten()", lambda x: x.flatten(), X34, "ravel_1", "identity", I12),
    structural("np.squeeze", lambda x: np.squeeze(x), X34[None], "squeeze_1", "identity", I12),
    structural(
        "np.expand_dims", lambda x: np.expand_dims(x, 0), X34, "expand_dims_1", "identity", I12
    ),
    structural("x.T", lambda x: x.T, X34, "transpose_1", "selection", TRANSPOSED),
    structural("np.transpose", np.transpose, X34, "transpose_1", "selection", TRANSPOSED),
    structural(
        "x.transpose()", lambda x: x.transpose(), X34, "transpose_1", "selection", TRANSPOSED
    ),
    structural(
        "x.transpose(1, 0)",
        lambda x: x.transpose(1, 0),
        X34,
        "transpose_1",
        "selection",
        TRANSPOSED,
    ),
    structural("vector.T", lambda x: x.T, a4, "transpose_1", "identity", I4),
    structural(
        "x.transpose((1, 0, 2))",
        lambda x: x.transpose((1, 0, 2)),
        T234,
        "transpose_1",
        "selection",
        np.eye(24)[np.arange(24).reshape(2, 3, 4).transpose(1, 0, 2).ravel()],
    ),
    structural("x[1:3]", lambda x: x[1:3], a4, "slice_1", "selection", I4[1:3]),
    structural("x[::2]", lambda x: x[::2], a4, "slice_1", "selection", I4[::2]),
    structural("x[::-1]", lambda x: x[::-1], a4, "slice_1", "selection", I4[::-1]),
    structural("x[1]", lambda x: x[1], a4, "slice_1", "selection", I4[1:2]),
    structural(
        "x[0, 1:]",
        lambda x: x[0, 1:],
        X34,
        "slice_1",
        "selection",
        select((3, 4), (0, slice(1, None))),
    ),
    structural(
        "x[:, ::2]",
        lambda x: x[:, ::2],
        X34,
        "slice_1",
        "selection",
        select((3, 4), (slice(None), slice(None, None, 2))),
    ),
    structural(
        "x[..., 1]", lambda x: x[..., 1], X34, "slice_1", "selection", select((3, 4), (Ellipsis, 1))
    ),
    structural("x[None, :]", lambda x: x[None, :], a4, "slice_1", "selection", I4),
    structural(
        "iterating rows",
        lambda x: np.stack([row for row in x]),
        X34,
        "slice_1",
        "selection",
        I12,
    ),
]


def concat(a, b):
    return np.concatenate([a, b])


def concat_constant(a, b):
    return np.concatenate([a, C4, b])


def concat_columns(a, b):
    return np.concatenate((a, b), axis=1)


def stack(a, b):
    return np.stack([a, b])


def stack_columns(a, b):
    return np.stack([a, b], axis=1)


def stack_constant(a, b):
    return np.stack([C4, a * b])


def concat_twice(a, b):
    return np.concatenate([a, b, a])


E8 = np.eye(8)
JOINING = [
    Case(
        "np.concatenate",
        concat,
        (a4, b4),
        (0, 1),
        {("a", "concatenate_1"): "selection", ("b", "concatenate_1"): "selection"},
        lambda a, b: E8,
    ),
    Case(
        "np.concatenate with a constant",
        concat_constant,
        (a4, b4),
        (0, 1),
        {("a", "concatenate_1"): "selection", ("b", "concatenate_1"): "selection"},
        lambda a, b: np.vstack(
            [np.hstack([I4, 0 * I4]), np.zeros((4, 8)), np.hstack([0 * I4, I4])]
        ),
    ),
    Case(
        "np.concatenate axis 1",
        concat_columns,
        (X34, Y32),
        (0, 1),
        {("a", "concatenate_1"): "selection", ("b", "concatenate_1"): "selection"},
        None,
    ),
    Case(
        "np.concatenate of one operand twice",
        concat_twice,
        (a4, b4),
        (0, 1),
        {("a", "concatenate_1"): "dense", ("b", "concatenate_1"): "selection"},
        lambda a, b: np.vstack([E8, np.hstack([I4, 0 * I4])]),
    ),
    Case(
        "np.stack",
        stack,
        (a4, b4),
        (0, 1),
        {("a", "stack_1"): "selection", ("b", "stack_1"): "selection"},
        lambda a, b: E8,
    ),
    Case(
        "np.stack axis 1",
        stack_columns,
        (a4, b4),
        (0, 1),
        {("a", "stack_1"): "selection", ("b", "stack_1"): "selection"},
        lambda a, b: np.eye(8)[np.arange(8).reshape(2, 4).T.ravel()],
    ),
    Case(
        "np.stack with a constant",
        stack_constant,
        (a4, b4),
        (0, 1),
        {("multiply_1", "stack_2"): "selection"},
        lambda a, b: np.vstack([np.zeros((4, 8)), np.hstack([np.diag(b), np.diag(a)])]),
    ),
]

OPERATIONS = ELEMENTWISE + BINARY + BROADCASTING + MATMUL + REDUCTIONS + STRUCTURAL + JOINING


@pytest.mark.parametrize("case", OPERATIONS, ids=[c.id for c in OPERATIONS])
def test_operation(case: Case) -> None:
    g, J = traced(case.f, *case.args, wrt=case.wrt)
    found = kinds(g)
    for edge, kind in case.kinds.items():
        assert found[edge] == kind, edge
    if case.closed is not None:
        assert_relative(J, np.asarray(case.closed(*case.args), dtype=float).reshape(J.shape), 1e-12)


# --------------------------------------------------------------------------- exact numbers
def sheet(w, W, x):
    """The course sheet's network (1) as plain numpy."""
    return np.tanh(w @ np.tanh(W @ x))


@pytest.mark.parametrize("wrt", [("w", "W"), (0, 1), ("W", "w")])
def test_sheet_network_counts_and_jacobian_equal_one_layer(wrt) -> None:
    reference = models.one_layer(10, 5)
    args = reference.value("w"), reference.value("W"), reference.value("x")
    g = trace(sheet, *args, wrt=wrt)
    assert g.parameters == ["w", "W"]  # argument order, as one_layer's columns [∂/∂w, ∂/∂W]
    dense = analyzer.compare(g, "dense").set_index("order")["macs"]
    assert (dense["input-first"], dense["output-first"], dense["optimal"]) == (5560, 620, 620)
    for cost in ("dense", "structured"):
        ours = analyzer.compare(g, cost)["macs"].tolist()
        assert ours == analyzer.compare(reference, cost)["macs"].tolist()
        for order in ("input-first", "output-first", "optimal"):
            p = analyzer.plan(g, order, cost)
            run = analyzer.execute(p, repeat=1, warmup=0)
            assert run.macs == p.macs
            np.testing.assert_allclose(run.jacobian, jacobian(reference, order, cost), rtol=1e-10)
    np.testing.assert_allclose(g.function(), reference.function(), rtol=1e-14)
    assert analyzer.check(g, rtol=1e-8)["ok"].all()


def test_sheet_network_at_64_by_32_equals_one_layer() -> None:
    reference = models.one_layer(64, 32)
    args = reference.value("w"), reference.value("W"), reference.value("x")
    g = trace(sheet, *args, wrt=("w", "W"))
    for cost in ("dense", "structured"):
        assert (
            analyzer.compare(g, cost)["macs"].tolist()
            == analyzer.compare(reference, cost)["macs"].tolist()
        )
    assert analyzer.plan(g, "input-first").macs == analyzer.plan(reference, "input-first").macs
    np.testing.assert_allclose(jacobian(g), jacobian(reference), rtol=1e-10)


def test_bias_free_mlp_counts_equal_models_mlp() -> None:
    reference = models.mlp([6, 5, 4, 3])

    def mlp(W1, W2, W3, x):
        return W3 @ np.tanh(W2 @ np.tanh(W1 @ x))

    args = [reference.value(p) for p in ("W1", "W2", "W3", "x")]
    g, J = traced(mlp, *args, wrt=(0, 1, 2))
    for cost in ("dense", "structured"):
        assert (
            analyzer.compare(g, cost)["macs"].tolist()
            == analyzer.compare(reference, cost)["macs"].tolist()
        )
    np.testing.assert_allclose(J, jacobian(reference), rtol=1e-10)


def test_least_squares_gradient_is_closed_form() -> None:
    reference = models.least_squares(6, 4)
    A, b, x = reference.graph["A"], reference.value("b"), reference.value("x")

    def least_squares(x, A, b):
        return 0.5 * np.sum((A @ x - b) ** 2)

    g, J = traced(least_squares, x, A, b, wrt="x")
    np.testing.assert_allclose(J, (A.T @ (A @ x - b))[None, :], rtol=1e-12)
    np.testing.assert_allclose(g.function(), reference.function(), rtol=1e-14)


def test_affine_jacobian_is_B() -> None:
    reference = models.affine(3, 5)
    B, c, x = reference.graph["B"], reference.value("c"), reference.value("x")

    def affine(x, B, c):
        return B @ x + c

    g, J = traced(affine, x, B, c, wrt="x")
    np.testing.assert_allclose(J, B, rtol=1e-14)
    np.testing.assert_allclose(g.function(), reference.function(), rtol=1e-14)


def test_factorization_gradients_are_closed_form() -> None:
    reference = models.factorization(4, 5, 2)
    P, Q, M = reference.value("P"), reference.value("Q"), reference.value("M")

    def factorization(P, Q, M):
        return 0.5 * np.sum((M - P @ Q) ** 2)

    g, J = traced(factorization, P, Q, M, wrt=("P", "Q"))
    E = M - P @ Q
    expected = np.concatenate([(-E @ Q.T).ravel(), (-P.T @ E).ravel()])[None, :]
    np.testing.assert_allclose(J, expected, rtol=1e-12)
    np.testing.assert_allclose(g.function(), reference.function(), rtol=1e-14)


# --------------------------------------------------------------------------- networks
def softmax(z):
    """Softmax over the last axis (without the row-wise max subtraction, not traceable)."""
    e = np.exp(z)
    return e / np.sum(e, axis=-1, keepdims=True)


def mlp_cross_entropy(W1, b1, W2, b2, W3, b3, X, Y):
    """A 3-layer MLP with biases and the softmax cross-entropy loss on a batch."""
    h = np.tanh(X @ W1 + b1)
    h = np.tanh(h @ W2 + b2)
    z = h @ W3 + b3
    log_p = np.log(softmax(z))
    return -np.sum(Y * log_p) / X.shape[0]


def test_mlp_with_biases_and_softmax_cross_entropy() -> None:
    rng = np.random.default_rng(5)
    batch, sizes = 4, [3, 4, 3, 3]
    params = []
    for n_in, n_out in zip(sizes, sizes[1:], strict=False):
        params += [rng.standard_normal((n_in, n_out)) / np.sqrt(n_in), rng.standard_normal(n_out)]
    X = rng.standard_normal((batch, sizes[0]))
    Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], batch)]
    g, J = traced(mlp_cross_entropy, *params, X, Y, wrt=range(6))
    assert g.parameters == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert J.shape == (1, sum(p.size for p in params))
    # the gradient with respect to the last bias is the batch mean of softmax - Y
    z = np.tanh(np.tanh(X @ params[0] + params[1]) @ params[2] + params[3]) @ params[4] + params[5]
    expected_b3 = np.mean(softmax(z) - Y, axis=0)
    np.testing.assert_allclose(J[0, -3:], expected_b3, rtol=1e-10)
    macs = analyzer.compare(g, "dense").set_index("order")["macs"]
    assert macs["output-first"] < macs["input-first"]  # a scalar loss: backprop wins


def residual(W, x):
    return x + np.tanh(W @ x)


def test_residual_block_closed_form() -> None:
    rng = np.random.default_rng(6)
    W, x = rng.standard_normal((4, 4)), rng.standard_normal(4)
    g, J = traced(residual, W, x)
    d = 1 - np.tanh(W @ x) ** 2
    expected = np.hstack([np.diag(d) @ np.kron(np.eye(4), x[None, :]), np.eye(4) + d[:, None] * W])
    np.testing.assert_allclose(J, expected, rtol=1e-12)
    assert kinds(g)[("x", "add_3")] == "identity"  # the skip connection
    assert kinds(g)[("W", "matmul_1")] == "row-block"


def attention(Wq, Wk, Wv, X):
    """Single-head attention softmax(Q Kᵀ / √d) V."""
    Q, K, V = X @ Wq, X @ Wk, X @ Wv
    return softmax(Q @ K.T / np.sqrt(Q.shape[1])) @ V


def test_single_head_attention() -> None:
    rng = np.random.default_rng(7)
    T, d_in, d = 3, 4, 2
    Wq, Wk, Wv = (rng.standard_normal((d_in, d)) for _ in range(3))
    X = rng.standard_normal((T, d_in))
    g, J = traced(attention, Wq, Wk, Wv, X, wrt=("Wq", "Wk", "Wv"))
    assert J.shape == (T * d, 3 * d_in * d)
    assert g.nodes["transpose_4"]["label"] == "matmul_2.T"
    assert kinds(g)[("matmul_5", "divide_6")] == "scalar"  # / √d
    # V enters linearly: the Jacobian's Wv block is kron(A X, I_d)
    Q, K = X @ Wq, X @ Wk
    weights = softmax(Q @ K.T / np.sqrt(d))
    np.testing.assert_allclose(J[:, 2 * d_in * d :], np.kron(weights @ X, np.eye(d)), rtol=1e-10)


# --------------------------------------------------------------------------- graph shape
def test_names_labels_and_parameter_order() -> None:
    g = trace(sheet, v3, X34, a4, wrt=("W", "w"))
    assert g.parameters == ["w", "W"] and g.constants == []
    assert list(g.nodes) == ["w", "W", "matmul_1", "tanh_2", "matmul_3", "tanh_4"]
    labels = dict(g.nodes(data="label"))
    assert labels["matmul_1"] == "W @ x"
    assert labels["tanh_2"] == "np.tanh(matmul_1)"
    assert labels["matmul_3"] == "w @ tanh_2"
    assert g.graph["name"] == "sheet"
    assert trace(lambda x: np.sum(x, axis=0), X34, name="rows").graph["name"] == "rows"
    assert trace(lambda x: x.sum(axis=1), X34).nodes["sum_1"]["label"] == "x.sum(axis=1)"
    assert trace(lambda x: x[0, 1:], X34).nodes["slice_1"]["label"] == "x[0, 1:]"
    assert trace(lambda x: x[::2], a4).nodes["slice_1"]["label"] == "x[::2]"


def test_traced_array_answers_shape_queries() -> None:
    seen = {}

    def f(x):
        seen.update(shape=x.shape, ndim=x.ndim, size=x.size, len=len(x), np_shape=np.shape(x))
        seen.update(np_ndim=np.ndim(x), np_size=np.size(x), dtype=x.dtype, type=type(x))
        return np.sin(x)

    trace(f, X34)
    assert seen == {
        "shape": (3, 4),
        "ndim": 2,
        "size": 12,
        "len": 3,
        "np_shape": (3, 4),
        "np_ndim": 2,
        "np_size": 12,
        "dtype": np.dtype(float),
        "type": TracedArray,
    }


def test_outputs_follow_the_returned_order() -> None:
    def both(W, x):
        h = np.tanh(W @ x)
        return np.sum(h), h

    g, J = traced(both, X34, a4, wrt=0)
    assert g.outputs == ["sum_3", "output_4"]  # h feeds the sum: it gets an output of its own
    assert kinds(g)[("tanh_2", "output_4")] == "identity"
    assert g.nodes["output_4"]["label"] == "tanh_2"

    def reversed_order(W, x):
        h = np.tanh(W @ x)
        return h, np.sum(h)

    g, _ = traced(reversed_order, X34, a4, wrt=0)
    assert g.outputs == ["output_4", "sum_3"]


def test_returned_parameter_and_repeated_output() -> None:
    g, J = traced(lambda x: (x, np.sin(x), np.sin(x)), a4)
    assert g.outputs == ["output_3", "sin_1", "sin_2"]
    np.testing.assert_allclose(J, np.vstack([I4, np.diag(np.cos(a4)), np.diag(np.cos(a4))]))
    g, _ = traced(lambda x: [np.exp(x)] * 2, a4)
    assert g.outputs == ["output_2", "output_3"]


def test_dead_code_and_unused_arguments_are_left_out() -> None:
    def f(x, y):
        np.sin(x) * y  # computed, never returned
        return np.exp(x)

    g = trace(f, a4, b4)  # y is a float array, so differentiated by default; unused: dropped
    assert g.parameters == ["x"] and list(g.nodes) == ["x", "exp_3"]
    with pytest.raises(TraceError, match="do not depend on 'y', named in wrt"):
        trace(f, a4, b4, wrt=("x", "y"))


def test_constants_and_integer_arguments_stay_out_of_the_graph() -> None:
    def f(x, A, k):
        B = A * k + 1.0  # constants only: computed eagerly, no variable
        return B @ x

    g, J = traced(f, a4, A34, 3, wrt="x")
    assert list(g.nodes) == ["x", "matmul_1"]
    np.testing.assert_allclose(J, A34 * 3 + 1.0, rtol=1e-14)


def test_factors_are_callables_and_tracing_copies_no_large_array() -> None:
    rng = np.random.default_rng(8)
    X = rng.standard_normal((2000, 500))  # 8 MB constant
    W = rng.standard_normal((500, 10))

    def f(W, X):
        return np.sum(np.tanh(X @ W))

    tracemalloc.start()
    f(W, X)
    plain = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    g = trace(f, W, X, wrt="W")
    tracing = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert tracing < plain + X.nbytes / 8  # no copy of X, no factor computed while tracing
    for _, _, jac in g.edges(data="jacobian"):
        assert jac is None or callable(jac)
    assert all(g.nodes[n]["value"] is None for n in g.intermediates + g.outputs)


def test_traced_function_evaluates_at_any_point() -> None:
    g = trace(residual, X34[:, :3][:3], v3)
    rng = np.random.default_rng(9)
    for _ in range(3):
        W, x = rng.standard_normal((3, 3)), rng.standard_normal(3)
        np.testing.assert_allclose(g.function({"W": W, "x": x}), residual(W, x), rtol=1e-14)


# --------------------------------------------------------------------------- bad input
def _branch(x):
    if x.sum() > 0:
        return np.sin(x)
    return np.cos(x)


def _while(x):
    while x:
        x = x - 1
    return x


def _in_place(x, c):
    c += x
    return c


def _assign(x):
    x[0] = 1.0
    return x


def _max_abs(x):
    return max(x)


UNSUPPORTED = [
    ("np.floor", lambda x: np.floor(x), "np.floor is not supported"),
    ("np.clip", lambda x: np.clip(x, 0, 1), "np.clip is not supported"),
    ("np.einsum", lambda x: np.einsum("i,i->", x, x), "np.einsum is not supported"),
    ("np.linalg.norm", lambda x: np.linalg.norm(x), "numpy.linalg.norm is not supported"),
    ("method", lambda x: x.cumsum(), r"\.cumsum is not supported"),
    ("ufunc method", lambda x: np.add.reduce(x), "np.add.reduce is not supported"),
    ("x % 2", lambda x: x % 2, "np.remainder is not supported"),
    ("np.asarray", lambda x: np.sin(np.asarray(x)), "plain numpy array"),
    ("np.where", lambda x: np.where(C4 > 0, x, 0.0), "np.where is not supported"),
]
MISUSED = [
    ("traced exponent", lambda x: 2.0**x, r"2.0 \*\* x: operand 2 must be a constant"),
    ("batched matmul", lambda x: x.reshape(1, 2, 2) @ x.reshape(1, 2, 2), "3 and 3 dimensions"),
    ("reshape order F", lambda x: x.reshape((2, 2), order="F"), "order='C'"),
    ("sum out=", lambda x: np.sum(x, out=np.zeros(())), r"np.sum\(x, out=.*not supported"),
    ("traced index", lambda x: x[x], r"x\[x\]: a traced value cannot be used as an index"),
    ("shapes", lambda x: x @ np.ones(3), "x @ array.* failed: matmul"),
]


@pytest.mark.parametrize(
    "f, message", [c[1:] for c in UNSUPPORTED], ids=[c[0] for c in UNSUPPORTED]
)
def test_unsupported_operation_is_named(f, message) -> None:
    with pytest.raises(TraceError, match=message) as error:
        trace(f, a4)
    assert "supported" in str(error.value)


@pytest.mark.parametrize("f, message", [c[1:] for c in MISUSED], ids=[c[0] for c in MISUSED])
def test_misused_operation_is_named(f, message) -> None:
    with pytest.raises(TraceError, match=message):
        trace(f, a4)


def test_unsupported_message_lists_the_supported_operations() -> None:
    with pytest.raises(TraceError, match="supported: operators .*np.tanh"):
        trace(lambda x: np.floor(x), a4)


@pytest.mark.parametrize("f", [lambda x: np.max(x, axis=1), lambda x: x.max(axis=0), np.amax])
def test_max_is_refused_as_not_differentiable(f) -> None:
    with pytest.raises(TraceError, match="max is not supported: .*not differentiable"):
        trace(f, X34)


BRANCHING = [
    ("if", _branch),
    ("while", _while),
    ("bool", lambda x: bool(x)),
    ("comparison", lambda x: x > 0),
    ("np.greater", lambda x: np.greater(x, 0)),
    ("equality", lambda x: x == x),
    ("builtin max", _max_abs),
    ("np.where", lambda x: np.where(x > 0, x, 0.0)),
]


@pytest.mark.parametrize("f", [c[1] for c in BRANCHING], ids=[c[0] for c in BRANCHING])
def test_branching_on_traced_values_is_refused(f) -> None:
    with pytest.raises(TraceError, match="the function branches on traced values"):
        trace(f, a4)


def test_python_numbers_of_traced_values_are_refused() -> None:
    with pytest.raises(
        TraceError, match=r"float\(slice_1\) turns a traced value into a Python number"
    ):
        trace(lambda x: np.sin(float(x[0])), a4)


def test_in_place_updates_are_refused() -> None:
    with pytest.raises(TraceError, match="in-place"):
        trace(_in_place, a4, C4.copy(), wrt="x")
    with pytest.raises(TraceError, match="assigning into traced array"):
        trace(_assign, a4)


@pytest.mark.parametrize(
    "argument, message",
    [
        (np.arange(4), "integer array"),
        (np.array([True, False]), "integer array"),
        (np.array(["a", "b"]), "not numeric"),
        ("text", "not numeric"),
        (np.array([1j, 2.0]), "complex"),
    ],
)
def test_wrt_needs_floating_point_arrays(argument, message) -> None:
    with pytest.raises(TraceError, match=message):
        trace(lambda x: x * 2.0, argument, wrt=0)


def test_default_wrt_needs_a_float_array() -> None:
    with pytest.raises(TraceError, match="no floating-point array argument"):
        trace(lambda n: n * 2.0, np.arange(3))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_infinite_example_values_are_refused(bad) -> None:
    x = a4.copy()
    x[1] = bad
    with pytest.raises(TraceError, match="argument 'x' has NaN or infinite values"):
        trace(lambda x: np.sin(x), x)
    with pytest.raises(TraceError, match="argument 'c' has NaN or infinite values"):
        trace(lambda x, c: x * c, a4, x, wrt="x")


def test_nan_computed_at_the_example_point_is_refused() -> None:
    with pytest.raises(TraceError, match=r"np.log\(negative_1\) gives NaN"):
        trace(lambda x: np.log(-x), pos4)


@pytest.mark.parametrize(
    "f, message",
    [
        (lambda x, c: None, "returned nothing traced"),
        (lambda x, c: c * 2.0, "returned nothing traced"),
        (lambda x, c: (), "returned nothing traced"),
        (lambda x, c: (np.sin(x), c), "returned value 1 is not traced"),
        (lambda x, c: {"y": np.sin(x)}, "returned nothing traced"),
    ],
)
def test_function_must_return_traced_values(f, message) -> None:
    with pytest.raises(TraceError, match=message):
        trace(f, a4, C4, wrt="x")


@pytest.mark.parametrize(
    "wrt, message",
    [
        ("z", "wrt names 'z', which is not an argument"),
        (5, "position 5, which does not exist"),
        (-1, "position -1, which does not exist"),
        (("x", "x"), "wrt names argument 'x' twice"),
        (("x", 0), "wrt names argument 'x' twice"),
        ((), "wrt is empty"),
        ((1.5,), "give argument positions or names"),
        ((True,), "give argument positions or names"),
    ],
)
def test_bad_wrt(wrt, message) -> None:
    with pytest.raises(TraceError, match=message):
        trace(lambda x, c: x * c, a4, C4, wrt=wrt)


def test_bad_calls() -> None:
    with pytest.raises(TraceError, match="trace needs a function"):
        trace(np.ones(3), a4)
    with pytest.raises(TraceError, match="positional arguments"):
        trace(lambda x: x, a4, a4)
    with pytest.raises(TraceError, match="do not fit"):
        trace(lambda x, y: x + y, a4)


def test_trace_error_is_a_value_error() -> None:
    assert issubclass(TraceError, ValueError)
    assert inspect.signature(trace).parameters["wrt"].kind == inspect.Parameter.KEYWORD_ONLY
