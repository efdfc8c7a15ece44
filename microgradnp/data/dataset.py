"""PyTorch's ``torch.utils.data``: datasets, samplers, collation and a ``DataLoader`` over a dataset.

``DataLoader`` here takes both forms:

- ``DataLoader(dataset, batch_size=1, shuffle=False, sampler=None, ...)``, PyTorch's, when the
  first argument is a ``Dataset`` (or any object with ``__getitem__`` and ``__len__``: an array,
  a Tensor or a list without ``y`` is the dataset of its rows, as in PyTorch), or an ``IterableDataset``;
- ``DataLoader(X, y, batch_size=None, shuffle=False, rng=None, drop_last=False)``, the arrays form
  of ``microgradnp.data.loader``, when the first argument is an array, a Tensor or a nested list of
  numbers and ``y`` is given.

A dataset with ``y`` (``DataLoader(dataset, y)``) fits neither form and raises a ``TypeError``
saying what to write.

Random draws use NumPy: ``generator=`` (or ``rng=``) is a ``np.random.Generator``, an integer
seed, or None for microgradnp's global generator (``mg.manual_seed``), read at every epoch.
"""

from __future__ import annotations

import bisect
import math
import numbers
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence

import numpy as np

from microgradnp.data import loader as _arrays
from microgradnp.ops.primitive import _is_numbers
from microgradnp.tensor import Tensor, _as_float_array, _rng

__all__ = [
    "BatchSampler",
    "ChainDataset",
    "ConcatDataset",
    "DataLoader",
    "Dataset",
    "IterableDataset",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "StackDataset",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "WeightedRandomSampler",
    "default_collate",
    "default_convert",
    "get_worker_info",
    "random_split",
]


def _positive_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def _flag(value, what: str) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{what} must be a bool (True or False), got {value!r}")
    return bool(value)


def _generator(generator, rng, where: str):
    """The one random source of ``generator=`` and its alias ``rng=`` (a Generator, a seed or None)."""
    if generator is not None and rng is not None:
        raise TypeError(f"{where}: got both generator= and rng=; they are the same argument, pass one")
    source = rng if generator is None else generator
    return None if source is None else _rng(source)


# -- datasets -----------------------------------------------------------------------------------
class Dataset:
    """A map-style data set: ``dataset[i]`` is sample ``i`` and ``len(dataset)`` the number of samples.

    Subclass it and define ``__getitem__`` and ``__len__`` (as ``torch.utils.data.Dataset``);
    ``a + b`` is ``ConcatDataset([a, b])``. A subclass may also define ``__getitems__(indices)``,
    returning the list of samples at ``indices``, which ``DataLoader`` then calls once per batch.
    """

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__ (a subclass of Dataset)")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A data set read as a stream: subclass it and define ``__iter__`` (as in PyTorch).

    ``DataLoader`` iterates it once per epoch and groups consecutive samples into batches;
    it takes no ``shuffle``, ``sampler`` or ``batch_sampler``. ``a + b`` is ``ChainDataset([a, b])``.
    """

    def __iter__(self) -> Iterator:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__ (a subclass of IterableDataset)")

    def __add__(self, other: IterableDataset) -> ChainDataset:
        return ChainDataset([self, other])


def _rows(data, what: str):
    """A Tensor stays a Tensor; anything else becomes an ndarray with a leading sample axis."""
    array = data if isinstance(data, Tensor) else np.asarray(data)
    if array.ndim == 0:
        raise ValueError(f"{what} must have a leading sample axis (one sample per row), got a scalar")
    return array


class TensorDataset(Dataset):
    """Samples are the rows of equally long Tensors or arrays: ``dataset[i]`` is ``(X[i], y[i], ...)``.

    Args:
        *tensors: Tensors, ndarrays or nested lists, all with the same size of their first axis.
            Tensors are indexed as Tensors, everything else as ndarrays.

    Raises:
        ValueError: when no tensor is given or their first sizes differ.
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor: TensorDataset(X, y)")
        self.tensors = tuple(_rows(t, f"TensorDataset: tensor {i}") for i, t in enumerate(tensors))
        sizes = [len(t) for t in self.tensors]
        if len(set(sizes)) > 1:
            raise ValueError(f"TensorDataset: size mismatch between tensors: first dimensions {sizes}; "
                             "every tensor needs one row per sample")

    def __getitem__(self, index) -> tuple:
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return len(self.tensors[0])


