"""``check_backprop``: compare a hand-written NumPy backprop with autograd, parameter by
parameter and layer by layer (the deltas dL/dz) — the lab's central exercise."""

from __future__ import annotations

import re
import sys
import textwrap
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from microgradnp.autograd.engine import grad as autograd_grad
from microgradnp.nn import functional as F
from microgradnp.nn.layers import Linear
from microgradnp.nn.loss import HalfMSELoss, MSELoss
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


@dataclass
class DeltaComparison(GradientComparison):
    """One layer's row of the delta check: the hand-written ``delta{index}`` against
    autograd's dL/dz, the gradient of the loss with respect to the output z of the
    ``index``-th Linear layer (its pre-activation). ``note`` is the layer's name."""

    layer: str = ""
    index: int = 0  # 1 for the first Linear layer the forward pass calls
    factor: float | None = None  # hand = factor * autograd everywhere: a scaling slip
    activation: str = ""  # the operation applied to z ("sigmoid", "none", ...), "" if unclear


class BackpropCheck(list):
    """The parameter rows of ``check_backprop``, printable as a table; ``deltas`` holds
    the per-layer rows (output layer first) when deltas were given, and ``diagnosis``
    says in one paragraph where the first error is. ``ok`` is True when every given
    gradient and delta matches."""

    def __init__(self, rows=(), deltas=(), diagnosis: str = ""):
        super().__init__(rows)
        self.deltas: list[DeltaComparison] = list(deltas)
        self.diagnosis = diagnosis

    @property
    def ok(self) -> bool:
        """True when no given gradient or delta is WRONG."""
        return all(row.ok is not False for row in (*self, *self.deltas))

    @property
    def wrong(self) -> list[GradientComparison]:
        """The rows whose gradient does not match: parameters, then deltas (output layer first)."""
        return [row for row in (*self, *self.deltas) if row.ok is False]

    @property
    def first_wrong_delta(self) -> DeltaComparison | None:
        """The wrong delta closest to the output: where the error was made (see ``check_backprop``)."""
        return next((row for row in self.deltas if row.ok is False), None)

    def worst(self) -> GradientComparison | None:
        """The checked row with the largest relative error (None if nothing was given)."""
        checked = [row for row in (*self, *self.deltas) if row.ok is not None]
        return max(checked, key=lambda row: row.relative_error, default=None)

    def __str__(self) -> str:
        parts = []
        if len(self) or not self.deltas:
            parts.append(_table("parameter", self))
        if self.deltas:
            parts.append(_table("delta (layer)", self.deltas))
        if self.diagnosis:
            parts.append("\n".join(_wrap(paragraph) for paragraph in self.diagnosis.split("\n")))
        return "\n\n".join(parts)


def _wrap(paragraph: str) -> str:
    """One finding wrapped for a terminal, never inside a formula: the spaces around an
    operator (a2 = sigmoid(z2), s * (1 - s)) become no-break spaces, which textwrap
    does not split at, while wrapping."""
    glued = re.sub(r" ([=*@+/-]) ", "\u00a0\\1\u00a0", paragraph)
    return textwrap.fill(glued, width=100, break_long_words=False, break_on_hyphens=False).replace("\u00a0", " ")


def _table(first_column: str, rows) -> str:
    header = (first_column, "shape", "max abs error", "relative error", "check")
    cells = [header] + [
        (row.name + (f" ({row.note})" if row.note else ""), "x".join(map(str, row.shape)) or "scalar",
         "-" if row.ok is None else f"{row.max_abs_error:.2e}",
         "-" if row.ok is None else f"{row.relative_error:.2e}",
         row.status + (f" ({_number(row.factor)} x autograd)" if getattr(row, "factor", None) is not None else ""))
        for row in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths).rstrip())
    return "\n".join(lines)


