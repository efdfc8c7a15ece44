"""One full training step through ``nn`` and ``optim`` against the same step written by
hand in NumPy, in one process:

- the lab network (nn.MLP 2-50-50-1 sigmoid, nn.MSELoss, optim.SGD) on the XOR and
  linear sets, float64 (targets: eager <= 1.5x, compiled with mg.compile <= 0.9x);
- an MLP 784-256-256-10 with ReLU and cross-entropy, batch 128, float32 (targets: eager
  <= 1.05x, compiled <= 1.0x).

"numpy floor" is the lab step with every array made once and a flat parameter update
(bench_step.numpy_floor_step_factory): the least a step of one NumPy call per operation
can cost.

    python bench/bench_nn.py [--torch] [--number N] [--timer wall|cpu]
"""

from __future__ import annotations

import argparse

import numpy as np
from bench_step import (  # the lab's hand-written step
    TIMERS,
    add_timer_option,
    numpy_floor_step_factory,
    numpy_step_factory,
    print_times,
    time_steps,
)

import microgradnp as mg
from microgradnp import nn, optim

LR = 0.1


def lab_workloads():
    return {
        "XOR (21 points), 2-50-50-1 sigmoid, MSE, float64": mg.data.make_xor_easy(),
        "linear (100 points), 2-50-50-1 sigmoid, MSE, float64": mg.data.make_linear(100, rng=0),
    }


def big_workload():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((128, 784)).astype(np.float32)
    y = rng.integers(0, 10, 128)
    return X, y


def model_for(sizes, activation, output_activation, dtype):
    return nn.MLP(sizes[0], sizes[1:-1], sizes[-1], activation=activation, output_activation=output_activation,
                  dtype=dtype, rng=0)


def weights_of(model):
    """(W, b) per layer in the hand-written step's (in, out) layout."""
    layers = [m for name, m in model.named_children() if name.startswith("fc")]
    return [(layer.weight.data.T.copy(), layer.bias.data.copy()) for layer in layers]


def lab_params(model):
    """[W1, b1, W2, b2, W3, b3] as the hand-written lab step takes them: (in, out), (1, out)."""
    return [p for w, b in weights_of(model) for p in (w, b.reshape(1, -1))]


def mg_step_factory(model, X, y, loss_fn, compiled=False):
    optimizer = optim.SGD(model.parameters(), lr=LR)
    X = mg.tensor(X)

    def train_step():
        optimizer.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()
        return loss

    if compiled:
        train_step = mg.compile(train_step)
    return lambda: train_step().item()


def numpy_relu_ce_step_factory(weights, X, y):
    """A ReLU network with softmax cross-entropy, by hand."""
    params = [p.copy() for layer in weights for p in layer]
    n = len(X)
    onehot = np.eye(weights[-1][0].shape[1], dtype=X.dtype)[y]

    def step():
        W1, b1, W2, b2, W3, b3 = params
        z1 = X @ W1 + b1
        a1 = np.maximum(z1, 0)
        z2 = a1 @ W2 + b2
        a2 = np.maximum(z2, 0)
        logits = a2 @ W3 + b3
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        total = exp.sum(axis=1, keepdims=True)
        loss = np.mean(np.log(total[:, 0]) - shifted[np.arange(n), y])
        d3 = (exp / total - onehot) / n
        d2 = (d3 @ W3.T) * (z2 > 0)
        d1 = (d2 @ W2.T) * (z1 > 0)
        grads = (X.T @ d1, d1.sum(0), a1.T @ d2, d2.sum(0), a2.T @ d3, d3.sum(0))
        for p, g in zip(params, grads):
            p -= LR * g
        return float(loss)

    return step


def torch_step_factory(model, X, y, loss_name):
    import torch

    torch.set_num_threads(1)
    layers = []
    for w, b in weights_of(model):
        linear = torch.nn.Linear(*w.shape, dtype=torch.from_numpy(w).dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(w.T.copy()))
            linear.bias.copy_(torch.from_numpy(b))
        layers.append(linear)
    activation = torch.nn.Sigmoid if loss_name == "mse" else torch.nn.ReLU
    modules = []
    for i, layer in enumerate(layers):
        modules.append(layer)
        if i < len(layers) - 1 or loss_name == "mse":
            modules.append(activation())
    net = torch.nn.Sequential(*modules)
    optimizer = torch.optim.SGD(net.parameters(), lr=LR)
    loss_fn = torch.nn.MSELoss() if loss_name == "mse" else torch.nn.CrossEntropyLoss()
    X, y = torch.from_numpy(X), torch.from_numpy(y)

    def step():
        optimizer.zero_grad()
        loss = loss_fn(net(X), y)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def compare(title, steps, number, timer):
    checks = [factory() for label, factory in steps.items() if label != "microgradnp compiled"]
    losses = [[step() for _ in range(3)] for step in checks]
    for other in losses[1:]:
        assert np.allclose(losses[0], other, rtol=1e-4), losses  # the steps compute the same thing
    times = time_steps({name: factory() for name, factory in steps.items()}, TIMERS[timer], number=number)
    print(f"\n{title} ({timer} time)")
    print_times(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch", action="store_true", help="also time PyTorch eager (if installed)")
    parser.add_argument("--number", type=int, default=1000, help="steps per timing run of the lab network")
    add_timer_option(parser)
    args = parser.parse_args()

    for title, (X, y) in lab_workloads().items():
        def make_model():
            return model_for((2, 50, 50, 1), "sigmoid", "sigmoid", np.float64)

        steps = {
            "numpy (hand-written)": lambda X=X, y=y: numpy_step_factory(X, y, lab_params(make_model())),
            "microgradnp": lambda X=X, y=y: mg_step_factory(make_model(), X, y, nn.MSELoss()),
            "microgradnp compiled": lambda X=X, y=y: mg_step_factory(make_model(), X, y, nn.MSELoss(), True),
            "numpy floor": lambda X=X, y=y: numpy_floor_step_factory(X, y, lab_params(make_model())),
        }
        if args.torch:
            steps["torch eager"] = lambda X=X, y=y: torch_step_factory(make_model(), X, y, "mse")
        compare(title, steps, args.number, args.timer)

    X, y = big_workload()

    def make_big():
        return model_for((784, 256, 256, 10), "relu", None, np.float32)

    steps = {
        "numpy (hand-written)": lambda: numpy_relu_ce_step_factory(weights_of(make_big()), X, y),
        "microgradnp": lambda: mg_step_factory(make_big(), X, y, nn.CrossEntropyLoss()),
        "microgradnp compiled": lambda: mg_step_factory(make_big(), X, y, nn.CrossEntropyLoss(), True),
    }
    if args.torch:
        steps["torch eager"] = lambda: torch_step_factory(make_big(), X, y, "ce")
    compare("MLP 784-256-256-10 ReLU, cross-entropy, batch 128, float32", steps, max(args.number // 10, 20), args.timer)


if __name__ == "__main__":
    main()
