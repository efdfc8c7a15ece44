"""PyTorch's argument names beside NumPy's: ``dim=`` for ``axis=`` and ``keepdim=`` for
``keepdims=`` (and ``dims`` for ``axis`` of ``flip`` and ``roll``, ``shifts`` for ``roll``'s ``shift``,
``start_dim``/``end_dim`` for ``flatten``'s ``start_axis``/``end_axis``),
so that ``t.sum(dim=1, keepdim=True)`` and ``t.sum(axis=1, keepdims=True)`` are the same
call."""

from __future__ import annotations

import functools
import inspect

# PyTorch's name -> NumPy's name.
ALIASES = {"dim": "axis", "dims": "axis", "keepdim": "keepdims", "start_dim": "start_axis", "end_dim": "end_axis",
           "shifts": "shift"}


# The reductions whose dim=() (or []) means every axis in PyTorch, as dim=None.
_REDUCE_ALL_ON_EMPTY_DIM = frozenset(
    ("sum", "mean", "nansum", "nanmean", "amax", "amin", "std", "var", "count_nonzero", "norm", "var_mean",
     "std_mean"))


def reduced_dims(dim):
    """A reduction's ``dim`` as PyTorch reads it: ``()`` or ``[]`` is every axis, as None
    (NumPy's ``axis=()`` reduces none)."""
    return None if isinstance(dim, tuple | list) and not dim else dim


def torch_names(function):
    """Let ``function`` (whose parameters use NumPy's names) also take PyTorch's: ``dim``
    for ``axis`` and ``keepdim`` for ``keepdims``. Giving both spellings of one argument
    is a TypeError, as giving an argument twice is."""
    parameters = inspect.signature(function).parameters
    renames = {torch: numpy for torch, numpy in ALIASES.items() if numpy in parameters and torch not in parameters}
    if not renames:
        return function
    positions = {name: i for i, name in enumerate(parameters)}
    reduces_all_on_no_dim = function.__name__ in _REDUCE_ALL_ON_EMPTY_DIM

    @functools.wraps(function)
    def call(*args, **kwargs):
        for torch, numpy in renames.items():
            if torch in kwargs:
                if numpy in kwargs or positions[numpy] < len(args):
                    raise TypeError(f"{function.__name__}() got both {torch}= and {numpy}= (they are the same "
                                    f"argument: {torch} is PyTorch's name for NumPy's {numpy})")
                value = kwargs.pop(torch)
                kwargs[numpy] = reduced_dims(value) if reduces_all_on_no_dim and torch == "dim" else value
        return function(*args, **kwargs)

    return call
