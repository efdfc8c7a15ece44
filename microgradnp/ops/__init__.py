"""The built-in primitives, grouped by kind, and the functions that apply them.

Each primitive is a small ``Function`` subclass holding its forward and its
vector-Jacobian rule side by side.
"""

from __future__ import annotations

import builtins
import functools
import sys

import numpy as np

from microgradnp.autograd.grad_mode import mode as _grad_mode
from microgradnp.ops._aliases import method_names, torch_names
from microgradnp.ops.activations import (
    Elu,
    Gelu,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    LeakyReLU,
    LogSigmoid,
    LogSoftmax,
    Mish,
    ReLU,
    Sigmoid,
    Silu,
    Softmax,
    Softplus,
    Softsign,
    Tanh,
    celu,
    elu,
    gelu,
    hardsigmoid,
    hardswish,
    hardtanh,
    leaky_relu,
    log_softmax,
    logsigmoid,
    mish,
    relu,
    relu6,
    selu,
    sigmoid,
    silu,
    softmax,
    softplus,
    softsign,
    tanh,
)
from microgradnp.ops.elementwise import (
    Abs,
    Add,
    Arccos,
    Arcsin,
    Arctan,
    Arctan2,
    Ceil,
    Clip,
    Cos,
    Cosh,
    Div,
    Erf,
    Erfc,
    Exp,
    Exp2,
    Expm1,
    Floor,
    Log,
    Log1p,
    Log2,
    Log10,
    LogAddExp,
    Maximum,
    Minimum,
    Mul,
    Neg,
    Pow,
    Reciprocal,
    Round,
    Sign,
    Sin,
    Sinh,
    Sqrt,
    Square,
    Sub,
    Tan,
    Trunc,
    Where,
    abs,
    acos,
    add,
    arccos,
    arcsin,
    arctan,
    arctan2,
    asin,
    atan,
    atan2,
    ceil,
    clip,
    cos,
    cosh,
    divide,
    erf,
    erfc,
    exp,
    exp2,
    expm1,
    floor,
    floor_divide,
    fmod,
    log,
    log1p,
    log2,
    log10,
    logaddexp,
    maximum,
    minimum,
    multiply,
    negative,
    power,
    reciprocal,
    remainder,
    round,
    sign,
    sin,
    sinh,
    sqrt,
    square,
    subtract,
    tan,
    trunc,
    where,
)
from microgradnp.ops.indexing import (
    Gather,
    GetItem,
    IndexSelect,
    MaskedFill,
    Scatter,
    ScatterAdd,
    ScatterAddAlong,
    argwhere,
    gather,
    getitem,
    index_select,
    masked_fill,
    nonzero,
    one_hot,
    scatter,
    scatter_add,
    take_along_axis,
)
from microgradnp.ops.linalg import Einsum, MatMul, dot, einsum, matmul, outer, tensordot, trace
from microgradnp.ops.primitive import EmptyReductionError
from microgradnp.ops.primitive import check_not_empty as _check_not_empty
from microgradnp.ops.primitive import normalize_axes as _normalize_axes
from microgradnp.ops.primitive import reads_values as _reads_values
from microgradnp.ops.reductions import (
    LogSumExp,
    Max,
    Mean,
    Min,
    Norm,
    Prod,
    Std,
    Sum,
    Var,
    all,
    any,
    logsumexp,
    max,
    mean,
    min,
    norm,
    prod,
    std,
    sum,
    var,
)
from microgradnp.ops.scans import Cumprod, Cumsum, LogCumSumExp, cumprod, cumsum, logcumsumexp
from microgradnp.ops.shape import (
    PAD_MODES,
    BroadcastTo,
    Cast,
    Concatenate,
    Copy,
    DiagEmbed,
    Diagonal,
    Flip,
    Pad,
    Repeat,
    Reshape,
    Roll,
    SegmentSum,
    Slice,
    Transpose,
    astype,
    atleast_1d,
    atleast_2d,
    atleast_3d,
    broadcast_to,
    chunk,
    column_stack,
    concatenate,
    diag,
    diagonal,
    dstack,
    expand_dims,
    eye,
    flatten,
    flip,
    hstack,
    linspace,
    moveaxis,
    pad,
    repeat,
    repeat_interleave,
    reshape,
    roll,
    split,
    squeeze,
    stack,
    swapaxes,
    tile,
    transpose,
    tril,
    triu,
    vstack,
)
from microgradnp.ops.sorting import ValuesIndices, argsort, sort, sort_with_indices, topk

