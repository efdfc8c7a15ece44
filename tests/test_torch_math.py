"""PyTorch's math methods (microgradnp/ops/torch_math.py): fused products, elementwise math,
NaN-aware reductions, selections (median, kthvalue, mode, quantile, cummax...), diff, dist,
renorm and logical/comparison names: values and gradients against finite differences and
against PyTorch (optional oracle)."""

from __future__ import annotations

import numpy as np
import pytest

import microgradnp as mg

RNG = np.random.default_rng(11)
A = RNG.uniform(0.5, 2.0, size=(3, 4)) * RNG.choice([-1, 1], size=(3, 4))
INF, NAN = float("inf"), float("nan")

# name -> the call, written once for both libraries (x: a tensor of A's values).
CASES = {
    "addmm": lambda x: x[:, :3].addmm(x, x.t(), beta=0.5, alpha=2),
    "addmm_beta0": lambda x: x[:, :3].addmm(x, x.t(), beta=0),
    "addmm_broadcast": lambda x: x[0, :3].addmm(x, x.t()),
    "addmv": lambda x: x[:, 0].addmv(x, x[0], alpha=3),
    "addr": lambda x: x.addr(x[:, 0], x[0], beta=2, alpha=0.5),
    "addbmm": lambda x: x[:, :3].addbmm(x.reshape(2, 3, 2), x.reshape(2, 2, 3), alpha=-1),
    "baddbmm": lambda x: x[:, :3].baddbmm(x.reshape(2, 3, 2), x.reshape(2, 2, 3), beta=3),
    "addcmul": lambda x: x.addcmul(x * x, x + 1, value=0.5),
    "addcdiv": lambda x: x.addcdiv(x, x * x + 1, value=-2),
    "hypot": lambda x: x.hypot(x * 2 + 0.1),
    "logaddexp2": lambda x: x.logaddexp2(x * x),
    "xlogy": lambda x: x.xlogy(x * x + 0.5),
    "sinc": lambda x: x.sinc(),
    "logit": lambda x: x.sigmoid().logit(),
    "logit_eps": lambda x: (x * 0.4).sigmoid().logit(eps=0.35),
    "deg2rad": lambda x: (x * 50).deg2rad(),
    "rad2deg": lambda x: x.rad2deg(),
    "frac": lambda x: (x * 3).frac(),
    "fix": lambda x: (x * 3).fix() + x,
    "copysign": lambda x: x.copysign(x - 1),
    "fmax": lambda x: x.fmax(0.5 - x),
    "fmin": lambda x: x.fmin(0.5 - x),
    "float_power": lambda x: x.float_power(3),
    "float_power_tensor": lambda x: x.abs().float_power(x),
    "sgn": lambda x: x.sgn() + x,
    "positive": lambda x: x.positive() * 2,
    "absolute": lambda x: x.absolute(),
    "arccosh": lambda x: (x * x + 1.5).arccosh(),
    "acosh": lambda x: (x * x + 1.5).acosh(),
    "arcsinh": lambda x: x.arcsinh(),
    "asinh": lambda x: x.asinh(),
    "arctanh": lambda x: (x * 0.4).arctanh(),
    "atanh": lambda x: (x * 0.4).atanh(),
    "erfinv": lambda x: (x * 0.45).erfinv(),
    "lgamma": lambda x: (x * 3).lgamma(),
    "digamma": lambda x: (x * 3).digamma(),
    "nan_to_num": lambda x: x.nan_to_num(),
    "nansum": lambda x: x.nansum(),
    "nansum_dim": lambda x: x.nansum(dim=1, keepdim=True),
    "nanmean": lambda x: x.nanmean(0),
    "median": lambda x: x.median(),
    "median_dim": lambda x: x.median(1).values,
    "median_dim_keepdim": lambda x: x.median(0, keepdim=True)[0],
    "nanmedian": lambda x: x.nanmedian(),
    "nanmedian_dim": lambda x: x.nanmedian(dim=1).values,
    "kthvalue": lambda x: x.kthvalue(2, 1).values,
    "kthvalue_keepdim": lambda x: x.kthvalue(3, 0, True).values,
    "mode": lambda x: x.mode(1).values,
    "cummax": lambda x: x.cummax(1).values,
    "cummin": lambda x: x.cummin(0).values,
    "quantile": lambda x: x.quantile(0.3),
    "quantile_dim": lambda x: x.quantile(0.25, dim=1, keepdim=True),
    "quantile_tensor_q": lambda x: x.quantile(x.new_tensor([0.1, 0.5, 0.9]), dim=0),
    "quantile_tensor_q_keepdim": lambda x: x.quantile(x.new_tensor([0.2, 0.7]), keepdim=True),
    "quantile_lower": lambda x: x.quantile(0.4, dim=1, interpolation="lower"),
    "quantile_higher": lambda x: x.quantile(0.4, dim=1, interpolation="higher"),
    "quantile_midpoint": lambda x: x.quantile(0.4, dim=0, interpolation="midpoint"),
    "quantile_nearest": lambda x: x.quantile(0.7, dim=1, interpolation="nearest"),
    "nanquantile": lambda x: x.nanquantile(0.6, dim=1),
    "diff": lambda x: x.diff(),
    "diff_n2_dim0": lambda x: x.diff(n=2, dim=0),
    "diff_prepend_append": lambda x: x.diff(dim=1, prepend=x[:, :1] * 2, append=x[:, :2]),
    "dist": lambda x: x.dist(x * x),
    "dist_p3": lambda x: x.dist(x * x, 3),
    "dist_p1": lambda x: x.dist(x + 0.5, p=1),
    "dist_inf": lambda x: x.dist(x * x, INF),
    "renorm": lambda x: x.renorm(2, 0, 1.5),
    "renorm_p1_dim1": lambda x: x.renorm(1, 1, 2.0),
}


