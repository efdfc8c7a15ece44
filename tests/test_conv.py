"""1-D convolution and pooling: values and gradients against PyTorch (optional oracle),
against naive loop implementations differentiated by central finite differences
(always), second-order gradients, layouts, dtypes, layers and every argument error."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from conftest import numeric_grad

import microgradnp as mg
from microgradnp.nn import functional as F
from microgradnp.nn.conv import AvgPool1d, Conv1d, MaxPool1d
from microgradnp.ops import conv as conv_ops

EXACT = {"rtol": 1e-10, "atol": 1e-12}


# -- naive references: loops over every output entry, nothing shared with the library --------
def naive_conv1d(x, w, b=None, stride=1, pad=(0, 0), dilation=1, groups=1):
    n_batch, channels, length = x.shape
    out_channels, group_in, kernel = w.shape
    xp = np.zeros((n_batch, channels, length + pad[0] + pad[1]))
    xp[:, :, pad[0] : pad[0] + length] = x
    out_length = (xp.shape[2] - dilation * (kernel - 1) - 1) // stride + 1
    group_out = out_channels // groups
    out = np.zeros((n_batch, out_channels, out_length))
    for n in range(n_batch):
        for o in range(out_channels):
            first_channel = (o // group_out) * group_in
            for j in range(out_length):
                total = 0.0 if b is None else b[o]
                for c in range(group_in):
                    for k in range(kernel):
                        total += w[o, c, k] * xp[n, first_channel + c, j * stride + k * dilation]
                out[n, o, j] = total
    return out


def naive_pool_length(length, kernel, stride, padding, dilation, ceil_mode):
    """PyTorch's documented formula, ceil_mode's last window starting inside the input."""
    exact = (length + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1
    out = math.ceil(exact) if ceil_mode else math.floor(exact)
    if ceil_mode and (out - 1) * stride >= length + padding:
        out -= 1
    return out


def naive_max_pool1d(x, kernel, stride, padding=0, dilation=1, ceil_mode=False):
    length = x.shape[2]
    out_length = naive_pool_length(length, kernel, stride, padding, dilation, ceil_mode)
    out = np.empty((*x.shape[:2], out_length))
    for n, c, j in itertools.product(range(x.shape[0]), range(x.shape[1]), range(out_length)):
        seen = [x[n, c, p] for k in range(kernel) if 0 <= (p := j * stride - padding + k * dilation) < length]
        out[n, c, j] = max(seen)
    return out


def naive_avg_pool1d(x, kernel, stride, padding=0, ceil_mode=False, count_include_pad=True):
    length = x.shape[2]
    out_length = naive_pool_length(length, kernel, stride, padding, 1, ceil_mode)
    out = np.empty((*x.shape[:2], out_length))
    for n, c, j in itertools.product(range(x.shape[0]), range(x.shape[1]), range(out_length)):
        start = j * stride - padding
        inside = [x[n, c, p] for p in range(start, start + kernel) if 0 <= p < length]
        divisor = min(start + kernel, length + padding) - start if count_include_pad else len(inside)
        out[n, c, j] = sum(inside) / divisor
    return out


def leaf(array, dtype=np.float64):
    return mg.tensor(np.asarray(array, dtype=dtype), requires_grad=True)


def grads_of(fn, arrays, upstream, dtype=np.float64):
    """Output and input gradients of ``fn`` on fresh leaves for the upstream gradient."""
    leaves = [None if a is None else leaf(a, dtype) for a in arrays]
    out = fn(*leaves)
    out.backward(np.asarray(upstream, dtype=dtype))
    return out.data, [None if t is None else t.grad for t in leaves]


def torch_grads(torch, fn, arrays, upstream):
    leaves = [None if a is None else torch.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*leaves)
    out.backward(torch.tensor(upstream))
    return out.detach().numpy(), [None if t is None else t.grad.numpy() for t in leaves]


def assert_all_close(ours, theirs, **tolerance):
    for a, b in zip(ours, theirs):
        if b is None:
            assert a is None
        else:
            np.testing.assert_allclose(a, b, **(tolerance or EXACT))


# -- convolution against PyTorch -------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
@pytest.mark.parametrize("stride, padding", [(1, "same")] + [(s, p) for s in (1, 2, 3) for p in (0, 1, 3, "valid")])
def test_conv1d_matches_pytorch(torch, rng, stride, padding):
    checked = 0
    for kernel, dilation, groups, bias, length in itertools.product((1, 2, 3, 4), (1, 2), (1, 2), (True, False),
                                                                      (5, 10)):
        x = rng.standard_normal((2, 4, length))
        w = rng.standard_normal((6, 4 // groups, kernel))
        b = rng.standard_normal(6) if bias else None
        kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
        try:
            shape = torch.nn.functional.conv1d(torch.tensor(x), torch.tensor(w), None, **kwargs).shape
        except RuntimeError:
            # PyTorch rejects it (kernel longer than the padded input): so must we.
            with pytest.raises(ValueError, match="larger than the padded input"):
                F.conv1d(leaf(x), w, b, **kwargs)
            continue
        upstream = rng.standard_normal(tuple(shape))
        expected = torch_grads(torch, lambda x, w, b, kw=kwargs: torch.nn.functional.conv1d(x, w, b, **kw), [x, w, b],
                               upstream)
        out, grads = grads_of(lambda x, w, b, kw=kwargs: F.conv1d(x, w, b, **kw), [x, w, b], upstream)
        np.testing.assert_allclose(out, expected[0], **EXACT)
        assert_all_close(grads, expected[1])
        checked += 1
    assert checked >= 40


def test_conv1d_chain_with_pools_matches_pytorch(torch, rng):
    """Layers feeding layers: the gradients meet every layout the outputs come in."""
    x = rng.standard_normal((3, 4, 23))
    w1, b1 = rng.standard_normal((6, 2, 3)), rng.standard_normal(6)
    w2, b2 = rng.standard_normal((5, 6, 4)), rng.standard_normal(5)
    w3 = rng.standard_normal((4, 5, 3))

    def network(f, x, w1, b1, w2, b2, w3):
        h = f.conv1d(x, w1, b1, stride=2, padding=1, groups=2).tanh()
        h = f.max_pool1d(f.conv1d(h, w2, b2, padding="same", dilation=2), 3, 1, padding=1)
        h = f.conv1d(h, w3, None, stride=3, padding=2)
        return f.avg_pool1d(h, 2, ceil_mode=True, count_include_pad=False)

    arrays = [x, w1, b1, w2, b2, w3]
    upstream = rng.standard_normal(network(F, *arrays).shape)
    expected = torch_grads(torch, lambda *t: network(torch.nn.functional, *t), arrays, upstream)
    out, grads = grads_of(lambda *t: network(F, *t), arrays, upstream)
    np.testing.assert_allclose(out, expected[0], **EXACT)
    assert_all_close(grads, expected[1])


def test_conv1d_second_order_matches_pytorch(torch, rng):
    x, w, b = rng.standard_normal((2, 4, 11)), rng.standard_normal((6, 2, 3)), rng.standard_normal(6)

    def penalty(autograd, f, x, w, b):
        y = f.conv1d(x, w, b, stride=2, padding=2, dilation=2, groups=2)
        grad_x, grad_w = autograd((y * y * y).sum(), [x, w], create_graph=True)
        return (grad_x * grad_x).sum() + (grad_w * grad_w).sum()

    expected = torch_grads(torch, lambda *t: penalty(torch.autograd.grad, torch.nn.functional, *t), [x, w, b],
                           np.array(1.0))
    _, grads = grads_of(lambda *t: penalty(mg.grad, F, *t), [x, w, b], 1.0)
    assert_all_close(grads, expected[1], rtol=1e-9, atol=1e-9)


# -- pooling against PyTorch -----------------------------------------------------------------
@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("stride", [None, 1, 2, 3])
def test_max_pool1d_matches_pytorch(torch, rng, stride, ceil_mode):
    checked = 0
    for kernel, padding, dilation, length in itertools.product((1, 2, 3, 4), (0, 1, 2), (1, 2), (5, 8, 9)):
        x = rng.standard_normal((2, 3, length))
        kwargs = dict(kernel_size=kernel, stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode)
        try:
            shape = torch.nn.functional.max_pool1d(torch.tensor(x), **kwargs).shape
        except RuntimeError:
            with pytest.raises(ValueError, match=r"padding=|larger than the padded input"):
                F.max_pool1d(leaf(x), **kwargs)
            continue
        upstream = rng.standard_normal(tuple(shape))
        expected = torch_grads(torch, lambda x, kw=kwargs: torch.nn.functional.max_pool1d(x, **kw), [x], upstream)
        out, grads = grads_of(lambda x, kw=kwargs: F.max_pool1d(x, **kw), [x], upstream)
        np.testing.assert_array_equal(out, expected[0])
        assert_all_close(grads, expected[1])
        checked += 1
    assert checked >= 20


def test_max_pool1d_ties_and_nan_like_pytorch(torch, rng):
    """Ties send the gradient to the first maximum; a NaN is the maximum (it propagates)."""
    x = rng.integers(0, 3, (2, 3, 17)).astype(float)
    x[1, 2, [4, 9]] = np.nan
    for kwargs in (dict(kernel_size=3, stride=1, padding=1), dict(kernel_size=4, stride=2, dilation=2)):
        upstream = rng.standard_normal(F.max_pool1d(x, **kwargs).shape)
        expected = torch_grads(torch, lambda x, kw=kwargs: torch.nn.functional.max_pool1d(x, **kw), [x], upstream)
        out, grads = grads_of(lambda x, kw=kwargs: F.max_pool1d(x, **kw), [x], upstream)
        np.testing.assert_array_equal(out, expected[0])
        assert_all_close(grads, expected[1])  # sums over overlapping windows: only rounding may differ
    assert np.isnan(out).any()


@pytest.mark.parametrize(("pool", "shape", "kwargs"), [
    (F.max_pool1d, (2, 2, 7), dict(kernel_size=3, stride=2, padding=1)),
    (F.max_pool2d, (1, 1, 3, 3), dict(kernel_size=3, stride=1, padding=1)),
    (F.max_pool2d, (1, 2, 5, 6), dict(kernel_size=(3, 2), stride=(2, 1), padding=1, dilation=(1, 2))),
    (F.max_pool3d, (1, 1, 4, 4, 4), dict(kernel_size=3, stride=2, padding=1)),
])
def test_a_window_of_minus_inf_sends_its_gradient_to_a_real_entry_not_the_padding(pool, shape, kwargs):
    # Masking with -inf before pooling: such a window's arg-max is its first real entry (PyTorch's),
    # the padding taken as a -inf entry lost the window's gradient.
    x = np.full(shape, -np.inf)
    x.reshape(-1)[::5] = np.arange(len(x.reshape(-1)[::5]), dtype=float)
    leaf_x = leaf(x)
    out = pool(leaf_x, **kwargs)
    out.sum().backward()
    assert leaf_x.grad.sum() == out.data.size  # every window's gradient reached the input
    without = pool(leaf(x), return_indices=True, **kwargs)[1] if pool is not F.max_pool3d else None
    if without is not None:  # the indices path, a separate rule, agrees on where it goes
        counts = np.bincount(without.data.reshape(shape[0], shape[1], -1)[0, 0], minlength=x[0, 0].size)
        np.testing.assert_array_equal(leaf_x.grad[0, 0].reshape(-1), counts)


def test_max_pool_of_minus_inf_windows_matches_pytorch(torch, rng):
    x = np.full((2, 2, 6, 6), -np.inf)
    x.reshape(-1)[rng.choice(x.size, 12, replace=False)] = rng.standard_normal(12)
    upstream = rng.standard_normal(F.max_pool2d(x, 3, 2, 1).shape)
    expected = torch_grads(torch, lambda x: torch.nn.functional.max_pool2d(x, 3, 2, 1), [x], upstream)
    out, grads = grads_of(lambda x: F.max_pool2d(x, 3, 2, 1), [x], upstream)
    np.testing.assert_array_equal(out, expected[0])
    assert_all_close(grads, expected[1])


def test_max_pool1d_gradient_goes_to_the_first_maximum_and_nan_wins():
    x = leaf([[[1.0, 3.0, 3.0, 2.0, 5.0, 5.0]]])
    out = F.max_pool1d(x, 2, stride=1)
    np.testing.assert_array_equal(out.data, [[[3, 3, 3, 5, 5]]])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, [[[0, 2, 1, 0, 2, 0]]])
    x = leaf([[[1.0, np.nan, 2.0, 4.0]]])
    out = F.max_pool1d(x, 3, stride=1)
    assert np.isnan(out.data[0, 0, 0]) and np.isnan(out.data[0, 0, 1])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, [[[0, 2, 0, 0]]])


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_avg_pool1d_matches_pytorch(torch, rng, ceil_mode, count_include_pad):
    checked = 0
    for kernel, stride, padding, length in itertools.product((1, 2, 3, 4, 5), (None, 1, 2, 3), (0, 1, 2), (5, 8, 9)):
        x = rng.standard_normal((2, 3, length))
        kwargs = dict(kernel_size=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode,
                      count_include_pad=count_include_pad)
        try:
            shape = torch.nn.functional.avg_pool1d(torch.tensor(x), **kwargs).shape
        except RuntimeError:
            with pytest.raises(ValueError, match=r"padding=|larger than the padded input"):
                F.avg_pool1d(leaf(x), **kwargs)
            continue
        upstream = rng.standard_normal(tuple(shape))
        expected = torch_grads(torch, lambda x, kw=kwargs: torch.nn.functional.avg_pool1d(x, **kw), [x], upstream)
        out, grads = grads_of(lambda x, kw=kwargs: F.avg_pool1d(x, **kw), [x], upstream)
        np.testing.assert_allclose(out, expected[0], **EXACT)
        assert_all_close(grads, expected[1])
        checked += 1
    assert checked >= 60


# -- against naive loops and finite differences (no oracle needed) ---------------------------
CONV_CASES = {
    "plain": dict(),
    "stride2-pad1": dict(stride=2, pad=(1, 1)),
    "dilation2-pad2": dict(dilation=2, pad=(2, 2)),
    "groups2-stride3": dict(groups=2, stride=3, pad=(2, 2)),
    "same-even-kernel": dict(kernel=4, pad=(1, 2), padding="same"),
    "depthwise-no-bias": dict(groups=4, out_channels=4, bias=False, stride=2),
}


@pytest.mark.parametrize("case", CONV_CASES.values(), ids=CONV_CASES.keys())
def test_conv1d_matches_naive_loops_and_finite_differences(rng, case):
    case = dict(case)
    kernel, groups, out_channels = case.pop("kernel", 3), case.get("groups", 1), case.pop("out_channels", 6)
    padding = case.pop("padding", case.get("pad", (0, 0))[0])
    with_bias = case.pop("bias", True)
    x = rng.standard_normal((2, 4, 9))
    w = rng.standard_normal((out_channels, 4 // groups, kernel))
    b = rng.standard_normal(out_channels) if with_bias else None

    def reference(x, w, b=None):
        return naive_conv1d(x, w, b, **case)

    expected = reference(x, w, b)
    upstream = rng.standard_normal(expected.shape)
    mg_kwargs = dict(stride=case.get("stride", 1), padding=padding, dilation=case.get("dilation", 1), groups=groups)
    out, grads = grads_of(lambda x, w, b: F.conv1d(x, w, b, **mg_kwargs), [x, w, b], upstream)
    np.testing.assert_allclose(out, expected, **EXACT)
    arrays = [x, w] + ([b] if with_bias else [])
    for i in range(len(arrays)):
        numeric = numeric_grad(reference, arrays, i, weights=upstream)
        np.testing.assert_allclose(grads[i], numeric, rtol=1e-6, atol=1e-7, err_msg=f"input {i}")


POOL_CASES = {
    "max-plain": ("max", dict(kernel=2, stride=2)),
    "max-overlap-pad": ("max", dict(kernel=3, stride=1, padding=1)),
    "max-dilated-ceil": ("max", dict(kernel=2, stride=2, dilation=2, ceil_mode=True)),
    "max-ceil-pad": ("max", dict(kernel=4, stride=3, padding=2, ceil_mode=True)),
    "avg-plain": ("avg", dict(kernel=3, stride=2)),
    "avg-pad-include": ("avg", dict(kernel=3, stride=2, padding=1)),
    "avg-pad-exclude-ceil": ("avg", dict(kernel=4, stride=3, padding=2, ceil_mode=True, count_include_pad=False)),
    "avg-ceil-include": ("avg", dict(kernel=3, stride=2, padding=1, ceil_mode=True)),
}


@pytest.mark.parametrize("kind, case", POOL_CASES.values(), ids=POOL_CASES.keys())
def test_pools_match_naive_loops_and_finite_differences(rng, kind, case):
    case = dict(case)
    kernel, stride = case.pop("kernel"), case.pop("stride")
    x = rng.standard_normal((2, 3, 10))  # continuous values: no ties for finite differences to trip on

    def reference(x):
        naive = naive_max_pool1d if kind == "max" else naive_avg_pool1d
        return naive(x, kernel, stride, **case)

    def ours(x):
        pool = F.max_pool1d if kind == "max" else F.avg_pool1d
        return pool(x, kernel, stride, **case)

    expected = reference(x)
    upstream = rng.standard_normal(expected.shape)
    out, (grad,) = grads_of(ours, [x], upstream)
    np.testing.assert_allclose(out, expected, **EXACT)
    np.testing.assert_allclose(grad, numeric_grad(reference, [x], 0, weights=upstream), rtol=1e-6, atol=1e-7)
    assert mg.gradcheck(ours, [leaf(x)])


@pytest.mark.parametrize("stride, padding, dilation, groups", [(1, 0, 1, 1), (1, "same", 2, 2), (2, 1, 1, 2),
                                                               (3, 4, 2, 1), (1, 5, 1, 1)])
def test_conv1d_gradcheck_first_and_second_order(rng, stride, padding, dilation, groups):
    x, w, b = leaf(rng.standard_normal((2, 4, 8))), leaf(rng.standard_normal((4, 4 // groups, 3))), leaf(
        rng.standard_normal(4))
    kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    assert mg.gradcheck(lambda x, w, b: F.conv1d(x, w, b, **kwargs), [x, w, b])

    def gradient_norms(x, w, b):
        y = F.conv1d(x, w, b, **kwargs)
        grad_x, grad_w, grad_b = mg.grad((y * y * y).sum(), [x, w, b], create_graph=True)
        return (grad_x * grad_x).sum() + (grad_w * grad_w).sum() + (grad_b * grad_b).sum()

    assert mg.gradcheck(gradient_norms, [x, w, b])


@pytest.mark.parametrize("pool", [
    lambda x: F.max_pool1d(x, 3, 2, padding=1, ceil_mode=True),
    lambda x: F.avg_pool1d(x, 4, 3, padding=2, ceil_mode=True, count_include_pad=False),
], ids=["max", "avg"])
def test_pools_second_order_gradcheck(rng, pool):
    x = leaf(rng.standard_normal((2, 3, 11)))

    def gradient_norm(x):
        y = pool(x)
        (grad_x,) = mg.grad((y * y * y).sum(), [x], create_graph=True)
        return (grad_x * grad_x).sum()

    assert mg.gradcheck(gradient_norm, [x])


def test_gradients_built_as_a_graph_equal_the_array_ones(rng):
    x, w, b = leaf(rng.standard_normal((2, 4, 13))), leaf(rng.standard_normal((6, 2, 3))), leaf(rng.standard_normal(6))
    for kwargs in (dict(stride=1, padding=2, groups=2), dict(stride=2, padding="valid", dilation=2, groups=2)):
        fast = mg.grad(F.conv1d(x, w, b, **kwargs).tanh().sum(), [x, w, b])
        graph = mg.grad(F.conv1d(x, w, b, **kwargs).tanh().sum(), [x, w, b], create_graph=True)
        assert all(g.requires_grad for g in graph)
        assert_all_close([g.data for g in fast], [g.data for g in graph])


def test_conv1d_gradients_for_only_the_inputs_that_need_them(rng):
    x, w, b = rng.standard_normal((2, 4, 9)), rng.standard_normal((6, 2, 3)), rng.standard_normal(6)
    for kwargs in (dict(stride=1, padding=1, groups=2), dict(stride=2, groups=2)):
        upstream = rng.standard_normal(F.conv1d(x, w, b, **kwargs).shape)
        _, full = grads_of(lambda x, w, b, kw=kwargs: F.conv1d(x, w, b, **kw), [x, w, b], upstream)
        for wanted in range(3):
            inputs = [x, w, b]
            inputs[wanted] = leaf(inputs[wanted])
            F.conv1d(*inputs, **kwargs).backward(upstream)
            np.testing.assert_allclose(inputs[wanted].grad, full[wanted], **EXACT)
        ints = F.conv1d(np.arange(2 * 4 * 9).reshape(2, 4, 9), w, b, **kwargs)
        assert ints.dtype == np.float64
        np.testing.assert_allclose(ints.data, F.conv1d(np.arange(72.0).reshape(2, 4, 9), w, b, **kwargs).data)
    assert F.avg_pool1d(np.arange(10).reshape(1, 1, 10), 2).dtype == np.float64


# -- layouts, buffers, dtypes, unbatched input -----------------------------------------------
def test_any_input_layout_gives_the_same_result(rng):
    x = rng.standard_normal((3, 4, 12))
    w, b = rng.standard_normal((5, 4, 3)), rng.standard_normal(5)
    layouts = {
        "channel-major": np.ascontiguousarray(x.transpose(1, 0, 2)).transpose(1, 0, 2),
        "fortran": np.asfortranarray(x),
        "strided": np.repeat(x, 2, axis=2)[:, :, ::2],
        "reversed": np.ascontiguousarray(x[:, :, ::-1])[:, :, ::-1],
    }
    for padding, stride in ((0, 1), (2, 1), (1, 2)):
        def f(x, w, b, stride=stride, padding=padding):
            return F.conv1d(x, w, b, stride=stride, padding=padding)

        expected = naive_conv1d(x, w, b, stride=stride, pad=(padding, padding))
        upstream = rng.standard_normal(expected.shape)
        reference = grads_of(f, [x, w, b], upstream)
        np.testing.assert_allclose(reference[0], expected, **EXACT)
        for name, variant in layouts.items():
            assert np.array_equal(variant, x) and variant.strides != x.strides, name
            variant_leaf = mg.Tensor._wrap(variant)
            variant_leaf.requires_grad_(True)
            w_leaf, b_leaf = leaf(w), leaf(b)
            out = f(variant_leaf, w_leaf, b_leaf)
            out.backward(upstream)
            np.testing.assert_allclose(out.data, expected, **EXACT, err_msg=name)
            assert_all_close([variant_leaf.grad, w_leaf.grad, b_leaf.grad], reference[1])
        for pool in (lambda x: F.max_pool1d(x, 3, 2, padding=1), lambda x: F.avg_pool1d(x, 3, 2, padding=1)):
            expected_pool = pool(x).data
            for name, variant in layouts.items():
                np.testing.assert_array_equal(pool(variant).data, expected_pool, err_msg=name)


def test_graphs_alive_at_once_do_not_share_work_arrays(rng):
    """The im2col columns are reused between steps: never while a graph still needs them."""
    w = leaf(rng.standard_normal((4, 3, 3)))
    inputs = [rng.standard_normal((2, 3, 10)) for _ in range(4)]
    expected = []
    for x in inputs:
        w.grad = None
        F.conv1d(x, w).sum().backward()
        expected.append(w.grad.copy())
    outputs = [F.conv1d(x, w) for x in inputs]  # four graphs holding columns of one shape
    for out, grad in reversed(list(zip(outputs, expected))):
        w.grad = None
        out.sum().backward(retain_graph=True)
        np.testing.assert_allclose(w.grad, grad, **EXACT)
        out.sum().backward()
        np.testing.assert_allclose(w.grad, 2 * grad, **EXACT)
    with mg.no_grad():
        plain = F.conv1d(inputs[0], w).data
    np.testing.assert_allclose(F.conv1d(inputs[0], w).data, plain, **EXACT)


def test_scratch_pool_hands_an_array_out_once_and_stays_bounded():
    pool = conv_ops._Scratch(max_shapes=2, per_shape=1)
    a, b = pool.take((3,), np.float32), pool.take((3,), np.float32)
    assert a is not b
    pool.give(a)
    pool.give(b)  # beyond per_shape: dropped
    assert pool.take((3,), np.float32) is a
    assert pool.take((3,), np.float32) is not b
    for n in range(5):
        pool.give(np.empty(n + 10))
    assert len(pool.free) <= 2
    small = conv_ops._Scratch(max_bytes=100)
    kept, dropped = np.empty(10), np.empty(5)
    small.give(kept)  # 80 bytes
    small.give(dropped)  # 40 more: over the limit
    assert small.take((10,), np.float64) is kept and small.take((5,), np.float64) is not dropped


def test_float32_stays_float32(rng):
    x = leaf(rng.standard_normal((2, 4, 9)), np.float32)
    w, b = leaf(rng.standard_normal((6, 2, 3)), np.float32), leaf(rng.standard_normal(6), np.float32)
    for y in (F.conv1d(x, w, b, stride=1, padding=1, groups=2), F.conv1d(x, w, b, stride=2, groups=2)):
        assert y.dtype == np.float32
        (y * y).sum().backward()
    h = F.conv1d(x, w, b, padding="same", groups=2)
    pooled = F.max_pool1d(h, 2, padding=1) + F.avg_pool1d(h, 2, padding=1)
    assert h.dtype == pooled.dtype == np.float32
    pooled.sum().backward()
    assert x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32
    layer = Conv1d(4, 6, 3, dtype=np.float32, rng=0)
    assert layer.weight.dtype == layer.bias.dtype == layer(x).dtype == np.float32
    second = mg.grad(F.conv1d(x, w, b, groups=2).sum(), [x], create_graph=True)[0]
    assert second.dtype == np.float32


def test_unbatched_input_gives_the_unbatched_result(rng):
    x = rng.standard_normal((4, 9))
    w, b = rng.standard_normal((6, 4, 3)), rng.standard_normal(6)
    cases = [
        (lambda x: F.conv1d(x, w, b, stride=2, padding=1), naive_conv1d(x[None], w, b, stride=2, pad=(1, 1))[0]),
        (lambda x: F.max_pool1d(x, 3, 2), naive_max_pool1d(x[None], 3, 2)[0]),
        (lambda x: F.avg_pool1d(x, 3, 2, padding=1), naive_avg_pool1d(x[None], 3, 2, padding=1)[0]),
    ]
    for fn, expected in cases:
        t = leaf(x)
        out = fn(t)
        assert out.shape == expected.shape
        np.testing.assert_allclose(out.data, expected, **EXACT)
        out.sum().backward()
        assert t.grad.shape == x.shape and np.abs(t.grad).sum() > 0


# -- layers ----------------------------------------------------------------------------------
def test_conv1d_layer_init_is_pytorchs_bound(torch):
    layer = Conv1d(64, 128, 5, groups=4, rng=0)
    bound = 1 / math.sqrt(64 // 4 * 5)  # fan_in = in_channels / groups * kernel_size
    weight, bias = layer.weight.data, layer.bias.data
    assert weight.shape == (128, 16, 5) and bias.shape == (128,)
    assert np.abs(weight).max() <= bound and np.abs(weight).max() > 0.99 * bound
    assert weight.std() == pytest.approx(bound / math.sqrt(3), rel=0.03)
    assert abs(weight.mean()) < 4 * bound / math.sqrt(3 * weight.size)
    assert np.abs(bias).max() <= bound and np.abs(bias).max() > 0.9 * bound
    theirs = torch.nn.Conv1d(64, 128, 5, groups=4)
    assert theirs.weight.abs().max().item() <= bound and theirs.weight.abs().max().item() > 0.99 * bound
    assert theirs.bias.abs().max().item() <= bound


@pytest.mark.parametrize("stride, padding, dilation, groups, bias", [
    (1, 0, 1, 1, True), (2, 1, 1, 2, True), (1, "same", 2, 4, False), (3, 2, 2, 2, True), (2, "valid", 3, 1, False)])
def test_conv1d_layer_matches_torch_layer_with_the_same_weights(torch, rng, stride, padding, dilation, groups, bias):
    """The layer hands each setting to the right argument: output and parameter gradients as torch.nn.Conv1d's."""
    ours = Conv1d(4, 8, 3, stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bias, rng=0)
    theirs = torch.nn.Conv1d(4, 8, 3, stride=stride, padding=padding, dilation=dilation, groups=groups,
                             bias=bias).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(ours.weight.data))
        if bias:
            theirs.bias.copy_(torch.tensor(ours.bias.data))
    x = rng.standard_normal((2, 4, 13))
    out, reference = ours(mg.tensor(x)), theirs(torch.tensor(x))
    np.testing.assert_allclose(out.data, reference.detach().numpy(), **EXACT)
    upstream = rng.standard_normal(out.shape)
    out.backward(upstream)
    reference.backward(torch.tensor(upstream))
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), **EXACT)
    if bias:
        np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), **EXACT)


