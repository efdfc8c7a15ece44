"""More losses and distances (``microgradnp/nn/extra_losses.py``): MarginRanking, HingeEmbedding,
CosineEmbedding, SoftMargin, MultiLabelSoftMargin, MultiMargin, TripletMargin, GaussianNLL and
PoissonNLL losses, CosineSimilarity and PairwiseDistance. Gradients against central finite
differences in float64, values and gradients against ``torch.nn.functional`` (when PyTorch is
installed), every reduction, float32 kept, and the error cases."""

from __future__ import annotations

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import nn
from microgradnp.nn import functional as F

RNG = np.random.default_rng(0)
A, B, C = RNG.standard_normal((3, 5, 4))
SIGNS = np.sign(RNG.standard_normal(5))
SIGNS_2D = np.sign(RNG.standard_normal((5, 4)))
LABELS = (RNG.standard_normal((5, 4)) > 0).astype(float)
CLASSES = np.array([0, 3, 1, 3, 2])
CLASS_WEIGHTS = RNG.random(4) + 0.5
VARIANCES = RNG.random((5, 4)) + 0.1
COUNTS = RNG.poisson(2.0, (5, 4)).astype(float)

# name -> (our function, torch's name, arrays, which of them are differentiated, keyword arguments)
CASES = {
    "margin_ranking": (F.margin_ranking_loss, "margin_ranking_loss", (A[:, 0], B[:, 0], SIGNS), (0, 1),
                       {"margin": 0.3}),
    "hinge_embedding": (F.hinge_embedding_loss, "hinge_embedding_loss", (A, SIGNS_2D), (0,), {"margin": 0.5}),
    "soft_margin": (F.soft_margin_loss, "soft_margin_loss", (A, SIGNS_2D), (0,), {}),
    "multilabel_soft_margin": (F.multilabel_soft_margin_loss, "multilabel_soft_margin_loss", (A, LABELS), (0,),
                               {}),
    "multilabel_soft_margin_weight": (F.multilabel_soft_margin_loss, "multilabel_soft_margin_loss",
                                      (A, LABELS, CLASS_WEIGHTS), (0,), {}),
    "cosine_embedding": (F.cosine_embedding_loss, "cosine_embedding_loss", (A, B, SIGNS), (0, 1), {"margin": 0.1}),
    "cosine_embedding_1d": (F.cosine_embedding_loss, "cosine_embedding_loss", (A[0], B[0], np.array(-1.0)), (0, 1),
                            {"margin": -0.5}),
    "multi_margin_p1": (F.multi_margin_loss, "multi_margin_loss", (A, CLASSES), (0,), {"margin": 0.7}),
    "multi_margin_p2_weight": (F.multi_margin_loss, "multi_margin_loss", (A, CLASSES, 2, 1.0, CLASS_WEIGHTS), (0,),
                               {}),
    "multi_margin_unbatched": (F.multi_margin_loss, "multi_margin_loss", (A[0], np.array(2)), (0,), {}),
    "triplet_p2": (F.triplet_margin_loss, "triplet_margin_loss", (A, B, C), (0, 1, 2), {"margin": 1.5}),
    "triplet_p1_swap": (F.triplet_margin_loss, "triplet_margin_loss", (A, B, C), (0, 1, 2),
                        {"margin": 1.5, "p": 1, "swap": True}),
    "triplet_p3_swap": (F.triplet_margin_loss, "triplet_margin_loss", (A, B, C), (0, 1, 2),
                        {"margin": 2.0, "p": 3, "swap": True, "eps": 1e-3}),
    "gaussian_nll_full": (F.gaussian_nll_loss, "gaussian_nll_loss", (A, B, VARIANCES), (0, 1, 2), {"full": True}),
    "gaussian_nll_row_var": (F.gaussian_nll_loss, "gaussian_nll_loss", (A, B, VARIANCES[:, 0]), (0, 1, 2), {}),
    "gaussian_nll_row_var_kept": (F.gaussian_nll_loss, "gaussian_nll_loss", (A, B, VARIANCES[:, :1]), (0, 2), {}),
    "gaussian_nll_clamped": (F.gaussian_nll_loss, "gaussian_nll_loss", (A, B, np.where(VARIANCES > 0.5, VARIANCES,
                                                                                         1e-4)), (0, 2),
                             {"eps": 1e-3}),
    "poisson_log": (F.poisson_nll_loss, "poisson_nll_loss", (A, COUNTS), (0,), {}),
    "poisson_log_full": (F.poisson_nll_loss, "poisson_nll_loss", (A, COUNTS + 1), (0, 1), {"full": True}),
    "poisson_rate_full": (F.poisson_nll_loss, "poisson_nll_loss", (VARIANCES, COUNTS), (0,),
                          {"log_input": False, "full": True}),
}


