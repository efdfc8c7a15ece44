"""The training loop, its History and its messages; check_backprop; the examples."""

from __future__ import annotations

import importlib.util
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import nn, optim

ROOT = Path(__file__).resolve().parents[1]


def xor_model(seed=0, **kwargs):
    return nn.MLP(2, (50, 50), 1, rng=seed, **kwargs)


def test_lab_network_reaches_100_percent_on_xor_within_budget():
    X, y = mg.data.make_xor_easy()
    model = xor_model(seed=0)
    history = mg.train.fit(model, X, y, nn.MSELoss(), optim.SGD(model.parameters(), lr=1.0), epochs=20_000,
                           stop_at_accuracy=1.0, progress=False)
    assert history.converged and history.status == "reached"
    assert history.stop_epoch == history.epochs <= 20_000
    assert history.accuracy[-1] == 1.0 and max(history.accuracy[:-1]) < 1.0
    # the model returned is the one that reached it: no update after the stop
    assert np.all((mg.train.predict(model, X) > 0.5) == (y > 0.5))


def test_fit_equals_the_hand_written_loop():
    """Same seed, same steps: fit records the loss before each update, as a manual loop does."""
    X, y = mg.data.make_linear(30, rng=1)
    model, manual = xor_model(seed=3), xor_model(seed=3)
    history = mg.train.fit(model, X, y, "mse", optim.SGD(model.parameters(), lr=0.5), epochs=25, progress=False)
    opt = optim.SGD(manual.parameters(), lr=0.5)
    losses = []
    for _ in range(25):
        opt.zero_grad()
        loss = nn.MSELoss()(manual(mg.tensor(X)), y)
        losses.append(loss.item())
        loss.backward()
        opt.step()
    np.testing.assert_allclose(history.loss, losses, rtol=1e-12)
    for p, q in zip(model.parameters(), manual.parameters()):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-12)
    assert history.status == "completed" and history.stop_epoch is None


def test_lab_style_log_lines(capsys):
    X, y = mg.data.make_xor_easy()
    model = xor_model()
    mg.train.fit(model, X, y, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), epochs=20, log_every=10,
                 progress=False)
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(",")[0] for line in lines] == ["epoch 1", "epoch 10", "epoch 20"]
    assert all(len(line.split(", ")) == 3 and line.split(", ")[1].startswith("loss ") for line in lines)
    assert lines[1].split(", acc ")[1] == f"{float(lines[1].split(', acc ')[1]):.4f}"


def test_divergence_stops_with_one_message(capsys):
    X, y = mg.data.make_linear(50, rng=0)
    model = xor_model(activation="none", output_activation=None)
    with np.errstate(all="raise"):  # fit itself must not let overflow warnings/errors escape
        history = mg.train.fit(model, X, y, nn.MSELoss(), optim.SGD(model.parameters(), lr=50.0), epochs=1000,
                               log_every=1, progress=False)
    out = capsys.readouterr().out
    assert history.status == "diverged" and history.stop_epoch == history.epochs < 1000
    assert "nan" not in out.replace("nan/inf", "")
    message = out.strip().splitlines()[-1]
    assert message == history.message
    assert f"epoch {history.stop_epoch}" in message and "last finite loss" in message
    assert "smaller learning rate than 50" in message and "activation" in message


def test_a_blowing_up_loss_is_logged_in_scientific_notation(capsys):
    X, y = mg.data.make_linear(50, rng=0)
    model = xor_model(activation="none", output_activation=None)
    mg.train.fit(model, X, y, nn.MSELoss(), optim.SGD(model.parameters(), lr=50.0), epochs=1000, log_every=1,
                 progress=False)
    lines = capsys.readouterr().out.strip().splitlines()[:-1]
    assert any("e+" in line for line in lines)  # the run really went through huge losses
    for line in lines:
        assert re.fullmatch(r"epoch \d+, loss (\d{1,6}\.\d{4}|\d\.\d{4}e\+\d+), acc \d\.\d{4}", line), line


def test_minibatch_divergence_in_the_first_epoch_names_the_last_finite_batch():
    X, y = mg.data.make_linear(50, rng=0)
    model = xor_model(activation="none", output_activation=None)
    history = mg.train.fit(model, X, y, nn.MSELoss(), optim.SGD(model.parameters(), lr=50.0), epochs=10,
                           batch_size=10, rng=0, progress=False, file=io.StringIO())
    assert history.status == "diverged" and history.stop_epoch == 1
    assert "never finite" not in history.message
    assert re.search(r"the last finite loss was \S+ at batch [1-4] of epoch 1\)", history.message)


