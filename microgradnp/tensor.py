"""``Tensor``: an ndarray that remembers how it was computed, and its constructors."""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import math
import numbers
import operator
import sys
import warnings
import weakref

import numpy as np

from microgradnp.device import CPU, device, takes_device
from microgradnp.device import device as _device
from microgradnp.errors import DtypeError, InvalidArgumentError

_default_dtype = np.dtype(np.float64)


def set_default_dtype(dtype) -> None:
    """Dtype of Tensors made from Python numbers, ints and bools (``float64`` to start)."""
    global _default_dtype
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype such as np.float32, got {dtype}")
    _default_dtype = dtype


def get_default_dtype() -> np.dtype:
    """The dtype that Python numbers, ints and bools become (see ``set_default_dtype``)."""
    return _default_dtype


def _as_float_array(data, dtype=None) -> np.ndarray:
    """Copy ``data`` into a new array: floats keep their dtype, ints and bools become
    the default float dtype, an explicit ``dtype`` wins."""
    if isinstance(data, Tensor):
        _reading(data, "mg.tensor(t) (a copy of a tensor's values)")
        data = data.data
    if dtype is not None:
        array = np.array(data, dtype=dtype)
        if array.dtype.kind in "biuf":
            return array
    else:
        array = np.array(data)
        if array.dtype.kind in "biu":
            return array.astype(_default_dtype)
        if array.dtype.kind == "f":
            if not isinstance(data, np.ndarray | np.generic) and array.dtype != _default_dtype:
                return array.astype(_default_dtype)
            return array
    raise TypeError(
        f"cannot make a Tensor from data of dtype {array.dtype}: microgradnp works with "
        "real numbers (floats, or ints and bools, which become floats)"
    )


class _FreedValues:
    """The ``data`` of an intermediate tensor whose values backward freed because nothing
    but the graph held it: the tensor keeps its place in the graph (its node, its name),
    so a kept loss can still be drawn, but a kept loss does not keep its step's
    activations alive. Any use of the values raises and says how to keep them."""

    __slots__ = ()
    _MESSAGE = (
        "the values of this intermediate tensor were freed by backward(): nothing but the "
        "graph held them. Keep a reference to the tensor, or pass retain_graph=True to "
        "backward(), to keep them."
    )

    def _refuse(self, *args, **kwargs):
        raise RuntimeError(self._MESSAGE)

    # NumPy reads an operand through __array__; attributes (shape, dtype...) go through
    # __getattr__; Python's operators come below.
    __array__ = __getattr__ = __len__ = __iter__ = __getitem__ = __float__ = __int__ = __bool__ = _refuse

    def __repr__(self) -> str:
        return "<freed by backward()>"


for _operator in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul"):
    setattr(_FreedValues, f"__{_operator}__", _FreedValues._refuse)
    setattr(_FreedValues, f"__r{_operator}__", _FreedValues._refuse)
for _operator in ("neg", "pos", "abs", "lt", "le", "gt", "ge"):
    setattr(_FreedValues, f"__{_operator}__", _FreedValues._refuse)


FREED = _FreedValues()  # one marker for all: freeing must cost nothing more than a store


# The operations a recorded in-place operator computes (``y += v`` in the graph is ``y + v``).
_RECORDED_FORMS = {np.add: operator.add, np.subtract: operator.sub, np.multiply: operator.mul,
                   np.true_divide: operator.truediv, np.floor_divide: operator.floordiv, np.remainder: operator.mod,
                   np.power: operator.pow}
_SYMBOLS = {"add_": "+", "sub_": "-", "mul_": "*", "div_": "/", "pow_": "**", "+=": "+", "-=": "-", "*=": "*",
            "/=": "/", "**=": "**", "//=": "//", "%=": "%"}


_PRINT_PROFILES = {  # torch.set_printoptions(profile=...)
    "default": {"precision": 4, "threshold": 1000, "edgeitems": 3, "max_line_width": 80},
    "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "max_line_width": 80},
    "full": {"precision": 4, "threshold": sys.maxsize, "edgeitems": 3, "max_line_width": 80},
}
_print_options: dict = {}  # np.array2string's keywords set by set_printoptions (the rest follow NumPy's)


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None):
    """How tensors print, as ``torch.set_printoptions``: ``precision`` digits, ``threshold``
    elements before the middle is summarised with ``...``, ``edgeitems`` shown at each end,
    ``linewidth`` characters per line, a ``profile`` ("default": PyTorch's 4 digits, "short",
    "full": never summarised) set first; ``sci_mode`` True or False forces scientific or
    fixed notation, None (at every call, as PyTorch) chooses. NumPy's own printing is not
    changed. Until it is called, tensors print as NumPy prints arrays; from the first call
    on, what it does not set is PyTorch's default."""
    if not _print_options:
        _print_options.update(_PRINT_PROFILES["default"])
    if profile is not None:
        if profile not in _PRINT_PROFILES:
            raise ValueError(f"set_printoptions: profile must be one of {sorted(_PRINT_PROFILES)}, got {profile!r}")
        _print_options.update(_PRINT_PROFILES[profile])
    for key, value in (("precision", precision), ("threshold", threshold), ("edgeitems", edgeitems),
                       ("max_line_width", linewidth)):
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or value < 0:
                raise ValueError(f"set_printoptions: {key.replace('max_line_width', 'linewidth')} must be a "
                                 f"non-negative number, got {value!r}")
            _print_options[key] = sys.maxsize if value == math.inf else int(value)
    _print_options.pop("suppress_small", None)
    _print_options.pop("formatter", None)
    _print_options["floatmode"] = "maxprec_equal"  # (PyTorch's: one number of digits for all, 1. for whole numbers)
    if sci_mode is True:
        digits = _print_options.get("precision", np.get_printoptions()["precision"])
        _print_options["formatter"] = {"float_kind": lambda v: f"{v:.{digits}e}"}
    elif sci_mode is False:
        _print_options.update(floatmode="fixed", suppress_small=True)


