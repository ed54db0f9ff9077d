"""Matrix-free factors: the GDJCPB rules against a brute force, jacfwd / jacrev, exact counts.

The brute force below enumerates every bracketing tree of an operator chain with every
choice at each node (explicit product, tangent application, adjoint application,
preaccumulation of a leaf), written from the problem's definition, not from the rules.
"""

from __future__ import annotations

import functools
import itertools
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_planning_scale import random_graph

import analyzer
from analyzer.errors import GraphError
from analyzer.planning.api import all_orders, from_sequence
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


# The sheet's network under "matrix-free", by hand. Factors (e = pattern nonzeros):
# u←W row-block H×HN (e = HN), y←u diagonal H×H (e = H), z←y and z←w rows 1×H
# (e = H each), out←z σ' 1×1 (e = 1). Two maps meet as the cheaper of (form the right
# one, tangents of the left on its columns) and (form the left one, adjoints of the
# right on its rows); a map meets a matrix by tangents (its columns) or adjoints (rows).
#   out←z · z←w (or z←y): form σ' (1), one adjoint of the 1×H row (H): 1 + H
#     (the other way, H + H, is never cheaper).
#   z←y · y←u, two maps: form z←y (H·1), one adjoint of y←u (H): 2H (other: H² + H²).
#   y←u · u←W, two maps: form y←u (H·H), H adjoints of u←W (H·HN): H² + H²N
#     (other: form u←W, HN·H, then HN tangents of y←u, HN·H: 2H²N).
#   a 1×H matrix times u←W: one adjoint, HN; times y←u: one adjoint, H.
#   out←z times a 1×HN matrix: HN tangents of σ', HN; a 1×H matrix times an H×HN
#   matrix: H²N.
# Every order (no merges: each pair of vertices has one path):
SHEET_ORDERS = {
    ("z", "y", "u"): lambda H, N: 2 * (1 + H) + H + H * N,  # output-first
    ("y", "z", "u"): lambda H, N: 2 * H + H + (1 + H) + H * N,
    ("y", "u", "z"): lambda H, N: 2 * H + H * N + H * N + (1 + H),
    ("u", "z", "y"): lambda H, N: (H**2 + H**2 * N) + 2 * (1 + H) + H**2 * N,
    ("z", "u", "y"): lambda H, N: 2 * (1 + H) + (H**2 + H**2 * N) + H**2 * N,
    ("u", "y", "z"): lambda H, N: (H**2 + H**2 * N) + H**2 * N + H * N + (1 + H),  # input-first
}
# Against output-first (HN + 3H + 2) the others differ by H − 1, HN − 1, 2H²N + H² − HN − H
# (twice) and 2H²N + H² − 2H − 1, all ≥ 0 for H, N ≥ 1: the optimum is HN + 3H + 2.


@pytest.mark.parametrize(("H", "N"), [(1, 1), (2, 3), (10, 5), (7, 11), (16, 4), (1, 6), (5, 1)])
def test_sheet_network_matrix_free_polynomials(H, N):
    g = analyzer.models.one_layer(H, N)
    forward = analyzer.plan(g, "input-first", "matrix-free").macs
    reverse = analyzer.plan(g, "output-first", "matrix-free").macs
    best = analyzer.plan(g, "optimal", "matrix-free")
    assert forward == 2 * H**2 * N + H**2 + H * N + H + 1 == SHEET_ORDERS["u", "y", "z"](H, N)
    assert reverse == H * N + 3 * H + 2 == SHEET_ORDERS["z", "y", "u"](H, N)
    assert best.macs == H * N + 3 * H + 2 and best.proven_optimal
    for sequence, macs in SHEET_ORDERS.items():  # brute force over every order
        assert from_sequence(g, list(sequence), "matrix-free").macs == macs(H, N), sequence
    assert best.macs == min(macs(H, N) for macs in SHEET_ORDERS.values())


def jacfwd_input_first(dims, edges):
    """Input-first on an operator chain, from the rules by hand (see the README)."""
    if len(edges) == 1:
        return edges[0] * min(dims)
    d0, d1, d2 = dims[:3]
    e1, e2 = edges[:2]
    first = min(e1 * min(d0, d1) + d0 * e2, e2 * min(d1, d2) + d2 * e1)
    return first + d0 * sum(edges[2:])


