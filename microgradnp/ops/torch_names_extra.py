"""Still more of PyTorch's top-level names: the in-place activations and dropouts
(``torch.celu_``, ``torch.dropout_``...), the ATen-level functions that return their saved
statistics (``torch.native_layer_norm``...), ``torch.convolution`` and ``torch.conv_tbc``,
``torch.embedding_bag``, ``torch.segment_reduce``, ``torch.binomial``, the deprecated norms,
``torch.frombuffer``, the global switches that have no effect on NumPy but are read and set
by PyTorch code, and the deprecated out-of-place ``Tensor.resize`` / ``resize_as``.

Everything differentiable is a composition of existing operations (or the existing function
itself), so gradients come from the engine; nothing here writes a derivative of its own."""

from __future__ import annotations

import builtins
import numbers
import os
import warnings

import numpy as np

from microgradnp import ops
from microgradnp.errors import DtypeError, InvalidArgumentError
from microgradnp.ops.torch_functions import _constant_in, _source
from microgradnp.ops.torch_math import _tensor
from microgradnp.ops.torch_names_more import (
    are_deterministic_algorithms_enabled,
    feature_dropout,
    is_deterministic_algorithms_warn_only_enabled,
    use_deterministic_algorithms,
)
from microgradnp.tensor import Tensor, _data

__all__ = [
    "affine_grid_generator", "alpha_dropout_", "binomial", "celu_", "conv_tbc", "convolution", "dropout_",
    "embedding_bag", "embedding_renorm_", "feature_alpha_dropout_", "feature_dropout_", "frobenius_norm",
    "frombuffer", "get_deterministic_debug_mode", "get_device", "get_float32_matmul_precision",
    "get_num_interop_threads", "grid_sampler", "grid_sampler_2d", "grid_sampler_3d", "is_warn_always_enabled",
    "matrix_rank", "native_batch_norm", "native_channel_shuffle", "native_dropout", "native_group_norm",
    "native_layer_norm", "norm_except_dim", "nuclear_norm", "rrelu_", "segment_reduce", "selu_",
    "set_anomaly_enabled", "set_deterministic_debug_mode", "set_float32_matmul_precision", "set_flush_denormal",
    "set_num_interop_threads", "set_warn_always", "threshold_",
]


def _functional():
    from microgradnp.nn import functional  # (nn builds on the ops: imported when first called)

    return functional


# -- in-place activations and dropouts: torch.celu_(t) is F.celu_(t) -------------------------------------------------


def celu_(input, alpha: float = 1.0):  # noqa: A002  (PyTorch's argument names)
    """``torch.celu_``: ``F.celu_``, ``celu(input, alpha)`` written into ``input``."""
    return _functional().celu_(input, alpha)


def selu_(input):  # noqa: A002
    """``torch.selu_``: ``F.selu_``, ``selu(input)`` written into ``input``."""
    return _functional().selu_(input)


def rrelu_(input, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,  # noqa: A002
           generator=None, *, rng=None):
    """``torch.rrelu_``: ``F.rrelu_``; ``generator=`` is PyTorch's name for ``rng=``."""
    from microgradnp.data.dataset import _generator

    return _functional().rrelu_(input, lower, upper, training, rng=_generator(generator, rng, "rrelu_"))


def threshold_(input, threshold: float, value: float):  # noqa: A002
    """``torch.threshold_``: ``F.threshold_``, entries not above ``threshold`` become ``value`` in place."""
    return _functional().threshold_(input, threshold, value)


def dropout_(input, p: float, train: bool, *, rng=None):  # noqa: A002
    """``torch.dropout_(input, p, train)``: ``F.dropout(input, p, train, inplace=True)``."""
    return _functional().dropout(input, p, training=train, inplace=True, rng=rng)


def alpha_dropout_(input, p: float, train: bool, *, rng=None):  # noqa: A002
    """``torch.alpha_dropout_(input, p, train)``: ``F.alpha_dropout(input, p, train, inplace=True)``."""
    return _functional().alpha_dropout(input, p, training=train, inplace=True, rng=rng)


def feature_alpha_dropout_(input, p: float, train: bool, *, rng=None):  # noqa: A002
    """``torch.feature_alpha_dropout_(input, p, train)``: ``F.feature_alpha_dropout(..., inplace=True)``."""
    return _functional().feature_alpha_dropout(input, p, training=train, inplace=True, rng=rng)


