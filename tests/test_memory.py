"""The memory model: predicted live totals against an independent replay, and hand-derived peaks."""

from __future__ import annotations

import contextlib
import io
import itertools
import random

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer import compare, execute, models
from analyzer.cli import main
from analyzer.graph import JacobianGraph
from analyzer.planning import Problem, from_sequence, plan
from analyzer.planning.memory import held_state, live_profile, peak_of, transition
from analyzer.planning.memsearch import advance, memory_state
from analyzer.planning.memsearch import transition as search_transition
from analyzer.structure import DENSE, product_rule, sum_rule

H, N = sympy.symbols("H N", positive=True, integer=True)


# ------------------------------------------------------------------ the independent replay
def replay(p):
    """Per step row, the largest live total (elements, bytes), and the peak, by brute force.

    Own bookkeeping: its own dictionaries of factors, its own list of operations and,
    for each operation, a scan over every object asking whether it is live then.
    """
    pr = p.problem
    sizes = pr.sizes
    itemsize = {n: pr.graph.nodes[n]["dtype"].itemsize for n in pr.nodes}
    objects = []  # (elements, bytes, is_leaf)

    def new(kind, t, h, leaf):
        objects.append(
            (kind, kind_elements(kind, (sizes[h], sizes[t])), max(itemsize[t], itemsize[h]), leaf)
        )
        return len(objects) - 1

    rank = {n: i for i, n in enumerate(pr.graph.nodes)}  # products run in the graph's order
    pred = {n: {} for n in pr.nodes}
    succ = {n: {} for n in pr.nodes}
    for t, h, kind in pr.edges:
        succ[t][h] = pred[h][t] = new(kind, t, h, True)
    ops = []  # (reads, result, label or None for a merge)
    for v in p.sequence:
        ins, outs = pred.pop(v), succ.pop(v)
        for q in ins:
            del succ[q][v]
        for s in outs:
            del pred[s][v]
        for q, inner in sorted(ins.items(), key=lambda item: rank[item[0]]):
            for s, outer in sorted(outs.items(), key=lambda item: rank[item[0]]):
                a, b = objects[outer][0], objects[inner][0]
                kind = product_rule(a, b).price((sizes[s], sizes[v]), (sizes[v], sizes[q])).result
                made = new(kind, q, s, False)
                ops.append(((outer, inner), made, f"J({s},{v})·J({v},{q})"))
                if s in succ[q]:
                    old = succ[q][s]
                    kind = sum_rule(objects[old][0], kind).price((sizes[s], sizes[q])).result
                    merged = new(kind, q, s, False)
                    ops.append(((old, made), merged, None))
                    made = merged
                succ[q][s] = pred[s][q] = made
    final = []
    for t, heads in sorted(succ.items(), key=lambda item: rank[item[0]]):
        for h, obj in sorted(heads.items(), key=lambda item: rank[item[0]]):
            kind = objects[obj][0]
            if kind.densify_macs((sizes[h], sizes[t])) != 0:
                dense = new(DENSE, t, h, False)
                ops.append(((obj,), dense, f"preaccumulate J({h},{t})"))
                final.append(dense)
            else:
                final.append(obj)
    first, last = {}, {}
    for i, (reads, made, _) in enumerate(ops):
        for o in reads:
            first.setdefault(o, i)
            last[o] = i
        first[made] = i
        last.setdefault(made, i)
    for o in final:
        last[o] = len(ops)
    live, live_b = [], []
    for i in range(len(ops)):
        held = [o for o in first if first[o] <= i <= last[o]]
        live.append(sum((objects[o][1] for o in held), sympy.Integer(0)))
        live_b.append(sum((objects[o][1] * objects[o][2] for o in held), sympy.Integer(0)))
    rows, labels = [], []
    for (_, _, label), value, value_b in zip(ops, live, live_b, strict=True):
        if label is None:  # a merge belongs to the product before it
            rows[-1].append((value, value_b))
        else:
            rows.append([(value, value_b)])
            labels.append(label)
    return rows, labels, live, live_b


