"""``mg.special``: the functions of ``torch.special``, under its names and arguments.

Where microgradnp already has the function (``erf``, ``expm1``, ``sigmoid``, ``lgamma``,
``i0``, ``polygamma``, ``igamma``...), the name here is that same function, so every rule
is written once; the rest (``erfcx``, ``ndtr``, ``ndtri``, ``log_ndtr``, ``i0e``, ``i1e``,
``xlog1py``, ``entr``, ``zeta``) are primitives in ``microgradnp/ops/special_functions.py``
(``ndtr`` is ``erfc`` composed), and so are the orthogonal polynomials (``chebyshev_polynomial_t``
... ``legendre_polynomial_p``, one recurrence each) and the Bessel functions (``bessel_j0`` ...
``spherical_bessel_j0``; ``modified_bessel_i0``/``i1`` are ``i0``/``i1``) and ``airy_ai``. Each has the value and
gradient of PyTorch's in float64,
and keeps a float32 input's dtype (computing in float64 inside); integer inputs become the
default float dtype. As PyTorch, ``gammainc``/``gammaincc`` have no gradient in their first
argument and ``zeta`` none in its first: backward raises if one is asked for.

>>> import microgradnp as mg
>>> x = mg.tensor([-3.0, 0.5], requires_grad=True)
>>> mg.special.log_ndtr(x).sum().backward()
"""

from __future__ import annotations

import math

from microgradnp import ops
from microgradnp.ops import erf, erfc, exp2, expm1, log1p, sigmoid
from microgradnp.ops.out_argument import SPECIAL_TAKES_OUT, accept_out
from microgradnp.ops.special_functions import (
    Airy,
    Bessel,
    Entr,
    Erfcx,
    I0e,
    I1e,
    LogNdtr,
    Ndtri,
    OrthogonalPolynomial,
    Xlog1py,
    Zeta,
)
from microgradnp.ops.torch_math import _tensor, digamma, erfinv, lgamma, logit, sinc, xlogy
from microgradnp.ops.torch_more import i0, i1, igamma, igammac, mvlgamma, polygamma

__all__ = [
    "airy_ai",
    "bessel_j0",
    "bessel_j1",
    "bessel_y0",
    "bessel_y1",
    "chebyshev_polynomial_t",
    "chebyshev_polynomial_u",
    "chebyshev_polynomial_v",
    "chebyshev_polynomial_w",
    "digamma",
    "entr",
    "erf",
    "erfc",
    "erfcx",
    "erfinv",
    "exp2",
    "expit",
    "expm1",
    "gammainc",
    "gammaincc",
    "gammaln",
    "hermite_polynomial_h",
    "hermite_polynomial_he",
    "i0",
    "i0e",
    "i1",
    "i1e",
    "laguerre_polynomial_l",
    "legendre_polynomial_p",
    "log1p",
    "log_ndtr",
    "log_softmax",
    "logit",
    "logsumexp",
    "modified_bessel_i0",
    "modified_bessel_i1",
    "modified_bessel_k0",
    "modified_bessel_k1",
    "multigammaln",
    "ndtr",
    "ndtri",
    "polygamma",
    "psi",
    "round",
    "scaled_modified_bessel_k0",
    "scaled_modified_bessel_k1",
    "shifted_chebyshev_polynomial_t",
    "shifted_chebyshev_polynomial_u",
    "shifted_chebyshev_polynomial_v",
    "shifted_chebyshev_polynomial_w",
    "sinc",
    "softmax",
    "spherical_bessel_j0",
    "xlog1py",
    "xlogy",
    "zeta",
]

_SQRT1_2 = math.sqrt(0.5)

#: The logistic sigmoid (``torch.special.expit``).
expit = sigmoid
#: ``log|Gamma(x)|`` (``torch.special.gammaln``).
gammaln = lgamma
#: The digamma function (``torch.special.psi``).
psi = digamma
#: The regularized lower incomplete gamma function (``torch.special.gammainc``).
gammainc = igamma
#: The regularized upper incomplete gamma function (``torch.special.gammaincc``).
gammaincc = igammac
#: The log of the multivariate gamma function (``torch.special.multigammaln``).
multigammaln = mvlgamma
#: The modified Bessel function of the first kind of order 0 (``torch.special.modified_bessel_i0``).
modified_bessel_i0 = i0
#: The modified Bessel function of the first kind of order 1 (``torch.special.modified_bessel_i1``).
modified_bessel_i1 = i1

