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


class Linear(Primitive):
    """``x @ weight.T + bias`` in one node: a dense layer's whole forward, with
    ``weight`` of shape (out_features, in_features) as in PyTorch."""

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        ctx.save_for_backward(x, weight)
        out = x @ weight.T
        if bias is not None:
            out += bias
        return out

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        need_x, need_weight, need_bias = ctx.needs_input_grad
        grad_x = grad @ weight if need_x else None
        grad_weight = grad_bias = None
        if need_weight or need_bias:
            rows = grad.reshape(-1, grad.shape[-1]) if grad.ndim != 2 else grad
            if need_weight:
                grad_weight = rows.T @ (x.reshape(-1, x.shape[-1]) if x.ndim != 2 else x)
            if need_bias:
                grad_bias = rows.sum(axis=0)
        return grad_x, grad_weight, grad_bias


def linear(x, weight, bias=None):
    """``x @ weight.T + bias`` (PyTorch's ``F.linear``): weight is (out_features, in_features)."""
    return Linear.apply(x, weight, bias)
