"""The command line never shows a traceback: every bad option, config file or size is one
line on stderr with exit status 2, and SIGINT/SIGTERM stop a run cleanly (exit 130)."""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import microgradnp as mg
from microgradnp import cli
from microgradnp.cli import main


def run(capsys, *argv):
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_error_line(code, err, *fragments):
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in lines[0]


QUICK = ["--epochs", "2", "--no-progress"]


# -- config files that are not TOML text -----------------------------------------------------
@pytest.mark.parametrize(("content", "message"), [
    (b"lr = 1\n\xff\xfe\n", "is not UTF-8 text (byte 0xff at offset 7)"),
    ("lr = 1\n".encode("utf-16"), "is UTF-16 text; TOML files are UTF-8: save it as UTF-8"),
    ("lr = 1\n".encode("utf-16-be").join([b"\xfe\xff", b""]), "is UTF-16 text"),
    (b"lr = 1\x00\n", "is not valid TOML"),
    (b"x" * (cli.MAX_CONFIG_BYTES + 1), "is larger than 4 MiB: not a TOML config"),
], ids=["invalid-utf8", "utf16-le", "utf16-be", "nul", "too-large"])
def test_a_config_that_is_not_toml_text_is_one_line(capsys, tmp_path, content, message):
    path = tmp_path / "run.toml"
    path.write_bytes(content)
    code, _, err = run(capsys, "train", "--config", path, *QUICK)
    assert_one_error_line(code, err, f"config file {path}", message)


def test_a_config_that_is_a_directory_is_one_line(capsys, tmp_path):
    code, _, err = run(capsys, "sweep", "--config", tmp_path)
    assert_one_error_line(code, err, f"config file {tmp_path} is a directory")


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_an_endless_config_is_read_only_so_far(capsys):
    code, _, err = run(capsys, "train", "--config", "/dev/zero")
    assert_one_error_line(code, err, "config file /dev/zero is larger than 4 MiB")


def test_a_config_with_a_utf8_byte_order_mark_is_read(capsys, tmp_path):
    path = tmp_path / "run.toml"
    path.write_bytes(b"\xef\xbb\xbf" + f'hidden = 3\nepochs = 2\nprogress = false\nout = "{tmp_path}"\n'.encode())
    code, out, err = run(capsys, "train", "--config", path)
    assert code == 0, err
    assert "network 2-3-1" in out


# -- empty lists ------------------------------------------------------------------------------
@pytest.mark.parametrize(("command", "line", "key"), [
    ("train", "hidden = []", "hidden"),
    ("sweep", "hidden = []", "hidden"),
    ("sweep", "datasets = []", "datasets"),
    ("sweep", "lr = []", "lr"),
    ("graph", "show = []", "show"),
])
def test_an_empty_list_in_a_config_is_an_error(capsys, tmp_path, command, line, key):
    path = tmp_path / "run.toml"
    path.write_text(f"{line}\n")
    code, _, err = run(capsys, command, "--config", path, "--out", tmp_path / "out")
    assert_one_error_line(code, err, f"no values for {key}")
    assert not (tmp_path / "out").exists()


