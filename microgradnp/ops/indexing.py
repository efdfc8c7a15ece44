"""Indexing: ``t[index]`` with basic and advanced indices (repeated indices accumulate)."""

from __future__ import annotations

import numpy as np

from microgradnp.ops.primitive import Primitive
from microgradnp.tensor import _data


def _plain_index(index):
    """Tensors inside an index become their arrays."""
    if isinstance(index, tuple):
        return tuple(_data(i) for i in index)
    return _data(index)


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
        return a[index]

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
    """``x[index]``: gradients flow back to the selected elements, summed where repeated."""
    return GetItem.apply(x, index=_plain_index(index))
