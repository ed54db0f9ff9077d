"""``optimal`` out of time is never costlier than ``best-heuristic``, on graphs of several parts.

A greedy rule run on one part alone can order it worse than the same rule run on the
whole graph (a fill score counts factors between the parameters and outputs the parts
share); the expected values are the heuristics' own plans and ``from_sequence``.
"""

from __future__ import annotations

import random

import pytest

from analyzer import from_sequence, plan
from analyzer.graph import JacobianGraph


def two_parts(n: int, seed: int) -> JacobianGraph:
    """Two groups of intermediates sharing no intermediate, but sharing parameters and outputs."""
    r = random.Random(seed)
    g = JacobianGraph(name=f"two-parts-{n}-{seed}")
    for p in ("p0", "p1"):
        g.add_variable(p, r.randint(1, 40), role="parameter")
    for o in ("o0", "o1"):
        g.add_variable(o, r.randint(1, 40), role="output")
    for part in "ab":
        made: list[str] = []
        for i in range(n):
            name = f"{part}{i}"
            g.add_variable(name, r.randint(1, 40), role="intermediate")
            pool = ["p0", "p1", *made[-4:]]
            for tail in r.sample(pool, r.randint(1, min(3, len(pool)))):
                g.add_factor(tail, name, "dense")
            made.append(name)
        for name in made:
            if g.out_degree(name) == 0 or r.random() < 0.2:
                g.add_factor(name, r.choice(["o0", "o1"]), "dense")
    for o in ("o0", "o1"):
        if g.in_degree(o) == 0:
            g.add_factor("p0", o, "dense")
    return g


@pytest.mark.parametrize("seed", range(12))
def test_optimal_out_of_time_is_no_costlier_than_best_heuristic(seed):
    g = two_parts(13, seed)
    best = plan(g, "best-heuristic")
    for time_limit in (1e-6, 0.01):
        p = plan(g, "optimal", time_limit=time_limit)
        assert p.macs <= best.macs  # before the fix: costlier on several of these seeds
        assert p.macs == from_sequence(g, list(p.sequence)).macs
        assert p.lower_bound <= min(p.macs, best.macs)
