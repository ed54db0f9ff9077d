"""Regression tests for the attacks on matrix-free factors (issue 9's follow-up).

Each test reproduces an input that once passed silently or raised the wrong error.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from scipy import sparse
from test_matrix_free import brute_force, operator_chains

import analyzer
from analyzer.errors import GraphError, PlanError
from analyzer.graph import JacobianGraph
from analyzer.planning.chain import chain_optimum, operator_chain_optimum
from analyzer.structure import Block, LinearMap, Operator, multiply_counted

A = np.arange(12.0).reshape(4, 3) + 1


def one_operator(make, e: int = 12) -> JacobianGraph:
    """x (3) -> y (4) through one operator factor whose jacobian gives ``make()``."""
    g = JacobianGraph(name="r")
    g.add_variable("x", 3, role="parameter", value=np.ones(3))
    g.add_variable("y", 4, role="output", evaluate=lambda v: A @ v["x"])
    g.add_factor("x", "y", Operator(e), lambda v: make())
    return g


def run(g: JacobianGraph, order: str = "optimal"):
    return analyzer.execute(analyzer.plan(g, order, "matrix-free"), repeat=1, warmup=0)


@pytest.mark.parametrize(
    ("tangent", "adjoint", "message"),
    [
        (lambda X: (A @ X)[:-1], lambda Y: (Y @ A)[:, :-1], r"tangent gave shape \(3, 3\)"),
        (lambda X: A @ X * np.nan, lambda Y: Y @ A * np.nan, "tangent gave NaN or infinite"),
        (lambda X: A @ X * np.inf, lambda Y: Y @ A * np.inf, "tangent gave NaN or infinite"),
        (lambda X: A @ X + 1j, lambda Y: Y @ A + 1j, "tangent gave complex"),
        (lambda X: "abc", lambda Y: "abc", "tangent gave str 'abc', not an array of floats"),
    ],
)
def test_a_bad_tangent_is_a_graph_error_naming_the_factor(tangent, adjoint, message):
    g = one_operator(lambda: LinearMap(A.shape, 12, tangent, adjoint))
    with pytest.raises(GraphError, match=r"factor 'x' -> 'y': its " + message):
        run(g)


def test_a_bad_adjoint_is_a_graph_error_naming_the_factor():
    """Output-first on x (3) -> y (4) -> z (1) runs the operator's adjoint on one row."""
    g = one_operator(lambda: LinearMap(A.shape, 12, lambda X: A @ X, lambda Y: Y @ A * np.nan))
    g.nodes["y"]["role"] = "intermediate"
    g.add_variable("z", 1, role="output", evaluate=lambda v: v["y"][:1])
    g.add_factor("y", "z", "dense", lambda v: np.ones((1, 4)))
    with pytest.raises(GraphError, match="factor 'x' -> 'y': its adjoint gave NaN"):
        run(g, "output-first")
    # the same graph with a sound adjoint gives the product (checked independently)
    g = one_operator(lambda: LinearMap(A.shape, 12, lambda X: A @ X, lambda Y: Y @ A))
    np.testing.assert_allclose(run(g).jacobian, A)


def test_a_count_that_is_not_p_times_e_is_refused():
    g = one_operator(
        lambda: LinearMap(A.shape, 12, lambda X: A @ X, lambda Y: Y @ A, lambda p: 7 * p)
    )
    with pytest.raises(GraphError, match=r"factor 'x' -> 'y'.*count\(1\) = 7.*e = 12"):
        run(g)
    odd = LinearMap(A.shape, 12, lambda X: A @ X, lambda Y: Y @ A, lambda p: 12 * p + (p > 1))
    with pytest.raises(GraphError, match="count gives 25 multiply-adds for 2 vectors"):
        odd.apply(np.ones((3, 2)))


def test_a_jacobian_giving_an_array_says_what_an_operator_needs():
    with pytest.raises(GraphError, match="must give a LinearMap or a scipy sparse matrix.*ndarray"):
        run(one_operator(lambda: A))
    assert run(one_operator(lambda: sparse.csr_matrix(A))).macs == 12 * 3


def test_an_operator_factor_needs_e_of_at_least_one():
    g = one_operator(lambda: LinearMap(A.shape, 0, lambda X: A @ X, lambda Y: Y @ A), e=0)
    with pytest.raises(GraphError, match=r"factor 'x' -> 'y': operator\[0\] needs 1 <= e"):
        analyzer.plan(g, "optimal", "matrix-free")
    # built by hand, an operator[0] must be the zero map when it is applied
    block = Block(Operator(0), (4, 3), LinearMap(A.shape, 0, lambda X: A @ X, lambda Y: Y @ A))
    with pytest.raises(GraphError, match="e = 0 makes it the zero map"):
        multiply_counted(block, Block("dense", (3, 2), np.ones((3, 2))))
    zero = Block(
        Operator(0), (4, 3), LinearMap((4, 3), 0, lambda X: 0 * A @ X, lambda Y: 0 * Y @ A)
    )
    assert multiply_counted(zero, Block("dense", (3, 2), np.ones((3, 2))))[1] == 0


