"""Graph drawings (DOT content), rendering through graphviz-pure, and the figures."""

from __future__ import annotations

import importlib
import os
import re
import shutil
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from conftest import labels, needs_renderer

import microgradnp as mg
from microgradnp import nn
from microgradnp.viz import draw_graph, render

render_module = importlib.import_module("microgradnp.viz.render")  # the module, not the function





def edges(dot) -> set[tuple[str, str]]:
    return set(re.findall(r"^\s*(\w+) -> (\w+)", dot.source, re.M))


def small_graph():
    a = mg.tensor([1.0, 2.0], requires_grad=True, name="a")
    b = mg.tensor([3.0, 4.0], requires_grad=True, name="b")
    c = (a * b).sum()
    c.backward()
    return a, b, c


def test_small_graph_has_values_ops_edges_and_gradients():
    _, _, c = small_graph()
    dot = draw_graph(c)
    found = labels(dot)
    by_text = {label.split("\n")[0]: node for node, label in found.items()}
    assert {"a", "b", "mul", "sum"} <= set(by_text)
    assert "grad [3, 4]" in found[by_text["a"]] and "grad [1, 2]" in found[by_text["b"]]
    assert "[1, 2]" in found[by_text["a"]]
    output = next(node for node, label in found.items() if label.startswith("scalar"))
    assert "11" in found[output]
    mul, total = by_text["mul"], by_text["sum"]
    product = next(target for source, target in edges(dot) if source == mul)
    assert {(by_text["a"], mul), (by_text["b"], mul), (product, total), (total, output)} <= edges(dot)


def test_order_numbers_follow_backward():
    x = mg.tensor([0.5, -1.0], requires_grad=True, name="x")
    y = (x.exp() * 2.0).tanh().sum()
    found = labels(draw_graph(y, order=True))
    ops = {label.split(" ")[1].split("\n")[0]: int(label.split(" ")[0][1:]) for label in found.values()
           if label.startswith("#")}
    assert ops == {"sum": 1, "tanh": 2, "mul": 3, "exp": 4}
    assert not any(label.startswith("#") for label in labels(draw_graph(y)).values())


def test_show_controls_the_labels():
    _, _, c = small_graph()
    found = labels(draw_graph(c, show=("shape",)))
    assert all("grad" not in label and "[" not in label for label in found.values())
    assert not any(label in ("mul", "sum") for label in found.values())  # without "op", values link directly
    with pytest.raises(ValueError, match="unknown show option"):
        draw_graph(c, show=("colour",))


def test_rankdir_sets_the_layout_direction_and_is_checked():
    _, _, c = small_graph()
    assert "rankdir=TB" in draw_graph(c, rankdir="TB").source
    assert "rankdir=LR" in draw_graph(c).source
    with pytest.raises(ValueError, match=r"rankdir must be one of \('LR', 'TB', 'RL', 'BT'\), got 'XX'"):
        draw_graph(c, rankdir="XX")


def test_big_tensors_are_summarised():
    x = mg.tensor(np.arange(100.0).reshape(10, 10), requires_grad=True, name="x")
    found = labels(draw_graph((x * 1.0).sum()))
    assert any("min 0  mean 49.5  max 99" in label for label in found.values())


def test_lab_network_parameters_named_and_modules_clustered():
    X, y = mg.data.make_xor_easy()
    model = nn.MLP(2, (50, 50), 1, rng=0)
    loss = nn.MSELoss()(model(mg.tensor(X, name="X")), y)
    loss.backward()
    dot = draw_graph(loss, order=True)
    found = labels(dot)
    names = {label.split("\n")[0] for label in found.values()}
    assert {"fc1.weight", "fc1.bias", "fc2.weight", "fc3.bias", "X"} <= names
    assert len(found) <= 30  # the lab network is small enough to read at a glance
    cluster_labels = {quoted or bare for quoted, bare in re.findall(r'label="([^"]*)"|label=(\w+)', dot.source)}
    assert {"MLP", "fc1: Linear", "act2: Sigmoid", "MSELoss"} <= cluster_labels
    # fc1's weight is drawn inside fc1's cluster, fc1's cluster inside MLP's
    fc1 = dot.source.split('label="fc1: Linear"')[1].split("subgraph")[0]
    assert "fc1.weight" in fc1
    mlp = dot.source.split("label=MLP")[1]
    assert 'label="fc1: Linear"' in mlp
    assert not re.search(r"label=\"fc1: Linear\".*label=MLP", dot.source, re.S)
    no_groups = draw_graph(loss, group_modules=False)
    assert "cluster" not in no_groups.source


