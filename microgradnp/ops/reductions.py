"""Reductions over axes: sum, mean, var, std, prod, norm, max, min, logsumexp, and the
non-differentiable any and all (NumPy's axis/keepdims)."""

from __future__ import annotations

import builtins
import functools
import math
import numbers

import numpy as np

from microgradnp.errors import InvalidArgumentError
from microgradnp.ops.activations import _shift_by_max
from microgradnp.ops.primitive import (
    Primitive,
    broadcast_grad,
    check_not_empty,
    constant,
    floating,
    kept_shape,
    masked_product,
    normalize_axes,
    reduction_axes,
    restore_reduced_axes,
)
from microgradnp.tensor import Tensor, _as_array_result, _data, _no_grad_on_data


def _prepare(ctx, a, axis) -> tuple[int, ...]:
    """Record what every reduction's backward needs: the input shape and the shape
    the output has with its reduced axes kept as length 1."""
    shape = ctx.shape = a.shape
    if axis is None or type(axis) is int:  # (the usual axes, worked out once per shape)
        axes, ctx.kept = _reduced(axis, shape)
    else:
        axes, ctx.kept = _reduced.__wrapped__(axis, shape)
    return axes


@functools.lru_cache(maxsize=512)
def _reduced(axis, shape: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The axes ``axis`` reduces in an array of ``shape``, and the shape kept with them as 1."""
    if axis is None:
        return tuple(range(len(shape))), (1,) * len(shape)
    axes = reduction_axes(axis, len(shape))
    return axes, kept_shape(shape, axes)


def _accumulator(a, cast: bool = False) -> np.dtype | None:
    """The dtype a sum or product of ``a`` is computed in: ``a``'s own when it was cast to
    the ``dtype=`` asked for, else int64 for every bool and integer dtype (PyTorch's rule;
    NumPy would give uint64 for unsigned ones, and int64 for bools, which PyTorch keeps)."""
    if a.dtype.kind not in "biu":
        return None
    return a.dtype if cast else np.dtype(np.int64)  # (NumPy's own would widen an int32 to int64)


def cast_first(name: str, x, dtype):
    """PyTorch's ``dtype=`` of a reduction or scan: ``x`` cast to ``dtype`` before it is
    computed (differentiably to a floating dtype, so the gradient flows back in ``x``'s
    own dtype; outside the graph to an integer or bool one)."""
    if dtype is None:
        return x
    from microgradnp.ops.torch_extras import _cast  # (it imports the ops: not at import time)

    return _cast(name, x if isinstance(x, Tensor) else Tensor._wrap(np.asarray(x)), dtype)


def _half_in_single(a):
    """float32 for a float16 ``a``: PyTorch sums half precision in single and rounds once at
    the end (NumPy would round every partial sum, and overflow on the way to a finite mean)."""
    return np.float32 if a.dtype == np.float16 else None


class Sum(Primitive):
    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False, cast=False):
        axes = _prepare(ctx, a, axis)
        if a.dtype == np.float16:
            total = np.asarray(np.add.reduce(a, axis=axes, keepdims=keepdims, dtype=np.float32))
            with np.errstate(over="ignore"):  # (beyond float16's range: inf, as PyTorch, without a warning)
                return total.astype(np.float16)
        return np.add.reduce(a, axis=axes, keepdims=keepdims, dtype=_accumulator(a, cast))

    @staticmethod
    def backward(ctx, grad):
        return broadcast_grad(restore_reduced_axes(grad, ctx.kept), ctx.shape)


class Mean(Primitive):
    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        a = floating(a)  # the mean of ints or bools: the default float dtype
        total = np.add.reduce(a, axis=_prepare(ctx, a, axis), keepdims=keepdims, dtype=_half_in_single(a))
        count = ctx.count = a.size // total.size if total.size else 0
        mean = total / count if type(total) is not np.ndarray else total / constant(count, total.dtype)
        return mean if mean.dtype == a.dtype else np.asarray(mean).astype(a.dtype)

    @staticmethod
    def backward(ctx, grad):
        return broadcast_grad(restore_reduced_axes(grad, ctx.kept) / constant(ctx.count, grad.dtype), ctx.shape)


def _shifted(a, axes: tuple[int, ...], dtype=None):
    """``a`` (an ndarray or a Tensor) minus the first element of each group reduced over
    ``axes`` (computed in ``dtype`` if given): a constant shift, so the variance and its
    derivatives do not change, but a group of equal elements becomes exactly 0. (NumPy's
    mean of n equal values can round: the mean of ten 1/3 is not 1/3, which would leave a
    standard deviation of 6e-17 instead of 0, with a gradient of +-1/sqrt(n(n-1)) instead
    of PyTorch's 0.)"""
    values = _values(a)
    if values.size == 0:
        return a
    first = values[tuple(slice(0, 1) if i in axes else slice(None) for i in range(values.ndim))]
    return a - first if dtype is None else np.subtract(a, first, dtype=dtype)


def _centered(a, axes: tuple[int, ...]):
    """``a`` minus its mean over ``axes``: exactly 0 in a group of equal elements."""
    shifted = _shifted(a, axes)
    return shifted - shifted.mean(axis=axes, keepdims=True)


class Var(Primitive):
    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False, ddof=0):
        a = floating(a)
        axes = _prepare(ctx, a, axis)
        ctx.axes, ctx.ddof = axes, ddof
        ctx.count = math.prod(a.shape[i] for i in axes)
        ctx.save_for_backward(a)
        var = np.var(_shifted(a, axes, _half_in_single(a)), axis=axes, keepdims=keepdims, ddof=ddof)
        return var if var.dtype == a.dtype else np.asarray(var).astype(a.dtype)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        centered = _centered(a, ctx.axes)
        dof = ctx.count - ctx.ddof
        scale = 2.0 / dof if dof > 0 else math.nan  # no degrees of freedom: undefined, like the forward
        return restore_reduced_axes(grad, ctx.kept) * centered * scale


class _Extreme(Primitive):
    """max / min: the gradient is shared evenly among the elements that tie for the extreme.
    A NaN is the extreme of its group (as in NumPy and PyTorch) and the NaNs of the group
    share the gradient, as PyTorch's ``max()`` gives it (its ``amax`` gives nan everywhere)."""

    pick = staticmethod(np.max)

    @classmethod
    def forward(cls, ctx, a, axis=None, keepdims=False):
        axes = _prepare(ctx, a, axis)
        if a.size == 0:  # an empty batch reduced along a non-empty axis is fine
            check_not_empty(cls.name, a.shape, axes)
        extreme = cls.pick(a, axis=axes, keepdims=True)
        hits = a == extreme
        if extreme.dtype.kind == "f" and np.isnan(extreme).any():
            hits |= np.isnan(a) & np.isnan(extreme)
        ctx.save_for_backward(hits / hits.sum(axis=axes, keepdims=True).astype(a.dtype))
        return extreme if keepdims else np.squeeze(extreme, axes)

    @staticmethod
    def backward(ctx, grad):
        (share,) = ctx.saved_tensors
        return masked_product(restore_reduced_axes(grad, ctx.kept), share)


class Max(_Extreme):
    pick = staticmethod(np.max)


class Min(_Extreme):
    pick = staticmethod(np.min)


class LogSumExp(Primitive):
    """log(sum(exp(a))) shifted by the max; -inf over an empty axis (the log of an empty
    sum, as PyTorch), +inf where a +inf is summed, nan where a nan is or only -infs are.

    The gradient is the softmax of ``a``, computed as exp(a - max) / sum(exp(a - max)):
    exact even where the result rounds to the max (|a| >= 2**53, where exp(a - out)
    gives 1 for each of two equal elements, as PyTorch's rule does, instead of 1/2),
    and never overflowing (1e308 and 1e308); 0 at -inf elements, as in PyTorch."""

    name = "logsumexp"

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        a = floating(a)
        ctx.axes = axes = _prepare(ctx, a, axis)
        # a - max beyond the float range is -inf (exp: 0); log(0) is -inf over an empty axis
        with np.errstate(over="ignore", divide="ignore"):
            shifted, peak = _shift_by_max(a, axes)
            out = peak + np.log(np.exp(shifted).sum(axis=axes, keepdims=True))
        out = out if keepdims else np.squeeze(out, axes)
        ctx.save_for_backward(a)
        return out

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return restore_reduced_axes(grad, ctx.kept) * _softmax_weights(a, ctx.axes)


def _softmax_weights(a, axes):
    """exp(a) / sum(exp(a)) over ``axes`` for an ndarray or a Tensor (then recorded, so
    the gradient of logsumexp can be differentiated again). The shift by the max is a
    constant: the weights do not depend on it, so their derivatives are exact too."""
    _, peak = _shift_by_max(_values(a), axes)
    with np.errstate(over="ignore"):  # a - max beyond the float range is -inf: a weight of 0
        e = np.exp(a - peak)
    return e / e.sum(axis=axes, keepdims=True)


def sum(x, axis=None, keepdims=False, *, dtype=None):  # noqa: A001  (mirrors np.sum)
    """Sum over ``axis`` (all axes when None).

    Bool and integer tensors sum to int64, as in PyTorch. ``dtype=`` (PyTorch's): the input
    is cast to it first, so ``mg.sum(t, dtype=mg.float64)`` of a float32 ``t`` sums in
    float64 and its gradient comes back to ``t`` in float32.
    """
    return Sum.apply(cast_first("sum", x, dtype), axis=axis, keepdims=keepdims, cast=dtype is not None)


def mean(x, axis=None, keepdims=False, *, dtype=None):
    """Mean over ``axis`` (all axes when None); of bool and integer tensors, in the default
    float dtype.

    ``dtype=`` (PyTorch's): a floating dtype the input is cast to first (the gradient comes
    back in the input's dtype).

    Raises:
        TypeError: ``dtype`` is not a floating dtype (PyTorch refuses an integer mean too).
    """
    if dtype is not None and np.dtype(dtype).kind != "f":
        raise TypeError(f"mean(dtype={np.dtype(dtype)}): the mean needs a floating dtype, such as mg.float64")
    return Mean.apply(cast_first("mean", x, dtype), axis=axis, keepdims=keepdims)


def var(x, axis=None, keepdims=False, ddof=None, correction=None):
    """Variance over ``axis``, dividing by N - ddof.

    Args:
        x: The tensor.
        axis: The axes to reduce (None: all).
        keepdims: Keep the reduced axes as length 1.
        ddof: NumPy's "delta degrees of freedom": the variance divides by N - ddof.
            When neither ``ddof`` nor ``correction`` is given: 0 (NumPy's default, the
            population variance), or 1 (``torch.var``'s default) when the axes are given
            in PyTorch's spelling, ``dim=``: ``t.var(dim=1)`` is ``torch.var(t, dim=1)``.
        correction: PyTorch's name for ``ddof`` (and ``unbiased=True``/``False``, its
            older form, is ``correction=1``/``0``).

    Returns:
        The variance; nan where N - ddof <= 0, as NumPy.

    Raises:
        TypeError: Both ``ddof`` and ``correction`` are given.
    """
    return Var.apply(x, axis=axis, keepdims=keepdims, ddof=_ddof("var", ddof, correction))


def _ddof(function: str, ddof, correction):
    if ddof is not None and correction is not None:
        raise TypeError(f"{function}() got both ddof= and correction= (they are the same argument: correction is "
                        "PyTorch's name for NumPy's ddof)")
    chosen = correction if ddof is None else ddof
    return 0 if chosen is None else chosen


def max(x, axis=None, keepdims=False):  # noqa: A001  (mirrors np.max)
    """Largest value over ``axis``; tied maxima share the gradient evenly. A NaN is the
    largest value, and the NaNs of a group share its gradient (as PyTorch's ``max()``).
    Over an axis of length 0 it raises ``EmptyReductionError`` (an IndexError, as
    PyTorch's, and a ValueError, as NumPy's)."""
    return Max.apply(x, axis=axis, keepdims=keepdims)


def min(x, axis=None, keepdims=False):  # noqa: A001  (mirrors np.min)
    """Smallest value over ``axis``; tied minima share the gradient evenly. A NaN is the
    smallest value, and the NaNs of a group share its gradient (as PyTorch's ``min()``).
    Over an axis of length 0 it raises ``EmptyReductionError`` (an IndexError, as
    PyTorch's, and a ValueError, as NumPy's)."""
    return Min.apply(x, axis=axis, keepdims=keepdims)


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) over ``axis``, without overflow for large |x| (-inf over an empty
    axis, as PyTorch). Its gradient, the softmax of ``x``, is exact up to |x| = 1e308."""
    return LogSumExp.apply(x, axis=axis, keepdims=keepdims)


# -- prod, std, norm, any, all ---------------------------------------------------------------


def _to_last(x, axes: tuple[int, ...]):
    """``x`` (an ndarray or a Tensor) with ``axes`` moved to the end and merged into one."""
    rest = [i for i in range(x.ndim) if i not in axes]
    moved = x.transpose(tuple(rest + list(axes)))
    return moved.reshape((*moved.shape[:len(rest)], math.prod(x.shape[i] for i in axes)))


def _from_last(flat, axes: tuple[int, ...], shape: tuple[int, ...]):
    """Undo ``_to_last``: give ``flat`` back the layout of an array of ``shape``."""
    rest = [i for i in range(len(shape)) if i not in axes]
    order = rest + list(axes)
    moved = flat.reshape(tuple(shape[i] for i in order))
    return moved.transpose(tuple(np.argsort(order)))


def _values(x):
    return x.data if isinstance(x, Tensor) else x


def _exclusive_cumprod(flat):
    """Along the last axis: the product of the elements before each one (1 for the first)."""
    out = np.ones_like(flat)
    np.cumprod(flat[..., :-1], axis=-1, out=out[..., 1:])
    return out


def _product_of_others(a, axes: tuple[int, ...], out):
    """For each element of ``a``, the product of the other elements of its reduced group:
    the gradient of ``prod``, exact when ``a`` holds zeros (no division by them)."""
    if not isinstance(a, Tensor):
        flat = _to_last(a, axes)
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):  # (as the forward: inf, 0 or nan)
            others = _exclusive_cumprod(flat) * _exclusive_cumprod(flat[..., ::-1])[..., ::-1]
        return _from_last(others, axes, a.shape)
    product = _values(out)
    if np.all(np.isfinite(product) & (product != 0)):  # the same function near a, so its derivatives are right too
        return out / a
    # A zero, or a product that underflowed to 0 or overflowed to inf (where out / a would give
    # 0 or inf, not the product of the others, as the first-order rule above does): every
    # group's products of the others, as rows of an n x n matrix whose diagonal is 1 (O(n^2)
    # memory, only when differentiating the gradient again).
    flat = _to_last(a, axes)
    n = flat.shape[-1]
    rows = np.where(np.eye(n, dtype=bool), 1.0, flat.reshape((*flat.shape[:-1], 1, n)))
    return _from_last(prod(rows, axis=-1), axes, a.shape)


class Prod(Primitive):
    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False, cast=False):
        ctx.axes = _prepare(ctx, a, axis)
        with np.errstate(over="ignore", under="ignore"):  # (beyond the dtype's range: inf or 0, as PyTorch, quietly)
            out = np.prod(a, axis=ctx.axes, keepdims=keepdims, dtype=_accumulator(a, cast))
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved_tensors
        kept = ctx.kept
        return restore_reduced_axes(grad, kept) * _product_of_others(a, ctx.axes, restore_reduced_axes(out, kept))


def _masked_scale(grad, denominator):
    """``grad / denominator``, and 0 where the denominator is 0 (the mask is a constant, so
    the rule stays differentiable and never divides by zero)."""
    zero = _values(denominator) == 0
    if not zero.any():
        return grad / denominator
    return np.where(zero, 0.0, grad / np.where(zero, 1.0, denominator))


class Std(Primitive):
    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False, ddof=0):
        a = floating(a)
        axes = _prepare(ctx, a, axis)
        ctx.axes, ctx.ddof = axes, ddof
        ctx.count = math.prod(a.shape[i] for i in axes)
        out = np.std(_shifted(a, axes, _half_in_single(a)), axis=axes, keepdims=keepdims, ddof=ddof)
        out = out if out.dtype == a.dtype else np.asarray(out).astype(a.dtype)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved_tensors
        if ctx.count == 0:
            return a * 0.0  # empty groups: an empty gradient
        centered = _centered(a, ctx.axes)
        dof = ctx.count - ctx.ddof
        if dof <= 0:  # no degrees of freedom: undefined, like the forward
            return restore_reduced_axes(grad, ctx.kept) * centered * math.nan
        # d std = centered / (dof * std); where std == 0 (all equal), 0, as PyTorch.
        return centered * _masked_scale(restore_reduced_axes(grad, ctx.kept), restore_reduced_axes(out, ctx.kept) * dof)


class Norm(Primitive):
    """Vector p-norm over ``axes`` taken together (the Frobenius norm is the 2-norm over two axes):
    (sum |a|**p)**(1/p) for any p but 0, which counts the nonzero elements (gradient 0)."""

    @staticmethod
    def forward(ctx, a, ord=2.0, axes=(), keepdims=False):  # noqa: A002  (NumPy's name)
        a = floating(a)
        _prepare(ctx, a, axes)
        ctx.axes, ctx.ord = axes, ord
        ctx._zero_second_order = ord == 1 or ord == np.inf or ord == -np.inf  # piecewise linear
        if ord == 0:
            return np.not_equal(a, 0).sum(axis=axes, keepdims=keepdims, dtype=a.dtype)
        magnitude = np.abs(a)
        if ord < 0 and builtins.any(a.shape[i] == 0 for i in axes):  # (a sum of no |a|**p is 0: 0**(1/p))
            raise InvalidArgumentError(f"norm: the tensor is empty along the reduced axes, so its {ord:g}-norm is "
                                       "undefined (the operation has no identity)")
        if math.isinf(ord):
            if builtins.any(a.shape[i] == 0 for i in axes):
                raise InvalidArgumentError(
                    "norm: the tensor is empty along the reduced axes, so its inf-norm is undefined")
            extreme = (np.max if ord > 0 else np.min)(magnitude, axis=axes, keepdims=True)
            hits = magnitude == extreme
            ctx.save_for_backward(np.sign(a) * hits / hits.sum(axis=axes, keepdims=True))
            return extreme if keepdims else np.squeeze(extreme, axes)
        if ord == 1:
            ctx.save_for_backward(np.sign(a))
            return magnitude.sum(axis=axes, keepdims=keepdims)
        # Scaled by the largest magnitude (the smallest for p < 0), so that |a|**p neither
        # overflows nor underflows.
        if ord > 0:
            peak = np.max(magnitude, axis=axes, keepdims=True, initial=0.0)
        else:
            peak = np.min(magnitude, axis=axes, keepdims=True)
        # (not by 0, and not by inf, whose inf / inf would make a vector holding inf's norm nan)
        safe_peak = np.where((peak == 0) | (peak == np.inf), 1.0, peak)
        with np.errstate(divide="ignore"):  # p < 0: a zero's 0**p is inf, and the norm 0 (as PyTorch's)
            out = safe_peak * ((magnitude / safe_peak) ** ord).sum(axis=axes, keepdims=True) ** (1.0 / ord)
        out = out if keepdims else np.squeeze(out, axes)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        p = ctx.ord
        if p == 0:  # a count: constant between the points where an element becomes 0
            return np.zeros(ctx.shape, dtype=grad.dtype)
        grad = restore_reduced_axes(grad, ctx.kept)
        if math.isinf(p) or p == 1:
            (share,) = ctx.saved_tensors
            return grad * share
        a, out = ctx.saved_tensors
        out = restore_reduced_axes(out, ctx.kept)
        if p == 2:  # a / |a|, and 0 at a == 0 (PyTorch's subgradient)
            return a * _masked_scale(grad, out)
        # sign(a) (|a| / |a|_p)**(p-1): 0 where a == 0 (PyTorch's choice, also for p < 1), and
        # 0 where the norm is 0 (for p > 0, every a is 0 there; for p < 0, one is, as PyTorch's).
        values = _values(a)
        vanished = _values(out) == 0
        zero = (values == 0) | vanished
        magnitude = np.where(zero, 1.0, a * np.sign(values))
        ratio = magnitude / np.where(vanished, 1.0, out)
        return np.where(zero, 0.0, np.sign(values) * ratio ** (p - 1)) * grad


def prod(x, axis=None, keepdims=False, *, dtype=None):
    """Product of the elements over ``axis`` (all axes when None), as ``np.prod``; bool and
    integer tensors multiply in int64, as in PyTorch.

    The gradient of each element is the product of the others in its group, computed
    without dividing, so it is exact where the input holds zeros: with one zero, only
    the zero gets a gradient; with two or more, every gradient is 0 (as PyTorch).
    Differentiating that gradient again at an input holding zeros uses O(n²) memory for
    groups of n elements.

    Args:
        x: The tensor.
        axis: The axes to reduce: None (all), an int or a tuple.
        keepdims: Keep the reduced axes as length 1.
        dtype: PyTorch's: the input is cast to it first (the gradient comes back in the
            input's dtype).

    Returns:
        The product (1 over an empty axis).
    """
    return Prod.apply(cast_first("prod", x, dtype), axis=axis, keepdims=keepdims, cast=dtype is not None)


def std(x, axis=None, keepdims=False, ddof=None, correction=None):
    """Standard deviation over ``axis``: the square root of ``var`` with the same arguments.

    Follows NumPy's default ``ddof=0`` (the population standard deviation) with
    ``axis=`` or no axis, and PyTorch's ``correction=1`` when the axes are given in
    PyTorch's spelling, ``dim=`` (``t.std(dim=0)`` is ``torch.std(t, dim=0)``); an
    explicit ``ddof``, ``correction`` or ``unbiased`` wins. Where the standard deviation
    is 0 (all elements equal) its gradient is 0, as PyTorch gives it.

    Args:
        x: The tensor.
        axis: The axes to reduce: None (all), an int or a tuple.
        keepdims: Keep the reduced axes as length 1.
        ddof: The variance divides by N - ddof (when neither ``ddof`` nor
            ``correction`` is given: 0, or 1 with ``dim=``).
        correction: PyTorch's name for ``ddof`` (``unbiased=True``/``False`` is 1/0).

    Returns:
        The standard deviation; nan (and a nan gradient) where N - ddof <= 0.

    Raises:
        TypeError: Both ``ddof`` and ``correction`` are given.
    """
    return Std.apply(x, axis=axis, keepdims=keepdims, ddof=_ddof("std", ddof, correction))


def norm(x, ord=None, axis=None, keepdims=False, *, p=None, dtype=None):  # noqa: A002  (NumPy's name)
    """Vector or matrix norm, as ``np.linalg.norm`` (``torch.linalg.norm``).

    With ``axis`` None and ``ord`` None: the 2-norm of all elements. With ``axis`` an
    int (or ``axis`` None on a 1-D tensor): a vector norm. With ``axis`` a pair (or
    ``axis`` None on a 2-D tensor with ``ord`` given): a matrix norm, of which the
    Frobenius norm (``ord`` None or ``"fro"``) is supported.

    Gradients at a kink follow PyTorch: 0 at x = 0 for the 2-norm (and the gradient of
    that gradient is 0 there too, where PyTorch gives nan), ``sign(x)`` for the 1-norm
    (0 at 0), 0 for the elements that are 0 in a p-norm, and for ``inf``/``-inf`` the
    elements tied for the largest/smallest magnitude share it evenly.

    ``p=`` is PyTorch's ``torch.norm(x, p, dim)`` (and ``Tensor.norm(p, dim)``), under its
    rules: a number p is the vector p-norm of the elements over ``dim`` (all of them when
    None), whatever the tensor's shape: ``t.norm(p=1)`` is ``abs(t).sum()``,
    ``t.norm(p=2, dim=1)`` each row's length. Any p is accepted: p = 0 counts the nonzero
    elements (gradient 0), p < 0 gives (sum |x|**p)**(1/p), 0 if an element is 0 (and then
    gradient 0, as PyTorch). ``"fro"`` is the 2-norm over ``dim`` (None, one axis or two);
    ``"nuc"`` the nuclear norm (the sum of the singular values) of a 2-D tensor, or over the
    pair of axes ``dim``, whose gradient ``U @ Vh`` is defined where the singular values are
    distinct and nonzero.

    Args:
        x: The tensor.
        ord: For vectors: None or 2, 1, ``inf``, ``-inf`` or any p > 0 (sum |x|**p)**(1/p).
            For matrices: None or ``"fro"``.
        axis: None, an int (vector norm) or a pair of ints (matrix norm).
        keepdims: Keep the reduced axes as length 1.
        p: PyTorch's argument instead of ``ord``: any number (a vector norm over ``axis``,
            any number of axes, all when None), ``"fro"`` or ``"nuc"``.
        dtype: PyTorch's: a floating dtype at least as wide as the input's, which the input
            is cast to first (the gradient comes back in the input's dtype).

    Returns:
        The norm.

    Raises:
        ValueError: An unsupported ``ord`` (0, negative p, the nuclear and spectral matrix
            norms), or ``axis`` None with ``ord`` given on a tensor that is not 1-D or 2-D;
            with ``p``: a string other than "fro" and "nuc", "nuc" (or "fro" over more than
            two axes) without two distinct axes of a tensor of at least 2 dimensions, or
            p < 0 or inf over an axis of length 0 (no identity), as PyTorch raises; a
            ``dtype`` that is not floating or narrower than the input's.
    """
    if dtype is not None:
        given, dtype = np.result_type(_data(x)), np.dtype(dtype)
        if dtype.kind != "f" or np.promote_types(given, dtype) != dtype:
            raise InvalidArgumentError(f"norm(dtype={dtype}): the input's dtype {given} must convert to it without "
                                       "narrowing: give a floating dtype at least as wide")
        x = cast_first("norm", x, dtype)
    ndim = np.ndim(_data(x))
    if p is not None:
        if ord is not None:
            raise TypeError("norm() got both ord= and p=: give one (p is PyTorch's argument, ord NumPy's)")
        return _torch_norm(x, p, axis, keepdims, ndim)
    if axis is None:
        if ord is not None and ndim not in (1, 2):
            raise InvalidArgumentError(
                f"norm: ord={ord!r} with axis=None needs a 1-D or 2-D tensor, not {ndim}-D: give axis")
        axes = tuple(range(ndim))
        matrix = ord is not None and ndim == 2
    else:
        axes = reduction_axes(axis, ndim)  # (a 0-d tensor's dim 0 or -1 reduces nothing, as PyTorch's)
        given = 1 if isinstance(axis, (int, np.integer)) else len(tuple(axis))
        if len(set(axes)) != (given if ndim else 0) or given not in ((1, 2) if ndim else (1,)):
            raise InvalidArgumentError(f"norm: axis must be an int or a pair of distinct axes, got {axis!r}")
        matrix = given == 2
    if matrix:
        if ord not in (None, "fro"):
            raise InvalidArgumentError(
                f"norm: matrix norm ord={ord!r} is not supported: only the Frobenius norm (ord=None "
                "or 'fro'); for a vector norm over each row or column give one axis")
        ord = None  # noqa: A001  (the Frobenius norm is the 2-norm of the elements)
    return Norm.apply(x, ord=_vector_order(2.0 if ord is None else ord, "ord"), axes=axes, keepdims=keepdims)


def _torch_norm(x, p, dim, keepdim: bool, ndim: int):
    """``torch.norm(x, p, dim, keepdim)``: "fro" over at most two axes is the vector 2-norm,
    another string a matrix norm over exactly two axes (all of a 2-D tensor's when None)."""
    if isinstance(p, str):
        if p == "fro" and (dim is None or isinstance(dim, int | np.integer) or len(dim) <= 2):
            p = 2.0
        else:
            return _matrix_norm(x, p, tuple(range(ndim)) if dim is None else dim, keepdim, ndim)
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or math.isnan(p):
        raise InvalidArgumentError(f"norm: p={p!r} is not supported: give a number, 'fro' or 'nuc'")
    axes = tuple(range(ndim)) if dim is None else reduction_axes(dim, ndim)
    return Norm.apply(x, ord=float(p), axes=axes, keepdims=keepdim)


def _matrix_norm(x, p: str, dim, keepdim: bool, ndim: int):
    """PyTorch's ``matrix_norm`` with a string order, and its checks in its order."""
    if ndim < 2:
        raise InvalidArgumentError(f"norm: p={p!r} is a matrix norm: the tensor must have at least 2 dimensions, "
                                   f"got {ndim}")
    dims = (dim,) if isinstance(dim, int | np.integer) else tuple(dim)
    if len(dims) != 2 or len(set(normalize_axes(dims, ndim))) != 2:
        raise InvalidArgumentError(f"norm: p={p!r} is a matrix norm over two distinct axes: dim must be a pair of "
                                   f"them, got {dim!r}")
    if p not in ("fro", "nuc"):
        raise InvalidArgumentError(f"norm: p={p!r} is not supported: give a number, 'fro' or 'nuc'")
    from microgradnp.ops.torch_shape import matrix_norm  # (it builds on these operations)

    return matrix_norm(x, p, dims, keepdim)


def _vector_order(order, argument: str) -> float:
    """A vector norm's order as a float; an unsupported one raises naming the supported."""
    if isinstance(order, str) or not (order > 0 or order == -math.inf):
        raise InvalidArgumentError(
            f"norm: vector norm {argument}={order!r} is not supported: use 1, 2, inf, -inf or any p > 0")
    return float(order)


def any(x, axis=None, keepdims=False):  # noqa: A001  (mirrors np.any)
    """Whether any element is true (nonzero) over ``axis``, as ``np.any``: a bool tensor
    outside the graph.

    Args:
        x: The tensor.
        axis: The axes to reduce: None (all), an int or a tuple.
        keepdims: Keep the reduced axes as length 1.

    Returns:
        A bool tensor (False over an empty axis).
    """
    return _no_grad_on_data(_as_array_result(np.any))(x, axis=_truth_axes(x, axis), keepdims=keepdims)


def all(x, axis=None, keepdims=False):  # noqa: A001  (mirrors np.all)
    """Whether every element is true (nonzero) over ``axis``, as ``np.all``: a bool tensor
    outside the graph.

    Args:
        x: The tensor.
        axis: The axes to reduce: None (all), an int or a tuple.
        keepdims: Keep the reduced axes as length 1.

    Returns:
        A bool tensor (True over an empty axis).
    """
    return _no_grad_on_data(_as_array_result(np.all))(x, axis=_truth_axes(x, axis), keepdims=keepdims)


def _truth_axes(x, axis):
    """``any``'s and ``all``'s ``axis`` as NumPy takes it: a tuple, not a list; on a 0-d
    tensor, dim 0 or -1 in a tuple or list too (PyTorch's, reducing nothing; NumPy accepts
    them there only as an int)."""
    if not isinstance(axis, tuple | list):
        return axis
    return tuple(axis) if np.ndim(_data(x)) else reduction_axes(axis, 0)
