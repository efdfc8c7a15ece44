"""PyTorch-parity fixes: bitwise operators on bool/integer tensors, ``t.div(rounding_mode=)``,
dtypes kept by ``scatter_reduce("mean")`` and ``tril``/``triu``, ``t.squeeze(dim)``, dims of 0-d
tensors, ``dtype=`` on reductions, ``t.diagonal(dim1=, dim2=)``, ``einsum(eq, [a, b])``,
``t.scatter(reduce=)`` and ``t.nonzero()`` (PyTorch's form)."""

import numpy as np
import pytest

import microgradnp as mg

RNG = np.random.default_rng(0)


def _ints(values, dtype=np.int32):
    return mg.from_numpy(np.array(values, dtype=dtype))


def _check_grad(fn, *shapes):
    inputs = [mg.tensor(RNG.normal(size=s), requires_grad=True) for s in shapes]
    mg.gradcheck(fn, inputs)


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


# -- 1. bitwise operators ---------------------------------------------------------------------------------------

BINARY = {
    "and": (lambda a, b: a & b), "or": (lambda a, b: a | b), "xor": (lambda a, b: a ^ b),
    "lshift": (lambda a, b: a << b), "rshift": (lambda a, b: a >> b),
    "bitwise_and": (lambda a, b: a.bitwise_and(b)), "bitwise_or": (lambda a, b: a.bitwise_or(b)),
    "bitwise_xor": (lambda a, b: a.bitwise_xor(b)),
    "bitwise_left_shift": (lambda a, b: a.bitwise_left_shift(b)),
    "bitwise_right_shift": (lambda a, b: a.bitwise_right_shift(b)),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8"])
def test_bitwise_binary_against_pytorch(torch, name, dtype):
    a = RNG.integers(0, 100, size=(3, 4)).astype(dtype)
    b = RNG.integers(0, 5, size=(4,)).astype(dtype)
    fn = BINARY[name]
    pairs = [
        (fn(mg.from_numpy(a), mg.from_numpy(b)), fn(torch.from_numpy(a), torch.from_numpy(b))),
        (fn(mg.from_numpy(a), 3), fn(torch.from_numpy(a), 3)),  # a Python int on the right
    ]
    if not name.startswith("bitwise"):  # ... and on the left of an operator (reflected)
        pairs.append((fn(3, mg.from_numpy(b)), fn(3, torch.from_numpy(b))))
    for ours, theirs in pairs:
        assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
        np.testing.assert_array_equal(ours.data, theirs.numpy())
        assert not ours.requires_grad and ours.op is None


def test_bitwise_not_and_signed_shifts_against_pytorch(torch):
    a = np.array([-7, -1, 0, 5, 1000], dtype=np.int32)
    np.testing.assert_array_equal((~_ints(a)).data, (~torch.from_numpy(a)).numpy())
    np.testing.assert_array_equal(_ints(a).bitwise_not().data, torch.from_numpy(a).bitwise_not().numpy())
    np.testing.assert_array_equal((_ints(a) >> 1).data, (torch.from_numpy(a) >> 1).numpy())
    np.testing.assert_array_equal((_ints(a) << 3).data, (torch.from_numpy(a) << 3).numpy())
    m = np.array([True, False, True])
    assert (~_ints(m, bool)).dtype == np.bool_
    np.testing.assert_array_equal((~_ints(m, bool)).data, ~m)


def test_boolean_masks_from_comparisons(torch):
    x = RNG.normal(size=(5, 6))
    t = torch.from_numpy(x)
    ours, theirs = mg.tensor(x), t
    for fn in (lambda v: (v > 0) & (v < 1), lambda v: (v > 1) | (v < -1), lambda v: (v > 0) ^ (v > 0.5),
               lambda v: ~(v > 0), lambda v: (v > 0) & True, lambda v: False | (v > 0), lambda v: (v > 0) & 1):
        got, want = fn(ours), fn(theirs)
        assert str(got.dtype) == str(want.dtype).removeprefix("torch.")
        np.testing.assert_array_equal(got.data, want.numpy())
    # the masks select as in PyTorch
    np.testing.assert_array_equal(ours[(ours > 0) & (ours < 1)].data, t[(t > 0) & (t < 1)].numpy())
    np.testing.assert_array_equal((ours > 0).logical_not().data, (t > 0).logical_not().numpy())


def test_bitwise_with_ndarrays_on_either_side():
    a, b = np.array([6, 3, 12], dtype=np.int64), np.array([3, 5, 10], dtype=np.int64)
    for ufunc in (np.bitwise_and, np.bitwise_or, np.bitwise_xor, np.left_shift, np.right_shift):
        for got in (ufunc(a, mg.from_numpy(b)), ufunc(mg.from_numpy(a), b)):
            assert isinstance(got, mg.Tensor)
            np.testing.assert_array_equal(got.data, ufunc(a, b))
    got = np.invert(mg.from_numpy(a))
    assert isinstance(got, mg.Tensor)
    np.testing.assert_array_equal(got.data, ~a)
    np.testing.assert_array_equal((a & mg.from_numpy(b)).data, a & b)


def test_bitwise_in_place():
    t = _ints([12, 10, 7])
    data = t.data
    t &= 6
    t |= 1
    t ^= 2
    t <<= 1
    t >>= 1
    np.testing.assert_array_equal(t.data, ((((np.array([12, 10, 7]) & 6) | 1) ^ 2) << 1) >> 1)
    assert t.data is data and t.dtype == np.int32
    t.bitwise_and_(3)
    t.bitwise_not_()
    np.testing.assert_array_equal(t.data, ~(((((np.array([12, 10, 7]) & 6) | 1) ^ 2) << 1 >> 1) & 3))
    mask = _ints([True, False], bool)
    mask |= _ints([False, False], bool)
    mask &= np.array([True, True])
    np.testing.assert_array_equal(mask.data, [True, False])


def test_bitwise_on_floats_raises_as_pytorch():
    x = mg.tensor([1.0, 2.0])
    for fn in (lambda: x & x, lambda: x | 1, lambda: 1 ^ x, lambda: x << 1, lambda: 2 >> x, lambda: ~x,
               lambda: x.bitwise_not(), lambda: _ints([1, 2]) & 1.5, lambda: x.bitwise_and(x)):
        with pytest.raises(TypeError, match=r"only defined on bool and integer tensors.*compare first"):
            fn()
    y = mg.tensor([1.0, 2.0])
    with pytest.raises(TypeError, match="bool and integer"):
        y &= 1


# -- 2. div(rounding_mode=) -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [None, "trunc", "floor"])
def test_div_rounding_mode_method_against_pytorch(torch, mode):
    a = np.array([5.0, 6, 7, 0, -5, -6, -7])
    for b in (np.array([-3.0]), np.array([2.0]), 3.0):
        for method in ("div", "divide"):
            ours = getattr(mg.tensor(a), method)(b if np.isscalar(b) else mg.tensor(b), rounding_mode=mode)
            theirs = getattr(torch.from_numpy(a), method)(b if np.isscalar(b) else torch.from_numpy(b),
                                                          rounding_mode=mode)
            np.testing.assert_array_equal(ours.data, theirs.numpy())
    if mode is not None:  # integer tensors stay integer
        ai, bi = a.astype(np.int32), np.array([-3], dtype=np.int32)
        ours, theirs = _ints(ai).div(_ints(bi), rounding_mode=mode), torch.from_numpy(ai).div(
            torch.from_numpy(bi), rounding_mode=mode)
        assert ours.dtype == np.int32 and theirs.dtype == torch.int32
        np.testing.assert_array_equal(ours.data, theirs.numpy())


def test_div_rounding_mode_gradients_and_float32():
    _check_grad(lambda x, y: x.div(y + 3.0, rounding_mode=None), (3,), (3,))
    x = mg.tensor([1.5, -2.5], dtype=np.float32, requires_grad=True)
    y = x.div(2.0, rounding_mode="floor")
    assert y.dtype == np.float32
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])
    assert x.grad.dtype == np.float32