def _weights(out):
    return np.linspace(-1, 1, int(np.prod(out.shape))).reshape(tuple(out.shape))


@pytest.mark.parametrize("case", CASES)
def test_gradients_against_finite_differences(case):
    x = mg.tensor(A, requires_grad=True)
    assert mg.gradcheck(lambda t: (CASES[case](t) * _weights(CASES[case](t))).sum(), (x,))


# PyTorch's trigamma (the derivative of digamma) is good to about 1e-9 (ours to about 1e-15).
LOOSER = {"digamma": 1e-8}


@pytest.mark.parametrize("case", CASES)
def test_values_and_gradients_against_pytorch(case):
    torch = pytest.importorskip("torch")
    x, tx = mg.tensor(A, requires_grad=True), torch.tensor(A, requires_grad=True)
    ours, theirs = CASES[case](x), CASES[case](tx)
    assert ours.shape == tuple(theirs.shape) and ours.dtype == theirs.detach().numpy().dtype
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-12, atol=1e-15)
    weights = _weights(ours)
    (ours * weights).sum().backward()
    (theirs * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=LOOSER.get(case, 1e-12), atol=1e-15)


def _both(torch, data, requires_grad=True):
    return (mg.tensor(data, requires_grad=requires_grad),
            torch.tensor(data, dtype=torch.float64, requires_grad=requires_grad))


def _same_gradient(torch, ours, theirs, x, tx):
    weights = _weights(ours)
    (ours * weights).sum().backward()
    (theirs * torch.tensor(weights)).sum().backward()
    np.testing.assert_array_equal(x.grad, tx.grad.numpy())