@pytest.mark.parametrize("ours, theirs", [
    (lambda: MaxPool1d(3, 2, padding=1, dilation=2, ceil_mode=True),
     lambda t: t.nn.MaxPool1d(3, 2, padding=1, dilation=2, ceil_mode=True)),
    (lambda: AvgPool1d(4, 3, padding=2, ceil_mode=True, count_include_pad=False),
     lambda t: t.nn.AvgPool1d(4, 3, padding=2, ceil_mode=True, count_include_pad=False))], ids=["max", "avg"])
def test_pool_layers_match_torch_layers(torch, rng, ours, theirs):
    x = rng.standard_normal((2, 3, 11))
    a, b = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, reference = ours()(a), theirs(torch)(b)
    np.testing.assert_allclose(out.data, reference.detach().numpy(), **EXACT)
    upstream = rng.standard_normal(out.shape)
    out.backward(upstream)
    reference.backward(torch.tensor(upstream))
    np.testing.assert_allclose(a.grad, b.grad.numpy(), **EXACT)


def test_conv1d_layer_seeding_parameters_and_forward(rng):
    a, b = Conv1d(3, 4, 3, stride=2, padding=1, rng=7), Conv1d(3, 4, 3, stride=2, padding=1, rng=7)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    assert not np.array_equal(a.weight.data, Conv1d(3, 4, 3, rng=8).weight.data)
    assert [name for name, _ in a.named_parameters()] == ["weight", "bias"]
    assert [name for name, _ in Conv1d(3, 4, 3, bias=False).named_parameters()] == ["weight"]
    x = rng.standard_normal((2, 3, 10))
    expected = naive_conv1d(x, a.weight.data, a.bias.data, stride=2, pad=(1, 1))
    np.testing.assert_allclose(a(x).data, expected, **EXACT)
    a(x).sum().backward()
    assert a.weight.grad.shape == (4, 3, 3) and a.bias.grad.shape == (4,)


