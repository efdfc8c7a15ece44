"""Every output file (nn.save, SweepResult.to_csv/to_json, viz.render, the command line)
goes through ``_files.write_atomically``: written through a symlink to its target,
never replacing a directory, device, FIFO or socket, and cleaning up the temporary files
of killed saves without touching those of saves still running."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap

import graphviz
import numpy as np
import pytest

from microgradnp import _files
from microgradnp._files import write_bytes_atomically
from microgradnp.cli import main
from microgradnp.nn.serialization import load, save
from microgradnp.train.sweep import SweepResult
from microgradnp.viz import render

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX symlinks, FIFOs and process ids")

STATE = {"weight": np.arange(6.0).reshape(2, 3), "bias": np.array([0.5, -1.0])}


def read_checkpoint(path) -> list:
    return [(name, value.dtype.str, value.shape, value.tobytes()) for name, value in load(path).items()]


def small_graph() -> graphviz.Digraph:
    graph = graphviz.Digraph()
    graph.edge("x", "y")
    return graph


# Each writer, and how to read back what it wrote (to compare a write through a symlink
# with one to a plain path).
WRITERS = {
    "nn.save": (lambda path: save(STATE, path), read_checkpoint),
    "SweepResult.to_csv": (lambda path: SweepResult([], "xor", [0], 10, None).to_csv(path), lambda p: p.read_bytes()),
    "SweepResult.to_json": (lambda path: SweepResult([], "xor", [0], 10, None).to_json(path),
                            lambda p: p.read_bytes()),
    "viz.render": (lambda path: render(small_graph(), path, format="dot"), lambda p: p.read_bytes()),
    "write_bytes_atomically": (lambda path: write_bytes_atomically(path, b"content\n"), lambda p: p.read_bytes()),
}


@pytest.fixture(params=list(WRITERS))
def writer(request):
    return WRITERS[request.param]


def temporary_files(*folders) -> list[str]:
    return sorted(name for folder in folders for name in os.listdir(folder) if name.endswith(".tmp"))


# -- symlinks ---------------------------------------------------------------------------------
def test_a_symlink_is_written_through_to_its_target_in_the_target_folder(tmp_path, writer, monkeypatch):
    write, read = writer
    (tmp_path / "links").mkdir()
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "output"
    target.write_bytes(b"old")
    link = tmp_path / "links" / "output"
    link.symlink_to(os.path.join("..", "real", "output"))  # relative, as links usually are
    renames = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (renames.append((src, dst)), real_replace(src, dst))[1])

    write(link)

    assert link.is_symlink() and os.readlink(link) == os.path.join("..", "real", "output")
    # The temporary file was beside the target (a rename on its file system), not the link.
    assert [(os.path.dirname(src), dst) for src, dst in renames] == [(str(tmp_path / "real"), str(target))]
    write(tmp_path / "plain")
    assert read(target) == read(tmp_path / "plain")
    assert sorted(os.listdir(tmp_path / "links")) == ["output"]
    assert sorted(os.listdir(tmp_path / "real")) == ["output"]


def test_a_chain_of_symlinks_reaches_the_file(tmp_path, writer):
    write, read = writer
    target = tmp_path / "file"
    target.write_bytes(b"old")
    (tmp_path / "middle").symlink_to(target)
    (tmp_path / "first").symlink_to(tmp_path / "middle")
    write(tmp_path / "first")
    write(tmp_path / "plain")
    assert (tmp_path / "first").is_symlink() and (tmp_path / "middle").is_symlink()
    assert read(target) == read(tmp_path / "plain")


def test_a_dangling_symlink_is_refused(tmp_path, writer):
    write, _ = writer
    link = tmp_path / "output"
    link.symlink_to(tmp_path / "nowhere" / "file")
    with pytest.raises(FileNotFoundError, match=r"cannot write .*output'?: it is a dangling symlink"):
        write(link)
    assert link.is_symlink() and os.readlink(link) == str(tmp_path / "nowhere" / "file")
    assert sorted(os.listdir(tmp_path)) == ["output"]


def test_a_symlink_loop_is_refused(tmp_path, writer):
    write, _ = writer
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(OSError, match="it is a symlink loop; give the path of a regular file"):
        write(tmp_path / "a")
    assert (tmp_path / "a").is_symlink() and (tmp_path / "b").is_symlink()
    assert sorted(os.listdir(tmp_path)) == ["a", "b"]


# -- what is not a regular file ---------------------------------------------------------------
def make_fifo(path):
    os.mkfifo(path)


def make_socket(path):
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
    except OSError as error:  # a path too long for a socket address (about 100 bytes)
        pytest.skip(f"cannot bind a socket at {path}: {error}")
    finally:
        server.close()  # the socket file stays


def make_directory(path):
    path.mkdir()
    (path / "inside").write_bytes(b"kept")


@pytest.mark.parametrize(("make", "kind", "check"), [
    (make_fifo, "a FIFO", stat.S_ISFIFO),
    (make_socket, "a socket", stat.S_ISSOCK),
    (make_directory, "a directory", stat.S_ISDIR),
])
@pytest.mark.parametrize("through_a_symlink", [False, True])
def test_a_target_that_is_not_a_regular_file_is_refused_and_kept(tmp_path, writer, make, kind, check,
                                                                 through_a_symlink):
    write, _ = writer
    special = tmp_path / "s"  # short: a socket's path has a small length limit
    make(special)
    before = os.lstat(special)
    path = special
    if through_a_symlink:
        path = tmp_path / "link"
        path.symlink_to(special)
    error_type = IsADirectoryError if kind == "a directory" else OSError
    with pytest.raises(error_type, match=rf"it is {kind}.*give the path of a regular file"):
        write(path)
    after = os.lstat(special)
    assert check(after.st_mode) and (after.st_ino, after.st_dev) == (before.st_ino, before.st_dev)
    assert sorted(os.listdir(tmp_path)) == (["link", "s"] if through_a_symlink else ["s"])
    if kind == "a directory":
        assert os.listdir(special) == ["inside"]


def test_dev_null_is_refused_and_stays_a_character_device(monkeypatch):
    if not os.path.exists("/dev/null"):
        pytest.skip("no /dev/null")
    before = os.stat("/dev/null")
    assert stat.S_ISCHR(before.st_mode)
    # Should the check ever break, fail here rather than touch /dev (as root a rename
    # over /dev/null would succeed and put a regular file in its place).
    real_open, real_replace = os.open, os.replace

    def guarded_open(path, *args, **kwargs):
        assert not os.fspath(path).startswith("/dev/"), f"a temporary file was created in /dev: {path}"
        return real_open(path, *args, **kwargs)

    def guarded_replace(src, dst):
        assert not os.fspath(dst).startswith("/dev/"), f"{dst} would have been replaced"
        return real_replace(src, dst)

    monkeypatch.setattr(os, "open", guarded_open)
    monkeypatch.setattr(os, "replace", guarded_replace)
    for write, _ in WRITERS.values():
        with pytest.raises(OSError, match=r"cannot write '/dev/null': it is a character device, which is never "
                                          r"replaced; give the path of a regular file"):
            write("/dev/null")
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode)
    assert (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)


def test_the_command_line_refuses_a_fifo_as_output_in_one_line(tmp_path, capsys):
    fifo = tmp_path / "graph.dot"
    os.mkfifo(fifo)
    code = main(["graph", "--out", str(fifo), "--format", "dot"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: cannot write") and "it is a FIFO" in err and err.count("\n") == 1
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_missing_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"directory .*missing'? does not exist"):
        SweepResult([], "xor", [0], 10, None).to_csv(tmp_path / "missing" / "sweep.csv")


# -- temporary files of earlier saves ---------------------------------------------------------
def temporary_name(target: str, pid: int, host: str = _files._HOST) -> str:
    return f".{target}.{pid}@{host}.0123abcd.tmp"


def finished_process_id() -> int:
    """The id of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def live_child():
    """A process that stays alive (blocked reading its stdin) until the test ends."""
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    yield child
    child.kill()
    child.wait()


