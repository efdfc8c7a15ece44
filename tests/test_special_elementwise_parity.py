"""mg.special at the edges of its functions' domains, checked against mpmath (the ground truth)
and PyTorch: Bessel functions at subnormal and huge arguments, gradients in float32 and in
the tails, second derivatives (``create_graph``) of the functions PyTorch gives no gradient,
and the incomplete gamma functions for tiny and huge ``a``."""

import math

import numpy as np
import pytest

import microgradnp as mg

mpmath = pytest.importorskip("mpmath")


def _exact(function, points, dps=40):
    with mpmath.workdps(dps):
        return np.array([float(function(mpmath.mpf(float(x)))) for x in points])


def test_bessel_second_kind_at_subnormal_arguments():
    # log(x / 2) made these -inf (Y0, K0) or -inf * 0 = nan (Y1, K1): x / 2 rounds a subnormal x to 0
    x = np.array([5e-324, 1e-310, 3e-309])
    with mpmath.workdps(40):
        y0 = [float(mpmath.bessely(0, mpmath.mpf(v))) for v in x]
        k0 = [float(mpmath.besselk(0, mpmath.mpf(v))) for v in x]
    np.testing.assert_allclose(mg.special.bessel_y0(mg.tensor(x)).data, y0, rtol=1e-14)
    np.testing.assert_allclose(mg.special.modified_bessel_k0(mg.tensor(x)).data, k0, rtol=1e-14)
    np.testing.assert_allclose(mg.special.scaled_modified_bessel_k0(mg.tensor(x)).data, k0, rtol=1e-14)
    # -2 / (pi x) and 1 / x overflow: the limits, not nan
    assert mg.special.bessel_y1(mg.tensor(5e-324)).item() == -math.inf
    assert mg.special.modified_bessel_k1(mg.tensor(5e-324)).item() == math.inf
    y1 = float(mpmath.bessely(1, mpmath.mpf(3e-309)))
    assert mg.special.bessel_y1(mg.tensor(3e-309)).item() == pytest.approx(y1, rel=1e-14)


def test_scaled_modified_bessel_k_for_large_arguments():
    # the quadrature's end, arccosh(1 + 45 / x), was arccosh(1) = 0 from x = 1e17 on: the value 0
    x = np.array([1e17, 1e20, 1e100, 1e300, 1.7e308])
    for order in (0, 1):
        function = getattr(mg.special, f"scaled_modified_bessel_k{order}")
        exact = _exact(lambda v, order=order: mpmath.besselk(order, v) * mpmath.exp(v), x)
        np.testing.assert_allclose(function(mg.tensor(x)).data, exact, rtol=1e-14)


@pytest.mark.parametrize("name,order,kind", [("bessel_j0", 0, "j"), ("bessel_j1", 1, "j"),
                                             ("bessel_y0", 0, "y"), ("bessel_y1", 1, "y")])
def test_bessel_functions_keep_their_phase_for_huge_arguments(name, order, kind):
    # cos(x - pi/4) rounded x's last bits away: 1e-6 relative at 1e10, none of the digits at 1e15
    x = np.array([1e5, 1e10, 1e12, 1e15, 1e17])
    exact = _exact(lambda v: (mpmath.besselj if kind == "j" else mpmath.bessely)(order, v), x)
    np.testing.assert_allclose(getattr(mg.special, name)(mg.tensor(x)).data, exact, rtol=1e-13)


def test_airy_ai_is_zero_for_huge_arguments():
    # (2/3) x**1.5 overflowed past x = 1e205, and the quadrature gave nan
    x = mg.tensor([110.0, 1e210, 1e300, 1.7e308], requires_grad=True)
    value = mg.special.airy_ai(x)
    np.testing.assert_array_equal(value.data, 0.0)
    value.sum().backward()
    np.testing.assert_array_equal(x.grad, 0.0)


def test_spherical_bessel_j0_gradient_near_zero():
    # (cos x - sin x / x) / x cancelled: 3e-8 relative at x = 1.1e-4
    x = np.array([-0.3, 1e-6, 1.1e-4, 1e-3, 1e-2, 0.49, 0.51, 2.0])
    t = mg.tensor(x, requires_grad=True)
    mg.special.spherical_bessel_j0(t).sum().backward()
    exact = _exact(lambda v: mpmath.diff(lambda z: mpmath.sin(z) / z, v), x)
    np.testing.assert_allclose(t.grad, exact, rtol=1e-14)


