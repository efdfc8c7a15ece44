"""1-D convolution and pooling over ``(N, C, L)`` arrays, as im2col + GEMM.

The windows of the (padded) input are strided views, never Python loops over
positions or samples. The convolution copies them once into a column matrix and
multiplies it with the weight: one GEMM per group (a batched matmul over groups).
Going back, the weight gradient is one GEMM with the saved columns, and the input
gradient is a transposed convolution: for stride 1 itself a convolution (im2col of
the output gradient and one GEMM), otherwise a GEMM into columns added back into
the input positions one kernel tap at a time (col2im: ``kernel_size`` vectorised
strided adds). Pooling reduces the windows tap by tap in the same way.

Layout: the columns are channel-major, ``(C * K, N * L_out)``, so that one GEMM
covers the whole batch and its result ``(C_out, N * L_out)`` *is* the output, seen
as ``(N, C_out, L_out)`` through a transposed view. The next layer reads that layout
at no extra cost, and the gradient coming back has it too.

The backward rules run on ndarrays at full speed; under ``create_graph=True`` they
run on Tensors instead, written with ``Unfold1d``/``Fold1d`` (im2col and col2im as
primitives, each the other's adjoint) and matmuls, so that gradients can be
differentiated again.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from microgradnp.errors import InvalidArgumentError
from microgradnp.ops.primitive import Primitive, promote_types
from microgradnp.ops.shape import broadcast_to, expand_dims, squeeze
from microgradnp.tensor import Tensor, _data, get_default_dtype


# -- geometry ------------------------------------------------------------------------------
class Geometry(NamedTuple):
    """Where the windows of a 1-D convolution or pooling fall on an input of ``length``."""

    length: int
    kernel: int
    stride: int
    dilation: int
    pad_left: int
    pad_right: int
    out_length: int

    @property
    def reach(self) -> int:
        """How far into the padded input the last window reaches."""
        return (self.out_length - 1) * self.stride + self.dilation * (self.kernel - 1) + 1

    def tap(self, k: int) -> slice:
        """The padded positions that kernel tap ``k`` sees, one per output position."""
        start = k * self.dilation
        return slice(start, start + (self.out_length - 1) * self.stride + 1, self.stride)


_SPATIAL = {1: "L", 2: "H, W", 3: "D, H, W"}
_KERNEL = {1: "K", 2: "kH, kW", 3: "kD, kH, kW"}


def positive_int(value, what: str, op: str, *, zero_ok: bool = False, ndim: int = 1) -> int:
    """An int option given as ``n`` or ``(n,)`` (PyTorch accepts both for 1-D layers)."""
    if isinstance(value, tuple | list) and len(value) == 1:
        value = value[0]
    smallest = 0 if zero_ok else 1
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < smallest:
        kind = "a non-negative" if zero_ok else "a positive"
        of = "(or a 1-tuple of one)" if ndim == 1 else f"or a {ndim}-tuple of them"
        raise InvalidArgumentError(f"{op}: {what} must be {kind} int {of}, got {value!r}")
    return int(value)


def positive_ints(value, what: str, op: str, ndim: int, *, zero_ok: bool = False) -> tuple[int, ...]:
    """An int option per spatial axis: one ``n`` for all of them (also as ``(n,)``, as PyTorch
    takes it), or a tuple of ``ndim``."""
    if ndim > 1 and isinstance(value, tuple | list) and len(value) != 1:
        if len(value) != ndim:
            raise InvalidArgumentError(f"{op}: {what} must be an int or a {ndim}-tuple of ints, got {value!r}")
        return tuple(positive_int(v, what, op, zero_ok=zero_ok, ndim=ndim) for v in value)
    return (positive_int(value, what, op, zero_ok=zero_ok, ndim=ndim),) * ndim


def _place_windows(op: str, length: int, kernel: int, stride: int, dilation: int, pad_left: int,
                   pad_right: int, ceil_mode: bool = False) -> Geometry:
    """The geometry of ``kernel``-wide windows every ``stride`` positions over the padded
    input. ``ceil_mode`` (pooling) keeps a last window that overhangs the end, by
    PyTorch's rule: it must start inside the input or the left padding."""
    span = dilation * (kernel - 1) + 1
    padded = length + pad_left + pad_right
    out_length = (padded - span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out_length - 1) * stride >= length + pad_left:
        out_length -= 1
    if out_length < 1:
        dilated = f" ({span} dilated)" if dilation > 1 else ""
        raise InvalidArgumentError(
            f"{op}: kernel size {kernel}{dilated} is larger than the padded input length {padded} "
            f"(length {length} + padding {pad_left}+{pad_right}); use a smaller kernel or dilation, "
            "more padding, or a longer input"
        )
    return Geometry(length, kernel, stride, dilation, pad_left, pad_right, out_length)


