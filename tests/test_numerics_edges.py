"""Numerics at the edges: the softmax family at |x| up to 1e308 and at infinities, max/min
over NaN, reductions and scans over an empty axis, nn.Linear with no inputs or no outputs,
matmul's shape errors, int and bool inputs of float functions, and clear TypeErrors for
operands and arguments of the wrong type.

Each test asserts the expected values (written from PyTorch's documented or observed
behaviour, so it checks something without PyTorch) and, where PyTorch is installed,
also compares with it. Where PyTorch's own result is inexact (the gradient of logsumexp
once the result rounds to the max) the exact value is asserted instead."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import ops
from microgradnp.nn import functional as F
from microgradnp.ops.primitive import EmptyReductionError

INF, NAN = np.inf, np.nan


def _torch():
    """PyTorch when installed (an optional oracle), else None."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def _value_and_grad(fn, data, weight=None):
    """fn(x) and the gradient of sum(weight * fn(x)) for x = data (float64), warnings off."""
    x = mg.tensor(np.asarray(data, dtype=np.float64), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # overflow / invalid value at the extremes, as NumPy warns
        y = fn(x)
        y.backward(np.ones(y.shape) if weight is None else np.asarray(weight, dtype=np.float64))
    return y.data, x.grad


def _torch_value_and_grad(torch, fn, data, weight=None):
    x = torch.tensor(np.asarray(data, dtype=np.float64), requires_grad=True)
    y = fn(x)
    y.backward(torch.ones_like(y) if weight is None else torch.tensor(np.asarray(weight, dtype=np.float64)))
    return y.detach().numpy(), x.grad.numpy()


def _same(actual, expected):
    np.testing.assert_array_equal(np.asarray(actual), np.asarray(expected, dtype=np.float64))


# -- logsumexp, softmax, log_softmax, cross_entropy at |x| = 1e16..1e308 ----------------------
@pytest.mark.parametrize("data", [[1e16, 1e16], [1e308, 1e308], [-1e16, -1e16], [1e300, 1e300, 1e300, 1e300]])
def test_logsumexp_gradient_is_the_exact_softmax_where_the_result_rounds_to_the_max(data):
    """exp(x - logsumexp(x)) gives 1 for each element once logsumexp rounds to x (|x| >=
    2**53): the gradient must be the softmax, 1/n for n equal elements. (PyTorch 2.13 gives
    1 for each: its rule has that rounding, so it is not the oracle here.)"""
    value, grad = _value_and_grad(mg.logsumexp, data)
    assert value == data[0]  # the log(n) is below the rounding of |x|
    _same(grad, np.full(len(data), 1.0 / len(data)))


def test_logsumexp_second_derivative_stays_exact_at_1e16():
    """The Hessian of logsumexp is diag(s) - s s^T (s the softmax): [[1/4, -1/4], [-1/4, 1/4]]."""
    x = mg.tensor([1e16, 1e16], requires_grad=True)
    (g,) = mg.grad(mg.logsumexp(x), [x], create_graph=True)
    _same(g.data, [0.5, 0.5])
    (h,) = mg.grad((g * mg.tensor([1.0, 0.0])).sum(), [x])
    _same(h.data, [0.25, -0.25])


@pytest.mark.parametrize(
    ("data", "value", "grad"),
    [
        # (torch.logsumexp's value and gradient, also as PyTorch 2.13 gives them)
        pytest.param([-1e308, 1e308], 1e308, [0.0, 1.0], id="spanning-more-than-the-float-range"),
        pytest.param([-INF, 0.0], 0.0, [0.0, 1.0], id="minus-inf-entry"),
        pytest.param([1e308, -INF], 1e308, [1.0, 0.0], id="minus-inf-beside-1e308"),
        pytest.param([-INF, -INF], -INF, [NAN, NAN], id="all-minus-inf"),
        pytest.param([INF, 1.0], INF, [NAN, 0.0], id="plus-inf"),
        pytest.param([NAN, 1.0], NAN, [NAN, NAN], id="nan"),
    ],
)
def test_logsumexp_at_infinities_matches_torch(data, value, grad):
    got_value, got_grad = _value_and_grad(mg.logsumexp, data)
    _same(got_value, value)
    _same(got_grad, grad)
    torch = _torch()
    if torch is not None:
        t_value, t_grad = _torch_value_and_grad(torch, lambda x: torch.logsumexp(x, 0), data)
        _same(got_value, t_value)
        _same(got_grad, t_grad)


WEIGHT = [1.0, 2.0]


@pytest.mark.parametrize(
    ("data", "softmax", "softmax_grad", "log_softmax", "log_softmax_grad"),
    [
        # softmax(x) * w and log_softmax(x) * w, w = [1, 2], summed: PyTorch 2.13's values.
        pytest.param([1e16, 1e16], [0.5, 0.5], [-0.25, 0.25], [-np.log(2)] * 2, [-0.5, 0.5], id="1e16"),
        pytest.param([1e308, 1e308], [0.5, 0.5], [-0.25, 0.25], [-np.log(2)] * 2, [-0.5, 0.5], id="1e308"),
        pytest.param([-1e308, 1e308], [0.0, 1.0], [0.0, 0.0], [-INF, 0.0], [1.0, -1.0], id="-1e308-1e308"),
        pytest.param([-INF, 0.0], [0.0, 1.0], [0.0, 0.0], [-INF, 0.0], [1.0, -1.0], id="minus-inf"),
        pytest.param([1e308, -INF], [1.0, 0.0], [0.0, 0.0], [0.0, -INF], [-2.0, 2.0], id="1e308-minus-inf"),
        pytest.param([-INF, -INF], [NAN, NAN], [NAN, NAN], [NAN, NAN], [NAN, NAN], id="all-minus-inf"),
        # A +inf makes the whole row nan in PyTorch (inf - inf): so it does here.
        pytest.param([INF, 1.0], [NAN, NAN], [NAN, NAN], [NAN, NAN], [NAN, NAN], id="plus-inf"),
    ],
)
def test_softmax_and_log_softmax_at_the_extremes_match_torch(data, softmax, softmax_grad, log_softmax,
                                                             log_softmax_grad):
    weight = np.asarray(WEIGHT)
    value, grad = _value_and_grad(mg.softmax, data, weight)
    _same(value, softmax)
    _same(grad, softmax_grad)
    value, grad = _value_and_grad(mg.log_softmax, data, weight)
    np.testing.assert_allclose(value, log_softmax, rtol=1e-15)
    _same(grad, log_softmax_grad)
    torch = _torch()
    if torch is not None:
        for mg_fn, th_fn in ((mg.softmax, torch.softmax), (mg.log_softmax, torch.log_softmax)):
            got = _value_and_grad(mg_fn, data, weight)
            expected = _torch_value_and_grad(torch, lambda x, th_fn=th_fn: th_fn(x, 0), data, weight)
            np.testing.assert_allclose(got[0], expected[0], rtol=1e-15)
            np.testing.assert_allclose(got[1], expected[1], rtol=1e-15)


@pytest.mark.parametrize("data", [[1e16, 1e16], [1e308, 1e308], [-1e308, 1e308], [-INF, 0.0], [1e308, -INF]])
def test_cross_entropy_at_the_extremes_matches_torch(data):
    expected = {  # PyTorch 2.13, target class 1
        (1e16, 1e16): (np.log(2), [0.5, -0.5]), (1e308, 1e308): (np.log(2), [0.5, -0.5]),
        (-1e308, 1e308): (0.0, [0.0, 0.0]), (-INF, 0.0): (0.0, [0.0, 0.0]), (1e308, -INF): (INF, [1.0, -1.0]),
    }[tuple(data)]
    value, grad = _value_and_grad(lambda x: F.cross_entropy(x[None], np.array([1])), data)
    np.testing.assert_allclose(value, expected[0], rtol=1e-15)
    _same(grad, expected[1])


def test_logsumexp_gradient_and_second_order_against_finite_differences(rng):
    x = mg.tensor(rng.standard_normal((3, 4)) * 3, requires_grad=True)
    assert mg.gradcheck(lambda t: mg.logsumexp(t, axis=1), [x])
    assert mg.gradcheck(lambda t: mg.logsumexp(t, axis=(0, 1), keepdims=True), [x])

    def gradient(t):
        (g,) = mg.grad(mg.logsumexp(t, axis=1).sum(), [t], create_graph=True)
        return g

    assert mg.gradcheck(gradient, [x])


def test_logsumexp_second_order_matches_torch(rng):
    torch = _torch()
    if torch is None:
        pytest.skip("PyTorch not installed (the finite-difference test above still checks this)")
    data, v = rng.standard_normal((2, 5)), rng.standard_normal((2, 5))
    x = mg.tensor(data, requires_grad=True)
    (g,) = mg.grad(mg.logsumexp(x, axis=1).sum(), [x], create_graph=True)
    (h,) = mg.grad((g * v).sum(), [x])
    xt = torch.tensor(data, requires_grad=True)
    (gt,) = torch.autograd.grad(torch.logsumexp(xt, 1).sum(), xt, create_graph=True)
    (ht,) = torch.autograd.grad((gt * torch.tensor(v)).sum(), xt)
    np.testing.assert_allclose(h.data, ht.numpy(), rtol=1e-12, atol=1e-14)


# -- max / min over NaN ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "grad"),
    [
        ([1.0, NAN, 3.0], [0.0, 1.0, 0.0]),
        ([NAN, NAN, 2.0], [0.5, 0.5, 0.0]),  # tied NaNs share it, as tied maxima do
        ([3.0, 3.0, NAN], [0.0, 0.0, 1.0]),
    ],
)
@pytest.mark.parametrize("which", ["max", "min"])
def test_max_and_min_over_nan_send_the_gradient_to_the_nan_as_torch_max(which, data, grad):
    """A NaN is the max (and the min), and torch's t.max() / t.min() give it the gradient
    (shared evenly among NaNs); max(dim=) gives it to the first NaN, as np.argmax picks it.
    (torch.amax gives nan everywhere, from dividing by a zero count of hits: not followed.)"""
    for fn in (lambda x: getattr(x, which)(), lambda x: getattr(mg, which)(x, axis=0),
               lambda x: getattr(x, "a" + which)()):
        value, got = _value_and_grad(fn, data)
        assert np.isnan(value)
        _same(got, grad)
    value, got = _value_and_grad(lambda x: getattr(x, which)(dim=0)[0], data)
    first_nan = np.zeros(3)
    first_nan[int(np.argmax(np.isnan(data)))] = 1.0
    _same(got, first_nan)
    assert int(getattr(mg.tensor(data), "arg" + which)()) == int(np.argmax(np.isnan(data)))
    torch = _torch()
    if torch is not None:
        _same(_value_and_grad(lambda x: getattr(x, which)(), data)[1],
              _torch_value_and_grad(torch, lambda x: getattr(x, which)(), data)[1])
        _same(_value_and_grad(lambda x: getattr(x, which)(dim=0)[0], data)[1],
              _torch_value_and_grad(torch, lambda x: getattr(x, which)(dim=0)[0], data)[1])