@settings(max_examples=60, deadline=None)
@given(chain=operator_chains())
def test_input_and_output_first_against_jacfwd_and_jacrev(chain):
    """Input-first ≤ n_in·Σe (jacfwd), equal when n_in ≤ d_1 and n_in ≤ d_2 (for q ≥ 2;
    for one factor, when n_in ≤ m_out); output-first mirrored (jacrev)."""
    dims, edges = chain
    g = analyzer.chain(dims, edges=edges)
    forward = analyzer.plan(g, "input-first", "matrix-free").macs
    reverse = analyzer.plan(g, "output-first", "matrix-free").macs
    assert forward == jacfwd_input_first(dims, edges)
    assert reverse == jacfwd_input_first(dims[::-1], edges[::-1])
    n_in, m_out, total = dims[0], dims[-1], sum(edges)
    assert forward <= n_in * total and reverse <= m_out * total
    if n_in <= min(dims[1:3]):
        assert forward == n_in * total
    if m_out <= min(dims[-3:-1]):
        assert reverse == m_out * total
    if n_in == min(dims) and (len(edges) > 1 or n_in < m_out):
        assert forward == n_in * total


def test_jacfwd_equality_needs_the_input_to_be_smallest_near_it():
    # d0 = 3 > d1 = 1: the first product forms J1 (3·1) and pushes 3 tangents through J2
    g = analyzer.chain([3, 1, 4], edges=[3, 4])
    assert analyzer.plan(g, "input-first", "matrix-free").macs == 3 + 3 * 4 < 3 * (3 + 4)


def dense_product(g, n):
    expected = np.eye(g.nodes["v0"]["size"])
    for i in range(1, n + 1):
        expected = g.factor(f"v{i - 1}", f"v{i}", {}).data.matrix()[0] @ expected
    return expected


