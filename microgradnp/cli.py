"""``microgradnp`` (or ``python -m microgradnp``): the lab's experiments from the shell.

    microgradnp train --dataset xor --lr 1 --out out/xor
    microgradnp sweep --protocol lab --out results
    microgradnp graph --hidden 4 4 --backward --format png --out graph.png

Every option can also come from a TOML file (``--config run.toml``, keys named like
the options with underscores) and gets the same checks; options given on the command
line win. Bad arguments, config values and outputs that cannot be written exit with
status 2 and one line saying what is wrong.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tomllib
from pathlib import Path

from microgradnp._files import write_bytes_atomically

DATASETS = ("linear", "xor", "moons", "circles", "spiral")
ACTIVATIONS = ("sigmoid", "relu", "tanh", "leaky_relu", "none")
LOSSES = ("mse", "mse/2", "bce", "bce_with_logits", "cross_entropy")
SWEEP_LOSSES = ("mse", "mse/2", "bce", "bce_with_logits")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
GRAPH_FORMATS = ("svg", "png", "pdf", "dot")

# What a run uses when neither the command line nor the config says: the lab's network.
MODEL_DEFAULTS = {"dataset": "xor", "n": 100, "data_seed": 0, "hidden": [50, 50], "activation": "sigmoid",
                  "output_activation": "sigmoid", "bias": True, "init": "default", "bias_init": "default",
                  "conv1d_channels": 0, "seed": 0}
TRAIN_DEFAULTS = {**MODEL_DEFAULTS, "loss": "mse", "optimizer": "sgd", "lr": 0.1, "momentum": 0.0,
                  "nesterov": False, "weight_decay": 0.0, "betas": None, "epochs": 100_000, "batch_size": None,
                  "stop_at_accuracy": 1.0, "test_size": None, "log_every": 1000, "out": "out/train",
                  "progress": True, "compile": True}
GRAPH_DEFAULTS = {**MODEL_DEFAULTS, "loss": "mse", "backward": False, "format": None, "out": "graph.svg",
                  "order": False, "show": ["op", "shape", "data", "grad"], "rankdir": "LR", "max_nodes": 300,
                  "group_modules": True}
# The sweep's grid keys (mg.train.LAB_DEFAULTS) are None here: not given, the lab's default.
SWEEP_GRID_KEYS = ("lr", "hidden", "activation", "optimizer", "output_activation", "loss", "bias", "init",
                   "bias_init", "momentum", "nesterov", "weight_decay", "betas", "conv1d_channels",
                   "stop_at_accuracy")
SWEEP_DEFAULTS = {"datasets": ["linear", "xor"], "n": 100, "data_seed": 0, "test_size": None, "protocol": None,
                  "grid": None, **dict.fromkeys(SWEEP_GRID_KEYS), "seeds": 10, "epochs": 100_000,
                  "out": "results", "progress": True, "vectorize": True, "dtype": "float64", "workers": None,
                  "scheduler": None, "resume": False}


class UsageError(Exception):
    """A bad option, value or config file: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def _open_fraction(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be a fraction between 0 and 1 (exclusive), got {text}")
    return value


def _stop(text: str):
    """A target accuracy, or "none": train every epoch."""
    if text.strip().lower() == "none":
        return "none"  # (None would read as "not given"; _stop_value turns it into None)
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be a fraction in (0, 1] or none, got {text}")
    return value


def _stop_value(value):
    return None if value == "none" else value


def _numbers(text: str) -> list[str]:
    return [part for part in text.strip().strip("[]()").replace(",", " ").split() if part]


def _layers(text: str):
    """Sweep's --hidden token: "50" is two layers of 50 (the lab's way); "4," or "[4]" is
    one layer of 4, "10,10" two layers of 10: every layer's width."""
    parts = _numbers(text)
    if not parts or any(not part.isdigit() or int(part) < 1 for part in parts):
        raise argparse.ArgumentTypeError(f"must be a positive integer or layer widths such as 4, or 10,10, got {text}")
    if text.strip().isdigit():
        return int(text)
    return tuple(int(part) for part in parts)


def _betas(text: str) -> tuple[float, float]:
    try:
        values = tuple(float(part) for part in _numbers(text))
    except ValueError:
        values = ()
    if len(values) != 2 or not all(0 <= b < 1 for b in values):
        raise argparse.ArgumentTypeError(f"must be two numbers in [0, 1) such as 0.9,0.999, got {text}")
    return values


def _truth(text: str) -> bool:
    word = text.strip().lower()
    if word in ("true", "yes", "on", "1"):
        return True
    if word in ("false", "no", "off", "0"):
        return False
    raise argparse.ArgumentTypeError(f"must be true or false, got {text}")


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
    group.add_argument("--config", type=Path, help="TOML file with any of these options (underscores in keys)")
    group.add_argument("--dataset", type=_dataset, metavar="NAME|FILE",
                       help=f"data set: {', '.join(DATASETS)} (default xor), or a .csv file (label in the last "
                       "column) or .npz file (arrays X and y) of points with 0/1 labels")
    group.add_argument("--n", type=_positive_int, help="points in generated data sets (default 100)")
    group.add_argument("--data-seed", type=int, help="seed of generated data and of the test split (default 0)")
    group.add_argument("--hidden", type=_positive_int, nargs="+", metavar="UNITS",
                       help="units of each hidden layer (default 50 50: the lab's two layers)")
    group.add_argument("--activation", choices=ACTIVATIONS, help="hidden activation (default sigmoid)")
    group.add_argument("--output-activation", choices=ACTIVATIONS, help="output activation (default sigmoid)")
    group.add_argument("--no-bias", dest="bias", action="store_false", default=None, help="layers without bias")
    group.add_argument("--init", type=_init, help=f"weight initialisation: {_INIT_HELP}")
    group.add_argument("--bias-init", type=_init, help="bias initialisation (the same choices)")
    group.add_argument("--conv1d-channels", type=_non_negative_int,
                       help="a Conv1d input layer with this many channels over the coordinates (default 0: none)")
    group.add_argument("--seed", type=int, help="seed of the weight initialisation (default 0)")


def _progress_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-progress", dest="progress", action="store_false", default=None,
                        help="no progress bar")


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
    group.add_argument("--loss", choices=LOSSES, help="loss (default mse; mse/2 is half of it)")
    group.add_argument("--optimizer", choices=OPTIMIZERS, help="optimizer (default sgd)")
    group.add_argument("--lr", type=_positive_float, help="learning rate (default 0.1)")
    group.add_argument("--momentum", type=_fraction, help="SGD/RMSprop momentum (default 0)")
    group.add_argument("--nesterov", action="store_true", default=None, help="Nesterov momentum (SGD)")
    group.add_argument("--weight-decay", type=_non_negative_float, help="L2 weight decay (default 0)")
    group.add_argument("--betas", type=_betas, help="Adam's betas, e.g. 0.9,0.999")
    group.add_argument("--epochs", type=_positive_int, help="epoch budget (default 100000)")
    group.add_argument("--batch-size", type=_positive_int, help="mini-batch size (default: the full batch)")
    group.add_argument("--stop-at-accuracy", type=_stop,
                       help="stop when reached (default 1.0); none trains every epoch")
    group.add_argument("--test-size", type=_open_fraction,
                       help="hold out this fraction of the points and report the test accuracy")
    group.add_argument("--log-every", type=_positive_int, help="log line every N epochs (default 1000)")
    group.add_argument("--out", type=Path, help="output folder (default out/train)")
    group.add_argument("--no-compile", dest="compile", action="store_false", default=None,
                       help="train eagerly, without mg.compile (the same numbers, slower)")
    _progress_option(group)

    sweep = commands.add_parser("sweep", help="the lab's grid of runs, as a table",
                                description="Train every combination of the grid options given (each takes "
                                "one or more values), each over several seeds, and print and write the lab's "
                                "table (Markdown, CSV, JSON in --out). A config file can list several grids "
                                "([[grid]] tables). Finished configurations are written to --out/cells as they "
                                "finish: --resume skips them.")
    sweep.add_argument("--config", type=Path, help="TOML file with any of these options (underscores in keys) "
                       "and [[grid]] tables of grid options")
    sweep.add_argument("--protocol", choices=["lab"],
                       help="the lab's full protocol: lr, hidden-unit and activation grids plus SGD vs Adam")
    data_group = sweep.add_argument_group("data")
    data_group.add_argument("--datasets", nargs="+", type=_dataset, metavar="NAME|FILE",
                            help=f"data sets (default linear xor): {', '.join(DATASETS[:4])} or .csv/.npz files")
    data_group.add_argument("--n", type=_positive_int, help="points in generated data sets (default 100)")
    data_group.add_argument("--data-seed", type=int, help="seed of generated data and of the test split (default 0)")
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
    grid.add_argument("--no-bias", dest="bias", action="store_const", const=[False], help="layers without bias")
    grid.add_argument("--bias", type=_truth, nargs="+", metavar="BOOL", help="layers with bias: true, false or both")
    grid.add_argument("--init", type=_init, nargs="+", help=f"weight initialisations: {_INIT_HELP}")
    grid.add_argument("--bias-init", type=_init, nargs="+", help="bias initialisations (the same choices)")
    grid.add_argument("--conv1d-channels", type=_non_negative_int, nargs="+",
                      help="a Conv1d input layer with this many channels (default 0: none; runs one seed at a time)")
    grid.add_argument("--stop-at-accuracy", type=_stop, nargs="+",
                      help="target accuracy (default 1.0); none trains every epoch")
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
    runs.add_argument("--out", type=Path, help="output folder (default results)")
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
    group.add_argument("--rankdir", choices=("LR", "TB", "RL", "BT"), help="layout direction (default LR)")
    group.add_argument("--max-nodes", type=_positive_int, help="collapse beyond this many nodes (default 300)")
    group.add_argument("--no-modules", dest="group_modules", action="store_false", default=None,
                       help="do not draw module calls as clusters")
    group.add_argument("--format", choices=GRAPH_FORMATS, help="file format (default: from --out's extension)")
    group.add_argument("--out", type=Path, help="output file (default graph.svg)")

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


