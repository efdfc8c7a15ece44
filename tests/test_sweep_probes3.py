"""The sweep as a lab's student and an adversarial tester use it: the cores it starts
workers on, options that contradict each other, config spellings, and outputs that
cannot be written."""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import re
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import pytest

import microgradnp as mg
import microgradnp.train.sweep  # (the module: mg.train.sweep is the function)
from microgradnp.cli import main

sweep_module = sys.modules["microgradnp.train.sweep"]
QUICK = ["--datasets", "xor", "--hidden", "3,", "--seeds", "2", "--epochs", "20", "--no-progress"]


def _run(argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs a CPU affinity of at least two cores to restrict")
def test_default_workers_are_the_cores_this_process_may_use():
    # taskset, a Slurm job's --cpus-per-task: one worker per core of the whole machine
    # (os.cpu_count()) would put several busy processes on each core the job has.
    allowed = os.sched_getaffinity(0)
    settings = sweep_module._Settings(10**6, 0.5, np.dtype(np.float64))
    os.sched_setaffinity(0, {min(allowed)})
    try:
        workers = sweep_module._workers(None, settings, 100, 8)
    finally:
        os.sched_setaffinity(0, allowed)
    assert workers == 1
    assert sweep_module._workers(None, settings, 100, 8) == min(8, sweep_module.usable_cores())


def test_workers_and_an_executor_together_are_one_error():
    with ThreadPoolExecutor(2) as executor, pytest.raises(ValueError, match=r"workers=2 .*executor= replaces"):
        mg.train.sweep({"hidden": 3}, "xor", seeds=1, epochs=5, workers=2, executor=executor, progress=False)


def test_cli_workers_and_scheduler_together_are_one_error_before_connecting(tmp_path):
    code, out, err = _run(["sweep", *QUICK, "--workers", "2", "--scheduler", "tcp://127.0.0.1:1",
                           "--out", str(tmp_path)])
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "--workers" in err and "--scheduler" in err


def test_cli_run_on_an_executor_says_so(tmp_path, monkeypatch):
    from microgradnp import cli

    @contextlib.contextmanager
    def executor(address):
        with ThreadPoolExecutor(2) as pool:
            yield pool

    monkeypatch.setattr(cli, "_executor", executor)
    code, out, _ = _run(["sweep", *QUICK, "--scheduler", "tcp://somewhere:8786", "--out", str(tmp_path)])
    assert code == 0 and "on the Dask cluster" in out and "process(es)" not in out


@pytest.mark.parametrize("spelling", ["none", "None", "NONE"])
def test_a_grid_tables_no_target_in_any_case(tmp_path, spelling):
    # (the top level's stop_at_accuracy = "None" passes; a [[grid]] table's must too)
    config = tmp_path / "sweep.toml"
    config.write_text(f'[[grid]]\nstop_at_accuracy = "{spelling}"\n')
    code, _, err = _run(["sweep", "--config", str(config), *QUICK, "--out", str(tmp_path / "out")])
    assert code == 0, err
    rows = json.loads((tmp_path / "out" / "xor.json").read_text())["rows"]
    assert [row["stop_at_accuracy"] for row in rows] == [None]
    assert rows[0]["stop_epoch_text"] == "-" and rows[0]["statuses"] == ["completed", "completed"]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_cli_a_cell_that_cannot_be_written_is_one_line(tmp_path, monkeypatch, workers):
    def full_disk(path, content):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sweep_module, "write_bytes_atomically", full_disk)
    code, _, err = _run(["sweep", *QUICK, "--workers", workers, "--out", str(tmp_path)])
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"error: cannot write {tmp_path / 'cells'}") and "No space left on device" in err


def test_an_oserror_that_is_not_a_cells_write_still_propagates(tmp_path, monkeypatch):
    def broken(*arguments, **options):
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(sweep_module, "_train_cells", broken)
    with pytest.raises(OSError, match="Resource temporarily unavailable"):
        _run(["sweep", *QUICK, "--workers", "1", "--out", str(tmp_path)])


@pytest.mark.parametrize("argv", [
    ["sweep", "--datasets", "xor", "--n", "500"],
    ["train", "--dataset", "xor", "--n", "500"],
])
def test_n_for_data_sets_of_fixed_points_is_one_error(tmp_path, argv):
    # xor is the lab's 21 points: a table of 21 points must not read as one of 500.
    code, out, err = _run([*argv, "--epochs", "2", "--no-progress", "--out", str(tmp_path / "out")])
    assert code == 2 and out == "" and err.count("\n") == 1 and "--n 500" in err and "xor" in err


