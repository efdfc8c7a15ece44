"""Follow-up PyTorch parity fixes: index_reduce of integer and bool tensors (their dtype,
PyTorch's refusals, negative indices); lgamma near its zeros at 1 and 2 (against mpmath);
the gradients of logit with a negative eps, of digamma at -inf, and of atan2 and hypot where
x**2 + y**2 underflows; adaptive average pooling to an empty output; the fill value of
masked_fill (and where) converted to an integer dtype as PyTorch converts it."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import microgradnp as mg
from microgradnp.nn import functional as F

# -- index_reduce ---------------------------------------------------------------------------------------------------


def _index_reduce_arguments(dtype, dim):
    x = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9], [1, 0, 1]]).astype(dtype)
    source = np.array([[2, 3, 1], [9, 0, 2], [5, 5, 5]]).astype(dtype)
    if dim == 1:
        x, source = x.T.copy(), source.T.copy()
    return x, np.array([0, 2, 0]), source


def _torch_index_reduce(torch, dtype, reduce, include_self, dim=0):
    x, index, source = _index_reduce_arguments(dtype, dim)
    with warnings.catch_warnings():  # (PyTorch's "index_reduce() is in beta")
        warnings.simplefilter("ignore")
        return torch.tensor(x).index_reduce(dim, torch.tensor(index), torch.tensor(source), reduce,
                                            include_self=include_self).numpy()


def _index_reduce(dtype, reduce, include_self, dim=0):
    x, index, source = _index_reduce_arguments(dtype, dim)
    return mg.tensor(x, dtype=dtype).index_reduce(dim, mg.tensor(index, dtype=np.int64),
                                                  mg.tensor(source, dtype=dtype), reduce, include_self=include_self)


@pytest.mark.parametrize("dtype", ["int32", "uint8", "int8", "int64"])
@pytest.mark.parametrize("reduce", ["prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_index_reduce_keeps_an_integer_dtype_as_torch(torch, dtype, reduce, include_self):
    for dim in (0, 1):
        ours, theirs = _index_reduce(dtype, reduce, include_self, dim), _torch_index_reduce(torch, dtype, reduce,
                                                                                           include_self, dim)
        assert ours.dtype == theirs.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(ours.data, theirs)


@pytest.mark.parametrize("reduce", ["prod", "amax", "amin"])
def test_index_reduce_of_bools_with_include_self_matches_torch(torch, reduce):
    ours, theirs = _index_reduce("bool", reduce, True), _torch_index_reduce(torch, "bool", reduce, True)
    assert ours.dtype == theirs.dtype == np.bool_
    np.testing.assert_array_equal(ours.data, theirs)


@pytest.mark.parametrize(("reduce", "include_self"), [("mean", True), ("mean", False), ("prod", False),
                                                      ("amax", False), ("amin", False)])
def test_index_reduce_of_bools_refuses_what_torch_refuses(torch, reduce, include_self):
    with pytest.raises(NotImplementedError):
        _torch_index_reduce(torch, "bool", reduce, include_self)
    with pytest.raises(TypeError, match="bool"):
        _index_reduce("bool", reduce, include_self)


@pytest.mark.parametrize("index", [[-1], [3], [[0]]])
def test_index_reduce_refuses_indices_torch_refuses(torch, index):
    with pytest.raises(IndexError), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.ones(3, 2).index_reduce(0, torch.tensor(index), torch.ones(1, 2), "prod")
    with pytest.raises(IndexError):
        mg.ones(3, 2).index_reduce(0, mg.tensor(index, dtype=np.int64), mg.ones(1, 2), "prod")


def test_index_reduce_of_an_empty_index_without_self_is_the_input(torch):
    x = np.random.default_rng(0).standard_normal((3, 2))
    empty = np.zeros(0, dtype=np.int64)
    ours = mg.tensor(x, requires_grad=True)
    out = ours.index_reduce(0, mg.tensor(empty, dtype=np.int64), mg.zeros(0, 2), "amax", include_self=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = torch.tensor(x).index_reduce(0, torch.tensor(empty), torch.zeros(0, 2), "amax", include_self=False)
    np.testing.assert_array_equal(out.data, theirs.numpy())
    out.sum().backward()
    np.testing.assert_array_equal(ours.grad, np.ones_like(x))


# -- lgamma near 1 and 2 ------------------------------------------------------------------------------------------


def test_lgamma_is_relatively_accurate_near_one_and_two():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    points = np.array([1 + 1e-12, 1 - 1e-16, 1 + 2.0**-52, 1 - 1e-8, 1.00001, 0.85, 1.15, 0.8, 1.2,
                       2 + 1e-12, 2 - 2.0**-51, 2 + 2.0**-51, 2 - 1e-7, 1.85, 2.15, 1.8, 2.2, 0.5, 3.5, 1e-300])
    expected = np.array([float(mpmath.loggamma(mpmath.mpf(float(p)))) for p in points])
    for function in (mg.lgamma, mg.special.gammaln):
        np.testing.assert_allclose(function(mg.tensor(points)).data, expected, rtol=1e-14, atol=0)
        assert function(mg.tensor(points[0])).item() == pytest.approx(expected[0], rel=1e-14)  # (0-d too)


# -- gradients: logit with a negative eps, digamma at -inf, atan2 and hypot ----------------------------------------


@pytest.mark.parametrize("eps", [-0.1, -2.0])
def test_logit_with_a_negative_eps_has_torchs_nan_gradient_outside_0_1(torch, eps):
    values = [-0.2, -0.05, 0.0, 0.3, 1.0, 1.05, 1.2]
    x = mg.tensor(values, requires_grad=True)
    out = mg.logit(x, eps=eps)
    out.sum().backward()
    tx = torch.tensor(values, requires_grad=True)
    torch.logit(tx, eps=eps).sum().backward()
    np.testing.assert_allclose(out.data, torch.logit(torch.tensor(values), eps=eps).numpy(), rtol=1e-15)
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-15)  # (nan where the value is nan)


def test_digamma_gradient_at_infinities_as_torch(torch):
    values = [-np.inf, np.inf]
    x = mg.tensor(values, requires_grad=True)
    mg.digamma(x).sum().backward()
    tx = torch.tensor(values, requires_grad=True)
    torch.digamma(tx).sum().backward()
    np.testing.assert_array_equal(x.grad, tx.grad.numpy())  # nan at -inf: no limit there


def test_atan2_gradient_where_the_squares_underflow_or_overflow():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    points = [(0.0, 1e-300), (1e-300, 1e-300), (1e-200, 3e-200), (-1e-170, 1e-170), (1e300, 1e300),
              (3e200, -4e200), (2.0, 3.0)]
    y = mg.tensor([p[0] for p in points], requires_grad=True)
    x = mg.tensor([p[1] for p in points], requires_grad=True)
    mg.atan2(y, x).sum().backward()
    for (b, a), grad_y, grad_x in zip(points, y.grad, x.grad, strict=True):
        squared = mpmath.mpf(a) ** 2 + mpmath.mpf(b) ** 2
        assert grad_y == pytest.approx(float(mpmath.mpf(a) / squared), rel=1e-14, abs=0)
        assert grad_x == pytest.approx(float(-mpmath.mpf(b) / squared), rel=1e-14, abs=0)


def test_atan2_gradients_of_gradients_match_torch(torch):
    rng = np.random.default_rng(1)
    y, x = rng.standard_normal((3, 4)), rng.standard_normal(4)
    ours = [mg.tensor(v, requires_grad=True) for v in (y, x)]
    theirs = [torch.tensor(v, requires_grad=True) for v in (y, x)]
    for lib, (a, b) in ((mg, ours), (torch, theirs)):
        grad_y, grad_x = lib.autograd.grad(lib.atan2(a, b).sum(), (a, b), create_graph=True)
        ((grad_y**2).sum() + (grad_x**3).sum()).backward()
    for mine, reference in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(mine.grad, reference.grad.numpy(), rtol=1e-12)


def test_atan2_gradient_at_infinity_is_its_limit_zero():
    # d/dy atan2(y, x) = x / (x**2 + y**2) and d/dx = -y / (x**2 + y**2) both tend to 0 as
    # the point goes off to infinity (where PyTorch's unscaled formula gives inf / inf = nan)
    y = mg.tensor([1.0, np.inf, np.inf], requires_grad=True)
    x = mg.tensor([np.inf, 1.0, -np.inf], requires_grad=True)
    mg.atan2(y, x).sum().backward()
    np.testing.assert_array_equal(y.grad, [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0])


def test_hypot_gradient_at_subnormal_and_tiny_values_as_torch(torch):
    a, b = [0.0, 0.0, 1e-300, 3e-200], [5e-324, 1e-300, 1e-300, -4e-200]
    ours = [mg.tensor(v, requires_grad=True) for v in (a, b)]
    theirs = [torch.tensor(v, requires_grad=True) for v in (a, b)]
    mg.hypot(*ours).sum().backward()
    torch.hypot(*theirs).sum().backward()
    for mine, reference in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(mine.grad, reference.grad.numpy(), rtol=1e-15, atol=0)


# -- adaptive average pooling to an empty output ------------------------------------------------------------------


@pytest.mark.parametrize(("name", "shape", "output_size"), [
    ("adaptive_avg_pool1d", (2, 3, 5), 0), ("adaptive_avg_pool1d", (3, 5), (0,)),
    ("adaptive_avg_pool2d", (2, 3, 4, 5), 0), ("adaptive_avg_pool2d", (2, 3, 4, 5), (None, 0)),
    ("adaptive_avg_pool2d", (2, 3, 4, 5), (0, 2)), ("adaptive_avg_pool3d", (1, 2, 3, 4, 5), (1, 0, 2)),
    ("adaptive_avg_pool1d", (2, 0, 5), 2), ("adaptive_avg_pool2d", (2, 0, 4, 5), (2, 3)),
])
def test_adaptive_avg_pool_to_an_empty_output_as_torch(torch, name, shape, output_size):
    data = np.random.default_rng(2).standard_normal(shape)
    x = mg.tensor(data, requires_grad=True)
    out = getattr(F, name)(x, output_size)
    theirs = getattr(torch.nn.functional, name)(torch.tensor(data), output_size)
    assert out.shape == tuple(theirs.shape) and out.size == 0
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, np.zeros(shape))
    (grad,) = mg.autograd.grad(getattr(F, name)(x, output_size).sum(), x, create_graph=True)
    assert grad.shape == shape


# -- masked_fill's value in an integer dtype ------------------------------------------------------------------------


@pytest.mark.parametrize(("dtype", "value"), [("uint8", -1), ("uint8", -129), ("uint8", -255), ("uint8", 2.7),
                                              ("int8", -128), ("int16", -1.5), ("bool", 2)])
def test_masked_fill_converts_its_value_as_torch(torch, dtype, value):
    mask = [True, False]
    ours = mg.tensor([1, 2], dtype=dtype)
    theirs = torch.tensor([1, 2], dtype=getattr(torch, dtype))
    expected = theirs.masked_fill(torch.tensor(mask), value).numpy()
    for result in (ours.masked_fill(mg.tensor(mask, dtype=np.bool_), value),
                   ours.index_fill(0, mg.tensor([0], dtype=np.int64), value)):
        assert result.dtype == expected.dtype
        np.testing.assert_array_equal(result.data, expected)
    in_place = mg.tensor([1, 2], dtype=dtype)
    in_place.masked_fill_(mg.tensor(mask, dtype=np.bool_), value)
    np.testing.assert_array_equal(in_place.data, expected)


@pytest.mark.parametrize(("dtype", "value"), [("uint8", 256), ("uint8", -256), ("uint8", -0.5), ("uint8", np.nan),
                                              ("int32", np.inf), ("int8", 128), ("int64", np.nan),
                                              ("float16", 1e10), ("float32", 1e300)])
def test_masked_fill_refuses_a_value_that_overflows_as_torch(torch, dtype, value):
    with pytest.raises(RuntimeError, match="overflow"):
        torch.tensor([1, 2], dtype=getattr(torch, dtype)).masked_fill(torch.tensor([True, False]), value)
    mask = mg.tensor([True, False], dtype=np.bool_)
    for fill in (value, mg.tensor(value, dtype=np.float64)):  # (a 0-d tensor value too: 300.0 into uint8 was 44)
        with pytest.raises(OverflowError, match="overflow"):
            mg.tensor([1, 2], dtype=dtype).masked_fill(mask, fill)


def test_masked_fill_of_a_float_tensor_value_keeps_its_gradient():
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    value = mg.tensor(5.0, requires_grad=True)
    out = x.masked_fill(mg.tensor([True, False, True], dtype=np.bool_), value)
    (out * mg.tensor([1.0, 2.0, 3.0])).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 2.0, 0.0])
    assert value.grad == 4.0


@pytest.mark.parametrize("value", [-1, -200, 255])
def test_where_with_a_negative_number_and_an_unsigned_tensor_as_torch(torch, value):
    mask = [True, False]
    expected = torch.where(torch.tensor(mask), torch.tensor([1, 2], dtype=torch.uint8), value).numpy()
    ours = mg.where(mg.tensor(mask, dtype=np.bool_), mg.tensor([1, 2], dtype=np.uint8), value)
    assert ours.dtype == expected.dtype
    np.testing.assert_array_equal(ours.data, expected)


@pytest.mark.parametrize(("function", "shape", "size"), [
    ("adaptive_max_pool1d", (2, 3, 5), 0), ("adaptive_max_pool2d", (2, 3, 4, 4), (2, 0)),
    ("adaptive_max_pool2d", (3, 4, 4), (0, 2)), ("adaptive_max_pool3d", (1, 2, 3, 3, 3), (1, 0, 2))])
def test_adaptive_max_pool_to_an_empty_output_as_torch(function, shape, size):
    torch = pytest.importorskip("torch")
    x = mg.tensor(np.arange(float(np.prod(shape))).reshape(shape), requires_grad=True)
    out, indices = getattr(F, function)(x, size, return_indices=True)
    theirs, their_indices = getattr(torch.nn.functional, function)(torch.tensor(x.data), size, return_indices=True)
    assert out.shape == tuple(theirs.shape) and indices.shape == tuple(their_indices.shape)
    assert indices.dtype == np.int64
    out.sum().backward()  # (PyTorch's backward refuses an empty output; the gradient is zeros)
    np.testing.assert_array_equal(x.grad, np.zeros(shape))


@pytest.mark.parametrize("function", ["index_add", "index_copy", "index_fill"])
def test_index_functions_refuse_an_index_of_two_dimensions_as_torch(function):
    torch = pytest.importorskip("torch")
    last = {"index_fill": 2.0}.get(function)
    ours = (mg.zeros(3), mg.tensor([[0, 1]], dtype=np.int64), mg.ones(1, 2) if last is None else last)
    theirs = (torch.zeros(3), torch.tensor([[0, 1]]), torch.ones(1, 2) if last is None else last)
    with pytest.raises((IndexError, RuntimeError)):
        getattr(torch.Tensor, function)(theirs[0], 0, *theirs[1:])
    with pytest.raises(IndexError, match="must be 0-d or 1-D"):
        getattr(ours[0], function)(0, *ours[1:])


@pytest.mark.parametrize(("dtype", "value"), [(np.uint8, -1), (np.int8, -128), (np.int64, 2.7), (np.float32, 1e30)])
def test_full_and_fill_convert_the_value_as_torch(dtype, value):
    torch = pytest.importorskip("torch")
    their_dtype = getattr(torch, np.dtype(dtype).name)
    expected = torch.full((2,), value, dtype=their_dtype).numpy()
    np.testing.assert_array_equal(mg.full((2,), value, dtype=dtype).data, expected)
    np.testing.assert_array_equal(mg.zeros(2, dtype=dtype).fill_(value).data, expected)


@pytest.mark.parametrize(("dtype", "value"), [(np.int64, float("nan")), (np.uint8, 300), (np.int8, 1000),
                                              (np.int32, float("inf")), (np.float32, 1e300)])
def test_full_and_fill_refuse_a_value_that_overflows_as_torch(dtype, value):
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match="without overflow"):
        torch.full((2,), value, dtype=getattr(torch, np.dtype(dtype).name))
    with pytest.raises(OverflowError, match="without overflow"):
        mg.full((2,), value, dtype=dtype)
    with pytest.raises(OverflowError, match="without overflow"):
        mg.zeros(2, dtype=dtype).fill_(value)