def kind_elements(kind, shape):
    """The module's rule: what the kind stores, and nothing for a matrix-free operator (code)."""
    return 0 if kind.name == "operator" else kind.stored(shape)


def check_against_replay(p):
    rows, labels, live, live_b = replay(p)
    shown = [text.split(" + ")[0] for text in p.steps["product"]]
    assert shown == labels  # the replay runs the plan's operations in the plan's order
    assert len(p.steps) == len(rows)
    assert not p.problem.symbolic  # symbolic plans are checked at numbers below
    for row, predicted in zip(rows, p.steps["live_elements"], strict=True):
        assert isinstance(predicted, int)
        assert predicted == max(v for v, _ in row)
    assert p.peak_elements == (max(live) if live else 0)
    assert p.peak_bytes == (max(live_b) if live_b else 0)
    assert p.peak_formula == p.peak_elements
    return live


# ------------------------------------------------------------------ every model, every order
MODEL_CASES = {
    "one_layer": lambda: models.one_layer(3, 2),
    "mlp": lambda: models.mlp([2, 3, 4, 2]),
    "least_squares": lambda: models.least_squares(4, 3),
    "affine": lambda: models.affine(3, 4),
    "factorization": lambda: models.factorization(3, 4, 2),
    "chain": lambda: models.chain([3, 4, 2, 5]),
    "chain_operators": lambda: models.chain([5, 4, 6, 3, 4], edges=[4, 3, 5, 3]),
}


@pytest.mark.parametrize("name", sorted(MODEL_CASES))
@pytest.mark.parametrize("cost", ["dense", "structured", "matrix-free"])
def test_every_model_every_strategy_matches_the_replay(name, cost):
    assert {n.replace("-", "_") for n in models.MODELS} <= set(MODEL_CASES)
    g = MODEL_CASES[name]()
    for order in ("input-first", "output-first", "optimal", "markowitz"):
        check_against_replay(plan(g, order, cost=cost))
    for sequence in itertools.islice(itertools.permutations(Problem.of(g).intermediates), 30):
        check_against_replay(from_sequence(g, list(sequence), cost=cost))


def test_graphs_with_merges_match_the_replay(graphs):
    for build in (graphs.residual, graphs.stacked, graphs.two_outputs, graphs.zero):
        g = build()
        for cost in ("dense", "structured"):
            for sequence in itertools.islice(
                itertools.permutations(Problem.of(g).intermediates), 40
            ):
                check_against_replay(from_sequence(g, list(sequence), cost=cost))


def random_graph(seed: int, intermediates: int) -> JacobianGraph:
    """A random DAG with sizes 1..6, dense and diagonal factors, 1-2 parameters and outputs."""
    rng = random.Random(seed)
    g = JacobianGraph(name="random")
    names, size = [], {}
    for i in range(rng.randint(1, 2)):
        size[f"p{i}"] = rng.randint(1, 6)
        g.add_variable(f"p{i}", size[f"p{i}"], role="parameter", value=np.ones(size[f"p{i}"]))
        names.append(f"p{i}")
    for i in range(intermediates):
        name = f"v{i}"
        tails = rng.sample(names, min(len(names), rng.randint(1, 3)))
        square = rng.random() < 0.4
        size[name] = size[tails[0]] if square else rng.randint(1, 6)
        g.add_variable(name, size[name], role="intermediate", evaluate=lambda v: 0)
        for tail in tails:
            kind = "diagonal" if size[tail] == size[name] and rng.random() < 0.5 else "dense"
            g.add_factor(tail, name, kind, lambda v: 0)
        names.append(name)
    sinks = [n for n in names if g.out_degree(n) == 0]
    for j in range(rng.randint(1, 2)):
        out = f"o{j}"
        size[out] = rng.randint(1, 4)
        g.add_variable(out, size[out], role="output", evaluate=lambda v: 0)
        for tail in set(sinks + rng.sample(names, 1)):
            g.add_factor(tail, out, "dense", lambda v: 0)
    return g


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    count=st.integers(1, 6),
    cost=st.sampled_from(["dense", "structured"]),
)
def test_random_dags_match_the_replay(seed, count, cost):
    g = random_graph(seed, count)
    problem = Problem.of(g, cost)
    order = list(problem.intermediates)
    random.Random(seed).shuffle(order)
    check_against_replay(from_sequence(g, order, cost=cost))
    check_against_replay(plan(g, "output-first", cost=cost))


