"""nn.save / nn.load: .npz checkpoints, atomic writes, and clear errors for bad files."""

from __future__ import annotations

import json
import os
import stat
import sys
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import microgradnp as mg
from microgradnp.data import make_linear
from microgradnp.nn import serialization
from microgradnp.nn.layers import MLP, Linear
from microgradnp.nn.serialization import METADATA_KEY, load, save


@pytest.fixture
def model():
    return MLP(2, (6, 5), 1, rng=0)


@pytest.fixture
def checkpoint(tmp_path, model):
    path = tmp_path / "model.npz"
    save(model, path)
    return path


def metadata_of(path) -> dict:
    with np.load(path, allow_pickle=False) as contents:
        return json.loads(str(contents[METADATA_KEY]))


def write_npz(path, metadata=None, **arrays):
    """An .npz built with NumPy directly, with (by default) valid metadata."""
    if metadata is None:
        metadata = {"format": serialization.FORMAT, "format_version": serialization.FORMAT_VERSION}
    if metadata is not False:
        arrays[METADATA_KEY] = np.array(json.dumps(metadata))
    with open(path, "wb") as file:
        np.savez(file, allow_pickle=True, **arrays)


# -- round trips ------------------------------------------------------------------------------
def test_round_trip_gives_identical_predictions(checkpoint, model):
    X, _ = make_linear(50, rng=1)
    fresh = MLP(2, (6, 5), 1, rng=99)
    assert not np.array_equal(fresh(X).data, model(X).data)
    state = load(checkpoint, into=fresh)
    np.testing.assert_array_equal(fresh(X).data, model(X).data)
    assert list(state) == [name for name, _ in model.named_parameters()]


def test_load_returns_the_state_in_order_with_dtypes(checkpoint, model):
    state = load(checkpoint)
    assert isinstance(state, OrderedDict)
    expected = model.state_dict()
    assert list(state) == list(expected)
    for name, value in expected.items():
        assert state[name].dtype == value.dtype
        np.testing.assert_array_equal(state[name], value)


def test_load_into_is_the_same_as_load_state_dict(checkpoint):
    a, b = MLP(2, (6, 5), 1, rng=5), MLP(2, (6, 5), 1, rng=6)
    load(checkpoint, a)
    b.load_state_dict(load(checkpoint))
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)


def test_metadata_records_format_version_and_class(checkpoint):
    metadata = metadata_of(checkpoint)
    assert metadata == {"format": "microgradnp.state_dict", "format_version": 1,
                        "microgradnp_version": mg.__version__, "class": "MLP",
                        "tensors": [name for name, _ in MLP(2, (6, 5), 1).named_parameters()]}


def test_float32_parameters_round_trip_as_float32(tmp_path):
    layer = Linear(3, 2, dtype=np.float32, rng=0)
    save(layer, tmp_path / "layer.npz")
    state = load(tmp_path / "layer.npz")
    assert {value.dtype for value in state.values()} == {np.dtype(np.float32)}
    np.testing.assert_array_equal(state["weight"], layer.weight.data)


def test_a_raw_state_dict_with_arrays_and_tensors_round_trips(tmp_path):
    state = OrderedDict([("b.w", np.arange(6.0).reshape(2, 3)), ("a", mg.tensor([1.5, 2.5])),
                         ("steps", np.array(7)), ("file", np.ones(2)), ("allow_pickle", np.zeros(1, np.int32))])
    save(state, str(tmp_path / "state.npz"))
    loaded = load(str(tmp_path / "state.npz"))
    assert list(loaded) == list(state)
    for name, value in state.items():
        np.testing.assert_array_equal(loaded[name], np.asarray(getattr(value, "data", value)))
    assert loaded["allow_pickle"].dtype == np.int32 and loaded["steps"].shape == ()
    assert metadata_of(tmp_path / "state.npz")["class"] is None


def test_the_exact_path_is_written_even_without_the_npz_extension(tmp_path, model):
    path = tmp_path / "weights.ckpt"
    save(model, path)
    assert sorted(os.listdir(tmp_path)) == ["weights.ckpt"]
    with np.load(path) as contents:  # still an ordinary .npz for NumPy
        assert "fc1.weight" in contents.files


def test_saving_again_replaces_the_file(checkpoint, model):
    for parameter in model.parameters():
        parameter.data[...] = 3.0
    save(model, checkpoint)
    assert all((value == 3.0).all() for value in load(checkpoint).values())


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")
def test_permissions_follow_the_umask_and_an_existing_file_keeps_its_mode(tmp_path, model):
    old = os.umask(0o022)
    try:
        save(model, tmp_path / "new.npz")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "new.npz").st_mode) == 0o644
    os.chmod(tmp_path / "new.npz", 0o600)
    save(model, tmp_path / "new.npz")
    assert stat.S_IMODE(os.stat(tmp_path / "new.npz").st_mode) == 0o600


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
def test_saving_through_a_symlink_writes_its_target(tmp_path, model):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "model.npz"
    target.write_bytes(b"old")
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    save(model, link)
    assert link.is_symlink()
    assert list(load(target)) == list(model.state_dict())
    assert sorted(os.listdir(tmp_path / "real")) == ["model.npz"]