def check_backprop(model, X, y, loss, hand_grads=None, rtol: float = 1e-5, atol: float = 1e-8, strict: bool = False,
                   verbose: bool = True, file=None, hand_deltas=None) -> BackpropCheck:
    """Compare gradients computed by hand with autograd's, print a table, return it.

    ``hand_grads`` maps parameter names (``model.named_parameters()``, e.g.
    ``"fc1.weight"``; for an ``nn.MLP`` also the lab's ``"W1"``, ``"b1"``, ...) to the
    ndarray your own backprop computed for the loss ``loss(model(X), y)``; a value may
    also be a function returning the array, and ``hand_grads`` itself may be a function
    returning the dict. Weights laid out (in, out) as in the lab's ``x @ W`` are
    recognised and compared transposed; a bias of shape (1, out) is compared with (out,).
    The layout is told from the weights that are not square; when every weight given is
    square (a 50x50 layer checked on its own) the shapes cannot tell, so the lab's keys
    (``W2``) mean (in, out) and parameter names (``fc2.weight``) mean (out, in). A square
    weight's gradient that matches only transposed then raises a ValueError saying the
    layout is in doubt, rather than being called WRONG (when non-square weights decided the
    layout, it is WRONG, noted "right if read (out, in)"). Weights given in both layouts raise a
    ValueError naming them, as do a key given twice (``W1`` and ``fc1.weight``) and a key
    that is not a str.
    A row is OK when ``|hand - autograd| <= atol + rtol |autograd|`` everywhere.
    With ``strict=True`` a mismatch raises AssertionError naming the worst parameter.
    Parameters left out of ``hand_grads`` show as "not given"; an empty ``hand_grads``, or a
    gradient that is None, raises instead, as it would check nothing.

    ``hand_deltas`` also checks your deltas, ``delta_l = dL/dz_l``: the gradient of the
    loss with respect to the output ``z_l`` of the l-th ``nn.Linear`` layer (its
    pre-activation), the layers numbered 1, 2, ... in the order the forward pass calls
    them. Give a dict keyed by the lab's names (``"delta1"``, ``"delta2"``, ...;
    ``"delta_1"`` and ``"d1"`` work too) or by the layers' names (``"fc1"`` in an
    ``nn.MLP``, ``"0"`` in an ``nn.Sequential``), leaving out the layers not to check; or a
    list with one delta per layer, first layer first. A delta has one row per sample,
    shape (N, units), as ``z = a @ W + b`` makes it (an (N,) vector for a one-unit layer
    works too). As with ``hand_grads``, a value or ``hand_deltas`` itself may be a
    function; ``hand_grads`` may then be left out to check only the deltas.

    The deltas are listed output layer first, the order backprop computes them in, and
    the rule is: **the first WRONG delta from the output is where the error was made.**
    Each delta is computed from the one above it, so a mistake in the line computing
    ``delta_l`` spoils ``delta_l`` and every delta below it, and leaves those above it
    right. The report's ``diagnosis`` names that line and what to look at in it (the
    activation derivative of layer l: evaluated at ``a_l`` or at ``z_l``? at the output,
    the loss derivative too), and a delta equal to autograd's times a constant gets that
    ``factor`` (N for a loss summed instead of averaged, for instance). ``strict=True``
    then raises an AssertionError with the diagnosis. Autograd's deltas are found from
    the module calls the forward pass records, so any model whose Linear layers are
    called once each works, not only ``nn.MLP`` and ``nn.Sequential``.
    """
    if hand_grads is None and hand_deltas is None:
        raise ValueError("check_backprop: nothing to check; give hand_grads (the parameter gradients), "
                         "hand_deltas (the per-layer deltas dL/dz), or both")
    params = dict(model.named_parameters())
    given, aliases = {}, {}
    if hand_grads is not None:
        given = hand_grads() if callable(hand_grads) else hand_grads
        if not isinstance(given, Mapping):
            raise TypeError(f"check_backprop: hand_grads must be a dict of parameter name -> gradient (or a function "
                            f"returning one), got {type(given).__name__}")
        if not given:
            # Every row would read "not given" and the check would pass without checking anything.
            raise ValueError(f"check_backprop: hand_grads is empty, so there is nothing to check; give at least one "
                             f"of {list(params)} (or, for an MLP, W1, b1, ...)")
        aliases = {}  # parameter name -> the key it was given as
        for key in given:
            name = _parameter_name(key, params)
            if name in aliases:  # W1 and fc1.weight: one would silently win
                raise ValueError(f"check_backprop: hand_grads gives {name!r} twice, as {aliases[name]!r} and "
                                 f"{key!r}; keep one of them")
            aliases[name] = key
        given = {name: given[key] for name, key in aliases.items()}
    deltas = None
    if hand_deltas is not None:
        deltas = hand_deltas() if callable(hand_deltas) else hand_deltas
        if isinstance(deltas, str) or not isinstance(deltas, Mapping | Sequence):
            raise TypeError(f"check_backprop: hand_deltas must be a dict of layer name -> delta, or a list with one "
                            f"delta per Linear layer (or a function returning either), got {type(deltas).__name__}")
        if not deltas:
            raise ValueError("check_backprop: hand_deltas is empty, so there is nothing to check; give delta1, "
                             "delta2, ... (or the layers' names, e.g. fc1)")

    model.zero_grad()
    output = model(X if isinstance(X, Tensor) else Tensor(X))
    value = resolve_loss(loss)(output, y)
    delta_rows = [] if deltas is None else _compare_deltas(model, output, value, deltas, rtol, atol)
    value.backward()

    transposed = _lab_layout(given, params, aliases)
    report = BackpropCheck(deltas=delta_rows)
    # With only deltas given, the parameters get no rows rather than a column of "not given".
    for name, param in (params.items() if hand_grads is not None else ()):
        auto = np.zeros_like(param.data) if param.grad is None else param.grad
        if name not in given:
            report.append(GradientComparison(name, param.data.shape, np.nan, np.nan, None))
            continue
        hand = given[name]() if callable(given[name]) else given[name]
        if hand is None:
            raise ValueError(f"check_backprop: the hand gradient for {aliases[name]!r} is None "
                             "(did your backprop compute and return it?)")
        hand = np.asarray(hand, dtype=np.float64)
        hand, note = _align(hand, auto, name, transposed.lab)
        errors = _errors(hand, auto, rtol, atol)
        if not errors[2] and hand.ndim == 2 and hand.shape[0] == hand.shape[1] and _errors(hand.T, auto, rtol, atol)[2]:
            # A square weight right only in the other layout: an error when the layout was a
            # guess, WRONG with a hint when the other weights' shapes decided it.
            _refuse_a_guessed_layout(aliases[name], hand.shape, transposed)
            other = "(out, in)" if transposed.lab else "(in, out)"
            note = ", ".join(part for part in (note, f"right if read {other}") if part)
        note = ", ".join(part for part in (f"as {aliases[name]}" if aliases[name] != name else "", note) if part)
        report.append(GradientComparison(name, param.data.shape, *errors, note))
    if delta_rows:
        report.diagnosis = _diagnose(report, output, loss)
    if verbose:
        print(report, file=file or sys.stdout)
    if strict and report.first_wrong_delta is not None:
        tables = BackpropCheck(report, report.deltas)  # the same rows without the diagnosis, said first
        raise AssertionError(f"check_backprop: {report.diagnosis}\n\n{tables}")
    if strict and not report.ok:
        worst = max(report.wrong, key=lambda row: row.relative_error)
        raise AssertionError(
            f"check_backprop: {len(report.wrong)} parameter(s) WRONG; worst is {worst.name!r} "
            f"(max abs error {worst.max_abs_error:.3g}, relative {worst.relative_error:.3g})\n{report}"
        )
    return report


