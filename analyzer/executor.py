"""Run a Plan with numpy: the kernels its structure rules pick, counted macs, timed steps.

The numeric factors are built (and, under the dense cost model, materialised as
full matrices) before the timed region; each repetition then runs exactly the
plan's products, in the plan's order. Each kernel reports the multiply-adds it
performed, counted from the arrays it touched (not from the plan), so executed
macs equal planned macs only if the kernels did what the plan priced.
A plan runs only on the graph it was made from: a graph changed since is refused.

Measured memory: besides the timed repetitions, one separate, untimed run of
the products is traced with :mod:`tracemalloc` (numpy reports the buffers it
allocates to it), and ``Execution.peak_bytes`` is the peak of the bytes allocated
during that run. That run follows the memory model of
:mod:`analyzer.planning.memory`: a leaf factor is built at its birth (the first
operation that reads it) and every object is dropped right after its death (the
last operation that reads it). *Built* means: the factor callables run before
the traced run, as for the timed runs, and at its birth the leaf's stored
numbers are copied into fresh arrays (so the trace counts its storage when the
model says it appears, not the temporaries of computing it; a matrix-free
operator is not copied: the model counts it as 0 elements, see
:func:`~analyzer.planning.memory.held_elements`; the temporaries its code
allocates while applied are on the side, see the tests' allowance). A result
that shares its numbers with an operand (a product by an identity, a sum with a
zero factor: the timed runs keep the operand's array) is copied too, since the
model counts it as a new object. A leaf that goes straight into the Jacobian is never copied, as the
model does not count it. The peak also
contains what the kernels allocate on the side (numpy's temporaries, a few
Python objects); see the tests for the allowance that covers them.

Examples
--------
>>> from analyzer.models import one_layer
>>> from analyzer.planning import plan
>>> p = plan(one_layer(10, 5), "output-first")
>>> run = execute(p, repeat=3)
>>> run.macs == p.macs, run.jacobian.shape
(True, (1, 60))
"""

from __future__ import annotations

import time
import tracemalloc
from dataclasses import dataclass
from typing import Any

import numpy as np

from .blas import available_memory, blas_threads
from .elimination import eliminate
from .errors import PlanError
from .planning import Plan, Problem
from .structure import DENSE, Block, merge_counted, multiply_counted

__all__ = ["Execution", "execute", "factor_blocks", "assemble", "memory_needed"]


@dataclass
class Execution:
    """What running a plan gave.

    Attributes
    ----------
    plan : the Plan that ran.
    jacobian : array, rows = outputs flattened and concatenated in graph order,
        columns = parameters flattened row-major and concatenated in graph order.
    macs : multiply-adds counted while executing (equals ``plan.macs``).
    adds : additions counted while executing (equals ``plan.adds``).
    seconds : median over repetitions of the whole product sequence.
    seconds_min, seconds_iqr : fastest repetition and interquartile range.
    repeats : repetitions timed.
    step_seconds : median seconds of each product step (aligned with ``plan.steps``).
    peak_bytes : the peak of bytes allocated (traced by :mod:`tracemalloc`) during one
        separate run that builds and frees factors as the memory model says (see the
        module docstring); compare with ``plan.peak_bytes``. ``None`` when not measured.
    times : seconds of each timed repetition, in the order they ran.
    """

    plan: Plan
    jacobian: np.ndarray
    macs: int
    adds: int
    seconds: float
    seconds_min: float
    seconds_iqr: float
    repeats: int
    step_seconds: np.ndarray
    peak_bytes: int | None = None
    times: tuple[float, ...] = ()

    @property
    def gflops(self) -> float:
        """Achieved rate in GFLOP/s, counting flops = 2·macs."""
        return 2.0 * self.macs / self.seconds / 1e9 if self.seconds > 0 else float("nan")


def factor_blocks(problem: Problem, values: dict[str, np.ndarray]) -> dict[tuple[str, str], Block]:
    """The numeric factors of the differentiated graph, dense under the dense cost model."""
    return {
        (tail, head): problem.cost.materialise(problem.graph.factor(tail, head, values))
        for tail, head, _ in problem.edges
    }


