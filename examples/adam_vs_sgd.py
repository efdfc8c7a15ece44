"""The lab's optimizer extra: plain SGD against Adam on both data sets, same network,
same initial weights, stop at 100 % accuracy.

    python examples/adam_vs_sgd.py [--out out]
"""

import argparse
from pathlib import Path

import microgradnp as mg
from microgradnp import nn, optim

OPTIMIZERS = {
    "SGD lr 0.5": lambda params: optim.SGD(params, lr=0.5),
    "SGD lr 0.5, momentum 0.9": lambda params: optim.SGD(params, lr=0.5, momentum=0.9),
    "Adam lr 0.01": lambda params: optim.Adam(params, lr=0.01),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="weight initialisation seed (default 0)")
    parser.add_argument("--epochs", type=int, default=20_000, help="epoch budget per run (default 20000)")
    parser.add_argument("--out", type=Path, default=Path("out"), help="folder for the figure (default out/)")
    args = parser.parse_args()

    datasets = {"xor": mg.data.make_xor_easy(), "linear": mg.data.make_linear(100, rng=0)}
    print(f"{'data':8} {'optimizer':26} {'stop epoch':>10} {'final loss':>11} {'time':>7}")
    for data_name, (X, y) in datasets.items():
        histories = {}
        for name, make_optimizer in OPTIMIZERS.items():
            model = nn.MLP(2, (50, 50), 1, rng=args.seed)  # the same start for every optimizer
            history = mg.train.fit(model, X, y, nn.MSELoss(), make_optimizer(model.parameters()),
                                   epochs=args.epochs, stop_at_accuracy=1.0, progress=False)
            histories[name] = history
            stop = history.stop_epoch if history.converged else f">{history.epochs}"
            print(f"{data_name:8} {name:26} {stop!s:>10} {history.final_loss:11.5f} {history.wall_time:6.2f}s")
        try:
            args.out.mkdir(parents=True, exist_ok=True)
            mg.viz.plots.learning_curves(histories, path=args.out / f"{data_name}_optimizers.png",
                                         title=f"{data_name}: SGD vs Adam")
        except ImportError as missing:
            print(f"(no figure: {missing})")


if __name__ == "__main__":
    main()
