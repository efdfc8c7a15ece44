"""Weight initialisation, in place, as ``torch.nn.init``; each takes ``rng`` (a
``np.random.Generator``, a seed, or None for microgradnp's global generator)."""

from __future__ import annotations

import functools
import math
import numbers
import warnings
from statistics import NormalDist

import numpy as np

from microgradnp.autograd.grad_mode import writes_in_place
from microgradnp.autograd.versions import bump as bump_version
from microgradnp.errors import InvalidArgumentError
from microgradnp.tensor import Tensor, _rng, uniform_samples

__all__ = [
    "calculate_gain",
    "constant_",
    "dirac_",
    "eye_",
    "kaiming_normal_",
    "kaiming_uniform_",
    "normal_",
    "ones_",
    "orthogonal_",
    "sparse_",
    "trunc_normal_",
    "uniform_",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
]


def _fill(tensor: Tensor, values) -> Tensor:
    writes_in_place("an nn.init function (filling a tensor in place)")
    tensor.data[...] = values
    bump_version(tensor.data)
    return tensor


def _check_floating(tensor: Tensor, function: str) -> None:
    """Random draws need a floating-point tensor: an integer or bool one would hold them
    truncated (PyTorch raises too)."""
    if tensor.data.dtype.kind not in "fc":
        raise TypeError(f"{function}: needs a floating-point tensor, got dtype {tensor.data.dtype} "
                        "(random draws would be truncated); convert it first, e.g. t.to(np.float32)")


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, rng=None) -> Tensor:
    """Fill with samples from U(a, b)."""
    _check_floating(tensor, "uniform_")
    return _fill(tensor, uniform_samples(_rng(rng), a, b, tensor.data.shape, tensor.data.dtype))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, rng=None) -> Tensor:
    """Fill with samples from N(mean, std^2)."""
    _check_floating(tensor, "normal_")
    return _fill(tensor, _rng(rng).normal(mean, std, tensor.data.shape))


def _upper_tail_sample(low: float, high: float, u: np.ndarray) -> np.ndarray:
    """The inverse of the standard normal CDF restricted to ``[low, high]``, ``low`` > 37 (where
    ``1 - cdf`` underflows), at the fractions ``u`` of the interval's mass: Newton steps on
    ``log(1 - cdf(y))`` written as ``-y**2/2 - log(y sqrt(2 pi)) + log(m(y))``, ``m`` the asymptotic
    series of ``y`` times the Mills ratio (8 terms: below 1e-17 from 37 on)."""

    def series(y):
        term, total = np.ones_like(y), np.ones_like(y)
        for k in range(1, 9):
            term = term * -(2 * k - 1) / (y * y)
            total = total + term
        return total

    def log_tail(y):
        return -y * y / 2 - np.log(y * math.sqrt(2 * math.pi)) + np.log(series(y))

    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):  # (high may be inf)
        log_low, log_high = log_tail(np.float64(low)), log_tail(np.float64(high))
        target = log_low + np.log1p(u * np.expm1(log_high - log_low))
    y = low + (log_low - target) / low  # log(1 - cdf) falls with slope about -low from low on
    for _ in range(5):
        y = np.clip(y + (log_tail(y) - target) * series(y) / y, low, high)
    return y


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0,
                  rng=None) -> Tensor:
    """Fill with samples from N(mean, std^2) truncated to [a, b] (absolute bounds, as
    ``torch.nn.init.trunc_normal_``): uniform samples between the normal CDF's values at
    ``a`` and ``b``, mapped back through its inverse, so any interval works, even far in a tail.
    The CDF is taken in the lower tail, where it keeps every digit (an interval mostly above the
    mean is mirrored: ``1 - cdf`` loses them all from about 8 std on), and beyond 37 std, where
    it underflows, in logarithms."""
    _check_floating(tensor, "trunc_normal_")
    if not std > 0 or not a < b:
        raise InvalidArgumentError(f"trunc_normal_: needs std > 0 and a < b, got std={std}, a={a}, b={b}")
    low, high = (a - mean) / std, (b - mean) / std
    mirrored = low + high > 0
    if mirrored:
        low, high = -high, -low
    rng = _rng(rng)
    if high < -37:
        z = -_upper_tail_sample(-high, -low, rng.uniform(0.0, 1.0, tensor.data.shape))
    else:
        def cdf(x):  # (not NormalDist.cdf, 1 + erf: that one keeps no digit in the lower tail)
            return 0.5 * math.erfc(-x / math.sqrt(2))

        tiny = np.finfo(np.float64).tiny  # inv_cdf is defined on the open interval (0, 1)
        probabilities = np.clip(rng.uniform(cdf(low), cdf(high), tensor.data.shape), tiny,
                                1 - np.finfo(np.float64).epsneg)
        z = np.frompyfunc(NormalDist().inv_cdf, 1, 1)(probabilities).astype(np.float64)
    return _fill(tensor, np.clip(mean + std * (-z if mirrored else z), a, b))


