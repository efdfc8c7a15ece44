"""The built-in primitives, grouped by kind, and the functions that apply them.

Each primitive is a small ``Function`` subclass holding its forward and its
vector-Jacobian rule side by side.
"""

from __future__ import annotations

import numpy as np

from microgradnp.ops.activations import (
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
    leaky_relu,
    log_softmax,
    relu,
    sigmoid,
    softmax,
    tanh,
)
from microgradnp.ops.elementwise import (
    Abs,
    Add,
    Clip,
    Cos,
    Div,
    Exp,
    Log,
    Maximum,
    Minimum,
    Mul,
    Neg,
    Pow,
    Sin,
    Sqrt,
    Sub,
    Where,
    abs,
    add,
    clip,
    cos,
    divide,
    exp,
    log,
    maximum,
    minimum,
    multiply,
    negative,
    power,
    sin,
    sqrt,
    subtract,
    where,
)
from microgradnp.ops.indexing import GetItem, ScatterAdd, getitem
from microgradnp.ops.linalg import MatMul, matmul
from microgradnp.ops.reductions import LogSumExp, Max, Mean, Min, Sum, Var, logsumexp, max, mean, min, sum, var
from microgradnp.ops.shape import (
    BroadcastTo,
    Concatenate,
    Copy,
    Pad,
    Reshape,
    Transpose,
    broadcast_to,
    concatenate,
    expand_dims,
    flatten,
    pad,
    reshape,
    squeeze,
    stack,
    swapaxes,
    transpose,
)

#: Functions that are also Tensor methods (``t.exp()``, ``t.sum(axis=0)``...).
METHODS = (  # noqa: SIM905  (a word list reads like the docs)
    "exp log sqrt abs sin cos tanh sigmoid relu leaky_relu clip sum mean var max min "
    "reshape transpose swapaxes flatten squeeze expand_dims broadcast_to pad "
    "softmax log_softmax logsumexp matmul maximum minimum"
).split()


def attach_methods(tensor_class) -> None:
    for name in METHODS:
        setattr(tensor_class, name, globals()[name])


def ufunc_table(compare, on_data) -> dict:
    """NumPy ufuncs a Tensor answers differentiably (or, for comparisons, as bool tensors)."""
    table = {
        np.add: add,
        np.subtract: subtract,
        np.multiply: multiply,
        np.divide: divide,
        np.power: power,
        np.negative: negative,
        np.positive: lambda x: x,
        np.exp: exp,
        np.log: log,
        np.sqrt: sqrt,
        np.absolute: abs,
        np.sin: sin,
        np.cos: cos,
        np.tanh: tanh,
        np.maximum: maximum,
        np.minimum: minimum,
        np.matmul: matmul,
        np.square: lambda x: multiply(x, x),
        np.reciprocal: lambda x: divide(1.0, x),
    }
    for ufunc in (np.less, np.less_equal, np.greater, np.greater_equal, np.equal, np.not_equal):
        table[ufunc] = lambda a, b, ufunc=ufunc: compare(ufunc, a, b)
    for ufunc in (np.isfinite, np.isnan, np.isinf, np.sign, np.floor, np.ceil, np.rint):
        table[ufunc] = on_data(ufunc)
    return table


def _reduction(function):
    """Adapt an mg reduction to NumPy's signature, refusing what it cannot honour."""

    def adapted(a, axis=None, dtype=None, out=None, keepdims=False, **rest):
        if dtype is not None or out is not None or rest:
            unsupported = ["dtype"] * (dtype is not None) + ["out"] * (out is not None) + list(rest)
            raise TypeError(f"np.{function.__name__} on a Tensor does not support {', '.join(unsupported)}")
        return function(a, axis=axis, keepdims=keepdims)

    return adapted


def array_function_table(on_data) -> dict:
    """NumPy functions a Tensor answers: differentiably, or on its data where no
    gradient is involved (shape queries, comparisons of values)."""
    table = {
        np.sum: _reduction(sum),
        np.mean: _reduction(mean),
        np.max: _reduction(max),
        np.min: _reduction(min),
        np.var: lambda a, axis=None, dtype=None, out=None, ddof=0, keepdims=False: var(a, axis, keepdims, ddof),
        np.reshape: lambda a, shape=None, order="C", *, newshape=None, copy=None: reshape(
            a, shape if shape is not None else newshape
        ),
        np.transpose: lambda a, axes=None: transpose(a, axes),
        np.swapaxes: swapaxes,
        np.broadcast_to: lambda array, shape, subok=False: broadcast_to(array, shape),
        np.expand_dims: expand_dims,
        np.squeeze: squeeze,
        np.concatenate: lambda arrays, axis=0: concatenate(arrays, axis),
        np.stack: lambda arrays, axis=0: stack(arrays, axis),
        # np.where(condition) alone gives the indices where it is true: nothing to differentiate.
        np.where: lambda condition, *choices: where(condition, *choices) if choices else on_data(np.where)(condition),
        np.clip: lambda a, a_min=None, a_max=None: clip(a, a_min, a_max),
        np.pad: lambda array, pad_width, mode="constant", constant_values=0: pad(array, pad_width, constant_values)
        if mode == "constant"
        else _refuse_pad_mode(mode),
        np.dot: matmul,
        np.copy: lambda a, order="K", subok=False: Copy.apply(a),
    }
    for function in (np.shape, np.ndim, np.size, np.allclose, np.isclose, np.array_equal, np.zeros_like,
                     np.ones_like, np.full_like, np.empty_like, np.argmax, np.argmin, np.round):
        table[function] = on_data(function)
    return table


def _refuse_pad_mode(mode):
    raise TypeError(f"np.pad on a Tensor supports mode='constant' only, not {mode!r}")
