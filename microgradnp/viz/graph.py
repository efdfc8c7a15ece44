"""``draw_graph``: the computation graph behind a tensor as a ``graphviz.Digraph``.

Value nodes (boxes) show a tensor's name, shape, dtype, values (matrices row by row,
min/mean/max for big ones) and, after ``backward()``, its gradient; operation nodes
(ellipses) show the primitive. Parameters are named by their Module path, a loss's
unnamed target "target" and a model's unnamed input "input"; module calls are drawn as
clusters; ``order=True`` numbers the operations in the order backward visits them.
"""

from __future__ import annotations

import inspect
import numbers
import re
import weakref
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from heapq import heappop, heappush

import graphviz
import numpy as np

from microgradnp.nn.module import Module, Parameter
from microgradnp.tensor import FREED, Tensor

__all__ = ["draw_graph", "graph_nodes"]

SHOW_ALL = ("op", "shape", "data", "grad")
RANKDIRS = ("LR", "TB", "RL", "BT")
AUTO = "auto"  # draw_graph's default rankdir: LR or TB, whichever fits a slide better
COLLAPSED = "collapsed"  # the id of the summary node that stands for the nodes beyond max_nodes
# A 16:9 slide of 1920x1080 pixels, in points (72 per inch; 96 pixels per inch).
_SLIDE_WIDTH, _SLIDE_HEIGHT = 1440.0, 810.0
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

    tensors: dict[int, Tensor] = field(default_factory=dict)  # closest to the output first
    calls: list[tuple[Module, int, int]] = field(default_factory=list)  # (module, newest, oldest) order


def graph_nodes(output: Tensor) -> _Walk:
    """Every tensor the output was computed from, breadth first (no recursion)."""
    walk = _Walk()
    tensors, calls = walk.tensors, walk.calls  # local names: this loop visits every tensor of the graph
    queue = deque([output])
    while queue:
        tensor = queue.popleft()
        if id(tensor) in tensors:
            continue
        tensors[id(tensor)] = tensor
        node = tensor._node
        if node is None:
            continue
        for module, first in node.module_calls:
            calls.append((module, node._order, first))
        for x in node.inputs:
            if isinstance(x, Tensor) and id(x) not in tensors:
                queue.append(x)
    return walk


def draw_graph(tensor: Tensor, show: Iterable[str] = SHOW_ALL, rankdir: str = AUTO, max_nodes: int = 300,
               group_modules: bool = True, order: bool = False) -> graphviz.Digraph:
    """Draw the graph that computed ``tensor``.

    ``show`` picks what value nodes display: "op" (operation nodes at all; without it
    values link directly), "shape", "data", "grad". ``rankdir`` is Graphviz's layout
    direction: "auto" (the default) picks whichever of "LR" (left to right) and "TB"
    (top to bottom) shows the whole graph largest on a 16:9 slide, so short chains run
    left to right and deep networks top to bottom; "RL" and "BT" reverse them. Beyond
    ``max_nodes`` the nodes farthest from the output collapse into one summary node.
    ``group_modules`` draws each module call as a labelled cluster; ``order`` numbers
    the operations in the order ``backward`` visits them (1 first). Unnamed data gets
    the name of its role: a loss's target is drawn as "target", the first operand of a
    module call's first operation (the model's input) as "input". Render it with
    ``mg.viz.render`` or display it in Jupyter.
    """
    show, max_nodes = _checked_arguments(tensor, show, rankdir, max_nodes, group_modules, order)
    drawing = _Drawing.of(tensor, show, max_nodes, group_modules, order)
    return drawing.digraph(drawing.direction(rankdir))


@dataclass
class _Node:
    text: str  # not yet escaped: _Drawing.digraph escapes every label with _label
    attrs: dict[str, str]
    cluster: int | None  # the module call it is drawn in (an index of _Clusters.calls), or None


@dataclass
class _Edge:
    tail: str
    head: str
    attrs: dict[str, str]


