"""Stochastic Weight Averaging and exponential moving averages of a model's weights, as
``torch.optim.swa_utils``: ``AveragedModel`` keeps the average, ``SWALR`` anneals the learning
rate to a constant for the averaging phase, ``update_bn`` recomputes BatchNorm statistics.

Typical use::

    swa_model = AveragedModel(model)
    swa_scheduler = SWALR(optimizer, swa_lr=0.05)
    for epoch in range(100):
        train_one_epoch(model, optimizer)
        if epoch >= 75:
            swa_model.update_parameters(model)
            swa_scheduler.step()
    update_bn(loader, swa_model)
    swa_model(X)   # predictions of the averaged weights
"""

from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Callable, Iterable

import numpy as np

from microgradnp.autograd.grad_mode import no_grad, replayed
from microgradnp.autograd.versions import bump as bump_version
from microgradnp.nn.module import Module
from microgradnp.nn.normalization import BatchNorm1d
from microgradnp.optim.lr_scheduler import LRScheduler, _per_group
from microgradnp.optim.optimizer import Optimizer, _check_number
from microgradnp.tensor import Tensor, _data

__all__ = ["SWALR", "AveragedModel", "get_ema_avg_fn", "get_ema_multi_avg_fn", "get_swa_avg_fn",
           "get_swa_multi_avg_fn", "update_bn"]


def _count(num_averaged) -> int:
    """The number of models averaged so far, from the ``n_averaged`` buffer (a Tensor) or an int."""
    return int(np.asarray(_data(num_averaged)))


def _check_decay(owner: str, decay) -> None:
    if isinstance(decay, bool) or not isinstance(decay, numbers.Real) or not 0.0 <= decay <= 1.0:
        raise ValueError(f"{owner}: decay must be a number in [0, 1] (e.g. 0.999), got {decay!r}")


def _lerp_(start: np.ndarray, end: np.ndarray, weight: float) -> None:
    """``start += weight * (end - start)`` in place, rounded as torch's ``lerp_`` (which, for
    weights of 0.5 and more, computes ``end - (end - start) * (1 - weight)``)."""
    if weight < 0.5:
        start += weight * (end - start)
    else:
        np.copyto(start, end - (end - start) * (1 - weight), casting="unsafe")


def get_ema_multi_avg_fn(decay: float = 0.999) -> Callable:
    """The exponential moving average as a ``multi_avg_fn`` of ``AveragedModel`` (in place,
    over lists of tensors): ``W_ema = decay * W_ema + (1 - decay) * W_model``.

    Args:
        decay: the weight of the average so far, in [0, 1].

    Raises:
        ValueError: ``decay`` is not in [0, 1].
    """
    _check_decay("get_ema_multi_avg_fn", decay)

    def ema_update(ema_param_list, current_param_list, _num_averaged) -> None:
        for ema, current in zip(ema_param_list, current_param_list, strict=True):
            ema, current = _data(ema), _data(current)
            if ema.dtype.kind == "f":
                _lerp_(ema, current, 1 - decay)
            else:  # an integer buffer (a batch count): torch's formula, truncated by copy_
                np.copyto(ema, ema * decay + current * (1 - decay), casting="unsafe")

    return ema_update


def get_swa_multi_avg_fn() -> Callable:
    """The equally weighted running average as a ``multi_avg_fn`` of ``AveragedModel`` (in
    place, over lists of tensors): ``W_avg += (W_model - W_avg) / (n_averaged + 1)``."""

    def swa_update(averaged_param_list, current_param_list, num_averaged) -> None:
        count = _count(num_averaged)
        for averaged, current in zip(averaged_param_list, current_param_list, strict=True):
            averaged, current = _data(averaged), _data(current)
            if averaged.dtype.kind == "f":
                _lerp_(averaged, current, 1 / (count + 1))
            else:  # an integer buffer (a batch count), truncated as torch's copy_
                np.copyto(averaged, averaged + (current - averaged) / (count + 1), casting="unsafe")

    return swa_update


