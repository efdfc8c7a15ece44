"""PyTorch's torch.utils.data in mg.data: datasets, samplers, default_collate, random_split and
DataLoader(dataset, ...), checked against torch's DataLoader where torch is installed."""

from __future__ import annotations

import collections
import warnings

import numpy as np
import pytest

import microgradnp as mg
from microgradnp.data import loader as array_loader
from microgradnp.utils.data import (
    BatchSampler,
    ChainDataset,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    StackDataset,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    default_convert,
    get_worker_info,
    random_split,
)

X = np.arange(22, dtype=np.float64).reshape(11, 2) / 7
Y = np.arange(11, dtype=np.int64) % 3
Point = collections.namedtuple("Point", ["x", "label"])


def plain(value):
    """A batch with Tensors (ours or torch's) turned into ndarrays; containers kept as they are."""
    if isinstance(value, mg.Tensor):
        return ("array", np.asarray(value.data))
    if type(value).__module__.startswith("torch"):
        return ("array", value.numpy())
    if isinstance(value, np.ndarray | np.generic):
        return ("array", np.asarray(value))
    if isinstance(value, dict):
        return {key: plain(v) for key, v in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return (type(value).__name__, *[plain(v) for v in value])
    if isinstance(value, list | tuple):
        return (type(value).__name__, [plain(v) for v in value])
    return value


def assert_same(ours, theirs):
    """Same structure, container types, dtypes and values."""
    a, b = plain(ours), plain(theirs)
    _assert_same(a, b)


def _assert_same(a, b):
    if isinstance(a, tuple) and a and a[0] == "array":
        assert isinstance(b, tuple) and b[0] == "array", (a, b)
        assert a[1].dtype == b[1].dtype, (a[1].dtype, b[1].dtype)
        np.testing.assert_array_equal(a[1], b[1])
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b)
        for key in a:
            _assert_same(a[key], b[key])
    elif isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b) and a[0] == b[0], (a, b)
        items_a, items_b = (a[1], b[1]) if a[0] in ("list", "tuple") else (a[1:], b[1:])
        assert len(items_a) == len(items_b)
        for x, y in zip(items_a, items_b, strict=True):
            _assert_same(x, y)
    else:
        assert a == b and type(a) is type(b), (a, b)


def assert_batches_equal(ours, theirs):
    ours, theirs = list(ours), list(theirs)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert_same(a, b)


def torch_tensor_dataset(torch, *arrays):
    return torch.utils.data.TensorDataset(*(torch.from_numpy(a) for a in arrays))


# -- against torch's DataLoader ----------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [
    {}, {"batch_size": 4}, {"batch_size": 4, "drop_last": True}, {"batch_size": 11}, {"batch_size": 20},
    {"batch_size": None},
    {"sampler": [3, 1, 4, 1, 5, 9, 2, 6], "batch_size": 3},
    {"sampler": [10, 0, 7], "batch_size": 2, "drop_last": True},
    {"sampler": [8, 2, 5], "batch_size": None},
    {"batch_sampler": [[0, 2], [5, 1, 3], [10]]},
])
def test_sequential_and_index_list_batches_match_torch(kwargs):
    torch = pytest.importorskip("torch")
    ours = DataLoader(TensorDataset(X, Y), **kwargs)
    theirs = torch.utils.data.DataLoader(torch_tensor_dataset(torch, X, Y), **kwargs)
    assert len(ours) == len(theirs)
    assert_batches_equal(ours, theirs)


def test_our_samplers_give_torchs_index_lists():
    torch = pytest.importorskip("torch")
    order = [4, 0, 3, 3, 1, 2, 7]
    for size, drop_last in [(1, False), (3, False), (3, True), (7, True), (8, True)]:
        ours, theirs = BatchSampler(order, size, drop_last), torch.utils.data.BatchSampler(order, size, drop_last)
        assert list(ours) == list(theirs) and len(ours) == len(theirs)
    sequence = list(range(5))
    assert list(SequentialSampler(sequence)) == list(torch.utils.data.SequentialSampler(sequence))
    # Our sampler objects drive torch's loader the same way as ours.
    batches = BatchSampler(SequentialSampler(range(11)), 4, drop_last=False)
    assert_batches_equal(DataLoader(TensorDataset(X, Y), batch_sampler=batches),
                         torch.utils.data.DataLoader(torch_tensor_dataset(torch, X, Y), batch_sampler=list(batches)))


