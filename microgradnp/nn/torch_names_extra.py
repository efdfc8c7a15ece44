"""More of ``torch.nn`` and ``torch.nn.functional``: ``F.max_pool3d_with_indices``,
``F.adaptive_max_pool3d_with_indices``, ``F.conv_tbc`` and ``F.native_channel_shuffle`` (the
functions of ``torch.conv_tbc`` and ``torch.native_channel_shuffle``), ``F.linear_cross_entropy`` with its
module ``nn.LinearCrossEntropyLoss`` (and ``nn.LinearCrossEntropyOptions``), the legacy
``nn.CrossMapLRN2d``, and ``nn.DataParallel`` (which, on the CPU, calls its module).

Each is a composition of existing functions (pooling, ``F.linear``, ``F.cross_entropy``,
``F.local_response_norm``), so gradients come from the engine."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from microgradnp import ops
from microgradnp.device import check_device
from microgradnp.errors import InvalidArgumentError
from microgradnp.nn.extra_layers import local_response_norm, max_pool3d
from microgradnp.nn.layers import Linear
from microgradnp.nn.loss import _WeightedLoss
from microgradnp.nn.module import Module
from microgradnp.nn.more_layers import adaptive_max_pool3d
from microgradnp.ops.torch_names_extra import conv_tbc, native_channel_shuffle
from microgradnp.tensor import Tensor, _data

__all__ = ["CrossMapLRN2d", "DataParallel", "LinearCrossEntropyLoss", "LinearCrossEntropyOptions",
           "adaptive_max_pool3d_with_indices", "conv_tbc", "linear_cross_entropy", "max_pool3d_with_indices",
           "native_channel_shuffle"]


def max_pool3d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,  # noqa: A002
                            return_indices: bool = False):
    """``max_pool3d(..., return_indices=True)``: the maxima and their int64 flat positions
    ``(d * H + h) * W + w``, as ``torch.nn.functional.max_pool3d_with_indices``.
    ``return_indices`` is accepted and ignored, as in PyTorch: the pair is always returned."""
    return max_pool3d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)


def adaptive_max_pool3d_with_indices(input, output_size, return_indices: bool = False):  # noqa: A002
    """``adaptive_max_pool3d(..., return_indices=True)``, as
    ``torch.nn.functional.adaptive_max_pool3d_with_indices``. ``return_indices`` is accepted and
    ignored, as in PyTorch: the pair is always returned."""
    return adaptive_max_pool3d(input, output_size, return_indices=True)


# -- linear_cross_entropy ------------------------------------------------------------------------------------------


@dataclasses.dataclass(slots=True, frozen=True)
class LinearCrossEntropyOptions:
    """The settings of PyTorch's chunked ``linear_cross_entropy`` (``torch.nn.LinearCrossEntropyOptions``),
    which saves memory on accelerators by never building all the logits at once. The result is
    the same as without them; here the logits are always built whole (NumPy on the CPU), so
    the settings are kept for PyTorch code that passes them, and change nothing."""

    allow_retain_graph: bool = False
    batch_chunk_size: int | None = None
    chunking_method: str | None = "auto"
    acc_policy: str = "auto"
    acc_dtype: object = None


def linear_cross_entropy(input, linear_weight, target, *, linear_bias=None, weight=None,  # noqa: A002
                         reduction: str = "mean", ignore_index: int | None = None, label_smoothing: float = 0.0,
                         options: LinearCrossEntropyOptions | None = None):
    """``cross_entropy(linear(input, linear_weight, linear_bias), target, ...)``, as
    ``torch.nn.functional.linear_cross_entropy``.

    Args:
        input: ``(in_features,)`` or ``(N, in_features)``.
        linear_weight: ``(C, in_features)``, or ``(C, d_1, ..., d_K, in_features)`` for a
            K-dimensional loss (batched input only): the logits are then ``(N, C, d_1, ..., d_K)``.
        target: class indices or class probabilities, as ``F.cross_entropy``'s.
        linear_bias: ``(C, d_1, ..., d_K)`` or None.
        weight: one weight per class, as ``F.cross_entropy``'s.
        reduction: "mean", "sum" or "none", as ``F.cross_entropy``'s.
        label_smoothing: as ``F.cross_entropy``'s.
        ignore_index: as ``F.cross_entropy``'s; None means -100 (and must stay None with
            class probabilities).
        options: PyTorch's chunking settings; they change nothing here (see ``LinearCrossEntropyOptions``).
    """
    from microgradnp.nn import functional as F

    x, w = _as_tensor(input), _as_tensor(linear_weight)
    if not 1 <= x.ndim <= 2:
        raise InvalidArgumentError(f"expected input with dimensionality 1 or 2, got {x.ndim}")
    if w.ndim < 2:
        raise InvalidArgumentError(f"expected linear_weight with dimensionality at least 2, got {w.ndim}")
    batches, in_features = x.shape[:-1], x.shape[-1]
    if in_features != w.shape[-1]:
        raise InvalidArgumentError("expected equal input and linear_weight last dimensions (in_features), got "
                                   f"{in_features} and {w.shape[-1]}, respectively")
    classes, out_features = w.shape[0], w.shape[1:-1]
    if linear_bias is not None and tuple(np.shape(_data(linear_bias))) != (classes, *out_features):
        raise InvalidArgumentError(f"expected linear_bias shape {(classes, *out_features)}, got "
                                   f"{tuple(np.shape(_data(linear_bias)))}")
    if out_features and not batches:
        raise InvalidArgumentError(
            f"K-dimensional loss defined by linear_weight shape {tuple(w.shape)} requires batched input, "
            f"(N, {in_features}), got unbatched input with shape {tuple(x.shape)}")
    logits_shape = (*batches, classes, *out_features)
    if tuple(np.shape(_data(target))) == logits_shape and ignore_index is not None:
        raise InvalidArgumentError("ignore_index cannot be specified when target contains probabilities")
    bias = None if linear_bias is None else ops.reshape(_as_tensor(linear_bias), (-1,))
    logits = ops.reshape(F.linear(x, ops.reshape(w, (-1, in_features)), bias), logits_shape)
    return F.cross_entropy(logits, target, weight, ignore_index=-100 if ignore_index is None else ignore_index,
                           reduction=reduction, label_smoothing=label_smoothing)


def _as_tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


class LinearCrossEntropyLoss(_WeightedLoss):
    """A linear layer to ``num_classes`` logits (``num_classes * prod(out_features)`` for a
    K-dimensional loss) and the cross-entropy of those logits, as
    ``torch.nn.LinearCrossEntropyLoss``: ``self.linear`` holds the weight (flat, as PyTorch's)
    and ``forward(input, target)`` is ``F.linear_cross_entropy`` with it.

    Args:
        in_features: the layer's input size.
        num_classes: the number of classes C.
        out_features: ``(d_1, ..., d_K)`` for a K-dimensional loss.
        bias: whether the layer has a bias.
        device: only "cpu" (or None).
        dtype: the layer's dtype.
        reduction: as ``F.linear_cross_entropy``'s.
        weight: as ``F.linear_cross_entropy``'s.
        ignore_index: as ``F.linear_cross_entropy``'s.
        label_smoothing: as ``F.linear_cross_entropy``'s.
        options: as ``F.linear_cross_entropy``'s.
        rng: the generator of the layer's initialisation.
    """

    def __init__(self, in_features: int, num_classes: int, *, out_features: tuple[int, ...] = (), bias: bool = False,
                 device=None, dtype=None, reduction: str = "mean", weight=None, ignore_index: int | None = None,
                 label_smoothing: float = 0.0, options: LinearCrossEntropyOptions | None = None, rng=None):
        check_device(device, "LinearCrossEntropyLoss")
        if weight is not None and tuple(np.shape(_data(weight))) != (num_classes,):
            raise InvalidArgumentError(f"expected weight shape to be {(num_classes,)}, got "
                                       f"{tuple(np.shape(_data(weight)))}")
        if not 0 <= label_smoothing <= 1:
            raise InvalidArgumentError(f"expected label_smoothing to be in range [0, 1], got {label_smoothing}")
        super().__init__(weight, reduction)
        self.num_classes = num_classes
        self.out_features = tuple(out_features)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing
        self.linear = Linear(in_features, math.prod(self.out_features, start=num_classes), bias=bias, dtype=dtype,
                             rng=rng)
        self.options = options

    def forward(self, input, target):  # noqa: A002  (PyTorch's argument name)
        shape = (self.num_classes, *self.out_features)
        linear_weight = ops.reshape(self.linear.weight, (*shape, self.linear.weight.shape[1]))
        linear_bias = None if self.linear.bias is None else ops.reshape(self.linear.bias, shape)
        return linear_cross_entropy(input, linear_weight, target, linear_bias=linear_bias, weight=self.weight,
                                    reduction=self.reduction, ignore_index=self.ignore_index,
                                    label_smoothing=self.label_smoothing, options=self.options)

    def extra_repr(self) -> str:
        return (f"in_features={self.linear.weight.shape[1]}, num_classes={self.num_classes}, "
                f"out_features={self.out_features}, bias={self.linear.bias is not None}, "
                f"reduction={self.reduction}, ignore_index={self.ignore_index}, "
                f"label_smoothing={self.label_smoothing}, options={self.options}")


# -- DataParallel ---------------------------------------------------------------------------------------------------


class DataParallel(Module):
    """``torch.nn.DataParallel`` on a machine without accelerators, which is what microgradnp
    always runs on: the wrapped ``module`` is called as it is (its parameters appear under
    ``module.`` in ``state_dict``, as PyTorch's), and ``device_ids`` is ``[]``."""

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0):
        super().__init__()
        for device in (*(device_ids or ()), output_device):
            if device is not None and not isinstance(device, int):
                check_device(device, "DataParallel")
        self.module = module
        self.device_ids = []

    def forward(self, *inputs, **kwargs):
        return self.module(*inputs, **kwargs)


# -- CrossMapLRN2d -------------------------------------------------------------------------------------------------


class CrossMapLRN2d(Module):
    """Local response normalization across the channels of a 4-D input ``(N, C, H, W)``, as
    ``torch.nn.CrossMapLRN2d``: ``x_c / (k + alpha / size * s_c) ** beta``, ``s_c`` the sum of
    the squares of the ``size`` channels around ``c`` (``size // 2`` before, ``(size - 1) // 2``
    after, zeros past the ends): ``F.local_response_norm`` on 4-D input.

    PyTorch's legacy implementation of this module has two bugs, not followed here: its forward
    keeps channel 0's square in ``s_c`` of every channel ``c >= (size + 1) // 2`` (its sliding
    window never drops its first entry; for an even ``size`` the window is also ``size - 1``
    wide), and its backward is not the derivative of its forward (with ``size=1`` it raises).
    For an odd ``size`` and at most ``(size + 1) // 2`` channels the two agree.
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input):  # noqa: A002  (PyTorch's argument name)
        ndim = len(np.shape(_data(input)))
        if ndim != 4:
            raise InvalidArgumentError(f"CrossMapLRN2d: Expected input to be 4D, got {ndim}D instead.")
        return local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"

