"""Graph drawings show user strings as text, never as markup; drawing big graphs stays
linear; draw_graph's arguments are checked with clear messages."""

from __future__ import annotations

import html
import importlib
import random
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import nn
from microgradnp.viz import draw_graph

graph_module = importlib.import_module("microgradnp.viz.graph")  # the module, not draw_graph
render_module = importlib.import_module("microgradnp.viz.render")  # the module, not render

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"

# Strings that Graphviz would read as markup or escapes if they reached a label as they are.
MARKUP = [
    '<<TABLE HREF="javascript:alert(1)"><TR><TD>click</TD></TR></TABLE>>',
    "<<B>bold</B>>",
    "<a>",
    '"]; injected [label="x',
    "{record|<port> field}",
]
ESCAPES = [
    r"\N \G \L \E \T \H",
    r"\n\l\r",
    "&amp; &lt; &#60; &#x3C; & alone",
    "trailing backslash\\",
    "two trailing backslashes\\\\",
    'a quote " and an escaped quote \\"',
    "\\\\N \\\\\\G",
]
HOSTILE = MARKUP + ESCAPES
# Module and parameter names cannot contain "." (it separates the levels of a state_dict key).
assert not any("." in name for name in HOSTILE)


class Hostile(mg.Function):
    """A custom Function whose name is markup."""

    name = MARKUP[0]

    @staticmethod
    def forward(ctx, x):
        return x * 2.0

    @staticmethod
    def backward(ctx, grad):
        return grad * 2.0


class Layers(nn.Module):
    """Calls each child on its own input, scaled by the child's extra parameter, and sums."""

    def __init__(self, names, classes, function):
        super().__init__()
        self.function = function
        for index, (name, cls) in enumerate(zip(names, classes)):
            layer = cls(2, 2, rng=index)
            layer.register_parameter(name, nn.Parameter(np.full(2, 0.5)))
            self.add_module(name, layer)

    def forward(self, inputs):
        total = None
        for x, (name, layer) in zip(inputs, self.named_children()):
            y = (layer(self.function(x)) * getattr(layer, name)).sum()
            total = y if total is None else total + y
        return total


def hostile_graph(show=("op",)):
    """A graph whose tensors, Function, modules, module classes and parameters carry the
    hostile names. With show=("op",) a value's label is its name alone: the case where a
    name shaped like <...> used to become an HTML-like label."""
    classes = [type(HOSTILE[index - 1], (nn.Linear,), {}) for index in range(len(HOSTILE))]  # named with markup
    model = Layers(HOSTILE, classes, Hostile.apply)
    inputs = [mg.tensor(np.ones((1, 2)) * index, requires_grad=True, name=HOSTILE[-1 - index])
              for index in range(len(HOSTILE))]
    total = model(inputs)
    total.name = ESCAPES[0]
    return draw_graph(total, show=show, max_nodes=10_000)


def benign_graph(show=("op",)):
    """The same structure with plain names: what a normal drawing contains."""
    count = len(HOSTILE)
    model = Layers([f"layer{index}" for index in range(count)], [nn.Linear] * count, lambda x: x * 2.0)
    total = model([mg.tensor(np.ones((1, 2)) * index, requires_grad=True, name=f"x{index}") for index in range(count)])
    total.name = "total"
    return draw_graph(total, show=show, max_nodes=10_000)


# -- the DOT source -------------------------------------------------------------------------
QUOTED_LABEL = re.compile(r'label="((?:[^"\\]|\\.)*)"', re.S)


def shown_text(quoted: str) -> str:
    """What Graphviz shows for the inside of a quoted DOT label: the DOT scanner turns \\"
    into ", then the label's escape processing turns \\\\ into \\ (a backslash before any
    other character would be an escape such as \\N, \\G or \\l), then HTML entities are
    decoded."""
    assert not re.search(r'(?<!\\)(?:\\\\)*\\\n', quoted), "a backslash-newline would join lines"
    text, shown, i = quoted.replace('\\"', '"'), [], 0
    while i < len(text):
        if text[i] == "\\":
            assert text[i + 1 : i + 2] == "\\", f"the escape {text[i:i + 2]!r} would be interpreted in {quoted!r}"
            shown.append("\\")
            i += 2
        else:
            shown.append(text[i])
            i += 1
    text = "".join(shown)
    assert re.fullmatch(r"(?:[^&]|&amp;)*", text), f"an & that Graphviz would read as an entity in {quoted!r}"
    return html.unescape(text)


