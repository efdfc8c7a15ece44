"""Fractional max pooling (``nn.FractionalMaxPool2d``/``3d`` and their functions): windows and
maxima against a direct transcription of PyTorch's algorithm and against PyTorch itself
(optional oracle), gradients against finite differences, and the errors."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import nn
from microgradnp.nn import functional as F


def reference(x, kernel, out, samples):
    """PyTorch's loops: per plane, the window starts from the plane's samples (W then H in
    2-D, T H W in 3-D) in the input's dtype, and the first maximum (the last NaN) in each."""
    ndim = len(kernel)
    lead, spatial = x.shape[:-ndim], x.shape[-ndim:]
    planes = x.reshape(-1, *spatial)
    samples = samples.reshape(-1, ndim).astype(x.dtype)
    values = np.empty((len(planes), *out), dtype=x.dtype)
    indices = np.empty((len(planes), *out), dtype=np.int64)
    for p, plane in enumerate(planes):
        order = (1, 0) if ndim == 2 else (0, 1, 2)
        starts = []
        for d in range(ndim):
            sample, n, o, k = samples[p, order[d]], spatial[d], out[d], kernel[d]
            alpha = x.dtype.type(n - k) / x.dtype.type(o - 1) if o > 1 else None
            seq = [int((x.dtype.type(i) + sample) * alpha) - int(sample * alpha) for i in range(o - 1)]
            starts.append([*seq, n - k])
        for position in itertools.product(*(range(o) for o in out)):
            best, where = -np.inf, None
            corner = [starts[d][position[d]] for d in range(ndim)]
            for offset in itertools.product(*(range(k) for k in kernel)):
                at = tuple(c + o for c, o in zip(corner, offset))
                value = plane[at]
                if where is None:
                    where = at
                if value > best or np.isnan(value):
                    best, where = value, at
            values[(p, *position)] = plane[where]
            indices[(p, *position)] = np.ravel_multi_index(where, spatial)
    return values.reshape(*lead, *out), indices.reshape(*lead, *out)


CASES = [((2, 3, 10, 9), 2, (5, 4)), ((3, 7, 7), (3, 2), (4, 5)), ((1, 2, 7, 8, 9), 2, (3, 4, 5)),
         ((2, 6, 7, 8), 3, (3, 4, 5)), ((1, 1, 5, 5), 3, (3, 3))]


def _pool(ndim):
    return F.fractional_max_pool2d if ndim == 2 else F.fractional_max_pool3d


