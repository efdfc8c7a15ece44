"""Embedding lookup: rows of a table by integer indices, with PyTorch's ``padding_idx``.

Three primitives, each the adjoint of the next, so gradients of every order are exact:
``Embedding`` (``weight[indices]``; its gradient sums over repeated indices and leaves the
padding row at zero), ``EmbeddingScatter`` (that gradient) and ``EmbeddingGather`` (the
adjoint of the scatter: ``v[indices]`` with the padding positions zero).

PyTorch's ``scale_grad_by_freq`` divides the gradient of each row by how often its index
occurs in the batch: a per-position ``scale`` (1 / count of that position's index) that
multiplies the gradient before the scatter and the rows after the gather, its adjoint.
"""

from __future__ import annotations

import numpy as np

from microgradnp.ops.primitive import Primitive


def _check(indices: np.ndarray, rows: int) -> None:
    if indices.dtype.kind not in "iu":
        raise TypeError(f"embedding: the indices must be integers, got dtype {indices.dtype}"
                        + (" (mg.tensor stores whole numbers as floats): pass t.long() or a NumPy integer array"
                           if indices.dtype.kind == "f" else ""))
    if indices.size:
        low, high = indices.min(), indices.max()
        if low < 0 or high >= rows:
            raise IndexError(f"embedding: index {low if low < 0 else high} is out of range for a table of "
                             f"{rows} rows")


def frequency_scale(indices: np.ndarray, dtype) -> np.ndarray:
    """1 / (how often each position's index occurs in ``indices``), of ``indices``' shape:
    the factor of PyTorch's ``scale_grad_by_freq``."""
    _, inverse, counts = np.unique(indices.reshape(-1), return_inverse=True, return_counts=True)
    return (1.0 / counts[inverse]).astype(dtype).reshape(indices.shape)


def _per_position(values: np.ndarray, scale) -> np.ndarray:
    """``values`` (positions first, then the row's axes) times the per-position ``scale``."""
    return values if scale is None else values * scale.reshape(scale.shape + (1,) * (values.ndim - scale.ndim))


def _scatter(grad: np.ndarray, rows: int, indices: np.ndarray, padding_idx, scale=None) -> np.ndarray:
    out = np.zeros((rows, *grad.shape[indices.ndim:]), dtype=grad.dtype)
    np.add.at(out, indices, _per_position(grad, scale))
    if padding_idx is not None:
        out[padding_idx] = 0
    return out


def _gather(table: np.ndarray, indices: np.ndarray, padding_idx, scale=None) -> np.ndarray:
    out = _per_position(table[indices], scale)
    if padding_idx is not None:
        out[indices == padding_idx] = 0
    return out


class Embedding(Primitive):
    name = "embedding"

    @staticmethod
    def forward(ctx, weight, indices, padding_idx=None, scale_grad_by_freq=False):
        indices = np.asarray(indices)
        _check(indices, weight.shape[0])
        ctx.rows, ctx.indices, ctx.padding_idx = weight.shape[0], indices, padding_idx
        ctx.scale = frequency_scale(indices, weight.dtype) if scale_grad_by_freq else None
        return weight[indices]

    @staticmethod
    def backward(ctx, grad):
        if isinstance(grad, np.ndarray):
            return _scatter(grad, ctx.rows, ctx.indices, ctx.padding_idx, ctx.scale)
        return EmbeddingScatter.apply(grad, rows=ctx.rows, indices=ctx.indices, padding_idx=ctx.padding_idx,
                                      scale=ctx.scale)


class EmbeddingScatter(Primitive):
    """The gradient of ``Embedding``: only needed to differentiate it again."""

    name = "embedding_scatter"

    @staticmethod
    def forward(ctx, grad, rows, indices, padding_idx, scale=None):
        ctx.indices, ctx.padding_idx, ctx.scale = indices, padding_idx, scale
        return _scatter(grad, rows, indices, padding_idx, scale)

    @staticmethod
    def backward(ctx, grad):
        if isinstance(grad, np.ndarray):
            return _gather(grad, ctx.indices, ctx.padding_idx, ctx.scale)
        return EmbeddingGather.apply(grad, indices=ctx.indices, padding_idx=ctx.padding_idx, scale=ctx.scale)


class EmbeddingGather(Primitive):
    """The adjoint of ``EmbeddingScatter``: rows by index, zero at the padding positions."""

    name = "embedding_gather"

    @staticmethod
    def forward(ctx, table, indices, padding_idx, scale=None):
        ctx.rows, ctx.indices, ctx.padding_idx, ctx.scale = table.shape[0], indices, padding_idx, scale
        return _gather(table, indices, padding_idx, scale)

    @staticmethod
    def backward(ctx, grad):
        if isinstance(grad, np.ndarray):
            return _scatter(grad, ctx.rows, ctx.indices, ctx.padding_idx, ctx.scale)
        return EmbeddingScatter.apply(grad, rows=ctx.rows, indices=ctx.indices, padding_idx=ctx.padding_idx,
                                      scale=ctx.scale)
