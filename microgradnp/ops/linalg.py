"""Matrix products."""

from __future__ import annotations

import math

import numpy as np

from microgradnp.ops.elementwise import Mul
from microgradnp.ops.primitive import Primitive
from microgradnp.ops.shape import Reshape, Transpose
from microgradnp.tensor import Tensor


def _swap_last(x):
    return x.T if x.ndim == 2 else np.swapaxes(x, -1, -2)


class MatMul(Primitive):
    _writes_out = True

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.matmul(a, b, out=ctx._out)

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


def dot(a, b):
    """``np.dot``'s product, differentiable: scalars multiply, 1-D with 1-D is the inner
    product, 2-D with 2-D the matrix product, N-D with 1-D sums over the last axis of
    ``a``, and N-D with M-D (M >= 2) sums over the last axis of ``a`` and the
    second-to-last of ``b`` (every leading axis of both is kept, without ``@``'s
    broadcasting): ``out[i, j, k, m] = sum(a[i, j, :] * b[k, :, m])``.

    Built from reshape, transpose and matmul, so the gradient (and higher ones) come
    from those primitives.
    """
    a = a if isinstance(a, Tensor) else np.asarray(a)
    b = b if isinstance(b, Tensor) else np.asarray(b)
    a_shape, b_shape = a.shape, b.shape
    if not a_shape or not b_shape:
        return Mul.apply(a, b)
    if len(a_shape) == 1 or len(b_shape) == 1 or len(a_shape) == len(b_shape) == 2:
        # Here ``@`` is np.dot: a 1-D operand is contracted as a row (left) or column (right).
        if a_shape[-1] != b_shape[-1 if len(b_shape) == 1 else -2]:
            _not_aligned(a_shape, b_shape)
        return MatMul.apply(a, b)
    if a_shape[-1] != b_shape[-2]:
        _not_aligned(a_shape, b_shape)
    k, b_lead = a_shape[-1], len(b_shape) - 2
    rows = Reshape.apply(a, shape=(math.prod(a_shape[:-1]), k))
    # b's contracted axis first, then its other axes in order: (k, *b_shape[:-2], m).
    columns = Transpose.apply(b, axes=(b_lead, *range(b_lead), b_lead + 1))
    columns = Reshape.apply(columns, shape=(k, math.prod(b_shape[:-2]) * b_shape[-1]))
    return Reshape.apply(MatMul.apply(rows, columns), shape=a_shape[:-1] + b_shape[:-2] + b_shape[-1:])


def _not_aligned(a_shape, b_shape):
    axis = len(b_shape) - 1 if len(b_shape) == 1 else len(b_shape) - 2
    raise ValueError(
        f"dot: shapes {a_shape} and {b_shape} not aligned: {a_shape[-1]} (dim {len(a_shape) - 1}) "
        f"!= {b_shape[axis]} (dim {axis})"
    )


class Linear(Primitive):
    """``x @ weight.T + bias`` in one node: a dense layer's whole forward, with
    ``weight`` of shape (out_features, in_features) as in PyTorch.

    A 3-D ``weight`` (members, out_features, in_features) with a bias (members, 1,
    out_features) is ``nn.Ensemble``'s stack of layers: member ``m`` computes
    ``x[m] @ weight[m].T + bias[m]`` (``x`` of shape (members, N, in_features), or (N,
    in_features) shared by all), and each member's matrix products are the same BLAS
    calls on the same memory layout as a single layer's, so its numbers are too.
    """

    _writes_out = True

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        ctx.save_for_backward(x, weight)
        out = np.matmul(x, weight.T if weight.ndim == 2 else weight.swapaxes(-1, -2), out=ctx._out)
        if bias is not None:
            out += bias
        return out

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        need_x, need_weight, need_bias = ctx.needs_input_grad
        grad_x = None
        if need_x:
            # With one output feature, grad @ weight is an outer product: one rounded product
            # per element however it is computed, and NumPy's matmul loop is slow for it.
            grad_x = grad * weight if weight.shape[-2] == 1 else grad @ weight
        grad_weight = grad_bias = None
        if weight.ndim == 3:  # an ensemble's members: each one's gradients from its own rows
            if need_weight:
                grad_weight = grad.swapaxes(-1, -2) @ x
            if need_bias:
                grad_bias = grad.sum(axis=-2, keepdims=True)
        elif need_weight or need_bias:
            rows = grad.reshape(-1, grad.shape[-1]) if grad.ndim != 2 else grad
            if need_weight:
                grad_weight = rows.T @ (x.reshape(-1, x.shape[-1]) if x.ndim != 2 else x)
            if need_bias:
                grad_bias = rows.sum(axis=0)
        return grad_x, grad_weight, grad_bias


def linear(x, weight, bias=None):
    """``x @ weight.T + bias`` (PyTorch's ``F.linear``): weight is (out_features, in_features)."""
    return Linear.apply(x, weight, bias)
