"""Kinds of traced operations against dense algebra and a naive count of multiplications.

Each test factor is built twice: as the library's block, and by hand as a dense
matrix plus an id pattern (0 structural zero, -1 structural one, >0 the id of a
stored number). The naive count is the number of distinct (left id, right id)
pairs a scalar triple loop multiplies, skipping zeros and structural ones.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import analyzer
from analyzer.structure import (
    Block,
    BlockDiagonal,
    KronIdentity,
    Selection,
    Summation,
    add_counted,
    multiply_counted,
    product_rule,
    sum_rule,
)

ONE = -1
RNG = np.random.default_rng(7)


def make(kind: str, shape: tuple[int, int], param: int = 1):
    """(block, dense matrix, id pattern) of a factor of this kind, written from its meaning."""
    rows, cols = shape
    if kind == "dense":
        data = RNG.standard_normal(shape)
        return Block("dense", shape, data), data, np.arange(1, rows * cols + 1).reshape(shape)
    if kind == "scalar":
        c = float(RNG.standard_normal())
        return Block("scalar", shape, c), c * np.eye(rows), np.eye(rows, dtype=np.int64)
    if kind == "diagonal":
        d = RNG.standard_normal(rows)
        return Block("diagonal", shape, d), np.diag(d), np.diag(np.arange(1, rows + 1))
    if kind == "block-diagonal":
        a, r, c = param, rows // param, cols // param
        blocks = RNG.standard_normal((a, r, c))
        dense = np.zeros(shape)
        ids = np.zeros(shape, dtype=np.int64)
        for b in range(a):
            dense[b * r : (b + 1) * r, b * c : (b + 1) * c] = blocks[b]
            ids[b * r : (b + 1) * r, b * c : (b + 1) * c] = (
                1 + b * r * c + np.arange(r * c).reshape(r, c)
            )
        return Block(BlockDiagonal(a), shape, blocks), dense, ids
    if kind == "kron-identity":
        n = param
        m, k = rows // n, cols // n
        A = RNG.standard_normal((m, k))
        dense = np.zeros(shape)
        ids = np.zeros(shape, dtype=np.int64)
        for i, l, j in itertools.product(range(m), range(k), range(n)):  # noqa: E741
            dense[i * n + j, l * n + j] = A[i, l]
            ids[i * n + j, l * n + j] = 1 + i * k + l  # one stored number per (i, l)
        return Block(KronIdentity(n), shape, A), dense, ids
    if kind == "selection":
        index = RNG.integers(-1, cols, rows)
        dense = np.zeros(shape)
        ids = np.zeros(shape, dtype=np.int64)
        for i, j in enumerate(index):
            if j >= 0:
                dense[i, j], ids[i, j] = 1.0, ONE
        return Block(Selection(), shape, index), dense, ids
    if kind == "summation":
        index = RNG.integers(0, rows, cols)
        dense = np.zeros(shape)
        ids = np.zeros(shape, dtype=np.int64)
        for j, i in enumerate(index):
            dense[i, j], ids[i, j] = 1.0, ONE
        return Block(Summation(), shape, index), dense, ids
    raise AssertionError(kind)


def naive_macs(left_ids: np.ndarray, right_ids: np.ndarray) -> int:
    pairs = set()
    for i, l in zip(*np.nonzero(left_ids > 0), strict=True):  # noqa: E741
        for j in np.nonzero(right_ids[l] > 0)[0]:
            pairs.add((left_ids[i, l], right_ids[l, j]))
    return len(pairs)


# (left kind, left shape, left param, right kind, right shape, right param, has a rule)
CASES = [
    ("block-diagonal", (4, 6), 2, "dense", (6, 3), 1, True),
    ("dense", (3, 4), 1, "block-diagonal", (4, 6), 2, True),
    ("block-diagonal", (4, 6), 2, "block-diagonal", (6, 2), 2, True),
    ("block-diagonal", (6, 6), 3, "block-diagonal", (6, 4), 2, False),  # counts differ: right dense
    ("diagonal", (4, 4), 1, "block-diagonal", (4, 6), 2, True),
    ("block-diagonal", (4, 6), 2, "diagonal", (6, 6), 1, True),
    ("kron-identity", (6, 4), 2, "dense", (4, 3), 1, True),
    ("dense", (3, 6), 1, "kron-identity", (6, 4), 2, True),
    ("kron-identity", (6, 4), 2, "kron-identity", (4, 8), 2, True),
    ("selection", (5, 4), 1, "dense", (4, 3), 1, True),
    ("dense", (3, 5), 1, "selection", (5, 4), 1, True),
    ("selection", (5, 4), 1, "selection", (4, 3), 1, True),
    ("summation", (2, 5), 1, "dense", (5, 3), 1, True),
    ("dense", (3, 2), 1, "summation", (2, 5), 1, True),
    ("summation", (2, 5), 1, "summation", (5, 7), 1, True),
    # selections and summations meet diagonals and scalars: the one takes the number
    ("diagonal", (5, 5), 1, "selection", (5, 4), 1, True),
    ("selection", (5, 4), 1, "diagonal", (4, 4), 1, True),
    ("scalar", (5, 5), 1, "selection", (5, 4), 1, True),
    ("selection", (5, 4), 1, "scalar", (4, 4), 1, True),
    ("diagonal", (2, 2), 1, "summation", (2, 5), 1, True),
    ("summation", (2, 5), 1, "diagonal", (5, 5), 1, True),
    ("scalar", (2, 2), 1, "summation", (2, 5), 1, True),
    ("summation", (2, 5), 1, "scalar", (5, 5), 1, True),
    # no rule: the cheaper operand is made dense
    ("kron-identity", (6, 4), 2, "diagonal", (4, 4), 1, False),
    ("selection", (4, 6), 1, "kron-identity", (6, 4), 2, False),
    ("summation", (2, 4), 1, "block-diagonal", (4, 6), 2, False),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}*{c[3]}" for c in CASES])
def test_products_equal_dense_algebra_and_count_what_they_price(case):
    lk, ls, lp, rk, rs, rp, has_rule = case
    a, A, a_ids = make(lk, ls, lp)
    b, B, b_ids = make(rk, rs, rp)
    result, counted = multiply_counted(a, b)
    np.testing.assert_allclose(result.dense(), A @ B, rtol=1e-12, atol=1e-12)
    rule = product_rule(a.kind, b.kind)
    assert counted == rule.macs(ls, rs)
    assert result.kind == rule.result
    if has_rule:  # a registered rule prices exactly the multiplications a scalar loop makes
        assert counted == naive_macs(a_ids, b_ids)
    else:  # the fallback never prices more than a dense product
        assert counted <= ls[0] * ls[1] * rs[1]


def test_exact_prices_of_the_sheet_shapes():
    """``C = A B`` with A (m, k), B (k, n): ∂C/∂A = I_m ⊗ Bᵀ and ∂C/∂B = A ⊗ I_n."""
    m, k, n = 4, 3, 5
    A, B = RNG.standard_normal((m, k)), RNG.standard_normal((k, n))
    dA = Block(BlockDiagonal(m), (m * n, m * k), np.broadcast_to(B.T, (m, n, k)))
    dB = Block(KronIdentity(n), (m * n, k * n), A)
    np.testing.assert_allclose(dA.dense(), np.kron(np.eye(m), B.T))
    np.testing.assert_allclose(dB.dense(), np.kron(A, np.eye(n)))
    assert product_rule("dense", dA.kind).macs((1, m * n), dA.shape) == m * n * k
    assert product_rule("dense", dB.kind).macs((1, m * n), dB.shape) == m * k * n


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("block-diagonal", "block-diagonal"),
        ("block-diagonal", "diagonal"),
        ("diagonal", "block-diagonal"),
    ],
)
def test_sums_of_block_diagonals(a, b):
    shape = (6, 6)
    x, X, _ = make(a, shape, 3)
    y, Y, _ = make(b, shape, 3)
    result, adds = add_counted(x, y)
    np.testing.assert_allclose(result.dense(), X + Y)
    assert adds == sum_rule(x.kind, y.kind).adds(shape)
    assert result.kind == "block-diagonal[3]"


def test_parameterised_kinds_compare_by_parameters():
    assert BlockDiagonal(2) == "block-diagonal[2]" != BlockDiagonal(3)
    assert KronIdentity(4).n == 4
    import pickle

    assert pickle.loads(pickle.dumps(BlockDiagonal(5))) == BlockDiagonal(5)


@pytest.mark.parametrize(
    ("kind", "shape", "message"),
    [
        (BlockDiagonal(4), (6, 8), "divisible by 4"),
        (KronIdentity(3), (6, 4), "divisible by 3"),
        (BlockDiagonal(), (4, 4), "needs a positive number of blocks"),
    ],
)
def test_shape_errors_of_parameterised_kinds(kind, shape, message):
    assert message in kind.shape_error(shape)


def test_bad_indices_are_the_projects_error():
    with pytest.raises(analyzer.AnalyzerError, match=r"indices must lie in \[-1, 4\)"):
        Selection().read([0, 7, 1], (3, 4))
    with pytest.raises(analyzer.AnalyzerError, match="needs 3 integer indices"):
        Summation().read([0, 1], (2, 3))


def test_a_graph_with_the_new_kinds_plans_executes_and_checks():
    """``y = sum(tanh(X @ W + b), axis=0)``: every new kind on one graph, all orders agree."""
    m, k, n = 4, 3, 5
    rng = np.random.default_rng(3)
    X, W0, b0 = rng.standard_normal((m, k)), rng.standard_normal((k, n)), rng.standard_normal(n)
    g = analyzer.JacobianGraph(name="bias-layer")
    g.add_variable("W", shape=(k, n), role="parameter", value=W0)
    g.add_variable("b", n, role="parameter", value=b0)
    g.add_variable("XW", shape=(m, n), role="intermediate", evaluate=lambda v: X @ v["W"])
    g.add_factor("W", "XW", KronIdentity(n), lambda v: X)
    g.add_variable(
        "bb", shape=(m, n), role="intermediate", evaluate=lambda v: np.broadcast_to(v["b"], (m, n))
    )
    g.add_factor("b", "bb", "selection", lambda v: np.tile(np.arange(n), m))
    g.add_variable("z", shape=(m, n), role="intermediate", evaluate=lambda v: v["XW"] + v["bb"])
    g.add_factor("XW", "z", "identity")
    g.add_factor("bb", "z", "identity")
    g.add_variable("h", shape=(m, n), role="intermediate", evaluate=lambda v: np.tanh(v["z"]))
    g.add_factor("z", "h", "diagonal", lambda v: 1 - np.tanh(v["z"]).ravel() ** 2)
    g.add_variable("y", n, role="output", evaluate=lambda v: v["h"].sum(axis=0))
    g.add_factor("h", "y", "summation", lambda v: np.tile(np.arange(n), m))  # h[i, j] -> y[j]
    table = analyzer.check(g)
    assert table["ok"].all()
    structured = analyzer.compare(g, "structured").set_index("order")["macs"]
    dense = analyzer.compare(g, "dense").set_index("order")["macs"]
    assert structured["optimal"] <= dense["optimal"]


def test_kinds_distribute_over_sums():
    """The subset DP and the search key a state by the eliminated set alone: that needs
    kind(A (B + C)) == kind(A B + A C) and kind((B + C) A) == kind(B A + C A)."""
    from analyzer.structure import Operator, kind_of, product_rule, sum_rule

    kinds = [kind_of(k) for k in ("zero", "identity", "scalar", "diagonal", "dense")]
    kinds += [BlockDiagonal(2), KronIdentity(2), Selection(), Summation(), Operator(5)]

    def times(a, b):
        return product_rule(a, b).result

    def plus(a, b):
        return sum_rule(a, b).result

    for a, b, c in itertools.product(kinds, repeat=3):
        assert times(a, plus(b, c)) == plus(times(a, b), times(a, c)), (a, b, c)
        assert times(plus(b, c), a) == plus(times(b, a), times(c, a)), (a, b, c)


@pytest.mark.parametrize("other", ["identity", "scalar", "kron-identity"])
def test_sums_with_kron_identity(other):
    shape = (6, 6)
    x, X, _ = make("kron-identity", shape, 2)
    if other == "kron-identity":
        y, Y, _ = make(other, shape, 2)
    elif other == "identity":
        y, Y = Block("identity", shape), np.eye(6)
    else:
        y, Y = Block("scalar", shape, 2.5), 2.5 * np.eye(6)
    for a, b, A, B in ((x, y, X, Y), (y, x, Y, X)):
        result, adds = add_counted(a, b)
        np.testing.assert_allclose(result.dense(), A + B)
        assert result.kind == "kron-identity[2]"
        expected = 9 if other == "kron-identity" else 3
        assert adds == sum_rule(a.kind, b.kind).adds(shape) == expected


@pytest.mark.parametrize(
    ("make_kind", "message"),
    [
        (lambda: BlockDiagonal(2.5), "positive integer"),
        (lambda: KronIdentity("H"), "positive integer"),
        (lambda: Selection().read([0.5, 1.7, 2.2], (3, 4)), "integer indices"),
        (lambda: Summation().read([True, False], (2, 2)), "integer indices"),
    ],
)
def test_parameters_and_indices_must_be_integers(make_kind, message):
    with pytest.raises(analyzer.AnalyzerError, match=message):
        make_kind()


def test_a_sum_times_a_product_keeps_memory_linear():
    """``(sin(x) * x).sum()`` structured: summation · diagonal is n numbers, not an n x n matrix."""
    n = 10_000
    g = analyzer.trace(lambda x: (np.sin(x) * x).sum(), np.linspace(-1, 1, n))
    p = analyzer.plan(g, "output-first", "structured")
    assert p.largest_intermediate <= n
    assert analyzer.execute(p, repeat=1).macs == p.macs
