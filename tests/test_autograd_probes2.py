"""Autograd under adversarial use (in-place writes, views, hooks, higher order), checked
against PyTorch where it is installed and against hand-derived values otherwise."""

from __future__ import annotations

import numpy as np
import pytest

import microgradnp as mg


@pytest.fixture
def torch():
    torch = pytest.importorskip("torch")
    return torch


def _t(torch, values, requires_grad=True):
    return torch.tensor(np.array(values, dtype=np.float64), requires_grad=requires_grad)


def _m(values, requires_grad=True):
    return mg.tensor(np.array(values, dtype=np.float64), requires_grad=requires_grad)


# -- t[i] with an int per axis is a 0-d view, as PyTorch's: in-place changes write through ----


def test_in_place_change_of_a_single_element_writes_through_into_the_tensor():
    t = mg.zeros(3)
    t[0].add_(1)
    t[-1] += 5
    m = mg.zeros(2, 3)
    m[1, 2].fill_(7)
    m[0][1].mul_(0).add_(4)
    np.testing.assert_array_equal(t.data, [1, 0, 5])
    np.testing.assert_array_equal(m.data, [[0, 4, 0], [0, 0, 7]])


def test_single_element_update_of_a_parameter_under_no_grad_reaches_the_parameter():
    x = _m([1.0, 2.0])
    with mg.no_grad():
        x[0].mul_(5)
        x[1] -= 0.5
    np.testing.assert_array_equal(x.data, [5.0, 1.5])
    assert x.requires_grad and x.is_leaf


def test_in_place_on_a_single_element_of_a_leaf_that_requires_grad_raises():
    x = _m([1.0, 2.0])
    with pytest.raises(RuntimeError, match="view of a leaf tensor that requires grad"):
        x[0].mul_(2)
    np.testing.assert_array_equal(x.data, [1.0, 2.0])


def test_in_place_on_a_single_element_of_a_held_intermediate_is_recorded_in_it_as_torch(torch):
    tx = _t(torch, [1.0, 2.0])
    ty = tx * 2
    ty[0].mul_(3)
    (ty * ty).sum().backward()

    x = _m([1.0, 2.0])
    y = x * 2
    y[0].mul_(3)
    (y * y).sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy())  # (a silent copy would give 8, not 72)
    np.testing.assert_array_equal(y.data, ty.detach().numpy())


def test_a_saved_single_element_sees_a_later_write_into_its_tensor(torch):
    def run(lib, x):
        y = x * 2
        s = y[1]
        z = s * s
        with lib.no_grad():
            y.mul_(3)
        z.backward()

    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        run(torch, _t(torch, [1.0, 2.0, 3.0]))
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        run(mg, _m([1.0, 2.0, 3.0]))


def test_single_element_indexing_keeps_gradients_and_dtype():
    x = mg.tensor(np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32), requires_grad=True)
    s = x[1, 0]
    assert s.shape == () and s.dtype == np.float32
    (s * s + x[0, 1]).backward()
    np.testing.assert_array_equal(x.grad, [[0, 1], [6, 0]])
    g, = mg.grad(x[1, 1] ** 3, x, create_graph=True)
    h, = mg.grad(g.sum(), x)
    np.testing.assert_allclose(h.data, [[0, 0], [0, 24]])


# -- second order through in-place operations whose backward uses their output ---------------


@pytest.mark.parametrize("method", ["exp_", "sigmoid_", "tanh_", "sqrt_", "reciprocal_"])
def test_second_order_gradient_through_an_in_place_op_that_saves_its_output(torch, method):
    values, weights = [0.3, 1.2, 2.0, 0.7], [1.5, 0.5, 2.0, 1.0]

    def run(lib, leaf):
        x, w = leaf(values), leaf(weights)
        y = x * w
        getattr(y, method)()
        out = (y * y * y).sum()
        gx, gw = lib.autograd.grad(out, [x, w], create_graph=True)
        hx, hw = lib.autograd.grad((gx * gx).sum() + gw.sum(), [x, w])
        return [np.asarray(v.detach().numpy() if hasattr(v, "detach") and lib is torch else v.data)
                for v in (y, gx, gw, hx, hw)]

    expected = run(torch, lambda v: _t(torch, v))
    got = run(mg, _m)
    for e, g in zip(expected, got):
        np.testing.assert_allclose(g, e, rtol=1e-10)


