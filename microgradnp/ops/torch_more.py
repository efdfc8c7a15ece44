"""More of PyTorch's top-level names and Tensor methods: ``mg.save`` / ``mg.load``, ``finfo``
and ``iinfo``, ``typename``, ``seed``, integer and floating-point helpers (``gcd``, ``lcm``,
``frexp``, ``nextafter``), special functions (``i0``, ``igamma``, ``igammac``, ``polygamma``,
``mvlgamma``), ``gradient``, ``histogram``/``histogramdd``, ``vander``, the ``*_scatter``
functions, ``index_put`` and ``index_reduce``, and small Tensor methods (``is_signed``,
``new``, ``sum_to_size``, ``mH``...), with the existing ``cov``, ``aminmax``... as methods.

As elsewhere, a function is a composition of existing differentiable operations where one
gives the right value and gradient; primitives are added only for the special functions,
whose values NumPy does not compute (``I0``, ``I1``, ``Polygamma``, ``Igamma``)."""

from __future__ import annotations

import builtins
import importlib
import math
import numbers
import secrets

import numpy as np

from microgradnp import ops
from microgradnp.errors import DtypeError, InvalidArgumentError
from microgradnp.ops.elementwise import _erf_values
from microgradnp.ops.indexing import _along_axis, _integers
from microgradnp.ops.primitive import Primitive, floating, floating_pair, normalize_axes, reads_values
from microgradnp.ops.torch_math import (
    _EULER_GAMMA,  # noqa: F401  (special_functions imports it from here)
    _digamma_values,
    _in_float64,
    _lgamma1p,
    _lgamma_values,
    _tensor,
    _trigamma_values,
    digamma,
    lgamma,
)
from microgradnp.ops.torch_shape import _scatter_reduce_exact
from microgradnp.tensor import Tensor, _data, _no_grad_on_data, _reading, get_default_dtype

_on_data = _no_grad_on_data

# -- saving and loading --------------------------------------------------------------------------------------------


def save(obj, f) -> None:
    """Save a state dict, an optimizer's ``state_dict()`` or a checkpoint dict such as
    ``{"epoch": 3, "model": model.state_dict(), "optimizer": opt.state_dict(), "loss": 0.1}``
    to the file ``f``, as ``torch.save`` (this is ``nn.save``: an ``.npz`` archive written
    atomically, nothing pickled).

    Args:
        obj: a mapping of names to arrays or Tensors, or a nested structure of dicts, lists,
            tuples, arrays, Tensors, numbers, strings, bools and None.
        f: a ``str`` or ``os.PathLike``; the file is written exactly there.

    Raises:
        TypeError: ``obj`` is a Module (save ``model.state_dict()``: ``torch.save(model)``
            pickles the whole module, which microgradnp never does), or holds something
            a checkpoint cannot (see ``nn.save``).
    """
    from microgradnp.nn.module import Module
    from microgradnp.nn.serialization import save as save_checkpoint

    if isinstance(obj, Module):
        raise TypeError(
            f"mg.save: got a {type(obj).__name__} module; save its parameters with mg.save(model.state_dict(), "
            "path) and load them with model.load_state_dict(mg.load(path)) (torch.save(model) pickles the whole "
            "module, which microgradnp never does)")
    if isinstance(obj, Tensor | np.ndarray):
        raise TypeError("mg.save: save a Tensor inside a dict, e.g. mg.save({'x': t}, path); a checkpoint is a "
                        "state dict or a nested dict of them")
    save_checkpoint(obj, f)


def load(f, map_location=None, *, weights_only: bool = True, mmap=None):
    """Read what ``mg.save`` (or ``nn.save``) wrote, as ``torch.load``: an equal object, with
    the arrays as ndarrays, as ``state_dict()`` gives them (``model.load_state_dict(mg.load(path))``).

    Nothing is ever unpickled, so a file from someone else cannot run code: every load is
    what ``weights_only=True`` is in PyTorch, and ``weights_only=False`` changes nothing.

    Args:
        f: a ``str`` or ``os.PathLike``.
        map_location: None, ``"cpu"`` or a CPU ``mg.device`` (microgradnp computes on the CPU).
        mmap: None or False (the arrays are read into memory).

    Raises:
        FileNotFoundError: no file at ``f``.
        ValueError: the file is not a checkpoint written by ``mg.save``/``nn.save``, or
            ``map_location`` is not the CPU, or ``mmap=True``.
    """
    from microgradnp.nn.serialization import load as load_checkpoint

    if map_location is not None and str(map_location) != "cpu":
        raise InvalidArgumentError(f"mg.load: map_location={map_location!r} is not supported; microgradnp computes "
                                   "on the CPU: pass None or 'cpu'")
    if mmap:
        raise InvalidArgumentError("mg.load: mmap=True is not supported; the arrays are read into memory")
    return load_checkpoint(f)


# -- dtype information ---------------------------------------------------------------------------------------------


def _dtype_argument(name: str, dtype) -> np.dtype:
    if dtype is None:
        return np.dtype(get_default_dtype())
    if dtype is float:  # Python's float is a double, as torch.finfo(float)
        return np.dtype(np.float64)
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name}: expected a dtype (e.g. mg.float32), got {dtype!r}") from None


class finfo:
    """Machine limits of a floating-point dtype, as ``torch.finfo``: ``bits``, ``eps``,
    ``max``, ``min``, ``tiny`` (= ``smallest_normal``), ``resolution`` and ``dtype`` (its
    name, a string). ``mg.finfo()`` describes the default dtype.

    Raises:
        TypeError: ``dtype`` is not a floating-point dtype (use ``mg.iinfo`` for integers).
    """

    def __init__(self, type=None):  # noqa: A002  (PyTorch's argument name)
        dtype = _dtype_argument("finfo", type)
        if dtype.kind != "f":
            raise TypeError(f"mg.finfo() requires a floating point input type, got {dtype}. Use mg.iinfo to handle "
                            "integer types")
        info = np.finfo(dtype)
        self.bits = int(info.bits)
        self.eps = float(info.eps)
        self.max = float(info.max)
        self.min = float(info.min)
        self.tiny = self.smallest_normal = float(info.smallest_normal)
        self.resolution = 10.0 ** -int(info.precision)  # (NumPy gives it in the dtype: 0.0010004 for float16)
        self.dtype = dtype.name

    def __eq__(self, other):
        return isinstance(other, finfo) and self.dtype == other.dtype

    def __hash__(self):
        return hash(("finfo", self.dtype))

    def __repr__(self):
        return (f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, eps={self.eps:g}, "
                f"smallest_normal={self.smallest_normal:g}, tiny={self.tiny:g}, dtype={self.dtype})")


class iinfo:
    """Machine limits of an integer dtype, as ``torch.iinfo``: ``bits``, ``max``, ``min``
    (Python ints) and ``dtype`` (its name, a string).

    Raises:
        TypeError: ``type`` is not an integer dtype (bool is not one, as in PyTorch).
    """

    def __init__(self, type):  # noqa: A002  (PyTorch's argument name)
        dtype = _dtype_argument("iinfo", type)
        if dtype.kind == "b":
            raise TypeError("mg.bool is not supported by mg.iinfo")
        if dtype.kind not in "iu":
            raise TypeError(f"mg.iinfo() requires an integer input type, got {dtype}. Use mg.finfo to handle "
                            "floating point types")
        info = np.iinfo(dtype)
        self.bits, self.max, self.min, self.dtype = int(info.bits), int(info.max), int(info.min), dtype.name

    def __eq__(self, other):
        return isinstance(other, iinfo) and self.dtype == other.dtype

    def __hash__(self):
        return hash(("iinfo", self.dtype))

    def __repr__(self):
        return f"iinfo(min={self.min:g}, max={self.max:g}, dtype={self.dtype})"


def typename(obj) -> str:
    """The fully qualified name of ``obj``'s type, as ``torch.typename``: a Tensor's
    ``t.type()`` (``"torch.DoubleTensor"``), ``"int"`` for 3, ``"microgradnp.nn.layers.Linear"``
    for a Linear layer or the class itself."""
    if isinstance(obj, Tensor):
        return obj.type()
    module = getattr(obj, "__module__", "") or ""
    if hasattr(obj, "__qualname__"):
        qualname = obj.__qualname__
    elif hasattr(obj, "__name__"):
        qualname = obj.__name__
    else:
        module, qualname = type(obj).__module__ or "", type(obj).__qualname__
    return qualname if module in ("", "builtins") else f"{module}.{qualname}"


