"""nn.utils.prune, as torch.nn.utils.prune: the reparametrization (weight_orig, weight_mask, a
forward pre-hook), masks of every method, repeated pruning, remove, the checks of ``amount``;
masks, values and gradients against PyTorch (an optional oracle) where it is installed."""

from __future__ import annotations

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import nn
from microgradnp.nn.utils import prune


def _linear(seed=0, in_features=5, out_features=4):
    return nn.Linear(in_features, out_features, rng=seed)


def _zeros(module, name="weight"):
    return int((getattr(module, name + "_mask").data == 0).sum())


# -- the reparametrization -----------------------------------------------------------------------
def test_pruning_reparametrizes_the_weight():
    layer = _linear()
    weight = layer.weight
    assert prune.l1_unstructured(layer, "weight", amount=3) is layer
    assert list(layer.state_dict()) == ["bias", "weight_orig", "weight_mask"]
    assert [name for name, _ in layer.named_parameters()] == ["bias", "weight_orig"]
    assert layer.weight_orig is weight  # the same Parameter: an optimizer built before still trains it
    assert not isinstance(layer.weight, nn.Parameter)
    np.testing.assert_array_equal(layer.weight.data, weight.data * layer.weight_mask.data)
    assert prune.is_pruned(layer) and prune.is_pruned(nn.Sequential(layer))
    assert not prune.is_pruned(_linear())


def test_forward_recomputes_the_weight_and_gradients_reach_orig_through_the_mask():
    layer = _linear()
    prune.random_unstructured(layer, "weight", amount=0.5, rng=0)
    with mg.no_grad():
        layer.weight_orig.data[...] = 2.0  # seen at the next call (the pre-hook), as PyTorch
    x = np.random.default_rng(1).normal(size=(3, 5))
    out = layer(mg.tensor(x))
    mask = layer.weight_mask.data
    np.testing.assert_allclose(out.data, x @ (2.0 * mask).T + layer.bias.data)
    upstream = np.random.default_rng(2).normal(size=out.shape)
    (out * upstream).sum().backward()
    np.testing.assert_allclose(layer.weight_orig.grad, (upstream.T @ x) * mask)


def test_l1_unstructured_prunes_the_smallest_magnitudes():
    layer = _linear()
    magnitudes = np.abs(layer.weight.data).ravel()
    prune.l1_unstructured(layer, "weight", amount=0.3)  # round(0.3 * 20) = 6
    assert _zeros(layer) == 6
    pruned = layer.weight_mask.data.ravel() == 0
    assert magnitudes[pruned].max() < magnitudes[~pruned].min()


def test_repeated_pruning_combines_masks_in_a_container():
    layer = _linear()
    prune.l1_unstructured(layer, "weight", amount=4)
    first = layer.weight_mask.data.copy()
    prune.random_unstructured(layer, "weight", amount=0.5, rng=3)  # half of the 16 kept: 8 more
    assert _zeros(layer) == 12
    assert np.all(layer.weight_mask.data <= first)  # only kept entries are pruned further
    hooks = [h for h in layer._forward_pre_hooks.values() if isinstance(h, prune.BasePruningMethod)]
    assert len(hooks) == 1 and isinstance(hooks[0], prune.PruningContainer)
    assert [type(m) for m in hooks[0]] == [prune.L1Unstructured, prune.RandomUnstructured]
    prune.ln_structured(layer, "weight", amount=1, n=1, dim=0)  # a row more (of those not all pruned)
    assert list(layer._forward_pre_hooks.values()) == hooks and len(hooks[0]) == 3  # the same container
    assert (layer.weight_mask.data.sum(axis=1) == 0).sum() >= 1


def test_structured_pruning_zeroes_whole_channels():
    layer = _linear(in_features=6, out_features=5)
    prune.ln_structured(layer, "weight", amount=2, n=2, dim=0)
    norms = np.linalg.norm(layer.weight_orig.data, axis=1)
    removed = layer.weight_mask.data.sum(axis=1) == 0
    assert removed.sum() == 2 and norms[removed].max() < norms[~removed].min()
    assert set(np.unique(layer.weight_mask.data.sum(axis=1))) == {0.0, 6.0}
    prune.random_structured(layer, "weight", amount=0.5, dim=-1, rng=0)  # round(0.5 * 6) = 3 columns
    assert (layer.weight_mask.data.sum(axis=0) == 0).sum() == 3