def test_div_in_place_rounding_mode(torch):
    t, tt = mg.tensor([7.0, -7.0]), torch.tensor([7.0, -7.0], dtype=torch.float64)
    t.div_(2, rounding_mode="trunc")
    tt.div_(2, rounding_mode="trunc")
    np.testing.assert_array_equal(t.data, tt.numpy())
    i = _ints([7, -7])
    i.div_(2, rounding_mode="floor")
    np.testing.assert_array_equal(i.data, [3, -4])
    assert i.dtype == np.int32
    t.div_(2)
    np.testing.assert_array_equal(t.data, tt.numpy() / 2)


def test_div_rounding_mode_errors():
    with pytest.raises(ValueError, match="rounding_mode must be None, 'trunc' or 'floor'"):
        mg.tensor([1.0]).div(2, rounding_mode="typo")
    with pytest.raises(ZeroDivisionError, match="integer division by zero"):
        _ints([1]).div(0, rounding_mode="floor")


# -- 3. dtypes kept ---------------------------------------------------------------------------------------------


def test_scatter_reduce_mean_keeps_float32(torch):
    x = RNG.normal(size=(3, 4)).astype(np.float32)
    src = RNG.normal(size=(3, 4)).astype(np.float32)
    index = RNG.integers(0, 4, size=(3, 4))
    for include_self in (True, False):
        ours = mg.tensor(x).scatter_reduce(1, index, mg.tensor(src), "mean", include_self=include_self)
        theirs = torch.from_numpy(x).scatter_reduce(1, torch.from_numpy(index), torch.from_numpy(src), "mean",
                                                     include_self=include_self)
        assert ours.dtype == np.float32
        np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-6)


