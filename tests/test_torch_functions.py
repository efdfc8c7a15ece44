"""PyTorch's top-level functions as mg.<name> (torch.narrow(x, ...) is mg.narrow(x, ...)):
values and gradients against finite differences and against PyTorch (optional oracle),
integer and bool results, constructors, random draws and inference_mode."""

from __future__ import annotations

import numpy as np
import pytest

import microgradnp as mg

RNG = np.random.default_rng(5)
A = RNG.uniform(0.5, 2.0, size=(3, 4)) * RNG.choice([-1, 1], size=(3, 4))
B = RNG.normal(size=(4, 3))
SPECIAL = np.array([1.0, np.inf, -np.inf, np.nan])
INTS = np.array([7, -7, 6, 10, -11])

# name -> the call, written once for both libraries (m: mg or torch; x: a tensor of A's values).
CASES = {
    "add_alpha": lambda m, x: m.add(x, x * x, alpha=2),
    "sub": lambda m, x: m.sub(x, 1.5),
    "subtract_alpha": lambda m, x: m.subtract(x, x * x, alpha=0.5),
    "mul": lambda m, x: m.mul(x, x),
    "multiply": lambda m, x: m.multiply(x, 3.0),
    "div": lambda m, x: m.div(x, x * x + 1),
    "div_trunc": lambda m, x: m.div(x * 3, 2.0, rounding_mode="trunc") + x,
    "div_floor": lambda m, x: m.div(x * 3, 2.0, rounding_mode="floor") * x,
    "divide": lambda m, x: m.divide(2.0, x),
    "true_divide": lambda m, x: m.true_divide(x, 4.0),
    "neg": lambda m, x: m.neg(x),
    "negative": lambda m, x: m.negative(x),
    "pow": lambda m, x: m.pow(x, 3),
    "pow_tensor_exponent": lambda m, x: m.pow(x * x, x),
    "pow_number_base": lambda m, x: m.pow(2.0, x),
    "rsqrt": lambda m, x: m.rsqrt(x * x),
    "rsub_alpha": lambda m, x: m.rsub(x, x * x, alpha=2),
    "clamp": lambda m, x: m.clamp(x, min=-0.7, max=1.1),
    "clamp_tensors": lambda m, x: m.clamp(x, min=x * 0 - 1, max=x * x),
    "clamp_min": lambda m, x: m.clamp_min(x, 0.6),
    "clamp_max": lambda m, x: m.clamp_max(x, 0.6),
    "clone": lambda m, x: m.clone(x) * 2,
    "permute": lambda m, x: m.permute(x.reshape(3, 2, 2), (2, 0, 1)),
    "narrow": lambda m, x: m.narrow(x, 1, 1, 2),
    "select": lambda m, x: m.select(x, 1, 2),
    "ravel": lambda m, x: m.ravel(x),
    "unsqueeze": lambda m, x: m.unsqueeze(x, 1),
    "t": lambda m, x: m.t(x),
    "mm": lambda m, x: m.mm(x, m.t(x)),
    "bmm": lambda m, x: m.bmm(x.reshape(3, 2, 2), x.reshape(3, 2, 2)),
    "mv": lambda m, x: m.mv(x, x[0]),
    "amax": lambda m, x: m.amax(x, 1),
    "amin": lambda m, x: m.amin(x, dim=0, keepdim=True),
    "aminmax_min": lambda m, x: m.aminmax(x, dim=1).min,
    "aminmax_max": lambda m, x: m.aminmax(x, dim=0, keepdim=True)[1],
    "aminmax_all": lambda m, x: m.aminmax(x).max,
    "lerp": lambda m, x: m.lerp(x, x * x, 0.3),
    "concat": lambda m, x: m.concat([x, x * 2], dim=1),
    "row_stack": lambda m, x: m.row_stack([x, x[0]]),
    "column_stack": lambda m, x: m.column_stack([x[:, 0], x, x[:, 1]]),
    "dstack": lambda m, x: m.dstack([x, x * 2]),
    "dstack_vectors": lambda m, x: m.dstack([x[0], x[1]]),
    "atleast_1d": lambda m, x: m.atleast_1d(x[0, 0]),
    "atleast_2d": lambda m, x: m.atleast_2d(x[0]),
    "atleast_3d_vector": lambda m, x: m.atleast_3d(x[0]),
    "atleast_3d_matrix": lambda m, x: m.atleast_3d((x, x[0]))[0],
    "broadcast_tensors": lambda m, x: m.broadcast_tensors(x[:, :1], x[0])[0] * m.broadcast_tensors(x[:, :1], x[0])[1],
    "block_diag": lambda m, x: m.block_diag(x[:2], x[0, 0], x[1, :3]),
    "cartesian_prod": lambda m, x: m.cartesian_prod(x[0], x[1, :2], x[2, :3]),
    "combinations": lambda m, x: m.combinations(x[0], 3),
    "combinations_replacement": lambda m, x: m.combinations(x[0, :3], with_replacement=True),
    "meshgrid_ij": lambda m, x: m.meshgrid(x[0], x[1, :3], indexing="ij")[0] * m.meshgrid(x[0], x[1, :3],
                                                                                          indexing="ij")[1],
    "meshgrid_xy": lambda m, x: m.meshgrid(x[0], x[1, :3], x[2, :2], indexing="xy")[1] ** 2,
    "cdist": lambda m, x: m.cdist(x, x[:2] * 2),
    "cdist_p1_batched": lambda m, x: m.cdist(x.reshape(2, 3, 2), x.reshape(2, 3, 2)[:, :2] + 1, p=1),
    "cdist_inf": lambda m, x: m.cdist(x, x[:2] * 3, p=float("inf")),
    "cdist_p3": lambda m, x: m.cdist(x, x[:2] * 2, p=3),
    "chain_matmul": lambda m, x: m.chain_matmul(x, m.t(x), x),
    "trapezoid": lambda m, x: m.trapezoid(x),
    "trapezoid_dx": lambda m, x: m.trapezoid(x, dx=0.5, dim=0),
    "trapezoid_x": lambda m, x: m.trapezoid(x, x[0] ** 2),
    "trapz_x_full": lambda m, x: m.trapz(x, x.cumsum(0), dim=0),
    "cumulative_trapezoid": lambda m, x: m.cumulative_trapezoid(x, dim=0),
    "cumulative_trapezoid_x": lambda m, x: m.cumulative_trapezoid(x, x[1] * 2),
    "cross": lambda m, x: m.cross(x[:, :3], x[:, 1:], dim=1),
    "take": lambda m, x: m.take(x, m.tensor([0, 5, 11, 5])),
    "masked_select": lambda m, x: m.masked_select(x, x > 0),
    "kron": lambda m, x: m.kron(x[:2, :2], x[1:, 2:]),
    "movedim": lambda m, x: m.movedim(x.reshape(3, 2, 2), 0, 2),
    "unbind": lambda m, x: m.unbind(x, 1)[2],
    "diag_embed": lambda m, x: m.diag_embed(x),
    "det": lambda m, x: m.det(x[:, :3]),
    "vdot": lambda m, x: m.vdot(x[0], x[1]),
    "inner": lambda m, x: m.inner(x, x),
    "inverse": lambda m, x: m.inverse(x[:, :3]),
    "pinverse": lambda m, x: m.pinverse(x),
    "logdet": lambda m, x: m.logdet(x[:, :3] @ m.t(x[:, :3])),
    "slogdet": lambda m, x: m.slogdet(x[:, 1:])[1],
    "matrix_power": lambda m, x: m.matrix_power(x[:, :3], 3),
    "matrix_exp": lambda m, x: m.matrix_exp(x[:, :3] / 2),
    "svd_values": lambda m, x: m.svd(x)[1],
    "rot90": lambda m, x: m.rot90(x, 1, (0, 1)),
    "fliplr": lambda m, x: m.fliplr(x),
    "flipud": lambda m, x: m.flipud(x),
    "diagflat": lambda m, x: m.diagflat(x[0], 1),
    "tensor_split": lambda m, x: m.tensor_split(x, 3, dim=1)[1],
    "hsplit": lambda m, x: m.hsplit(x, [1])[1],
    "vsplit": lambda m, x: m.vsplit(x, [2])[0],
    "swapdims": lambda m, x: m.swapdims(x, 0, 1),
    "unflatten": lambda m, x: m.unflatten(x, 1, (2, 2)),
    "ger": lambda m, x: m.ger(x[0], x[1]),
    "index_add": lambda m, x: m.index_add(x, 0, m.as_tensor(np.array([0, 0])), x[:2] ** 2),
    "masked_scatter": lambda m, x: m.masked_scatter(x, x > 0, x * 10),
    "take_along_dim": lambda m, x: m.take_along_dim(x, m.as_tensor(np.argsort(A, 1)), 1),
    "std_mean": lambda m, x: m.std_mean(x, 1)[0] * m.std_mean(x, 1)[1],
    "std_mean_all": lambda m, x: m.std_mean(x, correction=0)[0],
    "var_mean": lambda m, x: m.var_mean(x, 0, True, True)[0] + m.var_mean(x, dim=0, keepdim=True)[1],
    "cov": lambda m, x: m.cov(x),
    "cov_1d": lambda m, x: m.cov(x[0], correction=0),
    "cov_weights": lambda m, x: m.cov(x, fweights=m.as_tensor(np.array([1, 2, 1, 3])),
                                      aweights=m.as_tensor(np.array([0.5, 1.0, 2.0, 1.5]))),
    "cov_aweights_tensor": lambda m, x: m.cov(x[:2], aweights=x[2] ** 2),
    "corrcoef": lambda m, x: m.corrcoef(x[:, :3]) * m.as_tensor(1 - np.eye(3)),
    "msort": lambda m, x: m.msort(x),
    "adjoint": lambda m, x: m.adjoint(x.reshape(3, 2, 2)),
    "ldexp": lambda m, x: m.ldexp(x, m.as_tensor(np.array([1.0, -2.0, 0.0, 3.0]))),
}


