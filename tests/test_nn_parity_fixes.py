"""PyTorch parity of max pooling with indices and on integers, avg pooling and interpolate on
integers, pad with negative widths, conv_transpose3d and normalize with p <= 0."""

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import nn
from microgradnp.autograd.gradcheck import gradcheck
from microgradnp.nn import functional as F

RNG = np.random.default_rng(7)

POOL2D = [
    ((2, 3, 6, 6), dict(kernel_size=(2, 2))),
    ((1, 2, 10, 10), dict(kernel_size=(3, 2), dilation=(2, 3))),
    ((1, 1, 5, 5), dict(kernel_size=3, padding=1)),
    ((1, 1, 7, 7), dict(kernel_size=2, stride=2, ceil_mode=True)),
    ((1, 1, 12, 13), dict(kernel_size=(12, 13))),
    ((2, 2, 7, 8), dict(kernel_size=3, stride=1, padding=1, dilation=2, ceil_mode=True)),
]
POOL1D = [((2, 3, 11), dict(kernel_size=3)), ((1, 2, 9), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
          ((2, 2, 12), dict(kernel_size=2, dilation=3, padding=1))]


def _ties(shape):
    """Small integers in float64: many ties inside a window, to check the first-maximum rule."""
    return RNG.integers(-3, 3, size=shape).astype(np.float64)


def _same_as_torch(torch, x, ours_fn, torch_fn, atol=1e-12):
    """``ours_fn`` on an mg tensor and ``torch_fn`` on a torch tensor holding ``x``: equal
    values and equal gradients for a random upstream gradient."""
    ours, theirs = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, t_out = ours_fn(ours), torch_fn(theirs)
    np.testing.assert_allclose(out.data, t_out.detach().numpy(), rtol=1e-12, atol=0)
    upstream = RNG.standard_normal(out.shape)
    out.backward(upstream)
    t_out.backward(torch.tensor(upstream))
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-9, atol=atol)


# -- 1. max pooling with indices --------------------------------------------------------------
@pytest.mark.parametrize("shape, kw", POOL2D + POOL1D)
def test_max_pool_indices_values_and_gradients_match_torch(shape, kw):
    torch = pytest.importorskip("torch")
    ndim = len(shape) - 2
    pool = F.max_pool2d if ndim == 2 else F.max_pool1d
    for x in (RNG.standard_normal(shape), _ties(shape)):
        ours = mg.tensor(x, requires_grad=True)
        values, indices = pool(ours, return_indices=True, **kw)
        theirs = torch.tensor(x, requires_grad=True)
        t_values, t_indices = getattr(torch.nn.functional, f"max_pool{ndim}d")(theirs, return_indices=True, **kw)
        assert indices.dtype == np.int64 and values.dtype == np.float64
        np.testing.assert_array_equal(indices.data, t_indices.numpy())
        np.testing.assert_array_equal(values.data, t_values.detach().numpy())
        upstream = RNG.standard_normal(values.shape)
        values.backward(upstream)
        t_values.backward(torch.tensor(upstream))
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=0, atol=1e-12)
        # the values equal the fast path without indices
        np.testing.assert_array_equal(pool(mg.tensor(x), **kw).data, values.data)


def test_max_pool_indices_gradient_by_finite_differences():
    x = mg.tensor(RNG.standard_normal((2, 2, 7, 6)), requires_grad=True)
    assert gradcheck(lambda t: F.max_pool2d(t, 3, 2, 1, return_indices=True)[0], [x])
    y = mg.tensor(RNG.standard_normal((2, 3, 10)), requires_grad=True)
    assert gradcheck(lambda t: F.max_pool1d(t, 3, 2, 1, 2, True, return_indices=True)[0], [y])
    z = mg.tensor(RNG.standard_normal((1, 2, 4, 5, 4)), requires_grad=True)
    assert gradcheck(lambda t: F.max_pool3d(t, 2, 2, 1, return_indices=True)[0], [z])