def test_layer_reprs_name_their_settings():
    # PyTorch's text: convolutions keep their settings as tuples, MaxPool1d as given, AvgPool1d
    # as 1-tuples (tests/test_module_attributes_parity.py compares them all with PyTorch's)
    assert repr(Conv1d(8, 16, 5, rng=0)) == "Conv1d(8, 16, kernel_size=(5,), stride=(1,))  [weight: 16x8x5, bias: 16]"
    assert repr(Conv1d(8, 16, 4, padding="same", dilation=2, groups=4, bias=False)) == (
        "Conv1d(8, 16, kernel_size=(4,), stride=(1,), padding=same, dilation=(2,), groups=4, bias=False)"
        "  [weight: 16x2x4]"
    )
    assert repr(MaxPool1d(3)) == "MaxPool1d(kernel_size=3, stride=3, padding=0, dilation=1, ceil_mode=False)"
    assert repr(Conv1d(4, 4, (3,), dilation=(2,), padding=(1,))).startswith(
        "Conv1d(4, 4, kernel_size=(3,), stride=(1,), padding=(1,), dilation=(2,))")
    assert repr(MaxPool1d((3,), dilation=(2,))) == (
        "MaxPool1d(kernel_size=(3,), stride=(3,), padding=0, dilation=(2,), ceil_mode=False)")
    assert repr(AvgPool1d(3, 2, padding=1, count_include_pad=False)) == (
        "AvgPool1d(kernel_size=(3,), stride=(2,), padding=(1,))"
    )