@settings(max_examples=25, deadline=None)
@given(
    dims=st.lists(st.integers(1, 9), min_size=2, max_size=7),
    cost=st.sampled_from(["dense", "structured"]),
    seed=st.integers(0, 1000),
)
def test_random_chains_match_the_replay(dims, cost, seed):
    g = models.chain(dims)
    order = list(Problem.of(g, cost).intermediates)
    random.Random(seed).shuffle(order)
    check_against_replay(from_sequence(g, order, cost=cost))
    check_against_replay(plan(g, "optimal", cost=cost))


def _non_leaf(state) -> tuple[int, int]:
    """(bytes, elements) of the state's factors made by products: what is held between."""
    held = [f for heads in state.succ.values() for f in heads.values() if not f.leaf]
    return sum(f.bytes for f in held), sum(f.elements for f in held)


def test_between_eliminations_the_live_set_is_the_non_leaf_factors():
    """The fact the exact memory-limited search rests on; the search's transition against the
    per-operation replay of :func:`live_profile`."""
    assert search_transition is transition  # one implementation, in memory.py
    for seed in range(30):
        g = random_graph(seed, 5)
        problem = Problem.of(g, "structured")
        order = list(problem.intermediates)
        random.Random(seed).shuffle(order)
        profile = live_profile(problem, order)
        state, pricer = memory_state(problem)
        live = (0, 0)
        for v in order:
            rows = [i for i, op in enumerate(profile.operations) if op[2] == v]
            assert rows == list(range(rows[0], rows[-1] + 1))  # one elimination's operations
            move = transition(state, v, pricer, live)
            assert move.peak_elements == max(profile.live_elements[i] for i in rows)
            assert move.peak_bytes == max(profile.live_bytes[i] for i in rows)
            advance(state, v, pricer, in_place=True)
            live = (move.after_bytes, move.after_elements)
            assert live == _non_leaf(state)  # what is held between: the non-leaf factors
            assert move.after_elements <= profile.live_elements[rows[-1]]


def test_an_elimination_uses_the_same_memory_whatever_came_before():
    """Eliminating v after the set S costs the same live totals along every order of S.

    Products run in the graph's order of variables (not in the order earlier eliminations
    added factors), so a search over subsets can price memory exactly: checked on the
    transition the search uses, carried along each order as the search carries it.
    """
    for seed in range(12):
        g = random_graph(seed, 4)
        for cost in ("dense", "structured", "matrix-free"):
            problem = Problem.of(g, cost)
            seen = {}
            for order in itertools.permutations(problem.intermediates):
                state, pricer = memory_state(problem)
                live = (0, 0)
                for k, v in enumerate(order):
                    key = (frozenset(order[:k]), v)
                    move = search_transition(state, v, pricer, live)
                    assert seen.setdefault(key, move) == move
                    advance(state, v, pricer, in_place=True)
                    live = (move.after_bytes, move.after_elements)


def test_a_transition_leaves_the_state_as_it_was():
    problem = Problem.of(models.mlp([2, 3, 4, 2]), "structured")
    state, pricer = memory_state(problem)
    before = state.factors()
    transition(state, problem.intermediates[0], pricer, (0, 0))
    assert state.factors() == before
    assert held_state(problem).factors() == before


