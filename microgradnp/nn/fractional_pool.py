"""Fractional max pooling (Graham, 2014), as ``torch.nn.FractionalMaxPool2d`` and ``3d``: the
maximum over ``kernel_size`` windows whose starts step by a random, non-integer stride, so
that the output has any size between the input's and the input's minus the kernel's."""

from __future__ import annotations

import itertools
import math
import numbers

import numpy as np

from microgradnp import ops
from microgradnp.errors import InvalidArgumentError
from microgradnp.nn.extra_losses import eager_only
from microgradnp.nn.module import Module
from microgradnp.tensor import Tensor, _data, _rng

__all__ = ["FractionalMaxPool2d", "FractionalMaxPool3d", "fractional_max_pool2d", "fractional_max_pool2d_with_indices",
           "fractional_max_pool3d", "fractional_max_pool3d_with_indices"]

_AXES = {2: "H, W", 3: "T, H, W"}


def _sizes(name: str, what: str, value, ndim: int, kind) -> tuple:
    sizes = tuple(value) if isinstance(value, tuple | list) else (value,) * ndim
    if len(sizes) != ndim or not all(isinstance(s, kind) and not isinstance(s, bool) for s in sizes):
        raise InvalidArgumentError(f"{name}: {what} must be a number or a tuple of {ndim}, got {value!r}")
    return sizes


def _starts(sample: np.ndarray, size: int, out: int, pool: int) -> np.ndarray:
    """The window starts along one axis for each plane's ``sample`` in [0, 1), as PyTorch's
    ``generate_intervals``: in the input's floating dtype, truncated towards zero."""
    dtype = sample.dtype.type
    starts = np.empty((len(sample), out), dtype=np.int64)
    if out > 1:
        alpha = dtype(size - pool) / dtype(out - 1)
        steps = np.arange(out - 1).astype(sample.dtype)
        starts[:, :-1] = ((steps + sample[:, None]) * alpha).astype(np.int64) - (sample * alpha).astype(
            np.int64)[:, None]
    if out > 0:
        starts[:, -1] = size - pool
    return starts


def _fractional_max_pool(name: str, ndim: int, input, kernel_size, output_size, output_ratio,  # noqa: A002
                         return_indices: bool, random_samples):
    shape = tuple(np.shape(_data(input)))
    if len(shape) not in (ndim + 1, ndim + 2) or 0 in shape[-ndim - 1:]:
        raise InvalidArgumentError(f"{name}: expected a non-empty input (N, C, {_AXES[ndim]}) or "
                                   f"(C, {_AXES[ndim]}), got shape {shape}")
    kernel = _sizes(name, "kernel_size", kernel_size, ndim, numbers.Integral)
    spatial = shape[-ndim:]
    if output_size is None:
        if output_ratio is None:
            raise InvalidArgumentError(f"{name} requires specifying either an output_size or an output_ratio")
        ratios = _sizes(name, "output_ratio", output_ratio, ndim, numbers.Real)
        output_size = tuple(int(n * r) for n, r in zip(spatial, ratios, strict=True))
    out = _sizes(name, "output_size", output_size, ndim, numbers.Integral)
    for axis, n, k, o in zip(_AXES[ndim].split(", "), spatial, kernel, out, strict=True):
        largest = n if ndim == 2 else n - 1  # (PyTorch's 3-D version also refuses n itself)
        if k <= 0 or o <= 0 or o + k - 1 > largest:
            raise InvalidArgumentError(f"{name}(): pool size {k} and output size {o} along {axis} do not fit its "
                                       f"input size {n}: they need output_size + kernel_size - 1 <= {largest}")
    data = np.asarray(_data(input))
    if data.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating-point input, got {data.dtype}")
    samples_shape = (shape[0] if len(shape) == ndim + 2 else 1, shape[-ndim - 1], ndim)
    planes = samples_shape[0] * samples_shape[1]
    if random_samples is None:
        random_samples = _rng(None).random(samples_shape)
    samples = np.asarray(_data(random_samples))
    if samples.shape != samples_shape:
        raise InvalidArgumentError(f"{name}: _random_samples must have shape (N, C, {ndim}) = {samples_shape}, got "
                                   f"{samples.shape}")
    eager_only(f"{name} (its windows and the positions of their maxima are found in NumPy)")
    samples = samples.astype(data.dtype).reshape(planes, ndim)
    # PyTorch's samples: (W, H) for 2-D, (T, H, W) for 3-D
    order = (1, 0) if ndim == 2 else (0, 1, 2)
    starts = [_starts(samples[:, order[d]], spatial[d], out[d], kernel[d]) for d in range(ndim)]
    # Every window's flat positions, in PyTorch's scan order (the first axis outermost).
    strides = [math.prod(spatial[d + 1:]) for d in range(ndim)]
    offsets = np.array([sum(o * s for o, s in zip(offset, strides, strict=True))
                        for offset in itertools.product(*(range(k) for k in kernel))])
    corners = sum((starts[d] * strides[d]).reshape(planes, *(-1 if e == d else 1 for e in range(ndim)))
                  for d in range(ndim))
    windows = corners.reshape(planes, -1, 1) + offsets  # (planes, outputs, window)
    flat = data.reshape(planes, -1)
    values = np.take_along_axis(flat, windows.reshape(planes, -1), axis=1).reshape(windows.shape)
    # The first maximum, as PyTorch's strict >; a NaN replaces it, and so does every later NaN.
    nan = np.isnan(values)
    pick = np.where(nan.any(axis=-1), windows.shape[-1] - 1 - np.argmax(nan[..., ::-1], axis=-1),
                    np.argmax(np.where(nan, -np.inf, values), axis=-1))
    indices = np.take_along_axis(windows, pick[..., None], axis=-1)[..., 0].reshape(*shape[:-ndim], *out)
    lead = shape[:-ndim]
    result = ops.reshape(ops.take_along_axis(ops.reshape(input, (*lead, -1)), indices.reshape(*lead, -1), axis=-1),
                         (*lead, *out))
    return (result, Tensor(indices, dtype=np.int64)) if return_indices else result


