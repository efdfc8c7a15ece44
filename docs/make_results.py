"""Run the lab's whole protocol and write the results page, docs/results.md.

    python docs/make_results.py              # about three minutes on two cores
    python docs/make_results.py --reuse      # the page and figures again from the saved tables
    python docs/make_results.py --page-only  # only the page, from the saved tables (seconds)

Both data sets, every grid of the lab (``mg.train.LAB_GRID``: learning rates, hidden
units, activations, SGD vs Adam), 10 seeds, up to 100,000 epochs, via the vectorised
``mg.train.sweep``. It writes the tables (docs/results/<dataset>.md, .csv, .json),
the heat-maps of stop epochs and the learning curves (docs/results/*.png), and the page
itself, whose sentences are computed from the numbers so that they stay true when the
numbers change. Needs the ``plot`` extra for the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

import microgradnp as mg
from microgradnp import nn, optim
from microgradnp._files import write_bytes_atomically
from microgradnp.train.runs import load_points
from microgradnp.train.sweep import LAB_DEFAULTS, LAB_GRID

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
NAMES = ("linear", "xor")
TITLES = {"linear": "linear (100 points)", "xor": "XOR (21 points)"}
HEATMAP_KEYS = ("lr", "hidden")


def heatmap_file(key: str) -> str:
    return f"stop_epoch_{key}.png"


def curves_file(name: str) -> str:
    return f"{name}_curves.png"


def run_sweeps(progress: bool) -> dict[str, mg.train.SweepResult]:
    results = {}
    for name in NAMES:
        result = mg.train.sweep(LAB_GRID, name, progress=progress)
        print(f"{name}: {len(result.rows)} configurations x {len(result.seeds)} seeds in {result.wall_time:.1f}s")
        write_bytes_atomically(RESULTS / f"{name}.md", result.to_markdown().encode())
        result.to_csv(RESULTS / f"{name}.csv")
        result.to_json(RESULTS / f"{name}.json")
        results[name] = result
    return results


def load_sweeps() -> dict[str, mg.train.SweepResult]:
    results = {}
    for name in NAMES:
        saved = json.loads((RESULTS / f"{name}.json").read_text())
        rows = saved.pop("rows")
        results[name] = mg.train.SweepResult(rows, **saved)
    return results


def _is_default(row: dict, *varying: str) -> bool:
    return all(row[key] == value for key, value in LAB_DEFAULTS.items() if key not in varying)


def _grid_rows(result, key: str) -> list[dict]:
    """The rows of the grid that varies ``key`` (the other keys at the lab's defaults)."""
    return [row for row in result.rows if _is_default(row, key)]


def heatmaps(results, epochs: int) -> list[str]:
    """Stop epochs over the learning-rate and hidden-unit grids, both data sets; a seed
    that never reached 100 % counts as the cap, so the cell is a lower bound."""
    plots = mg.viz.plots
    files = []
    for key in HEATMAP_KEYS:
        records = [{key: row[key], "data set": name,
                    "stop epoch": float(np.mean([epochs if s is None else s for s in row["stop_epochs"]]))}
                   for name, result in results.items() for row in _grid_rows(result, key)]
        path = RESULTS / heatmap_file(key)
        plots.sweep_heatmap(records, "data set", key, value="stop epoch", path=path, title=f"mean stop epoch by {key}")
        files.append(path.name)
    return files


def curves(name: str, epochs: int) -> str:
    """Loss and accuracy of seed 0 for each hidden activation at the lab's defaults, on a
    logarithmic epoch axis (the fast runs stop a hundred times sooner than the slow ones)."""
    _, X, y = load_points(name)
    histories = {}
    for activation in ("sigmoid", "relu", "tanh", "none"):
        model = nn.MLP(2, (50, 50), 1, activation=activation, output_activation="sigmoid", rng=0)
        optimizer = optim.SGD(model.parameters(), lr=LAB_DEFAULTS["lr"])
        histories[activation] = mg.train.fit(model, X, y, "mse", optimizer, epochs, stop_at_accuracy=1.0,
                                             progress=False)
    figure = mg.viz.plots.learning_curves(histories, title=f"{TITLES[name]}: hidden activations, lr 0.1, "
                                          "50 units, seed 0")
    for axis in figure.axes:
        axis.set_xscale("log")
    path = RESULTS / curves_file(name)
    figure.savefig(path, dpi=100, bbox_inches="tight")
    return path.name


# -- the page ---------------------------------------------------------------------------------
# The page's table: the sweep's table (SweepResult.to_markdown, docs/results/<name>.md) with
# short headers and without the final accuracy (the CSV and JSON have it), so that it fits the
# width of the page; the "results-table" class (docs/stylesheets/extra.css) lets the columns
# shrink to their contents.
PAGE_COLUMNS = ("lr", "hidden", "activation", "optimizer", "stop epoch", "never reached", "best acc",
                "mean best acc", "time (s)")


def page_table(result) -> str:
    """One data set's rows as the page's Markdown table, in a ``results-table`` block; the
    numbers are formatted as in ``SweepResult.to_markdown``."""
    diverged = any(row.get("diverged") for row in result.rows)
    header = [*PAGE_COLUMNS[:6], *(["diverged"] if diverged else []), *PAGE_COLUMNS[6:]]
    lines = [header]
    for row in result.rows:
        seeds = len(row["seeds"])
        lines.append([f"{row['lr']:g}", _cell(row["hidden"]), row["activation"], row["optimizer"],
                      row["stop_epoch_text"], f"{row['never_converged']}/{seeds}",
                      *([f"{row['diverged']}/{seeds}"] if diverged else []),
                      _percent(row["best_accuracy"]), _percent(row["mean_best_accuracy"]), f"{row['wall_time']:.2f}"])
    numeric = [all(line[i][:1].isdigit() or line[i] == "-" for line in lines[1:]) for i in range(len(header))]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]

    def cells(line):
        return "| " + " | ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(line, widths, numeric)) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if r else ("-" * (w + 2)) for w, r in zip(widths, numeric)) + "|"
    table = "\n".join([cells(lines[0]), rule, *(cells(line) for line in lines[1:])])
    return f'<div class="results-table" markdown>\n\n{table}\n\n</div>\n'


