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
import io
import itertools
import json
import math
import numbers
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from microgradnp._files import write_bytes_atomically
from microgradnp._memory import keep_freed_memory
from microgradnp.data import make_linear, make_xor_easy
from microgradnp.nn.ensemble import Ensemble
from microgradnp.nn.layers import MLP
from microgradnp.optim import SGD, Adagrad, Adam, AdamW, RMSprop
from microgradnp.tensor import _data, get_default_dtype
from microgradnp.train.fit import fit, fit_ensemble

__all__ = ["LAB_DEFAULTS", "LAB_GRID", "SweepConfig", "SweepResult", "expand_grid", "sweep"]

LAB_DEFAULTS: Mapping[str, object] = MappingProxyType(
    {"lr": 0.1, "hidden": 50, "activation": "sigmoid", "optimizer": "sgd"})
"""The lab's default configuration; a grid's missing keys take these values."""

LAB_GRID: tuple[Mapping[str, tuple], ...] = (
    MappingProxyType({"lr": (0.1, 0.05, 0.01, 0.005)}),
    MappingProxyType({"hidden": tuple(range(10, 101, 10))}),
    MappingProxyType({"activation": ("sigmoid", "relu", "tanh", "none")}),
    MappingProxyType({"optimizer": ("sgd", "adam")}),
)
"""The lab's whole protocol as one grid: learning rates at 50 hidden units, hidden sizes
at lr 0.1, activations and optimizers at the default configuration (17 distinct
configurations: the 16 of the three main grids, and Adam)."""

DATASETS: Mapping[str, Callable[[], tuple[np.ndarray, np.ndarray]]] = MappingProxyType({
    "linear": lambda: make_linear(100, rng=0),  # the lab's fixed set: seed 0
    "xor": make_xor_easy,
    "xor_easy": make_xor_easy,
})

ACTIVATIONS = ("sigmoid", "relu", "tanh", "leaky_relu", "none")
"""Hidden activations a sweep can use, by ``nn.MLP``'s names."""

OPTIMIZERS: Mapping[str, type] = MappingProxyType(
    {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad})
"""Optimizers a sweep can use, by name; options other than the learning rate at their defaults."""

GRID_KEYS = tuple(LAB_DEFAULTS)
COLUMNS = ("lr", "hidden", "activation", "optimizer", "mean_stop_epoch", "stop_epoch_text", "never_converged",
           "best_accuracy", "mean_best_accuracy", "wall_time", "seeds", "stop_epochs", "best_accuracies", "statuses")
PER_SEED = ("seeds", "stop_epochs", "best_accuracies", "statuses")
# Below this many member-epochs a sweep is over in seconds: starting processes is not worth it.
PARALLEL_MIN_WORK = 500_000


@dataclass(frozen=True)
class SweepConfig:
    """One cell of a sweep: the network ``MLP(in, (hidden, hidden), 1, activation)`` with a
    sigmoid output and MSE loss, trained by ``optimizer`` (a name in ``OPTIMIZERS``) at ``lr``."""

    lr: float
    hidden: int
    activation: str
    optimizer: str