class _Drawing:
    """A drawing before it becomes DOT: its nodes and edges in the order they are added.

    ``draw_graph`` turns it into one Digraph; ``backward_steps`` into one per step of
    the backward pass, each with other texts and colours on the same nodes and edges
    (so that every frame has the same layout)."""

    def __init__(self, output: Tensor, show: set, clusters: _Clusters):
        self.output = output
        self.show = show
        self.clusters = clusters
        self.nodes: dict[str, _Node] = {}
        self.edges: list[_Edge] = []
        self.statements: list[str | int] = []  # node ids and edge indexes, as added
        self.values: dict[str, Tensor] = {}  # value node id -> its tensor
        self.value_of: dict[int, str] = {}  # id(tensor) -> its value node id
        self.op_of: dict[int, str] = {}  # id(Function node) -> its operation node id
        self.names: dict[int, str] = {}  # id(tensor) -> the name drawn
        self.collapsed = False

    @classmethod
    def of(cls, tensor: Tensor, show: set, max_nodes: int, group_modules: bool, order: bool) -> _Drawing:
        walk = graph_nodes(tensor)
        number = {key: i for i, key in enumerate(walk.tensors)}  # stable node ids: the same graph, the same DOT

        def _value_id(t: Tensor) -> str:
            return f"v{number[id(t)]}"

        def _op_id(t: Tensor) -> str:
            return f"op{number[id(t)]}"

        names, module_names, constant_names = _names(walk)
        kept = _kept_tensors(walk, max_nodes, "op" in show)
        visit = _backward_order(walk) if order else {}
        clusters = _Clusters(walk, module_names, group_modules, [t for key, t in walk.tensors.items() if key in kept])
        drawing = cls(tensor, show, clusters)
        drawing.names = names
        drawn_ops: dict[int, Tensor] = {}  # a Function with several outputs -> the output drawn with it
        # One dashed edge from the summary node into each target, however many of the target's
        # inputs are hidden (hundreds of parallel edges would be the hairball the summary avoids).
        hidden_inputs: dict[str, list] = {}  # target -> [its edge from COLLAPSED, how many hidden inputs]
        for key, t in walk.tensors.items():
            if key not in kept:
                continue
            kind = "output" if t is tensor else _kind(t, key in names)
            value = _value_id(t)
            drawing.node(value, _value_label(t, names.get(key), show), _STYLE[kind], clusters.index_of(t))
            drawing.values[value] = t
            drawing.value_of[key] = value
            node = t._node
            if node is None:
                continue
            if node._outputs is not None and "op" in show:  # a Function with several outputs: one operation node
                first = drawn_ops.setdefault(id(node), t)
                if first is not t:
                    drawing.edge(_op_id(first), value)
                    continue
            if "op" in show:
                rank = f"#{visit[id(node)]} " if id(node) in visit else ""
                drawing.node(_op_id(t), rank + _op_label(node), _STYLE["op"], clusters.index_of(t))
                drawing.op_of[id(node)] = _op_id(t)
                drawing.edge(_op_id(t), value)
            target = _op_id(t) if "op" in show else value
            for position, x in enumerate(node.inputs):
                if isinstance(x, Tensor):
                    if id(x) in kept:
                        drawing.edge(_value_id(x), target)
                    elif target in hidden_inputs:
                        hidden_inputs[target][1] += 1
                    else:
                        drawing.collapsed = True
                        drawing.edge(COLLAPSED, target, style="dashed")
                        hidden_inputs[target] = [drawing.edges[-1], 1]
                elif x is not None and "op" in show:
                    name = f"const{number[id(t)]}_{position}"
                    role = constant_names.get((id(node), position))
                    drawing.node(name, _constant_label(x, show, role), _STYLE["input" if role else "constant"])
                    drawing.edge(name, target, style="dashed")
        for edge, count in hidden_inputs.values():
            if count > 1:
                edge.attrs["label"] = f"x{count}"
        if drawing.collapsed:
            missing = len(walk.tensors) - len(kept)
            hidden = Counter(t._node.name for key, t in walk.tensors.items() if key not in kept and t._node is not None)
            ops = ", ".join(f"{name} x{count}" for name, count in hidden.most_common(6))
            drawing.node(COLLAPSED, f"{missing} earlier values not drawn\n({ops})", _STYLE["summary"])
        return drawing

    def node(self, name: str, text: str, attrs: dict[str, str], cluster: int | None = None) -> None:
        self.nodes[name] = _Node(text, attrs, cluster)
        self.statements.append(name)

    def edge(self, tail: str, head: str, **attrs: str) -> None:
        self.statements.append(len(self.edges))
        self.edges.append(_Edge(tail, head, attrs))

    def direction(self, rankdir: str) -> str:
        """``rankdir`` itself, or for "auto" the direction that shows the drawing largest on a slide."""
        if rankdir != AUTO:
            return rankdir
        sizes = _estimated_sizes(self)
        across, down = _slide_scale(*sizes["LR"]), _slide_scale(*sizes["TB"])
        return "TB" if down > across else "LR"  # left to right when both fit: it reads like the formula

    def digraph(self, rankdir: str, texts: dict[str, str] | None = None, node_attrs: dict[str, dict] | None = None,
                edge_attrs: dict[int, dict] | None = None, graph_attrs: dict[str, str] | None = None,
                ) -> graphviz.Digraph:
        """The drawing as a Digraph; ``texts``, ``node_attrs`` (by node id) and ``edge_attrs``
        (by edge index) replace or add to what ``draw_graph`` draws, for one frame of
        ``backward_steps``."""
        texts, node_attrs, edge_attrs = texts or {}, node_attrs or {}, edge_attrs or {}
        dot = graphviz.Digraph("computation_graph", graph_attr={"rankdir": rankdir, "fontname": "Helvetica",
                                                               "nodesep": "0.25", "ranksep": "0.35",
                                                               **(graph_attrs or {})},
                               node_attr={"fontname": "Helvetica", "fontsize": "10"},
                               edge_attr={"color": "#555555", "arrowsize": "0.7"})
        self.clusters.begin()
        for statement in self.statements:
            if isinstance(statement, str):
                node = self.nodes[statement]
                attrs = node.attrs | node_attrs[statement] if statement in node_attrs else node.attrs
                graph = dot if node.cluster is None else self.clusters.graph(node.cluster)
                graph.node(statement, _label(texts.get(statement, node.text)), **attrs)
            else:
                edge = self.edges[statement]
                attrs = edge.attrs | edge_attrs[statement] if statement in edge_attrs else edge.attrs
                dot.edge(edge.tail, edge.head, **attrs)
        self.clusters.close(dot)
        return dot


