"""PyTorch's linear algebra, shape and indexing methods: ``t.det()``, ``t.inverse()``,
``t.cholesky()``, ``t.qr()``, ``t.svd()``, ``t.kron()``, ``t.movedim()``, ``t.rot90()``,
``t.unfold()``, ``t.index_add()``, ``t.scatter_reduce()``, ``t.unique()`` and friends.

The decompositions (inverse, det, slogdet, solve, cholesky, qr, svd, eigh) are one
primitive each, their forward beside their vector-Jacobian rule (PyTorch's, from its
``derivatives.yaml``); the rules use only operations that work on both ndarrays and
Tensors, so gradients of gradients work. Everything else is written with existing
differentiable operations."""

from __future__ import annotations

import math
import operator
from typing import NamedTuple

import numpy as np

from microgradnp import ops
from microgradnp.autograd.grad_mode import mode, no_grad
from microgradnp.errors import DtypeError, IndexOutOfRangeError, InvalidArgumentError, LinAlgError
from microgradnp.ops._aliases import torch_names
from microgradnp.ops.indexing import ScatterAdd, _integers
from microgradnp.ops.primitive import Primitive, normalize_axes
from microgradnp.ops.primitive import reads_values as _reads_values
from microgradnp.ops.shape import DiagEmbed
from microgradnp.tensor import Tensor, _data, _no_grad_on_data

# -- helpers that work on ndarrays and on Tensors --------------------------------------------


def _mT(x):
    """The last two axes swapped (a batch of matrices transposed)."""
    return np.swapaxes(x, -1, -2)


def _inv(a):
    """``a^-1``; for a singular ndarray, the adjugate over the zero determinant (inf and nan
    entries, as PyTorch's gradients give there) rather than an exception in backward."""
    if isinstance(a, Tensor):
        return Inverse.apply(a)
    try:
        return np.linalg.inv(a)
    except np.linalg.LinAlgError:
        with np.errstate(divide="ignore", invalid="ignore"):
            return _mT(_cofactor(a)) / np.expand_dims(np.expand_dims(np.linalg.det(a), -1), -1)


def _solve(a, b):
    """``a^-1 b`` for a batch of matrices ``b``."""
    return Solve.apply(a, b) if isinstance(a, Tensor) or isinstance(b, Tensor) else np.linalg.solve(a, b)


def _eye_like(x):
    n = x.shape[-1]
    return np.eye(n, dtype=x.dtype)


def _diag_embed(v):
    """A batch of diagonal matrices with ``v`` (..., n) on their diagonals."""
    return np.expand_dims(v, -1) * _eye_like(v)


def _square(function: str, a) -> None:
    shape = np.shape(_data(a))
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise InvalidArgumentError(f"{function}: expects a square matrix or a batch of square matrices (..., n, n), "
                         f"got shape {shape}")


def _at_least_2d(function: str, a) -> None:
    if np.ndim(_data(a)) < 2:
        raise InvalidArgumentError(f"{function}: expects a matrix or a batch of matrices (..., m, n), got shape "
                         f"{np.shape(_data(a))}")


def _saved_outputs(ctx, grads) -> tuple:
    """The outputs a decomposition saved; when backward builds a graph (``create_graph``)
    and one of them is no longer held as a Tensor (``q = x.qr()[0]`` drops R), the
    decomposition is recomputed from the input inside the graph, so that gradients of
    gradients see through it."""
    saved = ctx.saved_tensors
    if any(isinstance(g, Tensor) for g in grads) and not all(isinstance(s, Tensor) for s in saved):
        saved = type(ctx).apply(*ctx.inputs, **ctx.params)
    return saved


def _linalg_error(function: str, error: Exception, fix: str):
    return LinAlgError(f"{function}: {error}; {fix}")  # (as PyTorch's torch.linalg.LinAlgError)


# -- decompositions: one primitive each ---------------------------------------------------------


class Inverse(Primitive):
    """The inverse of (a batch of) square matrices; gradient ``-A^-T g A^-T``."""

    @staticmethod
    def forward(ctx, a):
        try:
            out = np.linalg.inv(a)
        except np.linalg.LinAlgError as error:
            raise _linalg_error("inverse", error, "the matrix is singular (use pinverse for a least-squares "
                                                  "inverse)") from None
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (inv,) = ctx.saved_tensors
        inv_t = _mT(inv)
        return -(inv_t @ grad @ inv_t)


class Solve(Primitive):
    """``X = A^-1 B`` for a batch of matrices ``B``."""

    @staticmethod
    def forward(ctx, a, b):
        try:
            out = np.linalg.solve(a, b)
        except np.linalg.LinAlgError as error:
            raise _linalg_error("solve", error, "the matrix is singular (use lstsq or pinverse)") from None
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, x = ctx.saved_tensors
        grad_b = _solve(_mT(a), grad)
        grad_a = -(grad_b @ _mT(x)) if ctx.needs_input_grad[0] else None
        return grad_a, (grad_b if ctx.needs_input_grad[1] else None)


def _cofactor(a: np.ndarray) -> np.ndarray:
    """The cofactor matrix (d det / d a), well defined for singular matrices too: from the
    SVD a = U diag(s) Vh, it is det(U) det(Vh) U diag(prod of the other s) Vh."""
    u, s, vh = np.linalg.svd(a)
    others = np.where(np.eye(s.shape[-1], dtype=bool), 1, np.expand_dims(s, -2)).prod(-1)
    sign = np.linalg.det(u) * np.linalg.det(vh)
    return (sign[..., None, None] * (u * np.expand_dims(others, -2)) @ vh).astype(a.dtype, copy=False)


class Det(Primitive):
    """The determinant; gradient the cofactor matrix (from the SVD, so singular matrices too)."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.asarray(np.linalg.det(a))

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        grad = np.expand_dims(np.expand_dims(grad, -1), -1)
        if isinstance(a, Tensor):  # building a graph: det(a) a^-T (a must be invertible)
            try:
                inverse = _inv(a)
            except LinAlgError:
                raise LinAlgError("det: the gradient of det's gradient (create_graph=True) at a singular matrix is "
                                  "not implemented (its first gradient, the cofactor matrix, is: use it without "
                                  "create_graph, or move the matrix off the singular set)") from None
            return grad * np.expand_dims(np.expand_dims(Det.apply(a), -1), -1) * _mT(inverse)
        return grad * _cofactor(a)


class SlogDet(Primitive):
    """The sign (no gradient) and log of the absolute determinant (gradient ``A^-T``)."""

    @staticmethod
    def forward(ctx, a):
        sign, logabsdet = np.linalg.slogdet(a)
        sign, logabsdet = np.asarray(sign), np.asarray(logabsdet)
        sign = np.where(np.isnan(logabsdet), 0.0, sign)  # (PyTorch's sign of a nan determinant)
        ctx.save_for_backward(a)
        ctx.mark_non_differentiable(sign)
        ctx.set_materialize_grads(False)
        return sign, logabsdet

    @staticmethod
    def backward(ctx, grad_sign, grad_logabsdet):
        (a,) = ctx.saved_tensors
        if grad_logabsdet is None:
            return None
        return np.expand_dims(np.expand_dims(grad_logabsdet, -1), -1) * _mT(_inv(a))


class Cholesky(Primitive):
    """The Cholesky factor (lower, or upper with ``upper=True``); PyTorch's gradient, symmetric."""

    @staticmethod
    def forward(ctx, a, upper=False):
        try:  # (NumPy reads the lower triangle: for upper=True, that of A^T, which is A's upper one)
            low = np.linalg.cholesky(_mT(a) if upper else a)
        except np.linalg.LinAlgError as error:
            raise _linalg_error("cholesky", error, "the input must be symmetric positive-definite") from None
        ctx.upper = upper
        out = _mT(low).copy() if upper else low
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (low,) = ctx.saved_tensors
        if ctx.upper:
            low, grad = _mT(low), _mT(grad)
        phi = np.tril(_mT(low) @ grad)
        phi = 0.5 * (phi + _mT(np.tril(phi, -1)))
        x = _solve(_mT(low), phi)  # L^-T phi
        return _mT(_solve(_mT(low), _mT(x)))  # (L^-T phi) L^-1


class _Decomposition(Primitive):
    """A decomposition with several outputs (``decompose``, NumPy's function), all saved for
    backward, which gets None for the outputs no gradient reached."""

    decompose = None

    @staticmethod
    def forward(ctx, a, **params):
        outputs = type(ctx).decompose(a, **params)
        ctx.params = params
        ctx.save_for_backward(*outputs)
        ctx.set_materialize_grads(False)
        return tuple(outputs)