def nested_samples():
    return [{"x": X[i], "pair": (float(i) / 4, i), "name": f"s{i}", "point": Point(X[i, :1], Y[i]),
             "flags": [i % 2 == 0, np.float32(i)]} for i in range(5)]


def test_collate_of_nested_samples_matches_torch():
    torch = pytest.importorskip("torch")
    samples = nested_samples()
    ours = default_collate(samples)
    theirs = torch.utils.data.default_collate(samples)
    # torch stacks integer and bool data into integer/bool tensors; we into ndarrays of the same dtype
    assert isinstance(ours["pair"][1], np.ndarray) and isinstance(ours["x"], mg.Tensor)
    assert_same(ours, theirs)


@pytest.mark.parametrize(("numbers", "expected"), [
    ([1, 2.5], np.array([1.0, 2.5])),  # an int first: still a float batch (2.5 was cut to 2)
    ([True, 2], np.array([1, 2])),  # a bool first: an int batch (2 was made True)
    ([2.5, 1], np.array([2.5, 1.0])),
    ([True, False], np.array([True, False])),
    ([3, 4], np.array([3, 4])),
])
def test_collated_numbers_take_the_kind_of_the_whole_batch(numbers, expected):
    _, batch = plain(default_collate(numbers))
    np.testing.assert_array_equal(batch, expected)
    assert batch.dtype.kind == expected.dtype.kind


def test_collated_tensors_that_require_grad_stay_on_the_graph():
    samples = [mg.tensor([1.0, 2.0], requires_grad=True), mg.tensor([3.0, 4.0], requires_grad=True)]
    batch = default_collate(samples)
    assert batch.requires_grad
    (batch * mg.tensor([[1.0], [2.0]])).sum().backward()
    np.testing.assert_array_equal(samples[1].grad, [2.0, 2.0])


def test_loader_over_a_list_of_nested_samples_matches_torch():
    torch = pytest.importorskip("torch")
    samples = nested_samples()  # a plain list: __getitem__ and __len__, not a list of numbers
    for kwargs in ({"batch_size": 2}, {"batch_size": None}, {"batch_size": 3, "sampler": [4, 0, 2, 1]}):
        assert_batches_equal(DataLoader(samples, **kwargs), torch.utils.data.DataLoader(samples, **kwargs))


def test_default_convert_matches_torch():
    torch = pytest.importorskip("torch")
    sample = {"x": X[0], "t": (X[1], 3, "a"), "p": Point(np.float64(2.5), [X[2]])}
    ours, theirs = default_convert(sample), torch.utils.data.default_convert(sample)
    assert ours["t"][1] == 3 and ours["t"][2] == "a"
    assert_same(ours["x"], theirs["x"])
    assert_same(ours["t"][0], theirs["t"][0])
    assert_same(ours["p"], theirs["p"])


def test_concat_subset_and_stack_datasets_match_torch():
    torch = pytest.importorskip("torch")
    data = torch.utils.data
    ours_a, ours_b = TensorDataset(X[:4], Y[:4]), TensorDataset(X[4:], Y[4:])
    theirs_a, theirs_b = torch_tensor_dataset(torch, X[:4], Y[:4]), torch_tensor_dataset(torch, X[4:], Y[4:])
    ours, theirs = ours_a + ours_b, theirs_a + theirs_b
    assert isinstance(ours, ConcatDataset) and ours.cumulative_sizes == theirs.cumulative_sizes == [4, 11]
    for index in (0, 3, 4, 10, -1, -11):
        assert_same(ours[index], theirs[index])
    indices = [9, 0, 4, 4]
    assert_batches_equal(DataLoader(Subset(ours, indices), batch_size=3),
                         data.DataLoader(data.Subset(theirs, indices), batch_size=3))
    stacked = StackDataset(x=ours, y=Subset(ours, list(range(10, -1, -1))))
    torch_stacked = data.StackDataset(x=theirs, y=data.Subset(theirs, list(range(10, -1, -1))))
    assert_batches_equal(DataLoader(stacked, batch_size=4), data.DataLoader(torch_stacked, batch_size=4))
    assert_same(StackDataset(ours_a, ours_a)[1], data.StackDataset(theirs_a, theirs_a)[1])