# PyTorch's names of arguments that one function's NumPy-style signature names otherwise.
_TORCH_KEYWORDS = {
    "tril": {"diagonal": "k"}, "triu": {"diagonal": "k"}, "diag": {"diagonal": "k"},
    "diagonal": {"dim1": "axis1", "dim2": "axis2"},
    "clip": {"min": "lo", "max": "hi"},  # (torch.clip is torch.clamp)
    "power": {"exponent": "b"},  # (t.pow is power)
    "transpose": {"dim0": "axes", "dim1": "axes"},  # transpose(x, *axes): two ints swap them
    "tile": {"dims": "reps"}, "broadcast_to": {"size": "shape"}, "outer": {"vec2": "b"}, "dot": {"tensor": "b"},
}

# Every function above takes PyTorch's argument names beside NumPy's: dim=/keepdim= where it
# takes axis=/keepdims=, input=/other= for its operands, and the names above (new functions:
# import them above this line).
_wrapped = {}  # one wrapper per function, so that aliases stay one object (mg.asin is mg.arcsin)
for _name, _function in list(globals().items()):
    if not _name.startswith("_") and callable(_function) and not isinstance(_function, type):
        _key = (_function, tuple(_TORCH_KEYWORDS.get(_name, {}).items()))
        if _key not in _wrapped:
            _wrapped[_key] = torch_names(_function, _TORCH_KEYWORDS.get(_name))
        globals()[_name] = _wrapped[_key]
del _wrapped



def _values_and_indices_with_dim(function, arg_name: str, elementwise):
    """``max``/``min`` as NumPy's (the values) with ``axis=``, and as PyTorch's with
    ``dim=``: ``t.max(dim=1)`` is ``(values, indices)`` (a ``ValuesIndices`` named tuple),
    so that ``v, i = t.max(dim=1)`` means what it means in PyTorch, never rows unpacked.
    With a tensor as second argument, PyTorch's ``torch.max(a, b)``: ``elementwise``."""

    @functools.wraps(function)
    def call(x, *args, **kwargs):
        if "other" in kwargs:
            args, kwargs = (*args, kwargs.pop("other")), kwargs
        if args and isinstance(args[0], sys.modules["microgradnp.tensor"].Tensor):  # torch.max(a, b): elementwise
            return elementwise(x, *args, **kwargs)
        if kwargs.get("dim") is None:
            return function(x, *args, **kwargs)
        dim = kwargs["dim"]
        if args or not isinstance(dim, int | np.integer):
            raise TypeError(f"{arg_name[3:]}(dim=...) is PyTorch's reduction over one axis with its indices: "
                            f"give one int dim (and keepdim=) only; for several axes use axis=(...)")
        arg = getattr(sys.modules["microgradnp.tensor"], arg_name)  # (defined after the operations)
        keepdim = kwargs.get("keepdim", False)
        if np.ndim(x) == 0 and dim in (0, -1):  # PyTorch: a scalar is its own max at index 0
            return ValuesIndices(function(x), arg(x))
        shape = np.shape(getattr(x, "data", x))
        _check_not_empty(arg_name[3:], shape, _normalize_axes(dim, len(shape)))  # PyTorch's IndexError
        indices = arg(x, axis=dim, keepdims=True)
        # The values are taken at the indices, so that the gradient goes to that one element
        # (PyTorch's rule for max(dim=); ties in amax/max(axis=) share it evenly).
        values = take_along_axis(x, indices, axis=dim)
        return ValuesIndices(values if keepdim else squeeze(values, axis=dim),
                             indices if keepdim else arg(x, axis=dim))

    return call


