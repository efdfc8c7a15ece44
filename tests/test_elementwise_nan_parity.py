"""PyTorch parity at the edges: nan through sign, abs, relu, hardswish and sorting; logit's
gradient outside its domain and its clamp; logaddexp2 computed in the promoted dtype;
quantile's gradient for q; PyTorch's errors for bool negation and subtraction, integer
division by zero, empty reductions and 0-d inputs. Values and gradients are checked
against PyTorch (the oracle) and, where a gradient is defined, finite differences."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import numeric_grad

import microgradnp as mg
from microgradnp.nn import functional as F

NAN, INF = float("nan"), float("inf")
EDGES = [NAN, -INF, -3.0, -1.0, -0.0, 0.0, 0.5, 2.0, 3.0, 6.0, INF]


def _value_and_grad(function, values, dtype=np.float64):
    x = mg.tensor(np.asarray(values, dtype=dtype), dtype=dtype, requires_grad=True)
    out = function(x)
    out.sum().backward()
    return out.data, x.grad


def _torch_value_and_grad(torch, function, values, dtype=np.float64):
    x = torch.tensor(np.asarray(values, dtype=dtype), requires_grad=True)
    out = function(x)
    out.sum().backward()
    return out.detach().numpy(), x.grad.numpy(force=True)  # (sgn gives a ZeroTensor)


# -- nan through elementwise functions ------------------------------------------------------------


@pytest.mark.parametrize("name", ["sign", "sgn"])
def test_sign_of_nan_is_zero_as_torch(torch, name):
    value, grad = _value_and_grad(getattr(mg, name), EDGES)
    expected, expected_grad = _torch_value_and_grad(torch, getattr(torch, name), EDGES)
    np.testing.assert_array_equal(value, expected)
    np.testing.assert_array_equal(grad, expected_grad)


def test_sign_keeps_dtype_and_signbit_as_torch(torch):
    ints = np.array([-4, 0, 7])
    assert mg.sign(mg.tensor(ints, dtype=np.int64)).data.tolist() == torch.sign(torch.tensor(ints)).tolist()
    mask = np.array([True, False])
    result = mg.sign(mg.tensor(mask, dtype=bool))
    assert result.dtype == np.dtype(bool) and result.data.tolist() == torch.sign(torch.tensor(mask)).tolist()
    x32 = np.array([NAN, -1.0, 2.0], dtype=np.float32)
    assert mg.sign(mg.tensor(x32, dtype=np.float32)).dtype == np.float32
    np.testing.assert_array_equal(mg.signbit(mg.tensor(EDGES)).data, torch.signbit(torch.tensor(EDGES)).numpy())


@pytest.mark.parametrize("name", ["abs", "relu", "hardswish", "hardtanh", "relu6", "leaky_relu", "elu", "silu", "mish",
                                  "softsign", "hardsigmoid", "gelu", "softplus", "logsigmoid", "sigmoid", "tanh"])
def test_activation_values_and_gradients_at_nan_inf_and_kinks_as_torch(torch, name):
    ours = getattr(mg, name) if name == "abs" else getattr(F, name)
    theirs = torch.abs if name == "abs" else getattr(torch.nn.functional, name)
    value, grad = _value_and_grad(ours, EDGES)
    expected, expected_grad = _torch_value_and_grad(torch, theirs, EDGES)
    np.testing.assert_allclose(value, expected, rtol=1e-12, atol=1e-15)
    if name in ("hardswish", "elu"):
        # PyTorch's gradient at nan depends on the tensor's length (its vectorised kernel gives
        # nan, its scalar tail the positive slope): ours is nan, as nan in gives nan out.
        assert np.isnan(EDGES[0]) and np.isnan(grad[0])
        grad, expected_grad = grad[1:], expected_grad[1:]
    # (PyTorch's hardsigmoid slope is float32's 1/6, also in float64)
    tolerance = 1e-7 if name == "hardsigmoid" else 1e-12
    np.testing.assert_allclose(grad, expected_grad, rtol=tolerance, atol=1e-15)  # nan where torch's is nan


@pytest.mark.parametrize("name", ["relu", "hardswish", "abs"])
def test_activation_gradients_match_finite_differences_away_from_kinks(rng, name):
    ours = getattr(mg, name) if name == "abs" else getattr(F, name)
    reference = {"relu": lambda a: np.maximum(a, 0), "abs": np.abs,
                 "hardswish": lambda a: a * np.clip(a + 3, 0, 6) / 6}[name]
    x = rng.uniform(-5, 5, size=20)
    x = x[np.min(np.abs(x[:, None] - np.array([-3.0, 0.0, 3.0])), axis=1) > 0.05]
    _, grad = _value_and_grad(ours, x)
    np.testing.assert_allclose(grad, numeric_grad(reference, [x], 0), rtol=1e-6, atol=1e-8)


UNARY_EDGES = [NAN, -INF, -2.0, -1.0, -0.5, -0.0, 0.0, 0.5, 1.0, 2.0, INF]


UNARY_NAMES = ("abs exp log sqrt sin cos tan sinh cosh tanh sigmoid log1p expm1 log2 log10 exp2 asin acos atan asinh "
               "atanh erf erfc erfinv square reciprocal rsqrt floor ceil trunc round frac sign sgn neg lgamma deg2rad "
               "rad2deg sinc logit")


@pytest.mark.parametrize("name", UNARY_NAMES.split())
def test_unary_functions_at_nan_inf_and_signed_zeros_as_torch(torch, name):
    value, grad = _value_and_grad(getattr(mg, name), UNARY_EDGES)
    expected, expected_grad = _torch_value_and_grad(torch, getattr(torch, name), UNARY_EDGES)
    np.testing.assert_allclose(value, expected, rtol=1e-10)
    if name == "logit":
        # PyTorch's gradient at -0.0 depends on the tensor's length (-inf from its vectorised
        # kernel, inf from its scalar tail): ours is the limit inside the domain, inf, as at 0.0.
        at_zero = [i for i, v in enumerate(UNARY_EDGES) if v == 0]
        assert grad[at_zero].tolist() == [INF, INF]
        keep = [i for i in range(len(UNARY_EDGES)) if i not in at_zero]
        grad, expected_grad = grad[keep], expected_grad[keep]
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-10)  # nan and the sign of inf included


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_underflows_to_zero_as_torch_without_warnings(torch, dtype):
    x = np.array([-INF, -800.0, -745.0, -720.0, -709.0, -100.0, -30.0, 0.0, 30.0, 800.0, NAN], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = mg.sigmoid(mg.tensor(x, dtype=dtype)).data
    np.testing.assert_array_equal(ours, torch.sigmoid(torch.tensor(x)).numpy())


def test_digamma_at_signed_zero_as_torch(torch):
    zeros = [0.0, -0.0]
    np.testing.assert_array_equal(mg.digamma(mg.tensor(zeros)).data, torch.digamma(torch.tensor(zeros)).numpy())
    assert mg.digamma(mg.tensor(-0.0)).item() == INF


# -- nan in sorting --------------------------------------------------------------------------------

SORT_INPUT = [3.0, NAN, -INF, 1.0, NAN, INF, 1.0, -0.5]


@pytest.mark.parametrize("descending", [False, True])
def test_sort_and_argsort_put_nan_last_as_the_largest(torch, descending):
    values, indices = mg.tensor(SORT_INPUT).sort(descending=descending)
    expected = torch.sort(torch.tensor(SORT_INPUT), descending=descending, stable=True)
    np.testing.assert_array_equal(values.data, expected.values.numpy())
    np.testing.assert_array_equal(indices.data, expected.indices.numpy())
    np.testing.assert_array_equal(mg.argsort(mg.tensor(SORT_INPUT), descending=descending).data,
                                  torch.argsort(torch.tensor(SORT_INPUT), descending=descending, stable=True).numpy())


@pytest.mark.parametrize("k", [1, 2, 3, 8])
@pytest.mark.parametrize("largest", [True, False])
def test_topk_and_kthvalue_rank_nan_as_the_largest(torch, k, largest):
    # distinct values (one nan): PyTorch leaves the order of ties unspecified
    distinct = [3.0, -INF, 1.0, NAN, INF, 1.25, -0.5, 7.0]
    ours = mg.topk(mg.tensor(distinct), k, largest=largest)
    theirs = torch.topk(torch.tensor(distinct), k, largest=largest)
    np.testing.assert_array_equal(ours.values.data, theirs.values.numpy())
    np.testing.assert_array_equal(ours.indices.data, theirs.indices.numpy())
    ours_kth = mg.kthvalue(mg.tensor(distinct), k)
    theirs_kth = torch.kthvalue(torch.tensor(distinct), k)
    np.testing.assert_array_equal(ours_kth.values.data, theirs_kth.values.numpy())
    assert ours_kth.indices.item() == theirs_kth.indices.item()
    # with ties (two nans, two ones) the values still agree
    np.testing.assert_array_equal(mg.topk(mg.tensor(SORT_INPUT), k, largest=largest).values.data,
                                  torch.topk(torch.tensor(SORT_INPUT), k, largest=largest).values.numpy())
    np.testing.assert_array_equal(mg.kthvalue(mg.tensor(SORT_INPUT), k).values.data,
                                  torch.kthvalue(torch.tensor(SORT_INPUT), k).values.numpy())


def test_sort_argsort_and_msort_take_a_0d_tensor_as_torch(torch):
    x = mg.tensor(2.5, requires_grad=True)
    for axis in (0, -1):
        assert mg.sort(x, axis).shape == () and mg.sort(x, axis).item() == 2.5
        assert mg.argsort(x, axis).item() == torch.argsort(torch.tensor(2.5), dim=axis).item() == 0
    assert mg.msort(x).item() == torch.msort(torch.tensor(2.5)).item()
    mg.sort(x).backward()
    assert x.grad == 1.0
    with pytest.raises(np.exceptions.AxisError):
        mg.sort(x, 1)


# -- logit ---------------------------------------------------------------------------------------------

LOGIT_INPUT = [-0.5, 0.0, 1e-7, 0.02, 0.3, 0.5, 0.97, 0.999, 1.0, 1.5, NAN]


@pytest.mark.parametrize("eps", [None, 0.0, 0.01, 0.1])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_logit_values_and_gradients_as_torch(torch, eps, dtype):
    value, grad = _value_and_grad(lambda x: mg.logit(x, eps), LOGIT_INPUT, dtype)
    expected, expected_grad = _torch_value_and_grad(torch, lambda x: torch.logit(x, eps), LOGIT_INPUT, dtype)
    assert value.dtype == dtype
    tolerance = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(value, expected, rtol=tolerance)
    np.testing.assert_allclose(grad, expected_grad, rtol=tolerance)  # nan outside [0, 1] without eps


def test_logit_gradient_outside_the_domain_is_nan_and_zero_outside_the_clamp():
    _, grad = _value_and_grad(mg.logit, [-0.5, 1.5])
    assert np.isnan(grad).all()
    _, grad = _value_and_grad(lambda x: mg.logit(x, 0.1), [-0.5, 0.05, 0.95, 1.5])
    np.testing.assert_array_equal(grad, 0.0)


@pytest.mark.parametrize("eps", [None, 0.1])
def test_logit_gradient_matches_finite_differences_inside(rng, eps):
    x = rng.uniform(0.15, 0.85, size=12)

    def reference(a):
        p = a if eps is None else np.clip(a, eps, 1 - eps)
        return np.log(p / (1 - p))

    _, grad = _value_and_grad(lambda t: mg.logit(t, eps), x)
    np.testing.assert_allclose(grad, numeric_grad(reference, [x], 0), rtol=1e-6)


def test_logit_second_derivative_matches_finite_differences(rng):
    x = rng.uniform(0.1, 0.9, size=6)
    t = mg.tensor(x, requires_grad=True)
    (first,) = mg.autograd.grad(mg.logit(t).sum(), t, create_graph=True)
    (second,) = mg.autograd.grad(first.sum(), t)
    np.testing.assert_allclose(second.data, numeric_grad(lambda a: 1 / (a * (1 - a)), [x], 0), rtol=1e-6)


# -- computing in the promoted dtype --------------------------------------------------------------------


@pytest.mark.parametrize("dtypes", [(np.float32, np.float64), (np.float64, np.float32), (np.int64, np.float32),
                                    (np.float32, np.int64), (np.float32, np.float32)])
def test_logaddexp2_computes_in_the_result_dtype_as_torch(torch, rng, dtypes):
    a = (rng.standard_normal(50) * 20).astype(dtypes[0])
    b = (rng.standard_normal(50) * 20).astype(dtypes[1])
    ours = mg.logaddexp2(mg.tensor(a, dtype=a.dtype), mg.tensor(b, dtype=b.dtype))
    theirs = torch.logaddexp2(torch.tensor(a), torch.tensor(b)).numpy()
    assert ours.dtype == theirs.dtype
    tolerance = 1e-14 if theirs.dtype == np.float64 else 1e-5
    np.testing.assert_allclose(ours.data, theirs, rtol=tolerance, atol=tolerance)


def test_logaddexp2_gradients_as_torch_and_finite_differences(torch, rng):
    a, b = rng.standard_normal(8) * 3, rng.standard_normal(8) * 3
    x, y = mg.tensor(a, requires_grad=True), mg.tensor(b, requires_grad=True)
    mg.logaddexp2(x, y).sum().backward()
    tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    torch.logaddexp2(tx, ty).sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(y.grad, ty.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad, numeric_grad(np.logaddexp2, [a, b], 0), rtol=1e-6)
    np.testing.assert_allclose(y.grad, numeric_grad(np.logaddexp2, [a, b], 1), rtol=1e-6)


@pytest.mark.parametrize("name", ["logaddexp", "hypot", "atan2", "copysign", "fmod", "remainder", "xlogy",
                                  "float_power", "ldexp"])
def test_mixed_float32_float64_operands_match_torch(torch, rng, name):
    a = (np.abs(rng.standard_normal(40)) * 5 + 0.1).astype(np.float32)
    b = rng.standard_normal(40) * 5
    for first, second in ((a, b), (b, a)):
        ours = getattr(mg, name)(mg.tensor(first, dtype=first.dtype), mg.tensor(second, dtype=second.dtype))
        theirs = getattr(torch, name)(torch.tensor(first), torch.tensor(second)).numpy()
        assert ours.dtype == theirs.dtype == np.float64
        np.testing.assert_allclose(ours.data, theirs, rtol=3e-7 if name == "ldexp" else 1e-13)


# -- quantile: q's gradient --------------------------------------------------------------------------------

QUANTILE_CASES = [
    (np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0]), None),
    (np.arange(15.0).reshape(3, 5) ** 1.5 % 7, 1),
    (np.array([1.0, NAN, 3.0, 2.0]), None),
    (np.array([[1.0, NAN, 3.0, 2.0], [4.0, 2.0, 3.0, NAN], [1.0, 2.0, 3.0, 4.0]]), 1),
]


@pytest.mark.parametrize("function", ["quantile", "nanquantile"])
@pytest.mark.parametrize("interpolation", ["linear", "lower", "higher", "midpoint", "nearest"])
@pytest.mark.parametrize("case", range(len(QUANTILE_CASES)))
def test_quantile_values_and_gradients_for_input_and_q_as_torch(torch, rng, function, interpolation, case):
    x, dim = QUANTILE_CASES[case]
    q = [0.1, 0.5, 0.77, 0.0, 1.0]
    tx, tq = torch.tensor(x, requires_grad=True), torch.tensor(q, requires_grad=True)
    theirs = getattr(torch, function)(tx, tq, dim=dim, interpolation=interpolation)
    weights = rng.standard_normal(tuple(theirs.shape))
    (theirs * torch.tensor(weights)).sum().backward()
    mx, mq = mg.tensor(x, requires_grad=True), mg.tensor(q, requires_grad=True)
    ours = getattr(mg, function)(mx, mq, dim=dim, interpolation=interpolation)
    (ours * mg.tensor(weights)).sum().backward()
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(mx.grad, tx.grad.numpy(), rtol=1e-12, atol=1e-15)
    if tq.grad is None:  # the rounding modes: q is not in PyTorch's graph
        assert mq.grad is None
    else:
        np.testing.assert_allclose(mq.grad, tq.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("function", ["quantile", "nanquantile"])
def test_quantile_q_gradient_matches_finite_differences(rng, function):
    x = rng.standard_normal((3, 6))
    x[1, 2] = NAN if function == "nanquantile" else x[1, 2]
    q = np.array([0.13, 0.41, 0.88])
    weights = rng.standard_normal((3, 3))
    reference = np.nanquantile if function == "nanquantile" else np.quantile
    mq = mg.tensor(q, requires_grad=True)
    (getattr(mg, function)(mg.tensor(x), mq, dim=1) * mg.tensor(weights)).sum().backward()
    expected = numeric_grad(lambda qs: reference(x, qs, axis=1), [q], 0, weights=weights)
    np.testing.assert_allclose(mq.grad, expected, rtol=1e-6)


def test_quantile_0d_float32_q_and_the_dtype_check_as_torch(torch):
    x = np.array([0.5, 2.0, -1.0, 4.0], dtype=np.float32)
    mq = mg.tensor(np.float32(0.3), dtype=np.float32, requires_grad=True)
    mg.quantile(mg.tensor(x, dtype=np.float32), mq).backward()
    tq = torch.tensor(0.3, dtype=torch.float32, requires_grad=True)
    torch.quantile(torch.tensor(x), tq).backward()
    np.testing.assert_allclose(mq.grad, tq.grad.numpy(), rtol=1e-6)
    with pytest.raises(TypeError, match="same dtype"):
        mg.quantile(mg.tensor(x, dtype=np.float32), mg.tensor(0.3, dtype=np.float64))
    with pytest.raises(RuntimeError):
        torch.quantile(torch.tensor(x), torch.tensor(0.3, dtype=torch.float64))


# -- errors -------------------------------------------------------------------------------------------------


def _torch_error(torch, function):
    with pytest.raises(RuntimeError) as caught:
        function()
    return str(caught.value)


@pytest.mark.parametrize("expression", [lambda m, a, b: -a, lambda m, a, b: m.neg(a), lambda m, a, b: a - b,
                                        lambda m, a, b: m.sub(a, b), lambda m, a, b: a - 1, lambda m, a, b: 1 - a,
                                        lambda m, a, b: a - True, lambda m, a, b: a - 1.5])
def test_bool_negation_and_subtraction_raise_as_torch(torch, expression):
    mask = [True, False]
    message = _torch_error(torch, lambda: expression(torch, torch.tensor(mask), torch.tensor(mask)))
    with pytest.raises(RuntimeError) as caught:
        expression(mg, mg.tensor(mask, dtype=bool), mg.tensor(mask, dtype=bool))
    assert isinstance(caught.value, TypeError)
    assert str(caught.value).split(".")[0] == message.split(".")[0]  # PyTorch's first sentence


def test_bool_subtraction_from_an_int_tensor_raises_and_addition_still_works():
    with pytest.raises(RuntimeError, match="with a bool tensor"):
        mg.tensor([1, 2], dtype=np.int64) - mg.tensor([True, False], dtype=bool)
    assert (mg.tensor([1, 2], dtype=np.int64) + mg.tensor([True, False], dtype=bool)).data.tolist() == [2, 2]
    assert (~mg.tensor([True, False], dtype=bool)).data.tolist() == [False, True]


@pytest.mark.parametrize("name", ["floor_divide", "remainder", "fmod"])
def test_integer_division_by_zero_raises_as_torch(torch, name):
    a, b = np.array([5, -3, 4]), np.array([2, 0, 1])
    _torch_error(torch, lambda: getattr(torch, name)(torch.tensor(a), torch.tensor(b)))
    with pytest.raises(ZeroDivisionError):
        getattr(mg, name)(mg.tensor(a, dtype=np.int64), mg.tensor(b, dtype=np.int64))
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        getattr(mg, name)(mg.tensor(a, dtype=np.int64), 0)
    # floats divide by zero into inf and nan, as PyTorch
    ours = getattr(mg, name)(mg.tensor(a.astype(float)), mg.tensor(b.astype(float)))
    theirs = getattr(torch, name)(torch.tensor(a.astype(float)), torch.tensor(b.astype(float)))
    np.testing.assert_array_equal(ours.data, theirs.numpy())


@pytest.mark.parametrize("name", ["max", "min", "amax", "amin", "argmax", "argmin", "aminmax", "mode"])
@pytest.mark.parametrize("shape", [(0,), (2, 0)])
def test_reductions_without_identity_on_empty_tensors_raise_what_torch_raises(torch, name, shape):
    with pytest.raises(Exception) as expected:
        getattr(torch, name)(torch.ones(shape))
    with pytest.raises(type(expected.value)):  # IndexError or RuntimeError, as PyTorch's
        getattr(mg, name)(mg.ones(shape))


@pytest.mark.parametrize("name", ["sum", "mean", "prod", "nansum", "nanmean", "logsumexp", "all", "any",
                                  "count_nonzero", "median", "nanmedian"])
@pytest.mark.parametrize("shape", [(0,), (2, 0), ()])
def test_reductions_with_a_value_on_empty_and_0d_tensors_as_torch(torch, name, shape):
    data = np.full(shape, 1.5)
    args = (0,) if name == "logsumexp" and shape != () else (() if name != "logsumexp" else (0,))
    ours = getattr(mg, name)(mg.tensor(data), *args)
    theirs = getattr(torch, name)(torch.tensor(data), *args)
    np.testing.assert_array_equal(np.asarray(ours.data, dtype=float), theirs.double().numpy())


def test_diff_of_a_0d_tensor_raises_as_torch(torch):
    _torch_error(torch, lambda: torch.diff(torch.tensor(1.0)))
    with pytest.raises(RuntimeError, match="at least one-dimensional"):
        mg.diff(mg.tensor(1.0))


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int8])
def test_integer_power_with_negative_exponent_tensors_as_torch(torch, dtype):
    base = np.array([2, 1, -1, -1, 0, 3, -2, 5, 1], dtype=dtype)
    exponent = np.array([-1, -3, -3, -2, -1, 0, -2, 2, 0])
    ours = mg.tensor(base, dtype=dtype) ** mg.tensor(exponent, dtype=np.int64)
    theirs = torch.tensor(base) ** torch.tensor(exponent)
    assert ours.dtype == theirs.numpy().dtype
    np.testing.assert_array_equal(ours.data, theirs.numpy())
    # a negative Python exponent stays an error in both
    _torch_error(torch, lambda: torch.tensor(base) ** -1)
    with pytest.raises(RuntimeError, match="negative integer powers"):
        mg.tensor(base, dtype=dtype) ** -1


@pytest.mark.parametrize("eps", [None, 0.1])
def test_logit_second_derivative_outside_the_domain_and_the_clamp_as_torch(torch, eps):
    values = [-0.05, 0.05, 0.3, 0.95, 1.2]
    x = mg.tensor(values, requires_grad=True)
    (first,) = mg.autograd.grad(mg.logit(x, eps).sum(), x, create_graph=True)
    (second,) = mg.autograd.grad(first.sum(), x)
    t = torch.tensor(values, requires_grad=True)
    (expected_first,) = torch.autograd.grad(torch.logit(t, eps).sum(), t, create_graph=True)
    (expected_second,) = torch.autograd.grad(expected_first.sum(), t)
    np.testing.assert_allclose(first.data, expected_first.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(second.data, expected_second.numpy(), rtol=1e-12)


def test_matrix_power_zero_is_the_identity_even_with_nan_as_torch(torch):
    A = np.array([[[np.nan, 1.0], [1.0, 1.0]], [[2.0, 0.0], [1.0, np.inf]]])
    a, at = mg.tensor(A, requires_grad=True), torch.tensor(A, requires_grad=True)
    result, expected = mg.linalg.matrix_power(a, 0), torch.linalg.matrix_power(at, 0)
    np.testing.assert_array_equal(result.data, expected.detach().numpy())
    assert result.requires_grad
    result.sum().backward()
    expected.sum().backward()
    np.testing.assert_array_equal(a.grad, at.grad.numpy())


def test_unique_keeps_each_nan_apart_as_torch(torch):
    for x in (np.array([np.nan, 1.0, np.nan, 1.0, 2.0]), np.array([[np.nan, 1.0], [np.nan, 1.0]])):
        ours = mg.unique(mg.tensor(x), return_inverse=True, return_counts=True)
        theirs = torch.unique(torch.tensor(x), return_inverse=True, return_counts=True)
        for mine, reference in zip(ours, theirs):
            np.testing.assert_array_equal(mine.data, reference.numpy())


@pytest.mark.parametrize("operation", ["t ** 2", "2 ** t", "t + 1", "t * 3", "t // 2", "t % 2", "t + True"])
def test_bool_tensors_with_python_numbers_take_torchs_dtype(torch, operation):
    values = np.array([True, False, True])
    ours = eval(operation, {"t": mg.tensor(values, dtype=bool)})
    theirs = eval(operation, {"t": torch.tensor(values)})
    assert ours.dtype == np.dtype(str(theirs.dtype).removeprefix("torch."))
    np.testing.assert_array_equal(ours.data, theirs.numpy())


@pytest.mark.parametrize("bounds", ["both", "lo", "hi"])
def test_clamp_with_tensor_bounds_sends_the_gradient_where_torch_does(torch, bounds):
    # lo > hi: the result is hi and only hi gets the gradient (it went to both); a nan input:
    # neither bound gets it; ties at a bound: the input keeps it.
    x = [0.0, 1.0, 0.5, -1.0, 2.0, 1.0, 0.3, np.nan, 3.0]
    lo = [0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.3, 0.0, 4.0]
    hi = [1.0, 1.0, 0.0, 1.0, 2.0, 1.0, 0.3, 1.0, 2.0]
    weights = np.arange(1.0, 10.0)
    grads = []
    for lib in (mg, torch):
        leaves = [lib.tensor(v, requires_grad=True) for v in (x, lo, hi)]
        a, low, high = leaves
        out = lib.clamp(a, low if bounds != "hi" else None, high if bounds != "lo" else None)
        out.backward(lib.tensor(weights))
        grads.append([np.asarray(out.detach().numpy() if lib is torch else out.data)]
                     + [np.zeros(len(x)) if t.grad is None else np.asarray(t.grad) for t in leaves])
    for ours, theirs in zip(*grads):
        np.testing.assert_array_equal(ours, theirs)


# An inf gradient from upstream (sqrt at 0) must not reach, as a nan, the places a mask
# or a max cut off: PyTorch selects there (the output never depended on them).
MASKING = {
    "relu": (lambda m, x: m.relu(x), [0.0, 0.25]),
    "clamp": (lambda m, x: m.clamp(x, min=0), [0.0, 0.25]),
    "maximum": (lambda m, x: m.maximum(x, m.zeros(2)), [0.0, 0.25]),
    "minimum": (lambda m, x: -m.minimum(x, m.zeros(2)), [-0.5, 0.0]),
    "hardtanh": (lambda m, x: m.nn.functional.hardtanh(x - 1), [0.0, 0.0]),
    "relu6": (lambda m, x: m.nn.functional.relu6(x), [0.0, 0.25]),
}


@pytest.mark.parametrize("name", MASKING)
def test_an_infinite_gradient_does_not_leak_nan_through_a_mask(name):
    select, expected = MASKING[name]
    x = mg.tensor([-1.0, 4.0], requires_grad=True)
    with np.errstate(divide="ignore"):
        select(mg, x).sqrt().sum().backward()
    np.testing.assert_array_equal(x.grad, expected)


def test_an_infinite_gradient_reaches_only_the_maximum_as_in_pytorch(torch):
    values = np.array([-1.0, 4.0, 2.0])
    x = mg.tensor(values, requires_grad=True)
    with np.errstate(divide="ignore"):
        (x.max() - 4).sqrt().backward()
    theirs = torch.tensor(values, requires_grad=True)
    (theirs.max() - 4).sqrt().backward()
    np.testing.assert_array_equal(x.grad, theirs.grad.numpy())
    for name, (select, _) in MASKING.items():
        ours, theirs = mg.tensor([-1.0, 4.0], requires_grad=True), torch.tensor([-1.0, 4.0], requires_grad=True)
        with np.errstate(divide="ignore"):
            select(mg, ours).sqrt().sum().backward()
        select(torch, theirs).sqrt().sum().backward()
        np.testing.assert_array_equal(ours.grad, theirs.grad.numpy(), err_msg=name)
