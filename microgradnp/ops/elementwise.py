"""Elementwise arithmetic and math functions. Inputs broadcast as in NumPy; the
engine sums each gradient back over the axes its input was broadcast along."""

from __future__ import annotations

import numpy as np

from microgradnp.ops.primitive import Primitive
from microgradnp.tensor import Tensor, _data, _rng


class Add(Primitive):
    _writes_out = True

    @staticmethod
    def forward(ctx, a, b):
        return np.add(a, b, out=ctx._out)

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


class Sub(Primitive):
    _writes_out = True

    @staticmethod
    def forward(ctx, a, b):
        return np.subtract(a, b, out=ctx._out)

    @staticmethod
    def backward(ctx, grad):
        return grad, (-grad if ctx.needs_input_grad[1] else None)


class Mul(Primitive):
    _writes_out = True

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.multiply(a, b, out=ctx._out)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (grad * b if need_a else None), (grad * a if need_b else None)


class Div(Primitive):
    _writes_out = True

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.divide(a, b, out=ctx._out)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        grad_a = grad / b if need_a else None
        return grad_a, (-grad * a / (b * b) if need_b else None)


class Pow(Primitive):
    @staticmethod
    def forward(ctx, base, exponent):
        out = base**exponent
        ctx.save_for_backward(base, exponent, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        base, exponent, out = ctx.saved_tensors
        need_base, need_exponent = ctx.needs_input_grad
        if not need_base:
            grad_base = None
        elif isinstance(exponent, (int, float)) and exponent == 2:
            grad_base = grad * (2 * base)  # the common square, in two operations instead of three
        elif np.isscalar(exponent) and exponent == 0:
            grad_base = np.zeros_like(base)  # x**0 is constant: 0 at x == 0 too (not 0 * 0**-1), as in PyTorch
        elif np.isscalar(exponent):
            grad_base = grad * exponent * base ** (exponent - 1)
        else:
            # Where an exponent is 0, b**0 is constant: gradient 0, also at b == 0 (not
            # 0 * 0**-1 = nan), as PyTorch masks it. The masks read the values only (they
            # are constants of the rule), so the rule stays differentiable on Tensors.
            grad_base = np.where(_values(exponent) == 0, 0, grad * exponent * base ** (exponent - 1))
        if not need_exponent:
            return grad_base, None
        # d(b^e)/de = b^e log(b), as PyTorch: 0 where b == 0 and e >= 0; where b == 0 and e < 0,
        # b^e = inf and log b = -inf. Taken as 0 where b < 0 (log undefined there; PyTorch: nan).
        base_values, exponent_values = _values(base), _values(exponent)
        log_base = np.log(np.where(base_values > 0, base, 1))
        pole = (base_values == 0) & (exponent_values < 0)
        if pole.any():
            log_base = np.where(pole, -np.inf, log_base)
        return grad_base, grad * out * log_base


def _values(x):
    """The array of a Tensor (or ``x`` itself): for masks, which carry no gradient."""
    return x.data if isinstance(x, Tensor) else x


class Neg(Primitive):
    _writes_out = True

    @staticmethod
    def forward(ctx, a):
        return np.negative(a, out=ctx._out)

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Exp(Primitive):
    _writes_out = True

    @staticmethod
    def forward(ctx, a):
        out = np.exp(a, out=ctx._out)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out


class Log(Primitive):
    _writes_out = True

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log(a, out=ctx._out)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / a


class Sqrt(Primitive):
    _writes_out = True

    @staticmethod
    def forward(ctx, a):
        out = np.sqrt(a, out=ctx._out)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad / (2 * out)


class Abs(Primitive):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(np.sign(a))
        return np.abs(a)

    @staticmethod
    def backward(ctx, grad):
        (sign,) = ctx.saved_tensors
        return grad * sign


class Sin(Primitive):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.sin(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * np.cos(a)


class Cos(Primitive):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.cos(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return -grad * np.sin(a)


class Clip(Primitive):
    @staticmethod
    def forward(ctx, a, lo, hi):
        if lo is None and hi is None:
            raise ValueError("clip: give at least one of lo and hi")
        inside = np.ones(a.shape, dtype=bool)
        if lo is not None:
            inside &= a >= lo
        if hi is not None:
            inside &= a <= hi
        ctx.save_for_backward(inside)
        return np.clip(a, lo, hi)

    @staticmethod
    def backward(ctx, grad):
        (inside,) = ctx.saved_tensors
        return grad * inside


class Maximum(Primitive):
    @staticmethod
    def forward(ctx, a, b):
        out = np.maximum(a, b)
        if out.dtype.kind != "f":
            return out  # ints and bools: NumPy's result; they cannot require grad, so no backward
        ctx.save_for_backward(_share_of_first(a > b, a == b, out.dtype))
        return out

    @staticmethod
    def backward(ctx, grad):
        (share_a,) = ctx.saved_tensors
        return grad * share_a, grad * (1 - share_a)


class Minimum(Primitive):
    @staticmethod
    def forward(ctx, a, b):
        out = np.minimum(a, b)
        if out.dtype.kind != "f":
            return out  # ints and bools: NumPy's result; they cannot require grad, so no backward
        ctx.save_for_backward(_share_of_first(a < b, a == b, out.dtype))
        return out

    @staticmethod
    def backward(ctx, grad):
        (share_a,) = ctx.saved_tensors
        return grad * share_a, grad * (1 - share_a)


def _share_of_first(first_wins, tie, dtype):
    """1 where the first input was picked, 0 where the second was; ties split the
    gradient evenly between both, as in PyTorch."""
    share = np.asarray(first_wins, dtype=dtype)
    share += np.asarray(tie, dtype=dtype) * 0.5
    return share


class Where(Primitive):
    @staticmethod
    def forward(ctx, condition, a, b):
        condition = np.asarray(condition, dtype=bool)
        ctx.save_for_backward(condition)
        return np.where(condition, a, b)

    @staticmethod
    def backward(ctx, grad):
        (condition,) = ctx.saved_tensors
        return None, np.where(condition, grad, 0), np.where(condition, 0, grad)


def add(a, b):
    """``a + b`` with broadcasting."""
    return Add.apply(a, b)


def subtract(a, b):
    """``a - b`` with broadcasting."""
    return Sub.apply(a, b)


def multiply(a, b):
    """``a * b`` with broadcasting."""
    return Mul.apply(a, b)


def divide(a, b):
    """``a / b`` with broadcasting."""
    return Div.apply(a, b)


def power(a, b):
    """``a ** b`` with broadcasting."""
    return Pow.apply(a, b)


def negative(x):
    """``-x``."""
    return Neg.apply(x)


def exp(x):
    """Elementwise e**x."""
    return Exp.apply(x)


def log(x):
    """Elementwise natural logarithm."""
    return Log.apply(x)


def sqrt(x):
    """Elementwise square root."""
    return Sqrt.apply(x)


def abs(x):  # noqa: A001  (mirrors np.abs)
    """Elementwise absolute value (gradient 0 at 0)."""
    return Abs.apply(x)


def sin(x):
    """Elementwise sine."""
    return Sin.apply(x)


def cos(x):
    """Elementwise cosine."""
    return Cos.apply(x)


def clip(x, lo=None, hi=None):
    """Limit values to [lo, hi] (either may be None); the gradient passes where lo <= x <= hi."""
    return Clip.apply(x, lo=_constant_bound(lo), hi=_constant_bound(hi))


def _constant_bound(bound):
    return _data(bound)


def maximum(a, b):
    """Elementwise maximum of two tensors (ties share the gradient equally)."""
    return Maximum.apply(a, b)


def minimum(a, b):
    """Elementwise minimum of two tensors (ties share the gradient equally)."""
    return Minimum.apply(a, b)


def where(condition, a, b):
    """Elements of ``a`` where ``condition`` is true, else of ``b`` (condition gets no gradient)."""
    return Where.apply(condition, a, b)


class Scale(Primitive):
    """Multiply by a constant array ``scale`` (dropout's mask, leaky ReLU's slopes)."""

    @staticmethod
    def forward(ctx, a, scale):
        ctx.save_for_backward(scale)
        return a * scale

    @staticmethod
    def backward(ctx, grad):
        (scale,) = ctx.saved_tensors
        return grad * scale


class Dropout(Scale):
    """Inverted dropout: ``Scale`` by a random mask divided by 1 - p. The mask is drawn
    here, in forward, from ``rng`` (a Generator, a seed or None for the global one): a
    compiled step's replay runs forward again, so it draws a fresh mask as eager does."""

    @staticmethod
    def forward(ctx, a, p, rng=None):
        a = np.asarray(a)
        keep = _rng(rng).random(a.shape) >= p
        scale = keep.astype(a.dtype) / (1 - p) if p < 1 else np.zeros(a.shape, dtype=a.dtype)
        return Scale.forward(ctx, a, scale)