max = _values_and_indices_with_dim(max, "argmax", maximum)  # noqa: A001
min = _values_and_indices_with_dim(min, "argmin", minimum)  # noqa: A001


def _sort_with_dim(function):
    """``sort`` as NumPy's (the values) with ``axis=``, as PyTorch's with ``dim=``:
    ``mg.sort(x, dim=0)`` is ``(values, indices)``, as ``torch.sort`` and ``t.sort()``."""

    @functools.wraps(function)
    def call(x, *args, **kwargs):
        if "dim" not in kwargs:
            return function(x, *args, **kwargs)
        if args:
            raise TypeError("sort(x, dim=...) is PyTorch's: give descending= and stable= by name")
        dim = kwargs.pop("dim")
        if not isinstance(dim, int | np.integer):
            raise TypeError(f"sort(dim=...) takes one int dim, as torch.sort, got {dim!r}")
        tensor = sys.modules["microgradnp.tensor"].Tensor
        return sort_with_indices(x if isinstance(x, tensor) else tensor(x), dim, **kwargs)

    return call


sort = _sort_with_dim(sort)


def _split_with_dim(function):
    """``split`` as NumPy's (a number of equal pieces, or the split indices) with ``axis=`` or
    positionally, as PyTorch's when called with its names ``dim=`` or ``split_size_or_sections=``
    (an int is the size of each piece, the last may be smaller; a list the sizes):
    ``mg.split(x, 1, dim=1)`` is ``torch.split(x, 1, dim=1)`` and ``t.split(1, dim=1)``, never
    NumPy's pieces under PyTorch's spelling (the rule of ``mg.sort``)."""

    @functools.wraps(function)
    def call(x, *args, **kwargs):
        if "dim" not in kwargs and "split_size_or_sections" not in kwargs:
            return function(x, *args, **kwargs)
        tensor = sys.modules["microgradnp.tensor"].Tensor
        return (x if isinstance(x, tensor) else tensor(x)).split(*args, **kwargs)  # (Tensor.split is PyTorch's)

    return call


split = _split_with_dim(split)


def _corrected_with_dim(function):
    """``var``/``std`` with NumPy's default (``ddof=0``, the population variance) when
    called with ``axis=`` or no axis, and PyTorch's (``correction=1``, Bessel's) when
    called in PyTorch's spelling, ``dim=`` (or ``unbiased=``): ``t.var(dim=1)`` gives
    the number ``torch.var(t, dim=1)`` gives. An explicit ``ddof``/``correction`` wins."""

    @functools.wraps(function)
    def call(x, *args, **kwargs):
        if "unbiased" in kwargs:
            unbiased = kwargs.pop("unbiased")
            if "ddof" in kwargs or "correction" in kwargs:
                raise TypeError(f"{function.__name__}() got unbiased= with ddof= or correction=: give one")
            kwargs["correction"] = int(bool(unbiased))
        elif "dim" in kwargs and "ddof" not in kwargs and "correction" not in kwargs and len(args) < 3:  # (3rd: ddof)
            kwargs["correction"] = 1  # PyTorch's default
        return function(x, *args, **kwargs)

    return call


var = _corrected_with_dim(var)
std = _corrected_with_dim(std)


def _casting_first(function):
    """``function`` with PyTorch's ``dtype=`` (also its third positional argument, as in
    ``torch.softmax(x, 1, torch.float64)``): the input is cast to it first, differentiably,
    so the gradient comes back in the input's dtype."""
    from microgradnp.ops.reductions import cast_first

    @functools.wraps(function)
    def call(x, *args, dtype=None, **kwargs):
        if len(args) == 2:
            if dtype is not None:
                raise TypeError(f"{function.__name__}() got dtype twice (positionally and as dtype=)")
            *args, dtype = args
        return function(cast_first(function.__name__, x, dtype), *args, **kwargs)

    call.__doc__ = (function.__doc__ or "") + "\n\n``dtype=`` (PyTorch's): the input is cast to it first."
    return call


