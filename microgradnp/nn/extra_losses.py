# ruff: noqa: A001, A002  (PyTorch's argument name ``input``)
"""More of PyTorch's losses and distances, written with existing differentiable ops.

Each function here is also ``nn.functional.<name>``; each loss class is ``nn.<Name>``.
The formulas, argument names, defaults and edge cases are PyTorch's.
"""

from __future__ import annotations

import math

import numpy as np

from microgradnp import ops
from microgradnp.autograd.grad_mode import mode, records_calls, watchers
from microgradnp.errors import InvalidArgumentError
from microgradnp.nn.loss import _Loss, _WeightedLoss
from microgradnp.nn.module import Module
from microgradnp.ops.losses import check_reduction, check_same_shape, legacy_reduction
from microgradnp.tensor import Tensor, _data

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _tensor(x) -> Tensor:
    """``x`` as a Tensor (ints and bools become the default float dtype)."""
    return x if isinstance(x, Tensor) else Tensor(x)


def constant_weights(value, name: str, argument: str = "weight"):
    """A loss's class or element weights as an array: constants of the loss, which PyTorch does
    not differentiate either. One that requires grad is refused as PyTorch refuses it: taking its
    values would silently drop the gradient it asks for."""
    if value is None:
        return None
    if isinstance(value, Tensor) and value.requires_grad and mode.grad_enabled:
        raise RuntimeError(
            f"{name}: the loss is not differentiable with respect to {argument} (as in PyTorch), but {argument} "
            f"requires grad; pass {argument}.detach(), or build the weighted loss from operations "
            f"(reduction='none', then multiply) to differentiate it")
    return np.asarray(_data(value))


def eager_only(what: str) -> None:
    """Under ``mg.compile``, run the traced function eagerly: ``what`` computes constants from
    the values of its inputs in NumPy, which a replay would not compute again."""
    if watchers.count and records_calls():
        mode.tracer.cannot_replay(what)


def _reduce(loss, reduction: str, name: str):
    check_reduction(reduction, name)
    if reduction == "none":
        return loss
    return ops.mean(loss) if reduction == "mean" else ops.sum(loss)


def _same_ndim(name: str, **tensors) -> None:
    ndims = {key: np.ndim(_data(value)) for key, value in tensors.items()}
    if len(set(ndims.values())) > 1:
        shown = ", ".join(f"{key} {np.shape(_data(tensors[key]))}" for key in ndims)
        raise InvalidArgumentError(f"{name}: all inputs must have the same number of dimensions, got {shown}")


# -- distances ---------------------------------------------------------------------------------
def pairwise_distance(x1, x2, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False):
    """The ``p``-norm of ``x1 - x2 + eps`` along the last axis, as ``torch.nn.functional.pairwise_distance``.

    Args:
        x1: a tensor ``(N, D)`` or ``(D,)``.
        x2: a tensor that broadcasts with ``x1``.
        p: the norm's order (``inf`` for the largest difference).
        eps: added to the differences, so that the gradient exists where ``x1 == x2``.
        keepdim: keep the last axis with length 1.

    Returns:
        The distances, ``(N,)`` (or ``(N, 1)`` with ``keepdim``).
    """
    x1, x2 = _tensor(x1), _tensor(x2)
    axis = max(x1.ndim, x2.ndim) - 1
    if axis < 0:
        raise InvalidArgumentError(
            "pairwise_distance: the inputs need at least one axis (the vectors' one), got 0-d tensors")
    # p = 0 counts the nonzero differences; norm keeps that count in the graph with a zero
    # gradient, so backward runs as in PyTorch (a constant here would make backward raise).
    return ops.norm(x1 - x2 + eps, p=p, axis=axis, keepdims=keepdim)


class PairwiseDistance(Module):
    """``nn.functional.pairwise_distance`` as a layer, as ``torch.nn.PairwiseDistance``.

    Args:
        p: the norm's order.
        eps: added to the differences.
        keepdim: keep the last axis with length 1.
    """

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False):
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1, x2):
        return pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)

    def extra_repr(self) -> str:
        return f"p={self.norm}, eps={self.eps}, keepdim={self.keepdim}"


