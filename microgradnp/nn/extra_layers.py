# ruff: noqa: A001, A002  (PyTorch's argument name ``input``)
"""More of ``torch.nn``'s layers and their functional forms: padding, pixel shuffle,
interpolation, transposed convolution, im2col (Unfold/Fold), shrink and gated activations,
randomized leaky ReLU, channel and alpha dropout, instance/RMS/local-response normalization,
the bilinear layer, parameter containers, adaptive max pooling and 3-D pooling.

Everything is written with existing differentiable operations (so gradients of every order
are right), except the two random forwards (``RReLU``'s slopes) that must draw afresh when a
compiled step is replayed, which are one ``Scale`` primitive each, as dropout is.
"""

from __future__ import annotations

import itertools
import math
import numbers
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping

import numpy as np

from microgradnp import ops
from microgradnp.autograd.grad_mode import no_grad
from microgradnp.errors import InvalidArgumentError
from microgradnp.nn import functional as F
from microgradnp.nn import parity as _parity
from microgradnp.nn import sampling as _sampling
from microgradnp.nn.containers import ModuleList
from microgradnp.nn.conv import Conv1d as _ConvLayer
from microgradnp.nn.conv import MaxPool1d as _MaxPoolLayer
from microgradnp.nn.conv import _Pool1d
from microgradnp.nn.extra_losses import _tensor, eager_only
from microgradnp.nn.init import default_layer_init_, ones_, uniform_
from microgradnp.nn.layers import Softmax, _layer_rng
from microgradnp.nn.module import Module, Parameter
from microgradnp.nn.normalization import (
    BatchNorm1d,
    _channels_input,
    _normalize,
    _per_channel,
    _scale_and_shift,
    _shape_tuple,
    _update_running,
)
from microgradnp.ops import conv as _conv
from microgradnp.ops.conv import Fold as _FoldOp
from microgradnp.ops.conv import Geometry, _place_windows, _unbatched, positive_int, positive_ints
from microgradnp.ops.conv import Unfold as _UnfoldOp
from microgradnp.ops.elementwise import Dropout as _DropoutOp
from microgradnp.ops.elementwise import Scale, checked_scalar
from microgradnp.ops.primitive import floating
from microgradnp.tensor import Tensor, _data, _rng, get_default_dtype


def _shape(x) -> tuple[int, ...]:
    return tuple(np.shape(_data(x)))


def _float_dtype(x) -> np.dtype:
    dtype = np.asarray(_data(x)).dtype
    return dtype if dtype.kind == "f" else get_default_dtype()


# == padding ===================================================================================
class _PadNd(Module):
    """Shared code of the padding layers: ``padding`` is an int (every side) or a tuple of
    ``2 * ndim`` widths, last axis first (negative ones crop), as ``nn.functional.pad``."""

    ndim = 1
    mode = "constant"

    def __init__(self, padding):
        super().__init__()
        name = type(self).__name__
        widths = tuple(padding) if isinstance(padding, tuple | list) else (padding,) * (2 * self.ndim)
        if len(widths) != 2 * self.ndim or not all(isinstance(p, numbers.Integral) and not isinstance(p, bool)
                                                   for p in widths):
            raise InvalidArgumentError(
                f"{name}: padding must be an int or a {2 * self.ndim}-tuple of ints (negative ones "
                f"crop), got {padding!r}")
        self.padding, self.value = tuple(int(p) for p in widths), None

    def forward(self, x):
        rank, ndim = len(_shape(x)), self.ndim
        # The copying modes take unbatched or batched inputs; a constant pads anything with enough axes.
        ranks = (ndim + 1, ndim + 2) if self.mode != "constant" else tuple(range(ndim, max(rank, ndim) + 1))
        if rank not in ranks:
            wanted = f"{ndim + 1}D or {ndim + 2}D" if self.mode != "constant" else f"at least {ndim}D"
            raise InvalidArgumentError(f"{type(self).__name__}: expected {wanted} input, got a {rank}D input of shape "
                             f"{_shape(x)}")
        return F.pad(x, self.padding, self.mode, self.value)

    def extra_repr(self) -> str:
        return f"{self.padding}" if self.value is None else f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_PadNd):
    """Pads the last axis with ``value``: ``padding`` is an int or ``(left, right)``, as
    ``torch.nn.ConstantPad1d``."""

    def __init__(self, padding, value: float):
        super().__init__(padding)
        self.value = float(value)


class ConstantPad2d(ConstantPad1d):
    """Pads the last two axes with ``value``: ``padding`` is an int or ``(left, right, top,
    bottom)``, as ``torch.nn.ConstantPad2d``."""

    ndim = 2


class ConstantPad3d(ConstantPad1d):
    """Pads the last three axes with ``value``: ``padding`` is an int or a 6-tuple
    ``(left, right, top, bottom, front, back)``, as ``torch.nn.ConstantPad3d``."""

    ndim = 3


class ZeroPad1d(_PadNd):
    """Pads the last axis with zeros: ``padding`` is an int or ``(left, right)``, as ``torch.nn.ZeroPad1d``."""


class ZeroPad2d(ZeroPad1d):
    """Pads the last two axes with zeros: ``padding`` is an int or ``(left, right, top, bottom)``,
    as ``torch.nn.ZeroPad2d``."""

    ndim = 2


class ZeroPad3d(ZeroPad1d):
    """Pads the last three axes with zeros: ``padding`` is an int or a 6-tuple, as ``torch.nn.ZeroPad3d``."""

    ndim = 3


class ReflectionPad1d(_PadNd):
    """Pads the last axis of a 2D (unbatched) or 3D input: mirrors the input
    without repeating the edge (each width below the axis length), as
    ``torch.nn.ReflectionPad1d``. ``padding`` is an int or a 2-tuple, last axis first
    (``nn.functional.pad`` with mode 'reflect')."""

    mode = "reflect"


class ReflectionPad2d(ReflectionPad1d):
    """Pads the last 2 axes of a 3D (unbatched) or 4D input: mirrors the input
    without repeating the edge (each width below the axis length), as
    ``torch.nn.ReflectionPad2d``. ``padding`` is an int or a 4-tuple, last axis first
    (``nn.functional.pad`` with mode 'reflect')."""

    ndim = 2


class ReflectionPad3d(ReflectionPad1d):
    """Pads the last 3 axes of a 4D (unbatched) or 5D input: mirrors the input
    without repeating the edge (each width below the axis length), as
    ``torch.nn.ReflectionPad3d``. ``padding`` is an int or a 6-tuple, last axis first
    (``nn.functional.pad`` with mode 'reflect')."""

    ndim = 3


class ReplicationPad1d(_PadNd):
    """Pads the last axis of a 2D (unbatched) or 3D input: repeats the edge element, as
    ``torch.nn.ReplicationPad1d``. ``padding`` is an int or a 2-tuple, last axis first
    (``nn.functional.pad`` with mode 'replicate')."""

    mode = "replicate"


class ReplicationPad2d(ReplicationPad1d):
    """Pads the last 2 axes of a 3D (unbatched) or 4D input: repeats the edge element, as
    ``torch.nn.ReplicationPad2d``. ``padding`` is an int or a 4-tuple, last axis first
    (``nn.functional.pad`` with mode 'replicate')."""

    ndim = 2


class ReplicationPad3d(ReplicationPad1d):
    """Pads the last 3 axes of a 4D (unbatched) or 5D input: repeats the edge element, as
    ``torch.nn.ReplicationPad3d``. ``padding`` is an int or a 6-tuple, last axis first
    (``nn.functional.pad`` with mode 'replicate')."""

    ndim = 3


class CircularPad1d(_PadNd):
    """Pads the last axis of a 2D (unbatched) or 3D input: continues the input
    periodically (each width at most the axis length), as
    ``torch.nn.CircularPad1d``. ``padding`` is an int or a 2-tuple, last axis first
    (``nn.functional.pad`` with mode 'circular')."""

    mode = "circular"


class CircularPad2d(CircularPad1d):
    """Pads the last 2 axes of a 3D (unbatched) or 4D input: continues the input
    periodically (each width at most the axis length), as
    ``torch.nn.CircularPad2d``. ``padding`` is an int or a 4-tuple, last axis first
    (``nn.functional.pad`` with mode 'circular')."""

    ndim = 2


class CircularPad3d(CircularPad1d):
    """Pads the last 3 axes of a 4D (unbatched) or 5D input: continues the input
    periodically (each width at most the axis length), as
    ``torch.nn.CircularPad3d``. ``padding`` is an int or a 6-tuple, last axis first
    (``nn.functional.pad`` with mode 'circular')."""

    ndim = 3


# == pixel shuffle ===============================================================================
def _factor(value, what: str, name: str) -> int:
    return positive_int(value, what, name)


