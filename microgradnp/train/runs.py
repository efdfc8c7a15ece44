"""A run's pieces built from its options, by name: the network and its initialisation, the
optimizer, the loss and the data. ``microgradnp train`` and ``mg.train.sweep`` both build
their runs here, so an option means the same thing in both.

Initialisations are written as calls of ``nn.init`` functions without the tensor:
``"normal(0, 1)"`` (N(0, 1)), ``"uniform(-1, 1)"``, ``"xavier_uniform"``,
``"kaiming_normal(nonlinearity='relu')"``, ``"zeros"``; ``"default"`` keeps PyTorch's
default (uniform in +-1/sqrt(fan_in), for weights and biases).
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import math
import numbers
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType

import numpy as np

from microgradnp import data
from microgradnp.nn import init
from microgradnp.nn.conv import Conv1d
from microgradnp.nn.layers import MLP, Flatten, Linear, Sequential, Unflatten, activation_module
from microgradnp.nn.module import Module
from microgradnp.optim import (
    ASGD,
    SGD,
    Adadelta,
    Adafactor,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    NAdam,
    RAdam,
    RMSprop,
    Rprop,
)

__all__ = ["INITS", "OPTIMIZERS", "build_model", "build_optimizer", "check_init", "load_points", "optimizer_options",
           "read_points", "split_points"]

INITS: Mapping[str, Callable] = MappingProxyType({
    "normal": init.normal_, "uniform": init.uniform_, "constant": init.constant_, "zeros": init.zeros_,
    "ones": init.ones_, "xavier_uniform": init.xavier_uniform_, "xavier_normal": init.xavier_normal_,
    "kaiming_uniform": init.kaiming_uniform_, "kaiming_normal": init.kaiming_normal_,
    "trunc_normal": init.trunc_normal_, "orthogonal": init.orthogonal_, "eye": init.eye_,
    "sparse": init.sparse_, "dirac": init.dirac_,
})
"""Initialisations by name: the ``nn.init`` function of that name (``xavier`` and
``kaiming`` are short for the uniform ones); ``"default"`` is PyTorch's."""
_INIT_ALIASES = {"xavier": "xavier_uniform", "kaiming": "kaiming_uniform"}

OPTIMIZERS: Mapping[str, type] = MappingProxyType(
    {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad, "adamax": Adamax,
     "nadam": NAdam, "radam": RAdam, "adadelta": Adadelta, "rprop": Rprop, "asgd": ASGD,
     "adafactor": Adafactor})
"""Optimizers by name: every one in ``mg.optim`` that steps from the gradients alone (all but
``LBFGS``, whose ``step(closure)`` re-evaluates the loss several times per step)."""

# Optimizer options a run can set, with the value that leaves them out (the optimizer's default).
OPTIMIZER_OPTIONS = MappingProxyType({"momentum": 0.0, "nesterov": False, "weight_decay": 0.0, "betas": None})


def optimizer_options(spec) -> str:
    """The optimizer's other keyword arguments (``amsgrad``, ``eps``, ``alpha``, ``centered``,
    ``dampening``, ``lambd``...), given as a mapping or as text ``"amsgrad=true, eps=1e-6"``, in
    one canonical text: sorted by name, values as Python writes them (``""``: none). Values
    are numbers, true/false, strings or tuples of numbers; the optimizer checks the names."""
    if spec is None or spec == "":
        return ""
    if isinstance(spec, str):
        items = {}
        for part in _split_top_level(spec):
            name, equals, text = part.partition("=")
            if not equals or not name.strip().isidentifier():
                raise ValueError(f"optimizer options {spec!r}: write name=value pairs separated by commas, e.g. "
                                 "'amsgrad=true, eps=1e-6'")
            items[name.strip()] = _literal(text.strip(), spec)
    elif isinstance(spec, Mapping):
        items = dict(spec)
    else:
        raise ValueError(f"optimizer options must be a mapping such as {{'amsgrad': True}} or text such as "
                         f"'amsgrad=true, eps=1e-6', got {spec!r}")
    for name, value in items.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"optimizer options: {name!r} is not an argument name")
        if name in ("params", "lr") or name in OPTIMIZER_OPTIONS:
            raise ValueError(f"optimizer options: give {name!r} as its own option, not among the others")
        if isinstance(value, list):
            items[name] = value = tuple(value)
        plain = (numbers.Real, str)
        if not (isinstance(value, plain) or (isinstance(value, tuple) and all(isinstance(v, plain) for v in value))):
            raise ValueError(f"optimizer options: {name}={value!r} must be a number, true/false, a string or a tuple "
                             "of numbers")
    return ", ".join(f"{name}={items[name]!r}" for name in sorted(items))


