"""The start's star packing carried down the search: what its terms still say at every state.

The star bound of :mod:`~analyzer.planning.stars` is a sum of terms over the
vertices still to eliminate at the start: each vertex's single bound
``value₀(v)`` (item 3 of :mod:`~analyzer.planning.bounds`), and items (a
packed star or group, or a kept penalty), each with a weight and the
vertices whose sides it names. Why the terms that name no eliminated vertex
still bound what is left, at any state ``D`` (the set eliminated so far):

- Take any order that eliminates ``D`` first, then the rest. It is an order
  of the start, so the star bound's argument holds for it: each vertex ``v``
  costs at least ``value₀(v)`` plus the raises ``R_σ`` of its two sides ``σ``
  (what its price exceeds ``value₀(v)`` by, split by bilinearity, item 5 of
  :mod:`~analyzer.planning.bounds`), and each item's weight is at most the
  raises of its sides in the case the order takes, the weights on one side
  summing to at most 1 (a packing, integral or fractional).
- Drop every item that names a vertex of ``D`` and the vertices of ``D``
  themselves: the items left name only sides of vertices eliminated after
  ``D``, still a packing, so their weights sum to at most the raises of the
  vertices still to eliminate. Prices and raises are nonnegative, so what
  eliminating the rest costs is at least ``Σ_{v∉D} value₀(v)`` plus the weights
  of the items that name no vertex of ``D``: :attr:`Residual.total`.

It depends on the set ``D`` only, never on the order the search took to reach
it, so it is a valid ``h`` for the memo too. ``share[v]`` is what eliminating
``v`` takes out of the total (its value and every item still counted that
names it): ``total - share[v]`` is the child's total, known before the child
is made. The search takes the larger of this and the pair bound at each state.

Examples
--------
>>> residual = Residual({"a": 5, "b": 3}, [(4, frozenset({"a", "b"}))])
>>> residual.total, residual.share["a"]
(12, 9)
>>> saved = residual.make("a")
>>> residual.total, residual.share["b"]
(3, 3)
>>> residual.unmake(saved)
>>> residual.total
12
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

__all__ = ["Residual"]


class Residual:
    """The terms of a start bound that name no eliminated vertex (module docstring).

    ``values`` maps each vertex still to eliminate to its single bound at the
    start; ``items`` are ``(weight, members)`` with nonnegative weights.
    """

    def __init__(self, values: dict, items: Iterable[tuple[Any, frozenset]]) -> None:
        self.items = [(w, tuple(m)) for w, m in items if w > 0 and set(m) <= values.keys()]
        self.share = dict(values)
        self.touching: dict[Hashable, list[int]] = {v: [] for v in values}
        self.alive = [True] * len(self.items)
        for index, (weight, members) in enumerate(self.items):
            for x in members:
                self.touching[x].append(index)
                self.share[x] += weight
        self.values = dict(values)
        self.total = sum(values.values()) + sum(w for w, _ in self.items)

    def make(self, v: Hashable) -> list[int]:
        """``v`` eliminated: drop its value and the items naming it; what :meth:`unmake` needs."""
        items, alive, share = self.items, self.alive, self.share
        dropped = []
        total = self.total - self.values[v]
        share[v] -= self.values[v]
        for index in self.touching[v]:
            if alive[index]:
                alive[index] = False
                dropped.append(index)
                weight, members = items[index]
                total -= weight
                for x in members:
                    share[x] -= weight
        self.total = total
        dropped.append(v)  # type: ignore[arg-type]
        return dropped

    def unmake(self, saved: list) -> None:
        """Undo :meth:`make`."""
        items, alive, share = self.items, self.alive, self.share
        v = saved[-1]
        total = self.total + self.values[v]
        share[v] += self.values[v]
        for index in saved[:-1]:
            alive[index] = True
            weight, members = items[index]
            total += weight
            for x in members:
                share[x] += weight
        self.total = total
