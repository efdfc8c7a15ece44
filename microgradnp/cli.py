"""``microgradnp`` (or ``python -m microgradnp``): the lab's experiments from the shell.

    microgradnp train --dataset xor --lr 1 --out out/xor
    microgradnp sweep --protocol lab --out results
    microgradnp graph --hidden 4 4 --backward --format png --out graph.png

Every option can also come from a TOML file (``--config run.toml``, keys named like
the options with underscores) and gets the same checks; options given on the command
line win. Bad arguments, config values and outputs that cannot be written exit with
status 2 and one line saying what is wrong; an interrupted run (Ctrl-C, SIGTERM) with
status 130 and one line saying what was kept.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import sys
import threading
import tomllib
from pathlib import Path

from microgradnp._files import write_bytes_atomically

DATASETS = ("linear", "xor", "moons", "circles", "spiral")
ACTIVATIONS = ("sigmoid", "relu", "tanh", "leaky_relu", "none")
LOSSES = ("mse", "mse/2", "bce", "bce_with_logits", "cross_entropy")
SWEEP_LOSSES = ("mse", "mse/2", "bce", "bce_with_logits")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad", "adamax", "nadam", "radam", "adadelta", "rprop",
              "asgd", "adafactor")  # runs.OPTIMIZERS
GRAPH_FORMATS = ("svg", "png", "pdf", "dot")

# What a run uses when neither the command line nor the config says: the lab's network.
MODEL_DEFAULTS = {"dataset": "xor", "n": 100, "data_seed": 0, "hidden": [50, 50], "activation": "sigmoid",
                  "output_activation": "sigmoid", "bias": True, "init": "default", "bias_init": "default",
                  "conv1d_channels": 0, "seed": 0}
TRAIN_DEFAULTS = {**MODEL_DEFAULTS, "loss": "mse", "optimizer": "sgd", "lr": 0.1, "momentum": 0.0,
                  "nesterov": False, "weight_decay": 0.0, "betas": None, "optimizer_options": "",
                  "epochs": 100_000, "batch_size": None,
                  "stop_at_accuracy": 1.0, "test_size": None, "log_every": 1000, "out": "out/train",
                  "progress": None, "compile": True}
GRAPH_DEFAULTS = {**MODEL_DEFAULTS, "loss": "mse", "backward": False, "format": None, "out": "graph.svg",
                  "order": False, "show": ["op", "shape", "data", "grad"], "rankdir": "auto", "max_nodes": 300,
                  "group_modules": True}
# The sweep's grid keys (mg.train.LAB_DEFAULTS) are None here: not given, the lab's default.
SWEEP_GRID_KEYS = ("lr", "hidden", "activation", "optimizer", "output_activation", "loss", "bias", "init",
                   "bias_init", "momentum", "nesterov", "weight_decay", "betas", "optimizer_options",
                   "conv1d_channels", "stop_at_accuracy")
SWEEP_DEFAULTS = {"datasets": ["linear", "xor"], "n": 100, "data_seed": 0, "test_size": None, "protocol": None,
                  "grid": None, **dict.fromkeys(SWEEP_GRID_KEYS), "seeds": 10, "epochs": 100_000,
                  "out": "results", "progress": None, "vectorize": True, "dtype": "float64", "workers": None,
                  "scheduler": None, "resume": False}


class UsageError(Exception):
    """A bad option, value or config file: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")

    def parse_args(self, args=None, namespace=None):
        # argparse reports a subcommand's unknown arguments from the top-level parser, whose
        # help does not list them: report them from the subcommand, which points at its help.
        parsed, unknown = self.parse_known_args(args, namespace)
        if unknown:
            command = self._subcommands().get(getattr(parsed, "command", None), self)
            command.error(f"unrecognized arguments: {' '.join(unknown)}")
        return parsed

    def _subcommands(self) -> dict:
        return next((action.choices for action in self._actions if isinstance(action, argparse._SubParsersAction)),
                    {})


# Type functions of the flags. A bad value raises ArgumentTypeError, whose text argparse
# shows as it is ("argument --lr: must be a positive number, got x"); a ValueError would
# make argparse name the function instead ("invalid _positive_float value").
def _given(text: str) -> str:
    return text if text.strip() else "an empty value"


