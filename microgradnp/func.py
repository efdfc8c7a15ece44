"""``mg.func``, as ``torch.func``: ``functional_call`` runs a module with other tensors in
place of its parameters and buffers (also ``nn.utils.stateless.functional_call``); the
function transforms ``grad``, ``grad_and_value``, ``vjp``, ``jvp``, ``jacrev``, ``jacfwd``,
``hessian``, ``vmap`` and ``stack_module_state`` are in ``microgradnp.autograd.transforms``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import contextmanager

from microgradnp.autograd.transforms import (
    grad,
    grad_and_value,
    hessian,
    jacfwd,
    jacrev,
    jvp,
    stack_module_state,
    vjp,
    vmap,
)
from microgradnp.tensor import Tensor

__all__ = ["functional_call", "grad", "grad_and_value", "hessian", "jacfwd", "jacrev", "jvp", "stack_module_state",
           "vjp", "vmap"]

_MISSING = object()


def _named_tensors(module) -> list[tuple[str, Tensor]]:
    """Every (dotted name, tensor) of the module's parameters and buffers, a shared tensor under
    each of its names (PyTorch's ``remove_duplicate=False``)."""
    found, stack, on_path = [], [("", module)], set()
    while stack:
        prefix, current = stack.pop()
        if id(current) in on_path:
            continue
        on_path.add(id(current))
        for registry in (current._parameters, current._buffers):
            found.extend((prefix + name, t) for name, t in registry.items() if t is not None)
        stack.extend((f"{prefix}{name}.", child) for name, child in reversed(current._modules.items())
                     if child is not None)
    return found


def _owner(module, dotted: str):
    *path, name = dotted.split(".")
    for part in path:
        child = module._modules.get(part) if hasattr(module, "_modules") else None
        if child is None:
            raise AttributeError(f"{type(module).__name__} has no submodule `{part}` (in the key {dotted!r})")
        module = child
    return module, name


def _swap(module, dotted: str, tensor):
    """Put ``tensor`` (or ``_MISSING``: take the name away) under ``dotted``; return what was there."""
    from microgradnp.nn.parametrize import is_parametrized

    owner, name = _owner(module, dotted)
    if is_parametrized(owner, name):
        overrides = owner.__dict__.setdefault("_parametrize_overrides", {})
        original = overrides.get(name, _MISSING)
        if tensor is _MISSING:
            overrides.pop(name, None)
        else:
            overrides[name] = tensor
        return original
    for registry in (owner._parameters, owner._buffers):
        if name in registry:
            original = registry[name]
            registry[name] = tensor if tensor is not _MISSING else None
            object.__setattr__(owner, name, registry[name])
            return original
    original = owner.__dict__.get(name, _MISSING)
    if original is not _MISSING and not isinstance(original, Tensor):
        raise TypeError(f"functional_call: attribute `{name}` of {type(owner).__name__} is "
                        f"{type(original).__name__}, not a Tensor")
    if tensor is _MISSING:
        owner.__dict__.pop(name, None)
    else:
        object.__setattr__(owner, name, tensor)
    return original


def _untied(module, values: dict) -> dict:
    """Add, for each given name, the other names of the same (tied) tensor."""
    names_of: dict[int, list[str]] = {}
    tensor_of = {}
    for name, tensor in _named_tensors(module):
        names_of.setdefault(id(tensor), []).append(name)
        tensor_of[name] = tensor
    result = dict(values)
    for name, value in values.items():
        if name not in tensor_of:
            continue
        for other in names_of[id(tensor_of[name])]:
            if other in values and values[other] is not value:
                tied = sorted(names_of[id(tensor_of[name])])
                raise ValueError(f"functional_call got multiple values for keys {tied}, which are tied. Consider "
                                 "using tie_weights=False")
            result[other] = value
    return result


@contextmanager
def _reparametrized(module, values: dict, tie_weights: bool, strict: bool):
    if strict:
        own = {name for name, _ in _named_tensors(module)}
        unexpected = [k for k in values if k not in own]
        missing = sorted(k for k in own if k not in values)
        errors = []
        if unexpected:
            errors.append("Unexpected key(s): " + ", ".join(map(repr, unexpected)) + ".")
        if missing:
            errors.append("Missing key(s): " + ", ".join(map(repr, missing)) + ".")
        if errors:
            raise RuntimeError(f"Error(s) in reparametrizing for {type(module).__name__}:\n\t" + "\n\t".join(errors))
    if tie_weights:
        values = _untied(module, values)
    saved = []
    try:
        for name, value in values.items():
            if not isinstance(value, Tensor):
                raise TypeError(f"functional_call: the value for {name!r} must be a microgradnp Tensor, got "
                                f"{type(value).__name__} (wrap arrays with mg.tensor)")
            saved.append((name, _swap(module, name, value)))
        yield
    finally:
        for name, original in reversed(saved):
            _swap(module, name, original)


def functional_call(module, parameter_and_buffer_dicts, args=None, kwargs=None, *, tie_weights: bool = True,
                    strict: bool = False):
    """Call ``module(*args, **kwargs)`` with the tensors of ``parameter_and_buffer_dicts`` in
    place of its parameters and buffers (by dotted ``named_parameters`` / ``named_buffers``
    name), as ``torch.func.functional_call``. Gradients flow to the given tensors, not to the
    module's own; the module is unchanged afterwards. Names the module does not have are set
    as attributes for the call. A parametrized tensor (``nn.utils.parametrize``) given under
    its own name (``"weight"``) is used as it is.

    Args:
        module: the ``nn.Module``.
        parameter_and_buffer_dicts: a dict of name -> Tensor, or a sequence of such dicts (their
            keys must not overlap).
        args: the positional arguments: a tuple, or one argument that is not a tuple.
        kwargs: the keyword arguments.
        tie_weights: a tensor registered under several names (tied weights) is replaced under all
            of them when one name is given; giving different tensors for tied names raises.
        strict: the dict must name every parameter and buffer of the module and nothing else.

    Returns:
        What ``module`` returns.

    Raises:
        RuntimeError: ``strict`` and keys missing or unexpected.
        ValueError: keys given twice, or different tensors for tied names.
        TypeError: a value that is not a Tensor.
    """
    if isinstance(parameter_and_buffer_dicts, Mapping):
        values = dict(parameter_and_buffer_dicts)
    elif isinstance(parameter_and_buffer_dicts, Sequence):
        values = {}
        for d in parameter_and_buffer_dicts:
            if not isinstance(d, Mapping):
                raise TypeError(f"functional_call: expected dicts of tensors, got a {type(d).__name__}")
            repeated = sorted(set(values) & set(d))
            if repeated:
                raise ValueError(f"{repeated} appeared in multiple dictionaries; behavior of functional call is "
                                 "ambiguous")
            values.update(d)
    else:
        raise ValueError(f"Expected parameter_and_buffer_dicts to be a dict, or a list/tuple of dicts, but got "
                         f"{type(parameter_and_buffer_dicts).__name__}")
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    with _reparametrized(module, values, tie_weights, strict):
        return module(*args, **(kwargs or {}))