# (name, call) on data holding nan, inf and ties: values, indices and gradients as PyTorch's.
SPECIAL = {
    "median_ties": ([[1.0, 2.0, 2.0, 3.0, 0.5, 2.0]], lambda x: x.median()),
    "median_nan": ([1.0, NAN, 2.0, NAN], lambda x: x.median()),
    "nanmedian_nan": ([1.0, NAN, 2.0, NAN, 0.0], lambda x: x.nanmedian()),
    "median_dim_nan": ([[1.0, NAN, 2.0], [3.0, 1.0, 2.0]], lambda x: x.median(1).values),
    "nanmedian_dim": ([[1.0, NAN, 2.0, 0.0], [NAN, 3.0, NAN, 1.0]], lambda x: x.nanmedian(1).values),
    "kthvalue_nan": ([1.0, NAN, 2.0, NAN], lambda x: x.kthvalue(3).values),
    "mode_ties": ([[1.0, 3.0, 3.0, 1.0, 2.0], [2.0, 1.0, 1.0, 2.0, 5.0]], lambda x: x.mode(1).values),
    "cummax_ties_nan": ([1.0, 1.0, 0.0, 1.0, NAN, 5.0, NAN], lambda x: x.cummax(0).values),
    "cummin_ties": ([[1.0, 1.0, 2.0, 1.0], [3.0, 2.0, 2.0, 4.0]], lambda x: x.cummin(1).values),
    "nansum": ([[1.0, NAN, 2.0], [NAN, NAN, NAN]], lambda x: x.nansum(1)),
    "nanmean": ([[1.0, NAN, 2.0], [NAN, NAN, 4.0]], lambda x: x.nanmean(dim=1)),
    "nan_to_num": ([1.0, NAN, INF, -INF], lambda x: x.nan_to_num(nan=2.0, posinf=9.0)),
    "nan_to_num_defaults": ([1.0, NAN, INF, -INF], lambda x: x.nan_to_num()),
    "quantile_nan": ([[1.0, NAN, 2.0], [3.0, 1.0, 2.0]], lambda x: x.quantile(0.5, dim=1)),
    "nanquantile_nan": ([[1.0, NAN, 2.0, 4.0], [NAN, NAN, NAN, NAN], [3.0, 1.0, 2.0, 0.0]],
                        lambda x: x.nanquantile(x.new_tensor([0.0, 0.4, 1.0]), dim=1)),
    "fmax_nan": ([1.0, NAN, 2.0, NAN], lambda x: x.fmax(x.new_tensor([NAN, 3.0, 2.0, NAN]))),
    "fmin_ties": ([1.0, NAN, 2.0, -1.0], lambda x: x.fmin(x.new_tensor([1.0, 3.0, 2.0, NAN]))),
    "xlogy_zeros": ([0.0, 0.0, 1.0, 2.0], lambda x: x.xlogy(x.new_tensor([0.0, 2.0, 0.0, 3.0]))),
    "copysign_zero": ([0.0, 1.0, -2.0, 3.0], lambda x: x.copysign(x.new_tensor([-1.0, -0.0, 1.0, 0.0]))),
    "hypot_origin": ([0.0, 1.0], lambda x: x.hypot(x.new_tensor([0.0, 0.0]))),
    "sinc_zero": ([0.0, 1.0, -0.5], lambda x: x.sinc()),
    "erfinv_edges": ([-1.0, 1.0, 0.0, 0.999, -0.9999], lambda x: x.erfinv()),
    "lgamma_poles": ([0.0, -1.0, -2.5, 1e-8, 1.0, 2.0, 171.5, -INF, INF], lambda x: x.lgamma()),
    "digamma_poles": ([0.0, -2.5, 1e-8, 1.0, 1.4616321449683622], lambda x: x.digamma() * 0),
}


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # the test's weighted sum of +-inf
@pytest.mark.parametrize("case", SPECIAL)
def test_nan_inf_and_ties_as_pytorch(case):
    torch = pytest.importorskip("torch")
    data, call = SPECIAL[case]
    x, tx = _both(torch, data)
    ours, theirs = call(x), call(tx)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-13, atol=0, equal_nan=True)
    weights = _weights(ours)
    (ours * weights).sum().backward()
    (theirs * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-13, atol=0, equal_nan=True)


