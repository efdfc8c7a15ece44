"""More layers (``microgradnp/nn/extra_layers.py``): padding modules, PixelShuffle/Unshuffle,
Upsample and ``F.interpolate``, ConvTranspose1d/2d, Unfold/Fold, Softmin, Threshold, Hardshrink,
Softshrink, Tanhshrink, GLU, RReLU, channel and alpha dropout, InstanceNorm, RMSNorm,
LocalResponseNorm, Bilinear, ParameterList/ParameterDict, adaptive max pooling and 3-D pooling.

Gradients against central finite differences in float64; values and gradients against PyTorch
with the same inputs and weights (when it is installed); float32 kept; error messages."""

from __future__ import annotations

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import nn
from microgradnp.nn import functional as F

RNG = np.random.default_rng(0)
X3 = RNG.standard_normal((2, 3, 7))
X4 = RNG.standard_normal((2, 3, 5, 6))
X5 = RNG.standard_normal((2, 2, 3, 4, 5))
SMALL3 = RNG.standard_normal((2, 2, 4))
SMALL4 = RNG.standard_normal((1, 2, 3, 4))
SMALL5 = RNG.standard_normal((1, 2, 3, 3, 4))


def _weights_like(out):
    return np.random.default_rng(5).standard_normal(out.shape)


def _check_against_torch(fn, torch_fn, arrays, grads=(0,), tol=1e-10):
    """Same values and same gradients (of a random weighting of the output) as PyTorch."""
    torch = pytest.importorskip("torch")
    ours = [mg.tensor(a, requires_grad=i in grads) for i, a in enumerate(arrays)]
    theirs = [torch.tensor(a, requires_grad=i in grads) for i, a in enumerate(arrays)]
    out, expected = fn(*ours), torch_fn(*theirs)
    assert out.shape == tuple(expected.shape)
    assert out.dtype == np.asarray(arrays[0]).dtype
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=tol, atol=tol)
    weights = _weights_like(out)
    out.backward(weights.astype(out.dtype))
    expected.backward(torch.tensor(weights, dtype=expected.dtype))
    for i in grads:
        assert ours[i].grad.dtype == np.asarray(arrays[i]).dtype
        np.testing.assert_allclose(ours[i].grad, theirs[i].grad.numpy(), rtol=tol, atol=tol)


def _gradcheck(fn, *arrays):
    assert mg.gradcheck(fn, [mg.tensor(a, requires_grad=True) for a in arrays])


# -- padding -------------------------------------------------------------------------------------
PADS = [
    ("ZeroPad1d", (2, 1), X3), ("ZeroPad2d", (1, 2, 0, 3), X4), ("ZeroPad3d", 1, X5),
    ("ConstantPad1d", (2, 0.5), X3), ("ConstantPad2d", ((1, 0, 2, 1), -1.0), X4), ("ConstantPad3d", (1, 2.0), X5),
    ("ReflectionPad1d", (3, 1), X3), ("ReflectionPad2d", (1, 2, 3, 4), X4), ("ReflectionPad3d", 1, X5),
    ("ReplicationPad1d", 4, X3), ("ReplicationPad2d", (2, 0, 1, 3), X4), ("ReplicationPad3d", (1, 2, 0, 1, 2, 1), X5),
    ("CircularPad1d", (3, 2), X3), ("CircularPad2d", (1, 2, 2, 0), X4), ("CircularPad3d", 1, X5),
]


@pytest.mark.parametrize(("name", "args", "x"), PADS)
def test_padding_layers_match_torch(name, args, x):
    torch = pytest.importorskip("torch")
    args = args if isinstance(args, tuple) and name.startswith("Constant") else (args,)
    ours, theirs = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    _check_against_torch(ours, theirs, [x])
    _check_against_torch(ours, theirs, [x[0]])  # unbatched
    assert repr(ours) == repr(theirs)


def test_padding_layers_gradcheck_and_errors():
    _gradcheck(nn.ReflectionPad2d((1, 2, 0, 1)), SMALL4)
    _gradcheck(nn.CircularPad1d(2), SMALL3)
    _gradcheck(nn.ReplicationPad3d(1), SMALL5)
    with pytest.raises(ValueError, match="expected 3D or 4D input"):
        nn.ReflectionPad2d(1)(mg.tensor(X5))
    with pytest.raises(ValueError, match="padding must be an int or a 4-tuple"):
        nn.ZeroPad2d((1, 2))
    with pytest.raises(ValueError, match="needs widths below the length"):
        nn.ReflectionPad1d(7)(mg.tensor(X3))
    with pytest.raises(ValueError, match="2-tuple of ints"):
        nn.ZeroPad1d(1.5)  # (negative ints crop, as in PyTorch)


