"""Convolution, pooling and resampling against PyTorch: the cases an adversarial probe found
wrong (``interpolate(mode="area")`` on 5-D input, ``grid_sample`` differentiated twice, the
max ``embedding_bag`` of empty bags). Values and gradients are compared with torch and with
central finite differences in float64."""

import warnings

import numpy as np
import pytest
from conftest import numeric_grad

import microgradnp as mg
from microgradnp import nn

F = nn.functional


# == interpolate(mode="area") on (N, C, D, H, W) ===============================================
@pytest.mark.parametrize("resize", [{"size": (3, 2, 5)}, {"scale_factor": 0.5}, {"scale_factor": (1.7, 0.6, 1.0)}])
def test_interpolate_area_on_5d_input_matches_torch(resize):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5, 4, 6))
    upstream_shape = tuple(torch.nn.functional.interpolate(torch.tensor(x), mode="area", **resize).shape)
    upstream = rng.standard_normal(upstream_shape)
    ours, theirs = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out = F.interpolate(ours, mode="area", **resize)
    expected = torch.nn.functional.interpolate(theirs, mode="area", **resize)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    (out * mg.tensor(upstream)).sum().backward()
    (expected * torch.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-12, atol=1e-12)
    layer = nn.Upsample(mode="area", **resize)
    np.testing.assert_allclose(layer(mg.tensor(x)).data, expected.detach().numpy(), rtol=1e-12, atol=1e-12)


# == anti-aliased interpolate with a scale that keeps an axis's size ==============================
@pytest.mark.parametrize(("shape", "mode", "scale_factor"), [((1, 2, 7, 4), "bilinear", (2.8, 1.2)),
                                                              ((1, 2, 3, 7), "bicubic", (1.7, 1.1)),
                                                              ((1, 1, 9, 5), "bicubic", (0.6, 1.15))])
def test_interpolate_antialias_leaves_an_axis_of_unchanged_size_as_torch(shape, mode, scale_factor):
    """PyTorch's anti-aliased kernel copies an axis whose size the scale does not change; its
    backward does not (it disagrees with its own forward), so the gradient is checked against
    finite differences of the forward."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape)
    options = {"scale_factor": scale_factor, "mode": mode, "antialias": True, "align_corners": False}
    expected = torch.nn.functional.interpolate(torch.tensor(x), **options).numpy()
    ours = mg.tensor(x, requires_grad=True)
    out = F.interpolate(ours, **options)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)
    upstream = rng.standard_normal(expected.shape)
    (out * mg.tensor(upstream)).sum().backward()
    numeric = numeric_grad(lambda a: F.interpolate(mg.tensor(a), **options).data, [x], 0, weights=upstream)
    np.testing.assert_allclose(ours.grad, numeric, rtol=1e-6, atol=1e-7)


# == grid_sample differentiated twice ===========================================================
_GRID_CASES = [(2, "bilinear", "zeros", False), (2, "bilinear", "border", True), (2, "bilinear", "reflection", False),
               (2, "bicubic", "zeros", True), (2, "bicubic", "reflection", False), (2, "nearest", "border", False),
               (3, "bilinear", "zeros", True), (3, "bilinear", "reflection", False)]


def _grid_sample_second_order(grad, sample, x, grid, upstream, probes):
    """The gradient of ``<grad_x, probe_x> + <grad_grid, probe_grid>`` (the first-order gradients of
    ``<sample(x, grid), upstream>``) with respect to ``x`` and ``grid``; ``grad`` is ``mg.grad`` or
    ``torch.autograd.grad``. (None, None) when the first-order gradients are constants (``nearest``)."""
    first = grad((sample(x, grid) * upstream).sum(), [x, grid], create_graph=True)
    terms = [(g * p).sum() for g, p in zip(first, probes, strict=True) if g.requires_grad]
    return grad(sum(terms), [x, grid], allow_unused=True) if terms else (None, None)


@pytest.mark.parametrize(("dims", "mode", "padding_mode", "align_corners"), _GRID_CASES)
def test_grid_sample_double_backward_matches_torch(dims, mode, padding_mode, align_corners):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, *(4, 5, 3)[:dims]))
    grid = rng.uniform(-1.3, 1.3, (2, *(3, 2, 2)[:dims], dims))
    upstream = rng.standard_normal((2, 3, *(3, 2, 2)[:dims]))
    probes = [rng.standard_normal(x.shape), rng.standard_normal(grid.shape)]

    def sample(module):
        return lambda a, g: module.nn.functional.grid_sample(a, g, mode, padding_mode, align_corners)

    ours = _grid_sample_second_order(mg.grad, sample(mg), mg.tensor(x, requires_grad=True),
                                     mg.tensor(grid, requires_grad=True), mg.tensor(upstream),
                                     [mg.tensor(p) for p in probes])
    theirs = _grid_sample_second_order(torch.autograd.grad, sample(torch),
                                       torch.tensor(x, requires_grad=True), torch.tensor(grid, requires_grad=True),
                                       torch.tensor(upstream), [torch.tensor(p) for p in probes])
    for mine, expected, shape in zip(ours, theirs, (x.shape, grid.shape), strict=True):
        mine = np.zeros(shape) if mine is None else mine.data
        expected = np.zeros(shape) if expected is None else expected.numpy()
        np.testing.assert_allclose(mine, expected, rtol=1e-10, atol=1e-10)


def test_grid_sample_input_gradient_is_differentiable_in_the_grid_by_finite_differences():
    """d/d(grid) of <grad_x, probe>: the input gradient's weights move with the grid."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 2, 4, 5))
    grid = rng.uniform(-1.2, 1.2, (1, 3, 2, 2))
    upstream, probe = rng.standard_normal((1, 2, 3, 2)), rng.standard_normal(x.shape)

    def probed_input_gradient(grid_array, create_graph=False):
        a = mg.tensor(x, requires_grad=True)
        g = mg.tensor(grid_array, requires_grad=True)
        (grad_x,) = mg.grad((F.grid_sample(a, g, "bicubic", "border", False) * mg.tensor(upstream)).sum(), [a],
                            create_graph=create_graph)
        return (grad_x * mg.tensor(probe)).sum(), g

    total, g = probed_input_gradient(grid, create_graph=True)
    (grad_grid,) = mg.grad(total, [g])
    expected = numeric_grad(lambda array: probed_input_gradient(array)[0].data, [grid], 0)
    np.testing.assert_allclose(grad_grid.data, expected, rtol=1e-6, atol=1e-7)