INDEXED = {
    "median": lambda x: x.median(1),
    "median_nan": lambda x: x.median(0),
    "nanmedian": lambda x: x.nanmedian(0, keepdim=True),
    "kthvalue": lambda x: x.kthvalue(2, 0),
    "mode": lambda x: x.mode(0),
    "cummax": lambda x: x.cummax(0),
    "cummin": lambda x: x.cummin(1),
}


@pytest.mark.parametrize("case", INDEXED)
def test_indices_are_pytorchs_and_outside_the_graph(case):
    torch = pytest.importorskip("torch")
    data = [[1.0, 2.0, 1.0], [NAN, 2.0, 0.0], [1.0, 5.0, 1.0], [3.0, 2.0, 1.0]]
    if case in ("median", "mode", "cummin"):
        data[1][0] = 1.0
    if case == "kthvalue":  # no ties: PyTorch's kthvalue picks among tied values unpredictably
        data = np.where(np.isnan(data), NAN, [*A[:, :3].tolist(), [0.1, 0.2, 0.3]])
    x, tx = _both(torch, data)
    ours, theirs = INDEXED[case](x), INDEXED[case](tx)
    assert ours.indices.dtype == np.int64 and not ours.indices.requires_grad
    np.testing.assert_array_equal(ours.indices.data, theirs.indices.numpy())
    np.testing.assert_allclose(ours.values.data, theirs.values.detach().numpy(), equal_nan=True)
    _same_gradient(torch, ours.values, theirs.values, x, tx)


def test_functions_take_arrays_and_match_the_methods():
    x = mg.tensor(A)
    np.testing.assert_array_equal(mg.addmm(x[:, :3], x, x.t()).data, x[:, :3].addmm(x, x.t()).data)
    np.testing.assert_array_equal(mg.hypot(A, 2.0).data, np.hypot(A, 2.0))
    assert mg.median(A).item() == np.sort(A.ravel())[5]
    assert mg.quantile(A, 0.5).item() == pytest.approx(np.quantile(A, 0.5), rel=1e-14)
    np.testing.assert_allclose(mg.quantile(A, [0.1, 0.9], dim=1).data, np.quantile(A, [0.1, 0.9], axis=1),
                               rtol=1e-14)
    np.testing.assert_array_equal(mg.diff(A, dim=0).data, np.diff(A, axis=0))
    np.testing.assert_allclose(mg.erfinv(mg.erf(x * 0.3)).data, A * 0.3, rtol=1e-14)
    assert mg.count_nonzero([[0, 1, 2], [0, 0, 3]], dim=1).data.tolist() == [2, 1]
    assert mg.count_nonzero(np.array([[0.0, 1.0]])).dtype == np.int64
    assert mg.absolute is mg.abs and mg.acosh is mg.arccosh
    digamma = mg.digamma([0.0, -1.0, -2.0, 1.0]).data
    assert digamma[0] == -np.inf and np.isnan(digamma[1:3]).all() and digamma[3] == pytest.approx(-0.5772156649015329)
    assert mg.lgamma([0.0, -3.0, 0.5]).data.tolist() == [np.inf, np.inf, pytest.approx(np.log(np.pi) / 2)]


SECOND_ORDER = {
    "hypot": lambda x: x.hypot(x * x + 0.5),
    "xlogy": lambda x: (x * x).xlogy(x * x + 0.5),
    "arccosh": lambda x: (x * x + 1.5).arccosh(),
    "arcsinh": lambda x: x.arcsinh(),
    "arctanh": lambda x: (x * 0.4).arctanh(),
    "erfinv": lambda x: (x * 0.45).erfinv(),
    "median": lambda x: (x * x).median() + x.median(1).values.sum(),
    "quantile": lambda x: (x * x).quantile(0.3, dim=0),
}


