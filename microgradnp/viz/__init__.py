"""Pictures of what the network does.

- ``draw_graph(tensor, ...)``: the computation graph as a ``graphviz.Digraph``;
- ``render(tensor_or_digraph, path, format)``: to SVG, PNG, PDF or DOT;
- ``plots``: matplotlib figures of data, predictions and training (the ``plot`` extra).
"""

from microgradnp.viz import plots
from microgradnp.viz.graph import draw_graph
from microgradnp.viz.render import FORMATS, RenderError, find_renderer, render, to_svg

__all__ = ["FORMATS", "RenderError", "draw_graph", "find_renderer", "plots", "render", "to_svg"]
