"""The global random generator's state, as ``torch.get_rng_state`` and ``torch.set_rng_state``:
``mg.get_rng_state()`` and ``mg.set_rng_state(state)`` save and restore the generator
``mg.manual_seed`` seeds (the one random constructors, layers and dropout use when no ``rng``
is given)."""

from __future__ import annotations

import numpy as np

from microgradnp.autograd.grad_mode import mode, watchers
from microgradnp.tensor import _global_rng

__all__ = ["get_rng_state", "set_rng_state"]


def get_rng_state() -> dict:
    """The global generator's state, for ``set_rng_state`` (as ``torch.get_rng_state``).

    It is NumPy's bit-generator state (a dict, the same as ``mg.Generator().get_state()``
    gives), a copy: later draws do not change it.
    """
    if watchers.count and mode.tracer is not None:  # an mg.compile replay would return the state at tracing
        mode.tracer.cannot_replay("mg.get_rng_state")
    return _global_rng.bit_generator.state


def set_rng_state(new_state: dict) -> None:
    """Restore the global generator to a state from ``get_rng_state`` (as
    ``torch.set_rng_state``): the draws that followed it are drawn again."""
    if not isinstance(new_state, dict):
        raise TypeError(f"set_rng_state: expected a state from mg.get_rng_state() (a dict), "
                        f"got {type(new_state).__name__}")
    if watchers.count and mode.tracer is not None:  # an mg.compile trace: every replay restores it, as manual_seed
        mode.tracer.replayed_call(_set_state, _global_rng, (new_state,), {})
        return
    _set_state(_global_rng, new_state)


def _set_state(generator: np.random.Generator, state: dict) -> None:
    generator.bit_generator.state = state
