"""``nn.functional`` (``F``): layers and losses as functions, as in ``torch.nn.functional``.

Array arguments follow NumPy's naming (``axis``); everything else PyTorch's.
"""

from __future__ import annotations

import math

import numpy as np

from microgradnp import ops as _ops
from microgradnp.errors import InvalidArgumentError
from microgradnp.nn import parity as _parity
from microgradnp.nn.normalization import batch_norm, embedding, group_norm, layer_norm
from microgradnp.ops import activations as _act
from microgradnp.ops import conv as _conv
from microgradnp.ops import leaky_relu as _leaky_relu
from microgradnp.ops import log_softmax as _log_softmax
from microgradnp.ops import losses as _losses
from microgradnp.ops import one_hot, sigmoid, tanh
from microgradnp.ops import pad as _pad
from microgradnp.ops import relu as _relu
from microgradnp.ops import softmax as _softmax
from microgradnp.ops.elementwise import Dropout
from microgradnp.ops.linalg import linear
from microgradnp.ops.losses import check_reduction
from microgradnp.ops.losses import legacy_reduction as _legacy_reduction
from microgradnp.tensor import Tensor, _data, get_default_dtype

__all__ = [
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "avg_pool1d",
    "avg_pool2d",
    "batch_norm",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "celu",
    "conv1d",
    "conv2d",
    "cosine_similarity",
    "cross_entropy",
    "dropout",
    "elu",
    "embedding",
    "gelu",
    "group_norm",
    "hardsigmoid",
    "hardswish",
    "hardtanh",
    "huber_loss",
    "kl_div",
    "l1_loss",
    "layer_norm",
    "leaky_relu",
    "linear",
    "log_softmax",
    "logsigmoid",
    "max_pool1d",
    "max_pool2d",
    "mish",
    "mse_loss",
    "nll_loss",
    "normalize",
    "one_hot",
    "pad",
    "prelu",
    "relu",
    "relu6",
    "selu",
    "sigmoid",
    "silu",
    "smooth_l1_loss",
    "softmax",
    "softplus",
    "softsign",
    "tanh",
]


def leaky_relu(input, negative_slope: float = 0.01, inplace: bool = False):
    """x where x > 0, else ``negative_slope * x``. ``inplace=True`` writes the result into
    ``input`` and returns it, as PyTorch (``leaky_relu_``)."""
    if inplace:
        return leaky_relu_(input, negative_slope)
    return _leaky_relu(input, negative_slope)


def relu(input, inplace: bool = False):
    """``max(x, 0)``. ``inplace=True`` writes the result into ``input`` and returns it, as
    PyTorch (``relu_``: refused on a leaf that requires grad; a node that saved the old values
    raises at backward)."""
    if inplace:
        return relu_(input)
    return _relu(input)


def _softmax_axis(name: str, input, dim, axis):
    """The axis of ``softmax``-like functions: ``dim`` (PyTorch's) or ``axis`` (NumPy's); neither
    given: PyTorch's implicit choice (axis 0 for 0-, 1- and 3-D input, else 1), with its warning."""
    if dim is not None and axis is not None:
        raise TypeError(f"{name}: give dim or axis, not both")
    if dim is None:
        dim = axis
    if dim is None:
        import warnings

        warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include "
                      "dim=X as an argument.", UserWarning, stacklevel=3)
        dim = 0 if np.ndim(_data(input)) in (0, 1, 3) else 1
    return dim


def _cast(input, dtype):
    """``input`` in ``dtype`` (differentiably, for a Tensor), or as it is when ``dtype`` is None."""
    if dtype is None:
        return input
    return input.to(dtype) if isinstance(input, Tensor) else np.asarray(input, dtype=dtype)


def softmax(input, dim: int | None = None, _stacklevel: int = 3, dtype=None, *, axis: int | None = None):
    """``exp(x) / sum(exp(x))`` along ``dim``, as ``torch.nn.functional.softmax`` (``dtype`` casts
    the input first; ``axis=`` is NumPy's spelling of ``dim``)."""
    return _softmax(_cast(input, dtype), axis=_softmax_axis("softmax", input, dim, axis))


def log_softmax(input, dim: int | None = None, _stacklevel: int = 3, dtype=None, *, axis: int | None = None):
    """``x - logsumexp(x)`` along ``dim``, as ``torch.nn.functional.log_softmax`` (``dtype`` casts
    the input first; ``axis=`` is NumPy's spelling of ``dim``)."""
    return _log_softmax(_cast(input, dtype), axis=_softmax_axis("log_softmax", input, dim, axis))


def dropout(input, p: float = 0.5, training: bool = True, inplace: bool = False, rng=None):
    """Zero each element with probability ``p`` and scale the rest by 1 / (1 - p)
    (inverted dropout); the identity when not ``training`` or ``p == 0``. Arguments in
    PyTorch's order: ``inplace=True`` writes the result into ``input`` and returns it; ``rng``
    (a seed or ``np.random.Generator``) draws the mask."""
    if not 0 <= p <= 1:
        raise InvalidArgumentError(f"dropout: p must be a probability in [0, 1], got {p}")
    if not training or p == 0:
        return input
    if inplace:
        return _write_in_place("dropout", input, lambda x: Dropout.apply(x, p=p, rng=rng), "biu", _FLOATS_ONLY)
    return Dropout.apply(input, p=p, rng=rng)


def _weighted(name: str, losses, input, weight, reduction: str, mean_over_weights: bool = True):
    """A loss with PyTorch's per-element ``weight`` (of the input's shape; a weight that
    requires grad gets its gradient): ``losses`` (per element) times it, summed, or averaged:
    ``sum(w * loss) / sum(w)`` (mse, l1), or over the elements (``mean_over_weights=False``:
    huber, as PyTorch 2.13)."""
    check_reduction(reduction, name)
    if np.shape(_data(weight)) != np.shape(_data(input)):
        raise InvalidArgumentError(f"{name}: weight and input must have the same size, got shapes "
                                   f"{np.shape(_data(weight))} and {np.shape(_data(input))}")
    if not isinstance(weight, Tensor):  # (an array or a list: a constant in the input's dtype)
        weight = Tensor(np.asarray(weight, dtype=_data(input).dtype))
    weighted = losses * weight
    if reduction == "none":
        return weighted
    if reduction == "sum":
        return weighted.sum()
    return weighted.sum() / weight.sum() if mean_over_weights else weighted.mean()