def _program(problem: Problem, sequence) -> tuple[list[tuple], dict, list]:
    """The plan's eliminations as a flat list of products and sums over numbered slots.

    Eliminating once on slot numbers (not on numbers) leaves the timed loop only the
    kernels to run. Returns the operations ``(is_product, left, right, result)``, the
    slot of each remaining factor, and the factor edge in each initial slot.
    """
    edges = [(t, h) for t, h, _ in problem.edges]
    slots = {edge: i for i, edge in enumerate(edges)}
    operations: list[tuple] = []
    count = [len(edges)]

    def new_slot() -> int:
        count[0] += 1
        return count[0] - 1

    def multiply(outer: int, inner: int, p, v, s) -> int:
        operations.append((True, outer, inner, new_slot()))
        return operations[-1][3]

    def merge(existing: int, product: int, p, s) -> int:
        operations.append((False, existing, product, new_slot()))
        return operations[-1][3]

    state = problem.state(lambda t, h, k: slots[t, h])
    for v in sequence:
        eliminate(state, v, multiply, merge)
    return operations, state.factors(), edges


def _run_once(program, blocks) -> tuple[dict, int, int, list[float]]:
    """Run the program's kernels once: the final factors, counted macs and adds, step times."""
    operations, final, edges = program
    slots: list[Any] = [blocks[edge] for edge in edges] + [None] * len(operations)
    macs = adds = 0
    step_seconds: list[float] = []
    clock = time.perf_counter
    for is_product, left, right, result in operations:
        a, b = slots[left], slots[right]
        start = clock()
        if is_product:
            slots[result], counted = multiply_counted(a, b)
            step_seconds.append(clock() - start)
            macs += counted
        else:  # a merge belongs to the product step just before it
            slots[result], counted, formed = merge_counted(a, b)
            step_seconds[-1] += clock() - start
            adds += counted
            macs += formed
    factors = {edge: slots[slot] for edge, slot in final.items()}
    for edge, block in factors.items():  # an operator left at the end is preaccumulated
        kind = block.kind
        if kind.densify_macs(tuple(block.shape)) == 0:
            continue
        start = clock()
        dense, counted = kind.densify(block.data, tuple(block.shape))
        factors[edge] = Block(DENSE, block.shape, dense)
        step_seconds.append(clock() - start)
        macs += counted
    return factors, macs, adds, step_seconds


def memory_needed(plan: Plan) -> int:
    """Bytes the timed runs of ``plan`` hold, estimated: they prebuild every factor, each
    as the cost model stores it at its own itemsize (the larger of its two variables'),
    and hold at most about twice the largest product's result (at the largest itemsize).

    Not the model's peak (``plan.peak_bytes``), which builds factors when first read:
    this is what :func:`execute` checks against the memory available before it runs.

    >>> from analyzer.models import chain
    >>> from analyzer.planning import plan
    >>> memory_needed(plan(chain([3, 4, 5]), "input-first"))  # 8·(4·3 + 5·4 + 2·5·3)
    496
    """
    problem = plan.problem
    pricer = problem.pricer()
    sizes = problem.sizes
    factors = sum(
        int(kind.stored((sizes[h], sizes[t]))) * pricer.itemsize(t, h)
        for t, h, kind in problem.edges
    )
    itemsize = max(problem.itemsizes.values(), default=8)
    return int(factors + 2 * itemsize * int(plan.largest_intermediate))


def _fresh(data: Any) -> Any:
    """A copy of a block's stored numbers in freshly allocated arrays (an operator as it is)."""
    if isinstance(data, np.ndarray):
        return np.array(data, copy=True)
    if isinstance(data, tuple):
        return tuple(_fresh(d) for d in data)
    copy = getattr(data, "copy", None)
    if copy is not None and hasattr(data, "nnz"):  # a scipy sparse matrix
        return copy()
    return data


def _shares(x: Any, y: Any) -> bool:
    """Whether two blocks' numbers may be the same memory (a product by an identity)."""
    return (
        isinstance(x, np.ndarray)
        and isinstance(y, np.ndarray)
        and x.size > 0
        and np.may_share_memory(x, y)
    )


