"""Every axis of a sweep's grid (initialisations, layers, outputs, losses, optimizer
options, targets, data sets, test splits, Conv1d): the vectorised sweep equals the
one-at-a-time sweep bit for bit, the networks get what the grid asks for, and bad values
fail with one clear ValueError."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import nn
from microgradnp.train.runs import load_points, read_points, split_points
from microgradnp.train.sweep import LAB_DEFAULTS, SweepConfig

PER_SEED = ("stop_epochs", "best_accuracies", "final_accuracies", "test_accuracies", "statuses")
# Small networks for the lab's xor points: FAST learns them within a few dozen epochs (seeds 0
# and 1), SGD_FAST within a hundred, SMALL mostly not within a few hundred.
FAST = {"hidden": 4, "activation": "tanh", "optimizer": "adam", "lr": 0.05}
SGD_FAST = {"hidden": 6, "activation": "tanh", "lr": 0.5}
SMALL = {"hidden": 4, "activation": "tanh", "lr": 0.5}


def _per_seed(result):
    return [{key: row[key] for key in (*LAB_DEFAULTS, *PER_SEED)} for row in result.rows]


def _outcomes(result):
    """Each row's per-seed numbers (not its configuration): to tell rows apart."""
    return [repr([row[key] for key in PER_SEED]) for row in result.rows]


def _both(grid, dataset="xor", epochs=200, **kwargs):
    """The sweep vectorised and one seed at a time; asserts they agree bit for bit."""
    kwargs = {"seeds": 2, "epochs": epochs, "progress": False, "workers": 1, **kwargs}
    vectorised = mg.train.sweep(grid, dataset, **kwargs)
    one_by_one = mg.train.sweep(grid, dataset, vectorize=False, **kwargs)
    assert vectorised.vectorized and not one_by_one.vectorized
    assert _per_seed(vectorised) == _per_seed(one_by_one)
    for row in vectorised.rows:
        assert len(row["stop_epochs"]) == 2 and set(row["statuses"]) <= {"reached", "completed"}
        assert all(0 <= a <= 1 for a in row["best_accuracies"] + row["final_accuracies"])
    return vectorised


def _parameters(model):
    return {name: np.array(p.data) for name, p in model.named_parameters()}


def _linears(model):
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


# -- vectorised equals one at a time, axis by axis ---------------------------------------------
@pytest.mark.parametrize(("key", "values"), [
    ("init", ["default", "normal(0, 1)", "uniform(0, 1)", "uniform(-1, 1)", "xavier", "kaiming", "xavier_normal"]),
    ("bias_init", ["default", "normal(0, 1)", "uniform(0, 1)", "uniform(-1, 1)", "zeros"]),
])
def test_initialisations(key, values):
    result = _both({**SMALL, key: values}, epochs=300)
    assert [row[key] for row in result.rows] == values
    assert len(set(_outcomes(result))) > len(values) // 2  # the initialisation reaches the networks
    if key == "init":
        assert {s for row in result.rows for s in row["statuses"]} == {"reached", "completed"}


def test_weight_and_bias_initialisations_together():
    grid = {**SMALL, "init": ["xavier_normal", "kaiming_normal(nonlinearity='relu')"],
            "bias_init": ["uniform(-1, 1)", "constant(0.1)"]}
    result = _both(grid)
    assert len(result.rows) == 4 and len(set(_outcomes(result))) == 4


def test_layer_widths_and_no_bias():
    grid = {"hidden": [(4,), (10, 10), (3, 4, 5)], "bias": [True, False], "activation": "tanh", "lr": 0.5}
    result = _both(grid, epochs=150)
    assert [(row["hidden"], row["bias"]) for row in result.rows] == [
        (h, b) for h in [(4,), (10, 10), (3, 4, 5)] for b in (True, False)]
    assert len(set(_outcomes(result))) == 6


