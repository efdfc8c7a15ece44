"""One full training step of a small 1-D CNN (Conv1d 8->16, ReLU, Conv1d 16->16, k=5, on
(32, 8, 256) float32; MSE against a fixed target; SGD), built from microgradnp's Conv1d
layers, against the same step hand-written in NumPy with im2col + GEMM, in one process.

    python bench/bench_conv1d.py [--torch] [--number 200] [--timer wall|cpu] [--steady-malloc]

Prints microseconds per step (eager, and compiled with ``mg.compile``), the ratio to
NumPy (target <= 1.0x), and the page faults
per step. The faults matter: a multi-megabyte temporary that glibc hands back to the OS
when freed (the NumPy step frees ~10 MB of them every step) faults on every page when
allocated again, which can cost more than the arithmetic. microgradnp's convolution
reuses its im2col buffers, so it does not pay that. ``--steady-malloc`` tells glibc to
keep freed memory in the process, so that the comparison shows the NumPy work alone.
"""

from __future__ import annotations

import argparse

import numpy as np
from bench_step import TIMERS, add_timer_option, print_times, time_steps
from numpy.lib.stride_tricks import sliding_window_view

import microgradnp as mg
from microgradnp import nn, optim
from microgradnp._memory import keep_freed_memory
from microgradnp.nn import functional as F
from microgradnp.nn.conv import Conv1d

LR = 0.05
BATCH, CHANNELS, HIDDEN, LENGTH, KERNEL = 32, 8, 16, 256, 5


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, CHANNELS, LENGTH)).astype(np.float32)
    out_length = LENGTH - 2 * (KERNEL - 1)
    target = rng.standard_normal((BATCH, HIDDEN, out_length)).astype(np.float32)
    return x, target


def init_params(seed=0):
    """Weights and biases as PyTorch initialises them: U(+-1/sqrt(fan_in))."""
    rng = np.random.default_rng(seed)
    params = []
    for c_in, c_out in ((CHANNELS, HIDDEN), (HIDDEN, HIDDEN)):
        bound = 1 / np.sqrt(c_in * KERNEL)
        params += [rng.uniform(-bound, bound, (c_out, c_in, KERNEL)).astype(np.float32),
                   rng.uniform(-bound, bound, c_out).astype(np.float32)]
    return params


