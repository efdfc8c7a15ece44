"""``nn.save`` / ``nn.load``: parameters to and from ``.npz`` checkpoints, written atomically.

A checkpoint is an ordinary ``.npz`` archive (``np.load`` reads it) holding one array per
state-dict entry, by dotted name (``fc1.weight``), plus one metadata entry, ``METADATA_KEY``:
a JSON string with the format version, the microgradnp version that wrote it and, when a
Module was saved, its class name. Nothing in it is pickled, so loading a file from
someone else cannot run code.

A nested state (an optimizer's ``state_dict()``, or a dict such as ``{"model":
model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 3}``) is written in
format version 2: its arrays are entries named by their path (``state.0.exp_avg``) and
the metadata holds the rest of the structure as JSON (dicts with their key types, lists,
tuples, numbers, strings, bools, None), so that ``nn.load`` gives back an equal object.

The metadata's ``"tensors"`` lists the entries that were Tensors (``state_dict()`` gives
Tensors, as PyTorch's): ``nn.load`` gives those back as Tensors and the others as
ndarrays, as ``torch.load`` gives back what was saved. A file written before that list
existed loads a flat state dict as Tensors and a nested state's arrays as ndarrays.
"""

from __future__ import annotations

import json
import math
import os
import stat
import zipfile
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np

from microgradnp._files import write_atomically
from microgradnp.errors import InvalidArgumentError
from microgradnp.nn.module import Module
from microgradnp.tensor import Tensor

METADATA_KEY = "__microgradnp__"
"""Name of the metadata entry in a checkpoint (never a state-dict key: those are dotted attribute names)."""

FORMAT = "microgradnp.state_dict"
FORMAT_VERSION = 2
"""The newest format version this module reads: 1 is a flat state dict, 2 a nested state."""


def save(module_or_state, path) -> None:
    """Save a Module's parameters (or a state dict, or an optimizer's) to ``path`` as an ``.npz`` checkpoint.

    The file is written exactly at ``path``, with no ``.npz`` appended (as ``torch.save``;
    ``np.savez`` would append it). It is written atomically: to a temporary file in the
    same directory, flushed to disk, then renamed over ``path``. A crash or an error half
    way leaves any previous file at ``path`` as it was, and no temporary file behind; one
    left by a killed save is removed by the next save to ``path``. A ``path`` that is a
    symlink is written through to its target, and stays a symlink (see
    ``microgradnp._files.write_atomically``).

    Args:
        module_or_state: an ``nn.Module`` (its ``state_dict()`` is saved, with its class
            name), a mapping of names to ndarrays or Tensors (``model.state_dict()``), or
            a nested mapping such as ``optimizer.state_dict()`` or ``{"model": ...,
            "optimizer": ..., "epoch": 3}`` (dicts, lists, tuples, arrays, Tensors,
            numbers, strings, bools and None).
        path: a ``str`` or ``os.PathLike``; its directory must exist. An existing file's
            permission bits are kept.

    Raises:
        TypeError: for something that is neither a Module nor a mapping, a dict key that
            is not a str, int, float, bool or None (an int key, ``{0: array}``, makes the
            mapping a nested state, as in ``torch.save``), or a value that is not a numeric
            array (nor, in a nested state, a number, string, bool, None, list, tuple or dict).
        ValueError: for a name that is empty, the reserved ``METADATA_KEY``, holds a NUL
            character or a lone surrogate, or is longer than a zip archive can store
            (65,531 bytes in UTF-8). In a nested state such dict keys are fine: they are
            kept in the metadata.
        FileNotFoundError: when the directory of ``path`` does not exist, or ``path``
            is a dangling symlink.
        IsADirectoryError, OSError: when ``path`` is a directory, a device (``/dev/null``),
            a FIFO, a socket or a symlink loop; nothing is written, nothing replaced.
    """
    structure, tensors = None, []
    if isinstance(module_or_state, Mapping) and not _is_flat(module_or_state):
        arrays, class_name = {}, None
        structure = _encode(module_or_state, "", arrays, tensors=tensors)
    else:
        arrays, class_name = _arrays_to_save(module_or_state, tensors)
    from microgradnp import __version__  # here, not at import: microgradnp/__init__.py sets it after importing nn

    metadata = {"format": FORMAT, "format_version": 1 if structure is None else 2,
                "microgradnp_version": __version__, "class": class_name, "tensors": tensors}
    if structure is not None:
        metadata["structure"] = structure
    arrays[METADATA_KEY] = np.array(json.dumps(metadata))
    write_atomically(_target(path), lambda file: _write_npz(file, arrays))


