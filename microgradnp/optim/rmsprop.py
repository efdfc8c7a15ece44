"""RMSprop: steps divided by a running root-mean-square of the gradient."""

from __future__ import annotations

import numpy as np

from microgradnp.optim.optimizer import EPS_HINT, LR_HINT, Optimizer, as_scalar

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop (Hinton, 2012), as ``torch.optim.RMSprop``.

    Args:
        params: Tensors to optimize (``model.parameters()``) or parameter-group dicts.
        lr: learning rate.
        alpha: decay rate of the running average of the squared gradient, in [0, 1].
        eps: added to the denominator so that it never is zero.
        weight_decay: L2 penalty added to the gradient as ``weight_decay * p``.
        momentum: factor ``mu`` of a momentum buffer on the normalised step (0 turns it off).
        centered: divide by an estimate of the gradient's standard deviation (subtract the
            square of the running mean gradient) instead of its root mean square.
        maximize: ascend the objective instead of descending it (keyword-only, as in PyTorch).

    Update, with ``g`` the (decayed, maximize-signed) gradient:

        v = alpha * v + (1 - alpha) * g**2
        d = sqrt(v - gbar**2) + eps   with gbar = alpha * gbar + (1 - alpha) * g   if centered
        d = sqrt(v) + eps                                                          otherwise
        b = mu * b + g / d;  p -= lr * b      (momentum)      or      p -= lr * g / d
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0,
                 momentum: float = 0, centered: bool = False, capturable: bool = False, foreach: bool | None = None,
                 maximize: bool = False, differentiable: bool = False):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, capturable=capturable, foreach=foreach, maximize=maximize,
                        differentiable=differentiable)
        super().__init__(params, defaults)

    def _check_options(self, options: dict) -> None:
        self._check_number(options, "lr", hint=LR_HINT)
        self._check_number(options, "alpha", high=1, high_included=True,
                           hint="alpha is the decay rate of the squared-gradient average, e.g. 0.99")
        self._check_number(options, "eps", hint=EPS_HINT)
        self._check_number(options, "weight_decay", hint="0 turns weight decay off")
        self._check_number(options, "momentum", hint="0 turns momentum off; 0.9 is typical")
        self._check_flags(options, "centered", "maximize")

    def _update(self, param, grad, state, group):
        grad = self._effective_grad(param, grad, group)
        alpha = group["alpha"]
        state["step"] = state.get("step", 0) + 1
        square_avg = self._state_array(state, "square_avg", param)
        square_avg *= alpha
        square_avg += (1 - alpha) * grad * grad
        if group["centered"]:
            grad_avg = self._state_array(state, "grad_avg", param)
            grad_avg += (1 - alpha) * (grad - grad_avg)
            denom = np.subtract(square_avg, grad_avg * grad_avg, out=self._new_array(param))
            np.sqrt(denom, out=denom)
        else:
            denom = np.sqrt(square_avg, out=self._new_array(param))
        denom += group["eps"]
        if group["momentum"] > 0:
            buffer = self._state_array(state, "momentum_buffer", param)
            buffer *= group["momentum"]
            buffer += grad / denom
            param -= as_scalar(group["lr"], param) * buffer
        else:
            update = np.divide(grad, denom, out=denom)  # denom's memory, no new array
            update *= as_scalar(group["lr"], param)
            param -= update