# -- the grid ---------------------------------------------------------------------------------
def expand_grid(grid: Mapping | Sequence[Mapping]) -> list[SweepConfig]:
    """The configurations of ``grid``, in order, without duplicates.

    ``grid`` maps "lr", "hidden", "activation" and "optimizer" to a value or a list of
    values; keys left out take the lab's defaults (``LAB_DEFAULTS``). The configurations
    are the product of the lists, the first key varying slowest. ``grid`` may also be a
    list of such mappings: the union of their products, in order, each configuration
    once (``LAB_GRID`` is the lab's protocol written so).

    Optimizers are names; a grid gives every optimizer the same learning rates. To give
    Adam its own, list two grids: ``[{"optimizer": "sgd"}, {"optimizer": "adam", "lr": 0.01}]``.

    Raises:
        ValueError: an unknown key, an empty list, or a value that is not a positive
            learning rate, a positive hidden size, a known activation or optimizer.
    """
    if isinstance(grid, Mapping):
        grids = [grid]
    elif isinstance(grid, Sequence) and not isinstance(grid, str) and grid:
        grids = list(grid)
    else:
        raise ValueError(f"sweep: grid must be a mapping such as {{'lr': [0.1, 0.01]}} or a non-empty list of them, "
                         f"got {grid!r}")
    configs: dict[SweepConfig, None] = {}  # a dict keeps the first-seen order
    for i, one in enumerate(grids):
        if not isinstance(one, Mapping):
            raise ValueError(f"sweep: grid entry {i} must be a mapping such as {{'lr': [0.1, 0.01]}}, got {one!r}")
        unknown = [key for key in one if key not in GRID_KEYS]
        if unknown:
            raise ValueError(f"sweep: unknown grid key {unknown[0]!r}: use {', '.join(map(repr, GRID_KEYS))}")
        keys = [*one, *(key for key in GRID_KEYS if key not in one)]
        values = [_grid_values(key, one.get(key, LAB_DEFAULTS[key])) for key in keys]
        for combination in itertools.product(*values):
            configs.setdefault(SweepConfig(**dict(zip(keys, combination))), None)
    return list(configs)


def _grid_values(key: str, value) -> list:
    values = [value] if isinstance(value, str | bytes) or not isinstance(value, Iterable) else list(value)
    if not values:
        raise ValueError(f"sweep: grid key {key!r} has no values")
    return [_CHECKS[key](v) for v in values]


def _check_lr(value) -> float:
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value) and value > 0:
        return float(value)
    raise ValueError(f"sweep: a learning rate must be a positive number, got {value!r}")


def _check_hidden(value) -> int:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1:
        return int(value)
    raise ValueError(f"sweep: 'hidden' (units in each of the two hidden layers) must be a positive integer, "
                     f"got {value!r}")


def _check_activation(value) -> str:
    name = "none" if value is None else value.lower() if isinstance(value, str) else value
    if name in ACTIVATIONS:
        return name
    raise ValueError(f"sweep: unknown activation {value!r}: use one of {', '.join(map(repr, ACTIVATIONS))}")


def _check_optimizer(value) -> str:
    name = value.lower() if isinstance(value, str) else value
    if name in OPTIMIZERS:
        return name
    raise ValueError(f"sweep: unknown optimizer {value!r}: use one of {', '.join(map(repr, OPTIMIZERS))} (the learning "
                     "rate comes from 'lr'; for a per-optimizer lr pass a list of grids, e.g. "
                     "[{'optimizer': 'sgd'}, {'optimizer': 'adam', 'lr': 0.01}])")


_CHECKS = {"lr": _check_lr, "hidden": _check_hidden, "activation": _check_activation, "optimizer": _check_optimizer}