def test_max_pool_nan_and_unbatched_and_float32_as_torch():
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((2, 5, 5)).astype(np.float32)
    x[0, 1, 1] = x[0, 2, 2] = np.nan
    values, indices = F.max_pool2d(mg.tensor(x), 3, 2, 1, return_indices=True)
    t_values, t_indices = torch.nn.functional.max_pool2d(torch.tensor(x), 3, 2, 1, return_indices=True)
    assert values.dtype == np.float32 and values.shape == tuple(t_values.shape)
    np.testing.assert_array_equal(indices.data, t_indices.numpy())
    np.testing.assert_array_equal(values.data, t_values.numpy())


@pytest.mark.parametrize("shape, kw", [((8, 3, 12, 12), dict(kernel_size=2)),
                                       ((1, 2, 9, 9), dict(kernel_size=3, stride=2, padding=1)),
                                       ((1, 1, 8, 6), dict(kernel_size=2, stride=2))])
def test_max_unpool2d_round_trips_max_pool2d_as_torch(shape, kw):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    _same_as_torch(torch, RNG.standard_normal(shape),
                   lambda t: F.max_unpool2d(*F.max_pool2d(t, return_indices=True, **kw), **kw),
                   lambda t: tf.max_unpool2d(*tf.max_pool2d(t, return_indices=True, **kw), **kw))


def test_max_unpool1d_and_3d_round_trip_as_torch():
    torch = pytest.importorskip("torch")
    x1, x3 = RNG.standard_normal((2, 3, 10)), RNG.standard_normal((1, 2, 4, 6, 4))
    out1 = F.max_unpool1d(*F.max_pool1d(mg.tensor(x1), 2, return_indices=True), 2)
    t1 = torch.nn.functional.max_unpool1d(*torch.nn.functional.max_pool1d(torch.tensor(x1), 2, return_indices=True), 2)
    np.testing.assert_array_equal(out1.data, t1.numpy())
    out3 = F.max_unpool3d(*F.max_pool3d(mg.tensor(x3), 2, return_indices=True), 2)
    t3 = torch.nn.functional.max_unpool3d(*torch.nn.functional.max_pool3d(torch.tensor(x3), 2, return_indices=True), 2)
    np.testing.assert_array_equal(out3.data, t3.numpy())


def test_max_pool_layers_take_return_indices_in_torch_order():
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((2, 3, 7, 7))
    ours = nn.MaxPool2d(3, 2, 1, 1, True, True)(mg.tensor(x))
    theirs = torch.nn.MaxPool2d(3, 2, 1, 1, True, True)(torch.tensor(x))
    np.testing.assert_array_equal(ours[1].data, theirs[1].numpy())
    unpooled = nn.MaxUnpool2d(3, 2, 1)(*ours)
    np.testing.assert_array_equal(unpooled.data, torch.nn.MaxUnpool2d(3, 2, 1)(*theirs).numpy())
    values, indices = nn.MaxPool1d(2, return_indices=True)(mg.tensor(x[0]))
    t_values, t_indices = torch.nn.MaxPool1d(2, return_indices=True)(torch.tensor(x[0]))
    np.testing.assert_array_equal(indices.data, t_indices.numpy())
    np.testing.assert_array_equal(values.data, t_values.numpy())
    assert isinstance(nn.MaxPool2d(2)(mg.tensor(x)), mg.Tensor)


# -- 2. integer dtypes ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.int8, np.int16])
def test_max_pool_keeps_integer_dtypes_as_torch(dtype):
    torch = pytest.importorskip("torch")
    x = RNG.integers(0, 100, size=(2, 3, 7, 9)).astype(dtype)
    for kw in (dict(kernel_size=3, padding=1), dict(kernel_size=(2, 3), stride=1, dilation=(2, 1), ceil_mode=True)):
        ours = F.max_pool2d(mg.from_numpy(x), **kw)
        theirs = torch.nn.functional.max_pool2d(torch.tensor(x), **kw)
        assert ours.dtype == dtype
        np.testing.assert_array_equal(ours.data, theirs.numpy())
    ours3 = F.max_pool3d(mg.from_numpy(x[None]), (1, 2, 2))
    assert ours3.dtype == dtype
    np.testing.assert_array_equal(ours3.data, torch.nn.functional.max_pool3d(torch.tensor(x[None]), (1, 2, 2)).numpy())
    assert F.max_pool1d(mg.from_numpy(x[0]), 2).dtype == dtype