def mse_loss(input, target, size_average=None, reduce=None, reduction: str = "mean", weight=None):
    """Mean squared error ``(input - target)^2``, averaged (``"mean"``), summed or per element.
    ``size_average``/``reduce``: PyTorch's deprecated spelling of ``reduction`` (see
    ``legacy_reduction``), in PyTorch's positions, as in every loss here that PyTorch gives them.
    ``weight`` (of the input's shape), as PyTorch's (2.13): each squared error times its
    weight, and ``"mean"`` is the weighted average ``sum(w (input - target)^2) / sum(w)``;
    a weight that requires grad gets its gradient."""
    reduction = _legacy_reduction(size_average, reduce, reduction, "mse_loss")
    if weight is None:
        return _losses.MSELoss.apply(input, target, reduction=reduction)
    return _weighted("mse_loss", _losses.MSELoss.apply(input, target, reduction="none"), input, weight, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction: str = "mean", weight=None):
    """Mean absolute error ``|input - target|``, averaged (``"mean"``), summed or per element;
    ``weight`` as ``mse_loss``'s (``"mean"`` is ``sum(w |input - target|) / sum(w)``)."""
    reduction = _legacy_reduction(size_average, reduce, reduction, "l1_loss")
    if weight is None:
        return _losses.L1Loss.apply(input, target, reduction=reduction)
    return _weighted("l1_loss", _losses.L1Loss.apply(input, target, reduction="none"), input, weight, reduction)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction: str = "mean", beta: float = 1.0):
    """``0.5 d**2 / beta`` where ``|d| = |input - target| < beta``, ``|d| - 0.5 beta``
    beyond (``beta = 0``: the L1 loss), as ``torch.nn.functional.smooth_l1_loss``."""
    reduction = _legacy_reduction(size_average, reduce, reduction, "smooth_l1_loss")
    if not beta >= 0:
        raise InvalidArgumentError(f"smooth_l1_loss: beta must be >= 0 (0 gives the L1 loss), got {beta!r}")
    return _losses.SmoothL1Loss.apply(input, target, reduction=reduction, width=beta)


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0, weight=None):
    """``0.5 d**2`` where ``|d| = |input - target| < delta``, ``delta (|d| - 0.5 delta)``
    beyond, as ``torch.nn.functional.huber_loss``; with ``weight`` (of the input's shape),
    ``"mean"`` is the mean of the weighted losses over the elements, as PyTorch's."""
    if not delta > 0:
        raise InvalidArgumentError(f"huber_loss: delta must be > 0 (the width of the quadratic part), got {delta!r}")
    if weight is None:
        return _losses.HuberLoss.apply(input, target, reduction=reduction, width=delta)
    losses = _losses.HuberLoss.apply(input, target, reduction="none", width=delta)
    return _weighted("huber_loss", losses, input, weight, reduction, mean_over_weights=False)


def kl_div(input, target, size_average=None, reduce=None, reduction: str = "mean", log_target: bool = False):
    """Kullback-Leibler divergence of the log-probabilities ``input`` from ``target``
    (probabilities; log-probabilities with ``log_target``), as
    ``torch.nn.functional.kl_div``: ``reduction="batchmean"`` gives the divergence per
    sample, ``"mean"`` divides by the number of elements, as PyTorch does."""
    reduction = _legacy_reduction(size_average, reduce, reduction, "kl_div")
    return _losses.KLDivLoss.apply(input, target, reduction=reduction, log_target=log_target)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction: str = "mean"):
    """Binary cross-entropy of probabilities in [0, 1] (apply ``sigmoid`` first)."""
    reduction = _legacy_reduction(size_average, reduce, reduction, "binary_cross_entropy")
    return _losses.BCELoss.apply(input, target, weight=constant_weights(weight, "binary_cross_entropy"),
                                 reduction=reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction: str = "mean", pos_weight=None):
    """Sigmoid plus binary cross-entropy, computed stably from raw scores (logits)."""
    reduction = _legacy_reduction(size_average, reduce, reduction, "binary_cross_entropy_with_logits")
    return _losses.BCEWithLogitsLoss.apply(
        input, target, weight=constant_weights(weight, "binary_cross_entropy_with_logits"),
        pos_weight=constant_weights(pos_weight, "binary_cross_entropy_with_logits", "pos_weight"), reduction=reduction
    )


def cross_entropy(input, target, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                  reduction: str = "mean", label_smoothing: float = 0.0):
    """Softmax cross-entropy of logits ``(N, C)`` (or ``(N, C, L)``, or one unbatched
    sample ``(C,)``).

    ``target`` holds class indices ``(N,)`` (ints in ``[0, C)``; a 0-d index for an
    unbatched sample), or class probabilities with the logits' shape (floats).
    ``weight`` (one per class) rescales classes, ``ignore_index`` skips targets,
    ``label_smoothing`` in [0, 1] mixes in the uniform distribution.
    """
    reduction = _legacy_reduction(size_average, reduce, reduction, "cross_entropy")
    if not 0 <= label_smoothing <= 1:
        raise InvalidArgumentError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    target_data = np.asarray(_data(target))
    if target_data.dtype.kind == "f" and target_data.shape == np.shape(_data(input)):
        if ignore_index != -100:
            raise InvalidArgumentError(
                "cross_entropy: ignore_index is not supported for class probabilities (a float target of the "
                "input's shape), as in PyTorch; give zero probabilities instead, or class indices")
        return _soft_cross_entropy(input, target, weight, reduction, label_smoothing)
    return _losses.CrossEntropyLoss.apply(input, target_data, weight=constant_weights(weight, "cross_entropy"),
                                          ignore_index=ignore_index, label_smoothing=label_smoothing,
                                          reduction=reduction)


def _soft_cross_entropy(input, target, weight, reduction, label_smoothing):
    """Cross-entropy against class probabilities: ``-sum_c w_c p_c log softmax(x)_c``, built
    from operations, so a weight that requires grad gets its gradient (as in PyTorch)."""
    check_reduction(reduction, "cross_entropy")
    shape = np.shape(_data(input))
    class_axis = 0 if len(shape) == 1 else 1  # (C,) is one unbatched sample, as in PyTorch
    if not shape:
        raise InvalidArgumentError(
            "cross_entropy: input must have a class axis: (C,), (N, C) or (N, C, ...), got a 0-d input")
    classes = shape[class_axis]
    if label_smoothing:
        target = target * (1 - label_smoothing) + label_smoothing / classes
    log_probs = log_softmax(input, axis=class_axis)
    if weight is not None:
        weight = weight if isinstance(weight, Tensor) else Tensor(np.asarray(weight))
        if weight.shape != (classes,):
            raise InvalidArgumentError(
                f"cross_entropy: weight must hold one weight per class, shape ({classes},), "
                f"but has shape {weight.shape}"
            )
        log_probs = log_probs * weight.reshape((-1,) + (1,) * (log_probs.ndim - class_axis - 1))
    losses = -(log_probs * target).sum(axis=class_axis)
    if reduction == "none":
        return losses
    return losses.mean() if reduction == "mean" else losses.sum()


def nll_loss(input, target, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
             reduction: str = "mean"):
    """Negative log-likelihood of log-probabilities ``(N, C)`` (or ``(N, C, ...)``, or one
    unbatched sample ``(C,)``) at class indices ``(N,)`` in ``[0, C)`` (a 0-d index for an
    unbatched sample); ``weight`` holds one weight per class."""
    reduction = _legacy_reduction(size_average, reduce, reduction, "nll_loss")
    return _losses.NLLLoss.apply(input, np.asarray(_data(target)), weight=constant_weights(weight, "nll_loss"),
                         ignore_index=ignore_index, reduction=reduction)


