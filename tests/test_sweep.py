"""The lab's sweep: the grid, the ensemble against one-at-a-time training, workers, the table."""

from __future__ import annotations

import csv
import functools
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import microgradnp as mg
from microgradnp.train.sweep import LAB_GRID, expand_grid

sweep_module = sys.modules["microgradnp.train.sweep"]  # (mg.train.sweep is the function)

XOR = mg.data.make_xor_easy()
PER_SEED = ("stop_epochs", "best_accuracies", "statuses")


def _per_seed(result):
    return [{key: row[key] for key in ("lr", "hidden", "activation", "optimizer", *PER_SEED)} for row in result.rows]


# -- the grid ---------------------------------------------------------------------------------
def test_lab_grid_is_the_labs_protocol():
    configs = expand_grid(LAB_GRID)
    assert len(configs) == 17  # 4 lrs + 10 sizes + 4 activations + Adam, the shared default counted once
    assert [c.lr for c in configs[:4]] == [0.1, 0.05, 0.01, 0.005]
    assert {c.hidden for c in configs if c.activation == "sigmoid" and c.lr == 0.1} == set(range(10, 101, 10))
    assert {c.activation for c in configs} == {"sigmoid", "relu", "tanh", "none"}
    assert {c.optimizer for c in configs} == {"sgd", "adam"}
    for c in configs:  # every configuration differs from the default in one key at most
        assert sum(getattr(c, k) != v for k, v in mg.train.LAB_DEFAULTS.items()) <= 1


def test_grid_product_order_and_defaults():
    configs = expand_grid({"hidden": [10, 20], "lr": [0.5, 0.1]})
    assert [(c.hidden, c.lr) for c in configs] == [(10, 0.5), (10, 0.1), (20, 0.5), (20, 0.1)]
    assert {(c.activation, c.optimizer) for c in configs} == {("sigmoid", "sgd")}
    assert expand_grid({"activation": None})[0].activation == "none"


@pytest.mark.parametrize(("grid", "message"), [
    ({"momentun": [0.9]}, "unknown grid key 'momentun'"),
    ({"lr": []}, "has no values"),
    ({"lr": [-0.1]}, "positive number"),
    ({"hidden": [2.5]}, "positive integer"),
    ({"activation": ["swish"]}, "unknown activation 'swish'"),
    ({"optimizer": ["lbfgs"]}, "unknown optimizer 'lbfgs'"),
    ("lr", "must be a mapping"),
    ([], "must be a mapping"),
])
def test_bad_grid(grid, message):
    with pytest.raises(ValueError, match=message):
        expand_grid(grid)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"dataset": "mnist"}, "unknown data set 'mnist'"),
    ({"dataset": (np.zeros(3), np.zeros(3))}, "dataset must be"),
    ({"seeds": 0}, "seeds must be"),
    ({"seeds": [1, 1]}, "distinct"),
    ({"epochs": 0}, "epochs must be a positive integer"),
    ({"stop_at_accuracy": 1.5}, r"stop_at_accuracy must be a number in \(0, 1\]"),
    ({"workers": 0}, "workers must be"),
])
def test_bad_sweep_arguments(kwargs, message):
    arguments = {"dataset": "xor", "seeds": 1, "epochs": 10, **kwargs}
    with pytest.raises(ValueError, match=message):
        mg.train.sweep({"hidden": 4}, arguments.pop("dataset"), progress=False, **arguments)


# -- vectorised equals one at a time ----------------------------------------------------------
@pytest.mark.parametrize(("grid", "dataset", "epochs"), [
    ({"lr": [0.5, 2.0], "hidden": [4, 6], "activation": ["sigmoid", "tanh"]}, "xor", 700),
    ({"lr": [0.1, 0.5], "hidden": [5], "activation": ["relu", "none"]}, "linear", 600),
    ([{"hidden": 5, "optimizer": "adam", "lr": [0.01, 0.05]}, {"hidden": 5, "lr": 50.0}], "xor", 800),
])
def test_vectorised_sweep_equals_one_at_a_time(grid, dataset, epochs):
    vectorised = mg.train.sweep(grid, dataset, seeds=2, epochs=epochs, progress=False, workers=1)
    one_by_one = mg.train.sweep(grid, dataset, seeds=2, epochs=epochs, progress=False, vectorize=False)
    assert vectorised.vectorized and not one_by_one.vectorized
    assert _per_seed(vectorised) == _per_seed(one_by_one)
    statuses = {s for row in vectorised.rows for s in row["statuses"]}
    assert len(statuses) > 1  # the grid mixes runs that stop early with runs that do not


