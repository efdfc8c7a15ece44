"""Stochastic gradient descent, with momentum, Nesterov momentum and weight decay."""

from __future__ import annotations

import numpy as np

from microgradnp.optim.optimizer import LR_HINT, Optimizer, in_dtype

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent, as ``torch.optim.SGD``.

    Args:
        params: Tensors to optimize (``model.parameters()``) or parameter-group dicts.
        lr: learning rate (step size), for the groups that do not give their own (1e-3 as
            PyTorch's; the lab uses 0.1).
        momentum: factor ``mu`` of the momentum buffer (0 turns momentum off).
        dampening: the new gradient enters the buffer scaled by ``1 - dampening``.
        nesterov: use Nesterov momentum (needs ``momentum > 0`` and ``dampening == 0``).
            This and the arguments after it are keyword-only.
        weight_decay: L2 penalty: ``weight_decay * p`` is added to the gradient.
        maximize: ascend the objective instead of descending it.

    Update, with ``g = grad + weight_decay * p`` (negated first when ``maximize``):

        b = g at the first step, else mu * b + (1 - dampening) * g
        p -= lr * (g + mu * b if nesterov else b)          # with momentum
        p -= lr * g                                        # without
    """

    # Keyword-only from nesterov on: torch.optim.SGD takes weight_decay before nesterov, and a
    # positional call written for it must fail rather than silently mean something else.
    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0, *,
                 nesterov: bool = False, weight_decay: float = 0, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False, fused: bool | None = None):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                        weight_decay=weight_decay, maximize=maximize, foreach=foreach,
                        differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)

    def _check_options(self, options: dict) -> None:
        self._check_number(options, "lr", hint=LR_HINT)
        self._check_number(options, "momentum", hint="0 turns momentum off; 0.9 is typical")
        self._check_number(options, "dampening", high=1, high_included=True,
                           hint="the new gradient enters the momentum buffer scaled by (1 - dampening)")
        self._check_number(options, "weight_decay", hint="0 turns weight decay off")
        self._check_flags(options, "nesterov", "maximize")
        if options.get("nesterov") and (options.get("momentum", 0) <= 0 or options.get("dampening", 0) != 0):
            raise ValueError(
                f"{self._name}: nesterov=True needs momentum > 0 and dampening = 0, got momentum="
                f"{options.get('momentum', 0)!r} and dampening={options.get('dampening', 0)!r}; "
                "set momentum (e.g. 0.9) or turn nesterov off"
            )

    def _update_group(self, params, group):
        lr = group["lr"]
        # Plain SGD (the lab's) needs no state and no second pass over the gradient: with
        # the options settled once per group, its step is the hand-written one.
        if not (group["momentum"] or group["weight_decay"] or group["maximize"]):
            for p in params:
                param = p.data
                param -= in_dtype(lr, param) * p._grad
            return
        state = self.state
        for p in params:
            param = p.data
            param -= in_dtype(lr, param) * self._direction(param, p._grad, state[p], group)

    def _direction(self, param, grad, state, group):
        """The step's direction (before the learning rate): the gradient, with weight decay,
        maximize and momentum applied."""
        grad = self._effective_grad(param, grad, group)
        momentum = group["momentum"]
        if momentum:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                buffer = state["momentum_buffer"] = np.array(grad, copy=True)
            else:
                buffer *= momentum
                dampening = group["dampening"]
                buffer += grad if dampening == 0 else (1 - dampening) * grad
            grad = grad + momentum * buffer if group["nesterov"] else buffer
        return grad
