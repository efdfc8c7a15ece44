"""Cumulative operations along one axis: cumsum, cumprod and logcumsumexp (NumPy's
``axis``; None flattens the tensor first)."""

from __future__ import annotations

import numpy as np

from microgradnp.ops.primitive import Primitive, axis_index, floating, normalize_axes
from microgradnp.ops.reductions import _accumulator, cast_first
from microgradnp.ops.shape import expand_dims, reshape, swapaxes
from microgradnp.tensor import Tensor, _data


def _flip(x, axis: int):
    """``x`` reversed along ``axis`` (an ndarray or a Tensor)."""
    return x[(slice(None),) * axis + (slice(None, None, -1),)]


def _reverse_cumsum(x, axis: int):
    """Sums from each element to the end of ``axis``: the adjoint of ``cumsum``."""
    if isinstance(x, np.ndarray) and x.dtype == np.float16:
        return _flip(_half_scan(np.cumsum, _flip(x, axis), axis), axis)
    return _flip(np.cumsum(_flip(x, axis), axis=axis), axis)


def _half_scan(scan, a, axis: int, **options):
    """``scan`` of a float16 ``a`` computed in float32 and rounded once at the end, as PyTorch
    accumulates half precision (NumPy would round every partial result: a cumsum of 1000
    times 0.1 would end at 105.2, not 100)."""
    with np.errstate(over="ignore"):  # (beyond float16's range: inf, as PyTorch, without a warning)
        return np.asarray(scan(a, axis=axis, dtype=np.float32, **options)).astype(np.float16)


def _prepare(ctx, a, axis):
    """The input as the array to scan (flattened when ``axis`` is None) and the axis."""
    ctx.shape, ctx.flattened = a.shape, axis is None or a.ndim == 0
    if ctx.flattened:  # NumPy scans a 0-d array as one element along axis 0 (or -1)
        if axis is not None:
            normalize_axes(axis_index(axis), 1)
        return a.reshape(-1), 0
    (axis,) = normalize_axes(axis_index(axis), a.ndim)
    return a, axis


def _unflatten(ctx, grad):
    return grad.reshape(ctx.shape) if ctx.flattened else grad


class Cumsum(Primitive):
    @staticmethod
    def forward(ctx, a, axis=None, cast=False):
        a, ctx.axis = _prepare(ctx, a, axis)
        if a.dtype == np.float16:
            return _half_scan(np.cumsum, a, ctx.axis)
        return np.cumsum(a, axis=ctx.axis, dtype=_accumulator(a, cast))

    @staticmethod
    def backward(ctx, grad):
        return _unflatten(ctx, _reverse_cumsum(grad, ctx.axis))


class Cumprod(Primitive):
    @staticmethod
    def forward(ctx, a, axis=None, cast=False):
        scanned, ctx.axis = _prepare(ctx, a, axis)
        if scanned.dtype == np.float16:
            out = _half_scan(np.cumprod, scanned, ctx.axis)
        else:
            out = np.cumprod(scanned, axis=ctx.axis, dtype=_accumulator(scanned, cast))
        ctx.save_for_backward(a, out)  # the input itself, so that a second derivative sees it
        return out

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved_tensors
        axis = ctx.axis
        a = a.reshape(-1) if ctx.flattened else a
        values = a.data if isinstance(a, Tensor) else a
        if not (values == 0).any():  # then d out_i / d a_j = out_i / a_j for j <= i
            return _unflatten(ctx, _reverse_cumsum(grad * out, axis) / a)
        if isinstance(grad, Tensor):  # building a graph: differentiable operations only
            return _unflatten(ctx, _cumprod_grad_with_zeros(a, grad, axis))
        # The gradient of a_j is (product of a_k, k < j) * W_j, where W_j sums grad_i times
        # the product of a_k, j < k <= i: W_j = grad_j + a_{j+1} W_{j+1}, exact with zeros.
        a, grad = np.moveaxis(a, axis, -1), np.moveaxis(grad, axis, -1)
        before = np.ones_like(a)
        np.cumprod(a[..., :-1], axis=-1, out=before[..., 1:])
        tail = np.array(grad, dtype=np.result_type(grad, a))
        for j in range(a.shape[-1] - 2, -1, -1):
            tail[..., j] += a[..., j + 1] * tail[..., j + 1]
        return _unflatten(ctx, np.moveaxis(before * tail, -1, axis))


class LogCumSumExp(Primitive):
    name = "logcumsumexp"

    @staticmethod
    def forward(ctx, a, axis=None):
        a = floating(a)
        scanned, ctx.axis = _prepare(ctx, a, axis)
        if scanned.dtype == np.float16:  # (in float32, rounded once, as PyTorch)
            out = np.logaddexp.accumulate(scanned.astype(np.float32), axis=ctx.axis).astype(np.float16)
        else:
            out = np.logaddexp.accumulate(scanned, axis=ctx.axis)  # pairwise log(e**x + e**y): no overflow
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        # d out_i / d a_j = exp(a_j - out_i) for j <= i. Summing grad_i times it over i >= j
        # in log space, separately for the positive and the negative grad_i, stays finite
        # where exp(a_j) and exp(-out_i) alone would overflow.
        a, out = ctx.saved_tensors
        a = a.reshape(-1) if ctx.flattened else a
        values, reached = _values(grad), _values(out) != -np.inf  # out_i = -inf: every a_j, j <= i, is -inf
        positive, negative = (values > 0) & reached, (values < 0) & reached
        log_share = np.log(np.where(positive | negative, grad * np.sign(values), 1.0)) - np.where(reached, out, 0.0)
        total = 0.0
        for picked, sign in ((positive, 1.0), (negative, -1.0)):
            if picked.any():
                total = total + sign * np.exp(a + _reverse_logcumsumexp(np.where(picked, log_share, -np.inf), ctx.axis))
        total = grad * 0.0 if isinstance(total, float) else total  # no grad_i != 0: zeros
        # d out_i / d a_j is undefined where out_i = -inf (a leading run of -inf): nan, as PyTorch,
        # for the a_j that such an out_i with a nonzero grad_i depends on.
        undefined = ~reached & (values != 0)
        if undefined.any():
            undefined = _flip(np.logical_or.accumulate(_flip(undefined, ctx.axis), axis=ctx.axis), ctx.axis)
            total = np.where(undefined, np.nan, total)
        return _unflatten(ctx, total)


