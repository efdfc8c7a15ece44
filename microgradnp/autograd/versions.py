"""Version counters: how many times the memory of an array was written in place.

A primitive that saved arrays for backward notes when it was recorded; backward refuses
to use a saved array written in place since (PyTorch's check). The counter belongs to
the memory, not to a Tensor: a tensor, its ``detach()``, and views made by indexing or
reshaping all see (and bump) the same counter, because it is kept per owning ndarray
(the root of ``.base``).

Only microgradnp's in-place operations bump it (``+=``, ``add_``..., ``t[i] = v``,
optimizer steps, ``load_state_dict``, ``nn.init``). Writes through ``t.data[...]`` are
not tracked, as in PyTorch.

Recording costs one integer per primitive: every write also advances a process-wide
write count, and a node records that count. A backward that finds the count unchanged
(the usual step: forward, backward, then the optimizer's writes) checks nothing more;
otherwise it compares the recent writes of each saved array with the recorded count.
"""

from __future__ import annotations

import weakref

import numpy as np

_RECENT = 64  # write counts kept per array: enough to name the version a node expected


class _Writes:
    count = 0  # in-place writes in the process so far


writes = _Writes()


class _Memory:
    """The write history of one owning array."""

    __slots__ = ("recent", "version")

    def __init__(self):
        self.version = 0
        self.recent: list[int] = []  # writes.count at its latest writes, oldest first


memories: dict[int, _Memory] = {}  # id(owning array) -> its history; only arrays ever written


def _owner(array: np.ndarray) -> np.ndarray:
    base = array.base
    while isinstance(base, np.ndarray):
        array, base = base, base.base
    return array


def version_of(array) -> int:
    """The in-place write count of the memory ``array`` lives in (0 for non-arrays)."""
    if type(array) is not np.ndarray:
        return 0
    memory = memories.get(id(_owner(array)))
    return 0 if memory is None else memory.version


def bump(array: np.ndarray) -> None:
    """Count one in-place write into ``array``'s memory."""
    owner = array if array.base is None else _owner(array)
    key = id(owner)
    memory = memories.get(key)
    if memory is None:
        memory = memories[key] = _Memory()
        # Forget the history with the array, so a new array at the same address starts at 0.
        weakref.finalize(owner, memories.pop, key, None)
    writes.count += 1
    memory.version += 1
    memory.recent.append(writes.count)
    if len(memory.recent) > _RECENT:
        del memory.recent[0]


def written_since(array, seen: int) -> tuple[int, int] | None:
    """``(version now, version when the write count was seen)`` if ``array``'s memory was
    written after that, else None."""
    if type(array) is not np.ndarray:
        return None
    memory = memories.get(id(_owner(array)))
    if memory is None or memory.recent[-1] <= seen:
        return None
    later = sum(1 for count in memory.recent if count > seen)
    return memory.version, memory.version - later
