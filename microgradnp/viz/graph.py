"""``draw_graph``: the computation graph behind a tensor as a ``graphviz.Digraph``.

Value nodes (boxes) show a tensor's name, shape, dtype, values (or min/mean/max for
big ones) and, after ``backward()``, its gradient; operation nodes (ellipses) show the
primitive. Parameters are named by their Module path and module calls are drawn as
clusters; ``order=True`` numbers the operations in the order backward visits them.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field

import graphviz
import numpy as np

from microgradnp.nn.module import Module, Parameter
from microgradnp.tensor import FREED, Tensor

__all__ = ["draw_graph", "graph_nodes"]

SHOW_ALL = ("op", "shape", "data", "grad")
RANKDIRS = ("LR", "TB", "RL", "BT")
_VALUES_SHOWN = 6  # tensors with more elements are summarised as min/mean/max
_FREED = "(freed by backward:\nkeep the tensor or pass\nretain_graph=True)"  # see tensor.FREED

_STYLE = {
    "value": {"shape": "box", "style": "rounded,filled", "fillcolor": "#f7f7f7", "color": "#888888"},
    "parameter": {"shape": "box", "style": "rounded,filled", "fillcolor": "#dbeafe", "color": "#3b82f6"},
    "input": {"shape": "box", "style": "rounded,filled", "fillcolor": "#fef3c7", "color": "#d97706"},
    "constant": {"shape": "box", "style": "dashed", "color": "#9ca3af", "fontcolor": "#4b5563"},
    "output": {"shape": "box", "style": "rounded,filled,bold", "fillcolor": "#dcfce7", "color": "#16a34a"},
    "op": {"shape": "ellipse", "style": "filled", "fillcolor": "#fde68a", "color": "#b45309"},
    "summary": {"shape": "note", "style": "filled", "fillcolor": "#eeeeee", "color": "#666666"},
}


@dataclass
class _Walk:
    """What a walk from the output found: tensors, operations, constants, module calls."""

    tensors: dict[int, Tensor] = field(default_factory=dict)
    distance: dict[int, int] = field(default_factory=dict)  # edges from the output, for collapsing
    calls: list[tuple[Module, int, int]] = field(default_factory=list)  # (module, newest, oldest) order


def graph_nodes(output: Tensor) -> _Walk:
    """Every tensor the output was computed from, breadth first (no recursion)."""
    walk = _Walk()
    queue = deque([(output, 0)])
    while queue:
        tensor, depth = queue.popleft()
        if id(tensor) in walk.tensors:
            continue
        walk.tensors[id(tensor)] = tensor
        walk.distance[id(tensor)] = depth
        node = tensor._node
        if node is None:
            continue
        for module, first in node.module_calls:
            walk.calls.append((module, node._order, first))
        for x in node.inputs:
            if isinstance(x, Tensor) and id(x) not in walk.tensors:
                queue.append((x, depth + 1))
    return walk


def draw_graph(tensor: Tensor, show: Iterable[str] = SHOW_ALL, rankdir: str = "LR", max_nodes: int = 300,
               group_modules: bool = True, order: bool = False) -> graphviz.Digraph:
    """Draw the graph that computed ``tensor``.

    ``show`` picks what value nodes display: "op" (operation nodes at all; without it
    values link directly), "shape", "data", "grad". ``rankdir`` is Graphviz's layout
    direction: "LR" (left to right), "TB" (top to bottom; taller and narrower, often
    easier to read for a whole network), "RL" or "BT". Beyond ``max_nodes`` the nodes farthest from the
    output collapse into one summary node. ``group_modules`` draws each module call
    as a labelled cluster; ``order`` numbers the operations in the order ``backward``
    visits them (1 first). Render it with ``mg.viz.render`` or display it in Jupyter.
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"draw_graph: expected a Tensor, got {type(tensor).__name__}")
    show = set(show)
    unknown = show - set(SHOW_ALL)
    if unknown:
        raise ValueError(f"draw_graph: unknown show option(s) {sorted(unknown)}; choose from {SHOW_ALL}")
    if rankdir not in RANKDIRS:
        raise ValueError(f"draw_graph: rankdir must be one of {RANKDIRS}, got {rankdir!r}")
    if max_nodes < 2:
        raise ValueError(f"draw_graph: max_nodes must be at least 2, got {max_nodes}")
    walk = graph_nodes(tensor)
    number = {key: i for i, key in enumerate(walk.tensors)}  # stable node ids: the same graph, the same DOT

    def _value_id(t: Tensor) -> str:
        return f"v{number[id(t)]}"

    def _op_id(t: Tensor) -> str:
        return f"op{number[id(t)]}"

    names = _parameter_names(walk)
    kept = _kept_tensors(walk, max_nodes, "op" in show)
    visit = _backward_order(walk) if order else {}

    dot = graphviz.Digraph("computation_graph", graph_attr={"rankdir": rankdir, "fontname": "Helvetica",
                                                           "nodesep": "0.25", "ranksep": "0.35"},
                           node_attr={"fontname": "Helvetica", "fontsize": "10"},
                           edge_attr={"color": "#555555", "arrowsize": "0.7"})
    clusters = _Clusters(walk, names, group_modules)
    collapsed = False
    drawn_ops: dict[int, Tensor] = {}  # a Function with several outputs -> the output drawn with it
    for key, t in walk.tensors.items():
        if key not in kept:
            continue
        kind = "output" if t is tensor else _kind(t)
        clusters.graph_of(t, dot).node(_value_id(t), _value_label(t, names.get(key), show), **_STYLE[kind])
        node = t._node
        if node is None:
            continue
        if node._outputs is not None and "op" in show:  # a Function with several outputs: one operation node
            first = drawn_ops.setdefault(id(node), t)
            if first is not t:
                dot.edge(_op_id(first), _value_id(t))
                continue
        if "op" in show:
            rank = f"#{visit[id(node)]} " if id(node) in visit else ""
            clusters.graph_of(t, dot).node(_op_id(t), rank + _op_label(node), **_STYLE["op"])
            dot.edge(_op_id(t), _value_id(t))
        target = _op_id(t) if "op" in show else _value_id(t)
        for position, x in enumerate(node.inputs):
            if isinstance(x, Tensor):
                if id(x) in kept:
                    dot.edge(_value_id(x), target)
                else:
                    collapsed = True
                    dot.edge("collapsed", target, style="dashed")
            elif x is not None and "op" in show:
                name = f"const{number[id(t)]}_{position}"
                dot.node(name, _constant_label(x, show), **_STYLE["constant"])
                dot.edge(name, target, style="dashed")
    if collapsed:
        missing = len(walk.tensors) - len(kept)
        hidden = Counter(t._node.name for key, t in walk.tensors.items() if key not in kept and t._node is not None)
        ops = ", ".join(f"{name} x{count}" for name, count in hidden.most_common(6))
        dot.node("collapsed", f"{missing} earlier values not drawn\n({ops})", **_STYLE["summary"])
    clusters.close(dot)
    return dot