def _leaves(arrays, grads, module):
    return [module.tensor(a, requires_grad=i in grads) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else
            (module.tensor(a) if isinstance(a, np.ndarray) else a) for i, a in enumerate(arrays)]


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_gradients_match_finite_differences(name, reduction):
    fn, _, arrays, grads, kwargs = CASES[name]
    if name == "gaussian_nll_clamped":
        grads = (0,)  # below eps the variance is clamped: PyTorch passes its gradient through unchanged
    weights = None

    def loss(*differentiated):
        nonlocal weights
        args = list(_leaves(arrays, (), mg))
        for i, x in zip(grads, differentiated, strict=True):
            args[i] = x
        out = fn(*args, reduction=reduction, **kwargs)
        if weights is None:
            weights = np.random.default_rng(1).standard_normal(out.shape)
        return (out * weights).sum()

    assert mg.gradcheck(loss, [mg.tensor(arrays[i], requires_grad=True) for i in grads])


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_values_and_gradients_match_torch(name, reduction):
    torch = pytest.importorskip("torch")
    fn, torch_name, arrays, grads, kwargs = CASES[name]
    ours, theirs = _leaves(arrays, grads, mg), _leaves(arrays, grads, torch)
    out = fn(*ours, reduction=reduction, **kwargs)
    expected = getattr(torch.nn.functional, torch_name)(*theirs, reduction=reduction, **kwargs)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    weights = np.random.default_rng(2).standard_normal(out.shape)
    out.backward(weights)
    expected.backward(torch.tensor(weights))
    for i in grads:
        np.testing.assert_allclose(ours[i].grad, theirs[i].grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("module", "fn", "args", "kwargs"), [
    (nn.MarginRankingLoss, F.margin_ranking_loss, (A[:, 0], B[:, 0], SIGNS), {"margin": 0.2}),
    (nn.HingeEmbeddingLoss, F.hinge_embedding_loss, (A, SIGNS_2D), {"margin": 2.0}),
    (nn.CosineEmbeddingLoss, F.cosine_embedding_loss, (A, B, SIGNS), {"margin": 0.3}),
    (nn.SoftMarginLoss, F.soft_margin_loss, (A, SIGNS_2D), {}),
    (nn.MultiLabelSoftMarginLoss, F.multilabel_soft_margin_loss, (A, LABELS), {"weight": CLASS_WEIGHTS}),
    (nn.MultiMarginLoss, F.multi_margin_loss, (A, CLASSES), {"p": 2, "margin": 0.5, "weight": CLASS_WEIGHTS}),
    (nn.TripletMarginLoss, F.triplet_margin_loss, (A, B, C), {"margin": 0.5, "p": 1.0, "swap": True}),
    (nn.GaussianNLLLoss, F.gaussian_nll_loss, (A, B, VARIANCES), {"full": True, "eps": 1e-4}),
    (nn.PoissonNLLLoss, F.poisson_nll_loss, (VARIANCES, COUNTS), {"log_input": False, "full": True}),
])
@pytest.mark.parametrize("reduction", ["none", "sum"])
def test_modules_call_their_functions(module, fn, args, kwargs, reduction):
    out = module(**kwargs, reduction=reduction)(*(mg.tensor(a) for a in args))
    np.testing.assert_array_equal(out.data, fn(*(mg.tensor(a) for a in args), **kwargs, reduction=reduction).data)
    assert f"reduction='{reduction}'" in repr(module(**kwargs, reduction=reduction))


