"""``mg.linalg``: PyTorch's ``torch.linalg`` functions, differentiable (the decompositions'
gradients are PyTorch's rules): ``inv det slogdet solve solve_triangular cholesky qr svd
svdvals eigh eigvalsh pinv lstsq matrix_exp matrix_power matrix_norm vector_norm norm cross
multi_dot vecdot matmul diagonal``, the ``_ex`` variants that report errors in ``info``
(``inv_ex cholesky_ex solve_ex lu_factor_ex``), the LU decomposition (``lu_factor lu
lu_solve``), ``matrix_rank cond householder_product tensorinv tensorsolve vander``.

Tensors are real, so ``eig`` and ``eigvals`` (complex results in general) raise and point to
``eigh``/``eigvalsh``. Most functions here are compositions of existing differentiable ones
(``inv``, ``solve``, ``svdvals``...), so their gradients come from those; the LU factorisation
is its own primitive (``microgradnp.ops.linalg.LUFactor``)."""

from __future__ import annotations

import math
import operator
from typing import NamedTuple

import numpy as np

from microgradnp import ops
from microgradnp.errors import InvalidArgumentError, LinAlgError
from microgradnp.ops import matmul
from microgradnp.ops.linalg import Geqrf, LUFactor, lu_factor_arrays
from microgradnp.ops.linalg import lu_unpack as _unpacked
from microgradnp.ops.out_argument import LINALG_TAKES_OUT, accept_out
from microgradnp.ops.primitive import reads_values as _reads_values
from microgradnp.ops.torch_shape import (
    _at_least_2d,
    _mT,
    _square,
    cholesky,
    cross,
    det,
    diagonal,
    eigh,
    eigvalsh,
    inv,
    lstsq,
    matrix_exp,
    matrix_norm,
    matrix_power,
    multi_dot,
    norm,
    pinv,
    qr,
    slogdet,
    solve,
    solve_triangular,
    svd,
    svdvals,
    vecdot,
    vector_norm,
)
from microgradnp.tensor import Tensor, _data, _rng

__all__ = ["LinAlgError", "cholesky", "cholesky_ex", "cond", "cross", "det", "diagonal", "eig", "eigh", "eigvals",
           "eigvalsh", "householder_product", "inv", "inv_ex", "lstsq", "lu", "lu_factor", "lu_factor_ex",
           "lu_solve", "matmul", "matrix_exp", "matrix_norm", "matrix_power", "matrix_rank", "multi_dot", "norm",
           "pinv", "qr", "slogdet", "solve", "solve_ex", "solve_triangular", "svd", "svdvals", "tensorinv",
           "tensorsolve", "vander", "vecdot", "vector_norm"]


class InvExResult(NamedTuple):
    """What ``inv_ex`` returns, as ``torch.return_types.linalg_inv_ex``."""

    inverse: Tensor
    info: Tensor


class CholeskyExResult(NamedTuple):
    """What ``cholesky_ex`` returns, as ``torch.return_types.linalg_cholesky_ex``."""

    L: Tensor
    info: Tensor


class SolveExResult(NamedTuple):
    """What ``solve_ex`` returns, as ``torch.return_types.linalg_solve_ex``."""

    result: Tensor
    info: Tensor


class LUFactorResult(NamedTuple):
    """What ``lu_factor`` returns, as ``torch.return_types.linalg_lu_factor``."""

    LU: Tensor
    pivots: Tensor


class LUFactorExResult(NamedTuple):
    """What ``lu_factor_ex`` returns, as ``torch.return_types.linalg_lu_factor_ex``."""

    LU: Tensor
    pivots: Tensor
    info: Tensor


class LUResult(NamedTuple):
    """What ``lu`` returns, as ``torch.return_types.linalg_lu``."""

    P: Tensor
    L: Tensor
    U: Tensor


def _array(x) -> np.ndarray:
    return np.asarray(_data(x))


# -- errors reported in ``info`` ----------------------------------------------------------------


def _check_info(function: str, info: np.ndarray, problem) -> None:
    """Raise ``LinAlgError`` (as PyTorch's ``check_errors=True``) for the first matrix with
    ``info > 0``; ``problem(code)`` says what went wrong."""
    failed = np.flatnonzero(np.asarray(info) > 0)  # (flat indices: a single matrix's 0-d info too)
    if failed.size:
        where = f"(Batch element {int(failed[0])}): " if np.ndim(info) else ""
        raise LinAlgError(f"linalg.{function}: {where}{problem(int(np.ravel(info)[failed[0]]))}")


def _singular(problem_function: str, A, check_errors: bool):
    """The getrf ``info`` of each matrix of ``A`` (int32, A's batch shape), after raising for
    the singular ones when ``check_errors``; and ``A`` with its singular matrices replaced by
    the identity, so that ``inv`` and ``solve`` run on the others (and give them gradients)."""
    _reads_values(problem_function)  # the result depends on which matrices are singular
    info = lu_factor_arrays(_array(A))[2]
    if check_errors:
        _check_info(problem_function, info, lambda j: (
            f"The diagonal element {j} of its LU factor U is zero: the input matrix is singular."))
    singular = info > 0
    if singular.any():
        eye = np.eye(np.shape(_data(A))[-1], dtype=bool)
        A = ops.where(singular[..., None, None], eye, A)
    return A, singular, info