# -- the result -------------------------------------------------------------------------------
@dataclass
class SweepResult:
    """A sweep's table: one row (a dict) per configuration, in grid order.

    Each row holds the configuration (``lr``, ``hidden``, ``activation``,
    ``optimizer``); ``mean_stop_epoch``, the mean over seeds of the epoch that reached
    the target accuracy (None when a seed never did), and ``stop_epoch_text``, the
    same for the table ("12345.6", or "100000+" with the epoch cap); ``never_converged``,
    the seeds that never reached it (divergence to nan included); ``best_accuracy``,
    the best accuracy of any seed, and ``mean_best_accuracy``, the mean of each seed's
    best; ``wall_time``, the seconds its seeds took to train; and per seed, in
    ``seeds`` order: ``stop_epochs`` (None where not reached), ``best_accuracies`` and
    ``statuses`` ("reached", "completed" or "diverged", as ``History.status``). A
    configuration whose task failed (its worker process died, twice) has the statuses
    "failed", ``stop_epoch_text`` "failed" and the reason in ``error``.
    """

    rows: list[dict]
    dataset: str
    seeds: list[int]
    epochs: int
    stop_at_accuracy: float
    vectorized: bool = True
    wall_time: float = 0.0
    workers: int = 1
    dtype: str = "float64"

    def to_dict(self) -> dict:
        """The settings and rows as plain numbers, strings and lists (``json.dump``-able)."""
        return {"dataset": self.dataset, "seeds": list(self.seeds), "epochs": self.epochs,
                "stop_at_accuracy": self.stop_at_accuracy, "vectorized": self.vectorized,
                "workers": self.workers, "dtype": self.dtype, "wall_time": self.wall_time,
                "rows": [dict(row) for row in self.rows]}

    def to_markdown(self) -> str:
        """The lab's table as Markdown (also readable as plain text)."""
        header = ("lr", "hidden", "activation", "optimizer", "stop epoch (mean)", "never converged", "best acc",
                  "mean best acc", "time (s)")
        lines = [header]
        for row in self.rows:
            lines.append((f"{row['lr']:g}", str(row["hidden"]), row["activation"], row["optimizer"],
                          row["stop_epoch_text"], f"{row['never_converged']}/{len(row['seeds'])}",
                          f"{100 * row['best_accuracy']:.2f}%", f"{100 * row['mean_best_accuracy']:.2f}%",
                          f"{row['wall_time']:.2f}"))
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        right = [i not in (2, 3) for i in range(len(header))]  # numbers right-aligned, names left

        def cells(line):
            return "| " + " | ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(line, widths, right)) + " |"

        rule = "|" + "|".join(("-" * (w + 1) + ":") if r else ("-" * (w + 2)) for w, r in zip(widths, right)) + "|"
        return "\n".join([cells(lines[0]), rule, *(cells(line) for line in lines[1:])]) + "\n"

    def to_csv(self, path) -> None:
        """Write the rows as CSV, atomically; per-seed lists are JSON in their cells."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in self.rows:
            writer.writerow([json.dumps(row[c]) if c in PER_SEED else "" if row[c] is None else row[c]
                             for c in COLUMNS])
        write_bytes_atomically(path, buffer.getvalue().encode())

    def to_json(self, path) -> None:
        """Write :meth:`to_dict` as JSON, atomically."""
        write_bytes_atomically(path, (json.dumps(self.to_dict(), indent=2) + "\n").encode())

    def __str__(self) -> str:
        mode = "vectorised" if self.vectorized else "one run at a time"
        return (f"sweep on {self.dataset!r}: {len(self.rows)} configurations x {len(self.seeds)} seeds, "
                f"up to {self.epochs} epochs, target accuracy {self.stop_at_accuracy:g}, {self.dtype}, {mode}, "
                f"{self.wall_time:.1f}s\n\n{self.to_markdown()}")

    def __repr__(self) -> str:
        return (f"SweepResult(dataset={self.dataset!r}, configs={len(self.rows)}, seeds={len(self.seeds)}, "
                f"epochs={self.epochs}, vectorized={self.vectorized}, wall_time={self.wall_time:.2f}s)")


def _row(config: SweepConfig, seeds: Sequence[int], results: Sequence[_SeedResult] | None, epochs: int,
         seconds: float, error: str = "") -> dict:
    """The table's row of one configuration; ``results`` None (with ``error``) when it failed."""
    if results is None:
        return {"lr": config.lr, "hidden": config.hidden, "activation": config.activation,
                "optimizer": config.optimizer, "mean_stop_epoch": None, "stop_epoch_text": "failed",
                "never_converged": len(seeds), "best_accuracy": float("nan"), "mean_best_accuracy": float("nan"),
                "wall_time": seconds, "seeds": list(seeds), "stop_epochs": [None] * len(seeds),
                "best_accuracies": [float("nan")] * len(seeds), "statuses": ["failed"] * len(seeds),
                "error": error}
    stops = [r.stop_epoch for r in results]
    best = [r.best_accuracy for r in results]
    never = sum(s is None for s in stops)
    mean_stop = None if never else float(np.mean(stops))
    return {"lr": config.lr, "hidden": config.hidden, "activation": config.activation,
            "optimizer": config.optimizer, "mean_stop_epoch": mean_stop,
            "stop_epoch_text": f"{epochs}+" if never else f"{mean_stop:.1f}", "never_converged": never,
            "best_accuracy": max(best), "mean_best_accuracy": float(np.mean(best)),
            "wall_time": seconds, "seeds": list(seeds), "stop_epochs": stops,
            "best_accuracies": best, "statuses": [r.status for r in results]}


