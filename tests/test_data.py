"""mg.data: the lab's point sets, the toy 2-D sets and the DataLoader."""

from __future__ import annotations

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import data
from microgradnp.data import (
    DataLoader,
    make_circles,
    make_linear,
    make_moons,
    make_spiral,
    make_xor_easy,
)
from microgradnp.nn import functional as F

BINARY_SETS = {
    "linear": lambda **kw: make_linear(**kw),
    "moons": lambda **kw: make_moons(noise=0.1, **kw),
    "circles": lambda **kw: make_circles(noise=0.1, **kw),
    "spiral": lambda **kw: make_spiral(noise=0.2, **kw),
}


# -- the lab's sets ---------------------------------------------------------------------------
def test_xor_easy_is_the_labs_21_points_in_the_labs_order():
    # Built independently, with arrays: the diagonal (label 0) interleaved with the
    # anti-diagonal (label 1), whose centre point is left out.
    i = np.arange(11)
    zeros = np.column_stack([0.1 * i, 0.1 * i, np.zeros(11)])
    ones = np.column_stack([0.1 * i, 1 - 0.1 * i, np.ones(11)])
    rows = np.stack([zeros, ones], axis=1).reshape(22, 3)
    expected = np.delete(rows, 2 * 5 + 1, axis=0)

    X, y = make_xor_easy()
    assert X.shape == (21, 2) and y.shape == (21, 1)
    assert X.dtype == y.dtype == np.float64
    np.testing.assert_array_equal(np.column_stack([X, y]), expected)


def test_xor_easy_labels_follow_the_diagonals():
    X, y = make_xor_easy()
    on_diagonal = np.isclose(X[:, 0], X[:, 1])
    on_anti_diagonal = np.isclose(X[:, 0] + X[:, 1], 1.0)
    assert int(y.sum()) == 10
    np.testing.assert_array_equal(y[:, 0] == 0.0, on_diagonal)
    np.testing.assert_array_equal(y[:, 0] == 1.0, on_anti_diagonal & ~on_diagonal)
    assert len(np.unique(X.round(12), axis=0)) == 21


def test_linear_labels_are_above_the_diagonal_inside_the_unit_square():
    X, y = make_linear(500, rng=3)
    assert X.shape == (500, 2) and y.shape == (500, 1)
    assert X.min() >= 0.0 and X.max() < 1.0
    np.testing.assert_array_equal(y[:, 0], (X[:, 1] > X[:, 0]).astype(float))
    assert 200 < y.sum() < 300  # both sides of the diagonal, about evenly