class CosineSimilarity(Module):
    """``nn.functional.cosine_similarity`` along ``dim`` as a layer, as ``torch.nn.CosineSimilarity``.

    Args:
        dim: the axis along which the vectors lie.
        eps: the smallest length a vector is divided by.
    """

    def __init__(self, dim: int = 1, eps: float = 1e-8):
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1, x2):
        from microgradnp.nn.functional import cosine_similarity

        return cosine_similarity(x1, x2, self.dim, self.eps)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, eps={self.eps}"


# -- losses -----------------------------------------------------------------------------------
def _hinge(x):
    """``max(0, x)`` with PyTorch's gradient at the kink of these margin losses: 1 where
    ``x == 0`` too (PyTorch's ``clamp_min(x, 0)`` passes the gradient where ``x >= 0``),
    where ``relu`` gives 0 (as PyTorch's ``relu``). It matters at ties: equal scores with
    margin 0, or a distance exactly at the margin."""
    return ops.clip(x, 0, None)


def margin_ranking_loss(input1, input2, target, margin: float = 0.0, size_average=None, reduce=None,
                        reduction: str = "mean"):
    """``max(0, -target * (input1 - input2) + margin)``, as ``torch.nn.functional.margin_ranking_loss``:
    ``target`` (1 or -1) says which input should rank higher.

    Args:
        input1: scores, any shape.
        input2: scores, the same number of dimensions (they broadcast).
        target: 1 where ``input1`` should be larger, -1 where ``input2`` should.
        margin: the required gap.
        size_average: deprecated (PyTorch's): with ``reduce``, an older spelling of ``reduction``.
        reduce: deprecated (PyTorch's); see ``ops.losses.legacy_reduction``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Returns:
        The loss (per element with ``reduction="none"``).

    Raises:
        ValueError: inputs of different numbers of dimensions, or a bad reduction.
    """
    reduction = legacy_reduction(size_average, reduce, reduction, "margin_ranking_loss")
    check_reduction(reduction, "margin_ranking_loss")
    _same_ndim("margin_ranking_loss", input1=input1, input2=input2, target=target)
    loss = _hinge(-_tensor(target) * (_tensor(input1) - input2) + margin)
    return _reduce(loss, reduction, "margin_ranking_loss")


def hinge_embedding_loss(input, target, margin: float = 1.0, size_average=None, reduce=None,
                         reduction: str = "mean"):
    """``input`` where ``target == 1``, ``max(0, margin - input)`` where ``target == -1``, as
    ``torch.nn.functional.hinge_embedding_loss`` (``input`` is usually a distance).

    Args:
        input: a tensor.
        target: 1 or -1 per element (it broadcasts with ``input``).
        margin: the margin for the dissimilar pairs.
        size_average: deprecated (PyTorch's): with ``reduce``, an older spelling of ``reduction``.
        reduce: deprecated (PyTorch's); see ``ops.losses.legacy_reduction``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Returns:
        The loss.
    """
    reduction = legacy_reduction(size_average, reduce, reduction, "hinge_embedding_loss")
    check_reduction(reduction, "hinge_embedding_loss")
    input, target = _tensor(input), _tensor(target)
    # PyTorch's form: a target that is neither 1 nor -1 takes both terms.
    loss = ops.where(target != 1, _hinge(margin - input), 0.0) + ops.where(target != -1, input, 0.0)
    return _reduce(loss, reduction, "hinge_embedding_loss")


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction: str = "mean"):
    """``log(1 + exp(-target * input))``, the logistic loss of labels 1/-1, as
    ``torch.nn.functional.soft_margin_loss`` (finite for any input).

    Args:
        input: scores.
        target: 1 or -1, the shape of ``input``.
        size_average: deprecated (PyTorch's): with ``reduce``, an older spelling of ``reduction``.
        reduce: deprecated (PyTorch's); see ``ops.losses.legacy_reduction``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Returns:
        The loss.
    """
    reduction = legacy_reduction(size_average, reduce, reduction, "soft_margin_loss")
    check_reduction(reduction, "soft_margin_loss")
    check_same_shape(np.shape(_data(input)), np.shape(_data(target)), "soft_margin_loss")
    return _reduce(-ops.logsigmoid(_tensor(input) * target), reduction, "soft_margin_loss")


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None,
                                reduction: str = "mean"):
    """Binary cross-entropy of logits per class, averaged over the classes (the last axis),
    as ``torch.nn.functional.multilabel_soft_margin_loss``.

    Args:
        input: logits ``(N, C)`` (or ``(C,)``).
        target: 0/1 labels of the same shape.
        weight: one weight per class ``(C,)``, or None.
        size_average: deprecated (PyTorch's): with ``reduce``, an older spelling of ``reduction``.
        reduce: deprecated (PyTorch's); see ``ops.losses.legacy_reduction``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (then one loss per sample).

    Returns:
        The loss.
    """
    reduction = legacy_reduction(size_average, reduce, reduction, "multilabel_soft_margin_loss")
    check_reduction(reduction, "multilabel_soft_margin_loss")
    check_same_shape(np.shape(_data(input)), np.shape(_data(target)), "multilabel_soft_margin_loss")
    input = _tensor(input)
    if input.ndim == 0:
        raise InvalidArgumentError(
            "multilabel_soft_margin_loss: input needs a class axis, (N, C) or (C,), got a 0-d tensor")
    loss = -(ops.logsigmoid(input) * target + ops.logsigmoid(-input) * (1 - _tensor(target)))
    if weight is not None:
        loss = loss * weight
    loss = ops.sum(loss, axis=-1) / input.shape[-1]
    return _reduce(loss, reduction, "multilabel_soft_margin_loss")


