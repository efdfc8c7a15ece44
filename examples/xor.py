"""The lab network (2-50-50-1, sigmoid, MSE, full-batch gradient descent) on the
21-point XOR set, written with raw Tensor operations, trained to 100 % accuracy."""

import numpy as np

import microgradnp as mg


def xor_points():
    """(0.1i, 0.1i) labelled 0 for i = 0..10; (0.1i, 1 - 0.1i) labelled 1 for i != 5."""
    inputs, labels = [], []
    for i in range(11):
        inputs.append([0.1 * i, 0.1 * i])
        labels.append(0)
        if i != 5:
            inputs.append([0.1 * i, 1 - 0.1 * i])
            labels.append(1)
    return np.array(inputs), np.array(labels, dtype=float).reshape(-1, 1)


def main(lr=1.0, hidden=50, max_epochs=100_000, seed=1):
    X, y = xor_points()
    rng = np.random.default_rng(seed)
    sizes = [2, hidden, hidden, 1]
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        params.append(mg.randn(n_in, n_out, rng=rng, requires_grad=True))
        params.append(mg.zeros(1, n_out, requires_grad=True))

    for epoch in range(1, max_epochs + 1):
        a = mg.tensor(X)
        for w, b in zip(params[::2], params[1::2]):
            a = (a @ w + b).sigmoid()
        loss = ((a - y) ** 2).mean()
        accuracy = np.mean((a.data > 0.5) == y)
        loss.backward()
        with mg.no_grad():
            for p in params:
                p.data -= lr * p.grad
                p.grad = None
        if epoch % 500 == 0 or accuracy == 1.0:
            print(f"epoch {epoch:6d}, loss {loss.item():.4f}, acc {accuracy:.4f}")
        if accuracy == 1.0:
            break

    print("\n  x1    x2    truth  prediction")
    for (x1, x2), truth, pred in zip(X, y[:, 0], a.data[:, 0]):
        print(f"{x1:5.2f} {x2:5.2f}    {truth:.0f}     {pred:.4f}")
    print(f"\nfinal loss {loss.item():.6f}, accuracy {accuracy:.2%} after {epoch} epochs")


if __name__ == "__main__":
    main()
