"""Learning-rate schedules, as ``torch.optim.lr_scheduler``: call ``scheduler.step()`` once per
epoch, after ``optimizer.step()``."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

from microgradnp.autograd.grad_mode import replayed
from microgradnp.optim.optimizer import Optimizer, _check_number

__all__ = ["CosineAnnealingLR", "ExponentialLR", "LRScheduler", "StepLR"]


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
        self._step_count = 0
        self._initial = True
        self.step()
        self._initial = False

    def get_lr(self) -> list[float]:
        """The learning rate of every parameter group for ``last_epoch`` (called by ``step``)."""
        raise NotImplementedError(f"{type(self).__name__} must define get_lr()")

    @replayed
    def step(self) -> None:
        """Move to the next epoch and set the optimizer's learning rates for it."""
        self._step_count += 1
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr(), strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The learning rates the last ``step()`` set, one per parameter group."""
        return list(self._last_lr)

    def _current_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        """The scheduler's settings and position (everything but the optimizer), JSON-friendly."""
        return {key: list(value) if isinstance(value, list) else value
                for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict: Mapping) -> None:
        """Restore a state from ``state_dict()``; it must come from the same kind of scheduler."""
        name = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"{name}: expected the dict returned by scheduler.state_dict(), got "
                            f"{type(state_dict).__name__}")
        missing = sorted(set(self.state_dict()) - set(state_dict))
        if missing:
            raise ValueError(f"{name}: the state lacks {missing}; was it saved from another kind of scheduler?")
        for key, value in state_dict.items():
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
        if self._initial:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]


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
        if self._initial:
            return self._current_lrs()
        if (epoch - 1 - period) % (2 * period) == 0:
            # The previous epoch sat at the bottom (lr == eta_min), where the ratio below
            # divides by zero: climb by the closed form's first increment instead.
            return [lr + (base_lr - eta_min) * (1 - math.cos(math.pi / period)) / 2
                    for base_lr, lr in zip(self.base_lrs, self._current_lrs(), strict=True)]
        ratio = (1 + math.cos(math.pi * epoch / period)) / (1 + math.cos(math.pi * (epoch - 1) / period))
        return [ratio * (lr - eta_min) + eta_min for lr in self._current_lrs()]


def _check_positive_int(owner: str, option: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{owner}: {option} must be a positive integer (a number of epochs), got {value!r}")


def _check_gamma(owner: str, gamma) -> None:
    if isinstance(gamma, bool) or not isinstance(gamma, numbers.Real) or not gamma > 0:
        raise ValueError(f"{owner}: gamma must be a number > 0 (the factor applied to the learning rate, "
                         f"e.g. 0.1), got {gamma!r}")
