"""Pictures of what the network does.

- ``draw_graph(tensor, ...)``: the computation graph as a ``graphviz.Digraph``;
- ``render(tensor_or_digraph, path, format)``: to SVG, PNG, PDF or DOT;
- ``backward_steps(loss)``: the backward pass as one drawing per step, to save, animate
  or step through in Jupyter;
- ``plots``: matplotlib figures of data, predictions and training (the ``plot`` extra).
"""

from microgradnp.viz import plots
from microgradnp.viz.graph import draw_graph
from microgradnp.viz.render import FORMATS, RenderError, find_renderer, render, to_png, to_svg
from microgradnp.viz.steps import BackwardSteps, Step, backward_steps

__all__ = ["FORMATS", "BackwardSteps", "RenderError", "Step", "backward_steps", "draw_graph", "find_renderer",
           "plots", "render", "to_png", "to_svg"]
