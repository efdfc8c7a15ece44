"""Indexing: ``t[index]`` with basic and advanced indices (repeated indices accumulate)."""

from __future__ import annotations

import numpy as np

from microgradnp.autograd.grad_mode import mode, watchers
from microgradnp.errors import DtypeError, IndexOutOfRangeError, InvalidArgumentError
from microgradnp.ops.elementwise import Where, checked_scalar
from microgradnp.ops.primitive import Primitive, kept_shape, normalize_axes, reads_values
from microgradnp.ops.shape import BroadcastTo, Reshape
from microgradnp.tensor import Tensor, _data, _no_grad_on_data


def _plain_index(index):
    """Tensors inside an index become their arrays. A float Tensor is refused with the fix:
    ``mg.tensor`` stores whole numbers and bools as floats, which cannot index (as in
    PyTorch, whose index tensors must be integers or bools)."""
    if type(index) is list and len(index) < 32 and any(
            isinstance(part, Tensor | np.ndarray | list | tuple | slice) or part is None or part is Ellipsis
            for part in index):
        index = tuple(index)  # PyTorch's (and old NumPy's) reading: x[[rows, cols]] is x[rows, cols]
    parts = index if isinstance(index, tuple) else (index,)
    for part in parts:
        if isinstance(part, Tensor) and part.data.dtype.kind == "f":
            raise IndexError(
                f"a float tensor (dtype {part.data.dtype}) cannot index: mg.tensor stores whole numbers and bools "
                "as floats; index with t.long() (positions), t.bool() (a mask), or a NumPy integer or bool array"
            )
    return tuple(_plain_part(i) for i in index) if isinstance(index, tuple) else _plain_part(index)


def _plain_part(part):
    """An index part as NumPy takes it; a 0-d integer tensor is an int, as in PyTorch (x[i] is
    then a view, which an in-place change writes through)."""
    array = _data(part)
    if array is not part and type(array) is np.ndarray and array.dtype == np.uint8 and array.ndim:
        return array.astype(bool)  # a uint8 tensor indexes as a mask, as in PyTorch (which deprecates it)
    if type(array) is np.ndarray and not array.ndim and array.dtype.kind in "iu":
        if watchers.count and mode.tracer is not None and (array is not part or mode.tracer.computed(array)):
            # An mg.compile trace: the position becomes a Python int, which a replay would keep
            # (a tensor's value can change; so can an argument's or a computed one's).
            mode.tracer.cannot_replay("a 0-d integer tensor as an index (its value becomes a Python int)")
        return int(array)
    return array


def _is_basic(index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, int | np.integer | slice) or p is None or p is Ellipsis for p in parts)


def _scatter_add(grad, shape, index, dtype):
    """Zeros of ``shape`` with ``grad`` added at ``index``, repeated positions summed."""
    out = np.zeros(shape, dtype=dtype)
    if _is_basic(index):
        out[index] = grad
    else:
        np.add.at(out, index, grad)
    return out


