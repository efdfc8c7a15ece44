"""torch.special's orthogonal polynomials: values against PyTorch (optional oracle) and known
values, the derivative in x against finite differences and closed forms, dtypes, broadcasting,
and the refusal of a gradient in the degree."""

from __future__ import annotations

import math

import numpy as np
import pytest

import microgradnp as mg

S = mg.special
NAMES = ["chebyshev_polynomial_t", "chebyshev_polynomial_u", "chebyshev_polynomial_v", "chebyshev_polynomial_w",
         "shifted_chebyshev_polynomial_t", "shifted_chebyshev_polynomial_u", "shifted_chebyshev_polynomial_v",
         "shifted_chebyshev_polynomial_w", "hermite_polynomial_h", "hermite_polynomial_he", "laguerre_polynomial_l",
         "legendre_polynomial_p"]
DEGREES = [-2, 0, 1, 2, 3, 5, 7, 9, 12, 20, 2.7, math.nan]


@pytest.mark.parametrize("name", NAMES)
def test_values_match_torch(torch, rng, name):
    x = np.concatenate([rng.uniform(-1.5, 1.5, 30), [0.0, 1.0, -1.0, 0.5, 2.0]])
    for n in DEGREES:
        ours = getattr(S, name)(mg.tensor(x), n).data
        theirs = getattr(torch.special, name)(torch.tensor(x), n).numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


def test_known_values():
    x = np.array([-0.7, 0.2, 0.9])
    np.testing.assert_allclose(S.chebyshev_polynomial_t(mg.tensor(x), 3).data, 4 * x**3 - 3 * x, rtol=1e-14)
    np.testing.assert_allclose(S.chebyshev_polynomial_u(mg.tensor(x), 2).data, 4 * x**2 - 1, rtol=1e-14)
    np.testing.assert_allclose(S.hermite_polynomial_h(mg.tensor(x), 3).data, 8 * x**3 - 12 * x, rtol=1e-14)
    np.testing.assert_allclose(S.hermite_polynomial_he(mg.tensor(x), 3).data, x**3 - 3 * x, rtol=1e-14)
    np.testing.assert_allclose(S.laguerre_polynomial_l(mg.tensor(x), 2).data, (x * x - 4 * x + 2) / 2, rtol=1e-14)
    np.testing.assert_allclose(S.legendre_polynomial_p(mg.tensor(x), 2).data, (3 * x * x - 1) / 2, rtol=1e-14)
    np.testing.assert_allclose(S.shifted_chebyshev_polynomial_t(mg.tensor(x), 2).data, 2 * (2 * x - 1) ** 2 - 1,
                               rtol=1e-14)
    # A negative degree, and nan or inf (which PyTorch's cast to an integer sends below zero), give 0.
    np.testing.assert_array_equal(S.legendre_polynomial_p(mg.tensor(x), mg.tensor([-1.0, math.nan, math.inf])).data, 0)


@pytest.mark.parametrize("name", NAMES)
def test_the_derivative_in_x(rng, name):
    degrees = mg.tensor([0.0, 1.0, 2.0, 5.0, 9.0])
    assert mg.gradcheck(lambda t: getattr(S, name)(t, degrees), [mg.tensor(rng.uniform(-0.9, 0.9, 5),
                                                                            requires_grad=True)])
    # Also at the ends of [-1, 1], where the trigonometric forms of the derivatives divide by zero.
    x = mg.tensor([1.0, -1.0, 0.0], requires_grad=True)
    getattr(S, name)(x, 6).sum().backward()
    h = 1e-6
    slope = (getattr(S, name)(mg.tensor([1 + h, -1 + h, h]), 6).data
             - getattr(S, name)(mg.tensor([1 - h, -1 - h, -h]), 6).data) / (2 * h)
    np.testing.assert_allclose(x.grad, slope, rtol=1e-6)


def test_closed_form_derivatives():
    x = mg.tensor([1.0, 0.3], requires_grad=True)
    S.chebyshev_polynomial_t(x, 7).sum().backward()
    assert x.grad[0] == 49.0  # T_n'(1) = n^2
    np.testing.assert_allclose(x.grad[1], 7 * S.chebyshev_polynomial_u(mg.tensor(0.3), 6).item(), rtol=1e-13)
    y = mg.tensor([1.0, 0.3], requires_grad=True)
    S.legendre_polynomial_p(y, 5).sum().backward()
    assert y.grad[0] == 15.0  # P_n'(1) = n (n + 1) / 2
    z = mg.tensor([0.4], requires_grad=True)
    S.hermite_polynomial_h(z, 4).sum().backward()
    np.testing.assert_allclose(z.grad, 8 * S.hermite_polynomial_h(mg.tensor([0.4]), 3).data, rtol=1e-13)


def test_dtypes_broadcasting_out_and_the_degrees_gradient():
    assert S.chebyshev_polynomial_t(mg.tensor([0.5], dtype=mg.float32), 3).dtype == np.float32
    assert S.chebyshev_polynomial_t(mg.tensor([1, 2], dtype=mg.int64), 3).dtype == mg.get_default_dtype()
    assert S.hermite_polynomial_h(mg.tensor([[0.5], [1.0]]), mg.tensor([0.0, 1.0, 2.0])).shape == (2, 3)
    np.testing.assert_array_equal(S.chebyshev_polynomial_t(3.0, mg.tensor([2.0, 3.0])).data, [17.0, 99.0])
    out = mg.empty(0)
    assert S.legendre_polynomial_p(mg.tensor([0.3]), 2, out=out) is out
    n = mg.tensor([2.0], requires_grad=True)
    with pytest.raises(NotImplementedError, match="n is a degree"):
        S.legendre_polynomial_p(mg.tensor([0.3]), n).sum().backward()
