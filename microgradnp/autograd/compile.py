"""``mg.compile``: trace a function once, then replay it on ndarrays.

The first call for a given signature runs the function eagerly with a recorder
attached. Every primitive's forward, every vector-Jacobian product of ``backward()``
or ``mg.grad``, every gradient sum and every ``.grad`` accumulation is written down as
one line of Python, and so are the calls of framework methods whose effects lie outside
the graph (``optimizer.step()``, ``zero_grad()``, a scheduler's ``step()``, gradient
clipping). The lines
become one generated function. Later calls run it: the same NumPy calls in the same
order, so the results are bit-identical to eager execution, without creating Tensors
for intermediates, walking a heap, or repeating the checks the trace settled.

What the replay cannot follow is refused while tracing (a ``TraceError`` naming the
line): Python code that reads tensor values (``bool(t)``, ``t.item()``, ``float(t)``,
``np.asarray(t)``, ``t.grad``) and in-place operations on tensors. What the user can
change between calls is checked at every replay or re-traces: the parameters'
arrays, shapes, dtypes and ``requires_grad``, grad mode, any change to a module the
function called or its sub-modules (an attribute, parameter, buffer, sub-module or hook
assigned, registered or deleted, ``train()``/``eval()``), and a replayed call's method
assigned on its instance (``opt.step = wrapper``). Random draws are replayed in order, from
the global generator and the generators the function is given; a generator the library
makes from a seed inside the function (``nn.Dropout(p, rng=0)`` built there) is made anew
at every replay, as eager makes it, and a NumPy generator made there (its seed unknown)
makes the function run eagerly. Hooks make the function run
eagerly (with a warning) while they stay registered, ``retain_grad()`` for good;
``detect_anomaly`` runs it eagerly while active.
"""

from __future__ import annotations

import builtins
import collections
import collections.abc
import contextlib
import dis
import functools
import itertools
import math
import numbers
import os
import re
import sys
import sysconfig
import threading
import types
import warnings
import weakref
from collections import OrderedDict

import numpy as np

from microgradnp import tensor as _tensor_module
from microgradnp.autograd.engine import _accumulate_leaf, accumulating, sum_to_shape, summed_axes, summed_into
from microgradnp.autograd.function import _PACKAGE_DIR, RELEASED, _user_origin, saved_tensors_hooks_state
from microgradnp.autograd.grad_mode import mode, watchers
from microgradnp.tensor import FREED, Tensor

__all__ = ["Compiled", "TraceError", "compile"]


class TraceError(RuntimeError):
    """A compiled function did something its replay could not repeat."""


class _Retrace(Exception):
    """Raised by a replay's checks: something the trace relied on changed (the argument,
    when given, names a rebound variable)."""


_REBINDS_BEFORE_WARNING = 8
_TRACES_BEFORE_WARNING = 32  # (a few shapes and modes are normal: a smaller last batch, train and eval)


def compile(fn=None, *, cache_size: int = 8):  # noqa: A001  (mg.compile, as torch.compile)
    """Trace ``fn`` on its first call for each signature and replay it afterwards.

    Use as ``step = mg.compile(step)`` or ``@mg.compile``. ``fn`` should be a whole
    training step (forward, loss, ``loss.backward()``, ``optimizer.step()``), returning
    what the caller wants to see, e.g. the loss. A signature is the shapes, dtypes and
    ``requires_grad`` of the Tensor and ndarray arguments, the values of the other
    arguments, and grad mode; ``cache_size`` replays are kept (least recently used
    first out), so mini-batches of two sizes replay both.

    A replay returns Tensors without a graph, gives bit-identical results to calling
    ``fn`` itself, and runs Python code in ``fn`` only while tracing: a list append or a
    dict item assigned happens once, and NumPy code in ``fn`` becomes a constant (pass
    data that changes as arguments). What would be silently stale runs eagerly, with a
    warning: a ``print`` of a tensor, NumPy code on a tensor's array, random numbers drawn
    with NumPy or Python's ``random``, an assignment to a global or an attribute. A module
    the function calls is watched: assigning or deleting one of its attributes
    (``model.fc = ...``, ``dropout.p = 0.2``), registering a parameter, buffer,
    sub-module or hook, or switching ``train()``/``eval()`` makes the next call trace
    again, and so does a global or closure variable of ``fn`` that holds another object
    (a tensor, array, module or optimizer rebound) or another number, string or
    function, as torch.compile guards them, and a number or string changed inside your
    own settings (``config["loss"]["weight"] = 0.5``).
    ``compiled.code`` shows the generated replay.
    """
    if fn is None:
        return functools.partial(compile, cache_size=cache_size)
    if not callable(fn):
        raise TypeError(f"mg.compile: expected a function, got {type(fn).__name__}")
    if not isinstance(cache_size, int) or cache_size < 1:
        raise ValueError(f"mg.compile: cache_size must be a positive int, got {cache_size!r}")
    return Compiled(fn, cache_size)


class Compiled:
    """A function compiled by :func:`compile`: call it as ``fn`` itself."""

    def __init__(self, fn, cache_size: int = 8):
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.cache_size = cache_size
        self._replays: OrderedDict = OrderedDict()  # signature -> its _Replays, most recently used first
        self._eager_reason: str | None = None
        self._eager_while: list | None = None  # what makes it eager only while it lasts (a hook)
        self._lock = threading.Lock()
        self._rebinds: dict[str, int] = {}  # global or closure variable -> re-traces it caused
        self.traces = 0  # how many times fn was traced (a test and a curious user can look)

    def __get__(self, instance, owner=None):
        return self if instance is None else functools.partial(self, instance)

    @property
    def code(self) -> str | None:
        """The Python source of the most recently traced replay (None before the first call)."""
        return next(reversed(self._replays.values()))[0].source if self._replays else None

    def __call__(self, *args, **kwargs):
        if self._eager_reason is not None:
            if self._eager_while is None or any(still() for still in self._eager_while):
                return self.fn(*args, **kwargs)
            self._eager_reason = self._eager_while = None  # (the hooks are gone: replay or trace again)
        if watchers.count and (mode.anomaly or mode.tracer is not None or saved_tensors_hooks_state.stack):
            # (called while another compiled function traces: its operations belong to that trace; inside
            # saved_tensors_hooks, whose hooks a replay would not call)
            return self.fn(*args, **kwargs)
        leaves, key = _signature((args, kwargs))
        # The replays of this signature, most recently used first: one per state of what the
        # checks watch (a model in train() and in eval() mode, a tensor frozen or not).
        for replay in tuple(self._replays.get(key, ())):  # (a copy: another thread may change the list)
            try:
                result = replay.run(leaves)
            except _Retrace as retrace:
                if retrace.args:  # a variable holds another object: this replay's objects are gone
                    self._rebound(retrace.args[0])
                    self._drop(key, replay)
                continue
            with self._lock:
                variants = self._replays.get(key)
                if variants is not None:  # (another thread may have dropped it meanwhile)
                    self._replays.move_to_end(key)
                    if variants[0] is not replay and replay in variants:
                        variants.remove(replay)
                        variants.insert(0, replay)
            return result
        return self._trace(args, kwargs, leaves, key)

    def _drop(self, key, replay) -> None:
        with self._lock:
            variants = self._replays.get(key)
            if variants is not None and replay in variants:
                variants.remove(replay)
                if not variants:
                    del self._replays[key]

    def _rebound(self, variable: str) -> None:
        """A variable the function reads held another object: say so once it keeps happening."""
        count = self._rebinds[variable] = self._rebinds.get(variable, 0) + 1
        if count == _REBINDS_BEFORE_WARNING:
            warnings.warn(
                f"mg.compile({_name(self.fn)}): traced {count} times again because the {variable} it reads "
                "holds another object at each call; pass it as an argument instead, so that replays "
                "can be reused",
                stacklevel=3,
            )

    def _trace(self, args, kwargs, leaves, key):
        recorder = _Recorder(self.fn, leaves, (args, kwargs))
        with _tracing(recorder):
            result = self.fn(*args, **kwargs)
            recorder.check_reads(result)
        self.traces += 1
        if self.traces == _TRACES_BEFORE_WARNING:
            warnings.warn(
                f"mg.compile({_name(self.fn)}): traced {self.traces} times: a Python number or string "
                "argument, a shape or a dtype that changes from call to call is a new signature each time "
                "(a tensor's values are not). Pass numbers that change at every call as 0-d tensors "
                "(mg.tensor(beta)), or call the function without mg.compile",
                stacklevel=3,
            )
        replay = None if recorder.eager_reason is not None else recorder.finish(result)
        if replay is None:  # (a reason found while tracing, or while watching what the function reads)
            self._eager_reason, self._eager_while = recorder.eager_reason, recorder.eager_while
            if self._eager_while is None:
                self._replays.clear()
            # (while a hook stays registered; the replays are kept for when it is removed)
            when = "from now on" if self._eager_while is None else "while the hooks stay registered"
            warnings.warn(
                f"mg.compile({_name(self.fn)}): runs eagerly {when}: it uses "
                f"{recorder.eager_reason}, which a replay would skip",
                stacklevel=3,
            )
            return result
        result = recorder.as_replayed(result)  # the first call returns what later ones will
        with self._lock:
            variants = self._replays.setdefault(key, [])
            variants.insert(0, replay)
            self._replays.move_to_end(key)
            while sum(map(len, self._replays.values())) > self.cache_size:  # the least recently used first out
                oldest = next(iter(self._replays.values()))
                oldest.pop()
                if not oldest:
                    self._replays.popitem(last=False)
        return result

    def __repr__(self) -> str:
        return f"<mg.compile of {_name(self.fn)}: {len(self._replays)} traced signature(s)>"


def _name(fn) -> str:
    return getattr(fn, "__qualname__", None) or type(fn).__name__


# -- signatures ------------------------------------------------------------------------------
def _signature(value) -> tuple[list, tuple]:
    """The Tensors and ndarrays in ``value`` (nested tuples, lists and dicts), in order,
    and a hashable key of everything a trace depends on."""
    args, kwargs = value
    leaves: list = []
    if not kwargs:  # the common calls (a training step's Tensors and arrays), without recursion
        key = []
        for a in args:
            kind = type(a)
            if kind is Tensor:
                data = a.data
                key.append(("T", data.shape, data.strides, data.dtype.str, a.requires_grad, not a._hooks,
                            a._node is None))
            elif kind is np.ndarray:
                key.append(("A", a.shape, a.strides, a.dtype.str))
            else:
                break
        else:
            leaves.extend(args)
            # (spelled as _key spells it; the default dtype decides what Python numbers become)
            return leaves, (("tuple", ("tuple", *key), ("dict",)), mode.grad_enabled, _tensor_module._default_dtype)
    return leaves, (_key(value, leaves), mode.grad_enabled, _tensor_module._default_dtype)