def test_random_pruning_draws_from_the_global_generator():
    masks = []
    for _ in range(2):
        mg.manual_seed(7)
        layer = _linear()
        prune.random_unstructured(layer, "weight", amount=0.4)
        masks.append(layer.weight_mask.data.copy())
    np.testing.assert_array_equal(*masks)
    assert _zeros(layer) == 8


def test_remove_makes_the_pruning_permanent():
    layer = _linear()
    weight = layer.weight
    prune.l1_unstructured(layer, "weight", amount=5)
    mask = layer.weight_mask.data.copy()
    prune.remove(layer, "weight")
    assert layer.weight is weight and isinstance(layer.weight, nn.Parameter)
    assert list(layer.state_dict()) == ["bias", "weight"]
    assert not prune.is_pruned(layer) and not hasattr(layer, "weight_mask")
    np.testing.assert_array_equal(layer.weight.data == 0, mask == 0)
    with pytest.raises(ValueError, match="has to be pruned before pruning can be removed"):
        prune.remove(layer, "weight")


def test_global_unstructured_ranks_all_tensors_together():
    a, b = _linear(0), _linear(1, 4, 3)
    prune.l1_unstructured(b, "weight", amount=2)
    everything = np.abs(np.concatenate([a.weight.data.ravel(), b.weight.data.ravel()]))
    prune.global_unstructured(((a, "weight"), (b, "weight")), pruning_method=prune.L1Unstructured, amount=10)
    assert _zeros(a) + _zeros(b) == 12  # b's 2 earlier ones and 10 among the others
    masks = np.concatenate([a.weight_mask.data.ravel(), b.weight_mask.data.ravel()])
    assert everything[masks == 0].max() < everything[masks == 1].min()
    with pytest.raises(TypeError, match="unstructured"):
        prune.global_unstructured([(a, "weight")], pruning_method=prune.LnStructured, amount=1, n=2, dim=0)


def test_custom_from_mask_identity_importance_scores_and_a_custom_method():
    layer = _linear()
    mask = np.random.default_rng(0).random((4, 5)) > 0.5
    prune.custom_from_mask(layer, "weight", mg.tensor(mask))
    np.testing.assert_array_equal(layer.weight_mask.data, mask)
    prune.identity(layer, "bias")
    np.testing.assert_array_equal(layer.bias_mask.data, 1.0)
    other = _linear()
    scores = np.arange(20.0).reshape(4, 5)
    prune.l1_unstructured(other, "weight", amount=5, importance_scores=scores)
    np.testing.assert_array_equal(other.weight_mask.data.ravel() == 0, np.arange(20) < 5)
    with pytest.raises(AssertionError, match="same shape"):
        prune.l1_unstructured(_linear(), "weight", amount=1, importance_scores=np.ones(3))

    class KeepFirstColumn(prune.BasePruningMethod):
        PRUNING_TYPE = "unstructured"

        def compute_mask(self, t, default_mask):
            mask = default_mask.copy()
            mask[:, 1:] = 0
            return mask

    KeepFirstColumn.apply(layer := _linear(), "weight")
    assert _zeros(layer) == 16
    np.testing.assert_array_equal(KeepFirstColumn().prune(np.ones((2, 3))), [[1, 0, 0], [1, 0, 0]])


def test_amount_checks_and_a_failed_pruning_leaves_the_module_as_it_was():
    layer = _linear()
    for amount, error in (("0.5", TypeError), (-1, ValueError), (1.5, ValueError), (-0.1, ValueError)):
        with pytest.raises(error):
            prune.l1_unstructured(layer, "weight", amount=amount)
    with pytest.raises(ValueError, match="should be smaller than the number of parameters"):
        prune.random_unstructured(layer, "weight", amount=21)
    # (the weight is registered again, so after the bias, as in PyTorch)
    assert isinstance(layer.weight, nn.Parameter) and sorted(layer.state_dict()) == ["bias", "weight"]
    with pytest.raises(ValueError, match="multidimensional"):
        prune.ln_structured(layer, "bias", amount=1, n=2, dim=0)
    with pytest.raises(IndexError, match="Invalid index"):
        prune.ln_structured(layer, "weight", amount=1, n=2, dim=2)
    assert not prune.is_pruned(layer)


