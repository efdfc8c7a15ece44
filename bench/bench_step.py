"""One full training step of the lab network (2-50-50-1, sigmoid, MSE, SGD) built from
raw Tensor operations, against the same step hand-written in NumPy, in one process.

    python bench/bench_step.py [--torch]

Prints microseconds per step and the ratio to NumPy (target <= 1.25x).
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
                 "microgradnp compiled": microgradnp_compiled_step_factory}
    if args.torch:
        factories["torch eager"] = torch_step_factory
    for name, (X, y) in {"XOR (21 points)": xor_set(), "linear (100 points)": linear_set()}.items():
        params = init_params()
        # The same losses from the same start: the two steps compute the same thing.
        checks = [factory(X, y, params) for factory in list(factories.values())[:3]]
        losses = [[_value(step()) for _ in range(3)] for step in checks]
        assert np.allclose(losses[0], losses[1], rtol=1e-10) and losses[1] == losses[2], losses
        times = time_steps({label: factory(X, y, params) for label, factory in factories.items()},
                           TIMERS[args.timer], number=args.number)
        print(f"\n{name}: 2-50-50-1 sigmoid MLP, MSE, SGD step, float64 ({args.timer} time)")
        print_times(times)


if __name__ == "__main__":
    main()
