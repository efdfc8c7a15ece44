"""Accuracy of ``mg.polygamma`` / ``mg.special.zeta`` (the Hurwitz zeta sums behind them) against
mpmath to a few ulps, and the edges of the Bessel functions against PyTorch. The references
are mpmath's ``polygamma`` (its ``zeta(s, q)`` loses digits at large q unless the working
precision is raised far beyond the result's) and torch.special."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

import microgradnp as mg

RNG = np.random.default_rng(11)
POSITIVE = np.concatenate([np.logspace(-3, 6, 25), RNG.uniform(0, 1, 6), RNG.uniform(9, 45, 10), [0.5, 1.0, 1e6]])


def _mp():
    return pytest.importorskip("mpmath")


def _polygamma_reference(n: int, x: np.ndarray, dps: int = 40) -> np.ndarray:
    mpmath = _mp()
    with mpmath.workdps(dps):
        return np.array([float(mpmath.polygamma(n, mpmath.mpf(float(v)))) for v in x])


def _max_relative_error(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.max(np.abs(got - want) / np.abs(want)))


@pytest.mark.parametrize("n", [2, 5, 10, 20, 30])
def test_polygamma_is_accurate_for_large_orders(n):
    # the Euler-Maclaurin tail started at q = 10 was off by 6e-14 at n = 10 and 4e-6 at n = 30
    got = mg.polygamma(n, mg.tensor(POSITIVE)).data
    assert _max_relative_error(got, _polygamma_reference(n, POSITIVE)) < 1e-14


@pytest.mark.parametrize("s", [3.0, 11.0, 31.0])
def test_zeta_at_integer_orders_is_accurate(s):
    got = mg.special.zeta(mg.tensor(np.full_like(POSITIVE, s)), mg.tensor(POSITIVE)).data
    n = int(s) - 1
    want = _polygamma_reference(n, POSITIVE) * (-1) ** (n + 1) / math.factorial(n)
    assert _max_relative_error(got, want) < 1e-14


def test_polygamma_gradient_is_the_next_order():
    torch = pytest.importorskip("torch")
    x = np.array([0.05, 0.7, 3.0, 10.3, 17.5, 250.0])
    ours = mg.tensor(x, requires_grad=True)
    mg.polygamma(10, ours).sum().backward()
    assert _max_relative_error(ours.grad, _polygamma_reference(11, x)) < 1e-14
    theirs = torch.tensor(x, requires_grad=True)
    torch.polygamma(10, theirs).sum().backward()
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-13)


@pytest.mark.parametrize("n", [2, 3, 10])
def test_polygamma_below_zero(n):
    # mpmath needs many digits here: the terms on both sides of 0 cancel
    x = np.array([-0.3, -4.9, -811.5, -1e4 - 0.5, -1e4 - 0.3])
    got = mg.polygamma(n, mg.tensor(x)).data
    assert _max_relative_error(got, _polygamma_reference(n, x, dps=60 + 10 * n)) < 1e-13


def test_polygamma_far_below_zero_is_accurate_and_fast():
    # summing the terms below 0 one by one took time in proportion to |x| (hours at -1e12) and
    # cancelled to garbage: -1.086e-14 at -1e7 - 0.5 (as torch's) for -9.999998e-15. At a
    # half-integer, the reflection formula gives polygamma(2, x) = polygamma(2, 1 - x).
    x = np.array([-1e7 - 0.5, -1e12 - 0.5])
    start = time.perf_counter()
    got = mg.polygamma(2, mg.tensor(x)).data
    assert time.perf_counter() - start < 1.0
    assert _max_relative_error(got, _polygamma_reference(2, 1 - x)) < 1e-14


@pytest.mark.parametrize("name", ["i0", "i1", "i0e", "i1e"])
def test_bessel_functions_at_the_largest_arguments(name):
    # sqrt(2 pi x) overflowed past x = 2.8e307: nan for i0/i1 instead of +-inf, 0 for i0e/i1e
    torch = pytest.importorskip("torch")
    x = np.array([1e308, -1e308, 3e307, -1.7e308, 1e300])
    got = getattr(mg.special, name)(mg.tensor(x)).data
    want = getattr(torch.special, name)(torch.tensor(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-14)


@pytest.mark.parametrize("name", ["i1", "i1e"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bessel_gradient_at_the_tiniest_arguments(name, dtype):
    # I1(x) / x went through subnormals (1 or 0 at 5e-324) and 1 / x overflowed (-inf at 1e-310)
    torch = pytest.importorskip("torch")
    x = np.array([5e-324, -5e-324, 1e-310, -1e-310, 1e-40, 1e-31, 1e-29, 0.0, 0.25], dtype=dtype)
    ours = mg.tensor(x, requires_grad=True)
    getattr(mg.special, name)(ours).sum().backward()
    theirs = torch.tensor(x, requires_grad=True)
    getattr(torch.special, name)(theirs).sum().backward()
    assert ours.grad.dtype == dtype
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-6 if dtype == np.float32 else 1e-14)


def test_zeta_at_a_huge_order():
    # the rising factorial s (s + 1) ... of the tail overflowed to inf for s = 1e300, and inf * 0 made nan
    torch = pytest.importorskip("torch")
    s = np.array([1e300, 1e300, 1e300, 1e300, 1e20, 600.0])
    q = np.array([1.0, 0.5, 1e-300, -0.99999, 1.0, 1.001])
    got = mg.special.zeta(mg.tensor(s), mg.tensor(q)).data
    np.testing.assert_allclose(got, torch.special.zeta(torch.tensor(s), torch.tensor(q)).numpy(), rtol=1e-13)


@pytest.mark.parametrize("name", ["gammainc", "gammaincc"])
def test_incomplete_gamma_at_an_infinite_shape(name):
    # a = inf crashed (OverflowError: its step count was inf); P(inf, inf) is nan in PyTorch
    torch = pytest.importorskip("torch")
    a, x = np.array([np.inf, np.inf, np.inf, np.inf, 0.5]), np.array([0.0, 1.0, np.inf, 1e300, 2.0])
    got = getattr(mg.special, name)(mg.tensor(a), mg.tensor(x)).data
    np.testing.assert_allclose(got, getattr(torch.special, name)(torch.tensor(a), torch.tensor(x)).numpy(), rtol=1e-14)


def test_sinc_gradient_near_zero_and_gammaln_beyond_the_float_range():
    # sin(pi x) / (pi x) cancels near 0: the gradient was -inf at 1e-200 and nan at 1e-310
    x = mg.tensor([1e-310, 1e-200, 1e-9, 5e-5, 0.0, 0.3], requires_grad=True)
    value = mg.sinc(x)
    value.sum().backward()
    exact = -np.pi**2 * x.data / 3 + np.pi**4 * x.data**3 / 30  # the Taylor series of the derivative
    np.testing.assert_allclose(x.grad[:5], exact[:5], rtol=1e-12, atol=0)
    s = np.pi * 0.3
    np.testing.assert_allclose(x.grad[5], (np.cos(s) * s - np.sin(s)) / s**2 * np.pi, rtol=1e-13)
    np.testing.assert_allclose(value.data, np.sinc(x.data), rtol=1e-15)
    values = mg.special.gammaln(mg.tensor([1e308, 2.6e305, 5.0]))  # math.lgamma raised OverflowError
    np.testing.assert_array_equal(values.data[:2], np.inf)
    assert values.data[2] == pytest.approx(np.log(24.0), rel=1e-15)


def test_gammainc_of_a_huge_a_is_computed_at_once():
    # a = 1e300 once ran the series for about 1e150 steps: the uniform expansion gives P(a, a) -> 1/2
    for function in (mg.special.gammainc, mg.special.gammaincc):
        np.testing.assert_allclose(function(mg.tensor([1e300]), mg.tensor([1e300])).data, [0.5], rtol=1e-12)
    # the edges PyTorch defines still have their values
    np.testing.assert_array_equal(mg.special.gammainc(mg.tensor([np.inf, 1e300]), mg.tensor([1.0, 0.0])).data,
                                  [0.0, 0.0])
