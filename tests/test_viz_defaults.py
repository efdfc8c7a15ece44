"""draw_graph's defaults make a graph readable at slide size: the layout direction that
fits, matrices row by row, names for the data (a loss's target, a model's input), exact
zeros as 0."""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import labels, needs_renderer

import microgradnp as mg
from microgradnp import nn
from microgradnp.viz import draw_graph


def first_lines(dot) -> set[str]:
    return {label.split("\n")[0] for label in labels(dot).values()}


def rankdir(dot) -> str:
    return re.search(r"rankdir=(\w+)", dot.source).group(1)


def lab_loss(X_name=None, target=None):
    """The lab's 2-50-50-1 sigmoid network and its MSE on the 21 XOR points."""
    X, y = mg.data.make_xor_easy()
    model = nn.MLP(2, (50, 50), 1, activation="sigmoid", rng=0)
    return nn.MSELoss()(model(mg.tensor(X, name=X_name)), y if target is None else target)


# -- the layout direction -------------------------------------------------------------------
def test_the_lab_network_is_drawn_top_to_bottom_by_default():
    loss = lab_loss()
    assert rankdir(draw_graph(loss)) == "TB"
    assert rankdir(draw_graph(loss, rankdir="LR")) == "LR"  # an explicit direction is kept


def test_a_chain_that_fits_across_a_slide_stays_left_to_right():
    x = mg.tensor([[1.0, 2.0]], name="x")
    w = mg.tensor([[0.5], [-0.3]], requires_grad=True, name="w")
    loss = (((x @ w).sigmoid() - 1.0) ** 2).sum()
    assert rankdir(draw_graph(loss)) == "LR"
    assert rankdir(draw_graph(loss, rankdir="TB")) == "TB"


def test_a_chain_drawn_down_to_max_nodes_fits_across():
    h = mg.tensor([1.0], requires_grad=True, name="h")
    for _ in range(30):
        h = (h * 0.9).tanh()
    assert rankdir(draw_graph(h, max_nodes=10)) == "LR"


def test_auto_is_named_in_the_error_for_a_wrong_direction():
    loss = lab_loss()
    with pytest.raises(ValueError, match=r"got 'sideways', or 'auto'"):
        draw_graph(loss, rankdir="sideways")


def _svg_size(svg: str) -> tuple[float, float]:
    width, height = re.search(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"', svg).groups()
    return float(width), float(height)


@needs_renderer
def test_the_lab_network_renders_in_a_shape_a_slide_can_show():
    width, height = _svg_size(mg.viz.to_svg(draw_graph(lab_loss())))
    assert 0.3 < width / height < 2.0, (width, height)  # left to right it was 3179x471 px, 6.7 to 1
    across_width, across_height = _svg_size(mg.viz.to_svg(draw_graph(lab_loss(), rankdir="LR")))
    assert across_width / across_height > 4  # what the default avoids
    # Shown whole on a 16:9 slide, the default is drawn larger than left to right.
    def on_a_slide(w, h):
        return min(1440 / w, 810 / h)

    assert on_a_slide(width, height) > on_a_slide(across_width, across_height)


def _graphs_of_every_shape():
    """A chain, a long chain, a small network, the lab network."""
    x = mg.tensor([[1.0, 2.0]], name="x")
    w = mg.tensor([[0.5], [-0.3]], requires_grad=True, name="w")
    yield "neuron", (((x @ w).sigmoid() - 1.0) ** 2).sum()
    h = mg.tensor([1.0], requires_grad=True, name="h")
    for _ in range(30):
        h = (h * 0.9).tanh()
    yield "30 steps", h
    model = nn.Sequential(nn.Linear(2, 3, rng=0), nn.Tanh(), nn.Linear(3, 1, rng=1))
    yield "Sequential", nn.MSELoss()(model(mg.tensor(np.eye(2), name="X")), np.array([[1.0], [0.0]]))
    yield "MLP 2-8-8-8-1", nn.MSELoss()(nn.MLP(2, (8, 8, 8), 1, rng=0)(mg.tensor(np.eye(2))), np.ones((2, 1)))
    yield "lab", lab_loss()


@needs_renderer
@pytest.mark.parametrize(("name", "output"), list(_graphs_of_every_shape()), ids=lambda value: str(value)[:14])
def test_auto_picks_the_direction_that_shows_the_graph_largest_on_a_slide(name, output):
    def on_a_slide(direction):
        width, height = _svg_size(mg.viz.to_svg(draw_graph(output, rankdir=direction)))
        return min(1.0, 1440 / width, 810 / height)

    chosen = rankdir(draw_graph(output))
    other = "TB" if chosen == "LR" else "LR"
    # The choice is made from estimated sizes, before any layout: close, not exact.
    assert on_a_slide(chosen) >= 0.95 * on_a_slide(other), (name, chosen)


# -- matrices -------------------------------------------------------------------------------
def test_a_matrix_is_drawn_row_by_row():
    a = mg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True, name="a")
    loss = (a * 2.0).sum()
    loss.backward(retain_graph=True)  # keeps the product's values for the drawing
    found = labels(draw_graph(loss))
    node = next(label for label in found.values() if label.startswith("a\n"))
    assert node == "a\n2x3\n[[1, 2, 3],\n [4, 5, 6]]\ngrad [[2, 2, 2],\n [2, 2, 2]]"
    assert "[[2, 4, 6],\n [8, 10, 12]]" in "".join(found.values())  # a computed value too


