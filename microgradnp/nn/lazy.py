"""Lazy convolutions and normalizations, as PyTorch's ``torch.nn.LazyConv*d``,
``LazyConvTranspose*d``, ``LazyBatchNorm*d`` and ``LazyInstanceNorm*d``.

They follow ``nn.LazyLinear``: until the first call the Parameters (and the running
statistics) are empty placeholders of shape ``(0,)`` and ``in_channels`` / ``num_features``
is 0; the first call reads the channels from its input (axis 1, or axis 0 of an unbatched
input), gives the placeholders the values of the eager layer built with those channels and
the same arguments (the same ``rng``: the same initialisation), keeping the same Parameter
objects, and the module becomes that eager class (``cls_to_become``). As in PyTorch, build
the optimizer and load a ``state_dict`` after that first call (a dry run with one batch).
"""

from __future__ import annotations

import inspect

import numpy as np

from microgradnp.autograd.grad_mode import untraced
from microgradnp.autograd.versions import bump
from microgradnp.device import check_device
from microgradnp.errors import InvalidArgumentError
from microgradnp.nn.conv import Conv1d, Conv2d
from microgradnp.nn.extra_layers import (
    ConvTranspose1d,
    ConvTranspose2d,
    ConvTranspose3d,
    InstanceNorm1d,
    InstanceNorm2d,
    InstanceNorm3d,
)
from microgradnp.nn.module import Parameter
from microgradnp.nn.more_layers import Conv3d
from microgradnp.nn.normalization import BatchNorm1d, BatchNorm2d, BatchNorm3d
from microgradnp.tensor import Tensor, _data, get_default_dtype

__all__ = [
    "LazyBatchNorm1d",
    "LazyBatchNorm2d",
    "LazyBatchNorm3d",
    "LazyConv1d",
    "LazyConv2d",
    "LazyConv3d",
    "LazyConvTranspose1d",
    "LazyConvTranspose2d",
    "LazyConvTranspose3d",
    "LazyInstanceNorm1d",
    "LazyInstanceNorm2d",
    "LazyInstanceNorm3d",
    "UninitializedBuffer",
    "UninitializedParameter",
]


class UninitializedTensorMixin:
    """What the placeholders of a lazy module have in common, as PyTorch's: ``materialize``
    gives them a shape, and they become ``cls_to_become`` (the first call of a lazy module does
    it for its own). Until then they hold an empty ``(0,)`` array (PyTorch refuses to read
    an uninitialized one; here its shape is ``(0,)``, as before the first call)."""

    cls_to_become: type

    def materialize(self, shape, device=None, dtype=None) -> None:
        """Give this placeholder ``shape`` (zeros; PyTorch leaves them uninitialised) and
        ``dtype`` (its own when None), and make it a ``cls_to_become``, keeping the object."""
        check_device(device, f"{type(self).__name__}.materialize")
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        self._become(np.zeros(shape, dtype=self.data.dtype if dtype is None else np.dtype(dtype)))

    def _become(self, values: np.ndarray) -> None:
        self.data = values
        bump(self.data)
        object.__setattr__(self, "__class__", self.cls_to_become)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    def __deepcopy__(self, memo):
        # Tensor's copy of every attribute (Parameter's calls the constructor, whose
        # arguments differ here), so that copy.deepcopy of a lazy module works.
        return Tensor.__deepcopy__(self, memo)


class UninitializedParameter(UninitializedTensorMixin, Parameter):
    """A Parameter whose shape is not known yet, as ``torch.nn.UninitializedParameter``: the
    weights of a lazy module before its first call; it becomes a ``Parameter``."""

    cls_to_become = Parameter

    def __init__(self, requires_grad: bool = True, device=None, dtype=None):
        check_device(device, "UninitializedParameter")
        super().__init__(np.empty((0,), dtype=get_default_dtype() if dtype is None else np.dtype(dtype)),
                         requires_grad=requires_grad)


class UninitializedBuffer(UninitializedTensorMixin, Tensor):
    """A buffer whose shape is not known yet, as ``torch.nn.UninitializedBuffer``: the running
    statistics of a lazy normalization before its first call; it becomes a ``Tensor``."""

    cls_to_become = Tensor

    def __init__(self, requires_grad: bool = False, device=None, dtype=None, persistent: bool = True):
        check_device(device, "UninitializedBuffer")
        dtype = get_default_dtype() if dtype is None else np.dtype(dtype)
        super().__init__(np.empty((0,), dtype=dtype), requires_grad=requires_grad, dtype=dtype)
        self.persistent = persistent