def test_a_failed_second_pruning_keeps_the_first():
    """(PyTorch loses the first pruning's hook there, so the weight stops being recomputed.)"""
    layer = _linear()
    prune.l1_unstructured(layer, "weight", amount=5)
    prune.l1_unstructured(layer, "weight", amount=2)
    for bad in (lambda: prune.l1_unstructured(layer, "weight", amount=100),
                lambda: prune.random_unstructured(layer, "weight", amount="x"),
                lambda: prune.l1_unstructured(layer, "weight", amount=1, importance_scores=np.ones(2))):
        with pytest.raises((ValueError, TypeError, AssertionError)):
            bad()
        hooks = [h for h in layer._forward_pre_hooks.values() if isinstance(h, prune.BasePruningMethod)]
        assert len(hooks) == 1 and len(hooks[0]) == 2 and _zeros(layer) == 7
    with mg.no_grad():
        layer.weight_orig.data[...] = 1.0
    layer(mg.tensor(np.ones((1, 5))))
    assert layer.weight.data.sum() == 13  # recomputed by the hook


def test_pruned_state_dict_loads_into_a_pruned_model():
    source, target = _linear(0), _linear(1)
    prune.l1_unstructured(source, "weight", amount=6)
    prune.identity(target, "weight")
    target.load_state_dict(source.state_dict())
    x = mg.tensor(np.ones((2, 5)))
    np.testing.assert_array_equal(target(x).data, source(x).data)


# -- PyTorch as the oracle ------------------------------------------------------------------------
def _torch_pair(torch, shape=(4, 6), seed=0):
    """A float64 torch layer (Linear, or Conv2d for a 4-D shape) and ours with its weights."""
    torch.manual_seed(seed)
    if len(shape) == 2:
        reference, ours = torch.nn.Linear(shape[1], shape[0], dtype=torch.float64), nn.Linear(shape[1], shape[0])
    else:
        reference = torch.nn.Conv2d(shape[1], shape[0], shape[2:], dtype=torch.float64)
        ours = nn.Conv2d(shape[1], shape[0], shape[2:])
    ours.load_state_dict({k: v.detach().numpy() for k, v in reference.state_dict().items()})
    return reference, ours


PRUNINGS = [
    [("l1_unstructured", {"amount": 7})],
    [("l1_unstructured", {"amount": 0.35})],
    [("ln_structured", {"amount": 2, "n": 2, "dim": 0})],
    [("ln_structured", {"amount": 0.5, "n": 1, "dim": -1})],
    [("ln_structured", {"amount": 1, "n": float("inf"), "dim": 1})],
    [("ln_structured", {"amount": 1, "n": "fro", "dim": 0})],
    [("l1_unstructured", {"amount": 5}), ("ln_structured", {"amount": 1, "n": 2, "dim": 0}),
     ("l1_unstructured", {"amount": 0.25})],
    [("ln_structured", {"amount": 1, "n": 2, "dim": 1}), ("ln_structured", {"amount": 0.5, "n": 1, "dim": 0})],
]


@pytest.mark.parametrize("steps", PRUNINGS)
@pytest.mark.parametrize("shape", [(4, 6), (4, 3, 2, 2)])
def test_masks_values_and_gradients_match_torch(steps, shape):
    torch = pytest.importorskip("torch")
    import torch.nn.utils.prune as torch_prune

    if len(shape) == 4 and any(kwargs.get("n") == "fro" for _, kwargs in steps):
        pytest.skip("PyTorch's Frobenius norm takes two axes only")
    reference, ours = _torch_pair(torch, shape)
    for method, kwargs in steps:
        getattr(torch_prune, method)(reference, "weight", **kwargs)
        getattr(prune, method)(ours, "weight", **kwargs)
        np.testing.assert_array_equal(ours.weight_mask.data, reference.weight_mask.numpy())
    assert list(ours.state_dict()) == list(reference.state_dict())
    x = np.random.default_rng(0).normal(size=(2, shape[1]) if len(shape) == 2 else (2, shape[1], 3, 3))
    out, expected = ours(mg.tensor(x)), reference(torch.tensor(x))
    np.testing.assert_allclose(out.data, expected.detach().numpy(), atol=1e-12)
    out.sum().backward()
    expected.sum().backward()
    for name, parameter in reference.named_parameters():
        np.testing.assert_allclose(getattr(ours, name).grad, parameter.grad.numpy(), atol=1e-12, err_msg=name)
    torch_prune.remove(reference, "weight")
    prune.remove(ours, "weight")
    assert list(ours.state_dict()) == list(reference.state_dict())
    np.testing.assert_array_equal(ours.weight.data, reference.weight.detach().numpy())