def _solve_nonsingular(A, B=None, *, left: bool = True):
    """``solve(A, B, left=left)`` (``inv(A)`` when ``B`` is None) for matrices that ``_singular``
    found not singular. NumPy's LAPACK can still meet an exact zero pivot where that LU
    factorisation (microgradnp's own getrf, rounding differently) met a tiny one; PyTorch returns
    huge values there, and so does this, solving with that same factorisation: the ``_ex``
    functions never raise without ``check_errors``, and their results agree with ``info``."""
    try:
        return inv(A) if B is None else solve(A, B, left=left)
    except LinAlgError:
        lu_, pivots, _ = LUFactor.apply(A)
        if B is None:
            return lu_solve(lu_, pivots, np.eye(np.shape(_data(A))[-1], dtype=_array(A).dtype))
        b_shape = np.shape(_data(B))  # (solve's rule for a vector B:)
        vector = len(b_shape) == 1 or b_shape == np.shape(_data(A))[:-1]
        out = lu_solve(lu_, pivots, ops.expand_dims(B, -1) if vector else B, left=left)
        return ops.squeeze(out, axis=-1) if vector else out


def inv_ex(A, *, check_errors: bool = False):
    """``(inverse, info)``, as ``torch.linalg.inv_ex``: the inverse of each matrix without
    raising for singular ones; ``info`` (int32, A's batch shape) is 0, or the (1-based) index of
    the diagonal entry of A's LU factor U that is exactly zero. The inverses of singular
    matrices are nan here (PyTorch leaves whatever LAPACK computed) and have no gradient.

    Raises:
        ValueError: if the matrices are not square.
        LinAlgError: with ``check_errors=True``, if a matrix is singular.
    """
    _square("inv_ex", A)
    A, singular, info = _singular("inv_ex", A, check_errors)
    out = _solve_nonsingular(A)
    if singular.any():
        out = ops.where(singular[..., None, None], np.nan, out)
    return InvExResult(out, Tensor._wrap(info))


def solve_ex(A, B, *, left: bool = True, check_errors: bool = False):
    """``(result, info)``, as ``torch.linalg.solve_ex``: ``solve(A, B, left=left)`` without
    raising for singular ``A``; ``info`` as ``inv_ex``'s (A's batch shape), the results of
    singular matrices nan here.

    Raises:
        ValueError: if ``A`` is not square or the shapes do not fit.
        LinAlgError: with ``check_errors=True``, if a matrix is singular.
    """
    _square("solve_ex", A)
    a_shape, b_shape = np.shape(_data(A)), np.shape(_data(B))
    A, singular, info = _singular("solve_ex", A, check_errors)
    out = _solve_nonsingular(A, B, left=left)
    if singular.any():
        # solve's rule: B is a vector (and so is each result) if 1-D or of A's shape without its last axis.
        vector = len(b_shape) == 1 or b_shape == a_shape[:-1]
        out = ops.where(singular[..., None] if vector else singular[..., None, None], np.nan, out)
    return SolveExResult(out, Tensor._wrap(info))


def _cholesky_info(a: np.ndarray) -> np.ndarray:
    """LAPACK ``potrf``'s ``info`` for each matrix (from its lower triangle): 0, or the order of
    the first leading minor that is not positive-definite. NumPy's cholesky raises for the whole
    batch instead, so this is the textbook algorithm, vectorised over the batch."""
    n = a.shape[-1]
    a = a.reshape(math.prod(a.shape[:-2]), n, n)  # (not -1: an empty matrix has size 0)
    low = np.zeros(a.shape, dtype=a.dtype if a.dtype.kind == "f" else np.float64)
    info = np.zeros(a.shape[0], dtype=np.int32)
    for j in range(n):
        d = a[:, j, j] - np.einsum("bk,bk->b", low[:, j, :j], low[:, j, :j])
        failed = ~(d > 0)  # (nan too)
        info[failed & (info == 0)] = j + 1
        low[:, j, j] = np.sqrt(np.where(failed, 1, d))  # carry on with the others
        low[:, j + 1 :, j] = (a[:, j + 1 :, j] - np.einsum("bik,bk->bi", low[:, j + 1 :, :j], low[:, j, :j])) \
            / low[:, j, j, None]
    return info


