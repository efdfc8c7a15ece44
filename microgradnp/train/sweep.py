"""``sweep``: the lab's grid of learning rates x hidden sizes x activations x optimizers,
each configuration trained from several seeds, and the table it produces (``SweepResult``).

The lab's protocol is one call::

    result = mg.train.sweep(mg.train.LAB_GRID, "xor")
    print(result.to_markdown())

By default the sweep is vectorised: all seeds of one configuration train together as one
``nn.Ensemble`` (``fit_ensemble``), and the configurations are tasks on a process pool
(``loky``), one worker per core. Every seed's numbers equal those of a one-at-a-time
``fit`` run (``vectorize=False``) bit for bit.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import itertools
import json
import math
import numbers
import os
import queue
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import CancelledError, Executor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np

from microgradnp._files import write_bytes_atomically
from microgradnp._memory import start_worker
from microgradnp.nn.ensemble import Ensemble
from microgradnp.tensor import _data, get_default_dtype
from microgradnp.train.fit import (
    _count_correct_per_member,
    count_correct,
    fit,
    fit_ensemble,
    is_logits_loss,
    output_threshold,
    predict,
    show_progress,
)
from microgradnp.train.runs import (
    OPTIMIZERS,
    build_model,
    build_optimizer,
    check_init,
    check_loss_output,
    checked_points,
    load_points,
    optimizer_options,
    split_points,
)

__all__ = ["LAB_DEFAULTS", "LAB_GRID", "SweepConfig", "SweepResult", "cluster_executor", "expand_grid", "sweep"]

LAB_DEFAULTS: Mapping[str, object] = MappingProxyType({
    "lr": 0.1, "hidden": 50, "activation": "sigmoid", "optimizer": "sgd", "output_activation": "sigmoid",
    "loss": "mse", "bias": True, "init": "default", "bias_init": "default", "momentum": 0.0, "nesterov": False,
    "weight_decay": 0.0, "betas": None, "optimizer_options": "", "conv1d_channels": 0, "stop_at_accuracy": 1.0})
"""The lab's default configuration; a grid's missing keys take these values (and
``stop_at_accuracy`` the value given to ``sweep``)."""

LAB_GRID: tuple[Mapping[str, Sequence], ...] = (
    MappingProxyType({"lr": (0.1, 0.05, 0.01, 0.005)}),
    # A list: under "hidden" a tuple of integers is one value, every layer's width.
    MappingProxyType({"hidden": list(range(10, 101, 10))}),
    MappingProxyType({"activation": ("sigmoid", "relu", "tanh", "none")}),
    MappingProxyType({"optimizer": ("sgd", "adam")}),
)
"""The lab's whole protocol as one grid: learning rates at 50 hidden units, hidden sizes
at lr 0.1, activations and optimizers at the default configuration (17 distinct
configurations: the 16 of the three main grids, and Adam)."""

ACTIVATIONS = ("sigmoid", "relu", "tanh", "leaky_relu", "none")
"""Hidden and output activations a sweep can use, by ``nn.MLP``'s names."""

LOSSES = ("mse", "mse/2", "bce", "bce_with_logits")
"""Losses a sweep can use: "mse/2" is ``nn.HalfMSELoss`` (sum of squares over 2n)."""

GRID_KEYS = tuple(LAB_DEFAULTS)
RESULTS = ("mean_stop_epoch", "stop_epoch_text", "never_converged", "diverged", "best_accuracy", "mean_best_accuracy",
           "mean_final_accuracy", "mean_test_accuracy", "wall_time", "seeds", "stop_epochs", "best_accuracies",
           "final_accuracies", "test_accuracies", "statuses")
COLUMNS = (*GRID_KEYS, *RESULTS)
PER_SEED = ("seeds", "stop_epochs", "best_accuracies", "final_accuracies", "test_accuracies", "statuses")
# Below this many member-epochs a sweep is over in seconds: starting processes is not worth it.
PARALLEL_MIN_WORK = 500_000


@dataclass(frozen=True)
class SweepConfig:
    """One cell of a sweep: the network ``runs.build_model(...)`` (by default the lab's
    ``MLP(in, (hidden, hidden), 1)``, sigmoid everywhere, PyTorch's initialisation) trained
    full batch with ``loss`` by ``optimizer`` at ``lr``, until ``stop_at_accuracy`` (None:
    all epochs). ``hidden`` is the units of each of two layers (an int, the lab's way) or
    every layer's width (a tuple: ``(4,)``, ``(10, 10)``)."""

    lr: float
    hidden: int | tuple[int, ...]
    activation: str
    optimizer: str
    output_activation: str = "sigmoid"
    loss: str = "mse"
    bias: bool = True
    init: str = "default"
    bias_init: str = "default"
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    betas: tuple[float, float] | None = None
    optimizer_options: str = ""  # the optimizer's other arguments, as runs.optimizer_options writes them
    conv1d_channels: int = 0
    stop_at_accuracy: float | None = 1.0

    def build(self, n_inputs: int, seed: int, dtype=None):
        """The network of this cell for ``seed`` (``runs.build_model``)."""
        return build_model(n_inputs, 1, self.hidden, self.activation, self.output_activation, self.bias, self.init,
                           self.bias_init, self.conv1d_channels, dtype, seed)

    def optimizer_for(self, parameters, lr):
        """This cell's optimizer over ``parameters`` (``lr`` may be per member)."""
        return build_optimizer(self.optimizer, parameters, lr, self.optimizer_options, momentum=self.momentum,
                               nesterov=self.nesterov, weight_decay=self.weight_decay, betas=self.betas)


