"""Size symbols and exact cost polynomials: leading terms and degrees.

Examples
--------
>>> H, N = size_symbols("H N")
>>> cost = H**3 * N + H**2 * N + H * N + H
>>> leading_term(cost)
H**3*N
>>> degree_in(leading_term(cost), "H"), degree_in(leading_term(cost), "N")
(3, 1)
"""

from __future__ import annotations

import math
import re
from typing import Any

import sympy

__all__ = ["SIZE_NAME", "size_symbols", "size_names", "leading_term", "degree_in", "as_expression"]


def size_symbols(names: str) -> tuple[sympy.Symbol, ...]:
    """Positive integer symbols for sizes, e.g. ``size_symbols("H N")``."""
    made = sympy.symbols(names, positive=True, integer=True)
    return made if isinstance(made, tuple) else (made,)


#: A name not followed by "(" is a size symbol: ``N`` is a size, not sympy's ``N``,
#: while ``log(H)`` still parses as a function of ``H``.
SIZE_NAME = re.compile(r"\b([A-Za-z_]\w*)\b(?!\s*\()")


def size_names(text: str) -> set[str]:
    """The size symbols' names in a polynomial's text.

    >>> sorted(size_names("H**3*N + log(H)"))
    ['H', 'N']
    """
    return set(SIZE_NAME.findall(text))


def as_expression(value: Any) -> sympy.Expr:
    """An int, a sympy expression or a polynomial's text as an expanded sympy expression.

    Every name in a text is a size symbol (so ``N`` is a size, not sympy's ``N``).

    >>> as_expression("H**2*N + H*N").free_symbols == {sympy.Symbol("H"), sympy.Symbol("N")}
    True
    """
    if isinstance(value, str):
        names = {name: sympy.Symbol(name) for name in size_names(value)}
        value = sympy.parse_expr(value, local_dict=names)
    return sympy.expand(sympy.sympify(value))


def leading_term(cost: Any) -> sympy.Expr:
    """The terms of highest total degree of a cost polynomial in its size symbols.

    A number is its own leading term. When all sizes grow together, these terms
    dominate; e.g. ``H**3*N`` for the sheet's input-first gradient.

    >>> leading_term(7)
    7
    """
    expr = as_expression(cost)
    symbols = sorted(expr.free_symbols, key=str)
    if not symbols:
        return expr
    poly = sympy.Poly(expr, *symbols)
    top = poly.total_degree()
    return sympy.Add(
        *[
            coeff * math.prod(s**e for s, e in zip(symbols, monom, strict=True))
            for monom, coeff in poly.terms()
            if sum(monom) == top
        ]
    )


def degree_in(cost: Any, name: str) -> int:
    """Degree of a cost polynomial in one size symbol (0 if it does not appear).

    >>> degree_in("H**2*N + H", "H")
    2
    """
    expr = as_expression(cost)
    matches = [s for s in expr.free_symbols if str(s) == name]
    if not matches:
        return 0
    return int(sympy.degree(expr, matches[0]))