def cholesky_ex(A, *, upper: bool = False, check_errors: bool = False):
    """``(L, info)``, as ``torch.linalg.cholesky_ex``: the Cholesky factor of each matrix without
    raising for one that is not positive-definite; ``info`` (int32, A's batch shape) is 0, or the
    order of the leading minor that is not positive-definite. The factors of those matrices are
    nan here (PyTorch leaves LAPACK's partial result) and have no gradient.

    Raises:
        ValueError: if the matrices are not square.
        LinAlgError: with ``check_errors=True``, if a matrix is not positive-definite.
    """
    _square("cholesky_ex", A)
    _reads_values("cholesky_ex")
    shape = np.shape(_data(A))
    info = _cholesky_info(_array(A)).reshape(shape[:-2])
    if check_errors:
        _check_info("cholesky_ex", info, lambda j: (
            "The factorization could not be completed because the input is not positive-definite (the "
            f"leading minor of order {j} is not positive-definite)."))
    failed = (info > 0)[..., None, None]
    if not failed.any():
        return CholeskyExResult(cholesky(A, upper=upper), Tensor._wrap(info))
    out = cholesky(ops.where(failed, np.eye(shape[-1], dtype=bool), A), upper=upper)
    return CholeskyExResult(ops.where(failed, np.nan, out), Tensor._wrap(info))


# -- LU -----------------------------------------------------------------------------------------


def _no_pivoting(function: str, pivot: bool) -> None:
    if not pivot:
        raise NotImplementedError(f"linalg.{function}: LU without pivoting is not implemented (PyTorch has it "
                                  "on CUDA only); use pivot=True")


def lu_factor_ex(A, *, pivot: bool = True, check_errors: bool = False):
    """``(LU, pivots, info)``, as ``torch.linalg.lu_factor_ex``: the LU decomposition with
    partial pivoting, ``P A = L U``, of each (m, n) matrix, packed as LAPACK's: L (unit
    diagonal, not stored) below the diagonal of ``LU`` and U on and above it; ``pivots``
    (int32, (..., min(m, n))) the 1-based rows swapped at each step; ``info`` 0, or the index of
    the first zero on U's diagonal. Differentiable in ``LU`` (PyTorch's rule).

    Raises:
        ValueError: if ``A`` has fewer than 2 dimensions.
        NotImplementedError: for ``pivot=False`` (as PyTorch on the CPU).
        LinAlgError: with ``check_errors=True``, if a matrix is singular.
    """
    _at_least_2d("lu_factor_ex", A)
    _no_pivoting("lu_factor_ex", pivot)
    lu_, pivots, info = LUFactor.apply(A)
    if check_errors:
        _check_info("lu_factor_ex", info.data, lambda j: f"U[{j},{j}] is zero (the matrix is singular).")
    return LUFactorExResult(lu_, pivots, info)


def lu_factor(A, *, pivot: bool = True):
    """``(LU, pivots)``, as ``torch.linalg.lu_factor``: ``lu_factor_ex`` that raises for a
    singular matrix (``lu`` and ``lu_factor_ex`` factor those too).

    Raises:
        LinAlgError: if a matrix is singular (a zero on U's diagonal would divide in ``lu_solve``).
    """
    _at_least_2d("lu_factor", A)
    lu_, pivots, info = lu_factor_ex(A, pivot=pivot)
    _check_info("lu_factor", info.data, lambda j: (
        f"U[{j},{j}] is zero and using it on lu_solve would result in a division by zero. If you still want "
        "to perform the factorization, consider calling linalg.lu(A, pivot) or linalg.lu_factor_ex(A, pivot)"))
    return LUFactorResult(lu_, pivots)


def lu(A, *, pivot: bool = True):
    """``(P, L, U)`` with ``A = P @ L @ U``, as ``torch.linalg.lu``: P a permutation matrix, L
    (m, k) unit lower triangular, U (k, n) upper triangular, k = min(m, n); singular matrices
    too. L and U are differentiable (PyTorch's rule)."""
    _at_least_2d("lu", A)
    _no_pivoting("lu", pivot)
    lu_, pivots, _ = LUFactor.apply(A)
    p, low, up = _unpacked(lu_, pivots)
    return LUResult(Tensor._wrap(p), low, up)


def lu_unpack(LU_data, LU_pivots, unpack_data: bool = True, unpack_pivots: bool = True):
    """``(P, L, U)`` from ``lu_factor``'s packed ``LU`` and ``pivots``, as ``torch.lu_unpack``
    (``mg.lu_unpack``): L and U differentiable in ``LU``; without ``unpack_data`` L and U,
    without ``unpack_pivots`` P, are empty tensors."""
    _at_least_2d("lu_unpack", LU_data)
    if unpack_pivots:
        _reads_values("lu_unpack")  # P is built from the pivots' values
    p, low, up = _unpacked(LU_data if isinstance(LU_data, Tensor) else Tensor(_array(LU_data)), LU_pivots)
    empty = Tensor(np.empty(0, _array(LU_data).dtype))
    return LUResult(Tensor._wrap(p) if unpack_pivots else empty, low if unpack_data else empty,
                    up if unpack_data else empty)