def pixel_shuffle(input, upscale_factor: int):
    """``(*, C r^2, H, W) -> (*, C, H r, W r)``, as ``torch.nn.functional.pixel_shuffle``.

    Raises:
        ValueError: fewer than 3 axes, or channels not divisible by ``upscale_factor ** 2``.
    """
    r = _factor(upscale_factor, "upscale_factor", "pixel_shuffle")
    shape = _shape(input)
    if len(shape) < 3 or shape[-3] % (r * r):
        raise InvalidArgumentError(f"pixel_shuffle: expected an input (*, C * r^2, H, W) with channels divisible by "
                         f"upscale_factor^2 = {r * r}, got shape {shape}")
    *batch, channels, height, width = shape
    out = ops.reshape(input, (*batch, channels // (r * r), r, r, height, width))
    k = len(batch)
    out = ops.transpose(out, (*range(k), k, k + 3, k + 1, k + 4, k + 2))
    return ops.reshape(out, (*batch, channels // (r * r), height * r, width * r))


def pixel_unshuffle(input, downscale_factor: int):
    """``(*, C, H r, W r) -> (*, C r^2, H, W)``, the inverse of ``pixel_shuffle``, as
    ``torch.nn.functional.pixel_unshuffle``.

    Raises:
        ValueError: fewer than 3 axes, or height or width not divisible by ``downscale_factor``.
    """
    r = _factor(downscale_factor, "downscale_factor", "pixel_unshuffle")
    shape = _shape(input)
    if len(shape) < 3 or shape[-1] % r or shape[-2] % r:
        raise InvalidArgumentError(f"pixel_unshuffle: expected an input (*, C, H, W) with H and W divisible by "
                         f"downscale_factor = {r}, got shape {shape}")
    *batch, channels, height, width = shape
    out = ops.reshape(input, (*batch, channels, height // r, r, width // r, r))
    k = len(batch)
    out = ops.transpose(out, (*range(k), k, k + 2, k + 4, k + 1, k + 3))
    return ops.reshape(out, (*batch, channels * r * r, height // r, width // r))


class PixelShuffle(Module):
    """``nn.functional.pixel_shuffle`` as a layer, as ``torch.nn.PixelShuffle``."""

    def __init__(self, upscale_factor: int):
        super().__init__()
        self.upscale_factor = _factor(upscale_factor, "upscale_factor", "PixelShuffle")

    def forward(self, x):
        return pixel_shuffle(x, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """``nn.functional.pixel_unshuffle`` as a layer, as ``torch.nn.PixelUnshuffle``."""

    def __init__(self, downscale_factor: int):
        super().__init__()
        self.downscale_factor = _factor(downscale_factor, "downscale_factor", "PixelUnshuffle")

    def forward(self, x):
        return pixel_unshuffle(x, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"


# == interpolation ===============================================================================
_LINEAR_MODES = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}  # the modes with align_corners
_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area")
_ANTIALIAS_TAPS = {"bilinear": 2, "bicubic": 4}  # the filter's width at scale 1, in input pixels


def _per_spatial(value, ndim: int, what: str, spatial: tuple):
    if isinstance(value, tuple | list):
        if len(value) != ndim:
            raise InvalidArgumentError(
                f"interpolate: input and output must have the same number of spatial dimensions, but "
                f"got input with spatial dimensions of {list(spatial)} and {what} {tuple(value)}; give "
                f"the input as (N, C, d1, ..., dK) and {what} as (o1, ..., oK)")
        return tuple(value)
    return (value,) * ndim


def _nearest_index(out_size: int, in_size: int, scale, exact: bool) -> np.ndarray:
    # PyTorch computes these in float32, whatever the input's dtype.
    ratio = np.float32(1.0 / scale) if scale is not None and scale > 0 else np.float32(in_size) / np.float32(out_size)
    dst = np.arange(out_size, dtype=np.float32) + (np.float32(0.5) if exact else np.float32(0))
    return np.minimum(np.floor(dst * ratio).astype(np.int64), in_size - 1)


def _source_scale(out_size: int, in_size: int, scale, align_corners: bool) -> float:
    """PyTorch's ``area_pixel_compute_scale``: input pixels per output pixel."""
    if align_corners:
        return (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
    return 1.0 / scale if scale is not None and scale > 0 else in_size / out_size


def _cubic_taps(out_size: int, in_size: int, scale, align_corners: bool, dtype):
    """PyTorch's bicubic taps along one axis: the 4 source indices around each output position
    (clamped into the input, so the border pixel repeats) and their cubic convolution weights
    (a = -0.75)."""
    dtype = np.dtype(dtype)
    ratio = dtype.type(_source_scale(out_size, in_size, scale, align_corners))
    positions = np.arange(out_size, dtype=dtype)
    # Unlike the linear modes, the source position is not clamped at 0 before the taps.
    source = ratio * positions if align_corners else ratio * (positions + dtype.type(0.5)) - dtype.type(0.5)
    first = np.floor(source)
    weights = _sampling.cubic_weights(source - first)
    indices = [np.clip(first.astype(np.int64) + k - 1, 0, in_size - 1) for k in range(4)]
    return indices, [w.astype(dtype) for w in weights]


def _antialias_weights(out_size: int, in_size: int, scale, align_corners: bool, mode: str, dtype) -> np.ndarray:
    """PyTorch's anti-aliased resampling along one axis as an (out_size, in_size) matrix: each
    output is the normalised filter-weighted sum of the inputs under its filter (triangle for
    bilinear, cubic with a = -0.5 for bicubic), the filter widened by the scale when shrinking."""
    ratio = _source_scale(out_size, in_size, scale, align_corners)
    half_width = _ANTIALIAS_TAPS[mode] / 2
    support, stretch = (half_width * ratio, 1.0 / ratio) if ratio >= 1.0 else (half_width, 1.0)

    def kernel(x):
        if mode == "bilinear":
            return np.maximum(1 - np.abs(x), 0)
        return _sampling.cubic_kernel(x, -0.5)  # PyTorch's (and PIL's) a for anti-aliased bicubic

    matrix = np.zeros((out_size, in_size))
    for i in range(out_size):
        center = ratio * (i + 0.5)
        first = max(int(center - support + 0.5), 0)  # int(): truncation toward 0, as PyTorch's cast
        last = min(int(center + support + 0.5), in_size)
        weights = kernel((np.arange(first, last) - center + 0.5) * stretch)
        total = weights.sum()
        matrix[i, first:last] = weights / total if total != 0 else weights
    return matrix.astype(dtype)


def _linear_weights(out_size: int, in_size: int, scale, align_corners: bool, dtype):
    """PyTorch's source indices and weights of linear interpolation along one axis."""
    if out_size == in_size:
        index = np.arange(out_size)
        return index, index, np.ones(out_size, dtype=dtype), np.zeros(out_size, dtype=dtype)
    dtype = np.dtype(dtype)
    if align_corners:
        ratio = dtype.type((in_size - 1) / (out_size - 1)) if out_size > 1 else dtype.type(0)
        source = ratio * np.arange(out_size, dtype=dtype)
    else:
        ratio = dtype.type(1.0 / scale) if scale is not None and scale > 0 else dtype.type(in_size / out_size)
        source = np.maximum(ratio * (np.arange(out_size, dtype=dtype) + dtype.type(0.5)) - dtype.type(0.5), 0)
    low = source.astype(np.int64)
    high = low + (low < in_size - 1)
    upper = np.clip(source - low, 0, 1).astype(dtype)
    return low, high, (1 - upper).astype(dtype), upper


def interpolate(input, size=None, scale_factor=None, mode: str = "nearest", align_corners: bool | None = None,
                recompute_scale_factor: bool | None = None, antialias: bool = False):
    """Resize the spatial axes of ``(N, C, *spatial)``, as ``torch.nn.functional.interpolate``.

    Args:
        input: ``(N, C, L)``, ``(N, C, H, W)`` or ``(N, C, D, H, W)``.
        size: the output's spatial size, an int or one per spatial axis.
        scale_factor: multiplier of the spatial size (a float or one per axis); the output
            size is ``floor(size * scale_factor)``. Exactly one of ``size`` and ``scale_factor``.
        mode: ``"nearest"`` (PyTorch's: index ``floor(dst * scale)``), ``"nearest-exact"``,
            ``"linear"`` (3-D input), ``"bilinear"`` (4-D), ``"bicubic"`` (4-D: cubic convolution
            with a = -0.75 over 4 pixels per axis, the border pixels repeated; it may overshoot
            the input's range, as PyTorch's), ``"trilinear"`` (5-D), ``"area"`` (adaptive average
            pooling, 3-D to 5-D).
        align_corners: for the linear modes and bicubic: align the centres of the corner pixels
            (default False); must be None for the other modes.
        recompute_scale_factor: compute the scale from the output size instead of using
            ``scale_factor`` as given.
        antialias: for ``"bilinear"`` and ``"bicubic"`` on 4-D input: when shrinking, widen the
            filter by the scale (triangle, or cubic with a = -0.5) so that every input pixel
            counts, as PyTorch's (and PIL's) anti-aliased resize.

    Returns:
        The resized tensor. Its gradient sums into the input positions each output read.

    Raises:
        ValueError: a bad mode, shape or size (the message says which).
        TypeError: an integer or bool input, except uint8 in the nearest modes (which keep
            uint8), as in PyTorch.
        NotImplementedError: ``"bilinear"`` or ``"bicubic"`` on uint8, ``"bicubic"`` on other than 4-D input.
    """
    shape = _shape(input)
    if mode not in _MODES:
        raise InvalidArgumentError(f"interpolate: unknown mode {mode!r}; use one of {', '.join(_MODES)}")
    if antialias and (mode not in _ANTIALIAS_TAPS or len(shape) != 4):
        raise InvalidArgumentError("interpolate: anti-alias option is restricted to bilinear and bicubic modes and "
                                   f"requires a 4-D tensor as input, got mode {mode!r} and shape {shape}")
    _parity.check_interpolate_dtype(input, mode)
    if len(shape) < 3:
        raise InvalidArgumentError(
            f"interpolate: expected an input (N, C, d1, ...) with 1 to 3 spatial axes, got shape {shape}")
    ndim, spatial = len(shape) - 2, shape[2:]
    if mode == "bicubic" and ndim != 2:  # PyTorch's error here is a NotImplementedError
        raise NotImplementedError(f"interpolate: got a {len(shape)}D input, but mode 'bicubic' is implemented for "
                                  "4D input (N, C, H, W) only, as in PyTorch")
    if mode in _LINEAR_MODES and _LINEAR_MODES[mode] != ndim:
        raise InvalidArgumentError(f"interpolate: got a {len(shape)}D input, but mode {mode!r} needs a "
                         f"{_LINEAR_MODES[mode] + 2}D input (N, C, {_conv._SPATIAL[_LINEAR_MODES[mode]]})")
    if ndim > 3:
        raise InvalidArgumentError(
            f"interpolate: mode {mode!r} takes inputs with 1 to 3 spatial axes, got shape {shape}")
    if mode not in _LINEAR_MODES and align_corners is not None:
        raise InvalidArgumentError("interpolate: align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear | trilinear")
    if (size is None) == (scale_factor is None):
        raise InvalidArgumentError(
            "interpolate: " + ("only one of size or scale_factor should be defined" if size is not None
            else "either size or scale_factor should be defined"))
    if size is not None:
        if recompute_scale_factor:
            raise InvalidArgumentError("interpolate: recompute_scale_factor is not meaningful with an explicit size")
        sizes = tuple(positive_int(s, "size", "interpolate", ndim=ndim) for s in _per_spatial(size, ndim, "output size",
                                                                                               spatial))
        scales = (None,) * ndim
    else:
        scales = tuple(float(s) for s in _per_spatial(scale_factor, ndim, "scale_factor", spatial))
        if min(scales) <= 0:
            raise InvalidArgumentError(f"interpolate: scale_factor must be positive, got {scale_factor!r}")
        sizes = tuple(math.floor(n * s) for n, s in zip(spatial, scales, strict=True))
        if min(sizes) < 1:
            raise InvalidArgumentError(
                f"interpolate: scale_factor {scale_factor!r} gives an empty output {sizes} for the input "
                f"of spatial size {spatial}")
        if recompute_scale_factor:
            scales = (None,) * ndim
    if mode == "area":
        return F._adaptive_avg_pool(input, sizes, ndim, "interpolate")
    out, dtype = _tensor(input), _float_dtype(input)
    for axis, (in_size, out_size, scale) in enumerate(zip(spatial, sizes, scales, strict=True), start=2):
        if mode in ("nearest", "nearest-exact"):
            out = ops.index_select(out, axis, _nearest_index(out_size, in_size, scale, mode == "nearest-exact"))
            continue
        along = (-1,) + (1,) * (len(shape) - 1 - axis)
        if antialias:
            if out_size == in_size:  # PyTorch's separable kernel leaves such an axis as it is, whatever the scale
                continue
            weights = _antialias_weights(out_size, in_size, scale, bool(align_corners), mode, dtype)
            out = F.along_axis(out, weights, axis)
            continue
        if mode == "bicubic":
            indices, weights = _cubic_taps(out_size, in_size, scale, bool(align_corners), dtype)
            taps = [ops.index_select(out, axis, index) * weight.reshape(along)
                    for index, weight in zip(indices, weights, strict=True)]
            out = (taps[0] + taps[1]) + (taps[2] + taps[3])
            continue
        low, high, w_low, w_high = _linear_weights(out_size, in_size, scale, bool(align_corners), dtype)
        out = (ops.index_select(out, axis, low) * w_low.reshape(along)
               + ops.index_select(out, axis, high) * w_high.reshape(along))
    return out


def upsample(input, size=None, scale_factor=None, mode: str = "nearest", align_corners: bool | None = None):
    """``interpolate`` under its old name, as ``torch.nn.functional.upsample``."""
    return interpolate(input, size, scale_factor, mode, align_corners)


class Upsample(Module):
    """Resize the spatial axes (``nn.functional.interpolate``) as a layer, as ``torch.nn.Upsample``.

    Args:
        size: the output's spatial size (an int or one per axis).
        scale_factor: or the multiplier of the spatial size.
        mode: ``"nearest"``, ``"nearest-exact"``, ``"linear"``, ``"bilinear"``, ``"trilinear"``.
        align_corners: for the linear modes.
        recompute_scale_factor: see ``interpolate``.
    """

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest", align_corners: bool | None = None,
                 recompute_scale_factor: bool | None = None):
        super().__init__()
        self.size, self.mode = size, mode
        if isinstance(scale_factor, tuple | list):
            self.scale_factor = tuple(float(s) for s in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.align_corners, self.recompute_scale_factor = align_corners, recompute_scale_factor

    def forward(self, x):
        return interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                           self.recompute_scale_factor)

    def extra_repr(self) -> str:
        shown = f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None else f"size={self.size!r}"
        return f"{shown}, mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """``Upsample`` with mode ``"nearest"`` on (N, C, H, W), as ``torch.nn.UpsamplingNearest2d``."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """``Upsample`` with mode ``"bilinear"`` and ``align_corners=True``, as ``torch.nn.UpsamplingBilinear2d``."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


# == transposed convolution ======================================================================
def _transposed_geometry(name: str, in_shape, w_shape, stride, padding, output_padding, groups, dilation):
    ndim = len(w_shape) - 2
    if len(in_shape) != ndim + 2:
        raise InvalidArgumentError(f"{name}: expected an input (N, C_in, {_conv._SPATIAL[ndim]}) or (C_in, "
                         f"{_conv._SPATIAL[ndim]}), got shape {tuple(in_shape)}")
    strides = positive_ints(stride, "stride", name, ndim)
    dilations = positive_ints(dilation, "dilation", name, ndim)
    if isinstance(padding, str):
        raise InvalidArgumentError(
            f"{name}: padding must be an int or a tuple of ints (PyTorch has no 'same'/'valid' for "
            f"transposed convolutions), got {padding!r}")
    paddings = positive_ints(padding, "padding", name, ndim, zero_ok=True)
    extras = positive_ints(output_padding, "output_padding", name, ndim, zero_ok=True)
    groups = positive_int(groups, "groups", name)
    channels, (in_channels, group_out, *kernels) = in_shape[1], w_shape
    if channels != in_channels:
        raise InvalidArgumentError(
            f"{name}: the input has {channels} channels but the weight of shape {tuple(w_shape)} "
            f"expects {in_channels} (weight.shape[0]: weights are (C_in, C_out / groups, ...))")
    if in_channels % groups:
        raise InvalidArgumentError(f"{name}: input channels {in_channels} are not divisible by groups={groups}")
    gs = []
    for length, kernel, s, d, p, extra in zip(in_shape[2:], kernels, strides, dilations, paddings, extras,
                                              strict=True):
        if extra >= max(s, d):
            raise InvalidArgumentError(f"{name}: output_padding ({extra}) must be smaller than either stride ({s}) or "
                             f"dilation ({d})")
        out = (length - 1) * s - 2 * p + d * (kernel - 1) + extra + 1
        if out < 1 or kernel < 1:
            raise InvalidArgumentError(
                f"{name}: the output would have size {out} along an axis of length {length} (kernel "
                f"{kernel}, stride {s}, padding {p}, dilation {d}); use less padding")
        # The windows of the matching convolution on the output: the transposed one scatters into them.
        reach = (length - 1) * s + d * (kernel - 1) + 1  # = out + 2 p - output_padding
        gs.append(Geometry(out, kernel, s, d, p, reach - p - out, length))
    return tuple(gs), groups, group_out * groups


def _conv_transpose(name: str, input, weight, bias, stride, padding, output_padding, groups, dilation, ndim: int):
    def apply(batch):
        gs, g, out_channels = _transposed_geometry(name, _shape(batch), _shape(weight), stride, padding,
                                                   output_padding, groups, dilation)
        if bias is not None and _shape(bias) != (out_channels,):
            raise InvalidArgumentError(
                f"{name}: bias must have shape ({out_channels},), one value per out channel, got "
                f"{_shape(bias)}")
        n, in_channels, *lengths = _shape(batch)
        kernels, positions = _shape(weight)[2:], math.prod(lengths)
        taps, group_in, group_out = math.prod(kernels), in_channels // g, out_channels // g
        # Each input position spreads weight * value over one window of the output: the
        # products as (N, C_out, *in, *kernel) window entries, summed into place by Fold.
        rows = ops.transpose(ops.reshape(batch, (n, g, group_in, positions)), (0, 1, 3, 2))
        entries = ops.matmul(rows, ops.reshape(weight, (g, group_in, group_out * taps)))
        entries = ops.transpose(ops.reshape(entries, (n, g, positions, group_out, taps)), (0, 1, 3, 2, 4))
        out = _FoldOp.apply(ops.reshape(entries, (n, out_channels, *lengths, *kernels)), geometry=gs)
        if bias is not None:
            out = out + ops.reshape(bias, (out_channels,) + (1,) * ndim)
        return out

    return _unbatched(name, input, "C_in", apply, ndim=ndim)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """1-D transposed convolution (the gradient of ``conv1d`` with respect to its input), as
    ``torch.nn.functional.conv_transpose1d``.

    Args:
        input: ``(N, C_in, L)`` or ``(C_in, L)``.
        weight: ``(C_in, C_out / groups, K)``.
        bias: ``(C_out,)`` or None.
        stride: the step between the windows the input positions spread into.
        padding: ``dilation * (K - 1) - padding`` zeros are (implicitly) added on both sides.
        output_padding: extra length added on one side of the output (smaller than
            ``stride`` or ``dilation``).
        groups: independent groups of channels.
        dilation: spacing between kernel taps.

    Returns:
        ``(N, C_out, L_out)`` with ``L_out = (L - 1) stride - 2 padding + dilation (K - 1) + output_padding + 1``.
    """
    return _conv_transpose("conv_transpose1d", input, weight, bias, stride, padding, output_padding, groups,
                           dilation, 1)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """2-D transposed convolution, as ``torch.nn.functional.conv_transpose2d``: ``conv_transpose1d``
    on ``(N, C_in, H, W)`` with ``weight`` ``(C_in, C_out / groups, kH, kW)``; ``stride``,
    ``padding``, ``output_padding`` and ``dilation`` are an int or a pair."""
    return _conv_transpose("conv_transpose2d", input, weight, bias, stride, padding, output_padding, groups,
                           dilation, 2)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """3-D transposed convolution, as ``torch.nn.functional.conv_transpose3d``: ``conv_transpose1d``
    on ``(N, C_in, D, H, W)`` (or ``(C_in, D, H, W)``) with ``weight`` ``(C_in, C_out / groups, kD, kH,
    kW)``; ``stride``, ``padding``, ``output_padding`` and ``dilation`` are an int or a triple."""
    return _conv_transpose("conv_transpose3d", input, weight, bias, stride, padding, output_padding, groups,
                           dilation, 3)


class ConvTranspose1d(Module):
    """Transposed 1-D convolution, as ``torch.nn.ConvTranspose1d`` (``nn.functional.conv_transpose1d``).

    ``weight`` is ``(in_channels, out_channels / groups, kernel_size)``, initialised as
    PyTorch's (uniform in ``+-1/sqrt(fan_in)``, ``fan_in = out_channels / groups * kernel_size``),
    ``bias`` ``(out_channels,)`` from the same range. ``forward(input, output_size=None)``:
    ``output_size`` picks the ``output_padding`` that gives that output size.
    ``padding_mode`` must be ``"zeros"``. ``rng`` seeds the initialisation.
    """

    ndim = 1
    transposed = True  # PyTorch's flag telling the transposed convolutions from the others

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, padding_mode: str = "zeros", dtype=None, rng=None):
        super().__init__()
        name, ndim = type(self).__name__, self.ndim
        in_channels = positive_int(in_channels, "in_channels", name)
        out_channels = positive_int(out_channels, "out_channels", name)
        groups = positive_int(groups, "groups", name)
        if in_channels % groups or out_channels % groups:
            raise InvalidArgumentError(
                f"{name}: in_channels ({in_channels}) and out_channels ({out_channels}) must both be "
                f"divisible by groups ({groups})")
        if padding_mode != "zeros":
            raise InvalidArgumentError(
                f"{name}: only padding_mode='zeros' is supported for transposed convolutions (as in "
                f"PyTorch), got {padding_mode!r}")
        # Tuples per axis, as PyTorch's _single/_pair/_triple keep them (see Conv1d).
        kernel_size, stride, dilation = (positive_ints(v, what, name, ndim) for v, what in
                                         ((kernel_size, "kernel_size"), (stride, "stride"), (dilation, "dilation")))
        padding = positive_ints(padding, "padding", name, ndim, zero_ok=True)
        output_padding = positive_ints(output_padding, "output_padding", name, ndim, zero_ok=True)
        for extra, s, d in zip(output_padding, stride, dilation, strict=True):
            if extra >= max(s, d):
                raise InvalidArgumentError(
                    f"{name}: output_padding ({extra}) must be smaller than either stride ({s}) or "
                    f"dilation ({d})")
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.stride, self.padding, self.output_padding = stride, padding, output_padding
        self.groups, self.dilation, self.padding_mode = groups, dilation, padding_mode
        # PyTorch's F.pad widths (last axis first), kept only for parity: padding_mode is always zeros here.
        self._reversed_padding_repeated_twice = tuple(p for p in reversed(padding) for _ in range(2))
        dtype = dtype or get_default_dtype()
        self.weight = Parameter(np.empty((in_channels, out_channels // groups, *kernel_size), dtype=dtype))
        self.bias = Parameter(np.empty(out_channels, dtype=dtype)) if bias else None
        default_layer_init_(self.weight, self.bias, rng)

    def _output_padding(self, x, output_size):
        if output_size is None:
            return self.output_padding
        ndim = self.ndim
        output_size = tuple(output_size)[-ndim:]
        if len(output_size) != ndim:
            raise InvalidArgumentError(
                f"{type(self).__name__}: output_size must have {ndim} or {ndim + 2} elements, got "
                f"{output_size}")
        extras = []
        for size, length, k, s, p, d in zip(output_size, _shape(x)[-ndim:], self.kernel_size, self.stride,
                                            self.padding, self.dilation, strict=True):
            smallest = (length - 1) * s - 2 * p + d * (k - 1) + 1
            if not smallest <= size < smallest + s:
                raise InvalidArgumentError(
                    f"{type(self).__name__}: requested an output size of {tuple(output_size)}, but valid "
                    f"sizes range from {smallest} to {smallest + s - 1} along an axis of length {length}")
            extras.append(size - smallest)
        return tuple(extras)

    def forward(self, input, output_size=None):
        conv = (conv_transpose1d, conv_transpose2d, conv_transpose3d)[self.ndim - 1]
        return conv(input, self.weight, self.bias, self.stride, self.padding, self._output_padding(input, output_size),
                    self.groups, self.dilation)

    extra_repr = _ConvLayer.extra_repr


class ConvTranspose2d(ConvTranspose1d):
    """Transposed 2-D convolution, as ``torch.nn.ConvTranspose2d`` (``nn.functional.conv_transpose2d``):
    ``weight`` ``(in_channels, out_channels / groups, kH, kW)``; ``kernel_size``, ``stride``,
    ``padding``, ``output_padding`` and ``dilation`` are an int or a pair. Otherwise as ``ConvTranspose1d``."""

    ndim = 2


class ConvTranspose3d(ConvTranspose1d):
    """Transposed 3-D convolution, as ``torch.nn.ConvTranspose3d`` (``nn.functional.conv_transpose3d``):
    ``weight`` ``(in_channels, out_channels / groups, kD, kH, kW)``; ``kernel_size``, ``stride``,
    ``padding``, ``output_padding`` and ``dilation`` are an int or a triple. Otherwise as ``ConvTranspose1d``."""

    ndim = 3


# == unfold / fold ===============================================================================
def _window_geometry(name: str, lengths, kernel_size, dilation, padding, stride) -> tuple[Geometry, ...]:
    kernels = positive_ints(kernel_size, "kernel_size", name, 2)
    dilations = positive_ints(dilation, "dilation", name, 2)
    paddings = positive_ints(padding, "padding", name, 2, zero_ok=True)
    strides = positive_ints(stride, "stride", name, 2)
    return tuple(_place_windows(name, n, k, s, d, p, p)
                 for n, k, s, d, p in zip(lengths, kernels, strides, dilations, paddings, strict=True))


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """im2col, as ``torch.nn.functional.unfold``: the sliding ``kH x kW`` blocks of the
    zero-padded ``(N, C, H, W)`` (or ``(C, H, W)``) input as columns ``(N, C kH kW, L)``,
    ``L`` the number of blocks (row by row). Each argument is an int or a pair.

    Raises:
        ValueError: an input that is not 3-D or 4-D, or blocks larger than the padded input.
    """
    shape = _shape(input)
    if len(shape) not in (3, 4):
        raise InvalidArgumentError(
            f"unfold: only 3D (C, H, W) or 4D (N, C, H, W) inputs are supported, got shape {shape}")
    if len(shape) == 3:
        return ops.squeeze(unfold(ops.expand_dims(input, 0), kernel_size, dilation, padding, stride), 0)
    gs = _window_geometry("unfold", shape[2:], kernel_size, dilation, padding, stride)
    windows = _UnfoldOp.apply(input, geometry=gs)  # (N, C, oH, oW, kH, kW)
    n, c, oh, ow, kh, kw = windows.shape
    return ops.reshape(ops.transpose(windows, (0, 1, 4, 5, 2, 3)), (n, c * kh * kw, oh * ow))


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """col2im, as ``torch.nn.functional.fold``: columns ``(N, C kH kW, L)`` (or ``(C kH kW, L)``)
    summed back into ``(N, C, *output_size)``; the adjoint of ``unfold`` (overlapping entries add).

    Raises:
        ValueError: a bad rank, channels not divisible by ``kH kW``, or ``L`` not the number
            of blocks that fit in ``output_size``.
    """
    shape = _shape(input)
    if len(shape) not in (2, 3):
        raise InvalidArgumentError(f"fold: only unbatched (2D) or batched (3D) inputs are supported, got shape {shape}")
    if len(shape) == 2:
        return ops.squeeze(fold(ops.expand_dims(input, 0), output_size, kernel_size, dilation, padding, stride), 0)
    sizes = positive_ints(output_size, "output_size", "fold", 2)
    gs = _window_geometry("fold", sizes, kernel_size, dilation, padding, stride)
    kernels, outs = tuple(g.kernel for g in gs), tuple(g.out_length for g in gs)
    n, channels, blocks = shape
    if channels % math.prod(kernels):
        raise InvalidArgumentError(
            f"fold: expected size of input's dimension 1 to be divisible by the product of kernel_size, "
            f"but got input.size(1)={channels} and kernel_size={kernels}")
    if blocks != math.prod(outs):
        raise InvalidArgumentError(
            f"fold: given output_size={sizes}, kernel_size={kernels}, expected size of input's dimension "
            f"2 to match the calculated number of sliding blocks {outs[0]} * {outs[1]} = "
            f"{math.prod(outs)}, but got input.size(2)={blocks}")
    entries = ops.reshape(input, (n, channels // math.prod(kernels), *kernels, *outs))
    return _FoldOp.apply(ops.transpose(entries, (0, 1, 4, 5, 2, 3)), geometry=gs)


class Unfold(Module):
    """``nn.functional.unfold`` (im2col) as a layer, as ``torch.nn.Unfold``."""

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size, self.dilation, self.padding, self.stride = kernel_size, dilation, padding, stride

    def forward(self, x):
        return unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, padding={self.padding}, "
                f"stride={self.stride}")


class Fold(Unfold):
    """``nn.functional.fold`` (col2im) as a layer, as ``torch.nn.Fold``."""

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__(kernel_size, dilation, padding, stride)
        self.output_size = output_size

    def forward(self, x):
        return fold(x, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}, " + super().extra_repr()


# == activations =================================================================================
def softmin(input, dim: int | None = None, dtype=None):
    """``softmax(-input)`` along ``dim`` (the last axis when None, as ``nn.Softmax`` here), as
    ``torch.nn.functional.softmin``; ``dtype`` casts the input first."""
    input = _tensor(input)
    if dtype is not None:
        input = input.to(dtype)
    return ops.softmax(-input, axis=-1 if dim is None else dim)


def threshold(input, threshold: float, value: float, inplace: bool = False):
    """``input`` where it is greater than ``threshold``, else ``value``, as
    ``torch.nn.functional.threshold``; ``inplace=True`` writes the result into ``input`` and
    returns it (``F.threshold_``)."""
    if inplace:
        return F.threshold_(input, threshold, value)
    input = _tensor(input)
    # (an integer tensor keeps its dtype and takes the value truncated, as PyTorch's)
    dtype = input.dtype if input.dtype.kind in "iu" else _float_dtype(input)
    return ops.where(input > threshold, input, np.asarray(checked_scalar(value, np.dtype(dtype), "threshold")))


def hardshrink(input, lambd: float = 0.5):
    """``x`` where ``|x| > lambd``, else 0, as ``torch.nn.functional.hardshrink``."""
    input = _tensor(input)
    return ops.where(ops.abs(input) > lambd, input, np.zeros((), dtype=_float_dtype(input)))


def softshrink(input, lambd: float = 0.5):
    """``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, 0 between, as
    ``torch.nn.functional.softshrink``.

    Raises:
        ValueError: ``lambd`` is negative.
    """
    if lambd < 0:
        raise InvalidArgumentError(f"softshrink: lambd must be greater or equal to 0, got {lambd}")
    input = _tensor(input)
    zero = np.zeros((), dtype=_float_dtype(input))
    return ops.where(input > lambd, input - lambd, ops.where(input < -lambd, input + lambd, zero))


def tanhshrink(input):
    """``x - tanh(x)``, as ``torch.nn.functional.tanhshrink``."""
    input = _tensor(input)
    return input - ops.tanh(input)


def glu(input, dim: int = -1):
    """Gated linear unit ``a * sigmoid(b)``, ``a`` and ``b`` the two halves of ``input`` along
    ``dim``, as ``torch.nn.functional.glu``.

    Raises:
        ValueError: the size along ``dim`` is odd.
    """
    shape = _shape(input)
    if not shape or shape[dim] % 2:
        raise InvalidArgumentError(
            f"glu: halving dimension must be even, but dimension {dim} of the input of shape {shape} "
            f"is {'missing' if not shape else shape[dim]}")
    first, second = ops.split(input, 2, axis=dim)
    return first * ops.sigmoid(second)


class _RandomLeakyReLU(Scale):
    """RReLU in training: each non-positive element times a slope drawn from U(lower, upper),
    in forward (a compiled replay draws fresh slopes, as dropout's mask)."""

    name = "rrelu"

    @staticmethod
    def forward(ctx, a, lower, upper, rng=None):
        a = floating(np.asarray(a))
        slopes = _rng(rng).uniform(lower, upper, a.shape).astype(a.dtype)
        return Scale.forward(ctx, a, np.where(a <= 0, slopes, np.ones((), dtype=a.dtype)))


def rrelu(input, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False, inplace: bool = False,
          rng=None):
    """Randomized leaky ReLU, as ``torch.nn.functional.rrelu``: in training each negative
    element is scaled by a slope from U(``lower``, ``upper``) (drawn from ``rng``), otherwise
    by ``(lower + upper) / 2``. ``inplace=True`` writes the result into ``input`` and returns it
    (``F.rrelu_``).

    Raises:
        ValueError: ``lower > upper``.
    """
    if lower > upper:
        raise InvalidArgumentError(f"rrelu: lower ({lower}) must be at most upper ({upper})")
    if inplace:
        return F.rrelu_(input, lower, upper, training, rng=rng)
    if not training:
        return F.leaky_relu(_tensor(input), (lower + upper) / 2)
    return _RandomLeakyReLU.apply(input, lower, upper, rng=rng)


class Softmin(Softmax):
    """``softmin`` along ``dim`` (without one, PyTorch's implicit choice, as ``nn.Softmax``), as
    ``torch.nn.Softmin``."""

    def forward(self, x):
        return F.softmin(x, self.dim)


class Threshold(Module):
    """``x`` where ``x > threshold``, else ``value``, as ``torch.nn.Threshold``."""

    def __init__(self, threshold: float, value: float, inplace: bool = False):
        super().__init__()
        self.threshold, self.value, self.inplace = threshold, value, inplace

    def forward(self, x):
        return threshold(x, self.threshold, self.value, self.inplace)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, value={self.value}" + (", inplace=True" if self.inplace else "")


class Hardshrink(Module):
    """``hardshrink`` with ``lambd`` (0.5), as ``torch.nn.Hardshrink``."""

    def __init__(self, lambd: float = 0.5):
        super().__init__()
        self.lambd = lambd

    def forward(self, x):
        return hardshrink(x, self.lambd)

    def extra_repr(self) -> str:
        return f"{self.lambd}"


class Softshrink(Hardshrink):
    """``softshrink`` with ``lambd`` (0.5, at least 0), as ``torch.nn.Softshrink``."""

    def __init__(self, lambd: float = 0.5):
        if lambd < 0:
            raise InvalidArgumentError(f"Softshrink: lambd must be greater or equal to 0, got {lambd}")
        super().__init__(lambd)

    def forward(self, x):
        return softshrink(x, self.lambd)


class Tanhshrink(Module):
    """``x - tanh(x)``, as ``torch.nn.Tanhshrink``."""

    def forward(self, x):
        return tanhshrink(x)


class GLU(Module):
    """Gated linear unit along ``dim`` (``glu``), as ``torch.nn.GLU``."""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return glu(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class RReLU(Module):
    """Randomized leaky ReLU (``rrelu``), as ``torch.nn.RReLU``: random slopes in U(``lower``,
    ``upper``) for the negative inputs in training, drawn from the layer's ``rng`` (a seed or a
    ``np.random.Generator``); the fixed slope ``(lower + upper) / 2`` in ``eval()`` mode."""

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3, inplace: bool = False, rng=None):
        super().__init__()
        if lower > upper:
            raise InvalidArgumentError(f"RReLU: lower ({lower}) must be at most upper ({upper})")
        self.lower, self.upper, self.inplace = lower, upper, inplace
        self.rng = _layer_rng(rng)

    def forward(self, x):
        return rrelu(x, self.lower, self.upper, self.training, self.inplace, rng=self.rng)

    def extra_repr(self) -> str:
        return f"lower={self.lower}, upper={self.upper}" + (", inplace=True" if self.inplace else "")


# == dropout =====================================================================================
def _check_p(p: float, name: str) -> None:
    if not 0 <= p <= 1:
        raise InvalidArgumentError(f"{name}: dropout probability has to be between 0 and 1, but got {p}")


def _channel_mask(input, p: float, rng, mask_shape):
    """A random mask of 0 and 1 / (1 - p), drawn by the dropout primitive (so a compiled
    replay draws a new one), of ``mask_shape``."""
    return _DropoutOp.apply(np.ones(mask_shape, dtype=_float_dtype(input)), p=p, rng=rng)


def _feature_dropout(name: str, input, p: float, training: bool, ranks: tuple[int, int], rng):
    _check_p(p, name)
    shape = _shape(input)
    if len(shape) not in ranks:
        if name == "dropout1d" or len(shape) < (2 if name == "dropout2d" else 1):
            raise InvalidArgumentError(
                f"{name}: expected {ranks[0]}D or {ranks[1]}D input, but received a {len(shape)}D input; it "
                f"drops whole channels of (N, C, ...) or unbatched (C, ...) inputs")
        # PyTorch 2.13 still takes it: dropout2d drops along the first two axes, dropout3d reads it as
        # one unbatched sample whose first axis holds the channels
        warnings.warn(f"{name}: Received a {len(shape)}-D input to {name}, which is deprecated and will result in an "
                      f"error in a future release (as in PyTorch). {name} drops whole channels of {ranks[0]}D or "
                      f"{ranks[1]}D inputs; use dropout for elementwise dropout", UserWarning, stacklevel=4)
    if not training or p == 0:
        return input
    if len(shape) not in ranks:
        kept = 2 if name == "dropout2d" else 1
        return input * _channel_mask(input, p, rng, shape[:kept] + (1,) * (len(shape) - kept))
    batched = len(shape) == ranks[1] or name == "dropout2d"  # PyTorch reads a 3D input to dropout2d as (N, C, L)
    channel_axes = 2 if batched else 1
    return input * _channel_mask(input, p, rng, shape[:channel_axes] + (1,) * (len(shape) - channel_axes))


def dropout1d(input, p: float = 0.5, training: bool = True, inplace: bool = False, rng=None):
    """Zero whole channels of ``(N, C, L)`` (or ``(C, L)``) with probability ``p``, scaling the
    rest by 1 / (1 - p), as ``torch.nn.functional.dropout1d``; the identity when not ``training``."""
    return _in_place_if(inplace and training, "dropout1d", input,
                        lambda x: _feature_dropout("dropout1d", x, p, training, (2, 3), rng))


def dropout2d(input, p: float = 0.5, training: bool = True, inplace: bool = False, rng=None):
    """Channel dropout of ``(N, C, H, W)`` (or ``(C, H, W)``... read as ``(N, C, L)``, as PyTorch
    does with a warning), as ``torch.nn.functional.dropout2d``."""
    return _in_place_if(inplace and training, "dropout2d", input,
                        lambda x: _feature_dropout("dropout2d", x, p, training, (3, 4), rng))


def dropout3d(input, p: float = 0.5, training: bool = True, inplace: bool = False, rng=None):
    """Channel dropout of ``(N, C, D, H, W)`` (or ``(C, D, H, W)``), as ``torch.nn.functional.dropout3d``."""
    return _in_place_if(inplace and training, "dropout3d", input,
                        lambda x: _feature_dropout("dropout3d", x, p, training, (4, 5), rng))


def _in_place_if(inplace: bool, name: str, input, compute):
    """``compute(input)``; with ``inplace`` written into ``input``, which is returned (PyTorch's
    ``inplace=True``, recorded in the graph as the in-place activations are)."""
    if inplace and isinstance(input, Tensor):
        return F._write_in_place(name, input, compute, "biu", F._FLOATS_ONLY)
    return compute(input)


_SELU_ALPHA_SCALE = 1.7580993408473766  # SELU's alpha * scale: the negative saturation value of SELU


def _alpha_dropout(name: str, input, p: float, training: bool, mask_shape, rng):
    _check_p(p, name)
    if not training or p == 0:
        return input
    if p == 1:
        return _tensor(input) * 0.0
    keep = _channel_mask(input, p, rng, mask_shape) * (1 - p)  # 0 or 1
    a = 1.0 / math.sqrt((_SELU_ALPHA_SCALE ** 2 * p + 1) * (1 - p))
    shift = (keep - 1) * (_SELU_ALPHA_SCALE * a) + _SELU_ALPHA_SCALE * a * p
    return input * (keep * a) + shift


def alpha_dropout(input, p: float = 0.5, training: bool = False, inplace: bool = False, rng=None):
    """Dropout that keeps the mean and variance of SELU activations, as
    ``torch.nn.functional.alpha_dropout``: dropped elements are set to SELU's negative
    saturation value and everything is rescaled and shifted back."""
    return _in_place_if(inplace and training, "alpha_dropout", input,
                        lambda x: _alpha_dropout("alpha_dropout", x, p, training, _shape(x), rng))


def feature_alpha_dropout(input, p: float = 0.5, training: bool = False, inplace: bool = False, rng=None):
    """``alpha_dropout`` of whole channels of ``(N, C, ...)``, as ``torch.nn.functional.feature_alpha_dropout``."""
    shape = _shape(input)
    _check_p(p, "feature_alpha_dropout")
    # As PyTorch, the shape matters only when channels are dropped: in eval mode (or with p 0
    # or 1) any input passes.
    if len(shape) < 2 and training and 0 < p < 1:
        raise InvalidArgumentError(f"feature_alpha_dropout: expected an input (N, C, ...), got shape {shape}")
    return _in_place_if(inplace and training, "feature_alpha_dropout", input, lambda x: _alpha_dropout(
        "feature_alpha_dropout", x, p, training, shape[:2] + (1,) * (len(shape) - 2), rng))


class _DropoutNd(Module):
    _function = None

    def __init__(self, p: float = 0.5, inplace: bool = False, rng=None):
        super().__init__()
        _check_p(p, type(self).__name__)
        self.p, self.inplace = p, inplace
        self.rng = _layer_rng(rng)

    def forward(self, x):
        return type(self)._function(x, self.p, self.training, self.inplace, rng=self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout1d(_DropoutNd):
    """Channel dropout (``dropout1d``) of ``(N, C, L)`` or ``(C, L)``, as ``torch.nn.Dropout1d``;
    ``rng`` (a seed or a Generator) draws the masks."""

    _function = staticmethod(dropout1d)


class Dropout2d(_DropoutNd):
    """Channel dropout (``dropout2d``) of ``(N, C, H, W)``, as ``torch.nn.Dropout2d``."""

    _function = staticmethod(dropout2d)


class Dropout3d(_DropoutNd):
    """Channel dropout (``dropout3d``) of ``(N, C, D, H, W)`` or ``(C, D, H, W)``, as ``torch.nn.Dropout3d``."""

    _function = staticmethod(dropout3d)


class AlphaDropout(_DropoutNd):
    """``alpha_dropout`` for self-normalizing (SELU) networks, as ``torch.nn.AlphaDropout``."""

    _function = staticmethod(alpha_dropout)


class FeatureAlphaDropout(_DropoutNd):
    """``feature_alpha_dropout`` (whole channels), as ``torch.nn.FeatureAlphaDropout``."""

    _function = staticmethod(feature_alpha_dropout)


# == normalization ===============================================================================
def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5):
    """Instance normalization, as ``torch.nn.functional.instance_norm``: each sample's channel
    of ``(N, C, *spatial)`` is normalized by its own mean and biased variance over the spatial
    axes, then scaled by ``weight`` and shifted by ``bias`` (per channel).

    With ``use_input_stats`` the running statistics (when given) are updated in place with
    the batch's mean over samples (the unbiased variance for ``running_var``); without it
    they normalize the input instead.

    Raises:
        ValueError: a bad shape, or a single spatial element when using the input's statistics.
    """
    shape = _channels_input("instance_norm", input, weight=weight, bias=bias, running_mean=running_mean,
                            running_var=running_var)
    axes, count = tuple(range(2, len(shape))), math.prod(shape[2:])
    if use_input_stats:
        if len(shape) < 3 or count <= 1:
            raise InvalidArgumentError(
                f"instance_norm: expected more than 1 spatial element when training, got input of "
                f"shape {list(shape)}")
        mean = ops.mean(input, axis=axes, keepdims=True)
        var = ops.var(input, axis=axes, keepdims=True)
        if running_mean is not None or running_var is not None:
            # The samples' mean as operations, not NumPy code: an mg.compile replay computes it
            # from each call's batch (a NumPy value would be the traced batch's for good).
            with no_grad():
                batch_mean, batch_var = (ops.reshape(ops.mean(s, axis=0), (-1,)) for s in (mean, var))
            _update_running(running_mean, running_var, batch_mean, batch_var, count, momentum)
    else:
        if running_mean is None or running_var is None:
            raise InvalidArgumentError(
                "instance_norm: running_mean and running_var are needed when use_input_stats=False")
        stat_shape = (1, shape[1]) + (1,) * len(axes)
        mean, var = ops.reshape(running_mean, stat_shape), ops.reshape(running_var, stat_shape)
    return _per_channel(_normalize(input, mean, var, eps), weight, bias)


class InstanceNorm1d(Module):
    """Instance normalization of ``(N, C, L)`` or unbatched ``(C, L)`` inputs, as ``torch.nn.InstanceNorm1d``.

    Args:
        num_features: the number of channels C.
        eps: added to the variance.
        momentum: the weight of each batch in the running statistics (None: 0, no update).
        affine: learn a per-channel ``weight`` (ones) and ``bias`` (zeros).
        track_running_stats: keep ``running_mean``/``running_var`` buffers, updated in
            training and used in ``eval()`` mode.
        dtype: of the parameters and buffers (the default dtype when None).
        bias: with ``affine``, whether to learn ``bias`` too.
    """

    _spatial = 1

    # a state without the version metadata may lack it, as PyTorch's older checkpoints do
    _added_in_version_2 = ("num_batches_tracked",)

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = False,
                 track_running_stats: bool = False, dtype=None, *, bias: bool = True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        dtype = dtype or get_default_dtype()
        _scale_and_shift(self, (num_features,), dtype, affine, bias)
        tracked = {"running_mean": np.zeros(num_features, dtype=dtype),
                   "running_var": np.ones(num_features, dtype=dtype),
                   "num_batches_tracked": np.array(0, dtype=np.int64)}
        for name, value in tracked.items():
            self.register_buffer(name, Tensor(value, dtype=value.dtype) if track_running_stats else None)

    # (the same running statistics and affine parameters as batch norm's, reset the same way)
    reset_running_stats = BatchNorm1d.reset_running_stats
    reset_parameters = BatchNorm1d.reset_parameters

    def forward(self, input):  # (PyTorch's name: forward(input=...) works as there)
        x = input
        rank, spatial = len(_shape(x)), self._spatial
        if rank not in (spatial + 1, spatial + 2):
            raise InvalidArgumentError(
                f"{type(self).__name__}: expected {spatial + 1}D or {spatial + 2}D input (got {rank}D "
                "input)")
        if rank == spatial + 1:
            return ops.squeeze(self.forward(ops.expand_dims(x, 0)), 0)
        channels = _shape(x)[1]
        if channels != self.num_features and (self.affine or self.track_running_stats):
            raise InvalidArgumentError(f"{type(self).__name__}: expected input's size at dim=1 to match num_features "
                             f"({self.num_features}), but got: {channels}")
        use_input_stats = self.training or not self.track_running_stats
        return instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias, use_input_stats,
                             0.0 if self.momentum is None else self.momentum, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class InstanceNorm2d(InstanceNorm1d):
    """Instance normalization of ``(N, C, H, W)`` or ``(C, H, W)``, as ``torch.nn.InstanceNorm2d``."""

    _spatial = 2


class InstanceNorm3d(InstanceNorm1d):
    """Instance normalization of ``(N, C, D, H, W)`` or ``(C, D, H, W)``, as ``torch.nn.InstanceNorm3d``."""

    _spatial = 3


def rms_norm(input, normalized_shape, weight=None, eps: float | None = None):
    """Root-mean-square normalization over the trailing ``normalized_shape`` axes, as
    ``torch.nn.functional.rms_norm``: ``x / sqrt(mean(x^2) + eps) * weight``; ``eps`` None is
    the machine epsilon of the input's dtype.

    Raises:
        ValueError: the input's trailing shape is not ``normalized_shape``, or ``weight`` has another shape.
    """
    normalized = _shape_tuple(normalized_shape)
    shape = _shape(input)
    if shape[len(shape) - len(normalized):] != normalized or len(normalized) > len(shape):
        raise InvalidArgumentError(
            f"rms_norm: the input's trailing shape must be normalized_shape {list(normalized)}, got an "
            f"input of shape {list(shape)}")
    if weight is not None and _shape(weight) != normalized:
        raise InvalidArgumentError(f"rms_norm: weight must have shape {list(normalized)}, got {list(_shape(weight))}")
    input = _tensor(input)
    eps = float(np.finfo(_float_dtype(input)).eps) if eps is None else eps
    axes = tuple(range(len(shape) - len(normalized), len(shape)))
    out = input / ops.sqrt(ops.mean(input * input, axis=axes, keepdims=True) + eps)
    return out if weight is None else out * weight


class RMSNorm(Module):
    """Root-mean-square normalization (``rms_norm``) with a learnt ``weight`` (ones) of shape
    ``normalized_shape`` when ``elementwise_affine``, as ``torch.nn.RMSNorm``."""

    def __init__(self, normalized_shape, eps: float | None = None, elementwise_affine: bool = True, dtype=None):
        super().__init__()
        self.normalized_shape = _shape_tuple(normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        weight = np.ones(self.normalized_shape, dtype=dtype or get_default_dtype())
        self.weight = Parameter(weight) if elementwise_affine else None

    def reset_parameters(self) -> None:
        """``weight`` back to ones, in place."""
        if self.weight is not None:
            ones_(self.weight)

    def forward(self, x):
        return rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


def local_response_norm(input, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
    """Local response normalization across channels, as ``torch.nn.functional.local_response_norm``:
    ``x / (k + alpha / size * sum of x^2 over size neighbouring channels) ** beta``
    (the window is zero-padded at the ends, and always divided by ``size``).

    Raises:
        ValueError: an input of fewer than 3 axes, or ``size`` not a positive int.
    """
    size = positive_int(size, "size", "local_response_norm")
    shape = _shape(input)
    if len(shape) < 3:
        raise InvalidArgumentError(
            f"local_response_norm: expected 3D or higher dimensionality input, got shape {shape}")
    input = _tensor(input)
    widths = [(0, 0)] * len(shape)
    widths[1] = (size // 2, (size - 1) // 2)
    squares = ops.pad(input * input, widths)
    channels = shape[1]
    total = squares[:, 0:channels]
    for j in range(1, size):
        total = total + squares[:, j:j + channels]
    return input / (total * (alpha / size) + k) ** beta


class LocalResponseNorm(Module):
    """``local_response_norm`` as a layer, as ``torch.nn.LocalResponseNorm``."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input):  # (PyTorch's name: forward(input=...) works as there)
        return local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


# == bilinear ====================================================================================
def bilinear(input1, input2, weight, bias=None):
    """``y_o = x1 @ weight[o] @ x2 + bias_o``, as ``torch.nn.functional.bilinear``.

    Args:
        input1: ``(*, in1_features)``.
        input2: ``(*, in2_features)``, the same leading shape.
        weight: ``(out_features, in1_features, in2_features)``.
        bias: ``(out_features,)`` or None.

    Raises:
        ValueError: shapes that do not fit together.
    """
    s1, s2, sw = _shape(input1), _shape(input2), _shape(weight)
    if len(sw) != 3 or not s1 or not s2 or s1[-1] != sw[1] or s2[-1] != sw[2] or s1[:-1] != s2[:-1]:
        raise InvalidArgumentError(
            f"bilinear: expected input1 (*, in1), input2 (*, in2) with the same leading shape and weight "
            f"(out, in1, in2), got {s1}, {s2} and {sw}")
    if bias is not None and _shape(bias) != sw[:1]:
        raise InvalidArgumentError(f"bilinear: bias must have shape ({sw[0]},), got {_shape(bias)}")
    out = ops.einsum("...i,oij,...j->...o", _tensor(input1), weight, input2)
    return out if bias is None else out + bias


class Bilinear(Module):
    """``y = x1 @ A @ x2 + b`` per output feature, as ``torch.nn.Bilinear``: ``weight``
    ``(out_features, in1_features, in2_features)`` and ``bias`` ``(out_features,)``, both
    uniform in ``+-1/sqrt(in1_features)`` as PyTorch's; ``rng`` seeds them."""

    def __init__(self, in1_features: int, in2_features: int, out_features: int, bias: bool = True, dtype=None,
                 rng=None):
        super().__init__()
        self.in1_features, self.in2_features, self.out_features = in1_features, in2_features, out_features
        dtype = dtype or get_default_dtype()
        self.weight = Parameter(np.empty((out_features, in1_features, in2_features), dtype=dtype))
        self.bias = Parameter(np.empty(out_features, dtype=dtype)) if bias else None
        self.reset_parameters(rng)

    def reset_parameters(self, rng=None) -> None:
        """``weight`` and ``bias`` drawn again, in place, as in ``__init__`` (``rng``: a
        ``np.random.Generator``, a seed, or None for the global generator)."""
        rng, bound = _rng(rng), 1 / math.sqrt(self.in1_features)
        uniform_(self.weight, -bound, bound, rng)
        if self.bias is not None:
            uniform_(self.bias, -bound, bound, rng)

    def forward(self, input1, input2):
        return bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


# == parameter containers ========================================================================
class _ParameterContainer(Module):
    """What ParameterList and ParameterDict share, as PyTorch's: Tensors and arrays stored in
    them become Parameters (registered, so ``parameters()`` and ``state_dict`` see them);
    anything else (a number, a string, a module's setting) is kept as it is, in its place,
    and is not a parameter."""

    def __init__(self):
        super().__init__()
        self._others: dict = {}  # name -> a stored value that is no Tensor (not registered)
        self._order: list[str] = []  # every name, in insertion order

    def _store(self, name: str, value) -> None:
        if isinstance(value, Tensor | np.ndarray):
            self._others.pop(name, None)
            self.register_parameter(name, value if isinstance(value, Parameter) else Parameter(_data(value)))
        else:
            if name in self._parameters:
                delattr(self, name)
            self._others[name] = value
        if name not in self._order:
            self._order.append(name)

    def _stored(self, name: str):
        return self._parameters[name] if name in self._parameters else self._others[name]

    def _forget(self, name: str) -> None:
        if name in self._parameters:
            delattr(self, name)
        else:
            del self._others[name]
        self._order.remove(name)

    def __len__(self) -> int:
        return len(self._order)

    def extra_repr(self) -> str:
        # (the other values as PyTorch shows them; the parameters' shapes follow, as every module's)
        return "\n".join(f"({name}): Object of type: {type(value).__name__}" for name, value in self._others.items())


class ParameterList(_ParameterContainer):
    """Parameters in a list, registered under their positions ("0", "1", ...), as
    ``torch.nn.ParameterList``: Tensors and arrays added to it become Parameters, other
    values are kept as they are."""

    def __init__(self, values: Iterable | None = None):
        super().__init__()
        if values is not None:
            self.extend(values)

    _absolute = ModuleList._absolute  # the registered name of a position (negative ones count from the end)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return type(self)([self._stored(str(i)) for i in range(len(self))[index]])
        return self._stored(self._absolute(index))

    def __setitem__(self, index, value) -> None:
        self._store(self._absolute(index), value)

    def __iter__(self) -> Iterator:
        return iter([self._stored(str(i)) for i in range(len(self))])

    def __iadd__(self, values: Iterable) -> ParameterList:
        return self.extend(values)

    def append(self, value) -> ParameterList:
        """Add ``value`` (a Parameter, or a Tensor/array made one, or any other value) at the
        end; returns self."""
        self._store(str(len(self)), value)
        return self

    def extend(self, values: Iterable) -> ParameterList:
        """Add every entry of ``values`` at the end; returns self.

        Raises:
            TypeError: ``values`` is not iterable.
        """
        if not isinstance(values, Iterable) or isinstance(values, Tensor | np.ndarray | str):
            raise TypeError(f"ParameterList.extend should be called with an iterable, but got {type(values).__name__}")
        for value in list(values):
            self.append(value)
        return self


class ParameterDict(_ParameterContainer):
    """Parameters by name, registered under their keys, as ``torch.nn.ParameterDict``: an
    ordered mapping (``[]``, ``in``, ``keys items values get pop update clear``); Tensors and
    arrays stored in it become Parameters, other values are kept as they are."""

    def __init__(self, parameters: Mapping | Iterable | None = None):
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key: str):
        if key not in self._order:
            raise KeyError(key)
        return self._stored(key)

    def __setitem__(self, key: str, value) -> None:
        if not isinstance(key, str):
            raise TypeError(f"ParameterDict keys are strings (attribute names), got {type(key).__name__}")
        self._store(key, value)

    def __delitem__(self, key: str) -> None:
        if key not in self._order:
            raise KeyError(key)
        self._forget(key)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __contains__(self, key) -> bool:
        return key in self._order

    def keys(self):
        """The names, in insertion order."""
        return dict.fromkeys(self._order).keys()

    def items(self):
        """``(name, value)`` pairs, in insertion order."""
        return {key: self._stored(key) for key in self._order}.items()

    def values(self):
        """The values (parameters, and what else was stored), in insertion order."""
        return {key: self._stored(key) for key in self._order}.values()

    def get(self, key: str, default=None):
        """The value ``key``, or ``default``."""
        return self._stored(key) if key in self._order else default

    def pop(self, key: str):
        """Remove the entry ``key`` and return its value (KeyError if missing)."""
        value = self[key]
        del self[key]
        return value

    def clear(self) -> None:
        """Remove every entry."""
        for key in list(self._order):
            self._forget(key)

    def popitem(self) -> tuple:
        """Remove the last entry and return ``(name, value)``."""
        if not self._order:
            raise KeyError("popitem(): ParameterDict is empty")
        key = self._order[-1]
        return key, self.pop(key)

    def setdefault(self, key: str, default=None):
        """The value ``key``, first set to ``default`` if missing."""
        if key not in self._order:
            self[key] = default
        return self[key]

    def copy(self) -> ParameterDict:
        """A new ParameterDict holding the same Parameter objects (and other values)."""
        return ParameterDict(OrderedDict(self.items()))

    def fromkeys(self, keys: Iterable[str], default=None) -> ParameterDict:
        """A new ParameterDict with ``keys``, each holding ``default``."""
        return ParameterDict((key, default) for key in keys)

    def __reversed__(self) -> Iterator[str]:
        return reversed(list(self._order))

    def __or__(self, other: ParameterDict) -> ParameterDict:
        merged = self.copy()
        merged.update(other)
        return merged

    def __ror__(self, other: ParameterDict) -> ParameterDict:
        merged = other.copy()
        merged.update(self)
        return merged

    def __ior__(self, other: ParameterDict) -> ParameterDict:
        self.update(other)
        return self

    def update(self, parameters: Mapping | Iterable) -> None:
        """Add or replace entries from a mapping or from ``(name, value)`` pairs.

        Raises:
            TypeError: ``parameters`` is not iterable.
            ValueError: a pair does not have two elements.
        """
        if not isinstance(parameters, Iterable):
            raise TypeError(f"ParameterDict.update should be called with an iterable of key/value pairs, but got "
                            f"{type(parameters).__name__}")
        if isinstance(parameters, OrderedDict | ParameterDict):
            pairs = parameters.items()
        elif isinstance(parameters, Mapping):  # as PyTorch: a plain mapping's entries in sorted order
            pairs = sorted(parameters.items())
        else:
            pairs = parameters
        for j, pair in enumerate(pairs):
            pair = list(pair)
            if len(pair) != 2:
                raise InvalidArgumentError(
                    f"ParameterDict update sequence element #{j} has length {len(pair)}; 2 is required")
            self[pair[0]] = pair[1]


# == pooling =====================================================================================
def _adaptive_max_pool(name: str, input, output_size, ndim: int, return_indices: bool):
    shape = _shape(input)
    if len(shape) not in (ndim + 1, ndim + 2) or 0 in shape[-ndim - 1:]:
        raise InvalidArgumentError(f"{name}: expected a non-empty input (N, C, {_conv._SPATIAL[ndim]}) or "
                         f"(C, {_conv._SPATIAL[ndim]}), got shape {shape}")
    spatial = shape[-ndim:]
    sizes = tuple(output_size) if isinstance(output_size, tuple | list) else (output_size,) * ndim
    if len(sizes) != ndim or not all(s is None or (isinstance(s, numbers.Integral) and not isinstance(s, bool)
                                                   and s >= 0) for s in sizes):
        raise InvalidArgumentError(
            f"{name}: output_size must be a non-negative int or a tuple of {ndim} (None keeps an axis), got "
            f"{output_size!r}")
    sizes = tuple(n if s is None else int(s) for n, s in zip(spatial, sizes, strict=True))
    eager_only(f"{name} (the positions of its maxima are found in NumPy)")
    data = np.asarray(_data(input))
    lead = data.shape[:-ndim]
    # PyTorch's windows: output k spans floor(k n / out) to ceil((k + 1) n / out) - 1 on each axis;
    # the maximum is the first one in row-major order, and a NaN counts as the maximum (the
    # last NaN: PyTorch's running maximum takes every NaN it meets).
    spans = [[((k * n) // s, -((-(k + 1) * n) // s)) for k in range(s)] for n, s in zip(spatial, sizes, strict=True)]
    flat = data.reshape(*lead, math.prod(spatial))  # (not -1: an empty batch has no length to infer)
    indices = np.empty((*lead, math.prod(sizes)), dtype=np.int64)
    positions = np.arange(math.prod(spatial)).reshape(spatial)
    for j, window in enumerate(itertools.product(*spans)):
        where = positions[tuple(slice(a, b) for a, b in window)].reshape(-1)
        values = flat[..., where]
        best = np.argmax(values, axis=-1)
        if values.dtype.kind == "f":
            nans = np.isnan(values)
            last_nan = nans.shape[-1] - 1 - np.argmax(nans[..., ::-1], axis=-1)
            best = np.where(nans.any(axis=-1), last_nan, best)
        indices[..., j] = where[best]
    values = ops.take_along_axis(ops.reshape(input, (*lead, math.prod(spatial))), indices, axis=-1)
    out = ops.reshape(values, (*lead, *sizes))
    return (out, Tensor(indices.reshape(*lead, *sizes), dtype=np.int64)) if return_indices else out


def adaptive_max_pool1d(input, output_size, return_indices: bool = False):
    """Maxima over ``output_size`` windows covering the length of ``(N, C, L)`` (or ``(C, L)``)
    as evenly as they can, as ``torch.nn.functional.adaptive_max_pool1d``; with
    ``return_indices`` also the position of each maximum. The gradient goes to that position."""
    return _adaptive_max_pool("adaptive_max_pool1d", input, output_size, 1, return_indices)


def adaptive_max_pool2d(input, output_size, return_indices: bool = False):
    """``adaptive_max_pool1d`` over both axes of ``(N, C, H, W)`` (or ``(C, H, W)``), as
    ``torch.nn.functional.adaptive_max_pool2d``: ``output_size`` is an int or a pair (None
    keeps an axis); indices are flat positions ``h * W + w``."""
    return _adaptive_max_pool("adaptive_max_pool2d", input, output_size, 2, return_indices)


class AdaptiveMaxPool1d(Module):
    """``adaptive_max_pool1d`` as a layer, as ``torch.nn.AdaptiveMaxPool1d``."""

    ndim = 1

    def __init__(self, output_size, return_indices: bool = False):
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, x):
        pool = adaptive_max_pool1d if self.ndim == 1 else adaptive_max_pool2d
        return pool(x, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(AdaptiveMaxPool1d):
    """``adaptive_max_pool2d`` as a layer, as ``torch.nn.AdaptiveMaxPool2d``."""

    ndim = 2


class _MaxPool3dOp(_conv.MaxPool1d):
    """``MaxPool1d``'s rule on three spatial axes."""

    name = "max_pool3d"


class _AvgPool3dOp(_conv.AvgPool1d):
    """``AvgPool1d``'s rule on three spatial axes."""

    name = "avg_pool3d"


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """Maximum over ``kD x kH x kW`` windows of ``(N, C, D, H, W)`` (or ``(C, D, H, W)``), as
    ``torch.nn.functional.max_pool3d``; the arguments as ``max_pool2d``'s, with triples. Integer
    input keeps its dtype; ``return_indices`` also returns the int64 flat positions
    ``(d * H + h) * W + w`` of the maxima, as ``max_unpool3d`` takes them.
    """
    def float_pool(x, kernel_size, stride, padding, dilation, ceil_mode):
        return _unbatched("max_pool3d", x, "C", lambda batch: _MaxPool3dOp.apply(
            batch, kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode),
            ndim=3)

    return _parity.max_pool("max_pool3d", input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 3,
                            float_pool)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override=None):
    """Mean over ``kD x kH x kW`` windows of ``(N, C, D, H, W)`` (or ``(C, D, H, W)``), as
    ``torch.nn.functional.avg_pool3d``; the arguments as ``avg_pool2d``'s, with triples
    (``divisor_override``, a nonzero int, divides each window's sum by it instead).
    """
    if divisor_override is not None:
        from microgradnp.nn.pool_divisor import avg_pool_divided

        return avg_pool_divided("avg_pool3d", input, avg_pool3d, 3, kernel_size, stride, padding, ceil_mode,
                                divisor_override)
    return _unbatched("avg_pool3d", input, "C", lambda batch: _AvgPool3dOp.apply(
        batch, kernel_size=kernel_size, stride=stride, padding=padding, ceil_mode=ceil_mode,
        count_include_pad=count_include_pad), ndim=3)


class MaxPool3d(_MaxPoolLayer):
    """Maximum over ``kD x kH x kW`` windows of ``(N, C, D, H, W)``, as ``torch.nn.MaxPool3d``
    (``return_indices`` also returns the positions of the maxima, for ``MaxUnpool3d``)."""

    op = "MaxPool3d"
    ndim = 3

    def forward(self, x):
        return max_pool3d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                          self.return_indices)


class AvgPool3d(_Pool1d):
    """Mean over ``kD x kH x kW`` windows of ``(N, C, D, H, W)``, as ``torch.nn.AvgPool3d``
    (``divisor_override``, a nonzero int, divides each window's sum by it instead)."""

    op = "AvgPool3d"
    ndim = 3

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override=None):
        from microgradnp.nn.pool_divisor import check_divisor

        super().__init__(kernel_size, stride, padding, 1, ceil_mode)
        self.count_include_pad = count_include_pad
        self.divisor_override = check_divisor("AvgPool3d", divisor_override)

    def forward(self, x):
        return avg_pool3d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                          self.divisor_override)
