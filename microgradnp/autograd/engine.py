"""The graph walk: reverse topological order, vector-Jacobian products, accumulation."""

from __future__ import annotations

import operator
import threading
from collections.abc import Sequence
from heapq import heappop, heappush
from sys import getrefcount
from typing import NamedTuple

import numpy as np

from microgradnp.autograd.function import RELEASED, node_hooks
from microgradnp.autograd.grad_mode import mode, watchers
from microgradnp.autograd.versions import writes
from microgradnp.tensor import FREED, Tensor, _AfterAccumulation, _data, describe


class GradientEdge(NamedTuple):
    """Where a tensor's gradient enters the graph, as PyTorch's (``mg.autograd.graph.
    get_gradient_edge``): ``node`` (its ``grad_fn``, or the ``AccumulateGrad`` of a leaf) and
    ``output_nr`` (which output of it). It keeps ``tensor`` too, so that ``mg.grad`` takes it
    as an entry of ``inputs``."""

    node: object
    output_nr: int
    tensor: Tensor | None = None


class _Callbacks(threading.local):
    queue: list | None = None  # the callbacks of the backward running in this thread


_callbacks = _Callbacks()


def queue_callback(callback) -> None:
    """Call ``callback()`` once the backward running in this thread has computed every
    gradient (PyTorch's ``Variable._execution_engine.queue_callback``), e.g. from a hook."""
    if _callbacks.queue is None:
        raise RuntimeError("queue_callback: no backward is running in this thread")
    _callbacks.queue.append(callback)


