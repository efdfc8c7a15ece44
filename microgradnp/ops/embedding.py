"""Embedding lookup: rows of a table by integer indices, with PyTorch's ``padding_idx``.

Three primitives, each the adjoint of the next, so gradients of every order are exact:
``Embedding`` (``weight[indices]``; its gradient sums over repeated indices and leaves the
padding row at zero), ``EmbeddingScatter`` (that gradient) and ``EmbeddingGather`` (the
adjoint of the scatter: ``v[indices]`` with the padding positions zero).
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


def _scatter(grad: np.ndarray, rows: int, indices: np.ndarray, padding_idx) -> np.ndarray:
    out = np.zeros((rows, *grad.shape[indices.ndim:]), dtype=grad.dtype)
    np.add.at(out, indices, grad)
    if padding_idx is not None:
        out[padding_idx] = 0
    return out


def _gather(table: np.ndarray, indices: np.ndarray, padding_idx) -> np.ndarray:
    out = table[indices]
    if padding_idx is not None:
        out[indices == padding_idx] = 0
    return out


class Embedding(Primitive):
    name = "embedding"

    @staticmethod
    def forward(ctx, weight, indices, padding_idx=None):
        indices = np.asarray(indices)
        _check(indices, weight.shape[0])
        ctx.rows, ctx.indices, ctx.padding_idx = weight.shape[0], indices, padding_idx
        return weight[indices]

    @staticmethod
    def backward(ctx, grad):
        if isinstance(grad, np.ndarray):
            return _scatter(grad, ctx.rows, ctx.indices, ctx.padding_idx)
        return EmbeddingScatter.apply(grad, rows=ctx.rows, indices=ctx.indices, padding_idx=ctx.padding_idx)


class EmbeddingScatter(Primitive):
    """The gradient of ``Embedding``: only needed to differentiate it again."""

    name = "embedding_scatter"

    @staticmethod
    def forward(ctx, grad, rows, indices, padding_idx):
        ctx.indices, ctx.padding_idx = indices, padding_idx
        return _scatter(grad, rows, indices, padding_idx)

    @staticmethod
    def backward(ctx, grad):
        if isinstance(grad, np.ndarray):
            return _gather(grad, ctx.indices, ctx.padding_idx)
        return EmbeddingGather.apply(grad, indices=ctx.indices, padding_idx=ctx.padding_idx)


class EmbeddingGather(Primitive):
    """The adjoint of ``EmbeddingScatter``: rows by index, zero at the padding positions."""

    name = "embedding_gather"

    @staticmethod
    def forward(ctx, table, indices, padding_idx):
        ctx.rows, ctx.indices, ctx.padding_idx = table.shape[0], indices, padding_idx
        return _gather(table, indices, padding_idx)

    @staticmethod
    def backward(ctx, grad):
        if isinstance(grad, np.ndarray):
            return _scatter(grad, ctx.rows, ctx.indices, ctx.padding_idx)
        return EmbeddingScatter.apply(grad, rows=ctx.rows, indices=ctx.indices, padding_idx=ctx.padding_idx)
