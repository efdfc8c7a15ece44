"""The exceptions microgradnp raises for a bad argument to an operation.

NumPy raises ValueError (or TypeError) where PyTorch raises RuntimeError for the same
mistake: a shape that does not fit, an axis out of range, an unknown mode, a dtype an
operation refuses. These classes are both, so that code written for either library
catches them."""

from __future__ import annotations

import numpy as np

__all__ = ["DtypeError", "IndexOutOfRangeError", "InvalidArgumentError", "LinAlgError", "StateDictKeyError"]


class InvalidArgumentError(ValueError, RuntimeError):
    """An operation got an argument it cannot work with (a shape, an axis, a size, a mode):
    a ValueError, as NumPy raises, and a RuntimeError, as PyTorch raises."""


class IndexOutOfRangeError(IndexError, RuntimeError):
    """An index outside a tensor given to ``gather``, ``scatter``, ``take``, ``narrow``,
    ``kthvalue``...: an IndexError, as NumPy raises, and a RuntimeError, as PyTorch raises there."""


class DtypeError(TypeError, RuntimeError):
    """An operation refused a tensor's dtype (a bitwise operator on floats, a float tensor
    where class indices belong, an in-place result the tensor cannot hold): a TypeError,
    as NumPy's refusal, and a RuntimeError, as PyTorch's."""


class StateDictKeyError(KeyError, RuntimeError):
    """``load_state_dict(strict=True)`` found missing or unexpected names: a KeyError (a
    name) and a RuntimeError, as PyTorch raises."""

    def __str__(self) -> str:  # the message itself, not KeyError's repr of it
        return str(self.args[0]) if self.args else ""


class LinAlgError(np.linalg.LinAlgError, RuntimeError):
    """A matrix a linear-algebra function cannot work with (singular, not positive-definite):
    NumPy's ``LinAlgError`` (a ValueError) and a RuntimeError, as ``torch.linalg.LinAlgError``."""
