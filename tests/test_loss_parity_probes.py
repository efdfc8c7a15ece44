"""Losses against PyTorch where they used to differ: second derivatives through the target,
implicit softmax dims, gradients at the kinks of margin losses, the deprecated
``size_average``/``reduce`` arguments, weights as buffers, ``Identity``'s ignored arguments
and ``pairwise_distance`` with ``p=0``."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest
from conftest import numeric_grad

import microgradnp as mg
import microgradnp.nn as nn
import microgradnp.nn.functional as F


def _leaf(data):
    return mg.tensor(np.array(data, dtype=np.float64), requires_grad=True)


# == 1. kl_div: second order through the target ====================================================
KL_INPUT = [[0.3, -0.2], [0.1, 0.4]]
KL_LOG_TARGET = [[0.5, -1.0], [-0.2, 0.3]]
KL_TARGET = [[0.5, 0.1], [0.2, 0.3]]


def _kl_penalties(kl_div, grad, x, t, reduction, log_target):
    """Backward of a penalty on both first derivatives (create_graph), as a user of a
    gradient penalty would write it."""
    loss = kl_div(x, t, reduction=reduction, log_target=log_target)
    loss = (loss * loss).sum() if reduction == "none" else loss
    gx, gt = grad(loss, [x, t], create_graph=True)
    ((gt * gt).sum() + (gx * gt).sum()).backward()


@pytest.mark.parametrize("log_target", [True, False])
@pytest.mark.parametrize("reduction", ["sum", "mean", "none", "batchmean"])
def test_kl_div_second_order_through_the_target_matches_torch(torch, reduction, log_target):
    target = KL_LOG_TARGET if log_target else KL_TARGET
    x, t = _leaf(KL_INPUT), _leaf(target)
    _kl_penalties(F.kl_div, mg.autograd.grad, x, t, reduction, log_target)
    tx, tt = (torch.tensor(v, requires_grad=True) for v in (KL_INPUT, target))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (torch's note on "mean")
        _kl_penalties(torch.nn.functional.kl_div, torch.autograd.grad, tx, tt, reduction, log_target)
    np.testing.assert_allclose(t.grad, tt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_kl_div_log_target_grad_of_target_gradient_is_torchs_value(torch):
    x, t = _leaf([0.3, -0.2]), _leaf([0.5, -1.0])
    (gt,) = mg.autograd.grad(F.kl_div(x, t, reduction="sum", log_target=True), [t], create_graph=True)
    gt.sum().backward()
    # d/dt exp(t) (t - x + 1) = exp(t) (t - x + 2); the old backward gave exp(t) only
    expected = np.exp(t.data) * (t.data - x.data + 2)
    np.testing.assert_allclose(t.grad, expected, rtol=1e-12)
    np.testing.assert_allclose(t.grad, [3.627, 0.441], atol=1e-3)


# == 2. binary_cross_entropy_with_logits(pos_weight): second order through the target ===============
@pytest.mark.parametrize("reduction", ["sum", "mean", "none"])
def test_bce_with_logits_pos_weight_penalty_reaches_the_target(torch, rng, reduction):
    x, t = rng.normal(size=(3, 2)), rng.uniform(size=(3, 2))
    pos_weight, weight = np.array([2.0, 0.5]), np.array([[1.5, 0.7]])

    def penalty(grad, functional, xs, ts, wrap):
        loss = functional(xs, ts, weight=wrap(weight), pos_weight=wrap(pos_weight), reduction=reduction).sum()
        (gx,) = grad(loss, [xs], create_graph=True)
        return (gx * gx).sum()

    xs, ts = _leaf(x), _leaf(t)
    penalty(mg.autograd.grad, F.binary_cross_entropy_with_logits, xs, ts, np.asarray).backward()
    txs, tts = torch.tensor(x, requires_grad=True), torch.tensor(t, requires_grad=True)
    penalty(torch.autograd.grad, torch.nn.functional.binary_cross_entropy_with_logits, txs, tts,
            torch.tensor).backward()
    np.testing.assert_allclose(ts.grad, tts.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(xs.grad, txs.grad.numpy(), rtol=1e-10, atol=1e-12)

    def penalty_of_target(target):  # the same penalty in NumPy: d loss / dx in closed form
        sigmoid = 1 / (1 + np.exp(-x))
        scale = {"mean": 1 / x.size}.get(reduction, 1.0)
        log_weight = (pos_weight - 1) * target + 1
        gx = scale * weight * ((1 - target) - log_weight * (1 - sigmoid))
        return gx * gx

    np.testing.assert_allclose(ts.grad, numeric_grad(penalty_of_target, [t], 0), rtol=1e-6, atol=1e-9)


# == 3. softmax-like modules without dim: PyTorch's implicit choice ===================================
@pytest.mark.parametrize("shape", [(), (4,), (2, 3), (2, 3, 4), (2, 3, 2, 2)])
@pytest.mark.parametrize("name", ["Softmax", "LogSoftmax", "Softmin"])
def test_softmax_modules_without_dim_use_torchs_implicit_dim(torch, rng, name, shape):
    x = rng.normal(size=shape)
    with pytest.warns(UserWarning, match="Implicit dimension"):
        ours = getattr(nn, name)()(mg.tensor(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = getattr(torch.nn, name)()(torch.tensor(x))
    np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-12)
    assert repr(getattr(nn, name)()) == repr(getattr(torch.nn, name)())


@pytest.mark.parametrize("shape", [(4,), (2, 3), (2, 3, 4), (2, 3, 2, 2)])
def test_functional_softmin_without_dim_uses_torchs_implicit_dim(torch, rng, shape):
    x = rng.normal(size=shape)
    with pytest.warns(UserWarning, match="Implicit dimension"):
        ours = F.softmin(mg.tensor(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = torch.nn.functional.softmin(torch.tensor(x))
    np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-12)
    np.testing.assert_allclose(F.softmin(mg.tensor(x), 0, 3, np.float32).data,  # torch's positions
                               torch.nn.functional.softmin(torch.tensor(x), 0, 3, torch.float32).numpy(), rtol=1e-6)


# == 4. margin losses at the kink ====================================================================
def test_hinge_embedding_loss_gradient_at_the_margin_is_torchs(torch):
    data, target = [1.0, 1.0, 0.5, 2.0], [-1.0, 1.0, -1.0, -1.0]  # the first at x == margin, y = -1
    x, tx = _leaf(data), torch.tensor(data, requires_grad=True)
    F.hinge_embedding_loss(x, np.array(target), margin=1.0, reduction="sum").backward()
    torch.nn.functional.hinge_embedding_loss(tx, torch.tensor(target), margin=1.0, reduction="sum").backward()
    np.testing.assert_array_equal(x.grad, tx.grad.numpy())
    assert x.grad[0] == -1.0


@pytest.mark.parametrize("margin", [0.0, 0.5])
def test_margin_ranking_loss_gradient_at_the_margin_is_torchs(torch, margin):
    first, target = [1.0, 2.0, 3.0], [1.0, -1.0, -1.0]
    second = [1.0 + margin, 2.0 - margin, 3.0 - margin]  # -y (a - b) + margin == 0: every pair at the kink
    a, b = _leaf(first), _leaf(second)
    ta, tb = (torch.tensor(v, requires_grad=True) for v in (first, second))
    F.margin_ranking_loss(a, b, np.array(target), margin=margin, reduction="sum").backward()
    torch.nn.functional.margin_ranking_loss(ta, tb, torch.tensor(target), margin=margin, reduction="sum").backward()
    np.testing.assert_array_equal(a.grad, ta.grad.numpy())
    np.testing.assert_array_equal(b.grad, tb.grad.numpy())
    assert np.all(a.grad != 0)


def test_triplet_margin_with_distance_loss_gradient_at_the_margin_is_torchs(torch):
    anchor, positive, negative = [[0.0, 0.0]], [[1.0, 0.0]], [[2.0, 0.0]]  # d_neg - d_pos == margin
    ours = [_leaf(v) for v in (anchor, positive, negative)]
    theirs = [torch.tensor(v, requires_grad=True) for v in (anchor, positive, negative)]

    def distance(u, v):
        return ((u - v) ** 2).sum(-1)  # 1 and 4: the margin 3 is met exactly, with no rounding

    F.triplet_margin_with_distance_loss(*ours, distance_function=distance, margin=3.0).backward()
    torch.nn.functional.triplet_margin_with_distance_loss(*theirs, distance_function=distance, margin=3.0).backward()
    for mine, reference in zip(ours, theirs):
        np.testing.assert_array_equal(mine.grad, reference.grad.numpy())
    assert np.any(ours[0].grad != 0)


# == 5. the deprecated size_average / reduce =========================================================
LEGACY = [(None, None), (True, None), (False, None), (None, True), (None, False), (True, True),
          (False, True), (True, False), (False, False)]
LEGACY_MODULES = ["MSELoss", "L1Loss", "SmoothL1Loss", "KLDivLoss", "BCELoss", "BCEWithLogitsLoss",
                  "CrossEntropyLoss", "NLLLoss", "MarginRankingLoss", "HingeEmbeddingLoss", "CosineEmbeddingLoss",
                  "SoftMarginLoss", "MultiLabelSoftMarginLoss", "MultiMarginLoss", "TripletMarginLoss",
                  "PoissonNLLLoss", "MultiLabelMarginLoss"]
LEGACY_FUNCTIONALS = ["mse_loss", "l1_loss", "smooth_l1_loss", "kl_div", "binary_cross_entropy",
                      "binary_cross_entropy_with_logits", "cross_entropy", "nll_loss", "margin_ranking_loss",
                      "hinge_embedding_loss", "cosine_embedding_loss", "soft_margin_loss",
                      "multilabel_soft_margin_loss", "multi_margin_loss", "triplet_margin_loss", "poisson_nll_loss",
                      "multilabel_margin_loss"]


def _names_through_reduction(function):
    names = list(inspect.signature(function).parameters)
    names = [name for name in names if name != "self"]
    return names[:names.index("reduction") + 1]


@pytest.mark.parametrize("name", LEGACY_MODULES)
def test_loss_modules_take_torchs_legacy_arguments_in_torchs_positions(torch, name):
    assert _names_through_reduction(getattr(nn, name).__init__) == \
        _names_through_reduction(getattr(torch.nn, name).__init__)
    for size_average, reduce in LEGACY:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ours = getattr(nn, name)(size_average=size_average, reduce=reduce)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = getattr(torch.nn, name)(size_average=size_average, reduce=reduce)
        assert ours.reduction == theirs.reduction, (size_average, reduce)
        warned = any("size_average and reduce args will be deprecated" in str(w.message) for w in caught)
        assert warned == (size_average is not None or reduce is not None)


@pytest.mark.parametrize("name", LEGACY_FUNCTIONALS)
def test_loss_functionals_take_torchs_legacy_arguments_in_torchs_positions(torch, name):
    assert _names_through_reduction(getattr(F, name)) == _names_through_reduction(getattr(torch.nn.functional, name))


@pytest.mark.parametrize(("size_average", "reduce"), LEGACY)
def test_legacy_arguments_give_torchs_values(torch, rng, size_average, reduce):
    x, y = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = F.mse_loss(mg.tensor(x), mg.tensor(y), size_average, reduce)
        theirs = torch.nn.functional.mse_loss(torch.tensor(x), torch.tensor(y), size_average, reduce)
        logits, labels = rng.normal(size=(4, 3)), np.array([0, 2, 1, 2])
        ours_ce = F.cross_entropy(mg.tensor(logits), labels, None, size_average, -100, reduce)
        theirs_ce = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(labels), None, size_average,
                                                      -100, reduce)
    np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours_ce.data, theirs_ce.numpy(), rtol=1e-12)


def test_a_positional_third_argument_is_size_average_as_in_torch(torch, rng):
    x, y = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    with pytest.warns(UserWarning, match="reduction='mean'"):
        ours = F.mse_loss(mg.tensor(x), mg.tensor(y), "sum")  # a truthy size_average: "mean", as torch reads it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = torch.nn.functional.mse_loss(torch.tensor(x), torch.tensor(y), "sum")
    np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-12)


def test_modules_pass_their_reduction_through(rng):
    x, y = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    np.testing.assert_allclose(nn.MSELoss(reduction="sum")(mg.tensor(x), mg.tensor(y)).data, ((x - y) ** 2).sum())
    with pytest.warns(UserWarning, match="reduction='sum'"):
        loss = nn.MSELoss(size_average=False)
    np.testing.assert_allclose(loss(mg.tensor(x), mg.tensor(y)).data, ((x - y) ** 2).sum())


# == 6. weights as buffers ===========================================================================
WEIGHTED = {
    "CrossEntropyLoss": {"weight": [0.2, 1.0, 3.0]},
    "NLLLoss": {"weight": [0.2, 1.0, 3.0]},
    "BCELoss": {"weight": [0.2, 1.0, 3.0]},
    "BCEWithLogitsLoss": {"weight": [0.2, 1.0, 3.0], "pos_weight": [2.0, 0.5, 1.0]},
    "MultiMarginLoss": {"weight": [0.2, 1.0, 3.0]},
    "MultiLabelSoftMarginLoss": {"weight": [0.2, 1.0, 3.0]},
}


@pytest.mark.parametrize("name", sorted(WEIGHTED))
@pytest.mark.parametrize("given", ["all", "none"])
def test_weighted_losses_keep_their_weights_as_torchs_buffers(torch, name, given):
    kwargs = WEIGHTED[name] if given == "all" else {}
    ours = nn.Sequential(nn.Linear(3, 3), getattr(nn, name)(**{k: np.array(v) for k, v in kwargs.items()}))
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 3),
                                 getattr(torch.nn, name)(**{k: torch.tensor(v) for k, v in kwargs.items()}))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    for key in kwargs:
        assert getattr(ours[1], key) is not None and key in ours[1]._buffers
    # a torch state_dict loads, and the weights then are torch's
    state = {key: value.detach().numpy() * 2 for key, value in theirs.state_dict().items()}
    ours.load_state_dict({key: mg.tensor(value) for key, value in state.items()})
    for key, value in state.items():
        np.testing.assert_array_equal(ours.state_dict()[key], value)


def test_a_weighted_loss_uses_its_buffer(torch, rng):
    logits, labels = rng.normal(size=(4, 3)), np.array([0, 2, 1, 2])
    loss = nn.CrossEntropyLoss(weight=[0.2, 1.0, 3.0])
    theirs = torch.nn.CrossEntropyLoss(weight=torch.tensor([0.2, 1.0, 3.0]))
    np.testing.assert_allclose(loss(mg.tensor(logits), labels).data,
                               theirs(torch.tensor(logits), torch.tensor(labels)).numpy(), rtol=1e-12)
    bce = nn.BCEWithLogitsLoss(pos_weight=np.array([2.0, 0.5, 1.0]))
    targets = rng.uniform(size=(4, 3))
    np.testing.assert_allclose(
        bce(mg.tensor(logits), targets).data,
        torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor([2.0, 0.5, 1.0]))(torch.tensor(logits),
                                                                           torch.tensor(targets)).numpy(),
        rtol=1e-12)


# == 7. Identity ignores its arguments ================================================================
def test_identity_accepts_and_ignores_arguments(torch):
    layer = nn.Identity(54, unused_argument1=0.1, unused_argument2=False)
    x = mg.tensor([1.0, 2.0])
    assert layer(x) is x
    assert repr(layer) == repr(torch.nn.Identity(54, unused_argument1=0.1, unused_argument2=False))
    assert list(layer.state_dict()) == []


# == 8. pairwise_distance with p = 0 ==================================================================
@pytest.mark.parametrize("keepdim", [False, True])
def test_pairwise_distance_p0_is_differentiable_with_zero_gradient(torch, keepdim):
    first, second = [[1.0, 2.0, 3.0], [0.0, 1.0, 1.0]], [[0.5, 2.0, 2.5], [0.0, 1.0, 1.0]]
    a, b = _leaf(first), _leaf(second)
    out = F.pairwise_distance(a, b, p=0, keepdim=keepdim)
    ta, tb = (torch.tensor(v, requires_grad=True) for v in (first, second))
    expected = torch.nn.functional.pairwise_distance(ta, tb, p=0, keepdim=keepdim)
    np.testing.assert_array_equal(out.data, expected.detach().numpy())
    assert out.requires_grad == expected.requires_grad
    out.sum().backward()  # torch runs backward too (leaving no gradient, i.e. zero)
    grads = torch.autograd.grad(expected.sum(), [ta, tb], materialize_grads=True)
    np.testing.assert_array_equal(a.grad, grads[0].numpy())
    np.testing.assert_array_equal(b.grad, grads[1].numpy())