def feature_dropout_(input, p: float, train: bool, *, rng=None):  # noqa: A002
    """``torch.feature_dropout_(input, p, train)``: ``torch.feature_dropout`` written into ``input``."""
    F = _functional()
    if not train or p == 0:
        return input
    return F._write_in_place("feature_dropout_", input, lambda x: feature_dropout(x, p, True, rng=rng), "biu",
                             F._FLOATS_ONLY)


def native_dropout(input, p: float, train: bool | None, *, rng=None):  # noqa: A002
    """``torch.native_dropout``: the pair ``(output, mask)``, the bool mask of the kept entries
    (all True when not training: ``train=False``; ``None`` means training, as in PyTorch);
    ``rng`` draws the mask, as ``F.dropout``'s."""
    x = _tensor(input)
    if train is not None and not train:
        return x.clone(), Tensor._wrap(np.ones(x.shape, dtype=bool))
    # The mask is F.dropout of ones (its draw and scale are F's); the output is the input times it.
    scaled = _functional().dropout(Tensor._wrap(np.ones(x.shape, dtype=x.dtype)), p, training=True, rng=rng)
    return x * scaled, Tensor._wrap(scaled.data != 0)


# -- the ATen forms that return their statistics ---------------------------------------------------------------------


def _stats(data: np.ndarray, axes: tuple, eps: float, keepdims: bool) -> tuple[Tensor, Tensor]:
    """The mean and ``1 / sqrt(biased var + eps)`` over ``axes``, as constants (PyTorch's saved
    statistics have no gradient), in the data's dtype."""
    mean = data.mean(axis=axes, keepdims=keepdims)
    rstd = 1 / np.sqrt(data.var(axis=axes, keepdims=keepdims) + eps)
    return Tensor._wrap(np.asarray(mean, dtype=data.dtype)), Tensor._wrap(np.asarray(rstd, dtype=data.dtype))


def native_layer_norm(input, normalized_shape, weight, bias, eps: float):  # noqa: A002
    """``torch.native_layer_norm``: ``(F.layer_norm(...), mean, rstd)``, the statistics over
    the trailing ``normalized_shape`` axes kept as size-1 axes."""
    out = _functional().layer_norm(input, normalized_shape, weight, bias, eps)
    data = np.asarray(_data(input))
    count = 1 if isinstance(normalized_shape, numbers.Integral) else len(tuple(normalized_shape))
    return (out, *_stats(data, tuple(range(data.ndim - count, data.ndim)), eps, keepdims=True))


def native_batch_norm(input, weight, bias, running_mean, running_var, training: bool, momentum: float,  # noqa: A002
                      eps: float):
    """``torch.native_batch_norm``: ``(F.batch_norm(...), save_mean, save_invstd)``; the batch's
    per-channel mean and ``1 / sqrt(biased var + eps)`` in training, empty ``(0,)`` tensors otherwise."""
    data = np.asarray(_data(input))
    if training:  # (before F.batch_norm, which updates the running statistics)
        saved = _stats(data, (0, *range(2, data.ndim)), eps, keepdims=False)
    else:
        saved = tuple(Tensor._wrap(np.empty((0,), dtype=data.dtype)) for _ in range(2))
    out = _functional().batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)
    return (out, *saved)


def native_group_norm(input, weight, bias, N: int, C: int, HxW: int, group: int, eps: float):  # noqa: A002
    """``torch.native_group_norm``: ``(F.group_norm(...), mean, rstd)``, the statistics of each
    sample's groups ``(N, group)``. ``N``, ``C`` and ``HxW`` must describe ``input`` ``(N, C, ...)``."""
    data = np.asarray(_data(input))
    if data.ndim < 2 or data.shape[:2] != (N, C) or data.size != N * C * HxW:
        raise InvalidArgumentError(f"native_group_norm: N={N}, C={C}, HxW={HxW} do not describe the input of shape "
                                   f"{list(data.shape)} (N, C, then HxW elements per channel)")
    out = _functional().group_norm(input, group, weight, bias, eps)
    return (out, *_stats(data.reshape(N, group, -1), (2,), eps, keepdims=False))


# -- convolutions ------------------------------------------------------------------------------------------------------