def _weights(out):
    return np.linspace(-1, 1, out.numel()).reshape(tuple(out.shape))


@pytest.mark.parametrize("case", CASES)
def test_gradients_against_finite_differences(case):
    x = mg.tensor(A, requires_grad=True)
    assert mg.gradcheck(lambda t: (CASES[case](mg, t) * _weights(CASES[case](mg, t))).sum(), (x,))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.filterwarnings("ignore:torch.chain_matmul is deprecated")
def test_values_and_gradients_against_pytorch(case):
    torch = pytest.importorskip("torch")
    x, tx = mg.tensor(A, requires_grad=True), torch.tensor(A, requires_grad=True)
    ours, theirs = CASES[case](mg, x), CASES[case](torch, tx)
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-12, atol=1e-14)
    weights = _weights(ours)
    (ours * weights).sum().backward()
    (theirs * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_float32_stays_float32():
    x = mg.tensor(A, dtype=np.float32, requires_grad=True)
    for out in (mg.cdist(x, x), mg.trapezoid(x), mg.block_diag(x, x), mg.meshgrid(x[0], x[1])[0],
                mg.div(x, 2.0, rounding_mode="floor"), mg.rsub(x, 1.0)):
        assert out.dtype == np.float32
    mg.cdist(x, x[:2] * 2).sum().backward()
    assert x.grad.dtype == np.float32


# name -> the call, for results outside the graph (bool, integer), compared with torch's values.
DATA_CASES = {
    "eq": lambda m, x: m.eq(x, x[0]),
    "ne": lambda m, x: m.ne(x, 1.0),
    "lt": lambda m, x: m.lt(x, 0),
    "le": lambda m, x: m.le(x, x * x),
    "gt": lambda m, x: m.gt(x, 0.5),
    "ge": lambda m, x: m.ge(x, x[:, :1]),
    "isfinite": lambda m, x: m.isfinite(x * m.as_tensor(SPECIAL)),
    "isinf": lambda m, x: m.isinf(x * m.as_tensor(SPECIAL)),
    "isnan": lambda m, x: m.isnan(x * m.as_tensor(SPECIAL)),
    "isin": lambda m, x: m.isin(m.round(x), m.tensor([1.0, -1.0])),
    "isin_invert": lambda m, x: m.isin(m.round(x), m.tensor([1.0]), invert=True),
    "bucketize": lambda m, x: m.bucketize(x, m.tensor([-1.0, 0.0, 1.0])),
    "bucketize_right": lambda m, x: m.bucketize(m.round(x), m.tensor([-1.0, 0.0, 1.0]), right=True),
    "searchsorted": lambda m, x: m.searchsorted(m.tensor([-1.0, 0.0, 1.0, 1.5]), x),
    "searchsorted_rows": lambda m, x: m.searchsorted(m.sort(x, 1)[0] if m is not mg else x.sort(dim=1)[0],
                                                     x[:, :2] * 0.5, side="right"),
    "searchsorted_int32": lambda m, x: m.searchsorted(m.tensor([0.0, 1.0]), x, out_int32=True),
    "searchsorted_sorter": lambda m, x: m.searchsorted(m.tensor([3.0, 1.0, 2.0]), m.tensor([2.5, 0.0]),
                                                       sorter=m.tensor([1, 2, 0])),
    "div_int_trunc": lambda m, x: m.div(m.as_tensor(INTS), m.as_tensor(INTS // 3 - 1), rounding_mode="trunc"),
    "div_int_floor": lambda m, x: m.div(m.as_tensor(INTS), m.as_tensor(INTS // 3 - 1), rounding_mode="floor"),
    "tril_indices": lambda m, x: m.tril_indices(3, 4, 1),
    "histc": lambda m, x: m.histc(x, bins=4, min=-1, max=1),
    "signbit": lambda m, x: m.signbit(x),
    "logical_not": lambda m, x: m.logical_not(x > 0),
    "unique": lambda m, x: m.unique(m.round(x)),
    "bincount": lambda m, x: m.bincount(m.as_tensor(np.abs(INTS))),
    "triu_indices": lambda m, x: m.triu_indices(4, 3, -1),
}


@pytest.mark.parametrize("case", DATA_CASES)
def test_integer_and_bool_results_against_pytorch(case):
    torch = pytest.importorskip("torch")
    ours = DATA_CASES[case](mg, mg.tensor(A, requires_grad=True))
    theirs = DATA_CASES[case](torch, torch.tensor(A, requires_grad=True))
    assert not ours.requires_grad
    assert ours.dtype == np.dtype(str(theirs.dtype).removeprefix("torch."))
    np.testing.assert_array_equal(ours.data, theirs.detach().numpy())


def test_dtype_rules_match_pytorch():
    torch = pytest.importorskip("torch")
    dtypes = [np.bool_, np.uint8, np.int8, np.int32, np.int64, np.float16, np.float32, np.float64]
    names = {np.dtype(d): getattr(torch, np.dtype(d).name if d is not np.bool_ else "bool") for d in dtypes}
    for a in dtypes:
        for b in dtypes:
            assert mg.promote_types(a, b) == np.dtype(str(torch.promote_types(names[np.dtype(a)],
                                                                              names[np.dtype(b)]))[6:])
            assert mg.can_cast(a, b) == torch.can_cast(names[np.dtype(a)], names[np.dtype(b)])
    pairs = [(mg.tensor(np.array([1], np.int32)), 1.0), (mg.tensor(np.array([1.0], np.float32)), 2.0),
             (mg.tensor(np.array([1.0], np.float32)), mg.tensor(np.array(2.0))),
             (mg.tensor(np.array([1], np.int8)), mg.tensor(np.array(2.0, np.float16))), (True, 3), (2, 1.5)]
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # mg's default
    try:
        for a, b in pairs:
            def _torch(v):
                return torch.from_numpy(v.data) if isinstance(v, mg.Tensor) else v

            assert mg.result_type(a, b) == np.dtype(str(torch.result_type(_torch(a), _torch(b)))[6:])
    finally:
        torch.set_default_dtype(previous)


def test_tests_and_predicates():
    x = mg.tensor(A)
    assert mg.is_tensor(x) and not mg.is_tensor(A)
    assert mg.is_nonzero(mg.tensor([2.0])) and not mg.is_nonzero(mg.tensor(0.0))
    with pytest.raises(RuntimeError, match="more than one value"):
        mg.is_nonzero(x)
    with pytest.raises(RuntimeError, match="no values"):
        mg.is_nonzero(mg.tensor([]))
    assert mg.numel(x) == 12 and mg.equal(x, x.clone()) and mg.allclose(x, x + 1e-12)
    assert mg.broadcast_shapes((3, 1), 4, (2, 1, 1)) == (2, 3, 4)
    d = mg.detach(mg.tensor(A, requires_grad=True))
    assert not d.requires_grad and np.shares_memory(d.data, x.data) is False


def test_shape_and_argument_errors():
    x = mg.tensor(A)
    with pytest.raises(ZeroDivisionError, match="integer division by zero"):
        mg.div(mg.as_tensor(INTS), 0, rounding_mode="floor")
    with pytest.raises(TypeError, match="only floating-point tensors can require grad"):
        mg.asarray(INTS, requires_grad=True)
    with pytest.raises(ValueError, match="rounding_mode must be"):
        mg.div(x, 2, rounding_mode="round")
    with pytest.raises(ValueError, match="do not broadcast together"):
        mg.broadcast_shapes((2, 3), (4,))
    with pytest.raises(ValueError, match="at most 2 dimensions"):
        mg.block_diag(x[None])
    with pytest.raises(ValueError, match='indexing must be "ij" or "xy"'):
        mg.meshgrid(x[0], indexing="ji")
    with pytest.raises(ValueError, match="0-D or 1-D"):
        mg.meshgrid(x)
    with pytest.raises(ValueError, match="expects a 1-D tensor"):
        mg.combinations(x)
    with pytest.raises(ValueError, match="expects 2-D tensors"):
        mg.chain_matmul(x, x[0])
    with pytest.raises(ValueError, match="p must be non-negative"):
        mg.cdist(x, x, p=-1)
    with pytest.raises(ValueError, match=r"\(\.\.\., P, M\)"):
        mg.cdist(x, x[:, :2])
    with pytest.raises(ValueError, match="unknown compute_mode"):
        mg.cdist(x, x, compute_mode="fast")
    with pytest.raises(TypeError, match="not both"):
        mg.trapezoid(x, x[0], dx=1.0)
    with pytest.raises(ValueError, match="x has 3 points"):
        mg.trapezoid(x, x[0, :3])
    with pytest.raises(ValueError, match="contradict"):
        mg.searchsorted(x[0], x, side="left", right=True)
    with pytest.raises(ValueError, match="leading dimensions"):
        mg.searchsorted(x, x[:2])
    with pytest.raises(ValueError, match="boundaries must be a 1-D"):
        mg.bucketize(x, x)
    assert mg.combinations(x[0, :2], 3).shape == (0, 3) and mg.combinations(x[0], 0).shape == (0,)


def test_constructors():
    torch = pytest.importorskip("torch")
    np.testing.assert_allclose(mg.logspace(-1, 2, 7, base=2.0).data,
                               torch.logspace(-1, 2, 7, base=2.0, dtype=torch.float64).numpy(), rtol=1e-14)
    assert mg.logspace(0, 1, 3, dtype=np.float32).dtype == np.float32
    assert mg.empty(2, 3).shape == (2, 3) and mg.empty((2, 3), dtype=np.float32).dtype == np.float32
    assert mg.empty_like(mg.tensor(A, dtype=np.float32)).dtype == np.float32
    assert mg.empty(2, requires_grad=True).requires_grad
    with pytest.warns(UserWarning, match="deprecated"):
        r = mg.range(1, 4, 0.5)
    with pytest.warns(UserWarning):
        np.testing.assert_array_equal(r.data, torch.range(1, 4, 0.5, dtype=torch.float64).numpy())
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="step must not be 0"):
        mg.range(0, 3, 0)
    array = np.arange(6.0)
    shared = mg.as_tensor(array)
    assert np.shares_memory(shared.data, array) and mg.as_tensor(shared) is shared
    assert not np.shares_memory(mg.as_tensor(array, dtype=np.float32).data, array)
    assert np.shares_memory(mg.asarray(array).data, array)
    assert not np.shares_memory(mg.asarray(array, copy=True).data, array)
    assert mg.asarray([1.0, 2.0], requires_grad=True).requires_grad
    leaf = mg.tensor([1.0, 2.0], requires_grad=True)
    converted = mg.as_tensor(leaf, dtype=np.float32)
    assert converted.dtype == np.float32 and converted.requires_grad and mg.asarray(leaf, copy=True) is not leaf
    (converted * 3).sum().backward()
    np.testing.assert_array_equal(leaf.grad, [3.0, 3.0])
    with pytest.raises(ValueError, match="copy=False"):
        mg.asarray(leaf, dtype=np.float32, copy=False)
    with pytest.raises(ValueError, match="copy=False"):
        mg.asarray([1.0, 2.0], copy=False)
    assert mg.scalar_tensor(2).shape == () and mg.scalar_tensor(2).dtype == mg.get_default_dtype()
    with pytest.raises(TypeError, match="only floating-point tensors can require grad"):
        mg.randint(5, (2,), requires_grad=True)


def test_random_constructors_shapes_dtypes_and_seeding():
    values = mg.randint(3, 7, (200,), rng=0)
    assert values.dtype == np.int64 and values.data.min() >= 3 and values.data.max() <= 6
    assert set(values.data.tolist()) == {3, 4, 5, 6}
    np.testing.assert_array_equal(values.data, mg.randint(3, 7, (200,), generator=np.random.default_rng(0)).data)
    assert mg.randint(5, (2, 3)).shape == (2, 3) and mg.randint(high=5, size=4, low=2).shape == (4,)
    assert mg.randint(5, (2,), dtype=np.float32).dtype == np.float32
    with pytest.raises(ValueError, match="must be less than high"):
        mg.randint(5, 5, (2,))
    with pytest.raises(TypeError, match="randint"):
        mg.randint((2, 3))
    with pytest.raises(TypeError, match="both generator= and rng="):
        mg.randperm(3, generator=1, rng=1)
    mg.manual_seed(4)
    first = mg.randperm(10)
    mg.manual_seed(4)
    assert sorted(first.data.tolist()) == list(range(10)) and first.data.tolist() == mg.randperm(10).data.tolist()
    x = mg.tensor(A, dtype=np.float32)
    assert mg.randint_like(x, 10).dtype == np.float32 and mg.randint_like(x, 2, 4, rng=1).data.min() >= 2
    for made in (mg.rand_like(x, rng=1), mg.randn_like(x, rng=1)):
        assert made.shape == x.shape and made.dtype == np.float32
    assert mg.rand_like(x).data.min() >= 0 and mg.rand_like(x).data.max() < 1
    big = mg.randn_like(mg.zeros(20000), rng=2).data
    assert abs(big.mean()) < 0.03 and abs(big.std() - 1) < 0.03


def test_normal_bernoulli_multinomial_poisson():
    samples = mg.normal(2.0, 3.0, (20000,), rng=0).data
    assert abs(samples.mean() - 2) < 0.1 and abs(samples.std() - 3) < 0.1
    mean = mg.tensor([0.0, 10.0], requires_grad=True)
    std = mg.tensor([[1.0, 2.0]], requires_grad=True)
    drawn = mg.normal(mean, std, rng=1)
    assert drawn.shape == (1, 2)
    assert mg.gradcheck(lambda m, s: mg.normal(m, s, rng=1).sum(), (mean, std))
    drawn.sum().backward()
    np.testing.assert_allclose(mean.grad, [1.0, 1.0])
    np.testing.assert_allclose(std.grad[0], (drawn.data[0] - mean.data) / std.data[0])
    assert mg.normal(mean, 1.0, rng=1).shape == (2,)
    with pytest.raises(ValueError, match="two numbers and a size"):
        mg.normal(0.0, 1.0)
    with pytest.raises(ValueError, match="non-negative"):
        mg.normal(mean, -1.0)
    coins = mg.bernoulli(mg.full((20000,), 0.3), rng=0)
    assert set(np.unique(coins.data)) == {0.0, 1.0} and abs(coins.data.mean() - 0.3) < 0.02
    assert mg.bernoulli(mg.zeros(5, dtype=np.float32), p=1.0).data.tolist() == [1.0] * 5
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        mg.bernoulli(mg.tensor([1.5]))
    weights = mg.tensor([[0.0, 1.0, 3.0], [5.0, 0.0, 0.0]])
    picks = mg.multinomial(weights, 1000, replacement=True, rng=0)
    assert picks.shape == (2, 1000) and picks.dtype == np.int64
    assert set(picks.data[0].tolist()) == {1, 2} and abs((picks.data[0] == 2).mean() - 0.75) < 0.05
    assert set(picks.data[1].tolist()) == {0}
    order = mg.multinomial(mg.tensor([1.0, 1.0, 1.0, 0.0]), 3, rng=1).data
    assert sorted(order.tolist()) == [0, 1, 2]
    with pytest.raises(ValueError, match="without replacement"):
        mg.multinomial(weights, 2)
    with pytest.raises(ValueError, match="non-negative"):
        mg.multinomial(mg.tensor([1.0, -1.0]), 1)
    counts = mg.poisson(mg.full((20000,), 4.0), rng=0).data
    assert abs(counts.mean() - 4) < 0.1 and np.all(counts == np.round(counts))
    with pytest.raises(ValueError, match="rates"):
        mg.poisson(mg.tensor([-1.0]))


def test_inference_mode_as_context_manager_and_decorator():
    x = mg.tensor(A, requires_grad=True)
    assert not mg.is_inference_mode_enabled()
    with mg.inference_mode():
        assert mg.is_inference_mode_enabled() and not mg.is_grad_enabled()
        assert not (x * 2).requires_grad
        with mg.inference_mode(False):
            assert (x * 2).requires_grad and not mg.is_inference_mode_enabled()
        assert not mg.is_grad_enabled()
    assert mg.is_grad_enabled() and not mg.is_inference_mode_enabled()

    @mg.inference_mode
    def bare():
        return (x * 2).requires_grad, mg.is_inference_mode_enabled()

    @mg.inference_mode()
    def called():
        yield (x * 2).requires_grad

    assert bare() == (False, True) and list(called()) == [False]
    assert mg.is_grad_enabled() and not mg.is_inference_mode_enabled()


def test_unravel_index_and_statistics_errors():
    torch = pytest.importorskip("torch")
    flat = np.array([0, 5, 11, -1])
    ours, theirs = mg.unravel_index(mg.as_tensor(flat), (3, 4)), torch.unravel_index(torch.as_tensor(flat), (3, 4))
    assert len(ours) == 2 and all(o.dtype == np.int64 for o in ours)
    for o, t in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(o.data, t.numpy())
    with pytest.raises(ValueError, match="must lie in"):
        mg.unravel_index(mg.as_tensor(np.array([12])), (3, 4))
    with pytest.raises(TypeError, match="not both"):
        mg.std_mean(mg.tensor(A), 1, True, correction=0)
    with pytest.raises(ValueError, match="1-D or 2-D"):
        mg.cov(mg.tensor(A)[None])
    with pytest.raises(ValueError, match="fweights must be"):
        mg.cov(mg.tensor(A), fweights=mg.as_tensor(np.array([1, 2])))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        mg.adjoint(mg.tensor(A)[0])


def test_functional_forms_are_nn_functional():
    torch = pytest.importorskip("torch")
    from microgradnp.nn import functional as F

    for name in ("adaptive_avg_pool1d", "avg_pool1d", "bilinear", "channel_shuffle", "conv1d", "conv2d", "conv3d",
                 "conv_transpose1d", "conv_transpose2d", "cosine_similarity", "group_norm", "hardshrink",
                 "layer_norm", "max_pool1d", "max_pool2d", "max_pool3d", "pairwise_distance", "pixel_shuffle",
                 "pixel_unshuffle", "prelu", "rms_norm", "threshold"):
        assert getattr(mg, name) is getattr(F, name)
    images, kernels = RNG.normal(size=(2, 3, 5, 5)), RNG.normal(size=(4, 3, 3, 3))
    np.testing.assert_allclose(mg.conv2d(mg.tensor(images), mg.tensor(kernels), None, 1, 1).data,
                               torch.conv2d(torch.tensor(images), torch.tensor(kernels), None, 1, 1).numpy(),
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(mg.layer_norm(mg.tensor(A), (4,)).data,
                               torch.layer_norm(torch.tensor(A), (4,)).numpy(), rtol=1e-10, atol=1e-12)


def test_compiled_functions_recompute_data_results_and_draw_again():
    edges = mg.tensor([0.0, 1.0, 2.0])
    step = mg.compile(lambda x: (mg.searchsorted(edges, x), mg.unravel_index(mg.floor(x), (2, 3))[1],
                                 mg.bernoulli(x * 0 + 0.5), mg.randperm(50)))
    first = [o.data.copy() for o in step(mg.tensor([0.5, 1.5, 2.5, 5.0] * 50))]
    second = [o.data.copy() for o in step(mg.tensor([1.5, 2.5, 0.5, 4.0] * 50))]
    np.testing.assert_array_equal(first[0][:4], [1, 2, 3, 3])
    np.testing.assert_array_equal(second[0][:4], [2, 3, 1, 3])
    np.testing.assert_array_equal(second[1][:4], [1, 2, 0, 1])
    assert not np.array_equal(first[2], second[2]) and not np.array_equal(first[3], second[3])


def test_piecewise_constant_results_have_zero_gradients_as_pytorchs():
    # cdist with p=0 and bernoulli depend on their inputs only through comparisons: PyTorch
    # records them with derivative 0, so a loss made of them backpropagates zeros.
    torch = pytest.importorskip("torch")
    x = mg.tensor(A, requires_grad=True)
    distances = mg.cdist(mg.round(x), mg.round(x[:2] * 2), p=0)
    t = torch.tensor(A, requires_grad=True)
    expected = torch.cdist(torch.round(t), torch.round(t[:2] * 2), p=0)
    assert distances.requires_grad == expected.requires_grad is True
    np.testing.assert_array_equal(distances.data, expected.detach().numpy())
    distances.sum().backward()
    np.testing.assert_array_equal(x.grad, np.zeros_like(A))
    p = mg.tensor(np.full(5, 0.5), requires_grad=True)
    draws = mg.bernoulli(p, rng=0)
    assert draws.requires_grad and torch.bernoulli(torch.full((5,), 0.5, requires_grad=True)).requires_grad
    (draws * 3).sum().backward()
    np.testing.assert_array_equal(p.grad, np.zeros(5))
    rates = mg.tensor(np.full(4, 2.0), requires_grad=True)
    counts = mg.poisson(rates, rng=0)
    assert counts.requires_grad and torch.poisson(torch.full((4,), 2.0, requires_grad=True)).requires_grad
    counts.sum().backward()
    np.testing.assert_array_equal(rates.grad, np.zeros(4))
    with mg.no_grad():
        assert not mg.cdist(x, x, p=0).requires_grad
    assert not mg.bernoulli(mg.full((3,), 0.5)).requires_grad
