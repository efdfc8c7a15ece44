"""The sweep's worker processes: they run scripts read from stdin and never outlive a
sweep that is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("loky")
pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _alive(pids) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def _wait(condition, seconds: float):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    return condition()


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_no_worker_outlives_a_killed_sweep(tmp_path, sig):
    # Two slow configurations keep both workers busy in the middle of a task when the sweep dies.
    command = [sys.executable, "-m", "microgradnp", "sweep", "--datasets", "xor", "--hidden", "30", "40", "--lr",
               "0.0001", "--seeds", "2", "--epochs", "100000", "--workers", "2", "--no-progress", "--out",
               str(tmp_path)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def workers():
            return {pid for pid in _children(process.pid) if "popen_loky" in _command_line(pid)}

        # (both workers: one that has started while the other is still starting is not enough)
        assert _wait(lambda: len(workers()) == 2, 60), _children(process.pid)
        children = _children(process.pid)
        time.sleep(1)  # both workers are now inside their tasks
        process.send_signal(sig)
        process.wait(timeout=30)
        left = _wait(lambda: not _alive(children), 15)
        assert left, f"still running after the sweep died: {[_command_line(p) for p in _alive(children)]}"
    finally:
        for pid in _alive(_children(process.pid)):
            os.kill(pid, signal.SIGKILL)
        if process.poll() is None:
            process.kill()


def test_a_script_read_from_stdin_runs_a_parallel_sweep():
    """No ``if __name__ == "__main__":`` guard and no file: loky's workers do not re-import
    the main module."""
    script = textwrap.dedent("""
        import microgradnp as mg
        result = mg.train.sweep({"hidden": 4, "lr": [0.5, 1.0]}, "xor", seeds=2, epochs=300, workers=2,
                                progress=False)
        print(result.workers, [row["statuses"] for row in result.rows])
    """)
    done = subprocess.run([sys.executable, "-"], input=script, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    workers, statuses = done.stdout.strip().split(" ", 1)
    assert workers == "2" and "failed" not in statuses and statuses.count("'") >= 8
