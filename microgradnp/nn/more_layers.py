# ruff: noqa: A002  (PyTorch's argument name ``input``)
"""More of PyTorch's layers, written with existing differentiable ops: ``Conv3d``, ``EmbeddingBag``,
``Softmax2d``, ``ChannelShuffle``, ``LPPool1d/2d/3d``, ``MaxUnpool1d/2d/3d``,
``AdaptiveAvgPool3d``, ``AdaptiveMaxPool3d``, ``TripletMarginWithDistanceLoss``,
``MultiLabelMarginLoss`` and ``LazyLinear``, each with its ``nn.functional`` function.

Arguments, defaults, shapes and errors are PyTorch's. A function that reads the values of an
index tensor in NumPy makes ``mg.compile`` run the traced function eagerly (never a stale replay).
"""

from __future__ import annotations

import math

import numpy as np

from microgradnp import ops
from microgradnp.autograd.function import Function
from microgradnp.errors import InvalidArgumentError
from microgradnp.nn import functional as F
from microgradnp.nn.conv import Conv1d as _ConvLayer
from microgradnp.nn.extra_layers import AdaptiveMaxPool1d, _adaptive_max_pool, avg_pool3d
from microgradnp.nn.extra_losses import _hinge, _reduce, _same_ndim, _tensor, eager_only, pairwise_distance
from microgradnp.nn.init import default_layer_init_, normal_, zeros_
from microgradnp.nn.layers import Linear
from microgradnp.nn.loss import _Loss
from microgradnp.nn.module import Module, Parameter
from microgradnp.nn.normalization import _renorm_rows, embedding
from microgradnp.ops import conv as _conv
from microgradnp.ops.conv import _unbatched, positive_int, positive_ints
from microgradnp.ops.losses import legacy_reduction
from microgradnp.tensor import Tensor, _data, _rng, get_default_dtype

__all__ = [
    "AdaptiveAvgPool3d",
    "AdaptiveMaxPool3d",
    "ChannelShuffle",
    "Conv3d",
    "EmbeddingBag",
    "LPPool1d",
    "LPPool2d",
    "LPPool3d",
    "LazyLinear",
    "MaxUnpool1d",
    "MaxUnpool2d",
    "MaxUnpool3d",
    "MultiLabelMarginLoss",
    "Softmax2d",
    "TripletMarginWithDistanceLoss",
    "adaptive_avg_pool3d",
    "adaptive_max_pool3d",
    "channel_shuffle",
    "conv3d",
    "embedding_bag",
    "lp_pool1d",
    "lp_pool2d",
    "lp_pool3d",
    "max_unpool1d",
    "max_unpool2d",
    "max_unpool3d",
    "multilabel_margin_loss",
    "triplet_margin_with_distance_loss",
]


# == 3-D convolution and adaptive pooling =========================================================
class _Conv3dOp(_conv.Conv1d):
    """``Conv1d``'s rule on three spatial axes."""

    name = "conv3d"


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-D convolution (cross-correlation) of ``input`` ``(N, C_in, D, H, W)`` (or ``(C_in, D, H, W)``)
    with ``weight`` ``(C_out, C_in / groups, kD, kH, kW)`` plus ``bias`` ``(C_out,)``, as
    ``torch.nn.functional.conv3d``; ``stride``, ``padding`` (also ``"valid"``/``"same"``) and
    ``dilation`` are an int or a triple.

    Raises:
        ValueError: shapes or settings that do not fit.
    """
    return _unbatched("conv3d", input, "C_in", lambda batch: _Conv3dOp.apply(
        batch, weight, bias, stride=stride, padding=padding, dilation=dilation, groups=groups), ndim=3)


class Conv3d(_ConvLayer):
    """3-D convolution: ``(N, in_channels, D, H, W) -> (N, out_channels, D_out, H_out, W_out)``, as
    ``torch.nn.Conv3d``. ``weight`` ``(out_channels, in_channels / groups, kD, kH, kW)`` and ``bias``
    are initialised as PyTorch's (uniform in ``+-1/sqrt(fan_in)``); ``rng`` seeds them.
    ``padding_mode``: ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"``, as PyTorch's."""

    ndim = 3


