"""The lab's full protocol (both data sets, every grid, 10 seeds, up to 100,000 epochs):
the vectorised ``mg.train.sweep`` against the same sweep run one configuration and one
seed at a time with the hand-written NumPy step.

    python bench/bench_sweep.py               # the full protocol (about two minutes)
    python bench/bench_sweep.py --epochs 5000 # a shorter cap, for a quick look

Running the one-at-a-time sweep in full would take hours, so it is estimated from a
sample: the hand-written step of each architecture (data set, hidden units, activation,
optimizer) is timed, and multiplied by the epochs that the sweep's runs actually took
(each seed's stop epoch, or the cap).
"""

from __future__ import annotations

import argparse
import time
import timeit

import numpy as np

import microgradnp as mg
from microgradnp.train.runs import load_points
from microgradnp.train.sweep import LAB_GRID

ACTIVATIONS = {  # f(z), and f'(z) written with the activation a = f(z), as a student writes them
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z, a: a * (1 - a)),
    "tanh": (np.tanh, lambda z, a: 1 - a * a),
    "relu": (lambda z: np.maximum(z, 0), lambda z, a: (z > 0).astype(z.dtype)),
    "none": (lambda z: z, lambda z, a: np.ones_like(z)),
}


def numpy_step_factory(X, y, hidden, activation, optimizer, lr, seed=0):
    """One full-batch step of the lab's network, by hand: forward, MSE, backprop, update."""
    rng = np.random.default_rng(seed)
    sizes = (X.shape[1], hidden, hidden, 1)
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        bound = 1 / np.sqrt(n_in)
        params += [rng.uniform(-bound, bound, (n_in, n_out)), rng.uniform(-bound, bound, (1, n_out))]
    f, df = ACTIVATIONS[activation]
    sigmoid = ACTIVATIONS["sigmoid"][0]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    n, t = len(X), [0]

    def step():
        W1, b1, W2, b2, W3, b3 = params
        z1 = X @ W1 + b1
        a1 = f(z1)
        z2 = a1 @ W2 + b2
        a2 = f(z2)
        a3 = sigmoid(a2 @ W3 + b3)
        loss = np.mean((a3 - y) ** 2)
        d3 = 2 / n * (a3 - y) * a3 * (1 - a3)
        d2 = (d3 @ W3.T) * df(z2, a2)
        d1 = (d2 @ W2.T) * df(z1, a1)
        grads = (X.T @ d1, d1.sum(0, keepdims=True), a1.T @ d2, d2.sum(0, keepdims=True),
                 a2.T @ d3, d3.sum(0, keepdims=True))
        if optimizer == "sgd":
            for p, g in zip(params, grads):
                p -= lr * g
        else:  # Adam with PyTorch's defaults
            t[0] += 1
            for p, g, m_, v_ in zip(params, grads, m, v):
                m_ += 0.1 * (g - m_)
                v_ *= 0.999
                v_ += 0.001 * g * g
                p -= lr / (1 - 0.9 ** t[0]) * m_ / (np.sqrt(v_ / (1 - 0.999 ** t[0])) + 1e-8)
        return loss

    return step


def seconds_per_step(X, y, hidden, activation, optimizer) -> float:
    step = numpy_step_factory(X, y, hidden, activation, optimizer, lr=1e-3)
    number = max(50, int(2e6 / (len(X) * hidden * hidden)))
    return min(timeit.repeat(step, number=number, repeat=5, timer=time.process_time)) / number


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100_000, help="epoch cap (default the lab's 100000)")
    parser.add_argument("--seeds", type=int, default=10, help="seeds per configuration (default 10)")
    parser.add_argument("--dtype", default="float64", choices=("float64", "float32"), help="(default float64)")
    args = parser.parse_args()

    total, estimate = 0.0, 0.0
    for name in ("linear", "xor"):
        result = mg.train.sweep(LAB_GRID, name, seeds=args.seeds, epochs=args.epochs, progress=False,
                                dtype=args.dtype)
        X, y = (a.astype(args.dtype) for a in load_points(name)[1:])
        steps: dict[tuple, float] = {}
        one_at_a_time = 0.0
        for row in result.rows:
            key = (row["hidden"], row["activation"], row["optimizer"])
            if key not in steps:
                steps[key] = seconds_per_step(X, y, *key)
            epochs = sum(args.epochs if s is None else s for s in row["stop_epochs"])
            one_at_a_time += epochs * steps[key]
        total += result.wall_time
        estimate += one_at_a_time
        print(f"{name:7s} {len(result.rows)} configurations x {args.seeds} seeds, cap {args.epochs}, {args.dtype}: "
              f"vectorised {result.wall_time:7.1f} s ({result.workers} processes); one at a time with the "
              f"hand-written NumPy step ~{one_at_a_time:8.1f} s (estimated)")
    print(f"both    vectorised {total:.1f} s (target <= 120 s); one at a time ~{estimate:.0f} s "
          f"(~{estimate / 60:.0f} min): {estimate / total:.1f}x")


if __name__ == "__main__":
    main()