class Tensor:
    """An n-dimensional array with reverse-mode automatic differentiation.

    ``Tensor(data, requires_grad=False, dtype=None, name=None)`` copies ``data``
    (a number, nested list, ndarray or Tensor). Float data keeps its dtype; ints and
    bools become the default float dtype (``mg.set_default_dtype``). With
    ``requires_grad=True`` operations on it are recorded and ``backward()`` fills its
    ``.grad`` (an ndarray of the same shape and dtype).
    """

    # Class-level defaults: an operation's result sets only what differs (fast to create).
    data: np.ndarray
    _grad: np.ndarray | None = None
    _requires_grad = False  # read through the requires_grad property; set directly inside the engine
    name: str | None = None
    _node = None  # the Function instance that computed this tensor; None for leaves
    _hooks: list | None = None
    _retains_grad: bool = False
    _used = 0  # how many inputs of recorded operations it is (see Function.apply)
    _view_stamp = 1  # for a plain view taken after a value that requires grad was written into its memory: when
    _no_grad_view = False  # a view of a tensor that requires grad, taken under no_grad
    _grad_graph: tuple | None = None  # (.grad it belongs to, that gradient as a Tensor with a graph)
    __hash__ = object.__hash__  # a Tensor is its own identity; == compares elementwise

    def __init__(self, data, requires_grad: bool = False, dtype=None, name: str | None = None):
        if requires_grad is not False and requires_grad is not True and not isinstance(requires_grad, np.bool_):
            # Tensor(2, 3) is PyTorch's old sized constructor: here it would be the number 2 requiring grad.
            raise TypeError(f"Tensor(data, requires_grad): requires_grad must be True or False, got "
                            f"{requires_grad!r}; for an uninitialised tensor of a shape (PyTorch's Tensor(2, 3)) "
                            "use mg.empty(2, 3) or mg.zeros(2, 3)")
        self.data = _as_float_array(data, dtype)
        self.name = name
        if requires_grad:
            self.requires_grad_(True)
        if _watchers.count and _grad_mode.tracer is not None and type(self) is Tensor:
            _grad_mode.tracer.constructed(Tensor, (data,), {"requires_grad": requires_grad, "dtype": dtype}, self)

    @classmethod
    def _wrap(cls, array: np.ndarray) -> Tensor:
        """A Tensor around ``array`` as it is (no copy, no dtype change, no graph)."""
        t = cls.__new__(cls)
        t.data = array
        return t

    # -- attributes --------------------------------------------------------------------
    shape = property(lambda self: self.data.shape, doc="Tuple of dimension sizes.")
    ndim = property(lambda self: self.data.ndim, doc="Number of dimensions.")
    size = property(lambda self: _Size(self.data.shape),
                    doc="Number of elements, as NumPy's ``a.size``; called, PyTorch's ``t.size()`` (the shape) "
                        "and ``t.size(dim)``.")
    dtype = property(lambda self: self.data.dtype, doc="NumPy dtype of the data.")

    @property
    def T(self) -> Tensor:
        """The tensor with its axes reversed (the transpose of a matrix)."""
        return self.transpose()

    # The one device (PyTorch code reads these to place new tensors next to this one).
    device = CPU
    is_cpu = True
    is_cuda = False

    def get_device(self) -> int:
        """-1, PyTorch's number for the CPU."""
        return -1

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user rather than by an operation on the graph."""
        return self._node is None

    @property
    def op(self) -> str | None:
        """Name of the primitive that computed this tensor; None for leaves."""
        return None if self._node is None else self._node.name

    @property
    def grad_fn(self):
        """The graph node (a ``Function`` instance) that computed this tensor, or None."""
        return self._node

    # -- autograd ----------------------------------------------------------------------
    def _set_grad(self, value) -> None:
        if value is not None:
            array = value.data if isinstance(value, Tensor) else value
            if not isinstance(array, np.ndarray):
                raise TypeError(
                    f"assigned grad must be an ndarray (or None), got {type(value).__name__}; "
                    "use np.asarray(...) with the tensor's shape and dtype"
                )
            if array.shape != self.data.shape or array.dtype != self.data.dtype:
                raise RuntimeError(
                    f"assigned grad has shape {array.shape} and dtype {array.dtype}, but "
                    f"{describe(self)} has dtype {self.data.dtype}: they must match"
                )
            value = array
        self._grad = value

    def _get_grad(self):
        grad = self._grad
        if grad is None and self._node is not None and not self._retains_grad:
            # As PyTorch: an intermediate result's .grad is never filled; say so instead of a silent None.
            warnings.warn(
                f"the .grad of {describe(self)}, which is not a leaf tensor, is being read: backward() does not "
                "fill it. Call .retain_grad() on it before backward() to keep its gradient, or read the .grad "
                "of the leaf tensors (the ones you created with requires_grad=True)", UserWarning, stacklevel=2)
        return grad

    # Assigning checks the shape and dtype, as PyTorch does.
    grad = property(
        _get_grad, _set_grad,
        doc="The gradient accumulated by ``backward()``: an ndarray of the data's shape and dtype, or None.",
    )

    def backward(self, grad=None, retain_graph: bool | None = None, create_graph: bool = False,
                 inputs=None, *, gradient=None) -> None:
        """Accumulate the gradient of this tensor into ``.grad`` of every leaf it depends on.

        ``grad`` is the gradient of some scalar with respect to this tensor (ones
        for a scalar when omitted; required otherwise); ``gradient=`` is PyTorch's name for
        it (giving both is a TypeError). After the walk the arrays saved
        for backward are released unless ``retain_graph=True`` (the default is
        ``create_graph``). With ``create_graph=True`` the walk is recorded: ``.grad`` is
        still an ndarray and ``.grad_tensor`` is the same gradient as a Tensor that can be
        differentiated again. ``inputs`` (a Tensor or a sequence) limits the accumulation
        to those tensors. See ``mg.autograd.backward``.
        """
        if gradient is not None:
            if grad is not None:
                raise TypeError("backward() got both grad= and gradient= (gradient is PyTorch's name for grad)")
            grad = gradient
        if grad is None and inputs is None and not create_graph and self.requires_grad and self.data.size == 1:
            # loss.backward(), the call of every training step, without the general argument handling
            _engine.run_backward((self,), (_engine.ones_seed(self.data.shape, self.data.dtype),), bool(retain_graph))
            return
        _engine.backward(self, None if grad is None else [grad], retain_graph, create_graph, inputs)

    @property
    def grad_tensor(self) -> Tensor | None:
        """``.grad`` as a Tensor. After ``backward(create_graph=True)`` it carries the graph
        of the gradient, so it can be differentiated again (what PyTorch keeps in ``x.grad``
        then); otherwise it wraps ``.grad`` (shared, no graph). None when ``.grad`` is None."""
        pair = self._grad_graph
        if pair is not None and pair[0] is self._grad:
            graph = pair[1]
            if not np.array_equal(graph.data.astype(pair[0].dtype, copy=False), pair[0], equal_nan=True):
                # .grad was changed in place since (x.grad[...] = 0, x.grad *= 2): as PyTorch's in-place change
                # of a .grad that has a graph, the values are the new ones and the graph stays that of the old.
                with _enable_grad():
                    graph = graph + Tensor._wrap(pair[0] - graph.data)
                self._grad_graph = (pair[0], graph)
            return graph
        return None if self._grad is None else Tensor._wrap(self._grad)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place (leaves only) and return self."""
        if self._node is not None and not requires_grad:
            raise RuntimeError(
                "requires_grad_(False) on a tensor computed by an operation: use .detach() instead"
            )
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(
                f"only floating-point tensors can require grad, this one is {self.data.dtype}; "
                "convert it first, e.g. t = mg.tensor(data, dtype=np.float64)"
            )
        if _grad_mode.tracer is not None:  # an mg.compile trace: a replay sets it too
            _grad_mode.tracer.requires_grad_set(self, requires_grad)
        self._requires_grad = requires_grad
        return self

    def _set_requires_grad(self, value) -> None:
        # As PyTorch: only a leaf's flag can change; a computed tensor that stopped requiring
        # grad would silently cut its graph off from everything computed from it later.
        if not isinstance(value, bool | np.bool_):
            raise RuntimeError(f"requires_grad must be a bool (True or False), got {value!r}")
        if self._node is not None:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf tensors (this one was computed by an "
                "operation)" + ("" if value else "; for a copy that is cut off from the graph use t.detach()")
            )
        self.requires_grad_(bool(value))

    # A C-level getter: read on every operation, it costs about what a plain attribute does.
    requires_grad = property(
        operator.attrgetter("_requires_grad"), _set_requires_grad,
        doc="Whether operations on this tensor are recorded for backward (settable on leaves only).",
    )

    def retain_grad(self) -> Tensor:
        """Keep ``.grad`` for this non-leaf tensor after backward (leaves always keep it)."""
        if not self._requires_grad:  # as PyTorch: no gradient will ever reach it
            raise RuntimeError(
                "can't retain_grad on a tensor that has requires_grad=False: no gradient reaches it. Compute it "
                "from tensors created with requires_grad=True, outside mg.no_grad()")
        if self._node is not None:
            self._retains_grad = True
        return self

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; a non-None
        return value replaces the gradient. Returns a handle whose ``remove()`` undoes it."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: this tensor does not require grad, so no gradient will reach it")
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(hook)
        return _HookHandle(self._hooks, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(self)`` after a backward pass has accumulated this leaf's ``.grad``
        (PyTorch's idiom for stepping each parameter as soon as its gradient is complete,
        then setting ``.grad = None``). The hook must return None. Leaves only: a non-leaf
        tensor's gradient is not accumulated. Returns a handle whose ``remove()`` undoes it.
        """
        if not self.requires_grad:
            raise RuntimeError("register_post_accumulate_grad_hook: this tensor does not require grad, so no "
                               "gradient will be accumulated into it")
        if self._node is not None:
            raise RuntimeError("register_post_accumulate_grad_hook: post accumulate grad hooks cannot be registered "
                               "on non-leaf tensors (their gradient is not accumulated); use register_hook to see "
                               "the gradient as it passes")
        if self._hooks is None:
            self._hooks = []
        after = _AfterAccumulation(hook)
        self._hooks.append(after)
        return _HookHandle(self._hooks, after)

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (``.grad = None``)."""
        self.grad = None

    def __copy__(self) -> Tensor:
        """``copy.copy``: a new leaf on the same memory, as PyTorch's: its ``requires_grad``
        and name, with no gradient, graph or hooks (a backward through the copy must not add
        into this tensor's ``.grad``)."""
        copied = type(self).__new__(type(self))
        copied.__dict__.update({k: v for k, v in self.__dict__.items() if k not in _GRAPH_STATE})
        return copied

    def __getstate__(self) -> dict:
        # (which tensors a view came from or was written through into: this process's bookkeeping,
        # not part of what a pickle keeps)
        state = self.__dict__
        if "_views" in state or "_view_inputs" in state:
            state = {k: v for k, v in state.items() if k not in _IN_PROCESS_ONLY}
        return state

    def __deepcopy__(self, memo) -> Tensor:
        """``copy.deepcopy``: as PyTorch's, of a leaf only (the copy of an intermediate would
        send its gradients to copies of the leaves), with its values and gradient copied and
        without its hooks."""
        if self._node is not None:
            raise RuntimeError(
                f"copy.deepcopy: {describe(self)} is not a leaf: only tensors created explicitly (graph leaves) can "
                "be deep-copied, as in PyTorch. Deep-copy t.detach() (add .requires_grad_() for a new leaf) instead.")
        copied = type(self).__new__(type(self))
        memo[id(self)] = copied
        for key, value in self.__dict__.items():
            if key not in _GRAPH_STATE or key == "_grad":
                copied.__dict__[key] = copy.deepcopy(value, memo)
        return copied

    def detach(self) -> Tensor:
        """The same data (shared, not copied) as a new leaf with no graph."""
        detached = Tensor._wrap(self.data)
        if _versions.graph_writes and self.data.base is not None:
            # A constant by request, of the values the memory has now: not a view that missed a write
            # into it (versions.stale_view), as a view taken before buf[0] = x * 2 is.
            detached._view_stamp = next(_versions.stamps)
        return detached

    def clone(self) -> Tensor:
        """A copy of the data, in the graph (gradients flow back to this tensor)."""
        return _ops.Copy.apply(self)

    # -- PyTorch's spellings -----------------------------------------------------------
    def view(self, *shape) -> Tensor:
        """The same elements in a new shape, in the same memory: ``t.view(2, -1)``. As in
        PyTorch, a shape that the memory layout cannot give without a copy (``t.T.view(-1)``)
        raises: a write into the copy would not reach ``t``; ``reshape`` copies where needed.
        ``t.view(dtype)`` reinterprets the bytes as another dtype, as PyTorch's (the last
        axis scales by the ratio of the sizes): the same memory, a tensor outside the graph."""
        if len(shape) == 1 and not isinstance(shape[0], int | np.integer | tuple | list):
            try:
                dtype = np.dtype(shape[0])
            except TypeError:
                raise TypeError(f"view({shape[0]!r}): expected a shape (t.view(2, -1)) or a dtype "
                                "(t.view(mg.int32), which reinterprets the bytes)") from None
            try:
                return _no_grad_on_data(lambda data: data.view(dtype))(self)
            except ValueError as error:
                raise InvalidArgumentError(f"view({dtype}): {error}") from None
        viewed = _ops.reshape(self, *shape)
        data = self.data
        if (data.size and viewed.data.base is None) or _versions._owner(viewed.data) is not _versions._owner(data):
            raise InvalidArgumentError(
                f"view size is not compatible with input tensor's size and stride (a view of shape "
                f"{viewed.data.shape} of this {data.shape} tensor would need a copy of its memory). Use .reshape(...) "
                "instead, or .contiguous().view(...)")
        return viewed

    def unsqueeze(self, dim: int) -> Tensor:
        """A length-1 axis inserted at ``dim`` (NumPy's ``expand_dims``)."""
        return _ops.expand_dims(self, dim)

    def permute(self, *dims) -> Tensor:
        """The axes in the order ``dims`` (NumPy's ``transpose(axes)``): ``t.permute(2, 0, 1)``."""
        if not dims:
            raise TypeError("permute() needs the new order of all axes, e.g. t.permute(1, 0)")
        # One tuple: transpose reads two separate ints as PyTorch's swap of two axes.
        return _ops.transpose(self, dims[0] if len(dims) == 1 and isinstance(dims[0], tuple | list) else dims)

    def numel(self) -> int:
        """The number of elements (NumPy's ``t.size``)."""
        return self.data.size

    def to(self, *args, dtype=None, device=None, non_blocking: bool = False, copy: bool = False) -> Tensor:
        """This tensor in another ``dtype`` (a NumPy dtype, ``mg.float32``, a name such as
        "float32", or a tensor whose dtype to take); ``self`` when it already has it (unless
        ``copy``). A floating dtype is differentiable; an integer or bool one gives a tensor
        outside the graph, as PyTorch's. ``to("cpu")`` and ``to("cpu", dtype)`` take the only
        device there is."""
        targets = [a for a in (*args, dtype) if a is not None and not _is_cpu(a)]
        if (device is not None and not _is_cpu(device)) or len(targets) > 1:
            raise TypeError(f"to(): expected a dtype, a tensor or 'cpu' (and at most one dtype), got {args!r}"
                            + (f" and device={device!r}" if device is not None else ""))
        target = _target_dtype(targets[0].dtype if isinstance(targets[0], Tensor) else targets[0]) if targets else None
        if target is None or target == self.data.dtype:
            return self.clone() if copy else self
        if target.kind == "f":
            return _ops.astype(self, target)
        return _no_grad_on_data(np.asarray)(self, dtype=target)

    def float(self) -> Tensor:
        """This tensor in float32, differentiably (PyTorch's ``t.float()``; Python's
        ``float(t)`` is still the value of a one-element tensor)."""
        return _ops.astype(self, np.float32)

    def double(self) -> Tensor:
        """This tensor in float64, differentiably (PyTorch's ``t.double()``)."""
        return _ops.astype(self, np.float64)

    def half(self) -> Tensor:
        """This tensor in float16, differentiably (PyTorch's ``t.half()``)."""
        return _ops.astype(self, np.float16)

    def numpy(self) -> np.ndarray:
        """The data as an ndarray (shared, not copied)."""
        if _watchers.count and _grad_mode.tracer is not None:  # an mg.compile trace: as t.data
            _grad_mode.tracer.values_taken(self.__dict__["data"], sys._getframe(1))
        return self.data if self.data is not FREED else FREED._refuse()

    def item(self) -> float:
        """The single value of a one-element tensor as a Python number."""
        _reading(self, "t.item()")
        if self.data.size != 1:
            raise InvalidArgumentError(f"item(): the tensor has {self.data.size} elements, not one; index it first")
        return self.data.item()

    def tolist(self):
        """The data as nested Python lists."""
        _reading(self, "t.tolist()")
        return self.data.tolist()

    # -- Python protocol -----------------------------------------------------------
    def __repr__(self) -> str:
        if _watchers.count and _grad_mode.tracer is not None:  # an mg.compile trace: the text of one call's values
            _grad_mode.tracer.values_shown(sys._getframe(1))
        if self.data is FREED:
            return f"tensor({FREED!r}, op={self._node.name})"
        body = np.array2string(self.data, separator=", ", prefix="tensor(", **_print_options)
        extras = []
        if self.data.dtype != _default_dtype:
            extras.append(f"dtype={self.data.dtype}")
        if self._node is not None:
            extras.append(f"op={self._node.name}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        if self.name:
            extras.append(f"name={self.name!r}")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    def _repr_mimebundle_(self, include=None, exclude=None):
        """Jupyter shows a computed tensor as its graph (SVG), a leaf as text."""
        bundle = {"text/plain": repr(self)}
        if self._node is not None:
            from microgradnp.viz.render import RenderError, to_svg

            with contextlib.suppress(RenderError):  # no renderer installed: the text is still shown
                bundle["image/svg+xml"] = to_svg(self)
        return bundle

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self):
        return (self[i] for i in range(len(self.data)))

    def __reversed__(self):
        # PyTorch's: the tensor flipped along its first axis (a differentiable op), not
        # Python's iterator over rows; a 0-d tensor comes back as it is.
        return self if self.data.ndim == 0 else self.flip(0)

    def __bool__(self) -> bool:
        _reading(self, "bool(t) (an `if` or `while` on a tensor)")
        if self.data.size != 1:
            raise InvalidArgumentError(
                f"bool(t): the truth value of a tensor with {self.data.size} elements is ambiguous; "
                "use t.any() or t.all() (or compare a single element)")
        return bool(self.data)

    def __float__(self) -> float:
        _reading(self, "float(t)")
        return float(self.item())

    def __int__(self) -> int:
        _reading(self, "int(t)")
        return int(self.item())

    def __index__(self) -> int:
        _reading(self, "a tensor used as an index")
        data = self.data
        if data.size == 1 and data.dtype.kind in "iub":  # as PyTorch: any one-element integer (or bool) tensor
            return int(data.reshape(())[()])
        return data.__index__()  # (NumPy's TypeError)

    def __contains__(self, element) -> bool:
        """``element in t``: whether ``element == t`` anywhere (broadcast), as PyTorch's."""
        if not isinstance(element, Tensor | numbers.Number | np.generic | np.ndarray):
            raise RuntimeError(f"Tensor.__contains__ only supports Tensor or scalar, but you passed in a "
                               f"{type(element)}.")
        _reading(self, "`x in t` (a truth value)")
        return bool(np.any(self.data == _data(element)))

    def __format__(self, format_spec: str) -> str:
        # As PyTorch's: a 0-d tensor formats as its number (f"{loss:.4f}"), the others as their repr.
        if _watchers.count and _grad_mode.tracer is not None:  # an mg.compile trace: the text of one call's values
            _grad_mode.tracer.values_shown(sys._getframe(1))
        if self.data.ndim == 0 and type(self) is Tensor:
            return self.data.item().__format__(format_spec)
        return object.__format__(self, format_spec)

    def __array__(self, dtype=None, copy=None):
        _ops.check_array_conversion(self)  # np.mean([x, y]) would drop x and y from the graph
        _reading(self, "np.asarray(t) (NumPy code on a tensor)")
        if self.data is FREED:
            FREED._refuse()
        if copy:
            return np.array(self.data, dtype=dtype, copy=True)
        return self.data if dtype is None else self.data.astype(dtype, copy=False)

    def __setitem__(self, index, value):
        """``t[index] = value`` writes into the data in place (and bumps the version); on a
        tensor of the recorded graph, or with a value that requires grad, it is recorded."""
        index = _ops.indexing._plain_index(index)
        steps = _ops.indexing.torch_steps(index)  # ints mixed with arrays: PyTorch's meaning, as t[index]
        if self._records(value):
            # (t[...] = t: the value is the old version, or the new node would take its own output)
            region = _region(self.data, index, steps)  # (a copy: NumPy's
            # advanced indexing shares no memory, and then every view of this tensor counts as overlapping)
            if _is_part_shown(value, self, region):  # z[0] += v ends so: z[0] = (z[0] after the write through it)
                return None
            value = self._unaliased(value)
            return self._recorded_in_place("t[index] = value", lambda before: _ops.indexing.placed(
                before, index, steps, before if value is self else value), value=value,
                written=region if np.shares_memory(region, self.data) else self.data)
        self._check_in_place("t[index] = value", value)
        value = value.data if isinstance(value, Tensor) else value
        if steps is None:
            self.data[index] = value
        else:
            self.data[steps[0]][steps[1]] = value  # (the first step is basic indexing: a view)
        _versions.bump(self.data)

    # -- in-place operations -------------------------------------------------------------
    # They write into ``data`` and keep the tensor (identity, requires_grad, .grad), which
    # is what a hand-written update step needs: ``with mg.no_grad(): w -= lr * w.grad``.
    # Every write bumps the version counter, so a backward that needs the old values
    # raises instead of using the new ones. While gradients are recorded they refuse to
    # change a tensor in the graph: microgradnp does not record in-place operations.
    @property
    def _version(self) -> int:
        """How many times this tensor's memory was written in place (shared with its
        ``detach()`` and its views)."""
        return _versions.version_of(self.data)

    def _check_in_place(self, op: str, value=None) -> None:
        if _watchers.count and _grad_mode.tracer is not None:
            _grad_mode.tracer.cannot_trace(f"{op} (an in-place operation on a tensor)")
        if not self.data.flags.writeable:
            self._refuse_read_only(op)
        if not _grad_mode.grad_enabled:
            return
        if self.requires_grad:
            if self._node is None:
                raise RuntimeError(
                    f"{op}: {describe(self)} requires grad and cannot be changed in "
                    "place while gradients are recorded (the graph would use the new values). For "
                    "a hand-written update step, write it under mg.no_grad(): "
                    "`with mg.no_grad(): w -= lr * w.grad`."
                )
            raise RuntimeError(
                f"{op}: {describe(self)} is in a recorded "
                "graph, and microgradnp does not record in-place operations. Compute a new "
                "tensor instead (y = y * 2, y = mg.where(mask, v, y)), or make the change under "
                "mg.no_grad() if it must not be differentiated."
            )
        if _versions.graph_writes and self._node is None and _versions.stale_view(self):
            raise RuntimeError(_STALE_VIEW.format(what=f"{op} writes through it"))
        if self._no_grad_view:
            self._refuse_no_grad_view(op)
        if isinstance(value, Tensor) and value.requires_grad and self.data.dtype.kind in "fc":
            raise RuntimeError(
                f"{op}: the value requires grad, but writing it into a tensor in place is not "
                "recorded by microgradnp, so its gradient would be lost. Build the result out of "
                "place (y = y + v, mg.where(mask, v, y), mg.stack([...]), mg.concatenate([...])), "
                "or write v.detach() if the value should be a constant."
            )

    def _refuse_no_grad_view(self, op: str) -> None:
        raise RuntimeError(
            f"{op}: this tensor is a view created in no_grad mode (of a tensor that requires grad) and is being "
            "modified in place with grad mode enabled, which PyTorch forbids too: the change would not be "
            "recorded in the viewed tensor's graph. Do both the view and the write inside the no_grad block, "
            "or both outside it.")

    def _refuse_read_only(self, op: str) -> None:
        raise InvalidArgumentError(
            f"{op}: this tensor's array is read-only: it is a view whose elements may share memory (expand, "
            "broadcast_to, as_strided, the windows of unfold) or NumPy memory marked read-only. PyTorch writes "
            "through such views; microgradnp cannot (a write would not reach the tensor it came from, or would "
            "hit several elements at once). Change a copy (t = t.clone()) or write into the source tensor.")

    def _records(self, value=None) -> bool:
        """Whether an in-place write into this tensor is recorded in the graph: the tensor is
        in it, or the value written requires grad (and the tensor does not: a leaf that
        requires grad cannot be written in place while recording, as in PyTorch)."""
        return _grad_mode.grad_enabled and (self._node is not None or (
            isinstance(value, Tensor) and value.requires_grad and not self.requires_grad
            and self.data.dtype.kind in "fc"))  # (an integer tensor takes the values only, as PyTorch's)

    def _in_place(self, op: str, ufunc, other) -> Tensor:
        if ufunc in _RECORDED_FORMS and self._records(other):
            other = self._unaliased(other)
            return self._recorded_in_place(op, lambda before: _RECORDED_FORMS[ufunc](
                before, before if other is self else other), through_a_view=True, value=other)
        self._check_in_place(op, other)
        other = other.data if isinstance(other, Tensor) else other
        data = self.data
        # PyTorch computes in the operands' result dtype (a float64 0-d tensor added to float32
        # data: in float32) and refuses a result of a higher kind than the data (int data += 1.5).
        kind = type(other)
        fast = (other.dtype is data.dtype) if kind is np.ndarray else (kind is float and data.dtype.kind == "f")
        result = None if fast else _ops.primitive.result_dtype(data, other)
        if result is not None and ufunc is np.true_divide and result.kind in "biu":
            result = _default_dtype  # int / int is a float
        casting = "same_kind"
        if result is not None:
            # PyTorch's rule: refused only for a result of a higher kind (bool < int < float <
            # complex); an int64 result into uint8 data wraps, as there, where NumPy's same_kind refuses.
            if _KIND_RANK[result.kind] > _KIND_RANK[data.dtype.kind]:
                raise DtypeError(
                    f"{op}: the result type {result} cannot be cast to this tensor's dtype {data.dtype} "
                    f"in place (PyTorch refuses it too). Compute a new tensor instead (t = t {_SYMBOLS.get(op, op)} "
                    "other), or convert first (t = t.double(), t.float())"
                )
            if (isinstance(other, np.ndarray | np.generic) and np.ndim(other) == 0 and other.dtype != result) or (
                    kind is int and result.kind in "iu"):  # computed in the result dtype (an int wraps), as PyTorch
                other = np.asarray(other).astype(result)
            if not np.can_cast(result, data.dtype, "same_kind"):
                casting = "unsafe"
        if ufunc is np.floor_divide or ufunc is np.remainder:  # (t //= 0 on ints raises, as t // 0)
            _ops.elementwise._refuse_integer_division_by_zero(data, other)
        try:
            ufunc(data, other, out=data, casting=casting)
        except TypeError:  # a string, None, an object...: say what is accepted
            _ops.primitive.refuse_non_numbers(op, self, other)
            raise
        except ValueError as error:
            hint = (
                "its data is a read-only array (a broadcast view?): copy it first (t = t.clone())"
                if not self.data.flags.writeable
                else "the other operand must broadcast to its shape"
            )
            raise InvalidArgumentError(
                f"{op}: cannot write the result in place into this tensor of shape "
                f"{self.data.shape} ({error}); {hint}"
            ) from None
        _versions.bump(self.data)
        return self

    def _recorded_in_place(self, op: str, compute, through_a_view: bool = False, value=None,
                           written: np.ndarray | None = None) -> Tensor:
        """``self`` replaced in place by ``compute(self)``, recorded as PyTorch records an
        in-place operation: ``self`` (the same object, so every reference sees it) holds the
        result in its memory and is the output of the new node, whose input is the old version
        (a copy of the old values, attached where ``self`` was; its hooks go with it). The
        recorded operations that used ``self`` before must take the old version instead: they
        are found in the graph of ``value`` (``x[0] = x[1] * w``, ``x[mask] += 1``), and a use
        found nowhere (``y = x * 2`` before ``x += 1``) is refused, since its gradient would
        otherwise flow through the new node. A node that saved the old values raises at
        backward, as in PyTorch."""
        if not self.data.flags.writeable:
            self._refuse_read_only(op)
        node = self._node
        where = "" if node is None else node.name
        written = self.data if written is None else written
        views = self._written_views(value, written)
        users = self._users_in(value, written) if self._used or views else ()
        if users is None:
            raise RuntimeError(
                f"{op}: {describe(self)} is already an input of an operation in the recorded graph that the "
                "value written is not computed from (or a view of it, still held, overlaps the write). microgradnp "
                "re-routes to the old values only the uses the written value comes from (x[0] = x[1] * w). "
                f"Compute a new tensor instead (y = y {_SYMBOLS.get(op.rstrip('()'), '+')} v), or write in place "
                "before using it.")
        if node is not None and node._outputs is not None:
            raise RuntimeError(f"{op}: {describe(self)} is one of several outputs of {where}, which microgradnp "
                               "cannot write in place in the graph; compute a new tensor instead")
        if self._views_another_tensor():
            viewed = self._base_written_through(op, through_a_view)
            if viewed is not None:
                return self._written_through(op, viewed, compute, users)
        if not through_a_view and self._views_another_tensor():
            raise RuntimeError(
                f"{op}: {describe(self)} is a view of another tensor (an index, a slice, a reshape); PyTorch "
                "would write through it into that tensor, which microgradnp does not record. Compute a new "
                "tensor instead (y = y + v, mg.where(mask, v, y), mg.concatenate([...]))")
        if _watchers.count and _grad_mode.tracer is not None:  # (every other name for this memory sees the write)
            _grad_mode.tracer.cannot_replay(f"{op} (an in-place write into a tensor of the graph)")
        before = Tensor._wrap(self.data.copy())
        before._node, before._requires_grad = node, self._requires_grad
        before._hooks, self._hooks = self._hooks, None  # hooks see the old version's gradient, as PyTorch's
        result = compute(before)
        if before.requires_grad and not result.requires_grad:  # (eq_, logical_not_: no gradient, still in the graph)
            result = _ops.where(np.ones(before.shape, bool), result.data, before)
        data = self.data
        if result.data.shape != data.shape:
            raise InvalidArgumentError(f"{op}: the result has shape {result.data.shape}, which cannot be written "
                                       f"into this tensor of shape {data.shape} in place")
        if result.data.dtype != data.dtype:
            if not np.can_cast(result.data.dtype, data.dtype, "same_kind"):
                raise DtypeError(f"{op}: the result type {result.data.dtype} cannot be cast to this tensor's dtype "
                                 f"{data.dtype} in place (PyTorch refuses it too); compute a new tensor instead")
            result = result.to(data.dtype)
        for user in users:  # they used the old values: their gradients go to the old version
            user.inputs = tuple(before if x is self else x for x in user.inputs)
        before._used, self._used = self._used, 0
        for view, _, view_users in views:
            if view_users:
                Tensor._as_before(view, view_users)
        np.copyto(data, result.data)
        if result._node is not None and result._node._outputs is None and result.data is not data:
            result._node._in_place_output = result.data  # (a saved output is this tensor's value: create_graph)
        _versions.bump(data)  # a node that saved the old values raises at backward, as in PyTorch
        if node is None and not before.requires_grad:  # a plain tensor's memory now holds graph values
            _versions.joined_graph(data, _versions.writes.latest)
        self._node, self._requires_grad = result._node, result._requires_grad
        for view, positions, _ in views:  # (views written through before: parts of the new version now)
            view._gathered_from(self, positions)
        return self

    def _written_views(self, value, written: np.ndarray) -> list:
        """The views of this tensor that a write through them made parts of it (``_written_through``)
        and that are still alive, with their positions and the operations that used them since.
        A write into this tensor changes their values, so each becomes a part of the new
        version, and those operations (which used the values before) must take a copy with the
        view's graph then: possible where they are all in the graph of ``value``
        (``x[1] = v * 2``), refused otherwise (``y = v * 3`` before ``x *= 2``)."""
        views = []
        for ref, positions in self.__dict__.get("_views", ()):
            view = ref()
            if view is not None and view._node is not None and view._node.inputs[0] is self:
                users = view._users_in(value, written) if view._used else ()
                if users is None:
                    raise RuntimeError(
                        f"an in-place write into {describe(self)}, of which {describe(view)} is a view written "
                        "through and used since by an operation the value written does not come from: PyTorch "
                        "would give that use the view's values before this write, which microgradnp cannot "
                        "re-route. Use view.clone() there, or write into this tensor before using the view.")
                views.append((view, positions, users))
        return views

    def _unaliased(self, value):
        """``value`` to write into this tensor, or, for a view that a write through it made a part
        of this tensor (``x[1] = v``), a copy of it with its graph: the write re-points that view
        to the new version, which must not take its own output as the value."""
        if isinstance(value, Tensor) and value._node is not None and value._node._gathers \
                and value._node.inputs[0] is self:
            return Tensor._as_before(value, ())
        return value

    @staticmethod
    def _as_before(tensor: Tensor, users) -> Tensor:
        """A copy of ``tensor``'s values with its node: its version now, which ``users`` (the
        operations that took ``tensor``) take instead, before ``tensor`` changes."""
        before = Tensor._wrap(tensor.data.copy())
        before._node, before._requires_grad = tensor._node, tensor._requires_grad
        if users:  # (all of its uses: see _users_in)
            for user in users:
                user.inputs = tuple(before if x is tensor else x for x in user.inputs)
            before._used, tensor._used = tensor._used, 0
        return before

    def _gathered_from(self, base: Tensor, positions: tuple) -> None:
        """Make this tensor, whose memory lies in ``base``'s at ``positions``, the part of
        ``base`` it shows (as PyTorch regenerates a view's graph after a write through it).
        Not counted as a use of ``base``: ``_written_views`` keeps track of it instead."""
        gathered = _ops.indexing.GetItem.apply(base, index=positions)
        gathered._node._gathers = True
        base._used -= 1
        self._node, self._requires_grad = gathered._node, gathered._requires_grad
        views = [entry for entry in base.__dict__.get("_views", ()) if entry[0]() is not None
                 and entry[0]() is not self]
        views.append((weakref.ref(self), positions))
        base._views = views

    def _showing(self, view: np.ndarray) -> Tensor | None:
        """A read-only tensor on ``view``, an array in this tensor's memory, that shows later
        writes into this tensor as PyTorch's views do (``unfold``, ``as_strided``). In the graph
        it is the part of this tensor it shows (a gather: ``_gathered_from``, pointed at the new
        version at each write); None where its elements are not this tensor's one by one."""
        shown = Tensor._wrap(view)
        if self.requires_grad and _grad_mode.grad_enabled:
            positions = _ops.indexing.positions_in(self.data, view)
            if positions is None:
                return None
            shown._gathered_from(self, positions)
        return shown

    def _written_through(self, op: str, viewed: list, compute, users) -> Tensor:
        """``self``, a view of ``viewed[-1]`` (through the views ``viewed[:-1]``), replaced in
        place by ``compute(self)``, recorded as PyTorch records a write through a view: the
        base gets the new values at the positions of ``self`` (``base[positions] = value``,
        with the uses of the base the value comes from, the views down to it, re-routed to its
        old version), and ``self`` and the views between become those parts of the new base.
        ``users``: the operations that used ``self`` (``v[mask] *= s`` reads ``v[mask]`` first),
        which take its old version."""
        base = viewed[-1]
        if base.data.ndim == 0:  # (positions in a 0-d tensor are no index arrays)
            raise RuntimeError(f"{op}: {describe(self)} is a view of a 0-d tensor ({describe(base)}), which "
                               "microgradnp cannot record a write through; write into that tensor itself (z.add_(1), "
                               "z.mul_(w))")
        chain = [self, *viewed[:-1]]  # each one's node takes the next one
        places = [_ops.indexing.positions_in(base.data, view.data) for view in chain]
        if any(positions is None for positions in places):
            raise RuntimeError(
                f"{op}: {describe(self)} is a view of {describe(base)} whose elements do not lie in its memory one "
                "by one (another dtype, or a layout microgradnp cannot map), so the write cannot be recorded "
                "in that tensor. Compute a new tensor instead (z = mg.where(mask, v, z), mg.concatenate([...])).")
        # Their versions before the write, which the value is made from (copies: the values then).
        olds = []
        for view in chain:
            old = Tensor._wrap(view.data.copy())
            old._node, old._requires_grad, old._hooks, old._used = view._node, view._requires_grad, view._hooks, 1
            olds.append(old)
        value = compute(olds[0])
        if value.data.shape != self.data.shape:
            raise InvalidArgumentError(f"{op}: the result has shape {value.data.shape}, which cannot be written "
                                       f"into this tensor of shape {self.data.shape} in place")
        for i in range(len(chain) - 1):  # (the graph of the old views takes the old ones)
            node, below = chain[i]._node, chain[i + 1]
            node.inputs = tuple(olds[i + 1] if x is below else x for x in node.inputs)
        for user in users:
            user.inputs = tuple(olds[0] if x is self else x for x in user.inputs)
        olds[0]._used, self._used = olds[0]._used + self._used, 0
        base._recorded_in_place(op, lambda before: _ops.indexing.placed(before, places[0], None, value),
                                value=value, written=self.data)
        for view, positions in zip(chain, places):
            view._hooks = None  # (they are the old version's, as PyTorch's)
            view._gathered_from(base, positions)
        return self

    def _users_in(self, value, written: np.ndarray) -> list | None:
        """The recorded operations that used this tensor, if every one of them (as counted by
        ``Function.apply``) is in the graph of ``value``; else None. Only operations newer
        than this tensor's node can have used it, so the walk stops at older ones.

        Re-routed to the old version, a view's node (``x[0]``) would leave that view, whose
        memory shows the new values where it overlaps ``written`` (the memory the write
        changes), recorded as the old ones: such a view must be held by the graph alone (a
        temporary, as in ``x[0] = x[0] * 2``), else None."""
        values = value if isinstance(value, tuple) else (value,)  # (several operands: clamp_(min, max))
        values = [v for v in values if isinstance(v, Tensor) and v._node is not None]
        if not values:
            return None if self._used else []
        newest = None if self._node is None else self._node._order
        users, uses, seen, stack = [], 0, set(), [v._node for v in values]
        held = {id(v): [v, 0] for v in values}  # id -> [a tensor of the walk, how many visited inputs hold it]
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            used_here = False
            for x in node.inputs:
                if x is self:
                    uses += not node._gathers  # (a view written through: see _written_views)
                    used_here = True
                elif isinstance(x, Tensor) and x._node is not None and (newest is None or x._node._order < newest):
                    held.setdefault(id(x), [x, 0])[1] += 1
                    stack.append(x._node)
            if used_here:
                users.append(node)
        x = node = None  # (the loop variables must not count as references below)
        if uses != self._used:
            return None
        owner = _versions._owner(self.data)
        for entry in held.values():  # (entry[0], never a local name: it would count as one more reference)
            if (entry[0]._node in users and entry[0].data is not FREED and _versions._owner(entry[0].data) is owner
                    and np.shares_memory(entry[0].data, written)
                    and sys.getrefcount(entry[0]) > entry[1] + 2 + any(entry[0] is v for v in values)):
                # (beyond the graph's: held's, getrefcount's argument, values')
                return None
        return users

    def _views_another_tensor(self) -> bool:
        """Whether this tensor's memory may be another tensor's: it is a view of an input of
        its node, or a leaf whose array is a view."""
        if self.data.base is None:
            return False
        if self._node is None:
            return True
        owner = _versions._owner(self.data)
        return any(isinstance(x, Tensor) and _versions._owner(x.data) is owner for x in self._node.inputs)

    def _base_written_through(self, op: str, cheap_path: bool) -> Tensor | None:
        """For an in-place write recorded on this view: the tensor it views (down the views,
        inputs sharing its memory), whose graph must record the write too (``_written_through``);
        or None where the write may be recorded for the view alone (``cheap_path``: the
        operators' ``y += v``, where nothing but the graph holds the tensors down to the base,
        so that no one can see that they keep their old values). Raises for a view of a leaf
        that requires grad (as PyTorch), of a plain tensor, or through a middle view held
        elsewhere (h of ``h[0:2] += v``)."""
        owner = _versions._owner(self.data)
        base, viewed = self, []
        while base._node is not None:  # down the views (inputs sharing the memory) to their base
            inputs = [x for x in base._node.inputs if isinstance(x, Tensor) and x.data is not FREED
                      and _versions._owner(x.data) is owner]
            if not inputs:
                break
            base = inputs[0]
            viewed.append(base)
        if base is self:
            if self._node is None:  # a view outside the graph (of a plain tensor), and a value that requires grad
                return self._viewed_plain_tensor(op)
            return None
        if base._node is None and base.requires_grad:
            raise RuntimeError(
                f"a view of a leaf tensor that requires grad ({describe(base)}) is being used in an in-place "
                "operation (PyTorch refuses it too). For a hand-written update, write it under mg.no_grad(); "
                "otherwise compute a new tensor (w2 = w + ...)."
            )
        # Each tensor down to the base is held by the next view's inputs, by `viewed` and by
        # getrefcount's argument (the base by `base` too): a further reference (a variable, another
        # operation) would see it keep its old values, a middle view (h of h[0:2]) as much as the base.
        del inputs
        held = False
        for i in range(len(viewed)):  # (indexing, not a loop variable: it would hold one more reference)
            held = held or sys.getrefcount(viewed[i]) > 3 + (viewed[i] is base)
        if cheap_path and not held:
            return None
        for i in range(len(viewed) - 1):
            if viewed[i]._used != 1:  # (used by more than the next view down: those uses are not re-routed)
                raise RuntimeError(
                    f"{op} on a view of a view of {describe(base)}, where the middle view is used elsewhere: "
                    "PyTorch would record the change in both, which microgradnp cannot here. Write through a "
                    "view taken from that tensor directly (z[0, 1:3] += v rather than h = z[0]; h[1:3] += v), or "
                    "change a copy (y = y.clone() before y += v)."
                )
        return viewed

    def _viewed_plain_tensor(self, op: str) -> list:
        """For a value that requires grad written through this view, taken outside the graph
        (``buffer[0] += x * w``): ``[the tensor it views]``, for ``_written_through``. A view of a
        tensor in the graph (taken under no_grad, or before that tensor joined it) is first made
        the part of it it shows, so that its values keep their graph."""
        if self._no_grad_view:
            self._refuse_no_grad_view(op)
        owner = _versions._owner(self.data)
        parents = [x for x in self.__dict__.get("_view_inputs", ()) if isinstance(x, Tensor)
                   and x.data is not FREED and _versions._owner(x.data) is owner]
        if not parents or parents[0]._views_another_tensor() or (parents[0].requires_grad
                                                                 and parents[0]._node is None):
            raise RuntimeError(
                f"{op}: this tensor is a view of another one (an index, a slice, a reshape) taken outside the "
                "graph, and the value requires grad; microgradnp cannot record the write in that other tensor "
                "from here. Write into it directly (z[index] = v), build it out of place (mg.stack, "
                "mg.concatenate, mg.where(mask, v, t)), or write v.detach() for a constant."
            )
        parent = parents[0]
        if parent.requires_grad:
            positions = _ops.indexing.positions_in(parent.data, self.data)
            if positions is not None:
                self._gathered_from(parent, positions)
        return [parent]

    def _refuse_writing_through_a_view(self) -> None:
        """For a Function's ``mark_dirty`` (whose forward already wrote into a view): refused
        where the graph of the tensor it views would have to record the write too."""
        if self._base_written_through("mark_dirty", cheap_path=True) is not None:
            raise RuntimeError(
                f"mark_dirty: {describe(self)} is a view of another tensor that is held elsewhere; PyTorch would "
                "record the change in that tensor too, which microgradnp cannot for a Function's own in-place "
                "forward. Pass that tensor itself, or a copy (y.clone())."
            )

    def add_(self, other, alpha=1) -> Tensor:
        """``self += alpha * other`` in place; returns self."""
        return self._in_place("add_", np.add, other if alpha == 1 else _scaled(other, alpha))

    def sub_(self, other, alpha=1) -> Tensor:
        """``self -= alpha * other`` in place; returns self."""
        return self._in_place("sub_", np.subtract, other if alpha == 1 else _scaled(other, alpha))

    def mul_(self, other) -> Tensor:
        """``self *= other`` in place; returns self."""
        return self._in_place("mul_", np.multiply, other)

    def div_(self, other) -> Tensor:
        """``self /= other`` in place; returns self."""
        return self._in_place("div_", np.true_divide, other)

    def __iadd__(self, other):
        return self._in_place("+=", np.add, other)

    def __isub__(self, other):
        return self._in_place("-=", np.subtract, other)

    def __imul__(self, other):
        return self._in_place("*=", np.multiply, other)

    def __itruediv__(self, other):
        return self._in_place("/=", np.true_divide, other)

    def __ifloordiv__(self, other):
        return self._in_place("//=", np.floor_divide, other)

    def __imod__(self, other):
        return self._in_place("%=", np.remainder, other)

    def __ipow__(self, other):
        return self._in_place("**=", np.power, other)

    def zero_(self) -> Tensor:
        """Set every element to 0 in place; returns self."""
        return self.fill_(0)

    def fill_(self, value) -> Tensor:
        """Set every element to ``value`` (a number or a one-element tensor) in place; returns self."""
        if np.ndim(_data(value)) != 0:
            raise InvalidArgumentError(f"fill_: the value must be a single number, got shape {np.shape(_data(value))}")
        if self._records(value):
            return self._recorded_in_place("fill_", lambda before: _ops.where(np.ones(self.shape, bool), value, before),
                                           value=value)
        self._check_in_place("fill_", value)
        from microgradnp.ops.elementwise import checked_scalar  # (ops import Tensor)

        self.data[...] = checked_scalar(value.data if isinstance(value, Tensor) else value, self.data.dtype, "fill_")
        _versions.bump(self.data)
        return self

    def copy_(self, src) -> Tensor:
        """Copy ``src`` (broadcast to this tensor's shape, cast to its dtype) into the data; returns self."""
        if self._records(src):
            return self._recorded_in_place("copy_", lambda before: _ops.where(
                np.ones(self.shape, bool), before if src is self else src, before), value=src)
        self._check_in_place("copy_", src)
        source = np.asarray(src.data if isinstance(src, Tensor) else src)
        if source.dtype.kind not in "biuf":
            raise TypeError(f"copy_: cannot copy data of dtype {source.dtype} into a real-valued tensor")
        try:
            np.copyto(self.data, source, casting="unsafe")
        except ValueError as error:
            raise InvalidArgumentError(
                f"copy_: a source of shape {source.shape} does not broadcast to this tensor's "
                f"shape {self.data.shape} ({error})"
            ) from None
        _versions.bump(self.data)
        return self

    def clamp_(self, min=None, max=None) -> Tensor:  # noqa: A002  (PyTorch's argument names)
        """Limit the values to [min, max] in place (either bound may be None); returns self."""
        if min is None and max is None:
            raise InvalidArgumentError("clamp_: give at least one of min and max")
        bound = min if isinstance(min, Tensor) else max
        if self._records(bound):
            return self._recorded_in_place("clamp_", lambda before: _ops.clip(
                before, before if min is self else min, before if max is self else max), value=(min, max))
        self._check_in_place("clamp_", bound)
        bounds = [b for b in (_data(min), _data(max)) if b is not None]
        result = _ops.primitive.result_dtype(self.data, *bounds)
        if result is not None and not np.can_cast(result, self.data.dtype, "same_kind"):
            raise DtypeError(f"clamp_: the result type {result} cannot be cast to this tensor's dtype "
                             f"{self.data.dtype} in place (PyTorch refuses it too); clamp out of place "
                             "(t = t.clamp(...)) or give bounds of its kind")
        np.clip(self.data, _data(min), _data(max), out=self.data)
        _versions.bump(self.data)
        return self

    clip_ = clamp_

    # Arithmetic: the operand that is not a Tensor becomes a constant of the operation.
    def __add__(self, other):
        return _add(self, other)

    def __radd__(self, other):
        return _add(other, self)

    def __sub__(self, other):
        return _sub(self, other)

    def __rsub__(self, other):
        return _sub(other, self)

    def __mul__(self, other):
        return _mul(self, other)

    def __rmul__(self, other):
        return _mul(other, self)

    def __truediv__(self, other):
        return _div(self, other)

    def __rtruediv__(self, other):
        return _div(other, self)

    def __floordiv__(self, other):
        return _ops.floor_divide(self, other)

    def __rfloordiv__(self, other):
        return _ops.floor_divide(other, self)

    def __mod__(self, other):
        return _ops.remainder(self, other)

    def __rmod__(self, other):
        return _ops.remainder(other, self)

    def __pow__(self, other):
        return _pow(self, other)

    def __rpow__(self, other):
        return _pow(other, self)

    def __matmul__(self, other):
        return _matmul(self, other)

    def __rmatmul__(self, other):
        return _matmul(other, self)

    def __neg__(self):
        return _ops.Neg.apply(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ops.Abs.apply(self)

    def __getitem__(self, index):
        return _ops.getitem(self, index)

    # Comparisons give bool tensors outside the graph.
    def __lt__(self, other):
        return _compare(np.less, self, other)

    def __le__(self, other):
        return _compare(np.less_equal, self, other)

    def __gt__(self, other):
        return _compare(np.greater, self, other)

    def __ge__(self, other):
        return _compare(np.greater_equal, self, other)

    def __eq__(self, other):
        if other is None or isinstance(other, str):  # as PyTorch: not comparable, so t == None is False
            return NotImplemented
        return _compare(np.equal, self, other)

    def __ne__(self, other):
        if other is None or isinstance(other, str):
            return NotImplemented
        return _compare(np.not_equal, self, other)

    # -- NumPy interoperability ---------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        function = _UFUNCS.get(ufunc) if method == "__call__" and not kwargs else None
        if function is None:
            call = f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
            raise TypeError(
                f"{call} on a Tensor{' with ' + ', '.join(kwargs) if kwargs else ''} is not "
                "differentiable in microgradnp. Use the Tensor method or mg function, or "
                "convert explicitly with np.asarray(t) / t.numpy() to leave the graph."
            )
        return function(*inputs)

    def __array_function__(self, func, types, args, kwargs):
        function = _ARRAY_FUNCTIONS.get(func)
        if function is None:
            raise TypeError(
                f"np.{func.__name__} on a Tensor is not differentiable in microgradnp. Use the "
                "Tensor method or mg function, or convert explicitly with np.asarray(t) / "
                "t.numpy() to leave the graph."
            )
        return function(*args, **kwargs)


class _AfterAccumulation:
    """A post-accumulate-grad hook among a leaf's hooks: the walk skips it while the
    gradient flows and calls it with the leaf once ``.grad`` holds the sum (one list of
    hooks, so everything that asks whether a tensor has hooks sees these too)."""

    __slots__ = ("hook",)

    def __init__(self, hook):
        self.hook = hook


class _HookHandle:
    def __init__(self, hooks: list, hook):
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def _data(x):
    return x.data if isinstance(x, Tensor) else x


def _reading(tensor: Tensor, what: str) -> None:
    """Python code is about to see a tensor's values: an mg.compile trace refuses it, since
    a replay runs only the recorded operations and could not follow that code."""
    if _watchers.count and _grad_mode.tracer is not None:
        _grad_mode.tracer.cannot_trace(what)


def describe(tensor: Tensor) -> str:
    """How error messages name a tensor: its name, or what computed it, and its shape."""
    named = f" {tensor.name!r}" if tensor.name else ""
    if tensor.data is FREED:
        return f"the output{named} of {tensor._node.name} (values freed by backward)"
    if tensor._node is not None:
        return f"the output{named} of {tensor._node.name} (shape {tensor.shape})"
    return f"the leaf tensor{named} of shape {tensor.shape}"


def _region(data: np.ndarray, index, steps) -> np.ndarray:
    """``data[index]`` (``steps``: the two steps of PyTorch's meaning of it), as a view where
    basic indexing makes one: an int per axis gives a 0-d view, not NumPy's scalar copy."""
    region = data[index] if steps is None else data[steps[0]][steps[1]]
    if not isinstance(region, np.ndarray):
        index = (*index, ...) if isinstance(index, tuple) else (index, ...)
        region = data[index] if steps is None else data[steps[0]][(*steps[1], ...)
                                                                   if isinstance(steps[1], tuple) else (steps[1], ...)]
    return region


def _is_part_shown(value, tensor: Tensor, region: np.ndarray) -> bool:
    """Whether ``value`` is the part of ``tensor`` at ``region``: the same memory, recorded as
    views down to ``tensor`` (``x[0] = x[0]``), or as a write through a view left it
    (``Tensor._gathered_from``: Python ends ``z[0] += v`` with ``z[0] = <that view>``, also for
    ``z`` a view written through itself). Writing it there changes nothing."""
    if not isinstance(value, Tensor) or value._node is None or value.data is FREED:
        return False
    shown = value.data
    if not (shown.shape == region.shape and shown.strides == region.strides
            and shown.__array_interface__["data"][0] == region.__array_interface__["data"][0]):
        return False
    node = tensor._node
    if value._node._gathers and node is not None and node._gathers and node.inputs[0] is value._node.inputs[0]:
        return True  # (both parts of one tensor written through)
    owner, part = _versions._owner(shown), value
    while part is not tensor and part._node is not None:  # down the views (inputs sharing the memory)
        inputs = [x for x in part._node.inputs if isinstance(x, Tensor) and x.data is not FREED
                  and _versions._owner(x.data) is owner]
        if len(inputs) != 1:
            return False
        part = inputs[0]
    return part is tensor


def _scaled(other, alpha):
    """``alpha * other`` for ``add_``/``sub_``: a recorded operation for a Tensor (its gradient counts)."""
    return other * alpha if isinstance(other, Tensor) else np.asarray(other) * alpha


def _compare(ufunc, a, b) -> Tensor:
    """A comparison or bitwise ufunc of two operands, outside the graph. Two tensors are first
    cast to PyTorch's result dtype, as PyTorch computes there: a 0-d tensor does not widen
    one with dimensions (int32 & a 0-d int64 is int32), where NumPy would widen it."""

    def in_result_dtype(x, y):
        if type(x) is np.ndarray and type(y) is np.ndarray and x.dtype != y.dtype:
            x, y = _ops.primitive.promote(x, y)
        return np.asarray(ufunc(x, y))

    in_result_dtype.__name__ = ufunc.__name__
    return _no_grad_on_data(in_result_dtype)(a, b)


def _as_array_result(function):
    def as_array(*args, **kwargs):
        return np.asarray(function(*args, **kwargs))

    return as_array


def _no_grad_on_data(function):
    """A NumPy function applied to the data: for results that carry no gradient (an
    mg.compile trace records the call, so a replay computes it again)."""

    def as_array(*args, **kwargs):  # (NumPy gives a scalar for a 0-d result; a replay needs the array)
        return np.asarray(function(*args, **kwargs))

    as_array.__name__ = getattr(function, "__name__", "on_data")

    def on_data(*args, **kwargs):
        args, kwargs = [_data(a) for a in args], {k: _data(v) for k, v in kwargs.items()}
        result = function(*args, **kwargs)
        recorded = function
        if isinstance(result, np.generic):
            result, recorded = np.asarray(result), as_array
        elif not isinstance(result, np.ndarray):
            return result
        if _watchers.count and _grad_mode.tracer is not None:
            _grad_mode.tracer.made(recorded, args, kwargs, result)
        return Tensor._wrap(result)

    return on_data


def _constructor(function):
    """Tensor constructors: an mg.compile trace records the call, so that a replay makes
    the tensor again (fresh random numbers, a fresh copy of an array that may have changed).
    They take PyTorch's keyword names beside NumPy's: ``size=`` (the shape), ``input=`` (the
    tensor of a ``*_like``), ``end=``, ``steps=`` and ``generator=`` (``rng=``)."""
    parameters = inspect.signature(function).parameters
    first = next(iter(parameters.values()), None)
    renames = {torch: numpy for torch, numpy in _CONSTRUCTOR_KEYWORDS.items() if torch not in parameters
               and numpy in parameters and parameters[numpy].kind is not inspect.Parameter.VAR_POSITIONAL}
    variadic = first is not None and first.kind is inspect.Parameter.VAR_POSITIONAL
    leading = {"size": variadic and ("size" not in parameters or parameters["size"] is first),
               "input": first is not None and first.name in ("x", "input") and "input" not in parameters}

    @functools.wraps(function)
    def construct(*args, **kwargs):
        if kwargs:
            for torch, numpy in renames.items():
                if torch in kwargs:
                    if numpy in kwargs:
                        raise TypeError(f"{function.__name__}() got both {torch}= and {numpy}= (the same argument)")
                    kwargs[numpy] = kwargs.pop(torch)
            for torch, takes in leading.items():
                if takes and torch in kwargs:
                    if args and torch == "input":
                        raise TypeError(f"{function.__name__}() got input= and a positional tensor")
                    args = (kwargs.pop(torch), *args)
        made = function(*args, **kwargs)
        if _watchers.count and _grad_mode.tracer is not None:
            _grad_mode.tracer.constructed(function, args, kwargs, made)
        return made

    return construct


_CONSTRUCTOR_KEYWORDS = {"end": "stop", "steps": "num", "generator": "rng", "size": "shape"}  # PyTorch's -> NumPy's


# -- constructors -----------------------------------------------------------------------
@_constructor
@takes_device
def tensor(data, requires_grad: bool = False, dtype=None, name: str | None = None) -> Tensor:
    """A new Tensor holding a copy of ``data`` (same as ``Tensor(...)``)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, name=name)


def _shape(shape) -> tuple:
    """A constructor's shape, given as ints or as one tuple; a negative size raises."""
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], tuple | list) else shape
    if any(isinstance(n, int | np.integer) and n < 0 for n in shape):
        raise InvalidArgumentError(f"a tensor cannot have a negative size, got shape {tuple(shape)}")
    return shape


