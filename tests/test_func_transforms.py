"""``mg.func``'s transforms (grad, grad_and_value, vjp, jvp, jacrev, jacfwd, hessian, vmap,
stack_module_state) against closed forms and finite differences, and against ``torch.func``
when it is installed (an optional oracle)."""

from __future__ import annotations

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import func as mf

RNG = np.random.default_rng(0)
W, X, Y = RNG.normal(size=(3, 4)), RNG.normal(size=(5, 3)), RNG.normal(size=(5, 4))


def _loss(w, x, y):  # written once: mg and torch tensors have the same methods
    return ((x @ w).tanh() - y).pow(2).mean()


def _sample_loss(w, xi, yi):
    return ((xi @ w).tanh() - yi).pow(2).sum()


def _numeric_gradient(f, a, eps=1e-6):
    grad = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        up, down = a.copy(), a.copy()
        up[i] += eps
        down[i] -= eps
        grad[i] = (f(up) - f(down)) / (2 * eps)
    return grad


def test_grad_matches_finite_differences_and_leaves_the_inputs_alone():
    w = mg.tensor(W)
    g = mf.grad(_loss)(w, mg.tensor(X), mg.tensor(Y))
    numeric = _numeric_gradient(lambda a: _loss(mg.tensor(a), mg.tensor(X), mg.tensor(Y)).item(), W)
    np.testing.assert_allclose(g.data, numeric, rtol=1e-6, atol=1e-9)
    assert not g.requires_grad and not w.requires_grad and w.grad is None


def test_grad_argnums_pytrees_aux_and_unused_inputs():
    params = {"a": mg.tensor([1.0, 2.0]), "b": (mg.tensor(3.0), mg.tensor([4.0]))}

    def f(p, scale):
        return (p["a"] * p["b"][0]).sum() * scale, "aux"

    (gp, gs), aux = mf.grad(f, argnums=(0, 1), has_aux=True)(params, mg.tensor(2.0))
    assert aux == "aux"
    np.testing.assert_array_equal(gp["a"].data, [6.0, 6.0])
    np.testing.assert_array_equal(gp["b"][0].data, 6.0)
    np.testing.assert_array_equal(gp["b"][1].data, [0.0])  # unused: zeros, as torch.func
    np.testing.assert_array_equal(gs.data, 9.0)
    g, value = mf.grad_and_value(lambda a: (a**2).sum(), argnums=-1)(mg.tensor([1.0, -3.0]))
    np.testing.assert_array_equal(g.data, [2.0, -6.0])
    assert value.item() == 10.0


@pytest.mark.parametrize("call, error", [
    (lambda: mf.grad(lambda a: a * 2)(mg.tensor([1.0, 2.0])), "scalar Tensor"),
    (lambda: mf.grad(lambda a: 1.0)(mg.tensor(1.0)), "return a Tensor"),
    (lambda: mf.grad(lambda a: a, argnums=1)(mg.tensor(1.0)), "only 1 positional inputs"),
    (lambda: mf.grad(lambda a, b: a, argnums=(0, 0))(mg.tensor(1.0), mg.tensor(1.0)), "unique"),
    (lambda: mf.grad(lambda a: a, argnums=())(mg.tensor(1.0)), "non-empty"),
    (lambda: mf.grad(lambda a: a, has_aux=True)(mg.tensor(1.0)), "tuple: \\(output, aux\\)"),
])
def test_grad_refuses_what_torch_func_refuses(call, error):
    with pytest.raises(RuntimeError, match=error):
        call()
    with pytest.raises(TypeError, match="floating point"):
        mf.grad(lambda a: a.sum())(mg.tensor([1, 2]).long())
    with pytest.raises(TypeError, match="expected tensors"):
        mf.grad(lambda a: a)(1.0)


def test_grad_of_grad_and_of_a_parameter_that_requires_grad():
    a = np.array([0.5, -1.0, 2.0])
    second = mf.grad(lambda t: mf.grad(lambda u: (u**3).sum())(t).sum())(mg.tensor(a))
    np.testing.assert_allclose(second.data, 6 * a)
    w = mg.tensor(W, requires_grad=True)
    g = mf.grad(_loss)(w, mg.tensor(X), mg.tensor(Y))
    assert g.requires_grad  # it belongs to w's graph: backward differentiates it again
    (g**2).sum().backward()
    numeric = _numeric_gradient(
        lambda b: (mf.grad(_loss)(mg.tensor(b), mg.tensor(X), mg.tensor(Y)).data ** 2).sum(), W)
    np.testing.assert_allclose(w.grad, numeric, rtol=1e-5, atol=1e-8)


