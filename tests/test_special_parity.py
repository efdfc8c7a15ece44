"""``mg.special`` (torch.special's functions) and the bitwise functions, against PyTorch:
values over wide ranges including the tails (float64 and float32, with the result dtype),
first derivatives against torch's autograd and central finite differences, second
derivatives of the new primitives, and the errors torch raises (gradients it does not
define, bitwise functions on floats)."""

from __future__ import annotations

import numpy as np
import pytest

import microgradnp as mg

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(7)
INF, NAN = float("inf"), float("nan")

WIDE = np.concatenate([np.linspace(-30, 30, 241), -np.logspace(-8, 2.5, 40), np.logspace(-8, 2.5, 40), [0.0, -0.0]])
EDGES = np.array([INF, -INF, NAN])


def _probabilities():
    return np.concatenate([np.linspace(0, 1, 201), np.logspace(-300, -1, 60), 1 - np.logspace(-15, -1, 30),
                           0.5 + np.logspace(-16, -2, 15), 0.5 - np.logspace(-16, -2, 15), [-0.5, 1.5, NAN]])


# name -> (the points, rtol, atol) for float64 values. The tolerance is about torch's own error:
# torch computes ndtr as (1 + erf(x / sqrt 2)) / 2, which is 0 below -8.3 and off by up to 1e-16
# absolute in the left tail, where this one (erfc(-x / sqrt 2) / 2) keeps its relative accuracy;
# torch's erfcx is off by 6e-14 relative at x = -23 (mpmath agrees with this one).
UNARY = {
    "expit": (np.concatenate([WIDE, [-800.0, 800.0], EDGES]), 1e-14, 0),
    "erf": (np.concatenate([WIDE, EDGES]), 1e-14, 0),
    "erfc": (np.concatenate([WIDE, EDGES]), 1e-13, 0),
    "erfinv": (np.concatenate([np.linspace(-1, 1, 201), 1 - np.logspace(-15.9, -1, 40), -1 + np.logspace(-15.9, -1, 9),
                               np.logspace(-300, -1, 20), [1 - 2.0**-53, -1 + 2.0**-53, -1.5, 2.0, NAN]]), 1e-13, 0),
    "erfcx": (np.concatenate([WIDE, np.linspace(-26.5, -20, 14), np.logspace(3, 300, 30), EDGES]), 1e-12, 0),
    "expm1": (np.concatenate([WIDE, EDGES]), 1e-14, 0),
    "exp2": (np.concatenate([WIDE, EDGES]), 1e-14, 0),
    "log1p": (np.concatenate([np.abs(WIDE), -1 + np.logspace(-15, -1, 10), [-1.0, -2.0], EDGES]), 1e-14, 0),
    "ndtr": (np.concatenate([WIDE, EDGES]), 1e-13, 2e-16),
    "ndtri": (_probabilities(), 1e-12, 0),
    "log_ndtr": (np.concatenate([WIDE, -np.logspace(2.5, 150, 40), EDGES]), 1e-13, 0),
    "i0": (np.concatenate([np.linspace(-700, 700, 281), WIDE, [720.0], EDGES]), 1e-13, 0),
    "i0e": (np.concatenate([np.linspace(-700, 700, 281), WIDE, [1e5, -1e10], EDGES]), 1e-13, 0),
    "i1": (np.concatenate([np.linspace(-700, 700, 281), WIDE, [-720.0], EDGES]), 1e-13, 0),
    "i1e": (np.concatenate([np.linspace(-700, 700, 281), WIDE, [1e5, -1e10], EDGES]), 1e-13, 0),
    "gammaln": (np.concatenate([np.abs(WIDE) + 1e-3, np.linspace(-9.75, -0.25, 20), [0.0, -1.0, -2.0, 1e300],
                                EDGES]), 1e-12, 1e-14),
    "digamma": (np.concatenate([np.abs(WIDE) + 1e-3, np.linspace(-9.75, -0.25, 20), [-1.0, -2.0], EDGES]),
                1e-12, 1e-14),
    "psi": (np.concatenate([np.abs(WIDE) + 1e-3, np.linspace(-9.75, -0.25, 20)]), 1e-12, 1e-14),
    "entr": (np.concatenate([np.abs(WIDE), [-1.0, -0.0], EDGES]), 1e-14, 0),
    "sinc": (np.concatenate([WIDE, [1e-20, 1.0, 2.0], EDGES]), 1e-13, 1e-16),
    "round": (np.concatenate([WIDE, [0.5, 1.5, 2.5, -0.5, -2.5], EDGES]), 0, 0),
    "logit": (np.concatenate([np.linspace(0, 1, 101), np.logspace(-300, -1, 20), [-0.5, 1.5], EDGES]), 1e-14, 0),
}