def _parameter_name(key: str, params: dict) -> str:
    """The parameter a key names: its own name, or the lab's W1/b1 for layer fc1."""
    if not isinstance(key, str):
        raise TypeError(f"check_backprop: the keys of hand_grads are parameter names (str), such as "
                        f"{next(iter(params), 'fc1.weight')!r} or the lab's 'W1', got {key!r} "
                        f"({type(key).__name__})")
    if key in params:
        return key
    match = re.fullmatch(r"([Ww]|b)(\d+)", key)
    if match:
        candidate = f"fc{match.group(2)}.{'bias' if match.group(1) == 'b' else 'weight'}"
        if candidate in params:
            return candidate
    raise KeyError(f"check_backprop: the model has no parameter {key!r}; its parameters are {list(params)}")


@dataclass
class _Layout:
    """How the hand-written weights are laid out: ``lab`` is True for the lab's (in, out)
    (``x @ W``), False for the model's (out, in); ``reason`` says how that was decided, or
    is "" when the shapes decided it."""

    lab: bool
    reason: str = ""


def _lab_layout(given: dict, params: dict, aliases: dict) -> _Layout:
    """The layout of the hand gradients, decided on the weights whose transpose has a
    different shape, so that square layers follow the others. Weights given in both
    layouts raise, naming them. With only square weights the shapes cannot tell: the
    lab's keys (W2) then mean the lab's layout, parameter names (fc2.weight) the model's."""
    layouts: dict[bool, list[str]] = {True: [], False: []}  # lab layout? -> the keys given so
    for name, value in given.items():
        shape = np.shape(value() if callable(value) else value)
        own = params[name].data.shape
        if len(own) == 2 and own[0] != own[1] and shape in (own, own[::-1]):
            layouts[shape == own[::-1]].append(aliases[name])
    if layouts[True] and layouts[False]:
        lab, model = (", ".join(map(repr, keys)) for keys in (layouts[True], layouts[False]))
        raise ValueError(f"check_backprop: the hand weight gradients are given in two layouts: {lab} (in, out) as "
                         f"the lab's x @ W, but {model} (out, in) as the model's parameters; give them all in one "
                         "layout (one of these is transposed)")
    if layouts[True] or layouts[False]:
        return _Layout(bool(layouts[True]))
    lab_keys = [key for name, key in aliases.items() if key != name and name.endswith("weight")]
    if lab_keys:
        return _Layout(True, f"the weights were given by the lab's keys ({', '.join(lab_keys)})")
    return _Layout(False, "parameter names were used")


