"""PyTorch's ``*_copy`` functions (``torch.t_copy``, ``torch.diagonal_copy``...): a view
operation whose result is a new tensor rather than a view (what ``torch.compile``'s
functionalisation produces, and what other projects' operator tests call), and
``torch.put``, the out-of-place ``put_``.

Each is the view operation (or ``put_`` on a clone) followed by ``clone()``, so its
gradient is the view's, from the engine; nothing writes a rule of its own."""

from __future__ import annotations

import numpy as np

from microgradnp.tensor import Tensor

__all__ = ["alias_copy", "detach_copy", "diagonal_copy", "expand_copy", "permute_copy", "put", "select_copy",
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