def lu_solve(LU, pivots, B, *, left: bool = True, adjoint: bool = False):
    """The solution ``X`` of ``A X = B`` from ``(LU, pivots) = lu_factor(A)``, as
    ``torch.linalg.lu_solve``: ``X A = B`` with ``left=False``, ``A^T`` in place of ``A`` with
    ``adjoint=True``; batch axes broadcast. Written as two triangular solves of the unpacked
    factors, so it is differentiable in ``LU`` and ``B`` (the gradients PyTorch's
    ``derivatives.yaml`` gives: ``linalg_lu_solve_LU`` and a solve with the adjoint).

    Raises:
        ValueError: if ``LU`` is not square, ``B`` has fewer than 2 dimensions, or they do not fit.
    """
    _square("lu_solve", LU)
    if np.ndim(_data(B)) < 2:
        raise InvalidArgumentError(f"linalg.lu_solve: B must have at least 2 dimensions (a vector b is "
                                   f"b[..., None]), got shape {np.shape(_data(B))}")
    n, b_shape = np.shape(_data(LU))[-1], np.shape(_data(B))
    if b_shape[-2 if left else -1] != n:
        raise InvalidArgumentError(
            f"linalg.lu_solve: Incompatible shapes of A and B for the equation "
            f"{'AX = B' if left else 'XA = B'} ({n}x{n} and {b_shape[-2]}x{b_shape[-1]})")
    _reads_values("lu_solve")  # P is built from the pivots' values
    if not left:  # X A = B is A^T X^T = B^T
        return _mT(lu_solve(LU, pivots, _mT(B), adjoint=not adjoint))
    p, low, up = _unpacked(LU if isinstance(LU, Tensor) else _array(LU), pivots)
    # L and U are exactly triangular (and |L| <= 1 below its diagonal), so solve's pivoted LU of
    # them swaps no rows: it is the triangular substitution.
    if adjoint:  # A^T = U^T L^T P^T
        return matmul(p, solve(_mT(low), solve(_mT(up), B)))
    return solve(up, solve(low, matmul(_mT(p), B)))


# -- rank and condition number ------------------------------------------------------------------


def matrix_rank(input, *, atol=None, rtol=None, hermitian: bool = False):  # noqa: A002  (PyTorch's name)
    """The number of singular values (absolute eigenvalues with ``hermitian=True``) above
    ``max(atol, rtol * largest)``, as ``torch.linalg.matrix_rank``: an int64 tensor of A's batch
    shape, without gradient. ``rtol`` defaults to eps * max(m, n), or to 0 where ``atol`` is
    given and positive; both may be tensors broadcasting over the batch."""
    A = input
    _at_least_2d("matrix_rank", A)
    _reads_values("matrix_rank")
    a = _array(A)
    if 0 in a.shape[-2:]:
        return Tensor._wrap(np.zeros(a.shape[:-2], dtype=np.int64))
    values = np.abs(np.linalg.eigvalsh(a)) if hermitian else np.linalg.svd(a, compute_uv=False)
    atol_ = np.zeros(()) if atol is None else np.asarray(_data(atol), dtype=values.dtype)
    if rtol is None:
        rtol = np.finfo(values.dtype).eps * max(a.shape[-2:])
        rtol = np.where(atol_ > 0, 0.0, rtol) if atol is not None else np.asarray(rtol)
    rtol = np.asarray(_data(rtol), dtype=values.dtype)
    tol = np.maximum(atol_[..., None], rtol[..., None] * values.max(axis=-1, keepdims=True))
    return Tensor._wrap((values > tol).sum(axis=-1).astype(np.int64))


_COND_ORDERS = (None, 2, -2, "fro", "nuc", math.inf, -math.inf, 1, -1)


def cond(input, p=None):  # noqa: A002  (PyTorch's name)
    """The condition number of each matrix, as ``torch.linalg.cond``: for ``p`` None, 2 or -2
    the ratio of the largest to the smallest singular value (smallest to largest for -2; any
    (m, n) matrix), otherwise ``matrix_norm(A, p) * matrix_norm(inv(A), p)`` for "fro", "nuc",
    inf, -inf, 1 or -1 (square matrices; inf for a singular one). Differentiable through
    ``svdvals`` or ``matrix_norm`` and ``inv`` (a singular matrix's inf has no gradient).

    Raises:
        ValueError: for another ``p``, fewer than 2 dimensions, or a non-square matrix where
            ``p`` needs one.
    """
    A = input
    if not any(p == q and type(p) is not bool for q in _COND_ORDERS) and p is not None:
        raise InvalidArgumentError(f"linalg.cond got an invalid norm type: {p!r} (use None, 2, -2, 'fro', 'nuc', "
                                   "inf, -inf, 1 or -1)")
    _at_least_2d("linalg.cond", A)
    shape = np.shape(_data(A))
    if p in (None, 2, -2):
        if 0 in shape[-2:]:  # as PyTorch (NumPy has no condition number for empty matrices)
            return Tensor._wrap(np.zeros(shape[:-2], dtype=_array(A).dtype))
        s = svdvals(A)
        return s[..., -1] / s[..., 0] if p == -2 else s[..., 0] / s[..., -1]
    _square(f"linalg.cond(p={p!r})", A)
    if shape[-1] == 0:
        return Tensor._wrap(np.zeros(shape[:-2], dtype=_array(A).dtype))
    A, singular, _ = _singular("cond", A, False)
    out = matrix_norm(A, p) * matrix_norm(_solve_nonsingular(A), p)
    return ops.where(singular, np.inf, out) if singular.any() else out


