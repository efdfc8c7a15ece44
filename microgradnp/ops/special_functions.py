"""Primitives for the functions of ``torch.special`` that no existing operation computes:
``erfcx``, ``log_ndtr``, ``ndtri``, ``i0e``, ``i1e``, ``xlog1py``, ``entr`` and ``zeta``.

Values are computed in float64 with NumPy (series, asymptotic expansions and Newton-Halley
refinement, to about 1e-15 relative) and given back in the input's float dtype; each
primitive's derivative is in closed form, written with operations that work on arrays and
on Tensors, so that ``create_graph=True`` gives second derivatives. The rest of
``mg.special`` (``erf``, ``i0``, ``polygamma``, ``gammainc``...) reuses the existing
primitives: see ``microgradnp/special.py``."""

from __future__ import annotations

import math

import numpy as np

from microgradnp import ops
from microgradnp.ops.elementwise import _erf_values, _values
from microgradnp.ops.primitive import Primitive, floating, floating_pair
from microgradnp.ops.torch_math import Erfinv, Xlogy, _in_float64
from microgradnp.ops.torch_more import (
    _EULER_GAMMA,
    _TINY_ARGUMENT,
    _bessel_i,
    _hurwitz_zeta,
    bessel_i_scaled_asymptotic,
)
from microgradnp.tensor import Tensor

_SQRT_PI = math.sqrt(math.pi)
_SQRT_2PI = math.sqrt(2 * math.pi)
_SQRT1_2 = math.sqrt(0.5)
_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


def _is_tensor(x) -> bool:
    return isinstance(x, Tensor)


class _ReadsItsOutput(Primitive):
    """An elementwise function ``values(a)`` whose derivative reads its output too: forward
    saves the input and the output, for each subclass's ``backward``."""

    values = staticmethod(lambda a: a)

    @classmethod
    def forward(cls, ctx, a):
        a = floating(a)
        out = cls.values(a)
        ctx.save_for_backward(a, out)
        return out


# -- erfcx: exp(x**2) erfc(x) ----------------------------------------------------------------------------------------


def _erfcx64(x: np.ndarray) -> np.ndarray:
    """The scaled complementary error function in float64: ``exp(x**2) * erfc(x)`` with x**2
    split exactly into two parts (Veltkamp) below 10, the asymptotic series
    ``1 / (x sqrt(pi)) * sum_k (-1)**k (2k - 1)!! / (2 x**2)**k`` from 10 on (its terms fall
    below 1e-25 in 25 steps there); inf below about -26.6, as PyTorch's."""
    x = np.asarray(x, dtype=np.float64)
    large = x >= 10
    xm = np.clip(np.where(np.isnan(x), 0.0, x), -30.0, 10.0)
    split = xm * 134217729.0  # 2**27 + 1
    hi = split - (split - xm)
    lo = xm - hi
    with np.errstate(over="ignore", invalid="ignore"):
        direct = np.exp(hi * hi) * np.exp((hi + hi + lo) * lo) * _erf_values(math.erfc, xm)
    xl = np.where(large, x, 10.0)
    with np.errstate(over="ignore", invalid="ignore"):
        asymptotic = (1 + _erfcx_series_tail(xl)) / (xl * _SQRT_PI)
    out = np.where(large, asymptotic, direct)
    return np.where(np.isnan(x), np.nan, out)


def _erfcx_series_tail(x: np.ndarray) -> np.ndarray:
    """``sum_{k>=1} (-1)**k (2k - 1)!! / (2 x**2)**k`` for x >= 10: the asymptotic series of
    ``x sqrt(pi) erfcx(x)`` without its first term, 1."""
    inverse = 0.5 / x / x  # (0 past 1e154, without overflowing)
    term = -inverse
    tail = term.copy()
    for k in range(2, 26):
        term = term * -(2 * k - 1) * inverse
        tail = tail + term
    return tail


def _erfcx_slope64(x: np.ndarray) -> np.ndarray:
    """The derivative of erfcx in float64, ``2 x erfcx(x) - 2 / sqrt(pi)``; from 10 on, where the
    two terms cancel (to all digits past 1e8), ``2 / sqrt(pi)`` times the asymptotic series' tail."""
    x = np.asarray(x, dtype=np.float64)
    large = x >= 10
    with np.errstate(over="ignore", invalid="ignore"):
        direct = 2 * x * _erfcx64(x) - 2 / _SQRT_PI
    return np.where(large, 2 / _SQRT_PI * _erfcx_series_tail(np.where(large, x, 10.0)), direct)


_erfcx_values = _in_float64(_erfcx64)


class Erfcx(_ReadsItsOutput):
    """``exp(x**2) erfc(x)`` (``torch.special.erfcx``); its derivative is
    ``2 x erfcx(x) - 2 / sqrt(pi)``."""

    values = staticmethod(_erfcx_values)

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved_tensors
        if _is_tensor(a):  # (create_graph: written with Erfcx itself, differentiable again)
            return grad * (2 * a * out - 2 / _SQRT_PI)
        return grad * _in_float64(_erfcx_slope64)(a)  # (in float64: the two terms cancel)


# -- the normal distribution: log_ndtr, ndtri ------------------------------------------------------------------------


