"""The vectorised interval DP of operator chains against the rule-table DP and a brute force.

``operator_chain_optimum`` writes the GDJCPB prices out as array formulas; the
rule-table DP (``_interval_split``) asks :mod:`analyzer.structure` for every
product, and ``brute_force`` (tests/test_matrix_free.py) enumerates every
bracketing tree with every choice, from the problem's definition. All three must
agree, on the optimum and on the bracketing the plan runs.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse
from test_matrix_free import brute_force

import analyzer
from analyzer.graph import JacobianGraph
from analyzer.planning import Problem
from analyzer.planning import chain as chain_module
from analyzer.planning.chain import OutOfTime, _interval_split, operator_chain_optimum
from analyzer.planning.search import Budget
from analyzer.structure import LinearMap, Operator


@st.composite
def mixed_chains(draw, most: int = 9, dense: bool = True):
    """Sizes, and per factor its e (an operator) or None (dense)."""
    n = draw(st.integers(1, most))
    dims = [draw(st.integers(1, 7)) for _ in range(n + 1)]
    leaves = []
    for i in range(n):
        if dense and draw(st.booleans()) and draw(st.booleans()):
            leaves.append(None)
        else:
            leaves.append(draw(st.integers(1, dims[i] * dims[i + 1])))
    return dims, leaves


def mixed_graph(dims: list[int], leaves: list[int | None], seed: int = 0) -> JacobianGraph:
    """A chain whose factor i is a sparse operator of ``leaves[i]`` nonzeros, or dense."""
    rng = np.random.default_rng(seed)
    g = JacobianGraph(name="mixed")
    g.add_variable("v0", dims[0], role="parameter", value=rng.standard_normal(dims[0]))
    for i, e in enumerate(leaves, start=1):
        rows, cols = dims[i], dims[i - 1]
        if e is None:
            matrix = rng.standard_normal((rows, cols))
            kind, jacobian = "dense", (lambda v, A=matrix: A)
        else:
            where = rng.choice(rows * cols, size=e, replace=False)
            values = rng.standard_normal(e) + 2.0
            matrix = sparse.csr_matrix((values, divmod(where, cols)), shape=(rows, cols))
            kind, jacobian = Operator(e), (lambda v, A=matrix: LinearMap.from_sparse(A))
        role = "output" if i == len(leaves) else "intermediate"
        g.add_variable(
            f"v{i}", rows, role=role, evaluate=lambda v, A=matrix, i=i: A @ v[f"v{i - 1}"]
        )
        g.add_factor(f"v{i - 1}", f"v{i}", kind, jacobian)
    return g.validate()


def rule_table(graph: JacobianGraph, cost: str) -> tuple[int, np.ndarray]:
    return _interval_split(Problem.of(graph, cost), Budget())


@settings(max_examples=80, deadline=None)
@given(chain=mixed_chains())
def test_same_optimum_and_splits_as_the_rule_table_dp(chain):
    dims, leaves = chain
    if len(leaves) == 1:
        assert operator_chain_optimum(dims, leaves)[0] == 0  # no product: nothing to choose
        return
    best, split = operator_chain_optimum(dims, leaves)
    expected, expected_split = rule_table(mixed_graph(dims, leaves), "structured")
    assert best == expected
    assert np.array_equal(split, expected_split)  # the same ties broken the same way


@settings(max_examples=60, deadline=None)
@given(chain=mixed_chains(most=6, dense=False))
def test_operator_chains_meet_the_gdjcpb_brute_force(chain):
    dims, edges = chain
    best, _ = operator_chain_optimum(dims, edges)
    if len(edges) == 1:  # the final preaccumulation is a plan step of its own
        best += edges[0] * min(dims)
    assert best == brute_force(dims, edges)
    assert analyzer.plan(analyzer.chain(dims, edges=edges), "optimal", "matrix-free").macs == best


def test_huge_sizes_are_exact_beyond_int64():
    dims = [3_000_000, 2_000_000, 5_000_000, 1_000_000]
    edges = [4_000_000_000_000, 7_000_000, 10**12]
    assert operator_chain_optimum(dims, edges)[0] == brute_force(dims, edges)
    dense = operator_chain_optimum(dims, [None] * 3)[0]
    assert dense == min(
        dims[3] * dims[2] * dims[1] + dims[3] * dims[1] * dims[0],
        dims[2] * dims[1] * dims[0] + dims[3] * dims[2] * dims[0],
    )


def test_plans_use_it_and_run_the_bracketing_it_found(monkeypatch):
    def refused(*args, **kwargs):
        raise AssertionError("the rule-table DP ran on an operator chain")

    dims, leaves = [6, 4, 7, 3, 5, 2], [9, None, 11, 8, None]
    g = mixed_graph(dims, leaves, seed=3)
    expected, _ = rule_table(g, "structured")
    monkeypatch.setattr(chain_module, "_interval_split", refused)
    for cost in ("structured", "matrix-free"):
        p = analyzer.plan(g, "optimal", cost)
        assert p.proven_optimal
        run = analyzer.execute(p, repeat=1)
        assert run.macs == p.macs
        product = np.eye(dims[0])
        for i in range(1, len(dims)):
            block = g.factor(f"v{i - 1}", f"v{i}", {})
            product = block.dense() @ product
        np.testing.assert_allclose(run.jacobian, product, rtol=1e-10, atol=1e-12)
    assert analyzer.plan(g, "optimal", "structured").macs == expected


def test_the_budget_stops_it():
    rng = np.random.default_rng(0)
    dims = [int(d) for d in rng.integers(1, 30, 61)]
    edges = [int(rng.integers(1, dims[i] * dims[i + 1] + 1)) for i in range(60)]
    with pytest.raises(OutOfTime):
        operator_chain_optimum(dims, edges, Budget(1e-9))
    p = analyzer.plan(analyzer.chain(dims, edges=edges), "optimal", "matrix-free", time_limit=1e-9)
    assert not p.proven_optimal


def test_bad_arguments_are_the_projects_error():
    with pytest.raises(analyzer.AnalyzerError, match="one e per factor"):
        operator_chain_optimum([3, 4, 5], [2])
    with pytest.raises(analyzer.AnalyzerError, match="at least one factor"):
        operator_chain_optimum([3], [])
