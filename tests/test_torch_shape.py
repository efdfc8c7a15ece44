"""PyTorch's linear algebra, shape and indexing methods (det, inverse, cholesky, qr, svd,
kron, cross, movedim, rot90, tensor_split, unfold, take, index_add, scatter_reduce, unique...)
and ``mg.linalg``: values and gradients against finite differences and against PyTorch
(optional oracle)."""

from __future__ import annotations

import numpy as np
import pytest

import microgradnp as mg

RNG = np.random.default_rng(7)
A = RNG.normal(size=(4, 3)) + np.vstack([3 * np.eye(3), np.zeros((1, 3))])


def _index(x, values):
    """An integer index tensor of either library."""
    return x.new_tensor(values).long()


def _spd(x):
    """A symmetric positive-definite 3x3 matrix made from x."""
    return x.mT @ x + x.new_tensor(np.eye(3))


def _scatter_reduce(reduce, include_self=True):
    return lambda x: x[[1, 3]].scatter_reduce(0, _index(x, [[0, 0, 0], [0, 1, 0], [1, 1, 1]]), x[[1, 1, 2]] * 1.5,
                                              reduce, include_self=include_self)


# name -> the call, written once for both libraries (x: a tensor of A's values, 4x3).
CASES = {
    "det": lambda x: x[:3].det(),
    "det_batch": lambda x: x.reshape(2, 3, 2)[:, :2].det(),
    "logdet": lambda x: _spd(x).logdet(),
    "slogdet": lambda x: x[1:].slogdet()[1],
    "inverse": lambda x: x[:3].inverse(),
    "inverse_batch": lambda x: (x.reshape(2, 2, 3)[..., :2] + x.new_tensor(np.eye(2))).inverse(),
    "pinverse": lambda x: x.pinverse(),
    "pinverse_wide": lambda x: x.mT.pinverse(),
    "cholesky": lambda x: _spd(x).cholesky(),
    "cholesky_upper": lambda x: _spd(x).cholesky(upper=True),
    "qr_q": lambda x: x.qr()[0],
    "qr_r": lambda x: x.qr()[1],
    "qr_both": lambda x: x.qr()[0][:3] * x.qr()[1],
    "qr_wide": lambda x: x.mT.qr()[0] @ x.mT.qr()[1] * x.mT.qr()[1],
    "svd_s": lambda x: x.svd()[1],
    "svd_u": lambda x: x.svd()[0].abs(),
    "svd_v": lambda x: x.svd()[2].abs(),
    "svd_all": lambda x: x.svd()[0].abs() @ x.svd()[1].diag() @ x.svd()[2].abs().mT,
    "svd_wide": lambda x: x.mT.svd()[0].abs() * x.mT.svd()[1],
    "svd_wide_v": lambda x: x.mT.svd()[2].abs(),
    "svd_some_false": lambda x: x.svd(some=False)[0][:, :3].abs(),
    "matrix_exp": lambda x: (x[:3] * 0.3).matrix_exp(),
    "matrix_exp_squared": lambda x: (x[1:] * 2).matrix_exp(),
    "matrix_power": lambda x: x[:3].matrix_power(3),
    "matrix_power_neg": lambda x: x[:3].matrix_power(-2),
    "matrix_power_zero": lambda x: x[:3].matrix_power(0) * x[:3],
    "kron": lambda x: x[:2, :2].kron(x[2:, 1:]),
    "kron_shapes": lambda x: x.kron(x[0]),
    "cross": lambda x: x[:2].cross(x[2:], dim=1),
    "cross_default_dim": lambda x: x.cross(x * x),
    "inner": lambda x: x.inner(x[:2]),
    "ger": lambda x: x[0].ger(x[1]),
    "outer": lambda x: x[0].outer(x[1]),
    "mv": lambda x: x.mv(x[0]),
    "vdot": lambda x: x[0].vdot(x[1]),
    "diag_embed": lambda x: x.diag_embed(),
    "diag_embed_offset_dims": lambda x: x.diag_embed(offset=1, dim1=0, dim2=2),
    "diagflat": lambda x: x[:2].diagflat(-1),
    "movedim": lambda x: x.reshape(2, 2, 3).movedim(0, 2),
    "moveaxis": lambda x: x.reshape(2, 2, 3).moveaxis((0, 1), (2, 0)),
    "swapdims": lambda x: x.reshape(2, 2, 3).swapdims(0, 2),
    "fliplr": lambda x: x.fliplr(),
    "flipud": lambda x: x.flipud(),
    "rot90": lambda x: x.rot90(),
    "rot90_k2": lambda x: x.rot90(2),
    "rot90_k3_dims": lambda x: x.reshape(2, 2, 3).rot90(3, (2, 0)),
    "rot90_neg": lambda x: x.rot90(-1, (1, 0)),
    "tensor_split_sections": lambda x: x.tensor_split(3)[0],
    "tensor_split_indices": lambda x: x.tensor_split([1, 3], dim=1)[1],
    "hsplit": lambda x: x.hsplit(3)[1],
    "vsplit": lambda x: x.vsplit([1])[1],
    "dsplit": lambda x: x.reshape(2, 2, 3).dsplit(3)[2],
    "split_with_sizes": lambda x: x.split_with_sizes([1, 3])[1],
    "unflatten": lambda x: x.unflatten(0, (2, -1)),
    "unfold": lambda x: x.unfold(0, 2, 1),
    "unfold_step": lambda x: x.unfold(1, 2, 2),
    "take": lambda x: x.take(_index(x, [[0, 11], [5, 5]])),
    "take_along_dim": lambda x: x.take_along_dim(_index(x, [[0, 2], [1, 1], [2, 0], [0, 0]]), dim=1),
    "take_along_dim_flat": lambda x: x.take_along_dim(_index(x, [3, 3, 7])),
    "index_add": lambda x: x.index_add(0, _index(x, [0, 2, 0]), x[:3] * 2, alpha=0.5),
    "index_copy": lambda x: x.index_copy(1, _index(x, [2, 0]), x[:, :2] * 3),
    "index_fill": lambda x: x.index_fill(1, _index(x, [1, -1]), -1.0),
    "masked_select": lambda x: x.masked_select(x > 0.3),
    "masked_scatter": lambda x: x.masked_scatter(x > 0.3, x * 10),
    "scatter_reduce_sum": _scatter_reduce("sum"),
    "scatter_reduce_sum_no_self": _scatter_reduce("sum", False),
    "scatter_reduce_mean": _scatter_reduce("mean"),
    "scatter_reduce_mean_no_self": _scatter_reduce("mean", False),
    "scatter_reduce_prod": _scatter_reduce("prod"),
    "scatter_reduce_prod_no_self": _scatter_reduce("prod", False),
    "scatter_reduce_amax": _scatter_reduce("amax"),
    "scatter_reduce_amin_no_self": _scatter_reduce("amin", False),
    "select": lambda x: x.select(1, -1),
    "narrow_copy": lambda x: x.narrow_copy(0, 1, 2),
    "type_cast": lambda x: x.type(x.dtype) * 2,
}
# Ties (amax/amin), or a step in the values: no derivative for finite differences to find.
NOT_SMOOTH = {"scatter_reduce_amax", "scatter_reduce_amin_no_self", "masked_select", "masked_scatter"}


