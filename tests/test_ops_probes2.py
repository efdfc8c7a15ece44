"""Adversarial parity probes of tensor operations against PyTorch (the oracle), second round:
each test pins one discrepancy that was found and fixed (values, dtypes, shapes, gradients,
and which calls raise)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import microgradnp as mg

torch = pytest.importorskip("torch")


def _t(a, requires_grad=False):
    t = torch.from_numpy(np.array(a))
    return t.requires_grad_(True) if requires_grad else t


def _m(a, requires_grad=False):
    a = np.array(a)
    return mg.tensor(a, dtype=a.dtype, requires_grad=requires_grad)


# -- reductions ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["all", "any"])
def test_all_any_take_a_list_of_dims(name):
    a = np.array([[1.0, 0.0, 2.0], [3.0, 4.0, 5.0]])
    for dim in ([1], [0, 1]):
        for keepdim in (False, True):
            expected = getattr(torch, name)(_t(a), dim=dim, keepdim=keepdim).numpy()
            got = getattr(mg, name)(_m(a), dim=dim, keepdim=keepdim)
            assert got.shape == expected.shape
            np.testing.assert_array_equal(got.data, expected)
            np.testing.assert_array_equal(getattr(_m(a), name)(dim=dim, keepdim=keepdim).data, expected)


# -- elementwise -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["floor", "trunc"])
def test_div_rounding_mode_values_and_zero_gradient_at_zero_divisor(mode):
    a = np.array([1.0, -1.0, 7.0, 0.3, 5.0, -0.0, 1.0, -1.0, np.inf, np.nan, 3.0])
    b = np.array([0.1, 0.1, 0.7, 0.1, -0.0, 2.0, 0.0, 0.0, 2.0, 1.0, -0.0])
    ta, tb = _t(a, True), _t(b, True)
    expected = torch.div(ta, tb, rounding_mode=mode)
    expected.sum().backward()
    ma, mb = _m(a, True), _m(b, True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        got = mg.div(ma, mb, rounding_mode=mode)
        np.testing.assert_array_equal(ma.div(mb, rounding_mode=mode).data, expected.detach().numpy())
    np.testing.assert_array_equal(got.data, expected.detach().numpy())  # 1.0 // 0.1 is 9.0, not 10.0
    got.sum().backward()
    np.testing.assert_array_equal(ma.grad, ta.grad.numpy())  # 0, not nan, where b is 0
    np.testing.assert_array_equal(mb.grad, tb.grad.numpy())


def test_add_sub_alpha_keep_the_integer_dtype_and_refuse_a_float_alpha():
    i32 = np.array([1, -2, 3], dtype=np.int32)
    flags = np.array([True, False, True])
    cases = [("add", i32, flags), ("add", flags, flags), ("add", i32, i32), ("sub", i32, i32)]
    for name, a, b in cases:
        expected = getattr(torch, name)(_t(a), _t(b), alpha=2).numpy()
        got = getattr(mg, name)(_m(a), _m(b), alpha=2)
        assert got.dtype == expected.dtype, (name, a.dtype, b.dtype)
        np.testing.assert_array_equal(got.data, expected)
    with pytest.raises(RuntimeError):
        torch.sub(_t(i32), _t(flags), alpha=2)
    with pytest.raises(RuntimeError):
        mg.sub(_m(i32), _m(flags), alpha=2)
    with pytest.raises(RuntimeError):
        torch.add(_t(i32), _t(i32), alpha=2.5)
    with pytest.raises(RuntimeError):
        mg.add(_m(i32), _m(i32), alpha=2.5)


def test_copysign_of_bool_or_integer_magnitude_takes_the_sign_tensor_dtype():
    signs = np.array([-1.0, 1.0, -0.0], dtype=np.float32)
    for magnitude in (np.array([True, False, True]), np.array([3, -2, 1], dtype=np.int32)):
        expected = torch.copysign(_t(magnitude), _t(signs))
        got = mg.copysign(_m(magnitude), _m(signs))
        assert got.dtype == np.float32 and expected.dtype == torch.float32
        np.testing.assert_array_equal(got.data, expected.numpy())


# -- shape ops -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shifts, dims",
                         [((1, 2), None), ((1, 2), 0), ((1, 2), (0,)), (1, (0, 1)), ((1, 2, 3), (0, 1))])
def test_roll_refuses_shifts_and_dims_that_do_not_align(shifts, dims):
    x = np.arange(6.0).reshape(2, 3)
    with pytest.raises(RuntimeError):
        torch.roll(_t(x), shifts, dims)
    with pytest.raises(RuntimeError):
        mg.roll(_m(x), shifts, dims)  # NumPy would have broadcast them (adding the shifts along one axis)
    with pytest.raises(RuntimeError):
        _m(x).roll(shifts, dims)


def test_roll_still_rolls_aligned_shifts():
    x = np.arange(24.0).reshape(2, 3, 4)
    for shifts, dims in (((1,), None), (5, None), ((1, -2), (0, 2)), ([1, 2], [2, 2]), (3, -1)):
        np.testing.assert_array_equal(mg.roll(_m(x), shifts, dims).data, torch.roll(_t(x), shifts, dims).numpy())


def test_tile_method_takes_the_reps_as_several_ints():
    x = np.arange(6.0).reshape(2, 3)
    for reps in ((2, 1), (1, 2, 2), (3,)):
        expected = _t(x).tile(*reps).numpy()
        np.testing.assert_array_equal(_m(x).tile(*reps).data, expected)
        np.testing.assert_array_equal(mg.tile(_m(x), *reps).data, expected)
        np.testing.assert_array_equal(mg.tile(_m(x), reps).data, expected)


def test_repeat_interleave_with_counts_from_a_tensor_and_the_one_argument_form():
    x = np.arange(6.0).reshape(3, 2)
    weights = np.random.default_rng(1).standard_normal((3, 2))
    counts = [1, 0, 2]
    tx = _t(x, True)
    expected = torch.repeat_interleave(tx, torch.tensor(counts), dim=0)
    (expected * _t(weights)).sum().backward()
    mx = _m(x, True)
    got = mg.repeat_interleave(mx, mg.tensor(counts), dim=0)  # mg.tensor of ints is float64: whole numbers count
    (got * mg.tensor(weights)).sum().backward()
    np.testing.assert_array_equal(got.data, expected.detach().numpy())
    np.testing.assert_allclose(mx.grad, tx.grad.numpy())
    np.testing.assert_array_equal(mg.repeat_interleave(mg.tensor(counts, dtype=np.int64), dim=0).data,
                                  torch.repeat_interleave(torch.tensor(counts)).numpy())
    np.testing.assert_array_equal(mg.repeat_interleave(mg.tensor([2, 0, 3])).data,
                                  torch.repeat_interleave(torch.tensor([2, 0, 3])).numpy())
    with pytest.raises(RuntimeError):
        mg.repeat_interleave(mx, mg.tensor([1.5, 0.0, 2.0]), dim=0)


def test_transpose_and_movedim_of_a_0d_tensor_accept_dim_0_and_minus_1():
    for call in (lambda t: t.transpose(0, -1), lambda t: t.movedim(0, -1), lambda t: t.swapaxes(0, 0)):
        t = torch.tensor(2.5, requires_grad=True)
        m = mg.tensor(2.5, requires_grad=True)
        out = call(m)
        assert out.shape == tuple(call(t).shape) == ()
        (out * 3.0).backward()
        assert m.grad == 3.0
    with pytest.raises(IndexError):
        torch.tensor(2.5).transpose(1, 0)
    with pytest.raises(IndexError):
        mg.tensor(2.5).transpose(1, 0)


def test_cat_skips_1d_empty_tensors_beside_other_ranks_as_pytorch():
    a = np.random.default_rng(2).standard_normal((2, 3))
    empty = np.zeros((0,), dtype=np.float32)
    for dim in (0, 1, -1):
        ta, te = _t(a, True), _t(empty, True)
        expected = torch.cat([te, ta, te], dim)
        (expected * 2.0).sum().backward()
        ma, me = _m(a, True), _m(empty, True)
        got = mg.cat([me, ma, me], dim)
        (got * 2.0).sum().backward()
        assert got.shape == tuple(expected.shape) and got.dtype == np.float64
        np.testing.assert_array_equal(got.data, expected.detach().numpy())
        np.testing.assert_array_equal(ma.grad, ta.grad.numpy())
        assert me.grad.shape == (0,)
    # the skipped tensor still takes part in the dtype promotion
    ints = np.ones((2, 2), dtype=np.int64)
    assert mg.cat([_m(ints), _m(empty)]).dtype == np.float32 == torch.cat([_t(ints), _t(empty)]).numpy().dtype
    assert mg.hstack([_m(empty), _m(a)]).shape == (2, 3)
    with pytest.raises(RuntimeError):
        mg.vstack([_m(empty), _m(a)])


def test_nextafter_of_infinity_steps_to_the_largest_finite_value():
    a = np.array([0.0, 1.0, 1.0, np.nan, np.inf, -np.inf, 3.0])
    b = np.array([1.0, 0.0, 1.0, 0.0, 0.0, 0.0, np.nan])
    ta = _t(a, True)
    expected = torch.nextafter(ta, _t(b))
    (expected * 2.0).sum().backward()
    ma = _m(a, True)
    got = mg.nextafter(ma, _m(b))
    np.testing.assert_array_equal(got.data, expected.detach().numpy())  # was nan for +-inf (inf - inf)
    (got * 2.0).sum().backward()
    np.testing.assert_array_equal(ma.grad, ta.grad.numpy())


@pytest.mark.parametrize("name", ["maximum", "minimum", "max", "min"])
def test_binary_maximum_minimum_give_both_inputs_the_gradient_where_a_nan_is(name):
    a = np.array([np.nan, 1.0, 2.0, 2.0, np.nan, 5.0])
    b = np.array([1.0, np.nan, 2.0, 3.0, np.nan, -1.0])
    upstream = np.arange(1.0, 7.0)
    ta, tb = _t(a, True), _t(b, True)
    getattr(torch, name)(ta, tb).backward(_t(upstream))
    ma, mb = _m(a, True), _m(b, True)
    out = getattr(mg, name)(ma, mb)
    out.backward(upstream)
    np.testing.assert_array_equal(out.data, getattr(torch, name)(_t(a), _t(b)).numpy())
    np.testing.assert_array_equal(ma.grad, ta.grad.numpy())
    np.testing.assert_array_equal(mb.grad, tb.grad.numpy())
    x = mg.tensor(np.nan, requires_grad=True)
    mg.maximum(x, mg.tensor(1.0)).backward()
    assert x.grad == 1.0


def test_batched_products_do_not_broadcast_the_batch():
    one, two = np.ones((1, 2, 4)), np.ones((2, 4, 3))
    calls = [lambda L, a, b: L.bmm(a, b), lambda L, a, b: a.bmm(b),
             lambda L, a, b: L.baddbmm(L.ones(2, 2, 3), a, b), lambda L, a, b: L.addbmm(L.ones(2, 3), a, b)]
    for call in calls:
        with pytest.raises(RuntimeError):
            call(torch, _t(one), _t(two))
        with pytest.raises(RuntimeError):
            call(mg, _m(one), _m(two))  # (matmul would broadcast the batch of 1 to 2)
    a, b = np.random.default_rng(3).standard_normal((2, 2, 4)), np.random.default_rng(4).standard_normal((2, 4, 3))
    np.testing.assert_allclose(mg.bmm(_m(a), _m(b)).data, torch.bmm(_t(a), _t(b)).numpy())


def test_unique_consecutive_along_a_dim_of_an_empty_tensor():
    for shape in ((0,), (0, 3)):
        expected = torch.unique_consecutive(torch.zeros(shape), dim=0, return_inverse=True, return_counts=True)
        got = mg.unique_consecutive(mg.zeros(shape), dim=0, return_inverse=True, return_counts=True)
        assert [x.shape for x in got] == [tuple(x.shape) for x in expected]


@pytest.mark.parametrize("dim", [(0, 1), 1, (0, 2), [0, 2], (-4, 2), ()])
def test_squeeze_with_dim_leaves_other_lengths_alone_as_pytorch(dim):
    y = np.random.default_rng(6).standard_normal((1, 3, 1, 4))
    expected = torch.squeeze(_t(y), dim)
    mx = _m(y, True)
    got = mg.squeeze(mx, dim=dim)  # PyTorch's spelling: PyTorch's meaning (NumPy's axis= raises for length 3)
    assert got.shape == tuple(expected.shape) == tuple(_m(y).squeeze(dim).shape)
    got.sum().backward()
    assert mx.grad.shape == y.shape


def test_squeeze_refuses_a_repeated_dim():
    y = np.zeros((1, 3, 1))
    with pytest.raises(RuntimeError):
        torch.squeeze(_t(y), (0, 0))
    for call in (lambda t: mg.squeeze(t, dim=(0, 0)), lambda t: t.squeeze((0, 0)), lambda t: mg.squeeze(t, (2, -1))):
        with pytest.raises(RuntimeError):
            call(_m(y))
    assert mg.squeeze(mg.tensor(2.0), dim=0).shape == ()


def test_square_of_bools_is_int64():
    flags = np.array([True, False, True])
    expected = torch.square(_t(flags))
    for got in (mg.square(_m(flags)), _m(flags).square()):
        assert got.dtype == np.int64 == expected.numpy().dtype
        np.testing.assert_array_equal(got.data, expected.numpy())


def test_flatten_of_a_0d_tensor_checks_its_dims():
    for dims in ((0,), (0, -1), (-1, 0)):
        assert mg.flatten(mg.tensor(1.5), *dims).shape == tuple(torch.flatten(torch.tensor(1.5), *dims).shape)
    for dims in ((1,), (0, 1), (-2,)):
        with pytest.raises(IndexError):
            torch.flatten(torch.tensor(1.5), *dims)
        with pytest.raises(IndexError):
            mg.flatten(mg.tensor(1.5), *dims)


def test_logsumexp_with_an_empty_dim_reduces_every_axis():
    x = np.random.default_rng(7).standard_normal((2, 3))
    expected = torch.logsumexp(_t(x), dim=(), keepdim=True).numpy()
    np.testing.assert_allclose(mg.logsumexp(_m(x), dim=(), keepdim=True).data, expected)
    np.testing.assert_allclose(_m(x).logsumexp(dim=[]).data, expected.reshape(()))


@pytest.mark.parametrize("name, value", [("cumsum", 0.1), ("cumprod", 1.01), ("logcumsumexp", 0.1)])
def test_float16_scans_accumulate_in_float32_as_pytorch(name, value):
    x = np.full(1000, value, dtype=np.float16)
    expected = getattr(torch, name)(_t(x), 0).numpy()
    got = getattr(mg, name)(_m(x), dim=0)
    assert got.dtype == np.float16
    np.testing.assert_allclose(got.data.astype(np.float64), expected.astype(np.float64), rtol=2e-3)


def test_masked_scatter_with_a_larger_mask_broadcasts_the_result():
    rng = np.random.default_rng(8)
    x, mask, source = rng.standard_normal(4), rng.random((3, 4)) > 0.5, np.arange(12.0)
    tx, ts = _t(x, True), _t(source, True)
    expected = tx.masked_scatter(_t(mask), ts)
    expected.sum().backward()
    mx, ms = _m(x, True), _m(source, True)
    got = mx.masked_scatter(_m(mask), ms)
    got.sum().backward()
    np.testing.assert_array_equal(got.data, expected.detach().numpy())
    np.testing.assert_allclose(mx.grad, tx.grad.numpy())
    np.testing.assert_allclose(ms.grad, ts.grad.numpy())
    with pytest.raises(RuntimeError):
        _m(np.ones((3, 4))).masked_scatter(_m(np.ones((2, 4), dtype=bool)), ms)


@pytest.mark.parametrize("index", [np.array([0]), np.array(0)])
@pytest.mark.parametrize("axis", [0, -1])
def test_index_select_of_a_0d_tensor_is_0d_with_its_gradient(index, axis):
    x = mg.tensor(2.5, requires_grad=True)
    out = mg.index_select(x, axis, index)
    assert out.shape == () and out.item() == 2.5
    (out * 3).backward()
    assert x.grad.item() == 3.0
    with pytest.raises(IndexError, match="only 1 value"):
        mg.index_select(x, axis, np.array([0, 0]))
    with pytest.raises(IndexError, match="out of bounds"):
        mg.index_select(x, axis, np.array([1]))


@pytest.mark.parametrize("op, kwargs", [
    ("avg_pool2d", {"kernel_size": 2, "padding": (1,)}),
    ("max_pool2d", {"kernel_size": (2,), "stride": (1,)}),
    ("avg_pool2d", {"kernel_size": (3,), "stride": (2,), "padding": (1,)}),
])
def test_pooling_takes_one_tuple_options_for_every_axis_as_pytorch(op, kwargs):
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 6))
    expanded = {k: (v[0],) * 2 if isinstance(v, tuple) else v for k, v in kwargs.items()}
    ours = getattr(mg.nn.functional, op)(mg.tensor(x), **kwargs).data
    np.testing.assert_array_equal(ours, getattr(mg.nn.functional, op)(mg.tensor(x), **expanded).data)
    torch = pytest.importorskip("torch")
    theirs = getattr(torch.nn.functional, op)(torch.tensor(x), **kwargs).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


@pytest.mark.parametrize("shape", [(0, 0), (3, 0, 0), (0, 2, 2)])
def test_ex_factorizations_of_empty_matrices_and_batches(shape):
    a = mg.tensor(np.zeros(shape), requires_grad=True)
    for factor in (mg.linalg.cholesky_ex, mg.linalg.inv_ex):
        result, info = factor(a)
        assert result.shape == shape and info.shape == shape[:-2] and not np.any(info.data)
    inverse, _ = mg.linalg.inv_ex(a)
    inverse.sum().backward()
    assert a.grad.shape == shape


@pytest.mark.parametrize("x_shape, w_shape", [((0, 1, 6), (2, 1, 3)), ((0, 2, 6), (4, 1, 3)),
                                              ((0, 2, 4, 4), (2, 1, 3, 3))])
def test_an_empty_batch_differentiates_through_convolution(x_shape, w_shape):
    conv = mg.nn.functional.conv1d if len(x_shape) == 3 else mg.nn.functional.conv2d
    x = mg.tensor(np.ones(x_shape), requires_grad=True)
    w = mg.tensor(np.ones(w_shape), requires_grad=True)
    conv(x, w, groups=x_shape[1] // w_shape[1]).sum().backward()
    assert x.grad.shape == x_shape and w.grad.shape == w_shape and not np.any(w.grad.data)


def test_an_empty_batch_differentiates_through_unfold():
    x = mg.tensor(np.ones((0, 1, 4, 4)), requires_grad=True)
    mg.nn.functional.unfold(x, 2).sum().backward()
    assert x.grad.shape == (0, 1, 4, 4)


@pytest.mark.parametrize("p, training", [(0.5, False), (0.0, True), (1.0, True)])
def test_feature_alpha_dropout_checks_the_shape_only_when_it_drops_channels(p, training):
    x = mg.tensor(np.array([1.0, -2.0, 3.0]))
    out = mg.nn.functional.feature_alpha_dropout(x, p, training=training)
    np.testing.assert_array_equal(out.data, np.zeros(3) if p == 1 else x.data)
    with pytest.raises(ValueError, match=r"expected an input \(N, C, \.\.\.\)"):
        mg.nn.functional.feature_alpha_dropout(x, 0.5, training=True)
    with pytest.raises(ValueError, match="between 0 and 1"):
        mg.nn.functional.feature_alpha_dropout(x, 1.5, training=training)
