"""Output that stays readable in a log: progress bars only on a terminal (unless asked),
a sweep's time left only once it means something, and a diverging run reported in its
one line, without NumPy's overflow warnings."""

from __future__ import annotations

import io
import subprocess
import sys
import warnings

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import nn, optim
from microgradnp.cli import main
from microgradnp.train.fit import show_progress, stderr_is_terminal
from microgradnp.train.sweep import _SweepProgress


class _Terminal(io.StringIO):
    """A stderr that says it is a terminal, and keeps what was written to it."""

    def isatty(self) -> bool:
        return True


def _fit(progress, epochs=20):
    X, y = mg.data.make_xor_easy()
    model = nn.MLP(2, (4,), 1, rng=0)
    return mg.train.fit(model, X, y, "mse", optim.SGD(model.parameters(), lr=0.5), epochs=epochs,
                        stop_at_accuracy=None, progress=progress)


def _sweep(progress):
    return mg.train.sweep({"lr": [0.5, 0.1], "hidden": [2, 3]}, "xor", seeds=2, epochs=30, workers=1,
                          progress=progress)


# -- when bars show ---------------------------------------------------------------------------
def test_progress_none_means_when_stderr_is_a_terminal(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert not stderr_is_terminal() and not show_progress(None)
    assert show_progress(True) and not show_progress(False)
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert stderr_is_terminal() and show_progress(None)
    assert not show_progress(False)


@pytest.mark.parametrize("stream", [None, object()], ids=["none", "no-isatty"])
def test_a_stderr_without_isatty_is_not_a_terminal(monkeypatch, stream):
    monkeypatch.setattr(sys, "stderr", stream)
    assert not stderr_is_terminal()


def test_fit_shows_no_bar_when_stderr_is_not_a_terminal(capsys):
    history = _fit(progress=None)
    captured = capsys.readouterr()
    assert history.epochs == 20
    assert captured.err == "" and captured.out == ""


def test_fit_shows_the_bar_when_asked_or_on_a_terminal(capsys, monkeypatch):
    pytest.importorskip("tqdm")
    _fit(progress=True)
    assert "epoch" in capsys.readouterr().err  # forced: even into a capture
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    _fit(progress=None)
    assert "epoch" in terminal.getvalue()
    terminal.truncate(0)
    _fit(progress=False)
    assert terminal.getvalue() == ""


def test_fit_log_lines_go_to_its_file_with_or_without_a_bar(capsys):
    pytest.importorskip("tqdm")
    X, y = mg.data.make_xor_easy()
    for progress in (False, True):
        model = nn.MLP(2, (4,), 1, rng=0)
        log = io.StringIO()
        mg.train.fit(model, X, y, "mse", optim.SGD(model.parameters(), lr=0.5), epochs=4, log_every=2,
                     stop_at_accuracy=None, progress=progress, file=log)
        assert [line.split(",")[0] for line in log.getvalue().splitlines()] == ["epoch 1", "epoch 2", "epoch 4"]
        assert "epoch 1, loss" not in capsys.readouterr().out  # not stdout: the file given


def test_sweep_shows_no_bar_when_stderr_is_not_a_terminal(capsys):
    result = _sweep(progress=None)
    assert len(result.rows) == 4
    assert capsys.readouterr().err == ""


def test_sweep_shows_its_bar_when_asked(capsys):
    pytest.importorskip("tqdm")
    _sweep(progress=True)
    err = capsys.readouterr().err
    assert "sweep xor" in err and "/4 configurations" in err


def test_the_cli_is_quiet_unless_asked(capsys, tmp_path):
    pytest.importorskip("tqdm")
    argv = ["train", "--hidden", "3", "--epochs", "5", "--log-every", "1", "--out", str(tmp_path)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "epoch 5, loss" in captured.out
    assert main([*argv, "--progress"]) == 0
    assert "epoch" in capsys.readouterr().err
    config = tmp_path / "run.toml"
    config.write_text("progress = true\n")
    assert main([*argv, "--config", str(config), "--no-progress"]) == 0  # the command line wins
    assert capsys.readouterr().err == ""
    sweep_argv = ["sweep", "--datasets", "xor", "--hidden", "2", "--seeds", "1", "--epochs", "5", "--out",
                  str(tmp_path / "sweep")]
    assert main(sweep_argv) == 0
    assert capsys.readouterr().err == ""
    assert main([*sweep_argv, "--progress"]) == 0
    assert "configurations" in capsys.readouterr().err


# -- the sweep's time left --------------------------------------------------------------------
class _Bar:
    """What _SweepProgress needs of a tqdm bar."""

    format_interval = staticmethod(lambda seconds: f"{seconds:.0f}s")

    def __init__(self):
        self.n, self.postfix = 0, ""

    def update(self, n):
        self.n += n

    def set_postfix_str(self, text, refresh=True):
        self.postfix = text


def _progress(work, at_once=1):
    now = [0.0]
    progress = _SweepProgress(_Bar(), work)
    progress.clock = lambda: now[0]
    progress.started, progress.at_once = 0.0, at_once
    return progress, now


def test_the_sweep_gives_no_time_left_until_enough_work_is_done():
    # The lab's case: the largest configuration first, then many small ones.
    progress, now = _progress([100] + [10] * 16)
    assert progress.time_left() is None
    now[0] = 100.0
    progress.finished(0)
    assert progress.time_left() is None and progress.bar.postfix == "1/17 configurations"  # one task says little
    now[0] = 110.0
    progress.finished(1)
    assert progress.time_left() == pytest.approx(110.0 * 150 / 110)  # the rate so far, by work, not by task
    assert progress.bar.postfix == "2/17 configurations, about 150s left"


def test_the_sweep_waits_for_a_share_of_the_work_and_for_more_tasks_than_run_at_once():
    progress, now = _progress([10] * 100, at_once=2)
    for number in range(9):
        now[0] += 1.0
        progress.finished(number)
        assert progress.time_left() is None  # under a tenth of the work
    now[0] += 1.0
    progress.finished(9)
    assert progress.time_left() == pytest.approx(10.0 * 900 / 100)
    progress, now = _progress([10] * 4, at_once=2)
    now[0] = 5.0
    progress.finished(0)
    progress.finished(1)
    assert progress.time_left() is None  # two tasks that ran side by side
    progress.finished(2)
    assert progress.time_left() == pytest.approx(5.0 * 10 / 30)


def test_rows_read_back_from_cells_count_as_done_but_not_as_speed():
    progress, now = _progress([10] * 10)
    for number in range(5):
        progress.finished(number, trained=False)
    assert progress.done == 5 and progress.time_left() is None  # nothing trained yet
    now[0] = 30.0
    progress.finished(5)
    progress.finished(6)
    assert progress.time_left() == pytest.approx(30.0 * 30 / 20)
    for number in range(7, 10):
        progress.finished(number)
    assert progress.time_left() is None and progress.bar.postfix == "10/10 configurations"


# -- a diverging run --------------------------------------------------------------------------
def _runtime_warnings(record):
    return [str(w.message) for w in record if issubclass(w.category, RuntimeWarning)]


def test_a_diverging_fit_reports_once_without_numpy_warnings(capsys):
    X, y = mg.data.make_xor_easy()
    model = nn.MLP(2, (50, 50), 1, activation=None, output_activation=None, rng=0)
    before = np.geterr()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        history = mg.train.fit(model, X, y, "mse", optim.SGD(model.parameters(), lr=1e6), epochs=50,
                               progress=False)
    assert history.status == "diverged"
    assert capsys.readouterr().out.strip() == history.message
    assert _runtime_warnings(record) == []
    assert np.geterr() == before  # quiet inside the run only
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        np.array([1e308]) * 10
    assert _runtime_warnings(record) == ["overflow encountered in multiply"]


@pytest.mark.parametrize("vectorize", [True, False], ids=["ensemble", "one-at-a-time"])
def test_a_diverging_sweep_with_a_test_split_warns_nothing(vectorize):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        result = mg.train.sweep({"lr": 1e6, "activation": "none", "output_activation": "none"}, "xor", seeds=2,
                                epochs=20, test_size=0.25, vectorize=vectorize, workers=1, progress=False)
    assert result.rows[0]["statuses"] == ["diverged", "diverged"]
    assert _runtime_warnings(record) == []


def test_a_diverging_cli_run_writes_its_message_and_no_warning(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "microgradnp", "train", "--lr", "1e6", "--activation", "none",
         "--output-activation", "none", "--epochs", "50", "--test-size", "0.25", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    messages = [line for line in result.stdout.splitlines() if line.startswith("training stopped at epoch")]
    assert len(messages) == 1 and "the loss became nan/inf" in messages[0]
    assert "diverged after" in result.stdout
    assert "RuntimeWarning" not in result.stderr and "Warning" not in result.stdout
    assert result.stderr == ""  # and no progress bar: stderr is a pipe