# -- pixel shuffle -------------------------------------------------------------------------------
def test_pixel_shuffle_and_unshuffle_match_torch_and_invert_each_other():
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((2, 8, 3, 4))
    _check_against_torch(nn.PixelShuffle(2), torch.nn.PixelShuffle(2), [x])
    _check_against_torch(nn.PixelUnshuffle(2), torch.nn.PixelUnshuffle(2), [RNG.standard_normal((2, 3, 4, 6))])
    _check_against_torch(lambda a: F.pixel_shuffle(a, 3), lambda a: torch.nn.functional.pixel_shuffle(a, 3),
                         [RNG.standard_normal((3, 2, 9, 2, 3))])
    np.testing.assert_array_equal(F.pixel_unshuffle(F.pixel_shuffle(mg.tensor(x), 2), 2).data, x)
    assert repr(nn.PixelShuffle(2)) == repr(torch.nn.PixelShuffle(2))


def test_pixel_shuffle_gradcheck_and_errors():
    _gradcheck(lambda a: F.pixel_shuffle(a, 2), RNG.standard_normal((1, 4, 2, 3)))
    _gradcheck(lambda a: F.pixel_unshuffle(a, 2), RNG.standard_normal((1, 1, 4, 2)))
    with pytest.raises(ValueError, match="divisible by upscale_factor"):
        F.pixel_shuffle(mg.tensor(X4), 2)
    with pytest.raises(ValueError, match="divisible by downscale_factor"):
        F.pixel_unshuffle(mg.tensor(X4), 2)
    with pytest.raises(ValueError, match="positive int"):
        nn.PixelShuffle(0)


# -- interpolate ---------------------------------------------------------------------------------
INTERPOLATIONS = [
    ("nearest", X3, {"size": 11}), ("nearest", X3, {"scale_factor": 1.7}), ("nearest", X4, {"size": (3, 9)}),
    ("nearest-exact", X4, {"size": (7, 4)}), ("nearest", X5, {"scale_factor": (2, 0.5, 1.5)}),
    ("linear", X3, {"size": 12}), ("linear", X3, {"size": 4, "align_corners": True}),
    ("linear", X3, {"scale_factor": 2.3}), ("linear", X3, {"size": 1, "align_corners": True}),
    ("bilinear", X4, {"size": (8, 3)}), ("bilinear", X4, {"scale_factor": (1.5, 2.5), "align_corners": True}),
    ("bilinear", X4, {"scale_factor": (1.5, 2.5), "recompute_scale_factor": True}),
    ("bilinear", X4, {"scale_factor": 0.6}), ("trilinear", X5, {"size": (4, 5, 2)}),
    ("trilinear", X5, {"scale_factor": 1.5, "align_corners": True}),
    ("area", X4, {"size": (3, 4)}), ("area", X3, {"scale_factor": 0.5}),
]


@pytest.mark.parametrize(("mode", "x", "kwargs"), INTERPOLATIONS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_interpolate_matches_torch(mode, x, kwargs, dtype):
    torch = pytest.importorskip("torch")
    _check_against_torch(lambda a: F.interpolate(a, mode=mode, **kwargs),
                         lambda a: torch.nn.functional.interpolate(a, mode=mode, **kwargs), [x.astype(dtype)],
                         tol=1e-10 if dtype == np.float64 else 1e-5)


def test_upsample_modules_match_torch():
    torch = pytest.importorskip("torch")
    for ours, theirs in [(nn.Upsample(scale_factor=2), torch.nn.Upsample(scale_factor=2)),
                         (nn.Upsample(size=(7, 9), mode="bilinear", align_corners=False),
                          torch.nn.Upsample(size=(7, 9), mode="bilinear", align_corners=False)),
                         (nn.UpsamplingNearest2d(scale_factor=3), torch.nn.UpsamplingNearest2d(scale_factor=3)),
                         (nn.UpsamplingBilinear2d(size=4), torch.nn.UpsamplingBilinear2d(size=4))]:
        _check_against_torch(ours, theirs, [X4])
        assert repr(ours) == repr(theirs)


def test_interpolate_gradcheck():
    _gradcheck(lambda a: F.interpolate(a, size=(5, 3), mode="bilinear"), SMALL4)
    _gradcheck(lambda a: F.interpolate(a, scale_factor=1.5, mode="bilinear", align_corners=True), SMALL4)
    _gradcheck(lambda a: F.interpolate(a, size=9, mode="nearest"), SMALL3)
    _gradcheck(lambda a: F.interpolate(a, size=(2, 4, 3), mode="trilinear"), SMALL5)


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"mode": "bicubic", "size": 3}, NotImplementedError, "bicubic"),
    ({"size": 3, "antialias": True}, ValueError, "anti-alias option is restricted"),
    ({"mode": "cubic", "size": 3}, ValueError, "unknown mode"),
    ({"mode": "bilinear", "size": 3}, ValueError, "needs a 4D input"),
    ({"mode": "nearest", "size": 3, "align_corners": True}, ValueError, "align_corners option can only be set"),
    ({"size": 3, "scale_factor": 2}, ValueError, "only one of size or scale_factor"),
    ({}, ValueError, "either size or scale_factor"),
    ({"size": (3, 4)}, ValueError, "same number of spatial dimensions"),
    ({"size": 3, "recompute_scale_factor": True}, ValueError, "not meaningful with an explicit size"),
    ({"scale_factor": 0.1}, ValueError, "empty output"),
])
def test_interpolate_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        F.interpolate(mg.tensor(X3), **kwargs)