def topological_order(roots: Sequence[Tensor]) -> list[Tensor]:
    """Non-leaf tensors below ``roots``, each after every tensor it was computed from.

    Iterative depth-first search (no recursion), so graphs of any depth work.
    (``backward`` itself needs no sort: it pops nodes newest first from a heap.)
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


def summed_axes(grad_shape: tuple[int, ...], shape: tuple[int, ...]) -> tuple[int, ...]:
    """The axes of a gradient of ``grad_shape`` that ``sum_to_shape`` sums (keeping them) to
    bring it back to ``shape``: the leading axes broadcasting added and those it stretched."""
    lead = len(grad_shape) - len(shape)
    axes = tuple(range(lead)) if lead else ()
    for i, n in enumerate(shape):
        if n == 1 and grad_shape[lead + i] != 1:
            axes += (lead + i,)
    return axes


def sum_to_shape(grad, shape: tuple[int, ...]):
    """Sum a gradient over the axes along which its input was broadcast."""
    axes = summed_axes(grad.shape, shape)
    if axes:
        # np.add.reduce is ndarray.sum without its Python wrapper (this runs for every bias).
        grad = np.add.reduce(grad, axis=axes, keepdims=True) if type(grad) is np.ndarray else grad.sum(axes, True)
    return grad.reshape(shape) if grad.ndim != len(shape) else grad


# Held while a gradient is added to a leaf's .grad: backward in two threads into one shared
# leaf (a model trained by several threads) must add both, as PyTorch's AccumulateGrad does.
accumulating = threading.Lock()


def _accumulate_leaf(leaf: Tensor, grad, handed_out: set[int]) -> None:
    """Add ``grad`` to ``leaf.grad``, never letting two leaves share one array."""
    with accumulating:
        current = leaf._grad
        if current is None:
            # Keep the array itself when nothing else can see it (PyTorch's AccumulateGrad
            # does the same); copy views, broadcasts and arrays handed out already.
            if type(grad) is not np.ndarray or grad.base is not None or id(grad) in handed_out:
                grad = np.array(grad, dtype=leaf.data.dtype)
            elif grad.dtype != leaf.data.dtype:
                grad = grad.astype(leaf.data.dtype)
            handed_out.add(id(grad))
            leaf._grad = grad
        else:
            leaf._grad = summed_into(leaf, grad)


def _shared(grads: tuple) -> list:
    """The arrays a rule hands to more than one input (``add``'s backward gives its own
    gradient to both), which a leaf must copy rather than keep as its ``.grad``."""
    if len(grads) == 2:  # (the usual case, without a set)
        first = grads[0]
        return [first] if first is not None and first is grads[1] else []
    seen, shared = set(), []
    for g in grads:
        if g is not None:
            if id(g) in seen:
                shared.append(g)
            seen.add(id(g))
    return shared


def summed_into(leaf: Tensor, grad) -> np.ndarray:
    """``leaf.grad + grad`` in the leaf's dtype: a gradient in a wider dtype (a float64
    constant met a float32 leaf) must not widen ``.grad``. Added in place, as PyTorch
    accumulates, so a reference to ``.grad`` taken before sees the sum too."""
    current = leaf._grad
    graph = leaf._grad_graph  # (.grad_tensor's graph is of the values it has: then a new array)
    if (type(current) is np.ndarray and type(grad) is np.ndarray and current.shape == grad.shape
            and current.dtype == leaf.data.dtype and current.flags.writeable
            and (graph is None or graph[0] is not current)):
        return np.add(current, grad, out=current, casting="same_kind")
    total = current + grad
    return total if total.dtype == leaf.data.dtype else total.astype(leaf.data.dtype)


def _paths_to(roots: Sequence[Tensor], wanted_ids: set[int]) -> tuple[set[int], set[int]]:
    """For ``mg.grad``: the tensors a gradient must reach (the wanted ones and those on a
    path to them) and, among them, those whose inputs it must go on to (``expand``)."""
    needed, expand = set(wanted_ids), set()
    for tensor in topological_order(roots):  # inputs before the tensors made from them
        if any(isinstance(x, Tensor) and id(x) in needed for x in tensor._node.inputs):
            expand.add(id(tensor))
            needed.add(id(tensor))
    return needed, expand


def run_backward(
    roots: Sequence[Tensor],
    root_grads: Sequence,
    retain_graph: bool,
    create_graph: bool = False,
    wanted: Sequence[Tensor] | None = None,
    accumulate_wanted: bool = False,
) -> dict[int, object]:
    """Propagate ``root_grads`` from ``roots`` down the graph.

    Nodes are visited newest first (a heap keyed by creation order): every consumer
    of a tensor was created after it, so its gradient is complete when it is popped.
    This needs no separate sort and no recursion. A leaf's gradient is complete only at
    the end, so leaves with hooks collect their total first and run the hooks once on it.

    Without ``wanted`` the gradients accumulate into the leaves' ``.grad`` (``backward()``).
    With it, nothing is written to ``.grad``; the gradients reaching those tensors are
    returned by ``id`` (``mg.grad``), and the walk goes only along the paths to them, so
    no other tensor's hook runs; ``accumulate_wanted`` then adds them to those tensors'
    ``.grad`` (``backward(inputs=...)``).
    """
    if wanted is None:
        wanted_ids = needed = expand = None
    else:
        wanted_ids = {id(t) for t in wanted}
        needed, expand = _paths_to(roots, wanted_ids)
    found: dict[int, object] = {}
    pending: dict[int, list] = {}  # id -> [gradient so far, how many input slots of walked nodes hold it]
    hooked_leaves: dict[int, list] = {}  # id -> [leaf, total gradient]
    heap: list[tuple[int, Tensor]] = []
    handed_out = set(map(id, root_grads))
    work = zip(roots, root_grads)  # (the delivery below skips roots that do not require grad)
    if needed is not None:
        work = [(root, grad) for root, grad in work if id(root) in needed]

    anomaly = watchers.count and mode.anomaly  # read once, as PyTorch does at the start
    # An mg.compile trace records the walk: the same calls, through its recorder.
    tracer = mode.tracer if watchers.count else None
    if tracer is None:
        reduce_to, accumulate, add = sum_to_shape, _accumulate_leaf, operator.add
    else:
        reduce_to, accumulate, add = tracer.backward_begins(root_grads, create_graph, handed_out)
    if create_graph:  # .grad gets the values, .grad_tensor the Tensor with its graph
        accumulate = _accumulate_leaf_graph
    queued: set[int] = set()  # nodes with several outputs already on the heap
    # Node hooks anywhere: each node is asked for its own (else one test of a local per node).
    watching = anomaly or tracer is not None or node_hooks.count
    was_enabled = mode.grad_enabled
    outer_callbacks, _callbacks.queue = _callbacks.queue, []  # (a hook may run a backward of its own)
    mode.grad_enabled = create_graph
    try:
        while True:
            # Deliver the gradients just computed: leaves accumulate, the others wait
            # on the heap until all their consumers are done.
            for x, g in work:
                if g is None or not isinstance(x, Tensor) or not x._requires_grad:
                    continue
                if g.shape != x.data.shape:
                    g = reduce_to(g, x.data.shape)
                node = x._node
                if node is not None:
                    entry = pending.get(id(x))
                    if entry is None:
                        pending[id(x)] = [g, 1]
                        if node._outputs is None:
                            heappush(heap, (node._order, x))
                        elif id(node) not in queued:  # once per node, whichever output comes first
                            queued.add(id(node))
                            heappush(heap, (node._order, x))
                    else:
                        entry[0] = add(entry[0], g)
                        entry[1] += 1
                elif x._hooks:
                    if tracer is not None:
                        tracer.hooked(x, f"a hook on {describe(x)}")
                    entry = hooked_leaves.get(id(x))
                    if entry is None:
                        hooked_leaves[id(x)] = [x, g]
                    else:
                        entry[1] = entry[1] + g
                elif wanted_ids is None:
                    accumulate(x, g, handed_out)
                else:
                    found[id(x)] = add(found[id(x)], g) if id(x) in found else g
            x = g = None  # the loop variable must not count as a reference below
            if not heap:
                break
            order, tensor = heappop(heap)
            node = tensor._node
            if node._outputs is not None:  # a Function with several outputs
                outputs = [ref() for ref in node._outputs]
                out_grads = []
                for out in outputs:
                    entry = pending.pop(id(out), None) if out is not None else None
                    out_grads.append(None if entry is None else entry[0])
                reached = _visit_outputs(outputs, out_grads, wanted_ids, expand, found, tracer, create_graph,
                                         handed_out, accumulate_wanted)
                if not reached:
                    work = ()
                    continue
                if watching and node._prehooks:
                    out_grads = list(_run_node_hooks(node, node._prehooks, tuple(out_grads), tracer))
                if node._saved is RELEASED:
                    raise node._second_backward()
                if writes.latest < order:
                    node._check_versions(tensor)
                raw = grads = node._vjp_several(node._output_grads(out_grads, create_graph), outputs)
                uses = None
            else:
                grad, uses = pending.pop(id(tensor))
                if type(grad) is not np.ndarray and not create_graph:
                    # A rule on 0-d arrays may return a NumPy scalar: the next rule gets an array.
                    grad = np.asarray(grad) if tracer is None else tracer.as_array(grad)
                if tensor._hooks:
                    if tracer is not None:
                        tracer.hooked(tensor, f"a hook on {describe(tensor)}")
                    grad = _run_hooks(tensor, grad)
                    handed_out.add(id(grad))  # a hook saw it (or made it): a leaf's .grad gets a copy
                is_wanted = wanted_ids is not None and id(tensor) in wanted_ids
                if tensor._retains_grad and not (is_wanted and accumulate_wanted):  # (that adds it once)
                    _retained(tensor, grad, tracer, create_graph, handed_out)
                if is_wanted:
                    found[id(tensor)] = grad
                    if id(tensor) not in expand:
                        work = ()
                        continue
                if node._saved is RELEASED:
                    raise node._second_backward()
                if writes.latest < order:  # something was written in place since node was recorded
                    node._check_versions(tensor)
                if watching and node._prehooks:
                    (grad,) = _run_node_hooks(node, node._prehooks, (grad,), tracer)
                raw = grads = node._vjp_building_graph(grad, tensor) if create_graph else node.backward(node, grad)
            if type(grads) is not tuple:
                grads = (grads,)
            if not node._builtin:  # the built-in primitives' gradients are tested, not checked
                grads = node._checked_grads(grads)
                # (the user's rule may return an array it holds, a saved input say: .grad gets a copy)
                handed_out.update(id(g) for g in grads if g is not None)
            if watching:  # detect_anomaly, an mg.compile trace, or node hooks
                if anomaly:
                    node._check_finite_grads(grads)
                if tracer is not None:
                    if uses is None:
                        tracer.cannot_replay(f"{node.name}, a Function with several outputs")
                    else:
                        tracer.vjp(node, grad, raw, grads)
                if node._posthooks:
                    grads = _run_node_posthooks(node, grads, tracer, (grad,) if uses is not None else tuple(out_grads))
            if len(grads) > 1:
                shared = _shared(grads)
                if shared:  # a leaf that kept it as .grad would add into it in place while another node waits on it
                    handed_out.update(map(id, shared))
                    if tracer is not None:
                        tracer.handed_out_too(shared)
            if needed is None:
                work = zip(node.inputs, grads)
            else:  # mg.grad: only along the paths to the inputs asked for
                work = [(x, g) for x, g in zip(node.inputs, grads) if id(x) in needed]
            if not retain_graph:
                node._saved = RELEASED  # drop the saved arrays
                # Free the values of an intermediate that only its consumers' nodes hold
                # (the references counted: theirs, `tensor` and getrefcount's argument), so
                # that a kept loss does not keep its step's activations alive. Any other
                # reference (the user's, another graph's) keeps them.
                if uses is not None and getrefcount(tensor) == uses + 2:
                    tensor.data = FREED
        for leaf, total in hooked_leaves.values():
            total = _run_hooks(leaf, total)
            handed_out.add(id(total))
            if wanted_ids is None:
                total = _run_accumulate_prehooks(leaf, total, handed_out)
                (_accumulate_leaf_graph if create_graph else _accumulate_leaf)(leaf, total, handed_out)
                _run_post_accumulate_hooks(leaf, total)
            else:
                found[id(leaf)] = total
        if accumulate_wanted:  # (through the same functions as the walk: an mg.compile trace records them)
            for x in {id(x): x for x in wanted}.values():
                g = found.get(id(x))
                if g is None:
                    continue  # not reached: .grad stays as it was, as in PyTorch
                if g.shape != x.data.shape:
                    g = reduce_to(g, x.data.shape)
                if x._node is None and x._hooks:
                    g = _run_accumulate_prehooks(x, g, handed_out)
                accumulate(x, g, handed_out)
                if x._node is None:
                    _run_post_accumulate_hooks(x, g)
        callbacks = _callbacks.queue
        while callbacks:  # (a callback may queue another)
            callbacks.pop(0)()
        return found
    finally:
        mode.grad_enabled = was_enabled
        _callbacks.queue = outer_callbacks


def _visit_outputs(outputs, out_grads, wanted_ids, expand, found, tracer, create_graph, handed_out,
                   accumulate_wanted: bool) -> bool:
    """What the walk does at each output of a Function with several outputs before its
    backward: hooks (``out_grads`` is updated in place), ``retain_grad``, and for ``mg.grad``
    the outputs asked for. Returns whether backward must go on to the node's inputs."""
    reached = wanted_ids is None
    for i, (out, grad) in enumerate(zip(outputs, out_grads)):
        if grad is None:
            continue
        if out._hooks:
            if tracer is not None:
                tracer.hooked(out, f"a hook on {describe(out)}")
            grad = out_grads[i] = _run_hooks(out, grad)
            handed_out.add(id(grad))
        if out._retains_grad and not (accumulate_wanted and id(out) in wanted_ids):  # (that adds it once)
            _retained(out, grad, tracer, create_graph, handed_out)
        if wanted_ids is not None:
            if id(out) in wanted_ids:
                found[id(out)] = grad
            reached = reached or id(out) in expand
    return reached