# -- bad arguments to save --------------------------------------------------------------------
@pytest.mark.parametrize(("obj", "error", "message"), [
    ([np.zeros(2)], TypeError, "expected an nn.Module or a state dict"),
    ({"": np.zeros(2)}, ValueError, "'' cannot be a state-dict name"),
    ({METADATA_KEY: np.zeros(2)}, ValueError, "reserved for metadata"),
    ({"w": np.array([object()])}, TypeError, "'w' has dtype object"),
    ({"w": np.array(["text"])}, TypeError, "'w' has dtype <U4"),
])
def test_save_refuses_what_cannot_be_a_checkpoint(tmp_path, obj, error, message):
    with pytest.raises(error, match=message):
        save(obj, tmp_path / "bad.npz")
    assert os.listdir(tmp_path) == []


def test_a_dict_with_number_keys_round_trips_as_torch_save_takes_it(tmp_path):
    save({1: np.arange(2.0), 0: np.ones(3)}, tmp_path / "numbers.npz")
    loaded = load(tmp_path / "numbers.npz")
    assert sorted(loaded) == [0, 1]
    np.testing.assert_array_equal(loaded[1], np.arange(2.0))
    np.testing.assert_array_equal(loaded[0], np.ones(3))


def test_save_into_a_missing_directory_names_it(tmp_path, model):
    with pytest.raises(FileNotFoundError, match=r"directory .*missing.* does not exist"):
        save(model, tmp_path / "missing" / "model.npz")


def test_save_path_must_be_a_path(model):
    with pytest.raises(TypeError, match=r"path must be a str or os\.PathLike"):
        save(model, 42)


# -- validation against the model -------------------------------------------------------------
def test_missing_key_is_named(tmp_path, model):
    state = model.state_dict()
    del state["fc2.bias"]
    save(state, tmp_path / "partial.npz")
    with pytest.raises(KeyError, match=r"missing keys \['fc2.bias'\]") as error:
        load(tmp_path / "partial.npz", into=MLP(2, (6, 5), 1))
    assert any("partial.npz" in note for note in error.value.__notes__)


def test_unexpected_key_is_named(tmp_path, model):
    state = model.state_dict()
    state["fc9.weight"] = np.zeros((1, 1))
    save(state, tmp_path / "extra.npz")
    with pytest.raises(KeyError, match=r"unexpected keys \['fc9.weight'\]"):
        load(tmp_path / "extra.npz", into=MLP(2, (6, 5), 1))


def test_strict_false_loads_what_matches(tmp_path, model):
    state = model.state_dict()
    del state["fc3.weight"]
    state["extra"] = np.zeros(3)
    save(state, tmp_path / "loose.npz")
    other = MLP(2, (6, 5), 1, rng=3)
    before = other.fc3.weight.data.copy()
    load(tmp_path / "loose.npz", into=other, strict=False)
    np.testing.assert_array_equal(other.fc1.weight.data, model.fc1.weight.data)
    np.testing.assert_array_equal(other.fc3.weight.data, before)


def test_shape_mismatch_is_named_and_changes_nothing(checkpoint):
    other = MLP(2, (6, 4), 1, rng=3)
    before = {name: value.numpy().copy() for name, value in other.state_dict().items()}
    with pytest.raises(ValueError, match=r"'fc2\.weight' has shape \(5, 6\) in the state but \(4, 6\)") as error:
        load(checkpoint, into=other)
    assert any("saved from MLP" in note and "model.npz" in note for note in error.value.__notes__)
    for name, value in other.state_dict().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)


def test_into_must_be_a_module(checkpoint, model):
    with pytest.raises(TypeError, match=r"into must be an nn\.Module"):
        load(checkpoint, into=model.state_dict())


def test_dtype_mismatch_is_named(checkpoint):
    with pytest.raises(ValueError, match=r"'fc1\.weight' has dtype float64 in the state but float32"):
        load(checkpoint, into=MLP(2, (6, 5), 1, dtype=np.float32))


# -- bad files --------------------------------------------------------------------------------
def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no checkpoint at .*nothing\.npz"):
        load(tmp_path / "nothing.npz")