def _cell(value) -> str:
    return "x".join(map(str, value)) if isinstance(value, list | tuple) else str(value)


def _percent(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _stop(row: dict) -> str:
    return row["stop_epoch_text"] if row["never_converged"] else f"{row['mean_stop_epoch']:,.0f}"


def findings(name: str, result) -> list[str]:
    """Sentences about one data set, computed from its rows."""
    lrs = _grid_rows(result, "lr")
    slowest_lr = min(lrs, key=lambda r: r["lr"])
    converging = [r for r in lrs if not r["never_converged"]]
    said = []
    if converging:
        fastest = min(converging, key=lambda r: r["mean_stop_epoch"])
        said.append(f"Learning rate: at lr {fastest['lr']:g} every seed reaches 100 % after "
                    f"{_stop(fastest)} epochs on average; at lr {slowest_lr['lr']:g} "
                    + ("it takes " + _stop(slowest_lr) + " epochs." if not slowest_lr["never_converged"] else
                       f"{slowest_lr['never_converged']} of {len(slowest_lr['seeds'])} seeds do not get there "
                       f"within {result.epochs:,} epochs (best accuracy {100 * slowest_lr['best_accuracy']:.0f} %)."))
    sizes = sorted((r for r in _grid_rows(result, "hidden") if not r["never_converged"]), key=lambda r: r["hidden"])
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]
        change = "fewer" if large["mean_stop_epoch"] < small["mean_stop_epoch"] else "more"
        said.append(f"Hidden units: from {small['hidden']} to {large['hidden']} units the mean stop epoch goes "
                    f"from {_stop(small)} to {_stop(large)}: wider layers need {change} epochs, "
                    "though each epoch costs more.")
    activations = {r["activation"]: r for r in _grid_rows(result, "activation")}
    ranked = sorted(activations.values(), key=lambda r: (r["never_converged"], r["mean_stop_epoch"] or 0))
    said.append("Activations, fastest first: " + ", ".join(f"{r['activation']} ({_stop(r)})" for r in ranked)
                + ". The sigmoid's small derivative (at most 1/4) shrinks every gradient it passes, "
                  "and the lab's network has three of them in a row.")
    linear = activations.get("none")
    if linear and linear["never_converged"] == len(linear["seeds"]):
        said.append(f"Without a hidden activation no seed gets there (best accuracy "
                    f"{100 * linear['best_accuracy']:.0f} %): the network is then a linear map followed by "
                    "the output sigmoid, and its boundary a straight line, which cannot separate XOR-like classes.")
    adam = next((r for r in result.rows if r["optimizer"] == "adam"), None)
    sgd = next((r for r in result.rows if _is_default(r)), None)
    if adam and sgd:
        said.append(f"Optimizer: Adam at lr {adam['lr']:g} stops at {_stop(adam)} epochs against SGD's "
                    f"{_stop(sgd)}: it rescales each parameter's step, so the vanishing sigmoid gradients "
                    "no longer slow it down.")
    return said


