"""Size symbols and exact cost polynomials: reading, leading terms, degrees and values.

A polynomial given as text (e.g. a ``formula`` cell of a saved ``results.csv``) is read by a
small grammar of its own, never evaluated as Python: integers, size names, ``+ - * / **``
(integer exponents), parentheses and ``Max``/``Min``. Anything else is an
:class:`~analyzer.errors.AnalyzerError` naming the text.

Examples
--------
>>> H, N = size_symbols("H N")
>>> cost = H**3 * N + H**2 * N + H * N + H
>>> leading_term(cost)
H**3*N
>>> degree_in(leading_term(cost), "H"), degree_in(leading_term(cost), "N")
(3, 1)
>>> evaluate("H**3*N + H", {"H": 2, "N": 5})
42
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sympy

from .errors import AnalyzerError

__all__ = [
    "SIZE_NAME",
    "size_symbols",
    "size_names",
    "parse_expression",
    "as_expression",
    "leading_term",
    "degree_in",
    "evaluate",
    "log_value",
]

#: Limits of :func:`parse_expression`: longest text, deepest nesting, largest exponent, and
#: bounds on the expanded result (terms, total degree, bits of a coefficient), so that no text
#: can make the expansion run for long or fill the memory.
MAX_TEXT = 20_000
MAX_DEPTH = 64
MAX_EXPONENT = 256
MAX_TERMS = 20_000
MAX_DEGREE = 1_024
MAX_BITS = 65_536
MAX_DIGITS = 4_000

_FUNCTIONS = {"Max": sympy.Max, "max": sympy.Max, "Min": sympy.Min, "min": sympy.Min}
_SPACE = re.compile(r"\s*")
_TOKEN = re.compile(r"(\d+)|([^\W\d]\w*)|(\*\*|[-+*/(),])")


def size_symbols(names: str) -> tuple[sympy.Symbol, ...]:
    """Positive integer symbols for sizes, e.g. ``size_symbols("H N")``."""
    made = sympy.symbols(names, positive=True, integer=True)
    return made if isinstance(made, tuple) else (made,)


def _size(name: str) -> sympy.Symbol:
    return sympy.Symbol(name, positive=True, integer=True)


#: A name not followed by "(" is a size symbol: ``N`` is a size, not sympy's ``N``,
#: while ``Max(H, N)`` names the sizes ``H`` and ``N``.
SIZE_NAME = re.compile(r"\b([^\W\d]\w*)\b(?!\s*\()")


def size_names(text: str) -> set[str]:
    """The size symbols' names in a polynomial's text (read, never evaluated).

    >>> sorted(size_names("H**3*N + Max(H, M)"))
    ['H', 'M', 'N']
    """
    return set(SIZE_NAME.findall(str(text)))


@dataclass(frozen=True)
class _Bound:
    """Upper bounds on an expression once expanded: terms, total degree, coefficient bits."""

    terms: int
    degree: int
    bits: int


def _shown(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")


class _Reader:
    """Recursive descent over the token list of one text (see :func:`parse_expression`)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []  # (kind, value, position)
        pos = _SPACE.match(text).end()
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if match is None:
                self.fail(f"unexpected character {text[pos]!r}", pos)
            kind = "int" if match.group(1) else "name" if match.group(2) else "op"
            self.tokens.append((kind, match.group(), pos))
            pos = _SPACE.match(text, match.end()).end()
        self.i = 0
        self.depth = 0

    def fail(self, why: str, pos: int | None = None) -> None:
        if pos is None:
            pos = self.tokens[self.i][2] if self.i < len(self.tokens) else len(self.text)
        raise AnalyzerError(
            f"cannot read {_shown(self.text)} as a cost polynomial: {why} at position {pos}"
        )

    def peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def take(self, kind: str | None = None, value: str | None = None) -> str:
        if self.i >= len(self.tokens):
            self.fail("unexpected end" + (f", expected {value!r}" if value else ""))
        k, v, _ = self.tokens[self.i]
        if (kind is not None and k != kind) or (value is not None and v != value):
            self.fail(f"unexpected {v!r}" + (f", expected {value!r}" if value else ""))
        self.i += 1
        return v

    def check(self, bound: _Bound) -> _Bound:
        if bound.terms > MAX_TERMS or bound.degree > MAX_DEGREE or bound.bits > MAX_BITS:
            self.fail("the polynomial would be too large to expand")
        return bound

    def nested(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.fail(f"nested deeper than {MAX_DEPTH} levels")

    def read(self) -> sympy.Expr:
        if not self.tokens:
            self.fail("the text is empty", 0)
        expr, _ = self.sum()
        if self.i < len(self.tokens):
            self.fail(f"unexpected {self.peek()!r}")
        return expr

    def sum(self) -> tuple[sympy.Expr, _Bound]:
        expr, bound = self.product()
        while self.peek() in ("+", "-"):
            sign = self.take()
            right, rb = self.product()
            expr = expr + right if sign == "+" else expr - right
            bound = self.check(
                _Bound(
                    bound.terms + rb.terms,
                    max(bound.degree, rb.degree),
                    max(bound.bits, rb.bits) + 1,
                )
            )
        return expr, bound

    def product(self) -> tuple[sympy.Expr, _Bound]:
        expr, bound = self.unary()
        while self.peek() in ("*", "/"):
            op = self.take()
            right, rb = self.unary()
            if op == "/" and right == 0:
                self.fail("division by zero", self.tokens[self.i - 1][2])
            expr = expr * right if op == "*" else expr / right
            bound = self.check(
                _Bound(bound.terms * rb.terms, bound.degree + rb.degree, bound.bits + rb.bits)
            )
        return expr, bound

    def unary(self) -> tuple[sympy.Expr, _Bound]:
        if self.peek() in ("+", "-"):
            self.nested()
            sign = self.take()
            expr, bound = self.unary()
            self.depth -= 1
            return (-expr if sign == "-" else expr), bound
        return self.power()

    def power(self) -> tuple[sympy.Expr, _Bound]:
        base, bound = self.atom()
        if self.peek() != "**":
            return base, bound
        self.take()
        exponent = self.exponent()
        if self.peek() == "**":
            self.fail("chained '**': put the exponent in parentheses")
        n = abs(exponent)
        if exponent < 0 and base == 0:
            self.fail("division by zero")
        if n == 0:
            return sympy.Integer(1), _Bound(1, 0, 1)
        terms = 1 if bound.terms == 1 else bound.terms ** min(n, 64)
        bound = self.check(_Bound(terms, bound.degree * n, bound.bits * n))
        return base**exponent, bound

    def exponent(self) -> int:
        """A signed integer, bare or in parentheses: ``3``, ``-1``, ``(2)``, ``(-1)``."""
        parenthesised = self.peek() == "("
        if parenthesised:
            self.take()
        sign = self.take() if self.peek() in ("+", "-") else "+"
        digits = self.take("int")
        if len(digits) > 4 or int(digits) > MAX_EXPONENT:
            self.fail(f"exponent {digits} is over {MAX_EXPONENT}", self.tokens[self.i - 1][2])
        if parenthesised:
            self.take("op", ")")
        return -int(digits) if sign == "-" else int(digits)

    def atom(self) -> tuple[sympy.Expr, _Bound]:
        if self.i >= len(self.tokens):
            self.fail("unexpected end")
        kind, value, pos = self.tokens[self.i]
        if kind == "int":
            self.i += 1
            if len(value) > MAX_DIGITS:
                self.fail(f"an integer longer than {MAX_DIGITS} digits", pos)
            number = int(value)
            return sympy.Integer(number), _Bound(1, 0, max(number.bit_length(), 1))
        if kind == "name":
            self.i += 1
            if self.peek() == "(":
                if value not in _FUNCTIONS:
                    self.fail(f"unknown function {value!r} (only Max and Min)", pos)
                return self.call(_FUNCTIONS[value])
            if value.startswith("__"):
                self.fail(f"{value!r} is not a size name", pos)
            return _size(value), _Bound(1, 1, 1)
        if value == "(":
            self.nested()
            self.take()
            expr, bound = self.sum()
            self.take("op", ")")
            self.depth -= 1
            return expr, bound
        self.fail(f"unexpected {value!r}", pos)
        raise AssertionError  # pragma: no cover

    def call(self, function) -> tuple[sympy.Expr, _Bound]:
        self.nested()
        self.take("op", "(")
        args, bounds = [], []
        while True:
            expr, bound = self.sum()
            args.append(expr)
            bounds.append(bound)
            if self.peek() == ",":
                self.take()
                continue
            self.take("op", ")")
            break
        self.depth -= 1
        bound = self.check(
            _Bound(
                sum(b.terms for b in bounds),
                max(b.degree for b in bounds),
                max(b.bits for b in bounds),
            )
        )
        return function(*args), bound


def parse_expression(text: str) -> sympy.Expr:
    """Read a cost polynomial's text as a sympy expression, without evaluating any Python.

    The grammar: non-negative integers; names, each a size symbol (a positive integer
    symbol, so ``N`` is a size, not sympy's ``N``; names starting ``__`` are refused); ``+``, ``-`` (also unary), ``*``, ``/``;
    ``**`` with an integer exponent (``H**3``, ``H**(-1)``); parentheses; ``Max(...)`` and
    ``Min(...)`` (also lower case). Texts longer than :data:`MAX_TEXT`, nested deeper than
    :data:`MAX_DEPTH`, with an exponent over :data:`MAX_EXPONENT`, or whose expansion could
    be huge are refused.

    Raises
    ------
    AnalyzerError
        Anything outside the grammar, naming the text and where reading stopped.

    Examples
    --------
    >>> parse_expression("H**3*N/2 + 2*H")
    H**3*N/2 + 2*H
    >>> parse_expression("__import__('os')")
    Traceback (most recent call last):
    ...
    analyzer.errors.AnalyzerError: cannot read "__import__('os')" as a cost polynomial: unexpected character "'" at position 11
    """  # noqa: E501
    if not isinstance(text, str):
        raise AnalyzerError(f"a cost polynomial's text must be a str, got {type(text).__name__}")
    if len(text) > MAX_TEXT:
        raise AnalyzerError(
            f"cannot read {_shown(text)} as a cost polynomial: longer than {MAX_TEXT} characters"
        )
    return _Reader(text).read()


def as_expression(value: Any) -> sympy.Expr:
    """An int, a sympy expression or a polynomial's text as an expanded sympy expression.

    Text is read by :func:`parse_expression` (never evaluated); every name in it is a size
    symbol. A float is accepted when it holds an integer (a count read back from a CSV file).

    >>> as_expression("H**2*N + H*N").free_symbols == set(size_symbols("H N"))
    True
    >>> as_expression(7.0)
    7
    """
    if isinstance(value, str):
        expr = parse_expression(value)
    elif isinstance(value, sympy.Basic):
        expr = value
    elif isinstance(value, numbers.Integral) and not isinstance(value, bool):
        expr = sympy.Integer(int(value))
    elif isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer():
        expr = sympy.Integer(int(value))
    else:
        raise AnalyzerError(
            f"a cost is an integer, a sympy expression or a polynomial's text, got {value!r}"
        )
    return sympy.expand(expr)


def _poly(expr: sympy.Expr, symbols: list, shown: Any) -> sympy.Poly:
    try:
        return sympy.Poly(expr, *symbols)
    except (sympy.PolynomialError, sympy.GeneratorsNeeded, ValueError, TypeError) as exc:
        names = ", ".join(map(str, symbols))
        raise AnalyzerError(f"{shown!r} is not a polynomial in {names}: {exc}") from None


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
    poly = _poly(expr, symbols, cost)
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

    This is the one place the library computes "the degree in ``x``" (the asymptotic
    predicted slope of a fit).

    Raises
    ------
    AnalyzerError
        ``cost`` cannot be read, or is not a polynomial in ``name``.

    >>> degree_in("H**2*N + H", "H"), degree_in("H**2*N", "M")
    (2, 0)
    """
    expr = as_expression(cost)
    matches = [s for s in expr.free_symbols if str(s) == str(name)]
    if not matches:
        return 0
    return int(_poly(expr, matches, cost).degree(matches[0]))


def evaluate(cost: Any, sizes: Mapping[str, Any]) -> sympy.Expr:
    """The exact value of a cost polynomial at sizes given by name (a sympy number).

    Raises
    ------
    AnalyzerError
        A size symbol of ``cost`` missing from ``sizes``, or a size that is not an integer.

    >>> evaluate("H**2/2", {"H": 3, "N": 1})
    9/2
    """
    expr = as_expression(cost)
    values = {}
    for symbol in expr.free_symbols:
        name = str(symbol)
        if name not in sizes:
            raise AnalyzerError(f"cannot evaluate {str(cost)!r}: no value for the size {name}")
        value = sizes[name]
        try:
            values[symbol] = as_expression(value)
        except AnalyzerError:
            raise AnalyzerError(
                f"cannot evaluate {str(cost)!r}: size {name}={value!r} is not an integer"
            ) from None
    return expr.xreplace(values)


def log_value(value: Any) -> float:
    """Natural log of a positive exact number (an int or a sympy rational, of any size).

    NaN when the value is not a positive rational number.

    >>> round(log_value(10**400), 3)
    921.034
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = sympy.Integer(int(value))
    if not (isinstance(value, sympy.Basic) and value.is_Rational and value > 0):
        return math.nan
    return math.log(int(value.p)) - math.log(int(value.q))