def convolution(input, weight, bias, stride, padding, dilation, transposed: bool, output_padding,  # noqa: A002
                groups: int):
    """``torch.convolution``: ``F.conv{1,2,3}d``, or ``F.conv_transpose{1,2,3}d`` when
    ``transposed``, chosen by the input's dimensions ``(N, C, *spatial)``."""
    F = _functional()
    spatial = len(np.shape(_data(weight))) - 2
    if spatial not in (1, 2, 3):
        raise InvalidArgumentError(f"convolution: weight must be 3-D, 4-D or 5-D (out_channels, in_channels / groups, "
                                   f"*kernel), got shape {list(np.shape(_data(weight)))}")
    stride, padding, dilation = tuple(stride), tuple(padding), tuple(dilation)
    if transposed:
        transpose = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[spatial - 1]
        return transpose(input, weight, bias, stride, padding, tuple(output_padding), groups, dilation)
    if any(output_padding):
        raise InvalidArgumentError(f"convolution: output_padding {list(output_padding)} is only for transposed "
                                   "convolutions (transposed=True)")
    return (F.conv1d, F.conv2d, F.conv3d)[spatial - 1](input, weight, bias, stride, padding, dilation, groups)


def conv_tbc(input, weight, bias, pad: int = 0):  # noqa: A002
    """``torch.conv_tbc``: a 1-D convolution of a ``(time, batch, in_channels)`` input with a
    ``(kernel, in_channels, out_channels)`` weight and ``(out_channels,)`` bias, padded by ``pad``
    steps at both ends; the output is ``(time + 2 pad - kernel + 1, batch, out_channels)``."""
    x, w = _tensor(input), _tensor(weight)
    if x.ndim != 3 or w.ndim != 3 or np.ndim(_data(bias)) != 1:
        raise InvalidArgumentError(f"conv_tbc: input must be 3-D (time, batch, channels), weight 3-D (kernel, "
                                   f"in_channels, out_channels) and bias 1-D, got {list(x.shape)}, {list(w.shape)} "
                                   f"and {list(np.shape(_data(bias)))}")
    if x.shape[2] != w.shape[1] or np.shape(_data(bias))[0] != w.shape[2]:
        raise InvalidArgumentError(f"conv_tbc: input channels {x.shape[2]} must be the weight's axis 1 ({w.shape[1]}) "
                                   f"and the bias's size {np.shape(_data(bias))[0]} its axis 2 ({w.shape[2]})")
    out = _functional().conv1d(ops.transpose(x, (1, 2, 0)), ops.transpose(w, (2, 1, 0)), bias, padding=pad)
    return ops.transpose(out, (2, 0, 1))


# -- embedding_bag, segment_reduce -----------------------------------------------------------------------------------

_BAG_MODES = ("sum", "mean", "max")


def embedding_bag(weight, indices, offsets, scale_grad_by_freq: bool = False, mode: int = 0, sparse: bool = False,
                  per_sample_weights=None, include_last_offset: bool = False, padding_idx: int | None = None):
    """``torch.embedding_bag(weight, indices, offsets, ...)``: ``F.embedding_bag`` with the table
    first and ``mode`` as ATen's int (0 sum, 1 mean, 2 max; a negative ``padding_idx`` counts
    from the end, None is none).

    Returns ``(output, offset2bag, bag_size, max_indices)``: the bag of each index, the number of
    indices (not ``padding_idx``) in each bag, and for mode max the row of ``weight`` that gave
    each maximum (for the other modes PyTorch's CPU kernel puts ``bag_size`` there, as here).
    In mode sum PyTorch's CPU kernel leaves ``offset2bag`` empty and the others zero; here
    they hold these values in every mode."""
    if isinstance(mode, bool) or not isinstance(mode, numbers.Integral) or not 0 <= mode < 3:
        raise InvalidArgumentError(f"embedding_bag: mode must be 0 (sum), 1 (mean) or 2 (max), got {mode!r}")
    if offsets is None:
        raise TypeError("embedding_bag(): argument 'offsets' (position 3) must be Tensor, not NoneType")
    table = _tensor(weight)
    output = _functional().embedding_bag(indices, table, offsets, scale_grad_by_freq=scale_grad_by_freq,
                                         mode=_BAG_MODES[mode], sparse=sparse,
                                         per_sample_weights=per_sample_weights,
                                         include_last_offset=include_last_offset, padding_idx=padding_idx)
    flat = np.asarray(_data(indices)).reshape(-1)
    starts = np.asarray(_data(offsets)).reshape(-1).astype(np.int64)
    bags = output.shape[0]
    offset2bag = np.searchsorted(starts[1:bags] if bags else starts[:0], np.arange(flat.size), side="right")
    kept = np.ones(flat.size, dtype=bool) if padding_idx is None else flat != padding_idx % table.shape[0]
    bag_size = np.bincount(offset2bag[kept], minlength=bags)[:bags].astype(np.int64)
    if mode == 2:
        # The row chosen for each bag and feature: the first index whose row holds the maximum.
        max_indices = np.zeros(output.shape, dtype=np.int64)
        rows = table.data[flat]
        for bag in range(bags):
            members = np.flatnonzero((offset2bag == bag) & kept)
            if members.size:
                max_indices[bag] = flat[members][np.argmax(rows[members], axis=0)]
    else:
        max_indices = bag_size.copy()
    return output, *(Tensor._wrap(a.astype(np.int64)) for a in (offset2bag, bag_size, max_indices))


