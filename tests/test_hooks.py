"""Hooks and mg.grad as in PyTorch; gradients of the wrong shape or dtype raise."""

from __future__ import annotations

import numpy as np
import pytest

import microgradnp as mg


def test_leaf_hook_runs_once_on_the_total_gradient():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    calls = []

    def clip(g):
        calls.append(g.copy())
        return np.minimum(g, 1.0)

    x.register_hook(clip)
    (x * 2 + x * 3).sum().backward()
    assert len(calls) == 1
    np.testing.assert_array_equal(calls[0], [5.0, 5.0])
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])


def test_leaf_hook_matches_pytorch():
    torch = pytest.importorskip("torch")
    xt = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    xt.register_hook(lambda g: g.clamp(max=1.0))
    (xt * 2 + xt * 3 + xt**2).sum().backward()
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: np.minimum(g, 1.0))
    (x * 2 + x * 3 + x**2).sum().backward()
    np.testing.assert_array_equal(x.grad, xt.grad.numpy())


def test_leaf_hook_sees_only_this_backward_gradient_and_accumulates_after():
    x = mg.tensor([1.0], requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append(g.copy()))
    (x * 2).sum().backward()
    (x * 3).sum().backward()
    assert [s.tolist() for s in seen] == [[2.0], [3.0]]
    np.testing.assert_array_equal(x.grad, [5.0])


def test_mg_grad_runs_only_hooks_on_paths_to_its_inputs_and_stops_there():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    w = mg.tensor([3.0, 4.0], requires_grad=True)
    calls = []
    x.register_hook(lambda g: calls.append("x"))
    w.register_hook(lambda g: calls.append("w"))
    h = x * 2
    h.register_hook(lambda g: calls.append("h"))
    y = h * h + w
    (gh,) = mg.grad(y.sum(), h, retain_graph=True)
    np.testing.assert_array_equal(gh.data, 2 * h.data)
    assert calls == ["h"]
    assert x.grad is None and w.grad is None
    # Asking for the leaf too walks on below h; still no hook on w.
    calls.clear()
    gh, gx = mg.grad(y.sum(), [h, x])
    np.testing.assert_array_equal(gx.data, 2 * 2 * h.data)
    assert sorted(calls) == ["h", "x"]


def test_mg_grad_leaf_hook_changes_the_returned_gradient():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: g * 10)
    (gx,) = mg.grad((x * x).sum(), x)
    np.testing.assert_array_equal(gx.data, [20.0, 40.0])


def test_hook_under_create_graph_gets_and_returns_tensors():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    y.register_hook(lambda g: g * 3)
    (gx,) = mg.grad(y.sum(), x, create_graph=True)
    (ggx,) = mg.grad(gx.sum(), x)
    np.testing.assert_array_equal(gx.data, 6 * x.data)
    np.testing.assert_array_equal(ggx.data, [6.0, 6.0])


@pytest.mark.parametrize(
    ("returned", "match"),
    [(np.ones(5), r"shape \(5,\)"), (np.float64(1.0), r"shape \(\)"), (np.ones(3, dtype=np.int64), "int64")],
    ids=["longer", "scalar", "int"],
)
def test_hook_returning_a_wrong_gradient_raises_naming_the_tensor(returned, match):
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True, name="x")
    x.register_hook(lambda g: returned)
    with pytest.raises(RuntimeError, match=f"hook '<lambda>' on the leaf tensor 'x' .*{match}"):
        (x * 2).sum().backward()
    assert x.grad is None
    h = x * 2
    h.register_hook(lambda g: returned)
    with pytest.raises(RuntimeError, match=f"the output of mul.*{match}"):
        h.sum().backward()


def _function_returning(gradient):
    class Bad(mg.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return gradient(grad)

    return Bad


@pytest.mark.parametrize(
    ("gradient", "match"),
    [
        (lambda g: np.ones(5), r"shape \(5,\)"),
        (lambda g: np.float64(2.0), r"shape \(\)"),
        (lambda g: np.ones(3, dtype=np.int64), "int64"),
        (lambda g: np.ones(3) * 1j, "complex"),
        (lambda g: np.ones((3, 2)), r"shape \(3, 2\)"),
    ],
    ids=["longer", "scalar", "int", "complex", "bad-broadcast"],
)
def test_function_returning_a_wrong_gradient_raises_naming_it(gradient, match):
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=f"Bad.backward returned a gradient of .*{match}.*input 0"):
        _function_returning(gradient).apply(x).sum().backward()
    assert x.grad is None


