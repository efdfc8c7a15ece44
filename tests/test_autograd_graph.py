"""mg.autograd.graph (saved-tensor hooks, multi-grad hooks, node hooks, gradient edges)
and the node API, checked on their own and against torch.autograd.graph."""

import threading

import numpy as np
import pytest

import microgradnp as mg
from microgradnp.autograd import graph


def _values(x):
    return None if x is None else np.asarray(x.data if isinstance(x, mg.Tensor) else x).tolist()


# -- saved_tensors_hooks ---------------------------------------------------------------

def _sin_of_square(lib, hooks):
    a = lib.tensor([1.0, 2.0], requires_grad=True)
    log = []

    def pack(x):
        log.append(("pack", x is a, tuple(x.shape)))
        return x

    def unpack(x):
        log.append(("unpack", tuple(x.shape)))
        return x

    with hooks(pack, unpack):
        y = (a * a).sin().sum()
    y.backward()
    return log, _values(a.grad)


def test_saved_tensors_hooks_calls_as_torch():
    torch = pytest.importorskip("torch")
    log, grad = _sin_of_square(mg, graph.saved_tensors_hooks)
    expected_log, expected_grad = _sin_of_square(torch, torch.autograd.graph.saved_tensors_hooks)
    assert log == expected_log
    np.testing.assert_allclose(grad, expected_grad)


def test_unpack_result_is_what_backward_uses():
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    with graph.saved_tensors_hooks(lambda x: x, lambda x: x * 2):
        y = (a * a).sum()
    y.backward()
    np.testing.assert_array_equal(a.grad, [4.0, 8.0])  # both saved factors doubled: 2a + 2a


def test_pack_may_return_anything_and_saved_tensors_unpacks_it():
    a = mg.tensor([3.0], requires_grad=True)
    with graph.saved_tensors_hooks(lambda x: ("box", x.numpy().copy()), lambda box: mg.tensor(box[1])):
        y = a.exp()
    assert isinstance(y.grad_fn._saved, graph.PackedSaved)
    np.testing.assert_allclose(y.grad_fn.saved_tensors[0], np.exp(3.0))
    y.backward()
    np.testing.assert_allclose(a.grad, [np.exp(3.0)])
    with pytest.raises(RuntimeError, match="second time"):
        y.grad_fn.saved_tensors


def test_nested_hooks_innermost_wins_and_nothing_outside():
    calls = []
    outer = graph.saved_tensors_hooks(lambda x: calls.append("outer") or x, lambda x: x)
    inner = graph.saved_tensors_hooks(lambda x: calls.append("inner") or x, lambda x: x)
    a = mg.tensor([1.0], requires_grad=True)
    with outer:
        a.sin()
        with inner:
            a.cos()
        a.tanh()
    a.exp()
    assert calls == ["outer", "inner", "outer"]


def test_hooks_not_called_when_nothing_is_recorded():
    calls = []
    with graph.saved_tensors_hooks(lambda x: calls.append(1) or x, lambda x: x):
        mg.tensor([1.0]).sin()
        with mg.no_grad():
            mg.tensor([1.0], requires_grad=True).sin()
    assert calls == []


def test_hooks_are_per_thread():
    calls = []
    a = mg.tensor([1.0], requires_grad=True)
    with graph.saved_tensors_hooks(lambda x: calls.append(1) or x, lambda x: x):
        thread = threading.Thread(target=lambda: a.sin())
        thread.start()
        thread.join()
    assert calls == []


def test_version_check_is_off_for_packed_saves_as_torch():
    torch = pytest.importorskip("torch")
    for lib, hooks in ((mg, graph.saved_tensors_hooks), (torch, torch.autograd.graph.saved_tensors_hooks)):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        with hooks(lambda x: x, lambda x: x):
            b = a * 1
            y = (b * b).sum()
        with lib.no_grad():
            b.add_(1)
        y.backward()  # no error in either


def test_disable_saved_tensors_hooks_messages():
    def identity(x):
        return x

    with graph.disable_saved_tensors_hooks("no packing"), pytest.raises(RuntimeError, match=r"^no packing$"), \
            graph.saved_tensors_hooks(identity, identity):
        pass
    with graph.saved_tensors_hooks(identity, identity), pytest.raises(RuntimeError, match=r"^not inside$"), \
            graph.disable_saved_tensors_hooks("not inside"):
        pass
    with graph.saved_tensors_hooks(identity, identity):  # (allowed again after the block)
        pass


def test_disable_saved_tensors_hooks_as_torch():
    torch = pytest.importorskip("torch")
    for module in (graph, torch.autograd.graph):
        with pytest.raises(RuntimeError, match=r"^msg$"), module.disable_saved_tensors_hooks("msg"), \
                module.saved_tensors_hooks(lambda x: x, lambda x: x):
            pass


