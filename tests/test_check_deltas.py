"""check_backprop(..., hand_deltas=...): the student's per-layer deltas dL/dz against
autograd's, and the first wrong one from the output named as the line with the error.

The student code below is the lab's backprop, written in plain NumPy in the lab's layout
(W of shape (in, out), z = a @ W + b, one row per sample), with the slips students make."""

from __future__ import annotations

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import nn


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# Each activation with its derivative written, as in the lab, with the activation's output a.
ACTIVATIONS = {
    "sigmoid": (sigmoid, lambda a: a * (1.0 - a)),
    "tanh": (np.tanh, lambda a: 1.0 - a**2),
    "relu": (lambda z: np.maximum(z, 0.0), lambda a: (a > 0).astype(float)),
    "none": (lambda z: z, lambda a: np.ones_like(a)),
}


def lab_model(activation="sigmoid", output_activation="sigmoid", seed=0):
    return nn.MLP(2, (50, 50), 1, activation=activation, output_activation=output_activation, rng=seed)


def lab_params(model):
    """The model's initial weights in the lab's (in, out) layout."""
    params = {}
    for i in (1, 2, 3):
        layer = getattr(model, f"fc{i}")
        params[f"W{i}"], params[f"b{i}"] = layer.weight.data.T.copy(), layer.bias.data.copy()
    return params


def student_backprop(p, X, y, activation="sigmoid", output_activation="sigmoid", slip=None, slip_layer=None,
                     loss_scale=None):
    """The lab's backprop by hand; returns (grads, deltas) with the lab's names.

    ``slip="z"`` applies the derivative of layer ``slip_layer`` to z instead of a;
    ``slip="sigmoid(a)"`` uses a derivative written for z, sigmoid(z) (1 - sigmoid(z)),
    on a; ``loss_scale`` replaces the 1/N of the mean."""
    acts = [activation, activation, output_activation]
    a, z = [X], []
    for i in (1, 2, 3):
        z.append(a[-1] @ p[f"W{i}"] + p[f"b{i}"])
        a.append(ACTIVATIONS[acts[i - 1]][0](z[-1]))

    def derivative(layer):
        derivative_of_output = ACTIVATIONS[acts[layer - 1]][1]
        if layer != slip_layer:
            return derivative_of_output(a[layer])
        if slip == "z":
            return derivative_of_output(z[layer - 1])
        if slip == "sigmoid(a)":
            return sigmoid(a[layer]) * (1.0 - sigmoid(a[layer]))
        raise AssertionError(slip)

    scale = 1.0 / len(X) if loss_scale is None else loss_scale
    delta3 = 2 * scale * (a[3] - y) * derivative(3)
    delta2 = (delta3 @ p["W3"].T) * derivative(2)
    delta1 = (delta2 @ p["W2"].T) * derivative(1)
    grads = {"W3": a[2].T @ delta3, "b3": delta3.sum(axis=0), "W2": a[1].T @ delta2, "b2": delta2.sum(axis=0),
             "W1": X.T @ delta1, "b1": delta1.sum(axis=0)}
    return grads, {"delta1": delta1, "delta2": delta2, "delta3": delta3}


def run(activation="sigmoid", output_activation="sigmoid", dataset="xor", **slip):
    """(model, X, y, grads, deltas) for the lab network and the student's backprop."""
    X, y = mg.data.make_xor_easy() if dataset == "xor" else mg.data.make_linear(100, rng=0)
    model = lab_model(activation, output_activation)
    grads, deltas = student_backprop(lab_params(model), X, y, activation, output_activation, **slip)
    return model, X, y, grads, deltas


def statuses(report):
    return {row.name: row.status for row in report.deltas}


# -- correct deltas -------------------------------------------------------------------------------
@pytest.mark.parametrize(("activation", "output_activation"),
                         [("sigmoid", "sigmoid"), ("tanh", "sigmoid"), ("relu", "sigmoid"), ("tanh", "tanh"),
                          ("relu", "none")])
