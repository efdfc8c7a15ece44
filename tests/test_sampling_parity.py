"""Spatial sampling against PyTorch: ``affine_grid``, ``grid_sample``, bicubic and
anti-aliased ``interpolate``, ``scale_grad_by_freq`` of the embedding, and adaptive average
pooling of inputs holding inf. Values and gradients are compared with torch (the ``torch``
fixture) and with central finite differences in float64 (``numeric_grad``)."""

import itertools
import warnings

import numpy as np
import pytest
from conftest import numeric_grad

import microgradnp as mg
from microgradnp import nn

F = nn.functional


def _backward(out, weights):
    (out * mg.tensor(weights)).sum().backward()


def _torch_backward(torch, out, weights):
    (out * torch.tensor(weights)).sum().backward()


# == affine_grid ===============================================================================
@pytest.mark.parametrize("size", [(2, 3, 4, 5), (2, 1, 3, 4, 2), (2, 1, 1, 3), (1, 2, 1, 1, 4)])
@pytest.mark.parametrize("align_corners", [False, True])
def test_affine_grid_matches_torch_and_finite_differences(torch, rng, size, align_corners):
    dims = len(size) - 2
    theta = rng.standard_normal((size[0], dims, dims + 1))
    ours_theta = mg.tensor(theta, requires_grad=True)
    theirs_theta = torch.tensor(theta, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the unit-size warning with align_corners=True, tested below
        out = F.affine_grid(ours_theta, size, align_corners=align_corners)
        expected = torch.nn.functional.affine_grid(theirs_theta, size, align_corners=align_corners)
    assert out.shape == tuple(expected.shape) and out.dtype == np.float64
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-14)
    weights = rng.standard_normal(out.shape)
    _backward(out, weights)
    _torch_backward(torch, expected, weights)
    np.testing.assert_allclose(ours_theta.grad, theirs_theta.grad.numpy(), rtol=1e-12, atol=1e-13)

    def grid(t):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return F.affine_grid(mg.tensor(t), size, align_corners=align_corners).data

    np.testing.assert_allclose(ours_theta.grad, numeric_grad(grid, [theta], 0, weights=weights), rtol=1e-6,
                               atol=1e-8)


def test_affine_grid_keeps_float32_and_warns_and_refuses_as_torch(torch):
    theta = np.array([[[1.0, 0.2, 0.1], [-0.3, 0.9, 0.0]]], dtype=np.float32)
    out = F.affine_grid(mg.tensor(theta), (1, 1, 3, 4), align_corners=False)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, torch.nn.functional.affine_grid(torch.tensor(theta), (1, 1, 3, 4),
                                                                         align_corners=False).numpy(), rtol=1e-6)
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        F.affine_grid(mg.tensor(theta), (1, 1, 3, 4))
    with pytest.warns(UserWarning, match="unit-size grids"):
        F.affine_grid(mg.tensor(theta), (1, 1, 1, 4), align_corners=True)
    cases = [
        (theta.astype(np.int64), (1, 1, 3, 4), ValueError, "floating point"),
        (theta, (1, 1, 3), NotImplementedError, "4D and 5D"),
        (theta, (1, 1, 3, 3, 3), ValueError, "Nx3x4"),
        (theta, (1, 1, 0, 3), ValueError, "positive output size"),
    ]
    for t, size, error, message in cases:
        with pytest.raises(error, match=message):
            torch.nn.functional.affine_grid(torch.tensor(t), size, align_corners=False)
        with pytest.raises(error, match=message):
            F.affine_grid(t, size, align_corners=False)


# == grid_sample ===============================================================================
def _grid_away_from_kinks(rng, batch, out_spatial, in_spatial, align_corners):
    """A grid whose pixel positions lie away from the kinks (integer and half-integer
    positions: tap changes, rounding ties, clip and reflection edges), from 2 pixels before
    the input to 2 past it, so that finite differences are smooth there."""
    dims = len(in_spatial)
    grid = np.empty((batch, *out_spatial, dims))
    for k, size in enumerate(reversed(in_spatial)):  # grid's x is the last input axis
        whole = rng.integers(-2, size + 2, (batch, *out_spatial))
        fraction = rng.uniform(0.1, 0.4, (batch, *out_spatial)) + rng.integers(0, 2, (batch, *out_spatial)) * 0.5
        position = whole + fraction
        grid[..., k] = (2 * position / (size - 1) - 1) if align_corners else (2 * position + 1) / size - 1
    return grid


