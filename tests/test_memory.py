"""After a backward without retain_graph, a kept output keeps the graph's structure but
not the values of intermediate tensors nobody else holds."""

from __future__ import annotations

import gc
import tracemalloc
import weakref

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import microgradnp as mg
from microgradnp import nn
from microgradnp.tensor import FREED


def _loss_and_activation_refs():
    x = mg.tensor(np.linspace(-1, 1, 1000).reshape(100, 10), requires_grad=True, name="x")
    w = mg.tensor(np.ones((10, 50)) * 0.01, requires_grad=True, name="w")
    h = (x @ w).sigmoid()
    z = h * h
    loss = z.mean()
    return loss, [weakref.ref(h.data), weakref.ref(z.data)], (x, w)


@pytest.mark.parametrize("retain_graph", [False, True])
def test_a_kept_loss_keeps_activations_only_with_retain_graph(retain_graph):
    loss, refs, _ = _loss_and_activation_refs()
    assert all(r() is not None for r in refs)
    loss.backward(retain_graph=retain_graph)
    gc.collect()
    assert all((r() is not None) == retain_graph for r in refs)


def test_activations_the_user_holds_stay():
    x = mg.tensor(np.ones((4, 3)), requires_grad=True)
    h = x.sigmoid()
    loss = (h * h).sum()
    loss.backward()
    np.testing.assert_array_equal(h.data, 1 / (1 + np.exp(-np.ones((4, 3)))))


def test_forty_kept_losses_cost_no_activation_memory():
    model = nn.MLP(10, (200, 200), 1, rng=0)
    X = mg.tensor(np.random.default_rng(0).normal(size=(500, 10)))
    y = np.zeros((500, 1))

    def step(history):
        model.zero_grad()
        loss = nn.MSELoss()(model(X), y)
        loss.backward()
        history.append(loss)

    history = []
    step(history)
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(40):
            step(history)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    one_step_activations = 500 * 200 * 8 * 4  # two hidden layers, before and after the sigmoid
    assert grown < one_step_activations, f"40 kept losses hold {grown / 2**20:.1f} MiB"


def test_drawing_after_backward_has_every_node_and_says_which_values_were_freed():
    loss, _, _ = _loss_and_activation_refs()
    before = mg.viz.draw_graph(loss).source
    loss.backward()
    after = mg.viz.draw_graph(loss).source
    assert after.count("->") == before.count("->")
    assert after.count("label=") == before.count("label=")
    assert after.count("freed by backward") == 3  # matmul, sigmoid and mul outputs
    assert "retain_graph=True" in after
    assert "grad " in after  # the leaves' gradients are drawn


def test_drawing_uses_an_intermediate_the_user_still_holds():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = x.sigmoid()
    h.name = "h"
    loss = (h * 3).sum()
    loss.backward()
    source = mg.viz.draw_graph(loss).source
    assert source.count("freed by backward") == 1  # h * 3; h itself is drawn with its values
    assert source.count('label="h') == 1
    assert "[0.7311, 0.8808]" in source


def test_freed_values_raise_a_clear_error_and_a_second_backward_still_refuses():
    loss, _, _ = _loss_and_activation_refs()
    loss.backward()
    shell = loss._node.inputs[0]
    assert shell.data is FREED and shell.op == "mul" and "freed by backward" in repr(shell)
    uses = [lambda: shell.shape, lambda: np.asarray(shell), lambda: shell.numpy(), lambda: shell + 1,
            lambda: 2 * shell, lambda: shell @ shell, lambda: shell.sum(), lambda: shell.detach() * 2,
            lambda: np.ones(1) + shell.data, lambda: float(shell.data)]
    for use in uses:
        with pytest.raises(RuntimeError, match=r"freed by backward.*retain_graph=True"):
            use()
    with pytest.raises(RuntimeError, match="second time"):
        loss.backward()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["sigmoid", "mul", "add", "sum0"]), st.integers(0, 10**6)), min_size=1,
                max_size=8), st.sets(st.integers(0, 8)))
def test_backward_frees_exactly_the_intermediates_nothing_else_holds(ops, held_positions):
    x = mg.tensor(np.linspace(0.1, 0.9, 6).reshape(2, 3), requires_grad=True)
    chain = [x]
    for op, pick in ops:
        a, b = chain[-1], chain[pick % len(chain)]
        if op == "sum0":
            y = a.sum(axis=0, keepdims=True) * 1.0
        elif op == "sigmoid":
            y = a.sigmoid()
        else:
            y = a * b if op == "mul" else a + b
        chain.append(y)
    loss = chain[-1].sum()
    held = {i: chain[i] for i in held_positions if 0 < i < len(chain)}
    values = {i: t.data.copy() for i, t in held.items()}
    refs = [weakref.ref(t.data) for t in chain[1:]]
    del chain, y, a, b
    loss.backward()
    gc.collect()
    for i, t in held.items():  # held tensors keep their values
        np.testing.assert_array_equal(t.data, values[i])
    alive = sum(r() is not None for r in refs)
    assert alive == len(held)
    mg.viz.draw_graph(loss)  # freed or not, the graph draws


def test_a_tensor_held_in_a_container_or_another_graph_keeps_its_values():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = x.sigmoid()
    expected = h.data.copy()
    kept = {"h": h}
    del h
    (kept["h"] * 2).sum().backward()
    np.testing.assert_array_equal(kept["h"].data, expected)

    h = x.sigmoid()
    other = h * 5  # a graph that the backward below does not walk also holds h
    loss = (h * 2).sum()
    del h
    loss.backward()
    held_by_other = other._node.inputs[0]
    assert held_by_other.data is not FREED
    np.testing.assert_array_equal(held_by_other.data, expected)