def _read_config(path: Path, defaults: dict, flags: dict) -> dict:
    try:
        with open(path, "rb") as file:
            config = tomllib.load(file)
    except FileNotFoundError:
        raise UsageError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"config file {path} is not valid TOML: {error}") from None
    unknown = sorted(set(config) - set(defaults))
    if unknown:
        raise UsageError(f"config file {path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(defaults)}")
    try:
        return {key: _check_grids(value) if key == "grid" else _check_config_value(key, value, flags[key])
                for key, value in config.items()}
    except UsageError as error:
        raise UsageError(f"config file {path}: {error}") from None


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
    checked = []
    for item in value if several and isinstance(value, list) else [value]:
        if not _is_kind(item, kinds):
            some = " (or a list of them)" if several else ""
            raise UsageError(f"{key} must be {kind_name}{some}, got {type(item).__name__} {item!r}")
        if flag.type is not None:
            try:
                item = flag.type(str(item))
            except (argparse.ArgumentTypeError, ValueError) as error:
                text = str(error)
                raise UsageError(f"{key} {text}" if text.startswith("must") else f"{key}: {text}") from None
        if flag.choices is not None and item not in flag.choices:
            raise UsageError(f"unknown {key} {item!r}; choose from {', '.join(flag.choices)}")
        checked.append(item)
    return checked if several else checked[0]