@pytest.mark.parametrize("case", SECOND_ORDER)
def test_second_derivatives_as_pytorch(case):
    torch = pytest.importorskip("torch")
    x, tx = mg.tensor(A, requires_grad=True), torch.tensor(A, requires_grad=True)
    (ours,) = mg.grad(SECOND_ORDER[case](x).sum(), x, create_graph=True)
    (theirs,) = torch.autograd.grad(SECOND_ORDER[case](tx).sum(), tx, create_graph=True)
    weights = _weights(ours)
    (ours2,) = mg.grad((ours * weights).sum(), x)
    (theirs2,) = torch.autograd.grad((theirs * torch.tensor(weights)).sum(), tx)
    np.testing.assert_allclose(ours2.data, theirs2.numpy(), rtol=1e-12, atol=1e-14)


def test_lgamma_differentiates_to_digamma_and_trigamma():
    x = mg.tensor([0.7, 2.5, -1.3], requires_grad=True)
    (first,) = mg.grad(x.lgamma().sum(), x, create_graph=True)
    np.testing.assert_allclose(first.data, mg.digamma(x).data, rtol=1e-15)
    (second,) = mg.grad(first.sum(), x, create_graph=True)
    # trigamma(0.7), trigamma(2.5) and trigamma(-1.3) (mpmath)
    np.testing.assert_allclose(second.data, [2.834049156694611, 0.49035775610023485, 14.53687624413708], rtol=1e-13)
    (third,) = mg.grad(second.sum(), x)  # polygamma(2) (mpmath)
    np.testing.assert_allclose(third.data, [-6.4349928741909235, -0.2362040516417274, 68.54941347116214],
                               rtol=1e-10)


def test_in_place_forms_write_the_functions_values_and_refuse_tensors_that_require_grad():
    for name, args, kwargs in [("addcmul_", (A, A), {"value": 0.5}), ("addcdiv_", (A, A * A + 1), {"value": 2}),
                               ("addmm_", (A[:, :3].T, A[:, :3]), {"beta": 0.5}), ("hypot_", (A,), {}),
                               ("asinh_", (), {}), ("sinc_", (), {}), ("frac_", (), {}), ("erfinv_", (), {}),
                               ("renorm_", (2, 0, 1.0), {}), ("nan_to_num_", (), {"nan": 1.0})]:
        data = A[:, :3].copy() if name == "addmm_" else (A * 0.4 if name == "erfinv_" else A.copy())
        t = mg.tensor(data)
        before = t._version
        assert getattr(t, name)(*args, **kwargs) is t and t._version == before + 1
        np.testing.assert_array_equal(t.data, getattr(mg.tensor(data), name[:-1])(*args, **kwargs).data)
    with pytest.raises(RuntimeError, match=r"addcmul_.*requires grad"):
        mg.tensor(A, requires_grad=True).addcmul_(A, A)


