"""Elementwise arithmetic and math functions. Inputs broadcast as in NumPy; the
engine sums each gradient back over the axes its input was broadcast along."""

from __future__ import annotations

import math

import numpy as np
from numpy import ndarray

from microgradnp.errors import DtypeError, InvalidArgumentError
from microgradnp.ops.primitive import (
    Primitive,
    constant,
    floating,
    floating_pair,
    masked_product,
    promote,
    refuse_non_numbers,
    result_dtype,
)
from microgradnp.tensor import Tensor, _rng


class Add(Primitive):
    _writes_out = True

    @staticmethod
    def forward(ctx, a, b):
        if type(a) is not ndarray or type(b) is not ndarray or a.dtype is not b.dtype:  # (fast path first)
            a, b = promote(a, b)
        try:
            return np.add(a, b, out=ctx._out)
        except TypeError:  # (costs nothing until raised)
            refuse_non_numbers("+", a, b)
            raise

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


def _is_bool(x) -> bool:
    """Whether ``x`` (an array or a number) is of the bool dtype."""
    return x.dtype.kind == "b" if isinstance(x, ndarray | np.generic) else isinstance(x, bool)


class Sub(Primitive):
    _writes_out = True

    @staticmethod
    def forward(ctx, a, b):
        if _is_bool(a) or _is_bool(b):  # PyTorch's refusal: a - b on masks is usually a mistake
            if _is_bool(a) and _is_bool(b):
                raise DtypeError("Subtraction, the `-` operator, with two bool tensors is not supported. "
                                 "Use the `^` or `logical_xor()` operator instead")
            raise DtypeError("Subtraction, the `-` operator, with a bool tensor is not supported. If you are "
                             "trying to invert a mask, use the `~` or `logical_not()` operator instead "
                             "(or convert it first, e.g. mask.to(mg.int64))")
        if type(a) is not ndarray or type(b) is not ndarray or a.dtype is not b.dtype:
            a, b = promote(a, b)
        try:
            return np.subtract(a, b, out=ctx._out)
        except TypeError:
            refuse_non_numbers("-", a, b)
            raise

    @staticmethod
    def backward(ctx, grad):
        return grad, (-grad if ctx.needs_input_grad[1] else None)


class Mul(Primitive):
    _writes_out = True
    _saved_needed_by = ((1,), (0,))  # a is used only for b's gradient, b for a's

    @staticmethod
    def forward(ctx, a, b):
        if type(a) is not ndarray or type(b) is not ndarray or a.dtype is not b.dtype:
            a, b = promote(a, b)
        ctx.save_for_backward(a, b)
        try:
            return np.multiply(a, b, out=ctx._out)
        except TypeError:
            refuse_non_numbers("*", a, b)
            raise

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (grad * b if need_a else None), (grad * a if need_b else None)


class Div(Primitive):
    _writes_out = True
    # a is read only by b's gradient: x / 3.0 needs only the 3, so x may change in place before backward
    _saved_needed_by = ((1,), (0, 1))

    @staticmethod
    def forward(ctx, a, b):
        a, b = floating_pair(a, b)
        ctx.save_for_backward(a, b)
        try:
            return np.divide(a, b, out=ctx._out)
        except TypeError:
            refuse_non_numbers("/", a, b)
            raise

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        grad_a = grad / b if need_a else None
        return grad_a, (-grad * a / (b * b) if need_b else None)


