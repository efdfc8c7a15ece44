"""Higher-level derivatives of whole functions, as PyTorch's ``torch.autograd.functional``.

``jacobian``, ``hessian``, ``vjp``, ``jvp``, ``hvp`` and ``vhp`` call ``func`` on fresh
leaves made from ``inputs`` and differentiate it with ``mg.grad``. They follow PyTorch's
conventions: ``inputs`` is a Tensor or a tuple of Tensors and the results have the same
structure (a tuple where ``inputs`` or the outputs of ``func`` are tuples); a part of the
output that does not depend on an input gives zeros, or, with ``strict=True``, raises the
RuntimeError PyTorch raises. Without ``create_graph`` the results carry no graph; with it
they can be differentiated again, also with respect to the original ``inputs``.
``vectorize`` and ``strategy`` are accepted as PyTorch's, with its checks: they change only
how PyTorch computes the numbers, and microgradnp computes them one reverse pass at a time.
"""

from __future__ import annotations

import numpy as np

from microgradnp.autograd.engine import grad as _grad
from microgradnp.autograd.grad_mode import enable_grad
from microgradnp.tensor import Tensor

__all__ = ["hessian", "hvp", "jacobian", "jvp", "vhp", "vjp"]


def _as_tuple(value, what: str, caller: str) -> tuple[bool, tuple]:
    """(whether ``value`` was a tuple or list, its Tensors as a tuple); anything else raises."""
    is_tuple = isinstance(value, (tuple, list))
    values = tuple(value) if is_tuple else (value,)
    for i, v in enumerate(values):
        if not isinstance(v, Tensor):
            where = f"{what}[{i}]" if is_tuple else what
            raise TypeError(f"{caller}: {where} must be a Tensor, got {type(v).__name__}")
    return is_tuple, values


def _leaves(inputs: tuple, create_graph: bool) -> tuple:
    """The tensors ``func`` is called on: new leaves that require grad (under create_graph,
    a tensor that already requires grad is passed through a copy, so the results reach it)."""
    prepared = []
    for x in inputs:
        if create_graph and x.requires_grad:
            prepared.append(x.clone())
        else:
            if x.data.dtype.kind != "f":
                raise TypeError(f"the inputs must be floating-point tensors, got one of dtype {x.data.dtype}")
            prepared.append(Tensor._wrap(x.data).requires_grad_())
    return tuple(prepared)


def _outputs(out, caller: str, strict: bool = False) -> tuple[bool, tuple]:
    is_tuple, outs = _as_tuple(out, "the output of func", caller)
    _require_grad(outs, strict, "outputs")
    return is_tuple, outs


def _finish(values: tuple, create_graph: bool) -> tuple:
    """Detach the results unless ``create_graph``."""
    return values if create_graph else tuple(None if v is None else Tensor._wrap(v.data) for v in values)


def _grads(outputs: tuple, inputs: tuple, grad_outputs: tuple, create_graph: bool,
           strict: bool = False, stage: str = "back", output: int = 0) -> tuple:
    """``mg.grad`` of ``outputs`` (only those that require grad), zeros for unused inputs.

    With ``strict``, PyTorch's checks (``torch.autograd.functional._fill_in_zeros``) raise its
    RuntimeError instead: an input no gradient reached, with the message for the pass
    ``stage``; and for a last pass ("first" is a pass whose result is differentiated again),
    under create_graph, a gradient that does not depend on the inputs."""
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if o.requires_grad]
    found = (_grad([o for o, _ in pairs], list(inputs), [g for _, g in pairs], retain_graph=True,
                   create_graph=create_graph, allow_unused=True) if pairs else (None,) * len(inputs))
    if strict:
        for i, g in enumerate(found):
            if g is None:
                raise RuntimeError(_INDEPENDENT[stage].format(i=i, output=output))
            if create_graph and stage != "first" and not g.requires_grad:
                what = "hessian" if stage.startswith("double") else "jacobian"
                raise RuntimeError(f"The {what} of the user-provided function is independent of input {i}. "
                                   "This is not allowed in strict mode when create_graph=True.")
    return tuple(Tensor._wrap(np.zeros_like(x.data)) if g is None else g for x, g in zip(inputs, found))


