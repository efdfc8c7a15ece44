"""Shared base and helpers for the built-in primitives."""

from __future__ import annotations

import numpy as np

from microgradnp.autograd.function import Function
from microgradnp.tensor import Tensor


class Primitive(Function):
    """A built-in operation. Its ``backward`` uses only operations that work on both
    ndarrays and Tensors, so the same rule runs fast on arrays and, under
    ``create_graph=True``, builds a graph that can be differentiated again."""

    differentiable_backward = True
    _builtin = True

    @classmethod
    def _default_name(cls) -> str:
        return cls.__name__.lower()


def normalize_axes(axis, ndim: int) -> tuple[int, ...]:
    """``axis`` (None, an int or a tuple, negatives allowed) as sorted non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    normalized = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise np.exceptions.AxisError(f"axis {a} is out of bounds for a tensor of dimension {ndim}")
        normalized.append(int(a) % ndim)
    return tuple(sorted(normalized))


def kept_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    """``shape`` after reducing ``axes`` with ``keepdims=True``."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def restore_reduced_axes(grad, kept: tuple[int, ...]):
    """Give a reduction's output gradient back its reduced axes, as length-1 axes
    (``kept`` from ``kept_shape``), so that it broadcasts against the input."""
    return grad if grad.ndim == 0 or grad.ndim == len(kept) else grad.reshape(kept)


def broadcast_grad(grad, shape: tuple[int, ...]):
    """``grad`` repeated to ``shape``: a new array for ndarrays (cheaper than
    ``np.broadcast_to`` on small arrays, and writeable), a broadcast for Tensors."""
    if isinstance(grad, Tensor):
        return np.broadcast_to(grad, shape)
    out = np.empty(shape, dtype=grad.dtype)
    out[...] = grad
    return out