# -- products and reshaped systems --------------------------------------------------------------


def householder_product(A, tau):
    """The first n columns of the product of Householder matrices ``H_1 ... H_k``, as
    ``torch.linalg.householder_product`` (LAPACK's ``orgqr``): ``H_i = I - tau_i v_i v_i^T``,
    ``v_i`` with zeros above position i, 1 at i and ``A[i+1:, i]`` below. Built from matrix
    products, so differentiable in ``A`` (below its diagonal) and ``tau``.

    Raises:
        ValueError: unless ``A`` is (..., m, n) with m >= n and ``tau`` (..., k) with k <= n.
    """
    _at_least_2d("householder_product", A)
    (m, n), k = np.shape(_data(A))[-2:], np.shape(_data(tau))[-1:]
    if m < n:
        raise InvalidArgumentError(f"linalg.householder_product: A.shape[-2] must be greater than or equal to "
                                   f"A.shape[-1], got shape {np.shape(_data(A))}")
    if np.ndim(_data(tau)) != np.ndim(_data(A)) - 1 or k[0] > n:
        raise InvalidArgumentError(f"linalg.householder_product: tau must be (..., k) with k <= A.shape[-1] and A's "
                                   f"batch shape, got A {np.shape(_data(A))} and tau {np.shape(_data(tau))}")
    k = k[0]
    v = ops.tril(A[..., :, :k], -1) + np.eye(m, k, dtype=_array(A).dtype)  # the v_i as columns
    q = np.eye(m, n, dtype=_array(A).dtype)
    for i in reversed(range(k)):  # H_i (H_i+1 ... H_k I), each H_i applied as a rank-one update
        vi = v[..., :, i : i + 1]
        q = q - (tau[..., i, None, None] * vi) @ (_mT(vi) @ q)
    return q


def tensorinv(A, ind: int = 2):
    """The inverse of ``A`` for ``tensordot(·, ·, ind)``, as ``torch.linalg.tensorinv``: ``A``
    reshaped to a (prod(shape[:ind]), prod(shape[ind:])) matrix, inverted, reshaped to
    ``shape[ind:] + shape[:ind]``.

    Raises:
        ValueError: if ``ind`` is not positive or the two products differ.
    """
    ind = operator.index(ind)
    if ind <= 0:
        raise InvalidArgumentError(f"linalg.tensorinv: Expected a strictly positive integer for 'ind', but got {ind}")
    shape = np.shape(_data(A))
    rows, cols = math.prod(shape[:ind]), math.prod(shape[ind:])
    if rows != cols:
        raise InvalidArgumentError(f"linalg.tensorinv: Expected prod(A.shape[ind:]) == prod(A.shape[:ind]), but got "
                                   f"{cols} != {rows} (shape {shape}, ind={ind})")
    return ops.reshape(inv(ops.reshape(A, (rows, cols))), shape[ind:] + shape[:ind])


def tensorsolve(A, B, dims=None):
    """The ``X`` with ``tensordot(A, X, X.ndim) == B``, as ``torch.linalg.tensorsolve``: the
    axes ``dims`` of ``A`` are first moved to its end; X has shape ``A.shape[B.ndim:]``.

    Raises:
        ValueError: unless ``prod(A.shape[B.ndim:]) == prod(A.shape[:B.ndim]) == B.numel()``.
    """
    if dims is not None:
        dims = [dims] if isinstance(dims, int) else list(dims)
        ndim = np.ndim(_data(A))
        A = ops.moveaxis(A, dims, list(range(ndim - len(dims), ndim)))
    shape, b_shape = np.shape(_data(A)), np.shape(_data(B))
    out_shape = shape[len(b_shape):]
    rows, cols = math.prod(shape[:len(b_shape)]), math.prod(out_shape)
    if not rows == cols == math.prod(b_shape):
        raise InvalidArgumentError(
            f"linalg.tensorsolve: A of shape {shape} and B of shape {b_shape} do not fit: expected "
            f"prod(A.shape[B.ndim:]) == prod(A.shape[:B.ndim]) == B.numel(), got {cols}, {rows} and "
            f"{math.prod(b_shape)}")
    x = solve(ops.reshape(A, (rows, cols)), ops.reshape(B, (rows,)))
    return ops.reshape(x, out_shape)


