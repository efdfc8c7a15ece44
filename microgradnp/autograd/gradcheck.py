"""Check analytic gradients (and second derivatives) against central finite differences."""

from __future__ import annotations

import numpy as np

from microgradnp import ops as _ops
from microgradnp.autograd.engine import grad as _grad
from microgradnp.tensor import Tensor


class GradcheckError(AssertionError):
    """Raised by ``gradcheck`` and ``gradgradcheck`` when analytic and numerical gradients disagree."""


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3, seed: int = 0,
              raise_exception: bool = True) -> bool:
    """Compare the gradients autograd gives for ``fn(*inputs)`` with central finite
    differences, in float64.

    ``inputs`` is a Tensor or a sequence of them (non-Tensors pass through as
    constants); the inputs with ``requires_grad=True`` are checked. For an output
    with several elements the check uses ``sum(v * fn(*inputs))`` with a fixed random
    ``v``, which catches a wrong Jacobian with probability one. Every entry must
    satisfy ``|analytic - numeric| <= atol + rtol * |numeric|`` (as ``torch.allclose``: a
    NaN on either side fails, equal infinities agree); otherwise ``GradcheckError`` names
    the worst one, or with ``raise_exception=False`` the result is False. Returns True when
    all agree.
    """
    return _check("gradcheck", fn, inputs, eps, atol, rtol, seed, lambda i: f"input {i}", raise_exception)


def _check(name: str, fn, inputs, eps: float, atol: float, rtol: float, seed: int, describe,
           raise_exception: bool = True) -> bool:
    """``gradcheck``'s comparison; ``name`` and ``describe(i)`` (input ``i`` in words) word its errors."""
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    inputs64 = tuple(
        Tensor(x.data, dtype=np.float64, requires_grad=x.requires_grad) if isinstance(x, Tensor) else x
        for x in inputs
    )
    checked = [i for i, x in enumerate(inputs64) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError(f"{name}: no input has requires_grad=True, so there is nothing to check")

    output = fn(*inputs64)
    if not isinstance(output, Tensor):
        raise TypeError(f"{name}: fn must return a Tensor, got {type(output).__name__}")
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
            excess = _excess(got[index], numeric, error, atol, rtol)
            if worst is None or excess > worst[0]:
                worst = (excess, i, index, got[index], numeric, error)
    if worst is not None and worst[0] > 0:
        _, i, index, got, numeric, error = worst
        if np.isfinite(got) and np.isfinite(numeric):
            why = f"abs error {error:.3g} > atol {atol:g} + rtol {rtol:g} * |numeric|"
        else:
            why = "not finite: a NaN never matches, an infinity only the same infinity"
        message = (f"{name} failed for {describe(i)} at index {index}: analytic {got:.10g}, numeric {numeric:.10g} "
                   f"({why})")
        if raise_exception:
            raise GradcheckError(message)
        return False
    return True


def _excess(analytic: float, numeric: float, error: float, atol: float, rtol: float) -> float:
    """How far one entry is beyond the tolerance (> 0: it fails), as ``torch.allclose`` decides:
    equal values agree, infinities included, and a NaN on either side never agrees. The
    NaN must become +inf here: as NaN it would compare as smaller than anything and pass."""
    if analytic == numeric:  # (for equal infinities error is inf - inf = NaN)
        return -np.inf
    excess = error - (atol + rtol * abs(numeric))
    return np.inf if np.isnan(excess) else excess


def gradgradcheck(fn, inputs, grad_outputs=None, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
                  seed: int = 0, raise_exception: bool = True) -> bool:
    """Compare the second derivatives autograd gives for ``fn(*inputs)`` with central finite
    differences of its first derivatives, in float64, as ``torch.autograd.gradgradcheck``.

    The first derivatives are the vector-Jacobian product ``mg.grad(fn(*inputs), inputs,
    grad_outputs, create_graph=True)``; ``gradcheck`` then checks them as a function of the
    inputs that require grad and of the ``grad_outputs`` that require grad (the product is
    linear in those, so that part checks the backward itself).

    Args:
        fn: a function of ``inputs`` returning a Tensor.
        inputs: a Tensor or a sequence of them (non-Tensors pass through as constants); those
            with ``requires_grad=True`` are differentiated.
        grad_outputs: the vector of the product, a Tensor of the output's shape (or a one-element
            sequence holding it). None (PyTorch's default): random values in [-1, 1) drawn from
            ``seed``, which require grad.
        eps: the finite-difference step.
        atol: the absolute tolerance.
        rtol: the tolerance relative to the numeric derivative.
        seed: seeds the random ``grad_outputs`` and ``gradcheck``'s random weighting.
        raise_exception: False returns False instead of raising ``GradcheckError``.

    Returns:
        True when every second derivative agrees (a NaN on either side never agrees).

    Raises:
        GradcheckError: a second derivative disagrees (the message names the worst one).
        ValueError: no input requires grad, or ``grad_outputs`` does not fit the output.
        TypeError: ``fn`` does not return a Tensor.
    """
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradgradcheck: no input has requires_grad=True, so there is nothing to check")
    output = fn(*inputs)
    if not isinstance(output, Tensor):
        raise TypeError(f"gradgradcheck: fn must return a Tensor, got {type(output).__name__}")
    if grad_outputs is None:
        values = np.random.default_rng(seed).uniform(-1.0, 1.0, size=output.shape)
        grad_outputs = Tensor(values, dtype=np.float64, requires_grad=True)
    elif not isinstance(grad_outputs, Tensor):
        given = tuple(grad_outputs) if isinstance(grad_outputs, list | tuple) else (grad_outputs,)
        if len(given) != 1:
            raise ValueError(f"gradgradcheck: fn returns one Tensor, so give one grad_output, got {len(given)}")
        grad_outputs = given[0] if isinstance(given[0], Tensor) else Tensor(np.asarray(given[0], dtype=np.float64))
    if grad_outputs.shape != output.shape:
        raise ValueError(f"gradgradcheck: grad_outputs has shape {grad_outputs.shape} but fn's output has shape "
                         f"{output.shape}; give one of the output's shape")

    def first_derivatives(*args):
        # args: the inputs, then grad_outputs (both float64 copies made by the check).
        xs, vector = args[:-1], args[-1]
        out = fn(*xs)
        wanted = [xs[i] for i in checked]
        if not out.requires_grad:  # fn does not depend on its inputs: every derivative is zero
            return Tensor(np.zeros(sum(x.size for x in wanted)))
        grads = _grad(out, wanted, grad_outputs=vector, create_graph=True, materialize_grads=True)
        # One Tensor for gradcheck: the derivatives with respect to every input, flattened.
        return _ops.concatenate([_ops.reshape(g, (-1,)) for g in grads])

    def describe(i: int) -> str:
        return f"input {i}" if i < len(inputs) else "grad_outputs"

    return _check("gradgradcheck", first_derivatives, (*inputs, grad_outputs), eps, atol, rtol, seed, describe,
                  raise_exception)
