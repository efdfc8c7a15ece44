"""``sweep``: the lab's grid of learning rates x hidden sizes x activations x optimizers,
each configuration trained from several seeds, and the table it produces (``SweepResult``).

The lab's protocol is one call::

    result = mg.train.sweep(mg.train.LAB_GRID, "xor")
    print(result.to_markdown())

By default the sweep is vectorised: all seeds and learning rates of one architecture
train together as one :class:`~microgradnp.train.batched.BatchedMLP`, and the
architectures are shared out over worker processes, one per core. Every seed's numbers
equal those of a one-at-a-time ``fit`` run (``vectorize=False``) bit for bit.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import math
import multiprocessing
import numbers
import os
import queue
import signal
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from microgradnp._files import write_bytes_atomically
from microgradnp.data import make_linear, make_xor_easy
from microgradnp.nn.layers import MLP
from microgradnp.optim import SGD, Adam
from microgradnp.tensor import _data, get_default_dtype
from microgradnp.train.batched import ACTIVATIONS, OPTIMIZERS, BatchedMLP, Handoff, MemberResult
from microgradnp.train.fit import fit

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

GRID_KEYS = tuple(LAB_DEFAULTS)
COLUMNS = ("lr", "hidden", "activation", "optimizer", "mean_stop_epoch", "stop_epoch_text", "never_converged",
           "best_accuracy", "mean_best_accuracy", "wall_time", "seeds", "stop_epochs", "best_accuracies", "statuses")
PER_SEED = ("seeds", "stop_epochs", "best_accuracies", "statuses")
# Below this many member-epochs a sweep is over in seconds: starting processes is not worth it.
PARALLEL_MIN_WORK = 500_000


@dataclass(frozen=True)
class SweepConfig:
    """One cell of a sweep: the network ``MLP(in, (hidden, hidden), 1, activation)`` with a
    sigmoid output and MSE loss, trained by ``optimizer`` ("sgd" or "adam") at ``lr``."""

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
    raise ValueError(f"sweep: unknown optimizer {value!r}: use {' or '.join(map(repr, OPTIMIZERS))} (the learning "
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
    best; ``wall_time``, the seconds of compute spent on it (in a vectorised sweep, its
    share of the batched steps it took part in); and per seed, in ``seeds`` order:
    ``stop_epochs`` (None where not reached), ``best_accuracies`` and ``statuses``
    ("reached", "completed" or "diverged", as ``History.status``).
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


def _row(config: SweepConfig, seeds: Sequence[int], results: Sequence[MemberResult], epochs: int) -> dict:
    stops = [r.stop_epoch for r in results]
    best = [r.best_accuracy for r in results]
    never = sum(s is None for s in stops)
    mean_stop = None if never else float(np.mean(stops))
    return {"lr": config.lr, "hidden": config.hidden, "activation": config.activation,
            "optimizer": config.optimizer, "mean_stop_epoch": mean_stop,
            "stop_epoch_text": f"{epochs}+" if never else f"{mean_stop:.1f}", "never_converged": never,
            "best_accuracy": max(best), "mean_best_accuracy": float(np.mean(best)),
            "wall_time": float(sum(r.seconds for r in results)), "seeds": list(seeds), "stop_epochs": stops,
            "best_accuracies": best, "statuses": [r.status for r in results]}


# -- the sweep --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Settings:
    epochs: int
    stop_at_accuracy: float
    threshold: float
    dtype: np.dtype


@dataclass(frozen=True)
class _Batch:
    """Configurations sharing one architecture, trained together: member ``k`` is
    ``members[k] = (configuration number, seed)``."""

    number: int
    hidden: int
    activation: str
    optimizer: str
    members: tuple[tuple[int, int], ...]
    lrs: tuple[float, ...]

    def cost(self, n_inputs: int) -> float:
        """Relative work per epoch, to start the big batches first."""
        return len(self.members) * (self.hidden * (self.hidden + n_inputs + 8))


def sweep(grid, dataset, seeds=10, epochs: int = 100_000, stop_at_accuracy: float = 1.0, *, vectorize: bool = True,
          workers: int | None = None, progress: bool = True, on_row: Callable[[dict], None] | None = None,
          threshold: float = 0.5, dtype=None) -> SweepResult:
    """Train every configuration of ``grid`` from every seed and tabulate the lab's numbers.

    Each run is the lab's: ``nn.MLP(d, (hidden, hidden), 1, activation=...,
    output_activation="sigmoid", rng=seed)`` trained full batch with MSE by
    ``optim.SGD(lr)`` or ``optim.Adam(lr)``, accuracy at ``threshold`` on the training
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
        vectorize: train all seeds and learning rates of an architecture as one batched
            model (the default). False runs ``fit`` once per configuration and seed, in
            this process: slow, and the reference the batched runs equal.
        workers: processes for a vectorised sweep; None picks one per core for sweeps
            long enough to repay starting them, 1 stays in this process. Workers are
            started with "spawn": a script calling ``sweep`` from its top level needs the
            usual ``if __name__ == "__main__":`` guard.
        progress: show a progress bar (tqdm, when installed) over the sweep's epochs.
        on_row: called with each row as soon as all seeds of its configuration have
            finished (so not necessarily in grid order when vectorised), e.g. to save
            rows as they come.
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
    finished: list[dict[int, MemberResult]] = [{} for _ in configs]
    seed_position = {seed: k for k, seed in enumerate(seeds)}
    bar = _progress_bar(len(configs) * len(seeds) * settings.epochs, progress, name)

    def member_done(config_number: int, seed: int, result: MemberResult) -> None:
        done = finished[config_number]
        done[seed_position[seed]] = result
        if len(done) == len(seeds):
            row = _row(configs[config_number], seeds, [done[k] for k in range(len(seeds))], settings.epochs)
            rows[config_number] = row
            if bar is not None:
                bar.set_postfix_str(f"{sum(r is not None for r in rows)}/{len(rows)} configurations", refresh=False)
            if on_row is not None:
                on_row(row)

    advance = bar.update if bar is not None else (lambda n: None)
    started = time.perf_counter()
    used_workers = 1
    try:
        if vectorize:
            batches = _batches(configs, seeds)
            used_workers = _workers(workers, settings, len(seeds) * len(configs))
            if used_workers > 1:
                _run_in_processes(batches, X, y, settings, used_workers, member_done, advance)
            else:
                for batch in sorted(batches, key=lambda b: -b.cost(X.shape[1])):
                    _train_batch(batch, X, y, settings, member_done, advance)
        else:
            for number, config in enumerate(configs):
                for seed in seeds:
                    member_done(number, seed, _fit_one(config, seed, X, y, settings))
                    advance(settings.epochs)
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