def vander(x, *, N: int | None = None):  # N: PyTorch's argument name
    """The Vandermonde matrix, as ``torch.linalg.vander``: shape (..., n, N) with columns
    ``x**0, x**1, ..., x**(N-1)`` (increasing powers, unlike ``np.vander``); N defaults to n.
    Built with ``cumprod``, so its gradient is right at ``x = 0`` too.

    Raises:
        ValueError: if ``x`` is 0-d or ``N`` is less than 2.
    """
    shape = np.shape(_data(x))
    if not shape:
        raise InvalidArgumentError("linalg.vander: x must have at least one dimension, got a 0-d tensor")
    N = shape[-1] if N is None else operator.index(N)
    if N < 2:
        raise InvalidArgumentError(f"linalg.vander: N must be greater than 1, got {N}")
    powers = ops.cumprod(ops.broadcast_to(ops.expand_dims(x, -1), (*shape, N - 1)), axis=-1)
    ones = np.ones((*shape, 1), dtype=_array(powers).dtype)
    return ops.concatenate([ones, powers], axis=-1)


# -- general eigenvalue problems: complex results ------------------------------------------------


def _complex_refused(function: str):
    return NotImplementedError(
        f"linalg.{function}: the eigenvalues of a general real matrix can be complex, and microgradnp "
        "tensors are real (no complex dtypes), so it has no eig/eigvals. For a symmetric matrix use "
        "mg.linalg.eigh (eigenvalues and eigenvectors) or mg.linalg.eigvalsh (eigenvalues); for the "
        "magnitudes of a general matrix's action, mg.linalg.svdvals.")


def eig(A):
    """Refused: ``torch.linalg.eig`` returns complex tensors, which microgradnp does not have.

    Raises:
        NotImplementedError: always, pointing to ``eigh`` for symmetric matrices.
    """
    raise _complex_refused("eig")


def eigvals(A):
    """Refused: ``torch.linalg.eigvals`` returns complex tensors, which microgradnp does not have.

    Raises:
        NotImplementedError: always, pointing to ``eigvalsh`` for symmetric matrices.
    """
    raise _complex_refused("eigvals")



# -- torch's top-level names for the Cholesky and LU solvers (not in torch.linalg) ---------------


class TriangularSolveResult(NamedTuple):
    """What ``mg.triangular_solve`` returns, as ``torch.return_types.triangular_solve``."""

    solution: Tensor
    cloned_coefficient: Tensor


def _as_tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(_array(x))


def _check_cholesky_solve(function: str, B, L) -> None:
    _square(function, L)
    if np.ndim(_data(B)) < 2:
        raise InvalidArgumentError(f"{function}: the right-hand side must have at least 2 dimensions (a vector b "
                                   f"is b[..., None]), got shape {np.shape(_data(B))}")
    n, rows = np.shape(_data(L))[-1], np.shape(_data(B))[-2]
    if rows != n:
        raise InvalidArgumentError(f"{function}: the right-hand side has {rows} rows but the factor is {n}x{n}; "
                                   "they must match")


def cholesky_solve(input, input2, upper: bool = False):  # noqa: A002  (PyTorch's names)
    """The solution ``X`` of ``A X = B`` from the Cholesky factor of ``A``, as
    ``torch.cholesky_solve(B, L, upper)``: ``A = L L^T`` with ``L`` lower triangular, or
    ``A = U^T U`` with ``upper=True``; only that triangle of ``L`` is read, and batch axes
    broadcast. Its gradient in ``L`` is PyTorch's, that of ``(L L^T)^-1 B`` in the whole
    matrix: ``-(G X^T + X G^T) L`` with ``G = A^-1`` times the output's gradient (``-U (...)``
    for ``upper``), so it matches PyTorch's on and off the triangle.

    Raises:
        ValueError: if ``L`` is not square or ``B`` does not have its number of rows.
    """
    B, L = input, input2
    _check_cholesky_solve("cholesky_solve", B, L)
    L = _as_tensor(L)
    # The triangle's values with the whole matrix's gradient (PyTorch's rule reads all of L).
    outside = (L - ops.triu(L)) if upper else (L - ops.tril(L))
    factor = L - outside.detach()
    if upper:  # A = U^T U: U^T Y = B, then U X = Y
        return solve(factor, solve(_mT(factor), B))
    return solve(_mT(factor), solve(factor, B))  # A = L L^T: L Y = B, then L^T X = Y


def cholesky_inverse(input, upper: bool = False):  # noqa: A002  (PyTorch's name)
    """The inverse of ``A`` from its Cholesky factor, as ``torch.cholesky_inverse``:
    ``cholesky_solve`` of the identity (``A = L L^T``, or ``U^T U`` with ``upper=True``)."""
    L = input
    _square("cholesky_inverse", L)
    n = np.shape(_data(L))[-1]
    return cholesky_solve(np.eye(n, dtype=_array(L).dtype), L, upper=upper)


