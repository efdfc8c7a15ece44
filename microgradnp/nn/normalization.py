"""``LayerNorm``, ``BatchNorm1d`` and ``Embedding``, with their functional forms.

Built from differentiable ops (mean, var, sqrt, indexing, where), so their gradients of
every order are those of the formulas, as ``mg.grad(..., create_graph=True)`` needs.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from microgradnp import ops
from microgradnp.autograd.grad_mode import replayed
from microgradnp.autograd.versions import bump as bump_version
from microgradnp.errors import InvalidArgumentError
from microgradnp.nn import init
from microgradnp.nn.module import Module, Parameter
from microgradnp.ops.embedding import Embedding as EmbeddingOp
from microgradnp.ops.primitive import reads_values
from microgradnp.tensor import Tensor, _data, get_default_dtype

__all__ = ["BatchNorm1d", "Embedding", "LayerNorm", "batch_norm", "embedding", "layer_norm"]


def _normalize(x, mean, var, eps: float):
    return (x - mean) / ops.sqrt(var + eps)


# -- layer norm ------------------------------------------------------------------------------
def layer_norm(input, normalized_shape, weight=None, bias=None, eps: float = 1e-5):  # noqa: A002  (PyTorch's name)
    """Layer normalization over the last ``len(normalized_shape)`` axes, as ``torch.nn.functional.layer_norm``:
    ``(x - mean) / sqrt(var + eps) * weight + bias`` with the biased variance.

    Args:
        input: a tensor whose trailing axes are ``normalized_shape``.
        normalized_shape: an int or a tuple of ints, the trailing shape to normalize over.
        weight: scale of shape ``normalized_shape``, or None.
        bias: shift of shape ``normalized_shape``, or None.
        eps: added to the variance.

    Returns:
        A tensor of the input's shape.

    Raises:
        ValueError: the input's trailing shape, or the shape of ``weight`` or ``bias``, is
            not ``normalized_shape``.
    """
    shape = _shape_tuple(normalized_shape)
    in_shape = tuple(np.shape(_data(input)))
    if not shape or len(shape) > len(in_shape) or in_shape[len(in_shape) - len(shape):] != shape:
        raise InvalidArgumentError(
            f"layer_norm: normalized_shape {list(shape)} must be the trailing shape of the input, "
            f"which has shape {list(in_shape)}")
    for name, value in (("weight", weight), ("bias", bias)):
        # (checked: another shape would broadcast, giving a per-sample scale or a wrong shape)
        if value is not None and tuple(np.shape(_data(value))) != shape:
            raise InvalidArgumentError(
                f"layer_norm: {name} must have shape normalized_shape {list(shape)}, got "
                f"{list(np.shape(_data(value)))}")
    axes = tuple(range(-len(shape), 0))
    mean = ops.mean(input, axis=axes, keepdims=True)
    var = ops.var(input, axis=axes, keepdims=True)
    out = _normalize(input, mean, var, eps)
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def _shape_tuple(normalized_shape) -> tuple[int, ...]:
    if isinstance(normalized_shape, numbers.Integral):
        return (int(normalized_shape),)
    return tuple(int(n) for n in normalized_shape)


class LayerNorm(Module):
    """Layer normalization, as ``torch.nn.LayerNorm``: each sample is normalized over its
    trailing ``normalized_shape`` axes (mean 0, variance 1) then scaled by ``weight``
    (ones) and shifted by ``bias`` (zeros), both of shape ``normalized_shape``.

    Args:
        normalized_shape: an int or a tuple, the trailing shape of the inputs.
        eps: added to the variance.
        elementwise_affine: whether to learn ``weight`` (and ``bias``).
        bias: whether to learn ``bias`` (with ``elementwise_affine``).
        dtype: of the parameters (the default dtype when None).
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 dtype=None):
        super().__init__()
        self.normalized_shape = _shape_tuple(normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        _scale_and_shift(self, self.normalized_shape, dtype, elementwise_affine, bias)

    def reset_parameters(self) -> None:
        """``weight`` back to ones and ``bias`` to zeros, in place."""
        _reset_scale_and_shift(self)

    def forward(self, input):  # noqa: A002  (PyTorch's name: forward(input=...) works as there)
        return layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


# -- batch norm ------------------------------------------------------------------------------
def batch_norm(input, running_mean, running_var, weight=None, bias=None, training: bool = False,  # noqa: A002
               momentum: float = 0.1, eps: float = 1e-5):
    """Batch normalization over every axis but axis 1 (the channels), as ``torch.nn.functional.batch_norm``.

    In training the batch's mean and biased variance normalize the input, and the running
    statistics (when given) are updated in place: ``running = (1 - momentum) * running +
    momentum * batch``, with the *unbiased* batch variance for ``running_var``, as
    PyTorch. Otherwise the running statistics normalize it.

    Args:
        input: a tensor of shape (N, C, ...).
        running_mean: a Tensor or ndarray of shape (C,), or None (only when ``training``).
        running_var: likewise.
        weight: scale of shape (C,), or None.
        bias: shift of shape (C,), or None.
        training: use (and record) the batch's statistics.
        momentum: the weight of the batch's statistics in the running ones.
        eps: added to the variance.

    Returns:
        A tensor of the input's shape.

    Raises:
        ValueError: fewer than 2 axes, running statistics missing outside training, or a
            single value per channel in training (its variance is undefined).
    """
    return _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def _batch_norm(input, running_mean, running_var, weight, bias, training: bool, momentum: float | None,  # noqa: A002
                eps: float, batches: Tensor | None = None):
    """``batch_norm``, which also counts the batch in ``batches`` (a module's
    ``num_batches_tracked``) when it updates the running statistics; ``momentum=None``
    then means their cumulative average (1 / batches)."""
    shape = _channels_input("batch_norm", input, running_mean=running_mean, running_var=running_var,
                            weight=weight, bias=bias)
    channels = shape[1]
    stat_shape = (1, channels) + (1,) * (len(shape) - 2)
    axes = (0, *range(2, len(shape)))
    if training:
        count = math.prod(shape[i] for i in axes)
        if count == 1:
            raise InvalidArgumentError(
                f"batch_norm: expected more than 1 value per channel when training, got input of "
                f"shape {list(shape)}")
        if count == 0:
            # An empty batch has no statistics: the (empty) output needs none, and PyTorch
            # leaves the running statistics as they are (a module still counts the batch).
            _update_running(None, None, None, None, count, momentum, batches)
            return _per_channel(input, weight, bias)
        mean = ops.mean(input, axis=axes, keepdims=True)
        var = ops.var(input, axis=axes, keepdims=True)
        if running_mean is not None or running_var is not None:
            _update_running(running_mean, running_var, mean, var, count, momentum, batches)
    else:
        if running_mean is None or running_var is None:
            raise InvalidArgumentError("batch_norm: running_mean and running_var are needed when training=False")
        mean = ops.reshape(running_mean, stat_shape)
        var = ops.reshape(running_var, stat_shape)
    return _per_channel(_normalize(input, mean, var, eps), weight, bias)


def _channels_input(function: str, input, **per_channel) -> tuple[int, ...]:  # noqa: A002
    """The shape of an (N, C, ...) input, after checking that each of ``per_channel`` (an
    array or None) holds one value per channel."""
    shape = tuple(np.shape(_data(input)))
    if len(shape) < 2:
        raise InvalidArgumentError(f"{function}: expected an input of shape (N, C, ...), got shape {list(shape)}")
    for name, value in per_channel.items():
        if value is not None and tuple(np.shape(_data(value))) != (shape[1],):
            raise InvalidArgumentError(f"{function}: {name} has shape {list(np.shape(_data(value)))} but the input has "
                             f"{shape[1]} channels (axis 1)")
    return shape


def _per_channel(out, weight, bias):
    """``out * weight + bias`` with one weight and one bias (each optional) per channel (axis 1)."""
    per_channel = (1, out.shape[1]) + (1,) * (out.ndim - 2)
    if weight is not None:
        out = out * ops.reshape(weight, per_channel)
    if bias is not None:
        out = out + ops.reshape(bias, per_channel)
    return out


def _scale_and_shift(module, shape: tuple, dtype, affine: bool, bias: bool = True) -> None:
    """A normalization layer's learnt ``weight`` (ones) and ``bias`` (zeros) of ``shape``,
    or None when it is not ``affine``."""
    dtype = dtype or get_default_dtype()
    module.weight = Parameter(np.ones(shape, dtype=dtype)) if affine else None
    module.bias = Parameter(np.zeros(shape, dtype=dtype)) if affine and bias else None


def _reset_scale_and_shift(module) -> None:
    """A normalization layer's ``weight`` back to ones and ``bias`` to zeros (those it has), in place."""
    if module.weight is not None:
        init.ones_(module.weight)
    if module.bias is not None:
        init.zeros_(module.bias)


@replayed  # (an mg.compile replay makes this call again, with the batch's statistics of that call)
def _update_running(running_mean, running_var, mean, var, count: int, momentum: float | None,
                    batches: Tensor | None = None) -> None:
    """The in-place update of the running statistics (no graph: they are buffers), which
    counts the batch in ``batches`` first (``momentum=None``: 1 / batches)."""
    if batches is not None:
        batches.data[...] += 1
        bump_version(batches.data)
        if momentum is None:
            momentum = 1.0 / float(batches.data)
    for running, batch, unbias in ((running_mean, mean, 1.0), (running_var, var, count / max(count - 1, 1))):
        if running is None:
            continue
        array = running.data if isinstance(running, Tensor) else running
        array[...] = (1 - momentum) * array + momentum * (_data(batch) * unbias).reshape(array.shape)
        bump_version(array)


class BatchNorm1d(Module):
    """Batch normalization of (N, C) or (N, C, L) inputs per channel C, as ``torch.nn.BatchNorm1d``.

    In training mode each batch is normalized by its own mean and biased variance, and
    the buffers ``running_mean`` (zeros) and ``running_var`` (ones) follow the batches:
    ``running = (1 - momentum) * running + momentum * batch`` (unbiased variance), or with
    ``momentum=None`` their cumulative average; ``num_batches_tracked`` counts the batches.
    In eval mode the running statistics normalize the input. The buffers are in
    ``state_dict()``. The result is scaled by ``weight`` (ones) and shifted by ``bias``
    (zeros) when ``affine``.

    Args:
        num_features: the number of channels C.
        eps: added to the variance.
        momentum: the weight of each batch in the running statistics, or None for a
            cumulative average.
        affine: whether to learn ``weight`` and ``bias``.
        track_running_stats: keep running statistics (without them the batch's statistics
            are used in eval mode too).
        dtype: of the parameters and running statistics (the default dtype when None).
        bias: (keyword-only, as PyTorch's) whether to learn ``bias`` (with ``affine``).

    Under ``mg.compile`` the update of the running statistics (and of ``num_batches_tracked``)
    is a replayed call: each replay makes it with that call's batch statistics.
    """

    # a state without the version metadata may lack it, as PyTorch's older checkpoints do
    _added_in_version_2 = ("num_batches_tracked",)

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, dtype=None, *, bias: bool = True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        dtype = dtype or get_default_dtype()
        _scale_and_shift(self, (num_features,), dtype, affine, bias)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(num_features, dtype=dtype)))
            self.register_buffer("running_var", Tensor(np.ones(num_features, dtype=dtype)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0), dtype=np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batch tracked."""
        if self.track_running_stats:
            for buffer, value in ((self.running_mean, 0), (self.running_var, 1), (self.num_batches_tracked, 0)):
                buffer.data[...] = value
                bump_version(buffer.data)

    def reset_parameters(self) -> None:
        """``reset_running_stats``, and ``weight`` back to ones and ``bias`` to zeros, in place."""
        self.reset_running_stats()
        _reset_scale_and_shift(self)

    _dims = (2, 3)  # the input's number of axes: (N, C) or (N, C, L)

    def _check_input(self, shape: tuple) -> None:
        if len(shape) not in self._dims:
            expected = " or ".join(f"{d}D" for d in self._dims)
            raise InvalidArgumentError(f"{type(self).__name__}: expected {expected} input (got {len(shape)}D input)")

    def forward(self, input):  # noqa: A002  (PyTorch's name: forward(input=...) works as there)
        x = input
        self._check_input(np.shape(_data(x)))
        use_batch = self.training or self.running_mean is None
        tracked = not self.training or self.track_running_stats
        counted = self.num_batches_tracked if self.training and self.track_running_stats else None
        return _batch_norm(x, self.running_mean if tracked else None, self.running_var if tracked else None,
                           self.weight, self.bias, use_batch, self.momentum, self.eps, counted)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm2d(BatchNorm1d):
    """Batch normalization of (N, C, H, W) inputs per channel C, as ``torch.nn.BatchNorm2d``:
    the statistics are over the batch and both spatial axes. Otherwise as ``BatchNorm1d``."""

    _dims = (4,)


class BatchNorm3d(BatchNorm1d):
    """Batch normalization of (N, C, D, H, W) inputs per channel C, as ``torch.nn.BatchNorm3d``."""

    _dims = (5,)


# -- group norm ------------------------------------------------------------------------------
def group_norm(input, num_groups: int, weight=None, bias=None, eps: float = 1e-5):  # noqa: A002
    """Group normalization, as ``torch.nn.functional.group_norm``: the C channels of an
    (N, C, ...) input are split into ``num_groups`` groups of consecutive channels, and
    each sample's group is normalized by its own mean and biased variance (over its
    channels and positions), then scaled by ``weight`` and shifted by ``bias`` per channel.

    Args:
        input: a tensor of shape (N, C, ...).
        num_groups: the number of groups; it must divide C.
        weight: scale of shape (C,), or None.
        bias: shift of shape (C,), or None.
        eps: added to the variance.

    Returns:
        A tensor of the input's shape.
    """
    shape = _channels_input("group_norm", input, weight=weight, bias=bias)
    channels = shape[1]
    if isinstance(num_groups, bool) or not isinstance(num_groups, numbers.Integral) or num_groups < 1 \
            or channels % num_groups:
        raise InvalidArgumentError(f"group_norm: num_groups must be a positive integer that divides the {channels} "
                         f"channels, got {num_groups!r}")
    grouped = ops.reshape(input, (shape[0], num_groups, math.prod(shape[1:]) // num_groups))  # (an empty batch too)
    mean = ops.mean(grouped, axis=2, keepdims=True)
    var = ops.var(grouped, axis=2, keepdims=True)
    return _per_channel(ops.reshape(_normalize(grouped, mean, var, eps), shape), weight, bias)


class GroupNorm(Module):
    """Group normalization (``group_norm``) with a learnt per-channel ``weight`` (ones)
    and ``bias`` (zeros) when ``affine``, as ``torch.nn.GroupNorm``: it does not depend on
    the batch, so training and evaluation are the same.

    Args:
        num_groups: the number of groups; it must divide ``num_channels``.
        num_channels: the number of channels C of an (N, C, ...) input.
        eps: added to the variance.
        affine: whether to learn ``weight`` and ``bias``.
        dtype: of the parameters (the default dtype when None).
        bias: (keyword-only, as PyTorch's) whether to learn ``bias`` (with ``affine``).
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True, dtype=None, *,
                 bias: bool = True):
        super().__init__()
        if isinstance(num_groups, bool) or not isinstance(num_groups, numbers.Integral) or num_groups < 1 \
                or num_channels % num_groups:
            raise InvalidArgumentError(f"GroupNorm: num_groups must be a positive integer that divides num_channels "
                             f"({num_channels}), got {num_groups!r}")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        _scale_and_shift(self, (num_channels,), dtype, affine, bias)

    def reset_parameters(self) -> None:
        """``weight`` back to ones and ``bias`` to zeros, in place."""
        _reset_scale_and_shift(self)

    def forward(self, input):  # noqa: A002  (PyTorch's name: forward(input=...) works as there)
        return group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