def _check_3d(name: str, input) -> None:
    shape = np.shape(_data(input))
    if len(shape) not in (4, 5) or 0 in shape[-4:]:
        raise InvalidArgumentError(
            f"{name}: expected a non-empty input (N, C, D, H, W) or (C, D, H, W), got shape {shape}")


def adaptive_avg_pool3d(input, output_size):
    """Means over ``output_size`` (an int or a triple; None keeps an axis) windows covering
    ``(N, C, D, H, W)`` (or ``(C, D, H, W)``) as evenly as they can, as
    ``torch.nn.functional.adaptive_avg_pool3d``."""
    _check_3d("adaptive_avg_pool3d", input)
    return F._adaptive_avg_pool(input, output_size, 3, "adaptive_avg_pool3d")


def adaptive_max_pool3d(input, output_size, return_indices: bool = False):
    """Maxima over ``output_size`` windows of ``(N, C, D, H, W)`` (or ``(C, D, H, W)``), as
    ``torch.nn.functional.adaptive_max_pool3d``; with ``return_indices`` also the flat position
    ``(d * H + h) * W + w`` of each maximum."""
    return _adaptive_max_pool("adaptive_max_pool3d", input, output_size, 3, return_indices)


class AdaptiveAvgPool3d(Module):
    """``adaptive_avg_pool3d`` as a layer, as ``torch.nn.AdaptiveAvgPool3d``."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return adaptive_avg_pool3d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool3d(AdaptiveMaxPool1d):
    """``adaptive_max_pool3d`` as a layer, as ``torch.nn.AdaptiveMaxPool3d``."""

    ndim = 3

    def forward(self, x):
        return adaptive_max_pool3d(x, self.output_size, self.return_indices)


# == channel operations ===========================================================================
class Softmax2d(Module):
    """Softmax over the channels at every position of ``(N, C, H, W)`` or ``(C, H, W)``, as
    ``torch.nn.Softmax2d``.

    Raises:
        ValueError: an input of another rank.
    """

    def forward(self, x):
        if np.ndim(_data(x)) not in (3, 4):
            raise InvalidArgumentError(f"Softmax2d: expected an input of shape (N, C, H, W) or (C, H, W), got shape "
                             f"{np.shape(_data(x))}")
        return ops.softmax(_tensor(x), axis=-3)


def channel_shuffle(input, groups: int):
    """Split the channels (axis 1) into ``groups`` groups and interleave them, as
    ``torch.nn.functional.channel_shuffle`` (ShuffleNet): ``(N, g * k, *)`` is viewed as
    ``(N, g, k, *)``, the two axes swapped, and flattened back.

    Raises:
        ValueError: fewer than 3 axes, ``groups`` not positive, or channels not divisible by it.
    """
    shape = np.shape(_data(input))
    groups = positive_int(groups, "groups", "channel_shuffle")
    if len(shape) < 3:
        raise InvalidArgumentError(
            f"channel_shuffle: expected an input of at least 3 dimensions (N, C, *), got shape {shape}")
    if shape[1] % groups:
        raise InvalidArgumentError(
            f"channel_shuffle: number of channels ({shape[1]}) must be divisible by groups ({groups})")
    x = ops.reshape(_tensor(input), (shape[0], groups, shape[1] // groups, *shape[2:]))
    return ops.reshape(ops.swapaxes(x, 1, 2), shape)


class ChannelShuffle(Module):
    """``channel_shuffle`` as a layer, as ``torch.nn.ChannelShuffle``."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = positive_int(groups, "groups", "ChannelShuffle")

    def forward(self, x):
        return channel_shuffle(x, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


# == power-average pooling ========================================================================
def _lp_pool(input, norm_type: float, kernel_size, stride, ceil_mode: bool, ndim: int):
    pool = (F.avg_pool1d, F.avg_pool2d, avg_pool3d)[ndim - 1]
    norm_type = float(norm_type)
    if norm_type == 0:
        raise InvalidArgumentError("lp_pool: norm_type must not be 0 (the result would be 1 ** inf)")
    x = _tensor(input)
    if math.isinf(norm_type):  # as PyTorch: the largest |x| of each window (-inf: the smallest)
        max_pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[ndim - 1]
        sign = 1.0 if norm_type > 0 else -1.0
        return max_pool(ops.abs(x) * sign, kernel_size, stride, 0, 1, ceil_mode) * sign
    out = pool(x ** norm_type, kernel_size, stride, 0, ceil_mode)
    # Each window's mean times its own count is its sum. PyTorch multiplies by the kernel's size,
    # which overstates the partial windows that ceil_mode keeps at the end (sum pooling, p = 1,
    # of ones would give more than their count there); elsewhere the two agree.
    shape = x.shape if x.ndim == ndim + 2 else (1, *x.shape)
    windows = _conv.pool_geometry(f"lp_pool{ndim}d", shape, kernel_size, stride, 0, 1, ceil_mode)
    total = ops.sign(out) * ops.relu(ops.abs(out)) * _conv._window_sizes(windows, True).astype(out.dtype)
    # A window of zeros: its root is 0 with a zero gradient, as PyTorch's (the root's slope
    # there is infinite, and infinity times the zero slopes below it would be nan).
    nonzero = total != 0
    root = ops.where(nonzero, total, np.ones((), total.dtype)) ** (1.0 / norm_type)
    return ops.where(nonzero, root, np.zeros((), total.dtype))


def lp_pool1d(input, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False):
    """``(sum over each window of x ** p) ** (1 / p)`` on ``(N, C, L)``, as
    ``torch.nn.functional.lp_pool1d`` (``p = inf`` is max pooling, ``p = 1`` sum pooling);
    ``stride`` defaults to ``kernel_size``. A partial window that ``ceil_mode`` keeps sums the
    entries it holds (PyTorch scales their mean by the full kernel's size instead)."""
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 1)


