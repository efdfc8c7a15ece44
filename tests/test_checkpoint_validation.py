"""nn.save refuses names a zip archive cannot hold; nn.load refuses, with its one "not a
valid microgradnp checkpoint" error, duplicate members, names cut short by a NUL, and
arrays larger than their file, and never returns other values than were saved however
the file is damaged (a bounded fuzz test)."""

from __future__ import annotations

import io
import json
import os
import struct
import sys
import warnings
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

from microgradnp.nn.serialization import FORMAT, METADATA_KEY, load, save

VALID_METADATA = {"format": FORMAT, "format_version": 1}


def npy(array) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=False)
    return buffer.getvalue()


def npy_header(shape, descr="<f8") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def metadata_member(metadata=None) -> tuple[str, bytes]:
    text = metadata if isinstance(metadata, str) else json.dumps(metadata or VALID_METADATA)
    return METADATA_KEY + ".npy", npy(np.array(text))


def write_zip(path, members, compression=zipfile.ZIP_STORED) -> None:
    """A zip of ``(name, bytes)`` members, duplicates included (zipfile only warns)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Duplicate name"
        with zipfile.ZipFile(path, "w", compression=compression) as archive:
            for name, content in members:
                archive.writestr(name, content)


def members_of(path) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(path) as archive:
        return [(info.filename, archive.read(info)) for info in archive.infolist()]


def refusal(path, error) -> str:
    """The reason of the one error nn.load gives for a file that is not a checkpoint."""
    message = str(error.value)
    prefix = f"nn.load: {str(path)!r} is not a valid microgradnp checkpoint: "
    assert message.startswith(prefix), message
    assert error.value.__cause__ is None and (error.value.__context__ is None or error.value.__suppress_context__)
    return message[len(prefix):]


# -- names at save ----------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "shown", "reason"), [
    ("fc1\0weight", r"'fc1\\x00weight'", "it holds a NUL character"),
    ("k" * 70_000, r"'k{60}'\.\.\. \(70,000 characters\)", "it is 70,000 bytes long in UTF-8, and a zip archive "
                                                          "holds names of at most 65,531 bytes"),
    ("é" * 32_766, r"'é{60}'\.\.\. \(32,766 characters\)", "it is 65,532 bytes long in UTF-8"),
    ("bad\ud800", r"'bad\\ud800'", r"it is not valid Unicode \(a lone surrogate\)"),
])
def test_save_refuses_a_name_no_zip_archive_can_hold_naming_it(tmp_path, name, shown, reason):
    with pytest.raises(ValueError, match=rf"^nn\.save: the state-dict name {shown} cannot be saved: {reason}"):
        save({"fine": np.zeros(2), name: np.ones(3)}, tmp_path / "model.npz")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name", ["k" * 65_531, "é" * 32_765 + "k", "fc1.weight.npy", "a/b\\c:d"])
def test_the_longest_and_oddest_names_a_zip_holds_round_trip(tmp_path, name):
    if sys.platform == "win32" and "\\" in name:
        pytest.skip("zipfile turns os.sep into '/' on Windows: refused there")
    state = OrderedDict([(name, np.arange(3.0)), ("other", np.ones(2))])
    save(state, tmp_path / "model.npz")
    loaded = load(tmp_path / "model.npz")
    assert list(loaded) == [name, "other"]
    np.testing.assert_array_equal(loaded[name], state[name])


def test_names_np_load_confuses_load_as_saved(tmp_path):
    # np.load's NpzFile finds "x.npy" under the member of "x": nn.load reads members by name.
    state = OrderedDict([("x", np.zeros(2)), ("x.npy", np.ones(3))])
    save(state, tmp_path / "model.npz")
    loaded = load(tmp_path / "model.npz")
    assert list(loaded) == ["x", "x.npy"]
    np.testing.assert_array_equal(loaded["x"], np.zeros(2))
    np.testing.assert_array_equal(loaded["x.npy"], np.ones(3))


def test_in_a_nested_state_such_keys_round_trip(tmp_path):
    # The dict keys live in the metadata; their arrays just get plain entry names.
    state = {"model": {"a\0b": np.ones(2), "k" * 70_000: np.zeros(1), "bad\ud800": np.arange(2)}, "epoch": 3}
    save(state, tmp_path / "state.npz")
    loaded = load(tmp_path / "state.npz")
    assert list(loaded["model"]) == list(state["model"]) and loaded["epoch"] == 3
    for key, value in state["model"].items():
        np.testing.assert_array_equal(loaded["model"][key], value)


# -- crafted files at load --------------------------------------------------------------------
def test_duplicate_members_are_refused_naming_the_entry(tmp_path):
    path = tmp_path / "twice.npz"
    write_zip(path, [metadata_member(), ("w.npy", npy(np.zeros(2))), ("w.npy", npy(np.ones(2)))])
    with pytest.raises(ValueError) as error:
        load(path)
    assert refusal(path, error) == "it holds entry 'w' twice (duplicate zip members: which one is meant cannot be told)"


def test_a_name_cut_short_by_a_nul_is_refused_naming_the_entry(tmp_path):
    path = tmp_path / "nul.npz"
    write_zip(path, [metadata_member(), ("wXb.npy", npy(np.zeros(2)))])
    content = path.read_bytes()
    assert content.count(b"wXb.npy") == 2  # the local header and the central directory
    path.write_bytes(content.replace(b"wXb.npy", b"w\0b.npy"))
    with pytest.raises(ValueError) as error:
        load(path)
    assert refusal(path, error).startswith(r"entry 'w\x00b' has a name no checkpoint holds (a NUL character")


def test_an_array_far_larger_than_its_file_is_refused_before_allocating(tmp_path):
    path = tmp_path / "huge.npz"
    write_zip(path, [metadata_member(), ("w.npy", npy_header((10**12,)))])  # 7.3 TiB of float64 declared
    assert path.stat().st_size < 1000
    with pytest.raises(ValueError) as error:
        load(path)
    assert refusal(path, error) == ("entry 'w' declares shape (1000000000000,) of float64 (8,000,000,000,000 "
                                    "bytes) but its zip member holds 0 bytes of data")


@pytest.mark.parametrize(("shape", "data"), [((3,), np.zeros(2)), ((2,), np.zeros(3)), ((2, 2), np.zeros(3))])
def test_an_array_whose_header_does_not_match_its_data_is_refused(tmp_path, shape, data):
    path = tmp_path / "mismatch.npz"
    write_zip(path, [metadata_member(), ("w.npy", npy_header(shape) + data.tobytes())])
    with pytest.raises(ValueError) as error:
        load(path)
    assert refusal(path, error).startswith(f"entry 'w' declares shape {shape} of float64")


def central_entry(content: bytes, name: bytes) -> int:
    """Where the central directory entry of member ``name`` starts."""
    start = content.index(b"PK\x01\x02")
    while content[start + 46:start + 46 + len(name)] != name:
        start = content.index(b"PK\x01\x02", start + 4)
    return start


def patched(content: bytes, at: int, fmt: str, value) -> bytes:
    return content[:at] + struct.pack(fmt, value) + content[at + struct.calcsize(fmt):]


@pytest.mark.parametrize(("compression", "sizes", "reason"), [
    (zipfile.ZIP_STORED, (1, 2**31 - 1), "entry 'w' is stored uncompressed but claims 2,147,483,647 bytes in"),
    (zipfile.ZIP_STORED, (2**31 - 1, 2**31 - 1), "its zip directory lists 2,147,48"),
    (zipfile.ZIP_DEFLATED, (1, 2**31 - 1), "entry 'w' claims 2,147,483,647 bytes compressed into"),
])
def test_a_zip_directory_claiming_sizes_the_file_cannot_hold_is_refused(tmp_path, compression, sizes, reason):
    path = tmp_path / "sizes.npz"
    write_zip(path, [metadata_member(), ("w.npy", npy(np.zeros(2)))], compression)
    content = path.read_bytes()
    entry = central_entry(content, b"w.npy")
    compressed = struct.unpack("<I", content[entry + 20:entry + 24])[0]
    # (1, n): keep the compressed size, claim n uncompressed bytes; (n, n): claim n of both.
    compressed_size, file_size = (compressed if sizes[0] == 1 else sizes[0]), sizes[1]
    path.write_bytes(patched(patched(content, entry + 20, "<I", compressed_size), entry + 24, "<I", file_size))
    with pytest.raises(ValueError) as error:
        load(path)
    assert refusal(path, error).startswith(reason)


def test_an_unknown_compression_method_is_refused(tmp_path):
    path = tmp_path / "method.npz"
    write_zip(path, [metadata_member(), ("w.npy", npy(np.zeros(2)))])
    content = path.read_bytes()
    path.write_bytes(patched(content, central_entry(content, b"w.npy") + 10, "<H", 99))
    with pytest.raises(ValueError) as error:
        load(path)
    assert refusal(path, error).startswith("entry 'w' is compressed with zip method 99")


def test_a_deflated_archive_of_a_checkpoint_loads_the_same_values(tmp_path):
    state = OrderedDict([("w", np.arange(12.0).reshape(3, 4)), ("n", np.array(5, np.int32))])
    save(state, tmp_path / "model.npz")
    write_zip(tmp_path / "deflated.npz", members_of(tmp_path / "model.npz"), zipfile.ZIP_DEFLATED)
    assert same(load(tmp_path / "deflated.npz"), state)


@pytest.mark.parametrize(("depth", "reason"), [
    (100_000, "the '__microgradnp__' metadata entry is nested too deeply"),  # too deep for the JSON parser
    (700, "the saved structure is nested too deeply"),  # parsed, too deep to rebuild
])
def test_deeply_nested_metadata_is_refused(tmp_path, depth, reason):
    path = tmp_path / "deep.npz"
    metadata = json.dumps({**VALID_METADATA, "format_version": 2, "structure": 0})
    metadata = metadata.replace('"structure": 0', '"structure": ' + "[" * depth + "]" * depth)
    write_zip(path, [metadata_member(metadata)])
    with pytest.raises(ValueError) as error:
        load(path)
    assert refusal(path, error).startswith(reason)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_loading_a_fifo_is_refused_instead_of_waiting_for_a_writer(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(ValueError) as error:
        load(tmp_path / "pipe")
    assert refusal(tmp_path / "pipe", error) == "it is not a regular file (a device, FIFO or socket)"


# -- fuzz -------------------------------------------------------------------------------------
def same(loaded, saved) -> bool:
    """Exactly the saved values: the same types, keys in the same order, dtypes, shapes, bytes."""
    if isinstance(saved, np.ndarray | np.generic):
        return (type(loaded) is type(saved) and loaded.dtype == saved.dtype and loaded.shape == saved.shape
                and np.ascontiguousarray(loaded).tobytes() == np.ascontiguousarray(saved).tobytes())
    if isinstance(saved, dict):
        return (isinstance(loaded, dict) and list(loaded) == list(saved)
                and all(same(loaded[key], value) for key, value in saved.items()))
    if isinstance(saved, list | tuple):
        return (type(loaded) is type(saved) and len(loaded) == len(saved)
                and all(same(a, b) for a, b in zip(loaded, saved)))
    return type(loaded) is type(saved) and loaded == saved


def saved_states():
    rng = np.random.default_rng(7)
    flat = OrderedDict([
        ("fc1.weight", rng.normal(size=(4, 3))), ("fc1.bias", rng.normal(size=3).astype(np.float32)),
        ("steps", np.array(7)), ("empty", np.zeros((0, 2))), ("phase", rng.normal(size=2) + 1j),
        ("fortran", np.asfortranarray(rng.normal(size=(3, 2)))), ("counts", np.arange(5, dtype=np.int16)),
        ("big_endian", np.arange(3, dtype=">f8")),
    ])
    nested = {"model": {"w": rng.normal(size=(2, 2))},
              "optimizer": {"state": {0: {"exp_avg": rng.normal(size=(2, 2)), "step": np.int64(3)}},
                            "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0]}]},
              "epoch": 3, "note": None}
    return flat, nested


def truncated(content: bytes, rng) -> bytes:
    return content[:int(rng.integers(0, len(content)))]


def bits_flipped(content: bytes, rng) -> bytes:
    damaged = bytearray(content)
    for position in rng.integers(0, len(content) * 8, size=int(rng.integers(1, 4))):
        damaged[position // 8] ^= 1 << (position % 8)
    return bytes(damaged)


def header_of(member: bytes) -> tuple:
    """``(shape, fortran_order, dtype)`` of an .npy file's bytes (written in format 1.0)."""
    stream = io.BytesIO(member)
    assert np.lib.format.read_magic(stream) == (1, 0)
    return np.lib.format.read_array_header_1_0(stream)