class QR(_Decomposition):
    """The QR decomposition; PyTorch's gradient (none for mode='complete' with more rows than columns)."""

    decompose = staticmethod(np.linalg.qr)

    @staticmethod
    def backward(ctx, grad_q, grad_r):
        q, r = _saved_outputs(ctx, (grad_q, grad_r))
        m, n = q.shape[-2], r.shape[-1]
        if ctx.params["mode"] == "complete" and m > n:
            raise RuntimeError("qr: the QR decomposition is not differentiable when mode='complete' and the "
                               "matrix has more rows than columns; use mode='reduced'")
        if grad_q is None:
            ga = grad_r @ _mT(r)
        else:
            ga = -(_mT(q) @ grad_q) if grad_r is None else grad_r @ _mT(r) - _mT(q) @ grad_q
        if m >= n:
            sym = np.triu(ga)
            sym = sym + _mT(sym)
            sym = sym - 0.5 * _diag_embed(np.diagonal(sym, 0, -2, -1))
            ga = q @ sym
            if grad_q is not None:
                ga = ga + grad_q
            return _mT(_solve(r, _mT(ga)))  # ga R^-T
        skew = np.tril(-ga + _mT(ga))
        ga = _mT(_solve(r[..., :m], _mT(q @ skew)))
        ga = np.concatenate([ga, np.zeros((*ga.shape[:-1], n - m), dtype=ga.dtype)], axis=-1)
        return ga if grad_r is None else ga + q @ grad_r


class SVD(_Decomposition):
    """The singular value decomposition ``(U, S, Vh)``; PyTorch's gradient."""

    decompose = staticmethod(np.linalg.svd)

    @staticmethod
    def backward(ctx, gu, gs, gvh):
        u, s, vh = _saved_outputs(ctx, (gu, gs, gvh))
        k = s.shape[-1]
        if ctx.params["full_matrices"]:  # the extra columns of U and rows of Vh carry nothing about A
            u, vh = u[..., :k], vh[..., :k, :]
            gu = None if gu is None else gu[..., :k]
            gvh = None if gvh is None else gvh[..., :k, :]
        m, n = u.shape[-2], vh.shape[-1]
        if gu is None and gvh is None:
            return (u * np.expand_dims(gs, -2)) @ vh
        s_row, s_col = np.expand_dims(s, -2), np.expand_dims(s, -1)
        s2 = s * s
        e = np.expand_dims(s2, -2) - np.expand_dims(s2, -1) + _eye_like(s)
        if gu is not None:
            uhgu = _mT(u) @ gu
            uhgu = uhgu - _mT(uhgu)
        if gvh is not None:
            vhgv = vh @ _mT(gvh)
            vhgv = vhgv - _mT(vhgv)
        if gu is not None and gvh is not None:
            ga = (uhgu * s_row + s_col * vhgv) / e
        elif gu is not None:
            ga = uhgu * (s_row / e)
        else:
            ga = s_col * vhgv / e
        if gs is not None:
            ga = ga + _diag_embed(gs)
        if m > n and gu is not None:
            ga = u @ ga
            gu_sinv = gu / s_row
            ga = ga + gu_sinv - u @ (_mT(u) @ gu_sinv)
            return ga @ vh
        if m < n and gvh is not None:
            ga = ga @ vh
            sinv_gvh = gvh / s_col
            ga = ga + sinv_gvh - (sinv_gvh @ _mT(vh)) @ vh
            return u @ ga
        return u @ (ga @ vh)


class Eigh(_Decomposition):
    """The eigenvalues and eigenvectors of a symmetric matrix; PyTorch's gradient."""

    decompose = staticmethod(np.linalg.eigh)

    @staticmethod
    def backward(ctx, grad_values, grad_vectors):
        values, v = _saved_outputs(ctx, (grad_values, grad_vectors))
        if grad_vectors is None:
            return (v * np.expand_dims(grad_values, -2)) @ _mT(v)
        vhgv = _mT(v) @ grad_vectors
        vhgv = 0.5 * (vhgv - _mT(vhgv))
        e = np.expand_dims(values, -2) - np.expand_dims(values, -1) + _eye_like(values)
        ga = vhgv / e
        if grad_values is not None:
            ga = ga + _diag_embed(grad_values)
        return v @ (ga @ _mT(v))


# -- torch.linalg functions -------------------------------------------------------------------


class SlogdetResult(NamedTuple):
    """What ``slogdet`` returns, as ``torch.return_types.linalg_slogdet``."""

    sign: Tensor
    logabsdet: Tensor


class QRResult(NamedTuple):
    """What ``qr`` returns, as ``torch.return_types.linalg_qr``."""

    Q: Tensor
    R: Tensor


class SVDResult(NamedTuple):
    """What ``linalg.svd`` returns, as ``torch.return_types.linalg_svd``."""

    U: Tensor
    S: Tensor
    Vh: Tensor


class SVDVResult(NamedTuple):
    """What ``Tensor.svd`` returns, as ``torch.return_types.svd``: V, not Vh."""

    U: Tensor
    S: Tensor
    V: Tensor


class EighResult(NamedTuple):
    """What ``eigh`` returns, as ``torch.return_types.linalg_eigh``."""

    eigenvalues: Tensor
    eigenvectors: Tensor


def inv(A):
    """The inverse of a square matrix (or of each in a batch), as ``torch.linalg.inv``.

    Raises:
        ValueError: if a matrix is not square or is singular.
    """
    _square("inv", A)
    return Inverse.apply(A)


def det(A):
    """The determinant of a square matrix (or of each in a batch), as ``torch.linalg.det``.
    Its gradient is the cofactor matrix, well defined for singular matrices too."""
    _square("det", A)
    return Det.apply(A)


def slogdet(A):
    """``(sign, logabsdet)`` of the determinant, as ``torch.linalg.slogdet``: the sign
    has no gradient, ``logabsdet``'s is ``A^-T``."""
    _square("slogdet", A)
    return SlogdetResult(*SlogDet.apply(A))


def logdet(A):
    """``log(det(A))``, as ``torch.logdet``: nan (and a zero gradient) for a negative
    determinant, -inf for 0."""
    _reads_values("logdet")
    sign, logabsdet = slogdet(A)
    return ops.where(sign.data < 0, np.nan, logabsdet)


def solve(A, B, *, left: bool = True):
    """The solution ``X`` of ``A @ X = B`` (``X @ A = B`` with ``left=False``), as
    ``torch.linalg.solve``: ``B`` is a vector (shape (..., n)) or a batch of matrices
    (..., n, k); batch axes broadcast.

    Raises:
        ValueError: if ``A`` is not square or is singular, or the shapes do not fit.
    """
    _square("solve", A)
    if not left:
        return _mT(solve(_mT(A), _mT(B)))
    a_shape, b_shape = np.shape(_data(A)), np.shape(_data(B))
    vector = len(b_shape) == 1 or (len(b_shape) == len(a_shape) - 1 and b_shape == a_shape[:-1])
    if vector:
        B = ops.expand_dims(B, -1)
        b_shape = (*b_shape, 1)
    if b_shape[-2] != a_shape[-1]:
        raise InvalidArgumentError(
            f"solve: A of shape {a_shape} and B of shape {b_shape[:-1] if vector else b_shape} do not "
            "fit: B's rows (or a vector B's length) must equal A's size")
    batch = np.broadcast_shapes(a_shape[:-2], b_shape[:-2])
    A, B = ops.broadcast_to(A, batch + a_shape[-2:]), ops.broadcast_to(B, batch + b_shape[-2:])
    out = Solve.apply(A, B)
    return ops.squeeze(out, axis=-1) if vector else out


def cholesky(A, *, upper: bool = False):
    """The Cholesky factor ``L`` (lower, ``A = L L^T``; upper ``U`` with ``upper=True``,
    ``A = U^T U``) of a symmetric positive-definite matrix, as ``torch.linalg.cholesky``.

    Raises:
        ValueError: if ``A`` is not square or not positive-definite.
    """
    _square("cholesky", A)
    return Cholesky.apply(A, upper=bool(upper))


def qr(A, mode: str = "reduced"):
    """The QR decomposition ``(Q, R)``, as ``torch.linalg.qr``: ``mode`` is "reduced"
    (Q of shape (m, k), R (k, n), k = min(m, n)), "complete" (Q (m, m), R (m, n)) or "r"
    (R only; Q is an empty tensor, and there is no gradient)."""
    _at_least_2d("qr", A)
    if mode not in ("reduced", "complete", "r"):
        raise InvalidArgumentError(f"qr: mode must be 'reduced', 'complete' or 'r', got {mode!r}")
    if mode == "r":
        r = Tensor._wrap(np.linalg.qr(_data(A), mode="r"))
        return QRResult(Tensor._wrap(np.empty(0, dtype=r.dtype)), r)
    return QRResult(*QR.apply(A, mode=mode))


def svd(A, full_matrices: bool = True):
    """``(U, S, Vh)`` with ``A = U diag(S) Vh``, as ``torch.linalg.svd``. The gradient is
    PyTorch's: defined when the singular values are distinct (and, for U and Vh, non-zero)."""
    _at_least_2d("svd", A)
    return SVDResult(*SVD.apply(A, full_matrices=bool(full_matrices)))


def svdvals(A):
    """The singular values, in descending order, as ``torch.linalg.svdvals``."""
    return svd(A, full_matrices=False)[1]