class StackDataset(Dataset):
    """Samples of several equally long data sets side by side, as a tuple or a dict.

    ``StackDataset(images, labels)[i]`` is ``(images[i], labels[i])`` and
    ``StackDataset(x=images, y=labels)[i]`` is ``{"x": images[i], "y": labels[i]}``.

    Raises:
        ValueError: when no data set, both positional and keyword ones, or different lengths are given.
    """

    def __init__(self, *args: Dataset, **kwargs: Dataset):
        if args and kwargs:
            raise ValueError("StackDataset takes data sets either positionally (tuple samples) or by keyword "
                             "(dict samples), not both")
        if not args and not kwargs:
            raise ValueError("StackDataset needs at least one data set")
        self.datasets = args or kwargs
        sizes = [len(d) for d in (args or kwargs.values())]
        if len(set(sizes)) > 1:
            raise ValueError(f"StackDataset: size mismatch between data sets: lengths {sizes}")
        self._length = sizes[0]

    def __getitem__(self, index):
        if isinstance(self.datasets, dict):
            return {key: dataset[index] for key, dataset in self.datasets.items()}
        return tuple(dataset[index] for dataset in self.datasets)

    def __len__(self) -> int:
        return self._length


class ConcatDataset(Dataset):
    """Several map-style data sets one after the other: indices run through the first, then the next.

    Attributes:
        datasets: the list of data sets.
        cumulative_sizes: ``cumulative_sizes[k]`` is the number of samples in ``datasets[:k + 1]``.

    Raises:
        ValueError: for an empty list; TypeError: for an ``IterableDataset`` (use ``ChainDataset``).
    """

    def __init__(self, datasets: Iterable[Dataset]):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        for dataset in self.datasets:
            if isinstance(dataset, IterableDataset):
                raise TypeError("ConcatDataset does not support IterableDataset: chain streams with ChainDataset")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index):
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"ConcatDataset: index {index} is out of range for {n} samples")
        index = index + n if index < 0 else index
        which = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][index - start]