def get_ema_avg_fn(decay: float = 0.999) -> Callable:
    """The exponential moving average as an ``avg_fn`` of ``AveragedModel`` (one tensor at a
    time, returning the new average): ``decay * W_ema + (1 - decay) * W_model``.

    Args:
        decay: the weight of the average so far, in [0, 1].

    Raises:
        ValueError: ``decay`` is not in [0, 1].
    """
    _check_decay("get_ema_avg_fn", decay)

    def ema_update(ema_param, current_param, _num_averaged):
        return decay * ema_param + (1 - decay) * current_param

    return ema_update


def get_swa_avg_fn() -> Callable:
    """The equally weighted running average as an ``avg_fn`` of ``AveragedModel`` (one tensor
    at a time): ``W_avg + (W_model - W_avg) / (n_averaged + 1)``."""

    def swa_update(averaged_param, current_param, num_averaged):
        return averaged_param + (current_param - averaged_param) / (_count(num_averaged) + 1)

    return swa_update


class AveragedModel(Module):
    """A copy of ``model`` whose weights are a running average of ``model``'s, for Stochastic
    Weight Averaging (Izmailov et al., 2018) or an exponential moving average (EMA), as
    ``torch.optim.swa_utils.AveragedModel``.

    Args:
        model: the model being trained; a deep copy of it holds the average (``.module``).
        device: accepted for compatibility: None or ``"cpu"`` (there is no other device).
        avg_fn: ``avg_fn(averaged, current, n_averaged) -> new average``, applied to each
            parameter (Tensors; ``n_averaged`` is the buffer below). None (and no
            ``multi_avg_fn``): the equal-weight average (SWA).
        multi_avg_fn: ``multi_avg_fn(averaged_list, current_list, n_averaged)``, updating the
            averages in place, called once per dtype with lists of Tensors (e.g.
            ``get_ema_multi_avg_fn(0.999)``). Give ``avg_fn`` or ``multi_avg_fn``, not both.
        use_buffers: average the buffers (BatchNorm statistics...) too; when False (the
            default) the buffers are copied from ``model`` at each update.

    Attributes:
        module: the averaged copy; ``forward`` calls it.
        n_averaged: a buffer (int64 0-d Tensor) counting the updates; saved in ``state_dict()``
            beside ``module.*``, as PyTorch.

    The first ``update_parameters(model)`` copies ``model``'s weights; each later one folds
    them into the average. ``avg_fn`` and ``multi_avg_fn`` are not saved in ``state_dict()``.
    Models with BatchNorm need their statistics recomputed for the averaged weights: call
    ``update_bn(loader, averaged_model)`` (or pass ``use_buffers=True``).

    Example::

        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.999))
        for X, y in loader:
            ...; optimizer.step()
            ema.update_parameters(model)

    Raises:
        TypeError: ``model`` is not an ``nn.Module``, or ``avg_fn``/``multi_avg_fn`` is not callable.
        ValueError: both ``avg_fn`` and ``multi_avg_fn`` are given, or ``device`` is not the CPU.
    """

    def __init__(self, model: Module, device=None, avg_fn: Callable | None = None,
                 multi_avg_fn: Callable | None = None, use_buffers: bool = False):
        super().__init__()
        if not isinstance(model, Module):
            raise TypeError(f"AveragedModel: expected an nn.Module to average, got {type(model).__name__}")
        if avg_fn is not None and multi_avg_fn is not None:
            raise ValueError("AveragedModel: give avg_fn (one tensor at a time) or multi_avg_fn (lists, in place), "
                             "not both")
        for option, fn in (("avg_fn", avg_fn), ("multi_avg_fn", multi_avg_fn)):
            if fn is not None and not callable(fn):
                raise TypeError(f"AveragedModel: {option} must be a function, got {type(fn).__name__}")
        if device not in (None, "cpu"):
            raise ValueError(f"AveragedModel: only device='cpu' (or None) exists here, got {device!r}")
        self.module = copy.deepcopy(model)
        self.register_buffer("n_averaged", Tensor(np.array(0), dtype=np.int64))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = bool(use_buffers)

    def forward(self, *args, **kwargs):
        """The averaged model's output: ``self.module(*args, **kwargs)``."""
        return self.module(*args, **kwargs)

    def _pairs(self, model: Module) -> list[tuple[Tensor, Tensor]]:
        """(averaged, current) for every parameter (and buffer, with ``use_buffers``), checked."""
        def tensors(m: Module) -> list[Tensor]:
            return [*m.parameters(), *m.buffers()] if self.use_buffers else list(m.parameters())

        mine, theirs = tensors(self.module), tensors(model)
        what = "parameters and buffers" if self.use_buffers else "parameters"
        if len(mine) != len(theirs):
            raise ValueError(f"AveragedModel.update_parameters: the model has {len(theirs)} {what} but the averaged "
                             f"copy has {len(mine)}; pass the model this AveragedModel was built from")
        for i, (a, b) in enumerate(zip(mine, theirs)):
            if a.data.shape != b.data.shape:
                raise ValueError(f"AveragedModel.update_parameters: {what} {i} has shape {b.data.shape} in the model "
                                 f"but {a.data.shape} in the averaged copy; pass the model it was built from")
        return list(zip(mine, theirs))

    @replayed  # (inside an mg.compile step every replay folds the weights in again)
    def update_parameters(self, model: Module) -> None:
        """Fold ``model``'s current weights into the average (the first call copies them)."""
        if not isinstance(model, Module):
            raise TypeError(f"AveragedModel.update_parameters: expected an nn.Module, got {type(model).__name__}")
        pairs = self._pairs(model)
        buffers = []  # without use_buffers, the buffers are copied from the model
        if not self.use_buffers:
            mine, theirs = list(self.module.buffers()), list(model.buffers())
            if len(mine) != len(theirs):
                raise ValueError(f"AveragedModel.update_parameters: the model has {len(theirs)} buffers but the "
                                 f"averaged copy has {len(mine)}; pass the model it was built from")
            buffers = list(zip(mine, theirs))
        n_averaged = self.n_averaged
        with no_grad():
            if _count(n_averaged) == 0:
                for averaged, current in pairs:
                    np.copyto(averaged.data, current.data, casting="unsafe")
            elif self.avg_fn is not None:
                for averaged, current in pairs:
                    result = self.avg_fn(averaged.detach(), current.detach(), n_averaged)
                    np.copyto(averaged.data, np.asarray(_data(result)), casting="unsafe")
            else:
                multi_avg_fn = self.multi_avg_fn
                by_dtype: dict[np.dtype, tuple[list, list]] = {}
                for averaged, current in pairs:
                    lists = by_dtype.setdefault(averaged.data.dtype, ([], []))
                    lists[0].append(averaged.detach())
                    lists[1].append(current.detach().data.astype(averaged.data.dtype, copy=False))
                for averaged_list, current_list in by_dtype.values():
                    if multi_avg_fn is None:  # torch's per-tensor SWA average on the CPU
                        swa = get_swa_avg_fn()
                        for averaged, current in zip(averaged_list, current_list):
                            np.copyto(averaged.data, swa(averaged.data, current, _count(n_averaged)),
                                      casting="unsafe")
                    else:
                        multi_avg_fn(averaged_list, [Tensor._wrap(c) for c in current_list], n_averaged)
            for averaged, current in buffers:
                np.copyto(averaged.data, current.data, casting="unsafe")
            n_averaged.data[...] += 1
        bump_version(*(averaged.data for averaged, _ in pairs), *(b.data for b in self.module.buffers()),
                     n_averaged.data)

    def extra_repr(self) -> str:
        return f"n_averaged={_count(self.n_averaged)}, use_buffers={self.use_buffers}"


