"""``Function``: one differentiable primitive, its forward and its vector-Jacobian rule.

Every built-in operation is a ``Function`` subclass, exactly like the ones users write:

    class Square(mg.Function):
        @staticmethod
        def forward(ctx, x):            # ndarrays in, ndarray out
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad):        # grad of the output -> grads of the inputs
            (x,) = ctx.saved_tensors
            return 2 * x * grad

    y = Square.apply(t)

The instance made by ``apply`` is the *context* passed to ``forward`` and ``backward``
and is also the graph node: it keeps the inputs, the saved arrays, and its name.
"""

from __future__ import annotations

import functools
import inspect
import linecache
import os
import sys
import threading
import weakref

import numpy as np

from microgradnp.autograd.grad_mode import mode, no_grad, watchers
from microgradnp.autograd.versions import bump, graph_writes, stale_view, stamps, written_since
from microgradnp.errors import InvalidArgumentError

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_FLOAT64, _FLOAT32 = np.dtype(np.float64), np.dtype(np.float32)  # the usual outputs, checked by identity

RELEASED = object()  # what _saved becomes when backward (without retain_graph) drops it

_SECOND_BACKWARD = (
    "Trying to backward through the graph a second time: the arrays {name!r} saved for "
    "backward were released after the first backward. Pass retain_graph=True to the "
    "first backward() (or mg.grad) if you need to backward through this graph again."
)

_MODIFIED = (
    "one of the arrays needed for gradient computation has been modified by an in-place "
    "operation: {what}, version {now}, expected {was}. {name} saved it for backward, so "
    "backward would use the modified values. Make the in-place change after backward() "
    "(e.g. optimizer.step() after loss.backward()), or use an out-of-place operation "
    "(y = y * 2 instead of y *= 2) or change a copy (y = y.clone() before the change)."
)


class _Name(str):
    """A node's name: a string (``Tensor.op``, graph drawings) that can also be called,
    since PyTorch code asks ``grad_fn.name()``."""

    __slots__ = ()

    def __call__(self) -> str:
        return str(self)


class _SavedTensorsHooks(threading.local):
    """Per thread, as PyTorch's: the (pack, unpack) pairs of the active
    ``mg.autograd.graph.saved_tensors_hooks`` blocks (innermost last), and the message of an
    active ``disable_saved_tensors_hooks``. Those blocks count among ``watchers``, so ``apply``
    looks here only while some thread has one active."""

    stack: tuple = ()
    disabled: str | None = None


saved_tensors_hooks_state = _SavedTensorsHooks()


class _NodeHooks:
    count = 0  # node hooks registered (register_hook, register_prehook) and not removed, in all threads
    lock = threading.Lock()


node_hooks = _NodeHooks()