def test_output_activations_and_losses():
    grid = [{**SGD_FAST, "output_activation": ["relu", "tanh", "none"], "loss": ["mse", "mse/2"]},
            {**FAST, "loss": "bce"},  # sigmoid output, the default
            {**FAST, "loss": "bce_with_logits", "output_activation": "none"}]
    result = _both(grid, epochs=150)
    assert [(row["output_activation"], row["loss"]) for row in result.rows] == [
        *((o, loss) for o in ("relu", "tanh", "none") for loss in ("mse", "mse/2")),
        ("sigmoid", "bce"), ("none", "bce_with_logits")]
    assert len(set(_outcomes(result))) >= 6
    assert any("reached" in row["statuses"] for row in result.rows)


def test_half_mse_is_mse_at_half_the_learning_rate():
    """The gradient of MSE/2 is half MSE's, exactly (a power of two): SGD at twice the
    learning rate takes the very same steps, and reports half the loss."""
    X, y = mg.data.make_xor_easy()
    config = SweepConfig(lr=0.2, hidden=4, activation="tanh", optimizer="sgd")
    histories = []
    for loss, lr in (("mse", 0.2), ("mse/2", 0.4)):
        model = config.build(2, 1)
        histories.append(mg.train.fit(model, X, y, loss, mg.optim.SGD(model.parameters(), lr=lr), 60,
                                      stop_at_accuracy=None, progress=False, file=io.StringIO()))
    mse, half = histories
    assert half.accuracy == mse.accuracy and half.epochs == 60
    assert half.loss == [0.5 * loss for loss in mse.loss]


@pytest.mark.parametrize("grid", [
    {**SMALL, "lr": 0.2, "momentum": [0.0, 0.9], "nesterov": [False, True]},  # (0, nesterov) is refused: not here
    {**SGD_FAST, "weight_decay": [0.0, 0.01, 0.1]},
    {**SMALL, "optimizer": "adam", "lr": 0.05, "betas": [None, (0.8, 0.99)], "weight_decay": [0.0, 0.01]},
    {**SMALL, "optimizer": "adamw", "lr": 0.05, "weight_decay": [0.0, 0.1], "betas": (0.8, 0.99)},
    {**SMALL, "optimizer": "rmsprop", "lr": 0.01, "momentum": [0.0, 0.5]},
    {**SMALL, "optimizer": "adagrad", "lr": [0.1, 0.5]},
    {**SMALL, "optimizer": ["adamax", "nadam", "radam"], "lr": 0.05, "weight_decay": [0.0, 0.01]},
    {**SMALL, "optimizer": "adadelta", "lr": [0.5, 1.0]},
], ids=["sgd-momentum-nesterov", "sgd-weight-decay", "adam", "adamw", "rmsprop", "adagrad", "adam-variants",
        "adadelta"])
def test_optimizers_and_their_options(grid):
    if "nesterov" in grid:
        grid = [{**grid, "momentum": 0.0, "nesterov": False}, {**grid, "momentum": 0.9}]
    result = _both(grid)
    assert len(set(_outcomes(result))) >= 2  # the options change the training
    for row in result.rows:  # and reaches the optimizer as given
        config = SweepConfig(**{key: row[key] for key in LAB_DEFAULTS})
        optimizer = config.optimizer_for(config.build(2, 0).parameters(), config.lr)
        assert type(optimizer) is mg.train.runs.OPTIMIZERS[row["optimizer"]]
        for option in ("momentum", "nesterov", "weight_decay"):
            if option in optimizer.defaults:
                assert optimizer.defaults[option] == row[option]
        if row["betas"] is not None:
            assert tuple(optimizer.defaults["betas"]) == row["betas"]


def test_adamw_without_weight_decay_is_adam():
    """weight_decay 0 means none, for AdamW too (whose own default is 0.01)."""
    result = _both({**FAST, "optimizer": ["adam", "adamw"], "weight_decay": [0.0, 0.05]}, epochs=150)
    adam, adam_decay, adamw, adamw_decay = _outcomes(result)
    assert adamw == adam and adamw_decay != adam_decay
    assert "reached" in adam


