"""Bad input raises the project's own errors (ValueError subclasses) with a message naming it."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

import analyzer
from analyzer import (
    AnalyzerError,
    CheckError,
    CycleError,
    GraphError,
    PlanError,
    PointError,
    all_orders,
    chain,
    execute,
    plan,
)
from analyzer import primitives as P
from analyzer.graph import JacobianGraph
from analyzer.models import affine, factorization, least_squares, mlp, one_layer
from analyzer.planning import MAX_EXACT_INTERMEDIATES


@pytest.mark.parametrize(
    ("error", "parent"),
    [
        (AnalyzerError, ValueError),
        (GraphError, AnalyzerError),
        (CycleError, GraphError),
        (PlanError, AnalyzerError),
        (PointError, AnalyzerError),
        (CheckError, AnalyzerError),
    ],
)
def test_error_hierarchy(error, parent):
    assert issubclass(error, parent)


# ------------------------------------------------------------------ sizes
@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: one_layer(0, 3), r"H must be a positive integer.*got 0"),
        (lambda: one_layer(3, -2), r"N must be a positive integer.*got -2"),
        (lambda: one_layer(2.5, 3), r"H must be a positive integer"),
        (lambda: chain([3, -1]), r"dims\[1\] must be a positive integer.*got -1"),
        (lambda: chain([0, 4, 5]), r"dims\[0\] must be a positive integer"),
        (lambda: chain([3]), "at least two sizes"),
        (lambda: mlp([4, 0, 2]), r"width 1 must be a positive integer"),
        (lambda: mlp([4]), "at least two widths"),
        (lambda: least_squares(-1, 2), "m must be a positive integer"),
        (lambda: affine(3, 0), "n must be a positive integer"),
        (lambda: factorization(2, 3, 0), "k must be a positive integer"),
        (lambda: one_layer("H", "2N"), "not a valid symbol name"),
    ],
)
def test_bad_sizes(build, message):
    with pytest.raises(GraphError, match=message):
        build()


@pytest.mark.parametrize("size", [sympy.Rational(5, 2), sympy.Float(2.5)])
def test_non_integer_sympy_size_is_rejected(size):
    with pytest.raises(GraphError, match="positive integer"):
        one_layer(size, 3)


# ------------------------------------------------------------------ mismatched shapes
def two_variables(tail_size, head_size) -> JacobianGraph:
    g = JacobianGraph()
    g.add_variable("a", tail_size, role="parameter", value=np.ones(tail_size))
    g.add_variable("b", head_size, role="output", evaluate=lambda v: np.zeros(head_size))
    return g


@pytest.mark.parametrize(
    ("kind", "tail_size", "head_size", "message"),
    [
        ("diagonal", 3, 4, "'a' -> 'b': diagonal factors are square, got 4×3"),
        ("identity", 5, 2, "identity factors are square"),
        ("scalar", 2, 3, "scalar factors are square"),
        ("row-block", 7, 3, r"'a' -> 'b': row-block factors have shape \(H, H\*N\), got 3×7"),
        ("row-block", 2, 4, r"have shape \(H, H\*N\), got 4×2"),
    ],
)
def test_factor_kind_that_does_not_fit_the_sizes(kind, tail_size, head_size, message):
    g = two_variables(tail_size, head_size)
    g.add_factor("a", "b", kind, lambda v: None)
    with pytest.raises(GraphError, match=message):
        g.validate()


def test_factor_with_a_shape_that_disagrees_with_the_sizes():
    g = two_variables(3, 2)
    g.add_factor("a", "b", "dense", lambda v: np.zeros((2, 3)))
    g.edges["a", "b"]["shape"] = (3, 2)  # edited by hand after add_factor
    with pytest.raises(GraphError, match=r"has shape \(3, 2\), expected .* \(2, 3\)"):
        g.validate()


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda g: P.linear(g, "u", P.parameter(g, "W", (2, 3)), P.constant(g, "x", np.ones(4))),
            r"cannot multiply 'W' of shape \(2, 3\) by 'x' of shape \(4,\)",
        ),
        (
            lambda g: P.linear(g, "u", P.parameter(g, "W", (2, 3)), P.parameter(g, "M", (3, 2))),
            "linear needs a vector input",
        ),
        (
            lambda g: P.matmul(g, "C", P.parameter(g, "A", 3), P.parameter(g, "B", 3)),
            "cannot multiply 'A'",
        ),
        (
            lambda g: P.weighted_sum(g, "z", P.parameter(g, "w", 3), P.parameter(g, "y", 4)),
            "weighted_sum needs two vectors of the same size",
        ),
        (
            lambda g: P.add(g, "s", P.parameter(g, "p", 3), P.parameter(g, "q", 2)),
            "cannot add 'p'",
        ),
        (
            lambda g: P.fixed_linear(g, "y", P.parameter(g, "x", 3), np.ones((2, 4))),
            r"matrix of shape \(2, 4\) cannot multiply 'x' of size 3",
        ),
        (lambda g: P.constant(g, "c"), "needs a value or a shape"),
        (lambda g: P.activation(g, "y", "nowhere"), "unknown variable 'nowhere'"),
    ],
)
def test_primitives_with_mismatched_shapes(build, message):
    with pytest.raises(GraphError, match=message):
        build(JacobianGraph())


# ---------------------------------------------------------- graphs that describe no function
def test_cycle():
    g = JacobianGraph()
    g.add_variable("x", 2, role="parameter", value=np.ones(2))
    g.add_variable("a", 2, role="intermediate", evaluate=lambda v: v["x"])
    g.add_variable("b", 2, role="intermediate", evaluate=lambda v: v["a"])
    g.add_variable("y", 2, role="output", evaluate=lambda v: v["b"])
    for tail, head in [("x", "a"), ("a", "b"), ("b", "a"), ("b", "y")]:
        g.add_factor(tail, head, "identity")
    with pytest.raises(CycleError, match="cycle: a -> b -> a|cycle: b -> a -> b"):
        g.validate()


def test_variable_with_no_path_to_an_output():
    g = JacobianGraph()
    g.add_variable("x", 2, role="parameter", value=np.ones(2))
    g.add_variable("y", 2, role="output", evaluate=lambda v: v["x"])
    g.add_variable("dead", 2, role="intermediate", evaluate=lambda v: np.sin(v["x"]))
    g.add_factor("x", "y", "identity")
    g.add_factor("x", "dead", "diagonal", lambda v: np.cos(v["x"]))
    with pytest.raises(GraphError, match="variable 'dead' has no path to an output"):
        g.validate()


def test_output_that_depends_on_no_parameter():
    g = JacobianGraph()
    g.add_variable("x", 2, role="parameter", value=np.ones(2))
    g.add_variable("c", 2, role="constant", value=np.ones(2))
    g.add_variable("y", 2, role="output", evaluate=lambda v: v["x"])
    g.add_variable("o", 2, role="output", evaluate=lambda v: 2 * v["c"])
    g.add_factor("x", "y", "identity")
    g.add_factor("c", "o", "scalar", lambda v: 2.0)
    with pytest.raises(GraphError, match="output 'o' depends on no parameter"):
        g.validate()


@pytest.mark.parametrize(
    ("activation", "build"),
    [
        ("relu", lambda: one_layer(3, 2, sigma="relu")),
        ("gelu", lambda: one_layer(3, 2, v="gelu")),
        ("ReLU", lambda: mlp([3, 2, 1], activation="ReLU")),
    ],
)
def test_unknown_activation(activation, build):
    with pytest.raises(GraphError, match=f"unknown activation '{activation}'.*valid.*tanh"):
        build()


# ------------------------------------------------------------------ planning
@pytest.mark.parametrize("order", ["backward", "fastest", "Input-First", ""])
def test_unknown_order_lists_the_valid_ones(order):
    message = "unknown order .*valid orders: input-first, output-first, optimal, markowitz"
    with pytest.raises(PlanError, match=message):
        plan(one_layer(3, 2), order)


@pytest.mark.parametrize("cost", ["sparse", "Dense", "flops"])
def test_unknown_cost_model_lists_the_valid_ones(cost):
    with pytest.raises(
        PlanError, match="unknown cost model .*valid cost models: dense, structured"
    ):
        plan(one_layer(3, 2), "input-first", cost)
    with pytest.raises(PlanError, match="valid cost models"):
        all_orders(one_layer(3, 2), cost)
    with pytest.raises(PlanError, match="valid cost models"):
        analyzer.compare(one_layer(3, 2), cost)


def test_plan_needs_a_graph():
    with pytest.raises(PlanError, match="expected a JacobianGraph"):
        plan({"not": "a graph"}, "optimal")


def test_enumeration_past_the_limit():
    with pytest.raises(PlanError, match="208012 bracketings exceed the limit of 100"):
        all_orders(chain(list(range(1, 15))), limit=100)
    with pytest.raises(PlanError, match="6 elimination orders exceed the limit of 5"):
        all_orders(one_layer(3, 2), limit=5)


def test_dag_past_the_subset_dp_is_still_proven_optimal():
    g = mlp([2] * 13)  # 12 layers: u1…u11 and a1…a11 are intermediates (u12 is the output)
    assert len(g.intermediates) == 22 > MAX_EXACT_INTERMEDIATES == 20
    best = plan(g, "optimal")
    assert best.proven_optimal and best.lower_bound == best.macs
    assert best.macs <= min(plan(g, o).macs for o in ("input-first", "output-first"))
    with pytest.raises(PlanError, match="20"):
        plan(g, "subset-dp")  # the subset DP itself still refuses


def test_optimal_with_symbolic_sizes():
    with pytest.raises(PlanError, match="optimal order depends on the sizes"):
        plan(one_layer("H", "N"), "optimal")
    with pytest.raises(PlanError, match="optimal order depends on the sizes"):
        plan(chain(["a", "b", "c"]), "optimal")


def test_symbolic_plan_has_no_numeric_macs():
    p = plan(one_layer("H", "N"), "input-first")
    with pytest.raises(PlanError, match="sizes are symbols"):
        p.macs  # noqa: B018
    with pytest.raises(PlanError, match="sizes to substitute: H, N; got H"):
        p.evaluate(H=3)
    with pytest.raises(PlanError, match="sizes to substitute: H, N; got H, K, N"):
        p.evaluate(H=3, N=2, K=1)


# ------------------------------------------------------------------ executing
def test_executing_a_symbolic_graph():
    with pytest.raises(GraphError, match="sizes are symbols"):
        execute(plan(one_layer("H", "N"), "input-first"))


@pytest.mark.parametrize(
    ("at", "error", "message"),
    [
        (np.full(9, np.nan), PointError, "NaN or infinite"),
        ({"W": np.full((3, 2), np.nan)}, PointError, "'W' has NaN or infinite"),
        (np.ones(8), PointError, "point has 8 values, expected 9"),
        (np.ones(10), PointError, "point has 10 values, expected 9"),
        ({"w": np.ones(2)}, PointError, r"'w' has shape \(2,\), expected \(3,\)"),
        ({"x": np.ones(2)}, PointError, r"unknown parameter\(s\) x"),
    ],
)
def test_bad_points(at, error, message):
    p = plan(one_layer(3, 2), "output-first")
    with pytest.raises(error, match=message):
        execute(p, repeat=1, at=at)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"repeat": 0}, "repeat must be a positive integer"),
        ({"repeat": 1.5}, "repeat must be a positive integer"),
        ({"warmup": -1}, "warmup must be a non-negative integer"),
    ],
)
def test_bad_repetitions(kwargs, message):
    with pytest.raises(PlanError, match=message):
        execute(plan(one_layer(3, 2), "output-first"), **kwargs)


# ---------------------------------------------------------- factors whose numbers do not fit
def factor_returning(kind, tail_size, head_size, numbers) -> JacobianGraph:
    g = two_variables(tail_size, head_size)
    g.add_factor("a", "b", kind, lambda v: numbers)
    return g.validate()


def test_row_block_numbers_of_the_wrong_width_are_rejected():
    # a row-block (3 x 6) stores 3 blocks of width 2; these are 3 blocks of width 1
    g = factor_returning("row-block", 6, 3, np.ones((3, 1)))
    with pytest.raises(GraphError, match="'a' -> 'b'"):
        execute(plan(g, "input-first", "structured"), repeat=1)


@pytest.mark.parametrize(
    ("kind", "numbers"),
    [("dense", np.ones((2, 2))), ("diagonal", np.ones(2)), ("scalar", np.ones(2))],
)
def test_factor_numbers_of_the_wrong_size_are_rejected(kind, numbers):
    g = factor_returning(kind, 3, 3, numbers)
    with pytest.raises(GraphError, match="'a' -> 'b'"):
        execute(plan(g, "input-first", "structured"), repeat=1)


def _one_layer_plan():
    return plan(one_layer(3, 2), "input-first")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: execute(_one_layer_plan(), at="abc"), "must be numbers"),
        (lambda: execute(_one_layer_plan(), at={"w": [[1, 2], [3]]}), "must be numbers"),
        (lambda: execute(_one_layer_plan(), at=object()), "must be numbers"),
        (lambda: execute("plan"), "needs a Plan"),
        (lambda: execute(_one_layer_plan(), repeat=True), "repeat must be a positive integer"),
        (lambda: execute(_one_layer_plan(), min_seconds="x"), "min_seconds"),
        (lambda: analyzer.all_orders(one_layer(3, 2), limit="10"), "limit must be"),
        (lambda: analyzer.compare("x"), "expected a JacobianGraph"),
        (lambda: analyzer.models.mlp(5), "list of widths"),
        (lambda: plan(one_layer("H", "N"), "input-first").evaluate(H=-3, N=2), "H=-3"),
        (lambda: analyzer.check(one_layer(3, 2), fd_tol="a"), "fd_tol"),
    ],
)
def test_bad_arguments_are_the_projects_own_errors(call, message):
    with pytest.raises(analyzer.AnalyzerError, match=message):
        call()
