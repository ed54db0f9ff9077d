"""``from_jax(..., matrix_free=True)``: every primitive's factor an operator run by JAX.

Each case of tests/test_jax.py is read both ways. The matrix-free reading has the
same variables and factors, each an ``operator[e]`` whose ``e`` is the pattern size
of the ordinary reading's kind (so ``"matrix-free"`` prices both alike) and covers
every partial derivative that is not zero; applying it equals the ordinary factor's
matrix times the vectors, counted at ``e`` per vector; and every executed plan
gives ``jax.jacfwd``'s Jacobian (float64, rtol 1e-10) with executed macs equal to
planned macs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from test_jax import CASES, Case, jsheet, mlp_loss

import analyzer
from analyzer import models
from analyzer.errors import TraceError
from analyzer.frontends import from_jax
from analyzer.structure import kind_of

try:
    import jax
    import jax.numpy as jnp
except ImportError:
    jax = jnp = None

ORDERS = ("input-first", "output-first", "optimal")


@pytest.fixture(autouse=True)
def x64() -> Any:
    pytest.importorskip("jax")
    previous = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", previous)


def jacfwd(f, args: tuple, argnums: tuple[int, ...]) -> np.ndarray:
    """``jax.jacfwd`` as one matrix: outputs (flattened, in order) x parameters
    (``jax.jacrev`` for a function with a ``custom_vjp``, which has no forward mode)."""
    try:
        jac = jax.jacfwd(f, argnums=argnums)(*args)
    except TypeError as error:
        if "custom_vjp" not in str(error):
            raise
        jac = jax.jacrev(f, argnums=argnums)(*args)
    outs = jax.eval_shape(f, *args)
    several = isinstance(outs, tuple | list)
    outs, jac = (list(outs), list(jac)) if several else ([outs], [jac])
    return np.vstack(
        [
            np.hstack(
                [
                    np.asarray(blocks[j]).reshape(int(np.prod(out.shape)), np.size(args[i]))
                    for j, i in enumerate(argnums)
                ]
            )
            for out, blocks in zip(outs, jac, strict=True)
        ]
    )


def joins_an_output(g, tail: str, head: str) -> bool:
    """The identity joining a returned value to an output variable of its own."""
    return g.nodes[head]["label"] == f"{head} = {tail}"


def both_readings(f, args, argnums):
    ordinary = from_jax(f, *args, argnums=argnums)
    free = from_jax(f, *args, argnums=argnums, matrix_free=True)
    return ordinary, free


def check(f, args, argnums, costs=("matrix-free", "structured")) -> analyzer.JacobianGraph:
    ordinary, free = both_readings(f, args, argnums)
    assert list(free) == list(ordinary)
    assert set(free.edges) == set(ordinary.edges)
    rng = np.random.default_rng(0)
    values, values_free = ordinary.evaluate(), free.evaluate()
    for tail, head, kind in free.edges(data="structure"):
        shape = free.edges[tail, head]["shape"]
        if joins_an_output(free, tail, head):
            assert kind == "identity"
            continue
        assert kind.name == "operator", (tail, head, kind)
        pattern = kind_of(ordinary.edges[tail, head]["structure"])
        assert kind.e == pattern.nonzeros(shape)
        matrix = ordinary.factor(tail, head, values).dense()
        assert np.count_nonzero(matrix) <= kind.e <= shape[0] * shape[1]
        operator = free.factor(tail, head, values_free).data
        X = rng.standard_normal((shape[1], 3))
        Y, counted = operator.apply(X)
        np.testing.assert_allclose(Y, matrix @ X, rtol=1e-10, atol=1e-12)
        assert counted == 3 * kind.e
        Z = rng.standard_normal((2, shape[0]))
        W, counted = operator.apply_adjoint(Z)
        np.testing.assert_allclose(W, Z @ matrix, rtol=1e-10, atol=1e-12)
        assert counted == 2 * kind.e
    priced = [analyzer.compare(g, "matrix-free")["macs"].tolist() for g in (ordinary, free)]
    assert priced[0] == priced[1]
    expected = jacfwd(f, args, argnums)
    for cost in costs:
        for order in ORDERS:
            p = analyzer.plan(free, order, cost)
            run = analyzer.execute(p, repeat=1, warmup=0)
            assert run.macs == p.macs, (order, cost)
            np.testing.assert_allclose(run.jacobian, expected, rtol=1e-10, atol=1e-12)
    return free


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_primitive(case: Case) -> None:
    check(case.f, case.args, case.argnums, costs=("matrix-free",))


def test_sheet_network_prices_as_the_hand_built_model() -> None:
    H, N = 6, 4
    ref = models.one_layer(H, N)
    args = ref.value("w"), ref.value("W"), ref.value("x")
    g = check(jsheet, args, (0, 1), costs=("matrix-free", "structured"))
    table = analyzer.compare(g, "matrix-free").set_index("order")["macs"]
    assert table["input-first"] == 2 * H**2 * N + H**2 + H * N + H + 1  # tests/test_matrix_free
    assert table["optimal"] <= table["output-first"]
    assert analyzer.compare(ref, "matrix-free")["macs"].tolist() == table.tolist()


def test_mlp_with_biases_and_softmax_cross_entropy() -> None:
    rng = np.random.default_rng(5)
    B, sizes = 2, [3, 4, 3, 2]
    Ws = [rng.standard_normal((a, b)) for a, b in zip(sizes, sizes[1:], strict=False)]
    bs = [rng.standard_normal(b) for b in sizes[1:]]
    X = rng.standard_normal((B, sizes[0]))
    Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], B)]
    args = (Ws[0], bs[0], Ws[1], bs[1], Ws[2], bs[2], X, Y)
    check(mlp_loss(jnp), args, (0, 1, 2, 3, 4, 5), costs=("matrix-free",))


def test_a_gradient_function_gives_the_hessian() -> None:
    def f(x):
        return jnp.sum(jnp.sin(x) * x)

    x = np.linspace(0.1, 1.0, 4)
    g = check(jax.grad(f), (x,), (0,), costs=("matrix-free",))
    run = analyzer.execute(analyzer.plan(g, "optimal", "matrix-free"), repeat=1, warmup=0)
    np.testing.assert_allclose(run.jacobian, jax.hessian(f)(x), rtol=1e-10)


def test_operators_follow_the_point_the_graph_is_evaluated_at() -> None:
    def f(x, W):
        return jnp.tanh(W @ x)

    x, W = np.linspace(0.1, 0.9, 3), np.arange(6.0).reshape(2, 3) / 10
    g = from_jax(f, x, W, argnums=(0, 1), matrix_free=True)
    other = {"x": x[::-1].copy(), "W": W + 0.5}
    run = analyzer.execute(analyzer.plan(g, "optimal", "matrix-free"), repeat=1, at=other)
    expected = jacfwd(f, (other["x"], other["W"]), (0, 1))
    np.testing.assert_allclose(run.jacobian, expected, rtol=1e-10)


@pytest.mark.parametrize("bad", ["yes", 1, None, np.bool_(True)])
def test_matrix_free_must_be_a_bool(bad) -> None:
    with pytest.raises(TraceError, match="matrix_free must be True or False"):
        from_jax(jnp.sin, np.ones(3), matrix_free=bad)


def test_many_vectors_are_applied_in_blocks(monkeypatch) -> None:
    from analyzer.frontends import jax_rules

    monkeypatch.setattr(jax_rules, "VECTORS_PER_CALL", 2)

    def f(x, W):
        return jnp.sin(W @ x)

    x, W = np.linspace(0.1, 0.9, 3), np.arange(6.0).reshape(2, 3) / 10
    g = from_jax(f, x, W, argnums=(0, 1), matrix_free=True)
    for order in ORDERS:  # 9 tangents per factor input-first, 2 adjoints output-first
        run = analyzer.execute(analyzer.plan(g, order, "matrix-free"), repeat=1, warmup=0)
        np.testing.assert_allclose(run.jacobian, jacfwd(f, (x, W), (0, 1)), rtol=1e-10)