# -- transposed convolution ----------------------------------------------------------------------
# (in, out, kernel, stride, padding, output_padding, groups, dilation, length)
TRANSPOSED = [(3, 4, 3, 1, 0, 0, 1, 1, 7), (4, 6, 3, 2, 1, 1, 2, 1, 6), (2, 3, 4, 3, 2, 2, 1, 2, 5),
              (6, 3, 2, 2, 0, 0, 3, 3, 4), (2, 2, 5, 1, 3, 0, 1, 1, 8)]


@pytest.mark.parametrize(("cin", "cout", "k", "s", "p", "op", "g", "d", "length"), TRANSPOSED)
def test_conv_transpose_matches_torch(cin, cout, k, s, p, op, g, d, length):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    w1, bias = RNG.standard_normal((cin, cout // g, k)), RNG.standard_normal(cout)
    x1 = RNG.standard_normal((2, cin, length))
    _check_against_torch(lambda a, w, b: F.conv_transpose1d(a, w, b, s, p, op, g, d),
                         lambda a, w, b: tf.conv_transpose1d(a, w, b, s, p, op, g, d), [x1, w1, bias], (0, 1, 2))
    _check_against_torch(lambda a, w: F.conv_transpose1d(a, w, None, s, p, op, g, d),
                         lambda a, w: tf.conv_transpose1d(a, w, None, s, p, op, g, d), [x1[0], w1], (0, 1))
    w2, x2 = RNG.standard_normal((cin, cout // g, k, max(k - 1, 1))), RNG.standard_normal((2, cin, length, length - 1))
    _check_against_torch(lambda a, w, b: F.conv_transpose2d(a, w, b, (s, 1), (p, 0), (op, 0), g, (d, 1)),
                         lambda a, w, b: tf.conv_transpose2d(a, w, b, (s, 1), (p, 0), (op, 0), g, (d, 1)),
                         [x2, w2, bias], (0, 1, 2))
    _check_against_torch(lambda a, w, b: F.conv_transpose2d(a, w, b, s, p, op, g, d),
                         lambda a, w, b: tf.conv_transpose2d(a, w, b, s, p, op, g, d), [x2, w2, bias], (0, 1, 2))


def test_conv_transpose_modules_match_torch_with_copied_weights():
    torch = pytest.importorskip("torch")
    for ours, theirs, x in [
        (nn.ConvTranspose1d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, rng=0),
         torch.nn.ConvTranspose1d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2), RNG.standard_normal(
             (2, 4, 5))),
        (nn.ConvTranspose2d(3, 2, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), bias=False, rng=0),
         torch.nn.ConvTranspose2d(3, 2, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), bias=False), X4),
    ]:
        theirs = theirs.double()
        assert ours.weight.shape == tuple(theirs.weight.shape)
        with torch.no_grad():
            theirs.weight.copy_(torch.tensor(ours.weight.data))
            if ours.bias is not None:
                theirs.bias.copy_(torch.tensor(ours.bias.data))
        xs, xt = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        out, expected = ours(xs), theirs(xt)
        np.testing.assert_allclose(out.data, expected.detach().numpy(), atol=1e-12)
        out.sum().backward()
        expected.sum().backward()
        np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), atol=1e-10)
        np.testing.assert_allclose(xs.grad, xt.grad.numpy(), atol=1e-10)
    # output_size picks the output padding, as PyTorch's forward(input, output_size).
    layer = nn.ConvTranspose1d(2, 2, 3, stride=3, rng=1)
    torch_layer = torch.nn.ConvTranspose1d(2, 2, 3, stride=3).double()
    x = RNG.standard_normal((1, 2, 4))
    expected = torch_layer(torch.tensor(x, dtype=torch.float64), [13])
    assert layer(mg.tensor(x), output_size=[13]).shape == tuple(expected.shape)
    # Initialisation bound: 1/sqrt(out_channels / groups * kernel), as PyTorch's.
    wide = nn.ConvTranspose1d(2, 50, 4, rng=0)
    assert 0.6 / np.sqrt(200) < np.abs(wide.weight.data).max() <= 1 / np.sqrt(200)


