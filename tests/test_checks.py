"""check() and finite differences; a function built by hand from primitives.

Finite differences here are this file's own (central, step 1e-6 · max(1, |θ|)).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import central_differences

import analyzer
from analyzer import CheckError, check, execute, finite_differences, plan
from analyzer import primitives as P
from analyzer.graph import JacobianGraph
from analyzer.models import one_layer

ORDERS = ("input-first", "output-first", "optimal")
COSTS = ("dense", "structured", "matrix-free")


def assert_fd_close(actual, fd, tol=1e-6):
    scale = max(1.0, float(np.abs(fd).max()))
    assert float(np.abs(actual - fd).max()) <= tol * scale


# ------------------------------------------------------------------ check()
def test_check_passes_on_every_model(core_model):
    table = check(core_model)
    assert len(table) == len(ORDERS) * len(COSTS)
    assert set(zip(table["order"], table["cost"], strict=True)) == {
        (o, c) for o in ORDERS for c in COSTS
    }
    assert table["ok"].all()
    assert (table["planned_macs"] == table["executed_macs"]).all()
    assert (table["vs_reference"] <= 1e-10).all()
    assert (table["vs_finite_differences"] <= 1e-6).all()


@pytest.mark.parametrize("form", ["dict", "vector"])
def test_check_at_a_given_point(form):
    g = one_layer(4, 3)
    rng = np.random.default_rng(8)
    w, W = rng.standard_normal(4), rng.standard_normal((4, 3))
    at = {"w": w, "W": W} if form == "dict" else np.concatenate([w, W.ravel()])
    assert check(g, at=at)["ok"].all()
    fd = central_differences(g, at)
    assert_fd_close(finite_differences(g, at), fd, tol=1e-8)
    assert not np.allclose(fd, central_differences(g))  # the point was used
    for cost in COSTS:
        assert_fd_close(execute(plan(g, "optimal", cost), repeat=1, at=at).jacobian, fd)


def test_check_selects_orders_and_costs():
    table = check(one_layer(3, 2), orders=("backprop",), costs=("structured",))
    assert list(table["order"]) == ["output-first"]
    assert list(table["cost"]) == ["structured"]


def test_library_finite_differences_match_closed_form():
    g = one_layer(5, 3)
    point, x = g.point(), g.value("x")
    u = point["W"] @ x
    z = point["w"] @ np.tanh(u)
    s = 1.0 - np.tanh(z) ** 2
    expected = np.concatenate(
        [s * np.tanh(u), (s * np.outer(point["w"] * (1 - np.tanh(u) ** 2), x)).ravel()]
    )[None, :]
    assert finite_differences(g).shape == expected.shape
    assert_fd_close(finite_differences(g), expected, tol=1e-8)


def wrong_derivative_graph(good_at_default_only: bool = False) -> JacobianGraph:
    """y = sin(x), with a factor that is wrong (everywhere, or away from the default)."""
    x0 = np.array([0.2, -0.7, 1.1])
    g = JacobianGraph(name="wrong")
    g.add_variable("x", 3, role="parameter", value=x0)
    g.add_variable("y", 3, role="intermediate", evaluate=lambda v: np.sin(v["x"]))
    g.add_variable("f", 1, role="output", evaluate=lambda v: np.array([v["y"].sum()]))
    if good_at_default_only:
        g.add_factor("x", "y", "diagonal", lambda v: np.cos(x0))
    else:
        g.add_factor("x", "y", "diagonal", lambda v: -np.sin(v["x"]))
    g.add_factor("y", "f", "dense", lambda v: np.ones((1, 3)))
    return g.validate()


def test_check_catches_a_wrong_factor():
    g = wrong_derivative_graph()
    with pytest.raises(CheckError, match="disagree"):
        check(g)
    table = check(g, strict=False)
    assert not table["ok"].any()
    assert (table["vs_finite_differences"] > 1e-3).all()
    assert (table["planned_macs"] == table["executed_macs"]).all()


def test_check_uses_the_point_it_is_given():
    g = wrong_derivative_graph(good_at_default_only=True)
    assert check(g)["ok"].all()
    with pytest.raises(CheckError):
        check(g, at=np.array([1.0, 2.0, 3.0]))


def test_check_fails_when_the_tolerance_cannot_be_met():
    with pytest.raises(CheckError):
        check(one_layer(3, 2), fd_tol=0.0)
    assert issubclass(CheckError, analyzer.AnalyzerError)


# ------------------------------------------------------------------ a function of one's own
def gated_network(seed: int = 4) -> JacobianGraph:
    """z = aᵀ (σ(W x + b) − ½ (W x)) with parameters W, b, a; built from primitives."""
    rng = np.random.default_rng(seed)
    g = JacobianGraph(name="gated")
    x = P.constant(g, "x", rng.standard_normal(3))
    W = P.parameter(g, "W", (4, 3), value=rng.standard_normal((4, 3)))
    b = P.parameter(g, "b", 4, value=rng.standard_normal(4))
    a = P.parameter(g, "a", 4, value=rng.standard_normal(4))
    u = P.linear(g, "u", W, x)
    t = P.add(g, "t", u, b)
    h = P.activation(g, "h", t, "sigmoid")
    k = P.add(g, "k", h, u, sign=-0.5)
    P.weighted_sum(g, "z", a, k, output=True)
    return g.validate()


def gated_closed_form(g):
    point, x = g.point(), g.value("x")
    W, b, a = point["W"], point["b"], point["a"]
    u = W @ x
    s = 1.0 / (1.0 + np.exp(-(u + b)))
    ds = s * (1.0 - s)
    k = s - 0.5 * u
    dz_du = a * (ds - 0.5)
    return np.concatenate([np.outer(dz_du, x).ravel(), a * ds, k])[None, :]


def test_user_function_from_primitives():
    g = gated_network()
    assert g.parameters == ["W", "b", "a"]
    expected = gated_closed_form(g)
    assert_fd_close(central_differences(g), expected, tol=1e-8)
    for order in ORDERS:
        for cost in COSTS:
            p = plan(g, order, cost)
            run = execute(p, repeat=1)
            assert run.macs == p.macs
            np.testing.assert_allclose(run.jacobian, expected, rtol=1e-10, atol=1e-14)
    assert check(g)["ok"].all()


def matrix_network(seed: int = 6) -> JacobianGraph:
    """f = ½‖tanh(A B) c‖² and g = G tanh(A B) c (fixed G): matmul, fixed_linear, squared_norm."""
    rng = np.random.default_rng(seed)
    g = JacobianGraph(name="matrices")
    A = P.parameter(g, "A", (2, 3), value=rng.standard_normal((2, 3)))
    B = P.parameter(g, "B", (3, 2), value=rng.standard_normal((3, 2)))
    c = P.constant(g, "c", rng.standard_normal(2))
    AB = P.matmul(g, "AB", A, B)
    T = P.activation(g, "T", AB, "tanh")
    v = P.linear(g, "v", T, c)
    P.squared_norm(g, "f", v, output=True)
    P.fixed_linear(g, "g", v, rng.standard_normal((3, 2)), output=True)
    return g.validate()


def test_user_function_with_matrices_and_two_outputs():
    g = matrix_network()
    fd = central_differences(g)
    assert fd.shape == (1 + 3, 6 + 6)
    reference = None
    for order in ORDERS:
        for cost in COSTS:
            p = plan(g, order, cost)
            run = execute(p, repeat=1)
            assert run.macs == p.macs
            assert_fd_close(run.jacobian, fd)
            if reference is None:
                reference = run.jacobian
            np.testing.assert_allclose(run.jacobian, reference, rtol=1e-10, atol=1e-14)
    assert check(g)["ok"].all()


def test_check_is_relative_so_a_wrong_jacobian_with_small_entries_fails():
    g = JacobianGraph(name="tiny")
    P.parameter(g, "x", 3, value=[0.1, 0.2, 0.3])
    g.add_variable("y", 3, role="output", evaluate=lambda v: 1e-7 * np.sin(v["x"]))
    g.add_factor("x", "y", "diagonal", lambda v: -2e-7 * np.cos(v["x"]))  # wrong: ×(−2)
    with pytest.raises(CheckError, match="disagree"):
        check(g)