def test_distances_match_torch_and_their_modules():
    torch = pytest.importorskip("torch")
    for p in (1.0, 2.0, 3.0, np.inf):
        for keepdim in (False, True):
            x1, x2 = mg.tensor(A, requires_grad=True), mg.tensor(B, requires_grad=True)
            t1, t2 = torch.tensor(A, requires_grad=True), torch.tensor(B, requires_grad=True)
            out = nn.PairwiseDistance(p=p, keepdim=keepdim)(x1, x2)
            expected = torch.nn.PairwiseDistance(p=p, keepdim=keepdim)(t1, t2)
            np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12)
            out.sum().backward()
            expected.sum().backward()
            np.testing.assert_allclose(x1.grad, t1.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert F.pairwise_distance(mg.tensor(A[0]), mg.tensor(B[0])).shape == ()
    out = nn.CosineSimilarity(dim=0, eps=1e-6)(mg.tensor(A), mg.tensor(B))
    expected = torch.nn.CosineSimilarity(dim=0, eps=1e-6)(torch.tensor(A), torch.tensor(B))
    np.testing.assert_allclose(out.data, expected.numpy(), rtol=1e-12)
    assert repr(nn.CosineSimilarity()) == "CosineSimilarity(dim=1, eps=1e-08)"


def test_distances_gradcheck():
    assert mg.gradcheck(lambda a, b: F.pairwise_distance(a, b, p=3.0), [mg.tensor(A, requires_grad=True),
                                                                         mg.tensor(B, requires_grad=True)])
    assert mg.gradcheck(lambda a, b: nn.CosineSimilarity()(a, b), [mg.tensor(A, requires_grad=True),
                                                                    mg.tensor(B, requires_grad=True)])


def test_edge_cases_as_pytorch():
    # A target that is neither 1 nor -1 takes both terms of the hinge embedding loss.
    out = F.hinge_embedding_loss(mg.tensor([0.5, 2.0]), mg.tensor([0.0, 0.0]), margin=1.0, reduction="none")
    np.testing.assert_allclose(out.data, [0.5 + 0.5, 2.0])
    # A float variance is used for every element; full adds 0.5 log(2 pi).
    base = F.gaussian_nll_loss(mg.tensor(A), mg.tensor(B), 0.5, reduction="none")
    full = F.gaussian_nll_loss(mg.tensor(A), mg.tensor(B), 0.5, full=True, reduction="none")
    np.testing.assert_allclose(full.data - base.data, 0.5 * np.log(2 * np.pi))
    np.testing.assert_allclose(base.data, 0.5 * (np.log(0.5) + (A - B) ** 2 / 0.5))
    # Poisson's Stirling term is 0 for counts 0 and 1; the gradient of the count is finite there.
    counts = mg.tensor([0.0, 1.0, 3.0], requires_grad=True)
    loss = F.poisson_nll_loss(mg.tensor([0.1, 0.2, 0.3]), counts, full=True, reduction="none")
    np.testing.assert_allclose(loss.data[:2], np.exp([0.1, 0.2]) - np.array([0.0, 0.2]))
    loss.sum().backward()
    assert np.all(np.isfinite(counts.grad))
    # Index targets given as a float Tensor (ints become floats in mg.tensor) work.
    np.testing.assert_array_equal(F.multi_margin_loss(mg.tensor(A), mg.tensor(CLASSES)).data,
                                  F.multi_margin_loss(mg.tensor(A), CLASSES).data)


@pytest.mark.parametrize("fn", [
    lambda x: F.margin_ranking_loss(x[:, 0], x[:, 1] * 2, np.ones(5, np.float32)),
    lambda x: F.hinge_embedding_loss(x, SIGNS_2D.astype(np.float32)),
    lambda x: F.soft_margin_loss(x, SIGNS_2D.astype(np.float32)),
    lambda x: F.multilabel_soft_margin_loss(x, LABELS.astype(np.float32), weight=CLASS_WEIGHTS.astype(np.float32)),
    lambda x: F.cosine_embedding_loss(x, x * x, SIGNS.astype(np.float32)),
    lambda x: F.multi_margin_loss(x, CLASSES, p=2, weight=CLASS_WEIGHTS),
    lambda x: F.triplet_margin_loss(x, x * 2, x * x, swap=True),
    lambda x: F.gaussian_nll_loss(x, x * 2, 0.5, full=True),
    lambda x: F.gaussian_nll_loss(x, x * 2, x * x),
    lambda x: F.poisson_nll_loss(x, COUNTS.astype(np.float32), full=True),
    lambda x: F.pairwise_distance(x, x * 2).sum(),
])
def test_float32_stays_float32(fn):
    x = mg.tensor(A.astype(np.float32), requires_grad=True)
    out = fn(x)
    out.backward()
    assert out.dtype == np.float32 and x.grad.dtype == np.float32


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda: F.soft_margin_loss(A, A, reduction="avg"), ValueError, "reduction must be one of"),
    (lambda: nn.MarginRankingLoss(reduction="avg"), ValueError, "reduction must be one of"),
    (lambda: F.margin_ranking_loss(A, B[:, 0], SIGNS), ValueError, "same number of dimensions"),
    (lambda: F.soft_margin_loss(A, SIGNS), ValueError, "must match"),
    (lambda: F.multilabel_soft_margin_loss(A, LABELS[:, :3]), ValueError, "must match"),
    (lambda: F.cosine_embedding_loss(A, B, SIGNS_2D), ValueError, "0-d or 1-d target"),
    (lambda: F.cosine_embedding_loss(A[0], B[0], SIGNS), ValueError, "1-d target expects 2-d inputs"),
    (lambda: F.multi_margin_loss(A, CLASSES, p=3), ValueError, "only p == 1 and p == 2"),
    (lambda: nn.MultiMarginLoss(p=0), ValueError, "only p == 1 and p == 2"),
    (lambda: F.multi_margin_loss(A, CLASSES + 2), ValueError, r"class indices in \[0, 4\)"),
    (lambda: F.multi_margin_loss(A, CLASSES[:3]), ValueError, "expected input"),
    (lambda: F.multi_margin_loss(A, CLASSES, weight=np.ones(3)), ValueError, r"weight must have shape \(4,\)"),
    (lambda: F.triplet_margin_loss(A, B, C, margin=0), ValueError, "margin must be greater than 0"),
    (lambda: nn.TripletMarginLoss(margin=-1.0), ValueError, "margin must be greater than 0"),
    (lambda: F.triplet_margin_loss(A, B, C[0]), ValueError, "same number of dimensions"),
    (lambda: F.gaussian_nll_loss(A, B, -VARIANCES), ValueError, "var has negative entry"),
    (lambda: F.gaussian_nll_loss(A, B, -1.0), ValueError, "var has negative entry"),
    (lambda: F.gaussian_nll_loss(A, B, VARIANCES[:, :2]), ValueError, "var is of incorrect size"),
    (lambda: F.pairwise_distance(mg.tensor(1.0), mg.tensor(2.0)), ValueError, "at least one axis"),
])
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_compiled_losses_follow_new_targets():
    weight = nn.Parameter(np.ones(4))
    x = mg.tensor(A)

    def step(x_, target):
        h = x_ * weight
        out = (F.hinge_embedding_loss(h[:, 0], target) + F.cosine_embedding_loss(h, h * h, target)
               + F.gaussian_nll_loss(h[:, 0], target, target * target + 0.5)
               + F.poisson_nll_loss(h[:, 0], target * target, full=True) + F.soft_margin_loss(h[:, 0], target))
        out.backward()
        return out.detach()

    compiled = mg.compile(step)
    for i in range(3):
        target = mg.tensor(np.sign(RNG.standard_normal(5)) * (i % 2 + 1))
        weight.grad = None
        replayed = compiled(x, target).item()
        replayed_grad, weight.grad = weight.grad.copy(), None
        assert replayed == step(x, target).item()
        np.testing.assert_array_equal(replayed_grad, weight.grad)
    assert compiled.traces == 1