_SEGMENT_EMPTY = {"sum": 0.0, "mean": np.nan, "max": -np.inf, "min": np.inf, "prod": 1.0}


def _segment(values: Tensor, reduce: str, initial, like: np.ndarray) -> Tensor:
    """One segment (along axis 0 of ``values``) reduced, as ``torch.segment_reduce``; an empty
    segment gives ``initial`` (or the reduction's identity: nan for the mean)."""
    count = values.shape[0]
    if count == 0:
        fill = _SEGMENT_EMPTY[reduce] if initial is None else initial
        return Tensor._wrap(np.full(like.shape[1:], fill, dtype=like.dtype))
    if reduce in ("sum", "mean"):
        out = ops.sum(values, axis=0) if initial is None else ops.sum(values, axis=0) + initial
        return out / count if reduce == "mean" else out
    if reduce == "prod":
        out = ops.prod(values, axis=0)
        return out if initial is None else out * initial
    out = ops.max(values, axis=0) if reduce == "max" else ops.min(values, axis=0)
    if initial is None:
        return out
    # A tie with ``initial`` sends the gradient to the value, as in PyTorch.
    wins = out.data >= initial if reduce == "max" else out.data <= initial
    return ops.where(wins | np.isnan(out.data), out, np.asarray(initial, dtype=like.dtype))