@pytest.mark.parametrize(
    ("dims", "edges", "message"),
    [
        ([3, 4, 5], [-1, 3], r"edges\[0\] is -1: factor J1 \(4×3\) .* from 1 to m·n = 12"),
        ([3, 4, 5], [0, 3], r"edges\[0\] is 0"),
        ([3, 4, 5], [3, 21], r"edges\[1\] is 21: factor J2 \(5×4\) .* from 1 to m·n = 20"),
        ([3, 4, 5], [float("nan"), 3], r"edges\[0\] is nan"),
        ([3, 4, 5], [2.0, 3], r"edges\[0\] is 2.0"),
        ([3, 4, 5], ["2", 3], r"edges\[0\] is '2'"),
        ([3, 4, 5], [3], "one e per factor: 2, got 1"),
        ([3, 4, 5], None, "edges is a list"),
        ([3, -4, 5], [1, 1], r"dims\[1\] is -4; .* integers >= 1"),
        ([3, 0, 5], [1, 1], r"dims\[1\] is 0"),
        ([3, 4.5, 5], [1, 1], r"dims\[1\] is 4.5"),
        (["H", 4, 5], [1, 1], r"dims\[0\] is 'H'"),
        ([3, True, 5], [1, 1], r"dims\[1\] is True"),
        ([3], [], "at least one factor"),
        ("345", [1, 1], "dims is a list"),
    ],
)
def test_chain_optima_validate_their_input(dims, edges, message):
    with pytest.raises(PlanError, match=message):
        operator_chain_optimum(dims, edges)
    if "edges" not in message and "one e per factor" not in message:
        with pytest.raises(PlanError, match=message):
            chain_optimum(dims)


def test_chain_optima_accept_numpy_integers_and_huge_sizes():
    assert chain_optimum(np.array([3, 4, 5]))[0] == 3 * 4 * 5
    big = 10**30
    assert chain_optimum([big, 2, big])[0] == 2 * big * big
    assert operator_chain_optimum([big, 2, big], [5, None])[0] == 5 * big  # big adjoints
    assert operator_chain_optimum([3, 4, 5], [np.int64(12), None])[0] == 5 * 12


@pytest.fixture
def x64_off():
    """JAX's default configuration: float32 unless asked otherwise."""
    jax = pytest.importorskip("jax")
    previous = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", False)
    yield jax
    jax.config.update("jax_enable_x64", previous)


def _net(w, W, x):
    import jax.numpy as jnp

    return jnp.tanh(w @ jnp.tanh(W @ x) * 0.5) + jnp.sin(x[0]) * x[1]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_jax_operators_compute_in_float64_as_the_ordinary_reading(x64_off, dtype):
    """With x64 off (and float32 arguments) the matrix-free reading's tangents and adjoints
    run in float64 and give the ordinary reading's Jacobian to rounding; checked against
    finite differences by analyzer.check as well."""
    from analyzer.frontends import from_jax

    rng = np.random.default_rng(1)
    args = [rng.standard_normal(3), rng.standard_normal((3, 2)), rng.standard_normal(2)]
    args = [a.astype(dtype) for a in args]
    ordinary = from_jax(_net, *args, argnums=(0, 1, 2))
    free = from_jax(_net, *args, argnums=(0, 1, 2), matrix_free=True)
    analyzer.check(free)
    expected = analyzer.execute(analyzer.plan(ordinary, "optimal"), repeat=1, warmup=0).jacobian
    for order in ("input-first", "output-first", "optimal"):
        found = analyzer.execute(analyzer.plan(free, order, "matrix-free"), repeat=1, warmup=0)
        assert found.jacobian.dtype == np.float64
        np.testing.assert_allclose(found.jacobian, expected, rtol=1e-13, atol=1e-15)
    assert not x64_off.config.read("jax_enable_x64")  # the user's setting is left alone


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # the ordinary rule, at 0
def test_jax_operator_giving_infinities_is_the_error_the_ordinary_reading_gives(x64_off):
    import jax.numpy as jnp

    from analyzer.frontends import from_jax

    ordinary = from_jax(jnp.sqrt, np.ones(3))
    free = from_jax(jnp.sqrt, np.ones(3), matrix_free=True)
    with pytest.raises(GraphError, match="factor 'x' -> 'sqrt_1': its jacobian gave NaN"):
        analyzer.execute(analyzer.plan(ordinary, "optimal"), repeat=1, warmup=0, at=np.zeros(3))
    with pytest.raises(GraphError, match="factor 'x' -> 'sqrt_1': its tangent gave NaN"):
        analyzer.execute(
            analyzer.plan(free, "optimal", "matrix-free"), repeat=1, warmup=0, at=np.zeros(3)
        )


HEURISTIC_ORDERS = ("input-first", "output-first", "markowitz", "min-fill", "best-heuristic")


def test_every_order_of_all_orders_costs_what_its_plan_costs(core_model):
    """all_orders lists the plan's macs, final preaccumulations and merges included."""
    for row in analyzer.all_orders(core_model, "matrix-free").itertuples():
        sequence = row.sequence.split(", ") if row.sequence else []
        assert row.macs == analyzer.from_sequence(core_model, sequence, "matrix-free").macs