def load(path, into=None, strict: bool = True):
    """Read a checkpoint written by ``nn.save``: the state dict, name -> Tensor, in saved order
    (or the nested state that was saved, such as an optimizer's ``state_dict()``), as
    ``torch.load``: what was saved as a Tensor (``model.state_dict()``'s values) comes
    back as a Tensor (not requiring grad, its dtype kept), what was an ndarray as an ndarray.

    With ``into=model`` the values are also copied into the model's parameters through
    ``model.load_state_dict(state, strict=strict)``, which checks the names (missing or
    unexpected keys), shapes and dtypes first and names the offending key; the error
    carries a note naming the checkpoint. ``nn.load(path, model)`` is the same as
    ``model.load_state_dict(nn.load(path))``; likewise ``nn.load(path, optimizer)`` for a
    saved ``optimizer.state_dict()``.

    Args:
        path: a ``str`` or ``os.PathLike`` (not an open file, which ``torch.load`` also takes:
            a TypeError says to pass the name).
        into: a Module or an optimizer to load the values into, or None to only read them.
        strict: with a Module ``into``, whether missing and unexpected keys are an error.

    Returns:
        An ``OrderedDict`` of the saved Tensors (or arrays) by name (without the metadata),
        or for a nested state the object that was saved (dicts, lists, tuples, Tensors,
        arrays, numbers...).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not a microgradnp checkpoint: not a regular file, not an
            ``.npz``, truncated or corrupt, without metadata, from a newer format version,
            holding pickled objects (never loaded), an entry twice, a name no checkpoint
            holds, or an array larger than its file. Always this one error: a damaged
            file never loads as other values than were saved.
        KeyError, ValueError: from ``load_state_dict`` when ``into`` does not match.
    """
    from microgradnp.optim.optimizer import Optimizer  # here: microgradnp.optim imports nn

    if into is not None and not isinstance(into, Module | Optimizer):
        raise TypeError(f"nn.load: into must be an nn.Module, an optimizer or None, got {type(into).__name__}")
    if not isinstance(path, str | os.PathLike):
        # (torch.load also reads an open file; a checkpoint is read by its name, as nn.save writes it)
        given = f"an open file ({path.name!r})" if isinstance(getattr(path, "name", None), str) else \
            f"a {type(path).__name__}"
        raise TypeError(f"nn.load: path must be a str or os.PathLike (the checkpoint's file name), got {given}: "
                        "pass the name, e.g. nn.load('model.npz') rather than nn.load(open('model.npz', 'rb'))")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"nn.load: no checkpoint at {path!r}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"nn.load: {path!r} is a directory, not a checkpoint file")
    if not stat.S_ISREG(os.stat(path).st_mode):  # opening a FIFO would wait for a writer forever
        raise InvalidArgumentError(f"nn.load: {path!r} is not a valid microgradnp checkpoint: it is not a regular file "
                         "(a device, FIFO or socket)")
    state, metadata = _read_checkpoint(path)
    if into is not None:
        try:
            if isinstance(into, Module):
                into.load_state_dict(state, strict=strict)
            else:
                into.load_state_dict(state)
        except (KeyError, ValueError, TypeError) as error:
            saved_from = f" (saved from {metadata['class']})" if metadata.get("class") else ""
            error.add_note(f"while loading checkpoint {path!r}{saved_from} into {type(into).__name__}")
            raise
    return state


# -- saving ---------------------------------------------------------------------------------
def _is_flat(state: Mapping) -> bool:
    """Whether ``state`` is a plain state dict (every name a string, every value an array or
    Tensor): format version 1. Any other mapping (``{0: array}`` too, as ``torch.save``
    takes it) is a nested state, whose metadata keeps its keys' types."""
    return all(isinstance(name, str) and isinstance(value, Tensor | np.ndarray | np.generic)
               for name, value in state.items())


