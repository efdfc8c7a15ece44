"""backward(create_graph=True, inputs=), multi-root mg.autograd.backward, Functions with several
outputs (mark_non_differentiable, set_materialize_grads) and mg.autograd.functional, checked
against finite differences and against PyTorch's autograd."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import microgradnp as mg
from microgradnp.autograd import functional as F

SETTINGS = settings(max_examples=25, deadline=None)


def _torch():
    return pytest.importorskip("torch")


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape)


def _close(a, b, atol=1e-10):
    a = a.data if isinstance(a, mg.Tensor) else np.asarray(a)
    b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=atol)


def _finite_diff(f, x: np.ndarray, eps=1e-6) -> np.ndarray:
    """Central differences of the scalar f at x."""
    grad = np.zeros_like(x)
    for i in range(x.size):
        step = np.zeros_like(x)
        step.flat[i] = eps
        grad.flat[i] = (f(x + step) - f(x - step)) / (2 * eps)
    return grad


# -- backward(create_graph=True) and inputs= -------------------------------------------------
def test_backward_create_graph_keeps_grad_an_array_and_gives_a_differentiable_grad_tensor():
    torch = _torch()
    a, b = _rand(3, seed=1), _rand(2, 3, seed=2)
    x, w = mg.tensor(a, requires_grad=True), mg.tensor(b, requires_grad=True)
    loss = (mg.tanh(w @ x) ** 2).sum() + (x**3).sum()
    loss.backward(create_graph=True)
    assert type(x.grad) is np.ndarray and x.grad.dtype == x.dtype
    first = x.grad.copy()
    gx = x.grad_tensor
    assert gx.requires_grad and gx.grad_fn is not None
    np.testing.assert_array_equal(gx.data, x.grad)
    (gx**2).sum().backward()  # accumulates d|dL/dx|^2 into x.grad and w.grad, as PyTorch does

    tx, tw = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    tloss = (torch.tanh(tw @ tx) ** 2).sum() + (tx**3).sum()
    tloss.backward(create_graph=True)
    _close(first, tx.grad)
    (tx.grad**2).sum().backward()
    _close(x.grad, tx.grad)
    _close(w.grad, tw.grad)


def test_grad_tensor_is_reset_with_grad_and_plain_without_create_graph():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    assert x.grad_tensor is None
    (x**2).sum().backward()
    assert x.grad_tensor.grad_fn is None and not x.grad_tensor.requires_grad
    np.testing.assert_array_equal(x.grad_tensor.data, x.grad)
    x.grad = None
    (x**2).sum().backward(create_graph=True)
    (x**2).sum().backward(create_graph=True)  # accumulates as a graph too
    np.testing.assert_allclose(x.grad, 4 * x.data)
    (h,) = mg.grad(x.grad_tensor.sum(), x)
    np.testing.assert_allclose(h.data, [4.0, 4.0])
    x.zero_grad()
    assert x.grad_tensor is None
    (x**2).sum().backward(create_graph=True)
    (x**2).sum().backward()  # a plain backward on top: .grad_tensor has no graph any more
    assert x.grad_tensor.grad_fn is None
    np.testing.assert_allclose(x.grad_tensor.data, 4 * x.data)


def test_backward_create_graph_retains_the_graph_by_default_and_through_hooks_and_retain_grad():
    x = mg.tensor([0.5, -1.5], requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append(g) or g * 2)
    y = mg.sin(x)
    y.retain_grad()
    loss = (y**2).sum()
    loss.backward(create_graph=True)
    assert isinstance(seen[0], mg.Tensor)  # a hook sees the Tensor of the recorded walk
    np.testing.assert_allclose(x.grad, 2 * 2 * np.sin(x.data) * np.cos(x.data))
    np.testing.assert_allclose(y.grad, 2 * np.sin(x.data))
    assert y.grad_tensor.requires_grad
    loss.backward()  # retain_graph defaulted to create_graph: the graph can be walked again
    np.testing.assert_allclose(x.grad, 2 * 2 * 2 * np.sin(x.data) * np.cos(x.data))


def test_grad_idiom_with_create_graph_then_backward_matches_torch():
    torch = _torch()
    a = _rand(4, seed=3)
    x = mg.tensor(a, requires_grad=True)
    (g,) = mg.grad((mg.exp(x) * mg.sin(x)).sum(), x, create_graph=True)
    (g**2).sum().backward()
    tx = torch.tensor(a, requires_grad=True)
    (tg,) = torch.autograd.grad((torch.exp(tx) * torch.sin(tx)).sum(), tx, create_graph=True)
    (tg**2).sum().backward()
    _close(g, tg)
    _close(x.grad, tx.grad)


def test_backward_inputs_accumulates_only_into_them_as_torch():
    torch = _torch()
    a, b = _rand(3, seed=4), _rand(3, seed=5)
    x, w = mg.tensor(a, requires_grad=True), mg.tensor(b, requires_grad=True)
    unused = mg.tensor([1.0], requires_grad=True)
    h = x * w
    h.retain_grad()
    (mg.tanh(h) * w).sum().backward(inputs=[w, h, unused])
    tx, tw = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    tu = torch.tensor([1.0], requires_grad=True)
    th = tx * tw
    th.retain_grad()
    (torch.tanh(th) * tw).sum().backward(inputs=[tw, th, tu])
    assert x.grad is None and tx.grad is None
    assert unused.grad is None and tu.grad is None
    _close(w.grad, tw.grad)
    _close(h.grad, th.grad)
    with pytest.raises(RuntimeError, match="inputs\\[0\\] does not require grad"):
        (x * 2).sum().backward(inputs=[mg.tensor([1.0])])


def test_backward_inputs_with_create_graph():
    x = mg.tensor([1.0, 3.0], requires_grad=True)
    (x**3).sum().backward(inputs=x, create_graph=True)
    np.testing.assert_allclose(x.grad, 3 * x.data**2)
    (h,) = mg.grad(x.grad_tensor.sum(), x)
    np.testing.assert_allclose(h.data, 6 * x.data)


# -- several roots -----------------------------------------------------------------------------
def test_multi_root_backward_matches_torch():
    torch = _torch()
    a, b = _rand(2, 3, seed=6), _rand(3, seed=7)
    s1, s2 = _rand(2, seed=8), _rand(2, 3, seed=9)
    x, w = mg.tensor(a, requires_grad=True), mg.tensor(b, requires_grad=True)
    h = mg.tanh(x * w)
    y1, y2, y3 = h @ w, h * 2, (h**2).sum()  # y3 and y1 share h; y2 is h itself times 2
    mg.autograd.backward([y1, y2, y3], [s1, mg.tensor(s2), None])
    tx, tw = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    th = torch.tanh(tx * tw)
    torch.autograd.backward([th @ tw, th * 2, (th**2).sum()], [torch.tensor(s1), torch.tensor(s2), None])
    _close(x.grad, tx.grad)
    _close(w.grad, tw.grad)


def test_multi_root_where_one_root_is_computed_from_another_and_repeated_roots():
    x = mg.tensor([0.3, 0.7], requires_grad=True)
    y = x**2
    z = (y * 3).sum()
    mg.autograd.backward([y, z, z], [np.ones(2), None, None])
    np.testing.assert_allclose(x.grad, 2 * x.data + 2 * 3 * 2 * x.data)
    leaf = mg.tensor([2.0], requires_grad=True)  # a leaf as a root gets its seed
    mg.autograd.backward([leaf, leaf * 3], [np.array([1.0]), np.array([1.0])])
    np.testing.assert_allclose(leaf.grad, [4.0])


@SETTINGS
@given(st.integers(1, 4), st.integers(0, 2**31 - 1))
def test_multi_root_backward_is_the_sum_of_separate_backwards(n, seed):
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(n,))
    seeds = [rng.normal(size=(n,)) for _ in range(3)]

    def roots(x):
        h = mg.sin(x) * x
        return [h, mg.exp(h) - x, h * h]

    x = mg.tensor(data, requires_grad=True)
    mg.autograd.backward(roots(x), seeds)
    together = x.grad
    x = mg.tensor(data, requires_grad=True)
    for root, g in zip(roots(x), seeds):
        root.backward(g, retain_graph=True)
    np.testing.assert_allclose(together, x.grad, rtol=1e-12, atol=1e-12)


def test_multi_root_errors():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"\(tensor 1\).*not a single value"):
        mg.autograd.backward([x.sum(), x * 2])
    with pytest.raises(RuntimeError, match="tensor 1 does not require grad"):
        mg.autograd.backward([x.sum(), mg.tensor(1.0)])
    with pytest.raises(RuntimeError, match="got 1 grad_tensors for 2 tensors"):
        mg.autograd.backward([x.sum(), x.sum()], [None])
    with pytest.raises(RuntimeError, match="has shape \\(3,\\)"):
        mg.autograd.backward([x * 2], [np.ones(3)])
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.tensor(1.0).backward()
    (x * 2).backward([1.0, 3.0])  # Tensor.backward's grad is one gradient, even as a list
    np.testing.assert_allclose(x.grad, [2.0, 6.0])


def test_multi_root_create_graph_gives_second_order():
    torch = _torch()
    a = _rand(3, seed=10)
    x = mg.tensor(a, requires_grad=True)
    mg.autograd.backward([(x**3).sum(), mg.sin(x)], [None, np.ones(3)], create_graph=True)
    (x.grad_tensor * x).sum().backward()
    tx = torch.tensor(a, requires_grad=True)
    torch.autograd.backward([(tx**3).sum(), torch.sin(tx)], [None, torch.ones(3, dtype=torch.float64)],
                            create_graph=True)
    (tx.grad * tx).sum().backward()
    _close(x.grad, tx.grad)


# -- Functions with several outputs ----------------------------------------------------------------
class SinCos(mg.Function):
    """(sin x, cos x): two outputs, a backward that works on Tensors too."""

    differentiable_backward = True

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.sin(x), np.cos(x)

    @staticmethod
    def backward(ctx, grad_sin, grad_cos):
        (x,) = ctx.saved_tensors
        return grad_sin * np.cos(x) - grad_cos * np.sin(x)


class SinCosArrays(SinCos):
    """The same, with a backward that works on ndarrays only."""

    differentiable_backward = False


def _torch_sincos(torch):
    class TorchSinCos(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return torch.sin(x), torch.cos(x)

        @staticmethod
        def backward(ctx, grad_sin, grad_cos):
            (x,) = ctx.saved_tensors
            return grad_sin * torch.cos(x) - grad_cos * torch.sin(x)

    return TorchSinCos


def test_several_outputs_are_tensors_sharing_one_node():
    x = mg.tensor([0.1, 0.2], requires_grad=True)
    s, c = SinCos.apply(x)
    assert s.grad_fn is c.grad_fn and s.op == "SinCos" and s.requires_grad and c.requires_grad
    np.testing.assert_allclose(s.data, np.sin(x.data))
    np.testing.assert_allclose(c.data, np.cos(x.data))
    (single,) = SinCos.apply(x)[:1]
    assert isinstance(single, mg.Tensor)
    with mg.no_grad():
        s, c = SinCos.apply(x)
    assert not s.requires_grad and s.grad_fn is None


def test_several_outputs_against_finite_differences_and_torch():
    torch = _torch()
    a, ws, wc = _rand(2, 3, seed=11), _rand(2, 3, seed=12), _rand(2, 3, seed=13)

    def objective(x):
        s, c = SinCos.apply(x)
        return (s * ws + c * c * wc).sum()

    assert mg.gradcheck(objective, [mg.tensor(a, requires_grad=True)])
    x = mg.tensor(a, requires_grad=True)
    objective(x).backward()
    numeric = _finite_diff(lambda v: float((np.sin(v) * ws + np.cos(v) ** 2 * wc).sum()), a)
    np.testing.assert_allclose(x.grad, numeric, atol=1e-7)
    tx = torch.tensor(a, requires_grad=True)
    ts, tc = _torch_sincos(torch).apply(tx)
    (ts * torch.tensor(ws) + tc * tc * torch.tensor(wc)).sum().backward()
    _close(x.grad, tx.grad)


@pytest.mark.parametrize("function", [SinCos, SinCosArrays])
def test_only_one_output_used_gets_zeros_for_the_other(function):
    torch = _torch()
    a = _rand(3, seed=14)
    x = mg.tensor(a, requires_grad=True)
    received = []

    class Spy(function):
        @staticmethod
        def backward(ctx, grad_sin, grad_cos):
            received.append((grad_sin, grad_cos))
            return function.backward(ctx, grad_sin, grad_cos)

    _, c = Spy.apply(x)
    (c * 3).sum().backward()
    np.testing.assert_array_equal(received[0][0], np.zeros(3))
    tx = torch.tensor(a, requires_grad=True)
    (_torch_sincos(torch).apply(tx)[1] * 3).sum().backward()
    _close(x.grad, tx.grad)


def test_set_materialize_grads_false_gives_none_for_unused_outputs():
    received = []

    class Lazy(mg.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(False)
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, g2, g3):
            received.append((g2, g3))
            return (0 if g2 is None else 2 * g2) + (0 if g3 is None else 3 * g3)

    x = mg.tensor([1.0, 2.0], requires_grad=True)
    two, _ = Lazy.apply(x)
    two.sum().backward()
    assert received[0][1] is None
    np.testing.assert_allclose(x.grad, [2.0, 2.0])


def test_several_outputs_second_order_vs_torch_and_gradgrad_finite_differences():
    torch = _torch()
    a = _rand(4, seed=15)

    def first(v):  # d/dx of sum(sin^2 x + cos x) = 2 sin cos - sin
        return 2 * np.sin(v) * np.cos(v) - np.sin(v)

    x = mg.tensor(a, requires_grad=True)
    s, c = SinCos.apply(x)
    (g,) = mg.grad((s**2 + c).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.data, first(a))
    (h,) = mg.grad((g * g).sum(), x)
    numeric = _finite_diff(lambda v: float((first(v) ** 2).sum()), a)
    np.testing.assert_allclose(h.data, numeric, atol=1e-6)
    tx = torch.tensor(a, requires_grad=True)
    ts, tc = _torch_sincos(torch).apply(tx)
    (tg,) = torch.autograd.grad((ts**2 + tc).sum(), tx, create_graph=True)
    (th,) = torch.autograd.grad((tg * tg).sum(), tx)
    _close(h, th)


def test_several_outputs_with_an_ndarray_backward_cannot_be_differentiated_twice():
    x = mg.tensor([0.5], requires_grad=True)
    s, c = SinCosArrays.apply(x)
    (g,) = mg.grad((s + c).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.data, np.cos(0.5) - np.sin(0.5))
    with pytest.raises(RuntimeError, match=r"SinCosArrays\.backward works on ndarrays"):
        mg.grad(g.sum(), x)


def test_several_outputs_hooks_retain_grad_and_grad_of_an_output():
    x = mg.tensor([0.4, 0.9], requires_grad=True)
    s, c = SinCos.apply(x)
    c.register_hook(lambda g: g * 10)
    s.retain_grad()
    (s * 2 + c).sum().backward(retain_graph=True)
    np.testing.assert_allclose(s.grad, [2.0, 2.0])
    np.testing.assert_allclose(x.grad, 2 * np.cos(x.data) - 10 * np.sin(x.data))
    total = (s * 2 + c * c).sum()
    grads = mg.grad(total, [c, x])  # an output and the input below it
    np.testing.assert_allclose(grads[0].data, 2 * c.data * 10)
    np.testing.assert_allclose(grads[1].data, 2 * np.cos(x.data) - 20 * c.data * np.sin(x.data))


def test_several_outputs_release_and_anomaly():
    x = mg.tensor([0.4], requires_grad=True)
    s, c = SinCos.apply(x)
    loss = (s + c).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss.backward()

    class NanSecond(mg.Function):
        @staticmethod
        def forward(ctx, x):
            return x, np.log(x - 10)

        @staticmethod
        def backward(ctx, a, b):
            return a

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(FloatingPointError, match="NanSecond produced nan in its forward"), mg.detect_anomaly():
            NanSecond.apply(x)


def test_several_outputs_backward_must_return_one_grad_per_input():
    class Wrong(mg.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x + y, x - y

        @staticmethod
        def backward(ctx, a, b):
            return a + b

    x, y = mg.tensor([1.0], requires_grad=True), mg.tensor([2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Wrong\.backward returned 1 gradient"):
        sum(Wrong.apply(x, y)).sum().backward()


def test_several_outputs_under_compile_run_eagerly_with_the_reason():
    w = mg.tensor([0.5, 1.0], requires_grad=True)
    opt = mg.optim.SGD([w], lr=0.1)

    def step(x):
        opt.zero_grad()
        s, c = SinCos.apply(w * x)
        loss = (s * c).sum()
        loss.backward()
        opt.step()
        return loss

    w_eager = mg.tensor([0.5, 1.0], requires_grad=True)
    opt_eager = mg.optim.SGD([w_eager], lr=0.1)
    compiled = mg.compile(step)
    with pytest.warns(UserWarning, match="SinCos, a Function with several outputs"):
        first = compiled(mg.tensor([1.0, 2.0]))
    second = compiled(mg.tensor([1.0, 2.0]))
    for expected in range(2):
        opt_eager.zero_grad()
        s, c = SinCos.apply(w_eager * mg.tensor([1.0, 2.0]))
        loss = (s * c).sum()
        loss.backward()
        opt_eager.step()
        assert loss.item() == (first, second)[expected].item()
    np.testing.assert_array_equal(w.data, w_eager.data)


def test_several_outputs_drawn_as_one_operation():
    pytest.importorskip("graphviz")
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    s, c = SinCos.apply(x)
    source = mg.viz.draw_graph((s * c).sum(), order=True).source
    assert source.count("SinCos") == 1
    # x->SinCos, SinCos->s, SinCos->c, s->mul, c->mul, mul->product, product->sum, sum->output
    assert source.count("->") == 8
    plain = mg.viz.draw_graph((s * c).sum(), show=("shape",)).source
    assert plain.count("->") == 5  # values linked directly: x->s, x->c, s->product, c->product, product->output


# -- mark_non_differentiable --------------------------------------------------------------------
class Sort(mg.Function):
    """Sorted values and the indices that sort them (the indices have no gradient)."""

    @staticmethod
    def forward(ctx, x):
        indices = np.argsort(x, axis=-1, kind="stable")
        ctx.indices = indices
        ctx.mark_non_differentiable(indices)
        return np.take_along_axis(x, indices, -1), indices

    @staticmethod
    def backward(ctx, grad_values, grad_indices):
        assert not np.any(grad_indices)  # zeros, as PyTorch gives
        grad = np.zeros(grad_values.shape, grad_values.dtype)
        np.put_along_axis(grad, ctx.indices, grad_values, -1)
        return grad


class SortMarked(mg.Function):
    """Float 'indices' marked non-differentiable explicitly."""

    @staticmethod
    def forward(ctx, x):
        order = np.argsort(x, axis=-1, kind="stable")
        ctx.perm = order
        ranks = order.astype(x.dtype)
        ctx.mark_non_differentiable(ranks)
        return np.take_along_axis(x, order, -1), ranks

    @staticmethod
    def backward(ctx, grad_values, grad_ranks):
        grad = np.zeros(grad_values.shape, grad_values.dtype)
        np.put_along_axis(grad, ctx.perm, grad_values, -1)
        return grad


@pytest.mark.parametrize("function", [Sort, SortMarked])
def test_sort_with_non_differentiable_indices_vs_torch(function):
    torch = _torch()
    a, weights = _rand(3, 5, seed=16), _rand(3, 5, seed=17)
    x = mg.tensor(a, requires_grad=True)
    values, indices = function.apply(x)
    assert values.requires_grad and not indices.requires_grad and indices.grad_fn is None
    (values * weights).sum().backward()
    tx = torch.tensor(a, requires_grad=True)
    tvalues, tindices = torch.sort(tx, dim=-1, stable=True)
    (tvalues * torch.tensor(weights)).sum().backward()
    _close(values, tvalues)
    np.testing.assert_array_equal(indices.data, tindices.numpy())
    _close(x.grad, tx.grad)
    assert mg.gradcheck(lambda t: function.apply(t)[0] * weights, [mg.tensor(a, requires_grad=True)])
    with pytest.raises(RuntimeError, match="does not require grad"):
        indices.sum().backward()


def test_single_output_marked_non_differentiable_has_no_graph():
    class ArgMax(mg.Function):
        @staticmethod
        def forward(ctx, x):
            out = np.argmax(x, axis=-1).astype(x.dtype)
            ctx.mark_non_differentiable(out)
            return out

    out = ArgMax.apply(mg.tensor([[1.0, 3.0, 2.0]], requires_grad=True))
    assert not out.requires_grad and out.grad_fn is None
    np.testing.assert_array_equal(out.data, [1.0])


# -- mg.autograd.functional ---------------------------------------------------------------------
def _functions(lib):
    tanh, exp, sin = lib.tanh, lib.exp, lib.sin
    return {
        "vector": (lambda x: tanh(x) * x.sum(), (3,)),
        "matrix_scalar": (lambda x: (exp(x) * sin(x)).sum(), (2, 2)),
        "two_inputs": (lambda x, w: tanh(w @ x), ((3,), (2, 3))),
        "two_outputs": (lambda x, w: (sin(w @ x), (x * x).sum() * w), ((3,), (2, 3))),
        "unused_input": (lambda x, y: x**2, ((2,), (3,))),
    }


def _inputs(shapes, seed, lib_tensor):
    if isinstance(shapes[0], tuple):
        return tuple(lib_tensor(_rand(*s, seed=seed + i)) for i, s in enumerate(shapes))
    return lib_tensor(_rand(*shapes, seed=seed))


def _compare(ours, theirs, atol=1e-10):
    if isinstance(theirs, tuple):
        assert isinstance(ours, tuple) and len(ours) == len(theirs)
        for o, t in zip(ours, theirs):
            _compare(o, t, atol)
    else:
        assert isinstance(ours, mg.Tensor)
        _close(ours, theirs, atol)


@pytest.mark.parametrize("name", ["vector", "matrix_scalar", "two_inputs", "two_outputs", "unused_input"])
def test_jacobian_vjp_jvp_match_torch(name):
    torch = _torch()
    import torch.autograd.functional as TF

    f, shapes = _functions(mg)[name]
    tf, _ = _functions(torch)[name]
    xs = _inputs(shapes, 20, mg.tensor)
    txs = _inputs(shapes, 20, torch.tensor)
    jac = F.jacobian(f, xs)
    _compare(jac, TF.jacobian(tf, txs))
    assert not any(t.requires_grad for t in (jac if isinstance(jac, tuple) else (jac,)) if isinstance(t, mg.Tensor))

    out = f(*xs) if isinstance(xs, tuple) else f(xs)
    outs = out if isinstance(out, tuple) else (out,)
    vs = tuple(_rand(*o.shape, seed=30 + i) for i, o in enumerate(outs))
    v = vs if isinstance(out, tuple) else vs[0]
    tv = tuple(torch.tensor(q) for q in vs) if isinstance(out, tuple) else torch.tensor(vs[0])
    (value, product), (tvalue, tproduct) = F.vjp(f, xs, v), TF.vjp(tf, txs, tv)
    _compare(value, tvalue)
    _compare(product, tproduct)

    ins = xs if isinstance(xs, tuple) else (xs,)
    us = tuple(_rand(*x.shape, seed=40 + i) for i, x in enumerate(ins))
    u = us if isinstance(xs, tuple) else us[0]
    tu = tuple(torch.tensor(q) for q in us) if isinstance(xs, tuple) else torch.tensor(us[0])
    (value, product), (tvalue, tproduct) = F.jvp(f, xs, u), TF.jvp(tf, txs, tu)
    _compare(value, tvalue)
    _compare(product, tproduct)


@pytest.mark.parametrize("name", ["matrix_scalar", "two_inputs_scalar"])
def test_hessian_hvp_vhp_match_torch(name):
    torch = _torch()
    import torch.autograd.functional as TF

    if name == "matrix_scalar":
        f, shapes = _functions(mg)[name]
        tf, _ = _functions(torch)[name]
    else:
        f, tf, shapes = ((lambda x, w: (mg.tanh(w @ x) ** 2).sum() * x.sum()),
                         (lambda x, w: (torch.tanh(w @ x) ** 2).sum() * x.sum()), ((3,), (2, 3)))
    xs, txs = _inputs(shapes, 50, mg.tensor), _inputs(shapes, 50, torch.tensor)
    _compare(F.hessian(f, xs), TF.hessian(tf, txs))
    ins = xs if isinstance(xs, tuple) else (xs,)
    us = tuple(_rand(*x.shape, seed=60 + i) for i, x in enumerate(ins))
    u = us if isinstance(xs, tuple) else us[0]
    tu = tuple(torch.tensor(q) for q in us) if isinstance(xs, tuple) else torch.tensor(us[0])
    for ours, theirs in ((F.hvp, TF.hvp), (F.vhp, TF.vhp)):
        (value, product), (tvalue, tproduct) = ours(f, xs, u), theirs(tf, txs, tu)
        _compare(value, tvalue)
        _compare(product, tproduct)


def test_hessian_against_finite_differences_of_the_gradient():
    a = _rand(3, seed=70)

    def grad_of(v):
        return np.cos(v) * np.exp(v.sum()) + np.sin(v).sum() * np.exp(v.sum())

    hess = F.hessian(lambda x: (mg.sin(x).sum() * mg.exp(x.sum())), mg.tensor(a))
    numeric = np.stack([_finite_diff(lambda v, i=i: grad_of(v)[i], a) for i in range(3)])
    np.testing.assert_allclose(hess.data, numeric, atol=1e-6)


def test_functional_create_graph_reaches_the_original_inputs_as_torch():
    torch = _torch()
    import torch.autograd.functional as TF

    a = _rand(3, seed=80)
    x = mg.tensor(a, requires_grad=True)
    jac = F.jacobian(lambda t: mg.sin(t) * t.sum(), x, create_graph=True)
    assert jac.requires_grad
    (jac**2).sum().backward()
    tx = torch.tensor(a, requires_grad=True)
    tjac = TF.jacobian(lambda t: torch.sin(t) * t.sum(), tx, create_graph=True)
    (tjac**2).sum().backward()
    _close(jac, tjac)
    _close(x.grad, tx.grad)

    x.grad, tx.grad = None, None
    _, product = F.jvp(lambda t: mg.exp(t) * t, x, np.ones(3), create_graph=True)
    product.sum().backward()
    _, tproduct = TF.jvp(lambda t: torch.exp(t) * t, tx, torch.ones(3, dtype=torch.float64), create_graph=True)
    tproduct.sum().backward()
    _close(x.grad, tx.grad)


def test_functional_errors():
    x = mg.tensor([1.0, 2.0])
    with pytest.raises(RuntimeError, match="v can be None only"):
        F.vjp(lambda t: t * 2, x)
    with pytest.raises(RuntimeError, match="v\\[0\\] has shape \\(3,\\)"):
        F.jvp(lambda t: t * 2, x, np.ones(3))
    with pytest.raises(RuntimeError, match="single element"):
        F.hessian(lambda t: t * 2, x)
    with pytest.raises(TypeError, match="inputs\\[1\\] must be a Tensor"):
        F.jacobian(lambda a, b: a, (x, np.ones(2)))
    value, product = F.vjp(lambda t: (t**2).sum(), x)
    np.testing.assert_allclose(product.data, [2.0, 4.0])
    assert not value.requires_grad and not x.requires_grad  # the inputs are left as they were
    assert mg.autograd.functional is F


@SETTINGS
@given(st.integers(1, 3), st.integers(1, 3), st.integers(0, 2**31 - 1))
def test_jacobian_of_a_linear_map_is_its_matrix_and_jvp_vjp_agree_with_it(m, n, seed):
    rng = np.random.default_rng(seed)
    matrix, bias, u, v = rng.normal(size=(m, n)), rng.normal(size=(m,)), rng.normal(size=n), rng.normal(size=m)
    point = mg.tensor(rng.normal(size=n))

    def f(x):
        return mg.tanh(mg.tensor(matrix) @ x + bias)

    jac = F.jacobian(f, point).data
    expected = (1 - np.tanh(matrix @ point.data + bias) ** 2)[:, None] * matrix
    np.testing.assert_allclose(jac, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(F.jvp(f, point, u)[1].data, jac @ u, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(F.vjp(f, point, v)[1].data, v @ jac, rtol=1e-9, atol=1e-12)


def test_reading_the_grad_of_a_non_leaf_warns_as_pytorch():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.sum().backward()
    with pytest.warns(UserWarning, match="not a leaf tensor.*retain_grad"):
        assert y.grad is None
    kept = x * 3
    kept.retain_grad()
    kept.sum().backward()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a leaf, or a non-leaf that retains its gradient: no warning
        np.testing.assert_array_equal(kept.grad, [1.0, 1.0])
        np.testing.assert_array_equal(x.grad, [5.0, 5.0])
        assert mg.tensor([1.0]).grad is None
    torch = pytest.importorskip("torch")
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    ty = tx * 2
    ty.sum().backward()
    with pytest.warns(UserWarning):
        assert ty.grad is None


# == set_detect_anomaly and check_nan, as torch.autograd ==========================================
def test_set_detect_anomaly_switches_at_once_or_for_a_block():
    x = mg.tensor([0.0, 1.0], requires_grad=True)
    mg.set_detect_anomaly(True)
    try:
        assert mg.is_anomaly_enabled()
        with pytest.raises(FloatingPointError, match="nan"), np.errstate(all="ignore"):
            (x / x).sum()
        with mg.set_detect_anomaly(False):
            assert not mg.is_anomaly_enabled()
        assert mg.is_anomaly_enabled()
    finally:
        mg.set_detect_anomaly(False)
    assert not mg.is_anomaly_enabled()
    with mg.set_detect_anomaly(True):
        assert mg.is_anomaly_enabled()
    assert not mg.is_anomaly_enabled()


def test_set_detect_anomaly_as_a_decorator_applies_to_calls():
    @mg.set_detect_anomaly(True)
    def inside():
        return mg.is_anomaly_enabled()

    assert not mg.is_anomaly_enabled()
    assert inside() and not mg.is_anomaly_enabled()


def test_anomaly_mode_without_check_nan_lets_nan_through_as_torch(torch):
    x, xt = mg.tensor([0.0, 1.0], requires_grad=True), torch.tensor([0.0, 1.0], requires_grad=True)
    with np.errstate(all="ignore"), mg.autograd.detect_anomaly(check_nan=False):
        assert mg.is_anomaly_enabled() and not mg.is_anomaly_check_nan_enabled()
        (x / x).sum().backward()
    with torch.autograd.detect_anomaly(check_nan=False):
        (xt / xt).sum().backward()
    np.testing.assert_array_equal(x.grad, xt.grad.numpy())  # nan where torch has nan
    assert mg.is_anomaly_check_nan_enabled()


def test_anomaly_mode_switched_on_in_another_thread_is_not_seen_here():
    import threading

    seen = []

    def other():
        mg.set_detect_anomaly(True)
        seen.append(mg.is_anomaly_enabled())
        mg.set_detect_anomaly(False)

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert seen == [True] and not mg.is_anomaly_enabled()


def test_a_compiled_step_runs_eagerly_under_set_detect_anomaly():
    x = mg.tensor([1.0, 2.0], requires_grad=True)

    @mg.compile
    def step(scale):
        loss = (mg.log(x * scale)).sum()
        loss.backward()
        return loss.detach()

    step(mg.tensor(1.0))
    step(mg.tensor(1.0))  # replayed: a replay checks nothing
    mg.set_detect_anomaly(True)
    try:
        with pytest.raises(FloatingPointError, match="log"), np.errstate(all="ignore"):
            step(mg.tensor(-1.0))
    finally:
        mg.set_detect_anomaly(False)
    with np.errstate(all="ignore"):
        assert np.isnan(step(mg.tensor(-1.0)).item())


# == grad_fn.next_functions, as PyTorch's graph-drawing code walks it ============================
def _walk(grad_fn):
    """(depth, kind, output index) of every edge from ``grad_fn``, depth first."""
    edges, stack = [], [(grad_fn, 0)]
    while stack:
        node, depth = stack.pop()
        for following, index in reversed(node.next_functions):
            kind = None if following is None else "leaf" if hasattr(following, "variable") else "node"
            edges.append((depth, kind, index))
            if following is not None:
                stack.append((following, depth + 1))
    return edges


def test_next_functions_walk_the_graph_as_torchs(torch):
    def build(lib, x, c):
        a, b = (x * c)[:1], (x * c)[1:]
        return (a * 2 + b.exp() * x[:1] + (x @ c)).sum()

    x = mg.tensor([1.0, 2.0], requires_grad=True)
    xt = torch.tensor([1.0, 2.0], requires_grad=True)
    ours = build(mg, x, mg.tensor([3.0, 4.0]))
    theirs = build(torch, xt, torch.tensor([3.0, 4.0]))
    assert _walk(ours.grad_fn) == _walk(theirs.grad_fn)


def test_next_functions_end_at_one_accumulate_grad_per_leaf():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x * mg.tensor([3.0, 4.0]) + x
    (mul, _), (leaf, index) = y.grad_fn.next_functions
    assert index == 0 and leaf.variable is x and leaf.next_functions == ()
    (same, _), (constant, _) = mul.next_functions
    assert same is leaf and constant is None
    assert mg.tensor([1.0]).grad_fn is None


def test_next_functions_name_the_output_of_a_node_with_several():
    class Halves(mg.Function):
        @staticmethod
        def forward(ctx, x):
            return x[:1] * 1.0, x[1:] * 1.0

        @staticmethod
        def backward(ctx, first, second):
            return np.concatenate([first, second])

    x = mg.tensor([1.0, 2.0], requires_grad=True)
    a, b = Halves.apply(x)
    (node_b, index_b), (node_a, index_a) = (b * a).grad_fn.next_functions
    assert node_a is node_b is a.grad_fn and (index_a, index_b) == (0, 1)


def test_which_inputs_get_a_gradient_is_fixed_when_the_operation_is_recorded(torch):
    results = []
    for lib in (mg, torch):
        x = lib.tensor([[1.0, 2.0]], dtype=lib.float64)
        w1 = lib.tensor([[0.5, -1.0], [2.0, 1.0]], dtype=lib.float64, requires_grad=True)
        w2 = lib.tensor([[1.5], [-0.5]], dtype=lib.float64)  # frozen during the forward pass
        h = (x @ w1).tanh() @ w2
        w2.requires_grad_(True)  # unfrozen before backward: this graph has no edge to it
        h.sum().backward()
        results.append((np.asarray(w1.grad), w2.grad))
    (ours_w1, ours_w2), (theirs_w1, theirs_w2) = results
    np.testing.assert_allclose(ours_w1, theirs_w1, rtol=1e-12)
    assert ours_w2 is None and theirs_w2 is None


def test_retained_gradients_are_filled_by_mg_grad_and_by_backward_with_inputs_as_torch():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.retain_grad()
    mg.grad((y * y).sum(), [x])
    np.testing.assert_array_equal(y.grad, [4.0, 8.0])
    assert x.grad is None
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.retain_grad()
    (y * y + x * 3).sum().backward(inputs=[x, y])  # (y asked for and retained: added once)
    np.testing.assert_array_equal(y.grad, [4.0, 8.0])
    np.testing.assert_array_equal(x.grad, [11.0, 19.0])