def test_second_order_through_exp_in_place_by_hand():
    # y = exp(x) in place; f = sum(y^2) = sum(exp(2x)); df = 2 exp(2x); d(sum df^2) = 16 exp(4x)
    x = _m([0.1, -0.4])
    y = x * 1
    y.exp_()
    g, = mg.grad((y * y).sum(), x, create_graph=True)
    h, = mg.grad((g * g).sum(), x)
    np.testing.assert_allclose(g.data, 2 * np.exp(2 * x.data))
    np.testing.assert_allclose(h.data, 16 * np.exp(4 * x.data))


def test_backward_create_graph_through_an_in_place_exp(torch):
    tx = _t(torch, [0.3, -1.2])
    ty = tx * 1
    ty.exp_()
    (ty ** 2).sum().backward(create_graph=True)
    th, = torch.autograd.grad(tx.grad.sum(), tx)

    x = _m([0.3, -1.2])
    y = x * 1
    y.exp_()
    (y ** 2).sum().backward(create_graph=True)
    h, = mg.grad(x.grad_tensor.sum(), x)
    np.testing.assert_allclose(x.grad, tx.grad.detach().numpy())
    np.testing.assert_allclose(h.data, th.numpy())


# -- retain_grad --------------------------------------------------------------------------------


def test_retain_grad_on_a_tensor_that_does_not_require_grad_raises(torch):
    with pytest.raises(RuntimeError, match="retain_grad"):
        torch.ones(2).retain_grad()
    with pytest.raises(RuntimeError, match="requires_grad=False"):
        mg.ones(2).retain_grad()
    x = _m([1.0, 2.0])
    with mg.no_grad():
        y = x * 2
    with pytest.raises(RuntimeError, match="requires_grad=False"):
        y.retain_grad()
    assert x.retain_grad() is x  # a leaf that requires grad: nothing to do


# -- .grad and .grad_tensor after backward(create_graph=True) -----------------------------------


def test_create_graph_backward_on_top_of_a_plain_one_accumulates_once(torch):
    tx = _t(torch, [1.0, 2.0])
    (tx ** 2).sum().backward()
    (tx ** 3).sum().backward(create_graph=True)
    (th,) = torch.autograd.grad(tx.grad.sum(), tx)

    x = _m([1.0, 2.0])
    (x ** 2).sum().backward()
    (x ** 3).sum().backward(create_graph=True)
    np.testing.assert_allclose(x.grad, [5.0, 16.0])  # 2x + 3x^2
    np.testing.assert_allclose(x.grad_tensor.data, tx.grad.detach().numpy())  # (was 2x counted twice: 8, 28)
    (h,) = mg.grad(x.grad_tensor.sum(), x)
    np.testing.assert_allclose(h.data, th.numpy())


def test_create_graph_backward_on_top_of_an_assigned_grad():
    x = _m([1.0, 2.0])
    x.grad = np.array([10.0, 20.0])
    (x ** 3).sum().backward(create_graph=True)
    np.testing.assert_allclose(x.grad, [13.0, 32.0])
    np.testing.assert_allclose(x.grad_tensor.data, [13.0, 32.0])


def test_grad_tensor_shows_an_in_place_change_of_grad_and_keeps_its_graph(torch):
    tx = _t(torch, [1.0, 2.0])
    (tx ** 3).sum().backward(create_graph=True)
    with torch.no_grad():
        tx.grad.mul_(0.5)
    (th,) = torch.autograd.grad(tx.grad.sum(), tx)

    x = _m([1.0, 2.0])
    (x ** 3).sum().backward(create_graph=True)
    x.grad *= 0.5
    gx = x.grad_tensor
    np.testing.assert_allclose(gx.data, tx.grad.detach().numpy())  # the values .grad has (was 3x^2)
    np.testing.assert_allclose(gx.data, x.grad)
    (h,) = mg.grad(gx.sum(), x)
    np.testing.assert_allclose(h.data, th.numpy())  # the graph of the gradient before the change: 6x


# -- views after a value that requires grad was written into a plain tensor ----------------------


def test_a_detached_view_after_a_recorded_write_is_a_constant_not_a_stale_view(torch):
    tx = _t(torch, [1.0, 2.0, 3.0])
    tbuf = torch.zeros(3)
    tbuf[0] = tx[0] * 2
    expected = (tbuf[1:].detach() * 1).numpy()

    x = _m([1.0, 2.0, 3.0])
    buf = mg.zeros(3)
    buf[0] = x[0] * 2
    np.testing.assert_array_equal((buf[1:].detach() * 1).data, expected)
    np.testing.assert_array_equal((mg.from_numpy(buf.detach().numpy()[1:]) * 1).data, expected)