def test_pool_layers_call_the_functions(rng):
    x = rng.standard_normal((2, 3, 11))
    np.testing.assert_array_equal(MaxPool1d(3, 2, 1, 2, ceil_mode=True)(x).data, F.max_pool1d(x, 3, 2, 1, 2, True).data)
    np.testing.assert_array_equal(AvgPool1d(4, 3, 2, True, False)(x).data, F.avg_pool1d(x, 4, 3, 2, True, False).data)
    np.testing.assert_array_equal(MaxPool1d(2)(x).data, naive_max_pool1d(x, 2, 2))


# -- errors ----------------------------------------------------------------------------------
X = np.zeros((2, 4, 10))
W = np.zeros((6, 4, 3))
BAD_CALLS = [
    (lambda: F.conv1d(np.zeros((2, 4, 10, 1)), W),
     r"expected an input of shape \(N, C_in, L\).*got shape \(2, 4, 10, 1\)"),
    (lambda: F.conv1d(np.zeros(10), W), r"expected an input of shape \(N, C_in, L\)"),
    (lambda: F.conv1d(X, np.zeros((6, 4))), r"weight must have shape \(C_out, C_in / groups, K\)"),
    (lambda: F.conv1d(np.zeros((2, 3, 10)), W), r"input has 3 channels but the weight .* expects 4"),
    (lambda: F.conv1d(np.zeros((2, 3, 10)), np.zeros((6, 1, 3)), groups=2),
     r"input channels 3 are not divisible by groups=2"),
    (lambda: F.conv1d(X, np.zeros((5, 2, 3)), groups=2), r"out channels 5 .* not divisible by groups=2"),
    (lambda: F.conv1d(X, np.zeros((6, 4, 11))), r"kernel size 11 is larger than the padded input length 10"),
    (lambda: F.conv1d(X, W, dilation=5, padding=0), r"kernel size 3 \(11 dilated\) is larger than the padded input"),
    (lambda: F.conv1d(X, W, np.zeros(5)), r"bias must have shape \(6,\)"),
    (lambda: F.conv1d(X, W, stride=0), r"stride must be a positive int"),
    (lambda: F.conv1d(X, W, stride=1.5), r"stride must be a positive int"),
    (lambda: F.conv1d(X, W, padding=-1), r"padding must be a non-negative int"),
    (lambda: F.conv1d(X, W, padding="full"), r"padding must be an int, 'valid' or 'same'"),
    (lambda: F.conv1d(X, W, stride=2, padding="same"), r"padding='same' needs stride=1"),
    (lambda: F.conv1d(X, W, dilation=0), r"dilation must be a positive int"),
    (lambda: F.conv1d(X, W, groups=0), r"groups must be a positive int"),
    (lambda: F.max_pool1d(np.zeros((2, 4, 10, 1)), 2), r"max_pool1d: expected an input of shape \(N, C, L\)"),
    (lambda: F.max_pool1d(X, 0), r"max_pool1d: kernel_size must be a positive int"),
    (lambda: F.max_pool1d(X, 2, stride=-1), r"max_pool1d: stride must be a positive int"),
    (lambda: F.max_pool1d(X, 3, padding=2), r"padding=2 is more than half of kernel_size=3.*padding <= 1"),
    (lambda: F.max_pool1d(X, 2, dilation=0), r"max_pool1d: dilation must be a positive int"),
    (lambda: F.max_pool1d(X, 11), r"kernel size 11 is larger than the padded input length 10"),
    (lambda: F.avg_pool1d(np.zeros(10), 2), r"avg_pool1d: expected an input of shape \(N, C, L\)"),
    (lambda: F.avg_pool1d(X, 2, padding=-1), r"avg_pool1d: padding must be a non-negative int"),
    (lambda: F.avg_pool1d(X, 2, padding=2), r"padding=2 is more than half of kernel_size=2"),
    (lambda: F.avg_pool1d(X, 13, padding=1), r"kernel size 13 is larger than the padded input length 12"),
    (lambda: Conv1d(3, 4, 3, groups=2), r"input channels 3 are not divisible by groups=2"),
    (lambda: Conv1d(4, 4, 3, stride=2, padding="same"), r"padding='same' needs stride=1"),
    (lambda: Conv1d(4, 4, 0), r"kernel_size must be a positive int"),
    (lambda: Conv1d(4, 0, 3), r"out_channels must be a positive int"),
    (lambda: Conv1d(4, 4, 3, dilation=0), r"dilation must be a positive int"),
    (lambda: MaxPool1d(2, padding=2), r"padding=2 is more than half of kernel_size=2"),
    (lambda: AvgPool1d(0), r"kernel_size must be a positive int"),
    (lambda: AvgPool1d(2, stride=0), r"stride must be a positive int"),
]


@pytest.mark.parametrize("call, message", BAD_CALLS, ids=range(len(BAD_CALLS)))
def test_bad_arguments_raise_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message) as error:
        call()
    assert "\n" not in str(error.value)
