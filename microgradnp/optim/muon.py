"""Muon: momentum, then the update orthogonalized by a Newton-Schulz iteration (2-D parameters only)."""

from __future__ import annotations

import math

import numpy as np

from microgradnp.optim.optimizer import LR_HINT_NO_MAXIMIZE, Optimizer

__all__ = ["Muon"]

# PyTorch's defaults (from Keller Jordan's Muon).
_NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
_ADJUST_LR_FNS = (None, "original", "match_rms_adamw")


def _lerp(start: np.ndarray, end: np.ndarray, weight: float) -> np.ndarray:
    """``torch.lerp``'s formula (two forms, by the weight), for the same rounding."""
    if weight < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * (1 - weight)


def _zeropower_via_newtonschulz(grad: np.ndarray, coefficients, steps: int, eps: float) -> np.ndarray:
    """``steps`` quintic Newton-Schulz iterations towards the orthogonal factor of ``grad``."""
    a, b, c = coefficients
    tall = grad.shape[0] > grad.shape[1]
    x = grad.T if tall else grad
    x = x / max(float(np.linalg.norm(x)), eps)
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * (gram @ gram)) @ x
    return (x.T if tall else x).astype(grad.dtype, copy=False)


class Muon(Optimizer):
    """Muon (Jordan et al., 2024), as ``torch.optim.Muon``: for the 2-D weights of hidden layers
    (optimize biases, embeddings and other parameters with e.g. ``AdamW``).

    Args:
        params: 2-D Tensors to optimize, or parameter-group dicts.
        lr: learning rate.
        weight_decay: decoupled weight decay: ``p *= 1 - lr * weight_decay`` before the step.
        momentum: factor ``mu`` of the momentum buffer.
        nesterov: use Nesterov momentum.
        ns_coefficients: the ``(a, b, c)`` of the Newton-Schulz polynomial.
        eps: lower bound of the norm the update is divided by before the iterations.
        ns_steps: number of Newton-Schulz iterations (below 100).
        adjust_lr_fn: None or ``"original"`` (``lr * sqrt(max(1, rows / cols))``), or
            ``"match_rms_adamw"`` (``0.2 * lr * sqrt(max(rows, cols))``).

    Update, with ``g`` the gradient:

        b = lerp(b, g, 1 - mu)                       # b = 0 at first
        u = NS(lerp(g, b, mu) if nesterov else b)
        p *= 1 - lr * weight_decay
        p -= adjusted_lr * u

    PyTorch runs the Newton-Schulz iterations in bfloat16; microgradnp runs them in the
    parameter's dtype, so the two agree to about bfloat16's precision (1e-2 relative) per update.
    """

    def __init__(self, params, lr: float = 1e-3, weight_decay: float = 0.1, momentum: float = 0.95,
                 nesterov: bool = True, ns_coefficients: tuple[float, float, float] = _NS_COEFFICIENTS,
                 eps: float = 1e-7, ns_steps: int = 5, adjust_lr_fn: str | None = None):
        defaults = dict(lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov,
                        ns_coefficients=tuple(ns_coefficients), eps=eps, ns_steps=ns_steps,
                        adjust_lr_fn=adjust_lr_fn)
        super().__init__(params, defaults)

    def _add_group(self, param_group, where: str) -> None:
        super()._add_group(param_group, where)
        for p in self.param_groups[-1]["params"]:
            if p.data.ndim != 2:
                self.param_groups.pop()
                raise ValueError(
                    f"{self._name}{where}: Muon only supports 2D parameters whereas we found a parameter with "
                    f"size: {p.shape}; optimize the others with e.g. AdamW")

    def _check_options(self, options: dict) -> None:
        self._check_number(options, "lr", hint=LR_HINT_NO_MAXIMIZE)
        self._check_number(options, "momentum", hint="0.95 is the default")
        self._check_number(options, "weight_decay", hint="0 turns weight decay off")
        self._check_number(options, "eps", hint="eps bounds the norm the update is divided by (e.g. 1e-7)")
        self._check_flags(options, "nesterov")
        if "ns_coefficients" in options and len(tuple(options["ns_coefficients"])) != 3:
            raise ValueError(f"{self._name}: ns_coefficients must be a tuple of exactly 3 values, "
                             f"got {options['ns_coefficients']!r}")
        steps = options.get("ns_steps", 5)
        if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or not 0 <= steps < 100:
            raise ValueError(f"{self._name}: ns_steps must be an int in [0, 100), got {steps!r}")
        if options.get("adjust_lr_fn") not in _ADJUST_LR_FNS:
            raise ValueError(f"{self._name}: adjust_lr_fn must be None, 'original' or 'match_rms_adamw', "
                             f"got {options['adjust_lr_fn']!r}")

    def _update(self, param, grad, state, group):
        momentum, lr = group["momentum"], group["lr"]
        buffer = self._state_array(state, "momentum_buffer", param)
        buffer[...] = _lerp(buffer, grad, 1 - momentum)
        update = _lerp(grad, buffer, momentum) if group["nesterov"] else buffer
        update = _zeropower_via_newtonschulz(update, group["ns_coefficients"], group["ns_steps"], group["eps"])
        rows, cols = param.shape[:2]
        if group["adjust_lr_fn"] == "match_rms_adamw":
            adjusted = lr * 0.2 * math.sqrt(max(rows, cols))
        else:
            adjusted = lr * math.sqrt(max(1, rows / cols))
        param *= 1 - lr * group["weight_decay"]
        param -= adjusted * update