def test_matrix_free_bounds_hold_and_are_not_zero(core_model):
    """Every order's lower bound is at most the cheapest of all orders (enumerated), and
    positive when some order must multiply; the optimum is that cheapest order."""
    best = min(analyzer.all_orders(core_model, "matrix-free")["macs"])
    assert analyzer.plan(core_model, "optimal", "matrix-free").macs == best
    for order in HEURISTIC_ORDERS:
        p = analyzer.plan(core_model, order, "matrix-free")
        assert p.lower_bound <= best <= p.macs, order
        if best > 0:
            assert p.lower_bound > 0 and p.gap < float("inf"), order


@settings(max_examples=25, deadline=None)
@given(chain=operator_chains(most=5))
def test_heuristics_on_operator_chains_carry_the_exact_optimum_as_bound(chain):
    dims, edges = chain
    g = analyzer.chain(dims, edges=edges)
    best = brute_force(dims, edges)
    for order in HEURISTIC_ORDERS:
        p = analyzer.plan(g, order, "matrix-free")
        assert p.lower_bound == best, order
        assert p.gap == p.macs / best - 1


@pytest.mark.parametrize(
    ("graph", "order", "message"),
    [
        (lambda: analyzer.chain(["H", "N"]), "input-first", r"costs H\*N\*Min\(H, N\)"),
        (lambda: analyzer.models.mlp(["a", "b", "c"]), "output-first", "preaccumulate the left"),
        (lambda: analyzer.models.least_squares("m", "n"), "input-first", "preaccumulate the left"),
        (lambda: analyzer.chain(["H", "N", "K"]), "output-first", "preaccumulate the left"),
        (lambda: analyzer.chain(["H", "N", "K"]), "markowitz", "one_layer"),
        (lambda: analyzer.chain(["H", "N", "K"]), "optimal", "one_layer"),
    ],
)
def test_symbols_under_matrix_free_are_refused_where_a_min_decides(graph, order, message):
    """A min(m, n) of symbols is no polynomial: a PlanError that says what works, never a
    sympy message, and no promise that input-first and output-first always accept symbols."""
    with pytest.raises(PlanError, match=message) as caught:
        analyzer.plan(graph(), order, "matrix-free")
    assert "give numbers" in str(caught.value)
    assert not str(caught.value).endswith("(input-first and output-first accept symbols)")
    with pytest.raises(PlanError, match="give numbers"):
        analyzer.compare(graph(), cost="matrix-free")


def test_symbols_under_matrix_free_work_where_no_min_decides():
    """One input: min(1, N) = 1 settles every choice. By hand, J1 (N×1) is preaccumulated by
    its one tangent (N macs), then J2 (K×N) applied to that column (K·N macs); the
    polynomial agrees with the numeric plans."""
    p = analyzer.plan(analyzer.chain([1, "N", "K"]), "input-first", "matrix-free")
    N, K = sorted(p.formula.free_symbols, key=str)[::-1]
    for n, k in ((1, 1), (3, 2), (5, 9)):
        numeric = analyzer.plan(analyzer.chain([1, n, k]), "input-first", "matrix-free").macs
        assert p.formula.subs({N: n, K: k}) == numeric == n + k * n


def test_check_refuses_a_graph_too_large_to_check_before_making_arrays(monkeypatch):
    with pytest.raises(PlanError, match="not enough memory to check this graph"):
        analyzer.check(analyzer.chain([2**40, 3], edges=[2**40]))
    g = analyzer.chain([6, 5, 4], edges=[7, 9])
    # finite differences hold 3 × 15 variable entries and the 4 × 6 Jacobian: 552 bytes
    monkeypatch.setattr(analyzer.checks, "available_memory", lambda: 8 * (3 * 15 + 24) - 1)
    with pytest.raises(PlanError, match="not enough memory to check"):
        analyzer.check(g)
    monkeypatch.setattr(analyzer.checks, "available_memory", lambda: 2**30)
    assert analyzer.check(g)["ok"].all()


def test_sweep_with_edges_says_why_a_chain_cannot_be_swept(capsys):
    from analyzer.cli import main

    argv = ["sweep", "--model", "chain", "--dims", "3,4,5", "--edges", "5,6", "--out", "unused"]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert "unknown size" not in error
    assert "chain takes lists (--dims, --edges)" in error and "one-layer" in error
    assert len(error.strip().splitlines()) == 1


def test_a_chain_longer_than_the_dp_bound_gets_a_positive_bound_below_the_optimum():
    from analyzer.planning.bounds import CHAIN_BOUND_FACTORS

    rng = np.random.default_rng(5)
    dims = [int(d) for d in rng.integers(1, 9, CHAIN_BOUND_FACTORS + 2)]
    edges = [int(rng.integers(1, a * b + 1)) for a, b in zip(dims, dims[1:], strict=False)]
    g = analyzer.chain(dims, edges=edges)
    best = analyzer.plan(g, "optimal", "matrix-free").macs
    for order in ("input-first", "output-first", "markowitz"):
        assert 0 < analyzer.plan(g, order, "matrix-free").lower_bound <= best