def segment_reduce(data, reduce: str, *, lengths=None, indices=None, offsets=None, axis: int = 0,
                   unsafe: bool = False, initial=None):
    """``torch.segment_reduce``: reduce consecutive segments of ``data`` along ``axis`` with
    ``reduce`` (``"sum"``, ``"mean"``, ``"max"``, ``"min"`` or ``"prod"``).

    The segments are given by ``lengths`` (``(..., S)``) or ``offsets`` (``(..., S + 1)``, the
    segments' bounds); their leading axes are batch axes of ``data``, and ``axis`` must be the
    last axis of ``lengths`` (so 0 for 1-D lengths). Unless ``unsafe``, each row of lengths must
    sum to ``data.shape[axis]``. ``initial`` joins every segment (added, multiplied, or compared)
    and is the value of an empty one; without it an empty segment is 0, nan (mean), -inf (max),
    inf (min) or 1 (prod). The result has ``S`` entries along ``axis``.
    """
    name = "segment_reduce"
    if reduce not in _SEGMENT_EMPTY:
        raise InvalidArgumentError(f"{name}: reduce must be one of 'sum', 'mean', 'max', 'min' or 'prod', got "
                                   f"{reduce!r}")
    if indices is not None:
        raise NotImplementedError(f"{name}(): indices based reduction is not supported yet (as in PyTorch); "
                                  "give lengths or offsets")
    if (lengths is None) == (offsets is None):
        raise InvalidArgumentError(f"{name}(): give exactly one of lengths and offsets")
    x = _tensor(data)
    if x.dtype.kind != "f":  # (as PyTorch, whose kernel has no integer form)
        raise DtypeError(f"{name}(): data must be floating-point, got {x.dtype}; convert it with .double()")
    if lengths is not None:
        lengths = np.asarray(_data(lengths))
    else:
        bounds = np.asarray(_data(offsets))
        if bounds.ndim == 0 or bounds.shape[-1] < 1:
            raise InvalidArgumentError(f"{name}(): offsets must have at least one entry along their last axis")
        lengths = np.diff(bounds, axis=-1)
    if lengths.dtype.kind not in "iu":
        raise InvalidArgumentError(f"{name}(): lengths and offsets must be integers, got {lengths.dtype}")
    if lengths.ndim == 0:
        raise InvalidArgumentError(f"{name}(): lengths must have at least one axis")
    axis = axis + x.ndim if axis < 0 else axis
    if axis != lengths.ndim - 1:
        raise InvalidArgumentError(f"{name}(): Expected axis to be the last dimension of lengths but got {axis}.")
    if x.shape[:axis] != lengths.shape[:-1]:
        raise InvalidArgumentError(f"{name}(): the leading axes of lengths {list(lengths.shape[:-1])} must be those of "
                                   f"data {list(x.shape[:axis])}")
    if (lengths < 0).any():
        raise InvalidArgumentError(f"{name}(): lengths contains negative value!")
    if not unsafe and (lengths.sum(axis=-1) != x.shape[axis]).any():
        raise InvalidArgumentError(f"{name}(): Expected all rows of lengths along axis to sum to data.size({axis}) "
                                   "when !unsafe.")
    if initial is not None:
        initial = float(initial)
    rows = []
    for batch in np.ndindex(*lengths.shape[:-1]):
        row = x[batch] if batch else x  # (the segments along axis 0 of row)
        ends = np.cumsum(lengths[batch])
        rows.append(ops.stack([_segment(row[int(end - size):int(end)], reduce, initial, row.data)
                               for size, end in zip(lengths[batch], ends)], axis=0) if ends.size else
                    Tensor._wrap(np.empty((0, *row.shape[1:]), dtype=x.dtype)))
    if lengths.ndim == 1:
        return rows[0]
    return ops.reshape(ops.stack(rows, axis=0), (*lengths.shape, *x.shape[axis + 1:]))


# -- random draws ---------------------------------------------------------------------------------------------------


def binomial(count, prob, generator=None, *, rng=None):
    """``torch.binomial``: the number of successes in ``count`` trials of probability ``prob``
    (broadcast together), in their float dtype; as PyTorch's, its gradient is 0. ``generator=``
    (PyTorch's name) or ``rng=``: a Generator, a seed, or None for the global generator.

    Raises:
        TypeError: ``count`` or ``prob`` is not floating-point (as PyTorch).
        ValueError: a count is negative, or a probability is outside [0, 1].
    """
    n, p = np.asarray(_data(count)), np.asarray(_data(prob))
    for what, value in (("count", n), ("prob", p)):
        if value.dtype.kind != "f":
            raise TypeError(f"binomial only supports floating-point dtypes for {what}, got: {value.dtype}")
    if n.dtype != p.dtype:
        raise TypeError(f"binomial: count and prob must have the same dtype, got {n.dtype} and {p.dtype}")
    if (n < 0).any() or not np.isfinite(n).all():
        raise InvalidArgumentError("binomial: count must be finite and non-negative")
    if ((p < 0) | (p > 1)).any():
        raise InvalidArgumentError("binomial: prob must be in [0, 1]")
    n, p = np.broadcast_arrays(n, p)
    nan = np.isnan(p)
    draws = _source(generator, rng, "binomial").binomial(n.astype(np.int64), np.where(nan, 0, p))
    return _constant_in(np.where(nan, np.nan, draws).astype(n.dtype), count, prob)


# -- deprecated norms ------------------------------------------------------------------------------------------------


def nuclear_norm(input, dim=None, keepdim: bool = False):  # noqa: A002
    """``torch.nuclear_norm`` (deprecated in PyTorch): ``linalg.matrix_norm(input, "nuc", dim,
    keepdim)``, over the last two axes when ``dim`` is None; ``nuclear_norm(input, True)`` is keepdim."""
    from microgradnp import linalg

    if isinstance(dim, bool):  # (PyTorch's overload nuclear_norm(input, keepdim))
        dim, keepdim = None, dim
    return linalg.matrix_norm(input, "nuc", (-2, -1) if dim is None else tuple(dim), keepdim)


