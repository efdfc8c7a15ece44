"""The framework's own cost per graph node, apart from NumPy's work.

A chain of N cheap primitives (``sin`` on a 4-element array) is run three ways:
NumPy alone (the same ufunc calls), eager microgradnp (forward, then backward), and
the same function compiled with ``mg.compile``. The differences divided by N are the
cost of recording a node, of visiting it in backward, and of a replayed node.

    python bench/bench_overhead.py [--nodes N]
"""

from __future__ import annotations

import argparse
import timeit

import numpy as np

import microgradnp as mg


def per_call(function, number: int) -> float:
    function()
    return min(timeit.repeat(function, number=number, repeat=7)) / number


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=200, help="primitives in the chain")
    parser.add_argument("--number", type=int, default=200, help="runs per timing")
    args = parser.parse_args()
    n, number = args.nodes, args.number
    x0 = np.linspace(0.1, 0.4, 4)
    x = mg.tensor(x0, requires_grad=True)

    def numpy_forward():
        a = x0
        for _ in range(n):
            a = np.sin(a)
        return a

    def numpy_forward_backward():  # sin's forward and its rule, grad * cos(a), by hand
        values = [x0]
        for _ in range(n):
            values.append(np.sin(values[-1]))
        grad = np.ones_like(x0)
        for a in reversed(values[:-1]):
            grad = grad * np.cos(a)
        return grad

    def forward():
        a = x
        for _ in range(n):
            a = a.sin()
        return a

    def forward_backward():
        x.grad = None
        forward().sum().backward()

    timings = {
        "numpy forward": per_call(numpy_forward, number),
        "eager forward": per_call(forward, number),
        "numpy forward + backward": per_call(numpy_forward_backward, number),
        "eager forward + backward": per_call(forward_backward, number),
    }
    if hasattr(mg, "compile"):
        timings["compiled forward + backward"] = per_call(mg.compile(forward_backward), number)
    print(f"chain of {n} sin nodes on a 4-element array, per node:")
    for name, seconds in timings.items():
        print(f"  {name:28s} {seconds / n * 1e6:6.2f} us")
    fwd = (timings["eager forward"] - timings["numpy forward"]) / n * 1e6
    both = (timings["eager forward + backward"] - timings["numpy forward + backward"]) / n * 1e6
    print(f"framework cost per node: record {fwd:.2f} us, backward visit {both - fwd:.2f} us")
    if "compiled forward + backward" in timings:
        replay = (timings["compiled forward + backward"] - timings["numpy forward + backward"]) / n * 1e6
        print(f"compiled: {replay:.2f} us per node (forward and backward together)")


if __name__ == "__main__":
    main()
