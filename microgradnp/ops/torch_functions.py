"""Top-level functions of the ``torch`` namespace that had no ``mg.<name>`` yet, so that code
written as ``torch.xxx(...)`` runs as ``mg.xxx(...)``.

Functions whose Tensor method already exists with PyTorch's meaning (``torch.narrow(x, ...)``
is ``x.narrow(...)``) call that method, so no rule is written twice; the rest are compositions
of existing differentiable operations (``cdist``, ``block_diag``, ``meshgrid``, ``trapezoid``,
``normal``...) or answers computed on the data, outside the graph (comparisons, ``bucketize``,
``searchsorted``, ``isin``, random integers). Names that ``mg`` already has with NumPy's
meaning (``mg.max``, ``mg.sort``, ``mg.split``, ``mg.linspace``...) are left as they are."""

from __future__ import annotations

import builtins
import collections
import functools
import itertools
import math
import numbers
import threading
import warnings

import numpy as np

from microgradnp import ops
from microgradnp.autograd.function import _ZeroDerivative
from microgradnp.autograd.grad_mode import _ModeSwitch, mode
from microgradnp.device import takes_device
from microgradnp.errors import InvalidArgumentError
from microgradnp.ops import primitive
from microgradnp.ops._aliases import reduced_dims
from microgradnp.ops.primitive import normalize_axes
from microgradnp.ops.torch_math import _tensor
from microgradnp.tensor import (
    Tensor,
    _constructor,
    _constructor_dtype,
    _data,
    _float_dtype_of,
    _new,
    _no_grad_on_data,
    _reading,
    _rng,
    _shape,
    get_default_dtype,
    rand,
    randn,
    tensor,
    zeros,
    zeros_like,
)

# -- functions that are a Tensor method called on their first argument ------------------------------------------

_METHODS = (  # noqa: SIM905  (one list of names, easy to scan)
    "add allclose amax amin bincount bmm cholesky clamp_max clamp_min clone cross det detach diag_embed "
    "diagflat dsplit eq equal fliplr flipud ge ger gt histc hsplit index_add index_copy index_fill inner inverse "
    "is_same_size isfinite isinf isnan kron le lerp logdet logical_not lt masked_scatter masked_select matrix_exp "
    "matrix_power mm movedim mul multiply mv narrow narrow_copy ne neg negative numel permute pinverse qr ravel "
    "rot90 rsqrt scatter_reduce select signbit slogdet split_with_sizes sub svd swapdims t take "
    "take_along_dim tensor_split unbind unflatten unique unique_consecutive unsqueeze vdot vsplit"
).split()


def _method_function(name: str):
    """``torch.<name>(input, *args, **kwargs)``: ``input.<name>(*args, **kwargs)``."""

    def function(input, *args, **kwargs):  # noqa: A002  (PyTorch's argument name)
        other = args[0] if args else kwargs.get("other")
        if isinstance(input, numbers.Number | np.generic) and isinstance(other, Tensor):
            # A number first counts as a number (torch.add(1.0, x32) is float32, torch.mul(2, i8)
            # int8): a 0-d tensor of the default dtype would outrank a 0-d float32 tensor or ints.
            dtype = primitive.result_dtype(input, other.data)
            if dtype is not None:
                return getattr(Tensor._wrap(np.asarray(input, dtype=dtype)), name)(*args, **kwargs)
        return getattr(_tensor(input), name)(*args, **kwargs)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = (f"``torch.{name}(input, ...)``: the same as the method ``input.{name}(...)``, with the "
                        "same arguments and gradient (``input`` may also be an array, list or number).")
    return function


for _name in _METHODS:
    globals()[_name] = _method_function(_name)
del _name
subtract = _method_function("sub")  # the method t.subtract is NumPy's, without alpha=

# -- arithmetic ------------------------------------------------------------------------------------------------


def _int_result(x, y) -> np.dtype:
    return primitive.result_dtype(x, y) or np.result_type(x, y)


def div(input, other, *, rounding_mode=None):  # noqa: A002
    """``input / other`` (``torch.div``; ``divide`` and ``true_divide`` are the same function).

    ``rounding_mode=None`` is true division; ``"trunc"`` rounds the quotient towards zero and
    ``"floor"`` down (their gradient is 0, as the rounding is flat). Integer inputs keep an
    integer dtype under a rounding mode, as in PyTorch.

    Raises:
        ValueError: ``rounding_mode`` is not None, ``"trunc"`` or ``"floor"``.
    """
    if rounding_mode not in (None, "trunc", "floor"):
        raise InvalidArgumentError(f"div: rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")
    a, b = _data(input), _data(other)
    if rounding_mode is not None and np.result_type(a, b).kind in "iub":
        if np.any(np.asarray(b) == 0):
            raise ZeroDivisionError("div: integer division by zero (convert to float for inf/nan results)")
        # (in PyTorch's result dtype: uint8 by a 0-d int64 stays uint8, where NumPy gives int64)
        if rounding_mode == "floor":
            return _no_grad_on_data(lambda x, y: np.asarray(np.floor_divide(x, y)).astype(_int_result(x, y)))(
                input, other)
        return _no_grad_on_data(lambda x, y: np.asarray(np.fix(np.true_divide(x, y))).astype(_int_result(x, y)))(
            input, other)
    if rounding_mode is None:
        return ops.divide(input, other)
    # One step-function primitive each (gradient 0, also at a zero divisor), and "floor" as Python's
    # and PyTorch's a // b (1.0 // 0.1 is 9, where floor(1.0 / 0.1) is 10).
    from microgradnp.ops.elementwise import FloorDivide, TruncDivide

    return (TruncDivide if rounding_mode == "trunc" else FloorDivide).apply(input, other)


divide = div


def true_divide(input, other):  # noqa: A002  (PyTorch's argument names)
    """``input / other`` in floating point (``torch.true_divide``)."""
    return ops.divide(input, other)


def pow(input, exponent):  # noqa: A001, A002  (PyTorch's names)
    """``input ** exponent`` elementwise (``torch.pow``); either may be a number."""
    return ops.power(input, exponent)


def rsub(input, other, *, alpha=1):  # noqa: A002
    """``other - alpha * input`` (``torch.rsub``, the reversed ``sub``)."""
    return ops.subtract(other, input if alpha == 1 else ops.multiply(input, alpha))


