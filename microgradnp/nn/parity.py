# ruff: noqa: A002  (PyTorch's argument name ``input``)
"""PyTorch parity of max/avg pooling on integer input and with ``return_indices``, and of
``pad`` with negative (cropping) widths: helpers of ``nn.functional`` and the pooling layers.

Everything is written with existing differentiable operations: the maxima are found in
NumPy, then read from the input with ``take_along_axis``, so that the gradient goes to the
position PyTorch reports.
"""

from __future__ import annotations

import itertools

import numpy as np

from microgradnp import ops
from microgradnp.errors import InvalidArgumentError
from microgradnp.ops.conv import pool_geometry
from microgradnp.ops.primitive import reads_values
from microgradnp.tensor import Tensor, _data


def _kind(input) -> str:
    """The dtype kind that decides PyTorch's behaviour: a plain array or list becomes the default
    float dtype like any operand (DESIGN), so only a Tensor can be integer or bool here."""
    return np.asarray(_data(input)).dtype.kind if isinstance(input, Tensor) else "f"


def _batched(input, ndim: int):
    """``input`` as (N, C, *spatial), and whether it was one unbatched (C, *spatial) sample."""
    unbatched = np.ndim(_data(input)) == ndim + 1
    return (ops.expand_dims(input, 0) if unbatched else input), unbatched


def _plane_argmax(data: np.ndarray, gs) -> np.ndarray:
    """PyTorch's max-pooling indices of ``data`` (N, C, *spatial): for each window the flat
    position ``h * W + w`` (in the channel's plane) of its first maximum in C order over the
    kernel's taps; a NaN counts as the maximum (the last NaN wins, as in PyTorch's loop)."""
    ndim = len(gs)
    sizes = [max(g.reach, g.pad_left + g.length) for g in gs]
    fill = -np.inf if data.dtype.kind == "f" else np.iinfo(data.dtype).min
    xp = np.full((*data.shape[:2], *sizes), fill, dtype=data.dtype)
    positions = np.full(sizes, -1, dtype=np.int64)
    inside = tuple(slice(g.pad_left, g.pad_left + g.length) for g in gs)
    xp[(..., *inside)] = data
    positions[inside] = np.arange(int(np.prod(data.shape[2:]))).reshape(data.shape[2:])
    best = index = None
    for taps in itertools.product(*(range(g.kernel) for g in gs)):
        where = tuple(g.tap(k) for g, k in zip(gs, taps, strict=True))
        value, position = xp[(..., *where)], np.broadcast_to(positions[where], xp[(..., *where)].shape)
        if best is None:
            best, index = value.copy(), position.copy()
            continue
        take = (value > best) | ((index < 0) & (position >= 0))
        if data.dtype.kind == "f":
            take |= np.isnan(value)
        take &= position >= 0
        np.copyto(best, value, where=take)
        np.copyto(index, position, where=take)
    if index.size and index.min() < 0:
        raise InvalidArgumentError(
            f"max_pool{ndim}d: a window lies entirely in the padding; use less padding or dilation")
    return index


def max_pool(name: str, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices: bool, ndim: int,
             float_pool):
    """``max_pool{ndim}d`` as PyTorch's: ``float_pool`` (the fast primitive) for floating-point
    input without indices; otherwise the maxima found in NumPy, which keeps an integer dtype and
    returns PyTorch's flat per-plane int64 indices (what ``max_unpool`` takes) with
    ``return_indices``."""
    kind = _kind(input)
    if kind == "b" or kind not in "fiu":
        raise TypeError(f"{name}: not implemented for {np.asarray(_data(input)).dtype} input (as in PyTorch); "
                        "convert it to a float or integer dtype first")
    if kind == "f" and not return_indices:
        return float_pool(input, kernel_size, stride, padding, dilation, ceil_mode)
    reads_values(f"{name} with return_indices or on integers (the maxima are found in NumPy)")
    batch, unbatched = _batched(input, ndim)
    data = np.asarray(_data(batch))
    gs = pool_geometry(name, data.shape, kernel_size, stride, padding, dilation, ceil_mode)
    index = _plane_argmax(data, gs)
    lead, outs = data.shape[:2], index.shape[2:]
    flat = ops.reshape(batch, (*lead, -1))
    out = ops.reshape(ops.take_along_axis(flat, index.reshape(*lead, -1), axis=-1), (*lead, *outs))
    if unbatched:
        out, index = ops.squeeze(out, 0), index[0]
    return (out, Tensor(index, dtype=np.int64)) if return_indices else out


