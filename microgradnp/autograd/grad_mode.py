"""Switches that change what the autograd records: grad mode and anomaly detection.

Both are per thread, as in PyTorch: one thread's ``no_grad`` (or a backward running in
it) never changes what another thread records.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import threading


class _Mode(threading.local):
    """Per-thread flags read on every primitive call. The class attributes are every
    thread's starting values; an assignment changes only the calling thread's."""

    grad_enabled = True
    anomaly = False
    check_nan = True  # (detect_anomaly(check_nan=False): anomaly mode without the nan/inf errors)
    anomaly_held = False  # switched on by set_detect_anomaly(True) on its own, so counted in watchers
    tracer = None  # the recorder of the mg.compile trace running in this thread, if any


mode = _Mode()


class _Watchers:
    """How many ``detect_anomaly`` blocks and ``mg.compile`` traces are active in any
    thread: a plain attribute that every primitive reads first, so the per-thread flags
    (``mode.anomaly``, ``mode.tracer``) are read only while one is."""

    count = 0
    lock = threading.Lock()

    def add(self, change: int) -> None:
        with self.lock:  # += on an attribute is not atomic across threads
            self.count += change


watchers = _Watchers()


def records_calls() -> bool:
    """Whether an mg.compile trace records this thread's framework calls (see ``replayed``);
    asked only while ``watchers.count`` says some trace or anomaly check is active."""
    return mode.tracer is not None and not mode.tracer.paused


class untraced:
    """Work an mg.compile trace does not record (a lazy module's one-time set-up): it runs
    once, while tracing, as it would in the first eager call."""

    def __enter__(self):
        self.tracer = mode.tracer if watchers.count else None
        if self.tracer is not None:
            self.tracer.paused += 1

    def __exit__(self, *exc):
        if self.tracer is not None:
            self.tracer.paused -= 1


def writes_in_place(what: str) -> None:
    """Framework code is about to change a tensor's values in place outside the graph (an
    initialiser, a renormalisation): a replay would not repeat it, so a trace refuses it."""
    if watchers.count and records_calls():
        mode.tracer.cannot_trace(what)


def replayed(method):
    """Marks a framework method whose effects lie outside the graph (an optimizer's step,
    zeroing gradients, a scheduler's step, ``train()``/``eval()``): an ``mg.compile``
    trace records the call itself, and every replay makes the call again, so it reads
    the learning rates, parameter groups and state of that moment."""

    @functools.wraps(method)
    def call(self, *args, **kwargs):
        if watchers.count and mode.tracer is not None:
            return mode.tracer.replayed_call(method, self, args, kwargs)
        return method(self, *args, **kwargs)

    return call


class _ModeSwitch(contextlib.ContextDecorator):
    """Sets one flag of ``mode`` for a ``with`` block or a decorated function.

    The saved previous values are a stack on the instance, so one instance can be
    entered again while it is active; a decorated function gets a fresh instance per
    call (``_recreate_cm``), so threads calling it never share that stack. Decorated
    generator functions run every step of the generator under the switch, not just the
    creation of the generator object.
    """

    flag = "grad_enabled"

    def __init__(self, value: bool):
        self.value = bool(value)
        self._previous: list[bool] = []

    def __enter__(self):
        self._previous.append(getattr(mode, self.flag))
        setattr(mode, self.flag, self.value)
        if self.value and self.flag == "anomaly":
            watchers.add(1)
            if mode.tracer is not None:  # checks a replay would skip: an mg.compile-d function runs eagerly
                mode.tracer.cannot_replay("detect_anomaly")
        return self

    def __exit__(self, *exc):
        setattr(mode, self.flag, self._previous.pop())
        if self.value and self.flag == "anomaly":
            watchers.add(-1)
        return False

    def _recreate_cm(self):
        fresh = _ModeSwitch.__new__(_ModeSwitch)
        _ModeSwitch.__init__(fresh, self.value)
        fresh.flag = self.flag
        return fresh

    def __call__(self, function):
        if inspect.isgeneratorfunction(function):
            return _switched_generator(self, function)
        return super().__call__(function)


def _switched_generator(switch: _ModeSwitch, function):
    @functools.wraps(function)
    def generator(*args, **kwargs):
        with switch._recreate_cm():
            steps = function(*args, **kwargs)
        try:
            with switch._recreate_cm():
                reply = steps.send(None)
            while True:
                try:
                    request = yield reply
                except GeneratorExit:
                    with switch._recreate_cm():
                        steps.close()
                    raise
                except BaseException as error:
                    with switch._recreate_cm():
                        reply = steps.throw(error)
                else:
                    with switch._recreate_cm():
                        reply = steps.send(request)
        except StopIteration as stop:
            return stop.value

    return generator


class _GradSwitch(_ModeSwitch):
    def __new__(cls, *args):
        # ``@mg.no_grad`` without parentheses decorates the function directly.
        if len(args) == 1 and callable(args[0]):
            return cls()(args[0])
        return super().__new__(cls)


class no_grad(_GradSwitch):
    """Record nothing inside: results have no graph and ``requires_grad=False``.

    Use as ``with mg.no_grad():`` or as a decorator (``@mg.no_grad`` or ``@mg.no_grad()``,
    generator functions included). Per thread: other threads keep recording.
    """

    def __init__(self, *_):
        super().__init__(False)


class enable_grad(_GradSwitch):
    """Record again inside a ``no_grad`` block (context manager or decorator), in this thread."""

    def __init__(self, *_):
        super().__init__(True)


class set_grad_enabled(_ModeSwitch):
    """Turn recording on or off in this thread.

    As in PyTorch, ``mg.set_grad_enabled(False)`` called on its own switches at once
    (until switched back); ``with mg.set_grad_enabled(is_training):`` switches for the
    block and restores the previous mode after it; it also works as a decorator.
    """

    def __init__(self, mode_: bool):
        super().__init__(mode_)
        self._before_call = mode.grad_enabled
        mode.grad_enabled = self.value

    def __enter__(self):
        # The mode was set by __init__; restore what was there before it on exit.
        self._previous.append(self._before_call)
        mode.grad_enabled = self.value
        return self

    def __call__(self, function):
        # Used as a decorator: the switch applies to calls, not to the decoration.
        mode.grad_enabled = self._before_call
        return super().__call__(function)


def is_grad_enabled() -> bool:
    """Whether operations are being recorded for backward in this thread."""
    return mode.grad_enabled


class detect_anomaly(_ModeSwitch):
    """Raise ``FloatingPointError`` at the first primitive whose forward or backward
    produces nan or inf, naming the primitive and the line of your code that created it
    (``torch.autograd.detect_anomaly``). With ``check_nan=False`` nothing is raised for
    nan or inf, but errors in backward still name the line that created the node.

    Slows every operation down (it checks every result and records where each
    operation was created), so use it to find a problem, not while training normally.
    Per thread, like grad mode.
    """

    flag = "anomaly"

    def __init__(self, check_nan: bool = True):
        super().__init__(True)
        self.check_nan = bool(check_nan)
        self._previous_check: list[bool] = []

    def __enter__(self):
        self._previous_check.append(mode.check_nan)
        mode.check_nan = self.check_nan
        return super().__enter__()

    def __exit__(self, *exc):
        mode.check_nan = self._previous_check.pop()
        return super().__exit__(*exc)

    def _recreate_cm(self):
        return detect_anomaly(self.check_nan)


class set_detect_anomaly(detect_anomaly):
    """Turn anomaly detection on or off in this thread (``torch.autograd.set_detect_anomaly``):
    called on its own it switches at once, until switched back; ``with
    mg.set_detect_anomaly(flag):`` switches for the block and restores the mode after it."""

    def __init__(self, mode_: bool, check_nan: bool = True):
        super().__init__(check_nan)
        self.value = bool(mode_)
        self._before_call = (mode.anomaly, mode.check_nan)
        _switch_anomaly(self.value, self.check_nan)

    def __enter__(self):
        _switch_anomaly(*self._before_call)  # the block switches instead, and undoes it at its end
        return super().__enter__()

    def __call__(self, function):
        _switch_anomaly(*self._before_call)  # used as a decorator: it applies to calls
        return super().__call__(function)

    def _recreate_cm(self):
        fresh = detect_anomaly(self.check_nan)
        fresh.value = self.value
        return fresh


def _switch_anomaly(on: bool, check_nan: bool) -> None:
    """Anomaly mode switched at once (not for a block): while on, it is counted among the
    watchers so that every primitive looks at ``mode.anomaly``."""
    if on != mode.anomaly_held:
        watchers.add(1 if on else -1)
        mode.anomaly_held = on
    mode.anomaly, mode.check_nan = on, check_nan
    if on and mode.tracer is not None:  # checks a replay would skip: an mg.compile-d function runs eagerly
        mode.tracer.cannot_replay("detect_anomaly")


def is_anomaly_enabled() -> bool:
    """Whether anomaly detection is on in this thread."""
    return mode.anomaly


def is_anomaly_check_nan_enabled() -> bool:
    """Whether anomaly detection, when on, raises for nan and inf in this thread."""
    return mode.check_nan