# -- convolution and pooling ---------------------------------------------------------------
def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution (cross-correlation, as PyTorch's ``F.conv1d``).

    Args:
        input: ``(N, C_in, L)``, or one unbatched sample ``(C_in, L)`` (the output is then
            unbatched too).
        weight: ``(C_out, C_in / groups, K)``.
        bias: ``(C_out,)`` or None.
        stride: step between windows (int >= 1).
        padding: zeros added on both ends (int >= 0), or ``"valid"`` (none) or ``"same"``
            (output as long as the input; stride 1 only, the odd one on the right).
        dilation: spacing between kernel taps (int >= 1).
        groups: split the channels into ``groups`` independent convolutions; in and out
            channels must both be divisible by it.

    Returns:
        ``(N, C_out, L_out)`` with ``L_out = (L + 2 padding - dilation (K - 1) - 1) // stride + 1``.
    """
    return _conv.conv1d(input, weight, bias, stride=stride, padding=padding, dilation=dilation, groups=groups)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Maximum over windows of ``input`` ``(N, C, L)`` or ``(C, L)``, as PyTorch's ``F.max_pool1d``.

    ``stride`` defaults to ``kernel_size``; ``padding`` (at most ``kernel_size // 2``) adds
    ``-inf`` on both ends; ``ceil_mode`` keeps a last partial window when it starts inside
    the input. The gradient goes to the first maximum of each window. Integer input keeps
    its dtype. With ``return_indices`` also the int64 position of each maximum along ``L``,
    as ``max_unpool1d`` takes it.
    """
    return _parity.max_pool("max_pool1d", input, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                            1, _conv.max_pool1d)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """Mean over windows of ``input`` ``(N, C, L)`` or ``(C, L)``, as PyTorch's ``F.avg_pool1d``.

    ``stride`` defaults to ``kernel_size``; ``padding`` (at most ``kernel_size // 2``) adds
    zeros on both ends, counted in the mean when ``count_include_pad``; ``ceil_mode`` keeps
    a last partial window when it starts inside the input.
    """
    return _parity.avg_pool("avg_pool1d", input, _conv.avg_pool1d, kernel_size, stride, padding, ceil_mode,
                            count_include_pad)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation, as PyTorch's ``F.conv2d``).

    Args:
        input: ``(N, C_in, H, W)``, or one unbatched sample ``(C_in, H, W)`` (the output is
            then unbatched too).
        weight: ``(C_out, C_in / groups, kH, kW)``.
        bias: ``(C_out,)`` or None.
        stride: step between windows: an int >= 1 for both axes, or a pair ``(along H, along W)``.
        padding: zeros added on both sides of each axis (an int >= 0 or a pair), or
            ``"valid"`` (none) or ``"same"`` (output as large as the input; stride 1 only,
            the odd one on the bottom/right).
        dilation: spacing between kernel taps (an int >= 1 or a pair).
        groups: split the channels into ``groups`` independent convolutions; in and out
            channels must both be divisible by it.

    Returns:
        ``(N, C_out, H_out, W_out)`` with, along each axis,
        ``out = (size + 2 padding - dilation (k - 1) - 1) // stride + 1``.

    Raises:
        ValueError: on inconsistent shapes or settings (the message says which).
    """
    return _conv.conv2d(input, weight, bias, stride=stride, padding=padding, dilation=dilation, groups=groups)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Maximum over windows of ``input`` ``(N, C, H, W)`` or ``(C, H, W)``, as PyTorch's ``F.max_pool2d``.

    ``kernel_size``, ``stride``, ``padding`` and ``dilation`` are an int (both axes) or a
    pair. ``stride`` defaults to ``kernel_size``; ``padding`` (at most half the kernel)
    adds ``-inf`` on both sides; ``ceil_mode`` keeps a last partial window when it starts
    inside the input. The gradient goes to the first maximum of each window (row by row).
    Integer input keeps its dtype. With ``return_indices`` also the int64 flat position
    ``h * W + w`` of each maximum in its channel's plane, as ``max_unpool2d`` takes it.
    """
    return _parity.max_pool("max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                            2, _conv.max_pool2d)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Mean over windows of ``input`` ``(N, C, H, W)`` or ``(C, H, W)``, as PyTorch's ``F.avg_pool2d``.

    ``kernel_size``, ``stride`` and ``padding`` are an int (both axes) or a pair.
    ``stride`` defaults to ``kernel_size``; ``padding`` (at most half the kernel) adds
    zeros on both sides, counted in the mean when ``count_include_pad``; ``ceil_mode``
    keeps a last partial window when it starts inside the input. ``divisor_override`` (a
    nonzero int) divides each window's sum by it instead of by the window's count.
    """
    if divisor_override is not None:
        from microgradnp.nn.pool_divisor import avg_pool_divided

        return avg_pool_divided("avg_pool2d", input, _conv.avg_pool2d, 2, kernel_size, stride, padding, ceil_mode,
                                divisor_override)
    return _parity.avg_pool("avg_pool2d", input, _conv.avg_pool2d, kernel_size, stride, padding, ceil_mode,
                            count_include_pad)


_TORCH_PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad(input, pad, mode: str = "constant", value=None):
    """PyTorch's ``pad``: ``pad`` lists (before, after) widths from the LAST axis backwards,
    ``(left, right)`` for the last axis, then ``(top, bottom)`` for the one before, and so on.

    Modes: "constant" fills with ``value`` (default 0); "reflect" mirrors without repeating
    the edge (each width below the axis length); "replicate" repeats the edge element;
    "circular" continues periodically (each width at most the axis length). The gradient
    of each element is the sum of the gradients of its copies. Unlike PyTorch, the copying
    modes work on any number of axes. Negative widths crop, as in PyTorch: "reflect" and
    "replicate" pad the whole axis first and then crop, "constant" and "circular" crop first.
    ``mg.pad`` is the same operation with NumPy's ``pad_width`` and mode names.

    Args:
        input: the tensor to pad.
        pad: an even number of ints, at most two per axis of ``input`` (negative ones crop).
        mode: "constant", "reflect", "replicate" or "circular".
        value: the fill value for mode "constant".

    Returns:
        The padded tensor.

    Raises:
        ValueError: for an unknown mode, an odd-length or too long ``pad``, crops longer
            than the axis, widths too large for the mode, or ``value`` with a copying mode.
    """
    widths = [int(w) for w in pad]
    shape = np.shape(_data(input))
    if len(widths) % 2 or len(widths) // 2 > len(shape):
        raise InvalidArgumentError(f"pad: pad must hold an even number of widths, at most 2 per axis of the input "
                         f"(shape {shape}), got {tuple(pad)}")
    if mode not in _TORCH_PAD_MODES:
        raise InvalidArgumentError(f"pad: unknown mode {mode!r}; use one of {', '.join(_TORCH_PAD_MODES)}")
    if mode != "constant" and value is not None:
        raise InvalidArgumentError(f"pad: mode {mode!r} takes no value")
    if min(widths, default=0) < 0:  # PyTorch's order: the copying modes see the whole axis
        positive = [max(w, 0) for w in widths]
        if mode in ("reflect", "replicate"):
            return _parity.crop(globals()["pad"](input, positive, mode, value), widths)
        return globals()["pad"](_parity.crop(input, widths), positive, mode, value)
    pad_width = [(0, 0)] * len(shape)
    for i in range(len(widths) // 2):
        axis = len(shape) - 1 - i
        before, after = pad_width[axis] = (widths[2 * i], widths[2 * i + 1])
        limit = {"reflect": shape[axis] - 1, "circular": shape[axis]}.get(mode)
        if limit is not None and max(before, after) > limit:
            raise InvalidArgumentError(f"pad: mode {mode!r} needs widths {'below' if mode == 'reflect' else 'at most'} "
                             f"the length of the axis, got ({before}, {after}) for axis {axis} of length {shape[axis]}")
        if mode == "replicate" and shape[axis] == 0 and before + after:
            raise InvalidArgumentError(f"pad: mode 'replicate' cannot pad the empty axis {axis}")
    if mode == "constant":
        return _pad(input, pad_width, constant_values=0 if value is None else value)
    return _pad(input, pad_width, mode=_TORCH_PAD_MODES[mode])


# -- more activations (PyTorch's signatures) -------------------------------------------------
# ``inplace=True`` means the in-place form (``elu_``...; see ``_write_in_place`` below): the
# result is written into the input, which is returned, as in PyTorch.
def softplus(input, beta: float = 1.0, threshold: float = 20.0):
    """``log(1 + exp(beta * x)) / beta``; ``x`` itself where ``beta * x > threshold``.

    Args:
        input: a tensor.
        beta: the sharpness (nonzero).
        threshold: above it (in ``beta * x``) the result is the identity.

    Returns:
        A tensor of the same shape (see ``mg.softplus``).
    """
    return _act.softplus(input, beta, threshold)


def gelu(input, approximate: str = "none"):
    """Gaussian error linear unit ``x * Phi(x)``.

    Args:
        input: a tensor.
        approximate: ``"none"`` (exact, from ``erfc``) or ``"tanh"``.

    Returns:
        A tensor of the same shape (see ``mg.gelu``).
    """
    return _act.gelu(input, approximate)


def silu(input, inplace: bool = False):
    """``x * sigmoid(x)`` (swish).

    Args:
        input: a tensor.
        inplace: write the result into ``input`` and return it, as PyTorch.

    Returns:
        A tensor of the same shape.
    """
    if inplace:
        return _write_in_place("silu_", input, _act.silu, "biu", _FLOATS_ONLY)
    return _act.silu(input)


def elu(input, alpha: float = 1.0, inplace: bool = False):
    """``x`` for x > 0, else ``alpha * (exp(x) - 1)``.

    Args:
        input: a tensor.
        alpha: the negative saturation value is ``-alpha``.
        inplace: write the result into ``input`` and return it, as PyTorch.

    Returns:
        A tensor of the same shape.
    """
    if inplace:
        return elu_(input, alpha)
    return _act.elu(input, alpha)


def selu(input, inplace: bool = False):
    """Scaled ELU with PyTorch's constants (``mg.selu``).

    Args:
        input: a tensor.
        inplace: write the result into ``input`` and return it, as PyTorch.

    Returns:
        A tensor of the same shape.
    """
    if inplace:
        return selu_(input)
    return _act.selu(input)


def celu(input, alpha: float = 1.0, inplace: bool = False):
    """``x`` for x > 0, else ``alpha * (exp(x / alpha) - 1)``.

    Args:
        input: a tensor.
        alpha: nonzero.
        inplace: write the result into ``input`` and return it, as PyTorch.

    Returns:
        A tensor of the same shape.

    Raises:
        ValueError: if ``alpha`` is 0.
    """
    if inplace:
        return celu_(input, alpha)
    return _act.celu(input, alpha)


def mish(input, inplace: bool = False):
    """``x * tanh(softplus(x))``.

    Args:
        input: a tensor.
        inplace: write the result into ``input`` and return it, as PyTorch.

    Returns:
        A tensor of the same shape.
    """
    if inplace:
        return _write_in_place("mish_", input, _act.mish, "biu", _FLOATS_ONLY)
    return _act.mish(input)


def hardtanh(input, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
    """``x`` clipped to ``[min_val, max_val]``, gradient 0 at the bounds (as PyTorch).

    Args:
        input: a tensor.
        min_val: the lower bound.
        max_val: the upper bound.
        inplace: write the result into ``input`` and return it, as PyTorch.

    Returns:
        A tensor of the same shape.

    Raises:
        ValueError: if ``max_val < min_val``.
    """
    if inplace:
        if max_val < min_val:  # (the check of hardtanh, which PyTorch makes here too)
            return _act.hardtanh(input, min_val, max_val)
        return hardtanh_(input, min_val, max_val)
    return _act.hardtanh(input, min_val, max_val)


def relu6(input, inplace: bool = False):
    """``min(max(x, 0), 6)``.

    Args:
        input: a tensor.
        inplace: write the result into ``input`` and return it, as PyTorch.

    Returns:
        A tensor of the same shape.
    """
    if inplace:
        return _write_in_place("relu6_", input, _act.relu6, "b", "clamp a float or integer tensor")
    return _act.relu6(input)


def hardsigmoid(input, inplace: bool = False):
    """``relu6(x + 3) / 6``.

    Args:
        input: a tensor.
        inplace: write the result into ``input`` and return it, as PyTorch.

    Returns:
        A tensor of the same shape.
    """
    if inplace:
        return _write_in_place("hardsigmoid_", input, _act.hardsigmoid, "biu", _FLOATS_ONLY)
    return _act.hardsigmoid(input)


def hardswish(input, inplace: bool = False):
    """``x * relu6(x + 3) / 6``.

    Args:
        input: a tensor.
        inplace: write the result into ``input`` and return it, as PyTorch.

    Returns:
        A tensor of the same shape.
    """
    if inplace:
        return _write_in_place("hardswish_", input, _act.hardswish, "biu", _FLOATS_ONLY)
    return _act.hardswish(input)


def logsigmoid(input):
    """``log(sigmoid(x))``, finite for any ``x``.

    Args:
        input: a tensor.

    Returns:
        A tensor of the same shape.
    """
    return _act.logsigmoid(input)


def softsign(input):
    """``x / (1 + |x|)``.

    Args:
        input: a tensor.

    Returns:
        A tensor of the same shape.
    """
    return _act.softsign(input)


def normalize(input, p: float = 2.0, dim: int = 1, eps: float = 1e-12):
    """``input`` divided by its ``p``-norm along ``dim`` (at least ``eps``), as
    ``torch.nn.functional.normalize``: unit vectors along ``dim``.

    Args:
        input: a tensor.
        p: the norm's order (2: Euclidean length), as ``torch.linalg.vector_norm``'s: any
            positive or negative number, ``inf``, ``-inf``, or 0 (the count of nonzero entries).
            A negative ``p`` gives 0 (so ``eps``) for a vector holding a zero.
        dim: the axis along which each vector lies.
        eps: the smallest divisor, so that a zero vector stays zero.

    Returns:
        A tensor of the same shape.

    Raises:
        ValueError: ``p`` not a number.
    """
    length = _parity.vector_length(input, p, dim)
    return input / _ops.clip(length, eps, None)


def cosine_similarity(x1, x2, dim: int = 1, eps: float = 1e-8):
    """The cosine of the angle between ``x1`` and ``x2`` along ``dim`` (they broadcast),
    as ``torch.nn.functional.cosine_similarity``: each vector divided by its length (at
    least ``eps``), then their dot product.

    Args:
        x1: a tensor.
        x2: a tensor that broadcasts with ``x1``.
        dim: the axis along which the vectors lie.
        eps: the smallest length a vector is divided by.

    Returns:
        A tensor with ``dim`` removed, values in [-1, 1].
    """
    # Broadcast first, as PyTorch: normalising the smaller one along ``dim`` before the
    # broadcast would divide by the length of another vector (values beyond [-1, 1]).
    x1, x2 = (x if isinstance(x, Tensor) else Tensor(x) for x in (x1, x2))
    shape = np.broadcast_shapes(x1.shape, x2.shape)
    x1, x2 = (x if x.shape == shape else _ops.broadcast_to(x, shape) for x in (x1, x2))
    return _ops.sum(normalize(x1, dim=dim, eps=eps) * normalize(x2, dim=dim, eps=eps), axis=dim)


def _adaptive_average(length: int, size: int, dtype) -> np.ndarray:
    """The (size, length) matrix that averages PyTorch's adaptive windows: output k is the
    mean of entries floor(k * length / size) to ceil((k + 1) * length / size) - 1."""
    matrix = np.zeros((size, length), dtype=dtype)
    for k in range(size):
        start, end = (k * length) // size, -((-(k + 1) * length) // size)
        matrix[k, start:end] = 1.0 / (end - start)
    return matrix


class WindowedSum(_ops.primitive.Primitive):
    """Weighted sums over windows of the last axis: ``x @ weights.T``, one GEMM, where each row
    of ``weights`` is nonzero on one contiguous window (adaptive average pooling, anti-aliased
    interpolation). Where the input holds an inf or a NaN, the matrix's zeros would spread it
    (0 * inf is NaN) to every window: those results are recomputed window by window, so that
    only the windows holding it are inf or NaN, as PyTorch's. The gradient is ``grad @ weights``."""

    name = "windowed_sum"

    @staticmethod
    def forward(ctx, x, weights):
        ctx.weights = weights
        if x.dtype.kind != "f":  # ints in the weights' (default float) dtype: NumPy's dot would give float64
            x = x.astype(weights.dtype)
        # One 2-D GEMM over all the leading axes (NumPy's batched ``@`` would loop over them).
        with np.errstate(invalid="ignore"):  # 0 * inf: replaced below, as PyTorch does not warn
            out = np.dot(x.reshape(math.prod(x.shape[:-1]), x.shape[-1]), weights.T).reshape(*x.shape[:-1],
                                                                                          len(weights))
        # One sum of the (smaller) output tells whether an inf or NaN got in (an overflowing
        # sum only takes the slower exact path), so the common case stays one GEMM.
        if not math.isfinite(np.add.reduce(out, axis=None)):
            for k, row in enumerate(weights):
                window = np.flatnonzero(row)
                start, end = (window[0], window[-1] + 1) if window.size else (0, 0)
                out[..., k] = x[..., start:end] @ row[start:end]
        return out

    @staticmethod
    def backward(ctx, grad):
        if isinstance(grad, np.ndarray):
            length = ctx.weights.shape[1]
            # (not -1 for the leading size: an empty output, of 0 windows, has no length to infer it from)
            rows = math.prod(grad.shape[:-1])
            return (grad.reshape(rows, grad.shape[-1]) @ ctx.weights).reshape(*grad.shape[:-1], length)
        return _ops.matmul(grad, ctx.weights)


def along_axis(input, weights: np.ndarray, axis: int):
    """``WindowedSum`` of ``weights`` (out, length) applied along ``axis`` of ``input``."""
    if axis in (-1, np.ndim(_data(input)) - 1):  # already the last axis: no swaps to record
        return WindowedSum.apply(input, weights=weights)
    moved = _ops.swapaxes(input, axis, -1)
    return _ops.swapaxes(WindowedSum.apply(moved, weights=weights), axis, -1)


def _adaptive_avg_pool(input, output_size, ndim: int, name: str):
    shape = tuple(np.shape(_data(input)))
    # (empty batches and channels are fine, as in PyTorch: only a window needs an element)
    if len(shape) not in (ndim + 1, ndim + 2) or 0 in shape[-ndim:]:
        spatial = {1: "L", 2: "H, W", 3: "D, H, W"}[ndim]
        raise InvalidArgumentError(
            f"{name}: expected an input of shape (N, C, {spatial}) or (C, {spatial}) with non-empty "
            f"{spatial}, got {shape}")
    sizes = tuple(output_size) if isinstance(output_size, tuple | list) else (output_size,) * ndim
    # (a size 0 gives an empty result, as in PyTorch)
    if len(sizes) != ndim or not all(s is None or (isinstance(s, int) and not isinstance(s, bool) and s >= 0)
                                     for s in sizes):
        raise InvalidArgumentError(f"{name}: output_size must be a non-negative int or a tuple of {ndim} (None "
                                   f"keeps an axis), got {output_size!r}")
    dtype = _data(input).dtype if _data(input).dtype.kind == "f" else get_default_dtype()
    out = input
    for axis, size in zip(range(-ndim, 0), sizes):
        length = shape[axis]
        if size is None or size == length:
            continue
        # Linear in the input: the averaging matrix applied along this axis.
        out = along_axis(out, _adaptive_average(length, size, dtype), axis)
    return out


def adaptive_avg_pool1d(input, output_size):
    """Means over ``output_size`` windows that cover the last axis of ``(N, C, L)`` (or
    ``(C, L)``) as evenly as they can, as ``torch.nn.functional.adaptive_avg_pool1d``:
    window k spans entries ``floor(k L / out)`` to ``ceil((k + 1) L / out) - 1``.
    ``output_size=1`` is global average pooling."""
    return _adaptive_avg_pool(input, output_size, 1, "adaptive_avg_pool1d")


def adaptive_avg_pool2d(input, output_size):
    """``adaptive_avg_pool1d`` over both axes of ``(N, C, H, W)`` (or ``(C, H, W)``), as
    ``torch.nn.functional.adaptive_avg_pool2d``: ``output_size`` is an int or a pair
    (None keeps that axis); ``1`` is global average pooling."""
    return _adaptive_avg_pool(input, output_size, 2, "adaptive_avg_pool2d")


def prelu(input, weight):
    """``max(0, x) + weight * min(0, x)`` with a learnt slope per channel (axis 1; an input
    of fewer than 2 axes has one channel) or one shared slope, as ``torch.nn.functional.prelu``.

    Args:
        input: a tensor.
        weight: the slopes, of shape (1,) or (C,).

    Returns:
        A tensor of the input's shape; the gradient of ``weight`` sums ``grad * x`` over
        the negative inputs of its channel.
    """
    slopes = int(np.size(_data(weight)))
    ndim = np.ndim(_data(input))
    if slopes == 1:
        weight = _ops.reshape(weight, ())  # one slope for every element, whatever the input's shape
    else:
        channels = np.shape(_data(input))[1] if ndim >= 2 else 1
        if channels != slopes or np.ndim(_data(weight)) != 1:
            raise InvalidArgumentError(
                f"prelu: weight has {slopes} slopes but the input of shape {np.shape(_data(input))} "
                f"has {channels} channels (axis 1); give one slope or one per channel")
        weight = _ops.reshape(weight, (slopes,) + (1,) * (ndim - 2))
    return _ops.where(input > 0, input, weight * input)


# -- more losses and distances (microgradnp/nn/extra_losses.py) -----------------------------------
from microgradnp.nn.extra_losses import (  # noqa: E402  (they build on the functions above)
    constant_weights,
    cosine_embedding_loss,
    gaussian_nll_loss,
    hinge_embedding_loss,
    margin_ranking_loss,
    multi_margin_loss,
    multilabel_soft_margin_loss,
    pairwise_distance,
    poisson_nll_loss,
    soft_margin_loss,
    triplet_margin_loss,
)

__all__ += ["cosine_embedding_loss", "gaussian_nll_loss", "hinge_embedding_loss", "margin_ranking_loss",
            "multi_margin_loss", "multilabel_soft_margin_loss", "pairwise_distance", "poisson_nll_loss",
            "soft_margin_loss", "triplet_margin_loss"]

# -- more layers as functions (microgradnp/nn/extra_layers.py) ------------------------------------
from microgradnp.nn.extra_layers import (  # noqa: E402  (they build on the functions above)
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    alpha_dropout,
    avg_pool3d,
    bilinear,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
    dropout1d,
    dropout2d,
    dropout3d,
    feature_alpha_dropout,
    fold,
    glu,
    hardshrink,
    instance_norm,
    interpolate,
    local_response_norm,
    max_pool3d,
    pixel_shuffle,
    pixel_unshuffle,
    rms_norm,
    rrelu,
    softshrink,
    tanhshrink,
    threshold,
    unfold,
    upsample,
)
from microgradnp.nn.extra_layers import softmin as _softmin  # noqa: E402
from microgradnp.nn.fractional_pool import (  # noqa: E402
    fractional_max_pool2d,
    fractional_max_pool2d_with_indices,
    fractional_max_pool3d,
    fractional_max_pool3d_with_indices,
)


def softmin(input, dim: int | None = None, _stacklevel: int = 3, dtype=None):
    """``softmax(-input)`` along ``dim``, as ``torch.nn.functional.softmin`` (its signature; ``dtype``
    casts the input first). Without ``dim``: PyTorch's implicit choice, softmax's rule and warning."""
    return _softmin(input, _softmax_axis("softmin", input, dim, None), dtype)


__all__ += ["adaptive_max_pool1d", "adaptive_max_pool2d", "alpha_dropout", "avg_pool3d", "bilinear",
            "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "dropout1d", "dropout2d", "dropout3d",
            "feature_alpha_dropout",
            "fold", "glu", "hardshrink", "instance_norm", "interpolate", "local_response_norm", "max_pool3d",
            "pixel_shuffle", "pixel_unshuffle", "rms_norm", "rrelu", "softmin", "softshrink", "tanhshrink",
            "threshold", "unfold", "upsample"]
__all__ += ["fractional_max_pool2d", "fractional_max_pool2d_with_indices", "fractional_max_pool3d",
            "fractional_max_pool3d_with_indices"]

# -- attention (microgradnp/nn/transformer.py) ---------------------------------------------------
from microgradnp.nn.transformer import (  # noqa: E402  (they build on the above)
    multi_head_attention_forward,
    scaled_dot_product_attention,
)

__all__ += ["multi_head_attention_forward", "scaled_dot_product_attention"]

# -- still more layers (microgradnp/nn/more_layers.py) -------------------------------------------
from microgradnp.nn.more_layers import (  # noqa: E402  (they build on the functions above)
    adaptive_avg_pool3d,
    adaptive_max_pool3d,
    channel_shuffle,
    conv3d,
    embedding_bag,
    lp_pool1d,
    lp_pool2d,
    lp_pool3d,
    max_unpool1d,
    max_unpool2d,
    max_unpool3d,
    multilabel_margin_loss,
    triplet_margin_with_distance_loss,
)

__all__ += ["adaptive_avg_pool3d", "adaptive_max_pool3d", "channel_shuffle", "conv3d", "embedding_bag", "lp_pool1d",
            "lp_pool2d", "lp_pool3d", "max_unpool1d", "max_unpool2d", "max_unpool3d", "multilabel_margin_loss",
            "triplet_margin_with_distance_loss"]

# -- spatial transformers (microgradnp/nn/sampling.py) ---------------------------------------------
from microgradnp.nn.sampling import affine_grid, grid_sample  # noqa: E402

__all__ += ["affine_grid", "grid_sample"]

# -- the CTC loss (microgradnp/nn/ctc.py) ---------------------------------------------------------
from microgradnp.nn.ctc import ctc_loss  # noqa: E402  (it imports nn.loss, which imports this module)

__all__ += ["ctc_loss"]

# -- PyTorch's remaining names: deprecated aliases, the ``*_with_indices`` forms, ``pdist``,
# ``gumbel_softmax`` and the in-place activations ------------------------------------------------
def upsample_nearest(input, size=None, scale_factor=None):
    """``interpolate(input, size, scale_factor, mode="nearest")`` under its deprecated name, as
    ``torch.nn.functional.upsample_nearest`` (which warns, as here, with a UserWarning)."""
    import warnings

    warnings.warn("`nn.functional.upsample_nearest` is deprecated. Use `nn.functional.interpolate` instead.",
                  UserWarning, stacklevel=2)
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    """``interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)`` under its
    deprecated name, as ``torch.nn.functional.upsample_bilinear`` (which warns, as here, with a
    UserWarning). Note ``align_corners=True``: not ``interpolate``'s default."""
    import warnings

    warnings.warn("`nn.functional.upsample_bilinear` is deprecated. Use `nn.functional.interpolate` instead.",
                  UserWarning, stacklevel=2)
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=False):
    """``max_pool1d(..., return_indices=True)``: the maxima and their int64 positions along ``L``,
    as ``torch.nn.functional.max_pool1d_with_indices``. ``return_indices`` is accepted and
    ignored, as in PyTorch: the pair is always returned."""
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=False):
    """``max_pool2d(..., return_indices=True)``: the maxima and their int64 flat positions
    ``h * W + w`` in each channel's plane, as ``torch.nn.functional.max_pool2d_with_indices``.
    ``return_indices`` is accepted and ignored, as in PyTorch: the pair is always returned."""
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)