# What TOML type a config value needs for a flag's type function (any other: a string).
_BOOL, _STRING, _NUMBER = ((bool,), "true or false"), ((str,), "a string"), ((int, float), "a number")
_FLAG_KINDS = {int: ((int,), "an integer"), _positive_int: ((int,), "an integer"),
               _non_negative_int: ((int,), "an integer"), _positive_float: _NUMBER, _fraction: _NUMBER,
               _non_negative_float: _NUMBER, _open_fraction: _NUMBER, _stop: ((int, float, str), 'a number or "none"'),
               _layers: ((int, list), "an integer or a list of layer widths such as [10, 10]"),
               _betas: ((list,), "a pair of numbers such as [0.9, 0.999]"), _truth: _BOOL}


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
        raise UsageError(f"cannot write {out}: {error.strerror or error}") from None


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

    classes = 1 if y.ndim == 2 else int(y.max()) + 1
    try:
        return build(X.shape[1], classes, tuple(int(h) for h in options["hidden"]), options["activation"],
                     options["output_activation"] if classes == 1 else None, options["bias"], options["init"],
                     options["bias_init"], options["conv1d_channels"], seed=options["seed"])
    except (ValueError, TypeError) as error:
        raise UsageError(f"bad network options: {error}") from None


def build_optimizer(options: dict, parameters):
    """The optimizer of ``options`` (``runs.build_optimizer``: the same as a sweep's)."""
    from microgradnp.train.runs import build_optimizer as build

    try:
        return build(options["optimizer"], parameters, options["lr"], momentum=options["momentum"],
                     nesterov=options["nesterov"], weight_decay=options["weight_decay"], betas=options["betas"])
    except (ValueError, TypeError) as error:
        raise UsageError(f"bad optimizer options: {error}") from None


