"""PyTorch's argument names beside NumPy's: ``dim=`` for ``axis=`` and ``keepdim=`` for
``keepdims=`` (and ``dims`` for ``axis`` of ``flip`` and ``roll``, ``shifts`` for ``roll``'s ``shift``,
``start_dim``/``end_dim`` for ``flatten``'s ``start_axis``/``end_axis``),
so that ``t.sum(dim=1, keepdim=True)`` and ``t.sum(axis=1, keepdims=True)`` are the same
call. Also PyTorch's names of the operands (``input=``, ``other=``), of a function's own
arguments (``tril(diagonal=)``, ``clip(min=, max=)``) and of arguments NumPy's functions take
as ``*args`` (``reshape(shape=)``, ``transpose(dim0=, dim1=)``): see ``torch_names``."""

from __future__ import annotations

import functools
import inspect

# PyTorch's name -> NumPy's name.
ALIASES = {"dim": "axis", "dims": "axis", "keepdim": "keepdims", "start_dim": "start_axis", "end_dim": "end_axis",
           "shifts": "shift"}

# PyTorch's names of the operands: the tensor is always ``input`` and a binary function's second
# operand ``other``, where NumPy's functions call them x, a or y (atan2(y, x)) and b or x.
# PyTorch's name -> (position, NumPy's names that position has).
OPERANDS = {"input": (0, ("x", "a", "y")), "other": (1, ("b", "x"))}


# The reductions whose dim=() (or []) means every axis in PyTorch, as dim=None.
_REDUCE_ALL_ON_EMPTY_DIM = frozenset(
    ("sum", "mean", "nansum", "nanmean", "amax", "amin", "std", "var", "count_nonzero", "norm", "var_mean",
     "std_mean", "logsumexp"))


def reduced_dims(dim):
    """A reduction's ``dim`` as PyTorch reads it: ``()`` or ``[]`` is every axis, as None
    (NumPy's ``axis=()`` reduces none), and a list is the tuple of those axes (NumPy's
    reductions take a tuple, not a list)."""
    if isinstance(dim, tuple | list):
        return tuple(dim) or None
    return dim


def torch_names(function, extra: dict | None = None, aliases: dict = ALIASES, operands: dict = OPERANDS):
    """Let ``function`` (whose parameters use NumPy's names) also take PyTorch's: ``dim``
    for ``axis`` and ``keepdim`` for ``keepdims`` (``aliases``), ``input`` and ``other`` for
    its operands (``OPERANDS``), and ``extra`` (PyTorch's name -> this function's name, e.g.
    ``{"diagonal": "k"}`` for ``tril``). A name for a ``*args`` parameter (``reshape(x, *shape)``
    takes ``shape=``, ``transpose(x, *axes)`` ``dim0=`` and ``dim1=`` with ``extra``) passes
    its value(s) as those positional arguments. Giving both spellings of one argument is a
    TypeError, as giving an argument twice is. (``aliases={}``: a function that reads ``dim=``
    itself, with PyTorch's meaning, gets the operands' names only.)"""
    extra = extra or {}
    parameters = inspect.signature(function).parameters
    kinds = inspect.Parameter
    fixed = [name for name, p in parameters.items() if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)]
    variadic = next((name for name, p in parameters.items() if p.kind is kinds.VAR_POSITIONAL), None)
    renames = {torch: numpy for torch, numpy in aliases.items() if numpy in parameters and torch not in parameters}
    renames |= {torch: fixed[position] for torch, (position, names) in operands.items()
                if torch not in parameters and len(fixed) > position and fixed[position] in names}
    renames |= extra
    # The names standing for the *args parameter, in the order their values go (dim0, then dim1).
    spread = [name for name in (variadic, *extra) if variadic is not None and renames.get(name, name) == variadic]
    renames = {torch: numpy for torch, numpy in renames.items() if numpy != variadic}
    if not renames and not spread:
        return function
    positions = {name: i for i, name in enumerate(parameters)}
    reduces_all_on_no_dim = function.__name__ in _REDUCE_ALL_ON_EMPTY_DIM

    @functools.wraps(function)
    def call(*args, **kwargs):
        if not kwargs:  # the usual call: nothing to rename
            return function(*args)
        for torch, numpy in renames.items():
            if torch in kwargs:
                if numpy in kwargs or positions.get(numpy, len(args)) < len(args):
                    raise TypeError(f"{function.__name__}() got both {torch}= and {numpy}= (they are the same "
                                    f"argument: {torch} is PyTorch's name for NumPy's {numpy})")
                value = kwargs.pop(torch)
                kwargs[numpy] = reduced_dims(value) if reduces_all_on_no_dim and torch == "dim" else value
        if any(name in kwargs for name in spread):
            if len(args) > len(fixed):
                # PyTorch's transpose(x, 0, dim1=2): the values given positionally are the first names'
                given = [name for name in spread if name != variadic][: len(args) - len(fixed)]
                twice = [name for name in (variadic, *given) if name in kwargs]
                if twice or len(given) < len(args) - len(fixed):
                    raise TypeError(f"{function.__name__}() got {', '.join(twice or spread)} by name and "
                                    f"positionally")
                return function(*args, *(kwargs.pop(name) for name in spread if name in kwargs), **kwargs)
            # The arguments before *args go positionally too (input= is x, the tensor).
            missing = [name for name in fixed[len(args):] if name not in kwargs]
            if missing:
                raise TypeError(f"{function.__name__}() missing argument {missing[0]!r}")
            args = (*args, *(kwargs.pop(name) for name in fixed[len(args):]),
                    *(kwargs.pop(name) for name in spread if name in kwargs))
        return function(*args, **kwargs)

    call.torch_names_of = (function, extra, aliases)  # (a method's wrapper is made without input=)
    return call


def method_names(function):
    """``function`` as a Tensor method: ``torch_names``' wrapper without ``input=`` (the tensor is
    ``self``), so that a method that needs no renaming (``t.sigmoid()``) is the plain function."""
    made = getattr(function, "torch_names_of", None)
    if made is None:
        return function
    plain, extra, aliases = made
    return torch_names(plain, extra, aliases, {"other": OPERANDS["other"]})
