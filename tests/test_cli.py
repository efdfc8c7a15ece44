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
    ],
)
def test_bad_arguments_exit_2_with_one_line(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    if argv[0] == "graph":  # the PDF case is about a machine without the system Graphviz
        import shutil

        real = shutil.which
        monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "dot" else real(name, *a, **k))
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("learning_rate = 1\n", "unknown key(s) learning_rate"),
        ("lr = [1\n", "not valid TOML"),
        ('lr = "fast"\n', "lr must be a number"),
        ('activation = "swish"\n', "unknown activation 'swish'"),
    ],
)
def test_bad_config_exits_2_with_one_line(capsys, tmp_path, config, message):
    path = tmp_path / "bad.toml"
    path.write_text(config + f'out = "{tmp_path}"\nepochs = 2\nprogress = false\n')
    code, _, err = run(capsys, "train", "--config", str(path))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "train", "--config", str(tmp_path / "missing.toml"))
    assert code == 2 and "does not exist" in err


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
    assert "| 0.001 |      4 | tanh" in out and "1500+" in out and "2 configurations x 2 seeds" in out
    assert (tmp_path / "xor.md").read_text() in out
    with open(tmp_path / "xor.csv") as file:
        rows = list(csv.DictReader(file))
    assert [r["lr"] for r in rows] == ["0.5", "0.001"] and rows[1]["never_converged"] == "2"
    assert json.loads((tmp_path / "xor.json").read_text())["rows"][0]["seeds"] == [0, 1]
    assert not (tmp_path / "xor.partial.csv").exists()


def test_sweep_bad_protocol_in_config(capsys, tmp_path):
    config = tmp_path / "sweep.toml"
    config.write_text('protocol = "mine"\n')
    code, _, err = run(capsys, "sweep", "--config", str(config), "--out", str(tmp_path))
    assert code == 2 and "unknown protocol 'mine'" in err and len(err.strip().splitlines()) == 1


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