def test_linear_is_reproducible_by_seed_and_seeds_differ():
    X0, y0 = make_linear(50, rng=7)
    X1, y1 = make_linear(50, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(X0, X1)
    np.testing.assert_array_equal(y0, y1)
    assert not np.array_equal(X0, make_linear(50, rng=8)[0])


def test_a_shared_generator_advances_between_calls():
    rng = np.random.default_rng(0)
    assert not np.array_equal(make_linear(10, rng=rng)[0], make_linear(10, rng=rng)[0])


def test_sets_follow_the_default_dtype():
    mg.set_default_dtype(np.float32)
    for X, y in (make_linear(5, rng=0), make_xor_easy(), make_moons(6), make_circles(6), make_spiral(6)):
        assert X.dtype == y.dtype == np.float32


# -- moons, circles, spiral ---------------------------------------------------------------
@pytest.mark.parametrize(("name", "n"), [
    (name, n) for name in BINARY_SETS for n in (1, 2, 7, 100) if not (name == "spiral" and n < 2)  # a point per arm
])
def test_binary_sets_have_shapes_and_balanced_labels(name, n):
    X, y = BINARY_SETS[name](n=n, rng=0)
    assert X.shape == (n, 2) and y.shape == (n, 1)
    assert set(np.unique(y)) <= {0.0, 1.0}
    if name in ("moons", "circles"):
        assert int(y.sum()) == n - n // 2  # the odd point goes to class 1, as in scikit-learn
    elif name == "spiral":
        assert int(y.sum()) == n // 2  # the first classes take the remainder


@pytest.mark.parametrize("name", ["moons", "circles", "spiral"])
def test_noise_is_reproducible_by_seed(name):
    X0, _ = BINARY_SETS[name](n=40, rng=5)
    X1, _ = BINARY_SETS[name](n=40, rng=5)
    X2, _ = BINARY_SETS[name](n=40, rng=6)
    np.testing.assert_array_equal(X0, X1)
    assert not np.array_equal(X0, X2)


def test_moons_without_noise_lie_on_two_half_circles():
    X, y = make_moons(101)
    upper, lower = X[y[:, 0] == 0], X[y[:, 0] == 1]
    assert len(upper) == 50 and len(lower) == 51
    np.testing.assert_allclose(np.hypot(*upper.T), 1.0)
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1.0)
    assert upper[:, 1].min() >= -1e-12 and lower[:, 1].max() <= 0.5 + 1e-12
    # Evenly spaced in angle from 0 to pi, both ends included.
    np.testing.assert_allclose(np.arctan2(upper[:, 1], upper[:, 0]).clip(0), np.linspace(0, np.pi, 50), atol=1e-12)
    np.testing.assert_allclose(lower[[0, -1]], [[0.0, 0.5], [2.0, 0.5]], atol=1e-12)


@pytest.mark.parametrize("factor", [0.3, 0.8])
def test_circles_without_noise_have_radii_one_and_factor(factor):
    X, y = make_circles(60, factor=factor)
    radius = np.hypot(*X.T)
    np.testing.assert_allclose(radius[y[:, 0] == 0], 1.0)
    np.testing.assert_allclose(radius[y[:, 0] == 1], factor)
    for ring in (X[y[:, 0] == 0], X[y[:, 0] == 1]):
        # Evenly spaced from angle 0, without repeating the start point at 2 pi.
        angles = np.mod(np.arctan2(ring[:, 1], ring[:, 0]), 2 * np.pi)
        np.testing.assert_allclose(angles, np.arange(30) * 2 * np.pi / 30, atol=1e-12)


def test_circles_noise_moves_points_off_the_rings():
    X, _ = make_circles(200, noise=0.05, rng=0)
    spread = np.hypot(*X.T)[:100] - 1.0
    assert 0.02 < spread.std() < 0.08


@pytest.mark.parametrize("classes", [2, 3, 5])
def test_spiral_arms_have_radius_linspace_and_a_class_each(classes):
    n = 10 * classes + 1
    X, y = make_spiral(n, classes=classes, noise=0.3, rng=0)
    labels = y[:, 0] if classes == 2 else y
    sizes = np.bincount(labels.astype(int))
    assert sizes.tolist() == [11] + [10] * (classes - 1)
    for k, m in enumerate(sizes):
        # Noise turns the angle only, so radii stay evenly spaced from 0 to 1.
        np.testing.assert_allclose(np.hypot(*X[labels == k].T), np.linspace(0, 1, m), atol=1e-12)


def test_spiral_without_noise_follows_the_cs231n_angles():
    X, y = make_spiral(30, classes=3)
    for k in range(3):
        arm = X[y == k]
        radius, angle = np.linspace(0, 1, 10), np.linspace(4 * k, 4 * k + 4, 10)
        np.testing.assert_allclose(arm, np.column_stack([radius * np.sin(angle), radius * np.cos(angle)]), atol=1e-12)


def test_spiral_label_types_two_classes_float_column_more_classes_int_vector():
    _, y2 = make_spiral(20, classes=2)
    _, y3 = make_spiral(21, classes=3)
    assert y2.shape == (20, 1) and y2.dtype == np.float64
    assert y3.shape == (21,) and y3.dtype == np.int64
    assert sorted(set(y3.tolist())) == [0, 1, 2]


