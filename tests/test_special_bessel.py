"""torch.special's Bessel functions: values against PyTorch (optional oracle), the Wronskian
identities that tie the two kinds together, special points, and gradients against finite
differences and the Bessel recurrences."""

from __future__ import annotations

import math

import numpy as np
import pytest

import microgradnp as mg

S = mg.special
NAMES = ["bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1", "modified_bessel_i0", "modified_bessel_i1",
         "modified_bessel_k0", "modified_bessel_k1", "scaled_modified_bessel_k0", "scaled_modified_bessel_k1",
         "spherical_bessel_j0"]
# Every branch: the series (|x| <= 2, K: x <= 1), the quadratures, and Hankel's expansion (beyond 25).
POINTS = np.concatenate([np.logspace(-8, 3.5, 120), [0.5, 1.0, 1.9999999, 2.0, 2.0000001, 24.9999, 25.0, 25.0001]])


def _values(name, x):
    return getattr(S, name)(mg.tensor(x)).data


@pytest.mark.parametrize("name", NAMES)
def test_values_match_torch(torch, name):
    x = np.concatenate([POINTS, -POINTS, [0.0, math.inf, -math.inf, math.nan]])
    ours, theirs = _values(name, x), getattr(torch.special, name)(torch.tensor(x)).numpy()
    # (PyTorch's CPU kernels of J and Y are off by up to 8e-7 between 2.5 and 16, where their
    # rational approximations meet, against mpmath: compared to 1e-6 there, 1e-12 everywhere else.)
    loose = (np.abs(x) > 2.5) & (np.abs(x) < 16) & name.startswith("bessel_")
    close = np.isclose(ours, theirs, rtol=1e-12, atol=1e-12, equal_nan=True)
    with np.errstate(invalid="ignore"):  # (inf - inf where both are inf)
        near = np.abs(ours - theirs) < 1e-6
    assert (close | (loose & near)).all(), x[~close]


def test_wronskians_and_known_values():
    x = POINTS
    j0, j1, y0, y1 = (_values(n, x) for n in ("bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1"))
    np.testing.assert_allclose((j1 * y0 - j0 * y1) * x * math.pi / 2, 1.0, rtol=1e-11)  # W(J, Y) = 2 / (pi x)
    i0, i1, k0, k1 = (_values(n, x[x < 500]) for n in ("modified_bessel_i0", "modified_bessel_i1",
                                                         "modified_bessel_k0", "modified_bessel_k1"))
    np.testing.assert_allclose((i0 * k1 + i1 * k0) * x[x < 500], 1.0, rtol=1e-13)
    moderate = x[x < 700]
    np.testing.assert_allclose(_values("scaled_modified_bessel_k0", moderate),
                               np.exp(moderate) * _values("modified_bessel_k0", moderate), rtol=1e-13)
    # Known values (mpmath, 30 digits): J0(1), Y1(0.5), K0(2), the first zero of J0.
    np.testing.assert_allclose(_values("bessel_j0", np.array([1.0])), 0.765197686557966551449717526103, rtol=1e-15)
    np.testing.assert_allclose(_values("bessel_y1", np.array([0.5])), -1.47147239267024306918858463769, rtol=1e-14)
    np.testing.assert_allclose(_values("modified_bessel_k0", np.array([2.0])), 0.113893872749533435652719574932,
                               rtol=1e-14)
    assert abs(_values("bessel_j0", np.array([2.40482555769577276862163187933]))[0]) < 1e-15
    np.testing.assert_allclose(_values("spherical_bessel_j0", np.array([0.0, 1e-6, math.pi])), [1.0, 1.0, 0.0],
                               atol=1e-15)