def orthogonal_(tensor: Tensor, gain: float = 1.0, rng=None) -> Tensor:
    """Fill with a (semi-)orthogonal matrix times ``gain``, as ``torch.nn.init.orthogonal_``:
    the Q of the QR decomposition of a standard normal matrix, signs fixed by R's diagonal
    so that it is uniformly distributed. A weight of more than 2 dimensions is treated as
    ``(shape[0], the rest)``: its rows (or columns, whichever are fewer) are orthonormal."""
    _check_floating(tensor, "orthogonal_")
    shape = tensor.data.shape
    if len(shape) < 2:
        raise InvalidArgumentError(f"orthogonal_: needs a tensor of at least 2 dimensions, got shape {shape}")
    if not tensor.data.size:
        return tensor
    rows, cols = shape[0], tensor.data.size // shape[0]
    flat = _rng(rng).normal(0.0, 1.0, (rows, cols))
    q, r = np.linalg.qr(flat.T if rows < cols else flat)
    q = q * np.sign(np.diag(r))
    return _fill(tensor, gain * (q.T if rows < cols else q).reshape(shape))


def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-D tensor with the identity matrix (ones on the diagonal), as
    ``torch.nn.init.eye_``; a non-square one gets the ones of its leading square."""
    if tensor.data.ndim != 2:
        raise InvalidArgumentError(f"eye_: needs a 2-D tensor, got shape {tensor.data.shape}")
    return _fill(tensor, np.eye(*tensor.data.shape))


def constant_(tensor: Tensor, val: float | None = None, *, value: float | None = None) -> Tensor:
    """Fill with ``val`` (PyTorch's name; ``value=`` is accepted too)."""
    if (val is None) == (value is None):
        raise TypeError("constant_() takes the value to fill with once: constant_(tensor, val)")
    return _fill(tensor, val if value is None else value)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with zeros."""
    return _fill(tensor, 0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with ones."""
    return _fill(tensor, 1)


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for an activation (PyTorch's table)."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "sigmoid")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        # PyTorch accepts only a number as the slope (not True/False, which Python counts as
        # ints); NumPy's number types are numbers too here.
        if param is not None and (isinstance(param, bool | np.bool_) or not isinstance(param, numbers.Real)):
            raise ValueError(f"negative_slope {param} not a valid number")
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise InvalidArgumentError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _fans(tensor: Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight laid out as PyTorch's: (out, in, *kernel)."""
    shape = tensor.data.shape
    if len(shape) < 2:
        raise InvalidArgumentError(
            f"fan in and fan out need a weight with at least 2 dimensions, got shape {shape} "
            "(initialise biases with uniform_ or zeros_)"
        )
    receptive_field = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive_field, shape[0] * receptive_field


def _no_elements(tensor: Tensor) -> bool:
    """A weight with no elements (``Linear(0, n)``) has nothing to fill, and its fan may be
    0: PyTorch's kaiming initialisers warn and leave it, instead of dividing by zero."""
    if tensor.data.size:
        return False
    warnings.warn("Initializing zero-element tensors is a no-op", UserWarning, stacklevel=3)
    return True


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, rng=None) -> Tensor:
    """Glorot uniform: U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(tensor)
    if not tensor.data.size:
        return tensor  # nothing to fill (fan_in + fan_out may be 0)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, rng)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, rng=None) -> Tensor:
    """Glorot normal: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(tensor)
    if not tensor.data.size:
        return tensor  # nothing to fill (fan_in + fan_out may be 0)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng)


def _kaiming_std(tensor: Tensor, a: float, mode: str, nonlinearity: str) -> float:
    if mode not in ("fan_in", "fan_out"):
        raise InvalidArgumentError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(tensor)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan_in if mode == "fan_in" else fan_out)


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     rng=None) -> Tensor:
    """He uniform: U(-b, b) with b = gain * sqrt(3 / fan); a tensor with no elements is
    left as it is, with PyTorch's warning."""
    if _no_elements(tensor):
        return tensor
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound, rng)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    rng=None) -> Tensor:
    """He normal: N(0, std^2) with std = gain / sqrt(fan); a tensor with no elements is
    left as it is, with PyTorch's warning."""
    if _no_elements(tensor):
        return tensor
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity), rng)