class ChainDataset(IterableDataset):
    """Several ``IterableDataset``s read one after the other."""

    def __init__(self, datasets: Iterable[IterableDataset]):
        self.datasets = list(datasets)

    def __iter__(self) -> Iterator:
        for dataset in self.datasets:
            if not isinstance(dataset, IterableDataset):
                raise TypeError(f"ChainDataset only supports IterableDataset, got {type(dataset).__name__}")
            yield from dataset

    def __len__(self) -> int:
        return sum(len(dataset) for dataset in self.datasets)


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order: ``Subset(d, [4, 2])[0]`` is ``d[4]``.

    Args:
        dataset: the whole data set.
        indices: the indices it keeps (a sequence of ints).
    """

    def __init__(self, dataset: Dataset, indices: Sequence[int]):
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, index):
        if isinstance(index, list):
            return self.dataset[[self.indices[i] for i in index]]
        return self.dataset[self.indices[index]]

    def __getitems__(self, indices: list[int]) -> list:
        if callable(getattr(self.dataset, "__getitems__", None)):
            return self.dataset.__getitems__([self.indices[i] for i in indices])
        return [self.dataset[self.indices[i]] for i in indices]

    def __len__(self) -> int:
        return len(self.indices)


def _split_lengths(n: int, lengths: Sequence) -> list[int]:
    """Sizes from ``lengths``: ints as they are, or fractions summing to 1 (PyTorch's rounding)."""
    total = sum(lengths)
    if math.isclose(total, 1) and total <= 1:
        sizes = []
        for i, fraction in enumerate(lengths):
            if not 0 <= fraction <= 1:
                raise ValueError(f"random_split: fraction at index {i} is not between 0 and 1, got {fraction!r}")
            sizes.append(math.floor(n * fraction))
        for i in range(n - sum(sizes)):  # the samples left by rounding down, one each from the first split on
            sizes[i % len(sizes)] += 1
        for i, size in enumerate(sizes):
            if size == 0:
                warnings.warn(f"random_split: length of split at index {i} is 0; this leads to an empty Subset",
                              stacklevel=3)
        return sizes
    if any(isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 0 for k in lengths):
        raise ValueError(f"random_split: lengths must be integers >= 0 or fractions summing to 1, got {list(lengths)}")
    if total != n:
        raise ValueError(f"random_split: sum of input lengths ({total}) does not equal the length of the input "
                         f"dataset ({n})")
    return [int(k) for k in lengths]


def random_split(dataset: Dataset, lengths: Sequence, generator=None, *, rng=None) -> list[Subset]:
    """Split ``dataset`` at random into non-overlapping ``Subset``s of the given lengths.

    Args:
        dataset: the data set to split.
        lengths: the sizes, as integers summing to ``len(dataset)``, or as fractions summing to 1
            (``[0.8, 0.2]``): each split gets ``floor(n * fraction)`` samples and the few left
            over go one each to the first splits, as PyTorch does.
        generator: the ``np.random.Generator`` (or integer seed) of the permutation; None uses
            the global generator (``mg.manual_seed``).
        rng: the same as ``generator`` (microgradnp's name); pass one of them.

    Returns:
        A list of ``Subset``s, one per length.
    """
    sizes = _split_lengths(len(dataset), lengths)
    order = _rng(_generator(generator, rng, "random_split")).permutation(sum(sizes)).tolist()
    ends = np.cumsum(sizes).tolist()
    return [Subset(dataset, order[end - size:end]) for size, end in zip(sizes, ends, strict=True)]


def get_worker_info():
    """None: microgradnp loads every batch in the calling process (PyTorch's answer outside a worker)."""
    return None


# -- samplers -----------------------------------------------------------------------------------
class Sampler:
    """Base of the samplers: an iterable of indices (or of lists of indices, for a batch sampler).

    Subclasses define ``__iter__`` and, when they know it, ``__len__``.
    """

    def __iter__(self) -> Iterator:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__ (a subclass of Sampler)")


class SequentialSampler(Sampler):
    """The indices ``0, 1, ..., len(data_source) - 1`` in order."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """Random indices into ``data_source``: a new permutation every epoch, or draws with replacement.

    Args:
        data_source: the data set (only its length is used).
        replacement: draw each index independently (True) instead of permuting (False).
        num_samples: how many indices per epoch (default ``len(data_source)``); without
            replacement, more than ``len(data_source)`` chains several permutations, as PyTorch.
        generator: a ``np.random.Generator`` or integer seed; None draws from the global generator.
    """

    def __init__(self, data_source, replacement: bool = False, num_samples: int | None = None, generator=None):
        self.data_source = data_source
        self.replacement = _flag(replacement, "RandomSampler: replacement")
        self._num_samples = None if num_samples is None else _positive_int(num_samples, "RandomSampler: num_samples")
        self.generator = None if generator is None else _rng(generator)

    @property
    def num_samples(self) -> int:
        """Indices per epoch."""
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self) -> Iterator[int]:
        n, rng = len(self.data_source), _rng(self.generator)
        if self.replacement:
            if n == 0:
                raise ValueError("RandomSampler: cannot draw with replacement from an empty data set")
            return iter(rng.integers(0, n, size=self.num_samples).tolist())
        if n == 0:
            return iter([])
        order = [rng.permutation(n) for _ in range(-(-self.num_samples // n))]
        return iter(np.concatenate(order)[:self.num_samples].tolist())

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a new random order every epoch (``generator`` as in ``RandomSampler``)."""

    def __init__(self, indices: Sequence[int], generator=None):
        self.indices = indices
        self.generator = None if generator is None else _rng(generator)

    def __iter__(self) -> Iterator[int]:
        order = _rng(self.generator).permutation(len(self.indices))
        return (self.indices[i] for i in order)

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices drawn with probabilities proportional to ``weights``.

    Args:
        weights: one non-negative weight per index (need not sum to 1).
        num_samples: how many indices per epoch.
        replacement: draw with replacement (the default); without it, ``num_samples`` may not
            exceed the number of non-zero weights.
        generator: a ``np.random.Generator`` or integer seed; None draws from the global generator.
    """

    def __init__(self, weights, num_samples: int, replacement: bool = True, generator=None):
        weights = np.asarray(weights.data if isinstance(weights, Tensor) else weights, dtype=np.float64)
        if weights.ndim != 1:
            raise ValueError(f"WeightedRandomSampler: weights should be a 1-d sequence, got shape {weights.shape}")
        if not np.all(np.isfinite(weights)) or np.any(weights < 0) or not weights.sum() > 0:
            raise ValueError("WeightedRandomSampler: weights must be finite, >= 0 and not all zero")
        self.num_samples = _positive_int(num_samples, "WeightedRandomSampler: num_samples")
        self.replacement = _flag(replacement, "WeightedRandomSampler: replacement")
        if not self.replacement and self.num_samples > np.count_nonzero(weights):
            raise ValueError(f"WeightedRandomSampler: cannot draw {self.num_samples} samples without replacement "
                             f"from {np.count_nonzero(weights)} non-zero weights; lower num_samples or set "
                             "replacement=True")
        self.weights = weights
        self.generator = None if generator is None else _rng(generator)

    def __iter__(self) -> Iterator[int]:
        p = self.weights / self.weights.sum()
        drawn = _rng(self.generator).choice(len(p), size=self.num_samples, replace=self.replacement, p=p)
        return iter(drawn.tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Group the indices of ``sampler`` into lists of ``batch_size`` (the last one shorter unless ``drop_last``).

    Args:
        sampler: a ``Sampler`` or any iterable of indices (a list works).
        batch_size: indices per batch (>= 1).
        drop_last: drop the last batch when it is shorter than ``batch_size``.
    """

    def __init__(self, sampler: Iterable[int], batch_size: int, drop_last: bool):
        self.sampler = sampler
        self.batch_size = _positive_int(batch_size, "BatchSampler: batch_size")
        self.drop_last = _flag(drop_last, "BatchSampler: drop_last")

    def __iter__(self) -> Iterator[list[int]]:
        return _chunks(iter(self.sampler), self.batch_size, self.drop_last)

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


def _chunks(items: Iterator, size: int, drop_last: bool) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch and not drop_last:
        yield batch


# -- collation ----------------------------------------------------------------------------------
_COLLATE_TYPES = "Tensors, ndarrays, numbers, strings, dicts, tuples or lists"


def _check_same_shapes(arrays: list[np.ndarray]) -> None:
    if len({a.shape for a in arrays}) > 1:
        raise RuntimeError(f"default_collate: cannot stack samples of different shapes "
                           f"{sorted({a.shape for a in arrays})} into one batch; pad them or pass a collate_fn")


def _stack(arrays: list[np.ndarray], as_tensor: bool):
    """One batch array; float data becomes a Tensor, integer and bool data stays an ndarray."""
    _check_same_shapes(arrays)
    batch = np.stack(arrays)
    if batch.dtype.kind not in "biuf":
        raise TypeError(f"default_collate: batch must contain {_COLLATE_TYPES}; found an array of dtype {batch.dtype}")
    return Tensor._wrap(batch) if as_tensor or batch.dtype.kind == "f" else batch


def default_collate(batch: list):
    """Merge a list of samples into one batch, as ``torch.utils.data.default_collate``.

    - Tensors, float ndarrays and floats are stacked along a new first axis into a Tensor (ndarrays
      keep their dtype, Python floats take the default dtype);
    - integer and bool ndarrays, ints and bools are stacked into an **ndarray** (``int64`` for
      Python ints), as the arrays form of ``DataLoader`` yields class labels: a Tensor would turn
      them into floats; numbers take the kind of the whole batch (``[1, 2.5]`` is a float
      batch, ``[True, 2]`` an int one), as ``torch.tensor(batch)``;
    - Tensors that require grad are stacked on the graph (``mg.stack``), as PyTorch's;
    - strings stay a list; dicts become a dict of batches, tuples and lists a list of batches,
      named tuples a named tuple of batches, recursively.

    Raises:
        TypeError: for samples of another type; RuntimeError: for samples of different shapes or lengths.
    """
    elem = batch[0]
    if isinstance(elem, Tensor):
        if any(t.requires_grad for t in batch):  # on the graph, as torch.stack
            _check_same_shapes([t.data for t in batch])
            from microgradnp.ops import stack
            return stack(batch)
        return _stack([t.data for t in batch], as_tensor=True)
    if isinstance(elem, str | bytes):
        return batch
    if isinstance(elem, np.ndarray | np.generic) or hasattr(elem, "__array__"):
        return _stack([np.asarray(sample) for sample in batch], as_tensor=False)
    if isinstance(elem, numbers.Real):  # the kind of the whole batch, not of its first sample (torch.tensor(batch))
        if all(isinstance(sample, bool) for sample in batch):
            return np.array(batch, dtype=np.bool_)
        if all(isinstance(sample, numbers.Integral) for sample in batch):
            return np.array(batch, dtype=np.int64)
        return Tensor._wrap(_as_float_array(batch))
    if isinstance(elem, Mapping):
        return _rebuild(elem, {key: default_collate([sample[key] for sample in batch]) for key in elem})
    if isinstance(elem, Sequence):
        if len({len(sample) for sample in batch}) > 1:
            raise RuntimeError("default_collate: each element in list of batch should be of equal size")
        fields = [default_collate(list(samples)) for samples in zip(*batch, strict=True)]
        return type(elem)(*fields) if hasattr(elem, "_fields") else fields
    raise TypeError(f"default_collate: batch must contain {_COLLATE_TYPES}; found {type(elem).__name__}")


def _rebuild(mapping: Mapping, items: dict):
    """``items`` in the mapping type of ``mapping`` when it can be built from a dict, else a dict."""
    try:
        return type(mapping)(items)
    except TypeError:
        return items


def default_convert(data):
    """Convert one unbatched sample, as ``torch.utils.data.default_convert`` (``batch_size=None``).

    Float ndarrays and NumPy floats become Tensors; Tensors, integer arrays, numbers and strings stay
    as they are; dicts, named tuples, tuples and lists are converted element by element (tuples
    become lists, as PyTorch).
    """
    if isinstance(data, np.ndarray | np.generic) and data.dtype.kind == "f":
        return Tensor._wrap(np.asarray(data))
    if isinstance(data, Mapping):
        return _rebuild(data, {key: default_convert(value) for key, value in data.items()})
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple | list):
        return [default_convert(d) for d in data]
    return data


