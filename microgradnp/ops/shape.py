"""Operations that move elements around without changing them."""

from __future__ import annotations

import numpy as np

from microgradnp.ops.primitive import Primitive, normalize_axes
from microgradnp.tensor import Tensor, _data


def _shape_args(shape) -> tuple:
    """``f(2, 3)`` and ``f((2, 3))`` both mean the shape (2, 3)."""
    if len(shape) == 1 and isinstance(shape[0], tuple | list):
        return tuple(shape[0])
    return shape


class Reshape(Primitive):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.in_shape = a.shape
        return a.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.in_shape)


class Transpose(Primitive):
    @staticmethod
    def forward(ctx, a, axes=None):
        out = a.transpose(axes)  # validates the axes before they are normalised
        # argsort inverts the permutation only with axes counted from the front (not -1).
        ctx.axes = None if axes is None else tuple(int(axis) % a.ndim for axis in axes)
        return out

    @staticmethod
    def backward(ctx, grad):
        inverse = None if ctx.axes is None else tuple(np.argsort(ctx.axes))
        return grad.transpose(inverse)


class BroadcastTo(Primitive):
    name = "broadcast_to"

    @staticmethod
    def forward(ctx, a, shape):
        return np.broadcast_to(a, shape)

    @staticmethod
    def backward(ctx, grad):
        return grad  # the engine sums it back to the input's shape


class Copy(Primitive):
    """A new array with the same elements (``np.copy`` on a Tensor)."""

    @staticmethod
    def forward(ctx, a):
        return a.copy()

    @staticmethod
    def backward(ctx, grad):
        return grad


class Cast(Primitive):
    """The elements in another floating-point dtype (``t.float()``, ``t.double()``,
    ``t.to(dtype)``); the gradient goes back in the input's dtype."""

    @staticmethod
    def forward(ctx, a, dtype):
        ctx.dtype = a.dtype
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, grad):
        return astype(grad, ctx.dtype)


def astype(x, dtype):
    """``x`` in the floating-point ``dtype``, differentiably (``x`` itself when it
    already has it, as ``torch.Tensor.to`` returns ``self``)."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"astype: {dtype} is not a floating-point dtype: gradients need one (float32 or float64); "
                        "for integer values use t.detach().numpy().astype(...)")
    if not isinstance(x, Tensor):
        return np.asarray(x).astype(dtype, copy=False)
    return x if x.dtype == dtype else Cast.apply(x, dtype=dtype)


class Pad(Primitive):
    @staticmethod
    def forward(ctx, a, pad_width, constant_values=0):
        widths = np.broadcast_to(np.asarray(pad_width, dtype=int), (a.ndim, 2))
        ctx.inner = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, a.shape))
        return np.pad(a, widths, mode="constant", constant_values=constant_values)

    @staticmethod
    def backward(ctx, grad):
        return grad[ctx.inner]


class Concatenate(Primitive):
    @staticmethod
    def forward(ctx, *arrays, axis=0):
        out = np.concatenate(arrays, axis=axis)
        axis = axis % out.ndim
        bounds = np.cumsum([0] + [a.shape[axis] for a in arrays])
        ctx.pieces = [(slice(None),) * axis + (slice(lo, hi),) for lo, hi in zip(bounds[:-1], bounds[1:])]
        return out

    @staticmethod
    def backward(ctx, grad):
        return tuple(grad[piece] for piece in ctx.pieces)


def reshape(x, *shape):
    """The same elements in a new shape: ``reshape(x, 2, 3)`` or ``reshape(x, (2, -1))``."""
    return Reshape.apply(x, shape=_shape_args(shape))


def transpose(x, *axes):
    """Permute the axes (reverse them when none are given), as ``ndarray.transpose``."""
    axes = _shape_args(axes)
    return Transpose.apply(x, axes=tuple(axes) if axes and axes[0] is not None else None)


def swapaxes(x, axis1: int, axis2: int):
    """Exchange two axes."""
    order = list(range(np.ndim(_data(x))))
    order[axis1], order[axis2] = order[axis2], order[axis1]
    return Transpose.apply(x, axes=tuple(order))


def broadcast_to(x, shape):
    """Repeat ``x`` along new or length-1 axes to ``shape`` (gradients are summed back)."""
    return BroadcastTo.apply(x, shape=tuple(shape) if not isinstance(shape, int) else (shape,))


def _data_shape(x) -> tuple:
    return np.shape(_data(x))


def expand_dims(x, axis):
    """Insert length-1 axes at the positions ``axis`` (an int or tuple)."""
    return Reshape.apply(x, shape=np.expand_dims(np.empty(_data_shape(x), dtype=bool), axis).shape)


def squeeze(x, axis=None):
    """Remove length-1 axes (all of them, or those in ``axis``)."""
    shape = _data_shape(x)
    axes = normalize_axes(axis, len(shape)) if axis is not None else None
    if axes is not None and any(shape[i] != 1 for i in axes):
        raise ValueError(f"squeeze: axis {axis} of a tensor of shape {shape} does not have length 1")
    return Reshape.apply(x, shape=tuple(n for i, n in enumerate(shape) if (n != 1 if axes is None else i not in axes)))


def flatten(x, start_axis: int = 0, end_axis: int = -1):
    """Merge axes ``start_axis``..``end_axis`` into one (all of them by default)."""
    shape = _data_shape(x)
    if not shape:
        return Reshape.apply(x, shape=(1,))
    start, end = normalize_axes((start_axis, end_axis), len(shape))
    return Reshape.apply(x, shape=(*shape[:start], -1, *shape[end + 1 :]))


def pad(x, pad_width, constant_values=0):
    """Pad with a constant, ``pad_width`` as in ``np.pad`` (mode "constant" only)."""
    return Pad.apply(x, pad_width=pad_width, constant_values=constant_values)


def concatenate(tensors, axis: int = 0):
    """Join tensors along an existing axis."""
    return Concatenate.apply(*tensors, axis=axis)


def stack(tensors, axis: int = 0):
    """Join tensors of one shape along a new axis (``axis`` in [-(ndim+1), ndim], as ``np.stack``)."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: need at least one tensor")
    shapes = [_data_shape(t) for t in tensors]
    for i, shape in enumerate(shapes[1:], 1):
        if shape != shapes[0]:
            raise ValueError(
                f"stack: all tensors must have the same shape, but tensor 0 has shape {shapes[0]} "
                f"and tensor {i} has shape {shape}"
            )
    (axis,) = normalize_axes(axis, len(shapes[0]) + 1)  # AxisError outside [-(ndim+1), ndim]
    return concatenate([expand_dims(t, axis) for t in tensors], axis=axis)