def test_float32_sweep_equals_float32_runs_one_at_a_time():
    grid = {"lr": [0.5, 2.0], "hidden": 6, "activation": ["sigmoid", "tanh"]}
    vectorised = mg.train.sweep(grid, "xor", seeds=2, epochs=600, progress=False, dtype="float32")
    assert vectorised.dtype == "float32" and "float32" in str(vectorised)
    mg.set_default_dtype("float32")  # the one-at-a-time runs take the default dtype
    try:
        one_by_one = mg.train.sweep(grid, "xor", seeds=2, epochs=600, progress=False, vectorize=False)
    finally:
        mg.set_default_dtype("float64")
    assert one_by_one.dtype == "float32"
    assert _per_seed(vectorised) == _per_seed(one_by_one)
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        mg.train.sweep(grid, "xor", seeds=1, epochs=5, progress=False, dtype="int8")


def test_divergence_ends_a_run_as_fit_ends_it():
    grid = {"hidden": 5, "lr": [1e200, 0.1], "activation": "none"}
    result = mg.train.sweep(grid, "linear", seeds=2, epochs=300, progress=False)
    assert _per_seed(result) == _per_seed(mg.train.sweep(grid, "linear", seeds=2, epochs=300, progress=False,
                                                         vectorize=False))
    row = result.rows[0]
    assert row["statuses"] == ["diverged", "diverged"] and row["never_converged"] == 2
    assert row["stop_epoch_text"] == "300+" and row["mean_stop_epoch"] is None


def test_worker_processes_agree_with_one_process_and_an_executor_can_be_given():
    pytest.importorskip("loky")
    grid = {"lr": [0.2, 1.0], "hidden": 6}
    in_processes = mg.train.sweep(grid, "xor", seeds=4, epochs=4000, progress=False, workers=2)
    in_process = mg.train.sweep(grid, "xor", seeds=4, epochs=4000, progress=False, workers=1)
    assert in_processes.workers == 2
    assert _per_seed(in_processes) == _per_seed(in_process)
    with ThreadPoolExecutor(2) as executor:
        assert _per_seed(mg.train.sweep(grid, "xor", seeds=4, epochs=4000, progress=False,
                                        executor=executor)) == _per_seed(in_process)


def _die_once(marker, configs, seeds, X, y, settings):
    """A task whose worker process dies the first time (``marker`` records it)."""
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(3)
    return sweep_module._train_cells(configs, seeds, X, y, settings)


def _always_die(configs, seeds, X, y, settings):
    os._exit(3)


def test_a_dead_worker_is_replaced_and_its_task_runs_again(tmp_path):
    pytest.importorskip("loky")
    configs = mg.train.expand_grid({"hidden": 3, "lr": [0.5, 1.0]})
    settings = sweep_module._Settings(50, 0.5, np.dtype(np.float64))
    X, y = mg.data.make_xor_easy()
    rows = {}
    sweep_module._run_on_executor(functools.partial(_die_once, str(tmp_path / "died")), [(0, 1)], configs, [0, 1],
                                  X, y, settings, None, 1, lambda number, *row: rows.setdefault(number, row))
    assert sorted(rows) == [0, 1] and all(row[0] is not None for row in rows.values())
    expected = sweep_module._fit_cells(configs, [0, 1], X, y, settings)
    assert [rows[0][0], rows[1][0]] == [results for results, _ in expected]


