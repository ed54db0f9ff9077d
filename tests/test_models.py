"""The sheet's functions: structure, values, and Jacobians of every order against closed forms.

Closed forms (course sheet, Q3 and Q7), written here independently of the library:

- f1(x) = ½‖Ax − b‖²:      ∇f1 = Aᵀ(Ax − b)
- f2(x) = Bx + c:          J = B
- f3(P, Q) = ½‖M − PQ‖²:   ∂/∂P = −(M − PQ)Qᵀ, ∂/∂Q = −Pᵀ(M − PQ)
- one layer, z = wᵀ v(Wx), out = σ(z):
  ∂/∂w = σ'(z) v(Wx),  ∂/∂W = σ'(z) (w ⊙ v'(Wx)) xᵀ
- mlp: ∂u_L/∂W_l[i, j] = G_l[:, i] a_{l-1}[j], G_l = ∂u_L/∂u_l = W_L D_{L-1} ⋯ W_{l+1} D_l
"""

from __future__ import annotations

import numpy as np
import pytest

from analyzer import execute, plan
from analyzer.models import MODELS, affine, chain, factorization, least_squares, mlp, one_layer

ORDERS = ("input-first", "output-first", "optimal")
COSTS = ("dense", "structured")


def _sigmoid(t):
    return 1.0 / (1.0 + np.exp(-t))


#: name -> (function, derivative), written from calculus, not from the library.
ACTIVATIONS = {
    "tanh": (np.tanh, lambda t: 1.0 / np.cosh(t) ** 2),
    "sigmoid": (_sigmoid, lambda t: np.exp(-t) / (1.0 + np.exp(-t)) ** 2),
    "sin": (np.sin, np.cos),
    "softplus": (lambda t: np.log1p(np.exp(t)), _sigmoid),
    "identity": (lambda t: t, np.ones_like),
}


# ------------------------------------------------------------------ closed forms
def one_layer_closed_form(g, at=None, sigma="tanh", v="tanh"):
    f_sigma, d_sigma = ACTIVATIONS[sigma]
    f_v, d_v = ACTIVATIONS[v]
    point = g.point(at)
    x, w, W = g.value("x"), point["w"], point["W"]
    u = W @ x
    z = w @ f_v(u)
    value = f_sigma(z)
    grad_w = d_sigma(z) * f_v(u)
    grad_W = d_sigma(z) * np.outer(w * d_v(u), x)
    return np.atleast_1d(value), np.concatenate([grad_w, grad_W.ravel()])[None, :]


def least_squares_closed_form(g, at=None):
    A, b, x = g.graph["A"], g.value("b"), g.point(at)["x"]
    r = A @ x - b
    return np.array([0.5 * r @ r]), (A.T @ r)[None, :]


def affine_closed_form(g, at=None):
    B, c, x = g.graph["B"], g.value("c"), g.point(at)["x"]
    return B @ x + c, B


def factorization_closed_form(g, at=None):
    point = g.point(at)
    M, P, Q = g.value("M"), point["P"], point["Q"]
    R = M - P @ Q
    value = 0.5 * np.sum(R * R)
    return np.array([value]), np.concatenate([(-R @ Q.T).ravel(), (-P.T @ R).ravel()])[None, :]


def mlp_closed_form(g, at=None, activation="tanh"):
    f, df = ACTIVATIONS[activation]
    point = g.point(at)
    layers = len(g.parameters)
    W = [point[f"W{layer}"] for layer in range(1, layers + 1)]
    a, u = [g.value("x")], []
    for layer in range(layers):
        u.append(W[layer] @ a[-1])
        a.append(f(u[-1]))
    out = u[-1]
    G = np.eye(out.size)  # ∂u_L/∂u_l, from l = L down
    blocks = [None] * layers
    for layer in range(layers - 1, -1, -1):
        blocks[layer] = np.einsum("oi,j->oij", G, a[layer]).reshape(out.size, -1)
        if layer:
            G = G @ W[layer] @ np.diag(df(u[layer - 1]))
    return out, np.hstack(blocks)


def chain_closed_form(g, at=None):
    n = len(g.nodes) - 1
    factors = [g.edges[f"v{i - 1}", f"v{i}"]["jacobian"]({}) for i in range(n, 0, -1)]
    J = factors[0] if n == 1 else np.linalg.multi_dot(factors)
    return J @ g.point(at)["v0"], J


