"""Fixes in ops/torch_shape.py (outside the norm code) from the linear-algebra probe: pinv's
per-matrix tolerances, cholesky(upper=True)'s triangle, det's second-order error at a singular
matrix, eigh's lowercase UPLO, slogdet's sign of nan, lstsq's batch of vectors, PyTorch's
keyword names."""

from __future__ import annotations

import numpy as np
import pytest

import microgradnp as mg
from microgradnp.errors import InvalidArgumentError, LinAlgError

L = mg.linalg


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("hermitian", [False, True])
def test_pinv_tolerance_tensors_apply_one_per_matrix(hermitian):
    a = np.stack([np.diag([3.0, 2.0, 1.0])] * 3)
    expected = np.array([[1 / 3, 0.5, 1.0], [1 / 3, 0.5, 0.0], [1 / 3, 0.0, 0.0]])
    tol = np.array([0.5, 1.5, 2.5])
    for kwargs in (dict(atol=mg.tensor(tol)), dict(rtol=mg.tensor(tol / 3))):
        out = L.pinv(mg.tensor(a), hermitian=hermitian, **kwargs)
        np.testing.assert_allclose(np.diagonal(out.data, axis1=-2, axis2=-1), expected, rtol=1e-12)
    out = L.pinv(mg.tensor(np.stack([a[0]] * 2)), atol=mg.tensor([0.5, 1.5]))  # a batch size other than n
    np.testing.assert_allclose(np.diagonal(out.data, axis1=-2, axis2=-1), expected[:2], rtol=1e-12)


def test_cholesky_upper_reads_the_upper_triangle(torch):
    n = np.array([[4.0, 1.0], [3.0, 5.0]])
    expected = torch.linalg.cholesky(torch.tensor(n), upper=True).numpy()
    np.testing.assert_allclose(L.cholesky(mg.tensor(n), upper=True).data, expected, rtol=1e-12)
    np.testing.assert_allclose(mg.tensor(n).cholesky(upper=True).data, expected, rtol=1e-12)
    symmetric = np.triu(n) + np.triu(n, 1).T  # (what the upper triangle stands for)
    np.testing.assert_allclose(L.cholesky(mg.tensor(n), upper=True).data, np.linalg.cholesky(symmetric).T)


@pytest.mark.parametrize("a", [np.zeros((3, 3)), np.ones((3, 3)), np.array([[1.0, 2, 3], [4, 5, 6], [7, 8, 9]])])
def test_det_second_order_at_a_singular_matrix_raises_one_clear_error(a):
    x = mg.tensor(a, requires_grad=True)
    (first,) = mg.grad(L.det(x), [x])  # the cofactor matrix: fine without create_graph
    assert np.all(np.isfinite(first.data))
    with pytest.raises(LinAlgError, match=r"create_graph=True.*singular matrix"):
        mg.grad(L.det(x), [x], create_graph=True)


def test_eigh_takes_a_lowercase_uplo():
    a = np.array([[2.0, 9.0], [1.0, 3.0]])
    for upper in ("u", "U"):
        np.testing.assert_allclose(L.eigvalsh(mg.tensor(a), UPLO=upper).data,
                                   np.linalg.eigvalsh(a, UPLO="U"))
    with pytest.raises(InvalidArgumentError):
        L.eigh(mg.tensor(a), UPLO="x")


def test_slogdet_sign_of_a_nan_matrix_is_zero():
    with np.errstate(invalid="ignore"):
        sign, logabsdet = L.slogdet(mg.tensor([[1.0, np.nan], [0.0, 1.0]]))
    assert sign.item() == 0 and np.isnan(logabsdet.item())


@pytest.mark.parametrize("a_shape, b_shape", [((2, 4, 3), (2, 4)), ((4, 3), (4,)), ((4, 3), (4, 1)),
                                              ((2, 4, 3), (1, 4, 2))])
@pytest.mark.parametrize("driver", ["gelsd", "gels", "gelsy"])
def test_lstsq_batch_of_vectors_and_residual_shapes_as_pytorch(torch, a_shape, b_shape, driver):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    out = L.lstsq(mg.tensor(a), mg.tensor(b), driver=driver)
    expected = torch.linalg.lstsq(torch.tensor(a), torch.tensor(b), driver=driver)
    for name in ("solution", "residuals", "rank"):
        assert getattr(out, name).shape == tuple(getattr(expected, name).shape), name
    np.testing.assert_allclose(out.solution.data, expected.solution.numpy(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(out.residuals.data, expected.residuals.numpy(), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("a_shape, b_shape", [((2, 4, 3), (4,)), ((4, 3), (3, 4, 1)), ((4, 3), (2, 4))])
def test_lstsq_refuses_what_pytorch_refuses(a_shape, b_shape):
    with pytest.raises(InvalidArgumentError, match="lstsq"):
        L.lstsq(mg.ones(a_shape), mg.ones(b_shape))


def test_pytorchs_keyword_names_of_pinv_orgqr_and_ormqr():
    a = np.random.default_rng(1).standard_normal((3, 3))
    np.testing.assert_array_equal(L.pinv(input=mg.tensor(a)).data, L.pinv(a).data)
    packed, tau = mg.geqrf(mg.tensor(a))
    np.testing.assert_array_equal(packed.orgqr(input2=tau).data, mg.orgqr(packed, tau).data)
    np.testing.assert_array_equal(packed.ormqr(input2=tau, input3=mg.tensor(a)).data, mg.ormqr(packed, tau, a).data)


def test_matrix_exp_of_a_matrix_with_inf_or_nan_is_nan_and_the_others_unchanged():
    batch = np.array([[[np.inf, 0.0], [0.0, 1.0]], [[0.5, 0.1], [0.2, 0.3]], [[np.nan, 0.0], [0.0, 0.0]]])
    out = mg.linalg.matrix_exp(mg.tensor(batch))  # (it raised a bare OverflowError)
    assert np.isnan(out.data[0]).all() and np.isnan(out.data[2]).all()
    np.testing.assert_allclose(out.data[1], mg.linalg.matrix_exp(mg.tensor(batch[1])).data, rtol=1e-15)