SECOND_ORDER_POINTS = {  # function name -> points (PyTorch's results have no gradient: mpmath and gradgradcheck)
    "bessel_j0": [-3.0, 0.0, 0.7, 5.0, 40.0],
    "bessel_j1": [-3.0, 0.0, 0.7, 5.0, 40.0],
    "bessel_y0": [0.3, 2.5, 7.0, 40.0],
    "bessel_y1": [0.3, 2.5, 7.0, 40.0],
    "modified_bessel_k0": [0.3, 2.5, 7.0],
    "modified_bessel_k1": [0.3, 2.5, 7.0],
    "scaled_modified_bessel_k0": [0.3, 2.5, 7.0],
    "scaled_modified_bessel_k1": [0.3, 2.5, 7.0],
    "spherical_bessel_j0": [-2.0, 0.0, 0.3, 0.7, 6.0],
    "airy_ai": [-9.0, -3.0, 0.0, 1.5, 4.0],
}
MPMATH_FUNCTIONS = {
    "bessel_j0": lambda x: mpmath.besselj(0, x), "bessel_j1": lambda x: mpmath.besselj(1, x),
    "bessel_y0": lambda x: mpmath.bessely(0, x), "bessel_y1": lambda x: mpmath.bessely(1, x),
    "modified_bessel_k0": lambda x: mpmath.besselk(0, x), "modified_bessel_k1": lambda x: mpmath.besselk(1, x),
    "scaled_modified_bessel_k0": lambda x: mpmath.besselk(0, x) * mpmath.exp(x),
    "scaled_modified_bessel_k1": lambda x: mpmath.besselk(1, x) * mpmath.exp(x),
    "spherical_bessel_j0": lambda x: mpmath.sin(x) / x if x else mpmath.mpf(1), "airy_ai": mpmath.airyai,
}


@pytest.mark.parametrize("name", sorted(SECOND_ORDER_POINTS))
def test_bessel_and_airy_gradients_are_differentiable(name):
    # their backward worked on the arrays: with create_graph the gradient was a constant, so a
    # Hessian of e.g. bessel_j0(x) + x**3 silently missed bessel_j0's part
    function = getattr(mg.special, name)
    for point in SECOND_ORDER_POINTS[name]:
        x = mg.tensor([point], requires_grad=True)
        (first,) = mg.grad((function(x) + x**3).sum(), x, create_graph=True)
        (second,) = mg.grad(first.sum(), x)
        if name == "spherical_bessel_j0" and point == 0.0:
            exact = -1 / 3 + 6 * point  # (mpmath cannot differentiate sin(x) / x at 0)
        else:
            exact = float(mpmath.diff(MPMATH_FUNCTIONS[name], point, 2)) + 6 * point
        assert second.item() == pytest.approx(exact, rel=1e-8, abs=1e-12), (name, point)
        assert mg.gradgradcheck(function, (x,), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name", ["chebyshev_polynomial_t", "shifted_chebyshev_polynomial_v",
                                  "hermite_polynomial_h", "laguerre_polynomial_l", "legendre_polynomial_p"])
def test_polynomial_gradients_are_differentiable(name):
    # backward called np.result_type on Tensors under create_graph: a TypeError
    function = getattr(mg.special, name)
    n = mg.tensor([0.0, 1.0, 2.0, 5.0, 9.0])
    x = mg.tensor([0.3, -0.7, 0.9, 0.45, -0.2], requires_grad=True)
    (first,) = mg.grad(function(x, n).sum(), x, create_graph=True)
    (second,) = mg.grad(first.sum(), x, create_graph=True)
    (third,) = mg.grad(second.sum(), x)
    exact = {"chebyshev_polynomial_t": lambda k, v: mpmath.chebyt(k, v),
             "shifted_chebyshev_polynomial_v": lambda k, v: mpmath.chebyu(k, 2 * v - 1) - mpmath.chebyu(k - 1,
                                                                                                         2 * v - 1),
             "hermite_polynomial_h": lambda k, v: mpmath.hermite(k, v),
             "laguerre_polynomial_l": lambda k, v: mpmath.laguerre(k, 0, v),
             "legendre_polynomial_p": lambda k, v: mpmath.legendre(k, v)}[name]
    for order, ours in ((1, first), (2, second), (3, third)):
        expected = [float(mpmath.diff(lambda v, k=int(k): exact(k, v), float(v), order))
                    for k, v in zip(n.data, x.data)]
        np.testing.assert_allclose(ours.data, expected, rtol=1e-9, atol=1e-9, err_msg=f"{name}, derivative {order}")
    assert mg.gradgradcheck(lambda t: function(t, n), (x,), rtol=1e-5, atol=1e-8)