# -- no target accuracy -----------------------------------------------------------------------
def test_no_target_as_a_grid_key_trains_every_epoch():
    result = _both({**FAST, "stop_at_accuracy": [1.0, None]}, epochs=150)
    targeted, untargeted = result.rows
    assert targeted["statuses"] == ["reached", "reached"] and max(targeted["stop_epochs"]) < 150
    assert untargeted["stop_at_accuracy"] is None
    assert untargeted["stop_epoch_text"] == "-" and untargeted["never_converged"] == 0
    assert untargeted["mean_stop_epoch"] is None and untargeted["stop_epochs"] == [None, None]
    assert untargeted["statuses"] == ["completed", "completed"]
    # the same runs, carried on past the epoch that reached 100%: that epoch is still their best
    assert untargeted["best_accuracies"] == [1.0, 1.0]
    assert "-" in [cell.strip() for cell in result.to_markdown().splitlines()[3].split("|")]


def test_no_target_as_the_sweep_argument():
    X, y = mg.data.make_xor_easy()
    result = _both(FAST, epochs=80, stop_at_accuracy=None)
    assert result.stop_at_accuracy is None and "no target accuracy" in str(result)
    row = result.rows[0]
    assert row["stop_at_accuracy"] is None and row["stop_epoch_text"] == "-" and row["never_converged"] == 0
    assert row["statuses"] == ["completed", "completed"]
    config = SweepConfig(**{key: row[key] for key in LAB_DEFAULTS})
    for seed, best, final in zip(row["seeds"], row["best_accuracies"], row["final_accuracies"]):
        model = config.build(2, seed)
        history = mg.train.fit(model, X, y, config.loss, config.optimizer_for(model.parameters(), config.lr), 80,
                               stop_at_accuracy=None, progress=False, file=io.StringIO())
        assert history.epochs == 80 and history.status == "completed"
        assert (history.best_accuracy, history.final_accuracy) == (best, final)


# -- data sets --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["moons", "circles", "linear"])
def test_generated_data_sets(name):
    _, X, y = load_points(name, 40, 3)
    assert X.shape == (40, 2) and y.shape == (40, 1) and set(np.unique(y)) == {0.0, 1.0}
    result = _both(SMALL, name, n=40, data_seed=3)
    assert result.dataset == name
    for row in result.rows:  # accuracies are counts of the 40 points
        assert all(a in [k / 40 for k in range(41)] for a in row["best_accuracies"] + row["final_accuracies"])
    given = mg.train.sweep(SMALL, (X, y), seeds=2, epochs=200, progress=False, workers=1)
    assert _outcomes(given) == _outcomes(result)
    # Another data seed draws other points ("linear"), or at least another test split (moons
    # and circles are noise-free curves by default), and so other numbers.
    _, X_other, _ = load_points(name, 40, 4)
    held_out, other_held_out = split_points(X, y, 0.25, 3)[2], split_points(X_other, y, 0.25, 4)[2]
    assert not np.array_equal(X, X_other) or not np.array_equal(held_out, other_held_out)
    split = {seed: mg.train.sweep(SMALL, name, n=40, data_seed=seed, test_size=0.25, seeds=2, epochs=200,
                                  progress=False, workers=1) for seed in (3, 4)}
    assert _outcomes(split[3]) != _outcomes(split[4])


def _write_csv(path, X, y, header):
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        if header:
            writer.writerow([f"x{i}" for i in range(X.shape[1])] + ["label"])
        writer.writerows([*map(repr, map(float, point)), repr(int(label))] for point, label in zip(X, y.ravel()))


