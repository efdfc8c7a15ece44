"""More of ``torch.nn.utils``: the gradient norm in two steps (``get_total_norm``,
``clip_grads_with_norm_``), the deprecated ``clip_grad_norm``, folding BatchNorm into the layer
before it for inference (``fuse_conv_bn_eval`` and friends) and ``skip_init``."""

from __future__ import annotations

import copy
import functools
import math
import warnings
from collections.abc import Iterable

import numpy as np

from microgradnp.autograd.grad_mode import mode, records_calls, watchers
from microgradnp.errors import InvalidArgumentError
from microgradnp.nn.module import Module, Parameter
from microgradnp.ops.primitive import reads_values
from microgradnp.tensor import Tensor

__all__ = [
    "clip_grad_norm",
    "clip_grads_with_norm_",
    "fuse_conv_bn_eval",
    "fuse_conv_bn_weights",
    "fuse_linear_bn_eval",
    "fuse_linear_bn_weights",
    "get_total_norm",
    "skip_init",
]


def _tensors(parameters, function: str) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        return [parameters]
    if not isinstance(parameters, Iterable):
        raise TypeError(f"{function}: parameters must be a Tensor or an iterable of Tensors, "
                        f"got {type(parameters).__name__}")
    parameters = list(parameters)
    for p in parameters:
        if not isinstance(p, Tensor):
            raise TypeError(f"{function}: parameters must be Tensors, got a {type(p).__name__}")
    return parameters


def _grads(parameters, function: str) -> list[np.ndarray]:
    return [p._grad for p in _tensors(parameters, function) if p._grad is not None]


def rescales_gradients(function):
    """Marks ``function(parameters, ...)``, which rescales the parameters' gradients in
    place (the clipping functions): an ``mg.compile`` trace records the call and every
    replay makes it again, on the gradients that replay computed. The parameters are
    listed once, so that a generator (``model.parameters()``) is not spent by the trace."""

    @functools.wraps(function)
    def call(parameters, *args, **kwargs):
        parameters = _tensors(parameters, function.__name__)
        if watchers.count and records_calls():
            return mode.tracer.replayed_call(function, parameters, args, kwargs)
        return function(parameters, *args, **kwargs)

    return call


def get_total_norm(tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False, foreach=None) -> Tensor:
    """The ``norm_type``-norm of all ``tensors`` together (the norm of their norms), as
    ``torch.nn.utils.get_total_norm``; usually the gradients: ``[p.grad for p in params]``.

    Args:
        tensors: a Tensor or ndarray, or an iterable of them (None entries are skipped).
        norm_type: the order of the norm: a positive number or ``float("inf")``.
        error_if_nonfinite: raise when the total is nan or infinite.
        foreach: accepted for PyTorch compatibility; there is a single implementation.

    Returns:
        A 0-d Tensor (0 when there is nothing), not in the graph.

    Raises:
        RuntimeError: the total is not finite and ``error_if_nonfinite``.
    """
    if isinstance(tensors, Tensor | np.ndarray):
        tensors = [tensors]
    tensors = [t for t in tensors if t is not None]
    if any(isinstance(t, Tensor) for t in tensors):
        reads_values("nn.utils.get_total_norm")  # (NumPy on the values: an mg.compile-d function runs eagerly)
    arrays = [np.asarray(t.data if isinstance(t, Tensor) else t) for t in tensors]
    norm_type = float(norm_type)
    if not arrays:
        return Tensor(np.array(0.0))
    dtype = np.result_type(*arrays)
    if norm_type == math.inf:
        norms = [np.max(np.abs(a)) if a.size else np.zeros((), dtype) for a in arrays]
        total = np.max(np.stack([np.asarray(n, dtype) for n in norms]))
    else:
        # An overflow to inf (or 0 ** negative) is the answer, as PyTorch's, not a warning:
        # ``error_if_nonfinite`` is how a caller asks to hear about it.
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            norms = [np.linalg.norm(a.ravel(), ord=norm_type) for a in arrays]
            total = np.linalg.norm(np.array(norms, dtype=dtype), ord=norm_type)
    total = np.asarray(total, dtype=dtype)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it cannot be "
            "clipped. To disable this error and scale the gradients by the non-finite norm anyway, set "
            "`error_if_nonfinite=False`")
    return Tensor(total)


@rescales_gradients
def clip_grads_with_norm_(parameters, max_norm: float, total_norm, foreach=None) -> None:
    """Scale the gradients in place by ``min(1, max_norm / (total_norm + 1e-6))``, as
    ``torch.nn.utils.clip_grads_with_norm_``; ``total_norm`` is usually ``get_total_norm``'s.
    ``clip_grad_norm_`` is this after ``get_total_norm``.

    Raises:
        TypeError: ``parameters`` is not a Tensor or an iterable of Tensors.
    """
    grads = _grads(parameters, "clip_grads_with_norm_")
    if not grads:
        return
    dtype = np.result_type(*grads)
    total = np.asarray(total_norm.data if isinstance(total_norm, Tensor) else total_norm, dtype=dtype)
    with np.errstate(invalid="ignore", over="ignore"):  # a non-finite norm scales to nan, as PyTorch
        coefficient = np.minimum(dtype.type(max_norm) / (total + dtype.type(1e-6)), dtype.type(1.0))
        for g in grads:
            g *= coefficient.astype(g.dtype)