def _retained(tensor: Tensor, grad, tracer, create_graph: bool, handed_out: set[int]) -> None:
    """``retain_grad()``: the gradient reaching ``tensor`` is added to its ``.grad``, by
    ``backward`` and by ``mg.grad`` alike, as PyTorch's."""
    if tracer is not None:
        tracer.cannot_replay(f"retain_grad() on {describe(tensor)}")
    if create_graph:
        _accumulate_leaf_graph(tensor, grad, handed_out)
    else:
        plain = _as_plain(grad, tensor.data.dtype)
        tensor._grad = plain if tensor._grad is None else tensor._grad + plain
        handed_out.add(id(tensor._grad))


def _run_node_hooks(node, hooks, grads: tuple, tracer, grad_outputs=None) -> tuple:
    """A node's pre-hooks (``hook(grads)``, ``grad_outputs`` None) or hooks (``hook(grads,
    grad_outputs)``), each given the gradients the previous one left; a non-None return
    replaces them and must have one gradient per entry."""
    if tracer is not None:  # (registered during the call: a replay would not run them)
        tracer.cannot_replay(f"a hook on the {node.name} node")
    kind = "hook" if grad_outputs is not None else "prehook"
    for hook in tuple(hooks):
        replaced = hook(grads, grad_outputs) if grad_outputs is not None else hook(grads)
        if replaced is not None:
            replaced = tuple(replaced)
            if len(replaced) != len(grads):
                raise RuntimeError(f"{kind} of the {node.name} node returned {len(replaced)} gradient(s) but "
                                   f"there are {len(grads)}: return one per entry (None where there is none)")
            grads = replaced
    return grads