def test_function_gradient_with_broadcast_axes_is_summed():
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    _function_returning(lambda g: np.ones((2, 3)) * 2 * g).apply(x).sum().backward()
    np.testing.assert_array_equal(x.grad, [4.0, 4.0, 4.0])


def test_function_returning_a_python_number_for_a_scalar_input_works():
    x = mg.tensor(3.0, requires_grad=True)
    _function_returning(lambda g: 2.0 * float(g)).apply(x).backward()
    assert x.grad == 2.0


def test_assigning_grad_checks_shape_and_dtype():
    p = mg.tensor([1.0, 2.0, 3.0], requires_grad=True, name="p")
    p.grad = np.ones(3)
    np.testing.assert_array_equal(p.grad, np.ones(3))
    with pytest.raises(RuntimeError, match=r"shape \(5,\).*'p' of shape \(3,\)"):
        p.grad = np.ones(5)
    with pytest.raises(RuntimeError, match="float32"):
        p.grad = np.ones(3, dtype=np.float32)
    with pytest.raises(TypeError, match="ndarray"):
        p.grad = [1.0, 2.0, 3.0]
    p.grad = None
    assert p.grad is None


# == register_post_accumulate_grad_hook ===========================================================
def _optimizer_in_backward(tensor_module, leaf, lr=0.1):
    """PyTorch's idiom: each parameter steps as soon as its gradient is complete."""
    def step(p):
        with tensor_module.no_grad():
            p.sub_(lr * p.grad)
        p.grad = None
    return leaf.register_post_accumulate_grad_hook(step)


def test_post_accumulate_hook_sees_the_accumulated_grad_after_the_gradient_hooks():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    calls = []
    x.register_hook(lambda g: calls.append(("hook", g.copy())) or g * 2)
    handle = x.register_post_accumulate_grad_hook(lambda p: calls.append(("post", p.grad.copy())))
    (x * 3 + x).sum().backward()  # two paths: the hook runs once, on the total
    (x * 3).sum().backward()
    assert [name for name, _ in calls] == ["hook", "post", "hook", "post"]
    np.testing.assert_array_equal(calls[1][1], [8.0, 8.0])
    np.testing.assert_array_equal(calls[3][1], [14.0, 14.0])  # accumulated: 8 + 2 * 3
    handle.remove()
    (x * 3).sum().backward()
    assert len(calls) == 5 and calls[4][0] == "hook"


def test_post_accumulate_hook_runs_for_backward_inputs_but_not_for_mg_grad():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    calls = []
    x.register_post_accumulate_grad_hook(lambda p: calls.append(p.grad.copy()))
    mg.grad((x * 2).sum(), x)
    assert calls == []
    (x * 2).sum().backward(inputs=[x])
    np.testing.assert_array_equal(calls, [[2.0, 2.0]])


def test_post_accumulate_hook_refusals_say_what_to_do():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="non-leaf"):
        (x * 2).register_post_accumulate_grad_hook(lambda p: None)
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.tensor([1.0]).register_post_accumulate_grad_hook(lambda p: None)
    x.register_post_accumulate_grad_hook(lambda p: 5)
    with pytest.raises(TypeError, match="must return None"):
        (x * 2).sum().backward()


def test_optimizer_in_backward_matches_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w0, x0 = rng.normal(size=(3, 2)), rng.normal(size=(4, 3))
    w, wt = mg.tensor(w0, requires_grad=True), torch.tensor(w0, requires_grad=True)
    _optimizer_in_backward(mg, w)
    _optimizer_in_backward(torch, wt)
    for _ in range(3):
        (mg.tensor(x0) @ w).tanh().sum().backward()
        (torch.tensor(x0) @ wt).tanh().sum().backward()
        assert w.grad is None and wt.grad is None
        np.testing.assert_allclose(w.data, wt.detach().numpy(), rtol=1e-12, atol=1e-12)


