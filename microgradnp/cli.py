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
LOSSES = ("mse", "bce", "bce_with_logits", "cross_entropy")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
GRAPH_FORMATS = ("svg", "png", "pdf", "dot")
SWEEP_DATASETS = ("linear", "xor")

# What a run uses when neither the command line nor the config says: the lab's network.
MODEL_DEFAULTS = {"dataset": "xor", "n": 100, "data_seed": 0, "hidden": [50, 50], "activation": "sigmoid",
                  "output_activation": "sigmoid", "seed": 0}
TRAIN_DEFAULTS = {**MODEL_DEFAULTS, "loss": "mse", "optimizer": "sgd", "lr": 0.1, "momentum": 0.0,
                  "epochs": 100_000, "batch_size": None, "stop_at_accuracy": 1.0, "log_every": 1000,
                  "out": "out/train", "progress": True, "compile": True}
GRAPH_DEFAULTS = {**MODEL_DEFAULTS, "loss": "mse", "backward": False, "format": None, "out": "graph.svg",
                  "order": False, "show": ["op", "shape", "data", "grad"], "rankdir": "LR", "max_nodes": 300,
                  "group_modules": True}
SWEEP_DEFAULTS = {"datasets": ["linear", "xor"], "protocol": None, "lr": None, "hidden": None, "activation": None,
                  "optimizer": None, "seeds": 10, "epochs": 100_000, "stop_at_accuracy": 1.0, "out": "results",
                  "progress": True, "vectorize": True, "dtype": "float64"}


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


# -- options --------------------------------------------------------------------------------
def _model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data and network")
    group.add_argument("--config", type=Path, help="TOML file with any of these options (underscores in keys)")
    group.add_argument("--dataset", choices=DATASETS, help="data set (default xor; linear has --n points)")
    group.add_argument("--n", type=_positive_int, help="points in generated data sets (default 100)")
    group.add_argument("--data-seed", type=int, help="seed of generated data (default 0)")
    group.add_argument("--hidden", type=_positive_int, nargs="+", metavar="UNITS",
                       help="units of each hidden layer (default 50 50: the lab's two layers)")
    group.add_argument("--activation", choices=ACTIVATIONS, help="hidden activation (default sigmoid)")
    group.add_argument("--output-activation", choices=ACTIVATIONS, help="output activation (default sigmoid)")
    group.add_argument("--seed", type=int, help="seed of the weight initialisation (default 0)")


def _progress_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-progress", dest="progress", action="store_false", default=None,
                        help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="microgradnp", description="Train, sweep and draw the lab's networks.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = commands.add_parser("train", help="train one network and report it",
                                description="Train one network (the lab's 2-50-50-1 sigmoid MLP by default) "
                                "until 100 %% accuracy or the epoch budget; print the log, the per-point "
                                "predictions and the final numbers; write metrics.json, predictions.csv, "
                                "figures and the graph into --out.")
    _model_options(train)
    group = train.add_argument_group("training")
    group.add_argument("--loss", choices=LOSSES, help="loss (default mse)")
    group.add_argument("--optimizer", choices=OPTIMIZERS, help="optimizer (default sgd)")
    group.add_argument("--lr", type=_positive_float, help="learning rate (default 0.1)")
    group.add_argument("--momentum", type=_fraction, help="SGD momentum (default 0)")
    group.add_argument("--epochs", type=_positive_int, help="epoch budget (default 100000)")
    group.add_argument("--batch-size", type=_positive_int, help="mini-batch size (default: the full batch)")
    group.add_argument("--stop-at-accuracy", type=_fraction, help="stop when reached (default 1.0)")
    group.add_argument("--log-every", type=_positive_int, help="log line every N epochs (default 1000)")
    group.add_argument("--out", type=Path, help="output folder (default out/train)")
    group.add_argument("--no-compile", dest="compile", action="store_false", default=None,
                       help="train eagerly, without mg.compile (the same numbers, slower)")
    _progress_option(group)

    sweep = commands.add_parser("sweep", help="the lab's grid of runs, as a table",
                                description="Run a grid of learning rates x hidden units x activations x "
                                "optimizers, each over several seeds, and print and write the lab's table "
                                "(Markdown, CSV, JSON in --out). Rows are written as they finish, so an "
                                "interrupted sweep keeps them.")
    sweep.add_argument("--config", type=Path, help="TOML file with any of these options (underscores in keys)")
    sweep.add_argument("--protocol", choices=["lab"],
                       help="the lab's full protocol: lr, hidden-unit and activation grids plus SGD vs Adam")
    sweep.add_argument("--datasets", nargs="+", choices=SWEEP_DATASETS, help="data sets (default both)")
    sweep.add_argument("--lr", type=_positive_float, nargs="+", help="learning rates (default 0.1)")
    sweep.add_argument("--hidden", type=_positive_int, nargs="+", help="hidden units per layer (default 50)")
    sweep.add_argument("--activation", choices=ACTIVATIONS, nargs="+", help="hidden activations (default sigmoid)")
    sweep.add_argument("--optimizer", choices=OPTIMIZERS, nargs="+", help="optimizers (default sgd)")
    sweep.add_argument("--seeds", type=_positive_int, help="seeds per configuration (default 10)")
    sweep.add_argument("--epochs", type=_positive_int, help="epoch cap (default 100000)")
    sweep.add_argument("--stop-at-accuracy", type=_fraction, help="target accuracy (default 1.0)")
    sweep.add_argument("--one-at-a-time", dest="vectorize", action="store_false", default=None,
                       help="train each seed separately instead of as one nn.Ensemble")
    sweep.add_argument("--dtype", choices=("float64", "float32"),
                       help="floating-point type (default float64; float32 is about twice as fast)")
    sweep.add_argument("--out", type=Path, help="output folder (default results)")
    _progress_option(sweep)

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
    """Options from defaults, then the config file, then the command line."""
    options = dict(defaults)
    config = getattr(args, "config", None)
    if config is not None:
        options.update(_read_config(config, defaults, args.flags))
    options.update({key: value for key, value in vars(args).items()
                    if key in defaults and value is not None})
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
        return {key: _check_config_value(key, value, flags[key]) for key, value in config.items()}
    except UsageError as error:
        raise UsageError(f"config file {path}: {error}") from None