def _split_top_level(text: str) -> list[str]:
    """``text`` split at the commas outside parentheses (``betas2=(0.1, 0.2), eps=1e-6``)."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += (char == "(") - (char == ")")
        if char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p for p in parts if p.strip()]


def _literal(text: str, spec: str):
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise ValueError(f"optimizer options {spec!r}: {text!r} is not a number, true/false, a quoted string or a "
                         "tuple of numbers") from None


def _options_of(canonical: str) -> dict:
    """The keyword arguments of an ``optimizer_options`` text."""
    return {name.strip(): _literal(text.strip(), canonical) for name, _, text in
            (part.partition("=") for part in _split_top_level(canonical))}


# -- initialisation ---------------------------------------------------------------------------
def _parse_init(spec) -> tuple[Callable, tuple, dict] | None:
    """``spec`` as (function, args, kwargs); None for "default"."""
    node = None
    if isinstance(spec, str):
        with contextlib.suppress(SyntaxError):
            node = ast.parse(spec.strip(), mode="eval").body
    if isinstance(node, ast.Name):
        name, args, kwargs = node.id, (), {}
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        name = node.func.id
        try:
            args = tuple(ast.literal_eval(a) for a in node.args)
            kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
        except ValueError:  # an argument that is not a literal number or string
            if _INIT_ALIASES.get(name, name) in INITS:
                raise ValueError(f"initialisation {spec!r}: arguments must be numbers or strings written out, "
                                 "e.g. 'normal(0, 1)' or \"kaiming_normal(nonlinearity='relu')\"") from None
            name = None
    else:
        name = None
    name = _INIT_ALIASES.get(name, name)
    if name == "default" and not (args or kwargs):
        return None
    function = INITS.get(name)
    if function is None:
        raise ValueError(f"unknown initialisation {spec!r}: use 'default' or a call of one of "
                         f"{', '.join(INITS)} without the tensor, e.g. 'normal(0, 1)' or 'uniform(-1, 1)'")
    signature = inspect.signature(function)
    try:
        if "tensor" in kwargs or "rng" in kwargs:
            raise TypeError("the tensor and rng are given by the run")
        signature.bind(None, *args, **kwargs)
    except TypeError as error:
        takes = signature.replace(parameters=[p.replace(annotation=p.empty) for p in signature.parameters.values()
                                              if p.name not in ("tensor", "rng")], return_annotation=signature.empty)
        raise ValueError(f"initialisation {spec!r}: {error}; {name} takes {takes}") from None
    return function, args, kwargs


def check_init(spec) -> str:
    """``spec`` if it names an initialisation (see the module's docstring); else ValueError."""
    _parse_init(spec)
    return spec.strip()


def _initialize(model: Module, weight_init: str, bias_init: str, rng: np.random.Generator) -> None:
    """Re-initialise the weights and biases of every Linear and Conv1d layer, in order."""
    weight_call, bias_call = _parse_init(weight_init), _parse_init(bias_init)
    for layer in model.modules():
        if not isinstance(layer, Linear | Conv1d):
            continue
        for call, tensor in ((weight_call, layer.weight), (bias_call, layer.bias)):
            if call is not None and tensor is not None:
                function, args, kwargs = call
                if "rng" in inspect.signature(function).parameters:
                    kwargs = {**kwargs, "rng": rng}
                function(tensor, *args, **kwargs)


# -- the network ------------------------------------------------------------------------------
def build_model(n_inputs: int, n_outputs: int = 1, hidden=(50, 50), activation="sigmoid",
                output_activation="sigmoid", bias: bool = True, init: str = "default", bias_init: str = "default",
                conv1d_channels: int = 0, dtype=None, seed=0) -> Module:
    """The network a run trains: ``nn.MLP(n_inputs, hidden, n_outputs, ...)`` with
    ``bias`` on or off, initialised by ``init`` (weights) and ``bias_init`` from the
    generator of ``seed`` (after PyTorch's default initialisation has drawn from it).

    With ``conv1d_channels`` > 0 the input is read as a one-channel signal of ``n_inputs``
    samples by a ``Conv1d(1, conv1d_channels, kernel_size=n_inputs)`` layer (and
    ``activation``) before the MLP, which then takes the ``conv1d_channels`` features.
    """
    rng = np.random.default_rng(seed)
    hidden = (hidden, hidden) if isinstance(hidden, numbers.Integral) else tuple(hidden)
    if conv1d_channels:
        model = Sequential(Unflatten(1, (1, n_inputs)),
                           Conv1d(1, conv1d_channels, n_inputs, bias=bias, dtype=dtype, rng=rng),
                           activation_module(activation), Flatten(),
                           MLP(conv1d_channels, hidden, n_outputs, activation, output_activation, bias=bias,
                               dtype=dtype, rng=rng))
    else:
        model = MLP(n_inputs, hidden, n_outputs, activation, output_activation, bias=bias, dtype=dtype, rng=rng)
    _initialize(model, init, bias_init, rng)
    return model


# -- the optimizer ----------------------------------------------------------------------------
def check_loss_output(loss, output_activation) -> None:
    """Binary cross-entropy takes probabilities: only a sigmoid output gives them (a ReLU
    or no activation would fail, or be clamped, once an output leaves [0, 1]). Its logits
    form applies the sigmoid itself: after a sigmoid output it would train
    sigmoid(sigmoid(z)), which is always above 0.5, so no point could be class 0."""
    if loss == "bce" and output_activation != "sigmoid":
        raise ValueError(f"loss 'bce' needs probabilities, but output_activation {output_activation!r} does not give "
                         "them: use output_activation 'sigmoid', or loss 'bce_with_logits' with output_activation "
                         "'none'")
    if loss == "bce_with_logits" and output_activation == "sigmoid":
        raise ValueError("loss 'bce_with_logits' takes logits and applies the sigmoid itself, but output_activation "
                         "'sigmoid' gives probabilities (no point could ever be class 0): use output_activation "
                         "'none', or loss 'bce' with the sigmoid")


def build_optimizer(name: str, parameters, lr, other_options="", **options):
    """``OPTIMIZERS[name](parameters, lr=lr, ...)`` with the ``options`` (momentum,
    nesterov, weight_decay, betas; betas None: the optimizer's) that it takes; an option
    it does not have is a ValueError unless left at its neutral value (0, False, None).
    ``other_options``: any other keyword arguments of the optimizer (``optimizer_options``'s
    text or a mapping), each one it must take."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}: use one of {', '.join(OPTIMIZERS)}")
    cls = OPTIMIZERS[name]
    unknown = set(options) - set(OPTIMIZER_OPTIONS)
    if unknown:
        raise ValueError(f"unknown optimizer option(s) {', '.join(sorted(unknown))}: use "
                         f"{', '.join(OPTIMIZER_OPTIONS)}")
    given = {key: value for key, value in options.items() if value != OPTIMIZER_OPTIONS[key]}
    accepted = inspect.signature(cls).parameters
    refused = [key for key in given if key not in accepted]
    if refused:
        takes = [key for key in OPTIMIZER_OPTIONS if key in accepted]
        raise ValueError(f"optimizer {name!r} has no option {refused[0]!r} (it takes "
                         f"{', '.join(takes) or 'only lr'})")
    # Every option the optimizer takes is passed, also at its neutral value: weight_decay 0 is
    # no decay for AdamW too (whose own default is 0.01), as the run's table says.
    given = {key: value for key, value in options.items() if key in accepted and value is not None}
    if "betas" in given:
        given["betas"] = tuple(given["betas"])
    others = _options_of(optimizer_options(other_options))
    refused = [key for key in others if key not in accepted or key in ("params", "lr")]
    if refused:
        takes = [key for key in accepted if key not in ("params", "lr", *OPTIMIZER_OPTIONS)]
        raise ValueError(f"optimizer {name!r} has no option {refused[0]!r} (its other options: {', '.join(takes)})")
    return cls(parameters, lr=lr, **given, **others)


# -- the data ---------------------------------------------------------------------------------
def read_points(path) -> tuple[np.ndarray, np.ndarray]:
    """Points and 0/1 labels from a file: CSV (one point per row, the label in the last
    column, an optional header row) or NPZ (arrays ``X`` of shape (n, features) and ``y``
    of n labels). Returns ``X`` (n, features) and ``y`` (n, 1), as floats."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as arrays:
                missing = {"X", "y"} - set(arrays.files)
                if missing:
                    raise ValueError(f"has no array {' or '.join(sorted(missing))} (it has {', '.join(arrays.files)})"
                                     "; save it with np.savez(path, X=points, y=labels)")
                X, y = arrays["X"], arrays["y"]
        elif path.suffix.lower() == ".csv":
            with open(path, encoding="utf-8-sig") as file:  # (-sig: a spreadsheet's byte-order mark is no data)
                lines = [(number, line) for number, line in enumerate(file.read().splitlines(), start=1)
                         if line.strip()]
            if lines and not any(_is_number(cell) for cell in lines[0][1].split(",")):
                lines = lines[1:]  # a first row with no number in it is a header
            rows = [_numbers(line, number) for number, line in lines]
            if len({len(row) for row in rows}) > 1:
                raise ValueError("rows of different lengths: every row needs the same coordinates, then its label")
            table = np.array(rows)
            if table.ndim != 2 or table.shape[1] < 2:
                raise ValueError("needs rows of at least two numbers: the point's coordinates, then its label")
            X, y = table[:, :-1], table[:, -1]
        else:
            raise ValueError("is neither .csv nor .npz")
    except (OSError, ValueError) as error:
        raise ValueError(f"data file {path}: {getattr(error, 'strerror', None) or error}") from None
    return checked_points(X, y, f"data file {path}")


def checked_points(X, y, what: str) -> tuple[np.ndarray, np.ndarray]:
    """``X`` (n, features) of finite numbers and n labels 0 or 1, as floats ``(X, y)`` with
    ``y`` of shape (n, 1); anything else raises, naming ``what``."""
    X, y = np.asarray(X), np.asarray(y)
    # n labels are a vector (n,) or a column (n, 1): another shape of n values, such as
    # (2, 2) for 4 points, would be read in an order nobody chose.
    labels = y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1)
    if (X.ndim != 2 or len(X) == 0 or not labels or len(y) != len(X) or X.dtype.kind not in "fiub"
            or y.dtype.kind not in "fiub"):
        raise ValueError(f"{what}: expected points (n, features) and n labels (shape (n,) or (n, 1)), got "
                         f"{X.shape} and {y.shape}")
    if not np.all(np.isfinite(X)):
        row = int(np.argwhere(~np.isfinite(X))[0][0])
        raise ValueError(f"{what}: coordinates must be finite numbers and labels 0 or 1; point {row} is "
                         f"{X[row].tolist()}")
    if not np.all((y == 0) | (y == 1)):
        row = int(np.argwhere(~((y == 0) | (y == 1)).reshape(-1))[0][0])
        raise ValueError(f"{what}: coordinates must be finite numbers and labels 0 or 1; label {row} is "
                         f"{y.reshape(-1)[row].item()!r}")
    return X.astype(float), y.reshape(-1, 1).astype(float)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _numbers(line: str, number: int) -> list[float]:
    """A CSV row's numbers; a cell that is not one raises, naming its line and column."""
    cells = line.split(",")
    for column, cell in enumerate(cells, start=1):
        if not _is_number(cell):
            what = "is empty" if not cell.strip() else f"is {cell.strip()!r}, not a number"
            raise ValueError(f"line {number}, column {column} {what}")
    return [float(cell) for cell in cells]


