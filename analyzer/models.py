"""The course sheet's functions as Jacobian graphs, and chains of dense factors.

Sizes may be integers or symbol names (``one_layer("H", "N")``); a graph with
symbolic sizes can be planned (exact cost polynomials) but not executed.
Default parameter values are drawn from a seeded generator, so every numeric
model can be executed and checked as built.

Examples
--------
>>> g = one_layer(10, 5)
>>> g.parameters, g.intermediates, g.outputs
(['w', 'W'], ['u', 'y', 'z'], ['out'])
>>> chain([25, 20, 10]).intermediates
['v1']
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import primitives as prim
from .blas import available_memory
from .errors import GraphError
from .graph import JacobianGraph, as_size
from .structure import LinearMap, Operator

__all__ = ["one_layer", "mlp", "least_squares", "affine", "factorization", "chain", "MODELS"]


class _Values:
    """Seeded default values, drawn lazily; ``None`` everywhere when sizes are symbols.

    Each value has its own stream (the seed and the value's position), so values
    do not depend on which are drawn first, and planning draws none.
    """

    def __init__(self, seed: int, *sizes: Any) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise GraphError(f"seed must be a non-negative integer, got {seed!r}")
        self.numeric = all(isinstance(s, int) for s in sizes)
        self.seed, self.count = seed, 0

    def normal(self, *shape: Any, fan_in: Any = 1) -> Callable[[], np.ndarray] | None:
        if not self.numeric:
            return None
        self.count += 1
        stream = [self.seed, self.count]
        return lambda: np.random.default_rng(stream).standard_normal(shape) / np.sqrt(fan_in)

    def now(self, *shape: Any) -> np.ndarray | None:
        """A value drawn at once (the fixed matrices that models expose)."""
        make = self.normal(*shape)
        if make is None:
            return None
        needed = 8 * math.prod(shape)
        if needed > available_memory() // 2:
            shown = "×".join(map(str, shape))
            raise GraphError(
                f"this model draws its fixed {shown} matrix when built ({needed / 2**30:.3g} GiB, "
                "over half the memory available); plan it with symbolic sizes instead"
            )
        try:
            return make()
        except (MemoryError, ValueError):
            shown = "×".join(map(str, shape))
            raise GraphError(f"not enough memory to draw a {shown} matrix") from None


def one_layer(H: Any, N: Any, sigma: str = "tanh", v: str = "tanh", seed: int = 0) -> JacobianGraph:
    """The sheet's network (1), ``f(w, W, x) = σ(Σ_i w_i v_i(Σ_j W_ij x_j))``, as in its Q5.

    ``u = L(W, x) = W x`` (H), ``y = V(u)`` (H), ``z = M(w, y) = wᵀy`` (1),
    ``out = σ(z)``. Parameters ``w`` (H) then ``W`` (H x N, row-major): the
    Jacobian's columns are ``[∂/∂w, ∂/∂W]`` as in the sheet's Q7. ``x`` (N) is a
    constant input.

    >>> one_layer(3, 2).function().shape
    (1,)
    """
    H, N = as_size(H, name="H"), as_size(N, name="N")
    values = _Values(seed, H, N)
    g = JacobianGraph(name="one_layer", sizes={"H": H, "N": N})
    x = prim.constant(g, "x", values.normal(N), shape=(N,))
    w = prim.parameter(g, "w", H, value=values.normal(H, fan_in=H))
    W = prim.parameter(g, "W", (H, N), value=values.normal(H, N, fan_in=N))
    y = prim.activation(g, "y", prim.linear(g, "u", W, x), v)
    prim.activation(g, "out", prim.weighted_sum(g, "z", w, y), sigma, output=True)
    return g.validate()


def mlp(widths: Sequence[Any], activation: str = "tanh", seed: int = 0) -> JacobianGraph:
    """A bias-free multilayer perceptron ``W_L f(… f(W_1 x))`` with a linear last layer.

    ``widths = [n_0, n_1, …, n_L]``: input size, hidden widths, output size.
    Variables: constant ``x`` (n_0), parameters ``W1 … WL`` (``W_l`` is
    n_l x n_{l-1}), pre-activations ``u1 … uL`` and activations ``a1 … a{L-1}``;
    the output is ``uL``.

    >>> mlp([4, 3, 2]).parameters
    ['W1', 'W2']
    """
    if isinstance(widths, str) or not isinstance(widths, Sequence):
        raise GraphError(f"mlp needs a list of widths, got {widths!r}")
    if len(widths) < 2:
        raise GraphError(f"mlp needs at least two widths (input and output), got {list(widths)}")
    sizes = [as_size(s, name=f"width {i}") for i, s in enumerate(widths)]
    values = _Values(seed, *sizes)
    g = JacobianGraph(name="mlp", sizes={f"n{i}": s for i, s in enumerate(sizes)})
    current = prim.constant(g, "x", values.normal(sizes[0]), shape=(sizes[0],))
    layers = len(sizes) - 1
    for layer in range(1, layers + 1):
        shape = (sizes[layer], sizes[layer - 1])
        W = prim.parameter(g, f"W{layer}", shape, value=values.normal(*shape, fan_in=shape[1]))
        last = layer == layers
        current = prim.linear(g, f"u{layer}", W, current, output=last)
        if not last:
            current = prim.activation(g, f"a{layer}", current, activation)
    return g.validate()


def least_squares(m: Any, n: Any, seed: int = 0) -> JacobianGraph:
    """The sheet's ``f1(x) = ½‖A x − b‖²`` (Q3), parameter ``x`` (n); gradient ``Aᵀ(Ax − b)``.

    ``Ax = A x`` (fixed A, m x n), ``r = Ax − b``, ``f = ½‖r‖²``.

    >>> least_squares(3, 2).parameters
    ['x']
    """
    m, n = as_size(m, name="m"), as_size(n, name="n")
    values = _Values(seed, m, n)
    A = values.now(m, n)
    g = JacobianGraph(name="least_squares", sizes={"m": m, "n": n})
    x = prim.parameter(g, "x", n, value=values.normal(n))
    b = prim.constant(g, "b", values.normal(m), shape=(m,))
    Ax = prim.fixed_linear(g, "Ax", x, A, rows=m)
    prim.squared_norm(g, "f", prim.add(g, "r", Ax, b, sign=-1.0), output=True)
    g.graph["A"] = A
    return g.validate()


def affine(p: Any, n: Any, seed: int = 0) -> JacobianGraph:
    """The sheet's ``f2(x) = B x + c`` (Q3), parameter ``x`` (n); Jacobian ``B`` (p x n).

    >>> affine(3, 2).outputs
    ['f']
    """
    rows, n = as_size(p, name="p"), as_size(n, name="n")
    values = _Values(seed, rows, n)
    B = values.now(rows, n)
    g = JacobianGraph(name="affine", sizes={"p": rows, "n": n})
    x = prim.parameter(g, "x", n, value=values.normal(n))
    c = prim.constant(g, "c", values.normal(rows), shape=(rows,))
    Bx = prim.fixed_linear(g, "Bx", x, B, rows=rows)
    prim.add(g, "f", Bx, c, output=True)
    g.graph["B"] = B
    return g.validate()


def factorization(m: Any, n: Any, k: Any, seed: int = 0) -> JacobianGraph:
    """The sheet's ``f3(P, Q) = ½‖M − P Q‖²_F`` (Q3); parameters ``P`` (m x k), ``Q`` (k x n).

    Gradients ``−(M − PQ)Qᵀ`` and ``−Pᵀ(M − PQ)``. ``PQ = P Q``, ``E = M − PQ``,
    ``f = ½‖E‖²``.

    >>> factorization(3, 4, 2).parameters
    ['P', 'Q']
    """
    m, n, k = as_size(m, name="m"), as_size(n, name="n"), as_size(k, name="k")
    values = _Values(seed, m, n, k)
    g = JacobianGraph(name="factorization", sizes={"m": m, "n": n, "k": k})
    P = prim.parameter(g, "P", (m, k), value=values.normal(m, k))
    Q = prim.parameter(g, "Q", (k, n), value=values.normal(k, n))
    M = prim.constant(g, "M", values.normal(m, n), shape=(m, n))
    PQ = prim.matmul(g, "PQ", P, Q)
    prim.squared_norm(g, "f", prim.add(g, "E", M, PQ, sign=-1.0), output=True)
    return g.validate()


def chain(dims: Sequence[Any], seed: int = 0, edges: Sequence[int] | None = None) -> JacobianGraph:
    """A chain ``v0 -> v1 -> … -> vn`` of factors ``J1 … Jn`` with seeded values.

    Variable ``vi`` has size ``dims[i]``; factor ``Ji = ∂vi/∂v(i-1)`` has shape
    ``(dims[i], dims[i-1])``. ``v0`` is the parameter and ``vn`` the output, so
    the Jacobian is the product ``Jn ⋯ J1``. Factor values are drawn lazily (from
    ``seed`` and the factor's index) when the chain is executed, so planning a
    long chain stores no matrices.

    Without ``edges`` the factors are dense. With ``edges = [e_1, …, e_n]`` they are
    matrix-free operators (kind ``operator[e_i]``): seeded random sparse matrices with
    exactly ``e_i`` nonzeros (at least one in every row and column when ``e_i`` allows),
    applied by sparse products that never densify them, so a tangent or an adjoint
    really costs ``e_i`` multiply-adds per vector.

    >>> chain([30, 35, 15]).edges["v0", "v1"]["shape"]
    (35, 30)
    >>> chain([8, 7, 8], edges=[44, 2]).edges["v1", "v2"]["structure"]
    'operator[2]'
    """
    if isinstance(dims, str) or not isinstance(dims, Sequence):
        raise GraphError(f"a chain needs a list of sizes, got {dims!r}")
    if len(dims) < 2:
        raise GraphError(f"a chain needs at least two sizes, got {list(dims)}")
    sizes = [as_size(d, name=f"dims[{i}]") for i, d in enumerate(dims)]
    _Values(seed)
    numeric = all(isinstance(s, int) for s in sizes)
    if edges is not None:
        edges = _checked_edges(edges, sizes)
    g = JacobianGraph(name="chain", sizes={f"d{i}": s for i, s in enumerate(sizes)})
    start = (
        (lambda: np.random.default_rng([seed, 0]).standard_normal(sizes[0])) if numeric else None
    )
    prim.parameter(g, "v0", sizes[0], value=start)
    for i in range(1, len(sizes)):
        last = i == len(sizes) - 1
        if edges is not None:
            _operator_factor(g, i, sizes, edges[i - 1], seed, output=last)
            continue

        def factor(i: int = i) -> np.ndarray:
            rng = np.random.default_rng([seed, i])
            return rng.standard_normal((sizes[i], sizes[i - 1])) / np.sqrt(sizes[i - 1])

        prim.fixed_linear(g, f"v{i}", f"v{i - 1}", factor, rows=sizes[i], output=last)
        g.edges[f"v{i - 1}", f"v{i}"]["label"] = f"J{i}"
    return g.validate()


def _checked_edges(edges: Sequence[int], sizes: list[Any]) -> list[int]:
    if isinstance(edges, str) or not isinstance(edges, Sequence):
        raise GraphError(f"edges is a list of nonzero counts, one per factor, got {edges!r}")
    if len(edges) != len(sizes) - 1:
        raise GraphError(
            f"edges needs one count per factor: {len(sizes) - 1} for {len(sizes)} sizes, "
            f"got {len(edges)}"
        )
    if not all(isinstance(s, int) for s in sizes):
        raise GraphError("operator chains (edges=...) need numeric sizes")
    checked = []
    for i, e in enumerate(edges, start=1):
        most = sizes[i] * sizes[i - 1]
        if isinstance(e, bool) or not isinstance(e, int | np.integer) or not 1 <= e <= most:
            raise GraphError(
                f"edges[{i - 1}] (factor J{i}, {sizes[i]}×{sizes[i - 1]}) must be an integer "
                f"from 1 to {most}, got {e!r}"
            )
        checked.append(int(e))
    return checked


def _sparse_factor(rows: int, cols: int, e: int, rng: np.random.Generator):
    """A sparse ``rows x cols`` matrix with exactly ``e`` nonzeros, covering rows and columns
    first (``max(rows, cols)`` entries on a wrapped diagonal), then at random positions."""
    from scipy import sparse

    cover = max(rows, cols)
    positions = [(t % rows, t % cols) for t in range(min(e, cover))]
    taken = {r * cols + c for r, c in positions}
    while len(taken) < e:  # rejection sampling: O(e) draws while under half the cells are taken
        if len(taken) > rows * cols // 2:
            free = np.setdiff1d(np.arange(rows * cols), np.fromiter(taken, dtype=np.int64))
            taken.update(int(k) for k in rng.choice(free, size=e - len(taken), replace=False))
            break
        for k in rng.integers(0, rows * cols, e - len(taken)):
            taken.add(int(k))
    extra = sorted(taken - {r * cols + c for r, c in positions})
    positions += [(k // cols, k % cols) for k in extra]
    r, c = np.array(positions).T
    values = rng.standard_normal(e) / np.sqrt(max(1, e / rows))
    return sparse.csr_matrix((values, (r, c)), shape=(rows, cols))


def _operator_factor(g: JacobianGraph, i: int, sizes: list[int], e: int, seed: int, output: bool):
    rows, cols = sizes[i], sizes[i - 1]
    made: dict[str, Any] = {}

    def matrix():
        if "A" not in made:
            made["A"] = _sparse_factor(rows, cols, e, np.random.default_rng([seed, i]))
        return made["A"]

    tail, head = f"v{i - 1}", f"v{i}"
    g.add_variable(
        head, rows, role="output" if output else "intermediate",
        evaluate=lambda v: matrix() @ v[tail],
    )  # fmt: skip
    g.add_factor(tail, head, Operator(e), lambda v: LinearMap.from_sparse(matrix()))
    g.edges[tail, head]["label"] = f"J{i}"


#: Models by the names the command line uses.
MODELS = {
    "one-layer": one_layer,
    "mlp": mlp,
    "least-squares": least_squares,
    "affine": affine,
    "factorization": factorization,
    "chain": chain,
}