def _log_ndtr64(x: np.ndarray) -> np.ndarray:
    """``log(ndtr(x))`` in float64, PyTorch's way: ``log(erfcx(-x/sqrt 2) / 2) - x**2 / 2`` below
    -1 (no underflow in the left tail), ``log1p(-erfc(x/sqrt 2) / 2)`` above."""
    x = np.asarray(x, dtype=np.float64)
    t = x * _SQRT1_2
    left = x < -1
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        tail = np.log(_erfcx64(-np.where(left, t, -1.0)) / 2) - t * t
        body = np.log1p(-_erf_values(math.erfc, np.where(left, 0.0, t)) / 2)
    return np.where(left, tail, body)


_log_ndtr_values = _in_float64(_log_ndtr64)


class LogNdtr(_ReadsItsOutput):
    """``log`` of the standard normal CDF (``torch.special.log_ndtr``), accurate in both
    tails; its derivative, ``pdf(x) / ndtr(x)``, is ``sqrt(2 / pi) / erfcx(-x / sqrt 2)``: no
    0 / 0, and no cancellation (``exp(-x**2 / 2 - log_ndtr(x))`` loses every digit as x goes
    to -1e8, and most of them in float32 from -100)."""

    values = staticmethod(_log_ndtr_values)

    @staticmethod
    def backward(ctx, grad):
        (a, _) = ctx.saved_tensors
        if _is_tensor(a):  # (create_graph)
            return grad * (_SQRT_2_OVER_PI / Erfcx.apply(a * -_SQRT1_2))
        return grad * _in_float64(lambda x: _SQRT_2_OVER_PI / _erfcx64(x * -_SQRT1_2))(a)


def _ndtri64(p: np.ndarray) -> np.ndarray:
    """The inverse of the standard normal CDF in float64: Abramowitz and Stegun 26.2.23 (error
    below 5e-4) refined by Halley steps on ``ndtr(x) = q`` for the lower-tail probability
    ``q = min(p, 1 - p)`` (``1 - p`` is exact above 1/2). The residual is taken relatively in
    the tail (``1 - q / ndtr(x)`` from ``log_ndtr``, exact down to the smallest subnormal)
    and as ``erf(x / sqrt 2) / 2 - (q - 1/2)`` in the middle (relative near 1/2)."""
    p = np.asarray(p, dtype=np.float64)
    upper = p > 0.5
    q = np.where(upper, 1 - p, p)
    regular = (q > 0) & (q <= 0.5)
    q = np.where(regular, q, 0.25)
    t = np.sqrt(-2 * np.log(q))
    x = -(t - (2.515517 + t * (0.802853 + t * 0.010328)) / (1 + t * (1.432788 + t * (0.189269 + t * 0.001308))))
    middle = q > 0.25
    offset = q - 0.5  # exact (Sterbenz) in the middle
    log_q = np.log(q)
    for _ in range(4):
        log_ndtr = _log_ndtr64(x)
        mills = np.exp(log_ndtr + x * x / 2) * _SQRT_2PI  # ndtr(x) / pdf(x)
        in_tail = mills * -np.expm1(log_q - log_ndtr)
        pdf = np.exp(-x * x / 2) / _SQRT_2PI
        in_middle = (0.5 * _erf_values(math.erf, x * _SQRT1_2) - offset) / pdf
        r = np.where(middle, in_middle, in_tail)
        x = x - r / (1 + x * r / 2)
    x = np.where(q == 0.5, 0.0, x)
    x = np.where(upper, -x, x)
    edge = np.where(p == 0, -np.inf, np.where(p == 1, np.inf, np.nan))
    return np.where(regular & (p < 1), x, edge)


_ndtri_values = _in_float64(_ndtri64)


class Ndtri(Erfinv):
    """The inverse of ``ndtr`` (``torch.special.ndtri``): -inf at 0, inf at 1, nan outside
    [0, 1]; its derivative is ``sqrt(2 pi) exp(ndtri(p)**2 / 2)``."""

    values, scale, rate = staticmethod(_ndtri_values), _SQRT_2PI, 0.5


# -- exponentially scaled Bessel functions: i0e, i1e -----------------------------------------------------------------


def _scaled_bessel_i(order: int, x: np.ndarray) -> np.ndarray:
    """``exp(-|x|) I_order(x)`` in float64: the existing ``I0``/``I1`` values times ``exp(-|x|)``
    up to |x| = 30, the asymptotic series ``sum_k (-1)**k a_k / |x|**k / sqrt(2 pi |x|)`` (no
    exponential, so no overflow) beyond."""
    x = np.asarray(x, dtype=np.float64)
    ax = np.abs(x)
    small = np.minimum(ax, 30.0)
    near = _bessel_i(order, small) * np.exp(-small)
    far = bessel_i_scaled_asymptotic(order, np.maximum(ax, 30.0))
    value = np.where(ax <= 30, near, far)
    value = np.where(np.isnan(x), np.nan, value)
    return np.copysign(value, x) if order == 1 else value


_i0e_values = _in_float64(lambda x: _scaled_bessel_i(0, x))
_i1e_values = _in_float64(lambda x: _scaled_bessel_i(1, x))


def _sign(a):
    return ops.sign(a) if _is_tensor(a) else np.sign(a)


