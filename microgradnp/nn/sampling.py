# ruff: noqa: A001, A002  (PyTorch's argument name ``input``)
"""Spatial transformers: ``affine_grid`` and ``grid_sample``, as ``torch.nn.functional``'s.

``affine_grid`` is a matrix product of a constant base grid with ``theta``, so its gradient
comes from the existing operations. ``grid_sample`` is one primitive (``GridSample``): its
forward gathers the corner (or 4 x 4 bicubic) taps with NumPy indexing and its backward
scatters the output gradient into the input and differentiates the tap weights for the
grid, following PyTorch's kernels, including their choices at the kinks (a coordinate on
the border clip or on a reflection counts as outside: gradient 0 there). Under
``create_graph=True`` the backward runs on Tensors, so that it can be differentiated again.
"""

from __future__ import annotations

import functools
import itertools
import operator
import warnings

import numpy as np

from microgradnp import ops
from microgradnp.errors import DtypeError, InvalidArgumentError
from microgradnp.ops.indexing import ScatterAdd
from microgradnp.ops.primitive import Primitive
from microgradnp.tensor import Tensor, _data

__all__ = ["affine_grid", "grid_sample"]

_ALIGN_CORNERS_WARNING = (
    "Default grid_sample and affine_grid behavior has changed to align_corners=False since 1.3.0. Please specify "
    "align_corners=True if the old behavior is desired. See the documentation of grid_sample for details.")
_MODES = ("bilinear", "nearest", "bicubic")
_PADDING_MODES = ("zeros", "border", "reflection")
CUBIC_A = -0.75  # PyTorch's cubic convolution constant (bicubic grid_sample and interpolate)


def _default_align_corners(align_corners, stacklevel: int = 3) -> bool:
    if align_corners is None:
        warnings.warn(_ALIGN_CORNERS_WARNING, UserWarning, stacklevel=stacklevel)
        return False
    return bool(align_corners)


# == affine_grid ===============================================================================
def _base_coordinates(steps: int, align_corners: bool, dtype) -> np.ndarray:
    """PyTorch's normalised pixel positions along one axis: -1 to 1 at the corner pixels'
    centres (align_corners) or edges (otherwise); 0 for a single pixel."""
    if steps <= 1:
        return np.zeros(max(steps, 0), dtype=dtype)
    values = np.linspace(-1, 1, steps, dtype=np.float64)
    if not align_corners:
        values = values * (steps - 1) / steps
    return values.astype(dtype)


def affine_grid(theta, size, align_corners=None):
    """The sampling grid of a batch of affine maps, as ``torch.nn.functional.affine_grid``: for
    each output pixel, the normalised ``[-1, 1]`` input position ``theta @ (x, y, 1)`` that
    ``grid_sample`` reads.

    Args:
        theta: the maps, a floating-point tensor ``(N, 2, 3)`` for a 2-D ``size`` or ``(N, 3, 4)``
            for a 3-D one.
        size: the output's size, ``(N, C, H, W)`` or ``(N, C, D, H, W)``.
        align_corners: -1 and 1 are the centres of the corner pixels (True) or their outer
            edges (False). None means False, with PyTorch's warning.

    Returns:
        The grid, ``(N, H, W, 2)`` holding ``(x, y)`` or ``(N, D, H, W, 3)`` holding ``(x, y, z)``,
        differentiable in ``theta``.

    Raises:
        ValueError: ``theta`` not floating-point, or its shape or ``size`` do not fit.
        NotImplementedError: ``size`` not 4 or 5 long.
    """
    align_corners = _default_align_corners(align_corners)
    if np.asarray(_data(theta)).dtype.kind != "f":  # before Tensor() makes whole numbers floats
        raise InvalidArgumentError(f"Expected theta to have floating point type, but got "
                                   f"{np.asarray(_data(theta)).dtype}")
    theta = theta if isinstance(theta, Tensor) else Tensor(np.asarray(theta))
    size = tuple(int(s) for s in size)
    if len(size) not in (4, 5):
        raise NotImplementedError("affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, "
                                  f"respectively. Got size {size}.")
    dims = len(size) - 2
    if theta.ndim != 3 or theta.shape[1:] != (dims, dims + 1):
        raise InvalidArgumentError(
            f"Expected a batch of {dims}D affine matrices of shape Nx{dims}x{dims + 1} for size {size}. "
            f"Got {theta.shape}.")
    spatial = size[2:]
    if align_corners and min(spatial) == 1:
        warnings.warn("Since version 1.3.0, affine_grid behavior has changed for unit-size grids when "
                      "align_corners=True. This is not an issue for standard, user-defined grids.",
                      UserWarning, stacklevel=2)
    elif min(size) <= 0:
        raise InvalidArgumentError(f"Expected non-zero, positive output size. Got {size}")
    if theta.shape[0] != size[0]:
        raise InvalidArgumentError(f"affine_grid: theta holds {theta.shape[0]} maps but size asks for a batch "
                                   f"of {size[0]}; give one map per sample")
    # The base grid holds (x, y[, z], 1) per output pixel, x along the last axis (W).
    axes = [_base_coordinates(n, align_corners, theta.dtype) for n in reversed(spatial)]  # x, y[, z]
    mesh = np.meshgrid(*reversed(axes), indexing="ij")[::-1]  # arrays of the spatial shape, x first
    base = np.stack([*mesh, np.ones(spatial, dtype=theta.dtype)], axis=-1).reshape(-1, dims + 1)
    grid = ops.matmul(base, ops.swapaxes(theta, -1, -2))  # (N, D*H*W, dims)
    return ops.reshape(grid, (size[0], *spatial, dims))