def _refuse_a_guessed_layout(key: str, shape: tuple, layout: _Layout) -> None:
    """A square weight's gradient that is wrong as laid out but right transposed, when the
    layout was a guess: say so, rather than call a gradient that may be right WRONG."""
    used, other = ("(in, out)", "(out, in)") if layout.lab else ("(out, in)", "(in, out)")
    size = "x".join(map(str, shape))
    problem = (f"check_backprop: the hand gradient {key!r} ({size}) does not match autograd's read {used}, but "
               f"matches it transposed, {other}")
    if layout.reason:  # every weight given is square
        keys = "them by parameter name (fc1.weight, ...)" if layout.lab else "an nn.MLP's by the lab keys (W1, ...)"
        raise ValueError(f"{problem}. Every weight given is square, so the shapes cannot tell the layout, and "
                         f"{used} was assumed because {layout.reason}. If your weights are {other}, give {keys} "
                         f"or add a non-square weight so that the layout is recognised; if they are {used}, this "
                         "gradient is transposed")


def _align(hand: np.ndarray, auto: np.ndarray, name: str, transposed: bool) -> tuple[np.ndarray, str]:
    if transposed and auto.ndim == 2 and hand.shape == auto.shape[::-1]:
        return hand.T, "transposed"
    if hand.shape != auto.shape and hand.size == auto.size and hand.squeeze().shape == auto.squeeze().shape:
        return hand.reshape(auto.shape), ""
    if hand.shape != auto.shape:
        raise ValueError(f"check_backprop: the hand gradient of {name!r} has shape {hand.shape}, "
                         f"but the parameter has shape {auto.shape}")
    return hand, ""


def _errors(hand: np.ndarray, auto: np.ndarray, rtol: float, atol: float) -> tuple[float, float, bool]:
    """Max abs error, relative error (to the larger of the two), and the row's verdict."""
    error = np.abs(hand - auto)
    scale = max(np.max(np.abs(auto), initial=0.0), np.max(np.abs(hand), initial=0.0), np.finfo(float).tiny)
    worst = float(error.max(initial=0.0))
    return worst, worst / scale, bool(np.all(error <= atol + rtol * np.abs(auto)))