def test_n_is_taken_when_one_data_set_is_generated(tmp_path):
    code, _, err = _run(["sweep", *QUICK, "--datasets", "xor", "moons", "--n", "30", "--out", str(tmp_path)])
    assert code == 0, err
    moons = json.loads((tmp_path / "moons.json").read_text())["rows"][0]
    X, y = mg.data.load("moons", n=30, rng=0)
    expected = mg.train.sweep({"hidden": (3,)}, (X, y), seeds=2, epochs=20, progress=False)
    assert moons["best_accuracies"] == expected.rows[0]["best_accuracies"]


@pytest.mark.parametrize("flags", [["--bias", "true", "--no-bias"], ["--no-bias", "--bias", "true"]])
def test_bias_and_no_bias_together_are_one_error(tmp_path, flags):
    # (either order: whichever came last used to win, silently)
    code, out, err = _run(["sweep", *QUICK, *flags, "--out", str(tmp_path)])
    assert code == 2 and out == "" and "--bias" in err and "--no-bias" in err


def _leaky(slope: float, seed: int):
    return mg.nn.Sequential(mg.nn.Linear(2, 3, rng=seed), mg.nn.LeakyReLU(slope), mg.nn.Linear(3, 1, rng=seed + 1))


def test_an_ensemble_computes_each_member_as_the_member_alone():
    X = mg.tensor(np.random.default_rng(0).normal(size=(7, 2)))
    models = [_leaky(0.3, 0), _leaky(0.3, 5)]
    outputs = mg.nn.Ensemble(models)(X).data
    for member, model in enumerate(models):
        np.testing.assert_array_equal(outputs[member], model(X).data)


def test_members_whose_layers_differ_in_a_setting_are_refused():
    # Member 1 would silently be computed with member 0's slope.
    with pytest.raises(ValueError, match=re.escape("layer 1: LeakyReLU(negative_slope=0.5) vs "
                                                   "LeakyReLU(negative_slope=0.01)")):
        mg.nn.Ensemble([_leaky(0.01, 0), _leaky(0.5, 5)])


def test_a_member_with_a_frozen_parameter_is_refused():
    # A stacked Parameter has one requires_grad: the frozen layer would be trained.
    frozen = mg.nn.MLP(2, (3,), 1, rng=1)
    frozen.fc1.weight.requires_grad_(False)
    with pytest.raises(ValueError, match=re.escape("fc1.weight requires_grad: False vs True")):
        mg.nn.Ensemble([mg.nn.MLP(2, (3,), 1, rng=0), frozen])
    # frozen alike in every member: one stacked frozen Parameter
    models = [mg.nn.MLP(2, (3,), 1, rng=seed) for seed in range(2)]
    for model in models:
        model.fc1.weight.requires_grad_(False)
    assert not mg.nn.Ensemble(models).module.fc1.weight.requires_grad


def test_an_ensemble_takes_one_point_as_a_model_does():
    models = [mg.nn.MLP(2, (3,), 1, rng=seed) for seed in range(3)]
    point = mg.tensor([0.3, 0.7], requires_grad=True)
    output = mg.nn.Ensemble(models)(point)
    expected = [model(point) for model in models]
    np.testing.assert_array_equal(output.data, np.stack([e.data for e in expected]))
    output.sum().backward()
    gradient = np.array(point.grad)
    point.grad = None
    sum(expected).sum().backward()
    np.testing.assert_allclose(gradient, np.array(point.grad), rtol=1e-15)


class _ClientWhoseSchedulerDies:
    """A Dask client as its scheduler dies: its futures never finish, and it closes once
    its reconnection times out (here, after its first submission)."""

    def __init__(self) -> None:
        self.status = "running"
        self.scheduler = type("Scheduler", (), {"address": "tcp://10.0.0.5:8786"})()

    def submit(self, function, *arguments, **options):
        self.status = "closed"
        return Future()  # never finishes


def test_a_dask_client_that_closes_fails_the_running_rows_instead_of_hanging(monkeypatch):
    client = _ClientWhoseSchedulerDies()
    monkeypatch.setattr(sweep_module, "_dask_client", lambda executor: client)
    monkeypatch.setattr(sweep_module, "_CLIENT_CHECK_EVERY", 0.05)
    rows = []
    with ThreadPoolExecutor(1) as executor:
        sweeping = threading.Thread(target=lambda: rows.append(mg.train.sweep(
            {"hidden": 3, "lr": [0.5, 1.0]}, "xor", seeds=2, epochs=5, executor=executor, progress=False)), daemon=True)
        sweeping.start()
        sweeping.join(10)
    assert not sweeping.is_alive(), "the sweep waits forever for a closed client's futures"
    (result,) = rows
    for row in result.rows:
        assert row["statuses"] == ["failed", "failed"]
        assert row["error"] == ("the Dask client closed (status 'closed'): the scheduler at tcp://10.0.0.5:8786 "
                                "went away")