# (re-exported as they are: erf, erfc, erfinv, expm1, exp2, log1p, sinc, logit, xlogy, digamma,
# i0, i1, polygamma)
_REUSED = (erf, erfc, erfinv, expm1, exp2, log1p, sinc, logit, xlogy, digamma, i0, i1, polygamma)


def erfcx(input):  # noqa: A002  (PyTorch's argument name)
    """The scaled complementary error function ``exp(x**2) erfc(x)`` (``torch.special.erfcx``),
    without overflow or underflow for large x; gradient ``2 x erfcx(x) - 2 / sqrt(pi)``."""
    return Erfcx.apply(input)


def ndtr(input):  # noqa: A002
    """The standard normal CDF, ``(1 + erf(x / sqrt 2)) / 2`` (``torch.special.ndtr``),
    computed as ``erfc(-x / sqrt 2) / 2`` (relative accuracy in the left tail)."""
    return 0.5 * erfc(_tensor(input) * -_SQRT1_2)


def ndtri(input):  # noqa: A002
    """The inverse of ``ndtr`` (``torch.special.ndtri``): the x with ``ndtr(x) = p``, -inf at 0,
    inf at 1, nan outside [0, 1]; gradient ``sqrt(2 pi) exp(ndtri(p)**2 / 2)``."""
    return Ndtri.apply(input)


def log_ndtr(input):  # noqa: A002
    """``log(ndtr(x))`` (``torch.special.log_ndtr``), accurate far into the left tail (about
    ``-x**2 / 2``) and near 0 on the right."""
    return LogNdtr.apply(input)


def i0e(input):  # noqa: A002
    """The exponentially scaled Bessel function ``exp(-|x|) I0(x)`` (``torch.special.i0e``)."""
    return I0e.apply(input)


def i1e(input):  # noqa: A002
    """The exponentially scaled Bessel function ``exp(-|x|) I1(x)`` (``torch.special.i1e``)."""
    return I1e.apply(input)


def xlog1py(input, other):  # noqa: A002
    """``input * log1p(other)``, 0 where ``input`` is 0 (``torch.special.xlog1py``)."""
    return Xlog1py.apply(input, other)


def entr(input):  # noqa: A002
    """The elementwise entropy: ``-x log x`` for x > 0, 0 at 0, -inf below (``torch.special.entr``)."""
    return Entr.apply(input)


def zeta(input, other):  # noqa: A002
    """The Hurwitz zeta function ``sum_k (other + k)**-input`` (``torch.special.zeta``);
    differentiable in ``other`` only, as in PyTorch."""
    return Zeta.apply(input, other)


def _cast(input, dtype):  # noqa: A002
    x = _tensor(input)
    return x if dtype is None else ops.astype(x, dtype)


def logsumexp(input, dim, keepdim=False):  # noqa: A002
    """``log(sum(exp(input)))`` over ``dim`` without overflow (``torch.special.logsumexp``)."""
    return ops.logsumexp(input, axis=dim, keepdims=keepdim)


def softmax(input, dim, *, dtype=None):  # noqa: A002
    """The softmax over ``dim`` (``torch.special.softmax``); ``dtype`` casts the input first."""
    return ops.softmax(_cast(input, dtype), axis=dim)


def log_softmax(input, dim, *, dtype=None):  # noqa: A002
    """The log of the softmax over ``dim`` (``torch.special.log_softmax``)."""
    return ops.log_softmax(_cast(input, dtype), axis=dim)


def round(input, *, decimals=0):  # noqa: A001, A002
    """Round half to even, to ``decimals`` places (``torch.special.round``; gradient 0)."""
    return ops.round(input, decimals=decimals)




def _orthogonal_polynomial(family: str, description: str):
    def polynomial(input, n):  # noqa: A002  (PyTorch's argument names)
        return OrthogonalPolynomial.apply(input, n, family=family)

    polynomial.__name__ = polynomial.__qualname__ = family
    polynomial.__doc__ = (
        f"{description} of degree ``n`` at ``input`` (``torch.special.{family}``); ``input`` and ``n`` "
        "broadcast, ``n`` is truncated to an integer and a negative one gives 0, as PyTorch. Differentiable "
        "in ``input`` (the polynomial's derivative; PyTorch's result has no gradient), not in ``n``.")
    return polynomial