def _weights(out):
    return np.linspace(-1, 1, out.numel()).reshape(tuple(out.shape))


@pytest.mark.parametrize("case", sorted(set(CASES) - NOT_SMOOTH))
def test_gradients_against_finite_differences(case):
    x = mg.tensor(A, requires_grad=True)
    assert mg.gradcheck(lambda t: (CASES[case](t) * _weights(CASES[case](t))).sum(), (x,))


def _against_pytorch(ours_of, theirs_of):
    """The values and the gradients of a weighted sum of the result, ours and PyTorch's."""
    torch = pytest.importorskip("torch")
    x, tx = mg.tensor(A, requires_grad=True), torch.tensor(A, requires_grad=True)
    ours, theirs = ours_of(x), theirs_of(tx)
    assert ours.shape == tuple(theirs.shape) and ours.dtype == np.float64
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    weights = _weights(ours)
    (ours * weights).sum().backward()
    (theirs * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("case", CASES)
def test_values_and_gradients_against_pytorch(case):
    _against_pytorch(CASES[case], CASES[case])


# name -> the call of mg.linalg / torch.linalg, written once (lib: the module's package).
LINALG = {
    "inv": lambda lib, x: lib.linalg.inv(x[:3]),
    "det": lambda lib, x: lib.linalg.det(x[1:]),
    "slogdet": lambda lib, x: lib.linalg.slogdet(x[:3])[1],
    "solve": lambda lib, x: lib.linalg.solve(x[:3], x[1:]),
    "solve_vector": lambda lib, x: lib.linalg.solve(x[:3], x[3]),
    "solve_right": lambda lib, x: lib.linalg.solve(x[:3], x[1:], left=False),
    "solve_batch": lambda lib, x: lib.linalg.solve(x[:3], x.reshape(2, 3, 2)),
    "cholesky": lambda lib, x: lib.linalg.cholesky(_spd(x)),
    "qr_complete_wide": lambda lib, x: lib.linalg.qr(x[:2], mode="complete")[1],
    "svd_reduced": lambda lib, x: lib.linalg.svd(x, full_matrices=False)[1],
    "svd_vh": lambda lib, x: lib.linalg.svd(x, full_matrices=False)[2].abs(),
    "svdvals": lambda lib, x: lib.linalg.svdvals(x),
    "eigh_values": lambda lib, x: lib.linalg.eigh(_spd(x))[0],
    "eigh_vectors": lambda lib, x: lib.linalg.eigh(_spd(x))[1].abs(),
    "eigh_upper": lambda lib, x: lib.linalg.eigh(_spd(x), UPLO="U")[1].abs() * lib.linalg.eigh(_spd(x))[0],
    "eigvalsh": lambda lib, x: lib.linalg.eigvalsh(_spd(x)),
    "pinv": lambda lib, x: lib.linalg.pinv(x),
    "pinv_hermitian": lambda lib, x: lib.linalg.pinv(_spd(x), hermitian=True),
    "matrix_power": lambda lib, x: lib.linalg.matrix_power(x[:3], 2),
    "matrix_exp_batch": lambda lib, x: lib.linalg.matrix_exp(x.reshape(2, 2, 3)[..., 1:]),
    "lstsq": lambda lib, x: lib.linalg.lstsq(x, x[:, :2] * x[:, 1:]).solution,
    "lstsq_vector": lambda lib, x: lib.linalg.lstsq(x, x[:, 0] * 2 + 1).solution,
    "lstsq_residuals": lambda lib, x: lib.linalg.lstsq(x, x[:, :2] * x[:, 1:], driver="gelsd").residuals,
    "lstsq_wide": lambda lib, x: lib.linalg.lstsq(x.mT, x[:3, :2]).solution,
    "cross": lambda lib, x: lib.linalg.cross(x, x[:1] * 2),
    "vector_norm": lambda lib, x: lib.linalg.vector_norm(x, ord=3),
    "vector_norm_dim": lambda lib, x: lib.linalg.vector_norm(x, dim=1, keepdim=True),
    "matrix_norm_fro": lambda lib, x: lib.linalg.matrix_norm(x),
    "matrix_norm_nuc": lambda lib, x: lib.linalg.matrix_norm(x, ord="nuc"),
    "matrix_norm_2": lambda lib, x: lib.linalg.matrix_norm(x.reshape(2, 2, 3), ord=2),
    "matrix_norm_1_keepdim": lambda lib, x: lib.linalg.matrix_norm(x, ord=1, keepdim=True),
    "matrix_norm_inf": lambda lib, x: lib.linalg.matrix_norm(x, ord=float("-inf")),
    "norm_matrix": lambda lib, x: lib.linalg.norm(x, ord=-2),
    "norm_vector": lambda lib, x: lib.linalg.norm(x, dim=0),
    "norm_flat": lambda lib, x: lib.linalg.norm(x),
    "solve_triangular": lambda lib, x: lib.linalg.solve_triangular(x[:3], x[1:], upper=True),
    "solve_triangular_lower_unit_right": lambda lib, x: lib.linalg.solve_triangular(x[:3], x[1:], upper=False,
                                                                                     left=False, unitriangular=True),
    "multi_dot": lambda lib, x: lib.linalg.multi_dot([x[0], x[:3], x.mT, x[:, 1]]),
    "vecdot": lambda lib, x: lib.linalg.vecdot(x, x[:1] * 2),
    "vecdot_dim": lambda lib, x: lib.linalg.vecdot(x, x * x, dim=0),
    "linalg_matmul": lambda lib, x: lib.linalg.matmul(x, x.mT),
    "linalg_diagonal": lambda lib, x: lib.linalg.diagonal(x.reshape(2, 2, 3), offset=1),
}


@pytest.mark.parametrize("case", LINALG)
def test_linalg_gradients_against_finite_differences(case):
    x = mg.tensor(A, requires_grad=True)
    assert mg.gradcheck(lambda t: (LINALG[case](mg, t) * _weights(LINALG[case](mg, t))).sum(), (x,))


@pytest.mark.parametrize("case", LINALG)
def test_linalg_values_and_gradients_against_pytorch(case):
    torch = pytest.importorskip("torch")
    _against_pytorch(lambda x: LINALG[case](mg, x), lambda x: LINALG[case](torch, x))


SECOND_ORDER = {
    "inverse": lambda x: x[:3].inverse(),
    "det": lambda x: x[:3].det(),
    "slogdet": lambda x: x[:3].slogdet()[1],
    "cholesky": lambda x: _spd(x).cholesky(),
    "qr": lambda x: x.qr()[0][:3] * x.qr()[1],
    "svd": lambda x: x.svd()[0].abs() * x.svd()[1],
    "solve": lambda x: mg.linalg.solve(x[:3], x[1:]) if isinstance(x, mg.Tensor) else None,
}


@pytest.mark.parametrize("case", SECOND_ORDER)
def test_gradients_of_gradients_against_finite_differences(case):
    def gradient(t):
        out = SECOND_ORDER[case](t)
        (g,) = mg.grad((out * _weights(out)).sum(), t, create_graph=True)
        return (g * g).sum()

    assert mg.gradcheck(gradient, (mg.tensor(A, requires_grad=True),))


def test_det_of_a_singular_matrix_has_the_cofactor_gradient():
    # det is a polynomial: its gradient is the cofactor matrix, non-zero at singular matrices
    # of rank n - 1 (PyTorch 2.13 returns zeros there; finite differences agree with us).
    for singular in (np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.5, -1.0, 2.0]]), np.diag([1.0, 2.0, 0.0])):
        x = mg.tensor(singular, requires_grad=True)
        assert abs(x.det().item()) < 1e-12
        assert mg.gradcheck(lambda t: t.det(), (x,))
        x.det().backward()
        assert np.abs(x.grad).max() >= 2


