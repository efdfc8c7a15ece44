"""``DataLoader``: mini-batches of ``(X, y)`` as Tensors, optionally reshuffled every epoch."""

from __future__ import annotations

import numbers
from collections.abc import Iterator

import numpy as np

from microgradnp.tensor import Tensor, _as_float_array, _rng


def _read_only(array: np.ndarray, what: str) -> np.ndarray:
    """Seal ``array``, a fresh copy owned by the loader (later edits of the caller's data do not leak in)."""
    if array.ndim == 0:
        raise ValueError(f"DataLoader: {what} must have a leading sample axis, got a scalar")
    # Batches are views of this copy; read-only keeps an in-place edit of one batch from
    # silently changing the data set for every later epoch.
    array.flags.writeable = False
    return array


def _labels(y) -> np.ndarray:
    data = y.data if isinstance(y, Tensor) else y
    return np.array(data) if np.asarray(data).dtype.kind in "iu" else _as_float_array(data)


class DataLoader:
    """Iterate over ``(X_batch, y_batch)`` pairs, one pass over the data per epoch.

    ``X`` and ``y`` (ndarrays, nested lists or Tensors) hold one sample per row of their
    first axis; the loader keeps its own read-only copy of both, so batches are cheap
    views and editing them in place raises instead of corrupting later epochs.

    ``X_batch`` is a Tensor without grad; float data keeps its dtype, ints and bools
    become the default float dtype (as ``mg.tensor`` does). ``y_batch`` is a Tensor in the
    same way, except that integer labels (class indices for ``cross_entropy``) are yielded
    as an integer **ndarray**, because a Tensor would turn them into floats.

    Args:
        X: the inputs, ``(n, ...)``.
        y: the targets, ``(n, ...)``; the same ``n`` as ``X``.
        batch_size: samples per batch (an integer >= 1), or None for one batch with
            everything (full-batch gradient descent, the lab's setting).
        shuffle: draw a new random order at the start of every epoch.
        rng: the ``np.random.Generator`` (or integer seed) the orders are drawn from:
            the same seed gives the same sequence of epochs. None uses the global
            generator. A Generator passed in is used, and advanced, as it is.
        drop_last: skip the last batch of an epoch when it is smaller than ``batch_size``.

    ``len(loader)`` is the number of batches per epoch.

    For example:

        X, y = make_linear(100, rng=0)
        for epoch in range(10):
            for X_batch, y_batch in DataLoader(X, y, batch_size=32, shuffle=True, rng=0):
                optimizer.zero_grad()
                F.mse_loss(model(X_batch), y_batch).backward()
                optimizer.step()
    """

    def __init__(self, X, y, batch_size: int | None = None, shuffle: bool = False, rng=None,
                 drop_last: bool = False):
        if batch_size is not None and (
            isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1
        ):
            raise ValueError(f"DataLoader: batch_size must be an integer >= 1 or None (full batch), got {batch_size!r}")
        self._X = _read_only(_as_float_array(X), "X")
        self._y = _read_only(_labels(y), "y")
        if len(self._X) != len(self._y):
            raise ValueError(
                f"DataLoader: X and y must have the same number of samples, got {len(self._X)} inputs "
                f"(X shape {self._X.shape}) and {len(self._y)} targets (y shape {self._y.shape})"
            )
        self.batch_size = None if batch_size is None else int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self._rng = _rng(rng)
        self._integer_labels = self._y.dtype.kind in "iu"

    @property
    def num_samples(self) -> int:
        """Number of samples in the data set."""
        return len(self._X)

    def __len__(self) -> int:
        n = self.num_samples
        if self.batch_size is None:
            return 1 if n else 0
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor | np.ndarray]]:
        X, y = self._X, self._y
        if self.shuffle:
            order = self._rng.permutation(len(X))
            X, y = X[order], y[order]
            X.flags.writeable = y.flags.writeable = False
        step = self.batch_size or max(len(X), 1)  # an empty full batch has no batches, not a zero step
        for start in range(0, step * len(self), step):
            yield self._batch(X[start:start + step], y[start:start + step])

    def _batch(self, X: np.ndarray, y: np.ndarray) -> tuple[Tensor, Tensor | np.ndarray]:
        # Fresh Tensor wrappers each time: a caller who sets requires_grad or reads .grad
        # on a batch must not see state from an earlier epoch.
        return Tensor._wrap(X), (y if self._integer_labels else Tensor._wrap(y))

    def __repr__(self) -> str:
        return (f"DataLoader(num_samples={self.num_samples}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last})")
