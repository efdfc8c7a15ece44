"""Version counters: how many times the memory of an array was written in place.

A primitive that saved arrays for backward notes their versions when it is recorded;
backward refuses to use an array whose version changed since (PyTorch's check). The
counter belongs to the memory, not to a Tensor: a tensor, its ``detach()``, and views
made by indexing or reshaping all see (and bump) the same counter, because the count
is kept per owning ndarray (the root of ``.base``).

Only microgradnp's in-place operations bump it (``+=``, ``add_``..., ``t[i] = v``,
optimizer steps, ``load_state_dict``, ``nn.init``). Writes through ``t.data[...]`` are
not tracked, as in PyTorch.
"""

from __future__ import annotations

import weakref

import numpy as np

# id(owning array) -> number of in-place writes. Empty until the first in-place write,
# so programs that never write in place pay one truthiness test per primitive.
versions: dict[int, int] = {}


def _owner(array: np.ndarray) -> np.ndarray:
    base = array.base
    while isinstance(base, np.ndarray):
        array, base = base, base.base
    return array


def version_of(array) -> int:
    """The in-place write count of the memory ``array`` lives in (0 for non-arrays)."""
    if type(array) is not np.ndarray or not versions:
        return 0
    return versions.get(id(_owner(array)), 0)


def bump(array: np.ndarray) -> None:
    """Count one in-place write into ``array``'s memory."""
    owner = _owner(array)
    key = id(owner)
    count = versions.get(key)
    if count is None:
        # Forget the count with the array, so a new array at the same address starts at 0.
        weakref.finalize(owner, versions.pop, key, None)
        count = 0
    versions[key] = count + 1


def saved_versions(saved: tuple) -> tuple[int, ...] | None:
    """The versions of the arrays in ``saved`` (None: all 0, nothing was ever written)."""
    if not versions:
        return None
    return tuple([version_of(s) for s in saved])