softmax = _casting_first(softmax)
log_softmax = _casting_first(log_softmax)
_where_both = where


def where(condition, input=None, other=None):  # noqa: A002  (PyTorch's argument names)
    """Elements of ``input`` where ``condition`` is true, else of ``other``, as ``torch.where``
    and ``np.where`` (``condition`` gets no gradient; ``input`` and ``other`` may be numbers).

    With ``condition`` alone: the indices of its nonzero elements, a tuple of one int64
    tensor per axis (``torch.where(c)`` is ``torch.nonzero(c, as_tuple=True)``).

    Raises:
        TypeError: only one of ``input`` and ``other`` is given.
    """
    if input is None and other is None:
        return nonzero(condition)
    if input is None or other is None:
        raise TypeError("where() takes the condition alone (the indices of its nonzero elements) or with both "
                        "input and other (the elements chosen between them), not with one of them")
    return _where_both(condition, input, other)


_tensordot_axes = tensordot


def tensordot(a, b, dims=2, *, axes=None):
    """Sum of products over the given axes, as ``torch.tensordot`` (``dims``) and
    ``np.tensordot`` (``axes``, the same argument); differentiable in ``a`` and ``b``.

    Args:
        a: The first operand.
        b: The second operand.
        dims: An int N >= 0 (the last N axes of ``a`` with the first N of ``b``), a pair of
            lists of axes contracted pairwise (``([1, 0], [0, 1])``), or a tensor: one element
            is N, a ``(2, n)`` int tensor is that pair of lists (a pair of 1-D tensors too).
        axes: NumPy's name for ``dims``.

    Returns:
        A tensor with the remaining axes of ``a`` followed by those of ``b``.

    Raises:
        TypeError: both ``dims`` and ``axes`` are given.
        InvalidArgumentError: N < 0 or more than either operand's number of axes; the lists
            differ in length, or the contracted axes in size (a length 1 against another
            broadcasts, as in PyTorch; NumPy refuses it).
    """
    from microgradnp.errors import InvalidArgumentError
    from microgradnp.tensor import Tensor, _data

    if axes is not None:
        if dims != 2:
            raise TypeError("tensordot() got both dims= and axes= (they are the same argument: dims is PyTorch's name)")
        dims = axes
    if isinstance(dims, Tensor | np.ndarray):
        _reads_values("tensordot with dims in a tensor")  # (they decide the result's shape)
        values = np.asarray(_data(dims))
        if values.size == 1:
            dims = int(values.reshape(()))
        elif values.shape[0] != 2:
            raise InvalidArgumentError(f"tensordot: a dims tensor must have 2 rows (the axes of a, then of b), "
                                       f"got shape {values.shape}")
        else:
            dims = (values[0].reshape(-1).tolist(), values[1].reshape(-1).tolist())
    if isinstance(dims, int | np.integer):
        smallest = builtins.min(np.ndim(_data(a)), np.ndim(_data(b)))
        if not 0 <= dims <= smallest:
            raise InvalidArgumentError(f"tensordot: dims={int(dims)} must be between 0 and the smaller number of axes "
                                       f"of the operands ({smallest})")
        return _tensordot_axes(a, b, axes=int(dims))
    if not isinstance(dims, tuple | list) or len(dims) != 2:
        raise InvalidArgumentError(f"tensordot: dims must be an int, a pair of lists of axes or a tensor, got {dims!r}")
    pair = tuple(np.asarray(_data(d)).tolist() if isinstance(d, Tensor | np.ndarray) else d for d in dims)
    return _tensordot_axes(a, b, axes=pair)