# -- embedding -------------------------------------------------------------------------------
def embedding(input, weight, padding_idx: int | None = None, max_norm=None, norm_type: float = 2.0,  # noqa: A002
              scale_grad_by_freq: bool = False, sparse: bool = False):
    """Rows of ``weight`` selected by the integer indices ``input``, as ``torch.nn.functional.embedding``.

    The gradient of ``weight`` sums over repeated indices; the row ``padding_idx`` (when
    given) gets no gradient, though its values are returned as they are.

    Args:
        input: integer indices of any shape, each in ``[0, num_embeddings)``.
        weight: the table, of shape (num_embeddings, embedding_dim).
        padding_idx: a row that is not trained (negative counts from the end), or None.
        max_norm: when given, the rows looked up whose ``norm_type``-norm is larger are first
            rescaled in place (in ``weight.data``, outside the graph) to norm ``max_norm``, as PyTorch.
        norm_type: the norm's order for ``max_norm``.
        scale_grad_by_freq: divide the gradient of each row by how often its index occurs in
            ``input`` (the mini-batch), as PyTorch.
        sparse: must be False (gradients are dense arrays).

    Returns:
        A tensor of shape ``input.shape + (embedding_dim,)``.

    Raises:
        TypeError: the indices are not integers.
        IndexError: an index or ``padding_idx`` is out of range.
        NotImplementedError: ``sparse``.
    """
    rows = np.shape(_data(weight))
    if len(rows) != 2:
        raise InvalidArgumentError(
            f"embedding: weight must have shape (num_embeddings, embedding_dim), got {list(rows)}")
    if sparse:
        raise NotImplementedError("embedding: sparse=True is not implemented (gradients are dense arrays); "
                                  "use sparse=False")
    if padding_idx is not None:
        padding_idx = _padding_index(padding_idx, rows[0])
    if max_norm is not None:
        index = np.asarray(_data(input))
        if index.dtype.kind in "iu" and index.size and isinstance(weight, Tensor):
            index = index.reshape(-1)
            if index.min() >= -rows[0] and index.max() < rows[0]:  # out-of-range ones fail in the lookup
                _renorm_rows(weight, np.unique(index % rows[0]), float(max_norm), float(norm_type))
    # One primitive, indices checked in its forward: a compiled replay checks them too.
    return EmbeddingOp.apply(weight, indices=_data(input), padding_idx=padding_idx,
                             scale_grad_by_freq=bool(scale_grad_by_freq))