def test_a_view_taken_before_a_recorded_write_still_raises_but_its_detach_does_not():
    x = _m([1.0, 2.0, 3.0])
    buf = mg.zeros(3)
    v = buf[0:2]
    buf[0] = x[0] * 2
    with pytest.raises(RuntimeError, match="view taken before"):
        v * 1
    np.testing.assert_array_equal((v.detach() * 1).data, [2.0, 0.0])  # the values now, outside the graph


# -- saved_tensors_hooks: second order, and hooks whose pack runs operations -------------------------


_PACKS = {
    "clone": lambda lib: (lambda t: t.clone(), lambda t: t),
    "detach_clone": lambda lib: (lambda t: t.detach().clone(), lambda t: t),
    "through_numpy": lambda lib: (lambda t: t.detach().numpy().copy(), lambda a: lib.from_numpy(a)),
}


@pytest.mark.parametrize("pack", sorted(_PACKS))
@pytest.mark.parametrize("function", ["relu_times_x", "abs_times_x", "cube", "exp_times_x", "exp_in_place"])
def test_second_order_gradient_with_saved_tensors_hooks_that_copy(torch, pack, function):
    def f(x):
        if function == "relu_times_x":
            return (x.relu() * x).sum()
        if function == "abs_times_x":
            return (x.abs() * x).sum()
        if function == "cube":
            return (x * x * x).sum()
        if function == "exp_times_x":
            return (x.exp() * x).sum()
        y = x * 1
        y.exp_()
        return (y * y).sum()

    def run(lib, x):
        with lib.autograd.graph.saved_tensors_hooks(*_PACKS[pack](lib)):
            (g,) = lib.autograd.grad(f(x), x, create_graph=True)
        (h,) = lib.autograd.grad((g * g).sum(), x)
        return g, h

    tg, th = run(torch, _t(torch, [0.3, -1.2, 2.0]))
    g, h = run(mg, _m([0.3, -1.2, 2.0]))
    np.testing.assert_allclose(g.data, tg.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(h.data, th.numpy(), rtol=1e-12)  # (was 0, or "does not require grad")


def test_a_pack_hook_that_runs_operations_is_called_once_per_saved_array(torch):
    def run(lib):
        calls = []

        def pack(t):
            calls.append(1)
            return t.exp()  # exp saves its output: packing it too would call pack again, without end

        x = lib.tensor(np.array([1.0, 2.0]), requires_grad=True)
        with lib.autograd.graph.saved_tensors_hooks(pack, lambda t: t.log()):
            z = x.sin().sum()
        z.backward()
        return len(calls), np.asarray(x.grad)

    t_calls, t_grad = run(torch)
    calls, grad = run(mg)
    assert calls == t_calls == 1
    np.testing.assert_allclose(grad, t_grad)


# -- dtypes: a float32 leaf that meets float64 constants -----------------------------------------------


def test_grad_tensor_of_a_float32_leaf_is_float32_after_create_graph(torch):
    tx = torch.tensor([1.0, 2.0], dtype=torch.float32, requires_grad=True)
    (tx * tx * torch.tensor([3.0, 4.0], dtype=torch.float64)).sum().backward(create_graph=True)

    x = mg.tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    (x * x * mg.tensor(np.array([3.0, 4.0]))).sum().backward(create_graph=True)
    assert x.grad.dtype == x.grad_tensor.dtype == np.float32  # (.grad_tensor was float64)
    np.testing.assert_allclose(x.grad_tensor.data, tx.grad.detach().numpy())
    (h,) = mg.grad(x.grad_tensor.sum(), x)
    np.testing.assert_allclose(h.data, [6.0, 8.0])


def test_a_hook_sees_the_gradient_in_its_tensors_dtype(torch):
    def run(lib, f32, f64):
        seen = []
        x = lib.tensor(np.array([1.0, 2.0], dtype=np.float32), dtype=f32, requires_grad=True)
        y = x * 2
        x.register_hook(lambda g: seen.append(str(g.dtype).replace("torch.", "")))
        y.register_hook(lambda g: seen.append(str(g.dtype).replace("torch.", "")))
        (y * lib.tensor(np.array([3.0, 4.0]), dtype=f64)).sum().backward()
        return seen, np.asarray(x.grad)

    t_seen, t_grad = run(torch, torch.float32, torch.float64)
    seen, grad = run(mg, np.float32, np.float64)
    assert seen == t_seen == ["float32", "float32"]
    np.testing.assert_allclose(grad, t_grad)