def dot_labels(dot) -> list[str]:
    return [shown_text(quoted) for quoted in QUOTED_LABEL.findall(dot.source)]


def test_no_label_is_html_like_in_the_dot_source():
    source = hostile_graph().source + hostile_graph(show=("op", "shape", "data", "grad")).source
    first_characters = set(re.findall(r"label=(\S)", source))
    assert '"' in first_characters and "<" not in first_characters  # quoted text, never <...>
    assert "javascript" in source  # the names are there, as text


@pytest.mark.parametrize("show", [("op",), ("op", "shape", "data")])
def test_every_name_is_shown_exactly_in_the_dot_labels(show):
    labels = dot_labels(hostile_graph(show))
    lines = {line for label in labels for line in label.split("\n")}
    assert set(HOSTILE) <= lines  # tensor names
    assert Hostile.name in lines  # the Function's name
    for index, name in enumerate(HOSTILE):
        assert f"{name}: {HOSTILE[index - 1]}" in lines  # module name and class name, as a cluster label
        assert f"{name}.{name}" in lines  # a parameter, named by its module


def test_every_quoted_label_decodes_without_escapes_or_entities():
    # shown_text fails on a lone backslash escape or a bare &: every label is checked.
    labels = dot_labels(hostile_graph(("op", "shape", "data", "grad")))
    assert len(labels) > 4 * len(HOSTILE)


def test_a_normal_graph_keeps_its_plain_labels():
    dot = benign_graph(("op", "shape"))
    lines = {line for label in dot_labels(dot) for line in label.split("\n")}
    assert {"x0", "layer0: Linear", "layer0.weight", "layer0.layer0", "1x2", "total"} <= lines
    assert {"mul", "sum", "Layers"} <= set(re.findall(r"label=(\w+)", dot.source))  # plain words stay unquoted


def test_characters_dot_or_svg_cannot_carry_are_drawn_as_pictures():
    x = mg.tensor([1.0], requires_grad=True, name="a\x00b\x01c\x1fd\ud800e\ufffef\uffffg\th\ri")
    dot = draw_graph((x * 2.0).sum(), show=("op",))
    dot.source.encode("utf-8")  # a lone surrogate could not be encoded for the renderer
    assert "a\u2400b\u2401c\u241fd\ufffde\ufffdf\ufffdg\th\ri" in dot_labels(dot)  # tab and \r are kept


def test_names_that_are_not_strings_are_drawn_as_text():
    x = mg.tensor([1.0], requires_grad=True, name=("<b>", 42))  # Tensor.name is not checked

    class Numbered(mg.Function):
        name = 42

        @staticmethod
        def forward(ctx, x):
            return x

    dot = draw_graph(Numbered.apply(x).sum(), show=("op",))
    assert "('<b>', 42)" in dot_labels(dot)
    assert "label=42" in dot.source  # a number needs no quotes


# -- the SVG, as a renderer draws it --------------------------------------------------------
def _renderers():
    """The system dot and graphviz-pure, each skipped when not installed."""
    found = []
    for name in ("dot", "graphviz-pure"):
        path = shutil.which("dot") if name == "dot" else render_module._graphviz_pure()
        found.append(pytest.param(path, id=name, marks=pytest.mark.skipif(path is None, reason=f"no {name}")))
    return found


