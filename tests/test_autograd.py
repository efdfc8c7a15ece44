"""The graph walk: accumulation, graph shapes that broke other small engines,
retain_graph and released buffers, non-leaf grads, hooks, grad modes."""

from __future__ import annotations

import gc
import sys
import weakref

import numpy as np
import pytest

import microgradnp as mg


def leaf(values, dtype=np.float64):
    return mg.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# -- graph shapes ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda x: x * x, lambda v: 2 * v),
        (lambda x: x + x, lambda v: np.full_like(v, 2.0)),
        (lambda x: x - x, lambda v: np.zeros_like(v)),
        (lambda x: x / x, lambda v: np.zeros_like(v)),
        (lambda x: x * x * x, lambda v: 3 * v**2),
        # a diamond: one value feeds two branches that meet again
        (lambda x: (lambda h: h.sin() * h.exp())(x * 2.0),
         lambda v: 2 * (np.cos(2 * v) + np.sin(2 * v)) * np.exp(2 * v)),
        # a reused sub-expression, consumed at three depths
        (lambda x: (lambda h: h + h * h + (h * h) * h)(x.tanh()), lambda v: (1 + 2 * np.tanh(v) + 3 * np.tanh(v) ** 2)
         * (1 - np.tanh(v) ** 2)),
    ],
    ids=["x*x", "a+a", "x-x", "x/x", "x*x*x", "diamond", "reused-subexpression"],
)
def test_node_used_several_times_gets_the_sum_of_its_gradients(build, expected):
    values = np.array([-1.3, 0.2, 0.7])
    x = leaf(values)
    build(x).sum().backward()
    np.testing.assert_allclose(x.grad, expected(values), rtol=1e-12, atol=1e-12)


def test_same_leaf_through_many_paths_of_different_lengths():
    x = leaf([0.5])
    total = x
    h = x
    for _ in range(5):
        h = h * 1.5
        total = total + h  # x * (1 + 1.5 + 1.5^2 + ... + 1.5^5)
    total.sum().backward()
    assert x.grad[0] == pytest.approx(sum(1.5**k for k in range(6)))


def test_tensors_with_equal_values_stay_distinct():
    a, b = leaf([2.0, 3.0]), leaf([2.0, 3.0])
    (a * 3.0 + b * 5.0).sum().backward()
    np.testing.assert_array_equal(a.grad, [3.0, 3.0])
    np.testing.assert_array_equal(b.grad, [5.0, 5.0])
    assert len({a, b}) == 2  # hashing by identity, although a == b elementwise


def test_leaf_grad_has_leaf_shape_and_dtype_and_is_its_own_array():
    w = leaf(np.ones((3, 1)), np.float32)
    v = leaf(np.ones((3, 1)), np.float32)
    x = mg.tensor(np.ones((4, 3, 5), dtype=np.float32))
    (x * w + x * v).sum().backward()
    assert w.grad.shape == (3, 1) and w.grad.dtype == np.float32
    np.testing.assert_array_equal(w.grad, np.full((3, 1), 20.0))
    w.grad += 1  # must not change v.grad, although both got the same gradient
    np.testing.assert_array_equal(v.grad, np.full((3, 1), 20.0))


def test_unused_leaf_and_constant_operands_get_no_grad():
    x, unused = leaf([1.0, 2.0]), leaf([3.0])
    constant = mg.tensor([4.0, 5.0])
    (x * constant).sum().backward()
    np.testing.assert_array_equal(x.grad, [4.0, 5.0])
    assert unused.grad is None and constant.grad is None


# -- accumulation, retain_graph, released buffers ------------------------------------------
def test_gradients_accumulate_across_backward_calls_until_zero_grad():
    x = leaf([1.0, -2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad, 2 * (2 * np.array([1.0, -2.0])))
    x.zero_grad()
    assert x.grad is None
    y.backward()
    np.testing.assert_array_equal(x.grad, 2 * np.array([1.0, -2.0]))


def test_second_backward_without_retain_graph_says_to_retain_it():
    x = leaf([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_a_new_graph_from_the_same_leaves_backwards_again():
    x = leaf([1.0, 2.0])
    for _ in range(2):
        (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [6.0, 6.0])


def test_saved_arrays_are_released_after_backward():
    # abs saves a sign array of its own (not a tensor's data, which the graph keeps
    # for drawing it), so only the saved-for-backward reference keeps it alive.
    x = leaf(np.random.default_rng(0).standard_normal(1000))
    h = abs(x)
    saved = weakref.ref(h.grad_fn.saved_tensors[0])
    y = (h * x).sum()
    del h
    gc.collect()
    assert saved() is not None  # still needed by the graph
    y.backward()
    gc.collect()
    assert saved() is None


def test_retain_graph_keeps_saved_arrays():
    x = leaf([0.5, 1.5])
    h = abs(x)
    saved = weakref.ref(h.grad_fn.saved_tensors[0])
    y = h.sum()
    y.backward(retain_graph=True)
    gc.collect()
    assert saved() is not None


# -- non-leaf gradients, hooks ---------------------------------------------------------------
def test_non_leaf_grads_are_freed_unless_retained():
    x = leaf([1.0, 2.0])
    h = x * 3.0
    kept = x * 4.0
    kept.retain_grad()
    (h * kept).sum().backward()
    with pytest.warns(UserWarning, match="not a leaf"):
        assert h.grad is None
    np.testing.assert_array_equal(kept.grad, 3.0 * np.array([1.0, 2.0]))
    assert kept.is_leaf is False and x.is_leaf is True


def test_retain_grad_accumulates_over_backward_calls():
    x = leaf([1.0, 2.0])
    h = x * 2.0
    h.retain_grad()
    y = (h * h).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(h.grad, 2 * 2 * (2.0 * np.array([1.0, 2.0])))


def test_hooks_see_and_may_replace_the_gradient_of_leaves_and_intermediates():
    x = leaf([1.0, 2.0])
    h = x * 3.0
    seen = []
    h.register_hook(lambda g: seen.append(np.array(g)))
    x.register_hook(lambda g: g * 10.0)
    (h * h).sum().backward()
    np.testing.assert_array_equal(seen[0], 2 * 3.0 * np.array([1.0, 2.0]))
    np.testing.assert_array_equal(x.grad, 10.0 * 3.0 * seen[0])


def test_hook_on_intermediate_changes_what_flows_further_down():
    x = leaf([1.0, 2.0])
    h = x * 3.0
    handle = h.register_hook(lambda g: g * 0.0)
    h.sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])
    handle.remove()
    x.zero_grad()
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])