CASES = [
    ("one_layer(3, 2)", lambda: one_layer(3, 2), one_layer_closed_form),
    ("one_layer(10, 5)", lambda: one_layer(10, 5), one_layer_closed_form),
    ("one_layer(1, 4)", lambda: one_layer(1, 4, seed=3), one_layer_closed_form),
    ("mlp([2, 3, 4, 2])", lambda: mlp([2, 3, 4, 2]), mlp_closed_form),
    ("mlp([5, 1, 3])", lambda: mlp([5, 1, 3], seed=4), mlp_closed_form),
    ("least_squares(5, 3)", lambda: least_squares(5, 3), least_squares_closed_form),
    ("affine(4, 3)", lambda: affine(4, 3), affine_closed_form),
    ("factorization(3, 4, 2)", lambda: factorization(3, 4, 2), factorization_closed_form),
    ("chain([3, 4, 2, 5])", lambda: chain([3, 4, 2, 5]), chain_closed_form),
]
CASE_IDS = [c[0] for c in CASES]


def assert_close(actual, expected):
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-13 * scale)


# ------------------------------------------------------------------ structure
@pytest.mark.parametrize(
    ("build", "parameters", "constants", "intermediates", "outputs"),
    [
        (lambda: one_layer(4, 3), ["w", "W"], ["x"], ["u", "y", "z"], ["out"]),
        (lambda: mlp([4, 3, 2]), ["W1", "W2"], ["x"], ["u1", "a1"], ["u2"]),
        (lambda: mlp([4, 3, 3, 2]), ["W1", "W2", "W3"], ["x"], ["u1", "a1", "u2", "a2"], ["u3"]),
        (lambda: least_squares(3, 2), ["x"], ["b"], ["Ax", "r"], ["f"]),
        (lambda: affine(3, 2), ["x"], ["c"], ["Bx"], ["f"]),
        (lambda: factorization(3, 4, 2), ["P", "Q"], ["M"], ["PQ", "E"], ["f"]),
        (lambda: chain([3, 4, 5, 6]), ["v0"], [], ["v1", "v2"], ["v3"]),
    ],
)
def test_roles(build, parameters, constants, intermediates, outputs):
    g = build()
    assert g.parameters == parameters
    assert g.constants == constants
    assert g.intermediates == intermediates
    assert g.outputs == outputs


@pytest.mark.parametrize(
    ("build", "sizes"),
    [
        (lambda: one_layer(4, 3), {"x": 3, "w": 4, "W": 12, "u": 4, "y": 4, "z": 1, "out": 1}),
        (lambda: mlp([4, 3, 2]), {"x": 4, "W1": 12, "u1": 3, "a1": 3, "W2": 6, "u2": 2}),
        (lambda: least_squares(5, 2), {"x": 2, "b": 5, "Ax": 5, "r": 5, "f": 1}),
        (lambda: affine(3, 2), {"x": 2, "c": 3, "Bx": 3, "f": 3}),
        (lambda: factorization(3, 4, 2), {"P": 6, "Q": 8, "M": 12, "PQ": 12, "E": 12, "f": 1}),
        (lambda: chain([3, 4, 5]), {"v0": 3, "v1": 4, "v2": 5}),
    ],
)
def test_sizes(build, sizes):
    g = build()
    assert {n: g.variable_size(n) for n in g.nodes} == sizes


@pytest.mark.parametrize(
    ("build", "edge", "kind"),
    [
        (lambda: one_layer(4, 3), ("W", "u"), "row-block"),  # I_H ⊗ xᵀ (sheet Q6)
        (lambda: one_layer(4, 3), ("u", "y"), "diagonal"),  # J_V
        (lambda: one_layer(4, 3), ("y", "z"), "dense"),  # wᵀ
        (lambda: one_layer(4, 3), ("w", "z"), "dense"),  # yᵀ
        (lambda: one_layer(4, 3), ("z", "out"), "diagonal"),  # σ'
        (lambda: least_squares(3, 2), ("Ax", "r"), "identity"),
        (lambda: least_squares(3, 2), ("b", "r"), "scalar"),  # −I
        (lambda: factorization(3, 4, 2), ("PQ", "E"), "scalar"),
        (lambda: factorization(3, 4, 2), ("P", "PQ"), "dense"),
        (lambda: chain([3, 4]), ("v0", "v1"), "dense"),
    ],
)
def test_factor_kinds(build, edge, kind):
    assert build().edges[edge]["structure"] == kind