def test_conv_transpose_gradcheck_second_order_and_float32():
    w, b = RNG.standard_normal((2, 3, 3)), RNG.standard_normal(3)
    _gradcheck(lambda a, w_, b_: F.conv_transpose1d(a, w_, b_, stride=2, padding=1, output_padding=1), SMALL3, w, b)
    _gradcheck(lambda a, w_: F.conv_transpose2d(a, w_, stride=2, padding=(0, 1)), SMALL4,
               RNG.standard_normal((2, 2, 2, 3)))
    x = mg.tensor(SMALL3, requires_grad=True)
    weight = mg.tensor(w)

    def gradient(x_):
        (g,) = mg.grad((F.conv_transpose1d(x_, weight, stride=2) ** 2).sum(), x_, create_graph=True)
        return g

    assert mg.gradcheck(gradient, [x])
    layer = nn.ConvTranspose2d(3, 4, 3, stride=2, dtype=np.float32, rng=0)
    x32 = mg.tensor(X4.astype(np.float32), requires_grad=True)
    out = layer(x32)
    out.sum().backward()
    assert out.dtype == x32.grad.dtype == layer.weight.grad.dtype == np.float32


@pytest.mark.parametrize(("call", "match"), [
    (lambda: F.conv_transpose1d(mg.tensor(X3), mg.tensor(np.ones((2, 2, 3)))), "expects 2"),
    (lambda: F.conv_transpose1d(mg.tensor(X3), mg.tensor(np.ones((3, 2, 3))), stride=2, output_padding=2),
     "output_padding"),
    (lambda: F.conv_transpose1d(mg.tensor(X3), mg.tensor(np.ones((3, 2, 3))), groups=2), "not divisible by groups"),
    (lambda: F.conv_transpose1d(mg.tensor(X3), mg.tensor(np.ones((3, 2, 3))), padding="same"), "'same'"),
    (lambda: F.conv_transpose1d(mg.tensor(X3), mg.tensor(np.ones((3, 2, 3))), np.ones(3)), r"bias must have shape"),
    (lambda: F.conv_transpose1d(mg.tensor(X3), mg.tensor(np.ones((3, 2, 1))), padding=4), "output would have size"),
    (lambda: nn.ConvTranspose1d(3, 4, 3, groups=2), "divisible by groups"),
    (lambda: nn.ConvTranspose1d(3, 4, 3, padding_mode="reflect"), "padding_mode='zeros'"),
    (lambda: nn.ConvTranspose1d(3, 4, 3, stride=2, output_padding=2), "output_padding"),
    (lambda: nn.ConvTranspose1d(3, 4, 3, stride=2, rng=0)(mg.tensor(X3), output_size=[30]), "valid sizes range"),
])
def test_conv_transpose_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# -- unfold / fold -------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [{"kernel_size": 2},
                                    {"kernel_size": (2, 3), "dilation": (1, 2), "padding": 1, "stride": (2, 1)},
                                    {"kernel_size": 3, "padding": 2, "stride": 2}])
def test_unfold_and_fold_match_torch(kwargs):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    _check_against_torch(nn.Unfold(**kwargs), torch.nn.Unfold(**kwargs), [X4])
    _check_against_torch(lambda a: F.unfold(a, **kwargs), lambda a: tf.unfold(a, **kwargs), [X4[0]])
    cols = tf.unfold(torch.tensor(X4), **kwargs).numpy()
    _check_against_torch(nn.Fold((5, 6), **kwargs), torch.nn.Fold((5, 6), **kwargs), [cols])
    _check_against_torch(lambda a: F.fold(a, (5, 6), **kwargs), lambda a: tf.fold(a, (5, 6), **kwargs), [cols[0]])
    assert repr(nn.Fold((5, 6), **kwargs)) == repr(torch.nn.Fold((5, 6), **kwargs))


def test_unfold_fold_gradcheck_and_errors():
    _gradcheck(lambda a: F.unfold(a, 2, padding=1, stride=2), SMALL4)
    _gradcheck(lambda a: F.fold(a, (3, 4), 2, padding=1, stride=2), RNG.standard_normal((1, 8, 6)))
    with pytest.raises(ValueError, match=r"only 3D .* or 4D"):
        F.unfold(mg.tensor(X3[0]), 2)
    with pytest.raises(ValueError, match="divisible by the product of kernel_size"):
        F.fold(mg.tensor(np.ones((1, 6, 20))), (5, 6), 2)
    with pytest.raises(ValueError, match="calculated number of sliding blocks"):
        F.fold(mg.tensor(np.ones((1, 8, 21))), (5, 6), 2)


# -- activations ---------------------------------------------------------------------------------
ACTIVATIONS = [
    ("Softmin", (1,), "softmin", (1,)), ("Threshold", (0.3, -2.0), "threshold", (0.3, -2.0)),
    ("Hardshrink", (0.7,), "hardshrink", (0.7,)), ("Softshrink", (0.7,), "softshrink", (0.7,)),
    ("Tanhshrink", (), "tanhshrink", ()), ("GLU", (1,), "glu", (1,)), ("GLU", (), "glu", ()),
]


