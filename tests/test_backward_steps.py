"""mg.viz.backward_steps: one drawing per step of the backward pass, in the engine's own
order, with the engine's own gradients, and without changing any tensor."""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from conftest import needs_renderer

import microgradnp as mg
from microgradnp import nn
from microgradnp.viz import backward_steps
from microgradnp.viz.graph import graph_nodes

SVG = "{http://www.w3.org/2000/svg}"


def lab_loss():
    """The lab's 2-50-50-1 sigmoid network and its MSE on the 21 XOR points."""
    X, y = mg.data.make_xor_easy()
    model = nn.MLP(2, (50, 50), 1, activation="sigmoid", rng=0)
    return model, nn.MSELoss()(model(mg.tensor(X, name="X")), y)


def fork():
    """``a`` used twice, so its gradient arrives in two parts."""
    a = mg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True, name="a")
    return a, (a * a + a).sum()


class Split(mg.Function):
    """A Function with two outputs."""

    @staticmethod
    def forward(ctx, x):
        return x[:1] * 1.0, x[1:] * 2.0

    @staticmethod
    def backward(ctx, first, second):
        return np.concatenate([first, second * 2.0])


def several_outputs():
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True, name="x")
    first, second = Split.apply(x)
    return x, first.sum() * 3.0 + second.sum()


GRAPHS = {"lab": lambda: lab_loss()[1], "fork": lambda: fork()[1], "several outputs": lambda: several_outputs()[1]}


def engine_order(output) -> list[mg.Tensor]:
    """The tensors backward() visits, in its order: hooks on every computed tensor record
    when the engine reaches it (for a Function with several outputs, each output that gets
    a gradient, one after the other: the first of them stands for the operation)."""
    visited, operations = [], set()
    computed = [t for t in graph_nodes(output).tensors.values() if t._node is not None]

    def hook_of(tensor):
        def record(grad):
            if id(tensor._node) not in operations:
                operations.add(id(tensor._node))
                visited.append(tensor)

        return record

    handles = [t.register_hook(hook_of(t)) for t in computed]
    output.backward()
    for handle in handles:
        handle.remove()
    return visited


def highlighted(step) -> str:
    """The id of the operation node drawn as the current one."""
    found = re.findall(r"^\s*(\w+) \[label=[^\]]*fillcolor=\"#fecaca\"", step.graph.source, re.M | re.S)
    assert len(found) == 1, step.graph.source
    return found[0]


# -- the engine's order, the engine's gradients ------------------------------------------------
@pytest.mark.parametrize("make", GRAPHS.values(), ids=GRAPHS.keys())
def test_one_frame_per_visited_operation_in_the_engines_order(make):
    output = make()
    steps = backward_steps(output)
    drawn = {id(t): index for index, t in enumerate(graph_nodes(output).tensors.values())}
    order = engine_order(output)  # the real backward, afterwards
    assert len(steps) == len(order)
    for number, (step, tensor) in enumerate(zip(steps, order), start=1):
        assert step.number == number and step.total == len(order)
        assert step.tensor._node is tensor._node
        assert step.operation == tensor._node.name
        # draw_graph names an operation's node after the output it is drawn with
        operation_id = highlighted(step)
        assert drawn[id(step.tensor)] == int(operation_id.removeprefix("op"))
        label = re.search(rf'^\s*{operation_id} \[label="?([^"\]]*)', step.graph.source, re.M).group(1)
        assert label.startswith(f"#{number} {tensor._node.name}")


def test_the_lab_network_has_seven_steps():
    _, loss = lab_loss()
    steps = backward_steps(loss)
    assert [step.operation for step in steps] == ["mse_loss", "sigmoid", "linear", "sigmoid", "linear",
                                                  "sigmoid", "linear"]
    assert repr(steps).startswith("BackwardSteps(7 steps: #1 mse_loss, #2 sigmoid")


def test_the_gradients_shown_are_the_ones_backward_computes():
    model, loss = lab_loss()
    steps = backward_steps(loss)
    loss.backward()
    assert steps[0].grad_in == 1
    for name, parameter in model.named_parameters():
        sent = [g for step in steps for x, g in zip(step.tensor._node.inputs, step.grads_out) if x is parameter]
        assert len(sent) == 1, name
        np.testing.assert_array_equal(sent[0], parameter.grad)
    for previous, step in zip(steps, steps[1:]):  # each step receives what an earlier one sent
        assert any(g is not None and np.array_equal(g, step.grad_in) for g in previous.grads_out)