_GRID_CASES = ([(2, mode, padding, align) for mode, padding, align in
                itertools.product(("bilinear", "nearest", "bicubic"), ("zeros", "border", "reflection"),
                                  (False, True))]
               + [(3, mode, padding, align) for mode, padding, align in
                  itertools.product(("bilinear", "nearest"), ("zeros", "border", "reflection"), (False, True))])


def _grid_sample_inputs(rng, dims):
    in_spatial, out_spatial = ((5, 4), (3, 4)) if dims == 2 else ((4, 3, 5), (2, 3, 2))
    x = rng.standard_normal((2, 3, *in_spatial))
    return x, in_spatial, out_spatial


@pytest.mark.parametrize(("dims", "mode", "padding_mode", "align_corners"), _GRID_CASES)
def test_grid_sample_matches_torch(torch, rng, dims, mode, padding_mode, align_corners):
    x, _, out_spatial = _grid_sample_inputs(rng, dims)
    grid = rng.uniform(-1.7, 1.7, (2, *out_spatial, dims))  # outside the input too
    ours_x, ours_grid = mg.tensor(x, requires_grad=True), mg.tensor(grid, requires_grad=True)
    theirs_x, theirs_grid = torch.tensor(x, requires_grad=True), torch.tensor(grid, requires_grad=True)
    out = F.grid_sample(ours_x, ours_grid, mode, padding_mode, align_corners)
    expected = torch.nn.functional.grid_sample(theirs_x, theirs_grid, mode, padding_mode, align_corners)
    assert out.shape == tuple(expected.shape) and out.dtype == np.float64
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-13)
    weights = rng.standard_normal(out.shape)
    _backward(out, weights)
    _torch_backward(torch, expected, weights)
    np.testing.assert_allclose(ours_x.grad, theirs_x.grad.numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(ours_grid.grad, theirs_grid.grad.numpy(), rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize(("dims", "mode", "padding_mode", "align_corners"), _GRID_CASES)
def test_grid_sample_gradients_match_finite_differences(rng, dims, mode, padding_mode, align_corners):
    x, in_spatial, out_spatial = _grid_sample_inputs(rng, dims)
    grid = _grid_away_from_kinks(rng, 2, out_spatial, in_spatial, align_corners)
    ours_x, ours_grid = mg.tensor(x, requires_grad=True), mg.tensor(grid, requires_grad=True)
    out = F.grid_sample(ours_x, ours_grid, mode, padding_mode, align_corners)
    weights = rng.standard_normal(out.shape)
    _backward(out, weights)

    def sample(a, g):
        return F.grid_sample(mg.tensor(a), mg.tensor(g), mode, padding_mode, align_corners).data

    np.testing.assert_allclose(ours_x.grad, numeric_grad(sample, [x, grid], 0, weights=weights), atol=1e-7)
    # nearest: piecewise constant in the grid, gradient 0 as PyTorch's (and as the differences)
    np.testing.assert_allclose(ours_grid.grad, numeric_grad(sample, [x, grid], 1, weights=weights), rtol=1e-5,
                               atol=1e-6)


def test_grid_sample_on_a_kink_takes_torchs_side(torch):
    # Positions exactly on the border and on a reflection edge: PyTorch counts them as outside
    # (clip gradient 0), and its tap choice at an integer position decides the one-sided slope.
    x = np.arange(12.0).reshape(1, 1, 3, 4)
    grid = np.array([[[[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0], [-1.0, 0.5]]]])
    for mode, padding, align in itertools.product(("bilinear", "bicubic"), ("zeros", "border", "reflection"),
                                                  (False, True)):
        ours = mg.tensor(grid, requires_grad=True)
        theirs = torch.tensor(grid, requires_grad=True)
        out = F.grid_sample(mg.tensor(x), ours, mode, padding, align)
        expected = torch.nn.functional.grid_sample(torch.tensor(x), theirs, mode, padding, align)
        out.sum().backward()
        expected.sum().backward()
        np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_grid_sample_float32_and_affine_pipeline(torch, rng):
    x = rng.standard_normal((2, 3, 6, 5)).astype(np.float32)
    theta = (np.eye(2, 3)[None] + 0.2 * rng.standard_normal((2, 2, 3))).astype(np.float32)
    ours_theta, theirs_theta = mg.tensor(theta, requires_grad=True), torch.tensor(theta, requires_grad=True)
    ours_x, theirs_x = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out = F.grid_sample(ours_x, F.affine_grid(ours_theta, (2, 3, 4, 7), align_corners=False), align_corners=False)
    expected = torch.nn.functional.grid_sample(
        theirs_x, torch.nn.functional.affine_grid(theirs_theta, (2, 3, 4, 7), align_corners=False),
        align_corners=False)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-5, atol=1e-5)
    out.sum().backward()
    expected.sum().backward()
    assert ours_theta.grad.dtype == np.float32
    np.testing.assert_allclose(ours_x.grad, theirs_x.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours_theta.grad, theirs_theta.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_grid_sample_refuses_as_torch(torch):
    x, grid = np.zeros((1, 1, 3, 3)), np.zeros((1, 2, 2, 2))
    cases = [
        (x, grid, {"mode": "foo"}, ValueError, "expected mode"),
        (x, grid, {"padding_mode": "foo"}, ValueError, "expected padding_mode"),
        (x, np.zeros((1, 2, 2, 3)), {}, RuntimeError, "size 2 in last dimension"),
        (np.zeros((2, 1, 3, 3)), grid, {}, RuntimeError, "same batch size"),
        (np.zeros((1, 1, 3, 3, 3)), np.zeros((1, 2, 2, 2, 3)), {"mode": "bicubic"}, RuntimeError, "bicubic"),
        (x.astype(np.float32), grid, {}, RuntimeError, None),  # (torch: "expected scalar type Float")
    ]
    for a, g, kwargs, error, message in cases:
        with pytest.raises(error, match=message):
            torch.nn.functional.grid_sample(torch.tensor(a), torch.tensor(g), align_corners=False, **kwargs)
        with pytest.raises(error, match=message):
            F.grid_sample(mg.tensor(a), mg.tensor(g), align_corners=False, **kwargs)
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        F.grid_sample(mg.tensor(x), mg.tensor(grid))
    # The input's gradient does not depend on the input (grid_sample is linear in it): a
    # second derivative in the input is refused, as by PyTorch.
    ours = mg.tensor(np.ones((1, 1, 3, 3)), requires_grad=True)
    (g,) = mg.grad(F.grid_sample(ours, mg.tensor(grid), align_corners=False).sum(), [ours], create_graph=True)
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.grad(g.sum(), [ours])
    theirs = torch.tensor(np.ones((1, 1, 3, 3)), requires_grad=True)
    (g,) = torch.autograd.grad(torch.nn.functional.grid_sample(theirs, torch.tensor(grid), align_corners=False).sum(),
                               [theirs], create_graph=True)
    with pytest.raises(RuntimeError, match="not have been used in the graph"):
        torch.autograd.grad(g.sum(), [theirs])


# == interpolate: bicubic and antialias ========================================================
_RESIZES = [{"size": (13, 17)}, {"size": (4, 5)}, {"scale_factor": 2.3}, {"scale_factor": 0.37},
            {"scale_factor": (0.5, 1.7)}, {"size": (9, 11)}, {"size": (1, 1)}]


_RESAMPLINGS = [("bicubic", False), ("bicubic", True), ("bilinear", True)]  # (plain bilinear: tested elsewhere)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("mode", "antialias", "align_corners", "resize"),
                         [(*m, a, r) for m, a, r in itertools.product(_RESAMPLINGS, (False, True), _RESIZES)])
def test_interpolate_bicubic_and_antialias_match_torch(torch, rng, antialias, dtype, mode, align_corners, resize):
    x = rng.standard_normal((2, 3, 9, 11)).astype(dtype)
    ours_x, theirs_x = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out = F.interpolate(ours_x, mode=mode, align_corners=align_corners, antialias=antialias, **resize)
    expected = torch.nn.functional.interpolate(theirs_x, mode=mode, align_corners=align_corners,
                                               antialias=antialias, **resize)
    assert out.shape == tuple(expected.shape) and out.dtype == dtype
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=tolerance, atol=tolerance)
    weights = rng.standard_normal(out.shape).astype(dtype)
    _backward(out, weights)
    _torch_backward(torch, expected, weights)
    np.testing.assert_allclose(ours_x.grad, theirs_x.grad.numpy(), rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize(("mode", "antialias"), _RESAMPLINGS)
@pytest.mark.parametrize("resize", [{"size": (7, 3)}, {"scale_factor": 1.6}])
def test_interpolate_bicubic_and_antialias_gradients_match_finite_differences(rng, mode, antialias, resize):
    x = rng.standard_normal((1, 2, 5, 6))
    ours = mg.tensor(x, requires_grad=True)
    out = F.interpolate(ours, mode=mode, antialias=antialias, **resize)
    weights = rng.standard_normal(out.shape)
    _backward(out, weights)

    def resized(a):
        return F.interpolate(mg.tensor(a), mode=mode, antialias=antialias, **resize).data

    np.testing.assert_allclose(ours.grad, numeric_grad(resized, [x], 0, weights=weights), atol=1e-7)


def test_interpolate_bicubic_overshoots_and_upsample_layer(torch):
    step = np.zeros((1, 1, 1, 6))
    step[..., 3:] = 1.0
    out = F.interpolate(mg.tensor(step), size=(1, 12), mode="bicubic", align_corners=False)
    assert out.data.min() < 0 and out.data.max() > 1  # the cubic kernel's ringing, as PyTorch's
    expected = torch.nn.functional.interpolate(torch.tensor(step), size=(1, 12), mode="bicubic", align_corners=False)
    np.testing.assert_allclose(out.data, expected.numpy(), rtol=1e-12, atol=1e-14)
    layer = nn.Upsample(scale_factor=2, mode="bicubic", align_corners=True)
    np.testing.assert_allclose(
        layer(mg.tensor(step)).data,
        torch.nn.Upsample(scale_factor=2, mode="bicubic", align_corners=True)(torch.tensor(step)).numpy(), rtol=1e-12)


def test_interpolate_antialias_and_bicubic_refuse_as_torch(torch):
    cases = [
        (np.zeros((1, 2, 5)), {"size": 3, "mode": "linear", "antialias": True}),
        (np.zeros((1, 2, 5, 4)), {"size": 3, "mode": "nearest", "antialias": True}),
        (np.zeros((1, 2, 5, 4)), {"size": 3, "mode": "area", "antialias": True}),
        (np.zeros((1, 2, 5, 4, 3)), {"size": 3, "mode": "bilinear", "antialias": True}),
    ]
    for x, kwargs in cases:
        with pytest.raises(ValueError, match=r"(?i)anti-alias"):
            torch.nn.functional.interpolate(torch.tensor(x), **kwargs)
        with pytest.raises(ValueError, match=r"(?i)anti-alias"):
            F.interpolate(mg.tensor(x), **kwargs)
    for shape in [(1, 2, 5), (1, 2, 5, 4, 3)]:  # bicubic is 2-D only
        with pytest.raises(NotImplementedError):
            torch.nn.functional.interpolate(torch.zeros(shape), size=3, mode="bicubic")
        with pytest.raises(NotImplementedError, match="bicubic"):
            F.interpolate(mg.zeros(shape), size=3, mode="bicubic")


# == embedding: scale_grad_by_freq =============================================================
@pytest.mark.parametrize("padding_idx", [None, 1, 0])
@pytest.mark.parametrize("max_norm", [None, 0.5])
def test_embedding_scale_grad_by_freq_matches_torch(torch, rng, padding_idx, max_norm):
    table = rng.standard_normal((6, 3))
    indices = np.array([[1, 2, 1], [5, 1, 0]])
    weights = rng.standard_normal((2, 3, 3))
    ours = mg.tensor(table, requires_grad=True)
    theirs = torch.tensor(table, requires_grad=True)
    out = F.embedding(indices, ours, padding_idx=padding_idx, max_norm=max_norm, scale_grad_by_freq=True)
    expected = torch.nn.functional.embedding(torch.tensor(indices), theirs, padding_idx=padding_idx,
                                             max_norm=max_norm, scale_grad_by_freq=True)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12)
    _backward(out, weights)
    _torch_backward(torch, expected, weights)
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-12, atol=1e-15)
    # The true gradient (finite differences of the rows as looked up) divided by each row's count.
    rows = ours.data.copy()

    def lookup(w):
        return F.embedding(indices, mg.tensor(w), padding_idx=padding_idx).data

    counts = np.maximum(np.bincount(indices.ravel(), minlength=6), 1)[:, None]
    expected_grad = numeric_grad(lookup, [rows], 0, weights=weights) / counts
    if padding_idx is not None:
        expected_grad[padding_idx] = 0  # the padding row is not trained
    np.testing.assert_allclose(ours.grad, expected_grad, atol=1e-8)