def test_target_reached_at_epoch_one_is_logged_once(capsys):
    X, y = mg.data.make_xor_easy()
    model = xor_model()
    history = mg.train.fit(model, X, y, "mse", optim.SGD(model.parameters(), lr=0.1), epochs=100,
                           stop_at_accuracy=0.5, log_every=10, progress=False)
    assert history.stop_epoch == 1
    assert capsys.readouterr().out.splitlines() == [f"epoch 1, loss {history.loss[0]:.4f}, acc 0.5238"]


def test_a_reached_target_is_never_followed_by_an_update():
    # 7 of 25 right: 7 / 25 >= 0.28, but 7 >= 0.28 * 25 is False in floating point.
    layer = nn.Linear(1, 1, rng=0)
    layer.weight.data[...], layer.bias.data[...] = 1.0, 0.0
    X, y = np.ones((25, 1)), np.r_[np.ones(7), np.zeros(18)].reshape(-1, 1)
    history = mg.train.fit(nn.Sequential(layer, nn.Sigmoid()), X, y, "mse", optim.SGD(layer.parameters(), lr=10.0),
                           epochs=5, stop_at_accuracy=0.28, progress=False)
    assert history.status == "reached" and history.stop_epoch == 1
    assert layer.weight.data[0, 0] == 1.0 and layer.bias.data[0] == 0.0


def test_minibatches_cover_the_data_and_accuracy_counts_every_sample():
    X, y = mg.data.make_linear(40, rng=2)
    model = xor_model(seed=1)
    history = mg.train.fit(model, X, y, nn.MSELoss(), optim.Adam(model.parameters(), lr=0.01), epochs=30,
                           batch_size=8, rng=0, progress=False)
    assert history.epochs == 30
    assert all(np.isclose(a * 40, round(a * 40)) for a in history.accuracy)
    assert history.final_accuracy > 0.9


def test_multiclass_accuracy_with_cross_entropy():
    X, y = mg.data.make_spiral(150, classes=3, rng=0)
    model = nn.MLP(2, (32,), 3, activation="relu", output_activation=None, rng=0)
    history = mg.train.fit(model, X, y, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.02),
                           epochs=300, progress=False)
    predicted = mg.train.predict(model, X).argmax(axis=1)
    assert history.loss[-1] < history.loss[0]
    assert history.final_accuracy == pytest.approx(np.mean(predicted == y), abs=0.05)


def test_history_to_dict_is_json():
    X, y = mg.data.make_xor_easy()
    model = xor_model()
    history = mg.train.fit(model, X, y, "mse", optim.SGD(model.parameters(), lr=0.1), epochs=3, progress=False)
    record = json.loads(json.dumps(history.to_dict()))
    assert record["epochs"] == 3 and len(record["loss"]) == 3 and record["status"] == "completed"
    assert "status='completed'" in repr(history)


def test_progress_bar_can_be_on(capsys):
    pytest.importorskip("tqdm")
    X, y = mg.data.make_xor_easy()
    model = xor_model()
    history = mg.train.fit(model, X, y, "mse", optim.SGD(model.parameters(), lr=0.1), epochs=5, progress=True)
    assert history.epochs == 5
    assert "epoch" in capsys.readouterr().err  # tqdm draws on stderr


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"epochs": 0}, ValueError, "epochs must be a positive integer"),
        ({"log_every": 0}, ValueError, "log_every"),
        ({"loss": "hinge"}, ValueError, "unknown loss 'hinge'"),
        ({"y": np.zeros((20, 1))}, ValueError, r"21 inputs .* and 20 targets"),
        ({"stop_at_accuracy": 100}, ValueError, r"stop_at_accuracy is a fraction in \[0, 1\] \(1.0 for 100 %\)"),
        ({"stop_at_accuracy": -0.5}, ValueError, "stop_at_accuracy is a fraction"),
        ({"stop_at_accuracy": "1.0"}, ValueError, "stop_at_accuracy is a fraction"),
    ],
)
def test_fit_bad_arguments(kwargs, error, message):
    X, y = mg.data.make_xor_easy()
    model = xor_model()
    arguments = {"X": X, "y": y, "loss": "mse", "epochs": 5, **kwargs}
    with pytest.raises(error, match=message):
        mg.train.fit(model, optimizer=optim.SGD(model.parameters(), lr=0.1), progress=False, **arguments)