@pytest.mark.parametrize(("shape", "kernel", "out"), CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_windows_and_maxima_follow_pytorchs_algorithm(shape, kernel, out, dtype, rng):
    ndim = len(out)
    x = rng.standard_normal(shape).astype(dtype)
    samples = rng.random((shape[0] if len(shape) == ndim + 2 else 1, shape[-ndim - 1], ndim))
    values, indices = _pool(ndim)(mg.tensor(x), kernel, out, return_indices=True, _random_samples=samples)
    expected_values, expected_indices = reference(x, (kernel,) * ndim if isinstance(kernel, int) else kernel,
                                                  out, samples)
    np.testing.assert_array_equal(indices.data, expected_indices)
    np.testing.assert_array_equal(values.data, expected_values)
    assert values.dtype == dtype and indices.dtype == np.int64


def test_a_nan_is_the_maximum_and_the_last_nan_wins(rng):
    x = rng.standard_normal((1, 1, 6, 6))
    x[0, 0, 1, 1] = x[0, 0, 1, 2] = np.nan
    samples = rng.random((1, 1, 2))
    values, indices = F.fractional_max_pool2d(mg.tensor(x), 3, (3, 3), return_indices=True, _random_samples=samples)
    expected_values, expected_indices = reference(x, (3, 3), (3, 3), samples)
    np.testing.assert_array_equal(indices.data, expected_indices)
    np.testing.assert_array_equal(values.data, expected_values)  # (NaN where they are NaN)
    assert np.isnan(values.data).any()


@pytest.mark.parametrize(("shape", "kernel", "out"), CASES[:4])
def test_values_indices_and_gradients_match_torch(torch, shape, kernel, out, rng):
    ndim = len(out)
    x = rng.standard_normal(shape)
    samples = rng.random((shape[0] if len(shape) == ndim + 2 else 1, shape[-ndim - 1], ndim))
    t = torch.tensor(x, requires_grad=True)
    torch_pool = torch.nn.functional.fractional_max_pool2d if ndim == 2 else torch.nn.functional.fractional_max_pool3d
    t_values, t_indices = torch_pool(t, kernel, out, return_indices=True, _random_samples=torch.tensor(samples))
    m = mg.tensor(x, requires_grad=True)
    values, indices = _pool(ndim)(m, kernel, out, return_indices=True, _random_samples=samples)
    np.testing.assert_array_equal(values.data, t_values.detach().numpy())
    np.testing.assert_array_equal(indices.data, t_indices.numpy())
    weights = rng.standard_normal(values.shape)
    (values * weights).sum().backward()
    (t_values * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(m.grad, t.grad.numpy(), rtol=1e-12)


def test_the_gradient_goes_to_each_maximum_and_adds_up_where_windows_share_it(rng):
    x = rng.standard_normal((2, 2, 7, 7))  # distinct values: the maxima move by less than the gaps
    samples = rng.random((2, 2, 2))
    assert mg.gradcheck(lambda t: F.fractional_max_pool2d(t, 3, (5, 5), _random_samples=samples),
                        [mg.tensor(x, requires_grad=True)], atol=1e-6, rtol=1e-4)


def test_output_ratio_and_the_layers(rng):
    x = mg.tensor(rng.standard_normal((2, 3, 9, 10)))
    samples = rng.random((2, 3, 2))
    by_ratio = F.fractional_max_pool2d(x, 2, output_ratio=(0.5, 0.7), _random_samples=samples)
    assert by_ratio.shape == (2, 3, 4, 7)
    np.testing.assert_array_equal(by_ratio.data, F.fractional_max_pool2d(x, 2, (4, 7), _random_samples=samples).data)
    layer = nn.FractionalMaxPool2d(2, output_ratio=0.5, _random_samples=mg.tensor(samples))
    np.testing.assert_array_equal(layer(x).data, F.fractional_max_pool2d(x, 2, (4, 5), _random_samples=samples).data)
    assert "_random_samples" in dict(layer.named_buffers())
    values, indices = nn.FractionalMaxPool3d(2, output_size=(2, 3, 4), return_indices=True)(mg.ones(1, 2, 4, 5, 6))
    assert values.shape == indices.shape == (1, 2, 2, 3, 4)
    values, indices = F.fractional_max_pool2d_with_indices(x, 2, (4, 5))
    assert indices.dtype == np.int64


def test_drawn_samples_come_from_microgradnps_generator(rng):
    x = mg.tensor(rng.standard_normal((4, 3, 12, 12)))
    mg.manual_seed(3)
    first = F.fractional_max_pool2d(x, 2, (5, 5))
    mg.manual_seed(3)
    np.testing.assert_array_equal(F.fractional_max_pool2d(x, 2, (5, 5)).data, first.data)
    assert not np.array_equal(F.fractional_max_pool2d(x, 2, (5, 5)).data, first.data)


def test_a_compiled_function_draws_new_windows_at_every_call(rng):
    x = mg.tensor(rng.standard_normal((4, 3, 12, 12)))

    @mg.compile
    def pooled(t):
        return F.fractional_max_pool2d(t, 2, (5, 5))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (it runs eagerly, and says so)
        outputs = [pooled(x).data for _ in range(3)]
    assert not np.array_equal(outputs[1], outputs[2])


@pytest.mark.parametrize(("call", "message"), [
    (lambda x: F.fractional_max_pool2d(x, 2), "either an output_size or an output_ratio"),
    (lambda x: F.fractional_max_pool2d(x, 4, (4, 4)), "output_size \\+ kernel_size - 1 <= 6"),
    (lambda x: F.fractional_max_pool2d(x, 2, (3, 3), _random_samples=np.zeros((1, 2, 2))), "_random_samples"),
    (lambda x: F.fractional_max_pool2d(x[0, 0], 2, (3, 3)), "expected a non-empty input"),
    (lambda x: F.fractional_max_pool3d(mg.ones(1, 1, 5, 5, 5), 3, (3, 3, 3)), "kernel_size - 1 <= 4"),
    (lambda x: nn.FractionalMaxPool2d(2), "either an output size, or a pooling ratio"),
    (lambda x: nn.FractionalMaxPool2d(2, 3, 0.5), "only one of output_size and output_ratio"),
    (lambda x: nn.FractionalMaxPool2d(2, output_ratio=1.5), "between 0 and 1"),
])
def test_errors_say_what_is_wrong(call, message):
    with pytest.raises(ValueError, match=message):
        call(mg.ones(2, 3, 6, 6))