def _key(value, leaves: list):
    if isinstance(value, Tensor):
        leaves.append(value)
        data = value.data
        # (a hook, or a tensor computed by operations rather than a leaf: traced anew)
        return ("T", data.shape, data.strides, data.dtype.str, value.requires_grad, not value._hooks,
                value._node is None)
    if isinstance(value, np.ndarray):
        leaves.append(value)
        return ("A", value.shape, value.strides, value.dtype.str)  # (the layout decides NumPy's order of sums)
    if isinstance(value, tuple | list):
        return (type(value).__name__, *(_key(v, leaves) for v in value))
    if isinstance(value, dict):
        return ("dict", *((k, _key(v, leaves)) for k, v in value.items()))
    if not isinstance(value, _VALUES):
        # Objects (a model, a config object, a dataclass of tensors): by identity, even when
        # they define == (two equal objects are still two objects a replay reads from).
        return ("id", _Identity(value))
    if isinstance(value, slice):  # (hashable only from Python 3.12)
        return ("slice", *(_key(v, leaves) for v in (value.start, value.stop, value.step)))
    if isinstance(value, float | np.floating | complex | np.complexfloating) and value != value:
        return ("V", type(value).__name__, "nan")  # (nan is not equal to itself: one key for all)
    if isinstance(value, float | np.floating) and value == 0:
        return ("V", type(value).__name__, value, math.copysign(1.0, value))  # 0.0 and -0.0 are equal keys otherwise
    if isinstance(value, complex | np.complexfloating) and value == 0:
        return ("V", type(value).__name__, math.copysign(1.0, value.real), math.copysign(1.0, value.imag))
    return ("V", type(value).__name__, value)


# -- tracing -----------------------------------------------------------------------------------
_tracing_lock = threading.Lock()
_traces_running = 0
_plain_grad = Tensor.grad


def _traced_grad_get(tensor: Tensor):
    if mode.tracer is not None:
        mode.tracer.cannot_trace("t.grad (Python code reading a gradient)")
    return tensor._grad


def _traced_grad_set(tensor: Tensor, value) -> None:
    if mode.tracer is not None:
        mode.tracer.grad_assigned(tensor, value)
    _plain_grad.fset(tensor, value)


_checked_grad = property(_traced_grad_get, _traced_grad_set, doc=_plain_grad.__doc__)


def _traced_data_get(tensor: Tensor):
    data = tensor.__dict__["data"]
    if mode.tracer is not None:
        mode.tracer.values_taken(data, sys._getframe(1))
    return data


def _traced_data_set(tensor: Tensor, value) -> None:
    values = tensor.__dict__
    if "data" in values and value is not FREED and mode.tracer is not None:  # (not a new tensor's first data)
        mode.tracer.data_assigned(tensor)
    values["data"] = value


# ``t.data`` is an instance attribute; while some thread traces, this property stands in
# for it, so that a trace sees a reassignment that a replay would skip.
_checked_data = property(_traced_data_get, _traced_data_set)


class _tracing:
    """Attach ``recorder`` to this thread for the duration of one eager run."""

    def __init__(self, recorder):
        self.recorder = recorder

    def __enter__(self):
        global _traces_running
        if mode.tracer is not None:
            raise TraceError("mg.compile: a compiled function called another while tracing; compile the outer one only")
        with _tracing_lock:
            _traces_running += 1
            # Reading .grad is a plain attribute read normally; while some thread traces, a
            # checking property stands in, so that a trace sees reads it could not replay.
            Tensor.grad = _checked_grad
            Tensor.data = _checked_data
        watchers.add(1)
        mode.tracer = self.recorder
        # The functions the traced one calls read globals too (a loss helper's `target`):
        # note them, unless a profiler is already installed in this thread.
        self.profiling = sys.getprofile() is None
        if self.profiling:
            sys.setprofile(self.recorder.called)
            self.recorder.outside.profiled = True  # (it sees this thread's draws from the global generators)

    def __exit__(self, *exc):
        global _traces_running
        if self.profiling:
            sys.setprofile(None)
        mode.tracer = None
        watchers.add(-1)
        with _tracing_lock:
            _traces_running -= 1
            if not _traces_running:
                Tensor.grad = _plain_grad
                del Tensor.data


# Stand-ins for a replayed node's inputs: backward rules ask only whether each input
# requires grad (ctx.needs_input_grad); the values live in the replay's variables.
def _stand_in(requires_grad: bool) -> Tensor:
    t = Tensor.__new__(Tensor)
    t.data, t._requires_grad = FREED, requires_grad
    return t


_NEEDS_GRAD, _NO_GRAD = _stand_in(True), _stand_in(False)


def _shaped_stand_in(tensor: Tensor) -> Tensor:
    """A user Function's input stand-in: its gradients are checked against the input's
    shape and dtype (an array of that shape without memory)."""
    t = Tensor.__new__(Tensor)
    t.data = np.broadcast_to(np.empty((), tensor.data.dtype), tensor.data.shape)
    t._requires_grad = tensor._requires_grad
    return t