def lp_pool2d(input, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False):
    """``lp_pool1d`` over ``kH x kW`` windows of ``(N, C, H, W)``, as ``torch.nn.functional.lp_pool2d``."""
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 2)


def lp_pool3d(input, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False):
    """``lp_pool1d`` over ``kD x kH x kW`` windows of ``(N, C, D, H, W)``, as
    ``torch.nn.functional.lp_pool3d``."""
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 3)


class LPPool1d(Module):
    """``lp_pool1d`` as a layer, as ``torch.nn.LPPool1d(norm_type, kernel_size, stride=None, ceil_mode=False)``."""

    ndim = 1

    def __init__(self, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False):
        super().__init__()
        self.norm_type, self.kernel_size, self.stride, self.ceil_mode = norm_type, kernel_size, stride, ceil_mode

    def forward(self, x):
        return _lp_pool(x, self.norm_type, self.kernel_size, self.stride, self.ceil_mode, self.ndim)

    def extra_repr(self) -> str:
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"ceil_mode={self.ceil_mode}")


class LPPool2d(LPPool1d):
    """``lp_pool2d`` as a layer, as ``torch.nn.LPPool2d``."""

    ndim = 2


class LPPool3d(LPPool1d):
    """``lp_pool3d`` as a layer, as ``torch.nn.LPPool3d``."""

    ndim = 3


# == max unpooling ================================================================================
def _max_unpool(name: str, input, indices, kernel_size, stride, padding, output_size, ndim: int):
    x = _tensor(input)
    shape = x.shape
    if len(shape) not in (ndim + 1, ndim + 2):
        raise InvalidArgumentError(f"{name}: expected an input of shape (N, C, {_conv._SPATIAL[ndim]}) or "
                         f"(C, {_conv._SPATIAL[ndim]}), got shape {shape}")
    index = np.asarray(_data(indices))
    if index.shape != shape or index.dtype.kind not in "iu":
        raise InvalidArgumentError(f"{name}: expected indices of integers with the input's shape {shape}, got "
                         f"{index.dtype} of shape {index.shape}")
    kernel = positive_ints(kernel_size, "kernel_size", name, ndim)
    stride = kernel if stride is None else positive_ints(stride, "stride", name, ndim)
    padding = positive_ints(padding, "padding", name, ndim, zero_ok=True)
    spatial = shape[-ndim:]
    if output_size is None:
        sizes = tuple((n - 1) * s - 2 * p + k for n, s, p, k in zip(spatial, stride, padding, kernel, strict=True))
    else:
        sizes = tuple(int(s) for s in output_size)[-ndim:] if len(output_size) in (ndim, ndim + 2) else None
        defaults = [(n - 1) * s - 2 * p + k for n, s, p, k in zip(spatial, stride, padding, kernel, strict=True)]
        if sizes is None or any(not d - s < o < d + s for o, d, s in zip(sizes, defaults, stride, strict=True)):
            raise InvalidArgumentError(
                f"{name}: output_size {tuple(output_size)} must give {ndim} sizes (optionally after N "
                f"and C) within a stride of the default {tuple(defaults)}")
    eager_only(f"{name} (its indices are checked in NumPy)")
    total = math.prod(sizes)
    if index.size and (index.min() < 0 or index.max() >= total):
        bad = index[(index < 0) | (index >= total)].flat[0]
        raise IndexError(f"{name}: found an invalid max index {bad} (output volumes are of size "
                         f"{'x'.join(map(str, sizes))})")
    lead = shape[:-ndim]
    out = _MaxUnpool.apply(ops.reshape(x, (*lead, -1)), index.reshape(*lead, -1), total=total)
    return ops.reshape(out, (*lead, *sizes))


