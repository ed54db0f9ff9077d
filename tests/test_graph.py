"""JacobianGraph: sizes, roles, points, values and numeric factors."""

from __future__ import annotations

import numpy as np
import pytest
import sympy
from conftest import central_differences

import analyzer
from analyzer import GraphError, PointError
from analyzer import primitives as P
from analyzer.graph import JacobianGraph, as_size
from analyzer.models import factorization, least_squares, one_layer


def sine_graph() -> JacobianGraph:
    g = JacobianGraph()
    g.add_variable("x", 3, role="parameter", value=np.arange(3.0))
    g.add_variable("y", 3, role="output", evaluate=lambda v: np.sin(v["x"]))
    g.add_factor("x", "y", "diagonal", lambda v: np.cos(v["x"]))
    return g


# ------------------------------------------------------------------ sizes
@pytest.mark.parametrize(("size", "expected"), [(4, 4), (1, 1), (np.int64(7), 7)])
def test_as_size_numbers(size, expected):
    out = as_size(size)
    assert out == expected
    assert type(out) is int


def test_as_size_symbol_is_a_positive_integer_symbol():
    H = as_size("H")
    assert isinstance(H, sympy.Symbol)
    assert str(H) == "H"
    assert H.is_positive and H.is_integer


@pytest.mark.parametrize(
    ("size", "message"),
    [
        (0, "positive integer"),
        (-3, "positive integer"),
        (True, "positive integer"),
        (2.5, "positive integer"),
        (None, "positive integer"),
        ("3x", "not a valid symbol name"),
        (sympy.Integer(-2), "positive integer"),
        (-sympy.Symbol("H", positive=True), "positive integer for every"),
        (sympy.Symbol("H") - 5, "positive integer for every"),  # H = 1 gives -4
        (sympy.Symbol("H") / 2, "positive integer for every"),  # H = 1 gives 1/2
    ],
)
def test_as_size_rejects(size, message):
    with pytest.raises(GraphError, match=message):
        as_size(size)


# ------------------------------------------------------------------ building
def test_docstring_example_builds_and_validates():
    g = sine_graph()
    assert g.validate() is g
    assert g.parameters == ["x"]
    assert g.outputs == ["y"]
    assert g.edges["x", "y"]["shape"] == (3, 3)


def test_matrix_variable_is_flattened():
    g = JacobianGraph()
    g.add_variable("W", role="parameter", shape=(2, 3), value=np.arange(6.0))
    assert g.variable_size("W") == 6
    assert g.nodes["W"]["shape"] == (2, 3)
    assert g.value("W").tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]


def test_factor_shape_is_size_of_head_by_size_of_tail():
    g = JacobianGraph()
    g.add_variable("a", 2, role="parameter", value=np.zeros(2))
    g.add_variable("b", 5, role="output", evaluate=lambda v: np.zeros(5))
    g.add_factor("a", "b", "dense", lambda v: np.zeros((5, 2)))
    assert g.edges["a", "b"]["shape"] == (5, 2)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda g: g.add_variable("x", 3, role="input"), "unknown role 'input'.*parameter"),
        (lambda g: g.add_variable("x", 2, role="parameter"), "already exists"),
        (lambda g: g.add_variable("z", role="parameter"), "needs a size or a shape"),
        (lambda g: g.add_variable("z", 5, role="parameter", shape=(2, 3)), "does not match"),
        (
            lambda g: g.add_variable("z", 3, role="parameter", evaluate=lambda v: v),
            "takes a value",
        ),
        (lambda g: g.add_variable("z", 3, role="output", value=np.ones(3)), "give evaluate"),
        (lambda g: g.add_variable("z", 3, role="parameter", value=np.ones(4)), "4 entries"),
        (lambda g: g.add_factor("x", "nowhere", "dense"), "unknown variable 'nowhere'"),
        (lambda g: g.add_factor("x", "y", "sparse"), "unknown structure 'sparse'.*valid kinds"),
    ],
)
def test_building_errors(build, message):
    g = sine_graph()
    with pytest.raises(GraphError, match=message):
        build(g)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda g: g.add_factor("y", "x", "dense", lambda v: np.eye(3)), "cycle"),
        (lambda g: g.remove_nodes_from(["x", "y"]), "empty"),
    ],
)
def test_validate_errors_on_edited_graphs(edit, message):
    g = sine_graph()
    edit(g)
    with pytest.raises(GraphError, match=message):
        g.validate()