@pytest.mark.parametrize("dtype", ["bool", "int8", "uint8", "int32", "int64", "float32"])
def test_tril_triu_keep_the_dtype(torch, dtype):
    a = (RNG.normal(size=(4, 5)) * 3).astype(dtype)
    for name, k in (("tril", 0), ("triu", 0), ("tril", -1), ("triu", 2)):
        ours, theirs = getattr(mg.from_numpy(a), name)(k), getattr(torch.from_numpy(a), name)(k)
        assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
        np.testing.assert_array_equal(ours.data, theirs.numpy())
    _check_grad(lambda x: x.tril(-1) * 2 + x.triu(1), (4, 4))


# -- 4. squeeze(dim) --------------------------------------------------------------------------------------------


def test_squeeze_method_is_pytorchs(torch):
    a = RNG.normal(size=(4, 1, 3, 1))
    for dim in (0, 1, 2, 3, -1, (0, 1), (1, 3), (0, 2), (-1, -3), None):
        ours = mg.tensor(a).squeeze() if dim is None else mg.tensor(a).squeeze(dim)
        theirs = torch.from_numpy(a).squeeze() if dim is None else torch.from_numpy(a).squeeze(dim)
        assert ours.shape == tuple(theirs.shape)
    assert mg.tensor(a).squeeze(dim=3).shape == (4, 1, 3)
    _check_grad(lambda x: x.squeeze((0, 1)) * 3.0, (1, 1, 2))
    with pytest.raises(IndexError, match="out of bounds"):
        mg.tensor(a).squeeze(4)
    with pytest.raises(ValueError, match="does not have length 1"):  # the function stays NumPy's
        mg.squeeze(mg.tensor(a), 0)


# -- 5. 0-d tensors ---------------------------------------------------------------------------------------------

ZERO_D = {
    "sum": lambda x, d: x.sum(d), "sum_keepdim": lambda x, d: x.sum(d, keepdim=True), "mean": lambda x, d: x.mean(d),
    "prod": lambda x, d: x.prod(d), "logsumexp": lambda x, d: x.logsumexp(d), "squeeze": lambda x, d: x.squeeze(d),
    "amax": lambda x, d: x.amax(d), "amin": lambda x, d: x.amin(dim=d), "cumsum": lambda x, d: x.cumsum(d),
    "cumprod": lambda x, d: x.cumprod(dim=d), "logcumsumexp": lambda x, d: x.logcumsumexp(d),
    "nansum": lambda x, d: x.nansum(d), "std_correction0": lambda x, d: x.std(d, correction=0),
}


@pytest.mark.parametrize("name", sorted(ZERO_D))
@pytest.mark.parametrize("dim", [0, -1])
def test_zero_d_accepts_dim_0_and_minus_1(torch, name, dim):
    fn = ZERO_D[name]
    ours, theirs = fn(mg.tensor(1.7), dim), fn(torch.tensor(1.7, dtype=torch.float64), dim)
    assert ours.shape == tuple(theirs.shape) == ()
    np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-12)
    x = mg.tensor(1.7, requires_grad=True)
    fn(x, dim).backward()
    tx = torch.tensor(1.7, dtype=torch.float64, requires_grad=True)
    fn(tx, dim).backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-12)


FUNCTIONS_ZERO_D = ("sum", "mean", "prod", "amax", "amin", "max", "min", "logsumexp", "argmax", "all", "any")


