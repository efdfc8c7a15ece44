"""Activation functions and the softmax family (numerically stable forms)."""

from __future__ import annotations

import math

import numpy as np

from microgradnp.errors import InvalidArgumentError
from microgradnp.ops.elementwise import Erfc, Scale, _erf_values
from microgradnp.ops.primitive import Primitive, axis_index, constant, floating, masked_product
from microgradnp.tensor import Tensor


def _exp_limit(dtype) -> float:
    """Largest x whose exp(x) + 1 still fits the dtype: below it, exp cannot overflow."""
    return float(np.floor(np.log(np.finfo(dtype).max))) - 1.0


_EXP_LIMITS = {np.dtype(t): _exp_limit(t) for t in (np.float16, np.float32, np.float64, np.longdouble)}


def sigmoid_of_negated_(out: np.ndarray) -> np.ndarray:
    """Turn ``out`` = -a into sigmoid(a) = 1 / (1 + exp(-a)) in place: exact in both tails,
    and 0 where exp(-a) overflows (a below about -709 in float64), as PyTorch's."""
    limit = _EXP_LIMITS.get(out.dtype, 80.0)
    # exp overflows to inf (so the sigmoid is 0) only if some -a is beyond the limit (or nan):
    # a read-only check, cheaper than entering np.errstate on every call (np.maximum.reduce
    # is out.max() without its Python wrapper).
    if out.size and not np.maximum.reduce(out, axis=None) <= limit:
        with np.errstate(over="ignore"):
            np.exp(out, out=out)
    else:
        np.exp(out, out=out)
    one = constant(1, out.dtype)
    np.add(out, one, out=out)
    np.divide(one, out, out=out)  # the same IEEE quotient as np.reciprocal, and faster
    return out


class Sigmoid(Primitive):
    _writes_out = True

    @staticmethod
    def forward(ctx, a):
        if type(a) is not np.ndarray or a.dtype.kind != "f" or not a.ndim:  # (the usual case passes one test)
            a = floating(a)  # ints and bools: the default float dtype, as PyTorch
            # out= for a 0-d input, which would otherwise give a NumPy scalar (not writable in place)
            out = np.negative(a, out=np.empty_like(a))
        else:
            out = np.negative(a, out=ctx._out)
        out = sigmoid_of_negated_(out)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out * (constant(1, out.dtype) - out)


class Tanh(Primitive):
    _writes_out = True

    @staticmethod
    def forward(ctx, a):
        out = np.tanh(floating(a), out=ctx._out)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (constant(1, out.dtype) - out * out)


class ReLU(Primitive):
    _writes_out = True
    _zero_second_order = True

    @staticmethod
    def forward(ctx, a):
        # Ints stay ints, as PyTorch's relu keeps them; bools (which PyTorch refuses) become floats.
        if a.dtype.kind == "b" if type(a) is np.ndarray else isinstance(a, bool | np.bool_):
            a = floating(a)
        passed = ~(a <= 0)  # where the input is kept: above 0, and nan (whose gradient PyTorch passes too)
        ctx.save_for_backward(passed)
        return np.maximum(a, 0, out=ctx._out)

    @staticmethod
    def backward(ctx, grad):
        (passed,) = ctx.saved_tensors
        return masked_product(grad, passed)


class LeakyReLU(Scale):
    name = "leaky_relu"
    _zero_second_order = True

    @staticmethod
    def forward(ctx, a, slope):
        a = floating(a)
        return Scale.forward(ctx, a, np.where(a > 0, 1, slope).astype(a.dtype, copy=False))


def _peak(a, axis):
    """The max of ``a`` along ``axis`` (kept as length 1); -inf along an empty axis."""
    if a.size == 0:  # np.max has no identity for an empty axis
        return np.max(a, axis=axis, keepdims=True, initial=-np.inf)
    return np.max(a, axis=axis, keepdims=True)


def _shift_by_max(a, axis):
    """``a`` minus its max along ``axis`` (0 for rows with no finite max), for stable exp."""
    peak = _peak(a, axis)
    peak = np.where(np.isfinite(peak), peak, 0)
    return a - peak, peak


def _shifted_exp(a, axis):
    """(a - max, exp(a - max)) along ``axis``, as PyTorch's softmax computes them: a row
    holding +inf, or only -inf, has no finite max and gives nan, as in PyTorch. Rows
    spanning more than the float range (-1e308 and 1e308) overflow a - max to -inf
    (NumPy warns), whose exp is the exact 0."""
    shifted = a - _peak(a, axis)
    return shifted, np.exp(shifted)