def test_an_empty_list_of_a_grid_table_is_an_error(capsys, tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("seeds = 1\nepochs = 2\n[[grid]]\nhidden = []\n")
    code, _, err = run(capsys, "sweep", "--config", path, "--out", tmp_path)
    assert_one_error_line(code, err, "'hidden' has no values")


# -- outputs ----------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["train", "sweep", "graph"])
def test_an_empty_output_name_is_an_error_not_the_current_folder(capsys, tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, command, "--out", "")
    assert_one_error_line(code, err, "argument --out: must be a file or folder name, got an empty string")
    path = tmp_path / "run.toml"
    path.write_text('out = ""\n')
    code, _, err = run(capsys, command, "--config", path)
    assert_one_error_line(code, err, "out must be a file or folder name")
    assert [p.name for p in tmp_path.iterdir()] == ["run.toml"]


@pytest.mark.parametrize(("command", "out"), [("train", "afile"), ("train", "afile/run"),
                                              ("sweep", "afile/deeper/results")])
def test_an_output_folder_under_a_file_says_not_a_directory(capsys, tmp_path, monkeypatch, command, out):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("a file\n")
    code, _, err = run(capsys, command, "--out", out, "--datasets" if command == "sweep" else "--dataset", "xor",
                       *QUICK)
    assert_one_error_line(code, err, f"cannot write {out}: afile is a file, not a directory")


# -- numeric flags ----------------------------------------------------------------------------
def _numeric_flags():
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    numeric = {cli._positive_int, cli._non_negative_int, cli._positive_float, cli._fraction,
               cli._non_negative_float, cli._open_fraction, cli._stop, cli._layers, cli._betas}
    return [(name, action.option_strings[0]) for name, command in commands.items()
            for action in command._actions if action.type in numeric]


@pytest.mark.parametrize(("command", "flag"), _numeric_flags())
@pytest.mark.parametrize("value", ["x", "1e999", "nan", ""])
def test_a_bad_number_names_the_flag_and_what_it_takes(capsys, command, flag, value):
    code, _, err = run(capsys, command, flag, value)
    assert_one_error_line(code, err, f"argument {flag}: must be ")
    assert "invalid" not in err and "_" not in err.split(flag, 1)[1]  # not a type function's name


def test_infinite_numbers_in_a_config_are_refused(capsys, tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("lr = inf\n")
    code, _, err = run(capsys, "train", "--config", path)
    assert_one_error_line(code, err, "lr must be a positive number, got inf")


# -- memory -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("argv", "reduce"), [
    (["train", "--dataset", "moons", "--n", 10**13], "reduce --n"),
    (["train", "--hidden", 10**6, 10**6], "reduce --hidden"),
    (["train", "--conv1d-channels", 10**12, "--hidden", 4], "--conv1d-channels"),
    (["graph", "--hidden", 10**7, 10**7], "reduce --hidden"),
    (["sweep", "--datasets", "xor", "--hidden", 10**7], "--hidden"),
    (["sweep", "--datasets", "xor", "--hidden", 3, "--seeds", 10**15], "reduce --seeds"),
    (["sweep", "--datasets", "linear", "--n", 10**14, "--seeds", 1], "--n"),
])
def test_a_run_too_big_for_the_machine_is_refused_before_allocating(capsys, tmp_path, argv, reduce):
    code, _, err = run(capsys, *argv, "--out", tmp_path / "out", *QUICK if argv[0] != "graph" else [])
    assert_one_error_line(code, err, "this run needs about ", "is available", reduce)
    assert not (tmp_path / "out").exists()


def test_the_memory_check_compares_the_estimate_with_what_is_available(capsys, tmp_path, monkeypatch):
    argv = ["train", "--hidden", 100, 100, "--out", tmp_path, *QUICK]
    monkeypatch.setattr(cli, "available_memory", lambda: 100 << 10)  # 100 KiB: less than 2-100-100-1 needs
    code, _, err = run(capsys, *argv)
    assert_one_error_line(code, err, "but 100.0 KiB is available; reduce --hidden")
    monkeypatch.setattr(cli, "available_memory", lambda: 10 << 20)
    assert run(capsys, *argv)[0] == 0
    monkeypatch.setattr(cli, "available_memory", lambda: None)  # unknown: not checked
    assert run(capsys, *argv)[0] == 0


def test_a_sweep_counts_every_seed_and_worker(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "available_memory", lambda: 4 << 20)
    base = ["sweep", "--datasets", "xor", "--hidden", 100, "--out", tmp_path, *QUICK]
    assert run(capsys, *base, "--seeds", 1, "--workers", 1)[0] == 0
    code, _, err = run(capsys, *base, "--seeds", 20, "--workers", 1)
    assert_one_error_line(code, err, "reduce --seeds or --hidden")
    code, _, err = run(capsys, *base, "--hidden", 100, 101, 102, 103, "--seeds", 4, "--workers", 4)
    assert_one_error_line(code, err, "--workers")