@pytest.mark.parametrize(("module", "module_args", "function", "function_args"), ACTIVATIONS)
def test_activations_match_torch(module, module_args, function, function_args):
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((3, 4, 6))
    _check_against_torch(getattr(nn, module)(*module_args), getattr(torch.nn, module)(*module_args), [x])
    _check_against_torch(lambda a: getattr(F, function)(a, *function_args),
                         lambda a: getattr(torch.nn.functional, function)(a, *function_args), [x.astype(np.float32)],
                         tol=1e-6)
    assert repr(getattr(nn, module)(*module_args)) == repr(getattr(torch.nn, module)(*module_args))


def test_activations_gradcheck_and_errors():
    x = RNG.standard_normal((3, 4))
    for fn in (lambda a: F.softmin(a, 0), lambda a: F.softshrink(a, 0.2), lambda a: F.hardshrink(a, 0.2),
               F.tanhshrink, lambda a: F.glu(a, 1), lambda a: F.threshold(a, 0.1, 3.0)):
        _gradcheck(fn, x)
    with pytest.raises(ValueError, match="halving dimension must be even"):
        F.glu(mg.tensor(X3), -1)
    with pytest.raises(ValueError, match="lambd must be greater or equal to 0"):
        nn.Softshrink(-1.0)
    with pytest.raises(ValueError, match=r"lower .* must be at most upper"):
        nn.RReLU(0.5, 0.1)


def test_rrelu_eval_is_leaky_relu_and_training_draws_slopes_from_the_layer_generator():
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((4, 50))
    layer = nn.RReLU(0.1, 0.3, rng=0).eval()
    _check_against_torch(layer, torch.nn.RReLU(0.1, 0.3).eval(), [x])
    layer.train()
    xs = mg.tensor(x, requires_grad=True)
    out = layer(xs)
    out.sum().backward()
    slopes = out.data[x < 0] / x[x < 0]
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3 and slopes.std() > 0.02
    np.testing.assert_allclose(xs.grad[x < 0], slopes)
    np.testing.assert_array_equal(out.data[x > 0], x[x > 0])
    again = nn.RReLU(0.1, 0.3, rng=0)(mg.tensor(x))
    np.testing.assert_array_equal(again.data, out.data)  # the same seed draws the same slopes
    assert repr(layer) == repr(torch.nn.RReLU(0.1, 0.3))


# -- dropout -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("layer", "shape", "channel_axes"), [
    (nn.Dropout1d, (4, 6, 5), 2), (nn.Dropout1d, (6, 5), 1), (nn.Dropout2d, (4, 6, 5, 3), 2),
    (nn.Dropout2d, (4, 6, 5), 2), (nn.Dropout3d, (2, 6, 3, 2, 2), 2), (nn.Dropout3d, (6, 3, 2, 2), 1),
])
def test_channel_dropout_zeroes_whole_channels(layer, shape, channel_axes):
    module = layer(0.5, rng=1)
    x = mg.tensor(np.ones(shape, dtype=np.float32), requires_grad=True)
    out = module(x)
    out.sum().backward()
    per_channel = out.data.reshape(*shape[:channel_axes], -1)
    assert out.dtype == np.float32 and set(np.unique(out.data)) == {0.0, 2.0}
    np.testing.assert_array_equal(per_channel.min(-1), per_channel.max(-1))
    np.testing.assert_array_equal(x.grad, out.data)
    module.eval()
    assert module(x) is x


def test_alpha_dropout_keeps_selu_statistics_and_follows_pytorchs_formula():
    p, alpha = 0.2, 1.7580993408473766
    x = RNG.standard_normal(100_000)
    out = F.alpha_dropout(mg.tensor(x), p, training=True, rng=0).data
    assert abs(out.mean()) < 0.02 and abs(out.std() - 1) < 0.02
    a = 1 / np.sqrt((alpha ** 2 * p + 1) * (1 - p))
    kept = np.isclose(out, a * x + alpha * a * p)
    assert 0.78 < kept.mean() < 0.82
    np.testing.assert_allclose(out[~kept], -alpha * a + alpha * a * p)
    np.testing.assert_array_equal(F.alpha_dropout(mg.tensor(x), p).data, x)
    np.testing.assert_array_equal(F.alpha_dropout(mg.tensor(x), 1.0, training=True).data, 0 * x)
    features = nn.FeatureAlphaDropout(0.5, rng=0)(mg.tensor(np.ones((4, 6, 5)))).data
    np.testing.assert_array_equal(features.min(-1), features.max(-1))
    assert repr(nn.AlphaDropout(0.3)) == "AlphaDropout(p=0.3, inplace=False)"