def cosine_embedding_loss(input1, input2, target, margin: float = 0.0, size_average=None, reduce=None,
                          reduction: str = "mean"):
    """``1 - cos(x1, x2)`` where ``target == 1`` and ``max(0, cos(x1, x2) - margin)`` where
    ``target == -1``, as ``torch.nn.functional.cosine_embedding_loss``.

    Args:
        input1: vectors ``(N, D)``, or one vector ``(D,)``.
        input2: the same shape.
        target: ``(N,)`` of 1 or -1 (0-d for one vector).
        margin: for the dissimilar pairs, in [-1, 1].
        size_average: deprecated (PyTorch's): with ``reduce``, an older spelling of ``reduction``.
        reduce: deprecated (PyTorch's); see ``ops.losses.legacy_reduction``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Returns:
        The loss.

    Raises:
        ValueError: on shapes that do not fit each other.
    """
    reduction = legacy_reduction(size_average, reduce, reduction, "cosine_embedding_loss")
    check_reduction(reduction, "cosine_embedding_loss")
    axis = np.ndim(_data(target))
    if axis not in (0, 1):
        raise InvalidArgumentError(
            f"cosine_embedding_loss: 0-d or 1-d target expected, got shape {np.shape(_data(target))}")
    for which, x in (("input1", input1), ("input2", input2)):
        if np.ndim(_data(x)) != axis + 1:
            raise InvalidArgumentError(
                f"cosine_embedding_loss: a {axis}-d target expects {axis + 1}-d inputs, but {which} "
                f"has shape {np.shape(_data(x))}")
    input1, target = _tensor(input1), _tensor(target)
    epsilon = 1e-12  # PyTorch's
    dot = ops.sum(input1 * input2, axis=axis)
    squares1 = ops.sum(input1 * input1, axis=axis) + epsilon
    squares2 = ops.sum(_tensor(input2) * input2, axis=axis) + epsilon
    cos = dot / ops.sqrt(squares1 * squares2)
    loss = ops.where(target == 1, 1 - cos, 0.0) + ops.where(target == -1, ops.clip(cos - margin, 0, None), 0.0)
    return _reduce(loss, reduction, "cosine_embedding_loss")


