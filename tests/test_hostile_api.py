"""Hostile inputs through the public API: only the project's own errors may escape.

Hypothesis draws odd sizes, names, shapes, points and options for the models,
the planner, the executor, the checks and the graph builder; every call either
works or raises :class:`analyzer.AnalyzerError` (a ``ValueError`` subclass).
"""

from __future__ import annotations

import inspect

import numpy as np
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import analyzer
from analyzer import AnalyzerError
from analyzer.graph import JacobianGraph

ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 6),
    st.integers(10**12, 10**13),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.sampled_from(["H", "N", "H-1", "3x", "", "é", "dense", "optimal", "backprop"]),
    st.lists(st.integers(-2, 5), max_size=4),
    st.just(sympy.Symbol("H") - 5),
    st.just(np.int64(3)),
    st.just(object()),
)
MODELS = list(analyzer.models.MODELS.values())
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def only_our_errors(call) -> None:
    try:
        call()
    except AnalyzerError as error:
        assert str(error).strip(), "an error needs a message"


@SETTINGS
@given(model=st.sampled_from(MODELS), data=st.data())
def test_models_with_odd_sizes(model, data):
    required = [
        p
        for p in inspect.signature(model).parameters.values()
        if p.default is inspect.Parameter.empty
    ]
    args = [data.draw(ODD) for _ in required]
    seed = data.draw(ODD | st.integers(0, 5))
    only_our_errors(lambda: model(*args, seed=seed))


@SETTINGS
@given(
    order=ODD | st.sampled_from(list(analyzer.ORDERS)),
    cost=ODD | st.sampled_from(list(analyzer.COST_MODELS)),
    time_limit=ODD,
    objective=ODD | st.sampled_from(["macs", "bytes"]),
)
def test_plan_with_odd_options(order, cost, time_limit, objective):
    g = analyzer.models.one_layer(4, 3)
    only_our_errors(
        lambda: analyzer.plan(g, order, cost, time_limit=time_limit, objective=objective)
    )
    only_our_errors(lambda: analyzer.compare(g, cost, orders=order))
    only_our_errors(lambda: analyzer.all_orders(g, cost, limit=time_limit))
    only_our_errors(lambda: analyzer.from_sequence(g, order, cost))


@SETTINGS
@given(
    at=st.one_of(
        ODD,
        st.dictionaries(st.sampled_from(["w", "W", "x", "out"]), ODD, max_size=2),
        st.lists(st.floats(allow_nan=True), max_size=25),
        st.just({"W": np.zeros((3, 4))}),
        st.just(np.zeros((2, 3, 3))),
    ),
    repeat=st.one_of(ODD, st.integers(1, 2)),
)
def test_execute_and_check_with_odd_points(at, repeat):
    g = analyzer.models.one_layer(4, 3)
    p = analyzer.plan(g, "output-first")
    only_our_errors(lambda: analyzer.execute(p, repeat=repeat, at=at, warmup=0))
    only_our_errors(lambda: analyzer.check(g, at=at, orders=["output-first"], costs=["dense"]))


@SETTINGS
@given(
    name=ODD,
    size=ODD,
    role=ODD | st.sampled_from(["parameter", "intermediate", "output", "constant"]),
    kind=ODD | st.sampled_from(list(analyzer.KINDS)),
    dtype=st.sampled_from([np.float32, np.float64, np.int64, "float16", "nope", complex, None]),
    numbers=st.one_of(ODD, st.just(np.ones((3, 3))), st.just(np.full(3, np.nan))),
)
def test_graph_building_with_odd_arguments(name, size, role, kind, dtype, numbers):
    g = JacobianGraph()
    g.add_variable("x", 3, role="parameter", value=np.ones(3))
    only_our_errors(lambda: g.add_variable(name, size, role=role, dtype=dtype))
    only_our_errors(lambda: g.add_variable("y", 3, role="output", evaluate=lambda v: numbers))
    only_our_errors(lambda: g.add_factor("x", "y", kind, lambda v: numbers))
    if "y" in g and g.has_edge("x", "y"):
        only_our_errors(lambda: analyzer.execute(analyzer.plan(g), repeat=1, warmup=0))
        only_our_errors(lambda: g.function())