def test_identity_module_does_not_claim_earlier_nodes():
    model = nn.Sequential(nn.Linear(2, 2, rng=0), nn.Identity())
    out = model(mg.tensor(np.ones((1, 2)))).sum()
    source = draw_graph(out).source
    assert "Identity" not in source and 'label="0: Linear"' in source


def test_max_nodes_collapses_the_far_end_into_a_summary():
    x = mg.tensor([1.0], requires_grad=True, name="x")
    y = x
    for _ in range(200):
        y = (y * 1.01).sin()
    dot = draw_graph(y, max_nodes=40)
    found = labels(dot)
    assert len(found) <= 40
    summary = [label for label in found.values() if "earlier values not drawn" in label]
    assert len(summary) == 1 and "sin x" in summary[0] and "mul x" in summary[0]
    assert "x\n" not in "".join(found.values())  # the far leaf is among the collapsed
    assert any(source == "collapsed" for source, _ in edges(dot))
    with pytest.raises(ValueError, match="max_nodes"):
        draw_graph(y, max_nodes=1)


def test_draw_graph_of_a_non_tensor_is_refused():
    with pytest.raises(TypeError, match="expected a Tensor"):
        draw_graph(np.ones(2))


# -- rendering ---------------------------------------------------------------------------------
@pytest.fixture
def no_system_dot(monkeypatch):
    """Hide a system Graphviz so the graphviz-pure fallback is what renders."""
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "dot" else real_which(name, *a, **k))


def test_graphviz_keeps_the_internal_name_render_relies_on():
    from graphviz.backend import dot_command

    assert hasattr(dot_command, "DOT_BINARY")


@needs_renderer
def test_svg_through_graphviz_pure_has_one_node_element_per_node(tmp_path, no_system_dot):
    _, _, c = small_graph()
    dot = draw_graph(c)
    path = render(dot, tmp_path / "graph.svg")
    root = ET.parse(path).getroot()
    nodes = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "node"]
    assert len(nodes) == len(labels(dot))
    assert "graphviz-pure" in mg.viz.find_renderer("svg")