# ------------------------------------------------------------------ the sheet's network by hand
# one_layer(H, N): leaves J(z,w) (1×H), J(u,W) (H×HN), J(y,u) (H×H), J(z,y) (1×H), J(out,z) (1×1).
# Stored elements, dense model: H, H²N, H², H, 1.
# Stored elements, structured model: J(z,w) dense H, J(u,W) row-block I_H ⊗ xᵀ: HN,
#   J(y,u) diagonal: H, J(z,y) dense: H, J(out,z) diagonal 1×1: 1.
#
# Input-first eliminates u, y, z.
#   dense:
#   op1 P1 = J(y,u)·J(u,W) (H×HN, H²N): live J(y,u) H² + J(u,W) H²N + P1 H²N = 2H²N + H²;
#       both leaves die.
#   op2 P2 = J(z,y)·P1 (1×HN): live J(z,y) H + P1 H²N + P2 HN = H²N + HN + H; P1, J(z,y) die.
#   op3 J(out,z)·J(z,w) (1×H): live P2 HN + J(out,z) 1 + J(z,w) H + result H = HN + 2H + 1.
#   op4 J(out,z)·P2 (1×HN): live J(out,z) 1 + P2 HN + op3's result H + result HN = 2HN + H + 1.
#   peak = max(2H²N + H², 2HN + H + 1): at H = N = 1 the last operation (4) beats the first
#   (3); for H ≥ 2, 2H²N + H² − 2HN − H − 1 = 2HN(H − 1) + H² − H − 1 > 0, so the first wins.
#   structured:
#   op1 diagonal·row-block = row-block (HN): live H + HN + HN = 2HN + H.
#   op2 dense(1×H)·row-block = dense 1×HN: live H + HN + HN = 2HN + H.
#   op3 live HN + 1 + H + H = HN + 2H + 1.   op4 live 1 + HN + H + HN = 2HN + H + 1.
#   peak = 2HN + H + 1 (≥ 2HN + H, and 2HN + H + 1 − (HN + 2H + 1) = H(N − 1) ≥ 0).
#
# Output-first eliminates z, y, u.
#   dense:
#   op1 J(out,z)·J(z,w) (H): live 1 + H + H = 2H + 1; J(z,w) dies.
#   op2 J(out,z)·J(z,y) (H): live 1 + H (op1's result, final) + H + H = 3H + 1.
#   op3 J(out,y)·J(y,u) (H): live H + H + H² + H = H² + 3H.
#   op4 J(out,u)·J(u,W) (HN): live H + H + H²N + HN = H²N + HN + 2H.
#   peak = H²N + HN + 2H (minus H² + 3H: H²(N − 1) + H(N − 1) ≥ 0; minus 3H + 1:
#   H²N + HN − H − 1 ≥ 0 for H, N ≥ 1).
#   structured:
#   op1 2H + 1.   op2 3H + 1.   op3 H + H + H (diagonal) + H = 4H.
#   op4 H + H + HN (row-block) + HN (dense 1×HN) = 2HN + 2H.
#   peak = 2HN + 2H (minus 4H: 2H(N − 1) ≥ 0; minus 3H + 1: 2HN − H − 1 ≥ 0).
SHEET_PEAKS = {
    ("input-first", "dense"): sympy.Max(2 * H**2 * N + H**2, 2 * H * N + H + 1),
    ("output-first", "dense"): H**2 * N + H * N + 2 * H,
    ("input-first", "structured"): 2 * H * N + H + 1,
    ("output-first", "structured"): 2 * H * N + 2 * H,
}