# The functions wrapped above read dim= themselves (with PyTorch's meaning): they get PyTorch's
# names of the operands only (mg.max(input=x, dim=1)).
for _name in ("max", "min", "sort", "split", "var", "std", "softmax", "log_softmax"):
    globals()[_name] = torch_names(globals()[_name], aliases={})

#: Functions that are also Tensor methods (``t.exp()``, ``t.sum(axis=0)``...).
METHODS = (  # noqa: SIM905  (a word list reads like the docs)
    "exp log sqrt abs sin cos tanh sigmoid relu leaky_relu clip sum mean var max min "
    "reshape transpose swapaxes flatten squeeze expand_dims broadcast_to pad "
    "softmax log_softmax logsumexp matmul maximum minimum"
    " log1p expm1 log2 log10 exp2 sinh cosh tan arcsin arccos arctan asin acos atan arctan2 atan2 erf erfc"
    " square reciprocal floor ceil round trunc sign logaddexp floor_divide remainder fmod"
    " gather scatter scatter_add index_select masked_fill nonzero"
    " prod std norm cumsum cumprod logcumsumexp any all argsort topk"
    " chunk flip roll repeat_interleave tile tril triu diag diagonal trace outer moveaxis"
).split()


def attach_methods(tensor_class) -> None:
    for name in METHODS:
        setattr(tensor_class, name, method_names(globals()[name]))
    tensor_class.sort = sort_with_indices  # PyTorch's (values, indices); mg.sort is NumPy's (values)


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
        np.square: square,
        np.reciprocal: reciprocal,
        np.log1p: log1p,
        np.expm1: expm1,
        np.log2: log2,
        np.log10: log10,
        np.exp2: exp2,
        np.sinh: sinh,
        np.cosh: cosh,
        np.tan: tan,
        np.arcsin: arcsin,
        np.arccos: arccos,
        np.arctan: arctan,
        np.arctan2: arctan2,
        np.floor: floor,
        np.floor_divide: floor_divide,
        np.remainder: remainder,
        np.fmod: fmod,
        np.ceil: ceil,
        np.trunc: trunc,
        np.rint: round,
        np.sign: sign,
        np.logaddexp: logaddexp,
    }
    for ufunc in (np.less, np.less_equal, np.greater, np.greater_equal, np.equal, np.not_equal):
        table[ufunc] = lambda a, b, ufunc=ufunc: compare(ufunc, a, b)
    for ufunc in (np.isfinite, np.isnan, np.isinf):
        table[ufunc] = on_data(ufunc)
    from microgradnp.ops.torch_extras import UFUNCS as bitwise  # ndarray & tensor, ndarray << tensor...

    table.update(bitwise)
    return table


def _reduction(function):
    """Adapt an mg reduction to NumPy's signature, refusing what it cannot honour."""

    def adapted(a, axis=None, dtype=None, out=None, keepdims=False, **rest):
        if dtype is not None or out is not None or rest:
            unsupported = ["dtype"] * (dtype is not None) + ["out"] * (out is not None) + list(rest)
            raise TypeError(f"np.{function.__name__} on a Tensor does not support {', '.join(unsupported)}")
        return function(a, axis=axis, keepdims=keepdims)

    return adapted


def _variance(function):
    """Adapt mg.var / mg.std to NumPy's signature (``ddof`` and NumPy 2's ``correction``)."""

    def adapted(a, axis=None, dtype=None, out=None, ddof=None, keepdims=False, *, correction=None, **rest):
        if dtype is not None or out is not None or rest:
            unsupported = ["dtype"] * (dtype is not None) + ["out"] * (out is not None) + list(rest)
            raise TypeError(f"np.{function.__name__} on a Tensor does not support {', '.join(unsupported)}")
        return function(a, axis=axis, keepdims=keepdims, ddof=ddof, correction=correction)

    return adapted


