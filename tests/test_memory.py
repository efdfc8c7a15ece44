"""After a backward without retain_graph, a kept output keeps the graph's structure but
not the values of intermediate tensors nobody else holds."""

from __future__ import annotations

import gc
import tracemalloc
import weakref

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import nn


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
    assert isinstance(shell, mg.autograd.function.FreedTensor)
    assert shell.shape == (100, 50) and shell.op == "mul"
    with pytest.raises(RuntimeError, match=r"freed by backward.*retain_graph=True"):
        _ = shell.data
    with pytest.raises(RuntimeError, match="second time"):
        loss.backward()