def _compare(ours, theirs, rtol, atol, label=""):
    ours, theirs = np.asarray(ours), theirs.detach().numpy()
    assert ours.dtype == theirs.dtype, (label, ours.dtype, theirs.dtype)
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, equal_nan=True, err_msg=label)


def _forward(name, x, dtype=np.float64):
    return (getattr(mg.special, name)(mg.tensor(x.astype(dtype))),
            getattr(torch.special, name)(torch.tensor(x.astype(dtype))))


@pytest.mark.parametrize("name", sorted(UNARY))
def test_values_match_torch_in_float64(name):
    x, rtol, atol = UNARY[name]
    ours, theirs = _forward(name, x)
    _compare(ours.data, theirs, rtol, atol, name)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_float32_keeps_its_dtype_and_matches(name):
    x, _, _ = UNARY[name]
    x = x[np.abs(np.nan_to_num(x)) < (1e30 if name in ("i0e", "i1e", "erfcx", "log_ndtr") else 80)]
    ours, theirs = _forward(name, x, np.float32)
    assert ours.dtype == np.float32
    # float32: torch computes in float32 (a few ulps), this one in float64 rounded once
    _compare(ours.data, theirs, 2e-5, 1e-6 if name == "ndtr" else 1e-30, name)


def test_integer_inputs_become_the_default_float():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # microgradnp's default float dtype
    try:
        for name in ("erfcx", "ndtri", "log_ndtr", "i0e", "i1e", "entr", "ndtr", "expit"):
            ours = getattr(mg.special, name)(mg.tensor([0, 1, 2], dtype=mg.int64))
            theirs = getattr(torch.special, name)(torch.tensor([0, 1, 2]))
            _compare(ours.data, theirs, 1e-13, 0, name)
    finally:
        torch.set_default_dtype(previous)


# name -> points where the function is smooth (for gradients: torch's autograd and finite differences)
SMOOTH = {
    "expit": np.linspace(-20, 20, 41),
    "erf": np.linspace(-5, 5, 41),
    "erfc": np.linspace(-5, 5, 41),
    "erfinv": np.linspace(-0.999, 0.999, 41),
    "erfcx": np.concatenate([np.linspace(-8, 30, 77), [9.99, 10.0, 10.01, 100.0, 1e4]]),
    "expm1": np.linspace(-5, 5, 21),
    "exp2": np.linspace(-5, 5, 21),
    "log1p": np.linspace(-0.9, 5, 21),
    "ndtr": np.linspace(-10, 10, 41),
    "ndtri": np.concatenate([np.linspace(0.001, 0.999, 51), [1e-10, 1e-100, 0.5, 1 - 1e-10]]),
    "log_ndtr": np.concatenate([np.linspace(-40, 10, 101), [-1e3, -1.0, -1.0 + 1e-9, -1.0 - 1e-9]]),
    "i0": np.linspace(-50, 50, 41),
    "i0e": np.concatenate([np.linspace(-60, 60, 49), [-1e-3, 1e-3, 29.99, 30.01, 500.0, -800.0]]),
    "i1": np.linspace(-50, 50, 41),
    "i1e": np.concatenate([np.linspace(-60, 60, 49), [-1e-3, 1e-3, 29.99, 30.01, 500.0, -800.0]]),
    "gammaln": np.linspace(0.1, 20, 41),
    "digamma": np.linspace(0.1, 20, 41),
    "psi": np.linspace(0.1, 20, 41),
    "entr": np.linspace(0.01, 5, 41),
    "sinc": np.linspace(-3.3, 3.3, 23),
    "logit": np.linspace(0.01, 0.99, 41),
}