# -- check_backprop ----------------------------------------------------------------------------
def _hand_grads(model, X, y, slip_layer=None):
    """The lab's formulas in the model's own (out, in) layout."""
    W = [getattr(model, f"fc{i}").weight.data for i in (1, 2, 3)]
    b = [getattr(model, f"fc{i}").bias.data for i in (1, 2, 3)]
    a, z = [X], []
    for w, c in zip(W, b):
        z.append(a[-1] @ w.T + c)
        a.append(1 / (1 + np.exp(-z[-1])))
    grads = {}
    delta = 2 / len(X) * (a[3] - y) * a[3] * (1 - a[3])
    for layer in (3, 2, 1):
        grads[f"fc{layer}.weight"] = delta.T @ a[layer - 1]
        grads[f"fc{layer}.bias"] = delta.sum(axis=0)
        if layer > 1:
            s = z[layer - 2] if layer - 1 == slip_layer else a[layer - 1]
            delta = (delta @ W[layer - 1]) * s * (1 - s)
    return grads


def test_check_backprop_accepts_correct_hand_gradients(capsys):
    X, y = mg.data.make_xor_easy()
    model = xor_model()
    report = mg.check_backprop(model, X, y, nn.MSELoss(), _hand_grads(model, X, y))
    assert report.ok and len(report) == 6 and all(row.status == "OK" for row in report)
    printed = capsys.readouterr().out
    assert "fc2.weight" in printed and "50x50" in printed and "WRONG" not in printed


@pytest.mark.parametrize(("slip_layer", "wrong"), [(2, {"fc1", "fc2"}), (1, {"fc1"})])
def test_check_backprop_flags_exactly_the_layers_the_slip_affects(slip_layer, wrong):
    X, y = mg.data.make_xor_easy()
    model = xor_model()
    report = mg.check_backprop(model, X, y, "mse", _hand_grads(model, X, y, slip_layer), verbose=False)
    assert {row.name.split(".")[0] for row in report.wrong} == wrong
    assert not report.ok
    with pytest.raises(AssertionError, match="WRONG; worst is 'fc"):
        mg.check_backprop(model, X, y, "mse", _hand_grads(model, X, y, slip_layer), strict=True, verbose=False)


def test_check_backprop_understands_the_labs_layout_and_names():
    """W1..W3 in (in, out) layout and biases of shape (1, out), as the lab writes them."""
    X, y = mg.data.make_xor_easy()
    model = xor_model()
    own = _hand_grads(model, X, y)
    lab = {}
    for i in (1, 2, 3):
        lab[f"W{i}"] = own[f"fc{i}.weight"].T
        lab[f"b{i}"] = lambda i=i: own[f"fc{i}.bias"].reshape(1, -1)
    report = mg.check_backprop(model, X, y, "mse", lambda: lab, verbose=False)
    assert report.ok
    assert "as W2, transposed" in str(report)
    # A transposed square layer is wrong when the other layers say the layout is (out, in).
    mixed = dict(own, **{"fc2.weight": own["fc2.weight"].T})
    assert [row.name for row in mg.check_backprop(model, X, y, "mse", mixed, verbose=False).wrong] == ["fc2.weight"]


def test_check_backprop_bad_input():
    X, y = mg.data.make_xor_easy()
    model = xor_model()
    with pytest.raises(KeyError, match="no parameter 'W9'"):
        mg.check_backprop(model, X, y, "mse", {"W9": np.zeros(1)}, verbose=False)
    with pytest.raises(ValueError, match=r"'fc1.bias' has shape \(7,\)"):
        mg.check_backprop(model, X, y, "mse", {"fc1.bias": np.zeros(7)}, verbose=False)
    report = mg.check_backprop(model, X, y, "mse", {"fc3.bias": _hand_grads(model, X, y)["fc3.bias"]}, verbose=False)
    assert report.ok and [row.status for row in report].count("not given") == 5
    with pytest.raises(ValueError, match="hand_grads is empty, so there is nothing to check"):
        mg.check_backprop(model, X, y, "mse", lambda: {}, strict=True, verbose=False)
    with pytest.raises(ValueError, match="the hand gradient for 'W2' is None"):
        mg.check_backprop(model, X, y, "mse", {"W1": _hand_grads(model, X, y)["fc1.weight"].T, "W2": lambda: None},
                          verbose=False)
    with pytest.raises(TypeError, match="hand_grads must be a dict"):
        mg.check_backprop(model, X, y, "mse", [np.zeros((50, 2))], verbose=False)