# PyTorch's strict-mode messages for an input no gradient reached, by the pass: "back" a vjp,
# "first" the first pass of jvp, hvp and vhp, "rows" a row of the Jacobian, "back_trick" the
# second pass of jvp's double-vjp trick, "double_back" vhp's second pass, "double_back_trick"
# hvp's last pass.
_INDEPENDENT = {
    "back": "The output of the user-provided function is independent of input {i}. This is not "
            "allowed in strict mode.",
    "rows": "Output {output} of the user-provided function is independent of input {i}. This is not "
            "allowed in strict mode.",
    "back_trick": "The gradient with respect to the input is independent of entry {i} in the "
                  "grad_outputs when using the double backward trick to compute forward mode "
                  "gradients. This is not allowed in strict mode.",
    "double_back": "The jacobian of the user-provided function is independent of input {i}. This "
                   "is not allowed in strict mode.",
    "double_back_trick": "The hessian of the user-provided function is independent of entry {i} in "
                         "the grad_jacobian. This is not allowed in strict mode as it prevents from "
                         "using the double backward trick to replace forward mode AD.",
}
_INDEPENDENT["first"] = _INDEPENDENT["back"]


def _require_grad(tensors: tuple, strict: bool, kind: str) -> None:
    """With ``strict``, PyTorch's check (``_check_requires_grad``) that ``tensors``, the outputs
    of ``func`` or gradients to be differentiated again, depend on the inputs."""
    for i, t in enumerate(tensors):
        if strict and not t.requires_grad:
            raise RuntimeError(_DOES_NOT_REQUIRE_GRAD[kind].format(i=i))


_DOES_NOT_REQUIRE_GRAD = {
    "outputs": "Output {i} of the user-provided function does not require gradients. The outputs "
               "must be computed in a differentiable manner from the input when running in strict mode.",
    "grad_inputs": "The gradient with respect to input {i} is independent of the inputs of the "
                   "user-provided function. This is not allowed in strict mode.",
    "jacobian": "While computing the hessian, found that the jacobian of the user-provided function "
                "with respect to input {i} is independent of the input. This is not allowed in strict "
                "mode. You should ensure that your function is twice differentiable and that the "
                "jacobian depends on the inputs (this would be violated by a linear function for example).",
}


def _check_jacobian_options(create_graph: bool, strict: bool, vectorize: bool, strategy: str, caller: str) -> None:
    """PyTorch's checks of ``vectorize`` and ``strategy``. Both only choose how PyTorch
    computes the Jacobian (vmap, forward-mode AD), not its values: microgradnp accepts the
    combinations PyTorch accepts and computes the same numbers by reverse passes."""
    if strategy not in ("forward-mode", "reverse-mode"):
        raise ValueError(f'{caller}: expected strategy to be either "forward-mode" or "reverse-mode", '
                         f"got {strategy!r}")
    if strategy == "forward-mode":
        if create_graph:
            raise NotImplementedError(f'{caller}: `create_graph=True` and `strategy="forward-mode"` are not '
                                      'supported together (as in PyTorch); set create_graph=False or '
                                      'strategy="reverse-mode"')
        if strict:
            raise RuntimeError(f'{caller}: `strict=True` and `strategy="forward-mode"` are not supported '
                               'together (as in PyTorch); set strict=False or strategy="reverse-mode"')
        if not vectorize:
            raise NotImplementedError(f'{caller}: strategy="forward-mode" is only implemented for '
                                      "vectorize=True (as in PyTorch)")
    if vectorize and strict:
        raise RuntimeError(f"{caller}: `strict=True` and `vectorize=True` are not supported together (as in "
                           "PyTorch); set strict=False or vectorize=False")


