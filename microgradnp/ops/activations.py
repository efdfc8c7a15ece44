"""Activation functions and the softmax family (numerically stable forms)."""

from __future__ import annotations

import numpy as np

from microgradnp.ops.elementwise import Scale
from microgradnp.ops.primitive import Primitive


def _exp_limit(dtype) -> float:
    """Largest x whose exp(x) + 1 still fits the dtype: clamping to it avoids overflow."""
    return float(np.floor(np.log(np.finfo(dtype).max))) - 1.0


_EXP_LIMITS = {np.dtype(t): _exp_limit(t) for t in (np.float16, np.float32, np.float64, np.longdouble)}


def sigmoid_of_negated_(out: np.ndarray) -> np.ndarray:
    """Turn ``out`` = -a into sigmoid(a) = 1 / (1 + exp(-a)) in place, with exp's argument
    clamped: exact in both tails and never overflowing."""
    limit = _EXP_LIMITS.get(out.dtype, 80.0)
    # The clamp changes nothing unless some -a is beyond the limit (or nan): a read-only
    # check is cheaper than np.minimum's write on all but the smallest arrays
    # (np.maximum.reduce is out.max() without its Python wrapper).
    if out.size and not np.maximum.reduce(out, axis=None) <= limit:
        np.minimum(out, limit, out=out)
    np.exp(out, out=out)
    out += 1
    np.divide(1.0, out, out=out)  # the same IEEE quotient as np.reciprocal, and faster
    return out


class Sigmoid(Primitive):
    _writes_out = True

    @staticmethod
    def forward(ctx, a):
        # out= for a 0-d input, which would otherwise give a NumPy scalar (not writable in place)
        out = sigmoid_of_negated_(
            np.negative(a, out=ctx._out if type(a) is np.ndarray and a.ndim else np.empty_like(a))
        )
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out * (1 - out)


class Tanh(Primitive):
    _writes_out = True

    @staticmethod
    def forward(ctx, a):
        out = np.tanh(a, out=ctx._out)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (1 - out * out)


class ReLU(Primitive):
    _writes_out = True

    @staticmethod
    def forward(ctx, a):
        positive = a > 0
        ctx.save_for_backward(positive)
        return np.maximum(a, 0, out=ctx._out)

    @staticmethod
    def backward(ctx, grad):
        (positive,) = ctx.saved_tensors
        return grad * positive


class LeakyReLU(Scale):
    name = "leaky_relu"

    @staticmethod
    def forward(ctx, a, slope):
        return Scale.forward(ctx, a, np.where(a > 0, 1, slope).astype(a.dtype, copy=False))


def _shift_by_max(a, axis):
    """``a`` minus its max along ``axis`` (0 for rows with no finite max), for stable exp."""
    peak = np.max(a, axis=axis, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0)
    return a - peak, peak


class Softmax(Primitive):
    @staticmethod
    def forward(ctx, a, axis=-1):
        ctx.axis = axis
        e = np.exp(_shift_by_max(a, axis)[0])
        out = e / e.sum(axis=axis, keepdims=True)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return out * (grad - (grad * out).sum(axis=ctx.axis, keepdims=True))


class LogSoftmax(Primitive):
    name = "log_softmax"

    @staticmethod
    def forward(ctx, a, axis=-1):
        ctx.axis = axis
        shifted, _ = _shift_by_max(a, axis)
        out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad - np.exp(out) * grad.sum(axis=ctx.axis, keepdims=True)


def sigmoid(x):
    """Logistic function 1 / (1 + e**-x), stable for any x."""
    return Sigmoid.apply(x)


def tanh(x):
    """Hyperbolic tangent."""
    return Tanh.apply(x)


def relu(x):
    """max(x, 0); the gradient at 0 is 0, as in PyTorch."""
    return ReLU.apply(x)


def leaky_relu(x, slope: float = 0.01):
    """x where x > 0, else slope * x."""
    return LeakyReLU.apply(x, slope=slope)


def softmax(x, axis: int = -1):
    """exp(x) normalised to sum to 1 along ``axis`` (stable for large |x|)."""
    return Softmax.apply(x, axis=axis)


def log_softmax(x, axis: int = -1):
    """log(softmax(x)) computed without overflow or log(0) for large |x|."""
    return LogSoftmax.apply(x, axis=axis)