def test_avg_pool_on_integers_as_torch():
    torch = pytest.importorskip("torch")
    x = RNG.integers(-50, 50, size=(2, 3, 6, 7)).astype(np.int64)
    for kw in (dict(kernel_size=2), dict(kernel_size=3, padding=1, ceil_mode=True, count_include_pad=False)):
        ours = F.avg_pool2d(mg.from_numpy(x), **kw)
        assert ours.dtype == np.int64
        np.testing.assert_array_equal(ours.data, torch.nn.functional.avg_pool2d(torch.tensor(x), **kw).numpy())
    ours1 = F.avg_pool1d(mg.from_numpy(x[0]), 3)
    np.testing.assert_array_equal(ours1.data, torch.nn.functional.avg_pool1d(torch.tensor(x[0]), 3).numpy())
    with pytest.raises(TypeError, match="avg_pool2d: not implemented for int32"):
        F.avg_pool2d(mg.from_numpy(x.astype(np.int32)), 2)
    # a plain integer array is an operand like any other: it becomes the default float dtype
    assert F.avg_pool1d(np.arange(10).reshape(1, 1, 10), 2).dtype == np.float64


def test_pooling_bool_raises():
    with pytest.raises(TypeError, match="max_pool2d: not implemented for bool"):
        F.max_pool2d(mg.from_numpy(np.ones((1, 2, 4, 4), dtype=bool)), 2)
    with pytest.raises(TypeError, match="avg_pool1d: not implemented for bool"):
        F.avg_pool1d(mg.from_numpy(np.ones((1, 2, 4), dtype=bool)), 2)


def test_interpolate_on_uint8_as_torch():
    torch = pytest.importorskip("torch")
    x = RNG.integers(0, 256, size=(2, 3, 9, 7)).astype(np.uint8)
    for mode in ("nearest", "nearest-exact"):
        ours = F.interpolate(mg.from_numpy(x), size=(4, 10), mode=mode)
        assert ours.dtype == np.uint8
        theirs = torch.nn.functional.interpolate(torch.tensor(x), size=(4, 10), mode=mode)
        np.testing.assert_array_equal(ours.data, theirs.numpy())
    with pytest.raises(NotImplementedError, match="'bilinear' on uint8"):
        F.interpolate(mg.from_numpy(x), size=(4, 4), mode="bilinear")
    with pytest.raises(TypeError, match="'area' is not implemented for uint8"):
        F.interpolate(mg.from_numpy(x), size=(4, 4), mode="area")
    with pytest.raises(TypeError, match="'nearest' is not implemented for int32"):
        F.interpolate(mg.from_numpy(x.astype(np.int32)), size=(4, 4))


# -- 3. pad with negative widths -------------------------------------------------------------------
PADS = [((3, 3, 3, 3), (-1, 2, -3, 4), "constant"), ((3, 3), (-1, 2, -3, 4), "constant"),
        ((1, 1, 5, 5), (-4, 2, 0, 0), "constant"), ((1, 1, 5, 5), (-5, 0, 0, 0), "constant"),
        ((3, 3, 3, 3), (-1, 2, 2, -1), "reflect"), ((1, 1, 5, 5), (3, -3, 0, -3), "reflect"),
        ((1, 1, 5, 5), (3, -5, 1, -5), "reflect"), ((1, 1, 5, 5), (0, 0, 0, -5), "reflect"),
        ((3, 3, 3, 3), (-1, 2, 2, -1), "replicate"), ((1, 1, 5, 5), (3, -5, 1, -5), "replicate"),
        ((1, 1, 5, 5), (1, -2, 2, -1), "circular"), ((1, 1, 5, 5), (-1, 2, 3, -1), "circular")]