@pytest.mark.parametrize(("order", "cost"), sorted(SHEET_PEAKS))
def test_sheet_peaks_derived_by_hand(order, cost):
    expected = SHEET_PEAKS[order, cost]
    p = plan(models.one_layer("H", "N"), order, cost=cost)
    assert p.peak_formula == expected
    for h, n in itertools.product([1, 2, 3, 7], [1, 2, 5]):
        value = int(expected.subs({H: h, N: n}))
        numeric = plan(models.one_layer(h, n), order, cost=cost)
        assert numeric.peak_elements == value
        assert numeric.peak_bytes == 8 * value
        assert int(p.peak_formula.subs({H: h, N: n})) == value
        assert int(p.peak_bytes.subs({H: h, N: n})) == 8 * value


def test_sheet_peak_is_one_polynomial_from_h_2():
    # see the derivation above: input-first dense is 2H²N + H² once H ≥ 2
    p = plan(models.one_layer("H", "N"), "input-first", cost="dense")
    for h, n in itertools.product(range(2, 6), range(1, 6)):
        assert int(p.peak_formula.subs({H: h, N: n})) == 2 * h * h * n + h * h


def test_symbolic_peaks_agree_with_numeric_ones():
    a, b, c = sympy.symbols("a b c", positive=True, integer=True)
    g = models.mlp(["a", "b", "c", "b"])
    middle = from_sequence(g, ["a1", "u2", "u1", "a2"], cost="structured")
    for symbolic in [plan(g, o, cost="structured") for o in ("input-first", "output-first")] + [
        middle
    ]:
        for values in [(1, 1, 1), (2, 5, 3), (7, 2, 4)]:
            widths = [values[0], values[1], values[2], values[1]]
            numeric = from_sequence(models.mlp(widths), list(symbolic.sequence), cost="structured")
            shown = symbolic.peak_formula.subs(dict(zip((a, b, c), values, strict=True)))
            assert int(shown) == numeric.peak_elements


def test_peak_of_drops_only_dominated_polynomials():
    assert peak_of([H**2 * N + 2 * H, 2 * H + 1, H * N]) == H**2 * N + 2 * H
    both = peak_of([2 * H**2 * N + H**2, 2 * H * N + H + 1])
    assert isinstance(both, sympy.Max)
    assert peak_of([H, N]) == sympy.Max(H, N)
    assert peak_of([]) == 0 and peak_of([4, 9, 2]) == 9


def test_a_plan_with_no_operation_has_zero_peak():
    g = models.chain([3, 4])
    p = plan(g)
    assert p.peak_elements == 0 and p.peak_bytes == 0 and list(p.steps["live_elements"]) == []


# ------------------------------------------------------------------ measured against predicted
#: What numpy may allocate beside the model's objects during one product: its ufunc buffers
#: (np.getbufsize() = 8192 elements of 8 bytes, for up to three operands: 192 KiB) and the
#: Python objects of the run (blocks, tuples, counts: a few kB). Stated once, for every case.
ALLOWANCE = 256 * 1024


def merging_graph() -> JacobianGraph:
    """p -> a -> c, p -> b -> c and p -> c: two products merge onto p -> c (dense, ≥ 1 MB)."""
    rng = np.random.default_rng(5)
    sizes = {"p": 400, "a": 500, "b": 350, "c": 300, "out": 200}
    g = JacobianGraph(name="merging")
    g.add_variable("p", sizes["p"], role="parameter", value=rng.standard_normal(sizes["p"]))
    for name in ("a", "b", "c"):
        zeros = np.zeros(sizes[name])
        g.add_variable(name, sizes[name], role="intermediate", evaluate=lambda v, z=zeros: z)
    g.add_variable("out", sizes["out"], role="output", evaluate=lambda v: np.zeros(200))
    for tail, head in [("p", "a"), ("p", "b"), ("a", "c"), ("b", "c"), ("p", "c"), ("c", "out")]:
        matrix = rng.standard_normal((sizes[head], sizes[tail]))
        g.add_factor(tail, head, "dense", lambda v, m=matrix: m)
    return g