def _user_origin() -> str:
    """``file:line: source`` of the innermost caller outside microgradnp."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
    if frame is None:
        return "<unknown>"
    filename, line = frame.f_code.co_filename, frame.f_lineno
    source = linecache.getline(filename, line).strip()
    return f"{filename}:{line}: {source}" if source else f"{filename}:{line}"


class Function:
    """Base class of differentiable primitives; subclass it and call ``.apply``.

    ``forward(ctx, *arrays, **params)`` gets the inputs as ndarrays (Tensors are
    unwrapped; other arguments pass through) and returns one ndarray.
    ``backward(ctx, grad)`` gets the gradient of the output and returns one gradient
    per positional input (a tuple when there are several), ``None`` for inputs that
    need none. Gradients with broadcast axes are summed back to the input's shape.

    PyTorch 2's style works too: a class that defines ``setup_context(ctx, inputs, output)``
    has a ``forward(*arrays)`` without ``ctx``; ``apply`` calls it, then ``setup_context``
    with the arrays and the output, where the saving is done.

    A ``forward`` that returns a tuple of arrays has several outputs: ``apply`` returns
    a tuple of Tensors and ``backward(ctx, *grads)`` gets one gradient per output (zeros
    for an output no gradient reached, or ``None`` after ``ctx.set_materialize_grads(False)``).
    Outputs passed to ``ctx.mark_non_differentiable`` and integer or boolean outputs
    (indices, masks) do not require grad; an output that is no array (None, a string...)
    is returned as it is, and backward gets None for it.

    As PyTorch's, a Tensor may be passed to ``apply`` by keyword: the call is then bound to
    forward's parameters, and each of them up to the last one given is an input (backward
    returns a gradient, or None, for each). ``vjp`` is another name for ``backward``.
    """

    name: str | None = None
    """The name shown as ``Tensor.op`` and in graph drawings; defaults to the class name."""

    differentiable_backward: bool = False
    """True when ``backward`` is written only with operations that also work on
    Tensors (arithmetic, NumPy ufuncs and functions Tensor supports, ``.sum``,
    ``.reshape``...). Then ``mg.grad(..., create_graph=True)`` runs it on Tensors
    and its result can be differentiated again. Otherwise backward runs on
    ndarrays and differentiating its result again raises an error."""

    inputs: tuple = ()
    origin: str | None = None
    module_calls: tuple = ()  # (module, creation stamp) of the module calls that returned this node's output
    _saved: tuple | object = ()
    _builtin = False  # built-in primitives are trusted to return gradients of the right shape
    # Where forward may write its output: None (a new array) except in an mg.compile
    # replay, which gives the primitives that declare _writes_out an array of the output's
    # shape and dtype to reuse at every call.
    _out = None
    _writes_out = False
    _needs: tuple | None = None
    _outputs: tuple | None = None  # several outputs: weak references to their Tensors (None if one)
    _output_meta: tuple = ()  # several outputs: (shape, dtype) of each, to make zeros for unused ones
    _output_ids: tuple = ()  # several outputs: id of each array (a saved one stays alive, so its id is its own)
    _non_differentiable: tuple = ()  # output arrays marked by mark_non_differentiable
    _materialize = True  # set_materialize_grads
    _dirty: tuple = ()  # input arrays forward changed in place (mark_dirty)
    # PyTorch 2's style (the class defines setup_context): forward's signature, to bind the
    # arguments as PyTorch does; None for forward(ctx, ...).
    _forward_signature: inspect.Signature | None = None
    _once_differentiable = False  # backward is decorated with once_differentiable
    _order = 0  # creation stamp (versions.stamps): newer nodes have smaller orders
    # Per saved array, the inputs whose gradients use it (None: every saved array is used):
    # an array no needed gradient uses may change in place, as PyTorch saves only what it needs.
    _saved_needed_by: tuple | None = None
    # True for a piecewise-linear rule (relu, abs, hardtanh, max pooling...) whose gradient
    # depends on the inputs only through which piece they are on: under create_graph the
    # gradients are recorded as functions of the inputs with derivative 0, as PyTorch's
    # (threshold_backward takes the input), so differentiating again gives zeros instead of
    # "does not require grad".
    _zero_second_order = False
    # A node recorded by an in-place write (``y.exp_()``): the array its forward returned, of which
    # the tensor written into holds a copy. A saved output is that array, so under create_graph
    # ``_saved_as_tensors`` maps it to the output Tensor (else it would be a constant there).
    _in_place_output = None
    # A node ``Tensor._gathered_from`` made: a view's link to the tensor it was written through into,
    # kept by that tensor's _written_views rather than counted as a use of it.
    _gathers = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("name")
        cls.name = _Name(cls._default_name() if name is None else name)
        # As PyTorch: defining setup_context means that forward takes no ctx.
        if cls.setup_context is not Function.setup_context:
            signature = inspect.signature(cls.forward)
            if next(iter(signature.parameters), None) == "ctx":  # (it would get the first input as ctx)
                raise TypeError(
                    f"{cls.__name__} defines setup_context, so its forward is called without ctx, as in "
                    "PyTorch: define forward(*inputs) and save what backward needs in setup_context(ctx, "
                    "inputs, output), or drop setup_context and keep forward(ctx, *inputs)")
            cls._forward_signature = signature
        if "vjp" in cls.__dict__:  # PyTorch's other name for backward
            if "backward" in cls.__dict__:
                raise TypeError(f"{cls.__name__} defines both backward and vjp, which are one method under two "
                                "names (as in PyTorch): define only one of them")
            cls.backward = cls.__dict__["vjp"]
        if getattr(cls.backward, "_once_differentiable", False):
            cls._once_differentiable = True
            cls.differentiable_backward = False  # (backward runs on arrays; a second derivative raises)

    @classmethod
    def _default_name(cls) -> str:
        return cls.__name__

    # -- what forward() and backward() use -------------------------------------------
    def save_for_backward(self, *arrays) -> None:
        """Keep arrays for ``backward``; they are released after the first backward."""
        self._saved = arrays

    def mark_dirty(self, *arrays) -> None:
        """Call in ``forward`` (or ``setup_context``) with an input array that forward changed in
        place and returns, as PyTorch's ``ctx.mark_dirty``: ``apply`` then returns that input's
        Tensor itself, recorded as the output of this operation (as ``x.add_(1)`` is), and its
        version counter moves. One input, returned as the only output, is supported."""
        self._dirty = self._dirty + arrays

    def mark_non_differentiable(self, *outputs) -> None:
        """Call in ``forward`` with output arrays that have no gradient (indices, masks):
        their Tensors do not require grad and ``backward`` gets zeros (or ``None``) for them."""
        self._non_differentiable = self._non_differentiable + outputs

    def set_materialize_grads(self, value: bool) -> None:
        """Whether ``backward`` of a Function with several outputs gets zeros (True, the
        default, as PyTorch) or ``None`` for the outputs no gradient reached."""
        self._materialize = bool(value)

    @property
    def saved_tensors(self) -> tuple:
        """What ``save_for_backward`` kept (Tensors when backward runs to build a graph)."""
        saved = self._saved
        if type(saved) is not tuple:  # (one check on the usual path)
            if saved is RELEASED:
                raise self._second_backward()
            return saved.unpack()  # packed by mg.autograd.graph.saved_tensors_hooks
        return saved

    @property
    def needs_input_grad(self) -> tuple[bool, ...]:
        """One bool per positional input: does it need a gradient? (Fixed when the node is
        recorded, as PyTorch fixes it; worked out from the inputs while forward runs.)"""
        needs = self._needs
        if needs is None:
            needs = []  # a plain loop: cheaper than a comprehension's frame
            for x in self.inputs:
                needs.append(isinstance(x, Tensor) and x.requires_grad)
            needs = tuple(needs)
            if self.inputs:  # (not before apply() records the inputs)
                self._needs = needs
        return needs

    @staticmethod
    def forward(ctx, *args, **params):
        """Compute the output (one ndarray) from the inputs' ndarrays; ``ctx`` is the node."""
        raise NotImplementedError("a Function subclass must define forward(ctx, *arrays)")

    @staticmethod
    def backward(ctx, grad):
        """The gradient of each positional input (a tuple if several, None where there is
        none) from ``grad``, the gradient of the output."""
        raise NotImplementedError("a Function subclass must define backward(ctx, grad) (or vjp, its other name)")

    vjp = backward  # PyTorch's other name for it (a subclass may define either)

    @staticmethod
    def setup_context(ctx, inputs: tuple, output) -> None:
        """PyTorch 2's style: define it (and ``forward(*arrays)`` without ``ctx``) to save what
        backward needs from ``inputs`` (the arrays forward got) and ``output`` (what it returned)."""
        raise NotImplementedError("setup_context is not implemented")

    # -- building the graph ----------------------------------------------------------
    @classmethod
    def apply(cls, *inputs, **params):
        """Run ``forward`` on the inputs' arrays and return a Tensor linked into the graph."""
        ctx = cls.__new__(cls)
        signature = cls._forward_signature
        if signature is not None:  # forward(*args) and setup_context, bound as PyTorch does
            bound = signature.bind(*inputs, **params)
            bound.apply_defaults()
            inputs, params = bound.args, bound.kwargs
        builtin = cls._builtin
        if not builtin:  # (a Function of the user's may read ctx.needs_input_grad in forward, as PyTorch's)
            if params:
                inputs, params = cls._keyword_tensors_bound(inputs, params)
            ctx.inputs = inputs
        arrays = []
        record = False
        for x in inputs:
            if isinstance(x, Tensor):
                arrays.append(x.data)
                record = record or x._requires_grad
                if graph_writes and x._node is None and not x._requires_grad and mode.grad_enabled and stale_view(x):
                    raise RuntimeError(_STALE_VIEW.format(what=f"{cls.name} uses it"))
            else:
                arrays.append(_as_float_array(x) if isinstance(x, list) else x)
        try:
            if builtin:
                out = cls.forward(ctx, *arrays, **params)
            else:
                with no_grad():  # (as PyTorch's: what a Function's forward computes is not recorded)
                    if signature is None:
                        out = cls.forward(ctx, *arrays, **params)
                    else:
                        out = cls.forward(*arrays, **params)
                        cls.setup_context(ctx, tuple(arrays), out)
        except ValueError as error:
            if type(error) is not ValueError or not builtin:
                raise
            # NumPy's refusal (a shape that does not fit...): PyTorch raises RuntimeError there.
            raise InvalidArgumentError(f"{cls.name}: {error}") from None
        if ctx._dirty:
            return ctx._apply_in_place(out, inputs, arrays, params)
        if type(out) is not np.ndarray:
            if type(out) is tuple:
                return ctx._apply_several(out, inputs, arrays, params, record)
            out = ctx._adopt_output(out)
        if not builtin and any(out is a for a in arrays):  # an input returned as it is: a view of it, as
            out = out.view()  # PyTorch's (an in-place write into the result must not change that input unseen)
        dtype = out.dtype
        if dtype is not _FLOAT64 and dtype is not _FLOAT32:
            if dtype.kind not in "fiub":
                raise TypeError(_not_real(cls.name, out, inputs))
            if dtype.kind != "f":  # integers and bools have no gradient, as PyTorch's
                record = False
        result = Tensor.__new__(Tensor)
        result.data = out
        if record and mode.grad_enabled and not (ctx._non_differentiable and _marked(ctx, out)):
            ctx.inputs = inputs
            ctx._order = next(stamps)
            result._node = ctx
            result._requires_grad = True
            # Which inputs get a gradient is fixed now, as in PyTorch (requires_grad_ after the
            # forward does not change this graph); a used input can no longer be written in place.
            needs = []
            for x in inputs:
                if isinstance(x, Tensor):
                    x._used += 1  # (counted: an in-place write can tell whether it knows every use)
                    needs.append(x._requires_grad)
                else:
                    needs.append(False)
            ctx._needs = tuple(needs)
        elif out.base is not None:
            result._view_inputs = inputs  # (which tensor it may view: a write through it goes there too)
            if graph_writes:  # a plain view, taken after any write so far (stale_view)
                result._view_stamp = next(stamps)
            if record and not mode.grad_enabled:  # a view of a tensor that requires grad, taken under no_grad:
                result._no_grad_view = True  # not to be written in place in grad mode (PyTorch's rule)
        if watchers.count:  # detect_anomaly or an mg.compile trace, in some thread
            if mode.anomaly:
                ctx.origin = _user_origin()
                _check_finite(out, ctx, "forward")
            if mode.tracer is not None:
                mode.tracer.forward(_replayable(cls), ctx, inputs, arrays, params, result)
            if saved_tensors_hooks_state.stack and result._node is ctx:
                _pack_saved(ctx, inputs, (out,))
        return result

    @classmethod
    def _keyword_tensors_bound(cls, inputs: tuple, params: dict) -> tuple[tuple, dict]:
        """``apply``'s arguments when some Tensor is passed by keyword: bound to ``forward``'s
        parameters as PyTorch binds them, so that every argument up to the last one given is a
        positional input (forward gets arrays, backward returns a gradient for each, None for
        those that need none). Without such a Tensor, keyword arguments stay parameters."""
        if not any(isinstance(v, Tensor) for v in params.values()):
            return inputs, params
        if cls._forward_signature is None:  # forward(ctx, ...): bound past its ctx
            bound = inspect.signature(cls.forward).bind(None, *inputs, **params)
            inputs = bound.args[1:]
        else:  # (already bound by apply: what is left is keyword-only)
            bound = inspect.signature(cls.forward).bind_partial(**params)
        keyword_only = [name for name, v in bound.kwargs.items() if isinstance(v, Tensor)]
        if keyword_only:
            raise TypeError(
                f"{cls.__name__}.apply: the Tensor given for the keyword-only parameter {keyword_only[0]!r} of "
                "forward would get no gradient (forward works on arrays); make it a positional parameter of "
                "forward, as PyTorch passes tensors to a custom Function")
        return inputs, bound.kwargs

    def _apply_in_place(self, out, inputs: tuple, arrays: list, params: dict):
        """``apply`` for a forward that changed an input in place (``mark_dirty``) and returned
        it: that input's Tensor, recorded as the output of this node the way the Tensor's own
        in-place operations are (``Tensor._recorded_in_place``, with the same refusals), or
        just with its version moved where nothing is recorded."""
        cls = type(self)
        target = None
        for x in inputs:
            if isinstance(x, Tensor) and x.data is out:
                target = x
        if target is None or len(self._dirty) != 1 or self._dirty[0] is not out:
            raise RuntimeError(
                f"{cls.name}: microgradnp supports mark_dirty for one input array that forward changes in "
                "place and returns as its only output (return x after x *= 2, with ctx.mark_dirty(x)); "
                "for anything else, return a new array instead of changing an input")
        op = f"{cls.name} (mark_dirty)"
        grad_input = next((x for x in inputs if isinstance(x, Tensor) and x is not target and x.requires_grad), None)
        if watchers.count and mode.anomaly:
            self.origin = _user_origin()
            _check_finite(out, self, "forward")
        if not target._records(grad_input):  # not recorded: refused where PyTorch refuses, else a plain write
            target._check_in_place(op, grad_input)
            bump(out)
            # As PyTorch: under no_grad, an input that requires grad gives a new Tensor of the same
            # memory that does not (the output of a no_grad operation).
            return Tensor._wrap(out) if target.requires_grad else target
        if target._views_another_tensor():
            target._refuse_writing_through_a_view()
        target._recorded_in_place(op, lambda before: self._output_of(out, inputs, target, before), through_a_view=True)
        # Stamped after the write: the arrays forward saved (the changed input among them)
        # are the values backward is meant to use.
        self._order = next(stamps)
        if watchers.count and mode.tracer is not None:  # (the write made it run eagerly; the trace must know the node)
            mode.tracer.forward(_replayable(cls), self, self.inputs, arrays, params, target)
        return target

    def _output_of(self, out: np.ndarray, inputs: tuple, target, before):
        """The output Tensor of an in-place forward, recorded with ``before`` (the changed
        input's previous node) where ``target`` was among the inputs."""
        inputs = tuple(before if x is target else x for x in inputs)
        self.inputs = inputs
        self._needs = tuple(isinstance(x, Tensor) and x.requires_grad for x in inputs)
        for x in inputs:
            if isinstance(x, Tensor):
                x._used += 1  # (counted: an in-place write can tell whether it knows every use)
        result = Tensor._wrap(out)
        result._node, result._requires_grad = self, True
        return result

    def _apply_several(self, outs: tuple, inputs, arrays, params, record: bool) -> tuple:
        """``apply`` for a forward that returned a tuple: one Tensor per output, all with
        this node; those marked non-differentiable, and non-float ones, without it."""
        cls = type(self)
        outs = tuple(o if type(o) is np.ndarray or _passed_through(o) else self._adopt_output(o) for o in outs)
        results = []
        grad_mode = record and mode.grad_enabled
        for out in outs:
            if type(out) is not np.ndarray:  # None or another object that is no array: returned as it is, as PyTorch's
                results.append(out)
                continue
            if out.dtype.kind not in "fiub":
                raise TypeError(_not_real(cls.name, out, inputs))
            result = Tensor.__new__(Tensor)
            result.data = out
            if grad_mode and out.dtype.kind == "f" and not _marked(self, out):
                result._node = self
                result._requires_grad = True
            results.append(result)
        if any(type(r) is Tensor and r._node is self for r in results):
            self.inputs = inputs
            self._order = next(stamps)
            for x in inputs:
                if isinstance(x, Tensor):
                    x._used += 1  # (counted: an in-place write can tell whether it knows every use)
            self._needs = tuple(isinstance(x, Tensor) and x.requires_grad for x in inputs)
            # Weak references: the outputs keep the node alive, not the other way round. An output
            # passed through has none: backward gets None for it (as PyTorch, even materializing).
            self._outputs = tuple(weakref.ref(r) if type(r) is Tensor else _no_tensor for r in results)
            self._output_meta = tuple((o.shape, o.dtype) if type(o) is np.ndarray else None for o in outs)
            self._output_ids = tuple(map(id, outs))  # (to tell a saved output whose Tensor is gone)
        if watchers.count:
            if mode.anomaly:
                self.origin = _user_origin()
                for out in outs:
                    if type(out) is np.ndarray:
                        _check_finite(out, self, "forward")
            if mode.tracer is not None:
                mode.tracer.cannot_replay(f"{cls.name}, a Function with several outputs")
            if saved_tensors_hooks_state.stack and self.inputs:
                _pack_saved(self, inputs, outs)
        return tuple(results)

    def _output_grads(self, grads: list, as_tensors: bool) -> tuple:
        """The gradients of the outputs for ``backward``: zeros (or None, after
        ``set_materialize_grads(False)``) where no gradient reached an output."""
        if not self._materialize:
            return tuple(grads)
        filled = []
        for g, meta in zip(grads, self._output_meta):
            if g is None and meta is not None:  # (None: an output that is no array)
                shape, dtype = meta
                g = np.zeros(shape, dtype if dtype.kind == "f" else np.float64)
                if as_tensors:
                    g = Tensor._wrap(g)
            filled.append(g)
        return tuple(filled)

    def _vjp_several(self, grads: tuple, outputs: list):
        """Backward of a Function with several outputs; on Tensors, recorded, under create_graph."""
        if not any(isinstance(g, Tensor) for g in grads):
            return self.backward(self, *grads)
        if self.differentiable_backward:
            saved = self._saved
            self._saved = self._saved_as_tensors(*outputs)  # (None for one gone: the positions count)
            try:
                return self.backward(self, *grads)
            finally:
                self._saved = saved
        result = self.backward(self, *(g.data if isinstance(g, Tensor) else g for g in grads))
        depends_on = [x for x in (*grads, *self.inputs) if isinstance(x, Tensor)]
        return tuple(
            None if g is None else _NotDifferentiableTwice.apply(g, *depends_on, source_name=self.name,
                                                                 once=self._once_differentiable)
            for g in (result if isinstance(result, tuple) else (result,))
        )

    # -- used by the engine ----------------------------------------------------------
    def _second_backward(self) -> RuntimeError:
        return RuntimeError(_SECOND_BACKWARD.format(name=self.name))

    def _check_finite_grads(self, grads: tuple) -> None:
        for g in grads:
            if g is not None:
                _check_finite(_data(g), self, "backward")

    def _check_versions(self, output) -> None:
        """Refuse to run backward on saved arrays that were written in place since this
        node was recorded (the engine asks only when some write came after it)."""
        if type(self._saved) is not tuple:
            # RELEASED: the engine says why this graph cannot be walked again; or packed by
            # saved_tensors_hooks, whose saves PyTorch does not check either.
            return
        needed_by, needs = self._saved_needed_by, self.needs_input_grad
        for k, array in enumerate(self._saved):
            if needed_by is not None and not any(needs[i] for i in needed_by[k]):
                continue
            changed = written_since(array, self._order)
            if changed is not None:
                what = self._describe_saved(array, output)
                raise RuntimeError(_MODIFIED.format(what=what, now=changed[0], was=changed[1], name=self.name))

    def _describe_saved(self, array, output) -> str:
        if output is not None and output.data is array:
            return f"the output of {self.name}"
        for i, x in enumerate(self.inputs):
            if isinstance(x, Tensor) and x.data is array:
                return f"input {i} of {self.name} ({describe(x)})"
        return f"an array of shape {array.shape} saved by {self.name}"

    def _checked_grads(self, grads: tuple) -> tuple:
        """A user Function's gradients as arrays: one per input, each a float array of its
        input's shape or one whose broadcast axes sum to it; anything else raises naming
        the Function. Extra trailing Nones are dropped, as PyTorch drops them."""
        if len(grads) > len(self.inputs) and all(g is None for g in grads[len(self.inputs):]):
            grads = grads[:len(self.inputs)]
        if len(grads) != len(self.inputs):
            raise RuntimeError(
                f"{self.name}.backward returned {len(grads)} gradient(s) but forward had "
                f"{len(self.inputs)} input(s): return one per input (None for inputs with no gradient)"
            )
        checked = []
        for i, (x, g) in enumerate(zip(self.inputs, grads)):
            if g is not None and not isinstance(g, Tensor):
                g = np.asarray(g)
            if g is not None and isinstance(x, Tensor):
                data = g.data if isinstance(g, Tensor) else g
                if data.dtype.kind != "f" or not _reduces_to(data.shape, x.data.shape):
                    raise RuntimeError(
                        f"{self.name}.backward returned a gradient of shape {data.shape} and dtype "
                        f"{data.dtype} for input {i} ({describe(x)}); it must be a floating array "
                        "of the input's shape (or one that summing broadcast axes reduces to it)"
                    )
            checked.append(g)
        return tuple(checked)

    def _vjp_building_graph(self, grad, output):
        """Backward on Tensors, recorded, so that its result can be differentiated again."""
        if self.differentiable_backward:
            saved = self._saved
            self._saved = self._saved_as_tensors(output)
            try:
                grads = self.backward(self, grad)
            finally:
                self._saved = saved
            return self._linked_to_inputs(grads) if self._zero_second_order else grads
        grads = self.backward(self, grad.data)
        depends_on = [x for x in (grad, *self.inputs) if isinstance(x, Tensor)]
        return tuple(
            None if g is None else _NotDifferentiableTwice.apply(g, *depends_on, source_name=self.name,
                                                                 once=self._once_differentiable)
            for g in (grads if isinstance(grads, tuple) else (grads,))
        )

    def _linked_to_inputs(self, grads):
        """``grads`` (one or a tuple), each recorded as a function of the inputs that
        require grad with derivative 0 (see ``_zero_second_order``)."""
        inputs = [x for x in self.inputs if isinstance(x, Tensor) and x._requires_grad]
        if not inputs:
            return grads
        if type(grads) is not tuple:
            return _ZeroDerivative.apply(grads, *inputs) if grads is not None else None
        return tuple(None if g is None else _ZeroDerivative.apply(g, *inputs) for g in grads)

    def _adopt_output(self, out) -> np.ndarray:
        """NumPy returns scalars for 0-d results: make the output an array, and make
        a saved copy of it the same array so that it is recognised as the output."""
        array = np.asarray(out)
        self._adopted = True  # an mg.compile replay repeats this
        saved = self._saved
        if type(saved) is tuple:
            for s in saved:
                if s is out:
                    self._saved = tuple(array if s is out else s for s in saved)
                    break
        return array

    def _saved_as_tensors(self, *outputs) -> tuple:
        """The saved arrays as the Tensors they are the data of, so that a
        differentiable backward sees through them; other arrays stay constants."""
        inputs = self.inputs
        if type(self._saved) is not tuple:  # packed by saved_tensors_hooks
            return self._unpacked_as_tensors(outputs)
        owners = {id(x.data): x for x in (*outputs, *reversed(inputs)) if isinstance(x, Tensor)}
        for k, output in enumerate(outputs):
            if output is None and self._output_ids:  # an output the user no longer holds
                array = next((a for a in self._saved if id(a) == self._output_ids[k]), None)
                if array is not None:
                    owners[id(array)] = self._revived_output(k, array)
        moved = self._in_place_output
        if moved is not None and outputs and isinstance(outputs[0], Tensor):
            output = outputs[0]
            if output.data is not moved and not np.array_equal(output.data, moved, equal_nan=True):
                # Written since under no_grad (the first-order rule uses the saved values): those
                # values, with the output's derivatives.
                output = output + Tensor._wrap(moved - output.data)
            owners[id(moved)] = output
        # Two inputs can share one array (x * x.detach()); saving inputs in their own
        # order, as the built-in primitives do, tells them apart. That order also tells which
        # input a saved array promoted from it is (a float32 operand of a float64 product).
        saved = []
        for i, a in enumerate(self.saved_tensors):
            x = inputs[i] if i < len(inputs) else None
            if isinstance(x, Tensor) and x.data is a:
                saved.append(x)
            elif id(a) in owners:
                saved.append(owners[id(a)])
            else:
                saved.append(_promoted_from(x, a))
        return tuple(saved)

    def _unpacked_as_tensors(self, outputs: tuple) -> tuple:
        """``_saved_as_tensors`` for arrays packed by ``saved_tensors_hooks``: as in PyTorch, what
        the unpack hook returns for a saved input or output has that tensor's graph (a copy made
        by the hooks, an offloaded array...), with the values the hook gave back."""
        arrays = self._saved.unpack()
        origins = getattr(self._saved, "origins", None) or (None,) * len(arrays)
        tensors = []
        for array, origin in zip(arrays, origins):
            original = None
            if origin is not None:
                kind, i = origin
                group = self.inputs if kind == "input" else outputs
                original = group[i] if i < len(group) else None
                if original is None and kind == "output" and self._output_ids and isinstance(array, np.ndarray):
                    original = self._revived_output(i, array)
            if not isinstance(original, Tensor) or not isinstance(array, np.ndarray):
                tensors.append(array)
            elif array is original.data or (array.shape == original.data.shape
                                             and np.array_equal(array, original.data, equal_nan=True)):
                tensors.append(original)
            else:  # the hook changed the values: those values, the original's derivatives
                tensors.append(original + Tensor._wrap(np.asarray(array - original.data, dtype=array.dtype)))
        return tuple(tensors)

    def _revived_output(self, k: int, array) -> Tensor:
        """A Tensor again for output ``k`` of this node, which the user no longer holds but
        ``backward`` saved (``array``): under create_graph a saved output must carry this node's
        derivatives, as PyTorch's saved outputs do, not be a constant. It is made this node's
        output ``k`` anew, so that a gradient reaching it in a later backward comes back here."""
        tensor = Tensor._wrap(array)
        tensor._node, tensor._requires_grad = self, True
        self._outputs = tuple(weakref.ref(tensor) if i == k else ref for i, ref in enumerate(self._outputs))
        return tensor

    # -- PyTorch's node API (mg.autograd.graph.Node) ----------------------------------
    _prehooks: tuple | list = ()
    _posthooks: tuple | list = ()

    def register_prehook(self, hook):
        """Call ``hook(grad_outputs)`` (a tuple, one gradient per output) before this node's
        backward; a non-None return (a tuple as long) replaces them. Returns a handle whose
        ``remove()`` undoes it."""
        return _NodeHookHandle(_hook_list(self, "_prehooks"), hook)

    def register_hook(self, hook):
        """Call ``hook(grad_inputs, grad_outputs)`` after this node's backward (``grad_inputs``:
        one gradient per input, None for those needing none; for a Function of the user's, per
        Tensor input, as in ``next_functions``); a non-None return (a tuple as
        long) replaces ``grad_inputs``. Returns a handle whose ``remove()`` undoes it."""
        return _NodeHookHandle(_hook_list(self, "_posthooks"), hook)

    @property
    def metadata(self) -> dict:
        """A dict for the user's own notes about this node (empty at first), as PyTorch's."""
        return self.__dict__.setdefault("_metadata", {})

    @property
    def next_functions(self) -> tuple:
        """Where backward goes from this node, as PyTorch's ``grad_fn.next_functions``: per
        input, ``(node, i)`` with the node that computed it (``i``: which of its outputs),
        ``(AccumulateGrad, 0)`` for a leaf that requires grad (its ``.variable`` is the
        leaf), or ``(None, 0)`` for an input no gradient goes to. Walking these from
        ``loss.grad_fn`` visits the whole graph, as graph-drawing code for PyTorch does. As
        PyTorch's, a Function of the user's has entries for its Tensor inputs only (a number
        given to a built-in operation is an operand, with ``(None, 0)``)."""
        if self._builtin:
            return tuple(_next_function(x) for x in self.inputs)
        return tuple(_next_function(x) for x in self.inputs if isinstance(x, Tensor))

    def __repr__(self) -> str:
        return f"<{self.name} node>"