def clamp(input, min=None, max=None):  # noqa: A002  (PyTorch's names)
    """``input`` limited to [min, max] (``torch.clamp``; ``clip`` is ``mg.clip``). The bounds may be
    numbers or tensors; a tensor bound receives the gradient where it is the result, as in PyTorch.

    Raises:
        ValueError: neither ``min`` nor ``max`` is given.
    """
    return _tensor(input).clamp(min, max)


# -- comparisons, tests and dtypes -------------------------------------------------------------------------------

AminmaxResult = collections.namedtuple("aminmax", ["min", "max"])


def aminmax(input, *, dim=None, keepdim: bool = False):  # noqa: A002
    """The smallest and largest values, over all elements or along ``dim``, as the named tuple
    ``(min, max)`` of ``torch.aminmax`` (gradients shared between ties, as ``amin``/``amax``)."""
    x = _tensor(input)
    return AminmaxResult(x.amin(dim, keepdim), x.amax(dim, keepdim))


def isin(elements, test_elements, *, assume_unique: bool = False, invert: bool = False) -> Tensor:
    """Whether each element of ``elements`` is in ``test_elements`` (``torch.isin``): a bool
    tensor outside the graph; ``invert=True`` negates it."""
    return _no_grad_on_data(lambda a, b: np.asarray(np.isin(a, b, assume_unique=assume_unique, invert=invert)))(
        elements, test_elements)


def is_tensor(obj) -> bool:
    """Whether ``obj`` is a microgradnp Tensor (``torch.is_tensor``)."""
    return isinstance(obj, Tensor)


def is_nonzero(input) -> bool:  # noqa: A002
    """Whether the one element of a one-element tensor is not zero (``torch.is_nonzero``).

    Raises:
        RuntimeError: the tensor has no elements or more than one.
    """
    if isinstance(input, Tensor):
        _reading(input, "mg.is_nonzero (a Python bool from tensor values)")
    data = np.asarray(_data(input))
    if data.size != 1:
        what = "no values" if data.size == 0 else "more than one value"
        raise RuntimeError(f"is_nonzero: the boolean value of a tensor with {what} is ambiguous; "
                           "give a tensor of exactly one element")
    return bool(data.reshape(()) != 0)


_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2}


def _category(dtype: np.dtype) -> int:
    dtype = np.dtype(dtype)
    if dtype.kind not in _CATEGORY:
        raise TypeError(f"dtype {dtype} is not supported: microgradnp works with bool, integer and floating dtypes")
    return _CATEGORY[dtype.kind]


def promote_types(type1, type2) -> np.dtype:
    """The dtype PyTorch gives a result of ``type1`` and ``type2`` (``torch.promote_types``):
    the higher category wins (bool < integer < floating), so int64 and float16 give float16;
    within one category, the smallest dtype holding both (``np.promote_types``)."""
    type1, type2 = np.dtype(type1), np.dtype(type2)
    _category(type1), _category(type2)  # (a clear error for other dtypes)
    return primitive.promote_types(type1, type2)


def result_type(tensor1, tensor2) -> np.dtype:
    """The dtype of an arithmetic result of ``tensor1`` and ``tensor2`` (tensors, arrays or
    numbers), by PyTorch's rule (``torch.result_type``), the one every arithmetic operation
    follows: the highest category among them wins; in that category, tensors with dimensions
    count before 0-d tensors, and those before numbers (a float number among integer tensors
    gives the default dtype)."""
    operands = []
    for operand in (tensor1, tensor2):
        if isinstance(operand, Tensor | np.ndarray | np.generic):
            operand = np.asarray(_data(operand)) if not isinstance(operand, np.generic) else operand
            _category(operand.dtype)
        elif not isinstance(operand, bool | numbers.Number):
            raise TypeError(f"result_type: expected tensors, arrays or numbers, got {type(operand).__name__}")
        elif not isinstance(operand, bool | int | float | complex):  # a Fraction, a Decimal...
            operand = int(operand) if isinstance(operand, numbers.Integral) else float(operand)
        operands.append(operand)
    return primitive.result_dtype(*operands)


def can_cast(from_, to) -> bool:
    """Whether PyTorch's casting rules allow ``from_`` to ``to`` (``torch.can_cast``): never
    from floating to integer or bool, nor from integer to bool."""
    return _category(from_) <= _category(to)


# -- statistics ----------------------------------------------------------------------------------------------------


def _correction(name: str, unbiased, correction) -> float:
    if unbiased is not None and correction is not None:
        raise TypeError(f"{name}: give unbiased= or correction=, not both (unbiased=True is correction=1)")
    return 1 if unbiased is None and correction is None else correction if unbiased is None else int(unbiased)


def std_mean(input, dim=None, unbiased=None, keepdim: bool = False, *, correction=None, axis=None):  # noqa: A002
    """The standard deviation (dividing by N - ``correction``, 1 by default) and the mean over
    ``dim`` (all elements when None; ``axis=`` is the same argument, as in PyTorch), as the
    tuple ``(std, mean)`` of ``torch.std_mean``."""
    x, dim = _tensor(input), _dim_or_axis("std_mean", dim, axis)
    correction = _correction("std_mean", unbiased, correction)
    return x.std(axis=dim, keepdims=keepdim, correction=correction), x.mean(axis=dim, keepdims=keepdim)


def var_mean(input, dim=None, unbiased=None, keepdim: bool = False, *, correction=None, axis=None):  # noqa: A002
    """The variance (dividing by N - ``correction``, 1 by default) and the mean over ``dim``
    (or ``axis``), as the tuple ``(var, mean)`` of ``torch.var_mean``."""
    x, dim = _tensor(input), _dim_or_axis("var_mean", dim, axis)
    correction = _correction("var_mean", unbiased, correction)
    return x.var(axis=dim, keepdims=keepdim, correction=correction), x.mean(axis=dim, keepdims=keepdim)


def _dim_or_axis(name: str, dim, axis):
    if dim is not None and axis is not None:
        raise TypeError(f"{name}() got both dim= and axis= (they are the same argument)")
    return axis if dim is None else reduced_dims(dim)