def test_a_gradient_in_two_parts_is_shown_so_far_then_whole():
    a, loss = fork()
    steps = backward_steps(loss)
    assert [step.operation for step in steps] == ["sum", "add", "mul"]

    def label_of_a(step):
        return next(label for label in re.findall(r'label="((?:[^"\\]|\\.)*)"', step.graph.source)
                    if label.startswith("a\n"))

    assert "grad" not in label_of_a(steps[0])
    assert "grad so far [[1, 1, 1],\n [1, 1, 1]]" in label_of_a(steps[1])  # from the add
    assert label_of_a(steps[2]).endswith("\ngrad [[3, 5, 7],\n [9, 11, 13]]")  # 1 + 2a: the mul added 2a
    assert "sends [[1, 2, 3], [4, 5, 6]] (2x3) to a" in steps[2].caption
    loss.backward()
    np.testing.assert_array_equal(a.grad, [[3, 5, 7], [9, 11, 13]])


def test_a_function_with_several_outputs_is_one_step():
    x, loss = several_outputs()
    steps = backward_steps(loss)
    split = steps[-1]
    assert split.tensor._node.inputs == (x,)
    assert split.operation == "Split" and isinstance(split.grad_in, tuple) and len(split.grad_in) == 2
    np.testing.assert_array_equal(split.grads_out[0], [3.0, 2.0, 2.0])
    assert "receives the gradients of its outputs: [3] (1); [1, 1] (2)" in split.caption


# -- no side effects ------------------------------------------------------------------------------
def test_no_grad_changes_and_backward_still_works():
    model, loss = lab_loss()
    hidden = model.fc2.weight
    backward_steps(loss)
    assert all(p.grad is None for p in model.parameters())
    loss.backward(retain_graph=True)
    before = {name: p.grad.copy() for name, p in model.named_parameters()}
    held = {name: p.grad for name, p in model.named_parameters()}
    backward_steps(loss)  # after backward(retain_graph=True): still possible, still nothing written
    for name, p in model.named_parameters():
        assert p.grad is held[name]
        np.testing.assert_array_equal(p.grad, before[name])
    assert not any("backward" in vars(t._node) for t in graph_nodes(loss).tensors.values() if t._node is not None)
    loss.backward()
    np.testing.assert_allclose(hidden.grad, 2 * before["fc2.weight"])  # the graph was intact


def test_retained_gradients_of_intermediates_are_not_touched():
    a = mg.tensor([1.0, 2.0], requires_grad=True, name="a")
    h = a * 2.0
    h.retain_grad()
    loss = h.sum()
    backward_steps(loss)
    assert h.grad is None and a.grad is None


# -- files ----------------------------------------------------------------------------------------
@needs_renderer
def test_frames_are_saved_as_numbered_svg_files(tmp_path):
    _, loss = lab_loss()
    steps = backward_steps(loss)
    paths = steps.save(tmp_path / "frames")
    assert [p.name for p in paths] == [f"step_{k:02d}.svg" for k in range(1, 8)]
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == [p.name for p in paths]
    for path, step in zip(paths, steps):
        root = ET.parse(path).getroot()
        texts = " ".join(element.text or "" for element in root.iter(f"{SVG}text"))
        assert f"step {step.number} of 7: {step.operation}" in texts


def test_dot_frames_need_no_renderer_and_prefix_and_format_are_checked(tmp_path):
    _, loss = fork()
    steps = backward_steps(loss)
    paths = steps.save(tmp_path, format="dot", prefix="fork")
    assert [p.name for p in paths] == ["fork_01.dot", "fork_02.dot", "fork_03.dot"]
    assert paths[1].read_text() == steps[1].graph.source
    with pytest.raises(ValueError, match="format must be one of"):
        steps.save(tmp_path, format="jpg")
    with pytest.raises(ValueError, match="prefix must be a file name"):
        steps.save(tmp_path, prefix="../elsewhere")


