"""One full training step of the lab network (2-50-50-1, sigmoid, MSE, SGD) built from
raw Tensor operations, against the same step hand-written in NumPy, in one process.

    python bench/bench_step.py [--torch]

Prints microseconds per step and the ratio to NumPy (target <= 1.25x). "numpy floor" is
the same step with every array made once and a flat parameter update: the fewest NumPy
calls a step of one call per operation can make (see ``numpy_floor_step_factory``).
"""

from __future__ import annotations

import argparse
import time
import timeit

import numpy as np

import microgradnp as mg

LR = 0.1


def xor_set():
    points, labels = [], []
    for i in range(11):
        points.append([0.1 * i, 0.1 * i])
        labels.append(0.0)
        if i != 5:
            points.append([0.1 * i, 1 - 0.1 * i])
            labels.append(1.0)
    return np.array(points), np.array(labels).reshape(-1, 1)


def linear_set(n=100, seed=0):
    points = np.random.default_rng(seed).uniform(0, 1, (n, 2))
    return points, (points[:, 1] > points[:, 0]).astype(float).reshape(-1, 1)


def init_params(hidden=50, seed=0):
    rng = np.random.default_rng(seed)
    sizes = [2, hidden, hidden, 1]
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        params += [rng.standard_normal((n_in, n_out)), np.zeros((1, n_out))]
    return params


def numpy_step_factory(X, y, params):
    """The step as a student writes it in the lab: forward, MSE, hand backprop, update."""
    W1, b1, W2, b2, W3, b3 = [p.copy() for p in params]
    n = len(X)

    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    def step():
        a1 = sigmoid(X @ W1 + b1)
        a2 = sigmoid(a1 @ W2 + b2)
        a3 = sigmoid(a2 @ W3 + b3)
        loss = np.mean((a3 - y) ** 2)
        d3 = 2 / n * (a3 - y) * a3 * (1 - a3)
        d2 = (d3 @ W3.T) * a2 * (1 - a2)
        d1 = (d2 @ W2.T) * a1 * (1 - a1)
        grads = (X.T @ d1, d1.sum(0, keepdims=True), a1.T @ d2, d2.sum(0, keepdims=True),
                 a2.T @ d3, d3.sum(0, keepdims=True))
        for p, g in zip((W1, b1, W2, b2, W3, b3), grads):
            p -= LR * g
        return loss

    return step


def numpy_floor_step_factory(X, y, params):
    """The same step with the fewest NumPy calls and no allocation: every intermediate in
    an array made once (``out=``), the parameters and their gradients in one flat array
    each, so the update is two calls instead of two per parameter. It is the floor of
    any step made of one NumPy call per operation (a replay of the framework's
    primitives can only approach it), not a way anyone writes the lab."""
    sizes = [p.size for p in params]
    flat = np.concatenate([p.ravel() for p in params])
    flat_grad, scaled = np.empty_like(flat), np.empty_like(flat)
    bounds = np.cumsum([0, *sizes])

    def views(array):
        return [array[a:b].reshape(p.shape) for a, b, p in zip(bounds[:-1], bounds[1:], params)]

    W1, b1, W2, b2, W3, b3 = views(flat)
    gW1, gb1, gW2, gb2, gW3, gb3 = views(flat_grad)
    n = len(X)
    z1, z2, z3 = np.empty((n, W1.shape[1])), np.empty((n, W2.shape[1])), np.empty((n, W3.shape[1]))
    d1, d2, d3 = np.empty_like(z1), np.empty_like(z2), np.empty_like(z3)
    t1, t2, t3 = np.empty_like(z1), np.empty_like(z2), np.empty_like(z3)
    add, sub, mul, div, matmul, total = np.add, np.subtract, np.multiply, np.divide, np.matmul, np.add.reduce

    def sigmoid_(z):
        np.negative(z, out=z)
        np.exp(z, out=z)
        add(z, 1, out=z)
        return div(1, z, out=z)

    def layer(x, W, b, z):
        matmul(x, W, out=z)
        add(z, b, out=z)
        return sigmoid_(z)

    def delta(d, a, t):  # d *= a * (1 - a), as the hand-written step's order
        mul(d, a, out=d)
        sub(1, a, out=t)
        return mul(d, t, out=d)

    def step():
        a1 = layer(X, W1, b1, z1)
        a2 = layer(a1, W2, b2, z2)
        a3 = layer(a2, W3, b3, z3)
        sub(a3, y, out=d3)
        loss = total(mul(d3, d3, out=t3), axis=None) / n
        mul(d3, 2 / n, out=d3)
        delta(d3, a3, t3)
        delta(mul(d3, W3.T, out=d2) if W3.shape[1] == 1 else matmul(d3, W3.T, out=d2), a2, t2)
        delta(matmul(d2, W2.T, out=d1), a1, t1)
        for x, d, gW, gb in ((X, d1, gW1, gb1), (a1, d2, gW2, gb2), (a2, d3, gW3, gb3)):
            matmul(x.T, d, out=gW)
            total(d, axis=0, out=gb[0])
        sub(flat, mul(flat_grad, LR, out=scaled), out=flat)
        return loss

    return step