# Containers inside containers that a checkpoint holds (a state dict is 2-5 deep). A fixed
# bound, checked on both sides, so that whether a file loads never depends on the
# interpreter's recursion limit or on how deep the caller's stack already is.
MAX_NESTING = 100


def _encode(value, path: str, arrays: dict[str, np.ndarray], depth: int = 0, tensors: list | None = None):
    """``value`` as JSON-able structure; its arrays go to ``arrays`` under names derived from ``path``,
    and the names of those that were Tensors to ``tensors``."""
    is_tensor = isinstance(value, Tensor)
    if is_tensor:
        value = value.data
    if isinstance(value, np.ndarray | np.generic):
        array = np.asarray(value)
        if array.dtype.kind not in "biufc":
            raise TypeError(f"nn.save: {path or 'the state'!r} has dtype {array.dtype}; a checkpoint holds numeric "
                            "arrays only (never pickled objects)")
        base = path or "value"
        if _name_problem(f"{base}~{2**32}"):  # with room for the "~n" that makes a name unique
            # The entry's name is only a label (the metadata keeps the dict keys), so a key
            # that cannot name a zip member (a NUL, 70,000 characters) just gets a plain one.
            base = "value"
        name, n = base, 1
        while name in arrays or name == METADATA_KEY:
            name, n = f"{base}~{n}", n + 1
        arrays[name] = array
        if is_tensor and tensors is not None:
            tensors.append(name)
        return {"array": name, "scalar": isinstance(value, np.generic)}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, tuple | list | Mapping) and depth >= MAX_NESTING:
        raise InvalidArgumentError(f"nn.save: the state is nested more than {MAX_NESTING} containers deep at "
                         f"{path or 'the state'!r}; a checkpoint holds dicts, lists and tuples up to that depth")
    if isinstance(value, tuple | list):
        items = [_encode(item, _join(path, i), arrays, depth + 1, tensors) for i, item in enumerate(value)]
        return {"tuple": items} if isinstance(value, tuple) else items
    if isinstance(value, Mapping):
        pairs = []
        for key, item in value.items():
            if key is not None and not isinstance(key, bool | int | float | str):
                raise TypeError(f"nn.save: dict keys must be str, int, float, bool or None, got {key!r} "
                                f"in {path or 'the state'!r}")
            pairs.append([key, _encode(item, _join(path, key), arrays, depth + 1, tensors)])
        return {"dict": pairs}
    raise TypeError(f"nn.save: {path or 'the state'!r} is a {type(value).__name__}; a checkpoint holds arrays, "
                    "Tensors, numbers, strings, bools, None, and lists, tuples and dicts of them (never pickled "
                    "objects)")


def _join(path: str, key) -> str:
    return f"{path}.{key}" if path else str(key)


def _arrays_to_save(module_or_state, tensors: list) -> tuple[dict[str, np.ndarray], str | None]:
    if isinstance(module_or_state, Module):
        state, class_name = module_or_state.state_dict(), type(module_or_state).__name__
    elif isinstance(module_or_state, Mapping):
        state, class_name = module_or_state, None
    else:
        raise TypeError(
            f"nn.save: expected an nn.Module or a state dict (a mapping of names to arrays), "
            f"got {type(module_or_state).__name__}"
        )
    arrays = {}
    for name, value in state.items():
        if not isinstance(name, str):
            raise TypeError(f"nn.save: state-dict names must be strings, got {name!r}")
        if not name or name == METADATA_KEY:
            raise InvalidArgumentError(
                f"nn.save: {name!r} cannot be a state-dict name (empty, or reserved for metadata)")
        problem = _name_problem(name)
        if problem:
            raise InvalidArgumentError(f"nn.save: the state-dict name {_shown(name)} cannot be saved: {problem}")
        array = np.asarray(value.data if isinstance(value, Tensor) else value)
        if array.dtype.kind not in "biufc":
            raise TypeError(
                f"nn.save: {name!r} has dtype {array.dtype}; a checkpoint holds numeric arrays only "
                "(never pickled objects)"
            )
        arrays[name] = array
        if isinstance(value, Tensor):
            tensors.append(name)
    return arrays, class_name