def test_dropout_errors():
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout2d(1.5)
    with pytest.raises(ValueError, match="expected 2D or 3D input"):
        F.dropout1d(mg.tensor(X4))
    with pytest.raises(ValueError, match="expected 4D or 5D input"):
        F.dropout3d(mg.tensor(3.0))
    with pytest.warns(UserWarning, match="Received a 3-D input to dropout3d, which is deprecated"):
        F.dropout3d(mg.tensor(X3))


# -- normalization -------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "x"), [("InstanceNorm1d", X3), ("InstanceNorm2d", X4), ("InstanceNorm3d", X5)])
@pytest.mark.parametrize("kwargs", [{}, {"affine": True}, {"track_running_stats": True, "momentum": 0.3},
                                    {"affine": True, "track_running_stats": True, "momentum": None}])
def test_instance_norm_matches_torch_in_training_and_eval(name, x, kwargs):
    torch = pytest.importorskip("torch")
    channels = x.shape[1]
    ours, theirs = getattr(nn, name)(channels, **kwargs), getattr(torch.nn, name)(channels, **kwargs).double()
    if ours.weight is not None:
        weight, bias = RNG.random(channels) + 0.5, RNG.standard_normal(channels)
        ours.weight.data[...], ours.bias.data[...] = weight, bias
        with torch.no_grad():
            theirs.weight.copy_(torch.tensor(weight))
            theirs.bias.copy_(torch.tensor(bias))
    for step in range(2):
        _check_against_torch(ours, theirs, [x * (step + 1) + step])
    if ours.running_mean is not None:
        np.testing.assert_allclose(ours.running_mean.data, theirs.running_mean.numpy(), atol=1e-12)
        np.testing.assert_allclose(ours.running_var.data, theirs.running_var.numpy(), atol=1e-12)
    ours.eval()
    theirs.eval()
    _check_against_torch(ours, theirs, [x])
    _check_against_torch(ours, theirs, [x[0]])
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
    assert repr(ours).split("  [")[0] == repr(theirs)


def test_rms_norm_and_local_response_norm_match_torch():
    torch = pytest.importorskip("torch")
    for kwargs in ({}, {"eps": 1e-3}, {"elementwise_affine": False}):
        ours, theirs = nn.RMSNorm((5, 6), **kwargs), torch.nn.RMSNorm((5, 6), **kwargs).double()
        if ours.weight is not None:
            weight = RNG.random((5, 6))
            ours.weight.data[...] = weight
            with torch.no_grad():
                theirs.weight.copy_(torch.tensor(weight))
        _check_against_torch(ours, theirs, [X4])
        assert repr(ours).split("  [")[0] == repr(theirs)
    _check_against_torch(nn.RMSNorm(6, dtype=np.float32), torch.nn.RMSNorm(6), [X4.astype(np.float32)], tol=1e-5)
    for size in (1, 2, 3, 4):
        for x in (X3, X4, X5):
            _check_against_torch(nn.LocalResponseNorm(size, 0.1, 0.6, 1.5),
                                 torch.nn.LocalResponseNorm(size, 0.1, 0.6, 1.5), [x])
    assert repr(nn.LocalResponseNorm(3)) == repr(torch.nn.LocalResponseNorm(3))


def test_normalization_gradcheck_and_errors():
    w, b = RNG.random(2) + 0.5, RNG.standard_normal(2)
    _gradcheck(lambda a, w_, b_: F.instance_norm(a, weight=w_, bias=b_), SMALL4, w, b)
    _gradcheck(lambda a, w_: F.rms_norm(a, (3, 4), w_), SMALL4, RNG.random((3, 4)))
    _gradcheck(lambda a: F.local_response_norm(a, 3, alpha=0.5), SMALL4)
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        F.instance_norm(mg.tensor(np.ones((2, 3, 1))))
    with pytest.raises(ValueError, match="expected 2D or 3D input"):
        nn.InstanceNorm1d(3)(mg.tensor(X4))
    with pytest.raises(ValueError, match="to match num_features"):
        nn.InstanceNorm2d(4, affine=True)(mg.tensor(X4))
    with pytest.raises(ValueError, match="running_mean and running_var are needed"):
        F.instance_norm(mg.tensor(X3), use_input_stats=False)
    with pytest.raises(ValueError, match="trailing shape must be normalized_shape"):
        F.rms_norm(mg.tensor(X4), (5,))
    with pytest.raises(ValueError, match="3D or higher"):
        F.local_response_norm(mg.tensor(X3[0, 0]), 2)