def svg_of(dot, renderer: str) -> ET.Element:
    result = subprocess.run([renderer, "-Tsvg"], input=dot.source.encode("utf-8"), capture_output=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return ET.fromstring(result.stdout)


def text_lines(root: ET.Element) -> set[str]:
    # Renderers write runs of spaces as space + no-break space so that SVG keeps them.
    return {(element.text or "").replace("\xa0", " ") for element in root.iter(f"{SVG}text")}


@pytest.mark.parametrize("renderer", _renderers())
@pytest.mark.parametrize("show", [("op",), ("op", "shape", "data")])
def test_svg_has_no_element_or_attribute_from_a_name(renderer, show):
    hostile = svg_of(hostile_graph(show), renderer)
    normal_tags = {element.tag for element in svg_of(benign_graph(show), renderer).iter()}
    assert {element.tag for element in hostile.iter()} <= normal_tags
    assert not list(hostile.iter(f"{SVG}a"))
    for element in hostile.iter():
        assert not any("href" in attribute or attribute.startswith(XLINK) for attribute in element.attrib)
        assert not any("javascript" in value or "TABLE" in value for value in element.attrib.values())
        if element.tag != f"{SVG}text":  # titles and comments name nodes by their ids, never by names
            assert "javascript" not in (element.text or "")


@pytest.mark.parametrize("renderer", _renderers())
@pytest.mark.parametrize("show", [("op",), ("op", "shape", "data")])  # a name alone, or followed by lines
def test_svg_text_shows_every_name_exactly(renderer, show):
    lines = text_lines(svg_of(hostile_graph(show), renderer))
    assert set(HOSTILE) <= lines
    for index, name in enumerate(HOSTILE):
        assert f"{name}: {HOSTILE[index - 1]}" in lines
        assert f"{name}.{name}" in lines


@pytest.mark.parametrize("renderer", _renderers())
def test_svg_of_undrawable_characters_parses(renderer):
    x = mg.tensor([1.0], requires_grad=True, name="a\x00b\x01c\ud800d\uffffe")
    assert "a\u2400b\u2401c\ufffdd\ufffde" in text_lines(svg_of(draw_graph((x * 2.0).sum(), show=("op",)), renderer))


# -- drawing big graphs stays linear --------------------------------------------------------
def _looped(calls: int, block: nn.Module | None = None) -> mg.Tensor:
    """One module (by default a Sequential of a Linear and a Tanh) called ``calls`` times,
    inside an outer module: clusters in clusters."""
    block = nn.Sequential(nn.Linear(2, 2, rng=0), nn.Tanh()) if block is None else block

    class Loop(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = block

        def forward(self, h):
            for _ in range(calls):
                h = self.block(h)
            return h

    return Loop()(mg.tensor(np.ones((1, 2)), requires_grad=True, name="h0")).sum()


def _lines_run_in_graph_module(output: mg.Tensor, **options) -> int:
    """How many lines of microgradnp/viz/graph.py drawing ``output`` runs: a count of the
    work that does not depend on the machine's speed."""
    graph_file = graph_module.__file__
    count = 0

    def line(frame, event, arg):
        nonlocal count
        if event == "line":
            count += 1
        return line

    def call(frame, event, arg):
        return line if frame.f_code.co_filename == graph_file else None

    previous = sys.gettrace()  # a coverage tool's tracer, put back afterwards
    sys.settrace(call)
    try:
        draw_graph(output, **options)
    finally:
        sys.settrace(previous)
    return count


@pytest.mark.parametrize("max_nodes", [300, 100_000])
def test_drawing_work_grows_linearly_with_module_calls(max_nodes):
    # Comparing every call with every other made the work 16 times larger for 4 times as
    # many calls; linear work (with a log factor from the sweeps) grows about 4 to 5 times.
    small = _lines_run_in_graph_module(_looped(500), max_nodes=max_nodes)
    large = _lines_run_in_graph_module(_looped(2000), max_nodes=max_nodes)
    assert large < 7 * small, (small, large)


def test_a_graph_of_a_hundred_thousand_module_calls_is_drawn():
    output = _looped(100_000, nn.Tanh())
    dot = draw_graph(output)
    assert len(re.findall(r"subgraph cluster_", dot.source)) > 10
    assert "label=Loop" in dot.source and 'label="block: Tanh"' in dot.source
    assert re.search(r"\d+ earlier values not drawn", dot.source)
    assert len(dot.body) < 2000  # max_nodes=300 nodes, their edges and the clusters


def test_clusters_of_a_long_loop_match_a_short_one():
    # The last calls of a long loop are drawn as those of a short one (the same nesting).
    def shape_of(source):
        return re.sub(r"\d+", "N", source)

    long_source, short_source = (draw_graph(_looped(n), max_nodes=40).source for n in (5000, 50))
    assert shape_of(long_source) == shape_of(short_source)


def _innermost_by_comparing_all(calls, stamp):
    inside = [i for i, (_, newest, oldest) in enumerate(calls) if newest <= stamp < oldest]
    return inside[-1] if inside else None


def _enclosing_by_comparing_all(calls, index):
    _, newest, oldest = calls[index]
    outer = [j for j, (_, n, o) in enumerate(calls[:index]) if n <= newest and oldest <= o]
    return outer[-1] if outer else None


@pytest.mark.parametrize("seed", range(20))
def test_sweeps_find_the_calls_comparing_all_pairs_would(seed):
    # Random spans, nested, disjoint and crossing (a module returning a tensor made before
    # an inner call's output makes spans cross), sorted as draw_graph sorts them.
    rng = random.Random(seed)
    spans = set()
    while len(spans) < 60:
        newest = rng.randrange(-200, 0)
        spans.add((newest, newest + rng.randrange(1, 80)))
    calls = sorted([(None, newest, oldest) for newest, oldest in spans], key=lambda c: c[2] - c[1], reverse=True)
    everything = list(range(len(calls)))
    stamps = range(-210, 90)
    found = graph_module._innermost_calls(calls, everything, stamps)
    assert {s: found.get(s) for s in stamps} == {s: _innermost_by_comparing_all(calls, s) for s in stamps}
    assert graph_module._enclosing_calls(calls, everything) == {
        i: _enclosing_by_comparing_all(calls, i) for i in everything}


def test_crossing_module_calls_are_drawn():
    # Outer returns a tensor that its inner module made before the inner module's own
    # output, so the two calls' spans of creation stamps cross instead of nesting.
    class Inner(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(np.array(2.0))

        def forward(self, x):
            self.made_first = x * self.scale
            return self.made_first + 1.0

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = Inner()

        def forward(self, x):
            self.output_of_inner = self.inner(x)
            return self.inner.made_first

    outer = Outer()
    made_first = outer(mg.tensor([1.0], requires_grad=True, name="x"))
    source = draw_graph((made_first + outer.output_of_inner).sum()).source
    # Both calls span two stamps; the made-first tensor lies in both and goes to the
    # later-listed one, Inner's, which also holds the parameter.
    inner_cluster = source.split("label=Inner")[1].split("}")[0]
    assert "scale" in inner_cluster and "label=mul" in inner_cluster and "label=add" in inner_cluster


# -- argument checks ------------------------------------------------------------------------
@pytest.fixture
def output():
    x = mg.tensor([1.0, 2.0], requires_grad=True, name="x")
    return (x * 2.0).sum()


def test_max_nodes_as_a_string_says_to_pass_the_number(output):
    with pytest.raises(TypeError, match=r"max_nodes must be an int .* got str '10'; pass the number itself: "
                                        r"max_nodes=10$"):
        draw_graph(output, max_nodes="10")


@pytest.mark.parametrize("value", [300.0, None, True, "many"])
def test_max_nodes_of_another_type(output, value):
    with pytest.raises(TypeError, match=rf"max_nodes must be an int .* got {type(value).__name__}"):
        draw_graph(output, max_nodes=value)


def test_max_nodes_as_a_numpy_integer_is_fine(output):
    assert "mul" in draw_graph(output, max_nodes=np.int64(50)).source


def test_show_as_a_string_says_to_make_a_tuple(output):
    with pytest.raises(TypeError, match=r"show takes a tuple .* got the string 'op'; for one option write "
                                        r"show=\('op',\)"):
        draw_graph(output, show="op")


@pytest.mark.parametrize("show, message", [(5, "show takes a tuple of options from .* got int"),
                                           (("op", 3), "show options are strings .* got 3 \\(int\\)"),
                                           ((["op"],), r"show options are strings .* got \['op'\] \(list\)")])
def test_show_of_another_type(output, show, message):
    with pytest.raises(TypeError, match=message):
        draw_graph(output, show=show)


def test_rankdir_of_another_type(output):
    with pytest.raises(TypeError, match=r"rankdir must be a string, one of \('LR', 'TB', 'RL', 'BT'\), got int 1"):
        draw_graph(output, rankdir=1)


@pytest.mark.parametrize("flag", ["group_modules", "order"])
@pytest.mark.parametrize("value", ["False", 0, None])
def test_flags_must_be_true_or_false(output, flag, value):
    # order="False" would otherwise count as true.
    with pytest.raises(TypeError, match=rf"{flag} must be True or False, got {type(value).__name__} {value!r}"):
        draw_graph(output, **{flag: value})


def test_flags_accept_numpy_booleans(output):
    assert "#1" in draw_graph(output, order=np.bool_(True)).source


def test_a_non_tensor_says_what_to_draw():
    with pytest.raises(TypeError, match=r"expected a Tensor, got list; .*mg\.tensor"):
        draw_graph([1.0])