def _target(path) -> str:
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"nn.save: path must be a str or os.PathLike, got {type(path).__name__}")
    # A symlink is followed by write_atomically (as every writer's), which also refuses
    # a dangling one, a loop, and a target that is not a regular file.
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.islink(path) and not os.path.isdir(directory):
        raise FileNotFoundError(f"nn.save: cannot write {path!r}: directory {directory!r} does not exist")
    return path


_MAX_MEMBER_NAME_BYTES = 0xFFFF  # a zip header holds the length of a member's name in two bytes


def _name_problem(name: str) -> str | None:
    """Why ``name`` cannot name an entry of a checkpoint (the zip member ``name + ".npy"``), or None."""
    if "\0" in name:
        return "it holds a NUL character, which would cut the name short in the zip archive"
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "it is not valid Unicode (a lone surrogate), which a zip archive cannot store"
    if size + len(".npy") > _MAX_MEMBER_NAME_BYTES:
        return (f"it is {size:,} bytes long in UTF-8, and a zip archive holds names of at most "
                f"{_MAX_MEMBER_NAME_BYTES - len('.npy'):,} bytes ({_MAX_MEMBER_NAME_BYTES:,} with '.npy' appended)")
    if zipfile.ZipInfo(name + ".npy").filename != name + ".npy":
        return f"a zip archive would store it under another name ({os.sep!r} becomes '/')"
    return None


def _shown(name: str) -> str:
    """``name`` for an error message: quoted, and cut short when it is very long."""
    return repr(name) if len(name) <= 80 else f"{name[:60]!r}... ({len(name):,} characters)"


