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
"""

from __future__ import annotations

import json
import os
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from contextlib import contextmanager

import numpy as np

from microgradnp._files import write_atomically
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
    way leaves any previous file at ``path`` as it was, and no temporary file behind.

    Args:
        module_or_state: an ``nn.Module`` (its ``state_dict()`` is saved, with its class
            name), a mapping of names to ndarrays or Tensors (``model.state_dict()``), or
            a nested mapping such as ``optimizer.state_dict()`` or ``{"model": ...,
            "optimizer": ..., "epoch": 3}`` (dicts, lists, tuples, arrays, Tensors,
            numbers, strings, bools and None).
        path: a ``str`` or ``os.PathLike``; its directory must exist. An existing file's
            permission bits are kept.

    Raises:
        TypeError: for something that is neither a Module nor a mapping, a non-string
            name, or a value that is not a numeric array (nor, in a nested state, a number,
            string, bool, None, list, tuple or dict).
        ValueError: for a name that is empty or the reserved ``METADATA_KEY``.
        FileNotFoundError: when the directory of ``path`` does not exist.
    """
    structure = None
    if isinstance(module_or_state, Mapping) and not _is_flat(module_or_state):
        arrays, class_name = {}, None
        structure = _encode(module_or_state, "", arrays)
    else:
        arrays, class_name = _arrays_to_save(module_or_state)
    from microgradnp import __version__  # here, not at import: microgradnp/__init__.py sets it after importing nn

    metadata = {"format": FORMAT, "format_version": 1 if structure is None else 2,
                "microgradnp_version": __version__, "class": class_name}
    if structure is not None:
        metadata["structure"] = structure
    arrays[METADATA_KEY] = np.array(json.dumps(metadata))
    write_atomically(_target(path), lambda file: _write_npz(file, arrays))


def load(path, into=None, strict: bool = True):
    """Read a checkpoint written by ``nn.save``: the state dict, name -> ndarray, in saved order
    (or the nested state that was saved, such as an optimizer's ``state_dict()``).

    With ``into=model`` the values are also copied into the model's parameters through
    ``model.load_state_dict(state, strict=strict)``, which checks the names (missing or
    unexpected keys), shapes and dtypes first and names the offending key; the error
    carries a note naming the checkpoint. ``nn.load(path, model)`` is the same as
    ``model.load_state_dict(nn.load(path))``; likewise ``nn.load(path, optimizer)`` for a
    saved ``optimizer.state_dict()``.

    Args:
        path: a ``str`` or ``os.PathLike``.
        into: a Module or an optimizer to load the values into, or None to only read them.
        strict: with a Module ``into``, whether missing and unexpected keys are an error.

    Returns:
        An ``OrderedDict`` of the saved arrays by name (without the metadata), or for a
        nested state the object that was saved (dicts, lists, tuples, arrays, numbers...).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not a microgradnp checkpoint: not an ``.npz``, truncated
            or corrupt, without metadata, from a newer format version, or holding pickled
            objects (never loaded).
        KeyError, ValueError: from ``load_state_dict`` when ``into`` does not match.
    """
    from microgradnp.optim.optimizer import Optimizer  # here: microgradnp.optim imports nn

    if into is not None and not isinstance(into, Module | Optimizer):
        raise TypeError(f"nn.load: into must be an nn.Module, an optimizer or None, got {type(into).__name__}")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"nn.load: no checkpoint at {path!r}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"nn.load: {path!r} is a directory, not a checkpoint file")
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
    """Whether ``state`` is a plain state dict (every value an array or Tensor): format version 1."""
    return all(isinstance(value, Tensor | np.ndarray | np.generic) for value in state.values())


def _encode(value, path: str, arrays: dict[str, np.ndarray]):
    """``value`` as JSON-able structure; its arrays go to ``arrays`` under names derived from ``path``."""
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, np.ndarray | np.generic):
        array = np.asarray(value)
        if array.dtype.kind not in "biufc":
            raise TypeError(f"nn.save: {path or 'the state'!r} has dtype {array.dtype}; a checkpoint holds numeric "
                            "arrays only (never pickled objects)")
        name, n = path or "value", 1
        while name in arrays or name == METADATA_KEY:
            name, n = f"{path}~{n}", n + 1
        arrays[name] = array
        return {"array": name, "scalar": isinstance(value, np.generic)}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, tuple | list):
        items = [_encode(item, _join(path, i), arrays) for i, item in enumerate(value)]
        return {"tuple": items} if isinstance(value, tuple) else items
    if isinstance(value, Mapping):
        pairs = []
        for key, item in value.items():
            if key is not None and not isinstance(key, bool | int | float | str):
                raise TypeError(f"nn.save: dict keys must be str, int, float, bool or None, got {key!r} "
                                f"in {path or 'the state'!r}")
            pairs.append([key, _encode(item, _join(path, key), arrays)])
        return {"dict": pairs}
    raise TypeError(f"nn.save: {path or 'the state'!r} is a {type(value).__name__}; a checkpoint holds arrays, "
                    "Tensors, numbers, strings, bools, None, and lists, tuples and dicts of them (never pickled "
                    "objects)")


