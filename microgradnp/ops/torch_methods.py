"""Tensor methods under PyTorch's names, each written with the operations that already
exist (no rule is written twice): ``t.clamp``, ``t.neg``, ``t.pow``, ``t.mm``, ``t.t()``,
``t.expand``, ``t.view_as``, ``t.new_zeros``, ``t.unbind``, ``t.amax``, ``t.eq``,
``t.long()``, ``t.exp_()`` and the rest a PyTorch user reaches for."""

from __future__ import annotations

import functools
import operator

import numpy as np

from microgradnp import ops
from microgradnp.device import takes_device
from microgradnp.errors import DtypeError, IndexOutOfRangeError, InvalidArgumentError
from microgradnp.ops._aliases import reduced_dims, torch_names

_INTEGER_CASTS = {"long": np.int64, "int": np.int32, "short": np.int16, "char": np.int8, "byte": np.uint8,
                  "bool": np.bool_}


def clamp(self, min=None, max=None):  # noqa: A002  (PyTorch's argument names)
    """Values limited to [min, max] (either may be None), as ``torch.clamp``."""
    if min is None and max is None:
        raise InvalidArgumentError("clamp: give at least one of min and max")
    return ops.clip(self, min, max)


def mm(self, mat2):
    """The matrix product of two 2-D tensors (``torch.mm``; ``@`` broadcasts)."""
    if self.ndim != 2 or np.ndim(mat2) != 2:
        raise InvalidArgumentError(f"mm: expects two 2-D tensors, got shapes {self.shape} and {np.shape(mat2)}; "
                         "use @ (matmul) for other shapes")
    return ops.matmul(self, mat2)


def bmm(self, mat2):
    """Batched matrix products of two 3-D tensors (``torch.bmm``)."""
    if self.ndim != 3 or np.ndim(mat2) != 3:
        raise InvalidArgumentError(f"bmm: expects two 3-D tensors, got shapes {self.shape} and {np.shape(mat2)}")
    from microgradnp.ops.torch_math import _same_batch  # (imports Tensor: attached once Tensor is defined)

    _same_batch("bmm", self, mat2)  # (bmm does not broadcast the batch, as matmul would)
    return ops.matmul(self, mat2)


def dot(self, tensor):
    """The inner product of two 1-D tensors (``torch.dot``)."""
    if self.ndim != 1 or np.ndim(tensor) != 1:
        raise InvalidArgumentError(f"dot: expects two 1-D tensors, got shapes {self.shape} and {np.shape(tensor)}")
    return ops.dot(self, tensor)


def t(self):
    """The transpose of a tensor of at most 2 dimensions (``torch.t``)."""
    if self.ndim > 2:
        raise InvalidArgumentError(f"t() expects a tensor of at most 2 dimensions, got shape {self.shape}; "
                         "use t.transpose(...) or t.permute(...)")
    return self if self.ndim < 2 else ops.transpose(self)


def expand(self, *sizes):
    """This tensor broadcast to ``sizes`` (-1 keeps a dimension), as ``torch.expand``."""
    if len(sizes) == 1 and isinstance(sizes[0], tuple | list):
        sizes = tuple(sizes[0])
    return ops.broadcast_to(self, sizes)  # (which keeps the dimensions given as -1)


def repeat(self, *sizes):
    """This tensor tiled ``sizes`` times along each axis (PyTorch's ``repeat``, NumPy's
    ``tile``; NumPy's element-wise ``repeat`` is ``t.repeat_interleave``)."""
    if len(sizes) == 1 and isinstance(sizes[0], tuple | list):
        sizes = tuple(sizes[0])
    if len(sizes) < self.ndim:
        raise InvalidArgumentError(
            f"repeat: {len(sizes)} repeat counts for a tensor of {self.ndim} dimensions: give at "
            "least one per dimension")
    return ops.tile(self, sizes)