def test_embedding_module_scale_grad_by_freq_and_second_order(torch, rng):
    layer = nn.Embedding(5, 2, padding_idx=4, scale_grad_by_freq=True, dtype=np.float64)
    reference = torch.nn.Embedding(5, 2, padding_idx=4, scale_grad_by_freq=True).double()
    with torch.no_grad():
        reference.weight.copy_(torch.tensor(layer.weight.data))
    assert repr(layer).startswith(repr(reference))
    indices = np.array([3, 3, 3, 0, 4, 4])
    layer(indices).sum().backward()
    reference(torch.tensor(indices)).sum().backward()
    np.testing.assert_allclose(layer.weight.grad, reference.weight.grad.numpy(), rtol=1e-12)
    # The scaled gradient is linear in the output gradient: differentiating it again
    # (through the scatter and its adjoint gather) gives the same scale.
    upstream = mg.tensor(rng.standard_normal((6, 2)), requires_grad=True)
    (grad_table,) = mg.grad((layer(indices) * upstream).sum(), [layer.weight], create_graph=True)
    probe = rng.standard_normal((5, 2))
    (second,) = mg.grad((grad_table * mg.tensor(probe)).sum(), [upstream])
    scale = 1 / np.bincount(indices, minlength=5)[indices][:, None]
    expected = np.where((indices == 4)[:, None], 0.0, probe[indices] * scale)
    np.testing.assert_allclose(np.asarray(getattr(second, "data", second)), expected, rtol=1e-12)
    with pytest.raises(NotImplementedError, match="sparse"):
        nn.Embedding(5, 2, sparse=True)


