"""Speed of the planner and the executor: `python experiments/benchmarks.py [--quick]`.

Prints, with BLAS pinned to one thread:
- the optimal plan of a random 1000-factor chain (interval DP, vectorised);
- the interval DP at 200 factors against numpy's own pure-Python matrix-chain DP;
- the optimal matrix-free plan of a random 500-factor operator chain (vectorised GDJCPB
  interval DP), and that DP against the rule-table DP at 100 factors;
- the exact optimum of an MLP DAG with 16 intermediate variables;
- ``execute`` against the same products written by hand in numpy, at H = N = 256;
- input-first on random sparse DAGs of 1,000 and 4,000 intermediates, and printing the plan;
- tracing a 100-layer numpy MLP (width 64, batch 32);
- planning at scale (``--only search`` runs these alone): the proven optimum of MLPs
  with 13, 20 and 40 widths drawn from 2..64 (path DP, and the generic search alone at 13);
  random layered DAGs of 30, 50 (seeds 1 to 4) and 100 intermediates under the default
  time limit (proven, or the gap to the lower bound, with the load average); markowitz
  and best-heuristic on a 10,000-variable sparse DAG; the subset DP and the search side
  by side at 16 and 20 intermediates; the structured interval DP of a 200-factor chain;
  planning, printing and enumerating the cases a review found slow.

Timings depend on the machine and its load: run it on a quiet machine and quote
the best of the repeats.
"""

from __future__ import annotations

import argparse
import os
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
from analyzer.planning.chain import _interval_split, _operator_leaves, operator_chain_optimum
from analyzer.planning.search import Budget


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


def random_operator_chain(factors: int, seed: int = 0) -> JacobianGraph:
    """Sizes drawn from 1..1000, each e from 1..m·n (the sparse matrices are made lazily)."""
    rng = np.random.default_rng(seed)
    dims = [int(d) for d in rng.integers(1, 1001, factors + 1)]
    edges = [int(rng.integers(1, dims[i] * dims[i + 1] + 1)) for i in range(factors)]
    return analyzer.chain(dims, edges=edges)


