"""Reductions over axes: sum, mean, var, max, min, logsumexp (NumPy's axis/keepdims)."""

from __future__ import annotations

import math

import numpy as np

from microgradnp.ops.activations import _shift_by_max
from microgradnp.ops.primitive import Primitive, broadcast_grad, kept_shape, normalize_axes, restore_reduced_axes


def _prepare(ctx, a, axis) -> tuple[int, ...]:
    """Record what every reduction's backward needs: the input shape and the shape
    the output has with its reduced axes kept as length 1."""
    if axis is None:
        axes, ctx.kept = tuple(range(a.ndim)), (1,) * a.ndim
    else:
        axes = normalize_axes(axis, a.ndim)
        ctx.kept = kept_shape(a.shape, axes)
    ctx.shape = a.shape
    return axes


class Sum(Primitive):
    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        return np.add.reduce(a, axis=_prepare(ctx, a, axis), keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        return broadcast_grad(restore_reduced_axes(grad, ctx.kept), ctx.shape)


class Mean(Primitive):
    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        total = np.add.reduce(a, axis=_prepare(ctx, a, axis), keepdims=keepdims)
        ctx.count = a.size // total.size if total.size else 0
        return total / ctx.count

    @staticmethod
    def backward(ctx, grad):
        return broadcast_grad(restore_reduced_axes(grad, ctx.kept) / ctx.count, ctx.shape)


class Var(Primitive):
    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False, ddof=0):
        axes = _prepare(ctx, a, axis)
        ctx.axes, ctx.ddof = axes, ddof
        ctx.count = math.prod(a.shape[i] for i in axes)
        ctx.save_for_backward(a)
        return np.var(a, axis=axes, keepdims=keepdims, ddof=ddof)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        centered = a - a.mean(axis=ctx.axes, keepdims=True)
        dof = ctx.count - ctx.ddof
        scale = 2.0 / dof if dof > 0 else math.nan  # no degrees of freedom: undefined, like the forward
        return restore_reduced_axes(grad, ctx.kept) * centered * scale


class _Extreme(Primitive):
    """max / min: the gradient is shared evenly among the elements that tie for the extreme."""

    pick = staticmethod(np.max)

    @classmethod
    def forward(cls, ctx, a, axis=None, keepdims=False):
        axes = _prepare(ctx, a, axis)
        if any(a.shape[i] == 0 for i in axes):  # an empty batch reduced along a non-empty axis is fine
            raise ValueError(f"{cls.name}: the tensor is empty along the reduced axes, so there is no {cls.name}")
        extreme = cls.pick(a, axis=axes, keepdims=True)
        hits = a == extreme
        ctx.save_for_backward(hits / hits.sum(axis=axes, keepdims=True).astype(a.dtype))
        return extreme if keepdims else np.squeeze(extreme, axes)

    @staticmethod
    def backward(ctx, grad):
        (share,) = ctx.saved_tensors
        return restore_reduced_axes(grad, ctx.kept) * share


class Max(_Extreme):
    pick = staticmethod(np.max)


class Min(_Extreme):
    pick = staticmethod(np.min)


class LogSumExp(Primitive):
    name = "logsumexp"

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        axes = _prepare(ctx, a, axis)
        shifted, peak = _shift_by_max(a, axes)
        out = peak + np.log(np.exp(shifted).sum(axis=axes, keepdims=True))
        out = out if keepdims else np.squeeze(out, axes)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved_tensors
        kept = ctx.kept
        return restore_reduced_axes(grad, kept) * np.exp(a - restore_reduced_axes(out, kept))


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