@pytest.mark.parametrize("make", [make_moons, make_circles, lambda **kw: make_spiral(classes=3, **kw)])
def test_shuffle_mixes_the_same_points(make):
    X, y = make(n=60, noise=0.1, rng=0)
    Xs, ys = make(n=60, noise=0.1, rng=0, shuffle=True)
    assert not np.array_equal(ys, y)
    # Noise is drawn before the shuffle, so the shuffled set is a permutation of the plain one.
    key = np.lexsort(np.column_stack([X, y.reshape(60, -1)]).T)
    key_s = np.lexsort(np.column_stack([Xs, ys.reshape(60, -1)]).T)
    np.testing.assert_array_equal(np.column_stack([X, y.reshape(60, -1)])[key],
                                  np.column_stack([Xs, ys.reshape(60, -1)])[key_s])


@pytest.mark.parametrize(("call", "message"), [
    (lambda: make_linear(0), "n must be an integer >= 1"),
    (lambda: make_linear(-3), "n must be an integer >= 1"),
    (lambda: make_linear(2.5), "n must be an integer >= 1"),
    (lambda: make_linear(True), "n must be an integer >= 1"),
    (lambda: make_moons(0), "make_moons: n must"),
    (lambda: make_moons(10, noise=-0.1), "noise must be a finite number >= 0"),
    (lambda: make_moons(10, noise=float("nan")), "noise must be a finite number >= 0"),
    (lambda: make_circles(10, noise=float("inf")), "noise must be a finite number >= 0"),
    (lambda: make_circles(10, factor=0), "0 < factor < 1"),
    (lambda: make_circles(10, factor=1), "0 < factor < 1"),
    (lambda: make_circles(10, factor=1.5), "0 < factor < 1"),
    (lambda: make_circles(10, factor=-0.5), "0 < factor < 1"),
    (lambda: make_spiral(10, classes=1), "classes must be an integer >= 2"),
    (lambda: make_spiral(10, classes=2.0), "classes must be an integer >= 2"),
    (lambda: make_spiral(2, classes=3), "n must be an integer >= 3"),
    (lambda: make_spiral(10, noise=-1), "noise must be"),
])
def test_bad_arguments_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_rng_of_the_wrong_type_is_a_type_error():
    with pytest.raises(TypeError, match="rng must be"):
        make_linear(5, rng="seed")


# -- load -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "make", "kwargs"), [
    ("linear", make_linear, {"n": 30, "rng": 1}),
    ("xor", make_xor_easy, {}),
    ("xor_easy", make_xor_easy, {}),
    ("moons", make_moons, {"n": 30, "noise": 0.1, "rng": 1}),
    ("circles", make_circles, {"n": 30, "factor": 0.5, "rng": 1}),
    ("spiral", make_spiral, {"n": 30, "classes": 3, "rng": 1}),
])
def test_load_by_name_calls_the_generator(name, make, kwargs):
    X, y = data.load(name, **kwargs)
    X_expected, y_expected = make(**kwargs)
    np.testing.assert_array_equal(X, X_expected)
    np.testing.assert_array_equal(y, y_expected)


def test_load_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown data set 'mnist'") as error:
        data.load("mnist")
    for name in ("linear", "xor", "xor_easy", "moons", "circles", "spiral"):
        assert name in str(error.value)


# -- DataLoader -----------------------------------------------------------------------------
def indexed(n, columns=2):
    """X whose first column is the sample's index, y its index too: batches reveal their samples."""
    X = np.column_stack([np.arange(n, dtype=float)] + [np.zeros(n)] * (columns - 1))
    return X, np.arange(n, dtype=float).reshape(-1, 1)