def fractional_max_pool2d(input, kernel_size, output_size=None, output_ratio=None,  # noqa: A002
                          return_indices: bool = False, _random_samples=None):
    """Fractional max pooling over (H, W) of ``(N, C, H, W)`` or ``(C, H, W)``, as
    ``torch.nn.functional.fractional_max_pool2d``: ``output_size`` (or ``output_ratio`` of
    the input's size) windows of ``kernel_size`` per axis, whose starts are drawn from one
    sample in [0, 1) per plane and axis (``_random_samples``, (N, C, 2), else drawn from
    microgradnp's generator); with ``return_indices`` also the maxima's flat positions
    ``h * W + w``. The gradient goes to those positions."""
    return _fractional_max_pool("fractional_max_pool2d", 2, input, kernel_size, output_size, output_ratio,
                                return_indices, _random_samples)


def fractional_max_pool3d(input, kernel_size, output_size=None, output_ratio=None,  # noqa: A002
                          return_indices: bool = False, _random_samples=None):
    """``fractional_max_pool2d`` over (T, H, W) of ``(N, C, T, H, W)`` or ``(C, T, H, W)``, as
    ``torch.nn.functional.fractional_max_pool3d`` (``_random_samples`` (N, C, 3))."""
    return _fractional_max_pool("fractional_max_pool3d", 3, input, kernel_size, output_size, output_ratio,
                                return_indices, _random_samples)


def fractional_max_pool2d_with_indices(input, kernel_size, output_size=None, output_ratio=None,  # noqa: A002
                                       return_indices: bool = False, _random_samples=None):
    """``fractional_max_pool2d(..., return_indices=True)``; ``return_indices`` is ignored, as in PyTorch."""
    return fractional_max_pool2d(input, kernel_size, output_size, output_ratio, True, _random_samples)


def fractional_max_pool3d_with_indices(input, kernel_size, output_size=None, output_ratio=None,  # noqa: A002
                                       return_indices: bool = False, _random_samples=None):
    """``fractional_max_pool3d(..., return_indices=True)``; ``return_indices`` is ignored, as in PyTorch."""
    return fractional_max_pool3d(input, kernel_size, output_size, output_ratio, True, _random_samples)


class FractionalMaxPool2d(Module):
    """``fractional_max_pool2d`` as a layer, as ``torch.nn.FractionalMaxPool2d``: give
    ``output_size`` or ``output_ratio`` (each in (0, 1)), not both."""

    ndim = 2

    def __init__(self, kernel_size, output_size=None, output_ratio=None, return_indices: bool = False,
                 _random_samples=None):
        super().__init__()
        name = type(self).__name__
        if output_size is None and output_ratio is None:
            raise InvalidArgumentError(f"{name} requires specifying either an output size, or a pooling ratio")
        if output_size is not None and output_ratio is not None:
            raise InvalidArgumentError(f"{name}: only one of output_size and output_ratio may be specified")
        if output_ratio is not None:
            ratios = _sizes(name, "output_ratio", output_ratio, self.ndim, numbers.Real)
            if not all(0 < r < 1 for r in ratios):
                raise InvalidArgumentError(f"{name}: output_ratio must be between 0 and 1 (got {output_ratio})")
        self.kernel_size, self.output_size, self.output_ratio = kernel_size, output_size, output_ratio
        self.return_indices = return_indices
        self.register_buffer("_random_samples", _random_samples)

    def forward(self, input):  # noqa: A002
        pool = fractional_max_pool2d if self.ndim == 2 else fractional_max_pool3d
        return pool(input, self.kernel_size, self.output_size, self.output_ratio, self.return_indices,
                    _random_samples=self._random_samples)


class FractionalMaxPool3d(FractionalMaxPool2d):
    """``fractional_max_pool3d`` as a layer, as ``torch.nn.FractionalMaxPool3d``."""

    ndim = 3