# -- naming ---------------------------------------------------------------------------------
def _parameter_names(walk: _Walk) -> dict[int, str]:
    """Parameters named by the outermost module calls that own them (e.g. "fc1.weight")."""
    names: dict[int, str] = {}
    for module, _, _ in sorted(walk.calls, key=_width):  # the widest call names last, so it wins
        for name, parameter in module.named_parameters():
            names[id(parameter)] = name
    for key, t in walk.tensors.items():
        if t.name:
            names.setdefault(key, t.name)
    return names


def _width(call) -> int:
    """How many creation stamps a module call spans (an outer call spans its inner ones)."""
    return call[2] - call[1]


def _kind(t: Tensor) -> str:
    if isinstance(t, Parameter):
        return "parameter"
    if t._node is None:
        return "input" if t.requires_grad or t.name else "constant"
    return "value"




def _format(array: np.ndarray) -> str:
    array = np.asarray(array)
    if array.size <= _VALUES_SHOWN:
        values = ", ".join(f"{v:.4g}" for v in array.reshape(-1).tolist())
        return values if array.ndim == 0 else f"[{values}]"
    return f"min {array.min():.3g}  mean {array.mean():.3g}  max {array.max():.3g}"


def _value_label(t: Tensor, name: str | None, show: set) -> str:
    lines = [name] if name else []
    if t.data is FREED:  # its shape and values went with the data
        lines.append(_FREED)
    else:
        if "shape" in show:
            shape = "x".join(map(str, t.shape)) or "scalar"
            lines.append(shape if t.dtype == np.float64 else f"{shape} {t.dtype}")
        if "data" in show:
            lines.append(_format(t.data))
    if "grad" in show and t.grad is not None:
        lines.append("grad " + _format(t.grad))
    return "\n".join(lines) or " "