def test_validate_role_errors():
    g = sine_graph()
    g.add_variable("h", 3, role="intermediate", evaluate=lambda v: v["x"])
    g.add_variable("p", 3, role="parameter", value=np.ones(3))
    g.add_factor("x", "h", "identity")
    g.add_factor("h", "p", "identity")
    with pytest.raises(GraphError, match="parameter 'p' cannot depend on other variables"):
        g.validate()

    g = sine_graph()
    g.add_variable("y2", 3, role="output", evaluate=lambda v: v["y"])
    g.add_factor("y", "y2", "identity")
    with pytest.raises(GraphError, match="output 'y' cannot feed other variables"):
        g.validate()

    g = sine_graph()
    g.add_variable("h", 3, role="intermediate", evaluate=lambda v: np.ones(3))
    g.add_factor("h", "y", "identity")
    with pytest.raises(GraphError, match="'h' depends on no variable"):
        g.validate()

    g = JacobianGraph()
    g.add_variable("x", 3, role="parameter", value=np.ones(3))
    g.add_variable("h", 3, role="intermediate", evaluate=lambda v: v["x"])
    g.add_factor("x", "h", "identity")
    with pytest.raises(GraphError, match="no output"):
        g.validate()

    g = JacobianGraph()
    g.add_variable("c", 3, role="constant", value=np.ones(3))
    g.add_variable("y", 3, role="output", evaluate=lambda v: v["c"])
    g.add_factor("c", "y", "identity")
    with pytest.raises(GraphError, match="no parameter"):
        g.validate()


# ------------------------------------------------------------------ inspection
def test_roles_and_orders_of_one_layer():
    g = one_layer(4, 3)
    assert g.parameters == ["w", "W"]
    assert g.constants == ["x"]
    assert g.intermediates == ["u", "y", "z"]
    assert g.outputs == ["out"]
    assert g.parameter_size == 4 + 4 * 3
    assert g.output_size == 1
    assert not g.is_symbolic
    assert g.symbols() == []


def test_symbolic_graph_reports_its_symbols():
    g = one_layer("H", "N")
    assert g.is_symbolic
    assert [str(s) for s in g.symbols()] == ["H", "N"]
    H, N = g.symbols()
    assert g.variable_size("W") == H * N


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda: one_layer(3, 2), {"w", "W", "u", "y", "z", "out"}),  # x is held fixed
        (lambda: least_squares(4, 3), {"x", "Ax", "r", "f"}),  # b carries no derivative
        (lambda: factorization(3, 4, 2), {"P", "Q", "PQ", "E", "f"}),  # nor does M
    ],
)
def test_differentiated_subgraph_leaves_out_constants(build, expected):
    assert set(build().differentiated().nodes) == expected


# ------------------------------------------------------------------ points and values
def test_point_defaults_dict_and_vector():
    g = one_layer(3, 2)
    default = g.point()
    assert set(default) == {"w", "W"}
    np.testing.assert_array_equal(default["W"], g.value("W"))

    w = np.array([1.0, 2.0, 3.0])
    partial = g.point({"w": w})
    np.testing.assert_array_equal(partial["w"], w)
    np.testing.assert_array_equal(partial["W"], g.value("W"))

    vector = np.arange(3 + 6, dtype=float)
    split = g.point(vector)
    np.testing.assert_array_equal(split["w"], [0.0, 1.0, 2.0])
    # W is flattened row-major: row i holds entries 3 + 2i, 3 + 2i + 1
    np.testing.assert_array_equal(split["W"], [[3.0, 4.0], [5.0, 6.0], [7.0, 8.0]])
    np.testing.assert_array_equal(g.flatten(split), vector)


@pytest.mark.parametrize(
    ("at", "message"),
    [
        ({"v": np.ones(3)}, "unknown parameter"),
        ({"w": np.ones(4)}, r"has shape \(4,\), expected \(3,\)"),
        (np.ones(8), "point has 8 values, expected 9"),
        ({"w": np.array([1.0, np.nan, 0.0])}, "NaN or infinite"),
        (np.full(9, np.inf), "NaN or infinite"),
    ],
)
def test_point_errors(at, message):
    with pytest.raises(PointError, match=message):
        one_layer(3, 2).point(at)


def test_parameter_without_default_needs_a_point():
    g = JacobianGraph()
    g.add_variable("x", 2, role="parameter")
    g.add_variable("y", 2, role="output", evaluate=lambda v: 2 * v["x"])
    g.add_factor("x", "y", "scalar", lambda v: 2.0)
    with pytest.raises(PointError, match="no default value"):
        g.point()
    np.testing.assert_array_equal(g.function([1.0, 3.0]), [2.0, 6.0])