def _new(array, requires_grad: bool, name: str | None = None) -> Tensor:
    t = Tensor._wrap(array)
    t.name = name
    return t.requires_grad_(True) if requires_grad else t


_CONSTRUCTOR_KINDS = {"f": "a floating", "fiu": "a floating or integer", "fiub": "a floating, integer or bool"}


def _constructor_dtype(function: str, dtype, default, requires_grad: bool, kinds: str = "fiub") -> np.dtype:
    """The dtype a constructor makes: ``default`` when ``dtype`` is None, else ``dtype``
    if its kind is one of ``kinds`` (never complex, object or str: microgradnp works with
    real numbers), and floating when the tensor is to require grad."""
    if dtype is None:
        return default
    dtype = np.dtype(dtype)
    if dtype.kind not in kinds:
        what = "random samples need" if kinds == "f" else "microgradnp works with real numbers, so it needs"
        raise DtypeError(
            f"mg.{function}: dtype={dtype} is not supported: {what} {_CONSTRUCTOR_KINDS[kinds]} dtype. "
            f"Pass e.g. dtype=np.float32, or leave dtype out for the default ({_default_dtype})"
            + (" and convert the result yourself (rng.integers for random integers)." if kinds == "f" else ".")
        )
    if requires_grad and dtype.kind != "f":
        raise TypeError(
            f"mg.{function}: only floating-point tensors can require grad, and dtype={dtype} is not "
            "floating. Pass a float dtype such as np.float64, or requires_grad=False."
        )
    return dtype