def _traced_run(program, blocks) -> int:
    """Bytes allocated at the peak of one run that follows the memory model (see the module)."""
    operations, final, edges = program
    leaves = len(edges)
    last: dict[int, int] = {}
    for i, (_, left, right, _) in enumerate(operations):
        last[left] = last[right] = i
    kept = set(final.values())
    prebuilt: list[Any] = [blocks[edge] for edge in edges]
    slots: list[Any] = [None] * (leaves + len(operations))

    def read(slot: int) -> Block:
        if slots[slot] is None and slot < leaves:  # a leaf is built at its first reader
            block = prebuilt[slot]
            slots[slot] = Block(block.kind, block.shape, _fresh(block.data))
        return slots[slot]

    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        for i, (is_product, left, right, result) in enumerate(operations):
            a, b = read(left), read(right)
            made = multiply_counted(a, b)[0] if is_product else merge_counted(a, b)[0]
            if _shares(made.data, a.data) or _shares(made.data, b.data):
                made = Block(made.kind, made.shape, _fresh(made.data))  # a new object
            slots[result] = made
            del a, b, made
            for slot in (left, right):  # dead after its last reader
                if last[slot] == i and slot not in kept:
                    slots[slot] = None
        for slot in final.values():  # an operator left at the end is preaccumulated
            block = slots[slot] if slots[slot] is not None or slot >= leaves else prebuilt[slot]
            kind = block.kind
            if kind.densify_macs(tuple(block.shape)) == 0:
                continue
            block = read(slot)
            dense = kind.densify(block.data, tuple(block.shape))[0]
            del block
            slots[slot] = None  # the dense matrix replaces the operator
            slots.append(dense)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        if started:
            tracemalloc.stop()
    return int(peak)


def assemble(problem: Problem, final: dict[tuple[str, str], Block]) -> np.ndarray:
    """The full Jacobian from the remaining parameter-to-output factors (zeros where none)."""
    graph = problem.graph
    rows = []
    for out in graph.outputs:
        row = []
        for par in graph.parameters:
            shape = (graph.nodes[out]["size"], graph.nodes[par]["size"])
            block = final.get((par, out))
            row.append(np.zeros(shape) if block is None else block.dense())
        rows.append(row)
    return np.block(rows)


def _spread(seconds: list[float]) -> float:
    """Interquartile range over median."""
    q1, median, q3 = np.percentile(seconds, [25, 50, 75])
    return float((q3 - q1) / median) if median > 0 else 0.0