def test_evaluate_and_function():
    g = sine_graph()
    values = g.evaluate([0.5, 1.0, -2.0])
    np.testing.assert_allclose(values["y"], np.sin([0.5, 1.0, -2.0]), rtol=1e-15)
    np.testing.assert_allclose(g.function(), np.sin(np.arange(3.0)), rtol=1e-15)


def test_function_concatenates_outputs_in_graph_order():
    g = JacobianGraph()
    x = P.parameter(g, "x", 2, value=np.array([0.5, -1.0]))
    P.activation(g, "b", x, "sin", output=True)
    P.activation(g, "a", x, "tanh", output=True)
    g.validate()
    assert g.outputs == ["b", "a"]
    np.testing.assert_allclose(
        g.function(), np.concatenate([np.sin([0.5, -1.0]), np.tanh([0.5, -1.0])]), rtol=1e-15
    )


def test_symbolic_graph_cannot_be_evaluated():
    with pytest.raises(GraphError, match="sizes are symbols"):
        one_layer("H", 3).evaluate()


def test_numeric_factors_of_one_layer():
    g = one_layer(3, 2)
    values = g.evaluate()
    x, w = g.value("x"), values["w"]
    u = values["W"] @ x

    row_block = g.factor("W", "u", values)
    assert (row_block.kind, row_block.shape) == ("row-block", (3, 6))
    np.testing.assert_allclose(row_block.dense(), np.kron(np.eye(3), x[None, :]), rtol=1e-15)

    diagonal = g.factor("u", "y", values)
    assert diagonal.kind == "diagonal"
    np.testing.assert_allclose(diagonal.dense(), np.diag(1 - np.tanh(u) ** 2), rtol=1e-14)

    dense = g.factor("y", "z", values)
    assert (dense.kind, dense.shape) == ("dense", (1, 3))
    np.testing.assert_allclose(dense.dense(), w[None, :], rtol=1e-15)


# ------------------------------------------------------------------ a variable used twice
def test_add_of_a_variable_to_itself_has_jacobian_two_identity():
    g = JacobianGraph()
    P.parameter(g, "x", 3, value=np.array([0.5, -1.0, 2.0]))
    P.add(g, "c", "x", "x", output=True)
    expected = 2.0 * np.eye(3)
    for cost in ("dense", "structured"):
        for order in ("input-first", "output-first", "optimal"):
            run = analyzer.execute(analyzer.plan(g, order, cost), repeat=1)
            np.testing.assert_allclose(run.jacobian, expected, rtol=1e-12)
    np.testing.assert_allclose(central_differences(g), expected, rtol=1e-7)


def test_product_of_a_variable_with_itself_sums_both_factors():
    """``y = x * x`` added as two factors ``diag(x)``: ∂y/∂x = 2 diag(x), then ``z = sin(y)``."""
    g = JacobianGraph()
    x0 = np.array([0.3, -1.2, 0.7, 2.0])
    g.add_variable("x", 4, role="parameter", value=x0)
    g.add_variable("y", 4, role="intermediate", evaluate=lambda v: v["x"] * v["x"])
    g.add_factor("x", "y", "diagonal", lambda v: v["x"])
    g.add_factor("x", "y", "diagonal", lambda v: v["x"])
    g.add_variable("z", 4, role="output", evaluate=lambda v: np.sin(v["y"]))
    g.add_factor("y", "z", "diagonal", lambda v: np.cos(v["y"]))
    assert g.edges["x", "y"]["structure"] == "diagonal"
    expected = np.diag(np.cos(x0**2) * 2 * x0)  # closed form
    for cost in ("dense", "structured"):
        for order in ("input-first", "output-first"):
            run = analyzer.execute(analyzer.plan(g, order, cost), repeat=1)
            np.testing.assert_allclose(run.jacobian, expected, rtol=1e-12)
    np.testing.assert_allclose(central_differences(g), expected, rtol=1e-6)


def test_a_dense_and_a_diagonal_path_between_two_variables_sum_to_dense():
    g = JacobianGraph()
    A = np.arange(9.0).reshape(3, 3) / 10
    g.add_variable("x", 3, role="parameter", value=np.ones(3))
    g.add_variable("y", 3, role="output", evaluate=lambda v: A @ v["x"] + 2 * v["x"])
    g.add_factor("x", "y", "dense", lambda v: A)
    g.add_factor("x", "y", "scalar", lambda v: 2.0)
    assert g.edges["x", "y"]["structure"] == "dense"
    run = analyzer.execute(analyzer.plan(g), repeat=1)
    np.testing.assert_allclose(run.jacobian, A + 2 * np.eye(3))
