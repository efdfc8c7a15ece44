"""Operations that move elements around without changing them."""

from __future__ import annotations

import functools
import math

import numpy as np
from numpy.lib.array_utils import normalize_axis_tuple

from microgradnp.device import takes_device
from microgradnp.errors import InvalidArgumentError
from microgradnp.ops.elementwise import Where
from microgradnp.ops.primitive import Primitive, normalize_axes, promote_types, reads_values
from microgradnp.tensor import Tensor, _constructor, _constructor_dtype, _data, _new, get_default_dtype


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
        out = np.broadcast_to(a, shape)
        if a.size and out.size == a.size:
            # Nothing repeated (only length-1 axes added): a view that writes through, as PyTorch's
            # expand (np.broadcast_to's is read-only, right where elements do share memory).
            return a.reshape(shape)
        return out

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


PAD_MODES = ("constant", "reflect", "symmetric", "edge", "wrap")


class Pad(Primitive):
    """``np.pad``. Outside mode "constant" every output element is a copy of an input
    element, picked along each axis by ``np.pad`` applied to ``arange(n)``; the gradient
    adds each copy's gradient back to its source."""

    @staticmethod
    def forward(ctx, a, pad_width, constant_values=0, mode="constant"):
        widths = np.broadcast_to(np.asarray(pad_width, dtype=int), (a.ndim, 2))
        ctx.inner = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, a.shape))
        if mode == "constant":
            ctx.sources = None
            return np.pad(a, widths, mode="constant", constant_values=constant_values)
        out = np.pad(a, widths, mode=mode)
        # For each padded axis: the input position each output position copies.
        ctx.sources = [np.pad(np.arange(n), (lo, hi), mode=mode) if lo or hi else None
                       for (lo, hi), n in zip(widths, a.shape)]
        return out

    @staticmethod
    def backward(ctx, grad):
        if ctx.sources is None:
            return grad[ctx.inner]
        for axis, (source, inner) in enumerate(zip(ctx.sources, ctx.inner)):
            if source is not None:
                grad = _sum_copies(grad, axis, source, inner)
        return grad


def _sum_copies(grad, axis: int, source: np.ndarray, inner: slice):
    """The gradient along ``axis`` of picking ``source`` there: each input position gets
    the sum of the gradients of its copies."""
    before = (slice(None),) * axis
    shape = (*grad.shape[:axis], inner.stop - inner.start, *grad.shape[axis + 1 :])
    if not isinstance(grad, np.ndarray):  # a Tensor, under create_graph: a differentiable scatter-add
        from microgradnp.ops.indexing import ScatterAdd

        return ScatterAdd.apply(grad, shape=shape, index=(*before, source))
    out = grad[(*before, inner)].copy()
    border = np.r_[0 : inner.start, inner.stop : len(source)]
    np.add.at(out, (*before, source[border]), grad[(*before, border)])
    return out


class Concatenate(Primitive):
    @staticmethod
    def forward(ctx, *arrays, axis=0):
        dtypes = {a.dtype for a in arrays if isinstance(a, np.ndarray)}
        # Mixed dtypes: PyTorch's promotion (int64 with float32 is float32, NumPy's float64).
        dtype = functools.reduce(promote_types, dtypes) if len(dtypes) > 1 else None
        # PyTorch skips 1-D empty tensors (shape (0,)) beside tensors of other ranks, after
        # they took part in the dtype promotion: cat([x, empty]) is x whatever x's rank.
        joined = arrays
        if len(arrays) > 1 and any(a.shape == (0,) for a in arrays) and any(a.ndim != 1 for a in arrays):
            joined = [a for a in arrays if a.shape != (0,)]
        out = np.concatenate(joined, axis=axis, dtype=dtype)
        axis = axis % out.ndim
        bounds = iter(np.cumsum([0] + [a.shape[axis] for a in joined]))
        lo = next(bounds)
        ctx.pieces = []
        for a in arrays:
            if joined is not arrays and a.shape == (0,):
                ctx.pieces.append(None)  # (its gradient: empty, of its own shape)
                continue
            hi = next(bounds)
            ctx.pieces.append((slice(None),) * axis + (slice(lo, hi),))
            lo = hi
        # (each input's gradient in its own dtype: a float16 piece of a float32 result)
        ctx.dtypes = None if dtype is None else [np.result_type(a) for a in arrays]
        return out

    @staticmethod
    def backward(ctx, grad):
        if ctx.dtypes is None:
            return tuple(grad[piece] if piece is not None else grad.reshape(-1)[:0] for piece in ctx.pieces)
        pieces = [grad[piece] if piece is not None else grad.reshape(-1)[:0] for piece in ctx.pieces]
        return tuple(g if dtype.kind != "f" or dtype == g.dtype else g.to(dtype) if isinstance(g, Tensor)
                     else g.astype(dtype) for g, dtype in zip(pieces, ctx.dtypes))


