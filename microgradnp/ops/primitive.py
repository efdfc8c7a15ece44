"""Shared base and helpers for the built-in primitives."""

from __future__ import annotations

import numpy as np

from microgradnp.autograd.function import Function


class Primitive(Function):
    """A built-in operation. Its ``backward`` uses only operations that work on both
    ndarrays and Tensors, so the same rule runs fast on arrays and, under
    ``create_graph=True``, builds a graph that can be differentiated again."""

    differentiable_backward = True

    @classmethod
    def _default_name(cls) -> str:
        return cls.__name__.lower()


def normalize_axes(axis, ndim: int) -> tuple[int, ...]:
    """``axis`` (None, an int or a tuple, negatives allowed) as sorted non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    normalized = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise np.exceptions.AxisError(f"axis {a} is out of bounds for a tensor of dimension {ndim}")
        normalized.append(int(a) % ndim)
    return tuple(sorted(normalized))


def restore_reduced_axes(grad, axes: tuple[int, ...], keepdims: bool):
    """Give a reduction's output gradient back the axes it reduced, as length-1 axes."""
    return grad if keepdims or not axes else np.expand_dims(grad, axes)