# == grid_sample ===============================================================================
def _unnormalize(coordinate: np.ndarray, size: int, align_corners: bool):
    """A [-1, 1] coordinate as a pixel position, and d(position)/d(coordinate)."""
    if align_corners:
        return (coordinate + 1) / 2 * (size - 1), (size - 1) / 2
    return ((coordinate + 1) * size - 1) / 2, size / 2


def _reflect(position: np.ndarray, twice_low: int, twice_high: int):
    """PyTorch's ``reflect_coordinates``: ``position`` folded into [low, high] by mirror
    reflections, and its derivative (+1 or -1)."""
    if twice_low == twice_high:
        return np.zeros_like(position), np.zeros_like(position)
    low, span = twice_low / 2, (twice_high - twice_low) / 2
    shifted = position - low
    sign = np.where(shifted < 0, -1, 1).astype(position.dtype)
    shifted = np.abs(shifted)
    extra = np.fmod(shifted, span)
    even = np.floor(shifted / span) % 2 == 0
    return np.where(even, extra + low, span - extra + low), np.where(even, sign, -sign)


def _clip(position: np.ndarray, size: int):
    """``position`` clipped to [0, size - 1], and its derivative: 0 at and beyond the ends, as
    PyTorch's (so that a coordinate on the border counts as outside)."""
    inside = (position > 0) & (position < size - 1)
    return np.clip(position, 0, size - 1), inside.astype(position.dtype)


def _apply_padding(position: np.ndarray, size: int, padding_mode: str, align_corners: bool):
    """PyTorch's ``compute_coordinates``: a position mapped into the input for ``border`` and
    ``reflection`` padding (``zeros`` leaves it), and its derivative."""
    if padding_mode == "border":
        return _clip(position, size)
    if padding_mode == "reflection":
        twice = (0, 2 * (size - 1)) if align_corners else (-1, 2 * size - 1)
        reflected, slope = _reflect(position, *twice)
        clipped, inside = _clip(reflected, size)
        return clipped, slope * inside
    return position, np.ones_like(position)


def _cubic_near(x, a: float):
    """Keys' cubic convolution kernel for 0 <= x <= 1."""
    return ((a + 2) * x - (a + 3)) * x * x + 1


def _cubic_far(x, a: float):
    """Keys' cubic convolution kernel for 1 <= x <= 2."""
    return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a


def cubic_kernel(x: np.ndarray, a: float) -> np.ndarray:
    """Keys' cubic convolution kernel with parameter ``a`` at ``x`` (0 from |x| = 2 on)."""
    x = np.abs(x)
    return np.where(x < 1, _cubic_near(x, a), np.where(x < 2, _cubic_far(x, a), 0.0))


def cubic_weights(t: np.ndarray, a: float = CUBIC_A) -> list[np.ndarray]:
    """The cubic convolution weights of the taps at -1, 0, 1, 2 for a fractional offset ``t``
    (Keys' kernel with parameter ``a``, as PyTorch's ``get_cubic_upsample_coefficients``)."""
    return [_cubic_far(t + 1, a), _cubic_near(t, a), _cubic_near(1 - t, a), _cubic_far(2 - t, a)]