def test_temporaries_of_dead_writers_are_removed_and_those_of_live_ones_kept(tmp_path, live_child):
    target = tmp_path / "model.npz"
    dead = temporary_name("model.npz", finished_process_id())
    running_elsewhere = temporary_name("model.npz", live_child.pid)
    running_here = temporary_name("model.npz", os.getpid())  # another thread of this process
    other_file = temporary_name("other.npz", finished_process_id())  # beside another target: not ours
    for name in (dead, running_elsewhere, running_here, other_file):
        (tmp_path / name).write_bytes(b"partial")
    save(STATE, target)
    assert temporary_files(tmp_path) == sorted([running_elsewhere, running_here, other_file])
    assert list(load(target)) == list(STATE)

    live_child.kill()
    live_child.wait()  # reaped: a zombie would still count as a running writer
    save(STATE, target)
    assert temporary_files(tmp_path) == sorted([running_here, other_file])


def test_temporaries_we_cannot_attribute_are_removed_only_when_old(tmp_path):
    other_host = temporary_name("out.csv", 1, host="ffffffff" if _files._HOST != "ffffffff" else "00000000")
    older_version = ".out.csv.89abcdef.tmp"  # named before the writer's pid was part of the name
    for name in (other_host, older_version):
        (tmp_path / name).write_bytes(b"partial")
    result = SweepResult([], "xor", [0], 10, None)
    result.to_csv(tmp_path / "out.csv")
    assert temporary_files(tmp_path) == sorted([other_host, older_version])  # their writer may be running

    long_ago = os.stat(tmp_path / other_host).st_mtime - _files.STALE_AFTER_SECONDS - 60
    for name in (other_host, older_version):
        os.utime(tmp_path / name, (long_ago, long_ago))
    result.to_csv(tmp_path / "out.csv")
    assert temporary_files(tmp_path) == []


