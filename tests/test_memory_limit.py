"""Memory-limited plans and the macs-peak front against a brute force over every order."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import analyzer
from analyzer import PlanError, models
from analyzer.cli import main
from analyzer.graph import JacobianGraph
from analyzer.planning import Problem, from_sequence, pareto, plan
from analyzer.planning.memchain import interval_front, peak_lower_bound
from analyzer.planning.memunits import parse_memory
from analyzer.structure import DENSE, product_rule, sum_rule


# ------------------------------------------------------------------ the brute force
def brute(graph: JacobianGraph, cost: str = "dense") -> list[tuple[int, int, tuple]]:
    """(macs, peak bytes, order) of EVERY elimination order, with its own bookkeeping.

    Its own factor dictionaries; operations listed as eliminations visit them (neighbours
    by the order the variables were added to the graph); each object's first and last
    operation found by a scan; the live total at each operation a running sum of births
    and deaths.
    """
    pr = Problem.of(graph, cost)
    sizes = pr.sizes
    item = {n: graph.nodes[n]["dtype"].itemsize for n in pr.nodes}
    rank = {n: i for i, n in enumerate(graph.nodes)}
    by_rank = lambda pair: rank[pair[0]]  # noqa: E731
    found = []
    for order in itertools.permutations(pr.intermediates):
        objects = []  # (bytes, is_leaf)

        def new(kind, t, h, leaf, objects=objects):
            stored = 0 if kind.name == "operator" else kind.stored((sizes[h], sizes[t]))
            objects.append((stored * max(item[t], item[h]), leaf))
            return len(objects) - 1

        kinds = {}
        pred = {n: {} for n in pr.nodes}
        succ = {n: {} for n in pr.nodes}
        for t, h, kind in pr.edges:
            o = new(kind, t, h, True)
            kinds[o] = kind
            succ[t][h] = pred[h][t] = o
        ops, macs = [], 0
        for v in order:
            ins, outs = pred.pop(v), succ.pop(v)
            for q in ins:
                del succ[q][v]
            for s in outs:
                del pred[s][v]
            for q, inner in sorted(ins.items(), key=by_rank):
                for s, outer in sorted(outs.items(), key=by_rank):
                    price = product_rule(kinds[outer], kinds[inner]).price(
                        (sizes[s], sizes[v]), (sizes[v], sizes[q])
                    )
                    macs += price.macs
                    made = new(price.result, q, s, False)
                    kinds[made] = price.result
                    ops.append(((outer, inner), made))
                    if s in succ[q]:
                        old = succ[q][s]
                        merge = sum_rule(kinds[old], price.result).price((sizes[s], sizes[q]))
                        macs += merge.formed
                        merged = new(merge.result, q, s, False)
                        kinds[merged] = merge.result
                        ops.append(((old, made), merged))
                        made = merged
                    succ[q][s] = pred[s][q] = made
        final = []
        for t in sorted(succ, key=lambda n: rank[n]):
            for h, o in sorted(succ[t].items(), key=by_rank):
                shape = (sizes[h], sizes[t])
                formed = kinds[o].densify_macs(shape)
                if formed:
                    macs += formed
                    dense = new(DENSE, t, h, False)
                    ops.append(((o,), dense))
                    final.append(dense)
                else:
                    final.append(o)
        first, last = {}, {}
        for i, (reads, made) in enumerate(ops):
            for o in reads:
                first.setdefault(o, i)
                last[o] = i
            first[made] = i
            last.setdefault(made, i)
        for o in final:
            last[o] = len(ops)
        change = [0] * (len(ops) + 2)  # +bytes when an object is born, -bytes after it dies
        for o, born in first.items():
            change[born] += objects[o][0]
            change[last[o] + 1] -= objects[o][0]
        peak = max(itertools.accumulate(change[: len(ops)]), default=0)
        found.append((macs, peak, order))
    return found


def brute_front(orders) -> set[tuple[int, int]]:
    points = {(m, p) for m, p, _ in orders}
    return {a for a in points if not any(b != a and b[0] <= a[0] and b[1] <= a[1] for b in points)}


def random_chain(rng: random.Random, factors: int) -> JacobianGraph:
    return models.chain([rng.randint(1, 40) for _ in range(factors + 1)])


def random_dag(seed: int, intermediates: int) -> JacobianGraph:
    """A random DAG: sizes 1..7, dense and diagonal factors, one or two parameters and outputs."""
    rng = random.Random(seed)
    g = JacobianGraph(name="random")
    names, size = [], {}
    for i in range(rng.randint(1, 2)):
        size[f"x{i}"] = rng.randint(1, 7)
        g.add_variable(f"x{i}", size[f"x{i}"], role="parameter", value=np.ones(size[f"x{i}"]))
        names.append(f"x{i}")
    for i in range(intermediates):
        name = f"t{i}"
        tails = rng.sample(names, min(len(names), rng.randint(1, 3)))
        size[name] = size[tails[0]] if rng.random() < 0.4 else rng.randint(1, 7)
        g.add_variable(name, size[name], role="intermediate", evaluate=lambda v: 0)
        for tail in tails:
            diagonal = size[tail] == size[name] and rng.random() < 0.5
            g.add_factor(tail, name, "diagonal" if diagonal else "dense", lambda v: 0)
        names.append(name)
    sinks = [n for n in names if g.out_degree(n) == 0]
    for j in range(rng.randint(1, 2)):
        size[f"y{j}"] = rng.randint(1, 5)
        g.add_variable(f"y{j}", size[f"y{j}"], role="output", evaluate=lambda v: 0)
        for tail in set(sinks + rng.sample(names, 1)):
            g.add_factor(tail, f"y{j}", "dense", lambda v: 0)
    return g


def check_limits(graph: JacobianGraph, cost: str = "dense") -> None:
    """The memory-limited optimum equals the brute force's, at several limits; none fits: error."""
    orders = brute(graph, cost)
    peaks = sorted({p for _, p, _ in orders})
    least = peaks[0]
    limits = {least, peaks[-1], peaks[len(peaks) // 2], (least + peaks[-1]) // 2 + 1}
    for limit in sorted(x for x in limits if x > 0):
        expected = min(m for m, p, _ in orders if p <= limit)
        found = plan(graph, "optimal", cost, memory_limit=limit)
        assert found.macs == expected
        assert found.peak_bytes <= limit
        assert found.proven_optimal and found.lower_bound == found.macs
        assert found.search.tried["peak_bytes"] == found.peak_bytes  # the search's own peak
        mine = [(m, p) for m, p, o in orders if list(o) == list(found.sequence)]
        assert mine == [(found.macs, found.peak_bytes)]  # the search agrees with the model
    if least > 1:
        with pytest.raises(PlanError, match=f"smallest peak any order reaches is .*{least} bytes"):
            plan(graph, "optimal", cost, memory_limit=least - 1)


def check_front(graph: JacobianGraph, cost: str = "dense") -> None:
    """The front is non-dominated and complete against the brute force; its rows are true."""
    orders = brute(graph, cost)
    front = pareto(graph, cost)
    assert front.attrs["exact"] and front["exact"].all()
    assert set(zip(front["macs"], front["peak_bytes"], strict=True)) == brute_front(orders)
    assert list(front["macs"]) == sorted(front["macs"])
    for _, row in front.iterrows():
        p = from_sequence(graph, [v for v in row["sequence"].split(", ") if v], cost)
        assert (p.macs, p.peak_bytes, p.peak_elements) == (
            row["macs"],
            row["peak_bytes"],
            row["peak_elements"],
        )


# ------------------------------------------------------------------ chains
@pytest.mark.parametrize("factors", [1, 2, 3, 4, 5, 6, 7])
def test_chains_limited_optimum_and_front_match_the_brute_force(factors):
    rng = random.Random(factors)
    for _ in range(3):
        g = random_chain(rng, factors)
        check_limits(g)
        check_front(g)


def test_a_chain_with_a_real_trade_off():
    g = models.chain([32, 38, 32, 28])  # cheapest order peaks higher than the other
    orders = brute(g)
    assert len(brute_front(orders)) == 2
    check_limits(g)
    check_front(g)


def test_the_sheet_chain_front_starts_at_the_optimum():
    front = analyzer.pareto(analyzer.chain([30, 35, 15, 5, 10, 20, 25]))
    assert front.loc[0, "macs"] == 15125  # CLRS 15.2 (reversed): its optimum
    assert front.attrs["exact"]


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    count=st.integers(1, 6),
    cost=st.sampled_from(["dense", "structured"]),
)
def test_random_dags_limited_optimum_and_front_match_the_brute_force(seed, count, cost):
    g = random_dag(seed, count)
    check_limits(g, cost)
    check_front(g, cost)


@pytest.mark.parametrize("cost", ["dense", "structured", "matrix-free"])
def test_models_limited_optimum_and_front(cost):
    for g in (models.one_layer(6, 4), models.mlp([3, 4, 5, 2])):
        check_limits(g, cost)
        check_front(g, cost)


def test_seven_intermediates():
    g = random_dag(11, 7)
    check_limits(g)


# ------------------------------------------------------------------ beyond exact reach
def test_long_chain_interval_dp_is_feasible_and_agrees_with_the_model():
    rng = random.Random(5)
    g = models.chain([rng.randint(1, 60) for _ in range(31)])  # 29 intermediates: not exact
    optimum = plan(g, "optimal")
    loose = plan(g, "optimal", memory_limit=10**12)
    assert loose.macs == optimum.macs and loose.proven_optimal
    floor = peak_lower_bound(Problem.of(g))
    points = interval_front(Problem.of(g), keep=6)
    assert points[0].macs == optimum.macs  # the cheapest point is the unconstrained optimum
    for point in points:
        p = from_sequence(g, point.sequence)
        assert (p.macs, p.peak_bytes) == (point.macs, point.peak_bytes)
        assert p.peak_bytes >= floor
    least = min(x.peak_bytes for x in points)
    tight = plan(g, "optimal", memory_limit=least)
    assert tight.peak_bytes <= least and tight.macs >= optimum.macs
    assert tight.lower_bound == optimum.macs
    assert tight.proven_optimal == (tight.macs == optimum.macs)
    with pytest.raises(PlanError, match="peak"):
        plan(g, "optimal", memory_limit=floor - 1)
    front = pareto(g)
    assert not front.attrs["exact"] and front.loc[0, "macs"] == optimum.macs
    assert list(front["peak_bytes"]) == sorted(front["peak_bytes"], reverse=True)


def test_interval_dp_matches_the_exact_front_on_small_chains():
    # postorder schedules are not always enough, but the points found are real orders
    # and never beat the exact front
    rng = random.Random(2)
    for _ in range(10):
        g = random_chain(rng, rng.randint(2, 7))
        exact = brute_front(brute(g))
        for point in interval_front(Problem.of(g), keep=8):
            assert not any(
                m <= point.macs
                and p <= point.peak_bytes
                and (m, p) != (point.macs, point.peak_bytes)
                for m, p in exact
            )


def _spy_budgets(monkeypatch) -> list:
    """Record the time limit of every Budget the memory-limited search makes; its DP runs out."""
    import analyzer.planning.limited as limited
    from analyzer.planning.memchain import OutOfTime
    from analyzer.planning.search import Budget

    made = []

    class Spy(Budget):
        def __post_init__(self) -> None:
            made.append(self.time_limit)
            super().__post_init__()

    def out_of_time(*args, **kwargs):
        raise OutOfTime("the test's clock")

    monkeypatch.setattr(limited, "Budget", Spy)
    monkeypatch.setattr(limited, "interval_front", out_of_time)
    return made


def _within(made: list, time_limit) -> bool:
    """No budget longer than the user's (None: no limit, so no budget may have one)."""
    if time_limit is None:
        return all(t is None for t in made)
    return all(t is not None and t <= time_limit for t in made)


@pytest.mark.parametrize("time_limit", [None, 30.0])
def test_a_chain_whose_interval_dp_runs_out_keeps_the_users_budget(monkeypatch, time_limit):
    # was: a fixed Budget(1.0) for a beam, heuristics with Budget(None), and the exact
    # chain optimum computed, then dropped for a weaker bound
    made = _spy_budgets(monkeypatch)
    rng = random.Random(1)
    g = models.chain([rng.randint(20, 40) for _ in range(21)])  # 19 intermediates: not exact
    optimum = plan(g, "optimal", time_limit=None)
    others = [plan(g, o) for o in ("optimal", "markowitz", "min-fill", "input-first")]
    limit = plan(g, "output-first").peak_bytes
    assert optimum.peak_bytes > limit  # the unconstrained optimum does not fit
    found = plan(g, "optimal", memory_limit=limit, time_limit=time_limit)
    assert made and _within(made, time_limit)
    assert found.peak_bytes <= limit
    assert found.macs <= min(p.macs for p in others if p.peak_bytes <= limit)
    assert found.macs <= plan(g, "output-first").macs
    assert found.lower_bound == optimum.macs  # the exact chain optimum, kept
    assert found.proven_optimal == (found.macs == optimum.macs)
    made.clear()
    front = pareto(g, time_limit=time_limit)
    assert made and _within(made, time_limit)
    assert front["macs"].min() == optimum.macs
    for _, row in front.iterrows():
        p = from_sequence(g, [v for v in row["sequence"].split(", ") if v])
        assert (p.macs, p.peak_bytes) == (row["macs"], row["peak_bytes"])


def test_a_long_chain_whose_optimum_fits_is_proven_at_once():
    rng = random.Random(1)
    g = models.chain([rng.randint(20, 40) for _ in range(41)])
    optimum = plan(g, "optimal", time_limit=None)
    found = plan(g, "optimal", memory_limit=optimum.peak_bytes, time_limit=None)
    assert found.proven_optimal and found.macs == optimum.macs
    assert found.peak_bytes <= optimum.peak_bytes


def test_large_dag_beam_fits_the_limit():
    g = random_dag(3, 17)  # past the exact walk
    optimum = plan(g, "optimal")
    found = plan(g, "optimal", memory_limit=optimum.peak_bytes)
    assert found.peak_bytes <= optimum.peak_bytes
    assert found.macs == optimum.macs or not found.proven_optimal
    others = [plan(g, o) for o in ("input-first", "output-first", "markowitz", "min-fill")]
    tight = min(p.peak_bytes for p in others)
    found = plan(g, "optimal", memory_limit=tight)
    assert found.peak_bytes <= tight
    assert found.search.tried["peak_bytes"] == found.peak_bytes
    assert found.macs <= min(p.macs for p in others if p.peak_bytes <= tight)
    assert found.lower_bound <= found.macs
    front = pareto(g)
    assert not front.attrs["exact"]
    assert front["macs"].min() <= optimum.macs
    for _, row in front.iterrows():
        p = from_sequence(g, [v for v in row["sequence"].split(", ") if v])
        assert (p.macs, p.peak_bytes) == (row["macs"], row["peak_bytes"])


# ------------------------------------------------------------------ other orders, bad input
def test_other_orders_are_checked_against_the_limit():
    g = models.one_layer(10, 5)
    forward = plan(g, "input-first")
    assert plan(g, "input-first", memory_limit=forward.peak_bytes).macs == forward.macs
    with pytest.raises(PlanError, match="input-first order peaks at"):
        plan(g, "input-first", memory_limit=forward.peak_bytes - 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2 GB", 2 * 10**9),
        ("2GB", 2 * 10**9),
        ("512 MiB", 512 * 2**20),
        ("100kB", 100_000),
        ("1.5 KiB", 1536),
        ("7", 7),
        ("3 b", 3),
        (4096, 4096),
        (np.int64(5), 5),
        (2e9, 2 * 10**9),
    ],
)
def test_memory_units(text, expected):
    assert parse_memory(text) == expected