def test_points_from_files_equal_the_points_given(tmp_path):
    _, X, y = load_points("moons", 40, 3)
    expected = _both(SMALL, (X, y), epochs=150)
    _write_csv(tmp_path / "with_header.csv", X, y, header=True)
    _write_csv(tmp_path / "no_header.csv", X, y, header=False)
    np.savez(tmp_path / "points.npz", X=X, y=y.ravel())
    for path in (tmp_path / "with_header.csv", str(tmp_path / "no_header.csv"), tmp_path / "points.npz"):
        read_X, read_y = read_points(path)
        assert np.array_equal(read_X, X) and np.array_equal(read_y, y)
        result = _both(SMALL, path, epochs=150)
        assert result.dataset == Path(path).stem
        assert _outcomes(result) == _outcomes(expected)


# -- a held-out test split --------------------------------------------------------------------
def test_test_split(tmp_path):
    grid = {**SMALL, "lr": [0.5, 0.05]}
    result = _both(grid, "moons", n=40, data_seed=3, test_size=0.25)
    X_train, _, X_test, _ = split_points(*load_points("moons", 40, 3)[1:], 0.25, 3)
    assert (len(X_train), len(X_test)) == (30, 10)
    assert result.test_size == 0.25
    for row in result.rows:
        assert all(a in [k / 10 for k in range(11)] for a in row["test_accuracies"])
        assert all(a in [k / 30 for k in range(31)] for a in row["best_accuracies"])  # trained on the other 30
        assert row["mean_test_accuracy"] == pytest.approx(np.mean(row["test_accuracies"]))
    header = result.to_markdown().splitlines()[0]
    assert "test acc" in header
    assert "test acc" not in _both(grid, "moons", n=40, data_seed=3).to_markdown()
    result.to_csv(tmp_path / "t.csv")
    with open(tmp_path / "t.csv") as file:
        rows = list(csv.DictReader(file))
    assert [json.loads(r["test_accuracies"]) for r in rows] == [
        row["test_accuracies"] for row in result.rows]


# -- a Conv1d input layer ---------------------------------------------------------------------
def test_conv1d_input_layer():
    result = _both({**SMALL, "conv1d_channels": [0, 3]}, epochs=150)
    assert [row["conv1d_channels"] for row in result.rows] == [0, 3]
    assert len(set(_outcomes(result))) == 2
    model = SweepConfig(**{key: result.rows[1][key] for key in LAB_DEFAULTS}).build(2, 0)
    conv = [m for m in model.modules() if isinstance(m, nn.Conv1d)]
    assert len(conv) == 1 and conv[0].weight.shape == (3, 1, 2)


# -- the networks get their initialisation ----------------------------------------------------
def _config(**kwargs):
    return SweepConfig(**{**LAB_DEFAULTS, "hidden": 200, **kwargs})


def test_normal_and_uniform_initialisations_reach_the_weights():
    wide = _linears(_config(init="normal(0, 1)").build(2, 0))[1].weight.data  # 200 x 200
    assert abs(wide.std() - 1) < 0.02 and abs(wide.mean()) < 0.02
    default = _linears(_config().build(2, 0))[1].weight.data
    assert default.std() < 0.1  # PyTorch's: uniform in +-1/sqrt(200)
    for spec, low, high in (("uniform(0, 1)", 0, 1), ("uniform(-1, 1)", -1, 1)):
        layers = _linears(_config(init=spec).build(2, 0))
        for layer in layers:
            assert np.all((low <= layer.weight.data) & (layer.weight.data < high))
        wide = layers[1].weight.data
        assert wide.min() < low + 0.01 and wide.max() > high - 0.01
        # the biases keep PyTorch's default, drawn before the weights were redrawn
        for layer, reference in zip(layers, _linears(_config().build(2, 0))):
            assert np.array_equal(layer.bias.data, reference.bias.data)