# == adaptive average pooling with inf ===========================================================
@pytest.mark.parametrize(("name", "shape", "output_size"), [
    ("adaptive_avg_pool1d", (2, 3, 10), 4),
    ("adaptive_avg_pool2d", (2, 3, 10, 7), (4, 3)),
    ("adaptive_avg_pool3d", (2, 2, 6, 7, 5), (4, 3, 2)),
])
def test_adaptive_avg_pool_keeps_inf_in_its_windows(torch, rng, name, shape, output_size):
    x = rng.standard_normal(shape)
    flat = x.reshape(-1)
    flat[3], flat[-5], flat[x.size // 2] = np.inf, -np.inf, np.nan
    ours = mg.tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    out = getattr(F, name)(ours, output_size)
    expected = getattr(torch.nn.functional, name)(theirs, output_size)
    assert np.isfinite(out.data).sum() > 0 and not np.isfinite(out.data).all()
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12)  # inf/nan at the same places
    weights = rng.standard_normal(out.shape)
    _backward(out, weights)
    _torch_backward(torch, expected, weights)
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(("name", "shape", "output_size"), [
    ("adaptive_avg_pool1d", (2, 3, 10), 4),
    ("adaptive_avg_pool2d", (1, 2, 7, 5), (3, None)),
    ("adaptive_avg_pool3d", (1, 1, 4, 5, 3), 2),
])
def test_adaptive_avg_pool_gradients_match_finite_differences_and_torch(torch, rng, name, shape, output_size):
    x = rng.standard_normal(shape)
    ours = mg.tensor(x, requires_grad=True)
    out = getattr(F, name)(ours, output_size)
    weights = rng.standard_normal(out.shape)
    _backward(out, weights)
    pooled = lambda a: getattr(F, name)(mg.tensor(a), output_size).data  # noqa: E731
    np.testing.assert_allclose(ours.grad, numeric_grad(pooled, [x], 0, weights=weights), atol=1e-8)
    theirs = torch.tensor(x, requires_grad=True)
    _torch_backward(torch, getattr(torch.nn.functional, name)(theirs, output_size), weights)
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-12, atol=1e-15)
    # second order: the input gradient is linear in the output gradient (grad @ averages), so
    # differentiating it along a probe gives the pooled probe
    upstream = mg.tensor(weights, requires_grad=True)
    source = mg.tensor(x, requires_grad=True)
    (grad_x,) = mg.grad((getattr(F, name)(source, output_size) * upstream).sum(), [source], create_graph=True)
    probe = rng.standard_normal(shape)
    (second,) = mg.grad((grad_x * mg.tensor(probe)).sum(), [upstream])
    np.testing.assert_allclose(np.asarray(getattr(second, "data", second)), pooled(probe), rtol=1e-12)