def test_max_over_rows_with_and_without_nan():
    data = [[1.0, NAN, NAN], [4.0, 2.0, 4.0]]
    value, grad = _value_and_grad(lambda x: x.max(axis=1), data)
    _same(value, [NAN, 4.0])
    _same(grad, [[0.0, 0.5, 0.5], [0.5, 0.0, 0.5]])


# -- empty axes ------------------------------------------------------------------------------
# (name, mg function of (x, axis), torch function of (x, dim) or None, expected result or an error)
EMPTY_CASES = [
    ("softmax", lambda x, d: mg.softmax(x, axis=d), lambda th, x, d: th.softmax(x, d), "empty"),
    ("log_softmax", lambda x, d: mg.log_softmax(x, axis=d), lambda th, x, d: th.log_softmax(x, d), "empty"),
    ("logsumexp", lambda x, d: mg.logsumexp(x, axis=d), lambda th, x, d: th.logsumexp(x, d), -INF),
    ("sum", lambda x, d: x.sum(axis=d), lambda th, x, d: x.sum(d), 0.0),
    ("mean", lambda x, d: x.mean(axis=d), lambda th, x, d: x.mean(d), NAN),
    ("var", lambda x, d: x.var(axis=d, ddof=1), lambda th, x, d: x.var(d), NAN),
    ("std", lambda x, d: x.std(axis=d), lambda th, x, d: x.std(d, correction=0), NAN),
    ("prod", lambda x, d: x.prod(axis=d), lambda th, x, d: x.prod(d), 1.0),
    ("norm", lambda x, d: x.norm(axis=d), lambda th, x, d: th.linalg.norm(x, dim=d), 0.0),
    ("cumsum", lambda x, d: x.cumsum(axis=d), lambda th, x, d: x.cumsum(d), "empty"),
    ("cumprod", lambda x, d: x.cumprod(axis=d), lambda th, x, d: x.cumprod(d), "empty"),
    ("logcumsumexp", lambda x, d: x.logcumsumexp(axis=d), lambda th, x, d: x.logcumsumexp(d), "empty"),
    ("sort", lambda x, d: x.sort(d)[0], lambda th, x, d: x.sort(d)[0], "empty"),
    ("topk-0", lambda x, d: x.topk(0, d)[0], lambda th, x, d: x.topk(0, d)[0], "empty"),
    ("max", lambda x, d: x.max(axis=d), lambda th, x, d: x.amax(d), IndexError),
    ("min", lambda x, d: x.min(axis=d), lambda th, x, d: x.amin(d), IndexError),
    ("amax", lambda x, d: x.amax(dim=d), lambda th, x, d: x.amax(d), IndexError),
    ("max-dim", lambda x, d: x.max(dim=d)[0], lambda th, x, d: x.max(dim=d)[0], IndexError),
    ("min-dim", lambda x, d: x.min(dim=d)[0], lambda th, x, d: x.min(dim=d)[0], IndexError),
    ("argmax", lambda x, d: x.argmax(axis=d), lambda th, x, d: x.argmax(d), IndexError),
]