@pytest.mark.parametrize(("spec", "bound"), [
    ("xavier", lambda fan_in, fan_out: math.sqrt(6 / (fan_in + fan_out))),
    ("kaiming", lambda fan_in, fan_out: math.sqrt(6 / fan_in)),  # leaky_relu(0): gain sqrt(2)
])
def test_xavier_and_kaiming_bounds(spec, bound):
    for layer in _linears(_config(init=spec).build(2, 0)):
        fan_out, fan_in = layer.weight.shape
        limit = bound(fan_in, fan_out)
        assert np.abs(layer.weight.data).max() <= limit
        if layer.weight.data.size >= 400:
            assert np.abs(layer.weight.data).max() > 0.95 * limit


def test_xavier_normal_and_bias_initialisations():
    wide = _linears(_config(init="xavier_normal").build(2, 0))[1].weight.data
    assert wide.std() == pytest.approx(math.sqrt(2 / 400), rel=0.03)
    layers = _linears(_config(bias_init="normal(0, 1)").build(2, 0))
    assert 0.8 < layers[0].bias.data.std() < 1.2  # 200 biases
    for layer, reference in zip(layers, _linears(_config().build(2, 0))):  # the weights keep the default
        assert np.array_equal(layer.weight.data, reference.weight.data)
    assert all(np.all(layer.bias.data == 0) for layer in _linears(_config(bias_init="zeros").build(2, 0)))


def test_no_bias_means_no_bias_parameters():
    for conv1d_channels in (0, 3):
        model = _config(hidden=(4,), bias=False, bias_init="normal(0, 1)", conv1d_channels=conv1d_channels).build(2, 0)
        names = list(_parameters(model))
        assert names and all(name.endswith("weight") for name in names)
    assert any(name.endswith("bias") for name in _parameters(_config(hidden=(4,)).build(2, 0)))


@pytest.mark.parametrize("init", ["default", "normal(0, 1)", "xavier"])
def test_build_is_deterministic_per_seed(init):
    config = _config(hidden=(5, 3), init=init, bias_init="uniform(-1, 1)", conv1d_channels=2)
    first, again, other = (_parameters(config.build(2, seed)) for seed in (7, 7, 8))
    assert list(first) == list(again) == list(other)
    assert all(np.array_equal(first[name], again[name]) for name in first)
    assert all(not np.array_equal(first[name], other[name]) for name in first)


# -- the pieces -------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_half_mse_is_half_of_mse_bit_for_bit(reduction):
    rng = np.random.default_rng(0)
    prediction, target = rng.normal(size=(7, 3)), rng.normal(size=(7, 3))
    results = []
    for loss in (lambda a, t: nn.HalfMSELoss(reduction=reduction)(a, t),
                 lambda a, t: 0.5 * nn.MSELoss(reduction=reduction)(a, t)):
        a = mg.tensor(prediction, requires_grad=True)
        value = loss(a, mg.tensor(target))
        value.backward()
        results.append((float(value.item()), np.array(a.grad)))
    (half, half_grad), (reference, reference_grad) = results
    assert half == reference and np.array_equal(half_grad, reference_grad)
    n = prediction.size if reduction == "mean" else 1
    assert half == pytest.approx(np.sum((prediction - target) ** 2) / (2 * n))
    np.testing.assert_allclose(half_grad, (prediction - target) / n)


def test_unflatten():
    x = mg.tensor(np.arange(12.0).reshape(2, 6), requires_grad=True)
    out = nn.Unflatten(1, (2, 3))(x)
    assert out.shape == (2, 2, 3) and np.array_equal(out.data, np.arange(12.0).reshape(2, 2, 3))
    weights = np.random.default_rng(1).normal(size=(2, 2, 3))
    (out * mg.tensor(weights)).sum().backward()
    assert np.array_equal(x.grad, weights.reshape(2, 6))
    assert nn.Unflatten(-1, (3, 1, 2))(x).shape == (2, 3, 1, 2)
    with pytest.raises(ValueError, match=r"Unflatten\(1, \(4, 2\)\): cannot split axis 1 of an input of shape "
                                         r"\(2, 6\) into \(4, 2\)"):
        nn.Unflatten(1, (4, 2))(x)
    with pytest.raises(ValueError, match="cannot split axis 2"):
        nn.Unflatten(2, (6,))(x)