class Softmax(Primitive):
    @staticmethod
    def forward(ctx, a, axis=-1):
        ctx.axis = axis
        e = _shifted_exp(floating(a), axis)[1]
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
        shifted, e = _shifted_exp(floating(a), axis)
        # (an empty input is its own result: the log of its empty rows' sums is not needed)
        out = shifted - np.log(e.sum(axis=axis, keepdims=True)) if shifted.size else shifted
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
    """exp(x) normalised to sum to 1 along ``axis`` (stable for large |x|); ints and bools
    become the default float dtype. Over an empty axis: an empty tensor, as PyTorch."""
    return Softmax.apply(x, axis=axis_index(axis))


def log_softmax(x, axis: int = -1):
    """log(softmax(x)) computed without overflow or log(0) for large |x|; ints and bools
    become the default float dtype. Over an empty axis: an empty tensor, as PyTorch."""
    return LogSoftmax.apply(x, axis=axis_index(axis))


# -- more activations ---------------------------------------------------------------------
# A backward that needs a value computed from the input (sigmoid(x), erfc(x)...) saves it
# as an array for speed, but under create_graph the saved input arrives as a Tensor and
# the value must then be computed again from it, so that the gradient is differentiable.
def _sigmoid_of(z):
    """sigmoid(z) for an ndarray (stable, a new array) or a Tensor (recorded)."""
    if isinstance(z, Tensor):
        return Sigmoid.apply(z)
    out = np.array(z, dtype=z.dtype if z.dtype.kind == "f" else np.float64, copy=True)
    return sigmoid_of_negated_(np.negative(out, out=out))


def _normal_cdf(a):
    """Phi(a) = erfc(-a / sqrt(2)) / 2: accurate in the left tail, where 1 + erf(...) cancels."""
    scaled = a * -_SQRT_HALF
    return 0.5 * (Erfc.apply(scaled) if isinstance(scaled, Tensor) else _erf_values(math.erfc, scaled))


_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_TANH = math.sqrt(2.0 / math.pi)  # the tanh approximation's constants, as PyTorch
_GELU_CUBIC = 0.044715
# SELU's constants (Klambauer et al. 2017), the same doubles as PyTorch's
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


class Softplus(Primitive):
    @staticmethod
    def forward(ctx, a, beta=1.0, threshold=20.0):
        a = floating(a)
        scaled = a * beta
        linear = scaled > threshold  # PyTorch's switch to the identity, for speed and exactness
        # log(1 + exp(bx)) / b as logaddexp(0, bx) / b: no overflow, exact for bx << 0 too
        out = np.where(linear, a, np.logaddexp(0, scaled) / beta).astype(a.dtype, copy=False)
        ctx.beta = beta
        ctx.save_for_backward(a, linear)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, linear = ctx.saved_tensors
        return grad * np.where(linear, 1, _sigmoid_of(a * ctx.beta))


class Gelu(Primitive):
    @staticmethod
    def forward(ctx, a, approximate="none"):
        a = floating(a)
        ctx.approximate = approximate
        if approximate == "tanh":
            t = np.tanh(_GELU_TANH * (a + _GELU_CUBIC * a * a * a))
            ctx.save_for_backward(a, t)
            return 0.5 * a * (1 + t)
        cdf = _normal_cdf(a)
        ctx.save_for_backward(a, cdf)
        return a * cdf

    @staticmethod
    def backward(ctx, grad):
        a, saved = ctx.saved_tensors
        if ctx.approximate == "tanh":
            t = np.tanh(_GELU_TANH * (a + _GELU_CUBIC * a * a * a)) if isinstance(a, Tensor) else saved
            slope = _GELU_TANH * (1 + 3 * _GELU_CUBIC * a * a)
            return grad * (0.5 * (1 + t) + 0.5 * a * (1 - t * t) * slope)
        cdf = _normal_cdf(a) if isinstance(a, Tensor) else saved
        return grad * (cdf + a * _INV_SQRT_2PI * np.exp(-0.5 * a * a))


class Silu(Primitive):
    @staticmethod
    def forward(ctx, a):
        a = floating(a)
        s = _sigmoid_of(a)
        ctx.save_for_backward(a, s)
        return a * s

    @staticmethod
    def backward(ctx, grad):
        a, s = ctx.saved_tensors
        if isinstance(a, Tensor):
            s = _sigmoid_of(a)
        return grad * (s * (1 + a * (1 - s)))


