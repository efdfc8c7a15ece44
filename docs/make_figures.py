"""Make every image the documentation uses, into docs/figures/.

    python docs/make_figures.py            # writes docs/figures/*.svg, *.png and *.gif
    python docs/make_figures.py --check    # regenerates into a temporary folder and
                                           # reports the files that differ or are missing

Each figure is made by the same code the pages show, seeded, so a run reproduces the
committed files byte for byte (with the same matplotlib and graphviz-pure versions).
Diagrams are rendered with graphviz-pure (the ``render`` extra) even where the system
Graphviz is installed, so that every machine draws the same layout. Needs the ``plot``
and ``render`` extras: ``pip install -e ".[all]"``.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import microgradnp as mg
from microgradnp import nn, optim

HERE = Path(__file__).resolve().parent
FIGURES = HERE / "figures"


def _graphviz_pure_only() -> None:
    """Hide the system ``dot`` from this process so that mg.viz.render uses graphviz-pure."""
    beside = Path(sys.executable).with_name("graphviz-pure")
    if not (shutil.which("graphviz-pure") or beside.exists()):
        print("graphviz-pure is not installed: diagrams are drawn by the system dot and will differ "
              "from the committed ones", file=sys.stderr)
        return
    keep = [entry for entry in os.environ.get("PATH", "").split(os.pathsep)
            if entry and not (Path(entry) / "dot").exists()]
    os.environ["PATH"] = os.pathsep.join(keep)


# -- the tutorial -----------------------------------------------------------------------------
def train_lab_network(X, y):
    """The lab's 2-50-50-1 sigmoid network, MSE, SGD with lr 1.0, until 100 % (tutorial.md)."""
    model = nn.MLP(2, (50, 50), 1, activation="sigmoid", rng=0)
    optimizer = optim.SGD(model.parameters(), lr=1.0)
    history = mg.train.fit(model, X, y, nn.MSELoss(), optimizer, epochs=100_000, stop_at_accuracy=1.0,
                           progress=False)
    return model, history


def tutorial(out: Path) -> None:
    plots = mg.viz.plots
    X, y = mg.data.make_xor_easy()
    model, history = train_lab_network(X, y)
    prediction = mg.train.predict(model, X)
    plots.learning_curves(history, path=out / "xor_curves.png", title="XOR: learning curves")
    plots.ground_truth_vs_prediction(X, y, prediction, path=out / "xor_prediction.png")
    plots.decision_boundary(model, X, y, path=out / "xor_boundary.png")

    # The computation graph of one more forward and backward pass of the trained network.
    model.zero_grad()
    loss = nn.MSELoss()(model(mg.tensor(X, name="X")), y)
    loss.backward(retain_graph=True)  # keeps the intermediate values for the drawing
    mg.viz.render(mg.viz.draw_graph(loss, order=True, rankdir="TB"), out / "xor_graph.svg")

    X, y = mg.data.make_linear(100, rng=0)
    model, history = train_lab_network(X, y)
    plots.learning_curves(history, path=out / "linear_curves.png", title="linear: learning curves")
    plots.ground_truth_vs_prediction(X, y, mg.train.predict(model, X), path=out / "linear_prediction.png")
    plots.decision_boundary(model, X, y, path=out / "linear_boundary.png")