class _Recorder:
    """Writes one eager run of a function down as the lines of its replay."""

    def __init__(self, fn, leaves: list, arguments=((), {})):
        self.fn = fn
        # Objects passed in (a `self`, a config object, a list of layers): keyed by identity
        # (see _key), and their attributes or items watched like a variable's.
        self.argument_objects = [v for v in _objects_in(arguments) if _watched(v)]
        self.arguments_given = arguments
        self.helpers: dict = {}  # code of the user's functions called while tracing -> their globals
        self.grad_mode_at_start = mode.grad_enabled
        self.lines: list[str] = []
        self.checks: list[str] = []
        self.setup: dict[str, list[str]] = {}  # node -> the lines making it, once per copy of the replay
        self.outputs: list[tuple[str, np.ndarray]] = []  # (node, its traced output) that may reuse memory
        self.leaves: dict[int, Tensor] = {}  # the leaves backward accumulated into
        # (the names the generated lines use as they are: constants get other names)
        self.names: dict[str, object] = {"Tensor": Tensor, "_Retrace": _Retrace, "_differs": _differs,
                                         "asarray": np.asarray, "add_reduce": np.add.reduce,
                                         "sum_to_shape": sum_to_shape, "_accumulate_leaf": _accumulate_leaf,
                                         "summed_into": summed_into, "accumulating": accumulating}
        self.var_of: dict[int, str] = {}  # id(array) -> the replay variable holding it
        self.kept: list = []  # everything whose id is in var_of, kept alive: ids stay unique
        self.ctx_var: dict[int, str] = {}  # id(node) -> its variable
        self.constant_names: dict[int, str] = {}
        self.modules: dict[int, object] = {}
        self.watching: set[int] = set()  # objects _watch_object looked into already
        self.eager_reason: str | None = None
        self.eager_while: list | None = []  # while one of these says True, the causes last (None: for good)
        self.paused = 0
        self.count = 0
        self.handed_out = None
        self.handed_out_lines: list[int] = []  # where the replay makes its sets of handed-out gradients
        # line -> (the backward pass, the accumulation's form) when every leaf kept its gradient array
        self.kept_as_is: dict[int, tuple[str, str] | None] = {}
        self.arguments: dict[int, str] = {}  # id(array of an argument) -> its variable
        self.mode_at_start: dict[int, bool] = {}  # id(module the function switched) -> training before
        self.data_reads: list[tuple[np.ndarray, str]] = []  # (t.data taken by the user's code, where)
        self.flag_at_start: dict[int, bool] = {}  # id(tensor whose requires_grad the function set) -> flag before
        # The tensors a call hands in or the function reads from outside: returned, they are
        # returned themselves (A[i] is this call's argument), as eager returns them.
        self.as_themselves: dict[int, str] = {
            id(leaf): f"A[{i}]" for i, leaf in enumerate(leaves) if isinstance(leaf, Tensor)
        }
        self.array_arguments: list[tuple[int, str, np.ndarray]] = []  # (position, variable, array) passed in
        self.outside = _Outside(fn, arguments)  # (compared at the end: what the call changed there)
        # id(generator) -> (it, its state as a library function took it to draw, the frame of the replayed
        # call that took it or None; see drawing)
        self.draw_starts: dict[int, tuple] = {}
        self.seeded: set[int] = set()  # ids of the generators the library made from a seed (rng=0) while tracing
        self.remade: list[str] = []  # the replay's lines making anew the generators the call makes (see _made_inside)
        self.passed_on: list[np.ndarray] = []  # computed arrays handed to replayed calls, which may keep them
        for i, leaf in enumerate(leaves):
            name = self._new("a")
            if not isinstance(leaf, Tensor):
                self.array_arguments.append((i, name, leaf))
            self.checks.append(f"{name} = A[{i}]" + (".data" if isinstance(leaf, Tensor) else ""))
            array = leaf.data if isinstance(leaf, Tensor) else leaf
            self.arguments.setdefault(id(array), name)
            self._bind_input(array, name)

    # -- names ---------------------------------------------------------------------------
    def _new(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def _bind_input(self, array, name: str) -> str:
        """``_bind`` for an array the replay reads from outside (an argument, a parameter):
        when the trace saw it twice (``f(x, x)``, or an argument that is a parameter's
        array), its operations were recorded on one name, so a replay needs the two to be
        one array again, or traces anew."""
        earlier = self.var_of.get(id(array))
        if earlier is not None:
            self.checks.append(f"if {name} is not {earlier}: raise _Retrace")
        return self._bind(array, name)

    def _bind(self, array, name: str) -> str:
        self.var_of[id(array)] = name
        self.kept.append(array)
        return name

    def constant(self, value, hint: str = "k") -> str:
        """The replay's expression for a value fixed at tracing: a literal where Python
        can write one, else a name bound to the object (one name per object)."""
        if _is_literal(value):
            return repr(value)
        name = self.constant_names.get(id(value))
        if name is None:
            if isinstance(value, np.dtype):
                hint = str(value)
            base = name = re.sub(r"\W", "_", hint)
            while name in self.names:  # the first of a kind keeps the plain name
                self.count += 1
                name = f"{base}{self.count}"
            self.constant_names[id(value)] = name
            self.names[name] = value
            self.kept.append(value)
        return name

    def operand(self, value) -> str:
        """The replay's expression for an operand seen while tracing."""
        if isinstance(value, Tensor):
            name = self.var_of.get(id(value.data))
            return name if name is not None else self._external(value)
        if isinstance(value, np.ndarray | np.generic):  # (a rule on 0-d arrays may give a NumPy scalar)
            name = self.var_of.get(id(value))
            return name if name is not None else self.constant(value)
        if isinstance(value, tuple | list) and any(self._computed(v) for v in value):
            # An index such as (rows, scores.argmax(axis=1)): its arrays are computed at every call.
            items = ", ".join(self.operand(v) for v in value)
            return f"({items},)" if isinstance(value, tuple) else f"[{items}]"
        return self.constant(value)

    def computed(self, value) -> bool:
        """Whether ``value`` is an argument's array or one the traced operations computed (one
        whose values can differ at the next call), outside a replayed call's own work."""
        return not self.paused and self._computed(value)

    def _computed(self, value) -> bool:
        """Whether ``value`` is an array the traced operations computed (or a tuple holding one)."""
        if isinstance(value, Tensor | np.ndarray | np.generic):
            return id(value.data if isinstance(value, Tensor) else value) in self.var_of
        return isinstance(value, tuple | list) and any(self._computed(v) for v in value)

    def _external(self, tensor: Tensor) -> str:
        """A tensor from outside the traced operations (a parameter, a constant): a replay
        reads its data afresh, after checking it still fits the trace."""
        if tensor.data is FREED:
            raise TraceError(f"mg.compile: {tensor!r} lost its values to an earlier backward()")
        holder, name = self.constant(tensor, "p" if tensor.requires_grad else "t"), self._new("x")
        self.as_themselves.setdefault(id(tensor), holder)
        data = tensor.data
        seen = self.constant([data], "seen")  # the array last checked; another one is checked again
        self.checks.append(f"{name} = {holder}.data")
        requires_grad = self.flag_at_start.get(id(tensor), tensor._requires_grad)  # (as the call began)
        condition = f"{name} is not {seen}[0] or {holder}._requires_grad is not {requires_grad}"
        if requires_grad:
            condition += f" or {holder}._hooks"
        check = self.constant(functools.partial(_recheck, tensor, data.shape, data.strides, data.dtype,
                                                requires_grad), "recheck")
        self.checks.append(f"if {condition}: {check}({seen})")
        return self._bind_input(data, name)

    # -- events, called by apply(), the engine and replayed methods ---------------------------
    def cannot_trace(self, what: str) -> None:
        if self.paused or self.eager_reason is not None:  # (this call is eager already, and so are later ones)
            return
        raise TraceError(
            f"mg.compile({_name(self.fn)}): {what} at {_user_origin()}. A compiled function is traced "
            "once and then replayed without running its Python code, so that code cannot depend "
            "on tensor values or change tensors in place. Move it out of the compiled function "
            "(return the tensor and read it after the call; use an optimizer for updates), or "
            "call the function without mg.compile."
        )

    def values_taken(self, data: np.ndarray, frame) -> None:
        """``t.data`` or ``t.numpy()`` in the user's code (``frame``; None: a library function
        such as ``mg.train.predict`` handing values to the user's code): fine if the function
        returns that array as it is, else NumPy code of the user's own (see ``check_reads``)."""
        if not self.paused and (frame is None or _is_user_code(frame.f_code.co_filename)):
            self.data_reads.append((data, _user_origin()))

    def values_shown(self, frame) -> None:
        """``print(t)``, ``str(t)``, ``f"{t:.4f}"`` in the user's code (``frame``): text of
        this call's values, which a replay would keep."""
        if not self.paused and _is_user_code(frame.f_code.co_filename):
            self.cannot_replay(f"a tensor printed or formatted at {_user_origin()} (its text shows one call's values)")

    def check_reads(self, result) -> None:
        """At the end of a trace, what the function's own Python and NumPy code did that a
        replay would not repeat: an assignment outside its call (``_assigned_outside``), the
        array of a tensor taken with ``t.data``/``t.numpy()`` and not just returned (a value
        turned into a constant, a write such as ``p.data[0] = 0``), or an array passed in that
        no recorded operation read (``y.astype(int)``). Such a function runs eagerly."""
        fn, _ = _unwrapped(self.fn)
        # The user's code that ran (the function itself also when another profiler kept the
        # trace's off), less what a replay runs again (a Function's forward and backward).
        codes = dict.fromkeys([*list(self.helpers), getattr(fn, "__code__", None)])  # (the profiler is still on)
        codes.pop(None, None)
        replayed = _function_codes()
        cells = {name for code in codes for name in code.co_cellvars}  # variables of frames inside the call
        for code in codes:
            # (an __init__ sets up an object the call makes: its attributes are the call's own)
            assigned = None if code in replayed or code.co_name in _CONSTRUCTORS else _assigned_outside(code, cells)
            if assigned is not None:
                self.cannot_replay(f"an assignment to {assigned} in {code.co_name} ({code.co_filename}:"
                                   f"{code.co_firstlineno}), Python code")
                return
        drawn = self.outside.drawn()
        if drawn is not None:
            self.cannot_replay(drawn)
            return
        made = self._made_inside()
        if made is not None:
            self.cannot_replay(made)
            return
        if self.outside.optimizer_changed():
            self.cannot_replay(_OPTIONS_CHANGED)
            return
        if self.outside.written():
            self.cannot_replay("a write into a NumPy array of yours (b *= 2, np.copyto(out, ...), b[0] = ...), which "
                               "a replay would not make again: do it outside the compiled function, or on tensors")
            return
        if self.outside.iterators:
            kind = type(self.outside.iterators[0]).__name__
            self.cannot_replay(f"an iterator ({kind}) it can reach, from which next() would give a replay the first "
                               "call's item again: take the batch outside the compiled function and pass it in as "
                               "an argument")
            return
        if self.outside.changed():
            self.cannot_replay("a change the function made to a list, dict or object of yours (state['h'] = h, "
                               "a list's append, setattr(config, ...)): return the new value and keep it outside "
                               "the compiled function, or pass it in as an argument")
            return
        returned = {id(v) for v in _items(result)}
        for data, origin in self.data_reads:
            if id(data) not in returned:
                self.cannot_replay(f"a tensor's array (t.data, t.numpy()) at {origin} in NumPy code")
                return
        body = "\n".join(self.lines)
        unread = _unread_arguments(self.fn, self.arguments_given) if self.array_arguments else set()
        for i, name, array in self.array_arguments:
            if self.var_of.get(id(array)) == name and not re.search(rf"\b{name}\b", body) and id(array) not in unread:
                self.cannot_replay(f"NumPy code on the {_ordinal(i + 1)} array argument, which no tensor operation "
                                   "reads (y.astype(...) on it would keep the first call's result: convert it "
                                   "before the call, or pass mg.tensor(y))")
                return
        # An array of yours the function can reach and no recorded operation reads: NumPy code
        # may have turned its values into numbers the replay keeps (float(scale), weights.sum()),
        # so a replay checks they are still the same, where that is cheap.
        for array, _ in self.outside.arrays.values():
            if id(array) in self.arguments or id(array) in self.constant_names:
                continue
            if array.nbytes > _CHECKED_BYTES:
                self.cannot_replay(f"a NumPy array of yours (shape {array.shape}) that no tensor operation reads, too "
                                   "big to compare at every call: NumPy code on it (float(a), a.sum()) would keep the "
                                   "first call's result, so make it a tensor outside the compiled function "
                                   "(mg.tensor(a)) or pass it in as an argument")
                return
            held, traced = self.constant(array, "array"), self.constant(array.tobytes(), "values")
            self.checks.append(f"if {held}.tobytes() != {traced}: "
                               "raise _Retrace('the values of a NumPy array of yours')")

    def _made_inside(self) -> str | None:
        """The generators the replay would hold and draw from that the call made (nothing but
        the trace holds them now: ``nn.Dropout(0.5, rng=0)`` built in the function,
        ``rng=np.random.default_rng(0)``). Eager makes such a generator anew at every call, so a
        replay must too: one the library made from a seed (rng=0) is made again, in the state
        it had when its replayed draws began; for another, what made it (a seed that may change
        from call to call, or none) is unknown, so the function runs eagerly (said by the text
        returned, else None)."""
        self.draw_starts.clear()  # (draws outside replayed calls, checked by drawn(); they hold frames)
        drawn = [(self.outside.generators[key][0], draws[0][0]) for key, draws in self.outside.replayed.items()
                 if key in self.constant_names and key not in self.outside.at_start
                 and key != id(_tensor_module._global_rng)]
        if not drawn:
            return None
        import pickle

        own = {id(self.names), id(self.kept), id(self.modules), id(self.outside.generators),
               *map(id, self.outside.generators.values())}
        for generator, start in drawn:
            if not _held_only_by(generator, own):
                continue  # (made before the call, or kept by it: eager draws on from it too)
            if id(generator) not in self.seeded:
                return ("a NumPy generator made inside the function (rng=np.random.default_rng(...)), which eager "
                        "makes anew at every call while a replay would draw on from the first one: pass the seed "
                        "itself (rng=0), which makes a fresh generator at every call, or make the generator outside "
                        "the function")
            remade = self.constant(functools.partial(_generator_at, type(generator.bit_generator),
                                                     pickle.loads(start)), "generator_at")
            self.remade.append(f"{self.constant_names[id(generator)]} = {remade}()")
        return None

    def cannot_replay(self, what: str, still=None) -> None:
        """The function must run eagerly because of ``what``: for good, or, with ``still``
        (a function saying whether the cause is still there, e.g. a hook still registered),
        only as long as the cause lasts."""
        if self.paused:  # (a replayed call's own work is not traced)
            return
        if self.eager_reason is None:
            self.eager_reason = what
        if still is None:
            self.eager_while = None
        elif self.eager_while is not None:
            self.eager_while.append(still)

    def hooked(self, owner, what: str) -> None:
        """A hook on a tensor or module ran (``owner``; a module also for the global hooks):
        eager while it stays registered, when the owner existed before the call (a leaf,
        a module); a hook registered on a tensor the call computes recurs at every call."""
        if isinstance(owner, Tensor) and owner._node is not None:
            self.cannot_replay(what)
            return
        from microgradnp.nn.hooks import global_hooks

        ref = weakref.ref(owner)

        def still() -> bool:
            alive = ref()
            return global_hooks.count > 0 or (alive is not None and bool(
                alive._hooks if isinstance(alive, Tensor) else alive._hooked))

        self.cannot_replay(what, still)

    def mode_changing(self, module) -> None:
        """``module.train()``/``eval()`` in the function: a replay checks the mode the module
        had when the call began."""
        self.mode_at_start.setdefault(id(module), module.training)

    def module_called(self, module) -> None:
        if not self.paused:
            self.modules[id(module)] = module

    def drawing(self, generator) -> None:
        """A library function took ``generator`` to draw from (``_rng``; the global generator
        for ``rng=None``). If it did so inside a call the replay makes again (a primitive's
        forward, a constructor), the draws up to the end of that call are the replay's own
        (see ``_drawn_again``): the replay gives that call the same generator (the global one
        looked up again, or the object it traced with)."""
        if not self.paused:
            self.draw_starts[id(generator)] = (generator, _Outside.state(generator),
                                               _replayed_frame(sys._getframe(2)))

    def seeded_generator(self, generator) -> None:
        """The library made ``generator`` from a seed (``_rng(0)``): a replay can make it again."""
        if not self.paused:
            self.seeded.add(id(generator))
            self.kept.append(generator)  # (its id stays its own)

    def _drawn_again(self) -> None:
        """The replayed call being recorded (a primitive's forward, a constructor: the caller's
        frame, still running) drew, since it took them, draws a replay makes again: noted as such."""
        running, frame = set(), sys._getframe(2)
        while frame is not None:
            running.add(id(frame))
            frame = frame.f_back
        for key, (generator, start, taker) in list(self.draw_starts.items()):
            if taker is not None and id(taker) in running:
                del self.draw_starts[key]
                self.outside.replayed_draws(generator, start)

    def forward(self, cls, ctx, inputs, arrays, params, result) -> None:
        if self.paused:
            return
        if self.draw_starts:
            self._drawn_again()
        operands = [self.operand(x) if isinstance(x, Tensor) else self.operand(a) for x, a in zip(inputs, arrays)]
        operands += [f"{k}={self.operand(v)}" for k, v in params.items()]
        kind, node = self.constant(cls, cls.__name__), self._new(cls.__name__.lower())
        self.ctx_var[id(ctx)] = node
        self.kept.append(ctx)
        out = self._bind(result.data, self._new("v"))
        # The node is made once per copy of the replay and reused by every call: forward and
        # backward overwrite what it keeps, in the same order at every call.
        setup = self.setup[node] = [f"{node} = {kind}.__new__({kind})"]
        if result._node is ctx:  # recorded for backward: the rule may ask which inputs need grads
            flags = tuple(
                ((_NEEDS_GRAD if x.requires_grad else _NO_GRAD) if cls._builtin else _shaped_stand_in(x))
                if isinstance(x, Tensor) else x for x in inputs
            )
            setup.append(f"{node}.inputs = {self.constant(flags, 'needs')}")
        self.lines.append(f"{out} = {kind}.forward({node}, {', '.join(operands)})")
        if ctx.__dict__.get("_adopted"):
            self.lines.append(f"{out} = {node}._adopt_output({out})")
        if cls._writes_out and all(result.data is not a for a in arrays):
            self.outputs.append((node, result.data))

    def made(self, function, args, kwargs, result) -> None:
        """``result = function(*args, **kwargs)`` happened in the engine (a seed, a copy)."""
        if self.paused:
            return
        def expression(value):
            return self.operand(value) if isinstance(value, np.ndarray) else self.constant(value)

        operands = [expression(a) for a in args] + [f"{k}={expression(v)}" for k, v in kwargs.items()]
        out = self._bind(result, self._new("v"))
        self.lines.append(f"{out} = {self.constant(function, function.__name__)}({', '.join(operands)})")

    def constructed(self, function, args, kwargs, tensor) -> None:
        """A constructor made ``tensor`` (mg.tensor, zeros, randn...): a replay calls it again."""
        if self.paused or id(tensor.data) in self.var_of:
            return  # (mg.tensor calls Tensor(): recorded once)
        if tensor.requires_grad:
            self.cannot_trace("a tensor that requires grad created inside the function (create parameters "
                              "outside it)")

        def expression(value):
            if isinstance(value, Tensor):
                return f"Tensor._wrap({self.operand(value)})"
            return self.operand(value) if isinstance(value, np.ndarray) else self.constant(value)

        if self.draw_starts:
            self._drawn_again()
        operands = [expression(a) for a in args] + [f"{k}={expression(v)}" for k, v in kwargs.items()]
        out = self._bind(tensor.data, self._new("v"))
        self.lines.append(f"{out} = {self.constant(function, function.__name__)}({', '.join(operands)}).data")

    def backward_begins(self, root_grads, create_graph: bool, handed_out: set):
        if self.paused:
            return sum_to_shape, _accumulate_leaf, _add
        if create_graph:
            self.cannot_replay("backward with create_graph=True")
        self.handed_out = self._new("h")
        seeds = ", ".join(f"id({self.operand(g)})" for g in root_grads)
        self.handed_out_lines.append(len(self.lines))
        self.lines.append(f"{self.handed_out} = {{{seeds}}}")
        return self._sum_to_shape, self._accumulate_leaf, self._add

    def _sum_to_shape(self, grad, shape):
        out = sum_to_shape(grad, shape)
        if out is grad:  # (nothing to sum: the replay's variable is the gradient's)
            return out
        if type(grad) is np.ndarray:  # sum_to_shape's own NumPy call, with the axes worked out once
            summed = f"add_reduce({self.operand(grad)}, axis={summed_axes(grad.shape, shape)!r}, keepdims=True)"
            if out.ndim != grad.ndim:
                summed += f".reshape({shape!r})"
        else:
            summed = f"sum_to_shape({self.operand(grad)}, {shape!r})"
        self.lines.append(f"{self._bind(out, self._new('g'))} = {summed}")
        return out

    def as_array(self, value):
        out = np.asarray(value)
        self.lines.append(f"{self._bind(out, self._new('g'))} = asarray({self.operand(value)})")
        return out

    def _add(self, a, b):
        out = a + b
        self.lines.append(f"{self._bind(out, self._new('g'))} = {self.operand(a)} + {self.operand(b)}")
        return out

    def _accumulate_leaf(self, leaf, grad, handed_out) -> None:
        was_none = leaf._grad is None
        _accumulate_leaf(leaf, grad, handed_out)
        self.leaves[id(leaf)] = leaf
        p, g = self.tensor_expression(leaf), self.operand(grad)
        if was_none and leaf._grad is grad:  # the leaf kept the array: a replay's is fresh at the same line too
            self.kept_as_is[len(self.lines)] = (self.handed_out,  # (named once per backward pass)
                                                f"{p}._grad = {g} if {p}._grad is None else summed_into({p}, {g})")
        else:
            self.kept_as_is[len(self.lines)] = None
        self.lines.append(f"_accumulate_leaf({p}, {g}, {self.handed_out})")

    def vjp(self, node, grad, raw, grads) -> None:
        if self.paused:
            return
        ctx = self.ctx_var.get(id(node))
        if ctx is None:
            raise TraceError(
                f"mg.compile({_name(self.fn)}): backward() reaches {node.name}, an operation computed "
                "before the compiled function was called. Compute everything the loss depends on "
                "inside the function (or pass it in detached)."
            )
        incoming = self.operand(grad)  # before binding the results: a rule may return grad itself
        if node._builtin and all(g is None or g is grad for g in grads):
            return  # (a + b: the rule hands the gradient on; the replay's variable is the same array)
        if node._builtin and type(raw) is tuple:  # unpacked as the rule returns them
            targets = [("_" if g is None else self._bind(g, self._new("g"))) for g in grads]
            self.lines.append(f"{', '.join(targets)}, = {ctx}.backward({ctx}, {incoming})")
        elif node._builtin:
            self.lines.append(f"{self._bind(grads[0], self._new('g'))} = {ctx}.backward({ctx}, {incoming})")
        else:  # a user's Function: its result normalised and checked as the engine does
            results = self._new("r")
            self.lines.append(f"{results} = {ctx}.backward({ctx}, {incoming})")
            self.lines.append(f"if type({results}) is not tuple: {results} = ({results},)")
            self.lines.append(f"{results} = {ctx}._checked_grads({results})")
            self.handed_out_lines.append(len(self.lines))
            self.lines.append(f"{self.handed_out}.update(id(g) for g in {results} if g is not None)")
            for i, g in enumerate(grads):
                if g is not None:
                    self.lines.append(f"{self._bind(g, self._new('g'))} = {results}[{i}]")

    def handed_out_too(self, shared: list) -> None:
        """The engine marked arrays a rule gave to several inputs: a replay marks its own."""
        if self.paused:
            return
        self.handed_out_lines.append(len(self.lines))
        self.lines.append(f"{self.handed_out}.update(({', '.join(f'id({self.operand(g)})' for g in shared)},))")

    def grad_assigned(self, tensor, value) -> None:
        if self.paused:
            return
        if value is not None:
            self.cannot_trace("t.grad = value (assigning a gradient)")
        self.lines.append(f"{self.tensor_expression(tensor)}._grad = None")

    def called(self, frame, event, arg) -> None:
        """The trace's profiler: notes each function of the user's code that runs (not inside
        a replayed call, such as a custom optimizer's step: a replay makes that call again)."""
        if event == "c_call":
            if not self.paused and getattr(arg, "__self__", None) is self.outside.random._inst:
                self.outside.drew_here = True
        elif event == "call" and not self.paused:
            code = frame.f_code
            if code not in self.helpers and _is_user_code(code.co_filename) and not str(
                    frame.f_globals.get("__name__")).startswith("namedtuple_"):  # (a namedtuple's generated __new__)
                self.helpers[code] = frame.f_globals
                # Before it runs: its globals, and the generators in its arguments (defaults
                # too); what else its arguments hold the call may have made (a new object's
                # __init__, a Function's ctx), or is the traced function's, noted already.
                self.outside.add([frame.f_globals.get(name) for name in _global_names(code)])
                self.outside.add(frame.f_locals.values(), contents=False)

    def data_assigned(self, tensor) -> None:
        """``t.data = array`` while tracing: a replay would not repeat it, so it is refused
        once the trace has read the old array (a lazy module's first fill comes before)."""
        if not self.paused and id(tensor.__dict__["data"]) in self.var_of:
            self.cannot_trace("t.data = ... (replacing a tensor's values)")

    def tensor_expression(self, tensor) -> str:
        """The replay's expression for a tensor object from outside: an argument is this
        call's (A[i]), anything else the traced tensor itself."""
        return self.as_themselves.get(id(tensor)) or self.constant(tensor, "p")

    def requires_grad_set(self, tensor, value: bool) -> None:
        """``t.requires_grad_()`` on a tensor from outside (called before the change): a
        replay sets it on its own, and checks the flag the tensor had when the call began
        (a GAN's step that freezes D and unfreezes it at its end replays every time)."""
        if self.paused or (id(tensor) not in self.as_themselves and self._computed(tensor)):
            return  # (a tensor the function computed: not a leaf, nothing to set)
        self.flag_at_start.setdefault(id(tensor), tensor._requires_grad)
        self.lines.append(f"{self.tensor_expression(tensor)}._requires_grad = {bool(value)!r}")

    def replayed_call(self, method, owner, args, kwargs):
        if self.paused:
            return method(owner, *args, **kwargs)
        is_optimizer = hasattr(owner, "param_groups")  # (a scheduler's step(metric) takes no closure)
        if is_optimizer and (kwargs.get("closure") is not None or (method.__name__ == "step" and args
                                                                   and args[0] is not None)):
            self.cannot_trace("optimizer.step(closure)")
        kind = type(owner).__name__
        if is_optimizer and method.__name__ == "step":
            # Step hooks registered since: the replay's direct call would skip them (while an
            # optimizer has hooks, its step runs them and the function runs eagerly).
            held = self._held(owner)
            check = (f"if {held}.__dict__.get('_optimizer_step_pre_hooks') or "
                     f"{held}.__dict__.get('_optimizer_step_post_hooks'): raise _Retrace")
            if check not in self.checks:
                self.checks.append(check)
        name = method.__name__
        if isinstance(getattr(owner, "__dict__", None), dict) and hasattr(type(owner), name):
            # The replay calls the class's method; one assigned on the instance since (opt.step = wrapper,
            # as a gradient scaler or a logger installs it) is what eager calls: traced anew.
            own = _own_method(owner, name)
            check = (f"if {self.constant(_own_method, '_own_method')}({self._held(owner)}, {name!r}) is not "
                     f"{'None' if own is None else self._held(own)}: raise _Retrace")
            if check not in self.checks:
                self.checks.append(check)
        operands = [self.constant(owner, kind.lower()), *(self._argument(a) for a in args)]
        operands += [f"{k}={self._argument(v)}" for k, v in kwargs.items()]
        call = f"{self.constant(method, f'{kind}_{method.__name__}')}({', '.join(operands)})"
        if self.outside.optimizer_changed():  # (before the call: the function's own code changed it)
            self.cannot_replay(_OPTIONS_CHANGED)
        # What the call draws from the global generator, or does to a generator it is called on
        # (manual_seed, set_rng_state), a replay makes again.
        generators = {id(g): g for g in (owner, _tensor_module._global_rng) if isinstance(g, np.random.Generator)}
        starts = [(generator, _Outside.state(generator)) for generator in generators.values()]
        self.paused += 1
        try:
            result = method(owner, *args, **kwargs)
        finally:
            self.paused -= 1
        for generator, start in starts:
            if _Outside.state(generator) != start:
                self.outside.replayed_draws(generator, start)
        self.outside.after_replayed_call(owner)
        if isinstance(result, Tensor):  # (clip_grad_norm_'s total norm): a replay's own, for what uses it
            self.lines.append(f"{self._bind(result.data, self._new('v'))} = {call}.data")
        else:
            self.lines.append(call)
        return result

    def _argument(self, value) -> str:
        """An argument of a replayed call: a tensor the traced operations computed is the
        replay's own (e.g. a total norm passed on); anything else is fixed at tracing."""
        if not self._computed(value):
            return self.constant(value)
        # The callee may keep it (a scheduler's step(metric) appending it): its array leaves the
        # replay, as a returned one does, so no later call may write into it (see _give_buffers).
        self.passed_on += [a for a in _arrays_in(value) if id(a) in self.var_of]
        return f"Tensor._wrap({self.operand(value)})" if isinstance(value, Tensor) else self.operand(value)

    # -- the replay ----------------------------------------------------------------------
    def finish(self, result) -> _Replay | None:
        if self.kept_as_is and all(self.kept_as_is.values()):
            # Every leaf kept the array its backward rule made: no set of handed-out arrays
            # is needed to tell which ones to copy, and each accumulation is one statement.
            # A pass's accumulations are made together, in their order, under one lock, where
            # its last one was: between them the replay runs only that pass's rules, which
            # never read a .grad (hooks and retain_grad make the function run eagerly).
            passes: dict[str, list[int]] = {}
            for line, (backward_pass, _) in self.kept_as_is.items():
                passes.setdefault(backward_pass, []).append(line)
            for lines in passes.values():
                statements = "".join(f"\n    {self.kept_as_is[line][1]}" for line in lines)
                for line in lines:
                    self.lines[line] = "pass"
                self.lines[lines[-1]] = f"with accumulating:{statements}"
            for line in self.handed_out_lines:
                self.lines[line] = "pass"
        self.wrapped: dict[int, str] = {}  # id(a tensor returned more than once) -> the replay's variable for it
        self.wrap_lines: list[str] = []
        counts = collections.Counter(id(v) for v in _items(result) if isinstance(v, Tensor))
        self.returned_twice = {i for i, n in counts.items() if n > 1}
        returned = self._returned(result)
        self._give_buffers(result)
        setup = [line for lines in self.setup.values() for line in lines]
        # Between calls the copy keeps its buffers only, not what the nodes saved for backward
        # (eager execution frees that too).
        release = f"{' = '.join(f'{node}._saved' for node in self.setup)} = ()" if self.setup else "pass"
        variable_checks, outside = self._variable_checks()
        module_checks = self._module_checks()  # (also notes, after the lines, the changes the replay made)
        alias_checks = self._alias_checks([*outside, *self.modules.values()])
        if self.eager_reason is not None:  # (what the function reads cannot all be watched)
            return None
        if mode.grad_enabled is not self.grad_mode_at_start:  # mg.set_grad_enabled(...) called on its own
            self.names["grad_mode"] = mode
            self.lines.append(f"grad_mode.grad_enabled = {mode.grad_enabled!r}")
        body = [*variable_checks, *module_checks, *self.checks, *alias_checks, *self.remade, *self.lines, release,
                *self.wrap_lines, f"return {returned}"]
        body = [line for line in body if line != "pass"]  # (the places of lines a replay does without)
        source = (
            "def copy():\n" + "".join(f"    {line}\n" for line in setup)
            + "    def replay(A):\n" + "".join(f"        {line}\n".replace("\n", "\n        ", line.count("\n"))
                                             for line in body)
            + "    return replay\n"
        )
        namespace = dict(self.names)
        exec(builtins.compile(source, f"<mg.compile {_name(self.fn)}>", "exec"), namespace)
        return _Replay(namespace["copy"], source)

    def _variable_checks(self) -> tuple[list[str], list]:
        """The lines that re-trace when a global or closure variable of the function (or of
        a function it called) now holds another object than at tracing (``model = ...``,
        ``target = mg.tensor(...)`` rebound), as torch.compile guards them. Numbers,
        strings, functions and Python modules are left out: the replay keeps the values it
        traced with. The objects so read, passed as arguments or bound to the function (a
        method's ``self``, a partial's arguments) are watched (see ``_watch_object``).
        Also returns the objects so watched."""
        lines, outside = [], []
        fn, bound = _unwrapped(self.fn)
        for value in (*self.argument_objects, *bound):
            outside.append(value)
            lines += self._watch_object(value, "an argument")
        lines += self._default_checks(fn, outside)
        # Every name the code looks up (globals, and attributes: settings.SCALE)
        read = {name for code in (getattr(fn, "__code__", None), *self.helpers) if code is not None
                for name in _global_names(code)}
        functions = dict.fromkeys([fn, *_functions_of(self.helpers)])  # (fn is a helper too: once)
        for function in functions:  # closure variables
            code, cells = getattr(function, "__code__", None), getattr(function, "__closure__", None) or ()
            for i, cell in enumerate(cells):
                try:
                    value = cell.cell_contents
                except ValueError:  # a cell not yet filled
                    continue
                lines += self._reading_checks(f"{self.constant(cells, 'cells')}[{i}].cell_contents", value,
                                              f"variable {code.co_freevars[i]!r}", read, outside)
        names = {}
        for code, namespace in ((getattr(fn, "__code__", None), getattr(fn, "__globals__", None)),
                                *self.helpers.items()):
            if code is not None:
                names.update(((name, id(namespace)), namespace) for name in _global_names(code))
        for (name, _), namespace in names.items():
            value = namespace.get(name, _Retrace)
            holder = self.constant(namespace, "fn_globals" if namespace is getattr(fn, "__globals__", None)
                                   else "globals")
            lines += self._reading_checks(f"{holder}.get({name!r}, _Retrace)", value, f"global {name!r}", read,
                                          outside)
        return lines, outside

    def _reading_checks(self, expression: str, value, label: str, read: set, outside: list) -> list[str]:
        """The lines that re-trace when ``expression`` (a global or closure variable, a
        module's attribute) no longer gives what it gave while tracing, ``value``: the same
        object (and what is inside it, ``_watch_object``), an equal number or string, or,
        for a Python module of the user's, attributes the code reads that still hold theirs."""
        if _watched(value) or _user_class(value):
            outside.append(value)
            return [f"if {expression} is not {self._held(value)}: raise _Retrace({label!r})",
                    *self._watch_object(value, label)]
        if _baked(value):
            return [f"if {self._changed(expression, value)}: raise _Retrace({label!r})"]
        if _user_module(value) and id(value) not in self.watching:
            self.watching.add(id(value))  # (modules may import each other)
            attributes = vars(value)
            return [line for name in sorted(read & attributes.keys()) for line in self._reading_checks(
                f"getattr({self._held(value)}, {name!r}, _Retrace)", attributes[name],
                f"{label}, attribute {name!r}", read, outside)]
        return []

    def _default_checks(self, fn, outside: list) -> list[str]:
        """A replay runs with the default arguments the trace used (``def step(x, cfg=CONFIG)``):
        they must still be the same objects (``fn.__defaults__`` replaced re-traces), and what
        is inside them is watched as an argument's is."""
        lines = []
        defaults, keyword_defaults = getattr(fn, "__defaults__", None), getattr(fn, "__kwdefaults__", None)
        if defaults:
            lines.append(f"if {self._held(fn)}.__defaults__ is not {self._held(defaults)}: "
                         "raise _Retrace('default arguments')")
        if keyword_defaults:
            lines.append(f"if {self._held(fn)}.__kwdefaults__ is not {self._held(keyword_defaults)}: "
                         "raise _Retrace('default arguments')")
            lines += self._watch_object(keyword_defaults, "keyword default arguments")
        for value in (*(defaults or ()), *(keyword_defaults or {}).values()):
            if _watched(value):
                outside.append(value)
                lines += self._watch_object(value, "a default argument")
        return lines

    def _watch_object(self, value, label: str, depth: int = 0) -> list[str]:
        """What a replay checks in an object the function reads from outside: a module is
        watched for changes (and the items of its plain list and dict attributes); the
        items of a list or dict, the attributes of an object (``self.model``, ``layers[0]``,
        ``config["w"]``) and of a class of the user's code must still be the objects they
        were, else the call traces anew. In the user's own data (lists, dicts, tuples,
        instances and classes of the user's code, namespaces) numbers and strings must
        still be equal, and objects are looked into, down to ``config.optim.schedule.lr``.
        Optimizers and schedulers are left out: their calls are replayed, reading their
        state at each call."""
        from microgradnp.nn.module import Module

        if isinstance(value, Module):
            self.modules[id(value)] = value
            return []
        if (id(value) in self.watching or isinstance(value, Tensor | np.ndarray)
                or hasattr(value, "param_groups") or hasattr(value, "optimizer")):
            return []  # (a tensor's data is checked where it is read)
        if depth > _WATCH_DEPTH:
            if _users_data(value) and any(True for _ in _inside(value)):
                # What is down there may be a setting the trace baked in: unwatched, a change
                # to it would give stale results, so the function runs eagerly instead.
                self.cannot_replay(f"settings nested more than {_WATCH_DEPTH} levels deep ({label}: pass what "
                                   "the function uses as an argument, or keep it in a shallower structure)")
            return []
        self.watching.add(id(value))
        if isinstance(value, tuple):  # (its items stay; what is inside them may change)
            return [line for i, item in enumerate(value)
                    for line in self._watch_object(item, f"{label}[{i}]", depth + 1)]
        if isinstance(value, functools.partial):  # (its function and arguments stay; its keywords may change)
            return [*self._watch_object(value.args, f"{label}, arguments", depth + 1),
                    *self._watch_object(value.keywords, f"{label}, keywords", depth + 1)]
        if isinstance(value, types.MethodType):  # a bound method (scale = obj.apply): what its object holds
            return self._watch_object(value.__self__, f"{label}, its object", depth + 1)
        held = self._held(value)
        lines = []
        if isinstance(value, list):
            items = enumerate(value)
            lines.append(f"if len({held}) != {len(value)}: raise _Retrace({label!r})")
            expression = f"{held}[{{}}]"
            if value and all(_baked(item) for item in value):  # (numbers: one comparison of the whole list)
                return [*lines, f"if {held} != {self.constant(list(value), 'values')}: raise _Retrace({label!r})"]
        elif isinstance(value, dict):
            items, expression = value.items(), f"{held}.get({{}}, _Retrace)"
            # (a key added: a loop over the dict, len() or `in` would see it)
            lines.append(f"if len({held}) != {len(value)}: raise _Retrace({label!r})")
        elif _user_class(value):
            items = [(k, v) for klass in reversed(value.__mro__) if _user_class(klass) for k, v in vars(klass).items()
                     if not hasattr(type(v), "__get__") and not k.startswith("__")]  # (properties, __doc__,
            # __module__: code and its description, not data)
            # Its methods and __call__ by identity: one replaced (Net.act = ...) runs other code.
            lines += [f"if {self._held(klass)}.__dict__.get({k!r}) is not {self._held(v)}: "
                      f"raise _Retrace({f'{label}, {klass.__name__}.{k}'!r})"
                      for klass in value.__mro__ if _user_class(klass) for k, v in vars(klass).items()
                      if isinstance(v, types.FunctionType | staticmethod | classmethod)
                      and (k == "__call__" or not k.startswith("__"))]
            expression = f"getattr({held}, {{}}, _Retrace)"
        elif hasattr(value, "__dict__") or hasattr(type(value), "__slots__"):
            items = _attributes(value).items()
            expression = f"getattr({held}, {{}}, _Retrace)"
            if _users_data(value) and isinstance(getattr(value, "__dict__", None), dict):
                # (an attribute added, over a class default: cfg.temperature = 0.5)
                lines.append(f"if len({held}.__dict__) != {len(vars(value))}: raise _Retrace({label!r})")
        else:
            return []
        users_data = _users_data(value)
        for key, item in list(items):
            if not _is_literal(key):
                try:
                    hash(key)
                except TypeError:
                    continue
            # (a key that is no literal, an Enum's member say, is the object itself, held by the replay)
            key_expression = repr(key) if _is_literal(key) else self._held(key)
            where = f"{label}, item {key!r}"
            if _watched(item):
                if isinstance(item, Module):
                    self.modules[id(item)] = item
                read = expression.format(key_expression)
                lines.append(f"if {read} is not {self._held(item)}: raise _Retrace({where!r})")
                if users_data:
                    lines += self._watch_object(item, where, depth + 1)
            elif _baked(item) and users_data:
                lines.append(f"if {self._changed(expression.format(key_expression), item)}: raise _Retrace({where!r})")
        return lines

    def _changed(self, expression: str, value) -> str:
        """The replay's test that what ``expression`` reads is no longer the ``value`` it
        baked in: another number or string (see ``_differs``), or another function."""
        if isinstance(value, types.FunctionType | types.BuiltinFunctionType):
            return f"{expression} is not {self._held(value)}"
        return f"_differs({expression}, {self._held(value)})"

    def _module_contents_checks(self, modules) -> list[str]:
        """The user's data a module holds (``self.scales = [...]``, ``self.config = Config()``)
        and the class attributes of the user's module classes (``Net.temperature``):
        changing them is no assignment to the module, so a replay checks them."""
        from microgradnp.nn.module import Module

        lines = []
        for module in modules:
            users_class = _user_class(type(module))
            if users_class:
                lines += self._watch_object(type(module), f"class {type(module).__name__}")
            for name, value in vars(module).items():
                if name in _module_own_names() or (name.startswith("_") and not users_class):
                    continue  # (the library's bookkeeping; a user's class's own _cfg is the user's data)
                if _users_data(value) and not isinstance(value, Module):
                    lines.append(f"if {self._held(module)}.__dict__.get({name!r}) is not {self._held(value)}: "
                                 f"raise _Retrace({f'attribute {name!r}'!r})")
                    lines += self._watch_object(value, f"attribute {name!r}")
                elif users_class and name != "training" and _baked(value):
                    # (a number the user's forward reads, set without the module noticing:
                    # vars(net).update(scale=2), object.__setattr__)
                    changed = self._changed(f"{self._held(module)}.__dict__.get({name!r}, _Retrace)", value)
                    lines.append(f"if {changed}: raise _Retrace({f'attribute {name!r}'!r})")
        return lines

    def _alias_checks(self, outside: list) -> list[str]:
        """An argument that was, while tracing, the very array of a tensor the function
        also reads from outside (a variable's tensor or array, a module's parameter or
        buffer): the trace recorded both uses on the argument's variable, so a replay needs
        the two to be one array still, or traces anew."""
        if not self.arguments:
            return []
        from microgradnp.nn.module import Module

        lines = {}
        for value in outside:
            if isinstance(value, Module):
                candidates = [*value.parameters(), *value.buffers()]
            elif isinstance(value, list | tuple):
                candidates = list(value)
            elif isinstance(value, dict):
                candidates = list(value.values())
            else:
                candidates = [value]
            for candidate in candidates:
                is_tensor = isinstance(candidate, Tensor)
                argument = self.arguments.get(id(candidate.data if is_tensor else candidate))
                if argument is None or (argument, id(candidate)) in lines:
                    continue
                held = self._held(candidate) + (".data" if is_tensor else "")
                lines[argument, id(candidate)] = f"if {argument} is not {held}: raise _Retrace"
        return list(lines.values())

    def _held(self, value) -> str:
        """The replay's expression for the very object ``value`` (never a literal: ``is``
        must compare with this object)."""
        return f"{self.constant([value], 'traced')}[0]"

    def _module_checks(self) -> list[str]:
        """The lines that re-trace when a module the function used changed since tracing:
        one of its attributes, parameters, buffers, sub-modules, hooks or its train()/eval()
        mode (or a global module hook was registered). One comparison per call while no
        module anywhere changes."""
        if not self.modules:
            return []
        from microgradnp.nn.module import changes

        used = {id(sub): sub for module in self.modules.values() for sub in module.modules()}
        contents = self._module_contents_checks(used.values())
        seen = self.constant([changes.count], "seen_changes")  # the count when the modules were last found unchanged
        modes = tuple(self.mode_at_start.get(key, sub.training) for key, sub in used.items())  # as the call began
        check = self.constant(functools.partial(_recheck_modules, tuple(used.values()), modes), "recheck_modules")
        self.names["module_changes"] = changes
        # A replay's own train()/eval() calls change modules too: what the trace did is no change.
        self.lines.append(f"{seen}[0] = module_changes.count")
        return [f"if module_changes.count != {seen}[0]: {check}({seen})", *contents]

    def _give_buffers(self, result) -> None:
        """Give primitives the memory for their outputs, reused at every call
        (``node._out = empty(shape, dtype)`` when the node is made), for outputs that
        nothing outside the replay sees: not returned, not a leaf's .grad, not handed to a replayed
        call, not a view of any of them."""
        escaping = [*_arrays_in(result), *(leaf._grad for leaf in self.leaves.values() if leaf._grad is not None),
                    *self.passed_on]
        for node, array in self.outputs:
            # (C-ordered only: NumPy gave the traced output the layout its inputs suggested,
            # and a replay must compute in that layout, and copy where tracing copied)
            if type(array) is np.ndarray and array.ndim and array.base is None and array.flags.c_contiguous and not any(
                np.may_share_memory(array, e) for e in escaping
            ):
                empty, dtype = self.constant(np.empty, "empty"), self.constant(array.dtype)
                self.setup[node].append(f"{node}._out = {empty}({array.shape!r}, {dtype})")

    def as_replayed(self, value, wrapped=None):
        """The traced call's result as a replay returns it: its tensors without a graph."""
        wrapped = {} if wrapped is None else wrapped
        if isinstance(value, Tensor):
            if id(value) in self.as_themselves or id(value.data) not in self.var_of:
                return value
            if id(value) not in wrapped:
                wrapped[id(value)] = Tensor._wrap(value.data)
            return wrapped[id(value)]
        if isinstance(value, tuple | list):
            items = [self.as_replayed(v, wrapped) for v in value]
            return type(value)(*items) if _is_named_tuple(value) else type(value)(items)
        if isinstance(value, dict):
            items = {k: self.as_replayed(v, wrapped) for k, v in value.items()}
            return items if type(value) is dict else type(value)(items)
        return value

    def _returned(self, value) -> str:
        if isinstance(value, Tensor):
            if id(value) in self.as_themselves:  # an argument, or a tensor from outside (a parameter)
                return self.as_themselves[id(value)]
            name = self.var_of.get(id(value.data))
            if name is None:
                return self.constant(value)  # a tensor from outside (a parameter): itself
            if value.requires_grad and value._node is not None and value._node._saved is not RELEASED:
                raise TraceError(
                    f"mg.compile({_name(self.fn)}) returns a tensor that still holds its graph for "
                    "backward() (no backward ran through it, or one with retain_graph=True kept it), "
                    "but a replay builds no graph. Call backward() (and the optimizer step) inside the "
                    "compiled function and return loss.detach(), or call it under mg.no_grad()."
                )
            if id(value) not in self.returned_twice:
                return f"Tensor._wrap({name})"
            wrapped = self.wrapped.get(id(value))
            if wrapped is None:  # (one Tensor however often it is returned: `return y, y`)
                wrapped = self.wrapped[id(value)] = self._new("r")
                self.wrap_lines.append(f"{wrapped} = Tensor._wrap({name})")
            return wrapped
        if isinstance(value, tuple | list):
            items = ", ".join(self._returned(v) for v in value)
            if _is_named_tuple(value):  # (values, indices) and the like keep their type and field names
                return f"{self.constant(type(value), type(value).__name__)}({items})"
            if isinstance(value, tuple):
                return f"({items},)"
            return f"[{items}]" if type(value) is list else f"{self.constant(type(value))}([{items}])"
        if isinstance(value, dict):
            items = "{" + ", ".join(f"{self.constant(k)}: {self._returned(v)}" for k, v in value.items()) + "}"
            return items if type(value) is dict else f"{self.constant(type(value))}({items})"
        if isinstance(value, np.ndarray) and id(value) in self.var_of:
            return self.var_of[id(value)]
        if any(isinstance(v, Tensor) and id(v) not in self.as_themselves and self._computed(v)
               for v in _attributes(value).values()):
            raise TraceError(
                f"mg.compile({_name(self.fn)}) returns a {type(value).__name__} holding tensors it "
                "computed; a replay can return them in tuples, lists, dicts and named tuples only "
                "(it would return the first call's object). Return a tuple or a dict instead."
            )
        return self.constant(value)  # an object from outside the function: itself


# The largest NumPy array of the user's that a replay compares with its traced values at
# every call (a few microseconds); a bigger one NumPy code might read makes it run eagerly.
_CHECKED_BYTES = 64 * 1024
# How many objects deep a replay looks into the user's data (config.optim.schedule.lr: 3);
# deeper data makes the function run eagerly.
_WATCH_DEPTH = 5
_OPTIONS_CHANGED = ("a change to an optimizer's parameter groups in the function's own code (g['lr'] *= 0.5, "
                    "add_param_group), which a replay would not make again: make it outside the compiled function, "
                    "or with a learning-rate scheduler")


@functools.cache
def _module_own_names() -> frozenset:
    """The attributes every module has (its registries, hooks, mode): the library's."""
    from microgradnp.nn.module import Module

    return frozenset(vars(Module()))


def _users_data(value) -> bool:
    """Whether ``value`` holds the user's own settings and data, which a replay watches
    inside: a list, dict or tuple, an instance or class of the user's code, a namespace.
    Not a library's object, whose internals (a logger's, a progress bar's) may change at
    every call without changing what the function computes."""
    kind = type(value)
    return (isinstance(value, list | dict | tuple | set | collections.deque | collections.ChainMap
                       | types.SimpleNamespace)
            or _user_class(value) or _user_class(kind)
            or (kind.__name__ == "Namespace" and kind.__module__ == "argparse"))


def _baked(value) -> bool:
    """Whether a replay keeps ``value`` as it was while tracing (a number or string
    computed with, a function whose operations it recorded), so a variable or item that
    held it must still hold an equal one (torch.compile guards them the same way)."""
    return value is None or isinstance(value, numbers.Number | str | bytes | types.FunctionType
                                       | types.BuiltinFunctionType)


def _differs(current, traced) -> bool:
    """Whether ``current`` is not the number, string or None ``traced`` a replay baked in:
    another type, another value, or a zero of the other sign (``1 / x``). A nan equals
    nothing, so only the very nan object traced is the same."""
    if current is traced:
        return False
    if current.__class__ is not traced.__class__ or current != traced:
        return True
    return type(traced) is float and traced == 0 and math.copysign(1, current) != math.copysign(1, traced)


def _is_literal(value) -> bool:
    """Whether ``repr(value)`` is Python source for an equal value of the same type."""
    if value is None or type(value) in (bool, int, str):
        return True
    if type(value) is float:
        return math.isfinite(value)
    return type(value) is tuple and all(_is_literal(v) for v in value)


def _add(a, b):
    return a + b


def _is_named_tuple(value) -> bool:
    return isinstance(value, tuple) and hasattr(type(value), "_fields")


def _recheck(tensor, shape, strides, dtype, requires_grad, seen: list) -> None:
    """A replay found a tensor with another data array (or flags): go on if it still fits
    (the same layout too: it decides the order of NumPy's sums, as an argument's does)."""
    data = tensor.data
    fits = data.shape == shape and data.strides == strides and data.dtype == dtype
    if not fits or tensor.requires_grad is not requires_grad or (requires_grad and tensor._hooks):
        raise _Retrace
    seen[0] = data


def _own_method(owner, name: str):
    """What ``owner`` itself holds under ``name`` over its class's method (``opt.step =
    wrapper``), or None. (An optimizer's ``_WatchedStep`` is the class's method, watched.)"""
    own = owner.__dict__.get(name)
    return None if isinstance(own, _watched_step()) else own


@functools.cache
def _watched_step() -> type:
    from microgradnp.optim.optimizer import _WatchedStep

    return _WatchedStep


def _replayed_frame(frame):
    """The innermost frame, from ``frame`` up to the traced call, of a call a replay makes
    again (``Function.apply``, running a primitive's forward; a constructor such as
    ``mg.randn``), or None."""
    replayed, boundary = _replayed_codes()
    while frame is not None and frame.f_code is not boundary:
        if frame.f_code in replayed:
            return frame
        frame = frame.f_back
    return None


@functools.cache
def _replayed_codes() -> tuple:
    from microgradnp.autograd.function import Function

    # (every constructor is _constructor's one inner function, so they share its code)
    constructor = _tensor_module._constructor(lambda: None).__code__
    return frozenset({Function.apply.__func__.__code__, constructor}), Compiled._trace.__code__


def _generator_at(kind, state: dict) -> np.random.Generator:
    """A new NumPy generator of bit generator ``kind``, in ``state``."""
    bits = kind(0)  # (any seed: the state replaces it)
    bits.state = state
    return np.random.Generator(bits)


def _held_only_by(value, own: set) -> bool:
    """Whether nothing holds ``value`` but the objects whose ids are in ``own`` (the trace's
    bookkeeping) and what only they hold in turn, a few holders deep (a dropout layer made
    in the function, held by the trace's list of the modules it called): an object the
    traced call made and dropped. Unsure (many holders, deep ones, a Python module's
    globals), it says False."""
    import gc

    ignored, frame = set(own), sys._getframe()
    while frame is not None:  # (the frames running now: the trace's and its caller's)
        ignored.add(id(frame))
        frame = frame.f_back
    level, seen = [value], {id(value)}
    for _ in range(_HOLDER_LEVELS):
        ignored.add(id(level))
        holders = [h for h in gc.get_referrers(*level) if id(h) not in ignored and id(h) not in seen]
        if not holders:
            return True
        if len(holders) > _HOLDERS_FOLLOWED or any(isinstance(h, types.ModuleType) for h in holders):
            return False
        seen.update(map(id, holders))
        level = holders
    return False


_HOLDER_LEVELS, _HOLDERS_FOLLOWED = 6, 32


def _unread_arguments(fn, arguments) -> set[int]:
    """The ids of the arrays passed (``arguments``: args and kwargs) for parameters of ``fn``
    that its code never reads (an unused ``sample_weight``): no NumPy code of the function
    can have turned them into constants."""
    import inspect

    function, _ = _unwrapped(fn)
    code = getattr(function, "__code__", None)
    if code is None or not isinstance(fn, types.FunctionType | types.MethodType | functools.partial):
        return set()  # (a module or callable object: its signature is not its code's)
    if {"locals", "vars", "eval", "exec"} & set(code.co_names):
        return set()  # (code that can read any variable by name)
    try:
        bound = inspect.signature(fn).bind(*arguments[0], **arguments[1])
    except (TypeError, ValueError):
        return set()
    read = set(code.co_cellvars)  # (a variable an inner function reads)
    for instruction in dis.get_instructions(code):
        if instruction.opname.startswith("LOAD_"):
            argval = instruction.argval
            read.update(argval if isinstance(argval, tuple) else (argval,))
    arrays = {name: {id(a) for a in _items(value) if type(a) is np.ndarray} for name, value in bound.arguments.items()}
    unread = set().union(*(ids for name, ids in arrays.items() if name not in read))
    return unread.difference(*(ids for name, ids in arrays.items() if name in read))  # (f(y, y): one read)


_LIBRARY_DIRS = tuple({sysconfig.get_paths()[kind] for kind in ("stdlib", "platstdlib", "purelib", "platlib")})


def _assigned_outside(code, cells: set) -> str | None:
    """The first thing outside its own call that ``code`` assigns: a global (``global step;
    step += 1``), a variable of an enclosing function that is not in ``cells`` (``nonlocal``;
    the cells of the frames inside the traced call are that call's own), or an attribute
    (``self.steps += 1``, ``config.beta = ...``; not a tensor's ``grad``, ``requires_grad`` or
    ``data``, which the trace sees), as "global 'step'", or None. A replay would
    not repeat the assignment, and the value it traced with would stay."""
    for instruction in dis.get_instructions(code):
        if instruction.opname == "STORE_GLOBAL":
            return f"global {instruction.argval!r}"
        if instruction.opname == "STORE_ATTR" and instruction.argval not in _TRACED_ATTRIBUTES:
            return f"attribute {instruction.argval!r}"
        if (instruction.opname == "STORE_DEREF" and instruction.argval in code.co_freevars
                and instruction.argval not in cells):
            return f"nonlocal {instruction.argval!r}"
    return None


_CONSTRUCTORS = frozenset({"__init__", "__post_init__", "__new__"})
# A tensor's attributes whose assignment a trace sees: t.grad = None is replayed, t.requires_grad
# too, and t.data = ... is refused (see _traced_data_set).
_TRACED_ATTRIBUTES = frozenset({"grad", "requires_grad", "data"})


def _function_codes() -> set:
    """The code of every ``mg.Function``'s forward, backward and setup_context: a replay
    runs them again, so what they assign (``ctx.scale = ...``) is assigned at every call."""
    from microgradnp.autograd.function import Function

    codes, classes = set(), [Function]
    while classes:
        cls = classes.pop()
        classes += cls.__subclasses__()
        for name in ("forward", "backward", "setup_context", "jvp"):
            code = getattr(getattr(cls.__dict__.get(name), "__func__", cls.__dict__.get(name)), "__code__", None)
            if code is not None:
                codes.add(code)
    return codes


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def _is_user_code(filename: str) -> bool:
    """Whether a function's file is the user's (not microgradnp, the standard library or an
    installed package, whose globals a step does not rebind)."""
    return not filename.startswith((_PACKAGE_DIR + os.sep, *_LIBRARY_DIRS, "<frozen"))


def _user_module(value) -> bool:
    """A Python module of the user's own (a settings file), not a library's."""
    return isinstance(value, types.ModuleType) and _is_user_code(getattr(value, "__file__", None) or "<frozen")


def _global_names(code):
    """The names ``code`` and the functions, lambdas and comprehensions inside it look up."""
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _global_names(const)


def _watched(value) -> bool:
    """Whether the replay re-traces when a global or closure variable stops holding
    ``value``: for objects it uses by identity (tensors, arrays, modules, optimizers,
    containers), not for values it baked in or code."""
    return not isinstance(value, _UNWATCHED)


_UNWATCHED = (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, type, numbers.Number, str, bytes,
              type(None), Compiled)


def _recheck_modules(modules, modes: tuple, seen: list) -> None:
    """Some module changed since ``seen[0]``: re-trace if it is one of ``modules``, or one
    of them is in another train()/eval() mode than ``modes`` (or a global module hook
    appeared, which a replay would skip); else note the new count."""
    from microgradnp.nn.hooks import global_hooks
    from microgradnp.nn.module import changes

    if global_hooks.count or any(module._changed > seen[0] or module.training is not training
                                 for module, training in zip(modules, modes)):
        raise _Retrace
    seen[0] = changes.count


_VALUES = (numbers.Number, str, bytes, type(None), np.dtype, type, types.FunctionType, types.BuiltinFunctionType,
           functools.partial, frozenset, range, slice, type(Ellipsis))


class _Identity:
    """A cache key part that is an object itself (held, so its id cannot be reused)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __hash__(self) -> int:
        return id(self.value)

    def __eq__(self, other) -> bool:
        return isinstance(other, _Identity) and other.value is self.value


def _items(value):
    """What nested tuples, lists and dicts hold (a call's structure, a returned value)."""
    if isinstance(value, tuple | list):
        for v in value:
            yield from _items(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _items(v)
    else:
        yield value


def _objects_in(value):
    """The objects in a call's arguments, other than the Tensors and arrays (its leaves)
    and plain values."""
    return (v for v in _items(value) if not isinstance(v, (Tensor, np.ndarray, *_VALUES)))


class _Outside:
    """What the traced call can change outside itself that a replay would not change again,
    noted before it runs: the states of the random generators the user's code could draw
    from (NumPy's global one, Python's ``random``, each NumPy ``Generator`` or
    ``RandomState``), and the contents of the user's own data (lists, dicts, namespaces,
    instances of the user's classes: ``state["h"] = h``, ``history.append(x)``,
    ``setattr(cfg, "step", n)``). Both are looked for in what the function can reach: its
    globals, closure, defaults, bound objects and arguments, the globals and arguments of
    each function of the user's it calls (noted as it is called, before it runs), and the
    user's data inside them (``config["rng"]``, ``self.noise.rng``)."""

    def __init__(self, fn, arguments):
        import random

        self.random = random
        # id -> (generator, its state when first seen, whether a module, optimizer or scheduler holds it)
        self.generators: dict[int, tuple] = {}
        self.replayed: dict[int, list] = {}  # id(generator) -> [(state, state)] of the draws a replay makes again
        self.contents: dict[int, tuple] = {}  # id -> (the user's data, its contents when first seen)
        self.iterators: list = []  # iterators the call can reach: what next() takes from them, a replay would not
        self.arrays: dict[int, tuple] = {}  # id -> (an ndarray of the user's, a digest of its bytes when first seen)
        # id -> [an optimizer, its options as the replayed calls (its step, a scheduler's) last left them]
        self.optimizers: dict[int, list] = {}
        self.global_states = self._global_states()
        # Whether this thread drew from Python's global generator while tracing: the trace's
        # profiler sees its calls (another thread's draws, Dask's event loop say, move the global
        # state too but are none of the traced function's). NumPy's global functions are
        # Cython's, which a profiler does not see: any change of its state counts.
        self.drew_here = self.profiled = False
        fn, bound = _unwrapped(fn)
        found = [*bound, *_objects_in(arguments), *(getattr(fn, "__defaults__", None) or ()),
                 *(getattr(fn, "__kwdefaults__", None) or {}).values()]
        code, namespace = getattr(fn, "__code__", None), getattr(fn, "__globals__", {})
        if code is not None:
            found += [namespace.get(name) for name in _global_names(code)]
        for cell in getattr(fn, "__closure__", None) or ():
            with contextlib.suppress(ValueError):  # (a cell not yet filled)
                found.append(cell.cell_contents)
        self.add(found)
        self.at_start = set(self.generators)  # (the ones there before the call; later ones may be its own)
        for value in _items(arguments):  # (array arguments too: a replay reads them, it does not write them)
            if type(value) is np.ndarray and id(value) not in self.arrays:
                self.arrays[id(value)] = (value, _digest(value))

    def _global_states(self) -> list:
        import pickle

        return [pickle.dumps(np.random.get_state()), self.random.getstate()]

    @staticmethod
    def state(generator) -> bytes:
        import pickle

        state = generator.bit_generator.state if isinstance(generator, np.random.Generator) else generator.get_state()
        return pickle.dumps(state)

    def replayed_draws(self, generator, start: bytes) -> None:
        """``generator`` went from state ``start`` to its present one inside a call a replay
        makes again with it (dropout's mask, ``mg.randn(rng=g)``): draws a replay makes too.
        One not noted before is watched from there on (any later draw must be a replayed one),
        but for the global generator, which the library's own code also draws from once, to set
        up a lazy module (see add)."""
        self.replayed.setdefault(id(generator), []).append((start, self.state(generator)))
        if generator is not _tensor_module._global_rng:
            self.generators.setdefault(id(generator), (generator, start, True))

    def _redrawn(self, generator, state: bytes) -> bool:
        """Whether every draw from ``generator`` since it was noted in ``state`` was one a
        replay makes again: its replayed calls' draws follow each other with nothing between."""
        for start, end in self.replayed.get(id(generator), ()):
            if start != state:
                return False
            state = end
        return state == self.state(generator)

    def add(self, values, contents: bool = True) -> None:
        """Note the generators and (with ``contents``) the user's data in ``values``, in
        their attributes, and inside the user's data a few levels down, that were not seen
        yet, as they are now.
        (Not deeper inside a library's objects: a dropout layer's generator is the layer's
        own, whose draws a replay makes again; a module's, an optimizer's or a scheduler's
        state is theirs, which replayed calls change.)"""
        # (value, levels left, whether it is reached through a module, optimizer or scheduler)
        stack, seen, budget = [(v, _WATCH_DEPTH, False) for v in values], set(), _OUTSIDE_SEARCH
        while stack and budget:
            value, depth, owned = stack.pop()
            if type(value) is np.ndarray and contents and not owned and id(value) not in self.arrays:
                self.arrays[id(value)] = (value, _digest(value))  # (a write into it a replay would not make again)
            if id(value) in seen or isinstance(value, _NOTHING_INSIDE):
                continue
            seen.add(id(value))
            budget -= 1
            if isinstance(value, np.random.Generator | np.random.RandomState):
                # (The global generator held by a module, a layer drawing from it: the library's; its draws
                # are replayed calls or made once, as eager makes them, to set up a lazy module. Only the
                # user's own code reaching it, which may draw from it in NumPy, has it watched.)
                if id(value) not in self.generators and not (owned and value is _tensor_module._global_rng):
                    self.generators[id(value)] = (value, self.state(value), owned)
                continue
            if isinstance(getattr(value, "param_groups", None), list) and contents and id(value) not in self.optimizers:
                self.optimizers[id(value)] = [value, _options(value)]
            if isinstance(value, collections.abc.Iterator) and not owned:
                # One from before the call (not a frame's local: model.parameters() made inside is the
                # call's own): whether the call advances it cannot be seen (a generator's or a list
                # iterator's position is not in its attributes), and a replay would reuse the first item.
                if contents:
                    self.iterators.append(value)
                continue
            owned = owned or _runs_itself(value)
            users = _users_data(value) and not owned
            if users and contents and id(value) not in self.contents:
                self.contents[id(value)] = (value, _contents(value))
            if depth == _WATCH_DEPTH or (depth and users):
                stack += [(v, depth - 1, owned) for _, v in _inside(value)]
            if depth == _WATCH_DEPTH and _is_module(value):  # the user's data its modules hold (self.history),
                # looked at first (a stack: last in, first out), as the user's rather than the module's
                stack += [(v, depth - 1, False) for module in value.modules() if _user_class(type(module))
                          for k, v in vars(module).items() if not k.startswith("_") and not _is_module(v)]
                # and the generators of all its modules, however deep (self.drop.rng)
                stack += [(v, 0, True) for module in value.modules() for v in vars(module).values()
                          if isinstance(v, np.random.Generator | np.random.RandomState)]

    def drawn(self) -> str | None:
        """What drew random numbers since the generators were noted, or None."""
        moved = [owned for generator, state, owned in self.generators.values()
                 if self.state(generator) != state and not self._redrawn(generator, state)]
        drew_here = self.drew_here or not self.profiled  # (read first: reading the states below is a call too)
        numpy_state, python_state = self._global_states()
        drew_globally = numpy_state != self.global_states[0] or (drew_here and python_state != self.global_states[1])
        if drew_globally or not all(moved):
            return ("random numbers drawn with NumPy (np.random, a Generator) or Python's random module (draw "
                    "them with mg.randn, mg.rand or mg.randint, from your generator with rng=g if you like, which "
                    "a replay draws anew, or pass them in as an argument)")
        if moved:
            return ("random numbers drawn from a module's own NumPy generator (its rng=) outside the operations "
                    "a replay runs again")
        return None

    def changed(self) -> bool:
        """Whether the contents of any of the user's data noted changed since."""
        return any(_contents(value) != contents for value, contents in self.contents.values())

    def optimizer_changed(self) -> bool:
        """Whether code other than the replayed calls changed an optimizer's options since."""
        return any(_options(optimizer) != options for optimizer, options in self.optimizers.values())

    def after_replayed_call(self, owner) -> None:
        """A replayed call (an optimizer's, a scheduler's) changed its optimizer's options: a
        replay makes the call again, so those changes are not the user's code's."""
        optimizer = getattr(owner, "optimizer", owner)
        if id(optimizer) in self.optimizers:
            self.optimizers[id(optimizer)][1] = _options(optimizer)

    def written(self) -> bool:
        """Whether any of the user's NumPy arrays noted was written in place since."""
        return any(_digest(array) != digest for array, digest in self.arrays.values())


def _options(optimizer) -> tuple:
    """An optimizer's parameter groups as the values of their options (lr, momentum...) and
    the identities of their parameters."""
    return tuple(tuple((key, tuple(map(id, value)) if key == "params" else repr(value))
                       for key, value in group.items()) for group in optimizer.param_groups)


def _digest(array: np.ndarray) -> bytes:
    import hashlib

    return hashlib.blake2b(np.ascontiguousarray(array).tobytes(), digest_size=16).digest()


def _inside(value):
    """The first items (key, value) of a container, or an object's attributes."""
    if isinstance(value, list | tuple | set | frozenset | collections.deque):
        return enumerate(itertools.islice(value, _OUTSIDE_SEARCH))
    if isinstance(value, dict | types.MappingProxyType):
        return itertools.islice(value.items(), _OUTSIDE_SEARCH)
    if isinstance(value, type):
        return list(vars(value).items()) if _user_class(value) else []
    return list(_attributes(value).items())


def _contents(value) -> tuple:
    """What a container or object holds, to tell whether it changed: its length, and each
    item as the number or string it is, or as the object (by identity). An object's or a
    class's private attributes are left out: a library may cache its own there (a
    Function class's ``_replayable``)."""
    def token(item):
        return (type(item), repr(item)) if _baked(item) and not callable(item) else id(item)

    sized = isinstance(value, list | tuple | set | frozenset | collections.deque | dict | types.MappingProxyType)
    items = _inside(value) if sized else ((k, v) for k, v in _inside(value) if not str(k).startswith("_"))
    return len(value) if sized else None, tuple((key, token(item)) for key, item in items)


def _runs_itself(value) -> bool:
    """A module, optimizer or scheduler: objects whose state their own (replayed) calls change."""
    return _is_module(value) or hasattr(value, "param_groups") or hasattr(value, "optimizer")


def _is_module(value) -> bool:
    from microgradnp.nn.module import Module

    return isinstance(value, Module)


# How many objects _Outside.add looks at, at most, per call (and items per container).
_OUTSIDE_SEARCH = 2000
# What holds nothing worth looking into: values, code, arrays, tensors, Python modules.
_NOTHING_INSIDE = (Tensor, np.ndarray, numbers.Number, str, bytes, type(None), types.FunctionType,
                   types.BuiltinFunctionType, types.MethodType, types.ModuleType, types.CodeType, np.dtype)


def _unwrapped(fn) -> tuple:
    """The Python function a compiled callable runs, and the objects bound to it: a
    method's ``self``, a partial's arguments, a module or callable object itself."""
    if isinstance(fn, functools.partial):
        inner, bound = _unwrapped(fn.func)
        return inner, [*bound, *fn.args, *fn.keywords.values()]
    if isinstance(fn, types.MethodType):
        return fn.__func__, [fn.__self__]
    if isinstance(fn, types.FunctionType):
        return fn, []
    from microgradnp.nn.module import Module

    method = type(fn).forward if isinstance(fn, Module) else type(fn).__dict__.get("__call__")
    return getattr(method, "__func__", method), [fn]


def _functions_of(codes) -> list:
    """The functions (closures) whose code is one of ``codes`` (the helpers a trace ran)."""
    import gc

    closures = [code for code in codes if code.co_freevars]
    if not closures:
        return []
    found: dict = {code: [] for code in closures}
    for f in gc.get_referrers(*closures):  # (one pass over the heap for all of them)
        if isinstance(f, types.FunctionType) and f.__code__ in found:
            kept = found[f.__code__]
            if len(kept) < _CLOSURES_WATCHED:  # (a factory's many closures: the first ones)
                kept.append(f)
    return [f for code in closures for f in found.get(code, ())]


_CLOSURES_WATCHED = 16


def _user_class(value) -> bool:
    """A class defined in the user's code (whose class attributes a replay watches)."""
    if not isinstance(value, type) or value.__module__ == "builtins":
        return False
    module = sys.modules.get(value.__module__)
    return module is not None and _is_user_code(getattr(module, "__file__", None) or "<user>")


def _attributes(value) -> dict:
    """An object's attributes (``__dict__`` and ``__slots__``) by name."""
    own = getattr(value, "__dict__", None)
    found = dict(own) if isinstance(own, dict) else {}  # (a class may make __dict__ something else)
    for klass in type(value).__mro__:
        for slot in getattr(klass, "__slots__", ()):
            if isinstance(slot, str) and slot not in found and hasattr(value, slot):
                found[slot] = getattr(value, slot)
    return found


def _arrays_in(value):
    """The arrays of the Tensors and ndarrays in ``value`` (nested tuples, lists, dicts)."""
    for v in _items(value):
        if isinstance(v, Tensor | np.ndarray):
            yield v.data if isinstance(v, Tensor) else v


class _Replay:
    """The generated replay of one signature. Each copy owns its nodes and buffers; a
    call takes an idle copy (or makes one), so threads never share them."""

    def __init__(self, copy, source: str):
        self.copy = copy
        self.source = source
        self.idle = [copy()]

    def run(self, leaves):
        try:
            replay = self.idle.pop()
        except IndexError:  # another thread runs the other copies
            replay = self.copy()
        try:
            return replay(leaves)
        finally:
            self.idle.append(replay)


