"""``mg.autograd.graph``, as ``torch.autograd.graph``: hooks on saved tensors, on several
tensors at once and on graph nodes, and the names PyTorch code uses to look at the graph.

    with mg.autograd.graph.saved_tensors_hooks(pack, unpack):
        loss = model(x)          # every array a node saves goes through pack(Tensor)
    loss.backward()              # ... and through unpack(packed) when backward reads it

The nodes are the ``Function`` instances themselves (``t.grad_fn``); ``Node`` is an
abstract class they are registered with, for ``isinstance`` checks.
"""

from __future__ import annotations

import abc

import numpy as np

from microgradnp.autograd import engine, grad_mode
from microgradnp.autograd.engine import GradientEdge
from microgradnp.autograd.function import AccumulateGrad, Function, _next_function, saved_tensors_hooks_state
from microgradnp.autograd.grad_mode import watchers
from microgradnp.autograd.versions import bump
from microgradnp.tensor import Tensor

__all__ = [
    "GradientEdge",
    "Node",
    "disable_saved_tensors_hooks",
    "get_gradient_edge",
    "increment_version",
    "register_multi_grad_hook",
    "save_on_cpu",
    "saved_tensors_hooks",
]


class Node(abc.ABC):
    """What ``t.grad_fn`` and the entries of ``next_functions`` are: ``isinstance(t.grad_fn,
    Node)`` holds, as in PyTorch. The methods are those of ``Function``: ``name()``,
    ``next_functions``, ``metadata``, ``register_hook``, ``register_prehook``."""

    @abc.abstractmethod
    def name(self) -> str:
        """The node's name (on microgradnp's nodes also a string itself)."""

    @abc.abstractmethod
    def register_hook(self, fn):
        """Call ``fn(grad_inputs, grad_outputs)`` after the node's backward."""

    @abc.abstractmethod
    def register_prehook(self, fn):
        """Call ``fn(grad_outputs)`` before the node's backward."""


Node.register(Function)
Node.register(AccumulateGrad)


# -- saved tensors hooks ---------------------------------------------------------------

_saved_hooks = saved_tensors_hooks_state  # (kept by function.py, which reads it in Function.apply)


class saved_tensors_hooks:
    """Context manager: every array a node saves for backward inside the block is given to
    ``pack_hook`` (as a Tensor) when it is saved, and what that returned is given to
    ``unpack_hook`` when backward (or ``ctx.saved_tensors``) reads it, which must return a
    Tensor with the same values. Nested blocks: the innermost pair is used. As PyTorch,
    the version check of saved arrays is off for what goes through the hooks.

    The arrays primitives keep as attributes of ``ctx`` instead of through
    ``save_for_backward`` are not packed. In an ``mg.compile``-d function the hooks make
    the function run eagerly while they are active (a replay records no nodes)."""

    def __init__(self, pack_hook, unpack_hook):
        self.pack_hook, self.unpack_hook = pack_hook, unpack_hook

    def __enter__(self):
        if _saved_hooks.disabled is not None:
            raise RuntimeError(_saved_hooks.disabled)
        _saved_hooks.stack = (*_saved_hooks.stack, (self.pack_hook, self.unpack_hook))
        # Counted among the watchers, so that Function.apply looks at a recorded node's
        # saved arrays (and packs them) only while some thread has hooks active.
        watchers.add(1)
        if grad_mode.mode.tracer is not None:
            _cannot_replay()
        return self

    def __exit__(self, *exc):
        _saved_hooks.stack = _saved_hooks.stack[:-1]
        watchers.add(-1)
        return False


def _cannot_replay() -> None:
    """An mg.compile trace met saved-tensor hooks, which the function itself entered (a
    compiled function called inside hooks runs eagerly without tracing): a replay would make
    no nodes, so would not call them, at any call; the function runs eagerly."""
    grad_mode.mode.tracer.cannot_replay("saved_tensors_hooks")


class save_on_cpu(saved_tensors_hooks):
    """PyTorch's offloading of saved tensors to CPU memory: everything already is on the
    CPU here, so the tensors are kept as they are (``pin_memory`` is accepted and ignored)."""

    def __init__(self, pin_memory: bool = False, device_type: str = "cuda"):
        super().__init__(_identity, _identity)


def _identity(tensor):
    return tensor


class disable_saved_tensors_hooks:
    """Context manager: inside it, entering ``saved_tensors_hooks`` raises a RuntimeError
    with ``error_message`` (and so does entering this block while hooks are active), as
    PyTorch's, for code that must not have its saved tensors packed."""

    def __init__(self, error_message: str):
        self.error_message = error_message

    def __enter__(self):
        if _saved_hooks.stack:
            raise RuntimeError(self.error_message)
        self._previous = _saved_hooks.disabled
        _saved_hooks.disabled = self.error_message
        return self

    def __exit__(self, *exc):
        _saved_hooks.disabled = self._previous
        return False