def test_a_temporary_named_like_ours_that_is_not_a_file_is_left_alone(tmp_path):
    folder = tmp_path / temporary_name("out.json", finished_process_id())
    folder.mkdir()
    SweepResult([], "xor", [0], 10, None).to_json(tmp_path / "out.json")
    assert folder.is_dir()


KILLED_SAVE = textwrap.dedent("""
    import sys
    import numpy as np
    from microgradnp.nn.serialization import save

    real_write_array = np.lib.format.write_array

    def write_then_stop(file, array, *args, **kwargs):
        real_write_array(file, array, *args, **kwargs)
        file.flush()
        print("writing", flush=True)
        sys.stdin.read()  # never returns: the test kills this process here, half way through the save

    np.lib.format.write_array = write_then_stop
    save({"big": np.ones(1_000_000), "second": np.zeros(3)}, sys.argv[1])
""")


def test_a_save_killed_half_way_keeps_the_old_file_and_the_next_save_cleans_up(tmp_path):
    target = tmp_path / "model.npz"
    save(STATE, target)
    before = target.read_bytes()
    child = subprocess.Popen([sys.executable, "-c", KILLED_SAVE, str(target)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "writing\n"  # the first array is in the temporary file
        [left_over] = temporary_files(tmp_path)
        assert left_over.startswith(f".model.npz.{child.pid}@")
        assert os.path.getsize(tmp_path / left_over) > 8_000_000
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
        child.stdin.close()
    assert child.returncode == -signal.SIGKILL
    assert target.read_bytes() == before
    assert temporary_files(tmp_path) == [left_over]  # a kill leaves it: no handler runs

    save({"after": np.arange(3)}, target)
    assert temporary_files(tmp_path) == []
    assert list(load(target)) == ["after"]


def test_figures_are_written_atomically_through_symlinks_and_never_onto_a_fifo(tmp_path):
    """The lab's figures (the CLI's curves.png and prediction.png) go through the same writer."""
    pytest.importorskip("matplotlib")
    from microgradnp.viz.plots import ground_truth_vs_prediction

    X = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    y = np.array([0.0, 0.0, 1.0])
    target = tmp_path / "real.png"
    target.write_bytes(b"old")
    (tmp_path / "link.png").symlink_to(target)
    ground_truth_vs_prediction(X, y, y, path=tmp_path / "link.png")
    assert (tmp_path / "link.png").is_symlink() and target.read_bytes().startswith(b"\x89PNG")
    ground_truth_vs_prediction(X, y, y, path=tmp_path / "no_extension")  # matplotlib's rule: PNG, .png added
    assert (tmp_path / "no_extension.png").read_bytes().startswith(b"\x89PNG")
    make_fifo(tmp_path / "fifo.png")
    with pytest.raises(OSError, match="FIFO"):
        ground_truth_vs_prediction(X, y, y, path=tmp_path / "fifo.png")
    assert stat.S_ISFIFO(os.lstat(tmp_path / "fifo.png").st_mode)
    (tmp_path / "kept.xyz").write_bytes(b"old")
    with pytest.raises(ValueError, match="not supported"):
        ground_truth_vs_prediction(X, y, y, path=tmp_path / "kept.xyz")
    assert (tmp_path / "kept.xyz").read_bytes() == b"old" and temporary_files(tmp_path) == []


@pytest.mark.parametrize("path", ["", ".", "..", "results/"])
def test_a_path_with_no_file_name_is_refused_without_a_temporary_name(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(IsADirectoryError, match="give a file name") as error:
        write_bytes_atomically(path, b"data")
    assert ".tmp" not in str(error.value)
    assert os.listdir(tmp_path) == []