def microgradnp_compiled_step_factory(X, y, params):
    """The same step compiled with mg.compile; the update is optim.SGD's (the same
    ``p -= lr * grad``), since a compiled step does not read ``.grad`` in Python."""
    X, y = mg.tensor(X), mg.tensor(y)
    params = [mg.tensor(p, requires_grad=True) for p in params]
    layers = list(zip(params[::2], params[1::2]))
    optimizer = mg.optim.SGD(params, lr=LR)

    @mg.compile
    def step():
        a = X
        for w, b in layers:
            a = (a @ w + b).sigmoid()
        loss = ((a - y) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    return step


def microgradnp_step_factory(X, y, params):
    X, y = mg.tensor(X), mg.tensor(y)
    params = [mg.tensor(p, requires_grad=True) for p in params]
    layers = list(zip(params[::2], params[1::2]))

    def step():
        a = X
        for w, b in layers:
            a = (a @ w + b).sigmoid()
        loss = ((a - y) ** 2).mean()
        loss.backward()
        for p in params:
            p.data -= LR * p.grad
            p.grad = None
        return loss

    return step


def torch_step_factory(X, y, params):
    import torch

    torch.set_num_threads(1)
    X, y = torch.tensor(X), torch.tensor(y)
    params = [torch.tensor(p, requires_grad=True) for p in params]
    layers = list(zip(params[::2], params[1::2]))

    def step():
        a = X
        for w, b in layers:
            a = torch.sigmoid(a @ w + b)
        loss = ((a - y) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= LR * p.grad
                p.grad = None
        return loss

    return step


def _value(loss) -> float:
    return float(loss.data) if isinstance(loss, mg.Tensor) else float(loss)


TIMERS = {"wall": time.perf_counter, "cpu": time.process_time}


def add_timer_option(parser) -> None:
    # CPU time sums all threads: a BLAS worker spinning while Python runs between two
    # matrix products counts, so on multi-threaded products it penalises Python overhead
    # twice. Wall time is what a user waits for.
    parser.add_argument("--timer", choices=tuple(TIMERS), default="wall",
                        help="wall clock (default) or CPU time summed over threads")


def page_faults() -> int:
    try:
        import resource
    except ImportError:  # not on Unix
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def time_steps(steps: dict, timer=time.perf_counter, repeat=7, number=200) -> dict:
    """``{label: (best seconds per step, page faults per step)}``. The steps take turns,
    so that a busy moment on the machine hits them all alike."""
    for step in steps.values():
        for _ in range(3):
            step()
    best = dict.fromkeys(steps, float("inf"))
    faults = dict.fromkeys(steps, 0)
    for _ in range(repeat):
        for label, step in steps.items():
            before = page_faults()
            best[label] = min(best[label], timeit.timeit(step, number=number, timer=timer) / number)
            faults[label] += page_faults() - before
    return {label: (best[label], faults[label] / (repeat * number)) for label in steps}


def print_times(times: dict, base: str = "numpy (hand-written)") -> None:
    """One line per step of ``time_steps``' result: time, ratio to ``base``, page faults."""
    for label, (seconds, faults) in times.items():
        print(f"  {label:22s} {seconds * 1e6:8.1f} us/step   {seconds / times[base][0]:5.2f}x numpy   "
              f"{faults:7.1f} page faults/step")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch", action="store_true", help="also time PyTorch eager (if installed)")
    parser.add_argument("--number", type=int, default=2000, help="steps per timing run")
    add_timer_option(parser)
    args = parser.parse_args()

    factories = {"numpy (hand-written)": numpy_step_factory, "microgradnp": microgradnp_step_factory,
                 "microgradnp compiled": microgradnp_compiled_step_factory,
                 "numpy floor": numpy_floor_step_factory}
    if args.torch:
        factories["torch eager"] = torch_step_factory
    for name, (X, y) in {"XOR (21 points)": xor_set(), "linear (100 points)": linear_set()}.items():
        params = init_params()
        # The same losses from the same start: the steps compute the same thing.
        checks = [factory(X, y, params) for factory in list(factories.values())[:4]]
        losses = [[_value(step()) for _ in range(3)] for step in checks]
        assert np.allclose(losses[0], losses[1], rtol=1e-10) and losses[1] == losses[2], losses
        assert np.allclose(losses[0], losses[3], rtol=1e-10), losses
        times = time_steps({label: factory(X, y, params) for label, factory in factories.items()},
                           TIMERS[args.timer], number=args.number)
        print(f"\n{name}: 2-50-50-1 sigmoid MLP, MSE, SGD step, float64 ({args.timer} time)")
        print_times(times)


if __name__ == "__main__":
    main()