class GetItem(Primitive):
    name = "getitem"

    @staticmethod
    def forward(ctx, a, index):
        ctx.shape, ctx.index = a.shape, index
        out = a[index]
        if type(out) is not np.ndarray and type(a) is np.ndarray:
            # An int per axis gives NumPy's scalar, a copy; PyTorch's t[0] is a 0-d view, which an
            # in-place change (t[0].add_(1), under no_grad too) writes through: index on to a 0-d view.
            return a[(*index, ...) if isinstance(index, tuple) else (index, ...)]
        if not out.flags.c_contiguous and not np.may_share_memory(out, a):
            # A copy (advanced indexing) in NumPy's layout for it, perhaps transposed: PyTorch's is
            # contiguous, so that y.view(-1), and writes through y.reshape(-1), work on it as there.
            out = np.ascontiguousarray(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        if isinstance(grad, np.ndarray):
            return _scatter_add(grad, ctx.shape, ctx.index, grad.dtype)
        return ScatterAdd.apply(grad, shape=ctx.shape, index=ctx.index)


class ScatterAdd(Primitive):
    """The adjoint of indexing: only needed to differentiate ``getitem``'s gradient."""

    name = "scatter_add"

    @staticmethod
    def forward(ctx, grad, shape, index):
        ctx.index = index
        return _scatter_add(grad, shape, index, grad.dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad[ctx.index]


def getitem(x, index):
    """``x[index]``: gradients flow back to the selected elements, summed where repeated.
    An index that mixes ints with arrays means what it means in PyTorch (see ``torch_steps``)."""
    index = _plain_index(index)
    if any(type(part) is np.ndarray and part.dtype == np.bool_ and part.ndim
           for part in (index if isinstance(index, tuple) else (index,))):
        reads_values("x[mask] (its shape depends on the mask)")
    steps = torch_steps(index)
    if steps is None:
        return GetItem.apply(x, index=index)
    first, then = steps
    return GetItem.apply(GetItem.apply(x, index=first), index=then)


def positions_in(base: np.ndarray, view: np.ndarray) -> tuple | None:
    """Where each element of ``view`` lies in ``base``, whose memory it shares: one integer
    array per axis of ``base``, each of ``view``'s shape (``base[positions]`` gives
    ``view``'s values), worked out from the two arrays' memory layouts, so any chain of
    slices, transposes, reshapes and diagonals that made the view maps alike. None when
    the view's elements are not elements of ``base`` (another dtype, a partial overlap)."""
    if view.dtype != base.dtype or base.size == 0:
        return None if view.size else tuple(np.zeros(view.shape, np.intp) for _ in base.shape)
    itemsize = base.itemsize

    def offsets(array: np.ndarray) -> np.ndarray:  # each element's address, in elements from base's start
        start = array.__array_interface__["data"][0] - base.__array_interface__["data"][0]
        if start % itemsize or any(stride % itemsize for stride in array.strides):
            return None
        total = np.full(array.shape, start // itemsize, np.intp)
        for axis, (n, stride) in enumerate(zip(array.shape, array.strides)):
            total += (np.arange(n, dtype=np.intp) * (stride // itemsize)).reshape(
                [n if k == axis else 1 for k in range(array.ndim)])
        return total

    base_offsets, view_offsets = offsets(base), offsets(view)
    if base_offsets is None or view_offsets is None:
        return None
    order = np.argsort(base_offsets, axis=None)
    ordered = base_offsets.reshape(-1)[order]
    if ordered.size > 1 and not np.all(ordered[1:] != ordered[:-1]):  # (elements of base sharing memory: expanded)
        return None
    found = np.searchsorted(ordered, view_offsets).clip(0, ordered.size - 1)
    if not np.array_equal(ordered[found], view_offsets):
        return None
    return np.unravel_index(order[found], base.shape)


def placed(x, index, steps, value, accumulate: bool = False):
    """``x`` with ``value`` written at ``index`` (``steps``: its two steps from ``torch_steps``,
    or None): ``x[index] = value`` out of place, as the graph records such a write. The
    gradient of ``x`` is zero where written; ``value``'s is the gradient there, summed over
    its broadcast. With ``accumulate`` the values are added instead (repeated positions too)."""
    if not isinstance(value, Tensor):  # a number or an array (x[mask] = 0): a constant of x's dtype, as PyTorch's
        value = np.asarray(value, dtype=_data(x).dtype)
    shape = np.shape(_data(x))
    positions = np.arange(int(np.prod(shape))).reshape(shape)
    chosen = np.asarray(positions[index] if steps is None else positions[steps[0]][steps[1]])
    value_shape = np.shape(_data(value))
    extra = len(value_shape) - chosen.ndim
    if extra > 0 and all(n == 1 for n in value_shape[:extra]):  # (leading 1s dropped, as NumPy and PyTorch do)
        value = Reshape.apply(value, shape=value_shape[extra:])
    try:
        fits = np.broadcast_shapes(np.shape(_data(value)), chosen.shape) == chosen.shape
    except ValueError:
        fits = False
    if not fits:
        raise InvalidArgumentError(f"t[index] = value: a value of shape {value_shape} cannot be broadcast to the "
                                   f"shape {chosen.shape} that the index selects")
    if accumulate:
        values = Reshape.apply(BroadcastTo.apply(value, shape=chosen.shape), shape=(-1,))
        return x + Reshape.apply(ScatterAdd.apply(values, shape=(positions.size,), index=chosen.reshape(-1)),
                                 shape=shape)
    if np.unique(chosen).size != chosen.size:
        raise InvalidArgumentError(
            "t[index] = value: the index names some positions more than once, and which write wins is not "
            "defined (in PyTorch either) for a write recorded in the graph; use distinct indices, or "
            "index_put_(..., accumulate=True) to add the values")
    mask = np.zeros(positions.size, bool)
    mask[chosen.reshape(-1)] = True
    values = Reshape.apply(BroadcastTo.apply(value, shape=chosen.shape), shape=(-1,))
    scattered = ScatterAdd.apply(values, shape=(positions.size,), index=chosen.reshape(-1))
    return Where.apply(mask.reshape(shape), Reshape.apply(scattered, shape=shape), x)


def _is_int(part) -> bool:
    if isinstance(part, bool | np.bool_):
        return False
    return isinstance(part, int | np.integer) or (
        isinstance(part, np.ndarray) and part.ndim == 0 and part.dtype.kind in "iu")


def _is_array(part) -> bool:
    return isinstance(part, np.ndarray | list | tuple) and not _is_int(part)


def torch_steps(index):
    """PyTorch's meaning of an index that mixes ints (0-d integer tensors too) with arrays,
    as two indexes applied one after the other: the ints select first, as basic indexing,
    then the arrays index what is left. ``x[0, :, idx]`` thus keeps the sliced axis before
    idx's axes, where NumPy, which counts ints among the arrays when a slice separates them,
    would put idx's axes first. None when the index has no such mix (NumPy's meaning is
    PyTorch's)."""
    if not isinstance(index, tuple) or not any(map(_is_int, index)) or not any(map(_is_array, index)):
        return None
    first, then = [], []
    for part in index:
        if _is_int(part):
            first.append(int(part))
        elif _is_array(part):
            width = np.ndim(part) if np.asarray(part).dtype == bool else 1  # a mask spans its axes
            first.extend([slice(None)] * width)
            then.append(part)
        else:  # a slice, None (an axis that exists after the first step) or Ellipsis
            first.append(part)
            then.append(part if part is Ellipsis else slice(None))
    return tuple(first), tuple(then)


# -- indexing along one axis: gather, take_along_axis, index_select, scatter ---------------


def _integers(values, function: str, what: str = "index") -> np.ndarray:
    """``values`` as an integer array. Floats holding whole numbers count as integers
    (``mg.tensor`` makes integer data float, as for ``cross_entropy``'s targets); any
    other dtype or a fraction is a TypeError."""
    array = np.asarray(_data(values))
    if array.dtype.kind == "f" and np.all(array == np.round(array)):
        return array.astype(np.int64)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{function}: {what} must hold integers, got dtype {array.dtype}")
    return array


def _int_index(index, function: str) -> np.ndarray:
    """``index`` as an array of platform integers (see ``_integers``)."""
    return _integers(index, function).astype(np.intp, copy=False)


def _raw(index) -> np.ndarray:
    """The index's own array, passed to ``apply`` as it is: an ``mg.compile`` trace then
    recognises an index computed inside the traced function (argmax...) and a replay
    uses its new values. The forward converts it (``_intp``)."""
    return _data(index) if isinstance(index, np.ndarray | Tensor) else np.asarray(index)


def _intp(index: np.ndarray) -> np.ndarray:
    """A validated index as platform integers, 0-d as shape (1,) (a 0-d input is
    reshaped to (1,) too)."""
    return (index.reshape(1) if index.ndim == 0 else index).astype(np.intp, copy=False)


def _check_bounds(index: np.ndarray, size: int, axis: int, function: str) -> None:
    """PyTorch's rule for ``gather``/``scatter``/``index_select``: indices in [0, size)."""
    bad = index[(index < 0) | (index >= size)]
    if bad.size:
        raise IndexOutOfRangeError(f"{function}: index {bad.flat[0]} is out of bounds for axis {axis} with size {size}")


def _along_axis(index: np.ndarray, axis: int, sizes: tuple[int, ...]) -> tuple:
    """The advanced index that picks ``x[i0, ..., index[i0, ..., ik, ...], ..., ik]``:
    ``index`` at ``axis`` and, at every other axis d, ``arange(sizes[d])`` shaped to
    broadcast along d (``sizes`` is the index's shape for PyTorch's rules, the input's for
    NumPy's, where the two broadcast)."""
    ndim = len(sizes)
    return tuple(
        index if d == axis else np.arange(sizes[d]).reshape([-1 if k == d else 1 for k in range(ndim)])
        for d in range(ndim)
    )


def _torch_along_axis(x, axis, index, function: str, src=None):
    """Validate ``gather``/``scatter``'s arguments by PyTorch's rules and return (axis
    counted from the front, the integer index, the advanced index into ``x``)."""
    shape = np.shape(_data(x))
    index = _int_index(index, function)
    if index.ndim != len(shape):
        raise InvalidArgumentError(
            f"{function}: index must have as many axes as the input ({len(shape)}), got shape {index.shape}"
        )
    (axis,) = normalize_axes(axis, len(shape))
    for d, (n, m) in enumerate(zip(index.shape, shape)):
        if d != axis and n > m:
            raise InvalidArgumentError(
                f"{function}: index of shape {index.shape} is larger than the input of shape {shape} at axis {d}"
            )
    if src is not None and any(n > m for n, m in zip(index.shape, np.shape(_data(src)))):
        raise InvalidArgumentError(
            f"{function}: index of shape {index.shape} is larger than src of shape {np.shape(_data(src))}")
    _check_bounds(index, shape[axis], axis, function)
    return axis, index, _along_axis(index, axis, index.shape)


class Gather(GetItem):
    """``x[index]`` for the advanced index that ``gather``/``take_along_axis``/``index_select``
    build: its gradient is the scatter-add of ``getitem``, repeated indices summed."""

    name = "gather"

    @staticmethod
    def forward(ctx, a, index, axis, torch=True):
        index = _intp(index)
        return GetItem.forward(ctx, a, _along_axis(index, axis, index.shape if torch else a.shape))


def gather(x, axis: int, index, *, sparse_grad: bool = False):
    """PyTorch's ``gather``: ``out[i][j][k] = x[i][index[i][j][k]][k]`` for ``axis=1``.

    ``index`` has as many axes as ``x``, is no longer than ``x`` on every other axis, and
    gives the output's shape. The gradient flows back to the picked elements of ``x``,
    summed where an element is picked more than once.

    Args:
        x: the input tensor.
        axis: the axis to pick along (PyTorch's ``dim``; negative counts from the end).
        index: integer tensor or array of indices into ``axis``, each in [0, x.shape[axis])
            (a float tensor of whole numbers also works, as ``mg.tensor`` makes ints float).
        sparse_grad: PyTorch's request for a sparse gradient; gradients here are dense arrays,
            with the same values either way.

    Returns:
        A tensor of ``index``'s shape.

    Raises:
        TypeError: if ``index`` is not an integer array.
        ValueError: if ``index``'s shape does not fit ``x`` as described.
        IndexError: if an index is out of bounds.
    """
    raw = _raw(index)
    if np.ndim(_data(x)) == 0:  # PyTorch accepts a 0-d input with a 0-d index
        axis, _, _ = _torch_along_axis(_atleast_1d(x), axis, _atleast_1d_index(raw, "gather"), "gather")
        return _like(Gather.apply(_atleast_1d(x), index=raw, axis=axis), raw)
    axis, _, _ = _torch_along_axis(x, axis, raw, "gather")
    return Gather.apply(x, index=raw, axis=axis)


def take_along_axis(x, indices, axis: int | None = -1):
    """NumPy's ``take_along_axis``: pick, along ``axis``, the elements at ``indices``.

    ``indices`` has as many axes as ``x``; the other axes broadcast against ``x``'s.
    Negative indices count from the end, as in NumPy. The gradient flows back to the
    picked elements, summed where an element is picked more than once.

    Args:
        x: the input tensor.
        indices: integer array or tensor of indices along ``axis``.
        axis: the axis to pick along; None picks from ``x`` flattened (then ``indices``
            must be 1-D).

    Returns:
        A tensor of the broadcast shape of ``x`` and ``indices`` (``indices``'s length on ``axis``).

    Raises:
        TypeError: if ``indices`` is not an integer array.
        ValueError: if ``indices`` has a different number of axes than ``x``.
        IndexError: if an index is out of bounds.
    """
    raw = _raw(indices)
    indices = _int_index(raw, "take_along_axis")
    if axis is None:
        if indices.ndim != 1:
            raise InvalidArgumentError("take_along_axis: when axis=None, indices must be 1-D")
        x = Reshape.apply(x, shape=(-1,))
        axis = 0
    shape = np.shape(_data(x))
    if indices.ndim != len(shape):
        raise InvalidArgumentError(
            f"take_along_axis: indices must have as many axes as the input ({len(shape)}), got shape {indices.shape}"
        )
    (axis,) = normalize_axes(axis, len(shape))
    np.broadcast_shapes(kept_shape(shape, (axis,)), kept_shape(indices.shape, (axis,)))  # ValueError if not
    return Gather.apply(x, index=raw, axis=axis, torch=False)


class IndexSelect(GetItem):
    name = "index_select"

    @staticmethod
    def forward(ctx, a, index, axis):
        return GetItem.forward(ctx, a, (slice(None),) * axis + (_intp(index),))


def index_select(x, axis: int, index):
    """PyTorch's ``index_select``: the slices of ``x`` at ``index`` along ``axis``
    (``np.take(x, index, axis)``), repeated indices allowed (their gradients are summed).

    Args:
        x: the input tensor.
        axis: the axis to select along (PyTorch's ``dim``).
        index: a 1-D (or 0-d) integer array or tensor, each in [0, x.shape[axis]).

    Returns:
        ``x`` with ``axis`` of length ``len(index)`` (1 for a 0-d index, as in PyTorch).

    Raises:
        TypeError: if ``index`` is not an integer array.
        IndexError: if ``index`` has more than one axis or an index is out of bounds.
    """
    raw = _raw(index)
    index = _int_index(raw, "index_select")
    if index.ndim > 1:
        raise IndexError(f"index_select: index must be 1-D, got shape {index.shape}")
    shape = np.shape(_data(x))
    if not shape:  # PyTorch's 0-d input: one element along dim 0 (or -1), picked by one index; 0-d result
        normalize_axes(axis, 1)
        if index.size != 1:
            raise IndexError(f"index_select: index to a 0-d tensor can have only 1 value, got {index.size}")
        _check_bounds(index, 1, 0, "index_select")
        picked = IndexSelect.apply(Reshape.apply(x, shape=(1,)), index=index.reshape(1), axis=0)
        return Reshape.apply(picked, shape=())
    (axis,) = normalize_axes(axis, len(shape))
    _check_bounds(index, shape[axis], axis, "index_select")
    return IndexSelect.apply(x, index=raw, axis=axis)


def _into(grad, shape, part):
    """``grad`` written into zeros of ``shape`` at the basic index ``part`` (src's gradient
    when src is larger than the index)."""
    if part is None:
        return grad
    if isinstance(grad, np.ndarray):
        return _scatter_add(grad, shape, part, grad.dtype)
    return ScatterAdd.apply(grad, shape=shape, index=part)


def _src_part(index: np.ndarray, src_shape: tuple) -> tuple | None:
    """The leading block of src that ``index`` uses (None when it is all of src)."""
    return None if index.shape == src_shape else tuple(slice(0, n) for n in index.shape)


class Scatter(Primitive):
    """Out-of-place ``scatter``: ``x`` with the elements at ``where`` replaced by src's.
    Where several indices name one element, the last one in row-major order of ``index``
    wins, and only it gets a gradient."""

    name = "scatter"

    @staticmethod
    def forward(ctx, a, src, index, axis, part):
        index = _intp(index)
        where = _along_axis(index, axis, index.shape)
        out = a.copy()
        if np.ndim(src) == 0 and part == ():  # a value, not a src tensor
            out[where] = src
            ctx.keep = np.ones(a.shape, dtype=bool)
            ctx.keep[where] = False
            return out
        values = src if part is None else src[part]
        flat = np.ravel_multi_index(np.broadcast_arrays(*where), a.shape).reshape(-1)
        _, last = np.unique(flat[::-1], return_index=True)  # the last write to each element
        winners = flat.size - 1 - last
        out.reshape(-1)[flat[winners]] = values.reshape(-1)[winners]
        ctx.keep = np.ones(a.shape, dtype=bool)
        ctx.keep.reshape(-1)[flat] = False
        ctx.where, ctx.part, ctx.src_shape = where, part, np.shape(src)
        ctx.won = None
        if winners.size < flat.size:
            ctx.won = np.zeros(flat.size, dtype=bool)
            ctx.won[winners] = True
            ctx.won = ctx.won.reshape(values.shape)
        return out

    @staticmethod
    def backward(ctx, grad):
        grad_a = np.where(ctx.keep, grad, 0) if ctx.needs_input_grad[0] else None
        if not ctx.needs_input_grad[1]:
            return grad_a, None
        grad_src = grad[ctx.where]
        if ctx.won is not None:
            grad_src = np.where(ctx.won, grad_src, 0)
        return grad_a, _into(grad_src, ctx.src_shape, ctx.part)


def _same_dtype(x, src, function: str) -> None:
    if isinstance(src, np.ndarray | Tensor) and _data(src).dtype != _data(x).dtype:
        raise DtypeError(
            f"{function}: src has dtype {_data(src).dtype} but the input has dtype {_data(x).dtype}; "
            "convert one of them (as PyTorch, microgradnp does not mix them here)"
        )


def scatter(x, axis: int, index, src=None, value=None, *, reduce=None):
    """PyTorch's out-of-place ``scatter``: a copy of ``x`` with ``out[i][index[i][j]][k] =
    src[i][j][k]`` for ``axis=1`` (or ``= value`` for a number).

    ``index`` has as many axes as ``x`` and is no larger than ``src`` on every axis, nor
    than ``x`` on the other axes; src's elements beyond ``index``'s shape are unused. The
    gradient of ``x`` is zero at the replaced elements; src's is the output's gradient at
    the elements they went to. Where several indices name the same element (PyTorch leaves
    the winner unspecified), the last one in row-major order of ``index`` wins, and only it
    gets a gradient. Use ``scatter_add`` to accumulate instead.

    Args:
        x: the input tensor.
        axis: the axis the indices point along (PyTorch's ``dim``).
        index: integer array or tensor of indices, each in [0, x.shape[axis]).
        src: the values, a tensor with as many axes as ``x`` and its dtype (or a number).
        value: a number to write instead of ``src`` (give one of the two).
        reduce: None to replace; "add" or "multiply" to add (multiply) the values into the
            elements instead, as ``scatter_reduce`` with "sum" ("prod").

    Returns:
        A new tensor of ``x``'s shape and dtype.

    Raises:
        TypeError: for a non-integer index, a src of another dtype, or both or neither of
            ``src`` and ``value``.
        ValueError: if the shapes do not fit as described.
        IndexError: if an index is out of bounds.
    """
    if reduce is not None:  # (PyTorch's reduce= of torch.scatter, one rule with Tensor.scatter_'s)
        from microgradnp.ops.torch_in_place import _scatter

        return _scatter(x if isinstance(x, Tensor) else Tensor._wrap(np.asarray(x)), axis, index, src, value,
                        reduce=reduce)
    if (src is None) == (value is None):
        raise TypeError("scatter: give exactly one of src (a tensor) and value (a number)")
    if value is not None or isinstance(src, int | float | np.number):
        value = src if value is None else value
        if isinstance(value, Tensor) or np.ndim(value) != 0:
            raise TypeError(
                "scatter: value must be a number (for a differentiable value, pass a tensor as src, "
                "or use masked_fill with a 0-d tensor)"
            )
        raw = _raw(index)
        axis, _, _ = _torch_along_axis(_atleast_1d(x), axis, _atleast_1d_index(raw), "scatter")
        out = Scatter.apply(_atleast_1d(x), value, index=raw, axis=axis, part=())
        return _like(out, x)
    _same_dtype(x, src, "scatter")
    src_shape = np.shape(_data(src))
    if len(src_shape) != np.ndim(_data(x)):
        raise InvalidArgumentError(f"scatter: src must have as many axes as the input, got shapes {src_shape} and "
                         f"{np.shape(_data(x))}")
    raw = _raw(index)
    axis, index, _ = _torch_along_axis(_atleast_1d(x), axis, _atleast_1d_index(raw), "scatter", _atleast_1d(src))
    out = Scatter.apply(_atleast_1d(x), _atleast_1d(src), index=raw, axis=axis,
                        part=_src_part(index, max(src_shape, (1,), key=len)))
    return _like(out, x)


class ScatterAddAlong(Primitive):
    """Out-of-place ``scatter_add``: ``x`` with src's elements added at ``where``."""

    name = "scatter_add"

    @staticmethod
    def forward(ctx, a, src, index, axis, part):
        index = _intp(index)
        where = _along_axis(index, axis, index.shape)
        out = a.copy()
        np.add.at(out, where, src if part is None else src[part])
        ctx.where, ctx.part, ctx.src_shape = where, part, src.shape
        return out

    @staticmethod
    def backward(ctx, grad):
        grad_src = _into(grad[ctx.where], ctx.src_shape, ctx.part) if ctx.needs_input_grad[1] else None
        return grad, grad_src


def scatter_add(x, axis: int, index, src):
    """PyTorch's out-of-place ``scatter_add``: a copy of ``x`` with ``out[i][index[i][j]][k]
    += src[i][j][k]`` for ``axis=1``, repeated indices accumulating.

    The shapes follow ``scatter``'s rules. The gradient of ``x`` is the output's gradient;
    src's is the output's gradient at the elements each one was added to.

    Args:
        x: the input tensor.
        axis: the axis the indices point along (PyTorch's ``dim``).
        index: integer array or tensor of indices, each in [0, x.shape[axis]).
        src: a tensor with as many axes as ``x`` and its dtype.

    Returns:
        A new tensor of ``x``'s shape and dtype.

    Raises:
        TypeError: for a non-integer index or a src of another dtype.
        ValueError: if the shapes do not fit.
        IndexError: if an index is out of bounds.
    """
    _same_dtype(x, src, "scatter_add")
    src_shape = np.shape(_data(src))
    if len(src_shape) != np.ndim(_data(x)):
        raise InvalidArgumentError(f"scatter_add: src must have as many axes as the input, got shapes {src_shape} and "
                         f"{np.shape(_data(x))}")
    raw = _raw(index)
    axis, index, _ = _torch_along_axis(_atleast_1d(x), axis, _atleast_1d_index(raw, "scatter_add"), "scatter_add",
                                       _atleast_1d(src))
    out = ScatterAddAlong.apply(_atleast_1d(x), _atleast_1d(src), index=raw, axis=axis,
                                part=_src_part(index, max(src_shape, (1,), key=len)))
    return _like(out, x)


def _atleast_1d(x):
    """A 0-d tensor as shape (1,) (PyTorch's scatter and gather accept 0-d tensors)."""
    return Reshape.apply(x, shape=(1,)) if isinstance(x, Tensor | np.ndarray) and np.ndim(_data(x)) == 0 else x


def _atleast_1d_index(index, function: str = "scatter"):
    array = _int_index(index, function)
    return array.reshape(1) if array.ndim == 0 else array


def _like(out, x):
    """``out`` back to 0-d if ``x`` was."""
    return Reshape.apply(out, shape=()) if np.ndim(_data(x)) == 0 else out


# -- masks, one-hot codes and the positions of non-zeros ------------------------------------


class MaskedFill(Primitive):
    name = "masked_fill"

    @staticmethod
    def forward(ctx, a, value, mask):
        ctx.mask = mask
        return np.where(mask, checked_scalar(value, a.dtype, "masked_fill"), a)

    @staticmethod
    def backward(ctx, grad):
        grad_a = np.where(ctx.mask, 0, grad) if ctx.needs_input_grad[0] else None
        grad_value = np.where(ctx.mask, grad, 0).sum() if ctx.needs_input_grad[1] else None
        return grad_a, grad_value


def masked_fill(x, mask, value):
    """PyTorch's ``masked_fill`` (out of place): ``x`` with ``value`` wherever ``mask`` is True.

    The gradient of ``x`` is zero where it was filled; a 0-d tensor ``value`` gets the sum
    of the output's gradient over the filled elements.

    Args:
        x: the input tensor.
        mask: a bool array or tensor that broadcasts to ``x``'s shape.
        value: a number or a 0-d tensor, converted to ``x``'s dtype as PyTorch converts it
            (``checked_scalar``: -1 into uint8 is 255; nan into an integer dtype raises).

    Returns:
        A new tensor of ``x``'s dtype, in the shape ``x`` and ``mask`` broadcast to (a mask
        with more or longer axes broadcasts ``x``, as in PyTorch; ``masked_fill_`` cannot).

    Raises:
        TypeError: if ``mask`` is not bool or ``value`` is not 0-d.
        ValueError: if ``mask`` and ``x`` do not broadcast together.
        OverflowError: if ``value`` does not fit ``x``'s dtype.
    """
    mask = np.asarray(_data(mask))
    if mask.dtype != bool:
        raise TypeError(f"masked_fill: mask must be a bool array or tensor, got dtype {mask.dtype}")
    shape = np.shape(_data(x))
    try:
        broadcast = np.broadcast_shapes(mask.shape, shape)
    except ValueError:
        raise InvalidArgumentError(
            f"masked_fill: mask of shape {mask.shape} does not broadcast with the input's shape {shape}") from None
    if np.ndim(_data(value)) != 0:
        raise TypeError(f"masked_fill: value must be a number or a 0-d tensor, got shape {np.shape(_data(value))}")
    if broadcast != shape:
        x = BroadcastTo.apply(x, shape=broadcast)
    return MaskedFill.apply(x, value, mask=mask)


def _one_hot(indices, num_classes):
    indices = _integers(indices, "one_hot", "indices")
    if num_classes == -1:
        if indices.size == 0:
            raise InvalidArgumentError("one_hot: cannot infer num_classes from empty indices; give num_classes")
        num_classes = int(indices.max()) + 1
    if indices.size and (indices.min() < 0 or indices.max() >= num_classes):
        raise InvalidArgumentError(f"one_hot: indices must be in [0, num_classes={num_classes}), got values in "
                         f"[{indices.min()}, {indices.max()}]")
    return (indices[..., None] == np.arange(num_classes)).astype(np.int64)


def one_hot(input, num_classes: int = -1):  # noqa: A002  (PyTorch's argument name)
    """PyTorch's ``one_hot``: int64 codes of shape ``input.shape + (num_classes,)``, with
    a 1 at each index. Not differentiable (the result is outside the graph).

    Args:
        input: the class indices, a non-negative integer array or tensor (PyTorch's name).
        num_classes: the length of the new last axis; -1 means ``input.max() + 1``.

    Returns:
        An int64 tensor.

    Raises:
        TypeError: if the indices are not integers.
        ValueError: if an index is negative or not below ``num_classes``.
    """
    if num_classes == -1:
        reads_values("one_hot without num_classes")
    return _no_grad_on_data(_one_hot)(input, num_classes)


def _nonzero_along(a, axis):
    return np.nonzero(np.atleast_1d(a))[axis]


def nonzero(x, as_tuple: bool = True):
    """The indices of the non-zero elements, as NumPy's ``nonzero`` (the default) or, with
    ``as_tuple=False``, as PyTorch's ``nonzero()`` without arguments. Not differentiable.

    The method ``t.nonzero()`` is PyTorch's (the ``(n, ndim)`` tensor unless ``as_tuple=True``);
    ``mg.nonzero(t, as_tuple=False)`` and ``mg.argwhere(t)`` give that form too. A 0-d input counts as 1-D, as in
    PyTorch.

    Args:
        x: an array or tensor.
        as_tuple: True for a tuple of one int64 tensor per axis, False for one
            ``(n, ndim)`` int64 tensor with a row per non-zero element.

    Returns:
        A tuple of int64 tensors, or one int64 tensor.
    """
    if not as_tuple:
        return argwhere(x)
    reads_values("nonzero")
    return tuple(_no_grad_on_data(_nonzero_along)(x, axis) for axis in range(max(np.ndim(_data(x)), 1)))


def _argwhere(a):
    return np.argwhere(a).astype(np.int64, copy=False)


def argwhere(x):
    """NumPy's ``argwhere`` (PyTorch's ``nonzero()``): an ``(n, ndim)`` int64 tensor with
    the index of each non-zero element in a row, in row-major order. Not differentiable.

    Args:
        x: an array or tensor.

    Returns:
        An int64 tensor.
    """
    reads_values("argwhere (nonzero)")
    return _no_grad_on_data(_argwhere)(x)