def _batches(configs: Sequence[SweepConfig], seeds: Sequence[int]) -> list[_Batch]:
    """One batch per architecture (hidden size, activation, optimizer): its learning
    rates and seeds all train together."""
    groups: dict[tuple, list[int]] = {}
    for number, c in enumerate(configs):
        groups.setdefault((c.hidden, c.activation, c.optimizer), []).append(number)
    batches = []
    for i, ((hidden, activation, optimizer), numbers_) in enumerate(groups.items()):
        members = tuple((number, seed) for number in numbers_ for seed in seeds)
        batches.append(_Batch(i, hidden, activation, optimizer, members,
                              tuple(configs[number].lr for number, _ in members)))
    return batches


def _train_batch(batch: _Batch, X, y, settings: _Settings, member_done, advance, handoff: Handoff | None = None,
                 split=None, on_split=None) -> None:
    """Train ``batch``, or the part of it that ``handoff`` carries on from another run."""
    sizes = (X.shape[1], batch.hidden, batch.hidden, 1)
    if handoff is None:
        model = BatchedMLP.from_seeds(sizes, [s for _, s in batch.members], batch.activation, dtype=settings.dtype)
        lrs = batch.lrs
    else:
        model, lrs = handoff.model(sizes, batch.activation), handoff.lr
    model._train(X, y, lrs, settings.epochs, batch.optimizer, stop_at_accuracy=settings.stop_at_accuracy,
                 threshold=settings.threshold, on_finish=lambda r: member_done(*batch.members[r.index], r),
                 on_progress=advance, resume=handoff, split=split, on_split=on_split)


def _fit_one(config: SweepConfig, seed: int, X, y, settings: _Settings) -> MemberResult:
    """One configuration from one seed by ``fit``: the reference a batched member equals."""
    model = MLP(X.shape[1], (config.hidden, config.hidden), 1, activation=config.activation,
                output_activation="sigmoid", dtype=settings.dtype, rng=seed)
    optimizer = (Adam if config.optimizer == "adam" else SGD)(model.parameters(), lr=config.lr)
    # fit's divergence message would be one line per diverging seed: the row's statuses say it.
    history = fit(model, X, y, "mse", optimizer, settings.epochs, stop_at_accuracy=settings.stop_at_accuracy,
                  threshold=settings.threshold, progress=False, file=io.StringIO())
    return MemberResult(0, history.status, history.stop_epoch if history.converged else None, history.epochs,
                        history.best_accuracy, history.wall_time)


