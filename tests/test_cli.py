"""The command line: train, graph, sweep, configs and their errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from microgradnp.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_module_entry_point_shows_help():
    result = subprocess.run([sys.executable, "-m", "microgradnp", "--help"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and "train" in result.stdout and "sweep" in result.stdout


@pytest.mark.parametrize("command", ["train", "sweep", "graph"])
def test_every_flag_is_documented(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--config", "--out", "--epochs" if command != "graph" else "--backward"):
        assert flag in text


def test_train_reports_and_writes_its_outputs(capsys, tmp_path):
    code, out, _ = run(capsys, "train", "--lr", "1", "--hidden", "8", "8", "--epochs", "3000", "--log-every", "500",
                       "--no-progress", "--out", str(tmp_path))
    assert code == 0
    assert "epoch 500, loss" in out and "final loss" in out
    assert out.count("\n  0.") + out.count("\n  1.") >= 21  # every point with its truth and prediction
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["options"]["hidden"] == [8, 8] and metrics["epochs"] == len(metrics["loss"])
    with open(tmp_path / "predictions.csv") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 21 and set(rows[0]) == {"x1", "x2", "truth", "prediction"}
    assert (tmp_path / "graph.svg").read_text().lstrip().startswith("<?xml")
    pytest.importorskip("matplotlib")
    assert (tmp_path / "curves.png").stat().st_size > 0


def test_train_from_a_toml_config_with_a_flag_overriding_it(capsys, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('dataset = "linear"\nn = 40\nhidden = [6, 6]\nlr = 0.5\nepochs = 50\nlog_every = 25\n'
                      f'progress = false\nout = "{tmp_path / "out"}"\n')
    code, out, _ = run(capsys, "train", "--config", str(config), "--epochs", "30")
    assert code == 0 and "linear: 40 points; network 2-6-6-1" in out and "after 30 epochs" in out
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["options"]["epochs"] == 30


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--lr", "-1"], "--lr: must be a positive number"),
        (["train", "--dataset", "mnist"], "unknown data set 'mnist'"),
        (["train", "--hidden"], "expected at least one argument"),
        (["train", "--epochs", "ten"], "argument --epochs: must be a positive integer, got ten"),
        (["graph", "--out", "graph.pdf"], "apt-get install graphviz"),
        (["graph", "--out", "graph.jpeg"], "pass --format"),
        (["sweep", "--protocol", "lab", "--lr", "0.1"], "--protocol lab fixes the grid"),
        (["fly"], "invalid choice: 'fly'"),
        (["graph", "--max-nodes", "1"], "draw_graph: max_nodes must be at least 2, got 1"),
        (["graph", "--dataset", "spiral", "--n", "1"], "bad data options: make_spiral"),
        (["graph", "--loss", "bce", "--output-activation", "none"], "loss 'bce' needs probabilities"),
        (["train", "--dataset", "moons", "--data-seed", "-1"], "argument --data-seed: must be an integer >= 0"),
        # "afile" is a file, so no folder can be made there
        (["graph", "--out", "afile/graph.svg"], "cannot write afile/graph.svg"),
        (["train", "--epochs", "1", "--no-progress", "--out", "afile"], "cannot write afile"),
        (["train", "--epochs", "1", "--no-progress", "--out", "afile/run"], "cannot write afile/run"),
        (["sweep", "--datasets", "xor", "--seeds", "1", "--epochs", "1", "--no-progress", "--out", "afile"],
         "cannot write afile"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("not a folder\n")
    if argv[0] == "graph":  # the PDF case is about a machine without the system Graphviz
        import shutil

        real = shutil.which
        monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "dot" else real(name, *a, **k))
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("command", "line", "message"),
    [
        ("train", "learning_rate = 1", "unknown key(s) learning_rate"),
        ("train", "lr = [1", "not valid TOML"),
        ("train", 'lr = "fast"', "lr must be a number, got str 'fast'"),
        ("train", "lr = true", "lr must be a number, got bool True"),
        ("train", "momentum = 2", "momentum must be between 0 and 1, got 2"),
        ("train", 'log_every = "often"', "log_every must be an integer"),
        ("train", 'activation = "swish"', "unknown activation 'swish'; choose from sigmoid"),
        ("train", "loss = 3", "loss must be a string, got int 3"),
        ("train", "out = 3", "out must be a string"),
        ("train", 'dataset = "spiral"\nn = 1', "bad data options: make_spiral"),
        ("graph", "max_nodes = 1", "draw_graph: max_nodes must be at least 2, got 1"),
        ("graph", "max_nodes = 0", "max_nodes must be a positive integer, got 0"),
        ("graph", 'show = ["colour"]', "unknown show 'colour'; choose from op, shape, data, grad"),
        ("graph", 'rankdir = "XX"', "unknown rankdir 'XX'"),
        ("graph", 'format = "jpg"', "unknown format 'jpg'; choose from svg, png, pdf, dot"),
        ("graph", 'backward = "yes"', "backward must be true or false, got str 'yes'"),
        ("graph", "order = 3", "order must be true or false, got int 3"),
        ("graph", 'hidden = "big"', "hidden must be an integer (or a list of them), got str 'big'"),
        ("graph", 'hidden = [4, "big"]', "hidden must be an integer"),
        ("graph", "group_modules = 0", "group_modules must be true or false"),
        ("sweep", 'protocol = "mine"', "unknown protocol 'mine'"),
        ("sweep", 'datasets = ["mnist"]', "datasets: unknown data set 'mnist': use linear, xor"),
        ("sweep", 'optimizer = ["lbfgs"]', "unknown optimizer 'lbfgs'; choose from sgd, adam, adamw, rmsprop, adagrad"),
        ("sweep", 'seeds = "ten"', "seeds must be an integer"),
        ("sweep", 'vectorize = "no"', "vectorize must be true or false"),
        ("sweep", "lr = [0.1, -1]", "lr must be a positive number, got -1"),
    ],
)
def test_bad_config_exits_2_with_one_line(capsys, tmp_path, command, line, message):
    quick = {"train": {"epochs": "2", "progress": "false", "out": f'"{tmp_path}"'},
             "sweep": {"seeds": "1", "epochs": "2", "progress": "false", "out": f'"{tmp_path}"'},
             "graph": {"hidden": "[2]", "out": f'"{tmp_path / "graph.svg"}"'}}[command]
    path = tmp_path / "bad.toml"
    path.write_text("".join(f"{text}\n" for text in [line] + [f"{key} = {value}" for key, value in quick.items()
                                                           if not line.startswith(f"{key} ")]))
    code, _, err = run(capsys, command, "--config", str(path))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, command, "--config", str(tmp_path / "missing.toml"))
    assert code == 2 and "does not exist" in err


def test_config_values_are_taken_as_their_flags_take_them(capsys, tmp_path):
    """One value for a list option is a list of one (as --hidden 3 is); an int is a fine float."""
    config = tmp_path / "graph.toml"
    config.write_text(f'hidden = 3\nshow = "op"\nbackward = true\nmax_nodes = 50\nformat = "dot"\n'
                      f'out = "{tmp_path / "lab"}"\n')
    code, out, _ = run(capsys, "graph", "--config", str(config))
    assert code == 0 and "graph of 2-3-1" in out and (tmp_path / "lab.dot").read_text().startswith("digraph")
    config = tmp_path / "train.toml"
    config.write_text(f'lr = 1\nhidden = 3\nepochs = 2\nprogress = false\nout = "{tmp_path / "run"}"\n')
    code, out, _ = run(capsys, "train", "--config", str(config))
    assert code == 0 and "network 2-3-1, sigmoid, mse, sgd lr 1" in out


def test_graph_command_after_backward(capsys, tmp_path):
    out_file = tmp_path / "lab.svg"
    code, out, _ = run(capsys, "graph", "--hidden", "4", "4", "--backward", "--order", "--out", str(out_file))
    assert code == 0 and str(out_file) in out
    svg = out_file.read_text()
    assert "fc1.weight" in svg and "grad" in svg and "#1 mse_loss" in svg
    code, _, _ = run(capsys, "graph", "--hidden", "4", "--format", "dot", "--no-modules", "--out",
                     str(tmp_path / "lab"))
    source = (tmp_path / "lab.dot").read_text()
    assert code == 0 and source.startswith("digraph") and "cluster" not in source and "grad" not in source


def test_sweep_prints_and_writes_the_table(capsys, tmp_path):
    config = tmp_path / "sweep.toml"
    config.write_text(f'datasets = ["xor"]\nhidden = [4]\nactivation = ["tanh"]\nseeds = 2\nepochs = 1500\n'
                      f'progress = false\nout = "{tmp_path}"\n')
    code, out, _ = run(capsys, "sweep", "--config", str(config), "--lr", "0.5", "0.001")
    assert code == 0
    assert "| 0.001 |      4 | tanh" in out and "1500+" in out and "2 configuration(s) x 2 seed(s)" in out
    assert (tmp_path / "xor.md").read_text() in out
    with open(tmp_path / "xor.csv") as file:
        rows = list(csv.DictReader(file))
    assert [r["lr"] for r in rows] == ["0.5", "0.001"] and rows[1]["never_converged"] == "2"
    assert json.loads((tmp_path / "xor.json").read_text())["rows"][0]["seeds"] == [0, 1]
    assert not (tmp_path / "xor.partial.csv").exists()


def test_ctrl_c_during_a_sweep_keeps_the_finished_rows(tmp_path):
    """A fast configuration finishes while a slow one still runs (in worker processes);
    Ctrl-C then stops the sweep and leaves the finished row on disk."""
    import signal
    import time

    command = [sys.executable, "-m", "microgradnp", "sweep", "--datasets", "xor", "--hidden", "4", "--activation",
               "tanh", "--lr", "2", "0.0001", "--seeds", "3", "--epochs", "100000", "--no-progress",
               "--out", str(tmp_path)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    partial = tmp_path / "xor.partial.csv"
    deadline = time.monotonic() + 60
    while not partial.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "1 finished configuration(s) kept" in err
    with open(partial) as file:
        rows = list(csv.DictReader(file))
    assert [r["lr"] for r in rows] == ["2.0"] and rows[0]["never_converged"] == "0"
    assert not (tmp_path / "xor.csv").exists()


def test_sweep_in_float32(capsys, tmp_path):
    code, out, _ = run(capsys, "sweep", "--datasets", "linear", "--hidden", "5", "--seeds", "2", "--epochs", "200",
                       "--dtype", "float32", "--no-progress", "--out", str(tmp_path))
    assert code == 0 and "1 configuration(s) x 2 seed(s)" in out
    assert json.loads((tmp_path / "linear.json").read_text())["dtype"] == "float32"


def test_sweep_never_writes_its_results_over_a_data_file(capsys, tmp_path):
    data = tmp_path / "points.csv"
    data.write_text("0,0,0\n1,1,1\n0,1,1\n1,0,0\n")
    code, _, err = run(capsys, "sweep", "--datasets", str(data), "--seeds", "1", "--epochs", "2", "--no-progress",
                       "--workers", "1", "--out", str(tmp_path))
    assert code == 2 and "would overwrite the data file" in err
    assert data.read_text().startswith("0,0,0")


def test_sweep_of_two_files_with_one_name_writes_two_tables(capsys, tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "data.csv").write_text("0,0,0\n1,1,1\n0,1,1\n1,0,0\n")
    files = [str(tmp_path / folder / "data.csv") for folder in ("a", "b")]
    code, _, err = run(capsys, "sweep", "--datasets", *files, "--seeds", "1", "--epochs", "2", "--no-progress",
                       "--workers", "1", "--out", str(tmp_path / "results"))
    assert code == 0, err
    assert (tmp_path / "results" / "a-data.json").exists() and (tmp_path / "results" / "b-data.json").exists()


# -- every run option on the command line and in configs ---------------------------------------
def _rows(path):
    return json.loads(path.read_text())["rows"]


def test_sweep_flags_cover_every_grid_key(capsys, tmp_path):
    code, out, err = run(capsys, "sweep", "--datasets", "moons", "--n", "40", "--data-seed", "3", "--hidden", "4,",
                         "3,3", "5", "--init", "normal(0, 1)", "--bias-init", "uniform(0, 1)", "--no-bias",
                         "--loss", "mse/2", "--output-activation", "relu", "--stop-at-accuracy", "none",
                         "--test-size", "0.25", "--seeds", "2", "--epochs", "30", "--no-progress", "--out",
                         str(tmp_path))
    assert code == 0, err
    rows = _rows(tmp_path / "moons.json")
    assert [row["hidden"] for row in rows] == [[4], [3, 3], 5]
    assert {(row["init"], row["bias_init"], row["bias"], row["loss"], row["output_activation"])
            for row in rows} == {("normal(0, 1)", "uniform(0, 1)", False, "mse/2", "relu")}
    assert all(row["stop_at_accuracy"] is None and row["stop_epoch_text"] == "-" for row in rows)
    assert all(len(row["test_accuracies"]) == 2 and row["mean_test_accuracy"] is not None for row in rows)
    assert "test acc" in out and "| (4,)" in out
    expected = __import__("microgradnp").train.sweep(
        {"hidden": [(4,), (3, 3), 5], "init": "normal(0, 1)", "bias_init": "uniform(0, 1)", "bias": False,
         "loss": "mse/2", "output_activation": "relu"}, "moons", seeds=2, epochs=30, stop_at_accuracy=None, n=40,
        data_seed=3, test_size=0.25, progress=False)
    assert [row["best_accuracies"] for row in rows] == [row["best_accuracies"] for row in expected.rows]
    assert [row["test_accuracies"] for row in rows] == [row["test_accuracies"] for row in expected.rows]


def test_sweep_optimizer_options_and_a_data_file(capsys, tmp_path):
    import numpy as np

    import microgradnp as mg

    X, y = mg.data.make_circles(30, rng=2)
    np.savez(tmp_path / "points.npz", X=X, y=y)
    code, _, err = run(capsys, "sweep", "--datasets", str(tmp_path / "points.npz"), "--optimizer", "sgd",
                       "--momentum", "0.9", "--nesterov", "--weight-decay", "0.001", "--lr", "0.5", "--seeds", "2",
                       "--epochs", "40", "--no-progress", "--out", str(tmp_path / "out"))
    assert code == 0, err
    (row,) = _rows(tmp_path / "out" / "points.json")
    assert (row["momentum"], row["nesterov"], row["weight_decay"]) == (0.9, True, 0.001)
    expected = mg.train.sweep({"lr": 0.5, "momentum": 0.9, "nesterov": True, "weight_decay": 0.001}, (X, y),
                              seeds=2, epochs=40, progress=False)
    assert row["stop_epochs"] == expected.rows[0]["stop_epochs"]
    assert row["best_accuracies"] == expected.rows[0]["best_accuracies"]
    code, _, err = run(capsys, "sweep", "--datasets", "xor", "--optimizer", "adam", "--momentum", "0.9",
                       "--seeds", "1", "--epochs", "2", "--no-progress", "--out", str(tmp_path / "out"))
    assert code == 2 and "has no option 'momentum'" in err and len(err.strip().splitlines()) == 1


def test_sweep_config_grid_tables_with_top_level_defaults_and_flags_winning(capsys, tmp_path):
    config = tmp_path / "report.toml"
    config.write_text(f'datasets = ["xor"]\nseeds = 1\nepochs = 20\nprogress = false\nout = "{tmp_path}"\n'
                      'init = "uniform(-1, 1)"\nstop_at_accuracy = "none"\n\n'
                      '[[grid]]\nhidden = [[4], [10, 10]]\nlr = [0.5, 1.0]\n\n'
                      '[[grid]]\nhidden = 4\noptimizer = "adam"\nlr = 0.05\nbetas = [0.8, 0.99]\n'
                      'init = "normal(0, 1)"\n')
    code, _, err = run(capsys, "sweep", "--config", str(config))
    assert code == 0, err
    rows = _rows(tmp_path / "xor.json")
    assert [(row["hidden"], row["lr"], row["optimizer"]) for row in rows] == [
        ([4], 0.5, "sgd"), ([4], 1.0, "sgd"), ([10, 10], 0.5, "sgd"), ([10, 10], 1.0, "sgd"), (4, 0.05, "adam")]
    assert [row["init"] for row in rows] == ["uniform(-1, 1)"] * 4 + ["normal(0, 1)"]  # a table's key wins
    assert rows[-1]["betas"] == [0.8, 0.99] and all(row["stop_at_accuracy"] is None for row in rows)
    code, _, err = run(capsys, "sweep", "--config", str(config), "--init", "xavier", "--lr", "0.3")
    assert code == 0, err
    rows = _rows(tmp_path / "xor.json")
    assert {row["init"] for row in rows} == {"xavier"} and {row["lr"] for row in rows} == {0.3}


@pytest.mark.parametrize(("lines", "message"), [
    ('grid = [1, 2]', "grid must be one or more [[grid]] tables"),
    ('[[grid]]\nmomentun = 0.9', "unknown grid key 'momentun'"),
    ('[[grid]]\nhidden = [[0]]', "'hidden' must be a positive integer"),
    ('[[grid]]\ninit = "gauss(1)"', "unknown initialisation 'gauss(1)'"),
    ('betas = [0.9, 2]', "betas must be two numbers in [0, 1)"),
    ('stop_at_accuracy = "never"', "stop_at_accuracy"),
    ('protocol = "lab"\n[[grid]]\nlr = 0.1', "--protocol lab is a grid of its own"),
    ('protocol = "lab"\nhidden = 4', "--protocol lab fixes the grid; drop --hidden"),
])
def test_bad_sweep_grid_configs_exit_2_with_one_line(capsys, tmp_path, lines, message):
    config = tmp_path / "bad.toml"
    top, _, tables = lines.partition("[[grid]]")
    config.write_text(f'seeds = 1\nepochs = 2\nprogress = false\nout = "{tmp_path}"\n{top}\n'
                      + (f"[[grid]]{tables}\n" if tables else ""))
    code, _, err = run(capsys, "sweep", "--config", str(config))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_the_lab_protocol_takes_keys_it_does_not_vary(capsys, tmp_path):
    code, _, err = run(capsys, "sweep", "--protocol", "lab", "--init", "normal(0, 1)", "--datasets", "xor",
                       "--seeds", "1", "--epochs", "2", "--no-progress", "--out", str(tmp_path))
    assert code == 0, err
    rows = _rows(tmp_path / "xor.json")
    assert len(rows) == 17 and {row["init"] for row in rows} == {"normal(0, 1)"}


def test_resume_skips_the_finished_configurations(capsys, tmp_path):
    argv = ["sweep", "--datasets", "xor", "--hidden", "3", "4", "--lr", "0.5", "--seeds", "2", "--epochs", "200",
            "--no-progress", "--out", str(tmp_path)]
    assert run(capsys, *argv)[0] == 0
    first = _rows(tmp_path / "xor.json")
    cells = sorted((tmp_path / "cells").iterdir())
    assert len(cells) == 2
    # One cell lost (as if the sweep had been killed while it ran) and one kept.
    lost = next(path for path in cells if '"hidden": 4' in path.read_text())
    lost.unlink()
    kept_time = next(row["wall_time"] for row in first if row["hidden"] == 3)
    assert run(capsys, *argv, "--resume")[0] == 0
    second = _rows(tmp_path / "xor.json")
    assert [row["best_accuracies"] for row in second] == [row["best_accuracies"] for row in first]
    assert next(row["wall_time"] for row in second if row["hidden"] == 3) == kept_time  # not trained again
    assert lost.exists()
    # Other settings never take a cell written for different ones.
    assert run(capsys, *argv[:-5], "--epochs", "201", "--no-progress", "--out", str(tmp_path), "--resume")[0] == 0
    assert len(list((tmp_path / "cells").iterdir())) == 4


def test_train_takes_the_sweeps_run_options(capsys, tmp_path):
    code, out, err = run(capsys, "train", "--dataset", "moons", "--n", "40", "--hidden", "6", "--no-bias", "--init",
                         "normal(0, 1)", "--loss", "mse/2", "--optimizer", "adam", "--betas", "0.8,0.99",
                         "--weight-decay", "0.001", "--lr", "0.05", "--stop-at-accuracy", "none", "--test-size",
                         "0.25", "--epochs", "50", "--log-every", "25", "--no-progress", "--out", str(tmp_path))
    assert code == 0, err
    assert "moons: 30 points (+10 held out); network 2-6-1" in out and "completed after 50 epochs" in out
    assert "test accuracy" in out
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["options"]["stop_at_accuracy"] is None and 0 <= metrics["test_accuracy"] <= 1
    import microgradnp as mg

    config = mg.train.SweepConfig(0.05, (6,), "sigmoid", "adam", loss="mse/2", bias=False, init="normal(0, 1)",
                                  weight_decay=0.001, betas=(0.8, 0.99), stop_at_accuracy=None)
    swept = mg.train.sweep([{**{k: getattr(config, k) for k in mg.train.LAB_DEFAULTS}, "hidden": [(6,)]}], "moons",
                           seeds=[0], epochs=50, n=40, test_size=0.25, progress=False, stop_at_accuracy=None)
    assert swept.rows[0]["final_accuracies"] == [metrics["last_epoch_accuracy"]]
    assert swept.rows[0]["test_accuracies"] == [metrics["test_accuracy"]]


def test_train_with_a_conv1d_input_layer_and_a_csv_file(capsys, tmp_path):
    import microgradnp as mg

    X, y = mg.data.make_linear(30, rng=1)
    lines = ["x1,x2,label"] + [f"{float(a)!r},{float(b)!r},{int(t)}" for (a, b), t in zip(X, y[:, 0])]
    (tmp_path / "points.csv").write_text("\n".join(lines) + "\n")
    code, out, err = run(capsys, "train", "--dataset", str(tmp_path / "points.csv"), "--conv1d-channels", "3",
                         "--hidden", "4", "--epochs", "20", "--no-progress", "--out", str(tmp_path / "out"))
    assert code == 0, err
    assert "points.csv: 30 points; network 2-conv1d(3)-4-1" in out


def test_scheduler_that_cannot_be_reached_is_one_line(capsys, tmp_path):
    pytest.importorskip("distributed")
    code, _, err = run(capsys, "sweep", "--scheduler", "tcp://127.0.0.1:1", "--datasets", "xor", "--seeds", "1",
                       "--epochs", "2", "--no-progress", "--out", str(tmp_path))
    assert code == 2 and "127.0.0.1:1" in err and len(err.strip().splitlines()) == 1, err


def test_grid_tables_mix_fixed_epochs_with_a_target_and_show_divergence(capsys, tmp_path):
    config = tmp_path / "mixed.toml"
    config.write_text(f'datasets = ["linear"]\nseeds = 2\nepochs = 40\nprogress = false\nout = "{tmp_path}"\n'
                      'hidden = [[4]]\n\n[[grid]]\nstop_at_accuracy = "none"\nactivation = "none"\n'
                      'output_activation = "none"\nlr = 1e150\n\n[[grid]]\nstop_at_accuracy = [1.0, 0.5]\nlr = 0.5\n')
    code, out, err = run(capsys, "sweep", "--config", str(config))
    assert code == 0, err
    rows = _rows(tmp_path / "linear.json")
    assert [row["stop_at_accuracy"] for row in rows] == [None, 1.0, 0.5]
    assert rows[0]["diverged"] == 2 and rows[0]["statuses"] == ["diverged", "diverged"]
    assert rows[1]["diverged"] == 0
    header = next(line for line in out.splitlines() if line.startswith("|"))
    assert "| diverged |" in header and " 2/2 |" in out


def test_train_refuses_bce_on_an_output_that_is_no_probability(capsys, tmp_path):
    code, _, err = run(capsys, "train", "--dataset", "xor", "--loss", "bce", "--output-activation", "relu",
                       "--epochs", "2", "--no-progress", "--out", str(tmp_path))
    assert code == 2 and "loss 'bce' needs probabilities" in err


def test_a_malformed_scheduler_address_is_one_line_and_nothing_after_it(tmp_path):
    pytest.importorskip("distributed")
    result = subprocess.run([sys.executable, "-m", "microgradnp", "sweep", "--scheduler", "notanaddress", "--datasets",
                             "xor", "--seeds", "1", "--epochs", "2", "--no-progress", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=15)  # (a half-made Client used to wait 20 s)
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        "error: sweep: cannot reach the Dask scheduler at notanaddress: missing port number in address 'notanaddress'"]


def test_a_data_set_too_small_for_the_test_split_is_refused_before_any_trains(capsys, tmp_path):
    points = tmp_path / "one.csv"
    points.write_text("x,y,label\n0.1,0.2,1\n")
    out = tmp_path / "out"
    code, _, err = run(capsys, "sweep", "--datasets", "xor", str(points), "--test-size", "0.3", "--seeds", "1",
                       "--epochs", "2", "--no-progress", "--out", str(out))
    assert code == 2 and f"sweep: {points}: a test split needs at least 2 points" in err
    assert not out.exists()  # (xor did not train first)
