"""The ``optimal`` order: reductions, exact DPs where they apply, branch and bound elsewhere.

Steps (each exact; see :mod:`~analyzer.planning.reductions`,
:mod:`~analyzer.planning.bnb` and :mod:`~analyzer.planning.bounds`):

1. A chain: the interval DP of :mod:`~analyzer.planning.chain`.
2. Free copies (identity factors, structured model) are eliminated first and
   shown as preparatory steps.
3. Under the ``macs`` objective the remaining vertices split into independent
   parts, planned apart (smallest first, each with an equal share of the time
   left); a part that is a path gets the path interval DP. Neither reduction
   is used when a merge may form an operator's matrix (see
   :func:`~analyzer.planning.reductions.merges_may_form`).
4. A part of at most :data:`SMALL_PART` vertices: the subset DP (exact, at
   most ``2^12`` states).
5. Any other part: branch and bound, from the cheapest heuristic order (the
   heuristics run on the part, and, when there are several parts or a
   registered heuristic of its own, the whole graph's heuristic orders
   restricted to the part: never costlier than ``best-heuristic``)
   improved by a local descent (:mod:`~analyzer.planning.improve`; its first
   upper bound), with the pair bound of :mod:`~analyzer.planning.pairs` kept
   up to date at every state; its certificate starts at the larger of that
   and the star bound of :mod:`~analyzer.planning.stars` (at most
   :data:`BOUND_SHARE` of the time left), whose packing the search also
   carries down as the bound of :mod:`~analyzer.planning.residual` (it prunes
   with the larger of the two). When the search stops unproven
   (after :data:`SEARCH_SHARE` of the part's time), local search improves
   its best order for :data:`LOCAL_SHARE` of the time left (span moves of
   :mod:`~analyzer.planning.relocate` for :data:`RELOCATE_SHARE` of it, then
   iterated window descents); then, under the dense model and the ``macs``
   objective, the certificate rises to the Lagrangian bound of
   :mod:`~analyzer.planning.lagrange` where that is higher (its members
   picked by that better order; at most :data:`LAGRANGE_SHARE` of the time
   left; ``tried["lagrangian"]`` counts the parts where it rose), and the
   search goes on with the rest from that order, its memo kept (the lower
   bound is always the search's). When the gap is above :data:`WIDE_GAP` the
   search will not finish and a better order is what narrows the gap: the
   first search gets :data:`WIDE_SEARCH_SHARE`, the local search
   :data:`WIDE_LOCAL_SHARE`.

The answer is always an order. ``search.proven`` says whether it is optimal;
when not (time ran out, or the search was interrupted), ``search.lower_bound``
is a cost no order can beat, the sum of the parts' bounds. A
``KeyboardInterrupt`` during the search, the local search, the pair bound,
the star bound or the Lagrangian bound returns the best order found so far, not proven
(``tried["stopped"] == "interrupted"``; also when the interrupt lands inside a
move and the undo on the way out then fails); the parts not started yet keep their
heuristic order (without their pair and star bounds). One during the
heuristic orders, a subset or path DP, or the first bound of a part
propagates.

``"branch-and-bound"`` is the search alone on the whole graph (no reduction),
for comparisons.

Examples
--------
>>> from analyzer.models import mlp
>>> from analyzer.planning import plan
>>> p = plan(mlp([30, 2, 40, 3, 50, 4]), "optimal")
>>> p.proven_optimal, p.lower_bound == p.macs, p.search.tried["paths"]
(True, True, 1)
"""

from __future__ import annotations

import functools
from collections.abc import Hashable, Sequence
from typing import Any

from ..elimination import State
from ..errors import PlanError
from .bnb import BranchAndBound, Outcome
from .board import Board
from .bounds import root_bound
from .chain import OutOfTime, chain_search
from .costs import Pricer
from .heuristics import GREEDY, _fill_score, _markowitz_score, candidates, greedy
from .improve import improve
from .lagrange import lagrangian_bound
from .pairs import PairBound
from .problem import Problem, symbols_note
from .reductions import as_path, free_copies, merges_may_form, parts, path_optimum
from .relocate import relocate
from .residual import Residual
from .search import HEURISTICS, Budget, SearchRecord, register_order
from .stars import star_packing
from .subset import OutOfTime as SubsetOutOfTime
from .subset import subset_optimum

__all__ = ["optimal", "branch_and_bound", "upper_bound", "SMALL_PART"]