def avg_pool(name: str, input, float_pool, *args):
    """``avg_pool{n}d`` on integer input as PyTorch's: int64 input gives the int64 mean rounded
    toward zero; other integer and bool dtypes raise, as PyTorch does."""
    dtype = np.asarray(_data(input)).dtype
    if _kind(input) in "fc":
        return float_pool(input, *args)
    if dtype != np.int64:
        raise TypeError(f"{name}: not implemented for {dtype} input (PyTorch pools only floats and int64); "
                        "convert it with .float() first")
    reads_values(f"{name} on integers (the mean is rounded in NumPy)")
    mean = float_pool(ops.astype(input, np.float64), *args)
    return Tensor(np.trunc(np.asarray(_data(mean))).astype(np.int64), dtype=np.int64)


def crop(input, widths):
    """Cut ``-w`` entries for each negative width ``w`` of a PyTorch ``pad`` list (last axis
    first, ``(before, after)`` per axis); positive widths are ignored here.

    Raises:
        ValueError: crops longer than the axis they cut.
    """
    shape = np.shape(_data(input))
    index = [slice(None)] * len(shape)
    for i in range(len(widths) // 2):
        axis = len(shape) - 1 - i
        cut_before, cut_after = max(0, -widths[2 * i]), max(0, -widths[2 * i + 1])
        if cut_before + cut_after > shape[axis]:
            raise InvalidArgumentError(
                f"pad: the negative widths ({widths[2 * i]}, {widths[2 * i + 1]}) crop more than the "
                f"{shape[axis]} entries of axis {axis}")
        index[axis] = slice(cut_before, shape[axis] - cut_after)
    return input[tuple(index)]


def vector_length(input, p, dim):
    """``torch.linalg.vector_norm(input, p, dim, keepdim=True)`` for ``normalize``, also for the
    orders the framework's ``norm`` refuses: ``p=0`` counts the nonzero entries (a constant:
    its gradient is 0, as PyTorch's), and a negative finite ``p`` is ``(sum |x|**p)**(1/p)``,
    0 for a vector holding a zero (with a zero gradient, as PyTorch's, not a NaN)."""
    if isinstance(p, str) or np.isnan(p):
        raise InvalidArgumentError(
            f"normalize: p must be a number (0, a positive or negative float, inf or -inf), got {p!r}")
    if p > 0 or p == -np.inf:
        return ops.norm(input, p=p, axis=dim, keepdims=True)
    reads_values("normalize with p <= 0 (which entries are zero is found in NumPy)")
    data = np.asarray(_data(input))
    nonzero = data != 0
    if p == 0:
        return Tensor(np.sum(nonzero, axis=dim, keepdims=True).astype(data.dtype), dtype=data.dtype)
    has_zero = ~np.all(nonzero, axis=dim, keepdims=True)
    magnitude = ops.where(nonzero, ops.abs(input), np.ones((), dtype=data.dtype))
    total = ops.sum(ops.where(nonzero, magnitude ** float(p), np.zeros((), dtype=data.dtype)), axis=dim,
                    keepdims=True)
    total = ops.where(has_zero, np.ones((), dtype=data.dtype), total)
    return ops.where(has_zero, np.zeros((), dtype=data.dtype), total ** (1.0 / float(p)))


def check_interpolate_dtype(input, mode: str) -> None:
    """Refuse the input dtypes PyTorch's ``interpolate`` refuses: it resizes floats in every mode
    and uint8 in the nearest modes only here (PyTorch's uint8 bilinear/bicubic use a fixed-point
    kernel whose rounding is not reproduced); other integer and bool dtypes nowhere."""
    dtype = np.asarray(_data(input)).dtype
    if _kind(input) in "fc":
        return
    if dtype == np.uint8 and mode in ("nearest", "nearest-exact"):
        return
    if dtype == np.uint8 and mode in ("bilinear", "bicubic"):
        raise NotImplementedError(f"interpolate: mode {mode!r} on uint8 input is not implemented (PyTorch rounds it "
                                  "with a fixed-point kernel); resize x.float() and round/clip the result yourself")
    raise TypeError(f"interpolate: mode {mode!r} is not implemented for {dtype} input (as in PyTorch); convert it "
                    "with .float() first")