def operator_chains(repeat: int) -> None:
    graph = random_operator_chain(500)
    seconds = best_of(lambda: analyzer.plan(graph, "optimal", "matrix-free"), repeat)
    print(f"optimal matrix-free plan, random 500-factor operator chain: {seconds:.3f} s")
    problem = Problem.of(graph, "matrix-free")
    dims, leaves = [problem.sizes[v] for v in problem.chain], _operator_leaves(problem)
    seconds = best_of(lambda: operator_chain_optimum(dims, leaves), repeat)
    print(f"  of which the vectorised GDJCPB interval DP:              {seconds:.3f} s")
    problem = Problem.of(random_operator_chain(100), "matrix-free")
    dims, leaves = [problem.sizes[v] for v in problem.chain], _operator_leaves(problem)
    ours = best_of(lambda: operator_chain_optimum(dims, leaves), repeat)
    theirs = best_of(lambda: _interval_split(problem, Budget()), max(1, repeat // 3))
    same = operator_chain_optimum(dims, leaves)[0] == _interval_split(problem, Budget())[0]
    print(
        f"100 operator factors: vectorised DP {ours * 1e3:.1f} ms, rule-table DP "
        f"{theirs * 1e3:.0f} ms ({theirs / ours:.0f}x faster; same optimum: {same})"
    )


def dag(repeat: int) -> None:
    graph = analyzer.models.mlp([8, 16, 4, 32, 8, 16, 2, 24, 6, 3])  # 16 intermediates
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
                run = analyzer.execute(
                    p, repeat=5, warmup=1, min_seconds=0.2, threads=1, memory=False
                )
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


def layered_dag(
    intermediates: int, seed: int = 0, width: int = 6, low: int = 2, high: int = 64
) -> JacobianGraph:
    """A random layered DAG of dense factors, sizes drawn from ``low..high``.

    Three parameters; layers of ``width`` intermediates, each reading one to
    three variables of the layer before (one time in five, of any earlier
    layer); one output reads every variable nothing else reads.
    """
    rng = np.random.default_rng(seed)
    g = JacobianGraph(name=f"layered-dag-{intermediates}")
    previous = [f"p{j}" for j in range(3)]
    for name in previous:
        g.add_variable(name, int(rng.integers(low, high + 1)), role="parameter")
    everything = list(previous)
    made = 0
    while made < intermediates:
        current = []
        for _ in range(min(width, intermediates - made)):
            name = f"v{made}"
            g.add_variable(name, int(rng.integers(low, high + 1)), role="intermediate")
            pool = previous if rng.random() < 0.8 else everything
            k = min(int(rng.integers(1, 4)), len(pool))
            for tail in rng.choice(pool, size=k, replace=False):
                g.add_factor(str(tail), name, "dense")
            current.append(name)
            made += 1
        everything += current
        previous = current
    g.add_variable("out", int(rng.integers(low, high + 1)), role="output")
    for tail in [n for n in everything if g.out_degree(n) == 0]:
        g.add_factor(tail, "out", "dense")
    return g


def _outcome(p) -> str:
    if p.proven_optimal:
        return "proven optimal"
    return f"gap {p.gap:.1%} (lower bound {p.lower_bound})"


def search(repeat: int) -> None:
    """Planning at scale: exact search, certificates, heuristics (see the module docstring)."""
    rng = np.random.default_rng(0)
    for count in (13, 20, 40):
        widths = [int(w) for w in rng.integers(2, 65, count)]
        graph = analyzer.models.mlp(widths)
        seconds = best_of(lambda graph=graph: analyzer.plan(graph, "optimal"), repeat)
        p = analyzer.plan(graph, "optimal")
        print(
            f"optimal, mlp with {count} widths ({len(graph.intermediates)} intermediates): "
            f"{seconds:.3f} s, {p.macs} macs, {_outcome(p)}"
        )
        if count == 13:
            start = time.perf_counter()
            q = analyzer.plan(graph, "branch-and-bound")
            seconds = time.perf_counter() - start
            print(
                f"  the generic search alone (no path DP): {seconds:.2f} s, {q.macs} macs, "
                f"{_outcome(q)}, {q.search.tried.get('nodes', 0)} nodes"
            )
    for n, seed in ((30, 1), (50, 1), (50, 2), (50, 3), (50, 4), (100, 1)):
        graph = layered_dag(n, seed=seed)
        start = time.perf_counter()
        p = analyzer.plan(graph, "optimal")
        seconds = time.perf_counter() - start
        h = analyzer.plan(graph, "best-heuristic")
        print(
            f"optimal, random layered DAG, {n} intermediates, seed {seed}: {seconds:.2f} s, "
            f"{p.macs} macs, {_outcome(p)}; best heuristic {h.macs} macs "
            f"({h.search.tried['chosen']}); load average {os.getloadavg()[0]:.1f}"
        )
    graph = sparse_dag(10_000)
    for order in ("markowitz", "min-fill", "best-heuristic"):
        seconds = best_of(lambda order=order: analyzer.plan(graph, order), max(1, repeat // 3))
        p = analyzer.plan(graph, order)
        print(
            f"{order}, random sparse DAG, 10,000 intermediates: {seconds:.2f} s "
            f"({p.macs} macs, gap to the cheap bound {p.gap:.1%})"
        )
    for n in (16, 20):
        graph = layered_dag(n, seed=1)
        start = time.perf_counter()
        dp = analyzer.plan(graph, "subset-dp", time_limit=None)
        dp_seconds = time.perf_counter() - start
        start = time.perf_counter()
        found = analyzer.plan(graph, "branch-and-bound", time_limit=None)
        bnb_seconds = time.perf_counter() - start
        print(
            f"{n} intermediates: subset DP {dp_seconds:.2f} s, search {bnb_seconds:.2f} s "
            f"({dp_seconds / bnb_seconds:.1f}x faster; same optimum: {dp.macs == found.macs}; "
            f"{found.search.tried['nodes']} nodes)"
        )
    graph = _structured_chain([int(d) for d in rng.integers(1, 65, 201)])
    seconds = best_of(lambda: analyzer.plan(graph, "optimal", "structured"), 1)
    print(f"structured interval DP, 200-factor chain: {seconds:.2f} s")
    slow_cases(repeat)


def _structured_chain(dims: list[int]) -> JacobianGraph:
    """A chain whose odd factors are dense and even ones diagonal (sizes repeat around them)."""
    g = JacobianGraph(name="structured-chain")
    g.add_variable("v0", dims[0], role="parameter")
    size = dims[0]
    for i in range(1, len(dims)):
        diagonal = i % 2 == 0
        size = size if diagonal else dims[i]
        role = "output" if i == len(dims) - 1 else "intermediate"
        g.add_variable(f"v{i}", size, role=role)
        g.add_factor(f"v{i - 1}", f"v{i}", "diagonal" if diagonal else "dense")
    return g


def slow_cases(repeat: int) -> None:
    """What a review found slow: planning big graphs, symbolic chains, printing, enumerating."""
    graph = sparse_dag(4000)
    seconds = best_of(lambda: analyzer.plan(graph, "input-first"), repeat)
    print(f"input-first plan, random sparse DAG, 4,000 intermediates: {seconds:.3f} s")
    graph = analyzer.chain([f"s{i}" for i in range(100)])
    seconds = best_of(lambda: analyzer.plan(graph, "input-first"), max(1, repeat // 3))
    print(f"input-first plan, symbolic 99-factor chain: {seconds:.3f} s")
    p = analyzer.plan(analyzer.models.mlp([3] * 700), "input-first")
    seconds = best_of(lambda: str(p), repeat)
    print(f"print the input-first plan of mlp([3] * 700): {seconds:.3f} s")
    graph = analyzer.models.mlp([3, 4, 5, 4, 3])
    seconds = best_of(lambda: analyzer.all_orders(graph), max(1, repeat // 3))
    print(f"all_orders, 720 orders of a 6-intermediate mlp: {seconds * 1e3 / 720:.2f} ms per order")


def memory(repeat: int) -> None:
    """Memory-limited planning and the macs-peak front of long chains (issue 8)."""
    rng = np.random.default_rng(1)
    graph = analyzer.chain([int(d) for d in rng.integers(20, 41, 201)])
    front = analyzer.pareto(graph)  # not timed: to pick a limit between its ends
    limit = (int(front["peak_bytes"].iloc[0]) + int(front["peak_bytes"].iloc[-1])) // 2
    seconds = best_of(lambda: analyzer.plan(graph, "optimal", memory_limit=limit), repeat)
    p = analyzer.plan(graph, "optimal", memory_limit=limit)
    free = analyzer.plan(graph, "optimal")
    print(
        f"memory-limited optimal, 200-factor chain, limit {limit} bytes: {seconds:.2f} s "
        f"(target < 2 s); {p.macs} macs, peak {p.peak_bytes} bytes "
        f"(unconstrained: {free.macs} macs, peak {free.peak_bytes} bytes; gap at most {p.gap:.2%})"
    )
    graph = analyzer.chain([int(d) for d in rng.integers(20, 41, 51)])
    seconds = best_of(lambda: analyzer.pareto(graph), repeat)
    front = analyzer.pareto(graph)
    print(
        f"pareto front, 50-factor chain: {seconds:.2f} s (target < 5 s); {len(front)} points, "
        f"macs {front['macs'].min()}..{front['macs'].max()}, "
        f"peak {front['peak_bytes'].min()}..{front['peak_bytes'].max()} bytes "
        f"({front.attrs['method']})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=["search", "memory"], help="run one group of benchmarks")
    args = parser.parse_args(argv)
    repeat = 3 if args.quick else 7
    with blas_threads(1):
        if args.only == "search":
            search(repeat)
            return 0
        if args.only == "memory":
            memory(repeat)
            return 0
        chains(repeat)
        operator_chains(repeat)
        scale(repeat)
        tracing(repeat)
        dag(max(1, repeat // 3))
        overhead(repeat, 128 if args.quick else 256)
        search(repeat)
        memory(repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