def test_chain_factor_shapes_follow_dims():
    g = chain([30, 35, 15])
    assert g.edges["v0", "v1"]["shape"] == (35, 30)
    assert g.edges["v1", "v2"]["shape"] == (15, 35)
    assert g.edges["v1", "v2"]["label"] == "J2"


def test_models_registry_names():
    assert set(MODELS) == {"one-layer", "mlp", "least-squares", "affine", "factorization", "chain"}


def test_default_values_are_seeded():
    a, b, c = one_layer(3, 2, seed=5), one_layer(3, 2, seed=5), one_layer(3, 2, seed=6)
    np.testing.assert_array_equal(a.value("W"), b.value("W"))
    assert not np.allclose(a.value("W"), c.value("W"))
    J = [chain_closed_form(chain([3, 4, 2], seed=s))[1] for s in (0, 0, 1)]
    np.testing.assert_array_equal(J[0], J[1])
    assert not np.allclose(J[0], J[2])


def test_symbolic_models_have_no_values():
    g = one_layer("H", "N")
    assert g.value("W") is None
    assert g.value("x") is None
    H, N = g.symbols()
    assert g.variable_size("W") == H * N
    assert least_squares("m", "n").graph["A"] is None


# ------------------------------------------------------------------ values
@pytest.mark.parametrize(("name", "build", "closed_form"), CASES, ids=CASE_IDS)
def test_function_value_matches_closed_form(name, build, closed_form):
    g = build()
    value, _ = closed_form(g)
    assert_close(g.function(), np.ravel(value))


@pytest.mark.parametrize(("name", "build", "closed_form"), CASES, ids=CASE_IDS)
@pytest.mark.parametrize("cost", COSTS)
@pytest.mark.parametrize("order", ORDERS)
def test_jacobian_of_every_order_matches_closed_form(name, build, closed_form, order, cost):
    g = build()
    _, expected = closed_form(g)
    run = execute(plan(g, order, cost), repeat=1, warmup=0)
    assert run.jacobian.shape == expected.shape
    assert_close(run.jacobian, expected)


@pytest.mark.parametrize(("name", "build", "closed_form"), CASES, ids=CASE_IDS)
@pytest.mark.parametrize("cost", COSTS)
def test_jacobian_at_another_point_matches_closed_form(name, build, closed_form, cost):
    g = build()
    at = np.random.default_rng(42).standard_normal(g.parameter_size)
    _, expected = closed_form(g, at)
    _, at_default = closed_form(g)
    if name != "affine(4, 3)" and not name.startswith("chain"):
        assert not np.allclose(expected, at_default)  # the point matters for this model
    for order in ORDERS:
        run = execute(plan(g, order, cost), repeat=1, warmup=0, at=at)
        assert_close(run.jacobian, expected)


@pytest.mark.parametrize("sigma", sorted(ACTIVATIONS))
@pytest.mark.parametrize("v", ["tanh", "sin", "softplus"])
def test_one_layer_with_each_activation(sigma, v):
    g = one_layer(3, 2, sigma=sigma, v=v, seed=2)
    value, expected = one_layer_closed_form(g, sigma=sigma, v=v)
    assert_close(g.function(), value)
    for cost in COSTS:
        assert_close(execute(plan(g, "output-first", cost), repeat=1).jacobian, expected)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_mlp_with_each_activation(activation):
    g = mlp([3, 4, 2, 2], activation=activation, seed=9)
    value, expected = mlp_closed_form(g, activation=activation)
    assert_close(g.function(), value)
    for cost in COSTS:
        assert_close(execute(plan(g, "input-first", cost), repeat=1).jacobian, expected)


def test_sheet_q7_gradient_layout():
    """∇f = σ'(z) [y; w_1 v'_1 x; …; w_H v'_H x] (sheet Q7, with I_H for the w block)."""
    H, N = 3, 2
    g = one_layer(H, N)
    grad = execute(plan(g, "backprop", "structured"), repeat=1).jacobian.ravel()
    point, x = g.point(), g.value("x")
    u = point["W"] @ x
    y = np.tanh(u)
    s = 1.0 - np.tanh(point["w"] @ y) ** 2
    np.testing.assert_allclose(grad[:H], s * y, rtol=1e-12)
    for i in range(H):
        row = grad[H + i * N : H + (i + 1) * N]
        np.testing.assert_allclose(row, s * point["w"][i] * (1 - y[i] ** 2) * x, rtol=1e-12)