def _run_node_posthooks(node, grads: tuple, tracer, grad_outputs: tuple) -> tuple:
    """A node's hooks on its gradients (None for inputs that need none). As PyTorch's, those of
    a Function of the user's see one gradient per Tensor input (other arguments have none)."""
    grads = tuple(g if need else None for g, need in zip(grads, node.needs_input_grad))
    if node._builtin:
        return _run_node_hooks(node, node._posthooks, grads, tracer, grad_outputs)
    positions = [i for i, x in enumerate(node.inputs) if isinstance(x, Tensor)]
    hooked = _run_node_hooks(node, node._posthooks, tuple(grads[i] for i in positions), tracer, grad_outputs)
    grads = list(grads)
    for i, g in zip(positions, hooked):
        grads[i] = g
    return tuple(grads)


def _accumulate_leaf_graph(leaf: Tensor, grad, handed_out: set[int]) -> None:
    """``backward(create_graph=True)``: ``.grad`` gets the values (an ndarray, as always)
    and ``.grad_tensor`` the same total as a Tensor carrying its graph."""
    previous = leaf.grad_tensor
    if not isinstance(grad, Tensor):
        grad = Tensor._wrap(grad)
    # Summed before .grad is: ``previous`` may wrap the very array that is about to be added to in place.
    total = grad if previous is None else previous + grad
    if total.data.dtype != leaf.data.dtype:  # (as .grad: a float32 leaf met a float64 constant)
        total = total.to(leaf.data.dtype)
    handed_out.add(id(grad.data))  # the graph's Tensor keeps it: .grad gets a copy
    _accumulate_leaf(leaf, grad.data, handed_out)
    leaf._grad_graph = (leaf._grad, total)