def _scan(function):
    """Adapt mg.cumsum / mg.cumprod to NumPy's signature, refusing ``dtype`` and ``out``."""

    def adapted(a, axis=None, dtype=None, out=None):
        if dtype is not None or out is not None:
            unsupported = ["dtype"] * (dtype is not None) + ["out"] * (out is not None)
            raise TypeError(f"np.{function.__name__} on a Tensor does not support {', '.join(unsupported)}")
        return function(a, axis=axis)

    return adapted


def _refuse_order(*args, **kwargs):
    raise TypeError("np.sort/np.argsort on a Tensor do not support order= (it is for structured arrays)")


def _no_extras(name: str, function):
    """Adapt an mg function of a sequence of tensors to NumPy's signature (``np.stack``,
    ``np.hstack``...), refusing ``out=``, ``dtype=`` and ``casting=``, which it cannot honour."""

    def adapted(arrays, *args, out=None, dtype=None, casting="same_kind", **kwargs):
        if out is not None or dtype is not None or casting != "same_kind":
            unsupported = ["out"] * (out is not None) + ["dtype"] * (dtype is not None)
            unsupported += ["casting"] * (casting != "same_kind")
            raise TypeError(
                f"np.{name} on Tensors does not support {', '.join(unsupported)}: call it without, "
                "or convert explicitly with np.asarray(t) / t.numpy() to leave the graph"
            )
        return function(arrays, *args, **kwargs)

    return adapted


def _concatenate(arrays, axis=0):
    if axis is None:  # NumPy flattens every array first
        return concatenate([flatten(a) for a in arrays], axis=0)
    return concatenate(arrays, axis)


def _refuse_block(arrays):
    raise TypeError(
        "np.block on Tensors is not differentiable in microgradnp: build the blocks with "
        "mg.concatenate (each row along axis=-1, then the rows along axis=-2), or convert "
        "explicitly with np.asarray(t) / t.numpy() to leave the graph"
    )


def array_function_table(on_data) -> dict:
    """NumPy functions a Tensor answers: differentiably, or on its data where no
    gradient is involved (shape queries, comparisons of values).

    NumPy asks a Tensor hidden in a list or tuple only when the function's argument is
    itself a sequence of arrays (np.stack, np.concatenate, np.hstack, np.vstack,
    np.dstack, np.column_stack, np.block), so those are answered here. For the others
    (``np.mean([x, y])``) see ``check_array_conversion``.
    """
    table = {
        np.sum: _reduction(sum),
        np.mean: _reduction(mean),
        np.max: _reduction(max),
        np.min: _reduction(min),
        np.var: _variance(var),
        np.std: _variance(std),
        np.prod: _reduction(prod),
        np.any: _reduction(any),
        np.all: _reduction(all),
        np.cumsum: _scan(cumsum),
        np.cumprod: _scan(cumprod),
        np.linalg.norm: norm,
        np.sort: lambda a, axis=-1, kind=None, order=None, *, stable=None: sort(a, axis) if order is None
        else _refuse_order(),
        np.argsort: lambda a, axis=-1, kind=None, order=None, *, stable=None: argsort(a, axis) if order is None
        else _refuse_order(),
        np.reshape: lambda a, shape=None, order="C", *, newshape=None, copy=None: reshape(
            a, shape if shape is not None else newshape
        ),
        np.transpose: lambda a, axes=None: transpose(a, axes),
        np.swapaxes: swapaxes,
        np.broadcast_to: lambda array, shape, subok=False: broadcast_to(array, shape),
        np.expand_dims: expand_dims,
        np.squeeze: squeeze,
        np.concatenate: _no_extras("concatenate", _concatenate),
        np.stack: _no_extras("stack", stack),
        np.hstack: _no_extras("hstack", hstack),
        np.vstack: _no_extras("vstack", vstack),
        np.dstack: dstack,
        np.column_stack: column_stack,
        np.block: _refuse_block,
        np.atleast_1d: lambda *arrays: atleast_1d(arrays[0]) if len(arrays) == 1 else tuple(map(atleast_1d, arrays)),
        np.atleast_2d: lambda *arrays: atleast_2d(arrays[0]) if len(arrays) == 1 else tuple(map(atleast_2d, arrays)),
        np.atleast_3d: lambda *arrays: atleast_3d(arrays[0]) if len(arrays) == 1 else tuple(map(atleast_3d, arrays)),
        # np.where(condition) alone gives the indices where it is true: nothing to differentiate.
        np.where: lambda condition, *choices: where(condition, *choices) if choices else on_data(np.where)(condition),
        np.clip: lambda a, a_min=None, a_max=None: clip(a, a_min, a_max),
        np.pad: _np_pad,
        np.take_along_axis: take_along_axis,
        np.nonzero: nonzero,
        np.argwhere: argwhere,
        np.dot: _dot,
        np.copy: lambda a, order="K", subok=False: Copy.apply(a),
        np.split: split,
        np.flip: flip,
        np.roll: roll,
        np.repeat: repeat,
        np.tile: tile,
        np.tril: tril,
        np.triu: triu,
        np.diag: diag,
        np.diagonal: diagonal,
        np.trace: _trace,
        np.outer: _outer,
        np.tensordot: tensordot,
        np.einsum: _einsum,
        np.moveaxis: moveaxis,
        np.round: _np_round,
    }
    for function in (np.shape, np.ndim, np.size, np.allclose, np.isclose, np.array_equal, np.zeros_like,
                     np.ones_like, np.full_like, np.empty_like, np.argmax, np.argmin):
        table[function] = on_data(function)
    return table