# torch's trigamma (digamma's derivative) is off by up to 5e-10 relative (mpmath agrees with this one)
GRADIENT_RTOL = {"digamma": 2e-9, "psi": 2e-9}
# torch's log_ndtr gradient is 3.4e-11 off at -1e3 (ours, sqrt(2/pi) / erfcx(-x/sqrt(2)), is exact
# there by mpmath: see test_special_elementwise_parity.py)
GRADIENT_RTOL["log_ndtr"] = 1e-10


@pytest.mark.parametrize("name", sorted(SMOOTH))
def test_gradient_matches_torch(name):
    x = SMOOTH[name]
    weights = RNG.normal(size=x.shape)
    ours = mg.tensor(x, requires_grad=True)
    (getattr(mg.special, name)(ours) * mg.tensor(weights)).sum().backward()
    theirs = torch.tensor(x, requires_grad=True)
    (getattr(torch.special, name)(theirs) * torch.tensor(weights)).sum().backward()
    # (atol: erfcx's derivative 2 x erfcx(x) - 2 / sqrt(pi) cancels for large x, in torch as here)
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=GRADIENT_RTOL.get(name, 1e-11), atol=1e-15,
                               err_msg=name)


NEW_PRIMITIVES = {
    "erfcx": np.array([-3.0, -0.5, 0.0, 0.7, 4.0, 12.0]),
    "ndtri": np.array([1e-3, 0.02, 0.3, 0.5, 0.8, 0.99]),
    "log_ndtr": np.array([-30.0, -4.0, -1.5, -0.3, 0.0, 2.0, 6.0]),
    "i0e": np.array([-35.0, -2.0, -0.3, 0.4, 3.0, 40.0]),
    "i1e": np.array([-35.0, -2.0, -0.3, 0.0, 0.4, 3.0, 40.0]),
    "entr": np.array([0.05, 0.4, 1.0, 3.0]),
    "ndtr": np.array([-6.0, -1.0, 0.0, 0.5, 3.0]),
}


@pytest.mark.parametrize("name", sorted(NEW_PRIMITIVES))
def test_new_primitives_pass_gradcheck_and_gradgradcheck(name):
    function = getattr(mg.special, name)
    for point in NEW_PRIMITIVES[name]:  # one point at a time: a large value elsewhere would swamp the differences
        x = mg.tensor([point], requires_grad=True)
        assert mg.gradcheck(function, (x,), rtol=1e-5, atol=1e-9)
        assert mg.gradgradcheck(function, (x,), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name", sorted(NEW_PRIMITIVES))
def test_second_derivative_matches_torch(name):
    x = NEW_PRIMITIVES[name]
    ours = mg.tensor(x, requires_grad=True)
    (first,) = mg.grad(getattr(mg.special, name)(ours).sum(), ours, create_graph=True)
    (second,) = mg.grad(first.sum(), ours)
    theirs = torch.tensor(x, requires_grad=True)
    (t_first,) = torch.autograd.grad(getattr(torch.special, name)(theirs).sum(), theirs, create_graph=True)
    (t_second,) = torch.autograd.grad(t_first.sum(), theirs)
    np.testing.assert_allclose(first.data, t_first.detach().numpy(), rtol=1e-11)
    np.testing.assert_allclose(second.data, t_second.numpy(), rtol=1e-9, atol=1e-300)


def test_gradient_edges_match_torch():
    # entr at 0 (inf) and below (nan), ndtri at the ends, log_ndtr's right tail, i1e at 0 (far in
    # log_ndtr's left tail PyTorch's gradient loses digits, then gives nan: ours is checked against
    # mpmath in test_special_elementwise_parity.py)
    cases = {"entr": [0.0, -1.0, 2.0], "ndtri": [0.0, 1.0, 0.5], "log_ndtr": [-30.0, 40.0],
             "i1e": [0.0, -0.0], "erfcx": [-30.0, 1e200]}
    for name, x in cases.items():
        ours = mg.tensor(x, requires_grad=True)
        getattr(mg.special, name)(ours).sum().backward()
        theirs = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        getattr(torch.special, name)(theirs).sum().backward()
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-12, equal_nan=True, err_msg=name)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 6])
def test_polygamma_values_and_gradient(n):
    x = np.concatenate([np.linspace(0.05, 30, 60), np.linspace(-4.9, -0.1, 13)])
    ours, theirs = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, t_out = mg.special.polygamma(n, ours), torch.special.polygamma(n, theirs)
    _compare(out.data, t_out, 1e-8, 0, f"polygamma({n})")
    out.sum().backward()
    t_out.sum().backward()
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-8)