# -- the sweep --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Settings:
    epochs: int
    stop_at_accuracy: float
    threshold: float
    dtype: np.dtype


@dataclass(frozen=True)
class _SeedResult:
    """How one seed's run of a configuration ended (``History.status``; the stop epoch
    only when the target was reached)."""

    status: str
    stop_epoch: int | None
    best_accuracy: float


def sweep(grid, dataset, seeds=10, epochs: int = 100_000, stop_at_accuracy: float = 1.0, *, vectorize: bool = True,
          workers: int | None = None, executor: Executor | None = None, progress: bool = True,
          on_row: Callable[[dict], None] | None = None, threshold: float = 0.5, dtype=None) -> SweepResult:
    """Train every configuration of ``grid`` from every seed and tabulate the lab's numbers.

    Each run is the lab's: ``nn.MLP(d, (hidden, hidden), 1, activation=...,
    output_activation="sigmoid", rng=seed)`` trained full batch with MSE by the
    ``optimizer`` at ``lr`` (``optim.SGD``, ``Adam``, ``AdamW``, ``RMSprop`` or ``Adagrad``,
    other options at their defaults), accuracy at ``threshold`` on the training
    points, stopping at the first epoch whose forward pass reaches ``stop_at_accuracy``
    (before that epoch's update) or after ``epochs``: exactly
    ``fit(..., stop_at_accuracy=stop_at_accuracy)``.

    Args:
        grid: a mapping of "lr", "hidden", "activation", "optimizer" to values or lists
            of values (missing keys take ``LAB_DEFAULTS``), or a list of such mappings;
            see :func:`expand_grid`. ``LAB_GRID`` is the lab's whole protocol.
        dataset: "linear" (``make_linear(100, rng=0)``), "xor" (``make_xor_easy()``), or
            an ``(X, y)`` pair with 0/1 labels.
        seeds: how many seeds (0, 1, ..., seeds - 1), or a list of distinct seeds.
        epochs: the epoch cap of every run.
        stop_at_accuracy: the target accuracy, in (0, 1].
        vectorize: train all seeds of a configuration as one ``nn.Ensemble`` with
            ``fit_ensemble`` (the default). False runs ``fit`` once per seed: slower, and
            the reference the ensemble's members equal.
        workers: processes; None picks one per core for sweeps long enough to repay
            starting them, 1 stays in this process. Each configuration is one task on a
            ``loky`` process pool (the ``parallel`` extra): no ``if __name__ ==
            "__main__":`` guard needed, workers exit with this process, and a worker that
            dies is replaced and its configurations run again (twice at most; then their
            rows say why they failed).
        executor: run the configurations on this ``concurrent.futures.Executor`` instead,
            e.g. a Dask cluster's ``client.get_executor()`` (it is not shut down).
        progress: show a progress bar (tqdm, when installed) over the sweep's epochs.
        on_row: called with each row as soon as all seeds of its configuration have
            finished (so not necessarily in grid order with workers), e.g. to save rows
            as they come.
        threshold: a prediction above it is class 1.
        dtype: the floating-point type of the networks and data (default: the default
            dtype, float64 unless changed). float32 halves the time of the big layers;
            its stop epochs differ from float64's by rounding, and equal those of
            float32 runs one at a time.

    Returns:
        A :class:`SweepResult`, rows in grid order.
    """
    configs = expand_grid(grid)
    name, X, y = _dataset(dataset)
    seeds = _seeds(seeds)
    if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 1:
        raise ValueError(f"sweep: epochs must be a positive integer, got {epochs!r}")
    if (isinstance(stop_at_accuracy, bool) or not isinstance(stop_at_accuracy, numbers.Real)
            or not 0 < stop_at_accuracy <= 1):
        raise ValueError(f"sweep: stop_at_accuracy must be a number in (0, 1], got {stop_at_accuracy!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, numbers.Integral)
                                or workers < 1):
        raise ValueError(f"sweep: workers must be a positive integer or None, got {workers!r}")
    settings = _Settings(int(epochs), float(stop_at_accuracy), float(threshold), _float_dtype(dtype))
    X, y = X.astype(settings.dtype, copy=False), y.astype(settings.dtype, copy=False)

    rows: list[dict | None] = [None] * len(configs)
    bar = _progress_bar(len(configs) * len(seeds) * settings.epochs, progress, name)

    def cell_done(number: int, results: list[_SeedResult] | None, seconds: float, error: str = "") -> None:
        row = _row(configs[number], seeds, results, settings.epochs, seconds, error)
        rows[number] = row
        if bar is not None:
            bar.update(len(seeds) * settings.epochs)
            bar.set_postfix_str(f"{sum(r is not None for r in rows)}/{len(rows)} configurations", refresh=False)
        if on_row is not None:
            on_row(row)

    train = _train_cells if vectorize else _fit_cells
    tasks = _tasks(configs, X.shape[1])
    started = time.perf_counter()
    used_workers = 1
    try:
        if executor is None:
            used_workers = _workers(workers, settings, len(seeds) * len(configs))
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
    return SweepResult(rows, name, seeds, settings.epochs, settings.stop_at_accuracy, bool(vectorize),
                       time.perf_counter() - started, used_workers, settings.dtype.name)