def operator_temporaries(p) -> int:
    """Bytes a matrix-free operator's code may allocate on the side in one product, which the
    model does not count (it counts an operator as 0 elements): for an operand it preaccumulates,
    its dense matrix and the identity it applies itself to (m·n + min(m, n)²); for an explicit
    operand, one copy of it (scipy's sparse product may make it contiguous). The largest over
    the plan's products with an operator; 0 for plans without operators."""
    most = 0
    columns = (p.steps["shapes"], p.steps["structures"], p.steps["mode"])
    for shapes, structures, mode in zip(*columns, strict=True):
        if "operator" not in structures:
            continue
        dims = [tuple(int(x) for x in s.strip("()").split("×")) for s in shapes.split("·")]
        side = 0
        for (m, n), kind, name in zip(dims, structures.split("·"), ("left", "right"), strict=True):
            if f"preaccumulate {name}" in mode:
                side += m * n + min(m, n) ** 2
            elif not kind.startswith("operator"):
                side += m * n
        most = max(most, side)
    return 8 * most


MEASURED = [
    (lambda: models.one_layer(128, 64), "dense", ["input-first", "output-first"]),
    # matrix-free: an operator holds nothing in the model and is never copied by the run (was:
    # least_squares(600, 400) output-first predicted 1,928,000 B and measured 9,296 B)
    (lambda: models.least_squares(600, 400), "matrix-free", ["input-first", "output-first"]),
    (
        lambda: models.chain([500, 400, 600, 300, 500], edges=[4000, 3000, 5000, 3000]),
        "matrix-free",
        ["input-first", "output-first", "optimal"],
    ),
    (lambda: models.chain([500, 400, 600, 300, 500]), "dense", ["output-first", "optimal"]),
    (lambda: models.least_squares(600, 400), "structured", ["input-first", "output-first"]),
    (lambda: models.mlp([300, 400, 500, 10]), "structured", ["output-first"]),
    (merging_graph, "dense", ["input-first", "output-first"]),
]


@pytest.mark.parametrize(("build", "cost", "orders"), MEASURED)
def test_measured_peak_is_the_predicted_one(build, cost, orders):
    """tracemalloc's peak of one run within 10% of the model's, plus :data:`ALLOWANCE` (and,
    above the model's, :func:`operator_temporaries` where the plan applies operators)."""
    g = build()
    problem = Problem.of(g, cost)
    largest_leaf = max(k.stored((problem.sizes[h], problem.sizes[t])) for t, h, k in problem.edges)
    for order in orders:
        p = plan(g, order, cost=cost)
        largest = max([largest_leaf, *p.steps["elements"]])
        assert 8 * largest >= 10**6  # sizes where a factor or a product is at least 1 MB
        run = execute(p, repeat=1, warmup=0)
        over = run.peak_bytes - p.peak_bytes
        assert over <= 0.10 * p.peak_bytes + ALLOWANCE + operator_temporaries(p), order
        assert -over <= 0.10 * p.peak_bytes + ALLOWANCE, order
        assert run.macs == p.macs


def test_measured_peak_follows_the_order():
    """Input-first holds the H×HN product and J(u,W) at once; output-first does not."""
    g = models.one_layer(96, 64)
    inputs = execute(plan(g, "input-first"), repeat=1, warmup=0).peak_bytes
    outputs = execute(plan(g, "output-first"), repeat=1, warmup=0).peak_bytes
    assert inputs > 1.8 * outputs


def test_execute_can_skip_the_memory_run():
    p = plan(models.chain([3, 4, 5]))
    assert execute(p, repeat=1, memory=False).peak_bytes is None
    with pytest.raises(ValueError, match="memory must be"):
        execute(p, repeat=1, memory="yes")


