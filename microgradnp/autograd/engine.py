"""The graph walk: reverse topological order, vector-Jacobian products, accumulation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from microgradnp.autograd.grad_mode import set_grad_enabled
from microgradnp.tensor import Tensor


def topological_order(roots: Sequence[Tensor]) -> list[Tensor]:
    """Non-leaf tensors below ``roots``, each after every tensor it was computed from.

    Iterative depth-first search (no recursion), so graphs of any depth work.
    """
    order: list[Tensor] = []
    seen: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(r, False) for r in roots if r._node is not None]
    while stack:
        tensor, expanded = stack.pop()
        if expanded:
            order.append(tensor)
            continue
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        stack.append((tensor, True))
        for x in tensor._node.inputs:
            if isinstance(x, Tensor) and x._node is not None and id(x) not in seen:
                stack.append((x, False))
    return order


def sum_to_shape(grad, shape: tuple[int, ...]):
    """Sum a gradient over the axes along which its input was broadcast."""
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1
    )
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape) if lead else grad


class _LeafGrads:
    """Accumulates into leaves' ``.grad``; never lets two leaves share one array."""

    def __init__(self, *already_shared):
        self.handed_out = {id(a) for a in already_shared}

    def add(self, leaf: Tensor, grad) -> None:
        if leaf.grad is None:
            # Steal the array when nothing else can see it, as PyTorch's AccumulateGrad
            # does; copy views, read-only broadcasts and arrays given out already.
            if (
                type(grad) is not np.ndarray
                or grad.base is not None
                or not grad.flags.writeable
                or grad.dtype != leaf.data.dtype
                or id(grad) in self.handed_out
            ):
                grad = np.array(grad, dtype=leaf.data.dtype)
            self.handed_out.add(id(grad))
            leaf.grad = grad
        else:
            leaf.grad = leaf.grad + grad


def run_backward(
    roots: Sequence[Tensor],
    root_grads: Sequence,
    retain_graph: bool,
    create_graph: bool = False,
    wanted: Sequence[Tensor] | None = None,
) -> dict[int, object]:
    """Propagate ``root_grads`` from ``roots`` down the graph.

    Without ``wanted`` the gradients accumulate into the leaves' ``.grad`` (``backward()``).
    With it, nothing is written to ``.grad``; the gradients reaching those tensors are
    returned by ``id`` (``mg.grad``).
    """
    order = topological_order(roots)
    wanted_ids = None if wanted is None else {id(t) for t in wanted}
    found: dict[int, object] = {}
    pending: dict[int, object] = {}
    leaves = _LeafGrads(*root_grads)

    def deliver(tensor: Tensor, grad) -> None:
        if grad.shape != tensor.data.shape:
            grad = sum_to_shape(grad, tensor.data.shape)
        if tensor._node is None:
            if tensor._hooks:
                grad = _run_hooks(tensor, grad)
            if wanted_ids is None:
                leaves.add(tensor, grad)
            elif id(tensor) in wanted_ids:
                found[id(tensor)] = found[id(tensor)] + grad if id(tensor) in found else grad
        else:
            key = id(tensor)
            pending[key] = pending[key] + grad if key in pending else grad

    with set_grad_enabled(create_graph):
        for root, grad in zip(roots, root_grads):
            if root.requires_grad:
                deliver(root, grad)
        for tensor in reversed(order):
            grad = pending.pop(id(tensor), None)
            if grad is None:
                continue
            if tensor._hooks:
                grad = _run_hooks(tensor, grad)
            if tensor._retains_grad and wanted_ids is None:
                tensor.grad = _as_plain(grad) if tensor.grad is None else tensor.grad + _as_plain(grad)
                leaves.handed_out.add(id(tensor.grad))
            if wanted_ids is not None and id(tensor) in wanted_ids:
                found[id(tensor)] = grad
            node = tensor._node
            input_grads = node._vjp(grad, tensor, create_graph)
            if not retain_graph:
                node._release()
            for x, g in zip(node.inputs, input_grads):
                if g is not None and isinstance(x, Tensor) and x.requires_grad:
                    deliver(x, g)
    return found