@_constructor
@takes_device
def zeros(*shape, requires_grad: bool = False, dtype=None, name: str | None = None) -> Tensor:
    """A tensor of zeros: ``mg.zeros(2, 3)`` or ``mg.zeros((2, 3))``."""
    dtype = _constructor_dtype("zeros", dtype, _default_dtype, requires_grad)
    return _new(np.zeros(_shape(shape), dtype=dtype), requires_grad, name)


@_constructor
@takes_device
def ones(*shape, requires_grad: bool = False, dtype=None, name: str | None = None) -> Tensor:
    """A tensor of ones: ``mg.ones(2, 3)`` or ``mg.ones((2, 3))``."""
    dtype = _constructor_dtype("ones", dtype, _default_dtype, requires_grad)
    return _new(np.ones(_shape(shape), dtype=dtype), requires_grad, name)


@_constructor
@takes_device
def full(shape, fill_value, requires_grad: bool = False, dtype=None, name: str | None = None) -> Tensor:
    """A tensor of the given shape filled with ``fill_value``."""
    shape = (shape,) if isinstance(shape, numbers.Integral) else tuple(shape)
    from microgradnp.ops.elementwise import checked_scalar  # (ops import Tensor)

    dtype = _constructor_dtype("full", dtype, _default_dtype, requires_grad)
    # (converted as PyTorch converts it: -1 into uint8 is 255; nan into an integer raises, NumPy gives garbage)
    value = checked_scalar(_fill_value("full", fill_value), np.dtype(dtype), "full")
    return _new(np.full(shape, value, dtype=dtype), requires_grad, name)


