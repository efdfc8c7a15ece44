"""PyTorch's ``*_copy`` functions (``torch.t_copy``, ``torch.diagonal_copy``...): a view
operation whose result is a new tensor rather than a view (what ``torch.compile``'s
functionalisation produces, and what other projects' operator tests call), and
``torch.put``, the out-of-place ``put_``.

Each is the view operation (or ``put_`` on a clone) followed by ``clone()``, so its
gradient is the view's, from the engine; nothing writes a rule of its own."""

from __future__ import annotations

import numbers

import numpy as np

from microgradnp.autograd.versions import _owner
from microgradnp.errors import InvalidArgumentError
from microgradnp.ops.torch_in_place import _reshaping
from microgradnp.tensor import Tensor

__all__ = ["alias_copy", "as_strided", "as_strided_copy", "as_strided_scatter", "detach_copy", "diagonal_copy",
           "expand_copy", "permute_copy", "put", "select_copy",
           "slice_copy", "split_copy", "split_with_sizes_copy", "squeeze_copy", "t_copy", "transpose_copy",
           "unbind_copy", "unfold_copy", "unsqueeze_copy", "view_copy"]


def _tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x))


def _copies(pieces) -> tuple:
    return tuple(piece.clone() for piece in pieces)


def alias_copy(input):  # noqa: A002  (PyTorch's argument names)
    """A copy of ``input`` (``torch.alias_copy``), differentiable as ``clone``."""
    return _tensor(input).clone()


def detach_copy(input):  # noqa: A002
    """A copy of ``input`` outside the graph (``torch.detach_copy``)."""
    return _tensor(input).detach().clone()


def diagonal_copy(input, offset: int = 0, dim1: int = 0, dim2: int = 1):  # noqa: A002
    """``torch.diagonal(input, offset, dim1, dim2)`` as a new tensor (``torch.diagonal_copy``)."""
    return _tensor(input).diagonal(offset, dim1, dim2).clone()


def expand_copy(input, size, *, implicit: bool = False):  # noqa: A002  (implicit: PyTorch's, no effect)
    """``input.expand(size)`` as a new tensor (``torch.expand_copy``; -1 keeps a length)."""
    return _tensor(input).expand(*size).clone()


def permute_copy(input, dims):  # noqa: A002
    """``input.permute(dims)`` as a new tensor (``torch.permute_copy``)."""
    x = _tensor(input)
    return (x.permute(*dims) if tuple(dims) or x.ndim else x).clone()  # (a 0-d tensor's only order is ())


def select_copy(input, dim: int, index: int):  # noqa: A002
    """``input.select(dim, index)`` as a new tensor (``torch.select_copy``)."""
    return _tensor(input).select(dim, index).clone()


def slice_copy(input, dim: int = 0, start=None, end=None, step: int = 1):  # noqa: A002
    """``input`` sliced ``start:end:step`` along ``dim``, as a new tensor (``torch.slice_copy``)."""
    x = _tensor(input)
    if step <= 0:
        raise ValueError(f"slice_copy: slice step must be positive, got {step}")
    index = [slice(None)] * x.ndim
    index[dim] = slice(start, end, step)
    return x[tuple(index)].clone()


def split_copy(input, split_size, dim: int = 0):  # noqa: A002
    """``input.split(split_size, dim)`` (PyTorch's pieces of ``split_size``, or of the sizes
    given) as new tensors (``torch.split_copy``)."""
    return _copies(_tensor(input).split(split_size, dim=dim))


def split_with_sizes_copy(input, split_sizes, dim: int = 0):  # noqa: A002
    """``input.split_with_sizes(split_sizes, dim)`` as new tensors (``torch.split_with_sizes_copy``)."""
    return _copies(_tensor(input).split_with_sizes(split_sizes, dim=dim))


def squeeze_copy(input, dim=None):  # noqa: A002
    """``input.squeeze(dim)`` (PyTorch's: an axis of another length stays) as a new tensor
    (``torch.squeeze_copy``)."""
    x = _tensor(input)
    return (x.squeeze() if dim is None else x.squeeze(dim=dim)).clone()


def t_copy(input):  # noqa: A002
    """``input.t()`` as a new tensor (``torch.t_copy``)."""
    return _tensor(input).t().clone()


def transpose_copy(input, dim0: int, dim1: int):  # noqa: A002
    """``input.transpose(dim0, dim1)`` as a new tensor (``torch.transpose_copy``)."""
    return _tensor(input).transpose(dim0, dim1).clone()


