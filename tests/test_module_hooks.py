"""Module hooks (forward pre/post, full backward pre/post, global ones) and RemovableHandle,
as PyTorch's: each scenario runs on both libraries and the logs of what the hooks saw
(values included) must agree; the rest checks the behaviour itself."""

import warnings

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import nn
from microgradnp.nn import hooks as mg_hooks

RNG = np.random.default_rng(5)
W, B, X = RNG.standard_normal((2, 3)), RNG.standard_normal(2), RNG.standard_normal((4, 3))


class Lib:
    """The pieces of a scenario, from PyTorch or from microgradnp."""

    def __init__(self, torch=None):
        self.torch = torch
        self.nn = torch.nn if torch else nn

    def linear(self):
        if self.torch:
            layer = self.torch.nn.Linear(3, 2).double()
            with self.torch.no_grad():
                layer.weight.copy_(self.torch.tensor(W))
                layer.bias.copy_(self.torch.tensor(B))
            return layer
        layer = nn.Linear(3, 2)
        layer.weight.data[...] = W
        layer.bias.data[...] = B
        return layer

    def tensor(self, x, requires_grad=False):
        if self.torch:
            return self.torch.tensor(x, requires_grad=requires_grad)
        return mg.tensor(x, requires_grad=requires_grad)

    @staticmethod
    def values(t):
        if t is None:
            return None
        data = t.detach().numpy() if hasattr(t, "detach") and not isinstance(t, mg.Tensor) else np.asarray(t.data)
        return np.round(data, 10).tolist()

    def grad(self, t):
        g = t.grad
        return None if g is None else np.round(g.numpy() if self.torch else g, 10).tolist()


def both(scenario):
    torch = pytest.importorskip("torch")
    theirs, ours = scenario(Lib(torch)), scenario(Lib())
    assert len(ours) == len(theirs)
    for mine, reference in zip(ours, theirs):
        assert mine == reference


def _full_scenario(lib, x_requires_grad):
    log = []
    layer = lib.linear()
    v = lib.values
    layer.register_forward_pre_hook(lambda m, args: log.append(("pre", len(args), v(args[0]))))
    layer.register_forward_pre_hook(lambda m, args: (args[0] * 2,))
    layer.register_forward_hook(lambda m, args, out: log.append(("forward", v(args[0]), v(out))))
    layer.register_forward_hook(lambda m, args, out: out * 3)
    layer.register_full_backward_pre_hook(lambda m, go: log.append(("backward pre", [v(g) for g in go])))
    layer.register_full_backward_hook(
        lambda m, gi, go: log.append(("backward", [v(g) for g in gi], [v(g) for g in go])))
    layer.register_full_backward_hook(lambda m, gi, go: None if gi[0] is None else (gi[0] * 10,))
    x = lib.tensor(X, requires_grad=x_requires_grad)
    out = layer(x)
    (out * out).sum().backward()
    log += [("x.grad", lib.grad(x) if x_requires_grad else None), ("w.grad", lib.grad(layer.weight)),
            ("b.grad", lib.grad(layer.bias))]
    return log


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
@pytest.mark.parametrize("x_requires_grad", [True, False])
def test_forward_and_backward_hooks_see_and_replace_what_pytorchs_do(x_requires_grad):
    both(lambda lib: _full_scenario(lib, x_requires_grad))


def test_hooks_order_prepend_and_removal_match_pytorch():
    def scenario(lib):
        log = []
        layer = lib.linear()
        handles = [layer.register_forward_hook(lambda m, a, o, k=k: log.append(k)) for k in "abc"]
        layer.register_forward_hook(lambda m, a, o: log.append("first"), prepend=True)
        layer.register_forward_pre_hook(lambda m, a: log.append("pre-b"))
        layer.register_forward_pre_hook(lambda m, a: log.append("pre-a"), prepend=True)
        layer(lib.tensor(X))
        handles[1].remove()
        handles[1].remove()  # twice: nothing more happens
        layer(lib.tensor(X))
        with handles[0]:
            pass  # leaving the block removes it
        layer(lib.tensor(X))
        return log

    both(scenario)


def test_hooks_with_kwargs_match_pytorch():
    def scenario(lib):
        log = []

        class Scale(lib.nn.Module):
            def forward(self, x, *, factor=1.0):
                return x * factor

        module = Scale()
        module.register_forward_pre_hook(lambda m, a, k: (a, {**k, "factor": k["factor"] + 1}), with_kwargs=True)
        module.register_forward_hook(lambda m, a, k, o: log.append((sorted(k), k["factor"], lib.values(o))),
                                     with_kwargs=True)
        module(lib.tensor(X), factor=2.0)
        return log

    both(scenario)