def _check_config_value(key: str, value, flag: argparse.Action):
    """The config value as the flag would give it, after the flag's checks: its kind (TOML
    has types, the command line only text), its type function (ranges) and its choices.
    A single value where the flag takes several is a list of one, as ``--lr 0.1`` is."""
    kind = bool if flag.nargs == 0 else _FLAG_KINDS.get(flag.type, str)
    several = flag.nargs in ("+", "*")
    checked = []
    for item in value if several and isinstance(value, list) else [value]:
        if not _is_kind(item, kind):
            some = " (or a list of them)" if several else ""
            raise UsageError(f"{key} must be {_KIND_NAMES[kind]}{some}, got {type(item).__name__} {item!r}")
        if flag.type is not None:
            try:
                item = flag.type(str(item))
            except argparse.ArgumentTypeError as error:
                raise UsageError(f"{key} {error}") from None
        if flag.choices is not None and item not in flag.choices:
            raise UsageError(f"unknown {key} {item!r}; choose from {', '.join(flag.choices)}")
        checked.append(item)
    return checked if several else checked[0]


# What TOML type a config value needs for a flag's type function (any other: a string).
_FLAG_KINDS = {int: int, _positive_int: int, _positive_float: float, _fraction: float}
_KIND_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _is_kind(item, kind: type) -> bool:
    # bool is an int to Python but not a number to a config file; an int is a fine float.
    if kind is bool or isinstance(item, bool):
        return kind is bool and isinstance(item, bool)
    return isinstance(item, (int, float) if kind is float else kind)


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
    from microgradnp import data

    name, n, seed = options["dataset"], options["n"], options["data_seed"]
    try:  # the generators check what the flags cannot (a negative seed, too few points, ...)
        if name == "xor":
            return data.make_xor_easy()
        return getattr(data, f"make_{name}")(n, rng=seed)
    except (ValueError, TypeError) as error:
        raise UsageError(f"bad data options: {error}") from None


def build_model(options: dict, X, y):
    from microgradnp import nn

    classes = 1 if y.ndim == 2 else int(y.max()) + 1
    try:
        hidden = [int(h) for h in options["hidden"]]
        return nn.MLP(X.shape[1], hidden, classes, activation=options["activation"],
                      output_activation=options["output_activation"] if classes == 1 else None, rng=options["seed"])
    except (ValueError, TypeError) as error:
        raise UsageError(f"bad network options: {error}") from None


def build_optimizer(options: dict, parameters):
    from microgradnp import optim

    name = options["optimizer"]
    classes = {"sgd": optim.SGD, "adam": optim.Adam, "adamw": optim.AdamW, "rmsprop": optim.RMSprop,
               "adagrad": optim.Adagrad}
    extra = {"momentum": options["momentum"]} if name in ("sgd", "rmsprop") and options["momentum"] else {}
    try:
        return classes[name](parameters, lr=options["lr"], **extra)
    except (ValueError, TypeError) as error:
        raise UsageError(f"bad optimizer options: {error}") from None