def _parse(text: str, kind: type, expected: str):
    """``kind(text)`` (int or float), or "must be <expected>, got <text>". Floats must be
    finite: inf or nan as a learning rate or decay only ever makes a run of nan."""
    try:
        value = kind(text)
    except (ValueError, OverflowError):
        value = None
    if value is None or (kind is float and not math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be {expected}, got {_given(text)}")
    return value


def _positive_int(text: str) -> int:
    value = _parse(text, int, "a positive integer")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = _parse(text, float, "a positive number")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _fraction(text: str) -> float:
    value = _parse(text, float, "a number between 0 and 1")
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = _parse(text, int, "an integer >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = _parse(text, float, "a number >= 0")
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def _open_fraction(text: str) -> float:
    value = _parse(text, float, "a fraction between 0 and 1 (exclusive)")
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be a fraction between 0 and 1 (exclusive), got {text}")
    return value


def _stop(text: str):
    """A target accuracy, or "none": train every epoch."""
    if text.strip().lower() == "none":
        return "none"  # (None would read as "not given"; _stop_value turns it into None)
    value = _parse(text, float, "a fraction in (0, 1] or none")
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be a fraction in (0, 1] or none, got {text}")
    return value


def _path(text: str) -> Path:
    """A file or folder name: Path("") would silently be the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must be a file or folder name, got an empty string")
    if "\0" in text:
        raise argparse.ArgumentTypeError(f"must be a file or folder name, got {text!r} (it has a NUL character)")
    return Path(text)


def _stop_value(value):
    # (any case, as --stop-at-accuracy takes it: a [[grid]] table's "None" is not checked by _stop)
    return None if isinstance(value, str) and value.strip().lower() == "none" else value


def _numbers(text: str) -> list[str]:
    return [part for part in text.strip().strip("[]()").replace(",", " ").split() if part]


def _layers(text: str):
    """Sweep's --hidden token: "50" is two layers of 50 (the lab's way); "4," or "[4]" is
    one layer of 4, "10,10" two layers of 10: every layer's width."""
    parts = _numbers(text)
    if not parts or any(not part.isdigit() or int(part) < 1 for part in parts):
        raise argparse.ArgumentTypeError("must be a positive integer or layer widths such as 4, or 10,10, got "
                                         f"{_given(text)}")
    if text.strip().isdigit():
        return int(text)
    return tuple(int(part) for part in parts)


def _betas(text: str) -> tuple[float, float]:
    try:
        values = tuple(float(part) for part in _numbers(text))
    except ValueError:
        values = ()
    if len(values) != 2 or not all(0 <= b < 1 for b in values):
        raise argparse.ArgumentTypeError(f"must be two numbers in [0, 1) such as 0.9,0.999, got {_given(text)}")
    return values


def _optimizer_options(text) -> str:
    """The optimizer's other arguments (text ``amsgrad=true,eps=1e-6``, or a config file's table)."""
    from microgradnp.train.runs import optimizer_options

    try:
        return optimizer_options(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"must be the optimizer's other arguments as name=value pairs such as "
                                         f"amsgrad=true,eps=1e-6 ({error})") from None


def _truth(text: str) -> bool:
    word = text.strip().lower()
    if word in ("true", "yes", "on", "1"):
        return True
    if word in ("false", "no", "off", "0"):
        return False
    raise argparse.ArgumentTypeError(f"must be true or false, got {_given(text)}")


def _init(text: str) -> str:
    from microgradnp.train.runs import check_init

    try:
        return check_init(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _dataset(text: str) -> str:
    if text in DATASETS or text.lower().endswith((".csv", ".npz")):
        return text
    raise argparse.ArgumentTypeError(f"unknown data set {text!r}: use {', '.join(DATASETS)} or a .csv/.npz file of "
                                     "points with 0/1 labels")


_INIT_HELP = ("'default' (PyTorch's), or an nn.init call without the tensor: 'normal(0, 1)', 'uniform(-1, 1)', "
              "xavier, kaiming, xavier_normal, ...")


# -- options --------------------------------------------------------------------------------
def _model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data and network")
    group.add_argument("--config", type=_path, help="TOML file with any of these options (underscores in keys)")
    group.add_argument("--dataset", type=_dataset, metavar="NAME|FILE",
                       help=f"data set: {', '.join(DATASETS)} (default xor), or a .csv file (label in the last "
                       "column) or .npz file (arrays X and y) of points with 0/1 labels")
    group.add_argument("--n", type=_positive_int, help="points in generated data sets (default 100)")
    group.add_argument("--data-seed", type=_non_negative_int,
                       help="seed of generated data and of the test split (default 0)")
    group.add_argument("--hidden", type=_positive_int, nargs="+", metavar="UNITS",
                       help="units of each hidden layer (default 50 50: the lab's two layers)")
    group.add_argument("--activation", choices=ACTIVATIONS, help="hidden activation (default sigmoid)")
    group.add_argument("--output-activation", choices=ACTIVATIONS, help="output activation (default sigmoid)")
    group.add_argument("--no-bias", dest="bias", action="store_false", default=None, help="layers without bias")
    group.add_argument("--init", type=_init, help=f"weight initialisation: {_INIT_HELP}")
    group.add_argument("--bias-init", type=_init, help="bias initialisation (the same choices)")
    group.add_argument("--conv1d-channels", type=_non_negative_int,
                       help="a Conv1d input layer with this many channels over the coordinates (default 0: none)")
    group.add_argument("--seed", type=_non_negative_int, help="seed of the weight initialisation (default 0)")


def _progress_option(parser: argparse.ArgumentParser) -> None:
    # (None, neither flag: the bar shows when stderr is a terminal, not in a redirected log)
    parser.add_argument("--progress", dest="progress", action="store_true", default=None,
                        help="show the progress bar even when stderr is not a terminal (default: only on a terminal)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", default=None,
                        help="no progress bar, even on a terminal")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="microgradnp", description="Train, sweep and draw the lab's networks.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = commands.add_parser("train", help="train one network and report it",
                                description="Train one network (the lab's 2-50-50-1 sigmoid MLP by default) "
                                "until 100 % accuracy or the epoch budget; print the log, the per-point "
                                "predictions and the final numbers; write metrics.json, predictions.csv, "
                                "figures and the graph into --out.")
    _model_options(train)
    group = train.add_argument_group("training")
    group.add_argument("--loss", choices=LOSSES, help="loss (default mse; mse/2 is half of it; cross_entropy "
                       "trains one output per class on the labels as class indices)")
    group.add_argument("--optimizer", choices=OPTIMIZERS, help="optimizer (default sgd)")
    group.add_argument("--lr", type=_positive_float, help="learning rate (default 0.1)")
    group.add_argument("--momentum", type=_fraction, help="SGD/RMSprop momentum (default 0)")
    group.add_argument("--nesterov", action="store_true", default=None, help="Nesterov momentum (SGD)")
    group.add_argument("--weight-decay", type=_non_negative_float, help="L2 weight decay (default 0)")
    group.add_argument("--betas", type=_betas, help="Adam's betas, e.g. 0.9,0.999")
    group.add_argument("--optimizer-options", type=_optimizer_options, metavar="NAME=VALUE,...",
                       help="the optimizer's other arguments, e.g. amsgrad=true,eps=1e-6 or centered=true,alpha=0.9")
    group.add_argument("--epochs", type=_positive_int, help="epoch budget (default 100000)")
    group.add_argument("--batch-size", type=_positive_int, help="mini-batch size (default: the full batch)")
    group.add_argument("--stop-at-accuracy", type=_stop,
                       help="stop when this training accuracy is reached, a fraction (default 1.0: 100 %%); "
                       "none trains every epoch")
    group.add_argument("--test-size", type=_open_fraction,
                       help="hold out this fraction of the points and report the test accuracy")
    group.add_argument("--log-every", type=_positive_int, help="log line every N epochs (default 1000)")
    group.add_argument("--out", type=_path, help="output folder (default out/train)")
    group.add_argument("--no-compile", dest="compile", action="store_false", default=None,
                       help="train eagerly, without mg.compile (the same numbers, slower)")
    _progress_option(group)

    sweep = commands.add_parser("sweep", help="the lab's grid of runs, as a table",
                                description="Train every combination of the grid options given (each takes "
                                "one or more values), each over several seeds, and print and write the lab's "
                                "table (Markdown, CSV, JSON in --out). A config file can list several grids "
                                "([[grid]] tables). Finished configurations are written to --out/cells as they "
                                "finish: --resume skips them.")
    sweep.add_argument("--config", type=_path, help="TOML file with any of these options (underscores in keys) "
                       "and [[grid]] tables of grid options")
    sweep.add_argument("--protocol", choices=["lab"],
                       help="the lab's full protocol: lr, hidden-unit and activation grids plus SGD vs Adam")
    data_group = sweep.add_argument_group("data")
    data_group.add_argument("--datasets", nargs="+", type=_dataset, metavar="NAME|FILE",
                            help=f"data sets (default linear xor): {', '.join(DATASETS[:4])} or .csv/.npz files")
    data_group.add_argument("--n", type=_positive_int, help="points in generated data sets (default 100)")
    data_group.add_argument("--data-seed", type=_non_negative_int,
                            help="seed of generated data and of the test split (default 0)")
    data_group.add_argument("--test-size", type=_open_fraction,
                            help="hold out this fraction of the points: a test-accuracy column")
    grid = sweep.add_argument_group("grid (each option takes one or more values; every combination runs)")
    grid.add_argument("--lr", type=_positive_float, nargs="+", help="learning rates (default 0.1)")
    grid.add_argument("--hidden", type=_layers, nargs="+", metavar="UNITS",
                      help="hidden layers: 50 is two layers of 50 (the default), 4, is one layer of 4, "
                      "10,10 two of 10")
    grid.add_argument("--activation", choices=ACTIVATIONS, nargs="+", help="hidden activations (default sigmoid)")
    grid.add_argument("--output-activation", choices=ACTIVATIONS, nargs="+", help="output activations "
                      "(default sigmoid)")
    grid.add_argument("--loss", choices=SWEEP_LOSSES, nargs="+", help="losses (default mse)")
    grid.add_argument("--optimizer", choices=OPTIMIZERS, nargs="+", help="optimizers (default sgd)")
    grid.add_argument("--momentum", type=_non_negative_float, nargs="+", help="SGD/RMSprop momentum (default 0)")
    grid.add_argument("--nesterov", type=_truth, nargs="*", metavar="BOOL", help="Nesterov momentum (no value: true)")
    grid.add_argument("--weight-decay", type=_non_negative_float, nargs="+", help="L2 weight decay (default 0)")
    grid.add_argument("--betas", type=_betas, nargs="+", help="Adam's betas, e.g. 0.9,0.999")
    grid.add_argument("--optimizer-options", type=_optimizer_options, nargs="+", metavar="NAME=VALUE,...",
                      help="sets of the optimizer's other arguments, e.g. amsgrad=false amsgrad=true,eps=1e-6")
    # (one or the other: both would leave whichever came last, silently)
    bias = grid.add_mutually_exclusive_group()
    bias.add_argument("--no-bias", dest="bias", action="store_const", const=[False], help="layers without bias")
    bias.add_argument("--bias", type=_truth, nargs="+", metavar="BOOL", help="layers with bias: true, false or both")
    grid.add_argument("--init", type=_init, nargs="+", help=f"weight initialisations: {_INIT_HELP}")
    grid.add_argument("--bias-init", type=_init, nargs="+", help="bias initialisations (the same choices)")
    grid.add_argument("--conv1d-channels", type=_non_negative_int, nargs="+",
                      help="a Conv1d input layer with this many channels (default 0: none; runs one seed at a time)")
    grid.add_argument("--stop-at-accuracy", type=_stop, nargs="+",
                      help="target accuracies, fractions (default 1.0: 100 %%); none trains every epoch")
    runs = sweep.add_argument_group("running")
    runs.add_argument("--seeds", type=_positive_int, help="seeds per configuration (default 10)")
    runs.add_argument("--epochs", type=_positive_int, help="epoch cap (default 100000)")
    runs.add_argument("--one-at-a-time", dest="vectorize", action="store_false", default=None,
                      help="train each seed separately instead of as one nn.Ensemble")
    runs.add_argument("--dtype", choices=("float64", "float32"),
                      help="floating-point type (default float64; float32 is about twice as fast)")
    runs.add_argument("--workers", type=_positive_int, help="worker processes (default: one per core for long "
                      "sweeps)")
    runs.add_argument("--scheduler", metavar="ADDRESS",
                      help="run on a Dask cluster, e.g. tcp://host:8786 (pip install \"microgradnp[cluster]\")")
    runs.add_argument("--resume", action="store_true", default=None,
                      help="skip the configurations already finished in --out/cells by an earlier run")
    runs.add_argument("--out", type=_path, help="output folder (default results)")
    _progress_option(runs)

    graph = commands.add_parser("graph", help="draw a network's computation graph",
                                description="Draw the computation graph of the network's loss on its data set "
                                "(optionally after one backward pass, so gradients show) to SVG, PNG, PDF or DOT.")
    _model_options(graph)
    group = graph.add_argument_group("drawing")
    group.add_argument("--loss", choices=LOSSES, help="loss at the end of the graph (default mse)")
    group.add_argument("--backward", action="store_true", default=None, help="run backward first: show gradients")
    group.add_argument("--order", action="store_true", default=None, help="number operations in backward order")
    group.add_argument("--show", nargs="+", choices=("op", "shape", "data", "grad"),
                       help="what value nodes show (default all)")
    group.add_argument("--rankdir", choices=("auto", "LR", "TB", "RL", "BT"),
                       help="layout direction (default auto: the one that shows the graph largest on a 16:9 slide)")
    group.add_argument("--max-nodes", type=_positive_int, help="collapse beyond this many nodes (default 300)")
    group.add_argument("--no-modules", dest="group_modules", action="store_false", default=None,
                       help="do not draw module calls as clusters")
    group.add_argument("--format", choices=GRAPH_FORMATS, help="file format (default: from --out's extension)")
    group.add_argument("--out", type=_path, help="output file (default graph.svg)")

    for command in commands.choices.values():
        # A config file's values get the checks of the flag of the same name (_check_config_value);
        # argparse has no public list of a parser's actions.
        command.set_defaults(flags={action.dest: action for action in command._actions})
    return parser


def resolve(args: argparse.Namespace, defaults: dict) -> dict:
    """Options from defaults, then the config file, then the command line (whose keys are
    listed in ``options["command_line"]``)."""
    options = dict(defaults)
    config = getattr(args, "config", None)
    if config is not None:
        options.update(_read_config(config, defaults, args.flags))
    given = {key: value for key, value in vars(args).items() if key in defaults and value is not None}
    options.update(given)
    options["command_line"] = set(given)
    return options


MAX_CONFIG_BYTES = 4 << 20  # far more than any config; reading stops there (--config /dev/zero ends)


def _read_config(path: Path, defaults: dict, flags: dict) -> dict:
    config = _parse_toml(path, _read_config_text(path))
    unknown = sorted(set(config) - set(defaults))
    if unknown:
        raise UsageError(f"config file {path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(defaults)}")
    try:
        return {key: _check_grids(value) if key == "grid" else _check_config_value(key, value, flags[key])
                for key, value in config.items()}
    except UsageError as error:
        raise UsageError(f"config file {path}: {error}") from None


def _read_config_text(path: Path) -> str:
    """The config file's text: at most MAX_CONFIG_BYTES of UTF-8 (a UTF-8 byte order mark
    is dropped, as editors on Windows write one)."""
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise UsageError(f"config file {path} does not exist") from None
    except IsADirectoryError:
        raise UsageError(f"config file {path} is a directory; give a TOML file") from None
    except OSError as error:
        raise UsageError(f"cannot read config file {path}: {error.strerror or error}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise UsageError(f"config file {path} is larger than {MAX_CONFIG_BYTES >> 20} MiB: not a TOML config")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UsageError(f"config file {path} is UTF-16 text; TOML files are UTF-8: save it as UTF-8")
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        raise UsageError(f"config file {path} is not UTF-8 text (byte {data[error.start]:#04x} at offset "
                         f"{error.start}); TOML files are UTF-8 text") from None


def _parse_toml(path: Path, text: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"config file {path} is not valid TOML: {error}") from None


def _check_grids(value) -> list[dict]:
    """A sweep config's ``[[grid]]`` tables: mappings of grid keys (checked by expand_grid)."""
    if not isinstance(value, list) or not value or not all(isinstance(table, dict) for table in value):
        raise UsageError("grid must be one or more [[grid]] tables of grid options, e.g. [[grid]] then "
                         "lr = [0.1, 0.01] on the next line")
    return value


def _check_config_value(key: str, value, flag: argparse.Action):
    """The config value as the flag would give it, after the flag's checks: its kind (TOML
    has types, the command line only text), its type function (ranges) and its choices.
    A single value where the flag takes several is a list of one, as ``--lr 0.1`` is."""
    kinds, kind_name = _BOOL if flag.nargs == 0 else _FLAG_KINDS.get(flag.type, _STRING)
    several = flag.nargs in ("+", "*")
    if several and flag.type is _betas and isinstance(value, list) and value and not isinstance(value[0], list):
        value = [value]  # betas = [0.9, 0.999] is one pair
    if several and value == []:
        # A list is a list of values (as the flag's words are): hidden = [] would otherwise
        # quietly train a network without hidden layers, datasets = [] do nothing.
        raise UsageError(f"no values for {key}: give one or more (or leave {key} out for the default)")
    checked = []
    for item in value if several and isinstance(value, list) else [value]:
        if not _is_kind(item, kinds):
            some = " (or a list of them)" if several else ""
            raise UsageError(f"{key} must be {kind_name}{some}, got {type(item).__name__} {item!r}")
        if flag.type is not None:
            try:
                item = flag.type(item if flag.type is _optimizer_options else str(item))
            except (argparse.ArgumentTypeError, ValueError) as error:
                text = str(error)
                raise UsageError(f"{key} {text}" if text.startswith("must") else f"{key}: {text}") from None
        if flag.choices is not None and item not in flag.choices:
            raise UsageError(f"unknown {key} {item!r}; choose from {', '.join(flag.choices)}")
        checked.append(item)
    return checked if several else checked[0]


# What TOML type a config value needs for a flag's type function (any other: a string).
_BOOL, _STRING, _NUMBER = ((bool,), "true or false"), ((str,), "a string"), ((int, float), "a number")
_FLAG_KINDS = {_positive_int: ((int,), "an integer"),
               _non_negative_int: ((int,), "an integer"), _positive_float: _NUMBER, _fraction: _NUMBER,
               _non_negative_float: _NUMBER, _open_fraction: _NUMBER, _stop: ((int, float, str), 'a number or "none"'),
               _layers: ((int, list), "an integer or a list of layer widths such as [10, 10]"),
               _betas: ((list,), "a pair of numbers such as [0.9, 0.999]"), _truth: _BOOL,
               _optimizer_options: ((str, dict), 'text such as "amsgrad=true" or a table such as {amsgrad = true}')}


def _is_kind(item, kinds: tuple) -> bool:
    # bool is an int to Python but not a number to a config file.
    return isinstance(item, kinds) and (not isinstance(item, bool) or bool in kinds)


@contextlib.contextmanager
def _writing_to(out: Path):
    """An output we cannot write (a parent we may not create, a file where a folder should
    be, no permission, a full disk) is reported in one line like any other bad option."""
    try:
        yield
    except OSError as error:
        # A file where one of out's folders must be fails as "File exists" or "Not a directory".
        blocking = next((folder for folder in reversed(out.parents) if folder.exists() and not folder.is_dir()),
                        None) if isinstance(error, FileExistsError | NotADirectoryError) else None
        if blocking is not None:
            raise UsageError(f"cannot write {out}: {blocking} is a file, not a directory") from None
        raise UsageError(f"cannot write {out}: {error.strerror or error}") from None


def _make_output_folder(out: Path) -> None:
    """Make the output folder now, so that a folder that cannot be made fails before a long run."""
    with _writing_to(out):
        try:
            out.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):  # a file stands where a folder must be
            blocking = next((folder for folder in [*reversed(out.parents), out]
                             if folder.exists() and not folder.is_dir()), out)
            raise UsageError(f"cannot write {out}: {blocking} is a file, not a directory; give --out a folder "
                             "name") from None


# -- building a run -------------------------------------------------------------------------
def load_data(options: dict):
    """``(X, y)`` of ``options["dataset"]``: a generated set (``n``, ``data_seed``; any
    number of classes) or a .csv/.npz file of points with 0/1 labels."""
    from microgradnp import data
    from microgradnp.train.runs import read_points

    name, n, seed = options["dataset"], options["n"], options["data_seed"]
    try:  # the generators check what the flags cannot (a negative seed, too few points, ...)
        if name.lower().endswith((".csv", ".npz")):
            return read_points(name)
        if name == "xor":
            return data.make_xor_easy()
        return getattr(data, f"make_{name}")(n, rng=seed)
    except (ValueError, TypeError) as error:
        raise UsageError(f"bad data options: {error}") from None


def build_model(options: dict, X, y):
    """The network of ``options`` for the data (``runs.build_model``: the same as a sweep's)."""
    from microgradnp.train.runs import build_model as build
    from microgradnp.train.runs import check_loss_output

    classes = 1 if y.ndim == 2 else int(y.max()) + 1
    try:
        if classes == 1:
            check_loss_output(options.get("loss") or "mse", options["output_activation"])
        return build(X.shape[1], classes, tuple(int(h) for h in options["hidden"]), options["activation"],
                     options["output_activation"] if classes == 1 else None, options["bias"], options["init"],
                     options["bias_init"], options["conv1d_channels"], seed=options["seed"])
    except (ValueError, TypeError) as error:
        raise UsageError(f"bad network options: {error}") from None


def build_optimizer(options: dict, parameters):
    """The optimizer of ``options`` (``runs.build_optimizer``: the same as a sweep's)."""
    from microgradnp.train.runs import build_optimizer as build

    try:
        return build(options["optimizer"], parameters, options["lr"], options["optimizer_options"],
                     momentum=options["momentum"], nesterov=options["nesterov"],
                     weight_decay=options["weight_decay"], betas=options["betas"])
    except (ValueError, TypeError) as error:
        raise UsageError(f"bad optimizer options: {error}") from None


# -- memory ---------------------------------------------------------------------------------
# Sizes are checked against the machine's memory before anything is allocated: NumPy would
# otherwise fail deep inside a generator or a layer with a traceback, or the machine would
# start swapping. The estimates count the big arrays only, so they err on the low side.
_OPTIMIZER_STATES = {"sgd": 0, "adam": 2, "adamw": 2, "rmsprop": 1, "adagrad": 1, "adamax": 2, "nadam": 2, "radam": 2,
                     "adadelta": 2, "rprop": 2, "asgd": 1, "adafactor": 1}  # arrays per parameter


def _optimizer_states(optimizer: str, momentum: float) -> int:
    return _OPTIMIZER_STATES.get(optimizer, 2) + (momentum > 0 and optimizer in ("sgd", "rmsprop"))


def _network_memory(points: int, features: int, hidden, conv1d_channels: int, optimizer_states: int,
                    itemsize: int) -> tuple[int, int]:
    """Bytes of one network's ``(parameters, activations)`` trained full batch on ``points``:
    each parameter with its gradient and optimizer state; each layer's output before and
    after its activation, and their gradients."""
    widths = [conv1d_channels or features, *hidden, 1]
    parameters = sum((a + 1) * b for a, b in zip(widths[:-1], widths[1:]))
    if conv1d_channels:
        parameters += (features + 1) * conv1d_channels
    activations = points * sum(widths[1:]) * 4
    return parameters * (2 + optimizer_states) * itemsize, activations * itemsize


def _generated_shape(dataset: str, n: int) -> tuple[int, int] | None:
    """``(points, features)`` of a generated data set, None for a file (known once read)."""
    if dataset.lower().endswith((".csv", ".npz")):
        return None
    return (n, 2) if _sized(dataset) else (21, 2)  # (xor is the lab's fixed 21 points)


def _sized(dataset: str) -> bool:
    """Whether ``--n`` sets the points of ``dataset``: not xor's (the lab's 21) nor a file's."""
    return dataset != "xor" and not dataset.lower().endswith((".csv", ".npz"))


def _check_n_is_used(options: dict, datasets) -> None:
    """``--n`` where no data set is generated with it would be ignored: a run on 21 XOR
    points reported as if on the n asked for."""
    if options["n"] != MODEL_DEFAULTS["n"] and not any(map(_sized, datasets)):
        fixed = f"{' and '.join(datasets)} {'has' if len(datasets) == 1 else 'have'} fixed points"
        raise UsageError(f"--n {options['n']} sets the points of a generated data set (linear, moons, circles, "
                         f"spiral); {fixed} (xor the lab's 21, a file its own): drop --n")


def available_memory() -> int | None:
    """Bytes the machine can give a new run (MemAvailable), else its physical memory; None
    where neither is known."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _size_text(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size * 1024:.3g} PiB"


def _check_memory(parts: dict[str, tuple[int, list[str]]]) -> None:
    """``parts`` maps what needs memory to ``(bytes, the flags that reduce it)``."""
    need = sum(size for size, _ in parts.values())
    available = available_memory()
    if available is None or need <= available:
        return
    name, (size, flags) = max(parts.items(), key=lambda part: part[1][0])
    flags = ", ".join(flags[:-1]) + " or " + flags[-1] if len(flags) > 1 else flags[0]
    raise UsageError(f"this run needs about {_size_text(need)} of memory (mostly the {name}: {_size_text(size)}) "
                     f"but {_size_text(available)} is available; reduce {flags}")


def _check_train_memory(options: dict, points: int, features: int) -> None:
    """``train`` and ``graph``: the data, one network and one full-batch step (the
    predictions and the graph drawing run on all points, whatever the batch size)."""
    itemsize = 8
    states = _optimizer_states(options.get("optimizer", "sgd"), options.get("momentum") or 0.0)
    parameters, activations = _network_memory(points, features, options["hidden"], options["conv1d_channels"],
                                              states, itemsize)
    network_flags = ["--hidden"] + (["--conv1d-channels"] if options["conv1d_channels"] else [])
    _check_memory({"data": (points * (features + 1) * itemsize * 2, ["--n"]),
                   "parameters": (parameters, network_flags),
                   "activations": (activations, ["--n", *network_flags])})


def _load_data_that_fits(options: dict):
    """``load_data`` once the data and the network fit in memory (a generated set is
    checked before it is made, a file once read)."""
    _check_n_is_used(options, [options["dataset"]])
    shape = _generated_shape(options["dataset"], options["n"])
    if shape is not None:
        _check_train_memory(options, *shape)
    X, y = load_data(options)
    if shape is None:
        _check_train_memory(options, *X.shape)
    return X, y


def _check_sweep_memory(options: dict, configs, points: int, features: int) -> None:
    """A sweep: each configuration trains all its seeds at once (an ensemble; one at a time
    with --one-at-a-time), and as many configurations as there are workers at the same time."""
    itemsize = 4 if options["dtype"] == "float32" else 8
    members = options["seeds"] if options["vectorize"] else 1
    needs = []
    for config in configs:
        hidden = (config.hidden, config.hidden) if isinstance(config.hidden, int) else config.hidden
        states = _optimizer_states(config.optimizer, config.momentum)
        needs.append(_network_memory(points, features, hidden, config.conv1d_channels, states, itemsize))
    from microgradnp.train.sweep import usable_cores

    at_once = min(len(configs), options["workers"] or usable_cores())
    biggest = sorted(needs, key=sum, reverse=True)[:at_once]
    seeds = ["--seeds"] if members > 1 else []
    workers = ["--workers"] if at_once > 1 else []
    _check_memory({"data": (points * (features + 1) * itemsize * 2 * (1 + at_once), ["--n"]),
                   "parameters": (members * sum(p for p, _ in biggest), [*seeds, "--hidden", *workers]),
                   "activations": (members * sum(a for _, a in biggest), [*seeds, "--n", "--hidden", *workers]),
                   # each seed's results and history (a few hundred bytes of Python objects)
                   "seeds' records": (options["seeds"] * 1024 * len(configs), ["--seeds"])})


# -- commands -------------------------------------------------------------------------------
def run_train(options: dict) -> int:
    import numpy as np

    import microgradnp as mg
    from microgradnp.train.fit import output_threshold
    from microgradnp.train.runs import split_points

    X, y = _load_data_that_fits(options)
    X_test = y_test = None
    if options["test_size"] is not None:
        try:
            X, y, X_test, y_test = split_points(X, y, options["test_size"], options["data_seed"])
        except ValueError as error:
            raise UsageError(f"bad data options: {error}") from None
    if options["loss"] == "cross_entropy" and y.ndim == 2:
        # The 0/1 column as class indices (labels="indices"): one output per class, not one.
        y, y_test = (None if t is None else t.ravel().astype(np.int64) for t in (y, y_test))
    model = build_model(options, X, y)
    optimizer = build_optimizer(options, model.parameters())
    out = Path(options["out"])
    _make_output_folder(out)
    loss = "cross_entropy" if y.ndim == 1 else options["loss"]
    stop = _stop_value(options["stop_at_accuracy"])
    held_out = f" (+{len(X_test)} held out)" if X_test is not None else ""
    print(f"{_data_name(options['dataset'])}: {len(X)} points{held_out}; network {_describe_network(model)}, "
          f"{options['activation']}, {loss}, {options['optimizer']} lr {options['lr']:g}\n")
    # Until the outputs are written, SIGINT/SIGTERM end training at the end of the epoch and
    # the outputs are written for the epochs so far; a second signal stops at once.
    with _stop_at_epoch_end() as interrupted, contextlib.ExitStack() as after_training:
        try:
            history = mg.train.fit(model, X, y, loss, optimizer, epochs=options["epochs"],
                                   batch_size=options["batch_size"], stop_at_accuracy=stop,
                                   log_every=options["log_every"], progress=options["progress"],
                                   rng=options["seed"], compile=options["compile"], should_stop=interrupted)
        except ValueError as error:
            raise UsageError(str(error)) from None
        if history.status == "stopped":
            history.message = f"interrupted by {interrupted.signal_name} at epoch {history.epochs}"
        if history.status == "diverged":
            # fit has said so in one line; the predictions and drawings of nan/inf weights
            # would add NumPy's overflow warnings, one per operation.
            after_training.enter_context(np.errstate(over="ignore", invalid="ignore", divide="ignore"))
        prediction = mg.train.predict(model, X)
        # The accuracy reported is the final model's, the one whose predictions are shown and
        # written: history's last entry was measured before the last epoch's update.
        threshold = output_threshold(loss)
        final_accuracy = mg.train.count_correct(prediction, y, threshold) / len(X)
        if not interrupted():
            _print_predictions(X, y, prediction)
            outcome = (f"reached {stop * 100:g} % at epoch {history.stop_epoch}" if history.converged
                       else f"{history.status} after {history.epochs} epochs")
            print(f"\nfinal loss {history.final_loss:.6f}, accuracy {final_accuracy:.2%} of the final model "
                  f"({outcome}, {history.wall_time:.2f} s)")
        test_accuracy = None
        if X_test is not None:
            test_accuracy = mg.train.count_correct(mg.train.predict(model, X_test), y_test, threshold) / len(X_test)
            if not interrupted():
                print(f"test accuracy {test_accuracy:.2%} on {len(X_test)} held-out points")
        with _writing_to(out):
            written = _write_train_outputs(out, options, model, X, y, prediction, history, loss, test_accuracy,
                                           final_accuracy)
    if interrupted():
        when = f"at epoch {history.epochs}" if history.status == "stopped" else "after training"
        print(f"\ninterrupted ({interrupted.signal_name}) {when}, loss {history.final_loss:.6f}, accuracy "
              f"{final_accuracy:.2%}: wrote {', '.join(written)} in {out}/", file=sys.stderr)
        return 130
    print(f"wrote {', '.join(written)} in {out}/")
    return 0


class _StopRequest:
    """What SIGINT (Ctrl-C) and SIGTERM do while installed by ``_stop_at_epoch_end``: the
    first signal is remembered (calling the request says whether one came: fit's
    ``should_stop``); a second stops at once, as KeyboardInterrupt."""

    def __init__(self) -> None:
        self.signal_name: str | None = None

    def __call__(self) -> bool:
        return self.signal_name is not None

    def handle(self, number: int, frame) -> None:
        if self.signal_name is not None:
            raise KeyboardInterrupt
        self.signal_name = signal.Signals(number).name


@contextlib.contextmanager
def _stop_at_epoch_end():
    """A ``_StopRequest`` handling SIGINT and SIGTERM; the previous handlers afterwards."""
    request = _StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request  # (Python lets only the main thread set signal handlers)
        return
    previous = {number: signal.signal(number, request.handle) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield request
    finally:
        for number, handler in previous.items():
            # (None: a handler not set from Python; the default is the nearest we can restore)
            signal.signal(number, signal.SIG_DFL if handler is None else handler)


def _data_name(dataset: str) -> str:
    return Path(dataset).name if dataset.lower().endswith((".csv", ".npz")) else dataset


def _describe_network(model) -> str:
    """``2-50-50-1``; with a Conv1d input layer ``2-conv1d(4)-50-50-1``."""
    from microgradnp import nn

    if isinstance(model, nn.MLP):
        return model.extra_repr().removeprefix("sizes=")
    conv, mlp = model[1], model[-1]
    _, rest = mlp.extra_repr().removeprefix("sizes=").split("-", 1)
    return f"{conv.kernel_size[0]}-conv1d({conv.out_channels})-{rest}"  # (the kernel spans the inputs)


def _shown_predictions(prediction):
    """What the table and predictions.csv show per point: the output itself for one output
    column; for one output per class (cross-entropy) the predicted class, and its softmax
    probability (None for one column)."""
    import numpy as np

    if prediction.shape[1] == 1:
        return prediction[:, 0], None
    classes = prediction.argmax(axis=1)
    exp = np.exp(prediction - prediction.max(axis=1, keepdims=True))  # (shifted: no overflow)
    return classes, exp[np.arange(len(classes)), classes] / exp.sum(axis=1)


def _print_predictions(X, y, prediction) -> None:
    print(f"\n{'x1':>7} {'x2':>7}  truth  prediction")
    truth = y.reshape(len(y), -1)[:, 0] if y.ndim == 2 else y
    shown, _ = _shown_predictions(prediction)
    for (x1, x2), t, p in zip(X[:, :2], truth, shown):
        print(f"{x1:7.3f} {x2:7.3f}  {t:5.0f}  {p:10.5f}")


def _write_train_outputs(out: Path, options, model, X, y, prediction, history, loss, test_accuracy,
                         final_accuracy) -> list[str]:
    """Write the run's files into ``out``; the names of those written. ``final_accuracy``
    is the final model's (that of the predictions written); the history's last epoch was
    measured before that epoch's update, and is kept as ``last_epoch_accuracy``."""
    import microgradnp as mg

    metrics = {"options": {k: _stop_value(v) if k == "stop_at_accuracy" else v for k, v in options.items()
                           if k not in ("out", "command_line")},
               **history.to_dict(), "final_accuracy": final_accuracy,
               "last_epoch_accuracy": history.to_dict()["final_accuracy"], "test_accuracy": test_accuracy}
    write_bytes_atomically(out / "metrics.json", json.dumps(metrics, indent=2, default=str).encode())
    shown, probability = _shown_predictions(prediction)
    rows = [["x1", "x2", "truth", "prediction"] + ([] if probability is None else ["probability"])]
    rows += [[f"{a:.6g}", f"{b:.6g}", f"{t:.6g}", f"{p:.6g}"] + ([] if probability is None else [f"{q:.6g}"])
             for (a, b), t, p, q in zip(X[:, :2], y.reshape(len(y), -1)[:, 0], shown,
                                        probability if probability is not None else shown)]
    write_bytes_atomically(out / "predictions.csv", "".join(",".join(r) + "\n" for r in rows).encode())
    written = ["metrics.json", "predictions.csv"]
    try:
        mg.viz.plots.learning_curves(history, path=out / "curves.png")
        mg.viz.plots.ground_truth_vs_prediction(X, y, prediction, path=out / "prediction.png")
        written += ["curves.png", "prediction.png"]
        if X.shape[1] == 2:
            mg.viz.plots.decision_boundary(model, X, y, path=out / "decision_boundary.png")
            written.append("decision_boundary.png")
        else:
            print(f"(no decision boundary: it shades the plane of two input features, the data has {X.shape[1]})")
    except ImportError as missing:
        print(f"(no figures: {missing})")
    try:
        mg.viz.render(_graph_of_one_step(model, X, y, loss, backward=True), out / "graph.svg")
        written.append("graph.svg")
    except mg.viz.RenderError as missing:
        print(f"(no graph drawing: {missing})")
    return written


def _graph_of_one_step(model, X, y, loss, backward: bool, **drawing):
    import microgradnp as mg
    from microgradnp.train.fit import resolve_loss

    model.zero_grad()
    value = resolve_loss(loss)(model(mg.tensor(X, name="X")), y)
    if backward:
        value.backward(retain_graph=True)  # keeps the intermediate values for the drawing
    return mg.viz.draw_graph(value, **drawing)


def run_graph(options: dict) -> int:
    import microgradnp as mg

    X, y = _load_data_that_fits(options)
    model = build_model(options, X, y)
    loss = "cross_entropy" if y.ndim == 1 else options["loss"]
    try:  # draw_graph checks its options (max_nodes at least 2, ...) with their own messages
        digraph = _graph_of_one_step(model, X, y, loss, options["backward"], show=options["show"],
                                     rankdir=options["rankdir"], max_nodes=options["max_nodes"],
                                     group_modules=options["group_modules"], order=options["order"])
    except (ValueError, TypeError) as error:
        raise UsageError(str(error)) from None
    out = Path(options["out"])
    fmt = options["format"] or out.suffix.lstrip(".") or "svg"
    if fmt not in GRAPH_FORMATS:
        raise UsageError(f"cannot tell the format from {out}; pass --format with one of {', '.join(GRAPH_FORMATS)}")
    if options["format"] and out.suffix.lstrip(".") != fmt:
        out = out.with_suffix(f".{fmt}")
    try:
        with _writing_to(out):
            path = mg.viz.render(digraph, out, format=fmt)
    except mg.viz.RenderError as error:
        raise UsageError(str(error)) from None
    print(f"graph of {_describe_network(model)} written to {path}")
    return 0


def run_sweep(options: dict) -> int:
    import microgradnp as mg
    from microgradnp.train.runs import load_points, read_points, split_points

    grid, stop, configs = _sweep_grid(options)
    if options["scheduler"] is not None and options["workers"] is not None:
        raise UsageError("sweep: --workers sets the local processes, which --scheduler replaces by the Dask "
                         "cluster's workers; give one of them")
    _check_n_is_used(options, options["datasets"])
    for dataset in options["datasets"]:
        shape = _generated_shape(dataset, options["n"])
        if shape is None:
            try:
                shape = read_points(dataset)[0].shape
            except ValueError as error:
                raise UsageError(f"sweep: {error}") from None
        if options["test_size"] is not None:  # (checked for every data set before any trains)
            try:
                split_points(*load_points(dataset, options["n"], options["data_seed"])[1:], options["test_size"])
            except ValueError as error:
                raise UsageError(f"sweep: {dataset}: {error}") from None
        _check_sweep_memory(options, configs, *shape)
    out = Path(options["out"])
    names = _result_names(options["datasets"], out)
    _make_output_folder(out)
    # SIGTERM (a kill, a scheduler's time limit) stops a sweep as Ctrl-C does: the workers
    # are stopped and the finished configurations stay on disk.
    with _executor(options["scheduler"]) as executor, _sigterm_as_interrupt():
        for dataset, name in zip(options["datasets"], names, strict=True):
            code = _sweep_one(mg, dataset, name, grid, stop, options, out, executor)
            if code:
                return code
    return 0


_RESULT_SUFFIXES = (".md", ".csv", ".json", ".partial.csv")


def _result_names(datasets, out: Path) -> list[str]:
    """The name of each data set's result files in ``out``: its name, or its file's stem
    (two files with one stem get their folders' names too); refused when a result file
    would overwrite a data file."""
    def stem(dataset: str) -> str:
        return _data_name(dataset).rsplit(".", 1)[0] if dataset.lower().endswith((".csv", ".npz")) else dataset

    stems = [stem(d) for d in datasets]
    names = [
        f"{Path(d).resolve().parent.name}-{s}" if stems.count(s) > 1 and s != d else s
        for d, s in zip(datasets, stems, strict=True)
    ]
    names = [n if names.count(n) == 1 else f"{n}-{i + 1}" for i, n in enumerate(names)]
    inputs = {Path(d).resolve() for d in datasets if d.lower().endswith((".csv", ".npz"))}
    for dataset, name in zip(datasets, names, strict=True):
        for suffix in _RESULT_SUFFIXES:
            if (out / f"{name}{suffix}").resolve() in inputs:
                raise UsageError(f"sweep: the results for {dataset} would overwrite the data file "
                                 f"{out / (name + suffix)}; choose another --out folder")
    return names


def _raise_interrupt(number, frame):
    raise KeyboardInterrupt


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM raises KeyboardInterrupt, as Ctrl-C does; the previous handler afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield  # (Python lets only the main thread set signal handlers)
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


@contextlib.contextmanager
def _executor(address: str | None):
    """A Dask cluster's executor for ``--scheduler``; None (the local process pool) otherwise."""
    if address is None:
        yield None
        return
    from microgradnp.train.sweep import cluster_executor

    try:
        context = cluster_executor(address)
        executor = context.__enter__()
    except (ImportError, ValueError) as error:
        raise UsageError(str(error).splitlines()[0]) from None
    try:
        yield executor
    finally:
        context.__exit__(None, None, None)


def _sweep_one(mg, dataset: str, name: str, grid, stop, options: dict, out: Path, executor) -> int:
    finished: list[dict] = []
    partial = out / f"{name}.partial.csv"

    def keep(row):
        # Each finished configuration reaches the disk at once: Ctrl-C keeps it.
        finished.append(row)
        with _writing_to(partial):
            mg.train.SweepResult(finished, name, row["seeds"], options["epochs"], stop).to_csv(partial)

    print(f"\n## {name}\n", flush=True)
    try:
        result = mg.train.sweep(grid, dataset, seeds=options["seeds"], epochs=options["epochs"],
                                stop_at_accuracy=stop, n=options["n"], data_seed=options["data_seed"],
                                test_size=options["test_size"], vectorize=options["vectorize"],
                                workers=options["workers"], executor=executor, progress=options["progress"],
                                on_row=keep, dtype=options["dtype"], cells=out / "cells", resume=options["resume"])
    except KeyboardInterrupt:
        if finished and partial.exists():
            print(f"\ninterrupted: {len(finished)} finished configuration(s) kept in {partial}; --resume "
                  f"continues from {out / 'cells'}", file=sys.stderr)
        else:
            print(f"\ninterrupted before a configuration of {name} finished: nothing was kept for it",
                  file=sys.stderr)
        return 130
    except ValueError as error:
        raise UsageError(str(error)) from None
    except OSError as error:  # a finished configuration's cell could not be written (a full disk, no permission)
        if error.filename is None or not Path(error.filename).resolve().is_relative_to(out.resolve()):
            raise
        raise UsageError(f"cannot write {error.filename}: {error.strerror or error} (once fixed, --resume keeps "
                         "the configurations written before it)") from None
    print(result.to_markdown())
    print(f"{len(result.rows)} configuration(s) x {len(result.seeds)} seed(s) in {result.wall_time:.1f}s "
          f"({'vectorised' if result.vectorized else 'one run at a time'}, "
          f"{f'{result.workers} process(es)' if result.workers else 'on the Dask cluster'})")
    with _writing_to(out):
        write_bytes_atomically(out / f"{name}.md", result.to_markdown().encode())
        result.to_csv(out / f"{name}.csv")
        result.to_json(out / f"{name}.json")
        partial.unlink(missing_ok=True)
    print(f"wrote {name}.md, {name}.csv, {name}.json in {out}/")
    return 0


def _stop_none(table) -> dict:
    """``stop_at_accuracy = "none"`` (TOML has no null) as None, in a list or alone."""
    stop = table.get("stop_at_accuracy")
    if isinstance(stop, list):
        table["stop_at_accuracy"] = [_stop_value(value) for value in stop]
    elif stop is not None:
        table["stop_at_accuracy"] = _stop_value(stop)
    return table


def _sweep_grid(options: dict):
    """The grid, the default target accuracy and the configurations of a sweep's options:
    the config's ``[[grid]]`` tables (or the lab's protocol), under the grid options of
    the config's top level (defaults for keys a table leaves out), under those of the
    command line (which win)."""
    import microgradnp as mg

    def given(keys):
        return {key: options[key] for key in keys if options[key] is not None}

    command_line = given(key for key in SWEEP_GRID_KEYS if key in options["command_line"])
    if command_line.get("nesterov") == []:
        command_line["nesterov"] = [True]  # --nesterov without a value
    top = given(key for key in SWEEP_GRID_KEYS if key not in options["command_line"])
    tables = options["grid"]
    if options["protocol"] == "lab":
        if tables is not None:
            raise UsageError("--protocol lab is a grid of its own; drop it or the config's [[grid]] tables")
        varied = sorted({key for table in mg.train.LAB_GRID for key in table} & (set(command_line) | set(top)))
        if varied:
            flags = ", ".join("--" + key.replace("_", "-") for key in varied)
            raise UsageError(f"--protocol lab fixes the grid; drop {flags}")
        tables = mg.train.LAB_GRID
    grid = [_stop_none({**top, **table, **command_line}) for table in tables or [{}]]
    try:
        configs = mg.train.expand_grid(grid)  # bad values fail now, in one line, before any output
    except (ValueError, TypeError) as error:
        raise UsageError(str(error)) from None
    stops = {config.stop_at_accuracy for config in configs}
    # (each row has its own target; the one returned is the table's header)
    return grid, stops.pop() if len(stops) == 1 else 1.0, configs


COMMANDS = {"train": (run_train, TRAIN_DEFAULTS), "sweep": (run_sweep, SWEEP_DEFAULTS),
            "graph": (run_graph, GRAPH_DEFAULTS)}


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
        command, defaults = COMMANDS[args.command]
        return command(resolve(args, defaults))
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except MemoryError:  # what _check_memory's estimate missed
        print("error: out of memory; reduce --n, --hidden or --seeds", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # a second Ctrl-C during training, or one outside it
        print("\ninterrupted: stopped at once", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