def test_module_with_several_inputs_and_outputs_matches_pytorch():
    def scenario(lib):
        log = []

        class Pair(lib.nn.Module):
            def forward(self, a, scale, b):
                return a * b * scale, a + b

        module = Pair()
        v = lib.values
        module.register_full_backward_pre_hook(lambda m, go: log.append(("pre", [v(g) for g in go])))
        module.register_full_backward_hook(
            lambda m, gi, go: log.append(("post", [v(g) for g in gi], [v(g) for g in go])))
        a = lib.tensor(X, requires_grad=True)
        b = lib.tensor(X[::-1].copy())  # does not require grad: None in grad_input
        product, _total = module(a, 0.5, b)
        product.sum().backward()  # `total` gets no gradient: None in grad_output
        log.append(("a.grad", lib.grad(a)))
        return log

    both(scenario)


def test_global_hooks_run_for_every_module_before_its_own():
    def scenario(lib, register_pre, register_fwd):
        log = []
        model = lib.nn.Sequential(lib.nn.Linear(3, 2), lib.nn.Tanh())
        model = model.double() if lib.torch else model
        model[0].register_forward_hook(lambda m, a, o: log.append(("own", type(m).__name__)))
        handles = [register_pre(lambda m, a: log.append(("global pre", type(m).__name__))),
                   register_fwd(lambda m, a, o: log.append(("global", type(m).__name__)))]
        try:
            model(lib.tensor(X))
        finally:
            for handle in handles:
                handle.remove()
        model(lib.tensor(X))  # removed: only the module's own hook
        return log

    torch = pytest.importorskip("torch")
    tm = torch.nn.modules.module
    theirs = scenario(Lib(torch), tm.register_module_forward_pre_hook, tm.register_module_forward_hook)
    ours = scenario(Lib(), nn.register_module_forward_pre_hook, nn.register_module_forward_hook)
    assert ours == theirs
    assert mg_hooks.global_hooks.count == 0


def test_global_backward_hooks_match_pytorch():
    def scenario(lib, register_pre, register):
        log = []
        layer = lib.linear()
        handles = [register_pre(lambda m, go: log.append(("pre", lib.values(go[0])))),
                   register(lambda m, gi, go: log.append(("post", lib.values(gi[0]))))]
        try:
            layer(lib.tensor(X, requires_grad=True)).sum().backward()
        finally:
            for handle in handles:
                handle.remove()
        return log

    torch = pytest.importorskip("torch")
    tm = torch.nn.modules.module
    theirs = scenario(Lib(torch), tm.register_module_full_backward_pre_hook, tm.register_module_full_backward_hook)
    ours = scenario(Lib(), nn.register_module_full_backward_pre_hook, nn.register_module_full_backward_hook)
    assert ours == theirs and ours


def test_pre_hook_replacing_the_input_changes_the_output_and_the_gradient():
    layer = Lib().linear()
    x = mg.tensor(X, requires_grad=True)
    layer.register_forward_pre_hook(lambda m, args: args[0] * 2)  # a bare tensor: made a 1-tuple
    out = layer(x)
    np.testing.assert_allclose(out.data, 2 * X @ W.T + B)
    out.sum().backward()
    np.testing.assert_allclose(x.grad, 2 * np.ones((4, 2)) @ W)


def test_backward_hook_replacing_grad_input_reaches_the_input_only():
    layer = Lib().linear()
    x = mg.tensor(X, requires_grad=True)
    layer.register_full_backward_hook(lambda m, gi, go: (gi[0] * 0.0,))
    layer(x).sum().backward()
    np.testing.assert_array_equal(x.grad, np.zeros_like(X))
    np.testing.assert_allclose(layer.weight.grad, np.ones((2, 4)) @ X)  # the parameters' gradients are untouched


def test_backward_hooks_see_tensors_and_run_once_per_backward():
    layer = Lib().linear()
    seen = []
    layer.register_full_backward_hook(lambda m, gi, go: seen.append((type(gi[0]), type(go[0]))))
    layer(mg.tensor(X, requires_grad=True)).sum().backward()
    assert seen == [(mg.Tensor, mg.Tensor)]