def cov(input, *, correction: int = 1, fweights=None, aweights=None):  # noqa: A002
    """The covariance matrix of the variables in the rows of ``input`` (observations in its
    columns; a 1-D input is one variable, giving a 0-D result), as ``torch.cov``: divided by
    the (weighted) number of observations minus ``correction``; ``fweights`` are integer
    frequency weights and ``aweights`` importance weights, one per observation.

    Raises:
        ValueError: ``input`` has more than 2 dimensions, or a weight vector has the wrong
            shape or a negative weight.
    """
    x = _tensor(input)
    if x.ndim > 2:
        raise InvalidArgumentError(f"cov: expects a 1-D or 2-D tensor (variables x observations), got shape {x.shape}")
    one_variable = x.ndim < 2 or x.shape[0] == 1  # (one row too gives a 0-d result, as torch.cov)
    x = x.reshape(1, -1) if one_variable else x
    weights = None
    for label, w in (("fweights", fweights), ("aweights", aweights)):
        if w is None:
            continue
        w = _tensor(w)
        if w.shape != (x.shape[1],) or np.any(w.data < 0):
            raise InvalidArgumentError(
                f"cov: {label} must be a 1-D tensor of {x.shape[1]} non-negative weights (one per "
                f"observation), got shape {w.shape}")
        weights = w if weights is None else weights * w
    if weights is None:
        total = x.shape[1]
        mean = x.mean(axis=1, keepdims=True)
        factor = total - correction
    else:
        total = weights.sum()
        mean = (x * weights).sum(axis=1, keepdims=True) / total
        factor = total - (correction if aweights is None else correction * (weights * aweights).sum() / total)
    centred = x - mean
    scaled = centred if weights is None else centred * weights
    product = ops.matmul(scaled, ops.transpose(centred))
    result = product / ops.maximum(factor, 0) if isinstance(factor, Tensor) else product / builtins.max(factor, 0)
    return result.reshape(()) if one_variable else result


def corrcoef(input):  # noqa: A002
    """The Pearson correlation coefficients of the variables in the rows of ``input``
    (``torch.corrcoef``), clipped to [-1, 1] as PyTorch does (0-d for one variable, as ``cov``)."""
    c = cov(input)
    if c.ndim == 0:
        return c / c
    spread = ops.sqrt(ops.diagonal(c))
    return ops.clip(c / spread.reshape(-1, 1) / spread.reshape(1, -1), -1, 1)


def msort(input):  # noqa: A002
    """``input`` sorted along its first dimension (``torch.msort``: the values of ``sort(dim=0)``)."""
    return ops.sort(_tensor(input), axis=0)


def adjoint(input):  # noqa: A002
    """The last two dimensions swapped (``torch.adjoint``; real tensors have no conjugate).

    Raises:
        ValueError: ``input`` has fewer than 2 dimensions.
    """
    x = _tensor(input)
    if x.ndim < 2:
        raise InvalidArgumentError(f"adjoint: expects a tensor of at least 2 dimensions, got shape {x.shape}")
    return ops.swapaxes(x, -2, -1)


def ldexp(input, other):  # noqa: A002
    """``input * 2 ** other`` (``torch.ldexp``), in floating point: in the operands' result dtype."""
    dtype = np.result_type(*primitive.floating_pair(_data(input), _data(other)))
    return ops.multiply(input, ops.power(np.asarray(2.0, dtype), _tensor(other)))


def unravel_index(indices, shape) -> tuple:
    """The coordinates in an array of ``shape`` of flat ``indices`` (``torch.unravel_index``):
    a tuple of int64 tensors, one per dimension, outside the graph.

    Raises:
        ValueError: an index is out of bounds for ``shape``.
    """
    shape = (shape,) if isinstance(shape, numbers.Integral) else tuple(shape)
    return tuple(_no_grad_on_data(_unravel_axis)(indices, shape, axis) for axis in builtins.range(len(shape)))


def _unravel_axis(flat, shape: tuple, axis: int) -> np.ndarray:
    """The coordinates along ``axis`` of the flat indices (computed from the data, so that an
    mg.compile replay computes them again from new indices)."""
    flat = np.asarray(flat)
    if flat.dtype.kind == "f" and np.all(flat == np.round(flat)):
        flat = flat.astype(np.int64)
    size = math.prod(shape)
    if np.any((flat < -size) | (flat >= size)):
        raise InvalidArgumentError(f"unravel_index: indices must lie in [-{size}, {size}) for shape {shape}")
    return np.asarray(np.unravel_index(np.where(flat < 0, flat + size, flat), shape)[axis], dtype=np.int64)


# -- joining and shapes ------------------------------------------------------------------------------------------

concat = ops.concatenate
row_stack = ops.vstack


def _at_least(ndim: int, tensors):
    if len(tensors) == 1 and isinstance(tensors[0], tuple | list):  # (a sequence: a tuple, even of one)
        return tuple(_at_least(ndim, (x,)) for x in tensors[0])
    shaped = []
    for x in map(_tensor, tensors):
        if x.ndim < ndim:  # NumPy's and PyTorch's rule: (n,) -> (1, n) -> (1, n, 1); (m, n) -> (m, n, 1)
            shape = {0: (1,) * ndim, 1: (1, *x.shape, 1)[:ndim], 2: (*x.shape, 1)}[x.ndim]
            x = x.reshape(*shape)
        shaped.append(x)
    return shaped[0] if len(shaped) == 1 else tuple(shaped)


def atleast_1d(*tensors):
    """Each tensor viewed with at least 1 dimension (``torch.atleast_1d``): one tensor for one
    argument, else a tuple."""
    return _at_least(1, tensors)


def atleast_2d(*tensors):
    """Each tensor viewed with at least 2 dimensions (a vector (n,) becomes (1, n))."""
    return _at_least(2, tensors)


def atleast_3d(*tensors):
    """Each tensor viewed with at least 3 dimensions ((n,) becomes (1, n, 1), (m, n) becomes (m, n, 1))."""
    return _at_least(3, tensors)


def dstack(tensors):
    """The tensors joined along the third axis, after ``atleast_3d`` (``torch.dstack``)."""
    return ops.concatenate([atleast_3d(x) for x in tensors], axis=2)


