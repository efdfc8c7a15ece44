"""``nn.utils``: gradient clipping, as ``torch.nn.utils``; ``nn.utils.rnn`` pads sequences."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable

import numpy as np

from microgradnp.autograd.grad_mode import mode, records_calls, watchers
from microgradnp.nn import rnn_utils as rnn
from microgradnp.tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "rnn", "vector_to_parameters"]

# ``from microgradnp.nn.utils.rnn import pad_sequence``, PyTorch's spelling, works as well.
sys.modules.setdefault(__name__ + ".rnn", rnn)


def _grads(parameters, function: str) -> list[np.ndarray]:
    parameters = _tensors(parameters, function)
    if watchers.count and records_calls():
        # A compiled replay would skip this in-place rescaling of the gradients.
        mode.tracer.cannot_replay(f"nn.utils.{function}")
    return [p._grad for p in parameters if p._grad is not None]


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False) -> Tensor:
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

    Returns:
        The total norm before clipping, as a 0-d Tensor (0 when no parameter has a gradient).

    Raises:
        TypeError: ``parameters`` is not a Tensor or an iterable of Tensors.
        RuntimeError: the total norm is not finite and ``error_if_nonfinite`` is True.
    """
    grads = _grads(parameters, "clip_grad_norm_")
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not grads:
        return Tensor(np.array(0.0))
    dtype = np.result_type(*grads)
    if norm_type == math.inf:  # the largest magnitude
        norms = [np.max(np.abs(g)) if g.size else np.zeros((), g.dtype) for g in grads]
        total = np.max(np.stack([np.asarray(n, dtype) for n in norms]))
    else:
        norms = [np.linalg.norm(g.ravel(), ord=norm_type) for g in grads]
        total = np.linalg.norm(np.array(norms, dtype=dtype), ord=norm_type)
    total = np.asarray(total, dtype=dtype)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it cannot be "
            "clipped. To disable this error and scale the gradients by the non-finite norm anyway, set "
            "`error_if_nonfinite=False`"
        )
    with np.errstate(invalid="ignore", over="ignore"):  # a non-finite norm scales to nan, as PyTorch
        coefficient = np.minimum(dtype.type(max_norm) / (total + dtype.type(1e-6)), dtype.type(1.0))
        for g in grads:
            g *= coefficient.astype(g.dtype)
    return Tensor(total)


def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clip every gradient in place to ``[-clip_value, clip_value]``, as ``torch.nn.utils.clip_grad_value_``.

    Parameters whose ``.grad`` is None are skipped.

    Args:
        parameters: a Tensor or an iterable of Tensors (``model.parameters()``).
        clip_value: the largest magnitude allowed.

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
        raise ValueError("parameters_to_vector: no parameters given")
    return ops.concatenate([ops.reshape(p, -1) for p in parameters])


def vector_to_parameters(vector, parameters) -> None:
    """Copy consecutive slices of the 1-D ``vector`` into the parameters, in order, as
    ``torch.nn.utils.vector_to_parameters`` (the inverse of ``parameters_to_vector``). The
    values are copied into each parameter's own array, in place (its version counter
    moves, so a graph that saved the old values refuses to use them)."""
    from microgradnp.autograd.versions import bump

    parameters = _tensors(parameters, "vector_to_parameters")
    if watchers.count and records_calls():  # a compiled replay would skip these writes
        mode.tracer.cannot_replay("nn.utils.vector_to_parameters")
    values = np.asarray(vector.data if isinstance(vector, Tensor) else vector)
    if values.ndim != 1:
        raise ValueError(f"vector_to_parameters: expected a 1-D vector, got shape {values.shape}")
    needed = sum(p.data.size for p in parameters)
    if values.size != needed:
        raise ValueError(f"vector_to_parameters: the vector has {values.size} values, the parameters {needed}")
    start = 0
    for p in parameters:
        p.data[...] = values[start:start + p.data.size].reshape(p.data.shape)
        bump(p.data)
        start += p.data.size


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