def triangular_solve(input, A, upper: bool = True, transpose: bool = False,  # noqa: A002  (PyTorch's names)
                     unitriangular: bool = False):
    """``(solution, cloned_coefficient)`` of ``A X = b`` for a triangular ``A`` (``A^T X = b``
    with ``transpose=True``), as the deprecated ``torch.triangular_solve``; note its argument
    order (``b`` first) and that ``upper`` defaults to True. ``linalg.solve_triangular`` is
    its replacement. The gradient of ``A`` lies on its triangle, as PyTorch's."""
    b = input
    _square("triangular_solve", A)
    _at_least_2d("triangular_solve", b)
    A = _as_tensor(A)
    if transpose:
        solution = solve_triangular(_mT(A), b, upper=not upper, unitriangular=unitriangular)
    else:
        solution = solve_triangular(A, b, upper=upper, unitriangular=unitriangular)
    return TriangularSolveResult(solution, A.clone())


def torch_lu(A, pivot: bool = True, get_infos: bool = False):
    """``(LU, pivots)``, or ``(LU, pivots, infos)`` with ``get_infos=True``, as the deprecated
    ``torch.lu`` (``mg.lu``): ``linalg.lu_factor_ex`` without its error check."""
    lu_, pivots, info = lu_factor_ex(A, pivot=pivot)
    return (lu_, pivots, info) if get_infos else (lu_, pivots)


def torch_lu_solve(b, LU_data, LU_pivots):
    """The solution of ``A X = b`` from ``torch.lu``'s factors, as the deprecated
    ``torch.lu_solve(b, LU_data, LU_pivots)`` (``mg.lu_solve``): ``linalg.lu_solve(LU, pivots, b)``."""
    return lu_solve(LU_data, LU_pivots, b)



# -- randomized low-rank decompositions (torch.svd_lowrank, torch.pca_lowrank) ------------------


def _approximate_basis(A, q: int, niter: int, rng):
    """An orthonormal (m, q) basis whose span approximates ``A``'s range: ``A`` times a
    Gaussian test matrix, then ``niter`` power iterations, each re-orthonormalised by QR
    (Halko, Martinsson and Tropp 2009, algorithm 4.4, as PyTorch's ``get_approximate_basis``)."""
    test = Tensor(np.asarray(rng.standard_normal((np.shape(_data(A))[-1], q)), dtype=_array(A).dtype))
    basis = qr(matmul(A, test)).Q
    for _ in range(niter):
        basis = qr(matmul(_mT(A), basis)).Q
        basis = qr(matmul(A, basis)).Q
    return basis


def svd_lowrank(A, q: int | None = 6, niter: int | None = 2, M=None, *, rng=None):
    """``(U, S, V)`` with ``A ~ U diag(S) V^T`` of rank ``q``, as ``torch.svd_lowrank``: a
    randomized SVD (Halko et al. 2009, algorithm 5.1) of ``A - M`` (``M`` broadcast to ``A``'s
    shape, or none), for batches too; differentiable, as compositions of ``qr`` and ``svd``.
    The Gaussian test matrix comes from ``rng`` (a seed or ``np.random.Generator``), else from
    the global generator that ``mg.manual_seed`` seeds; ``q`` should not exceed min(m, n)."""
    q, niter = 6 if q is None else operator.index(q), 2 if niter is None else operator.index(niter)
    _at_least_2d("svd_lowrank", A)
    if q < 0 or niter < 0:
        raise InvalidArgumentError(f"svd_lowrank: q and niter must be non-negative, got q={q}, niter={niter}")
    A = _as_tensor(A)
    if M is not None:
        A = A - ops.broadcast_to(M, A.shape)
    m, n = A.shape[-2:]
    if m < n:  # (the basis is found for the taller of A and A^T)
        A = _mT(A)
    basis = _approximate_basis(A, q, niter, _rng(rng))
    u, s, vh = svd(matmul(_mT(basis), A), full_matrices=False)
    u, v = matmul(basis, u), _mT(vh)
    return (v, s, u) if m < n else (u, s, v)


def pca_lowrank(A, q: int | None = None, center: bool = True, niter: int = 2, *, rng=None):
    """``(U, S, V)``, the principal components of the rows of ``A`` as ``torch.pca_lowrank``:
    ``svd_lowrank`` of ``A`` minus its column means (``center=True``); ``V``'s columns are the
    principal directions, ``S**2 / (m - 1)`` the variances along them. ``q`` defaults to
    min(6, m, n).

    Raises:
        ValueError: if ``q`` is negative or greater than min(m, n), or ``niter`` negative.
    """
    _at_least_2d("pca_lowrank", A)
    m, n = np.shape(_data(A))[-2:]
    q = min(6, m, n) if q is None else operator.index(q)
    if not 0 <= q <= min(m, n):
        raise InvalidArgumentError(f"pca_lowrank: q(={q}) must be non-negative integer and not greater than "
                                   f"min(m, n)={min(m, n)}")
    if operator.index(niter) < 0:
        raise InvalidArgumentError(f"pca_lowrank: niter(={niter}) must be non-negative integer")
    A = _as_tensor(A)
    if center:
        A = A - ops.mean(A, axis=-2, keepdims=True)
    return svd_lowrank(A, q, niter=niter, rng=rng)