@pytest.mark.parametrize(
    ("dims", "edges"), [([3, 5, 4, 6], [7, 11, 9]), ([2, 4, 3, 2, 5], [5, 4, 6, 3]), ([4, 3], [5])]
)
def test_every_order_of_a_chain_executes_what_it_plans(dims, edges):
    g = analyzer.chain(dims, edges=edges)
    expected = dense_product(g, len(edges))
    inside = [f"v{i}" for i in range(1, len(dims) - 1)]
    for sequence in itertools.permutations(inside):
        p = from_sequence(g, list(sequence), "matrix-free")
        run = analyzer.execute(p, repeat=1, warmup=0)
        assert run.macs == p.macs, sequence
        np.testing.assert_allclose(run.jacobian, expected, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("seed", [23, 3, 7])
def test_every_order_of_a_small_graph_executes_what_it_plans(seed):
    g = random_graph(4, seed)
    reference = analyzer.execute(analyzer.plan(g, "input-first", "dense"), repeat=1, warmup=0)
    inside = [v for v in g.nodes if g.nodes[v]["role"] == "intermediate"]
    for sequence in itertools.permutations(inside):
        p = from_sequence(g, list(sequence), "matrix-free")
        run = analyzer.execute(p, repeat=1, warmup=0)
        assert run.macs == p.macs, sequence
        np.testing.assert_allclose(run.jacobian, reference.jacobian, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("intermediates", "seeds"), [(3, range(12)), (5, (23, 1, 2, 4))])
def test_optimal_on_random_dags_equals_every_order_priced(intermediates, seeds):
    """The optimum under matrix-free against from_sequence over every permutation (merges
    that form an operator's matrix included): proven, with an honest bound."""
    for seed in seeds:
        g = random_graph(intermediates, seed)
        inside = [v for v in g.nodes if g.nodes[v]["role"] == "intermediate"]
        every = {
            seq: from_sequence(g, list(seq), "matrix-free").macs
            for seq in itertools.permutations(inside)
        }
        best = analyzer.plan(g, "optimal", "matrix-free")
        assert best.macs == min(every.values()), seed
        assert best.proven_optimal and best.lower_bound == best.macs, seed
        table = all_orders(g, "matrix-free")
        priced = dict(zip(table["sequence"], table["macs"], strict=True))
        assert priced == {", ".join(seq): macs for seq, macs in every.items()}


def shortcut_graph():
    """p -> a -> o, p -> b -> o and p -> o: both parts merge into J(o, p)."""
    g = analyzer.JacobianGraph(name="parts")
    g.add_variable("p", 4, role="parameter", value=np.ones(4))
    for v in ("a", "b"):
        g.add_variable(v, 4, role="intermediate", evaluate=lambda x: x["p"])
        g.add_factor("p", v, "diagonal", lambda x: np.full(4, 2.0))
    g.add_variable("o", 5, role="output", evaluate=lambda x: np.ones(5))
    for v in ("a", "b", "p"):
        g.add_factor(v, "o", "dense", lambda x: np.ones((5, 4)))
    return g


def test_parts_that_merge_into_one_operator_form_it_once():
    g = shortcut_graph()
    # by hand: J(o,a)·J(a,p): form the diagonal (4·4), 4 tangents of J(o,a) (4·20): 96;
    # the first merge forms J(o,p) (20·min(5, 4) = 80), the second finds it formed.
    best = analyzer.plan(g, "optimal", "matrix-free")
    assert best.macs == 96 + 80 + 96 == best.lower_bound and best.proven_optimal
    assert analyzer.execute(best, repeat=1, warmup=0).macs == best.macs


@pytest.mark.parametrize("cost", ["dense", "structured", "matrix-free"])
@pytest.mark.parametrize(
    "build",
    [
        lambda: analyzer.chain([5, 3], edges=[7]),
        lambda: analyzer.chain([3, 5, 4, 6], edges=[7, 11, 9]),
        shortcut_graph,
        lambda: random_graph(4, 23),
        lambda: analyzer.models.one_layer(3, 2),
    ],
    ids=["one-factor chain", "chain", "shortcut", "random_graph(4, 23)", "one_layer(3, 2)"],
)
def test_all_orders_prices_every_order_as_its_plan(build, cost):
    g = build()
    table = all_orders(g, cost)
    if len(table) == 1 and table["sequence"][0] == "":
        assert table["macs"][0] == analyzer.plan(g, "optimal", cost).macs
        return
    for sequence, macs in zip(table["sequence"], table["macs"], strict=True):
        assert macs == from_sequence(g, sequence.split(", "), cost).macs, sequence


def test_the_mode_column_on_a_hand_made_chain():
    # J1 3×2 (e 6), J2 3×3 (e 3), J3 2×3 (e 6), J4 4×2 (e 8)
    g = analyzer.chain([2, 3, 3, 2, 4], edges=[6, 3, 6, 8])

    def modes(sequence):
        steps = from_sequence(g, sequence, "matrix-free").steps
        return list(zip(steps["mode"], steps["macs"], strict=True))

    # v1: J2·J1, two maps: form J1 (6·2) + 2 tangents of J2 (2·3) = 18 against
    # form J2 (3·3) + 3 adjoints of J1 (3·6) = 27. v2: J3 · (3×2 matrix): 2 tangents, 12.
    # v3: J4 · (2×2 matrix): 2 tangents, 16.
    assert modes(["v1", "v2", "v3"]) == [
        ("preaccumulate right, tangent", 18),
        ("tangent", 12),
        ("tangent", 16),
    ]
    # v2: J3·J2: form J2 (9) + 3 tangents of J3 (18) = 27 against form J3 (6·2) + 2 adjoints
    # of J2 (6) = 18. v1: (2×3 matrix)·J1: 2 adjoints, 12. v3: J4·(2×2): 2 tangents, 16.
    assert modes(["v2", "v1", "v3"]) == [
        ("preaccumulate left, adjoint", 18),
        ("adjoint", 12),
        ("tangent", 16),
    ]
    # v1 gives J(v2,v0) 3×2 and v3 J(v4,v2) 4×3, two matrices: v2 multiplies them, 4·3·2.
    assert modes(["v1", "v3", "v2"])[-1] == ("product", 24)
    # a factor still a map at the end is formed: 2 tangents (fewer than 3 adjoints), 6·2
    single = from_sequence(analyzer.chain([2, 3], edges=[6]), [], "matrix-free").steps
    assert list(zip(single["mode"], single["macs"], strict=True)) == [("preaccumulate", 12)]
    # the dense cost model only multiplies matrices
    assert set(from_sequence(g, ["v1", "v2", "v3"], "dense").steps["mode"]) == {"product"}


def naive_apply(dense, X):
    """``dense @ X`` by a loop over the nonzeros, and the multiplications it made."""
    out, count = np.zeros((dense.shape[0], X.shape[1])), 0
    for i, j in itertools.product(*map(range, dense.shape)):
        if dense[i, j] != 0:
            for c in range(X.shape[1]):
                out[i, c] += dense[i, j] * X[j, c]
                count += 1
    return out, count


def naive_form(dense):
    """The matrix of a map by loops: tangents on the identity's columns or adjoints on its
    rows, whichever are fewer, and the multiplications made."""
    m, n = dense.shape
    if n <= m:
        return naive_apply(dense, np.eye(n))
    formed_t, count = naive_apply(dense.T, np.eye(m))
    return formed_t.T, count


def test_a_sparse_adjoint_counts_what_a_naive_loop_multiplies():
    g = analyzer.chain([4, 3], edges=[5])
    A = g.factor("v0", "v1", {}).data
    Y = np.arange(6.0).reshape(2, 3)
    Z, counted = A.apply_adjoint(Y)
    expected, multiplications = naive_apply(A.matrix()[0].T, Y.T)
    np.testing.assert_allclose(Z, expected.T)
    assert counted == multiplications == 5 * 2


@pytest.mark.parametrize("sequence", [["v1", "v2"], ["v2", "v1"]])
def test_a_whole_small_plan_counts_what_naive_loops_multiply(sequence):
    """Each step redone by loops over the sparse entries, as its mode says."""
    dims, edges = [2, 3, 3, 2], [6, 3, 5]
    g = analyzer.chain(dims, edges=edges)
    matrices = {(f"v{i}", f"v{i + 1}"): g.factor(f"v{i}", f"v{i + 1}", {}).data.matrix()[0]
                for i in range(3)}  # fmt: skip
    kept = {key: "map" for key in matrices}  # which factors are still maps
    values = dict(matrices)
    p = from_sequence(g, sequence, "matrix-free")
    total = 0
    for _, row in p.steps.iterrows():
        s, v, p_ = re.match(r"J\((\w+),(\w+)\)·J\(\w+,(\w+)\)", row["product"]).groups()
        outer, inner = (v, s), (p_, v)
        count = 0
        if row["mode"] == "preaccumulate right, tangent":
            formed, c1 = naive_form(values[inner])
            result, c2 = naive_apply(values[outer], formed)
            count = c1 + c2
        elif row["mode"] == "preaccumulate left, adjoint":
            formed, c1 = naive_form(values[outer])
            result_t, c2 = naive_apply(values[inner].T, formed.T)
            result, count = result_t.T, c1 + c2
        elif row["mode"] == "tangent":
            assert kept[outer] == "map" and kept[inner] == "matrix"
            result, count = naive_apply(values[outer], values[inner])
        else:
            assert row["mode"] == "adjoint" and kept[outer] == "matrix" and kept[inner] == "map"
            result_t, count = naive_apply(values[inner].T, values[outer].T)
            result = result_t.T
        assert count == row["macs"], row.to_dict()
        total += count
        values[p_, s], kept[p_, s] = result, "matrix"
    expected = matrices["v2", "v3"] @ matrices["v1", "v2"] @ matrices["v0", "v1"]
    np.testing.assert_allclose(values["v0", "v3"], expected, rtol=1e-10)
    run = analyzer.execute(p, repeat=1, warmup=0)
    assert total == p.macs == run.macs
    np.testing.assert_allclose(run.jacobian, expected, rtol=1e-10)


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


def test_reductions_are_kept_where_no_merge_can_form_an_operator():
    """An MLP has one path between any two vertices: no merge, so the path DP stays (and
    the DAG brute force in test_planner.py checks its optimum under matrix-free)."""
    best = analyzer.plan(analyzer.models.mlp([3, 4, 2, 5, 2]), "optimal", "matrix-free")
    assert best.search.tried["paths"] == 1 and best.proven_optimal
    shortcut = analyzer.plan(shortcut_graph(), "optimal", "matrix-free")
    assert shortcut.search.tried["paths"] == 0 and shortcut.search.tried["parts"] == 1