# -- examples ----------------------------------------------------------------------------------
def run_example(name, *args, cwd):
    result = subprocess.run([sys.executable, str(ROOT / "examples" / name), *args], capture_output=True, text=True,
                            cwd=cwd, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_xor_example_trains_to_100_percent_and_writes_figures(tmp_path):
    out = run_example("xor.py", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert "epoch 500, loss" in out and "accuracy 100.00%: reached 100 % at epoch" in out
    rows = [line for line in out.splitlines() if re.fullmatch(r"\s*[\d.]+\s+[\d.]+\s+[01]\s+[\d.]+", line)]
    assert len(rows) == 21  # every point: x1, x2, truth, prediction
    if importlib.util.find_spec("matplotlib"):
        assert (tmp_path / "out" / "xor_prediction.png").stat().st_size > 0


def test_linear_example(tmp_path):
    assert "accuracy 100.00%" in run_example("linear.py", "--out", str(tmp_path), cwd=tmp_path)


def test_hand_backprop_example_shows_ok_then_the_slip(tmp_path):
    out = run_example("hand_backprop.py", cwd=tmp_path)
    first, second = out.split("The classic slip")
    assert "WRONG" not in first and first.count("OK") >= 6
    assert second.count("WRONG") == 4 + 1  # four rows, and the summary line


def test_custom_function_example(tmp_path):
    out = run_example("custom_function.py", cwd=tmp_path)
    assert "MySigmoid vs finite differences: True" in out and "caught: gradcheck failed" in out


def test_adam_vs_sgd_example(tmp_path):
    out = run_example("adam_vs_sgd.py", "--out", str(tmp_path), cwd=tmp_path)
    stops = {}
    for line in out.splitlines()[1:]:
        data, rest = line.split(maxsplit=1)
        name, stop = re.fullmatch(r"(.+?)\s+(>?\d+)\s+[\d.]+\s+[\d.]+s", rest).groups()
        stops[data, name] = stop
    assert {data for data, _ in stops} == {"xor", "linear"} and len(stops) == 6
    assert not any(stop.startswith(">") for stop in stops.values())  # every run reaches 100 %
    for data in ("xor", "linear"):  # what the comparison is there to show
        assert int(stops[data, "Adam lr 0.01"]) < int(stops[data, "SGD lr 0.5, momentum 0.9"]) < int(
            stops[data, "SGD lr 0.5"])


def test_conv1d_waveforms_example_learns_the_shapes(tmp_path):
    out = run_example("conv1d_waveforms.py", "--epochs", "8", cwd=tmp_path)
    accuracy = float(re.search(r"test accuracy ([\d.]+)%", out).group(1))
    assert accuracy > 90


def test_a_mini_batch_run_that_reached_its_target_returns_a_model_that_has_it():
    X, y = mg.data.make_moons(60, rng=0)
    for seed in range(4):
        model = nn.MLP(2, (16, 16), 1, rng=seed)
        history = mg.train.fit(model, X, y, "mse", optim.Adam(model.parameters(), lr=0.05), 3000, batch_size=8,
                               rng=seed, stop_at_accuracy=1.0, progress=False)
        assert history.status == "reached"
        accuracy = ((mg.train.predict(model, X) > 0.5) == (y.reshape(-1, 1) > 0.5)).mean()
        assert accuracy == history.final_accuracy == 1.0


def test_the_epoch_loss_of_a_summed_loss_is_the_sum_over_the_batches():
    X, y = mg.data.make_moons(20, rng=0)
    model = nn.Linear(2, 1, rng=0)
    twin = nn.Linear(2, 1, rng=0)
    history = mg.train.fit(model, X, y, nn.MSELoss(reduction="sum"), optim.SGD(model.parameters(), lr=1e-3), 1,
                           batch_size=5, rng=3, progress=False)
    optimizer, total = optim.SGD(twin.parameters(), lr=1e-3), 0.0
    for X_batch, y_batch in mg.data.DataLoader(X, y, batch_size=5, shuffle=True, rng=3):
        optimizer.zero_grad()
        loss = nn.MSELoss(reduction="sum")(twin(X_batch), y_batch)
        loss.backward()
        optimizer.step()
        total += loss.item()
    assert history.loss == [total]


def _with(array, index, value):
    changed = array.copy()
    changed[index] = value
    return changed


@pytest.mark.parametrize("change, error, message", [
    (lambda X, y, opt: {"threshold": "0.5"}, TypeError, "threshold is a number"),
    (lambda X, y, opt: {"optimizer": None}, TypeError, "optimizer must be an optimizer"),
    (lambda X, y, opt: {"X": _with(X, (2, 1), np.nan)}, ValueError, r"X holds nan or inf \(first in row 2\)"),
    (lambda X, y, opt: {"y": _with(y, 0, np.inf)}, ValueError, r"y holds nan or inf \(first in row 0\)"),
])
def test_fit_says_what_is_wrong_with_its_arguments(change, error, message):
    X, y = mg.data.make_xor_easy()
    model = nn.Linear(2, 1, rng=0)
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    arguments = {"X": X, "y": y, "loss": "mse", "optimizer": optimizer, "epochs": 2, "progress": False,
                 **change(X, y, optimizer)}
    with pytest.raises(error, match=message):
        mg.train.fit(model, **arguments)