def test_scatter_reduce_prod_with_zeros_matches_pytorch():
    torch = pytest.importorskip("torch")
    data = np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 5.0], [4.0, 0.5, 0.0]])
    index = [[0, 0, 0], [0, 1, 0], [1, 1, 1]]
    for include_self in (True, False):
        x, tx = mg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
        ours = x[:2].scatter_reduce(0, _index(x, index), x * 2, "prod", include_self=include_self)
        theirs = tx[:2].scatter_reduce(0, _index(tx, index), tx * 2, "prod", include_self=include_self)
        np.testing.assert_allclose(ours.data, theirs.detach().numpy())
        (ours * _weights(ours)).sum().backward()
        (theirs * torch.tensor(_weights(ours))).sum().backward()
        np.testing.assert_allclose(x.grad, tx.grad.numpy())


def test_float32_stays_float32():
    x = mg.tensor(A.astype(np.float32), requires_grad=True)
    outputs = [x[:3].det(), x[:3].inverse(), _spd(x).cholesky(), *x.qr(), *x.svd(), *mg.linalg.eigh(_spd(x)),
               x.pinverse(), x.kron(x[0]), x.unfold(0, 2, 1), x.index_add(0, _index(x, [1]), x[:1]),
               x[[1, 3]].scatter_reduce(0, _index(x, [[0, 1, 0]]), x[:1], "amax"), mg.linalg.solve(x[:3], x[1:])]
    for out in outputs:
        assert out.dtype == np.float32
    sum(o.sum() for o in outputs).backward()
    assert x.grad.dtype == np.float32


