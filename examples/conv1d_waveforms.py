"""A small 1-D convolutional network tells sine, square and sawtooth waves apart.

The signals have random frequency, phase, amplitude and noise, so the network has to
learn the *shape* of a period, which is what convolution filters are good at.

    python examples/conv1d_waveforms.py [--epochs 15] [--seed 0]
"""

import argparse

import numpy as np

import microgradnp as mg
from microgradnp import nn, optim

CLASSES = ("sine", "square", "sawtooth")


def make_waveforms(n: int, length: int = 128, noise: float = 0.2, rng=None):
    """``n`` signals of shape (1, length) and their class indices (0 sine, 1 square, 2 sawtooth)."""
    rng = np.random.default_rng(rng)
    labels = rng.integers(0, len(CLASSES), n)
    t = np.arange(length) / length
    frequency = rng.uniform(2, 8, (n, 1))
    phase = rng.uniform(0, 1, (n, 1))
    cycles = frequency * t + phase  # periods elapsed at each sample
    fraction = cycles % 1.0
    waves = np.stack([np.sin(2 * np.pi * cycles), np.sign(np.sin(2 * np.pi * cycles)), 2 * fraction - 1])
    signals = waves[labels, np.arange(n)] * rng.uniform(0.5, 1.5, (n, 1)) + noise * rng.standard_normal((n, length))
    return signals[:, None, :], labels


class WaveNet(nn.Module):
    """conv(1->8, k=7) - ReLU - maxpool 2 - conv(8->16, k=5) - ReLU - mean over time - linear(16->3)."""

    def __init__(self, rng=None):
        super().__init__()
        rng = np.random.default_rng(rng)
        self.features = nn.Sequential(
            nn.Conv1d(1, 8, kernel_size=7, padding=3, rng=rng), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(8, 16, kernel_size=5, padding=2, rng=rng), nn.ReLU(),
        )
        self.classifier = nn.Linear(16, len(CLASSES), rng=rng)

    def forward(self, x):
        return self.classifier(self.features(x).mean(axis=-1))  # global average pooling over time


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15, help="passes over the training set (default 15)")
    parser.add_argument("--seed", type=int, default=0, help="seed for data and weights (default 0)")
    args = parser.parse_args()

    X_train, y_train = make_waveforms(1200, rng=args.seed)
    X_test, y_test = make_waveforms(300, rng=args.seed + 1)
    model = WaveNet(rng=args.seed)
    print(model, "\n")
    history = mg.train.fit(model, X_train, y_train, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.01),
                           epochs=args.epochs, batch_size=64, rng=args.seed, log_every=1, progress=False)

    predicted = mg.train.predict(model, X_test).argmax(axis=1)
    print(f"\ntrained in {history.wall_time:.1f} s; test accuracy {np.mean(predicted == y_test):.1%}")
    print("confusion (rows: truth, columns: prediction)")
    print(" " * 10 + "".join(f"{name:>10}" for name in CLASSES))
    for i, name in enumerate(CLASSES):
        counts = [np.sum((y_test == i) & (predicted == j)) for j in range(len(CLASSES))]
        print(f"{name:>10}" + "".join(f"{c:10d}" for c in counts))


if __name__ == "__main__":
    main()