def _np_round(a, decimals=0, out=None):
    if out is not None:
        raise TypeError(
            "np.round on a Tensor does not support out: use the result it returns, or convert "
            "explicitly with np.asarray(t) / t.numpy() to leave the graph"
        )
    return round(a, decimals)


def _trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    if dtype is not None or out is not None:
        raise TypeError("np.trace on a Tensor does not support dtype or out: call it without, or convert "
                        "explicitly with np.asarray(t) / t.numpy() to leave the graph")
    return trace(a, offset, axis1, axis2)


def _outer(a, b, out=None):
    if out is not None:
        raise TypeError("np.outer on a Tensor does not support out: use the result it returns")
    return outer(a, b)


def _einsum(subscripts, *operands, out=None, optimize=False, dtype=None, order="K", casting="safe"):
    if out is not None or dtype is not None:
        raise TypeError("np.einsum on Tensors does not support out or dtype: call it without, or convert "
                        "explicitly with np.asarray(t) / t.numpy() to leave the graph")
    return einsum(subscripts, *operands)


def _dot(a, b, out=None):
    if out is not None:
        raise TypeError(
            "np.dot on a Tensor does not support out: use the result it returns, or convert "
            "explicitly with np.asarray(t) / t.numpy() to leave the graph"
        )
    return dot(a, b)


def _np_pad(array, pad_width, mode="constant", **kwargs):
    supported = {"constant": {"constant_values"}}.get(mode, set())
    if not isinstance(mode, str) or mode not in PAD_MODES or set(kwargs) - supported:
        what = f"mode={mode!r}" if not isinstance(mode, str) or mode not in PAD_MODES else ", ".join(kwargs)
        raise TypeError(
            f"np.pad on a Tensor does not support {what}: it supports mode {', '.join(map(repr, PAD_MODES))} "
            "(and constant_values for 'constant'); or convert explicitly with np.asarray(t) to leave the graph"
        )
    return pad(array, pad_width, mode, **kwargs)