#: Parts of at most this many vertices get the subset DP (at most 2^12 states): there
#: its plain loop beats the search's bookkeeping; larger parts get the search.
SMALL_PART = 12
#: Most of the time left that the star bound at the start may take (it stops early, valid).
BOUND_SHARE = 0.3
#: Most of a part's time left after its first search and local search that the
#: Lagrangian bound (:mod:`~analyzer.planning.lagrange`; dense model, macs) may take.
LAGRANGE_SHARE = 0.8
#: Most of a part's time the first local descent may take (it usually takes far less).
DESCENT_SHARE = 0.25
#: Share of the time left after the descent that the search gets first.
SEARCH_SHARE = 0.2
#: Share of the time left then that iterated local search gets (when the search stopped
#: unproven); the Lagrangian bound and the search go on with the rest.
LOCAL_SHARE = 0.35
#: The local search's share when the gap after the first search is above :data:`WIDE_GAP`.
WIDE_LOCAL_SHARE = 0.45
#: The search's first share when the gap after the first descent is above :data:`WIDE_GAP`.
WIDE_SEARCH_SHARE = 0.05
#: The gap (``upper / lower - 1``) past which the search is not expected to finish in time.
WIDE_GAP = 0.02
#: Share of each iterated local search's time that span moves (:mod:`~analyzer.planning.relocate`)
#: get first; window descents with kicks get the rest.
RELOCATE_SHARE = 0.7


def _numbers(problem: Problem) -> None:
    if problem.symbolic:
        raise PlanError(
            f"the optimal order depends on the sizes; give numbers ({symbols_note(problem)})"
        )


def upper_bound(
    state: State,
    pricer: Pricer,
    part: Sequence[Hashable],
    objective: str,
    hints: Sequence[tuple[str, Sequence[Hashable]]] = (),
) -> tuple[Any, list, str]:
    """The cheapest of markowitz, min-fill, input-first and output-first on ``part``,
    and of the ``hints`` (whole-graph orders, named) restricted to ``part``.

    ``part`` is in topological order; ``state`` is left unchanged. A greedy order
    of the whole graph, restricted to a part, can beat the same greedy rule run on
    the part alone (a fill score counts factors between parameters and outputs
    that several parts share); the hints keep ``optimal`` no costlier than
    ``best-heuristic``.
    """
    found = []
    inside = set(part)
    for name, sequence in hints:
        mine = [v for v in sequence if v in inside]
        cost = Board(state, pricer, part, objective).run(mine, restore=True)
        found.append((cost, mine, f"{name} (whole graph)"))
    for name, score, wide in (
        ("markowitz", _markowitz_score, None),
        ("min-fill", _fill_score, True),
    ):
        board = Board(state, pricer, part, objective, wide=wide)
        sequence, cost = greedy(board, score, restore=True)
        found.append((cost, sequence, name))
    for name, sequence in (("input-first", list(part)), ("output-first", list(part)[::-1])):
        cost = Board(state, pricer, part, objective).run(sequence, restore=True)
        found.append((cost, sequence, name))
    return min(found, key=lambda item: item[0])  # (first of equals: the hints come first)


def _search(
    state: State,
    problem: Problem,
    pricer: Pricer,
    part: list,
    objective: str,
    budget: Budget,
    interrupted: bool = False,
    hints: Sequence[tuple[str, Sequence[Hashable]]] = (),
) -> tuple[BranchAndBound | None, Outcome]:
    """The search of one part, ready to run, and its outcome if it does not run.

    Its lower bound at the start is the largest of the search's own bound, the
    pair bound of :mod:`~analyzer.planning.pairs` and the star bound of
    :mod:`~analyzer.planning.stars` (both skipped when ``budget`` has run out).
    ``interrupted`` (an earlier part was): the heuristic order with the
    search's own bound, marked interrupted, without the pair and star bounds.
    """
    cost, sequence, name = upper_bound(state, pricer, part, objective, hints)
    bound = PairBound(
        state, pricer, part, objective, order=problem.nodes, itemsizes=problem.itemsizes
    )
    lower, tried = bound.total, {"upper": name}
    if interrupted:
        tried["stopped"] = "interrupted"
        return None, Outcome(sequence, cost, min(lower, cost), lower >= cost, tried)
    residual = None
    try:
        if lower < cost and not budget.expired():
            left = budget.left()
            share = None if left is None else Budget(max(left, 1e-9) * BOUND_SHARE)
            values = dict(bound.value)
            stars, items = star_packing(bound, problem.nodes, share)  # on the fresh bound
            if items and stars > bound.total:
                residual = Residual(values, items)
            lower = max(bound.match(problem.nodes, budget), stars)
    except KeyboardInterrupt:  # stop here: the heuristic order, not proven
        tried["stopped"] = "interrupted"
        return None, Outcome(sequence, cost, min(lower, cost), lower >= cost, tried)
    outcome = Outcome(sequence, cost, min(lower, cost), lower >= cost, tried)
    if outcome.proven:
        return None, outcome
    board = Board(state, pricer, part, objective)
    search = BranchAndBound(board, bound, Budget(None, objective), (cost, sequence))
    search.lower = lower
    search.residual = residual
    if objective == "macs" and not pricer.model.keeps_structure:
        search.certify = functools.partial(
            lagrangian_bound, state, problem.sizes, part, problem.nodes
        )
    return search, outcome