def numpy_step_factory(x, target, params):
    """The step as someone fluent in NumPy writes it: activations kept channel-major,
    (C, N, L), so that each convolution is one GEMM of the weight (C_out, C_in*K) with
    the im2col columns (C_in*K, N*L_out) and its result is the next layer's input as is."""
    W1, b1, W2, b2 = [p.copy() for p in params]
    lr = np.float32(LR)
    batch = x.shape[0]
    x_cm = x.transpose(1, 0, 2)                    # (C, N, L): a view
    target_rows = np.ascontiguousarray(target.transpose(1, 0, 2)).reshape(target.shape[1], -1)

    def im2col(a):                                  # (C, N, L) -> (C*K, N*L_out)
        windows = sliding_window_view(a, KERNEL, axis=2)                  # (C, N, L_out, K)
        return windows.transpose(0, 3, 1, 2).reshape(-1, windows.shape[1] * windows.shape[2])

    def col2im(cols, channels, length):           # (C*K, N*L_out) -> (C, N, L)
        out_length = length - KERNEL + 1
        taps = cols.reshape(channels, KERNEL, batch, out_length)
        grad = np.zeros((channels, batch, length), dtype=cols.dtype)
        for k in range(KERNEL):
            grad[:, :, k : k + out_length] += taps[:, k]
        return grad

    def step():
        w1, w2 = W1.reshape(HIDDEN, -1), W2.reshape(HIDDEN, -1)
        cols1 = im2col(x_cm)
        z1 = w1 @ cols1 + b1[:, None]                 # (16, N*252)
        h = np.maximum(z1, 0)
        cols2 = im2col(h.reshape(HIDDEN, batch, -1))
        z2 = w2 @ cols2 + b2[:, None]                 # (16, N*248)
        diff = z2 - target_rows
        loss = np.mean(diff * diff)
        d2 = diff * np.float32(2 / diff.size)
        grad_w2, grad_b2 = d2 @ cols2.T, d2.sum(axis=1)
        d1 = col2im(w2.T @ d2, HIDDEN, h.shape[1] // batch).reshape(HIDDEN, -1) * (z1 > 0)
        grad_w1, grad_b1 = d1 @ cols1.T, d1.sum(axis=1)
        for p, g in ((W1, grad_w1), (b1, grad_b1), (W2, grad_w2), (b2, grad_b2)):
            p -= lr * g.reshape(p.shape)
        return loss

    return step


def conv_model(params):
    model = nn.Sequential(Conv1d(CHANNELS, HIDDEN, KERNEL, dtype=np.float32), nn.ReLU(),
                          Conv1d(HIDDEN, HIDDEN, KERNEL, dtype=np.float32))
    for p, value in zip(model.parameters(), params):
        p.data[...] = value
    return model


def microgradnp_step_factory(x, target, params):
    model = conv_model(params)
    parameters = list(model.parameters())
    lr = np.float32(LR)

    def step():
        loss = F.mse_loss(model(x), target)
        loss.backward()
        for p in parameters:
            p.data -= lr * p.grad
            p.grad = None
        return loss

    return step


def microgradnp_compiled_step_factory(x, target, params):
    """The same step through optim.SGD (the same ``p -= lr * grad``), compiled with mg.compile."""
    model = conv_model(params)
    optimizer = optim.SGD(model.parameters(), lr=np.float32(LR))

    @mg.compile
    def step():
        optimizer.zero_grad()
        loss = F.mse_loss(model(x), target)
        loss.backward()
        optimizer.step()
        return loss

    return step


def torch_step_factory(x, target, params):
    import torch

    x, target = torch.tensor(x), torch.tensor(target)
    params = [torch.tensor(p, requires_grad=True) for p in params]
    w1, b1, w2, b2 = params

    def step():
        h = torch.relu(torch.nn.functional.conv1d(x, w1, b1))
        loss = torch.nn.functional.mse_loss(torch.nn.functional.conv1d(h, w2, b2), target)
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= LR * p.grad
                p.grad = None
        return loss

    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch", action="store_true", help="also time PyTorch eager (if installed)")
    parser.add_argument("--number", type=int, default=200, help="steps per timing run")
    add_timer_option(parser)
    parser.add_argument("--steady-malloc", action="store_true",
                        help="keep freed memory in the process (glibc), so that no step pays page faults")
    args = parser.parse_args()
    timer = TIMERS[args.timer]
    if args.steady_malloc and not keep_freed_memory():
        print("--steady-malloc needs glibc's mallopt: timing with the default allocator")

    factories = {"numpy (hand-written)": numpy_step_factory, "microgradnp": microgradnp_step_factory,
                 "microgradnp compiled": microgradnp_compiled_step_factory}
    if args.torch:
        try:
            import torch  # noqa: F401
        except ImportError:
            print("torch is not installed: skipping it")
        else:
            factories["torch eager"] = torch_step_factory
    x, target = make_data()
    params = init_params()
    # The same losses from the same start: the steps compute the same thing.
    losses = {label: [step().item() for step in [factory(x, target, params)] for _ in range(5)]
              for label, factory in factories.items()}
    reference = losses["numpy (hand-written)"]
    for label, values in losses.items():
        assert np.allclose(values, reference, rtol=1e-4), (label, values, reference)
    times = time_steps({label: factory(x, target, params) for label, factory in factories.items()}, timer,
                       number=args.number)
    allocator = ", freed memory kept" if args.steady_malloc else ""
    print(f"Conv1d {CHANNELS}->{HIDDEN}->{HIDDEN} k={KERNEL}, ReLU, MSE, SGD step on "
          f"({BATCH}, {CHANNELS}, {LENGTH}) float32 ({args.timer} time{allocator})")
    print(f"  losses over 5 steps agree: {', '.join(f'{v:.6f}' for v in reference)}")
    print_times(times)


if __name__ == "__main__":
    main()
