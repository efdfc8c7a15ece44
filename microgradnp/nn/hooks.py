"""Module hooks, as PyTorch's: code that runs around a module's ``forward`` and when
the gradients of its inputs and outputs are known.

- ``register_forward_pre_hook(hook)``: ``hook(module, args)`` before ``forward``; a
  return value other than None replaces the positional arguments (a non-tuple is made
  a 1-tuple). ``with_kwargs=True``: ``hook(module, args, kwargs)`` returning None or
  ``(args, kwargs)``.
- ``register_forward_hook(hook)``: ``hook(module, args, output)`` after ``forward``; a
  return value other than None replaces the output. ``with_kwargs=True``:
  ``hook(module, args, kwargs, output)``. ``always_call=True``: runs even when
  ``forward`` raised (with output None; its own error is then only a warning).
- ``register_full_backward_pre_hook(hook)``: ``hook(module, grad_output)`` when the
  gradients of the module's outputs are known, before they go on into the module; it
  may return replacements (a tuple of the same length).
- ``register_full_backward_hook(hook)``: ``hook(module, grad_input, grad_output)`` when
  the gradients of the module's positional inputs are known; it may return
  replacements for ``grad_input``. ``grad_input`` has one entry per positional argument
  (None for those that are not tensors requiring grad); the gradients are Tensors.

``prepend=True`` runs a hook before those registered earlier. The
``register_module_*`` functions register global hooks that run for every module,
before each module's own. Every registration returns a ``RemovableHandle``.

Backward hooks work as PyTorch's: the tensor arguments and the outputs pass through an
identity ``BackwardHookFunction`` whose backward calls the hooks. A module whose
inputs or outputs are not Tensors (or tuples of them) gets its hooks on the Tensors
among them. Forward hooks run Python code at every call, so ``mg.compile`` runs a
function calling a hooked module eagerly (with a warning).
"""

from __future__ import annotations

import warnings
from collections import OrderedDict

import numpy as np

from microgradnp.autograd.function import Function
from microgradnp.autograd.grad_mode import mode, watchers
from microgradnp.tensor import Tensor
from microgradnp.utils.hooks import RemovableHandle

__all__ = [
    "register_module_forward_hook",
    "register_module_forward_pre_hook",
    "register_module_full_backward_hook",
    "register_module_full_backward_pre_hook",
]


class _GlobalHooks:
    """The hooks every module runs (``register_module_*``); ``count`` is how many there
    are, so that a module call without any hook costs one comparison."""

    def __init__(self):
        self.forward_pre: OrderedDict = OrderedDict()
        self.forward: OrderedDict = OrderedDict()
        self.forward_with_kwargs: dict = {}
        self.forward_always_called: dict = {}
        self.backward_pre: OrderedDict = OrderedDict()
        self.backward: OrderedDict = OrderedDict()
        self.count = 0

    def recount(self) -> None:
        from microgradnp.nn.module import changes  # (module.py imports this file)

        self.count = len(self.forward_pre) + len(self.forward) + len(self.backward_pre) + len(self.backward)
        changes.count += 1  # every module changed: a compiled replay that calls modules looks again


global_hooks = _GlobalHooks()


def add_hook(hooks: OrderedDict, hook, prepend: bool, on_change, extra=()) -> RemovableHandle:
    """Put ``hook`` into ``hooks`` (first when ``prepend``) under a new handle's id."""
    if not callable(hook):
        raise TypeError(f"a hook must be callable, got {type(hook).__name__}")
    handle = RemovableHandle(hooks, extra_dict=list(extra))
    hooks[handle.id] = hook
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    handle._on_remove = on_change
    on_change()
    return handle


def register_module_forward_pre_hook(hook) -> RemovableHandle:
    """A forward pre-hook for every module (before each module's own): ``hook(module, args)``."""
    return add_hook(global_hooks.forward_pre, hook, False, global_hooks.recount)


def register_module_forward_hook(hook, *, with_kwargs: bool = False, always_call: bool = False) -> RemovableHandle:
    """A forward hook for every module (before each module's own): ``hook(module, args, output)``."""
    handle = add_hook(global_hooks.forward, hook, False, global_hooks.recount,
                      (global_hooks.forward_with_kwargs, global_hooks.forward_always_called))
    if with_kwargs:
        global_hooks.forward_with_kwargs[handle.id] = True
    if always_call:
        global_hooks.forward_always_called[handle.id] = True
    return handle


def register_module_full_backward_pre_hook(hook) -> RemovableHandle:
    """A backward pre-hook for every module: ``hook(module, grad_output)``."""
    return add_hook(global_hooks.backward_pre, hook, False, global_hooks.recount)