def test_in_place_forms_write_into_the_tensor_as_pytorch():
    torch = pytest.importorskip("torch")
    calls = {
        "index_add_": lambda t: t.index_add_(0, _index(t, [0, 0]), t[:2] * 0 + 1.5),
        "index_copy_": lambda t: t.index_copy_(1, _index(t, [2]), t[:, :1] * 0 - 2),
        "index_fill_": lambda t: t.index_fill_(0, _index(t, [3, 1]), 7.0),
        "masked_scatter_": lambda t: t.masked_scatter_(t > 1, t * 0 + 9),
        "scatter_reduce_": lambda t: t.scatter_reduce_(0, _index(t, [[1, 1, 0]]), t[:1] * 3, "amax"),
    }
    for name, call in calls.items():
        ours, theirs = mg.tensor(A.copy()), torch.tensor(A.copy())
        before = ours._version
        assert call(ours) is ours
        call(theirs)
        np.testing.assert_allclose(ours.data, theirs.numpy(), err_msg=name)
        assert ours._version == before + 1


def test_queries_outside_the_graph_match_pytorch():
    torch = pytest.importorskip("torch")
    data = np.array([[2.0, 1.0, 2.0], [2.0, 1.0, 2.0], [0.0, 3.0, 3.0]])
    x, tx = mg.tensor(data, requires_grad=True), torch.tensor(data)

    def same(ours, theirs):
        for o, t in zip(ours if isinstance(ours, tuple) else (ours,), theirs if isinstance(theirs, tuple)
                        else (theirs,)):
            assert not o.requires_grad
            np.testing.assert_array_equal(o.data, t.numpy())
            assert o.shape == tuple(t.shape)

    same(x.unique(), tx.unique())
    same(x.unique(return_inverse=True, return_counts=True), tx.unique(return_inverse=True, return_counts=True))
    same(x.unique(dim=0, return_inverse=True), tx.unique(dim=0, return_inverse=True))
    same(x.unique_consecutive(return_inverse=True, return_counts=True),
         tx.unique_consecutive(return_inverse=True, return_counts=True))
    same(x.unique_consecutive(dim=0, return_counts=True), tx.unique_consecutive(dim=0, return_counts=True))
    flat = mg.tensor([1, 3, 3, 0, 1, 1])
    same(flat.bincount(), torch.tensor([1, 3, 3, 0, 1, 1]).bincount())
    same(flat.bincount(minlength=6), torch.tensor([1, 3, 3, 0, 1, 1]).bincount(minlength=6))
    weights = np.linspace(0, 1, 6)
    same(flat.bincount(weights=weights), torch.tensor([1, 3, 3, 0, 1, 1]).bincount(weights=torch.tensor(weights)))
    same(x.histc(bins=4), tx.histc(bins=4))
    same(x.histc(bins=3, min=1, max=2.5), tx.histc(bins=3, min=1, max=2.5))
    same(x.argwhere(), tx.argwhere())
    assert x.nelement() == tx.nelement() and x.element_size() == tx.element_size() == x.itemsize
    assert x.nbytes == tx.nbytes and x.stride() == tx.stride() and x.stride(1) == tx.stride(1)
    assert x.is_contiguous() and x.is_same_size(tx.numpy()) and not x.is_same_size(x[0])
    assert x.mT.stride() == tx.mT.stride() and not x.mT.is_contiguous() and x.mT.contiguous().is_contiguous()
    assert x.contiguous() is x and x.mT.contiguous().stride() == tx.mT.contiguous().stride()
    assert x.type() == tx.type() == "torch.DoubleTensor"
    assert x.float().type() == "torch.FloatTensor" and x.type("torch.FloatTensor").dtype == np.float32
    assert x.type(np.float32).requires_grad and x.type("torch.LongTensor").dtype == np.int64
    y = x * 2
    assert not y.retains_grad and not x.retains_grad
    y.retain_grad()
    assert y.retains_grad