def crafted(members: list[tuple[str, bytes]], content: bytes, rng, path) -> None:
    """Write to ``path`` an archive built from a checkpoint's members by one of the ways a
    hand-made or malicious file differs from one nn.save wrote (never one that is simply
    another valid checkpoint, such as a renamed or dropped entry)."""
    members = list(members)
    index = int(rng.integers(len(members)))
    name, member = members[index]
    header_end = member.index(b"\n") + 1  # every .npy header ends with a newline
    kind = int(rng.integers(8))
    compression = zipfile.ZIP_DEFLATED if rng.random() < 0.3 else zipfile.ZIP_STORED
    if kind == 0:  # a member twice, with its own or another member's content
        members.insert(int(rng.integers(len(members) + 1)), (name, members[int(rng.integers(len(members)))][1]))
    elif kind == 1:  # a header claiming another shape (as large as 2**62 elements)
        shape = tuple(int(2 ** rng.integers(0, 63)) for _ in range(int(rng.integers(0, 3))))
        dtype = header_of(member)[2]
        if int(np.prod(shape, dtype=object)) * dtype.itemsize == len(member) - header_end:
            shape = (*shape, 3)
        members[index] = (name, npy_header(shape, dtype.str) + member[header_end:])
    elif kind == 2:  # data cut short or with extra bytes
        cut = int(rng.integers(1, 9))
        members[index] = (name, member[:-cut] if rng.random() < 0.5 and len(member) - cut >= header_end
                          else member + bytes(cut))
    elif kind == 3:  # pickled objects
        members[index] = (name, npy_header((2,), "|O") + b"\x80\x04N." * 2)
    elif kind == 4:  # a dtype of another size than the data's
        shape, _, dtype = header_of(member)
        other = next(d for d in ("<f4", "<c16", "|i1", "<f8") if np.dtype(d).itemsize != dtype.itemsize)
        if 0 in shape:  # no data: any dtype would fit it, and that is just another valid file
            shape = (1,)
        members[index] = (name, npy_header(shape, other) + member[header_end:])
    elif kind == 5:  # a member that is not an .npy array
        members.insert(int(rng.integers(len(members) + 1)), ("notes.txt", b"hello"))
    elif kind == 6:  # metadata that is not JSON of a checkpoint
        text = rng.choice(["{", "[]", "null", '{"format": 1}', "[" * 5000, "\udcff"])
        members = [(n, npy(np.array(str(text))) if n == METADATA_KEY + ".npy" else m) for n, m in members]
    else:  # a random field of the zip's central directory set to a random value
        write_zip(path, members, compression)
        content = path.read_bytes()
        entry = central_entry(content, name.encode())
        offset, fmt = [(10, "<H"), (16, "<I"), (20, "<I"), (24, "<I"), (28, "<H"), (30, "<H"), (42, "<I")][
            int(rng.integers(7))]
        value = int(rng.integers(0, 2 ** (8 * struct.calcsize(fmt))))
        path.write_bytes(patched(content, entry + offset, fmt, value))
        return
    write_zip(path, members, compression)


