"""Speed of the planner and the executor: `python experiments/benchmarks.py [--quick]`.

Prints, with BLAS pinned to one thread:
- the optimal plan of a random 1000-factor chain (interval DP, vectorised);
- the interval DP at 200 factors against numpy's own pure-Python matrix-chain DP;
- the exact optimum (subset DP) of a DAG with 16 intermediate variables;
- ``execute`` against the same products written by hand in numpy, at H = N = 256;
- input-first on random sparse DAGs of 1,000 and 4,000 intermediates, and printing the plan;
- tracing a 100-layer numpy MLP (width 64, batch 32).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from types import SimpleNamespace

import numpy as np

import analyzer
from analyzer.blas import blas_threads
from analyzer.executor import factor_blocks
from analyzer.graph import JacobianGraph
from analyzer.planning import Problem, chain_optimum


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def numpy_chain_dp():
    try:
        from numpy.linalg._linalg import _multi_dot_matrix_chain_order
    except ImportError:  # numpy < 2
        from numpy.linalg.linalg import _multi_dot_matrix_chain_order
    return _multi_dot_matrix_chain_order


def chains(repeat: int) -> None:
    rng = np.random.default_rng(0)
    dims = [int(d) for d in rng.integers(1, 1001, 1001)]
    seconds = best_of(lambda: analyzer.plan(analyzer.chain(dims)), repeat)
    print(f"optimal plan, random 1000-factor chain (graph + DP + plan): {seconds:.3f} s")
    seconds = best_of(lambda: chain_optimum(dims), repeat)
    print(f"  of which the interval DP:                               {seconds:.3f} s")
    dims = [int(d) for d in rng.integers(1, 1001, 201)]
    arrays = [SimpleNamespace(shape=(dims[i], dims[i + 1])) for i in range(200)]
    order = numpy_chain_dp()
    ours = best_of(lambda: chain_optimum(dims), repeat)
    theirs = best_of(lambda: order(arrays, return_costs=True), max(1, repeat // 2))
    same = int(order(arrays, return_costs=True)[1][0, -1]) == chain_optimum(dims)[0]
    print(
        f"200 factors: interval DP {ours * 1e3:.1f} ms, numpy's DP {theirs * 1e3:.0f} ms "
        f"({theirs / ours:.0f}x faster; same optimum: {same})"
    )


def dag(repeat: int) -> None:
    graph = analyzer.models.mlp([8, 16, 4, 32, 8, 16, 2, 24, 6, 3])
    for cost in ("dense", "structured"):
        seconds = best_of(lambda cost=cost: analyzer.plan(graph, "optimal", cost), repeat)
        p = analyzer.plan(graph, "optimal", cost)
        print(
            f"exact optimum, {len(graph.intermediates)}-intermediate mlp DAG, {cost}: "
            f"{seconds:.2f} s ({p.macs} macs)"
        )


def overhead(repeat: int, size: int) -> None:
    graph = analyzer.models.one_layer(size, size)
    for order in ("input-first", "output-first"):
        for cost in ("dense", "structured"):
            p = analyzer.plan(graph, order, cost)
            blocks = factor_blocks(Problem.of(graph, cost), graph.evaluate())
            J = {f"{h}/{t}": b.data for (t, h), b in blocks.items()}
            by_hand = _hand_written(order, cost, J)
            by_hand()  # warm-up
            runs, hand = [], []
            for _ in range(repeat):  # interleaved, so both see the same machine state
                run = analyzer.execute(p, repeat=5, warmup=1, min_seconds=0.2, threads=1)
                runs.append(run.seconds)
                hand.append(statistics.median(best_of(by_hand, 1) for _ in range(run.repeats)))
            a, b = statistics.median(runs), statistics.median(hand)
            print(
                f"execute vs hand-written numpy, H=N={size}, {order:12s} {cost:10s}: "
                f"{a * 1e3:8.3f} ms vs {b * 1e3:8.3f} ms ({a / b:.2f}x)"
            )


def _hand_written(order: str, cost: str, J: dict):
    """The plan's products written out with numpy, for one graph and cost model."""
    s, y, u, W = J["out/z"], J["z/y"], J["y/u"], J["u/W"]
    zw = J["z/w"]
    if cost == "dense":
        if order == "input-first":
            return lambda: (s @ (y @ (u @ W)), s @ zw)
        return lambda: (((s @ y) @ u) @ W, s @ zw)
    if order == "input-first":  # diagonal d(y/u), row-block u/W, scalar-like s (1x1 diagonal)
        return lambda: (s * (y[:, :, None] * (u[:, None] * W)[None]).reshape(1, -1), s * zw)
    return lambda: (
        ((s * y) * u[None, :])[:, :, None] * W[None],
        s * zw,
    )


def sparse_dag(intermediates: int, seed: int = 1) -> JacobianGraph:
    """A random sparse DAG: each vertex (size 2) reads one or two earlier ones."""
    rng = np.random.default_rng(seed)
    g = JacobianGraph(name="sparse-dag")
    g.add_variable("p", 2, role="parameter", value=np.ones(2))
    names = ["p"]
    for i in range(intermediates):
        name = f"v{i}"
        g.add_variable(name, 2, role="intermediate", evaluate=lambda v: np.zeros(2))
        for tail in {names[int(j)] for j in rng.integers(0, len(names), rng.integers(1, 3))}:
            g.add_factor(tail, name, "dense", lambda v: np.eye(2))
        names.append(name)
    g.add_variable("out", 1, role="output", evaluate=lambda v: np.zeros(1))
    for tail in [n for n in names if g.out_degree(n) == 0]:
        g.add_factor(tail, "out", "dense", lambda v: np.ones((1, 2)))
    return g


def scale(repeat: int) -> None:
    for n in (1000, 4000):
        graph = sparse_dag(n)
        seconds = best_of(lambda graph=graph: analyzer.plan(graph, "input-first"), repeat)
        print(
            f"input-first plan, random sparse DAG, {n} intermediates, "
            f"{graph.number_of_edges()} factors: {seconds:.3f} s"
        )
    p = analyzer.plan(sparse_dag(1000), "input-first")
    seconds = best_of(lambda: str(p), repeat)
    print(f"print the plan of a 1,000-intermediate DAG: {seconds:.3f} s ({len(str(p))} characters)")


def tracing(repeat: int) -> None:
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal((64, 64)) / 8 for _ in range(100)]
    batch = rng.standard_normal((32, 64))

    def network(X, *Ws):
        for W in Ws:
            X = np.tanh(X @ W)
        return X.sum()

    seconds = best_of(lambda: analyzer.trace(network, batch, *weights), repeat)
    print(f"trace a 100-layer numpy MLP (width 64, batch 32): {seconds:.3f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    repeat = 3 if args.quick else 7
    with blas_threads(1):
        chains(repeat)
        scale(repeat)
        tracing(repeat)
        dag(max(1, repeat // 3))
        overhead(repeat, 128 if args.quick else 256)
    return 0


if __name__ == "__main__":
    sys.exit(main())