def test_register_hook_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.tensor([1.0]).register_hook(print)


# -- grad modes, detach ----------------------------------------------------------------------
def test_no_grad_records_nothing_and_enable_grad_records_again():
    x = leaf([1.0, 2.0])
    with mg.no_grad():
        y = x * 2.0
        assert not mg.is_grad_enabled()
        with mg.enable_grad():
            z = x * 2.0
    assert mg.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf and y.op is None
    assert z.requires_grad and z.op == "mul"


@pytest.mark.parametrize("decorator", [mg.no_grad(), mg.no_grad], ids=["no_grad()", "no_grad"])
def test_no_grad_as_decorator(decorator):
    @decorator
    def double(t):
        return t * 2.0

    assert double.__name__ == "double"
    assert not double(leaf([1.0])).requires_grad
    assert mg.is_grad_enabled()


def test_grad_mode_restored_after_exception():
    with pytest.raises(ValueError), mg.no_grad():
        raise ValueError
    assert mg.is_grad_enabled()


def test_set_grad_enabled():
    x = leaf([1.0])
    with mg.set_grad_enabled(False):
        assert not (x * 2.0).requires_grad
    with mg.set_grad_enabled(True):
        assert (x * 2.0).requires_grad


def test_detach_cuts_the_graph_but_shares_data():
    x = leaf([1.0, 2.0])
    d = (x * 2.0).detach()
    assert d.is_leaf and not d.requires_grad
    y = (x * d).sum()  # d acts as a constant
    y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])


def test_parameter_update_under_no_grad_does_not_touch_the_graph():
    w = leaf([1.0, 2.0])
    (w * w).sum().backward()
    with mg.no_grad():
        w -= 0.1 * mg.tensor(w.grad)
    assert w.is_leaf or not w.requires_grad  # an out-of-place update gives a fresh value
    np.testing.assert_allclose(np.asarray(w), [0.8, 1.6])


# -- bad input gives one clear error ---------------------------------------------------------
def test_backward_on_non_scalar_needs_grad():
    y = leaf([1.0, 2.0]) * 2.0
    with pytest.raises(RuntimeError, match=r"shape \(2,\).*grad="):
        y.backward()
    y.backward(np.array([1.0, -1.0]))


def test_backward_grad_of_wrong_shape():
    y = leaf([1.0, 2.0]) * 2.0
    with pytest.raises(RuntimeError, match=r"grad has shape \(3,\)"):
        y.backward(np.ones(3))


def test_backward_on_tensor_without_graph():
    with pytest.raises(RuntimeError, match="requires_grad=True"):
        mg.tensor([1.0]).sum().backward()


def test_backward_with_upstream_gradient_is_a_vector_jacobian_product():
    x = leaf([1.0, 2.0, 3.0])
    v = np.array([0.5, -1.0, 2.0])
    (x * x).backward(v)
    np.testing.assert_array_equal(x.grad, v * 2 * np.array([1.0, 2.0, 3.0]))


def test_requires_grad_false_on_a_computed_tensor_is_refused():
    y = leaf([1.0]) * 2.0
    with pytest.raises(RuntimeError, match="detach"):
        y.requires_grad_(False)


# -- depth -----------------------------------------------------------------------------------
def test_backward_through_a_million_op_chain_without_recursion():
    """The walk is iterative: a recursive one would hit Python's recursion limit.
    The recursion limit is lowered so that even a few recursive levels per node fail."""
    x = leaf(1.0)
    y = x
    n = 1_000_000
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a million objects without cycles; the collector would only slow this down
    try:
        for _ in range(n):
            y = y * 1.0000001
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(200)
        try:
            y.backward()
        finally:
            sys.setrecursionlimit(limit)
    finally:
        if gc_was_enabled:
            gc.enable()
    assert x.grad == pytest.approx(1.0000001**n, rel=1e-9)


def test_graph_memory_is_released_as_backward_walks():
    """Without retain_graph, backward frees each node's saved arrays as it goes, so the
    chain's intermediate values do not outlive the walk."""
    x = leaf(np.ones(10_000))
    y = x
    refs = []
    for _ in range(50):
        y = abs(y - 0.5)
        refs.append(weakref.ref(y.grad_fn.saved_tensors[0]))
    y.sum().backward()
    gc.collect()
    assert all(r() is None for r in refs)


def test_topological_order_lists_every_node_after_its_inputs():
    from microgradnp.autograd.engine import topological_order

    x = leaf([1.0])
    a = x * 2.0
    b = a.exp()
    c = a + b
    d = c * b
    order = topological_order([d])
    position = {id(t): i for i, t in enumerate(order)}
    assert set(position) == {id(a), id(b), id(c), id(d)}
    for t in order:
        for parent in t.grad_fn.inputs:
            if isinstance(parent, mg.Tensor) and parent.grad_fn is not None:
                assert position[id(parent)] < position[id(t)]