def _run_hooks(tensor: Tensor, grad):
    for hook in tensor._hooks:
        replaced = hook(grad)
        if replaced is not None:
            grad = replaced
    return grad


def _as_plain(grad) -> np.ndarray:
    return np.array(grad.data if isinstance(grad, Tensor) else grad)


def backward(tensor: Tensor, grad=None, retain_graph: bool = False) -> None:
    """Accumulate d(tensor)/d(leaf) into every leaf's ``.grad`` (see ``Tensor.backward``)."""
    if not tensor.requires_grad:
        raise RuntimeError(
            "backward(): this tensor does not require grad and has no graph. Create the "
            "inputs with requires_grad=True (or call .requires_grad_()) before computing "
            "it, and do not compute it inside mg.no_grad()."
        )
    seed = _seed_grad(tensor, grad, "backward()")
    run_backward([tensor], [seed], retain_graph=retain_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Gradients of ``outputs`` with respect to ``inputs``, returned (not stored in ``.grad``).

    ``outputs`` and ``inputs`` are Tensors or sequences of Tensors; ``grad_outputs``
    the vectors of the vector-Jacobian product (required for non-scalar outputs).
    With ``create_graph=True`` the returned Tensors carry their own graph, so they can
    be differentiated again (Hessian-vector products, gradient penalties).
    ``retain_graph`` defaults to ``create_graph``. Returns a tuple with one Tensor per
    input; an input the outputs do not depend on raises unless ``allow_unused=True``,
    which gives ``None`` for it.
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, (Tensor, np.ndarray)) or np.isscalar(grad_outputs):
        grad_outputs = [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"mg.grad: got {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor) or not x.requires_grad:
            raise RuntimeError(f"mg.grad: input {i} does not require grad; create it with requires_grad=True")
    for i, y in enumerate(outputs):
        if not isinstance(y, Tensor) or not y.requires_grad:
            raise RuntimeError(
                f"mg.grad: output {i} does not require grad, so it does not depend on any input"
            )
    if retain_graph is None:
        retain_graph = create_graph
    seeds = [_seed_grad(y, g, "mg.grad", as_tensor=create_graph) for y, g in zip(outputs, grad_outputs)]
    found = run_backward(outputs, seeds, retain_graph, create_graph, wanted=inputs)
    results = []
    for i, x in enumerate(inputs):
        g = found.get(id(x))
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    f"mg.grad: input {i} was not used to compute the outputs; pass "
                    "allow_unused=True to get None for it"
                )
            results.append(None)
        elif isinstance(g, Tensor):
            results.append(g)
        else:
            results.append(Tensor._wrap(np.array(g, dtype=x.data.dtype)))
    return tuple(results)


def _seed_grad(tensor: Tensor, grad, caller: str, as_tensor: bool = False):
    if grad is None:
        if tensor.data.size != 1:
            raise RuntimeError(
                f"{caller}: the output has shape {tensor.data.shape}, not a single value, so "
                "the gradient to start from is ambiguous. Reduce it first (y.sum(), y.mean()) "
                "or pass grad=... with the output's shape (e.g. np.ones_like(y.data))."
            )
        grad = np.ones_like(tensor.data)
    else:
        grad_data = grad.data if isinstance(grad, Tensor) else np.asarray(grad, dtype=tensor.data.dtype)
        if grad_data.shape != tensor.data.shape:
            raise RuntimeError(
                f"{caller}: grad has shape {grad_data.shape} but the output has shape "
                f"{tensor.data.shape}; they must match"
            )
        if not (as_tensor and isinstance(grad, Tensor)):
            grad = grad_data
    if as_tensor and not isinstance(grad, Tensor):
        grad = Tensor._wrap(grad)
    return grad