def _fill_value(function: str, value):
    """A fill value as NumPy takes it: a one-element tensor gives its number, as in PyTorch."""
    if isinstance(value, Tensor):
        if value.data.size != 1:
            raise InvalidArgumentError(f"{function}: fill_value must be a number or a one-element tensor, got a "
                                       f"tensor of shape {value.data.shape}")
        return value.data.reshape(())[()]
    return value


@_constructor
@takes_device
def zeros_like(x, requires_grad: bool = False, dtype=None, name: str | None = None) -> Tensor:
    """Zeros with the shape (and, unless given, the dtype) of ``x``."""
    data = np.asarray(_data(x))
    dtype = _constructor_dtype("zeros_like", dtype, _like_dtype(x, data), requires_grad)
    return _new(np.zeros(data.shape, dtype=dtype), requires_grad, name)


@_constructor
@takes_device
def ones_like(x, requires_grad: bool = False, dtype=None, name: str | None = None) -> Tensor:
    """Ones with the shape (and, unless given, the dtype) of ``x``."""
    data = np.asarray(_data(x))
    dtype = _constructor_dtype("ones_like", dtype, _like_dtype(x, data), requires_grad)
    return _new(np.ones(data.shape, dtype=dtype), requires_grad, name)


@_constructor
@takes_device
def full_like(x, fill_value, requires_grad: bool = False, dtype=None, name: str | None = None) -> Tensor:
    """``fill_value`` everywhere, with the shape (and, unless given, the dtype) of ``x``."""
    data = np.asarray(_data(x))
    dtype = _constructor_dtype("full_like", dtype, _like_dtype(x, data), requires_grad)
    return _new(np.full(data.shape, _fill_value("full_like", fill_value), dtype=dtype), requires_grad, name)


