"""Rprop: per-coordinate step sizes that grow while the gradient keeps its sign and shrink when it flips."""

from __future__ import annotations

import numpy as np

from microgradnp.optim.optimizer import LR_HINT, Optimizer, _check_number

__all__ = ["Rprop"]


class Rprop(Optimizer):
    """The resilient backpropagation algorithm (Riedmiller & Braun, 1993), as ``torch.optim.Rprop``.

    Args:
        params: Tensors to optimize (``model.parameters()``) or parameter-group dicts.
        lr: the initial step size of every coordinate.
        etas: ``(etaminus, etaplus)`` with ``0 < etaminus < 1 < etaplus``: the factors a step
            size is multiplied by when the gradient flips sign, and when it keeps it.
        step_sizes: ``(min, max)``, the bounds of the step sizes.
        capturable: one of PyTorch's implementation switches (see ``Optimizer``), as are
            ``foreach`` and ``differentiable``.
        maximize: ascend the objective instead of descending it (keyword-only, as in PyTorch).

    Update, per coordinate, with ``g`` the (maximize-signed) gradient and ``g'`` the previous one:

        s = clip(s * (etaplus if g g' > 0, etaminus if g g' < 0, else 1), min, max)
        g = 0 where g g' < 0;   p -= sign(g) * s;   g' = g

    Only the gradient's sign is used, so Rprop suits full-batch training, not minibatches.
    """

    def __init__(self, params, lr: float = 1e-2, etas: tuple[float, float] = (0.5, 1.2),
                 step_sizes: tuple[float, float] = (1e-6, 50), *, capturable: bool = False,
                 foreach: bool | None = None, maximize: bool = False, differentiable: bool = False):
        defaults = dict(lr=lr, etas=etas, step_sizes=step_sizes, maximize=maximize, capturable=capturable,
                        foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)

    def _check_options(self, options: dict) -> None:
        self._check_number(options, "lr", hint=LR_HINT)
        self._check_flags(options, "maximize")
        for option, example in (("etas", "(0.5, 1.2)"), ("step_sizes", "(1e-6, 50)")):
            if option in options:
                pair = options[option]
                if isinstance(pair, str) or not hasattr(pair, "__len__") or len(pair) != 2:
                    raise TypeError(f"{self._name}: {option} must be a pair such as {example}, got {pair!r}")
                for i, value in enumerate(pair):
                    _check_number(self._name, f"{option}[{i}]", value)
        if "etas" in options and not 0.0 < options["etas"][0] < 1.0 < options["etas"][1]:
            raise ValueError(f"{self._name}: etas must be (etaminus, etaplus) with 0 < etaminus < 1 < etaplus, "
                             f"got {tuple(options['etas'])!r}; the default is (0.5, 1.2)")
        if "step_sizes" in options and options["step_sizes"][0] > options["step_sizes"][1]:
            raise ValueError(f"{self._name}: step_sizes must be (min, max) with min <= max, got "
                             f"{tuple(options['step_sizes'])!r}")

    def _update(self, param, grad, state, group):
        etaminus, etaplus = group["etas"]
        step_size_min, step_size_max = group["step_sizes"]
        grad = -grad if group["maximize"] else grad
        state["step"] = state.get("step", 0) + 1
        prev = self._state_array(state, "prev", param)
        step_size = self._state_array(state, "step_size", param, fill=group["lr"])
        # the factors, in the parameter's dtype (an array even when the parameter is 0-d)
        factor = _sign(np.multiply(grad, prev, out=self._new_array(param)), out=self._new_array(param))
        flipped = factor < 0
        factor[factor > 0] = etaplus
        factor[flipped] = etaminus
        factor[factor == 0] = 1
        step_size *= factor
        np.clip(step_size, step_size_min, step_size_max, out=step_size)
        grad = np.where(flipped, 0, grad).astype(param.dtype, copy=False)  # no step where the sign flipped
        param -= _sign(grad, out=self._new_array(param)) * step_size
        np.copyto(prev, grad)


def _sign(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``torch.sign``: as ``np.sign``, but 0 where ``x`` is NaN (so a NaN gradient moves
    nothing and leaves the step size as it is, as in PyTorch)."""
    np.sign(x, out=out)
    np.copyto(out, 0, where=np.isnan(out))
    return out
