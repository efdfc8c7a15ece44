"""The sweep on a Dask cluster (the ``cluster`` extra): an executor gives the numbers of one
process, ``cluster_executor`` connects, and a worker that dies costs a retry, not a hang."""

from __future__ import annotations

import functools
import os
import sys
import threading
import time

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

import microgradnp as mg  # noqa: E402

sweep_module = sys.modules["microgradnp.train.sweep"]  # (mg.train.sweep is the function)

GRID = {"lr": [0.2, 1.0], "hidden": 6}
EPOCHS = 2000
PER_SEED = ("lr", "hidden", "stop_epochs", "best_accuracies", "final_accuracies", "statuses")


def _per_seed(result):
    return [{key: row[key] for key in PER_SEED} for row in result.rows]


@pytest.fixture(scope="module")
def cluster():
    # A task whose worker dies fails at once (KilledWorker), so that the sweep's own retries are what is tested.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                     dashboard_address=None) as local_cluster:
        yield local_cluster


@pytest.fixture
def client(cluster):
    with distributed.Client(cluster, set_as_default=False) as dask_client:
        dask_client.wait_for_workers(2, timeout=30)
        yield dask_client


@pytest.fixture(scope="module")
def in_process():
    return _per_seed(mg.train.sweep(GRID, "xor", seeds=2, epochs=EPOCHS, progress=False, workers=1))


def _within(seconds, function, *args):
    """``function(*args)``, failing the test (not hanging it) if it takes over ``seconds``."""
    outcome = {}

    def run():
        try:
            outcome["value"] = function(*args)
        except BaseException as error:
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def test_a_dask_executor_gives_the_numbers_of_one_process(client, in_process):
    result = _within(60, functools.partial(mg.train.sweep, GRID, "xor", seeds=2, epochs=EPOCHS, progress=False,
                                           executor=client.get_executor()))
    assert _per_seed(result) == in_process and result.workers == 0


def test_cluster_executor_connects_and_closes(cluster, in_process):
    with mg.train.cluster_executor(cluster.scheduler_address) as executor:
        result = _within(60, functools.partial(mg.train.sweep, GRID, "xor", seeds=2, epochs=EPOCHS, progress=False,
                                               executor=executor))
        client = executor._client
    assert _per_seed(result) == in_process
    assert client.status == "closed"


def test_cluster_executor_without_a_scheduler_is_one_line():
    started = time.perf_counter()
    message = r"^sweep: cannot reach the Dask scheduler at tcp://127\.0\.0\.1:1: "
    with pytest.raises(ValueError, match=message) as error, mg.train.cluster_executor("tcp://127.0.0.1:1", timeout=1):
        pass
    assert "\n" not in str(error.value) and time.perf_counter() - started < 10


def _die_once(marker, configs, seeds, X, y, settings):
    """A task whose worker process dies the first time (``marker`` records it)."""
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(3)
    return sweep_module._train_cells(configs, seeds, X, y, settings)


def _rows_on(executor, train, tasks, configs, seeds, X, y, settings):
    rows = {}
    _within(60, sweep_module._run_on_executor, train, tasks, configs, seeds, X, y, settings, executor, 0,
            lambda number, results, seconds, error="": rows.setdefault(number, (results, error)))
    return rows


def test_a_task_whose_worker_died_runs_again(client, tmp_path):
    configs = mg.train.expand_grid({"hidden": 3, "lr": [0.5, 1.0]})
    settings = sweep_module._Settings(50, 0.5, np.dtype(np.float64))
    X, y = mg.data.make_xor_easy()
    rows = _rows_on(client.get_executor(), functools.partial(_die_once, str(tmp_path / "died")), [(0,), (1,)],
                    configs, [0, 1], X, y, settings)
    assert (tmp_path / "died").exists()
    expected = sweep_module._fit_cells(configs, [0, 1], X, y, settings)
    assert [rows[0], rows[1]] == [(results, "") for results, _ in expected]


def test_a_task_whose_worker_always_dies_gives_a_failed_row_and_the_others_finish(client):
    configs = mg.train.expand_grid({"hidden": 3, "lr": [0.5, 1.0]})
    settings = sweep_module._Settings(50, 0.5, np.dtype(np.float64))
    X, y = mg.data.make_xor_easy()
    executor = client.get_executor()
    dies_on_0 = functools.partial(_die_if, configs[0])
    rows = _rows_on(executor, dies_on_0, [(0,), (1,)], configs, [0, 1], X, y, settings)
    results, error = rows[0]
    assert results is None and error.startswith("a worker process died (KilledWorker: ") and "\n" not in error
    assert rows[1] == (sweep_module._fit_cells(configs[1:], [0, 1], X, y, settings)[0][0], "")


def _die_if(config, configs, seeds, X, y, settings):
    if config in configs:
        os._exit(3)
    return sweep_module._train_cells(configs, seeds, X, y, settings)


def test_a_bug_in_a_task_still_propagates(client):
    configs = mg.train.expand_grid({"hidden": 3})
    settings = sweep_module._Settings(10, 0.5, np.dtype(np.float64))
    with pytest.raises(ZeroDivisionError):
        _rows_on(client.get_executor(), _divide_by_zero, [(0,)], configs, [0], *mg.data.make_xor_easy(), settings)


def _divide_by_zero(configs, seeds, X, y, settings):
    return 1 / 0