def epoch_indices(loader):
    batches = list(loader)
    for X_batch, y_batch in batches:
        np.testing.assert_array_equal(X_batch.data[:, 0], y_batch.data[:, 0])  # rows stay paired
    return [X_batch.data[:, 0].astype(int).tolist() for X_batch, _ in batches]


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize(("n", "batch_size"), [(10, 3), (10, 5), (10, 10), (10, 32), (1, 1), (7, None)])
def test_every_sample_appears_exactly_once_per_epoch(n, batch_size, shuffle):
    loader = DataLoader(*indexed(n), batch_size=batch_size, shuffle=shuffle, rng=0)
    for _ in range(3):
        batches = epoch_indices(loader)
        assert len(batches) == len(loader)
        assert sorted(i for batch in batches for i in batch) == list(range(n))
        size = batch_size or n
        assert all(len(batch) == size for batch in batches[:-1])


def test_without_shuffle_batches_are_in_order():
    assert epoch_indices(DataLoader(*indexed(7), batch_size=3)) == [[0, 1, 2], [3, 4, 5], [6]]


def test_shuffle_draws_a_new_order_every_epoch_reproducibly_by_seed():
    loader = DataLoader(*indexed(20), batch_size=6, shuffle=True, rng=42)
    epochs = [epoch_indices(loader) for _ in range(3)]
    assert epochs[0] != epochs[1] != epochs[2]
    assert epochs[0] != epoch_indices(DataLoader(*indexed(20), batch_size=6))
    again = DataLoader(*indexed(20), batch_size=6, shuffle=True, rng=np.random.default_rng(42))
    assert [epoch_indices(again) for _ in range(3)] == epochs
    other = DataLoader(*indexed(20), batch_size=6, shuffle=True, rng=43)
    assert epoch_indices(other) != epochs[0]


def test_shuffled_full_batch_is_one_permuted_batch():
    loader = DataLoader(*indexed(12), shuffle=True, rng=0)
    (batch,) = epoch_indices(loader)
    assert sorted(batch) == list(range(12)) and batch != list(range(12))


@pytest.mark.parametrize(("n", "batch_size", "drop_last", "expected"), [
    (10, 3, False, 4), (10, 3, True, 3), (9, 3, True, 3), (9, 3, False, 3),
    (2, 5, True, 0), (2, 5, False, 1), (10, None, True, 1), (0, None, False, 0), (0, 4, False, 0),
])
def test_len_counts_batches(n, batch_size, drop_last, expected):
    loader = DataLoader(*indexed(n), batch_size=batch_size, drop_last=drop_last)
    assert len(loader) == expected
    assert len(list(loader)) == expected


def test_drop_last_leaves_out_the_short_batch_only():
    batches = epoch_indices(DataLoader(*indexed(10), batch_size=4, drop_last=True, shuffle=True, rng=0))
    assert [len(b) for b in batches] == [4, 4]
    assert len(set(batches[0] + batches[1])) == 8


def test_full_batch_is_the_whole_data_set():
    X, y = make_xor_easy()
    ((X_batch, y_batch),) = list(DataLoader(X, y))
    np.testing.assert_array_equal(X_batch.data, X)
    np.testing.assert_array_equal(y_batch.data, y)


def test_batches_are_tensors_without_grad_keeping_float_dtype():
    X = np.ones((4, 3), dtype=np.float32)
    y = np.zeros((4, 1), dtype=np.float32)
    X_batch, y_batch = next(iter(DataLoader(X, y, batch_size=2)))
    assert isinstance(X_batch, mg.Tensor) and isinstance(y_batch, mg.Tensor)
    assert X_batch.dtype == y_batch.dtype == np.float32
    assert not X_batch.requires_grad and X_batch.is_leaf and X_batch.grad is None


def test_int_and_bool_inputs_become_the_default_float():
    X_batch, y_batch = next(iter(DataLoader(np.arange(6).reshape(3, 2), np.array([[True], [False], [True]]))))
    assert X_batch.dtype == y_batch.dtype == np.float64
    np.testing.assert_array_equal(y_batch.data, [[1.0], [0.0], [1.0]])