def _run_hooks(tensor: Tensor, grad):
    dtype = tensor.data.dtype
    if grad.dtype != dtype and dtype.kind == "f":  # as PyTorch, a hook sees the gradient in its tensor's dtype
        grad = grad.to(dtype) if isinstance(grad, Tensor) else grad.astype(dtype)
    for hook in tuple(tensor._hooks):
        if isinstance(hook, _AfterAccumulation):  # (run once .grad is complete, or by AccumulateGrad)
            continue
        replaced = hook(grad)
        if replaced is not None:
            grad = _check_hook_result(tensor, hook, grad, replaced)
    return grad


class AccumulateGradHook(_AfterAccumulation):
    """A hook on a leaf's ``AccumulateGrad`` node (``grad_fn.next_functions``), kept among the
    leaf's hooks as its post-accumulate hooks are. ``before`` (``register_prehook``):
    ``hook((grad,))`` on the leaf's total gradient, after its tensor hooks, and a non-None
    return (a 1-tuple) replaces it; else (``register_hook``) ``hook((), (grad,))`` after the
    post-accumulate hooks. As PyTorch's, they run where backward accumulates into ``.grad``
    (``backward()``, also with ``inputs=``), not for ``mg.grad``."""

    __slots__ = ("before",)

    def __init__(self, hook, before: bool):
        super().__init__(hook)
        self.before = before


def _run_accumulate_prehooks(leaf: Tensor, grad, handed_out: set[int]):
    """The pre-hooks of the leaf's ``AccumulateGrad`` node on ``grad``, about to be added to ``.grad``."""
    for entry in tuple(leaf._hooks):
        if type(entry) is AccumulateGradHook and entry.before:
            replaced = entry.hook((grad,))
            if replaced is not None:
                if not isinstance(replaced, tuple) or len(replaced) != 1:
                    raise RuntimeError(f"prehook of the AccumulateGrad node of {describe(leaf)} returned "
                                       f"a {type(replaced).__name__}; it must return None or a tuple of one gradient")
                grad = _check_hook_result(leaf, entry.hook, grad, replaced[0])
                handed_out.add(id(grad))  # (the hook may keep it: .grad gets a copy)
    return grad