def test_vectors_column_matrices_and_deeper_arrays():
    format_ = mg.viz.graph._format
    assert format_(np.array([1.0, 2.0, 3.0])) == "[1, 2, 3]"  # a vector stays on one line
    assert format_(np.array([[1.0], [2.0]])) == "[[1],\n [2]]"  # a column: one value per line
    assert format_(np.array([[1.0, 2.0]])) == "[[1, 2]]"
    assert format_(np.arange(4.0).reshape(1, 2, 2)) == "[[[0, 1],\n  [2, 3]]]"
    assert format_(np.arange(4.0).reshape(2, 2), one_line=True) == "[[0, 1], [2, 3]]"
    assert format_(np.arange(12.0).reshape(3, 4)) == "min 0  mean 5.5  max 11"  # more than 6 values


# -- names of the data ------------------------------------------------------------------------
def test_unnamed_target_and_input_are_named_by_their_role():
    dot = draw_graph(lab_loss())
    found = labels(dot)
    target = next(label for label in found.values() if label.startswith("target"))
    assert target.split("\n")[1] == "21x1"
    model_input = next(label for label in found.values() if label.startswith("input"))
    assert model_input.split("\n")[1] == "21x2"
    assert "constant 21x1" not in dot.source and "constant 21x2" not in dot.source
    # drawn as data the user gave (amber), not as a dashed constant
    attributes = re.search(r'\[label="target[^"]*"([^\]]*)\]', dot.source).group(1)
    assert 'fillcolor="#fef3c7"' in attributes and "dashed" not in attributes


def test_a_name_given_with_name_wins_over_the_role():
    _, y = mg.data.make_xor_easy()
    names = first_lines(draw_graph(lab_loss(X_name="X", target=mg.tensor(y, name="y"))))
    assert {"X", "y"} <= names and not {"input", "target"} & names


def test_a_target_tensor_without_a_name_is_the_target():
    _, y = mg.data.make_xor_easy()
    assert "target" in first_lines(draw_graph(lab_loss(target=mg.tensor(y))))


def test_class_indices_of_cross_entropy_are_the_target():
    logits = nn.Linear(2, 3, rng=0)(mg.tensor(np.ones((4, 2))))
    loss = nn.CrossEntropyLoss()(logits, np.array([0, 2, 1, 0]))
    found = labels(draw_graph(loss))
    assert "target\n4 int64\n[0, 2, 1, 0]" in found.values()
    assert "input" in first_lines(draw_graph(loss))


def test_only_the_first_operand_of_a_module_calls_first_operation_is_the_input():
    class Masked(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(2, 2, rng=0)
            self.mask = np.array([[1.0, 0.0]])

        def forward(self, x):
            return self.linear(x) * self.mask  # the mask is a constant, not an input

    loss = Masked()(mg.tensor(np.ones((1, 2)))).sum()
    found = labels(draw_graph(loss))
    assert [label.split("\n")[0] for label in found.values()].count("input") == 1
    assert any(label.startswith("[[1, 0]]") for label in found.values())  # the mask, unnamed


def test_data_outside_module_calls_and_numbers_get_no_role():
    x = mg.tensor([1.0, 2.0])  # no module, no loss: a plain constant
    w = mg.tensor([0.5, 0.5], requires_grad=True, name="w")
    names = first_lines(draw_graph((w * x + 3.0).sum()))
    assert not {"input", "target"} & names


# -- exact zeros ------------------------------------------------------------------------------
def test_exact_zeros_are_drawn_as_0():
    x = mg.tensor([0.0, -0.0, 1e-30, 0.5], requires_grad=True, name="x")
    loss = x.relu().sum()
    loss.backward()
    label = next(label for label in labels(draw_graph(loss)).values() if label.startswith("x\n"))
    assert "[0, 0, 1e-30, 0.5]" in label
    assert "grad [0, 0, 1, 1]" in label  # relu's gradient at and below zero is exactly 0
    assert not re.search(r"0\.0+\b|0e[+-]|-0\b", label)


def test_summaries_and_constants_of_zero_are_0():
    x = mg.tensor(np.zeros((3, 3), dtype=np.float32), requires_grad=True, name="x")
    loss = (x * 0.0).sum()
    loss.backward()
    text = "\n".join(labels(draw_graph(loss)).values())
    assert "min 0  mean 0  max 0" in text
    assert "grad min 0  mean 0  max 0" in text
    assert re.search(r"^0$", text, re.M)  # the constant 0.0 itself, and the sum
