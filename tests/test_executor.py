"""Executor: executed macs equal planned macs, and every order gives one Jacobian.

Reference Jacobians are the dense product of the factors (chains) or central
finite differences written here; no timing is asserted.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import central_differences, structured_chains
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer import all_orders, chain, execute, plan
from analyzer.errors import PlanError
from analyzer.models import one_layer

ORDERS = ("input-first", "output-first", "optimal")
COSTS = ("dense", "structured")
DIAGONAL_FAMILY = ("identity", "scalar", "diagonal")


def with_sequence(p, sequence):
    """The plan ``p`` eliminating ``sequence`` instead (for the enumerated orders)."""
    return dataclasses.replace(p, order="enumerated", sequence=tuple(sequence))


def assert_same_jacobian(actual, expected):
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-13 * scale)


# ------------------------------------------------------------------ macs
def assert_every_order_gives(g, expected):
    """Every order under every cost model executes its planned macs and this Jacobian."""
    for order in ORDERS:
        for cost in COSTS:
            p = plan(g, order, cost)
            run = execute(p, repeat=1, warmup=0)
            assert run.macs == p.macs
            assert_same_jacobian(run.jacobian, expected)


@pytest.mark.parametrize("cost", COSTS)
@pytest.mark.parametrize("order", ORDERS)
def test_executed_macs_equal_planned_macs(core_model, order, cost):
    p = plan(core_model, order, cost)
    run = execute(p, repeat=1)
    assert run.macs == p.macs
    assert run.adds == p.adds
    assert run.jacobian.shape == (core_model.output_size, core_model.parameter_size)
    assert len(run.step_seconds) == len(p.steps)
    assert run.repeats == 1


def test_every_enumerated_order_executes_to_one_jacobian(core_model):
    """All elimination orders (or bracketings), both cost models: same Jacobian, macs as listed."""
    reference = execute(plan(core_model, "input-first", "dense"), repeat=1).jacobian
    fd = central_differences(core_model)
    scale = max(1.0, float(np.abs(fd).max()))
    assert np.abs(reference - fd).max() <= 1e-6 * scale
    for cost in COSTS:
        base = plan(core_model, "optimal", cost)
        table = all_orders(core_model, cost)
        assert len(table) >= 1
        for row in table.itertuples():
            sequence = row.sequence.split(", ") if row.sequence else []
            run = execute(with_sequence(base, sequence), repeat=1, warmup=0)
            assert run.macs == row.macs, (cost, row.sequence)
            assert_same_jacobian(run.jacobian, reference)


def test_repetitions_count_one_run_and_change_nothing():
    p = plan(one_layer(4, 3), "input-first", "structured")
    once = execute(p, repeat=1, warmup=0)
    many = execute(p, repeat=4, warmup=2)
    assert many.repeats >= 4
    assert many.macs == once.macs == p.macs  # macs of one run, not of all repetitions
    np.testing.assert_array_equal(many.jacobian, once.jacobian)
    unpinned = execute(p, repeat=1, threads=None)
    np.testing.assert_array_equal(unpinned.jacobian, once.jacobian)


def test_min_repeat_stops_long_runs_early_and_not_short_ones():
    p = plan(one_layer(4, 3), "input-first", "structured")
    # max_seconds=0: every run "took" the budget, so min_repeat runs are enough
    assert execute(p, repeat=5, warmup=0, max_seconds=0.0, min_repeat=2).repeats == 2
    # without min_repeat, repeat is a floor whatever the time
    assert execute(p, repeat=5, warmup=0, max_seconds=0.0).repeats == 5
    # a budget no run reaches leaves repeat untouched
    assert execute(p, repeat=4, warmup=0, max_seconds=1e9, min_repeat=2).repeats == 4
    # min_repeat above repeat is clamped to repeat
    assert execute(p, repeat=2, warmup=0, max_seconds=0.0, min_repeat=9).repeats == 2
    for bad in (0, -1, 1.5, True):
        with pytest.raises(PlanError, match="min_repeat"):
            execute(p, repeat=2, min_repeat=bad)


def test_peak_does_not_depend_on_the_warm_up():
    p = plan(one_layer(64, 32), "input-first")
    warmed = execute(p, repeat=1, warmup=1).peak_bytes
    after = execute(p, repeat=1, warmup=0).peak_bytes
    # the same arrays either way; Python's own small objects move it by bytes, not by a factor
    assert abs(warmed - after) <= 1024
    assert abs(after - p.peak_bytes) <= 0.01 * p.peak_bytes
    assert execute(p, repeat=1, warmup=2, memory=False).peak_bytes is None


def test_the_peak_of_a_first_call_does_not_count_lazy_imports():
    """A kernel may import a module on its first call (scipy.sparse for a selection): the
    traced run comes after the timed ones, so a fresh process measures the same peak twice."""
    code = textwrap.dedent(
        """
        import numpy as np, analyzer
        from analyzer.planning import plan
        def f(W):
            y = np.tanh(W[:, 1:])
            return np.tanh(y @ np.ones((y.shape[1], 4)))
        p = plan(analyzer.trace(f, np.ones((64, 33))), "output-first", "structured")
        print(analyzer.execute(p, repeat=1, warmup=1).peak_bytes,
              analyzer.execute(p, repeat=1, warmup=1).peak_bytes)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, second = map(int, out.stdout.split())
    assert abs(first - second) <= 1024


def test_gflops_count_two_flops_per_mac():
    run = execute(plan(one_layer(8, 4), "input-first"), repeat=2)
    if run.seconds > 0:
        assert run.gflops == pytest.approx(2.0 * run.macs / run.seconds / 1e9)


# ------------------------------------------------------------------ points
def test_point_as_dict_or_vector_gives_the_same_jacobian():
    g = one_layer(3, 2)
    rng = np.random.default_rng(5)
    w, W = rng.standard_normal(3), rng.standard_normal((3, 2))
    p = plan(g, "output-first", "structured")
    by_dict = execute(p, repeat=1, at={"w": w, "W": W}).jacobian
    by_vector = execute(p, repeat=1, at=np.concatenate([w, W.ravel()])).jacobian
    default = execute(p, repeat=1).jacobian
    np.testing.assert_array_equal(by_dict, by_vector)
    assert not np.allclose(by_dict, default)


# ------------------------------------------------------------------ chains
def chain_matrices(g):
    n = len(g.nodes) - 1
    return [g.edges[f"v{i - 1}", f"v{i}"]["jacobian"]({}) for i in range(1, n + 1)]


@settings(max_examples=25, deadline=None)
@given(dims=st.lists(st.integers(1, 8), min_size=2, max_size=7))
def test_chain_jacobian_is_the_product_of_its_factors(dims):
    g = chain(dims, seed=len(dims))
    expected = np.eye(dims[0])
    for J in chain_matrices(g):
        expected = J @ expected
    assert_every_order_gives(g, expected)


@settings(max_examples=30, deadline=None)
@given(spec=structured_chains(), seed=st.integers(0, 2**16))
def test_structured_chain_jacobian_is_the_dense_product(naive, graphs, spec, seed):
    sizes, kinds = spec
    g = graphs.kinds_chain(sizes, kinds, seed=seed)
    expected = np.eye(sizes[0])
    for i in range(1, len(kinds) + 1):
        edge = g.edges[f"v{i - 1}", f"v{i}"]  # a square row-block is stored as diagonal
        data = edge["jacobian"]({}) if edge["jacobian"] else None
        expected = naive.dense(edge["structure"], (sizes[i], sizes[i - 1]), data) @ expected
    assert_every_order_gives(g, expected)
