"""Learning-rate schedules, as ``torch.optim.lr_scheduler``: call ``scheduler.step()`` once per
epoch, after ``optimizer.step()``."""

from __future__ import annotations

import functools
import math
import numbers
import types
import warnings
from bisect import bisect_right
from collections.abc import Callable, Mapping

from microgradnp.autograd.grad_mode import replayed
from microgradnp.optim.optimizer import Optimizer, _check_number, _watch_step, made_inside_trace, replay_overrides

__all__ = ["ChainedScheduler", "ConstantLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts", "CyclicLR",
           "ExponentialLR", "LRScheduler", "LambdaLR", "LinearLR", "MultiStepLR", "MultiplicativeLR", "OneCycleLR",
           "PolynomialLR", "ReduceLROnPlateau", "SequentialLR", "StepLR"]


_EPOCH_DEPRECATION = (
    "The epoch parameter in `scheduler.step()` was not necessary and is being deprecated where possible. "
    "Please use `scheduler.step()` to step the scheduler. During the deprecation, if epoch is different "
    "from None, the closed form is used instead of the new chainable form, where available."
)

_ORDER_WARNING = (
    "Detected call of `lr_scheduler.step()` before `optimizer.step()`. In PyTorch 1.1.0 and later, you should "
    "call them in the opposite order: `optimizer.step()` before `lr_scheduler.step()`.  Failure to do this will "
    "result in PyTorch skipping the first value of the learning rate schedule. See more details at "
    "https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate"
)


# Flags that are True only during a call (the constructor's first step, get_lr() inside step()):
# a state to load need not have them and they are not restored from one, so a state saved by
# PyTorch (whose names these are) or by an older version ("_initial") loads as well.
_TRANSIENT_STATE = frozenset({"_is_initial", "_initial", "_get_lr_called_within_step"})