# ------------------------------------------------------------------ compare shows the peak
def test_compare_has_the_peak_of_each_order():
    g = models.one_layer(64, 32)
    table = compare(g)
    for _, row in table.iterrows():
        p = plan(g, row["order"])
        assert row["peak_bytes"] == p.peak_bytes
        number, unit = row["peak"].split()
        scale = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}[unit]
        assert abs(float(number) * scale - p.peak_bytes) <= 0.005 * p.peak_bytes
    # output-first holds J(u,W) (H²N) and its product (HN) and two H-vectors: 1.02 MiB
    assert table.set_index("order").loc["output-first", "peak_bytes"] == 8 * (
        64 * 64 * 32 + 64 * 32 + 2 * 64
    )
    symbolic = compare(models.one_layer("H", "N"))
    expected = [f"{SHEET_PEAKS[o, 'dense']} elements" for o in symbolic["order"]]
    assert list(symbolic["peak"]) == expected


def test_the_compare_command_prints_a_peak_column():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["compare", "--model", "one-layer", "--H", "64", "--N", "32"]) == 0
    header, *rows = out.getvalue().splitlines()
    assert "peak" in header.split()
    assert "1.02 MiB" in rows[1] and rows[1].split()[0] == "output-first"


def test_the_sweep_records_predicted_and_measured_peaks(tmp_path):
    from analyzer.machine import Roofline
    from analyzer.measure import sweep
    from analyzer.report import write_report

    df = sweep(
        "one-layer",
        {"H": [48], "N": [32]},
        cost=["dense", "structured"],
        repeat=1,
        min_seconds=0.0,
        progress=False,
        roofline=Roofline(1e9, 1e10),
    )
    for row in df.itertuples():
        p = plan(models.one_layer(row.H, row.N), row.order, cost=row.cost)
        assert row.peak_bytes_predicted == p.peak_bytes
        assert row.peak_bytes_measured > 0
        if row.cost == "dense":  # J(u,W) is 48·48·32·8 = 576 KiB: close to the model
            assert abs(row.peak_bytes_measured - p.peak_bytes) <= 0.1 * p.peak_bytes + ALLOWANCE
    md = write_report(tmp_path, df, None, meta={"sizes": ["H", "N"]}).read_text()
    for cost in ("dense", "structured"):
        assert (tmp_path / f"peak_memory_{cost}.png").exists()
        assert (tmp_path / f"peak_memory_{cost}.svg").exists()
        assert f"Measured against predicted peak memory, {cost} cost" in md


def test_plot_peak_memory_draws_one_point_per_run():
    import pandas as pd

    from analyzer.report import plot_peak_memory

    rows = pd.DataFrame(
        {
            "order": ["input-first", "output-first", "optimal"],
            "cost": "dense",
            "peak_bytes_predicted": [4e6, 1e6, 1e6],
            "peak_bytes_measured": [4.1e6, 1.0e6, 0.0],  # a run not measured is left out
        }
    )
    fig, ax = plot_peak_memory(rows, "dense")
    points = [line for line in ax.get_lines() if line.get_linestyle() == "None"]
    assert [len(line.get_xdata()) for line in points] == [1, 1]
    assert list(points[0].get_ydata()) == [4.1e6]
    with pytest.raises(ValueError, match="peak_bytes_measured"):
        plot_peak_memory(rows.drop(columns="peak_bytes_measured"))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.lists(st.tuples(st.integers(-3, 5), st.integers(0, 2), st.integers(0, 2)), max_size=4),
        min_size=1,
        max_size=6,
    ),
    st.integers(1, 9),
    st.integers(1, 9),
)
def test_peak_of_equals_the_largest_value_at_every_size(polys, h, n):
    """Dropping a polynomial is safe: the Max gives the largest value at any sizes ≥ 1."""
    values = [sum((c * H**a * N**b for c, a, b in terms), sympy.Integer(0)) for terms in polys]
    peak = peak_of(values)
    at = {H: h, N: n}
    assert peak.xreplace(at) == max(sympy.sympify(v).xreplace(at) for v in values)