def frobenius_norm(input, dim, keepdim: bool = False):  # noqa: A002
    """``torch.frobenius_norm`` (deprecated in PyTorch): ``linalg.vector_norm(input, 2, dim,
    keepdim)`` over at most two axes ``dim`` (all of them when ``dim`` is empty)."""
    from microgradnp import linalg

    dim = (dim,) if isinstance(dim, numbers.Integral) else tuple(dim)
    if len(dim) > 2:
        raise InvalidArgumentError(f"frobenius_norm: Expected at most 2 dimensions, but got {len(dim)} dimensions "
                                   "instead.")
    return linalg.vector_norm(input, 2, dim or None, keepdim)


def matrix_rank(input, tol=None, symmetric: bool = False, *, out=None):  # noqa: A002
    """``torch.matrix_rank``: removed from PyTorch (since 1.9), which raises, as here: use
    ``mg.linalg.matrix_rank`` (whose ``hermitian`` was ``symmetric``)."""
    raise RuntimeError("This function was deprecated since version 1.9 and is now removed.\nPlease use the "
                       "`mg.linalg.matrix_rank` function instead. The parameter 'symmetric' was renamed in "
                       "`mg.linalg.matrix_rank()` to 'hermitian'.")


def norm_except_dim(v, pow: float = 2, dim: int = 0):  # noqa: A002  (PyTorch's argument names)
    """``torch.norm_except_dim`` (the norm of ``nn.utils.weight_norm``): the ``pow``-norm of ``v``
    over every axis but ``dim``, those kept as size-1 axes; ``dim=-1`` means the norm of all of
    ``v`` (a 0-d tensor), as in PyTorch."""
    from microgradnp import linalg

    x = _tensor(v)
    if dim == -1:
        return linalg.vector_norm(x, pow)
    dim = dim + x.ndim if dim < 0 else dim
    others = tuple(a for a in range(x.ndim) if a != dim)
    if not others:  # (a 1-D v: the norm of each single entry)
        return ops.abs(x)
    return linalg.vector_norm(x, pow, others, keepdim=True)


def embedding_renorm_(input, indices, max_norm: float, norm_type: float):  # noqa: A002
    """``torch.embedding_renorm_``: the rows of the table ``input`` at ``indices`` whose
    ``norm_type``-norm exceeds ``max_norm`` are rescaled in place to ``max_norm`` (the rule of
    ``F.embedding(..., max_norm=)``); returns ``input``."""
    from microgradnp.nn.normalization import _renorm_rows

    table = _tensor(input)
    if table.ndim != 2:
        raise InvalidArgumentError(f"embedding_renorm_: the table must be 2-D, got shape {list(table.shape)}")
    rows = np.unique(np.asarray(_data(indices)).reshape(-1).astype(np.int64) % max(table.shape[0], 1))
    _renorm_rows(table, rows, float(max_norm), float(norm_type))
    return input


def get_device(input) -> int:  # noqa: A002
    """``torch.get_device``: ``input.get_device()``, -1 (the CPU) for every microgradnp tensor."""
    return _tensor(input).get_device()


def native_channel_shuffle(input, groups: int):  # noqa: A002
    """``torch.native_channel_shuffle``: ``F.channel_shuffle``."""
    return _functional().channel_shuffle(input, groups)


_GRID_MODES = ("bilinear", "nearest", "bicubic")
_GRID_PADDINGS = ("zeros", "border", "reflection")