# -- Tensors inside lists: np.mean([x, y]) ------------------------------------------------
# What NumPy does (probed on NumPy 2.4): it looks for __array_function__ only on a call's
# "relevant" arguments. A Tensor inside a list or tuple is relevant only where the argument
# is itself a sequence of arrays (np.stack, np.concatenate, np.hstack, np.vstack, np.dstack,
# np.column_stack, np.block): the table above answers those. Everywhere else (np.mean([x,
# y]), np.sum, np.max, np.prod, np.median, np.average, np.array([x, y]), np.asarray([x, y]),
# np.add([x, y], 1), np.dot([x, y], v), ...) NumPy converts the list itself, calling
# Tensor.__array__ on every element with exactly the arguments of np.asarray(t)
# (dtype=None, copy=None), from C; __len__, __iter__ and __getitem__ are not used. So
# __array__ cannot tell np.asarray([x, y]) from np.asarray(x), and np.asarray(t) must keep
# working (DESIGN.md: plots, printing and user code convert with it): refusing every
# conversion of a tensor that requires grad, as PyTorch's .numpy() does, would break it.
#
# What does differ is who converts. np.mean & co. are Python functions in NumPy's own
# modules: they dispatch first (finding no Tensor in the list), then convert their argument
# themselves (numpy._core._methods._mean: asanyarray(a)). np.array, np.asarray, ufuncs and
# np.dot are C functions, so the caller of __array__ is the user's code.
#
# Decision: when a tensor that requires grad is converted while grad mode is on, and the
# conversion comes from code in NumPy's modules (except numpy.testing, which only compares
# values) that does not hold that tensor as one of its own variables (so it came inside a
# container), the conversion raises TypeError naming mg.stack(...). Where it does dispatch,
# NumPy is answered differentiably or refused by the tables above, so a NumPy math function
# converting a tensor itself means the result would silently leave the graph. Still allowed:
# np.asarray(t) and np.array(t) (an explicit request for an ndarray), conversions by
# matplotlib, pandas and other libraries, np.testing, anything under mg.no_grad() or on
# tensors that do not require grad. np.array([x, y]), np.asarray([x, y]) and ufuncs on lists,
# called from the user's code, are the very same __array__ call as np.asarray(x), so they
# stay explicit conversions: their result is an ndarray (as with t.numpy()), never a Tensor
# with a zero gradient.
_ALLOWED_NUMPY_CALLERS = ("numpy.testing",)


def check_array_conversion(tensor) -> None:
    """Raise TypeError if ``tensor`` (which is being converted by ``Tensor.__array__``)
    requires grad, grad mode is on, and NumPy is converting it as an element of a list or
    tuple (``np.mean([x, y])``), which would silently drop it from the graph.

    Call it directly from ``Tensor.__array__`` (it looks at that method's caller). The
    reasons, and what stays allowed, are in the comment above.
    """
    if not tensor.requires_grad or not _grad_mode.grad_enabled:
        return
    caller = sys._getframe(2)  # 0: this function, 1: Tensor.__array__, 2: who converts
    module = caller.f_globals.get("__name__") or ""
    if not (module == "numpy" or module.startswith("numpy.")) or module.startswith(_ALLOWED_NUMPY_CALLERS):
        return
    if builtins.any(value is tensor for value in caller.f_locals.values()):
        return  # the tensor itself was passed (np.ma.asarray(t)...): an explicit conversion
    # The outermost of NumPy's frames is the function the user called (np.sum, not the
    # _wrapreduction helper that converts).
    outer = caller
    while outer.f_back is not None and (outer.f_back.f_globals.get("__name__") or "").startswith("numpy."):
        outer = outer.f_back
    name = outer.f_code.co_name
    suggestion = f"mg.stack([x, y]).{name}()" if name in METHODS else "mg.stack([x, y]).mean()"
    raise TypeError(
        f"np.{name} was given Tensors inside a list or tuple: NumPy converts them to plain arrays "
        "without asking microgradnp, so the result would not be differentiable and their "
        f"gradients would silently stay zero. Stack them into one Tensor first ({suggestion}, "
        "or mg.concatenate([...])), or convert explicitly with np.asarray(t) / t.detach() to "
        "leave the graph"
    )