def test_compiled_multi_margin_loss_runs_eagerly_with_new_targets():
    def step(x_, target):
        return F.multi_margin_loss(x_, target)

    compiled = mg.compile(step)
    with pytest.warns(UserWarning, match="runs eagerly"):
        compiled(mg.tensor(A), CLASSES)
    assert compiled(mg.tensor(A), CLASSES[::-1]).item() == step(mg.tensor(A), CLASSES[::-1]).item()


@pytest.mark.parametrize("reduction", ["mean", "none", "sum"])
def test_margin_losses_of_a_single_class_and_one_element_targets(torch, reduction):
    F, T = mg.nn.functional, torch.nn.functional
    scores = np.array([0.3, -0.2, 0.9, 0.1, 0.5])
    for values, target in ((np.array(0.7), 0), (scores, [1]), (scores, 1)):
        x, t = mg.tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)
        ours = F.multi_margin_loss(x, mg.tensor(np.asarray(target), dtype=mg.int64), p=2, reduction=reduction)
        theirs = T.multi_margin_loss(t, torch.tensor(target), p=2, reduction=reduction)
        assert ours.shape == tuple(theirs.shape)
        np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-12)
        ours.sum().backward()
        theirs.sum().backward()
        np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-12)
    one = mg.tensor(0.7, requires_grad=True)
    loss = F.multilabel_margin_loss(one, mg.tensor(0, dtype=mg.int64), reduction=reduction)
    expected = T.multilabel_margin_loss(torch.tensor(0.7), torch.tensor(0), reduction=reduction)
    assert loss.shape == tuple(expected.shape) and loss.item() == expected.item() == 0.0


def test_kl_div_of_a_negative_target_probability_is_nan_as_pytorchs_xlogy():
    losses = F.kl_div(mg.tensor([-1.0, -2.0, -0.5]), mg.tensor([-0.5, 0.0, 0.3]), reduction="none")
    assert np.isnan(losses.data[0]) and losses.data[1] == 0.0
    assert losses.data[2] == pytest.approx(0.3 * np.log(0.3) + 0.3 * 0.5)


@pytest.mark.parametrize("loss, match", [(lambda: nn.HuberLoss(delta=0.0), "delta must be > 0"),
                                         (lambda: nn.SmoothL1Loss(beta=-1.0), "beta must be >= 0")])
def test_huber_and_smooth_l1_refuse_a_width_pytorch_refuses(loss, match):
    with pytest.raises(ValueError, match=match):
        loss()(mg.zeros(2), mg.ones(2))