def _run_post_accumulate_hooks(leaf: Tensor, grad) -> None:
    """The leaf's ``register_post_accumulate_grad_hook`` hooks, now that ``.grad`` is complete, then
    the hooks of its ``AccumulateGrad`` node (``grad``: what was added to ``.grad``)."""
    hooks = tuple(leaf._hooks or ())
    for after in hooks:
        if type(after) is _AfterAccumulation and after.hook(leaf) is not None:
            what = getattr(after.hook, "__name__", type(after.hook).__name__)
            raise TypeError(f"post accumulate grad hook {what!r} on {describe(leaf)} returned a value; it must "
                            "return None (it may change the tensor and its .grad in place instead)")
    for after in hooks:
        if type(after) is not AccumulateGradHook or after.before:
            continue
        result = after.hook((), (grad,))
        if result is not None and not (type(result) is tuple and not result):  # (() replaces none there are)
            raise RuntimeError(f"hook of the AccumulateGrad node of {describe(leaf)} returned a value; it has no "
                               "grad_inputs to replace, so it must return None")


def _check_hook_result(tensor: Tensor, hook, grad, replaced):
    """The hook's gradient, of the kind the walk carries (ndarray, or Tensor under
    create_graph); one of another shape or a non-float dtype raises naming the tensor."""
    data = replaced.data if isinstance(replaced, Tensor) else np.asarray(replaced)
    expected = _data(grad).dtype
    if data.shape != tensor.data.shape or data.dtype not in (expected, tensor.data.dtype):
        what = getattr(hook, "__name__", type(hook).__name__)
        raise RuntimeError(
            f"hook {what!r} on {describe(tensor)} returned a gradient of shape {data.shape} and "
            f"dtype {data.dtype}; it must have the shape {tensor.data.shape} and the dtype {expected} "
            "of the gradient it got (PyTorch refuses a change of dtype too)"
        )
    if isinstance(grad, Tensor):
        return replaced if isinstance(replaced, Tensor) else Tensor._wrap(data)
    return data