def _renorm_rows(table: Tensor, rows: np.ndarray, max_norm: float, norm_type: float) -> None:
    """Rescale in place the ``rows`` of ``table`` whose norm exceeds ``max_norm``, as PyTorch's ``max_norm``."""
    reads_values("an embedding's max_norm (rows rescaled in place)")
    norms = np.linalg.norm(table.data[rows], ord=norm_type, axis=1)
    large = norms > max_norm
    if large.any():
        table.data[rows[large]] *= (max_norm / (norms[large] + 1e-7))[:, None].astype(table.dtype)
        bump_version(table.data)


def _padding_index(padding_idx: int, rows: int) -> int:
    if not -rows <= padding_idx < rows:
        raise IndexError(f"padding_idx {padding_idx} must be within num_embeddings ({rows})")
    return padding_idx % rows


class Embedding(Module):
    """A lookup table of ``num_embeddings`` vectors of size ``embedding_dim``, as ``torch.nn.Embedding``:
    ``Embedding(10, 3)(indices)`` has shape ``indices.shape + (3,)``.

    ``weight`` is initialised from N(0, 1) as PyTorch, with the ``padding_idx`` row zero;
    that row gets no gradient.

    Args:
        num_embeddings: the number of rows.
        embedding_dim: the size of each vector.
        padding_idx: a row kept out of training (negative counts from the end), or None.
        max_norm: rows looked up whose ``norm_type``-norm exceeds it are rescaled in place to it.
        norm_type: the norm's order for ``max_norm``.
        scale_grad_by_freq: divide the gradient of each row by how often its index occurs in
            the mini-batch, as PyTorch.
        sparse: must be False (gradients are dense arrays).
        _weight: the initial table (as PyTorch's; see ``from_pretrained``), or None.
        _freeze: with ``_weight``, make it not require grad.
        dtype: of the table (the default dtype when None).
        rng: a ``np.random.Generator``, a seed, or None for the global generator.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None, max_norm=None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False, _weight=None,
                 _freeze: bool = False, dtype=None, rng=None):
        super().__init__()
        if sparse:
            raise NotImplementedError("Embedding: sparse=True is not implemented (gradients are dense arrays); "
                                      "use sparse=False")
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = None if padding_idx is None else _padding_index(padding_idx, num_embeddings)
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        if _weight is not None:
            weight = np.array(_data(_weight), dtype=dtype or None)
            if weight.shape != (num_embeddings, embedding_dim):
                raise InvalidArgumentError(
                    f"Embedding: shape of _weight {weight.shape} does not match num_embeddings and "
                    f"embedding_dim ({num_embeddings}, {embedding_dim})")
            self.weight = Parameter(weight, requires_grad=not _freeze)
            return
        self.weight = Parameter(np.empty((num_embeddings, embedding_dim), dtype=dtype or get_default_dtype()))
        self.reset_parameters(rng)

    def reset_parameters(self, rng=None) -> None:
        """``weight`` drawn again from N(0, 1), in place, with the ``padding_idx`` row zero
        (``rng``: a ``np.random.Generator``, a seed, or None for the global generator)."""
        init.normal_(self.weight, rng=rng)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, padding_idx: int | None = None, max_norm=None,
                        norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Embedding:
        """An Embedding holding a copy of ``embeddings`` (2-D; its ``padding_idx`` row kept as it
        is), frozen (``weight.requires_grad`` False) unless ``freeze=False``, as PyTorch's."""
        shape = np.shape(_data(embeddings))
        if len(shape) != 2:
            raise InvalidArgumentError(
                f"Embedding.from_pretrained: embeddings parameter is expected to be 2-dimensional, got shape {shape}")
        return cls(*shape, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse, embeddings, freeze)

    def forward(self, indices):
        return embedding(indices, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                         self.scale_grad_by_freq)

    def extra_repr(self) -> str:
        padding = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            padding += f", max_norm={self.max_norm}"
        if self.scale_grad_by_freq:
            padding += ", scale_grad_by_freq=True"
        return f"{self.num_embeddings}, {self.embedding_dim}{padding}"