def register_module_full_backward_hook(hook) -> RemovableHandle:
    """A backward hook for every module: ``hook(module, grad_input, grad_output)``."""
    return add_hook(global_hooks.backward, hook, False, global_hooks.recount)


def call_with_hooks(module, args: tuple, kwargs: dict):
    """``module(*args, **kwargs)`` with its hooks and the global ones, as PyTorch's
    ``Module._call_impl``."""
    if watchers.count and mode.tracer is not None:
        mode.tracer.hooked(module, f"hooks on {type(module).__name__} (they run Python code at every call)")
    backward_pre = [*global_hooks.backward_pre.values(), *module._backward_pre_hooks.values()]
    backward = [*global_hooks.backward.values(), *module._backward_hooks.values()]
    forward_hooks = [  # (id, hook, with_kwargs, always_call): the global hooks first
        (hook_id, hook, hook_id in with_kwargs, hook_id in always)
        for hooks, with_kwargs, always in (
            (global_hooks.forward, global_hooks.forward_with_kwargs, global_hooks.forward_always_called),
            (module._forward_hooks, module._forward_hooks_with_kwargs, module._forward_hooks_always_called),
        )
        for hook_id, hook in hooks.items()
    ]
    output = None
    called: set[int] = set()
    try:  # (as PyTorch's, an error in a pre-hook runs the always_call hooks too)
        for hook_id, hook in (*global_hooks.forward_pre.items(), *module._forward_pre_hooks.items()):
            if hook_id in module._forward_pre_hooks_with_kwargs:
                result = hook(module, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError("forward pre-hook must return None or a tuple of (new_args, new_kwargs), "
                                           f"but got {result!r}.")
                    args, kwargs = result
            else:
                result = hook(module, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        state = _BackwardHookState(module, backward, backward_pre) if backward or backward_pre else None
        if state is not None:
            args = state.wrap_inputs(args)
        output = module.forward(*args, **kwargs)
        for hook_id, hook, with_kwargs, _ in forward_hooks:
            called.add(hook_id)
            result = hook(module, args, kwargs, output) if with_kwargs else hook(module, args, output)
            if result is not None:
                output = result
    except Exception:
        # always_call hooks that have not run yet run now; the original error is raised.
        for hook_id, hook, with_kwargs, always in forward_hooks:
            if always and hook_id not in called:
                try:
                    result = hook(module, args, kwargs, output) if with_kwargs else hook(module, args, output)
                    if result is not None:
                        output = result
                except Exception as error:
                    warnings.warn(
                        "module forward hook with ``always_call=True`` raised an exception that was silenced "
                        f"as another error was raised in forward: {error}",
                        stacklevel=3,
                    )
        raise
    if state is not None:
        if not isinstance(output, Tensor | tuple):
            warnings.warn(
                "For backward hooks to be called, module output should be a Tensor or a tuple of Tensors "
                f"but received {type(output)}",
                stacklevel=3,
            )
        output = state.wrap_outputs(output)
    return output


class _BackwardHookState:
    """One call of a module with backward hooks: what the identity nodes around it share."""

    def __init__(self, module, hooks: list, pre_hooks: list):
        self.module, self.hooks, self.pre_hooks = module, hooks, pre_hooks
        self.grad_outputs = None
        self.n_inputs = 0
        self.input_positions: list[int] | None = None  # of the inputs wrapped (None: none needed a gradient)
        self.input_zeros: dict[int, np.ndarray] = {}  # the other tensor arguments: zeros in grad_input

    def wrap_inputs(self, args: tuple) -> tuple:
        self.n_inputs = len(args)
        positions = _wrappable(args)
        if not positions:
            return args
        self.input_positions = positions
        # As PyTorch's: every tensor argument has a gradient in grad_input, zeros where none
        # reached it (it does not require grad, or the module did not use it).
        self.input_zeros = {i: np.zeros_like(a.data) for i, a in enumerate(args) if isinstance(a, Tensor)}
        wrapped = list(args)
        outs = BackwardHookFunction.apply(*(args[i] for i in positions), state=self, side="inputs")
        for i, out in zip(positions, outs):
            wrapped[i] = out
        return tuple(wrapped)

    def wrap_outputs(self, output):
        single = isinstance(output, Tensor)
        outputs = (output,) if single else output if isinstance(output, tuple) else ()
        self.n_outputs = len(outputs)
        positions = _wrappable(outputs)
        if not positions:
            return output
        self.output_positions = positions
        wrapped = list(outputs)
        outs = BackwardHookFunction.apply(*(outputs[i] for i in positions), state=self, side="outputs")
        for i, out in zip(positions, outs):
            wrapped[i] = out
        return wrapped[0] if single else type(output)(wrapped) if type(output) is tuple else type(output)(*wrapped)

    # -- called by BackwardHookFunction.backward ---------------------------------------
    def outputs_reached(self, grads: tuple) -> tuple:
        """The gradients of the outputs arrived: backward pre-hooks, and the backward
        hooks themselves when no input needs a gradient."""
        self.grad_outputs = _pack(self.output_positions, grads, self.n_outputs)
        for hook in self.pre_hooks:
            result = hook(self.module, self.grad_outputs)
            if result is None:
                continue
            self.grad_outputs = _replacement(result, self.grad_outputs, "pre hook", "grad_output", self.module)
        grad_outputs = self.grad_outputs
        if self.input_positions is None:
            warnings.warn(
                "Full backward hook is firing when gradients are computed with respect to module outputs "
                "since no inputs require gradients (as in PyTorch: grad_input is all None).",
                stacklevel=2,
            )
            grad_inputs = (None,) * self.n_inputs
            for hook in self.hooks:
                result = hook(self.module, grad_inputs, self.grad_outputs)
                if result is not None and not (isinstance(result, tuple) and all(r is None for r in result)):
                    raise RuntimeError(
                        "Backward hook for Modules where no input requires gradient should always return "
                        "None or None for all gradients."
                    )
            self.grad_outputs = None
        return tuple(grad_outputs[i] for i in self.output_positions)

    def inputs_reached(self, grads: tuple) -> tuple:
        """The gradients of the inputs arrived: the backward hooks, unless no gradient came
        through the outputs (none was a Tensor or tuple of them, or a second derivative goes
        from the inputs' gradients straight to the inputs): as PyTorch's, they do not run then."""
        if self.grad_outputs is None:
            return grads
        grad_inputs = list(_pack(self.input_positions, grads, self.n_inputs))
        for i, zeros in self.input_zeros.items():
            if grad_inputs[i] is None:
                grad_inputs[i] = Tensor._wrap(zeros)
        grad_inputs = tuple(grad_inputs)
        for hook in self.hooks:
            result = hook(self.module, grad_inputs, self.grad_outputs)
            if result is None:
                continue
            grad_inputs = _replacement(result, grad_inputs, "hook", "grad_input", self.module)
        self.grad_outputs = None
        return tuple(grad_inputs[i] for i in self.input_positions)


def _wrappable(values: tuple) -> list[int]:
    """Positions of the Tensors among ``values`` when some of them need a gradient (and
    a graph is being recorded); else none."""
    positions = [i for i, v in enumerate(values) if isinstance(v, Tensor)]
    if not (mode.grad_enabled and any(values[i].requires_grad for i in positions)):
        return []
    return [i for i in positions if values[i].requires_grad]


def _pack(positions: list[int], grads: tuple, n: int) -> tuple:
    """One entry per argument: the gradients (as Tensors) at ``positions``, None elsewhere."""
    packed = [None] * n
    for i, g in zip(positions, grads):
        packed[i] = None if g is None else g if isinstance(g, Tensor) else Tensor._wrap(g)
    return tuple(packed)


def _as_tuple(value) -> tuple:
    return tuple(value) if isinstance(value, tuple | list) else (value,)


def _replacement(result, previous: tuple, kind: str, what: str, module) -> tuple:
    """What a backward hook (or pre hook) returned, as the gradients it replaces: as many as
    ``previous``, each None or of the shape of the one it replaces."""
    result = _as_tuple(result)
    if len(result) != len(previous):
        raise RuntimeError(f"Backward {kind} returned an invalid number of {what}, got {len(result)}, but "
                           f"expected {len(previous)}")
    for i, (new, old) in enumerate(zip(result, previous)):
        if new is not None and old is not None and np.shape(new) != np.shape(old):
            raise RuntimeError(f"Backward {kind} of {type(module).__name__} returned {what}[{i}] of shape "
                               f"{np.shape(new)}, but the gradient it replaces has shape {np.shape(old)}")
    return result


class BackwardHookFunction(Function):
    """The identity on the tensors it is given, whose backward runs a module's backward
    hooks (on its outputs' side: the pre-hooks; on its inputs' side: the hooks)."""

    differentiable_backward = True  # the identity works on Tensors too (create_graph)

    @staticmethod
    def forward(ctx, *arrays, state, side):
        ctx.state, ctx.side = state, side
        ctx.set_materialize_grads(False)  # a hook sees None for an output no gradient reached, as PyTorch's
        return arrays  # several outputs, even one: the Function's several-outputs path

    @staticmethod
    def backward(ctx, *grads):
        reached = ctx.state.outputs_reached if ctx.side == "outputs" else ctx.state.inputs_reached
        return tuple(g.data if isinstance(g, Tensor) and not mode.grad_enabled else g for g in reached(grads))
