"""Reductions and statistics against PyTorch (the oracle, optional) and exact arithmetic:
PyTorch's dims on 0-d tensors for any/all/count_nonzero/norm, prod's differentiable
gradient where the product underflows or overflows, the exact 0 standard deviation and
variance (and gradient) of equal elements, kthvalue's integer k, and the median of all
elements with keepdim."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

import microgradnp as mg


@pytest.mark.parametrize("dim", [0, -1, (0,), [-1], (), []])
def test_truth_and_count_reductions_take_pytorch_dims_on_a_0d_tensor(dim):
    torch = pytest.importorskip("torch")
    for value in (2.5, 0.0):
        x, t = mg.tensor(value), torch.tensor(value, dtype=torch.float64)
        for name in ("all", "any", "count_nonzero"):
            ours, theirs = getattr(mg, name)(x, dim=dim), getattr(torch, name)(t, dim=dim)
            assert ours.shape == tuple(theirs.shape), (name, dim)
            assert ours.item() == theirs.item(), (name, dim)


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [0, -1])
def test_norm_with_a_dim_of_a_0d_tensor_is_its_magnitude_as_pytorch(dim, keepdim):
    torch = pytest.importorskip("torch")
    x = mg.tensor(-2.5, requires_grad=True)
    t = torch.tensor(-2.5, dtype=torch.float64, requires_grad=True)
    ours, theirs = x.norm(dim=dim, keepdim=keepdim), t.norm(dim=dim, keepdim=keepdim)
    assert ours.shape == tuple(theirs.shape)
    assert ours.item() == theirs.item()
    ours.backward()
    theirs.backward()
    assert x.grad == t.grad.item()
    with pytest.raises(IndexError):  # (as PyTorch: a 0-d tensor has only dim 0 and -1)
        x.norm(dim=1)


def _products_of_the_others(values):
    """Each element's product of the others, in exact (arbitrary precision) arithmetic."""
    with mpmath.workdps(50):
        return [float(mpmath.fprod(mpmath.mpf(v) for j, v in enumerate(values) if j != i))
                for i in range(len(values))]


@pytest.mark.parametrize("values", [
    [1e-200, 1e-200, 3.0],  # the product underflows to 0, with no zero element
    [1e200, 1e200, 1e-200],  # the product overflows to inf
])
def test_prod_gradient_recorded_for_a_second_derivative_is_exact_where_the_product_under_or_overflows(values):
    a = np.array(values)
    x = mg.tensor(a, requires_grad=True)
    (plain,) = mg.grad(x.prod(), [x])
    (recorded,) = mg.grad(x.prod(), [x], create_graph=True)
    expected = np.array(_products_of_the_others(values))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(plain.data[finite], expected[finite], rtol=1e-12)
    np.testing.assert_allclose(recorded.data, plain.data, rtol=1e-12)


def test_prod_second_derivative_where_the_product_underflows():
    values = [1e-200, 1e-200, 3.0]
    x = mg.tensor(np.array(values), requires_grad=True)
    (gradient,) = mg.grad(x.prod(), [x], create_graph=True)
    (hessian_row,) = mg.grad(gradient[0], [x])  # d/dx_j of the product of the others than x_0
    expected = [0.0, *_products_of_the_others(values[1:])]
    np.testing.assert_allclose(hessian_row.data, expected, rtol=1e-12)


@pytest.mark.parametrize("n", [3, 7, 10, 100])
@pytest.mark.parametrize("value", [0.1, 0.7, 1 / 3, 1e-3, 123.456])
def test_std_and_var_of_equal_elements_are_exactly_zero_with_gradient_zero(n, value):
    a = np.full((n, 2), value)
    a[:, 1] = np.linspace(-1.0, 1.0, n)  # a column that varies, beside the constant one
    for name in ("std", "var"):
        x = mg.tensor(a, requires_grad=True)
        out = getattr(x, name)(0)
        assert out.data[0] == 0.0, name
        out.sum().backward()
        assert np.all(x.grad[:, 0] == 0.0), name
        y = mg.tensor(a, requires_grad=True)  # the gradient recorded for a second derivative too
        (gradient,) = mg.grad(getattr(y, name)(0).sum(), [y], create_graph=True)
        assert np.all(gradient.data[:, 0] == 0.0), name