def _replayable(cls: type) -> type:
    """``cls`` as an mg.compile replay calls it, ``forward(ctx, *arrays)``: itself, or for
    PyTorch 2's style a subclass (made once) whose forward runs ``cls.forward`` and then
    ``cls.setup_context``, as ``apply`` does."""
    if cls._forward_signature is None:
        return cls
    replayable = cls.__dict__.get("_replayable")
    if replayable is None:
        def forward(ctx, *arrays, **params):
            out = cls.forward(*arrays, **params)
            cls.setup_context(ctx, arrays, out)
            return out

        replayable = type(cls.__name__, (cls,), {
            "name": cls.name, "forward": staticmethod(forward), "_forward_signature": None,
            "setup_context": staticmethod(Function.setup_context)})
        cls._replayable = replayable
    return replayable


class _NodeHookHandle:
    """Registers ``hook`` in ``hooks`` (a node's list) and counts it in ``node_hooks``, which
    the engine reads once per backward; ``remove()`` undoes both."""

    def __init__(self, hooks: list, hook):
        self._hooks, self._hook = hooks, hook
        with node_hooks.lock:
            hooks.append(hook)
            node_hooks.count += 1

    def remove(self) -> None:
        with node_hooks.lock:
            if self._hook in self._hooks:
                self._hooks.remove(self._hook)
                node_hooks.count -= 1