def _vectors(v, like: tuple, is_tuple: bool, what: str, caller: str) -> tuple:
    """``v`` as a tuple of arrays or Tensors with the shapes of ``like``; None is allowed only
    when ``like`` is one single-element tensor (then it means 1)."""
    if v is None:
        if len(like) != 1 or like[0].data.size != 1:
            raise RuntimeError(
                f"{caller}: v can be None only when the {what} is a single tensor with a single "
                f"element; pass v with the {what}'s shape"
            )
        return (np.ones_like(like[0].data),)
    v_tuple = isinstance(v, (tuple, list))
    vs = tuple(v) if v_tuple else (v,)
    if len(vs) != len(like) or (v_tuple and not is_tuple and len(vs) != 1):
        raise RuntimeError(f"{caller}: v has {len(vs)} element(s) but the {what} has {len(like)}")
    result = []
    for i, (vec, t) in enumerate(zip(vs, like)):
        data = vec.data if isinstance(vec, Tensor) else np.asarray(vec, dtype=t.data.dtype)
        if data.shape != t.data.shape:
            raise RuntimeError(f"{caller}: v[{i}] has shape {data.shape} but the {what} has shape {t.data.shape}")
        result.append(vec if isinstance(vec, Tensor) else data)
    return tuple(result)


def _structure(values: tuple, is_tuple: bool):
    return values if is_tuple else values[0]


def vjp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """The vector-Jacobian product ``v^T J`` of ``func`` at ``inputs``.

    Args:
        func: A function of Tensors returning a Tensor or a tuple of Tensors.
        inputs: A Tensor or a tuple of Tensors, the point.
        v: One vector per output of ``func`` (its shape); may be None when ``func``
            returns a single-element Tensor.
        create_graph: Make the results differentiable.
        strict: Raise a RuntimeError, as PyTorch, where an output does not depend on an
            input (instead of giving zeros).

    Returns:
        ``(func_output, vjp)``: the output of ``func`` and the product, shaped as ``inputs``.

    Raises:
        RuntimeError: ``v`` is missing or does not match the outputs.
    """
    with enable_grad():
        in_tuple, xs = _as_tuple(inputs, "inputs", "vjp")
        leaves = _leaves(xs, create_graph)
        out = func(*leaves)
        out_tuple, outs = _outputs(out, "vjp", strict)
        vs = _vectors(v, outs, out_tuple, "output of func", "vjp")
        grads = _grads(outs, leaves, vs, create_graph, strict, "back")
    return _structure(_finish(outs, create_graph), out_tuple), _structure(_finish(grads, create_graph), in_tuple)


def jvp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """The Jacobian-vector product ``J v`` of ``func`` at ``inputs``.

    Computed with two reverse passes (the "double vjp" trick), as PyTorch does: ``J^T u``
    for a dummy ``u``, then its gradient with respect to ``u`` along ``v``.

    Args:
        func: A function of Tensors returning a Tensor or a tuple of Tensors.
        inputs: A Tensor or a tuple of Tensors, the point.
        v: One vector per input (its shape); may be None when there is one
            single-element input.
        create_graph: Make the results differentiable.
        strict: Raise a RuntimeError, as PyTorch, where an output does not depend on an
            input (instead of giving zeros).

    Returns:
        ``(func_output, jvp)``: the output of ``func`` and the product, shaped as the output.

    Raises:
        RuntimeError: ``v`` is missing or does not match the inputs.
    """
    with enable_grad():
        in_tuple, xs = _as_tuple(inputs, "inputs", "jvp")
        vs = _vectors(v, xs, in_tuple, "input", "jvp")
        leaves = _leaves(xs, create_graph)
        out = func(*leaves)
        out_tuple, outs = _outputs(out, "jvp", strict)
        dummies = tuple(Tensor._wrap(np.zeros_like(o.data)).requires_grad_() for o in outs)
        vjps = _grads(outs, leaves, dummies, True, strict, "first")
        _require_grad(vjps, strict, "grad_inputs")
        pairs = [(g, vec) for g, vec in zip(vjps, vs) if g.requires_grad]
        jvps = _grads(tuple(g for g, _ in pairs), dummies, tuple(vec for _, vec in pairs), create_graph,
                      strict, "back_trick")
    return _structure(_finish(outs, create_graph), out_tuple), _structure(_finish(jvps, create_graph), out_tuple)


def _one_hot(shape: tuple, dtype, k: int) -> np.ndarray:
    e = np.zeros(shape, dtype)
    e.flat[k] = 1
    return e