def default_layer_init_(weight: Tensor, bias: Tensor | None, rng=None) -> None:
    """PyTorch's default for Linear and Conv layers: weight from kaiming_uniform_(a=sqrt(5)),
    i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the bias from the same range. With no
    inputs (``Linear(0, n)``) the empty weight is left (PyTorch warns that initialising
    it is a no-op) and the bias is 0, as PyTorch's."""
    rng = _rng(rng)
    kaiming_uniform_(weight, a=math.sqrt(5), rng=rng)
    if bias is not None:
        fan_in, _ = _fans(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        uniform_(bias, -bound, bound, rng)


from microgradnp.nn.init_more import dirac_, sparse_  # noqa: E402  (they use _fill and _check_floating above)


def _takes_generator(function):
    """``function`` taking PyTorch's ``generator=`` as its ``rng=`` (a ``np.random.Generator``
    or a seed; positionally the two stand in the same place already)."""

    @functools.wraps(function)
    def call(*args, generator=None, **kwargs):
        if generator is not None:
            if kwargs.get("rng") is not None:
                raise TypeError(f"{function.__name__}() got both generator= and rng= (the same argument)")
            kwargs["rng"] = generator
        return function(*args, **kwargs)

    return call


uniform_, normal_, trunc_normal_, orthogonal_, sparse_ = map(
    _takes_generator, (uniform_, normal_, trunc_normal_, orthogonal_, sparse_))
xavier_uniform_, xavier_normal_, kaiming_uniform_, kaiming_normal_ = map(
    _takes_generator, (xavier_uniform_, xavier_normal_, kaiming_uniform_, kaiming_normal_))


def _deprecated(function):
    """PyTorch's old name without the underscore (``nn.init.normal``): the function, with
    PyTorch's FutureWarning."""
    old, new = function.__name__[:-1], function.__name__

    @functools.wraps(function)
    def call(*args, **kwargs):
        warnings.warn(f"`nn.init.{old}` is now deprecated in favor of `nn.init.{new}`.", FutureWarning, stacklevel=2)
        return function(*args, **kwargs)

    call.__name__ = call.__qualname__ = old
    return call


_DEPRECATED = (uniform_, normal_, constant_, eye_, dirac_, xavier_uniform_, xavier_normal_, kaiming_uniform_,
               kaiming_normal_, orthogonal_, sparse_)
globals().update({f.__name__[:-1]: _deprecated(f) for f in _DEPRECATED})