def _cubic_weight_slopes(t: np.ndarray, a: float = CUBIC_A) -> list[np.ndarray]:
    """d(cubic_weights)/dt."""
    def near(x):
        return (3 * (a + 2) * x - 2 * (a + 3)) * x

    def far(x):
        return (3 * a * x - 10 * a) * x + 8 * a

    return [far(t + 1), near(t), -near(1 - t), -far(2 - t)]


def _index(position: np.ndarray, size: int) -> np.ndarray:
    """A tap's position as an index that is safe to read (clipped; NaN as 0): whether it
    really reads the input is decided separately."""
    return np.clip(np.nan_to_num(position), 0, size - 1).astype(np.int64)


def _product(factors):
    """The product of arrays or Tensors (``np.prod`` takes no Tensors)."""
    return functools.reduce(operator.mul, factors)


def _taps(positions, sizes, mode: str, padding_mode: str, align_corners: bool, fractions=None):
    """Each tap of every output position: ``(indices, weights, slopes, inside)``, where
    ``indices`` are per spatial axis (clipped into the input), ``weights`` the tap's weight,
    ``slopes`` its derivative along each axis (in pixels), and ``inside`` whether it reads the
    input (False: a zero of the ``zeros`` padding). ``fractions`` (one per axis, the offsets of
    the positions from their floors) may be given as Tensors, to make the weights and slopes
    Tensors too (the double backward)."""
    dims = len(sizes)
    floors = [np.floor(p) for p in positions]
    if fractions is None:
        fractions = [p - f for p, f in zip(positions, floors)]
    if mode == "bicubic":
        weights = [cubic_weights(t) for t in fractions]
        slopes = [_cubic_weight_slopes(t) for t in fractions]
        for offsets in itertools.product(range(4), repeat=dims):
            indices, inside = [], True
            for axis, k in enumerate(offsets):
                index, _ = _apply_padding(floors[axis] + (k - 1), sizes[axis], padding_mode, align_corners)
                inside = inside & (index >= 0) & (index <= sizes[axis] - 1)
                indices.append(_index(index, sizes[axis]))
            weight = _product([weights[axis][k] for axis, k in enumerate(offsets)])
            slope = [_product([(slopes if j == axis else weights)[j][k] for j, k in enumerate(offsets)])
                     for axis in range(dims)]
            yield indices, weight, slope, inside
        return
    if mode == "nearest":
        indices = [np.rint(p) for p in positions]  # half to even, as PyTorch's nearbyint
        inside = np.logical_and.reduce([(i >= 0) & (i <= n - 1) for i, n in zip(indices, sizes)])
        yield [_index(i, n) for i, n in zip(indices, sizes)], np.ones_like(positions[0]), None, inside
        return
    for corner in itertools.product((0, 1), repeat=dims):
        factors = [f if c else 1 - f for f, c in zip(fractions, corner)]
        indices = [low + c for low, c in zip(floors, corner)]
        inside = np.logical_and.reduce([(i >= 0) & (i <= n - 1) for i, n in zip(indices, sizes)])
        slope = [_product([(1 if c else -1) if j == axis else f for j, (f, c) in enumerate(zip(factors, corner))])
                 for axis in range(dims)]
        yield [_index(i, n) for i, n in zip(indices, sizes)], _product(factors), slope, inside