def _is_cpu(value) -> bool:
    return isinstance(value, str) and value.lower() in ("cpu", "cpu:0")


_DEVICE_NAMES = frozenset({"cpu", "cuda", "mps", "xpu", "meta", "xla", "hip", "ipu", "mtia", "hpu", "vulkan"})


def _target_dtype(dtype) -> np.dtype | None:
    """The dtype of ``to(dtype)`` (Tensor's and Module's): None for "cpu", the only device."""
    if isinstance(dtype, device):
        return None
    if isinstance(dtype, str) and dtype.lower().partition(":")[0] in _DEVICE_NAMES:
        device(dtype.lower())  # "cpu" and "cpu:0" pass; another device raises, saying why
        return None
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"to({dtype!r}): expected a dtype such as np.float32, 'float64' or mg.long "
                        "(or 'cpu', the only device)") from None


def _float_dtype_of(data: np.ndarray) -> np.dtype:
    return data.dtype if data.dtype.kind == "f" else _default_dtype


def _like_dtype(x, data: np.ndarray) -> np.dtype:
    """The dtype of ``zeros_like(x)`` and friends: a Tensor's own (an integer or bool tensor's
    too, as PyTorch's), and for arrays and lists what ``mg.tensor`` would make of them."""
    return data.dtype if isinstance(x, Tensor) else _float_dtype_of(data)