def update_bn(loader: Iterable, model: Module, device=None) -> None:
    """Recompute the running statistics of every BatchNorm layer of ``model`` with one pass
    over ``loader``, as ``torch.optim.swa_utils.update_bn``: the statistics are reset and
    then averaged over the batches with equal weights (``momentum=None``); the layers'
    momenta and the model's train/eval mode are restored afterwards.

    Args:
        loader: batches: arrays/Tensors, or tuples/lists whose first element is the input
            (an ``mg.data.DataLoader``'s ``(X, y)``).
        model: the model (e.g. an ``AveragedModel``); without BatchNorm layers nothing happens.
        device: accepted for compatibility: None or ``"cpu"``.

    Raises:
        ValueError: ``device`` is not the CPU.
    """
    if device not in (None, "cpu"):
        raise ValueError(f"update_bn: only device='cpu' (or None) exists here, got {device!r}")
    if not isinstance(model, Module):
        raise TypeError(f"update_bn: expected an nn.Module, got {type(model).__name__}")
    momenta = {}
    for module in model.modules():
        if isinstance(module, BatchNorm1d):
            module.reset_running_stats()
            momenta[module] = module.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for module in momenta:
        module.momentum = None
    try:
        with no_grad():
            for batch in loader:
                if isinstance(batch, list | tuple):
                    batch = batch[0]
                model(batch)
    finally:
        for module, momentum in momenta.items():
            module.momentum = momentum
        model.train(was_training)