def page(results, heatmap_files, curve_files, seconds: float) -> str:
    lines = [
        "# Results: the lab's experiments",
        "",
        "The lab's whole protocol, in one command:",
        "",
        "```bash",
        "python docs/make_results.py",
        "```",
        "",
        "Network 2 -> hidden -> hidden -> 1 with a sigmoid output, MSE loss, full-batch "
        "gradient descent; accuracy at threshold 0.5 on the training points; a run stops at the "
        "first epoch with 100 % accuracy (its *stop epoch*), or after 100,000 epochs. Every "
        "configuration runs from 10 seeds (0-9). The grids: learning rates at 50 hidden units, "
        "hidden units at lr 0.1, activations at lr 0.1 and 50 units, and SGD vs Adam at the "
        "default configuration (sigmoid, lr 0.1, 50 units).",
        "",
        "Columns: *stop epoch*, the mean over the seeds (`100000+` when a seed never reached "
        "100 %), *never reached* (the seeds that did not), *best acc* (best accuracy of any seed "
        "in any epoch), *mean best acc* (mean of each seed's best), *time (s)* (the seconds the "
        "configuration's task took); the final accuracies are in the CSV and JSON tables. The same "
        "command as a sweep from the shell: `microgradnp sweep --protocol lab --out results`.",
        "",
        f"This run: {seconds:.0f} s for both data sets in {results[NAMES[0]].dtype} on {_machine()} (all "
        "seeds of a configuration train together as one nn.Ensemble; see "
        "`mg.train.sweep`; `dtype=\"float32\"` takes about half as long, with stop epochs that differ by rounding).",
        "",
    ]
    for name, result in results.items():
        lines += [f"## {TITLES[name]}", "", page_table(result), "What the numbers show:", ""]
        lines += [f"- {sentence}" for sentence in findings(name, result)]
        lines += ["", f"![{name}: learning curves]({RESULTS.name}/{curve_files[name]})", ""]
    lines += ["## Stop epochs at a glance", "",
              f"Mean stop epoch per cell; a seed that never reached 100 % counts as {results[NAMES[0]].epochs:,} "
              "epochs, so a cell with such a seed is a lower bound.", ""]
    lines += [f"![mean stop epoch]({RESULTS.name}/{file})\n" for file in heatmap_files]
    lines += ["The tables as CSV and JSON, with every seed's stop epoch and best accuracy: "
              + ", ".join(f"`docs/results/{name}.csv`, `docs/results/{name}.json`" for name in results) + ".", ""]
    return "\n".join(lines)


def _machine() -> str:
    return f"{os.cpu_count()} cores ({platform.machine()}), NumPy {np.__version__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    parser.add_argument("--reuse", action="store_true", help="use the tables in docs/results/ instead of sweeping")
    parser.add_argument("--page-only", action="store_true",
                        help="only rewrite results.md, from the tables and figures in docs/results/")
    args = parser.parse_args()
    if args.page_only:
        results = load_sweeps()
        heatmap_files = [heatmap_file(key) for key in HEATMAP_KEYS]
        curve_files = {name: curves_file(name) for name in NAMES}
        missing = [file for file in (*heatmap_files, *curve_files.values()) if not (RESULTS / file).is_file()]
        if missing:
            parser.error(f"no {', '.join(missing)} in {RESULTS}/: run with --reuse to draw them")
        seconds = sum(result.wall_time for result in results.values())
        write_bytes_atomically(HERE / "results.md", page(results, heatmap_files, curve_files, seconds).encode())
        print(f"wrote {HERE / 'results.md'}")
        return
    RESULTS.mkdir(exist_ok=True)
    started = time.perf_counter()
    results = load_sweeps() if args.reuse else run_sweeps(args.progress)
    seconds = sum(result.wall_time for result in results.values()) if args.reuse else time.perf_counter() - started
    epochs = results[NAMES[0]].epochs
    heatmap_files = heatmaps(results, epochs)
    curve_files = {name: curves(name, epochs) for name in NAMES}
    write_bytes_atomically(HERE / "results.md", page(results, heatmap_files, curve_files, seconds).encode())
    print(f"wrote {HERE / 'results.md'} and {RESULTS}/")


if __name__ == "__main__":
    main()