@pytest.mark.parametrize("dataset", ["xor", "linear"])
def test_correct_deltas_pass(activation, output_activation, dataset, capsys):
    model, X, y, grads, deltas = run(activation, output_activation, dataset)
    report = mg.check_backprop(model, X, y, nn.MSELoss(), grads, hand_deltas=deltas)
    assert report.ok and report.first_wrong_delta is None and report.diagnosis == ""
    assert [(row.name, row.layer, row.status) for row in report.deltas] == [
        ("delta3", "fc3", "OK"), ("delta2", "fc2", "OK"), ("delta1", "fc1", "OK")]  # output layer first
    assert [row.shape for row in report.deltas] == [(len(X), 1), (len(X), 50), (len(X), 50)]
    assert all(row.relative_error < 1e-12 for row in report.deltas)
    printed = capsys.readouterr().out
    assert "delta2 (fc2)" in printed and f"{len(X)}x50" in printed and "WRONG" not in printed


def test_the_relu_slip_is_no_error():
    """(z > 0) and (relu(z) > 0) are the same mask: the check must not cry wolf."""
    model, X, y, grads, deltas = run("relu", slip="z", slip_layer=2)
    assert mg.check_backprop(model, X, y, "mse", grads, hand_deltas=deltas, verbose=False).ok


# -- the first wrong delta names the line ------------------------------------------------------
@pytest.mark.parametrize("slip", ["z", "sigmoid(a)"])
def test_the_classic_sigmoid_slip_in_layer_2_is_pointed_at_delta2(slip, capsys):
    model, X, y, grads, deltas = run(slip=slip, slip_layer=2)
    report = mg.check_backprop(model, X, y, nn.MSELoss(), grads, hand_deltas=deltas)
    assert statuses(report) == {"delta3": "OK", "delta2": "WRONG", "delta1": "WRONG"}
    first = report.first_wrong_delta
    assert (first.name, first.layer, first.index, first.activation) == ("delta2", "fc2", 2, "sigmoid")
    assert first.factor is None  # not a scaling slip
    assert report.diagnosis.startswith(
        "delta2 (fc2's pre-activation gradient) is wrong; delta3 is right: the error is in the line computing delta2 "
        "from delta3 — check the activation derivative of layer 2 (is it applied to the activation a2 = "
        "sigmoid(z2), or to z2?)")
    assert "delta1 is computed from delta2, so it is wrong too" in report.diagnosis
    # the parameter table is the one it always was, the deltas and the diagnosis below it
    assert [row.name for row in report.wrong] == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "delta2",
                                                  "delta1"]
    printed = capsys.readouterr().out
    assert printed.index("fc3.bias (as b3)") < printed.index("delta3 (fc3)") < printed.index("is in the line")


def test_the_slip_in_a_tanh_layer_names_tanh():
    model, X, y, grads, deltas = run("tanh", slip="z", slip_layer=1)
    report = mg.check_backprop(model, X, y, "mse", grads, hand_deltas=deltas, verbose=False)
    assert statuses(report) == {"delta3": "OK", "delta2": "OK", "delta1": "WRONG"}
    assert "delta1 (fc1's pre-activation gradient) is wrong; delta2 is right" in report.diagnosis
    assert "a1 = tanh(z1), or to z1?" in report.diagnosis


def test_a_slip_in_the_output_layer_names_delta3():
    model, X, y, grads, deltas = run(slip="z", slip_layer=3)
    report = mg.check_backprop(model, X, y, "mse", grads, hand_deltas=deltas, verbose=False)
    assert statuses(report) == {"delta3": "WRONG", "delta2": "WRONG", "delta1": "WRONG"}
    assert report.first_wrong_delta.name == "delta3"
    assert report.diagnosis.startswith("delta3 (fc3's pre-activation gradient) is wrong: the error is in the line "
                                       "computing delta3, at the output — check the loss derivative dL/dy_hat "
                                       "(2/N (y_hat - y) for this loss, N = 21)")
    assert "y_hat = sigmoid(z3), or to z3?" in report.diagnosis
    assert "delta2, delta1 are computed from delta3, so they are wrong too" in report.diagnosis


def test_only_some_deltas_given():
    """With delta3 left out, delta2 is still the first wrong one, but its line is not proven guilty."""
    model, X, y, _, deltas = run(slip="z", slip_layer=2)
    report = mg.check_backprop(model, X, y, "mse", hand_deltas={"delta2": deltas["delta2"]}, verbose=False)
    assert statuses(report) == {"delta3": "not given", "delta2": "WRONG", "delta1": "not given"}
    assert "delta3 was not given, so the error is in the line computing delta2 from delta3 or above it" \
        in report.diagnosis


