"""Adagrad: per-coordinate steps divided by the root of the summed squared gradients."""

from __future__ import annotations

import numpy as np

from microgradnp.optim.optimizer import LR_HINT, Optimizer, as_scalar

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad (Duchi et al., 2011), as ``torch.optim.Adagrad``.

    Args:
        params: Tensors to optimize (``model.parameters()``) or parameter-group dicts.
        lr: learning rate.
        lr_decay: the learning rate at step t is ``lr / (1 + (t - 1) * lr_decay)``.
        weight_decay: L2 penalty added to the gradient as ``weight_decay * p``.
        initial_accumulator_value: starting value of the sum of squared gradients.
        eps: added to the denominator so that it never is zero.
        maximize: ascend the objective instead of descending it (keyword-only, as in PyTorch).

    Update at step t, with ``g`` the (decayed, maximize-signed) gradient:

        s += g**2
        p -= lr / (1 + (t - 1) * lr_decay) * g / (sqrt(s) + eps)

    The accumulator ``s`` is created at a parameter's first step (PyTorch creates it in the
    constructor), from the constructor's ``initial_accumulator_value``: as in PyTorch, a
    parameter group's own ``initial_accumulator_value`` is kept in the group but not used.
    """

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False, fused: bool | None = None):
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)

    def _check_options(self, options: dict) -> None:
        self._check_number(options, "lr", hint=LR_HINT)
        self._check_number(options, "lr_decay", hint="0 keeps the learning rate constant")
        self._check_number(options, "weight_decay", hint="0 turns weight decay off")
        self._check_number(options, "initial_accumulator_value",
                           hint="it is the starting sum of squared gradients; 0 is the default")
        self._check_number(options, "eps", hint="eps keeps the denominator away from zero (e.g. 1e-10)")
        self._check_flags(options, "maximize")

    def _update(self, param, grad, state, group):
        grad = self._effective_grad(param, grad, group)
        step = state["step"] = state.get("step", 0) + 1
        # As torch: the constructor's initial_accumulator_value, whatever a group says.
        squares = self._state_array(state, "sum", param, fill=self.defaults["initial_accumulator_value"])
        squares += grad * grad
        denom = np.sqrt(squares, out=self._new_array(param))
        denom += group["eps"]
        update = np.divide(grad, denom, out=denom)  # denom's memory, no new array
        update *= as_scalar(group["lr"] / (1 + (step - 1) * group["lr_decay"]), param)
        param -= update
