"""Plug a hand-derived derivative into autograd with ``mg.Function`` and check it
with ``mg.gradcheck`` — first a correct one, then the lab's classic slip.

    python examples/custom_function.py
"""

import numpy as np

import microgradnp as mg


class MySigmoid(mg.Function):
    """sigmoid(x) = 1 / (1 + e^-x), with sigmoid'(x) = s (1 - s) where s = sigmoid(x)."""

    @staticmethod
    def forward(ctx, x):
        s = 1 / (1 + np.exp(-x))
        ctx.save_for_backward(s)  # the derivative is cheapest from the output
        return s

    @staticmethod
    def backward(ctx, grad):
        (s,) = ctx.saved_tensors
        return grad * s * (1 - s)


class SlippedSigmoid(mg.Function):
    """The slip: the derivative written as x (1 - x) of the *input* x, not of sigmoid(x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return 1 / (1 + np.exp(-x))

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * x * (1 - x)


class Softplus(mg.Function):
    """log(1 + e^x), written stably; its derivative is sigmoid(x). Uses only operations
    that also work on Tensors, so it can be differentiated twice."""

    differentiable_backward = True

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / (1 + np.exp(-x))  # NumPy ufuncs on a Tensor are recorded too


def main():
    x = mg.randn(3, 4, requires_grad=True, rng=0)

    print("MySigmoid vs finite differences:", mg.gradcheck(MySigmoid.apply, [x]))
    y = MySigmoid.apply(x)
    print(f"  y.op = {y.op!r}; it composes with everything else:")
    loss = ((y - 0.5) ** 2).mean()
    loss.backward()
    print(f"  loss {loss.item():.6f}, x.grad[0] = {np.array2string(x.grad[0], precision=5)}")

    print("\nSlippedSigmoid vs finite differences:")
    try:
        mg.gradcheck(SlippedSigmoid.apply, [x])
    except mg.GradcheckError as error:
        print(f"  caught: {error}")

    print("\nSoftplus, first and second derivative:")
    z = mg.tensor([-2.0, 0.0, 3.0], requires_grad=True)
    print("  gradcheck:", mg.gradcheck(Softplus.apply, [z]))
    (d1,) = mg.grad(Softplus.apply(z).sum(), z, create_graph=True)
    (d2,) = mg.grad(d1.sum(), z)
    s = 1 / (1 + np.exp(-z.data))
    print(f"  d/dz   = {np.array2string(d1.data, precision=5)}  (sigmoid: {np.array2string(s, precision=5)})")
    print(f"  d2/dz2 = {np.array2string(d2.data, precision=5)}  (s(1-s):  {np.array2string(s * (1 - s), precision=5)})")


if __name__ == "__main__":
    main()
