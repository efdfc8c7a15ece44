"""Reductions over axes: sum, mean, var, max, min, logsumexp (NumPy's axis/keepdims)."""

from __future__ import annotations

import numpy as np

from microgradnp.ops.activations import _shift_by_max
from microgradnp.ops.primitive import Primitive, normalize_axes, restore_reduced_axes


class Sum(Primitive):
    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        ctx.shape, ctx.axes, ctx.keepdims = a.shape, normalize_axes(axis, a.ndim), keepdims
        return np.sum(a, axis=ctx.axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        return np.broadcast_to(restore_reduced_axes(grad, ctx.axes, ctx.keepdims), ctx.shape)


class Mean(Primitive):
    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        ctx.shape, ctx.axes, ctx.keepdims = a.shape, normalize_axes(axis, a.ndim), keepdims
        ctx.count = int(np.prod([a.shape[i] for i in ctx.axes]))
        return np.mean(a, axis=ctx.axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        grad = restore_reduced_axes(grad, ctx.axes, ctx.keepdims) / ctx.count
        return np.broadcast_to(grad, ctx.shape)


class Var(Primitive):
    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False, ddof=0):
        ctx.axes, ctx.keepdims, ctx.ddof = normalize_axes(axis, a.ndim), keepdims, ddof
        ctx.count = int(np.prod([a.shape[i] for i in ctx.axes]))
        ctx.save_for_backward(a)
        return np.var(a, axis=ctx.axes, keepdims=keepdims, ddof=ddof)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        grad = restore_reduced_axes(grad, ctx.axes, ctx.keepdims)
        centered = a - a.mean(axis=ctx.axes, keepdims=True)
        return grad * centered * (2.0 / (ctx.count - ctx.ddof))


class _Extreme(Primitive):
    """max / min: the gradient is shared evenly among the elements that tie for the extreme."""

    pick = staticmethod(np.max)

    @classmethod
    def forward(cls, ctx, a, axis=None, keepdims=False):
        ctx.axes, ctx.keepdims = normalize_axes(axis, a.ndim), keepdims
        if a.size == 0:
            raise ValueError(f"{cls.name}: the tensor is empty, so there is no {cls.name}")
        extreme = cls.pick(a, axis=ctx.axes, keepdims=True)
        hits = a == extreme
        ctx.save_for_backward(hits / hits.sum(axis=ctx.axes, keepdims=True).astype(a.dtype))
        return extreme if keepdims else np.squeeze(extreme, ctx.axes)

    @staticmethod
    def backward(ctx, grad):
        (share,) = ctx.saved_tensors
        return restore_reduced_axes(grad, ctx.axes, ctx.keepdims) * share


class Max(_Extreme):
    pick = staticmethod(np.max)


class Min(_Extreme):
    pick = staticmethod(np.min)


class LogSumExp(Primitive):
    name = "logsumexp"

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        ctx.axes, ctx.keepdims = normalize_axes(axis, a.ndim), keepdims
        shifted, peak = _shift_by_max(a, ctx.axes)
        out = peak + np.log(np.exp(shifted).sum(axis=ctx.axes, keepdims=True))
        out = out if keepdims else np.squeeze(out, ctx.axes)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved_tensors
        restore = restore_reduced_axes
        return restore(grad, ctx.axes, ctx.keepdims) * np.exp(a - restore(out, ctx.axes, ctx.keepdims))


def sum(x, axis=None, keepdims=False):  # noqa: A001  (mirrors np.sum)
    """Sum over ``axis`` (all axes when None)."""
    return Sum.apply(x, axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    """Mean over ``axis`` (all axes when None)."""
    return Mean.apply(x, axis=axis, keepdims=keepdims)


def var(x, axis=None, keepdims=False, ddof=0):
    """Variance over ``axis``, dividing by N - ddof (NumPy's default ddof=0)."""
    return Var.apply(x, axis=axis, keepdims=keepdims, ddof=ddof)


def max(x, axis=None, keepdims=False):  # noqa: A001  (mirrors np.max)
    """Largest value over ``axis``; tied maxima share the gradient evenly."""
    return Max.apply(x, axis=axis, keepdims=keepdims)


def min(x, axis=None, keepdims=False):  # noqa: A001  (mirrors np.min)
    """Smallest value over ``axis``; tied minima share the gradient evenly."""
    return Min.apply(x, axis=axis, keepdims=keepdims)


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) over ``axis``, without overflow for large |x|."""
    return LogSumExp.apply(x, axis=axis, keepdims=keepdims)