def _hook_list(node: Function, attribute: str) -> list:
    """The node's list of hooks named ``attribute``, made on first use. Hooks never removed
    stop counting in ``node_hooks`` when the node goes, so that later backwards skip the checks."""
    hooks = node.__dict__.get(attribute)
    if hooks is None:
        hooks = []
        setattr(node, attribute, hooks)
        weakref.finalize(node, _forget_hooks, hooks)
    return hooks


def _forget_hooks(hooks: list) -> None:
    with node_hooks.lock:
        node_hooks.count -= len(hooks)
        hooks.clear()


def _pack_saved(node: Function, inputs: tuple, outputs: tuple) -> None:
    """Pack what ``node`` (just recorded) saved with this thread's innermost saved-tensor hooks."""
    from microgradnp.autograd.graph import pack_saved  # (that module imports this one)

    pack_saved(node, inputs, outputs)


class AccumulateGrad:
    """The end of a path in ``next_functions``: the leaf ``variable``, whose ``.grad``
    backward accumulates into (one per leaf, as PyTorch's)."""

    name = _Name("AccumulateGrad")
    next_functions: tuple = ()
    metadata = Function.metadata

    def __init__(self, variable):
        self._variable = weakref.ref(variable)

    @property
    def variable(self):
        return self._variable()

    def register_prehook(self, hook):
        """Call ``hook(grad_outputs)`` (a 1-tuple: the leaf's total gradient, after its tensor
        hooks) before backward adds it to ``.grad``; a non-None return (a 1-tuple) replaces it.
        As PyTorch's, ``mg.grad`` (which accumulates nothing) does not run it. Returns a handle
        whose ``remove()`` undoes it."""
        return self._leaf_hook(hook, before=True)

    def register_hook(self, hook):
        """Call ``hook((), (grad,))`` after backward added ``grad`` to the leaf's ``.grad`` (and
        after its post-accumulate hooks); it must return None. As PyTorch's, ``mg.grad`` does
        not run it. Returns a handle whose ``remove()`` undoes it."""
        return self._leaf_hook(hook, before=False)

    def _leaf_hook(self, hook, before: bool):
        from microgradnp.autograd.engine import AccumulateGradHook  # (that module imports this one)

        leaf = self.variable
        if leaf is None:
            raise RuntimeError("this AccumulateGrad node's leaf tensor no longer exists, so no gradient will reach it")
        if leaf._hooks is None:
            leaf._hooks = []
        entry = AccumulateGradHook(hook, before)
        leaf._hooks.append(entry)
        return _HookHandle(leaf._hooks, entry)

    def __repr__(self) -> str:
        return "<AccumulateGrad node>"


