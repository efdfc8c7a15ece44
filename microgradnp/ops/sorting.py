"""Sorting: sort (differentiable values), argsort (indices) and topk (both)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from microgradnp.errors import InvalidArgumentError
from microgradnp.ops.primitive import Primitive, axis_index, normalize_axes
from microgradnp.tensor import Tensor, _data, _no_grad_on_data


class ValuesIndices(NamedTuple):
    """What ``topk`` and ``Tensor.sort`` return, as ``torch.return_types``: the values
    (differentiable) and their indices along the axis (an integer tensor outside the graph)."""

    values: Tensor
    indices: Tensor


class TakeAlongAxis(Primitive):
    """``np.take_along_axis`` with indices that are distinct along ``axis`` (a
    permutation or a part of one), so the gradient is put back without collisions."""

    name = "take_along_axis"

    @staticmethod
    def forward(ctx, a, indices, axis):
        ctx.indices, ctx.axis, ctx.shape = indices, axis, a.shape
        return np.take_along_axis(a, indices, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        if isinstance(grad, Tensor):
            return PutAlongAxis.apply(grad, indices=ctx.indices, axis=ctx.axis, shape=ctx.shape)
        return PutAlongAxis.forward(ctx, grad, ctx.indices, ctx.axis, ctx.shape)


class PutAlongAxis(Primitive):
    """Zeros of ``shape`` with ``a`` put at ``indices`` along ``axis``: the adjoint of
    ``TakeAlongAxis`` (its gradient takes the same elements back)."""

    name = "put_along_axis"

    @staticmethod
    def forward(ctx, a, indices, axis, shape):
        ctx.indices, ctx.axis = indices, axis
        out = np.zeros(shape, dtype=a.dtype)
        np.put_along_axis(out, indices, a, axis=axis)
        return out

    @staticmethod
    def backward(ctx, grad):
        if isinstance(grad, Tensor):
            return TakeAlongAxis.apply(grad, indices=ctx.indices, axis=ctx.axis)
        return np.take_along_axis(grad, ctx.indices, axis=ctx.axis)


class Sort(TakeAlongAxis):
    """Sorted values; the order is found in forward, so an ``mg.compile`` replay sorts again."""

    name = "sort"

    @staticmethod
    def forward(ctx, a, axis, descending):
        return TakeAlongAxis.forward(ctx, a, _order(a, axis, descending), axis)


class TopK(TakeAlongAxis):
    name = "topk"

    @staticmethod
    def forward(ctx, a, k, axis, largest):
        return TakeAlongAxis.forward(ctx, a, _top(a, k, axis, largest), axis)


def _top(values: np.ndarray, k: int, axis: int, largest: bool) -> np.ndarray:
    """The indices of the ``k`` largest (smallest) values along ``axis``, best first, ties stably."""
    return np.take(_order(values, axis, largest), np.arange(k), axis=axis)


def _order(values: np.ndarray, axis: int, descending: bool) -> np.ndarray:
    """Stable argsort along ``axis``: tied elements keep their original order, also when
    descending (nan counts as the largest value, as in NumPy and PyTorch)."""
    if not descending:
        return np.argsort(values, axis=axis, kind="stable")
    n = values.shape[axis]
    return n - 1 - np.flip(np.argsort(np.flip(values, axis), axis=axis, kind="stable"), axis)


def _flat_or_axis(x, axis):
    """(x, axis) to sort along: flattened, along 0, when ``axis`` is None (NumPy's rule)."""
    if axis is None:
        return (x.reshape(-1) if isinstance(x, Tensor) else np.ravel(x)), 0
    ndim = np.ndim(_data(x))
    if ndim == 0:
        raise np.exceptions.AxisError(f"axis {axis} is out of bounds for a 0-d tensor (sort it with axis=None)")
    (axis,) = normalize_axes(axis_index(axis), ndim)
    return x, axis


def _as_1d_if_scalar(x, axis):
    """PyTorch sorts a 0-d tensor along dim 0 or -1 as one element: (x as 1-D, axis, shape to give back)."""
    if np.ndim(_data(x)) or axis not in (0, -1):
        return x, axis, None
    return (x.reshape(1) if isinstance(x, Tensor) else np.reshape(x, 1)), 0, ()


def sort(x, axis=-1, descending=False, kind=None, stable=None):
    """The elements sorted along ``axis``, as ``np.sort``: values only, differentiable
    (each gradient goes back to the element's original position).

    The sort is always stable: tied elements keep their original order, so each tie's
    gradient goes to the tied element in order of position (``kind`` and ``stable`` are
    accepted for NumPy's and PyTorch's signatures; a stable result is a valid result of
    any kind). The Tensor method ``t.sort(...)`` is PyTorch's instead: it returns
    ``(values, indices)``.

    Args:
        x: The tensor.
        axis: The axis to sort along (-1: the last); None sorts the flattened tensor. A 0-d
            tensor sorts along 0 or -1 as one element, as in PyTorch (``np.sort`` refuses).
        descending: Largest first (PyTorch's argument; nan first too).
        kind: Accepted for ``np.sort``'s signature; the sort is stable whatever it is.
        stable: Accepted for ``np.sort``'s and ``torch.sort``'s signatures; always stable.

    Returns:
        The sorted values, a tensor of ``x``'s shape (1-D when ``axis`` is None).
    """
    x, axis, scalar = _as_1d_if_scalar(x, axis)
    x, axis = _flat_or_axis(x, axis)
    values = Sort.apply(x, axis=axis, descending=descending)
    return values if scalar is None else values.reshape(scalar)


def argsort(x, axis=-1, descending=False, kind=None, stable=None):
    """Indices that sort ``x`` along ``axis``, as ``np.argsort`` / ``torch.argsort``: an
    integer tensor outside the graph. Stable: ties keep their original order.

    Args:
        x: The tensor.
        axis: The axis to sort along (-1: the last); None sorts the flattened tensor.
        descending: Largest first.
        kind: Accepted for ``np.argsort``'s signature; the sort is stable whatever it is.
        stable: Accepted for NumPy's and PyTorch's signatures; always stable.

    Returns:
        An integer tensor of ``x``'s shape (1-D when ``axis`` is None).
    """
    x, axis, scalar = _as_1d_if_scalar(x, axis)
    x, axis = _flat_or_axis(x, axis)
    indices = _no_grad_on_data(_order)(x, axis, descending)
    return indices if scalar is None else indices.reshape(scalar)


def topk(x, k, axis=-1, largest=True, sorted=True):  # noqa: A002  (PyTorch's name)
    """The ``k`` largest (or smallest) elements along ``axis`` and their indices, as
    ``torch.topk``.

    Ties are resolved stably: among equal values the element at the lower index comes
    first (PyTorch leaves the choice unspecified). The values are differentiable: each
    gradient goes back to the element's position, and the elements not picked get 0.

    Args:
        x: The tensor.
        k: How many elements to pick, 0 <= k <= the length of ``axis``.
        axis: The axis to pick along (-1: the last).
        largest: The largest elements (else the smallest).
        sorted: Accepted for PyTorch's signature: the values always come sorted
            (largest first when ``largest``, else smallest first).

    Returns:
        ``(values, indices)`` (a ``ValuesIndices`` named tuple): tensors of ``x``'s shape
        with ``k`` along ``axis``.

    Raises:
        ValueError: ``k`` is outside [0, length of ``axis``].
    """
    x, axis, scalar = _as_1d_if_scalar(x, axis)
    x, axis = _flat_or_axis(x, axis)
    values = np.asarray(_data(x))
    n = values.shape[axis]
    if not 0 <= k <= n:
        raise InvalidArgumentError(f"topk: k={k} is out of range for an axis of length {n}")
    indices = _no_grad_on_data(_top)(x, k, axis, largest)
    result = ValuesIndices(TopK.apply(x, k=k, axis=axis, largest=largest), indices)
    return result if scalar is None or k != 1 else ValuesIndices(*(r.reshape(()) for r in result))


def sort_with_indices(self, axis=-1, descending=False, stable=False):
    """The Tensor method ``t.sort``: PyTorch's ``(values, indices)`` (``mg.sort`` is
    NumPy's and returns the values only).

    NumPy's ``ndarray.sort`` sorts in place and returns None, which a tensor in a graph
    cannot do; ``torch.Tensor.sort`` returns both, which is what this gives.

    Args:
        axis: The axis to sort along (-1: the last).
        descending: Largest first.
        stable: Accepted for PyTorch's signature; the sort is always stable.

    Returns:
        ``(values, indices)`` (a ``ValuesIndices`` named tuple).
    """
    values, axis, scalar = _as_1d_if_scalar(self, axis)
    values, axis = _flat_or_axis(values, axis)
    indices = _no_grad_on_data(_order)(values, axis, descending)
    result = ValuesIndices(Sort.apply(values, axis=axis, descending=descending), indices)
    return result if scalar is None else ValuesIndices(*(r.reshape(()) for r in result))