def split(self, split_size_or_sections, dim: int = 0):
    """Pieces of ``split_size_or_sections`` elements along ``dim`` (the last may be
    smaller), or of the listed sizes: PyTorch's ``split`` (``mg.split`` is NumPy's)."""
    length = self.shape[dim]
    if np.ndim(split_size_or_sections) == 0:  # an int, or a one-element integer tensor as PyTorch takes
        size = operator.index(split_size_or_sections)
        if size < 0 or (size == 0 and length):
            raise InvalidArgumentError(f"split: the piece size must be positive (0 only for a dimension of length "
                                       f"0), got {size} for dimension {dim} of length {length}")
        # (an empty dimension gives one empty piece, whatever the size)
        sizes = [size] * (length // size) if size else []
        if not size or length % size or not sizes:
            sizes.append(length % size if size else 0)
    else:
        sizes = [int(size) for size in split_size_or_sections]
        if sum(sizes) != length or min(sizes, default=0) < 0:
            raise InvalidArgumentError(
                f"split: sizes {sizes} must be non-negative and add up to the length {length} of "
                f"dimension {dim}")
        if not sizes:  # (no sizes for an empty dimension: no pieces, as PyTorch; np.split would give one)
            return ()
    return tuple(ops.split(self, np.cumsum(sizes)[:-1].tolist(), axis=dim))


def unbind(self, dim: int = 0):
    """The slices along ``dim``, each without that dimension (``torch.unbind``)."""
    if not self.shape[dim]:  # (np.split cannot make 0 sections)
        return ()
    return tuple(ops.squeeze(piece, axis=dim) for piece in ops.split(self, self.shape[dim], axis=dim))


def narrow(self, dim: int, start: int, length: int):
    """``length`` elements of ``dim`` from ``start`` (``torch.narrow``; ``start`` may be a
    one-element integer tensor, as PyTorch's)."""
    dim, start, length = operator.index(dim), operator.index(start), operator.index(length)
    if not 0 <= start + (self.shape[dim] if start < 0 else 0) <= self.shape[dim] - length or length < 0:
        raise IndexOutOfRangeError(f"narrow: start {start} and length {length} run past dimension {dim} of size "
                         f"{self.shape[dim]}")
    start %= max(self.shape[dim], 1)
    index = (slice(None),) * (dim % self.ndim) + (slice(start, start + length),)
    return self[index]


def _with_alpha(combine, self, other, alpha):
    """``combine(self, alpha * other)`` in the dtype ``combine(self, other)`` has, as PyTorch's
    ``add``/``sub``: ``alpha`` does not promote integer or bool tensors (an int32 plus 2 * a bool
    tensor stays int32), and a float ``alpha`` with integer tensors is refused."""
    if alpha == 1:
        return combine(self, other)
    from microgradnp.tensor import Tensor

    integral = [x.dtype.kind in "biu" for x in (self, other) if isinstance(x, Tensor)]
    if integral and all(integral) and not isinstance(other, float | np.floating):
        if isinstance(alpha, float | np.floating):
            raise DtypeError(f"{combine.__name__}: for integral input tensors, alpha must not be a floating point "
                            f"number (got {alpha!r}), as in PyTorch")
        dtype = combine(self, other).dtype
        return combine(self, alpha * other).to(dtype)
    return combine(self, alpha * other)


def add(self, other, alpha=1):
    """``self + alpha * other`` (``torch.add``)."""
    return _with_alpha(ops.add, self, other, alpha)


def sub(self, other, alpha=1):
    """``self - alpha * other`` (``torch.sub``)."""
    return _with_alpha(ops.subtract, self, other, alpha)


def where(self, condition, other):
    """``self`` where ``condition`` holds, else ``other`` (``torch.Tensor.where``)."""
    return ops.where(condition, self, other)


def lerp(self, end, weight):
    """``self + weight * (end - self)`` (``torch.lerp``)."""
    return self + weight * (end - self)


def amax(self, dim=None, keepdim: bool = False):
    """The largest values over ``dim`` (all by default): ``torch.amax``, values only. Tied
    maxima share the gradient, and so do NaNs, which are the max (torch.amax gives nan
    gradients everywhere in a group holding a NaN; its ``max()`` gives them to the NaNs)."""
    return ops.max(self, axis=reduced_dims(dim), keepdims=keepdim)


def amin(self, dim=None, keepdim: bool = False):
    """The smallest values over ``dim`` (all by default): ``torch.amin``, values only."""
    return ops.min(self, axis=reduced_dims(dim), keepdims=keepdim)


def rsqrt(self):
    """``1 / sqrt(self)`` (``torch.rsqrt``)."""
    return ops.reciprocal(ops.sqrt(self))


def _on_data(function, name: str, doc: str):
    """A method answering from the data, outside the graph (comparisons, tests)."""
    from microgradnp.tensor import _as_array_result, _no_grad_on_data

    on_data = _no_grad_on_data(_as_array_result(function))  # (an mg.compile trace records the call)

    def method(self, *args, **other):  # (other=: PyTorch's keyword, t.eq(other=u))
        if other.keys() - {"other"}:
            raise TypeError(f"{name}() got an unexpected keyword argument {next(iter(other.keys() - {'other'}))!r}")
        return on_data(self, *args, *other.values())

    method.__name__, method.__doc__ = name, doc
    return method


def equal(self, other) -> bool:
    """True when ``other`` has the same shape and the same values (``torch.equal``)."""
    _reading_values(self, other, "mg.equal (a Python bool from tensor values)")
    other = np.asarray(getattr(other, "data", other))
    return self.shape == other.shape and bool(np.array_equal(self.data, other))


def allclose(self, other, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> bool:
    """True when all values are close (``torch.allclose``, ``np.allclose``)."""
    _reading_values(self, other, "mg.allclose (a Python bool from tensor values)")
    return bool(np.allclose(self.data, np.asarray(getattr(other, "data", other)), rtol=rtol, atol=atol,
                            equal_nan=equal_nan))


def _reading_values(a, b, what: str) -> None:
    """Python code sees the values of ``a`` and ``b`` (an mg.compile trace refuses it)."""
    from microgradnp.tensor import Tensor, _reading

    for x in (a, b):
        if isinstance(x, Tensor):
            _reading(x, what)


def _integer_cast(name: str, dtype):
    from microgradnp.tensor import _no_grad_on_data

    def as_integers(data):
        return data.astype(dtype)

    as_integers.__name__ = f"as_{np.dtype(dtype).name}"
    cast = _no_grad_on_data(as_integers)  # (an mg.compile trace records the call)

    def method(self):
        return cast(self)

    method.__name__ = name
    method.__doc__ = (f"The values as {np.dtype(dtype).name}, a tensor outside the graph (``t.{name}()``: "
                      "integer and bool values have no gradient, as in PyTorch).")
    return method


def _new(name: str, fill):
    from microgradnp.tensor import _new as new_tensor

    def method(self, *size, requires_grad: bool = False, dtype=None, fill_value=None, **named):
        if "size" in named and not size:  # (PyTorch's keyword: t.new_zeros(size=(2, 3)))
            size = (named.pop("size"),)
        if named:
            raise TypeError(f"{name}() got an unexpected keyword argument {next(iter(named))!r}")
        shape = tuple(size[0]) if len(size) == 1 and isinstance(size[0], tuple | list) else size
        value = fill if fill is not None else fill_value
        return new_tensor(np.full(shape, value, dtype=dtype or self.dtype), requires_grad)

    method.__name__ = name
    method.__doc__ = f"A new tensor of this tensor's dtype filled with {fill} (``torch.Tensor.{name}``)."
    return takes_device(method)


def new_empty_strided(self, size, stride, dtype=None, requires_grad: bool = False, **options):
    """``mg.empty_strided(size, stride)`` in this tensor's dtype (``torch.Tensor.new_empty_strided``)."""
    from microgradnp.ops.torch_functions import empty_strided

    return empty_strided(size, stride, dtype=dtype or self.dtype, requires_grad=requires_grad, **options)


@takes_device
def new_full(self, size, fill_value, requires_grad: bool = False, dtype=None):
    """A new tensor of this tensor's dtype filled with ``fill_value``."""
    return _new("new_full", None)(self, size, requires_grad=requires_grad, dtype=dtype, fill_value=fill_value)


@takes_device
def new_tensor(self, data, requires_grad: bool = False, dtype=None):
    """A new tensor holding a copy of ``data``, in this tensor's dtype by default."""
    from microgradnp.tensor import Tensor, _reading
    from microgradnp.tensor import _new as new_tensor

    if isinstance(data, Tensor):
        _reading(data, "t.new_tensor(other) (a copy of a tensor's values)")
    return new_tensor(np.array(getattr(data, "data", data), dtype=dtype or self.dtype), requires_grad)


def _in_place(name: str, function):
    """``t.exp_()`` and friends: the operation's own forward, written back into the data,
    with the checks of every in-place method; on a tensor of the recorded graph (or with an
    operand that requires grad) recorded as PyTorch records it (``Tensor._recorded_in_place``)."""
    from microgradnp.autograd.grad_mode import no_grad
    from microgradnp.autograd.versions import bump

    def method(self, *args, **kwargs):
        values = (*args, *kwargs.values())  # the operand that requires grad, if any (scatter_(dim, index, src))
        operand = next((a for a in values if getattr(a, "requires_grad", False)), None)
        if self._records(operand):
            def compute(before):  # (the tensor as its own operand, y.clamp_(min=y), is its old version)
                return function(before, *[before if a is self else a for a in args],
                                **{k: before if v is self else v for k, v in kwargs.items()})

            return self._recorded_in_place(f"{name}()", compute, value=values)
        self._check_in_place(f"{name}()", operand)
        with no_grad():
            result = function(self.detach(), *args, **kwargs)
        try:
            np.copyto(self.data, result.data, casting="same_kind")
        except (ValueError, TypeError) as error:
            raise InvalidArgumentError(
                f"{name}(): cannot write a result of shape {result.shape} and dtype {result.dtype} "
                f"into this tensor of shape {self.shape} and dtype {self.dtype} ({error})") from None
        bump(self.data)
        return self

    method.__name__ = name
    method.__doc__ = f"``{name[:-1]}`` in place: the data is overwritten; returns self."
    return method


def attach(tensor_class) -> None:
    comparisons = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
                   "gt": np.greater, "ge": np.greater_equal}
    methods = {
        "clamp": clamp, "neg": ops.negative, "negative": ops.negative, "pow": ops.power, "mm": mm, "bmm": bmm,
        "dot": dot, "t": t, "expand": torch_names(expand, {"size": "sizes"}),
        "repeat": torch_names(repeat, {"repeats": "sizes"}),
        "split": torch_names(split, {"split_size": "split_size_or_sections"}), "unbind": unbind,
        "narrow": narrow, "where": where, "lerp": lerp, "amax": amax, "amin": amin, "rsqrt": rsqrt,
        "add": add, "sub": sub, "mul": ops.multiply, "div": ops.divide,
        "true_divide": ops.divide, "subtract": sub, "multiply": ops.multiply, "divide": ops.divide,
        "equal": equal, "allclose": allclose, "new_full": new_full, "new_tensor": new_tensor,
        "new_zeros": _new("new_zeros", 0), "new_ones": _new("new_ones", 1), "new_empty": _new("new_empty", 0),
        "new_empty_strided": new_empty_strided,
        "expand_as": lambda self, other: ops.broadcast_to(self, other.shape),
        # (a view, as PyTorch's: refused where it would need a copy, which writes would not reach self)
        "view_as": lambda self, other: self.view(other.shape),
        "reshape_as": lambda self, other: ops.reshape(self, other.shape),
        "type_as": lambda self, other: self.to(other.dtype),
        "dim": lambda self: self.ndim, "ndimension": lambda self: self.ndim,
        "contiguous": lambda self: self if self.data.flags.c_contiguous else ops.Copy.apply(self),
        "cpu": lambda self: self,
        "ravel": lambda self: ops.reshape(self, -1),
        "clamp_min": lambda self, min: ops.clip(self, min, None),  # noqa: A006  (PyTorch's name)
        "clamp_max": lambda self, max: ops.clip(self, None, max),  # noqa: A006
        "mT": property(lambda self: ops.swapaxes(self, -1, -2),
                       doc="The last two axes swapped: a batch of matrices transposed (``torch.Tensor.mT``)."),
    }
    methods.update({name: _on_data(ufunc, name, f"Elementwise ``{name}`` as a bool tensor outside the graph.")
                    for name, ufunc in comparisons.items()})
    methods.update({name: _on_data(ufunc, name, f"Elementwise ``{name}`` of the values, a bool tensor outside "
                                                "the graph.")
                    for name, ufunc in {"isnan": np.isnan, "isfinite": np.isfinite, "isinf": np.isinf,
                                        "logical_not": np.logical_not, "signbit": np.signbit}.items()})
    methods.update({name: _integer_cast(name, dtype) for name, dtype in _INTEGER_CASTS.items()})
    in_place = ("exp", "log", "sqrt", "abs", "neg", "sin", "cos", "tanh", "sigmoid", "relu", "square",
                "reciprocal", "floor", "ceil", "round", "trunc", "sign", "pow", "masked_fill", "log1p", "expm1")
    for name in in_place:
        methods[f"{name}_"] = _in_place(f"{name}_", methods.get(name) or getattr(tensor_class, name))
    for name, method in methods.items():
        if not hasattr(tensor_class, name):
            setattr(tensor_class, name, method)
    tensor_class.max = _extreme_method(tensor_class.max, ops.maximum)
    tensor_class.min = _extreme_method(tensor_class.min, ops.minimum)
    from microgradnp.ops import torch_math  # (imports Tensor: attached once Tensor is defined)

    torch_math.attach(tensor_class)
    tensor_class.var = _spread_method(tensor_class.var)
    tensor_class.std = _spread_method(tensor_class.std)
    tensor_class.norm = _norm_method(tensor_class.norm)
    from microgradnp.ops import torch_shape  # linear algebra, shape and indexing methods

    torch_shape.attach(tensor_class)
    from microgradnp.ops import torch_in_place  # more in-place forms (uniform_, clamp_min_, t_...)

    torch_in_place.attach(tensor_class)
    from microgradnp.ops import torch_extras  # bitwise operators, PyTorch-parity fixes

    torch_extras.attach(tensor_class)
    from microgradnp.ops import torch_names_more  # queries of dense real tensors (is_sparse, data_ptr, layout...)

    torch_names_more.attach(tensor_class)


def _extreme_method(reduction, elementwise):
    """``t.max``/``t.min`` read positional arguments as PyTorch does: ``t.max(1)`` (and
    ``t.max(1, True)``) is ``t.max(dim=1)``, the ``(values, indices)`` of the reduction,
    so ``out.max(1)[1]`` is the predicted class as in any PyTorch training loop (NumPy's
    values would silently give a row instead); ``t.max(other)`` is the elementwise
    maximum. With keywords (``axis=`` NumPy's values, ``dim=`` PyTorch's pair) or none,
    it is ``reduction`` itself (``mg.max(x, 1)``, NumPy's function, stays NumPy's)."""

    from microgradnp.tensor import Tensor

    @functools.wraps(reduction)
    def method(self, *args, **kwargs):
        if not args:
            return reduction(self, **kwargs)
        first = args[0]
        if isinstance(first, Tensor | np.ndarray):
            if len(args) > 1 or kwargs:
                raise TypeError(f"{reduction.__name__}(other) takes one tensor and nothing else: the "
                                f"elementwise {elementwise.__name__}")
            return elementwise(self, first)
        if isinstance(first, int | np.integer) and not isinstance(first, bool):
            if len(args) > 2 or "dim" in kwargs or "axis" in kwargs:
                raise TypeError(f"{reduction.__name__}(dim, keepdim=False): got {len(args)} positional "
                                f"arguments and {sorted(kwargs)}")
            if len(args) == 2:
                kwargs["keepdim"] = args[1]
            return reduction(self, dim=first, **kwargs)
        return reduction(self, *args, **kwargs)

    method.__doc__ = (f"{reduction.__doc__}\n\n    As a Tensor method, positional arguments are PyTorch's: "
                      f"``t.{reduction.__name__}(1)`` is ``t.{reduction.__name__}(dim=1)``, the ``(values, "
                      f"indices)`` pair, and ``t.{reduction.__name__}(other)`` the elementwise "
                      f"``{elementwise.__name__}``.")
    return method


def _spread_method(reduction):
    """``t.var``/``t.std`` mean what PyTorch's do (Bessel's correction, N - 1) unless called
    in NumPy's spelling: ``t.var()``, ``t.var(1)``, ``t.var(1, False)`` (unbiased),
    ``t.var(1, True, True)`` (keepdim) and ``t.var(dim=1)`` are ``torch.var``'s numbers, as
    a PyTorch user's code (or test) expects; with ``axis=``, ``keepdims=`` or ``ddof=`` it is
    ``reduction`` itself, NumPy's (``ddof=0`` by default), as is the function ``mg.var``."""

    @functools.wraps(reduction)
    def method(self, *args, **kwargs):
        if "axis" in kwargs or "keepdims" in kwargs or "ddof" in kwargs:
            return reduction(self, *args, **kwargs)
        # PyTorch's overloads: var(dim, unbiased=True, keepdim=False) and var(unbiased)
        names = ("unbiased",) if args and isinstance(args[0], bool | np.bool_) else ("dim", "unbiased", "keepdim")
        if len(args) > len(names):
            raise TypeError(f"{reduction.__name__}() takes at most {len(names)} positional arguments "
                            f"({', '.join(names)}), got {len(args)}")
        for name, value in zip(names, args):
            if name in kwargs:
                raise TypeError(f"{reduction.__name__}() got multiple values for argument {name!r}")
            kwargs[name] = value
        if "unbiased" not in kwargs and "correction" not in kwargs:
            kwargs["correction"] = 1  # PyTorch's default
        return reduction(self, **kwargs)

    method.__doc__ = (f"{reduction.__doc__}\n\n    As a Tensor method it is PyTorch's unless called with NumPy's "
                      f"``axis=``, ``keepdims=`` or ``ddof=``: ``t.{reduction.__name__}()`` and "
                      f"``t.{reduction.__name__}(1)`` divide by N - 1 (``unbiased``/``correction`` change it).")
    return method


def _norm_method(norm):
    """``t.norm`` reads positional arguments as PyTorch's ``Tensor.norm(p, dim, keepdim)``:
    ``t.norm(1)`` on a matrix is the 1-norm of all its elements, as in PyTorch (NumPy's
    ``ord=1`` would be a matrix norm). NumPy's spelling (``ord=``, ``axis=``, ``keepdims=``)
    is ``mg.norm`` itself."""

    @functools.wraps(norm)
    def method(self, *args, **kwargs):
        if not args or "ord" in kwargs or "axis" in kwargs or "keepdims" in kwargs:
            return norm(self, *args, **kwargs)
        if len(args) > 3:
            raise TypeError(f"norm() takes at most 3 positional arguments (p, dim, keepdim), got {len(args)}")
        for name, value in zip(("p", "dim", "keepdim"), args):
            if name in kwargs:
                raise TypeError(f"norm() got multiple values for argument {name!r}")
            kwargs[name] = value
        if kwargs["p"] is None:
            kwargs["p"] = "fro"
        return norm(self, **kwargs)

    method.__doc__ = (f"{norm.__doc__}\n\n    As a Tensor method, positional arguments are PyTorch's: "
                      "``t.norm(p, dim, keepdim)``, a vector p-norm over ``dim`` (all elements when None).")
    return method
