"""Shared base and helpers for the built-in primitives."""

from __future__ import annotations

import operator

import numpy as np

from microgradnp.autograd.function import Function
from microgradnp.tensor import Tensor, get_default_dtype


class Primitive(Function):
    """A built-in operation. Its ``backward`` uses only operations that work on both
    ndarrays and Tensors, so the same rule runs fast on arrays and, under
    ``create_graph=True``, builds a graph that can be differentiated again."""

    differentiable_backward = True
    _builtin = True

    @classmethod
    def _default_name(cls) -> str:
        return cls.__name__.lower()


def axis_index(axis) -> int:
    """One axis as an int: an int, a NumPy integer or anything with ``__index__``; a
    float (``axis=1.5``), a string or None raise a TypeError that says what is accepted."""
    try:
        return operator.index(axis)
    except TypeError:
        raise TypeError(
            f"axis must be an int (or, for reductions, a tuple of ints or None), got {axis!r} "
            f"({type(axis).__name__}): write e.g. axis=1, axis=-1 or axis=(0, 1)"
        ) from None


def normalize_axes(axis, ndim: int) -> tuple[int, ...]:
    """``axis`` (None, an int or a tuple, negatives allowed) as sorted non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axes = (axis,)
    elif isinstance(axis, (tuple, list)):
        axes = tuple(axis_index(a) for a in axis)
    else:
        axes = (axis_index(axis),)
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


class EmptyReductionError(IndexError, ValueError):
    """A reduction with no identity (max, min, argmax...) over an axis of length 0.
    PyTorch raises IndexError there and NumPy ValueError: this is both."""


def check_not_empty(name: str, shape: tuple[int, ...], axes: tuple[int, ...]) -> None:
    """Raise ``EmptyReductionError`` if ``shape`` has length 0 along one of ``axes``."""
    empty = [i for i in axes if shape[i] == 0]
    if empty:
        raise EmptyReductionError(
            f"{name}(): expected reduction axis {empty[0]} to have non-zero size, but the tensor of shape "
            f"{tuple(shape)} is empty along it, so it has no {name} (PyTorch raises IndexError too). "
            "Check the size before reducing, or reduce along a non-empty axis"
        )


def floating(a):
    """``a`` as a floating-point operand of a function whose values are not integers (exp,
    sigmoid, softmax, mean...): ints and bools become the default float dtype, as PyTorch
    promotes integer inputs of its float functions (NumPy would give float16 for bools,
    or a casting error). Floats, and anything else, pass unchanged."""
    if type(a) is np.ndarray and a.dtype.kind == "f":  # the usual case, first
        return a
    if isinstance(a, np.ndarray | np.generic):
        return a.astype(get_default_dtype()) if a.dtype.kind in "biu" else a
    if isinstance(a, bool | int):
        return np.asarray(a, dtype=get_default_dtype())
    return a


_OPERANDS = ("Tensors, numbers (int, float, bool), NumPy arrays or scalars of numbers, and (nested) lists "
             "of numbers")


def _is_numbers(x) -> bool:
    if isinstance(x, Tensor):
        return True
    if isinstance(x, np.ndarray | np.generic):
        return x.dtype.kind in "biufc"
    if isinstance(x, bool | int | float | complex):
        return True
    if isinstance(x, list | tuple):
        try:
            return np.asarray(x).dtype.kind in "biufc"
        except (TypeError, ValueError):
            return False
    return False


def refuse_non_numbers(symbol: str, *operands) -> None:
    """Called where arithmetic raised a TypeError: if an operand is not numbers (a string,
    None, an object...), raise one TypeError that names it and says what is accepted;
    otherwise return, so that the original error is re-raised."""
    for position, x in zip(("first", "second"), operands):
        if not _is_numbers(x):
            shown = repr(x)
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            what = "None" if x is None else f"of type {type(x).__name__} ({shown})"
            hint = " (float(s) for a numeric string)" if isinstance(x, str) else ""
            raise TypeError(
                f"unsupported operand for {symbol}: the {position} operand is {what}, not numbers. "
                f"Arithmetic on Tensors takes {_OPERANDS}: convert it first{hint}"
            ) from None
