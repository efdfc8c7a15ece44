"""Matrix products."""

from __future__ import annotations

import numpy as np

from microgradnp.ops.primitive import Primitive


def _swap_last(x):
    return x.T if x.ndim == 2 else np.swapaxes(x, -1, -2)


class MatMul(Primitive):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        if a.ndim == 2 and b.ndim == 2:
            return (grad @ b.T if need_a else None), (a.T @ grad if need_b else None)
        # A 1-D operand acts as a row (left) or column (right) matrix; give the
        # gradient that axis back, multiply as matrices, then drop it again.
        if a.ndim == 1:
            grad = np.expand_dims(grad, -2 if b.ndim > 1 else 0)
        if b.ndim == 1:
            grad = np.expand_dims(grad, -1)
        a2 = a.reshape(1, -1) if a.ndim == 1 else a
        b2 = b.reshape(-1, 1) if b.ndim == 1 else b
        grad_a = grad_b = None
        if need_a:
            grad_a = grad @ _swap_last(b2)
            grad_a = np.squeeze(grad_a, -2) if a.ndim == 1 and grad_a.ndim > 1 else grad_a
        if need_b:
            grad_b = _swap_last(a2) @ grad
            grad_b = np.squeeze(grad_b, -1) if b.ndim == 1 else grad_b
        return grad_a, grad_b


def matmul(a, b):
    """Matrix product with NumPy's ``@`` rules (1-D operands, batched leading axes)."""
    return MatMul.apply(a, b)