# == inplace=True on the activations =============================================================
_IN_PLACE_ACTIVATIONS = {
    "relu": {}, "relu6": {}, "leaky_relu": {"negative_slope": 0.2}, "elu": {"alpha": 0.7}, "selu": {},
    "celu": {"alpha": 1.3}, "hardtanh": {"min_val": -0.5, "max_val": 2.0}, "hardsigmoid": {}, "hardswish": {},
    "silu": {}, "mish": {}, "threshold": {"threshold": 0.3, "value": -2.0}, "rrelu": {},
}


@pytest.mark.parametrize("name", sorted(_IN_PLACE_ACTIVATIONS))
def test_inplace_activation_writes_its_input_as_torch(torch, rng, name):
    kwargs = _IN_PLACE_ACTIVATIONS[name]
    ours_f, theirs_f = getattr(F, name), getattr(torch.nn.functional, name)
    x = rng.standard_normal((3, 4)) * 3
    # a plain tensor: written in place and returned
    ours, theirs = mg.tensor(x.copy()), torch.tensor(x.copy())
    assert ours_f(ours, inplace=True, **kwargs) is ours
    assert theirs_f(theirs, inplace=True, **kwargs) is theirs
    np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-12)
    assert ours._version == 1
    # through a non-leaf: the same tensor, in the graph; gradients as torch's (whose in-place
    # selu/elu backward works from the result: within 1e-7)
    leaf, their_leaf = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    hidden, their_hidden = leaf * 1.5, their_leaf * 1.5
    out, their_out = ours_f(hidden, inplace=True, **kwargs), theirs_f(their_hidden, inplace=True, **kwargs)
    assert out is hidden and out.grad_fn is not None
    (out * out).sum().backward()
    (their_out * their_out).sum().backward()
    np.testing.assert_allclose(leaf.grad, their_leaf.grad.numpy(), rtol=1e-6, atol=1e-12)
    # and against finite differences of the out-of-place function
    weights = 2 * out.data

    def activated(a):
        return ours_f(mg.tensor(a) * 1.5, **kwargs).data

    np.testing.assert_allclose(leaf.grad, numeric_grad(activated, [x], 0, weights=weights), rtol=1e-5, atol=1e-7)
    # a leaf that requires grad is refused, as torch
    with pytest.raises(RuntimeError, match="in-place"):
        theirs_f(torch.tensor(x, requires_grad=True), inplace=True, **kwargs)
    with pytest.raises(RuntimeError, match="requires grad"):
        ours_f(mg.tensor(x, requires_grad=True), inplace=True, **kwargs)
    # a node that saved the old values (exp saves its output) raises at backward, as torch
    leaf, their_leaf = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    saved, their_saved = leaf.exp(), their_leaf.exp()
    ours_f(saved, inplace=True, **kwargs)
    theirs_f(their_saved, inplace=True, **kwargs)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        their_saved.sum().backward()
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        saved.sum().backward()


