"""1-D convolution and pooling layers on ``(N, C, L)`` input (or one unbatched ``(C, L)`` sample)."""

from __future__ import annotations

import numpy as np

from microgradnp.nn import functional as F
from microgradnp.nn.init import default_layer_init_
from microgradnp.nn.module import Module, Parameter
from microgradnp.ops.conv import conv_geometry, pool_geometry, positive_int
from microgradnp.tensor import get_default_dtype


class Conv1d(Module):
    """1-D convolution: ``(N, in_channels, L) -> (N, out_channels, L_out)``, as ``torch.nn.Conv1d``.

    ``weight`` is ``(out_channels, in_channels / groups, kernel_size)`` and ``bias``
    ``(out_channels,)``, both initialised as in PyTorch: uniform in
    ``+-1/sqrt(fan_in)`` with ``fan_in = in_channels / groups * kernel_size``.
    ``padding`` is an int, ``"valid"`` or ``"same"``; see ``nn.functional.conv1d``.
    ``rng`` (a seed or ``np.random.Generator``) makes the initialisation reproducible.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding=0,
                 dilation: int = 1, groups: int = 1, bias: bool = True, dtype=None, rng=None):
        super().__init__()
        in_channels = positive_int(in_channels, "in_channels", "Conv1d")
        out_channels = positive_int(out_channels, "out_channels", "Conv1d")
        kernel_size = positive_int(kernel_size, "kernel_size", "Conv1d")
        stride, dilation, groups = (positive_int(value, name, "Conv1d") for value, name in
                                    ((stride, "stride"), (dilation, "dilation"), (groups, "groups")))
        if not isinstance(padding, str):
            padding = positive_int(padding, "padding", "Conv1d", zero_ok=True)
        shape = (out_channels, in_channels // groups, kernel_size)
        # The rest fails here rather than at the first forward: check it against a
        # stand-in input just long enough for one window.
        conv_geometry((1, in_channels, dilation * (kernel_size - 1) + 1), shape, None, stride, padding, dilation,
                      groups)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        dtype = dtype or get_default_dtype()
        self.weight = Parameter(np.empty(shape, dtype=dtype))
        self.bias = Parameter(np.empty(out_channels, dtype=dtype)) if bias else None
        default_layer_init_(self.weight, self.bias, rng)

    def forward(self, x):
        return F.conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding not in (0, "valid"):
            text += f", padding={self.padding!r}"
        if self.dilation != 1:
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text


class _Pool1d(Module):
    """Shared settings check and display of the 1-D pooling layers."""

    op = ""

    def __init__(self, kernel_size: int, stride: int | None, padding: int, dilation: int, ceil_mode: bool):
        super().__init__()
        kernel = positive_int(kernel_size, "kernel_size", self.op)
        stride = kernel if stride is None else positive_int(stride, "stride", self.op)
        padding = positive_int(padding, "padding", self.op, zero_ok=True)
        dilation = positive_int(dilation, "dilation", self.op)
        # The rest fails here rather than at the first forward: check it against a
        # stand-in input just long enough for one window.
        pool_geometry(self.op, (1, 1, dilation * (kernel - 1) + 1), kernel, stride, padding, dilation, ceil_mode)
        self.kernel_size, self.stride, self.padding, self.dilation = kernel, stride, padding, dilation
        self.ceil_mode = ceil_mode


class MaxPool1d(_Pool1d):
    """Maximum over windows of ``kernel_size`` entries, as ``torch.nn.MaxPool1d``.

    ``stride`` defaults to ``kernel_size``; ``padding`` (at most ``kernel_size // 2``)
    adds ``-inf`` on both ends; ``ceil_mode`` keeps a last partial window that starts
    inside the input. See ``nn.functional.max_pool1d``.
    """

    op = "MaxPool1d"

    def __init__(self, kernel_size: int, stride: int | None = None, padding: int = 0, dilation: int = 1,
                 ceil_mode: bool = False):
        super().__init__(kernel_size, stride, padding, dilation, ceil_mode)

    def forward(self, x):
        return F.max_pool1d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool1d(_Pool1d):
    """Mean over windows of ``kernel_size`` entries, as ``torch.nn.AvgPool1d``.

    ``stride`` defaults to ``kernel_size``; ``padding`` (at most ``kernel_size // 2``)
    adds zeros on both ends, counted in the mean when ``count_include_pad``;
    ``ceil_mode`` keeps a last partial window that starts inside the input.
    See ``nn.functional.avg_pool1d``.
    """

    op = "AvgPool1d"

    def __init__(self, kernel_size: int, stride: int | None = None, padding: int = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True):
        super().__init__(kernel_size, stride, padding, 1, ceil_mode)
        self.count_include_pad = count_include_pad

    def forward(self, x):
        return F.avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"ceil_mode={self.ceil_mode}, count_include_pad={self.count_include_pad}")
