"""``ModuleList`` and ``ModuleDict``: sub-modules held in a list or a dict, registered as PyTorch's."""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping

from microgradnp.errors import InvalidArgumentError
from microgradnp.nn.module import Module

__all__ = ["ModuleDict", "ModuleList"]


class ModuleList(Module):
    """Sub-modules in a list, as ``torch.nn.ModuleList``: each is registered under its
    position ("0", "1", ...), so its parameters are named ``"0.weight"``, ``"1.bias"``...
    in ``named_parameters()`` and ``state_dict()``, and an optimizer given
    ``model.parameters()`` sees them (a plain Python list would hide them).

    It has no ``forward``: the owning module decides how to call the layers:

        self.layers = nn.ModuleList(nn.Linear(8, 8) for _ in range(3))
        ...
        for layer in self.layers:
            x = layer(x).tanh()

    Args:
        modules: an iterable of Modules to add, or None.

    Indexing takes ints (negative ones count from the end; out of range raises IndexError)
    and slices (a new ModuleList holding the same modules). Deleting an entry renumbers
    the ones after it, as a list does.
    """

    def __init__(self, modules: Iterable[Module] | None = None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _absolute(self, index) -> str:
        """The registered name of position ``index`` (which may be negative)."""
        index = operator.index(index)
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is out of range")
        return str(index % len(self))

    def __getitem__(self, index):
        if isinstance(index, slice):
            return type(self)(list(self._modules.values())[index])
        return self._modules[self._absolute(index)]

    def __setitem__(self, index, module: Module) -> None:
        setattr(self, self._absolute(index), module)

    def __delitem__(self, index) -> None:
        if isinstance(index, slice):
            for name in [str(i) for i in range(len(self))[index]]:
                delattr(self, name)
        else:
            delattr(self, self._absolute(index))
        self._renumber(list(self._modules.values()))

    def _renumber(self, modules: list) -> None:
        """Register ``modules`` as "0", "1", ... in that order, replacing the current entries."""
        for name in list(self._modules):
            delattr(self, name)
        for i, module in enumerate(modules):
            self.add_module(str(i), module)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        return ModuleList([*self, *other])

    def append(self, module: Module) -> ModuleList:
        """Add ``module`` at the end; returns self."""
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Add every module of ``modules`` at the end; returns self.

        Raises:
            TypeError: ``modules`` is not iterable, or holds something that is not a Module.
        """
        if not isinstance(modules, Iterable):
            raise TypeError(f"ModuleList.extend should be called with an iterable, but got {type(modules).__name__}")
        offset = len(self)
        for i, module in enumerate(list(modules)):
            self.add_module(str(offset + i), module)
        return self

    def insert(self, index: int, module: Module) -> None:
        """Insert ``module`` before position ``index`` (as ``list.insert``, negative counts from the end)."""
        modules = list(self._modules.values())
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        modules.insert(operator.index(index), module)
        self._renumber(modules)

    def pop(self, index: int = -1) -> Module:
        """Remove and return the module at ``index`` (the last one by default)."""
        module = self[index]
        del self[index]
        return module

    def __repr__(self) -> str:
        """As PyTorch's: a run of modules with the same repr is one line, ``(0-2): 3 x Linear(...)``."""
        if not self._modules:
            return f"{self._get_name()}()"
        runs: list[list] = []  # [first index, last index, repr]
        for i, module in enumerate(self._modules.values()):
            text = repr(module)
            if runs and runs[-1][2] == text:
                runs[-1][1] = i
            else:
                runs.append([i, i, text])
        lines = [(f"({first}): " if first == last else f"({first}-{last}): {last - first + 1} x ")
                 + text.replace("\n", "\n  ") for first, last, text in runs]
        return (f"{self._get_name()}(\n  " + "\n  ".join(lines)
                + f"\n)  # {self.num_parameters():,} parameters")


class ModuleDict(Module):
    """Sub-modules by name, as ``torch.nn.ModuleDict``: an ordered mapping whose entries are
    registered under their keys, so parameters are named ``"<key>.weight"`` in
    ``named_parameters()`` and ``state_dict()``.

    Args:
        modules: a mapping of names to Modules, or an iterable of ``(name, module)`` pairs, or None.

    Keys are strings that are valid registration names: not empty, without ".", and not
    an attribute of Module (such as ``"train"`` or ``"keys"``), which raise a KeyError as in
    PyTorch. It has no ``forward``.
    """

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        if key not in self._modules:
            raise KeyError(key)
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key) -> bool:
        return key in self._modules

    def clear(self) -> None:
        """Remove every entry."""
        for key in list(self._modules):
            delattr(self, key)

    def pop(self, key: str) -> Module:
        """Remove the entry ``key`` and return its module.

        Raises:
            KeyError: no entry ``key``.
        """
        module = self[key]
        del self[key]
        return module

    def keys(self):
        """The names, in insertion order."""
        return self._modules.keys()

    def items(self):
        """``(name, module)`` pairs, in insertion order."""
        return self._modules.items()

    def values(self):
        """The modules, in insertion order."""
        return self._modules.values()

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """Add or replace entries from a mapping (in its order) or from ``(name, module)`` pairs.

        Raises:
            TypeError: ``modules`` is not iterable, or a pair is not iterable.
            ValueError: a pair does not have two elements.
        """
        if not isinstance(modules, Iterable):
            raise TypeError(f"ModuleDict.update should be called with an iterable of key/value pairs, but got "
                            f"{type(modules).__name__}")
        if isinstance(modules, Mapping | OrderedDict | ModuleDict):
            for key, module in modules.items():
                self[key] = module
            return
        for j, pair in enumerate(modules):
            if not isinstance(pair, Iterable):
                raise TypeError(f"ModuleDict update sequence element #{j} should be Iterable; is "
                                f"{type(pair).__name__}")
            pair = list(pair)
            if len(pair) != 2:
                raise InvalidArgumentError(
                    f"ModuleDict update sequence element #{j} has length {len(pair)}; 2 is required")
            self[pair[0]] = pair[1]