def reshape(x, *shape):
    """The same elements in a new shape: ``reshape(x, 2, 3)`` or ``reshape(x, (2, -1))``."""
    return Reshape.apply(x, shape=_shape_args(shape))


def transpose(x, *axes):
    """Reorder the axes: reversed when none are given, and in the order of a tuple (or of
    three or more ints) as ``ndarray.transpose``. Two ints are PyTorch's
    ``transpose(dim0, dim1)``: those two axes change places, so ``t.transpose(0, 1)`` is
    the transpose of a matrix (NumPy's permutation ``(0, 1)`` would change nothing: no
    one writes it, and a PyTorch user writes the swap all the time). ``t.permute(...)``
    always takes a permutation."""
    if len(axes) == 2 and all(isinstance(axis, int | np.integer) for axis in axes):
        return swapaxes(x, *axes)
    axes = _shape_args(axes)
    return Transpose.apply(x, axes=tuple(axes) if axes and axes[0] is not None else None)


def swapaxes(x, axis1: int | None = None, axis2: int | None = None, *, axis0: int | None = None):
    """Exchange two axes (negative ones count from the end). NumPy names them ``axis1`` and
    ``axis2``, PyTorch ``axis0`` and ``axis1``: ``axis0=`` makes it PyTorch's spelling."""
    if axis0 is not None:
        if axis2 is not None:
            raise TypeError("swapaxes() takes NumPy's axis1= and axis2=, or PyTorch's axis0= and axis1=, not "
                            "axis0= with axis2=")
        axis1, axis2 = axis0, axis1
    if axis1 is None or axis2 is None:
        raise TypeError("swapaxes() needs the two axes to exchange, e.g. swapaxes(x, 0, 1)")
    ndim = np.ndim(_data(x))
    if ndim == 0 and {axis1, axis2} <= {0, -1}:  # PyTorch's 0-d tensor has a dim 0 (and -1): nothing to swap
        return Transpose.apply(x, axes=())
    axis1, axis2 = normalize_axis_tuple(axis1, ndim, "axis1")[0], normalize_axis_tuple(axis2, ndim, "axis2")[0]
    order = list(range(ndim))
    order[axis1], order[axis2] = axis2, axis1
    return Transpose.apply(x, axes=tuple(order))


def broadcast_to(x, shape):
    """Repeat ``x`` along new or length-1 axes to ``shape`` (gradients are summed back), as
    ``np.broadcast_to`` and ``torch.broadcast_to``: a size of -1 keeps that dimension of ``x``
    (PyTorch's rule; not in a new leading dimension, which has none to keep).

    Raises:
        InvalidArgumentError: -1 (or another negative size) for a new leading dimension;
            fewer sizes than ``x`` has dimensions; a size that neither matches nor
            broadcasts the dimension it meets.
    """
    return BroadcastTo.apply(x, shape=_broadcast_shape(_data_shape(x), shape))


def _broadcast_shape(current: tuple, sizes) -> tuple:
    """The target shape of ``broadcast_to`` with each -1 replaced by the size it keeps."""
    sizes = (int(sizes),) if isinstance(sizes, int | np.integer) else tuple(int(n) for n in sizes)
    lead = len(sizes) - len(current)
    if lead < 0:
        raise InvalidArgumentError(f"broadcast_to: {len(sizes)} sizes given for a tensor of shape {current}: "
                                   f"give at least one per dimension ({len(current)})")
    for i, size in enumerate(sizes[:lead]):
        if size < 0:
            raise InvalidArgumentError(f"broadcast_to: the size {size} is not allowed in a new leading dimension "
                                       f"({i} of {sizes}): -1 keeps an existing dimension only")
    shape = sizes[:lead] + tuple(n if size == -1 else size for n, size in zip(current, sizes[lead:]))
    for i, (n, size) in enumerate(zip(current, shape[lead:])):
        if size != n and n != 1:
            raise InvalidArgumentError(f"broadcast_to: the size {size} must match the existing size {n} at "
                                       f"non-singleton dimension {lead + i}: target sizes {sizes}, tensor sizes "
                                       f"{current}")
    return shape


def _data_shape(x) -> tuple:
    return np.shape(_data(x))


def expand_dims(x, axis):
    """Insert length-1 axes at the positions ``axis`` (an int or tuple)."""
    return Reshape.apply(x, shape=np.expand_dims(np.empty(_data_shape(x), dtype=bool), axis).shape)