def test_integer_labels_stay_integer_arrays_for_cross_entropy():
    X, y = make_spiral(30, classes=3, rng=0)
    loader = DataLoader(X, y, batch_size=8, shuffle=True, rng=0)
    logits = mg.randn(3, requires_grad=True, rng=0)  # one row of class scores, broadcast to the batch
    for X_batch, y_batch in loader:
        assert type(y_batch) is np.ndarray and y_batch.dtype == np.int64 and y_batch.ndim == 1
        loss = F.cross_entropy(X_batch[:, :1] * 0 + logits, y_batch)
        assert np.isfinite(loss.item())


def test_tensors_and_lists_are_accepted():
    X = mg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    X_batch, y_batch = next(iter(DataLoader(X, [[0.0], [1.0]])))
    np.testing.assert_array_equal(X_batch.data, X.data)
    assert not X_batch.requires_grad and X_batch.data is not X.data
    np.testing.assert_array_equal(y_batch.data, [[0.0], [1.0]])


def test_loader_keeps_its_own_read_only_copy():
    X, y = indexed(6)
    loader = DataLoader(X, y, batch_size=3)
    X[:] = -1.0  # the caller's later edits do not reach the loader
    X_batch, _ = next(iter(loader))
    np.testing.assert_array_equal(X_batch.data[:, 0], [0, 1, 2])
    with pytest.raises(ValueError, match="read-only"):
        X_batch.data[0, 0] = 100.0
    assert epoch_indices(loader)[0] == [0, 1, 2]


@pytest.mark.parametrize("label_dtype", [np.int64, np.float64])
def test_the_callers_labels_are_neither_sealed_nor_shared(label_dtype):
    X, _ = indexed(4)
    y = np.arange(4, dtype=label_dtype)
    loader = DataLoader(X, y)
    y[0] = 99  # still writable: the loader sealed its own copy, not the caller's array
    _, y_batch = next(iter(loader))
    np.testing.assert_array_equal(getattr(y_batch, "data", y_batch), [0, 1, 2, 3])


def test_fresh_batch_tensors_every_epoch():
    loader = DataLoader(*indexed(4))
    first, _ = next(iter(loader))
    first.requires_grad_()
    second, _ = next(iter(loader))
    assert second is not first and not second.requires_grad


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"X": np.zeros((5, 2)), "y": np.zeros((4, 1))}, ValueError, r"same number of samples, got 5 inputs .* 4 targets"),
    ({"X": np.zeros((5, 2)), "y": np.zeros((5, 1)), "batch_size": 0}, ValueError, "batch_size must be an integer >= 1"),
    ({"X": np.zeros((5, 2)), "y": np.zeros((5, 1)), "batch_size": -2}, ValueError, "batch_size must be"),
    ({"X": np.zeros((5, 2)), "y": np.zeros((5, 1)), "batch_size": 2.5}, ValueError, "batch_size must be"),
    ({"X": np.zeros((5, 2)), "y": np.zeros((5, 1)), "batch_size": True}, ValueError, "batch_size must be"),
    ({"X": np.float64(3.0), "y": np.zeros((5, 1))}, ValueError, "X must have a leading sample axis"),
    ({"X": np.zeros((5, 2)), "y": 1.0}, ValueError, "y must have a leading sample axis"),
    ({"X": np.zeros((5, 2)), "y": np.zeros((5, 1)), "rng": "seed"}, TypeError, "rng must be"),
    ({"X": np.array([["a", "b"]]), "y": np.zeros((1, 1))}, TypeError, "cannot make a Tensor"),
])
def test_bad_loader_arguments_raise_clear_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        DataLoader(**kwargs)


def test_repr_shows_the_settings():
    text = repr(DataLoader(*indexed(10), batch_size=4, shuffle=True, rng=0))
    assert text == "DataLoader(num_samples=10, batch_size=4, shuffle=True, drop_last=False)"