def test_lstsq_returns_what_each_pytorch_driver_returns():
    torch = pytest.importorskip("torch")
    b = A[:, :2] ** 2
    for driver in (None, "gels", "gelsy", "gelsd", "gelss"):
        ours, theirs = mg.linalg.lstsq(mg.tensor(A), b, driver=driver), torch.linalg.lstsq(torch.tensor(A),
                                                                                            torch.tensor(b),
                                                                                            driver=driver)
        for mine, torchs in zip(ours, theirs):
            assert mine.shape == tuple(torchs.shape), driver
            np.testing.assert_allclose(mine.data, torchs.numpy(), rtol=1e-10, atol=1e-12)
    rank_deficient = np.outer(A[:, 0], [1.0, 2.0, 3.0])
    ours = mg.linalg.lstsq(mg.tensor(rank_deficient), b, driver="gelsd")
    assert ours.rank.item() == 1 and ours.residuals.shape == (0,)


def test_decompositions_return_named_tuples_as_pytorch():
    x = mg.tensor(A)
    assert mg.linalg.qr(x).R.shape == (3, 3) and x.svd().V.shape == (3, 3) and mg.linalg.svd(x).Vh.shape == (3, 3)
    assert mg.linalg.eigh(_spd(x)).eigenvalues.shape == (3,) and x[:3].slogdet().sign.item() in (-1.0, 1.0)
    assert mg.linalg.lstsq(x, x).solution.shape == (3, 3)