class _LazyMixin:
    """The shared first call of the lazy layers (a mixin before the eager class)."""

    cls_to_become: type
    _inferred = ""  # the attribute the first call sets: "in_channels" or "num_features"

    def has_uninitialized_params(self) -> bool:
        """Whether the first call has not happened yet."""
        return isinstance(self, _LazyMixin)

    def _keep_arguments(self, kwargs: dict) -> None:
        object.__setattr__(self, "_lazy_kwargs", kwargs)

    def _placeholders(self) -> None:
        """Empty ``(0,)`` Parameters and running statistics in place of the stand-in's, and 0 channels."""
        for name, parameter in list(self._parameters.items()):
            if parameter is not None:
                setattr(self, name, UninitializedParameter(parameter.requires_grad, dtype=parameter.data.dtype))
        for name in ("running_mean", "running_var"):
            buffer = self._buffers.get(name)
            if buffer is not None:
                setattr(self, name, UninitializedBuffer(dtype=buffer.data.dtype))
        object.__setattr__(self, self._inferred, 0)

    def _channels(self, x) -> int:  # pragma: no cover - each family defines it
        raise NotImplementedError

    def forward(self, x, *args, **kwargs):
        channels = self._channels(x)
        arguments = dict(self.__dict__["_lazy_kwargs"])
        # A .to(dtype) / .double() before the first call converted the placeholders: follow them.
        for tensor in (*self._parameters.values(), *self._buffers.values()):
            if tensor is not None and tensor.data.dtype.kind in "fc":
                arguments["dtype"] = tensor.data.dtype
                break
        with untraced():  # (the one-time set-up: an mg.compile trace runs it, replays need not)
            eager = self.cls_to_become(channels, **arguments)
            for own, new in ((self._parameters, eager._parameters), (self._buffers, eager._buffers)):
                for name, value in new.items():
                    if value is None or own.get(name) is None:
                        continue
                    if isinstance(own[name], UninitializedTensorMixin):  # (it becomes a Parameter or Tensor)
                        own[name]._become(value.data)
                    else:
                        own[name].data = value.data
                        bump(own[name].data)
        del self.__dict__["_lazy_kwargs"]
        object.__setattr__(self, self._inferred, channels)
        object.__setattr__(self, "__class__", self.cls_to_become)
        return self.forward(x, *args, **kwargs)


# == convolutions =================================================================================
class _LazyConv(_LazyMixin):
    _inferred = "in_channels"

    def __init_subclass__(cls, **kwargs):
        # class LazyConv2d(_LazyConv, Conv2d): becomes a Conv2d, with Conv2d's arguments but in_channels.
        super().__init_subclass__(**kwargs)
        cls.cls_to_become = eager = cls.__bases__[1]
        cls.__init__ = _lazy_init(eager)

    def _lazy_conv_init(self, out_channels, **kwargs) -> None:
        kwargs["dtype"] = kwargs.get("dtype") or get_default_dtype()
        rng = kwargs.pop("rng")
        # The eager layer's checks of the settings, on a stand-in with in_channels=groups
        # initialised from a throwaway generator (the global one is left for the first call).
        groups = kwargs.get("groups", 1)
        self.cls_to_become.__init__(self, groups if isinstance(groups, int) and groups > 0 else 1, out_channels,
                                    rng=np.random.default_rng(0), **kwargs)
        self._placeholders()
        self._keep_arguments({"out_channels": out_channels, **kwargs, "rng": rng})

    def _channels(self, x) -> int:
        shape, ndim = np.shape(_data(x)), self.ndim
        if len(shape) not in (ndim + 1, ndim + 2):
            raise InvalidArgumentError(
                f"{type(self).__name__}: expected {ndim + 1}D (unbatched) or {ndim + 2}D (batched) input, but got "
                f"input of shape {list(shape)}")
        channels = shape[1] if len(shape) == ndim + 2 else shape[0]
        if channels % self.groups:
            raise InvalidArgumentError(
                f"{type(self).__name__}: in_channels must be divisible by groups, but the input has {channels} "
                f"channels and groups={self.groups}")
        return channels