def _checked_arguments(tensor, show, rankdir, max_nodes, group_modules, order,
                       caller: str = "draw_graph") -> tuple[set, int]:
    """``show`` as a set and ``max_nodes`` as an int, after checking every argument: a
    wrong type gets a TypeError saying what was expected (``max_nodes="10"`` would
    otherwise fail deep inside as a comparison of str and int, ``order="False"`` would
    count as true). ``caller`` names the function in the messages."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{caller}: expected a Tensor, got {type(tensor).__name__}; "
                        f"draw the result of a computation, e.g. {caller}(loss) (wrap arrays with mg.tensor)")
    if isinstance(show, str):
        raise TypeError(f"{caller}: show takes a tuple of options such as ('op', 'shape'), got the string "
                        f"{show!r}; for one option write show=({show!r},)")
    if not isinstance(show, Iterable):
        raise TypeError(f"{caller}: show takes a tuple of options from {SHOW_ALL}, got {type(show).__name__}")
    show = list(show)
    wrong = [option for option in show if not isinstance(option, str)]
    if wrong:
        raise TypeError(f"{caller}: show options are strings from {SHOW_ALL}, got {wrong[0]!r} "
                        f"({type(wrong[0]).__name__})")
    unknown = set(show) - set(SHOW_ALL)
    if unknown:
        raise ValueError(f"{caller}: unknown show option(s) {sorted(unknown)}; choose from {SHOW_ALL}")
    if not isinstance(rankdir, str):
        raise TypeError(f"{caller}: rankdir must be a string, one of {RANKDIRS}, got {type(rankdir).__name__} "
                        f"{rankdir!r}, or {AUTO!r} (the default)")
    if rankdir not in RANKDIRS and rankdir != AUTO:
        raise ValueError(f"{caller}: rankdir must be one of {RANKDIRS}, got {rankdir!r}, or {AUTO!r} "
                         "(the default: whichever of 'LR' and 'TB' fits a slide better)")
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, numbers.Integral):
        hint = (f"; pass the number itself: max_nodes={int(max_nodes)}"
                if isinstance(max_nodes, str) and max_nodes.strip().isdecimal() else ", e.g. max_nodes=300")
        raise TypeError(f"{caller}: max_nodes must be an int (the most nodes to draw), got "
                        f"{type(max_nodes).__name__} {max_nodes!r}{hint}")
    if max_nodes < 2:
        raise ValueError(f"{caller}: max_nodes must be at least 2, got {max_nodes}")
    for name, flag in (("group_modules", group_modules), ("order", order)):
        if not isinstance(flag, bool | np.bool_):
            raise TypeError(f"{caller}: {name} must be True or False, got {type(flag).__name__} {flag!r}")
    return set(show), int(max_nodes)


# -- labels ---------------------------------------------------------------------------------
# Characters that neither DOT nor SVG can carry: NUL ends a DOT string; the other C0 controls
# (but tab, newline and carriage return), U+FFFE, U+FFFF and lone surrogates are not XML 1.0
# (the SVG would not parse; surrogates cannot even be encoded). The controls are drawn as
# their Unicode pictures (U+2400 + code, "␁"), the rest as U+FFFD.
_UNDRAWABLE = {code: 0x2400 + code for code in range(32) if chr(code) not in "\t\n\r"}
_NOT_XML = re.compile("[\ud800-\udfff\ufffe\uffff]")


def _label(text) -> str:
    """``text`` as a Graphviz label that shows exactly its characters, whatever a user
    put in a tensor, parameter, module or Function name.

    ``graphviz.escape`` keeps ``<...>`` from being an HTML-like label (which could carry
    elements and links into the SVG) and doubles backslashes, so that ``\\N``, ``\\G``,
    ``\\l``, ``\\n`` and a trailing backslash stay text; the graphviz package escapes the
    quotes. Graphviz also decodes HTML entities in plain labels (``&amp;`` would show as
    ``&``), hence the ``&amp;`` for every ``&``. A newline character is a line break.
    """
    text = _NOT_XML.sub("\ufffd", str(text).translate(_UNDRAWABLE))
    return graphviz.escape(text.replace("&", "&amp;"))


# -- naming ---------------------------------------------------------------------------------
def _names(walk: _Walk) -> tuple[dict[int, str], dict[int, str], dict[tuple[int, int], str]]:
    """The names drawn: of tensors by id (parameters named by the widest module call that
    owns them, e.g. "fc1.weight", other tensors by their ``name``, unnamed data by its
    role, see ``_roles``), of modules by id (as in the widest call's ``named_modules()``)
    and of the constants that are not Tensors by (id of the operation, input position).

    The widest call's module names first and a name once given stays, so a module inside
    an already named one (each layer of a called Sequential, a module called 10^5 times)
    is skipped whole: its modules and parameters all have their names already.
    """
    names: dict[int, str] = {}
    module_names: dict[int, str] = {}
    for module in reversed(_modules_by_widest_call(walk.calls)):
        if id(module) in module_names:
            continue
        # What named_modules() and named_parameters() give, in one walk of the modules
        # instead of two: a parameter's name is its module's followed by its own.
        for prefix, sub in module.named_modules():
            module_names.setdefault(id(sub), prefix)
            for name, parameter in sub._parameters.items():
                if parameter is not None:
                    names.setdefault(id(parameter), f"{prefix}.{name}" if prefix else name)
    for key, t in walk.tensors.items():
        if t.name:
            names.setdefault(key, t.name)
    constant_names: dict[tuple[int, int], str] = {}
    for node, position, role in _roles(walk):
        x = node.inputs[position]
        if isinstance(x, Tensor):
            names.setdefault(id(x), role)
        else:
            constant_names.setdefault((id(node), position), role)
    return names, module_names, constant_names


def _roles(walk: _Walk):
    """(operation, input position, role) for the unnamed data whose role the graph tells,
    in the order the roles are claimed (the first claim of a tensor wins):

    - "target": the input a Function's ``forward`` calls ``target``, which every built-in
      loss does (``mse_loss(input, target)``, ``cross_entropy``, ...);
    - "input": the first operand of the first operation a module call records (``X`` in
      ``model(X)``, whose first Linear computes ``linear(X, weight, bias)``), when it is
      an array, not a number.

    Only data qualifies: a leaf that does not require grad, is no Parameter and has no
    name (a name given with ``name=`` is drawn instead), or an array that is not a Tensor.
    """
    operations = {}  # creation stamp -> operation, for the module calls' first operations
    for t in walk.tensors.values():
        node = t._node
        if node is None:
            continue
        operations[node._order] = node
        position = _target_position(type(node))
        if position is not None and position < len(node.inputs) and _unnamed_data(node.inputs[position]):
            yield node, position, "target"
    stamps = sorted(operations)
    for _, newest, first in walk.calls:
        # The call recorded the stamps newest <= stamp < first; its first operation has the largest.
        at = bisect_left(stamps, first) - 1
        if at < 0 or stamps[at] < newest:
            continue
        node = operations[stamps[at]]
        if node.inputs and _unnamed_data(node.inputs[0]) and np.ndim(_data_of(node.inputs[0])) >= 1:
            yield node, 0, "input"


def _data_of(x):
    return x.data if isinstance(x, Tensor) else x


def _unnamed_data(x) -> bool:
    if isinstance(x, Tensor):
        return x._node is None and not x.requires_grad and not x.name and x.data is not FREED
    return x is not None


_TARGET_POSITIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # Function class -> position or None


def _target_position(function: type) -> int | None:
    """The input position that ``function.forward(ctx, *inputs)`` names ``target``, or None.
    Looked up once per class (a signature is slow to read; a graph has many operations)."""
    try:
        return _TARGET_POSITIONS[function]
    except KeyError:
        pass
    position = None
    try:
        parameters = list(inspect.signature(function.forward).parameters.values())[1:]  # after ctx
    except (TypeError, ValueError):  # a forward without a signature Python can read
        parameters = []
    for index, parameter in enumerate(parameters):
        if parameter.kind not in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            break  # *inputs: positions no longer match names
        if parameter.name == "target":
            position = index
            break
    _TARGET_POSITIONS[function] = position
    return position


def _width(call) -> int:
    """How many creation stamps a module call spans (an outer call spans its inner ones)."""
    return call[2] - call[1]


def _modules_by_widest_call(calls) -> list[Module]:
    """Each called module once, where its widest call sorts among all calls by width
    (narrowest first). Naming through these modules in this order names everything as
    naming through every call would (a module's other calls only repeat its names), but
    a module called 10^5 times in a loop is walked once, not 10^5 times."""
    last: dict[int, Module] = {}
    for module, _, _ in sorted(calls, key=_width):
        last.pop(id(module), None)  # re-inserted at its later (wider) place
        last[id(module)] = module
    return list(last.values())


def _kind(t: Tensor, named: bool) -> str:
    if isinstance(t, Parameter):
        return "parameter"
    if t._node is None:
        return "input" if t.requires_grad or named else "constant"  # named: by the user or by its role
    return "value"


def _number(value, digits: int = 4) -> str:
    """One value as drawn: ``digits`` significant digits, and exactly zero (either sign)
    as "0", never "0.000", "-0" or "0e+00"."""
    return "0" if value == 0 else f"{value:.{digits}g}"


def _format(array: np.ndarray, one_line: bool = False) -> str:
    """Up to 6 values as NumPy prints them, a matrix one row per line (``[[1, 2, 3],`` then
    `` [4, 5, 6]]``; on one line with ``one_line``); more as min/mean/max."""
    array = np.asarray(array)
    if array.size > _VALUES_SHOWN:
        return f"min {_number(array.min(), 3)}  mean {_number(array.mean(), 3)}  max {_number(array.max(), 3)}"
    if array.ndim == 0:
        return _number(array.item())
    return _nested(array.tolist(), array.ndim, None if one_line else "")


def _nested(values: list, ndim: int, indent: str | None) -> str:
    """``values`` (``ndarray.tolist()``) in brackets as NumPy prints them: each row after
    the first on a new line, after ``indent`` and one space per bracket open (all on one
    line when ``indent`` is None)."""
    if ndim == 1:
        return "[" + ", ".join(_number(v) for v in values) + "]"
    deeper = None if indent is None else indent + " "
    separator = ", " if deeper is None else ",\n" + deeper
    return "[" + separator.join(_nested(row, ndim - 1, deeper) for row in values) + "]"


def _shape_text(shape: tuple[int, ...], dtype) -> str:
    text = "x".join(map(str, shape)) or "scalar"
    return text if dtype == np.float64 else f"{text} {dtype}"


def _value_label(t: Tensor, name: str | None, show: set, grad: str | None = None) -> str:
    """A value node's text; ``grad`` replaces the line of ``t.grad`` (backward_steps draws
    the gradients of a step, not the tensor's)."""
    lines = [str(name)] if name else []  # a name need not be a str: Tensor.name is not checked
    if t.data is FREED:  # its shape and values went with the data
        lines.append(_FREED)
    else:
        if "shape" in show:
            lines.append(_shape_text(t.shape, t.dtype))
        if "data" in show:
            lines.append(_format(t.data))
    if grad is not None:
        lines.append(grad)
    elif "grad" in show and t._grad is not None:
        lines.append("grad " + _format(t._grad))
    return "\n".join(lines) or " "


def _op_label(node) -> str:
    settings = [f"{key}={value}" for key, value in vars(node).items()
                if key in ("axis", "slope", "reduction", "stride", "padding", "dilation", "groups") and value]
    return str(node.name) + (f"\n{', '.join(settings)}" if settings else "")


def _constant_label(value, show: set, name: str | None = None) -> str:
    """A constant's text: a number, small arrays' values, or its shape; named data (a
    loss's target, a model's input) as a value node: name, shape, values."""
    array = np.asarray(value)
    if name is not None:
        lines = [name]
        if "shape" in show:
            lines.append(_shape_text(array.shape, array.dtype))
        if "data" in show:
            lines.append(_format(array))
        return "\n".join(lines)
    if array.ndim == 0 or (array.size <= _VALUES_SHOWN and "data" in show):
        return _format(array)
    return "constant " + "x".join(map(str, array.shape))


# -- collapsing and ordering ----------------------------------------------------------------
def _drawn_nodes(t: Tensor, with_ops: bool) -> int:
    """How many nodes a tensor adds: its value, and its operation with that one's constants."""
    if t._node is None or not with_ops:
        return 1
    return 2 + sum(1 for x in t._node.inputs if x is not None and not isinstance(x, Tensor))


def _kept_tensors(walk: _Walk, max_nodes: int, with_ops: bool) -> set[int]:
    """The tensors to draw: all of them, or as many of those closest to the output as
    fit in ``max_nodes`` drawn nodes.

    The walk found the tensors breadth first, closest first, so the loop stops soon after
    ``max_nodes`` instead of costing and sorting all of a huge graph's tensors."""
    kept, total = [], 0
    for key, t in walk.tensors.items():
        total += _drawn_nodes(t, with_ops)
        if total > max_nodes:  # not all fit: keep those that fit beside the summary node
            return set(kept)
        if total < max_nodes:  # room left for the summary node too
            kept.append(key)
    return set(walk.tensors)


def _backward_order(walk: _Walk) -> dict[int, int]:
    """1 for the operation backward runs first, and so on: newest first, as the engine pops them."""
    nodes = [t._node for t in walk.tensors.values() if t._node is not None and t.requires_grad]
    return {id(node): rank for rank, node in enumerate(sorted(nodes, key=lambda n: n._order), start=1)}


# -- the layout direction -------------------------------------------------------------------
# What Graphviz uses for draw_graph's nodes (10-point Helvetica, nodesep 0.25 in, ranksep
# 0.35 in, its default node margins and minimum sizes), in points.
_NODESEP, _RANKSEP, _LINE_HEIGHT, _MARGIN_X, _MARGIN_Y = 18.0, 25.2, 12.0, 16.0, 8.0
_MIN_WIDTH, _MIN_HEIGHT = 54.0, 36.0
# Helvetica's character widths, in points at 10 points: most letters and every digit are
# 5.56, these are narrower or wider (the Adobe font metrics, rounded).
_CHARACTER_WIDTHS = {**dict.fromkeys(" !,./:;[]Iijlft()'-|", 2.8), **dict.fromkeys("mwMW%@", 8.5),
                     **dict.fromkeys("ABCDEGHKNOQRSUVXY&", 7.0), "r": 3.3}


def _text_width(line: str) -> float:
    """About the width, in points, that Graphviz gives ``line`` in 10-point Helvetica."""
    return sum(_CHARACTER_WIDTHS.get(character, 5.56) for character in line)


def _node_size(text: str, shape: str | None) -> tuple[float, float]:
    """About the width and height, in points, of a node with the label ``text``."""
    lines = text.split("\n")
    width = max(map(_text_width, lines)) + _MARGIN_X
    height = len(lines) * _LINE_HEIGHT + _MARGIN_Y
    if shape == "ellipse":  # Graphviz draws the ellipse around the label's box: sqrt(2) wider and taller
        width, height = width * 1.4142, height * 1.4142
    return max(width, _MIN_WIDTH), max(height, _MIN_HEIGHT)


def _ranks(drawing: _Drawing) -> dict[str, int]:
    """Each node's rank: the length of its longest path to the output. An input or a
    parameter then sits right before the operation that uses it, as in dot's layouts
    (counting from the inputs would put every parameter in the first rank)."""
    producers: dict[str, list[str]] = {name: [] for name in drawing.nodes}
    waiting = dict.fromkeys(drawing.nodes, 0)  # edges out of a node whose head has no rank yet
    for edge in drawing.edges:
        producers[edge.head].append(edge.tail)
        waiting[edge.tail] += 1
    rank = dict.fromkeys(drawing.nodes, 0)
    ready = [name for name, count in waiting.items() if count == 0]
    while ready:
        name = ready.pop()
        for tail in producers[name]:
            rank[tail] = max(rank[tail], rank[name] + 1)
            waiting[tail] -= 1
            if waiting[tail] == 0:
                ready.append(tail)
    return rank


def _estimated_sizes(drawing: _Drawing) -> dict[str, tuple[float, float]]:
    """About the width and height, in points, of the drawing laid out "LR" and "TB": along
    the flow, the ranks one after the other, each as long as its longest node; across it,
    the widest rank's nodes side by side."""
    rank = _ranks(drawing)
    sizes = {}
    for direction in ("LR", "TB"):
        along: dict[int, float] = {}
        across: dict[int, float] = {}
        for name, node in drawing.nodes.items():
            width, height = _node_size(node.text, node.attrs.get("shape"))
            length, breadth = (width, height) if direction == "LR" else (height, width)
            along[rank[name]] = max(along.get(rank[name], 0.0), length)
            across[rank[name]] = across.get(rank[name], -_NODESEP) + breadth + _NODESEP
        length = sum(along.values()) + _RANKSEP * (len(along) - 1)
        breadth = max(across.values(), default=0.0)
        sizes[direction] = (length, breadth) if direction == "LR" else (breadth, length)
    return sizes


def _slide_scale(width: float, height: float) -> float:
    """How large a drawing of this size shows on a 16:9 slide: 1 at full size, less when shrunk to fit."""
    return min(1.0, _SLIDE_WIDTH / max(width, 1.0), _SLIDE_HEIGHT / max(height, 1.0))


# -- module clusters ------------------------------------------------------------------------
class _Clusters:
    """Subgraphs for module calls: a computed tensor goes in the innermost call that
    created it; a parameter in the innermost call of the module that owns it."""

    # A call's index is its place in ``calls``, widest first; "innermost" means the last
    # index that qualifies. Comparing every call with every other (or with every drawn
    # tensor) made a graph of 10^4 module calls take seconds to draw; sweeps over the
    # sorted stamps find the same calls in O(n log n).

    def __init__(self, walk: _Walk, module_names: dict[int, str], enabled: bool, placed: Iterable[Tensor]):
        self.calls = sorted(walk.calls, key=_width, reverse=True) if enabled else []
        self.module_names = module_names
        self.graphs: dict[int, graphviz.Digraph] = {}
        placed = list(placed) if self.calls else []
        self.owner = _owning_calls(self.calls, [t for t in placed if t._node is None])
        stamps = sorted({t._node._order for t in placed if t._node is not None}
                        | {self.calls[index][1] for index in self.owner.values()})
        # Only a call around a drawn tensor's stamp, or around an owning call's (which holds
        # its own output's), can become a cluster, and every call around such a call is
        # one too: the other calls of a graph collapsed to max_nodes are left out at once.
        around = [index for index, (_, newest, oldest) in enumerate(self.calls)
                  if _spans_any(stamps, newest, oldest)]
        self.call_at = _innermost_calls(self.calls, around, stamps)
        self.parents = _enclosing_calls(self.calls, around)

    def index_of(self, t: Tensor) -> int | None:
        """The call whose cluster ``t`` is drawn in (``t`` one of the ``placed`` tensors), or None."""
        if not self.calls:
            return None
        node = t._node
        return self.call_at.get(node._order) if node is not None else self.owner.get(id(t))

    def begin(self) -> None:
        """Start a new Digraph: its clusters are made anew as ``graph`` asks for them."""
        self.graphs = {}

    def graph(self, index: int) -> graphviz.Digraph:
        """The cluster of call ``index`` in the Digraph being made."""
        if index not in self.graphs:
            module = self.calls[index][0]
            name = self.module_names.get(id(module), "")
            label = _label(f"{name}: {type(module).__name__}" if name else type(module).__name__)
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
                self.graph(parent)
                parent = self.parents.get(parent)
        for index in sorted(self.graphs, reverse=True):
            parent = self.parents.get(index)
            (self.graphs[parent] if parent is not None else dot).subgraph(self.graphs[index])


def _spans_any(stamps: list[int], newest: int, oldest: int) -> bool:
    """Whether a call spanning ``newest <= stamp < oldest`` spans one of the sorted ``stamps``."""
    at = bisect_left(stamps, newest)
    return at < len(stamps) and stamps[at] < oldest


def _innermost_calls(calls: list, indexes: list[int], stamps: Iterable[int]) -> dict[int, int]:
    """stamp -> the innermost call, among ``calls[i]`` for i in ``indexes``, that created it
    (``newest <= stamp < oldest``), for each stamp one of them created.

    One sweep over the stamps in increasing order: a call joins a heap, narrowest first
    (the later index of equally wide ones), once its newest stamp is reached, and leaves
    it once its oldest stamp is passed, which stays true for every later stamp."""
    starts = sorted(indexes, key=lambda index: calls[index][1])
    active: list[tuple[int, int, int]] = []  # (width, -index, oldest)
    found: dict[int, int] = {}
    joined = 0
    for stamp in sorted(set(stamps)):
        while joined < len(starts) and calls[starts[joined]][1] <= stamp:
            index = starts[joined]
            heappush(active, (_width(calls[index]), -index, calls[index][2]))
            joined += 1
        while active and active[0][2] <= stamp:
            heappop(active)
        if active:
            found[stamp] = -active[0][1]
    return found


def _enclosing_calls(calls: list, indexes: list[int]) -> dict[int, int | None]:
    """index -> the last earlier call that spans that call (``newest_j <= newest_i`` and
    ``oldest_i <= oldest_j``), or None: the cluster it is nested in; for the ``indexes``
    given, which must include every call spanning one of them.

    A sweep in order of newest stamps: every call already visited started no later, and
    a Fenwick tree over the oldest stamps (largest first) gives the largest index among
    those that also end no earlier. Equal newest stamps are visited widest first so a
    wider call is seen before the ones it spans. Any spanning call that comes later in
    ``calls`` would be exactly as wide, i.e. the same span, and is visited later still.
    """
    oldest_first = sorted({calls[index][2] for index in indexes}, reverse=True)
    ranks = {oldest: rank for rank, oldest in enumerate(oldest_first, start=1)}
    tree = [-1] * (len(ranks) + 1)  # tree[k]: the largest index visited in k's range of ranks
    parents: dict[int, int | None] = {}
    for index in sorted(indexes, key=lambda i: (calls[i][1], -calls[i][2], i)):
        rank = ranks[calls[index][2]]
        best, k = -1, rank
        while k:
            if tree[k] > best:
                best = tree[k]
            k -= k & -k
        parents[index] = best if best >= 0 else None
        k = rank
        while k < len(tree):
            if index > tree[k]:
                tree[k] = index
            k += k & -k
    return parents


def _owning_calls(calls: list, leaves: Iterable[Tensor]) -> dict[int, int]:
    """id(leaf) -> the innermost call of a module that holds that leaf as a parameter of
    its own, for the leaves some called module holds. Calls are visited innermost first
    and each module once (its innermost call), so a module called many times costs one
    look at its parameters."""
    wanted = {id(leaf) for leaf in leaves}
    owner: dict[int, int] = {}
    seen: set[int] = set()
    for index in range(len(calls) - 1, -1, -1):
        module = calls[index][0]
        if id(module) in seen:
            continue
        seen.add(id(module))
        for parameter in module._parameters.values():
            if id(parameter) in wanted:
                owner.setdefault(id(parameter), index)
    return owner