# -- bilinear ------------------------------------------------------------------------------------
def test_bilinear_matches_torch_and_gradcheck():
    torch = pytest.importorskip("torch")
    weight, bias = RNG.standard_normal((4, 3, 5)), RNG.standard_normal(4)
    x1, x2 = RNG.standard_normal((2, 6, 3)), RNG.standard_normal((2, 6, 5))
    _check_against_torch(F.bilinear, torch.nn.functional.bilinear, [x1, x2, weight, bias], (0, 1, 2, 3))
    _gradcheck(F.bilinear, x1[0, :2], x2[0, :2], weight, bias)
    layer = nn.Bilinear(3, 5, 4, rng=0)
    assert layer.weight.shape == (4, 3, 5) and np.abs(layer.weight.data).max() <= 1 / np.sqrt(3)
    assert repr(layer).split("  [")[0] == repr(torch.nn.Bilinear(3, 5, 4))
    with pytest.raises(ValueError, match="same leading shape"):
        F.bilinear(mg.tensor(x1), mg.tensor(x2[:1]), mg.tensor(weight))


# -- parameter containers ------------------------------------------------------------------------
def test_parameter_list_and_dict_register_their_parameters():
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.scales = nn.ParameterList([mg.tensor([1.0, 2.0]), np.ones(3)])
            self.named = nn.ParameterDict({"a": np.zeros(2)})

    model = Model()
    model.scales.append(nn.Parameter(np.zeros(4)))
    model.named["b"] = mg.tensor(np.ones((2, 3)))
    assert [name for name, _ in model.named_parameters()] == ["scales.0", "scales.1", "scales.2", "named.a",
                                                              "named.b"]
    assert all(isinstance(p, nn.Parameter) for p in model.parameters())
    assert len(model.scales) == 3 and model.scales[-1].shape == (4,) and len(model.scales[:2]) == 2
    assert list(model.named) == ["a", "b"] and "b" in model.named and model.named.get("c") is None
    optimizer = mg.optim.SGD(model.parameters(), lr=0.5)
    (model.scales[0].sum() + model.named["b"].sum()).backward()
    optimizer.step()
    np.testing.assert_array_equal(model.scales[0].data, [0.5, 1.5])
    model.named.pop("a")
    del model.named["b"]
    assert len(model.named) == 0 and sorted(model.state_dict()) == ["scales.0", "scales.1", "scales.2"]
    model.named.update([("c", np.ones(1))])
    assert list(model.named.keys()) == ["c"]
    model.scales.append("weight")  # other values are kept, not registered, as PyTorch's
    assert model.scales[-1] == "weight" and len(model.scales) == 4 and len(list(model.scales.parameters())) == 3
    with pytest.raises(IndexError, match="out of range"):
        model.scales[5]
    with pytest.raises(ValueError, match="2 is required"):
        model.named.update([("a", np.ones(1), 3)])


# -- pooling -------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [3, 4, 7, 1])
def test_adaptive_max_pool1d_matches_torch(size):
    torch = pytest.importorskip("torch")
    _check_against_torch(nn.AdaptiveMaxPool1d(size), torch.nn.AdaptiveMaxPool1d(size), [X3])
    _, indices = F.adaptive_max_pool1d(mg.tensor(X3[0]), size, return_indices=True)
    _, expected_indices = torch.nn.functional.adaptive_max_pool1d(torch.tensor(X3[0]), size, True)
    np.testing.assert_array_equal(indices.data, expected_indices.numpy())


@pytest.mark.parametrize("size", [(3, 4), 2, (None, 4), (5, 6), (4, 1)])
def test_adaptive_max_pool2d_matches_torch_with_indices_and_ties(size):
    torch = pytest.importorskip("torch")
    _check_against_torch(nn.AdaptiveMaxPool2d(size), torch.nn.AdaptiveMaxPool2d(size), [X4])
    ties = np.repeat(np.repeat(RNG.integers(0, 3, (2, 3, 3, 3)).astype(float), 2, axis=2), 2, axis=3)
    _check_against_torch(lambda a: F.adaptive_max_pool2d(a, size), lambda a: torch.nn.functional.adaptive_max_pool2d(
        a, size), [ties])
    _, indices = F.adaptive_max_pool2d(mg.tensor(ties), size, return_indices=True)
    _, expected = torch.nn.functional.adaptive_max_pool2d(torch.tensor(ties), size, return_indices=True)
    np.testing.assert_array_equal(indices.data, expected.numpy())


@pytest.mark.parametrize("kwargs", [{"kernel_size": 2},
                                    {"kernel_size": (2, 3, 2), "stride": (1, 2, 1), "padding": (1, 1, 0),
                                     "ceil_mode": True},
                                    {"kernel_size": 3, "stride": 2, "padding": 1}])
def test_pool3d_matches_torch(kwargs):
    torch = pytest.importorskip("torch")
    _check_against_torch(nn.MaxPool3d(**kwargs), torch.nn.MaxPool3d(**kwargs), [X5])
    _check_against_torch(nn.AvgPool3d(**kwargs), torch.nn.AvgPool3d(**kwargs), [X5])
    _check_against_torch(nn.AvgPool3d(**kwargs, count_include_pad=False),
                         torch.nn.AvgPool3d(**kwargs, count_include_pad=False), [X5[0]])
    _check_against_torch(nn.MaxPool3d(**kwargs), torch.nn.MaxPool3d(**kwargs), [X5.astype(np.float32)], tol=1e-6)
    assert repr(nn.MaxPool3d(**kwargs)) == repr(torch.nn.MaxPool3d(**kwargs))