def multi_margin_loss(input, target, p: int = 1, margin: float = 1.0, weight=None, size_average=None,
                      reduce=None, reduction: str = "mean"):
    """The multi-class hinge loss, as ``torch.nn.functional.multi_margin_loss``: for each
    sample, ``sum over i != y of max(0, margin - x[y] + x[i]) ** p / C`` (times ``weight[y]``).

    Args:
        input: scores ``(N, C)`` or ``(C,)``.
        target: class indices ``(N,)`` (0-d for one sample) in ``[0, C)``.
        p: 1 or 2.
        margin: the required gap between the right class and the others.
        weight: one weight per class ``(C,)``, or None.
        size_average: deprecated (PyTorch's): with ``reduce``, an older spelling of ``reduction``.
        reduce: deprecated (PyTorch's); see ``ops.losses.legacy_reduction``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (one loss per sample).

    Returns:
        The loss.

    Raises:
        ValueError: ``p`` not 1 or 2, bad shapes, or a target out of range.
    """
    reduction = legacy_reduction(size_average, reduce, reduction, "multi_margin_loss")
    check_reduction(reduction, "multi_margin_loss")
    if p not in (1, 2):
        raise InvalidArgumentError(f"multi_margin_loss: only p == 1 and p == 2 are supported, got p={p!r}")
    input = _tensor(input)
    indices = np.asarray(_data(target))
    if input.ndim == 0:  # (one class, as PyTorch takes a 0-d input)
        input = input.reshape(1)
    if input.ndim == 1 and indices.shape == (1,):  # (PyTorch takes a 1-element target too, and keeps its axis)
        return ops.reshape(multi_margin_loss(input, indices.reshape(()), p, margin, weight, reduction=reduction),
                           (1,) if reduction == "none" else ())
    if input.ndim not in (1, 2) or indices.shape != input.shape[:-1]:
        raise InvalidArgumentError(
            f"multi_margin_loss: expected input (N, C) with target (N,), or (C,) with a 0-d target, "
            f"got input {input.shape} and target {indices.shape}")
    classes = input.shape[-1]
    if indices.dtype.kind == "f" and np.all(np.mod(indices, 1) == 0):
        indices = indices.astype(np.int64)  # a Tensor of indices holds them as floats
    if indices.dtype.kind not in "iu" or (indices.size and (indices.min() < 0 or indices.max() >= classes)):
        raise InvalidArgumentError(f"multi_margin_loss: target must hold integer class indices in [0, {classes}), "
                         f"got {indices.dtype} values {np.unique(indices)[:5]}")
    eager_only("multi_margin_loss (its class indices are read in Python)")
    scores = ops.take_along_axis(input, indices[..., None], axis=-1)
    terms = ops.relu(input - scores + margin)
    if p == 2:
        terms = terms * terms
    others = 1 - np.eye(classes, dtype=input.dtype)[indices]
    terms = terms * others
    if weight is not None:
        weight = constant_weights(weight, "multi_margin_loss")
        if weight.shape != (classes,):
            raise InvalidArgumentError(f"multi_margin_loss: weight must have shape ({classes},), got {weight.shape}")
        terms = terms * weight.astype(input.dtype)[indices][..., None]
    return _reduce(ops.sum(terms, axis=-1) / classes, reduction, "multi_margin_loss")


def triplet_margin_loss(anchor, positive, negative, margin: float = 1.0, p: float = 2, eps: float = 1e-6,
                        swap: bool = False, size_average=None, reduce=None, reduction: str = "mean"):
    """``max(0, margin + d(anchor, positive) - d(anchor, negative))`` with ``d`` the
    ``pairwise_distance``, as ``torch.nn.functional.triplet_margin_loss``.

    Args:
        anchor: vectors ``(N, D)`` or ``(D,)`` (or ``(N, ..., D)``: a loss per vector).
        positive: the same number of dimensions.
        negative: the same number of dimensions.
        margin: greater than 0.
        p: the norm's order of the distance.
        eps: added to the differences (see ``pairwise_distance``).
        swap: use ``min(d(anchor, negative), d(positive, negative))`` (distance swap).
        size_average: deprecated (PyTorch's): with ``reduce``, an older spelling of ``reduction``.
        reduce: deprecated (PyTorch's); see ``ops.losses.legacy_reduction``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Returns:
        The loss.

    Raises:
        ValueError: ``margin <= 0``, or inputs of different numbers of dimensions.
    """
    reduction = legacy_reduction(size_average, reduce, reduction, "triplet_margin_loss")
    check_reduction(reduction, "triplet_margin_loss")
    if margin <= 0:
        raise InvalidArgumentError(f"triplet_margin_loss: margin must be greater than 0, got {margin}")
    # (N, ..., D) as PyTorch takes them: the distances run along the last axis
    _same_ndim("triplet_margin_loss", anchor=anchor, positive=positive, negative=negative)
    d_positive = pairwise_distance(anchor, positive, p, eps)
    d_negative = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_negative = ops.minimum(d_negative, pairwise_distance(positive, negative, p, eps))
    loss = ops.clip(d_positive - d_negative + margin, 0, None)
    return _reduce(loss, reduction, "triplet_margin_loss")


