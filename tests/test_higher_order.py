"""``mg.grad``: gradients returned as Tensors, and with ``create_graph=True`` true
higher-order derivatives (Hessian-vector products, gradient penalties)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import numeric_grad

import microgradnp as mg

rng = np.random.default_rng(7)
W = rng.standard_normal((4, 3))
B = rng.standard_normal(3)


def scalar_function(x):
    """A scalar mixing most kinds of primitive (matmul, broadcasting, activations,
    reductions, softmax family, indexing), smooth everywhere."""
    h = (x @ W + B).tanh()
    s = h.sigmoid() * h.exp() + (h * h + 1.0).sqrt() + mg.log_softmax(h, axis=-1)[..., :1] / (h.abs() + 2.0)
    return (s * s).sum() + mg.logsumexp(x, axis=0).sum() + (x[0] ** 3).sum() + x.var()


def gradient(x_values):
    x = mg.tensor(x_values, requires_grad=True)
    (g,) = mg.grad(scalar_function(x), x)
    return g.data


def test_grad_returns_tensors_and_leaves_dot_grad_alone():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    (g,) = mg.grad((x * x).sum(), x)
    assert isinstance(g, mg.Tensor) and not g.requires_grad
    np.testing.assert_array_equal(g.data, [2.0, 4.0])
    assert x.grad is None


def test_grad_of_several_outputs_and_inputs_with_grad_outputs():
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    b = mg.tensor([3.0, -1.0], requires_grad=True)
    u, v = a * b, a + b
    gu, gv = np.array([1.0, 2.0]), np.array([-1.0, 0.5])
    ga, gb = mg.grad([u, v], [a, b], grad_outputs=[gu, gv])
    np.testing.assert_array_equal(ga.data, gu * b.data + gv)
    np.testing.assert_array_equal(gb.data, gu * a.data + gv)


def test_grad_of_intermediate_tensor():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3.0
    (gh,) = mg.grad((h * h).sum(), h)
    np.testing.assert_array_equal(gh.data, 2 * h.data)


def test_hessian_vector_product_matches_finite_differences_of_the_gradient():
    x0 = rng.standard_normal((5, 4))
    v = rng.standard_normal((5, 4))
    x = mg.tensor(x0, requires_grad=True)
    (g,) = mg.grad(scalar_function(x), x, create_graph=True)
    assert g.requires_grad
    (hv,) = mg.grad((g * v).sum(), x)
    eps = 1e-5
    numeric = (gradient(x0 + eps * v) - gradient(x0 - eps * v)) / (2 * eps)
    np.testing.assert_allclose(hv.data, numeric, rtol=1e-6, atol=1e-7)


def test_full_hessian_is_symmetric_and_matches_closed_form():
    # f(x) = sum(x^3) + (a . x)^2  ->  H = diag(6x) + 2 a a^T
    a = np.array([1.0, -2.0, 0.5])
    x0 = np.array([0.3, -0.7, 1.1])
    x = mg.tensor(x0, requires_grad=True)
    f = (x**3).sum() + (x * a).sum() ** 2
    (g,) = mg.grad(f, x, create_graph=True)
    rows = [mg.grad(g[i], x, retain_graph=True)[0].data for i in range(3)]
    hessian = np.stack(rows)
    np.testing.assert_allclose(hessian, np.diag(6 * x0) + 2 * np.outer(a, a), rtol=1e-12)


def test_third_derivative_of_tanh():
    points = np.array([-1.5, -0.2, 0.0, 0.3, 2.0])
    x = mg.tensor(points, requires_grad=True)
    (d1,) = mg.grad(mg.tanh(x).sum(), x, create_graph=True)
    (d2,) = mg.grad(d1.sum(), x, create_graph=True)
    (d3,) = mg.grad(d2.sum(), x)
    t = np.tanh(points)
    np.testing.assert_allclose(d1.data, 1 - t**2, rtol=1e-12)
    np.testing.assert_allclose(d2.data, -2 * t * (1 - t**2), atol=1e-12)
    np.testing.assert_allclose(d3.data, -2 * (1 - t**2) * (1 - 3 * t**2), atol=1e-12)


@pytest.mark.parametrize(
    ("function", "second_derivative"),
    [
        (mg.sigmoid, lambda v: (s := 1 / (1 + np.exp(-v))) * (1 - s) * (1 - 2 * s)),
        (mg.exp, np.exp),
        (mg.log, lambda v: -1 / v**2),
        (mg.sqrt, lambda v: -0.25 * v**-1.5),
        (mg.sin, lambda v: -np.sin(v)),
        (mg.cos, lambda v: -np.cos(v)),
        (lambda t: t**3.5, lambda v: 3.5 * 2.5 * v**1.5),
        (lambda t: 2.0**t, lambda v: np.log(2.0) ** 2 * 2.0**v),
        (lambda t: 1.0 / t, lambda v: 2 / v**3),
        (lambda t: mg.softmax(t, axis=0)[0] * 1.0, None),
    ],
    ids=["sigmoid", "exp", "log", "sqrt", "sin", "cos", "pow", "rpow", "reciprocal", "softmax"],
)
def test_second_derivative_of_elementwise_primitives(function, second_derivative):
    points = np.array([0.4, 0.9, 1.7])
    x = mg.tensor(points, requires_grad=True)
    (d1,) = mg.grad(function(x).sum(), x, create_graph=True)
    (d2,) = mg.grad(d1.sum(), x)
    if second_derivative is not None:
        np.testing.assert_allclose(d2.data, second_derivative(points), rtol=1e-10)

    def first(values):
        t = mg.tensor(values, requires_grad=True)
        return mg.grad(function(t).sum(), t)[0].data.sum()

    eps = 1e-6
    numeric = [(first(points + eps * e) - first(points - eps * e)) / (2 * eps) for e in np.eye(3)]
    np.testing.assert_allclose(d2.data, numeric, rtol=1e-5, atol=1e-8)


def test_gradient_penalty_trains_through_the_gradient_norm():
    """WGAN-GP style: the penalty (|d f / d x|^2 - 1)^2 is differentiated w.r.t. weights."""
    w0 = np.array([[0.5], [-1.5]])
    x = mg.tensor([[0.3, 0.8], [1.0, -0.4]], requires_grad=True)

    def penalty(w_values):
        w = mg.tensor(w_values, requires_grad=True)
        (gx,) = mg.grad((x @ w).tanh().sum(), x, create_graph=True)
        value = (((gx * gx).sum(axis=1) - 1.0) ** 2).mean()
        return w, value

    w, value = penalty(w0)
    value.backward()
    eps = 1e-6
    numeric = np.zeros_like(w0)
    for i in np.ndindex(w0.shape):
        step = np.zeros_like(w0)
        step[i] = eps
        numeric[i] = (penalty(w0 + step)[1].item() - penalty(w0 - step)[1].item()) / (2 * eps)
    np.testing.assert_allclose(w.grad, numeric, rtol=1e-6)


def test_create_graph_grad_can_feed_backward():
    x = mg.tensor([0.5, -1.0], requires_grad=True)
    (g,) = mg.grad((x**4).sum(), x, create_graph=True)
    (g * g).sum().backward()  # d/dx sum((4x^3)^2) = 96 x^5
    np.testing.assert_allclose(x.grad, 96 * np.array([0.5, -1.0]) ** 5)


def test_gradcheck_of_a_gradient():
    x = mg.tensor(rng.standard_normal(4), requires_grad=True)

    def grad_of_softplus_like(t):
        return mg.grad((t.exp() + 1.0).log().sum() * t.sigmoid().sum(), t, create_graph=True)[0]

    assert mg.gradcheck(grad_of_softplus_like, [x])


# -- errors --------------------------------------------------------------------------------
def test_unused_input_raises_unless_allowed():
    x, unused = mg.tensor([1.0], requires_grad=True), mg.tensor([2.0], requires_grad=True)
    y = (x * 2.0).sum()
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        mg.grad(y, [x, unused], retain_graph=True)
    gx, gu = mg.grad(y, [x, unused], allow_unused=True)
    assert gu is None and gx.data[0] == 2.0


def test_input_without_requires_grad_is_refused():
    x = mg.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="input 0 does not require grad"):
        mg.grad((x * 2.0).sum(), mg.tensor([1.0]))


def test_non_scalar_output_needs_grad_outputs():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"grad_outputs="):
        mg.grad(x * 2.0, x)


def test_grad_outputs_count_must_match():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match="2 grad_outputs for 1 outputs"):
        mg.grad(x * 2.0, x, grad_outputs=[np.ones(2), np.ones(2)])


def test_second_grad_without_retained_graph_raises():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp()).sum()
    mg.grad(y, x)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        mg.grad(y, x)


def test_differentiating_a_non_differentiable_backward_twice_says_how_to_fix_it():
    class Cube(mg.Function):  # backward works on ndarrays only (np.power)
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return np.power(x, 3)

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * 3 * np.power(x, 2)

    x = mg.tensor([1.0, 2.0], requires_grad=True)
    (g,) = mg.grad(Cube.apply(x).sum(), x, create_graph=True)
    np.testing.assert_array_equal(g.data, [3.0, 12.0])  # the first derivative still works
    with pytest.raises(RuntimeError, match="differentiable_backward = True"):
        mg.grad(g.sum(), x)


def test_materialize_grads_gives_zeros_for_unused_inputs_as_pytorch():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    unused = mg.tensor([3.0], requires_grad=True)
    gx, gu = mg.grad((x * x).sum(), [x, unused], materialize_grads=True)
    np.testing.assert_array_equal(gx.data, [2.0, 4.0])
    np.testing.assert_array_equal(gu.data, [0.0])
    assert mg.grad((x * x).sum(), [x, unused], allow_unused=True)[1] is None
    with pytest.raises(ValueError, match="allow_unused"):
        mg.grad((x * x).sum(), [x, unused], allow_unused=False, materialize_grads=True)
    with pytest.raises(RuntimeError, match="materialize_grads"):
        mg.grad((x * x).sum(), [x, unused])


_Z = rng.standard_normal((4, 3))
_CLASSES = np.array([0, 2, 1, 2])
_PROBS = rng.uniform(size=(4, 3))
_CLASS_LOSSES = {
    "cross_entropy": lambda x, **kw: mg.nn.functional.cross_entropy(x, _CLASSES, **kw),
    "nll_loss": lambda x, **kw: mg.nn.functional.nll_loss(mg.log_softmax(x, axis=1), _CLASSES, **kw),
    "bce_with_logits": lambda x, **kw: mg.nn.functional.binary_cross_entropy_with_logits(x, mg.tensor(_PROBS), **kw),
}
_OPTIONS = [{}, {"reduction": "sum"}, {"reduction": "none"}, {"weight": "class"}, {"label_smoothing": 0.1},
            {"ignore_index": 2}, {"pos_weight": "class"}]


def _loss_options(name, options):
    if ("label_smoothing" in options or "ignore_index" in options) and name != "cross_entropy":
        return None
    if ("pos_weight" in options) != (name == "bce_with_logits") and "pos_weight" in options:
        return None
    if "weight" in options and name == "bce_with_logits":
        return None
    return {k: (mg.tensor([1.0, 2.0, 0.5]) if v == "class" else v) for k, v in options.items()}


def _penalty(name, options, x):
    """A gradient penalty: the cube of the loss's gradient, summed (its gradient is a
    Hessian-vector product through the loss)."""
    loss = _CLASS_LOSSES[name](x, **options)
    if options.get("reduction") == "none":
        loss = (loss * mg.tensor(np.arange(1.0, 1.0 + loss.data.size).reshape(loss.shape))).sum()
    (g,) = mg.grad(loss, x, create_graph=True)
    return (g * g * g).sum()


@pytest.mark.parametrize("name, options", [
    pytest.param(name, options, id=f"{name}-{','.join(options) or 'mean'}")
    for name in sorted(_CLASS_LOSSES) for options in _OPTIONS if _loss_options(name, options) is not None
])
def test_class_losses_can_be_differentiated_twice(name, options):
    options = _loss_options(name, options)
    x = mg.tensor(_Z, requires_grad=True)
    (second,) = mg.grad(_penalty(name, options, x), x)
    numeric = numeric_grad(lambda z: _penalty(name, options, mg.tensor(z, requires_grad=True)).data, [_Z], 0)
    np.testing.assert_allclose(second.data, numeric, rtol=1e-5, atol=1e-7)


PIECEWISE_LINEAR = {
    "relu": lambda m, x: m.relu(x),
    "abs": lambda m, x: m.abs(x),
    "leaky_relu": lambda m, x: m.nn.functional.leaky_relu(x, 0.1),
    "hardtanh": lambda m, x: m.nn.functional.hardtanh(x),
    "relu6": lambda m, x: m.nn.functional.relu6(x * 4),
    "l1_loss": lambda m, x: m.nn.functional.l1_loss(x, m.zeros(6, dtype=m.float64)),
    "vector_norm_1": lambda m, x: m.linalg.vector_norm(x, 1),
    "vector_norm_inf": lambda m, x: m.linalg.vector_norm(x, float("inf")),
    "max_pool1d": lambda m, x: m.nn.functional.max_pool1d(x.reshape(1, 1, 6), 2),
}


@pytest.mark.parametrize("name", sorted(PIECEWISE_LINEAR))
def test_gradient_of_a_piecewise_linear_function_differentiates_again_to_zeros_as_pytorch(name):
    # PyTorch's first-order rule takes the input (threshold_backward(grad, x)...), so the gradient
    # requires grad and differentiating it gives zeros, not "does not require grad".
    torch = pytest.importorskip("torch")
    values = np.array([1.5, -2.0, 0.3, 0.05, -0.4, 3.5])
    weights = np.arange(1.0, 7.0)
    x = mg.tensor(values, requires_grad=True)
    (g,) = mg.grad(PIECEWISE_LINEAR[name](mg, x).sum(), x, create_graph=True)
    tx = torch.tensor(values, requires_grad=True)
    (tg,) = torch.autograd.grad(PIECEWISE_LINEAR[name](torch, tx).sum(), tx, create_graph=True)
    assert g.requires_grad == tg.requires_grad
    np.testing.assert_allclose(g.data, tg.detach().numpy(), rtol=1e-12)
    (g * mg.tensor(weights)).sum().backward()
    (tg * torch.tensor(weights)).sum().backward()
    np.testing.assert_array_equal(x.grad, tx.grad.numpy(force=True))  # (abs's is a ZeroTensor)
    assert x.grad.shape == values.shape and not np.any(x.grad)


def test_gradient_through_a_relu_network_keeps_its_weights_second_order():
    # The zero link adds nothing where the gradient depends on weights: the penalty's gradient
    # in w is the finite differences' one.
    x = mg.tensor([[0.5, -1.0], [2.0, 0.3]], requires_grad=True)

    def penalty(w_values):
        w = mg.tensor(w_values, requires_grad=True)
        (g,) = mg.grad(mg.relu(x @ w).sum(), x, create_graph=True)
        return (g * g).sum(), w

    def penalty_value(w_values):
        return penalty(w_values)[0].data

    w_values = np.array([[1.0, -0.5, 0.2], [0.3, 0.8, -1.2]])
    value, w = penalty(w_values)
    value.backward()
    expected = numeric_grad(penalty_value, [w_values], 0)
    np.testing.assert_allclose(w.grad, expected, rtol=1e-6, atol=1e-8)