def _run(search: BranchAndBound, outcome: Outcome, budget: Budget, share: float | None) -> Outcome:
    """Local descent, the search, iterated local search, the search again (see the docstring).

    The descent (at most :data:`DESCENT_SHARE` of ``share``) gives the search a
    lower first upper bound; the search gets :data:`SEARCH_SHARE` of what is
    left (:data:`WIDE_SEARCH_SHARE` when the gap is above :data:`WIDE_GAP`);
    when it stops unproven, local search (span moves, then iterated window
    descents) takes :data:`LOCAL_SHARE` of what is left
    (:data:`WIDE_LOCAL_SHARE` when the gap is still wide), the Lagrangian
    bound (``search.certify``) at most :data:`LAGRANGE_SHARE` of the rest, and
    the search goes on with what is left (its memo kept) from the better order.
    The lower bound is the search's, valid for every order; without a time
    limit the search runs to the end.
    """
    objective = budget.objective
    start = Budget(None, objective)
    counts: dict[str, Any] = {}

    def left(fraction: float) -> Budget:
        if share is None:
            return Budget(None, objective)
        return Budget(max(share - start.elapsed(), 1e-9) * fraction, objective)

    def local(fraction: float, perturb: bool) -> None:
        if perturb and RELOCATE_SHARE > 0:
            sequence, cost, tried = relocate(
                search.board, search.best, search.upper, left(fraction * RELOCATE_SHARE)
            )
            _count(counts, {"span " + key: value for key, value in tried.items()})
            if cost < search.upper:
                search.upper, search.best = cost, sequence
            fraction = (
                1.0
                if fraction == 1.0
                else fraction * (1 - RELOCATE_SHARE) / (1 - fraction * RELOCATE_SHARE)
            )
        sequence, cost, tried = improve(
            search.board, search.best, search.upper, left(fraction), perturb=perturb
        )
        _count(counts, tried)
        if cost < search.upper:
            search.upper, search.best = cost, sequence

    try:
        local(DESCENT_SHARE, perturb=False)
        wide = search.upper > (1 + WIDE_GAP) * search.lower
        for fraction in (WIDE_SEARCH_SHARE if wide else SEARCH_SHARE, 1.0):
            search.budget = left(fraction)
            search.tried.pop("stopped", None)
            found = search.solve()
            if found.proven or share is None or found.tried.get("stopped") == "interrupted":
                break
            if fraction != 1.0:  # (the gap may have narrowed)
                wide = search.upper > (1 + WIDE_GAP) * search.lower
                local(WIDE_LOCAL_SHARE if wide else LOCAL_SHARE, perturb=True)
                if search.certify is not None:  # (its members picked by the better order)
                    found_bound = search.certify(left(LAGRANGE_SHARE), search.upper, search.best)
                    if found_bound > search.lower:
                        search.lower = min(found_bound, search.upper)
                        counts["lagrangian"] = 1
    except (KeyboardInterrupt, Exception) as error:  # the best order so far, not proven
        if not _interrupt(error):
            raise
        lower = min(max(search.lower, outcome.lower_bound), search.upper)
        found = Outcome(search.best, search.upper, lower, False, dict(search.tried))
        found.tried["stopped"] = "interrupted"
    found.tried.update(counts)
    found.tried["upper"] = outcome.tried["upper"]
    return found


def _interrupt(error: BaseException) -> bool:
    """Whether ``error`` is a KeyboardInterrupt or was raised while handling one.

    An interrupt that lands inside a move (its make or unmake half done) leaves the
    board changed halfway, and the undo on the way out may then fail (a KeyError): the
    interrupt is its first cause, and the board is not used again.
    """
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, KeyboardInterrupt):
            return True
        seen.add(id(error))
        error = error.__context__  # type: ignore[assignment]
    return False


def _count(counts: dict, tried: dict) -> None:
    for key, value in tried.items():
        name = f"local {key}"
        counts[name] = counts.get(name, 0) + value