# Seeded from the system's entropy with a seed that initial_seed() can tell, as PyTorch's.
_global_seed = [int(np.random.SeedSequence().entropy) % 2**63]
_global_rng = np.random.default_rng(_global_seed[0])


def manual_seed(seed: int) -> np.random.Generator:
    """Seed the generator that random constructors, layers and dropout use when no
    ``rng`` is given (like ``torch.manual_seed``), and return it.

    The generator is reseeded in place, so layers made before the call (a Dropout holds
    the global generator) draw from the new seed too: ``mg.manual_seed(0); model(x)``
    repeats the same masks, as in PyTorch.
    """
    seed = _checked_seed(seed, "manual_seed")
    if _watchers.count and _grad_mode.tracer is not None:  # an mg.compile trace: every replay reseeds
        return _grad_mode.tracer.replayed_call(_reseed, _global_rng, (seed,), {})
    return _reseed(_global_rng, seed)


def _checked_seed(seed, where: str) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{where}: seed must be an int, got {type(seed).__name__}")
    seed = int(seed)
    if not -0x8000_0000_0000_0000 <= seed <= 0xFFFF_FFFF_FFFF_FFFF:
        raise InvalidArgumentError(f"{where}: seed must be in [-2**63, 2**64 - 1], got {seed}")
    return seed % 2**64  # (PyTorch's mapping of negative seeds: -1 is 2**64 - 1)