def _scaled_bessel_i_gap(ax: np.ndarray) -> np.ndarray:
    """``i1e(x) - i0e(x)`` for x >= 0 in float64: directly up to 30; beyond, the two asymptotic
    series subtracted term by term, since their first terms (both ``1 / sqrt(2 pi x)``) cancel
    exactly (the difference, about ``-i0e(x) / 2x``, would keep 1e-10 relative at x = 1e6)."""
    near = np.minimum(ax, 30.0)
    direct = _scaled_bessel_i(1, near) - _scaled_bessel_i(0, near)
    large = np.maximum(ax, 30.0)
    zeroth, first, gap = np.ones_like(large), np.ones_like(large), np.zeros_like(large)
    with np.errstate(over="ignore", invalid="ignore"):  # (8 k x overflows near 1e308: the terms are 0 there)
        for k in range(1, 30):  # (bessel_i_scaled_asymptotic's terms, of orders 0 and 1)
            zeroth = zeroth * (2 * k - 1) ** 2 / (8 * k * large)
            first = -first * (4 - (2 * k - 1) ** 2) / (8 * k * large)
            gap = gap + (first - zeroth)
        far = gap / (math.sqrt(2 * math.pi) * np.sqrt(large))
    return np.where(ax <= 30, direct, far)


def _i0e_slope(x, gap, i1e):
    """The derivative of i0e, ``i1e(x) - sign(x) i0e(x) = sign(x) gap(|x|)`` with ``gap(v) = i1e(v) -
    i0e(v)`` (and ``i1e``) on arrays or Tensors."""
    return _sign(x) * gap(abs(x))


def _i1e_slope(x, gap, i1e):
    """The derivative of i1e (an even function), ``i0e(x) - i1e(x) (1 + 1 / x) = -gap(x) - i1e(x) / x``
    at |x|; 1/2 at 0 (and below 1e-30: as I1's, 1/x overflows and i1e(x) is subnormal there)."""
    ax = abs(x)
    tiny = _values(ax) < _TINY_ARGUMENT
    xp = ops if _is_tensor(x) else np
    return xp.where(tiny, 0.5, -gap(ax) - i1e(ax) / xp.where(tiny, 1.0, ax))


class _ScaledBesselI(_ReadsItsOutput):
    """i0e or i1e; the derivative (``slope``) is taken in float64 on arrays, with the difference
    ``i1e - i0e``, which cancels for large |x|, from its series, and from these primitives on Tensors."""

    slope = staticmethod(_i0e_slope)

    @classmethod
    def backward(cls, ctx, grad):
        a, _ = ctx.saved_tensors
        if _is_tensor(a):  # (create_graph)
            return grad * cls.slope(a, lambda v: I1e.apply(v) - I0e.apply(v), I1e.apply)
        return grad * _in_float64(lambda x: cls.slope(x, _scaled_bessel_i_gap, lambda v: _scaled_bessel_i(1, v)))(a)


class I0e(_ScaledBesselI):
    """``exp(-|x|) I0(x)`` (``torch.special.i0e``); its derivative is ``i1e(x) - sign(x) i0e(x)``."""

    values, slope = staticmethod(_i0e_values), staticmethod(_i0e_slope)


class I1e(_ScaledBesselI):
    """``exp(-|x|) I1(x)`` (``torch.special.i1e``); its derivative is
    ``i0e(x) - i1e(x) (sign(x) + 1 / x)``, 1/2 at 0."""

    values, slope = staticmethod(_i1e_values), staticmethod(_i1e_slope)


# -- xlog1py, entr ---------------------------------------------------------------------------------------------------


class Xlog1py(Xlogy):
    """``x * log1p(y)``, 0 where x is 0 (unless y is nan), as ``torch.special.xlog1py``."""

    log, shift = staticmethod(np.log1p), 1


class Entr(Primitive):
    """The elementwise entropy ``-x log x`` (``torch.special.entr``): 0 at 0, -inf below 0;
    its derivative is ``-(1 + log x)`` (inf at 0, nan below, as PyTorch's)."""

    @staticmethod
    def forward(ctx, a):
        a = floating(a)
        ctx.save_for_backward(a)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(a > 0, -a * np.log(np.where(a > 0, a, 1)), np.where(a == 0, 0, -np.inf))
        return np.where(np.isnan(a), np.nan, out).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        with np.errstate(divide="ignore", invalid="ignore"):
            return grad * -(1 + np.log(a))


# -- zeta ------------------------------------------------------------------------------------------------------------


def _zeta64(s: np.ndarray, q: np.ndarray) -> np.ndarray:
    """The Hurwitz zeta function ``sum_k (q + k)**-s`` as Cephes (and PyTorch) define it: inf
    at s = 1, nan below, inf at the poles q = 0, -1, -2..., nan for q < 0 and a non-integer s.
    The sums are ``_hurwitz_zeta``'s (the existing ``polygamma``'s), once per distinct ``s``."""
    s, q = np.broadcast_arrays(np.asarray(s, np.float64), np.asarray(q, np.float64))
    out = np.full(s.shape, np.nan)
    pole = (q <= 0) & (q == np.floor(q))
    computable = (s > 1) & np.isfinite(s) & ~np.isnan(q) & ~pole & ((q > 0) | (s == np.floor(s)))
    for value in np.unique(s[computable]):
        where = computable & (s == value)
        out[where] = _hurwitz_zeta(float(value), q[where])
    out = np.where(np.isposinf(q), np.nan, out)
    out = np.where(pole & ~(s < 1), np.inf, out)  # (also for a nan s, as Cephes tests s < 1 first)
    out = np.where(s == 1, np.inf, out)
    # s = inf, as Cephes: 1 at q = 1, inf below (q**-inf), nan above
    return np.where(np.isposinf(s) & ~np.isnan(q), np.where(q == 1, 1.0, np.where(q < 1, np.inf, np.nan)), out)