class PackedSaved:
    """A node's ``_saved`` while saved-tensor hooks are used: per saved item, the pack
    hook's result (or the item itself if it is not an array), and the unpack hook."""

    __slots__ = ("items", "origins", "unpack_hook")

    def __init__(self, saved: tuple, inputs: tuple, hooks, outputs: tuple = ()):
        pack_hook, self.unpack_hook = hooks
        # An input's array is packed as the input Tensor itself, as PyTorch does; another
        # array (the output among them: a Tensor holding its own node would be a cycle) as
        # a new Tensor of no graph.
        owners = {id(t.data): t for t in inputs if isinstance(t, Tensor)}
        positions = {id(t.data): i for i, t in reversed(list(enumerate(inputs))) if isinstance(t, Tensor)}
        produced = {id(o): k for k, o in enumerate(outputs)}
        items, origins = [], []
        # As PyTorch, the operations of the pack hook itself (t * 2, t.exp()) are not packed:
        # they would call the hook again, without end.
        stack, _saved_hooks.stack = _saved_hooks.stack, ()
        try:
            for a in saved:
                if isinstance(a, (np.ndarray, np.generic)):
                    tensor = owners.get(id(a))
                    items.append((True, pack_hook(tensor if tensor is not None else Tensor._wrap(np.asarray(a)))))
                else:
                    items.append((False, a))  # (None or a Python value saved with the arrays)
                # Where the item came from, for create_graph: ("input", i), ("output", k) or None.
                origins.append(("input", positions[id(a)]) if id(a) in positions
                               else ("output", produced[id(a)]) if id(a) in produced else None)
        finally:
            _saved_hooks.stack = stack
        self.items = tuple(items)
        self.origins = tuple(origins)

    def unpack(self) -> tuple:
        arrays = []
        for packed, item in self.items:
            if packed:
                item = self.unpack_hook(item)
                item = item.data if isinstance(item, Tensor) else np.asarray(item)
            arrays.append(item)
        return tuple(arrays)


def pack_saved(node: Function, inputs: tuple, outputs: tuple = ()) -> None:
    """Called by ``Function.apply`` for a node it just recorded while hooks are active
    somewhere: pack what it saved with this thread's innermost hooks. ``outputs``: the arrays
    the node returned."""
    stack = _saved_hooks.stack
    if not stack or type(node._saved) is not tuple or not node._saved:
        return
    if grad_mode.mode.tracer is not None:
        _cannot_replay()
    node._saved = PackedSaved(node._saved, inputs, stack[-1], outputs)


# -- multi grad hooks ------------------------------------------------------------------

class _MultiHandle:
    def __init__(self, handles):
        self._handles = handles

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


def register_multi_grad_hook(tensors, fn, *, mode: str = "all"):
    """Call ``fn`` once per backward with the gradients of ``tensors``, as PyTorch's:
    ``mode="all"``: ``fn(grads)``, a tuple with one gradient per tensor (None for those the
    backward did not reach), once it is over; ``mode="any"``: ``fn(grad)`` with the first
    gradient computed among them. Built on ``register_hook`` of each tensor (gradients are
    what those hooks see). Returns a handle whose ``remove()`` undoes it."""
    if mode not in ("all", "any"):
        raise ValueError(f"Expects mode to be one of ('all', 'any') but got {mode}")
    tensors = tuple(tensors)
    # The gradients of the backward running now, and that backward's callback queue (a
    # list per backward: a hook call from another backward starts afresh).
    state = {"grads": None, "backward": None}

    def start() -> bool:
        """Whether this is the first hook call of this backward: then make room, and have
        fn called at its end."""
        if state["backward"] is engine._callbacks.queue:
            return False
        state["backward"] = engine._callbacks.queue
        state["grads"] = [None] * len(tensors)
        engine.queue_callback(finish)
        return True

    def finish() -> None:
        grads, state["grads"], state["backward"] = state["grads"], None, None
        if mode == "all":
            fn(tuple(grads))

    def hook_for(i):
        def hook(grad):
            first = start()
            if mode == "all":
                state["grads"][i] = grad
            elif first:
                fn(grad)
        return hook

    return _MultiHandle([t.register_hook(hook_for(i)) for i, t in enumerate(tensors)])


# -- gradient edges and versions -------------------------------------------------------

def get_gradient_edge(tensor: Tensor) -> GradientEdge:
    """The ``GradientEdge`` of ``tensor``, which must require grad (as PyTorch)."""
    if not tensor.requires_grad:
        raise RuntimeError("It is not possible to get the gradient edge for a Tensor that does not require gradients")
    node, output_nr = _next_function(tensor)
    return GradientEdge(node, output_nr, tensor)


def increment_version(tensor) -> None:
    """Count an in-place write into ``tensor``'s memory that microgradnp did not see (made
    through ``.data`` or NumPy): backward then refuses saved copies of it, as PyTorch's."""
    for t in (tensor if isinstance(tensor, (list, tuple)) else (tensor,)):
        bump(t.data)


# -- legacy names of mg.autograd (exported there, not part of torch.autograd.graph) ---------

def Variable(data, requires_grad: bool = False):
    """PyTorch's legacy ``Variable(t, requires_grad=...)``: a Tensor (Variables and Tensors
    are one thing since PyTorch 0.4). A new leaf sharing ``data``'s memory."""
    data = data.detach() if isinstance(data, Tensor) else Tensor(data)
    return data.requires_grad_(requires_grad)


class _Multithreading:
    enabled = True


_multithreading = _Multithreading()


def is_multithreading_enabled() -> bool:
    """Whether backward may use several threads (PyTorch's flag; microgradnp's backward is
    always one walk in the calling thread, so this is only kept and reported)."""
    return _multithreading.enabled


class set_multithreading_enabled:
    """Set the multithreading flag, at once, and back at the end of a ``with`` block (as
    PyTorch's ``set_multithreading_enabled``)."""

    def __init__(self, mode: bool):
        self.previous, _multithreading.enabled = _multithreading.enabled, bool(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _multithreading.enabled = self.previous
        return False