def grid_sampler(input, grid, interpolation_mode: int, padding_mode: int, align_corners: bool):  # noqa: A002
    """``torch.grid_sampler``: ``F.grid_sample`` with ATen's int modes (interpolation 0 bilinear,
    1 nearest, 2 bicubic; padding 0 zeros, 1 border, 2 reflection)."""
    for name, value, names in (("interpolation_mode", interpolation_mode, _GRID_MODES),
                               ("padding_mode", padding_mode, _GRID_PADDINGS)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value < len(names):
            raise InvalidArgumentError(f"grid_sampler: {name} must be one of 0..{len(names) - 1} "
                                       f"({', '.join(names)}), got {value!r}")
    return _functional().grid_sample(input, grid, _GRID_MODES[interpolation_mode], _GRID_PADDINGS[padding_mode],
                                     align_corners)


def grid_sampler_2d(input, grid, interpolation_mode: int, padding_mode: int, align_corners: bool):  # noqa: A002
    """``torch.grid_sampler_2d``: ``grid_sampler`` of a 4-D input."""
    return _grid_sampler_nd(4, input, grid, interpolation_mode, padding_mode, align_corners)


def grid_sampler_3d(input, grid, interpolation_mode: int, padding_mode: int, align_corners: bool):  # noqa: A002
    """``torch.grid_sampler_3d``: ``grid_sampler`` of a 5-D input."""
    return _grid_sampler_nd(5, input, grid, interpolation_mode, padding_mode, align_corners)


def _grid_sampler_nd(ndim: int, input, grid, interpolation_mode, padding_mode, align_corners):  # noqa: A002
    shape = np.shape(_data(input))
    if len(shape) != ndim:
        raise InvalidArgumentError(f"grid_sampler_{ndim - 2}d(): expected {ndim}D input, got {len(shape)}D input "
                                   f"of shape {list(shape)}")
    return grid_sampler(input, grid, interpolation_mode, padding_mode, align_corners)


def affine_grid_generator(theta, size, align_corners: bool):
    """``torch.affine_grid_generator``: ``F.affine_grid``."""
    return _functional().affine_grid(theta, size, align_corners)


# -- tensors from a buffer -------------------------------------------------------------------------------------------


def frombuffer(buffer, *, dtype, count: int = -1, offset: int = 0, requires_grad: bool = False) -> Tensor:
    """``torch.frombuffer``: a 1-D tensor of ``dtype`` on the memory of ``buffer`` (anything with
    the buffer protocol: bytes, bytearray, array.array, memoryview...), from byte ``offset``,
    ``count`` elements (all that remain when -1). It shares the memory, as PyTorch's: writing
    into a writable buffer changes the tensor (a read-only buffer gives a read-only tensor).

    Raises:
        ValueError: an empty buffer with ``count`` -1, a length after ``offset`` that is not a
            multiple of the element size, or more elements asked than there are.
    """
    dtype = np.dtype(dtype)
    length = memoryview(buffer).nbytes
    if length == 0 or count == 0:
        raise InvalidArgumentError(f"both buffer length ({length}) and count ({count}) must not be 0")
    if not 0 <= offset < length:
        raise InvalidArgumentError(f"offset ({offset} bytes) must be non-negative and no greater than buffer length "
                                   f"({length} bytes) minus 1")
    if count < 0:
        if (length - offset) % dtype.itemsize:
            raise InvalidArgumentError(f"buffer length ({length - offset} bytes) after offset ({offset} bytes) must "
                                       f"be a multiple of element size ({dtype.itemsize})")
        count = (length - offset) // dtype.itemsize
    elif count * dtype.itemsize > length - offset:
        raise InvalidArgumentError(f"requested buffer length ({count} * {dtype.itemsize} bytes) after offset "
                                   f"({offset} bytes) must not be greater than actual buffer length ({length} bytes)")
    tensor = Tensor._wrap(np.frombuffer(buffer, dtype=dtype, count=count, offset=offset))
    return tensor.requires_grad_() if requires_grad else tensor


# -- global switches -------------------------------------------------------------------------------------------------

_switches = {"warn_always": False, "interop_threads": os.cpu_count() or 1, "matmul_precision": "highest"}


def set_flush_denormal(mode: bool) -> bool:
    """``torch.set_flush_denormal``: whether flushing denormal floats to zero could be set. NumPy
    has no such switch, so it is False (as PyTorch answers on a CPU without the instruction)."""
    return False


def get_num_interop_threads() -> int:
    """``torch.get_num_interop_threads``: the value last given to ``set_num_interop_threads``
    (the number of CPUs at first). microgradnp runs no thread pool; it changes nothing."""
    return _switches["interop_threads"]


def set_num_interop_threads(int) -> None:  # noqa: A002  (PyTorch's argument name)
    """``torch.set_num_interop_threads``: check and record the count (see ``get_num_interop_threads``)."""
    if isinstance(int, bool) or not isinstance(int, numbers.Integral):
        raise TypeError(f"set_num_interop_threads(): argument must be int, not {type(int).__name__}")
    if int <= 0:
        raise RuntimeError("set_num_interop_threads expects a positive integer")
    _switches["interop_threads"] = builtins.int(int)


def set_warn_always(b: bool, /) -> None:
    """``torch.set_warn_always``: record the switch (microgradnp's warnings follow Python's
    ``warnings`` filters, so it changes nothing)."""
    _switches["warn_always"] = bool(b)


def is_warn_always_enabled() -> bool:
    """``torch.is_warn_always_enabled``: the value last given to ``set_warn_always`` (False at first)."""
    return _switches["warn_always"]


def set_anomaly_enabled(enabled: bool, check_nan: bool = True) -> None:
    """``torch.set_anomaly_enabled``: switch anomaly detection (``mg.set_detect_anomaly(enabled,
    check_nan)``, called on its own) in this thread."""
    from microgradnp.autograd import set_detect_anomaly

    set_detect_anomaly(enabled, check_nan)


_DEBUG_MODES = ("default", "warn", "error")


def set_deterministic_debug_mode(debug_mode) -> None:
    """``torch.set_deterministic_debug_mode``: ``"default"`` (0), ``"warn"`` (1) or ``"error"`` (2),
    the same switch as ``use_deterministic_algorithms(mode, warn_only=...)``."""
    if isinstance(debug_mode, str):
        if debug_mode not in _DEBUG_MODES:
            raise RuntimeError(f"invalid value of debug_mode, expected one of `default`, `warn`, `error`, but got "
                               f"{debug_mode}")
        debug_mode = _DEBUG_MODES.index(debug_mode)
    elif isinstance(debug_mode, bool) or not isinstance(debug_mode, numbers.Integral):
        raise TypeError(f"debug_mode must be str or int, but got {type(debug_mode).__name__}")
    elif not 0 <= debug_mode <= 2:
        raise RuntimeError(f"invalid value of debug_mode, expected 0, 1, or 2, but got {debug_mode}")
    use_deterministic_algorithms(debug_mode > 0, warn_only=debug_mode == 1)


def get_deterministic_debug_mode() -> int:
    """``torch.get_deterministic_debug_mode``: 0 (off), 1 (warn only) or 2 (error), from
    ``use_deterministic_algorithms``'s switch."""
    if not are_deterministic_algorithms_enabled():
        return 0
    return 1 if is_deterministic_algorithms_warn_only_enabled() else 2


_PRECISIONS = ("highest", "high", "medium")


def get_float32_matmul_precision() -> str:
    """``torch.get_float32_matmul_precision``: the value last set (``"highest"`` at first)."""
    return _switches["matmul_precision"]


def set_float32_matmul_precision(precision: str) -> None:
    """``torch.set_float32_matmul_precision``: record ``"highest"``, ``"high"`` or ``"medium"``.
    NumPy's float32 products are always full float32 ("highest"), so it changes no result.
    Anything else warns and is ignored, as in PyTorch."""
    if precision not in _PRECISIONS:
        warnings.warn(f"{precision} is not one of 'highest', 'high', or 'medium'; the current "
                      "set_float32_matmul_precision call has no effect.", UserWarning, stacklevel=2)
        return
    _switches["matmul_precision"] = precision


# -- deprecated out-of-place resize ----------------------------------------------------------------------------------


def resize(self, *sizes):
    """``t.resize(*sizes)`` (deprecated, out of place): ``t`` reshaped to ``sizes``, which must
    keep the number of elements (PyTorch's autograd ``resize``); warns, as PyTorch."""
    warnings.warn("non-inplace resize is deprecated", UserWarning, stacklevel=2)
    return _resized(self, sizes[0] if len(sizes) == 1 and isinstance(sizes[0], tuple | list) else sizes)


def resize_as(self, tensor):
    """``t.resize_as(other)`` (deprecated, out of place): ``t.resize(other.shape)``; warns, as PyTorch."""
    warnings.warn("non-inplace resize_as is deprecated", UserWarning, stacklevel=2)
    return _resized(self, np.shape(_data(tensor)))


def _resized(self, shape) -> Tensor:
    shape = tuple(int(n) for n in shape)
    size = int(np.prod(shape, dtype=np.int64))
    if size != self.size:
        raise InvalidArgumentError(
            f"requested resize to {'x'.join(map(str, shape))} ({size} elements in total), but the given tensor has "
            f"a size of {self.size} ({self.size} elements). autograd's resize can only change the shape of a given "
            "tensor, while preserving the number of elements.")
    return ops.reshape(self, shape)


Tensor.resize = resize
Tensor.resize_as = resize_as
