"""The order registry, search budgets and the record every strategy returns.

A strategy maps a :class:`~analyzer.planning.problem.Problem` and a
:class:`Budget` to a :class:`SearchRecord`: the elimination sequence, a lower
bound on the cost of any order (``None`` when the strategy proves none),
whether the sequence is proven optimal, what it tried and how long it took.
Strategies are registered by name (as opt_einsum registers its path
optimisers): :func:`register_order` adds one, :data:`ORDERS` lists them, and
:data:`HEURISTICS` names those that are fast heuristics (``best-heuristic``
takes the cheapest of them).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import PlanError
from .costs import check_objective

__all__ = [
    "ORDERS",
    "ALIASES",
    "HEURISTICS",
    "DEFAULT_TIME_LIMIT",
    "Budget",
    "SearchRecord",
    "register_order",
    "canonical_order",
]


#: Seconds an exact search may take when ``plan`` is given no ``time_limit``.
DEFAULT_TIME_LIMIT = 10.0


@dataclass(frozen=True)
class Budget:
    """What a strategy may spend and what it minimises.

    ``time_limit`` is in seconds (``None``: no limit); ``objective`` is
    ``"macs"`` or ``"bytes"``.
    """

    time_limit: float | None = None
    objective: str = "macs"
    started: float = field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        limit = self.time_limit
        if limit is not None and (
            isinstance(limit, bool | np.bool_)
            or not isinstance(limit, int | float | np.integer | np.floating)
            or not limit > 0
        ):
            raise PlanError(
                f"time_limit must be a positive number of seconds or None, got {limit!r}"
            )
        if limit is not None:
            object.__setattr__(self, "time_limit", None if limit == float("inf") else float(limit))
        check_objective(self.objective)

    def expired(self) -> bool:
        """True once the time limit has passed."""
        return self.time_limit is not None and self.elapsed() > self.time_limit

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def left(self) -> float | None:
        """Seconds left (``None``: no limit)."""
        return None if self.time_limit is None else self.time_limit - self.elapsed()


@dataclass
class SearchRecord:
    """What a strategy found and did.

    ``lower_bound`` is a cost no order can beat (``None`` when unknown); when
    ``proven`` is True the sequence is optimal for the objective and
    ``lower_bound`` equals its cost. ``tried`` counts what the search looked
    at (e.g. ``{"states": 1024}``, ``{"nodes": 5000, "pruned": 3200}``) and
    why it stopped early (``tried["stopped"]``). ``preparatory`` lists the
    eliminations at the start of ``sequence`` made first because they are free
    and keep the optimum (see :mod:`analyzer.planning.reductions`).
    """

    strategy: str
    sequence: list
    proven: bool = False
    lower_bound: Any = None
    objective: str = "macs"
    tried: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    preparatory: list = field(default_factory=list)


#: Orders by name: each maps a Problem and a Budget to a SearchRecord.
ORDERS: dict[str, Callable[..., SearchRecord]] = {}
#: Other names of registered orders.
ALIASES: dict[str, str] = {}
#: Names of the registered orders that are heuristics (fast, no optimality claim).
HEURISTICS: list[str] = []


def register_order(name: str, *aliases: str, heuristic: bool = False) -> Callable:
    """Register a strategy under ``name`` (and ``aliases``); use as a decorator.

    ``heuristic`` marks a fast order that ``best-heuristic`` should also try.
    """

    def decorate(strategy: Callable[..., SearchRecord]) -> Callable[..., SearchRecord]:
        ORDERS[name] = strategy
        for alias in aliases:
            ALIASES[alias] = name
        if heuristic and name not in HEURISTICS:
            HEURISTICS.append(name)
        return strategy

    return decorate


def canonical_order(order: str) -> str:
    """The registered name of an order or alias; a clear error for anything else.

    >>> import analyzer
    >>> canonical_order("backprop")
    'output-first'
    """
    if isinstance(order, str) and order in ORDERS:
        return order
    if isinstance(order, str) and order in ALIASES:
        return ALIASES[order]
    main = ("input-first", "output-first", "optimal")
    names = sorted(ORDERS, key=lambda name: name not in main)  # the main three first
    names = ", ".join(names + list(ALIASES))
    raise PlanError(f"unknown order {order!r}; valid orders: {names}")
