"""Labels that fit the loss: every generator's ``labels`` argument ("column" for mse/bce,
"indices" for cross_entropy), and one error that says how to convert a column of labels
given to cross_entropy."""

from __future__ import annotations

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import nn, optim
from microgradnp.cli import main
from microgradnp.data import make_circles, make_linear, make_moons, make_spiral, make_xor_easy

# Each generator with fixed data (a seed where it draws), n points.
GENERATORS = {
    "linear": (lambda **kw: make_linear(40, rng=0, **kw), 40),
    "xor": (lambda **kw: make_xor_easy(**kw), 21),
    "moons": (lambda **kw: make_moons(41, noise=0.1, rng=0, shuffle=True, **kw), 41),
    "circles": (lambda **kw: make_circles(41, noise=0.1, rng=0, shuffle=True, **kw), 41),
    "spiral": (lambda **kw: make_spiral(41, noise=0.2, rng=0, shuffle=True, **kw), 41),
}


@pytest.mark.parametrize("name", GENERATORS)
def test_column_labels_are_the_default_float_column(name):
    make, n = GENERATORS[name]
    X, y = make()
    X_column, y_column = make(labels="column")
    assert X.shape == (n, 2) and X.dtype == mg.get_default_dtype()
    assert y.shape == (n, 1) and y.dtype == mg.get_default_dtype()
    assert set(np.unique(y)) == {0.0, 1.0}
    np.testing.assert_array_equal(X_column, X)
    np.testing.assert_array_equal(y_column, y)


@pytest.mark.parametrize("name", GENERATORS)
def test_index_labels_are_int64_vectors_of_the_same_classes(name):
    make, n = GENERATORS[name]
    X, y = make()
    X_indices, y_indices = make(labels="indices")
    assert X_indices.shape == (n, 2) and X_indices.dtype == mg.get_default_dtype()
    assert y_indices.shape == (n,) and y_indices.dtype == np.int64
    np.testing.assert_array_equal(X_indices, X)  # the same points, in the same order
    np.testing.assert_array_equal(y_indices, y.ravel().astype(int))


def test_index_labels_follow_the_default_dtype_of_the_points_only():
    mg.set_default_dtype(np.float32)
    X, y = make_moons(10, labels="indices")
    assert X.dtype == np.float32 and y.dtype == np.int64


def test_spiral_with_more_classes_takes_indices_by_default_and_refuses_a_column():
    X, y = make_spiral(30, classes=3, rng=0)
    X_indices, y_indices = make_spiral(30, classes=3, rng=0, labels="indices")
    assert y.shape == (30,) and y.dtype == np.int64 and set(y) == {0, 1, 2}
    np.testing.assert_array_equal(y_indices, y)
    np.testing.assert_array_equal(X_indices, X)
    with pytest.raises(ValueError, match=r"make_spiral: labels='column' .* is for two classes; with 3 classes use "
                                         r"labels='indices'"):
        make_spiral(30, classes=3, labels="column")


@pytest.mark.parametrize(("make", "labels"), [
    (make, labels) for make in (make_linear, make_xor_easy, make_moons, make_circles, make_spiral)
    for labels in ("onehot", "Column", None, 1) if not (make is make_spiral and labels is None)  # (its default)
])
def test_a_bad_labels_value_names_the_choices(make, labels):
    with pytest.raises(ValueError, match=rf"{make.__name__}: labels must be 'column' .* or 'indices'"):
        make(labels=labels)


def test_load_passes_labels_on():
    _, y = mg.data.load("circles", n=10, labels="indices")
    assert y.shape == (10,) and y.dtype == np.int64


# -- cross_entropy --------------------------------------------------------------------------
def test_cross_entropy_trains_on_index_labels():
    X, y = make_moons(100, noise=0.1, rng=0, labels="indices")
    model = nn.MLP(2, (16,), 2, activation="tanh", rng=0)
    history = mg.train.fit(model, X, y, "cross_entropy", optim.Adam(model.parameters(), lr=0.05), epochs=300,
                           stop_at_accuracy=None, progress=False)
    assert history.status == "completed"
    assert history.final_loss < 0.5 * history.loss[0]
    assert history.final_accuracy >= 0.95
    assert (mg.train.predict(model, X).argmax(axis=1) == y).mean() >= 0.95


HINTS = ("y.ravel().astype(int)", "labels='indices'")


def test_cross_entropy_on_a_column_of_labels_says_how_to_convert():
    X, y = make_moons(20, rng=0)
    logits = nn.MLP(2, (4,), 2, rng=0)(mg.tensor(X))
    for loss in (nn.functional.cross_entropy, nn.CrossEntropyLoss()):
        with pytest.raises(ValueError, match=r"needs targets of shape \(20,\) .* got \(20, 1\)") as error:
            loss(logits, y)
        assert all(hint in str(error.value) for hint in HINTS)
    loss = nn.functional.cross_entropy(logits, y.ravel().astype(int))  # the conversion it names works
    assert np.isfinite(loss.item())


def test_a_wrong_shape_that_is_not_a_column_gets_no_column_hint():
    logits = mg.tensor(np.zeros((6, 3)))
    with pytest.raises(ValueError, match=r"needs targets of shape \(6,\)") as error:
        nn.functional.cross_entropy(logits, np.zeros((6, 2), dtype=int))
    assert "ravel" not in str(error.value)


@pytest.mark.parametrize("outputs", [1, 2])
@pytest.mark.parametrize("loss", ["cross_entropy", nn.CrossEntropyLoss(), nn.functional.cross_entropy],
                         ids=["name", "module", "function"])
def test_fit_refuses_a_column_of_labels_for_cross_entropy(outputs, loss):
    # With one output, cross_entropy would be over one class: always 0, nothing trained.
    X, y = make_moons(20, rng=0)
    model = nn.MLP(2, (4,), outputs, rng=0)
    with pytest.raises(ValueError, match=r"fit: cross_entropy takes class indices of shape \(N,\), got targets of "
                                         r"shape \(20, 1\)") as error:
        mg.train.fit(model, X, y, loss, optim.SGD(model.parameters(), lr=0.1), epochs=2, progress=False)
    assert all(hint in str(error.value) for hint in HINTS)


def test_the_cli_trains_cross_entropy_with_one_output_per_class(capsys, tmp_path):
    code = main(["train", "--dataset", "moons", "--loss", "cross_entropy", "--hidden", "8", "--lr", "1",
                 "--epochs", "200", "--test-size", "0.2", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "network 2-8-2, sigmoid, cross_entropy" in out
    assert "completed after 200 epochs" in out or "reached 100 %" in out
    final = float(out.split("accuracy ")[1].split("%")[0])
    assert final > 80
