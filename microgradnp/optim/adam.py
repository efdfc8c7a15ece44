"""Adam and AdamW: steps scaled by running averages of the gradient and of its square."""

from __future__ import annotations

import numpy as np

from microgradnp.optim.optimizer import EPS_HINT, LR_HINT, Optimizer, _check_number, as_scalar

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), as ``torch.optim.Adam``.

    Args:
        params: Tensors to optimize (``model.parameters()``) or parameter-group dicts.
        lr: learning rate.
        betas: ``(beta1, beta2)``, the decay rates of the running averages of the gradient
            and of its square, each in [0, 1).
        eps: added to the denominator so that it never is zero.
        weight_decay: L2 penalty added to the gradient as ``weight_decay * p`` (see
            ``AdamW`` for the decoupled form).
        amsgrad: divide by the largest second-moment average seen so far (AMSGrad).
        maximize: ascend the objective instead of descending it (keyword-only, as in PyTorch).
        decoupled_weight_decay: shrink ``p`` by ``1 - lr * weight_decay`` instead of adding
            to the gradient (this is ``AdamW``).

    Update at step t, with ``g`` the (decayed, maximize-signed) gradient:

        m = beta1 * m + (1 - beta1) * g;   v = beta2 * v + (1 - beta2) * g**2
        p -= lr / (1 - beta1**t) * m / (sqrt(v' / (1 - beta2**t)) + eps)

    where ``v'`` is ``v``, or with ``amsgrad`` the running maximum of ``v``.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _check_options(self, options: dict) -> None:
        self._check_number(options, "lr", hint=LR_HINT)
        self._check_number(options, "eps", hint=EPS_HINT)
        self._check_number(options, "weight_decay", hint="0 turns weight decay off")
        self._check_flags(options, "amsgrad", "maximize", "decoupled_weight_decay")
        if "betas" in options:
            betas = options["betas"]
            if isinstance(betas, str) or not hasattr(betas, "__len__") or len(betas) != 2:
                raise TypeError(f"{self._name}: betas must be a pair (beta1, beta2) such as (0.9, 0.999), "
                                f"got {betas!r}")
            for i, beta in enumerate(betas):
                _check_number(self._name, f"betas[{i}]", beta, high=1,
                              hint="the betas are decay rates of running averages, e.g. (0.9, 0.999)")

    def _update(self, param, grad, state, group):
        lr, (beta1, beta2), weight_decay = group["lr"], group["betas"], group["weight_decay"]
        decoupled = group["decoupled_weight_decay"]
        if decoupled and weight_decay:
            param *= as_scalar(1 - lr * weight_decay, param)
        grad = self._effective_grad(param, grad, group, l2=not decoupled)
        step = state["step"] = state.get("step", 0) + 1
        exp_avg = self._state_array(state, "exp_avg", param)
        exp_avg_sq = self._state_array(state, "exp_avg_sq", param)
        exp_avg += (1 - beta1) * (grad - exp_avg)  # torch's lerp form, so roundings agree with it
        exp_avg_sq *= beta2
        exp_avg_sq += (1 - beta2) * grad * grad
        if group["amsgrad"]:
            second_moment = self._state_array(state, "max_exp_avg_sq", param)
            np.maximum(second_moment, exp_avg_sq, out=second_moment)
        else:
            second_moment = exp_avg_sq
        denom = np.sqrt(second_moment, out=self._new_array(param))
        denom /= (1 - beta2**step) ** 0.5
        denom += group["eps"]
        update = np.divide(exp_avg, denom, out=denom)  # denom's memory, no new array
        update *= as_scalar(lr / (1 - beta1**step), param)
        param -= update


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019), as ``torch.optim.AdamW``.

    Same arguments as ``Adam`` except ``weight_decay`` (default 1e-2): instead of
    entering the gradient (and so being rescaled by the moment estimates), it shrinks the
    parameters directly, ``p *= 1 - lr * weight_decay``, before the Adam step.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize, decoupled_weight_decay=True)
