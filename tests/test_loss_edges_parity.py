"""Losses against PyTorch at their edges: element weights that would enlarge the losses,
float64 weights on float32 losses, every target ignored (second order, nan logits) and
triplet losses of more than two dimensions."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import microgradnp as mg
import microgradnp.nn.functional as F

RNG = np.random.default_rng(0)
LOGITS = RNG.standard_normal((3, 4))
LABELS = (RNG.random((3, 4)) > 0.5).astype(np.float64)
BIGGER = RNG.uniform(0.5, 2.0, (2, 3, 4))  # broadcasts with (3, 4) to (2, 3, 4)


# == 1. weights of binary cross-entropy must broadcast to the input's shape =======================
@pytest.mark.parametrize("loss, argument", [
    ("binary_cross_entropy", "weight"),
    ("binary_cross_entropy_with_logits", "weight"),
    ("binary_cross_entropy_with_logits", "pos_weight"),
])
def test_a_weight_that_enlarges_the_losses_is_refused_as_in_torch(loss, argument):
    torch = pytest.importorskip("torch")
    x = 1 / (1 + np.exp(-LOGITS)) if loss == "binary_cross_entropy" else LOGITS
    with pytest.raises(RuntimeError):
        getattr(torch.nn.functional, loss)(torch.tensor(x), torch.tensor(LABELS), **{argument: torch.tensor(BIGGER)})
    # (accepted, the losses took the weight's shape and the gradient of the mean came out doubled)
    with pytest.raises(ValueError, match=argument):
        getattr(F, loss)(mg.tensor(x, requires_grad=True), LABELS, **{argument: BIGGER})


@pytest.mark.parametrize("shape", [(4,), (3, 1), (1, 4), (3, 4)])
def test_weights_that_broadcast_to_the_input_still_match_torch(shape):
    torch = pytest.importorskip("torch")
    weight = RNG.uniform(0.5, 2.0, shape)
    for argument in ("weight", "pos_weight"):
        x = mg.tensor(LOGITS, requires_grad=True)
        F.binary_cross_entropy_with_logits(x, LABELS, **{argument: weight}).backward()
        tx = torch.tensor(LOGITS, requires_grad=True)
        torch.nn.functional.binary_cross_entropy_with_logits(tx, torch.tensor(LABELS),
                                                             **{argument: torch.tensor(weight)}).backward()
        np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-12)


# == 2. float64 weights keep float32 losses float32 ===============================================
def test_float64_element_weights_keep_binary_cross_entropy_float32():
    torch = pytest.importorskip("torch")
    x32, t32, w64 = LOGITS.astype(np.float32), LABELS.astype(np.float32), RNG.uniform(0.5, 2.0, 4)
    p32 = 1 / (1 + np.exp(-x32))
    cases = [
        ("binary_cross_entropy", p32, {"weight": w64}),
        ("binary_cross_entropy_with_logits", x32, {"weight": w64}),
        ("binary_cross_entropy_with_logits", x32, {"pos_weight": w64}),
    ]
    for loss, x, weights in cases:
        ours = getattr(F, loss)(mg.tensor(x), t32, **weights)
        theirs = getattr(torch.nn.functional, loss)(torch.tensor(x), torch.tensor(t32),
                                                    **{key: torch.tensor(value) for key, value in weights.items()})
        assert ours.dtype == mg.float32 and theirs.dtype == torch.float32, loss
        np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-5)


@pytest.mark.parametrize("loss", ["cross_entropy", "nll_loss"])
def test_float64_class_weights_keep_float32_losses_and_gradients(loss):
    # (PyTorch refuses the float64 weight; the loss and its gradient are those of the weight in float32)
    torch = pytest.importorskip("torch")
    x32, target, w64 = LOGITS.astype(np.float32), np.array([0, 3, 1]), RNG.uniform(0.5, 2.0, 4)
    x = mg.tensor(x32, requires_grad=True)
    ours = getattr(F, loss)(x, target, weight=w64, ignore_index=1)
    ours.backward()
    tx = torch.tensor(x32, requires_grad=True)
    theirs = getattr(torch.nn.functional, loss)(tx, torch.tensor(target), weight=torch.tensor(w64, dtype=torch.float32),
                                                ignore_index=1)
    theirs.backward()
    assert ours.dtype == mg.float32 and x.grad.dtype == np.float32
    np.testing.assert_allclose(ours.data, theirs.item(), rtol=1e-5)
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-5, atol=1e-7)


# == 3. every target ignored: the mean is nan, its gradients 0 (or nan from nan logits) ============
@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
def test_all_ignored_cross_entropy_has_torch_second_derivatives(label_smoothing):
    torch = pytest.importorskip("torch")
    target, weight = np.array([2, 2, 2]), RNG.uniform(0.5, 2.0, 4)

    def penalties(lib, functional, grad, x):
        loss = functional.cross_entropy(x, lib.tensor(target) if lib is torch else target, weight=lib.tensor(weight),
                                        ignore_index=2, label_smoothing=label_smoothing)
        (g,) = grad(loss, [x], create_graph=True)
        ((g * g).sum() + (g * x).sum()).backward()
        return loss

    x = mg.tensor(LOGITS, requires_grad=True)
    loss = penalties(mg, F, mg.grad, x)
    tx = torch.tensor(LOGITS, requires_grad=True)
    penalties(torch, torch.nn.functional, torch.autograd.grad, tx)
    assert np.isnan(loss.data)
    np.testing.assert_array_equal(x.grad, tx.grad.numpy())  # zeros (nan before: 0 / 0 in the graph)


@pytest.mark.parametrize("target, weight", [([-100, 1, -100], [1.0, 0.0, 1.0, 1.0]), ([0, 1, 0], [0.0, 0.0, 1.0, 1.0])],
                         ids=["ignored-and-zero-weight", "zero-weights"])
def test_smoothed_mean_over_no_weight_is_nan_as_torch(target, weight):
    # (the smoothing's terms of the other classes made it x / 0: an inf loss, inf gradients)
    torch = pytest.importorskip("torch")
    x = mg.tensor(LOGITS, requires_grad=True)
    ours = F.cross_entropy(x, np.array(target), weight=np.array(weight), label_smoothing=0.3)
    ours.backward()
    tx = torch.tensor(LOGITS, requires_grad=True)
    theirs = torch.nn.functional.cross_entropy(tx, torch.tensor(target), label_smoothing=0.3,
                                               weight=torch.tensor(weight, dtype=torch.float64))
    theirs.backward()
    assert np.isnan(ours.data) and np.isnan(theirs.item())
    np.testing.assert_array_equal(x.grad, tx.grad.numpy())


@pytest.mark.parametrize("loss", ["cross_entropy", "nll_loss"])
def test_all_ignored_mean_with_nan_logits_gives_nan_gradients_as_torch(loss):
    torch = pytest.importorskip("torch")
    data, target = np.array([[1.0, np.nan, 0.0], [0.0, 1.0, 2.0]]), np.array([-100, -100])
    x = mg.tensor(data, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (0 / 0 gives nan, as PyTorch, without a RuntimeWarning)
        ours = getattr(F, loss)(x, target)
    ours.backward()
    tx = torch.tensor(data, requires_grad=True)
    getattr(torch.nn.functional, loss)(tx, torch.tensor(target)).backward()
    assert np.isnan(ours.data)
    np.testing.assert_array_equal(x.grad, tx.grad.numpy())


# == 4. triplet_margin_loss of (N, ..., D) vectors ===============================================
@pytest.mark.parametrize("swap", [False, True])
def test_triplet_margin_loss_takes_more_dimensions_as_torch(swap):
    torch = pytest.importorskip("torch")
    arrays = [RNG.standard_normal((2, 3, 4)) for _ in range(3)]
    leaves = [mg.tensor(a, requires_grad=True) for a in arrays]
    ours = F.triplet_margin_loss(*leaves, margin=1.5, swap=swap, reduction="none")
    (ours * ours).sum().backward()
    tleaves = [torch.tensor(a, requires_grad=True) for a in arrays]
    theirs = torch.nn.functional.triplet_margin_loss(*tleaves, margin=1.5, swap=swap, reduction="none")
    (theirs * theirs).sum().backward()
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-10)
    for leaf, tleaf in zip(leaves, tleaves):
        np.testing.assert_allclose(leaf.grad, tleaf.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_cross_entropy_with_probabilities_refuses_ignore_index_as_torch():
    torch = pytest.importorskip("torch")
    logits, probabilities = np.zeros((3, 4)), np.full((3, 4), 0.25)
    with pytest.raises(RuntimeError, match="ignore_index is not supported"):
        torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(probabilities), ignore_index=1)
    with pytest.raises(ValueError, match="ignore_index is not supported for class probabilities"):
        mg.nn.functional.cross_entropy(mg.tensor(logits), mg.tensor(probabilities), ignore_index=1)


def test_multilabel_margin_loss_takes_whole_number_float_targets_as_class_indices():
    torch = pytest.importorskip("torch")
    scores, labels = [[0.1, 0.2, 0.4, 0.8], [0.5, -0.2, 0.3, 0.0]], [[3, 0, -1, 1], [1, 2, 3, -1]]
    x = mg.tensor(scores, requires_grad=True)
    ours = mg.nn.functional.multilabel_margin_loss(x, mg.tensor(labels))  # (mg.tensor stores them as floats)
    ours.backward()
    t = torch.tensor(scores, dtype=torch.float64, requires_grad=True)
    theirs = torch.nn.functional.multilabel_margin_loss(t, torch.tensor(labels))
    theirs.backward()
    np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-12)
    np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-12)