def squeeze(x, axis=None, *, dim=None):
    """Remove length-1 axes (all of them, or those in ``axis``), as ``np.squeeze``: an axis
    of ``axis`` that is not of length 1 raises. Given as PyTorch's ``dim=``, such an axis is
    left alone instead (``torch.squeeze(x, dim)``, and the method ``t.squeeze(dim)``), and a
    0-d tensor takes dim 0 or -1. A repeated axis raises either way."""
    shape = _data_shape(x)
    if dim is not None:
        if axis is not None:
            raise TypeError("squeeze() got both dim= and axis= (they are the same argument)")
        if not shape:
            given = dim if isinstance(dim, tuple | list) else (dim,)
            if any(d not in (0, -1) for d in given):
                raise IndexError(f"squeeze: dimension out of range (expected to be in range of [-1, 0] for a 0-d "
                                 f"tensor, but got {dim})")
            return Reshape.apply(x, shape=())
        axes = _distinct_axes(dim, len(shape))
        return Reshape.apply(x, shape=tuple(n for i, n in enumerate(shape) if not (i in axes and n == 1)))
    axes = _distinct_axes(axis, len(shape)) if axis is not None else None
    if axes is not None and any(shape[i] != 1 for i in axes):
        raise InvalidArgumentError(f"squeeze: axis {axis} of a tensor of shape {shape} does not have length 1")
    return Reshape.apply(x, shape=tuple(n for i, n in enumerate(shape) if (n != 1 if axes is None else i not in axes)))


def _distinct_axes(axis, ndim: int) -> tuple[int, ...]:
    """``normalize_axes``, refusing an axis given twice (NumPy's and PyTorch's error)."""
    axes = normalize_axes(axis, ndim)
    if len(set(axes)) != len(axes):
        raise InvalidArgumentError(f"squeeze: axis {axis} repeats an axis")
    return axes


def flatten(x, start_axis: int = 0, end_axis: int = -1):
    """Merge axes ``start_axis``..``end_axis`` into one (all of them by default)."""
    shape = _data_shape(x)
    if not shape:
        normalize_axes(start_axis, 1), normalize_axes(end_axis, 1)  # a 0-d tensor takes 0 or -1, as in PyTorch
        return Reshape.apply(x, shape=(1,))
    (start,), (end,) = normalize_axes(start_axis, len(shape)), normalize_axes(end_axis, len(shape))
    if start > end:
        raise InvalidArgumentError(f"flatten: start_dim ({start_axis}) cannot come after end_dim ({end_axis})")
    # (the merged length itself, not -1: NumPy cannot infer it for an empty tensor, (0, 3, 4) -> (0, 12))
    return Reshape.apply(x, shape=(*shape[:start], math.prod(shape[start : end + 1]), *shape[end + 1 :]))


def pad(x, pad_width, mode: str = "constant", constant_values=0):
    """Pad, as ``np.pad``: ``pad_width`` is an int, a (before, after) pair or one pair per axis.

    Modes (NumPy's names; ``nn.functional.pad`` takes PyTorch's): "constant" fills with
    ``constant_values``; "reflect" mirrors without repeating the edge, "symmetric" repeats
    it, "edge" (PyTorch's "replicate") repeats the edge element and "wrap" (PyTorch's
    "circular") continues periodically. Widths larger than the axis reflect or wrap again,
    as in NumPy. Outside "constant", each element's gradient is the sum of the gradients
    of all its copies.

    Args:
        x: the input tensor.
        pad_width: how many elements to add before and after each axis (non-negative).
        mode: one of "constant", "reflect", "symmetric", "edge", "wrap".
        constant_values: the fill value(s) for mode "constant", as in ``np.pad``.

    Returns:
        The padded tensor.

    Raises:
        ValueError: for another mode, negative widths, or padding an empty axis by copying.
    """
    if mode not in PAD_MODES:
        hint = {"replicate": " (PyTorch's 'replicate' is 'edge')", "circular": " (PyTorch's 'circular' is 'wrap')"}
        raise InvalidArgumentError(
            f"pad: mode {mode!r} is not supported{hint.get(mode, '')}; use one of {', '.join(PAD_MODES)}")
    if mode == "constant":
        return Pad.apply(x, pad_width=pad_width, constant_values=constant_values)
    if np.any(np.asarray(_data(constant_values)) != 0):
        raise InvalidArgumentError(f"pad: constant_values is only for mode 'constant', not {mode!r}")
    return Pad.apply(x, pad_width=pad_width, mode=mode)


def concatenate(tensors, axis: int | None = 0):
    """Join tensors along an existing axis (``axis=None``: flattened first, as ``np.concatenate``)."""
    if axis is None:
        tensors, axis = [Reshape.apply(t, shape=(-1,)) for t in tensors], 0
    return Concatenate.apply(*tensors, axis=axis)