def unbind_copy(input, dim: int = 0):  # noqa: A002
    """``input.unbind(dim)`` as new tensors (``torch.unbind_copy``)."""
    return _copies(_tensor(input).unbind(dim))


def unfold_copy(input, dimension: int, size: int, step: int):  # noqa: A002
    """``input.unfold(dimension, size, step)`` as a new tensor (``torch.unfold_copy``)."""
    return _tensor(input).unfold(dimension, size, step).clone()


def unsqueeze_copy(input, dim: int):  # noqa: A002
    """``input.unsqueeze(dim)`` as a new tensor (``torch.unsqueeze_copy``)."""
    return _tensor(input).unsqueeze(dim).clone()


def view_copy(input, size):  # noqa: A002
    """``input.view(size)`` (a shape, or a dtype whose bytes reinterpret the values) as a new
    tensor (``torch.view_copy``)."""
    x = _tensor(input)
    return (x.view(size) if not isinstance(size, list | tuple) else x.view(*size)).clone()


def put(input, index, source, accumulate: bool = False):  # noqa: A002
    """``input`` with ``source`` written at the flat positions ``index`` (added there with
    ``accumulate=True``), as a new tensor: ``torch.put``, the out-of-place ``put_``."""
    return _tensor(input).clone().put_(index, source, accumulate=accumulate)


Tensor.put = put  # (torch.Tensor.put, as the method of the same name)


# -- as_strided: elements of the memory a tensor shares with the array that owns it -------------


def _positions(offset: int, shape, strides) -> np.ndarray:
    """The storage position of each element of the geometry ``shape``/``strides`` (in elements)
    that starts at ``offset``."""
    return offset + sum((np.arange(n) * s).reshape([-1 if i == axis else 1 for i in range(len(shape))])
                        for axis, (n, s) in enumerate(zip(shape, strides, strict=True))) + np.zeros(shape, np.int64)