def _next_function(x) -> tuple:
    if not isinstance(x, Tensor) or not x.requires_grad:
        return (None, 0)
    node = x._node
    if node is None:  # (the leaf keeps its AccumulateGrad, so every path shows the same one)
        accumulate = x.__dict__.get("_accumulate_grad")
        if accumulate is None:
            accumulate = x.__dict__["_accumulate_grad"] = AccumulateGrad(x)
        return (accumulate, 0)
    if node._outputs is None:
        return (node, 0)
    return (node, next(i for i, ref in enumerate(node._outputs) if ref() is x))


class _NotDifferentiableTwice(Function):
    """Wraps a gradient computed on ndarrays so that differentiating it again fails loudly."""

    name = "not_differentiable_twice"

    @staticmethod
    def forward(ctx, grad, *depends_on, source_name, once=False):
        ctx.source_name, ctx.once = source_name, once
        return grad

    @staticmethod
    def backward(ctx, grad):
        if ctx.once:
            raise RuntimeError(
                f"trying to differentiate twice a function that was marked with @once_differentiable "
                f"({ctx.source_name}.backward): its result cannot be differentiated again. Remove the "
                "decorator, write backward with operations that work on Tensors too and set "
                "differentiable_backward = True on the class."
            )
        raise RuntimeError(
            f"{ctx.source_name}.backward works on ndarrays, so its result cannot be "
            "differentiated again. Write its backward with operations that work on "
            "Tensors too and set differentiable_backward = True on the class."
        )