# -- torch's Householder QR names: geqrf, orgqr, ormqr -----------------------------------------


class GeqrfResult(NamedTuple):
    """What ``mg.geqrf`` returns, as ``torch.return_types.geqrf``."""

    a: Tensor
    tau: Tensor


def geqrf(input):  # noqa: A002  (PyTorch's argument name)
    """``(a, tau)``, the QR decomposition of each (m, n) matrix as LAPACK's ``geqrf`` packs
    it, as ``torch.geqrf``: R on and above the diagonal of ``a``, below it the Householder
    vectors ``v_i`` (their 1 at position i not stored), and ``tau`` (..., min(m, n)) their
    scales, so that ``Q = H_1 ... H_k`` with ``H_i = I - tau_i v_i v_i^T`` (``orgqr`` and
    ``ormqr`` use them). Not differentiable, as in PyTorch (backward through it raises); use
    ``linalg.qr`` for gradients.

    Raises:
        ValueError: unless ``input`` is a matrix or a batch of matrices.
    """
    _at_least_2d("geqrf", input)
    return GeqrfResult(*Geqrf.apply(input))


def orgqr(input, input2):  # noqa: A002  (PyTorch's names)
    """``torch.orgqr``: the first n columns of ``Q`` from ``geqrf``'s output ``(input, input2)``
    (``input2`` is ``tau``), the same as ``linalg.householder_product``."""
    return householder_product(input, input2)


def ormqr(input, input2, input3, left: bool = True, transpose: bool = False):  # noqa: A002  (PyTorch's names)
    """``Q @ other`` with ``Q = H_1 ... H_k`` (m x m) from ``geqrf``'s ``(input, tau)``, as
    ``torch.ormqr`` (whose names are ``input2`` for ``tau``, ``input3`` for ``other``):
    ``Q^T @ other`` with ``transpose=True``, and ``other @ Q`` (or ``other @ Q^T``) with
    ``left=False``. Each reflection is applied as a rank-one update, so the
    result is differentiable in all three, and ``Q`` is never formed.

    Raises:
        ValueError: unless ``input`` is (..., m, n), ``tau`` (..., k) with k <= min(m, n), and
            ``other`` has m rows (``left``) or m columns (``left=False``), all three with the
            same batch dimensions (they do not broadcast, as in PyTorch).
    """
    tau, other = input2, input3
    _at_least_2d("ormqr", input)
    _at_least_2d("ormqr", other)
    shapes = {name: np.shape(_data(x)) for name, x in (("input", input), ("tau", tau), ("other", other))}
    batch = shapes["input"][:-2]
    if len(shapes["other"]) != len(shapes["input"]):
        raise InvalidArgumentError(f"ormqr: expected other to have the same number of dimensions as input, got "
                                   f"{len(shapes['other'])} and {len(shapes['input'])} (no broadcasting, as PyTorch)")
    if len(shapes["tau"]) != len(batch) + 1:
        raise InvalidArgumentError(f"ormqr: expected tau to have one dimension less than input, got tau.ndim "
                                   f"{len(shapes['tau'])} and input.ndim {len(shapes['input'])}")
    for name, lead in (("tau", shapes["tau"][:-1]), ("other", shapes["other"][:-2])):
        if lead != batch:
            raise InvalidArgumentError(f"ormqr: expected the batch dimensions of {name} to be equal to "
                                       f"input.shape[:-2] = {list(batch)}, got {list(lead)}")
    (m, n), k = shapes["input"][-2:], shapes["tau"][-1]
    if k > n or k > m:
        raise InvalidArgumentError(f"ormqr: tau.shape[-1] ({k}) must be less than or equal to input.shape[-1] ({n}) "
                                   f"and input.shape[-2] ({m})")
    length = np.shape(_data(other))[-2 if left else -1]
    if length != m:
        side = "other.shape[-2]" if left else "other.shape[-1]"
        raise InvalidArgumentError(f"ormqr: {side} ({length}) must be equal to input.shape[-2] ({m})")
    packed, tau, result = _as_tensor(input), _as_tensor(tau), _as_tensor(other)
    v = ops.tril(packed[..., :, :k], -1) + np.eye(m, k, dtype=_array(packed).dtype)  # the v_i as columns
    # Q = H_1 ... H_k: Q C applies H_k first, Q^T C H_1 first; C Q applies H_1 first, C Q^T H_k first.
    for i in (range(k) if left == transpose else reversed(range(k))):
        vi, scale = v[..., :, i : i + 1], tau[..., i, None, None]
        reflected = (scale * vi) @ (_mT(vi) @ result) if left else (result @ vi) @ (scale * _mT(vi))
        result = result - reflected
    return result


accept_out(globals(), LINALG_TAKES_OUT)  # out=, as torch.linalg's functions take it