def test_right_deltas_and_a_wrong_weight_gradient_point_at_that_line():
    model, X, y, grads, deltas = run()
    grads["W2"] = grads["W2"] * 2  # a slip in dW2 only
    report = mg.check_backprop(model, X, y, "mse", grads, hand_deltas=deltas, verbose=False)
    assert [row.name for row in report.wrong] == ["fc2.weight"] and report.first_wrong_delta is None
    assert report.diagnosis == ("fc2.weight is wrong but delta2 is right: the error is in the line computing it from "
                                "delta2 (dW2 = a1.T @ delta2, with a0 = X).")


# -- a constant factor ---------------------------------------------------------------------------
@pytest.mark.parametrize(("scale", "factor", "explanation"), [
    (1.0, 21, "N = 21, the number of samples: the 1/N of the mean is missing; the loss summed instead of averaged?"),
    (1 / 21**2, 1 / 21, "1/N, N = 21, the number of samples: divided by N once too often?"),
    (-1 / 21, -1, "the sign is flipped"),
])
def test_a_scaling_slip_is_reported_as_a_constant_factor(scale, factor, explanation):
    model, X, y, grads, deltas = run(loss_scale=scale)
    report = mg.check_backprop(model, X, y, nn.MSELoss(), grads, hand_deltas=deltas, verbose=False)
    assert statuses(report) == {"delta3": "WRONG", "delta2": "WRONG", "delta1": "WRONG"}
    assert [row.factor for row in report.deltas] == pytest.approx([factor] * 3, rel=1e-9)
    assert report.diagnosis.startswith(f"delta3 (fc3's pre-activation gradient) is {mg.check._number(factor)} "
                                       f"times autograd's ({explanation}")
    assert "check the scale of the loss derivative" in report.diagnosis
    assert "delta2, delta1 carry the same factor, inherited from delta3" in report.diagnosis
    assert f"WRONG ({mg.check._number(factor)} x autograd)" in str(report)


def test_a_factor_is_not_claimed_for_an_error_that_is_no_multiple():
    model, X, y, _, deltas = run(slip="z", slip_layer=2)
    report = mg.check_backprop(model, X, y, "mse", hand_deltas=deltas, verbose=False)
    assert all(row.factor is None for row in report.deltas)
    assert "x autograd" not in str(report)


# -- strict ---------------------------------------------------------------------------------------
def test_strict_raises_naming_the_layer():
    model, X, y, grads, deltas = run(slip="z", slip_layer=2)
    with pytest.raises(AssertionError, match=r"^check_backprop: delta2 \(fc2's pre-activation gradient\) is wrong"):
        mg.check_backprop(model, X, y, "mse", grads, hand_deltas=deltas, strict=True, verbose=False)
    model, X, y, grads, deltas = run()
    assert mg.check_backprop(model, X, y, "mse", grads, hand_deltas=deltas, strict=True, verbose=False).ok


# -- the forms hand_deltas takes ----------------------------------------------------------------------
def test_the_forms_of_hand_deltas_agree():
    model, X, y, _, deltas = run(slip="z", slip_layer=2)
    d1, d2, d3 = deltas["delta1"], deltas["delta2"], deltas["delta3"]
    forms = [deltas, [d1, d2, d3], (d1, d2, d3), {"fc1": d1, "fc2": d2, "fc3": d3},
             {"d1": d1, "delta_2": d2, "delta3": d3.ravel()},  # (N,) for the one-unit output layer
             lambda: {"delta1": lambda: d1, "delta2": d2, "delta3": d3}]
    for form in forms:
        report = mg.check_backprop(model, X, y, "mse", hand_deltas=form, verbose=False)
        assert statuses(report) == {"delta3": "OK", "delta2": "WRONG", "delta1": "WRONG"}, form
        assert len(report) == 0  # deltas alone: no parameter rows
    assert str(report).startswith("delta (layer)")


def test_without_deltas_the_output_is_unchanged(capsys):
    model, X, y, grads, _ = run(slip="z", slip_layer=2)
    report = mg.check_backprop(model, X, y, "mse", grads)
    printed = capsys.readouterr().out
    assert report.deltas == [] and report.diagnosis == ""
    assert printed.startswith("parameter") and "delta" not in printed and printed.count("WRONG") == 4