def test_a_task_whose_worker_always_dies_gives_a_failed_row_not_a_hang():
    pytest.importorskip("loky")
    configs = mg.train.expand_grid({"hidden": 3})
    settings = sweep_module._Settings(10, 0.5, np.dtype(np.float64))
    rows = []
    sweep_module._run_on_executor(_always_die, [(0,)], configs, [0], *mg.data.make_xor_easy(), settings, None, 1,
                                  lambda number, results, seconds, error="": rows.append((results, error)))
    assert rows == [(None, rows[0][1])] and "worker process died" in rows[0][1]
    row = sweep_module._row(configs[0], [0], None, 10, 0.0, rows[0][1])
    assert row["statuses"] == ["failed"] and row["stop_epoch_text"] == "failed"


def _die_on_a_large_rate(configs, seeds, X, y, settings):
    if configs[0].lr > 1:
        os._exit(3)
    return sweep_module._train_cells(configs, seeds, X, y, settings)


def test_only_the_configuration_whose_worker_keeps_dying_fails():
    # The pool does not say whose worker died: the configurations it was running run
    # again one at a time, so that the one that kills its worker fails alone.
    pytest.importorskip("loky")
    configs = mg.train.expand_grid({"hidden": 3, "lr": [5.0, 0.5, 1.0, 0.2]})
    settings = sweep_module._Settings(20, 0.5, np.dtype(np.float64))
    X, y = mg.data.make_xor_easy()
    rows = {}
    sweep_module._run_on_executor(_die_on_a_large_rate, [(0,), (1,), (2,), (3,)], configs, [0], X, y, settings,
                                  None, 2, lambda number, results, seconds, error="": rows.update({number: error}))
    assert sorted(rows) == [0, 1, 2, 3]
    assert "worker process died" in rows[0] and rows[1] == rows[2] == rows[3] == ""