@pytest.mark.parametrize(("shape", "axis"), [((3, 0), 1), ((0, 3), 0), ((0,), 0)])
@pytest.mark.parametrize(("name", "mg_fn", "th_fn", "expected"), EMPTY_CASES, ids=[c[0] for c in EMPTY_CASES])
def test_reductions_and_scans_over_an_empty_axis_match_torch(name, mg_fn, th_fn, expected, shape, axis):
    kept = tuple(n for i, n in enumerate(shape) if i != axis)
    torch = _torch()
    if expected is IndexError:
        with pytest.raises(IndexError, match=r"non-zero size.*empty along it") as error:
            mg_fn(mg.zeros(shape, requires_grad=True), axis)
        assert isinstance(error.value, ValueError)  # also NumPy's exception for it
        assert isinstance(error.value, EmptyReductionError)
        if torch is not None:
            with pytest.raises(IndexError):
                th_fn(torch, torch.zeros(shape, dtype=torch.float64), axis)
        return
    x = mg.zeros(shape, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumPy warns about the mean of an empty slice, as np.mean does
        y = mg_fn(x, axis)
        if y.requires_grad:
            y.sum().backward()
    if isinstance(expected, str):
        assert y.shape == shape and y.data.size == 0
    else:
        _same(y.data, np.full(kept, expected))
    assert x.grad.shape == shape
    if torch is not None:
        xt = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about var's degrees of freedom
            yt = th_fn(torch, xt, axis)
        assert tuple(yt.shape) == y.shape
        np.testing.assert_array_equal(y.data, yt.detach().numpy())
        yt.sum().backward()
        assert tuple(xt.grad.shape) == x.grad.shape


def test_an_empty_batch_reduced_along_a_non_empty_axis_is_still_empty():
    x = mg.zeros((0, 3), requires_grad=True)
    for fn in (lambda t: t.max(axis=1), lambda t: t.max(dim=1)[0], lambda t: mg.softmax(t), mg.logsumexp):
        y = fn(x) if fn is not mg.logsumexp else mg.logsumexp(x, axis=1)
        assert y.data.size == 0
    assert x.argmax(axis=1).shape == (0,)


def test_the_empty_axis_error_names_the_axis_and_shape():
    with pytest.raises(IndexError, match=r"max\(\): expected reduction axis 1 .* shape \(3, 0\)"):
        mg.zeros((3, 0)).max(axis=1)


# -- nn.Linear with no inputs or no outputs --------------------------------------------------
def test_linear_with_no_inputs_gives_the_bias_and_warns_like_torch():
    with pytest.warns(UserWarning, match="zero-element"):
        layer = mg.nn.Linear(0, 3, rng=0)
    assert layer.weight.shape == (3, 0)
    _same(layer.bias.data, [0.0, 0.0, 0.0])  # PyTorch: the bias bound 1/sqrt(fan_in) is 0 with no inputs
    with mg.no_grad():
        layer.bias.data[...] = [1.0, 2.0, 3.0]
    x = mg.zeros((4, 0), requires_grad=True)
    y = layer(x)
    _same(y.data, np.tile([1.0, 2.0, 3.0], (4, 1)))
    y.sum().backward()
    assert layer.weight.grad.shape == (3, 0) and x.grad.shape == (4, 0)
    _same(layer.bias.grad, [4.0, 4.0, 4.0])
    torch = _torch()
    if torch is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reference = torch.nn.Linear(0, 3)
        _same(layer.bias.data * 0, reference.bias.detach().numpy())


def test_linear_with_no_outputs_gives_an_empty_result():
    with pytest.warns(UserWarning, match="zero-element"):
        layer = mg.nn.Linear(3, 0, rng=0)
    x = mg.ones((4, 3), requires_grad=True)
    y = layer(x)
    assert y.shape == (4, 0)
    y.sum().backward()
    _same(x.grad, np.zeros((4, 3)))
    assert layer.weight.grad.shape == (0, 3) and layer.bias.grad.shape == (0,)


def test_initialisers_leave_zero_element_weights():
    weight = mg.zeros((3, 0))
    for init in (mg.nn.init.kaiming_uniform_, mg.nn.init.kaiming_normal_):
        with pytest.warns(UserWarning, match="zero-element"):
            assert init(weight) is weight
    for init in (mg.nn.init.xavier_uniform_, mg.nn.init.xavier_normal_):
        assert init(mg.zeros((0, 0))).shape == (0, 0)


# -- matmul shape errors ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("a_shape", "b_shape", "message"),
    [
        ((2, 3), (2, 3), r"cannot multiply \(2x3\) by \(2x3\).*last axis \(3\).*second-to-last axis \(2\).*a @ b\.T"),
        ((3,), (4,), r"cannot multiply \(3\) by \(4\).*1-D second operand \(4\)"),
        ((3,), (2, 3), r"cannot multiply \(3\) by \(2x3\).*a @ b\.T"),
        ((2, 3), (2,), r"cannot multiply \(2x3\) by \(2\).*a\.T @ b"),
        ((4, 2, 3), (4, 2, 3), r"cannot multiply \(4x2x3\) by \(4x2x3\).*swapaxes"),
        ((4, 2, 3), (5, 3, 2), r"cannot multiply \(4x2x3\) by \(5x3x2\).*batch axes \(4,\) and \(5,\)"),
        ((), (3,), r"cannot multiply \(scalar\) by \(3\).*\*"),
    ],
)
def test_matmul_shape_errors_name_the_shapes_and_the_fix(a_shape, b_shape, message):
    a, b = mg.ones(a_shape), mg.ones(b_shape)
    for product in (lambda: a @ b, lambda: a @ b.data, lambda: a.data @ b, lambda: mg.matmul(a, b)):
        with pytest.raises(ValueError, match=message):
            product()


