"""Shared base and helpers for the built-in primitives."""

from __future__ import annotations

import functools
import operator

import numpy as np

from microgradnp.autograd.function import Function
from microgradnp.autograd.grad_mode import mode, watchers
from microgradnp.tensor import Tensor, get_default_dtype


@functools.lru_cache(maxsize=256)
def constant(value, dtype) -> np.ndarray:
    """``value`` as a read-only 0-d array of ``dtype``, for a rule's ``1 - out``. The result is
    the one the Python number gives (NumPy casts it to the array's dtype), but NumPy 2 makes
    that cast at every call: done once, an operation on a small array is ~1 us faster."""
    array = np.array(value, dtype=dtype)
    array.flags.writeable = False
    return array


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


def reduction_axes(axis, ndim: int) -> tuple[int, ...]:
    """``normalize_axes`` for a reduction: on a 0-d tensor, axis 0 and -1 (which PyTorch
    accepts there, and NumPy refuses) reduce nothing."""
    if ndim == 0 and axis is not None:
        given = axis if isinstance(axis, tuple | list) else (axis,)
        if all(isinstance(a, int | np.integer) and a in (0, -1) for a in given):
            return ()
    return normalize_axes(axis, ndim)


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


class EmptyReductionError(IndexError, ValueError, RuntimeError):
    """A reduction with no identity (max, min, argmax...) over an axis of length 0.
    PyTorch raises IndexError (argmax, mode...) or RuntimeError (max, amax, aminmax...)
    there and NumPy ValueError: this is all three."""


def check_not_empty(name: str, shape: tuple[int, ...], axes: tuple[int, ...]) -> None:
    """Raise ``EmptyReductionError`` if ``shape`` has length 0 along one of ``axes``."""
    empty = [i for i in axes if shape[i] == 0]
    if empty:
        raise EmptyReductionError(
            f"{name}(): expected reduction axis {empty[0]} to have non-zero size, but the tensor of shape "
            f"{tuple(shape)} is empty along it, so it has no {name} (PyTorch raises IndexError too). "
            "Check the size before reducing, or reduce along a non-empty axis"
        )


def masked_product(grad, factor):
    """``grad * factor`` for a rule whose ``factor`` is 0 where an input gets no gradient
    (relu's mask, clamp's, max's share of a tie): 0 there even where ``grad`` is inf or nan,
    as PyTorch selects there rather than multiplies (inf * 0 would leak a nan into a
    position the output never depended on). The product is redone as a selection only when
    it holds a nan, which only such a gradient makes."""
    out = grad * factor
    if np.isnan(out.data if isinstance(out, Tensor) else out).any():
        out = np.where(np.asarray(factor) != 0, out, 0)  # (a Tensor gradient: mg.where, on its graph)
    return out


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


# -- type promotion --------------------------------------------------------------------------
# PyTorch's rule for the dtype of a binary operation, where it differs from NumPy's: an int
# and a float tensor give the float tensor's dtype (NumPy widens int32 + float32 to float64);
# 0-d tensors and scalars (Python or NumPy numbers) only decide the dtype when they are of a
# higher kind (bool < int < float < complex) than the tensors with dimensions, so that
# ``x32 * mg.tensor(2.0)`` and ``x32 * np.float64(2)`` stay float32; a float scalar with
# int tensors gives the default float dtype.
_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}
_INT64, _BOOL = np.dtype(np.int64), np.dtype(bool)


def promote(a, b):
    """``a`` and ``b`` (arrays or numbers) cast to PyTorch's result dtype of a binary
    operation on them, so that NumPy computes in it; numbers stay numbers where NumPy
    already treats them so. Operands that are not numbers pass unchanged (the operation
    then raises its own error)."""
    if type(a) is np.ndarray:
        kind = type(b)
        if kind is np.ndarray:
            if a.dtype is b.dtype:  # the usual case, first
                return a, b
        elif (kind is int and a.dtype.kind in "fc") or kind is bool or (kind is float and a.dtype.kind in "fc"):
            return a, b  # NumPy treats a Python number as PyTorch does (bools ** 2: NumPy's int8, PyTorch's int64)
    elif type(b) is np.ndarray:
        kind = type(a)
        if (kind is int and b.dtype.kind in "fc") or kind is bool or (kind is float and b.dtype.kind in "fc"):
            return a, b
    return _promoted(a, b)


