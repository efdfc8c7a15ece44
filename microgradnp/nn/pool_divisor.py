"""``divisor_override`` of ``avg_pool2d`` / ``avg_pool3d``, as PyTorch's: each window's sum
(padding adds zeros) divided by the given integer instead of the window's count.

Built from the differentiable average with ``count_include_pad=True`` times each window's own
count (as PyTorch computes that count, ``ceil_mode``'s partial windows included), so the
gradients come from the engine."""

from __future__ import annotations

import numbers

import numpy as np

from microgradnp.errors import InvalidArgumentError
from microgradnp.nn import parity as _parity
from microgradnp.ops.conv import _window_sizes, pool_geometry
from microgradnp.ops.primitive import reads_values
from microgradnp.tensor import Tensor, _data

__all__ = ["avg_pool_divided", "check_divisor"]


def check_divisor(name: str, divisor):
    """``divisor_override`` checked as PyTorch does: None, or a nonzero int (not a bool)."""
    if divisor is None:
        return None
    if isinstance(divisor, bool) or not isinstance(divisor, numbers.Integral):
        raise TypeError(f"{name}(): argument 'divisor_override' must be int, not {type(divisor).__name__}")
    if divisor == 0:
        raise InvalidArgumentError(f"{name}: divisor_override must be nonzero (PyTorch: divisor must be not zero)")
    return int(divisor)


def avg_pool_divided(name: str, input, mean_pool, ndim: int, kernel_size, stride, padding, ceil_mode,  # noqa: A002
                     divisor):
    """``sum of each window / divisor`` for ``(N, C, *spatial)`` or ``(C, *spatial)`` input.

    ``mean_pool(x, kernel_size, stride, padding, ceil_mode, count_include_pad)`` is the
    float average pooling of ``ndim`` spatial axes. int64 input gives the int64 quotient
    rounded toward zero, as PyTorch's; other integer and bool dtypes raise, as PyTorch's."""
    divisor = check_divisor(name, divisor)
    shape = tuple(np.shape(_data(input)))
    batch_shape = (1, *shape) if len(shape) == ndim + 1 else shape

    def scale():
        gs = pool_geometry(name, batch_shape, kernel_size, stride, padding, 1, ceil_mode)
        return _window_sizes(gs, True)  # each window's count with count_include_pad=True

    def float_pool(x, *_):
        mean = mean_pool(x, kernel_size, stride, padding, ceil_mode, True)  # checks the arguments first
        return mean * (scale() / divisor).astype(mean.dtype)

    if np.asarray(_data(input)).dtype == np.int64:
        reads_values(f"{name} on integers (the quotient is rounded in NumPy)")
        mean = mean_pool(Tensor(np.asarray(_data(input)).astype(np.float64)), kernel_size, stride, padding,
                         ceil_mode, True)
        sums = np.rint(np.asarray(_data(mean)) * scale()).astype(np.int64)
        quotient = np.abs(sums) // abs(divisor) * np.sign(sums) * (1 if divisor > 0 else -1)
        return Tensor(quotient.astype(np.int64), dtype=np.int64)
    return _parity.avg_pool(name, input, float_pool)
