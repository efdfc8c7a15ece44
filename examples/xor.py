"""The lab's network on the XOR set: 2-50-50-1, sigmoid activations, MSE loss,
full-batch gradient descent, trained until every point is classified right.

Prints the lab-style log, the per-point predictions beside the ground truth and the
final loss and accuracy; saves the figures (with matplotlib) and the computation
graph (with a Graphviz renderer, e.g. the ``render`` extra) into ``--out``.

    python examples/xor.py [--lr 1.0] [--hidden 50] [--activation sigmoid] [--seed 0] [--out out]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import microgradnp as mg
from microgradnp import nn, optim


def report(model, X, y, history, out: Path | None, name: str) -> None:
    """What a student looks at after training: predictions beside the truth, the final
    numbers, and (where the extras are installed) figures."""
    prediction = mg.train.predict(model, X)
    print(f"\n{'x1':>6} {'x2':>6}  truth  prediction")
    for (x1, x2), truth, output in zip(X, y[:, 0], prediction[:, 0]):
        flag = "" if (output > 0.5) == (truth > 0.5) else "  <- wrong"
        print(f"{x1:6.2f} {x2:6.2f}  {truth:5.0f}  {output:10.5f}{flag}")
    outcome = (f"reached 100 % at epoch {history.stop_epoch}" if history.converged
               else f"stopped after {history.epochs} epochs ({history.status})")
    accuracy = np.mean((prediction > 0.5) == (y > 0.5))  # of the model printed above (after its last update)
    print(f"\nfinal loss {history.final_loss:.6f}, accuracy {accuracy:.2%}: {outcome} "
          f"in {history.wall_time:.2f} s")
    if out is None:
        return
    out.mkdir(parents=True, exist_ok=True)
    try:
        mg.viz.plots.ground_truth_vs_prediction(X, y, prediction, path=out / f"{name}_prediction.png")
        mg.viz.plots.learning_curves(history, path=out / f"{name}_curves.png", title=f"{name}: learning curves")
        mg.viz.plots.decision_boundary(model, X, y, path=out / f"{name}_boundary.png")
        print(f"figures saved in {out}/")
    except ImportError as missing:
        print(f"(no figures: {missing})")
    # The graph of one more forward and backward pass: values, gradients, backward order.
    model.zero_grad()
    loss = nn.MSELoss()(model(mg.tensor(X, name="X")), y)
    loss.backward(retain_graph=True)  # keeps the intermediate values for the drawing
    try:
        graph = mg.viz.render(mg.viz.draw_graph(loss, order=True), out / f"{name}_graph.svg")
        print(f"computation graph saved as {graph}")
    except mg.viz.RenderError as missing:
        print(f"(no graph drawing: {missing})")


def parse_args(description: str, lr: float, epochs: int = 100_000):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--lr", type=float, default=lr, help=f"learning rate (default {lr})")
    parser.add_argument("--hidden", type=int, default=50, help="units in each of the two hidden layers (default 50)")
    parser.add_argument("--activation", default="sigmoid", choices=["sigmoid", "relu", "tanh", "leaky_relu", "none"],
                        help="hidden activation; the output is always a sigmoid (default sigmoid)")
    parser.add_argument("--epochs", type=int, default=epochs, help=f"epoch budget (default {epochs})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weight initialisation (default 0)")
    parser.add_argument("--log-every", type=int, default=500, help="print a log line every N epochs (default 500)")
    parser.add_argument("--out", type=Path, default=Path("out"), help="folder for the figures (default out/)")
    return parser.parse_args()


def train(X, y, args):
    model = nn.MLP(2, (args.hidden, args.hidden), 1, activation=args.activation, rng=args.seed)
    optimizer = optim.SGD(model.parameters(), lr=args.lr)
    history = mg.train.fit(model, X, y, nn.MSELoss(), optimizer, epochs=args.epochs, stop_at_accuracy=1.0,
                           log_every=args.log_every, progress=False)
    return model, history


def main():
    args = parse_args(__doc__.splitlines()[0], lr=1.0)
    X, y = mg.data.make_xor_easy()
    print(f"XOR set: {len(X)} points; network 2-{args.hidden}-{args.hidden}-1, {args.activation}, "
          f"MSE, SGD lr {args.lr}\n")
    model, history = train(X, y, args)
    report(model, X, y, history, args.out, "xor")


if __name__ == "__main__":
    main()
