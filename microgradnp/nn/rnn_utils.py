"""``nn.utils.rnn``: batching sequences of different lengths for the recurrent layers, as
``torch.nn.utils.rnn``. Both functions are differentiable (built from padding, stacking and
indexing), so gradients flow back to each sequence.

PyTorch's ``PackedSequence`` (``pack_padded_sequence`` and friends) is not provided: the
recurrent layers take padded batches."""

from __future__ import annotations

import operator

import numpy as np

from microgradnp import ops
from microgradnp.tensor import Tensor

__all__ = ["pad_sequence", "unpad_sequence"]


def pad_sequence(sequences, batch_first: bool = False, padding_value: float = 0.0, padding_side: str = "right"):
    """Stack sequences of different lengths into one tensor, padding the shorter ones with
    ``padding_value``, as ``torch.nn.utils.rnn.pad_sequence``.

    Args:
        sequences: an iterable of tensors (or arrays) of shapes (L_i, *), all with the same
            trailing shape ``*``.
        batch_first: the output as (B, T, *) instead of (T, B, *).
        padding_value: the value of the padded elements.
        padding_side: ``"right"`` pads after each sequence, ``"left"`` before it.

    Returns:
        A tensor of shape (T, B, *), or (B, T, *) with ``batch_first``, where T is the
        longest length and B the number of sequences.

    Raises:
        ValueError: for no sequences, a 0-D one, different trailing shapes, or another
            ``padding_side``.
    """
    if padding_side not in ("left", "right"):
        raise ValueError(f"pad_sequence: expected padding_side to be one of 'left' or 'right', got {padding_side!r}")
    sequences = [s if isinstance(s, Tensor) else Tensor(s) for s in sequences]
    if not sequences:
        raise ValueError("pad_sequence: received an empty list of sequences")
    for i, s in enumerate(sequences):
        if s.ndim == 0:
            raise ValueError(f"pad_sequence: sequence {i} is 0-D; each sequence needs a time axis first, (L, *)")
        if s.shape[1:] != sequences[0].shape[1:]:
            raise ValueError(f"pad_sequence: all sequences must have the same trailing shape, but sequence 0 has "
                             f"shape {sequences[0].shape} and sequence {i} has shape {s.shape}")
    longest = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        missing = longest - s.shape[0]
        if missing:
            widths = [(missing, 0) if padding_side == "left" else (0, missing)] + [(0, 0)] * (s.ndim - 1)
            s = ops.pad(s, widths, constant_values=padding_value)
        padded.append(s)
    return ops.stack(padded, axis=0 if batch_first else 1)


def unpad_sequence(padded_sequences, lengths, batch_first: bool = False) -> list:
    """The sequences of a padded batch, each cut to its length: the inverse of
    ``pad_sequence`` with ``padding_side="right"``, as ``torch.nn.utils.rnn.unpad_sequence``.

    Args:
        padded_sequences: a tensor (T, B, *), or (B, T, *) with ``batch_first``.
        lengths: the B lengths (a sequence of ints or an integer array/tensor).
        batch_first: whether the batch axis comes first.

    Returns:
        A list of B tensors of shapes (lengths[i], *).

    Raises:
        ValueError: if the number of lengths is not the batch size, or a length is
            negative or longer than T.
    """
    padded = padded_sequences if isinstance(padded_sequences, Tensor) else Tensor(padded_sequences)
    lengths = [operator.index(n) for n in np.asarray(getattr(lengths, "data", lengths)).reshape(-1).tolist()]
    if padded.ndim < 2:
        raise ValueError(f"unpad_sequence: expected a padded batch with at least 2 axes, got shape {padded.shape}")
    batch, longest = (padded.shape[0], padded.shape[1]) if batch_first else (padded.shape[1], padded.shape[0])
    if len(lengths) != batch:
        raise ValueError(f"unpad_sequence: got {len(lengths)} lengths for a batch of {batch} sequences")
    if any(not 0 <= n <= longest for n in lengths):
        raise ValueError(f"unpad_sequence: lengths {lengths} must be between 0 and the padded length {longest}")
    if batch_first:
        return [padded[i, :n] for i, n in enumerate(lengths)]
    return [padded[:n, i] for i, n in enumerate(lengths)]
