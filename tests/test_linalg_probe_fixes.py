"""Fixes from the linear-algebra probe: ``vector_norm``/``linalg.norm`` with an empty ``dim``,
``keepdim`` without ``dim``, ``dtype=``, their argument checks and empty matrix norms; errors
of a single (unbatched) matrix under ``check_errors``; the ``_ex`` functions and ``cond`` at a
numerically singular matrix; PyTorch's keyword names (``input=``...). PyTorch is the oracle
where installed; gradients are also checked against central finite differences."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import numeric_grad

import microgradnp as mg
from microgradnp.errors import InvalidArgumentError, LinAlgError

L = mg.linalg
X = np.array([[3.0, -4.0], [0.0, 1.0]])
# Singular in exact arithmetic; NumPy's LAPACK meets an exact zero pivot, microgradnp's own LU a tiny one.
S = np.array([[1.0, 2, 3], [4, 5, 6], [7, 8, 9]])


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


# -- vector_norm / norm -------------------------------------------------------------------------


@pytest.mark.parametrize("dim", [(), []])
@pytest.mark.parametrize("order", [2, 1, 0, 3.5, math.inf, -math.inf])
@pytest.mark.parametrize("keepdim", [False, True])
def test_vector_norm_with_an_empty_dim_reduces_over_all_elements(torch, dim, order, keepdim):
    out = L.vector_norm(mg.tensor(X), order, dim=dim, keepdim=keepdim)
    expected = torch.linalg.vector_norm(torch.tensor(X), order, dim=dim, keepdim=keepdim)
    assert out.shape == tuple(expected.shape)
    np.testing.assert_allclose(out.data, expected.numpy(), rtol=1e-12)


def test_vector_norm_with_an_empty_dim_has_the_norms_gradient():
    x = mg.tensor(X, requires_grad=True)
    L.vector_norm(x, 3, dim=()).backward()
    expected = numeric_grad(lambda a: np.sum(np.abs(a) ** 3) ** (1 / 3), [X], 0)
    np.testing.assert_allclose(x.grad, expected, rtol=1e-6)


def test_linalg_norm_refuses_an_empty_dim_as_pytorch(torch):
    with pytest.raises(RuntimeError):
        torch.linalg.norm(torch.tensor(X), dim=())
    for dim in [(), [], (0, 1, 2)]:
        with pytest.raises(InvalidArgumentError, match="dim must be an int or a sequence of 1 or 2 axes"):
            L.norm(mg.ones((2, 3, 4)), dim=dim)


@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 4), (5,)])
def test_keepdim_without_dim_keeps_every_axis_as_pytorch(torch, shape):
    x = np.arange(1.0, 1.0 + math.prod(shape)).reshape(shape)
    for mg_fn, torch_fn in [(L.vector_norm, torch.linalg.vector_norm), (L.norm, torch.linalg.norm)]:
        out, expected = mg_fn(mg.tensor(x), keepdim=True), torch_fn(torch.tensor(x), keepdim=True)
        assert out.shape == tuple(expected.shape) == (1,) * len(shape)
        np.testing.assert_allclose(out.data, expected.numpy(), rtol=1e-12)


def test_vector_norm_and_norm_take_dtype():
    x = mg.tensor(X.astype(np.float32), requires_grad=True)
    out = L.vector_norm(x, dtype=np.float64)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.data, np.sqrt(26.0), rtol=1e-12)
    out.backward()
    assert x.grad.dtype == np.float32
    assert L.norm(x, dim=1, dtype=np.float64).dtype == np.float64
    with pytest.raises(InvalidArgumentError, match="floating dtype"):
        L.vector_norm(x, dtype=np.int64)


def test_vector_and_matrix_norm_arguments_pytorch_refuses_raise_clearly():
    with pytest.raises(InvalidArgumentError, match="vector_norm: ord must be a number"):
        L.vector_norm(mg.ones((2, 2)), "fro")
    with pytest.raises(InvalidArgumentError, match="at least 2 dimensions"):
        L.norm(mg.ones(3), "fro")
    with pytest.raises(InvalidArgumentError, match="at least 2 dimensions"):
        L.matrix_norm(mg.ones(3))
    for dim in [0, (0,), (0, 1, 2), (1, 1)]:
        with pytest.raises(InvalidArgumentError, match="dim must be a pair of distinct axes"):
            L.matrix_norm(mg.ones((3, 3, 3)), dim=dim)
    with pytest.raises(InvalidArgumentError, match="dim must be a pair of distinct axes"):
        L.norm(mg.ones((3, 3)), "fro", dim=0)


@pytest.mark.parametrize("shape", [(0, 0), (0, 3), (3, 0), (2, 0, 0)])
@pytest.mark.parametrize("order", ["fro", "nuc", 2, -2, 1, -1, math.inf, -math.inf])
def test_matrix_norm_of_empty_matrices_as_pytorch(torch, shape, order):
    try:
        expected = torch.linalg.matrix_norm(torch.ones(shape, dtype=torch.float64), order)
    except (RuntimeError, IndexError):  # a smallest value over nothing
        with pytest.raises((InvalidArgumentError, IndexError)):
            L.matrix_norm(mg.ones(shape), order)
        return
    x = mg.ones(shape, requires_grad=True)
    out = L.matrix_norm(x, order)
    assert out.shape == tuple(expected.shape)
    np.testing.assert_array_equal(out.data, expected.numpy())
    out.sum().backward()
    assert x.grad.shape == shape


# -- errors of a single matrix (check_errors) ---------------------------------------------------


@pytest.mark.parametrize("call", [
    lambda: L.lu_factor(mg.zeros((3, 3))),
    lambda: L.lu_factor_ex(mg.zeros((3, 3)), check_errors=True),
    lambda: L.inv_ex(mg.zeros((3, 3)), check_errors=True),
    lambda: L.solve_ex(mg.zeros((3, 3)), mg.ones(3), check_errors=True),
    lambda: L.cholesky_ex(-mg.eye(2), check_errors=True),
])
def test_check_errors_raises_for_a_single_matrix_as_for_a_batch(call):
    with pytest.raises(LinAlgError) as error:
        call()
    assert "Batch element" not in str(error.value)


def test_check_errors_names_the_first_failing_batch_element():
    a = np.stack([np.eye(3), np.zeros((3, 3)), np.zeros((3, 3))])
    with pytest.raises(LinAlgError, match=r"\(Batch element 1\)"):
        L.inv_ex(mg.tensor(a), check_errors=True)


# -- numerically singular matrices ---------------------------------------------------------------


def _numpy_finds_S_singular():
    try:
        np.linalg.inv(S)
    except np.linalg.LinAlgError:
        return True
    return False


def test_ex_functions_do_not_raise_at_a_numerically_singular_matrix():
    if not _numpy_finds_S_singular():
        pytest.skip("this LAPACK does not meet an exact zero pivot in S")
    with pytest.raises(LinAlgError):
        L.inv(mg.tensor(S))  # (inv itself may raise: only a rounding difference from PyTorch)
    inverse, info = L.inv_ex(mg.tensor(S))
    assert int(info) == 0 and np.all(np.isfinite(inverse.data)) and np.abs(inverse.data).max() > 1e12
    b = np.array([1.0, 2.0, 3.0])
    result, info = L.solve_ex(mg.tensor(S), mg.tensor(b))
    assert int(info) == 0 and result.shape == (3,)
    np.testing.assert_allclose(S @ result.data, b, atol=1e-6)  # a consistent system: a true solution
    batch = np.stack([S, 2 * np.eye(3)])
    result, info = L.solve_ex(mg.tensor(batch), mg.tensor(np.ones((2, 2, 3))), left=False)
    assert info.tolist() == [0, 0] and result.shape == (2, 2, 3)
    np.testing.assert_allclose(result.data[0] @ S, np.ones((2, 3)), atol=1e-6)
    np.testing.assert_allclose(result.data[1], 0.5 * np.ones((2, 3)))


@pytest.mark.parametrize("order", ["fro", "nuc", 1, -1, math.inf, -math.inf])
def test_cond_of_a_numerically_singular_matrix_is_huge_not_an_error(order):
    assert L.cond(mg.tensor(S), order).item() > 1e15
    assert L.cond(mg.zeros((3, 3)), order).item() == math.inf  # exactly singular


# -- PyTorch's keyword names ---------------------------------------------------------------------


def test_pytorchs_keyword_names_are_accepted():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 3))
    spd = a @ a.T + 3 * np.eye(3)
    low, b = np.linalg.cholesky(spd), rng.standard_normal((3, 2))
    packed, tau = mg.geqrf(mg.tensor(a))
    pairs = [
        (L.norm(input=mg.tensor(a)), L.norm(a)),
        (L.matrix_norm(input=mg.tensor(a), ord=1), L.matrix_norm(a, 1)),
        (L.matrix_rank(input=mg.tensor(a)), L.matrix_rank(a)),
        (L.cond(input=mg.tensor(a), p=1), L.cond(a, 1)),
        (mg.cholesky_solve(input=mg.tensor(b), input2=mg.tensor(low)), mg.cholesky_solve(b, low)),
        (mg.cholesky_inverse(input=mg.tensor(low)), mg.cholesky_inverse(low)),
        (mg.triangular_solve(input=mg.tensor(b), A=mg.tensor(np.triu(a)))[0], mg.triangular_solve(b, np.triu(a))[0]),
        (mg.orgqr(input=packed, input2=tau), mg.orgqr(packed, tau)),
        (mg.ormqr(input=packed, input2=tau, input3=mg.tensor(b)), mg.ormqr(packed, tau, b)),
    ]
    for by_keyword, by_position in pairs:
        np.testing.assert_array_equal(by_keyword.data, by_position.data)