def test_inplace_modules_train_as_torch(torch, rng):
    x = rng.standard_normal((16, 5))
    ours = nn.Sequential(nn.Linear(5, 8, dtype=np.float64), nn.BatchNorm1d(8, dtype=np.float64), nn.ReLU(inplace=True),
                         nn.Linear(8, 6, dtype=np.float64), nn.Hardtanh(-0.5, 0.5, inplace=True),
                         nn.Linear(6, 3, dtype=np.float64), nn.ELU(inplace=True))
    theirs = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(inplace=True),
                                 torch.nn.Linear(8, 6), torch.nn.Hardtanh(-0.5, 0.5, inplace=True),
                                 torch.nn.Linear(6, 3), torch.nn.ELU(inplace=True)).double()
    with torch.no_grad():
        for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
            q.copy_(torch.tensor(p.data))
    for _ in range(2):
        out, expected = ours(mg.tensor(x)), theirs(torch.tensor(x))
        np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-10)
        (out ** 2).sum().backward()
        (expected ** 2).sum().backward()
        for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
            np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-8, atol=1e-12)
        with mg.no_grad():
            for p in ours.parameters():
                p -= 0.1 * p.grad
                p.grad = None
        with torch.no_grad():
            for q in theirs.parameters():
                q -= 0.1 * q.grad
                q.grad = None