def seed() -> int:
    """Seed the global generator (the one ``mg.manual_seed`` seeds) with a non-deterministic
    seed and return it, as ``torch.seed``: ``mg.manual_seed(that)`` repeats what follows."""
    from microgradnp.tensor import manual_seed

    value = secrets.randbits(63)
    manual_seed(value)
    return value


# -- torch's top-level forms of nn.functional ----------------------------------------------------------------------


def dropout(input, p: float, train: bool, *, rng=None):  # noqa: A002
    """``torch.dropout(input, p, train)``: ``F.dropout(input, p, training=train)``."""
    from microgradnp.nn import functional as F

    return F.dropout(input, p, training=train, rng=rng)


def embedding(weight, input, padding_idx: int = -1, scale_grad_by_freq: bool = False,  # noqa: A002
              sparse: bool = False):
    """``torch.embedding(weight, indices, ...)``: the rows of ``weight`` at ``input``, as
    ``F.embedding(input, weight)`` (note the order); a negative ``padding_idx`` means none."""
    from microgradnp.nn import functional as F

    return F.embedding(input, weight, padding_idx=None if padding_idx < 0 else padding_idx,
                       scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)


def rrelu(input, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,  # noqa: A002
          generator=None, *, rng=None):
    """``torch.rrelu``: ``F.rrelu`` (a random slope in [lower, upper] for negative values in
    training, their mean otherwise); ``generator=`` is PyTorch's name for ``rng=``."""
    from microgradnp.nn import functional as F

    return F.rrelu(input, lower, upper, training, rng=rng if generator is None else generator)


def pdist(input, p: float = 2):  # noqa: A002
    """``torch.pdist``: ``F.pdist``, the p-norm distances between all pairs of rows."""
    from microgradnp.nn import functional as F

    return F.pdist(input, p)


# -- integer and floating-point helpers ---------------------------------------------------------------------------


def _integer_operands(name: str, input, other):  # noqa: A002
    if not isinstance(other, Tensor):
        raise TypeError(f"{name}(): argument 'other' must be a Tensor, not {type(other).__name__}")
    a, b = np.asarray(_data(input)), np.asarray(_data(other))
    for x in (a, b):
        if x.dtype.kind not in "iu":
            raise DtypeError(f"{name}(): only integer tensors are supported, got {x.dtype} (as torch.{name})")
    return a, b


def gcd(input, other):  # noqa: A002
    """The elementwise greatest common divisor of two integer tensors (``torch.gcd``:
    non-negative, ``gcd(0, 0) == 0``), outside the graph.

    Raises:
        TypeError: an operand is not an integer tensor.
    """
    a, b = _integer_operands("gcd", input, other)
    return _on_data(np.gcd)(a, b)


def lcm(input, other):  # noqa: A002
    """The elementwise least common multiple of two integer tensors (``torch.lcm``:
    non-negative, 0 when either is 0), outside the graph.

    Raises:
        TypeError: an operand is not an integer tensor.
    """
    a, b = _integer_operands("lcm", input, other)
    return _on_data(np.lcm)(a, b)


def frexp(input):  # noqa: A002
    """Mantissas in [0.5, 1) (with the sign) and int32 exponents with ``input == mantissa *
    2**exponent`` (``torch.frexp``; 0, inf and nan give themselves and exponent 0). The
    mantissa's gradient is ``2**-exponent``, as PyTorch's.

    Raises:
        TypeError: ``input`` is not a floating-point tensor.
    """
    x = input if isinstance(input, Tensor) else Tensor._wrap(np.asarray(input))
    if x.dtype.kind != "f":
        raise DtypeError(f"frexp() only supports floating-point dtypes, got {x.dtype}")
    reads_values("frexp")  # the scale 2**-exponent is taken from the data
    exponent = _on_data(lambda a: np.frexp(a)[1].astype(np.int32))(x)
    # 2**-exponent, exact, in two factors: for a subnormal input the whole of it overflows
    half = exponent.data // 2
    one = np.ones((), x.dtype)
    return _FrexpResult(x * np.ldexp(one, -half) * np.ldexp(one, half - exponent.data), exponent)


class _FrexpResult(tuple):
    """``(mantissa, exponent)``, as torch.frexp's named tuple."""

    def __new__(cls, mantissa, exponent):
        return super().__new__(cls, (mantissa, exponent))

    mantissa = property(lambda self: self[0])
    exponent = property(lambda self: self[1])


def nextafter(input, other):  # noqa: A002
    """The next floating-point value after ``input`` towards ``other`` (``torch.nextafter``),
    in the two tensors' result dtype. As PyTorch's, the gradient goes to ``input`` unchanged
    where ``input != other`` (and is 0 where they are equal); ``other`` gets none.

    Raises:
        TypeError: ``other`` is not a Tensor, or an operand is not floating point.
    """
    if not isinstance(other, Tensor):
        raise TypeError(f"nextafter(): argument 'other' must be a Tensor, not {type(other).__name__}")
    x = input if isinstance(input, Tensor) else _tensor(input)
    for operand in (x, other):
        if operand.dtype.kind != "f":
            raise DtypeError(f"nextafter(): only floating-point tensors are supported, got {operand.dtype}")
    return NextAfter.apply(x, other)


class NextAfter(Primitive):
    """``np.nextafter`` with PyTorch's gradient: ``grad`` to the input where it moved, none to
    ``other``. (One primitive: an infinite input steps to the largest finite value, where
    ``x + (step - x)`` would give inf - inf = nan.)"""

    @staticmethod
    def forward(ctx, a, b):
        a, b = floating_pair(a, b)
        with np.errstate(invalid="ignore"):
            ctx.moved = a != b  # (where they are equal nothing moves, and there is no gradient)
            return np.nextafter(a, b)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.moved, None


# -- special functions ----------------------------------------------------------------------------------------------


def _bessel_i(order: int, x: np.ndarray) -> np.ndarray:
    """The modified Bessel function of the first kind of ``order`` 0 or 1, in float64: the
    power series (all terms positive, no cancellation) up to |x| = 30, the asymptotic series
    ``e**|x| / sqrt(2 pi |x|) * sum_k (-1)**k a_k / |x|**k`` beyond."""
    ax = np.abs(x)
    small = np.minimum(ax, 30.0)
    quarter_square = small * small / 4
    term = (small / 2) ** order
    total = term.copy()
    for k in range(1, 90):  # the terms peak near k = 15 and are below 1e-17 of the sum by k = 90
        term = term * quarter_square / (k * (k + order))
        total = total + term
    large = np.maximum(ax, 30.0)
    with np.errstate(over="ignore"):
        asymptotic = np.exp(large) * bessel_i_scaled_asymptotic(order, large)  # inf past 709.78, as PyTorch's
    value = np.where(ax <= 30, total, asymptotic)
    return np.copysign(value, x) if order == 1 else value


def bessel_i_scaled_asymptotic(order: int, large: np.ndarray) -> np.ndarray:
    """``exp(-x) I_order(x)`` for x >= 30: ``sum_k (-1)**k a_k / x**k / sqrt(2 pi x)``."""
    mu = 4.0 * order * order
    term = np.ones_like(large)
    series = term.copy()
    with np.errstate(over="ignore", invalid="ignore"):  # (8 k x overflows near 1e308: the terms are 0 there)
        for k in range(1, 30):
            term = -term * (mu - (2 * k - 1) ** 2) / (8 * k * large)
            series = series + term
        return series / (math.sqrt(2 * math.pi) * np.sqrt(large))  # (2 pi x itself overflows past 2.8e307)