def test_always_call_hook_runs_when_forward_raises_and_the_error_wins():
    class Broken(nn.Module):
        def forward(self, x):
            raise ValueError("broken forward")

    module, seen = Broken(), []
    module.register_forward_hook(lambda m, a, o: seen.append(o), always_call=True)
    module.register_forward_hook(lambda m, a, o: seen.append("not always"))
    with pytest.raises(ValueError, match="broken forward"):
        module(mg.tensor(X))
    assert seen == [None]

    def failing(m, a, o):
        raise KeyError("hook")

    module.register_forward_hook(failing, always_call=True)
    with pytest.warns(UserWarning, match="always_call"), pytest.raises(ValueError, match="broken forward"):
        module(mg.tensor(X))


def test_hook_results_of_the_wrong_length_raise():
    layer = Lib().linear()
    layer.register_full_backward_hook(lambda m, gi, go: (gi[0], gi[0]))
    with pytest.raises(RuntimeError, match="invalid number of grad_input, got 2, but expected 1"):
        layer(mg.tensor(X, requires_grad=True)).sum().backward()
    layer = Lib().linear()
    layer.register_full_backward_pre_hook(lambda m, go: (go[0], go[0]))
    with pytest.raises(RuntimeError, match="invalid number of grad_output"):
        layer(mg.tensor(X, requires_grad=True)).sum().backward()
    layer = Lib().linear()
    layer.register_forward_pre_hook(lambda m, a, k: a, with_kwargs=True)
    with pytest.raises(RuntimeError, match=r"tuple of \(new_args, new_kwargs\)"):
        layer(mg.tensor(X))
    with pytest.raises(TypeError, match="callable"):
        layer.register_forward_hook("not a function")


def test_backward_hook_returning_gradients_when_no_input_requires_grad_raises():
    layer = Lib().linear()
    layer.register_full_backward_hook(lambda m, gi, go: (go[0],))
    with pytest.raises(RuntimeError, match="no input requires gradient"), pytest.warns(UserWarning, match="firing"):
        layer(mg.tensor(X)).sum().backward()


def test_mixing_full_and_deprecated_backward_hooks_raises():
    layer = Lib().linear()
    layer.register_full_backward_hook(lambda m, gi, go: None)
    with pytest.raises(RuntimeError, match="Cannot use both"):
        layer.register_backward_hook(lambda m, gi, go: None)
    other = Lib().linear()
    with pytest.warns(FutureWarning, match="register_full_backward_hook"):
        other.register_backward_hook(lambda m, gi, go: None)
    with pytest.raises(RuntimeError, match="Cannot use both"):
        other.register_full_backward_hook(lambda m, gi, go: None)


def test_hooks_do_not_run_without_a_graph_and_module_calls_stay_grouped():
    layer = Lib().linear()
    calls = []
    layer.register_full_backward_hook(lambda m, gi, go: calls.append("backward"))
    with mg.no_grad():
        out = layer(mg.tensor(X, requires_grad=True))
    assert not out.requires_grad and calls == []
    out = layer(mg.tensor(X, requires_grad=True))
    assert out._node.module_calls  # graph drawings still see the layer's call


def test_double_backward_through_a_hooked_module():
    layer = Lib().linear()
    seen = []
    layer.register_full_backward_hook(lambda m, gi, go: seen.append(gi[0].requires_grad))
    x = mg.tensor(X, requires_grad=True)
    (g,) = mg.grad((layer(x) ** 2).sum(), [x], create_graph=True)
    g.sum().backward()
    expected = 2 * W.sum(axis=1) @ W  # d/dx of sum(2 (x W^T + b) W): the same for every row
    np.testing.assert_allclose(x.grad, np.broadcast_to(expected, X.shape))
    assert seen[0] is True


def test_compile_runs_a_function_with_hooked_modules_eagerly():
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.Tanh(), nn.Linear(4, 1, rng=1))
    optimizer = mg.optim.SGD(model.parameters(), lr=0.1)
    activations = []
    model[1].register_forward_hook(lambda m, a, o: activations.append(o.data.copy()))
    x = mg.tensor(X)

    @mg.compile
    def step():
        optimizer.zero_grad()
        loss = model(x).pow(2).mean()
        loss.backward()
        optimizer.step()
        return loss

    with pytest.warns(UserWarning, match="hooks on Tanh"):
        step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        step()
        step()
    assert len(activations) == 3  # the hook ran at every call: the function runs eagerly


def test_removable_handle_removes_extra_entries_and_module_stays_fast_path_after():
    layer = Lib().linear()
    handle = layer.register_forward_hook(lambda m, a, k, o: None, with_kwargs=True, always_call=True)
    assert layer._hooked
    handle.remove()
    assert not layer._hooked
    assert handle.id not in layer._forward_hooks_with_kwargs and handle.id not in layer._forward_hooks_always_called
    assert "RemovableHandle" in repr(handle)