@pytest.mark.parametrize("p", [1, 2, 3, 5])
def test_multigammaln(p):
    x = np.linspace((p - 1) / 2 + 0.01, 20, 30)
    ours, theirs = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, t_out = mg.special.multigammaln(ours, p), torch.special.multigammaln(theirs, p)
    _compare(out.data, t_out, 1e-12, 1e-13)
    out.sum().backward()
    t_out.sum().backward()
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize("name", ["gammainc", "gammaincc"])
def test_incomplete_gamma(name):
    a = np.array([0.5, 1.0, 2.5, 10.0, 40.0])[:, None]
    x = np.array([0.01, 0.5, 1.0, 3.0, 12.0, 60.0])[None, :]
    ours_x, theirs_x = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out = getattr(mg.special, name)(mg.tensor(a), ours_x)
    t_out = getattr(torch.special, name)(torch.tensor(a), theirs_x)
    _compare(out.data, t_out, 1e-10, 1e-300)
    out.sum().backward()
    t_out.sum().backward()
    np.testing.assert_allclose(ours_x.grad, theirs_x.grad.numpy(), rtol=1e-10)
    # no derivative in the first argument, in either library
    with pytest.raises(NotImplementedError):
        getattr(mg.special, name)(mg.tensor(a, requires_grad=True), mg.tensor(x)).sum().backward()
    with pytest.raises(RuntimeError):
        getattr(torch.special, name)(torch.tensor(a, requires_grad=True), torch.tensor(x)).sum().backward()


def test_zeta_values_edges_and_gradient():
    s = np.array([1.0, 1.0001, 1.5, 2.0, 2.5, 3.0, 5.5, 10.0, 30.0, 100.0, 0.5, INF, NAN])[:, None]
    q = np.array([1e-3, 0.1, 0.5, 1.0, 2.0, 10.0, 1e3, -1.5, -2.0, 0.0, -3.3, INF, -INF, NAN])[None, :]
    out = mg.special.zeta(mg.tensor(s), mg.tensor(q))
    _compare(out.data, torch.special.zeta(torch.tensor(s), torch.tensor(q)), 1e-13, 0)
    s, q = np.array([1.5, 2.0, 3.0, 7.5]), np.array([0.3, 1.0, 2.5, 40.0])
    ours, theirs = mg.tensor(q, requires_grad=True), torch.tensor(q, requires_grad=True)
    mg.special.zeta(mg.tensor(s), ours).sum().backward()
    torch.special.zeta(torch.tensor(s), theirs).sum().backward()
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-12)
    assert mg.gradcheck(lambda t: mg.special.zeta(mg.tensor(s), t), (mg.tensor(q, requires_grad=True),), rtol=1e-6)
    with pytest.raises(NotImplementedError):
        mg.special.zeta(mg.tensor(s, requires_grad=True), mg.tensor(q)).sum().backward()
    with pytest.raises(RuntimeError):
        torch.special.zeta(torch.tensor(s, requires_grad=True), torch.tensor(q)).sum().backward()


