"""``backward_steps``: the backward pass as a sequence of drawings, one per operation it visits.

Each frame is the graph ``draw_graph`` draws, laid out the same way every time: the
operation being visited highlighted in red with the gradient it receives and the ones it
sends on (red edges, arrows pointing the way the gradient flows), what backward has
finished shaded grey, and every value's gradient so far. The walk is the engine's own:
``mg.grad`` runs it, and each operation's ``backward`` is watched as the engine calls it,
so the order and the numbers are exactly those of ``loss.backward()``, while no ``.grad``
is written.
"""

from __future__ import annotations

import base64
import html
import io
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import graphviz
import numpy as np

from microgradnp._files import write_bytes_atomically
from microgradnp.autograd.engine import _seed_grad, sum_to_shape
from microgradnp.autograd.engine import grad as engine_grad
from microgradnp.autograd.function import RELEASED
from microgradnp.tensor import FREED, Tensor
from microgradnp.viz.graph import (
    AUTO,
    COLLAPSED,
    _checked_arguments,
    _Drawing,
    _format,
    _label,
    _node_size,
    _value_label,
    graph_nodes,
)
from microgradnp.viz.render import RenderError, make_folder, render, to_png, to_svg

__all__ = ["BackwardSteps", "Step", "backward_steps"]

STEP_SHOW = ("shape", "data")  # what value boxes may show besides their gradient
_FRAME_FORMATS = ("svg", "png", "pdf", "dot")

# Red: the step being taken; grey: what backward has finished with.
_CURRENT_OP = {"fillcolor": "#fecaca", "color": "#dc2626", "penwidth": "2.5"}
_CURRENT_VALUE = {"color": "#dc2626", "penwidth": "2.5"}
_DONE = {"fillcolor": "#e5e7eb", "color": "#9ca3af", "fontcolor": "#374151"}
_CURRENT_EDGE = {"color": "#dc2626", "penwidth": "2.5", "dir": "back", "arrowsize": "0.9"}
_DONE_EDGE = {"color": "#9ca3af", "dir": "back"}
_MAX_CAPTION_INPUTS = 4  # a caption names this many receiving inputs at most


@dataclass
class Step:
    """One step of the backward pass: an operation receives the gradient of its output
    and sends one to each input that requires grad.

    Attributes:
        number: 1 for the first operation backward visits (the one that made the output).
        total: How many steps the backward pass has.
        operation: The operation's name (``tensor.op``).
        tensor: The output of the operation, whose gradient flows in (for a Function
            with several outputs, the first one drawn).
        grad_in: The gradient the operation receives: one array, or a tuple of them
            (one per output) for a Function with several outputs.
        grads_out: What it sends on: one entry per input of the operation, the
            gradient that input receives from this step (summed over broadcast axes, as
            the engine does), or None for inputs that get none (constants, a target).
        caption: The text under the drawing, saying the above in words.
        graph: The drawing of this step (a ``graphviz.Digraph``).
    """

    number: int
    total: int
    operation: str
    tensor: Tensor
    grad_in: np.ndarray | tuple
    grads_out: tuple
    caption: str
    graph: graphviz.Digraph = field(repr=False)
    _svg: str | None = field(default=None, init=False, repr=False, compare=False)

    def svg(self) -> str:
        """The drawing as SVG text (rendered once, then kept)."""
        if self._svg is None:
            self._svg = to_svg(self.graph)
        return self._svg

    def _repr_mimebundle_(self, include=None, exclude=None):
        return self.graph._repr_mimebundle_(include=include, exclude=exclude)