# -- commands -------------------------------------------------------------------------------
def run_train(options: dict) -> int:
    import microgradnp as mg
    from microgradnp.train.runs import split_points

    X, y = load_data(options)
    X_test = y_test = None
    if options["test_size"] is not None:
        try:
            X, y, X_test, y_test = split_points(X, y, options["test_size"], options["data_seed"])
        except ValueError as error:
            raise UsageError(f"bad data options: {error}") from None
    model = build_model(options, X, y)
    optimizer = build_optimizer(options, model.parameters())
    out = Path(options["out"])
    with _writing_to(out):  # a folder we cannot make fails now, not after a long run
        out.mkdir(parents=True, exist_ok=True)
    loss = "cross_entropy" if y.ndim == 1 else options["loss"]
    stop = _stop_value(options["stop_at_accuracy"])
    held_out = f" (+{len(X_test)} held out)" if X_test is not None else ""
    print(f"{_data_name(options['dataset'])}: {len(X)} points{held_out}; network {_describe_network(model)}, "
          f"{options['activation']}, {loss}, {options['optimizer']} lr {options['lr']:g}\n")
    try:
        history = mg.train.fit(model, X, y, loss, optimizer, epochs=options["epochs"],
                               batch_size=options["batch_size"], stop_at_accuracy=stop,
                               log_every=options["log_every"], progress=options["progress"], rng=options["seed"],
                               compile=options["compile"])
    except ValueError as error:
        raise UsageError(str(error)) from None
    prediction = mg.train.predict(model, X)
    _print_predictions(X, y, prediction)
    outcome = (f"reached {stop:.0%} at epoch {history.stop_epoch}" if history.converged
               else f"{history.status} after {history.epochs} epochs")
    print(f"\nfinal loss {history.final_loss:.6f}, accuracy {history.final_accuracy:.2%} ({outcome}, "
          f"{history.wall_time:.2f} s)")
    test_accuracy = None
    if X_test is not None:
        test_accuracy = mg.train.count_correct(mg.train.predict(model, X_test), y_test) / len(X_test)
        print(f"test accuracy {test_accuracy:.2%} on {len(X_test)} held-out points")
    with _writing_to(out):
        _write_train_outputs(out, options, model, X, y, prediction, history, loss, test_accuracy)
    return 0


def _data_name(dataset: str) -> str:
    return Path(dataset).name if dataset.lower().endswith((".csv", ".npz")) else dataset


def _describe_network(model) -> str:
    """``2-50-50-1``; with a Conv1d input layer ``2-conv1d(4)-50-50-1``."""
    from microgradnp import nn

    if isinstance(model, nn.MLP):
        return model.extra_repr().removeprefix("sizes=")
    conv, mlp = model[1], model[-1]
    _, rest = mlp.extra_repr().removeprefix("sizes=").split("-", 1)
    return f"{conv.kernel_size}-conv1d({conv.out_channels})-{rest}"  # (the kernel spans the inputs)