# -- an interrupted sweep ---------------------------------------------------------------------
def test_a_sweep_interrupted_before_any_row_names_no_file(capsys, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(mg.train, "sweep", interrupted)
    code, _, err = run(capsys, "sweep", "--datasets", "xor", "--out", tmp_path, *QUICK)
    assert code == 130
    assert [line for line in err.splitlines() if line.strip()] == [
        "interrupted before a configuration of xor finished: nothing was kept for it"]
    assert not (tmp_path / "xor.partial.csv").exists()


def test_a_sweep_interrupted_after_a_row_names_the_file_that_has_it(capsys, tmp_path, monkeypatch):
    real_sweep = mg.train.sweep

    def interrupted_after_one_row(*args, on_row, **kwargs):
        def keep_then_stop(row):
            on_row(row)
            raise KeyboardInterrupt

        return real_sweep(*args, on_row=keep_then_stop, **kwargs)

    monkeypatch.setattr(mg.train, "sweep", interrupted_after_one_row)
    code, _, err = run(capsys, "sweep", "--datasets", "xor", "--hidden", 3, 4, "--seeds", 1, "--workers", 1,
                       "--out", tmp_path, *QUICK)
    partial = tmp_path / "xor.partial.csv"
    assert code == 130 and f"1 finished configuration(s) kept in {partial}" in err
    with open(partial) as file:
        assert len(list(csv.DictReader(file))) == 1


def test_sigterm_stops_a_sweep_as_ctrl_c_does(capsys, tmp_path, monkeypatch):
    def terminated(*args, **kwargs):
        # Sent to this very process: only safe while the sweep's handler is installed.
        assert signal.getsignal(signal.SIGTERM) is cli._raise_interrupt
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler interrupts this
        raise AssertionError("SIGTERM did not interrupt the sweep")

    previous = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(mg.train, "sweep", terminated)
    code, _, err = run(capsys, "sweep", "--datasets", "xor", "--out", tmp_path, *QUICK)
    assert code == 130 and "interrupted before a configuration of xor finished" in err
    assert signal.getsignal(signal.SIGTERM) is previous


# -- interrupting train (real signals, in a child process) ------------------------------------
def _start_training(tmp_path):
    """A long ``train`` whose log reaches a file at once; returns it once training runs."""
    log = tmp_path / "stdout.txt"
    command = [sys.executable, "-m", "microgradnp", "train", "--epochs", "100000000", "--stop-at-accuracy", "none",
               "--hidden", "8", "8", "--log-every", "100", "--no-progress", "--out", str(tmp_path / "out")]
    with open(log, "w") as stdout:
        process = subprocess.Popen(command, stdout=stdout, stderr=subprocess.PIPE, text=True,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 120
    while "epoch 100," not in log.read_text() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, process.communicate()[1]
    return process, log


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_training_at_the_end_of_an_epoch_and_writes_the_outputs(tmp_path, sig):
    process, log = _start_training(tmp_path)
    try:
        process.send_signal(sig)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    assert "Traceback" not in err + log.read_text()
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"interrupted ({sig.name}) at epoch "), err
    out = tmp_path / "out"
    assert "wrote metrics.json, predictions.csv" in lines[0] and lines[0].endswith(f" in {out}/")
    metrics = json.loads((out / "metrics.json").read_text())
    stopped_at = int(lines[0].split(" at epoch ")[1].split(",")[0])
    assert metrics["status"] == "stopped" and metrics["epochs"] == stopped_at == len(metrics["loss"]) >= 100
    assert metrics["message"] == f"interrupted by {sig.name} at epoch {stopped_at}"
    with open(out / "predictions.csv") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 21 and all(0 <= float(row["prediction"]) <= 1 for row in rows)


def test_a_second_signal_stops_at_once_in_one_line(capsys, tmp_path, monkeypatch):
    def fit_interrupted_twice(*args, should_stop, **kwargs):
        # Sent to this very process: only safe while train's handler is installed.
        assert isinstance(getattr(signal.getsignal(signal.SIGINT), "__self__", None), cli._StopRequest)
        os.kill(os.getpid(), signal.SIGINT)
        deadline = time.monotonic() + 30
        while not should_stop() and time.monotonic() < deadline:
            pass  # (Python runs the handler between bytecodes)
        assert should_stop(), "the first SIGINT was not recorded"
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # the second signal interrupts this
        raise AssertionError("the second SIGINT did not stop training at once")

    previous = signal.getsignal(signal.SIGINT)
    monkeypatch.setattr(mg.train, "fit", fit_interrupted_twice)
    code, _, err = run(capsys, "train", "--out", tmp_path, *QUICK)
    assert code == 130 and [line for line in err.splitlines() if line.strip()] == ["interrupted: stopped at once"]
    assert not (tmp_path / "metrics.json").exists()
    assert signal.getsignal(signal.SIGINT) is previous


def test_fit_stops_when_asked_at_the_end_of_an_epoch():
    X, y = mg.data.make_xor_easy()
    model = mg.nn.MLP(2, (4,), 1)
    optimizer = mg.optim.SGD(model.parameters(), lr=0.1)
    epochs_seen = []

    def after_three_epochs():
        epochs_seen.append(len(epochs_seen) + 1)
        return len(epochs_seen) == 3

    history = mg.train.fit(model, X, y, "mse", optimizer, epochs=100, progress=False, should_stop=after_three_epochs)
    assert (history.status, history.stop_epoch, history.epochs) == ("stopped", 3, 3)
    assert not history.converged and history.to_dict()["status"] == "stopped"


# -- fuzz: random flags and configs never give a traceback ------------------------------------
BAD_NUMBERS = ["x", "", "-1", "0", "nan", "inf", "1e999", "3.5", "1,2", str(10**30), str(-(10**30))]
COMMON = {
    "--dataset": ["xor", "linear", "moons", "circles", "spiral", "mnist", "missing.csv", "points.csv", "bad.csv",
                  "afile"],
    "--n": ["1", "2", "5", "30", *BAD_NUMBERS],
    "--data-seed": ["0", "7", str(10**20), *BAD_NUMBERS],
    "--activation": ["sigmoid", "relu", "tanh", "none", "swish", ""],
    "--output-activation": ["sigmoid", "none", "relu", "softmax"],
    "--init": ["default", "normal(0, 1)", "uniform(-1, 1)", "xavier", "gauss(1)", "normal(", ""],
    "--bias-init": ["default", "uniform(0, 1)", "kaiming", "zeros", "bad("],
    "--conv1d-channels": ["0", "2", str(10**12), *BAD_NUMBERS],
    "--seed": ["0", "3", str(10**25), *BAD_NUMBERS],
    "--loss": ["mse", "mse/2", "bce", "bce_with_logits", "cross_entropy", "hinge"],
    "--optimizer": ["sgd", "adam", "adamw", "rmsprop", "adagrad", "lbfgs"],
    "--lr": ["0.1", "1", "1e-3", "1e300", *BAD_NUMBERS],
    "--momentum": ["0", "0.9", "1", *BAD_NUMBERS],
    "--weight-decay": ["0", "0.01", "1e300", *BAD_NUMBERS],
    "--betas": ["0.9,0.999", ["0.5", "0.6"], "[0.9, 0.99]", "1,2", "0.9", "x", ""],
    "--stop-at-accuracy": ["none", "1", "0.5", "0", "2", "x", "-1"],
    "--test-size": ["0.25", "0.5", "0", "1", *BAD_NUMBERS],
    "--out": ["run", "nested/run", "", "afile", "afile/run", "a" * 300, "-"],
    "--config": ["missing.toml", "afolder", "bad.toml", "good.toml"],
    "--epochs": ["1", "2", "3", "0", "-2", "x", "1e3", "2.0"],  # never a long valid budget
}
TRAIN_ONLY = {"--hidden": ["1", "3", ["2", "2"], "0", "-1", "x", str(10**12), ["3", "x"], ""],
              "--batch-size": ["1", "5", str(10**15), *BAD_NUMBERS], "--log-every": ["1", "2", *BAD_NUMBERS]}
SWEEP_ONLY = {
    "--datasets": ["xor", ["linear", "moons"], "spiral", "mnist", "points.csv", "bad.csv"],
    "--hidden": ["3", "2,", "2,2", "[3]", "(2, 2)", ["3", "2,"], "0", "x", "1,x", str(10**12), ""],
    "--lr": ["0.5", ["0.1", "1"], ["1", "-1"], *BAD_NUMBERS],
    "--activation": ["tanh", ["sigmoid", "relu"], "swish"],
    "--nesterov": ["", "true", "false", ["true", "false"], "maybe"],
    "--bias": ["true", "false", ["true", "false"], "x"],
    "--seeds": ["1", "2", "0", "-1", "x", str(10**15)],
    "--workers": ["1", "0", "-1", "x", "1.5"],
    "--dtype": ["float32", "float64", "float16"],
    "--protocol": ["lab", "mine"],
}
SWITCHES = {"train": ["--no-bias", "--nesterov", "--no-compile", "--no-progress", "--bogus", "extra"],
            "sweep": ["--no-bias", "--one-at-a-time", "--resume", "--no-progress", "--bogus", "--nesterov"]}


def _random_argv(rng: random.Random, command: str) -> list[str]:
    options = {**COMMON, **(TRAIN_ONLY if command == "train" else SWEEP_ONLY)}
    # A short budget first; a random --epochs after it wins but is never long either.
    argv = [command, "--epochs", "2", "--no-progress"] + (["--seeds", "1"] if command == "sweep" else [])
    for _ in range(rng.randint(0, 6)):
        if rng.random() < 0.15:
            argv.append(rng.choice(SWITCHES[command]))
            continue
        flag = rng.choice(sorted(options))
        value = rng.choice(options[flag])
        argv += [flag, *value] if isinstance(value, list) else [flag, value]  # (a list: several words)
    return argv


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return {"inf": "inf", "-inf": "-inf", "nan": "nan"}.get(str(value), repr(value))
    if isinstance(value, int | str):
        return json.dumps(value) if isinstance(value, str) else str(value)
    if isinstance(value, list):
        return "[" + ", ".join(map(_toml, value)) + "]"
    return "{" + ", ".join(f"{key} = {_toml(item)}" for key, item in value.items()) + "}"


def _random_value(rng: random.Random, key: str, defaults: dict):
    default = defaults.get(key)
    weird = ["xor", "sigmoid", "adam", "normal(0, 1)", "none", "text", "", -1, 0, 10**30, -(10**30), 1.5, -2.5,
             float("inf"), float("nan"), True, [], [[]], {"a": 1}, [{"lr": 0.1}], [1, "x"], "afile/run"]
    if key in ("epochs", "log_every"):
        return rng.choice([1, 2, 0, -1, "2", 2.0, True, [2]])  # never a long valid budget
    if key in ("n", "seeds"):
        return rng.choice([1, 2, 5, 0, -3, 10**15, "5", 2.5, [5]])
    if key == "workers":  # (never several: starting worker processes is slow)
        return rng.choice([1, 0, -1, "2", 1.5])
    if key == "grid":
        table = {grid_key: _random_value(rng, grid_key, cli.SWEEP_DEFAULTS) for grid_key in
                 rng.sample(cli.SWEEP_GRID_KEYS, rng.randint(0, 3))}
        return rng.choice([[table], [table, {}], table, [], [1], "grid"])
    if default is not None and rng.random() < 0.5:
        return default
    return rng.choice(weird)


def _random_config(rng: random.Random, command: str) -> str:
    defaults = cli.TRAIN_DEFAULTS if command == "train" else cli.SWEEP_DEFAULTS
    keys = [key for key in defaults if key != "scheduler"]  # (a scheduler address would be dialled)
    config = {"epochs": 2, "progress": False, **({"seeds": 1} if command == "sweep" else {})}
    for key in rng.sample(keys, rng.randint(0, 5)):
        config[key] = _random_value(rng, key, defaults)
    if rng.random() < 0.1:
        config["unknown_key"] = 1
    scalars = {key: value for key, value in config.items() if not _is_table_array(value)}
    text = "".join(f"{key} = {_toml(value)}\n" for key, value in scalars.items())
    for key, tables in config.items():
        if _is_table_array(tables):  # [[grid]] written as TOML's array of tables
            text += "".join(f"\n[[{key}]]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in table.items())
                            for table in tables)
    return text


def _is_table_array(value) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)


