"""The lab's central exercise: write the backward pass by hand in NumPy, then let
autograd check it, parameter by parameter.

The network is the lab's 2-50-50-1 sigmoid MLP with an MSE loss on the XOR set. The
hand-written backprop uses the lab's layout, ``a_{l+1} = sigmoid(a_l @ W_l + b_l)``
with W of shape (in, out); ``check_backprop`` recognises that layout.

    python examples/hand_backprop.py
"""

import numpy as np

import microgradnp as mg
from microgradnp import nn


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def derivative_sigmoid(s):
    """sigmoid'(z) written with s = sigmoid(z): s (1 - s)."""
    return s * (1.0 - s)


def hand_backprop(model, X, y, slip_in_layer=None):
    """d(MSE)/d(parameters) with the lab's formulas:
    delta_out = 2/n (y_hat - y) s'(z_out);  delta_l = (delta_{l+1} W_{l+1}^T) s'(z_l);
    dW_l = a_{l-1}^T delta_l;  db_l = sum over samples of delta_l.

    ``slip_in_layer=k`` makes the classic mistake in hidden layer k: applying
    ``derivative_sigmoid`` to the pre-activation z instead of to sigmoid(z)."""
    weights = [getattr(model, f"fc{i}").weight.data.T for i in (1, 2, 3)]  # the lab's (in, out) layout
    biases = [getattr(model, f"fc{i}").bias.data for i in (1, 2, 3)]
    activations, pre_activations = [X], []
    for W, b in zip(weights, biases):
        pre_activations.append(activations[-1] @ W + b)
        activations.append(sigmoid(pre_activations[-1]))

    grads = {}
    delta = 2.0 / len(X) * (activations[-1] - y) * derivative_sigmoid(activations[-1])
    for layer in (3, 2, 1):
        grads[f"W{layer}"] = activations[layer - 1].T @ delta
        grads[f"b{layer}"] = delta.sum(axis=0)
        if layer > 1:
            below = layer - 1
            s = pre_activations[below - 1] if below == slip_in_layer else activations[below]
            delta = (delta @ weights[layer - 1].T) * derivative_sigmoid(s)
    return grads


def main():
    X, y = mg.data.make_xor_easy()
    model = nn.MLP(2, (50, 50), 1, activation="sigmoid", rng=0)
    loss = nn.MSELoss()

    print("A correct hand-written backprop:\n")
    report = mg.check_backprop(model, X, y, loss, hand_backprop(model, X, y))
    print(f"\nall OK: {report.ok}\n")

    print("The classic slip in hidden layer 2 (derivative_sigmoid applied to z, not to sigmoid(z)):\n")
    report = mg.check_backprop(model, X, y, loss, hand_backprop(model, X, y, slip_in_layer=2))
    print(f"\nWRONG: {[row.name for row in report.wrong]}")
    print("fc3 is still right: the slip only corrupts the deltas from layer 2 downwards.")


if __name__ == "__main__":
    main()
