"""ASGD: stochastic gradient descent that also keeps a running average of the parameters."""

from __future__ import annotations

from microgradnp.optim.optimizer import LR_HINT, Optimizer, as_scalar

__all__ = ["ASGD"]


class ASGD(Optimizer):
    """Averaged stochastic gradient descent (Polyak & Juditsky, 1992), as ``torch.optim.ASGD``.

    Args:
        params: Tensors to optimize (``model.parameters()``) or parameter-group dicts.
        lr: learning rate.
        lambd: decay term: the parameters shrink by ``1 - lambd * eta`` each step, and
            the step size decays as ``eta = lr / (1 + lambd * lr * t) ** alpha``.
        alpha: power of the step size's decay.
        t0: the step from which the parameters are averaged (before it the "average"
            is the current parameters).
        weight_decay: L2 penalty added to the gradient as ``weight_decay * p``.
        maximize: ascend the objective instead of descending it (keyword-only here, as a
            positional call written for PyTorch's ``foreach`` must not silently mean it).

    Update at step t, with ``g`` the (decayed, maximize-signed) gradient:

        p *= 1 - lambd * eta;   p -= eta * g
        ax = p if mu == 1 else ax + mu * (p - ax)
        eta = lr / (1 + lambd * lr * t) ** alpha;   mu = 1 / max(1, t - t0)

    The average is ``optimizer.state[p]["ax"]``: copy it into the parameters to evaluate the
    averaged model. ``eta`` and ``mu`` are kept as Python floats (PyTorch keeps them as
    tensors of its default dtype, float32 unless changed, so its values round differently).
    """

    _scalar_state = ("step", "eta", "mu")

    def __init__(self, params, lr: float = 1e-2, lambd: float = 1e-4, alpha: float = 0.75, t0: float = 1e6,
                 weight_decay: float = 0, foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False, capturable: bool = False):
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def _check_options(self, options: dict) -> None:
        self._check_number(options, "lr", hint=LR_HINT)
        self._check_number(options, "lambd", hint="the default is 1e-4")
        self._check_number(options, "alpha", hint="the default is 0.75")
        self._check_number(options, "t0", hint="the step from which parameters are averaged; the default is 1e6")
        self._check_number(options, "weight_decay", hint="0 turns weight decay off")
        self._check_flags(options, "maximize")

    def _update(self, param, grad, state, group):
        lr, lambd = group["lr"], group["lambd"]
        if not state:
            state.update(step=0, eta=lr, mu=1.0)
        grad = self._effective_grad(param, grad, group)
        step = state["step"] = state["step"] + 1
        eta, mu = state["eta"], state["mu"]
        param *= as_scalar(1 - lambd * eta, param)
        param -= as_scalar(eta, param) * grad
        ax = self._state_array(state, "ax", param)
        if mu != 1:
            ax += (param - ax) * as_scalar(mu, param)
        else:
            ax[...] = param
        state["eta"] = lr / ((1 + lambd * lr * step) ** group["alpha"])
        state["mu"] = 1 / max(1, step - group["t0"])