def stack(tensors, axis: int = 0):
    """Join tensors of one shape along a new axis (``axis`` in [-(ndim+1), ndim], as ``np.stack``)."""
    tensors = list(tensors)
    if not tensors:
        raise InvalidArgumentError("stack: need at least one tensor")
    shapes = [_data_shape(t) for t in tensors]
    for i, shape in enumerate(shapes[1:], 1):
        if shape != shapes[0]:
            raise InvalidArgumentError(
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
        raise InvalidArgumentError(f"{function}: need at least one tensor")
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


# -- splitting, flipping, rolling, repeating, triangles, diagonals, moving axes ----------
# (split, chunk, flip, roll, repeat, tile, tril, triu, diag, diagonal, moveaxis, eye, linspace)


class Slice(Primitive):
    """One piece ``a[start:stop]`` along ``axis`` (of ``split`` or ``chunk``); its gradient
    is the piece's gradient padded with zeros back to the input's shape."""

    @staticmethod
    def forward(ctx, a, axis, start, stop):
        ctx.shape, ctx.index = a.shape, (slice(None),) * axis + (slice(start, stop),)
        ctx.widths = tuple((start, n - stop) if d == axis else (0, 0) for d, n in enumerate(a.shape))
        return a[ctx.index]

    @staticmethod
    def backward(ctx, grad):
        if isinstance(grad, np.ndarray):
            out = np.zeros(ctx.shape, dtype=grad.dtype)
            out[ctx.index] = grad
            return out
        return Pad.apply(grad, pad_width=ctx.widths)  # its gradient is the slice again


def _pieces(x, bounds, axis: int) -> list:
    return [Slice.apply(x, axis=axis, start=start, stop=stop) for start, stop in bounds]


def split(x, indices_or_sections, axis: int = 0) -> list:
    """Split ``x`` along ``axis``, as ``np.split``: into ``indices_or_sections`` equal
    pieces (an int that must divide the axis' length), or at the given indices
    (``[2, 5]`` gives ``x[:2]``, ``x[2:5]``, ``x[5:]``, empty where they run past the end).

    This is NumPy's meaning; PyTorch's ``torch.split(x, size)`` gives pieces of length
    ``size`` instead (see ``chunk`` for PyTorch's split into a number of pieces). So it is
    not a Tensor method, where ``t.split(2)`` would mean different things to the two.

    Args:
        x: the tensor to split.
        indices_or_sections: the number of equal pieces, or a sequence of split indices.
        axis: the axis to split along (negative counts from the end).

    Returns:
        A list of tensors; the gradient of each flows back to its part of ``x``.

    Raises:
        ValueError: if the number of pieces is not positive or does not divide the axis.
    """
    shape = _data_shape(x)
    (axis,) = normalize_axes(axis, len(shape))
    n = shape[axis]
    try:
        len(indices_or_sections)
    except TypeError:
        sections = int(indices_or_sections)
        if sections <= 0:
            raise InvalidArgumentError(f"split: the number of sections must be larger than 0, got {sections}") from None
        if n % sections:
            raise InvalidArgumentError(
                f"split: an axis of length {n} does not split into {sections} equal sections "
                "(give the split indices instead, or use chunk)"
            ) from None
        step = n // sections
        return _pieces(x, [(i * step, (i + 1) * step) for i in range(sections)], axis)
    points = [0, *(int(i) for i in indices_or_sections), n]
    bounds = [slice(lo, hi).indices(n)[:2] for lo, hi in zip(points[:-1], points[1:])]
    return _pieces(x, [(lo, max(lo, hi)) for lo, hi in bounds], axis)


def chunk(x, chunks: int, axis: int = 0) -> tuple:
    """Split ``x`` along ``axis`` into ``chunks`` pieces, as ``torch.chunk``: each of length
    ``ceil(n / chunks)`` but the last, which may be shorter, so there can be fewer than
    ``chunks`` pieces (an axis of length 0 gives ``chunks`` empty pieces).

    Args:
        x: the tensor to split.
        chunks: how many pieces to aim for (positive).
        axis: the axis to split along (PyTorch's ``dim``).

    Returns:
        A tuple of tensors; the gradient of each flows back to its part of ``x``.

    Raises:
        ValueError: if ``chunks`` is not positive.
    """
    chunks = int(chunks)
    if chunks <= 0:
        raise InvalidArgumentError(f"chunk: chunks must be larger than 0, got {chunks}")
    shape = _data_shape(x)
    (axis,) = normalize_axes(axis, len(shape))
    n = shape[axis]
    if n == 0:
        return tuple(_pieces(x, [(0, 0)] * chunks, axis))
    size = -(-n // chunks)
    return tuple(_pieces(x, [(lo, min(lo + size, n)) for lo in range(0, n, size)], axis))


class Flip(Primitive):
    @staticmethod
    def forward(ctx, a, axis=None):
        if a.ndim == 0 and axis is not None:  # PyTorch: a 0-d tensor's dim 0 (or -1) is itself
            normalize_axis_tuple(axis, 1)  # (out of bounds or repeated: NumPy's AxisError or ValueError)
            axis = ()
        # A copy, as PyTorch's flip (NumPy's is a view: an in-place change of a would show through).
        out = np.flip(a, axis).copy()  # (np.flip validates the axes: out of bounds, repeated)
        ctx.axes = normalize_axes(axis, a.ndim)
        return out

    @staticmethod
    def backward(ctx, grad):
        return np.flip(grad, ctx.axes)


def flip(x, axis=None):
    """Reverse the order of the elements along ``axis`` (an int or tuple; all axes when
    None), as ``np.flip``.

    Args:
        x: the input tensor.
        axis: the axis or axes to reverse (PyTorch's ``dims``/``dim``).

    Returns:
        A tensor of ``x``'s shape.
    """
    return Flip.apply(x, axis=axis)


def _negated(shift):
    return -int(shift) if np.ndim(shift) == 0 else tuple(-int(s) for s in shift)


class Roll(Primitive):
    @staticmethod
    def forward(ctx, a, shift, axis=None):
        ctx.back, ctx.axis = _negated(shift), axis
        return np.roll(a, shift, axis)

    @staticmethod
    def backward(ctx, grad):
        return np.roll(grad, ctx.back, ctx.axis)


def roll(x, shift, axis=None):
    """Shift the elements cyclically by ``shift`` places along ``axis``, as ``np.roll``
    (and ``torch.roll``): with ``axis=None`` the tensor is rolled as if flattened.

    Args:
        x: the input tensor.
        shift: an int, or one int per axis in ``axis``.
        axis: an int, a tuple of them, or None.

    Returns:
        A tensor of ``x``'s shape.

    Raises:
        InvalidArgumentError: the number of shifts is not the number of axes (PyTorch raises;
            NumPy would broadcast them, adding up shifts along one axis).
    """
    count_shifts = np.size(shift) if isinstance(shift, tuple | list | np.ndarray) else 1
    count_axes = 0 if axis is None else np.size(axis) if isinstance(axis, tuple | list | np.ndarray) else 1
    if count_shifts != count_axes and (count_shifts > 1 or axis is not None):
        raise InvalidArgumentError(f"roll: shifts and axes must align: {count_shifts} shift(s) and "
                                   f"{count_axes or 'no'} axes; give one axis per shift (roll(x, (1, 2), (0, 1)))")
    return Roll.apply(x, shift=shift, axis=axis)


def _segment_sum(grad, repeats, axis: int, n: int):
    """The adjoint of ``np.repeat(a, repeats, axis)`` for an ``a`` of length ``n`` along
    ``axis``: each input position gets the sum of the gradients of its copies."""
    if repeats.ndim == 0:  # every element repeated r times: a reshape and a sum
        r = int(repeats)
        return grad.reshape((*grad.shape[:axis], n, r, *grad.shape[axis + 1 :])).sum(axis=axis + 1)
    counts = np.broadcast_to(repeats, (n,))
    out = np.zeros((*grad.shape[:axis], n, *grad.shape[axis + 1 :]), dtype=grad.dtype)
    copied = counts > 0
    if copied.any():
        starts = (np.cumsum(counts) - counts)[copied]
        out[(slice(None),) * axis + (copied,)] = np.add.reduceat(grad, starts, axis=axis)
    return out


class Repeat(Primitive):
    @staticmethod
    def forward(ctx, a, repeats, axis):
        out = np.repeat(a, repeats, axis)
        ctx.repeats, ctx.axis, ctx.n = repeats, axis, a.shape[axis]
        return out

    @staticmethod
    def backward(ctx, grad):
        if isinstance(grad, np.ndarray):
            return _segment_sum(grad, ctx.repeats, ctx.axis, ctx.n)
        return SegmentSum.apply(grad, repeats=ctx.repeats, axis=ctx.axis, n=ctx.n)


class SegmentSum(Primitive):
    """The adjoint of ``repeat``: only needed to differentiate ``repeat``'s gradient."""

    name = "segment_sum"

    @staticmethod
    def forward(ctx, grad, repeats, axis, n):
        ctx.repeats, ctx.axis = repeats, axis
        return _segment_sum(grad, repeats, axis, n)

    @staticmethod
    def backward(ctx, grad):
        return np.repeat(grad, ctx.repeats, ctx.axis)


def repeat(x, repeats, axis=None):
    """Repeat each element ``repeats`` times along ``axis``, as ``np.repeat`` (and
    ``torch.repeat_interleave``, not ``torch.Tensor.repeat``, which is ``tile``):
    ``repeat([a, b], 2)`` is ``[a, a, b, b]``. With ``axis=None`` ``x`` is flattened first.

    Args:
        x: the input tensor.
        repeats: an int, or one non-negative int per element along ``axis``.
        axis: the axis to repeat along, or None.

    Returns:
        The repeated tensor; each element's gradient is the sum of its copies' gradients.
    """
    if isinstance(repeats, Tensor | np.ndarray) and np.ndim(_data(repeats)):
        reads_values("repeat with counts from a tensor")
    repeats = np.array(_data(repeats))  # a copy: later changes to the caller's array do not matter
    if axis is None:
        x, axis = Reshape.apply(x, shape=(-1,)), 0
    else:
        (axis,) = normalize_axes(axis, len(_data_shape(x)))
    return Repeat.apply(x, repeats=repeats, axis=axis)


def repeat_interleave(x, repeats=None, axis=None, *, output_size=None):
    """PyTorch's name for ``repeat`` (``np.repeat``'s meaning): each element repeated
    ``repeats`` times along ``axis`` (PyTorch's ``dim``), the flattened tensor when None.

    Args:
        x: the input tensor.
        repeats: an int, or one non-negative int per element along ``axis`` (a tensor of
            whole numbers: ``mg.tensor([1, 0, 2])`` is float64, and counts as those ints).
            Without ``repeats``, ``x`` is the counts and the result is ``arange(len(x))``
            repeated by them (int64), as ``torch.repeat_interleave(repeats)``.
        axis: the axis to repeat along, or None.
        output_size: PyTorch's hint of the result's length along ``axis``: checked.

    Returns:
        The repeated tensor.

    Raises:
        InvalidArgumentError: counts that are not whole numbers, or an ``output_size``
            the result does not have.
    """
    if repeats is None:
        counts = np.asarray(_data(x))
        if counts.ndim != 1:
            raise InvalidArgumentError(f"repeat_interleave: the counts must be 1-D, got shape {counts.shape}")
        x, repeats, axis = Tensor(np.arange(counts.shape[0], dtype=np.int64), dtype=np.int64), counts, 0
    if isinstance(repeats, Tensor | np.ndarray):
        counts = np.asarray(_data(repeats))
        if counts.dtype.kind == "f":
            if not np.all(np.isfinite(counts) & (counts == np.round(counts))):
                raise InvalidArgumentError(f"repeat_interleave: repeats must be whole numbers, got {counts}")
            repeats = counts.astype(np.int64)
    out = repeat(x, repeats, axis)
    if output_size is not None and out.shape[0 if axis is None else axis] != output_size:
        raise InvalidArgumentError(f"repeat_interleave: output_size={output_size} but the result has "
                                   f"{out.shape[0 if axis is None else axis]} along that axis")
    return out


def tile(x, reps, *more_reps):
    """Repeat the whole of ``x`` ``reps`` times along each axis, as ``np.tile`` (and
    ``torch.tile``): ``tile([a, b], 2)`` is ``[a, b, a, b]``. Short ``reps`` are padded with
    1s in front; more ``reps`` than axes add new leading axes.

    Args:
        x: the input tensor.
        reps: an int or a sequence of non-negative ints.
        *more_reps: PyTorch's variadic form, ``t.tile(2, 3)`` for ``t.tile((2, 3))``.

    Returns:
        The tiled tensor; each element's gradient is the sum of its copies' gradients.
    """
    if more_reps:
        reps = (reps, *more_reps)
    reps = (int(reps),) if np.ndim(reps) == 0 else tuple(int(r) for r in reps)
    shape = _data_shape(x)
    ndim = max(len(reps), len(shape))
    reps, shape = (1,) * (ndim - len(reps)) + reps, (1,) * (ndim - len(shape)) + shape
    if min(reps, default=0) < 0:
        raise InvalidArgumentError(f"tile: reps must be non-negative, got {reps}")
    # Each axis of length n becomes (r, n): broadcast along the new axis, then merged.
    spread = Reshape.apply(x, shape=tuple(s for n in shape for s in (1, n)))
    spread = BroadcastTo.apply(spread, shape=tuple(s for r, n in zip(reps, shape) for s in (r, n)))
    out = Reshape.apply(spread, shape=tuple(r * n for r, n in zip(reps, shape)))
    # Where nothing is repeated (r = 1) or what is has one element (n = 1), that reshape is a
    # read-only view of x: a tiled tensor has memory of its own, as PyTorch's.
    return Copy.apply(out) if all(r == 1 or n == 1 for r, n in zip(reps, shape)) else out


def _triangle(function: str, x, k: int, mask_k: int, keep_inside: bool):
    shape = _data_shape(x)
    if not shape:
        raise InvalidArgumentError(f"{function}: the tensor needs at least one axis (a 0-d tensor has no triangle)")
    mask = np.tri(*shape[-2:], k=mask_k, dtype=bool)
    zero = np.zeros((), dtype=np.asarray(_data(x)).dtype)  # a bool or integer tensor keeps its dtype
    return Where.apply(mask, x, zero) if keep_inside else Where.apply(mask, zero, x)


def tril(x, k: int = 0):
    """The lower triangle of the last two axes (zeros above the ``k``-th diagonal), as
    ``np.tril``: ``k=0`` keeps the main diagonal, ``k=-1`` drops it, ``k=1`` keeps one more.
    As in NumPy, a 1-D ``x`` is treated as the rows of a square matrix.

    Args:
        x: the input tensor (at least 1-D).
        k: the diagonal above which elements are zeroed.

    Returns:
        A tensor of ``x``'s shape (square for a 1-D ``x``).

    Raises:
        ValueError: for a 0-d tensor.
    """
    return _triangle("tril", x, k, k, keep_inside=True)


def triu(x, k: int = 0):
    """The upper triangle of the last two axes (zeros below the ``k``-th diagonal), as
    ``np.triu``.

    Args:
        x: the input tensor (at least 1-D).
        k: the diagonal below which elements are zeroed.

    Returns:
        A tensor of ``x``'s shape (square for a 1-D ``x``).

    Raises:
        ValueError: for a 0-d tensor.
    """
    return _triangle("triu", x, k, k - 1, keep_inside=False)


def _diagonal_positions(shape, offset: int, axis1: int, axis2: int) -> tuple:
    """The rows and columns (along ``axis1``, ``axis2``) of the ``offset`` diagonal."""
    rows, cols = shape[axis1] - max(-offset, 0), shape[axis2] - max(offset, 0)
    length = max(0, min(rows, cols))
    first = np.arange(length)
    return first + max(-offset, 0), first + max(offset, 0)


def _diag_embed(values, shape, offset: int, axis1: int, axis2: int) -> np.ndarray:
    """Zeros of ``shape`` with ``values`` on its ``offset`` diagonal of ``axis1``, ``axis2``."""
    out = np.zeros(shape, dtype=values.dtype)
    rows, cols = _diagonal_positions(shape, offset, axis1, axis2)
    np.moveaxis(out, (axis1, axis2), (-2, -1))[..., rows, cols] = values
    return out


class Diagonal(Primitive):
    @staticmethod
    def forward(ctx, a, offset, axis1, axis2, copy=False):
        out = np.diagonal(a, offset, axis1, axis2)  # (validates the axes)
        if copy:  # torch.diag: memory of its own
            out = out.copy()
        elif a.flags.writeable:  # a view that writes through, as PyTorch's (NumPy's is read-only)
            out.flags.writeable = True
        ctx.shape, ctx.where = a.shape, (offset, axis1 % a.ndim, axis2 % a.ndim)
        return out

    @staticmethod
    def backward(ctx, grad):
        if isinstance(grad, np.ndarray):
            return _diag_embed(grad, ctx.shape, *ctx.where)
        return DiagEmbed.apply(grad, shape=ctx.shape, where=ctx.where)


class DiagEmbed(Primitive):
    """Values placed on a diagonal of zeros (``diag`` of a 1-D tensor, and the gradient of
    ``diagonal``)."""

    name = "diag"

    @staticmethod
    def forward(ctx, values, shape, where):
        ctx.where = where
        return _diag_embed(values, shape, *where)

    @staticmethod
    def backward(ctx, grad):
        offset, axis1, axis2 = ctx.where
        if isinstance(grad, np.ndarray):
            return np.diagonal(grad, offset, axis1, axis2).copy()
        return Diagonal.apply(grad, offset=offset, axis1=axis1, axis2=axis2)


def diagonal(x, offset: int = 0, axis1: int = 0, axis2: int = 1):
    """The ``offset`` diagonal of the axes ``axis1`` and ``axis2``, as ``np.diagonal``
    (and ``torch.diagonal``): those axes are removed and the diagonal is appended as the
    last axis. ``offset > 0`` is above the main diagonal, ``offset < 0`` below.

    Args:
        x: the input tensor (at least 2-D).
        offset: which diagonal.
        axis1: the axis of the rows.
        axis2: the axis of the columns.

    Returns:
        A view of ``x`` holding the diagonal, as PyTorch's: writing into it (under
        ``mg.no_grad()``, or when nothing requires grad) changes ``x``.

    Raises:
        ValueError: if ``x`` has fewer than two axes or ``axis1`` and ``axis2`` are the same axis.
    """
    return Diagonal.apply(x, offset=int(offset), axis1=int(axis1), axis2=int(axis2))


def diag(x, k: int = 0):
    """``np.diag``: for a 1-D ``x``, the square matrix with ``x`` on its ``k``-th diagonal
    and zeros elsewhere; for a 2-D ``x``, its ``k``-th diagonal.

    Args:
        x: a 1-D or 2-D tensor.
        k: the diagonal (positive above the main one, negative below).

    Returns:
        A 2-D tensor for a 1-D ``x``, a 1-D one for a 2-D ``x``.

    Raises:
        ValueError: if ``x`` is neither 1-D nor 2-D.
    """
    shape, k = _data_shape(x), int(k)
    if len(shape) == 1:
        n = shape[0] + abs(k)
        return DiagEmbed.apply(x, shape=(n, n), where=(k, 0, 1))
    if len(shape) == 2:  # (a copy, as torch.diag; t.diagonal() is the view)
        return Diagonal.apply(x, offset=k, axis1=0, axis2=1, copy=True)
    raise InvalidArgumentError(f"diag: the input must be 1-D or 2-D, got shape {shape}")


def moveaxis(x, source, destination):
    """Move the axes ``source`` to the positions ``destination``, the others keeping their
    order, as ``np.moveaxis`` (and ``torch.movedim``).

    Args:
        x: the input tensor.
        source: an axis or a sequence of axes.
        destination: where each of them goes (as many as ``source``).

    Returns:
        The tensor with its axes permuted.

    Raises:
        ValueError: if ``source`` and ``destination`` differ in length or repeat an axis.
    """
    ndim = len(_data_shape(x))
    if ndim == 0 and set(np.atleast_1d(source)) | set(np.atleast_1d(destination)) <= {0, -1}:
        if np.size(source) != np.size(destination):
            raise InvalidArgumentError("moveaxis: source and destination must have the same number of elements")
        return Transpose.apply(x, axes=())  # PyTorch's 0-d tensor has a dim 0 (and -1): nothing moves
    source = normalize_axis_tuple(source, ndim, "source")
    destination = normalize_axis_tuple(destination, ndim, "destination")
    if len(source) != len(destination):
        raise InvalidArgumentError(
            f"moveaxis: source ({len(source)} axes) and destination ({len(destination)} axes) "
            "must have the same number of elements"
        )
    order = [axis for axis in range(ndim) if axis not in source]
    for to, axis in sorted(zip(destination, source)):
        order.insert(to, axis)
    return Transpose.apply(x, axes=tuple(order))


@_constructor
@takes_device
def eye(n: int, m: int | None = None, k: int = 0, dtype=None, requires_grad: bool = False,
        name: str | None = None) -> Tensor:
    """A 2-D tensor with ones on the ``k``-th diagonal and zeros elsewhere, as ``np.eye``.

    Args:
        n: number of rows.
        m: number of columns (``n`` when None).
        k: the diagonal (positive above the main one).
        dtype: the dtype (the default float dtype when None).
        requires_grad: make it a leaf that requires grad (float dtypes only).
        name: a name shown in graph drawings.

    Returns:
        A new tensor, outside any graph.
    """
    dtype = _constructor_dtype("eye", dtype, get_default_dtype(), requires_grad)
    if n < 0 or (m is not None and m < 0):
        raise InvalidArgumentError(f"eye: sizes must be non-negative, got n={n}, m={m}")
    return _new(np.eye(n, m, k, dtype=dtype), requires_grad, name)


@_constructor
@takes_device
def linspace(start, stop, num: int = 50, endpoint: bool = True, dtype=None, requires_grad: bool = False,
             name: str | None = None) -> Tensor:
    """``num`` evenly spaced values from ``start`` to ``stop`` (included unless
    ``endpoint=False``), as ``np.linspace``.

    Args:
        start: the first value.
        stop: the last value (or the end of the interval with ``endpoint=False``).
        num: how many values.
        endpoint: include ``stop``.
        dtype: the dtype (the default float dtype when None).
        requires_grad: make it a leaf that requires grad (float dtypes only).
        name: a name shown in graph drawings.

    Returns:
        A new 1-D tensor, outside any graph.
    """
    dtype = _constructor_dtype("linspace", dtype, get_default_dtype(), requires_grad, kinds="fiu")
    if int(num) < 0:
        raise InvalidArgumentError(f"linspace: the number of steps must be non-negative, got {num}")
    if dtype.kind in "iu":  # PyTorch's integer linspace: the ends in the integer dtype, values toward zero
        values = np.trunc(np.linspace(int(_data(start)), int(_data(stop)), int(num), endpoint=endpoint))
        return _new(values.astype(dtype), requires_grad, name)
    values = np.linspace(_data(start), _data(stop), int(num), endpoint=endpoint, dtype=dtype)
    return _new(values, requires_grad, name)