def test_float32_stays_float32_and_float_power_is_float64():
    x = mg.tensor(A.astype(np.float32), requires_grad=True)
    outs = [x.hypot(x), x.xlogy(x * x), x.asinh(), (x * 0.3).erfinv(), x.logit(eps=0.1), x.median(),
            x.median(1).values, x.quantile(0.3, dim=0), x.nansum(), x.nanmean(), x.cummax(1).values, x.sinc(),
            x.diff(), x.dist(x * 2), x.renorm(2, 0, 1.0), x.addcmul(x, x, value=2), x.deg2rad(), x.fmax(x * 2),
            x.logaddexp2(1.0), x.hypot(2.0), x.lgamma(), x.digamma(), x.copysign(-1.0), x.xlogy(2.0)]
    for out in outs:
        assert out.dtype == np.float32, out.op
        (out.sum() if out.ndim else out).backward()
    assert x.grad.dtype == np.float32
    assert x.float_power(2).dtype == np.float64 and mg.float_power([2], 3).dtype == np.float64


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # nan cast to int, inf - inf
def test_bool_results_are_outside_the_graph():
    torch = pytest.importorskip("torch")
    a = [[1.0, -INF, NAN], [INF, 0.0, 2.0]]
    b = [[1.0 + 1e-9, -INF, NAN], [3.0, 0.0, -2.0]]
    x, y = mg.tensor(a, requires_grad=True), mg.tensor(b)
    tx, ty = torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
    for name in ("isclose", "logical_and", "logical_or", "logical_xor", "less", "less_equal", "greater",
                 "greater_equal", "not_equal"):
        ours = getattr(x, name)(y)
        assert ours.dtype == np.bool_ and not ours.requires_grad
        np.testing.assert_array_equal(ours.data, getattr(tx, name)(ty).numpy(), err_msg=name)
        np.testing.assert_array_equal(getattr(mg, name)(x, y).data, ours.data)
    np.testing.assert_array_equal(x.isclose(y, equal_nan=True).data, tx.isclose(ty, equal_nan=True).numpy())
    np.testing.assert_array_equal(x.isclose(y, rtol=0, atol=0).data, tx.isclose(ty, rtol=0, atol=0).numpy())
    for name in ("isposinf", "isneginf", "isreal"):
        np.testing.assert_array_equal(getattr(x, name)().data, getattr(tx, name)().numpy())
    half = torch.tensor(0.5, dtype=torch.float64)
    np.testing.assert_array_equal(x.heaviside(mg.tensor(0.5)).data, tx.heaviside(half).numpy())
    assert not x.heaviside(mg.tensor(0.5)).requires_grad
    assert x.is_floating_point() is True and x.long().is_floating_point() is False and x.is_complex() is False
    assert x.count_nonzero().item() == 5 and not x.count_nonzero().requires_grad
    assert x.dist(y, 0).item() == torch.dist(tx, ty, 0).item() == 5  # nan counts as nonzero


def test_fused_products_ignore_input_with_beta_zero():
    torch = pytest.importorskip("torch")
    bad = np.full((3, 3), NAN)
    x, tx = mg.tensor(A), torch.tensor(A)
    np.testing.assert_allclose(mg.tensor(bad).addmm(x, x.t(), beta=0).data,
                               torch.tensor(bad).addmm(tx, tx.t(), beta=0).numpy(), rtol=1e-14)
    assert not np.isnan(mg.tensor(bad).addmm(x, x.t(), beta=0).data).any()


def test_errors_say_what_was_wrong():
    x = mg.tensor(A)
    with pytest.raises(ValueError, match="addmm: mat1 must be a 2-D tensor"):
        x.addmm(x[0], x)
    with pytest.raises(ValueError, match="baddbmm: batch1 must be a 3-D tensor"):
        x.baddbmm(x, x)
    with pytest.raises(ValueError, match="does not broadcast to the product's shape"):
        x.addmm(x, x.t())
    with pytest.raises(IndexError, match="kthvalue: k=5 is out of range"):
        x.kthvalue(5)
    with pytest.raises(ValueError, match="q values must be in"):
        x.quantile(1.5)
    with pytest.raises(ValueError, match="interpolation must be one of"):
        x.quantile(0.5, interpolation="cubic")
    with pytest.raises(ValueError, match="q must be a number or a 1-D tensor"):
        x.quantile([[0.5]])
    with pytest.raises(TypeError, match="quantile: input must be a floating-point"):
        x.long().quantile(0.5)
    with pytest.raises(ValueError, match="diff: n must be a non-negative int"):
        x.diff(n=-1)
    with pytest.raises(ValueError, match="renorm: p must be positive"):
        x.renorm(0, 0, 1.0)
    with pytest.raises(ValueError, match="renorm: input needs at least 2 dimensions"):
        x[0].renorm(2, 0, 1.0)
    with pytest.raises(ValueError, match="renorm: maxnorm must be non-negative"):
        x.renorm(2, 0, -1.0)
    with pytest.raises(IndexError, match=r"median.*non-zero size"):
        mg.tensor(np.zeros((2, 0))).median(1)
    with pytest.raises(IndexError, match="dim 1 is out of range for a 0-d tensor"):
        mg.tensor(2.0).median(1)


