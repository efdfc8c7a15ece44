"""Parametrizations of a module's tensors, as ``torch.nn.utils.parametrize``.

``register_parametrization(module, "weight", P)`` keeps the stored tensor as
``module.parametrizations.weight.original`` (the same Parameter object, so an optimizer built
before still trains it) and makes ``module.weight`` the value ``P(original)``, recomputed at every
access (or once per ``with cached():`` block). The module's class is swapped for a subclass
``Parametrized<Name>`` holding a property per parametrized tensor, as PyTorch does, so
``state_dict`` keys (``parametrizations.weight.original``) are PyTorch's.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from contextlib import contextmanager

from microgradnp.autograd.grad_mode import no_grad
from microgradnp.errors import InvalidArgumentError
from microgradnp.nn.containers import ModuleDict, ModuleList
from microgradnp.nn.module import Module, Parameter
from microgradnp.tensor import Tensor

__all__ = [
    "ParametrizationList",
    "cached",
    "is_parametrized",
    "register_parametrization",
    "remove_parametrizations",
    "transfer_parametrizations_and_params",
    "type_before_parametrizations",
]

_cache: dict | None = None  # (id(module), name) -> value, inside ``cached()``


@contextmanager
def cached():
    """Inside this block each parametrized tensor is computed once, at its first access, and
    reused, as ``torch.nn.utils.parametrize.cached`` (useful when a weight is read several
    times, as in recurrent layers). Blocks nest; the cache is dropped at the outermost exit."""
    global _cache
    outermost = _cache is None
    if outermost:
        _cache = {}
    try:
        yield
    finally:
        if outermost:
            _cache = None


def _set_original(target: Tensor, value) -> None:
    """Give ``target`` (kept as the same object) the values of ``value``, as ``Tensor.set_``."""
    from microgradnp.autograd.versions import bump

    target.data = value.data.copy() if isinstance(value, Tensor) else value
    bump(target.data)


def _right_inverse_or_same(parametrization: Module, value):
    """``parametrization.right_inverse(value)``, or ``value`` when it has none or raises
    NotImplementedError (PyTorch's convention for "no inverse": registering such a
    parametrization keeps the stored tensor as it is)."""
    if not hasattr(parametrization, "right_inverse"):
        return value
    try:
        return parametrization.right_inverse(value)
    except NotImplementedError:
        return value


def _register_tensor(module: Module, name: str, tensor: Tensor) -> None:
    if isinstance(tensor, Parameter):
        module.register_parameter(name, tensor)
    else:
        module.register_buffer(name, tensor)


class ParametrizationList(ModuleList):
    """The parametrizations of one tensor, applied in order to ``original`` (or to
    ``original0, original1, ...`` when the first one's ``right_inverse`` returns several
    tensors), as ``torch.nn.utils.parametrize.ParametrizationList``.

    Calling it gives the parametrized value; ``right_inverse(value)`` stores the originals
    that give ``value`` (what assigning ``module.weight = value`` does).
    """

    def __init__(self, modules: Sequence[Module], original: Tensor, unsafe: bool = False):
        if not modules:
            raise InvalidArgumentError("ParametrizationList requires one or more modules")
        super().__init__(modules)
        object.__setattr__(self, "unsafe", unsafe)
        shape, dtype = original.data.shape, original.data.dtype
        with no_grad():
            new = original
            for module in reversed(list(self)):
                new = _right_inverse_or_same(module, new)
        object.__setattr__(self, "is_tensor", isinstance(new, Tensor))
        object.__setattr__(self, "ntensors", 1 if self.is_tensor else len(new))
        if self.is_tensor:
            # (even when ``unsafe``: the stored tensor, the one an optimizer holds, keeps its dtype)
            if new.data.dtype != dtype:
                raise InvalidArgumentError(f"When `right_inverse` outputs one tensor, it may not change the dtype.\n"
                                           f"original.dtype: {dtype}\nright_inverse(original).dtype: {new.data.dtype}")
            _set_original(original, new)
            _register_tensor(self, "original", original)
        else:
            for i, value in enumerate(new):
                if not isinstance(value, Tensor):
                    raise InvalidArgumentError(
                        f"'right_inverse' must return a Tensor or a Sequence of tensors (list, tuple...). "
                        f"Got element {i} of the sequence with type {type(value).__name__}.")
                value = value.detach() if isinstance(value, Tensor) else Tensor(value)
                if isinstance(original, Parameter):
                    value = Parameter(value.data.copy(), requires_grad=original.requires_grad)
                _register_tensor(self, f"original{i}", value)
        if not unsafe:
            value = self()
            if not isinstance(value, Tensor):
                raise InvalidArgumentError(f"A parametrization must return a tensor. Got {type(value).__name__}.")
            if value.data.shape != shape or value.data.dtype != dtype:
                raise InvalidArgumentError(
                    "Registering a parametrization may not change the shape or dtype of the tensor, unless `unsafe` "
                    f"flag is enabled.\nunparametrized shape: {shape}, dtype: {dtype}\n"
                    f"parametrized shape: {value.data.shape}, dtype: {value.data.dtype}")

    def originals(self) -> list[Tensor]:
        """The stored tensors (one, or ``original0, original1, ...``)."""
        if self.is_tensor:
            return [self.original]
        return [getattr(self, f"original{i}") for i in range(self.ntensors)]

    def right_inverse(self, value) -> None:
        """Store in the originals the values that the parametrizations map to ``value``."""
        with no_grad():
            for module in reversed(list(self)):
                if not hasattr(module, "right_inverse"):  # (``unsafe`` or not: assigning would store a wrong value)
                    raise RuntimeError(f"parametrization {type(module).__name__} does not implement right_inverse.")
                value = module.right_inverse(value)
            if self.is_tensor:
                if not isinstance(value, Tensor):
                    raise InvalidArgumentError(f"`right_inverse` should return a tensor. Got {type(value).__name__}")
                value = [value]
            elif not isinstance(value, Sequence) or len(value) != self.ntensors:
                raise InvalidArgumentError(
                    f"'right_inverse' must return a sequence of tensors of length {self.ntensors}.")
            for i, (original, v) in enumerate(zip(self.originals(), value, strict=True)):
                # The stored tensor keeps its dtype (an optimizer and the state_dict rely on it).
                if isinstance(v, Tensor) and v.data.dtype != original.data.dtype:
                    name = "original" if self.is_tensor else f"original{i}"
                    raise InvalidArgumentError(
                        f"right_inverse returned a tensor of dtype {v.data.dtype} for {name}, which has dtype "
                        f"{original.data.dtype}: make right_inverse keep the dtype")
                _set_original(original, v)

    def forward(self):
        modules = list(self)
        x = modules[0](self.original) if self.is_tensor else modules[0](*self.originals())
        for module in modules[1:]:
            x = module(x)
        return x


def _parametrized_property(name: str) -> property:
    def get(self):
        override = self.__dict__.get("_parametrize_overrides")
        if override and name in override:  # ``functional_call`` put another tensor in its place
            return override[name]
        if _cache is None:
            return self.parametrizations[name]()
        key = (id(self), name)
        if key not in _cache:
            _cache[key] = self.parametrizations[name]()
        return _cache[key]

    def set_(self, value):
        self.parametrizations[name].right_inverse(value if isinstance(value, Tensor) else Tensor(value))

    return property(get, set_, doc=f"``{name}`` computed by its parametrizations")


def _deepcopy(self, memo):
    """A deep copy of a parametrized module, with a class of its own: the class holds a property per
    parametrized tensor, so a copy sharing it (as PyTorch's do) would see a parametrization
    registered on, or removed from, the original (or the other way round) and break."""
    cls = type(self)
    properties = {name: value for name, value in cls.__dict__.items() if isinstance(value, property)}
    replica = object.__new__(_parametrized_class(cls.__bases__[0], properties))
    memo[id(self)] = replica
    replica.__dict__.update(copy.deepcopy(self.__dict__, memo))
    return replica


def _parametrized_class(cls: type, properties: dict | None = None) -> type:
    """A new subclass ``Parametrized<Name>`` of ``cls``, one per module, to hold the properties."""
    namespace = {"_parametrized_class": True, "__module__": cls.__module__, **(properties or {})}
    if not hasattr(cls, "__deepcopy__"):  # (a class's own deep copy is left to it)
        namespace["__deepcopy__"] = _deepcopy
    return type(f"Parametrized{cls.__name__}", (cls,), namespace)


def is_parametrized(module: Module, tensor_name: str | None = None) -> bool:
    """Whether ``module`` has a parametrization (on ``tensor_name``, when given)."""
    parametrizations = module.__dict__.get("parametrizations")
    if not isinstance(parametrizations, ModuleDict) or not type(module).__dict__.get("_parametrized_class"):
        return False
    return len(parametrizations) > 0 if tensor_name is None else tensor_name in parametrizations


def type_before_parametrizations(module: Module) -> type:
    """The class of ``module`` before parametrizations swapped it (its own class if none)."""
    return type(module).__bases__[0] if is_parametrized(module) else type(module)


def register_parametrization(module: Module, tensor_name: str, parametrization: Module, *,
                             unsafe: bool = False) -> Module:
    """Make ``module.<tensor_name>`` the value ``parametrization(original)``, as
    ``torch.nn.utils.parametrize.register_parametrization``.

    The stored tensor moves to ``module.parametrizations[tensor_name].original`` (the same
    Parameter object); if ``parametrization`` has ``right_inverse``, the original is first set
    to ``right_inverse(tensor)`` (which may return several tensors: ``original0, original1...``).
    Registering a second one on the same name applies it after the first. Assigning
    ``module.<tensor_name> = value`` calls ``right_inverse``.

    Args:
        module: the module holding the tensor.
        tensor_name: the name of a parameter or buffer of ``module`` (or an already parametrized one).
        parametrization: a Module mapping the original tensor(s) to the value.
        unsafe: allow a parametrization that changes the shape or dtype (not checked then).

    Returns:
        ``module``.

    Raises:
        ValueError: ``module`` has no parameter or buffer ``tensor_name``, or (unless ``unsafe``) the
            parametrization changes its shape or dtype.
    """
    if not isinstance(parametrization, Module):
        raise TypeError(f"register_parametrization: the parametrization must be an nn.Module, "
                        f"got {type(parametrization).__name__}")
    parametrization.train(module.training)  # (module.train()/eval() reach it later as a submodule)
    if is_parametrized(module, tensor_name):
        plist = module.parametrizations[tensor_name]
        if not unsafe:
            value = getattr(module, tensor_name)
            with no_grad():
                new = parametrization(value)
            if not isinstance(new, Tensor) or new.data.shape != value.data.shape or new.data.dtype != value.data.dtype:
                raise InvalidArgumentError(
                    "Registering a parametrization may not change the shape or dtype of the tensor, "
                    "unless the `unsafe` flag is enabled.")
            with no_grad():
                back = _right_inverse_or_same(parametrization, new)
            if not isinstance(back, Tensor) or back.data.shape != value.data.shape:
                raise InvalidArgumentError("parametrization.right_inverse must return a tensor of the same shape")
        plist.append(parametrization)
        object.__setattr__(plist, "unsafe", plist.unsafe or unsafe)
        return module
    original = module._parameters.get(tensor_name, module._buffers.get(tensor_name))
    if not isinstance(original, Tensor):
        raise InvalidArgumentError(
            f"Module '{type(module).__name__}' does not have a parameter, a buffer, or a parametrized "
            f"element with name '{tensor_name}'")
    plist = ParametrizationList([parametrization], original, unsafe=unsafe)
    delattr(module, tensor_name)
    if not is_parametrized(module):
        object.__setattr__(module, "__class__", _parametrized_class(type(module)))
        module.parametrizations = ModuleDict()
    module.parametrizations[tensor_name] = plist
    setattr(type(module), tensor_name, _parametrized_property(tensor_name))
    return module


def remove_parametrizations(module: Module, tensor_name: str, leave_parametrized: bool = True) -> Module:
    """Undo the parametrizations of ``tensor_name``, as
    ``torch.nn.utils.parametrize.remove_parametrizations``: with ``leave_parametrized`` the
    tensor keeps its current parametrized value, otherwise its original (only possible when
    there is a single original). The original Parameter object is kept when it can be.

    Raises:
        ValueError: ``tensor_name`` is not parametrized, or ``leave_parametrized=False`` with
            several originals.
    """
    if not is_parametrized(module, tensor_name):
        raise InvalidArgumentError(f"Module {type(module).__name__} does not have a parametrization on {tensor_name}")
    plist = module.parametrizations[tensor_name]
    if plist.is_tensor:
        original = plist.original
        if leave_parametrized:
            with no_grad():
                _set_original(original, getattr(module, tensor_name))
    else:
        if not leave_parametrized:
            raise InvalidArgumentError(
                "Cannot leave unparametrized (`leave_parametrized=False`) a tensor that is parametrized "
                "in terms of a sequence of tensors.")
        with no_grad():
            value = getattr(module, tensor_name).detach()
        first = plist.originals()[0]
        original = (Parameter(value.data.copy(), requires_grad=first.requires_grad) if isinstance(first, Parameter)
                    else Tensor(value.data.copy()))
    delattr(type(module), tensor_name)
    del module.parametrizations[tensor_name]
    _register_tensor(module, tensor_name, original)
    if not module.parametrizations:
        del module.parametrizations
        object.__setattr__(module, "__class__", type(module).__bases__[0])
    return module


def transfer_parametrizations_and_params(from_module: Module, to_module: Module,
                                         tensor_name: str | None = None) -> Module:
    """Register on ``to_module`` the parametrizations of ``from_module`` (of ``tensor_name`` only, when
    given; the same parametrization objects) and make it share their original tensors, as
    ``torch.nn.utils.parametrize.transfer_parametrizations_and_params``. A tensor ``to_module``
    lacks is first created from ``from_module``'s parametrized value. Nothing happens when
    ``from_module`` is not parametrized.

    Returns:
        ``to_module``.
    """
    if not is_parametrized(from_module):
        return to_module
    for name in list(from_module.parametrizations) if tensor_name is None else [tensor_name]:
        source = from_module.parametrizations[name]
        if not hasattr(to_module, name):
            with no_grad():
                value = getattr(from_module, name)
            setattr(to_module, name, Parameter(value.data.copy()))
        for parametrization in source:
            register_parametrization(to_module, name, parametrization)
        target = to_module.parametrizations[name]
        names = ["original"] if source.is_tensor else [f"original{i}" for i in range(source.ntensors)]
        for original_name in names:
            setattr(target, original_name, getattr(source, original_name))
    return to_module
