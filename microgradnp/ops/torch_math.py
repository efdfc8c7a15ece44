"""PyTorch's math methods and functions: fused products (``addmm``, ``addcmul``...),
elementwise math (``hypot``, ``xlogy``, ``logit``, ``copysign``, ``fmax``, ``erfinv``...),
NaN-aware reductions (``nansum``, ``nanmean``, ``nan_to_num``), selections (``median``,
``kthvalue``, ``mode``, ``quantile``, ``cummax``...), ``diff``, ``renorm``, ``dist`` and the
logical and comparison functions under PyTorch's names.

Most are compositions of existing differentiable operations, so their gradients follow
from rules already written; a primitive is added only where no composition gives the
value (``hypot``, ``xlogy``, the inverse hyperbolic functions, ``erfinv``, ``lgamma``,
``digamma``, ``median()``). Selections find their indices on the data (an ``mg.compile``
replay finds them again) and take the values at those indices, so the gradient goes to the
selected element, as in PyTorch. Integer and bool results are outside the graph."""

from __future__ import annotations

import functools
import math

import numpy as np

from microgradnp import ops
from microgradnp.errors import DtypeError, IndexOutOfRangeError, InvalidArgumentError
from microgradnp.ops._aliases import reduced_dims
from microgradnp.ops.elementwise import LogAddExp2, Logit, _erf_values, _values
from microgradnp.ops.primitive import (
    Primitive,
    check_not_empty,
    floating,
    floating_pair,
    normalize_axes,
    reduction_axes,
)
from microgradnp.ops.reductions import cast_first
from microgradnp.ops.sorting import ValuesIndices
from microgradnp.tensor import Tensor, _data, _no_grad_on_data

_on_data = _no_grad_on_data


def _tensor(x) -> Tensor:
    """``x`` as a Tensor (the functions also take arrays, lists and numbers, as torch's do)."""
    return x if isinstance(x, Tensor) else Tensor._wrap(np.asarray(floating(np.asarray(x))))


def _bool_result(function, name: str, doc: str):
    """A function answering from the data, as a tensor outside the graph (tests, comparisons)."""

    def method(input, *args, **kwargs):  # noqa: A002  (PyTorch's argument name)
        if "other" in kwargs:  # (PyTorch's keyword for the second operand)
            args = (kwargs.pop("other"), *args)
        return _on_data(lambda *a, **k: np.asarray(function(*a, **k)))(input, *args, **kwargs)

    method.__name__, method.__doc__ = name, doc
    return method


# -- fused products: beta * input + alpha * (product) --------------------------------------------------------


def _scaled_sum(name: str, input, product, beta, alpha):  # noqa: A002
    """``beta * input + alpha * product`` as PyTorch computes it: with ``beta=0`` the input
    is ignored (its nan and inf do not propagate) but must still broadcast to the result."""
    input = _tensor(input)  # noqa: A001
    shape = np.shape(_data(product))
    try:
        out_shape = np.broadcast_shapes(input.shape, shape)
    except ValueError:
        out_shape = None
    if out_shape != shape:
        raise InvalidArgumentError(
            f"{name}: the input of shape {input.shape} does not broadcast to the product's shape {shape}")
    product = product if alpha == 1 else product * alpha
    if beta == 0:
        return product
    return (input if beta == 1 else input * beta) + product


def _dims(name: str, **tensors) -> None:
    for label, (value, ndim) in tensors.items():
        if np.ndim(_data(value)) != ndim:
            raise InvalidArgumentError(f"{name}: {label} must be a {ndim}-D tensor, got shape {np.shape(_data(value))}")


def _same_batch(name: str, batch1, batch2) -> None:
    """The batches of a batched product match (PyTorch's ``bmm`` family does not broadcast them)."""
    shape1, shape2 = np.shape(_data(batch1)), np.shape(_data(batch2))
    if shape1[0] != shape2[0]:
        raise InvalidArgumentError(f"{name}: batch1 and batch2 must have the same number of batches, got shapes "
                                   f"{shape1} and {shape2}")


def addmm(input, mat1, mat2, *, beta=1, alpha=1):  # noqa: A002
    """``beta * input + alpha * (mat1 @ mat2)`` for 2-D ``mat1`` (n, m) and ``mat2`` (m, p)
    (``torch.addmm``); ``input`` broadcasts to (n, p) and is ignored when ``beta`` is 0.

    Raises:
        ValueError: a matrix is not 2-D, or ``input`` does not broadcast to (n, p).
    """
    _dims("addmm", mat1=(mat1, 2), mat2=(mat2, 2))
    return _scaled_sum("addmm", input, ops.matmul(mat1, mat2), beta, alpha)


def addmv(input, mat, vec, *, beta=1, alpha=1):  # noqa: A002
    """``beta * input + alpha * (mat @ vec)`` for a 2-D ``mat`` and a 1-D ``vec`` (``torch.addmv``)."""
    _dims("addmv", mat=(mat, 2), vec=(vec, 1))
    return _scaled_sum("addmv", input, ops.matmul(mat, vec), beta, alpha)


def addr(input, vec1, vec2, *, beta=1, alpha=1):  # noqa: A002
    """``beta * input + alpha * outer(vec1, vec2)`` for 1-D vectors (``torch.addr``)."""
    _dims("addr", vec1=(vec1, 1), vec2=(vec2, 1))
    return _scaled_sum("addr", input, ops.outer(vec1, vec2), beta, alpha)


def addbmm(input, batch1, batch2, *, beta=1, alpha=1):  # noqa: A002
    """``beta * input + alpha * sum_b(batch1[b] @ batch2[b])`` for 3-D batches (b, n, m) and
    (b, m, p): a 2-D (n, p) result (``torch.addbmm``)."""
    _dims("addbmm", batch1=(batch1, 3), batch2=(batch2, 3))
    _same_batch("addbmm", batch1, batch2)
    return _scaled_sum("addbmm", input, ops.sum(ops.matmul(batch1, batch2), axis=0), beta, alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):  # noqa: A002
    """``beta * input + alpha * (batch1 @ batch2)`` for 3-D batches: a (b, n, p) result
    (``torch.baddbmm``)."""
    _dims("baddbmm", batch1=(batch1, 3), batch2=(batch2, 3))
    _same_batch("baddbmm", batch1, batch2)
    return _scaled_sum("baddbmm", input, ops.matmul(batch1, batch2), beta, alpha)