# -- commands -------------------------------------------------------------------------------
def run_train(options: dict) -> int:
    import microgradnp as mg

    X, y = load_data(options)
    model = build_model(options, X, y)
    optimizer = build_optimizer(options, model.parameters())
    out = Path(options["out"])
    with _writing_to(out):  # a folder we cannot make fails now, not after a long run
        out.mkdir(parents=True, exist_ok=True)
    loss = "cross_entropy" if y.ndim == 1 else options["loss"]
    print(f"{options['dataset']}: {len(X)} points; network {model.extra_repr().removeprefix('sizes=')}, "
          f"{options['activation']}, {loss}, {options['optimizer']} lr {options['lr']:g}\n")
    try:
        history = mg.train.fit(model, X, y, loss, optimizer, epochs=options["epochs"],
                               batch_size=options["batch_size"], stop_at_accuracy=options["stop_at_accuracy"],
                               log_every=options["log_every"], progress=options["progress"], rng=options["seed"],
                               compile=options["compile"])
    except ValueError as error:
        raise UsageError(str(error)) from None
    prediction = mg.train.predict(model, X)
    _print_predictions(X, y, prediction)
    outcome = (f"reached {options['stop_at_accuracy']:.0%} at epoch {history.stop_epoch}" if history.converged
               else f"{history.status} after {history.epochs} epochs")
    print(f"\nfinal loss {history.final_loss:.6f}, accuracy {history.final_accuracy:.2%} ({outcome}, "
          f"{history.wall_time:.2f} s)")
    with _writing_to(out):
        _write_train_outputs(out, options, model, X, y, prediction, history, loss)
    return 0


def _print_predictions(X, y, prediction) -> None:
    print(f"\n{'x1':>7} {'x2':>7}  truth  prediction")
    truth = y.reshape(len(y), -1)[:, 0] if y.ndim == 2 else y
    shown = prediction[:, 0] if prediction.shape[1] == 1 else prediction.argmax(axis=1)
    for (x1, x2), t, p in zip(X[:, :2], truth, shown):
        print(f"{x1:7.3f} {x2:7.3f}  {t:5.0f}  {p:10.5f}")


def _write_train_outputs(out: Path, options, model, X, y, prediction, history, loss) -> None:
    import microgradnp as mg

    metrics = {"options": {k: v for k, v in options.items() if k != "out"}, **history.to_dict()}
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
    print(f"graph of {model.extra_repr().removeprefix('sizes=')} written to {path}")
    return 0


def run_sweep(options: dict) -> int:
    import microgradnp as mg

    grid = _sweep_grid(options)
    out = Path(options["out"])
    with _writing_to(out):
        out.mkdir(parents=True, exist_ok=True)
    for name in options["datasets"]:
        finished: list[dict] = []
        partial = out / f"{name}.partial.csv"

        def keep(row, finished=finished, partial=partial, name=name):
            # Each finished configuration reaches the disk at once: Ctrl-C keeps it.
            finished.append(row)
            with _writing_to(partial):
                mg.train.SweepResult(finished, name, row["seeds"], options["epochs"],
                                     options["stop_at_accuracy"]).to_csv(partial)

        print(f"\n## {name}\n", flush=True)
        try:
            result = mg.train.sweep(grid, name, seeds=options["seeds"], epochs=options["epochs"],
                                    stop_at_accuracy=options["stop_at_accuracy"], vectorize=options["vectorize"],
                                    progress=options["progress"], on_row=keep, dtype=options["dtype"])
        except KeyboardInterrupt:
            print(f"\ninterrupted: {len(finished)} finished configuration(s) kept in {partial}", file=sys.stderr)
            return 130
        except ValueError as error:
            raise UsageError(str(error)) from None
        print(result.to_markdown())
        print(f"{len(result.rows)} configuration(s) x {len(result.seeds)} seed(s) in {result.wall_time:.1f}s "
              f"({'vectorised' if result.vectorized else 'one run at a time'}, {result.workers} process(es))")
        with _writing_to(out):
            write_bytes_atomically(out / f"{name}.md", result.to_markdown().encode())
            result.to_csv(out / f"{name}.csv")
            result.to_json(out / f"{name}.json")
            partial.unlink(missing_ok=True)
        print(f"wrote {name}.md, {name}.csv, {name}.json in {out}/")
    return 0


def _sweep_grid(options: dict):
    import microgradnp as mg

    given = {key: options[key] for key in ("lr", "hidden", "activation", "optimizer") if options[key] is not None}
    if options["protocol"] == "lab":
        if given:
            raise UsageError(f"--protocol lab fixes the grid; drop {', '.join('--' + k for k in given)}")
        return mg.train.LAB_GRID
    return given or {"lr": [0.1]}


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

