"""Normalization, dropout, embedding and basic layers against PyTorch (float64): the edge
cases found by probing (empty batches, parameter shapes, ...)."""

from __future__ import annotations

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import nn
from microgradnp.errors import InvalidArgumentError
from microgradnp.nn import functional as F

RNG = np.random.default_rng(7)


@pytest.mark.parametrize("shape", [(0, 3), (0, 3, 4), (2, 3, 0)])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_batch_norm_of_an_empty_batch_in_training(shape, momentum):
    torch = pytest.importorskip("torch")
    ours, theirs = nn.BatchNorm1d(3, momentum=momentum), torch.nn.BatchNorm1d(3, momentum=momentum).double()
    for _ in range(2):  # a batch with values first, so the running statistics are not the initial ones
        x = RNG.standard_normal((4, 3))
        ours(mg.tensor(x))
        theirs(torch.tensor(x))
    x = mg.tensor(np.zeros(shape), requires_grad=True)
    out = ours(x)
    expected = theirs(torch.tensor(np.zeros(shape), requires_grad=True))
    assert out.shape == tuple(expected.shape)
    out.sum().backward()
    expected.sum().backward()
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy())
    np.testing.assert_allclose(ours.running_mean.data, theirs.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.running_var.data, theirs.running_var.numpy(), rtol=1e-12)
    assert int(ours.num_batches_tracked.data) == int(theirs.num_batches_tracked)


def test_functional_batch_norm_of_an_empty_batch_keeps_the_running_statistics():
    running_mean, running_var = np.full(3, 0.5), np.full(3, 2.0)
    out = F.batch_norm(mg.tensor(np.zeros((0, 3, 2))), running_mean, running_var, training=True)
    assert out.shape == (0, 3, 2)
    np.testing.assert_array_equal(running_mean, np.full(3, 0.5))
    np.testing.assert_array_equal(running_var, np.full(3, 2.0))
    with pytest.raises(InvalidArgumentError, match="more than 1 value per channel"):
        F.batch_norm(mg.tensor(np.zeros((1, 3))), None, None, training=True)


@pytest.mark.parametrize("name, value", [("weight", np.ones((1, 3))), ("weight", np.ones((2, 3))),
                                         ("bias", np.ones(2)), ("bias", np.zeros((2, 3)))])
def test_layer_norm_refuses_a_weight_or_bias_not_of_normalized_shape(name, value):
    x = mg.tensor(RNG.standard_normal((2, 3)))
    with pytest.raises(InvalidArgumentError, match=f"{name} must have shape"):
        F.layer_norm(x, (3,), **{name: mg.tensor(value)})
    # (a (1, 3) weight broadcast onto a 1-D input would have given a (1, 3) result)
    with pytest.raises(InvalidArgumentError):
        F.layer_norm(mg.tensor(RNG.standard_normal(3)), (3,), weight=mg.tensor(np.ones((1, 3))))
    np.testing.assert_allclose(F.layer_norm(x, [3], mg.tensor(np.ones(3)), mg.tensor(np.zeros(3))).data,
                               F.layer_norm(x, 3).data)


def test_slicing_an_mlp_gives_a_sequential_of_its_layers():
    mlp = nn.MLP(2, (4,), 1, rng=0)
    head = mlp[:2]  # MLP's constructor takes layer sizes, not modules
    assert type(head) is nn.Sequential
    assert list(dict(head.named_children())) == ["fc1", "act1"]
    assert head[0] is mlp.fc1
    x = mg.tensor(RNG.standard_normal((3, 2)))
    np.testing.assert_allclose(head(x).data, mlp.act1(mlp.fc1(x)).data)

    class Stack(nn.Sequential):  # built like a Sequential: a slice keeps the class, as PyTorch's
        pass

    assert type(Stack(nn.ReLU(), nn.Tanh())[1:]) is Stack



@pytest.mark.parametrize("make", [lambda: nn.BatchNorm1d(3), lambda: nn.BatchNorm2d(3, bias=False),
                                  lambda: nn.SyncBatchNorm(3), lambda: nn.LayerNorm((2, 3)), lambda: nn.GroupNorm(1, 3),
                                  lambda: nn.PReLU(3, init=0.1), lambda: nn.RMSNorm(3),
                                  lambda: nn.InstanceNorm1d(3, affine=True, track_running_stats=True)])
