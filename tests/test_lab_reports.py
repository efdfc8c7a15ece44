"""examples/lab_reports: every system's sweep config runs (a few epochs) and builds the
configuration its README describes, and every command the README shows is a valid one."""

from __future__ import annotations

import contextlib
import io
import json
import shlex
import tomllib
from pathlib import Path

import pytest

import microgradnp as mg
from microgradnp.cli import SWEEP_DEFAULTS, TRAIN_DEFAULTS, build_model, build_optimizer, build_parser, load_data, main
from microgradnp.cli import resolve as resolve_options

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "examples" / "lab_reports"
README = FOLDER / "README.md"
CONFIGS = sorted(FOLDER.glob("*.toml"))
QUICK = ["--epochs", "3", "--seeds", "1", "--no-progress"]


def _sweep(config: Path, out: Path, *extra: str) -> dict[str, dict]:
    """Run the config for 3 epochs and 1 seed; its JSON tables by data set."""
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["sweep", "--config", str(config), *QUICK, "--out", str(out), *extra])
    assert code == 0
    datasets = tomllib.loads(config.read_text())["datasets"]
    tables = {name: json.loads((out / f"{name}.json").read_text()) for name in datasets}
    for table in tables.values():
        assert table["epochs"] == 3 and table["seeds"] == [0]
    return tables


def _configs(table: dict) -> list[dict]:
    keys = mg.train.LAB_DEFAULTS
    return [{key: row[key] for key in keys} for row in table["rows"]]


def _same(rows: list[dict], **expected) -> None:
    for row in rows:
        for key, value in expected.items():
            assert row[key] == value, (key, row)


def _system_a(rows):
    _same(rows, optimizer="sgd", loss="mse", bias=True, init="default", output_activation="sigmoid",
          stop_at_accuracy=1.0)
    lrs = [row for row in rows if row["hidden"] == 50 and row["activation"] == "sigmoid"]
    assert sorted(row["lr"] for row in lrs) == [0.005, 0.01, 0.05, 0.1]
    widths = [row["hidden"] for row in rows if row["lr"] == 0.1 and row["activation"] == "sigmoid"]
    assert sorted(widths) == list(range(10, 101, 10))  # two layers of each width
    activations = {row["activation"] for row in rows if row["lr"] == 0.1 and row["hidden"] == 50}
    assert activations == {"sigmoid", "relu", "none"}
    assert len(rows) == 15  # three one-axis grids sharing the lab's configuration


def _system_b(rows):
    assert rows == [{**mg.train.LAB_DEFAULTS, "hidden": 100}]  # 2-100-100-1, all sigmoid, MSE, SGD lr 0.1


def _system_c(rows):
    _same(rows, bias=False, init="normal(0, 1)", hidden=[4], lr=1.0, loss="mse", optimizer="sgd",
          stop_at_accuracy=None)
    assert [(row["activation"], row["output_activation"]) for row in rows] == [("sigmoid", "sigmoid"),
                                                                               ("none", "none")]


def _system_d(rows):
    _same(rows, bias=True, init="normal(0, 1)", bias_init="normal(0, 1)", loss="mse/2", optimizer="sgd",
          activation="sigmoid", output_activation="sigmoid", stop_at_accuracy=None)
    assert [(row["hidden"], row["lr"]) for row in rows] == [([10, 10], 0.1), ([10, 10], 0.01), ([100, 100], 0.1)]


def _system_e(rows):
    _same(rows, hidden=[4, 4], loss="mse/2", bias=True, init="default", output_activation="sigmoid",
          stop_at_accuracy=1.0)
    assert {(row["activation"], row["optimizer"], row["lr"], row["conv1d_channels"]) for row in rows} == {
        ("sigmoid", "sgd", 0.3, 0), ("sigmoid", "adam", 0.3, 0), ("sigmoid", "adam", 0.01, 0),
        ("tanh", "sgd", 0.3, 0), ("tanh", "sgd", 0.01, 0), ("relu", "sgd", 0.3, 0), ("relu", "sgd", 0.01, 0),
        ("sigmoid", "sgd", 0.3, 4)}


SYSTEMS = {"system_a": (["linear", "xor"], 100_000, _system_a), "system_b": (["linear", "xor"], 100_000, _system_b),
           "system_c": (["linear", "xor"], 10_000, _system_c), "system_d": (["xor"], 100_000, _system_d),
           "system_e": (["linear", "xor"], 14_000, _system_e)}


