"""Adafactor: Adam-like steps from a second moment kept as row and column averages (sublinear memory)."""

from __future__ import annotations

import math

import numpy as np

from microgradnp.optim.optimizer import LR_HINT, Optimizer, _check_number
from microgradnp.optim.swa_utils import _lerp_

__all__ = ["Adafactor"]


class Adafactor(Optimizer):
    """Adafactor (Shazeer & Stern, 2018), as ``torch.optim.Adafactor`` (PyTorch 2.5+).

    Args:
        params: Tensors to optimize (``model.parameters()``) or parameter-group dicts.
        lr: the largest relative step size ``rho_t = min(lr, 1 / sqrt(t))``.
        beta2_decay: the second moment's decay: its average weighs step ``t`` by ``t **
            beta2_decay`` (must be <= 0).
        eps: ``(eps1, eps2)``: ``eps1`` floors the squared gradients' averages (None: the
            machine epsilon of the parameter's dtype); ``eps2`` floors a parameter's RMS in
            the step size.
        d: the clipping threshold: the update's RMS is scaled down to at most ``d`` (>= 1).
        weight_decay: decoupled weight decay, ``p *= 1 - lr * weight_decay`` before the step.
        foreach: accepted for PyTorch compatibility (its multi-tensor kernels) and ignored.
        maximize: ascend the objective instead of descending it (keyword-only, as in PyTorch).

    Update at step t, with ``g`` the (maximize-signed) gradient: for a parameter of 2 or
    more axes the second moment is factored over its last two axes, keeping only the row
    averages ``R`` (shape ``(..., m, 1)``) and column averages ``C`` (``(..., 1, n)``) of
    ``g**2``:

        R = lerp(R, mean(g**2, -1), t**beta2_decay);  C = lerp(C, mean(g**2, -2), t**beta2_decay)
        V = R @ C / max(mean(R, -2), eps1)             (a vector keeps V = lerp(V, g**2, ...))
        u = g / sqrt(max(V, eps1**2));  u /= max(1, rms(u) / d)
        p -= max(eps2, rms(p)) * min(lr, 1 / sqrt(t)) * u

    where ``rms(p)`` is taken before the weight decay. State: ``step``, and ``row_var`` and
    ``col_var`` (or ``variance`` for fewer than 2 axes).

    Raises:
        TypeError: ``lr`` is per member (an ``nn.Ensemble``): Adafactor's step uses each
            parameter's norm, which would mix the members; train the models one at a time.
        ValueError: an option out of range (see the arguments).
    """

    def __init__(self, params, lr: float = 1e-2, beta2_decay: float = -0.8,
                 eps: tuple[float | None, float] = (None, 1e-3), d: float = 1.0, weight_decay: float = 0.0, *,
                 foreach: bool | None = None, maximize: bool = False):
        defaults = dict(lr=lr, beta2_decay=beta2_decay, eps=eps, d=d, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize)
        super().__init__(params, defaults)

    def _check_options(self, options: dict) -> None:
        name = self._name
        if isinstance(options.get("lr"), np.ndarray) and options["lr"].size != 1:
            raise TypeError(f"{name}: lr must be one number, got an array of {options['lr'].size}; per-member "
                            "learning rates (nn.Ensemble.per_member) are not supported, since Adafactor's step "
                            "scales by each parameter's norm, which would mix the members: train them one at a time")
        self._check_number(options, "lr", hint=LR_HINT)
        self._check_number(options, "weight_decay", hint="0 turns weight decay off")
        self._check_flags(options, "maximize")
        if options.get("foreach") not in (None, True, False):
            raise TypeError(f"{name}: foreach must be None, True or False, got {options['foreach']!r}")
        if "beta2_decay" in options:
            decay = options["beta2_decay"]
            if isinstance(decay, bool) or not isinstance(decay, int | float | np.floating | np.integer):
                raise TypeError(f"{name}: beta2_decay must be a number, got {type(decay).__name__} {decay!r}")
            if not decay <= 0:
                raise ValueError(f"{name}: beta2_decay must be <= 0 (the default is -0.8), got {decay!r}")
        if "d" in options:
            _check_number(name, "d", options["d"])
            if not options["d"] >= 1:
                raise ValueError(f"{name}: the clipping threshold d must be >= 1 (the default is 1.0), "
                                 f"got {options['d']!r}")
        if "eps" in options:
            eps = options["eps"]
            if isinstance(eps, str) or not hasattr(eps, "__len__") or len(eps) != 2:
                raise TypeError(f"{name}: eps must be a pair (eps1, eps2) such as (None, 1e-3), got {eps!r}")
            if eps[0] is not None:
                _check_number(name, "eps[0]", eps[0], hint="None uses the machine epsilon of the parameter's dtype")
            _check_number(name, "eps[1]", eps[1])

    def _update_group(self, params: list, group: dict) -> None:
        # As torch: eps1 None becomes the machine epsilon of the group's first parameter with a gradient.
        eps1 = group["eps"][0]
        if eps1 is None and params:
            eps1 = float(np.finfo(params[0].data.dtype).eps)
        for p in params:
            self._update(p.data, p._grad, self.state[p], group, eps1)

    def _update(self, param, grad, state, group, eps1=None):
        if eps1 is None:
            eps1 = group["eps"][0] if group["eps"][0] is not None else float(np.finfo(param.dtype).eps)
        lr, weight_decay = group["lr"], group["weight_decay"]
        lr = float(np.asarray(lr).reshape(()))  # a 1-element array (torch's Tensor lr) as a number
        grad = -grad if group["maximize"] else grad
        step = state["step"] = state.get("step", 0) + 1
        if param.size == 0:
            return  # nothing to update; the RMS norms below would divide by the size 0 (PyTorch raises there)
        one_minus_beta2_t = step ** group["beta2_decay"]
        rho_t = min(lr, 1 / step**0.5)
        alpha = max(group["eps"][1], float(np.linalg.norm(param.reshape(-1))) / math.sqrt(param.size)) * rho_t
        if weight_decay != 0:
            param *= param.dtype.type(1 - lr * weight_decay)
        if grad.ndim > 1:
            row_var = self._factor(state, "row_var", grad, -1)
            col_var = self._factor(state, "col_var", grad, -2)
            _lerp_(row_var, np.square(np.linalg.norm(grad, axis=-1, keepdims=True)) / grad.shape[-1],
                   one_minus_beta2_t)
            _lerp_(col_var, np.square(np.linalg.norm(grad, axis=-2, keepdims=True)) / grad.shape[-2],
                   one_minus_beta2_t)
            var_estimate = row_var @ col_var
            var_estimate /= np.maximum(row_var.mean(axis=-2, keepdims=True), param.dtype.type(eps1))
        else:
            variance = self._state_array(state, "variance", param)
            _lerp_(variance, grad * grad, one_minus_beta2_t)
            var_estimate = variance.copy()
        # eps1 squared: the square root below brings it back to eps1's magnitude
        update = np.maximum(var_estimate, param.dtype.type(eps1 * eps1), out=var_estimate)
        np.sqrt(update, out=update)
        np.reciprocal(update, out=update)  # torch's rsqrt, then times the gradient
        update *= grad
        denom = max(1.0, float(np.linalg.norm(update.reshape(-1))) / (math.sqrt(update.size) * group["d"]))
        update *= param.dtype.type(-alpha / denom)
        param += update

    @staticmethod
    def _factor(state: dict, key: str, grad: np.ndarray, axis: int) -> np.ndarray:
        """``state[key]``: zeros shaped like ``grad`` with ``axis`` reduced to 1, made on first use."""
        array = state.get(key)
        if array is None:
            shape = list(grad.shape)
            shape[axis] = 1
            array = state[key] = np.zeros(shape, dtype=grad.dtype)
        return array

    def _loaded_state_value(self, name: str, index, key: str, value, p):
        if key not in ("row_var", "col_var"):
            return super()._loaded_state_value(name, index, key, value, p)
        array = np.array(value, dtype=p.data.dtype)
        expected = list(p.data.shape)
        if len(expected) >= 2:
            expected[-1 if key == "row_var" else -2] = 1
        if array.shape != tuple(expected):
            raise ValueError(f"{name}: state {key!r} of parameter {index} has shape {array.shape} but the parameter "
                             f"(shape {p.data.shape}) needs {tuple(expected)}; the state was saved for another model")
        return array
