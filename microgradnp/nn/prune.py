"""Pruning of a module's tensors, as ``torch.nn.utils.prune`` (``nn.utils.prune``).

Pruning ``module.weight`` keeps the Parameter as ``module.weight_orig`` (the same object, so an
optimizer built before still trains it), adds a buffer ``module.weight_mask`` of 0s and 1s, and
makes ``module.weight`` a plain attribute, ``weight_orig * weight_mask``, recomputed by a forward
pre-hook before every call: gradients reach ``weight_orig`` through the mask. Pruning the same
tensor again combines the masks in a ``PruningContainer`` (a later method only sees what earlier
ones kept); ``remove`` makes the pruning permanent (``weight`` a Parameter again, with the zeros).

Masks are computed on NumPy arrays: a custom method's ``compute_mask(t, default_mask)`` gets
the importance scores ``t`` and the mask so far as ndarrays and returns an array of the same
shape. The random methods draw from microgradnp's global generator (``mg.manual_seed``), or
from ``rng=`` (not in PyTorch).
"""

from __future__ import annotations

import numbers
from abc import ABC, abstractmethod
from collections.abc import Iterable

import numpy as np

from microgradnp.tensor import Tensor, _data, _rng

__all__ = [
    "BasePruningMethod",
    "CustomFromMask",
    "Identity",
    "L1Unstructured",
    "LnStructured",
    "PruningContainer",
    "RandomStructured",
    "RandomUnstructured",
    "custom_from_mask",
    "global_unstructured",
    "identity",
    "is_pruned",
    "l1_unstructured",
    "ln_structured",
    "random_structured",
    "random_unstructured",
    "remove",
]


def _array(x) -> np.ndarray:
    return np.asarray(_data(x))


def _pruning_hooks(module):
    """(key, method) of the pruning methods among ``module``'s forward pre-hooks."""
    return [(key, hook) for key, hook in module._forward_pre_hooks.items() if isinstance(hook, BasePruningMethod)]


def _remove_hook(module, key) -> None:
    """Drop forward pre-hook ``key`` as its handle's ``remove()`` would (the module recounts its hooks)."""
    del module._forward_pre_hooks[key]
    module.__dict__.get("_forward_pre_hooks_with_kwargs", {}).pop(key, None)
    module._recount_hooks()


