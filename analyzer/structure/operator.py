"""Matrix-free factors: a tangent and an adjoint applied to vectors, never a stored matrix.

An ``operator[e]`` factor of shape ``(m, n)`` is a :class:`LinearMap`: its tangent maps
an ``n x p`` matrix to ``m x p`` (``p`` Jacobian-vector products), its adjoint a
``q x m`` matrix to ``q x n`` (``q`` vector-Jacobian products), each at ``e`` multiply-adds
per vector (in Naumann's terms, the edges of the elemental's graph, at most ``m n``).
The rules (generalised dense Jacobian chain product bracketing, GDJCPB):

- operator ``(m x k)`` · explicit ``(k x p)`` → dense, ``p e`` macs: ``p`` tangents;
- explicit ``(q x m)`` · operator ``(m x n)`` → dense, ``q e`` macs: ``q`` adjoints;
- operator · operator → dense, the cheaper of preaccumulating the right one
  (``e_r min(m_r, n_r)``) and applying the left one's tangent to its ``n_r`` columns,
  or preaccumulating the left one and applying the right one's adjoint to its ``m_l`` rows;
- forming an operator's matrix (preaccumulation) costs ``e min(m, n)``: tangents on the
  identity's columns or adjoints on its rows, whichever are fewer.

Any other explicit kind meets an operator through the dense fallback, which prices it
as dense (or preaccumulates the operator when that is cheaper).

Examples
--------
>>> import numpy as np
>>> from scipy import sparse
>>> from analyzer.structure import Block, multiply_counted
>>> A = sparse.csr_matrix(np.array([[1.0, 0, 2], [0, 3, 0]]))
>>> op = Block(Operator(3), (2, 3), LinearMap.from_sparse(A))
>>> result, macs = multiply_counted(op, Block("dense", (3, 4), np.ones((3, 4))))
>>> result.data.tolist()[0], macs
([3.0, 3.0, 3.0, 3.0], 12)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..errors import AnalyzerError, GraphError, PlanError
from .core import Kind, Operands, Size, _dims, register_kind, register_product

__all__ = ["Operator", "LinearMap", "operator_product_mode"]


@dataclass(frozen=True)
class LinearMap:
    """A linear map of shape ``(m, n)`` given by its tangent and adjoint.

    ``count(p)`` is the multiply-adds of applying it to ``p`` vectors, counted from the
    data that realises it (``nnz · p`` for a sparse matrix); by default ``e · p``. It
    must equal ``e · p`` (checked on every application, so that executed macs equal
    planned macs). ``name`` says which factor the map is in error messages (the graph
    sets it when it reads the factor). Every result of the tangent or the adjoint is
    checked: real floats of the expected shape, finite, and all zero when ``e = 0``;
    otherwise a :class:`~analyzer.errors.GraphError` naming the map.

    Examples
    --------
    >>> A = np.array([[1.0, 2.0], [0.0, 3.0]])
    >>> LinearMap((2, 2), 3, lambda X: A @ X, lambda Y: Y @ A).apply(np.ones((2, 1)))
    (array([[3.],
           [3.]]), 3)
    >>> nan = lambda X: np.full((2, X.shape[1]), np.nan)
    >>> bad = LinearMap((2, 2), 3, nan, lambda Y: Y @ A, name="J(y, x)")
    >>> bad.apply(np.eye(2))
    Traceback (most recent call last):
    ...
    analyzer.errors.GraphError: J(y, x): its tangent gave NaN or infinite numbers at this point
    """

    shape: tuple[int, int]
    e: int
    tangent: Callable[[np.ndarray], np.ndarray]
    adjoint: Callable[[np.ndarray], np.ndarray]
    count: Callable[[int], int] | None = None
    values: Any = None  # the stored numbers, when a matrix realises the map
    name: str = ""  # which factor it is, for error messages

    @classmethod
    def from_sparse(cls, matrix: Any) -> LinearMap:
        """The map of a scipy sparse matrix, applied without densifying it."""
        from scipy import sparse

        A = sparse.csr_matrix(matrix)
        At = A.T.tocsr()
        return cls(
            A.shape, int(A.nnz), lambda X: A @ X, lambda Y: (At @ Y.T).T, lambda p: A.nnz * p,
            A.data,
        )  # fmt: skip

    def named(self, name: str) -> LinearMap:
        """The same map, named ``name`` in error messages."""
        return replace(self, name=name)

    def macs(self, vectors: int) -> int:
        if self.count is None:
            return self.e * vectors
        counted = self.count(vectors)
        if counted != self.e * vectors:
            raise GraphError(
                f"{self._where()}: its count gives {counted!r} multiply-adds for {vectors} "
                f"vectors, but its e = {self.e} means {self.e * vectors}; count(p) must be p·e"
            )
        return counted

    def _where(self) -> str:
        return self.name or f"an operator of shape {tuple(self.shape)}"

    def _checked(self, result: Any, side: str, expected: tuple[int, int]) -> np.ndarray:
        """``result`` of the tangent or adjoint as floats, refused unless it is sound."""
        where = self._where()
        if np.iscomplexobj(result):
            raise GraphError(f"{where}: its {side} gave complex numbers")
        try:
            out = np.asarray(result, dtype=float)
        except (TypeError, ValueError):
            raise GraphError(
                f"{where}: its {side} gave {type(result).__name__} {result!r:.40}, "
                "not an array of floats"
            ) from None
        if out.shape != expected:
            raise GraphError(f"{where}: its {side} gave shape {out.shape}, expected {expected}")
        if not np.isfinite(out).all():
            raise GraphError(f"{where}: its {side} gave NaN or infinite numbers at this point")
        if self.e == 0 and out.any():
            raise GraphError(
                f"{where}: its {side} gave nonzero numbers, but e = 0 makes it the zero map"
            )
        return out

    def apply(self, X: np.ndarray) -> tuple[np.ndarray, int]:
        """``A X`` by tangents, and the multiply-adds they took."""
        expected = (self.shape[0], X.shape[1])
        return self._checked(self.tangent(X), "tangent", expected), self.macs(X.shape[1])

    def apply_adjoint(self, Y: np.ndarray) -> tuple[np.ndarray, int]:
        """``Y A`` by adjoints, and the multiply-adds they took."""
        expected = (Y.shape[0], self.shape[1])
        return self._checked(self.adjoint(Y), "adjoint", expected), self.macs(Y.shape[0])

    def matrix(self) -> tuple[np.ndarray, int]:
        """The full matrix by the fewer of tangents on columns or adjoints on rows."""
        m, n = self.shape
        if n <= m:
            return self.apply(np.eye(n))
        return self.apply_adjoint(np.eye(m))


def _is_symbolic(value: Any) -> bool:
    import sympy

    return isinstance(value, sympy.Basic) and not value.is_number


class Operator(Kind):
    """A matrix-free factor applied at ``e`` multiply-adds per vector: ``operator[e]``."""

    name = "operator"

    def __new__(cls, e: int | None = None) -> Operator:
        if e is not None and not _is_symbolic(e):
            if isinstance(e, bool) or not isinstance(e, int | np.integer) or e < 0:
                raise AnalyzerError(
                    f"an operator's cost per vector is an integer e >= 0, got {e!r}"
                )
            e = int(e)
        return super().__new__(cls, *(() if e is None else (e,)))

    @property
    def e(self) -> Size:
        if not self.params:
            raise AnalyzerError("an operator kind needs its cost per vector: Operator(e)")
        return self.params[0]

    def shape_error(self, shape):
        if not self.params:
            return "an operator kind needs its cost per vector: Operator(e)"
        e = self.e
        if isinstance(e, int) and all(isinstance(d, int) for d in shape):
            if e < 1 or e > shape[0] * shape[1]:  # e = 0 is the zero map: use kind "zero"
                return (
                    f"{self} needs 1 <= e <= m·n = {shape[0] * shape[1]} for {_dims(shape)} "
                    "(a factor that is all zeros has kind 'zero')"
                )
        return None

    def stored(self, shape):
        return self.e  # the entries a sparse realisation holds

    def to_dense(self, data, shape):
        return data.matrix()[0]

    def densify_macs(self, shape):
        return self.e * _min(shape[0], shape[1])

    def densify(self, data, shape):
        return data.matrix()

    def count(self, numbers):
        if isinstance(numbers, LinearMap):
            return numbers.e
        if not hasattr(numbers, "nnz") or not hasattr(numbers, "tocsr"):
            raise AnalyzerError(
                f"{self} must give a LinearMap or a scipy sparse matrix, its jacobian gave "
                f"{type(numbers).__name__}"
            )
        return int(numbers.nnz)

    def finite(self, data):
        values = getattr(data, "values", None)
        return values is None or bool(np.all(np.isfinite(values)))

    def read(self, numbers, shape):
        if isinstance(numbers, LinearMap):
            found = numbers
        elif hasattr(numbers, "tocsr"):
            found = LinearMap.from_sparse(numbers)
        else:
            raise AnalyzerError(
                "an operator factor's jacobian gives a LinearMap or a sparse matrix"
            )
        if tuple(found.shape) != tuple(shape):
            raise AnalyzerError(
                f"an operator of shape {found.shape} cannot stand for {_dims(shape)}"
            )
        if found.e != self.e:
            raise AnalyzerError(f"{self} was given a map with e = {found.e}")
        if found.count is not None and (counted := found.count(1)) != found.e:
            raise AnalyzerError(
                f"{self} was given a map whose count(1) = {counted!r} multiply-adds, not its "
                f"e = {found.e}; count(p) must be p·e so that executed macs equal planned macs"
            )
        return found


register_kind(Operator())


def _operator_pair_macs(o: Operands) -> tuple[Size, Size]:
    """(right preaccumulated then left tangents, left preaccumulated then right adjoints)."""
    e_l, e_r = o.left.e, o.right.e
    right_first = e_r * _min(o.k, o.n) + e_l * o.n
    left_first = e_l * _min(o.m, o.k) + e_r * o.m
    return right_first, left_first


def _min(a: Size, b: Size) -> Size:
    if isinstance(a, int) and isinstance(b, int):
        return min(a, b)
    import sympy

    return sympy.Min(a, b)


def _right_first(o: Operands) -> bool:
    """Whether preaccumulating the right operand is the cheaper way (decided exactly)."""
    right_first, left_first = _operator_pair_macs(o)
    if isinstance(right_first, int) and isinstance(left_first, int):
        return right_first <= left_first
    import sympy

    difference = sympy.factor(sympy.sympify(left_first) - right_first)
    if difference.is_nonnegative:
        return True
    if difference.is_nonpositive:  # ties cost the same either way
        return False
    raise PlanError(
        f"whether to preaccumulate the left or the right operator depends on the sizes "
        f"({left_first} against {right_first}); give numbers (under the matrix-free cost "
        "model, symbols are accepted where no such choice and no min(m, n) depends on them)"
    )


def _operator_times_operator(x: LinearMap, y: LinearMap, o: Operands) -> tuple[np.ndarray, int]:
    if _right_first(o):
        right, formed = y.matrix()
        out, applied = x.apply(right)
    else:
        left, formed = x.matrix()
        out, applied = y.apply_adjoint(left)
    return out, formed + applied


def operator_product_mode(o: Operands) -> str:
    """How a product with an operator runs: tangent, adjoint, or which side is preaccumulated."""
    left, right = o.left.name == "operator", o.right.name == "operator"
    if left and right:
        return "preaccumulate right, tangent" if _right_first(o) else "preaccumulate left, adjoint"
    return "tangent" if left else "adjoint" if right else "product"


register_product(
    "operator", "dense", "dense", lambda o: o.left.e * o.n, lambda a, x, o: a.apply(x),
    mode=operator_product_mode,
)  # fmt: skip
register_product(
    "dense", "operator", "dense", lambda o: o.m * o.right.e, lambda y, a, o: a.apply_adjoint(y),
    mode=operator_product_mode,
)  # fmt: skip
register_product(
    "operator", "operator", "dense",
    lambda o: _operator_pair_macs(o)[0] if _right_first(o) else _operator_pair_macs(o)[1],
    _operator_times_operator, mode=operator_product_mode,
)  # fmt: skip