def test_a_failed_row_is_written_as_standard_json_csv_with_its_reason_and_markdown(tmp_path):
    import csv
    import json

    configs = mg.train.expand_grid({"hidden": 3, "lr": [0.5, 1.0]})
    good = mg.train.sweep({"hidden": 3, "lr": 0.5}, "xor", seeds=2, epochs=20, progress=False).rows[0]
    failed = sweep_module._row(configs[1], [0, 1], None, 20, 0.0, "a worker process died (SIGKILL)")
    result = mg.train.SweepResult([good, failed], "xor", [0, 1], 20, 1.0)
    result.to_json(tmp_path / "r.json")
    loaded = json.loads((tmp_path / "r.json").read_text(), parse_constant=lambda name: pytest.fail(name))
    assert loaded["rows"][1]["best_accuracy"] is None and loaded["rows"][1]["error"].startswith("a worker")
    result.to_csv(tmp_path / "r.csv")
    with open(tmp_path / "r.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert rows[1]["error"] == "a worker process died (SIGKILL)" and rows[0]["error"] == ""
    table = result.to_markdown()
    assert "nan" not in table and "failed" in table


@pytest.mark.parametrize(("arguments", "message"), [
    (dict(on_row=5), "on_row must be a function"), (dict(executor="x"), "executor must be a concurrent.futures"),
    (dict(threshold=float("nan")), "threshold must be a number"), (dict(data_seed="a"), "data_seed must be"),
    (dict(dataset=(np.zeros((5, 2)), np.zeros(4))), r"X of shape \(5, 2\) and y of shape \(4,\)"),
])
def test_sweep_refuses_bad_arguments_before_training(arguments, message):
    rows = []
    given = dict(dataset="xor") | arguments
    with pytest.raises((TypeError, ValueError), match=message):
        mg.train.sweep({"hidden": 3}, given.pop("dataset"), seeds=1, epochs=5, progress=False,
                       **({"on_row": rows.append} | given))
    assert rows == []


def test_custom_dataset_and_seed_list():
    X, y = mg.data.make_circles(40, rng=1)
    result = mg.train.sweep({"hidden": 8, "activation": "tanh", "lr": 0.5}, (X, y), seeds=[3, 7], epochs=200,
                            progress=False)
    assert result.dataset == "custom" and result.seeds == [3, 7] and len(result.rows[0]["stop_epochs"]) == 2


# -- the table --------------------------------------------------------------------------------
def test_row_statistics_and_outputs(tmp_path):
    rows = []
    result = mg.train.sweep({"lr": [0.5, 0.001], "hidden": 6, "activation": "tanh"}, "xor", seeds=3, epochs=2000,
                            progress=False, on_row=rows.append)
    assert sorted(r["lr"] for r in rows) == [0.001, 0.5]
    fast, slow = result.rows
    assert fast["never_converged"] == 0 and slow["never_converged"] == 3
    assert fast["mean_stop_epoch"] == pytest.approx(np.mean(fast["stop_epochs"]))
    assert fast["stop_epoch_text"] == f"{np.mean(fast['stop_epochs']):.1f}"
    assert slow["stop_epoch_text"] == "2000+"
    assert slow["best_accuracy"] == max(slow["best_accuracies"]) < 1
    assert slow["mean_best_accuracy"] == pytest.approx(np.mean(slow["best_accuracies"]))

    table = result.to_markdown().splitlines()
    assert table[0].startswith("|  ") and "stop epoch (mean)" in table[0] and "never converged" in table[0]
    assert "2000+" in table[3] and "3/3" in table[3] and "0/3" in table[2]

    result.to_csv(tmp_path / "t.csv")
    with open(tmp_path / "t.csv") as file:
        read = list(csv.DictReader(file))
    assert [float(r["lr"]) for r in read] == [0.5, 0.001]
    assert json.loads(read[0]["stop_epochs"]) == fast["stop_epochs"]

    result.to_json(tmp_path / "t.json")
    loaded = json.loads((tmp_path / "t.json").read_text())
    assert loaded["epochs"] == 2000 and loaded["rows"][1]["statuses"] == slow["statuses"]


def test_a_fractional_target_is_tested_as_fit_tests_it():
    """14 of 25 points is a fraction 14/25 although 14 < (14/25) * 25 in floating point:
    seeds 0 and 1 on this set pass through exactly 14 correct, and both ways stop there."""
    X, y = mg.data.make_linear(25, rng=2)
    target = 14 / 25
    assert target * 25 > 14
    kwargs = {"seeds": 2, "epochs": 200, "stop_at_accuracy": target, "progress": False}
    grid = {"hidden": 3, "lr": 0.3, "activation": "tanh"}
    vectorised = mg.train.sweep(grid, (X, y), **kwargs)
    assert vectorised.rows[0]["stop_epochs"] == [5, 26]
    assert _per_seed(vectorised) == _per_seed(mg.train.sweep(grid, (X, y), vectorize=False, **kwargs))


def test_no_more_processes_than_tasks():
    settings = sweep_module._Settings(100_000, 0.5, np.dtype(np.float64))
    assert sweep_module._workers(None, settings, runs=10, tasks=1) == 1
    assert sweep_module._workers(8, settings, runs=40, tasks=3) == 3
    assert sweep_module._workers(None, sweep_module._Settings(10, 0.5, np.dtype(np.float64)), runs=10, tasks=5) == 1


def test_the_table_counts_diverged_seeds_only_when_there_are_some():
    diverging = mg.train.sweep({"hidden": 3, "lr": [1e200, 0.1], "activation": "none"}, "linear", seeds=2,
                               epochs=20, progress=False, stop_at_accuracy=None)
    assert [row["diverged"] for row in diverging.rows] == [2, 0]
    assert "diverged" in diverging.to_markdown().splitlines()[0]
    calm = mg.train.sweep({"hidden": 3, "lr": 0.1}, "linear", seeds=2, epochs=20, progress=False)
    assert calm.rows[0]["diverged"] == 0 and "diverged" not in calm.to_markdown()
    header, rule = calm.to_markdown().splitlines()[:2]
    column = [cell.strip() for cell in header.split("|")].index("never converged")
    assert rule.split("|")[column].endswith(":")  # "0/2" is a number: right-aligned


def test_the_header_names_the_target_the_grid_set():
    no_target = mg.train.sweep({"hidden": 3, "stop_at_accuracy": None}, "xor", seeds=1, epochs=5, progress=False)
    assert "no target accuracy" in str(no_target).splitlines()[0]
    mixed = mg.train.sweep({"hidden": 3, "stop_at_accuracy": [None, 0.5]}, "xor", seeds=1, epochs=5, progress=False)
    assert "target accuracy per configuration" in str(mixed).splitlines()[0]