class BasePruningMethod(ABC):
    """A way to prune a tensor: subclasses define ``compute_mask(t, default_mask)`` and
    ``PRUNING_TYPE`` ("unstructured", "structured" with a ``dim`` attribute, or "global"),
    as ``torch.nn.utils.prune.BasePruningMethod``. An instance is the forward pre-hook that
    recomputes ``module.<name>`` before each call."""

    _tensor_name: str | None = None

    def __call__(self, module, inputs):
        setattr(module, self._tensor_name, self.apply_mask(module))

    @abstractmethod
    def compute_mask(self, t, default_mask):
        """The new mask (an array of ``t``'s shape) from the importance scores ``t`` and the
        mask so far ``default_mask`` (ndarrays): entries to prune are 0, the others 1."""

    def apply_mask(self, module) -> Tensor:
        """``<name>_orig * <name>_mask``: the pruned tensor, differentiable in ``<name>_orig``."""
        if self._tensor_name is None:
            raise AssertionError(f"Module {module} has to be pruned")  # the name is set by apply()
        mask = getattr(module, self._tensor_name + "_mask")
        orig = getattr(module, self._tensor_name + "_orig")
        return mask * orig

    @classmethod
    def apply(cls, module, name: str, *args, importance_scores=None, **kwargs):
        """Prune ``module.<name>`` with ``cls(*args, **kwargs)`` (combined with an earlier
        pruning of it) and return the method that is now its hook.

        Args:
            module: the module holding the tensor.
            name: the parameter's name, e.g. "weight".
            importance_scores: an array of the tensor's shape ranking its entries (the tensor
                itself when None).
        """
        previous = [hook for _, hook in _pruning_hooks(module) if hook._tensor_name == name]
        previous_methods = [tuple(hook) if isinstance(hook, PruningContainer) else None for hook in previous]
        method = cls._composite_method(module, name, *args, **kwargs)
        first = not isinstance(method, PruningContainer)
        reparametrized = False
        try:
            orig = getattr(module, name)
            if importance_scores is not None:
                if _array(importance_scores).shape != orig.shape:
                    raise AssertionError(f"importance_scores should have the same shape as parameter {name} of "
                                         f"{module}, got {_array(importance_scores).shape} vs {orig.shape}")
            else:
                importance_scores = orig
            if first:
                module.register_parameter(name + "_orig", orig)  # (a TypeError when it is not a Parameter)
                delattr(module, name)
                reparametrized = True
                default_mask = np.ones(orig.shape, dtype=orig.dtype)
            else:
                default_mask = _array(getattr(module, name + "_mask")).copy()
            mask = method.compute_mask(_array(importance_scores), default_mask=default_mask)
            module.register_buffer(name + "_mask", Tensor(np.asarray(mask, dtype=orig.dtype)))
            setattr(module, name, method.apply_mask(module))
            module.register_forward_pre_hook(method)
        except Exception:
            # Leave the module as it was. (PyTorch drops the earlier pruning's hook when a later
            # pruning of the same tensor fails; here it is put back.)
            if reparametrized:
                orig = getattr(module, name + "_orig")
                delattr(module, name + "_orig")
                module.register_parameter(name, orig)
            for hook, methods in zip(previous, previous_methods):
                if methods is not None:
                    hook._pruning_methods = methods
                module.register_forward_pre_hook(hook)
            raise
        return method

    @classmethod
    def _composite_method(cls, module, name: str, *args, **kwargs):
        """The new method, or the container holding the tensor's earlier pruning and the new one
        (which replaces the earlier hook)."""
        found = [(key, hook) for key, hook in _pruning_hooks(module) if hook._tensor_name == name]
        if len(found) > 1:
            raise AssertionError(f"Avoid adding multiple pruning hooks to the same tensor {name} of module "
                                 f"{module}. Use a PruningContainer.")
        method = cls(*args, **kwargs)  # (before the hooks go, so that bad arguments change nothing)
        method._tensor_name = name
        for key, _ in found:
            _remove_hook(module, key)
        if found:
            old = found[0][1]
            if not isinstance(old, PruningContainer):
                old = PruningContainer(old)
            old.add_pruning_method(method)
            method = old
        return method

    def prune(self, t, default_mask=None, importance_scores=None):
        """``t`` times the mask this method computes for it (from ``importance_scores`` when given)."""
        scores = _array(t) if importance_scores is None else _array(importance_scores)
        if scores.shape != np.shape(_data(t)):
            raise AssertionError(f"importance_scores should have the same shape as tensor t, got {scores.shape} vs "
                                 f"{np.shape(_data(t))}")
        default_mask = np.ones(scores.shape) if default_mask is None else _array(default_mask)
        mask = np.asarray(self.compute_mask(scores, default_mask=default_mask))
        return t * mask.astype(_array(t).dtype, copy=False)

    def remove(self, module) -> None:
        """Make the pruning permanent: ``module.<name>`` becomes the Parameter ``<name>_orig``
        (the same object) holding the pruned values; ``<name>_orig`` and ``<name>_mask`` go."""
        if self._tensor_name is None:
            raise AssertionError(f"Module {module} has to be pruned before pruning can be removed")
        name = self._tensor_name
        weight = self.apply_mask(module)
        if hasattr(module, name):
            delattr(module, name)
        orig = module._parameters[name + "_orig"]
        orig.data = np.array(weight.data)  # a new array: graphs that saved the old values keep them
        delattr(module, name + "_orig")
        delattr(module, name + "_mask")
        setattr(module, name, orig)