def _write_npz(file, arrays: Mapping[str, np.ndarray]) -> None:
    """The ``np.savez`` layout (``name.npy`` members, uncompressed), written by hand so that
    any name works, including ``file`` and ``allow_pickle`` (``np.savez``'s own arguments)."""
    with zipfile.ZipFile(file, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            with archive.open(name + ".npy", mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


# -- loading --------------------------------------------------------------------------------
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header; the end record of an empty archive
_DEFLATE_MAX_RATIO = 1032
"""Deflate cannot shrink data more than this: a member claiming more is not a real one."""
_CHUNK_BYTES = 1 << 24


class _Invalid(Exception):
    """Why a file is not a checkpoint; ``_read_checkpoint`` turns it into the one ValueError."""


def _read_checkpoint(path: str) -> tuple[OrderedDict[str, np.ndarray], dict]:
    """The state and metadata of the checkpoint at ``path``. Whatever is wrong with the file,
    the error is one ValueError naming it: a damaged or crafted file must never give other
    values than were saved, nor any other exception (a parser's traceback, or a MemoryError
    for an array its header claims but the file cannot hold)."""
    with open(path, "rb") as file:
        try:
            return _parse_checkpoint(file)
        except _Invalid as reason:
            gist = str(reason)
        except MemoryError:
            raise  # the checks below bound every allocation by the file's size: this one is real
        except Exception as error:
            # zipfile, zlib, EOF, .npy header and OS errors alike: the user needs the file
            # and the gist, not the parser's traceback.
            gist = f"the file is truncated or corrupt ({type(error).__name__}: {error})"
    # Raised here, outside the except clauses, so that it chains to nothing.
    raise InvalidArgumentError(f"nn.load: {path!r} is not a valid microgradnp checkpoint: {gist}")


def _parse_checkpoint(file) -> tuple[OrderedDict[str, np.ndarray], dict]:
    # Sniffed here rather than left to zipfile, so that an .npy file or random bytes get a
    # reason that says what they are.
    magic = file.read(len(_NPY_MAGIC))
    if magic.startswith(_NPY_MAGIC):
        raise _Invalid("it is a single .npy array, not an .npz archive written by nn.save")
    if not magic.startswith(_ZIP_MAGICS):
        raise _Invalid("it is not an .npz archive (empty, or it does not start like a zip file)")
    file.seek(0)
    entries, not_numeric = _read_entries(file)
    if METADATA_KEY not in entries:
        raise _Invalid(f"no {METADATA_KEY!r} metadata entry (a plain .npz, not written by nn.save)")
    metadata = _metadata(entries.pop(METADATA_KEY), _Invalid)
    if not_numeric:
        raise _Invalid(f"entry {_shown(not_numeric[0])} is not a numeric array")
    tensors = metadata.get("tensors")
    if tensors is not None and (not isinstance(tensors, list) or not all(isinstance(n, str) for n in tensors)):
        raise _Invalid("the metadata's list of tensors is malformed")
    if "structure" in metadata:  # a nested state (format version 2)
        unused = dict(entries)
        state = _decode(metadata["structure"], unused, _Invalid, tensors=frozenset(tensors or ()))
        if unused:
            raise _Invalid(f"entries {sorted(unused)} are not part of the saved structure")
        return state, metadata
    if tensors is None:  # written before the list existed: a flat state dict came from state_dict()
        tensors = [name for name, array in entries.items() if array.dtype.kind in "biuf"]
    for name in tensors:
        if name in entries:
            entries[name] = _loaded_tensor(entries[name])
    return entries, metadata


def _loaded_tensor(array: np.ndarray) -> Tensor:
    """A saved Tensor as ``nn.load`` gives it back: the array as it is (its dtype kept, an
    integer count too), no grad."""
    return Tensor._wrap(array)


def _read_entries(file) -> tuple[OrderedDict[str, np.ndarray], list[str]]:
    """The archive's arrays by name, in stored order, and the names of its entries that are
    not numeric arrays (members that are not .npy files, or text). Read by hand rather
    than by ``np.load``, which lets the last of two members of the same name win, finds
    ``x.npy`` under the name of ``x``, and allocates whatever an array's header claims."""
    file_size = os.fstat(file.fileno()).st_size
    archive = zipfile.ZipFile(file)
    infos = archive.infolist()
    # Members' data cannot overlap in a real archive: a crafted directory listing the same
    # bytes many times must not make us read (and allocate) them many times.
    if sum(info.compress_size for info in infos) > file_size:
        raise _Invalid(f"its zip directory lists {sum(i.compress_size for i in infos):,} bytes of members in a "
                       f"{file_size:,}-byte file")
    entries, not_numeric = OrderedDict(), []
    for info in infos:
        if info.filename != info.orig_filename:  # zipfile cut the name at a NUL (or changed os.sep)
            name = info.orig_filename.removesuffix(".npy")
            raise _Invalid(f"entry {_shown(name)} has a name no checkpoint holds (a NUL character, which would cut "
                           "it short)")
        key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
        problem = _name_problem(key)
        if problem:
            raise _Invalid(f"entry {_shown(key)} has a name no checkpoint holds: {problem}")
        if key in entries or key in not_numeric:
            raise _Invalid(f"it holds entry {_shown(key)} twice (duplicate zip members: which one is meant "
                           "cannot be told)")
        _check_member_size(info, key, file_size)
        if not info.filename.endswith(".npy"):
            not_numeric.append(key)  # np.load would hand back its raw bytes
            continue
        array = _read_member(archive, info, key)
        if array is None:
            not_numeric.append(key)
        else:
            entries[key] = array
    return entries, not_numeric


def _check_member_size(info: zipfile.ZipInfo, key: str, file_size: int) -> None:
    if info.header_offset + info.compress_size > file_size:
        raise _Invalid(f"entry {_shown(key)} claims {info.compress_size:,} bytes at offset {info.header_offset:,} "
                       f"of a {file_size:,}-byte file")
    if info.compress_type == zipfile.ZIP_STORED:
        if info.file_size != info.compress_size:
            raise _Invalid(f"entry {_shown(key)} is stored uncompressed but claims {info.file_size:,} bytes in "
                           f"{info.compress_size:,}")
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        if info.file_size > _DEFLATE_MAX_RATIO * max(info.compress_size, 1):
            raise _Invalid(f"entry {_shown(key)} claims {info.file_size:,} bytes compressed into "
                           f"{info.compress_size:,}, more than deflate can")
    else:
        raise _Invalid(f"entry {_shown(key)} is compressed with zip method {info.compress_type}; a checkpoint's "
                       "members are stored or deflated")


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, key: str) -> np.ndarray | None:
    """The array in the .npy member ``info``, or None when it is not a numeric one (text: the
    caller names it). Its header's shape and dtype must account for exactly the member's
    size before anything is allocated."""
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(member)
        else:
            raise _Invalid(f"entry {_shown(key)} is in .npy format version {version}, which nn.save never writes")
        if dtype.hasobject:
            raise _Invalid("it holds pickled Python objects, which are never loaded (allow_pickle=False)")
        if dtype.kind not in "biufc" and not (key == METADATA_KEY and dtype.kind == "U"):
            return None
        if any(n < 0 for n in shape):
            raise _Invalid(f"entry {_shown(key)} declares the shape {shape}")
        nbytes = math.prod(shape) * dtype.itemsize
        payload = info.file_size - member.tell()
        if nbytes != payload:
            raise _Invalid(f"entry {_shown(key)} declares shape {shape} of {dtype} ({nbytes:,} bytes) but its zip "
                           f"member holds {payload:,} bytes of data")
        array = np.empty(math.prod(shape), dtype=dtype)
        raw = array.view(np.uint8)
        filled = 0
        while filled < nbytes:  # in chunks: never a second copy of a large array in memory
            chunk = member.read(min(_CHUNK_BYTES, nbytes - filled))
            if not chunk:
                raise _Invalid(f"entry {_shown(key)} is truncated")
            raw[filled:filled + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
            filled += len(chunk)
        # Reading on to the member's end is what makes zipfile check its CRC.
        if member.read(1):
            raise _Invalid(f"entry {_shown(key)} holds more data than its shape")
    return array.reshape(shape[::-1]).transpose() if fortran_order else array.reshape(shape)


def _decode(value, arrays: dict[str, np.ndarray], invalid, depth: int = 0, tensors: frozenset = frozenset()):
    """The object ``_encode`` described, taking its arrays out of ``arrays`` (as Tensors those
    named in ``tensors``)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    is_array = isinstance(value, dict) and set(value) == {"array", "scalar"}
    if depth >= MAX_NESTING and not is_array:
        raise invalid("the saved structure is nested too deeply (was the metadata edited?)")
    if isinstance(value, list):
        return [_decode(item, arrays, invalid, depth + 1, tensors) for item in value]
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("tuple"), list):
        return tuple(_decode(item, arrays, invalid, depth + 1, tensors) for item in value["tuple"])
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("dict"), list):
        decoded = {}
        for pair in value["dict"]:
            if not isinstance(pair, list) or len(pair) != 2 or isinstance(pair[0], list | dict):
                raise invalid("a dict in the saved structure is malformed")
            decoded[pair[0]] = _decode(pair[1], arrays, invalid, depth + 1, tensors)
        return decoded
    if is_array:
        name = value["array"]
        if not isinstance(name, str) or name not in arrays:
            raise invalid(f"the saved structure refers to an entry {name!r} that is missing or used twice")
        array = arrays.pop(name)
        if value["scalar"]:
            if array.ndim:
                raise invalid(f"entry {name!r} should hold one number, it has shape {array.shape}")
            return array[()]
        return _loaded_tensor(array) if name in tensors else array
    raise invalid("the saved structure holds something nn.save does not write (was the metadata edited?)")


def _metadata(entry, invalid) -> dict:
    try:
        metadata = json.loads(str(entry[()]))
    except RecursionError:
        raise invalid(f"the {METADATA_KEY!r} metadata entry is nested too deeply") from None
    except (ValueError, TypeError, IndexError):
        raise invalid(f"the {METADATA_KEY!r} metadata entry is not valid JSON") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise invalid(f"the {METADATA_KEY!r} metadata entry does not describe a {FORMAT} file")
    version = metadata.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise invalid(f"bad format version {version!r}")
    if version > FORMAT_VERSION:
        raise invalid(
            f"format version {version} was written by microgradnp {metadata.get('microgradnp_version')}, "
            f"this one reads up to version {FORMAT_VERSION}; upgrade microgradnp"
        )
    return metadata
