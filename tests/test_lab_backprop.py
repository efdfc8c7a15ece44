"""The lab's network (2-50-50-1, sigmoid, MSE) built from raw Tensor ops, against the
backprop formulas the lab derives by hand, written here in plain NumPy."""

from __future__ import annotations

import numpy as np
import pytest

import microgradnp as mg


def xor_easy():
    """(0.1i, 0.1i) labelled 0 for i = 0..10, and (0.1i, 1 - 0.1i) labelled 1 except i = 5."""
    points = [[0.1 * i, 0.1 * i] for i in range(11)] + [[0.1 * i, 1 - 0.1 * i] for i in range(11) if i != 5]
    labels = [0.0] * 11 + [1.0] * 10
    return np.array(points), np.array(labels).reshape(-1, 1)


def linear(n=100, seed=0):
    points = np.random.default_rng(seed).uniform(0, 1, (n, 2))
    return points, (points[:, 1] > points[:, 0]).astype(float).reshape(-1, 1)


def init(seed, hidden=50):
    rng = np.random.default_rng(seed)
    sizes = [2, hidden, hidden, 1]
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        params += [rng.standard_normal((n_in, n_out)), rng.standard_normal((1, n_out)) * 0.1]
    return params


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def hand_backprop(X, y, params):
    """delta_out = 2/n (y_hat - y) s(1-s); delta_l = (delta_{l+1} W^T) s(1-s);
    dW = a^T delta; db = sum delta."""
    W1, b1, W2, b2, W3, b3 = params
    a1 = sigmoid(X @ W1 + b1)
    a2 = sigmoid(a1 @ W2 + b2)
    a3 = sigmoid(a2 @ W3 + b3)
    loss = np.mean((a3 - y) ** 2)
    d3 = 2 / len(X) * (a3 - y) * a3 * (1 - a3)
    d2 = (d3 @ W3.T) * a2 * (1 - a2)
    d1 = (d2 @ W2.T) * a1 * (1 - a1)
    grads = [X.T @ d1, d1.sum(0, keepdims=True), a1.T @ d2, d2.sum(0, keepdims=True), a2.T @ d3,
             d3.sum(0, keepdims=True)]
    return loss, grads


def autograd_backprop(X, y, params, activation=mg.sigmoid):
    tensors = [mg.tensor(p, requires_grad=True) for p in params]
    a = mg.tensor(X)
    for w, b in zip(tensors[::2], tensors[1::2]):
        a = activation(a @ w + b)
    loss = ((a - y) ** 2).mean()
    loss.backward()
    return loss.item(), [t.grad for t in tensors]


@pytest.mark.parametrize("dataset", [xor_easy, linear], ids=["xor", "linear"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_all_six_gradients_agree_with_the_hand_formulas(dataset, seed):
    X, y = dataset()
    params = init(seed)
    hand_loss, hand = hand_backprop(X, y, params)
    auto_loss, auto = autograd_backprop(X, y, params)
    assert auto_loss == pytest.approx(hand_loss, rel=1e-12)
    for name, h, a in zip(["W1", "b1", "W2", "b2", "W3", "b3"], hand, auto):
        assert a.shape == h.shape, name
        np.testing.assert_allclose(a, h, rtol=0, atol=1e-10, err_msg=name)


def test_the_classic_slip_differs_from_autograd():
    """The check can fail: s'(z) taken as z (1 - z) of the pre-activation is caught."""
    X, y = xor_easy()
    params = init(0)
    _, auto = autograd_backprop(X, y, params)
    W1, b1, W2, b2, W3, b3 = params
    z1 = X @ W1 + b1
    a1 = sigmoid(z1)
    z2 = a1 @ W2 + b2
    a2 = sigmoid(z2)
    a3 = sigmoid(a2 @ W3 + b3)
    d3 = 2 / len(X) * (a3 - y) * a3 * (1 - a3)
    d2 = (d3 @ W3.T) * z2 * (1 - z2)  # the slip
    assert not np.allclose(a1.T @ d2, auto[2], atol=1e-6)


def test_training_with_the_hand_step_and_autograd_stays_identical():
    X, y = xor_easy()
    hand_params = init(3)
    auto_params = [mg.tensor(p, requires_grad=True) for p in hand_params]
    lr = 1.0
    for _ in range(50):
        _, grads = hand_backprop(X, y, hand_params)
        hand_params = [p - lr * g for p, g in zip(hand_params, grads)]
        a = mg.tensor(X)
        for w, b in zip(auto_params[::2], auto_params[1::2]):
            a = (a @ w + b).sigmoid()
        ((a - y) ** 2).mean().backward()
        with mg.no_grad():
            for p in auto_params:
                p.data -= lr * p.grad
                p.zero_grad()
    for h, a in zip(hand_params, auto_params):
        np.testing.assert_allclose(a.data, h, rtol=0, atol=1e-10)