class Elu(Primitive):
    """ELU, SELU and CELU: ``scale * x`` for x > 0, else ``scale * alpha * (exp(x *
    input_scale) - 1)``; at 0 the gradient is the left one, ``scale * alpha * input_scale``,
    as in PyTorch."""

    @staticmethod
    def forward(ctx, a, alpha=1.0, scale=1.0, input_scale=1.0):
        a = floating(a)
        positive = a > 0
        ctx.params = (alpha, scale, input_scale)
        ctx.save_for_backward(a, positive)
        negative_part = (alpha * scale) * np.expm1(np.where(positive, 0, a) * input_scale)
        return np.where(positive, a * scale, negative_part).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        a, positive = ctx.saved_tensors
        alpha, scale, input_scale = ctx.params
        left = (alpha * scale * input_scale) * np.exp(np.where(positive, 0, a) * input_scale)
        # (nan at nan: PyTorch's own answer there depends on the tensor's length)
        return grad * np.where(positive, scale, left)


class Mish(Primitive):
    @staticmethod
    def forward(ctx, a):
        a = floating(a)
        t = np.tanh(np.logaddexp(0, a))
        ctx.save_for_backward(a, t)
        return a * t

    @staticmethod
    def backward(ctx, grad):
        a, t = ctx.saved_tensors
        if isinstance(a, Tensor):
            t = np.tanh(np.logaddexp(0, a))
        return grad * (t + a * (1 - t * t) * _sigmoid_of(a))


class Hardtanh(Primitive):
    """``x`` clipped to [min_val, max_val]; the gradient passes strictly inside only
    (0 at the bounds), as PyTorch's hardtanh and relu6."""

    _zero_second_order = True

    @staticmethod
    def forward(ctx, a, min_val=-1.0, max_val=1.0):
        ctx.save_for_backward((a > min_val) & (a < max_val))
        return np.clip(a, min_val, max_val).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (inside,) = ctx.saved_tensors
        return masked_product(grad, inside)


class Hardsigmoid(Primitive):
    _zero_second_order = True

    @staticmethod
    def forward(ctx, a):
        a = floating(a)
        ctx.save_for_backward((a > -3) & (a < 3))
        return (np.clip(a, -3, 3) / 6 + 0.5).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (inside,) = ctx.saved_tensors
        return masked_product(grad, inside / 6)


class Hardswish(Primitive):
    @staticmethod
    def forward(ctx, a):
        a = floating(a)
        ctx.save_for_backward(a, a <= -3, a >= 3)
        return (a * (np.clip(a, -3, 3) + 3) / 6).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        a, low, high = ctx.saved_tensors
        # 0 for x <= -3, x/3 + 1/2 strictly inside, 1 for x >= 3: PyTorch's values at ±3 too;
        # nan at nan (PyTorch's own answer there depends on the tensor's length)
        inside = ~(low | high)
        return grad * np.where(inside, a / 3 + 0.5, np.where(low, 0, 1))


class LogSigmoid(Primitive):
    name = "logsigmoid"

    @staticmethod
    def forward(ctx, a):
        a = floating(a)
        ctx.save_for_backward(a)
        return -np.logaddexp(0, -a)  # -log(1 + exp(-x)): no overflow, exact in both tails

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * _sigmoid_of(-a)


class Softsign(Primitive):
    @staticmethod
    def forward(ctx, a):
        a = floating(a)
        ctx.save_for_backward(a)
        return a / (1 + np.abs(a))

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        denominator = 1 + np.abs(a)
        slope = grad / (denominator * denominator)
        # At ±inf the value inf / inf is nan, and so is PyTorch's gradient (its softsign is
        # x / (|x| + 1), differentiated term by term), not the limit 0.
        infinite = np.isinf(a.data if isinstance(a, Tensor) else a)
        return np.where(infinite, np.nan, slope) if infinite.any() else slope


def softplus(x, beta: float = 1.0, threshold: float = 20.0):
    """``log(1 + exp(beta * x)) / beta``, a smooth ReLU, as PyTorch's ``softplus``.

    Args:
        x: a tensor (or array-like).
        beta: the sharpness (nonzero).
        threshold: where ``beta * x > threshold`` the result is ``x`` itself.

    Returns:
        A tensor of the same shape; the gradient is ``sigmoid(beta * x)`` (1 above the
        threshold). Computed without overflow for any ``x``.

    Raises:
        ValueError: if ``beta`` is 0.
    """
    if beta == 0:
        raise InvalidArgumentError("softplus: beta must be nonzero (the result divides by it)")
    return Softplus.apply(x, beta=beta, threshold=threshold)