@needs_renderer
def test_every_frame_has_the_same_layout():
    _, loss = lab_loss()
    steps = backward_steps(loss)

    def centres(step):
        """Op node ellipses' centres, measured from the top left of the picture."""
        root = ET.fromstring(step.svg())
        graph = root.find(f"{SVG}g")
        dx, dy = map(float, re.search(r"translate\(([-\d.]+) ([-\d.]+)\)", graph.get("transform")).groups())
        found = {}
        for node in graph.iter(f"{SVG}g"):
            ellipse = node.find(f"{SVG}ellipse")
            if node.get("class") == "node" and ellipse is not None:
                found[node.find(f"{SVG}title").text] = (round(float(ellipse.get("cx")) + dx),
                                                        round(float(ellipse.get("cy")) + dy))
        return found

    first = centres(steps[0])
    assert len(first) == 7
    for step in steps[1:]:
        assert centres(step) == first


@needs_renderer
def test_an_animated_gif_has_one_frame_per_step(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    _, loss = fork()
    path = backward_steps(loss).save_gif(tmp_path / "backward.gif", seconds_per_step=0.5)
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.n_frames == 3
        assert gif.info["duration"] == 500


def test_a_gif_without_pillow_says_what_to_install(tmp_path, monkeypatch):
    _, loss = fork()
    steps = backward_steps(loss)
    monkeypatch.setitem(sys.modules, "PIL", None)  # import PIL fails
    with pytest.raises(mg.viz.RenderError, match="pip install pillow"):
        steps.save_gif(tmp_path / "backward.gif")
    with pytest.raises(ValueError, match="seconds_per_step must be a positive number"):
        steps.save_gif(tmp_path / "backward.gif", seconds_per_step=0)
    assert not (tmp_path / "backward.gif").exists()


# -- Jupyter --------------------------------------------------------------------------------------
@needs_renderer
def test_the_notebook_shows_every_frame_without_ipywidgets(monkeypatch):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # as if not installed
    _, loss = fork()
    steps = backward_steps(loss)
    page = steps._repr_html_()
    assert page.count("<img ") == 3 and page.count("data:image/svg+xml;base64,") == 3
    shown = []
    display = pytest.importorskip("IPython.display")
    monkeypatch.setattr(display, "display", shown.append)
    steps.show()
    assert len(shown) == 1 and shown[0].data == page


def test_without_a_renderer_the_notebook_shows_the_steps_in_words(monkeypatch):
    def no_renderer(graph):
        raise mg.viz.RenderError("no Graphviz renderer found: pip install \"microgradnp[render]\"")

    monkeypatch.setattr(mg.viz.steps, "to_svg", no_renderer)
    x = mg.tensor([1.0, 2.0], requires_grad=True, name="<script>alert(1)</script>")
    page = backward_steps((x * 2.0).sum())._repr_html_()
    assert "microgradnp[render]" in page and "step 2 of 2: mul" in page
    assert "<script>" not in page and "&lt;script&gt;" in page  # names are text, never markup


def test_captions_of_hostile_names_are_escaped_in_the_image_alt_text(monkeypatch):
    monkeypatch.setattr(mg.viz.steps, "to_svg", lambda graph: "<svg/>")
    x = mg.tensor([1.0, 2.0], requires_grad=True, name='"><script>alert(1)</script>')
    page = backward_steps((x * 2.0).sum())._repr_html_()
    assert "<script>" not in page and '&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in page


# -- wrong input ----------------------------------------------------------------------------------
def test_wrong_input_gets_one_clear_error():
    with pytest.raises(TypeError, match=r"^backward_steps: expected a Tensor, got ndarray"):
        backward_steps(np.ones(2))
    with pytest.raises(RuntimeError, match="no graph to walk"):
        backward_steps(mg.tensor([1.0]))
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"not a single value.*grad=\.\.\."):
        backward_steps(x * 2.0)
    assert len(backward_steps(x * 2.0, grad=np.ones(2))) == 1
    with pytest.raises(ValueError, match="unknown show option"):
        backward_steps((x * 2.0).sum(), show=("grad",))
    with pytest.raises(ValueError, match=r"^backward_steps: rankdir must be one of"):
        backward_steps((x * 2.0).sum(), rankdir="XX")
    loss = (x * 2.0).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match=r"call backward_steps before loss\.backward\(\)"):
        backward_steps(loss)