def adaptive_max_pool1d_with_indices(input, output_size, return_indices=False):
    """``adaptive_max_pool1d(..., return_indices=True)``: the maxima and their int64 positions,
    as ``torch.nn.functional.adaptive_max_pool1d_with_indices``. ``return_indices`` is accepted
    and ignored, as in PyTorch: the pair is always returned."""
    return adaptive_max_pool1d(input, output_size, return_indices=True)


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=False):
    """``adaptive_max_pool2d(..., return_indices=True)``: the maxima and their int64 flat positions
    ``h * W + w``, as ``torch.nn.functional.adaptive_max_pool2d_with_indices``.
    ``return_indices`` is accepted and ignored, as in PyTorch: the pair is always returned."""
    return adaptive_max_pool2d(input, output_size, return_indices=True)


def pdist(input, p: float = 2):
    """The ``p``-norm distance between every pair of rows of ``input`` ``(N, M)``, as ``torch.pdist``
    (``torch.nn.functional.pdist``): ``N (N - 1) / 2`` distances, row 0 with rows 1, 2, ..., then
    row 1 with rows 2, ..., the upper triangle of ``cdist(input, input)`` read row by row.

    Args:
        input: a floating-point tensor ``(N, M)`` (lists and arrays become the default float dtype).
        p: the norm's order: any ``p >= 0`` or ``inf``; 0 counts the entries that differ.

    Returns:
        A tensor ``(N (N - 1) / 2,)`` of the input's dtype. The gradients are PyTorch's, also
        where they have a kink: 0 for two equal rows (a zero distance) and for ``p = 0``,
        ``sign(x_i - x_j)`` for ``p = 1``, and for ``p = inf`` the whole gradient to every entry
        tied for the largest difference (``norm`` shares it among them instead).

    Raises:
        ValueError: ``input`` is not 2-D, or ``p`` is negative or NaN.
        TypeError: integer or bool input (a ``DtypeError``, also a ``RuntimeError``, as PyTorch's).
    """
    from microgradnp.errors import DtypeError
    from microgradnp.nn.extra_losses import _tensor

    x = _tensor(input)
    if x.ndim != 2:
        raise InvalidArgumentError(f"pdist only supports 2D tensors, got: {x.ndim}D (shape {x.shape}); "
                                   "give the vectors as the rows of an (N, M) tensor")
    if x.dtype.kind != "f":
        raise DtypeError(f"pdist only supports floating-point dtypes, got {x.dtype}; convert with .double() "
                         "or .float() first")
    if not p >= 0:  # (NaN too)
        raise InvalidArgumentError(f"pdist only supports non-negative p values, got p={p}")
    first, second = np.triu_indices(x.shape[0], 1)
    diff = _ops.index_select(x, 0, first) - _ops.index_select(x, 0, second)
    if p == 0:
        # The count of entries that differ; sign has a zero gradient, which is PyTorch's here.
        return _ops.sum(_ops.sign(_ops.abs(diff)), axis=1)
    if p == np.inf:
        # norm's gradient shares a tie among the tied entries; PyTorch's pdist gives the whole
        # gradient to each of them. The largest difference as a constant plus, on the tied
        # entries, |d| - |d| (exactly 0 in value) carries PyTorch's gradient sign(d) to each.
        from microgradnp.nn.extra_losses import eager_only

        eager_only("pdist with p=inf (the tied entries are found in NumPy)")
        magnitude = _ops.abs(diff)
        values = magnitude.data
        largest = values.max(axis=1, keepdims=True, initial=0)
        tied = values == largest
        zero = np.zeros((), dtype=values.dtype)
        straight_through = _ops.where(tied, magnitude - magnitude.detach(), zero)
        return largest[:, 0] + _ops.sum(straight_through, axis=1)
    # The framework's p-norm has PyTorch's pdist gradients at its kinks (0 at a zero distance).
    return _ops.norm(diff, p=p, axis=1)