class Zeta(Primitive):
    """The Hurwitz zeta function (``torch.special.zeta``). As PyTorch, the gradient in ``q``
    is ``-s zeta(s + 1, q)`` and there is none in ``s`` (backward raises if it is asked for)."""

    @staticmethod
    def forward(ctx, s, q):
        s, q = floating_pair(s, q)
        ctx.save_for_backward(s, q)
        dtype = np.result_type(s, q)
        return np.asarray(_zeta64(s, q)).astype(dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        s, q = ctx.saved_tensors
        if ctx.needs_input_grad[0]:
            raise NotImplementedError("the derivative of zeta with respect to its first argument (x, the "
                                      "exponent) is not implemented, as in PyTorch: detach it, e.g. "
                                      "mg.special.zeta(x.detach(), q)")
        if _is_tensor(q):
            shifted = Zeta.apply(_values(s) + 1, q)
        else:
            shifted = np.asarray(_zeta64(s + 1, q)).astype(np.result_type(s, q), copy=False)
        return None, grad * -_values(s) * shifted


# -- orthogonal polynomials (torch.special.chebyshev_polynomial_t ... legendre_polynomial_p) ------------------
# Each family is its three-term recurrence in y (x, or 2x - 1 for the shifted Chebyshev polynomials), written
# as PyTorch's kernels write it: P_0 = 1, P_1 = alpha + beta y, P_{k+1} = ((a + b y) P_k - c P_{k-1}) / d
# with (a, b, c, d) of k. Differentiated m times (Leibniz: y is linear), the same loop gives the m-th
# derivatives: ((a + b y) P_k^(m) + m b P_k^(m-1) - c P_{k-1}^(m)) / d, exact wherever the values are
# (x = +-1 included), to any order (so the gradient is differentiable again); d/dx = 2 d/dy when shifted.


def _chebyshev_step(k):
    return 0.0, 2.0, 1.0, 1.0


_POLYNOMIALS = {  # name: (shifted, (alpha, beta), step: k -> (a, b, c, d))
    **{f"{prefix}chebyshev_polynomial_{kind}": (prefix == "shifted_", first, _chebyshev_step)
       for prefix in ("", "shifted_")
       for kind, first in (("t", (0.0, 1.0)), ("u", (0.0, 2.0)), ("v", (-1.0, 2.0)), ("w", (1.0, 2.0)))},
    "hermite_polynomial_h": (False, (0.0, 2.0), lambda k: (0.0, 2.0, k + k, 1.0)),
    "hermite_polynomial_he": (False, (0.0, 1.0), lambda k: (0.0, 1.0, k, 1.0)),
    "laguerre_polynomial_l": (False, (1.0, -1.0), lambda k: (k + k + 1.0, -1.0, k, k + 1.0)),
    "legendre_polynomial_p": (False, (0.0, 1.0), lambda k: (0.0, k + k + 1.0, k, k + 1.0)),
}


def _degrees(n) -> np.ndarray:
    """The degree of each element as PyTorch casts it: truncated toward zero; nan and inf
    (which its cast to int64 sends below zero) give -1, a polynomial of value 0."""
    n = np.asarray(n, dtype=np.float64)
    return np.where(np.isfinite(n), np.trunc(n), -1.0).astype(np.int64)


def _polynomial(name: str, x: np.ndarray, n, order: int = 0):
    """The values (``order`` 0) or ``order``-th derivatives in x of polynomial family ``name`` of
    degrees ``n`` at ``x``, in float64, broadcast; 0 for a negative degree, as PyTorch's."""
    shifted, (alpha, beta), step = _POLYNOMIALS[name]
    x, n = np.broadcast_arrays(np.asarray(x, dtype=np.float64), _degrees(n))
    y = x + x - 1.0 if shifted else x
    # the derivatives 0..order in y of P_{k-1} (p) and P_k (q)
    p = [np.ones_like(y)] + [np.zeros_like(y)] * order
    q = ([alpha + beta * y, np.full_like(y, beta)] + [np.zeros_like(y)] * order)[:order + 1]
    out = np.where(n == 0, p[order], 0.0)
    out = np.where(n == 1, q[order], out)
    with np.errstate(over="ignore", invalid="ignore"):  # (high degrees overflow to inf, as PyTorch's)
        for k in range(1, int(n.max(initial=0))):  # P_{k+1} from P_{k-1} and P_k
            a, b, c, d = step(k)
            r = []
            for m in range(order + 1):
                term = (a + b * y) * q[m]
                if m:
                    term = term + m * b * q[m - 1]
                r.append((term - c * p[m]) / d)
            p, q = q, r
            out = np.where(n == k + 1, q[order], out)
    return out * 2.0**order if shifted else out


class OrthogonalPolynomial(Primitive):
    """One of torch.special's orthogonal polynomials, ``P_n(x)`` (``family`` names it), or its
    ``order``-th derivative in x. Its gradient in ``x`` is the next derivative (PyTorch's result has
    none); the degree ``n`` has none (backward raises if one is asked for)."""

    @staticmethod
    def forward(ctx, x, n, family, order=0):
        x, n = floating_pair(x, n)
        ctx.family, ctx.order = family, order
        ctx.save_for_backward(x, n)
        dtype = np.result_type(x, n)
        return np.asarray(_polynomial(family, x, n, order)).astype(dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        x, n = ctx.saved_tensors
        if ctx.needs_input_grad[1]:
            raise NotImplementedError(f"{ctx.family}: n is a degree (an integer), with no derivative; detach it, "
                                      f"e.g. mg.special.{ctx.family}(x, n.detach())")
        if _is_tensor(x):  # (create_graph: the next derivative, itself a differentiable primitive)
            return grad * OrthogonalPolynomial.apply(x, _values(n), family=ctx.family, order=ctx.order + 1), None
        slope = _polynomial(ctx.family, x, n, ctx.order + 1)
        return grad * slope.astype(np.result_type(x, n), copy=False), None


# -- Bessel functions of integer order (torch.special.bessel_j0 ... spherical_bessel_j0) -----------------------
# Computed from their integral representations, whose quadratures converge exponentially (the
# trapezoidal rule on a smooth periodic integrand, Gauss-Legendre elsewhere), and from
# Hankel's asymptotic expansion for large arguments: about 1e-15 of max(1, |value|) in float64.

_GAUSS_NODES, _GAUSS_WEIGHTS = np.polynomial.legendre.leggauss(200)
_HANKEL_FROM = 25.0  # (beyond it the asymptotic series is exact to rounding with 40 terms)


def _gauss(f, length: np.ndarray) -> np.ndarray:
    """``int_0^length f(t) dt`` for each element of ``length`` (``f`` takes the nodes, one row per element)."""
    nodes = length[..., None] * ((_GAUSS_NODES + 1.0) / 2.0)
    return (f(nodes) @ _GAUSS_WEIGHTS) * (length / 2.0)


def _hankel(order: int, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(J_order(x), Y_order(x))`` for x >= 25 from Hankel's expansion ``sqrt(2 / (pi x)) (P cos
    chi -+ Q sin chi)``, ``chi = x - (order / 2 + 1 / 4) pi``."""
    mu = 4.0 * order * order
    p, q, term = np.ones_like(x), np.zeros_like(x), np.ones_like(x)
    for k in range(1, 40):
        term = term * (mu - (2 * k - 1) ** 2) / (8.0 * k * x)
        sign = 1.0 if (k // 2) % 2 == 0 else -1.0
        if k % 2:
            q = q + sign * term
        else:
            p = p + sign * term
    # cos and sin of chi from those of x, which NumPy reduces exactly: x - (order / 2 + 1 / 4) pi itself
    # would round x's last bits away (at x = 1e15, the whole phase)
    cos, sin = np.cos(x), np.sin(x)
    cos_chi, sin_chi = (cos + sin, sin - cos) if order == 0 else (sin - cos, -(sin + cos))
    amplitude = np.sqrt(1.0 / (math.pi * x))  # (sqrt(2 / (pi x)), times the 1 / sqrt 2 of the angle sums)
    return amplitude * (p * cos_chi - q * sin_chi), amplitude * (p * sin_chi + q * cos_chi)


_LOG_2 = math.log(2.0)
_SERIES_UP_TO = 2.0  # (below it the power series, whose terms shrink from the first, are exact to rounding)


def _bessel_series(order: int, x: np.ndarray, second_kind: bool) -> np.ndarray:
    """J_order(x), or Y_order(x) with ``second_kind``, for |x| <= 2 from their power series in
    q = x^2/4: ``J_n = (x/2)^n sum_k (-q)^k / (k! (k+n)!)``, ``Y_0 = (2/pi) (ln(x/2) + gamma) J_0 +
    (2/pi) sum_k (-1)^(k+1) H_k q^k / k!^2``, ``Y_1 = -2/(pi x) + (2/pi) ln(x/2) J_1 - (x/(2 pi))
    sum_k (-1)^k (psi(k+1) + psi(k+2)) q^k / (k! (k+1)!)``."""
    minus_q = -(x * x) / 4.0
    term, harmonic = np.ones_like(x), 0.0
    j_sum = np.ones_like(x)
    y_sum = np.zeros_like(x) if order == 0 else (1.0 - 2.0 * _EULER_GAMMA) * term
    for k in range(1, 30):
        term = term * minus_q / (k * (k + order))
        harmonic += 1.0 / k
        j_sum = j_sum + term
        y_sum = y_sum + (-harmonic if order == 0 else 2.0 * (harmonic - _EULER_GAMMA) + 1.0 / (k + 1)) * term
    j = j_sum if order == 0 else x / 2.0 * j_sum
    if not second_kind:
        return j
    with np.errstate(divide="ignore"):
        log_half = np.log(x) - _LOG_2  # (x / 2 would round a subnormal x, or make it 0)
        if order == 0:
            return 2.0 / math.pi * ((log_half + _EULER_GAMMA) * j + y_sum)
        return -(2.0 / math.pi) / x + 2.0 / math.pi * log_half * j - x / (2.0 * math.pi) * y_sum


def _bessel_j(order: int, x: np.ndarray) -> np.ndarray:
    """J_0 or J_1 in float64: the power series up to |x| = 2, ``(1 / pi) int_0^pi cos(order t - x
    sin t) dt`` by the trapezoidal rule (64 intervals: exact to rounding) up to 25, Hankel's
    expansion beyond; nan at +-inf, as PyTorch's."""
    ax = np.abs(x)
    near = np.clip(ax, _SERIES_UP_TO, _HANKEL_FROM)
    t = np.linspace(0.0, math.pi, 65)
    weights = np.full(65, 1.0 / 64)
    weights[[0, -1]] = 0.5 / 64
    with np.errstate(invalid="ignore"):
        value = np.cos(order * t - near[..., None] * np.sin(t)) @ weights
        value = np.where(ax <= _SERIES_UP_TO, _bessel_series(order, np.minimum(ax, _SERIES_UP_TO), False),
                         np.where(ax <= _HANKEL_FROM, value, _hankel(order, np.maximum(ax, _HANKEL_FROM))[0]))
    value = np.where(np.isinf(ax), np.nan, value)
    return np.where(x < 0, (-1.0) ** order * value, value)  # (J_0 is even, J_1 odd)


def _bessel_y(order: int, x: np.ndarray) -> np.ndarray:
    """Y_0 or Y_1 in float64 for x > 0 (-inf at 0, nan below and at inf, as PyTorch's): the series
    up to 2, ``(1 / pi) int_0^pi sin(x sin t - order t) dt - (1 / pi) int_0^inf (e^(order t) +
    (-1)^order e^(-order t)) e^(-x sinh t) dt`` by Gauss-Legendre quadrature up to 25, Hankel's
    expansion beyond."""
    positive = np.where(x > 0, x, 1.0)
    near = np.clip(positive, _SERIES_UP_TO, _HANKEL_FROM)
    with np.errstate(over="ignore", invalid="ignore"):
        oscillating = _gauss(lambda t: np.sin(near[..., None] * np.sin(t) - order * t), np.full_like(near, math.pi))
        decaying = _gauss(lambda t: (np.exp(order * t) + (-1.0) ** order * np.exp(-order * t))
                          * np.exp(-near[..., None] * np.sinh(t)), np.arcsinh(45.0 / near))
        value = (oscillating - decaying) / math.pi
        value = np.where(positive <= _SERIES_UP_TO, _bessel_series(order, np.minimum(positive, _SERIES_UP_TO), True),
                         np.where(positive <= _HANKEL_FROM, value,
                                  _hankel(order, np.maximum(positive, _HANKEL_FROM))[1]))
    return np.where(x > 0, np.where(np.isposinf(x), np.nan, value), np.where(x == 0, -np.inf, np.nan))


def _bessel_k_series(order: int, x: np.ndarray) -> np.ndarray:
    """K_0 or K_1 for 0 < x <= 1 from their series: ``K_0 = -(ln(x/2) + gamma) I_0 + sum_k H_k q^k / k!^2``
    and ``K_1 = 1/x + ln(x/2) I_1 - (x/4) sum_k (psi(k+1) + psi(k+2)) q^k / (k! (k+1)!)``, q = x^2/4."""
    quarter_square, log_half = x * x / 4.0, np.log(x) - _LOG_2
    term, harmonic = np.ones_like(x), 0.0
    if order == 0:
        total = np.zeros_like(x)
        for k in range(1, 30):
            term = term * quarter_square / (k * k)
            harmonic += 1.0 / k
            total = total + harmonic * term
        return -(log_half + _EULER_GAMMA) * _bessel_i(0, x) + total
    total = (2.0 * -_EULER_GAMMA + 1.0) * term  # (psi(1) + psi(2) at k = 0)
    for k in range(1, 30):
        term = term * quarter_square / (k * (k + 1))
        harmonic += 1.0 / k
        total = total + (2.0 * (harmonic - _EULER_GAMMA) + 1.0 / (k + 1)) * term
    return 1.0 / x + log_half * _bessel_i(1, x) - x / 4.0 * total


def _scaled_bessel_k_integral(order: float, x: np.ndarray) -> np.ndarray:
    """``e^x K_order(x) = int_0^inf e^(-x (cosh t - 1)) cosh(order t) dt`` for x >= 1 by the
    trapezoidal rule on the even integrand (exponentially convergent), up to where it is e^-45."""
    end = 2.0 * np.arcsinh(np.sqrt(22.5 / x))  # arccosh(1 + 45 / x), without 1 + 45 / x rounding to 1
    t = end[..., None] * np.linspace(0.0, 1.0, 161)
    weights = np.ones(161)
    weights[[0, -1]] = 0.5
    integrand = np.exp(-x[..., None] * (2.0 * np.sinh(t / 2.0) ** 2))
    if order:
        integrand = integrand * np.cosh(order * t)
    return (integrand @ weights) * (end / 160.0)


def _bessel_k(order: int, x: np.ndarray, scaled: bool) -> np.ndarray:
    """K_0 or K_1 in float64 (times e^x when ``scaled``); inf at 0, nan below 0. Up to 1 the
    series; beyond, ``int_0^inf e^(-x (cosh t - 1)) cosh(order t) dt`` (times e^-x unscaled) by
    the trapezoidal rule on the even integrand, up to where it is e^-45."""
    positive = np.where((x > 1.0) & np.isfinite(x), x, 2.0)
    near = np.where((x > 0) & (x <= 1.0), x, 1.0)
    with np.errstate(over="ignore", under="ignore"):
        far = _scaled_bessel_k_integral(order, positive)
        series = _bessel_k_series(order, near)
        value = np.where(x <= 1.0, series * np.exp(near) if scaled else series,
                         far if scaled else far * np.exp(-positive))
    value = np.where(np.isposinf(x), 0.0, value)
    return np.where(x == 0, np.inf, np.where((x < 0) | np.isnan(x), np.nan, value))


def _spherical_bessel_j0(x: np.ndarray) -> np.ndarray:
    """sin(x) / x, 1 at 0 (the series below |x| = 1e-4, where it is exact to rounding)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(np.abs(x) < 1e-4, 1.0 - x * x / 6.0, np.where(np.isinf(x), 0.0, np.sin(x) / x))


def _bessel_values(function: str, x: np.ndarray) -> np.ndarray:
    kind, order, scaled = function.rstrip("01"), int(function[-1]), function.startswith("scaled")
    if kind == "bessel_j":
        return _bessel_j(order, x)
    if kind == "bessel_y":
        return _bessel_y(order, x)
    if kind == "spherical_bessel_j":
        return _spherical_bessel_j0(x)
    return _bessel_k(order, x, scaled)


#: j_1(x) = x sum_k (-1)^k 2 (k + 1) x^(2k) / (2k + 3)!, to rounding for |x| < 1/2
_SPHERICAL_J1_SERIES = tuple((-1) ** k * 2 * (k + 1) / math.factorial(2 * k + 3) for k in range(10))


def _bessel_slope(function: str, x, values):
    """The derivative of ``function`` at ``x``, from the recurrences of the Bessel functions;
    ``values(name, x)`` gives the Bessel function ``name``: on arrays, or on Tensors (through the
    ``Bessel`` primitive), where the derivative must be differentiable again (``create_graph``)."""
    xp = ops if _is_tensor(x) else np
    data = _values(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        if function == "spherical_bessel_j0":  # -j_1(x) = (cos x - j_0(x)) / x, from its series below 1/2
            small = np.abs(data) < 0.5  # (where cos x - j_0(x), about -x^2 / 3, cancels)
            safe = xp.where(small, 1.0, x)
            square, series = x * x, 0.0
            for coefficient in reversed(_SPHERICAL_J1_SERIES):
                series = series * square + coefficient
            return xp.where(small, -x * series, (xp.cos(safe) - values(function, safe)) / safe)
        other = {"0": "1", "1": "0"}
        value, partner = values(function, x), values(function[:-1] + other[function[-1]], x)
        if function in ("bessel_j0", "bessel_y0"):
            return -partner
        if function == "bessel_j1":  # J_1' = J_0 - J_1 / x; 1/2 - 3 x^2 / 16 at 0 (for its derivatives there)
            at_zero = data == 0
            return xp.where(at_zero, 0.5 - 0.1875 * (x * x), partner - value / xp.where(at_zero, 1.0, x))
        if function == "bessel_y1":
            return partner - value / x  # (as J_1's)
        sign = 1.0 if function.startswith("scaled") else 0.0  # (e^x K)' = e^x K + e^x K'
        if function.endswith("0"):
            return sign * value - partner  # K_0' = -K_1
        return sign * value - partner - value / x  # K_1' = -K_0 - K_1 / x


class Bessel(Primitive):
    """One of torch.special's Bessel functions (``function`` names it), with its derivative
    from the Bessel recurrences (PyTorch's result has no gradient)."""

    @staticmethod
    def forward(ctx, x, function):
        x = floating(x)
        ctx.function = function
        ctx.save_for_backward(x)
        return _in_float64(lambda values: _bessel_values(function, values))(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        if _is_tensor(x):  # (create_graph: the slope from Bessel primitives, itself differentiable)
            return grad * _bessel_slope(ctx.function, x, lambda function, at: Bessel.apply(at, function=function))
        return grad * _in_float64(lambda values: _bessel_slope(ctx.function, values, _bessel_values))(x)


# -- the Airy function Ai (torch.special.airy_ai) --------------------------------------------------------------
_AI_0, _MINUS_AI_PRIME_0 = 0.355028053887817239260063186004, 0.258819403792806798405183560189  # Ai(0), -Ai'(0)


def _airy_series(x: np.ndarray, derivative: bool) -> np.ndarray:
    """Ai(x) (or Ai'(x)) for |x| <= 2 from its Maclaurin series ``Ai(0) f(x) + Ai'(0) g(x)``,
    ``f = sum_k x^(3k) / (2*3 5*6 ... (3k-1)(3k))``, ``g = sum_k x^(3k+1) / (3*4 6*7 ... (3k)(3k+1))``."""
    cube = x * x * x
    if derivative:  # f' and g', term by term
        f_term, g_term = x * x / 2.0, np.ones_like(x)
        f_sum, g_sum = f_term, g_term
        for k in range(2, 40):
            f_term = f_term * cube / (3.0 * (k - 1) * (3 * k - 1))
            f_sum = f_sum + f_term
        for k in range(1, 40):
            g_term = g_term * cube / ((3 * k - 2) * (3.0 * k))
            g_sum = g_sum + g_term
        return _AI_0 * f_sum - _MINUS_AI_PRIME_0 * g_sum
    f_term, g_term = np.ones_like(x), x.copy()
    f_sum, g_sum = f_term, g_term
    for k in range(1, 40):
        f_term = f_term * cube / ((3 * k - 1) * (3.0 * k))
        g_term = g_term * cube / ((3.0 * k) * (3 * k + 1))
        f_sum, g_sum = f_sum + f_term, g_sum + g_term
    return _AI_0 * f_sum - _MINUS_AI_PRIME_0 * g_sum


def _bessel_j_fraction(order: float, z: np.ndarray) -> np.ndarray:
    """J_order(z) for a fractional order and 0 < z <= 16: ``(1 / pi) int_0^pi cos(order t - z sin t) dt
    - (sin(order pi) / pi) int_0^inf e^(-z sinh t - order t) dt``, by Gauss-Legendre quadrature."""
    oscillating = _gauss(lambda t: np.cos(order * t - z[..., None] * np.sin(t)), np.full_like(z, math.pi))
    decaying = _gauss(lambda t: np.exp(-z[..., None] * np.sinh(t) - order * t), np.arcsinh(45.0 / z))
    return (oscillating - math.sin(order * math.pi) * decaying) / math.pi


def _airy_oscillating(y: np.ndarray, derivative: bool) -> np.ndarray:
    """Ai(-y) (or Ai'(-y)) for y >= 8 from the asymptotic expansion in zeta = (2/3) y^(3/2), with the
    coefficients u_k (and v_k = -(6k+1)/(6k-1) u_k for the derivative): exact to rounding there."""
    zeta = 2.0 / 3.0 * y**1.5
    even, odd, u = np.ones_like(y), np.zeros_like(y), 1.0
    for k in range(1, 40):
        u = u * (6 * k - 5) * (6 * k - 3) * (6 * k - 1) / ((2 * k - 1) * 216.0 * k)
        term = (-(6 * k + 1) / (6 * k - 1) * u if derivative else u) / zeta**k
        if k % 2:
            odd = odd + (1.0 if (k // 2) % 2 == 0 else -1.0) * term
        else:
            even = even + (1.0 if (k // 2) % 2 == 0 else -1.0) * term
    phase = zeta + math.pi / 4.0
    if derivative:
        return -(np.cos(phase) * even + np.sin(phase) * odd) * y**0.25 / math.sqrt(math.pi)
    return (np.sin(phase) * even - np.cos(phase) * odd) / (math.sqrt(math.pi) * y**0.25)


def _airy(x: np.ndarray, derivative: bool = False) -> np.ndarray:
    """Ai(x) (or Ai'(x)) in float64: the series for |x| <= 2; beyond, ``sqrt(x/3) K_(1/3)(zeta) / pi``
    (``-x K_(2/3)(zeta) / (pi sqrt 3)``) with K by the trapezoidal rule, zeta = (2/3) x^(3/2); for x
    below -2, ``sqrt(y)/3 (J_(1/3) + J_(-1/3))(zeta)`` (``y/3 (J_(2/3) - J_(-2/3))``) of y = -x, and the
    asymptotic expansion below -8. nan at +-inf, as PyTorch's."""
    series = _airy_series(np.clip(x, -2.0, 2.0), derivative)
    right = np.where(x > 2.0, np.minimum(x, 300.0), 4.0)  # (Ai, Ai' are 0 from 110 on; zeta overflows past 1e205)
    zeta = 2.0 / 3.0 * right**1.5
    order = 2.0 / 3.0 if derivative else 1.0 / 3.0
    with np.errstate(under="ignore", over="ignore"):
        scaled_k = _scaled_bessel_k_integral(order, zeta)
        decaying = (-right / (math.pi * math.sqrt(3.0)) if derivative else np.sqrt(right / 3.0) / math.pi) * (
            scaled_k * np.exp(-zeta))
    left = np.clip(-x, 2.0, 8.0)
    zeta_left = 2.0 / 3.0 * left**1.5
    if derivative:
        middle = left / 3.0 * (_bessel_j_fraction(order, zeta_left) - _bessel_j_fraction(-order, zeta_left))
    else:
        middle = np.sqrt(left) / 3.0 * (_bessel_j_fraction(order, zeta_left) + _bessel_j_fraction(-order, zeta_left))
    far = _airy_oscillating(np.maximum(-x, 8.0), derivative)
    value = np.where(x > 2.0, decaying, np.where(x >= -2.0, series, np.where(x >= -8.0, middle, far)))
    return np.where(np.isinf(x), np.nan, value)


class Airy(Primitive):
    """The Airy function Ai (``torch.special.airy_ai``), or with ``derivative`` its derivative Ai',
    whose own derivative is ``x Ai(x)`` (the Airy equation), so that every order is differentiable
    (PyTorch's result has no gradient)."""

    @staticmethod
    def forward(ctx, x, derivative=False):
        x = floating(x)
        ctx.derivative = derivative
        ctx.save_for_backward(x)
        return _in_float64(lambda values: _airy(values, derivative))(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        if ctx.derivative:
            return grad * x * (Airy.apply(x) if _is_tensor(x) else _in_float64(_airy)(x))
        return grad * (Airy.apply(x, derivative=True) if _is_tensor(x)
                       else _in_float64(lambda values: _airy(values, derivative=True))(x))