def floating_pair(a, b):
    """``promote(a, b)`` for a function whose values are not integers (true division, atan2,
    hypot...): an integer or bool result dtype becomes the default float dtype, as in PyTorch
    (``int32 / int32`` is a float tensor)."""
    promoted_a, promoted_b = promote(a, b)
    dtype = promoted_a.dtype if isinstance(promoted_a, np.ndarray) else getattr(promoted_b, "dtype", None)
    if dtype is not None and dtype.kind in "biu":
        # each operand to the float dtype from its own values (uint8 with a 0-d -1: -1, not 255)
        default = get_default_dtype()
        return tuple(np.asarray(x).astype(default) if isinstance(x, np.ndarray | np.generic) else float(x)
                     for x in (a, b))
    return promoted_a, promoted_b


def _promoted(*operands):
    plain = [x.item() if isinstance(x, np.generic) and x.dtype.kind in _CATEGORY else x for x in operands]
    result = result_dtype(*plain)
    if result is None:
        return operands
    if result.kind in "iu":  # a Python int out of the integer result dtype's range, wrapped into it as
        # PyTorch (uint8 + -1 is 255), where NumPy refuses it
        limits = np.iinfo(result)
        plain = [np.asarray(x).astype(result) if type(x) is int and not limits.min <= x <= limits.max else x
                 for x in plain]
    return tuple(x.astype(result) if isinstance(x, np.ndarray) and x.dtype != result else x for x in plain)


def result_dtype(*operands) -> np.dtype | None:
    """PyTorch's result dtype (``torch.result_type``) of ``operands``: arrays (with dimensions,
    or 0-d as a 0-d tensor) and Python numbers (a NumPy number is one too); None if one of
    them is neither, or not of a bool, integer, floating or complex dtype."""
    dims = zeros = numbers = None  # the promoted dtype of each group of operands (None: no operand)
    for x in operands:
        if isinstance(x, np.generic) and x.dtype.kind in _CATEGORY:
            x = x.item()  # a NumPy number counts as a number, as in PyTorch
        if isinstance(x, np.ndarray):
            if x.dtype.kind not in _CATEGORY:
                return None
            if x.ndim:
                dims = x.dtype if dims is None else promote_types(dims, x.dtype)
            else:
                zeros = x.dtype if zeros is None else promote_types(zeros, x.dtype)
        elif isinstance(x, bool | int | float | complex):
            dtype = _number_dtype(x)
            numbers = dtype if numbers is None else promote_types(numbers, dtype)
        else:
            return None
    return _combine(dims, _combine(zeros, numbers))


def _number_dtype(x) -> np.dtype:
    """The dtype PyTorch gives a Python number: bool, int64, or the default float (complex) dtype."""
    if isinstance(x, bool):
        return _BOOL
    if isinstance(x, int):
        return _INT64
    default = get_default_dtype()
    return default if isinstance(x, float) else np.result_type(default, np.complex64)


def promote_types(d1: np.dtype, d2: np.dtype) -> np.dtype:
    """``torch.promote_types``: NumPy's promotion within a kind (int8 + int32 is int32); across
    kinds, the higher kind's dtype (int32 + float32 is float32, not NumPy's float64)."""
    c1, c2 = _CATEGORY[d1.kind], _CATEGORY[d2.kind]
    if c1 == c2 or (min(c1, c2) == 2 and max(c1, c2) == 3):  # float and complex: NumPy's (and PyTorch's)
        return np.promote_types(d1, d2)
    return d1 if c1 > c2 else d2


def _combine(higher, lower):
    """c10's ``combine_categories``: the dtype of a group of operands (``higher``: the one
    that decides) combined with a group below it, which matters only if of a higher kind."""
    if higher is None or lower is None:
        return lower if higher is None else higher
    high, low = _CATEGORY[higher.kind], _CATEGORY[lower.kind]
    if high == 3:
        return higher
    if low == 3:
        return np.result_type(higher, np.complex64) if high == 2 else lower
    if high == 2:
        return higher
    if high == 0 or low == 2:
        return promote_types(higher, lower)
    return higher


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


def reads_values(function: str) -> None:
    """Under ``mg.compile``, make the traced function run eagerly: ``function`` reads
    tensor values in Python (indices, masks, a norm) or makes a result whose shape depends
    on them, which a replay would not repeat."""
    if watchers.count and mode.tracer is not None:
        mode.tracer.cannot_replay(f"{function}, which reads tensor values")