def _print_predictions(X, y, prediction) -> None:
    print(f"\n{'x1':>7} {'x2':>7}  truth  prediction")
    truth = y.reshape(len(y), -1)[:, 0] if y.ndim == 2 else y
    shown = prediction[:, 0] if prediction.shape[1] == 1 else prediction.argmax(axis=1)
    for (x1, x2), t, p in zip(X[:, :2], truth, shown):
        print(f"{x1:7.3f} {x2:7.3f}  {t:5.0f}  {p:10.5f}")


def _write_train_outputs(out: Path, options, model, X, y, prediction, history, loss, test_accuracy) -> None:
    import microgradnp as mg

    metrics = {"options": {k: _stop_value(v) if k == "stop_at_accuracy" else v for k, v in options.items()
                           if k not in ("out", "command_line")},
               **history.to_dict(), "test_accuracy": test_accuracy}
    write_bytes_atomically(out / "metrics.json", json.dumps(metrics, indent=2, default=str).encode())
    rows = [["x1", "x2", "truth", "prediction"]]
    rows += [[f"{a:.6g}", f"{b:.6g}", f"{t:.6g}", f"{p:.6g}"]
             for (a, b), t, p in zip(X[:, :2], y.reshape(len(y), -1)[:, 0], prediction[:, 0])]
    write_bytes_atomically(out / "predictions.csv", "".join(",".join(r) + "\n" for r in rows).encode())
    written = ["metrics.json", "predictions.csv"]
    try:
        mg.viz.plots.learning_curves(history, path=out / "curves.png")
        mg.viz.plots.ground_truth_vs_prediction(X, y, prediction, path=out / "prediction.png")
        written += ["curves.png", "prediction.png"]
    except ImportError as missing:
        print(f"(no figures: {missing})")
    try:
        mg.viz.render(_graph_of_one_step(model, X, y, loss, backward=True), out / "graph.svg")
        written.append("graph.svg")
    except mg.viz.RenderError as missing:
        print(f"(no graph drawing: {missing})")
    print(f"wrote {', '.join(written)} in {out}/")


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

    X, y = load_data(options)
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

    grid, stop = _sweep_grid(options)
    out = Path(options["out"])
    with _writing_to(out):
        out.mkdir(parents=True, exist_ok=True)
    with _executor(options["scheduler"]) as executor:
        for dataset in options["datasets"]:
            code = _sweep_one(mg, dataset, grid, stop, options, out, executor)
            if code:
                return code
    return 0


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


def _sweep_one(mg, dataset: str, grid, stop, options: dict, out: Path, executor) -> int:
    name = _data_name(dataset).rsplit(".", 1)[0] if dataset.lower().endswith((".csv", ".npz")) else dataset
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
        kept = f"kept in {partial}" if finished else "kept"
        print(f"\ninterrupted: {len(finished)} finished configuration(s) {kept}; --resume continues from "
              f"{out / 'cells'}", file=sys.stderr)
        return 130
    except ValueError as error:
        raise UsageError(str(error)) from None
    print(result.to_markdown())
    print(f"{len(result.rows)} configuration(s) x {len(result.seeds)} seed(s) in {result.wall_time:.1f}s "
          f"({'vectorised' if result.vectorized else 'one run at a time'}, "
          f"{result.workers or 'a cluster of'} process(es))")
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
    """The grid and the default target accuracy of a sweep's options: the config's
    ``[[grid]]`` tables (or the lab's protocol), under the grid options of the config's
    top level (defaults for keys a table leaves out), under those of the command line
    (which win)."""
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
    except ValueError as error:
        raise UsageError(str(error)) from None
    stops = {config.stop_at_accuracy for config in configs}
    return grid, stops.pop() if len(stops) == 1 else 1.0  # (each row has its own; this is the table's header)


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


if __name__ == "__main__":
    sys.exit(main())

