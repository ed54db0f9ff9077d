"""Structure kinds: every product and sum rule against dense algebra and naive counts.

Expected matrices are built by hand (``naive.dense``), expected kinds come from
the documented meaning of each kind (``naive.product_kind``, ``naive.sum_kind``)
and expected costs from a scalar loop that counts its own multiplications
(``naive.macs``, ``naive.adds``); see ``conftest.py``.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer import AnalyzerError
from analyzer.structure import (
    KINDS as REGISTERED,
)
from analyzer.structure import (
    Block,
    add,
    as_dense_block,
    kind_of,
    multiply,
    product_rule,
    row_block_width,
    stored_size,
    sum_rule,
    to_dense,
)

DIAGONAL_FAMILY = ("identity", "scalar", "diagonal")
KINDS = ("zero", "identity", "scalar", "diagonal", "row-block", "dense")  # the built-in six
PAIRS = list(itertools.product(KINDS, KINDS))
SMALL = st.integers(1, 4)
SEEDS = st.integers(0, 2**32 - 1)


def test_kinds_are_the_documented_six():
    assert set(REGISTERED) == set(KINDS) | {
        "block-diagonal",
        "kron-identity",
        "selection",
        "summation",
        "operator",
    }  # the built-in six and the kinds of traced operations (tests/test_traced_kinds.py)


# ------------------------------------------------------------------ strategies
@st.composite
def product_shapes(draw, left: str, right: str):
    """Shapes ``(m, k)`` and ``(k, n)`` that factors of these kinds can have."""
    if left == "row-block":
        rows = draw(SMALL)
        left_shape = (rows, rows * draw(SMALL))
    elif left in DIAGONAL_FAMILY:
        k = draw(SMALL)
        left_shape = (k, k)
    else:
        left_shape = (draw(SMALL), draw(SMALL))
    k = left_shape[1]
    if right == "row-block":
        right_shape = (k, k * draw(st.integers(1, 3)))
    elif right in DIAGONAL_FAMILY:
        right_shape = (k, k)
    else:
        right_shape = (k, draw(SMALL))
    return left_shape, right_shape


@st.composite
def sum_shape(draw, a: str, b: str):
    """A shape that factors of both kinds can have."""
    square = a in DIAGONAL_FAMILY or b in DIAGONAL_FAMILY
    if "row-block" in (a, b):
        rows = draw(SMALL)
        return (rows, rows * (1 if square else draw(SMALL)))
    if square:
        n = draw(SMALL)
        return (n, n)
    return (draw(SMALL), draw(SMALL))


def make(naive, kind, shape, rng) -> Block:
    return Block(kind, shape, naive.data(kind, shape, rng))


def snapshot(block: Block):
    return None if block.data is None else np.array(block.data, dtype=float, copy=True)


# ------------------------------------------------------------------ products
@pytest.mark.parametrize(("left", "right"), PAIRS, ids=[f"{a}*{b}" for a, b in PAIRS])
@settings(max_examples=8, deadline=None)
@given(data=st.data())
def test_multiply_equals_dense_product(naive, left, right, data):
    left_shape, right_shape = data.draw(product_shapes(left, right))
    rng = np.random.default_rng(data.draw(SEEDS))
    a, b = make(naive, left, left_shape, rng), make(naive, right, right_shape, rng)
    before = snapshot(a), snapshot(b)

    result = multiply(a, b)

    expected = naive.dense(left, left_shape, a.data) @ naive.dense(right, right_shape, b.data)
    assert result.shape == (left_shape[0], right_shape[1])
    assert result.kind == naive.product_kind(left, right)
    np.testing.assert_allclose(result.dense(), expected, rtol=1e-12, atol=1e-12)
    # and the stored numbers alone rebuild it (independently of to_dense)
    rebuilt = naive.dense(result.kind, result.shape, result.data)
    np.testing.assert_allclose(rebuilt, expected, rtol=1e-12, atol=1e-12)
    # operands are left as they were
    for block, old in zip((a, b), before, strict=True):
        if old is not None:
            np.testing.assert_array_equal(np.asarray(block.data, dtype=float), old)


@pytest.mark.parametrize(("left", "right"), PAIRS, ids=[f"{a}*{b}" for a, b in PAIRS])
@settings(max_examples=6, deadline=None)
@given(data=st.data())
def test_product_rule_macs_equal_naive_count(naive, left, right, data):
    left_shape, right_shape = data.draw(product_shapes(left, right))
    rule = product_rule(left, right)
    assert rule.result == naive.product_kind(left, right)
    assert rule.macs(left_shape, right_shape) == naive.macs(left, left_shape, right, right_shape)


@pytest.mark.parametrize(
    ("left", "left_shape", "right", "right_shape", "macs", "result"),
    [
        ("dense", (2, 3), "dense", (3, 4), 24, "dense"),  # m·k·n
        ("dense", (5, 3), "diagonal", (3, 3), 15, "dense"),  # scale columns
        ("diagonal", (3, 3), "dense", (3, 7), 21, "dense"),  # scale rows
        ("diagonal", (6, 6), "diagonal", (6, 6), 6, "diagonal"),
        ("diagonal", (3, 3), "row-block", (3, 6), 6, "row-block"),  # the sheet's J_V J_L
        ("row-block", (3, 6), "diagonal", (6, 6), 6, "row-block"),
        ("dense", (1, 3), "row-block", (3, 6), 6, "dense"),  # backprop through J_L
        ("dense", (4, 3), "row-block", (3, 6), 24, "dense"),
        ("row-block", (3, 6), "dense", (6, 5), 30, "dense"),
        ("row-block", (2, 6), "row-block", (6, 12), 12, "row-block"),
        ("scalar", (4, 4), "dense", (4, 5), 20, "dense"),
        ("dense", (5, 4), "scalar", (4, 4), 20, "dense"),
        ("scalar", (4, 4), "diagonal", (4, 4), 4, "diagonal"),
        ("scalar", (4, 4), "scalar", (4, 4), 1, "scalar"),
        ("scalar", (3, 3), "row-block", (3, 6), 6, "row-block"),
        ("identity", (4, 4), "dense", (4, 9), 0, "dense"),
        ("dense", (9, 4), "identity", (4, 4), 0, "dense"),
        ("scalar", (4, 4), "identity", (4, 4), 0, "scalar"),
        ("identity", (4, 4), "identity", (4, 4), 0, "identity"),
        ("zero", (2, 3), "dense", (3, 4), 0, "zero"),
        ("dense", (2, 3), "zero", (3, 4), 0, "zero"),
    ],
)
def test_product_rule_table(left, left_shape, right, right_shape, macs, result):
    rule = product_rule(left, right)
    assert rule.macs(left_shape, right_shape) == macs
    assert rule.result == result


def test_product_rule_prices_symbolic_shapes():
    H, N = sympy.symbols("H N", positive=True, integer=True)
    assert product_rule("dense", "dense").macs((H, H), (H, H * N)) == H**3 * N
    assert product_rule("diagonal", "row-block").macs((H, H), (H, H * N)) == H * N
    assert product_rule("dense", "row-block").macs((1, H), (H, H * N)) == H * N


@pytest.mark.parametrize("a", KINDS)
@pytest.mark.parametrize("b", KINDS)
@pytest.mark.parametrize("c", KINDS)
def test_product_kind_does_not_depend_on_bracketing(a, b, c):
    """The chain DP of the planner relies on this: (a b) c and a (b c) have one kind."""
    first = product_rule(product_rule(a, b).result, c).result
    second = product_rule(a, product_rule(b, c).result).result
    assert first == second


def test_documented_example_diagonal_times_row_block():
    d = Block("diagonal", (3, 3), np.array([1.0, 2.0, 3.0]))
    r = Block("row-block", (3, 6), np.ones((3, 2)))
    out = multiply(d, r)
    assert out.kind == "row-block"
    assert out.data.tolist() == [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]


# ------------------------------------------------------------------ sums
@pytest.mark.parametrize(("a_kind", "b_kind"), PAIRS, ids=[f"{a}+{b}" for a, b in PAIRS])
@settings(max_examples=8, deadline=None)
@given(data=st.data())
def test_add_equals_dense_sum(naive, a_kind, b_kind, data):
    shape = data.draw(sum_shape(a_kind, b_kind))
    rng = np.random.default_rng(data.draw(SEEDS))
    a, b = make(naive, a_kind, shape, rng), make(naive, b_kind, shape, rng)
    before = snapshot(a), snapshot(b)

    result = add(a, b)

    expected = naive.dense(a_kind, shape, a.data) + naive.dense(b_kind, shape, b.data)
    assert result.shape == shape
    assert result.kind == naive.sum_kind(a_kind, b_kind)
    np.testing.assert_allclose(result.dense(), expected, rtol=1e-12, atol=1e-12)
    rebuilt = naive.dense(result.kind, shape, result.data)
    np.testing.assert_allclose(rebuilt, expected, rtol=1e-12, atol=1e-12)
    assert sum_rule(a_kind, b_kind).adds(shape) == naive.adds(a_kind, b_kind, shape)
    for block, old in zip((a, b), before, strict=True):
        if old is not None:
            np.testing.assert_array_equal(np.asarray(block.data, dtype=float), old)


@pytest.mark.parametrize(
    ("a", "b", "shape", "adds", "result"),
    [
        ("identity", "identity", (3, 3), 1, "scalar"),  # 1 + 1 once, then shared
        ("identity", "scalar", (3, 3), 1, "scalar"),
        ("identity", "diagonal", (3, 3), 3, "diagonal"),
        ("diagonal", "dense", (4, 4), 4, "dense"),
        ("dense", "dense", (2, 5), 10, "dense"),
        ("row-block", "row-block", (2, 6), 6, "row-block"),
        ("dense", "row-block", (2, 6), 6, "dense"),
        ("zero", "dense", (2, 5), 0, "dense"),
        ("diagonal", "zero", (3, 3), 0, "diagonal"),
    ],
)
def test_sum_rule_table(a, b, shape, adds, result):
    rule = sum_rule(a, b)
    assert rule.adds(shape) == adds
    assert rule.result == result


def test_identity_plus_identity_is_the_scalar_two():
    out = add(Block("identity", (3, 3)), Block("identity", (3, 3)))
    assert out.kind == "scalar"
    assert out.data == 2.0


@pytest.mark.parametrize("a", KINDS)
@pytest.mark.parametrize("b", KINDS)
def test_sum_kind_is_symmetric(a, b):
    assert sum_rule(a, b).result == sum_rule(b, a).result


# ------------------------------------------------------------------ sizes and dense forms
@pytest.mark.parametrize(
    ("kind", "shape", "stored", "nonzero"),
    [
        ("zero", (3, 4), 0, 0),
        ("identity", (4, 4), 0, 4),
        ("scalar", (4, 4), 1, 4),
        ("diagonal", (5, 5), 5, 5),
        ("row-block", (5, 15), 15, 15),
        ("dense", (3, 4), 12, 12),
    ],
)
def test_stored_and_pattern_sizes(naive, kind, shape, stored, nonzero):
    assert stored_size(kind, shape) == stored
    assert kind_of(kind).nonzeros(shape) == nonzero
    ids = naive.pattern(kind, shape)
    assert int(np.count_nonzero(ids)) == nonzero
    assert len({int(i) for i in ids.ravel() if i > 0}) == stored


@pytest.mark.parametrize("kind", KINDS)
def test_to_dense_matches_hand_built_matrix(naive, kind):
    shape = (3, 6) if kind == "row-block" else (3, 3)
    rng = np.random.default_rng(11)
    block = make(naive, kind, shape, rng)
    expected = naive.dense(kind, shape, block.data)
    np.testing.assert_array_equal(to_dense(block), expected)
    dense = as_dense_block(block)
    assert dense.kind == "dense"
    assert dense.shape == shape
    np.testing.assert_array_equal(dense.data, expected)


@pytest.mark.parametrize(("shape", "width"), [((4, 12), 3), ((1, 7), 7), ((5, 5), 1)])
def test_row_block_width(shape, width):
    assert row_block_width(shape) == width


def test_row_block_width_symbolic():
    H, N = sympy.symbols("H N", positive=True, integer=True)
    assert sympy.simplify(row_block_width((H, H * N)) - N) == 0


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("left", "right"),
    [
        (Block("dense", (2, 3), np.ones((2, 3))), Block("dense", (4, 2), np.ones((4, 2)))),
        (Block("diagonal", (3, 3), np.ones(3)), Block("row-block", (2, 4), np.ones((2, 2)))),
    ],
)
def test_multiply_rejects_mismatched_shapes(left, right):
    with pytest.raises(AnalyzerError, match="cannot multiply"):
        multiply(left, right)


def test_add_rejects_mismatched_shapes():
    with pytest.raises(AnalyzerError, match="cannot add"):
        add(Block("dense", (2, 3), np.ones((2, 3))), Block("dense", (3, 2), np.ones((3, 2))))


@pytest.mark.parametrize(
    "call",
    [
        lambda: product_rule("sparse", "dense"),
        lambda: product_rule("dense", "banded"),
        lambda: sum_rule("diag", "dense"),
        lambda: stored_size("full", (2, 2)),
        lambda: to_dense(Block("triangular", (2, 2), np.ones((2, 2)))),
    ],
)
def test_unknown_kind_names_the_valid_ones(call):
    with pytest.raises(AnalyzerError, match="unknown structure kind .*valid kinds: zero"):
        call()
