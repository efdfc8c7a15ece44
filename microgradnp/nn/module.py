"""``Module`` and ``Parameter``: models as trees of layers holding trainable tensors."""

from __future__ import annotations

import functools
import inspect
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import NamedTuple

import numpy as np

from microgradnp.autograd.grad_mode import mode as grad_mode
from microgradnp.autograd.grad_mode import replayed, watchers
from microgradnp.autograd.versions import bump as bump_version
from microgradnp.autograd.versions import stamps
from microgradnp.device import check_device, with_device_keyword
from microgradnp.errors import InvalidArgumentError, StateDictKeyError
from microgradnp.nn.hooks import add_hook, call_with_hooks, global_hooks
from microgradnp.tensor import Tensor, _target_dtype
from microgradnp.utils.hooks import RemovableHandle


class _Changes:
    """The clock of changes to modules: assigning, deleting or registering an attribute
    or a hook takes the next ``count`` and stamps the module with it (``module._changed``);
    another train()/eval() mode takes the next ``count`` only (a replay compares the modes
    themselves, so that a step traced in each mode replays in it). An ``mg.compile`` replay
    compares one number per call, and looks at the modules it used only when some module
    changed since."""

    __slots__ = ("count",)

    def __init__(self):
        self.count = 0


changes = _Changes()


def _mark_changed(module) -> None:
    changes.count += 1
    object.__setattr__(module, "_changed", changes.count)


class Parameter(Tensor):
    """A Tensor that a Module trains: ``requires_grad=True`` unless told otherwise.

    Assigning one as an attribute of a Module registers it (``named_parameters``,
    ``state_dict``, the optimizer's ``model.parameters()``).
    """

    def __init__(self, data, requires_grad: bool = True, dtype=None, name: str | None = None):
        super().__init__(data, requires_grad=requires_grad, dtype=dtype, name=name)

    def __repr__(self) -> str:
        return "Parameter(" + super().__repr__().removeprefix("tensor(")

    def __deepcopy__(self, memo) -> Parameter:
        # As PyTorch's: the values and requires_grad (and the name), not the gradient.
        copied = type(self)(self.data.copy(), requires_grad=self.requires_grad, dtype=self.data.dtype, name=self.name)
        memo[id(self)] = copied
        return copied


class Buffer(Tensor):
    """A Tensor that registers itself as a buffer when assigned to a Module attribute, as
    ``torch.nn.Buffer``: ``self.mean = nn.Buffer(np.zeros(3))`` is
    ``self.register_buffer("mean", ..., persistent)``; ``persistent=False`` keeps it out of
    ``state_dict()``."""

    def __init__(self, data=None, *, persistent: bool = True):
        super().__init__(np.empty(0) if data is None else getattr(data, "data", data))
        self.persistent = persistent


