"""Adam and AdamW: steps scaled by running averages of the gradient and of its square."""

from __future__ import annotations

import numpy as np

from microgradnp.optim.optimizer import EPS_HINT, LR_HINT, Optimizer, _check_number, as_scalar

__all__ = ["Adam", "AdamW", "Adamax", "NAdam", "RAdam"]


class _AdamFamily(Optimizer):
    """The options Adam and its variants share: ``lr``, ``betas``, ``eps``,
    ``weight_decay`` and their flags, checked once here."""

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


class Adam(_AdamFamily):
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
                 weight_decay: float = 0, amsgrad: bool = False, *, foreach: bool | None = None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False, fused: bool | None = None,
                 decoupled_weight_decay: bool = False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, foreach=foreach, capturable=capturable, differentiable=differentiable,
                        fused=fused, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

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
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize, foreach=foreach,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)


class Adamax(_AdamFamily):
    """Adamax (Kingma & Ba, 2015, section 7), Adam with the infinity norm, as
    ``torch.optim.Adamax``.

    Args:
        params: Tensors to optimize (``model.parameters()``) or parameter-group dicts.
        lr: learning rate.
        betas: ``(beta1, beta2)``: the decay rates of the average of the gradient and of
            the largest gradient magnitude.
        eps: added to the magnitudes so that no step divides by zero.
        weight_decay: L2 penalty added to the gradient as ``weight_decay * p``.
        maximize: ascend the objective instead of descending it (keyword-only, as in PyTorch).

    Update at step t, with ``g`` the (decayed, maximize-signed) gradient:

        m = beta1 * m + (1 - beta1) * g;   u = max(beta2 * u, |g| + eps)
        p -= lr / (1 - beta1**t) * m / u
    """

    def __init__(self, params, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, capturable: bool = False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=foreach, maximize=maximize,
                        differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def _update(self, param, grad, state, group):
        lr, (beta1, beta2) = group["lr"], group["betas"]
        grad = self._effective_grad(param, grad, group)
        step = state["step"] = state.get("step", 0) + 1
        exp_avg = self._state_array(state, "exp_avg", param)
        exp_inf = self._state_array(state, "exp_inf", param)
        exp_avg += (1 - beta1) * (grad - exp_avg)  # torch's lerp form
        exp_inf *= beta2
        np.maximum(exp_inf, np.abs(grad) + group["eps"], out=exp_inf)
        param -= as_scalar(lr / (1 - beta1**step), param) * exp_avg / exp_inf  # torch's addcdiv order


class NAdam(_AdamFamily):
    """NAdam (Dozat, 2016): Adam with Nesterov momentum, as ``torch.optim.NAdam``.

    Args:
        params: Tensors to optimize (``model.parameters()``) or parameter-group dicts.
        lr: learning rate.
        betas: ``(beta1, beta2)``, the decay rates of the averages of the gradient and of
            its square.
        eps: added to the denominator so that it never is zero.
        weight_decay: L2 penalty added to the gradient as ``weight_decay * p`` (or, with
            ``decoupled_weight_decay``, ``p *= 1 - lr * weight_decay`` first, as NAdamW).
        momentum_decay: the schedule of the momentum coefficient ``mu_t = beta1 * (1 -
            0.5 * 0.96 ** (t * momentum_decay))``.
        decoupled_weight_decay: decay the parameters directly instead of through the gradient.
        maximize: ascend the objective instead of descending it (keyword-only, as in PyTorch).

    Update at step t (``prod_t`` the product of ``mu_1 ... mu_t``):

        m = beta1 * m + (1 - beta1) * g;   v = beta2 * v + (1 - beta2) * g**2
        d = sqrt(v / (1 - beta2**t)) + eps
        p -= lr * (1 - mu_t) / (1 - prod_t) * g / d + lr * mu_{t+1} / (1 - prod_t * mu_{t+1}) * m / d
    """

    _scalar_state = ("step", "mu_product")

    def __init__(self, params, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, momentum_decay: float = 4e-3, decoupled_weight_decay: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, foreach=foreach, maximize=maximize,
                        capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    def _check_options(self, options: dict) -> None:
        super()._check_options(options)
        self._check_number(options, "momentum_decay", hint="the default is 4e-3")

    def _update(self, param, grad, state, group):
        lr, (beta1, beta2), decay = group["lr"], group["betas"], group["momentum_decay"]
        grad = _decayed_grad(self, param, grad, group)
        step = state["step"] = state.get("step", 0) + 1
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * decay))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * decay))
        product = state["mu_product"] = state.get("mu_product", 1.0) * mu
        exp_avg, exp_avg_sq = _moments(self, state, param, grad, beta1, beta2)
        denom = np.sqrt(exp_avg_sq / (1 - beta2**step))
        denom += group["eps"]
        param += as_scalar(-lr * (1.0 - mu) / (1.0 - product), param) * grad / denom
        param += as_scalar(-lr * mu_next / (1.0 - product * mu_next), param) * exp_avg / denom


class RAdam(_AdamFamily):
    """RAdam (Liu et al., 2020): Adam whose adaptive step is switched on as the variance of
    its estimate becomes tractable, as ``torch.optim.RAdam``.

    The arguments are NAdam's, without ``momentum_decay``.

    Update at step t, with ``rho_inf = 2 / (1 - beta2) - 1`` and ``rho_t = rho_inf - 2 t
    beta2**t / (1 - beta2**t)``: momentum SGD ``p -= lr * m / (1 - beta1**t)`` while
    ``rho_t <= 5``, then that step times ``r_t * sqrt(1 - beta2**t) / (sqrt(v) + eps)``
    with the rectification ``r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))``.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, decoupled_weight_decay: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        decoupled_weight_decay=decoupled_weight_decay, foreach=foreach, maximize=maximize,
                        capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    def _update(self, param, grad, state, group):
        lr, (beta1, beta2) = group["lr"], group["betas"]
        grad = _decayed_grad(self, param, grad, group)
        step = state["step"] = state.get("step", 0) + 1
        exp_avg, exp_avg_sq = _moments(self, state, param, grad, beta1, beta2)
        correction2 = 1 - beta2**step
        corrected = exp_avg / (1 - beta1**step)
        rho_inf = 2 / (1 - beta2) - 1
        rho = rho_inf - 2 * step * (beta2**step) / correction2
        if rho > 5.0:
            rect = ((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho)) ** 0.5
            root = np.sqrt(exp_avg_sq)
            root += group["eps"]
            param -= corrected * as_scalar(lr, param) * (correction2**0.5 / root) * rect
        else:
            param -= corrected * as_scalar(lr, param)


def _decayed_grad(optimizer: Optimizer, param, grad, group):
    """The gradient NAdam and RAdam follow: with ``decoupled_weight_decay`` the parameters
    shrink first (``p *= 1 - lr * weight_decay``) and the gradient is left as it is."""
    decoupled = group["decoupled_weight_decay"]
    if decoupled and group["weight_decay"]:
        param *= as_scalar(1 - group["lr"] * group["weight_decay"], param)
    return optimizer._effective_grad(param, grad, group, l2=not decoupled)


def _moments(optimizer: Optimizer, state: dict, param, grad, beta1: float, beta2: float):
    """The running averages of the gradient and of its square, updated in place (torch's
    ``lerp_`` and ``mul_().addcmul_()`` forms, so roundings agree with it)."""
    exp_avg = optimizer._state_array(state, "exp_avg", param)
    exp_avg_sq = optimizer._state_array(state, "exp_avg_sq", param)
    exp_avg += (1 - beta1) * (grad - exp_avg)
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * grad * grad
    return exp_avg, exp_avg_sq