def gaussian_nll_loss(input, target, var, full: bool = False, eps: float = 1e-6,
                      reduction: str = "mean"):
    """The negative log-likelihood of ``target`` under Gaussians of mean ``input`` and
    variance ``var``, ``0.5 (log(max(var, eps)) + (input - target)^2 / max(var, eps))``
    (plus ``0.5 log(2 pi)`` with ``full``), as ``torch.nn.functional.gaussian_nll_loss``.

    The clamp at ``eps`` passes the gradient through unchanged, as PyTorch's.

    Args:
        input: the means.
        target: samples, the shape of ``input``.
        var: variances: the shape of ``input``, or with its last axis dropped or of
            length 1 (one variance per row), or one with one other axis of length 1, or a float.
        full: include the constant term.
        eps: the smallest variance used.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Returns:
        The loss.

    Raises:
        ValueError: a negative variance, or ``var`` of a shape that does not fit.
    """
    input = _tensor(input)
    if isinstance(var, float | int) and not isinstance(var, bool):
        if var < 0:
            raise InvalidArgumentError("gaussian_nll_loss: var has negative entry/entries")
        var = Tensor(np.full(input.shape, var, dtype=input.dtype))
    var = _tensor(var)
    if np.any(var.data < 0):
        raise InvalidArgumentError("gaussian_nll_loss: var has negative entry/entries")
    if var.shape != input.shape:
        if input.shape[:-1] == var.shape:
            var = ops.expand_dims(var, -1)
        elif not (var.ndim == input.ndim and sum(v for i, v in zip(input.shape, var.shape) if i != v) == 1):
            raise InvalidArgumentError(
                f"gaussian_nll_loss: var is of incorrect size {var.shape} for input {input.shape}: give "
                "one variance per element, per row (last axis dropped or 1), or a float")
    check_reduction(reduction, "gaussian_nll_loss")
    clamped = var + (ops.clip(var, eps, None) - var).detach()  # the clamp, with the identity's gradient
    loss = (ops.log(clamped) + (input - target) ** 2 / clamped) * 0.5
    if full:
        loss = loss + _HALF_LOG_2PI
    return _reduce(loss, reduction, "gaussian_nll_loss")


def poisson_nll_loss(input, target, log_input: bool = True, full: bool = False, size_average=None,
                     eps: float = 1e-8, reduce=None, reduction: str = "mean"):
    """The negative log-likelihood of counts ``target`` under Poisson rates, as
    ``torch.nn.functional.poisson_nll_loss``: ``exp(input) - target * input`` when
    ``log_input`` (``input`` is the log-rate), else ``input - target * log(input + eps)``.

    Args:
        input: log-rates (``log_input``) or rates.
        target: counts.
        log_input: whether ``input`` is the log of the rate.
        full: add Stirling's approximation ``t log t - t + 0.5 log(2 pi t)`` of
            ``log(t!)`` where ``t > 1``.
        eps: keeps ``log`` finite when ``log_input`` is False.
        size_average: deprecated (PyTorch's): with ``reduce``, an older spelling of ``reduction``.
        reduce: deprecated (PyTorch's); see ``ops.losses.legacy_reduction``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Returns:
        The loss.
    """
    reduction = legacy_reduction(size_average, reduce, reduction, "poisson_nll_loss")
    check_reduction(reduction, "poisson_nll_loss")
    input, target = _tensor(input), _tensor(target)
    loss = ops.exp(input) - target * input if log_input else input - target * ops.log(input + eps)
    if full:
        big = target > 1  # log(t!) = 0 for t in {0, 1}: no term there, as PyTorch
        safe = ops.where(big, target, 1.0)
        loss = loss + ops.where(big, safe * ops.log(safe) - safe + ops.log(safe * (2 * math.pi)) * 0.5, 0.0)
    return _reduce(loss, reduction, "poisson_nll_loss")