def test_a_directory_is_not_a_checkpoint(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a directory"):
        load(tmp_path)


def corrupt(kind, path, good: bytes):
    if kind == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif kind == "random bytes":
        path.write_bytes(np.random.default_rng(0).bytes(len(good)))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("fc1.weight = [[1, 2]]\n")
    elif kind == "npy":
        with open(path, "wb") as file:
            np.save(file, np.zeros(3))
    elif kind == "damaged member":
        # The archive's directory is intact, an array's bytes are not (the CRC check catches it).
        middle = good.index(b"\x93NUMPY") + 200
        path.write_bytes(good[:middle] + bytes(b ^ 0xFF for b in good[middle:middle + 16]) + good[middle + 16:])
    elif kind == "pickled object array":
        write_npz(path, w=np.array([{"evil": 1}, None], dtype=object))
    elif kind == "no metadata":
        write_npz(path, metadata=False, w=np.zeros(2))
    elif kind == "metadata not json":
        with open(path, "wb") as file:
            np.savez(file, **{METADATA_KEY: np.array("{not json"), "w": np.zeros(2)})
    elif kind == "foreign metadata":
        write_npz(path, metadata={"format": "something else", "format_version": 1})
    elif kind == "newer format":
        write_npz(path, metadata={"format": serialization.FORMAT, "format_version": 99,
                                  "microgradnp_version": "9.0"})
    elif kind == "text entry":
        write_npz(path, w=np.array(["not numbers"]))
    elif kind == "raw member":
        write_npz(path, w=np.zeros(2))
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr("notes.txt", b"hello")


@pytest.mark.parametrize(("kind", "reason"), [
    ("truncated", "truncated or corrupt"),
    ("random bytes", "not an .npz archive"),
    ("empty", "not an .npz archive"),
    ("text", "not an .npz archive"),
    ("npy", "single .npy array"),
    ("damaged member", "truncated or corrupt"),
    ("pickled object array", "pickled Python objects, which are never loaded"),
    ("no metadata", "no '__microgradnp__' metadata entry"),
    ("metadata not json", "metadata entry is not valid JSON"),
    ("foreign metadata", "does not describe a microgradnp.state_dict file"),
    ("newer format", "format version 99 was written by microgradnp 9.0"),
    ("text entry", "entry 'w' is not a numeric array"),
    ("raw member", "entry 'notes.txt' is not a numeric array"),
])
def test_a_bad_file_raises_one_value_error_naming_it(tmp_path, checkpoint, kind, reason):
    path = tmp_path / "bad.npz"
    corrupt(kind, path, checkpoint.read_bytes())
    with pytest.raises(ValueError) as error:
        load(path)
    message = str(error.value)
    assert message.startswith(f"nn.load: {str(path)!r} is not a valid microgradnp checkpoint")
    assert reason in message
    # One error, not a chain of zipfile/pickle tracebacks.
    assert error.value.__cause__ is None
    assert error.value.__context__ is None or error.value.__suppress_context__


def test_a_pickled_object_array_is_never_unpickled(tmp_path, monkeypatch):
    import pickle

    write_npz(tmp_path / "evil.npz", w=np.array([{"x": 1}], dtype=object))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("unpickled"))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))
    with pytest.raises(ValueError, match="pickled"):
        load(tmp_path / "evil.npz")


# -- atomic writes ----------------------------------------------------------------------------
def crash_half_way(monkeypatch, error=None):
    """Make the second array's write raise after some bytes are already in the file."""
    error = error or OSError("disk full")
    real = np.lib.format.write_array
    calls = []

    def write_array(fp, array, *args, **kwargs):
        calls.append(array)
        if len(calls) == 2:
            fp.write(b"\0" * 64)
            raise error
        return real(fp, array, *args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", write_array)
    return calls


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_a_crash_while_writing_keeps_the_old_file_and_leaves_no_temporary(tmp_path, checkpoint, monkeypatch, error):
    before = checkpoint.read_bytes()
    calls = crash_half_way(monkeypatch, error)
    with pytest.raises(type(error)):
        save(MLP(2, (6, 5), 1, rng=1), checkpoint)
    assert len(calls) == 2  # the crash really came half way through
    assert checkpoint.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]


def test_a_failing_rename_keeps_the_old_file_and_leaves_no_temporary(tmp_path, checkpoint, monkeypatch):
    before = checkpoint.read_bytes()

    def fail(src, dst):
        assert os.path.dirname(src) == os.path.dirname(dst)  # same directory: a rename, not a copy
        raise PermissionError("rename refused")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(PermissionError, match="rename refused"):
        save(MLP(2, (6, 5), 1, rng=1), checkpoint)
    assert checkpoint.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]


def test_a_crash_with_no_previous_file_leaves_nothing(tmp_path, model, monkeypatch):
    crash_half_way(monkeypatch)
    with pytest.raises(OSError, match="disk full"):
        save(model, tmp_path / "model.npz")
    assert os.listdir(tmp_path) == []


def test_data_is_synced_before_the_rename(tmp_path, model, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda src, dst: (events.append("replace"), real_replace(src, dst))[1])
    save(model, tmp_path / "model.npz")
    assert events[:2] == ["fsync", "replace"]
    if hasattr(os, "O_DIRECTORY"):
        assert events[2:] == ["fsync"]  # then the directory, so that the rename survives a power cut