def test_grid_sample_double_backward_with_an_infinite_coordinate_stays_finite():
    torch = pytest.importorskip("torch")
    x = np.arange(12.0).reshape(1, 1, 3, 4)
    grid = np.array([[[[np.inf, 0.3], [0.2, -0.4]]]])
    ours_x, ours_grid = mg.tensor(x, requires_grad=True), mg.tensor(grid, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        (grad_grid,) = mg.grad(F.grid_sample(ours_x, ours_grid, "bilinear", "border", False).sum(), [ours_grid],
                               create_graph=True)
        (second,) = mg.grad(grad_grid.sum(), [ours_x])
    theirs_x = torch.tensor(x, requires_grad=True)
    theirs_grid = torch.tensor(grid, requires_grad=True)
    (expected_grid,) = torch.autograd.grad(
        torch.nn.functional.grid_sample(theirs_x, theirs_grid, "bilinear", "border", False).sum(), [theirs_grid],
        create_graph=True)
    (expected,) = torch.autograd.grad(expected_grid.sum(), [theirs_x])
    np.testing.assert_allclose(second.data, expected.numpy(), rtol=1e-12, atol=1e-12)


# == embedding_bag(mode="max") of empty bags ====================================================
@pytest.mark.parametrize(("indices", "offsets"), [([1, 1, 1], [0, 2]), ([], [0, 0])])
def test_embedding_bag_max_of_only_empty_bags_still_backpropagates(indices, offsets):
    torch = pytest.importorskip("torch")
    table = np.random.default_rng(3).standard_normal((5, 3))
    index, starts = np.array(indices, dtype=np.int64), np.array(offsets, dtype=np.int64)
    weight = mg.tensor(table, requires_grad=True)
    out = F.embedding_bag(mg.as_tensor(index), weight, mg.as_tensor(starts), mode="max", padding_idx=1)
    theirs = torch.tensor(table, requires_grad=True)
    expected = torch.nn.functional.embedding_bag(torch.tensor(index), theirs, torch.tensor(starts), mode="max",
                                                 padding_idx=1)
    np.testing.assert_array_equal(out.data, expected.detach().numpy())
    assert out.requires_grad == expected.requires_grad
    out.sum().backward()
    expected.sum().backward()
    np.testing.assert_array_equal(weight.grad, theirs.grad.numpy())


# == Conv*d._conv_forward: convolving with a weight of one's own ==================================
@pytest.mark.parametrize(("ndim", "padding_mode"), [(1, "zeros"), (2, "reflect"), (3, "circular")])
def test_conv_forward_with_a_standardised_weight_matches_torch(ndim, padding_mode):
    """Weight-standardised convolutions (timm's ``StdConv2d``) override ``forward`` and call
    ``self._conv_forward(x, weight, bias)`` with their transformed weight."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)

    def standardised_forward(layer, x):
        centred = layer.weight - layer.weight.mean(dim=tuple(range(1, ndim + 2)), keepdim=True)
        return layer._conv_forward(x, centred, layer.bias)

    name = f"Conv{ndim}d"
    theirs = getattr(torch.nn, name)(4, 6, 3, padding=1, groups=2, padding_mode=padding_mode).double()
    ours = getattr(nn, name)(4, 6, 3, padding=1, groups=2, padding_mode=padding_mode)
    ours.weight.data[...] = theirs.weight.detach().numpy()
    ours.bias.data[...] = theirs.bias.detach().numpy()
    x = rng.standard_normal((2, 4, *(5, 4, 3)[:ndim]))
    out = standardised_forward(ours, mg.tensor(x))
    expected = standardised_forward(theirs, torch.tensor(x))
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    upstream = rng.standard_normal(out.shape)
    (out * mg.tensor(upstream)).sum().backward()
    (expected * torch.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-10, atol=1e-12)


# == lp_pool: the partial windows of ceil_mode ===================================================
@pytest.mark.parametrize(("spatial", "norm_type", "kernel_size", "stride"), [((5,), 1.0, 2, 2), ((6,), 3.0, 3, 2),
                                                                            ((5, 7), 2.0, (2, 3), 2),
                                                                            ((5, 4, 3), 1.5, 2, None)])
def test_lp_pool_ceil_mode_sums_the_partial_windows(spatial, norm_type, kernel_size, stride):
    """``(sum of x ** p over the window) ** (1 / p)`` over only the entries a window holds: PyTorch
    multiplies the mean by the full kernel's size, overstating the last, partial windows (so the
    check is against NumPy; the full windows are compared with torch)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    ndim = len(spatial)
    x = rng.uniform(0.1, 2.0, (1, 2, *spatial))
    pool = getattr(F, f"lp_pool{ndim}d")
    ours = mg.tensor(x, requires_grad=True)
    out = pool(ours, norm_type, kernel_size, stride, True)
    kernels = kernel_size if isinstance(kernel_size, tuple) else (kernel_size,) * ndim
    strides = kernels if stride is None else (stride,) * ndim
    expected = np.zeros(out.shape)
    for position in np.ndindex(*out.shape[2:]):
        window = tuple(slice(i * s, i * s + k) for i, s, k in zip(position, strides, kernels, strict=True))
        expected[(..., *position)] = (x[(..., *window)] ** norm_type).sum(axis=tuple(range(2, 2 + ndim)))
    np.testing.assert_allclose(out.data, expected ** (1 / norm_type), rtol=1e-12)
    theirs = getattr(torch.nn.functional, f"lp_pool{ndim}d")(torch.tensor(x), norm_type, kernel_size, stride, True)
    full = tuple(slice(0, (n - k) // s + 1) for n, k, s in zip(spatial, kernels, strides, strict=True))
    np.testing.assert_allclose(out.data[(..., *full)], theirs.numpy()[(..., *full)], rtol=1e-12)
    upstream = rng.standard_normal(out.shape)
    (out * mg.tensor(upstream)).sum().backward()
    numeric = numeric_grad(lambda a: pool(mg.tensor(a), norm_type, kernel_size, stride, True).data, [x], 0,
                           weights=upstream)
    np.testing.assert_allclose(ours.grad, numeric, rtol=1e-6, atol=1e-7)