def test_a_sequential_and_a_custom_module_are_numbered_in_call_order():
    X, y = mg.data.make_xor_easy()
    sequential = nn.Sequential(nn.Linear(2, 8, rng=0), nn.Tanh(), nn.Linear(8, 1, rng=1))
    report = mg.check_backprop(sequential, X, y, "mse", hand_deltas={"0": np.zeros((21, 8))}, verbose=False)
    assert [(row.name, row.layer, row.activation) for row in report.deltas] == [("delta2", "2", "none"),
                                                                                ("delta1", "0", "tanh")]
    assert "delta1 (Linear 0)" in str(report)  # not "delta1 (0)"

    class OutputFirst(nn.Module):
        """Registers its output layer first: the deltas still follow the forward pass."""

        def __init__(self):
            super().__init__()
            self.head = nn.Linear(4, 1, rng=0)
            self.body = nn.Linear(2, 4, rng=1)

        def forward(self, x):
            return mg.sigmoid(self.head(mg.relu(self.body(x))))

    model = OutputFirst()
    body = model.body.weight.data.T
    z1 = X @ body + model.body.bias.data
    a1 = np.maximum(z1, 0)
    y_hat = sigmoid(a1 @ model.head.weight.data.T + model.head.bias.data)
    delta2 = 2 / len(X) * (y_hat - y) * y_hat * (1 - y_hat)
    delta1 = (delta2 @ model.head.weight.data) * (z1 > 0)
    report = mg.check_backprop(model, X, y, "mse", hand_deltas=[delta1, delta2], verbose=False)
    assert report.ok and [(row.name, row.layer) for row in report.deltas] == [("delta2", "head"), ("delta1", "body")]
    wrong = mg.check_backprop(model, X, y, "mse", hand_deltas={"body": delta1 * 3, "head": delta2}, verbose=False)
    assert wrong.first_wrong_delta.layer == "body" and "the 0/1 mask (z1 > 0)" in wrong.diagnosis


# -- bad input ------------------------------------------------------------------------------------
def test_bad_hand_deltas_give_one_clear_error():
    model, X, y, _, deltas = run()

    def check(hand_deltas, **kwargs):
        return mg.check_backprop(model, X, y, "mse", hand_deltas=hand_deltas, verbose=False, **kwargs)

    with pytest.raises(KeyError, match=r"names no layer 'delta4'; use delta1 \.\. delta3 .*\['fc1', 'fc2', 'fc3'\]"):
        check({"delta4": deltas["delta1"]})
    with pytest.raises(KeyError, match="names no layer 'W1'"):
        check({"W1": deltas["delta1"]})
    with pytest.raises(ValueError, match=r"'delta2' has shape \(7,\), but fc2's pre-activation z has shape "
                                         r"\(21, 50\) \(samples, units\)$"):
        check({"delta2": np.zeros(7)})
    with pytest.raises(ValueError, match=r"'delta2' has shape \(50, 21\).*: it is transposed"):
        check({"delta2": deltas["delta2"].T})
    with pytest.raises(ValueError, match=r"has 2 deltas but the model has 3 Linear layers \(fc1, fc2, fc3\)"):
        check([deltas["delta1"], deltas["delta2"]])
    with pytest.raises(ValueError, match="gives layer 1 \\(fc1\\) twice, as 'delta1' and 'fc1'"):
        check({"delta1": deltas["delta1"], "fc1": deltas["delta1"]})
    with pytest.raises(ValueError, match="the hand delta 'delta3' is None"):
        check({"delta3": lambda: None})
    with pytest.raises(ValueError, match="hand_deltas is empty"):
        check({})
    with pytest.raises(TypeError, match="hand_deltas must be a dict of layer name -> delta, or a list"):
        check(deltas["delta1"])
    with pytest.raises(ValueError, match="nothing to check; give hand_grads"):
        mg.check_backprop(model, X, y, "mse", verbose=False)

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2, rng=0)

        def forward(self, x):
            return self.fc(mg.tanh(self.fc(x)))

    with pytest.raises(ValueError, match="layer 'fc' is called 2 times in the forward pass"):
        mg.check_backprop(Twice(), X, np.zeros((21, 2)), "mse", hand_deltas=[np.zeros((21, 2))] * 2, verbose=False)