@pytest.mark.parametrize("shape, widths, mode", PADS)
def test_pad_negative_widths_match_torch(shape, widths, mode):
    torch = pytest.importorskip("torch")
    _same_as_torch(torch, RNG.standard_normal(shape), lambda t: F.pad(t, widths, mode=mode),
                   lambda t: torch.nn.functional.pad(t, widths, mode=mode))


def test_pad_negative_widths_value_dtype_and_gradcheck():
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    out = F.pad(mg.tensor(x), (-1, 2, 1, -2), value=-np.inf)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.data, torch.nn.functional.pad(torch.tensor(x), (-1, 2, 1, -2),
                                                                    value=-np.inf).numpy())
    y = mg.tensor(RNG.standard_normal((2, 4, 5)), requires_grad=True)
    for mode in ("constant", "reflect", "replicate", "circular"):
        assert gradcheck(lambda t, m=mode: F.pad(t, (2, -1, -1, 1), mode=m), [y])


def test_pad_layers_crop_as_torch():
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((1, 2, 5, 6))
    for ours, theirs in ((nn.ZeroPad2d((-1, 2, 0, -2)), torch.nn.ZeroPad2d((-1, 2, 0, -2))),
                         (nn.ConstantPad2d((1, -2, -1, 0), 3.0), torch.nn.ConstantPad2d((1, -2, -1, 0), 3.0)),
                         (nn.ReflectionPad2d((2, -1, -2, 1)), torch.nn.ReflectionPad2d((2, -1, -2, 1))),
                         (nn.ReplicationPad2d((-2, 1, 1, -1)), torch.nn.ReplicationPad2d((-2, 1, 1, -1))),
                         (nn.CircularPad2d((1, -1, -2, 2)), torch.nn.CircularPad2d((1, -1, -2, 2)))):
        np.testing.assert_array_equal(ours(mg.tensor(x)).data, theirs(torch.tensor(x)).numpy())


def test_pad_crop_errors():
    with pytest.raises(ValueError, match="crop more than the 3 entries"):
        F.pad(mg.tensor(np.ones((2, 3))), (-4, 2))
    with pytest.raises(ValueError, match="unknown mode"):
        F.pad(mg.tensor(np.ones((2, 3))), (-1, 2), mode="typo")