def test_special_points():
    assert np.isneginf(_values("bessel_y0", np.array([0.0])))[0] and np.isnan(_values("bessel_y1", np.array([-1.0])))[0]
    assert np.isposinf(_values("modified_bessel_k1", np.array([0.0])))[0]
    assert np.isnan(_values("modified_bessel_k0", np.array([-2.0, math.nan]))).all()
    np.testing.assert_array_equal(_values("modified_bessel_k0", np.array([math.inf, 800.0])), 0.0)
    np.testing.assert_allclose(_values("modified_bessel_k1", np.array([1e-300])), 1e300, rtol=1e-14)
    assert S.bessel_j0(mg.tensor([0.5], dtype=mg.float32)).dtype == np.float32
    out = mg.empty(0)
    assert S.bessel_j1(mg.tensor([0.5]), out=out) is out


@pytest.mark.parametrize("name", [n for n in NAMES if not n.startswith("modified_bessel_i")])
def test_gradients(name):
    points = np.array([0.3, 0.999, 1.001, 1.5, 2.5, 7.0, 30.0])
    if name.startswith(("bessel_j", "spherical")):
        points = np.concatenate([points, -points])
    assert mg.gradcheck(getattr(S, name), [mg.tensor(points, requires_grad=True)])


def test_gradients_follow_the_recurrences():
    x = mg.tensor([0.0, 1e-5, 3.0], requires_grad=True)
    S.bessel_j1(x).sum().backward()
    np.testing.assert_allclose(x.grad[:2], 0.5, rtol=1e-9)  # J1'(0) = 1/2
    z = mg.tensor([0.7, 4.0], requires_grad=True)
    S.bessel_j0(z).sum().backward()
    np.testing.assert_allclose(z.grad, -S.bessel_j1(z.detach()).data, rtol=1e-14)  # J0' = -J1
    k = mg.tensor([0.7, 4.0], requires_grad=True)
    S.modified_bessel_k0(k).sum().backward()
    np.testing.assert_allclose(k.grad, -S.modified_bessel_k1(k.detach()).data, rtol=1e-14)  # K0' = -K1


def test_airy_ai(torch):
    x = np.concatenate([np.linspace(-40.0, 12.0, 521), [0.0, 100.0, math.inf, -math.inf, math.nan]])
    ours = _values("airy_ai", x)
    theirs = torch.special.airy_ai(torch.tensor(x)).numpy()
    # (PyTorch's own is off by up to 3e-6 near -2.1, where its approximations meet; and it gives 0
    # from x = 103.9 on, where Ai is still a subnormal number)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=5e-6)
    assert np.isnan(ours[-3:]).all()


def test_airy_ai_values_and_derivative():
    # Known values (mpmath, 30 digits): Ai(0), Ai(1), Ai(-5), Ai'(0), and a zero of Ai.
    np.testing.assert_allclose(_values("airy_ai", np.array([0.0, 1.0, -5.0])),
                               [0.355028053887817239260063186004, 0.135292416312881415524147423515,
                                0.350761009024114319788016327989], rtol=0, atol=1e-14)
    assert abs(_values("airy_ai", np.array([-2.33810741045976703848919725245]))[0]) < 1e-14
    x = mg.tensor([0.0, -3.0, -9.0, 0.5, 4.0], requires_grad=True)
    S.airy_ai(x).sum().backward()
    np.testing.assert_allclose(x.grad[0], -0.258819403792806798405183560189, rtol=1e-14)  # Ai'(0)
    # Ai'' = x Ai: the derivative of the gradient, by central differences, against x Ai(x).
    h = 1e-4
    points = np.array([-9.0, -3.0, 0.5, 4.0])
    slopes = []
    for shift in (h, -h):
        t = mg.tensor(points + shift, requires_grad=True)
        S.airy_ai(t).sum().backward()
        slopes.append(t.grad)
    np.testing.assert_allclose((slopes[0] - slopes[1]) / (2 * h), points * _values("airy_ai", points), atol=1e-7)
    assert mg.gradcheck(S.airy_ai, [mg.tensor(np.array([-10.0, -5.0, -2.5, -1.0, 0.0, 1.0, 2.5, 5.0]),
                                              requires_grad=True)])
