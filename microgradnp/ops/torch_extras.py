"""PyTorch-parity extras: the bitwise operators and methods on bool and integer tensors
(``a & b``, ``~a``, ``a << 2``, ``t.bitwise_and(...)``), and Tensor methods under PyTorch's rules
(``t.div(..., rounding_mode=)``, ``t.squeeze(dim)``, ``t.sum(dtype=)``, dims of 0-d tensors,
``t.diagonal(dim1=, dim2=)``, ``t.scatter(..., reduce=)``, ``t.nonzero()``, ``t.flip(0, 1)``).

Bitwise results, like comparisons, are integer or bool tensors outside the graph (they have
no gradient). On floating-point tensors they raise a TypeError, as PyTorch refuses them."""

from __future__ import annotations

import numpy as np

from microgradnp import ops
from microgradnp.errors import DtypeError, InvalidArgumentError
from microgradnp.ops.primitive import normalize_axes
from microgradnp.tensor import _as_array_result, _compare, _data, _no_grad_on_data

#: PyTorch's method name -> (NumPy's ufunc, operator symbol).
_BITWISE = {
    "bitwise_and": (np.bitwise_and, "&"),
    "bitwise_or": (np.bitwise_or, "|"),
    "bitwise_xor": (np.bitwise_xor, "^"),
    "bitwise_left_shift": (np.left_shift, "<<"),
    "bitwise_right_shift": (np.right_shift, ">>"),
}


def _check_integral(symbol: str, *operands) -> None:
    for x in operands:
        dtype = np.asarray(_data(x)).dtype
        if dtype.kind not in "biu":
            raise DtypeError(
                f"{symbol} is only defined on bool and integer tensors, got dtype {dtype}: "
                "for a mask, compare first ((x > 0) & (x < 2)) or use mg.logical_and / logical_or / logical_not "
                "on the truth values; otherwise convert with .int() or .long()"
            )


def _binary(name: str, ufunc, symbol: str):
    def function(input, other):  # noqa: A002  (PyTorch's argument name)
        _check_integral(f"{name} ({symbol})", input, other)
        # (a NumPy number counts as a Python one, as in PyTorch: bools & np.int32(3) is int64, int8 & it int8)
        return _compare(ufunc, *(x.item() if isinstance(x, np.generic) else x for x in (input, other)))

    function.__name__ = function.__qualname__ = name
    function.__doc__ = (f"Elementwise ``input {symbol} other`` of bool or integer tensors (``torch.{name}``; "
                        "NumPy's type promotion): a tensor outside the graph.\n\n"
                        "Raises:\n    TypeError: an operand is floating point.")
    return function


def bitwise_not(input):  # noqa: A002
    """Elementwise ``~input`` of a bool or integer tensor (``torch.bitwise_not``: logical not on bool),
    a tensor outside the graph.

    Raises:
        TypeError: the tensor is floating point.
    """
    _check_integral("bitwise_not (~)", input)
    return _no_grad_on_data(_as_array_result(np.invert))(input)


for _name, (_ufunc, _symbol) in _BITWISE.items():
    globals()[_name] = _binary(_name, _ufunc, _symbol)

#: NumPy ufuncs a Tensor answers (``ndarray & tensor`` goes through ``Tensor.__array_ufunc__``).
UFUNCS = {ufunc: globals()[name] for name, (ufunc, _) in _BITWISE.items()} | {np.invert: bitwise_not}


def _in_place(name: str, function):
    def method(self, other):
        _check_integral(name, self, other)
        return self._in_place(name, function.ufunc, other)

    method.__name__, method.__doc__ = name, f"``{name[:-1]}`` in place: the data is overwritten; returns self."
    return method


def div(self, other, *, rounding_mode=None):
    """``self / other`` (``torch.Tensor.div``, also ``divide``): ``rounding_mode=None`` is true division,
    ``"trunc"`` rounds the quotient towards zero, ``"floor"`` down (gradient 0 there); integer tensors stay
    integer under a rounding mode, as in PyTorch.

    Raises:
        ValueError: ``rounding_mode`` is not None, ``"trunc"`` or ``"floor"``.
        ZeroDivisionError: integer division by zero under a rounding mode.
    """
    from microgradnp.ops.torch_functions import div as function

    return function(self, other, rounding_mode=rounding_mode)


def _div_(original):
    def div_(self, other, *, rounding_mode=None):
        """``div`` in place (``torch.Tensor.div_``, with ``rounding_mode``): the data is overwritten; returns
        self."""
        return original(self, other) if rounding_mode is None else self.divide_(other, rounding_mode=rounding_mode)

    return div_