def gumbel_softmax(logits, tau: float = 1, hard: bool = False, eps: float = 1e-10, dim: int = -1, *, rng=None):
    """A sample from the Gumbel-softmax (concrete) distribution of ``logits``, as
    ``torch.nn.functional.gumbel_softmax``: ``softmax((logits + g) / tau)`` along ``dim``, ``g``
    independent Gumbel(0, 1) noise (``-log`` of Exponential(1) samples, as PyTorch draws it).

    Args:
        logits: unnormalised log-probabilities ``(..., num_classes)`` (a floating-point tensor).
        tau: the temperature (> 0); small values give nearly one-hot samples.
        hard: return exact one-hot vectors (the largest entry of the soft sample) whose gradient
            is the soft sample's (straight-through: ``y_hard - y_soft.detach() + y_soft``).
        eps: deprecated in PyTorch and unused; another value warns, as there.
        dim: the axis of the classes.
        rng: a ``np.random.Generator``, a seed, or None (the global generator, ``mg.manual_seed``)
            for the noise. The samples cannot match PyTorch's random numbers.

    Returns:
        A tensor of ``logits``' shape and dtype whose entries along ``dim`` sum to 1.

    Raises:
        TypeError: integer or bool logits (a ``DtypeError``, also a ``RuntimeError``, as PyTorch's).
    """
    import warnings

    from microgradnp.errors import DtypeError
    from microgradnp.nn.extra_losses import _tensor, eager_only
    from microgradnp.tensor import _rng

    if eps != 1e-10:
        warnings.warn("`eps` parameter is deprecated and has no effect.", UserWarning, stacklevel=2)
    logits = _tensor(logits)
    if logits.dtype.kind != "f":
        raise DtypeError(f"gumbel_softmax: the logits must be floating-point (the noise is continuous), got "
                         f"{logits.dtype}; convert with .double() or .float() first")
    # The noise is drawn here, in NumPy, so a compiled replay would reuse it: run eagerly there.
    eager_only("gumbel_softmax (its Gumbel noise is drawn in NumPy)")
    gumbels = -np.log(_rng(rng).exponential(1.0, logits.shape)).astype(logits.dtype)
    soft = _softmax((logits + gumbels) / tau, axis=dim)
    if not hard:
        return soft  # the reparameterisation trick: differentiable in the logits
    index = np.expand_dims(np.argmax(soft.data, axis=dim), dim)
    one_hot_sample = np.zeros_like(soft.data)
    np.put_along_axis(one_hot_sample, index, 1.0, axis=dim)
    return Tensor(one_hot_sample) - soft.detach() + soft  # PyTorch's order of operations