def column_stack(tensors):
    """The tensors as columns side by side (``torch.column_stack``): 0-D and 1-D tensors become
    columns, the others are joined along axis 1."""
    columns = [x.reshape(-1, 1) if x.ndim < 2 else x for x in map(_tensor, tensors)]
    return ops.concatenate(columns, axis=1)


def broadcast_shapes(*shapes) -> tuple:
    """The shape that tensors of ``shapes`` broadcast to (``torch.broadcast_shapes``; an int is a 1-D shape).

    Raises:
        ValueError: the shapes do not broadcast together.
    """
    shapes = [(s,) if isinstance(s, numbers.Integral) else tuple(s) for s in shapes]
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        raise InvalidArgumentError(
            f"broadcast_shapes: the shapes {', '.join(map(str, shapes))} do not broadcast together "
            "(each dimension, counted from the last, must be equal or 1)") from None


def broadcast_tensors(*tensors) -> tuple:
    """The tensors broadcast to their common shape (``torch.broadcast_tensors``), differentiable."""
    tensors = [_tensor(x) for x in tensors]
    shape = broadcast_shapes(*(x.shape for x in tensors))
    return tuple(ops.broadcast_to(x, shape) for x in tensors)


def block_diag(*tensors):
    """The block-diagonal matrix of the tensors (``torch.block_diag``): a 0-D tensor is a 1x1
    block, a 1-D tensor of n elements a 1xn block; zeros elsewhere, in the common dtype.

    Raises:
        ValueError: a tensor has more than 2 dimensions.
    """
    blocks = []
    for x in map(_tensor, tensors):
        if x.ndim > 2:
            raise InvalidArgumentError(f"block_diag: the tensors must have at most 2 dimensions, got shape {x.shape}")
        blocks.append(x.reshape(*((1, 1) if x.ndim == 0 else (1, -1) if x.ndim == 1 else x.shape)))
    if not blocks:
        return zeros(1, 0)
    dtype = functools.reduce(primitive.promote_types, (b.dtype for b in blocks))  # PyTorch's promotion, not NumPy's
    width = builtins.sum(b.shape[1] for b in blocks)
    rows, before = [], 0
    for b in blocks:
        parts = [zeros(b.shape[0], before, dtype=dtype), b.to(dtype),
                 zeros(b.shape[0], width - before - b.shape[1], dtype=dtype)]
        rows.append(ops.concatenate(parts, axis=1))
        before += b.shape[1]
    return ops.concatenate(rows, axis=0)


def meshgrid(*tensors, indexing: str = "ij"):
    """Coordinate grids of 1-D tensors (``torch.meshgrid``), differentiable: with
    ``indexing="ij"`` output ``i`` has shape ``(len(t0), len(t1), ...)`` and varies along axis
    ``i``; ``"xy"`` swaps the first two axes (NumPy's and MATLAB's default).

    Raises:
        ValueError: ``indexing`` is not "ij" or "xy", or a tensor is not 0-D or 1-D.
    """
    if len(tensors) == 1 and isinstance(tensors[0], tuple | list):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise InvalidArgumentError(f'meshgrid: indexing must be "ij" or "xy", got {indexing!r}')
    tensors = [_tensor(x) for x in tensors]
    if any(x.ndim > 1 for x in tensors):
        raise InvalidArgumentError(f"meshgrid: expects 0-D or 1-D tensors, got shapes {[x.shape for x in tensors]}")
    tensors = [x.reshape(-1) for x in tensors]
    axes = list(builtins.range(len(tensors)))
    if indexing == "xy" and len(axes) > 1:
        axes[0], axes[1] = 1, 0
    shape = [0] * len(tensors)
    for axis, x in zip(axes, tensors, strict=True):
        shape[axis] = x.shape[0]
    grids = []
    for axis, x in zip(axes, tensors, strict=True):
        view = [1] * len(tensors)
        view[axis] = -1
        grids.append(ops.broadcast_to(x.reshape(*view), tuple(shape)))
    return tuple(grids)


def cartesian_prod(*tensors):
    """The Cartesian product of 1-D tensors as the rows of a matrix (``torch.cartesian_prod``,
    as ``itertools.product``); one tensor is returned as it is."""
    if len(tensors) == 1:
        return _tensor(tensors[0])
    return ops.stack([g.reshape(-1) for g in meshgrid(*tensors, indexing="ij")], axis=1)


def combinations(input, r: int = 2, with_replacement: bool = False):  # noqa: A002
    """The length-``r`` combinations of a 1-D tensor's elements as rows (``torch.combinations``,
    as ``itertools.combinations`` or, with replacement, ``combinations_with_replacement``).

    Raises:
        ValueError: ``input`` is not 1-D or ``r`` is negative.
    """
    x = _tensor(input)
    if x.ndim != 1:
        raise InvalidArgumentError(f"combinations: expects a 1-D tensor, got shape {x.shape}")
    if r < 0:
        raise InvalidArgumentError(f"combinations: r must be non-negative, got {r}")
    if r == 0:
        return zeros(0, dtype=x.dtype)
    choose = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    index = np.array(list(choose(builtins.range(x.shape[0]), r)), dtype=np.int64).reshape(-1, r)
    return x[index]


def chain_matmul(*matrices):
    """The product of 2-D matrices, left to right (``torch.chain_matmul``; PyTorch suggests
    ``torch.linalg.multi_dot``).

    Raises:
        ValueError: no matrices, or one is not 2-D.
    """
    if not matrices:
        raise InvalidArgumentError("chain_matmul: expects at least one matrix")
    matrices = [_tensor(m) for m in matrices]
    for m in matrices:
        if m.ndim != 2:
            raise InvalidArgumentError(f"chain_matmul: expects 2-D tensors, got shape {m.shape}")
    product = matrices[0]
    for m in matrices[1:]:
        product = ops.matmul(product, m)
    return product


