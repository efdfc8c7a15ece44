"""In-place operations and version counters: a hand-written update step keeps the tensor;
a backward that would use values changed in place since the forward raises instead."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import numeric_grad
from hypothesis import given, settings
from hypothesis import strategies as st

import microgradnp as mg
from microgradnp import nn, optim
from microgradnp.errors import InvalidArgumentError

MODIFIED = "modified by an in-place operation"


# -- the hand-written SGD step ------------------------------------------------------------
def test_manual_sgd_step_under_no_grad_keeps_the_tensor_and_matches_optim_sgd():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(16, 3)), rng.normal(size=(16, 1))
    w = mg.tensor(rng.normal(size=(3, 1)), requires_grad=True, name="w")
    w_opt = mg.tensor(w.data, requires_grad=True)
    opt = optim.SGD([w_opt], lr=0.1)
    same = w
    for _ in range(5):
        w.grad = None
        ((mg.tensor(X) @ w - y) ** 2).mean().backward()
        with mg.no_grad():
            w -= 0.1 * w.grad
        opt.zero_grad()
        ((mg.tensor(X) @ w_opt - y) ** 2).mean().backward()
        opt.step()
    assert w is same and w.requires_grad and w.is_leaf
    np.testing.assert_array_equal(w.data, w_opt.data)


@pytest.mark.parametrize(
    "update",
    [
        lambda w: w.__iadd__(1.0),
        lambda w: w.__isub__(1.0),
        lambda w: w.__imul__(2.0),
        lambda w: w.__itruediv__(2.0),
        lambda w: w.add_(1.0),
        lambda w: w.sub_(1.0, alpha=2),
        lambda w: w.mul_(2.0),
        lambda w: w.div_(2.0),
        lambda w: w.zero_(),
        lambda w: w.fill_(3.0),
        lambda w: w.copy_(np.ones(3)),
        lambda w: w.clamp_(0.0, 1.0),
        lambda w: w.__setitem__(0, 5.0),
    ],
)
def test_in_place_on_a_leaf_that_requires_grad_raises_while_recording(update):
    w = mg.tensor([0.5, 1.5, 2.5], requires_grad=True)
    before = w.data.copy()
    with pytest.raises(RuntimeError, match=r"leaf tensor of shape \(3,\) requires grad.*mg.no_grad"):
        update(w)
    np.testing.assert_array_equal(w.data, before)
    with mg.no_grad():
        update(w)
    assert w.requires_grad and w._version == 1


@pytest.mark.parametrize(
    ("method", "args", "expected"),
    [
        ("add_", (np.array([1.0, 2.0, 3.0]),), [2.0, 0.0, 6.0]),
        ("add_", (1.0, 3), [4.0, 1.0, 6.0]),
        ("sub_", (mg.tensor([1.0, 1.0, 1.0]),), [0.0, -3.0, 2.0]),
        ("sub_", (1.0, 0.5), [0.5, -2.5, 2.5]),
        ("mul_", (2.0,), [2.0, -4.0, 6.0]),
        ("div_", (np.array([2.0, 4.0, 1.0]),), [0.5, -0.5, 3.0]),
        ("zero_", (), [0.0, 0.0, 0.0]),
        ("fill_", (mg.tensor(7.0),), [7.0, 7.0, 7.0]),
        ("copy_", ([4, 5, 6],), [4.0, 5.0, 6.0]),
        ("copy_", (np.float32(2.5),), [2.5, 2.5, 2.5]),
        ("clamp_", (-1.0, 2.0), [1.0, -1.0, 2.0]),
        ("clamp_", (None, 0.0), [0.0, -2.0, 0.0]),
        ("clamp_", (mg.tensor([2.0, 0.0, 0.0]),), [2.0, 0.0, 3.0]),
    ],
)
def test_in_place_methods_write_the_values_into_the_same_array(method, args, expected):
    t = mg.tensor([1.0, -2.0, 3.0])
    data = t.data
    assert getattr(t, method)(*args) is t
    assert t.data is data
    np.testing.assert_array_equal(t.data, expected)
    assert t._version == 1


def test_in_place_operators_broadcast_and_refuse_shapes_that_do_not_fit():
    t = mg.zeros(2, 3)
    t += np.array([1.0, 2.0, 3.0])
    t *= mg.tensor([[2.0], [3.0]])
    np.testing.assert_array_equal(t.data, [[2, 4, 6], [3, 6, 9]])
    with pytest.raises(ValueError, match=r"shape \(2, 3\).*broadcast"):
        t += np.ones((4, 3))
    with pytest.raises(ValueError, match="single number"):
        t.fill_(np.ones(3))
    with pytest.raises(ValueError, match="at least one of min and max"):
        t.clamp_()
    with pytest.raises(ValueError, match="does not broadcast"):
        t.copy_(np.ones(4))
    with pytest.raises(TypeError, match="complex"):
        t.copy_(np.ones(3) * 1j)


def test_augmented_assignment_on_a_graph_tensor_is_recorded_in_place_as_torch(torch):
    results = []
    for lib in (mg, torch):
        x = lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64, requires_grad=True)
        y = x * 2
        kept = y
        y += x * x  # in place: kept is y, and sees the new values
        y *= 3
        assert y is kept
        y.sum().backward()
        first = x.grad.clone() if lib is torch else x.grad.copy()
        # A constant accumulator that receives a value requiring grad joins the graph.
        acc = lib.zeros(3, dtype=lib.float64)
        alias = acc
        acc += x * 5
        alias.sum().backward()
        results.append((np.asarray(kept.detach()), np.asarray(first), np.asarray(x.grad), np.asarray(acc.detach())))
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-15)


def test_augmented_assignment_on_a_tensor_already_used_in_the_graph_raises():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = y * 3  # y is an input of z's operation: a write into y cannot be re-routed
    with pytest.raises(RuntimeError, match="already an input of an operation"):
        y += 1
    (z + y).sum().backward()  # nothing changed
    np.testing.assert_array_equal(x.grad, [8.0, 8.0])


def test_an_in_place_write_into_an_output_its_operation_saved_raises_at_backward_as_torch():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x.sigmoid()  # saves its output
    y += 1
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y.sum().backward()


@pytest.mark.parametrize("view", ["z[0]", "z[:, 1:]", "z.reshape(6)", "z.t()", "z.diagonal()"])
@pytest.mark.parametrize("op", ["+=", "-=", "*=", "/=", "**="])
def test_augmented_assignment_on_a_view_of_a_kept_graph_tensor_is_recorded_in_it(view, op):
    # As PyTorch: the write goes through the view into z, and z's graph records it (z's
    # gradient at the view's positions goes through the operation, elsewhere straight on).
    start = np.array([[0.5, 1.2, 2.0], [0.3, 0.7, 0.4]])  # (positive: z ** 1.5 is real)

    def program(x):
        z = x * 2
        scope = {"v": eval(view)}
        exec(f"v {op} 1.5", scope)
        return z, scope["v"]

    x = mg.tensor(start, requires_grad=True)
    z, v = program(x)
    (z * z).sum().backward()
    with mg.no_grad():  # (plain NumPy writes through the view)
        expected, expected_view = program(mg.tensor(start))
    np.testing.assert_array_equal(z.data, expected.data)
    np.testing.assert_array_equal(v.data, expected_view.data)

    def squares(values):
        with mg.no_grad():
            return program(mg.tensor(values))[0].data ** 2

    np.testing.assert_allclose(x.grad, numeric_grad(squares, [start], 0), rtol=1e-6, atol=1e-8)


def test_augmented_assignment_on_a_view_nobody_else_sees_is_recorded_out_of_place():
    x = mg.tensor([[0.5, -1.2, 2.0], [0.3, 0.7, -0.4]], requires_grad=True)
    h = (x * 2).reshape(6)  # the product is held by the graph only
    h += 1
    (h * h).sum().backward()
    np.testing.assert_allclose(x.grad, 4 * (2 * x.data + 1))


def test_augmented_assignment_on_a_view_of_a_leaf_that_requires_grad_raises_as_pytorch():
    w = mg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    for view in (w[0], w.reshape(4), w.t()):
        with pytest.raises(RuntimeError, match="view of a leaf tensor that requires grad"):
            view += 1
    np.testing.assert_array_equal(w.data, [[1.0, 2.0], [3.0, 4.0]])
    with mg.no_grad():  # a hand-written update through a view: in place
        row = w[0]
        row -= 1
    np.testing.assert_array_equal(w.data, [[0.0, 1.0], [3.0, 4.0]])


def test_a_value_that_requires_grad_written_through_a_view_of_a_plain_tensor_is_recorded_in_it():
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    buffer = mg.zeros((2, 3))
    row = buffer[0]
    row += 1  # a constant: written in place
    row += x * 2  # as PyTorch: buffer joins the graph, and row is its first row
    np.testing.assert_array_equal(buffer.data, [[3.0, 5.0, 7.0], [0.0, 0.0, 0.0]])
    (buffer * buffer).sum().backward(retain_graph=True)
    np.testing.assert_allclose(x.grad, 4 * (1 + 2 * x.data))
    x.grad = None
    (row * 3).sum().backward()
    np.testing.assert_allclose(x.grad, [6.0, 6.0, 6.0])


def test_power_assignment_is_in_place_as_the_other_operators():
    base = mg.tensor([[1.0, 2.0], [3.0, 4.0]])
    row = base[0]
    row **= 2
    np.testing.assert_array_equal(base.data, [[1.0, 4.0], [3.0, 4.0]])
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    y **= 3  # in the graph: recorded as y = y ** 3
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, 3 * x.data**2)


def test_gradients_accumulate_in_place_into_grad_as_pytorchs():
    x = mg.tensor([0.5, -1.2], requires_grad=True)
    (x * x).sum().backward()
    kept = x.grad
    (x * 3).sum().backward()
    assert x.grad is kept
    np.testing.assert_allclose(kept, 2 * x.data + 3)


@pytest.mark.parametrize("method", ["add_", "mul_", "zero_", "clamp_"])
def test_in_place_methods_on_a_graph_tensor_are_recorded_as_torch(method, torch):
    args = {"add_": (1.0,), "mul_": (2.0,), "zero_": (), "clamp_": (0.0, 2.5)}[method]
    results = []
    for lib in (mg, torch):
        x = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
        h = x * 2
        assert getattr(h, method)(*args) is h
        (h * lib.tensor([1.0, 3.0], dtype=lib.float64)).sum().backward()
        results.append((np.asarray(h.detach()), np.asarray(x.grad)))
        saved = x.sigmoid()  # sigmoid saved its output: writing it in place breaks backward, as in PyTorch
        getattr(saved, method)(*args)
        with pytest.raises(RuntimeError, match=r"modified by an in-?place operation"):
            saved.sum().backward()
    for ours, theirs in zip(*results):
        np.testing.assert_array_equal(ours, theirs)


def test_writing_a_value_that_requires_grad_into_a_tensor_is_recorded_as_torch(torch):
    results = []
    for lib in (mg, torch):
        x = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
        buffer = lib.zeros(2, dtype=lib.float64)
        buffer[0] = x[1] * 2
        other = lib.zeros(2, dtype=lib.float64).copy_(x * 3)
        total = lib.zeros(2, dtype=lib.float64)
        total.add_(x)
        (buffer * 5 + other + total * 7).sum().backward()
        results.append((np.asarray(buffer.detach()), np.asarray(other.detach()), np.asarray(x.grad)))
    for ours, theirs in zip(*results):
        np.testing.assert_array_equal(ours, theirs)


def test_writing_at_repeated_positions_in_the_graph_is_refused():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    buffer = mg.zeros(3)
    with pytest.raises(InvalidArgumentError, match="more than once"):
        buffer[np.array([0, 0])] = x


# -- version counters -----------------------------------------------------------------------
def _model_and_loss():
    model = nn.MLP(2, (4,), 1, rng=0)
    X, y = mg.data.make_xor_easy()
    return model, nn.MSELoss()(model(mg.tensor(X)), mg.tensor(y))


@pytest.mark.parametrize("make", [optim.SGD, optim.Adam])
def test_optimizer_step_between_forward_and_backward_raises(make):
    model, loss = _model_and_loss()
    for p in model.parameters():
        p.grad = np.ones_like(p.data)
    make(model.parameters(), lr=0.1).step()
    with pytest.raises(RuntimeError, match=f"{MODIFIED}.*version (\\d+), expected (?!\\1)\\d+"):
        loss.backward()


def test_editing_a_sigmoid_output_raises_naming_it():
    x = mg.tensor([0.0], requires_grad=True)
    h = x.sigmoid()
    with mg.no_grad():
        h.mul_(0)
    with pytest.raises(RuntimeError, match=f"{MODIFIED}: the output of sigmoid, version 1, expected 0"):
        h.sum().backward()


def test_setitem_on_a_weight_after_forward_raises():
    w = mg.tensor([1.0, 2.0], requires_grad=True, name="w")
    loss = (w * w).sum()
    with mg.no_grad():
        w[0] = 100
    with pytest.raises(RuntimeError, match=f"{MODIFIED}: input 0 of mul \\(the leaf tensor 'w' of shape"):
        loss.backward()


def test_editing_a_detached_copy_raises():
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x).sum()
    x.detach().mul_(10)
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.backward()


def test_editing_through_a_view_raises():
    w = mg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    loss = (w * w).sum()
    with mg.no_grad():
        row = w[0]
        row.add_(1.0)
    assert w._version == row._version == 1
    with pytest.raises(RuntimeError, match=MODIFIED):
        loss.backward()


def test_retained_graph_refuses_a_second_backward_after_a_step():
    model, loss = _model_and_loss()
    loss.backward(retain_graph=True)
    optim.SGD(model.parameters(), lr=0.1).step()
    with pytest.raises(RuntimeError, match=MODIFIED):
        loss.backward()


def test_changes_that_backward_does_not_need_do_not_raise():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    b = mg.tensor([3.0, 4.0], requires_grad=True)
    y = (x * x + b).sum()  # add saves nothing, so b may change
    with mg.no_grad():
        b.mul_(10)
    y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])


def test_step_after_backward_then_a_new_forward_trains_normally():
    model, _ = _model_and_loss()
    X, y = mg.data.make_xor_easy()
    opt = optim.SGD(model.parameters(), lr=0.5)
    before = [p._version for p in model.parameters()]
    for _ in range(3):
        opt.zero_grad()
        nn.MSELoss()(model(mg.tensor(X)), mg.tensor(y)).backward()
        opt.step()
    assert [p._version for p in model.parameters()] == [v + 3 for v in before]


def test_writes_through_data_are_not_tracked_as_in_pytorch():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    loss = (w * w).sum()
    w.data[0] = 10.0  # documented: unchecked, the backward uses the new values
    loss.backward()
    np.testing.assert_array_equal(w.grad, [20.0, 4.0])
    assert w._version == 0


def test_custom_function_saved_arrays_are_checked():
    class Cube(mg.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return 3 * x**2 * grad

    x = mg.tensor([2.0], requires_grad=True)
    y = Cube.apply(x)
    with mg.no_grad():
        x += 1
    with pytest.raises(RuntimeError, match=f"{MODIFIED}: input 0 of Cube"):
        y.backward()


def test_pytorch_agrees_on_which_sequences_raise():
    torch = pytest.importorskip("torch")
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    h = x.sigmoid()
    with torch.no_grad():
        h.mul_(0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        h.sum().backward()
    b = torch.tensor([3.0, 4.0], requires_grad=True)
    y = (x * x + b).sum()
    with torch.no_grad():
        b.mul_(10)
    y.backward()  # PyTorch does not raise either: add saves nothing


# -- sequences of in-place updates: the right gradient or the version error -----------------
UPDATES = {
    "add_": lambda t, v: t.add_(v),
    "sub_": lambda t, v: t.sub_(v, alpha=0.5),
    "mul_": lambda t, v: t.mul_(1 + v),
    "div_": lambda t, v: t.div_(2 + v),
    "iadd": lambda t, v: t.__iadd__(v),
    "imul": lambda t, v: t.__imul__(v),
    "fill_": lambda t, v: t.fill_(v),
    "copy_": lambda t, v: t.copy_(np.full(t.shape, v)),
    "clamp_": lambda t, v: t.clamp_(-abs(v), abs(v)),
    "setitem": lambda t, v: t.__setitem__(0, v),
    "data": lambda t, v: t.data.__setitem__(Ellipsis, t.data),  # untracked, changes nothing
}


def _forward(w, b):
    h = (w * w * 0.5).sigmoid()  # (w * w saves w for backward: a change to w must be refused)
    return (h * 2 + w + b).sum()


def _fresh_grads(w_values, b_values):
    w = mg.tensor(w_values, requires_grad=True)
    b = mg.tensor(b_values, requires_grad=True)
    _forward(w, b).backward()
    return w.grad, b.grad


action = st.one_of(
    st.just(("forward",)),
    st.tuples(st.just("backward"), st.booleans()),
    st.tuples(st.just("update"), st.sampled_from(["w", "b"]), st.sampled_from(sorted(UPDATES)),
              st.floats(-2, 2, allow_nan=False)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(action, min_size=1, max_size=12))
def test_in_place_sequences_give_the_eager_gradient_or_the_version_error(actions):
    tensors = {
        "w": mg.tensor([0.5, -1.0, 2.0], requires_grad=True),
        "b": mg.tensor([1.0, 2.0, 3.0], requires_grad=True),
    }
    graph = None  # (loss, w values, b values at forward time, w changed since)
    for step in actions:
        if step[0] == "forward":
            graph = (_forward(tensors["w"], tensors["b"]), tensors["w"].data.copy(), tensors["b"].data.copy(), False)
        elif step[0] == "update":
            _, which, name, value = step
            with mg.no_grad():
                UPDATES[name](tensors[which], value)
            if graph is not None and which == "w" and name != "data":
                graph = (*graph[:3], True)
        elif graph is not None:
            loss, w_then, b_then, w_changed = graph
            for t in tensors.values():
                t.grad = None
            retain = step[1]
            if w_changed:
                with pytest.raises(RuntimeError, match=MODIFIED):
                    loss.backward(retain_graph=retain)
                graph = None
                continue
            loss.backward(retain_graph=retain)
            w_grad, b_grad = _fresh_grads(w_then, b_then)
            np.testing.assert_array_equal(tensors["w"].grad, w_grad)
            np.testing.assert_array_equal(tensors["b"].grad, b_grad)
            if not retain:
                graph = None


def test_load_state_dict_between_forward_and_backward_raises():
    model, loss = _model_and_loss()
    before = [p._version for p in model.parameters()]
    model.load_state_dict(model.state_dict())
    assert [p._version for p in model.parameters()] == [v + 1 for v in before]
    with pytest.raises(RuntimeError, match=MODIFIED):
        loss.backward()


def test_second_backward_after_an_in_place_write_says_the_graph_was_released():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    loss = (w * w).sum()
    loss.backward()
    with mg.no_grad():
        w -= 0.1 * w.grad
    with pytest.raises(RuntimeError, match="second time"):
        loss.backward()


@pytest.mark.parametrize("make", [lambda x: x * 3, lambda x: x * mg.tensor([1.0, 2.0, 3.0]),
                                  lambda x: mg.where(x > 0, x, x * 2), lambda x: x @ mg.tensor(np.ones((3, 2))),
                                  lambda x: mg.nn.functional.linear(x, mg.tensor(np.ones((2, 3))))])
def test_an_input_no_needed_gradient_uses_may_change_before_backward_as_in_pytorch(make):
    # PyTorch saves only what the needed gradients use: x's own values are not among them here.
    x = mg.tensor([0.5, -1.2, 2.0], requires_grad=True)
    y = make(x)
    reference = mg.tensor(x.data.copy(), requires_grad=True)
    make(reference).sum().backward()
    with mg.no_grad():
        x.add_(1.0)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, reference.grad)


@pytest.mark.parametrize("make", [lambda x, w: x * w, lambda x, w: x @ w.reshape(3, 1),
                                  lambda x, w: mg.nn.functional.linear(x, w.reshape(1, 3))])
def test_an_input_a_needed_gradient_uses_may_not_change_before_backward(make):
    x = mg.tensor([0.5, -1.2, 2.0], requires_grad=True)
    w = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = make(x, w)
    with mg.no_grad():
        x.add_(1.0)
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.sum().backward()


# == results with memory of their own, as PyTorch's (NumPy's would be views) ======================
COPYING = {
    "flip": lambda lib, t: t.flip(0),
    "fliplr": lambda lib, t: lib.fliplr(t),
    "flipud": lambda lib, t: lib.flipud(t),
    "rot90": lambda lib, t: lib.rot90(t, 1, (0, 1)),
    "rot90 k=0": lambda lib, t: lib.rot90(t, 0, (0, 1)),
    "rot90 k=2": lambda lib, t: lib.rot90(t, 2, (0, 1)),
    "diag": lambda lib, t: lib.diag(t),
    "repeat (1, 1)": lambda lib, t: t.repeat(1, 1),
    "repeat of a row": lambda lib, t: t[:1].repeat(3, 1),
    "tile": lambda lib, t: lib.tile(t[:1], (3, 1)),
}


@pytest.mark.parametrize("name", COPYING)
def test_results_that_are_copies_in_torch_do_not_see_later_writes(torch, name):
    results = []
    for lib in (mg, torch):
        source = lib.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=lib.float64)
        result = COPYING[name](lib, source)
        source.add_(10.0)
        result.add_(1.0)  # writable, and not into the source
        results.append((np.asarray(result), np.asarray(source)))
    for ours, theirs in zip(*results):
        np.testing.assert_array_equal(ours, theirs)


# == recorded in-place writes: the corners =======================================================
IN_PLACE_CASES = {
    "sub_ with alpha": lambda lib, x: (lambda y: (y.sub_(x.exp(), alpha=0.5), y)[1])(x * 1.0),
    "add_ with alpha": lambda lib, x: (lambda y: (y.add_(x * x, alpha=2.0), y)[1])(x * 1.0),
    "y += y": lambda lib, x: (lambda y: (y.__iadd__(y), y)[1])(x * 2),
    "y.add_(y)": lambda lib, x: (lambda y: (y.add_(y), y)[1])(x * 2),
    "y.copy_(y)": lambda lib, x: (lambda y: (y.copy_(y), y)[1])(x * 2),
    "x ** 3, then add_": lambda lib, x: (lambda y: (y.add_(2.0), y)[1])(x**3),
    "plain buffer add_ with alpha": lambda lib, x: (lambda b: (b.add_(x[0], alpha=2.0), b)[1])(
        lib.zeros(3, dtype=lib.float64)),
}


@pytest.mark.parametrize("case", IN_PLACE_CASES)
def test_recorded_in_place_corners_match_torch(case, torch):
    results = []
    for lib in (mg, torch):
        x = lib.tensor([1.0, -2.0, 0.5], dtype=lib.float64, requires_grad=True)
        y = IN_PLACE_CASES[case](lib, x)
        (y * y).sum().backward(retain_graph=True)  # (a cycle in the graph would never end here)
        results.append((np.asarray(y.detach()), np.asarray(x.grad)))
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-14)


def test_a_write_through_a_view_is_seen_by_an_alias_of_the_base(torch):
    results = []
    for lib in (mg, torch):
        x = lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64, requires_grad=True)
        z = x * 2
        alias = z.detach()
        view = z[0:2]
        del z
        view += 1
        view.sum().backward()
        results.append((np.asarray(alias), np.asarray(x.grad)))
    for ours, theirs in zip(*results):
        np.testing.assert_array_equal(ours, theirs)


def test_dropout_with_inplace_writes_its_input(torch):
    from microgradnp.nn import functional as F

    for name, shape in (("dropout", (2, 8)), ("dropout1d", (2, 8, 4)), ("dropout2d", (2, 8, 4, 4)),
                        ("alpha_dropout", (2, 8)), ("feature_alpha_dropout", (2, 8, 4))):
        x = mg.tensor(np.ones(shape), requires_grad=True)
        y = x * 1.0
        assert getattr(F, name)(y, 0.5, True, True, rng=0) is y
        assert not np.all(y.data == 1.0)
        y.sum().backward()
        assert x.grad is not None
        evaluated = mg.tensor(np.ones(shape)) * 1.0
        assert getattr(F, name)(evaluated, 0.5, False, True) is evaluated and evaluated._version == 0
    layer, data = nn.Dropout(0.5, inplace=True, rng=0), mg.tensor(np.ones(50))
    assert layer(data) is data and np.count_nonzero(data.data) < 50


def test_a_compiled_step_with_an_in_place_write_runs_eagerly_so_every_alias_sees_it():
    x = mg.tensor([1.0, -2.0, 3.0], requires_grad=True)

    def step(x):
        y = x * 2
        alias = y.detach()
        y += 1
        y.relu_()
        y.sum().backward()
        return alias

    compiled = mg.compile(step)
    with pytest.warns(UserWarning, match="in-place write"):
        first = compiled(x)
    np.testing.assert_array_equal(first.data, [3.0, 0.0, 7.0])
    np.testing.assert_array_equal(compiled(x).data, step(x).data)


@pytest.mark.parametrize("index", [Ellipsis, slice(None), [0, 1]])
def test_assigning_a_tensor_into_itself_is_recorded_without_a_cycle(index):
    # v[...] = v made the new node its own input: backward never returned
    x = mg.tensor(np.array([1.0, 3.0]), requires_grad=True)
    v = 2.0 - x
    v[index] = v
    (v * v).sum().backward(retain_graph=True)
    np.testing.assert_array_equal(v.data, [1.0, -1.0])
    np.testing.assert_array_equal(x.grad, [-2.0, 2.0])


def test_a_recorded_write_drops_the_values_leading_ones_as_numpy():
    x = mg.tensor(np.zeros((2, 3)), requires_grad=True)
    row = mg.ones(1, 3, requires_grad=True)
    v = x * 2
    v[0] = row * 3  # shape (1, 3) into a row of 3: NumPy and PyTorch accept it
    v.sum().backward()
    np.testing.assert_array_equal(v.data, [[3.0] * 3, [0.0] * 3])
    np.testing.assert_array_equal(x.grad, [[0.0] * 3, [2.0] * 3])
    np.testing.assert_array_equal(row.grad, [[3.0] * 3])


def test_a_recorded_write_of_a_value_that_does_not_fit_says_so():
    v = mg.tensor(np.zeros((2, 3)), requires_grad=True) * 2
    with pytest.raises(ValueError, match=r"shape \(2, 3\) cannot be broadcast to the shape \(3,\)"):
        v[0] = mg.ones(2, 3)


def test_an_advanced_index_gives_a_contiguous_tensor_as_pytorch():
    t = mg.tensor(np.arange(6.0).reshape(2, 3))
    picked = t[:, [2, 0, 1]]  # NumPy lays this copy out transposed
    assert picked.view(-1).shape == (6,)
    picked.reshape(-1).zero_()  # a view of it, as in PyTorch: the write reaches it
    assert not picked.data.any()
    assert t.data.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]


def test_a_division_by_a_number_does_not_need_the_dividend_as_pytorch():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    y = w / 3.0
    with mg.no_grad():
        w.add_(1)  # x / 3 saves only the 3: changing x before backward is fine
    y.sum().backward()
    np.testing.assert_allclose(w.grad, [1 / 3, 1 / 3])
    a, b = mg.tensor([1.0, 2.0], requires_grad=True), mg.tensor([2.0, 4.0], requires_grad=True)
    quotient = a / b  # b's gradient reads a: changing a must raise
    with mg.no_grad():
        a.add_(1)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        quotient.sum().backward()