class LRScheduler:
    """Base class of the learning-rate schedulers.

    Args:
        optimizer: the optimizer whose ``param_groups[i]["lr"]`` the scheduler sets.
        last_epoch: index of the last epoch done; -1 (the default) starts a new schedule and
            stores each group's current ``lr`` as its ``"initial_lr"``. A value >= 0 resumes
            a schedule and needs ``"initial_lr"`` in every group (from a loaded optimizer state).

    Attributes:
        last_epoch: the epoch the current learning rates belong to (0 after construction).
        base_lrs: each group's ``initial_lr``.

    As in PyTorch the schedules are applied to the group's current ``lr`` step by step, so
    a learning rate changed by hand (or by another scheduler) carries on from its new value.
    Subclasses implement ``get_lr()``: the learning rates for ``last_epoch``.
    """

    def __new__(cls, *args, **kwargs):
        # (here rather than in __init__: ReduceLROnPlateau and the lists of schedulers have their own)
        scheduler = super().__new__(cls)
        made_inside_trace(scheduler)
        return scheduler

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        name = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{name}: expected an optimizer such as mg.optim.SGD(...), got {type(optimizer).__name__}")
        if isinstance(last_epoch, bool) or not isinstance(last_epoch, numbers.Integral) or last_epoch < -1:
            raise ValueError(f"{name}: last_epoch must be an integer >= -1 (-1 starts a new schedule), "
                             f"got {last_epoch!r}")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"{name}: resuming with last_epoch={last_epoch} needs 'initial_lr' in every parameter "
                        f"group, and group {i} has none; load the optimizer's state_dict first, or start a new "
                        "schedule with last_epoch=-1"
                    )
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = int(last_epoch)
        if not getattr(optimizer, "_opt_called", False):
            _watch_step(optimizer)
        self._initial_step()

    def _initial_step(self) -> None:
        """Set the learning rates of the schedule's start (``step()`` in initial mode)."""
        self._step_count = 0
        self._is_initial = True
        self.step()
        self._is_initial = False

    # True while step() asks get_lr() for the new rates; a user's own call is warned about (as
    # in PyTorch): get_lr() computes the next step's rates from the current ones.
    _get_lr_called_within_step = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        replay_overrides(cls, "step")
        get_lr = cls.__dict__.get("get_lr")
        if get_lr is not None and not hasattr(get_lr, "__wrapped__"):
            @functools.wraps(get_lr)
            def checked_get_lr(self):
                if not self._get_lr_called_within_step:
                    warnings.warn("To get the last learning rate computed by the scheduler, please use "
                                  "`get_last_lr()`.", UserWarning, stacklevel=2)
                return get_lr(self)
            cls.get_lr = checked_get_lr

    def get_lr(self) -> list[float]:
        """The learning rate of every parameter group for ``last_epoch`` (called by ``step``)."""
        raise NotImplementedError(f"{type(self).__name__} must define get_lr()")

    def _scheduled_lrs(self) -> list[float]:
        """``get_lr()``, called by the scheduler itself (no warning)."""
        self._get_lr_called_within_step = True
        try:
            return self.get_lr()
        finally:
            self.__dict__.pop("_get_lr_called_within_step", None)  # (the class's False again; not in state_dict())

    @replayed
    def step(self, epoch=None) -> None:
        """Move to the next epoch and set the optimizer's learning rates for it. ``epoch``
        (deprecated in PyTorch, and warned about as there) jumps to that epoch instead, by
        the schedule's closed form where it has one."""
        if self._step_count == 1 and not getattr(self.optimizer, "_opt_called", False):
            warnings.warn(_ORDER_WARNING, UserWarning, stacklevel=3)
        self._step_count += 1
        if epoch is None:
            self.last_epoch += 1
            self._set_lrs(self._scheduled_lrs())
            return
        warnings.warn(_EPOCH_DEPRECATION, UserWarning, stacklevel=3)
        self._update_lr(epoch)

    def _set_lrs(self, lrs: list[float]) -> None:
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _update_lr(self, epoch: int) -> None:
        """Jump to ``epoch``, as PyTorch's ``_update_lr``: by the schedule's closed form
        (``_closed_form_lr``, from ``base_lrs``) where it has one, else by ``get_lr()``."""
        self.last_epoch = epoch
        closed_form = getattr(self, "_closed_form_lr", None)
        self._set_lrs(closed_form() if closed_form is not None else self._scheduled_lrs())

    def get_last_lr(self) -> list[float]:
        """The learning rates the last ``step()`` set, one per parameter group."""
        return list(self._last_lr)

    def _current_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        """The scheduler's settings and position (everything but the optimizer), JSON-friendly."""
        return {key: list(value) if isinstance(value, list) else value
                for key, value in self.__dict__.items() if key != "optimizer"}

    def _state_keys(self) -> set:
        """The entries a state to load must have."""
        return set(self.state_dict()) - _TRANSIENT_STATE

    def load_state_dict(self, state_dict: Mapping) -> None:
        """Restore a state from ``state_dict()``; it must come from the same kind of scheduler."""
        name = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"{name}: expected the dict returned by scheduler.state_dict(), got "
                            f"{type(state_dict).__name__}")
        missing = sorted(self._state_keys() - set(state_dict))
        if missing:
            raise ValueError(f"{name}: the state lacks {missing}; was it saved from another kind of scheduler?")
        for key, value in state_dict.items():
            if key not in _TRANSIENT_STATE:
                setattr(self, key, list(value) if isinstance(value, list | tuple) else value)


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs.

    Args:
        optimizer: the optimizer to schedule.
        step_size: number of epochs between decays (a positive integer).
        gamma: the factor applied at each decay.
        last_epoch: see ``LRScheduler``.

    ``lr = initial_lr * gamma ** (epoch // step_size)``.
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        _check_positive_int(type(self).__name__, "step_size", step_size)
        _check_gamma(type(self).__name__, gamma)
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size) for base_lr in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every epoch: ``lr = initial_lr * gamma ** epoch``.

    Args:
        optimizer: the optimizer to schedule.
        gamma: the factor applied each epoch.
        last_epoch: see ``LRScheduler``.
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1):
        _check_gamma(type(self).__name__, gamma)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        return [base_lr * self.gamma**self.last_epoch for base_lr in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Anneal the learning rate from ``initial_lr`` down to ``eta_min`` along half a cosine
    over ``T_max`` epochs:

        lr = eta_min + (initial_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2

    Past ``T_max`` the cosine carries on (the rate climbs back to ``initial_lr`` at
    ``2 * T_max``, and so on), as in PyTorch. The values are computed with PyTorch's
    step-by-step form, so they match it to rounding.

    Args:
        optimizer: the optimizer to schedule.
        T_max: number of epochs from the initial rate to ``eta_min`` (a positive integer).
        eta_min: the lowest learning rate.
        last_epoch: see ``LRScheduler``.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        _check_positive_int(type(self).__name__, "T_max", T_max)
        _check_number(type(self).__name__, "eta_min", eta_min)
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        epoch, period, eta_min = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._current_lrs()
        if (epoch - 1 - period) % (2 * period) == 0:
            # The previous epoch sat at the bottom (lr == eta_min), where the ratio below
            # divides by zero: climb by the closed form's first increment instead.
            return [lr + (base_lr - eta_min) * (1 - math.cos(math.pi / period)) / 2
                    for base_lr, lr in zip(self.base_lrs, self._current_lrs(), strict=True)]
        ratio = (1 + math.cos(math.pi * epoch / period)) / (1 + math.cos(math.pi * (epoch - 1) / period))
        return [ratio * (lr - eta_min) + eta_min for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        return [self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base_lr in self.base_lrs]


class LambdaLR(LRScheduler):
    """Set the learning rate to ``initial_lr * lr_lambda(epoch)``.

    Args:
        optimizer: the optimizer to schedule.
        lr_lambda: a function of the epoch (an int) returning the factor, or a list of such
            functions, one per parameter group.
        last_epoch: see ``LRScheduler``.

    Raises:
        TypeError: if ``lr_lambda`` is neither callable nor a list of callables.
        ValueError: if the list does not have one function per parameter group.

    The functions are not part of ``state_dict()`` (they are code, not state): build the
    scheduler with the same functions, then load the state. As in PyTorch, the attributes
    of a callable object that is not a plain function (``vars(obj)``) are saved under
    ``"lr_lambdas"`` (``None`` for a function) and restored by ``load_state_dict()``.
    """

    def __init__(self, optimizer: Optimizer, lr_lambda, last_epoch: int = -1):
        name = type(self).__name__
        groups = len(getattr(optimizer, "param_groups", ()))
        lambdas = list(lr_lambda) if isinstance(lr_lambda, list | tuple) else [lr_lambda] * groups
        if not all(callable(f) for f in lambdas):
            raise TypeError(f"{name}: lr_lambda must be a function of the epoch (or a list of them, one per "
                            f"parameter group), got {lr_lambda!r}")
        if len(lambdas) != groups:
            raise ValueError(f"{name}: expected one lr_lambda per parameter group ({groups}), got {len(lambdas)}")
        self.lr_lambdas = lambdas
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base_lr * f(self.last_epoch) for f, base_lr in zip(self.lr_lambdas, self.base_lrs, strict=True)]

    def state_dict(self) -> dict:
        state = super().state_dict()
        state["lr_lambdas"] = [None if isinstance(f, types.FunctionType) else dict(vars(f)) if hasattr(f, "__dict__")
                               else None for f in self.lr_lambdas]
        return state

    def load_state_dict(self, state_dict: Mapping) -> None:
        state = dict(state_dict) if isinstance(state_dict, Mapping) else state_dict
        saved = state.pop("lr_lambdas", None) if isinstance(state, dict) else None  # (absent from older states)
        super().load_state_dict(state)
        for f, attributes in zip(self.lr_lambdas, saved or (), strict=False):
            if attributes is not None:
                vars(f).update(attributes)

    def _state_keys(self) -> set:
        return super()._state_keys() - {"lr_lambdas"}


class MultiStepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` at each of the ``milestones`` epochs.

    Args:
        optimizer: the optimizer to schedule.
        milestones: the epochs (non-negative integers) at which to decay; an epoch listed
            ``n`` times decays by ``gamma ** n``, as in PyTorch.
        gamma: the factor applied at each milestone.
        last_epoch: see ``LRScheduler``.

    Raises:
        ValueError: if a milestone is not a non-negative integer, or ``gamma`` is not > 0.

    ``lr = initial_lr * gamma ** (number of milestones <= epoch)``.
    """

    def __init__(self, optimizer: Optimizer, milestones, gamma: float = 0.1, last_epoch: int = -1):
        name = type(self).__name__
        milestones = list(milestones)
        for milestone in milestones:
            if isinstance(milestone, bool) or not isinstance(milestone, numbers.Integral) or milestone < 0:
                raise ValueError(f"{name}: milestones must be epochs (integers >= 0), got {milestone!r}")
        _check_gamma(name, gamma)
        self.milestones, self.gamma = sorted(int(m) for m in milestones), gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        hits = self.milestones.count(self.last_epoch)
        if not hits:
            return self._current_lrs()
        return [lr * self.gamma**hits for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        return [base_lr * self.gamma ** bisect_right(self.milestones, self.last_epoch) for base_lr in self.base_lrs]

    def load_state_dict(self, state_dict: Mapping) -> None:
        """Restore a state from ``state_dict()``, or from PyTorch's MultiStepLR, whose
        ``milestones`` are a ``Counter`` (epoch -> how many times it is listed)."""
        state = dict(state_dict) if isinstance(state_dict, Mapping) else state_dict
        if isinstance(state, dict) and isinstance(state.get("milestones"), Mapping):
            state["milestones"] = sorted(int(epoch) for epoch, times in state["milestones"].items()
                                         for _ in range(times))
        super().load_state_dict(state)


class MultiplicativeLR(LambdaLR):
    """Multiply the learning rate by ``lr_lambda(epoch)`` at every epoch after the first
    (``torch.optim.lr_scheduler.MultiplicativeLR``): the factors compound.

    Args:
        optimizer: the optimizer to schedule.
        lr_lambda: a function of the epoch returning the factor, or one per parameter group.
        last_epoch: see ``LRScheduler``.
    """

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return self._current_lrs()
        return [lr * f(self.last_epoch) for f, lr in zip(self.lr_lambdas, self._current_lrs(), strict=True)]


class LinearLR(LRScheduler):
    """Scale the learning rate by a factor going linearly from ``start_factor`` to
    ``end_factor`` over ``total_iters`` epochs, then keep it (a warm-up, as
    ``torch.optim.lr_scheduler.LinearLR``, with PyTorch's step-by-step form).

    Args:
        optimizer: the optimizer to schedule.
        start_factor: the factor at epoch 0, in (0, 1].
        end_factor: the factor from epoch ``total_iters`` on, in [0, 1].
        total_iters: number of epochs of the ramp.
        last_epoch: see ``LRScheduler``.
    """

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1):
        name = type(self).__name__
        if not 0 < start_factor <= 1 or not 0 <= end_factor <= 1:
            raise ValueError(f"{name}: start_factor must be in (0, 1] and end_factor in [0, 1], got "
                             f"{start_factor!r} and {end_factor!r}")
        _check_positive_int(name, "total_iters", total_iters)
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in self._current_lrs()]
        # (resuming with last_epoch >= 0, the constructor's step keeps the rates, as in PyTorch)
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._current_lrs()
        change = self.end_factor - self.start_factor
        factor = 1.0 + change / (self.total_iters * self.start_factor + (self.last_epoch - 1) * change)
        return [lr * factor for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        change = self.end_factor - self.start_factor
        return [base_lr * (self.start_factor + change * min(self.total_iters, self.last_epoch) / self.total_iters)
                for base_lr in self.base_lrs]


class ConstantLR(LRScheduler):
    """Scale the learning rate by ``factor`` for the first ``total_iters`` epochs, then
    restore it (``torch.optim.lr_scheduler.ConstantLR``).

    Args:
        optimizer: the optimizer to schedule.
        factor: the factor, in (0, 1].
        total_iters: number of epochs at the reduced rate.
        last_epoch: see ``LRScheduler``.
    """

    def __init__(self, optimizer: Optimizer, factor: float = 1.0 / 3, total_iters: int = 5, last_epoch: int = -1):
        if not 0 < factor <= 1:
            raise ValueError(f"{type(self).__name__}: factor must be in (0, 1], got {factor!r}")
        _check_positive_int(type(self).__name__, "total_iters", total_iters)
        self.factor, self.total_iters = factor, total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return [lr * self.factor for lr in self._current_lrs()]
        if self.last_epoch != self.total_iters:
            return self._current_lrs()
        return [lr * (1.0 / self.factor) for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        return [base_lr * (self.factor + (self.last_epoch >= self.total_iters) * (1 - self.factor))
                for base_lr in self.base_lrs]


class PolynomialLR(LRScheduler):
    """Decay the learning rate as ``initial_lr * (1 - epoch / total_iters) ** power``,
    reaching 0 at ``total_iters`` (``torch.optim.lr_scheduler.PolynomialLR``, its
    step-by-step form).

    Args:
        optimizer: the optimizer to schedule.
        total_iters: number of epochs of the decay.
        power: the polynomial's power (1: linear).
        last_epoch: see ``LRScheduler``.
    """

    def __init__(self, optimizer: Optimizer, total_iters: int = 5, power: float = 1.0, last_epoch: int = -1):
        _check_positive_int(type(self).__name__, "total_iters", total_iters)
        _check_number(type(self).__name__, "power", power)
        self.total_iters, self.power = total_iters, power
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._current_lrs()
        factor = ((1.0 - self.last_epoch / self.total_iters) / (1.0 - (self.last_epoch - 1) / self.total_iters))
        return [lr * factor**self.power for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        return [base_lr * (1.0 - min(self.total_iters, self.last_epoch) / self.total_iters) ** self.power
                for base_lr in self.base_lrs]


class CosineAnnealingWarmRestarts(LRScheduler):
    """Cosine annealing from ``initial_lr`` to ``eta_min`` over ``T_0`` epochs, then a
    restart at ``initial_lr``, each period ``T_mult`` times longer than the one before
    (SGDR; ``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts``):

        lr = eta_min + (initial_lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2

    ``step()`` moves one epoch; ``step(epoch)`` jumps to ``epoch``, which may be
    fractional (``scheduler.step(epoch + batch / batches)`` inside an epoch).

    Args:
        optimizer: the optimizer to schedule.
        T_0: number of epochs of the first period (a positive integer).
        T_mult: each period's length over the previous one's (an integer >= 1).
        eta_min: the lowest learning rate.
        last_epoch: see ``LRScheduler``.
    """

    def __init__(self, optimizer: Optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0,
                 last_epoch: int = -1):
        name = type(self).__name__
        _check_positive_int(name, "T_0", T_0)
        _check_positive_int(name, "T_mult", T_mult)
        _check_number(name, "eta_min", eta_min)
        self.T_0, self.T_i, self.T_mult, self.eta_min, self.T_cur = T_0, T_0, T_mult, eta_min, last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
                for base_lr in self.base_lrs]

    @replayed
    def step(self, epoch=None) -> None:
        """Move one epoch on, or to ``epoch`` (a number >= 0, possibly fractional)."""
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur += 1
            if self.T_cur >= self.T_i:
                self.T_cur, self.T_i = self.T_cur % self.T_i, self.T_i * self.T_mult
        else:
            if isinstance(epoch, bool) or not isinstance(epoch, numbers.Real) or not epoch >= 0:
                raise ValueError(f"{type(self).__name__}.step: epoch must be a number >= 0, got {epoch!r}")
            if epoch < self.T_0:
                self.T_i, self.T_cur = self.T_0, epoch
            elif self.T_mult == 1:
                self.T_cur = epoch % self.T_0
            else:  # the period that epoch falls in: T_0 (1 + T_mult + ... + T_mult**(n-1)) <= epoch
                n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
                # The logarithm rounds (math.log(243, 3) is 4.999...): at a restart epoch it would
                # give the previous period, whose end is eta_min, instead of the new one's start (as
                # PyTorch does there). Settle n on the exact (integer) period starts.
                while self._period_start(n + 1) <= epoch:
                    n += 1
                while n > 0 and self._period_start(n) > epoch:
                    n -= 1
                self.T_cur = epoch - self._period_start(n)
                self.T_i = self.T_0 * self.T_mult**n
        self.last_epoch = math.floor(epoch)
        self._set_lrs(self._scheduled_lrs())

    def _period_start(self, n: int) -> int:
        """The epoch at which period ``n`` (from 0) starts: ``T_0 (1 + T_mult + ... + T_mult**(n-1))``."""
        return self.T_0 * (self.T_mult**n - 1) // (self.T_mult - 1)


class ReduceLROnPlateau(LRScheduler):
    """Multiply the learning rate by ``factor`` when a metric has stopped improving for
    ``patience`` epochs; call ``step(metric)`` once per epoch with, e.g., the validation loss.

    Args:
        optimizer: the optimizer to schedule.
        mode: ``"min"`` (the metric should fall, e.g. a loss) or ``"max"`` (it should rise).
        factor: the factor applied at each reduction (a number in [0, 1)).
        patience: the number of epochs without improvement tolerated; the next one reduces.
        threshold: how much better than the best so far a metric must be to count as improved.
        threshold_mode: ``"rel"`` (better than ``best * (1 -+ threshold)``) or ``"abs"``
            (better than ``best -+ threshold``).
        cooldown: the number of epochs after a reduction during which bad epochs are not counted.
        min_lr: a lower bound on the learning rate: one number, or a list with one per group.
        eps: a reduction smaller than ``eps`` is skipped.

    Raises:
        ValueError: on an unknown ``mode`` or ``threshold_mode``, ``factor`` outside [0, 1),
            a negative count or a ``min_lr`` list of the wrong length.

    As in PyTorch it keeps ``best``, ``num_bad_epochs`` and ``cooldown_counter``, and
    ``last_epoch`` counts the calls to ``step``.
    """

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0, min_lr=0.0,
                 eps: float = 1e-8):
        name = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{name}: expected an optimizer such as mg.optim.SGD(...), got {type(optimizer).__name__}")
        if mode not in ("min", "max"):
            raise ValueError(f"{name}: mode must be 'min' (the metric should fall) or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"{name}: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        _check_number(name, "factor", factor, high=1, hint="the learning rate is multiplied by it, e.g. 0.1")
        for option, value in (("patience", patience), ("cooldown", cooldown)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
                raise ValueError(f"{name}: {option} must be an integer >= 0 (a number of epochs), got {value!r}")
        _check_number(name, "threshold", threshold)
        _check_number(name, "eps", eps)
        groups = len(optimizer.param_groups)
        if isinstance(min_lr, list | tuple):
            if len(min_lr) != groups:
                raise ValueError(f"{name}: expected one min_lr per parameter group ({groups}), got {len(min_lr)}")
            min_lrs, self.default_min_lr = list(min_lr), None
        else:
            min_lrs, self.default_min_lr = [min_lr] * groups, min_lr
        for value in min_lrs:
            _check_number(name, "min_lr", value)
        self.optimizer = optimizer
        self.mode, self.factor, self.patience, self.threshold = mode, factor, patience, threshold
        self.threshold_mode, self.cooldown, self.min_lrs, self.eps = threshold_mode, cooldown, min_lrs, eps
        self.last_epoch = 0
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = self.cooldown_counter = 0
        self._last_lr = self._current_lrs()

    def _match_groups(self) -> None:
        """As PyTorch, when parameter groups were added since: one ``min_lr`` given as a number
        applies to them too; a list (one per group) cannot say what theirs is."""
        groups = len(self.optimizer.param_groups)
        if groups != len(self.min_lrs):
            default = getattr(self, "default_min_lr", None)
            if default is None:
                raise RuntimeError(
                    f"The number of param groups in the `optimizer` ({groups}) differs from when "
                    f"`ReduceLROnPlateau` was initialized ({len(self.min_lrs)}), usually due to a new param group "
                    "being added to the optimizer. Please modify the `min_lrs` field to match the length of the "
                    "`optimizer` param groups."
                )
            self.min_lrs = [default] * groups

    def _state_keys(self) -> set:
        return super()._state_keys() - {"default_min_lr"}  # (absent from states saved before it existed)

    def _is_better(self, metric: float) -> bool:
        sign = 1 if self.mode == "max" else -1
        if self.threshold_mode == "rel":
            return sign * metric > sign * self.best * (1 + sign * self.threshold)
        return sign * metric > sign * self.best + self.threshold

    @replayed
    def step(self, metrics, epoch=None) -> None:
        """End an epoch whose monitored metric was ``metrics`` (a number or 0-d tensor);
        ``epoch`` (deprecated in PyTorch, and warned about as there) sets its number."""
        current = float(metrics)
        if epoch is None:
            self.last_epoch += 1
        else:
            warnings.warn(_EPOCH_DEPRECATION, UserWarning, stacklevel=3)
            self.last_epoch = epoch
        if self._is_better(current):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in the cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._match_groups()
            for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs, strict=True):
                new_lr = max(group["lr"] * self.factor, min_lr)
                if group["lr"] - new_lr > self.eps:
                    group["lr"] = new_lr
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = self._current_lrs()


class OneCycleLR(LRScheduler):
    """The 1cycle policy: the learning rate climbs from ``max_lr / div_factor`` to ``max_lr``
    over the first ``pct_start`` of ``total_steps``, then anneals down to
    ``max_lr / div_factor / final_div_factor``; the momentum moves the opposite way
    between ``max_momentum`` and ``base_momentum``. Call ``step()`` after every batch.

    Args:
        optimizer: the optimizer to schedule.
        max_lr: the peak learning rate: one number, or a list with one per group.
        total_steps: the number of steps of the cycle; or give ``epochs`` and ``steps_per_epoch``.
        epochs: with ``steps_per_epoch``, makes ``total_steps = epochs * steps_per_epoch``.
        steps_per_epoch: see ``epochs``.
        pct_start: the fraction of the cycle spent climbing (a number in [0, 1]).
        anneal_strategy: ``"cos"`` (cosine annealing) or ``"linear"``.
        cycle_momentum: also cycle the momentum: SGD's ``momentum``, or ``betas[0]`` of Adam
            and the optimizers with ``betas``.
        base_momentum: the momentum at the peak learning rate (a number or a list per group).
        max_momentum: the momentum at the start and end of the cycle (a number or a list).
        div_factor: ``initial_lr = max_lr / div_factor``.
        final_div_factor: ``min_lr = initial_lr / final_div_factor``.
        three_phase: climb, come back down to ``initial_lr`` symmetrically, then anneal to
            ``min_lr`` (the original paper) instead of two phases (fastai's default).
        last_epoch: the number of steps already done (resuming needs ``initial_lr``,
            ``max_lr`` and ``min_lr`` in every group, from a loaded optimizer state).

    Raises:
        ValueError: if the cycle's length is not given or not a positive integer, on a bad
            ``pct_start`` or ``anneal_strategy``, if ``cycle_momentum`` is set for an
            optimizer without momentum, or when stepping past ``total_steps``.

    The values are computed as in PyTorch, so they match it to rounding.
    """

    def __init__(self, optimizer: Optimizer, max_lr, total_steps: int | None = None, epochs: int | None = None,
                 steps_per_epoch: int | None = None, pct_start: float = 0.3, anneal_strategy: str = "cos",
                 cycle_momentum: bool = True, base_momentum=0.85, max_momentum=0.95, div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False, last_epoch: int = -1):
        name = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{name}: expected an optimizer such as mg.optim.SGD(...), got {type(optimizer).__name__}")
        if total_steps is not None:
            _check_positive_int(name, "total_steps", total_steps)
        elif epochs is not None and steps_per_epoch is not None:
            _check_positive_int(name, "epochs", epochs)
            _check_positive_int(name, "steps_per_epoch", steps_per_epoch)
            total_steps = epochs * steps_per_epoch
        else:
            raise ValueError(f"{name}: give the cycle's length as total_steps, or as epochs and steps_per_epoch")
        _check_number(name, "pct_start", pct_start, high=1, high_included=True)
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"{name}: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        for option, value in (("div_factor", div_factor), ("final_div_factor", final_div_factor)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
                raise ValueError(f"{name}: {option} must be a number > 0, got {value!r}")
        self.total_steps, self.anneal_strategy, self.cycle_momentum = int(total_steps), anneal_strategy, cycle_momentum
        climb = float(pct_start * total_steps) - 1
        self.phases = ([(climb, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                        (float(2 * pct_start * total_steps) - 2, "max_lr", "initial_lr", "base_momentum",
                         "max_momentum"),
                        (total_steps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum")]
                       if three_phase else
                       [(climb, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                        (total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")])
        if last_epoch == -1:
            for group, peak in zip(optimizer.param_groups, _per_group(name, "max_lr", optimizer, max_lr), strict=True):
                group["initial_lr"] = peak / div_factor
                group["max_lr"] = peak
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.use_beta1 = "betas" in optimizer.defaults
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and not self.use_beta1:
                raise ValueError(f"{name}: cycle_momentum=True needs an optimizer with momentum (SGD) or betas "
                                 f"(Adam), and {type(optimizer).__name__} has neither; pass cycle_momentum=False")
            if last_epoch == -1:
                for group, top, bottom in zip(optimizer.param_groups,
                                              _per_group(name, "max_momentum", optimizer, max_momentum),
                                              _per_group(name, "base_momentum", optimizer, base_momentum),
                                              strict=True):
                    self._set_momentum(group, top)
                    group["max_momentum"], group["base_momentum"] = top, bottom
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group: dict, momentum: float) -> None:
        _set_momentum(group, momentum, self.use_beta1)

    def _state_keys(self) -> set:
        return super()._state_keys() - {"use_beta1"}  # (PyTorch saves it only with cycle_momentum)

    def load_state_dict(self, state_dict: Mapping) -> None:
        """Restore a state from ``state_dict()``, or from PyTorch's OneCycleLR, whose phases are
        dicts under ``"_schedule_phases"`` and whose ``anneal_strategy`` is ``"_anneal_func_type"``."""
        state = dict(state_dict) if isinstance(state_dict, Mapping) else state_dict
        if isinstance(state, dict) and "_schedule_phases" in state:
            state["phases"] = [tuple(phase[key] for key in ("end_step", "start_lr", "end_lr", "start_momentum",
                                                             "end_momentum"))
                               for phase in state.pop("_schedule_phases")]
            state["anneal_strategy"] = state.pop("_anneal_func_type", self.anneal_strategy)
        super().load_state_dict(state)

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[float]:
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"{type(self).__name__}: stepped {step} times, past total_steps={self.total_steps}; "
                             "make total_steps (or epochs * steps_per_epoch) cover the whole training")
        lrs = []
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, (end_step, start_lr, end_lr, start_momentum, end_momentum) in enumerate(self.phases):
                if step <= end_step or i == len(self.phases) - 1:
                    pct = (step - start_step) / (end_step - start_step)
                    lrs.append(self._anneal(group[start_lr], group[end_lr], pct))
                    if self.cycle_momentum:
                        self._set_momentum(group, self._anneal(group[start_momentum], group[end_momentum], pct))
                    break
                start_step = end_step
        return lrs


def _per_group(owner: str, option: str, optimizer: Optimizer, value) -> list:
    """``value`` for every parameter group: one number for all, or a list with one per group."""
    groups = len(optimizer.param_groups)
    if isinstance(value, list | tuple):
        if len(value) != groups:
            raise ValueError(f"{owner}: expected one {option} per parameter group ({groups}), got {len(value)}")
        return list(value)
    return [value] * groups


def _check_positive_int(owner: str, option: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{owner}: {option} must be a positive integer (a number of epochs), got {value!r}")


def _check_gamma(owner: str, gamma) -> None:
    if isinstance(gamma, bool) or not isinstance(gamma, numbers.Real) or not gamma > 0:
        raise ValueError(f"{owner}: gamma must be a number > 0 (the factor applied to the learning rate, "
                         f"e.g. 0.1), got {gamma!r}")


class CyclicLR(LRScheduler):
    """Cycle the learning rate between ``base_lr`` and ``max_lr`` (cyclical learning rates,
    Smith 2017; ``torch.optim.lr_scheduler.CyclicLR``); the momentum moves the opposite way
    between ``max_momentum`` and ``base_momentum``. Call ``step()`` after every batch.

    Args:
        optimizer: the optimizer to schedule.
        base_lr: the lower bound of the cycle: one number, or a list with one per group.
            It becomes each group's ``lr`` at construction.
        max_lr: the upper bound of the cycle (a number or a list); with a ``scale_fn`` or
            ``mode`` other than ``"triangular"`` it may not be reached.
        step_size_up: number of steps of the rising half of a cycle.
        step_size_down: number of steps of the falling half (default: ``step_size_up``; 0 drops
            the rate back to ``base_lr`` at once).
        mode: ``"triangular"`` (constant amplitude), ``"triangular2"`` (the amplitude halves
            every cycle) or ``"exp_range"`` (it is scaled by ``gamma ** step``); ignored
            when ``scale_fn`` is given.
        gamma: the factor of ``"exp_range"``.
        scale_fn: a custom amplitude scale, a function of one number with values in [0, 1].
        scale_mode: what ``scale_fn`` is applied to: ``"cycle"`` (the cycle number, from 1)
            or ``"iterations"`` (the step number).
        cycle_momentum: also cycle the momentum: SGD's (and RMSprop's) ``momentum``, or
            ``betas[0]`` of Adam and the optimizers with ``betas``.
        base_momentum: the momentum at the peak learning rate (a number or a list).
        max_momentum: the momentum at the start of a cycle (a number or a list); it becomes
            each group's momentum at construction.
        last_epoch: the number of steps already done (resuming).

    Raises:
        ValueError: on an unknown ``mode`` without ``scale_fn``, an unknown ``scale_mode``,
            a ``step_size_up`` that is not > 0 or a negative ``step_size_down``, lists of the
            wrong length, or ``cycle_momentum`` with an optimizer that has neither momentum nor betas.

    With ``x`` the position in the cycle, ``lr = base_lr + (max_lr - base_lr) * h(x) *
    scale``, ``h`` rising from 0 to 1 over ``step_size_up`` steps and back over
    ``step_size_down``. A ``scale_fn`` that is a function is not part of ``state_dict()``
    (a callable object's attributes are, as in PyTorch).
    """

    def __init__(self, optimizer: Optimizer, base_lr, max_lr, step_size_up: int = 2000,
                 step_size_down: int | None = None, mode: str = "triangular", gamma: float = 1.0,
                 scale_fn: Callable[[float], float] | None = None, scale_mode: str = "cycle",
                 cycle_momentum: bool = True, base_momentum=0.8, max_momentum=0.9, last_epoch: int = -1):
        name = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{name}: expected an optimizer such as mg.optim.SGD(...), got {type(optimizer).__name__}")
        base_lrs = _per_group(name, "base_lr", optimizer, base_lr)
        max_lrs = _per_group(name, "max_lr", optimizer, max_lr)
        for option, values in (("base_lr", base_lrs), ("max_lr", max_lrs)):
            for value in values:
                _check_number(name, option, value)
        if isinstance(step_size_up, bool) or not isinstance(step_size_up, numbers.Real) or not step_size_up > 0:
            raise ValueError(f"{name}: step_size_up must be a number of steps > 0, got {step_size_up!r}")
        # step_size_down may be 0 (as in PyTorch): the rate climbs, then drops back at once (a sawtooth)
        if step_size_down is not None and (isinstance(step_size_down, bool)
                                           or not isinstance(step_size_down, numbers.Real) or not step_size_down >= 0):
            raise ValueError(f"{name}: step_size_down must be a number of steps >= 0, got {step_size_down!r}")
        if scale_fn is None and mode not in ("triangular", "triangular2", "exp_range"):
            raise ValueError(f"{name}: mode must be 'triangular', 'triangular2' or 'exp_range' (or give scale_fn), "
                             f"got {mode!r}")
        if scale_fn is not None and not callable(scale_fn):
            raise TypeError(f"{name}: scale_fn must be a function of one number, got {scale_fn!r}")
        if scale_mode not in ("cycle", "iterations"):
            raise ValueError(f"{name}: scale_mode must be 'cycle' or 'iterations', got {scale_mode!r}")
        _check_gamma(name, gamma)
        self.optimizer = optimizer
        if last_epoch == -1:
            for lr, group in zip(base_lrs, optimizer.param_groups, strict=True):
                group["lr"] = lr
        self.max_lrs = max_lrs
        step_size_up = float(step_size_up)
        step_size_down = float(step_size_down) if step_size_down is not None else step_size_up
        self.total_size = step_size_up + step_size_down
        self.step_ratio = step_size_up / self.total_size
        self.mode, self.gamma, self._scale_fn_custom, self.scale_mode = mode, gamma, scale_fn, scale_mode
        self._init_scale_mode()
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(f"{name}: cycle_momentum=True needs an optimizer with momentum (SGD) or betas "
                                 f"(Adam), and {type(optimizer).__name__} has neither; pass cycle_momentum=False")
            self.use_beta1 = "betas" in optimizer.defaults
            self.base_momentums = _per_group(name, "base_momentum", optimizer, base_momentum)
            self.max_momentums = _per_group(name, "max_momentum", optimizer, max_momentum)
            if last_epoch == -1:
                for top, bottom, group in zip(self.max_momentums, self.base_momentums, optimizer.param_groups,
                                              strict=True):
                    _set_momentum(group, top, self.use_beta1)
                    group["max_momentum"], group["base_momentum"] = top, bottom
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def _init_scale_mode(self) -> None:
        if self._scale_fn_custom is None:  # the built-in modes fix what their scale applies to
            self.scale_mode = "iterations" if self.mode == "exp_range" else "cycle"

    def scale_fn(self, x: float) -> float:
        """The amplitude's scale at ``x`` (a cycle number or a step, see ``scale_mode``)."""
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        if self.mode == "exp_range":
            return self.gamma**x
        return 1.0

    def get_lr(self) -> list[float]:
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle
        scale_factor = x / self.step_ratio if x <= self.step_ratio else (x - 1) / (self.step_ratio - 1)
        scale = self.scale_fn(cycle if self.scale_mode == "cycle" else self.last_epoch)
        lrs = [base_lr + (max_lr - base_lr) * scale_factor * scale
               for base_lr, max_lr in zip(self.base_lrs, self.max_lrs, strict=True)]
        if self.cycle_momentum:
            for group, bottom, top in zip(self.optimizer.param_groups, self.base_momentums, self.max_momentums,
                                          strict=True):
                _set_momentum(group, top - (top - bottom) * scale_factor * scale, self.use_beta1)
        return lrs

    def state_dict(self) -> dict:
        state = super().state_dict()
        fn = state.pop("_scale_fn_custom")
        state["_scale_fn_custom"] = None
        if fn is not None and not isinstance(fn, types.FunctionType):
            state["_scale_fn_custom"] = dict(fn.__dict__)  # a callable object's settings, as PyTorch saves them
        return state

    def load_state_dict(self, state_dict: Mapping) -> None:
        state = dict(state_dict)
        fn = state.get("_scale_fn_custom")
        state["_scale_fn_custom"] = self._scale_fn_custom  # the function itself is code, not state
        super().load_state_dict(state)
        if fn is not None and self._scale_fn_custom is not None:
            self._scale_fn_custom.__dict__.update(fn)
        self._init_scale_mode()


class _SchedulerList(LRScheduler):
    """The checks and checkpoints of the schedulers made of other schedulers."""

    def _take(self, schedulers, optimizer: Optimizer | None) -> Optimizer:
        name = type(self).__name__
        if isinstance(schedulers, LRScheduler) or not isinstance(schedulers, list | tuple):
            raise TypeError(f"{name}: schedulers must be a list of schedulers, got {type(schedulers).__name__}")
        if len(schedulers) < 1:
            raise ValueError(f"{name} expects at least one scheduler, but got none")
        optimizer = optimizer or getattr(schedulers[0], "optimizer", None)
        for i, scheduler in enumerate(schedulers):
            if not isinstance(scheduler, LRScheduler):
                raise TypeError(f"{name}: the scheduler at index {i} is a {type(scheduler).__name__}, not a "
                                "learning-rate scheduler")
            if isinstance(scheduler, ReduceLROnPlateau):
                raise ValueError(f"{name} does not support ReduceLROnPlateau (at index {i}): its step() needs the "
                                 "metric; step it yourself after this one")
            if scheduler.optimizer is not optimizer:
                raise ValueError(f"{name} expects all schedulers to belong to the same optimizer, but the "
                                 f"{type(scheduler).__name__} at index {i} schedules another one")
        self._schedulers = list(schedulers)
        self.optimizer = optimizer
        return optimizer

    def state_dict(self) -> dict:
        """The settings and position, with each scheduler's ``state_dict()`` under ``"_schedulers"``."""
        state = {key: list(value) if isinstance(value, list) else value
                 for key, value in self.__dict__.items() if key not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [scheduler.state_dict() for scheduler in self._schedulers]
        return state

    def load_state_dict(self, state_dict: Mapping) -> None:
        """Restore a state from ``state_dict()``, the inner schedulers' too."""
        name = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"{name}: expected the dict returned by scheduler.state_dict(), got "
                            f"{type(state_dict).__name__}")
        inner, schedulers = state_dict.get("_schedulers"), self._schedulers
        if not isinstance(inner, list | tuple) or len(inner) != len(schedulers):
            raise ValueError(f"{name}: the state must hold {len(schedulers)} scheduler state(s) under "
                             "'_schedulers', as saved from a scheduler built from as many schedulers")
        super().load_state_dict(state_dict)
        self._schedulers = schedulers  # (the line above set it to the inner states)
        for scheduler, state in zip(schedulers, inner, strict=True):
            scheduler.load_state_dict(state)


class SequentialLR(_SchedulerList):
    """Run schedulers one after another, switching at the ``milestones`` epochs
    (``torch.optim.lr_scheduler.SequentialLR``), e.g. a warm-up then a decay:

        warmup = LinearLR(opt, start_factor=0.1, total_iters=5)
        decay = CosineAnnealingLR(opt, T_max=95)
        scheduler = SequentialLR(opt, [warmup, decay], milestones=[5])

    Args:
        optimizer: the optimizer all the schedulers schedule.
        schedulers: the schedulers, in order (not ``ReduceLROnPlateau``).
        milestones: the epochs at which the next scheduler takes over (one fewer than the
            schedulers, non-decreasing integers >= 0); at a milestone that scheduler restarts at
            its epoch 0, from its base learning rates.
        last_epoch: see ``LRScheduler``.

    Raises:
        TypeError: if ``schedulers`` is not a list of schedulers.
        ValueError: on an empty list, a scheduler of another optimizer or a
            ``ReduceLROnPlateau``, or milestones that are not one fewer than the schedulers.

    As in PyTorch, the construction undoes the schedulers' first steps, sets every group's
    ``lr`` back to its ``initial_lr`` and starts the first scheduler again.
    """

    def __init__(self, optimizer: Optimizer, schedulers, milestones, last_epoch: int = -1):
        name = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{name}: expected an optimizer such as mg.optim.SGD(...), got {type(optimizer).__name__}")
        self._take(schedulers, optimizer)
        milestones = list(milestones)
        if len(milestones) != len(self._schedulers) - 1:
            raise ValueError(f"{name} expects one milestone fewer than schedulers, but got {len(self._schedulers)} "
                             f"scheduler(s) and {len(milestones)} milestone(s)")
        for milestone in milestones:
            if isinstance(milestone, bool) or not isinstance(milestone, numbers.Integral) or milestone < 0:
                raise ValueError(f"{name}: milestones must be epochs (integers >= 0), got {milestone!r}")
        if milestones != sorted(milestones):
            raise ValueError(f"{name}: milestones must be in increasing order, got {milestones}")
        for i, scheduler in enumerate(self._schedulers[1:], start=1):
            # (PyTorch accepts them and fails at the milestone, with a bare NotImplementedError)
            if isinstance(scheduler, _SchedulerList):
                raise ValueError(
                    f"{name}: the {type(scheduler).__name__} at index {i} cannot be restarted at its milestone "
                    f"(it has no schedule of its own); list its schedulers in this {name} instead, "
                    "or make it the first one"
                )
        if isinstance(last_epoch, bool) or not isinstance(last_epoch, numbers.Integral) or last_epoch < -1:
            raise ValueError(f"{name}: last_epoch must be an integer >= -1, got {last_epoch!r}")
        self._milestones = [int(m) for m in milestones]
        self.last_epoch = int(last_epoch) + 1
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        self._undo_first_steps(self)
        first = self._schedulers[bisect_right(self._milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    @classmethod
    def _undo_first_steps(cls, scheduler) -> None:
        """Take back the step each scheduler (and scheduler inside one) made when built."""
        for inner in getattr(scheduler, "_schedulers", ()):
            if hasattr(inner, "_schedulers"):
                cls._undo_first_steps(inner)
            else:
                inner.last_epoch -= 1

    @replayed
    def step(self) -> None:
        """Move to the next epoch: step the current scheduler, or restart the next one at a milestone."""
        self.last_epoch += 1
        index = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[index]
        if index > 0 and self._milestones[index - 1] == self.last_epoch:
            scheduler._update_lr(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()


class ChainedScheduler(_SchedulerList):
    """Step several schedulers together, each applying its change to the learning rate the
    others left (``torch.optim.lr_scheduler.ChainedScheduler``), e.g. a constant warm-up
    factor times an exponential decay.

    Args:
        schedulers: the schedulers (not ``ReduceLROnPlateau``), all of one optimizer.
        optimizer: that optimizer (default: the first scheduler's).

    Raises:
        TypeError: if ``schedulers`` is not a list of schedulers.
        ValueError: on an empty list, a ``ReduceLROnPlateau``, or schedulers of different
            optimizers.
    """

    def __init__(self, schedulers, optimizer: Optimizer | None = None):
        if optimizer is not None and not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected an optimizer such as mg.optim.SGD(...), got "
                            f"{type(optimizer).__name__}")
        self._take(schedulers, optimizer)
        self._last_lr = self._current_lrs()

    @replayed
    def step(self) -> None:
        """Step every scheduler, in order."""
        for scheduler in self._schedulers:
            scheduler.step()
        self._last_lr = self._current_lrs()


def _set_momentum(group: dict, momentum: float, use_beta1: bool) -> None:
    """Set a group's momentum: ``betas[0]`` for the optimizers with betas, else ``momentum``."""
    if use_beta1:
        group["betas"] = (momentum, *group["betas"][1:])
    else:
        group["momentum"] = momentum
