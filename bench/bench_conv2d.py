"""Forward + backward of a small MNIST-sized 2-D CNN in microgradnp (and in PyTorch with
``--torch``, same weights): a batch of 64 1x28x28 float32 images through
Conv2d(1, 8, 3) -> ReLU -> MaxPool2d(2) -> Conv2d(8, 16, 3) -> ReLU -> MaxPool2d(2) ->
Flatten -> Linear(400, 10), cross-entropy loss.

    python bench/bench_conv2d.py [--torch] [--number 50] [--batch 64]

Prints milliseconds per forward, and per forward + backward (best of several repeats).
A timing check, not a test.
"""

from __future__ import annotations

import argparse
import timeit

import numpy as np

import microgradnp as mg
from microgradnp import nn
from microgradnp.nn import functional as F


def make_model():
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, dtype=np.float32, rng=0), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, dtype=np.float32, rng=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 5 * 5, 10, dtype=np.float32, rng=2),
    )


def torch_twin(model):
    import torch

    twin = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 16, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(16 * 5 * 5, 10),
    )
    with torch.no_grad():
        for ours, theirs in zip(model.parameters(), twin.parameters(), strict=True):
            theirs.copy_(torch.from_numpy(np.array(ours.data)))
    return twin


def best_ms(fn, number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch", action="store_true", help="also time PyTorch (CPU) on the same weights")
    parser.add_argument("--number", type=int, default=50, help="steps per repeat")
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, args.batch)
    model = make_model()

    def forward():
        with mg.no_grad():
            return model(x)

    def forward_backward():
        model.zero_grad()
        F.cross_entropy(model(x), y).backward()

    forward_backward()
    print(f"microgradnp  forward {best_ms(forward, args.number):7.2f} ms   "
          f"forward+backward {best_ms(forward_backward, args.number):7.2f} ms   (batch {args.batch}, float32)")

    if args.torch:
        import torch

        twin, tx, ty = torch_twin(model), torch.from_numpy(x), torch.from_numpy(y)
        with torch.no_grad():
            np.testing.assert_allclose(twin(tx).numpy(), forward().data, rtol=1e-4, atol=1e-5)

        def torch_forward():
            with torch.no_grad():
                twin(tx)

        def torch_forward_backward():
            twin.zero_grad()
            torch.nn.functional.cross_entropy(twin(tx), ty).backward()

        print(f"torch        forward {best_ms(torch_forward, args.number):7.2f} ms   "
              f"forward+backward {best_ms(torch_forward_backward, args.number):7.2f} ms   "
              f"({torch.get_num_threads()} threads)")


if __name__ == "__main__":
    main()