class I0(Primitive):
    """The modified Bessel function ``I0`` (``torch.i0``); its derivative is ``I1``."""

    @staticmethod
    def forward(ctx, a):
        a = floating(a)
        ctx.save_for_backward(a)
        return _in_float64(lambda x: _bessel_i(0, x))(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * I1.apply(a) if isinstance(a, Tensor) else grad * _in_float64(lambda x: _bessel_i(1, x))(a)


#: below this, ``I1(x) / x`` and ``i1e(x) / x`` are 1/2 in float64 and float32 (their derivatives use it)
_TINY_ARGUMENT = 1e-30


class I1(Primitive):
    """The modified Bessel function ``I1`` (``torch.special.i1``); its derivative is
    ``I0(x) - I1(x) / x`` (1/2 at 0)."""

    @staticmethod
    def forward(ctx, a):
        a = floating(a)
        out = _in_float64(lambda x: _bessel_i(1, x))(a)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved_tensors
        # below 1e-30, I1(x) / x is 1/2 to every digit, and computing it would go through
        # subnormal numbers (I1(5e-324) / 5e-324 is 1 or 0, not 1/2)
        tiny = np.abs(_data(a)) < _TINY_ARGUMENT
        if isinstance(a, Tensor):
            safe = ops.where(tiny, 1.0, a)
            return grad * (I0.apply(a) - ops.where(tiny, 0.5, out / safe))
        safe = np.where(tiny, 1.0, a)
        return grad * (_in_float64(lambda x: _bessel_i(0, x))(a) - np.where(tiny, 0.5, out / safe))


def i0(input):  # noqa: A002
    """The zeroth-order modified Bessel function of the first kind (``torch.i0``), with its
    gradient ``I1``; inf past about 713."""
    return I0.apply(input)


def i1(input):  # noqa: A002
    """The first-order modified Bessel function of the first kind (``torch.special.i1``)."""
    return I1.apply(input)


# B_2, B_4, ..., B_24: the Euler-Maclaurin corrections of the Hurwitz zeta function
_BERNOULLI = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510, 43867 / 798, -174611 / 330,
              854513 / 138, -236364091 / 2730)


def _hurwitz_zeta(s: float, q: np.ndarray) -> np.ndarray:
    """``sum_k (q + k)**-s`` in float64 for a real ``s > 1`` (q < 0 only for an integer s); inf at
    the poles q = 0, -1, -2..., nan at -inf. Below 0, with ``f = q - floor(q)`` (exact), the
    terms at negative ``q + k`` are ``(-1)**s (j - f)**-s`` for ``j = 1 .. -floor(q)``, so
    ``zeta(s, q) = zeta(s, f) + (-1)**s (zeta(s, 1 - f) - zeta(s, 1 - q))``: three sums at
    positive arguments, however far below 0 q is (summing the terms there one by one would
    take hours at q = -1e12, and cancel to garbage)."""
    q = np.asarray(q, dtype=np.float64)
    pole = (q <= 0) & (q == np.floor(q))
    undefined = np.isneginf(q)
    negative = (q < 0) & ~pole & ~undefined
    # (an array even for a 0-d q, whose sums NumPy gives back as a scalar, to assign into below)
    value = np.array(_hurwitz_zeta_positive(s, np.where(pole | undefined | negative, 1.0, q)), dtype=np.float64)
    if negative.any():
        below = q[negative]
        f = below - np.floor(below)
        sign = (-1) ** int(s)
        # (the two sums near 0 first: at a half-integer q and an odd s they cancel exactly)
        value[negative] = ((_hurwitz_zeta_positive(s, f) + sign * _hurwitz_zeta_positive(s, 1 - f))
                           - sign * _hurwitz_zeta_positive(s, 1 - below))
    return np.where(undefined, np.nan, np.where(pole, np.inf, value))


def _hurwitz_zeta_positive(s: float, q: np.ndarray) -> np.ndarray:
    """``sum_k (q + k)**-s`` for q > 0 (or nan): the first terms summed directly until
    ``q + k >= s + 10``, the rest by Euler-Maclaurin with 12 Bernoulli terms.

    The tail starts that far out because its j-th correction is about ``(s + 2j)! / (s - 1)! /
    (2 pi a)**2j`` of the sum: from a fixed a = 10 it costs 1e-13 relative at s = 11 and 1e-6 at
    s = 31, from a = s + 10 below 1e-20 for every s. The direct terms are added onto the tail
    smallest first (each ``(q + k)**-s`` rounded once), so the sum is good to a few ulps."""
    target = min(s + 10.0, 500.0)  # (past s = 490, q**-s underflows long before the tail matters)
    steps = np.where(q < target, np.ceil(target - q), 0.0)  # (0 for nan)
    a = q + steps
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        total = a ** (1 - s) / (s - 1) + 0.5 * a ** -s
        # s (s + 1) ... (s + 2j - 2) / a**(s + 2j - 1), one factor / a at a time: the rising
        # factorial alone overflows for a huge s (where the whole term underflows to 0)
        factorial, power = 2.0, s * a ** (-s - 1)
        for j, b in enumerate(_BERNOULLI, start=1):
            total = total + b / factorial * power
            factorial *= (2 * j + 1) * (2 * j + 2)
            power = power * ((s + 2 * j - 1) / a) * ((s + 2 * j) / a)
        for k in builtins.range(int(steps.max(initial=0)) - 1, -1, -1):  # for all elements at once
            total = total + np.where(k < steps, (q + k) ** -s, 0.0)
    return total


def _polygamma_values(n: int):
    if n == 0:
        return _digamma_values
    if n == 1:
        return _trigamma_values
    # (-1)**(n+1) n! as mantissa * 2**exponent: from n = 171 on, n! is past the largest float, while
    # n! zeta(n + 1, x) need not be (n! / x**(n+1) for a large x)
    factorial = math.factorial(n)
    exponent = factorial.bit_length()
    mantissa = (-1) ** (n + 1) * (factorial / (1 << exponent))  # (exact integer division, rounded once)
    return _in_float64(lambda x: np.ldexp(mantissa * _hurwitz_zeta(n + 1, x), exponent))