class Stream(IterableDataset):
    def __init__(self, n, length=True):
        self.n, self.length = n, length

    def __iter__(self):
        return ({"x": X[i], "y": int(Y[i])} for i in range(self.n))

    def __len__(self):
        if not self.length:
            raise TypeError("Stream has no len()")
        return self.n


def test_iterable_datasets_batch_as_in_torch():
    torch = pytest.importorskip("torch")

    class TorchStream(torch.utils.data.IterableDataset):
        def __init__(self, n):
            self.n = n

        def __iter__(self):
            return iter(Stream(self.n))

        def __len__(self):
            return self.n

    for kwargs in ({"batch_size": 3}, {"batch_size": 3, "drop_last": True}, {"batch_size": None}, {}):
        ours, theirs = DataLoader(Stream(7), **kwargs), torch.utils.data.DataLoader(TorchStream(7), **kwargs)
        assert len(ours) == len(theirs)
        assert_batches_equal(ours, theirs)
    chained = Stream(2) + Stream(3)
    assert isinstance(chained, ChainDataset) and len(chained) == 5
    assert [s["y"] for s in chained] == [int(v) for v in Y[:2]] + [int(v) for v in Y[:3]]


@pytest.mark.parametrize(("n", "lengths"), [
    (10, [0.3, 0.3, 0.4]), (11, [0.3, 0.3, 0.4]), (3, [0.5, 0.5]), (7, [0.1, 0.9]), (10, [1.0]),
    (13, [1 / 3, 1 / 3, 1 / 3]), (10, [3, 7]), (5, [5, 0]),
])
def test_random_split_sizes_match_torch(n, lengths):
    torch = pytest.importorskip("torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the empty-split warning, torch's and ours
        ours = random_split(list(range(n)), lengths, generator=0)
        theirs = torch.utils.data.random_split(list(range(n)), lengths, generator=torch.Generator().manual_seed(0))
    assert [len(s) for s in ours] == [len(s) for s in theirs]
    assert sorted(i for s in ours for i in s.indices) == list(range(n))
    assert all(isinstance(s, Subset) for s in ours)


# -- our own random streams ---------------------------------------------------------------------
def labels(loader):
    return [batch[1].tolist() for batch in loader]


def test_shuffle_is_reproducible_by_seed_and_reshuffles_every_epoch():
    dataset = TensorDataset(X, Y)
    first = DataLoader(dataset, batch_size=4, shuffle=True, generator=0)
    again = DataLoader(dataset, batch_size=4, shuffle=True, rng=np.random.default_rng(0))
    epochs = [labels(first), labels(first)]
    assert epochs == [labels(again), labels(again)]
    assert epochs[0] != epochs[1]
    assert sorted(label for batch in epochs[0] for label in batch) == sorted(Y.tolist())
    mg.manual_seed(5)
    unseeded = labels(DataLoader(dataset, batch_size=4, shuffle=True))
    mg.manual_seed(5)
    assert labels(DataLoader(dataset, batch_size=4, shuffle=True)) == unseeded


def test_random_samplers_draw_from_their_generator():
    data = list(range(6))
    permutation = list(RandomSampler(data, generator=3))
    assert sorted(permutation) == data and permutation == list(RandomSampler(data, generator=3))
    chained = list(RandomSampler(data, num_samples=15, generator=1))
    assert len(chained) == 15 and sorted(chained[:6]) == sorted(chained[6:12]) == data
    with_replacement = RandomSampler(data, replacement=True, num_samples=40, generator=0)
    drawn = list(with_replacement)
    assert len(drawn) == len(with_replacement) == 40 and set(drawn) <= set(data) and len(set(drawn)) < 40
    subset = list(SubsetRandomSampler([10, 20, 30, 40], generator=0))
    assert sorted(subset) == [10, 20, 30, 40] and subset == list(SubsetRandomSampler([10, 20, 30, 40], generator=0))
    weighted = list(WeightedRandomSampler([0.0, 1.0, 3.0, 0.0], 200, generator=0))
    assert set(weighted) == {1, 2} and 120 < weighted.count(2) < 180
    unique = list(WeightedRandomSampler([1, 1, 1, 0, 5], 4, replacement=False, generator=0))
    assert sorted(unique) == [0, 1, 2, 4]
    split_a, split_b = random_split(range(10), [4, 6], rng=2), random_split(range(10), [4, 6], generator=2)
    assert split_a[0].indices == split_b[0].indices


def test_a_weighted_sampler_drives_the_loader():
    loader = DataLoader(TensorDataset(X, Y), batch_size=5, sampler=WeightedRandomSampler(Y == 2, 10, generator=0))
    assert len(loader) == 2 and all(set(batch[1].tolist()) == {2} for batch in loader)


# -- types, forms and the (X, y) loader ----------------------------------------------------------
def test_tensor_dataset_rows_and_batch_types():
    x32 = X.astype(np.float32)
    dataset = TensorDataset(mg.tensor(x32), Y, x32)
    row = dataset[2]
    assert isinstance(row, tuple) and isinstance(row[0], mg.Tensor) and isinstance(row[2], np.ndarray)
    np.testing.assert_array_equal(row[0].data, x32[2])
    x_batch, y_batch, z_batch = next(iter(DataLoader(dataset, batch_size=3)))
    assert isinstance(x_batch, mg.Tensor) and isinstance(z_batch, mg.Tensor) and isinstance(y_batch, np.ndarray)
    assert x_batch.dtype == z_batch.dtype == np.float32 and y_batch.dtype == np.int64
    assert x_batch.shape == (3, 2) and not x_batch.requires_grad


class Squares:
    """Not a Dataset subclass: only __getitem__ and __len__."""

    def __getitem__(self, i):
        return float(i * i), i

    def __len__(self):
        return 5


def test_any_indexable_object_is_a_dataset():
    batches = list(DataLoader(Squares(), batch_size=2))
    assert len(batches) == 3
    np.testing.assert_array_equal(batches[1][0].data, [4.0, 9.0])
    np.testing.assert_array_equal(batches[1][1], [2, 3])
    assert batches[0][0].dtype == mg.get_default_dtype()


def test_arrays_form_still_works_and_is_the_same_loader():
    ours = DataLoader(X, Y, 4, True, 0)
    old = array_loader.DataLoader(X, Y, 4, True, 0)
    assert isinstance(ours, array_loader.DataLoader) and len(ours) == len(old) == 3
    for (xa, ya), (xb, yb) in zip(ours, old, strict=True):
        np.testing.assert_array_equal(xa.data, xb.data)
        np.testing.assert_array_equal(ya, yb)
    assert len(DataLoader(X, Y)) == 1  # batch_size=None is one full batch in this form
    assert len(DataLoader(X=X, y=Y, batch_size=5, generator=1)) == 3
    assert repr(DataLoader(X, Y, 4)).startswith("DataLoader(num_samples=11")
    assert DataLoader(TensorDataset(X, Y)).num_samples == 11


def test_utils_data_is_mg_data():
    assert mg.utils.data.DataLoader is mg.data.DataLoader and mg.utils.data.TensorDataset is mg.data.TensorDataset
    assert get_worker_info() is None


def test_num_workers_run_in_process_with_a_warning():
    with pytest.warns(UserWarning, match="num_workers=2 ignored"):
        loader = DataLoader(TensorDataset(X, Y), batch_size=4, num_workers=2, persistent_workers=True)
    assert [b[1].tolist() for b in loader] == [Y[:4].tolist(), Y[4:8].tolist(), Y[8:].tolist()]


def test_custom_collate_fn_and_getitems():
    class Batched(Dataset):
        calls = 0

        def __getitems__(self, indices):
            Batched.calls += 1
            return [i * 10 for i in indices]

        def __len__(self):
            return 6

    batches = list(DataLoader(Batched(), batch_size=4, collate_fn=sum))
    assert batches == [60, 90] and Batched.calls == 2


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda: DataLoader(3.0, batch_size=4), TypeError, "without y, which fits neither form"),
    (lambda: DataLoader(TensorDataset(X), Y), TypeError, "takes batch_size as its second argument"),
    (lambda: DataLoader(object()), TypeError, "must be a Dataset"),
    (lambda: DataLoader(X, Y, sampler=[0]), TypeError, r"not \['sampler'\]"),
    (lambda: DataLoader(TensorDataset(X), X=X), TypeError, "one data argument"),
    (lambda: DataLoader(TensorDataset(X), batch_size=0), ValueError, "batch_size"),
    (lambda: DataLoader(TensorDataset(X), shuffle=True, sampler=[0]), ValueError, "mutually exclusive with shuffle"),
    (lambda: DataLoader(TensorDataset(X), batch_size=2, batch_sampler=[[0]]), ValueError, "batch_sampler option"),
    (lambda: DataLoader(TensorDataset(X), batch_size=None, drop_last=True), ValueError, "disables auto-batching"),
    (lambda: DataLoader(Stream(3), shuffle=True), ValueError, "IterableDataset takes no shuffle"),
    (lambda: DataLoader(TensorDataset(X), num_workers=-1), ValueError, "non-negative"),
    (lambda: DataLoader(TensorDataset(X), prefetch_factor=2), ValueError, "need num_workers > 0"),
    (lambda: DataLoader(TensorDataset(X), num_workers=1, worker_init_fn=print), ValueError, "worker_init_fn"),
    (lambda: DataLoader(TensorDataset(X), generator=0, rng=0), TypeError, "both generator= and rng="),
    (lambda: len(DataLoader(Stream(3, length=False), batch_size=2)), TypeError, "no len"),
    (lambda: TensorDataset(X, Y[:5]), ValueError, r"size mismatch between tensors: first dimensions \[11, 5\]"),
    (lambda: TensorDataset(), ValueError, "at least one tensor"),
    (lambda: TensorDataset(np.float64(1.0)), ValueError, "leading sample axis"),
    (lambda: StackDataset([1], b=[2]), ValueError, "not both"),
    (lambda: StackDataset([1], [2, 3]), ValueError, "size mismatch"),
    (lambda: ConcatDataset([]), ValueError, "empty"),
    (lambda: ConcatDataset([Stream(2)]), TypeError, "ChainDataset"),
    (lambda: ConcatDataset([[1, 2]])[2], IndexError, "out of range"),
    (lambda: random_split(range(10), [3, 3]), ValueError, r"sum of input lengths \(6\)"),
    (lambda: random_split(range(10), [1.5, -0.5]), ValueError, "fraction at index 0 is not between 0 and 1"),
    (lambda: random_split(range(10), [2.5, 7.5]), ValueError, "integers >= 0 or fractions summing to 1"),
    (lambda: RandomSampler([1], num_samples=0), ValueError, "num_samples must be a positive integer"),
    (lambda: RandomSampler([1], replacement=1), TypeError, "replacement must be a bool"),
    (lambda: WeightedRandomSampler([[1.0]], 2), ValueError, "1-d sequence"),
    (lambda: WeightedRandomSampler([1.0, -1.0], 2), ValueError, ">= 0"),
    (lambda: WeightedRandomSampler([1.0, 0.0], 2, replacement=False), ValueError, "without replacement"),
    (lambda: BatchSampler([0, 1], 0, False), ValueError, "batch_size must be a positive integer"),
    (lambda: default_collate([object()]), TypeError, "found object"),
    (lambda: default_collate([np.array(["a"])]), TypeError, "dtype <U1"),
    (lambda: default_collate([np.zeros(2), np.zeros(3)]), RuntimeError, "different shapes"),
    (lambda: default_collate([(1, 2), (1,)]), RuntimeError, "equal size"),
    (lambda: Dataset()[0], NotImplementedError, "__getitem__"),
])
def test_bad_input_raises_one_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_random_split_warns_about_an_empty_split():
    with pytest.warns(UserWarning, match="split at index 1 is 0"):
        assert [len(s) for s in random_split(range(2), [0.9, 0.1], generator=0)] == [2, 0]


@pytest.mark.parametrize("data", [[(0.5, 1), (1.5, 0), (2.5, 1)], np.arange(5.0), [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
                                  [1.0, 2.0, 3.0]])
def test_arrays_and_lists_without_targets_are_datasets_of_their_rows_as_torch(torch, data):
    from torch.utils.data import DataLoader as TorchLoader

    ours, theirs = list(DataLoader(data, batch_size=2)), list(TorchLoader(data, batch_size=2))
    assert len(ours) == len(theirs)
    for batch, reference in zip(ours, theirs):
        parts, references = (batch, reference) if isinstance(reference, list) else ([batch], [reference])
        for part, expected in zip(parts, references, strict=True):
            np.testing.assert_array_equal(np.asarray(getattr(part, "data", part)), expected.numpy())


def test_a_ragged_list_of_rows_with_targets_says_what_is_wrong():
    with pytest.raises(ValueError, match="rows of different lengths"):
        DataLoader([[1.0, 2.0], [3.0]], [0, 1])