def test_same_mask_gives_torchs_values_and_gradients():
    torch = pytest.importorskip("torch")
    import torch.nn.utils.prune as torch_prune

    reference, ours = _torch_pair(torch)
    mask = np.random.default_rng(4).random((4, 6)) > 0.4
    torch_prune.random_unstructured(reference, "weight", amount=0.3)  # a random mask first...
    torch_prune.custom_from_mask(reference, "weight", torch.tensor(mask))  # ...combined with a given one
    prune.custom_from_mask(ours, "weight", reference.weight_mask.numpy())
    x = np.random.default_rng(5).normal(size=(3, 6))
    for _ in range(2):  # the hook recomputes the weight at each call
        ours.zero_grad()
        reference.zero_grad()
        out, expected = ours(mg.tensor(x)), reference(torch.tensor(x))
        (out * out).sum().backward()
        (expected * expected).sum().backward()
        np.testing.assert_allclose(out.data, expected.detach().numpy(), atol=1e-12)
        np.testing.assert_allclose(ours.weight_orig.grad, reference.weight_orig.grad.numpy(), atol=1e-12)
        np.testing.assert_allclose(ours.bias.grad, reference.bias.grad.numpy(), atol=1e-12)


def test_global_unstructured_matches_torch():
    torch = pytest.importorskip("torch")
    import torch.nn.utils.prune as torch_prune

    (ref_a, a), (ref_b, b) = _torch_pair(torch, seed=1), _torch_pair(torch, (3, 4, 2, 2), seed=2)
    torch_prune.l1_unstructured(ref_b, "weight", amount=4)
    prune.l1_unstructured(b, "weight", amount=4)
    torch_prune.global_unstructured([(ref_a, "weight"), (ref_b, "weight"), (ref_a, "bias")],
                                    pruning_method=torch_prune.L1Unstructured, amount=0.3)
    prune.global_unstructured([(a, "weight"), (b, "weight"), (a, "bias")], pruning_method=prune.L1Unstructured,
                              amount=0.3)
    for ours, reference in ((a, ref_a), (b, ref_b)):
        assert list(ours.state_dict()) == list(reference.state_dict())
        for name, mask in reference.named_buffers():
            np.testing.assert_array_equal(getattr(ours, name).data, mask.numpy(), err_msg=name)


def _bad_prunings(lib, tensor):
    return {
        "amount_type": lambda m: lib.l1_unstructured(m, "weight", amount="1"),
        "amount_negative": lambda m: lib.l1_unstructured(m, "weight", amount=-2),
        "fraction_above_one": lambda m: lib.random_unstructured(m, "weight", amount=1.2),
        "amount_too_large": lambda m: lib.l1_unstructured(m, "weight", amount=25),
        "structured_vector": lambda m: lib.ln_structured(m, "bias", amount=1, n=2, dim=0),
        "structured_dim": lambda m: lib.random_structured(m, "weight", amount=1, dim=2),
        "scores_shape": lambda m: lib.l1_unstructured(m, "weight", amount=1, importance_scores=tensor(np.ones(3))),
        "custom_mask_shape": lambda m: lib.custom_from_mask(m, "weight", tensor(np.ones((2, 2)))),
        "remove_unpruned": lambda m: lib.remove(m, "weight"),
        "global_not_iterable": lambda m: lib.global_unstructured(3, lib.L1Unstructured, amount=1),
        "global_scores_type": lambda m: lib.global_unstructured([(m, "weight")], lib.L1Unstructured,
                                                                importance_scores=[1], amount=1),
        "not_a_parameter": lambda m: lib.l1_unstructured(m, "missing", amount=1),
    }


@pytest.mark.parametrize("name", list(_bad_prunings(prune, mg.tensor)))
def test_errors_are_torchs(name):
    torch = pytest.importorskip("torch")
    import torch.nn.utils.prune as torch_prune

    reference, ours = _torch_pair(torch)
    with pytest.raises(Exception) as expected:
        _bad_prunings(torch_prune, torch.tensor)[name](reference)
    with pytest.raises(type(expected.value)):
        _bad_prunings(prune, mg.tensor)[name](ours)
    assert prune.is_pruned(ours) == torch_prune.is_pruned(reference)
    assert list(ours.state_dict()) == list(reference.state_dict())