class Polygamma(Primitive):
    """The ``n``-th derivative of ``digamma`` (n >= 1); its derivative is ``polygamma(n + 1)``."""

    @staticmethod
    def forward(ctx, a, n: int):
        a = floating(a)
        ctx.save_for_backward(a)
        ctx.n = n
        return _polygamma_values(n)(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        if isinstance(a, Tensor):
            return grad * Polygamma.apply(a, n=ctx.n + 1)
        return grad * _polygamma_values(ctx.n + 1)(a)


def polygamma(n: int, input):  # noqa: A002
    """The ``n``-th derivative of the digamma function (``torch.polygamma``): ``digamma`` for
    n = 0, then ``(-1)**(n+1) n! zeta(n + 1, x)``; its gradient is ``polygamma(n + 1)``.

    Raises:
        ValueError: ``n`` is negative.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"polygamma(): n must be an int, got {type(n).__name__}")
    if n < 0:
        raise InvalidArgumentError("polygamma(n, x) does not support negative n")
    if n == 0:
        return digamma(input)
    return Polygamma.apply(input, n=int(n))


def _polygamma_method(self, n: int):
    """``polygamma(n, self)`` (``torch.Tensor.polygamma``: the order comes first)."""
    return polygamma(n, self)


def mvlgamma(input, p: int):  # noqa: A002
    """The log of the multivariate gamma function of dimension ``p`` (``torch.mvlgamma``):
    ``p (p - 1) / 4 log(pi) + sum_{j<p} lgamma(input - j / 2)``; inf or nan where an argument
    of ``lgamma`` is at or below 0, as in PyTorch.

    Raises:
        ValueError: ``p`` is less than 1.
    """
    if isinstance(p, bool) or not isinstance(p, numbers.Integral):
        raise TypeError(f"mvlgamma(): p must be an int, got {type(p).__name__}")
    if p < 1:
        raise InvalidArgumentError("mvlgamma: p has to be greater than or equal to 1")
    x = _tensor(input)
    total = lgamma(x)
    for j in range(1, p):
        total = total + lgamma(x - j / 2)
    return total + p * (p - 1) / 4 * math.log(math.pi)


_IGAMMA_UNIFORM_FROM = 1e7  # (from it the uniform expansion: its third term, C_2 / a**2, is below 1e-16)
_STIRLING_FROM = 10.0  # (from it, the Stirling series with the 12 Bernoulli terms is exact to rounding)


def _log1pmx(s: np.ndarray) -> np.ndarray:
    """``log(1 + s) - s`` in float64 for |s| <= 1/2, without its cancellation for small s: with
    u = s / (2 + s), ``log(1 + s) = 2 atanh(u)``, so it is ``-s**2 / (2 + s) + 2 sum_k u**(2k+1) /
    (2k + 1)`` (|u| <= 1/3: 18 terms to rounding)."""
    u = s / (2 + s)
    square, total = u * u, np.zeros_like(u)
    for k in builtins.range(18, 0, -1):
        total = (total + 1 / (2 * k + 1)) * square
    return -s * s / (2 + s) + 2 * u * total


def _igamma_log_prefix(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``log(x**a exp(-x) / Gamma(a))`` for a, x > 0. From a = 10 on, with Stirling's series
    ``lgamma(a) = (a - 1/2) log a - a + log(2 pi) / 2 + sum_k B_2k / (2k (2k - 1) a**(2k-1))``, it is
    ``a log1pmx((x - a) / a) + log(a / (2 pi)) / 2 - sum_k ...``: the terms of size a log x, which
    cancel (to 1e-9 relative at a = 1e6 in ``a log x - x - lgamma(a)``), do so exactly."""
    large = a >= _STIRLING_FROM
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        direct = a * np.log(x) - x - _lgamma_values(np.where(large, 1.0, a))
        al = np.where(large, a, _STIRLING_FROM)
        correction = np.zeros_like(al)
        for k, b in reversed(list(enumerate(_BERNOULLI, start=1))):
            correction = (correction + b / (2 * k * (2 * k - 1))) / (al * al)
        # a (log(x / a) - (x - a) / a): from log1pmx near x = a, from the two logs away from it (where
        # (x - a) / a would round the digits of a small x away)
        s = (x - al) / al
        near = np.abs(s) <= 0.5
        main = np.where(near, al * _log1pmx(np.where(near, s, 0.0)), al * (np.log(x) - np.log(al)) - (x - al))
        stirling = main + 0.5 * np.log(al / (2 * math.pi)) - correction * al
    return np.where(large, stirling, direct)


def _igammac_small_a(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Q(a, x) for x <= 1.1 and a up to about x (where 1 - P would cancel to nothing for a small a)
    from DLMF 8.7.3: ``-expm1(a log x - lgamma(1 + a)) - x**a / Gamma(a) sum_{n>=1} (-x)**n / (n! (a + n))``."""
    log_x = np.log(x)
    factor, total = np.ones_like(x), np.zeros_like(x)
    for n in builtins.range(1, 40):  # (x <= 1.1: the terms fall below 1e-18 of the first by n = 25)
        factor = factor * -x / n
        total = total + factor / (a + n)
    with np.errstate(over="ignore", under="ignore"):
        return -np.expm1(a * log_x - _lgamma1p(a)) - np.exp(a * log_x - _lgamma_values(a)) * total


def _igamma_values(a: np.ndarray, x: np.ndarray, upper: bool) -> np.ndarray:
    """The regularized lower incomplete gamma function P(a, x) (or, ``upper``, Q = 1 - P) in
    float64: P from its series below ``x = a + 1``, Q from Legendre's continued fraction
    (modified Lentz) above;
    nan for a negative argument, P(0, x > 0) = 1, P(a, inf) = 1, P(a > 0, 0) = 0; Q of a small a
    and x from DLMF 8.7.3, and both from Temme's uniform expansion from a = 1e7 on. About 1e-12
    relative or better (mpmath) where the value is a normal float."""
    a, x = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(x, np.float64))
    # (P(inf, inf) is nan, as PyTorch's; an infinite a is not summed: its step count would be inf)
    invalid = (a < 0) | (x < 0) | np.isnan(a) | np.isnan(x) | ((a == 0) & (x == 0)) | (np.isposinf(a) & np.isposinf(x))
    regular = ~invalid & (a > 0) & (x > 0) & np.isfinite(x) & np.isfinite(a)
    uniform = regular & (a >= _IGAMMA_UNIFORM_FROM)
    regular = regular & ~uniform  # (the series and continued fraction take about sqrt(a) steps)
    av, xv = np.where(regular, a, 1.0), np.where(regular, x, 1.0)
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        log_prefix = _igamma_log_prefix(av, xv)
        use_series = xv < av + 1
        # both converge within a few times sqrt(a) terms (the terms of the series fall as exp(-n**2 / 2a))
        steps = int(20 * math.sqrt(float(av.max(initial=1.0)))) + 200
        # the series sum_n x**n / (a (a+1) ... (a+n)), from a / a
        term = 1 / av
        series = term.copy()
        ap = av.copy()
        for _ in range(steps):
            ap = ap + 1
            term = term * xv / ap
            series = series + term
            if np.all((np.abs(term) < np.abs(series) * 1e-17) | ~use_series):
                break
        lower = series * np.exp(log_prefix)
        # the continued fraction for Q(a, x)
        tiny = 1e-300
        b = xv + 1 - av
        c = np.full_like(b, 1 / tiny)
        d = 1 / np.where(b == 0, tiny, b)
        h = d.copy()
        for i in range(1, steps):
            an = -i * (i - av)
            b = b + 2
            d = an * d + b
            d = np.where(np.abs(d) < tiny, tiny, d)
            c = b + an / c
            c = np.where(np.abs(c) < tiny, tiny, c)
            d = 1 / d
            delta = d * c
            h = h * delta
            if np.all((np.abs(delta - 1) < 1e-16) | use_series):
                break
        tail = np.exp(log_prefix) * h
    # each from the branch that computes it directly: 1 - Q would lose a tiny P, and 1 - P a tiny Q
    value = np.where(use_series, lower, 1 - tail)
    value = np.where((a == 0) & (x > 0), 1.0, value)
    value = np.where((a > 0) & (x == 0), 0.0, value)
    value = np.where(np.isposinf(x) & (a >= 0), 1.0, value)
    value = np.where(np.isposinf(a) & np.isfinite(x), 0.0, value)
    if upper:
        value = np.where(use_series | ~regular, 1 - value, tail)
        # small a and x (as Cephes' igamc chooses): 1 - P, with P near 1, would keep no digits of Q
        small = regular & (xv <= 1.1) & np.where(xv <= 0.5, av * -np.log(xv) <= 0.4, av <= 1.1 * xv)
        if small.any():
            value = np.where(small, _igammac_small_a(np.where(small, av, 0.5), np.where(small, xv, 0.5)), value)
    if uniform.any():
        value = np.where(uniform, _igamma_uniform(np.where(uniform, a, 1.0), np.where(uniform, x, 1.0), upper), value)
    return np.where(invalid, np.nan, value)


# Temme's coefficients C_0(eta) and C_1(eta) as power series in eta (DLMF 8.12), as far as a >= 1e7 needs:
# where exp(-a eta**2 / 2) is not 0, |eta| < 0.013, and the next powers are below 1e-16 of the sums
_TEMME_C0 = (-1 / 3, 1 / 12, -2 / 135, 1 / 864, 1 / 2835, -139 / 777600)
_TEMME_C1 = (-1 / 540, -1 / 288, 1 / 378)


def _igamma_uniform(a: np.ndarray, x: np.ndarray, upper: bool) -> np.ndarray:
    """P(a, x) (Q with ``upper``) for a >= 1e7 from Temme's uniform asymptotic expansion: with
    ``eta = sign(x - a) sqrt(-2 log1pmx((x - a) / a))``, ``Q = erfc(eta sqrt(a / 2)) / 2 + R`` and
    ``P = erfc(-eta sqrt(a / 2)) / 2 - R``, ``R = exp(-a eta**2 / 2) / sqrt(2 pi a) (C_0(eta) + C_1(eta) /
    a)``. Past |x - a| = a / 2 both terms underflow: 0 or 1."""
    s = (x - a) / a
    near = np.abs(s) <= 0.5
    half_a_eta_squared = -a * _log1pmx(np.where(near, s, 0.0))
    eta = np.sign(s) * np.sqrt(2 * half_a_eta_squared / a)
    c0, c1 = np.zeros_like(eta), np.zeros_like(eta)
    for coefficient in reversed(_TEMME_C0):
        c0 = c0 * eta + coefficient
    for coefficient in reversed(_TEMME_C1):
        c1 = c1 * eta + coefficient
    with np.errstate(under="ignore"):
        remainder = np.exp(-half_a_eta_squared) / np.sqrt(2 * math.pi * a) * (c0 + c1 / a)
    sign = 1.0 if upper else -1.0
    value = 0.5 * _erf_values(math.erfc, sign * np.sign(s) * np.sqrt(half_a_eta_squared)) + sign * remainder
    return np.where(near, value, np.where((s > 0) == upper, 0.0, 1.0))


class Igamma(Primitive):
    """The regularized lower (``upper=False``) or upper incomplete gamma function; the
    gradient in ``x`` is ``+-exp((a - 1) log x - x - lgamma(a))``; PyTorch has none in ``a``,
    and neither does this (backward raises when ``a`` needs one)."""

    @staticmethod
    def forward(ctx, a, x, upper: bool):
        a, x = floating_pair(a, x)
        ctx.save_for_backward(a, x)
        ctx.upper = upper
        dtype = np.result_type(a, x)
        return np.asarray(_igamma_values(a, x, upper)).astype(dtype)

    @staticmethod
    def backward(ctx, grad):
        a, x = ctx.saved_tensors
        name = "igammac" if ctx.upper else "igamma"
        if ctx.needs_input_grad[0]:
            raise NotImplementedError(f"the derivative of {name} with respect to its first argument (input, the "
                                      f"shape a) is not implemented, as in PyTorch: detach it, e.g. "
                                      f"mg.{name}(a.detach(), x)")
        a_data = np.asarray(_data(a))
        if isinstance(x, Tensor):  # (create_graph)
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # nan and inf as PyTorch's
                density = ops.exp((a_data - 1) * ops.log(x) - x - _lgamma_values(a_data))
        else:
            density = np.asarray(_igamma_density(a_data, x)).astype(np.result_type(a_data, x), copy=False)
        return None, (-grad if ctx.upper else grad) * density


def _igamma_density(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``x**(a - 1) exp(-x) / Gamma(a)``, the derivative of P(a, x) in x, in float64: from the
    accurate ``_igamma_log_prefix`` where x > 0 is finite and a >= 10 (where the direct exponent
    cancels), as the direct formula elsewhere (with its nan and inf at the edges, as PyTorch's)."""
    a, x = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(x, np.float64))
    accurate = (a >= _STIRLING_FROM) & (x > 0) & np.isfinite(x) & np.isfinite(a)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        direct = np.exp((a - 1) * np.log(x) - x - _lgamma_values(a))
        safe_x = np.where(accurate, x, 1.0)
        return np.where(accurate, np.exp(_igamma_log_prefix(np.where(accurate, a, 1.0), safe_x)) / safe_x, direct)


def igamma(input, other):  # noqa: A002
    """The regularized lower incomplete gamma function ``P(input, other)`` (``torch.igamma``,
    ``torch.special.gammainc``); differentiable in ``other`` only, as in PyTorch.

    Raises:
        TypeError: ``other`` is not a Tensor, or an operand is an integer tensor.
    """
    return _igamma("igamma", input, other, upper=False)


def igammac(input, other):  # noqa: A002
    """The regularized upper incomplete gamma function ``Q = 1 - P`` (``torch.igammac``,
    ``torch.special.gammaincc``); differentiable in ``other`` only, as in PyTorch."""
    return _igamma("igammac", input, other, upper=True)


def _igamma(name: str, input, other, upper: bool):  # noqa: A002
    if not isinstance(other, Tensor):
        raise TypeError(f"{name}(): argument 'other' must be a Tensor, not {type(other).__name__}")
    for operand in (input, other):
        if np.asarray(_data(operand)).dtype.kind != "f":
            raise DtypeError(f"{name}(): only floating-point tensors are supported, got "
                             f"{np.asarray(_data(operand)).dtype}")
    return Igamma.apply(input, other, upper=upper)


# -- numerical differentiation ----------------------------------------------------------------------------------------


def _along(values, axis: int, ndim: int):
    """A 1-D array of coefficients shaped to broadcast along ``axis`` of an ``ndim``-D tensor."""
    return np.reshape(values, (-1,) + (1,) * (ndim - axis - 1))


def _gradient_along(f: Tensor, axis: int, spacing, edge_order: int):
    """The second-order central differences of ``f`` along ``axis`` (NumPy's and PyTorch's
    formulas), one-sided of ``edge_order`` at the two ends; ``spacing`` is a number (uniform
    steps) or the 1-D array of coordinates."""
    n = f.shape[axis]

    def part(start, stop=None):
        return ops.moveaxis(ops.moveaxis(f, axis, 0)[start:stop], 0, axis)

    if np.ndim(spacing) == 0:
        h = spacing
        interior = (part(2) - part(0, -2)) / (2 * h)
        if edge_order == 1:
            first, last = (part(1, 2) - part(0, 1)) / h, (part(-1) - part(-2, -1)) / h
        else:
            first = (-1.5 * part(0, 1) + 2 * part(1, 2) - 0.5 * part(2, 3)) / h
            last = (0.5 * part(-3, -2) - 2 * part(-2, -1) + 1.5 * part(-1)) / h
    else:
        x = np.asarray(spacing, dtype=np.result_type(spacing, f.dtype))
        if x.shape != (n,):
            raise InvalidArgumentError(f"gradient: the coordinates along dimension {axis} must be a 1-D tensor of "
                                       f"its {n} points, got shape {x.shape}")
        dx = np.diff(x)
        hd, hs = dx[:-1], dx[1:]
        a, b, c = -hs / (hd * (hd + hs)), (hs - hd) / (hd * hs), hd / (hs * (hd + hs))
        interior = (part(0, -2) * _along(a, axis, f.ndim) + part(1, -1) * _along(b, axis, f.ndim)
                    + part(2) * _along(c, axis, f.ndim))
        if edge_order == 1:
            first, last = (part(1, 2) - part(0, 1)) / dx[0], (part(-1) - part(-2, -1)) / dx[-1]
        else:
            d1, d2 = dx[0], dx[1]
            first = (-(2 * d1 + d2) / (d1 * (d1 + d2)) * part(0, 1) + (d1 + d2) / (d1 * d2) * part(1, 2)
                     - d1 / (d2 * (d1 + d2)) * part(2, 3))
            d1, d2 = dx[-2], dx[-1]
            last = (d2 / (d1 * (d1 + d2)) * part(-3, -2) - (d1 + d2) / (d1 * d2) * part(-2, -1)
                    + (2 * d2 + d1) / (d2 * (d1 + d2)) * part(-1))
    return ops.concatenate([first, interior, last], axis=axis)


def gradient(input, *, spacing=1, dim=None, edge_order: int = 1):  # noqa: A002
    """The derivative of ``input`` estimated by finite differences along each of ``dim`` (all
    dimensions by default), as ``torch.gradient`` (and ``np.gradient``): central differences
    inside, one-sided ones of ``edge_order`` (1 or 2) at the ends. Returns a tuple, one
    tensor per dimension; differentiable.

    Args:
        spacing: a number (the step along every dimension), a list of numbers (one step per
            dimension) or a list of 1-D tensors (the coordinates of the points along each).
        dim: an int or a list of ints.
        edge_order: 1 or 2.

    Raises:
        ValueError: an ``edge_order`` other than 1 or 2, a dimension with fewer than
            ``edge_order + 1`` points, or a ``spacing`` list of the wrong length.
    """
    f = _tensor(input)
    if f.dtype.kind != "f":
        f = ops.astype(f, get_default_dtype())
    if edge_order not in (1, 2):
        raise InvalidArgumentError("gradient only supports edge_order=1 and edge_order=2")
    spacing = 1 if spacing is None else spacing  # (PyTorch's None: unit steps)
    axes = list(range(f.ndim)) if dim is None else [dim] if isinstance(dim, numbers.Integral) else list(dim)
    axes = [normalize_axes(a, f.ndim)[0] for a in axes]
    if isinstance(spacing, list | tuple):
        if len(spacing) != len(axes):
            given = "dim argument was given" if dim is not None else "dim argument was not given"
            raise InvalidArgumentError(
                f"gradient expected spacing to be unspecified, a scalar, or a list of length {len(axes)} (one per "
                f"dimension differentiated), since {given}, but got a list of length {len(spacing)}")
        if any(isinstance(s, Tensor) for s in spacing):
            reads_values("gradient with coordinates from tensors")
        spacings = [np.asarray(_data(s)) for s in spacing]
    else:
        spacings = [np.asarray(_data(spacing))] * len(axes)
    for axis in axes:
        if f.shape[axis] < edge_order + 1:
            raise InvalidArgumentError(f"gradient expected each dimension size to be at least edge_order+1, got "
                                       f"size {f.shape[axis]} along dimension {axis} with edge_order={edge_order}")
    return tuple(_gradient_along(f, axis, s if s.ndim else s.item(), edge_order) for axis, s in zip(axes, spacings))


# -- writing into a copy: the *_scatter functions and index_put ----------------------------------------------------


def _place(name: str, input, src, positions: np.ndarray):  # noqa: A002
    """A copy of ``input`` with ``src`` written at the flat ``positions`` (an integer array of
    ``src``'s shape): the elements of ``input`` and ``src`` side by side, picked by index, so
    that the gradient goes to ``input`` where it was kept and to ``src`` where it was written
    (the last write wins at a repeated position)."""
    x = _tensor(input)
    values = _tensor(src)
    if values.shape != positions.shape:
        raise InvalidArgumentError(f"{name}: expected src to have a size equal to the slice of self. src size = "
                                   f"{list(values.shape)}, slice size = {list(positions.shape)}")
    if values.dtype != x.dtype:  # (PyTorch writes src in input's dtype; integers carry no gradient)
        values = ops.astype(values, x.dtype) if x.dtype.kind == "f" else Tensor._wrap(values.data.astype(x.dtype))
    pick = np.arange(x.size)
    pick[positions.ravel()] = x.size + np.arange(positions.size)
    side_by_side = ops.concatenate([x.reshape(-1), values.reshape(-1)])
    return side_by_side[pick].reshape(x.shape)


def _positions(x: Tensor) -> np.ndarray:
    return np.arange(x.size).reshape(x.shape)


def select_scatter(input, src, dim: int, index: int):  # noqa: A002
    """A copy of ``input`` with ``src`` in the slice ``input.select(dim, index)``
    (``torch.select_scatter``); differentiable in both.

    Raises:
        ValueError: ``src`` does not have the slice's shape.
        IndexError: ``index`` is out of range.
    """
    x = _tensor(input)
    return _place("select_scatter", x, src, np.take(_positions(x), index, axis=dim))


def slice_scatter(input, src, dim: int = 0, start=None, end=None, step: int = 1):  # noqa: A002
    """A copy of ``input`` with ``src`` in the slice ``start:end:step`` of ``dim``
    (``torch.slice_scatter``); differentiable in both.

    Raises:
        ValueError: ``src`` does not have the slice's shape.
    """
    x = _tensor(input)
    if step <= 0:
        raise InvalidArgumentError(f"slice_scatter: slice step must be positive, got {step}")
    axis = normalize_axes(dim, x.ndim)[0]
    region = (slice(None),) * axis + (slice(start, end, step),)
    return _place("slice_scatter", x, src, _positions(x)[region])


def diagonal_scatter(input, src, offset: int = 0, dim1: int = 0, dim2: int = 1):  # noqa: A002
    """A copy of ``input`` with ``src`` on the diagonal ``input.diagonal(offset, dim1, dim2)``
    (``torch.diagonal_scatter``; the diagonal is ``src``'s last dimension); differentiable in both.

    Raises:
        ValueError: ``src`` does not have the diagonal's shape.
    """
    x = _tensor(input)
    return _place("diagonal_scatter", x, src, np.diagonal(_positions(x), offset, dim1, dim2))


def index_put(input, indices, values, accumulate: bool = False):  # noqa: A002
    """A copy of ``input`` with ``values`` (broadcast) written at ``input[indices]``, or added
    there with ``accumulate=True`` (repeated indices add up), as ``torch.index_put``;
    differentiable in ``input`` and ``values``. ``indices`` is a tuple of integer or bool tensors.

    Raises:
        TypeError: ``values`` has another dtype than ``input``.
    """
    x = _tensor(input)
    values = values if isinstance(values, Tensor) else Tensor._wrap(np.asarray(values, dtype=x.dtype))
    if values.dtype != x.dtype:
        raise DtypeError(f"index_put: requires the source and destination dtypes match, got {x.dtype} for the "
                         f"destination and {values.dtype} for the source")
    if not isinstance(indices, tuple | list):
        raise TypeError(f"index_put: indices must be a tuple of tensors, got {type(indices).__name__}")
    reads_values("index_put")  # the positions written come from the indices
    where = tuple(np.asarray(_data(i)) for i in indices)
    positions = _positions(x)[where]
    values = ops.broadcast_to(values, positions.shape)
    if not accumulate:
        return _place("index_put", x, values, positions)
    flat = Tensor._wrap(positions.ravel().astype(np.int64))
    return x.reshape(-1).index_add(0, flat, values.reshape(-1)).reshape(x.shape)


_REDUCTIONS = ("prod", "mean", "amax", "amin")


def index_reduce(input, dim: int, index, source, reduce: str, *, include_self: bool = True):  # noqa: A002
    """A copy of ``input`` whose slices ``index[j]`` along ``dim`` are reduced with the slices
    ``j`` of ``source`` (``torch.index_reduce``): ``reduce`` is "prod", "mean", "amax" or
    "amin"; with ``include_self=False`` the slices of ``input`` that an index names are left
    out of their reduction. Differentiable in ``input`` and ``source`` (ties of amax/amin
    share the gradient, as in PyTorch); integer and bool tensors keep their dtype (an
    integer mean rounds down), as in PyTorch.

    Written as a stack: every slice's values (its own first, then those from ``source`` in
    order) are put side by side on a new leading axis, padded with the reduction's identity,
    and reduced over it.

    Raises:
        ValueError: an unknown ``reduce``, or ``source`` of the wrong shape.
        TypeError: ``source`` has another dtype than ``input``, or a bool ``input`` with a
            reduction PyTorch does not implement for bools (mean, or ``include_self=False``).
        IndexError: an index out of range (negative included, as in PyTorch), or an index
            that is not 1-D.
    """
    x = _tensor(input)
    if reduce not in _REDUCTIONS:
        raise InvalidArgumentError(f"index_reduce(): Expected reduce to be one of prod, mean, amax or amin but got "
                                   f"{reduce}.")
    src = source if isinstance(source, Tensor) else Tensor._wrap(np.asarray(source, dtype=x.dtype))
    if src.dtype != x.dtype:
        raise DtypeError(f"index_reduce(): self ({x.dtype}) and source ({src.dtype}) must have the same dtype")
    if x.ndim == 0:  # (a 0-d input and source are one slice of length 1, as PyTorch's)
        single = index_reduce(ops.reshape(x, (1,)), 0, index, ops.reshape(src, (-1,)) if src.ndim == 0 else src,
                              reduce, include_self=include_self)
        return ops.reshape(single, ())
    axis = normalize_axes(dim, x.ndim)[0]
    reads_values("index_reduce")  # the stacking comes from the index
    rows = _integers(index, "index_reduce()").astype(np.int64, copy=False)
    if rows.ndim > 1:
        raise IndexError(f"index_reduce(): index must be a vector (1-D or 0-d), got shape {list(rows.shape)}")
    rows = rows.reshape(-1)
    n = x.shape[axis]
    expected = (*x.shape[:axis], rows.size, *x.shape[axis + 1:])
    if src.shape != expected:
        raise InvalidArgumentError(f"index_reduce(): source must have shape {list(expected)} (the input's, with "
                                   f"{rows.size} slices along dimension {axis}), got {list(src.shape)}")
    if rows.size and (rows.min() < 0 or rows.max() >= n):  # (no negative index, as in PyTorch)
        raise IndexError(f"index_reduce(): index out of range in self: dimension {axis} has size {n}, so every "
                         f"index must be in [0, {n}), got {rows.min() if rows.min() < 0 else rows.max()}")
    counts = np.bincount(rows, minlength=n)
    if x.dtype.kind != "f":
        return Tensor._wrap(_index_reduce_exact(x.data, axis, rows, counts, src.data, reduce, include_self))
    # the slot of each source slice among those reduced into the same row
    slot = np.zeros(rows.size, dtype=np.int64)
    seen: dict[int, int] = {}
    for j, row in enumerate(rows.tolist()):
        slot[j] = seen.get(row, 0)
        seen[row] = slot[j] + 1
    first = 1 if include_self else 0
    depth = first + (int(slot.max()) + 1 if rows.size else 0)
    if depth == 0:  # (nothing to reduce: an empty index with include_self=False)
        return x.clone()
    identity = {"prod": 1.0, "mean": 0.0, "amax": -np.inf, "amin": np.inf}[reduce]
    grid_positions = np.moveaxis(np.arange(depth * x.size).reshape((depth, *x.shape)), axis + 1, 1)
    from_source = np.moveaxis(grid_positions[slot + first, rows], 0, axis)  # in source's layout
    values, positions = [src], [from_source]
    if include_self:
        values.insert(0, x)
        positions.insert(0, np.moveaxis(grid_positions[0], 0, axis))
    padding = Tensor._wrap(np.full(depth * x.size, identity, dtype=x.dtype))
    stacked = _place("index_reduce", padding, ops.concatenate([v.reshape(-1) for v in values]),
                     np.concatenate([p.ravel() for p in positions])).reshape((depth, *x.shape))
    if reduce == "prod":
        reduced = ops.prod(stacked, axis=0)
    elif reduce == "amax":
        reduced = ops.max(stacked, axis=0)
    elif reduce == "amin":
        reduced = ops.min(stacked, axis=0)
    else:
        reduced = ops.sum(stacked, axis=0) / _along(np.maximum(counts + first, 1), axis, x.ndim).astype(x.dtype)
    if include_self:
        return reduced
    reached = _along(counts > 0, axis, x.ndim)
    return ops.where(np.broadcast_to(reached, x.shape), reduced, x)


def _index_reduce_exact(a: np.ndarray, axis: int, rows: np.ndarray, counts: np.ndarray, source: np.ndarray,
                        reduce: str, include_self: bool) -> np.ndarray:
    """``index_reduce`` of an integer or bool array, in its own dtype as in PyTorch: the
    ``scatter_reduce`` of ``source`` into the slices ``rows`` along ``axis``."""
    if a.dtype == np.bool_ and (reduce == "mean" or not include_self):
        # (PyTorch implements neither for bools)
        raise DtypeError(f"index_reduce(): reduce={reduce!r} with include_self={include_self} is not supported for "
                         f"a bool tensor (as in PyTorch); convert it first, e.g. t.long()")
    hits = np.broadcast_to(_along(counts, axis, a.ndim), a.shape)
    own = np.ones(a.shape, dtype=bool) if include_self else hits == 0
    where = _along_axis(_along(rows, axis, a.ndim), axis, source.shape)
    return _scatter_reduce_exact(a, source, where, reduce, own, hits)


# -- histograms and Vandermonde matrices ---------------------------------------------------------------------------


class _HistogramResult(tuple):
    """``(hist, bin_edges)``, as torch.histogram's named tuple."""

    def __new__(cls, hist, bin_edges):
        return super().__new__(cls, (hist, bin_edges))

    hist = property(lambda self: self[0])
    bin_edges = property(lambda self: self[1])


def _histogram_bins(name: str, bins, dtype: np.dtype, dimension: int):
    """``bins`` as NumPy takes it: a count, or the edges in the input's dtype (as PyTorch requires)."""
    if isinstance(bins, numbers.Integral) and not isinstance(bins, bool):
        if bins <= 0:
            raise InvalidArgumentError(f"{name}: bins must be > 0, but got {bins} for dimension {dimension}")
        return int(bins)
    edges = np.asarray(_data(bins))
    if edges.dtype != dtype:
        raise DtypeError(f"{name}: input tensor and bins tensors should have the same dtype, but got input with "
                         f"dtype {dtype} and bins for dimension {dimension} with dtype {edges.dtype}")
    if edges.ndim != 1 or edges.size < 1 or np.any(np.diff(edges) < 0):
        raise InvalidArgumentError(f"{name}: the bin edges for dimension {dimension} must be a non-empty 1-D tensor "
                                   "of increasing values")
    return edges


def _floating_sample(name: str, input):  # noqa: A002
    data = np.asarray(_data(input))
    if data.dtype.kind != "f":
        raise DtypeError(f"{name}: only floating-point tensors are supported, got {data.dtype}")
    return data


def histogram(input, bins=100, *, range=None, weight=None, density: bool = False):  # noqa: A002
    """The histogram of the values of ``input`` (flattened), as ``torch.histogram``: ``bins``
    equal bins over ``range`` (the values' min and max by default), or the given bin edges;
    ``weight`` gives each value a weight; with ``density=True`` the bins integrate to 1.
    Returns ``(hist, bin_edges)`` in the input's dtype, outside the graph.

    Raises:
        TypeError: ``input`` is not floating point, or the edges have another dtype.
        ValueError: ``bins`` is not positive, the edges do not increase, the range is not
            finite or its min exceeds its max.
    """
    reads_values("histogram")
    data = _floating_sample("histogram", input)
    hist, (edges,) = _histogramdd("histogram", data.reshape(-1, 1), [bins],
                                  None if range is None else list(range), weight, density)
    return _HistogramResult(hist, edges)


def histogramdd(input, bins=10, *, range=None, weight=None, density: bool = False):  # noqa: A002
    """The multi-dimensional histogram of the points in the last dimension of ``input``
    (``torch.histogramdd``): ``bins`` a count for every dimension, a list of counts or a
    list of edge tensors; ``range`` a flat list ``[min0, max0, min1, max1, ...]``. Returns
    ``(hist, bin_edges)`` with one edge tensor per dimension, outside the graph.

    Raises:
        TypeError, ValueError: as ``histogram``.
    """
    reads_values("histogramdd")
    data = _floating_sample("histogramdd", input)
    dims = data.shape[-1]
    bins = list(bins) if isinstance(bins, list | tuple) else [bins] * dims
    hist, edges = _histogramdd("histogramdd", data.reshape(-1, dims), bins, range, weight, density)
    return _HistogramResult(hist, tuple(edges))


def _histogramdd(name: str, sample: np.ndarray, bins: list, range, weight, density: bool):  # noqa: A002
    dims = sample.shape[1]
    if len(bins) != dims:
        raise InvalidArgumentError(f"{name}: expected {dims} bin counts or edge tensors, one per dimension, "
                                   f"got {len(bins)}")
    bins = [_histogram_bins(name, b, sample.dtype, d) for d, b in enumerate(bins)]
    if range is not None:
        range = [float(v) for v in range]  # noqa: A001
        if len(range) != 2 * dims:
            raise InvalidArgumentError(f"{name}: range must hold a min and a max for each of the {dims} dimensions, "
                                       f"got {len(range)} values")
        range = [tuple(range[2 * d:2 * d + 2]) for d in builtins.range(dims)]  # noqa: A001
    for d in builtins.range(dims):
        if isinstance(bins[d], np.ndarray):
            continue
        low, high = range[d] if range is not None else (
            (sample[:, d].min(), sample[:, d].max()) if sample.shape[0] else (0.0, 1.0))
        if not (np.isfinite(low) and np.isfinite(high)):
            raise InvalidArgumentError(f"{name}: dimension {d}'s range [{low}, {high}] is not finite")
        if low > high:
            raise InvalidArgumentError(f"{name}: min should not exceed max, but got min {low:g} max {high:g} for "
                                       f"dimension {d}")
        if low == high:  # one value: a bin of width 1 around it, as PyTorch and NumPy
            low, high = low - 0.5, high + 0.5
        bins[d] = np.linspace(low, high, bins[d] + 1, dtype=sample.dtype)
    weights = None if weight is None else np.asarray(_data(weight)).reshape(-1)
    if weights is not None and weights.shape != (sample.shape[0],):
        raise InvalidArgumentError(f"{name}: weight must have one value per point ({sample.shape[0]}), got "
                                   f"{weights.size}")
    inside = np.all([(sample[:, d] >= bins[d][0]) & (sample[:, d] <= bins[d][-1]) for d in builtins.range(dims)],
                    axis=0) if dims else np.ones(sample.shape[0], bool)
    hist, edges = np.histogramdd(sample[inside], bins=bins, weights=None if weights is None else weights[inside],
                                 density=density)
    as_tensor = lambda a: Tensor._wrap(np.asarray(a, dtype=sample.dtype))  # noqa: E731
    return as_tensor(hist), [as_tensor(e) for e in edges]



def vander(x, N=None, increasing: bool = False):
    """The Vandermonde matrix of the 1-D ``x`` (``torch.vander``): its columns are ``x**(N-1)``
    down to ``x**0`` (up, with ``increasing=True``); ``N`` defaults to ``len(x)``. Integer and
    bool inputs give int64, as in PyTorch. Differentiable: written as a cumulative product.

    Raises:
        ValueError: ``x`` is not 1-D, or ``N`` is negative.
    """
    x = x if isinstance(x, Tensor) else Tensor._wrap(np.asarray(x))
    if x.ndim != 1:
        raise InvalidArgumentError(f"vander: x must be a one-dimensional tensor, got shape {x.shape}")
    n = x.shape[0] if N is None else N
    if n < 0:
        raise InvalidArgumentError(f"vander: N must be non-negative, got {n}")
    if x.dtype.kind in "biu":
        x = Tensor._wrap(x.data.astype(np.int64))  # (integers carry no gradient)
    if n == 0:
        return Tensor._wrap(np.zeros((x.shape[0], 0), dtype=x.dtype))
    columns = [Tensor._wrap(np.ones((x.shape[0], 1), dtype=x.dtype))] + [x.reshape(-1, 1)] * (n - 1)
    powers = ops.cumprod(ops.concatenate(columns, axis=1), axis=1)
    return powers if increasing else ops.flip(powers, axis=1)


# -- Tensor methods -----------------------------------------------------------------------------------------------


def is_signed(self) -> bool:
    """Whether the dtype holds negative numbers (``torch.Tensor.is_signed``): floats and
    signed integers; not unsigned integers nor bool."""
    return self.dtype.kind in "fic"


def is_inference(self) -> bool:
    """False (``torch.Tensor.is_inference``): ``mg.inference_mode`` only turns off recording,
    as ``no_grad``, so its results are ordinary tensors that autograd may use later."""
    return False


def storage_offset(self) -> int:
    """How many elements into the memory it shares with the array that owns it this tensor's
    data starts (``torch.Tensor.storage_offset``): 0 unless the data is a view, such as a basic
    slice ``t[1:]``."""
    owner = self.data
    while isinstance(owner.base, np.ndarray):
        owner = owner.base
    offset = self.data.__array_interface__["data"][0] - owner.__array_interface__["data"][0]
    return int(offset // max(self.data.itemsize, 1))


def new(self, *args):
    """PyTorch's legacy constructor: ``t.new(data)`` is a tensor of ``data`` in ``t``'s dtype,
    ``t.new(2, 3)`` an uninitialised (here zero) tensor of that shape, ``t.new()`` an empty one;
    never requiring grad. As in PyTorch, a list or tuple is data (``t.new(2, 3)`` and
    ``t.new((2, 3))`` differ; ``t.new(*shape)`` for a shape).

    Raises:
        TypeError: a mix of sizes and data, or sizes that are not ints.
    """
    if len(args) == 1 and not isinstance(args[0], numbers.Integral):
        if isinstance(args[0], Tensor):
            _reading(args[0], "t.new(other) (a copy of a tensor's values)")
        return Tensor._wrap(np.array(_data(args[0]), dtype=self.dtype))
    if not all(isinstance(size, numbers.Integral) and not isinstance(size, bool) for size in args):
        raise TypeError(f"new(): expected data (one list, tuple, array or Tensor) or sizes (ints), got "
                        f"{tuple(type(a).__name__ for a in args)}")
    if any(size < 0 for size in args):
        raise InvalidArgumentError(f"new(): sizes must be non-negative, got {args}")
    return Tensor._wrap(np.zeros(args if args else (0,), dtype=self.dtype))


def sum_to_size(self, *size):
    """This tensor summed down to ``size``, which it must broadcast from
    (``torch.Tensor.sum_to_size``): the reverse of ``expand``; differentiable.

    Raises:
        ValueError: ``size`` does not expand to this tensor's shape.
    """
    shape = tuple(size[0]) if len(size) == 1 and isinstance(size[0], tuple | list) else tuple(size)
    lead = self.ndim - len(shape)
    if lead < 0 or any(n != m and n != 1 for n, m in zip(shape, self.shape[lead:])):
        raise InvalidArgumentError(f"sum_to_size: size {list(shape)} is not expandable to size {list(self.shape)}")
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and self.shape[lead + i] != 1)
    out = ops.sum(self, axis=axes, keepdims=True) if axes else self
    return out.reshape(shape)


def _matrix_adjoint(self):
    """The last two dimensions swapped (``torch.Tensor.mH``; real tensors have no conjugate)."""
    if self.ndim < 2:
        raise InvalidArgumentError(f"tensor.mH is only supported on matrices or batches of matrices. Got "
                                   f"{self.ndim}-D tensor.")
    return ops.swapaxes(self, -2, -1)


def _adjoint_2d(self):
    """The transpose of a matrix (``torch.Tensor.H``; real tensors have no conjugate)."""
    if self.ndim != 2:
        hint = " For batches of matrices, consider using tensor.mH" if self.ndim > 2 else ""
        raise InvalidArgumentError(f"tensor.H is only supported on matrices (2-D tensors). Got {self.ndim}-D "
                                   f"tensor.{hint}")
    return ops.swapaxes(self, -2, -1)


def unsafe_chunk(self, chunks: int, dim: int = 0):
    """``chunk`` (``torch.Tensor.unsafe_chunk``: the same pieces; nothing here is unsafe)."""
    return self.chunk(chunks, dim)


def unsafe_split(self, split_size, dim: int = 0):
    """``split`` (``torch.Tensor.unsafe_split``: the same pieces; nothing here is unsafe)."""
    return self.split(split_size, dim)


def unsafe_split_with_sizes(self, split_sizes, dim: int = 0):
    """``split_with_sizes`` (``torch.Tensor.unsafe_split_with_sizes``: the same pieces)."""
    return self.split_with_sizes(split_sizes, dim)


def _index_put_method(self, indices, values, accumulate: bool = False):
    """``index_put(self, indices, values, accumulate)`` (``torch.Tensor.index_put``)."""
    return index_put(self, indices, values, accumulate)


def _mvlgamma_method(self, p: int):
    """``mvlgamma(self, p)`` (``torch.Tensor.mvlgamma``)."""
    return mvlgamma(self, p)


#: Functions this module adds at the top level (``mg.<name>``) and as Tensor methods.
FUNCTIONS = ["gcd", "lcm", "frexp", "nextafter", "i0", "igamma", "igammac", "select_scatter", "slice_scatter",
             "diagonal_scatter"]
#: Methods with an in-place form (``t.gcd_(other)``), as in PyTorch.
IN_PLACE = ["index_reduce", "gcd", "lcm", "i0", "igamma", "igammac", "nextafter", "polygamma", "mvlgamma", "ldexp"]
#: Existing functions that PyTorch also has as Tensor methods, by the module that defines them.
EXISTING = {"microgradnp.ops.torch_functions": "aminmax msort corrcoef cov bernoulli multinomial adjoint is_nonzero"
                                              " ldexp nonzero_static",
            "microgradnp.nn.functional": "hardshrink prelu"}


def _existing(module: str, name: str):
    """``t.name(...)`` as ``module.name(t, ...)``, looked up at the call: ``nn.functional``
    cannot be imported while the Tensor class is being set up."""

    def method(self, *args, **kwargs):
        return getattr(importlib.import_module(module), name)(self, *args, **kwargs)

    method.__name__ = name
    method.__doc__ = f"``{module.replace('microgradnp', 'mg')}.{name}(self, ...)``, as ``torch.Tensor.{name}``."
    return method


def attach(tensor_class) -> None:
    """Add this module's methods to the Tensor class, where it has none of that name yet."""
    from microgradnp.ops.torch_methods import _in_place

    methods = {name: globals()[name] for name in FUNCTIONS}
    methods |= {"is_signed": is_signed, "is_inference": is_inference, "storage_offset": storage_offset,
                "new": new, "sum_to_size": sum_to_size, "unsafe_chunk": unsafe_chunk, "unsafe_split": unsafe_split,
                "unsafe_split_with_sizes": unsafe_split_with_sizes,
                "index_put": _index_put_method, "index_reduce": index_reduce, "histogram": histogram,
                "polygamma": _polygamma_method, "mvlgamma": _mvlgamma_method,
                "mH": property(_matrix_adjoint), "H": property(_adjoint_2d)}
    methods |= {name: _existing(module, name) for module, names in EXISTING.items() for name in names.split()}
    methods |= {f"{name}_": _in_place(f"{name}_", methods[name]) for name in IN_PLACE}
    for name, method in methods.items():
        if not hasattr(tensor_class, name):
            setattr(tensor_class, name, method)