# -- int and bool inputs of float functions --------------------------------------------------
FLOAT_FUNCTIONS = {
    "sigmoid": mg.sigmoid, "tanh": mg.tanh, "exp": mg.exp, "log": mg.log, "sqrt": mg.sqrt, "sin": mg.sin,
    "log1p": mg.log1p, "erf": mg.erf, "reciprocal": mg.reciprocal,
    "softmax": mg.softmax, "log_softmax": mg.log_softmax, "logsumexp": mg.logsumexp, "mean": mg.mean,
    "var": mg.var, "std": mg.std, "norm": mg.norm, "logcumsumexp": lambda x: mg.logcumsumexp(x, axis=0),
    "gelu": F.gelu, "silu": F.silu, "softplus": F.softplus, "leaky_relu": F.leaky_relu, "elu": F.elu,
    "mish": F.mish, "logsigmoid": F.logsigmoid, "softsign": F.softsign, "hardswish": F.hardswish,
}


@pytest.mark.parametrize("name", list(FLOAT_FUNCTIONS))
@pytest.mark.parametrize("kind", ["int", "bool"])
def test_int_and_bool_inputs_of_float_functions_become_the_default_float(name, kind):
    fn = FLOAT_FUNCTIONS[name]
    data = np.array([1, 2, 0, 3]) if kind == "int" else np.array([True, False, True, True])
    mg.set_default_dtype(np.float32)  # (restored by conftest)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # log(0)
        got = fn(mg.from_numpy(data))
        as_float = fn(mg.tensor(data.astype(np.float32)))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got.data, as_float.data)


