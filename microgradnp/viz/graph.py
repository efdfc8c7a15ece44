"""``draw_graph``: the computation graph behind a tensor as a ``graphviz.Digraph``.

Value nodes (boxes) show a tensor's name, shape, dtype, values (or min/mean/max for
big ones) and, after ``backward()``, its gradient; operation nodes (ellipses) show the
primitive. Parameters are named by their Module path and module calls are drawn as
clusters; ``order=True`` numbers the operations in the order backward visits them.
"""

from __future__ import annotations

import numbers
import re
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
    show, max_nodes = _checked_arguments(tensor, show, rankdir, max_nodes, group_modules, order)
    walk = graph_nodes(tensor)
    number = {key: i for i, key in enumerate(walk.tensors)}  # stable node ids: the same graph, the same DOT

    def _value_id(t: Tensor) -> str:
        return f"v{number[id(t)]}"

    def _op_id(t: Tensor) -> str:
        return f"op{number[id(t)]}"

    names, module_names = _names(walk)
    kept = _kept_tensors(walk, max_nodes, "op" in show)
    visit = _backward_order(walk) if order else {}

    dot = graphviz.Digraph("computation_graph", graph_attr={"rankdir": rankdir, "fontname": "Helvetica",
                                                           "nodesep": "0.25", "ranksep": "0.35"},
                           node_attr={"fontname": "Helvetica", "fontsize": "10"},
                           edge_attr={"color": "#555555", "arrowsize": "0.7"})
    clusters = _Clusters(walk, module_names, group_modules, [t for key, t in walk.tensors.items() if key in kept])
    collapsed = False
    drawn_ops: dict[int, Tensor] = {}  # a Function with several outputs -> the output drawn with it
    for key, t in walk.tensors.items():
        if key not in kept:
            continue
        kind = "output" if t is tensor else _kind(t)
        clusters.graph_of(t, dot).node(_value_id(t), _label(_value_label(t, names.get(key), show)), **_STYLE[kind])
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
            clusters.graph_of(t, dot).node(_op_id(t), _label(rank + _op_label(node)), **_STYLE["op"])
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
                dot.node(name, _label(_constant_label(x, show)), **_STYLE["constant"])
                dot.edge(name, target, style="dashed")
    if collapsed:
        missing = len(walk.tensors) - len(kept)
        hidden = Counter(t._node.name for key, t in walk.tensors.items() if key not in kept and t._node is not None)
        ops = ", ".join(f"{name} x{count}" for name, count in hidden.most_common(6))
        dot.node("collapsed", _label(f"{missing} earlier values not drawn\n({ops})"), **_STYLE["summary"])
    clusters.close(dot)
    return dot


def _checked_arguments(tensor, show, rankdir, max_nodes, group_modules, order) -> tuple[set, int]:
    """``show`` as a set and ``max_nodes`` as an int, after checking every argument: a
    wrong type gets a TypeError saying what was expected (``max_nodes="10"`` would
    otherwise fail deep inside as a comparison of str and int, ``order="False"`` would
    count as true)."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"draw_graph: expected a Tensor, got {type(tensor).__name__}; "
                        "draw the result of a computation, e.g. draw_graph(loss) (wrap arrays with mg.tensor)")
    if isinstance(show, str):
        raise TypeError(f"draw_graph: show takes a tuple of options such as ('op', 'shape'), got the string "
                        f"{show!r}; for one option write show=({show!r},)")
    if not isinstance(show, Iterable):
        raise TypeError(f"draw_graph: show takes a tuple of options from {SHOW_ALL}, got {type(show).__name__}")
    show = list(show)
    wrong = [option for option in show if not isinstance(option, str)]
    if wrong:
        raise TypeError(f"draw_graph: show options are strings from {SHOW_ALL}, got {wrong[0]!r} "
                        f"({type(wrong[0]).__name__})")
    unknown = set(show) - set(SHOW_ALL)
    if unknown:
        raise ValueError(f"draw_graph: unknown show option(s) {sorted(unknown)}; choose from {SHOW_ALL}")
    if not isinstance(rankdir, str):
        raise TypeError(f"draw_graph: rankdir must be a string, one of {RANKDIRS}, got {type(rankdir).__name__} "
                        f"{rankdir!r}")
    if rankdir not in RANKDIRS:
        raise ValueError(f"draw_graph: rankdir must be one of {RANKDIRS}, got {rankdir!r}")
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, numbers.Integral):
        hint = (f"; pass the number itself: max_nodes={int(max_nodes)}"
                if isinstance(max_nodes, str) and max_nodes.strip().isdecimal() else ", e.g. max_nodes=300")
        raise TypeError(f"draw_graph: max_nodes must be an int (the most nodes to draw), got "
                        f"{type(max_nodes).__name__} {max_nodes!r}{hint}")
    if max_nodes < 2:
        raise ValueError(f"draw_graph: max_nodes must be at least 2, got {max_nodes}")
    for name, flag in (("group_modules", group_modules), ("order", order)):
        if not isinstance(flag, bool | np.bool_):
            raise TypeError(f"draw_graph: {name} must be True or False, got {type(flag).__name__} {flag!r}")
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
def _names(walk: _Walk) -> tuple[dict[int, str], dict[int, str]]:
    """The names drawn, by id: of tensors (parameters named by the widest module call that
    owns them, e.g. "fc1.weight", other tensors by their ``name``) and of modules (as in
    the widest call's ``named_modules()``).

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
    return names, module_names


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
    lines = [str(name)] if name else []  # a name need not be a str: Tensor.name is not checked
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
    return str(node.name) + (f"\n{', '.join(settings)}" if settings else "")


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

    def graph_of(self, t: Tensor, dot: graphviz.Digraph) -> graphviz.Digraph:
        """The cluster ``t`` is drawn in (``t`` one of the ``placed`` tensors), or ``dot``."""
        if not self.calls:
            return dot
        node = t._node
        index = self.call_at.get(node._order) if node is not None else self.owner.get(id(t))
        return dot if index is None else self._cluster(index)

    def _cluster(self, index: int) -> graphviz.Digraph:
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
                self._cluster(parent)
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