# -- the grid ---------------------------------------------------------------------------------
def expand_grid(grid: Mapping | Sequence[Mapping], defaults: Mapping | None = None) -> list[SweepConfig]:
    """The configurations of ``grid``, in order, without duplicates.

    ``grid`` maps keys of ``LAB_DEFAULTS`` ("lr", "hidden", "activation", "optimizer",
    "output_activation", "loss", "bias", "init", "bias_init", "momentum", "nesterov",
    "weight_decay", "betas", "optimizer_options", "conv1d_channels", "stop_at_accuracy") to a value or a list
    of values; keys left out take ``defaults``, then ``LAB_DEFAULTS``. The configurations
    are the product of the lists, the first key varying slowest. ``grid`` may also be a
    list of such mappings: the union of their products, in order, each configuration
    once (``LAB_GRID`` is the lab's protocol written so).

    A list is always a list of values: ``{"hidden": [10, 20]}`` is two configurations
    (two layers of 10, two of 20). Under ``hidden`` a tuple of integers is one value,
    every layer's width: ``{"hidden": (100, 50)}`` is the one network 2-100-50-1, and
    ``{"hidden": [(4,), (10, 10)]}`` two configurations. (Likewise a pair of numbers under
    ``betas`` is one value, and so is a mapping under ``optimizer_options``, the optimizer's
    other arguments: ``{"amsgrad": True, "eps": 1e-6}`` or ``"amsgrad=true, eps=1e-6"``;
    other keys take a tuple as a list of values.) Initialisations
    are ``nn.init`` calls without the tensor: ``"normal(0, 1)"``, ``"uniform(0, 1)"``,
    ``"xavier_uniform"``, ``"default"``.

    Optimizers are names; a grid gives every optimizer the same learning rates. To give
    Adam its own, list two grids: ``[{"optimizer": "sgd"}, {"optimizer": "adam", "lr": 0.01}]``.

    Raises:
        ValueError: an unknown key, an empty list, or a value that key cannot take.
    """
    if isinstance(grid, Mapping):
        grids = [grid]
    elif isinstance(grid, Sequence) and not isinstance(grid, str) and grid:
        grids = list(grid)
    else:
        raise ValueError(f"sweep: grid must be a mapping such as {{'lr': [0.1, 0.01]}} or a non-empty list of them, "
                         f"got {grid!r}")
    base = {**LAB_DEFAULTS, **(defaults or {})}
    configs: dict[SweepConfig, None] = {}  # a dict keeps the first-seen order
    for i, one in enumerate(grids):
        if not isinstance(one, Mapping):
            raise ValueError(f"sweep: grid entry {i} must be a mapping such as {{'lr': [0.1, 0.01]}}, got {one!r}")
        unknown = [key for key in one if key not in GRID_KEYS]
        if unknown:
            raise ValueError(f"sweep: unknown grid key {unknown[0]!r}: use {', '.join(map(repr, GRID_KEYS))}")
        keys = [*one, *(key for key in GRID_KEYS if key not in one)]
        values = [_grid_values(key, one[key]) if key in one else [_CHECKS[key](base[key])] for key in keys]
        for combination in itertools.product(*values):
            configs.setdefault(SweepConfig(**dict(zip(keys, combination))), None)
    return list(configs)


def _grid_values(key: str, value) -> list:
    listed = isinstance(value, Iterable) and not isinstance(value, str | bytes)
    if key == "betas" and listed and value and all(isinstance(v, numbers.Real) for v in value):
        listed = False  # (0.9, 0.999) is one value of betas
    if key == "optimizer_options" and isinstance(value, Mapping):
        listed = False  # {"amsgrad": True} is one set of options
    if key == "hidden" and isinstance(value, tuple) and value and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value):
        listed = False  # (100, 50) is one network, 2-100-50-1, as SweepConfig.hidden takes it
    values = list(value) if listed else [value]
    if not values:
        raise ValueError(f"sweep: grid key {key!r} has no values")
    return [_CHECKS[key](v) for v in values]


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _check_lr(value) -> float:
    if _is_number(value) and value > 0:
        return float(value)
    raise ValueError(f"sweep: a learning rate must be a positive number, got {value!r}")


def _check_hidden(value) -> int | tuple[int, ...]:
    def positive(n):
        return isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 1

    if positive(value):
        return int(value)
    if isinstance(value, Sequence) and not isinstance(value, str) and value and all(map(positive, value)):
        return tuple(int(n) for n in value)
    raise ValueError(f"sweep: 'hidden' must be a positive integer (units in each of two hidden layers) or a tuple of "
                     f"them (every hidden layer's width, e.g. (4,) or (10, 10)), got {value!r}")


def _check_choice(key: str, choices: Sequence[str]) -> Callable:
    def check(value):
        name = "none" if value is None and "none" in choices else value.lower() if isinstance(value, str) else value
        if name in choices:
            return name
        raise ValueError(f"sweep: unknown {key} {value!r}: use one of {', '.join(map(repr, choices))}")

    return check


def _check_optimizer(value) -> str:
    name = value.lower() if isinstance(value, str) else value
    if name in OPTIMIZERS:
        return name
    raise ValueError(f"sweep: unknown optimizer {value!r}: use one of {', '.join(map(repr, OPTIMIZERS))} (the learning "
                     "rate comes from 'lr'; for a per-optimizer lr pass a list of grids, e.g. "
                     "[{'optimizer': 'sgd'}, {'optimizer': 'adam', 'lr': 0.01}])")


def _check_flag(key: str) -> Callable:
    def check(value):
        if isinstance(value, bool | np.bool_):
            return bool(value)
        raise ValueError(f"sweep: {key!r} must be true or false, got {value!r}")

    return check


def _check_non_negative(key: str) -> Callable:
    def check(value):
        if _is_number(value) and value >= 0:
            return float(value)
        raise ValueError(f"sweep: {key!r} must be a number >= 0, got {value!r}")

    return check


def _check_init(value) -> str:
    try:
        return check_init(value)
    except ValueError as error:
        raise ValueError(f"sweep: {error}") from None


def _check_betas(value) -> tuple[float, float] | None:
    if value is None:
        return None
    if (isinstance(value, Sequence) and len(value) == 2 and all(_is_number(b) and 0 <= b < 1 for b in value)):
        return (float(value[0]), float(value[1]))
    raise ValueError(f"sweep: 'betas' must be a pair of numbers in [0, 1) such as (0.9, 0.999), got {value!r}")


def _check_optimizer_options(value) -> str:
    try:
        return optimizer_options(value)
    except ValueError as error:
        raise ValueError(f"sweep: {error}") from None


def _check_channels(value) -> int:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0:
        return int(value)
    raise ValueError(f"sweep: 'conv1d_channels' must be an integer >= 0 (0: no Conv1d input layer), got {value!r}")


def _check_stop(value) -> float | None:
    if value is None or (_is_number(value) and 0 < value <= 1):
        return None if value is None else float(value)
    raise ValueError(f"sweep: stop_at_accuracy must be a number in (0, 1] or None (train every epoch), got {value!r}")


_CHECKS = {"lr": _check_lr, "hidden": _check_hidden, "activation": _check_choice("activation", ACTIVATIONS),
           "optimizer": _check_optimizer, "output_activation": _check_choice("output_activation", ACTIVATIONS),
           "loss": _check_choice("loss", LOSSES), "bias": _check_flag("bias"), "init": _check_init,
           "bias_init": _check_init, "momentum": _check_non_negative("momentum"), "nesterov": _check_flag("nesterov"),
           "weight_decay": _check_non_negative("weight_decay"), "betas": _check_betas,
           "optimizer_options": _check_optimizer_options,
           "conv1d_channels": _check_channels, "stop_at_accuracy": _check_stop}


