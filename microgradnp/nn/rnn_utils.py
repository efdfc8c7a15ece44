"""``nn.utils.rnn``: batching sequences of different lengths for the recurrent layers, as
``torch.nn.utils.rnn``: padded batches (``pad_sequence``, ``unpad_sequence``) and PyTorch's
``PackedSequence`` (``pack_padded_sequence``, ``pad_packed_sequence``, ``pack_sequence``,
``unpack_sequence``), which ``nn.RNN``, ``nn.LSTM`` and ``nn.GRU`` take as input to run each
sequence for its own length only. Every function is differentiable (built from padding,
stacking, concatenating and indexing), so gradients flow back to each sequence."""

from __future__ import annotations

import operator
from typing import NamedTuple

import numpy as np

from microgradnp import ops
from microgradnp.errors import InvalidArgumentError
from microgradnp.ops.primitive import reads_values
from microgradnp.tensor import Tensor

__all__ = [
    "PackedSequence",
    "invert_permutation",
    "pack_padded_sequence",
    "pack_sequence",
    "pad_packed_sequence",
    "pad_sequence",
    "unpack_sequence",
    "unpad_sequence",
]


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
        raise InvalidArgumentError(
            f"pad_sequence: expected padding_side to be one of 'left' or 'right', got {padding_side!r}")
    sequences = [s if isinstance(s, Tensor) else Tensor(s) for s in sequences]
    if not sequences:
        raise InvalidArgumentError("pad_sequence: received an empty list of sequences")
    for i, s in enumerate(sequences):
        if s.ndim == 0:
            raise InvalidArgumentError(
                f"pad_sequence: sequence {i} is 0-D; each sequence needs a time axis first, (L, *)")
        if s.shape[1:] != sequences[0].shape[1:]:
            raise InvalidArgumentError(
                f"pad_sequence: all sequences must have the same trailing shape, but sequence 0 has "
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
    lengths = _lengths(lengths, "unpad_sequence").reshape(-1).tolist()  # (whole-number floats too, as elsewhere)
    if padded.ndim < 2:
        raise InvalidArgumentError(
            f"unpad_sequence: expected a padded batch with at least 2 axes, got shape {padded.shape}")
    batch, longest = (padded.shape[0], padded.shape[1]) if batch_first else (padded.shape[1], padded.shape[0])
    if len(lengths) != batch:
        raise InvalidArgumentError(f"unpad_sequence: got {len(lengths)} lengths for a batch of {batch} sequences")
    if any(not 0 <= n <= longest for n in lengths):
        raise InvalidArgumentError(
            f"unpad_sequence: lengths {lengths} must be between 0 and the padded length {longest}")
    if batch_first:
        return [padded[i, :n] for i, n in enumerate(lengths)]
    return [padded[:n, i] for i, n in enumerate(lengths)]


# -- PackedSequence ----------------------------------------------------------------------------
def _int64(values) -> Tensor:
    """``values`` (a sequence, an array or a Tensor of whole numbers) as a 1-D int64 Tensor
    (``values`` itself when it is one already)."""
    if isinstance(values, Tensor) and values.dtype == np.int64 and values.ndim == 1:
        return values
    array = np.asarray(values.data if isinstance(values, Tensor) else values)
    if array.dtype.kind == "f" and np.all(array == np.round(array)):
        array = array.astype(np.int64)
    if array.dtype.kind not in "iu" and array.size:
        raise TypeError(f"expected integers, got dtype {array.dtype}")
    return Tensor(array.astype(np.int64).reshape(-1), dtype=np.int64)


def invert_permutation(permutation):
    """The inverse of ``permutation`` (a 1-D integer Tensor or array), None for None, as
    ``torch.nn.utils.rnn.invert_permutation``: it turns a ``PackedSequence``'s
    ``sorted_indices`` into its ``unsorted_indices``."""
    if permutation is None:
        return None
    permutation = _int64(permutation).data
    inverse = np.empty_like(permutation)
    inverse[permutation] = np.arange(permutation.size, dtype=np.int64)
    return Tensor(inverse, dtype=np.int64)


class _PackedSequenceFields(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None


class PackedSequence(_PackedSequenceFields):
    """A batch of sequences of different lengths with their steps interleaved, as
    ``torch.nn.utils.rnn.PackedSequence``: the recurrent layers take it to run each sequence
    for its own length only. Make one with ``pack_padded_sequence`` or ``pack_sequence``
    rather than by hand.

    Fields (a named tuple, as PyTorch's):
        data: (sum of the lengths, *): the first step of every sequence, longest first, then
            the second step of those that have one, and so on.
        batch_sizes: int64 (longest length,): how many sequences have step ``t``.
        sorted_indices: int64 (B,): the original batch position of each sequence in
            ``data``'s (longest-first) order, or None when the batch was already sorted.
        unsorted_indices: int64 (B,): the inverse of ``sorted_indices`` (computed from it
            when omitted), or None.
    """

    __slots__ = ()

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if batch_sizes is None:  # PyTorch's old spelling: PackedSequence((data, batch_sizes))
            if not isinstance(data, tuple | list) or len(data) != 2:
                raise TypeError("PackedSequence: give data and batch_sizes (or a pair (data, batch_sizes))")
            data, batch_sizes = data
        data = data if isinstance(data, Tensor) else Tensor(data)
        batch_sizes = _int64(batch_sizes)
        sorted_indices = None if sorted_indices is None else _int64(sorted_indices)
        unsorted_indices = (invert_permutation(sorted_indices) if unsorted_indices is None
                            else _int64(unsorted_indices))
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, dtype) -> PackedSequence:
        """The sequence with ``data`` in another dtype (``self`` when it already has it),
        as PyTorch's; ``to("cpu")`` is ``self``."""
        data = self.data.to(dtype)
        return self if data is self.data else type(self)(data, self.batch_sizes, self.sorted_indices,
                                                           self.unsorted_indices)

    def float(self) -> PackedSequence:
        """``data`` in float32."""
        return self.to(np.float32)

    def double(self) -> PackedSequence:
        """``data`` in float64."""
        return self.to(np.float64)

    def cpu(self) -> PackedSequence:
        """``self``: there is no other device."""
        return self

    @property
    def is_cuda(self) -> bool:
        """False: there is no other device."""
        return False


def _lengths(lengths, function: str) -> np.ndarray:
    """``lengths`` (a sequence, an array or a Tensor) as a 1-D int64 array."""
    if isinstance(lengths, Tensor | np.ndarray):
        reads_values(f"{function} with lengths in a tensor")  # (they decide which steps are kept)
    try:
        return _int64(lengths).data
    except TypeError:
        raise TypeError(f"{function}: lengths must hold integers, got {lengths!r}") from None


def pack_padded_sequence(input, lengths, batch_first: bool = False, enforce_sorted: bool = True):  # noqa: A002
    """Pack a padded batch of sequences of different lengths, as
    ``torch.nn.utils.rnn.pack_padded_sequence``.

    Args:
        input: a padded batch (T, B, *), or (B, T, *) with ``batch_first``, such as
            ``pad_sequence`` makes; the steps past each sequence's length are ignored.
        lengths: the B lengths (a sequence of ints or an integer array/tensor), each
            between 1 and T.
        batch_first: whether the batch axis comes first.
        enforce_sorted: require the lengths in decreasing order. With False, any order:
            the batch is sorted here, and ``sorted_indices`` records how.

    Returns:
        A ``PackedSequence``; the gradient of its ``data`` flows back to ``input``.

    Raises:
        ValueError: for fewer than 2 axes, a number of lengths other than B, a length of 0
            (or less) or longer than T, or lengths out of order with ``enforce_sorted``.
    """
    padded = input if isinstance(input, Tensor) else Tensor(input)
    lengths = _lengths(lengths, "pack_padded_sequence")
    if padded.ndim < 2:
        raise InvalidArgumentError(f"pack_padded_sequence: expected a padded batch with at least 2 axes, got shape "
                         f"{padded.shape}")
    batch, longest = (padded.shape[0], padded.shape[1]) if batch_first else (padded.shape[1], padded.shape[0])
    if lengths.size != batch:
        raise InvalidArgumentError(f"pack_padded_sequence: expected `len(lengths)` to be equal to batch_size, but got "
                         f"{lengths.size} (batch_size={batch})")
    if batch == 0:
        raise InvalidArgumentError(f"pack_padded_sequence: the batch is empty (input of shape {padded.shape})")
    if np.any(lengths <= 0):
        raise InvalidArgumentError("pack_padded_sequence: length of all samples has to be greater than 0, but found an "
                         f"element in 'lengths' that is <= 0: {lengths.tolist()}")
    if np.any(lengths > longest):
        raise InvalidArgumentError(
            f"pack_padded_sequence: lengths {lengths.tolist()} must be at most the padded length "
            f"{longest} (the input has shape {padded.shape}, batch_first={batch_first})")
    if enforce_sorted:
        if np.any(lengths[:-1] < lengths[1:]):
            raise InvalidArgumentError(f"pack_padded_sequence: `lengths` array must be sorted in decreasing order when "
                             f"`enforce_sorted` is True, got {lengths.tolist()}. You can pass "
                             "`enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to sidestep "
                             "this requirement.")
        order, sorted_indices = np.arange(batch), None
    else:
        order = np.argsort(-lengths, kind="stable")
        sorted_indices = order
    batch_sizes = (lengths[:, None] > np.arange(lengths.max())).sum(axis=0)
    # Step t of the j-th longest sequence, for every t and j < batch_sizes[t], in that order.
    steps = np.repeat(np.arange(batch_sizes.size), batch_sizes)
    starts = np.cumsum(batch_sizes) - batch_sizes
    rows = order[np.arange(steps.size) - starts[steps]]
    data = padded[(rows, steps) if batch_first else (steps, rows)]
    return PackedSequence(data, batch_sizes, sorted_indices, None)


def pad_packed_sequence(sequence, batch_first: bool = False, padding_value: float = 0.0, total_length=None):
    """The padded batch of a ``PackedSequence`` and its lengths: the inverse of
    ``pack_padded_sequence``, as ``torch.nn.utils.rnn.pad_packed_sequence``.

    Args:
        sequence: a ``PackedSequence``.
        batch_first: the output as (B, T, *) instead of (T, B, *).
        padding_value: the value of the padded elements.
        total_length: pad to this length T rather than to the longest sequence (at least
            the longest length).

    Returns:
        ``(padded, lengths)``: the sequences in their original batch order (undoing
        ``enforce_sorted=False``'s sort), and their lengths as an int64 Tensor. The gradient
        of ``padded`` flows back to ``sequence.data``.

    Raises:
        ValueError: if ``total_length`` is shorter than the longest sequence.
    """
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"pad_packed_sequence: expected a PackedSequence, got {type(sequence).__name__}")
    data = sequence.data
    batch_sizes = sequence.batch_sizes.data
    longest, batch = batch_sizes.size, int(batch_sizes[0])
    if total_length is not None:
        total_length = operator.index(total_length)
        if total_length < longest:
            raise InvalidArgumentError(
                "pad_packed_sequence: expected total_length to be at least the length of the longest "
                f"sequence in input, but got total_length={total_length} and max sequence length "
                f"being {longest}")
    steps = longest if total_length is None else total_length
    order = np.arange(batch) if sequence.sorted_indices is None else sequence.sorted_indices.data
    # source[t, b]: the row of data holding step t of sequence b, or the padding row after data.
    source = np.full((steps, batch), data.shape[0], dtype=np.int64)
    rows = np.arange(data.shape[0])
    times = np.repeat(np.arange(longest), batch_sizes)
    source[times, order[rows - (np.cumsum(batch_sizes) - batch_sizes)[times]]] = rows
    # (dtype= given: Tensor(...) would turn integer padding into floats, and the whole result with it)
    padding = Tensor(np.full((1, *data.shape[1:]), padding_value, dtype=data.dtype), dtype=data.dtype)
    padded = ops.concatenate([data, padding], axis=0)[source.T if batch_first else source]
    lengths = (batch_sizes[None, :] > np.arange(batch)[:, None]).sum(axis=1)
    return padded, Tensor(lengths[np.argsort(order)], dtype=np.int64)


def pack_sequence(sequences, enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of sequences of different lengths, as ``torch.nn.utils.rnn.pack_sequence``
    (``pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=...)``).

    Args:
        sequences: tensors (or arrays) of shapes (L_i, *), all with the same trailing shape,
            each with at least one step.
        enforce_sorted: require the sequences longest first; with False, any order.

    Returns:
        A ``PackedSequence``; gradients flow back to each sequence.

    Raises:
        ValueError: as ``pad_sequence`` and ``pack_padded_sequence``.
    """
    sequences = [s if isinstance(s, Tensor) else Tensor(s) for s in sequences]
    padded = pad_sequence(sequences)
    return pack_padded_sequence(padded, [s.shape[0] for s in sequences], enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences) -> list:
    """The sequences of a ``PackedSequence``, in their original order: the inverse of
    ``pack_sequence``, as ``torch.nn.utils.rnn.unpack_sequence``.

    Args:
        packed_sequences: a ``PackedSequence``.

    Returns:
        A list of B tensors of shapes (L_i, *); gradients flow back to ``data``.
    """
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