def _reseed(generator: np.random.Generator, seed: int) -> np.random.Generator:
    generator.bit_generator.state = np.random.default_rng(seed).bit_generator.state
    if generator is _global_rng:
        _global_seed[0] = seed
    return generator


def initial_seed() -> int:
    """The seed of the global generator (the last ``mg.manual_seed`` or ``mg.seed``, else the
    one drawn at import), as ``torch.initial_seed``."""
    return _global_seed[0]


class Generator(np.random.Generator):
    """``torch.Generator``'s counterpart: ``g = mg.Generator().manual_seed(0)`` is a NumPy
    ``Generator`` (the same draws as ``np.random.default_rng(0)``), so it goes wherever
    ``generator=`` or ``rng=`` does: random constructors, ``DataLoader``, ``random_split``,
    ``nn.init``, dropout. Its seed before ``manual_seed`` is PyTorch's default one."""

    _DEFAULT_SEED = 67280421310721  # torch.Generator().initial_seed()

    def __init__(self, device="cpu"):  # (torch.Generator's argument name, so the device class is _device here)
        _device(device)  # (the CPU only: another device raises)
        super().__init__(np.random.PCG64(self._DEFAULT_SEED))
        self._seed = self._DEFAULT_SEED

    device = property(lambda self: CPU, doc="The CPU, the only device.")

    def manual_seed(self, seed: int) -> Generator:
        """Reseed in place and return self (``torch.Generator().manual_seed(0)``)."""
        self._seed = _checked_seed(seed, "Generator.manual_seed")
        _reseed(self, self._seed)
        return self

    def seed(self) -> int:
        """Reseed from the operating system's entropy and return the new seed."""
        self.manual_seed(int(np.random.SeedSequence().entropy) % 2**63)
        return self._seed

    def initial_seed(self) -> int:
        """The seed of the latest ``manual_seed`` (or the default one)."""
        return self._seed

    def get_state(self) -> dict:
        """The generator's state (a dict of NumPy's bit generator), for ``set_state``."""
        return self.bit_generator.state

    def set_state(self, state: dict) -> Generator:
        """Restore a state from ``get_state`` and return self."""
        self.bit_generator.state = state
        return self

    def __reduce__(self):  # pickled and copied as itself, with its state
        return _restored_generator, (self._seed, self.get_state())


def _restored_generator(seed: int, state: dict) -> Generator:
    generator = Generator().set_state(state)
    generator._seed = seed
    return generator


# What ties a tensor to a graph, which copies do not take (see Tensor.__copy__)
_GRAPH_STATE = frozenset({"_node", "_grad", "_hooks", "_retains_grad", "_used", "_grad_graph", "_no_grad_view",
                          "_views", "_view_inputs"})
_IN_PROCESS_ONLY = frozenset({"_views", "_view_inputs"})


def _rng(rng) -> np.random.Generator:
    if rng is None:
        rng = _global_rng
    elif isinstance(rng, numbers.Integral):
        rng = np.random.default_rng(rng)
        if _watchers.count and _grad_mode.tracer is not None:  # an mg.compile trace: one it can make again
            _grad_mode.tracer.seeded_generator(rng)
        return rng
    elif not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator (np.random.default_rng(seed)), a seed or None, got {rng!r}")
    if _watchers.count and _grad_mode.tracer is not None:  # an mg.compile trace: where its draws begin
        _grad_mode.tracer.drawing(rng)
    return rng


@_constructor
@takes_device
def randn(*shape, requires_grad: bool = False, dtype=None, rng=None, name: str | None = None) -> Tensor:
    """Standard normal samples; ``rng`` is a ``np.random.Generator`` or a seed."""
    dtype = _constructor_dtype("randn", dtype, _default_dtype, requires_grad, kinds="f")
    data = _rng(rng).standard_normal(_shape(shape)).astype(dtype, copy=False)
    return _new(data, requires_grad, name)


@_constructor
@takes_device
def rand(*shape, requires_grad: bool = False, dtype=None, rng=None, name: str | None = None) -> Tensor:
    """Uniform samples in [0, 1); ``rng`` is a ``np.random.Generator`` or a seed."""
    dtype = _constructor_dtype("rand", dtype, _default_dtype, requires_grad, kinds="f")
    return _new(uniform_samples(_rng(rng), 0.0, 1.0, _shape(shape), dtype), requires_grad, name)


def uniform_samples(rng: np.random.Generator, low: float, high: float, shape, dtype) -> np.ndarray:
    """Samples of U[low, high) in ``dtype``, drawn in float64. Rounding (to a narrower dtype,
    or in ``low + (high - low) * u``) can carry a sample up to ``high``: those are moved to the
    number just below it, so that the interval stays half-open, as PyTorch's."""
    dtype = np.dtype(dtype)
    values = rng.uniform(low, high, shape).astype(dtype, copy=False)
    if low < high and dtype.kind == "f":
        top = np.nextafter(dtype.type(high), dtype.type(low))
        np.minimum(values, max(top, dtype.type(low)), out=values)
    return values


@_constructor
@takes_device
def arange(start=None, stop=None, step=1, requires_grad: bool = False, dtype=None, name: str | None = None) -> Tensor:
    """Evenly spaced values in [start, stop) (``arange(stop)`` and ``arange(end=stop)`` start at
    0), in the default float dtype unless ``dtype`` says otherwise."""
    if stop is None:
        if start is None:
            raise TypeError("arange() needs the end of the range: arange(end), arange(start, end[, step])")
        start, stop = 0, start
    elif start is None:
        start = 0
    dtype = _constructor_dtype("arange", dtype, _default_dtype, requires_grad, kinds="fiu")
    if dtype.kind in "iu":  # as PyTorch: the bounds and step in the integer dtype first (toward zero)
        start, stop, step = (int(_data(value)) for value in (start, stop, step))
    if step == 0:
        raise InvalidArgumentError("arange: step must be nonzero")
    return _new(np.arange(start, stop, step).astype(dtype, copy=False), requires_grad, name)


@_constructor
def from_numpy(array) -> Tensor:
    """A Tensor sharing the memory of the ndarray ``array`` (no copy, its dtype kept), as
    ``torch.from_numpy``: writing to one changes the other."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}; use mg.tensor(data) "
                        "to copy other data")
    if array.dtype.kind not in "fiub":
        raise TypeError(f"from_numpy: dtype {array.dtype} is not supported: microgradnp works with real numbers "
                        "(floating, integer or bool arrays)")
    wrapped = Tensor._wrap(array)
    if _versions.graph_writes and array.base is not None:  # a constant of the values it has now, as detach()
        wrapped._view_stamp = next(_versions.stamps)
    return wrapped


def _argmax_or_min(function):
    def query(x, axis=None, keepdims: bool = False) -> Tensor:
        shape = np.shape(_data(x))
        if 0 in shape:  # PyTorch's IndexError (NumPy's ValueError) over an empty axis, saying which
            axes = tuple(range(len(shape))) if axis is None else _ops.primitive.normalize_axes(axis, len(shape))
            _ops.primitive.check_not_empty(function.__name__, shape, axes)
        return _no_grad_on_data(_as_array_result(function))(x, axis=axis, keepdims=keepdims)

    query.__name__ = function.__name__
    query.__doc__ = (f"Indices of the {'largest' if function is np.argmax else 'smallest'} values along ``axis`` "
                     f"(``dim=``/``keepdim=`` too; None: of the flattened tensor), as ``np.{function.__name__}``; "
                     "an integer tensor outside the graph.")
    return query


_STALE_VIEW = (
    "{what}, but this tensor is a view taken before a value that requires grad was written into the tensor "
    "it views (buf[...] = x * 2): it shows the new values without being in their graph, so gradients through "
    "it would be wrong. Take the view again after the write (v = buf[0:2]); under mg.no_grad() it is a "
    "constant as any other view")


class _Size(int):
    """NumPy's element count (``t.size``), which PyTorch users call: the spelling decides, as
    for ``max``: ``t.size`` is the count, ``t.size()`` the shape and ``t.size(dim)`` one length."""

    def __new__(cls, shape: tuple):
        count = cls.__base__.__new__(cls, math.prod(shape))
        count.shape = shape
        return count

    def __call__(self, dim=None):
        shape = self.shape
        if dim is None:
            return shape
        dim = operator.index(dim)
        if not shape:
            raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
        if not -len(shape) <= dim < len(shape):
            raise IndexError(f"Dimension out of range (expected to be in range of [{-len(shape)}, {len(shape) - 1}], "
                             f"but got {dim})")
        return shape[dim]

    def __reduce__(self):  # pickled and copied as the count it is
        return int, (int(self),)


from microgradnp import ops as _ops  # noqa: E402  (the operations need Tensor defined)
from microgradnp.autograd import engine as _engine  # noqa: E402
from microgradnp.autograd import versions as _versions  # noqa: E402
from microgradnp.autograd.grad_mode import enable_grad as _enable_grad  # noqa: E402
from microgradnp.autograd.grad_mode import mode as _grad_mode  # noqa: E402
from microgradnp.autograd.grad_mode import watchers as _watchers  # noqa: E402
from microgradnp.ops import torch_methods as _torch_methods  # noqa: E402
from microgradnp.ops.primitive import _CATEGORY as _KIND_RANK  # noqa: E402

argmax = _ops.torch_names(_argmax_or_min(np.argmax))
argmin = _ops.torch_names(_argmax_or_min(np.argmin))
_ops.attach_methods(Tensor)
Tensor.argmax, Tensor.argmin = argmax, argmin
# PyTorch's keyword names of their *shape / *dims arguments: t.view(size=(4, 3)), t.permute(dims=(1, 0)).
Tensor.view = _ops.torch_names(Tensor.view, {"size": "shape"})
Tensor.permute = _ops.torch_names(Tensor.permute)
_torch_methods.attach(Tensor)
from microgradnp.ops import torch_more as _torch_more  # noqa: E402

_torch_more.attach(Tensor)
# The operators' primitives, bound once: `a + b` then costs no attribute lookups.
_add, _sub, _mul, _div = _ops.Add.apply, _ops.Sub.apply, _ops.Mul.apply, _ops.Div.apply
_pow, _matmul = _ops.Pow.apply, _ops.MatMul.apply
_UFUNCS = _ops.ufunc_table(_compare, _no_grad_on_data)
_ARRAY_FUNCTIONS = _ops.array_function_table(_no_grad_on_data)