class Pow(Primitive):
    # base's gradient reads base and exponent; the output is read only by the exponent's (so
    # x ** 2 written in place still differentiates in x, as PyTorch's)
    _saved_needed_by = ((0, 1), (0, 1), (1,))

    @staticmethod
    def forward(ctx, base, exponent):
        base, exponent = promote(base, exponent)
        try:
            out = _integer_power(base, exponent) if _negative_integer_exponents(base, exponent) else base**exponent
        except TypeError:
            refuse_non_numbers("**", base, exponent)
            raise
        ctx.save_for_backward(base, exponent, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        base, exponent, out = ctx.saved_tensors
        need_base, need_exponent = ctx.needs_input_grad
        if not need_base:
            grad_base = None
        elif isinstance(exponent, (int, float)) and exponent == 2:
            grad_base = grad * (constant(2, base.dtype) * base)  # the common square, in two operations instead of three
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
        # b^e = inf and log b = -inf; nan where b < 0, whose real log is undefined.
        with np.errstate(divide="ignore", invalid="ignore"):
            scaled = out * np.log(base)
        zero = (_values(base) == 0) & (_values(exponent) >= 0)
        if np.any(zero):
            scaled = np.where(zero, 0, scaled)
        return grad_base, grad * scaled


def _negative_integer_exponents(base, exponent) -> bool:
    """Whether an integer power has an exponent tensor holding a negative value (PyTorch
    computes those; a negative Python number raises in both libraries)."""
    return (type(exponent) is ndarray and exponent.dtype.kind == "i" and np.result_type(base, exponent).kind in "iu"
            and bool(np.any(exponent < 0)))


def _integer_power(base, exponent):
    """Integer ``base ** exponent`` with negative exponents as PyTorch computes them (NumPy
    refuses them): ``1 ** e`` is 1, ``(-1) ** e`` is 1 or -1 by the parity of ``e``, and any
    other base gives 0 (``1 / base**|e|`` truncated)."""
    out = base ** np.maximum(exponent, 0)
    odd = exponent % 2 != 0
    at_negative = np.where(base == 1, 1, np.where(base == -1, np.where(odd, -1, 1), 0))
    return np.where(exponent < 0, at_negative, out).astype(out.dtype, copy=False)


def _values(x):
    """The array of a Tensor (or ``x`` itself): for masks, which carry no gradient."""
    return x.data if isinstance(x, Tensor) else x


class Neg(Primitive):
    _writes_out = True

    @staticmethod
    def forward(ctx, a):
        if _is_bool(a):
            raise DtypeError("Negation, the `-` operator, on a bool tensor is not supported. If you are trying "
                             "to invert a mask, use the `~` or `logical_not()` operator instead")
        return np.negative(a, out=ctx._out)

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Exp(Primitive):
    _writes_out = True

    @staticmethod
    def forward(ctx, a):
        a = floating(a)
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
        a = floating(a)
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
        a = floating(a)
        out = np.sqrt(a, out=ctx._out)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad / (2 * out)


class Abs(Primitive):
    _zero_second_order = True

    @staticmethod
    def forward(ctx, a):
        if a.dtype.kind == "b" if type(a) is np.ndarray else isinstance(a, bool | np.bool_):
            a = floating(a)  # ints stay ints, as PyTorch's abs keeps them; bools become floats
        ctx.save_for_backward(_sign_values(a))  # 0 at nan: PyTorch's gradient there
        return np.abs(a)

    @staticmethod
    def backward(ctx, grad):
        (sign,) = ctx.saved_tensors
        return grad * sign


class Sin(Primitive):
    @staticmethod
    def forward(ctx, a):
        a = floating(a)
        ctx.save_for_backward(a)
        return np.sin(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * np.cos(a)


class Cos(Primitive):
    @staticmethod
    def forward(ctx, a):
        a = floating(a)
        ctx.save_for_backward(a)
        return np.cos(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return -grad * np.sin(a)


class Clip(Primitive):
    """``min(max(a, lo), hi)``, PyTorch's ``clamp``: the bounds (numbers, arrays or tensors,
    either may be None) broadcast with ``a``. The gradient goes to ``a`` where
    ``lo <= a <= hi`` (ties included) and to a tensor bound where it is the result (to
    ``hi`` alone where ``lo > hi``, as PyTorch)."""

    @staticmethod
    def forward(ctx, a, lo, hi):
        if lo is None and hi is None:
            raise InvalidArgumentError("clip: give at least one of lo and hi")
        # A NumPy number counts as a Python one (np.float64(0.5) must not make float32 data float64)
        lo, hi = (x.item() if isinstance(x, np.generic) else x for x in (lo, hi))
        # Array bounds, or integer data with a float bound: PyTorch's result dtype (an int tensor
        # clamped at 2.5 is of the default float dtype, where NumPy gives float64).
        if type(lo) is np.ndarray or type(hi) is np.ndarray or np.result_type(a).kind in "biu":
            dtype = result_dtype(*(x for x in (a, lo, hi) if x is not None)) or np.result_type(a)
            a, lo, hi = (None if x is None else np.asarray(x, dtype=dtype) for x in (a, lo, hi))
        above_lo = True if lo is None else a >= lo
        below_hi = True if hi is None else a <= hi
        # PyTorch's rule: where lo > hi the result is hi, and only hi gets the gradient; a nan
        # is neither under lo nor over hi (its gradient is lost, as PyTorch loses it).
        under = False if lo is None else a < lo
        over = False if hi is None else a > hi
        if lo is not None and hi is not None:
            under, over = under & (lo < hi), over | (hi < lo)
        ctx.save_for_backward(np.logical_and(above_lo, below_hi), under, over)
        return np.clip(a, lo, hi)

    @staticmethod
    def backward(ctx, grad):
        inside, under, over = ctx.saved_tensors
        need_a, need_lo, need_hi = ctx.needs_input_grad
        return (masked_product(grad, inside) if need_a else None, masked_product(grad, under) if need_lo else None,
                masked_product(grad, over) if need_hi else None)


class Maximum(Primitive):
    @staticmethod
    def forward(ctx, a, b):
        a, b = promote(a, b)
        out = np.maximum(a, b)
        if out.dtype.kind != "f":
            return out  # ints and bools: NumPy's result; they cannot require grad, so no backward
        ctx.save_for_backward(*_shares(a > b, a == b, out))
        return out

    @staticmethod
    def backward(ctx, grad):
        share_a, *share_b = ctx.saved_tensors
        return masked_product(grad, share_a), masked_product(grad, share_b[0] if share_b else 1 - share_a)


class Minimum(Primitive):
    @staticmethod
    def forward(ctx, a, b):
        a, b = promote(a, b)
        out = np.minimum(a, b)
        if out.dtype.kind != "f":
            return out  # ints and bools: NumPy's result; they cannot require grad, so no backward
        ctx.save_for_backward(*_shares(a < b, a == b, out))
        return out

    @staticmethod
    def backward(ctx, grad):
        share_a, *share_b = ctx.saved_tensors
        return masked_product(grad, share_a), masked_product(grad, share_b[0] if share_b else 1 - share_a)


def _shares(first_wins, tie, out) -> tuple:
    """The share of the gradient of each input of ``maximum``/``minimum``: ``(share_a,)`` when
    the second's is ``1 - share_a``; where the result is nan (an input was), both inputs get
    the whole gradient, as in PyTorch (no comparison with nan holds, so neither is masked)."""
    share_a = _share_of_first(first_wins, tie, out.dtype)
    nan = np.isnan(out)
    if not nan.any():
        return (share_a,)
    share_b = np.array(1 - share_a)  # (an array also for a 0-d result)
    share_a[nan] = share_b[nan] = 1
    return share_a, share_b


def _share_of_first(first_wins, tie, dtype):
    """1 where the first input was picked, 0 where the second was; ties split the
    gradient evenly between both, as in PyTorch."""
    share = np.asarray(first_wins, dtype=dtype)
    share += np.asarray(tie, dtype=dtype) * 0.5
    return share


def checked_scalar(number, dtype: np.dtype, function: str):
    """``number`` (a Python or NumPy number) as a scalar of ``dtype``, converted as PyTorch
    converts a fill value: into an integer dtype a float is truncated and an integer must be
    in range, where an unsigned dtype also takes a negative integer down to ``-max``, wrapped
    round as two's complement (-1 into uint8 is 255); nan, inf and any other value out of
    range raise, as in PyTorch (NumPy would wrap some silently, 300.0 into uint8 as 44, and
    refuse -1). A float dtype takes inf and nan, but no finite number beyond its largest."""
    number = number.item() if isinstance(number, np.generic | np.ndarray) else number
    if dtype.kind not in "fiu" or isinstance(number, complex):  # (bool and complex: NumPy's conversion)
        return np.asarray(number).astype(dtype)[()]
    if dtype.kind == "f":
        largest = float(np.finfo(dtype).max)
        fits = not math.isfinite(number) or -largest <= number <= largest
    else:
        limits = np.iinfo(dtype)
        lowest = -limits.max if dtype.kind == "u" and isinstance(number, int) else limits.min
        fits = math.isfinite(number) and lowest <= number <= limits.max
    if not fits:
        raise OverflowError(f"{function}: value {number!r} cannot be converted to {dtype} without overflow (PyTorch "
                            f"refuses it too); convert the tensor to a wider dtype first")
    if dtype.kind == "u" and isinstance(number, int):
        number %= limits.max + 1
    return np.asarray(number).astype(dtype)[()]


class Where(Primitive):
    @staticmethod
    def forward(ctx, condition, a, b):
        condition = np.asarray(condition, dtype=bool)
        ctx.save_for_backward(condition)
        # (a Python int into an integer tensor: PyTorch's checked conversion, where np.where would
        # wrap it silently, 1000 into int8 as -24)
        if type(a) is int and type(b) is np.ndarray and b.dtype.kind in "iu":
            a = checked_scalar(a, b.dtype, "where")
        elif type(b) is int and type(a) is np.ndarray and a.dtype.kind in "iu":
            b = checked_scalar(b, a.dtype, "where")
        out = np.where(condition, *promote(a, b))
        if not isinstance(a, np.ndarray) and not isinstance(b, np.ndarray):  # two numbers: PyTorch's dtype of them
            dtype = result_dtype(a, b)  # (a float is of the default dtype, where NumPy gives float64)
            return out if dtype is None or out.dtype == dtype else out.astype(dtype)
        return out

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
    """Limit values to [lo, hi] (either may be None; numbers or tensors, broadcasting with
    ``x``); the gradient passes to ``x`` where lo <= x <= hi, and to a tensor bound where it
    is the result."""
    return Clip.apply(x, lo, hi)


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


# -- more math functions ------------------------------------------------------------------
_LN2, _LN10 = float(np.log(2.0)), float(np.log(10.0))
_TWO_OVER_SQRT_PI = 2.0 / float(np.sqrt(np.pi))


class Log1p(Primitive):
    _writes_out = True

    @staticmethod
    def forward(ctx, a):
        a = floating(a)
        ctx.save_for_backward(a)
        return np.log1p(a, out=ctx._out)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / (1 + a)


class Expm1(Primitive):
    _writes_out = True

    @staticmethod
    def forward(ctx, a):
        a = floating(a)
        out = np.expm1(a, out=ctx._out)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (out + 1)


class Log2(Primitive):
    _writes_out = True

    @staticmethod
    def forward(ctx, a):
        a = floating(a)
        ctx.save_for_backward(a)
        return np.log2(a, out=ctx._out)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / (a * _LN2)


class Log10(Primitive):
    _writes_out = True

    @staticmethod
    def forward(ctx, a):
        a = floating(a)
        ctx.save_for_backward(a)
        return np.log10(a, out=ctx._out)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / (a * _LN10)


class Exp2(Primitive):
    _writes_out = True

    @staticmethod
    def forward(ctx, a):
        a = floating(a)
        out = np.exp2(a, out=ctx._out)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out * _LN2


class Sinh(Primitive):
    @staticmethod
    def forward(ctx, a):
        a = floating(a)
        ctx.save_for_backward(a)
        return np.sinh(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * np.cosh(a)


class Cosh(Primitive):
    @staticmethod
    def forward(ctx, a):
        a = floating(a)
        ctx.save_for_backward(a)
        return np.cosh(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * np.sinh(a)


class Tan(Primitive):
    @staticmethod
    def forward(ctx, a):
        a = floating(a)
        out = np.tan(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (1 + out * out)


class Arcsin(Primitive):
    @staticmethod
    def forward(ctx, a):
        a = floating(a)
        ctx.save_for_backward(a)
        return np.arcsin(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / np.sqrt(1 - a * a)


class Arccos(Primitive):
    @staticmethod
    def forward(ctx, a):
        a = floating(a)
        ctx.save_for_backward(a)
        return np.arccos(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return -grad / np.sqrt(1 - a * a)


class Arctan(Primitive):
    @staticmethod
    def forward(ctx, a):
        a = floating(a)
        ctx.save_for_backward(a)
        return np.arctan(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / (1 + a * a)


def _over_magnitude(v, scale):
    """``v / scale`` for a scale of at least ``|v|``; at an infinite scale, the limit of that
    direction: the sign of an infinite ``v`` (not inf / inf), 0 for a finite one."""
    ratio = v / scale
    infinite = np.isinf(scale)
    if not infinite.any():
        return ratio
    values = _values(v)
    return np.where(infinite, np.sign(values) * np.isinf(values), ratio)


class Arctan2(Primitive):
    @staticmethod
    def forward(ctx, y, x):
        y, x = floating_pair(y, x)
        ctx.save_for_backward(y, x)
        return np.arctan2(y, x)

    @staticmethod
    def backward(ctx, grad):
        y, x = ctx.saved_tensors
        need_y, need_x = ctx.needs_input_grad
        # x / (x**2 + y**2) and -y / (x**2 + y**2) with x and y divided by the larger magnitude
        # s first (a constant of the rule, so the fractions and their derivatives are the same):
        # x**2 + y**2 itself underflows below about 1e-154, giving about s where 1 / s is
        # right, and overflows above 1e154.
        scale = np.maximum(np.abs(_values(y)), np.abs(_values(x)))
        # At y == x == 0 the angle has no derivative: dividing 0 by 1 there gives the
        # gradient 0, as PyTorch gives (not 0 / 0).
        origin = scale == 0
        scale = np.where(origin, 1, scale)
        with np.errstate(invalid="ignore", over="ignore"):  # (1 / s overflows for a subnormal s: inf is right)
            y, x = _over_magnitude(y, scale), _over_magnitude(x, scale)
            squared = y * y + x * x
            if origin.any():
                squared = np.where(origin, 1, squared)
            squared = squared * scale  # (inf at an infinite point: the gradient's limit there, 0)
            return (grad * x / squared if need_y else None), (-grad * y / squared if need_x else None)


def _erf_values(function, a) -> np.ndarray:
    """``function`` (math.erf or math.erfc, correctly rounded to about 1 ulp) on every
    element of ``a``: computed in float64, given back in ``a``'s float dtype."""
    dtype = a.dtype if a.dtype.kind == "f" else np.dtype(np.float64)
    values = np.frompyfunc(function, 1, 1)(np.asarray(a, dtype=np.float64))
    return np.asarray(values, dtype=np.float64).astype(dtype, copy=False)


class Erf(Primitive):
    @staticmethod
    def forward(ctx, a):
        a = floating(a)
        ctx.save_for_backward(a)
        return _erf_values(math.erf, a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * _TWO_OVER_SQRT_PI * np.exp(-(a * a))


class Erfc(Primitive):
    @staticmethod
    def forward(ctx, a):
        a = floating(a)
        ctx.save_for_backward(a)
        return _erf_values(math.erfc, a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * -_TWO_OVER_SQRT_PI * np.exp(-(a * a))


class Square(Primitive):
    _writes_out = True

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        if a.dtype.kind == "b":  # PyTorch squares bools in int64 (NumPy's would be int8)
            return np.square(a, dtype=np.int64)
        return np.square(a, out=ctx._out)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * (2 * a)


class Reciprocal(Primitive):
    @staticmethod
    def forward(ctx, a):
        # 1 / a: floats for integer inputs too (np.reciprocal would give 1 // a), as PyTorch
        out = np.reciprocal(floating(a))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return -grad * out * out


class _Piecewise(Primitive):
    """A step function (floor, ceil, round, trunc, sign): its derivative is 0 wherever
    it exists, and PyTorch's convention gives 0 at the jumps too. The result stays in
    the graph, so backward through it gives zeros, as in PyTorch."""

    @staticmethod
    def backward(ctx, grad):
        return np.zeros_like(grad)


class Floor(_Piecewise):
    @staticmethod
    def forward(ctx, a):
        return np.floor(a)


class Ceil(_Piecewise):
    @staticmethod
    def forward(ctx, a):
        return np.ceil(a)


class Trunc(_Piecewise):
    @staticmethod
    def forward(ctx, a):
        return np.trunc(a)


class Round(_Piecewise):
    @staticmethod
    def forward(ctx, a, decimals=0):
        return np.round(a, decimals)


class Sign(_Piecewise):
    @staticmethod
    def forward(ctx, a):
        if _is_bool(a):
            return np.array(a, dtype=bool)  # a bool is its own sign, as PyTorch's (NumPy has no bool sign)
        return _sign_values(a)


def _sign_values(a):
    """``np.sign(a)`` with 0 for nan, as PyTorch's ``sign`` (NumPy gives nan)."""
    return np.nan_to_num(np.sign(a), nan=0.0)


class IntegerDivisionByZeroError(ZeroDivisionError, RuntimeError):
    """An integer ``//``, ``%`` or ``fmod`` by 0, which has no integer result: a
    ZeroDivisionError, as Python raises, and a RuntimeError, as PyTorch raises (NumPy
    would give 0 with a warning)."""


def _refuse_integer_division_by_zero(a, b) -> None:
    """Raise ``IntegerDivisionByZeroError`` if ``a`` and ``b`` (promoted) are integers and
    ``b`` holds a 0."""
    try:
        integers = np.result_type(a, b).kind in "iu"
    except TypeError:  # not numbers: the operation raises its own error
        return
    if integers and not np.all(b):
        raise IntegerDivisionByZeroError(
            "ZeroDivisionError: integer division (//, %, fmod or div with a rounding_mode) by zero has no "
            "integer result (PyTorch raises too): check the divisor, or divide floats to get inf/nan")


class FloorDivide(_Piecewise):
    """``a // b``: a step function of both operands, so its gradient is 0 where it
    exists (floor's convention; PyTorch leaves this derivative unimplemented)."""

    @staticmethod
    def forward(ctx, a, b):
        a, b = promote(a, b)
        _refuse_integer_division_by_zero(a, b)
        try:
            return np.floor_divide(a, b)
        except TypeError:
            refuse_non_numbers("//", a, b)
            raise

    @staticmethod
    def backward(ctx, grad):
        return np.zeros_like(grad), np.zeros_like(grad)


class TruncDivide(_Piecewise):
    """``trunc(a / b)`` (``torch.div(a, b, rounding_mode="trunc")`` of floats): a step function
    of both operands, so its gradient is 0, also where ``b`` is 0 (``trunc(a / b)`` as two
    primitives would give 0 * inf = nan there)."""

    @staticmethod
    def forward(ctx, a, b):
        a, b = promote(a, b)
        _refuse_integer_division_by_zero(a, b)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.trunc(np.true_divide(a, b))

    @staticmethod
    def backward(ctx, grad):
        return np.zeros_like(grad), np.zeros_like(grad)


class _Modulo(Primitive):
    """``a - b * q`` for a whole quotient ``q`` (``quotient``): the gradient is ``grad``
    for ``a`` and ``-grad * q`` for ``b``, as PyTorch's ``remainder`` and ``fmod``."""

    ufunc = symbol = None

    @classmethod
    def forward(cls, ctx, a, b):
        a, b = promote(a, b)
        _refuse_integer_division_by_zero(a, b)
        ctx.save_for_backward(a, b)
        try:
            return cls.ufunc(a, b)
        except TypeError:
            refuse_non_numbers(cls.symbol, a, b)
            raise

    @classmethod
    def backward(cls, ctx, grad):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (grad if need_a else None), (-grad * cls.quotient(a, b) if need_b else None)


class Remainder(_Modulo):
    """Python's ``%`` (``np.remainder``, ``torch.remainder``): the sign of the divisor."""

    ufunc, symbol = staticmethod(np.remainder), "%"
    quotient = staticmethod(lambda a, b: a // b)


class Fmod(_Modulo):
    """C's ``fmod`` (``np.fmod``, ``torch.fmod``): the sign of the dividend."""

    ufunc, symbol = staticmethod(np.fmod), "fmod"
    quotient = staticmethod(lambda a, b: trunc(a / b))


class Logit(Primitive):
    """``log(p / (1 - p))``, PyTorch's ``logit``; with ``eps`` (a number or None), ``p`` is
    first clamped to ``[eps, 1 - eps]``. The gradient ``1 / (p (1 - p))`` is PyTorch's: nan
    outside [0, 1] without ``eps`` (where the value is nan too, so no finite slope is
    meaningful), and 0 outside ``[eps, 1 - eps]`` with it (the clamp's)."""

    @staticmethod
    def forward(ctx, a, eps):
        a = floating(a)
        ctx.save_for_backward(a)
        ctx.eps = eps
        p = a if eps is None else np.clip(a, eps, 1 - eps)
        with np.errstate(divide="ignore", invalid="ignore"):  # -inf at 0, inf at 1, nan outside: as PyTorch
            return np.log(p) - np.log1p(-p)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        values = _values(a)  # the masks are constants of the rule, so it stays differentiable on Tensors
        if ctx.eps is None:
            outside, fill = (values < 0) | (values > 1), np.nan
        else:
            outside, fill = (values < ctx.eps) | (values > 1 - ctx.eps), 0
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = grad / (a * (1 - a) + 0.0)  # (+ 0.0: +inf at -0.0, as PyTorch's)
        return np.where(outside, fill, slope) if np.any(outside) else slope


class LogAddExp(Primitive):
    """``log(e**a + e**b)`` (``np.logaddexp``), in the operands' floating result dtype:
    promoting first keeps a float64 operand's precision."""

    name = "logaddexp"
    _combined, _power = np.logaddexp, np.exp

    @staticmethod
    def forward(ctx, a, b):
        a, b = floating_pair(a, b)
        out = ctx._combined(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        # base**(a - out) = base**a / (base**a + base**b) <= 1: never overflows
        power = ctx._power
        return (grad * power(a - out) if need_a else None), (grad * power(b - out) if need_b else None)


class LogAddExp2(LogAddExp):
    """``log2(2**a + 2**b)`` (``np.logaddexp2``, ``torch.logaddexp2``)."""

    name = "logaddexp2"
    _combined, _power = np.logaddexp2, np.exp2


def log1p(x):
    """Elementwise ``log(1 + x)``, accurate for small ``x``.

    Args:
        x: a tensor (or array-like).

    Returns:
        A tensor of ``log(1 + x)``; its gradient is ``1 / (1 + x)``.
    """
    return Log1p.apply(x)


def expm1(x):
    """Elementwise ``exp(x) - 1``, accurate for small ``x``.

    Args:
        x: a tensor (or array-like).

    Returns:
        A tensor of ``exp(x) - 1``; its gradient is ``exp(x)``.
    """
    return Expm1.apply(x)


def log2(x):
    """Elementwise base-2 logarithm.

    Args:
        x: a tensor (or array-like) of positive values.

    Returns:
        A tensor of ``log2(x)``; its gradient is ``1 / (x ln 2)``.
    """
    return Log2.apply(x)


def log10(x):
    """Elementwise base-10 logarithm.

    Args:
        x: a tensor (or array-like) of positive values.

    Returns:
        A tensor of ``log10(x)``; its gradient is ``1 / (x ln 10)``.
    """
    return Log10.apply(x)


def exp2(x):
    """Elementwise ``2 ** x``.

    Args:
        x: a tensor (or array-like).

    Returns:
        A tensor of ``2 ** x``; its gradient is ``2 ** x ln 2``.
    """
    return Exp2.apply(x)


def sinh(x):
    """Elementwise hyperbolic sine.

    Args:
        x: a tensor (or array-like).

    Returns:
        A tensor of ``sinh(x)``; its gradient is ``cosh(x)``.
    """
    return Sinh.apply(x)


def cosh(x):
    """Elementwise hyperbolic cosine.

    Args:
        x: a tensor (or array-like).

    Returns:
        A tensor of ``cosh(x)``; its gradient is ``sinh(x)``.
    """
    return Cosh.apply(x)


def tan(x):
    """Elementwise tangent.

    Args:
        x: a tensor (or array-like) of angles in radians.

    Returns:
        A tensor of ``tan(x)``; its gradient is ``1 + tan(x)**2``.
    """
    return Tan.apply(x)


def arcsin(x):
    """Elementwise inverse sine (``asin`` is PyTorch's name for it).

    Args:
        x: a tensor (or array-like) with values in [-1, 1].

    Returns:
        A tensor of angles in [-pi/2, pi/2]; the gradient is ``1 / sqrt(1 - x**2)``
        (infinite at ±1).
    """
    return Arcsin.apply(x)


def arccos(x):
    """Elementwise inverse cosine (``acos`` is PyTorch's name for it).

    Args:
        x: a tensor (or array-like) with values in [-1, 1].

    Returns:
        A tensor of angles in [0, pi]; the gradient is ``-1 / sqrt(1 - x**2)``
        (infinite at ±1).
    """
    return Arccos.apply(x)


def arctan(x):
    """Elementwise inverse tangent (``atan`` is PyTorch's name for it).

    Args:
        x: a tensor (or array-like).

    Returns:
        A tensor of angles in (-pi/2, pi/2); the gradient is ``1 / (1 + x**2)``.
    """
    return Arctan.apply(x)


def arctan2(y, x):
    """Elementwise angle of the point ``(x, y)``, quadrant-aware, as ``np.arctan2``
    (``atan2`` is PyTorch's name for it). Inputs broadcast.

    Args:
        y: the y coordinates.
        x: the x coordinates.

    Returns:
        A tensor of angles in [-pi, pi]. The gradients are ``x / (x**2 + y**2)`` for
        ``y`` and ``-y / (x**2 + y**2)`` for ``x``; 0 at the origin, as in PyTorch.
    """
    return Arctan2.apply(y, x)


def erf(x):
    """Elementwise error function ``2/sqrt(pi) * integral_0^x exp(-t**2) dt``.

    Computed with Python's ``math.erf`` on each element (correctly rounded to about one
    ulp in float64; scipy is not needed).

    Args:
        x: a tensor (or array-like).

    Returns:
        A tensor of ``erf(x)``; its gradient is ``2/sqrt(pi) * exp(-x**2)``.
    """
    return Erf.apply(x)


def erfc(x):
    """Elementwise complementary error function ``1 - erf(x)``, accurate where it is
    tiny (large ``x``), from Python's ``math.erfc``.

    Args:
        x: a tensor (or array-like).

    Returns:
        A tensor of ``erfc(x)``; its gradient is ``-2/sqrt(pi) * exp(-x**2)``.
    """
    return Erfc.apply(x)


def square(x):
    """Elementwise ``x ** 2``.

    Args:
        x: a tensor (or array-like).

    Returns:
        A tensor of ``x * x``; its gradient is ``2 x``.
    """
    return Square.apply(x)


def reciprocal(x):
    """Elementwise ``1 / x`` (floats also for integer input, as PyTorch; NumPy's
    ``np.reciprocal`` would round integers).

    Args:
        x: a tensor (or array-like).

    Returns:
        A tensor of ``1 / x``; its gradient is ``-1 / x**2``.
    """
    return Reciprocal.apply(x)


def floor_divide(a, b):
    """Elementwise ``a // b``, rounded towards minus infinity, as ``np.floor_divide``
    (``torch.floor_divide``). Inputs broadcast; the gradient is 0 (a step function)."""
    return FloorDivide.apply(a, b)


def remainder(a, b):
    """Elementwise ``a % b`` with the sign of ``b``, as ``np.remainder``
    (``torch.remainder``, Python's ``%``). Inputs broadcast.

    Returns:
        ``a - b * (a // b)``; its gradient is ``grad`` for ``a`` and ``-grad * (a // b)``
        for ``b``, as in PyTorch.
    """
    return Remainder.apply(a, b)


def fmod(a, b):
    """Elementwise remainder with the sign of ``a``, as ``np.fmod`` (``torch.fmod``, C's
    ``fmod``). Inputs broadcast.

    Returns:
        ``a - b * trunc(a / b)``; its gradient is ``grad`` for ``a`` and
        ``-grad * trunc(a / b)`` for ``b``, as in PyTorch.
    """
    return Fmod.apply(a, b)


def floor(x):
    """Elementwise floor (largest integer <= x), as ``np.floor``.

    Args:
        x: a tensor (or array-like).

    Returns:
        A tensor in the graph whose gradient is 0 everywhere, as PyTorch's ``floor``.
    """
    return Floor.apply(x)


def ceil(x):
    """Elementwise ceiling (smallest integer >= x), as ``np.ceil``.

    Args:
        x: a tensor (or array-like).

    Returns:
        A tensor in the graph whose gradient is 0 everywhere, as PyTorch's ``ceil``.
    """
    return Ceil.apply(x)


def trunc(x):
    """Elementwise rounding towards zero, as ``np.trunc``.

    Args:
        x: a tensor (or array-like).

    Returns:
        A tensor in the graph whose gradient is 0 everywhere, as PyTorch's ``trunc``.
    """
    return Trunc.apply(x)


def round(x, decimals: int = 0):  # noqa: A001  (mirrors np.round)
    """Elementwise rounding to ``decimals`` decimals, as ``np.round``: halves go to the
    nearest even value (``round(0.5) == 0``, ``round(1.5) == 2``), as ``torch.round``.

    Args:
        x: a tensor (or array-like).
        decimals: how many decimals to keep (negative: round to tens, hundreds...).

    Returns:
        A tensor in the graph whose gradient is 0 everywhere, as PyTorch's ``round``.
    """
    return Round.apply(x, decimals=int(decimals))


def sign(x):
    """Elementwise sign: -1, 0 or 1, as ``torch.sign``: 0 for nan (``np.sign`` gives nan), and
    a bool tensor is its own sign.

    Args:
        x: a tensor (or array-like).

    Returns:
        A tensor in the graph whose gradient is 0 everywhere, as PyTorch's ``sign``.
    """
    return Sign.apply(x)


def logaddexp(a, b):
    """Elementwise ``log(exp(a) + exp(b))`` without overflow, as ``np.logaddexp``.
    Inputs broadcast.

    Args:
        a: a tensor (or array-like).
        b: a tensor (or array-like).

    Returns:
        A tensor of ``log(exp(a) + exp(b))``; the gradients are the softmax weights
        ``exp(a - out)`` and ``exp(b - out)``.
    """
    return LogAddExp.apply(a, b)


asin, acos, atan, atan2 = arcsin, arccos, arctan, arctan2