def test_reset_parameters_restores_the_initial_values_in_place(make):
    layer = make()
    initial = {name: value.data.copy() for name, value in layer.state_dict().items()}
    parameters = list(layer.parameters())
    for parameter in parameters:
        parameter.data[...] = 7.0
    if isinstance(layer, nn.BatchNorm1d | nn.InstanceNorm1d):  # (running statistics updated too)
        extra = (2,) * (isinstance(layer, nn.BatchNorm2d) * 2 + isinstance(layer, nn.InstanceNorm1d))
        layer(mg.tensor(RNG.standard_normal((4, 3, *extra))))
    layer.reset_parameters()
    assert list(layer.parameters()) == parameters  # the same Parameters (an optimizer holds them)
    for name, value in layer.state_dict().items():
        np.testing.assert_array_equal(value.data, initial[name], err_msg=name)


def test_reset_parameters_draws_bilinear_again():
    layer = nn.Bilinear(3, 2, 4, rng=0)
    weight = layer.weight
    layer.reset_parameters(rng=0)
    assert layer.weight is weight
    np.testing.assert_array_equal(layer.weight.data, nn.Bilinear(3, 2, 4, rng=0).weight.data)
    np.testing.assert_array_equal(layer.bias.data, nn.Bilinear(3, 2, 4, rng=0).bias.data)


def test_reset_parameters_draws_linear_and_embedding_again():
    linear = nn.Linear(4, 3, rng=0)
    weight = linear.weight
    linear.reset_parameters(rng=0)
    assert linear.weight is weight
    np.testing.assert_array_equal(linear.weight.data, nn.Linear(4, 3, rng=0).weight.data)
    linear.reset_parameters(rng=1)
    assert np.all(np.abs(linear.weight.data) <= 0.5) and np.all(np.abs(linear.bias.data) <= 0.5)  # U(+-1/sqrt(4))

    table = nn.Embedding(5, 2, padding_idx=-1, rng=3)
    table.weight.data[...] = 7.0
    table.reset_parameters(rng=3)
    np.testing.assert_array_equal(table.weight.data, nn.Embedding(5, 2, padding_idx=4, rng=3).weight.data)
    np.testing.assert_array_equal(table.weight.data[4], 0.0)
    assert np.all(table.weight.data[:4] != 7.0)


@pytest.mark.parametrize(("layer", "shape"), [("Dropout2d", (4, 3)), ("Dropout2d", (4, 3, 2, 2, 2)),
                                              ("Dropout3d", (4, 3)), ("Dropout3d", (4, 3, 2))])
def test_channel_dropout_of_another_rank_warns_and_drops_as_torch(layer, shape):
    torch = pytest.importorskip("torch")
    with pytest.warns(UserWarning, match="which is deprecated"):
        theirs = getattr(torch.nn, layer)(0.5)(torch.ones(shape))
    with pytest.warns(UserWarning, match="which is deprecated"):
        ours = getattr(mg.nn, layer)(0.5)(mg.ones(*shape))
    assert ours.shape == tuple(theirs.shape)
    # dropout2d: one mask value per (N, C) as for a batch; dropout3d: per index of the first axis
    kept = shape[0] * shape[1] if layer == "Dropout2d" else shape[0]
    for values in (ours.data, theirs.numpy()):
        flat = values.reshape(kept, -1)
        assert set(np.unique(flat)) <= {0.0, 2.0} and (flat == flat[:, :1]).all()


@pytest.mark.parametrize(("values", "threshold", "value"), [([1, 5, -2], 2, 0), ([1, 5, -2], 2.5, 0.5),
                                                             ([1.0, 5.0, -2.0], 2.5, 0.5)])
def test_threshold_keeps_an_integer_dtype_as_torch(values, threshold, value):
    torch = pytest.importorskip("torch")
    dtype = np.int64 if isinstance(values[0], int) else np.float64
    ours = F.threshold(mg.tensor(values, dtype=dtype), threshold, value)
    theirs = torch.nn.functional.threshold(torch.tensor(values, dtype=getattr(torch, np.dtype(dtype).name)),
                                           threshold, value)
    assert ours.dtype == dtype
    np.testing.assert_array_equal(ours.data, theirs.numpy())


@pytest.mark.parametrize("make", [lambda nn: nn.BatchNorm1d(3), lambda nn: nn.BatchNorm2d(3, bias=False),
                                  lambda nn: nn.BatchNorm1d(3, affine=False), lambda nn: nn.LayerNorm(3),
                                  lambda nn: nn.LayerNorm(3, bias=False), lambda nn: nn.GroupNorm(1, 3),
                                  lambda nn: nn.GroupNorm(1, 3, affine=False)])
def test_normalization_reprs_as_torch(make):
    torch = pytest.importorskip("torch")
    # (ours ends with a summary of the parameters' shapes, after the part PyTorch prints)
    assert repr(make(mg.nn)).startswith(repr(make(torch.nn)))