class GridSample(Primitive):
    """``grid_sample`` as one node: input ``(N, C, *in_spatial)``, grid ``(N, *out_spatial,
    dims)`` holding ``(x, y[, z])``; output ``(N, C, *out_spatial)``. The input gradient scatters
    the output gradient with the tap weights; the grid's differentiates the weights (zero for
    ``nearest``)."""

    name = "grid_sample"

    @staticmethod
    def forward(ctx, input, grid, mode="bilinear", padding_mode="zeros", align_corners=False):
        sizes = input.shape[2:]
        dims = len(sizes)
        batch = np.arange(input.shape[0]).reshape((-1,) + (1,) * dims)
        # Grid axis 0 is x (the last input axis): reverse to the input's axis order.
        unnormalized = [_unnormalize(grid[..., dims - 1 - axis], n, align_corners)
                        for axis, n in enumerate(sizes)]
        positions, scales = [u[0] for u in unnormalized], [u[1] for u in unnormalized]
        if mode == "bicubic":  # the padding applies to each tap's index, not to the position
            slopes = [np.full_like(p, s) for p, s in zip(positions, scales)]
        else:
            padded = [_apply_padding(p, n, padding_mode, align_corners) for p, n in zip(positions, sizes)]
            positions = [p for p, _ in padded]
            slopes = [slope * s for (_, slope), s in zip(padded, scales)]
        channels_last = np.moveaxis(input, 1, -1)
        out = np.zeros((*grid.shape[:-1], input.shape[1]), dtype=input.dtype)
        taps = []
        with np.errstate(invalid="ignore"):  # a NaN in the grid reads nothing, as in PyTorch
            for indices, weight, slope, inside in _taps(positions, sizes, mode, padding_mode, align_corners):
                values = np.where(inside[..., None], channels_last[(batch, *indices)], 0)
                out += values * weight[..., None]
                taps.append((indices, weight, slope, inside))
        ctx.taps, ctx.slopes, ctx.input_shape, ctx.batch = taps, slopes, input.shape, batch
        ctx.positions, ctx.options = positions, (mode, padding_mode, align_corners)
        ctx.save_for_backward(input, grid)
        return np.moveaxis(out, -1, 1)

    @staticmethod
    def backward(ctx, grad):
        input, grid = ctx.saved_tensors
        if isinstance(grad, Tensor):
            return _grid_sample_backward_on_tensors(ctx, grad, input, grid)
        channels_last = np.moveaxis(input, 1, -1)
        grad_last = np.moveaxis(grad, 1, -1)  # (N, *out_spatial, C)
        grad_input = np.zeros_like(channels_last)
        dims = len(ctx.input_shape) - 2
        grad_grid = np.zeros((*grad_last.shape[:-1], dims), dtype=input.dtype)
        for indices, weight, slope, inside in ctx.taps:
            place = (np.broadcast_to(ctx.batch, weight.shape), *indices)
            np.add.at(grad_input, tuple(i[inside] for i in place), (grad_last * weight[..., None])[inside])
            if slope is not None:
                values = np.where(inside[..., None], channels_last[(ctx.batch, *indices)], 0)
                along = (values * grad_last).sum(axis=-1)
                for axis in range(dims):
                    grad_grid[..., dims - 1 - axis] += along * slope[axis]
        for axis in range(dims):
            grad_grid[..., dims - 1 - axis] *= ctx.slopes[axis]
        return np.moveaxis(grad_input, -1, 1), grad_grid


def _grid_sample_backward_on_tensors(ctx, grad, input, grid):
    """``GridSample``'s backward as Tensor operations (for ``create_graph=True``), so that it can
    be differentiated again, as PyTorch's can: the same taps, with their weights and slopes
    rebuilt as Tensors of the grid, the reads as indexing and the scatter as ``ScatterAdd``."""
    dims = len(ctx.input_shape) - 2
    # Between the kinks of floor and of the padding, a position moves with its grid coordinate
    # at the rate ctx.slopes: the fractions as that line through their values (a coordinate that
    # is not finite reads nothing, and is held still so that inf - inf makes no NaN).
    fractions = []
    for axis, (position, slope) in enumerate(zip(ctx.positions, ctx.slopes)):
        coordinate = grid[..., dims - 1 - axis]
        finite = np.isfinite(coordinate.data)
        shift = ops.where(finite, coordinate, 0.0) - np.where(finite, coordinate.data, 0.0)
        fractions.append(shift * slope + (position - np.floor(position)))
    channels_last = ops.moveaxis(input, 1, -1)
    grad_last = ops.moveaxis(grad, 1, -1)  # (N, *out_spatial, C)
    grad_input, along_axes = 0, [0] * dims
    zero = np.zeros((), dtype=grad.dtype)
    for indices, weight, slope, inside in _taps(ctx.positions, ctx.input_shape[2:], *ctx.options, fractions):
        place = (np.broadcast_to(ctx.batch, inside.shape), *indices)
        spread = ops.where(inside[..., None], grad_last * ops.expand_dims(weight, -1), zero)
        grad_input = grad_input + ScatterAdd.apply(spread, shape=channels_last.shape, index=place)
        if slope is not None:
            values = ops.where(inside[..., None], channels_last[place], zero)
            along = (values * grad_last).sum(axis=-1)
            along_axes = [total + along * s for total, s in zip(along_axes, slope)]
    if ctx.options[0] == "nearest":  # piecewise constant in the grid
        grad_grid = Tensor(np.zeros(grid.shape, dtype=grid.dtype))
    else:  # (x, y[, z]): the last input axis first
        grad_grid = ops.stack([along_axes[axis] * ctx.slopes[axis] for axis in reversed(range(dims))], axis=-1)
    return ops.moveaxis(grad_input, -1, 1), grad_grid