def _join(path: str, key) -> str:
    return f"{path}.{key}" if path else str(key)


def _arrays_to_save(module_or_state) -> tuple[dict[str, np.ndarray], str | None]:
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
            raise ValueError(f"nn.save: {name!r} cannot be a state-dict name (empty, or reserved for metadata)")
        array = np.asarray(value.data if isinstance(value, Tensor) else value)
        if array.dtype.kind not in "biufc":
            raise TypeError(
                f"nn.save: {name!r} has dtype {array.dtype}; a checkpoint holds numeric arrays only "
                "(never pickled objects)"
            )
        arrays[name] = array
    return arrays, class_name


def _target(path) -> str:
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"nn.save: path must be a str or os.PathLike, got {type(path).__name__}")
    # Through a symlink to its target, as writing to an opened path would: replacing the
    # link itself would silently detach it from the file it points to.
    target = os.path.realpath(os.fspath(path))
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"nn.save: cannot write {os.fspath(path)!r}: directory {directory!r} does not exist")
    return target


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


def _read_checkpoint(path: str) -> tuple[OrderedDict[str, np.ndarray], dict]:
    def invalid(reason: str) -> ValueError:
        return ValueError(f"nn.load: {path!r} is not a valid microgradnp checkpoint: {reason}")

    # Sniffed here rather than left to np.load, which takes any file that is neither a zip
    # nor an .npy for a pickle and would blame random bytes on "pickled data".
    with open(path, "rb") as file:
        magic = file.read(len(_NPY_MAGIC))
    if magic.startswith(_NPY_MAGIC):
        raise invalid("it is a single .npy array, not an .npz archive written by nn.save")
    if not magic.startswith(_ZIP_MAGICS):
        raise invalid("it is not an .npz archive (empty, or it does not start like a zip file)")
    with _reported_as(invalid), np.load(path, allow_pickle=False) as contents:
        entries = OrderedDict((name, contents[name]) for name in contents.files)
    if METADATA_KEY not in entries:
        raise invalid(f"no {METADATA_KEY!r} metadata entry (a plain .npz, not written by nn.save)")
    metadata = _metadata(entries.pop(METADATA_KEY), invalid)
    for name, value in entries.items():
        # np.load hands back the raw bytes of a member that is not an .npy array.
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "biufc":
            raise invalid(f"entry {name!r} is not a numeric array")
    if "structure" in metadata:  # a nested state (format version 2)
        unused = dict(entries)
        state = _decode(metadata["structure"], unused, invalid)
        if unused:
            raise invalid(f"entries {sorted(unused)} are not part of the saved structure")
        return state, metadata
    return entries, metadata


def _decode(value, arrays: dict[str, np.ndarray], invalid):
    """The object ``_encode`` described, taking its arrays out of ``arrays``."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [_decode(item, arrays, invalid) for item in value]
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("tuple"), list):
        return tuple(_decode(item, arrays, invalid) for item in value["tuple"])
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("dict"), list):
        decoded = {}
        for pair in value["dict"]:
            if not isinstance(pair, list) or len(pair) != 2 or isinstance(pair[0], list | dict):
                raise invalid("a dict in the saved structure is malformed")
            decoded[pair[0]] = _decode(pair[1], arrays, invalid)
        return decoded
    if isinstance(value, dict) and set(value) == {"array", "scalar"}:
        name = value["array"]
        if not isinstance(name, str) or name not in arrays:
            raise invalid(f"the saved structure refers to an entry {name!r} that is missing or used twice")
        array = arrays.pop(name)
        if value["scalar"]:
            if array.ndim:
                raise invalid(f"entry {name!r} should hold one number, it has shape {array.shape}")
            return array[()]
        return array
    raise invalid("the saved structure holds something nn.save does not write (was the metadata edited?)")


@contextmanager
def _reported_as(invalid):
    """Turn whatever a damaged archive makes np.load raise into one ValueError naming the file."""
    try:
        yield
    except MemoryError:
        raise
    except Exception as error:
        # zipfile, zlib, EOF, OS and format errors alike: the user needs the file and the
        # gist, not the parser's traceback.
        if "pickle" in str(error).lower():
            raise invalid("it holds pickled Python objects, which are never loaded (allow_pickle=False)") from None
        raise invalid(f"the file is truncated or corrupt ({type(error).__name__}: {error})") from None


def _metadata(entry, invalid) -> dict:
    try:
        metadata = json.loads(str(entry[()]))
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