# The in-place forms: PyTorch's ``F.elu_(x)`` and friends write the activation into ``x`` and
# return it; ``inplace=True`` on the activations means the same. Each is the out-of-place
# function run through the helper behind the framework's in-place Tensor methods (``t.exp_()``...),
# so they refuse what those refuse: a leaf that requires grad while gradients are recorded. A
# tensor computed in the recorded graph (PyTorch's common ``nn.ReLU(inplace=True)`` after a
# layer) is handled here as PyTorch does: its memory takes the new values (and its version
# moves on, so a node that saved the old values raises at backward), and the tensor becomes the
# activation's output in the graph, the old values living on in a copy that the graph reads.
_FLOATS_ONLY = "it writes a floating-point result; convert with .float() or .double() first"


def _write_in_place(name: str, input, compute, refused_kinds: str = "", why: str = ""):
    """``compute(input)`` written into ``input``, with the checks of the in-place Tensor methods;
    returns ``input``. Dtype kinds in ``refused_kinds`` raise (``why`` says why), as in PyTorch."""
    from microgradnp.autograd.grad_mode import mode
    from microgradnp.errors import DtypeError
    from microgradnp.ops.torch_methods import _in_place

    if not isinstance(input, Tensor):
        raise TypeError(f"{name}(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    if input.dtype.kind in refused_kinds:
        raise DtypeError(f"{name}(): not implemented for {input.dtype} tensors, as in PyTorch: {why}")
    if mode.grad_enabled and input._node is not None:
        return input._recorded_in_place(f"{name}()", compute)
    return _in_place(name, compute)(input)


def relu_(input):
    """``relu`` in place, as ``torch.nn.functional.relu_``: ``input`` is overwritten and returned;
    integer tensors keep their dtype. Refused on a leaf that requires grad while gradients are
    recorded; on a tensor computed in the graph it is recorded as PyTorch does (see above)."""
    return _write_in_place("relu_", input, _relu, "b", "boolean inputs not supported for relu; convert with .float()")


def elu_(input, alpha: float = 1.0):
    """``elu(input, alpha)`` in place, as ``torch.nn.functional.elu_``: ``input`` (floating-point)
    is overwritten and returned. Refused on a tensor that requires grad while gradients are recorded."""
    return _write_in_place("elu_", input, lambda x: _act.elu(x, alpha), "biu", _FLOATS_ONLY)


def leaky_relu_(input, negative_slope: float = 0.01):
    """``leaky_relu(input, negative_slope)`` in place, as ``torch.nn.functional.leaky_relu_``:
    ``input`` (floating-point) is overwritten and returned. Refused on a tensor that requires grad
    while gradients are recorded."""
    return _write_in_place("leaky_relu_", input, lambda x: _leaky_relu(x, negative_slope), "biu", _FLOATS_ONLY)


def hardtanh_(input, min_val: float = -1.0, max_val: float = 1.0):
    """``hardtanh(input, min_val, max_val)`` in place, as ``torch.nn.functional.hardtanh_``:
    ``input`` is overwritten and returned; integer tensors keep their dtype. As PyTorch's in-place
    form, ``min_val > max_val`` is not checked: every entry becomes ``max_val``. Refused on a
    tensor that requires grad while gradients are recorded."""
    # PyTorch's in-place form clamps without hardtanh's min_val <= max_val check, which gives
    # max_val everywhere when min_val > max_val: so does hardtanh on [max_val, max_val].
    low = min(min_val, max_val)
    return _write_in_place("hardtanh_", input, lambda x: _act.hardtanh(x, low, max_val), "b",
                           "clamp a float or integer tensor")


def selu_(input):
    """``selu(input)`` in place, as ``torch.nn.functional.selu_``: ``input`` (floating-point) is
    overwritten and returned. Refused on a tensor that requires grad while gradients are recorded."""
    return _write_in_place("selu_", input, _act.selu, "biu", _FLOATS_ONLY)


def celu_(input, alpha: float = 1.0):
    """``celu(input, alpha)`` in place, as ``torch.nn.functional.celu_``: ``input`` (floating-point)
    is overwritten and returned. Refused on a tensor that requires grad while gradients are recorded.

    Raises:
        ValueError: ``alpha`` is 0.
    """
    return _write_in_place("celu_", input, lambda x: _act.celu(x, alpha), "biu", _FLOATS_ONLY)


def threshold_(input, threshold: float, value: float):
    """``threshold(input, threshold, value)`` in place, as ``torch.nn.functional.threshold_``:
    entries not above ``threshold`` become ``value``; ``input`` is overwritten and returned. Integer
    tensors keep their dtype (``value`` is converted to it, as PyTorch does). Refused on a tensor
    that requires grad while gradients are recorded."""
    # Not F.threshold, whose float result could not be written back into an integer tensor.
    return _write_in_place(
        "threshold_", input, lambda x: _ops.where(x > threshold, x, np.asarray(value).astype(x.dtype)), "b",
        "threshold a float or integer tensor")


def rrelu_(input, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False, *, rng=None):
    """``rrelu(input, lower, upper, training)`` in place, as ``torch.nn.functional.rrelu_``:
    ``input`` (floating-point) is overwritten and returned; in training each negative entry's
    slope is drawn from U(``lower``, ``upper``) with ``rng`` (a Generator, a seed, or None for
    the global generator). Refused on a tensor that requires grad while gradients are recorded.

    Raises:
        ValueError: ``lower > upper``.
    """
    return _write_in_place("rrelu_", input, lambda x: rrelu(x, lower, upper, training, rng=rng), "biu",
                           _FLOATS_ONLY)


__all__ += ["adaptive_max_pool1d_with_indices", "adaptive_max_pool2d_with_indices", "celu_", "elu_",
            "gumbel_softmax", "hardtanh_", "leaky_relu_", "max_pool1d_with_indices", "max_pool2d_with_indices",
            "pdist", "relu_", "rrelu_", "selu_", "threshold_", "upsample_bilinear", "upsample_nearest"]

from microgradnp.nn.torch_names_extra import (  # noqa: E402  (they build on the functions above)
    adaptive_max_pool3d_with_indices,
    conv_tbc,
    linear_cross_entropy,
    max_pool3d_with_indices,
    native_channel_shuffle,
)

__all__ += ["adaptive_max_pool3d_with_indices", "conv_tbc", "linear_cross_entropy", "max_pool3d_with_indices",
            "native_channel_shuffle"]
