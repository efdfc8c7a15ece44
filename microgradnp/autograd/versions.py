"""Version counters: how many times the memory of an array was written in place.

A primitive that saved arrays for backward notes when it was recorded; backward refuses
to use a saved array written in place since (PyTorch's check). The counter belongs to
the memory, not to a Tensor: a tensor, its ``detach()``, and views made by indexing or
reshaping all see (and bump) the same counter, because it is kept per owning ndarray
(the root of ``.base``).

Only microgradnp's in-place operations bump it (``+=``, ``add_``..., ``t[i] = v``,
optimizer steps, ``load_state_dict``, ``nn.init``). Writes through ``t.data[...]`` are
not tracked, as in PyTorch.

Recording costs nothing: nodes and writes share one clock, ``stamps``, that counts down
(a node's ``order`` is its stamp), and ``writes.latest`` is the stamp of the latest
write. A node whose order is below it was recorded after every write and checks
nothing; only a node recorded before some write compares the recent writes of its
saved arrays with its own stamp.
"""

from __future__ import annotations

import itertools
import weakref

import numpy as np

_RECENT = 64  # write stamps kept per array (at least): enough to name the version a node expected

# The clock of events: every recorded node and every in-place write takes the next stamp.
# It counts down, so the engine's heap pops the most recently created node first (a
# tensor is always created after everything it is computed from).
stamps = itertools.count(0, -1)


class _Writes:
    latest = 1  # the stamp of the latest in-place write; above every stamp until the first


writes = _Writes()


class _Memory(list):
    """The write history of one owning array: the stamps of its latest writes, oldest
    first (a list, so that a write is one append)."""

    __slots__ = ("forgotten",)  # how many older writes were trimmed from the list

    @property
    def version(self) -> int:
        return self.forgotten + len(self)


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


def bump(*arrays: np.ndarray) -> None:
    """Count one in-place write into the memory of each of ``arrays`` (one event: they
    share a stamp)."""
    if not arrays:
        return
    writes.latest = stamp = next(stamps)
    for array in arrays:  # runs for every parameter at every optimizer step: kept lean
        key = id(array if array.base is None else _owner(array))
        try:
            memory = memories[key]
        except KeyError:
            memory = _remember(array)
        memory.append(stamp)
        if len(memory) > 2 * _RECENT:  # trimmed now and then, not on every write
            memory.forgotten += len(memory) - _RECENT
            del memory[:-_RECENT]


def _remember(array: np.ndarray) -> _Memory:
    owner = _owner(array)
    memory = memories[id(owner)] = _Memory()
    memory.forgotten = 0
    # Forget the history with the array, so a new array at the same address starts at 0.
    weakref.finalize(owner, memories.pop, id(owner), None)
    return memory


def written_since(array, stamp: int) -> tuple[int, int] | None:
    """``(version now, version at the event stamped ``stamp``)`` if ``array``'s memory was
    written after that event, else None."""
    if type(array) is not np.ndarray:
        return None
    memory = memories.get(id(_owner(array)))
    if memory is None or memory[-1] > stamp:
        return None
    later = sum(1 for written in memory if written < stamp)
    return memory.version, memory.version - later


# Memories of plain tensors into which a value that requires grad was written (a recorded
# write: ``buf[0] = x * 2``): id(owning array) -> the stamp of the latest such write. A plain
# view of that memory taken before the write sees the new values but is not in the graph:
# used in an operation, or written through, its gradients would be silently wrong.
graph_writes: dict[int, int] = {}


def joined_graph(array: np.ndarray, stamp: int) -> None:
    """Note that a value that requires grad was written into ``array``'s memory at ``stamp``."""
    owner = _owner(array)
    key = id(owner)
    if key not in graph_writes:
        weakref.finalize(owner, graph_writes.pop, key, None)
    graph_writes[key] = stamp


def stale_view(tensor) -> bool:
    """Whether ``tensor``, a plain tensor whose data is a view, was taken (or is untagged, so
    may have been) before a value that requires grad was written into the memory it views."""
    data = tensor.data
    if type(data) is not np.ndarray or data.base is None:
        return False
    written = graph_writes.get(id(_owner(data)))
    return written is not None and tensor._view_stamp >= written  # (stamps count down)