# -- deltas ------------------------------------------------------------------------------------
def _compare_deltas(model, output, value, deltas, rtol: float, atol: float) -> list[DeltaComparison]:
    """The delta rows, output layer first: the hand deltas against autograd's dL/dz."""
    layers, activations = _pre_activations(model, output)
    names = [name for name, _ in layers]
    if isinstance(deltas, Mapping):
        by_index: dict[int, tuple[str, object]] = {}
        for key, delta in deltas.items():
            index = _delta_index(key, names)
            if index in by_index:
                raise ValueError(f"check_backprop: hand_deltas gives layer {index} ({names[index - 1]}) twice, as "
                                 f"{by_index[index][0]!r} and {key!r}")
            by_index[index] = (key, delta)
    else:
        if len(deltas) != len(names):
            raise ValueError(f"check_backprop: hand_deltas has {len(deltas)} deltas but the model has {len(names)} "
                             f"Linear layers ({', '.join(names)}); give one per layer, first layer first, or a dict "
                             "to check only some")
        by_index = {index: (f"delta{index}", delta) for index, delta in enumerate(deltas, start=1)}
    found = autograd_grad(value, [z for _, z in layers], retain_graph=True, allow_unused=True)
    rows = []
    for index in range(len(layers), 0, -1):  # the order backprop computes them: output first
        layer, z = layers[index - 1]
        auto = np.zeros_like(z.data) if found[index - 1] is None else found[index - 1].data
        row = {"name": f"delta{index}", "shape": auto.shape, "note": _label(layer), "layer": layer, "index": index,
               "activation": activations[index - 1]}
        if index not in by_index:
            rows.append(DeltaComparison(max_abs_error=np.nan, relative_error=np.nan, ok=None, **row))
            continue
        key, hand = by_index[index]
        hand = hand() if callable(hand) else hand
        if hand is None:
            raise ValueError(f"check_backprop: the hand delta {key!r} is None "
                             "(did your backprop compute and return it?)")
        hand = _align_delta(np.asarray(hand, dtype=np.float64), auto, key, layer)
        max_abs, relative, ok = _errors(hand, auto, rtol, atol)
        factor = None if ok else _constant_factor(hand, auto, rtol, atol)
        rows.append(DeltaComparison(max_abs_error=max_abs, relative_error=relative, ok=ok, factor=factor, **row))
    return rows


def _pre_activations(model, output) -> tuple[list[tuple[str, Tensor]], list[str]]:
    """Each Linear layer's output z in the pass that made ``output``, in the order the
    forward pass called them, and the operation applied to each ("none" when the next
    layer, or the loss, takes z as it is; "" when several operations use it).

    ``Module.__call__`` marks each call on its output's node (``module_calls``, the same
    record graph drawings group modules by), so walking back from the output finds the
    layers' outputs in any model, without installing and removing hooks."""
    if not isinstance(output, Tensor):
        raise TypeError(f"check_backprop: hand_deltas needs a model that returns one Tensor, "
                        f"got {type(output).__name__}")
    linear = {id(module): name for name, module in model.named_modules() if isinstance(module, Linear)}
    calls = []  # (call stamp, layer name, its output)
    used_by: dict[int, dict[int, str]] = {}  # id(tensor) -> {id(node): operation name}
    seen: set[int] = set()
    queue = deque([output])
    while queue:
        tensor = queue.popleft()
        if id(tensor) in seen or tensor._node is None:
            continue
        seen.add(id(tensor))
        node = tensor._node
        calls += [(first, linear[id(module)], tensor) for module, first in node.module_calls if id(module) in linear]
        for x in node.inputs:
            if isinstance(x, Tensor):
                used_by.setdefault(id(x), {})[id(node)] = node.name
                queue.append(x)
    if not calls:
        raise ValueError(f"check_backprop: hand_deltas compares the deltas of nn.Linear layers, but the forward pass "
                         f"of {type(model).__name__} called none")
    counts = {name: sum(other == name for _, other, _ in calls) for _, name, _ in calls}
    repeated = [name for name, count in counts.items() if count > 1]
    if repeated:
        raise ValueError(f"check_backprop: layer {repeated[0]!r} is called {counts[repeated[0]]} times in the forward "
                         "pass, so it has no single delta; hand_deltas needs each Linear layer called once")
    calls.sort(key=lambda call: -call[0])  # stamps count down: the first call has the largest
    layers = [(name, z) for _, name, z in calls]
    activations = []
    for _, z in layers:
        operations = set(used_by.get(id(z), {}).values())
        if z is output or operations == {"linear"}:
            activations.append("none")
        else:
            activations.append(operations.pop() if len(operations) == 1 else "")
    return layers, activations


def _label(layer: str) -> str:
    """A layer's name as the report says it: "fc2", but "Linear 2" for a Sequential's "2"."""
    return f"Linear {layer}" if layer.rpartition(".")[2].isdigit() else layer