def cdist(x1, x2, p: float = 2.0, compute_mode=None):
    """The p-norm distances between the rows of ``x1`` (..., P, M) and of ``x2`` (..., R, M),
    of shape (..., P, R) (``torch.cdist``); leading batch dimensions broadcast. ``p=0`` counts
    the differing coordinates, ``p=inf`` takes the largest difference. ``compute_mode`` is
    accepted for compatibility: the distances are always computed directly (PyTorch's
    matrix-product shortcut trades accuracy for speed). At a zero distance the gradient is 0.

    Raises:
        ValueError: ``p`` is negative, the tensors have fewer than 2 dimensions, their last
            dimensions differ, or ``compute_mode`` is not one of PyTorch's values.
    """
    if compute_mode not in (None, "use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist",
                            "donot_use_mm_for_euclid_dist"):
        raise InvalidArgumentError(f"cdist: unknown compute_mode {compute_mode!r}")
    if p < 0:
        raise InvalidArgumentError(f"cdist: p must be non-negative, got {p}")
    x1, x2 = _tensor(x1), _tensor(x2)
    if x1.ndim < 2 or x2.ndim < 2 or x1.shape[-1] != x2.shape[-1]:
        raise InvalidArgumentError(f"cdist: expects tensors of shapes (..., P, M) and (..., R, M), got {x1.shape} and "
                         f"{x2.shape}")
    difference = x1.unsqueeze(-2) - x2.unsqueeze(-3)
    if p == 0:
        return _constant_in(np.count_nonzero(difference.data, axis=-1).astype(difference.dtype), x1, x2)
    return difference.norm(p=p, dim=-1)


def _constant_in(value: np.ndarray, *inputs) -> Tensor:
    """``value`` recorded as a function of ``inputs`` whose derivative is 0, as PyTorch records
    its piecewise-constant functions (cdist with p=0, bernoulli, poisson): backward through it gives
    zero gradients rather than "does not require grad"."""
    tracked = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]
    if tracked and mode.grad_enabled:
        return _ZeroDerivative.apply(value, *tracked)
    return Tensor._wrap(value)


def _spacing(name: str, y: Tensor, x, dx, axis: int):
    """The widths of the trapezoids along ``axis``: from the sample points ``x`` or the constant ``dx``."""
    if x is not None and dx is not None:
        raise TypeError(f"{name}: give the sample points x or the spacing dx, not both")
    if x is None:
        return 1.0 if dx is None else dx
    x = _tensor(x)
    if x.ndim == 1:
        if x.shape[0] != y.shape[axis]:
            raise InvalidArgumentError(f"{name}: x has {x.shape[0]} points but y has {y.shape[axis]} along dim {axis}")
        widths = x[1:] - x[:-1]
        return widths.reshape(*([-1] + [1] * (y.ndim - 1 - axis)))
    count = x.shape[axis] if x.ndim == y.ndim else None
    if count != y.shape[axis]:
        raise InvalidArgumentError(f"{name}: x of shape {x.shape} does not match y of shape {y.shape} along dim {axis}")
    return x.narrow(axis, 1, count - 1) - x.narrow(axis, 0, count - 1)


def _trapezoids(name: str, y, x, dx, dim: int):
    y = _tensor(y)
    axis = normalize_axes(dim, y.ndim)[0]
    widths = _spacing(name, y, x, dx, axis)
    n = y.shape[axis]
    if n == 0:
        return y.narrow(axis, 0, 0), axis
    return (y.narrow(axis, 1, n - 1) + y.narrow(axis, 0, n - 1)) * widths / 2, axis


def trapezoid(y, x=None, *, dx=None, dim: int = -1):
    """The integral of ``y`` along ``dim`` by the trapezoidal rule (``torch.trapezoid``), at
    the sample points ``x`` (1-D along ``dim``, or y's shape) or with the spacing ``dx`` (1 by default)."""
    pieces, axis = _trapezoids("trapezoid", y, x, dx, dim)
    return pieces.sum(axis=axis)


trapz = trapezoid


def cumulative_trapezoid(y, x=None, *, dx=None, dim: int = -1):
    """The running trapezoidal integrals of ``y`` along ``dim`` (``torch.cumulative_trapezoid``:
    one element fewer than ``y`` along ``dim``)."""
    pieces, axis = _trapezoids("cumulative_trapezoid", y, x, dx, dim)
    return ops.cumsum(pieces, axis=axis)


# -- searching sorted values ---------------------------------------------------------------------------------------


def searchsorted(sorted_sequence, input, *, out_int32: bool = False, right: bool = False, side=None,  # noqa: A002
                 sorter=None):
    """Where ``input``'s values would go in ``sorted_sequence`` to keep it sorted
    (``torch.searchsorted``): an integer tensor outside the graph. A 1-D sequence serves every
    value; an N-D one searches each row (its leading dimensions must equal ``input``'s).
    ``right=True`` or ``side="right"`` places a value after equal ones; ``sorter`` gives the
    indices that sort an unsorted sequence.

    Raises:
        ValueError: ``side`` is not "left"/"right" or contradicts ``right``, or the shapes do not match.
    """
    if side not in (None, "left", "right"):
        raise InvalidArgumentError(f'searchsorted: side must be "left" or "right", got {side!r}')
    if side == "left" and right:
        raise InvalidArgumentError('searchsorted: side="left" and right=True contradict each other; give one')
    side = side or ("right" if right else "left")
    return _no_grad_on_data(_search)(sorted_sequence, input, sorter, side=side,
                                     dtype=np.int32 if out_int32 else np.int64)


def _search(sequence, values, order, side: str, dtype) -> np.ndarray:
    """``searchsorted`` on the data (an mg.compile replay computes it again from new values)."""
    sequence, values = np.asarray(sequence), np.asarray(values)
    if order is not None:
        order = np.asarray(order)
        if order.dtype.kind == "f" and np.all(order == np.round(order)):  # mg.tensor([1, 0]) is float
            order = order.astype(np.int64)
        sequence = np.take_along_axis(sequence, order, axis=-1)
    if sequence.ndim <= 1:
        found = np.searchsorted(sequence, values, side=side)
    else:
        if values.ndim != sequence.ndim or values.shape[:-1] != sequence.shape[:-1]:
            raise InvalidArgumentError(
                f"searchsorted: the leading dimensions of sorted_sequence {sequence.shape} and input "
                f"{values.shape} must be equal")
        rows = sequence.reshape(-1, sequence.shape[-1])
        found = np.stack([np.searchsorted(r, v, side=side) for r, v in
                          zip(rows, values.reshape(rows.shape[0], -1), strict=True)]).reshape(values.shape)
    return np.asarray(found, dtype=dtype)