def test_pooling_gradcheck_and_errors():
    _gradcheck(lambda a: F.adaptive_max_pool2d(a, (2, 3)), SMALL4)
    _gradcheck(lambda a: F.adaptive_max_pool1d(a, 3), SMALL3)
    _gradcheck(lambda a: F.max_pool3d(a, 2, stride=1), SMALL5)
    _gradcheck(lambda a: F.avg_pool3d(a, (2, 2, 3), padding=1), SMALL5)
    with pytest.raises(ValueError, match="output_size must be a non-negative int"):
        F.adaptive_max_pool2d(mg.tensor(X4), (-1, 2))
    with pytest.raises(ValueError, match="expected a non-empty input"):
        F.adaptive_max_pool1d(mg.tensor(X4), 2)
    assert nn.MaxPool3d(2, return_indices=True)(mg.tensor(X5))[1].dtype == np.int64  # implemented now
    with pytest.raises(ValueError, match="divisor_override must be nonzero"):
        F.avg_pool3d(mg.tensor(X5), 2, divisor_override=0)  # divisor_override: tests/test_nn_lazy_and_sync.py
    with pytest.raises(ValueError, match="padding=2 is more than half"):
        nn.MaxPool3d(2, padding=2)


# -- mg.compile ----------------------------------------------------------------------------------
def test_compiled_steps_draw_fresh_random_masks_and_slopes_and_replay_the_rest_exactly():
    weight = nn.Parameter(np.ones((6, 5)))
    drop, rrelu = nn.Dropout1d(0.5, rng=0), nn.RReLU(rng=0)
    x = mg.tensor(RNG.standard_normal((4, 6, 5)))

    def random_step(x_):
        out = (drop(x_ * weight) * rrelu(x_ * weight)).sum()
        out.backward()
        return out.detach()

    compiled = mg.compile(random_step)
    losses = [compiled(x).item() for _ in range(3)]
    assert compiled.traces == 1 and len(set(losses)) == 3

    def step(x_):
        h = x_ * weight
        out = (F.softshrink(h, 0.3).sum() + F.hardshrink(h, 0.4).sum() + F.threshold(h, 0.2, 5.0).sum()
               + F.interpolate(h, size=9, mode="linear").sum() + F.conv_transpose1d(h, mg.tensor(np.ones((6, 2, 3))),
                                                                                    stride=2).sum())
        out.backward()
        return out.detach()

    compiled = mg.compile(step)
    for scale in (1.0, -2.0, 0.5):
        weight.grad = None
        replayed = compiled(x * scale).item()
        replayed_grad, weight.grad = weight.grad.copy(), None
        assert replayed == step(x * scale).item()
        np.testing.assert_array_equal(replayed_grad, weight.grad)
    assert compiled.traces == 1


@pytest.mark.parametrize("fn", [
    lambda a: F.instance_norm(a),
    lambda a: nn.InstanceNorm2d(4, affine=True, track_running_stats=True, dtype=np.float32)(a),
    lambda a: F.rms_norm(a, (6,)),
    lambda a: F.local_response_norm(a, 3),
    lambda a: F.bilinear(a, a, mg.tensor(np.ones((2, 6, 6), np.float32))),
    lambda a: F.glu(a, 1),
    lambda a: F.pixel_shuffle(a, 2),
    lambda a: F.fold(F.unfold(a, 2), (6, 6), 2),
    lambda a: F.adaptive_max_pool2d(a, 4),
    lambda a: F.alpha_dropout(a, 0.3, True, rng=0),
    lambda a: F.feature_alpha_dropout(a, 0.3, True, rng=0),
    lambda a: F.dropout2d(a, 0.3, rng=0),
    lambda a: F.rrelu(a, training=True, rng=0),
    lambda a: F.rrelu(a),
    lambda a: F.softmin(a, 1),
    lambda a: F.threshold(a, 0.1, 2),
    F.tanhshrink,
    lambda a: nn.ReflectionPad2d(2)(nn.ConstantPad2d(1, 3)(a)),
    lambda a: F.avg_pool3d(a, 2),
    lambda a: nn.Upsample(scale_factor=1.5, mode="bilinear")(a),
])
def test_float32_stays_float32(fn):
    x = mg.tensor(RNG.standard_normal((2, 4, 6, 6)).astype(np.float32), requires_grad=True)
    out = fn(x)
    out.sum().backward()
    assert out.dtype == np.float32 and x.grad.dtype == np.float32