def test_inplace_activation_keeps_hooks_on_the_old_version_and_refuses_what_it_cannot_record(torch):
    x = np.array([-1.0, 0.5, 2.0])
    leaf, their_leaf = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    hidden, their_hidden = leaf * 2, their_leaf * 2
    seen, their_seen = [], []
    hidden.register_hook(lambda g: seen.append(np.array(g)))
    their_hidden.register_hook(lambda g: their_seen.append(g.numpy().copy()))
    nn.ReLU(inplace=True)(hidden).sum().backward()
    torch.nn.ReLU(inplace=True)(their_hidden).sum().backward()
    np.testing.assert_array_equal(seen[0], their_seen[0])  # the old version's gradient: [0, 1, 1]
    np.testing.assert_array_equal(leaf.grad, their_leaf.grad.numpy())
    # Where microgradnp's graph cannot take the write (a node already read the tensor) it
    # refuses instead of guessing.
    hidden = leaf * 2
    unrelated = leaf * 3  # noqa: F841  (recorded after `hidden` but not from it: no matter)
    assert F.relu(hidden, inplace=True) is hidden
    used = hidden + 1  # noqa: F841  (reads `hidden`: its gradient must not pass a later relu)
    with pytest.raises(RuntimeError, match="already an input of an operation"):
        F.relu(hidden, inplace=True)
    np.testing.assert_array_equal(hidden.data, np.maximum(2 * x, 0))  # refused before writing
    # A view of another tensor in the graph: written through into it, as in PyTorch.
    leaf.grad, their_leaf.grad = None, None
    doubled, their_doubled = leaf * 2, their_leaf * 2
    F.relu(doubled[:2], inplace=True)
    torch.nn.functional.relu(their_doubled[:2], inplace=True)
    (doubled * doubled).sum().backward()
    (their_doubled * their_doubled).sum().backward()
    np.testing.assert_array_equal(doubled.data, their_doubled.detach().numpy())
    np.testing.assert_array_equal(leaf.grad, their_leaf.grad.numpy())
    with mg.no_grad():  # without recording, a leaf that requires grad may be written, as in torch
        written = mg.tensor(x, requires_grad=True)
        assert F.relu(written, inplace=True) is written
    np.testing.assert_array_equal(written.data, np.maximum(x, 0))


def test_inplace_activation_under_compile_runs_eagerly_with_the_same_results(torch):
    model = nn.Sequential(nn.Linear(3, 4, dtype=np.float64), nn.ReLU(inplace=True), nn.Linear(4, 1, dtype=np.float64))
    x = mg.tensor(np.random.default_rng(0).standard_normal((5, 3)))

    def step(batch):
        loss = (model(batch) ** 2).sum()
        loss.backward()
        return loss

    expected = float(step(x).data)
    grads = [p.grad.copy() for p in model.parameters()]
    compiled = mg.compile(step)
    for _ in range(2):
        model.zero_grad()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "runs eagerly from now on": every alias must see the write
            assert float(compiled(x).data) == expected
        for p, g in zip(model.parameters(), grads, strict=True):
            np.testing.assert_array_equal(p.grad, g)
    # integers keep their dtype where torch's in-place form takes them
    ints, their_ints = mg.tensor(np.array([-3, 2, 9])).long(), torch.tensor([-3, 2, 9])
    assert F.relu6(ints, inplace=True) is ints
    np.testing.assert_array_equal(ints.data, torch.nn.functional.relu6(their_ints, inplace=True).numpy())
    assert ints.dtype == np.int64
