"""Check analytic gradients against central finite differences."""

from __future__ import annotations

import numpy as np

from microgradnp.autograd.engine import grad as _grad
from microgradnp.tensor import Tensor


class GradcheckError(AssertionError):
    """Raised by ``gradcheck`` when analytic and numerical gradients disagree."""


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3, seed: int = 0) -> bool:
    """Compare the gradients autograd gives for ``fn(*inputs)`` with central finite
    differences, in float64.

    ``inputs`` is a Tensor or a sequence of them (non-Tensors pass through as
    constants); the inputs with ``requires_grad=True`` are checked. For an output
    with several elements the check uses ``sum(v * fn(*inputs))`` with a fixed random
    ``v``, which catches a wrong Jacobian with probability one. Every entry must
    satisfy ``|analytic - numeric| <= atol + rtol * |numeric|``; otherwise
    ``GradcheckError`` names the worst one. Returns True when all agree.
    """
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    inputs64 = tuple(
        Tensor(x.data, dtype=np.float64, requires_grad=x.requires_grad) if isinstance(x, Tensor) else x
        for x in inputs
    )
    checked = [i for i, x in enumerate(inputs64) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True, so there is nothing to check")

    output = fn(*inputs64)
    if not isinstance(output, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(output).__name__}")
    weights = np.random.default_rng(seed).uniform(0.5, 1.5, size=output.shape)

    def objective() -> float:
        # Not under no_grad: fn may itself call mg.grad (checking second derivatives).
        return float(np.sum(weights * np.asarray(fn(*inputs64).data, dtype=np.float64)))

    if output.requires_grad:
        analytic = _grad(output, [inputs64[i] for i in checked], grad_outputs=weights, allow_unused=True)
    else:  # the output does not depend on the inputs at all: its gradient is zero
        analytic = (None,) * len(checked)
    worst = None
    for position, i in enumerate(checked):
        x = inputs64[i]
        got = np.zeros(x.shape) if analytic[position] is None else analytic[position].data
        for index in np.ndindex(x.shape):
            original = x.data[index]
            x.data[index] = original + eps
            above = objective()
            x.data[index] = original - eps
            below = objective()
            x.data[index] = original
            numeric = (above - below) / (2 * eps)
            error = abs(got[index] - numeric)
            excess = error - (atol + rtol * abs(numeric))
            if worst is None or excess > worst[0]:
                worst = (excess, i, index, got[index], numeric, error)
    if worst is not None and worst[0] > 0:
        _, i, index, got, numeric, error = worst
        raise GradcheckError(
            f"gradcheck failed for input {i} at index {index}: analytic {got:.10g}, numeric "
            f"{numeric:.10g} (abs error {error:.3g} > atol {atol:g} + rtol {rtol:g} * |numeric|)"
        )
    return True
