"""2-D convolution and pooling: values and gradients against PyTorch (optional oracle) over
stride/padding/dilation/groups/ceil_mode, against a naive loop convolution differentiated by
central finite differences, second-order gradients, layers (weights copied into
torch.nn.Conv2d) and argument errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import numeric_grad
from test_conv import grads_of, leaf, torch_grads

import microgradnp as mg
from microgradnp.nn import functional as F

EXACT = {"rtol": 1e-10, "atol": 1e-12}


def naive_conv2d(x, w, b, stride, pad, dilation, groups):
    """Loops over every output entry; nothing shared with the library."""
    (sh, sw), (ph, pw), (dh, dw) = stride, pad, dilation
    n_batch, channels, height, width = x.shape
    out_channels, group_in, kh, kw = w.shape
    xp = np.zeros((n_batch, channels, height + 2 * ph, width + 2 * pw))
    xp[:, :, ph : ph + height, pw : pw + width] = x
    out_h = (xp.shape[2] - dh * (kh - 1) - 1) // sh + 1
    out_w = (xp.shape[3] - dw * (kw - 1) - 1) // sw + 1
    group_out = out_channels // groups
    out = np.zeros((n_batch, out_channels, out_h, out_w))
    for n, o, i, j in itertools.product(range(n_batch), range(out_channels), range(out_h), range(out_w)):
        first = (o // group_out) * group_in
        total = b[o]
        for c, p, q in itertools.product(range(group_in), range(kh), range(kw)):
            total += w[o, c, p, q] * xp[n, first + c, i * sh + p * dh, j * sw + q * dw]
        out[n, o, i, j] = total
    return out


def assert_all_close(ours, theirs):
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        if b is None:
            assert a is None
        else:
            assert a.shape == b.shape
            np.testing.assert_allclose(a, b, **EXACT)


CONV_SETTINGS = [
    dict(),
    dict(stride=2),
    dict(stride=(2, 1), padding=1),
    dict(padding=(2, 0), dilation=(1, 2)),
    dict(stride=(1, 3), padding=(1, 2), dilation=2, groups=2),
    dict(padding="same", dilation=(2, 1)),
    dict(padding="same", groups=4),
    dict(padding="valid", stride=3),
]


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")
@pytest.mark.parametrize("kwargs", CONV_SETTINGS, ids=[str(i) for i in range(len(CONV_SETTINGS))])
@pytest.mark.parametrize("kernel", [(3, 3), (2, 3), (1, 1)], ids=["3x3", "2x3", "1x1"])
def test_conv2d_matches_pytorch(kwargs, kernel):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    groups = kwargs.get("groups", 1)
    x, w, b = rng.standard_normal((2, 4, 7, 8)), rng.standard_normal((8, 4 // groups, *kernel)), rng.standard_normal(8)
    for bias in (b, None):
        reference = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), None if bias is None else
                                               torch.tensor(bias), **kwargs)
        upstream = rng.standard_normal(reference.shape)
        expected = torch_grads(torch, lambda x, w, b: torch.nn.functional.conv2d(x, w, b, **kwargs), [x, w, bias],
                               upstream)
        out, grads = grads_of(lambda x, w, b: F.conv2d(x, w, b, **kwargs), [x, w, bias], upstream)
        assert out.shape == expected[0].shape and out.dtype == np.float64
        assert_all_close([out, *grads], [expected[0], *expected[1]])


def test_conv2d_against_naive_loops_and_finite_differences():
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((2, 4, 6, 5)), rng.standard_normal((4, 2, 2, 3)), rng.standard_normal(4)
    settings = dict(stride=(2, 1), pad=(1, 2), dilation=(1, 2), groups=2)

    def reference(x, w, b):
        return naive_conv2d(x, w, b, **settings)

    def ours(x, w, b):
        return F.conv2d(x, w, b, stride=settings["stride"], padding=settings["pad"], dilation=settings["dilation"],
                        groups=2)

    out = ours(leaf(x), leaf(w), leaf(b))
    np.testing.assert_allclose(out.data, reference(x, w, b), **EXACT)
    upstream = rng.standard_normal(out.shape)
    _, grads = grads_of(ours, [x, w, b], upstream)
    for i, grad in enumerate(grads):
        np.testing.assert_allclose(grad, numeric_grad(reference, [x, w, b], i, weights=upstream), rtol=1e-6, atol=1e-7)
    assert mg.gradcheck(ours, [leaf(x), leaf(w), leaf(b)])


@pytest.mark.parametrize("kwargs", [dict(), dict(stride=2, padding=1, groups=2), dict(padding="same", dilation=2),
                                    dict(stride=(1, 2), padding=(0, 2))], ids=["plain", "strided", "same", "mixed"])
def test_conv2d_second_order(kwargs):
    rng = np.random.default_rng(2)
    x, w, b = leaf(rng.standard_normal((2, 2, 5, 6))), leaf(rng.standard_normal((4, 2 // kwargs.get("groups", 1),
                                                                                  3, 2))), leaf(rng.standard_normal(4))

    def gradient_norms(x, w, b):
        y = F.conv2d(x, w, b, **kwargs)
        grad_x, grad_w, grad_b = mg.grad((y * y * y).sum(), [x, w, b], create_graph=True)
        return (grad_x * grad_x).sum() + (grad_w * grad_w).sum() + (grad_b * grad_b).sum()

    assert mg.gradcheck(gradient_norms, [x, w, b])
    # The graph-built first-order gradients equal the fast array ones.
    fast = mg.grad(F.conv2d(x, w, b, **kwargs).tanh().sum(), [x, w, b])
    graph = mg.grad(F.conv2d(x, w, b, **kwargs).tanh().sum(), [x, w, b], create_graph=True)
    assert_all_close([g.data for g in graph], [g.data for g in fast])


POOL_SETTINGS = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1)),
    dict(kernel_size=3, stride=2, ceil_mode=True),
    dict(kernel_size=(3, 2), stride=2, padding=(1, 0), ceil_mode=True),
]


@pytest.mark.parametrize("kwargs", POOL_SETTINGS, ids=[str(i) for i in range(len(POOL_SETTINGS))])
@pytest.mark.parametrize("kind", ["max", "max-dilated", "avg", "avg-exclude-pad"])
def test_pool2d_matches_pytorch(kwargs, kind):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 7, 8))
    if kind.startswith("max"):
        kwargs = {**kwargs, "dilation": (2, 1)} if kind == "max-dilated" else kwargs
        ours, theirs = F.max_pool2d, torch.nn.functional.max_pool2d
    else:
        kwargs = {**kwargs, "count_include_pad": False} if kind == "avg-exclude-pad" else kwargs
        ours, theirs = F.avg_pool2d, torch.nn.functional.avg_pool2d
    upstream = rng.standard_normal(theirs(torch.tensor(x), **kwargs).shape)
    expected = torch_grads(torch, lambda x: theirs(x, **kwargs), [x], upstream)
    out, grads = grads_of(lambda x: ours(x, **kwargs), [x], upstream)
    assert_all_close([out, *grads], [expected[0], *expected[1]])


def test_max_pool2d_ties_go_to_the_first_maximum_like_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = rng.integers(0, 3, (2, 2, 6, 6)).astype(float)  # many ties
    x[0, 0, 1, 1] = np.nan
    for kwargs in (dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1)):
        upstream = rng.standard_normal(F.max_pool2d(x, **kwargs).shape)
        expected = torch_grads(torch, lambda x, kw=kwargs: torch.nn.functional.max_pool2d(x, **kw), [x], upstream)
        out, grads = grads_of(lambda x, kw=kwargs: F.max_pool2d(x, **kw), [x], upstream)
        np.testing.assert_array_equal(out, expected[0])
        np.testing.assert_allclose(grads[0], expected[1][0], **EXACT)


@pytest.mark.parametrize("pool", [
    lambda x: F.max_pool2d(x, 3, 2, padding=1, ceil_mode=True),
    lambda x: F.avg_pool2d(x, (2, 3), (2, 1), padding=1, ceil_mode=True, count_include_pad=False),
], ids=["max", "avg"])
def test_pool2d_first_and_second_order(pool):
    x = leaf(np.random.default_rng(5).standard_normal((2, 2, 5, 6)))
    assert mg.gradcheck(pool, [x])

    def gradient_norm(x):
        y = pool(x)
        (grad_x,) = mg.grad((y * y * y).sum(), [x], create_graph=True)
        return (grad_x * grad_x).sum()

    assert mg.gradcheck(gradient_norm, [x])


def test_unbatched_input_and_channel_major_layout():
    rng = np.random.default_rng(6)
    x, w, b = rng.standard_normal((3, 6, 5)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    np.testing.assert_allclose(F.conv2d(x, w, b, padding=1).data, F.conv2d(x[None], w, b, padding=1).data[0], **EXACT)
    np.testing.assert_allclose(F.max_pool2d(x, 2).data, F.max_pool2d(x[None], 2).data[0], **EXACT)
    np.testing.assert_allclose(F.avg_pool2d(x, 2).data, F.avg_pool2d(x[None], 2).data[0], **EXACT)
    # A convolution's output is stored channel-major; the next layers read it as it is.
    h = F.conv2d(rng.standard_normal((2, 3, 6, 5)), w, b, padding=1)
    for pool in (F.max_pool2d, F.avg_pool2d):
        np.testing.assert_allclose(pool(h, 2, padding=1).data, pool(np.ascontiguousarray(h.data), 2, padding=1).data,
                                   **EXACT)


def test_layers_match_torch_with_copied_weights():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    rng = np.random.default_rng(7)
    for options in (dict(), dict(stride=2, padding=1, dilation=(1, 2), groups=2, bias=False),
                    dict(padding="same", padding_mode="zeros")):
        ours = mg.nn.Conv2d(4, 6, (3, 2), **options, dtype=np.float64)
        theirs = torch.nn.Conv2d(4, 6, (3, 2), **options, dtype=torch.float64)
        assert ours.weight.shape == tuple(theirs.weight.shape)
        ours.weight.data[...] = theirs.weight.detach().numpy()
        if theirs.bias is not None:
            ours.bias.data[...] = theirs.bias.detach().numpy()
        x = rng.standard_normal((2, 4, 9, 8))
        out, expected = ours(leaf(x)), theirs(torch.tensor(x))
        np.testing.assert_allclose(out.data, expected.detach().numpy(), **EXACT)
        out.sum().backward()
        expected.sum().backward()
        np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), **EXACT)
    x = rng.standard_normal((2, 3, 9, 8))
    for ours, theirs in ((mg.nn.MaxPool2d(3, 2, 1, ceil_mode=True), torch.nn.MaxPool2d(3, 2, 1, ceil_mode=True)),
                         (mg.nn.AvgPool2d((2, 3), count_include_pad=False, padding=1),
                          torch.nn.AvgPool2d((2, 3), count_include_pad=False, padding=1))):
        np.testing.assert_allclose(ours(x).data, theirs(torch.tensor(x)).numpy(), **EXACT)


def test_default_init_range_and_repr():
    layer = mg.nn.Conv2d(2, 8, 3, rng=0)
    bound = 1 / np.sqrt(2 * 3 * 3)
    assert layer.weight.shape == (8, 2, 3, 3) and np.abs(layer.weight.data).max() <= bound
    assert np.abs(layer.bias.data).max() <= bound
    assert "Conv2d(2, 8, kernel_size=(3, 3), stride=(1, 1))" in repr(layer)
    assert "padding=(1, 2)" in repr(mg.nn.Conv2d(2, 8, 3, padding=(1, 2)))
    assert repr(mg.nn.MaxPool2d(2)) == "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"


def test_small_cnn_trains():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((16, 1, 8, 8))
    y = (x[:, 0, :4].sum(axis=(1, 2)) > x[:, 0, 4:].sum(axis=(1, 2))).astype(np.int64)
    model = mg.nn.Sequential(mg.nn.Conv2d(1, 4, 3, padding=1, rng=0), mg.nn.ReLU(), mg.nn.MaxPool2d(2),
                             mg.nn.Flatten(), mg.nn.Linear(64, 2, rng=1))
    opt = mg.optim.Adam(model.parameters(), lr=0.02)
    first = float(F.cross_entropy(model(x), y).data)
    for _ in range(40):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    assert float(F.cross_entropy(model(x), y).data) < 0.5 * first


X = np.zeros((2, 4, 6, 6))
W = np.zeros((4, 4, 3, 3))


@pytest.mark.parametrize(("call", "message"), [
    (lambda: F.conv2d(np.zeros((1, 2, 4, 6, 6)), W), r"conv2d: expected an input of shape \(N, C_in, H, W\)"),
    (lambda: F.conv2d(X, np.zeros((4, 4, 3))), r"conv2d: weight must have shape \(C_out, C_in / groups, kH, kW\)"),
    (lambda: F.conv2d(X, W, stride=(1, 0)), r"conv2d: stride must be a positive int or a 2-tuple of them"),
    (lambda: F.conv2d(X, W, stride=(1, 1, 1)), r"conv2d: stride must be an int or a 2-tuple of ints"),
    (lambda: F.conv2d(X, W, padding="same", stride=2), r"padding='same' needs stride=1"),
    (lambda: F.conv2d(X, W, padding="full"), r"padding must be an int, 'valid' or 'same'"),
    (lambda: F.conv2d(X, W, groups=3), r"not divisible by groups=3"),
    (lambda: F.conv2d(X, np.zeros((4, 4, 7, 1))), r"kernel size 7 is larger than the padded input length 6"),
    (lambda: F.max_pool2d(X, (2, 3), padding=(0, 2)), r"max_pool2d: padding=2 is more than half of kernel_size=3"),
    (lambda: F.avg_pool2d(np.zeros(5), 2), r"avg_pool2d: expected an input of shape \(N, C, H, W\)"),
    (lambda: mg.nn.Conv2d(2, 4, 3, padding_mode="mirror"), r"padding_mode must be one of"),
    (lambda: mg.nn.Conv2d(3, 4, 3, groups=2), r"not divisible by groups=2"),
    (lambda: mg.nn.MaxPool2d(0), r"MaxPool2d: kernel_size must be a positive int"),
])
def test_bad_arguments_raise_one_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