def execute(
    plan: Plan,
    repeat: int = 5,
    at: Any = None,
    *,
    warmup: int = 1,
    min_seconds: float = 0.0,
    max_repeat: int = 1000,
    threads: int | None = 1,
    max_spread: float | None = None,
    max_seconds: float = 10.0,
    memory: bool = True,
    min_repeat: int | None = None,
) -> Execution:
    """Evaluate ``plan`` at a point, count its macs and time it.

    Parameters
    ----------
    plan : Plan
    repeat : int
        Timed repetitions (at least, unless ``min_repeat`` stops earlier); more are run
        until ``min_seconds`` of total time, up to ``max_repeat``.
    at : None, dict or array
        The point: None for the model's seeded default, a dict of parameter
        values, or a flat vector (parameters flattened and concatenated).
    warmup : int
        Untimed repetitions first.
    threads : int or None
        BLAS threads during the run (default 1, for reliable timings); None
        leaves BLAS as it is.
    min_seconds : float
        Keep repeating until the timed runs took this long in total (default 0).
    max_repeat : int
        The most timed runs (default 1000).
    max_spread : float or None
        When given, keep repeating while the interquartile range exceeds this
        fraction of the median (a noisy machine), until ``max_seconds`` of
        timed runs or ``max_repeat`` runs.
    max_seconds : float
        The time budget of ``max_spread``'s repetitions and of ``min_repeat`` (default 10).
    memory : bool
        Measure the peak bytes allocated in one more, untimed run after the timed ones
        (``Execution.peak_bytes``; see the module docstring). Default True.
    min_repeat : int or None
        When given, stop after ``min_repeat`` timed runs once they took
        ``max_seconds``, even if fewer than ``repeat`` (and ``min_seconds``): long runs
        need fewer repetitions for a stable median. Default None: ``repeat`` always.
    """
    if not isinstance(plan, Plan):
        raise PlanError(f"execute needs a Plan (from analyzer.plan), got {type(plan).__name__}")
    for name, value, low in (
        ("repeat", repeat, 1),
        ("warmup", warmup, 0),
        ("max_repeat", max_repeat, 1),
        ("min_repeat", repeat if min_repeat is None else min_repeat, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            kind = "a positive" if low else "a non-negative"
            raise PlanError(f"{name} must be {kind} integer, got {value!r}")
    if isinstance(min_seconds, bool) or not isinstance(min_seconds, int | float) or min_seconds < 0:
        raise PlanError(f"min_seconds must be a non-negative number, got {min_seconds!r}")
    for name, value in (("max_seconds", max_seconds), ("min_seconds", min_seconds)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise PlanError(f"{name} must be a non-negative number, got {value!r}")
    if max_spread is not None and (
        isinstance(max_spread, bool)
        or not isinstance(max_spread, int | float)
        or not max_spread > 0
    ):
        raise PlanError(f"max_spread must be a positive number or None, got {max_spread!r}")
    if not isinstance(memory, bool):
        raise PlanError(f"memory must be True or False, got {memory!r}")
    if repeat > max_repeat:
        raise PlanError(f"repeat ({repeat}) must not exceed max_repeat ({max_repeat})")
    if min_repeat is not None:
        min_repeat = min(int(min_repeat), repeat)
    problem = plan.problem
    problem.check_unchanged()
    if sorted(plan.sequence) != sorted(problem.intermediates) or len(set(plan.sequence)) != len(
        plan.sequence
    ):
        raise PlanError(
            "this plan's sequence does not eliminate each intermediate variable once; "
            "make plans with analyzer.plan or analyzer.from_sequence"
        )
    problem.graph._require_numeric()
    needed = memory_needed(plan)
    if needed > available_memory():
        raise PlanError(
            f"not enough memory to execute this plan: its factors and largest products need "
            f"about {needed / 2**30:.3g} GiB; try smaller sizes or the structured cost model"
        )
    try:
        return _execute(
            plan,
            problem,
            at,
            repeat,
            warmup,
            min_seconds,
            max_repeat,
            threads,
            max_spread,
            max_seconds,
            memory,
            min_repeat,
        )
    except (MemoryError, ValueError) as error:
        if not isinstance(error, MemoryError) and not _too_big(error):
            raise
        raise PlanError(
            f"not enough memory to execute this plan (its factors store "
            f"{plan.factor_elements} elements, its largest product "
            f"{plan.largest_intermediate}); try smaller sizes or the structured cost model"
        ) from None


def _too_big(error: ValueError) -> bool:
    """numpy's own refusal of an array larger than the address space."""
    text = str(error)
    return type(error) is ValueError and (
        text.startswith("array is too big") or "Maximum allowed size exceeded" in text
    )


def _execute(
    plan,
    problem,
    at,
    repeat,
    warmup,
    min_seconds,
    max_repeat,
    threads,
    max_spread,
    max_seconds,
    memory=True,
    min_repeat=None,
) -> Execution:
    values = problem.graph.evaluate(at)
    blocks = factor_blocks(problem, values)
    program = _program(problem, plan.sequence)
    totals: list[float] = []
    steps: list[list[float]] = []
    peak_bytes = None
    with blas_threads(threads):
        for _ in range(warmup):
            _run_once(program, blocks)

        def more() -> bool:
            done, spent = len(totals), sum(totals)
            if min_repeat is not None and done >= min_repeat and spent >= max_seconds:
                return False
            if done < repeat:
                return True
            return done < max_repeat and (
                spent < min_seconds
                or (max_spread is not None and spent < max_seconds and _spread(totals) > max_spread)
            )

        while more():
            final = None  # free the last run's results first, as a fresh run would
            start = time.perf_counter()
            final, macs, adds, step_seconds = _run_once(program, blocks)
            totals.append(time.perf_counter() - start)
            steps.append(step_seconds)
        if memory:
            peak_bytes = _traced_run(program, blocks)
    q1, median, q3 = np.percentile(totals, [25, 50, 75])
    return Execution(
        plan=plan,
        jacobian=assemble(problem, final),
        macs=int(macs),
        adds=int(adds),
        seconds=float(median),
        seconds_min=float(min(totals)),
        seconds_iqr=float(q3 - q1),
        repeats=len(totals),
        step_seconds=np.median(np.array(steps), axis=0) if steps[0] else np.zeros(0),
        peak_bytes=peak_bytes,
        times=tuple(totals),
    )