def once_differentiable(backward):
    """Decorate a Function's ``backward`` with it, as ``torch.autograd.function.once_differentiable``:
    backward then runs on ndarrays with gradient recording off, and differentiating its result
    again (``create_graph=True``, then a second derivative) raises a RuntimeError saying so.

    This is what a Function without ``differentiable_backward = True`` does anyway; the
    decorator makes it so even where the class sets that flag, and keeps PyTorch code as it is.
    Put it under ``@staticmethod``.
    """

    @functools.wraps(backward)
    def wrapper(ctx, *grads):
        with no_grad():
            return backward(ctx, *grads)

    wrapper._once_differentiable = True  # (read by Function.__init_subclass__)
    return wrapper


class _ZeroDerivative(Function):
    """``value`` itself, recorded as a function of ``inputs`` whose derivative is 0: the
    gradient of a piecewise-linear rule under create_graph (``_zero_second_order``)."""

    name = "zero_derivative"
    differentiable_backward = True
    _builtin = True

    @staticmethod
    def forward(ctx, value, *inputs):
        value = np.asarray(value)
        ctx.zeros_like = [(x.shape, x.dtype) for x in inputs]
        return value.view()  # (a new array object: the output is not its input)

    @staticmethod
    def backward(ctx, grad):
        return (grad, *(np.zeros(shape, dtype) for shape, dtype in ctx.zeros_like))


