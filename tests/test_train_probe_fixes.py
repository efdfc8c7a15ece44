"""Fixes from the probe of mg.train (fit, sweep), the CLI's train and save/load: accuracy
with a logits loss, the sweep's `hidden` tuples, mini-batch accuracy, the CLI's reported
accuracy and cross-entropy predictions, and clear errors for inputs accepted silently."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import nn, optim
from microgradnp.cli import main
from microgradnp.nn import functional as F
from microgradnp.train.runs import check_loss_output, checked_points, read_points, split_points


def _run_cli(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _predictions_csv(folder) -> list[dict]:
    with open(folder / "predictions.csv") as file:
        return list(csv.DictReader(file))


# -- 2. accuracy with a logits loss -----------------------------------------------------------
def _linear_with_logit(logit: float):
    model = nn.Linear(1, 1)
    with mg.no_grad():
        model.weight.fill_(0.0)
        model.bias.fill_(logit)
    return model


@pytest.mark.parametrize("loss", ["bce_with_logits", F.binary_cross_entropy_with_logits, nn.BCEWithLogitsLoss()])
def test_fit_counts_a_positive_logit_as_class_1(loss):
    # A logit of 0.3 is p = 0.574: class 1 (the old rule, logit > 0.5, said class 0).
    X, y = np.array([[0.0], [1.0]]), np.array([[1.0], [1.0]])
    model = _linear_with_logit(0.3)
    history = mg.train.fit(model, X, y, loss, optim.SGD(model.parameters(), lr=1e-9), 1, progress=False)
    assert history.accuracy == [1.0]
    model = _linear_with_logit(0.3)
    history = mg.train.fit(model, X, y, loss, optim.SGD(model.parameters(), lr=1e-9), 5, stop_at_accuracy=1.0,
                           progress=False)
    assert history.status == "reached" and history.stop_epoch == 1


def test_fit_with_a_logits_loss_takes_the_threshold_as_a_probability():
    X, y = np.array([[0.0]]), np.array([[1.0]])
    model = _linear_with_logit(0.3)  # p = 0.574
    history = mg.train.fit(model, X, y, "bce_with_logits", optim.SGD(model.parameters(), lr=1e-9), 1,
                           threshold=0.6, progress=False)
    assert history.accuracy == [0.0]
    with pytest.raises(ValueError, match=r"probability in \(0, 1\)"):
        mg.train.fit(model, X, y, "bce_with_logits", optim.SGD(model.parameters(), lr=0.1), 1, threshold=1.5,
                     progress=False)


@pytest.mark.parametrize("vectorize", [True, False])
def test_sweep_accuracy_with_a_logits_loss_is_sigmoid_above_one_half(vectorize):
    X, y = mg.data.make_moons(40, noise=0.1, rng=0)
    grid = {"lr": 1e-12, "hidden": [(4,)], "activation": "tanh", "output_activation": "none",
            "loss": "bce_with_logits", "init": "normal(0, 1)"}
    result = mg.train.sweep(grid, (X, y), seeds=3, epochs=1, stop_at_accuracy=None, vectorize=vectorize,
                            workers=1, progress=False, test_size=0.25)
    config = mg.train.expand_grid(grid, {"stop_at_accuracy": None})[0]
    X_train, y_train, X_test, y_test = split_points(X, y, 0.25, 0)
    for points, labels, column in ((X_train, y_train, "final_accuracies"), (X_test, y_test, "test_accuracies")):
        # (lr 1e-12: the one update changes no logit's sign)
        logits = [mg.train.predict(config.build(2, seed), points) for seed in range(3)]
        expected = [float(np.mean((p > 0) == (labels > 0.5))) for p in logits]
        assert result.rows[0][column] == expected
        # (the data make the old rule, logit > 0.5, give another answer)
        assert expected != [float(np.mean((p > 0.5) == (labels > 0.5))) for p in logits]


def test_bce_with_logits_after_a_sigmoid_output_is_refused():
    with pytest.raises(ValueError, match="output_activation 'none'"):
        check_loss_output("bce_with_logits", "sigmoid")
    check_loss_output("bce_with_logits", "none")
    with pytest.raises(ValueError, match="output_activation 'none'"):
        mg.train.sweep({"loss": "bce_with_logits"}, "xor", seeds=1, epochs=1, progress=False)


def test_cli_refuses_bce_with_logits_with_the_default_sigmoid_output(capsys, tmp_path):
    code, out, err = _run_cli(capsys, "train", "--loss", "bce_with_logits", "--epochs", "2", "--no-progress",
                              "--out", str(tmp_path / "run"))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "output_activation 'none'" in err


def test_cli_accuracy_with_bce_with_logits_tests_logits_against_0(capsys, tmp_path):
    code, out, err = _run_cli(capsys, "train", "--loss", "bce_with_logits", "--output-activation", "none",
                              "--hidden", "4", "--epochs", "30", "--lr", "0.5", "--test-size", "0.25",
                              "--no-progress", "--out", str(tmp_path))
    assert code == 0, err
    rows = _predictions_csv(tmp_path)
    correct = sum((float(r["prediction"]) > 0) == (float(r["truth"]) > 0.5) for r in rows)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["final_accuracy"] == correct / len(rows)
    assert f"accuracy {correct / len(rows):.2%}" in out


# -- 3. sweep grid: a tuple under hidden is one network ---------------------------------------
def test_a_tuple_under_hidden_is_one_value_every_layers_width():
    assert [c.hidden for c in mg.train.expand_grid({"hidden": (100, 50)})] == [(100, 50)]
    assert [c.hidden for c in mg.train.expand_grid({"hidden": (4,)})] == [(4,)]
    assert [c.hidden for c in mg.train.expand_grid({"hidden": [100, 50]})] == [100, 50]
    assert [c.hidden for c in mg.train.expand_grid({"hidden": [(4,), (10, 10)]})] == [(4,), (10, 10)]
    (config,) = mg.train.expand_grid({"hidden": (100, 50)})
    assert config.build(2, 0).extra_repr() == "sizes=2-100-50-1"
    # The lab's protocol still lists its ten hidden sizes as ten values.
    sizes = {c.hidden for c in mg.train.expand_grid(mg.train.LAB_GRID) if c.lr == 0.1 and c.activation == "sigmoid"}
    assert sizes == set(range(10, 101, 10))


# -- 4. mini-batch accuracy is the model's the epoch ends with --------------------------------
def test_minibatch_accuracy_does_not_depend_on_stop_at_accuracy():
    X, y = mg.data.make_moons(30, noise=0.1, rng=0)
    histories, finals = [], []
    for stop in (None, 1.0):  # 1.0 is not reached in 5 epochs
        model = nn.MLP(2, (5,), 1, activation="tanh", rng=1)
        history = mg.train.fit(model, X, y, "mse", optim.SGD(model.parameters(), lr=0.3), 5, batch_size=7, rng=0,
                               stop_at_accuracy=stop, progress=False)
        histories.append(history)
        finals.append(mg.train.count_correct(mg.train.predict(model, X), y) / len(X))
    assert histories[0].status == histories[1].status == "completed"
    assert histories[0].loss == histories[1].loss
    assert histories[0].accuracy == histories[1].accuracy
    assert histories[0].final_accuracy == finals[0]  # the model the last epoch ended with


# -- 5 and 6. the CLI's reported accuracy and cross-entropy predictions -----------------------
def test_cli_final_accuracy_is_that_of_the_predictions_written(capsys, tmp_path):
    # lr 20 for 3 epochs: the last update changes the predictions (the report's case).
    code, out, err = _run_cli(capsys, "train", "--dataset", "linear", "--epochs", "3", "--lr", "20", "--hidden",
                              "4", "--no-progress", "--out", str(tmp_path))
    assert code == 0, err
    rows = _predictions_csv(tmp_path)
    accuracy = sum((float(r["prediction"]) > 0.5) == (float(r["truth"]) > 0.5) for r in rows) / len(rows)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["final_accuracy"] == accuracy
    assert metrics["last_epoch_accuracy"] == metrics["accuracy"][-1]
    assert f"accuracy {accuracy:.2%} of the final model" in out


def test_cli_cross_entropy_predictions_are_classes(capsys, tmp_path):
    code, out, err = _run_cli(capsys, "train", "--loss", "cross_entropy", "--epochs", "2", "--hidden", "4",
                              "--no-progress", "--out", str(tmp_path))
    assert code == 0, err
    rows = _predictions_csv(tmp_path)
    assert {r["prediction"] for r in rows} <= {"0", "1"}
    assert all(0.5 <= float(r["probability"]) <= 1 for r in rows)  # the predicted one of two classes
    shown = [line.split()[-1] for line in out.splitlines() if line.count(".") == 3 and len(line.split()) == 4]
    assert [float(p) for p in shown] == [float(r["prediction"]) for r in rows]  # as the terminal table
    correct = sum(r["prediction"] == r["truth"] for r in rows)
    assert json.loads((tmp_path / "metrics.json").read_text())["final_accuracy"] == correct / len(rows)


# -- 7. inputs once accepted silently, errors once unclear ------------------------------------
def test_labels_of_another_shape_than_n_or_n_by_1_are_refused(tmp_path):
    np.savez(tmp_path / "y2d.npz", X=np.zeros((4, 2)), y=np.array([[0, 1], [0, 1]]))
    with pytest.raises(ValueError, match=r"n labels \(shape \(n,\) or \(n, 1\)\), got \(4, 2\) and \(2, 2\)"):
        read_points(tmp_path / "y2d.npz")
    assert checked_points(np.zeros((2, 2)), np.array([0, 1]), "x")[1].shape == (2, 1)
    assert checked_points(np.zeros((2, 2)), np.array([[0], [1]]), "x")[1].shape == (2, 1)


def test_save_takes_int_keys_as_torch_save_does(tmp_path):
    for state in ({0: np.ones(2)}, {0: np.ones(2), "epoch": 1}):
        mg.save(state, tmp_path / "k.npz")
        loaded = mg.load(tmp_path / "k.npz")
        assert list(loaded) == list(state)
        np.testing.assert_array_equal(loaded[0], state[0])


def test_load_of_an_open_file_says_to_pass_the_name(tmp_path):
    mg.save({"w": np.ones(2)}, tmp_path / "k.npz")
    with open(tmp_path / "k.npz", "rb") as file, pytest.raises(TypeError, match="pass the name"):
        mg.load(file)


@pytest.mark.parametrize("log_every", ["5", 2.5, True, 0])
def test_fit_log_every_must_be_a_positive_integer(log_every):
    X, y = mg.data.make_xor_easy()
    model = nn.MLP(2, (3,), 1, rng=0)
    with pytest.raises(ValueError, match="log_every must be a positive integer"):
        mg.train.fit(model, X, y, "mse", optim.SGD(model.parameters(), lr=0.1), 2, log_every=log_every,
                     progress=False)


def test_fit_refuses_a_0d_X():
    model = nn.Linear(1, 1)
    with pytest.raises(ValueError, match=r"X is a single number \(a 0-d array\)"):
        mg.train.fit(model, np.float64(1.0), np.array([[1.0]]), "mse", optim.SGD(model.parameters(), lr=0.1), 1,
                     progress=False)


@pytest.mark.parametrize("compile_", [True, False])
def test_fit_refuses_a_loss_that_returns_a_float(compile_):
    X, y = mg.data.make_xor_easy()
    model = nn.MLP(2, (3,), 1, rng=0)
    with pytest.raises(TypeError, match="the loss returned a float, not a Tensor"):
        mg.train.fit(model, X, y, lambda p, t: 1.0, optim.SGD(model.parameters(), lr=0.1), 2, progress=False,
                     compile=compile_)


def test_sweep_does_not_resume_a_logits_row_written_with_the_old_accuracy(tmp_path):
    grid = {"hidden": [(3,)], "output_activation": "none", "loss": "bce_with_logits"}
    first = mg.train.sweep(grid, "xor", seeds=1, epochs=2, workers=1, progress=False, cells=tmp_path)
    (cell,) = tmp_path.iterdir()
    # A cell as the sweep wrote it before logits were tested against 0: no accuracy rule in its key.
    saved = json.loads(cell.read_text())
    saved["key"].pop("accuracy_of_logits", None)
    saved["row"]["final_accuracies"] = [-1.0]
    cell.write_text(json.dumps(saved))
    again = mg.train.sweep(grid, "xor", seeds=1, epochs=2, workers=1, progress=False, cells=tmp_path, resume=True)
    assert again.rows[0]["final_accuracies"] == first.rows[0]["final_accuracies"]
