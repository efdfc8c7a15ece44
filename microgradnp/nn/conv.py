"""Convolution and pooling layers on ``(N, C, L)`` (1-D) or ``(N, C, H, W)`` (2-D) input, or one
unbatched sample without the ``N`` axis."""

from __future__ import annotations

import numpy as np

from microgradnp.errors import InvalidArgumentError
from microgradnp.nn import functional as F
from microgradnp.nn.init import default_layer_init_
from microgradnp.nn.module import Module, Parameter
from microgradnp.ops.conv import conv_geometry, pool_geometry, positive_int, positive_ints
from microgradnp.tensor import get_default_dtype

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _per_axis(value, ndim: int) -> tuple:
    return tuple(value) if isinstance(value, tuple) else (value,) * ndim


class Conv1d(Module):
    """1-D convolution: ``(N, in_channels, L) -> (N, out_channels, L_out)``, as ``torch.nn.Conv1d``.

    ``weight`` is ``(out_channels, in_channels / groups, kernel_size)`` and ``bias``
    ``(out_channels,)``, both initialised as in PyTorch: uniform in
    ``+-1/sqrt(fan_in)`` with ``fan_in = in_channels / groups * kernel_size``.
    ``padding`` is an int, ``"valid"`` or ``"same"``; see ``nn.functional.conv1d``.
    ``padding_mode`` is ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"``, as in
    PyTorch (the other modes pad the input with ``nn.functional.pad`` before the convolution).
    ``rng`` (a seed or ``np.random.Generator``) makes the initialisation reproducible.
    """

    ndim = 1
    transposed = False  # PyTorch's flag telling the convolutions from the transposed ones

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros", dtype=None, rng=None):
        super().__init__()
        name, ndim = type(self).__name__, self.ndim
        in_channels = positive_int(in_channels, "in_channels", name)
        out_channels = positive_int(out_channels, "out_channels", name)
        # Settings per axis as PyTorch's _single/_pair/_triple keep them: Conv2d(3, 8, 3).kernel_size
        # is (3, 3), so code written for torch can index them; a padding string stays a string.
        kernel_size, stride, dilation = (positive_ints(value, what, name, ndim) for value, what in
                                         ((kernel_size, "kernel_size"), (stride, "stride"), (dilation, "dilation")))
        groups = positive_int(groups, "groups", name)
        if not isinstance(padding, str):
            padding = positive_ints(padding, "padding", name, ndim, zero_ok=True)
        if padding_mode not in _PADDING_MODES:
            raise InvalidArgumentError(
                f"{name}: padding_mode must be one of {_PADDING_MODES}, but got padding_mode={padding_mode!r}")
        shape = (out_channels, in_channels // groups, *kernel_size)
        # The rest fails here rather than at the first forward: check it against a
        # stand-in input just long enough for one window.
        spans = [d * (k - 1) + 1 for d, k in zip(dilation, kernel_size, strict=True)]
        conv_geometry((1, in_channels, *spans), shape, None, stride, padding, dilation, groups)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        self.output_padding, self.padding_mode = (0,) * ndim, padding_mode
        # PyTorch's _reversed_padding_repeated_twice: F.pad widths, last axis first; "same"
        # puts the odd extra element on the right, as PyTorch does. PyTorch builds it as a
        # list for a padding string and a tuple otherwise; the same types here, so it compares equal.
        if padding == "same":
            totals = [d * (k - 1) for d, k in zip(dilation, kernel_size, strict=True)]
            pairs = [(t // 2, t - t // 2) for t in totals]
        else:
            pairs = [(p, p) for p in ((0,) * ndim if padding == "valid" else padding)]
        widths = [w for pair in reversed(pairs) for w in pair]
        self._reversed_padding_repeated_twice = widths if isinstance(padding, str) else tuple(widths)
        dtype = dtype or get_default_dtype()
        self.weight = Parameter(np.empty(shape, dtype=dtype))
        self.bias = Parameter(np.empty(out_channels, dtype=dtype)) if bias else None
        default_layer_init_(self.weight, self.bias, rng)

    def _padded(self, x):
        """The input and the padding to convolve it with: a ``padding_mode`` other than zeros
        pads the input itself (``nn.functional.pad``), then the convolution adds none."""
        if self.padding_mode == "zeros":
            return x, self.padding
        return F.pad(x, self._reversed_padding_repeated_twice, mode=self.padding_mode), 0

    def _conv_forward(self, input, weight, bias):  # noqa: A002  (PyTorch's argument name)
        """The layer's convolution of ``input`` with a given ``weight`` and ``bias``, as PyTorch's
        ``_conv_forward``: subclasses that transform the weight first (weight standardisation,
        as timm's ``StdConv2d``) call it from their ``forward``."""
        conv = (F.conv1d, F.conv2d, F.conv3d)[self.ndim - 1]
        padded, padding = self._padded(input)
        return conv(padded, weight, bias, self.stride, padding, self.dilation, self.groups)

    def forward(self, x):
        return self._conv_forward(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        """PyTorch's text, shared with the transposed convolutions: the settings that differ from
        their defaults (a padding string is shown bare, ``padding=same``, and even when "valid")."""
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self.ndim:
            text += f", padding={self.padding}"
        if self.dilation != (1,) * self.ndim:
            text += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self.ndim:
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode}"
        return text


class Conv2d(Conv1d):
    """2-D convolution: ``(N, in_channels, H, W) -> (N, out_channels, H_out, W_out)``, as ``torch.nn.Conv2d``.

    ``weight`` is ``(out_channels, in_channels / groups, kH, kW)`` and ``bias``
    ``(out_channels,)``, both initialised as in PyTorch: uniform in
    ``+-1/sqrt(fan_in)`` with ``fan_in = in_channels / groups * kH * kW``.
    ``kernel_size``, ``stride``, ``padding`` and ``dilation`` are an int (both axes) or a
    pair ``(along H, along W)``; ``padding`` may also be ``"valid"`` or ``"same"``; see
    ``nn.functional.conv2d``. ``padding_mode``: ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"``.
    ``rng`` (a seed or ``np.random.Generator``) makes the initialisation reproducible.
    """

    ndim = 2


class _Pool1d(Module):
    """Shared settings check and display of the pooling layers."""

    op = ""
    ndim = 1
    # PyTorch's MaxPool1d/2d/3d and AvgPool2d/3d keep their settings as given (MaxPool2d(3).kernel_size
    # is 3, a list stays a list); AvgPool1d alone keeps them as 1-tuples (_single).
    _tupled_settings = False

    def __init__(self, kernel_size, stride, padding, dilation, ceil_mode: bool):
        super().__init__()
        op, ndim = self.op, self.ndim
        given = {"kernel_size": kernel_size, "stride": kernel_size if stride is None else stride,
                 "padding": padding, "dilation": dilation}
        axes = {what: positive_ints(value, what, op, ndim, zero_ok=what == "padding") for what, value in given.items()}
        # The rest fails here rather than at the first forward: check it against a
        # stand-in input just long enough for one window.
        spans = [d * (k - 1) + 1 for d, k in zip(axes["dilation"], axes["kernel_size"], strict=True)]
        pool_geometry(op, (1, 1, *spans), *axes.values(), ceil_mode)
        kept = axes if self._tupled_settings else given
        self.kernel_size, self.stride, self.padding, self.dilation = kept.values()
        self.ceil_mode = ceil_mode

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool1d(_Pool1d):
    """Maximum over windows of ``kernel_size`` entries, as ``torch.nn.MaxPool1d``.

    ``stride`` defaults to ``kernel_size``; ``padding`` (at most ``kernel_size // 2``)
    adds ``-inf`` on both ends; ``ceil_mode`` keeps a last partial window that starts
    inside the input; ``return_indices`` also returns the position of each maximum (for
    ``MaxUnpool1d``). Arguments in PyTorch's order. See ``nn.functional.max_pool1d``.
    """

    op = "MaxPool1d"

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices: bool = False,
                 ceil_mode: bool = False):
        super().__init__(kernel_size, stride, padding, dilation, ceil_mode)
        self.return_indices = bool(return_indices)

    def forward(self, x):
        pool = F.max_pool1d if self.ndim == 1 else F.max_pool2d
        return pool(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode, self.return_indices)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, dilation={self.dilation}, ceil_mode={self.ceil_mode}"


class MaxPool2d(MaxPool1d):
    """Maximum over ``kH x kW`` windows of ``(N, C, H, W)``, as ``torch.nn.MaxPool2d``.

    ``kernel_size``, ``stride`` (default: ``kernel_size``), ``padding`` (at most half the
    kernel, ``-inf``) and ``dilation`` are an int (both axes) or a pair; ``ceil_mode`` keeps
    a last partial window that starts inside the input. See ``nn.functional.max_pool2d``.
    """

    op = "MaxPool2d"
    ndim = 2


class AvgPool1d(_Pool1d):
    """Mean over windows of ``kernel_size`` entries, as ``torch.nn.AvgPool1d``.

    ``stride`` defaults to ``kernel_size``; ``padding`` (at most ``kernel_size // 2``)
    adds zeros on both ends, counted in the mean when ``count_include_pad``;
    ``ceil_mode`` keeps a last partial window that starts inside the input.
    See ``nn.functional.avg_pool1d``.
    """

    op = "AvgPool1d"
    _tupled_settings = True

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True):
        super().__init__(kernel_size, stride, padding, 1, ceil_mode)
        self.count_include_pad = count_include_pad

    def forward(self, x):
        pool = F.avg_pool1d if self.ndim == 1 else F.avg_pool2d
        return pool(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)


class AvgPool2d(AvgPool1d):
    """Mean over ``kH x kW`` windows of ``(N, C, H, W)``, as ``torch.nn.AvgPool2d``.

    ``kernel_size``, ``stride`` (default: ``kernel_size``) and ``padding`` (at most half the
    kernel, zeros, counted in the mean when ``count_include_pad``) are an int (both axes)
    or a pair; ``ceil_mode`` keeps a last partial window that starts inside the input;
    ``divisor_override`` (a nonzero int) divides each window's sum by it instead.
    See ``nn.functional.avg_pool2d``.
    """

    op = "AvgPool2d"
    ndim = 2
    _tupled_settings = False

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override=None):
        from microgradnp.nn.pool_divisor import check_divisor

        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad)
        self.divisor_override = check_divisor("AvgPool2d", divisor_override)

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                            self.divisor_override)


class AdaptiveAvgPool1d(Module):
    """Means over ``output_size`` windows covering the length of ``(N, C, L)`` as evenly
    as they can, as ``torch.nn.AdaptiveAvgPool1d`` (``nn.functional.adaptive_avg_pool1d``)."""

    ndim = 1

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        pool = F.adaptive_avg_pool1d if self.ndim == 1 else F.adaptive_avg_pool2d
        return pool(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool2d(AdaptiveAvgPool1d):
    """Means over ``output_size`` (an int or a pair; None keeps an axis) windows of
    ``(N, C, H, W)``, as ``torch.nn.AdaptiveAvgPool2d``: ``AdaptiveAvgPool2d(1)`` is
    global average pooling (``nn.functional.adaptive_avg_pool2d``)."""

    ndim = 2