def scatter(self, dim, index, src=None, value=None, *, reduce=None):
    """PyTorch's out-of-place ``scatter(dim, index, src | value, reduce=None | "add" | "multiply")``: see
    ``mg.scatter``; with ``reduce`` the values are added to (multiplied into) the elements instead of
    replacing them, as ``scatter_reduce`` with "sum" ("prod").

    Raises:
        ValueError: ``reduce`` is not None, "add" or "multiply".
    """
    from microgradnp.ops.torch_in_place import _scatter

    return _scatter(self, dim, index, src, value, reduce=reduce)


def _cast(name: str, x, dtype):
    """``x`` in ``dtype`` before a reduction (PyTorch's ``dtype=`` argument): differentiably to a
    floating-point dtype, outside the graph to an integer or bool one."""
    from microgradnp.ops.torch_methods import _integer_cast

    dtype = np.dtype(dtype)
    if dtype == x.dtype:
        return x
    if dtype.kind == "f":
        return x.to(dtype)
    if x.requires_grad:
        raise TypeError(f"{name}(dtype={dtype}): an integer result has no gradient, but the input requires grad; "
                        "give a floating-point dtype, or detach() the input first")
    return _integer_cast(name, dtype)(x)


def _scalar_dims(name: str, dims) -> None:
    """A 0-d tensor takes dim 0 or -1 (PyTorch's rule); anything else is PyTorch's IndexError."""
    for d in dims if isinstance(dims, tuple | list) else (dims,):
        if d not in (0, -1):
            raise IndexError(f"{name}: dimension out of range (expected to be in range of [-1, 0] for a 0-d tensor, "
                             f"but got {d})")


def _torch_reduction(name: str, method, *, kind: str = "reduction", takes_dtype: bool = True):
    """The method ``method`` with PyTorch's ``dtype=`` (the input is cast first) and PyTorch's
    rule for 0-d tensors: dim 0 or -1 is accepted, and the result is 0-d. ``kind``: "reduction"
    (the dim becomes None) or "scan" (computed on one element, then made 0-d again)."""

    def wrapped(self, *args, **kwargs):  # (dtype= goes to the function, which casts first)
        if self.ndim == 0:
            keyword = next((k for k in ("dim", "axis") if k in kwargs), None)
            dims = args[0] if args else kwargs.get(keyword)
            if dims is not None and not isinstance(dims, bool):  # (t.std(True) is std(unbiased=True))
                _scalar_dims(name, dims)
                if kind == "scan":
                    return ops.reshape(method(ops.reshape(self, (1,)), *args, **kwargs), ())
                if args:
                    args = (None, *args[1:])
                else:
                    kwargs[keyword] = None
        return method(self, *args, **kwargs)

    wrapped.__name__ = name
    wrapped.__doc__ = (method.__doc__ or "") + (
        "\n\n``dtype=`` (PyTorch's): the input is cast to this dtype first." if takes_dtype else "") + (
        "\n\nOn a 0-d tensor, dim 0 or -1 is accepted (the result is 0-d), as in PyTorch.")
    return wrapped


def squeeze(self, dim=None, *, axis=None):
    """Remove length-1 axes (``torch.Tensor.squeeze``): all of them, or those of ``dim`` (an int or a
    tuple) that have length 1; a listed axis of another length is left alone, as in PyTorch
    (``mg.squeeze``, NumPy's function, raises there).

    Raises:
        IndexError: an axis is out of range.
    """
    if dim is not None and axis is not None:
        raise TypeError("squeeze() got both dim= and axis= (they are the same argument)")
    dim = axis if dim is None else dim
    if dim is None:
        return ops.squeeze(self)
    if self.ndim == 0:
        _scalar_dims("squeeze", dim)
        return ops.squeeze(self, ())
    try:
        axes = normalize_axes(dim, self.ndim)
    except np.exceptions.AxisError as error:
        raise IndexError(f"squeeze: {error}") from None
    if len(set(axes)) != len(axes):
        raise InvalidArgumentError(f"squeeze: dim {dim} repeats an axis (as PyTorch, which refuses it)")
    return ops.squeeze(self, tuple(a for a in axes if self.shape[a] == 1))


def diagonal(self, offset: int = 0, dim1: int = 0, dim2: int = 1, *, axis1=None, axis2=None):
    """The diagonal of the planes of ``dim1`` and ``dim2`` (``torch.Tensor.diagonal``; NumPy's
    ``axis1``/``axis2`` too), moved to the last axis; ``offset`` > 0 is above the main diagonal.

    Raises:
        ValueError: ``dim1`` and ``dim2`` are the same axis.
    """
    dim1 = dim1 if axis1 is None else axis1
    dim2 = dim2 if axis2 is None else axis2
    if self.ndim and normalize_axes(dim1, self.ndim) == normalize_axes(dim2, self.ndim):
        raise InvalidArgumentError(f"diagonal: dim1 and dim2 must be different axes, got {dim1} and {dim2}")
    return ops.diagonal(self, offset, dim1, dim2)