def gelu(x, approximate: str = "none"):
    """Gaussian error linear unit ``x * Phi(x)``, Phi the standard normal CDF, as PyTorch's ``gelu``.

    Args:
        x: a tensor (or array-like).
        approximate: ``"none"`` for the exact form (Phi from ``erfc``, accurate in the
            left tail), or ``"tanh"`` for ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``.

    Returns:
        A tensor of the same shape.

    Raises:
        ValueError: for another ``approximate``.
    """
    if approximate not in ("none", "tanh"):
        raise InvalidArgumentError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return Gelu.apply(x, approximate=approximate)


def silu(x):
    """Sigmoid linear unit (swish) ``x * sigmoid(x)``.

    Args:
        x: a tensor (or array-like).

    Returns:
        A tensor of the same shape.
    """
    return Silu.apply(x)


def elu(x, alpha: float = 1.0):
    """Exponential linear unit: ``x`` for x > 0, else ``alpha * (exp(x) - 1)``.

    Args:
        x: a tensor (or array-like).
        alpha: the value approached as x -> -inf is ``-alpha``.

    Returns:
        A tensor of the same shape; the gradient at 0 is ``alpha`` (the left one), as in PyTorch.
    """
    return Elu.apply(x, alpha=alpha)


def selu(x):
    """Scaled ELU ``scale * elu(x, alpha)`` with PyTorch's constants ``alpha ~ 1.6733``
    and ``scale ~ 1.0507``.

    Args:
        x: a tensor (or array-like).

    Returns:
        A tensor of the same shape.
    """
    return Elu.apply(x, alpha=SELU_ALPHA, scale=SELU_SCALE)


def celu(x, alpha: float = 1.0):
    """Continuously differentiable ELU: ``x`` for x > 0, else ``alpha * (exp(x / alpha) - 1)``.

    Args:
        x: a tensor (or array-like).
        alpha: nonzero.

    Returns:
        A tensor of the same shape.

    Raises:
        ValueError: if ``alpha`` is 0.
    """
    if alpha == 0:
        raise InvalidArgumentError("celu: alpha cannot be 0 (the input is divided by it)")
    return Elu.apply(x, alpha=alpha, input_scale=1.0 / alpha)


def mish(x):
    """``x * tanh(softplus(x))`` (Misra 2019), without overflow for large ``x``.

    Args:
        x: a tensor (or array-like).

    Returns:
        A tensor of the same shape.
    """
    return Mish.apply(x)


def hardtanh(x, min_val: float = -1.0, max_val: float = 1.0):
    """``x`` clipped to ``[min_val, max_val]``; the gradient is 1 strictly inside and 0
    outside and at the bounds, as in PyTorch (``clip`` passes it at the bounds).

    Args:
        x: a tensor (or array-like).
        min_val: the lower bound.
        max_val: the upper bound (at least ``min_val``).

    Returns:
        A tensor of the same shape.

    Raises:
        ValueError: if ``max_val < min_val``.
    """
    if max_val < min_val:
        raise InvalidArgumentError(f"hardtanh: max_val ({max_val}) must be at least min_val ({min_val})")
    return Hardtanh.apply(x, min_val=min_val, max_val=max_val)


def relu6(x):
    """``min(max(x, 0), 6)``: ``hardtanh(x, 0, 6)``, gradient 0 at 0 and at 6 as in PyTorch.

    Args:
        x: a tensor (or array-like).

    Returns:
        A tensor of the same shape.
    """
    return Hardtanh.apply(x, min_val=0.0, max_val=6.0)


def hardsigmoid(x):
    """Piecewise-linear sigmoid ``relu6(x + 3) / 6``; gradient 1/6 strictly inside (-3, 3), else 0.

    Args:
        x: a tensor (or array-like).

    Returns:
        A tensor of the same shape.
    """
    return Hardsigmoid.apply(x)


def hardswish(x):
    """``x * relu6(x + 3) / 6`` (MobileNetV3); the gradient at -3 is 0 and at 3 is 1, as in PyTorch.

    Args:
        x: a tensor (or array-like).

    Returns:
        A tensor of the same shape.
    """
    return Hardswish.apply(x)


def logsigmoid(x):
    """``log(sigmoid(x)) = -softplus(-x)``, exact and finite for any ``x``.

    Args:
        x: a tensor (or array-like).

    Returns:
        A tensor of the same shape; the gradient is ``sigmoid(-x)``.
    """
    return LogSigmoid.apply(x)


def softsign(x):
    """``x / (1 + |x|)``.

    Args:
        x: a tensor (or array-like).

    Returns:
        A tensor of the same shape; the gradient is ``1 / (1 + |x|)**2``.
    """
    return Softsign.apply(x)