def _at_least(x, ndim: int):
    """``x`` with length-1 axes added as ``np.atleast_1d/2d/3d`` add them (the same
    elements, so the gradient is the reshape's)."""
    shape = _data_shape(x)
    if len(shape) >= ndim:
        return x
    if ndim == 3 and len(shape) == 2:
        return Reshape.apply(x, shape=(*shape, 1))
    if ndim == 3:
        return Reshape.apply(x, shape=(1, *shape, 1) if shape else (1, 1, 1))
    return Reshape.apply(x, shape=(1,) * (ndim - len(shape)) + shape)


def atleast_1d(x):
    """``x`` with at least one axis (a scalar becomes shape (1,))."""
    return _at_least(x, 1)


def atleast_2d(x):
    """``x`` with at least two axes: (n,) becomes (1, n), as ``np.atleast_2d``."""
    return _at_least(x, 2)


def atleast_3d(x):
    """``x`` with at least three axes: (n,) becomes (1, n, 1), (m, n) becomes (m, n, 1)."""
    return _at_least(x, 3)


def _sequence(function: str, tensors) -> list:
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{function}: need at least one tensor")
    return tensors


def hstack(tensors):
    """Join along the second axis (the first for 1-D tensors), as ``np.hstack``."""
    tensors = [atleast_1d(t) for t in _sequence("hstack", tensors)]
    return concatenate(tensors, axis=0 if len(_data_shape(tensors[0])) == 1 else 1)


def vstack(tensors):
    """Join along the first axis, 1-D tensors as rows, as ``np.vstack``."""
    return concatenate([atleast_2d(t) for t in _sequence("vstack", tensors)], axis=0)


def dstack(tensors):
    """Join along the third axis, as ``np.dstack``."""
    return concatenate([atleast_3d(t) for t in _sequence("dstack", tensors)], axis=2)


def column_stack(tensors):
    """1-D tensors as columns (and 2-D ones as they are) side by side, as ``np.column_stack``."""
    columns = []
    for t in _sequence("column_stack", tensors):
        shape = _data_shape(t)
        columns.append(Reshape.apply(t, shape=(shape[0] if shape else 1, 1)) if len(shape) < 2 else t)
    return concatenate(columns, axis=1)
