"""Fixes in the teaching tools: gradcheck with NaN, check_backprop's layouts, backward_steps
with hooks, draw_graph's collapsed edges, and clear errors of render and plots."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import nn
from microgradnp.train.fit import History
from microgradnp.viz import backward_steps
from microgradnp.viz.graph import _format


# -- gradcheck: a NaN never agrees ------------------------------------------------------------
class Sigmoid(mg.Function):
    """A sigmoid whose backward is ``scale`` times too large, with ``bad`` (NaN) at ``nan_at``."""

    scale, nan_at, bad = 5.0, (0,), np.nan

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(out := np.tanh(x / 2) / 2 + 0.5)
        return out

    @staticmethod
    def backward(ctx, grad):
        result = Sigmoid.scale * grad * ctx.saved_tensors[0] * (1 - ctx.saved_tensors[0])
        result[list(Sigmoid.nan_at)] = Sigmoid.bad
        return result


def test_gradcheck_fails_on_a_nan_analytic_gradient(monkeypatch):
    x = mg.tensor([0.1, 0.2, 0.3], requires_grad=True)
    with pytest.raises(mg.GradcheckError, match=r"index \(0,\): analytic nan.*NaN never matches"):
        mg.gradcheck(Sigmoid.apply, [x])
    assert mg.gradcheck(Sigmoid.apply, [x], raise_exception=False) is False
    monkeypatch.setattr(Sigmoid, "nan_at", (0, 1, 2))  # every entry NaN
    with pytest.raises(mg.GradcheckError):
        mg.gradcheck(Sigmoid.apply, [x])
    monkeypatch.setattr(Sigmoid, "scale", 1.0)  # right where not NaN: the NaN alone fails
    monkeypatch.setattr(Sigmoid, "nan_at", (2,))
    with pytest.raises(mg.GradcheckError, match=r"index \(2,\)"):
        mg.gradcheck(Sigmoid.apply, [x])
    monkeypatch.setattr(Sigmoid, "nan_at", ())
    assert mg.gradcheck(Sigmoid.apply, [x])


def test_gradcheck_agrees_with_torch_on_nan():
    torch = pytest.importorskip("torch")

    class TorchSigmoid(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(out := torch.sigmoid(x))
            return out

        @staticmethod
        def backward(ctx, grad):
            result = grad * ctx.saved_tensors[0] * (1 - ctx.saved_tensors[0])
            result[0] = float("nan")
            return result

    x = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(TorchSigmoid.apply, (x,), raise_exception=False) is False
    Sigmoid.scale, Sigmoid.nan_at = 1.0, (0,)
    try:
        assert mg.gradcheck(Sigmoid.apply, [mg.tensor([0.1, 0.2, 0.3], requires_grad=True)],
                            raise_exception=False) is False
    finally:
        Sigmoid.scale, Sigmoid.nan_at = 5.0, (0,)


def test_gradcheck_an_infinite_analytic_gradient_fails_and_says_why(monkeypatch):
    monkeypatch.setattr(Sigmoid, "scale", 1.0)
    monkeypatch.setattr(Sigmoid, "bad", np.inf)
    with pytest.raises(mg.GradcheckError, match=r"index \(0,\): analytic inf.*not finite"):
        mg.gradcheck(Sigmoid.apply, [mg.tensor([0.1, 0.2, 0.3], requires_grad=True)])


def test_gradgradcheck_fails_on_a_nan_derivative():
    x = mg.tensor([0.5, 1.5], requires_grad=True)
    nan = mg.tensor([np.nan, 0.0])

    def fn(t):
        # The first derivative, 2t + nan * 0, is NaN at entry 0 (so are its finite
        # differences): a NaN never agrees, as in torch.allclose.
        return t * t + (nan * t) * 0.0

    with pytest.raises(mg.GradcheckError):
        mg.gradgradcheck(fn, [x])
    assert mg.gradgradcheck(fn, [x], raise_exception=False) is False


# -- check_backprop: the lab's (in, out) layout of square weights ------------------------------
def autograd_gradients(model, X, y, layout: str) -> dict:
    """autograd's gradients as the lab's dict W1, b1, ... in ``layout`` ("in, out" or "out, in")."""
    model.zero_grad()
    nn.MSELoss()(model(mg.tensor(X)), y).backward()
    grads = {}
    for name, parameter in model.named_parameters():
        layer, _, kind = name.partition(".")
        key = ("W" if kind == "weight" else "b") + layer.removeprefix("fc")
        grads[key] = parameter.grad.T.copy() if kind == "weight" and layout == "in, out" else parameter.grad.copy()
    model.zero_grad()
    return grads


def test_a_square_weight_given_alone_in_the_labs_layout_is_ok():
    X, y = mg.data.make_xor_easy()
    model = nn.MLP(2, (50, 50), 1, rng=0)
    g = autograd_gradients(model, X, y, "in, out")
    report = mg.check_backprop(model, X, y, nn.MSELoss(), {"W2": g["W2"], "b2": g["b2"]}, verbose=False)
    assert report.ok
    assert report[2].note == "as W2, transposed"
    slipped = {"W2": g["W2"] * 1.01, "b2": g["b2"]}  # a real slip is still WRONG
    assert [row.name for row in mg.check_backprop(model, X, y, "mse", slipped, verbose=False).wrong] == ["fc2.weight"]


@pytest.mark.parametrize("sizes", [(3, (3,), 3), (2, (2, 2), 2)])
def test_all_square_weights_follow_the_key_style_and_a_doubtful_layout_is_said(sizes):
    rng = np.random.default_rng(0)
    model = nn.MLP(sizes[0], sizes[1], sizes[2], rng=1)
    X, y = rng.uniform(-1, 1, (5, sizes[0])), rng.uniform(0, 1, (5, sizes[2]))
    lab = autograd_gradients(model, X, y, "in, out")
    assert mg.check_backprop(model, X, y, "mse", lab, verbose=False).ok  # lab keys: (in, out)
    own = autograd_gradients(model, X, y, "out, in")
    by_name = {name: own[("W" if kind == "weight" else "b") + layer[2:]]
               for name in dict(model.named_parameters()) for layer, _, kind in [name.partition(".")]}
    assert mg.check_backprop(model, X, y, "mse", by_name, verbose=False).ok  # parameter names: (out, in)
    # Lab keys with (out, in) weights: the shapes cannot tell, so it says so instead of WRONG.
    with pytest.raises(ValueError, match=r"'W1' .* matches it transposed.*every weight given is square"
                                         r"|'W1' .* matches it transposed.*shapes cannot tell"):
        mg.check_backprop(model, X, y, "mse", own, verbose=False)


def test_a_square_weight_in_the_other_layout_than_the_others_is_wrong_with_a_hint():
    rng = np.random.default_rng(0)
    model = nn.MLP(2, (4, 4), 1, rng=1)
    X, y = rng.uniform(-1, 1, (6, 2)), rng.uniform(0, 1, (6, 1))
    g = autograd_gradients(model, X, y, "in, out")
    g["W2"] = g["W2"].T  # W1 and W3 decide the layout: W2 is WRONG in it, with a hint
    report = mg.check_backprop(model, X, y, "mse", g, verbose=False)
    assert [row.name for row in report.wrong] == ["fc2.weight"]
    assert report[2].note == "as W2, transposed, right if read (out, in)"


def test_mixed_layouts_name_the_weights_of_each_layout():
    rng = np.random.default_rng(0)
    model = nn.MLP(2, (5, 4), 1, rng=1)
    X, y = rng.uniform(-1, 1, (6, 2)), rng.uniform(0, 1, (6, 1))
    g = autograd_gradients(model, X, y, "in, out")
    g["W1"] = g["W1"].T  # the slip is in W1
    with pytest.raises(ValueError, match=r"two layouts: 'W2', 'W3' \(in, out\).*but 'W1' \(out, in\)") as caught:
        mg.check_backprop(model, X, y, "mse", g, verbose=False)
    assert "fc2.weight" not in str(caught.value)


def test_keys_that_are_not_str_or_name_one_parameter_twice_get_one_clear_error():
    rng = np.random.default_rng(0)
    model = nn.MLP(2, (5, 4), 1, rng=1)
    X, y = rng.uniform(-1, 1, (6, 2)), rng.uniform(0, 1, (6, 1))
    g = autograd_gradients(model, X, y, "in, out")
    with pytest.raises(TypeError, match=r"keys of hand_grads are parameter names \(str\).*got 1 \(int\)"):
        mg.check_backprop(model, X, y, "mse", {1: g["W1"]}, verbose=False)
    with pytest.raises(ValueError, match=r"gives 'fc1.weight' twice, as 'W1' and 'fc1.weight'"):
        mg.check_backprop(model, X, y, "mse", {"W1": g["W1"], "fc1.weight": g["W1"].T}, verbose=False)


# -- backward_steps: gradients after hooks ----------------------------------------------------------
def box_text(step, name: str) -> str:
    return next(label for label in re.findall(r'label="((?:[^"\\]|\\.)*)"', step.graph.source)
                if label.startswith(name + "\n"))


def test_frames_show_a_leafs_gradient_after_its_hook_as_backward_does():
    w = mg.tensor([1.0, 2.0], requires_grad=True, name="w")
    calls = []
    w.register_hook(lambda g: calls.append(1) or g * 10)
    loss = (w * w).sum()
    steps = backward_steps(loss)
    assert len(calls) == 1  # the hook ran once, as in backward
    loss.backward()
    np.testing.assert_array_equal(w.grad, [20.0, 40.0])
    assert box_text(steps[-1], "w").endswith("\ngrad " + _format(w.grad))
    assert not w._hooks or len(w._hooks) == 1  # nothing of the walk is left on the tensor


def test_frames_show_an_intermediates_gradient_after_its_hook_as_backward_does():
    w = mg.tensor([1.0, 2.0], requires_grad=True, name="w")
    h = w * 3.0
    h.name = "h"
    h.retain_grad()
    h.register_hook(lambda g: g * 10)
    loss = (h * h).sum()
    steps = backward_steps(loss)
    h_frame = next(step for step in steps if step.operation == "mul" and step.tensor is h)
    loss.backward()
    np.testing.assert_array_equal(h.grad, [60.0, 120.0])
    np.testing.assert_array_equal(h_frame.grad_in, h.grad)  # what its operation receives
    assert box_text(h_frame, "h").endswith("\ngrad " + _format(h.grad))
    assert box_text(steps[-1], "w").endswith("\ngrad " + _format(w.grad))


# -- draw_graph: one edge per target from the summary node ------------------------------------
def test_collapsed_inputs_make_one_edge_per_target_labelled_with_their_count():
    xs = [mg.tensor(float(i), requires_grad=True) for i in range(300)]
    source = mg.viz.draw_graph(mg.stack(xs).sum(), max_nodes=30).source
    edges = re.findall(r"^\s*collapsed -> (\w+)(.*)$", source, flags=re.M)
    assert max(Counter(target for target, _ in edges).values()) == 1
    counts = {target: re.search(r"label=x(\d+)", attrs) for target, attrs in edges}
    labelled = {target: int(match.group(1)) for target, match in counts.items() if match}
    assert len(labelled) == 1 and next(iter(labelled.values())) > 250


def test_two_hidden_inputs_of_one_operation_make_one_edge_labelled_x2():
    a = mg.tensor(1.0, requires_grad=True)
    h = a
    for _ in range(40):
        h = (h * 1.5) + (h * 0.5)  # each add has two inputs, both hidden far from the output
    source = mg.viz.draw_graph(h, max_nodes=5).source
    edges = re.findall(r"^\s*collapsed -> (\w+)(.*)$", source, flags=re.M)
    assert max(Counter(target for target, _ in edges).values()) == 1


# -- clear errors -------------------------------------------------------------------------------
def test_render_and_find_renderer_check_the_format(tmp_path):
    y = (mg.tensor([1.0, 2.0], requires_grad=True) * 2).sum()
    with pytest.raises(TypeError, match=r"render: format must be a str.*got 1 \(int\)"):
        mg.viz.render(y, tmp_path / "x.svg", format=1)
    with pytest.raises(ValueError, match="find_renderer: unsupported format 'jpg'"):
        mg.viz.find_renderer("jpg")
    assert mg.viz.render(y, tmp_path / "x.gv").read_text().startswith("digraph")


def test_a_file_where_a_folder_must_be_is_named(tmp_path):
    blocking = tmp_path / "file"
    blocking.write_text("")
    y = (mg.tensor([1.0, 2.0], requires_grad=True) * 2).sum()
    with pytest.raises(NotADirectoryError, match=r"render: cannot write into .*: .*file is a file, not a folder"):
        mg.viz.render(y, blocking / "sub" / "x.dot")
    with pytest.raises(NotADirectoryError, match=r"BackwardSteps.save: .*file is a file, not a folder"):
        backward_steps(y).save(blocking / "frames", format="svg")
    assert blocking.read_text() == ""


def test_backward_steps_names_grad_when_its_shape_is_wrong():
    y = mg.tensor([1.0, 2.0], requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"^backward_steps: grad has shape \(3,\) but the output has shape \(2,\)"):
        backward_steps(y, grad=np.ones(3))
    assert len(backward_steps(y, grad=[1.0, 1.0])) == 1


@pytest.fixture
def plots():
    pytest.importorskip("matplotlib")
    return mg.viz.plots


def test_ground_truth_vs_prediction_checks_its_arguments_and_counts_nan_apart(plots):
    X, y = mg.data.make_xor_easy()
    with pytest.raises(ValueError, match="X must have at least two columns"):
        plots.ground_truth_vs_prediction(X[:, 0], y, y)
    with pytest.raises(ValueError, match=r"X has 21 points, y 21 labels and prediction 20"):
        plots.ground_truth_vs_prediction(X, y, y[:-1])
    prediction = np.asarray(y, dtype=float).copy()
    prediction[:10] = np.nan
    figure = plots.ground_truth_vs_prediction(X, y, prediction)
    assert figure._suptitle.get_text() == "Ground truth vs prediction: 11/21 correct, 10 predictions NaN"
    legend = [text.get_text() for text in figure.axes[1].get_legend().get_texts()]
    assert "NaN" in legend


def test_decision_boundary_checks_empty_points_and_resolution(plots):
    model = nn.MLP(2, (3,), 1, rng=0)
    X, y = mg.data.make_xor_easy()
    with pytest.raises(ValueError, match="decision_boundary: X has no points"):
        plots.decision_boundary(model, np.zeros((0, 2)), np.zeros((0, 1)))
    with pytest.raises(ValueError, match="resolution must be an int of at least 2"):
        plots.decision_boundary(model, X, y, resolution=1)


def test_learning_curves_takes_a_list_and_marks_lone_points(plots):
    one = History(loss=[0.5], accuracy=[0.6])
    gaps = History(loss=[1.0, np.nan, 0.5, np.nan, 0.3, 0.2], accuracy=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    figure = plots.learning_curves([one, gaps])
    lines = figure.axes[0].lines
    assert [line.get_label() for line in lines] == ["run 1", "run 2"]
    assert [line.get_markevery() for line in lines] == [[0], [0, 2]]
    assert figure.axes[1].lines[0].get_markevery() == [0]  # the one-epoch accuracy too
    assert figure.axes[1].lines[1].get_marker() in ("None", "", None)  # a full line needs no dots
    with pytest.raises(ValueError, match="has 2 losses but 1 accuracies"):
        plots.learning_curves(History(loss=[1.0, 0.5], accuracy=[0.5]))
    with pytest.raises(TypeError, match="expected a History"):
        plots.learning_curves([one, 3])