def test_damaged_and_crafted_checkpoints_give_the_saved_values_or_the_one_error(tmp_path):
    rng = np.random.default_rng(20240611)
    originals = []
    for number, state in enumerate(saved_states()):
        path = tmp_path / f"good{number}.npz"
        save(state, path)
        assert same(load(path), state)  # the reference: what a sound file gives back
        originals.append((state, path.read_bytes(), members_of(path)))

    case = tmp_path / "case.npz"
    outcomes = {"truncated": [], "bits flipped": [], "crafted": []}
    for kind, count in (("truncated", 100), ("bits flipped", 200), ("crafted", 150)):
        for _ in range(count):
            state, content, members = originals[int(rng.integers(len(originals)))]
            if kind == "truncated":
                case.write_bytes(truncated(content, rng))
            elif kind == "bits flipped":
                case.write_bytes(bits_flipped(content, rng))
            else:
                crafted(members, content, rng, case)
            try:
                loaded = load(case)
            except ValueError as error:
                assert str(error).startswith(f"nn.load: {str(case)!r} is not a valid microgradnp checkpoint: ")
                outcomes[kind].append("refused")
            else:
                assert same(loaded, state), f"{kind}: other values than were saved"
                outcomes[kind].append("same")
    # A truncated archive has lost its end record; every crafted file is wrong somewhere.
    assert set(outcomes["truncated"]) == {"refused"}
    assert set(outcomes["crafted"]) == {"refused"}
    assert outcomes["bits flipped"].count("refused") > 100


def test_a_state_nested_deeper_than_a_checkpoint_holds_is_refused_at_save(tmp_path):
    from microgradnp.nn.serialization import MAX_NESTING

    deepest = state = {}
    for _ in range(MAX_NESTING - 1):
        deepest["inner"] = {}
        deepest = deepest["inner"]
    deepest["w"] = np.arange(3.0)
    save(state, tmp_path / "deep.npz")  # MAX_NESTING containers: saved and loaded back
    assert same(load(tmp_path / "deep.npz"), state)
    deepest["inner"] = {"w": np.arange(3.0)}
    with pytest.raises(ValueError, match=f"nested more than {MAX_NESTING} containers deep"):
        save(state, tmp_path / "deeper.npz")
    assert not (tmp_path / "deeper.npz").exists()