# -- drawing computation graphs ----------------------------------------------------------------
def graphs(out: Path) -> None:
    """The figures of graphs.md, in the page's order (drawings after backward show gradients)."""
    draw, render = mg.viz.draw_graph, mg.viz.render
    x = mg.tensor([[1.0, 2.0]], name="x")
    w = mg.tensor([[0.5], [-0.3]], requires_grad=True, name="w")
    b = mg.tensor([0.1], requires_grad=True, name="b")
    y = (x @ w + b).sigmoid()
    loss = ((y - 1.0) ** 2).sum()
    render(draw(loss), out / "graph_forward.svg")
    loss.backward(retain_graph=True)
    render(draw(loss), out / "graph_backward.svg")
    render(draw(loss, order=True), out / "graph_order.svg")
    render(draw(loss, show=("op", "shape")), out / "graph_show_op_shape.svg")
    render(draw(loss, show=("shape", "data")), out / "graph_show_shape.svg")
    render(draw(y, rankdir="TB"), out / "graph_rankdir_tb.svg")

    model = nn.Sequential(nn.Linear(2, 3, rng=0), nn.Tanh(), nn.Linear(3, 1, rng=1))
    X = mg.tensor([[0.0, 1.0], [1.0, 0.0]], name="X")
    loss = nn.MSELoss()(model(X), np.array([[1.0], [0.0]]))
    loss.backward(retain_graph=True)
    render(draw(loss, show=("op", "shape", "grad"), rankdir="TB"), out / "graph_modules.svg")

    w = mg.tensor(0.5, requires_grad=True, name="w")
    h = mg.tensor(0.0, name="h0")
    for x in np.linspace(-1.0, 1.0, 40):
        h = (w * h + x).tanh()
    render(draw(h, max_nodes=20), out / "graph_max_nodes.svg")


# -- writing custom Functions ------------------------------------------------------------------
class MySigmoid(mg.Function):
    """The class custom-functions.md writes."""

    @staticmethod
    def forward(ctx, x):
        s = 1 / (1 + np.exp(-x))
        ctx.save_for_backward(s)
        return s

    @staticmethod
    def backward(ctx, grad):
        (s,) = ctx.saved_tensors
        return grad * s * (1 - s)


def custom_functions(out: Path) -> None:
    x = mg.tensor([[0.5, -1.0, 2.0]], requires_grad=True, name="x")
    loss = ((MySigmoid.apply(x) - 0.5) ** 2).mean()
    loss.backward(retain_graph=True)
    mg.viz.render(mg.viz.draw_graph(loss, order=True), out / "custom_function_graph.svg")


# -- watching backprop happen ------------------------------------------------------------------
def backward(out: Path) -> None:
    """The figures of backward.md: the lab network's first backward pass, one frame per step."""
    X, y = mg.data.make_xor_easy()
    model = nn.MLP(2, (50, 50), 1, activation="sigmoid", rng=0)
    loss = nn.MSELoss()(model(mg.tensor(X, name="X")), y)
    steps = mg.viz.backward_steps(loss)
    steps.save(out, format="svg", prefix="backward_step")
    steps.save_gif(out / "backward_steps.gif")


MAKERS = (tutorial, graphs, custom_functions, backward)


def make_all(out: Path) -> list[Path]:
    """Run every maker into ``out`` (a fresh folder) and return the files they wrote."""
    for maker in MAKERS:
        maker(out)
    return sorted(out.iterdir())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=FIGURES, help=f"output folder (default {FIGURES})")
    parser.add_argument("--check", action="store_true",
                        help="regenerate into a temporary folder and compare with --out instead of writing")
    args = parser.parse_args()
    _graphviz_pure_only()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        made = make_all(Path(scratch))
        names = {path.name for path in made}
        changed = [path for path in made
                   if not (args.out / path.name).exists() or not filecmp.cmp(path, args.out / path.name, shallow=False)]
        stale = sorted(p.name for p in args.out.glob("*") if p.suffix in (".svg", ".png", ".gif")
                       and p.name not in names) \
            if args.out.is_dir() else []
        if not args.check:
            args.out.mkdir(parents=True, exist_ok=True)
            for path in changed:
                shutil.copyfile(path, args.out / path.name)
    seconds = time.perf_counter() - started
    if stale:
        print(f"not made by this script (delete them if no page uses them): {', '.join(stale)}")
    if args.check:
        if changed:
            print(f"{len(changed)} of {len(made)} figures differ from {args.out}: {', '.join(p.name for p in changed)}")
            return 1
        print(f"all {len(made)} figures in {args.out} are up to date ({seconds:.1f} s)")
        return 0
    print(f"made {len(made)} figures in {seconds:.1f} s; {len(changed)} changed in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