@pytest.mark.parametrize("name", FUNCTIONS_ZERO_D)
@pytest.mark.parametrize("dim", [0, -1])
def test_zero_d_dims_in_the_mg_functions(torch, name, dim):
    # torch.sum(x, 0) on a 0-d tensor is x; so is mg.sum(x, 0) (NumPy raises there: nothing breaks).
    ours = getattr(mg, name)(mg.tensor(1.7), dim)
    theirs = getattr(torch, name)(torch.tensor(1.7, dtype=torch.float64), dim)
    theirs = theirs[0] if isinstance(theirs, tuple) else theirs  # (mg.max(x, 0) is NumPy's: the values)
    ours = ours[0] if isinstance(ours, tuple) else ours
    assert ours.shape == tuple(theirs.shape) == ()
    np.testing.assert_allclose(ours.data, theirs.numpy())
    with pytest.raises((IndexError, ValueError)):
        getattr(mg, name)(mg.tensor(1.7), 1)


def test_zero_d_other_dims_raise_index_error():
    x = mg.tensor(2.0)
    assert x.cummax(0).values.shape == () and x.cummin(-1).indices.shape == ()
    for fn in (lambda: x.sum(1), lambda: x.cummax(1), lambda: x.cummin(-2), lambda: x.squeeze(1),
               lambda: x.cumsum(2), lambda: x.mean((0, 1)), lambda: mg.cummax(x, 1)):
        with pytest.raises(IndexError, match=r"expected to be in range of \[-1, 0\]"):
            fn()
    assert x.unsqueeze(0).shape == (1,) and x.unsqueeze(-1).shape == (1,)


# -- 6. dtype=, diagonal keywords, einsum list, scatter(reduce=) -------------------------------------------------


def test_reductions_take_dtype(torch):
    a = RNG.normal(size=(3, 4)).astype(np.float32)
    for name, args in (("sum", ()), ("sum", (1,)), ("mean", (0,)), ("prod", (1,)), ("cumsum", (1,)),
                       ("cumprod", (0,))):
        for dtype, tdtype in ((np.float64, torch.float64), ("float64", torch.float64), (np.float32, torch.float32)):
            ours = getattr(mg.tensor(a), name)(*args, dtype=dtype)
            theirs = getattr(torch.from_numpy(a), name)(*args, dtype=tdtype)
            assert ours.dtype == np.dtype(dtype)
            # (float32 sums: NumPy's pairwise order and PyTorch's differ by a few ulps)
            np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-6 if np.dtype(dtype) == np.float64 else 1e-5)
    ints = np.array([[1, 2], [3, 4]], dtype=np.int32)
    for name in ("sum", "cumsum"):
        args = (0,) if name == "cumsum" else ()
        ours, theirs = getattr(mg.from_numpy(ints), name)(*args, dtype=np.int64), getattr(
            torch.from_numpy(ints), name)(*args, dtype=torch.int64)
        assert ours.dtype == np.int64
        np.testing.assert_array_equal(ours.data, theirs.numpy())
    x = mg.tensor(a, requires_grad=True)
    x.sum(dtype=np.float64).backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, np.ones_like(a))
    _check_grad(lambda v: v.cumsum(1, dtype=np.float64).prod(dtype=np.float64), (2, 3))
    with pytest.raises(TypeError, match="integer result has no gradient"):
        x.sum(dtype=np.int64)


def test_diagonal_with_pytorchs_keywords(torch):
    a = RNG.normal(size=(3, 4, 5))
    for kwargs in ({"dim1": -2, "dim2": -1}, {"offset": 1, "dim1": 0, "dim2": 2}, {"offset": -1, "dim1": 2, "dim2": 0},
                   {}):
        np.testing.assert_array_equal(mg.tensor(a).diagonal(**kwargs).data,
                                      torch.from_numpy(a).diagonal(**kwargs).numpy())
    assert mg.tensor(a).diagonal(0, axis1=1, axis2=2).shape == (3, 4)
    _check_grad(lambda x: x.diagonal(dim1=-2, dim2=-1) * 2.0, (2, 3, 3))
    with pytest.raises(ValueError, match="dim1 and dim2 must be different"):
        mg.tensor(a).diagonal(dim1=0, dim2=-3)


def test_einsum_operands_as_one_list(torch):
    a, b, c = RNG.normal(size=(2, 3)), RNG.normal(size=(5, 3, 7)), RNG.normal(size=(2, 7))
    ours = mg.einsum("ik,jkl,il->ij", [mg.tensor(a), mg.tensor(b), mg.tensor(c)])
    theirs = torch.einsum("ik,jkl,il->ij", [torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c)])
    np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-12)
    _check_grad(lambda x, y: mg.einsum("ij,jk->ik", (x, y)), (2, 3), (3, 4))
    with pytest.raises(ValueError):
        mg.einsum("ij,jk->ik", [mg.tensor(a), mg.tensor(b), mg.tensor(c)])