# -- bad values -------------------------------------------------------------------------------
def _one_clear_error(message, grid=None, dataset="xor", **kwargs):
    with pytest.raises(ValueError, match=message) as error:
        mg.train.sweep(grid or {"hidden": 3}, dataset, seeds=1, epochs=5, progress=False, workers=1, **kwargs)
    assert str(error.value).startswith("sweep: ") and "\n" not in str(error.value)
    return str(error.value)


@pytest.mark.parametrize(("grid", "message"), [
    ({"init": "gaussian"}, "unknown initialisation 'gaussian'"),
    ({"init": "normal(0, x)"}, r"initialisation 'normal\(0, x\)': arguments must be numbers or strings"),
    ({"init": "normal(1, 2, 3, 4)"},
     r"initialisation 'normal\(1, 2, 3, 4\)': too many positional arguments; normal takes \(mean=0.0, std=1.0\)$"),
    ({"init": "kaiming_normal(foo=1)"},
     r"unexpected keyword argument 'foo'; kaiming_normal takes \(a=0.0, mode='fan_in', nonlinearity='leaky_relu'\)$"),
    ({"bias_init": "xavier"}, "bias_init='xavier': fan in and fan out need a weight with at least 2 dimensions"),
    ({"bias_init": "kaiming"}, "bias_init='kaiming': fan in and fan out"),
    ({"optimizer": "adam", "momentum": 0.9}, "optimizer 'adam' has no option 'momentum'"),
    ({"optimizer": "adagrad", "betas": (0.8, 0.9)}, "optimizer 'adagrad' has no option 'betas'"),
    ({"optimizer": "rmsprop", "momentum": 0.9, "nesterov": True}, "optimizer 'rmsprop' has no option 'nesterov'"),
    ({"nesterov": True}, r"nesterov=True needs momentum > 0"),
    ({"betas": (1.5, 0.9)}, r"'betas' must be a pair of numbers in \[0, 1\)"),
    ({"hidden": ()}, "grid key 'hidden' has no values"),
    ({"hidden": [()]}, r"'hidden' must be a positive integer .* got \(\)"),
    ({"hidden": [(0,)]}, r"'hidden' must be a positive integer .* got \(0,\)"),
    ({"hidden": (0,)}, "'hidden' must be a positive integer"),
    ({"loss": "hinge"}, "unknown loss 'hinge'"),
    ({"loss": "bce", "output_activation": "relu"}, "loss 'bce' needs probabilities, but output_activation 'relu'"),
    ({"loss": "bce", "output_activation": "none"}, "use output_activation 'sigmoid', or loss 'bce_with_logits'"),
    ({"conv1d_channels": -1}, "'conv1d_channels' must be an integer >= 0"),
    ({"stop_at_accuracy": 0}, r"stop_at_accuracy must be a number in \(0, 1\]"),
    ({"stop_at_accuracy": 2}, r"stop_at_accuracy must be a number in \(0, 1\]"),
])
def test_bad_grid_values(grid, message):
    _one_clear_error(message, grid)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"stop_at_accuracy": 0}, r"stop_at_accuracy must be a number in \(0, 1\]"),
    ({"stop_at_accuracy": 2}, r"stop_at_accuracy must be a number in \(0, 1\]"),
    ({"test_size": 0}, r"test_size must be a fraction in \(0, 1\)"),
    ({"test_size": 1}, r"test_size must be a fraction in \(0, 1\)"),
])
def test_bad_sweep_arguments(kwargs, message):
    _one_clear_error(message, **kwargs)