def eigh(A, UPLO: str = "L"):
    """``(eigenvalues, eigenvectors)`` of a symmetric matrix (ascending eigenvalues), read
    from its lower (``UPLO="L"``) or upper triangle, as ``torch.linalg.eigh``."""
    _square("eigh", A)
    if not isinstance(UPLO, str) or UPLO.upper() not in ("L", "U"):
        raise InvalidArgumentError(f"eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
    return EighResult(*Eigh.apply(A, UPLO=UPLO.upper()))  # (PyTorch takes lowercase too)


def eigvalsh(A, UPLO: str = "L"):
    """The eigenvalues of a symmetric matrix, ascending, as ``torch.linalg.eigvalsh``."""
    return eigh(A, UPLO)[0]


def pinv(input, rcond: float | None = None, hermitian: bool = False, *, atol: float | None = None,  # noqa: A002
         rtol: float | None = None):
    """The Moore-Penrose pseudo-inverse, from the SVD, as ``torch.linalg.pinv``: singular values
    at most ``max(atol, rtol * largest)`` count as zero; ``rtol`` defaults to 0 when only ``atol``
    is given, else to eps * max(rows, columns) (``rcond``, the older name, is ``rtol``); ``atol`` and
    ``rtol`` may be tensors of A's batch shape (one tolerance per matrix)."""
    A = input  # (PyTorch's argument name)
    _reads_values("pinv")
    _at_least_2d("pinv", A)
    if rcond is not None:
        if rtol is not None:
            raise TypeError("pinv() got both rcond= and rtol= (rcond is the older name of rtol)")
        rtol = rcond
    shape, dtype = np.shape(_data(A)), _data(A).dtype
    if rtol is None:
        rtol = 0.0 if atol is not None else np.finfo(dtype if dtype.kind == "f" else np.float64).eps * max(shape[-2:])
    atol = 0.0 if atol is None else atol

    def cutoff(magnitude):
        # (tolerances given per matrix, shape A.shape[:-2], line up with the batch: a trailing axis)
        atol_, rtol_ = (np.expand_dims(np.asarray(_data(t)), -1) for t in (atol, rtol))
        return np.maximum(atol_, rtol_ * np.max(magnitude, axis=-1, keepdims=True, initial=0.0))

    if hermitian:
        # The values from the eigendecomposition of the lower triangle (LAPACK's syevd, as
        # PyTorch's); the gradient is PyTorch's too, the general pseudo-inverse's at A (an
        # eigh-based gradient would differ off the symmetric directions).
        with no_grad():
            values, vectors = (np.asarray(t.data) for t in eigh(A))
        magnitude = np.abs(values)
        kept = magnitude > cutoff(magnitude)
        inverse = np.where(kept, 1 / np.where(kept, values, 1.0), 0.0)
        value = (vectors * inverse[..., None, :]) @ np.swapaxes(vectors, -1, -2)
        if not (isinstance(A, Tensor) and A.requires_grad and mode.grad_enabled):
            return Tensor._wrap(value)
        general = pinv(A, atol=atol, rtol=rtol)
        return general + Tensor._wrap(value - general.data)
    u, s, vh = svd(A, full_matrices=False)
    kept = s.data > cutoff(s.data)
    s_inv = ops.where(kept, 1 / ops.where(kept, s, 1.0), 0.0)
    return (_mT(vh) * ops.expand_dims(s_inv, -2)) @ _mT(u)


def pinverse(A, rcond: float = 1e-15):
    """``torch.pinverse``: ``pinv`` with singular values at most ``rcond`` times the largest as zero."""
    return pinv(A, rcond)


def matrix_power(A, n: int):
    """``A`` multiplied by itself ``n`` times (``n = 0``: the identity; ``n < 0``: powers
    of the inverse), as ``torch.linalg.matrix_power``."""
    _square("matrix_power", A)
    n = operator.index(n)
    if n < 0:
        A, n = inv(A), -n
    shape = np.shape(_data(A))
    if n == 0:
        # The identity, joined to A's graph with a zero gradient (``0 * A`` would turn a nan of A into the result).
        identity = np.broadcast_to(np.eye(shape[-1], dtype=_data(A).dtype), shape)
        return ops.where(np.ones(shape, bool), identity, A)
    result, power = None, A
    while n:
        if n & 1:
            result = power if result is None else ops.matmul(result, power)
        n >>= 1
        if n:
            power = ops.matmul(power, power)
    return result


def cross(input, other, dim: int = -1):  # noqa: A002
    """The cross product of 3-vectors along ``dim``, as ``torch.linalg.cross`` (inputs
    broadcast).

    Raises:
        ValueError: if the length along ``dim`` is not 3.
    """
    shape = np.broadcast_shapes(np.shape(_data(input)), np.shape(_data(other)))
    (axis,) = normalize_axes(dim, len(shape))
    if shape[axis] != 3:
        raise InvalidArgumentError(f"cross: dimension {dim} must have length 3, got shape {shape}")
    a, b = ops.broadcast_to(input, shape), ops.broadcast_to(other, shape)
    return (ops.roll(a, -1, axis) * ops.roll(b, -2, axis)) - (ops.roll(a, -2, axis) * ops.roll(b, -1, axis))


def solve_triangular(A, B, *, upper: bool, left: bool = True, unitriangular: bool = False):
    """The solution of ``A @ X = B`` (``X @ A = B`` with ``left=False``) reading only the
    upper or lower triangle of ``A`` (and ones on its diagonal with ``unitriangular=True``),
    as ``torch.linalg.solve_triangular``; the gradient of ``A`` lies on that triangle."""
    _square("solve_triangular", A)
    _at_least_2d("solve_triangular", B)
    triangle = ops.triu(A) if upper else ops.tril(A)
    if unitriangular:
        eye = np.eye(np.shape(_data(A))[-1], dtype=bool)
        triangle = ops.where(eye, 1.0, triangle)
    return solve(triangle, B, left=left)


def multi_dot(tensors):
    """The product of a chain of matrices (the first may be a vector, and the last), as
    ``torch.linalg.multi_dot``."""
    tensors = list(tensors)
    if not tensors:
        raise InvalidArgumentError("multi_dot: give at least one tensor")
    shapes = [np.shape(_data(t)) for t in tensors]
    if len(shapes[0]) not in (1, 2) or len(shapes[-1]) not in (1, 2) or any(len(s) != 2 for s in shapes[1:-1]):
        raise InvalidArgumentError(
            f"multi_dot: the first and last tensors must be 1-D or 2-D and the others 2-D, got shapes "
            f"{shapes}")
    result = tensors[0]
    for t in tensors[1:]:
        result = ops.matmul(result, t)
    return result if isinstance(result, Tensor) else Tensor._wrap(np.asarray(result))


def vecdot(x, y, *, dim: int = -1):
    """The dot product of vectors along ``dim`` (inputs broadcast), as ``torch.linalg.vecdot``."""
    return ops.sum(x * y, axis=dim)


def diagonal(A, *, offset: int = 0, dim1: int = -2, dim2: int = -1):
    """The ``offset`` diagonal of each matrix over ``dim1``, ``dim2``, as ``torch.linalg.diagonal``."""
    return ops.diagonal(A, offset, dim1, dim2)


def vector_norm(x, ord=2, dim=None, keepdim: bool = False, *, dtype=None):  # noqa: A002
    """The vector ``ord``-norm (any number) over the axes ``dim``, as
    ``torch.linalg.vector_norm``: ``dim`` None or empty reduces over all elements (with
    ``keepdim``, to shape (1,) * ndim); ``dtype`` as ``mg.norm``'s (the input is cast to it first).

    Raises:
        ValueError: if ``ord`` is not a number ("fro" and "nuc" are matrix norms).
    """
    if isinstance(ord, str):
        raise InvalidArgumentError(f"linalg.vector_norm: ord must be a number, got {ord!r}; for a matrix norm use "
                                   "linalg.matrix_norm (the Frobenius norm is also vector_norm with ord=2)")
    if dim is not None and not isinstance(dim, int | np.integer) and len(dim) == 0:
        dim = None  # (PyTorch: an empty dim reduces over every axis, as None)
    return ops.norm(x, p=ord, axis=dim, keepdims=keepdim, dtype=dtype)


def _max_or_zero(x, axis: int):
    """The maximum of the non-negative ``x`` along ``axis``, 0 when that axis is empty (as PyTorch's
    matrix norms of empty matrices: the sum over no element is that 0, joined to the graph)."""
    return ops.max(x, axis=axis) if np.shape(_data(x))[axis] else ops.sum(x, axis=axis)


def matrix_norm(input, ord="fro", dim=(-2, -1), keepdim: bool = False):  # noqa: A002  (PyTorch's names)
    """The matrix norm over the two axes ``dim``: "fro" and "nuc", or 1, -1, 2, -2, inf, -inf, as
    ``torch.linalg.matrix_norm``; an empty matrix's norm is 0 (-1, -2 and -inf raise there, having
    no smallest value to take, as PyTorch).

    Raises:
        ValueError: for another ``ord``, fewer than 2 dimensions, or ``dim`` not a pair of distinct axes.
    """
    ndim = np.ndim(_data(input))
    if ndim < 2:
        raise InvalidArgumentError(f"linalg.matrix_norm: the input must have at least 2 dimensions, got shape "
                                   f"{np.shape(_data(input))} (for a vector use linalg.vector_norm)")
    dims = tuple(dim) if isinstance(dim, tuple | list) else (dim,)
    if len(dims) != 2 or len(set(normalize_axes(dims, ndim))) != 2:
        raise InvalidArgumentError(f"linalg.matrix_norm: dim must be a pair of distinct axes, got {dim!r}")
    rows, cols = normalize_axes(dims, ndim)
    if ord == "fro":  # (the vector 2-norm of the entries: its gradient is 0, not nan, at a zero matrix)
        return ops.norm(input, p=2, axis=(rows, cols), keepdims=keepdim)
    moved = ops.moveaxis(input, (rows, cols), (-2, -1))
    if ord in ("nuc", 2, -2):
        s = svdvals(moved)
        out = ops.sum(s, axis=-1) if ord == "nuc" else (_max_or_zero(s, -1) if ord == 2 else ops.min(s, axis=-1))
    elif ord in (1, -1, math.inf, -math.inf):
        sums = ops.sum(ops.abs(moved), axis=-2 if ord in (1, -1) else -1)
        out = _max_or_zero(sums, -1) if ord > 0 else ops.min(sums, axis=-1)
    else:
        raise InvalidArgumentError(f"linalg.matrix_norm: ord must be 'fro', 'nuc', 1, -1, 2, -2, inf or -inf, got "
                                   f"{ord!r}")
    if keepdim:
        for axis in sorted((rows, cols)):
            out = ops.expand_dims(out, axis)
    return out


def norm(input, ord=None, dim=None, keepdim: bool = False, *, dtype=None):  # noqa: A002  (PyTorch's names)
    """``torch.linalg.norm``: the matrix norm (``matrix_norm``) for a 2-tuple ``dim``, a string
    ``ord``, or a 2-D input with ``ord`` and no ``dim``; otherwise the vector norm
    (``vector_norm``), of all the elements when neither ``ord`` nor ``dim`` is given.

    Raises:
        ValueError: if ``dim`` is not an int or of length 1 or 2, or ``ord`` is given without
            ``dim`` for an input that is not 1-D or 2-D.
    """
    ndim = np.ndim(_data(input))
    if dim is not None:
        dims = (dim,) if isinstance(dim, int | np.integer) else tuple(dim)
        if len(dims) not in (1, 2):  # (unlike vector_norm's, an empty dim is refused, as PyTorch)
            raise InvalidArgumentError(f"linalg.norm: dim must be an int or a sequence of 1 or 2 axes, got {dim!r} "
                                       "(for the norm of all the elements give dim=None)")
    elif ord is None:
        return vector_norm(input, 2, None, keepdim, dtype=dtype)
    elif ndim not in (1, 2):
        raise InvalidArgumentError(f"linalg.norm: with ord={ord!r} and no dim the input must be 1-D or 2-D, got "
                                   f"{ndim}-D (give dim)")
    else:
        dims = tuple(range(ndim))
    if len(dims) == 2 or isinstance(ord, str):
        if dtype is not None:
            raise NotImplementedError("linalg.norm: dtype= is implemented for vector norms only; cast the input "
                                      "first (x.to(dtype))")
        return matrix_norm(input, "fro" if ord is None else ord, dims, keepdim)
    return vector_norm(input, 2 if ord is None else ord, dims, keepdim, dtype=dtype)


class LstsqResult(NamedTuple):
    """What ``lstsq`` returns, as ``torch.return_types.linalg_lstsq``."""

    solution: Tensor
    residuals: Tensor
    rank: Tensor
    singular_values: Tensor


_DRIVERS = ("gels", "gelsy", "gelsd", "gelss")


def lstsq(A, B, rcond=None, *, driver=None):
    """The least-squares solution of ``A @ X = B``, as ``torch.linalg.lstsq``: the
    minimum-norm solution from the pseudo-inverse (singular values at most ``rcond`` times
    the largest count as zero; ``rcond=None``: the dtype's eps times max(m, n)), with what
    PyTorch's ``driver`` computes beside it (default "gelsy": the rank; "gels": the
    residuals; "gelsd"/"gelss": residuals, rank and singular values; residuals, the squared
    errors of each column, only for tall full-rank ``A``). ``B`` is (..., m, k), or a batch of
    vectors (..., m) with one dimension fewer than ``A`` (PyTorch's rule; their residuals have a
    last axis of length 1). The solution and residuals are differentiable (through the SVD)."""
    _reads_values("lstsq")
    if driver is not None and driver not in _DRIVERS:
        raise InvalidArgumentError(f"lstsq: driver must be None or one of {_DRIVERS}, got {driver!r}")
    _at_least_2d("lstsq", A)
    a = np.asarray(_data(A))
    m, n = a.shape[-2:]
    b_shape = np.shape(_data(B))
    if not 0 <= a.ndim - len(b_shape) <= 1:
        raise InvalidArgumentError(
            f"lstsq: B must have as many dimensions as A (matrices (..., m, k)) or one fewer (vectors (..., m)), "
            f"got A of shape {a.shape} and B of shape {b_shape}")
    vector = len(b_shape) == a.ndim - 1
    if vector:
        B = ops.expand_dims(B, -1)
    if np.shape(_data(B))[-2] != m:
        raise InvalidArgumentError(
            f"lstsq: A of shape {a.shape} and B of shape {b_shape} do not fit: B needs "
            f"{m} rows, one per row of A")
    rcond = np.finfo(a.dtype).eps * max(m, n) if rcond is None else float(rcond)
    solution = ops.matmul(pinv(A, rcond), B)
    values = np.linalg.svd(a, compute_uv=False)
    rank = (values > rcond * values[..., :1]).sum(-1)
    empty = Tensor._wrap(np.empty(0, a.dtype))
    residuals = empty
    if driver not in (None, "gelsy") and m > n and np.all(rank == n):
        error = ops.matmul(A, solution) - B
        residuals = ops.sum(error * error, axis=-2)
    if vector:
        solution = ops.squeeze(solution, axis=-1)
    return LstsqResult(solution, residuals, _wrap(rank) if driver != "gels" else _wrap(np.empty(0, np.int64)),
                       _wrap(values) if driver in ("gelsd", "gelss") else empty)


# Pade approximant of degree 13 and the norm bound up to which it is accurate (Higham, 2005).
_PADE13 = (64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0, 129060195264000.0,
           10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0, 40840800.0, 960960.0, 16380.0, 182.0,
           1.0)
_THETA13 = 5.371920351148152


def matrix_exp(A):
    """The matrix exponential ``sum(A^k / k!)``, as ``torch.linalg.matrix_exp``: scaling and
    squaring with a Pade approximant (Higham's method, as PyTorch's), written with matrix
    products and a solve, so its gradients come from theirs."""
    _reads_values("matrix_exp")
    _square("matrix_exp", A)
    finite = np.isfinite(_data(A)).all(axis=(-2, -1))
    if not finite.all():  # a matrix with an inf or nan: all nan, as PyTorch (computed from zeros, then replaced)
        bad = ~finite[..., None, None]
        return ops.where(bad, np.nan, matrix_exp(ops.where(bad, 0.0, A)))
    norm1 = np.abs(_data(A)).sum(-2).max(initial=0.0)
    squarings = max(0, math.ceil(math.log2(norm1 / _THETA13))) if norm1 > _THETA13 else 0
    a = A * (0.5**squarings) if squarings else A
    b = _PADE13
    eye = np.eye(np.shape(_data(A))[-1], dtype=np.asarray(_data(A)).dtype)
    a2 = ops.matmul(a, a)
    a4 = ops.matmul(a2, a2)
    a6 = ops.matmul(a4, a2)
    u = ops.matmul(a, ops.matmul(a6, b[13] * a6 + b[11] * a4 + b[9] * a2) + b[7] * a6 + b[5] * a4 + b[3] * a2
                   + b[1] * eye)
    v = ops.matmul(a6, b[12] * a6 + b[10] * a4 + b[8] * a2) + b[6] * a6 + b[4] * a4 + b[2] * a2 + b[0] * eye
    result = solve(v - u, v + u)
    for _ in range(squarings):
        result = ops.matmul(result, result)
    return result

# -- Tensor methods: linear algebra -------------------------------------------------------------


def _svd_method(self, some: bool = True, compute_uv: bool = True):
    """``(U, S, V)`` with ``self = U diag(S) V^T``, as ``torch.svd`` (V, not Vh;
    ``some=False`` gives square U and V). With ``compute_uv=False`` U and V are zeros of
    shape (m, m) and (n, n), as in PyTorch, and S is still differentiable."""
    u, s, vh = svd(self, full_matrices=not some)
    if not compute_uv:
        m, n = self.shape[-2], self.shape[-1]
        batch = self.shape[:-2]
        return SVDVResult(Tensor._wrap(np.zeros((*batch, m, m), self.dtype)), s,
                          Tensor._wrap(np.zeros((*batch, n, n), self.dtype)))
    return SVDVResult(u, s, _mT(vh))


def _qr_method(self, some: bool = True):
    """``(Q, R)``, as ``torch.qr``: reduced with ``some=True``, complete otherwise."""
    return qr(self, "reduced" if some else "complete")


def _cholesky_method(self, upper: bool = False):
    """The Cholesky factor, as ``torch.cholesky`` (lower by default)."""
    return cholesky(self, upper=upper)


def kron(self, other):
    """The Kronecker product, as ``torch.kron``: for shapes (a0, a1, ...) and (b0, b1, ...)
    (the shorter padded with leading 1s), the result has shape (a0*b0, a1*b1, ...)."""
    a_shape, b_shape = np.shape(_data(self)), np.shape(_data(other))
    ndim = max(len(a_shape), len(b_shape))
    a_shape, b_shape = (1,) * (ndim - len(a_shape)) + a_shape, (1,) * (ndim - len(b_shape)) + b_shape
    a = ops.reshape(self, tuple(n for size in a_shape for n in (size, 1)))
    b = ops.reshape(other, tuple(n for size in b_shape for n in (1, size)))
    return ops.reshape(a * b, tuple(m * n for m, n in zip(a_shape, b_shape)))


def _cross_method(self, other, dim=None):
    """The cross product along ``dim``, as ``torch.cross``: without ``dim``, the first
    dimension of length 3 (``torch.linalg.cross`` takes the last)."""
    if dim is None:
        shape = np.broadcast_shapes(self.shape, np.shape(_data(other)))
        dim = next((i for i, n in enumerate(shape) if n == 3), None)
        if dim is None:
            raise InvalidArgumentError(f"cross: no dimension of length 3 in shape {shape}")
    return cross(self, other, dim)


def inner(self, other):
    """The sum of products over the last axes, as ``torch.inner`` (a scalar multiplies)."""
    if self.ndim == 0 or np.ndim(_data(other)) == 0:
        return self * other
    return ops.tensordot(self, other, axes=([-1], [-1]))


def _vectors(function: str, self, other, ndims=(1, 1)):
    if (self.ndim, np.ndim(_data(other))) != ndims:
        raise InvalidArgumentError(f"{function}: expects tensors of {ndims[0]} and {ndims[1]} dimensions, got shapes "
                         f"{self.shape} and {np.shape(_data(other))}")


def ger(self, vec2):
    """The outer product of two 1-D tensors (``torch.ger``, ``torch.outer``)."""
    _vectors("outer", self, vec2)
    return ops.outer(self, vec2)


def mv(self, vec):
    """The product of a matrix and a vector (``torch.mv``)."""
    _vectors("mv", self, vec, (2, 1))
    return ops.matmul(self, vec)


def vdot(self, other):
    """The inner product of two 1-D tensors (``torch.vdot``; real numbers: no conjugate)."""
    _vectors("vdot", self, other)
    return ops.dot(self, other)


def diag_embed(self, offset: int = 0, dim1: int = -2, dim2: int = -1):
    """Matrices with the last axis of ``self`` on their ``offset`` diagonal, over the new
    axes ``dim1``, ``dim2`` of the result, as ``torch.diag_embed``."""
    n = self.shape[-1] + abs(int(offset))
    ndim = self.ndim + 1
    axis1, axis2 = normalize_axes(dim1, ndim)[0], normalize_axes(dim2, ndim)[0]
    if axis1 == axis2:
        raise InvalidArgumentError(f"diag_embed: dim1 and dim2 must be different dimensions, got {dim1} and {dim2}")
    batch = list(self.shape[:-1])
    for axis in sorted((axis1, axis2)):
        batch.insert(axis, n)
    return DiagEmbed.apply(self, shape=tuple(batch), where=(int(offset), axis1, axis2))


def diagflat(self, offset: int = 0):
    """A square matrix with the flattened ``self`` on its ``offset`` diagonal (``torch.diagflat``)."""
    return ops.diag(ops.reshape(self, -1), offset)


# -- Tensor methods: shapes -------------------------------------------------------------------


def _axis(self, dim) -> int:
    return normalize_axes(dim, self.ndim)[0]


def _least_dims(function: str, self, ndim: int) -> None:
    if self.ndim < ndim:
        raise InvalidArgumentError(
            f"{function}: expects a tensor of at least {ndim} dimensions, got shape {self.shape}")


def fliplr(self):
    """The columns (dimension 1) in reverse order (``torch.fliplr``; at least 2-D)."""
    _least_dims("fliplr", self, 2)
    return ops.flip(self, 1)


def flipud(self):
    """The rows (dimension 0) in reverse order (``torch.flipud``; at least 1-D)."""
    _least_dims("flipud", self, 1)
    return ops.flip(self, 0)


def rot90(self, k: int = 1, dims=(0, 1)):
    """Rotated by 90 degrees ``k`` times in the plane ``dims``, from the first towards the
    second axis (``torch.rot90``)."""
    dims = tuple(dims)
    if len(dims) != 2:
        raise InvalidArgumentError(f"rot90: dims must name two dimensions, got {dims}")
    first, second = (_axis(self, d) for d in dims)
    if first == second:
        raise InvalidArgumentError(f"rot90: dims must be different dimensions, got {dims}")
    k = operator.index(k) % 4
    if k == 0:
        return self.clone()  # (a copy, as PyTorch's)
    if k == 2:
        return ops.flip(self, (first, second))
    if k == 1:
        return ops.swapaxes(ops.flip(self, second), first, second)
    return ops.flip(ops.swapaxes(self, first, second), second)


def _pieces_at(self, points, axis: int) -> tuple:
    return tuple(ops.split(self, [int(p) for p in points], axis=axis))


def _split_points(function: str, indices_or_sections, named: dict):
    """The one way of splitting given: positionally, or by one of PyTorch's names for it
    (``sections=``, ``indices=``, ``tensor_indices_or_sections=``)."""
    given = [value for value in (indices_or_sections, *named.values()) if value is not None]
    if len(given) != 1:
        raise TypeError(f"{function}() takes one of indices_or_sections (positionally), sections=, indices= or "
                        f"tensor_indices_or_sections=, got {len(given)}")
    return given[0]


def tensor_split(self, indices_or_sections=None, dim: int = 0, *, sections=None, indices=None,
                 tensor_indices_or_sections=None):
    """Pieces along ``dim``, as ``torch.tensor_split``: an int ``n`` gives ``n`` pieces,
    the first ``length % n`` one element longer; a list of indices splits before each."""
    indices_or_sections = _split_points("tensor_split", indices_or_sections, {
        "sections": sections, "indices": indices, "tensor_indices_or_sections": tensor_indices_or_sections})
    _reads_values("tensor_split")
    axis = _axis(self, dim)
    length = self.shape[axis]
    if isinstance(indices_or_sections, Tensor | np.ndarray) and np.ndim(_data(indices_or_sections)) == 0:
        indices_or_sections = int(_data(indices_or_sections))
    if isinstance(indices_or_sections, int | np.integer):
        sections = int(indices_or_sections)
        if sections <= 0:
            raise InvalidArgumentError(f"tensor_split: the number of sections must be positive, got {sections}")
        size, extra = divmod(length, sections)
        points = np.cumsum([size + (i < extra) for i in range(sections)])[:-1]
        return _pieces_at(self, points, axis)
    return _pieces_at(self, _integers(indices_or_sections, "tensor_split", "indices").ravel(), axis)


def _split_along(function: str, self, sections, axis: int, need: int):
    _least_dims(function, self, need)
    if isinstance(sections, int | np.integer) and (sections <= 0 or self.shape[axis] % sections):
        raise InvalidArgumentError(f"{function}: dimension {axis} of size {self.shape[axis]} is not divisible into "
                         f"{sections} equal pieces: give split indices instead, or use tensor_split")
    return tensor_split(self, sections, axis)


def hsplit(self, indices_or_sections=None, *, sections=None, indices=None):
    """``tensor_split`` along dimension 1 (0 for a 1-D tensor); an int must divide it (``torch.hsplit``)."""
    indices_or_sections = _split_points("hsplit", indices_or_sections, {"sections": sections, "indices": indices})
    return _split_along("hsplit", self, indices_or_sections, 0 if self.ndim == 1 else 1, 1)


def vsplit(self, indices_or_sections=None, *, sections=None, indices=None):
    """``tensor_split`` along dimension 0 of a tensor of at least 2 dimensions (``torch.vsplit``)."""
    indices_or_sections = _split_points("vsplit", indices_or_sections, {"sections": sections, "indices": indices})
    return _split_along("vsplit", self, indices_or_sections, 0, 2)


def dsplit(self, indices_or_sections=None, *, sections=None, indices=None):
    """``tensor_split`` along dimension 2 of a tensor of at least 3 dimensions (``torch.dsplit``)."""
    indices_or_sections = _split_points("dsplit", indices_or_sections, {"sections": sections, "indices": indices})
    return _split_along("dsplit", self, indices_or_sections, 2, 3)


def split_with_sizes(self, split_sizes, dim: int = 0):
    """Pieces of the listed sizes along ``dim``, which must add up to its length."""
    from microgradnp.ops.torch_methods import split

    return split(self, list(split_sizes), dim)


def unflatten(self, dim: int, sizes):
    """Dimension ``dim`` expanded into ``sizes`` (one may be -1), as ``torch.unflatten``."""
    axis = _axis(self, dim)
    sizes = tuple(int(n) for n in sizes)
    known = math.prod(n for n in sizes if n != -1)
    if sizes.count(-1) > 1 or (-1 not in sizes and known != self.shape[axis]) or (
            -1 in sizes and (known == 0 or self.shape[axis] % known)):
        raise InvalidArgumentError(f"unflatten: sizes {sizes} do not multiply to the length {self.shape[axis]} of "
                         f"dimension {dim}")
    return ops.reshape(self, self.shape[:axis] + sizes + self.shape[axis + 1:])


def unfold(self, dimension: int, size: int, step: int):
    """The windows of ``size`` elements every ``step`` along ``dimension``, as
    ``Tensor.unfold``: that dimension becomes the window count, and a new last dimension
    holds each window. A read-only view, as PyTorch's (which shows later writes into this
    tensor; an in-place write into the windows, which PyTorch would make through into this
    tensor, raises); overlapping gradients add."""
    axis = _axis(self, dimension) if self.ndim else 0
    length = self.shape[axis] if self.ndim else 1
    if step <= 0 or size < 0 or size > length:
        raise InvalidArgumentError(f"unfold: size {size} must be at most the length {length} of dimension {dimension} "
                         f"and step {step} positive")
    starts = np.arange(0, length - size + 1, step)
    if self.ndim:
        data = self.data
        along = data.strides[axis]
        live = np.lib.stride_tricks.as_strided(
            data, (*data.shape[:axis], len(starts), *data.shape[axis + 1:], size),
            (*data.strides[:axis], step * along, *data.strides[axis + 1:], along), writeable=False)
        shown = self._showing(live)
        if shown is not None:
            return shown
    index = starts[:, None] + np.arange(size)
    source = ops.reshape(self, (1,)) if self.ndim == 0 else self
    windows = ops.moveaxis(source[(slice(None),) * axis + (index,)], axis + 1, -1)
    windows = ops.reshape(windows, (size,)) if self.ndim == 0 else windows  # (a 0-d tensor: its one window, as PyTorch)
    windows.data.flags.writeable = False  # (a write would not reach self, as PyTorch's view's would)
    return windows


def take(self, index):
    """The elements at ``index`` of the flattened tensor, in the index's shape (``torch.take``)."""
    _reads_values("take")
    index = _integers(index, "take")
    flat = ops.reshape(self, -1)
    if index.size and (index.min() < -flat.shape[0] or index.max() >= flat.shape[0]):
        raise IndexOutOfRangeError(f"take: an index is out of range for a tensor of {flat.shape[0]} elements")
    return flat[index]


def take_along_dim(self, indices, dim=None):
    """The elements at ``indices`` along ``dim`` (of the flattened tensor when None), as
    ``torch.take_along_dim``; the other dimensions broadcast."""
    _reads_values("take_along_dim")
    indices = _integers(indices, "take_along_dim")
    if dim is None:
        return ops.take_along_axis(ops.reshape(self, -1), indices.reshape(-1), axis=0)
    axis = _axis(self, dim)
    shape = list(np.broadcast_shapes((*self.shape[:axis], 1, *self.shape[axis + 1:]),
                                     (*indices.shape[:axis], 1, *indices.shape[axis + 1:])))
    source = ops.broadcast_to(self, (*shape[:axis], self.shape[axis], *shape[axis + 1:]))
    index = np.broadcast_to(indices, (*shape[:axis], indices.shape[axis], *shape[axis + 1:]))
    return ops.take_along_axis(source, index, axis=axis)


def select(self, dim: int, index: int):
    """The slice at ``index`` along ``dim``, without that dimension (``torch.select``)."""
    axis = _axis(self, dim)
    if not -self.shape[axis] <= index < self.shape[axis]:
        raise IndexError(f"select: index {index} out of range for dimension {dim} of size {self.shape[axis]}")
    return self[(slice(None),) * axis + (int(index),)]


# -- Tensor methods: indexing -----------------------------------------------------------------


def _index_along(function: str, self, dim, index, source=None):
    """The validated arguments of ``index_add``/``index_copy``/``index_fill``: (``self`` at
    least 1-D, the axis, the advanced index of the chosen slices, ``source`` in their shape).
    As in PyTorch, only ``index_fill`` takes negative indices."""
    _reads_values(function)
    target = self if self.ndim else ops.reshape(self, (1,))
    axis = _axis(target, dim)
    length = target.shape[axis]
    index = _integers(index, function).astype(np.intp)
    if index.ndim > 1:  # (PyTorch's rule: the slices are listed, not laid out)
        raise IndexError(f"{function}: the index must be 0-d or 1-D, got shape {index.shape}; flatten it "
                         "(index.reshape(-1))")
    index = index.reshape(-1)
    lowest = -length if source is None else 0
    if index.size and (index.min() < lowest or index.max() >= length):
        raise IndexError(f"{function}: an index in {index.tolist()} is out of range for dimension {dim} of size "
                         f"{length}")
    where = (slice(None),) * axis + (index % max(length, 1),)
    if source is not None:
        expected = (*target.shape[:axis], index.size, *target.shape[axis + 1:])
        got = np.shape(_data(source))
        if got != expected and not (self.ndim == 0 and got == ()):
            raise InvalidArgumentError(
                f"{function}: source must have shape {expected} (self's shape with dimension {dim} "
                f"of length len(index)), got {got}")
        source = ops.reshape(source, expected)
    return target, axis, where, source


def _chosen(target, axis: int, where: tuple) -> np.ndarray:
    """A mask of ``target``'s shape, True in the slices ``where`` picks along ``axis``."""
    chosen = np.zeros(target.shape[axis], dtype=bool)
    chosen[where[-1]] = True
    return np.broadcast_to(chosen.reshape([-1 if d == axis else 1 for d in range(target.ndim)]), target.shape)


def index_add(self, dim: int, index, source, alpha=1):
    """``self`` with ``alpha * source``'s slices added at ``index`` along ``dim``
    (``torch.index_add``; repeated indices add up). An integer tensor keeps its dtype, so
    its ``alpha`` must be a whole number (PyTorch would silently truncate it).

    Raises:
        InvalidArgumentError: a fractional ``alpha`` for an integer or bool tensor.
    """
    target, _, where, source = _index_along("index_add", self, dim, index, source)
    if target.dtype.kind != "f" and alpha != 1:
        if alpha != int(alpha):
            raise InvalidArgumentError(
                f"index_add: alpha={alpha} is not a whole number, but the tensor has the integer dtype "
                f"{target.dtype}; give a whole alpha, or convert the tensor to floats first (t.double())")
        alpha = int(alpha)  # (a whole float would make the result float)
    added = ScatterAdd.apply(source if alpha == 1 else alpha * source, shape=target.shape, index=where)
    return ops.reshape(target + added, self.shape)


def index_copy(self, dim: int, index, source):
    """``self`` with ``source``'s slices written at ``index`` along ``dim`` (``torch.index_copy``),
    in ``self``'s dtype. Where an index repeats, the last slice written wins (as on PyTorch's
    CPU, which leaves it unspecified) and only it gets a gradient."""
    from microgradnp.ops.torch_more import _place

    target, _, where, source = _index_along("index_copy", self, dim, index, source)
    positions = np.arange(target.size).reshape(target.shape)[where]
    return ops.reshape(_place("index_copy", target, source, positions), self.shape)


def index_fill(self, dim: int, index, value):
    """``self`` with ``value`` written in the slices at ``index`` along ``dim`` (``torch.index_fill``)."""
    target, axis, where, _ = _index_along("index_fill", self, dim, index)
    return ops.reshape(ops.masked_fill(target, _chosen(target, axis, where), value), self.shape)


def masked_select(self, mask):
    """The elements where ``mask`` (broadcast with ``self``) is True, as a 1-D tensor
    (``torch.masked_select``)."""
    _reads_values("masked_select")
    mask = np.asarray(_data(mask))
    if mask.dtype != np.bool_:
        raise DtypeError(f"masked_select: mask must be a bool tensor, got dtype {mask.dtype}; use t.bool()")
    shape = np.broadcast_shapes(self.shape, mask.shape)
    return ops.broadcast_to(self, shape)[np.broadcast_to(mask, shape)]


def masked_scatter(self, mask, source):
    """``self`` with the positions where ``mask`` is True filled, in order, by the first
    elements of ``source`` (``torch.masked_scatter``)."""
    _reads_values("masked_scatter")
    mask = np.asarray(_data(mask))
    if mask.dtype != np.bool_:
        raise DtypeError(f"masked_scatter: mask must be a bool tensor, got dtype {mask.dtype}; use t.bool()")
    try:  # (a larger mask broadcasts the result, as PyTorch's)
        shape = np.broadcast_shapes(self.shape, mask.shape)
    except ValueError:
        raise InvalidArgumentError(f"masked_scatter: the mask of shape {mask.shape} does not broadcast with the "
                                   f"tensor of shape {self.shape}") from None
    if shape != self.shape:
        self = ops.broadcast_to(self, shape)
    mask = np.broadcast_to(mask, shape)
    count = int(mask.sum())
    if np.size(_data(source)) < count:
        raise InvalidArgumentError(f"masked_scatter: source has {np.size(_data(source))} elements but the mask selects "
                         f"{count}")
    values = ops.reshape(source, -1)[:count]
    # (placed by flat position, so that a 0-d mask works too)
    placed = ScatterAdd.apply(values, shape=(mask.size,), index=np.flatnonzero(mask))
    return ops.where(mask, ops.reshape(placed, shape), self)


_REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")


def scatter_reduce(self, dim: int, index, src, reduce: str, *, include_self: bool = True):
    """``src``'s values reduced into ``self`` at ``index`` along ``dim`` by ``reduce``
    ("sum", "prod", "mean", "amax", "amin"), as ``torch.scatter_reduce``; with
    ``include_self=False`` the values of ``self`` at the scattered positions are left out.
    Gradients follow PyTorch: amax/amin share a gradient evenly among tied values (with
    ``include_self=False`` a left-out value of ``self`` is no tie, where PyTorch counts it
    and halves the others' gradient: finite differences agree with this one). Integer
    and bool tensors keep their dtype, as in PyTorch (an integer mean rounds down)."""
    _reads_values("scatter_reduce")
    if reduce not in _REDUCTIONS:
        raise InvalidArgumentError(f"scatter_reduce: reduce must be one of {_REDUCTIONS}, got {reduce!r}")
    from microgradnp.ops.indexing import _atleast_1d, _atleast_1d_index, _like, _same_dtype, _torch_along_axis

    _same_dtype(self, src, "scatter_reduce")
    src = src if isinstance(src, Tensor) else Tensor._wrap(np.asarray(src, dtype=self.dtype))
    # (a 0-d tensor is one element along dim 0 or -1, as in scatter and PyTorch)
    target, src = _atleast_1d(self), _atleast_1d(src)
    _, index, where = _torch_along_axis(target, dim, _atleast_1d_index(index, "scatter_reduce"), "scatter_reduce",
                                        src)
    picked = src[tuple(slice(0, n) for n in index.shape)] if index.shape != src.shape else src
    hits = np.zeros(target.shape, dtype=np.intp)
    np.add.at(hits, where, 1)
    own = hits == 0 if not include_self else np.ones(target.shape, dtype=bool)
    if target.dtype.kind != "f":  # integers and bools: exact, in their own dtype (and without a gradient)
        return _like(Tensor._wrap(_scatter_reduce_exact(target.data, picked.data, where, reduce, own, hits)), self)
    return _like(_scatter_reduce_float(target, picked, where, reduce, own, hits), self)


def _scatter_reduce_float(self, picked, where, reduce, own, hits):
    """``scatter_reduce`` of a floating-point ``self``, differentiable in ``self`` and ``picked``
    (the part of src that the index uses)."""
    base = ops.where(own, self, 0.0)
    if reduce in ("sum", "mean"):
        total = base + ScatterAdd.apply(picked, shape=self.shape, index=where)
        if reduce == "sum":
            return total
        count = hits + own
        return ops.where(count > 0, total / np.maximum(count, 1).astype(total.dtype, copy=False), self)
    if reduce == "prod":
        return ScatterProd.apply(self, picked, where=where, own=own)
    extreme = np.maximum if reduce == "amax" else np.minimum
    result = np.where(own, self.data, np.inf if reduce == "amin" else -np.inf).astype(self.dtype)
    with np.errstate(invalid="ignore"):  # (a nan wins, as in PyTorch)
        extreme.at(result, where, picked.data)
    own_ties = own & (self.data == result)
    src_ties = picked.data == result[where]
    ties = own_ties.astype(self.dtype)
    np.add.at(ties, where, src_ties)
    ties = np.maximum(ties, 1)
    weights_src = src_ties / ties[where]
    return ops.where(own_ties, self / ties, 0.0) + ScatterAdd.apply(picked * weights_src, shape=self.shape,
                                                                    index=where)


def _scatter_reduce_exact(a: np.ndarray, values: np.ndarray, where: tuple, reduce: str, own: np.ndarray,
                          hits: np.ndarray) -> np.ndarray:
    """``scatter_reduce`` of an integer or bool array in its own dtype, as PyTorch computes it:
    the elements left out start from the reduction's identity (the dtype's lowest value for
    amax, its highest for amin), an integer mean rounds down, and for bools sum and amax are
    "or", prod and amin "and" (NumPy's add, multiply, maximum and minimum of bools)."""
    if reduce == "mean" and a.dtype == np.bool_:
        raise DtypeError("scatter_reduce: 'mean' is not defined for a bool tensor (as in PyTorch); convert it "
                         "first, e.g. t.long() or t.float()")
    limits = np.iinfo(a.dtype) if a.dtype.kind in "iu" else None
    identity = {"sum": 0, "mean": 0, "prod": 1, "amax": limits.min if limits else False,
                "amin": limits.max if limits else True}[reduce]
    out = np.where(own, a, np.array(identity, dtype=a.dtype))
    ufunc = {"sum": np.add, "mean": np.add, "prod": np.multiply, "amax": np.maximum, "amin": np.minimum}[reduce]
    ufunc.at(out, where, values.astype(a.dtype, copy=False))
    if reduce == "mean":  # (every element counts at least itself or one value from src)
        out = np.floor_divide(out, (hits + own).astype(a.dtype))
    return out


class ScatterProd(Primitive):
    """``scatter_reduce(..., "prod")``: PyTorch's gradient, ``grad * result / value``,
    computed as the product of the other values where a value is zero. The rule works on
    Tensors too (the product of the non-zero factors is this primitive again), so gradients
    of gradients work, as in PyTorch."""

    name = "scatter_prod"

    @staticmethod
    def forward(ctx, a, src, where, own):
        out = _scatter_product(a, src, where, own)
        ctx.where, ctx.own = where, own
        ctx.save_for_backward(a, src, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, src, out = ctx.saved_tensors
        where, own = ctx.where, ctx.own
        a_zero, src_zero = _data(a) == 0, _data(src) == 0
        zeros = (own & a_zero).astype(np.intp)  # zero factors at each position
        np.add.at(zeros, where, src_zero)
        # the product of the non-zero factors: the same product with each zero taken as 1
        others = np.where(a_zero, 1, a), np.where(src_zero, 1, src)
        tensors = isinstance(others[0], Tensor) or isinstance(others[1], Tensor)
        if tensors and (zeros > 1).any():
            # (the rule's 0 there is right, but as a constant it would lose the second derivative)
            raise RuntimeError("scatter_reduce(..., 'prod'): gradients of gradients are not supported where two "
                               "or more of the reduced values are 0 (nor in PyTorch); the first gradient works "
                               "without create_graph=True")
        others = (ScatterProd.apply if tensors else _scatter_product)(*others, where=where, own=own)
        grad_src = grad[where] * _product_of_others(src, out[where], zeros[where], others[where])
        grad_a = np.where(own, grad * _product_of_others(a, out, zeros, others), 0)
        return grad_a, grad_src


def _scatter_product(a, src, where, own):
    """``a`` where ``own`` (else 1) times the elements of ``src`` at ``where``."""
    out = np.where(own, a, 1).astype(a.dtype)
    np.multiply.at(out, where, src)
    return out


def _product_of_others(values, product, zeros, non_zero_product):
    """d product / d value: product / value where no factor is zero; for the only zero
    factor, the product of the others; 0 where another factor is zero."""
    is_zero = _data(values) == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(is_zero, np.where(zeros == 1, non_zero_product, 0),
                        np.where(zeros > 0, 0, product / np.where(is_zero, 1, values)))


# -- Tensor methods: queries outside the graph ---------------------------------------------------


def _wrap(array) -> Tensor:
    return Tensor._wrap(np.asarray(array))


def unique(self, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False,  # noqa: A002
           dim=None):
    """The distinct values (sorted), as ``torch.unique``, with the index of each element's
    value (``return_inverse``) and how often each occurs (``return_counts``); with ``dim``,
    the distinct slices along it. Outside the graph (PyTorch's is not differentiable either)."""
    _reads_values("unique")
    axis = None if dim is None else _axis(self, dim)
    # Each nan is a value of its own, as in PyTorch (NumPy would merge them).
    options = {"equal_nan": False} if axis is None else {"axis": axis}
    values, inverse, counts = np.unique(self.data, return_inverse=True, return_counts=True, **options)
    return _with_extras(values, inverse.reshape(self.shape if axis is None else -1), counts, return_inverse,
                        return_counts)


def _with_extras(values, inverse, counts, return_inverse, return_counts):
    out = (_wrap(values),)
    if return_inverse:
        out += (_wrap(inverse.astype(np.int64)),)
    if return_counts:
        out += (_wrap(counts.astype(np.int64)),)
    return out[0] if len(out) == 1 else out


def unique_consecutive(self, return_inverse: bool = False, return_counts: bool = False, dim=None):
    """Each run of equal consecutive values (or slices along ``dim``) kept once, as
    ``torch.unique_consecutive``; outside the graph."""
    _reads_values("unique")
    if dim is None:
        flat = self.data.reshape(-1)
        starts = np.concatenate([[True], flat[1:] != flat[:-1]]) if flat.size else np.zeros(0, bool)
        values = flat[starts]
        shape = self.shape
    else:
        axis = _axis(self, dim)
        moved = np.moveaxis(self.data, axis, 0)
        rows = moved.reshape(moved.shape[0], int(np.prod(moved.shape[1:])))  # (-1 cannot be inferred when empty)
        starts = np.concatenate([[True], np.any(rows[1:] != rows[:-1], axis=1)]) if len(rows) else np.zeros(0, bool)
        values = np.moveaxis(moved[starts], 0, axis)
        shape = (moved.shape[0],)
    inverse = (np.cumsum(starts) - 1).reshape(shape)
    counts = np.diff(np.append(np.flatnonzero(starts), starts.size))
    return _with_extras(values, inverse, counts, return_inverse, return_counts)


def bincount(self, weights=None, minlength: int = 0):
    """How often each non-negative integer occurs in this 1-D tensor (the sum of ``weights``
    at its positions with weights), as ``torch.bincount``; outside the graph."""
    _reads_values("bincount")
    if self.ndim != 1:
        raise InvalidArgumentError(f"bincount: expects a 1-D tensor of non-negative integers, got shape {self.shape}")
    values = _integers(self, "bincount", "the tensor")
    if values.size and values.min() < 0:
        raise InvalidArgumentError("bincount: the values must be non-negative integers")
    weights = None if weights is None else np.asarray(_data(weights))
    counts = np.bincount(values, weights=weights, minlength=minlength)
    return _wrap(counts.astype(weights.dtype if weights is not None and weights.dtype.kind == "f" else
                               np.float64 if weights is not None else np.int64))


def histc(self, bins: int = 100, min=0, max=0):  # noqa: A002
    """A histogram of ``bins`` equal bins between ``min`` and ``max`` (the data's own
    range when they are equal, and that widened by 1 each way if it is one value); values
    outside are ignored. As ``torch.histc``; outside the graph."""
    _reads_values("histc")
    low, high = float(min), float(max)
    if low == high and self.size:
        low, high = float(self.data.min()), float(self.data.max())
    if low == high:
        low, high = low - 1, high + 1
    if low > high:
        raise InvalidArgumentError(f"histc: max ({high}) must be larger than or equal to min ({low})")
    counts, _ = np.histogram(self.data.reshape(-1), bins=int(bins), range=(low, high))
    return _wrap(counts.astype(self.dtype))


_TYPE_NAMES = {"float64": "torch.DoubleTensor", "float32": "torch.FloatTensor", "float16": "torch.HalfTensor",
               "int64": "torch.LongTensor", "int32": "torch.IntTensor", "int16": "torch.ShortTensor",
               "int8": "torch.CharTensor", "uint8": "torch.ByteTensor", "bool": "torch.BoolTensor"}


def type_method(self, dtype=None):
    """Without ``dtype``, the type's name as PyTorch writes it (``'torch.DoubleTensor'``);
    with one (a NumPy dtype, or such a name), this tensor cast to it (``torch.Tensor.type``)."""
    if dtype is None:
        return _TYPE_NAMES.get(self.dtype.name, f"numpy.{self.dtype.name}")
    if isinstance(dtype, str) and dtype.startswith("torch."):
        names = {name: dtype for dtype, name in _TYPE_NAMES.items()}
        if dtype not in names:
            raise InvalidArgumentError(f"type: unknown type {dtype!r}; known: {sorted(names)}")
        dtype = names[dtype]
    dtype = np.dtype(dtype)
    if dtype == self.dtype:
        return self
    return ops.astype(self, dtype) if dtype.kind == "f" else _no_grad_on_data(np.asarray)(self, dtype=dtype)


def stride(self, dim=None):
    """The steps, in elements, between neighbours along each dimension (``torch.stride``)."""
    strides = tuple(s // self.data.itemsize for s in self.data.strides)
    return strides if dim is None else strides[_axis(self, dim)]


def nelement(self) -> int:
    """The number of elements (``torch.Tensor.nelement``, ``numel``)."""
    return self.data.size


def element_size(self) -> int:
    """The size of one element in bytes (``torch.Tensor.element_size``)."""
    return self.data.itemsize


def is_contiguous(self) -> bool:
    """True when the elements lie in memory in row-major order with no gaps."""
    return bool(self.data.flags.c_contiguous)


def is_same_size(self, other) -> bool:
    """True when ``other`` has this tensor's shape (``torch.Tensor.is_same_size``)."""
    return self.shape == tuple(np.shape(_data(other)))


def narrow_copy(self, dim: int, start: int, length: int):
    """``narrow``, as a new tensor (``torch.Tensor.narrow_copy``)."""
    return self.narrow(dim, start, length)


def _cholesky_solve_method(self, input2, upper: bool = False):
    """``torch.Tensor.cholesky_solve``: the solution of ``A X = self`` from ``A``'s Cholesky factor."""
    from microgradnp.linalg import cholesky_solve

    return cholesky_solve(self, input2, upper)


def _geqrf_method(self):
    """``torch.Tensor.geqrf``: ``mg.geqrf(self)``."""
    from microgradnp.linalg import geqrf

    return geqrf(self)


def _orgqr_method(self, input2):
    """``torch.Tensor.orgqr``: ``mg.orgqr(self, tau)`` (PyTorch's name for ``tau``: ``input2``)."""
    from microgradnp.linalg import orgqr

    return orgqr(self, input2)


def _ormqr_method(self, input2, input3, left: bool = True, transpose: bool = False):
    """``torch.Tensor.ormqr``: ``mg.ormqr(self, tau, other, left, transpose)`` (PyTorch's names for
    ``tau`` and ``other``: ``input2``, ``input3``)."""
    from microgradnp.linalg import ormqr

    return ormqr(self, input2, input3, left, transpose)


def _cholesky_inverse_method(self, upper: bool = False):
    """``torch.Tensor.cholesky_inverse``: the inverse of ``A`` from its Cholesky factor ``self``."""
    from microgradnp.linalg import cholesky_inverse

    return cholesky_inverse(self, upper)


def _triangular_solve_method(self, A, upper: bool = True, transpose: bool = False, unitriangular: bool = False):
    """``torch.Tensor.triangular_solve``: ``(solution, cloned_coefficient)`` of ``A X = self``."""
    from microgradnp.linalg import triangular_solve

    return triangular_solve(self, A, upper, transpose, unitriangular)


def _lu_method(self, pivot: bool = True, get_infos: bool = False):
    """``torch.Tensor.lu``: ``(LU, pivots)`` (and ``infos``), as ``torch.lu``."""
    from microgradnp.linalg import torch_lu

    return torch_lu(self, pivot, get_infos)


def _lu_solve_method(self, LU_data, LU_pivots):
    """``torch.Tensor.lu_solve``: the solution of ``A X = self`` from ``torch.lu``'s factors."""
    from microgradnp.linalg import torch_lu_solve

    return torch_lu_solve(self, LU_data, LU_pivots)


def attach(tensor_class) -> None:
    """Give ``tensor_class`` the methods of this module (those it does not have yet)."""
    from microgradnp.ops.torch_methods import _in_place

    methods = {
        "det": det, "logdet": logdet, "matrix_exp": matrix_exp, "slogdet": slogdet, "inverse": inv,
        "pinverse": pinverse,
        "cholesky": _cholesky_method, "qr": _qr_method, "svd": _svd_method, "matrix_power": matrix_power,
        "cholesky_solve": _cholesky_solve_method, "cholesky_inverse": _cholesky_inverse_method,
        "geqrf": _geqrf_method, "orgqr": _orgqr_method, "ormqr": _ormqr_method,
        "triangular_solve": _triangular_solve_method, "lu": _lu_method, "lu_solve": _lu_solve_method,
        "kron": kron, "cross": _cross_method, "inner": inner, "ger": ger, "mv": mv, "vdot": vdot,
        "diag_embed": diag_embed, "diagflat": diagflat,
        "movedim": ops.moveaxis, "swapdims": torch_names(ops.swapaxes, {"dim0": "axis1", "dim1": "axis2"}),
        "fliplr": fliplr, "flipud": flipud, "rot90": rot90,
        "tensor_split": tensor_split, "hsplit": hsplit, "vsplit": vsplit, "dsplit": dsplit,
        "split_with_sizes": split_with_sizes, "unflatten": unflatten, "unfold": unfold, "take": take,
        "take_along_dim": take_along_dim, "index_add": index_add, "index_copy": index_copy,
        "index_fill": index_fill, "masked_select": masked_select, "masked_scatter": masked_scatter,
        "scatter_reduce": scatter_reduce, "select": select, "narrow_copy": narrow_copy, "argwhere": ops.argwhere,
        "unique": unique, "unique_consecutive": unique_consecutive, "bincount": bincount, "histc": histc,
        "nelement": nelement, "element_size": element_size, "stride": stride, "is_contiguous": is_contiguous,
        "is_same_size": is_same_size, "type": type_method,
        "itemsize": property(lambda self: self.data.itemsize, doc="The size of one element in bytes."),
        "nbytes": property(lambda self: self.data.nbytes, doc="The size of the data in bytes."),
        "retains_grad": property(lambda self: bool(self._retains_grad) and not self.is_leaf,
                                 doc="True when ``retain_grad()`` was called on this non-leaf tensor."),
    }
    for name in ("index_add", "index_copy", "index_fill", "masked_scatter", "scatter_reduce"):
        methods[f"{name}_"] = _in_place(f"{name}_", methods[name])
    for name, method in methods.items():
        if not hasattr(tensor_class, name):
            setattr(tensor_class, name, method)