def _not_real(name: str, out: np.ndarray, inputs) -> str:
    """The error for a result that is not real numbers (a complex or object operand): its
    gradient would drop the imaginary part or fail on objects."""
    dtypes = {np.asarray(_data(x)).dtype for x in inputs}
    culprits = sorted(str(d) for d in dtypes if d.kind not in "fiub")
    operand = f"an operand of dtype {', '.join(culprits)}" if culprits else "its operands"
    return (
        f"{name}: {operand} gives a result of dtype {out.dtype}, but microgradnp works with "
        "real numbers only (gradients would drop an imaginary part or fail on objects); convert "
        "the operand to floats first, e.g. np.asarray(x, dtype=np.float64), or use its .real part"
    )


def _passed_through(out) -> bool:
    """Whether an output of a Function with several outputs is returned as it is (None, a
    string, a dict...): what NumPy makes no array of numbers from (numbers become 0-d arrays)."""
    return out is None or (type(out) is not np.ndarray and np.asarray(out).dtype.kind in "OUSV")


def _no_tensor() -> None:
    """The weak reference kept for an output that is no Tensor (``_apply_several``)."""
    return None


def _marked(ctx: Function, out: np.ndarray) -> bool:
    """Whether ``forward`` passed ``out`` to ``ctx.mark_non_differentiable``."""
    return any(a is out for a in ctx._non_differentiable)