@pytest.mark.parametrize("name", ["xlogy", "xlog1py"])
def test_xlogy_xlog1py(name):
    x = np.array([0.0, 0.0, 0.0, 1.5, -2.0, 0.0, 3.0, 0.7])
    y = np.array([0.0, -1.0, NAN, 2.0, 0.5, 4.0, -0.5, 1e-3])
    ours_x, ours_y = mg.tensor(x, requires_grad=True), mg.tensor(y, requires_grad=True)
    theirs_x, theirs_y = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
    out = getattr(mg.special, name)(ours_x, ours_y)
    t_out = getattr(torch.special, name)(theirs_x, theirs_y)
    _compare(out.data, t_out, 1e-14, 0, name)
    out.sum().backward()
    t_out.sum().backward()
    np.testing.assert_allclose(ours_x.grad, theirs_x.grad.numpy(), rtol=1e-14, equal_nan=True)
    np.testing.assert_allclose(ours_y.grad, theirs_y.grad.numpy(), rtol=1e-14, equal_nan=True)
    smooth = (mg.tensor([0.5, -1.0, 2.0], requires_grad=True), mg.tensor([0.3, 2.0, 0.9], requires_grad=True))
    assert mg.gradcheck(getattr(mg.special, name), smooth, rtol=1e-6)


def test_logit_eps_and_reductions():
    p = np.array([-0.1, 0.0, 1e-9, 0.3, 0.9, 1.0, 1.2])
    ours, theirs = mg.tensor(p, requires_grad=True), torch.tensor(p, requires_grad=True)
    out, t_out = mg.special.logit(ours, eps=1e-6), torch.special.logit(theirs, eps=1e-6)
    _compare(out.data, t_out, 1e-14, 0)
    out.sum().backward()
    t_out.sum().backward()
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-12)

    x = RNG.normal(size=(3, 4, 5)) * 30
    calls = [("logsumexp", dict(dim=1, keepdim=True)), ("logsumexp", dict(dim=(0, 2))), ("softmax", dict(dim=-1)),
             ("log_softmax", dict(dim=0)), ("softmax", dict(dim=1, dtype=mg.float32))]
    for name, kwargs in calls:
        t_kwargs = {k: (torch.float32 if k == "dtype" else v) for k, v in kwargs.items()}
        ours, theirs = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        out, t_out = getattr(mg.special, name)(ours, **kwargs), getattr(torch.special, name)(theirs, **t_kwargs)
        tight = "dtype" not in kwargs
        _compare(out.data, t_out, 1e-12 if tight else 1e-5, 1e-300 if tight else 1e-7, name)
        weights = RNG.normal(size=out.shape)
        (out * mg.tensor(weights.astype(out.dtype))).sum().backward()
        (t_out * torch.tensor(weights.astype(out.dtype))).sum().backward()
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-10 if tight else 1e-4, atol=1e-6)


def test_every_listed_function_exists():
    names = ["expit", "logit", "erf", "erfc", "erfinv", "erfcx", "expm1", "exp2", "log1p", "logsumexp", "softmax",
             "log_softmax", "xlogy", "xlog1py", "entr", "sinc", "ndtr", "ndtri", "log_ndtr", "i0", "i0e", "i1", "i1e",
             "gammaln", "digamma", "psi", "polygamma", "multigammaln", "gammainc", "gammaincc", "round", "zeta",
             "chebyshev_polynomial_t", "chebyshev_polynomial_u", "chebyshev_polynomial_v", "chebyshev_polynomial_w",
             "shifted_chebyshev_polynomial_t", "shifted_chebyshev_polynomial_u", "shifted_chebyshev_polynomial_v",
             "shifted_chebyshev_polynomial_w", "hermite_polynomial_h", "hermite_polynomial_he",
             "laguerre_polynomial_l", "legendre_polynomial_p", "bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1",
             "modified_bessel_i0", "modified_bessel_i1", "modified_bessel_k0", "modified_bessel_k1",
             "scaled_modified_bessel_k0", "scaled_modified_bessel_k1", "spherical_bessel_j0", "airy_ai"]
    for name in names:
        assert callable(getattr(mg.special, name)), name
        assert hasattr(torch.special, name), name
    assert sorted(mg.special.__all__) == sorted(names)


