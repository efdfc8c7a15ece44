"""In-place writes into a tensor of the graph whose earlier uses the written value is
computed from (``x[0] = x[1] * w``, ``x[mask] += 1``, ``h[t] = f(h[t - 1])``): those uses
are re-routed to the old version, as PyTorch's graph records them; a use the value does
not come from is refused with one clear error, never a wrong gradient."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import numeric_grad
from hypothesis import given, settings
from hypothesis import strategies as st

import microgradnp as mg

A = np.array([[0.3, -1.2, 2.0], [0.7, 1.5, -0.4]])
B = np.array([0.9, -0.6])


def _tensors(lib):
    if lib == "mg":
        return mg.tensor(A, requires_grad=True), mg.tensor(B, requires_grad=True)
    import torch

    return torch.tensor(A, requires_grad=True), torch.tensor(B, requires_grad=True)


def _zeros(lib, *shape):
    if lib == "mg":
        return mg.zeros(shape)
    import torch

    return torch.zeros(*shape, dtype=torch.float64)


def mask_add(lib, a, b):
    x = a * 2
    x[x > 1] += 1
    return x * x


def advanced_add(lib, a, b):
    x = a * 2
    x[[0, 1], [0, 0]] += b
    return x * x


def row_from_row(lib, a, b):
    x = a * 2
    x[0] = x[1] + b[0]
    return x * x


def row_from_itself(lib, a, b):
    x = a + 1.0
    x[0] = x[0].tanh() * b[1]  # (tanh saves its own output: x[0], which the write changes, is not saved)
    return x * a


def recurrence(lib, a, b):
    h = _zeros(lib, 3, 2)
    h[0] = b * 2
    for t in range(1, 3):
        h[t] = h[t - 1].tanh() * b + a[0, :2]
    return h


def two_writes(lib, a, b):
    x = a * 1
    z = x[0] + x[1]
    x[1] = z * b[0]
    x[0] = x[1] * 2
    return x * x


def scalar_after_mask(lib, a, b):
    x = a * 2
    x[x > 1] = 0
    x[[1], [2]] += b[0]
    return x * x


CASES = [mask_add, advanced_add, row_from_row, row_from_itself, recurrence, two_writes, scalar_after_mask]


def _array(t):
    """A Tensor's values (torch's or ours) or an array (microgradnp's .grad) as an ndarray."""
    return np.asarray(t.detach() if hasattr(t, "detach") else t)


def _run(case, lib):
    a, b = _tensors(lib)
    out = case(lib, a, b)
    (out * out).sum().backward()
    grads = [np.zeros(v.shape) if g is None else _array(g) for g, v in ((a.grad, A), (b.grad, B))]
    return [_array(out), *grads]


def _assert_finite_differences(program, a0=A, b0=B, rtol=1e-6):
    """``program(a, b)``'s gradients of sum(out ** 2) as central finite differences give them."""
    a, b = mg.tensor(a0, requires_grad=True), mg.tensor(b0, requires_grad=True)
    out = program(a, b)
    (out * out).sum().backward()

    def squares(a_values, b_values):
        with mg.no_grad():
            return program(mg.tensor(a_values), mg.tensor(b_values)).data ** 2

    for leaf, index in ((a, 0), (b, 1)):
        grad = np.zeros(leaf.shape) if leaf.grad is None else leaf.grad
        np.testing.assert_allclose(grad, numeric_grad(squares, [a0, b0], index), rtol=rtol, atol=rtol / 100)


def test_a_use_the_value_does_not_come_from_is_refused():
    a, _ = _tensors("mg")
    x = a * 2
    y = x * 3  # (its gradient would otherwise flow through the write)
    with pytest.raises(RuntimeError, match="already an input of an operation"):
        x[0] = 1.0
    x.sum().backward()  # the refused write changed nothing
    np.testing.assert_array_equal(a.grad, np.full(A.shape, 2.0))
    del y


def test_a_held_view_overlapping_the_write_is_refused():
    # Re-routed, v would show the new values while its graph said the old ones.
    a, _ = _tensors("mg")
    x = a * 2
    v = x[0]
    with pytest.raises(RuntimeError, match="already an input of an operation"):
        x[0] = v * 2
    assert v.data is not None


def test_a_held_view_the_write_does_not_overlap_is_kept():
    # row is held, and the value comes from it; the write leaves its values as they were.
    torch = pytest.importorskip("torch")
    grads = []
    for lib in ("mg", "torch"):
        a, b = _tensors(lib)
        x = a * 2
        row = x[1]
        x[0] = row + b[0]
        (x.sum() + (row * row).sum()).backward()
        grads.append((_array(a.grad), _array(b.grad)))
    for ours, theirs in zip(*grads):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    assert torch  # (the oracle ran)


def test_a_saved_view_modified_raises_as_pytorch():
    # x[1]'s values are saved by the product (for b's gradient), then written: both raise.
    a, b = _tensors("mg")
    x = a * 2
    x[1] = x[1] * b[0]
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        x.sum().backward()


def test_second_derivative_through_a_rerouted_write():
    torch = pytest.importorskip("torch")
    results = []
    for lib in ("mg", "torch"):
        a, b = _tensors(lib)
        x = a * a
        x[0] = (x[1] + b[0]) * b[1]
        loss = (x * x).sum()
        if lib == "mg":
            (grad_a,) = mg.grad(loss, [a], create_graph=True)
            (second,) = mg.grad(grad_a.sum(), [a])
        else:
            (grad_a,) = torch.autograd.grad(loss, [a], create_graph=True)
            (second,) = torch.autograd.grad(grad_a.sum(), [a])
        results.append((_array(grad_a), _array(second)))
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 2),
                          st.sampled_from(["tanh*", "+", "tanh", "+="])), min_size=1, max_size=5))