def _check_finite(array, node: Function, phase: str) -> None:
    if not mode.check_nan:  # detect_anomaly(check_nan=False)
        return
    array = np.asarray(array)
    if array.dtype.kind in "fc" and not np.isfinite(array).all():
        kind = "nan" if np.isnan(array).any() else "inf"
        where = (
            f"created at {node.origin}"
            if node.origin
            else "run the forward pass inside mg.detect_anomaly() too to see the line that created it"
        )
        raise FloatingPointError(f"{node.name} produced {kind} in its {phase} ({where})")


def _promoted_from(x, a):
    """The saved array ``a`` as a function of the input ``x`` when the forward promoted ``x``
    to it (``a`` is ``x`` cast to a wider float dtype): ``x`` cast, so that a gradient built
    from ``a`` carries ``x``'s derivatives; else ``a`` itself, a constant."""
    if (isinstance(x, Tensor) and x._requires_grad and type(a) is np.ndarray and a.dtype.kind == "f"
            and a.dtype != x.data.dtype and a.shape == x.data.shape
            and np.array_equal(x.data.astype(a.dtype), a, equal_nan=True)):
        from microgradnp.ops.shape import Cast  # (ops import this module)

        return Cast.apply(x, dtype=a.dtype)
    return a


from microgradnp.tensor import _STALE_VIEW, Tensor, _as_float_array, _data, _HookHandle, describe  # noqa: E402  (Tensor needs this module first)


def _reduces_to(shape: tuple, target: tuple) -> bool:
    """Whether summing broadcast axes turns an array of ``shape`` into one of ``target``."""
    lead = len(shape) - len(target)
    return lead >= 0 and all(t == n or t == 1 for t, n in zip(target, shape[lead:]))
