"""Switches that change what the autograd records: grad mode and anomaly detection."""

from __future__ import annotations

import contextlib


class _Mode:
    """Process-wide flags read on every primitive call (attribute reads keep that cheap)."""

    grad_enabled = True
    anomaly = False


mode = _Mode()


class _SetGradEnabled(contextlib.ContextDecorator):
    def __new__(cls, *args):
        # ``@mg.no_grad`` without parentheses decorates the function directly.
        if cls is not set_grad_enabled and len(args) == 1 and callable(args[0]):
            return cls()(args[0])
        return super().__new__(cls)

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._previous: list[bool] = []

    def __enter__(self):
        self._previous.append(mode.grad_enabled)
        mode.grad_enabled = self.enabled
        return self

    def __exit__(self, *exc):
        mode.grad_enabled = self._previous.pop()
        return False


class no_grad(_SetGradEnabled):
    """Record nothing inside: results have no graph and ``requires_grad=False``.

    Use as ``with mg.no_grad():`` or as a decorator (``@mg.no_grad`` or ``@mg.no_grad()``).
    """

    def __init__(self, *_):
        super().__init__(False)


class enable_grad(_SetGradEnabled):
    """Record again inside a ``no_grad`` block (context manager or decorator)."""

    def __init__(self, *_):
        super().__init__(True)


class set_grad_enabled(_SetGradEnabled):
    """Turn recording on or off: ``with mg.set_grad_enabled(is_training):``."""


def is_grad_enabled() -> bool:
    """Whether operations are being recorded for backward."""
    return mode.grad_enabled


class detect_anomaly(contextlib.ContextDecorator):
    """Raise ``FloatingPointError`` at the first primitive whose forward or backward
    produces nan or inf, naming the primitive and the line of your code that created it.

    Slows every operation down (it checks every result and records where each
    operation was created), so use it to find a problem, not while training normally.
    """

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._previous: list[bool] = []

    def __enter__(self):
        self._previous.append(mode.anomaly)
        mode.anomaly = self.enabled
        return self

    def __exit__(self, *exc):
        mode.anomaly = self._previous.pop()
        return False