class SWALR(LRScheduler):
    """Anneal each parameter group's learning rate to ``swa_lr`` over ``anneal_epochs``
    epochs, then hold it there, as ``torch.optim.swa_utils.SWALR`` (for Stochastic Weight
    Averaging, with ``AveragedModel``).

    Args:
        optimizer: the optimizer to schedule.
        swa_lr: the learning rate to reach: one number, or a list with one per parameter group.
        anneal_epochs: the number of epochs of the annealing (0: jump to ``swa_lr`` at once).
        anneal_strategy: ``"cos"`` (cosine) or ``"linear"``.
        last_epoch: see ``LRScheduler``.

    Each step moves from the group's current ``lr`` towards ``swa_lr``: with ``t = min(1,
    epoch / anneal_epochs)`` and ``alpha = (1 - cos(pi t)) / 2`` (``t`` when linear),
    ``lr = swa_lr * alpha + lr_0 * (1 - alpha)``, ``lr_0`` recovered from the current ``lr``
    as PyTorch does. ``swa_lr`` is stored in every parameter group as ``"swa_lr"``.

    Raises:
        ValueError: a bad ``anneal_strategy``, ``anneal_epochs`` or ``swa_lr``.
    """

    def __init__(self, optimizer: Optimizer, swa_lr, anneal_epochs: int = 10, anneal_strategy: str = "cos",
                 last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"SWALR: expected an optimizer such as mg.optim.SGD(...), got {type(optimizer).__name__}")
        swa_lrs = _per_group("SWALR", "swa_lr", optimizer, swa_lr)
        for value in swa_lrs:
            _check_number("SWALR", "swa_lr", value)
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"SWALR: anneal_strategy must be one of 'cos' or 'linear', got {anneal_strategy!r}")
        if isinstance(anneal_epochs, bool) or not isinstance(anneal_epochs, numbers.Integral) or anneal_epochs < 0:
            raise ValueError(f"SWALR: anneal_epochs must be an integer >= 0, got {anneal_epochs!r}")
        for value, group in zip(swa_lrs, optimizer.param_groups):
            group["swa_lr"] = value
        self._anneal_strategy = anneal_strategy
        self.anneal_epochs = int(anneal_epochs)
        super().__init__(optimizer, last_epoch)

    @property
    def anneal_func(self) -> Callable[[float], float]:
        """The annealing curve, ``t`` in [0, 1] -> ``alpha`` in [0, 1]."""
        return self._linear_anneal if self._anneal_strategy == "linear" else self._cosine_anneal

    @staticmethod
    def _linear_anneal(t: float) -> float:
        return t

    @staticmethod
    def _cosine_anneal(t: float) -> float:
        return (1 - math.cos(math.pi * t)) / 2

    @staticmethod
    def _get_initial_lr(lr: float, swa_lr: float, alpha: float) -> float:
        if alpha == 1:
            return swa_lr
        return (lr - alpha * swa_lr) / (1 - alpha)

    def get_lr(self) -> list[float]:
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_alpha = self.anneal_func(max(0, min(1, (step - 1) / max(1, self.anneal_epochs))))
        groups = self.optimizer.param_groups
        prev_lrs = [self._get_initial_lr(group["lr"], group["swa_lr"], prev_alpha) for group in groups]
        alpha = self.anneal_func(max(0, min(1, step / max(1, self.anneal_epochs))))
        return [group["swa_lr"] * alpha + lr * (1 - alpha) for group, lr in zip(groups, prev_lrs)]