# -- bitwise functions -----------------------------------------------------------------------------------------------

BITWISE = ["bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_left_shift", "bitwise_right_shift"]


@pytest.mark.parametrize("name", BITWISE)
def test_bitwise_binary_matches_torch(name):
    a = np.array([0, 1, 5, 12, -7, 255, 3])
    b = np.array([3, 1, 2, 0, 2, 4, 1])
    for dtype, t_dtype in ((mg.int64, torch.int64), (mg.int32, torch.int32), (mg.uint8, torch.uint8)):
        lhs = a.astype(dtype) if dtype != mg.uint8 else np.abs(a).astype(dtype)
        ours = getattr(mg, name)(mg.tensor(lhs, dtype=dtype), mg.tensor(b, dtype=dtype))
        theirs = getattr(torch, name)(torch.tensor(lhs, dtype=t_dtype), torch.tensor(b, dtype=t_dtype))
        np.testing.assert_array_equal(ours.data, theirs.numpy())
        assert ours.dtype == theirs.numpy().dtype and not ours.requires_grad
        # with a Python int as the second operand
        ours = getattr(mg, name)(mg.tensor(lhs, dtype=dtype), 2)
        np.testing.assert_array_equal(ours.data, getattr(torch, name)(torch.tensor(lhs, dtype=t_dtype), 2).numpy())
    if "shift" not in name:
        x, y = np.array([True, False, True, False]), np.array([True, True, False, False])
        ours = getattr(mg, name)(mg.tensor(x, dtype=mg.bool), mg.tensor(y, dtype=mg.bool))
        theirs = getattr(torch, name)(torch.tensor(x), torch.tensor(y))
        np.testing.assert_array_equal(ours.data, theirs.numpy())
        assert ours.dtype == np.bool_


def test_bitwise_not_and_operators_agree():
    a = np.array([0, 1, 5, -7, 255])
    ours = mg.bitwise_not(mg.tensor(a, dtype=mg.int64))
    np.testing.assert_array_equal(ours.data, torch.bitwise_not(torch.tensor(a)).numpy())
    mask = np.array([True, False])
    np.testing.assert_array_equal(mg.bitwise_not(mg.tensor(mask, dtype=mg.bool)).data, ~mask)
    x, y = mg.tensor(a, dtype=mg.int64), mg.tensor(a[::-1].copy(), dtype=mg.int64)
    for function, result in ((mg.bitwise_and, x & y), (mg.bitwise_or, x | y), (mg.bitwise_xor, x ^ y)):
        np.testing.assert_array_equal(function(x, y).data, result.data)


@pytest.mark.parametrize("name", [*BITWISE, "bitwise_not"])
def test_bitwise_refuses_floats_as_torch(name):
    args = (mg.tensor([1.0, 2.0]),) if name == "bitwise_not" else (mg.tensor([1.0, 2.0]), mg.tensor([1, 2],
                                                                                                  dtype=mg.int64))
    with pytest.raises(RuntimeError, match="bool and integer"):
        getattr(mg, name)(*args)
    t_args = (torch.tensor([1.0, 2.0]),) if name == "bitwise_not" else (torch.tensor([1.0, 2.0]),
                                                                         torch.tensor([1, 2]))
    with pytest.raises(RuntimeError):
        getattr(torch, name)(*t_args)


def test_float32_gradients_keep_the_dtype():
    for name in ("erfcx", "ndtri", "log_ndtr", "i0e", "i1e", "entr", "ndtr", "xlog1py", "zeta"):
        x = mg.tensor(np.array([0.3, 0.6], np.float32), requires_grad=True)
        function = getattr(mg.special, name)
        out = function(mg.tensor(np.float32([2.0, 3.0])), x) if name in ("xlog1py", "zeta") else function(x)
        out.sum().backward()
        assert out.dtype == np.float32 and x.grad.dtype == np.float32, name