class _MaxUnpool(Function):
    """Values put at their flat positions along the last axis of zeros (the last of several
    aimed at one position wins); the gradient of each value is the output gradient at its
    position, also when positions repeat (PyTorch's rule, which a ``scatter`` would not give)."""

    name = "max_unpool"

    @staticmethod
    def forward(ctx, x, index, *, total):
        out = np.zeros((*x.shape[:-1], total), dtype=x.dtype)
        np.put_along_axis(out, index, x, axis=-1)
        ctx.index = index
        return out

    @staticmethod
    def backward(ctx, grad):
        if isinstance(grad, Tensor):  # create_graph: stay differentiable
            return ops.take_along_axis(grad, ctx.index, axis=-1), None
        return np.take_along_axis(grad, ctx.index, axis=-1), None


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The partial inverse of max pooling, as ``torch.nn.functional.max_unpool1d``: each value of
    ``input`` ``(N, C, L)`` goes to the flat position ``indices`` gives (as ``max_pool1d`` with
    ``return_indices`` returns it), zeros elsewhere. The output length is
    ``(L - 1) * stride - 2 * padding + kernel_size`` unless ``output_size`` says otherwise.

    Raises:
        ValueError: shapes that do not fit, or an ``output_size`` off by a stride or more.
        IndexError: an index outside the output.
    """
    return _max_unpool("max_unpool1d", input, indices, kernel_size, stride, padding, output_size, 1)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """``max_unpool1d`` on ``(N, C, H, W)`` with flat indices ``h * W_out + w``, as
    ``torch.nn.functional.max_unpool2d``."""
    return _max_unpool("max_unpool2d", input, indices, kernel_size, stride, padding, output_size, 2)


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """``max_unpool1d`` on ``(N, C, D, H, W)``, as ``torch.nn.functional.max_unpool3d``."""
    return _max_unpool("max_unpool3d", input, indices, kernel_size, stride, padding, output_size, 3)


class MaxUnpool1d(Module):
    """``max_unpool1d`` as a layer, as ``torch.nn.MaxUnpool1d``: call it as ``unpool(x, indices,
    output_size=None)``."""

    ndim = 1

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        # Tuples per axis, as PyTorch's MaxUnpool layers keep them (_single/_pair/_triple), checked here
        # rather than at the first forward.
        name, ndim = type(self).__name__, self.ndim
        self.kernel_size = positive_ints(kernel_size, "kernel_size", name, ndim)
        self.stride = positive_ints(kernel_size if stride is None else stride, "stride", name, ndim)
        self.padding = positive_ints(padding, "padding", name, ndim, zero_ok=True)

    def forward(self, input, indices, output_size=None):
        return _max_unpool(f"max_unpool{self.ndim}d", input, indices, self.kernel_size, self.stride, self.padding,
                           output_size, self.ndim)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool2d(MaxUnpool1d):
    """``max_unpool2d`` as a layer, as ``torch.nn.MaxUnpool2d``."""

    ndim = 2


class MaxUnpool3d(MaxUnpool1d):
    """``max_unpool3d`` as a layer, as ``torch.nn.MaxUnpool3d``."""

    ndim = 3


# == embedding bags ===============================================================================
def _bags(name: str, index: np.ndarray, offsets, include_last_offset: bool) -> list[tuple[int, int]]:
    if index.ndim == 2:
        if offsets is not None:
            raise InvalidArgumentError(f"{name}: if input is 2D, then offsets has to be None, as input is treated is a "
                             "mini-batch of fixed length sequences")
        length = index.shape[1]
        return [(b * length, (b + 1) * length) for b in range(index.shape[0])]
    if index.ndim != 1:
        raise InvalidArgumentError(f"{name}: input has to be 1D or 2D Tensor, but got Tensor of dimension {index.ndim}")
    if offsets is None:
        raise InvalidArgumentError(f"{name}: offsets has to be a 1D Tensor but got None")
    starts = np.asarray(_data(offsets))
    if starts.ndim != 1 or starts.dtype.kind not in "iu":
        raise InvalidArgumentError(f"{name}: offsets has to be a 1D Tensor of integers, got {starts.dtype} of shape "
                         f"{starts.shape}")
    if starts.size and starts[0] != 0:
        raise InvalidArgumentError(
            f"{name}: offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to start "
            f"from position 0. However, got {starts[0]}")
    if np.any(np.diff(starts) < 0) or (starts.size and starts[-1] > index.size):
        raise InvalidArgumentError(
            f"{name}: offsets must be non-decreasing and at most the input's length {index.size}, got "
            f"{starts.tolist()}")
    if include_last_offset:  # as PyTorch: the last offset only closes the list, the last bag ends with the input
        starts = starts[:-1]
    ends = [*starts[1:].tolist(), index.size] if starts.size else []
    return list(zip(starts.tolist(), [int(e) for e in ends]))


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type: float = 2, scale_grad_by_freq: bool = False,
                  mode: str = "mean", sparse: bool = False, per_sample_weights=None, include_last_offset: bool = False,
                  padding_idx: int | None = None):
    """Sums, means or maxima of bags of embeddings, without building the embeddings of each index
    first, as ``torch.nn.functional.embedding_bag``.

    Args:
        input: integer indices: ``(B, L)`` (B bags of L indices each) or ``(n,)`` with ``offsets``.
        weight: the table ``(num_embeddings, embedding_dim)``.
        offsets: for a 1-D ``input``, where each bag starts (the first must be 0); an empty bag gives zeros.
        max_norm: rows used whose ``norm_type``-norm is larger are rescaled in place to ``max_norm``.
        norm_type: the norm's order for ``max_norm``.
        scale_grad_by_freq: divide the gradient of each row by how often its index occurs in
            ``input`` (modes sum and mean; as PyTorch documents it, and as its CUDA backend computes
            it: the CPU backend of PyTorch 2.13 divides some rows by another index's count).
        mode: ``"sum"``, ``"mean"`` or ``"max"``.
        sparse: must be False (gradients are dense arrays).
        per_sample_weights: weights of the indices (``input``'s shape), only with ``mode="sum"``.
        include_last_offset: ``offsets`` has one more entry, the end of the last bag.
        padding_idx: an index left out of every bag (not counted in the mean), and not trained.

    Returns:
        ``(B, embedding_dim)``.

    Raises:
        ValueError: a bad mode, shapes, offsets, or per_sample_weights with a mode other than sum.
        NotImplementedError: ``sparse``.
    """
    name = "embedding_bag"
    if mode not in ("sum", "mean", "max"):
        raise InvalidArgumentError(f"{name}: mode has to be one of sum, mean or max, got {mode!r}")
    if sparse:
        raise NotImplementedError(f"{name}: sparse=True is not implemented; use the default (dense gradients)")
    if scale_grad_by_freq and mode == "max":
        raise InvalidArgumentError(f"{name}: max mode does not support scaling the gradient by the frequency "
                                   "(scale_grad_by_freq=True); use mode='sum' or 'mean'")
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError(f"{name}: per_sample_weights was not None. per_sample_weights is only supported "
                                  f"for mode='sum' (got mode='{mode}')")
    index = np.asarray(_data(input))
    if index.dtype.kind not in "iu":
        raise InvalidArgumentError(f"{name}: expected integer indices, got {index.dtype}")
    table = weight if isinstance(weight, Tensor) else Tensor(weight)
    if table.ndim != 2:
        raise InvalidArgumentError(f"{name}: weight has to be a 2D Tensor, got shape {table.shape}")
    if per_sample_weights is not None and np.shape(_data(per_sample_weights)) != index.shape:
        raise InvalidArgumentError(f"{name}: per_sample_weights must have the input's shape {index.shape}, got "
                         f"{np.shape(_data(per_sample_weights))}")
    bags = _bags(name, index, offsets, include_last_offset)
    flat = index.reshape(-1)
    if padding_idx is not None:
        padding_idx = padding_idx % table.shape[0] if -table.shape[0] <= padding_idx < table.shape[0] else None
        if padding_idx is None:
            raise InvalidArgumentError(f"{name}: padding_idx must be within [-{table.shape[0]}, {table.shape[0]})")
    eager_only(f"{name} (its bags are formed in NumPy from the indices)")
    if max_norm is not None:
        _renorm_rows(table, np.unique(flat), float(max_norm), float(norm_type))
    rows = embedding(flat, table, scale_grad_by_freq=scale_grad_by_freq)
    if per_sample_weights is not None:
        rows = rows * ops.reshape(_tensor(per_sample_weights), (-1, 1))
    kept = np.ones(flat.size, dtype=bool) if padding_idx is None else flat != padding_idx
    if mode == "max":
        # An empty bag gives zeros, summed over no rows so that they stay in the graph: a batch
        # of empty (or all-padding) bags still has a gradient (zero) to go back, as in PyTorch.
        nothing = rows[np.zeros(0, dtype=np.int64)]
        pieces = []
        for start, end in bags:
            chosen = np.flatnonzero(kept[start:end]) + start
            if not chosen.size:
                pieces.append(nothing.sum(axis=0))
                continue
            block = rows[chosen]  # each column's first largest row gets the gradient, as in PyTorch
            pieces.append(block[np.argmax(block.data, axis=0), np.arange(table.shape[1])])
        return ops.stack(pieces) if pieces else nothing
    matrix = np.zeros((len(bags), flat.size), dtype=table.dtype)
    for b, (start, end) in enumerate(bags):
        matrix[b, start:end] = kept[start:end]
        if mode == "mean" and matrix[b].sum():
            matrix[b] /= matrix[b].sum()
    return ops.matmul(Tensor(matrix), rows)


class EmbeddingBag(Module):
    """A table of embeddings reduced per bag, as ``torch.nn.EmbeddingBag``: ``weight``
    ``(num_embeddings, embedding_dim)`` from N(0, 1) (the ``padding_idx`` row zero), or ``_weight``;
    call it as ``bag(input, offsets=None, per_sample_weights=None)``; see ``nn.functional.embedding_bag``.
    ``rng`` seeds the initialisation."""

    def __init__(self, num_embeddings: int, embedding_dim: int, max_norm=None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False, _weight=None,
                 include_last_offset: bool = False, padding_idx: int | None = None, dtype=None, rng=None):
        super().__init__()
        num_embeddings = positive_int(num_embeddings, "num_embeddings", "EmbeddingBag")
        embedding_dim = positive_int(embedding_dim, "embedding_dim", "EmbeddingBag")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise InvalidArgumentError(
                    f"EmbeddingBag: padding_idx must be within num_embeddings ({num_embeddings}), got "
                    f"{padding_idx}")
            padding_idx %= num_embeddings
        if mode not in ("sum", "mean", "max"):
            raise InvalidArgumentError(f"EmbeddingBag: mode has to be one of sum, mean or max, got {mode!r}")
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.max_norm, self.norm_type, self.scale_grad_by_freq = max_norm, norm_type, scale_grad_by_freq
        self.mode, self.sparse, self.include_last_offset = mode, sparse, include_last_offset
        self.padding_idx = padding_idx
        if _weight is not None:
            if tuple(np.shape(_data(_weight))) != (num_embeddings, embedding_dim):
                raise InvalidArgumentError(
                    "EmbeddingBag: shape of _weight does not match num_embeddings and embedding_dim")
            self.weight = Parameter(np.array(_data(_weight), dtype=dtype or None))
        else:
            self.weight = Parameter(np.empty((num_embeddings, embedding_dim), dtype=dtype or get_default_dtype()))
            normal_(self.weight, rng=_rng(rng))
            if padding_idx is not None:
                self.weight.data[padding_idx] = 0

    def forward(self, input, offsets=None, per_sample_weights=None):
        return embedding_bag(input, self.weight, offsets, self.max_norm, self.norm_type, self.scale_grad_by_freq,
                             self.mode, self.sparse, per_sample_weights, self.include_last_offset, self.padding_idx)

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, max_norm=None, norm_type: float = 2.0,
                        scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                        include_last_offset: bool = False, padding_idx: int | None = None) -> EmbeddingBag:
        """An EmbeddingBag holding ``embeddings`` (2-D), frozen unless ``freeze=False``."""
        shape = np.shape(_data(embeddings))
        if len(shape) != 2:
            raise InvalidArgumentError(
                f"EmbeddingBag.from_pretrained: embeddings parameter is expected to be 2-dimensional, "
                f"got shape {shape}")
        bag = cls(*shape, max_norm, norm_type, scale_grad_by_freq, mode, sparse, embeddings, include_last_offset,
                  padding_idx)
        bag.weight.requires_grad_(not freeze)
        return bag

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}, mode='{self.mode}'"
        if self.padding_idx is not None:
            text += f", padding_idx={self.padding_idx}"
        return text


# == losses =======================================================================================
def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None, margin: float = 1.0,
                                      swap: bool = False, reduction: str = "mean"):
    """``max(d(a, p) - d(a, n) + margin, 0)`` with any distance ``d`` (default
    ``pairwise_distance``), as ``torch.nn.functional.triplet_margin_with_distance_loss``; with
    ``swap`` the negative distance is the smaller of ``d(a, n)`` and ``d(p, n)``.

    Raises:
        ValueError: ``margin`` not positive, or inputs of different numbers of dimensions.
    """
    if margin <= 0:
        raise InvalidArgumentError(
            f"triplet_margin_with_distance_loss: expected margin to be greater than 0, got {margin} "
            "instead")
    _same_ndim("triplet_margin_with_distance_loss", anchor=anchor, positive=positive, negative=negative)
    distance = pairwise_distance if distance_function is None else distance_function
    anchor, positive, negative = _tensor(anchor), _tensor(positive), _tensor(negative)
    d_pos, d_neg = distance(anchor, positive), distance(anchor, negative)
    if swap:
        d_neg = ops.minimum(d_neg, distance(positive, negative))
    return _reduce(_hinge(margin + d_pos - d_neg), reduction, "triplet_margin_with_distance_loss")


class TripletMarginWithDistanceLoss(_Loss):
    """``triplet_margin_with_distance_loss`` as a module, as ``torch.nn.TripletMarginWithDistanceLoss``."""

    def __init__(self, *, distance_function=None, margin: float = 1.0, swap: bool = False, reduction: str = "mean"):
        super().__init__(reduction)
        self.distance_function, self.margin, self.swap = distance_function, margin, swap

    def forward(self, anchor, positive, negative):
        return triplet_margin_with_distance_loss(anchor, positive, negative, distance_function=self.distance_function,
                                                 margin=self.margin, swap=self.swap, reduction=self.reduction)


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction: str = "mean"):
    """The multi-class multi-label hinge loss, as ``torch.nn.functional.multilabel_margin_loss``:
    for each sample, ``sum over target classes j and non-target classes i of
    max(0, 1 - (x[j] - x[i])) / C``. ``target`` has ``input``'s shape ``(C,)`` or ``(N, C)``
    and holds class indices, ended by the first -1.

    Raises:
        ValueError: shapes that differ, or a target that is not integers in ``[-1, C)``.
    """
    reduction = legacy_reduction(size_average, reduce, reduction, "multilabel_margin_loss")
    x = _tensor(input)
    labels = np.asarray(_data(target))
    if labels.dtype.kind == "f" and np.all(labels == np.round(labels)):  # (mg.tensor keeps whole numbers as floats)
        labels = labels.astype(np.int64)
    if x.ndim == 0 and labels.ndim == 0:  # (one class: a 0-d input and target, as PyTorch takes them)
        return multilabel_margin_loss(x.reshape(1), labels.reshape(1), reduction=reduction)
    if x.ndim not in (1, 2) or labels.shape != x.shape:
        raise InvalidArgumentError(
            f"multilabel_margin_loss: expected input (C,) or (N, C) and a target of the same shape, got "
            f"{x.shape} and {labels.shape}")
    if labels.dtype.kind not in "iu" or (labels.size and (labels.min() < -1 or labels.max() >= x.shape[-1])):
        raise InvalidArgumentError(
            f"multilabel_margin_loss: target must hold class indices in [0, {x.shape[-1]}) (or -1 to end "
            "the list)")
    eager_only("multilabel_margin_loss (its targets are read in NumPy)")
    x2, labels2 = (x.reshape(1, -1), labels.reshape(1, -1)) if x.ndim == 1 else (x, labels)
    valid = np.cumprod(labels2 >= 0, axis=1).astype(bool)  # up to the first -1
    is_target = np.zeros(x2.shape, dtype=bool)
    rows = np.nonzero(valid)
    is_target[rows[0], labels2[rows]] = True
    chosen = ops.take_along_axis(x2, np.where(valid, labels2, 0), axis=1)  # (N, T)
    margins = ops.relu(1.0 - ops.expand_dims(chosen, 2) + ops.expand_dims(x2, 1))  # (N, T, C)
    weights = (valid[:, :, None] & ~is_target[:, None, :]).astype(x.dtype)
    loss = ops.sum(margins * weights, axis=(1, 2)) / x.shape[-1]
    return _reduce(loss.reshape(()) if x.ndim == 1 else loss, reduction, "multilabel_margin_loss")


class MultiLabelMarginLoss(_Loss):
    """``multilabel_margin_loss`` as a module, as ``torch.nn.MultiLabelMarginLoss``."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(reduction, size_average=size_average, reduce=reduce)

    def forward(self, input, target):
        return multilabel_margin_loss(input, target, reduction=self.reduction)


# == lazy modules =================================================================================
class LazyLinear(Linear):
    """A ``Linear`` whose ``in_features`` is the last axis of its first input, as ``torch.nn.LazyLinear``.

    Until the first call ``weight`` and ``bias`` are ``nn.UninitializedParameter`` placeholders; the
    first call gives them their shapes and PyTorch's default initialisation (from ``rng``), keeping
    the same Parameter objects, and the module becomes a plain ``Linear``. As in PyTorch, build
    the optimizer and load a ``state_dict`` after that first call (a dry run with one batch).
    """

    def __init__(self, out_features: int, bias: bool = True, dtype=None, rng=None):
        Module.__init__(self)
        self.in_features, self.out_features = 0, positive_int(out_features, "out_features", "LazyLinear")
        from microgradnp.nn.lazy import UninitializedParameter  # (lazy imports this module)

        dtype = dtype or get_default_dtype()
        self.weight = UninitializedParameter(dtype=dtype)
        self.bias = UninitializedParameter(dtype=dtype) if bias else None
        object.__setattr__(self, "_lazy_rng", rng)

    def has_uninitialized_params(self) -> bool:
        """Whether the first call has not happened yet."""
        return type(self) is LazyLinear

    def forward(self, x):
        shape = np.shape(_data(x))
        if not shape:
            raise InvalidArgumentError("LazyLinear: expected an input with at least one dimension (*, in_features)")
        from microgradnp.autograd.grad_mode import untraced
        from microgradnp.autograd.versions import bump

        self.in_features = shape[-1]
        dtype = self.weight.data.dtype
        with untraced():  # (the one-time set-up: an mg.compile trace runs it, replays need not)
            self.weight._become(np.empty((self.out_features, self.in_features), dtype=dtype))
            if self.bias is not None:
                self.bias._become(np.empty(self.out_features, dtype=dtype))
            default_layer_init_(self.weight, self.bias, self.__dict__.pop("_lazy_rng"))
            if self.in_features == 0 and self.bias is not None:
                zeros_(self.bias)
        bump(self.weight.data)
        object.__setattr__(self, "__class__", Linear)
        return self.forward(x)

    def extra_repr(self) -> str:
        return f"in_features=0 (inferred at the first call), out_features={self.out_features}"