def test_random_row_writes_match_finite_differences(writes):
    """Sequences of x[i] = f(x[j]) and x[[i]] += f(x[j]), written as users write them (no
    view of x kept): never refused, and gradients as finite differences."""

    def program(a, b):
        x = a * 1.5
        for i, j, k, kind in writes:
            if kind == "tanh*":
                x[i] = x[j].tanh() * b[k]
            elif kind == "+":
                x[i] = x[j] + b[k]
            elif kind == "tanh":
                x[i] = x[j].tanh()
            else:
                x[[i]] += x[j] * 0.5 + b[k]
        return x

    _assert_finite_differences(program, np.linspace(-1, 1, 8).reshape(4, 2), np.array([0.5, -1.5, 2.0]), 1e-5)


# -- writes through a view of a tensor that is held (z[:, 0] += b, z[0].mul_(w)) ----------------
def column_add(lib, a, b):
    x = a * 2
    x[:, 0] += b
    return x


def two_columns(lib, a, b):
    x = a * 2
    x[:, 0] += b
    x[:, 1] *= b
    return x


def held_view_twice(lib, a, b):
    x = a * 2
    v = x[0]
    v += b[0]
    v *= b[1]
    return x + v.sum()


def method_on_row(lib, a, b):
    x = a * 2
    x[0].mul_(b[0])
    return x


def through_transpose(lib, a, b):
    x = a * 2
    x.t()[0].add_(b[1])
    return x


def diagonal_scaled(lib, a, b):
    x = a * 2
    x.diagonal().mul_(b)
    return x


def clamp_exp_fill_copy(lib, a, b):
    x = a * 2
    x[0].clamp_(3, 5)
    x[0, 1:].fill_(3.0)
    x[:, 2].copy_(b)
    x[1].exp_()  # (last: PyTorch's check would refuse a later write into its saved output's memory)
    return x * b[1]


def base_written_after_its_view(lib, a, b):
    x = a * 2
    v = x[0]
    v += b[0]
    x *= 2
    return x + v.sum()


def view_of_an_output_that_saved_it(lib, a, b):
    x = a.exp()  # (exp saves its output: the write makes backward raise, as PyTorch's)
    x[0] += b[0]
    return x


VIEW_CASES = [column_add, two_columns, held_view_twice, method_on_row, through_transpose, diagonal_scaled,
              clamp_exp_fill_copy, base_written_after_its_view]


def test_a_write_through_a_view_of_an_output_its_operation_saved_raises_at_backward():
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        _run(view_of_an_output_that_saved_it, "mg")