def bucketize(input, boundaries, *, out_int32: bool = False, right: bool = False):  # noqa: A002
    """The index of the bucket of each value of ``input`` among the sorted 1-D ``boundaries``
    (``torch.bucketize``): ``boundaries[i-1] < x <= boundaries[i]``, or with ``right=True``
    ``boundaries[i-1] <= x < boundaries[i]``. An integer tensor outside the graph.

    Raises:
        ValueError: ``boundaries`` is not 1-D.
    """
    if np.ndim(_data(boundaries)) != 1:
        raise InvalidArgumentError(
            f"bucketize: boundaries must be a 1-D tensor, got shape {np.shape(_data(boundaries))}")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


# -- constructors --------------------------------------------------------------------------------------------------


@_constructor
@takes_device
def empty(*size, dtype=None, requires_grad: bool = False, name: str | None = None) -> Tensor:
    """A new tensor of ``size`` (``torch.empty``); its values are zeros here (PyTorch leaves
    them uninitialised: do not rely on them either way)."""
    return zeros(*size, dtype=dtype, requires_grad=requires_grad, name=name)


@_constructor
@takes_device
def empty_strided(size, stride, *, dtype=None, requires_grad: bool = False, name: str | None = None) -> Tensor:
    """A new tensor of ``size`` whose elements are ``stride`` elements apart along each
    dimension (``torch.empty_strided``; ``t.stride()`` gives them back): a view of one buffer
    just long enough, so overlapping strides (0 included) share elements as in PyTorch. Zeros
    here (PyTorch leaves them uninitialised)."""
    size, stride = tuple(int(n) for n in size), tuple(int(n) for n in stride)
    if len(size) != len(stride):
        raise InvalidArgumentError(f"empty_strided: mismatch in length of strides and shape ({len(stride)} strides "
                                   f"for {len(size)} dimensions)")
    if any(n < 0 for n in size) or any(s < 0 for s in stride):
        raise InvalidArgumentError(f"empty_strided: sizes and strides must be non-negative, got {size} and {stride}")
    dtype = _constructor_dtype("empty_strided", dtype, get_default_dtype(), requires_grad)
    length = 0 if 0 in size else 1 + sum((n - 1) * s for n, s in zip(size, stride))
    buffer = np.zeros(length, dtype=dtype)
    array = np.lib.stride_tricks.as_strided(buffer, size, tuple(s * buffer.itemsize for s in stride))
    return _new(array, requires_grad, name)


@_constructor
@takes_device
def empty_permuted(size, physical_layout, *, dtype=None, requires_grad: bool = False,
                   name: str | None = None) -> Tensor:
    """A new tensor of ``size`` laid out in memory with its dimensions in the order
    ``physical_layout`` (outermost first), as ``torch.empty_permuted``: ``empty_permuted((2,
    3, 4), (0, 2, 1))`` is a (2, 3, 4) tensor whose dimension 1 varies fastest. Zeros here."""
    size, layout = tuple(int(n) for n in size), tuple(int(d) for d in physical_layout)
    if sorted(layout) != list(builtins.range(len(size))):
        raise InvalidArgumentError(f"empty_permuted: physical_layout must be a permutation of the {len(size)} "
                                   f"dimensions, got {layout}")
    dtype = _constructor_dtype("empty_permuted", dtype, get_default_dtype(), requires_grad)
    buffer = np.zeros([size[d] for d in layout], dtype=dtype)
    return _new(buffer.transpose(np.argsort(layout)), requires_grad, name)


def nonzero_static(input, *, size: int, fill_value: int = -1) -> Tensor:  # noqa: A002
    """The indices of the nonzero elements as ``nonzero()``'s (n, ndim) int64 tensor, cut or
    padded with ``fill_value`` to ``size`` rows (``torch.nonzero_static``: a fixed shape)."""
    size = int(size)
    if size < 0:
        raise InvalidArgumentError(f"nonzero_static: size must be non-negative, got {size}")
    array = _data(input)
    found = np.argwhere(array)[:size].astype(np.int64)
    out = np.full((size, np.ndim(array)), fill_value, dtype=np.int64)
    out[:len(found)] = found
    return Tensor._wrap(out)


@_constructor
@takes_device
def empty_like(input, *, dtype=None, requires_grad: bool = False, name: str | None = None) -> Tensor:  # noqa: A002
    """A new tensor with ``input``'s shape (and float dtype, unless given), as ``torch.empty_like``; zeros here."""
    return zeros_like(input, dtype=dtype, requires_grad=requires_grad, name=name)


@_constructor
@takes_device
def scalar_tensor(s, *, dtype=None, requires_grad: bool = False) -> Tensor:
    """A 0-D tensor holding the number ``s``, in the default float dtype unless ``dtype`` is given."""
    dtype = _constructor_dtype("scalar_tensor", dtype, get_default_dtype(), requires_grad)
    return _new(np.asarray(s, dtype=dtype).reshape(()), requires_grad)


@_constructor
@takes_device
def asarray(obj, *, dtype=None, copy=None, requires_grad: bool = False) -> Tensor:
    """``obj`` as a tensor (``torch.asarray``), sharing the memory of a Tensor or ndarray when
    ``copy`` is not True and ``dtype`` needs no conversion. A Tensor converted to another dtype
    or copied stays in its graph (``t.to(dtype)``, ``t.clone()``).

    Raises:
        ValueError: ``copy=False`` but a copy is needed (a list, or another dtype).
    """
    target = None if dtype is None else np.dtype(dtype)
    data = obj.data if isinstance(obj, Tensor) else obj
    shares = isinstance(data, np.ndarray) and (target is None or data.dtype == target) and data.dtype.kind in "fiub"
    if copy is False and not shares:
        raise InvalidArgumentError("asarray: copy=False, but this data cannot be shared without a copy (it is not an "
                         "ndarray or Tensor of that dtype); pass copy=None or True")
    if isinstance(obj, Tensor):
        result = obj.clone() if shares and copy else obj if shares else obj.to(target)
        return result.requires_grad_(True) if requires_grad and not result.requires_grad else result
    if shares and not copy:
        _constructor_dtype("asarray", data.dtype, data.dtype, requires_grad)  # only floats may require grad
        return _new(data, requires_grad)
    return tensor(data, dtype=dtype, requires_grad=requires_grad)