def _log_ndtr_slope(x):
    return mpmath.npdf(x) / mpmath.ncdf(x)


def _slope(function):
    return lambda x: mpmath.diff(function, x)


@pytest.mark.parametrize("name,points,exact", [
    ("log_ndtr", [-1e4, -700.0, -100.0, -5.0, 0.5, 5.0], _log_ndtr_slope),
    ("erfcx", [-5.0, 0.5, 5.0, 9.9, 10.1, 100.0, 1e4], _slope(lambda z: mpmath.exp(z * z) * mpmath.erfc(z))),
    ("i0e", [-1e4, -700.0, 0.5, 29.0, 31.0, 700.0], _slope(lambda z: mpmath.besseli(0, z) * mpmath.exp(-abs(z)))),
    ("i1e", [-1e4, -700.0, 0.5, 29.0, 31.0, 700.0], _slope(lambda z: mpmath.besseli(1, z) * mpmath.exp(-abs(z)))),
])
def test_float32_gradients_keep_float32_accuracy(name, points, exact):
    # their two terms cancel: computed in float32 they lost up to every digit (log_ndtr at -1e4)
    x = mg.tensor(np.array(points, dtype=np.float32), requires_grad=True)
    getattr(mg.special, name)(x).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad, _exact(exact, x.data), rtol=2e-7)


def test_log_ndtr_gradient_far_in_the_left_tail():
    # exp(-x**2 / 2 - log_ndtr(x)) / sqrt(2 pi): 7e-7 relative at -1e5, no digits at -1e10, nan at -1e200
    x = mg.tensor([-1e3, -1e5, -1e10, -1e200], requires_grad=True)
    mg.special.log_ndtr(x).sum().backward()
    np.testing.assert_allclose(x.grad[:3], _exact(_log_ndtr_slope, x.data[:3], dps=60), rtol=1e-14)
    assert x.grad[3] == pytest.approx(1e200, rel=1e-15)  # (-x - 1/x + ..., to rounding)


def test_erfcx_gradient_for_large_arguments():
    # 2 x erfcx(x) - 2 / sqrt(pi) cancels to rounding noise: 1.1e-16 where the slope is 5.6e-17 at 1e8
    points = [30.0, 1e4, 1e8, 1e12]
    x = mg.tensor(points, requires_grad=True)
    mg.special.erfcx(x).sum().backward()
    exact = _exact(lambda v: 2 * v * mpmath.exp(v * v) * mpmath.erfc(v) - 2 / mpmath.sqrt(mpmath.pi), points, dps=80)
    np.testing.assert_allclose(x.grad, exact, rtol=1e-14)


def test_gammaincc_for_small_a():
    # 1 - P with P near 1 kept no digit of Q: Q(1e-300, 0.5) was -2.4e-14, a negative probability
    a = np.array([1e-20, 1e-20, 1e-8, 1e-8, 1e-3, 0.3, 1.0])
    x = np.array([1e-5, 1e-300, 0.1, 1.0, 0.5, 0.05, 1.05])
    with mpmath.workdps(40):
        exact = [float(mpmath.gammainc(ai, xi, mpmath.inf, regularized=True)) for ai, xi in zip(a, x)]
        # (Gamma(a, x) / Gamma(a) = a E1(x) + O(a**2): exact to rounding at a = 1e-300, where mpmath takes seconds)
        a, x = np.append(a, 1e-300), np.append(x, 0.5)
        exact.append(1e-300 * float(mpmath.e1(0.5)))
    np.testing.assert_allclose(mg.special.gammaincc(mg.tensor(a), mg.tensor(x)).data, exact, rtol=1e-13)