def _dataset(dataset) -> tuple[str, np.ndarray, np.ndarray]:
    if isinstance(dataset, str):
        if dataset not in DATASETS:
            raise ValueError(f"sweep: unknown data set {dataset!r}: use {', '.join(map(repr, DATASETS))}, "
                             "or pass an (X, y) pair")
        return (dataset, *DATASETS[dataset]())
    if isinstance(dataset, Sequence) and len(dataset) == 2:
        X, y = (np.asarray(_data(a)) for a in dataset)
        if X.ndim == 2 and len(X) > 0 and y.size == len(X) and X.dtype.kind in "fiub" and y.dtype.kind in "fiub":
            return "custom", X.astype(float, copy=False), y.reshape(-1, 1).astype(float, copy=False)
    raise ValueError("sweep: dataset must be 'linear', 'xor' or an (X, y) pair with X of shape (n, features) and "
                     f"n 0/1 labels in y, got {_describe(dataset)}")


def _describe(value) -> str:
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


def _lab_model(config: SweepConfig, seed: int, n_inputs: int, dtype) -> MLP:
    return MLP(n_inputs, (config.hidden, config.hidden), 1, activation=config.activation,
               output_activation="sigmoid", dtype=dtype, rng=seed)


def _tasks(configs: Sequence[SweepConfig], n_inputs: int) -> list[tuple[int, ...]]:
    """One task per configuration (so that each row arrives as soon as its seeds are
    done), the most work first. (Grouping the configurations that differ only in learning
    rate into one ensemble was measured: no faster on the lab's protocol.)"""
    return sorted(((n,) for n in range(len(configs))),
                  key=lambda task: -configs[task[0]].hidden * (configs[task[0]].hidden + n_inputs + 8))


def _train_cells(configs: Sequence[SweepConfig], seeds, X, y, settings: _Settings) -> list[tuple[list, float]]:
    """Configurations of one network and optimizer, all their seeds as one ``nn.Ensemble``
    (a learning rate per member), by ``fit_ensemble``. Per configuration: its seeds'
    results and its share of the time."""
    started = time.perf_counter()
    members = [(config, seed) for config in configs for seed in seeds]
    ensemble = Ensemble([_lab_model(config, seed, X.shape[1], settings.dtype) for config, seed in members])
    optimizer = OPTIMIZERS[configs[0].optimizer](ensemble.parameters(),
                                                 lr=ensemble.per_member([config.lr for config, _ in members]))
    histories = fit_ensemble(ensemble, X, y, "mse", optimizer, settings.epochs,
                             stop_at_accuracy=settings.stop_at_accuracy, threshold=settings.threshold)
    share = (time.perf_counter() - started) / len(configs)
    n = len(seeds)
    return [([_seed_result(h) for h in histories[i * n:(i + 1) * n]], share) for i in range(len(configs))]