@_constructor
@takes_device
def as_tensor(data, dtype=None) -> Tensor:
    """``data`` as a tensor, sharing a Tensor's or ndarray's memory when the dtype allows
    (``torch.as_tensor``): a Tensor of that dtype is returned as it is, one of another dtype
    converted in its graph (``t.to(dtype)``)."""
    return asarray(data, dtype=dtype)


@_constructor
@takes_device
def logspace(start, end, steps: int, base: float = 10.0, *, dtype=None, requires_grad: bool = False) -> Tensor:
    """``steps`` values from ``base ** start`` to ``base ** end``, evenly spaced in the exponent
    (``torch.logspace``)."""
    dtype = _constructor_dtype("logspace", dtype, get_default_dtype(), requires_grad, kinds="fiu")
    if dtype.kind in "iu":  # as linspace: the exponents' ends in the integer dtype, values toward zero
        return _new(np.trunc(np.logspace(int(start), int(end), steps, base=base)).astype(dtype), requires_grad)
    return _new(np.logspace(start, end, steps, base=base).astype(dtype), requires_grad)


@_constructor
@takes_device
def range(start=0, end=None, step=1, *, dtype=None, requires_grad: bool = False) -> Tensor:  # noqa: A001
    """Values from ``start`` to ``end`` inclusive in steps of ``step`` (the deprecated
    ``torch.range``; warns, as PyTorch does: use ``mg.arange``, which excludes ``end``)."""
    warnings.warn("mg.range is deprecated, as torch.range is: use mg.arange(start, end, step), whose end is "
                  "not included", UserWarning, stacklevel=3)
    if end is None:
        start, end = 0, start
    if step == 0:
        raise InvalidArgumentError("range: step must not be 0")
    dtype = _constructor_dtype("range", dtype, get_default_dtype(), requires_grad, kinds="fiu")
    count = builtins.max(math.floor((end - start) / step) + 1, 0)
    return _new((start + step * np.arange(count)).astype(dtype), requires_grad)


def _triangle_indices(select, row: int, col: int, offset: int, dtype) -> Tensor:
    dtype = _constructor_dtype("tril_indices", dtype, np.int64, False, kinds="iu")
    return Tensor._wrap(np.stack(select(row, offset, col)).astype(dtype).reshape(2, -1))


@_constructor
@takes_device
def tril_indices(row: int, col: int, offset: int = 0, *, dtype=np.int64) -> Tensor:
    """The (2, N) row and column indices of the lower triangle of a ``row`` x ``col`` matrix,
    row by row (``torch.tril_indices``); ``offset`` moves the diagonal up (+) or down (-)."""
    return _triangle_indices(np.tril_indices, row, col, offset, dtype)


@_constructor
@takes_device
def triu_indices(row: int, col: int, offset: int = 0, *, dtype=np.int64) -> Tensor:
    """The (2, N) indices of the upper triangle of a ``row`` x ``col`` matrix (``torch.triu_indices``)."""
    return _triangle_indices(np.triu_indices, row, col, offset, dtype)


# -- random --------------------------------------------------------------------------------------------------------


def _source(generator, rng, where: str) -> np.random.Generator:
    """The random source of ``generator=`` (PyTorch's name) or ``rng=``: a NumPy Generator, a seed
    or None for the global generator that ``mg.manual_seed`` seeds."""
    from microgradnp.data.dataset import _generator  # the data package builds on the ops

    return _rng(_generator(generator, rng, where))


@_constructor
@takes_device
def randint(*args, size=None, low=None, high=None, generator=None, rng=None, dtype=None,
            requires_grad: bool = False) -> Tensor:
    """Random integers in [low, high) of shape ``size`` (``torch.randint``): ``randint(high, size)``
    or ``randint(low, high, size)``; int64 unless ``dtype`` says otherwise. Random draws come
    from NumPy (``generator=``/``rng=``: a Generator, a seed, or None for ``mg.manual_seed``'s).

    Raises:
        TypeError: the arguments are not one of those forms.
        ValueError: ``low >= high``.
    """
    given = list(args)
    if size is None and given and not isinstance(given[-1], numbers.Integral):
        size = given.pop()
    if high is None and given:
        high = given.pop()
    if low is None and given:
        low = given.pop()
    if given or high is None or size is None:
        raise TypeError("randint: call it as randint(high, size) or randint(low, high, size), size a tuple")
    low = 0 if low is None else low
    if low >= high:
        raise InvalidArgumentError(f"randint: low ({low}) must be less than high ({high})")
    dtype = _constructor_dtype("randint", dtype, np.int64, requires_grad, kinds="fiu")
    shape = (size,) if isinstance(size, numbers.Integral) else tuple(size)
    values = _source(generator, rng, "randint").integers(low, high, size=shape)
    return _new(values.astype(dtype), requires_grad)


@_constructor
@takes_device
def randint_like(input, low=0, high=None, *, generator=None, rng=None, dtype=None,  # noqa: A002
                 requires_grad: bool = False) -> Tensor:
    """Random integers in [low, high) with ``input``'s shape and dtype (``torch.randint_like``;
    ``randint_like(x, high)`` starts at 0)."""
    if high is None:
        low, high = 0, low
    data = np.asarray(_data(input))
    return randint(low, high, data.shape, generator=generator, rng=rng,
                   dtype=data.dtype if dtype is None else dtype, requires_grad=requires_grad)


@_constructor
@takes_device
def rand_like(input, *, generator=None, rng=None, dtype=None, requires_grad: bool = False) -> Tensor:  # noqa: A002
    """Uniform samples in [0, 1) with ``input``'s shape and float dtype (``torch.rand_like``)."""
    data = np.asarray(_data(input))
    return rand(data.shape, dtype=_float_dtype_of(data) if dtype is None else dtype,
                rng=_source(generator, rng, "rand_like"), requires_grad=requires_grad)


@_constructor
@takes_device
def randn_like(input, *, generator=None, rng=None, dtype=None, requires_grad: bool = False) -> Tensor:  # noqa: A002
    """Standard normal samples with ``input``'s shape and float dtype (``torch.randn_like``)."""
    data = np.asarray(_data(input))
    return randn(data.shape, dtype=_float_dtype_of(data) if dtype is None else dtype,
                 rng=_source(generator, rng, "randn_like"), requires_grad=requires_grad)