class PruningContainer(BasePruningMethod):
    """A sequence of pruning methods of one tensor, applied in turn: each one prunes only what
    the earlier ones kept (``torch.nn.utils.prune.PruningContainer``)."""

    def __init__(self, *args):
        self._pruning_methods: tuple = ()
        if len(args) == 1:
            self._tensor_name = args[0]._tensor_name
        for method in args:
            self.add_pruning_method(method)

    def add_pruning_method(self, method) -> None:
        """Add ``method`` (a ``BasePruningMethod`` of the same tensor) to the sequence."""
        if not isinstance(method, BasePruningMethod) and method is not None:
            raise TypeError(f"{type(method)} is not a BasePruningMethod subclass")
        if method is not None and self._tensor_name != method._tensor_name:
            raise ValueError(f"Can only add pruning methods acting on the parameter named '{self._tensor_name}' "
                             f"to PruningContainer {self}. Found '{method._tensor_name}'")
        self._pruning_methods += (method,)

    def __len__(self) -> int:
        return len(self._pruning_methods)

    def __iter__(self):
        return iter(self._pruning_methods)

    def __getitem__(self, idx):
        return self._pruning_methods[idx]

    def compute_mask(self, t, default_mask):
        """The last method's mask, computed on the part of ``t`` the mask so far keeps (the
        entries equal to 1, for an unstructured method; the channels along ``dim`` not all
        pruned, for a structured one; everything, for a global one), as PyTorch's."""
        method = self._pruning_methods[-1]
        t, mask = np.asarray(t), np.asarray(default_mask)
        new_mask = mask.astype(t.dtype)  # (a copy)
        if method.PRUNING_TYPE == "unstructured":
            kept = mask == 1
        elif method.PRUNING_TYPE == "structured":
            if not hasattr(method, "dim"):
                raise AttributeError('Pruning methods of PRUNING_TYPE "structured" need to have the attribute '
                                     "`dim` defined.")
            dim = method.dim + t.ndim if method.dim < 0 else method.dim
            if dim < 0:
                raise IndexError(f"Index is out of bounds for tensor with dimensions {t.ndim}")
            keep_channel = mask.sum(axis=tuple(d for d in range(t.ndim) if d != dim)) != 0
            kept = tuple(keep_channel if d == dim else slice(None) for d in range(t.ndim))
        elif method.PRUNING_TYPE == "global":
            kept = (slice(None),) * t.ndim
        else:
            raise ValueError(f"Unrecognized PRUNING_TYPE {method.PRUNING_TYPE}")
        new_mask[kept] = np.asarray(method.compute_mask(t[kept], default_mask=mask[kept]))
        return new_mask


class Identity(BasePruningMethod):
    """Prunes nothing (the mask is all ones)."""

    PRUNING_TYPE = "unstructured"

    def compute_mask(self, t, default_mask):
        return default_mask

    @classmethod
    def apply(cls, module, name):
        return super().apply(module, name)


class _Unstructured(BasePruningMethod):
    """What the unstructured methods share: the checks, and a mask with the ``count``
    entries a method picks (``_pruned``, flat indices) set to 0."""

    PRUNING_TYPE = "unstructured"

    def compute_mask(self, t, default_mask):
        size = np.size(t)
        count = _compute_nparams_toprune(self.amount, size)
        _validate_pruning_amount(count, size)
        mask = np.array(default_mask)
        if count:
            mask.reshape(-1)[self._pruned(t, count)] = 0
        return mask


class RandomUnstructured(_Unstructured):
    """Prunes ``amount`` entries chosen at random (a number, or a fraction in [0, 1])."""

    def __init__(self, amount, *, rng=None):
        _validate_pruning_amount_init(amount)
        self.amount, self.rng = amount, rng

    def _pruned(self, t, count):
        return np.argsort(_rng(self.rng).random(np.size(t)))[:count]

    @classmethod
    def apply(cls, module, name, amount, *, rng=None):
        return super().apply(module, name, amount=amount, rng=rng)


class L1Unstructured(_Unstructured):
    """Prunes the ``amount`` entries of smallest absolute value (a number, or a fraction in [0, 1])."""

    def __init__(self, amount):
        _validate_pruning_amount_init(amount)
        self.amount = amount

    def _pruned(self, t, count):
        return np.argsort(np.abs(t).reshape(-1), kind="stable")[:count]

    @classmethod
    def apply(cls, module, name, amount, importance_scores=None):
        return super().apply(module, name, amount=amount, importance_scores=importance_scores)


class _Structured(BasePruningMethod):
    """What the structured methods share: the checks, and a mask of whole channels along
    ``dim`` from the channels a method keeps (``_kept``)."""

    PRUNING_TYPE = "structured"

    def compute_mask(self, t, default_mask):
        _validate_structured_pruning(t)
        _validate_pruning_dim(t, self.dim)
        channels = np.shape(t)[self.dim]
        count = _compute_nparams_toprune(self.amount, channels)
        _validate_pruning_amount(count, channels)
        if count == 0:
            return default_mask
        return _channel_mask(t, self.dim, self._kept(t, channels, count)) * default_mask