def test_save_on_cpu_gives_the_same_gradients():
    rng = np.random.default_rng(0)
    w = mg.tensor(rng.normal(size=(3, 2)), requires_grad=True)
    x = rng.normal(size=(4, 3))
    (x @ w).tanh().sum().backward()
    expected = w.grad.copy()
    w.grad = None
    with graph.save_on_cpu(pin_memory=False):
        y = (x @ w).tanh().sum()
    y.backward()
    np.testing.assert_array_equal(w.grad, expected)


def test_create_graph_through_packed_saves():
    x = mg.tensor([0.5, 1.5], requires_grad=True)
    with graph.saved_tensors_hooks(lambda t: t, lambda t: t):
        y = (x * x * x).sum()
    (g,) = mg.grad(y, x, create_graph=True)
    (h,) = mg.grad(g.sum(), x)
    np.testing.assert_allclose(h.data, 6 * x.data)


def test_compiled_function_runs_eagerly_with_saved_tensor_hooks():
    calls = []
    w = mg.tensor([1.0, 2.0], requires_grad=True)

    @mg.compile
    def step(x):
        loss = (x * w).sin().sum()
        loss.backward()
        return loss

    step(mg.tensor([0.5, 0.25]))  # traced without hooks
    with graph.saved_tensors_hooks(lambda t: calls.append(1) or t, lambda t: t):
        for _ in range(3):  # the replay would not call the hooks: eager, at every call
            step(mg.tensor([0.5, 0.25]))
    assert len(calls) == 3 * 3  # mul saves its two operands, sin its input, at every call
    np.testing.assert_allclose(w.grad, 4 * np.cos([0.5, 0.5]) * [0.5, 0.25])
    step(mg.tensor([0.5, 0.25]))  # without hooks: replayed as before
    step(mg.tensor([0.5, 0.25]))
    assert len(calls) == 9 and step.traces == 1
    np.testing.assert_allclose(w.grad, 6 * np.cos([0.5, 0.5]) * [0.5, 0.25])


def test_hooks_entered_inside_a_compiled_function_make_it_eager():
    calls = []
    w = mg.tensor([1.0, 2.0], requires_grad=True)

    @mg.compile
    def step(x):
        with graph.saved_tensors_hooks(lambda t: calls.append(1) or t, lambda t: t):
            loss = (x * w).sin().sum()
        loss.backward()
        return loss

    with pytest.warns(UserWarning, match="runs eagerly from now on: .* saved_tensors_hooks"):
        step(mg.tensor([0.5, 0.25]))
    step(mg.tensor([0.5, 0.25]))
    assert len(calls) == 6 and step.traces == 1


# -- register_multi_grad_hook ----------------------------------------------------------

def _multi(lib, mode):
    x, z, w = (lib.tensor(v, requires_grad=True) for v in (1.0, 2.0, 3.0))
    seen = []
    handle = lib.autograd.graph.register_multi_grad_hook(
        (x, z, w), lambda g: seen.append(_values(g) if mode == "any" else [_values(v) for v in g]), mode=mode)
    (x * 2 + z * 3).backward()
    (w * 4).backward()
    handle.remove()
    (x * 2).backward()
    return seen


@pytest.mark.parametrize("mode", ["all", "any"])
def test_multi_grad_hook_as_torch(mode):
    torch = pytest.importorskip("torch")
    ours, theirs = _multi(mg, mode), _multi(torch, mode)
    if mode == "any":  # which gradient comes first among x and z is the engine's order
        assert len(ours) == len(theirs) == 2 and ours[0] in (2.0, 3.0) and ours[1] == theirs[1] == 4.0
    else:
        assert ours == theirs == [[2.0, 3.0, None], [None, None, 4.0]]


def test_multi_grad_hook_all_runs_after_the_gradients_are_complete():
    x = mg.tensor([1.0], requires_grad=True)
    h = x * 2
    seen = []
    graph.register_multi_grad_hook((x, h), lambda g: seen.append([_values(v) for v in g]))
    (h * h + x).sum().backward()
    assert seen == [[[9.0], [4.0]]]  # x: 2 * 2h + 1, h: 2h
    assert x.grad.tolist() == [9.0]


def test_multi_grad_hook_bad_mode():
    with pytest.raises(ValueError, match="one of"):
        graph.register_multi_grad_hook((mg.tensor(1.0, requires_grad=True),), print, mode="bad")


# -- the node API ----------------------------------------------------------------------

def test_name_is_a_string_and_callable():
    x = mg.tensor([1.0], requires_grad=True)
    y = x.sin()
    assert y.grad_fn.name() == "sin" == y.grad_fn.name == y.op
    assert isinstance(y.grad_fn.name, str)

    class Twice(mg.Function):
        @staticmethod
        def forward(ctx, a):
            return 2 * a

        @staticmethod
        def backward(ctx, grad):
            return 2 * grad

    assert Twice.apply(x).grad_fn.name() == "Twice"
    assert y.grad_fn.next_functions[0][0].name() == "AccumulateGrad"