class BackwardSteps(Sequence):
    """The frames of ``backward_steps``: a sequence of ``Step``, one per operation that
    backward visits, in the engine's order. ``save`` writes them as numbered files,
    ``save_gif`` as an animation, ``show`` displays a stepper in Jupyter (and a cell that
    ends with the object shows every frame)."""

    def __init__(self, steps: list[Step]):
        self._steps = steps

    def __len__(self) -> int:
        return len(self._steps)

    def __getitem__(self, index):
        return self._steps[index]

    def __repr__(self) -> str:
        operations = ", ".join(f"#{step.number} {step.operation}" for step in self._steps[:8])
        more = ", ..." if len(self._steps) > 8 else ""
        return f"BackwardSteps({len(self._steps)} steps: {operations}{more})"

    def save(self, folder, format: str = "svg", prefix: str = "step") -> list[Path]:  # noqa: A002
        """Write each frame to ``folder`` as ``{prefix}_01.{format}``, ``{prefix}_02...``
        ("svg", "png" or "dot"; "pdf" needs the system Graphviz). Numbers are padded to
        the same width so the files sort in step order. Files of an earlier, longer run
        are left alone. Returns the paths, in step order."""
        if not isinstance(format, str) or format.lower() not in _FRAME_FORMATS:
            raise ValueError(f"BackwardSteps.save: format must be one of {_FRAME_FORMATS}, got {format!r}")
        if not isinstance(prefix, str) or not prefix or any(sep in prefix for sep in ("/", "\\", "\0")):
            raise ValueError(f"BackwardSteps.save: prefix must be a file name without a folder, got {prefix!r}")
        format = format.lower()  # noqa: A001
        folder = Path(folder)
        digits = max(2, len(str(len(self._steps))))
        paths = []
        for step in self._steps:
            path = folder / f"{prefix}_{step.number:0{digits}d}.{format}"
            if format == "svg":  # the SVG rendered once serves save, show and the notebook
                make_folder(folder, "BackwardSteps.save")
                write_bytes_atomically(path, step.svg().encode("utf-8"))
            else:
                render(step.graph, path, format)
            paths.append(path)
        return paths

    def save_gif(self, path, seconds_per_step: float = 1.5, dpi: int = 72) -> Path:
        """Write the frames as an animated GIF that loops, each frame shown for
        ``seconds_per_step`` (the last one three times as long), rendered at ``dpi`` pixels
        per inch. Needs a renderer for PNG (graphviz-pure or the system Graphviz) and
        Pillow (installed with matplotlib, the ``plot`` extra). Returns the path."""
        if isinstance(seconds_per_step, bool) or not isinstance(seconds_per_step, numbers.Real) \
                or not seconds_per_step > 0:
            raise ValueError(f"BackwardSteps.save_gif: seconds_per_step must be a positive number, "
                             f"got {seconds_per_step!r}")
        if isinstance(dpi, bool) or not isinstance(dpi, numbers.Integral) or not 10 <= dpi <= 600:
            raise ValueError(f"BackwardSteps.save_gif: dpi must be an int from 10 to 600, got {dpi!r}")
        try:
            from PIL import Image
        except ImportError:
            raise RenderError(
                'save_gif needs Pillow: pip install pillow (matplotlib brings it: pip install "microgradnp[plot]"), '
                "or write the frames as files with save(folder)") from None
        pictures = []
        for step in self._steps:
            graph = step.graph.copy()
            graph.attr(dpi=str(int(dpi)))
            pictures.append(Image.open(io.BytesIO(to_png(graph))).convert("RGB"))
        # Every frame has the same layout; a longer caption only widens the picture around
        # its centre, so frames are centred side to side and aligned at the top.
        width, height = max(p.width for p in pictures), max(p.height for p in pictures)
        frames = []
        for picture in pictures:
            canvas = Image.new("RGB", (width, height), "white")
            canvas.paste(picture, ((width - picture.width) // 2, 0))
            frames.append(canvas)
        milliseconds = [round(seconds_per_step * 1000)] * len(frames)
        milliseconds[-1] *= 3  # rest on the finished pass before the loop starts again
        buffer = io.BytesIO()
        frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=milliseconds, loop=0)
        path = Path(path)
        make_folder(path.parent, "BackwardSteps.save_gif")
        write_bytes_atomically(path, buffer.getvalue())
        return path

    # -- Jupyter -----------------------------------------------------------------------------
    def _frame_html(self, index: int) -> str:
        step = self._steps[index]
        data = base64.b64encode(step.svg().encode("utf-8")).decode("ascii")
        # An <img> of a data URI: frames do not share element ids, and an SVG shown as an
        # image runs nothing. The caption holds user names: escaped for the attribute.
        return (f'<div style="margin-bottom:1em"><img style="max-width:100%" alt="{html.escape(step.caption)}" '
                f'src="data:image/svg+xml;base64,{data}"/></div>')

    def _repr_html_(self) -> str:
        """Every frame, one under the other (what a notebook shows for the object)."""
        try:
            return "<div>" + "".join(self._frame_html(i) for i in range(len(self._steps))) + "</div>"
        except RenderError as missing:  # no renderer: the steps in words
            captions = "\n\n".join(step.caption for step in self._steps)
            return f"<p>{html.escape(str(missing))}</p><pre>{html.escape(captions)}</pre>"

    def show(self) -> None:
        """Display the frames in Jupyter: a slider to step through them when ipywidgets is
        installed, otherwise every frame, one under the other."""
        try:
            from IPython.display import HTML, display
        except ImportError:
            raise RuntimeError("BackwardSteps.show() displays in Jupyter, and IPython is not installed; "
                               "write the frames with save(folder) or save_gif(path) instead") from None
        try:
            import ipywidgets
        except ImportError:
            display(HTML(self._repr_html_()))
            return
        slider = ipywidgets.IntSlider(value=1, min=1, max=len(self._steps), description="step")
        view = ipywidgets.HTML(self._frame_html(0))

        def _turn(change) -> None:
            view.value = self._frame_html(change["new"] - 1)

        slider.observe(_turn, names="value")
        display(ipywidgets.VBox([slider, view]))


# -- building the steps -------------------------------------------------------------------------
@dataclass
class _Visit:
    """What the engine did at one operation: called its backward with ``grads_in``, got ``grads_out``."""

    node: object
    grads_in: tuple
    grads_out: tuple


def backward_steps(tensor: Tensor, grad=None, show: Iterable[str] = STEP_SHOW, rankdir: str = AUTO,
                   max_nodes: int = 300, group_modules: bool = True) -> BackwardSteps:
    """The backward pass from ``tensor``, one drawing per operation it visits.

    Frame k highlights the k-th operation ``tensor.backward()`` would visit, with the
    gradient flowing into it and those it sends to its inputs (red), the part already
    finished (grey) and each value's gradient so far ("grad so far" until every
    operation that uses the value has sent its share). Nothing is changed: no ``.grad``
    is written and the graph can still be walked by ``backward()`` afterwards. Hooks
    registered on tensors run, as they would in ``backward()``.

    ``grad`` is the gradient to start from, as in ``backward(grad)`` (ones for a single
    value). ``show`` picks what value boxes display besides their gradient ("shape",
    "data"); ``rankdir``, ``max_nodes`` and ``group_modules`` are ``draw_graph``'s.
    Call it before ``backward()`` (or after ``backward(retain_graph=True)``): a plain
    backward frees what the walk needs.
    """
    show = _checked_show(show)
    _, max_nodes = _checked_arguments(tensor, ("op",), rankdir, max_nodes, group_modules, False,
                                      caller="backward_steps")
    visits, after_hooks = _walk(tensor, grad)
    drawing = _Drawing.of(tensor, show | {"op"}, max_nodes, group_modules, False)
    return BackwardSteps(_frames(drawing, visits, after_hooks, drawing.direction(rankdir)))


def _checked_show(show) -> set:
    if isinstance(show, str) or not isinstance(show, Iterable):
        raise TypeError(f"backward_steps: show takes a tuple of options from {STEP_SHOW}, got {show!r}")
    show = set(show)
    unknown = show - set(STEP_SHOW)
    if unknown:
        raise ValueError(f"backward_steps: unknown show option(s) {sorted(map(str, unknown))}; choose from "
                         f"{STEP_SHOW} (operations and gradients are always drawn)")
    return show


def _walk(output: Tensor, seed) -> tuple[list[_Visit], dict[int, np.ndarray]]:
    """Run the engine's walk from ``output`` (``mg.grad`` of every leaf: no ``.grad`` is
    written, the graph is kept) and record each operation's backward call, in the order
    the engine makes them, and the complete gradient of each tensor with hooks as its
    hooks leave it (by id): what backward gives it, not the sum of what reached it."""
    if not output.requires_grad or output._node is None:
        raise RuntimeError("backward_steps: this tensor has no graph to walk; compute it from tensors created "
                           "with requires_grad=True (and not inside mg.no_grad())")
    if output.data is not FREED:  # (else the check below says what happened)
        # backward()'s own rule for the gradient to start from, its errors naming grad=
        seed = _seed_grad(output, seed, "backward_steps", "grad")
    tensors = graph_nodes(output).tensors.values()
    nodes = {id(t._node): t._node for t in tensors if t._node is not None and t.requires_grad}
    if any(node._saved is RELEASED for node in nodes.values()) or any(t.data is FREED for t in tensors):
        raise RuntimeError("backward_steps: backward() has already walked this graph and freed what the walk "
                           "needs; call backward_steps before loss.backward(), or call "
                           "loss.backward(retain_graph=True)")
    leaves = [t for t in tensors if t._node is None and t.requires_grad]
    visits: list[_Visit] = []
    watched = []
    after_hooks: dict[int, np.ndarray] = {}
    # A last hook on each tensor with hooks sees the gradient the others made: the engine runs
    # the hooks itself, once each and in its order, and this one only records the result.
    recorders = [t.register_hook(_recording(t, after_hooks)) for t in tensors if t._hooks]
    retained = [(t, t._grad) for t in tensors if t._retains_grad]  # (mg.grad adds to them, as PyTorch's)
    try:
        for node in nodes.values():
            # An attribute on the node hides its class's backward from the engine's
            # node.backward(...) call: the wrapper sees the engine's own calls, in its order.
            had_own = "backward" in vars(node)
            watched.append((node, had_own, vars(node).get("backward")))
            node.backward = _watching(node, node.backward, visits)
        engine_grad(output, leaves, grad_outputs=seed, retain_graph=True, allow_unused=True)
    finally:
        for recorder in recorders:
            recorder.remove()
        for node, had_own, own in watched:
            if had_own:
                node.backward = own
            else:
                del node.backward
        for tensor, grad in retained:
            tensor._grad = grad
    return visits, after_hooks


def _recording(tensor: Tensor, after_hooks: dict[int, np.ndarray]):
    def record_gradient(grad) -> None:
        # A copy: the engine may go on to add into the array it hands on.
        after_hooks[id(tensor)] = np.array(grad.data if isinstance(grad, Tensor) else grad)

    return record_gradient


def _watching(node, backward, visits: list[_Visit]):
    def watched_backward(*arguments):
        grads = backward(*arguments)  # (ctx, grad) for one output, (ctx, *grads) for several
        visits.append(_Visit(node, tuple(arguments[1:]), grads if type(grads) is tuple else (grads,)))
        return grads

    return watched_backward


@dataclass
class _Frame:
    """What one frame draws differently from draw_graph."""

    texts: dict[str, str]  # value node id -> its text with the gradient so far
    node_attrs: dict[str, dict]
    edge_attrs: dict[int, dict]
    caption: str


def _frames(drawing: _Drawing, visits: list[_Visit], after_hooks: dict[int, np.ndarray], rankdir: str) -> list[Step]:
    """One Step per visit: the drawing's nodes and edges restyled, its value boxes relabelled
    (``after_hooks``: id of a tensor with hooks -> its complete gradient after them)."""
    outputs: dict[int, list[Tensor]] = {}  # id(node) -> its outputs, in the drawing's order
    for t in graph_nodes(drawing.output).tensors.values():
        if t._node is not None:
            outputs.setdefault(id(t._node), []).append(t)
    sent_by_visit = [_grads_out(visit) for visit in visits]
    expected: dict[int, int] = {}  # id(tensor) -> how many gradients it receives in all
    for visit, sent in zip(visits, sent_by_visit):
        for x, g in zip(visit.node.inputs, sent):
            if g is not None:
                expected[id(x)] = expected.get(id(x), 0) + 1
    edges_from: dict[str, list[int]] = {}  # node id -> the indexes of the edges leaving it
    edges_to: dict[str, list[int]] = {}
    for index, edge in enumerate(drawing.edges):
        edges_from.setdefault(edge.tail, []).append(index)
        edges_to.setdefault(edge.head, []).append(index)
    # "#k" before each operation: the step that visits it, as draw_graph(order=True) numbers them.
    numbers = {id(visit.node): number for number, visit in enumerate(visits, start=1)}
    numbered = {drawing.op_of[key]: f"#{number} {drawing.nodes[drawing.op_of[key]].text}"
                for key, number in numbers.items() if key in drawing.op_of}

    received: dict[int, np.ndarray] = {}  # id(tensor) -> the sum of the gradients it got so far
    arrivals: dict[int, int] = {}
    if visits:  # the output starts with the seed: what its operation receives first
        root = drawing.output
        received[id(root)], arrivals[id(root)], expected[id(root)] = np.asarray(visits[0].grads_in[0]), 1, 1
    finished: dict[str, dict] = {}  # node id -> _DONE, for what backward has finished with
    finished_edges: dict[int, dict] = {}
    frames = []
    for number, (visit, sent) in enumerate(zip(visits, sent_by_visit), start=1):
        op = drawing.op_of.get(id(visit.node), COLLAPSED if drawing.collapsed else None)
        own = [drawing.value_of[id(t)] for t in outputs.get(id(visit.node), ()) if id(t) in drawing.value_of]
        receivers = []
        for x, g in zip(visit.node.inputs, sent):
            if g is not None:
                received[id(x)] = received[id(x)] + g if id(x) in received else g
                arrivals[id(x)] = arrivals.get(id(x), 0) + 1
                if id(x) in drawing.value_of:
                    receivers.append(drawing.value_of[id(x)])
        current_edges = [i for i in edges_from.get(op, ()) if drawing.edges[i].head in own]
        current_edges += [i for i in edges_to.get(op, ()) if drawing.edges[i].tail in receivers]
        node_attrs = dict(finished) | dict.fromkeys(own + receivers, _CURRENT_VALUE)
        if op is not None:
            node_attrs[op] = _CURRENT_OP
        edge_attrs = dict(finished_edges) | dict.fromkeys(current_edges, _CURRENT_EDGE)
        texts = _texts(drawing, received, arrivals, expected, after_hooks) | numbered
        caption = _caption(drawing, visit, sent, number, len(visits), op, numbers)
        frames.append(_Frame(texts, node_attrs, edge_attrs, caption))
        # Finished from the next frame on: this operation, its outputs (their gradient has
        # gone on to the inputs), the edges it used and the leaves that have all they get.
        if op is not None and op != COLLAPSED:
            finished[op] = _DONE
        finished.update(dict.fromkeys(own, _DONE))
        finished_edges.update(dict.fromkeys(current_edges, _DONE_EDGE))
        for x, g in zip(visit.node.inputs, sent):
            if g is not None and x._node is None and arrivals[id(x)] == expected[id(x)] and id(x) in drawing.value_of:
                finished[drawing.value_of[id(x)]] = _DONE

    sizes = _fixed_sizes(drawing, [frame.texts for frame in frames])
    steps = []
    for number, (visit, sent, frame) in enumerate(zip(visits, sent_by_visit, frames), start=1):
        node_attrs = {name: frame.node_attrs.get(name, {}) | sizes.get(name, {})
                      for name in frame.node_attrs.keys() | sizes.keys()}
        graph = drawing.digraph(rankdir, texts=frame.texts, node_attrs=node_attrs, edge_attrs=frame.edge_attrs,
                                graph_attrs={"label": _label(frame.caption), "labelloc": "b", "fontsize": "12"})
        outputs_of = outputs.get(id(visit.node)) or [None]
        steps.append(Step(number=number, total=len(visits), operation=str(visit.node.name), tensor=outputs_of[0],
                          grad_in=visit.grads_in[0] if len(visit.grads_in) == 1 else visit.grads_in,
                          grads_out=sent, caption=frame.caption, graph=graph))
    return steps


def _grads_out(visit: _Visit) -> tuple:
    """What the visit sends to each input: its gradient as an ndarray, summed over the axes
    the input was broadcast along (as the engine delivers it), or None."""
    result = []
    for x, g in zip(visit.node.inputs, visit.grads_out):
        if g is None or not isinstance(x, Tensor) or not x.requires_grad:
            result.append(None)  # the engine delivers nothing there either
            continue
        g = np.asarray(g.data if isinstance(g, Tensor) else g)
        result.append(sum_to_shape(g, x.data.shape) if g.shape != x.data.shape else g)
    return tuple(result)


def _texts(drawing: _Drawing, received, arrivals, expected, after_hooks) -> dict[str, str]:
    """Each value box's text with the gradient it has received so far; once complete, the
    gradient after its hooks, as backward leaves it."""
    show = drawing.show - {"grad"}
    texts = {}
    for name, t in drawing.values.items():
        grad = None
        if id(t) in received and arrivals[id(t)] < expected[id(t)]:
            grad = "grad so far " + _format(received[id(t)])
        elif id(t) in received:
            grad = "grad " + _format(after_hooks.get(id(t), received[id(t)]))
        texts[name] = _value_label(t, drawing.names.get(id(t)), show, grad=grad)
    return texts


def _fixed_sizes(drawing: _Drawing, frames: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    """A minimum width and height for each value box, those of its largest text (a little
    more: the estimate is close, not exact), so that every frame has the same layout
    (Graphviz sizes a node to its text)."""
    sizes = {}
    for name in drawing.values:
        node = drawing.nodes[name]
        width = height = 0.0
        for texts in frames:
            w, h = _node_size(texts.get(name, node.text), node.attrs.get("shape"))
            width, height = max(width, w), max(height, h)
        sizes[name] = {"width": f"{width * 1.05 / 72:.2f}", "height": f"{height / 72:.2f}"}
    return sizes


def _caption(drawing: _Drawing, visit: _Visit, sent: tuple, number: int, total: int, op: str | None,
             numbers: dict[int, int]) -> str:
    """The frame's text: which operation, what it receives, what it sends to whom
    (``numbers``: id of each operation -> the step that visits it)."""
    hidden = " (not drawn: beyond max_nodes)" if op == COLLAPSED else ""
    received = "; ".join(_described(g) for g in visit.grads_in if g is not None)
    lines = [f"step {number} of {total}: {visit.node.name}{hidden}",
             f"receives the gradient of its output: {received}" if len(visit.grads_in) == 1
             else f"receives the gradients of its outputs: {received}"]
    receiving = [(position, x, g) for position, (x, g) in enumerate(zip(visit.node.inputs, sent)) if g is not None]
    for position, x, g in receiving[:_MAX_CAPTION_INPUTS]:
        lines.append(f"sends {_described(g)} to {_called(drawing, x, position, numbers)}")
    if len(receiving) > _MAX_CAPTION_INPUTS:
        lines.append(f"and gradients to {len(receiving) - _MAX_CAPTION_INPUTS} more inputs")
    if not receiving:
        lines.append("sends nothing on: no input requires grad")
    return "\n".join(lines)


def _called(drawing: _Drawing, x: Tensor, position: int, numbers: dict[int, int]) -> str:
    """What a caption calls an input: its name, the operation that made it, or its position."""
    name = drawing.names.get(id(x))
    if name:
        return str(name)
    if x._node is not None and id(x._node) in numbers:
        return f"the result of #{numbers[id(x._node)]} {x._node.name}"
    return f"input {position + 1}"


def _described(g) -> str:
    """A gradient on one line: its values (or min/mean/max) and its shape."""
    array = np.asarray(g.data if isinstance(g, Tensor) else g)
    if array.ndim == 0:
        return _format(array)
    return f"{_format(array, one_line=True)} ({'x'.join(map(str, array.shape))})"