def test_incomplete_gamma_for_large_a():
    # a log x - x - lgamma(a) cancelled to 1e-9 relative at a = 1e6, in the values and the gradient
    a = np.array([1e3, 1e4, 1e6, 1e6, 1e6])
    x = np.array([900.0, 1.02e4, 1e6, 9.97e5, 1.002e6])
    t = mg.tensor(x, requires_grad=True)
    mg.special.gammainc(mg.tensor(a), t).sum().backward()
    with mpmath.workdps(40):
        exact = [float(mpmath.gammainc(ai, 0, xi, regularized=True)) for ai, xi in zip(a, x)]
        density = [float(mpmath.exp((ai - 1) * mpmath.log(xi) - xi - mpmath.loggamma(ai))) for ai, xi in zip(a, x)]
    np.testing.assert_allclose(mg.special.gammainc(mg.tensor(a), mg.tensor(x)).data, exact, rtol=1e-12)
    np.testing.assert_allclose(t.grad, density, rtol=1e-13)


def test_incomplete_gamma_for_huge_a():
    # raised beyond a = 1e8 (PyTorch gives numbers there, but 3% off at a = 1e7, x = a - 5 sqrt(a), and a
    # factor 3.5 at a = 1e10): the uniform asymptotic expansion, against mpmath's quadrature of
    # P(a, x) = int_0^x t**(a-1) e**-t dt / Gamma(a), in pieces of sqrt(a) / 2 over 10 sqrt(a)
    for a in (1e7, 1e10):
        spread = math.sqrt(a)
        for k in (-5.0, 0.0, 3.0):
            upper = k > 0  # (the smaller tail, Q above a)
            x = a + k * spread
            ours = (mg.special.gammaincc if upper else mg.special.gammainc)(mg.tensor(a), mg.tensor(x)).item()
            with mpmath.workdps(20):
                def density(t, a=a):
                    return mpmath.exp((a - 1) * mpmath.log(t) - t - mpmath.loggamma(a))
                pieces = [x + j * spread / 2 * (1 if upper else -1) for j in range(21)]
                exact = float(mpmath.quad(density, pieces if upper else pieces[::-1]))
            assert ours == pytest.approx(exact, rel=1e-12), (a, k)
    # far out both tails underflow; P(a, a) tends to 1/2 (PyTorch: nan at a = 1e300)
    np.testing.assert_array_equal(mg.special.gammainc(mg.tensor([1e10, 1e10]), mg.tensor([0.5, 2e10])).data, [0.0, 1.0])
    assert mg.special.gammainc(mg.tensor(1e300), mg.tensor(1e300)).item() == 0.5


@pytest.mark.parametrize("order", [0, 1])
def test_scaled_bessel_i_gradients_for_large_arguments(order):
    # i1e(x) - i0e(x), in both derivatives, cancels: 2e-10 relative at 1e6, 3e-5 at 1e12 (PyTorch's too)
    x = np.array([-1e8, -31.0, 29.0, 100.0, 1e4, 1e6, 1e10, 1e12])
    t = mg.tensor(x, requires_grad=True)
    getattr(mg.special, f"i{order}e")(t).sum().backward()
    exact = _exact(lambda v: mpmath.diff(lambda z: mpmath.besseli(order, z) * mpmath.exp(-abs(z)), v), x)
    np.testing.assert_allclose(t.grad, exact, rtol=1e-13)


def test_polygamma_of_a_0d_tensor_below_zero():
    # the reflected Hurwitz sums were a NumPy scalar for a 0-d input, then assigned into: TypeError
    for n in (2, 3, 30):
        exact = float(mpmath.polygamma(n, mpmath.mpf(-2.3)))
        assert mg.special.polygamma(n, mg.tensor(-2.3)).item() == pytest.approx(exact, rel=1e-13)
        assert mg.tensor(-2.3).polygamma(n).item() == pytest.approx(exact, rel=1e-13)


def test_polygamma_of_orders_whose_factorial_overflows():
    # math.factorial(n) as a float overflowed from n = 171 on (OverflowError), where n! zeta(n + 1, x)
    # is still a float for x above about 2.5 (PyTorch: inf); (x where zeta(n + 1, x) is a normal float)
    x = np.array([3.7, 11.0, 20.0])
    for n in (171, 200):
        with mpmath.workdps(30):
            exact = [float(-((-1) ** n) * mpmath.factorial(n) * mpmath.zeta(n + 1, v)) for v in x]
        np.testing.assert_allclose(mg.special.polygamma(n, mg.tensor(x)).data, exact, rtol=1e-13)
    assert mg.special.polygamma(171, mg.tensor(0.5)).item() == math.inf