def test_all_nan_rows_give_nan_at_the_first_nan():
    """PyTorch's index for an all-nan row of nanmedian depends on its sort internals; here it
    is the first nan, as for median of a row holding a nan."""
    x = mg.tensor([[NAN, NAN, NAN, NAN], [1.0, NAN, 3.0, 2.0]], requires_grad=True)
    values, indices = x.nanmedian(1)
    assert np.isnan(values.data[0]) and indices.data.tolist() == [0, 3]
    values.sum().backward()
    np.testing.assert_array_equal(x.grad, [[1, 0, 0, 0], [0, 0, 0, 1]])


def test_scalars_and_empty_inputs():
    torch = pytest.importorskip("torch")
    s = mg.tensor(2.5, requires_grad=True)
    values, indices = s.median(0)
    assert values.shape == () and indices.item() == 0
    values.backward()
    assert s.grad == 1.0
    assert s.cummax(0).values.item() == torch.tensor(2.5).cummax(0).values.item()
    assert np.isnan(mg.tensor(np.zeros(0)).median().item()) and torch.tensor([]).median().isnan()
    assert mg.tensor(np.zeros((2, 0))).diff().shape == tuple(torch.zeros(2, 0).diff().shape)


def test_compiled_selection_finds_new_indices_on_replay():
    w = mg.tensor(np.zeros(4), requires_grad=True)

    @mg.compile
    def step(x):
        w.grad = None
        y = x + w
        loss = y.median() + y.kthvalue(1).values + y.cummax(0).values.sum() + y.quantile(0.3) + y.asinh().sum()
        loss.backward()
        return loss

    for data in ([1.0, 3.0, 2.0, 0.0], [5.0, -1.0, 2.0, 4.0], [0.0, 1.0, 7.0, 3.0]):
        x = mg.tensor(data)
        loss = step(x)
        eager = mg.tensor(np.zeros(4), requires_grad=True)
        y = x + eager
        expected = y.median() + y.kthvalue(1).values + y.cummax(0).values.sum() + y.quantile(0.3) + y.asinh().sum()
        expected.backward()
        assert loss.item() == expected.item()
        np.testing.assert_array_equal(w.grad, eager.grad)


def test_nanmean_of_bools_is_their_mean_not_their_count():
    flags = mg.tensor(np.array([[True, False, True, True], [False, False, True, False]]), dtype=bool)
    assert flags.nanmean().item() == flags.mean().item() == 0.5
    np.testing.assert_array_equal(flags.nanmean(dim=1).data, [0.75, 0.25])


def test_digamma_and_lgamma_differentiate_to_the_third_order():
    # digamma's derivative was computed on arrays only: a second mg.grad raised
    x = mg.tensor([1.5, 2.0, 3.7], requires_grad=True)
    (first,) = mg.grad(x.digamma().sum(), [x], create_graph=True)
    (second,) = mg.grad(first.sum(), [x], create_graph=True)
    (third,) = mg.grad(second.sum(), [x])
    step = 1e-5
    for lower, higher in ((first, second), (second, third)):
        order = 1 if lower is first else 2
        ahead = mg.polygamma(order, mg.tensor(x.data + step)).data
        behind = mg.polygamma(order, mg.tensor(x.data - step)).data
        np.testing.assert_allclose(higher.data, (ahead - behind) / (2 * step), rtol=1e-6)
    (lgamma_third,) = mg.grad(mg.grad(mg.grad(x.lgamma().sum(), [x], create_graph=True)[0].sum(), [x],
                                      create_graph=True)[0].sum(), [x])
    np.testing.assert_array_equal(lgamma_third.data, second.data)