@pytest.mark.parametrize(
    ("limit", "message"),
    [
        (0, "positive"),
        (-5, "positive"),
        ("-1 GB", "positive"),
        ("0 kB", "positive"),
        ("0.0001 B", "whole number of bytes"),
        ("1e400 B", "too large"),  # was an OverflowError
        ("1e400 GB", "too large"),
        (1.7, "whole number of bytes"),  # was silently 1 byte
        ("1.7", "whole number of bytes"),
        (0.5, "whole number of bytes"),
        ("0.0001 kB", "positive"),
        ("1" * 5000, "cannot read memory_limit"),
        ("2 GQ", "unknown memory unit 'GQ'"),
        ("lots", "cannot read memory_limit"),
        ("", "cannot read memory_limit"),
        (True, "memory_limit must be"),
        (float("nan"), "finite"),
        ([1], "memory_limit must be"),
    ],
)
def test_bad_memory_limits(limit, message):
    with pytest.raises(PlanError, match=message):
        plan(models.one_layer(4, 3), "optimal", memory_limit=limit)


def test_the_bytes_objective_is_refused():
    with pytest.raises(PlanError, match="macs objective"):
        plan(models.one_layer(4, 3), "optimal", memory_limit="1 GB", objective="bytes")


def test_symbolic_sizes_are_refused():
    with pytest.raises(PlanError, match="numeric sizes"):
        plan(models.one_layer("H", "N"), "optimal", memory_limit="1 GB")
    with pytest.raises(PlanError, match="numeric sizes"):
        pareto(models.one_layer("H", "N"))