def addcmul(input, tensor1, tensor2, *, value=1):  # noqa: A002
    """``input + value * tensor1 * tensor2``, all broadcast (``torch.addcmul``)."""
    product = ops.multiply(tensor1, tensor2)
    return ops.add(input, product if value == 1 else product * value)


def addcdiv(input, tensor1, tensor2, *, value=1):  # noqa: A002
    """``input + value * tensor1 / tensor2``, all broadcast (``torch.addcdiv``)."""
    quotient = ops.divide(tensor1, tensor2)
    return ops.add(input, quotient if value == 1 else quotient * value)


# -- elementwise math -----------------------------------------------------------------------------------------


class Hypot(Primitive):
    """``sqrt(a**2 + b**2)`` without overflow (``np.hypot``). As in PyTorch the gradient is
    ``a / hypot``, nan at a = b = 0."""

    @staticmethod
    def forward(ctx, a, b):
        a, b = floating_pair(a, b)
        out = np.hypot(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors
        with np.errstate(divide="ignore", invalid="ignore"):  # 0 / 0 at the origin: nan, as in PyTorch
            # (a / hypot first: at most 1, where 1 / hypot overflows for a subnormal hypot)
            return tuple(grad * (v / out) if need else None for v, need in zip((a, b), ctx.needs_input_grad))


class Xlogy(Primitive):
    """``x * log(y)``, 0 where x is 0 (unless y is nan), as ``torch.xlogy``. (``log`` and
    ``shift``: ``torch.special.xlog1py`` is ``x * log1p(y)``, the log of ``y + 1``.)"""

    log, shift = staticmethod(np.log), 0

    @classmethod
    def forward(cls, ctx, x, y):
        x, y = floating_pair(x, y)
        ctx.save_for_backward(x, y)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where((x == 0) & ~np.isnan(y), 0, x * cls.log(y))
        return out.astype(np.result_type(x, y), copy=False)

    @classmethod
    def backward(cls, ctx, grad):
        x, y = ctx.saved_tensors
        need_x, need_y = ctx.needs_input_grad
        grad_x = grad_y = None
        if need_x:  # PyTorch: xlogy(grad, y), 0 where x == 0 and y <= 0 (the log's pole)
            xv, yv = _values(x), _values(y)
            with np.errstate(divide="ignore", invalid="ignore"):
                grad_x = np.where((xv == 0) & (yv <= -cls.shift), 0, grad * cls.log(y))
        if need_y:
            with np.errstate(divide="ignore", invalid="ignore"):
                grad_y = grad * x / (y + cls.shift if cls.shift else y)
        return grad_x, grad_y


class _Unary(Primitive):
    """An elementwise function: ``values(a)`` on arrays, and its derivative ``derivative(a)``
    written with operations that work on arrays and on Tensors."""

    @classmethod
    def forward(cls, ctx, a):
        a = floating(a)
        ctx.save_for_backward(a)
        return cls.values(a)

    @classmethod
    def backward(cls, ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * cls.derivative(a)


class Arccosh(_Unary):
    values = staticmethod(np.arccosh)
    derivative = staticmethod(lambda a: 1 / np.sqrt((a - 1) * (a + 1)))


class Arcsinh(_Unary):
    values = staticmethod(np.arcsinh)
    derivative = staticmethod(lambda a: 1 / np.sqrt(a * a + 1))


class Arctanh(_Unary):
    values = staticmethod(np.arctanh)
    derivative = staticmethod(lambda a: 1 / (1 - a * a))


_SQRT_PI_OVER_TWO = math.sqrt(math.pi) / 2


def _erfinv_values(x: np.ndarray) -> np.ndarray:
    """The inverse error function: Giles' approximation (single precision) refined by two
    Newton steps on ``erf`` in float64; ``+-inf`` at ``+-1``, nan outside [-1, 1]."""
    dtype = x.dtype
    x = np.asarray(x, dtype=np.float64)
    inside = np.abs(x) < 1
    t = np.where(inside, x, 0.0)
    w = -np.log((1 - t) * (1 + t))
    small, big = w - 2.5, np.sqrt(w) - 3
    p_small = np.polyval([2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
                          -0.00125372503, -0.00417768164, 0.246640727, 1.50140941], small)
    p_big = np.polyval([-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
                        -0.0076224613, 0.00943887047, 1.00167406, 2.83297682], big)
    guess = np.where(w < 5, p_small, p_big) * t
    y = guess
    for _ in range(2):
        y = y - (_erf_values(math.erf, y) - t) / (np.exp(-y * y) / _SQRT_PI_OVER_TWO)
    # Near +-1, erf(y) rounds to +-1 and cannot tell y's last digits: there, Newton's steps
    # solve log erfc(|y|) = log(1 - |x|) instead (1 - |x| is exact for |x| >= 0.5; the log
    # makes the steps converge from the single-precision guess even at 1 - 2**-53).
    tail = np.abs(t) > 0.5
    if tail.any():
        rest, magnitude = np.where(tail, 1 - np.abs(t), 0.5), np.where(tail, np.abs(guess), 0.5)
        for _ in range(4):
            complement = _erf_values(math.erfc, magnitude)
            magnitude = magnitude + np.log(complement / rest) * _SQRT_PI_OVER_TWO * np.exp(
                magnitude * magnitude) * complement
        y = np.where(tail, np.copysign(magnitude, t), y)
    with np.errstate(invalid="ignore"):
        y = np.where(inside, y, np.where(np.abs(x) == 1, np.copysign(np.inf, x), np.nan))
    return y.astype(dtype, copy=False)


class Erfinv(Primitive):
    """The inverse of ``erf`` on (-1, 1); its derivative is ``sqrt(pi)/2 * exp(erfinv(x)**2)``,
    ``scale * exp(rate * out**2)`` (``torch.special.ndtri``, the normal quantile, is one too)."""

    values, scale, rate = staticmethod(_erfinv_values), _SQRT_PI_OVER_TWO, 1.0

    @classmethod
    def forward(cls, ctx, a):
        out = cls.values(floating(a))
        ctx.save_for_backward(out)
        return out

    @classmethod
    def backward(cls, ctx, grad):
        (out,) = ctx.saved_tensors
        with np.errstate(over="ignore"):
            return grad * cls.scale * np.exp(out * out * cls.rate)


def _lgamma_one(value: float) -> float:
    try:
        return math.lgamma(value)
    except (ValueError, OverflowError):  # a pole (0, -1, -2...), or beyond 2.5e305: PyTorch gives inf
        return math.inf


def _in_float64(function):
    """``function`` of a float64 array, given back in the input's float dtype."""

    def call(a):
        a = floating(np.asarray(a))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # (inf and nan as PyTorch's, quietly)
            return np.asarray(function(a.astype(np.float64)), dtype=np.float64).astype(a.dtype, copy=False)

    return call


@_in_float64
def _lgamma_values(x):
    """``log|Gamma(x)|``. ``math.lgamma`` is accurate only in absolute terms near the zeros at
    1 and 2 (lgamma(1 + 1e-12) 6e-4 relative off), so there it is the series of
    ``lgamma(1 + a)`` with a = x - 1, or a = x - 2 and ``lgamma(2 + a) = lgamma(1 + a) +
    log1p(a)`` (both differences are exact)."""
    value = np.asarray(np.frompyfunc(_lgamma_one, 1, 1)(x), dtype=np.float64)  # (a float for a 0-d x)
    shift = np.where(np.abs(x - 2) <= _LGAMMA1P_SERIES_RADIUS, 2.0, 1.0)
    near = np.abs(x - shift) <= _LGAMMA1P_SERIES_RADIUS
    a = np.where(near, x - shift, 0.0)
    series = _lgamma1p_series(a) + np.where(shift == 2, np.log1p(a), 0.0)
    return np.where(near, series, value)


_EULER_GAMMA = 0.5772156649015329
_LGAMMA1P_SERIES_RADIUS = 0.2  # (there the 24 zeta terms of _lgamma1p_series are exact to rounding)


@functools.cache
def _zeta_integers() -> tuple[float, ...]:
    """zeta(2), zeta(3), ..., zeta(25): the Taylor coefficients of lgamma(1 + a) about 0."""
    from microgradnp.ops.torch_more import _hurwitz_zeta  # (torch_more builds on this module)

    return tuple(float(_hurwitz_zeta(float(k), np.ones(1))[0]) for k in range(2, 26))


def _lgamma1p_series(a: np.ndarray) -> np.ndarray:
    """``lgamma(1 + a)`` for |a| <= 0.2 as ``-gamma a + sum_k (-1)**k zeta(k) / k a**k``:
    relatively accurate for small a, where ``1 + a`` would round its digits away."""
    total = np.zeros_like(a)
    for k, zeta in reversed(list(enumerate(_zeta_integers(), start=2))):
        total = (total + (-1) ** k * zeta / k) * a
    return (total - _EULER_GAMMA) * a


def _lgamma1p(a: np.ndarray) -> np.ndarray:
    """``lgamma(1 + a)`` in float64, relatively accurate for small a too."""
    small = np.abs(a) <= _LGAMMA1P_SERIES_RADIUS
    return np.where(small, _lgamma1p_series(np.where(small, a, 0.0)), _lgamma_values(1 + np.where(small, 0.0, a)))


def _reflected_series(x, shift_term, series, reflection):
    """A polygamma function by reflection below 1/2, the recurrence up to 10, then the
    asymptotic ``series`` (to about 1e-15 in float64)."""
    reflect = x < 0.5
    y = np.where(reflect, 1 - x, x)
    total = np.zeros_like(y)
    for _ in range(10):
        small = y < 10
        total = total + np.where(small, shift_term(y), 0.0)
        y = np.where(small, y + 1, y)
    value = total + series(y)
    return np.where(reflect, reflection(x, value), value)


@_in_float64
def _digamma_values(x):
    def series(y):
        r = 1 / (y * y)
        tail = 1 / 240 - r * (1 / 132 - r * (691 / 32760 - r / 12))
        return np.log(y) - 0.5 / y - r * (1 / 12 - r * (1 / 120 - r * (1 / 252 - r * tail)))

    value = _reflected_series(x, lambda y: -1 / y, series, lambda x, v: v - math.pi / np.tan(math.pi * x))
    pole = (x <= 0) & (x == np.floor(x))
    # PyTorch: -inf at 0 and +inf at -0.0 (the limit from the left), nan at -1, -2...
    return np.where(pole, np.where(x == 0, np.copysign(np.inf, -x), np.nan), value)


@_in_float64
def _trigamma_values(x):
    def series(y):
        r = 1 / (y * y)
        tail = 1 / 30 - r * (5 / 66 - r * (691 / 2730 - r * 7 / 6))
        return 1 / y + r / 2 + r / y * (1 / 6 - r * (1 / 30 - r * (1 / 42 - r * tail)))

    value = _reflected_series(x, lambda y: 1 / (y * y), series,
                              lambda x, v: (math.pi / np.sin(math.pi * x)) ** 2 - v)
    # inf at the poles 0, -1, -2...; -inf is none (its nan, from the reflection, stays: toward
    # -inf the poles get ever closer, so no limit exists)
    return np.where((x <= 0) & (x == np.floor(x)) & np.isfinite(x), np.inf, value)


class Lgamma(_Unary):
    """``log|Gamma(x)|`` (``torch.lgamma``); its derivative is ``digamma``."""

    values = staticmethod(_lgamma_values)
    derivative = staticmethod(lambda a: digamma(a) if isinstance(a, Tensor) else _digamma_values(a))


def _trigamma(a):
    """The derivative of digamma: on a Tensor (create_graph), ``polygamma(1, a)``, which is
    differentiable again (the same values as on arrays)."""
    if isinstance(a, Tensor):
        from microgradnp.ops.torch_more import Polygamma  # (torch_more builds on this module)

        return Polygamma.apply(a, n=1)
    return _trigamma_values(a)


class Digamma(_Unary):
    """``d/dx lgamma(x)`` (``torch.digamma``); its derivative is the trigamma function
    (``polygamma(1, x)``, differentiable again)."""

    values = staticmethod(_digamma_values)
    derivative = staticmethod(_trigamma)


def lgamma(input):  # noqa: A002
    """The log of the absolute value of the gamma function (``torch.lgamma``): inf at the
    poles 0, -1, -2..."""
    return Lgamma.apply(input)


def digamma(input):  # noqa: A002
    """The derivative of ``lgamma`` (``torch.digamma``): -inf at 0, nan at -1, -2..."""
    return Digamma.apply(input)


def hypot(input, other):  # noqa: A002
    """``sqrt(input**2 + other**2)``, elementwise and without overflow (``torch.hypot``)."""
    return Hypot.apply(input, other)


def xlogy(input, other):  # noqa: A002
    """``input * log(other)``, 0 where ``input`` is 0 (``torch.xlogy``)."""
    return Xlogy.apply(input, other)


def arccosh(input):  # noqa: A002
    """The inverse hyperbolic cosine (``torch.acosh``), defined for input >= 1."""
    return Arccosh.apply(input)


def arcsinh(input):  # noqa: A002
    """The inverse hyperbolic sine (``torch.asinh``)."""
    return Arcsinh.apply(input)


def arctanh(input):  # noqa: A002
    """The inverse hyperbolic tangent (``torch.atanh``), defined on (-1, 1)."""
    return Arctanh.apply(input)


def erfinv(input):  # noqa: A002
    """The inverse error function (``torch.erfinv``): ``erf(erfinv(x)) == x`` on (-1, 1),
    ``+-inf`` at ``+-1`` and nan outside."""
    return Erfinv.apply(input)


def logaddexp2(input, other):  # noqa: A002
    """``log2(2**input + 2**other)`` without overflow (``torch.logaddexp2``), computed in the
    operands' floating result dtype (float32 with float64 computes in float64, as PyTorch).
    The gradients are ``2**(input - out)`` and ``2**(other - out)``."""
    return LogAddExp2.apply(input, other)


def sinc(input):  # noqa: A002
    """The normalised sinc, ``sin(pi x) / (pi x)`` and 1 at 0 (``torch.sinc``; gradient 0 at 0).
    Near 0 (``|x| < 1e-4``) it is its Taylor series ``1 - s^2/6 + s^4/120`` (``s = pi x``,
    exact to rounding there), so that the gradient stays right where ``s^2`` underflows."""
    x = _tensor(input)
    small = _on_data(np.less)(ops.abs(x), 1e-4)
    scaled = ops.where(small, 1.0, x) * math.pi
    near = ops.where(small, x, 0.0) * math.pi  # (0 elsewhere: inf and nan take the other branch quietly)
    square = near * near
    return ops.where(small, 1 - square / 6 + square * square / 120, ops.sin(scaled) / scaled)


def logit(input, eps=None):  # noqa: A002
    """``log(p / (1 - p))`` (``torch.logit``); with ``eps``, ``p`` is first clamped to
    ``[eps, 1 - eps]`` (gradient 0 outside, as in PyTorch). Without ``eps`` the value and the
    gradient are nan outside [0, 1], as in PyTorch. A negative ``eps`` clamps to an interval
    around [0, 1], which changes no value (outside [0, 1] it is nan either way), so it counts
    as no ``eps``: the gradient is nan outside [0, 1] too, as in PyTorch."""
    eps = None if eps is None or eps < 0 else float(eps)
    return Logit.apply(_tensor(input), eps=eps)


def deg2rad(input):  # noqa: A002
    """Degrees to radians (``torch.deg2rad``)."""
    return _tensor(input) * (math.pi / 180)


def rad2deg(input):  # noqa: A002
    """Radians to degrees (``torch.rad2deg``)."""
    return _tensor(input) * (180 / math.pi)


def frac(input):  # noqa: A002
    """The fractional part, ``input - trunc(input)`` with the sign of ``input`` (``torch.frac``)."""
    x = _tensor(input)
    return x - ops.trunc(x)


def fix(input):  # noqa: A002
    """Rounding towards zero: ``torch.fix``, the same as ``trunc`` (gradient 0)."""
    return ops.trunc(input)


def _copysign_factor(magnitude, sign):
    dtype = np.result_type(*floating_pair(magnitude, sign))  # PyTorch's promotion, in floating point
    return np.copysign(np.ones((), dtype=dtype), np.asarray(sign, dtype=dtype))


def copysign(input, other):  # noqa: A002
    """``|input|`` with the sign of ``other`` (``torch.copysign``; -0.0 counts as negative).
    The gradient flows to ``input`` only (PyTorch's is 0 for ``other``)."""
    x = _tensor(input)
    factor = _on_data(_copysign_factor)(x, other)
    # (|x| of bools and integers in the result's floating dtype: a bool and a float32 give float32)
    if x.dtype.kind in "biu":
        x = x.to(factor.dtype)
    return ops.abs(x) * factor


def heaviside(input, values):  # noqa: A002
    """The step function (``torch.heaviside``): 0 below 0, 1 above, ``values`` at 0; a tensor
    outside the graph (PyTorch has no derivative for it)."""
    return _on_data(_heaviside)(input, values)


def _heaviside(x, values):
    dtype = np.result_type(x, values)
    with np.errstate(invalid="ignore"):
        return np.where(x == 0, values, x > 0).astype(dtype, copy=False)  # nan gives 0, as in PyTorch


def _first_wins(a, b, largest: bool):
    with np.errstate(invalid="ignore"):
        return ((a >= b) if largest else (a <= b)) | np.isnan(b)


def fmax(input, other):  # noqa: A002
    """The elementwise maximum ignoring nan (``torch.fmax``, ``np.fmax``): nan only where both
    are nan. The gradient goes to ``input`` where it is chosen or tied, else to ``other``."""
    return ops.where(_on_data(_first_wins)(input, other, True), input, other)


def fmin(input, other):  # noqa: A002
    """The elementwise minimum ignoring nan (``torch.fmin``, ``np.fmin``)."""
    return ops.where(_on_data(_first_wins)(input, other, False), input, other)


def float_power(input, exponent):  # noqa: A002
    """``input ** exponent`` computed in float64 (``torch.float_power``): the result is float64."""
    return ops.power(ops.astype(_tensor(input), np.float64),
                     ops.astype(exponent, np.float64) if isinstance(exponent, Tensor)
                     else np.asarray(exponent, dtype=np.float64))


def sgn(input):  # noqa: A002
    """The sign, as ``torch.sgn`` (for real tensors the same as ``sign``; gradient 0)."""
    return ops.sign(input)


def positive(input):  # noqa: A002
    """``input`` itself (``torch.positive``)."""
    return _tensor(input)


def nan_to_num(input, nan=0.0, posinf=None, neginf=None):  # noqa: A002
    """nan, inf and -inf replaced by ``nan``, ``posinf`` and ``neginf`` (the dtype's largest and
    smallest finite values by default), as ``torch.nan_to_num``. Gradient 0 where replaced."""
    x = _tensor(input)
    replaced = _on_data(np.nan_to_num)(x, copy=True, nan=nan, posinf=posinf, neginf=neginf)
    return ops.where(_on_data(np.isfinite)(x), x, replaced)


# -- reductions that skip nan ---------------------------------------------------------------------------------


def _not_nan(input):  # noqa: A002
    return ops.where(_on_data(np.isnan)(input), 0.0, input)


def nansum(input, dim=None, keepdim=False, *, dtype=None):  # noqa: A002
    """The sum treating nan as 0 (``torch.nansum``); the gradient is 0 at the nans."""
    x, dim = cast_first("nansum", _tensor(input), dtype), reduced_dims(dim)
    values = _not_nan(x) if x.dtype.kind == "f" else x  # (bool and integer tensors hold no nan: int64 sums)
    return ops.sum(values, axis=dim, keepdims=keepdim, dtype=dtype)


def nanmean(input, dim=None, keepdim=False, *, dtype=None):  # noqa: A002
    """The mean of the values that are not nan (``torch.nanmean``): nan where all are nan."""
    x, dim = _tensor(input), reduced_dims(dim)
    if dtype is not None:
        x = ops.astype(x, dtype)
    elif x.dtype.kind == "b":  # (a count in bool would be True: the mean of the default float dtype, as mean's)
        x = ops.astype(x, floating(np.zeros(0, dtype=bool)).dtype)
    count = _on_data(lambda a: np.sum(~np.isnan(a), axis=dim, keepdims=keepdim).astype(a.dtype))(x)
    return ops.sum(_not_nan(x), axis=dim, keepdims=keepdim) / count


def _count_nonzero(a, dim=None):
    # (reduction_axes: on a 0-d tensor, PyTorch's dim 0 or -1, also in a tuple, reduces nothing)
    axis = None if dim is None else reduction_axes(dim, np.ndim(a))
    return np.asarray(np.count_nonzero(a, axis=axis), dtype=np.int64)


def count_nonzero(input, dim=None):  # noqa: A002
    """How many values are not 0 over ``dim`` (an int, a tuple or None for all), as
    ``torch.count_nonzero``: an int64 tensor outside the graph."""
    return _on_data(_count_nonzero)(input, dim=reduced_dims(dim))


# -- selections: the values at indices found on the data --------------------------------------------------------


def _select(name: str, input, dim, keepdim, index, *args):  # noqa: A002
    """``(values, indices)`` along ``dim``: ``index(data, axis, *args)`` gives the indices
    with the axis kept (length 1); the values are taken there, so the gradient goes there."""
    x = _tensor(input)
    scalar = x.ndim == 0
    if scalar:
        if dim not in (0, -1):
            raise IndexError(f"{name}: dim {dim} is out of range for a 0-d tensor (use 0 or -1)")
        x, dim = ops.reshape(x, (1,)), 0
    (axis,) = normalize_axes(dim, x.ndim)
    check_not_empty(name, x.shape, (axis,))
    indices = _on_data(index)(x, axis, *args)
    values = ops.take_along_axis(x, indices, axis=axis)
    if scalar:
        return ValuesIndices(ops.reshape(values, ()), ops.reshape(indices, ()))
    if not keepdim:
        values, indices = ops.squeeze(values, axis=axis), ops.squeeze(indices, axis=axis)
    return ValuesIndices(values, indices)


def _stable_order(a, axis):
    return np.argsort(a, axis=axis, kind="stable")  # nan last, ties in order of position


def _kth_index(a, axis, k):
    return np.take(_stable_order(a, axis), [k], axis=axis)


def _median_index(a, axis, ignore_nan):
    order = _stable_order(a, axis)
    nans = np.isnan(a)
    if ignore_nan:
        count = np.sum(~nans, axis=axis, keepdims=True)
        return np.take_along_axis(order, np.maximum(count - 1, 0) // 2, axis=axis)
    lower = np.take(order, [(a.shape[axis] - 1) // 2], axis=axis)
    return np.where(nans.any(axis=axis, keepdims=True), np.argmax(nans, axis=axis, keepdims=True), lower)


def _median_weights(a: np.ndarray, ignore_nan: bool):
    """The lower median of all of ``a`` and the share of the gradient each element gets:
    PyTorch spreads it evenly over the elements equal to the median (over the nans if it is nan)."""
    flat = a.reshape(-1)
    if flat.size == 0:
        return np.asarray(np.nan, dtype=a.dtype), np.zeros_like(a)
    index = _median_index(flat, 0, ignore_nan)[0]
    value = flat[index]
    chosen = np.isnan(a) if np.isnan(value) else a == value
    return value, chosen / np.sum(chosen, dtype=a.dtype if a.dtype.kind == "f" else None)


class Median(Primitive):
    """The median of all elements (``torch.median()`` and ``nanmedian()``, no dim)."""

    @staticmethod
    def forward(ctx, a, ignore_nan):
        # An integer median keeps the dtype, as PyTorch's (of no elements: nan, in floating point)
        value, ctx.weights = _median_weights(a if a.dtype.kind in "iu" and a.size else floating(a), ignore_nan)
        return np.asarray(value)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.weights


def median(input, dim=None, keepdim=False):  # noqa: A002
    """The lower median (of two middle values, the smaller), as ``torch.median``; nan if a
    value is nan.

    Without ``dim``: the median of all elements, a 0-d tensor (of shape (1,) * ndim with
    ``keepdim``) whose gradient is shared evenly by the elements equal to it (PyTorch's
    rule). With ``dim``: ``(values, indices)`` (a ``ValuesIndices`` named tuple) along
    ``dim``; the gradient goes to the selected element.
    """
    if dim is None:
        return _median_of_all(input, keepdim, ignore_nan=False)
    return _select("median", input, dim, keepdim, _median_index, False)


def nanmedian(input, dim=None, keepdim=False):  # noqa: A002
    """``median`` ignoring nan (``torch.nanmedian``): nan only where all values are nan."""
    if dim is None:
        return _median_of_all(input, keepdim, ignore_nan=True)
    return _select("nanmedian", input, dim, keepdim, _median_index, True)


def _median_of_all(input, keepdim: bool, ignore_nan: bool):  # noqa: A002
    """The median of all elements; with ``keepdim``, of shape (1,) * ndim, as the other
    reductions over every axis (``sum``, ``quantile``...) give it."""
    x = _tensor(input)
    value = Median.apply(x, ignore_nan=ignore_nan)
    return ops.reshape(value, (1,) * x.ndim) if keepdim else value


def kthvalue(input, k, dim=-1, keepdim=False):  # noqa: A002
    """The ``k``-th smallest value along ``dim`` (``k`` from 1) and its index, as
    ``torch.kthvalue`` (nan counts as the largest). The gradient goes to that element.

    Raises:
        TypeError: ``k`` is not a whole number.
        IndexError: ``k`` is not in 1..length of ``dim``.
    """
    x = _tensor(input)
    given = np.asarray(_data(k))
    if given.ndim or given.dtype.kind not in "iuf" or not np.isfinite(given) or given != np.round(given):
        # (k=1.5 would otherwise pick the 1st; PyTorch refuses it too)
        raise TypeError(f"kthvalue: k must be a whole number (1 for the smallest), got {k!r}")
    k = int(given)
    length = x.shape[dim] if x.ndim else 1
    if not 1 <= k <= length:
        raise IndexOutOfRangeError(
            f"kthvalue: k={k} is out of range for a dimension of length {length}: give 1 <= k <= {length}")
    return _select("kthvalue", x, dim, keepdim, _kth_index, k - 1)


def _mode_index(a, axis):
    """The index (the last occurrence) of the most frequent value along ``axis``, the
    smallest such value on ties of frequency: PyTorch's choice."""
    a = np.moveaxis(a, axis, -1)
    order = _stable_order(a, -1)
    ranked = np.take_along_axis(a, order, -1)
    n = ranked.shape[-1]
    positions = np.broadcast_to(np.arange(n), ranked.shape)
    first = np.ones(ranked.shape, dtype=bool)
    first[..., 1:] = ranked[..., 1:] != ranked[..., :-1]
    last = np.ones(ranked.shape, dtype=bool)
    last[..., :-1] = first[..., 1:]
    starts = np.maximum.accumulate(np.where(first, positions, 0), axis=-1)
    ends = np.flip(np.minimum.accumulate(np.flip(np.where(last, positions, n), -1), axis=-1), -1)
    best = np.argmax(ends - starts, axis=-1)[..., None]
    picked = np.take_along_axis(order, np.take_along_axis(ends, best, -1), -1)
    return np.moveaxis(picked, -1, axis)


def mode(input, dim=-1, keepdim=False):  # noqa: A002
    """The most frequent value along ``dim`` (the smallest one on ties) and the index of
    its last occurrence, as ``torch.mode``. The gradient goes to that element.

    Each nan counts as a value of its own (nan != nan, as ``torch.unique`` counts them).
    PyTorch's CPU result with nans, and its index among ties along more than 16 values,
    come from an unstable sort that nan leaves unordered, so they are not specified."""
    return _select("mode", input, dim, keepdim, _mode_index)


def _cumulative_index(a, axis, largest):
    """Where the running max (min) was found: the latest on ties, nan once one is seen."""
    running = (np.maximum if largest else np.minimum).accumulate(a, axis=axis)
    shape = [1] * a.ndim
    shape[axis] = a.shape[axis]
    positions = np.arange(a.shape[axis]).reshape(shape)
    found = (a == running) | np.isnan(a)
    return np.maximum.accumulate(np.where(found, positions, 0), axis=axis)


def _cumulative(name: str, input, dim, largest):  # noqa: A002
    x = _tensor(input)
    if x.ndim == 0:
        from microgradnp.ops.torch_extras import _scalar_dims

        _scalar_dims(name, dim)  # PyTorch's IndexError for a dim other than 0 or -1
        return ValuesIndices(x * 1, _on_data(np.zeros_like)(x, dtype=np.int64))
    (axis,) = normalize_axes(dim, x.ndim)
    indices = _on_data(_cumulative_index)(x, axis, largest)
    return ValuesIndices(ops.take_along_axis(x, indices, axis=axis), indices)


def cummax(input, dim):  # noqa: A002
    """The running maximum along ``dim`` and where each was found (``torch.cummax``): a
    ``(values, indices)`` named tuple; each value's gradient goes to the element it came from."""
    return _cumulative("cummax", input, dim, True)


def cummin(input, dim):  # noqa: A002
    """The running minimum along ``dim`` and where each was found (``torch.cummin``)."""
    return _cumulative("cummin", input, dim, False)


# -- quantiles ------------------------------------------------------------------------------------------------

_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile_part(ranked, q, ignore_nan, interpolation, part):
    """For values sorted along the last axis: the lower index (part 0), the upper index
    (part 1) or the weight of the upper value (part 2) of each quantile ``q`` (last axis)."""
    slope = _rank_slope(ranked, ignore_nan)
    if ignore_nan:
        rank = q * slope
    else:  # a row holding a nan: the last (nan) value, whatever q
        rank = np.where(np.isnan(ranked).any(axis=-1, keepdims=True), ranked.shape[-1] - 1.0, q * slope)
    if interpolation == "lower":
        rank = np.floor(rank)
    elif interpolation == "higher":
        rank = np.ceil(rank)
    elif interpolation == "nearest":
        rank = np.round(rank)
    lower = np.floor(rank)
    if part == 0:
        return lower.astype(np.int64)
    if part == 1:
        return np.ceil(rank).astype(np.int64)
    weight = 0.5 if interpolation == "midpoint" else rank - lower
    return np.broadcast_to(np.asarray(weight, dtype=ranked.dtype), rank.shape).copy()


def _rank_slope(ranked, ignore_nan):
    """For values sorted along the last axis: how fast the rank of a quantile grows with
    ``q`` (keeping that axis): the count of values (of non-nan values with ``ignore_nan``)
    minus 1; 0 along a row holding a nan without it, whose rank stays at the nan."""
    nans = np.isnan(ranked)
    if ignore_nan:
        return np.maximum(np.sum(~nans, axis=-1, keepdims=True) - 1.0, 0).astype(ranked.dtype)
    return np.where(nans.any(axis=-1, keepdims=True), 0, ranked.shape[-1] - 1.0).astype(ranked.dtype)


def _quantile(name: str, input, q, dim, keepdim, interpolation, ignore_nan):  # noqa: A002
    x = _tensor(input)
    if x.dtype.kind != "f":
        raise TypeError(f"{name}: input must be a floating-point tensor, got {x.dtype}")
    if interpolation not in _INTERPOLATIONS:
        raise InvalidArgumentError(f"{name}: interpolation must be one of {', '.join(map(repr, _INTERPOLATIONS))}, "
                         f"got {interpolation!r}")
    if isinstance(q, Tensor) and q.dtype != x.dtype:
        raise DtypeError(f"{name}: q tensor must be same dtype as the input tensor (PyTorch's rule), got "
                         f"{q.dtype} and {x.dtype}: convert q first, e.g. q.to({x.dtype})")
    qs = np.asarray(_data(q), dtype=x.dtype)
    if qs.ndim > 1:
        raise InvalidArgumentError(f"{name}: q must be a number or a 1-D tensor, got shape {qs.shape}")
    if qs.size and (np.isnan(qs).any() or qs.min() < 0 or qs.max() > 1):
        raise InvalidArgumentError(f"{name}: q values must be in [0, 1], got {qs.tolist()}")
    ndim = x.ndim
    if dim is None:
        moved = ops.reshape(x, (-1,))
    else:
        (axis,) = normalize_axes(dim, max(ndim, 1))
        moved = ops.moveaxis(x, axis, -1) if ndim else ops.reshape(x, (1,))
    if moved.shape[-1] == 0:
        raise InvalidArgumentError(f"{name}: the input has no values along the reduced dimension (shape {x.shape})")
    ranked = ops.sort(moved, axis=-1)
    ranked_q = ops.expand_dims(ranked, -2)  # (..., 1, n): one row per quantile
    q_column = qs.reshape(-1, 1)

    def pick(part):
        return ops.squeeze(_on_data(_quantile_part)(ranked_q, q_column, ignore_nan, interpolation, part), axis=-1)

    lower = ops.take_along_axis(ranked, pick(0), axis=-1)  # (..., nq)
    upper = ops.take_along_axis(ranked, pick(1), axis=-1)
    weight = pick(2)
    if interpolation == "linear" and isinstance(q, Tensor) and q.requires_grad:
        # The weight is rank - floor(rank), rank = slope * q: written so with q itself (the same
        # value), q gets PyTorch's gradient (upper - lower) * slope. Where the rank does not move
        # with q (a row holding a nan, or of one value) q gets 0; the other modes round the
        # rank, so q gets no gradient there, as in PyTorch.
        slope = _on_data(_rank_slope)(ranked, ignore_nan)
        moving = ops.reshape(q, (-1,)) * slope - pick(0)
        weight = ops.where(_on_data(np.equal)(slope, 0), weight, moving)
    difference = upper - lower
    small = _on_data(np.less)(weight, 0.5)
    # PyTorch's lerp: start + w * (end - start) for w < 0.5, else end - (end - start) * (1 - w)
    result = ops.where(small, lower + weight * difference, upper - difference * (1 - weight))
    result = ops.moveaxis(result, -1, 0)  # (nq, ...)
    if keepdim:
        kept = (1,) * ndim if dim is None else tuple(1 if i == axis else s for i, s in enumerate(x.shape))
        result = ops.reshape(result, (qs.size, *kept))
    return ops.reshape(result, result.shape[1:]) if qs.ndim == 0 else result


def quantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):  # noqa: A002
    """The ``q``-th quantiles along ``dim`` (all elements when None), as ``torch.quantile``.

    Args:
        input: A floating-point tensor.
        q: A number or a 1-D tensor of numbers in [0, 1]; for a tensor the result has the
            quantiles on a new first axis.
        dim: The dimension to reduce, or None for the flattened tensor.
        keepdim: Keep the reduced dimension as length 1.
        interpolation: Between the two nearest values: ``"linear"``, ``"lower"``,
            ``"higher"``, ``"midpoint"`` or ``"nearest"`` (half to even).

    Returns:
        The quantiles, nan along a ``dim`` holding a nan; differentiable (the gradient goes
        to the one or two values interpolated).

    Raises:
        ValueError: ``q`` outside [0, 1] or of more than one dimension, an unknown
            ``interpolation``, or nothing to reduce.
        TypeError: ``input`` is not floating-point.
    """
    return _quantile("quantile", input, q, dim, keepdim, interpolation, False)


def nanquantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):  # noqa: A002
    """``quantile`` ignoring nan (``torch.nanquantile``): nan only where all values are nan."""
    return _quantile("nanquantile", input, q, dim, keepdim, interpolation, True)


# -- differences, norms -----------------------------------------------------------------------------------------


def diff(input, n=1, dim=-1, prepend=None, append=None):  # noqa: A002
    """The ``n``-th forward difference along ``dim`` (``torch.diff``), after joining
    ``prepend`` and ``append`` (tensors of the same shape but along ``dim``) to ``input``.

    Raises:
        ValueError: ``n`` is negative.
    """
    x = _tensor(input)
    if not isinstance(n, int | np.integer) or n < 0:
        raise InvalidArgumentError(f"diff: n must be a non-negative int, got {n!r}")
    if x.ndim == 0:
        raise InvalidArgumentError("diff expects input to be at least one-dimensional (as PyTorch): got a 0-d "
                                   "tensor, which has no neighbours to subtract; reshape it to (1,) first")
    (axis,) = normalize_axes(dim, x.ndim)
    pieces = [piece for piece in (prepend, x, append) if piece is not None]
    if len(pieces) > 1:
        pieces = [p if np.ndim(_data(p)) else ops.broadcast_to(p, (*x.shape[:axis], 1, *x.shape[axis + 1:]))
                  for p in pieces]
        x = ops.concatenate(pieces, axis=axis)
    index = (slice(None),) * axis
    for _ in range(n):
        if x.shape[axis] == 0:
            break
        later, earlier = x[(*index, slice(1, None))], x[(*index, slice(None, -1))]
        x = later ^ earlier if x.dtype == np.bool_ else later - earlier  # (bools: PyTorch's difference is xor)
    return x


def dist(input, other, p=2):  # noqa: A002
    """The ``p``-norm of ``input - other`` (``torch.dist``): ``p`` is 0 (the count of
    differing elements, without gradient), any other number (``(sum |d|**p) ** (1/p)``,
    negative ones too, as PyTorch's), ``inf`` or ``-inf``."""
    difference = ops.subtract(input, other)
    if p == 0:
        return _on_data(lambda d: np.asarray(np.count_nonzero(d), dtype=d.dtype))(difference)
    return ops.norm(difference, p=p)


def renorm(input, p, dim, maxnorm):  # noqa: A002
    """Each slice along ``dim`` whose ``p``-norm exceeds ``maxnorm`` scaled down to
    ``maxnorm`` (by ``maxnorm / (norm + 1e-7)``, PyTorch's), the others unchanged
    (``torch.renorm``). The gradient flows through the norm too.

    Raises:
        ValueError: ``input`` has fewer than 2 dimensions, ``p`` is not positive, or
            ``maxnorm`` is negative.
    """
    x = _tensor(input)
    if x.ndim < 2:
        raise InvalidArgumentError(f"renorm: input needs at least 2 dimensions (slices along dim), got shape {x.shape}")
    if not p > 0:
        raise InvalidArgumentError(f"renorm: p must be positive, got {p}")
    if maxnorm < 0:
        raise InvalidArgumentError(f"renorm: maxnorm must be non-negative, got {maxnorm}")
    (axis,) = normalize_axes(dim, x.ndim)
    others = tuple(i for i in range(x.ndim) if i != axis)
    norms = ops.norm(x, p=p, axis=others, keepdims=True)
    too_long = _on_data(np.greater)(norms, maxnorm)
    return x * ops.where(too_long, maxnorm / (norms + 1e-7), 1.0)


# -- tests and comparisons under PyTorch's names -------------------------------------------------------------------


def _is(kind: str, doc: str):
    def method(input) -> bool:  # noqa: A002
        return np.asarray(_data(input)).dtype.kind == kind

    method.__doc__ = doc
    return method


is_floating_point = _is("f", "True when the tensor holds floating-point numbers (``torch.is_floating_point``).")
is_complex = _is("c", "True when the tensor holds complex numbers (``torch.is_complex``).")

_BOOL_FUNCTIONS = {
    "isclose": (np.isclose, "Elementwise ``|input - other| <= atol + rtol * |other|`` (``torch.isclose``: "
                            "arguments ``other, rtol=1e-05, atol=1e-08, equal_nan=False``), a bool tensor."),
    "isposinf": (np.isposinf, "Where the values are +inf (``torch.isposinf``), a bool tensor."),
    "isneginf": (np.isneginf, "Where the values are -inf (``torch.isneginf``), a bool tensor."),
    "isreal": (np.isreal, "Where the values are real (``torch.isreal``: all, for a real tensor)."),
    "logical_and": (np.logical_and, "Elementwise ``input and other`` of the truth values (``torch.logical_and``)."),
    "logical_or": (np.logical_or, "Elementwise ``input or other`` of the truth values (``torch.logical_or``)."),
    "logical_xor": (np.logical_xor, "Elementwise exclusive or of the truth values (``torch.logical_xor``)."),
    "less": (np.less, "Elementwise ``input < other`` (``torch.less``, ``lt``)."),
    "less_equal": (np.less_equal, "Elementwise ``input <= other`` (``torch.less_equal``, ``le``)."),
    "greater": (np.greater, "Elementwise ``input > other`` (``torch.greater``, ``gt``)."),
    "greater_equal": (np.greater_equal, "Elementwise ``input >= other`` (``torch.greater_equal``, ``ge``)."),
    "not_equal": (np.not_equal, "Elementwise ``input != other`` (``torch.not_equal``, ``ne``)."),
}
_BOOL_DOC = " A tensor outside the graph."
for _name, (_function, _doc) in _BOOL_FUNCTIONS.items():
    globals()[_name] = _bool_result(_function, _name, _doc + _BOOL_DOC)

#: Tensor methods (and ``mg.<name>`` functions) this module adds, under PyTorch's names.
NAMES = (
    "addbmm addcdiv addcmul addmm addmv addr baddbmm hypot xlogy arccosh arcsinh arctanh erfinv lgamma digamma"
    " logaddexp2 sinc"
    " logit deg2rad rad2deg frac fix copysign heaviside fmax fmin float_power sgn positive nan_to_num nansum"
    " nanmean count_nonzero median nanmedian kthvalue mode cummax cummin quantile nanquantile diff dist renorm"
    " is_floating_point is_complex " + " ".join(_BOOL_FUNCTIONS)
).split()
acosh, asinh, atanh, absolute = arccosh, arcsinh, arctanh, ops.abs
ALIASES = {"acosh": acosh, "asinh": asinh, "atanh": atanh, "absolute": absolute}
#: Methods that also have an in-place form (``t.addcmul_(a, b, value=0.5)``), as in PyTorch.
IN_PLACE = (  # noqa: SIM905
    "addbmm addcdiv addcmul addmm addmv addr baddbmm hypot xlogy arccosh arcsinh arctanh acosh asinh atanh erfinv"
    " lgamma digamma sinc logit deg2rad rad2deg frac fix copysign sgn nan_to_num renorm"
).split()


def attach(tensor_class) -> None:
    """Add this module's functions as Tensor methods (``t.addmm(a, b)``, ``t.median(0)``...)
    where the Tensor has no method of that name yet."""
    from microgradnp.ops.torch_methods import _in_place

    functions = {name: globals()[name] for name in NAMES} | ALIASES
    functions |= {f"{name}_": _in_place(f"{name}_", functions[name]) for name in IN_PLACE}
    for name, function in functions.items():
        if not hasattr(tensor_class, name):
            setattr(tensor_class, name, function)