@_constructor
@takes_device
def randperm(n: int, *, generator=None, rng=None, dtype=np.int64, requires_grad: bool = False) -> Tensor:
    """A random permutation of 0, ..., n - 1 (``torch.randperm``), int64 unless ``dtype`` says otherwise."""
    dtype = _constructor_dtype("randperm", dtype, np.int64, requires_grad, kinds="fiu")
    return _new(_source(generator, rng, "randperm").permutation(n).astype(dtype), requires_grad)


@takes_device
def normal(mean=0.0, std=1.0, size=None, *, generator=None, rng=None, dtype=None, requires_grad: bool = False):
    """Normal samples of the given ``mean`` and ``std`` (``torch.normal``): tensors that
    broadcast together (the result has their shape), or two numbers and a ``size``. The
    result is ``mean + std * noise``, so gradients reach tensor means and stds (the
    reparameterisation), in their float dtype.

    Raises:
        ValueError: a std is negative, or ``size`` is missing for two numbers / given with a tensor.
    """
    tensors = isinstance(mean, Tensor | np.ndarray | list) or isinstance(std, Tensor | np.ndarray | list)
    if tensors == (size is not None):
        raise InvalidArgumentError("normal: give tensors mean and/or std (their shape is the result's), or two numbers "
                         "and a size")
    if np.any(np.asarray(_data(std)) < 0):
        raise InvalidArgumentError("normal: std must be non-negative")
    source = _source(generator, rng, "normal")
    if not tensors:
        noise = randn(_shape(size if isinstance(size, tuple | list) else (size,)), dtype=dtype, rng=source)
        made = noise * std + mean
        return made.requires_grad_(True) if requires_grad else made
    if dtype is None:  # as PyTorch: a tensor mean's dtype, else a tensor std's (a number takes either's)
        given = mean if isinstance(mean, Tensor | np.ndarray | list) else std
        dtype = _tensor(given).dtype
    mean, std = _tensor(mean), _tensor(std)
    shape = broadcast_shapes(mean.shape, std.shape)
    noise = randn(shape, dtype=dtype, rng=source)
    return (mean + std * noise).to(dtype)


@_constructor
def bernoulli(input, p=None, *, generator=None, rng=None):  # noqa: A002
    """Samples 1 with probability ``input`` (or ``p`` for every element) and 0 otherwise, in
    ``input``'s float dtype (``torch.bernoulli``); as PyTorch's, its gradient is 0.

    Raises:
        ValueError: a probability is outside [0, 1].
    """
    data = np.asarray(_data(input))
    probability = data if p is None else np.full(data.shape, p)
    if np.any((probability < 0) | (probability > 1)):
        raise InvalidArgumentError("bernoulli: probabilities must lie in [0, 1]")
    draws = _source(generator, rng, "bernoulli").random(data.shape) < probability
    return _constant_in(draws.astype(_float_dtype_of(data)), input)


@_constructor
def multinomial(input, num_samples: int, replacement: bool = False, *, generator=None, rng=None):  # noqa: A002
    """Category indices drawn with probabilities proportional to ``input``'s non-negative weights
    (``torch.multinomial``): a 1-D input gives ``num_samples`` indices, a 2-D input that many per
    row; int64, outside the graph.

    Raises:
        ValueError: the input is not 1-D or 2-D, a weight is negative or not finite, a row sums
            to 0, or more samples without replacement than categories of nonzero weight.
    """
    weights = np.asarray(_data(input), dtype=np.float64)
    if weights.ndim not in (1, 2):
        raise InvalidArgumentError(f"multinomial: expects a 1-D or 2-D tensor of weights, got shape {weights.shape}")
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise InvalidArgumentError("multinomial: the weights must be finite and non-negative")
    rows = weights.reshape(-1, weights.shape[-1])
    if np.any(rows.sum(axis=1) <= 0):
        raise InvalidArgumentError("multinomial: each row of weights must have a positive sum")
    if not replacement and num_samples > np.count_nonzero(rows, axis=1).min():
        raise InvalidArgumentError(f"multinomial: cannot draw {num_samples} samples without replacement from "
                         f"{np.count_nonzero(rows, axis=1).min()} categories of nonzero weight; pass "
                         "replacement=True or fewer samples")
    source = _source(generator, rng, "multinomial")
    drawn = np.stack([source.choice(len(r), size=num_samples, replace=replacement, p=r / r.sum()) for r in rows])
    return Tensor._wrap(drawn.reshape(*weights.shape[:-1], num_samples).astype(np.int64))


@_constructor
def poisson(input, generator=None, *, rng=None):  # noqa: A002
    """Poisson samples with the rates ``input``, in its float dtype (``torch.poisson``); as PyTorch's,
    its gradient is 0.

    Raises:
        ValueError: a rate is negative.
    """
    data = np.asarray(_data(input))
    if np.any(data < 0):
        raise InvalidArgumentError("poisson: the rates must be non-negative")
    draws = _source(generator, rng, "poisson").poisson(data)
    return _constant_in(draws.astype(_float_dtype_of(data)), input)


# -- grad mode -----------------------------------------------------------------------------------------------------


class _Inference(threading.local):
    enabled = False


_inference = _Inference()


class inference_mode(_ModeSwitch):
    """``torch.inference_mode``: here the same as ``no_grad`` (nothing recorded), used as
    ``with mg.inference_mode():`` or as a decorator (``@mg.inference_mode`` or
    ``@mg.inference_mode()``); ``inference_mode(False)`` records again inside, as PyTorch's does."""

    def __new__(cls, mode=True):
        if callable(mode) and not isinstance(mode, bool):
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode: bool = True):
        super().__init__(not mode)
        self.mode = bool(mode)
        self._inference_before: list[bool] = []

    def __enter__(self):
        self._inference_before.append(_inference.enabled)
        _inference.enabled = self.mode
        return super().__enter__()

    def __exit__(self, *exc):
        _inference.enabled = self._inference_before.pop()
        return super().__exit__(*exc)

    def _recreate_cm(self):
        return inference_mode(self.mode)


def is_inference_mode_enabled() -> bool:
    """Whether an ``inference_mode`` block is active in this thread."""
    return _inference.enabled