def clip_grad_norm(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach=None) -> Tensor:
    """Deprecated alias of ``clip_grad_norm_`` (warns with a FutureWarning), as PyTorch's."""
    from microgradnp.nn.utils import clip_grad_norm_

    warnings.warn("`nn.utils.clip_grad_norm` is now deprecated in favor of `nn.utils.clip_grad_norm_`.",
                  FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite)


def _array(value, like: np.ndarray, fill: float) -> np.ndarray:
    if value is None:
        return np.full_like(like, fill)
    return np.asarray(value.data if isinstance(value, Tensor) else value)


def fuse_conv_bn_weights(conv_w, conv_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b, transpose: bool = False):
    """The weight and bias of one convolution equal to a convolution followed by BatchNorm in
    eval mode, as ``torch.nn.utils.fuse_conv_bn_weights``: ``w * gamma / sqrt(var + eps)`` per
    output channel (axis 1 when ``transpose``, for ConvTranspose) and
    ``(b - mean) * gamma / sqrt(var + eps) + beta``. A None bias, ``bn_w`` or ``bn_b`` counts
    as 0, 1 and 0.

    Returns:
        ``(weight, bias)`` as new Parameters (``requires_grad`` as the convolution's weight).
    """
    w = np.asarray(conv_w.data if isinstance(conv_w, Tensor) else conv_w)
    mean = _array(bn_rm, None, 0.0)
    b = _array(conv_b, mean, 0.0)
    gamma, beta = _array(bn_w, mean, 1.0), _array(bn_b, mean, 0.0)
    scale = gamma / np.sqrt(_array(bn_rv, mean, 1.0) + bn_eps)
    shape = ((1, -1) if transpose else (-1, 1)) + (1,) * (w.ndim - 2)
    requires_grad = getattr(conv_w, "requires_grad", True)
    fused_w = Parameter((w * scale.reshape(shape)).astype(w.dtype), requires_grad=requires_grad)
    fused_b = Parameter(((b - mean) * scale + beta).astype(w.dtype), requires_grad=requires_grad)
    return fused_w, fused_b


def fuse_linear_bn_weights(linear_w, linear_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b):
    """The weight and bias of one Linear equal to a Linear followed by BatchNorm in eval mode, as
    ``torch.nn.utils.fuse_linear_bn_weights`` (a None bias counts as 0).

    Returns:
        ``(weight, bias)`` as new Parameters.
    """
    w = np.asarray(linear_w.data if isinstance(linear_w, Tensor) else linear_w)
    mean = _array(bn_rm, None, 0.0)
    b = _array(linear_b, mean, 0.0)
    scale = _array(bn_w, mean, 1.0) / np.sqrt(_array(bn_rv, mean, 1.0) + bn_eps)
    requires_grad = getattr(linear_w, "requires_grad", True)
    fused_w = Parameter((w * scale[..., None]).astype(w.dtype), requires_grad=requires_grad)
    fused_b = Parameter(((b - mean) * scale + _array(bn_b, mean, 0.0)).astype(w.dtype), requires_grad=requires_grad)
    return fused_w, fused_b


def _check_eval(layer: Module, bn: Module) -> None:
    if layer.training or bn.training:
        raise InvalidArgumentError("Fusion only for eval! Call .eval() on both modules first")
    if getattr(bn, "running_mean", None) is None:
        raise InvalidArgumentError("fusion needs a BatchNorm that tracks running statistics (track_running_stats=True)")


def fuse_conv_bn_eval(conv: Module, bn: Module, transpose: bool = False) -> Module:
    """A copy of ``conv`` whose weight and bias include ``bn`` (both in eval mode), as
    ``torch.nn.utils.fuse_conv_bn_eval``: ``fused(x) == bn(conv(x))``. ``transpose`` for a
    ConvTranspose layer.

    Raises:
        ValueError: a module in training mode, or a BatchNorm without running statistics.
    """
    _check_eval(conv, bn)
    fused = copy.deepcopy(conv)
    fused.weight, fused.bias = fuse_conv_bn_weights(fused.weight, fused.bias, bn.running_mean, bn.running_var,
                                                    bn.eps, bn.weight, bn.bias, transpose)
    return fused


def fuse_linear_bn_eval(linear: Module, bn: Module) -> Module:
    """A copy of ``linear`` whose weight and bias include ``bn`` (both in eval mode), as
    ``torch.nn.utils.fuse_linear_bn_eval``.

    Raises:
        ValueError: a module in training mode, a BatchNorm without running statistics, or
            ``bn.num_features`` that is neither ``linear.out_features`` nor 1.
    """
    _check_eval(linear, bn)
    if linear.out_features != bn.num_features and bn.num_features != 1:
        raise InvalidArgumentError(
            "To fuse, linear.out_features must equal bn.num_features OR bn.num_features must be 1")
    fused = copy.deepcopy(linear)
    fused.weight, fused.bias = fuse_linear_bn_weights(fused.weight, fused.bias, bn.running_mean, bn.running_var,
                                                      bn.eps, bn.weight, bn.bias)
    return fused


def skip_init(module_cls, *args, **kwargs) -> Module:
    """Build ``module_cls(*args, **kwargs)``, as ``torch.nn.utils.skip_init``, for a caller who
    sets every parameter itself. PyTorch leaves the values uninitialised; here the layer's own
    initialisation runs (there is no uninitialised memory to hand out), which is equally valid.

    Raises:
        TypeError: ``module_cls`` is not an ``nn.Module`` subclass.
    """
    if not (isinstance(module_cls, type) and issubclass(module_cls, Module)):
        raise TypeError(f"skip_init: expected an nn.Module subclass, got {module_cls!r}")
    return module_cls(*args, **kwargs)
