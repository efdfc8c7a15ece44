"""``nn.functional`` (``F``): layers and losses as functions, as in ``torch.nn.functional``.

Array arguments follow NumPy's naming (``axis``); everything else PyTorch's.
"""

from __future__ import annotations

import numpy as np

from microgradnp.ops import conv as _conv
from microgradnp.ops import leaky_relu as _leaky_relu
from microgradnp.ops import log_softmax, relu, sigmoid, softmax, tanh
from microgradnp.ops.elementwise import Dropout
from microgradnp.ops.linalg import linear
from microgradnp.ops.losses import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    MSELoss,
    NLLLoss,
    check_reduction,
)
from microgradnp.tensor import _data

__all__ = [
    "avg_pool1d",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "conv1d",
    "cross_entropy",
    "dropout",
    "leaky_relu",
    "linear",
    "log_softmax",
    "max_pool1d",
    "mse_loss",
    "nll_loss",
    "relu",
    "sigmoid",
    "softmax",
    "tanh",
]


def leaky_relu(x, negative_slope: float = 0.01):
    """x where x > 0, else ``negative_slope * x``."""
    return _leaky_relu(x, negative_slope)


def dropout(x, p: float = 0.5, training: bool = True, rng=None):
    """Zero each element with probability ``p`` and scale the rest by 1 / (1 - p)
    (inverted dropout); the identity when not ``training`` or ``p == 0``."""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be a probability in [0, 1], got {p}")
    if not training or p == 0:
        return x
    return Dropout.apply(x, p=p, rng=rng)


def _array(value):
    """Per-element weights are constants of a loss: take their values."""
    return None if value is None else np.asarray(_data(value))


def mse_loss(input, target, reduction: str = "mean"):
    """Mean squared error ``(input - target)^2``, averaged (``"mean"``), summed or per element."""
    return MSELoss.apply(input, target, reduction=reduction)


def binary_cross_entropy(input, target, weight=None, reduction: str = "mean"):
    """Binary cross-entropy of probabilities in [0, 1] (apply ``sigmoid`` first)."""
    return BCELoss.apply(input, target, weight=_array(weight), reduction=reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction: str = "mean", pos_weight=None):
    """Sigmoid plus binary cross-entropy, computed stably from raw scores (logits)."""
    return BCEWithLogitsLoss.apply(
        input, target, weight=_array(weight), pos_weight=_array(pos_weight), reduction=reduction
    )


def cross_entropy(input, target, weight=None, ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0):
    """Softmax cross-entropy of logits ``(N, C)`` (or ``(N, C, L)``, or one unbatched
    sample ``(C,)``).

    ``target`` holds class indices ``(N,)`` (ints in ``[0, C)``; a 0-d index for an
    unbatched sample), or class probabilities with the logits' shape (floats).
    ``weight`` (one per class) rescales classes, ``ignore_index`` skips targets,
    ``label_smoothing`` in [0, 1] mixes in the uniform distribution.
    """
    if not 0 <= label_smoothing <= 1:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    target_data = np.asarray(_data(target))
    if target_data.dtype.kind == "f" and target_data.shape == np.shape(_data(input)):
        return _soft_cross_entropy(input, target, _array(weight), reduction, label_smoothing)
    return CrossEntropyLoss.apply(input, target_data, weight=_array(weight), ignore_index=ignore_index,
                                  label_smoothing=label_smoothing, reduction=reduction)


def _soft_cross_entropy(input, target, weight, reduction, label_smoothing):
    """Cross-entropy against class probabilities: ``-sum_c w_c p_c log softmax(x)_c``."""
    check_reduction(reduction, "cross_entropy")
    shape = np.shape(_data(input))
    class_axis = 0 if len(shape) == 1 else 1  # (C,) is one unbatched sample, as in PyTorch
    if not shape:
        raise ValueError("cross_entropy: input must have a class axis: (C,), (N, C) or (N, C, ...), got a 0-d input")
    classes = shape[class_axis]
    if label_smoothing:
        target = target * (1 - label_smoothing) + label_smoothing / classes
    log_probs = log_softmax(input, axis=class_axis)
    if weight is not None:
        if weight.shape != (classes,):
            raise ValueError(
                f"cross_entropy: weight must hold one weight per class, shape ({classes},), "
                f"but has shape {weight.shape}"
            )
        log_probs = log_probs * weight.reshape((-1,) + (1,) * (log_probs.ndim - class_axis - 1))
    losses = -(log_probs * target).sum(axis=class_axis)
    if reduction == "none":
        return losses
    return losses.mean() if reduction == "mean" else losses.sum()


def nll_loss(input, target, weight=None, ignore_index: int = -100, reduction: str = "mean"):
    """Negative log-likelihood of log-probabilities ``(N, C)`` (or ``(N, C, ...)``, or one
    unbatched sample ``(C,)``) at class indices ``(N,)`` in ``[0, C)`` (a 0-d index for an
    unbatched sample); ``weight`` holds one weight per class."""
    return NLLLoss.apply(input, np.asarray(_data(target)), weight=_array(weight),
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


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Maximum over windows of ``input`` ``(N, C, L)`` or ``(C, L)``, as PyTorch's ``F.max_pool1d``.

    ``stride`` defaults to ``kernel_size``; ``padding`` (at most ``kernel_size // 2``) adds
    ``-inf`` on both ends; ``ceil_mode`` keeps a last partial window when it starts inside
    the input. The gradient goes to the first maximum of each window.
    """
    return _conv.max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """Mean over windows of ``input`` ``(N, C, L)`` or ``(C, L)``, as PyTorch's ``F.avg_pool1d``.

    ``stride`` defaults to ``kernel_size``; ``padding`` (at most ``kernel_size // 2``) adds
    zeros on both ends, counted in the mean when ``count_include_pad``; ``ceil_mode`` keeps
    a last partial window when it starts inside the input.
    """
    return _conv.avg_pool1d(input, kernel_size, stride, padding, ceil_mode, count_include_pad)