def test_vjp_jvp_and_jacobians_agree_with_each_other():
    def f(a, b):
        return (a.sin() * b, (a * b).exp().sum())

    a, b = mg.tensor(W[0]), mg.tensor(W[1])
    jac = mf.jacrev(f, argnums=(0, 1))(a, b)  # ((d out0/da, d out0/db), (d out1/da, d out1/db))
    assert jac[0][0].shape == (4, 4) and jac[1][1].shape == (4,)
    np.testing.assert_allclose(jac[0][0].data, np.diag(np.cos(W[0]) * W[1]))
    u, v = mg.tensor(W[2]), mg.tensor(2.0)
    out, back = mf.vjp(f, a, b)
    ga, gb = back((u, v))
    np.testing.assert_allclose(ga.data, u.data @ jac[0][0].data + 2.0 * jac[1][0].data)
    np.testing.assert_allclose(gb.data, u.data @ jac[0][1].data + 2.0 * jac[1][1].data)
    ta, tb = mg.tensor(X[0, :1].repeat(4)), mg.tensor(W[2])
    value, (d0, d1) = mf.jvp(f, (a, b), (ta, tb))
    np.testing.assert_allclose(d0.data, jac[0][0].data @ ta.data + jac[0][1].data @ tb.data)
    np.testing.assert_allclose(d1.data, jac[1][0].data @ ta.data + jac[1][1].data @ tb.data)
    np.testing.assert_allclose(value[0].data, out[0].data)
    np.testing.assert_allclose(mf.jacfwd(f)(a, b)[0].data, jac[0][0].data)
    with pytest.raises(RuntimeError, match="same structure"):
        back(u)
    with pytest.raises(RuntimeError, match="tuples"):
        mf.jvp(f, [a, b], (ta, tb))


def test_hessian_of_a_quadratic_form_is_its_symmetric_matrix():
    A = RNG.normal(size=(4, 4))
    h = mf.hessian(lambda x: x @ mg.tensor(A) @ x)(mg.tensor(W[0]))
    np.testing.assert_allclose(h.data, A + A.T, atol=1e-12)


def test_vmap_maps_slices_stacks_results_and_passes_gradients_through():
    x = mg.tensor(X, requires_grad=True)
    out = mf.vmap(lambda row, w: (row @ w).sum(), in_dims=(0, None))(x, mg.tensor(W))
    np.testing.assert_allclose(out.data, (X @ W).sum(1))
    out.sum().backward()
    np.testing.assert_allclose(x.grad, np.tile(W.sum(1), (5, 1)))
    np.testing.assert_array_equal(mf.vmap(lambda c: c * 2, in_dims=1, out_dims=1)(mg.tensor(W)).data, W * 2)
    assert mf.vmap(mf.vmap(lambda a: a.sum()))(mg.tensor(W)).shape == (3, 4)
    pair = mf.vmap(lambda d: (d["a"] + d["b"], d["b"]))({"a": mg.tensor(W), "b": mg.tensor(W[:, 0])})
    assert isinstance(pair, tuple) and pair[0].shape == (3, 4)
    np.testing.assert_array_equal(pair[0].data, W + W[:, :1])
    np.testing.assert_array_equal(pair[1].data, W[:, 0])
    assert mg.vmap is mf.vmap


def test_vmap_refuses_what_torch_vmap_refuses():
    a = mg.tensor(W)
    with pytest.raises(ValueError, match="same size in the mapped dimension"):
        mf.vmap(lambda p, q: p + q)(a, mg.tensor(X))
    with pytest.raises(ValueError, match="at least one input must be mapped"):
        mf.vmap(lambda p: p, in_dims=None)(a)
    with pytest.raises(ValueError, match="must only return Tensors"):
        mf.vmap(lambda p: 1.0)(a)
    with pytest.raises(ValueError, match="in_dims is not compatible"):
        mf.vmap(lambda p: p, in_dims=(0, 0))(a)
    with pytest.raises(ValueError, match="expected in_dim to satisfy"):
        mf.vmap(lambda p: p, in_dims=2)(a)
    with pytest.raises(ValueError, match="chunk_size"):
        mf.vmap(lambda p: p, chunk_size=0)
    with pytest.raises(RuntimeError, match="randomness"):
        mf.vmap(lambda p: p, randomness="sometimes")


def test_vmap_randomness_modes():
    a = mg.tensor(np.zeros((3, 4)))
    with pytest.raises(RuntimeError, match="randomness error mode"):
        mf.vmap(lambda p: p + mg.randn(4))(a)
    mg.manual_seed(0)
    same = mf.vmap(lambda p: p + mg.randn(4), randomness="same")(a).data
    np.testing.assert_array_equal(same, np.tile(same[0], (3, 1)))
    mg.manual_seed(0)
    different = mf.vmap(lambda p: p + mg.randn(4), randomness="different")(a).data
    assert not np.array_equal(different[0], different[1])
    np.testing.assert_array_equal(different[0], same[0])  # the first slice draws what an unmapped call would


