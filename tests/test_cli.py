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
        (["train", "--dataset", "mnist"], "invalid choice: 'mnist'"),
        (["train", "--hidden"], "expected at least one argument"),
        (["train", "--epochs", "ten"], "invalid _positive_int value"),
        (["graph", "--out", "graph.pdf"], "apt-get install graphviz"),
        (["graph", "--out", "graph.jpeg"], "pass --format"),
        (["sweep", "--protocol", "lab", "--lr", "0.1"], "--protocol lab fixes the grid"),
        (["fly"], "invalid choice: 'fly'"),
        (["graph", "--max-nodes", "1"], "draw_graph: max_nodes must be at least 2, got 1"),
        (["graph", "--dataset", "spiral", "--n", "1"], "bad data options: make_spiral"),
        (["graph", "--loss", "bce", "--output-activation", "none"], "inputs must be probabilities"),
        (["train", "--dataset", "moons", "--data-seed", "-1"], "bad data options"),
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
        ("sweep", 'datasets = ["mnist"]', "unknown datasets 'mnist'; choose from linear, xor"),
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