def _delta_index(key, names: list[str]) -> int:
    """The layer (1 = first) a hand_deltas key names: a layer's name, or delta1 / delta_1 / d1."""
    if isinstance(key, str):
        if key in names:
            return names.index(key) + 1
        match = re.fullmatch(r"(?:delta|d)_?(\d+)", key)
        if match and 1 <= int(match.group(1)) <= len(names):
            return int(match.group(1))
    n = len(names)
    raise KeyError(f"check_backprop: hand_deltas names no layer {key!r}; use delta1 .. delta{n} (delta1 for the first "
                   f"layer, delta{n} for the output layer) or a Linear layer's name: {names}")


def _align_delta(hand: np.ndarray, auto: np.ndarray, key, layer: str) -> np.ndarray:
    if hand.shape == auto.shape:
        return hand
    if hand.size == auto.size and hand.squeeze().shape == auto.squeeze().shape:
        return hand.reshape(auto.shape)  # (N,) for a one-unit layer's (N, 1)
    problem = (f"check_backprop: the hand delta {key!r} has shape {hand.shape}, but {layer}'s pre-activation z has "
               f"shape {auto.shape} (samples, units)")
    if hand.shape == auto.shape[::-1]:
        # Not transposed silently: for a square (N = units) layer the same slip would go unnoticed.
        raise ValueError(f"{problem}: it is transposed; a delta has one row per sample, as z = a @ W + b does")
    raise ValueError(problem)


def _constant_factor(hand: np.ndarray, auto: np.ndarray, rtol: float, atol: float) -> float | None:
    """c when ``hand == c * auto`` within the tolerances, for a c other than 1: a scaling slip."""
    norm = float(np.sum(auto * auto))
    if norm == 0.0:
        return None
    factor = float(np.sum(hand * auto)) / norm  # the least-squares c; exact when hand is a multiple
    if factor == 0.0 or not np.isfinite(factor) or abs(factor - 1.0) <= rtol:
        return None
    scaled = factor * auto
    return factor if bool(np.all(np.abs(hand - scaled) <= abs(factor) * atol + rtol * np.abs(scaled))) else None


def _number(value: float) -> str:
    return str(round(value)) if abs(value - round(value)) <= 1e-9 * max(1.0, abs(value)) else f"{value:.4g}"


def _diagnose(report: BackpropCheck, output: Tensor, loss) -> str:
    """Where the first error is, in words: the rule of ``check_backprop``'s docstring."""
    first = report.first_wrong_delta
    if first is None:
        return _parameter_lines(report)
    count = output.data.size  # what a mean over the output divides by
    samples = output.shape[0] if output.ndim else 1
    name, index = first.name, first.index
    what = f"{name} ({first.note}'s pre-activation gradient)"
    verdict = "is wrong" if first.factor is None else \
        f"is {_number(first.factor)} times autograd's ({_explain_factor(first.factor, count, samples)})"
    if index == len(report.deltas) and first.factor is not None:  # a scale: the activation is not to blame
        text = (f"{what} {verdict}: the error is in the line computing {name}, at the output — check the scale of the "
                f"loss derivative dL/dy_hat{_loss_derivative(loss, count)}")
    elif index == len(report.deltas):  # the output layer: its line starts from the loss
        text = (f"{what} {verdict}: the error is in the line computing {name}, at the output — check the loss "
                f"derivative dL/dy_hat{_loss_derivative(loss, count)} and {_output_hint(first.activation, index)}")
    else:
        above = next(row for row in report.deltas if row.index == index + 1)
        hint = _derivative_hint(first.activation, index, name, above.name)
        if above.ok:
            text = f"{what} {verdict}; {above.name} is right: the error is in the line computing {name} from " \
                   f"{above.name} — {hint}"
        else:  # not given: the error may be in its line too
            text = (f"{what} {verdict}, the first wrong delta from the output; {above.name} was not given, so the "
                    f"error is in the line computing {name} from {above.name} or above it (give {above.name} to "
                    f"tell) — {hint}")
    below = [row for row in report.deltas if row.index < index and row.ok is False]
    if below:
        names = ", ".join(row.name for row in below)
        plural = len(below) > 1
        inherited = first.factor is not None and all(
            row.factor is not None and np.isclose(row.factor, first.factor, rtol=1e-6) for row in below)
        if inherited:
            text += (f". {names} {'carry' if plural else 'carries'} the same factor, inherited from {name}: fix "
                     f"{name} and {'they follow' if plural else 'it follows'}")
        else:
            they = "they are" if plural else "it is"
            text += (f". {names} {'are' if plural else 'is'} computed from {name}, so {they} wrong too: fix {name} "
                     "first, then check again")
    return text + "."


