"""``Module`` and ``Parameter``: models as trees of layers holding trainable tensors."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

import numpy as np

from microgradnp.autograd.function import next_creation_order
from microgradnp.tensor import Tensor


class Parameter(Tensor):
    """A Tensor that a Module trains: ``requires_grad=True`` unless told otherwise.

    Assigning one as an attribute of a Module registers it (``named_parameters``,
    ``state_dict``, the optimizer's ``model.parameters()``).
    """

    def __init__(self, data, requires_grad: bool = True, dtype=None, name: str | None = None):
        super().__init__(data, requires_grad=requires_grad, dtype=dtype, name=name)

    def __repr__(self) -> str:
        return "Parameter(" + super().__repr__().removeprefix("tensor(")


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
    """

    training: bool = True

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # -- registration -------------------------------------------------------------------
    def __setattr__(self, name: str, value) -> None:
        registries = self.__dict__.get("_parameters"), self.__dict__.get("_modules")
        if registries[0] is None and isinstance(value, Parameter | Module):
            raise AttributeError(
                f"cannot assign {type(value).__name__} {name!r} before Module.__init__() ran: "
                f"call super().__init__() first in {type(self).__name__}.__init__"
            )
        if registries[0] is not None:
            parameters, modules = registries
            parameters.pop(name, None)
            modules.pop(name, None)
            if isinstance(value, Parameter):
                parameters[name] = value
            elif isinstance(value, Module):
                modules[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        object.__delattr__(self, name)

    def register_parameter(self, name: str, parameter: Parameter | None) -> None:
        """Register ``parameter`` under ``name`` (same as assigning the attribute)."""
        if parameter is not None and not isinstance(parameter, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be an nn.Parameter, got {type(parameter).__name__}")
        setattr(self, name, parameter)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register a sub-module under ``name`` (same as assigning the attribute)."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be an nn.Module, got {type(module).__name__}")
        setattr(self, name, module)

    # -- running ------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward(...)")

    def __call__(self, *args, **kwargs):
        first = next_creation_order()
        out = self.forward(*args, **kwargs)
        # Mark the call on the output's node: the nodes created between `first` and it
        # belong to this module (graph drawings group them into a cluster). An output
        # made before the call (Identity) is not this module's.
        node = getattr(out, "_node", None)
        if node is not None and node.order < first:
            node.module_calls += ((self, first),)
        return out

    # -- traversal ----------------------------------------------------------------------
    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """``(dotted name, parameter)`` pairs, each parameter once, in registration order."""
        seen: set[int] = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, parameter in module._parameters.items():
                if parameter is None or id(parameter) in seen:
                    continue
                seen.add(id(parameter))
                yield (f"{module_prefix}.{name}" if module_prefix else name), parameter

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """The parameters of this module and (with ``recurse``) of its sub-modules."""
        for _, parameter in self.named_parameters(recurse=recurse):
            yield parameter

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for name, module in self._modules.items():
            if module is not None:
                yield name, module

    def children(self) -> Iterator[Module]:
        """The direct sub-modules."""
        for _, module in self.named_children():
            yield module

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """``(dotted name, module)`` for this module (name ``prefix``) and all below it, each once."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{child_name}" if name else child_name, child)
                        for child_name, child in module.named_children()]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        """This module and every module below it."""
        for _, module in self.named_modules():
            yield module

    # -- modes and gradients ------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Training mode (Dropout active); returns self."""
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode (Dropout off); returns self."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Forget the gradients of all parameters (``.grad = None``)."""
        for parameter in self.parameters():
            parameter.grad = None

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Freeze (False) or unfreeze all parameters; returns self."""
        for parameter in self.parameters():
            parameter.requires_grad_(requires_grad)
        return self

    # -- state --------------------------------------------------------------------------
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """A copy of every parameter's values by dotted name."""
        return OrderedDict((name, parameter.data.copy()) for name, parameter in self.named_parameters())

    def load_state_dict(self, state_dict, strict: bool = True):
        """Copy values from ``state_dict`` into the parameters, checking names, shapes and dtypes.

        With ``strict=True`` (the default) missing or unexpected names raise a KeyError.
        A shape or dtype mismatch always raises, naming the parameter. Nothing is changed
        unless everything checks. Returns ``(missing_keys, unexpected_keys)``.
        """
        own = dict(self.named_parameters())
        missing = [name for name in own if name not in state_dict]
        unexpected = [name for name in state_dict if name not in own]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append(f"missing keys {missing}")
            if unexpected:
                parts.append(f"unexpected keys {unexpected}")
            raise KeyError(
                f"load_state_dict for {type(self).__name__}: {' and '.join(parts)}. "
                "Build the model with the same architecture, or pass strict=False to load what matches."
            )
        values = {}
        for name, parameter in own.items():
            if name not in state_dict:
                continue
            value = np.asarray(getattr(state_dict[name], "data", state_dict[name]))
            if value.shape != parameter.data.shape:
                raise ValueError(
                    f"load_state_dict: {name!r} has shape {value.shape} in the state but "
                    f"{parameter.data.shape} in the model"
                )
            if value.dtype != parameter.data.dtype:
                raise ValueError(
                    f"load_state_dict: {name!r} has dtype {value.dtype} in the state but "
                    f"{parameter.data.dtype} in the model; convert one of them first"
                )
            values[name] = value
        for name, value in values.items():
            own[name].data[...] = value
        return missing, unexpected

    def num_parameters(self) -> int:
        """How many trainable numbers the module has."""
        return sum(p.data.size for p in self.parameters())

    # -- display ------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The layer's own settings, shown inside its repr (override in layers)."""
        return ""

    def __repr__(self) -> str:
        own = ", ".join(f"{name}: {_shape_text(p)}" for name, p in self._parameters.items() if p is not None)
        head = f"{type(self).__name__}({self.extra_repr()})"
        if own:
            head += f"  [{own}]"
        if not self._modules:
            return head
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, module in self.named_children():
            child = repr(module).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child}")
        lines.append(f")  # {self.num_parameters():,} parameters")
        return "\n".join(lines)


def _shape_text(parameter: Tensor) -> str:
    return "x".join(str(n) for n in parameter.data.shape) or "scalar"
