"""Shared pieces of the core tests: independent naive counts and hand-built graphs.

Everything here is written from the documented meaning of the structure kinds
(see ``analyzer/structure.py``'s table), never from the library's own rules, so
the tests that use it check the library against an independent computation.
"""

from __future__ import annotations

import functools
import math
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import strategies as st

from analyzer import models
from analyzer import primitives as P
from analyzer.graph import JacobianGraph

KINDS = ("zero", "identity", "scalar", "diagonal", "row-block", "dense")
DIAGONAL_FAMILY = ("identity", "scalar", "diagonal")
ORDERS = ("input-first", "output-first", "optimal")
COSTS = ("dense", "structured", "matrix-free")

# ------------------------------------------------------------------ naive counting
# A pattern is an int matrix: 0 is a structural zero, ONE a structural one (free
# to multiply by), and every positive number the id of one stored value.
ONE = -1


def pattern(kind: str, shape: tuple[int, int]) -> np.ndarray:
    """The id pattern of a factor of this kind and shape (see the module docstring)."""
    rows, cols = shape
    ids = np.zeros((rows, cols), dtype=np.int64)
    if kind == "dense":
        ids[:] = np.arange(1, rows * cols + 1).reshape(rows, cols)
    elif kind == "diagonal":
        assert rows == cols
        for i in range(rows):
            ids[i, i] = i + 1
    elif kind == "scalar":
        assert rows == cols
        for i in range(rows):
            ids[i, i] = 1  # one value shared by the whole diagonal
    elif kind == "identity":
        assert rows == cols
        for i in range(rows):
            ids[i, i] = ONE
    elif kind == "row-block":
        width = cols // rows
        assert width * rows == cols
        for i in range(rows):
            for j in range(width):
                ids[i, i * width + j] = i * width + j + 1
    else:
        assert kind == "zero"
    return ids


@functools.cache
def naive_product_macs(
    left_kind: str, left_shape: tuple[int, int], right_kind: str, right_shape: tuple[int, int]
) -> int:
    """Multiplications of ``left @ right`` counted by a scalar triple loop.

    Each distinct (left value, right value) pair is one multiply-add; products
    with a structural zero or a structural one cost nothing.
    """
    left, right = pattern(left_kind, left_shape), pattern(right_kind, right_shape)
    m, k = left.shape
    k2, n = right.shape
    assert k == k2
    pairs = set()
    for i in range(m):
        for l in range(k):  # noqa: E741
            a = left[i, l]
            if a <= 0:
                continue
            for j in range(n):
                b = right[l, j]
                if b > 0:
                    pairs.add((a, b))
    return len(pairs)


@functools.cache
def naive_sum_adds(kind_a: str, kind_b: str, shape: tuple[int, int]) -> int:
    """Additions of ``a + b``: distinct (a value, b value) pairs where both are nonzero."""
    a, b = pattern(kind_a, shape), pattern(kind_b, shape)
    both = (a != 0) & (b != 0)
    return len(set(zip(a[both].tolist(), b[both].tolist(), strict=True)))


def expected_product_kind(left: str, right: str) -> str:
    """Structure of ``left @ right`` as documented: zero absorbs, identity is neutral,
    a scalar keeps the other kind, diagonals scale rows or columns of what they meet."""
    if "zero" in (left, right):
        return "zero"
    if left == "identity":
        return right
    if right == "identity":
        return left
    if left == "scalar":
        return right
    if right == "scalar":
        return left
    keeps = {
        ("diagonal", "diagonal"): "diagonal",
        ("diagonal", "row-block"): "row-block",
        ("row-block", "diagonal"): "row-block",
        ("row-block", "row-block"): "row-block",
    }
    return keeps.get((left, right), "dense")


def expected_sum_kind(a: str, b: str) -> str:
    """Structure of ``a + b``: zero is neutral, diagonals stay diagonal (a sum of
    identities and scalars is a scalar), row-blocks add blockwise, the rest is dense."""
    if a == "zero":
        return b
    if b == "zero":
        return a
    if a in DIAGONAL_FAMILY and b in DIAGONAL_FAMILY:
        return "diagonal" if "diagonal" in (a, b) else "scalar"
    if a == b == "row-block":
        return "row-block"
    return "dense"


def dense_of(kind: str, shape: tuple[int, int], data) -> np.ndarray:
    """The full matrix a factor stands for, built by hand (independent of to_dense)."""
    rows, cols = shape
    if kind == "dense":
        return np.array(data, dtype=float).reshape(rows, cols)
    out = np.zeros((rows, cols))
    if kind == "identity":
        for i in range(rows):
            out[i, i] = 1.0
    elif kind == "scalar":
        for i in range(rows):
            out[i, i] = float(data)
    elif kind == "diagonal":
        for i in range(rows):
            out[i, i] = data[i]
    elif kind == "row-block":
        width = cols // rows
        for i in range(rows):
            for j in range(width):
                out[i, i * width + j] = data[i][j]
    return out