def _fit_cells(configs: Sequence[SweepConfig], seeds, X, y, settings: _Settings) -> list[tuple[list, float]]:
    """Each configuration one seed at a time by ``fit``: the reference an ensemble's members equal."""
    outcomes = []
    for config in configs:
        started = time.perf_counter()
        results = []
        for seed in seeds:
            model = _lab_model(config, seed, X.shape[1], settings.dtype)
            optimizer = OPTIMIZERS[config.optimizer](model.parameters(), lr=config.lr)
            # fit's divergence message would be one line per diverging seed: the row's statuses say it.
            history = fit(model, X, y, "mse", optimizer, settings.epochs, stop_at_accuracy=settings.stop_at_accuracy,
                          threshold=settings.threshold, progress=False, file=io.StringIO())
            results.append(_seed_result(history))
        outcomes.append((results, time.perf_counter() - started))
    return outcomes


def _seed_result(history) -> _SeedResult:
    return _SeedResult(history.status, history.stop_epoch if history.converged else None, history.best_accuracy)


def _workers(workers: int | None, settings: _Settings, runs: int) -> int:
    if workers is None:
        if runs * settings.epochs < PARALLEL_MIN_WORK:
            return 1
        workers = os.cpu_count() or 1
    return max(1, min(workers, runs))


# With one process per core, BLAS threads only compete with the other workers (OpenBLAS's
# spin-waiting threads make small products several times slower under such contention).
_ONE_BLAS_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
POOL_RESTARTS = 2  # worker deaths a sweep survives before it gives the unfinished rows up


def _run_on_executor(train, tasks, configs, seeds, X, y, settings, executor, workers: int, cell_done) -> int:
    """Run ``train`` on each task (a tuple of configuration numbers) on ``executor`` (or on
    a loky process pool of ``workers``), calling ``cell_done`` for each configuration as its
    task finishes. Returns the worker count (0 for a given executor)."""
    own = executor is None
    if own:
        try:
            import loky
        except ImportError:
            raise ImportError("sweep: workers > 1 run on a loky process pool: pip install \"microgradnp[parallel]\" "
                              "(or pass workers=1)") from None
        broken = (loky.process_executor.TerminatedWorkerError, loky.process_executor.BrokenProcessPool)
    else:
        from concurrent.futures.process import BrokenProcessPool
        broken = (BrokenProcessPool,)
    pending = set(tasks)
    restarts = 0
    while pending:
        pool = loky.ProcessPoolExecutor(workers, env=_ONE_BLAS_THREAD, initializer=keep_freed_memory) if own \
            else executor
        reason = None
        try:
            futures = {pool.submit(train, [configs[n] for n in task], seeds, X, y, settings): task
                       for task in tasks if task in pending}
            for future in as_completed(futures):
                task = futures[future]
                try:
                    outcomes = future.result()
                except broken as error:
                    reason = f"a worker process died ({type(error).__name__}: {str(error).splitlines()[0]})"
                    break
                pending.discard(task)
                for number, outcome in zip(task, outcomes, strict=True):
                    cell_done(number, *outcome)
        except BaseException:
            if own:  # interrupted (Ctrl-C) or a task failed: stop the workers now
                pool.shutdown(wait=False, kill_workers=True)
            raise
        if own:
            pool.shutdown(wait=reason is None, kill_workers=reason is not None)
        if reason is not None:
            restarts += 1
            if restarts > POOL_RESTARTS:
                for number in sorted(n for task in pending for n in task):
                    cell_done(number, None, 0.0, reason)
                break
    return workers if own else 0


def _progress_bar(total: int, enabled: bool, name: str):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # the bar is an extra (pip install "microgradnp[progress]")
        return None
    return tqdm(total=total, desc=f"sweep {name}", unit="epoch", unit_scale=True, leave=False, mininterval=0.5)