def test_a_view_used_after_a_write_through_it_refuses_a_later_write_into_its_tensor():
    # PyTorch would give y the view's values before the second write; microgradnp cannot split
    # the view's graph there, so it refuses rather than give y the new version's gradient.
    a, b = _tensors("mg")
    x = a * 2
    v = x[0]
    v += b[0]
    y = v * 3
    with pytest.raises(RuntimeError, match="written through and used since"):
        x *= 2
    (x.sum() + y.sum()).backward()  # the refused write changed nothing
    np.testing.assert_allclose(b.grad, [3.0 + 3.0 * 3, 0.0])


def test_a_middle_view_used_elsewhere_is_refused():
    a, b = _tensors("mg")
    x = a * 2
    row = x[0]
    doubled = row * 2  # (a use of row's values before the write)
    with pytest.raises(RuntimeError, match="middle view is used elsewhere"):
        row[1:] += b
    np.testing.assert_array_equal(x.data, A * 2)
    del doubled


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["row", "column", "part", "transposed"]), st.integers(0, 1),
                          st.sampled_from(["+=", "*=", "mul_", "tanh_"]), st.integers(0, 1)), min_size=1, max_size=5))
def test_random_writes_through_views_match_finite_differences(writes):
    """Sequences of writes through temporary views (x[i] += w, x[:, j] *= w, x[i, 1:].mul_(w),
    x.t()[j].tanh_()), as users write them: never refused, gradients as finite differences."""

    def program(a, b):
        x = a * 1.5
        for where, i, op, k in writes:
            if op == "+=":
                if where == "row":
                    x[i] += b[k]
                elif where == "column":
                    x[:, i] += b[k]
                elif where == "part":
                    x[i, 1:] += b[k]
                else:
                    x.t()[i] += b[k]
                continue
            view = x[i] if where == "row" else x[:, i] if where == "column" else x[i, 1:] if where == "part" \
                else x.t()[i]
            if op == "*=":
                view *= b[k]
            elif op == "mul_":
                view.mul_(b[k])
            else:
                view.tanh_()
            del view
        return x

    _assert_finite_differences(program, rtol=1e-5)


def view_written_into_its_tensor(lib, a, b):
    x = a * 2
    v = x[0]
    v += b[0]
    x[1] = v  # (the view's values: a copy of them, with their graph)
    return x + v.sum()


def view_used_by_the_value(lib, a, b):
    x = a * 2
    v = x[0]
    v += b[0]
    x[1] = v * 2 + b[1]  # (the product used v before the write: it keeps v's values then)
    return x * v.sum()


# -- a value that requires grad written through a view of a plain tensor (buffer[0] += x) -----
def _zeros_like_a(lib):
    return _zeros(lib, *A.shape)


def buffer_row(lib, a, b):
    buffer = _zeros_like_a(lib)
    buffer[0] += a[1] * b[0]
    return buffer


def buffer_columns(lib, a, b):
    buffer = _zeros_like_a(lib)
    for i in range(3):
        buffer[:, i] += a[:, i] * b
    return buffer


def buffer_row_held(lib, a, b):
    buffer = _zeros_like_a(lib)
    row = buffer[1]
    row += a[0]
    row *= b[1]
    return buffer + row.sum()


def buffer_methods(lib, a, b):
    buffer = _zeros_like_a(lib)
    buffer[0].add_(a[1])
    buffer[1].mul_(b[0])
    return buffer


BUFFER_CASES = [buffer_row, buffer_columns, buffer_row_held, buffer_methods]


def test_a_plain_view_taken_before_its_tensor_joined_the_graph_keeps_that_graph():
    # row is taken while buffer is plain; buffer[0] = ... puts graph values in row's memory.
    # Written through, row's values must keep their dependence on a (PyTorch refuses here).
    def program(a, b):
        buffer = mg.zeros((2, 3))
        row = buffer[0:1]
        buffer[0] = a[0] * 2
        row += b[0]
        return buffer

    _assert_finite_differences(program)


def test_a_view_taken_under_no_grad_of_a_tensor_that_requires_grad_refuses_a_recorded_write():
    w = mg.tensor(A, requires_grad=True)
    with mg.no_grad():
        row = w[0]
    with pytest.raises(RuntimeError, match="view created in no_grad mode"):
        row += w[1] * 2


