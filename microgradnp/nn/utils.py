"""``nn.utils``: gradient clipping, as ``torch.nn.utils``; ``nn.utils.rnn`` pads sequences."""

from __future__ import annotations

import sys

import numpy as np

from microgradnp import func as stateless
from microgradnp.autograd.grad_mode import mode, records_calls, watchers
from microgradnp.errors import InvalidArgumentError
from microgradnp.nn import parametrizations, parametrize, prune
from microgradnp.nn import rnn_utils as rnn
from microgradnp.nn.parametrizations import legacy_spectral_norm as spectral_norm
from microgradnp.nn.parametrizations import legacy_weight_norm as weight_norm
from microgradnp.nn.parametrizations import remove_spectral_norm, remove_weight_norm
from microgradnp.nn.utils_more import (
    _grads,
    _tensors,
    clip_grad_norm,
    clip_grads_with_norm_,
    fuse_conv_bn_eval,
    fuse_conv_bn_weights,
    fuse_linear_bn_eval,
    fuse_linear_bn_weights,
    get_total_norm,
    rescales_gradients,
    skip_init,
)
from microgradnp.tensor import Tensor

__all__ = ["clip_grad_norm", "clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_", "fuse_conv_bn_eval",
           "fuse_conv_bn_weights", "fuse_linear_bn_eval", "fuse_linear_bn_weights", "get_total_norm",
           "parameters_to_vector", "parametrizations", "parametrize", "prune", "remove_spectral_norm",
           "remove_weight_norm", "rnn", "skip_init", "spectral_norm", "stateless", "vector_to_parameters",
           "weight_norm"]

# ``from microgradnp.nn.utils.rnn import pad_sequence``, PyTorch's spelling, works as well (and
# ``nn.utils.parametrize``, ``nn.utils.parametrizations``, ``nn.utils.prune``, ``nn.utils.stateless``).
for _name, _module in (("rnn", rnn), ("parametrize", parametrize), ("parametrizations", parametrizations),
                       ("prune", prune), ("stateless", stateless)):
    sys.modules.setdefault(f"{__name__}.{_name}", _module)
del _name, _module


@rescales_gradients
def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach=None) -> Tensor:
    """Rescale the gradients in place so that their total norm is at most ``max_norm``, as
    ``torch.nn.utils.clip_grad_norm_``.

    The total norm is the ``norm_type``-norm of all gradients together (of the vector of
    each gradient's norm). Each gradient is multiplied by ``min(1, max_norm / (total + 1e-6))``.
    Parameters whose ``.grad`` is None are skipped.

    Args:
        parameters: a Tensor or an iterable of Tensors (``model.parameters()``).
        max_norm: the largest total norm allowed.
        norm_type: the order of the norm: a positive number or ``float("inf")``.
        error_if_nonfinite: raise rather than clip when the total norm is nan or infinite.
        foreach: accepted for PyTorch compatibility; there is a single implementation.

    Returns:
        The total norm before clipping, as a 0-d Tensor (0 when no parameter has a gradient).

    Raises:
        TypeError: ``parameters`` is not a Tensor or an iterable of Tensors.
        RuntimeError: the total norm is not finite and ``error_if_nonfinite`` is True.
    """
    total = get_total_norm(_grads(parameters, "clip_grad_norm_"), norm_type, error_if_nonfinite)
    clip_grads_with_norm_(parameters, max_norm, total)
    return total


@rescales_gradients
def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clip every gradient in place to ``[-clip_value, clip_value]``, as ``torch.nn.utils.clip_grad_value_``.

    Parameters whose ``.grad`` is None are skipped.

    Args:
        parameters: a Tensor or an iterable of Tensors (``model.parameters()``).
        clip_value: the largest magnitude allowed.
        foreach: accepted for PyTorch compatibility; there is a single implementation.

    Raises:
        TypeError: ``parameters`` is not a Tensor or an iterable of Tensors.
    """
    clip_value = float(clip_value)
    for g in _grads(parameters, "clip_grad_value_"):
        np.clip(g, -clip_value, clip_value, out=g)


def parameters_to_vector(parameters) -> Tensor:
    """The parameters flattened and joined into one 1-D tensor, in order, as
    ``torch.nn.utils.parameters_to_vector`` (in the graph: gradients flow back to them)."""
    from microgradnp import ops

    parameters = _tensors(parameters, "parameters_to_vector")
    if not parameters:
        raise InvalidArgumentError("parameters_to_vector: no parameters given")
    return ops.concatenate([ops.reshape(p, -1) for p in parameters])


def vector_to_parameters(vec, parameters) -> None:
    """Copy consecutive slices of the 1-D ``vec`` into the parameters, in order, as
    ``torch.nn.utils.vector_to_parameters`` (the inverse of ``parameters_to_vector``). The
    values are copied into each parameter's own array, in place (its version counter
    moves, so a graph that saved the old values refuses to use them)."""
    from microgradnp.autograd.versions import bump

    parameters = _tensors(parameters, "vector_to_parameters")
    if watchers.count and records_calls():  # a compiled replay would skip these writes
        mode.tracer.cannot_replay("nn.utils.vector_to_parameters")
    values = np.asarray(vec.data if isinstance(vec, Tensor) else vec)
    if values.ndim != 1:
        raise InvalidArgumentError(f"vector_to_parameters: expected a 1-D vector, got shape {values.shape}")
    needed = sum(p.data.size for p in parameters)
    if values.size != needed:
        raise InvalidArgumentError(
            f"vector_to_parameters: the vector has {values.size} values, the parameters {needed}")
    start = 0
    for p in parameters:
        p.data[...] = values[start:start + p.data.size].reshape(p.data.shape)
        bump(p.data)
        start += p.data.size