def _jacobian_of(outs: tuple, leaves: tuple, create_graph: bool, strict: bool) -> tuple:
    """``J[i][j]``: d outs[i] / d leaves[j], of shape ``outs[i].shape + leaves[j].shape``."""
    from microgradnp.ops import stack

    jac = []
    for i, o in enumerate(outs):
        rows = [_grads((o,), leaves, (_one_hot(o.data.shape, o.data.dtype, k),), create_graph, strict, "rows", i)
                for k in range(o.data.size)]
        per_input = []
        for j, x in enumerate(leaves):
            shape = o.data.shape + x.data.shape
            if not rows:
                per_input.append(Tensor._wrap(np.zeros(shape, x.data.dtype)))
            elif create_graph:
                per_input.append(stack([r[j] for r in rows]).reshape(shape))
            else:
                per_input.append(Tensor._wrap(np.stack([r[j].data for r in rows]).reshape(shape)))
        jac.append(tuple(per_input))
    return tuple(jac)


def _nest(jac: tuple, out_tuple: bool, in_tuple: bool):
    """PyTorch's nesting: tuple of outputs, each a tuple over inputs, unwrapped where not tuples."""
    rows = tuple(row if in_tuple else row[0] for row in jac)
    return rows if out_tuple else rows[0]


def jacobian(func, inputs, create_graph: bool = False, strict: bool = False, vectorize: bool = False,
             strategy: str = "reverse-mode"):
    """The Jacobian of ``func`` at ``inputs`` (one reverse pass per output element).

    Args:
        func: A function of Tensors returning a Tensor or a tuple of Tensors.
        inputs: A Tensor or a tuple of Tensors, the point.
        create_graph: Make the result differentiable.
        strict: Raise a RuntimeError, as PyTorch, where an output does not depend on an
            input (instead of giving zeros).
        vectorize: Accepted as PyTorch's (which then computes with vmap); same results.
        strategy: "reverse-mode" or "forward-mode"; accepted as PyTorch's, whose
            forward mode needs vectorize=True and refuses create_graph and strict; same results.

    Returns:
        A Tensor of shape ``output.shape + input.shape`` for one input and one output;
        with a tuple of inputs, a tuple over the inputs; with a tuple of outputs, a tuple
        over the outputs (of tuples over the inputs when both are tuples).
    """
    _check_jacobian_options(create_graph, strict, vectorize, strategy, "jacobian")
    with enable_grad():
        in_tuple, xs = _as_tuple(inputs, "inputs", "jacobian")
        leaves = _leaves(xs, create_graph)
        out_tuple, outs = _outputs(func(*leaves), "jacobian", strict)
        jac = _jacobian_of(outs, leaves, create_graph, strict)
    return _nest(jac, out_tuple, in_tuple)


def _gradient_function(func, caller: str, strict: bool):
    """``xs -> gradient of func at xs``, with its graph, for the second derivatives (with
    ``strict``, PyTorch's hessian checks that it depends on the inputs)."""
    def gradient(*xs):
        out_tuple, outs = _outputs(func(*xs), caller, strict)
        if out_tuple or outs[0].data.size != 1:
            raise RuntimeError(f"{caller}: func must return a single Tensor with a single element")
        grads = _grads(outs, xs, (np.ones_like(outs[0].data),), create_graph=True)
        _require_grad(grads, strict, "jacobian")
        return grads
    return gradient


def hessian(func, inputs, create_graph: bool = False, strict: bool = False, vectorize: bool = False,
            outer_jacobian_strategy: str = "reverse-mode"):
    """The Hessian of a scalar function ``func`` at ``inputs``.

    Args:
        func: A function of Tensors returning a single-element Tensor.
        inputs: A Tensor or a tuple of Tensors, the point.
        create_graph: Make the result differentiable.
        strict: Raise a RuntimeError, as PyTorch, where the gradient does not depend on an
            input (a linear function) instead of giving zeros.
        vectorize: As ``jacobian``'s, for the outer Jacobian; same results.
        outer_jacobian_strategy: As ``jacobian``'s ``strategy``, for the outer Jacobian; same results.

    Returns:
        A Tensor of shape ``input.shape + input.shape`` for one input; for a tuple of
        inputs, a tuple of tuples: ``H[i][j]`` of shape ``inputs[i].shape + inputs[j].shape``.

    Raises:
        RuntimeError: ``func`` does not return a single-element Tensor.
    """
    _check_jacobian_options(create_graph, strict, vectorize, outer_jacobian_strategy, "hessian")
    with enable_grad():
        in_tuple, xs = _as_tuple(inputs, "inputs", "hessian")
        leaves = _leaves(xs, create_graph)
        grads = _gradient_function(func, "hessian", strict)(*leaves)
        jac = _jacobian_of(grads, leaves, create_graph, strict)
    return _nest(jac, in_tuple, in_tuple)