def random_data(kind: str, shape: tuple[int, int], rng: np.random.Generator):
    """Stored numbers of a random factor of this kind and shape."""
    rows, cols = shape
    return {
        "zero": None,
        "identity": None,
        "scalar": float(rng.standard_normal()),
        "diagonal": rng.standard_normal(rows) if kind == "diagonal" else None,
        "row-block": rng.standard_normal((rows, cols // rows)) if kind == "row-block" else None,
        "dense": rng.standard_normal((rows, cols)) if kind == "dense" else None,
    }[kind]


# ------------------------------------------------------------------ hand-built graphs
def residual_graph(n: int = 3, seed: int = 1) -> JacobianGraph:
    """``z = aᵀ s`` with ``s = r − 2h``, ``r = h + u``, ``h = tanh(u)``, ``u = W x``.

    Paths merge (identity, scalar and diagonal factors are added onto each other).
    """
    rng = np.random.default_rng(seed)
    g = JacobianGraph(name="residual")
    x = P.constant(g, "x", rng.standard_normal(n))
    W = P.parameter(g, "W", (n, n), value=rng.standard_normal((n, n)))
    a = P.parameter(g, "a", n, value=rng.standard_normal(n))
    u = P.linear(g, "u", W, x)
    h = P.activation(g, "h", u, "tanh")
    r = P.add(g, "r", h, u)
    s = P.add(g, "s", r, h, sign=-2.0)
    P.weighted_sum(g, "z", a, s, output=True)
    return g.validate()


def stacked_graph(H: int = 2, N: int = 3, M: int = 2, seed: int = 2) -> JacobianGraph:
    """``z = aᵀ sin(V x)`` where the matrix ``V`` (H x N) is ``T q`` reshaped.

    ``∂V/∂T`` is a row-block factor (HN x HNM) and ``∂u/∂V`` another one (H x HN),
    so input-first multiplies two row-blocks.
    """
    rng = np.random.default_rng(seed)
    g = JacobianGraph(name="stacked")
    P.constant(g, "q", rng.standard_normal(M))
    P.constant(g, "x", rng.standard_normal(N))
    P.parameter(g, "T", (H * N, M), value=rng.standard_normal((H * N, M)))
    P.parameter(g, "a", H, value=rng.standard_normal(H))
    g.add_variable(
        "V",
        role="intermediate",
        shape=(H, N),
        evaluate=lambda v: (v["T"] @ v["q"]).reshape(H, N),
    )
    g.add_factor("T", "V", "row-block", lambda v: np.broadcast_to(v["q"], (H * N, M)))
    g.add_factor("q", "V", "dense", lambda v: v["T"])
    P.linear(g, "u", "V", "x")
    P.activation(g, "h", "u", "sin")
    P.weighted_sum(g, "z", "a", "h", output=True)
    return g.validate()


def two_outputs_graph(seed: int = 3) -> JacobianGraph:
    """Two parameters, two outputs, a shared hidden layer and an output that
    depends on one parameter only (its other Jacobian block is zero)."""
    rng = np.random.default_rng(seed)
    g = JacobianGraph(name="two_outputs")
    P.constant(g, "x", rng.standard_normal(3))
    P.parameter(g, "W", (4, 3), value=rng.standard_normal((4, 3)))
    P.parameter(g, "c", 4, value=rng.standard_normal(4))
    P.linear(g, "u", "W", "x")
    P.activation(g, "h", "u", "sigmoid")
    P.activation(g, "o1", "h", "softplus", output=True)
    P.add(g, "t", "h", "c", sign=0.5)
    P.activation(g, "o2", "t", "sin", output=True)
    P.activation(g, "o3", "c", "tanh", output=True)
    return g.validate()


def zero_graph() -> JacobianGraph:
    """A graph with a structurally zero factor on one of two merging paths."""
    g = JacobianGraph(name="zero")
    g.add_variable("x", 3, role="parameter", value=np.array([0.3, -1.2, 2.0]))
    g.add_variable("y", 3, role="intermediate", evaluate=lambda v: np.sin(v["x"]))
    g.add_variable("c", 3, role="intermediate", evaluate=lambda v: np.zeros(3))
    g.add_variable(
        "z",
        2,
        role="output",
        evaluate=lambda v: np.array([v["y"].sum() + v["c"].sum(), 2.0 * v["c"].sum()]),
    )
    g.add_factor("x", "y", "diagonal", lambda v: np.cos(v["x"]))
    g.add_factor("x", "c", "zero")
    g.add_factor("y", "z", "dense", lambda v: np.vstack([np.ones(3), np.zeros(3)]))
    g.add_factor("c", "z", "dense", lambda v: np.vstack([np.ones(3), np.full(3, 2.0)]))
    return g.validate()


def kinds_chain(sizes: list[int], kinds: list[str], seed: int = 0) -> JacobianGraph:
    """A chain ``v0 -> … -> vn`` whose factor ``Ji`` has kind ``kinds[i-1]`` (linear maps).

    Only planned and executed (values of the variables are not needed by either).
    """
    rng = np.random.default_rng(seed)
    g = JacobianGraph(name="kinds_chain")
    g.add_variable("v0", sizes[0], role="parameter", value=rng.standard_normal(sizes[0]))
    for i in range(1, len(sizes)):
        role = "output" if i == len(sizes) - 1 else "intermediate"
        g.add_variable(f"v{i}", sizes[i], role=role, evaluate=lambda v, n=sizes[i]: np.zeros(n))
        data = random_data(kinds[i - 1], (sizes[i], sizes[i - 1]), rng)
        g.add_factor(f"v{i - 1}", f"v{i}", kinds[i - 1], lambda v, d=data: d)
        g.edges[f"v{i - 1}", f"v{i}"]["label"] = f"J{i}"
    return g.validate()


#: Small numeric graphs, each with a default point; every order of each is cheap.
CORE_MODELS = {
    "one_layer": lambda: models.one_layer(3, 2),
    "one_layer_wide": lambda: models.one_layer(4, 5, seed=7),
    "mlp": lambda: models.mlp([2, 3, 4, 2]),
    "least_squares": lambda: models.least_squares(4, 3),
    "affine": lambda: models.affine(3, 4),
    "factorization": lambda: models.factorization(3, 4, 2),
    "chain": lambda: models.chain([3, 4, 2, 5]),
    "residual": residual_graph,
    "stacked": stacked_graph,
    "two_outputs": two_outputs_graph,
    "zero": zero_graph,
}


def central_differences(g, at=None, step=1e-6):
    """Central finite differences of ``g``'s function, written apart from the library's."""
    theta = np.concatenate([np.ravel(v) for v in g.point(at).values()])
    columns = []
    for j in range(theta.size):
        h = step * max(1.0, abs(theta[j]))
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        columns.append((g.function(up) - g.function(down)) / (2 * h))
    return np.stack(columns, axis=1)


@st.composite
def structured_chains(draw):
    """Sizes and kinds of a chain whose factors have any structure the shapes allow."""
    sizes, kinds = [draw(st.integers(1, 4))], []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(
            st.sampled_from(["zero", "identity", "scalar", "diagonal", "row-block", "dense"])
        )
        if kind in DIAGONAL_FAMILY:
            sizes.append(sizes[-1])
        elif kind == "row-block":  # H × H·N: the new size divides the previous one
            sizes.append(draw(st.sampled_from([d for d in range(1, 5) if sizes[-1] % d == 0])))
        else:
            sizes.append(draw(st.integers(1, 4)))
        kinds.append(kind)
    return sizes, kinds


@pytest.fixture(params=sorted(CORE_MODELS))
def core_model(request) -> JacobianGraph:
    """Each small numeric graph in turn (a fresh one per test)."""
    return CORE_MODELS[request.param]()


@pytest.fixture(scope="session")
def naive() -> SimpleNamespace:
    """Independent counting and structure helpers (see the module docstring)."""
    return SimpleNamespace(
        pattern=pattern,
        macs=naive_product_macs,
        adds=naive_sum_adds,
        product_kind=expected_product_kind,
        sum_kind=expected_sum_kind,
        dense=dense_of,
        data=random_data,
    )


@pytest.fixture(scope="session")
def graphs() -> SimpleNamespace:
    """Builders of the hand-made graphs."""
    return SimpleNamespace(
        residual=residual_graph,
        stacked=stacked_graph,
        two_outputs=two_outputs_graph,
        zero=zero_graph,
        kinds_chain=kinds_chain,
        core=CORE_MODELS,
    )


#: Flat machine rates (GB/s, macs/s, seconds) for the machine-model tests: every hand
#: computation is a division.
FLAT_RATES = {
    "read": ((1e3, 20e9), (1e10, 20e9)),
    "write_fresh": ((1e3, 10e9),),
    "write_reused": ((1e3, 40e9),),
    "gemm": ((1, 4e9), (64, 32e9)),
    "elementwise": 2e9,
    "numpy_call": 1e-6,
    "step_overhead": {"default": 5e-6},
    "levels": (("L2", 2e6, 40e9), ("memory", math.inf, 20e9)),
}