@functools.cache
def _first_parameter(cls) -> str | None:
    """The name of ``cls.forward``'s first parameter when it may be passed by position and
    ``input`` is not one of its parameters (``forward(self, x)``), else None."""
    try:
        parameters = list(inspect.signature(cls.forward).parameters.values())[1:]
    except (TypeError, ValueError):  # (a forward without a signature)
        return None
    if not parameters or any(p.name == "input" for p in parameters) or parameters[0].kind not in (
            inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
        return None
    return parameters[0].name


def _input_as_first(cls, kwargs: dict) -> tuple[tuple, dict]:
    """``module(input=x)`` for a forward whose first parameter has another name: x by position."""
    if _first_parameter(cls) is None:
        return (), kwargs
    kwargs = dict(kwargs)
    return (kwargs.pop("input"),), kwargs


class _LegacyStateDictHook:
    """A hook of ``_register_state_dict_hook``: a state-dict post-hook allowed to return a state."""

    def __init__(self, hook):
        self.hook = hook

    def __call__(self, *args):
        return self.hook(*args)


class _WithoutModule:
    """A hook of ``_register_load_state_dict_pre_hook(with_module=False)``: called without the module."""

    def __init__(self, hook):
        self.hook = hook

    def __call__(self, module, *args):
        return self.hook(*args)


class Module:
    """Base class of layers and models, as in PyTorch.

    Subclasses set their Parameters and sub-Modules as attributes in ``__init__`` and
    compute the output in ``forward``; calling the module runs ``forward``:

        class TwoLayer(mg.nn.Module):
            def __init__(self):
                super().__init__()
                self.hidden = mg.nn.Linear(2, 8)
                self.out = mg.nn.Linear(8, 1)

            def forward(self, x):
                return self.out(self.hidden(x).tanh())

    Registration follows PyTorch. A name that holds a Parameter takes only a Parameter or
    None (None keeps the name registered as an empty slot, left out of ``parameters()``
    and ``state_dict()``). A name that holds a sub-Module takes only a Module, a Parameter
    or None. Anything else (a plain Tensor, an ndarray, a number, a function) raises a
    TypeError rather than silently dropping the weight from ``state_dict`` and the
    optimizer; ``del module.name`` first to store something else there. Assigning a
    Parameter or Module before ``super().__init__()`` raises an AttributeError.
    ``register_parameter`` and ``add_module`` reject a name that is not a str (TypeError),
    that is empty or contains "." (KeyError), or that is already an attribute of
    another kind (KeyError).
    """

    training: bool = True
    _changed = 0  # the count of changes.count at this module's latest change

    def __init_subclass__(cls, **kwargs):
        # Layers that take PyTorch's factory argument dtype= take its device= too (the CPU only).
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None and _takes_dtype_not_device(init):
            cls.__init__ = _with_device(init)

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "training", True)

    # -- registration -------------------------------------------------------------------
    # Registered Parameters and sub-Modules also live in the instance ``__dict__``, so that
    # reading ``self.weight`` in ``forward`` is a plain attribute lookup (no ``__getattr__``).
    def __setattr__(self, name: str, value) -> None:
        # As torch.nn.Module.__setattr__: a registered name keeps its kind (a parameter slot
        # takes a Parameter or None, a module slot a Module, a Parameter or None), so that a
        # stray assignment cannot silently drop a weight from state_dict and the optimizer.
        parameters = self.__dict__.get("_parameters")
        if isinstance(value, Parameter):
            if parameters is None:
                raise AttributeError(_before_init("parameters", type(self)))
            self._check_name("parameter", name, parameters, self_type_only=True)
            self._modules.pop(name, None)
            self._forget_buffer(name)
            parameters[name] = value
        elif parameters is not None and name in parameters:
            if value is not None:
                raise TypeError(
                    f"cannot assign {_typename(value)!r} as parameter {name!r} (nn.Parameter or None expected); "
                    f"wrap it in nn.Parameter(...) to replace the parameter, or `del module.{name}` first "
                    "to store something else under that name"
                )
            parameters[name] = None
        elif isinstance(value, Module):
            if parameters is None:
                raise AttributeError(_before_init("module", type(self)))
            self._check_name("module", name, self._modules, self_type_only=None)
            self._forget_buffer(name)
            self._modules[name] = value
        elif parameters is not None and name in self._modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign {_typename(value)!r} as child module {name!r} (nn.Module or None expected); "
                    f"`del module.{name}` first to store something else under that name"
                )
            self._modules[name] = None
        elif isinstance(value, Buffer):
            self.register_buffer(name, value, value.persistent)
            return
        elif name in self.__dict__.get("_buffers", ()):
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign {_typename(value)!r} as buffer {name!r} (microgradnp.Tensor or None expected); "
                    f"`del module.{name}` first to store something else under that name"
                )
            self._buffers[name] = value
        object.__setattr__(self, name, value)
        _mark_changed(self)

    def _forget_buffer(self, name: str) -> None:
        buffers = self.__dict__.get("_buffers")
        if buffers is not None and name in buffers:
            del buffers[name]
            self._non_persistent_buffers.discard(name)

    def __delattr__(self, name: str) -> None:
        registered = False
        for registry in (self.__dict__.get("_parameters"), self.__dict__.get("_modules"),
                         self.__dict__.get("_buffers")):
            if registry is not None and name in registry:
                del registry[name]
                registered = True
        self.__dict__.get("_non_persistent_buffers", set()).discard(name)
        if not registered or name in self.__dict__:
            object.__delattr__(self, name)
        _mark_changed(self)

    def register_parameter(self, name: str, parameter: Parameter | None) -> None:
        """Register ``parameter`` (or None, an empty slot) under ``name``, as PyTorch.

        Raises:
            AttributeError: before ``Module.__init__()`` ran.
            TypeError: ``name`` is not a str, or ``parameter`` is neither an ``nn.Parameter`` nor None.
            KeyError: ``name`` is empty, contains ".", or is already an attribute that is not a parameter.
        """
        if "_parameters" not in self.__dict__:
            raise AttributeError(_before_init("parameter", type(self)))
        self._check_name("parameter", name, self._parameters, self_type_only=False)
        if parameter is not None and not isinstance(parameter, Parameter):
            raise TypeError(
                f"cannot assign {_typename(parameter)!r} object to parameter {name!r} (nn.Parameter or None required)"
            )
        self._parameters[name] = parameter
        object.__setattr__(self, name, parameter)
        _mark_changed(self)

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register ``tensor`` as a buffer: state that is not trained, such as BatchNorm's running mean.

        As ``torch.nn.Module.register_buffer``: the buffer is an attribute (``self.name``),
        listed by ``buffers()``/``named_buffers()`` and, when ``persistent``, saved in
        ``state_dict()`` (after the module's own parameters) and restored by
        ``load_state_dict``. The optimizer never sees it. None registers an empty slot.
        Assigning a Tensor (or None) to the name later replaces the buffer.

        Args:
            name: the attribute name.
            tensor: a ``microgradnp.Tensor`` (wrap an array with ``mg.tensor`` first), or None.
            persistent: whether ``state_dict()`` includes it.

        Raises:
            AttributeError: before ``Module.__init__()`` ran.
            TypeError: ``name`` is not a str, or ``tensor`` is neither a Tensor nor None.
            KeyError: ``name`` is empty, contains ".", or is already an attribute that is not a buffer.
        """
        if "_buffers" not in self.__dict__:
            raise AttributeError(_before_init("buffer", type(self)))
        self._check_name("buffer", name, self._buffers, self_type_only=False)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign {_typename(tensor)!r} object to buffer {name!r} "
                            "(microgradnp.Tensor or None required)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)
        object.__setattr__(self, name, tensor)
        _mark_changed(self)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register ``module`` (or None, an empty slot) as a child under ``name``, as PyTorch.

        Raises:
            AttributeError: before ``Module.__init__()`` ran.
            TypeError: ``module`` is neither an ``nn.Module`` nor None, or ``name`` is not a str.
            KeyError: ``name`` is empty, contains ".", or is already an attribute that is not a child module.
        """
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{_typename(module)} is not a Module subclass")
        if "_modules" not in self.__dict__:
            raise AttributeError(_before_init("module", type(self)))
        self._check_name("module", name, self._modules, self_type_only=False)
        self._modules[name] = module
        object.__setattr__(self, name, module)
        _mark_changed(self)

    def _check_name(self, kind: str, name, registry, self_type_only: bool | None) -> None:
        """PyTorch's checks of a name to register: a str, not empty, no ".", not taken.

        "Taken" means an attribute of another kind: of the instance or its class for
        ``register_parameter``/``add_module`` (``self_type_only=False``), of the class only
        when assigning a Parameter (``True``: the assignment replaces instance attributes),
        not checked when assigning a Module (``None``), as PyTorch.
        """
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string, got {_typename(name)}")
        if name == "":
            raise KeyError(f'{kind} name can\'t be empty string ""')
        if "." in name:
            raise KeyError(f'{kind} name can\'t contain ".", got {name!r} (dots separate the levels of '
                           "state_dict keys)")
        if self_type_only is None or name in registry:
            return
        taken = hasattr(type(self), name) if self_type_only else hasattr(self, name)
        if taken or name in _REGISTRIES:
            raise KeyError(f"attribute {name!r} already exists")

    # -- running ------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward(...)")

    def __call__(self, *args, **kwargs):
        if kwargs and not args and "input" in kwargs:  # module(input=x), as PyTorch's forward(input) takes it
            args, kwargs = _input_as_first(type(self), kwargs)
        first = next(stamps)  # every node this call records gets a smaller stamp
        if watchers.count and grad_mode.tracer is not None:
            grad_mode.tracer.module_called(self)  # a replay watches it for changes
        if self._hooked or global_hooks.count:
            out = call_with_hooks(self, args, kwargs)
        else:
            out = self.forward(*args, **kwargs)
        # Mark the call on the output's node: the nodes created between `first` and it
        # belong to this module (graph drawings group them into a cluster). An output
        # made before the call (Identity) is not this module's.
        node = out._node if isinstance(out, Tensor) else None
        if node is not None and node._order < first:
            node.module_calls += ((self, first),)
        return out

    # -- hooks (PyTorch's; see microgradnp.nn.hooks) ---------------------------------------
    # Until a hook is registered these class attributes stand in for the instance's own
    # dicts (never written: registering gives the instance its own).
    _hooked = False
    _forward_pre_hooks = _forward_pre_hooks_with_kwargs = _forward_hooks = MappingProxyType({})
    _forward_hooks_with_kwargs = _forward_hooks_always_called = MappingProxyType({})
    _backward_pre_hooks = _backward_hooks = MappingProxyType({})
    _is_full_backward_hook: bool | None = None

    def _hook_dict(self, name: str) -> OrderedDict:
        hooks = self.__dict__.get(name)
        if hooks is None:
            hooks = OrderedDict()
            object.__setattr__(self, name, hooks)
        return hooks

    def _recount_hooks(self) -> None:
        hooked = bool(self._forward_pre_hooks or self._forward_hooks or self._backward_pre_hooks
                      or self._backward_hooks)
        object.__setattr__(self, "_hooked", hooked)
        _mark_changed(self)

    def register_forward_pre_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False) -> RemovableHandle:
        """Call ``hook(module, args)`` before every ``forward``; a return value other than
        None replaces the positional arguments. ``with_kwargs=True``: ``hook(module, args,
        kwargs)`` returning None or ``(args, kwargs)``. ``prepend=True`` runs it before the
        hooks registered earlier. Returns a handle whose ``remove()`` undoes it."""
        with_kwargs_ids = self._hook_dict("_forward_pre_hooks_with_kwargs")
        handle = add_hook(self._hook_dict("_forward_pre_hooks"), hook, prepend, self._recount_hooks,
                          (with_kwargs_ids,))
        if with_kwargs:
            with_kwargs_ids[handle.id] = True
        return handle

    def register_forward_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False,
                              always_call: bool = False) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after every ``forward``; a return value other
        than None replaces the output. ``with_kwargs=True``: ``hook(module, args, kwargs,
        output)``. ``always_call=True``: also when ``forward`` raised. Returns a handle."""
        with_kwargs_ids = self._hook_dict("_forward_hooks_with_kwargs")
        always_ids = self._hook_dict("_forward_hooks_always_called")
        handle = add_hook(self._hook_dict("_forward_hooks"), hook, prepend, self._recount_hooks,
                          (with_kwargs_ids, always_ids))
        if with_kwargs:
            with_kwargs_ids[handle.id] = True
        if always_call:
            always_ids[handle.id] = True
        return handle

    def register_full_backward_pre_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        """Call ``hook(module, grad_output)`` when the gradients of the module's outputs
        are known, before they go on into the module; a return value other than None (a
        tuple of the same length) replaces them. Returns a handle."""
        return add_hook(self._hook_dict("_backward_pre_hooks"), hook, prepend, self._recount_hooks)

    def register_full_backward_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        """Call ``hook(module, grad_input, grad_output)`` when the gradients of the module's
        positional inputs are known (None for inputs that are not tensors requiring grad);
        a return value other than None replaces ``grad_input``. Returns a handle."""
        if self._is_full_backward_hook is False:
            raise RuntimeError(_MIXED_BACKWARD_HOOKS)
        object.__setattr__(self, "_is_full_backward_hook", True)
        return add_hook(self._hook_dict("_backward_hooks"), hook, prepend, self._recount_hooks)

    def register_backward_hook(self, hook) -> RemovableHandle:
        """Deprecated in PyTorch; here the same as ``register_full_backward_hook`` (with a
        warning): PyTorch's old hook saw the gradients of the last operation inside the
        module, which is rarely what was meant."""
        if self._is_full_backward_hook is True:
            raise RuntimeError(_MIXED_BACKWARD_HOOKS)
        warnings.warn(
            "register_backward_hook is deprecated (as in PyTorch); microgradnp runs it as "
            "register_full_backward_hook: grad_input holds the gradients of the module's inputs. "
            "Use register_full_backward_hook to silence this warning.",
            FutureWarning,
            stacklevel=2,
        )
        object.__setattr__(self, "_is_full_backward_hook", False)
        return add_hook(self._hook_dict("_backward_hooks"), hook, False, self._recount_hooks)

    # -- traversal ----------------------------------------------------------------------
    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """``(dotted name, parameter)`` pairs, each parameter once (under every name it is
        registered as, with ``remove_duplicate=False``), in registration order."""
        seen: set[int] = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, parameter in module._parameters.items():
                if parameter is None or (remove_duplicate and id(parameter) in seen):
                    continue
                seen.add(id(parameter))
                yield (f"{module_prefix}.{name}" if module_prefix else name), parameter

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """The parameters of this module and (with ``recurse``) of its sub-modules."""
        for _, parameter in self.named_parameters(recurse=recurse):
            yield parameter

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        """``(dotted name, buffer)`` pairs, each buffer once (unless ``remove_duplicate=False``),
        in registration order."""
        seen: set[int] = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, buffer in module._buffers.items():
                if buffer is None or (remove_duplicate and id(buffer) in seen):
                    continue
                seen.add(id(buffer))
                yield (f"{module_prefix}.{name}" if module_prefix else name), buffer

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """The buffers (running statistics and other untrained state) of this module and below."""
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """``(name, module)`` of the direct sub-modules, each once (as PyTorch, by identity)."""
        seen: set[int] = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        """The direct sub-modules."""
        for _, module in self.named_children():
            yield module

    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """``(dotted name, module)`` for this module (name ``prefix``) and all below it, each
        once; with ``remove_duplicate=False``, under every name it is registered as.
        ``memo``: modules (a set of them) to leave out, as PyTorch's."""
        if isinstance(memo, str):  # named_modules("prefix"), this project's older spelling
            memo, prefix = None, memo
        seen: set[int] = {id(m) for m in memo} if memo is not None else set()
        stack = [(prefix, self, frozenset())]
        while stack:
            name, module, ancestors = stack.pop()
            if id(module) in (seen if remove_duplicate else ancestors):  # (a cycle would never end)
                continue
            seen.add(id(module))
            if memo is not None:
                memo.add(module)
            yield name, module
            ancestors = ancestors | {id(module)}
            items = module._modules.items() if not remove_duplicate else module.named_children()
            children = [(f"{name}.{child_name}" if name else child_name, child, ancestors)
                        for child_name, child in items if child is not None]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        """This module and every module below it."""
        for _, module in self.named_modules():
            yield module

    # -- modes and gradients ------------------------------------------------------------
    @replayed
    def train(self, mode: bool = True) -> Module:
        """Training mode (Dropout active), or evaluation mode with ``False``, for this module
        and (through their own ``train``, which a subclass may override) its children;
        returns self."""
        if not isinstance(mode, bool):
            raise InvalidArgumentError("training mode is expected to be boolean")
        if self.training is not mode:
            if watchers.count and grad_mode.tracer is not None:
                grad_mode.tracer.mode_changing(self)
            object.__setattr__(self, "training", mode)
            changes.count += 1
        for module in self.children():
            module.train(mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode (Dropout off); returns self."""
        return self.train(False)

    @replayed
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients of all parameters (``.grad = None``), or with
        ``set_to_none=False`` fill them with zeros in place."""
        for parameter in self.parameters():
            if set_to_none:
                parameter.grad = None
            elif parameter._grad is not None:
                parameter._grad.fill(0)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Freeze (False) or unfreeze all parameters; returns self."""
        for parameter in self.parameters():
            parameter.requires_grad_(requires_grad)
        return self

    def apply(self, fn) -> Module:
        """Call ``fn(module)`` on every sub-module, each after its own sub-modules, and
        last on this module, as PyTorch's ``apply`` (``model.apply(init_weights)``);
        returns self."""
        stack = [(self, False)]
        while stack:  # iterative post-order: any depth of nesting
            module, children_done = stack.pop()
            if children_done:
                fn(module)
            else:
                stack.append((module, True))
                stack.extend((child, False) for child in reversed(list(module.children())))
        return self

    def to(self, *args, **kwargs) -> Module:
        """Cast the floating-point parameters and buffers (and the gradients held) to a
        dtype in place, keeping the Parameter objects an optimizer holds, as PyTorch's
        ``module.to(dtype)``, ``to(device, dtype)``, ``to(tensor)`` (its dtype) and
        ``to(dtype=..., device=..., non_blocking=...)``; returns self. ``to("cpu")``
        changes nothing: there is no other device. Integer buffers (a batch count) keep
        their dtype."""
        dtype = _target_dtype(kwargs.pop("device", "cpu"))  # (checks the device: "cpu" gives None)
        kwargs.pop("non_blocking", None)
        if "dtype" in kwargs:
            dtype = _target_dtype(kwargs.pop("dtype"))
        if kwargs:
            raise TypeError(f"to() got unexpected keyword argument(s) {sorted(kwargs)}")
        for arg in args:
            if isinstance(arg, Tensor):
                dtype = arg.data.dtype if arg.data.dtype.kind == "f" else dtype
            elif not isinstance(arg, bool):  # (non_blocking given by position)
                dtype = _target_dtype(arg) or dtype
        if dtype is None:
            return self
        if dtype.kind != "f":
            raise TypeError(f"to({dtype}): a module's parameters must stay floating point; give a float dtype")
        for tensor in (*self.parameters(), *self.buffers()):
            if tensor.data.dtype.kind == "f" and tensor.data.dtype != dtype:
                tensor.data = tensor.data.astype(dtype)
                if tensor._grad is not None:
                    tensor._grad = tensor._grad.astype(dtype)
        return self

    def float(self) -> Module:
        """The parameters and buffers in float32 (``module.to(np.float32)``); returns self."""
        return self.to(np.float32)

    def double(self) -> Module:
        """The parameters and buffers in float64 (``module.to(np.float64)``); returns self."""
        return self.to(np.float64)

    def half(self) -> Module:
        """The parameters and buffers in float16 (``module.to(np.float16)``); returns self."""
        return self.to(np.float16)

    def bfloat16(self) -> Module:
        raise TypeError("bfloat16: NumPy has no bfloat16 dtype; use half() (float16) or float() (float32)")

    def type(self, dst_type) -> Module:
        """Cast every parameter and buffer to ``dst_type``, as PyTorch's ``module.type``: unlike
        ``to(dtype)``, integer buffers too (a batch count becomes float)."""
        self.to(dst_type)
        dtype = _target_dtype(dst_type)
        for buffer in self.buffers():
            if buffer.data.dtype != dtype:
                buffer.data = buffer.data.astype(dtype)
        return self

    def cpu(self) -> Module:
        """Returns self: the CPU is the only device."""
        return self

    def cuda(self, device=None) -> Module:
        raise RuntimeError("cuda(): microgradnp runs on the CPU only (NumPy); remove the call or use cpu()")

    def share_memory(self) -> Module:
        """Returns self: NumPy arrays need no moving to be shared with threads (processes
        get copies, as with any Python object)."""
        return self

    def to_empty(self, *, device=None, recurse: bool = True) -> Module:
        """Replace every parameter's and buffer's values with uninitialised memory of the
        same shape and dtype (PyTorch's way out of the meta device); returns self."""
        _target_dtype("cpu" if device is None else device)
        tensors = (*self.parameters(recurse=recurse), *self.buffers(recurse=recurse))
        for tensor in tensors:
            tensor.data = np.empty_like(tensor.data)
        return self

    # -- access by dotted name ------------------------------------------------------------
    def _get_name(self) -> str:
        return type(self).__name__

    def register_module(self, name: str, module: Module | None) -> None:
        """``add_module``'s other name, as PyTorch."""
        self.add_module(name, module)

    def get_submodule(self, target: str) -> Module:
        """The sub-module at dotted path ``target`` (``"encoder.layers.0"``); "" is self.

        Raises:
            AttributeError: a step of the path does not exist or is not a Module.
        """
        if target == "":
            return self
        module = self
        for item in target.split("."):
            if not hasattr(module, item):
                raise AttributeError(f"{module._get_name()} has no attribute `{item}`")
            module = getattr(module, item)
            if not isinstance(module, Module):
                raise AttributeError(f"`{item}` is not an nn.Module")
        return module

    def set_submodule(self, target: str, module: Module, strict: bool = False) -> None:
        """Put ``module`` at dotted path ``target``, replacing a sub-module there or (unless
        ``strict``) adding one to an existing parent.

        Raises:
            ValueError: ``target`` is empty or ``module`` is not a Module.
            AttributeError: the parent does not exist, ``strict`` and nothing is at ``target``,
                or what is there is not a Module.
        """
        if target == "":
            raise ValueError("Cannot set the submodule without a target name!")
        if not isinstance(module, Module):
            raise ValueError(f"`module` is not an nn.Module, found {type(module)}")
        parent_path, _, name = target.rpartition(".")
        parent = self.get_submodule(parent_path)
        if strict and not hasattr(parent, name):
            raise AttributeError(f"{parent._get_name()} has no attribute `{name}`")
        if hasattr(parent, name) and not isinstance(getattr(parent, name), Module):
            raise AttributeError(f"`{name}` is not an nn.Module")
        setattr(parent, name, module)

    def _owner_of(self, target: str) -> tuple[Module, str]:
        """The module holding the attribute at dotted path ``target``, and its name there."""
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        if not hasattr(module, name):
            raise AttributeError(f"{module._get_name()} has no attribute `{name}`")
        return module, name

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at dotted path ``target`` (``"encoder.0.weight"``).

        Raises:
            AttributeError: the path does not exist or does not end at a Parameter.
        """
        module, name = self._owner_of(target)
        parameter = getattr(module, name)
        if not isinstance(parameter, Parameter):
            raise AttributeError(f"`{name}` is not an nn.Parameter")
        return parameter

    def get_buffer(self, target: str) -> Tensor:
        """The buffer at dotted path ``target`` (``"bn.running_mean"``).

        Raises:
            AttributeError: the path does not exist or does not end at a buffer.
        """
        module, name = self._owner_of(target)
        if name not in module._buffers:
            raise AttributeError(f"`{name}` is not a buffer")
        return getattr(module, name)

    # -- state --------------------------------------------------------------------------
    def state_dict(self, *, destination=None, prefix: str = "", keep_vars: bool = False) -> OrderedDict:
        """Every parameter and persistent buffer by dotted name (``prefix`` before each name),
        as PyTorch's: each value is ``tensor.detach()``, a Tensor that does not require grad
        and SHARES its memory with the parameter or buffer (``sd["weight"].fill_(0)`` changes
        the model, and the state follows the optimizer's steps); take a snapshot with
        ``copy.deepcopy(model.state_dict())``. ``keep_vars=True`` gives the Parameters and
        buffers themselves; ``destination``: a mapping to fill (and return) instead of a new
        OrderedDict.

        As PyTorch, a module's parameters come first, then its buffers, then its children.
        As PyTorch, a parameter (or module) registered under two names, such as tied
        weights, has an entry under each name, while ``named_parameters()`` lists it once.
        """
        state = OrderedDict() if destination is None else destination
        return self._save_state(state, prefix, keep_vars, frozenset())

    def _save_state(self, state, prefix: str, keep_vars: bool, ancestors: frozenset):
        """This module's entries, then its children's, into ``state``, with the state-dict
        hooks around them, as PyTorch's ``state_dict`` recursion. Returns ``state``, or at the
        root what a hook of ``_register_state_dict_hook`` returned instead."""
        root = not ancestors
        for hook in self._state_dict_pre_hooks.values():
            hook(self, prefix, keep_vars)
        for name, tensor in self._state_entries(prefix, extra=True, recurse=False):
            if isinstance(tensor, _ExtraState):
                state[name] = tensor.module.get_extra_state()
            else:
                state[name] = tensor if keep_vars else tensor.detach()
        ancestors = ancestors | {id(self)}
        for name, module in self._modules.items():
            if module is not None and id(module) not in ancestors:  # a cycle would never end
                module._save_state(state, f"{prefix}{name}.", keep_vars, ancestors)
        result = state
        for hook in self._state_dict_post_hooks.values():
            returned = hook(self, state, prefix, {"version": 1})
            if returned is None:
                continue
            if not isinstance(hook, _LegacyStateDictHook):
                raise RuntimeError("state_dict post-hook must return None")
            if root:  # as PyTorch's, a returned state counts at the root only
                result = returned
        return result

    # State-dict hooks: class-level empty stand-ins until one is registered (as the forward hooks').
    _state_dict_pre_hooks = _state_dict_post_hooks = MappingProxyType({})
    _load_state_dict_pre_hooks = _load_state_dict_post_hooks = MappingProxyType({})
    _added_in_version_2: tuple[str, ...] = ()  # (see _kept_if_missing)

    def register_state_dict_pre_hook(self, hook) -> RemovableHandle:
        """Call ``hook(module, prefix, keep_vars)`` before ``state_dict()`` saves this module's
        entries, as PyTorch's. Returns a handle whose ``remove()`` undoes it."""
        return add_hook(self._hook_dict("_state_dict_pre_hooks"), hook, False, _no_change)

    def register_state_dict_post_hook(self, hook) -> RemovableHandle:
        """Call ``hook(module, state_dict, prefix, local_metadata)`` after ``state_dict()``
        saved this module's entries and its children's; it may change ``state_dict`` in
        place and must return None (a RuntimeError otherwise), as PyTorch's."""
        return add_hook(self._hook_dict("_state_dict_post_hooks"), hook, False, _no_change)

    def _register_state_dict_hook(self, hook) -> RemovableHandle:
        """PyTorch's older ``register_state_dict_post_hook``, which code still calls: the same,
        except that ``hook`` may return a new state dict, which ``state_dict()`` returns when
        the hook is the root module's (as PyTorch's; a child's return is ignored)."""
        return self.register_state_dict_post_hook(_LegacyStateDictHook(hook))

    def _register_load_state_dict_pre_hook(self, hook, with_module: bool = False) -> RemovableHandle:
        """PyTorch's older ``register_load_state_dict_pre_hook``, which code still calls:
        ``hook(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
        error_msgs)``, with the module first where ``with_module`` is true."""
        return self.register_load_state_dict_pre_hook(hook if with_module else _WithoutModule(hook))

    def register_load_state_dict_pre_hook(self, hook) -> RemovableHandle:
        """Call ``hook(module, state_dict, prefix, local_metadata, strict, missing_keys,
        unexpected_keys, error_msgs)`` before ``load_state_dict`` checks and loads anything,
        as PyTorch's: it may change ``state_dict`` (a copy of the one given: rename old
        keys, say) and append to the lists; an appended error message makes the load raise
        a RuntimeError."""
        return add_hook(self._hook_dict("_load_state_dict_pre_hooks"), hook, False, _no_change)

    def register_load_state_dict_post_hook(self, hook) -> RemovableHandle:
        """Call ``hook(module, incompatible_keys)`` after ``load_state_dict`` loaded the
        values, as PyTorch's: it may remove names from ``incompatible_keys.missing_keys``
        and ``.unexpected_keys`` (what remains makes a strict load raise) and must return None."""
        return add_hook(self._hook_dict("_load_state_dict_post_hooks"), hook, False, _no_change)

    def get_extra_state(self):
        """What a module keeps in its ``state_dict`` beside its tensors (under ``"_extra_state"``),
        as PyTorch's: override it, and ``set_extra_state`` to restore it."""
        raise RuntimeError("get_extra_state() is called only where a Module subclass overrides it; "
                           "override it (and set_extra_state) to keep extra state in state_dict()")

    def set_extra_state(self, state) -> None:
        """Restore what ``get_extra_state`` returned, from ``load_state_dict``."""
        raise RuntimeError("set_extra_state() is called only where a Module subclass overrides it; override "
                           "it to restore what get_extra_state() returned")

    def _state_entries(self, prefix: str = "", ancestors: frozenset = frozenset(), extra: bool = False,
                       recurse: bool = True):
        """``(dotted name, tensor)`` for every registered parameter and persistent buffer name,
        shared ones under each name; with ``extra``, also ``(name, _ExtraState)`` where a module
        keeps extra state (after its buffers, as PyTorch orders them); with ``recurse=False``,
        this module's own only."""
        for name, parameter in self._parameters.items():
            if parameter is not None:
                yield prefix + name, parameter
        for name, buffer in self._buffers.items():
            if buffer is not None and name not in self._non_persistent_buffers:
                yield prefix + name, buffer
        if extra and type(self).get_extra_state is not Module.get_extra_state:
            yield prefix + _EXTRA_STATE, _ExtraState(self)
        if not recurse:
            return
        ancestors = ancestors | {id(self)}
        for name, module in self._modules.items():
            if module is not None and id(module) not in ancestors:  # a cycle would never end
                yield from module._state_entries(f"{prefix}{name}.", ancestors, extra)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False) -> IncompatibleKeys:
        """Copy values from ``state_dict`` into the parameters and buffers, checking names, shapes and dtypes.

        With ``strict=True`` (the default) missing or unexpected names raise a
        ``StateDictKeyError`` (a KeyError and, as PyTorch's, a RuntimeError). A shape or
        dtype mismatch always raises, naming the parameter. Nothing is changed unless
        everything checks (but as PyTorch's, a strict load with a load-state-dict post-hook
        loads the names that match, runs the hook, then raises for what it left). The
        values may be Tensors (``state_dict()``'s, ``nn.load``'s) or NumPy arrays.
        ``assign=True`` makes each parameter and buffer hold the state's array itself
        instead of copying into its own (the Tensor objects, which an optimizer holds,
        stay; PyTorch puts new Parameters in their place). Returns
        ``IncompatibleKeys(missing_keys, unexpected_keys)``, a named tuple. The
        ``register_load_state_dict_pre_hook``/``_post_hook`` hooks run as PyTorch's.

        Raises:
            TypeError: ``state_dict`` is not a mapping (None, a path, a list...).
        """
        if not isinstance(state_dict, Mapping):
            hint = (" To load a file, use mg.nn.load(path, into=model)." if isinstance(state_dict, str | bytes)
                    or hasattr(state_dict, "__fspath__") else "")
            raise TypeError(
                f"load_state_dict: expected a mapping of names to arrays or tensors, such as what "
                f"model.state_dict() returns, got {type(state_dict).__name__}"
                f"{'' if state_dict is None else f' ({state_dict!r:.40})'}.{hint}"
            )
        hooked = [(f"{name}." if name else "", module) for name, module in self.named_modules(remove_duplicate=False)
                  if module._load_state_dict_pre_hooks or module._load_state_dict_post_hooks]
        hook_missing, hook_unexpected, error_msgs = [], [], []
        if any(module._load_state_dict_pre_hooks for _, module in hooked):
            metadata = getattr(state_dict, "_metadata", None)
            state_dict = OrderedDict(state_dict)  # the hooks may change it; the caller's stays as it is
            for prefix, module in hooked:
                local_metadata = metadata.get(prefix[:-1], {}) if isinstance(metadata, Mapping) else {}
                for hook in module._load_state_dict_pre_hooks.values():
                    hook(module, state_dict, prefix, local_metadata, strict, hook_missing, hook_unexpected,
                         error_msgs)
            if error_msgs:
                raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                                   + "\n\t".join(map(str, error_msgs)))
        own = dict(self._state_entries(extra=True))
        kept = self._kept_if_missing(state_dict)
        missing = [*hook_missing, *(name for name in own
                                    if name not in state_dict and name not in hook_missing and name not in kept)]
        unexpected = [*hook_unexpected,
                      *(name for name in state_dict if name not in own and name not in hook_unexpected)]
        post_hooks = any(module._load_state_dict_post_hooks for _, module in hooked)
        if strict and (missing or unexpected) and not post_hooks:
            self._raise_incompatible(missing, unexpected)
        values, extras = {}, {}
        # A state_dict() shares the model's memory: a value that IS another entry's array (a
        # state with names swapped) is copied first, so that no write reads an overwritten value.
        own_arrays = {id(tensor.data) for tensor in own.values() if isinstance(tensor, Tensor)}
        for name, parameter in own.items():
            if name not in state_dict:
                continue
            value = state_dict[name]
            if isinstance(parameter, _ExtraState):
                extras[name] = value
                continue
            value = np.asarray(value.data if isinstance(value, Tensor) else value)  # (an ndarray's .data is its buffer)
            if value.shape != parameter.data.shape:
                raise InvalidArgumentError(
                    f"load_state_dict: {name!r} has shape {value.shape} in the state but "
                    f"{parameter.data.shape} in the model"
                )
            if value.dtype != parameter.data.dtype:
                raise InvalidArgumentError(
                    f"load_state_dict: {name!r} has dtype {value.dtype} in the state but "
                    f"{parameter.data.dtype} in the model; convert one of them first"
                )
            if not assign and id(value) in own_arrays and value is not parameter.data:
                value = value.copy()
            values[name] = value
        for name, value in values.items():
            if assign:
                own[name].data = value
            else:
                own[name].data[...] = value
                bump_version(own[name].data)  # a graph that saved the old values must not use these
        for name, value in extras.items():
            if type(own[name].module).set_extra_state is not Module.set_extra_state:
                own[name].module.set_extra_state(value)
        result = IncompatibleKeys(missing, unexpected)
        if post_hooks:
            for _, module in hooked:
                for hook in module._load_state_dict_post_hooks.values():
                    if hook(module, result) is not None:
                        raise RuntimeError("load_state_dict post-hook must return None")
            if strict and (result.missing_keys or result.unexpected_keys):
                self._raise_incompatible(result.missing_keys, result.unexpected_keys)
        return result

    def _kept_if_missing(self, state_dict) -> set:
        """The names a state may lack and that then keep their value, as PyTorch's: the
        ``_added_in_version_2`` buffers (a batch norm's ``num_batches_tracked``) where the
        state has no version 2 metadata for the module (a plain dict, an older checkpoint)."""
        metadata = getattr(state_dict, "_metadata", None)
        kept = set()
        for prefix, module in self.named_modules():
            for buffer in type(module)._added_in_version_2:
                version = metadata.get(prefix, {}).get("version") if isinstance(metadata, Mapping) else None
                if version is None or version < 2:
                    kept.add(f"{prefix}.{buffer}" if prefix else buffer)
        return kept

    def _raise_incompatible(self, missing: list, unexpected: list):
        parts = []
        if missing:
            parts.append(f"missing keys {missing}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected}")
        raise StateDictKeyError(
            f"Error(s) in loading state_dict for {type(self).__name__}: {' and '.join(parts)}. "
            "Build the model with the same architecture, or pass strict=False to load what matches."
        )

    def num_parameters(self) -> int:
        """How many trainable numbers the module has."""
        return sum(p.data.size for p in self.parameters())

    # -- display ------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The layer's own settings, shown inside its repr (override in layers)."""
        return ""

    def __repr__(self) -> str:
        """PyTorch's layout, ``Name(extra_repr)`` or, with sub-modules or an ``extra_repr`` of
        several lines, one indented line for each of those lines and each ``(name): child``;
        microgradnp adds the module's own parameter shapes (``[weight: 3x2, bias: 3]``) and,
        under sub-modules, the number of parameters."""
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        children = [f"({name}): {_indented(repr(module))}" for name, module in self._modules.items()]
        own = ", ".join(f"{name}: {_shape_text(p)}" for name, p in self._parameters.items() if p is not None)
        if not children and len(extra_lines) <= 1:
            text = f"{self._get_name()}({extra})"
        else:
            text = f"{self._get_name()}(\n  " + "\n  ".join(_indented(line) for line in extra_lines + children) + "\n)"
        if children:
            return f"{text}  # {self.num_parameters():,} parameters"
        return f"{text}  [{own}]" if own else text

    def __dir__(self) -> list[str]:
        # As PyTorch's: the registered names too, without those that are not identifiers
        # (a Sequential's "0", "1"...).
        keys = [*dir(type(self)), *self.__dict__, *self._parameters, *self._modules, *self._buffers]
        return sorted({key for key in keys if not key[:1].isdigit()})


_EXTRA_STATE = "_extra_state"  # PyTorch's key for what get_extra_state() returns


class _ExtraState:
    """A module's extra state among its state entries (what its get_extra_state returns)."""

    __slots__ = ("module",)

    def __init__(self, module: Module):
        self.module = module


def _takes_dtype_not_device(init) -> bool:
    try:
        parameters = inspect.signature(init).parameters
    except (TypeError, ValueError):
        return False
    return "dtype" in parameters and "device" not in parameters


def _with_device(init):
    @functools.wraps(init)
    def __init__(self, *args, device=None, **kwargs):
        if device is not None:
            check_device(device, type(self).__name__)
        init(self, *args, **kwargs)

    __init__.__signature__ = with_device_keyword(inspect.signature(init))
    return __init__


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict`` returns: the names it did not find in the state, and the
    state's names the model does not have."""

    missing_keys: list[str]
    unexpected_keys: list[str]

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"  # (as PyTorch prints it)
        return f"IncompatibleKeys(missing_keys={self.missing_keys!r}, unexpected_keys={self.unexpected_keys!r})"


_REGISTRIES = frozenset({"_parameters", "_modules", "_buffers", "_non_persistent_buffers"})

_MIXED_BACKWARD_HOOKS = ("Cannot use both regular backward hooks and full backward hooks on a single Module. "
                         "Please use only one of them.")


def _before_init(what: str, cls: type) -> str:
    return (f"cannot assign {what} before Module.__init__() call: call super().__init__() first in "
            f"{cls.__name__}.__init__")


def _typename(value) -> str:
    """The type of ``value`` as error messages name it: ``float``, ``numpy.ndarray``, ``microgradnp.Tensor``."""
    cls = type(value)
    if cls is Tensor:
        return "microgradnp.Tensor"
    module = cls.__module__
    return cls.__qualname__ if module in ("builtins", "", None) else f"{module}.{cls.__qualname__}"


def _no_change() -> None:
    """What registering or removing a state-dict hook changes for ``mg.compile``: nothing."""


def _indented(text: str, spaces: int = 2) -> str:
    """``text`` with every line but the first indented (PyTorch's ``_addindent``)."""
    return text.replace("\n", "\n" + " " * spaces)


def _shape_text(parameter: Tensor) -> str:
    return "x".join(str(n) for n in parameter.data.shape) or "scalar"