# -- the result -------------------------------------------------------------------------------
@dataclass
class SweepResult:
    """A sweep's table: one row (a dict) per configuration, in grid order.

    Each row holds the configuration (every key of ``LAB_DEFAULTS``: ``lr``, ``hidden``,
    ``activation``, ``optimizer``, ...); ``mean_stop_epoch``, the mean over seeds of the
    epoch that reached the target accuracy (None when a seed never did, or with no
    target), and ``stop_epoch_text``, the same for the table ("12345.6", "100000+" with
    the epoch cap, "-" without a target); ``never_converged``, the seeds that never
    reached the target (divergence to nan included); ``diverged``, the seeds whose loss
    turned nan or inf (a column of the table when any did); ``best_accuracy``, the best
    accuracy of any seed, and ``mean_best_accuracy``, the mean of each seed's best;
    ``mean_final_accuracy``, the mean accuracy of the last epoch; ``mean_test_accuracy``,
    the mean accuracy of the final networks on the held-out points (None without a test
    split); ``wall_time``, the seconds its seeds took to train; and per seed, in
    ``seeds`` order: ``stop_epochs`` (None where not reached), ``best_accuracies``,
    ``final_accuracies``, ``test_accuracies`` and ``statuses`` ("reached", "completed"
    or "diverged", as ``History.status``). A configuration whose task failed (its worker
    died, twice) has the statuses "failed", ``stop_epoch_text`` "failed" and the reason
    in ``error``.
    """

    rows: list[dict]
    dataset: str
    seeds: list[int]
    epochs: int
    stop_at_accuracy: float | None
    vectorized: bool = True
    wall_time: float = 0.0
    workers: int = 1
    dtype: str = "float64"
    test_size: float | None = None

    def to_dict(self) -> dict:
        """The settings and rows as plain numbers, strings and lists (``json.dump``-able)."""
        return {"dataset": self.dataset, "seeds": list(self.seeds), "epochs": self.epochs,
                "stop_at_accuracy": self.stop_at_accuracy, "test_size": self.test_size, "vectorized": self.vectorized,
                "workers": self.workers, "dtype": self.dtype, "wall_time": self.wall_time,
                "rows": [_plain(row) for row in self.rows]}

    def to_markdown(self) -> str:
        """The lab's table as Markdown (also readable as plain text). Besides lr, hidden,
        activation and optimizer it shows the configuration keys that vary between rows
        or differ from the lab's defaults."""
        keys = ["lr", "hidden", "activation", "optimizer"]
        keys += [key for key in GRID_KEYS[4:]
                 if any(row[key] != LAB_DEFAULTS[key] or row[key] != self.rows[0][key] for row in self.rows)]
        diverged = any(row.get("diverged") for row in self.rows)  # (a column only when it says something)
        header = (*keys, "stop epoch (mean)", "never converged", *(["diverged"] if diverged else []), "best acc",
                  "mean best acc", "final acc", *(["test acc"] if self.test_size else []), "time (s)")
        lines = [header]
        for row in self.rows:
            lines.append((*(_text(row[key]) for key in keys), row["stop_epoch_text"],
                          f"{row['never_converged']}/{len(row['seeds'])}",
                          *([f"{row['diverged']}/{len(row['seeds'])}"] if diverged else []),
                          _percent(row["best_accuracy"]),
                          _percent(row["mean_best_accuracy"]), _percent(row["mean_final_accuracy"]),
                          *([_percent(row["mean_test_accuracy"])] if self.test_size else []),
                          f"{row['wall_time']:.2f}"))
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        numeric = [all(_is_numeric_text(line[i]) for line in lines[1:]) for i in range(len(header))]

        def cells(line):
            return "| " + " | ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(line, widths, numeric)) + " |"

        rule = "|" + "|".join(("-" * (w + 1) + ":") if r else ("-" * (w + 2)) for w, r in zip(widths, numeric)) + "|"
        return "\n".join([cells(lines[0]), rule, *(cells(line) for line in lines[1:])]) + "\n"

    def to_csv(self, path) -> None:
        """Write the rows as CSV, atomically; lists (per-seed values, tuples of layer
        widths) are JSON in their cells."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        columns = (*COLUMNS, "error") if any("error" in row for row in self.rows) else COLUMNS  # (why rows failed)
        writer.writerow(columns)
        for row in self.rows:
            values = [_plain(row.get(c, "")) for c in columns]
            writer.writerow([json.dumps(v) if isinstance(v, list) else "" if v is None else v for v in values])
        write_bytes_atomically(path, buffer.getvalue().encode())

    def to_json(self, path) -> None:
        """Write :meth:`to_dict` as JSON, atomically."""
        write_bytes_atomically(path, (json.dumps(self.to_dict(), indent=2) + "\n").encode())

    def __str__(self) -> str:
        mode = "vectorised" if self.vectorized else "one run at a time"
        targets = {row.get("stop_at_accuracy", self.stop_at_accuracy) for row in self.rows} or {self.stop_at_accuracy}
        if len(targets) > 1:  # (the grid set each configuration's own)
            target = "target accuracy per configuration"
        else:
            (stop,) = targets
            target = "no target accuracy" if stop is None else f"target accuracy {stop:g}"
        return (f"sweep on {self.dataset!r}: {len(self.rows)} configurations x {len(self.seeds)} seeds, "
                f"up to {self.epochs} epochs, {target}, {self.dtype}, {mode}, "
                f"{self.wall_time:.1f}s\n\n{self.to_markdown()}")

    def __repr__(self) -> str:
        return (f"SweepResult(dataset={self.dataset!r}, configs={len(self.rows)}, seeds={len(self.seeds)}, "
                f"epochs={self.epochs}, vectorized={self.vectorized}, wall_time={self.wall_time:.2f}s)")


def _plain(value):
    """Tuples as lists, recursively (JSON has no tuples), and nan as None (JSON has no nan:
    a failed row's accuracies)."""
    if isinstance(value, dict):
        return {key: _plain(v) for key, v in value.items()}
    if isinstance(value, float) and value != value:
        return None
    return [_plain(v) for v in value] if isinstance(value, list | tuple) else value


def _text(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return "none" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def _percent(value) -> str:
    return "-" if value is None or value != value else f"{100 * value:.2f}%"  # (nan: a failed row)


def _is_numeric_text(text: str) -> bool:
    text = text.replace("/", "", 1)  # "3/10" seeds
    return text.rstrip("%+").replace(".", "", 1).replace("e-", "", 1).lstrip("-").isdigit() or text == "-"


def _mean(values) -> float | None:
    return None if any(v is None for v in values) else float(np.mean(values))


def _row(config: SweepConfig, seeds: Sequence[int], results: Sequence[_SeedResult] | None, epochs: int,
         seconds: float, error: str = "") -> dict:
    """The table's row of one configuration; ``results`` None (with ``error``) when it failed."""
    row = dataclasses.asdict(config)
    if results is None:
        nan = float("nan")
        return {**row, "mean_stop_epoch": None, "stop_epoch_text": "failed", "never_converged": len(seeds),
                "diverged": 0, "best_accuracy": nan, "mean_best_accuracy": nan, "mean_final_accuracy": nan,
                "mean_test_accuracy": None, "wall_time": seconds, "seeds": list(seeds),
                "stop_epochs": [None] * len(seeds), "best_accuracies": [nan] * len(seeds),
                "final_accuracies": [nan] * len(seeds), "test_accuracies": [None] * len(seeds),
                "statuses": ["failed"] * len(seeds), "error": error}
    stops = [r.stop_epoch for r in results]
    best = [r.best_accuracy for r in results]
    targeted = config.stop_at_accuracy is not None
    never = sum(s is None for s in stops) if targeted else 0
    mean_stop = _mean(stops) if targeted else None
    return {**row, "mean_stop_epoch": mean_stop,
            "stop_epoch_text": "-" if not targeted else f"{epochs}+" if never else f"{mean_stop:.1f}",
            "never_converged": never, "diverged": sum(r.status == "diverged" for r in results),
            "best_accuracy": max(best), "mean_best_accuracy": float(np.mean(best)),
            "mean_final_accuracy": float(np.mean([r.final_accuracy for r in results])),
            "mean_test_accuracy": _mean([r.test_accuracy for r in results]), "wall_time": seconds,
            "seeds": list(seeds), "stop_epochs": stops, "best_accuracies": best,
            "final_accuracies": [r.final_accuracy for r in results],
            "test_accuracies": [r.test_accuracy for r in results], "statuses": [r.status for r in results]}


# -- the sweep --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Settings:
    epochs: int
    threshold: float
    dtype: np.dtype
    test_points: tuple[np.ndarray, np.ndarray] | None = None


@dataclass(frozen=True)
class _SeedResult:
    """How one seed's run of a configuration ended (``History.status``; the stop epoch
    only when the target was reached; the test accuracy only with held-out points)."""

    status: str
    stop_epoch: int | None
    best_accuracy: float
    final_accuracy: float
    test_accuracy: float | None = None


def sweep(grid, dataset, seeds=10, epochs: int = 100_000, stop_at_accuracy: float | None = 1.0, *,
          n: int = 100, data_seed: int = 0, test_size: float | None = None, vectorize: bool = True,
          workers: int | None = None, executor: Executor | None = None, progress: bool | None = None,
          on_row: Callable[[dict], None] | None = None, threshold: float = 0.5, dtype=None,
          cells: str | os.PathLike | None = None, resume: bool = False) -> SweepResult:
    """Train every configuration of ``grid`` from every seed and tabulate the lab's numbers.

    Each run is ``fit(config.build(features, seed), X, y, config.loss,
    config.optimizer_for(parameters, config.lr), epochs, stop_at_accuracy=...)``: by
    default the lab's ``nn.MLP(d, (hidden, hidden), 1)``, sigmoid everywhere, trained full
    batch with MSE by SGD at ``lr``; accuracy at ``threshold`` on the training points,
    stopping at the first epoch whose forward pass reaches the configuration's
    ``stop_at_accuracy`` (before that epoch's update), or after ``epochs``.

    Args:
        grid: a mapping of keys of ``LAB_DEFAULTS`` to values or lists of values (missing
            keys take ``LAB_DEFAULTS``), or a list of such mappings; see
            :func:`expand_grid`. ``LAB_GRID`` is the lab's whole protocol.
        dataset: a name in ``mg.data.DATASETS`` with two classes ("linear", the lab's
            ``make_linear(100, rng=0)``; "xor", the lab's 21 points; "moons", "circles",
            "spiral"), a ``.csv``/``.npz`` file of points and 0/1 labels
            (``runs.read_points``), or an ``(X, y)`` pair with 0/1 labels.
        seeds: how many seeds (0, 1, ..., seeds - 1), or a list of distinct seeds.
        epochs: the epoch cap of every run.
        stop_at_accuracy: the target accuracy in (0, 1], or None to train every epoch;
            the default of the grid key of the same name.
        n: the number of points of a generated data set.
        data_seed: the seed of a generated data set (and of the test split).
        test_size: hold out this fraction of the points (drawn from ``data_seed``): the
            networks train on the rest, and the table gets a test-accuracy column.
        vectorize: train all seeds of a configuration as one ``nn.Ensemble`` with
            ``fit_ensemble`` (the default). False runs ``fit`` once per seed: slower, and
            the reference the ensemble's members equal. Configurations an ensemble cannot
            stack (a Conv1d input layer) run one seed at a time either way.
        workers: processes; None picks one per core this process may use (its CPU
            affinity and cgroup quota: ``usable_cores()``) for sweeps long enough to repay
            starting them, 1 stays in this process. Each configuration is one task on a
            ``loky`` process pool (the ``parallel`` extra): no ``if __name__ ==
            "__main__":`` guard needed, workers exit with this process, and a worker that
            dies is replaced and the configurations it may have been running run again,
            one at a time (a configuration whose worker dies three times gets a row that
            says why it failed).
        executor: run the configurations on this ``concurrent.futures.Executor`` instead,
            e.g. a Dask cluster's ``client.get_executor()`` (it is not shut down; not
            together with ``workers``).
        progress: show a progress bar on stderr (tqdm, when installed): the share of the
            work done (each configuration weighted by its seeds, epochs and network
            size), the configurations finished and, once enough has run to tell, about
            how long the rest will take. None (the default) shows it only when stderr is
            a terminal; True or False forces it on or off.
        on_row: called with each row as soon as all seeds of its configuration have
            finished (so not necessarily in grid order with workers), e.g. to save rows
            as they come.
        threshold: a prediction above it is class 1.
        dtype: the floating-point type of the networks and data (default: the default
            dtype, float64 unless changed). float32 halves the time of the big layers;
            its stop epochs differ from float64's by rounding, and equal those of
            float32 runs one at a time.
        cells: a folder where each configuration's row is written, atomically, as soon
            as all its seeds have finished (one JSON file per configuration, named by a
            hash of everything its numbers depend on: the configuration, the data, the
            seeds, epochs, threshold, dtype and test split).
        resume: take the rows already in ``cells`` for exactly these settings instead of
            training them again, so a sweep killed at any point loses only the
            configurations that were running. Failed rows are not kept (they run again).

    Returns:
        A :class:`SweepResult`, rows in grid order.
    """
    configs = expand_grid(grid, {"stop_at_accuracy": _check_stop(stop_at_accuracy)})
    if isinstance(data_seed, bool) or not isinstance(data_seed, numbers.Integral) or data_seed < 0:
        raise ValueError(f"sweep: data_seed must be a non-negative integer (the seed of the data and the test "
                         f"split), got {data_seed!r}")
    name, X, y = _dataset(dataset, n, data_seed)
    seeds = _seeds(seeds)
    if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 1:
        raise ValueError(f"sweep: epochs must be a positive integer, got {epochs!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, numbers.Integral)
                                or workers < 1):
        raise ValueError(f"sweep: workers must be a positive integer or None, got {workers!r}")
    if on_row is not None and not callable(on_row):
        raise TypeError(f"sweep: on_row must be a function taking a row (a dict), got {type(on_row).__name__}")
    if executor is not None and not callable(getattr(executor, "submit", None)):
        raise TypeError(f"sweep: executor must be a concurrent.futures Executor (e.g. a Dask client's "
                        f"client.get_executor()), got {type(executor).__name__}")
    if executor is not None and workers is not None:
        # (the executor has its own workers: a count here would be silently ignored)
        raise ValueError(f"sweep: workers={workers!r} sets the local process pool, which executor= replaces; "
                         "give one of them (the executor's own workers run the configurations)")
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or threshold != threshold:
        raise ValueError(f"sweep: threshold must be a number (a prediction above it is class 1), got {threshold!r}")
    dtype = _float_dtype(dtype)
    X, y = X.astype(dtype, copy=False), y.astype(dtype, copy=False)
    test_points = None
    if test_size is not None:
        try:
            X, y, *test_points = split_points(X, y, test_size, data_seed)
        except ValueError as error:
            raise ValueError(f"sweep: {error}") from None
    settings = _Settings(int(epochs), float(threshold), dtype, tuple(test_points) if test_points else None)
    if any(is_logits_loss(config.loss) for config in configs):
        try:
            output_threshold("bce_with_logits", settings.threshold)
        except ValueError as error:
            raise ValueError(f"sweep: {error}") from None
    for config in dict.fromkeys(dataclasses.replace(c, lr=1.0) for c in configs):
        _check_buildable(config, X.shape[1], dtype)

    store = None if cells is None else _CellStore(cells, name, X, y, seeds, settings, test_size)
    if resume and store is None:
        raise ValueError("sweep: resume=True needs the cells folder the earlier sweep wrote (cells=...)")
    rows: list[dict | None] = [None] * len(configs)
    bar = _SweepProgress.start(progress, name, [len(seeds) * settings.epochs * _work(c, X.shape[1]) for c in configs])

    def keep(number: int, row: dict, trained: bool = True) -> None:
        rows[number] = row
        if bar is not None:
            bar.finished(number, trained)
        if on_row is not None:
            on_row(row)

    def cell_done(number: int, results: list[_SeedResult] | None, seconds: float, error: str = "") -> None:
        row = _row(configs[number], seeds, results, settings.epochs, seconds, error)
        if store is not None and results is not None:
            store.save(configs[number], row)
        keep(number, row)

    for number, config in enumerate(configs):
        row = store.load(config) if resume else None
        if row is not None:
            keep(number, row, trained=False)
    train = _train_cells if vectorize else _fit_cells
    tasks = [task for task in _tasks(configs, X.shape[1]) if rows[task[0]] is None]
    started = time.perf_counter()
    used_workers = 1
    try:
        if executor is None:
            used_workers = _workers(workers, settings, len(seeds) * sum(map(len, tasks)), len(tasks))
        if bar is not None:
            bar.at_once = used_workers if executor is None else getattr(executor, "_max_workers", None) or 1
        if executor is None and used_workers == 1:
            for task in tasks:
                for number, outcome in zip(task, train([configs[n] for n in task], seeds, X, y, settings)):
                    cell_done(number, *outcome)
        else:
            used_workers = _run_on_executor(train, tasks, configs, seeds, X, y, settings, executor, used_workers,
                                            cell_done)
    finally:
        if bar is not None:
            bar.close()
    return SweepResult(rows, name, seeds, settings.epochs, _check_stop(stop_at_accuracy), bool(vectorize),
                       time.perf_counter() - started, used_workers, settings.dtype.name,
                       None if test_size is None else float(test_size))


class _CellStore:
    """The ``cells`` folder of a sweep: one JSON file per finished configuration, named by
    a hash of everything its numbers depend on, so that a file is only ever taken for the
    very run that wrote it."""

    def __init__(self, folder, dataset: str, X, y, seeds, settings: _Settings, test_size) -> None:
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ValueError(f"sweep: cannot make the cells folder {self.folder}: {error.strerror or error}") from None
        data = hashlib.sha256()
        for array in (X, y):
            data.update(f"{array.dtype.str}{array.shape}".encode())
            data.update(np.ascontiguousarray(array).tobytes())
        self.run = {"dataset": dataset, "data": data.hexdigest(), "seeds": list(seeds), "epochs": settings.epochs,
                    "threshold": settings.threshold, "dtype": settings.dtype.name, "test_size": test_size}

    def _key(self, config: SweepConfig) -> tuple[dict, Path]:
        described = dataclasses.asdict(config)
        if not described["optimizer_options"]:  # (the key of cells saved before the optimizer took other options)
            del described["optimizer_options"]
        key = _plain({**self.run, "config": described})
        if is_logits_loss(config.loss):
            # Rows written before logits were tested against 0 (not the threshold) hold
            # wrong accuracies: this key is never theirs, so they are trained again.
            key["accuracy_of_logits"] = "sigmoid(output) > threshold"
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
        return key, self.folder / f"cell-{digest}.json"

    def save(self, config: SweepConfig, row: dict) -> None:
        key, path = self._key(config)
        try:
            write_bytes_atomically(path, json.dumps({"key": key, "row": _plain(row)}).encode())
        except OSError as error:
            if error.filename is None:  # (a full disk's error names no file: say which one failed)
                error.filename = os.fspath(path)
            raise

    def load(self, config: SweepConfig) -> dict | None:
        """The row saved for ``config`` by a run with these settings, or None."""
        key, path = self._key(config)
        try:
            saved = json.loads(path.read_bytes())
        except (OSError, ValueError):  # not there yet, or not a cell file: train it
            return None
        if not isinstance(saved, dict) or saved.get("key") != key or not isinstance(saved.get("row"), dict):
            return None
        row = {"optimizer_options": "", **saved["row"]}  # (a cell saved before that column existed)
        if set(row) != set(COLUMNS):
            return None
        return {**row, **dataclasses.asdict(config)}  # the configuration as given (tuples, not JSON lists)


def _check_buildable(config: SweepConfig, n_inputs: int, dtype) -> None:
    """Build the configuration's network and optimizer once, so that what only the
    pieces themselves check (an initialisation a bias cannot take, an option the
    optimizer does not have) fails now, in one line, not in a worker."""
    try:
        check_loss_output(config.loss, config.output_activation)
        model = config.build(n_inputs, 0, dtype)
        config.optimizer_for(model.parameters(), config.lr)
    except (ValueError, TypeError) as error:
        raise ValueError(f"sweep: configuration {_describe_config(config)}: {error}") from None


def _describe_config(config: SweepConfig) -> str:
    changed = {key: value for key, value in dataclasses.asdict(config).items()
               if key in ("hidden", "activation", "optimizer") or value != LAB_DEFAULTS[key]}
    changed.pop("lr", None)
    return ", ".join(f"{key}={value!r}" for key, value in changed.items())


def _dataset(dataset, n, data_seed) -> tuple[str, np.ndarray, np.ndarray]:
    if isinstance(dataset, str | os.PathLike):
        try:
            return load_points(dataset, n, data_seed)
        except ValueError as error:
            raise ValueError(f"sweep: {error}") from None
    if isinstance(dataset, Sequence) and len(dataset) == 2:
        X, y = (np.asarray(_data(a)) for a in dataset)
        if X.ndim == 2 and len(X) > 0 and y.size == len(X) and X.dtype.kind in "fiub" and y.dtype.kind in "fiub":
            return "custom", *checked_points(X, y, "sweep: the (X, y) data set")
    raise ValueError("sweep: dataset must be a data set's name, a .csv/.npz file or an (X, y) pair with X of shape "
                     f"(n, features) and n 0/1 labels in y, got {_describe(dataset)}")


def _describe(value) -> str:
    shapes = [np.shape(_data(v)) for v in value] if isinstance(value, tuple | list) and len(value) == 2 else None
    if shapes is not None and all(shapes):
        return f"X of shape {shapes[0]} and y of shape {shapes[1]}"
    if isinstance(value, Sequence) and not isinstance(value, str):
        return f"a {type(value).__name__} of {len(value)} item(s)"
    return repr(value) if isinstance(value, str) else f"a {type(value).__name__}"


def _float_dtype(dtype) -> np.dtype:
    if dtype is None:
        return get_default_dtype()
    try:
        chosen = np.dtype(dtype)
    except TypeError:
        chosen = None
    if chosen not in (np.float32, np.float64):
        raise ValueError(f"sweep: dtype must be float32 or float64, got {dtype!r}")
    return chosen


def _seeds(seeds) -> list[int]:
    if isinstance(seeds, numbers.Integral) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ValueError(f"sweep: seeds must be a positive count or a list of seeds, got {seeds!r}")
        return list(range(int(seeds)))
    values = list(seeds) if isinstance(seeds, Iterable) and not isinstance(seeds, str) else None
    if (not values or any(isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 0 for s in values)
            or len(set(values)) != len(values)):
        raise ValueError(f"sweep: seeds must be a positive count or a list of distinct non-negative integers, "
                         f"got {seeds!r}")
    return [int(s) for s in values]


def _tasks(configs: Sequence[SweepConfig], n_inputs: int) -> list[tuple[int, ...]]:
    """One task per configuration (so that each row arrives as soon as its seeds are
    done), the most work first. (Grouping the configurations that differ only in learning
    rate into one ensemble was measured: no faster on the lab's protocol.)"""
    return sorted(((n,) for n in range(len(configs))), key=lambda task: -_work(configs[task[0]], n_inputs))


def _work(config: SweepConfig, n_inputs: int) -> int:
    """A configuration's work per seed and epoch, up to a factor: its weights (the
    multiply-adds of a forward pass per point), plus one per unit (the activations)."""
    widths = (config.conv1d_channels or n_inputs, *_layers(config.hidden), 1)
    weights = sum(a * b for a, b in zip(widths[:-1], widths[1:])) + n_inputs * config.conv1d_channels
    return weights + sum(widths[1:])


def _layers(hidden) -> tuple[int, ...]:
    return (hidden, hidden) if isinstance(hidden, int) else hidden


def _train_cells(configs: Sequence[SweepConfig], seeds, X, y, settings: _Settings) -> list[tuple[list, float]]:
    """Each configuration's seeds as one ``nn.Ensemble`` trained by ``fit_ensemble``
    (one seed at a time by ``fit`` where the network cannot be stacked). Per
    configuration: its seeds' results and the time they took."""
    outcomes = []
    for config in configs:
        started = time.perf_counter()
        try:
            ensemble = Ensemble([config.build(X.shape[1], seed, settings.dtype) for seed in seeds])
            optimizer = config.optimizer_for(ensemble.parameters(), ensemble.per_member([config.lr] * len(seeds)))
        except TypeError:  # a layer with no member axis (Conv1d), an optimizer mixing members (Adafactor)
            outcomes += _fit_cells([config], seeds, X, y, settings)
            continue
        histories = fit_ensemble(ensemble, X, y, config.loss, optimizer, settings.epochs,
                                 stop_at_accuracy=config.stop_at_accuracy, threshold=settings.threshold)
        tested = [None] * len(seeds)
        if settings.test_points is not None:
            X_test, y_test = settings.test_points
            with _quiet_after_divergence(histories):
                correct = _count_correct_per_member(predict(ensemble, X_test), y_test,
                                                    output_threshold(config.loss, settings.threshold))
            tested = [c / len(X_test) for c in correct]
        outcomes.append(([_seed_result(h, t) for h, t in zip(histories, tested)], time.perf_counter() - started))
    return outcomes


def _fit_cells(configs: Sequence[SweepConfig], seeds, X, y, settings: _Settings) -> list[tuple[list, float]]:
    """Each configuration one seed at a time by ``fit``: the reference an ensemble's members equal."""
    outcomes = []
    for config in configs:
        started = time.perf_counter()
        results = []
        for seed in seeds:
            model = config.build(X.shape[1], seed, settings.dtype)
            optimizer = config.optimizer_for(model.parameters(), config.lr)
            # fit's divergence message would be one line per diverging seed: the row's statuses say it.
            history = fit(model, X, y, config.loss, optimizer, settings.epochs,
                          stop_at_accuracy=config.stop_at_accuracy, threshold=settings.threshold, progress=False,
                          file=io.StringIO())
            tested = None
            if settings.test_points is not None:
                X_test, y_test = settings.test_points
                with _quiet_after_divergence([history]):
                    tested = count_correct(predict(model, X_test), y_test,
                                           output_threshold(config.loss, settings.threshold)) / len(X_test)
            results.append(_seed_result(history, tested))
        outcomes.append((results, time.perf_counter() - started))
    return outcomes


def _quiet_after_divergence(histories):
    """The ``np.errstate`` of predictions after training: a diverged run (its status says
    so) predicts with nan/inf weights, which NumPy would warn about once per operation."""
    if any(history.status == "diverged" for history in histories):
        return np.errstate(over="ignore", invalid="ignore", divide="ignore")
    return nullcontext()


def _seed_result(history, test_accuracy=None) -> _SeedResult:
    return _SeedResult(history.status, history.stop_epoch if history.converged else None, history.best_accuracy,
                       history.final_accuracy, test_accuracy)


def _workers(workers: int | None, settings: _Settings, runs: int, tasks: int) -> int:
    """Processes for ``tasks`` tasks of ``runs`` runs in all: never more than tasks."""
    if workers is None:
        if runs * settings.epochs < PARALLEL_MIN_WORK:
            return 1
        workers = usable_cores()
    return max(1, min(workers, tasks))


def usable_cores() -> int:
    """The cores this process may run on: those of its CPU affinity and cgroup quota
    (``taskset``, a Slurm job's ``--cpus-per-task``, a container's limit), not all the
    machine's (``os.cpu_count()``), which would start a worker per core of a whole node."""
    try:
        import loky
    except ImportError:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return loky.cpu_count()


# With one process per core, BLAS threads only compete with the other workers (OpenBLAS's
# spin-waiting threads make small products several times slower under such contention).
_ONE_BLAS_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
POOL_RESTARTS = 2  # worker deaths a configuration survives before its row says "failed"


def _run_on_executor(train, tasks, configs, seeds, X, y, settings, executor, workers: int, cell_done) -> int:
    """Run ``train`` on each task (a tuple of configuration numbers) on ``executor`` (or on
    a loky process pool of ``workers``), calling ``cell_done`` for each configuration as its
    task finishes. Returns the worker count (0 for a given executor)."""
    if executor is not None:
        _run_on_given_executor(train, tasks, configs, seeds, X, y, settings, executor, cell_done)
        return 0
    try:
        import loky
    except ImportError:
        raise ImportError("sweep: workers > 1 run on a loky process pool: pip install \"microgradnp[parallel]\" "
                          "(or pass workers=1)") from None
    broken = (loky.process_executor.TerminatedWorkerError, loky.process_executor.BrokenProcessPool)
    pending = list(tasks)  # in the order a pool starts them
    deaths = dict.fromkeys(tasks, 0)
    # A broken pool does not say whose worker died. The tasks it was running (the first
    # unfinished ones: it starts them in order) then run one at a time, each alone on a
    # pool, until each has finished or has died POOL_RESTARTS + 1 times on its own.
    suspects: list = []
    while pending:
        batch = suspects[:1] or pending
        pool = loky.ProcessPoolExecutor(1 if suspects else workers, env=_ONE_BLAS_THREAD,
                                        initializer=start_worker, initargs=(os.getpid(),))
        reason = None
        try:
            futures = {pool.submit(train, [configs[n] for n in task], seeds, X, y, settings): task for task in batch}
            for future in as_completed(futures):
                task = futures[future]
                try:
                    outcomes = future.result()
                except broken as error:
                    reason = _death_reason(error)
                    break
                pending.remove(task)
                if task in suspects:
                    suspects.remove(task)
                for number, outcome in zip(task, outcomes, strict=True):
                    cell_done(number, *outcome)
        except BaseException:  # interrupted (Ctrl-C) or a task failed: stop the workers now
            pool.shutdown(wait=False, kill_workers=True)
            raise
        pool.shutdown(wait=reason is None, kill_workers=reason is not None)
        if reason is None:
            continue
        running = [task for task in batch if task in pending][:1 if suspects else workers]
        if len(running) > 1:
            suspects = running
            continue
        (task,) = running
        deaths[task] += 1
        if deaths[task] > POOL_RESTARTS:
            pending.remove(task)
            if task in suspects:
                suspects.remove(task)
            for number in task:
                cell_done(number, None, 0.0, reason)
    return workers


def _run_on_given_executor(train, tasks, configs, seeds, X, y, settings, executor: Executor, cell_done) -> None:
    """``_run_on_executor`` on the caller's executor, which is left running: a task whose
    worker died (``_worker_died``) is submitted again, up to ``POOL_RESTARTS`` times, then
    its rows fail with the reason; the other tasks carry on. An error of the task itself
    propagates, after the tasks not yet started are cancelled. A Dask client that closes
    (its scheduler went away and did not come back) fails the rows still running: its
    futures would never finish."""
    submit_to = executor.submit
    client = _dask_client(executor)
    if client is not None:
        # Dask's own futures, not the executor's: a ClientExecutor future never completes
        # when a finished result is lost with its worker and computing it again fails.
        options = dict(getattr(executor, "_kwargs", {}))  # get_executor(retries=..., workers=...)

        def submit_to(function, *arguments):
            return client.submit(function, *arguments, **options)

    retries = dict.fromkeys(tasks, 0)
    running = {}
    finished = queue.SimpleQueue()  # futures as they finish (Dask calls back from its own thread)

    def submit(task) -> None:
        arguments = ([configs[n] for n in task], seeds, X, y, settings)
        try:
            # A retry is a new call, not a cached one: Dask names a task after its function and arguments.
            future = submit_to(_again, retries[task], train, *arguments) if retries[task] else \
                submit_to(train, *arguments)
        except Exception as error:  # a stdlib process pool whose worker died takes no more tasks
            if not (_worker_died(error) or _client_gone(client)):
                raise
            died(task, error)
            return
        running[future] = task
        future.add_done_callback(finished.put)

    def died(task, error: BaseException) -> None:
        gone = _client_gone(client)
        if retries[task] < POOL_RESTARTS and not gone:
            retries[task] += 1
            submit(task)
        else:
            for number in task:
                cell_done(number, None, 0.0, gone or _death_reason(error))

    try:
        for task in tasks:
            submit(task)
        while running:
            try:
                future = finished.get(timeout=_CLIENT_CHECK_EVERY)
            except queue.Empty:
                gone = _client_gone(client)
                if gone:
                    for task in running.values():
                        for number in task:
                            cell_done(number, None, 0.0, gone)
                    running.clear()
                continue
            task = running.pop(future)
            try:
                outcomes = future.result()  # (Dask: fetched now, computed again if its worker died since)
            except Exception as error:
                if not _worker_died(error):
                    raise
                died(task, error)
                continue
            for number, outcome in zip(task, outcomes, strict=True):
                cell_done(number, *outcome)
    except BaseException:  # interrupted (Ctrl-C) or a task failed: drop the work not yet done
        if not _client_gone(client):  # (a closed client cannot cancel)
            for future in running:
                future.cancel()
        raise


# Seconds between looks at a Dask client while no task finishes: one whose scheduler went
# away closes once its reconnection times out, and the futures it had never finish.
_CLIENT_CHECK_EVERY = 1.0


def _client_gone(client) -> str | None:
    """Why the Dask ``client`` can no longer run tasks (it closed), or None (running, or no client)."""
    status = getattr(client, "status", None)
    if client is None or status not in ("closing", "closed", "failed"):
        return None
    address = getattr(getattr(client, "scheduler", None), "address", None) or "its scheduler"
    return f"the Dask client closed (status {status!r}): the scheduler at {address} went away"


def _dask_client(executor):
    """The ``distributed.Client`` behind a Dask ``client.get_executor()``, else None."""
    cfexecutor = sys.modules.get("distributed.cfexecutor")  # not imported: not a Dask executor
    if cfexecutor is not None and isinstance(executor, cfexecutor.ClientExecutor):
        return getattr(executor, "_client", None)
    return None


def _again(attempt: int, train, *arguments):
    """``train(*arguments)``, submitted again after a worker died (``attempt`` makes it a new task)."""
    return train(*arguments)


# Worker deaths as other executors report them, by class (their packages may not be installed).
_DEATHS = {("distributed", "KilledWorker"), ("distributed", "CommClosedError"), ("loky", "TerminatedWorkerError")}


def _worker_died(error: BaseException) -> bool:
    """Whether ``error`` says that the process running a task died (or the executor
    dropped the task), rather than that the task's code failed: ``BrokenProcessPool``
    (stdlib, loky), Dask's ``KilledWorker`` (raised once the scheduler's
    ``distributed.scheduler.allowed-failures`` retries are used up) and
    ``CommClosedError``, or a cancelled future."""
    return isinstance(error, BrokenProcessPool | CancelledError) or any(
        (cls.__module__.partition(".")[0], cls.__name__) in _DEATHS for cls in type(error).__mro__)


def _death_reason(error: BaseException) -> str:
    message = str(error).strip().splitlines()
    what = f"{type(error).__name__}: {message[0]}" if message else type(error).__name__
    if isinstance(error, CancelledError):
        return f"the executor cancelled its task ({what})"
    return f"a worker process died ({what})"


@contextmanager
def cluster_executor(address: str, timeout: float = 10.0):
    """A Dask cluster's executor for ``sweep(..., executor=...)``, as a context manager::

        with mg.train.cluster_executor("tcp://scheduler:8786") as executor:
            result = mg.train.sweep(mg.train.LAB_GRID, "xor", executor=executor)

    It connects a ``distributed.Client`` to the scheduler at ``address`` (the ``cluster``
    extra: ``pip install "microgradnp[cluster]"``), yields ``client.get_executor()`` and
    closes the client on exit. The workers need microgradnp installed. A task whose worker
    dies is run again by the scheduler (``distributed.scheduler.allowed-failures`` times),
    then by the sweep (twice); after that its row says "failed" and why.

    Args:
        address: the scheduler's address, e.g. ``"tcp://10.0.0.5:8786"``.
        timeout: seconds to wait for the scheduler to answer.

    Raises:
        ImportError: ``distributed`` is not installed.
        ValueError: the scheduler cannot be reached at ``address`` within ``timeout``.
    """
    try:
        import distributed
    except ImportError:
        raise ImportError("sweep: a Dask cluster needs the distributed package: "
                          "pip install \"microgradnp[cluster]\"") from None
    problem = None
    try:
        # The address is checked before a Client exists: a Client that failed on a malformed
        # one would wait 20 s for its own shutdown, at the interpreter's exit.
        distributed.comm.resolve_address(address)
        client = distributed.Client(address, timeout=timeout, set_as_default=False)
    except (OSError, ValueError, TypeError) as error:
        text = str(error).strip().splitlines()
        problem = text[0] if text else type(error).__name__
    if problem is not None:  # raised here, not in the except: the failed client is freed with its traceback
        raise ValueError(f"sweep: cannot reach the Dask scheduler at {address}: {problem}")
    try:
        yield client.get_executor()
    finally:
        client.close()


class _SweepProgress:
    """A sweep's progress bar: the share of the work done, each configuration weighted by
    its work (``seeds x epochs x _work``), the configurations finished and the time left.

    The bar moves by whole configurations, of very different sizes (the largest run
    first) and ending early at their target accuracy, so tqdm's rate (epochs per second
    since the last update) would start anywhere, hours off. The time left here is the
    time so far scaled by the work left over the work trained (rows taken from ``cells``
    count as done, not as speed), and it is shown only from ``ESTIMATE_AFTER`` of the
    work on and once more configurations have finished than run at once (``at_once``),
    when it is not the share of one unfinished batch of parallel tasks."""

    ESTIMATE_AFTER = 0.1
    clock = staticmethod(time.perf_counter)

    def __init__(self, bar, work: list[int]) -> None:
        self.bar, self.work = bar, work
        self.at_once = 1  # configurations that run at the same time
        self.done = self.done_work = self.trained = self.trained_work = 0
        self.started = self.clock()

    @classmethod
    def start(cls, progress: bool | None, name: str, work: list[int]) -> _SweepProgress | None:
        """The bar of a sweep whose configurations have ``work``, or None (not shown)."""
        if not show_progress(progress):
            return None
        try:
            from tqdm.auto import tqdm
        except ImportError:  # the bar is an extra (pip install "microgradnp[progress]")
            return None
        # (no tqdm counts, rate or time left: they would be in units of work; the postfix says it)
        return cls(tqdm(total=sum(work), desc=f"sweep {name}", leave=False, mininterval=0.5,
                        bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}{postfix}",
                        postfix=f"0/{len(work)} configurations"), work)

    def finished(self, number: int, trained: bool = True) -> None:
        """Configuration ``number`` is done: trained now, or its row read from ``cells``."""
        self.done += 1
        self.done_work += self.work[number]
        if trained:
            self.trained += 1
            self.trained_work += self.work[number]
        left = self.time_left()
        estimate = "" if left is None else f", about {self.bar.format_interval(left)} left"
        self.bar.set_postfix_str(f"{self.done}/{len(self.work)} configurations{estimate}", refresh=False)
        self.bar.update(self.work[number])

    def time_left(self) -> float | None:
        """Seconds left, once enough work has been trained to tell; else None."""
        left = sum(self.work) - self.done_work
        if not self.trained or not left:
            return None
        if self.trained_work < self.ESTIMATE_AFTER * (self.trained_work + left) or self.trained <= self.at_once:
            return None
        return (self.clock() - self.started) * left / self.trained_work

    def close(self) -> None:
        self.bar.close()