def test_cli_pareto_and_memory_limit(capsys):
    assert main(["pareto", "--model", "one-layer", "--H", "6", "--N", "4"]) == 0
    out = capsys.readouterr().out
    assert "peak_bytes" in out and "exact" in out
    assert (
        main(["plan", "--model", "one-layer", "--H", "6", "--N", "4", "--memory-limit", "1 MB"])
        == 0
    )
    capsys.readouterr()
    assert (
        main(["plan", "--model", "one-layer", "--H", "6", "--N", "4", "--memory-limit", "1 B"]) == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "smallest peak" in err[0]
    assert (
        main(["plan", "--model", "one-layer", "--H", "6", "--N", "4", "--memory-limit", "2 XB"])
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown memory unit" in err[0]
    assert (
        main(["plan", "--model", "one-layer", "--H", "6", "--N", "4", "--memory-limit", "1e400 B"])
        == 2
    )  # was a traceback (OverflowError) and exit status 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "too large" in err[0]
    assert (
        main(["compare", "--model", "chain", "--dims", "32,38,32,28", "--memory-limit", "26kB"])
        == 0
    )
    out = capsys.readouterr().out
    assert "optimal within 26kB: 68096 macs" in out  # the brute force's leanest order
    assert main(["pareto", "--model", "one-layer", "--H", "H", "--N", "N"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "numeric sizes" in err[0]


def test_plot_pareto():
    from analyzer.report import plot_pareto

    front = pareto(models.one_layer(6, 4))
    fig, ax = plot_pareto(front)
    xs, ys = ax.lines[0].get_xdata(), ax.lines[0].get_ydata()
    pairs = zip(front["peak_bytes"], front["macs"], strict=True)
    assert sorted(zip(xs, ys, strict=True)) == sorted(pairs)
    assert "exact front" in ax.get_title()
    with pytest.raises(analyzer.AnalyzerError, match="lacks column"):
        plot_pareto(front.drop(columns="peak_bytes"))