@pytest.mark.filterwarnings("ignore:The reduce argument of torch.scatter")
@pytest.mark.parametrize("reduce", ["add", "multiply"])
def test_scatter_with_reduce_against_pytorch(torch, reduce):
    a = RNG.normal(size=(3, 5))
    index = np.array([[0, 1, 1], [4, 4, 2], [3, 0, 0]])
    src = RNG.normal(size=(3, 3))
    for value in (2.5, float("inf")):
        ours = mg.tensor(a).scatter(1, index, value, reduce=reduce)
        theirs = torch.from_numpy(a).scatter(1, torch.from_numpy(index), value, reduce=reduce)
        np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-12)
        ours = mg.tensor(a).scatter(dim=1, index=index, value=value, reduce=reduce)
        np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-12)
    ours = mg.tensor(a).scatter(1, index, mg.tensor(src), reduce=reduce)
    theirs = torch.from_numpy(a).scatter(1, torch.from_numpy(index), torch.from_numpy(src), reduce=reduce)
    np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-12)
    _check_grad(lambda x, s: x.scatter(1, index, s, reduce=reduce), (3, 5), (3, 3))
    with pytest.raises(ValueError, match="reduce must be None, 'add' or 'multiply'"):
        mg.tensor(a).scatter(1, index, 1.0, reduce="sum")


# -- 7. nonzero -------------------------------------------------------------------------------------------------


def test_nonzero_method_is_pytorchs_function_numpys(torch):
    a = (RNG.normal(size=(4, 5)) > 0.3).astype(np.float64)
    ours, theirs = mg.tensor(a).nonzero(), torch.from_numpy(a).nonzero()
    assert ours.dtype == np.int64 and ours.shape == tuple(theirs.shape)
    np.testing.assert_array_equal(ours.data, theirs.numpy())
    np.testing.assert_array_equal((mg.tensor(a) > 0.5).nonzero().int().data, (torch.from_numpy(a) > 0.5).nonzero())
    for o, t in zip(mg.tensor(a).nonzero(as_tuple=True), torch.from_numpy(a).nonzero(as_tuple=True), strict=True):
        np.testing.assert_array_equal(o.data, t.numpy())
    assert isinstance(mg.nonzero(mg.tensor(a)), tuple)  # the function stays NumPy's
    for o, t in zip(mg.nonzero(mg.tensor(a)), np.nonzero(a), strict=True):
        np.testing.assert_array_equal(o.data, t)
    assert mg.tensor(3.0).nonzero().shape == tuple(torch.tensor(3.0).nonzero().shape)


@pytest.mark.parametrize("name", ["cumsum", "cumprod", "logcumsumexp"])
def test_scans_with_dim_on_0d_are_0d_as_pytorchs(torch, name):
    x, tx = mg.tensor(1.7, requires_grad=True), torch.tensor(1.7, dtype=torch.float64, requires_grad=True)
    ours, theirs = getattr(mg, name)(x, dim=0), getattr(torch, name)(tx, dim=0)
    assert ours.shape == tuple(theirs.shape) == ()
    ours.backward()
    theirs.backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy())
    assert getattr(mg, name)(mg.tensor(1.7), 0).shape == (1,)  # NumPy's spelling: NumPy's one element
    with pytest.raises(IndexError):
        getattr(mg, name)(mg.tensor(1.7), dim=1)
    with pytest.raises(TypeError, match="both dim= and axis="):
        getattr(mg, name)(mg.tensor([1.0]), axis=0, dim=0)


@pytest.mark.parametrize("name", ["std_mean", "var_mean"])
def test_std_mean_takes_axis_as_pytorch(torch, name):
    data = RNG.normal(size=(3, 4, 5))
    ours = getattr(mg, name)(mg.tensor(data), axis=(1, 2))
    theirs = getattr(torch, name)(torch.tensor(data), axis=(1, 2))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.data, b.numpy())
    with pytest.raises(TypeError, match="both dim= and axis="):
        getattr(mg, name)(mg.tensor(data), dim=1, axis=1)