def test_next_functions_as_torch():
    torch = pytest.importorskip("torch")
    for lib in (mg, torch):
        x = lib.tensor([1.0], requires_grad=True)
        c = lib.tensor([2.0])
        y = (x * c).sin()
        (mul, index), = y.grad_fn.next_functions
        assert index == 0
        (acc, i), (none, j) = mul.next_functions
        assert acc.variable is x and none is None and i == j == 0
        assert isinstance(y.grad_fn, lib.autograd.graph.Node) and isinstance(acc, lib.autograd.graph.Node)
        assert y.grad_fn.metadata == {}
        y.grad_fn.metadata["k"] = 1
        assert y.grad_fn.metadata == {"k": 1}


def _node_hooks(lib):
    x = lib.tensor(1.0, requires_grad=True)
    z = lib.tensor(2.0, requires_grad=True)
    y = (x * z).sin()
    calls = []
    pre = y.grad_fn.register_prehook(lambda go: calls.append(("pre", [_values(g) for g in go])))
    post = y.grad_fn.register_hook(
        lambda gi, go: calls.append(("post", [_values(g) for g in gi], [_values(g) for g in go])))
    mul_hook = y.grad_fn.next_functions[0][0].register_hook(
        lambda gi, go: calls.append(("mul", [_values(g) for g in gi], [_values(g) for g in go])))
    y.backward(retain_graph=True)
    pre.remove()
    post.remove()
    mul_hook.remove()
    y.backward()
    return calls, _values(x.grad)


def test_node_hooks_as_torch():
    torch = pytest.importorskip("torch")
    ours, grad = _node_hooks(mg)
    theirs, expected = _node_hooks(torch)
    assert [c[0] for c in ours] == [c[0] for c in theirs] == ["pre", "post", "mul"]
    for a, b in zip(ours, theirs):
        for mine, torch_values in zip(a[1:], b[1:]):
            np.testing.assert_allclose(mine, torch_values, rtol=1e-6)
    np.testing.assert_allclose(grad, expected)


def test_node_hooks_replace_gradients():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y.grad_fn.register_prehook(lambda go: (go[0] * 10,))
    y.grad_fn.register_hook(lambda gi, go: (gi[0] + 1, *gi[1:]))  # (the 3 is an input too, with None)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [31.0, 31.0])


def test_node_hooks_stop_counting_when_removed_or_gone():
    from microgradnp.autograd.function import node_hooks

    before = node_hooks.count
    x = mg.tensor([1.0], requires_grad=True)
    y = x * 3
    handle = y.grad_fn.register_hook(lambda gi, go: None)
    y.grad_fn.register_prehook(lambda go: None)
    assert node_hooks.count == before + 2
    handle.remove()
    handle.remove()  # (twice: no effect)
    assert node_hooks.count == before + 1
    del y
    assert node_hooks.count == before  # the node went with its hook


def test_node_hook_returning_wrong_count_raises():
    x = mg.tensor([1.0], requires_grad=True)
    y = x * 3
    y.grad_fn.register_prehook(lambda go: (go[0], go[0]))
    with pytest.raises(RuntimeError, match="prehook"):
        y.sum().backward()


def test_gradient_edge_and_grad_through_it():
    torch = pytest.importorskip("torch")
    results = []
    for lib in (mg, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        edge = lib.autograd.graph.get_gradient_edge(x)
        assert edge.node.variable is x and edge.output_nr == 0
        q = x * 3
        edge = lib.autograd.graph.get_gradient_edge(q)
        assert edge.node is q.grad_fn and edge.output_nr == 0
        (g,) = lib.autograd.grad(q.sin().sum(), edge)
        results.append(_values(g))
    np.testing.assert_allclose(results[0], results[1])
    with pytest.raises(RuntimeError, match="does not require gradients"):
        graph.get_gradient_edge(mg.tensor([1.0]))


def test_increment_version_makes_backward_refuse():
    torch = pytest.importorskip("torch")
    for lib in (mg, torch):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        b = a * 1
        y = (b * b).sum()
        lib.autograd.graph.increment_version(b)
        with pytest.raises(RuntimeError, match=r"modified by an in-?place operation"):
            y.backward()


def test_increment_version_alone():
    a = mg.tensor([1.0], requires_grad=True)
    b = a.exp()
    y = b.exp()
    y.backward(retain_graph=True)
    graph.increment_version(b)
    with pytest.raises(RuntimeError, match="version 1, expected 0"):
        y.backward()


# -- legacy names ----------------------------------------------------------------------

def test_variable_and_multithreading_flag():
    v = mg.autograd.Variable(mg.tensor([1.0, 2.0]), requires_grad=True)
    assert type(v) is mg.Tensor and v.requires_grad and v.is_leaf
    assert not mg.autograd.Variable(np.ones(2)).requires_grad
    assert mg.autograd.is_multithreading_enabled()
    with mg.autograd.set_multithreading_enabled(False):
        assert not mg.autograd.is_multithreading_enabled()
    assert mg.autograd.is_multithreading_enabled()
