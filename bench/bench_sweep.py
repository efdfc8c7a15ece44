"""The lab's full protocol (both data sets, every grid, 10 seeds, up to 100,000 epochs):
the vectorised ``mg.train.sweep`` against the same sweep run one configuration and one
seed at a time with the hand-written NumPy step.

    python bench/bench_sweep.py               # the full protocol (about five minutes on 2 cores)
    python bench/bench_sweep.py --epochs 5000 # a shorter cap, for a quick look

Running the one-at-a-time sweep in full would take hours, so it is estimated from a
sample: the hand-written step of each architecture (data set, hidden units, activation,
optimizer) is timed, and multiplied by the epochs that the sweep's runs actually took
(each seed's stop epoch, or the cap).

It also reports where the time goes: the matrix products of every member-epoch, timed
alone, as a share of each way's CPU time, and the BLAS with the kernels it picked.
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import os
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


def blas_description() -> str:
    """NumPy's BLAS and, for OpenBLAS, the kernels it picked for this CPU at run time
    (its build configuration names only the default)."""
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    text = f"{blas.get('name')} {blas.get('version')}"
    libraries = glob.glob(os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs", "*openblas*"))
    for path in libraries:
        library = ctypes.CDLL(path)
        for symbol in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename", "openblas_get_corename"):
            corename = getattr(library, symbol, None)
            if corename is not None:
                corename.restype = ctypes.c_char_p
                return f"{text}, {corename().decode()} kernels"
    return text


def matmul_seconds(n_points, hidden, members, dtype) -> tuple[float, float]:
    """The matrix products of one epoch of the lab's network (2-h-h-1), per member: as
    ``nn.Linear`` makes them for an ensemble of ``members`` (stacked along a leading
    axis), and as the hand-written step makes them for one network. Seconds each."""
    rng = np.random.default_rng(0)
    widths = (2, hidden, hidden, 1)

    def array(*shape):
        return rng.standard_normal(shape).astype(dtype)

    X = array(n_points, 2)
    stacked, alone = [], []
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        W, Wh = array(members, n_out, n_in), array(n_in, n_out)
        x, xh = (X, X) if i == 0 else (array(members, n_points, n_in), array(n_points, n_in))
        g, gh = array(members, n_points, n_out), array(n_points, n_out)
        stacked += [lambda x=x, W=W: x @ W.swapaxes(-1, -2), lambda g=g, x=x: g.swapaxes(-1, -2) @ x]
        alone += [lambda xh=xh, Wh=Wh: xh @ Wh, lambda xh=xh, gh=gh: xh.T @ gh]
        if i:  # the input gradient (nn.Linear multiplies elementwise for one output; the hand step does not)
            alone.append(lambda gh=gh, Wh=Wh: gh @ Wh.T)
            if n_out > 1:
                stacked.append(lambda g=g, W=W: g @ W)

    def seconds(products, per):
        def epoch():
            for product in products:
                product()
        number = max(20, int(2e5 / (n_points * hidden * hidden / 100 + 1)))
        return min(timeit.repeat(epoch, number=number, repeat=5, timer=time.process_time)) / number / per

    return seconds(stacked, members), seconds(alone, 1)


def activation_seconds(n_points, hidden, activation, members, dtype) -> float:
    """The activations of one epoch of the lab's network, per member, computed as in a stacked
    step (arrays of ``members`` networks): the two hidden layers' and the output sigmoid, the
    elementwise work whose cost stacking cannot shrink either (float64's exp is the C
    library's on a CPU without AVX-512)."""
    rng = np.random.default_rng(0)
    hidden_in = rng.standard_normal((members, n_points, hidden)).astype(dtype)
    output_in = rng.standard_normal((members, n_points, 1)).astype(dtype)
    f, sigmoid = ACTIVATIONS[activation][0], ACTIVATIONS["sigmoid"][0]

    def epoch():
        f(hidden_in)
        f(hidden_in)
        sigmoid(output_in)

    number = max(20, int(2e5 / (n_points * hidden / 10 + 1)))
    return min(timeit.repeat(epoch, number=number, repeat=5, timer=time.process_time)) / number / members


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100_000, help="epoch cap (default the lab's 100000)")
    parser.add_argument("--seeds", type=int, default=10, help="seeds per configuration (default 10)")
    parser.add_argument("--dtype", default="float64", choices=("float64", "float32"), help="(default float64)")
    args = parser.parse_args()

    total, estimate, sweep_products, hand_products, activations, processes = 0.0, 0.0, 0.0, 0.0, 0.0, 1
    for name in ("linear", "xor"):
        result = mg.train.sweep(LAB_GRID, name, seeds=args.seeds, epochs=args.epochs, progress=False,
                                dtype=args.dtype)
        X, y = (a.astype(args.dtype) for a in load_points(name)[1:])
        steps: dict[tuple, float] = {}
        products: dict[int, tuple[float, float]] = {}
        activation_times: dict[tuple, float] = {}
        one_at_a_time = 0.0
        for row in result.rows:
            key = (row["hidden"], row["activation"], row["optimizer"])
            if key not in steps:
                steps[key] = seconds_per_step(X, y, *key)
            if row["hidden"] not in products:
                products[row["hidden"]] = matmul_seconds(len(X), row["hidden"], args.seeds, args.dtype)
            if key[:2] not in activation_times:
                activation_times[key[:2]] = activation_seconds(len(X), *key[:2], args.seeds, args.dtype)
            epochs = sum(args.epochs if s is None else s for s in row["stop_epochs"])
            activations += epochs * activation_times[key[:2]]
            one_at_a_time += epochs * steps[key]
            sweep_products += epochs * products[row["hidden"]][0]
            hand_products += epochs * products[row["hidden"]][1]
        total += result.wall_time
        estimate += one_at_a_time
        processes = max(processes, result.workers)
        print(f"{name:7s} {len(result.rows)} configurations x {args.seeds} seeds, cap {args.epochs}, {args.dtype}: "
              f"vectorised {result.wall_time:7.1f} s ({result.workers} processes); one at a time with the "
              f"hand-written NumPy step ~{one_at_a_time:8.1f} s (estimated)")
    print(f"both    vectorised {total:.1f} s (target <= 120 s); one at a time ~{estimate:.0f} s "
          f"(~{estimate / 60:.0f} min): {estimate / total:.1f}x")
    # Where the time goes: the matrix products (BLAS) of every member-epoch, timed alone on
    # one core, against the CPU time of each way (the sweep's: wall time x its processes).
    # Each member's products have the shapes of fit's (bit-identity), so the vectorised sweep
    # cannot make them cheaper: the products bound the speed-up at estimate / (products / processes).
    print(f"matrix products: vectorised ~{sweep_products:.0f} s of its ~{total * processes:.0f} CPU-s "
          f"({sweep_products / (total * processes):.0%}); one at a time ~{hand_products:.0f} s of "
          f"~{estimate:.0f} s ({hand_products / estimate:.0%}); bound on the speed-up with {processes} "
          f"processes and only the products left: {estimate / (sweep_products / processes):.1f}x")
    both = sweep_products + activations
    print(f"activations (exp, tanh...): ~{activations:.0f} CPU-s ({activations / (total * processes):.0%} of the "
          f"vectorised); bound with {processes} processes and only the products and activations left: "
          f"{estimate / (both / processes):.1f}x")
    print(f"BLAS: {blas_description()}")


if __name__ == "__main__":
    main()
