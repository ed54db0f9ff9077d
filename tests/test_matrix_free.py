"""Matrix-free factors: the GDJCPB rules against a brute force, jacfwd / jacrev, exact counts.

The brute force below enumerates every bracketing tree of an operator chain with every
choice at each node (explicit product, tangent application, adjoint application,
preaccumulation of a leaf), written from the problem's definition, not from the rules.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import analyzer
from analyzer.errors import GraphError
from analyzer.structure import LinearMap

ORDERS = ("input-first", "output-first", "optimal")


def brute_force(dims: list[int], edges: list[int]) -> int:
    """Cheapest GDJCPB evaluation of ``J_n ⋯ J_1`` (``J_i`` is ``dims[i] x dims[i-1]``)."""

    @functools.cache
    def options(i: int, j: int) -> dict[str, int]:
        """Cheapest cost of factors i+1..j as an operator (leaves only) or as a matrix."""
        rows, cols = dims[j], dims[i]
        if j == i + 1:
            e = edges[i]
            return {"operator": 0, "matrix": e * min(rows, cols)}
        best = float("inf")
        for k in range(i + 1, j):
            left, right = options(k, j), options(i, k)  # left = J_j..J_{k+1}, right = J_k..J_{i+1}
            m, inner, n = dims[j], dims[k], dims[i]
            for lf, lc in left.items():
                for rf, rc in right.items():
                    if lf == "matrix" and rf == "matrix":
                        step = m * inner * n  # explicit product
                    elif lf == "operator" and rf == "matrix":
                        step = n * edges[k]  # tangents of the left leaf J_{k+1} on n columns
                    elif lf == "matrix" and rf == "operator":
                        step = m * edges[k - 1]  # adjoints of the right leaf J_k on m rows
                    else:
                        continue  # two operators: one of them must be preaccumulated first
                    best = min(best, lc + rc + step)
        return {"matrix": best}

    found = options(0, len(dims) - 1)
    return min(found["matrix"], found.get("operator", float("inf")) + 10**18)


@st.composite
def operator_chains(draw, most: int = 6):
    n = draw(st.integers(1, most))
    dims = [draw(st.integers(1, 6)) for _ in range(n + 1)]
    edges = [draw(st.integers(1, dims[i + 1] * dims[i])) for i in range(n)]
    return dims, edges


@settings(max_examples=60, deadline=None)
@given(chain=operator_chains())
def test_optimum_equals_the_gdjcpb_brute_force(chain):
    dims, edges = chain
    g = analyzer.chain(dims, edges=edges)
    best = analyzer.plan(g, "optimal", "matrix-free")
    assert best.macs == brute_force(dims, edges)
    total = sum(edges)
    assert best.macs <= dims[0] * total  # jacfwd: one tangent per input through every factor
    assert best.macs <= dims[-1] * total  # jacrev: one adjoint per output
    preaccumulated = sum(e * min(dims[i], dims[i + 1]) for i, e in enumerate(edges))
    dense = analyzer.plan(analyzer.chain(dims), "optimal").macs
    assert best.macs <= preaccumulated + dense  # global preaccumulation, then the dense optimum


@pytest.mark.parametrize(
    ("dims", "edges"), [([8, 7, 8, 5, 7], [44, 2, 18, 11]), ([3, 5, 4, 6], [7, 11, 9])]
)
def test_every_order_executes_its_planned_macs_and_the_sparse_product(dims, edges):
    g = analyzer.chain(dims, edges=edges)
    expected = np.eye(dims[0])
    for i in range(1, len(dims)):
        expected = g.factor(f"v{i - 1}", f"v{i}", {}).data.matrix()[0] @ expected
    for cost in ("matrix-free", "structured"):
        for order in ORDERS:
            p = analyzer.plan(g, order, cost)
            run = analyzer.execute(p, repeat=1)
            assert run.macs == p.macs
            np.testing.assert_allclose(run.jacobian, expected, rtol=1e-10, atol=1e-14)


def test_the_issues_example_beats_both_modes():
    g = analyzer.chain([8, 7, 8, 5, 7], edges=[44, 2, 18, 11])
    table = analyzer.compare(g, cost="matrix-free").set_index("order")["macs"]
    total = 44 + 2 + 18 + 11
    assert table["optimal"] < min(table["input-first"], table["output-first"])
    assert table["optimal"] < min(8 * total, 7 * total)  # jacfwd 600, jacrev 525
    assert table["optimal"] == brute_force([8, 7, 8, 5, 7], [44, 2, 18, 11]) == 408


@pytest.mark.parametrize(("dims", "edges"), [([2, 5, 6, 4, 3], [6, 20, 13, 9])])
def test_ends_are_jacfwd_and_jacrev_when_the_seed_side_is_narrowest(dims, edges):
    """With n_in <= every size, input-first is n_in · Σe (jacfwd); with m_out <= every size,
    output-first is m_out · Σe (jacrev)."""
    g = analyzer.chain(dims, edges=edges)
    assert analyzer.plan(g, "input-first", "matrix-free").macs == dims[0] * sum(edges)
    mirrored = analyzer.chain(
        dims[::-1],
        edges=[min(e, dims[::-1][i] * dims[::-1][i + 1]) for i, e in enumerate(edges[::-1])],
    )
    reversed_edges = [min(e, dims[::-1][i] * dims[::-1][i + 1]) for i, e in enumerate(edges[::-1])]
    assert analyzer.plan(mirrored, "output-first", "matrix-free").macs == dims[0] * sum(
        reversed_edges
    )


@pytest.mark.parametrize(("H", "N"), [(1, 1), (2, 3), (10, 5), (7, 11), (16, 4)])
def test_sheet_network_matrix_free_polynomials(H, N):
    """By hand, with e = HN (row-block), H (diagonal), H (wᵀ and yᵀ rows), 1 (σ'):
    input-first: eliminate u: y←u·u←W preaccumulates y←u then adjoints of u←W on H rows,
    H² + H²N; y: tangents of z←y on HN columns, H²N; z: out←z on z←W, HN, and on z←w,
    1 + H (preaccumulate σ', one adjoint of z←w). Output-first: z: two products 1 + H each;
    y: one adjoint of y←u, H; u: one adjoint of u←W, HN."""
    g = analyzer.models.one_layer(H, N)
    forward = analyzer.plan(g, "input-first", "matrix-free").macs
    reverse = analyzer.plan(g, "output-first", "matrix-free").macs
    assert forward == 2 * H**2 * N + H**2 + H * N + H + 1
    assert reverse == H * N + 3 * H + 2
    assert analyzer.plan(g, "optimal", "matrix-free").macs <= reverse


def test_a_sparse_tangent_counts_what_a_naive_loop_multiplies():
    g = analyzer.chain([4, 3], edges=[5])
    A = g.factor("v0", "v1", {}).data
    X = np.arange(8.0).reshape(4, 2)
    Y, counted = A.apply(X)
    dense = A.matrix()[0]
    naive, multiplications = np.zeros((3, 2)), 0
    for i, j in itertools.product(range(3), range(4)):
        if dense[i, j] != 0:
            for p in range(2):
                naive[i, p] += dense[i, j] * X[j, p]
                multiplications += 1
    np.testing.assert_allclose(Y, naive)
    assert counted == multiplications == 5 * 2


@pytest.mark.parametrize(
    ("edges", "message"),
    [
        ([0, 2], "from 1 to"),
        ([57, 2], "from 1 to 56"),
        ([3], "one count per factor"),
        ("44", "list"),
    ],
)
def test_bad_edges_are_named(edges, message):
    with pytest.raises(GraphError, match=message):
        analyzer.chain([8, 7, 8], edges=edges)


def test_a_tangent_of_the_wrong_shape_is_the_projects_error():
    g = analyzer.JacobianGraph()
    g.add_variable("x", 3, role="parameter", value=np.ones(3))
    g.add_variable("y", 2, role="intermediate", evaluate=lambda v: v["x"][:2])
    bad = LinearMap((2, 3), 2, lambda X: X, lambda Y: Y)  # returns its input unchanged
    g.add_factor("x", "y", analyzer.structure.Operator(2), lambda v: bad)
    g.add_variable("z", 2, role="output", evaluate=lambda v: v["y"])
    g.add_factor("y", "z", "identity")
    g.add_variable("w", 1, role="output", evaluate=lambda v: v["y"][:1])
    g.add_factor("y", "w", "dense", lambda v: np.ones((1, 2)))
    with pytest.raises(analyzer.AnalyzerError, match="tangent gave|adjoint gave"):
        analyzer.execute(analyzer.plan(g, "input-first", "matrix-free"), repeat=1)


def test_symbolic_matrix_free_polynomials_match_the_numeric_plans():
    g = analyzer.models.one_layer("H", "N")
    forward = analyzer.plan(g, "input-first", "matrix-free")
    H, N = sorted(forward.formula.free_symbols, key=str)
    assert forward.formula.expand() == (2 * H**2 * N + H**2 + H * N + H + 1)
    for h, n in ((1, 1), (3, 7), (100, 100)):
        numeric = analyzer.plan(analyzer.models.one_layer(h, n), "input-first", "matrix-free")
        assert forward.evaluate(H=h, N=n) == numeric.macs


def test_the_bound_of_a_proven_plan_includes_the_final_preaccumulation():
    p = analyzer.plan(analyzer.chain([5, 3], edges=[7]), "optimal", "matrix-free")
    assert p.proven_optimal and p.macs == p.lower_bound == 7 * 3


def test_operator_costs_must_be_integers():
    with pytest.raises(analyzer.AnalyzerError, match="integer e >= 0"):
        analyzer.structure.Operator(3.0)