def _parameter_lines(report: BackpropCheck) -> str:
    """With every delta right, a wrong parameter gradient is in the line computing it from its delta."""
    deltas = {row.layer: row for row in report.deltas}
    lines = []
    for row in report.wrong:
        layer, _, kind = row.name.rpartition(".")
        delta = deltas.get(layer)
        if delta is None or not delta.ok:
            continue
        i, d = delta.index, delta.name
        formula = f"dW{i} = a{i - 1}.T @ {d}" if kind == "weight" else f"db{i} = {d}.sum(axis=0)"
        lines.append(f"{row.name} is wrong but {d} is right: the error is in the line computing it from {d} "
                     f"({formula}, with a0 = X).")
    return "\n".join(lines)


def _explain_factor(factor: float, count: int, samples: int) -> str:
    def near(target: float) -> bool:
        return abs(factor - target) <= 1e-6 * abs(target)

    n = f"N = {count}, the number of samples" if count == samples else f"N = {count}, the number of entries of y_hat"
    if near(count):
        return f"{n}: the 1/N of the mean is missing; the loss summed instead of averaged?"
    if near(1 / count):
        return f"1/N, {n}: divided by N once too often?"
    if near(count / 2):
        return f"N/2, {n}: the 2/N of the mean squared error's derivative left out?"
    if near(0.5):
        return "the 2 of d/dy_hat (y_hat - y)**2 = 2 (y_hat - y) left out?"
    if near(2):
        return "the 2 of the squared error counted twice?"
    if near(-1):
        return "the sign is flipped: y - y_hat instead of y_hat - y?"
    return "a constant factor: check the scale in the line computing it"


def _loss_derivative(loss, count: int) -> str:
    """dL/dy_hat of the loss, written out when it is a mean squared error."""
    loss = resolve_loss(loss)
    if loss is not F.mse_loss and not isinstance(loss, MSELoss):
        return ""
    half = isinstance(loss, HalfMSELoss)
    formula = {("mean", False): "2/N (y_hat - y)", ("mean", True): "(y_hat - y)/N", ("sum", False): "2 (y_hat - y)",
               ("sum", True): "y_hat - y"}.get((getattr(loss, "reduction", "mean"), half))
    if formula is None:
        return ""
    return f" ({formula} for this loss, N = {count})" if "N" in formula else f" ({formula} for this loss)"


def _derivative_hint(activation: str, i: int, name: str, above: str) -> str:
    """What to check in ``delta_i = (delta_{i+1} @ W_{i+1}.T) * act'(z_i)``."""
    if activation in ("sigmoid", "tanh"):
        form = "written s * (1 - s) it takes s = a{i}; written sigmoid(z) * (1 - sigmoid(z)) it takes z{i}" \
            if activation == "sigmoid" else "written 1 - t**2 it takes t = a{i}; written 1 - tanh(z)**2 it takes z{i}"
        return (f"check the activation derivative of layer {i} (is it applied to the activation a{i} = "
                f"{activation}(z{i}), or to z{i}?): {form.format(i=i)}")
    if activation == "relu":
        return (f"check the activation derivative of layer {i}: it is the 0/1 mask (z{i} > 0), not relu(z{i}), "
                f"multiplying {above} @ W{i + 1}.T elementwise")
    if activation == "none":
        return (f"layer {i} has no activation, so {name} = {above} @ W{i + 1}.T with no derivative factor: check the "
                "weight and its transpose")
    if activation:
        return (f"check the derivative of {activation} in layer {i} (is it applied to the activation a{i} = "
                f"{activation}(z{i}), or to z{i}?)")
    return f"check the activation derivative of layer {i} and the product {above} @ W{i + 1}.T"


def _output_hint(activation: str, i: int) -> str:
    if activation == "none":
        return f"that the output has no activation here (y_hat = z{i}, so delta{i} is dL/dy_hat itself)"
    if activation == "relu":
        return f"the output ReLU's derivative, the 0/1 mask (z{i} > 0)"
    if activation:
        return f"the derivative of the output's {activation} (is it applied to y_hat = {activation}(z{i}), or to z{i}?)"
    return "the output activation's derivative"