def load_points(dataset, n: int = 100, data_seed: int = 0) -> tuple[str, np.ndarray, np.ndarray]:
    """``(name, X, y)`` of a binary data set: a name in ``mg.data.DATASETS`` (``n``
    points from ``data_seed``; "xor" is the lab's fixed 21 points), or a CSV/NPZ file
    (:func:`read_points`)."""
    if isinstance(dataset, os.PathLike) or (isinstance(dataset, str) and dataset.lower().endswith((".csv", ".npz"))):
        return Path(dataset).stem, *read_points(dataset)
    if dataset not in data.DATASETS:
        raise ValueError(f"unknown data set {dataset!r}: use {', '.join(data.DATASETS)} or a .csv/.npz file")
    X, y = data.load(dataset) if dataset in ("xor", "xor_easy") else data.load(dataset, n=n, rng=data_seed)
    if y.ndim != 2:
        raise ValueError(f"data set {dataset!r} has {int(y.max()) + 1} classes; runs here need 0/1 labels")
    return dataset, X, y


def split_points(X: np.ndarray, y: np.ndarray, test_size: float, seed: int = 0):
    """``(X_train, y_train, X_test, y_test)``: a random ``test_size`` fraction of the points
    (at least one, leaving at least one) held out, drawn from ``seed``."""
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real) or not 0 < test_size < 1:
        raise ValueError(f"test_size must be a fraction in (0, 1), got {test_size!r}")
    if len(X) < 2:
        raise ValueError("a test split needs at least 2 points")
    n_test = min(max(1, math.floor(test_size * len(X) + 0.5)), len(X) - 1)
    order = np.random.default_rng(seed).permutation(len(X))
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    return X[train], y[train], X[test], y[test]