# -- 4. conv_transpose3d -------------------------------------------------------------------------
@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1, output_padding=1, groups=2, dilation=(1, 2, 1))])
def test_conv_transpose3d_matches_torch(kw):
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((2, 4, 4, 3, 3))
    w = RNG.standard_normal((4, 3 if kw else 2, 3, 2, 2))
    b = RNG.standard_normal(6 if kw else 2)
    ours = [mg.tensor(a, requires_grad=True) for a in (x, w, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    out = F.conv_transpose3d(*ours, **kw)
    t_out = torch.nn.functional.conv_transpose3d(*theirs, **kw)
    np.testing.assert_allclose(out.data, t_out.detach().numpy(), rtol=1e-12, atol=1e-12)
    upstream = RNG.standard_normal(out.shape)
    out.backward(upstream)
    t_out.backward(torch.tensor(upstream))
    for a, t in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_conv_transpose3d_gradcheck_layer_and_errors():
    torch = pytest.importorskip("torch")
    x = mg.tensor(RNG.standard_normal((1, 2, 2, 3, 2)), requires_grad=True)
    w = mg.tensor(RNG.standard_normal((2, 2, 2, 2, 2)), requires_grad=True)
    assert gradcheck(lambda a, b: F.conv_transpose3d(a, b, stride=2, padding=1), [x, w])
    layer = nn.ConvTranspose3d(2, 4, 3, stride=2, padding=1, rng=0)
    assert layer.weight.shape == (2, 4, 3, 3, 3)
    reference = torch.nn.ConvTranspose3d(2, 4, 3, stride=2, padding=1).double()
    with torch.no_grad():
        reference.weight.copy_(torch.tensor(layer.weight.data))
        reference.bias.copy_(torch.tensor(layer.bias.data))
    sample = RNG.standard_normal((2, 3, 4, 3))  # unbatched
    out = layer(mg.tensor(sample), output_size=(6, 8, 6))
    t_out = reference(torch.tensor(sample), output_size=(6, 8, 6))
    np.testing.assert_allclose(out.data, t_out.detach().numpy(), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="conv_transpose3d: the input has 3 channels"):
        F.conv_transpose3d(mg.tensor(np.ones((1, 3, 2, 2, 2))), mg.tensor(np.ones((2, 2, 2, 2, 2))))


# -- 5. normalize with p <= 0 --------------------------------------------------------------------
@pytest.mark.parametrize("p", [0, -1, -2.5, -np.inf, 0.5, 3])
def test_normalize_any_p_matches_torch(p):
    torch = pytest.importorskip("torch")
    for x in (RNG.standard_normal((5, 6)), np.array([[1.0, -2.0, 0.0, 3.0], [0.5, 0.0, 0.0, -1.0]])):
        _same_as_torch(torch, x, lambda t: F.normalize(t, p=p, dim=1),
                       lambda t: torch.nn.functional.normalize(t, p=p, dim=1))


def test_normalize_p_le_0_gradcheck_dtype_and_errors():
    x = mg.tensor(RNG.uniform(0.5, 2.0, (3, 4)) * RNG.choice([-1, 1], (3, 4)), requires_grad=True)
    for p in (0, -1, -3.0):
        assert gradcheck(lambda t, p=p: F.normalize(t, p=p, dim=0), [x])
    x32 = mg.tensor(RNG.standard_normal((3, 4)).astype(np.float32), requires_grad=True)
    for p in (0, -1):
        out = F.normalize(x32, p=p)
        out.sum().backward()
        assert out.dtype == np.float32 and x32.grad.dtype == np.float32
    with pytest.raises(ValueError, match="p must be a number"):
        F.normalize(x, p="fro")


def test_adaptive_max_pool_takes_the_last_nan_of_a_window_as_pytorch():
    # PyTorch's running maximum takes every NaN it meets; np.argmax stops at the first.
    x = mg.tensor(np.array([[[1.0, np.nan, 3.0, np.nan, 2.0, 0.5]]]), requires_grad=True)
    out, indices = F.adaptive_max_pool1d(x, 2, return_indices=True)
    assert indices.data.tolist() == [[[1, 3]]]
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, [[[0.0, 1.0, 0.0, 1.0, 0.0, 0.0]]])
    plane = np.arange(12.0).reshape(1, 1, 3, 4)
    plane[0, 0, 0, 0] = plane[0, 0, 1, 1] = np.nan
    _, flat = F.adaptive_max_pool2d(mg.tensor(plane), 1, return_indices=True)
    assert flat.data.tolist() == [[[[5]]]]  # row-major order: (1, 1) comes after (0, 0)


def test_adaptive_max_pool_and_group_norm_take_an_empty_batch_as_pytorch():
    x = mg.tensor(np.zeros((0, 2, 6)), requires_grad=True)
    out, indices = F.adaptive_max_pool1d(x, 3, return_indices=True)
    assert out.shape == indices.shape == (0, 2, 3)
    out.sum().backward()
    assert x.grad.shape == (0, 2, 6)
    assert F.adaptive_max_pool2d(mg.tensor(np.zeros((0, 2, 4, 4))), 2).shape == (0, 2, 2, 2)
    empty = mg.tensor(np.zeros((0, 4, 3)), requires_grad=True)
    normed = F.group_norm(empty, 2, mg.ones(4), mg.zeros(4))
    assert normed.shape == (0, 4, 3)
    normed.sum().backward()
    assert empty.grad.shape == (0, 4, 3)


def test_kl_div_batchmean_of_an_empty_batch_is_nan_as_pytorch():
    x = mg.tensor(np.zeros((0, 3)), requires_grad=True)
    loss = F.kl_div(x, mg.tensor(np.zeros((0, 3))), reduction="batchmean")
    assert np.isnan(loss.item())  # (it was 0)
    loss.backward()
    assert x.grad.shape == (0, 3)