def test_comparison_results_feed_float_functions():
    x = mg.tensor([-1.0, 2.0, 0.5])
    mask = x > 0
    _same(mg.sigmoid(mask).data, 1 / (1 + np.exp(-np.array([0.0, 1.0, 1.0]))))
    _same(mg.relu(mask).data, [0.0, 1.0, 1.0])
    _same(mg.abs(mask).data, [0.0, 1.0, 1.0])
    _same(mask.mean().data, 2 / 3)


def test_functions_closed_on_integers_keep_them_as_torch():
    data = mg.from_numpy(np.array([1, -2, 3]))
    for fn in (mg.relu, mg.abs, lambda x: x.sum(), lambda x: x.max(), lambda x: x.cumsum(axis=0)):
        assert fn(data).dtype == np.int64
    _same(F.leaky_relu(data, 0.5).data, [1.0, -1.0, 3.0])  # not truncated to ints
    torch = _torch()
    if torch is not None:
        assert torch.sigmoid(torch.tensor([1, 2])).dtype == torch.get_default_dtype()
        assert torch.relu(torch.tensor([1, -2])).dtype == torch.int64


# -- clear TypeErrors ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("expression", "message"),
    [
        (lambda t: t + "a", r"unsupported operand for \+: the second operand is of type str \('a'\)"),
        (lambda t: "a" + t, r"unsupported operand for \+: the first operand is of type str"),
        (lambda t: t - None, r"unsupported operand for -: the second operand is None"),
        (lambda t: t * object(), r"unsupported operand for \*: the second operand is of type object"),
        (lambda t: t / "2", r"unsupported operand for /.*float\(s\) for a numeric string"),
        (lambda t: t ** "2", r"unsupported operand for \*\*"),
        (lambda t: t @ "a", r"unsupported operand for @"),
        (lambda t: ops.add(t, None), r"unsupported operand for \+"),
    ],
)
def test_arithmetic_with_non_numbers_says_what_is_accepted(expression, message):
    t = mg.ones(2, 2)
    with pytest.raises(TypeError, match=message) as error:
        expression(t)
    assert "Arithmetic on Tensors takes Tensors, numbers" in str(error.value)