# -- the loader ---------------------------------------------------------------------------------
def _array_like(obj) -> bool:
    """Is ``obj`` data for the arrays form (an array, a Tensor, a number or a nested list of numbers)?"""
    return _is_numbers(obj) or isinstance(obj, np.ndarray | numbers.Number) or (
        hasattr(obj, "__array__") and not isinstance(obj, Dataset))


def _dataset_like(obj) -> bool:
    return isinstance(obj, Dataset) or (hasattr(obj, "__getitem__") and hasattr(obj, "__len__")
                                        and not _array_like(obj))


_ARRAY_FORM_ARGUMENTS = ("y", "batch_size", "shuffle", "rng", "drop_last", "generator")


class DataLoader(_arrays.DataLoader):
    """Batches from a data set, as ``torch.utils.data.DataLoader``; or from arrays ``X, y``.

    **Dataset form** (PyTorch's), when the first argument is a ``Dataset``, an ``IterableDataset``
    or any object with ``__getitem__`` and ``__len__`` (an array, a Tensor or a list of numbers
    too, when no ``y`` is given)::

        DataLoader(dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
                   num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
                   worker_init_fn=None, multiprocessing_context=None, generator=None, *,
                   prefetch_factor=None, persistent_workers=False, pin_memory_device="",
                   in_order=True, rng=None)

    Each epoch the ``batch_sampler`` (by default ``BatchSampler(sampler, batch_size, drop_last)``,
    ``sampler`` by default ``RandomSampler(dataset, generator=generator)`` when ``shuffle``, else
    ``SequentialSampler(dataset)``) gives lists of indices; the samples at those indices go
    through ``collate_fn`` (by default ``default_collate``: float data stacked into a Tensor,
    integer labels into an integer ndarray, tuples/dicts recursively). ``batch_size=None``
    turns batching off: each sample goes through ``collate_fn`` (by default ``default_convert``)
    alone. ``len(loader)`` is the number of batches per epoch.

    - ``generator`` (or its alias ``rng``): a ``np.random.Generator`` or integer seed for
      ``shuffle``; None draws from the global generator (``mg.manual_seed``) every epoch.
    - ``num_workers > 0``: microgradnp has no worker processes; the batches are loaded in the
      calling process, the same batches in the same order, with a warning. ``worker_init_fn``
      (nothing to initialise) then raises. ``pin_memory`` does nothing (the CPU is the only device).

    **Arrays form**, when the first argument is an array, a Tensor or a nested list of numbers and
    the targets ``y`` are given: ``DataLoader(X, y, batch_size=None, shuffle=False, rng=None,
    drop_last=False)``, the loader of ``microgradnp.data.loader`` (``batch_size=None`` is one full
    batch there). An array, a Tensor or a list without ``y`` is the dataset of its rows (as in
    PyTorch); a dataset with ``y`` raises a ``TypeError``: wrap arrays and targets as
    ``DataLoader(TensorDataset(X, y), batch_size=...)``.

    For example:

        dataset = TensorDataset(X, y)
        train, test = random_split(dataset, [0.8, 0.2], generator=0)
        for X_batch, y_batch in DataLoader(train, batch_size=32, shuffle=True, generator=0):
            ...
    """

    def __init__(self, *args, **kwargs):
        named = [name for name in ("dataset", "X") if name in kwargs]
        if len(named) + bool(args) != 1:
            raise TypeError("DataLoader takes one data argument: DataLoader(dataset, ...) or DataLoader(X, y, ...)")
        dataset, args = (kwargs.pop(named[0]), args) if named else (args[0], args[1:])
        y_given = "y" in kwargs or (bool(args) and args[0] is not None and not isinstance(args[0], numbers.Number))
        if _dataset_like(dataset) or (not y_given and hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
            # (an array, a Tensor or a list without targets is a dataset of its rows, as in PyTorch)
            if y_given and isinstance(dataset, list | tuple):  # (a list NumPy cannot make one array of)
                raise ValueError("DataLoader(X, y, ...): X must hold numbers in rows of one length (an array, or "
                                 "a list of equal rows); this list has rows of different lengths or other objects")
            if y_given:
                raise TypeError(f"DataLoader(dataset, ...) takes batch_size as its second argument, got "
                                f"{type(args[0] if args else kwargs['y']).__name__}: a dataset holds its targets "
                                "(TensorDataset(X, y)); for arrays use DataLoader(X, y, ...)")
            self._arrays = False
            self._dataset_form(dataset, *args, **kwargs)
        elif _array_like(dataset) and not y_given:
            raise TypeError(f"DataLoader: got {type(dataset).__name__} X without y, which fits neither form: pass the "
                            "targets, DataLoader(X, y, batch_size=...), or wrap the arrays in a dataset, "
                            "DataLoader(TensorDataset(X), batch_size=...)")
        elif y_given:
            unknown = sorted(set(kwargs) - set(_ARRAY_FORM_ARGUMENTS))
            if unknown:
                raise TypeError(f"DataLoader(X, y, ...) takes batch_size, shuffle, rng and drop_last, not {unknown}; "
                                "for PyTorch's options use DataLoader(TensorDataset(X, y), ...)")
            self._arrays = True
            if "generator" in kwargs:
                kwargs["rng"] = _generator(kwargs.pop("generator"), kwargs.pop("rng", None), "DataLoader")
            super().__init__(dataset, *args, **kwargs)
        else:
            raise TypeError(f"DataLoader: the first argument must be a Dataset (an object with __getitem__ and "
                            f"__len__, or an IterableDataset) or arrays X with targets y, got {type(dataset).__name__}")

    def _dataset_form(self, dataset, batch_size: int | None = 1, shuffle: bool | None = None, sampler=None,
                      batch_sampler=None, num_workers: int = 0, collate_fn=None, pin_memory: bool = False,
                      drop_last: bool = False, timeout: float = 0, worker_init_fn=None,
                      multiprocessing_context=None, generator=None, *, prefetch_factor: int | None = None,
                      persistent_workers: bool = False, pin_memory_device: str = "", in_order: bool = True,
                      rng=None):
        self._check_workers(num_workers, timeout, worker_init_fn, prefetch_factor, persistent_workers)
        if batch_size is not None:
            batch_size = _positive_int(batch_size, "DataLoader: batch_size (or None to turn batching off)")
        shuffle = bool(shuffle)
        if isinstance(dataset, IterableDataset):
            if shuffle or sampler is not None or batch_sampler is not None:
                raise ValueError("DataLoader with an IterableDataset takes no shuffle, sampler or batch_sampler: "
                                 "the data set's __iter__ decides the order")
        elif sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("DataLoader: batch_sampler option is mutually exclusive with batch_size, shuffle, "
                                 "sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("DataLoader: batch_size=None option disables auto-batching and is mutually exclusive "
                             "with drop_last")
        self.dataset = dataset
        self.generator = _generator(generator, rng, "DataLoader")
        if sampler is None and not isinstance(dataset, IterableDataset):
            sampler = RandomSampler(dataset, generator=self.generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and sampler is not None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.sampler, self.batch_sampler = sampler, batch_sampler
        self.batch_size, self.drop_last, self.shuffle = batch_size, bool(drop_last), shuffle
        self.num_workers, self.timeout, self.worker_init_fn = num_workers, timeout, worker_init_fn
        self.pin_memory, self.pin_memory_device, self.in_order = pin_memory, pin_memory_device, in_order
        self.multiprocessing_context, self.prefetch_factor = multiprocessing_context, prefetch_factor
        self.persistent_workers = persistent_workers
        batching = batch_size is not None or batch_sampler is not None
        self.collate_fn = collate_fn or (default_collate if batching else default_convert)

    @staticmethod
    def _check_workers(num_workers, timeout, worker_init_fn, prefetch_factor, persistent_workers) -> None:
        if isinstance(num_workers, bool) or not isinstance(num_workers, numbers.Integral) or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers option should be a non-negative integer, got {num_workers!r}; "
                             "use num_workers=0")
        if not isinstance(timeout, numbers.Real) or timeout < 0:
            raise ValueError(f"DataLoader: timeout option should be non-negative, got {timeout!r}")
        if num_workers == 0 and (prefetch_factor is not None or persistent_workers):
            raise ValueError("DataLoader: prefetch_factor and persistent_workers need num_workers > 0")
        if num_workers > 0:
            if worker_init_fn is not None:
                raise ValueError("DataLoader: worker_init_fn cannot run: microgradnp loads batches in the calling "
                                 "process, without workers; drop it and seed the shuffle with generator=")
            warnings.warn(f"DataLoader: num_workers={num_workers} ignored: microgradnp has no worker processes and "
                          "loads the same batches, in the same order, in the calling process", stacklevel=4)

    @property
    def num_samples(self) -> int:
        """Number of samples in the data set."""
        return super().num_samples if self._arrays else len(self.dataset)

    def __len__(self) -> int:
        if self._arrays:
            return super().__len__()
        if isinstance(self.dataset, IterableDataset):
            n = len(self.dataset)  # a TypeError when the stream has no length, as in PyTorch
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self.sampler if self.batch_sampler is None else self.batch_sampler)

    def __iter__(self) -> Iterator:
        if self._arrays:
            return super().__iter__()
        return self._batches()

    def _batches(self) -> Iterator:
        collate, dataset = self.collate_fn, self.dataset
        if isinstance(dataset, IterableDataset):
            stream = iter(dataset)
            if self.batch_size is not None:
                stream = _chunks(stream, self.batch_size, self.drop_last)
            for item in stream:
                yield collate(item)
        elif self.batch_sampler is None:
            for index in self.sampler:
                yield collate(dataset[index])
        else:
            fetch_many = getattr(dataset, "__getitems__", None)
            for indices in self.batch_sampler:
                yield collate(fetch_many(indices) if callable(fetch_many) else [dataset[i] for i in indices])

    def __repr__(self) -> str:
        if self._arrays:
            return super().__repr__()
        return (f"DataLoader(dataset={type(self.dataset).__name__}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last})")