class RandomStructured(_Structured):
    """Prunes ``amount`` channels along ``dim`` chosen at random (whole slices ``t[..., i, ...]``)."""

    def __init__(self, amount, dim=-1, *, rng=None):
        _validate_pruning_amount_init(amount)
        self.amount, self.dim, self.rng = amount, dim, rng

    def _kept(self, t, channels, count):
        chosen = np.zeros(channels, bool)
        chosen[np.argsort(_rng(self.rng).random(channels))[:count]] = True
        return ~chosen

    @classmethod
    def apply(cls, module, name, amount, dim=-1, *, rng=None):
        return super().apply(module, name, amount=amount, dim=dim, rng=rng)


class LnStructured(_Structured):
    """Prunes the ``amount`` channels along ``dim`` of smallest ``n``-norm (``n`` a number,
    ``inf``, ``-inf`` or "fro")."""

    def __init__(self, amount, n, dim=-1):
        _validate_pruning_amount_init(amount)
        self.amount, self.n, self.dim = amount, n, dim

    def _kept(self, t, channels, count):
        norm = _compute_norm(np.asarray(t), self.n, self.dim)
        kept = np.zeros(channels, bool)
        kept[np.argsort(-norm, kind="stable")[:channels - count]] = True
        return kept

    @classmethod
    def apply(cls, module, name, amount, n, dim, importance_scores=None):
        return super().apply(module, name, amount=amount, n=n, dim=dim, importance_scores=importance_scores)


class CustomFromMask(BasePruningMethod):
    """Prunes where a given ``mask`` (of the tensor's shape) is 0."""

    PRUNING_TYPE = "global"

    def __init__(self, mask):
        self.mask = mask

    def compute_mask(self, t, default_mask):
        mask = _array(self.mask)
        if np.shape(default_mask) != mask.shape:
            raise AssertionError(f"default_mask shape {np.shape(default_mask)} must match self.mask shape "
                                 f"{mask.shape}")
        return default_mask * mask.astype(np.asarray(default_mask).dtype)

    @classmethod
    def apply(cls, module, name, mask):
        return super().apply(module, name, mask=mask)


# -- the functions -------------------------------------------------------------------------------
def identity(module, name: str):
    """Prune nothing of ``module.<name>`` (but reparametrize it as the others do); returns ``module``."""
    Identity.apply(module, name)
    return module


def random_unstructured(module, name: str, amount, *, rng=None):
    """Prune ``amount`` random entries of ``module.<name>`` (an int, or a float fraction in
    [0, 1]); ``rng`` a Generator or seed (microgradnp's global generator when None). Returns ``module``."""
    RandomUnstructured.apply(module, name, amount, rng=rng)
    return module


def l1_unstructured(module, name: str, amount, importance_scores=None):
    """Prune the ``amount`` entries of ``module.<name>`` of smallest absolute value (of
    ``importance_scores`` when given). Returns ``module``."""
    L1Unstructured.apply(module, name, amount=amount, importance_scores=importance_scores)
    return module


def random_structured(module, name: str, amount, dim: int, *, rng=None):
    """Prune ``amount`` random channels of ``module.<name>`` along ``dim``. Returns ``module``."""
    RandomStructured.apply(module, name, amount, dim, rng=rng)
    return module


def ln_structured(module, name: str, amount, n, dim: int, importance_scores=None):
    """Prune the ``amount`` channels of ``module.<name>`` along ``dim`` of smallest ``n``-norm.
    Returns ``module``."""
    LnStructured.apply(module, name, amount, n, dim, importance_scores=importance_scores)
    return module