def test_mode_r_and_compute_uv_false_as_pytorch():
    torch = pytest.importorskip("torch")
    x, tx = mg.tensor(A, requires_grad=True), torch.tensor(A, requires_grad=True)
    q, r = mg.linalg.qr(x, mode="r")
    tq, tr = torch.linalg.qr(tx, mode="r")
    assert q.shape == tuple(tq.shape) and np.allclose(np.abs(r.data), np.abs(tr.detach().numpy()))
    u, s, v = x.svd(compute_uv=False)
    tu, ts, tv = tx.svd(compute_uv=False)
    assert u.shape == tuple(tu.shape) and v.shape == tuple(tv.shape) and not u.data.any()
    np.testing.assert_allclose(s.data, ts.detach().numpy())
    s.sum().backward()
    ts.sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), atol=1e-12)


def test_bad_arguments_raise_clear_errors():
    x = mg.tensor(A, requires_grad=True)
    cases = [
        (lambda: x.det(), ValueError, "square matrix"),
        (lambda: mg.tensor(np.ones((2, 2))).inverse(), ValueError, "singular"),
        (lambda: (-mg.tensor(np.eye(2))).cholesky(), ValueError, "positive-definite"),
        (lambda: mg.linalg.qr(x, mode="full"), ValueError, "mode must be"),
        (lambda: mg.linalg.eigh(x[:3], UPLO="X"), ValueError, "UPLO"),
        (lambda: mg.linalg.solve(x[:3], x[:2]), ValueError, "do not fit"),
        (lambda: mg.linalg.matrix_norm(x, ord=3), ValueError, "ord must be"),
        (lambda: x[0].svd(), ValueError, "batch of matrices"),
        (lambda: x[:2].cross(x[2:], dim=0), ValueError, "length 3"),
        (lambda: x[:2, :2].cross(x[:2, :2]), ValueError, "no dimension of length 3"),
        (lambda: x.mv(x), ValueError, "mv: expects"),
        (lambda: x.ger(x[0]), ValueError, "outer: expects"),
        (lambda: x.diag_embed(dim1=1, dim2=1), ValueError, "different dimensions"),
        (lambda: x[0].fliplr(), ValueError, "at least 2 dimensions"),
        (lambda: x.rot90(1, (0, 0)), ValueError, "different dimensions"),
        (lambda: x.rot90(1, (0,)), ValueError, "two dimensions"),
        (lambda: x.tensor_split(0), ValueError, "positive"),
        (lambda: x.hsplit(2), ValueError, "not divisible"),
        (lambda: x.vsplit(3), ValueError, "not divisible"),
        (lambda: x.dsplit(1), ValueError, "at least 3 dimensions"),
        (lambda: x.split_with_sizes([1, 1]), ValueError, "add up to"),
        (lambda: x.unflatten(0, (3, -1)), ValueError, "do not multiply"),
        (lambda: x.unfold(0, 5, 1), ValueError, "at most the length"),
        (lambda: x.unfold(0, 2, 0), ValueError, "step 0 positive"),
        (lambda: x.take(_index(x, [12])), IndexError, "out of range"),
        (lambda: x.take(mg.tensor([0.5])), TypeError, "integers"),
        (lambda: x.index_add(0, _index(x, [4]), x[:1]), IndexError, "out of range"),
        (lambda: x.index_copy(0, _index(x, [-1]), x[:1]), IndexError, "out of range"),
        (lambda: x.index_fill(0, _index(x, [-5]), 1.0), IndexError, "out of range"),
        (lambda: x.index_add(0, _index(x, [0]), x[:2]), ValueError, "source must have shape"),
        (lambda: x.masked_select(x.data), TypeError, "bool tensor"),
        (lambda: x.masked_scatter(x > -100, x[0]), ValueError, "source has 3 elements"),
        (lambda: x.scatter_reduce(0, _index(x, [[0]]), x, "max"), ValueError, "reduce must be one of"),
        (lambda: x.select(0, 4), IndexError, "out of range"),
        (lambda: x.bincount(), ValueError, "1-D tensor"),
        (lambda: mg.tensor([-1.0, 2.0]).bincount(), ValueError, "non-negative"),
        (lambda: x.histc(min=2, max=1), ValueError, "larger than or equal"),
        (lambda: x.type("torch.CudaTensor"), ValueError, "unknown type"),
        (lambda: mg.linalg.lstsq(x, x, driver="lapack"), ValueError, "driver must be"),
        (lambda: mg.linalg.lstsq(x, x[:3]), ValueError, "do not fit"),
        (lambda: x.matrix_exp(), ValueError, "square matrix"),
        (lambda: mg.linalg.multi_dot([x, x.reshape(3, 2, 2), x]), ValueError, "the others 2-D"),
        (lambda: mg.linalg.multi_dot([]), ValueError, "at least one"),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()
    q, r = mg.linalg.qr(x, mode="complete")
    with pytest.raises(RuntimeError, match="not differentiable when mode='complete'"):
        (q.sum() + r.sum()).backward()


def test_gradients_of_gradients_of_eigh_and_of_kept_outputs():
    def through_eigh(t):
        values, vectors = mg.linalg.eigh(_spd(t))
        (g,) = mg.grad((vectors.abs() * values).sum(), t, create_graph=True)
        return (g * g).sum()

    def through_kept_qr(t):
        q, r = mg.linalg.qr(t)
        (g,) = mg.grad((q[:3] * r).sum(), t, create_graph=True)
        return (g * g).sum()

    for function in (through_eigh, through_kept_qr):
        assert mg.gradcheck(function, (mg.tensor(A, requires_grad=True),))


def test_logdet_of_negative_and_zero_determinants_as_pytorch():
    torch = pytest.importorskip("torch")
    negative = np.array([[0.0, 1.0], [1.0, 0.0]])
    x, tx = mg.tensor(negative, requires_grad=True), torch.tensor(negative, requires_grad=True)
    x.logdet().backward()
    tx.logdet().backward()
    assert np.isnan(x.logdet().item())
    np.testing.assert_array_equal(x.grad, tx.grad.numpy())  # nan value, zero gradient
    singular = mg.tensor([[0.0, 1.0], [0.0, 0.0]], requires_grad=True)
    value = singular.logdet()
    value.backward()  # no exception: infinite and nan entries, as PyTorch's
    assert value.item() == -np.inf and not np.isfinite(singular.grad).all()


def test_compiled_functions_that_read_values_run_eagerly_and_stay_right():
    def step(x):
        return x.matrix_exp().sum() + x.unique().sum() + x.masked_select(x > 0).sum()

    compiled = mg.compile(step)
    for scale in (0.1, 5.0, -2.0):
        x = mg.tensor(A[:3] * scale)
        assert compiled(x).item() == pytest.approx(step(x).item(), rel=1e-12)


def test_pinv_hermitian_gradient_is_pytorchs_at_a_symmetric_leaf():
    # The values come from eigh of the lower triangle; the gradient with respect to the matrix
    # itself is PyTorch's (the general pseudo-inverse's), also off the symmetric directions.
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    m = rng.standard_normal((2, 4, 4))
    a = m + np.swapaxes(m, -1, -2)
    w = rng.standard_normal(a.shape)
    ours = mg.tensor(a, requires_grad=True)
    theirs = torch.tensor(a, requires_grad=True)
    out, expected = mg.linalg.pinv(ours, hermitian=True), torch.linalg.pinv(theirs, hermitian=True)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    (out * mg.tensor(w)).sum().backward()
    (expected * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-9, atol=1e-10)
    assert not mg.linalg.pinv(mg.tensor(a), hermitian=True).requires_grad


@pytest.mark.parametrize("norm", [lambda x: mg.linalg.matrix_norm(x), lambda x: mg.linalg.norm(x, "fro", dim=(1, 2)),
                                  lambda x: mg.linalg.matrix_norm(x, dim=(0, 2), keepdim=True)])
def test_the_frobenius_norm_of_a_zero_matrix_has_a_zero_gradient_as_torch(norm):
    # sqrt(sum(x * x)) gave 0 * inf = nan for every entry of a zero matrix in the batch
    x = mg.tensor(np.concatenate([np.zeros((1, 3, 2)), np.arange(6.0).reshape(1, 3, 2)]), requires_grad=True)
    norm(x).sum().backward()
    assert np.isfinite(x.grad).all() and not x.grad[0].any()
    mg.gradcheck(lambda t: norm(t), [mg.tensor(np.arange(1.0, 13.0).reshape(2, 3, 2), requires_grad=True)])