def test_bad_data_files(tmp_path):
    (tmp_path / "labels.csv").write_text("x,y,label\n0,0,0\n1,1,2\n")
    (tmp_path / "ragged.csv").write_text("0,0,1\n1,1\n")
    np.savez(tmp_path / "no_x.npz", points=np.zeros((3, 2)), y=np.zeros(3))
    (tmp_path / "points.txt").write_text("0,0,0\n1,1,1\n")
    cases = [(tmp_path / "missing.csv", "No such file"), (tmp_path / "labels.csv", "labels 0 or 1"),
             (tmp_path / "ragged.csv", "rows of different lengths"),
             (tmp_path / "no_x.npz", r"has no array X \(it has points, y\)"), (tmp_path / "points.txt", "neither")]
    for path, message in cases:
        with pytest.raises(ValueError, match=message) as error:
            read_points(path)
        assert str(error.value).startswith(f"data file {path}: ")
        _one_clear_error(message, dataset=path)
        if path.suffix != ".txt":
            assert str(path) in _one_clear_error(message, dataset=str(path))
    # a name that is neither a data set nor a .csv/.npz file
    _one_clear_error(r"unknown data set '.*points\.txt': use .* or a \.csv/\.npz file",
                     dataset=str(tmp_path / "points.txt"))


def test_every_optimizer_in_optim_is_a_run_and_sweep_option():
    from microgradnp import cli

    in_optim = {cls for name in mg.optim.__all__ if isinstance(cls := getattr(mg.optim, name), type)
                and issubclass(cls, mg.optim.Optimizer) and cls is not mg.optim.Optimizer}
    # LBFGS is not a run option: its step(closure) re-evaluates the loss several times per
    # step (a line search), which a run's one-backward-per-epoch loop does not give it.
    # Muon takes 2-D weights only, and a run optimizes the biases with the same optimizer.
    not_run_options = {mg.optim.LBFGS, mg.optim.Muon}
    assert set(mg.train.runs.OPTIMIZERS.values()) == in_optim - not_run_options
    assert tuple(mg.train.runs.OPTIMIZERS) == cli.OPTIMIZERS


def test_every_initialiser_in_nn_init_is_a_run_option():
    fills = {getattr(mg.nn.init, name) for name in mg.nn.init.__all__ if name.endswith("_")}
    assert set(mg.train.runs.INITS.values()) == fills
    model = mg.train.runs.build_model(2, hidden=(3, 3), init="orthogonal(gain=2.0)", bias_init="trunc_normal(std=0.1)",
                                      seed=0)
    weight = model.fc2.weight.data
    np.testing.assert_allclose(weight @ weight.T, 4 * np.eye(3), atol=1e-12)
    assert np.all(np.abs(model.fc1.bias.data) <= 0.2)


def test_csv_files_from_spreadsheets_keep_every_point(tmp_path):
    rows = "0,0,0\n1,1,1\n0,1,1\n1,0,0\n"
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + rows.encode())  # Excel's "CSV UTF-8"
    (tmp_path / "header.csv").write_text("x,y,label\n" + rows)
    for name in ("bom.csv", "header.csv"):
        X, y = read_points(tmp_path / name)
        assert X.shape == (4, 2) and y.ravel().tolist() == [0.0, 1.0, 1.0, 0.0]
    (tmp_path / "gap_first.csv").write_text("0.5,,1\n" + rows)
    (tmp_path / "gap_later.csv").write_text(rows + "1,x,1\n")
    with pytest.raises(ValueError, match="line 1, column 2 is empty"):
        read_points(tmp_path / "gap_first.csv")
    with pytest.raises(ValueError, match="line 5, column 2 is 'x', not a number"):
        read_points(tmp_path / "gap_later.csv")


def test_an_x_y_pair_is_checked_as_a_file_is():
    X, y = mg.data.make_xor_easy()
    bad_X = X.copy()
    bad_X[3, 0] = np.nan
    for pair, message in (((X, y + 1), "label 1 is 2.0"), ((bad_X, y), "point 3 is")):
        with pytest.raises(ValueError, match=message):
            mg.train.sweep({"lr": 0.5}, pair, seeds=1, epochs=2, workers=1, progress=False)