def test_in_place_arithmetic_with_non_numbers_says_what_is_accepted():
    t = mg.ones(2)
    with pytest.raises(TypeError, match=r"unsupported operand for \+=: the second operand is of type str"):
        t += "a"


@pytest.mark.parametrize(
    "call",
    [lambda t: t.sum(axis=1.5), lambda t: t.mean(axis=1.0), lambda t: t.max(axis=1.5),
     lambda t: t.sum(axis=(0, 1.5)), lambda t: t.softmax(axis=0.5), lambda t: t.cumsum(axis=1.5),
     lambda t: t.sum(axis="1")],
)
def test_a_float_axis_is_a_clear_type_error(call):
    with pytest.raises(TypeError, match=r"axis must be an int .*got .* \((float|str)\)"):
        call(mg.ones(2, 3))


@pytest.mark.parametrize("state", [None, 5, [("weight", np.zeros((3, 2)))]])
def test_load_state_dict_of_a_non_mapping_is_a_clear_type_error(state):
    with pytest.raises(TypeError, match=r"load_state_dict: expected a mapping of names to arrays"):
        mg.nn.Linear(2, 3).load_state_dict(state)


def test_load_state_dict_of_a_path_points_to_nn_load():
    with pytest.raises(TypeError, match=r"mg\.nn\.load\(path, into=model\)"):
        mg.nn.Linear(2, 3).load_state_dict("model.npz")