def _values(x):
    return x.data if isinstance(x, Tensor) else x


def _reverse_logcumsumexp(x, axis: int):
    flipped = _flip(x, axis)
    if isinstance(x, Tensor):
        return _flip(LogCumSumExp.apply(flipped, axis=axis), axis)
    return _flip(np.logaddexp.accumulate(flipped, axis=axis), axis)


def _cumprod_grad_with_zeros(a, grad, axis: int):
    """The gradient of cumprod on Tensors holding zeros, built from differentiable
    operations (O(n²) memory along ``axis``, only when differentiating it again): row j
    of ``rows`` is ``a`` with a_j replaced by 1, whose cumprod at i is d out_i / d a_j."""
    a, grad = swapaxes(a, axis, -1), swapaxes(grad, axis, -1)
    n = a.shape[-1]
    rows = np.where(np.eye(n, dtype=bool), 1.0, expand_dims(a, -2))
    later = np.triu(np.ones((n, n), dtype=bool))  # [j, i]: i >= j
    partial = np.where(later, expand_dims(grad, -2) * cumprod(rows, axis=-1), 0.0)
    return swapaxes(partial.sum(axis=-1), axis, -1)


def cumsum(x, axis=None, *, dim=None, dtype=None):
    """Cumulative sum along ``axis``, as ``np.cumsum``: with ``axis`` None, of the
    flattened tensor (``torch.cumsum`` needs ``dim``, which is accepted too).

    Args:
        x: The tensor.
        axis: The axis to scan, or None to flatten first.
        dim: PyTorch's name for it; on a 0-d tensor, dim 0 or -1 gives a 0-d result (as
            ``torch.cumsum``), where NumPy's ``axis=0`` gives one element.
        dtype: PyTorch's: the input is cast to it first (the gradient comes back in the
            input's dtype). Without it, bool and integer tensors scan in int64, as PyTorch.

    Returns:
        A tensor of ``x``'s shape (1-D when ``axis`` is None).
    """
    return _scan(Cumsum, cast_first("cumsum", x, dtype), axis, dim, cast=dtype is not None)


def cumprod(x, axis=None, *, dim=None, dtype=None):
    """Cumulative product along ``axis``, as ``np.cumprod`` (None: of the flattened tensor).

    Gradients are exact where ``x`` holds zeros (no division by them), as PyTorch's;
    differentiating them again at such inputs uses O(n²) memory along the axis.

    Args:
        x: The tensor.
        axis: The axis to scan, or None to flatten first.
        dim: PyTorch's name for it; on a 0-d tensor, dim 0 or -1 gives a 0-d result (as
            ``torch.cumprod``), where NumPy's ``axis=0`` gives one element.
        dtype: PyTorch's: the input is cast to it first (the gradient comes back in the
            input's dtype). Without it, bool and integer tensors scan in int64, as PyTorch.

    Returns:
        A tensor of ``x``'s shape (1-D when ``axis`` is None).
    """
    return _scan(Cumprod, cast_first("cumprod", x, dtype), axis, dim, cast=dtype is not None)


def logcumsumexp(x, axis=None, *, dim=None):
    """log(cumsum(exp(x))) along ``axis``, as ``torch.logcumsumexp``, without overflow
    for large |x| (forward and gradient). With ``axis`` None, of the flattened tensor.

    ``-inf`` elements (masked out) get gradient 0, except in a leading run of ``-inf``
    where the result itself is ``-inf`` and receives a nonzero gradient: the derivative is
    undefined there, and nan, as in PyTorch (which also gives nan where the gradient comes
    only from later results, for which the derivative is 0).

    Args:
        x: The tensor.
        axis: The axis to scan, or None to flatten first.
        dim: PyTorch's name for it; on a 0-d tensor, dim 0 or -1 gives a 0-d result (as
            ``torch.cumsum``), where NumPy's ``axis=0`` gives one element.

    Returns:
        A tensor of ``x``'s shape (1-D when ``axis`` is None).
    """
    return _scan(LogCumSumExp, x, axis, dim)


def _scan(cls, x, axis, dim, **options):
    """``cls`` along ``axis`` (NumPy's rule: a 0-d tensor scans as one element), or along
    ``dim`` with PyTorch's rule for 0-d tensors (the result is 0-d)."""
    if dim is None:
        return cls.apply(x, axis=axis, **options)
    if axis is not None:
        raise TypeError(f"{cls.__name__.lower()}() got both dim= and axis= (they are the same argument)")
    if np.ndim(_data(x)) == 0:
        if dim not in (0, -1):
            raise IndexError(f"{cls.__name__.lower()}: dimension out of range (expected to be in range of [-1, 0] "
                             f"for a 0-d tensor, but got {dim})")
        return reshape(cls.apply(x, axis=None, **options), ())
    return cls.apply(x, axis=dim, **options)