def test_pickles_keep_no_bookkeeping_of_views():
    import pickle

    a, b = _tensors("mg")
    x = a * 2
    x[:, 0] += b  # (x now keeps weak references to the views written through)
    copied = pickle.loads(pickle.dumps(x))
    np.testing.assert_array_equal(copied.data, x.data)
    buffer = mg.zeros((3, 1000))
    row = buffer[0]
    assert len(pickle.dumps(row)) < len(pickle.dumps(buffer))  # (the row alone, not the tensor it views)


def masked_through_a_held_view(lib, a, b):
    x = a * 2
    v = x[:]
    v[v > 1] *= b[0]  # (reads v[v > 1] first: that use takes v's old version)
    return x


def element_through_a_held_view(lib, a, b):
    x = a * 2
    v = x[:]
    v[-1, 1] *= b[1]  # (an int per axis: a 0-d view of v, written through, then set back)
    return x + v.sum()


def _indices(lib, values):
    if lib == "mg":
        return mg.tensor(values).long()
    import torch

    return torch.tensor(values)


def methods_with_values_from_the_target(lib, a, b):
    # the `_` methods whose operands come from the tensor they write: those uses take its old version
    x = a * 1
    x.copy_(x * 2 + b[0])
    x.clamp_(x.mean())
    x.masked_fill_(x > 1, x.sum())
    x.lerp_(x * 2, 0.3)
    x.index_add_(0, _indices(lib, [1]), x[0:1] * 3 + b[1])
    x[1].fill_(x[0].sum())
    return x


def self_assignments(lib, a, b):
    x = a * b[0]
    x[0] = x[0]  # (its own part: nothing changes)
    x[0:1] = x[0:1]
    x[:, 1] = x.t()[1]
    return x


ALL_CASES = [*CASES, *VIEW_CASES, view_written_into_its_tensor, view_used_by_the_value, *BUFFER_CASES,
             masked_through_a_held_view, element_through_a_held_view, methods_with_values_from_the_target,
             self_assignments]


def test_a_masked_write_through_a_view_of_an_empty_tensor():
    a, s = mg.tensor(np.zeros((0, 3)), requires_grad=True), mg.tensor(0.5, requires_grad=True)
    u = a * 2
    v = u[:]
    v[mg.tensor(np.zeros((0, 3), bool)).bool()] *= s * 1
    (u.sum() + s).backward(retain_graph=True)  # (a cycle in the graph would never end)
    assert float(s.grad) == 1.0 and a.grad.shape == (0, 3)


def test_a_write_through_a_view_of_a_0d_tensor_is_refused_before_writing():
    s = mg.tensor(0.5, requires_grad=True)
    z = s * 2 + 1
    with pytest.raises(RuntimeError, match="view of a 0-d tensor"):
        z[None].add_(1.0)
    z.backward()
    assert float(z) == 2.0 and float(s.grad) == 2.0


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.__name__)
def test_matches_finite_differences(case):
    _assert_finite_differences(lambda a, b: case("mg", a, b))


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.__name__)
def test_matches_pytorch(case):
    pytest.importorskip("torch")
    for ours, theirs in zip(_run(case, "mg"), _run(case, "torch")):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("window", ["unfold", "as_strided"])
def test_unfold_and_as_strided_show_later_writes_as_views(window):
    def windows(lib, t):
        return t.unfold(0, 2, 1) if window == "unfold" else t.as_strided((2, 2), (1, 1))

    torch = pytest.importorskip("torch")
    results = []
    for lib in (mg, torch):
        plain = lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64)
        shown = windows(lib, plain)
        plain *= 2  # (a plain tensor: the windows show it)
        a, s = lib.tensor(A[0], requires_grad=True), lib.tensor(3.0, requires_grad=True, dtype=lib.float64)
        x = a * 2
        later = windows(lib, x)
        x.mul_(s)  # (not used yet: the windows become those of the new x)
        (later * later).sum().backward()
        results.append([_array(t) for t in (shown, later, a.grad, s.grad)])
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)
