"""``check_backprop``: compare a hand-written NumPy backprop with autograd, parameter by
parameter — the lab's central exercise."""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from microgradnp.tensor import Tensor
from microgradnp.train.fit import resolve_loss


@dataclass
class GradientComparison:
    """One parameter's row of the check."""

    name: str
    shape: tuple[int, ...]
    max_abs_error: float
    relative_error: float
    ok: bool | None  # None: no hand gradient was given for it
    note: str = ""

    @property
    def status(self) -> str:
        """``"OK"``, ``"WRONG"``, or ``"not given"`` when no hand gradient was given."""
        return "not given" if self.ok is None else ("OK" if self.ok else "WRONG")


class BackpropCheck(list):
    """The rows of ``check_backprop``, printable as a table; ``ok`` is True when
    every given gradient matches."""

    @property
    def ok(self) -> bool:
        """True when no given gradient is WRONG."""
        return all(row.ok is not False for row in self)

    @property
    def wrong(self) -> list[GradientComparison]:
        """The rows whose gradient does not match."""
        return [row for row in self if row.ok is False]

    def worst(self) -> GradientComparison | None:
        """The checked row with the largest relative error (None if nothing was given)."""
        checked = [row for row in self if row.ok is not None]
        return max(checked, key=lambda row: row.relative_error, default=None)

    def __str__(self) -> str:
        header = ("parameter", "shape", "max abs error", "relative error", "check")
        rows = [header] + [
            (row.name + (f" ({row.note})" if row.note else ""), "x".join(map(str, row.shape)) or "scalar",
             "-" if row.ok is None else f"{row.max_abs_error:.2e}",
             "-" if row.ok is None else f"{row.relative_error:.2e}", row.status)
            for row in self
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths).rstrip())
        return "\n".join(lines)


def check_backprop(model, X, y, loss, hand_grads, rtol: float = 1e-5, atol: float = 1e-8, strict: bool = False,
                   verbose: bool = True, file=None) -> BackpropCheck:
    """Compare gradients computed by hand with autograd's, print a table, return it.

    ``hand_grads`` maps parameter names (``model.named_parameters()``, e.g.
    ``"fc1.weight"``; for an ``nn.MLP`` also the lab's ``"W1"``, ``"b1"``, ...) to the
    ndarray your own backprop computed for the loss ``loss(model(X), y)``; a value may
    also be a function returning the array, and ``hand_grads`` itself may be a function
    returning the dict. Weights laid out (in, out) as in the lab's ``x @ W`` are
    recognised and compared transposed; a bias of shape (1, out) is compared with (out,).
    A row is OK when ``|hand - autograd| <= atol + rtol |autograd|`` everywhere.
    With ``strict=True`` a mismatch raises AssertionError naming the worst parameter.
    Parameters left out of ``hand_grads`` show as "not given"; an empty ``hand_grads``, or a
    gradient that is None, raises instead, as it would check nothing.
    """
    given = hand_grads() if callable(hand_grads) else hand_grads
    if not isinstance(given, Mapping):
        raise TypeError(f"check_backprop: hand_grads must be a dict of parameter name -> gradient (or a function "
                        f"returning one), got {type(given).__name__}")
    params = dict(model.named_parameters())
    if not given:
        # Every row would read "not given" and the check would pass without checking anything.
        raise ValueError(f"check_backprop: hand_grads is empty, so there is nothing to check; give at least one of "
                         f"{list(params)} (or, for an MLP, W1, b1, ...)")
    aliases = {_parameter_name(key, params): key for key in given}
    given = {name: given[key] for name, key in aliases.items()}

    model.zero_grad()
    value = resolve_loss(loss)(model(X if isinstance(X, Tensor) else Tensor(X)), y)
    value.backward()

    transposed = _lab_layout(given, params)
    report = BackpropCheck()
    for name, param in params.items():
        auto = np.zeros_like(param.data) if param.grad is None else param.grad
        if name not in given:
            report.append(GradientComparison(name, param.data.shape, np.nan, np.nan, None))
            continue
        hand = given[name]() if callable(given[name]) else given[name]
        if hand is None:
            raise ValueError(f"check_backprop: the hand gradient for {aliases[name]!r} is None "
                             "(did your backprop compute and return it?)")
        hand = np.asarray(hand, dtype=np.float64)
        hand, note = _align(hand, auto, name, transposed)
        note = ", ".join(part for part in (f"as {aliases[name]}" if aliases[name] != name else "", note) if part)
        error = np.abs(hand - auto)
        scale = max(np.max(np.abs(auto), initial=0.0), np.max(np.abs(hand), initial=0.0), np.finfo(float).tiny)
        ok = bool(np.all(error <= atol + rtol * np.abs(auto)))
        report.append(GradientComparison(name, param.data.shape, float(error.max(initial=0.0)),
                                         float(error.max(initial=0.0) / scale), ok, note))
    if verbose:
        print(report, file=file or sys.stdout)
    if strict and not report.ok:
        worst = max(report.wrong, key=lambda row: row.relative_error)
        raise AssertionError(
            f"check_backprop: {len(report.wrong)} parameter(s) WRONG; worst is {worst.name!r} "
            f"(max abs error {worst.max_abs_error:.3g}, relative {worst.relative_error:.3g})\n{report}"
        )
    return report


def _parameter_name(key: str, params: dict) -> str:
    """The parameter a key names: its own name, or the lab's W1/b1 for layer fc1."""
    if key in params:
        return key
    match = re.fullmatch(r"([Ww]|b)(\d+)", key)
    if match:
        candidate = f"fc{match.group(2)}.{'bias' if match.group(1) == 'b' else 'weight'}"
        if candidate in params:
            return candidate
    raise KeyError(f"check_backprop: the model has no parameter {key!r}; its parameters are {list(params)}")


def _lab_layout(given: dict, params: dict) -> bool:
    """True when the hand gradients use (in, out) weights: decided on the weights whose
    transpose has a different shape, so that square layers follow the others."""
    votes = []
    for name, value in given.items():
        shape = np.shape(value() if callable(value) else value)
        own = params[name].data.shape
        if len(own) == 2 and own[0] != own[1] and shape in (own, own[::-1]):
            votes.append(shape == own[::-1])
    return bool(votes) and all(votes)


def _align(hand: np.ndarray, auto: np.ndarray, name: str, transposed: bool) -> tuple[np.ndarray, str]:
    if transposed and auto.ndim == 2 and hand.shape == auto.shape[::-1]:
        return hand.T, "transposed"
    if hand.shape != auto.shape and hand.size == auto.size and hand.squeeze().shape == auto.squeeze().shape:
        return hand.reshape(auto.shape), ""
    if hand.shape != auto.shape:
        raise ValueError(f"check_backprop: the hand gradient of {name!r} has shape {hand.shape}, "
                         f"but the parameter has shape {auto.shape}")
    return hand, ""