chebyshev_polynomial_t = _orthogonal_polynomial(
    "chebyshev_polynomial_t", "The Chebyshev polynomial of the first kind T_n")
chebyshev_polynomial_u = _orthogonal_polynomial(
    "chebyshev_polynomial_u", "The Chebyshev polynomial of the second kind U_n")
chebyshev_polynomial_v = _orthogonal_polynomial(
    "chebyshev_polynomial_v", "The Chebyshev polynomial of the third kind V_n")
chebyshev_polynomial_w = _orthogonal_polynomial(
    "chebyshev_polynomial_w", "The Chebyshev polynomial of the fourth kind W_n")
shifted_chebyshev_polynomial_t = _orthogonal_polynomial(
    "shifted_chebyshev_polynomial_t", "T_n(2x - 1), the shifted Chebyshev polynomial of the first kind")
shifted_chebyshev_polynomial_u = _orthogonal_polynomial(
    "shifted_chebyshev_polynomial_u", "U_n(2x - 1), the shifted Chebyshev polynomial of the second kind")
shifted_chebyshev_polynomial_v = _orthogonal_polynomial(
    "shifted_chebyshev_polynomial_v", "V_n(2x - 1), the shifted Chebyshev polynomial of the third kind")
shifted_chebyshev_polynomial_w = _orthogonal_polynomial(
    "shifted_chebyshev_polynomial_w", "W_n(2x - 1), the shifted Chebyshev polynomial of the fourth kind")
hermite_polynomial_h = _orthogonal_polynomial(
    "hermite_polynomial_h", "The physicists' Hermite polynomial H_n")
hermite_polynomial_he = _orthogonal_polynomial(
    "hermite_polynomial_he", "The probabilists' Hermite polynomial He_n")
laguerre_polynomial_l = _orthogonal_polynomial(
    "laguerre_polynomial_l", "The Laguerre polynomial L_n")
legendre_polynomial_p = _orthogonal_polynomial(
    "legendre_polynomial_p", "The Legendre polynomial P_n")


def _bessel(function: str, description: str):
    def bessel(input):  # noqa: A002  (PyTorch's argument name)
        return Bessel.apply(input, function=function)

    bessel.__name__ = bessel.__qualname__ = function
    bessel.__doc__ = (f"{description} (``torch.special.{function}``), about 1e-15 of max(1, |value|) in float64; "
                      "differentiable (PyTorch's result has no gradient).")
    return bessel


bessel_j0 = _bessel("bessel_j0", "The Bessel function of the first kind of order 0, J_0")
bessel_j1 = _bessel("bessel_j1", "The Bessel function of the first kind of order 1, J_1")
bessel_y0 = _bessel("bessel_y0", "The Bessel function of the second kind of order 0, Y_0 (-inf at 0, nan below)")
bessel_y1 = _bessel("bessel_y1", "The Bessel function of the second kind of order 1, Y_1 (-inf at 0, nan below)")
modified_bessel_k0 = _bessel("modified_bessel_k0", "The modified Bessel function of the second kind K_0 (inf at 0)")
modified_bessel_k1 = _bessel("modified_bessel_k1", "The modified Bessel function of the second kind K_1 (inf at 0)")
scaled_modified_bessel_k0 = _bessel("scaled_modified_bessel_k0", "exp(x) K_0(x), without underflow")
scaled_modified_bessel_k1 = _bessel("scaled_modified_bessel_k1", "exp(x) K_1(x), without underflow")
spherical_bessel_j0 = _bessel("spherical_bessel_j0", "The spherical Bessel function j_0(x) = sin(x) / x")


def airy_ai(input):  # noqa: A002  (PyTorch's argument name)
    """The Airy function Ai (``torch.special.airy_ai``), about 1e-14 of max(1, |value|) in float64 up to
    |x| = 1e3 (the phase of its oscillation, for large negative x, is known to a rounding of
    (2/3)|x|^(3/2) only); nan at +-inf. Differentiable (its derivative Ai'; PyTorch's result has no
    gradient)."""
    return Airy.apply(input)

accept_out(globals(), SPECIAL_TAKES_OUT)  # out=, as torch.special's functions take it
