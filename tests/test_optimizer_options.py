"""The optimizer's other arguments (amsgrad, eps, centered, alpha, dampening...) as a run's
option and a sweep axis: ``optimizer_options`` in ``mg.train.sweep``, ``--optimizer-options``
for ``microgradnp train`` and ``sweep``, ``optimizer_options`` in a config file."""

from __future__ import annotations

import json

import pytest
from test_sweep_axes import SMALL, _both, _outcomes

import microgradnp as mg
from microgradnp.cli import main
from microgradnp.train.runs import build_optimizer, optimizer_options
from microgradnp.train.sweep import LAB_DEFAULTS, SweepConfig


@pytest.mark.parametrize(("given", "canonical"), [
    ("amsgrad=true, eps=1e-6", "amsgrad=True, eps=1e-06"),
    ({"eps": 1e-6, "amsgrad": True}, "amsgrad=True, eps=1e-06"),
    ("centered=TRUE,alpha=0.9", "alpha=0.9, centered=True"),
    ("lambd=1e-3, t0=10", "lambd=0.001, t0=10"),
    ("", ""),
    (None, ""),
    ({}, ""),
])
def test_options_have_one_canonical_text(given, canonical):
    assert optimizer_options(given) == canonical
    assert optimizer_options(canonical) == canonical


@pytest.mark.parametrize(("given", "message"), [
    ("eps", "name=value pairs"),
    ("momentum=0.9", "give 'momentum' as its own option"),
    ("lr=0.1", "give 'lr' as its own option"),
    ("eps=abc", "is not a number"),
    ({"eps": [1, None]}, "must be a number"),
    (3, "must be a mapping"),
])
def test_bad_options_are_one_clear_error(given, message):
    with pytest.raises(ValueError, match=message):
        optimizer_options(given)


def test_the_optimizer_gets_them_and_refuses_what_it_does_not_take():
    parameters = [mg.tensor([1.0, 2.0], requires_grad=True)]
    adam = build_optimizer("adam", parameters, 0.01, "amsgrad=true, eps=1e-6")
    assert adam.defaults["amsgrad"] is True and adam.defaults["eps"] == 1e-6
    rmsprop = build_optimizer("rmsprop", parameters, 0.01, {"centered": True}, momentum=0.5)
    assert rmsprop.defaults["centered"] is True and rmsprop.defaults["momentum"] == 0.5
    with pytest.raises(ValueError, match=r"optimizer 'sgd' has no option 'centered'.*dampening"):
        build_optimizer("sgd", parameters, 0.1, "centered=true")


@pytest.mark.parametrize("grid", [
    {**SMALL, "optimizer": "adam", "lr": 0.05, "optimizer_options": ["", {"amsgrad": True, "eps": 1e-3}]},
    {**SMALL, "optimizer": "rmsprop", "lr": 0.01, "optimizer_options": ["", "centered=true, alpha=0.9"]},
    {**SMALL, "lr": 0.2, "momentum": 0.9, "optimizer_options": ["", "dampening=0.5"]},
], ids=["adam-amsgrad-eps", "rmsprop-centered-alpha", "sgd-dampening"])
def test_a_sweep_axis_exact_as_one_seed_at_a_time(grid):
    result = _both(grid)
    assert len(set(_outcomes(result))) == 2  # the options change the training
    for row in result.rows:  # and reach the optimizer as given
        config = SweepConfig(**{key: row[key] for key in LAB_DEFAULTS})
        optimizer = config.optimizer_for(config.build(2, 0).parameters(), config.lr)
        for part in filter(None, row["optimizer_options"].split(", ")):
            name, value = part.split("=")
            assert repr(optimizer.defaults[name]) == value


def test_a_sweep_refuses_an_option_its_optimizer_does_not_take():
    with pytest.raises(ValueError, match=r"sweep: configuration .*optimizer 'adam' has no option 'centered'"):
        mg.train.sweep({"optimizer": "adam", "optimizer_options": "centered=true"}, "xor", seeds=1, epochs=5,
                       progress=False)


def test_the_command_line_and_the_config_file(tmp_path, capsys):
    out = tmp_path / "train"
    assert main(["train", "--optimizer", "adam", "--lr", "0.05", "--optimizer-options", "amsgrad=true,eps=1e-3",
                 "--epochs", "30", "--stop-at-accuracy", "none", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert "amsgrad=True, eps=0.001" in json.dumps(metrics)
    config = tmp_path / "sweep.toml"
    config.write_text('datasets = ["xor"]\nseeds = 1\nepochs = 30\nstop_at_accuracy = "none"\noptimizer = "rmsprop"\n'
                      'lr = 0.01\noptimizer_options = [{centered = true}, "alpha=0.9"]\n', encoding="utf-8")
    assert main(["sweep", "--config", str(config), "--out", str(tmp_path / "sweep"), "--workers", "1"]) == 0
    rows = json.loads((tmp_path / "sweep" / "xor.json").read_text())
    rows = rows["rows"] if isinstance(rows, dict) else rows
    assert sorted(row["optimizer_options"] for row in rows) == ["alpha=0.9", "centered=True"]
    capsys.readouterr()
    assert main(["train", "--optimizer", "sgd", "--optimizer-options", "centered=true", "--epochs", "3",
                 "--out", str(tmp_path / "bad")]) == 2
    assert "has no option 'centered'" in capsys.readouterr().err