def grid_sample(input, grid, mode: str = "bilinear", padding_mode: str = "zeros", align_corners=None):
    """The input read at the positions of ``grid``, as ``torch.nn.functional.grid_sample``.

    Args:
        input: ``(N, C, H, W)`` or ``(N, C, D, H, W)``, floating-point.
        grid: ``(N, H_out, W_out, 2)`` of ``(x, y)`` (or ``(N, D_out, H_out, W_out, 3)`` of ``(x, y,
            z)``), normalised: -1 is the left (top, front) edge of the input and 1 the right one;
            the same dtype as ``input``.
        mode: ``"bilinear"`` (trilinear for 5-D), ``"nearest"`` (the nearest pixel, ties to even),
            or ``"bicubic"`` (4-D only; cubic convolution with a = -0.75 over 4 x 4 pixels).
        padding_mode: what positions outside the input read: ``"zeros"``, ``"border"`` (the nearest
            edge pixel), or ``"reflection"`` (mirrored at the edges).
        align_corners: -1 and 1 are the centres of the corner pixels (True) or their outer edges
            (False). None means False, with PyTorch's warning.

    Returns:
        ``(N, C, H_out, W_out)`` (or ``(N, C, D_out, H_out, W_out)``), differentiable in ``input`` and,
        except for ``"nearest"`` (gradient 0), in ``grid``: as PyTorch's, a position exactly on
        a clip or reflection edge gets gradient 0. Differentiable twice, as PyTorch's.

    Raises:
        ValueError: an unknown mode or padding mode, or shapes that do not fit.
        TypeError: integer input or a grid of another dtype (a ``DtypeError``, as PyTorch's
            RuntimeError).
    """
    if mode not in _MODES:
        raise InvalidArgumentError("nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or "
                                   f"'bicubic', but got: '{mode}'")
    if padding_mode not in _PADDING_MODES:
        raise InvalidArgumentError("nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or "
                                   f"'reflection', but got: '{padding_mode}'")
    align_corners = _default_align_corners(align_corners)
    if np.asarray(_data(input)).dtype.kind != "f":  # before Tensor() makes whole numbers floats
        raise DtypeError(f"grid_sample: not implemented for {np.asarray(_data(input)).dtype} input (as in "
                         "PyTorch); convert it with .float() or .double() first")
    input = input if isinstance(input, Tensor) else Tensor(np.asarray(input))
    grid = grid if isinstance(grid, Tensor) else Tensor(np.asarray(grid))
    if input.ndim not in (4, 5):
        raise InvalidArgumentError(f"grid_sampler(): expected 4D or 5D input and grid with same number of "
                                   f"dimensions, but got input with sizes {list(input.shape)} and grid with sizes "
                                   f"{list(grid.shape)}")
    if grid.ndim != input.ndim or grid.shape[-1] != input.ndim - 2:
        raise InvalidArgumentError(f"grid_sampler(): expected grid to have size {input.ndim - 2} in last dimension, "
                                   f"but got grid with sizes {list(grid.shape)}")
    if grid.shape[0] != input.shape[0]:
        raise InvalidArgumentError(f"grid_sampler(): expected grid and input to have same batch size, but got input "
                                   f"with sizes {list(input.shape)} and grid with sizes {list(grid.shape)}")
    if grid.dtype != input.dtype:
        raise DtypeError(f"grid_sampler(): expected input and grid to have the same dtype, but input has "
                         f"{input.dtype} and grid has {grid.dtype}")
    if mode == "bicubic" and input.ndim == 5:
        raise InvalidArgumentError("grid_sampler(): bicubic interpolation only supports 4D input")
    if 0 in input.shape[2:]:
        raise InvalidArgumentError(f"grid_sampler(): expected input to have non-empty spatial dimensions, but input "
                                   f"has sizes {list(input.shape)}")
    return GridSample.apply(input, grid, mode=mode, padding_mode=padding_mode, align_corners=align_corners)