def _combine(
    problem: Problem, budget: Budget, strategy: str, preparatory: list, outcomes: list[Outcome]
) -> SearchRecord:
    sequence = list(preparatory)
    tried: dict[str, Any] = {"preparatory": len(preparatory), "parts": len(outcomes)}
    counts = (
        "nodes",
        "expanded",
        "pruned",
        "passes",
        "paths",
        "states",
        "memo",
        "memo emptied",
        "lagrangian",
    )
    for outcome in outcomes:
        sequence += outcome.sequence
        for key, value in outcome.tried.items():
            if key in counts or key.startswith("local "):
                tried[key] = tried.get(key, 0) + value
            elif key == "stopped":
                tried["stopped"] = value
    tried.setdefault("paths", 0)
    proven = all(o.proven for o in outcomes)
    cost = sum(o.cost for o in outcomes)
    lower = cost if proven else sum(o.lower_bound for o in outcomes)
    tried["cost"] = cost
    return SearchRecord(
        strategy,
        sequence,
        proven=proven,
        lower_bound=lower,
        objective=budget.objective,
        tried=tried,
        seconds=budget.elapsed(),
        preparatory=list(preparatory),
    )


def _solve_parts(
    problem: Problem,
    budget: Budget,
    state: State,
    groups: list[list],
    use_paths: bool,
    hints: Sequence[tuple[str, Sequence[Hashable]]] = (),
) -> list[Outcome]:
    pricer, objective = problem.pricer(), budget.objective
    outcomes: list[Outcome | None] = [None] * len(groups)
    pending = []
    interrupted = False  # once a part's bounds were interrupted, the others' are skipped
    for index, part in enumerate(groups):
        path = as_path(state, part) if use_paths else None
        if path is not None:
            found = path_optimum(state, pricer, path, budget)
            if found is not None:
                cost, sequence = found
                outcomes[index] = Outcome(sequence, cost, cost, True, {"paths": 1})
                continue
        if len(part) <= SMALL_PART:
            try:
                cost, sequence, states = subset_optimum(state, pricer, part, objective, budget)
            except SubsetOutOfTime:
                pass
            else:
                outcomes[index] = Outcome(sequence, cost, cost, True, {"states": states})
                continue
        search, outcome = _search(
            state, problem, pricer, part, objective, budget, interrupted, hints
        )
        interrupted = interrupted or outcome.tried.get("stopped") == "interrupted"
        outcomes[index] = outcome
        if search is not None:
            pending.append((index, search))
    pending.sort(key=lambda item: len(groups[item[0]]))
    for rank, (index, search) in enumerate(pending):
        if interrupted:
            outcomes[index].tried["stopped"] = "interrupted"
            continue
        left = budget.left()
        share = None if left is None else max(left, 0.0) / (len(pending) - rank)
        found = _run(search, outcomes[index], budget, None if share is None else max(share, 1e-9))
        outcomes[index] = found
        interrupted = found.tried.get("stopped") == "interrupted"
    return outcomes  # type: ignore[return-value]


@register_order("optimal")
def optimal(problem: Problem, budget: Budget) -> SearchRecord:
    """The cheapest order, proven when the search finishes in time (see the module docstring)."""
    _numbers(problem)
    if problem.chain is not None:
        try:
            return chain_search(problem, budget)
        except OutOfTime as reason:
            record = branch_and_bound(problem, Budget(1e-9, budget.objective))
            record.strategy = "optimal (stopped: chain DP out of time)"
            record.tried["stopped"] = str(reason)
            record.seconds = budget.elapsed()
            return record
    state, pricer, objective = problem.state(), problem.pricer(), budget.objective
    preparatory: list = []
    if pricer.model.keeps_structure:
        preparatory = free_copies(
            state, pricer, problem.intermediates, objective, problem.itemsizes
        )
    rest = [v for v in problem.intermediates if v in state.pred]
    macs = objective == "macs" and not (rest and merges_may_form(state, pricer, rest))
    groups = parts(state, rest) if macs and rest else ([rest] if rest else [])
    hints: list[tuple[str, list]] = []
    if len(groups) > 1 or set(HEURISTICS) - set(GREEDY):  # (else the same as upper_bound's)
        hints = [(n, seq) for n, seq, _ in candidates(problem, Budget(None, objective))]
    outcomes = _solve_parts(problem, budget, state, groups, use_paths=macs, hints=hints)
    return _combine(problem, budget, "optimal", preparatory, outcomes)


@register_order("branch-and-bound")
def branch_and_bound(problem: Problem, budget: Budget) -> SearchRecord:
    """Branch and bound on the whole graph, without reductions (for comparisons)."""
    _numbers(problem)
    state = problem.state()
    outcomes = []
    if problem.intermediates:
        search, outcome = _search(
            state, problem, problem.pricer(), list(problem.intermediates), budget.objective, budget
        )
        if search is not None:
            left = budget.left()
            outcome = _run(search, outcome, budget, None if left is None else max(left, 1e-9))
        outcomes.append(outcome)
    record = _combine(problem, budget, "branch-and-bound", [], outcomes)
    if record.lower_bound is None:
        record.lower_bound = root_bound(problem, budget.objective)
    return record