def test_per_sample_gradients_and_an_ensemble_from_stacked_module_state():
    grads = mf.vmap(mf.grad(_sample_loss), in_dims=(None, 0, 0))(mg.tensor(W), mg.tensor(X), mg.tensor(Y))
    for i in range(len(X)):
        np.testing.assert_allclose(grads.data[i], mf.grad(_sample_loss)(mg.tensor(W), mg.tensor(X[i]),
                                                                         mg.tensor(Y[i])).data)
    models = [mg.nn.Linear(3, 2, rng=i) for i in range(4)]
    params, buffers = mf.stack_module_state(models)
    assert params["weight"].shape == (4, 2, 3) and params["weight"].requires_grad and buffers == {}
    base = mg.nn.Linear(3, 2)
    out = mf.vmap(lambda p, b, x: mf.functional_call(base, (p, b), (x,)), in_dims=(0, 0, None))(
        params, buffers, mg.tensor(X))
    for i, model in enumerate(models):
        np.testing.assert_allclose(out.data[i], model(mg.tensor(X)).data)
    with pytest.raises(RuntimeError, match="same class"):
        mf.stack_module_state([mg.nn.Linear(3, 2), mg.nn.Tanh()])


def test_the_transforms_match_torch_func():
    torch = pytest.importorskip("torch")
    tf = torch.func

    def t(a):
        return torch.tensor(a, dtype=torch.float64)

    np.testing.assert_allclose(mf.grad(_loss)(*map(mg.tensor, (W, X, Y))).data,
                               tf.grad(_loss)(t(W), t(X), t(Y)).numpy(), atol=1e-14)
    ours = mf.vmap(mf.grad(_sample_loss), in_dims=(None, 0, 0))(*map(mg.tensor, (W, X, Y)))
    theirs = tf.vmap(tf.grad(_sample_loss), in_dims=(None, 0, 0))(t(W), t(X), t(Y))
    np.testing.assert_allclose(ours.data, theirs.numpy(), atol=1e-14)

    def cubic(w):
        return (w.sin() ** 2).sum() * w.sum()

    np.testing.assert_allclose(mf.hessian(cubic)(mg.tensor(W[0])).data, tf.hessian(cubic)(t(W[0])).numpy(),
                               atol=1e-13)
    ours = mf.jacrev(lambda p: (p["a"] * p["b"]).exp())({"a": mg.tensor(W[0]), "b": mg.tensor(W[1])})
    theirs = tf.jacrev(lambda p: (p["a"] * p["b"]).exp())({"a": t(W[0]), "b": t(W[1])})
    for key in ("a", "b"):
        np.testing.assert_allclose(ours[key].data, theirs[key].numpy(), atol=1e-14)
    _, (ours,) = mf.jvp(lambda a: (a.sin() * a,), (mg.tensor(W[0]),), (mg.tensor(W[1]),))
    _, (theirs,) = tf.jvp(lambda a: (a.sin() * a,), (t(W[0]),), (t(W[1]),))
    np.testing.assert_allclose(ours.data, theirs.numpy(), atol=1e-14)


# -- captured tensors: an outer transform's variable or a parameter used inside -------------------
def test_nested_transforms_differentiate_a_captured_outer_variable():
    # d/dx [d/dy x y^2] = 2y: the inner results must keep the graph to x (they were zeros)
    x, y = mg.tensor(3.0), mg.tensor(2.0)
    outer = mg.func.grad(lambda x: mg.func.grad(lambda y: x * y**2)(y))(x)
    assert outer.item() == 4.0 and not outer.requires_grad
    assert mg.func.jacrev(lambda x: mg.func.jacrev(lambda y: x * y**3)(y))(x).item() == 12.0
    tangent = mg.tensor(1.0)
    assert mg.func.grad(lambda x: mg.func.jvp(lambda y: x * y**2, (y,), (tangent,))[1])(x).item() == 4.0
    assert mg.func.grad(lambda x: mg.func.vjp(lambda y: x * y**2, y)[1](mg.tensor(1.0))[0])(x).item() == 4.0


def test_a_captured_parameter_gets_the_gradient_of_a_gradient_penalty():
    w = mg.tensor(3.0, requires_grad=True)
    penalty = mg.func.grad(lambda y: w * y**2)(mg.tensor(2.0))  # 2 w y
    assert penalty.requires_grad
    penalty.backward()
    assert w.grad == 4.0
    with mg.no_grad():  # under no_grad: a plain result, as torch.func's
        plain = mg.func.grad(lambda y: w * y**2)(mg.tensor(2.0))
    assert not plain.requires_grad and plain.item() == 12.0


def test_nested_transforms_match_torch_func():
    torch = pytest.importorskip("torch")
    x, y = np.array([0.3, -1.2]), np.array([0.7, 0.4])

    def inner(module, func):
        return lambda a: func.grad(lambda b: (module.sin(a * b) * b).sum())(module.tensor(y))

    ours = mg.func.jacrev(inner(mg, mg.func))(mg.tensor(x))
    theirs = torch.func.jacrev(inner(torch, torch.func))(torch.tensor(x))
    np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-12)


def test_vmap_over_an_empty_axis_gives_empty_results_as_torch():
    out = mg.func.vmap(lambda x: (x * 2).sum(-1))(mg.tensor(np.zeros((0, 3))))
    assert out.shape == (0,)
    moved = mg.func.vmap(lambda x: x.T, in_dims=1, out_dims=1)(mg.tensor(np.zeros((2, 0, 3))))
    assert moved.shape == (3, 0, 2)