def _op_label(node) -> str:
    settings = [f"{key}={value}" for key, value in vars(node).items()
                if key in ("axis", "slope", "reduction", "stride", "padding", "dilation", "groups") and value]
    return node.name + (f"\n{', '.join(settings)}" if settings else "")


def _constant_label(value, show: set) -> str:
    array = np.asarray(value)
    if array.ndim == 0 or (array.size <= _VALUES_SHOWN and "data" in show):
        return _format(array) if array.ndim else f"{array.item():.4g}"
    return "constant " + "x".join(map(str, array.shape))


# -- collapsing and ordering ----------------------------------------------------------------
def _drawn_nodes(t: Tensor, with_ops: bool) -> int:
    """How many nodes a tensor adds: its value, and its operation with that one's constants."""
    if t._node is None or not with_ops:
        return 1
    return 2 + sum(1 for x in t._node.inputs if x is not None and not isinstance(x, Tensor))


def _kept_tensors(walk: _Walk, max_nodes: int, with_ops: bool) -> set[int]:
    """The tensors to draw: all of them, or as many of those closest to the output as
    fit in ``max_nodes`` drawn nodes."""
    cost = {key: _drawn_nodes(t, with_ops) for key, t in walk.tensors.items()}
    if sum(cost.values()) <= max_nodes:
        return set(walk.tensors)
    kept, used = set(), 1  # room for the summary node
    for key in sorted(walk.tensors, key=walk.distance.__getitem__):
        if used + cost[key] > max_nodes:
            break
        kept.add(key)
        used += cost[key]
    return kept


def _backward_order(walk: _Walk) -> dict[int, int]:
    """1 for the operation backward runs first, and so on: newest first, as the engine pops them."""
    nodes = [t._node for t in walk.tensors.values() if t._node is not None and t.requires_grad]
    return {id(node): rank for rank, node in enumerate(sorted(nodes, key=lambda n: n._order), start=1)}


# -- module clusters ------------------------------------------------------------------------
class _Clusters:
    """Subgraphs for module calls: a computed tensor goes in the innermost call that
    created it; a parameter in the innermost call of the module that owns it."""

    def __init__(self, walk: _Walk, names: dict[int, str], enabled: bool):
        self.calls = sorted(walk.calls, key=_width, reverse=True) if enabled else []
        self.module_names = {}
        for module, _, _ in sorted(walk.calls, key=_width):
            for name, sub in module.named_modules():
                self.module_names[id(sub)] = name
        self.graphs: dict[int, graphviz.Digraph] = {}
        self.parents: dict[int, int | None] = {}
        for index, (_, newest, oldest) in enumerate(self.calls):
            outer = [j for j, (_, n, o) in enumerate(self.calls[:index]) if n <= newest and oldest <= o]
            self.parents[index] = outer[-1] if outer else None

    def _innermost(self, test) -> int | None:
        inside = [i for i, call in enumerate(self.calls) if test(call)]
        return inside[-1] if inside else None

    def graph_of(self, t: Tensor, dot: graphviz.Digraph) -> graphviz.Digraph:
        if not self.calls:
            return dot
        node = t._node
        if node is not None:
            index = self._innermost(lambda call: call[1] <= node._order < call[2])
        else:
            index = self._innermost(lambda call: any(p is t for p in call[0]._parameters.values()))
        return dot if index is None else self._cluster(index)

    def _cluster(self, index: int) -> graphviz.Digraph:
        if index not in self.graphs:
            module = self.calls[index][0]
            name = self.module_names.get(id(module), "")
            label = f"{name}: {type(module).__name__}" if name else type(module).__name__
            self.graphs[index] = graphviz.Digraph(
                f"cluster_{index}", graph_attr={"label": label, "style": "rounded,dashed", "color": "#7c3aed",
                                               "fontcolor": "#5b21b6", "fontsize": "11", "labeljust": "l"})
        return self.graphs[index]

    def close(self, dot: graphviz.Digraph) -> None:
        """Nest the clusters (inner ones inside their outer call's, creating outer calls
        that hold no node of their own) and add them to ``dot``, innermost first because
        ``subgraph`` copies what its argument holds at that moment."""
        for index in list(self.graphs):
            parent = self.parents.get(index)
            while parent is not None and parent not in self.graphs:
                self._cluster(parent)
                parent = self.parents.get(parent)
        for index in sorted(self.graphs, reverse=True):
            parent = self.parents.get(index)
            (self.graphs[parent] if parent is not None else dot).subgraph(self.graphs[index])