def global_unstructured(parameters, pruning_method, importance_scores=None, **kwargs) -> None:
    """Prune the tensors ``parameters`` ((module, name) pairs) together, as one vector: e.g.
    ``pruning_method=L1Unstructured, amount=0.2`` prunes the 20 % smallest entries over all of
    them. ``importance_scores`` maps (module, name) pairs to arrays ranking that tensor's entries."""
    if not isinstance(parameters, Iterable):
        raise TypeError("global_unstructured(): parameters is not an Iterable")
    parameters = list(parameters)  # (walked twice)
    importance_scores = importance_scores if importance_scores is not None else {}
    if not isinstance(importance_scores, dict):
        raise TypeError("global_unstructured(): importance_scores must be of type dict")
    scores = np.concatenate([_array(importance_scores.get((module, name), getattr(module, name))).reshape(-1)
                             for module, name in parameters])
    default_mask = np.concatenate([
        _array(getattr(module, name + "_mask")).reshape(-1) if hasattr(module, name + "_mask")
        else np.ones(np.size(_data(getattr(module, name)))) for module, name in parameters])
    container = PruningContainer()
    container._tensor_name = "temp"
    method = pruning_method(**kwargs)
    method._tensor_name = "temp"
    if method.PRUNING_TYPE != "unstructured":
        raise TypeError('Only "unstructured" PRUNING_TYPE supported for the `pruning_method`. Found method '
                        f"{pruning_method} of type {method.PRUNING_TYPE}")
    container.add_pruning_method(method)
    final_mask = container.compute_mask(scores, default_mask)
    start = 0
    for module, name in parameters:
        shape = np.shape(_data(getattr(module, name)))
        size = int(np.prod(shape))
        custom_from_mask(module, name, mask=final_mask[start:start + size].reshape(shape))
        start += size


def custom_from_mask(module, name: str, mask):
    """Prune ``module.<name>`` where ``mask`` (an array or Tensor of its shape) is 0. Returns ``module``."""
    CustomFromMask.apply(module, name, mask)
    return module


def remove(module, name: str):
    """Make the pruning of ``module.<name>`` permanent: it becomes a Parameter again (the
    ``<name>_orig`` object, with the pruned entries 0) and ``<name>_orig``, ``<name>_mask`` and the
    hook go. Returns ``module``.

    Raises:
        ValueError: ``module.<name>`` is not pruned.
    """
    for key, hook in _pruning_hooks(module):
        if hook._tensor_name == name:
            hook.remove(module)
            _remove_hook(module, key)
            return module
    raise ValueError(f"Parameter '{name}' of module {module} has to be pruned before pruning can be removed")


def is_pruned(module) -> bool:
    """Whether ``module`` or one of its sub-modules has a pruned tensor."""
    return any(_pruning_hooks(m) for m in module.modules())


# -- checks and helpers, as PyTorch's ---------------------------------------------------------------
def _validate_pruning_amount_init(amount) -> None:
    if not isinstance(amount, numbers.Real):
        raise TypeError(f"Invalid type for amount: {amount}. Must be int or float.")
    if (isinstance(amount, numbers.Integral) and amount < 0) or (
            not isinstance(amount, numbers.Integral) and (float(amount) > 1.0 or float(amount) < 0.0)):
        raise ValueError(f"amount={amount} should either be a float in the range [0, 1] or a non-negative integer")


def _validate_pruning_amount(amount, tensor_size: int) -> None:
    if isinstance(amount, numbers.Integral) and amount > tensor_size:
        raise ValueError(f"amount={amount} should be smaller than the number of parameters to prune={tensor_size}")


def _validate_structured_pruning(t) -> None:
    shape = np.shape(t)
    if len(shape) <= 1:
        raise ValueError(f"Structured pruning can only be applied to multidimensional tensors. Found tensor of "
                         f"shape {shape} with {len(shape)} dims")


def _compute_nparams_toprune(amount, tensor_size: int) -> int:
    """An int amount as it is; a fraction of ``tensor_size``, rounded (half to even, as PyTorch's)."""
    return amount if isinstance(amount, numbers.Integral) else round(amount * tensor_size)


def _validate_pruning_dim(t, dim: int) -> None:
    if dim >= np.ndim(t):
        raise IndexError(f"Invalid index {dim} for tensor of size {np.shape(t)}")


def _compute_norm(t: np.ndarray, n, dim: int) -> np.ndarray:
    """The ``n``-norm of each channel of ``t`` along ``dim``."""
    rows = np.moveaxis(t, dim, 0).reshape(t.shape[dim], -1)
    return np.linalg.norm(rows, ord=2 if n == "fro" else n, axis=1)


def _channel_mask(t, dim: int, kept: np.ndarray) -> np.ndarray:
    """Ones on the channels ``kept`` (a bool vector) along ``dim``, zeros elsewhere."""
    mask = np.zeros(np.shape(t), dtype=np.asarray(t).dtype)
    dim %= np.ndim(t)
    mask[tuple(kept if d == dim else slice(None) for d in range(np.ndim(t)))] = 1
    return mask