def _check_rank(op: str, shape: tuple, channels: str, ndim: int) -> None:
    if len(shape) != ndim + 2:
        raise InvalidArgumentError(
            f"{op}: expected an input of shape (N, {channels}, {_SPATIAL[ndim]}), got shape {tuple(shape)}; "
            f"a single unbatched sample ({channels}, {_SPATIAL[ndim]}) works too"
        )


def conv_geometry(x_shape, w_shape, bias_shape, stride, padding, dilation, groups) -> tuple[tuple[Geometry, ...], int]:
    """Check a convolution's arguments against each other; place its windows along each
    spatial axis of ``x`` (N, C, *spatial), and return them with ``groups`` as an int."""
    ndim = max(1, len(x_shape) - 2)
    op = f"conv{ndim}d"
    _check_rank(op, x_shape, "C_in", ndim)
    if len(w_shape) != ndim + 2:
        raise InvalidArgumentError(f"{op}: weight must have shape (C_out, C_in / groups, {_KERNEL[ndim]}), got shape "
                         f"{tuple(w_shape)}")
    strides = positive_ints(stride, "stride", op, ndim)
    dilations = positive_ints(dilation, "dilation", op, ndim)
    groups = positive_int(groups, "groups", op)
    (channels, *lengths), (out_channels, group_channels, *kernels) = x_shape[1:], w_shape
    if out_channels % groups:
        raise InvalidArgumentError(
            f"{op}: out channels {out_channels} (weight.shape[0]) are not divisible by groups={groups}; "
            "make both in and out channels multiples of groups"
        )
    if channels % groups:
        raise InvalidArgumentError(
            f"{op}: input channels {channels} are not divisible by groups={groups}; "
            "make both in and out channels multiples of groups"
        )
    if channels != group_channels * groups:
        raise InvalidArgumentError(
            f"{op}: input has {channels} channels but the weight of shape {tuple(w_shape)} with "
            f"groups={groups} expects {group_channels * groups} (weight.shape[1] * groups); check the "
            f"channel axis (inputs are (N, C, {_SPATIAL[ndim]})) or the layer's in_channels"
        )
    if bias_shape is not None and tuple(bias_shape) != (out_channels,):
        raise InvalidArgumentError(
            f"{op}: bias must have shape ({out_channels},), one value per out channel, got {tuple(bias_shape)}"
        )
    if min(kernels) < 1:
        raise InvalidArgumentError(f"{op}: the weight's kernel axis is empty (shape {tuple(w_shape)})")
    if isinstance(padding, str):
        if padding == "valid":
            pads = [(0, 0)] * ndim
        elif padding == "same":
            if max(strides) != 1:
                raise InvalidArgumentError(
                    f"{op}: padding='same' needs stride=1 (a strided output cannot keep the length)")
            totals = [d * (k - 1) for d, k in zip(dilations, kernels, strict=True)]
            pads = [(total // 2, total - total // 2) for total in totals]  # PyTorch puts the odd one on the right
        else:
            raise InvalidArgumentError(f"{op}: padding must be an int, 'valid' or 'same', got {padding!r}")
    else:
        pads = [(p, p) for p in positive_ints(padding, "padding", op, ndim, zero_ok=True)]
    return tuple(_place_windows(op, *axis) for axis in zip(lengths, kernels, strides, dilations, *zip(*pads),
                                                           strict=True)), groups


def pool_geometry(op: str, x_shape, kernel_size, stride, padding, dilation, ceil_mode) -> tuple[Geometry, ...]:
    """Check a pooling's arguments and place its windows along each spatial axis of ``x``
    (N, C, *spatial) (``stride=None`` means ``kernel_size``)."""
    ndim = max(1, len(x_shape) - 2)
    _check_rank(op, x_shape, "C", ndim)
    kernels = positive_ints(kernel_size, "kernel_size", op, ndim)
    no_stride = stride is None or (isinstance(stride, tuple | list) and not stride)
    strides = kernels if no_stride else positive_ints(stride, "stride", op, ndim)
    dilations = positive_ints(dilation, "dilation", op, ndim)
    paddings = positive_ints(padding, "padding", op, ndim, zero_ok=True)
    for kernel, pad in zip(kernels, paddings, strict=True):
        if pad > kernel // 2:
            raise InvalidArgumentError(
                f"{op}: padding={pad} is more than half of kernel_size={kernel}; use padding <= {kernel // 2} "
                "(PyTorch's limit too)"
            )
    return tuple(_place_windows(op, length, kernel, stride, dilation, pad, pad, bool(ceil_mode))
                 for length, kernel, stride, dilation, pad in zip(x_shape[2:], kernels, strides, dilations, paddings,
                                                                  strict=True))


# -- work arrays ---------------------------------------------------------------------------
class _Scratch:
    """Work arrays kept between calls, by shape and dtype.

    im2col columns are the largest temporaries of a convolution, and a training loop
    asks for the same shapes every step. A freshly allocated multi-megabyte array
    often comes straight from the OS (glibc returns big freed blocks to it) and then
    faults on every page when first written, which can cost more than the copy into
    it; a reused one is already mapped and warm in cache. Only arrays that nothing
    can still see are given back, and the pool keeps at most ``per_shape`` of each of
    ``max_shapes`` shapes and ``max_bytes`` in all.
    """

    def __init__(self, max_shapes: int = 32, per_shape: int = 2, max_bytes: int = 1 << 30):
        self.max_shapes, self.per_shape, self.max_bytes = max_shapes, per_shape, max_bytes
        self.free: dict[tuple, list[np.ndarray]] = {}

    def take(self, shape: tuple, dtype) -> np.ndarray:
        free = self.free.get((shape, np.dtype(dtype)))
        if free:
            with contextlib.suppress(IndexError):  # another thread took the last one
                return free.pop()
        return np.empty(shape, dtype=dtype)

    def give(self, array: np.ndarray) -> None:
        key = (array.shape, array.dtype)
        free = self.free.get(key)
        if free is None:
            if len(self.free) >= self.max_shapes:  # forget the shape seen longest ago
                with contextlib.suppress(StopIteration, KeyError):
                    del self.free[next(iter(self.free))]
            free = self.free.setdefault(key, [])
        kept = sum(a.nbytes for arrays in list(self.free.values()) for a in arrays)
        if len(free) < self.per_shape and kept + array.nbytes <= self.max_bytes:
            free.append(array)


_scratch = _Scratch()


class _Lease:
    """Holds a scratch array saved for backward; gives it back when the graph node
    drops it (after backward, or when the graph is discarded)."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray):
        self.array = array

    def __del__(self):
        with contextlib.suppress(Exception):  # at interpreter exit the pool may be gone
            _scratch.give(self.array)


def _float_dtype(*arrays) -> np.dtype:
    """The dtype of the result, PyTorch's promotion of the arrays' (a float32 input with an int
    weight is float32); the default float dtype when none of them is floating."""
    dtype = functools.reduce(promote_types, (a.dtype for a in arrays))
    return dtype if dtype.kind == "f" else get_default_dtype()


def _channel_major(x: np.ndarray) -> bool:
    """Whether ``x`` (N, C, L) is stored as (C, N, L): a convolution's output is."""
    return x.shape[0] > 1 and x.shape[1] > 1 and x.strides[1] > x.strides[0]


def _layout(shape: tuple, channel_major: bool):
    """``(stored shape, to_logical)``: (N, C, L) stored as (C, N, L) when ``channel_major``."""
    if channel_major:
        return (shape[1], shape[0], *shape[2:]), (lambda a: a.swapaxes(0, 1))
    return tuple(shape), (lambda a: a)


# -- im2col and col2im on arrays -----------------------------------------------------------
# A geometry ``gs`` is one ``Geometry`` per spatial axis; kernel taps are numbered in C
# order over the kernel axes (for 2-D, tap ``k`` is ``(k // kW, k % kW)``).
def _taps(gs: tuple[Geometry, ...]):
    """Every kernel tap as one index per spatial axis, in C order."""
    return itertools.product(*(range(g.kernel) for g in gs))


def _padded(x: np.ndarray, gs: tuple[Geometry, ...], fill) -> tuple[np.ndarray, np.ndarray | None]:
    """The input with the padding its windows reach, and the scratch array holding it
    (None when the windows fit in ``x`` itself, which is then returned as is)."""
    if all(g.pad_left == 0 and g.reach <= g.length for g in gs):
        return x, None
    stored, logical = _layout((*x.shape[:2], *(g.reach for g in gs)), _channel_major(x))
    buffer = _scratch.take(stored, _float_dtype(x))
    xp = logical(buffer)
    xp[...] = fill
    inside, seen = [], []
    for g in gs:
        left = min(g.pad_left, g.reach)
        count = max(0, min(g.length, g.reach - left))  # input positions inside the windows' reach
        inside.append(slice(left, left + count))
        seen.append(slice(0, count))
    xp[(..., *inside)] = x[(..., *seen)]
    return xp, buffer


def _windows(xp: np.ndarray, gs: tuple[Geometry, ...]) -> np.ndarray:
    """A read-only (N, C, *out, *kernel) view of every window of the padded input."""
    spatial = xp.strides[2:]
    return as_strided(
        xp,
        shape=(*xp.shape[:2], *(g.out_length for g in gs), *(g.kernel for g in gs)),
        strides=(*xp.strides[:2], *(g.stride * s for g, s in zip(gs, spatial, strict=True)),
                 *(g.dilation * s for g, s in zip(gs, spatial, strict=True))),
        writeable=False,
    )


def _col2im(tap, gs: tuple[Geometry, ...], shape_nc: tuple, dtype, channel_major: bool) -> np.ndarray:
    """The (N, C, *spatial) input gradient whose window entries received ``tap(k)``
    (N, C, *out) from kernel tap ``k``: one strided add per tap, the padding cropped off."""
    totals = tuple(max(g.reach, g.pad_left + g.length) for g in gs)
    stored, logical = _layout((*shape_nc, *totals), channel_major)
    grad_xp = logical(np.zeros(stored, dtype=dtype))
    for k, index in enumerate(_taps(gs)):
        grad_xp[(..., *(g.tap(i) for g, i in zip(gs, index, strict=True)))] += tap(k)
    if all(g.pad_left == 0 and total == g.length for g, total in zip(gs, totals, strict=True)):
        return grad_xp
    return grad_xp[(..., *(slice(g.pad_left, g.pad_left + g.length) for g in gs))]


def _im2col(x: np.ndarray, g: Geometry, cols: np.ndarray) -> None:
    """Write the windows of the zero-padded ``x`` (N, C, L) into ``cols``, a channel-major
    (groups, C / groups, K, N, L_out) view. Windows that fit in ``x`` are one strided
    copy; otherwise each tap is one copy of the input positions it sees and zeros where
    it sees padding, so that the padded input is never built."""
    if g.pad_left == 0 and g.reach <= g.length:
        np.copyto(cols, _windows(x, (g,)).transpose(1, 3, 0, 2).reshape(cols.shape))
        return
    x_cm = x.transpose(1, 0, 2).reshape(*cols.shape[:2], *x.shape[::2])
    for k in range(g.kernel):
        into = cols[:, :, k]
        start = k * g.dilation - g.pad_left  # input position under output 0
        first = min(g.out_length, max(0, -(start // g.stride)))  # first output inside the input
        end = min(g.out_length, max(first, -((start - g.length) // g.stride)))  # first one past it
        into[..., :first] = 0
        into[..., end:] = 0
        if end > first:
            begin = start + first * g.stride
            into[..., first:end] = x_cm[..., begin : begin + (end - first - 1) * g.stride + 1 : g.stride]


def _im2col_nd(x: np.ndarray, gs: tuple[Geometry, ...], cols: np.ndarray) -> None:
    """Write the windows of the zero-padded ``x`` (N, C, *spatial) into ``cols``, a
    channel-major (groups, C / groups, *kernel, N, *out) view: one strided copy (from a
    padded copy of ``x`` when the windows reach into the padding)."""
    xp, padded = _padded(x, gs, 0)
    ndim = len(gs)
    order = (1, *range(2 + ndim, 2 + 2 * ndim), 0, *range(2, 2 + ndim))
    np.copyto(cols, _windows(xp, gs).transpose(order).reshape(cols.shape))
    if padded is not None:
        _scratch.give(padded)


def _unfold(x: np.ndarray, gs: tuple[Geometry, ...]) -> np.ndarray:
    """(N, C, *out, *kernel) copies of the windows of the zero-padded input."""
    batch, channels, ndim = *x.shape[:2], len(gs)
    outs, kernels = tuple(g.out_length for g in gs), tuple(g.kernel for g in gs)
    cols = np.empty((1, channels, *kernels, batch, *outs), dtype=x.dtype)
    if ndim == 1:
        _im2col(x, gs[0], cols.reshape(1, channels, kernels[0], batch, outs[0]))
    else:
        _im2col_nd(x, gs, cols)
    return cols[0].transpose(1 + ndim, 0, *range(2 + ndim, 2 + 2 * ndim), *range(1, 1 + ndim))


def _fold(cols: np.ndarray, gs: tuple[Geometry, ...]) -> np.ndarray:
    """The adjoint of ``_unfold``: window entries (N, C, *out, *kernel) summed back into (N, C, *spatial)."""
    flat = cols.reshape(*cols.shape[: 2 + len(gs)], math.prod(cols.shape[2 + len(gs):]))  # (not -1: N may be 0)
    return _col2im(lambda k: flat[..., k], gs, cols.shape[:2], cols.dtype, _channel_major(cols))


class Unfold(Primitive):
    """im2col: the windows of the zero-padded input, (N, C, *spatial) -> (N, C, *out, *kernel)."""

    @staticmethod
    def forward(ctx, x, geometry):
        ctx.geometry = geometry
        return _unfold(x, geometry)

    @staticmethod
    def backward(ctx, grad):
        if isinstance(grad, Tensor):
            return Fold.apply(grad, geometry=ctx.geometry)
        return _fold(grad, ctx.geometry)


class Fold(Primitive):
    """col2im: window entries (N, C, *out, *kernel) summed back into the input positions (N, C, *spatial)."""

    @staticmethod
    def forward(ctx, cols, geometry):
        ctx.geometry = geometry
        return _fold(cols, geometry)

    @staticmethod
    def backward(ctx, grad):
        if isinstance(grad, Tensor):
            return Unfold.apply(grad, geometry=ctx.geometry)
        return _unfold(grad, ctx.geometry)


# -- convolution ---------------------------------------------------------------------------
class Conv1d(Primitive):
    """Cross-correlation of ``x`` (N, C_in, *spatial) with ``weight`` (C_out, C_in / groups,
    *kernel), plus ``bias`` (C_out,), as ``torch.nn.functional.conv1d`` (and ``conv2d`` with
    two spatial axes: ``Conv2d`` is the same rule).

    Forward: the windows of the (implicitly zero-padded) input are copied once into
    channel-major columns (C_in * K, N * L_out) (K: all kernel taps, L_out: all output
    positions), with a row of ones when there is a bias, and multiplied by the weight (and
    bias as its last column): one GEMM per group. Backward: the output gradient times the
    saved columns gives the weight and bias gradients in one GEMM; the input gradient is a
    transposed convolution (see ``_conv_input_grad``).
    """

    name = "conv1d"

    @staticmethod
    def forward(ctx, x, weight, bias=None, *, stride=1, padding=0, dilation=1, groups=1):
        gs, groups = conv_geometry(x.shape, weight.shape, None if bias is None else np.shape(bias),
                                   stride, padding, dilation, groups)
        batch, outs = x.shape[0], tuple(g.out_length for g in gs)
        out_channels, group_in, *kernels = weight.shape
        taps = math.prod(kernels)
        dtype = _float_dtype(x, weight)
        if weight.dtype.kind != "f":  # (an int weight: NumPy's matmul with float32 columns would give float64)
            weight = weight.astype(dtype)
        if bias is not None and np.asarray(bias).dtype.kind != "f":
            bias = np.asarray(bias, dtype=dtype)
        w_rows = weight.reshape(groups, out_channels // groups, group_in * taps)

        # The bias rides along as one more column of the weight against a row of ones:
        # the GEMM adds it, and its gradient comes out of the weight gradient's GEMM.
        cols = _scratch.take((groups, group_in * taps + (bias is not None), batch * math.prod(outs)), dtype)
        into = cols[:, : group_in * taps].reshape(groups, group_in, *kernels, batch, *outs)
        if len(gs) == 1:
            _im2col(x, gs[0], into)
        else:
            _im2col_nd(x, gs, into)
        if bias is not None:
            cols[:, -1] = 1
            w_rows = np.concatenate([w_rows, bias.reshape(groups, -1, 1)], axis=2)
        out = np.matmul(w_rows, cols)
        ctx.geometry, ctx.groups = gs, groups
        ctx.save_for_backward(x, weight, _Lease(cols))
        return out.reshape(out_channels, batch, *outs).swapaxes(0, 1)

    @staticmethod
    def backward(ctx, grad):
        x, weight, cols = ctx.saved_tensors
        if isinstance(grad, Tensor):
            return _conv_backward_on_tensors(ctx, grad, x, weight)
        need_x, need_weight, need_bias = ctx.needs_input_grad
        gs, groups = ctx.geometry, ctx.groups
        batch, out_channels = grad.shape[:2]
        group_in_kernel = math.prod(weight.shape[1:])

        # The output gradient as (C_out, N * L_out) rows: free when it has the output's layout.
        rows = grad.swapaxes(0, 1)
        copied = None
        if not rows.flags.c_contiguous:
            copied = _scratch.take(rows.shape, grad.dtype)
            np.copyto(copied, rows)
            rows = copied
        rows = rows.reshape(groups, out_channels // groups, -1)

        grad_weight = grad_bias = grad_x = None
        if need_weight:
            both = np.matmul(rows, cols.array.transpose(0, 2, 1))  # (groups, C_out/groups, C_in/groups*K [+1])
            grad_weight = both[..., :group_in_kernel].reshape(weight.shape)
            if need_bias:
                grad_bias = both[..., group_in_kernel].reshape(out_channels)
        elif need_bias:
            grad_bias = np.add.reduce(rows, axis=2).reshape(out_channels)
        if need_x:
            grad_x = _conv_input_grad(rows, weight, gs, groups, batch, grad.dtype)
        if copied is not None:
            _scratch.give(copied)
        return grad_x, grad_weight, grad_bias


class Conv2d(Conv1d):
    """Cross-correlation of ``x`` (N, C_in, H, W) with ``weight`` (C_out, C_in / groups, kH, kW),
    as ``torch.nn.functional.conv2d``: ``Conv1d``'s rule on two spatial axes."""

    name = "conv2d"


def _conv_input_grad(rows, weight, gs: tuple[Geometry, ...], groups: int, batch: int, dtype) -> np.ndarray:
    """The input gradient (N, C_in, *spatial) from the output gradient ``rows`` (groups, C_out/groups, N*L_out)."""
    out_channels, group_in, *kernels = weight.shape
    channels, outs = group_in * groups, tuple(g.out_length for g in gs)
    if len(gs) == 1 and gs[0].stride == 1:
        # A transposed convolution is a convolution of the output gradient, padded by the
        # kernel's reach, with the flipped weight: one im2col and one GEMM (into the
        # gradient, channel-major), which beats a GEMM into columns plus K strided adds.
        (g,), (kernel,), (out_length,) = gs, kernels, outs
        reach = g.dilation * (kernel - 1)
        pad_left = reach - g.pad_left
        transposed = Geometry(out_length, kernel, 1, g.dilation, pad_left, g.length + reach - out_length - pad_left,
                              g.length)
        cols = _scratch.take((out_channels * kernel, batch * g.length), dtype)
        _im2col(rows.reshape(out_channels, batch, out_length).transpose(1, 0, 2), transposed,
                cols.reshape(1, out_channels, kernel, batch, g.length))
        flipped = weight[..., ::-1].reshape(groups, out_channels // groups, group_in, kernel)
        flipped = flipped.transpose(0, 2, 1, 3).reshape(groups, group_in, -1)
        grad_x = np.matmul(flipped, cols.reshape(groups, out_channels // groups * kernel, batch * g.length))
        _scratch.give(cols)
        return grad_x.reshape(channels, batch, g.length).transpose(1, 0, 2)
    w_rows = weight.reshape(groups, out_channels // groups, -1)
    grad_cols = _scratch.take((groups, w_rows.shape[2], rows.shape[2]), dtype)
    np.matmul(w_rows.transpose(0, 2, 1), rows, out=grad_cols)
    taps = grad_cols.reshape(channels, math.prod(kernels), batch, *outs)
    grad_x = _col2im(lambda k: taps[:, k].swapaxes(0, 1), gs, (batch, channels), dtype, True)
    _scratch.give(grad_cols)
    return grad_x


def _conv_backward_on_tensors(ctx, grad, x, weight):
    """The convolution's backward as Tensor operations (for ``create_graph=True``): the same
    products as the array version, with im2col/col2im as the ``Unfold``/``Fold``
    primitives, so that every step can be differentiated again."""
    need_x, need_weight, need_bias = ctx.needs_input_grad
    gs, groups = ctx.geometry, ctx.groups
    batch, out_channels, *outs = grad.shape
    channels, kernels = x.shape[1], tuple(g.kernel for g in gs)
    group_in, positions, taps = channels // groups, math.prod(outs), math.prod(kernels)
    rows = grad.reshape(batch, groups, out_channels // groups, positions)
    grad_x = grad_weight = grad_bias = None
    if need_weight:
        windows = Unfold.apply(x, geometry=gs).reshape(batch, groups, group_in, positions, taps)
        columns = windows.transpose(0, 1, 3, 2, 4).reshape(batch, groups, positions, group_in * taps)
        grad_weight = (rows @ columns).sum(axis=0).reshape(weight.shape)
    if need_bias:
        grad_bias = grad.sum(axis=(0, *range(2, grad.ndim)))
    if need_x:
        w_columns = weight.reshape(groups, out_channels // groups, group_in * taps).transpose(0, 2, 1)
        entries = (w_columns @ rows).reshape(batch, groups, group_in, taps, positions)
        entries = entries.transpose(0, 1, 2, 4, 3).reshape(batch, channels, *outs, *kernels)
        grad_x = Fold.apply(entries, geometry=gs)
    return grad_x, grad_weight, grad_bias


# -- pooling -------------------------------------------------------------------------------
def _first_real_taps(shape: tuple, gs: tuple[Geometry, ...]) -> np.ndarray:
    """The (*out) index of each window's first tap on the input rather than on its padding."""
    inside, buffer = _padded(np.ones((1, 1, *shape[2:])), gs, 0.0)
    windows = _windows(inside, gs)
    first = np.argmax(windows.reshape(*windows.shape[: 2 + len(gs)], -1), axis=-1)
    if buffer is not None:
        _scratch.give(buffer)
    return first


class MaxPool1d(Primitive):
    """The largest entry of each window (``-inf`` padding), as ``torch.nn.functional.max_pool1d``
    (and ``max_pool2d`` on (N, C, H, W): ``MaxPool2d`` is the same rule).

    The gradient goes to the arg-max of each window: the first maximum on ties (in C
    order over the kernel's taps), and a NaN counts as the maximum (it propagates), as
    in PyTorch.
    """

    name = "max_pool1d"
    _zero_second_order = True

    @staticmethod
    def forward(ctx, x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        gs = pool_geometry(f"max_pool{x.ndim - 2}d", x.shape, kernel_size, stride, padding, dilation, ceil_mode)
        xp, padded = _padded(x, gs, -np.inf)
        windows = _windows(xp, gs)
        taps = list(_taps(gs))
        # A running max over the taps: one vectorised pass each, no per-window argmax.
        best = windows[(..., *taps[0])].astype(_float_dtype(x), order="K")
        arg = np.zeros(best.shape, dtype=np.min_scalar_type(len(taps) - 1))
        larger = np.empty(best.shape, dtype=bool)
        for k, index in enumerate(taps[1:], 1):
            tap = windows[(..., *index)]
            np.greater(tap, best, out=larger)
            larger |= np.isnan(tap)
            np.copyto(best, tap, where=larger)
            np.copyto(arg, k, where=larger)
        if padded is not None:
            _scratch.give(padded)
            stuck = best == -np.inf
            if stuck.any():  # only -inf in a window: its first real entry gets the gradient, as in PyTorch, not padding
                np.copyto(arg, _first_real_taps(x.shape, gs).astype(arg.dtype), where=stuck)
        ctx.geometry, ctx.channel_major = gs, _channel_major(x)
        ctx.save_for_backward(arg)
        return best

    @staticmethod
    def backward(ctx, grad):
        (arg,) = ctx.saved_tensors
        gs = ctx.geometry
        if isinstance(grad, Tensor):
            kernels = tuple(g.kernel for g in gs)
            one_hot = (arg[..., None] == np.arange(math.prod(kernels))).astype(grad.dtype)
            entries = (expand_dims(grad, -1) * one_hot).reshape(*grad.shape, *kernels)
            return Fold.apply(entries, geometry=gs)
        zero = np.zeros((), dtype=grad.dtype)
        return _col2im(lambda k: np.where(arg == k, grad, zero), gs, grad.shape[:2], grad.dtype, ctx.channel_major)


class MaxPool2d(MaxPool1d):
    """The largest entry of each window of (N, C, H, W), as ``torch.nn.functional.max_pool2d``:
    ``MaxPool1d``'s rule on two spatial axes."""

    name = "max_pool2d"


class AvgPool1d(Primitive):
    """The mean of each window (zero padding), as ``torch.nn.functional.avg_pool1d`` (and
    ``avg_pool2d`` on (N, C, H, W): ``AvgPool2d`` is the same rule).

    ``count_include_pad`` divides by the window's size including padding (but not
    the overhang ``ceil_mode`` adds past the padding), otherwise by the number of
    input entries in it, as in PyTorch.
    """

    name = "avg_pool1d"

    @staticmethod
    def forward(ctx, x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        gs = pool_geometry(f"avg_pool{x.ndim - 2}d", x.shape, kernel_size, stride, padding, 1, ceil_mode)
        xp, padded = _padded(x, gs, 0)
        windows = _windows(xp, gs)
        taps = list(_taps(gs))
        total = windows[(..., *taps[0])].astype(_float_dtype(x), order="K")
        for index in taps[1:]:
            total += windows[(..., *index)]
        if padded is not None:
            _scratch.give(padded)
        divisor = _window_sizes(gs, count_include_pad).astype(total.dtype)
        total /= divisor
        ctx.geometry, ctx.divisor, ctx.channel_major = gs, divisor, _channel_major(x)
        return total

    @staticmethod
    def backward(ctx, grad):
        gs = ctx.geometry
        share = grad / ctx.divisor
        if isinstance(share, Tensor):
            kernels = tuple(g.kernel for g in gs)
            entries = broadcast_to(share.reshape(*share.shape, *(1 for _ in gs)), (*share.shape, *kernels))
            return Fold.apply(entries, geometry=gs)
        return _col2im(lambda k: share, gs, grad.shape[:2], grad.dtype, ctx.channel_major)


class AvgPool2d(AvgPool1d):
    """The mean of each window of (N, C, H, W), as ``torch.nn.functional.avg_pool2d``:
    ``AvgPool1d``'s rule on two spatial axes."""

    name = "avg_pool2d"


def _window_sizes(gs: tuple[Geometry, ...], count_include_pad: bool) -> np.ndarray:
    """Each window's divisor (*out), by PyTorch's rule: the product of its extents along the axes."""
    sizes = []
    for g in gs:
        start = np.arange(g.out_length) * g.stride - g.pad_left
        end = np.minimum(start + g.kernel, g.length + g.pad_right)
        sizes.append(end - start if count_include_pad else np.minimum(end, g.length) - np.maximum(start, 0))
    return functools.reduce(np.multiply.outer, sizes)


# -- functions -----------------------------------------------------------------------------
def _unbatched(op, x, channels: str, apply, ndim: int = 1):
    """Run ``apply`` on a batch, also for one unbatched (C, *spatial) sample as PyTorch does."""
    rank = np.ndim(_data(x))
    if rank == ndim + 1:
        return squeeze(apply(expand_dims(x, 0)), 0)
    _check_rank(op, np.shape(_data(x)), channels, ndim)
    return apply(x)


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution (cross-correlation) of ``x`` (N, C_in, L) or (C_in, L) with
    ``weight`` (C_out, C_in / groups, K) plus ``bias`` (C_out,); see ``nn.functional.conv1d``."""
    return _unbatched("conv1d", x, "C_in", lambda batch: Conv1d.apply(
        batch, weight, bias, stride=stride, padding=padding, dilation=dilation, groups=groups))


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation) of ``x`` (N, C_in, H, W) or (C_in, H, W) with
    ``weight`` (C_out, C_in / groups, kH, kW) plus ``bias`` (C_out,); see ``nn.functional.conv2d``."""
    return _unbatched("conv2d", x, "C_in", lambda batch: Conv2d.apply(
        batch, weight, bias, stride=stride, padding=padding, dilation=dilation, groups=groups), ndim=2)


def max_pool1d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Max over windows of ``x`` (N, C, L) or (C, L); see ``nn.functional.max_pool1d``."""
    return _unbatched("max_pool1d", x, "C", lambda batch: MaxPool1d.apply(
        batch, kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode))


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Max over windows of ``x`` (N, C, H, W) or (C, H, W); see ``nn.functional.max_pool2d``."""
    return _unbatched("max_pool2d", x, "C", lambda batch: MaxPool2d.apply(
        batch, kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode),
        ndim=2)


def avg_pool1d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Mean over windows of ``x`` (N, C, L) or (C, L); see ``nn.functional.avg_pool1d``."""
    return _unbatched("avg_pool1d", x, "C", lambda batch: AvgPool1d.apply(
        batch, kernel_size=kernel_size, stride=stride, padding=padding, ceil_mode=ceil_mode,
        count_include_pad=count_include_pad))


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Mean over windows of ``x`` (N, C, H, W) or (C, H, W); see ``nn.functional.avg_pool2d``."""
    return _unbatched("avg_pool2d", x, "C", lambda batch: AvgPool2d.apply(
        batch, kernel_size=kernel_size, stride=stride, padding=padding, ceil_mode=ceil_mode,
        count_include_pad=count_include_pad), ndim=2)