def _as_plain(grad, dtype) -> np.ndarray:
    """A copy of ``grad`` as an ndarray of the tensor's dtype (a float64 constant in the
    graph must not widen the ``.grad`` of a float32 tensor)."""
    return np.array(grad.data if isinstance(grad, Tensor) else grad, dtype=dtype)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None) -> None:
    """Accumulate the gradients of one or several outputs into the ``.grad`` of the leaves.

    PyTorch's ``torch.autograd.backward``: one walk from all of ``tensors`` at once, each
    seeded with its gradient, so a leaf reached from several of them gets the sum (each
    root counted once). ``t.backward(...)`` is ``mg.autograd.backward(t, ...)``.

    Args:
        tensors: A Tensor or a sequence of Tensors to differentiate.
        grad_tensors: The gradient of some scalar with respect to each of ``tensors``
            (a Tensor, an array or ``None`` per tensor; ``None`` means ones and is allowed
            only for single-element tensors).
        retain_graph: Keep the saved arrays so the graph can be walked again; defaults
            to ``create_graph``.
        create_graph: Record the walk itself, so the gradient can be differentiated
            again. ``.grad`` still gets an ndarray; the same gradient as a Tensor with its
            graph is ``.grad_tensor`` (PyTorch's ``x.grad`` in this case).
        inputs: A Tensor or a sequence of Tensors: accumulate only into these (leaves or
            not) instead of every leaf.

    Raises:
        RuntimeError: A tensor does not require grad, is not a single value and has no
            gradient given, or has a gradient of another shape.
    """
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    if grad_tensors is None:
        grad_tensors = [None] * len(tensors)
    elif isinstance(grad_tensors, (Tensor, np.ndarray)) or np.isscalar(grad_tensors):
        grad_tensors = [grad_tensors]
    else:
        grad_tensors = list(grad_tensors)
    if len(grad_tensors) != len(tensors):
        raise RuntimeError(f"backward(): got {len(grad_tensors)} grad_tensors for {len(tensors)} tensors")
    caller, argument = ("backward()", "grad") if len(tensors) == 1 else ("mg.autograd.backward", "grad_tensors")
    for i, tensor in enumerate(tensors):
        if not isinstance(tensor, Tensor):
            raise TypeError(f"{caller}: expected Tensors, got {type(tensor).__name__} at position {i}")
        if not tensor.requires_grad:
            which = "this tensor" if len(tensors) == 1 else f"tensor {i}"
            raise RuntimeError(
                f"{caller}: {which} does not require grad and has no graph. Create the "
                "inputs with requires_grad=True (or call .requires_grad_()) before computing "
                "it, and do not compute it inside mg.no_grad()."
            )
    if retain_graph is None:
        retain_graph = create_graph
    seeds = [_seed_grad(t, g, caller if len(tensors) == 1 else f"{caller} (tensor {i})", argument, create_graph)
             for i, (t, g) in enumerate(zip(tensors, grad_tensors))]
    if inputs is None:
        run_backward(tensors, seeds, retain_graph=retain_graph, create_graph=create_graph)
        return
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if not inputs:
        raise RuntimeError(f"{caller}: inputs= is empty; pass None to accumulate into every leaf")
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor) or not x.requires_grad:
            raise RuntimeError(f"{caller}: inputs[{i}] does not require grad; create it with requires_grad=True")
    run_backward(tensors, seeds, retain_graph, create_graph, wanted=inputs, accumulate_wanted=True)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=None, *,
         materialize_grads=False):
    """Gradients of ``outputs`` with respect to ``inputs``, returned (not stored in ``.grad``).

    ``outputs`` and ``inputs`` are Tensors or sequences of Tensors; ``grad_outputs``
    the vectors of the vector-Jacobian product (required for non-scalar outputs).
    With ``create_graph=True`` the returned Tensors carry their own graph, so they can
    be differentiated again (Hessian-vector products, gradient penalties).
    ``retain_graph`` defaults to ``create_graph``. Returns a tuple with one Tensor per
    input; an input the outputs do not depend on raises unless ``allow_unused=True``,
    which gives ``None`` for it, or ``materialize_grads=True``, which gives zeros.
    """
    if materialize_grads and allow_unused is False:
        raise ValueError("mg.grad: materialize_grads=True gives zeros for unused inputs, so allow_unused must be "
                         "True or not given, got allow_unused=False")
    allow_unused = bool(allow_unused) or materialize_grads
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, (Tensor, GradientEdge)) else list(inputs)
    inputs = [x.tensor if isinstance(x, GradientEdge) else x for x in inputs]
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
    seeds = [_seed_grad(y, g, "mg.grad", "grad_outputs", create_graph) for y, g in zip(outputs, grad_outputs)]
    found = run_backward(outputs, seeds, retain_graph, create_graph, wanted=inputs)
    results = []
    for i, x in enumerate(inputs):
        g = found.get(id(x))
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    f"mg.grad: input {i} was not used to compute the outputs; pass "
                    "allow_unused=True to get None for it (or materialize_grads=True for zeros)"
                )
            if not materialize_grads:
                results.append(None)
                continue
            zeros = np.zeros_like(x.data)
            if watchers.count and mode.tracer is not None:
                mode.tracer.made(np.zeros_like, (x.data,), {}, zeros)
            results.append(Tensor._wrap(zeros))
        elif isinstance(g, Tensor):  # (create_graph) in the input's dtype, on the graph, as PyTorch's
            results.append(g if g.data.dtype == x.data.dtype or x.data.dtype.kind != "f" else g.to(x.data.dtype))
        else:
            result = np.array(g, dtype=x.data.dtype)
            if watchers.count and mode.tracer is not None:
                mode.tracer.made(np.array, (g,), {"dtype": x.data.dtype}, result)
            results.append(Tensor._wrap(result))
    return tuple(results)


def ones_seed(shape: tuple[int, ...], dtype) -> np.ndarray:
    """The gradient backward() starts from when none is given (an mg.compile replay makes it too)."""
    grad = np.empty(shape, dtype=dtype)
    grad.fill(1)
    if watchers.count and mode.tracer is not None:
        mode.tracer.made(ones_seed, (shape, dtype), {}, grad)
    return grad


def _seed_grad(tensor: Tensor, grad, caller: str, argument: str, as_tensor: bool = False):
    if grad is None:
        if tensor.data.size != 1:
            raise RuntimeError(
                f"{caller}: the output has shape {tensor.data.shape}, not a single value, so "
                "the gradient to start from is ambiguous. Reduce it first (y.sum(), y.mean()) "
                f"or pass {argument}=... with the output's shape (e.g. np.ones_like(y.data))."
            )
        grad = ones_seed(tensor.data.shape, tensor.data.dtype)
    else:
        grad_data = grad.data if isinstance(grad, Tensor) else np.asarray(grad, dtype=tensor.data.dtype)
        if grad_data.shape != tensor.data.shape:
            raise RuntimeError(
                f"{caller}: {argument} has shape {grad_data.shape} but the output has shape "
                f"{tensor.data.shape}; they must match"
            )
        if not (as_tensor and isinstance(grad, Tensor)):
            grad = grad_data
    if as_tensor and not isinstance(grad, Tensor):
        grad = Tensor._wrap(grad)
    return grad