def _storage(x: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """The memory ``x``'s data lives in, as a flat array of its dtype (PyTorch's storage:
    the whole array that owns it), and the position in it of each element of ``x``."""
    data = x.data
    owner = _owner(data)
    flat = owner.ravel(order="K") if owner.flags.c_contiguous or owner.flags.f_contiguous else None
    if flat is None or data.itemsize == 0 or owner.nbytes % data.itemsize:
        raise InvalidArgumentError("as_strided: the tensor's memory is not one contiguous block; call it on "
                                   "t.contiguous() (a copy) instead")
    storage = flat.view(np.uint8).view(data.dtype) if flat.dtype != data.dtype else flat
    return storage, _positions(x.storage_offset(), data.shape, [s // data.itemsize for s in data.strides])


def _strided_positions(size, stride, storage_offset, storage_size: int, default_offset: int,
                       name: str) -> np.ndarray:
    """The storage positions of the ``size``/``stride``/``storage_offset`` that ``name`` was
    given, checked to lie in a storage of ``storage_size`` elements."""
    return _positions(*_geometry(size, stride, storage_offset, storage_size, default_offset, name))


def _geometry(size, stride, storage_offset, storage_size: int, default_offset: int,
              name: str) -> tuple[int, tuple, tuple]:
    """The offset, sizes and strides (in elements) that ``name`` was given, checked to lie in
    a storage of ``storage_size`` elements."""
    def ints(value, what):
        values = tuple(value) if isinstance(value, list | tuple) else (value,)
        if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in values):
            raise TypeError(f"{name}: {what} must be a sequence of ints, got {value!r}")
        return tuple(int(v) for v in values)

    size, stride = ints(size, "size"), ints(stride, "stride")
    if len(size) != len(stride):
        raise InvalidArgumentError(f"{name}: mismatch in length of strides and shape ({len(stride)} strides, "
                                   f"{len(size)} sizes)")
    if any(n < 0 for n in size):
        raise InvalidArgumentError(f"{name}: sizes must be non-negative, got {list(size)}")
    if any(s < 0 for s in stride):
        raise InvalidArgumentError(f"{name}: Negative strides are not supported at the moment, got strides: "
                                   f"{list(stride)}")
    offset = default_offset if storage_offset is None else ints(storage_offset, "storage_offset")[0]
    if offset < 0:
        raise InvalidArgumentError(f"{name}: Tensor: invalid storage offset {offset}")
    needed = 0 if 0 in size else offset + 1 + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
    if needed > storage_size:
        raise InvalidArgumentError(
            f"{name}: sizes {list(size)}, strides {list(stride)} and storage offset {offset} need a storage of "
            f"{needed} elements; this tensor's memory holds {storage_size}")
    return offset, size, stride


def as_strided(input, size, stride, storage_offset=None):  # noqa: A002
    """The tensor of ``size`` whose element ``(i_0, i_1, ...)`` is element ``storage_offset +
    i_0 stride_0 + i_1 stride_1 + ...`` of ``input``'s storage (the memory it shares with the
    array that owns it; ``storage_offset`` defaults to ``input.storage_offset()``), as
    ``torch.as_strided``. Its gradient is PyTorch's: summed where output elements share a
    position, shared evenly among input elements that do (an expanded input).

    As PyTorch's, a view (read-only here: writing into it, which in PyTorch would write into
    ``input``, raises), which shows later writes into ``input``; a copy where its elements
    are not ``input``'s one by one (memory outside it, an expanded input) and ``input``
    requires grad.

    Raises:
        ValueError: sizes and strides of different lengths, negative ones, or elements
            beyond the storage.
    """
    from microgradnp.ops.torch_functions import take
    from microgradnp.ops.torch_more import index_reduce

    x = _tensor(input)
    storage, positions = _storage(x)
    offset, sizes, strides = _geometry(size, stride, storage_offset, storage.size, x.storage_offset(), "as_strided")
    live = np.lib.stride_tricks.as_strided(storage[offset:], sizes, [s * storage.itemsize for s in strides],
                                           writeable=False)
    shown = x._showing(live)
    if shown is not None:
        return shown
    out_positions = _positions(offset, sizes, strides)
    # The storage as a function of input: its own elements where it has them (the maximum of
    # equal values, whose gradient PyTorch's rule shares among them), the memory's elsewhere.
    memory = Tensor._wrap(np.array(storage, copy=True))  # (its own dtype: Tensor() would make ints floats)
    full = index_reduce(memory, 0, positions.reshape(-1), x.reshape(-1), "amax", include_self=False) \
        if x.requires_grad else memory
    result = take(full, out_positions)
    result.data.flags.writeable = False
    return result


def as_strided_copy(input, size, stride, storage_offset=None):  # noqa: A002
    """``torch.as_strided_copy``: ``as_strided`` as a new (writable) tensor."""
    return as_strided(input, size, stride, storage_offset).clone()


def as_strided_scatter(input, src, size, stride, storage_offset=None):  # noqa: A002
    """A copy of ``input`` with ``src`` written at the positions ``as_strided(input, size,
    stride, storage_offset)`` reads (positions counted in ``input``'s own elements, as
    ``torch.as_strided_scatter`` on a contiguous tensor), differentiable in both: ``src``
    gets the gradient at its positions, ``input`` everywhere else (PyTorch 2.13 gives
    ``input`` other values, not the derivative of this function)."""
    x = _tensor(input).contiguous()
    src = _tensor(src)
    positions = _strided_positions(size, stride, storage_offset, x.numel(), 0, "as_strided_scatter")
    if tuple(src.shape) != positions.shape:
        raise InvalidArgumentError(f"as_strided_scatter: expected src to have a size equal to the slice of self. "
                                   f"src size = {list(src.shape)}, slice size = {list(positions.shape)}")
    return x.reshape(-1).index_put((positions.reshape(-1),), src.reshape(-1)).reshape(x.shape)


def _strided_view(x: Tensor, size, stride, storage_offset=None) -> np.ndarray:
    """The elements ``as_strided`` picks, as a view of ``x``'s memory (``as_strided_`` makes
    it ``x``'s data): writable unless two of its elements share a position, as ``expand``'s."""
    storage, _ = _storage(x)
    offset, size, stride = _geometry(size, stride, storage_offset, storage.size, x.storage_offset(), "as_strided_")
    positions = _positions(offset, size, stride)
    # (np.ndarray over the storage, not np.lib.stride_tricks.as_strided, whose base is not the
    # storage: the view must lead back to the array that owns the memory, for version counters)
    view = np.ndarray(size, storage.dtype, buffer=storage, offset=offset * storage.itemsize,
                      strides=[s * storage.itemsize for s in stride])
    view.flags.writeable = storage.flags.writeable and np.unique(positions).size == positions.size
    return view


Tensor.as_strided = as_strided
# (t.as_strided_: this tensor takes the geometry in place, with t_'s rules: refused in a recorded graph)
Tensor.as_strided_ = _reshaping("as_strided_", _strided_view)
Tensor.as_strided_scatter = as_strided_scatter