def nonzero(self, *, as_tuple: bool = False):
    """The indices of the non-zero elements as PyTorch's ``t.nonzero()``: an ``(n, ndim)`` int64
    tensor, a row per element; ``as_tuple=True`` gives a tuple of one index tensor per axis.
    (The function ``mg.nonzero(t)`` is NumPy's: the tuple by default.) Outside the graph."""
    return ops.nonzero(self, as_tuple=as_tuple)


def roll(self, shift=None, axis=None, *, shifts=None, dims=None, dim=None):
    """The elements shifted cyclically (``torch.Tensor.roll``): by ``shifts`` along ``dims``
    (an int or a tuple of the same length), or, without ``dims``, the flattened tensor by one
    int. Several shifts need as many dims, as in PyTorch (``mg.roll``, NumPy's, would add them).
    NumPy's names ``shift`` and ``axis`` (and ``dim``) are the same arguments.

    Raises:
        InvalidArgumentError: several shifts and no dims, or a different number of each.
    """
    for torch_name, numpy_name, torch_value, numpy_value in (("shifts", "shift", shifts, shift),
                                                              ("dims", "axis", dims, axis), ("dim", "axis", dim, axis)):
        if torch_value is not None and numpy_value is not None:
            raise TypeError(f"roll() got both {torch_name}= and {numpy_name}= (they are the same argument)")
    shifts = shift if shifts is None else shifts
    dims = axis if dims is None and dim is None else dims if dim is None else dim
    if shifts is None:
        raise TypeError("roll() missing the shifts (how far to roll)")
    count_shifts = len(shifts) if isinstance(shifts, tuple | list) else 1
    count_dims = 0 if dims is None else len(dims) if isinstance(dims, tuple | list) else 1
    if count_shifts != count_dims and (count_shifts > 1 or dims is not None):
        count = count_dims or "no"
        raise InvalidArgumentError(f"roll: shifts and dims must align: {count_shifts} shifts and {count} dims; give "
                                   "one dim per shift (t.roll((1, 2), (0, 1)))")
    if isinstance(shifts, tuple | list) and len(shifts) == 1 and dims is None:
        shifts = shifts[0]
    return ops.roll(self, shifts, dims)


def flip(self, *dims, **kwargs):
    """The elements reversed along ``dims`` (``torch.Tensor.flip``): several ints (``t.flip(0, 1)``,
    PyTorch's variadic form), one int or tuple, or ``dims=``/``axis=`` (``mg.flip``, NumPy's function,
    takes the axes as one argument)."""
    if len(dims) > 1:  # t.flip(0, 1): the ints are the tuple of dims
        dims = (dims,)
    return ops.flip(self, *dims, **kwargs)


def attach(tensor_class) -> None:
    """Add the bitwise operators (``& | ^ ~ << >>``, reflected and in-place) and methods."""
    for name, (ufunc, symbol) in _BITWISE.items():
        function = globals()[name]
        function.ufunc = ufunc
        setattr(tensor_class, name, function)
        setattr(tensor_class, f"{name}_", _in_place(f"{name}_", function))
        dunder = {"&": "and", "|": "or", "^": "xor", "<<": "lshift", ">>": "rshift"}[symbol]
        setattr(tensor_class, f"__{dunder}__", function)
        setattr(tensor_class, f"__r{dunder}__", lambda self, other, function=function: function(other, self))
        setattr(tensor_class, f"__i{dunder}__", _in_place(f"{symbol}=", function))
    tensor_class.bitwise_not = tensor_class.__invert__ = bitwise_not
    tensor_class.div = tensor_class.divide = div
    tensor_class.squeeze = squeeze
    tensor_class.diagonal = diagonal
    for name in ("sum", "mean", "prod", "nansum", "nanmean"):
        setattr(tensor_class, name, _torch_reduction(name, getattr(tensor_class, name)))
    for name in ("cumsum", "cumprod"):
        setattr(tensor_class, name, _torch_reduction(name, getattr(tensor_class, name), kind="scan"))
    for name in ("logsumexp", "amax", "amin", "std", "var"):
        setattr(tensor_class, name, _torch_reduction(name, getattr(tensor_class, name), takes_dtype=False))
    tensor_class.logcumsumexp = _torch_reduction("logcumsumexp", tensor_class.logcumsumexp, kind="scan",
                                                 takes_dtype=False)
    tensor_class.div_ = _div_(tensor_class.div_)
    tensor_class.scatter = scatter
    tensor_class.nonzero = nonzero
    tensor_class.roll = roll
    tensor_class.flip = flip
    tensor_class.bitwise_not_ = lambda self: self.copy_(bitwise_not(self))
    tensor_class.bitwise_not_.__doc__ = "``bitwise_not`` in place: the data is overwritten; returns self."