def _lazy_init(eager):
    """A lazy layer's ``__init__``: the eager class's signature without ``in_channels``
    (PyTorch's order, which differs between convolutions and transposed ones)."""
    signature = inspect.signature(eager.__init__)
    signature = signature.replace(parameters=[p for name, p in signature.parameters.items() if name != "in_channels"])

    def __init__(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        arguments = {name: value for name, value in bound.arguments.items() if name != "self"}
        self._lazy_conv_init(**arguments)

    __init__.__signature__ = signature
    return __init__


class LazyConv1d(_LazyConv, Conv1d):
    """A ``Conv1d`` whose ``in_channels`` is read from its first input, as ``torch.nn.LazyConv1d``."""


class LazyConv2d(_LazyConv, Conv2d):
    """A ``Conv2d`` whose ``in_channels`` is read from its first input, as ``torch.nn.LazyConv2d``."""


class LazyConv3d(_LazyConv, Conv3d):
    """A ``Conv3d`` whose ``in_channels`` is read from its first input, as ``torch.nn.LazyConv3d``."""


class LazyConvTranspose1d(_LazyConv, ConvTranspose1d):
    """A ``ConvTranspose1d`` whose ``in_channels`` is read from its first input, as ``torch.nn.LazyConvTranspose1d``
    (``forward(input, output_size=None)`` as the eager one's)."""


class LazyConvTranspose2d(_LazyConv, ConvTranspose2d):
    """A ``ConvTranspose2d`` whose ``in_channels`` is read from its first input, as ``torch.nn.LazyConvTranspose2d``
    (``forward(input, output_size=None)`` as the eager one's)."""


class LazyConvTranspose3d(_LazyConv, ConvTranspose3d):
    """A ``ConvTranspose3d`` whose ``in_channels`` is read from its first input, as ``torch.nn.LazyConvTranspose3d``
    (``forward(input, output_size=None)`` as the eager one's)."""


# == normalizations ===============================================================================
class _LazyNorm(_LazyMixin):
    _inferred = "num_features"

    def __init__(self, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, dtype=None, *, bias: bool = True, device=None):
        check_device(device, type(self).__name__)
        # PyTorch's defaults for every lazy normalization, LazyInstanceNorm*d included:
        # affine=True and track_running_stats=True.
        kwargs = {"eps": eps, "momentum": momentum, "affine": affine, "track_running_stats": track_running_stats,
                  "dtype": dtype or get_default_dtype(), "bias": bias}
        self.cls_to_become.__init__(self, 0, **kwargs)  # (0,)-shaped weight, bias and running statistics
        self._placeholders()
        self._keep_arguments(kwargs)


class _LazyBatchNorm(_LazyNorm):
    def _channels(self, x) -> int:
        ndim = len(np.shape(_data(x)))
        if ndim not in self._dims:
            expected = " or ".join(f"{d}D" for d in self._dims)
            raise InvalidArgumentError(f"{type(self).__name__}: expected {expected} input (got {ndim}D input)")
        return np.shape(_data(x))[1]


class LazyBatchNorm1d(_LazyBatchNorm, BatchNorm1d):
    """A ``BatchNorm1d`` whose ``num_features`` is read from its first input (axis 1), as
    ``torch.nn.LazyBatchNorm1d`` (the arguments are ``BatchNorm1d``'s without ``num_features``)."""

    cls_to_become = BatchNorm1d


class LazyBatchNorm2d(_LazyBatchNorm, BatchNorm2d):
    """A ``BatchNorm2d`` whose ``num_features`` is read from its first input, as ``torch.nn.LazyBatchNorm2d``."""

    cls_to_become = BatchNorm2d


class LazyBatchNorm3d(_LazyBatchNorm, BatchNorm3d):
    """A ``BatchNorm3d`` whose ``num_features`` is read from its first input, as ``torch.nn.LazyBatchNorm3d``."""

    cls_to_become = BatchNorm3d


class _LazyInstanceNorm(_LazyNorm):
    def _channels(self, x) -> int:
        shape, spatial = np.shape(_data(x)), self._spatial
        if len(shape) not in (spatial + 1, spatial + 2):
            raise InvalidArgumentError(
                f"{type(self).__name__}: expected {spatial + 1}D or {spatial + 2}D input (got {len(shape)}D input)")
        # The channels of an unbatched input are its axis 0 (PyTorch reads axis 1 even then).
        return shape[1] if len(shape) == spatial + 2 else shape[0]


class LazyInstanceNorm1d(_LazyInstanceNorm, InstanceNorm1d):
    """An ``InstanceNorm1d`` whose ``num_features`` is read from its first input, as
    ``torch.nn.LazyInstanceNorm1d`` (whose defaults are ``affine=True, track_running_stats=True``,
    unlike the eager class's)."""

    cls_to_become = InstanceNorm1d


class LazyInstanceNorm2d(_LazyInstanceNorm, InstanceNorm2d):
    """An ``InstanceNorm2d`` whose ``num_features`` is read from its first input, as ``torch.nn.LazyInstanceNorm2d``."""

    cls_to_become = InstanceNorm2d


class LazyInstanceNorm3d(_LazyInstanceNorm, InstanceNorm3d):
    """An ``InstanceNorm3d`` whose ``num_features`` is read from its first input, as ``torch.nn.LazyInstanceNorm3d``."""

    cls_to_become = InstanceNorm3d