def test_there_is_one_config_per_system_and_a_readme():
    assert [config.stem for config in CONFIGS] == sorted(SYSTEMS)
    assert README.exists()


@pytest.mark.parametrize("config", CONFIGS, ids=lambda path: path.stem)
def test_config_runs_the_configuration_the_readme_describes(config, tmp_path):
    datasets, epochs, check = SYSTEMS[config.stem]
    settings = tomllib.loads(config.read_text())
    assert settings["datasets"] == datasets and settings["epochs"] == epochs and settings["seeds"] == 10
    assert config.read_text().startswith("#")  # the comment block: what the system is and the command
    assert f"microgradnp sweep --config examples/lab_reports/{config.name}" in config.read_text()
    tables = _sweep(config, tmp_path)
    for table in tables.values():
        check(_configs(table))
        assert all(len(row["statuses"]) == 1 for row in table["rows"])


def _commands(text: str, comments: bool = False) -> list[list[str]]:
    """The argument lists of the command lines (``microgradnp ...``) in a README, or in
    the comments of a config."""
    found = []
    for line in text.splitlines():
        line = line.strip()
        if comments:
            line = line.lstrip("#").strip()
            line = line[line.index("microgradnp "):] if "microgradnp " in line else ""
        if line.startswith("microgradnp "):
            found.append(shlex.split(line, comments=True)[1:])
    return found


README_COMMANDS = _commands(README.read_text()) if README.exists() else []
CONFIG_COMMANDS = [argv for config in CONFIGS for argv in _commands(config.read_text(), comments=True)]


def test_the_readme_shows_each_systems_sweep_and_train_commands():
    sweeps = [argv for argv in README_COMMANDS if argv[0] == "sweep"]
    for config in CONFIGS:
        assert any(f"examples/lab_reports/{config.name}" in argv for argv in sweeps), config.name
    assert sum(argv[0] == "train" for argv in README_COMMANDS) >= 5
    system_d = [" ".join(argv) for argv in sweeps if "examples/lab_reports/system_d.toml" in argv]
    assert any("--datasets linear --epochs 50000" in command for command in system_d)  # linear: 50k epochs


@pytest.mark.parametrize("argv", [argv for argv in README_COMMANDS if argv[0] == "sweep"], ids=" ".join)
def test_readme_sweep_command_runs(argv, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # the commands name the configs from the repository's root
    with contextlib.redirect_stdout(io.StringIO()):
        assert main([*argv, *QUICK, "--out", str(tmp_path)]) == 0
    assert list(tmp_path.glob("*.json"))


@pytest.mark.parametrize("argv", [argv for argv in README_COMMANDS + CONFIG_COMMANDS if argv[0] == "train"],
                         ids=" ".join)
def test_train_command_builds_and_trains(argv, monkeypatch, tmp_path):
    """Every train command of the README and of the configs' comments: its options pass
    the checks and build the data, network and optimizer, which train 3 epochs (the
    full command, with its figures and graph, is test_cli's business)."""
    monkeypatch.chdir(ROOT)
    options = resolve_options(build_parser().parse_args([*argv, "--out", str(tmp_path)]), TRAIN_DEFAULTS)
    X, y = load_data(options)
    model = build_model(options, X, y)
    optimizer = build_optimizer(options, model.parameters())
    history = mg.train.fit(model, X, y, options["loss"], optimizer, epochs=3, progress=False, file=io.StringIO())
    assert history.epochs == 3


@pytest.mark.parametrize("argv", [argv for argv in CONFIG_COMMANDS if argv[0] == "sweep"], ids=" ".join)
def test_config_comment_sweep_command_parses(argv, monkeypatch):
    monkeypatch.chdir(ROOT)
    options = resolve_options(build_parser().parse_args(argv), SWEEP_DEFAULTS)
    assert Path(options["out"]).parts[:2] == ("results", "lab_reports")


def test_one_readme_train_command_runs_end_to_end(monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    argv = next(argv for argv in README_COMMANDS if argv[0] == "train")
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        assert main([*argv, "--epochs", "3", "--no-progress", "--out", str(tmp_path)]) == 0
    assert "truth  prediction" in output.getvalue() and "final loss" in output.getvalue()
    assert (tmp_path / "metrics.json").exists()