def _fuzz_files(folder: Path) -> None:
    (folder / "afile").write_text("a file\n")
    (folder / "afolder").mkdir()
    (folder / "bad.toml").write_bytes(b"lr = [\xff")
    (folder / "good.toml").write_text("hidden = 3\nlr = 0.5\n")
    (folder / "points.csv").write_text("x1,x2,label\n0,0,0\n1,1,1\n0,1,1\n1,0,0\n")
    (folder / "bad.csv").write_text("x1,x2,label\n0,0,2\n1,x\n")


def _check_case(capsys, argv):
    try:
        code = main(argv)
    except BaseException as error:  # any escape is the failure this test looks for
        pytest.fail(f"{argv!r} raised {type(error).__name__}: {error}")
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err, argv
    assert code in (0, 2), (argv, code, captured.err)
    if code == 2:
        lines = [line for line in captured.err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), (argv, captured.err)
    return code


# A train that runs writes figures (~0.4 s); most sweeps here fail early or are tiny.
CASES = {"train": 70, "sweep": 150}


@pytest.mark.parametrize("command", ["train", "sweep"])
def test_fuzzed_flags_give_a_run_or_one_error_line(capsys, tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    _fuzz_files(tmp_path)
    rng = random.Random(f"flags {command}")
    codes = [_check_case(capsys, _random_argv(rng, command)) for _ in range(CASES[command])]
    assert 0 in codes and 2 in codes  # both kinds of case were reached


@pytest.mark.parametrize("command", ["train", "sweep"])
def test_fuzzed_configs_give_a_run_or_one_error_line(capsys, tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    _fuzz_files(tmp_path)
    rng = random.Random(f"configs {command}")
    codes = []
    for case in range(CASES[command]):
        config = tmp_path / f"fuzz{case}.toml"
        config.write_text(_random_config(rng, command))
        codes.append(_check_case(capsys, [command, "--config", str(config)]))
    assert 0 in codes and 2 in codes


# -- help texts, and errors that point at them ------------------------------------------------
def _subcommands():
    parser = cli.build_parser()
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


@pytest.mark.parametrize("command", [None, "train", "sweep", "graph"], ids=["top", "train", "sweep", "graph"])
def test_help_shows_percent_signs_as_written(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"] if command is None else [command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "%%" not in text and "%(" not in text  # argparse's escapes are not shown
    if command in ("train", "sweep"):
        assert "(default 1.0: 100 %)" in " ".join(text.split())  # (joined: help lines wrap)


# A bad value for each type function of the flags (every one of them: see the test below).
BAD_VALUES = {cli._positive_int: "1.5", cli._non_negative_int: "-1", cli._positive_float: "0", cli._fraction: "2",
              cli._non_negative_float: "-1", cli._open_fraction: "1", cli._stop: "100", cli._layers: "x",
              cli._betas: "1,1", cli._truth: "maybe", cli._init: "bogus", cli._dataset: "mnist", cli._path: "",
              cli._optimizer_options: "eps"}


def _typed_flags():
    return [pytest.param(name, action.option_strings[0], action.type, id=f"{name}{action.option_strings[0]}")
            for name, command in _subcommands().items() for action in command._actions if action.type is not None]


def test_every_type_function_has_a_bad_value_here():
    assert {case.values[2] for case in _typed_flags()} <= set(BAD_VALUES)


@pytest.mark.parametrize(("command", "flag", "kind"), _typed_flags())
def test_a_bad_value_of_any_flag_names_the_flag_and_what_it_takes(capsys, tmp_path, monkeypatch, command, flag,
                                                                  kind):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, command, flag, BAD_VALUES[kind])
    assert_one_error_line(code, err, f"error: microgradnp {command}: argument {flag}: ",
                          f"(see 'microgradnp {command} --help')")
    message = err.split(f"argument {flag}: ", 1)[1]
    assert message.startswith(("must be ", "unknown ")), message  # what it takes, or what it knows
    assert "invalid" not in message and kind.__name__ not in message and "_value" not in message


def _choice_flags():
    return [pytest.param(name, action.option_strings[0], id=f"{name}{action.option_strings[0]}")
            for name, command in _subcommands().items() for action in command._actions
            if action.choices is not None and action.option_strings]


@pytest.mark.parametrize(("command", "flag"), _choice_flags())
def test_a_bad_choice_of_any_flag_lists_the_choices(capsys, command, flag):
    code, _, err = run(capsys, command, flag, "bogus")
    assert_one_error_line(code, err, f"microgradnp {command}: argument {flag}: invalid choice: 'bogus' (choose from ",
                          f"(see 'microgradnp {command} --help')")


@pytest.mark.parametrize("command", ["train", "sweep", "graph"])
@pytest.mark.parametrize("extra", [["--bogus"], ["--bogus", "1"], ["stray"]], ids=["flag", "flag-value", "word"])
def test_an_unknown_argument_points_at_its_subcommands_help(capsys, command, extra):
    code, _, err = run(capsys, command, *extra)
    assert_one_error_line(code, err, f"error: microgradnp {command}: unrecognized arguments: {' '.join(extra)} "
                          f"(see 'microgradnp {command} --help')")


def test_a_bad_command_points_at_the_top_level_help(capsys):
    code, _, err = run(capsys, "fly")
    assert_one_error_line(code, err, "invalid choice: 'fly'", "(see 'microgradnp --help')")
    code, _, err = run(capsys)
    assert_one_error_line(code, err, "required: command", "(see 'microgradnp --help')")


@pytest.mark.parametrize("out", ["afile/graph.svg", "afile/deeper/graph.svg"])
def test_a_graph_under_a_file_says_not_a_directory(capsys, tmp_path, monkeypatch, out):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("a file\n")
    code, _, err = run(capsys, "graph", "--hidden", "2", "--out", out)
    assert_one_error_line(code, err, f"cannot write {out}: afile is a file, not a directory")
    assert (tmp_path / "afile").read_text() == "a file\n"
