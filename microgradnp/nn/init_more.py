"""``nn.init.dirac_`` and ``nn.init.sparse_``, as PyTorch's (re-exported by ``nn.init``)."""

from __future__ import annotations

import math

import numpy as np

from microgradnp.errors import InvalidArgumentError
from microgradnp.tensor import Tensor, _rng


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Fill a 3-, 4- or 5-D convolution weight ``(out, in, *kernel)`` with the Dirac delta, as
    ``torch.nn.init.dirac_``: a 1 at the kernel's centre linking input channel ``d`` to output
    channel ``d`` of each of the ``groups`` groups, so the convolution passes its input through.

    Raises:
        ValueError: a tensor of another rank, or ``out`` not divisible by ``groups``.
    """
    from microgradnp.nn.init import _fill

    shape = tensor.data.shape
    if len(shape) not in (3, 4, 5):
        raise InvalidArgumentError(f"dirac_: only tensors with 3, 4, or 5 dimensions are supported, got shape {shape}")
    if groups < 1 or shape[0] % groups:
        raise InvalidArgumentError(f"dirac_: dim 0 ({shape[0]}) must be divisible by groups ({groups})")
    per_group = shape[0] // groups
    values = np.zeros(shape, dtype=tensor.data.dtype)
    centre = tuple(size // 2 for size in shape[2:])
    for g in range(groups):
        for d in range(min(per_group, shape[1])):
            values[(g * per_group + d, d, *centre)] = 1
    return _fill(tensor, values)


def sparse_(tensor: Tensor, sparsity: float, std: float = 0.01, rng=None) -> Tensor:
    """Fill a 2-D tensor from N(0, std^2) and zero ``ceil(sparsity * rows)`` random entries of
    every column, as ``torch.nn.init.sparse_`` (Martens, 2010); ``rng`` seeds it.

    Raises:
        ValueError: a tensor that is not 2-D, or ``sparsity`` outside [0, 1].
    """
    from microgradnp.nn.init import _check_floating, _fill

    _check_floating(tensor, "sparse_")
    shape = tensor.data.shape
    if len(shape) != 2:
        raise InvalidArgumentError(f"sparse_: only tensors with 2 dimensions are supported, got shape {shape}")
    if not 0 <= sparsity <= 1:
        raise InvalidArgumentError(f"sparse_: sparsity must be in [0, 1], got {sparsity}")
    rng = _rng(rng)
    rows, cols = shape
    values = rng.normal(0.0, std, shape)
    zeros = math.ceil(sparsity * rows)
    for col in range(cols):
        values[rng.permutation(rows)[:zeros], col] = 0
    return _fill(tensor, values)