def test_std_and_var_with_a_large_offset_are_exact():
    """The shift by the first element keeps the two-pass precision: values and gradients
    agree with exact arithmetic where the spread is 1e-8 of the magnitude."""
    a = 1e8 + np.random.default_rng(0).standard_normal((4, 5))
    for name in ("std", "var"):
        x = mg.tensor(a, requires_grad=True)
        out = getattr(x, name)(1)  # (PyTorch's dim, and its correction=1)
        out.sum().backward()
        with mpmath.workdps(50):
            for row, value, gradient in zip(a, out.data, x.grad, strict=True):
                exact = [mpmath.mpf(v) for v in row]
                mean = mpmath.fsum(exact) / len(row)
                variance = mpmath.fsum((v - mean) ** 2 for v in exact) / (len(row) - 1)
                expected = mpmath.sqrt(variance) if name == "std" else variance
                assert math.isclose(value, float(expected), rel_tol=1e-12)
                dof = len(row) - 1
                scale = 1 / (dof * mpmath.sqrt(variance)) if name == "std" else mpmath.mpf(2) / dof
                expected_gradient = [float((v - mean) * scale) for v in exact]
                # (x - mean) is known to 1e-8 of the magnitude 1e8 in float64
                np.testing.assert_allclose(gradient, expected_gradient, rtol=1e-7,
                                           atol=1e-7 * max(map(abs, expected_gradient)))


def test_std_and_var_of_float16_match_pytorch():
    torch = pytest.importorskip("torch")
    a = (np.random.default_rng(1).standard_normal((3, 6)) * 100).astype(np.float16)
    for name in ("std", "var"):
        x, t = mg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        ours, theirs = getattr(x, name)(1), getattr(t, name)(1)
        assert ours.dtype == np.float16
        np.testing.assert_allclose(ours.data.astype(float), theirs.detach().numpy().astype(float), rtol=2e-3)
        ours.sum().backward()
        theirs.sum().backward()
        assert x.grad.dtype == np.float16
        expected = t.grad.numpy().astype(float)
        np.testing.assert_allclose(x.grad.astype(float), expected, rtol=2e-3, atol=2e-3 * np.abs(expected).max())


@pytest.mark.parametrize("k", [1.5, True, "2", float("nan"), float("inf")])
def test_kthvalue_refuses_a_k_that_is_not_a_whole_number(k):
    x = mg.tensor([[3.0, 1.0, 2.0], [5.0, 4.0, 6.0]])
    with pytest.raises(TypeError, match="whole number"):
        x.kthvalue(k)


def test_kthvalue_takes_whole_numbers_of_any_type():
    torch = pytest.importorskip("torch")
    a = np.array([[3.0, 1.0, 2.0], [5.0, 4.0, 6.0]])
    expected = torch.tensor(a).kthvalue(2).values.numpy()
    for k in (2, np.int64(2), 2.0, mg.tensor(2)):
        np.testing.assert_array_equal(mg.kthvalue(mg.tensor(a), k).values.data, expected)


@pytest.mark.parametrize("name", ["median", "nanmedian"])
def test_median_of_all_elements_keeps_the_reduced_axes_with_keepdim(name):
    """As every other reduction over all axes (PyTorch's median has no keepdim without a
    dim; its quantile with the lower interpolation is the same median and keeps them)."""
    torch = pytest.importorskip("torch")
    a = np.array([[4.0, 1.0, 3.0], [2.0, 6.0, 5.0]])
    x = mg.tensor(a, requires_grad=True)
    ours = getattr(x, name)(keepdim=True)
    theirs = torch.quantile(torch.tensor(a), 0.5, keepdim=True, interpolation="lower")
    assert ours.shape == tuple(theirs.shape) == (1, 1)
    np.testing.assert_array_equal(ours.data, theirs.numpy())
    ours.sum().backward()
    np.testing.assert_array_equal(x.grad, a == 3.0)
    assert getattr(x, name)().shape == ()


@pytest.mark.parametrize("p", [-1, -2.5, -0.5])
def test_dist_with_a_negative_p_as_pytorch(p):
    torch = pytest.importorskip("torch")
    a, b = np.array([1.0, 2.0, -3.0]), np.array([0.0, 0.5, 0.0])
    x = mg.tensor(a, requires_grad=True)
    ours = mg.dist(x, mg.tensor(b), p)
    ours.backward()
    tx = torch.tensor(a, requires_grad=True)
    theirs = torch.dist(tx, torch.tensor(b), p)
    theirs.backward()
    np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-12)
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-10)