# -- modules ------------------------------------------------------------------------------------
class _MarginLoss(_Loss):
    def __init__(self, margin: float = 0.0, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(reduction, size_average=size_average, reduce=reduce)
        self.margin = margin


class MarginRankingLoss(_MarginLoss):
    """``nn.functional.margin_ranking_loss`` as a module, as ``torch.nn.MarginRankingLoss``;
    called as ``loss(input1, input2, target)``."""

    def forward(self, input1, input2, target):
        return margin_ranking_loss(input1, input2, target, self.margin, reduction=self.reduction)


class HingeEmbeddingLoss(_MarginLoss):
    """``nn.functional.hinge_embedding_loss`` as a module, as ``torch.nn.HingeEmbeddingLoss``."""

    def __init__(self, margin: float = 1.0, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(margin, size_average, reduce, reduction)

    def forward(self, input, target):
        return hinge_embedding_loss(input, target, self.margin, reduction=self.reduction)


class CosineEmbeddingLoss(_MarginLoss):
    """``nn.functional.cosine_embedding_loss`` as a module, as ``torch.nn.CosineEmbeddingLoss``;
    called as ``loss(input1, input2, target)``."""

    def forward(self, input1, input2, target):
        return cosine_embedding_loss(input1, input2, target, self.margin, reduction=self.reduction)


class SoftMarginLoss(_Loss):
    """``nn.functional.soft_margin_loss`` as a module, as ``torch.nn.SoftMarginLoss``."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(reduction, size_average=size_average, reduce=reduce)

    def forward(self, input, target):
        return soft_margin_loss(input, target, reduction=self.reduction)


class MultiLabelSoftMarginLoss(_WeightedLoss):
    """``nn.functional.multilabel_soft_margin_loss`` as a module, as ``torch.nn.MultiLabelSoftMarginLoss``
    (``weight`` a buffer, as there)."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(weight, reduction, size_average=size_average, reduce=reduce)

    def forward(self, input, target):
        return multilabel_soft_margin_loss(input, target, self.weight, reduction=self.reduction)


class MultiMarginLoss(_WeightedLoss):
    """``nn.functional.multi_margin_loss`` as a module, as ``torch.nn.MultiMarginLoss`` (``weight``
    a buffer, as there)."""

    def __init__(self, p: int = 1, margin: float = 1.0, weight=None, size_average=None, reduce=None,
                 reduction: str = "mean"):
        super().__init__(weight, reduction, size_average=size_average, reduce=reduce)
        if p not in (1, 2):
            raise InvalidArgumentError(f"MultiMarginLoss: only p == 1 and p == 2 are supported, got p={p!r}")
        self.p, self.margin = p, margin

    def forward(self, input, target):
        return multi_margin_loss(input, target, self.p, self.margin, self.weight, reduction=self.reduction)


class TripletMarginLoss(_Loss):
    """``nn.functional.triplet_margin_loss`` as a module, as ``torch.nn.TripletMarginLoss``;
    called as ``loss(anchor, positive, negative)``."""

    def __init__(self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6, swap: bool = False,
                 size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(reduction, size_average=size_average, reduce=reduce)
        if margin <= 0:
            raise InvalidArgumentError(f"TripletMarginLoss: margin must be greater than 0, got {margin}")
        self.margin, self.p, self.eps, self.swap = margin, p, eps, swap

    def forward(self, anchor, positive, negative):
        return triplet_margin_loss(anchor, positive, negative, self.margin, self.p, self.eps, self.swap,
                                   reduction=self.reduction)


class GaussianNLLLoss(_Loss):
    """``nn.functional.gaussian_nll_loss`` as a module, as ``torch.nn.GaussianNLLLoss``;
    called as ``loss(input, target, var)``."""

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean"):
        super().__init__(reduction)
        self.full, self.eps = full, eps

    def forward(self, input, target, var):
        return gaussian_nll_loss(input, target, var, self.full, self.eps, self.reduction)


class PoissonNLLLoss(_Loss):
    """``nn.functional.poisson_nll_loss`` as a module, as ``torch.nn.PoissonNLLLoss``."""

    def __init__(self, log_input: bool = True, full: bool = False, size_average=None, eps: float = 1e-8,
                 reduce=None, reduction: str = "mean"):
        super().__init__(reduction, size_average=size_average, reduce=reduce)
        self.log_input, self.full, self.eps = log_input, full, eps

    def forward(self, log_input, target):
        return poisson_nll_loss(log_input, target, self.log_input, self.full, eps=self.eps, reduction=self.reduction)


__all__ = [
    "CosineEmbeddingLoss", "CosineSimilarity", "GaussianNLLLoss", "HingeEmbeddingLoss", "MarginRankingLoss",
    "MultiLabelSoftMarginLoss", "MultiMarginLoss", "PairwiseDistance", "PoissonNLLLoss", "SoftMarginLoss",
    "TripletMarginLoss", "cosine_embedding_loss", "gaussian_nll_loss", "hinge_embedding_loss",
    "margin_ranking_loss", "multi_margin_loss", "multilabel_soft_margin_loss", "pairwise_distance",
    "poisson_nll_loss", "soft_margin_loss", "triplet_margin_loss",
]