def test_a_compiled_step_honours_post_accumulate_hooks():
    model = mg.nn.Linear(3, 1)
    x = mg.tensor(np.random.default_rng(0).normal(size=(5, 3)))
    seen = []

    @mg.compile
    def step():
        model(x).sum().backward()

    step()
    step()  # replayed from here on
    model.weight.register_post_accumulate_grad_hook(lambda p: seen.append(p.grad.copy()))
    with pytest.warns(UserWarning):  # the hook makes the step run eagerly, and it says so
        step()
    step()
    assert len(seen) == 2
    np.testing.assert_allclose(seen[1], 4 * x.data.sum(0, keepdims=True))


# == a gradient a hook saw, or a user's rule returned, is never the leaf's .grad itself ===========
def test_a_gradient_a_hook_kept_is_not_changed_by_later_accumulation(torch):
    for lib in (mg, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        logged, y_logged = [], []
        x.register_hook(lambda g, logged=logged: logged.append(g))
        (x * 3).sum().backward()
        (x * 5).sum().backward()
        np.testing.assert_array_equal(np.asarray(logged[0]), [3.0, 3.0])
        z = lib.tensor([1.0, 2.0], requires_grad=True)
        y = z + 0
        y.register_hook(lambda g, y_logged=y_logged: y_logged.append(g))
        y.sum().backward()
        (z * 2).sum().backward()
        np.testing.assert_array_equal(np.asarray(y_logged[0]), [1.0, 1.0])


def test_zero_grad_in_place_does_not_clear_a_logged_gradient():
    w = mg.tensor([[1.0, 2.0]], requires_grad=True)
    logged = []
    w.register_hook(logged.append)
    (w * mg.tensor([[1.0, 2.0]])).sum().backward()
    opt = mg.optim.SGD([w], lr=0.1)
    opt.step()
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(logged[0], [[1.0, 2.0]])


def test_an_array_a_hook_returns_is_not_accumulated_into():
    kept = np.ones(2)
    y = mg.tensor([1.0, 2.0], requires_grad=True)
    y.register_hook(lambda g: kept)
    (y * 3).sum().backward()
    (y * 3).sum().backward()
    np.testing.assert_array_equal(kept, [1.0, 1.0])
    np.testing.assert_array_equal(y.grad, [2.0, 2.0])


def test_a_users_rule_returning_a_saved_input_does_not_change_that_input():
    class ScaleBy(mg.Function):
        @staticmethod
        def forward(ctx, a, b):
            ctx.save_for_backward(b)
            return a * b

        @staticmethod
        def backward(ctx, grad):
            (b,) = ctx.saved_tensors
            return b, None  # (the gradient for a weighting of ones: the saved array itself)

    def run(compiled):
        a, scale = mg.tensor([1.0, 1.0], requires_grad=True), mg.tensor([3.0, 4.0])
        step = (mg.compile if compiled else (lambda f: f))(lambda: ScaleBy.apply(a, scale).sum().backward())
        for _ in range(3):
            step()
        np.testing.assert_array_equal(scale.data, [3.0, 4.0])
        np.testing.assert_array_equal(a.grad, [9.0, 12.0])

    run(False)
    run(True)


def test_a_hook_that_changes_the_gradients_dtype_is_refused_as_torch(torch):
    for lib in (mg, torch):
        x = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
        x.register_hook(lambda g, lib=lib: g.astype(np.float32) if lib is mg else g.float())
        with pytest.raises(RuntimeError, match="type"):
            (x * 2).sum().backward()


def test_a_value_that_requires_grad_written_into_an_integer_tensor_gives_its_values_as_torch(torch):
    results = []
    for lib in (mg, torch):
        x = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
        buffer = lib.zeros(3, dtype=lib.int64)
        buffer[0] = x[1] * 2.7
        results.append((np.asarray(buffer), buffer.requires_grad))
    assert results[0][1] is False and results[1][1] is False
    np.testing.assert_array_equal(results[0][0], results[1][0])