@needs_renderer
def test_png_and_dot_formats(tmp_path, no_system_dot):
    _, _, c = small_graph()
    png = render(c, tmp_path / "graph.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = render(c, tmp_path / "graph.gv", format="dot").read_text()
    assert text.startswith("digraph") and "mul" in text


@pytest.mark.skipif(sys.platform == "win32", reason="a shell script stands in for dot")
def test_system_dot_is_preferred_and_serves_pdf(tmp_path, monkeypatch):
    from graphviz.backend import dot_command

    monkeypatch.setattr(dot_command, "DOT_BINARY", dot_command.DOT_BINARY)  # restored afterwards
    fake = tmp_path / "bin" / "dot"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\ncat > /dev/null\nprintf '%%PDF-1.4 from the system dot'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    assert mg.viz.find_renderer("svg") == mg.viz.find_renderer("pdf") == str(fake)
    _, _, c = small_graph()
    assert render(c, tmp_path / "graph.pdf").read_bytes() == b"%PDF-1.4 from the system dot"


def test_pdf_without_system_graphviz_says_what_to_install(tmp_path, no_system_dot):
    _, _, c = small_graph()
    with pytest.raises(mg.viz.RenderError, match=r"apt-get install graphviz.*brew install graphviz"):
        render(c, tmp_path / "graph.pdf")
    assert not (tmp_path / "graph.pdf").exists()


def test_no_renderer_at_all_says_to_install_the_extra(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda *a, **k: None)
    monkeypatch.setattr(render_module, "_graphviz_pure", lambda: None)
    _, _, c = small_graph()
    with pytest.raises(mg.viz.RenderError, match=r'microgradnp\[render\]'):
        render(c, tmp_path / "graph.svg")


def test_unknown_format_and_bad_argument():
    _, _, c = small_graph()
    with pytest.raises(ValueError, match="unsupported format 'jpg'"):
        render(c, "graph.jpg")
    with pytest.raises(TypeError, match=r"Tensor or a graphviz\.Digraph"):
        render([1, 2], "graph.svg")


@needs_renderer
def test_jupyter_display_of_tensors():
    _, _, c = small_graph()
    bundle = c._repr_mimebundle_()
    assert bundle["text/plain"] == repr(c) and bundle["image/svg+xml"].lstrip().startswith("<?xml")
    leaf = mg.tensor([1.0])
    assert set(leaf._repr_mimebundle_()) == {"text/plain"}


@needs_renderer
def test_jupyter_display_of_digraphs_without_system_graphviz(monkeypatch, no_system_dot):
    from graphviz.backend import dot_command

    monkeypatch.setattr(dot_command, "DOT_BINARY", dot_command.DOT_BINARY)  # restored afterwards
    dot_command.DOT_BINARY = type(dot_command.DOT_BINARY)("dot")  # the graphviz package's own default
    render_module._use_available_renderer()  # what importing microgradnp.viz does
    _, _, c = small_graph()
    bundle = draw_graph(c)._repr_mimebundle_()
    root = ET.fromstring(bundle["image/svg+xml"])
    assert root.tag == "{http://www.w3.org/2000/svg}svg"


# -- figures -----------------------------------------------------------------------------------
@pytest.fixture
def trained():
    pytest.importorskip("matplotlib")
    X, y = mg.data.make_xor_easy()
    model = nn.MLP(2, (8, 8), 1, rng=0)
    history = mg.train.fit(model, X, y, "mse", mg.optim.Adam(model.parameters(), lr=0.05), epochs=200,
                           stop_at_accuracy=1.0, progress=False)
    return model, X, y, history


def _titles(figure):
    return [axis.get_title() for axis in figure.axes]


def _is_png(path):
    return path.stat().st_size > 1000 and path.read_bytes()[:4] == b"\x89PNG"


def test_ground_truth_vs_prediction(trained, tmp_path):
    model, X, y, _ = trained
    prediction = mg.train.predict(model, X)
    prediction[0] = 1 - prediction[0]  # one mistake, to be circled and counted
    figure = mg.viz.plots.ground_truth_vs_prediction(X, y, prediction, path=tmp_path / "cmp.png")
    assert _titles(figure) == ["Ground truth", "Prediction (1 wrong)"]
    assert _is_png(tmp_path / "cmp.png")
    truth_axis, predicted_axis = figure.axes
    assert sum(len(c.get_offsets()) for c in truth_axis.collections) == len(X)
    assert _legend(truth_axis) == ["class 0", "class 1"]
    assert _legend(predicted_axis) == ["class 0", "class 1", "wrong"]  # the circles are explained


def _legend(axis):
    return [text.get_text() for text in axis.get_legend().get_texts()]


def _colours(axis):
    """label -> colour of each scatter of an axis."""
    from matplotlib.colors import to_hex

    return {c.get_label(): to_hex(c.get_facecolor()[0]) for c in axis.collections if c.get_label().startswith("class")}


@pytest.fixture
def three_classes():
    pytest.importorskip("matplotlib")
    X, y = mg.data.make_spiral(60, classes=3, rng=0)  # y holds the class indices 0, 1, 2
    return X, y


def test_class_indices_are_classes_not_thresholded(three_classes, tmp_path):
    X, y = three_classes
    scores = np.eye(3)[y]
    scores[0] = np.roll(scores[0], 1)  # one mistake
    figure = mg.viz.plots.ground_truth_vs_prediction(X, y, scores, path=tmp_path / "spiral.png")
    truth_axis, predicted_axis = figure.axes
    assert _titles(figure) == ["Ground truth", "Prediction (1 wrong)"]
    assert _legend(truth_axis) == ["class 0", "class 1", "class 2"]
    assert _colours(truth_axis) == _colours(predicted_axis) and len(set(_colours(truth_axis).values())) == 3
    assert _is_png(tmp_path / "spiral.png")
    as_floats = mg.viz.plots.ground_truth_vs_prediction(X, y.astype(float), scores)
    assert _legend(as_floats.axes[0]) == ["class 0", "class 1", "class 2"]


def test_decision_boundary_regions_have_their_class_colour(three_classes):
    from matplotlib.colors import to_hex

    X, y = three_classes
    figure = mg.viz.plots.decision_boundary(nn.Linear(2, 3, rng=0), X, y, resolution=30)
    axis = figure.axes[0]
    regions = axis.collections[0]
    assert list(regions.levels) == [-0.5, 0.5, 1.5, 2.5]  # one band per class index
    points = _colours(axis)
    assert [to_hex(c) for c in regions.get_facecolor()] == [points["class 0"], points["class 1"], points["class 2"]]
    assert _legend(axis) == ["class 0", "class 1", "class 2"]


def test_decision_boundary(trained, tmp_path):
    model, X, y, _ = trained
    figure = mg.viz.plots.decision_boundary(model, X, y, resolution=50, path=tmp_path / "boundary.png")
    assert "Decision boundary" in _titles(figure) and _is_png(tmp_path / "boundary.png")
    assert figure.axes[0].get_xlabel() == "x1"


def test_learning_curves_single_and_several(trained, tmp_path):
    *_, history = trained
    figure = mg.viz.plots.learning_curves(history, path=tmp_path / "curves.png")
    loss_axis, accuracy_axis = figure.axes[:2]
    assert _titles(figure)[:2] == ["Loss", "Accuracy"] and loss_axis.get_yscale() == "log"
    np.testing.assert_allclose(loss_axis.lines[0].get_ydata(), history.loss)
    np.testing.assert_allclose(accuracy_axis.lines[0].get_ydata(), history.accuracy)
    assert _is_png(tmp_path / "curves.png")
    assert history.status == "reached"
    assert _legend(accuracy_axis) == [f"target reached at epoch {history.stop_epoch}"]  # the dotted line explained
    several = mg.viz.plots.learning_curves({"a": history, "b": history})
    assert _legend(several.axes[0]) == ["a", "b"]
    assert _legend(several.axes[1])[0] == f"a: target reached at epoch {history.stop_epoch}"


def test_sweep_heatmap(tmp_path):
    pytest.importorskip("matplotlib")
    rows = [{"lr": lr, "hidden": h, "mean_stop_epoch": lr * h} for lr in (0.1, 0.01) for h in (10, 20, 30)]
    rows[-1]["mean_stop_epoch"] = None  # a missing cell stays blank
    figure = mg.viz.plots.sweep_heatmap(rows, "lr", "hidden", path=tmp_path / "heat.png")
    axis = figure.axes[0]
    assert [t.get_text() for t in axis.get_xticklabels()] == ["10", "20", "30"]
    assert [t.get_text() for t in axis.get_yticklabels()] == ["0.01", "0.1"]
    image = axis.images[0].get_array()
    assert image[0, 0] == pytest.approx(0.01 * 10) and image[1, 2] == pytest.approx(0.1 * 30)
    assert np.ma.is_masked(image[0, 2]) or np.isnan(image[0, 2])  # lr 0.01, hidden 30 had no value
    assert figure.axes[1].get_ylabel() == "mean stop epoch"  # the colour bar says what it measures
    assert _is_png(tmp_path / "heat.png")
