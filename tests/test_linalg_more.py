"""``mg.linalg``'s LU family, ``_ex`` variants, rank, condition number, Householder product,
tensor inverse/solve and Vandermonde matrices: values, dtypes and gradients against PyTorch
(optional oracle) and against central finite differences; error cases."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import microgradnp as mg

L = mg.linalg


def _well_conditioned(rng, *shape):
    """Random matrices with a dominant diagonal (well away from singular)."""
    a = rng.standard_normal(shape)
    n = min(shape[-2:])
    a[..., range(n), range(n)] += 4.0 * np.sign(a[..., range(n), range(n)])
    return a


def _compare(torch, fn_mg, fn_torch, *arrays, rng, atol=1e-8):
    """Values and the gradients of ``sum(w * out)`` (random ``w``) of ``fn_mg`` and ``fn_torch``."""
    xs = [mg.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, expected = fn_mg(*xs), fn_torch(*ts)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-7, atol=atol)
    assert out.dtype == np.float64
    weights = rng.standard_normal(out.shape)
    (out * weights).sum().backward()
    (expected * torch.tensor(weights)).sum().backward()
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-6, atol=atol)


def _gradcheck(fn, *arrays):
    assert mg.gradcheck(fn, [mg.tensor(a, requires_grad=True) for a in arrays], atol=1e-6, rtol=1e-4)


# -- LU -----------------------------------------------------------------------------------------

LU_SHAPES = [(4, 4), (2, 3, 3), (5, 3), (3, 5), (2, 2, 4, 3), (2, 3, 4)]


@pytest.mark.parametrize("shape", LU_SHAPES)
def test_lu_factor_and_lu_match_torch(torch, rng, shape):
    a = rng.standard_normal(shape)
    lu, pivots, info = L.lu_factor_ex(a)
    t_lu, t_pivots, t_info = torch.linalg.lu_factor_ex(torch.tensor(a))
    np.testing.assert_allclose(lu.data, t_lu.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(pivots.data, t_pivots.numpy())
    np.testing.assert_array_equal(info.data, t_info.numpy())
    assert (pivots.dtype, info.dtype, info.shape) == (np.int32, np.int32, shape[:-2])
    assert not pivots.requires_grad and not info.requires_grad
    p, low, up = L.lu(a)
    for mine, theirs in zip((p, low, up), torch.linalg.lu(torch.tensor(a))):
        np.testing.assert_allclose(mine.data, theirs.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose((p @ low @ up).data, a, atol=1e-12)


@pytest.mark.parametrize("shape", LU_SHAPES)
def test_lu_gradients_match_torch_and_finite_differences(torch, rng, shape):
    a = rng.standard_normal(shape)
    _compare(torch, lambda x: L.lu(x).L, lambda t: torch.linalg.lu(t).L, a, rng=rng)
    _compare(torch, lambda x: L.lu(x).U, lambda t: torch.linalg.lu(t).U, a, rng=rng)
    _compare(torch, lambda x: L.lu_factor(x).LU, lambda t: torch.linalg.lu_factor(t).LU, a, rng=rng)
    _gradcheck(lambda x: L.lu_factor_ex(x).LU, a)


def test_lu_second_order_gradients_match_torch(torch, rng):
    a = rng.standard_normal((4, 3))
    w_low, w_up, v = rng.standard_normal((4, 3)), rng.standard_normal((3, 3)), rng.standard_normal((4, 3))
    x = mg.tensor(a, requires_grad=True)
    _, low, up = L.lu(x)
    (g,) = mg.grad((low * w_low).sum() + (up * up * w_up).sum(), [x], create_graph=True)
    (h,) = mg.grad((g * v).sum(), [x])
    t = torch.tensor(a, requires_grad=True)
    _, t_low, t_up = torch.linalg.lu(t)
    (tg,) = torch.autograd.grad((t_low * torch.tensor(w_low)).sum() + (t_up * t_up * torch.tensor(w_up)).sum(),
                                [t], create_graph=True)
    (th,) = torch.autograd.grad((tg * torch.tensor(v)).sum(), [t])
    np.testing.assert_allclose(h.data, th.numpy(), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize(("left", "adjoint"), [(True, False), (True, True), (False, False), (False, True)])
def test_lu_solve_matches_torch(torch, rng, left, adjoint):
    a = _well_conditioned(rng, 2, 3, 3)[..., [1, 2, 0], :]  # rows cycled: P is not its own transpose
    b = rng.standard_normal((2, 3, 2) if left else (2, 2, 3))

    def mine(a, b):
        return L.lu_solve(*L.lu_factor(a), b, left=left, adjoint=adjoint)

    def theirs(a, b):
        return torch.linalg.lu_solve(*torch.linalg.lu_factor(a), b, left=left, adjoint=adjoint)

    _compare(torch, mine, theirs, a, b, rng=rng)
    # The gradient with respect to the packed factors themselves (PyTorch's linalg_lu_solve_LU).
    packed, pivots = L.lu_factor(a)
    _compare(torch, lambda lu, b: L.lu_solve(lu, pivots, b, left=left, adjoint=adjoint),
             lambda lu, b: torch.linalg.lu_solve(lu, torch.tensor(pivots.data), b, left=left, adjoint=adjoint),
             packed.data, b, rng=rng)
    _gradcheck(lambda lu, b: L.lu_solve(lu, pivots, b, left=left, adjoint=adjoint), packed.data, b)


def test_lu_solve_broadcasts_batches_and_solves(rng):
    a = _well_conditioned(rng, 2, 1, 3, 3)
    b = rng.standard_normal((4, 3, 2))
    x = L.lu_solve(*L.lu_factor(a), b)
    assert x.shape == (2, 4, 3, 2)
    np.testing.assert_allclose((a @ x.data), np.broadcast_to(b, (2, 4, 3, 2)), atol=1e-12)


def test_lu_of_a_singular_matrix(torch):
    a = np.stack([np.eye(3), np.ones((3, 3)), np.diag([1.0, 0.0, 2.0])])
    lu, pivots, info = L.lu_factor_ex(a)
    t_lu, t_pivots, t_info = torch.linalg.lu_factor_ex(torch.tensor(a))
    np.testing.assert_array_equal(info.data, t_info.numpy())
    np.testing.assert_array_equal(info.data, [0, 2, 2])
    np.testing.assert_allclose(lu.data, t_lu.numpy())
    np.testing.assert_array_equal(pivots.data, t_pivots.numpy())
    np.testing.assert_allclose(L.lu(a).U.data, torch.linalg.lu(torch.tensor(a)).U.numpy())  # lu does not raise
    with pytest.raises(L.LinAlgError, match=r"Batch element 1\): U\[2,2\] is zero"):
        L.lu_factor(a)
    with pytest.raises(RuntimeError, match="singular"):
        L.lu_factor_ex(a, check_errors=True)


def test_lu_keeps_float32(rng):
    a = rng.standard_normal((3, 3)).astype(np.float32)
    lu, pivots = L.lu_factor(mg.tensor(a))
    assert lu.dtype == np.float32 and pivots.dtype == np.int32
    assert L.lu(mg.tensor(a)).P.dtype == np.float32


def test_lu_errors(rng):
    with pytest.raises(ValueError, match="matri"):
        L.lu_factor(np.ones(3))
    with pytest.raises(NotImplementedError, match="pivot"):
        L.lu(np.eye(2), pivot=False)
    lu, pivots = L.lu_factor(_well_conditioned(rng, 3, 3))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        L.lu_solve(lu, pivots, np.ones(3))
    with pytest.raises(ValueError, match=r"Incompatible shapes.*3x3 and 4x2"):
        L.lu_solve(lu, pivots, np.ones((4, 2)))
    with pytest.raises(ValueError, match="square"):
        L.lu_solve(np.ones((3, 2)), pivots, np.ones((3, 2)))


# -- inv_ex, solve_ex, cholesky_ex ------------------------------------------------------------------


def test_inv_ex_and_solve_ex_match_torch(torch, rng):
    a = _well_conditioned(rng, 2, 3, 3)
    b = rng.standard_normal((2, 3, 2))
    _compare(torch, lambda x: L.inv_ex(x).inverse, lambda t: torch.linalg.inv_ex(t).inverse, a, rng=rng)
    _compare(torch, lambda x, y: L.solve_ex(x, y).result, lambda x, y: torch.linalg.solve_ex(x, y).result, a, b,
             rng=rng)
    _compare(torch, lambda x, y: L.solve_ex(x, y, left=False).result,
             lambda x, y: torch.linalg.solve_ex(x, y, left=False).result, a, np.swapaxes(b, -1, -2), rng=rng)
    _compare(torch, lambda x, y: L.solve_ex(x, y).result, lambda x, y: torch.linalg.solve_ex(x, y).result, a,
             b[..., 0], rng=rng)  # a batch of vectors
    info = L.inv_ex(a).info
    assert info.dtype == np.int32 and info.shape == (2,) and not info.data.any()
    _gradcheck(lambda x: L.inv_ex(x).inverse, a)


def test_ex_functions_report_singular_matrices(torch, rng):
    good = _well_conditioned(rng, 3, 3)
    a = np.stack([good, np.ones((3, 3)), np.diag([1.0, 2.0, 0.0])])
    x = mg.tensor(a, requires_grad=True)
    inverse, info = L.inv_ex(x)
    np.testing.assert_array_equal(info.data, torch.linalg.inv_ex(torch.tensor(a)).info.numpy())
    np.testing.assert_allclose(inverse.data[0], np.linalg.inv(good))
    assert np.isnan(inverse.data[1:]).all()
    inverse[0].sum().backward()  # the good matrix still has its gradient; the singular ones none (no nan)
    inv_good = np.linalg.inv(good)
    np.testing.assert_allclose(x.grad[0], -(inv_good.T @ np.ones((3, 3)) @ inv_good.T))
    np.testing.assert_array_equal(x.grad[1:], 0)
    b = rng.standard_normal((3, 3))
    result, info = L.solve_ex(a, b)
    np.testing.assert_array_equal(info.data, torch.linalg.solve_ex(torch.tensor(a), torch.tensor(b)).info.numpy())
    np.testing.assert_allclose(result.data[0], np.linalg.solve(good, b[0]))
    assert result.shape == (3, 3) and np.isnan(result.data[1:]).all()
    with pytest.raises(L.LinAlgError, match=r"Batch element 1\).*singular"):
        L.inv_ex(a, check_errors=True)
    with pytest.raises(RuntimeError, match="singular"):
        L.solve_ex(a, b, check_errors=True)


@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_ex_matches_torch(torch, rng, upper):
    m = rng.standard_normal((2, 3, 3))
    spd = m @ np.swapaxes(m, -1, -2) + 3 * np.eye(3)
    _compare(torch, lambda x: L.cholesky_ex(x, upper=upper).L, lambda t: torch.linalg.cholesky_ex(t, upper=upper).L,
             spd, rng=rng)
    not_pd = np.stack([spd[0], [[4.0, 2, 0], [2, 1, 0], [0, 0, 1]], -np.eye(3), np.diag([1.0, 1, -1])])
    factor, info = L.cholesky_ex(not_pd)
    np.testing.assert_array_equal(info.data, torch.linalg.cholesky_ex(torch.tensor(not_pd)).info.numpy())
    np.testing.assert_array_equal(info.data, [0, 2, 1, 3])
    assert info.dtype == np.int32
    np.testing.assert_allclose(factor.data[0], np.linalg.cholesky(spd[0]))
    assert np.isnan(factor.data[1:]).all()
    with pytest.raises(L.LinAlgError, match="leading minor of order 2"):
        L.cholesky_ex(not_pd, check_errors=True)
    with pytest.raises(ValueError, match="square"):
        L.cholesky_ex(np.ones((2, 3)))


# -- matrix_rank, cond ------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [{}, {"atol": 1.0}, {"rtol": 0.3}, {"atol": [0.0, 1e9, 0.0]},
                                    {"atol": 0.5, "rtol": 0.1}, {"hermitian": True}])
def test_matrix_rank_matches_torch(torch, rng, kwargs):
    a = rng.standard_normal((3, 4, 4))
    a[1] = np.outer(a[1, 0], a[1, 1])  # rank 1
    a[2, :, 3] = a[2, :, 0] + a[2, :, 1]  # rank 3
    a[0] = a[0] + a[0].T  # (symmetric, for hermitian=True)
    rank = L.matrix_rank(mg.tensor(a, requires_grad=True), **kwargs)
    t_kwargs = {k: torch.tensor(v) if isinstance(v, list) else v for k, v in kwargs.items()}
    expected = torch.linalg.matrix_rank(torch.tensor(a), **t_kwargs)
    np.testing.assert_array_equal(rank.data, expected.numpy())
    assert rank.dtype == np.int64 and not rank.requires_grad


def test_matrix_rank_default_rtol_applies_unless_atol_is_positive(torch):
    a = np.diag([1.0, 1e-17, 0.0])  # (a diagonal matrix's singular values are exact)
    for kwargs, rank in [({}, 1), ({"atol": 0.0}, 1), ({"atol": 1e-30}, 2), ({"atol": 1e-30, "rtol": 1e-16}, 1)]:
        assert L.matrix_rank(a, **kwargs).item() == rank
        assert torch.linalg.matrix_rank(torch.tensor(a), **kwargs).item() == rank


def test_matrix_rank_of_tall_wide_and_empty(torch, rng):
    for shape in [(5, 2), (2, 5), (3, 0)]:
        a = rng.standard_normal(shape)
        assert L.matrix_rank(a).item() == torch.linalg.matrix_rank(torch.tensor(a)).item()
    with pytest.raises(ValueError, match="matri"):
        L.matrix_rank(np.ones(3))


@pytest.mark.parametrize("p", [None, 2, -2, "fro", "nuc", math.inf, -math.inf, 1, -1])
def test_cond_matches_torch(torch, rng, p):
    a = rng.standard_normal((2, 3, 3)) + 2 * np.eye(3)
    assert np.allclose(L.cond(a, p).data, torch.linalg.cond(torch.tensor(a), p).numpy())
    if p in (None, 2, -2):
        reference = torch.linalg.cond
    else:
        # PyTorch 2.13's cond cannot backward for these p (it fills its inverse in place), so the
        # gradient is checked against the definition it computes.
        def reference(t, p):
            return torch.linalg.matrix_norm(t, p) * torch.linalg.matrix_norm(torch.linalg.inv(t), p)
    _compare(torch, lambda x: L.cond(x, p), lambda t: reference(t, p), a, rng=rng, atol=1e-7)
    _gradcheck(lambda x: L.cond(x, p), a[0])


def test_cond_rectangular_singular_and_errors(torch, rng):
    wide = rng.standard_normal((2, 3, 5))
    np.testing.assert_allclose(L.cond(wide).data, torch.linalg.cond(torch.tensor(wide)).numpy())
    singular = np.stack([np.ones((2, 2)), np.eye(2)])
    for p in ("fro", 1, -math.inf):
        np.testing.assert_array_equal(L.cond(singular, p).data, torch.linalg.cond(torch.tensor(singular), p).numpy())
    x = mg.tensor(singular, requires_grad=True)
    L.cond(x, 1).sum().backward()
    assert np.isfinite(x.grad).all()  # the singular matrix's inf has no gradient, and spoils no other
    with pytest.raises(ValueError, match="square"):
        L.cond(wide, 1)
    with pytest.raises(ValueError, match="invalid norm type"):
        L.cond(np.eye(2), 3)
    with pytest.raises(ValueError, match="matri"):
        L.cond(np.ones(3))


# -- householder_product, tensorinv, tensorsolve, vander ---------------------------------------------


def test_householder_product_matches_torch(torch, rng):
    a, tau = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 2))
    _compare(torch, L.householder_product, torch.linalg.householder_product, a, tau, rng=rng)
    _gradcheck(L.householder_product, a, tau)
    # With tau = 0 every reflector is the identity: the first columns of I are left.
    np.testing.assert_allclose(L.householder_product(a[0], np.zeros(3)).data, np.eye(4, 3))
    with pytest.raises(ValueError, match="greater than or equal"):
        L.householder_product(np.ones((2, 3)), np.ones(2))
    with pytest.raises(ValueError, match="tau"):
        L.householder_product(np.ones((3, 2)), np.ones(3))


def test_tensorinv_and_tensorsolve_match_torch(torch, rng):
    a = rng.standard_normal((4, 6, 8, 3))
    _compare(torch, lambda x: L.tensorinv(x, ind=2), lambda t: torch.linalg.tensorinv(t, ind=2), a, rng=rng)
    a, b = rng.standard_normal((2, 3, 6)), rng.standard_normal((2, 3))
    _compare(torch, L.tensorsolve, torch.linalg.tensorsolve, a, b, rng=rng)
    a, b = rng.standard_normal((2, 3, 3, 2)), rng.standard_normal((3, 2))
    _compare(torch, lambda x, y: L.tensorsolve(x, y, dims=(0, 1)),
             lambda x, y: torch.linalg.tensorsolve(x, y, dims=(0, 1)), a, b, rng=rng)
    _gradcheck(lambda x, y: L.tensorsolve(x, y), rng.standard_normal((2, 3, 6)), rng.standard_normal((2, 3)))
    with pytest.raises(ValueError, match="strictly positive"):
        L.tensorinv(np.ones((2, 2)), ind=0)
    with pytest.raises(ValueError, match="16 != 24"):
        L.tensorinv(np.ones((4, 6, 8, 2)), ind=2)
    with pytest.raises(ValueError, match="do not fit"):
        L.tensorsolve(np.ones((2, 3, 5)), np.ones((2, 3)))


def test_vander_matches_torch(torch, rng):
    x = np.array([[0.0, 2.0, -1.0], [1.5, 0.3, 0.0]])  # zeros: cumprod's gradient must stay right there
    _compare(torch, lambda t: L.vander(t, N=4), lambda t: torch.linalg.vander(t, N=4), x, rng=rng)
    _compare(torch, L.vander, torch.linalg.vander, x, rng=rng)
    _gradcheck(lambda t: L.vander(t, N=5), x)
    np.testing.assert_array_equal(L.vander(np.array([2.0, 3.0])).data, [[1, 2], [1, 3]])
    with pytest.raises(ValueError, match="greater than 1"):
        L.vander(np.array([1.0]))
    with pytest.raises(ValueError, match="at least one dimension"):
        L.vander(np.array(2.0), N=3)
    with pytest.raises(TypeError):
        L.vander(x, 4)  # N is keyword-only, as in PyTorch


# -- eig, eigvals: complex results --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["eig", "eigvals"])
def test_eig_refuses_with_a_pointer_to_eigh(name):
    with pytest.raises(NotImplementedError, match=r"complex.*eigh.*eigvalsh"):
        getattr(L, name)(np.eye(2))


# -- det, slogdet, inv: batches and singular matrices --------------------------------------------------


@pytest.mark.parametrize("name", ["det", "slogdet", "inv"])
def test_det_slogdet_inv_batched_gradients_match_torch(torch, rng, name):
    a = _well_conditioned(rng, 2, 3, 3, 3) * np.where(rng.random((2, 3, 1, 1)) < 0.5, -1, 1)  # both signs of det

    def pick(fn):
        return lambda x: fn(x)[1] if name == "slogdet" else fn(x)

    _compare(torch, pick(getattr(L, name)), pick(getattr(torch.linalg, name)), a, rng=rng)


def test_det_gradient_at_singular_matrices_is_the_cofactor_matrix(rng):
    # Rank n-1: the cofactor matrix is not zero (PyTorch 2.13 returns zeros here; the finite
    # differences agree with the cofactors, which microgradnp computes from the SVD).
    rank2 = np.outer([1.0, 2, 3], [1.0, -1, 2]) + np.outer([0.0, 1, 1], [2.0, 1, 0])
    x = mg.tensor(rank2, requires_grad=True)
    L.det(x).backward()
    assert np.abs(x.grad).max() > 1
    _gradcheck(L.det, rank2)
    _gradcheck(L.det, np.stack([rank2, _well_conditioned(rng, 3, 3)]))
    with pytest.raises(ValueError, match="singular"):
        L.inv(rank2 * 0)


def test_every_exported_name_is_torch_linalg_s(torch):
    missing = [name for name in L.__all__ if not hasattr(torch.linalg, name)]
    assert not missing
    assert all(callable(getattr(L, name)) for name in L.__all__)


@pytest.mark.parametrize("call", [
    lambda a: mg.linalg.inv(a), lambda a: mg.linalg.solve(a, mg.tensor([1.0, 2.0])), lambda a: mg.linalg.cholesky(a),
    lambda a: a.inverse(),
])
def test_a_singular_matrix_raises_linalg_error_once_named(call):
    # torch.linalg.LinAlgError (a RuntimeError) where NumPy raises its LinAlgError (a ValueError)
    with pytest.raises(mg.linalg.LinAlgError) as raised:
        call(mg.tensor(np.zeros((2, 2))))
    assert isinstance(raised.value, RuntimeError | ValueError | np.linalg.LinAlgError)
    name = str(raised.value).split(":")[0]
    assert str(raised.value).count(f"{name}:") == 1


def test_lu_unpack_as_torch():
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(3).normal(size=(2, 4, 3))
    lu, pivots = mg.linalg.lu_factor(mg.tensor(a, requires_grad=True))
    t_lu, t_pivots = torch.linalg.lu_factor(torch.tensor(a))
    for flags in ({}, {"unpack_data": False}, {"unpack_pivots": False}):
        ours, theirs = mg.lu_unpack(lu, pivots, **flags), torch.lu_unpack(t_lu, t_pivots, **flags)
        for mine, reference in zip(ours, theirs):
            np.testing.assert_allclose(mine.data, reference.numpy(), atol=1e-14)
    P, L, U = mg.lu_unpack(lu, pivots)
    np.testing.assert_allclose((P @ L @ U).data, a, atol=1e-14)
    assert L.requires_grad and not P.requires_grad


# -- torch's top-level Cholesky and LU solvers -------------------------------------------------


def _cholesky_factor(rng, *shape, upper=False):
    m = rng.standard_normal(shape)
    factor = np.linalg.cholesky(m @ np.swapaxes(m, -1, -2) + shape[-1] * np.eye(shape[-1]))
    return np.swapaxes(factor, -1, -2).copy() if upper else factor


@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_solve_and_inverse_solve_with_the_factor(rng, upper):
    factor = _cholesky_factor(rng, 2, 4, 4, upper=upper)
    a = np.swapaxes(factor, -1, -2) @ factor if upper else factor @ np.swapaxes(factor, -1, -2)
    b = rng.standard_normal((3, 1, 4, 2))  # batch axes broadcast against the factor's
    x = mg.cholesky_solve(mg.tensor(b), mg.tensor(factor), upper)
    np.testing.assert_allclose(x.data, np.linalg.solve(a, b), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(mg.cholesky_inverse(mg.tensor(factor[0]), upper=upper).data,
                               np.linalg.inv(a[0]), rtol=1e-10, atol=1e-12)
    # Only the factor's triangle is read, as LAPACK's potrs reads it.
    junk = factor + (np.tril(rng.standard_normal((4, 4)), -1) if upper else np.triu(rng.standard_normal((4, 4)), 1))
    np.testing.assert_array_equal(mg.cholesky_solve(mg.tensor(b), mg.tensor(junk), upper=upper).data, x.data)
    # Methods and out=, as PyTorch's.
    np.testing.assert_array_equal(mg.tensor(b).cholesky_solve(mg.tensor(factor), upper).data, x.data)
    out = mg.empty(0)
    assert mg.cholesky_solve(mg.tensor(b), mg.tensor(factor), upper=upper, out=out) is out
    np.testing.assert_array_equal(out.data, x.data)


@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_solve_and_inverse_gradients(rng, upper):
    factor, b = _cholesky_factor(rng, 3, 3, upper=upper), rng.standard_normal((3, 2))
    triangle = np.triu if upper else np.tril
    # On the triangle (the entries the forward reads) the gradient is the forward's derivative.
    _gradcheck(lambda f, b: mg.cholesky_solve(b, triangle(f), upper), factor, b)
    _gradcheck(lambda f: mg.cholesky_inverse(triangle(f), upper), factor)


@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_solve_and_inverse_match_torch(torch, rng, upper):
    factor, b = _cholesky_factor(rng, 2, 4, 4, upper=upper), rng.standard_normal((2, 4, 3))
    # PyTorch's gradient in the factor is that of (L L^T)^-1 B in the whole matrix, off the triangle too.
    _compare(torch, lambda b, f: mg.cholesky_solve(b, f, upper), lambda b, f: torch.cholesky_solve(b, f, upper),
             b, factor, rng=rng)
    _compare(torch, lambda f: mg.cholesky_inverse(f, upper), lambda f: torch.cholesky_inverse(f, upper),
             factor[1], rng=rng)


def test_cholesky_solve_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="3 rows but the factor is 2x2"):
        mg.cholesky_solve(mg.ones(3, 1), mg.eye(2))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        mg.cholesky_solve(mg.ones(2), mg.eye(2))
    with pytest.raises(ValueError):
        mg.cholesky_inverse(mg.ones(2, 3))


@pytest.mark.parametrize(("upper", "transpose", "unitriangular"),
                         [(u, t, d) for u in (True, False) for t in (False, True) for d in (False, True)])
def test_triangular_solve_as_torchs(rng, upper, transpose, unitriangular):
    a = (np.triu if upper else np.tril)(rng.standard_normal((2, 3, 3))) + 3 * np.eye(3)
    b = rng.standard_normal((2, 3, 2))
    solution, coefficient = mg.triangular_solve(mg.tensor(b), mg.tensor(a), upper, transpose, unitriangular)
    used = (np.triu if upper else np.tril)(a)
    if unitriangular:
        used[..., range(3), range(3)] = 1.0
    np.testing.assert_allclose(solution.data, np.linalg.solve(np.swapaxes(used, -1, -2) if transpose else used, b),
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(coefficient.data, a)
    assert mg.tensor(b).triangular_solve(mg.tensor(a), upper).solution.shape == (2, 3, 2)
    # The gradient of A lies on its triangle (off the diagonal too with unitriangular).
    _gradcheck(lambda a, b: mg.triangular_solve(b, a, upper, transpose, unitriangular).solution, a, b)


def test_triangular_solve_matches_torch(torch, rng):
    a, b = np.tril(rng.standard_normal((3, 3))) + 3 * np.eye(3), rng.standard_normal((3, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (torch.triangular_solve is deprecated)
        for transpose in (False, True):
            _compare(torch, lambda a, b, t=transpose: mg.triangular_solve(b, a, False, t).solution,
                     lambda a, b, t=transpose: torch.triangular_solve(b, a, False, t).solution, a, b, rng=rng)


def test_torch_lu_and_lu_solve(rng):
    a, b = _well_conditioned(rng, 2, 3, 3), rng.standard_normal((2, 3, 2))
    lu, pivots = mg.lu(mg.tensor(a))
    expected = L.lu_factor(mg.tensor(a))
    np.testing.assert_array_equal(lu.data, expected.LU.data)
    np.testing.assert_array_equal(pivots.data, expected.pivots.data)
    assert len(mg.lu(mg.tensor(a), get_infos=True)) == 3 and len(mg.tensor(a).lu()) == 2
    x = mg.lu_solve(mg.tensor(b), lu, pivots)
    np.testing.assert_allclose(x.data, np.linalg.solve(a, b), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(mg.tensor(b).lu_solve(lu, pivots).data, x.data)
    _gradcheck(lambda m, b: mg.lu_solve(b, *mg.lu(m)), a, b)


def test_torch_lu_matches_torch(torch, rng):
    a = _well_conditioned(rng, 3, 3)[[2, 0, 1]]
    lu, pivots = mg.lu(mg.tensor(a))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (torch.lu is deprecated)
        t_lu, t_pivots = torch.lu(torch.tensor(a))
    np.testing.assert_allclose(lu.data, t_lu.numpy(), rtol=1e-12)
    np.testing.assert_array_equal(pivots.data, t_pivots.numpy())


# -- randomized low-rank SVD and PCA ---------------------------------------------------------------


@pytest.mark.parametrize("shape", [(20, 12), (12, 20), (3, 10, 8)])
def test_svd_lowrank_reconstructs_a_matrix_of_low_rank(rng, shape):
    *batch, m, n = shape
    a = rng.standard_normal((*batch, m, 4)) @ rng.standard_normal((*batch, 4, n))  # rank 4
    u, s, v = mg.svd_lowrank(mg.tensor(a), q=6, rng=1)
    assert u.shape == (*batch, m, 6) and s.shape == (*batch, 6) and v.shape == (*batch, n, 6)
    np.testing.assert_allclose((u.data * s.data[..., None, :]) @ np.swapaxes(v.data, -1, -2), a, atol=1e-10)
    np.testing.assert_allclose(np.swapaxes(u.data, -1, -2) @ u.data, np.broadcast_to(np.eye(6), (*batch, 6, 6)),
                               atol=1e-10)
    np.testing.assert_allclose(s.data[..., :4], np.linalg.svd(a, compute_uv=False)[..., :4], rtol=1e-10)


def test_svd_lowrank_of_a_minus_m_and_its_gradient(rng):
    a = rng.standard_normal((9, 3)) @ rng.standard_normal((3, 7))
    m = rng.standard_normal((1, 7))  # broadcast to a's shape
    u, s, v = mg.svd_lowrank(mg.tensor(a + m), q=3, M=mg.tensor(m), rng=0)
    np.testing.assert_allclose((u.data * s.data) @ v.data.T, a, atol=1e-10)
    # With the test matrix fixed (a seed), the decomposition is a differentiable function of A.
    _gradcheck(lambda x: mg.svd_lowrank(x, q=3, rng=0)[1], rng.standard_normal((5, 4)))


def test_pca_lowrank_finds_the_principal_directions(rng):
    x = rng.standard_normal((60, 5)) * [5.0, 3.0, 1.0, 0.1, 0.01] + 3.0
    u, s, v = mg.pca_lowrank(mg.tensor(x), q=3, rng=0)
    centered = x - x.mean(axis=0)
    _, exact_s, exact_vh = np.linalg.svd(centered, full_matrices=False)
    np.testing.assert_allclose(s.data, exact_s[:3], rtol=1e-6)
    np.testing.assert_allclose(np.abs(v.data.T @ exact_vh[:3].T), np.eye(3), atol=1e-6)  # (up to sign)
    np.testing.assert_allclose(u.data.T @ u.data, np.eye(3), atol=1e-10)
    assert mg.pca_lowrank(mg.tensor(x), rng=0)[1].shape == (5,)  # q = min(6, m, n)
    with pytest.raises(ValueError, match="not greater than min"):
        mg.pca_lowrank(mg.tensor(x), q=6)
    with pytest.raises(ValueError, match="niter"):
        mg.pca_lowrank(mg.tensor(x), niter=-1)


def test_pca_lowrank_matches_torch(torch, rng):
    x = rng.standard_normal((50, 5)) * [5.0, 3.0, 1.0, 0.1, 0.01]
    _, s, v = mg.pca_lowrank(mg.tensor(x), q=3)
    _, ts, tv = torch.pca_lowrank(torch.tensor(x), q=3)
    np.testing.assert_allclose(s.data, ts.numpy(), rtol=1e-6)
    np.testing.assert_allclose(np.abs(v.data.T @ tv.numpy()), np.eye(3), atol=1e-6)


# -- geqrf, orgqr, ormqr ----------------------------------------------------------------------

QR_SHAPES = [(5, 3), (3, 5), (4, 4), (2, 4, 3), (4, 1)]


@pytest.mark.parametrize("shape", QR_SHAPES)
def test_geqrf_packs_a_qr_decomposition_that_ormqr_multiplies_back(rng, shape):
    a = rng.standard_normal(shape)
    packed, tau = mg.geqrf(a)
    assert packed.shape == shape and tau.shape == (*shape[:-2], min(shape[-2:]))
    assert not packed.requires_grad
    # Q R = A, with R the upper triangle of the packed matrix and Q applied by ormqr
    np.testing.assert_allclose(mg.ormqr(packed, tau, mg.triu(packed)).data, a, atol=1e-12)
    # Q^T Q = I: ormqr with transpose undoes it, from either side
    c = rng.standard_normal((*shape[:-2], shape[-2], 2))
    there = mg.ormqr(packed, tau, c)
    np.testing.assert_allclose(mg.ormqr(packed, tau, there, transpose=True).data, c, atol=1e-12)
    back = mg.ormqr(packed, tau, mg.tensor(c).mT, left=False, transpose=True)
    np.testing.assert_allclose(back.data, there.mT.data, atol=1e-12)
    if shape[-2] >= shape[-1]:
        np.testing.assert_allclose(mg.orgqr(packed, tau).data, mg.ormqr(
            packed, tau, np.broadcast_to(np.eye(shape[-2], shape[-1]), shape)).data, atol=1e-12)


@pytest.mark.parametrize("shape", QR_SHAPES)
def test_geqrf_matches_torch(torch, rng, shape):
    a = rng.standard_normal(shape)
    mine, theirs = mg.geqrf(a), torch.geqrf(torch.tensor(a))
    np.testing.assert_allclose(mine.a.data, theirs.a.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(mine.tau.data, theirs.tau.numpy(), rtol=1e-10, atol=1e-12)
    assert mg.geqrf(a.astype(np.float32)).tau.dtype == np.float32


@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("transpose", [False, True])
@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (2, 4, 4)])
def test_ormqr_values_and_gradients_match_torch_and_finite_differences(torch, rng, shape, left, transpose):
    packed, tau = (x.data for x in mg.geqrf(rng.standard_normal(shape)))
    m = shape[-2]
    other = rng.standard_normal((*shape[:-2], m, 2) if left else (*shape[:-2], 2, m))
    _compare(torch, lambda a, t, c: mg.ormqr(a, t, c, left, transpose),
             lambda a, t, c: torch.ormqr(a, t, c, left, transpose), packed, tau, other, rng=rng)
    _gradcheck(lambda a, t, c: mg.ormqr(a, t, c, left=left, transpose=transpose), packed, tau, other)


def test_geqrf_has_no_derivative_and_ormqr_checks_its_shapes(rng):
    x = mg.tensor(rng.standard_normal((3, 3)), requires_grad=True)
    with pytest.raises(NotImplementedError, match="derivative for 'geqrf'"):
        mg.geqrf(x).a.sum().backward()
    packed, tau = mg.geqrf(rng.standard_normal((5, 3)))
    with pytest.raises(ValueError, match=r"other.shape\[-2\] \(4\) must be equal to input.shape\[-2\] \(5\)"):
        mg.ormqr(packed, tau, mg.ones(4, 2))
    with pytest.raises(ValueError, match=r"other.shape\[-1\]"):
        mg.ormqr(packed, tau, mg.ones(5, 2), left=False)
    with pytest.raises(ValueError, match=r"tau\.shape\[-1\] \(4\) must be less than"):
        mg.ormqr(packed, mg.ones(4), mg.ones(5, 2))
    batched, batched_tau = mg.geqrf(rng.standard_normal((2, 5, 3)))
    with pytest.raises(ValueError, match="same number of dimensions"):
        mg.ormqr(batched, batched_tau, mg.ones(5, 2))
    with pytest.raises(ValueError, match="one dimension less"):
        mg.ormqr(batched, tau, mg.ones(2, 5, 2))
    with pytest.raises(ValueError, match=r"batch dimensions of other to be equal to input.shape\[:-2\] = \[2\]"):
        mg.ormqr(batched, batched_tau, mg.ones(3, 5, 2))
    with pytest.raises(ValueError, match=r"a batch of matrices \(\.\.\., m, n\), got shape \(3,\)"):
        mg.geqrf(mg.ones(3))