def test_roll_method_is_pytorchs(torch):
    data = np.arange(8.0).reshape(2, 4)
    for args in [(1,), ((1, 2), (0, 1)), (1, 1), (-3, 0), ((2,), (1,))]:
        np.testing.assert_array_equal(mg.tensor(data).roll(*args).data, torch.tensor(data).roll(*args).numpy())
    for shifts, dims in [((1, 2), None), (1, (0, 1)), ((1, 2), 0)]:
        with pytest.raises(RuntimeError, match="shifts and dims must align"):
            mg.tensor(data).roll(shifts, dims)
        with pytest.raises(RuntimeError):
            torch.tensor(data).roll(shifts, dims)
    np.testing.assert_array_equal(mg.tensor(data).roll(shift=1, axis=0).data, np.roll(data, 1, axis=0))


MIXED_INDICES = {
    "int, slice, list": lambda a, m: a[0, :, [0, 1]],
    "list, slice, int": lambda a, m: a[[0, 1], :, 0],
    "ellipsis, int, list": lambda a, m: a[..., 0, [1, 2]],
    "None, int, slice, list": lambda a, m: a[None, 0, :, [1, 2]],
    "int, mask, slice": lambda a, m: a[0, m.from_numpy(np.array([True, False, True])), 1:3],
    "0-d tensor, slice, list": lambda a, m: a[m.from_numpy(np.array(1)), :, [0, 1]],
    "int, slice, 0-d tensor": lambda a, m: a[0, :, m.from_numpy(np.array(1))],
    "int, slice, 2-d list": lambda a, m: a[1, :, [[0], [1]]],
    "int, partial slice, repeated list": lambda a, m: a[0, 1:, [2, 2]],
}


@pytest.mark.parametrize("name", sorted(MIXED_INDICES))
def test_ints_mixed_with_arrays_index_as_in_pytorch(torch, name):
    # x[0, :, idx] keeps the sliced axis first in PyTorch; NumPy would put idx's axis first.
    data = RNG.normal(size=(2, 3, 4))
    x, tx = mg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    ours, theirs = MIXED_INDICES[name](x, mg), MIXED_INDICES[name](tx, torch)
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_array_equal(ours.data, theirs.detach().numpy())
    g = RNG.normal(size=ours.shape)
    ours.backward(g)
    theirs.backward(torch.tensor(g))
    np.testing.assert_array_equal(x.grad, tx.grad.numpy())
    # and t[index] = value writes where t[index] reads
    y, ty = mg.zeros(2, 3, 4), torch.zeros(2, 3, 4, dtype=torch.float64)
    value = RNG.normal(size=ours.shape)
    MIXED_INDICES[name](y, mg)  # (the same index reads the same shape before writing)
    index_of = {"int, slice, list": (0, slice(None), [0, 1]), "list, slice, int": ([0, 1], slice(None), 0)}
    if name in index_of:
        y[index_of[name]] = mg.tensor(value)
        ty[index_of[name]] = torch.tensor(value)
        np.testing.assert_array_equal(y.data, ty.numpy())


def _index_part(draw, st, length):
    kind = draw(st.sampled_from(["int", "slice", "list", "none"]))
    if kind == "int":
        return draw(st.integers(-length, length - 1)), 1
    if kind == "slice":
        return slice(draw(st.integers(0, length)), None, draw(st.sampled_from([1, 2]))), 1
    if kind == "list":
        return draw(st.lists(st.integers(-length, length - 1), min_size=1, max_size=3)), 1
    return None, 0


def test_random_mixed_indices_read_and_backpropagate_as_in_pytorch(torch):
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies

    @hypothesis.given(data=st.data())
    @hypothesis.settings(max_examples=80, deadline=None)
    def check(data):
        shape = tuple(data.draw(st.lists(st.integers(1, 4), min_size=2, max_size=4)))
        parts, axis = [], 0
        for _ in range(data.draw(st.integers(2, len(shape) + 1))):
            if axis == len(shape):
                break
            part, used = _index_part(data.draw, st, shape[axis])
            parts.append(part)
            axis += used
        index = tuple(parts)
        values = RNG.normal(size=shape)
        x, tx = mg.tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)
        try:
            theirs = tx[index]
        except (IndexError, RuntimeError):  # index arrays that do not broadcast together
            with pytest.raises(IndexError):
                x[index]
            return
        ours = x[index]
        assert ours.shape == tuple(theirs.shape), index
        np.testing.assert_array_equal(ours.data, theirs.detach().numpy())
        g = RNG.normal(size=ours.shape)
        ours.backward(g)
        theirs.backward(torch.tensor(g))
        np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-12, atol=1e-12)

    check()
