"""Adadelta: steps scaled by the ratio of running root-mean-squares of past steps and gradients."""

from __future__ import annotations

import numpy as np

from microgradnp.optim.optimizer import EPS_HINT, LR_HINT, Optimizer, as_scalar

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    """Adadelta (Zeiler, 2012), as ``torch.optim.Adadelta``.

    Args:
        params: Tensors to optimize (``model.parameters()``) or parameter-group dicts.
        lr: a factor on the step (the method itself needs none: 1.0).
        rho: the decay rate of the running averages, in [0, 1].
        eps: added inside the square roots so that they never are zero.
        weight_decay: L2 penalty added to the gradient as ``weight_decay * p``.
        maximize: ascend the objective instead of descending it (keyword-only, as in PyTorch).

    Update, with ``g`` the (decayed, maximize-signed) gradient:

        v = rho * v + (1 - rho) * g**2
        d = sqrt(u + eps) / sqrt(v + eps) * g
        u = rho * u + (1 - rho) * d**2
        p -= lr * d
    """

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0,
                 foreach: bool | None = None, *, capturable: bool = False, maximize: bool = False,
                 differentiable: bool = False):
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, foreach=foreach, capturable=capturable,
                        maximize=maximize, differentiable=differentiable)
        super().__init__(params, defaults)

    def _check_options(self, options: dict) -> None:
        self._check_number(options, "lr", hint=LR_HINT)
        self._check_number(options, "rho", high=1, high_included=True, hint="the decay rate, e.g. 0.9")
        self._check_number(options, "eps", hint=EPS_HINT)
        self._check_number(options, "weight_decay", hint="0 turns weight decay off")
        self._check_flags(options, "maximize")

    def _update(self, param, grad, state, group):
        rho, eps = group["rho"], group["eps"]
        grad = self._effective_grad(param, grad, group)
        state["step"] = state.get("step", 0) + 1
        square_avg = self._state_array(state, "square_avg", param)
        acc_delta = self._state_array(state, "acc_delta", param)
        square_avg *= rho
        square_avg += (1 - rho) * grad * grad
        delta = np.sqrt(acc_delta + eps) / np.sqrt(square_avg + eps) * grad
        acc_delta *= rho
        acc_delta += (1 - rho) * delta * delta
        param -= as_scalar(group["lr"], param) * delta