def _workers(workers: int | None, settings: _Settings, runs: int) -> int:
    if workers is None:
        if runs * settings.epochs < PARALLEL_MIN_WORK:
            return 1
        workers = os.cpu_count() or 1
    return max(1, min(workers, runs))  # more workers than batches is fine: busy ones hand members over


# -- worker processes -------------------------------------------------------------------------
@contextlib.contextmanager
def _single_threaded_blas():
    """Environment for the workers: one BLAS thread each. With one process per core,
    BLAS threads only compete with the other workers (OpenBLAS's spin-waiting threads
    make small products several times slower under such contention)."""
    names = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(dict.fromkeys(names, "1"))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _run_in_processes(batches, X, y, settings, workers: int, member_done, advance) -> None:
    """Train the batches in ``workers`` processes, biggest first. When a worker runs out
    of batches while another is still training, the busy one hands half of its live
    members over (they carry on bit for bit: members never interact), so both cores
    stay busy to the end even when one batch holds most of the work."""
    context = multiprocessing.get_context("spawn")  # fork would copy a BLAS already running its threads
    tasks, messages = context.Queue(), context.Queue()
    asks = [context.Value("b", 0, lock=False) for _ in range(workers)]  # "hand over half, please"
    processes = [context.Process(target=_worker, args=(w, tasks, messages, asks[w], X, y, settings), daemon=True,
                                 name=f"microgradnp-sweep-{w}") for w in range(workers)]
    for batch in sorted(batches, key=lambda b: -b.cost(X.shape[1])):
        tasks.put((batch, None))
    queued = outstanding = len(batches)
    live: dict[int, int] = {}  # busy worker -> members it is training
    asked = None  # the worker asked to hand over, until it answers
    declined: set[int] = set()  # workers whose current task cannot be split
    try:
        with _single_threaded_blas():
            for process in processes:
                process.start()
        while outstanding:
            try:
                kind, worker, *payload = messages.get(timeout=0.5)
            except queue.Empty:
                if any(p.exitcode not in (None, 0) for p in processes):
                    raise RuntimeError("sweep: a worker process died (out of memory?); "
                                       "try workers=1 to run in this process") from None
                continue
            if kind == "member":
                live[worker] -= 1
                member_done(*payload)
            elif kind == "progress":
                advance(payload[0])
            elif kind == "start":
                queued -= 1
                live[worker] = payload[0]
                declined.discard(worker)
            elif kind == "split":
                batch, handoff = payload
                tasks.put((batch, handoff))
                queued += 1
                outstanding += 1
                live[worker] -= len(handoff.members)
                asked = None
            elif kind == "declined":
                declined.add(worker)
                asked = None
            elif kind == "done":
                outstanding -= 1
                del live[worker]
                asked = None if asked == worker else asked
            else:
                raise RuntimeError(f"sweep: a worker process failed:\n{payload[0]}")
            if asked is None and not queued and len(live) < workers:
                candidates = [w for w, m in live.items() if m > 1 and w not in declined]
                if candidates:
                    asked = max(candidates, key=live.__getitem__)
                    asks[asked].value = 1
        for _ in processes:
            tasks.put(None)
    finally:
        if outstanding:  # interrupted (Ctrl-C), or a worker failed: the others stop now
            for process in processes:
                if process.is_alive():
                    process.terminate()
        for process in processes:
            if process.pid is not None:
                process.join()


def _worker(number: int, tasks, messages, ask, X, y, settings: _Settings) -> None:
    """A worker's loop: train tasks until the sentinel, reporting each finished member."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops us

    def split(live: int) -> int:
        if not ask.value:
            return 0
        ask.value = 0
        if live < 2:
            messages.put(("declined", number))
            return 0
        return live // 2

    while (task := tasks.get()) is not None:
        batch, handoff = task
        ask.value = 0
        messages.put(("start", number, len(batch.members if handoff is None else handoff.members)))
        try:
            _train_batch(batch, X, y, settings, lambda *member: messages.put(("member", number, *member)),
                         lambda n: messages.put(("progress", number, n)), handoff, split,
                         lambda gone, batch=batch: messages.put(("split", number, batch, gone)))
        except BaseException:
            messages.put(("error", number, traceback.format_exc()))
            return
        messages.put(("done", number))


def _progress_bar(total: int, enabled: bool, name: str):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # the bar is an extra (pip install "microgradnp[progress]")
        return None
    return tqdm(total=total, desc=f"sweep {name}", unit="epoch", unit_scale=True, leave=False, mininterval=0.5)
