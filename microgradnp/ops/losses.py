"""Loss functions as single primitives: one graph node each, numerically stable forms,
``reduction="mean" | "sum" | "none"`` as in PyTorch."""

from __future__ import annotations

import math

import numpy as np

from microgradnp.errors import DtypeError, InvalidArgumentError
from microgradnp.ops.activations import _EXP_LIMITS, softmax
from microgradnp.ops.elementwise import _values
from microgradnp.ops.primitive import Primitive, constant
from microgradnp.tensor import Tensor

REDUCTIONS = ("mean", "sum", "none")
# nn.Ensemble.member_losses' reductions (not PyTorch's): the mean or sum of each member's
# losses (the leading axis), against a target all members share (a member's shape). One
# node instead of a broadcast, the unreduced loss and a mean over its rows, with the numbers
# each member's own "mean"/"sum" gives.
PER_MEMBER = {"mean per member": "mean", "sum per member": "sum"}


def check_reduction(reduction: str, loss: str) -> None:
    if reduction not in REDUCTIONS:
        raise InvalidArgumentError(f"{loss}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def legacy_reduction(size_average, reduce, reduction: str, loss: str) -> str:
    """The reduction PyTorch reads from its deprecated ``size_average``/``reduce`` arguments
    (``torch.nn._reduction.legacy_get_string``), which old code still passes: each None means
    True; ``reduce`` false gives ``"none"``, else ``size_average`` picks ``"mean"`` or ``"sum"``
    (by truth value, as PyTorch: so ``mse_loss(x, y, "sum")``, whose third argument is
    ``size_average``, means ``"mean"`` there too). With both None, ``reduction`` as given.
    Setting either warns with PyTorch's UserWarning, which names the replacement."""
    if size_average is None and reduce is None:
        return reduction
    import warnings

    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    legacy = "mean" if size_average and reduce else "sum" if reduce else "none"
    warnings.warn(f"{loss}: size_average and reduce args will be deprecated, please use reduction='{legacy}' "
                  "instead.", UserWarning, stacklevel=3)
    return legacy


def check_same_shape(input_shape, target_shape, loss: str) -> None:
    """Broadcasting a (N, 1) prediction against an (N,) target would silently compare
    every prediction with every target: refuse it."""
    if tuple(input_shape) != tuple(target_shape):
        raise InvalidArgumentError(
            f"{loss}: input has shape {tuple(input_shape)} but target has shape {tuple(target_shape)}; "
            "they must match (e.g. y.reshape(-1, 1) for a single output column)"
        )


def _reduce(elementwise, reduction: str):
    if reduction == "none":
        return elementwise
    if reduction in PER_MEMBER:  # each member's rows, summed as its own loss would sum them
        rows = elementwise.reshape(len(elementwise), -1)
        total = np.add.reduce(rows, axis=1)
        return total / constant(rows.shape[1], total.dtype) if PER_MEMBER[reduction] == "mean" else total
    # np.add.reduce skips ndarray.sum's Python wrapper: this runs every training step.
    total = np.add.reduce(elementwise, axis=None)
    # A 0-d array, not NumPy's scalar: apply() and a compiled replay then take it as it is.
    return np.asarray(total / elementwise.size if reduction == "mean" else total)


def _unreduce(grad, ctx):
    """The gradient of the reduced loss as a gradient of the elementwise losses."""
    if ctx.reduction in PER_MEMBER:  # member m's gradient along its own rows
        grad = grad.reshape(grad.shape + (1,) * ctx.member_ndim)
        return grad / ctx.count if PER_MEMBER[ctx.reduction] == "mean" else grad
    if ctx.reduction == "mean":
        return grad / ctx.count
    return grad


def _scalar(grad):
    """A reduced loss's 0-d gradient array as a NumPy scalar of its dtype: the same
    arithmetic on it, and a tenth of the cost of a ufunc on a 0-d array."""
    return grad[()] if type(grad) is np.ndarray and not grad.ndim else grad


def _element_weight(weight, x, target, loss: str, argument: str = "weight"):
    """``weight`` (or ``pos_weight``) of an elementwise loss as an array that broadcasts to the
    input's shape, in the losses' dtype. One of more dimensions than the input would make the
    losses bigger than the input (and the mean's count wrong): refused, as PyTorch refuses it.
    Its dtype does not promote the loss (a float64 weight keeps float32 losses float32), as
    PyTorch's weights do not."""
    if weight is None:
        return None
    weight, shape = np.asarray(weight), np.shape(x)
    try:
        fits = np.broadcast_shapes(weight.shape, shape) == shape
    except ValueError:
        fits = False
    if not fits:
        raise InvalidArgumentError(
            f"{loss}: {argument} of shape {weight.shape} must broadcast to the input's shape {shape} "
            "(e.g. one weight per element, or per class along the last axis)")
    dtype = np.result_type(x, target)
    return weight.astype(dtype, copy=False) if dtype.kind == "f" else weight


class _ElementwiseLoss(Primitive):
    """Shared setup of losses between a prediction and a same-shaped target."""

    @classmethod
    def _setup(cls, ctx, x, target, reduction):
        shape = x.shape if type(x) is np.ndarray else np.shape(x)  # (np.shape is slower: every step runs this)
        if reduction not in REDUCTIONS:
            if reduction not in PER_MEMBER:
                check_reduction(reduction, cls.name)
            shape = shape[1:]  # a member's: the target is every member's
            ctx.member_ndim = len(shape)
        if type(target) is not np.ndarray or shape != target.shape:
            check_same_shape(shape, np.shape(target), cls.name)
        ctx.reduction, ctx.count = reduction, max(math.prod(shape), 1)


class MSELoss(_ElementwiseLoss):
    name = "mse_loss"

    @classmethod
    def forward(cls, ctx, x, target, reduction="mean"):
        cls._setup(ctx, x, target, reduction)
        diff = x - target
        ctx.save_for_backward(x, target, diff)
        return _reduce(diff * diff, reduction)

    @staticmethod
    def backward(ctx, grad):
        x, target, diff = ctx.saved_tensors
        # Building a graph (create_graph), the difference is recomputed from the inputs'
        # Tensors, so that second derivatives see through it.
        if type(x) is not np.ndarray:
            diff = x - target
        grad_input = _unreduce(_scalar(grad) * 2, ctx) * diff
        return grad_input, (-grad_input if ctx.needs_input_grad[1] else None)


class L1Loss(_ElementwiseLoss):
    """Mean absolute error; its gradient is ``sign(input - target)``, 0 where they are equal."""

    name = "l1_loss"
    _zero_second_order = True

    @classmethod
    def forward(cls, ctx, x, target, reduction="mean"):
        cls._setup(ctx, x, target, reduction)
        diff = x - target
        ctx.save_for_backward(np.sign(diff))
        return _reduce(np.abs(diff), reduction)

    @staticmethod
    def backward(ctx, grad):
        (sign,) = ctx.saved_tensors
        grad_input = _unreduce(grad, ctx) * sign
        return grad_input, (-grad_input if ctx.needs_input_grad[1] else None)


class _PiecewiseQuadraticLoss(_ElementwiseLoss):
    """Smooth L1 and Huber: quadratic where ``|d| = |input - target| < width``, linear
    beyond. The slope is ``d * inside / scale + sign(d) * outside * height``: the masks
    are constants and ``d`` is recomputed from the inputs, so second order is right too."""

    width_name = "width"

    @staticmethod
    def _scale_and_height(width: float) -> tuple[float, float]:
        raise NotImplementedError

    @classmethod
    def forward(cls, ctx, x, target, reduction="mean", width: float = 1.0):
        width = float(width)  # (a NumPy float64 width must not make float32 losses float64)
        cls._setup(ctx, x, target, reduction)
        if not width >= 0:
            raise InvalidArgumentError(f"{cls.name}: {cls.width_name} must be >= 0, got {width}")
        diff = x - target
        size = np.abs(diff)
        inside = size < width  # empty when width is 0: then the scale is never used
        scale, height = cls._scale_and_height(width)
        scale = scale or 1.0
        losses = np.where(inside, 0.5 * diff * diff / scale, height * (size - 0.5 * width))
        # The slopes in the difference's dtype: a bool mask over a Python float would be float64.
        slopes = inside.astype(diff.dtype) / scale, np.sign(diff) * ~inside * height
        ctx.save_for_backward(x, target, *slopes)
        return _reduce(losses, reduction)

    @staticmethod
    def backward(ctx, grad):
        x, target, inside_slope, outside_slope = ctx.saved_tensors
        grad_input = _unreduce(grad, ctx) * ((x - target) * inside_slope + outside_slope)
        return grad_input, (-grad_input if ctx.needs_input_grad[1] else None)


class SmoothL1Loss(_PiecewiseQuadraticLoss):
    """``0.5 d**2 / beta`` for ``|d| < beta``, else ``|d| - 0.5 beta`` (``d = input -
    target``), as ``torch.nn.functional.smooth_l1_loss``; ``beta = 0`` is the L1 loss."""

    name, width_name = "smooth_l1_loss", "beta"

    @staticmethod
    def _scale_and_height(beta):
        return beta, 1.0


class HuberLoss(_PiecewiseQuadraticLoss):
    """``0.5 d**2`` for ``|d| < delta``, else ``delta (|d| - 0.5 delta)``, as
    ``torch.nn.functional.huber_loss`` (``delta`` times the smooth L1 loss with ``beta = delta``)."""

    name, width_name = "huber_loss", "delta"

    @staticmethod
    def _scale_and_height(delta):
        return 1.0, delta


class KLDivLoss(_ElementwiseLoss):
    """Kullback-Leibler divergence of log-probabilities ``input`` from ``target``
    (probabilities, or log-probabilities with ``log_target``), PyTorch's formula:
    ``xlogy(target, target) - target * input`` (0 where the target is 0), or
    ``exp(target) * (target - input)``. ``reduction="batchmean"`` divides the sum by the
    batch size (the divergence per sample); ``"mean"`` divides by the number of elements."""

    name = "kl_div"

    @classmethod
    def forward(cls, ctx, x, target, reduction="mean", log_target=False):
        batchmean = reduction == "batchmean"
        cls._setup(ctx, x, target, "sum" if batchmean else reduction)
        ctx.log_target = log_target
        if log_target:
            probability = np.exp(target)
            losses = probability * (target - x)
        else:
            probability = target
            with np.errstate(divide="ignore", invalid="ignore"):  # (log of 0 is dropped; of a negative, nan)
                losses = np.where(target == 0, 0, target * np.log(target)) - target * x
        ctx.save_for_backward(x, target, probability)
        total = _reduce(losses, ctx.reduction)
        if batchmean:  # backward divides by the batch size as "mean" divides by the count
            batch = np.shape(x)[0] if np.ndim(x) else 1
            # (an empty batch: nan, as PyTorch; its gradient is empty whatever backward divides by)
            ctx.reduction, ctx.count = "mean", batch or 1
            total = total / batch if batch else total * np.nan
        return total

    @staticmethod
    def backward(ctx, grad):
        x, target, probability = ctx.saved_tensors
        if ctx.log_target and isinstance(target, Tensor):
            # create_graph: exp(target) again from the target's Tensor (the saved array would
            # be a constant), so that second derivatives through the target see it
            probability = target.exp()
        grad_losses = _unreduce(grad, ctx)
        grad_target = None
        if ctx.needs_input_grad[1]:
            if ctx.log_target:  # d/dt exp(t) (t - x) = exp(t) (t - x + 1)
                grad_target = grad_losses * probability * (target - x + 1)
            else:  # d/dt (t log t - t x) = log t + 1 - x where t > 0; none at t = 0 (nan, as PyTorch)
                values = _values(target)
                positive = values > 0
                undefined = np.where(positive, 0.0, np.nan).astype(values.dtype)
                grad_target = grad_losses * (np.log(target + ~positive) + 1 - x) + undefined
        return -grad_losses * probability, grad_target


class BCELoss(_ElementwiseLoss):
    """Binary cross-entropy of probabilities; log is clamped at -100 as in PyTorch, so a
    confident wrong prediction gives a large finite loss rather than inf."""

    name = "binary_cross_entropy"

    @classmethod
    def forward(cls, ctx, x, target, weight=None, reduction="mean"):
        cls._setup(ctx, x, target, reduction)
        if np.any((x < 0) | (x > 1)):
            raise InvalidArgumentError(
                "binary_cross_entropy: inputs must be probabilities in [0, 1]; apply sigmoid first, "
                "or use binary_cross_entropy_with_logits on raw scores"
            )
        weight = _element_weight(weight, x, target, cls.name)
        log_p, log_not_p = _clamped_logs(x)
        losses = -(target * log_p + (1 - target) * log_not_p)
        if weight is not None:
            losses = losses * weight
        ctx.weight = weight
        ctx.save_for_backward(x, target)
        return _reduce(losses, reduction)

    @staticmethod
    def backward(ctx, grad):
        x, target = ctx.saved_tensors
        grad = _unreduce(grad, ctx) if ctx.weight is None else _unreduce(grad, ctx) * ctx.weight
        # d/dp; the denominator is kept away from 0 as PyTorch does (eps 1e-12).
        grad_input = grad * (x - target) / np.maximum(x * (1 - x), 1e-12)
        if not ctx.needs_input_grad[1]:
            return grad_input, None
        log_p, log_not_p = _clamped_logs(x)
        return grad_input, grad * (log_not_p - log_p)


def _clamped_logs(p):
    """log p and log(1 - p), each at least -100 (PyTorch's clamp: a certain mistake costs 100)."""
    with np.errstate(divide="ignore"):
        return np.maximum(np.log(p), -100), np.maximum(np.log(1 - p), -100)


class BCEWithLogitsLoss(_ElementwiseLoss):
    """Sigmoid and binary cross-entropy in one stable step, arranged as PyTorch does:
    ``(1 - t) x + w softplus(-x)`` with ``w = (pos_weight - 1) t + 1``, exact even
    where the loss is tiny and finite for any score."""

    name = "binary_cross_entropy_with_logits"

    @staticmethod
    def _softplus_of_negative(x):
        return np.maximum(-x, 0) + np.log1p(np.exp(-np.abs(x)))

    @staticmethod
    def _sigmoid_of_negative(x):
        return 1 / (1 + np.exp(np.minimum(x, _EXP_LIMITS.get(np.result_type(_values(x)), 80.0))))

    @classmethod
    def forward(cls, ctx, x, target, weight=None, pos_weight=None, reduction="mean"):
        cls._setup(ctx, x, target, reduction)
        weight = _element_weight(weight, x, target, cls.name)
        pos_weight = _element_weight(pos_weight, x, target, cls.name, "pos_weight")
        softplus_of_negative = cls._softplus_of_negative(x)
        log_weight = 1 if pos_weight is None else (pos_weight - 1) * target + 1
        losses = (1 - target) * x + log_weight * softplus_of_negative
        if weight is not None:
            losses = losses * weight
        sigmoid_of_negative = cls._sigmoid_of_negative(x)
        ctx.weight, ctx.pos_weight = weight, pos_weight
        ctx.save_for_backward(x, target, log_weight, softplus_of_negative, sigmoid_of_negative)
        return _reduce(losses, reduction)

    @staticmethod
    def backward(ctx, grad):
        x, target, log_weight, softplus_of_negative, sigmoid_of_negative = ctx.saved_tensors
        if isinstance(x, Tensor):  # create_graph: the values x gave, computed again from it (differentiable)
            softplus_of_negative = BCEWithLogitsLoss._softplus_of_negative(x)
            sigmoid_of_negative = BCEWithLogitsLoss._sigmoid_of_negative(x)
        if ctx.pos_weight is not None and isinstance(target, Tensor):
            # create_graph: the saved weight is an array, a constant; from the target's Tensor
            # it carries the second derivatives through the target
            log_weight = (ctx.pos_weight - 1) * target + 1
        grad = _unreduce(grad, ctx) if ctx.weight is None else _unreduce(grad, ctx) * ctx.weight
        grad_input = grad * ((1 - target) - log_weight * sigmoid_of_negative)
        if not ctx.needs_input_grad[1]:
            return grad_input, None
        slope = -x if ctx.pos_weight is None else (ctx.pos_weight - 1) * softplus_of_negative - x
        return grad_input, grad * slope


def _shift(logits):
    # np.maximum.reduce is np.max without its Python wrapper (this runs every step).
    return logits - np.maximum.reduce(logits, axis=1, keepdims=True)


class CrossEntropyLoss(Primitive):
    """Softmax cross-entropy of logits ``(N, C, ...)`` against class indices ``(N, ...)``
    (or one unbatched sample: logits ``(C,)``, a 0-d target):
    log-softmax, the pick of the target class and the reduction in one node.

    ``weight`` rescales each class; targets equal to ``ignore_index`` contribute
    nothing; the mean is over the weights of the counted targets (as in PyTorch).
    ``label_smoothing`` mixes the one-hot target with the uniform distribution.
    """

    name = "cross_entropy"

    @staticmethod
    def forward(ctx, logits, target, weight=None, ignore_index=-100, label_smoothing=0.0, reduction="mean"):
        label_smoothing = float(label_smoothing)  # (a NumPy float64 must not make float32 losses float64)
        check_reduction(reduction, "cross_entropy")
        ctx.unbatched = logits.ndim == 1
        if ctx.unbatched:
            logits = logits[None]
        target = _class_indices(target, logits, ignore_index, "cross_entropy", ctx.unbatched)
        classes = logits.shape[1]
        shifted = _shift(logits)
        log_probs = shifted - np.log(np.add.reduce(np.exp(shifted), axis=1, keepdims=True))
        picked, index, valid, sample_weight = _pick_targets(log_probs, target, weight, ignore_index, "cross_entropy")
        ctx.valid, ctx.dtype = valid, log_probs.dtype
        losses = -picked if sample_weight is None else -picked * sample_weight
        ctx.class_weight = None
        if label_smoothing:
            ctx.class_weight = _class_weight(weight, classes, logits.dtype, "cross_entropy")
            smooth = -(log_probs * _expand_classes(ctx.class_weight, log_probs.ndim)).sum(axis=1) * valid
            losses = (1 - label_smoothing) * losses + label_smoothing / classes * smooth
        ctx.reduction, ctx.smoothing = reduction, label_smoothing
        ctx.save_for_backward(log_probs, index, sample_weight)
        return _reduce_picked(ctx, losses, picked, sample_weight)

    @staticmethod
    def backward(ctx, grad):
        log_probs, index, sample_weight = ctx.saved_tensors
        if isinstance(grad, Tensor):  # create_graph: from the logits' Tensor, so it is differentiable again
            logits = ctx.inputs[0]
            probs = softmax(logits.reshape((1, -1)) if ctx.unbatched else logits, axis=1)
        else:
            probs = np.exp(log_probs)
        # d(-log softmax_t)/dx = softmax - onehot(t), per sample scaled by its weight
        grad_logits = probs - _one_hot_at(index, log_probs)
        valid_column = np.expand_dims(ctx.valid, 1)
        if sample_weight is not None:
            grad_logits = grad_logits * np.expand_dims(sample_weight, 1)
        if ctx.smoothing:
            weight = _expand_classes(ctx.class_weight, log_probs.ndim)
            smooth = (probs * weight.sum() - weight) * valid_column
            grad_logits = (1 - ctx.smoothing) * grad_logits + ctx.smoothing / log_probs.shape[1] * smooth
        grad_logits = grad_logits * _per_sample_grad(ctx, grad)
        return grad_logits.reshape(log_probs.shape[1:]) if ctx.unbatched else grad_logits, None


def _per_sample_grad(ctx, grad):
    """The gradient of a class-index loss for each sample, shaped to broadcast along the
    class axis 1 (a Tensor under create_graph)."""
    if ctx.reduction == "mean":
        if ctx.denominator:
            return grad / ctx.denominator
        # No weight counted, a nan loss (0 / 0): PyTorch's gradient is nan for the counted
        # (zero-weighted) targets and 0 for the ignored ones. A factor of 0 for those, not
        # 0 / 0, keeps their second derivatives 0 as well (nan only from nan logits).
        factor = np.where(ctx.valid, np.nan, 0).astype(ctx.dtype)
        return grad * np.expand_dims(factor, 1)
    if ctx.reduction == "sum":
        return grad
    shape = (1,) if ctx.unbatched else tuple(grad.shape)
    return grad.reshape((*shape[:1], 1, *shape[1:]))


def _one_hot_at(index, like: np.ndarray) -> np.ndarray:
    onehot = np.zeros_like(like)
    onehot[index] = 1
    return onehot


def _pick_targets(log_probs, target, weight, ignore_index, loss: str):
    """What cross_entropy and nll_loss share: each sample's log-probability at its target
    class, the index that picked it (backward scatters through it), whether each target
    counts (is not ``ignore_index``) and each sample's weight: its class's weight, 0 when
    ignored. The weights are None when all would be 1 (no class weights, nothing
    ignored), so the usual case skips multiplying by ones, which changes no value."""
    valid = target != ignore_index
    if weight is None and np.logical_and.reduce(valid, axis=None):  # valid.all() without its wrapper
        sample_weight = None
    else:
        target = np.where(valid, target, 0)  # an ignored sample picks class 0, weighted 0
        sample_weight = _class_weight(weight, log_probs.shape[1], log_probs.dtype, loss)[target] * valid
    # Fancy indexing rather than take_along_axis/put_along_axis: several times faster on
    # the usual (N, C) logits. The index is (rows, target) or, for (N, C, d1, ...) inputs,
    # (rows, target, positions along d1, ...); each picks one element per sample.
    if target.ndim == 1:
        index = (np.arange(target.shape[0]), target)
    else:
        grid = np.indices(target.shape, sparse=True)
        index = (grid[0], target, *grid[1:])
    return log_probs[index], index, valid, sample_weight


def _reduce_picked(ctx, losses, picked, sample_weight):
    """The reduction of cross_entropy and nll_loss: "mean" divides by the total weight of
    the counted samples (PyTorch's rule), kept in ``ctx.denominator`` for backward."""
    ctx.denominator = 1
    if ctx.reduction == "none":
        return losses.reshape(()) if ctx.unbatched else losses
    total = np.add.reduce(losses, axis=None)
    if ctx.reduction == "sum":
        return total
    if sample_weight is None:
        ctx.denominator = picked.dtype.type(picked.size)
    else:
        ctx.denominator = np.add.reduce(sample_weight, axis=None)
    # No weight counted (every target ignored, or zero-weighted): 0 / 0, nan as in PyTorch (also
    # with label smoothing, whose other classes' terms would make it x / 0 = inf), without a warning.
    return total / ctx.denominator if ctx.denominator else total * np.nan


def _expand_classes(class_weight, ndim):
    """Per-class weights shaped to broadcast along axis 1 of an (N, C, ...) array."""
    return class_weight.reshape((1, -1) + (1,) * (ndim - 2))


def _class_indices(target, logits, ignore_index, loss: str, unbatched: bool = False):
    """``target`` as integer class indices shaped ``(N, ...)`` for ``logits`` ``(N, C, ...)``
    (a 0-d target of an unbatched sample, whose logits were given a batch axis, becomes
    shape ``(1,)``). Every index is in ``[0, C)`` or equal to ``ignore_index``: a negative
    index is an error, not a count from the end."""
    target = np.asarray(target)
    if target.dtype.kind == "f" and np.all(target == np.round(target)):
        target = target.astype(np.int64)
    if target.dtype.kind not in "iu":
        raise DtypeError(
            f"{loss}: target must hold class indices (integers), got dtype {target.dtype}; "
            "for probabilities per class use cross_entropy(..., target) with a float target of the logits' shape"
        )
    if unbatched:
        if target.shape != ():
            raise InvalidArgumentError(
                f"{loss}: unbatched input of shape {logits.shape[1:]} (one sample's {logits.shape[1]} class "
                f"scores) needs a 0-d target (one class index), got shape {target.shape}"
            )
        target = target.reshape(1)
    elif logits.ndim < 2 or target.shape != logits.shape[:1] + logits.shape[2:]:
        column = logits.ndim == 2 and target.shape == (logits.shape[0], 1)
        raise InvalidArgumentError(
            f"{loss}: input of shape {logits.shape} needs targets of shape "
            f"{logits.shape[:1] + logits.shape[2:]} (one class index per sample), got {target.shape}"
            + ("; that is a column of labels, as mse and bce take them: pass y.ravel().astype(int), "
               "or make the data with labels='indices' (mg.data.make_moons(..., labels='indices'))"
               if column else "")
        )
    classes = logits.shape[1]
    # Two reductions on the common path (np.minimum.reduce is target.min() without its wrapper).
    if target.size and (np.minimum.reduce(target, axis=None) < 0 or np.maximum.reduce(target, axis=None) >= classes):
        bad = ((target < 0) | (target >= classes)) & (target != ignore_index)
        if bad.any():
            raise IndexError(
                f"{loss}: target class index {target[bad].flat[0]} is out of range for {classes} classes: "
                f"indices must be in 0..{classes - 1} (or equal ignore_index={ignore_index}, which is skipped); "
                "negative indices do not count from the end"
            )
    return target


def _class_weight(weight, classes: int, dtype, loss: str):
    """Per-class weights, ones when ``weight`` is None; one weight per class or an error."""
    if weight is None:
        return np.ones(classes, dtype=dtype)
    weight = np.asarray(weight)  # (cast below: a float64 weight must not make float32 losses float64)
    if weight.shape != (classes,):
        raise InvalidArgumentError(
            f"{loss}: weight must hold one weight per class, shape ({classes},), but has shape {weight.shape}"
        )
    return weight.astype(dtype, copy=False)


class NLLLoss(Primitive):
    """Negative log-likelihood of log-probabilities ``(N, C, ...)`` at the target classes
    ``(N, ...)`` (or one unbatched sample: ``(C,)`` and a 0-d target)."""

    name = "nll_loss"

    @staticmethod
    def forward(ctx, log_probs, target, weight=None, ignore_index=-100, reduction="mean"):
        check_reduction(reduction, "nll_loss")
        ctx.unbatched = log_probs.ndim == 1
        ctx.shape = log_probs.shape
        if ctx.unbatched:
            log_probs = log_probs[None]
        target = _class_indices(target, log_probs, ignore_index, "nll_loss", ctx.unbatched)
        picked, index, ctx.valid, sample_weight = _pick_targets(log_probs, target, weight, ignore_index, "nll_loss")
        losses = -picked if sample_weight is None else -picked * sample_weight
        ctx.reduction = reduction
        ctx.save_for_backward(index, sample_weight)
        ctx.dtype = log_probs.dtype
        return _reduce_picked(ctx, losses, picked, sample_weight)

    @staticmethod
    def backward(ctx, grad):
        # -weight * grad at each target class, 0 elsewhere (on Tensors too, under create_graph:
        # it depends on the upstream gradient only)
        index, sample_weight = ctx.saved_tensors
        shape = (1, *ctx.shape) if ctx.unbatched else ctx.shape
        scale = _per_sample_grad(ctx, grad)
        scale = -scale if sample_weight is None else scale * -np.expand_dims(sample_weight, 1)
        grad_log_probs = _one_hot_at(index, np.zeros(shape, dtype=ctx.dtype)) * scale
        return (grad_log_probs.reshape(ctx.shape) if ctx.unbatched else grad_log_probs), None