def _gradient_and_vectors(func, inputs, v, create_graph: bool, strict: bool, name: str):
    """What ``vhp`` and ``hvp`` start from: the inputs as leaves, the vectors checked
    against them, ``func``'s single-element output and its gradient (with its graph)."""
    in_tuple, xs = _as_tuple(inputs, "inputs", name)
    vs = _vectors(v, xs, in_tuple, "input", name)
    leaves = _leaves(xs, create_graph)
    out_tuple, outs = _outputs(func(*leaves), name, strict)
    if out_tuple or outs[0].data.size != 1:
        raise RuntimeError(f"{name}: func must return a single Tensor with a single element")
    grads = _grads(outs, leaves, (np.ones_like(outs[0].data),), True, strict, "first")
    _require_grad(grads, strict, "jacobian")
    return in_tuple, vs, leaves, outs, grads


def vhp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """The vector-Hessian product ``v^T H`` of a scalar function ``func`` at ``inputs``.

    Args:
        func: A function of Tensors returning a single-element Tensor.
        inputs: A Tensor or a tuple of Tensors, the point.
        v: One vector per input (its shape); may be None for one single-element input.
        create_graph: Make the results differentiable.
        strict: Raise a RuntimeError, as PyTorch, where the gradient does not depend on an
            input (a linear function) instead of giving zeros.

    Returns:
        ``(func_output, vhp)``, the product shaped as ``inputs``.

    Raises:
        RuntimeError: ``func`` does not return a single-element Tensor, or ``v`` does not fit.
    """
    with enable_grad():
        in_tuple, vs, leaves, outs, grads = _gradient_and_vectors(func, inputs, v, create_graph, strict, "vhp")
        products = _grads(grads, leaves, vs, create_graph, strict, "double_back")
    return _finish(outs, create_graph)[0], _structure(_finish(products, create_graph), in_tuple)


def hvp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """The Hessian-vector product ``H v`` of a scalar function ``func`` at ``inputs``.

    The Hessian of a twice continuously differentiable function is symmetric, so this is
    ``vhp``; it is computed as the Jacobian-vector product of the gradient (two reverse
    passes through the gradient, as PyTorch's ``hvp``), which also holds where it is not.

    Args:
        func: A function of Tensors returning a single-element Tensor.
        inputs: A Tensor or a tuple of Tensors, the point.
        v: One vector per input (its shape); may be None for one single-element input.
        create_graph: Make the results differentiable.
        strict: Raise a RuntimeError, as PyTorch, where the gradient does not depend on an
            input (a linear function) instead of giving zeros.

    Returns:
        ``(func_output, hvp)``, the product shaped as ``inputs``.

    Raises:
        RuntimeError: ``func`` does not return a single-element Tensor, or ``v`` does not fit.
    """
    with enable_grad():
        in_tuple, vs, leaves, outs, grads = _gradient_and_vectors(func, inputs, v, create_graph, strict, "hvp")
        dummies = tuple(Tensor._wrap(np.zeros_like(x.data)).requires_grad_() for x in leaves)
        transposed = _grads(grads, leaves, dummies, create_graph=True)
        pairs = [(g, vec) for g, vec in zip(transposed, vs) if g.requires_grad]
        products = _grads(tuple(g for g, _ in pairs), dummies, tuple(vec for _, vec in pairs), create_graph,
                          strict, "double_back_trick")
    return _finish(outs, create_graph)[0], _structure(_finish(products, create_graph), in_tuple)
