"""Loss modules: configured once, called as ``loss_fn(prediction, target)``."""

from __future__ import annotations

from microgradnp.nn import functional as F
from microgradnp.nn.module import Module
from microgradnp.ops.losses import check_reduction, legacy_reduction
from microgradnp.tensor import Tensor, _data


class _Loss(Module):
    """A loss module: ``reduction`` (or PyTorch's deprecated ``size_average``/``reduce``, read
    by ``legacy_reduction``: the subclasses take them in PyTorch's positions)."""

    def __init__(self, reduction: str = "mean", *, size_average=None, reduce=None):
        super().__init__()
        reduction = legacy_reduction(size_average, reduce, reduction, type(self).__name__)
        check_reduction(reduction, type(self).__name__)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


def _as_buffer(value):
    """A per-class weight as the Tensor a buffer holds (None stays None: an empty slot)."""
    return value if value is None or isinstance(value, Tensor) else Tensor(_data(value))


class _WeightedLoss(_Loss):
    """A loss with per-class ``weight``, kept as a buffer as PyTorch's ``_WeightedLoss`` keeps
    it: in ``state_dict()`` under PyTorch's key when given (so a PyTorch ``state_dict`` of a
    model holding the loss loads), an empty slot when None."""

    def __init__(self, weight=None, reduction: str = "mean", *, size_average=None, reduce=None):
        super().__init__(reduction, size_average=size_average, reduce=reduce)
        self.register_buffer("weight", _as_buffer(weight))


class MSELoss(_Loss):
    """Mean squared error (the lab's loss)."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(reduction, size_average=size_average, reduce=reduce)

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)


class HalfMSELoss(MSELoss):
    """Half the mean squared error, ``sum((input - target)^2) / (2 n)``: the lab reports'
    "MSE/2", whose gradient ``(input - target) / n`` has no factor 2. (Not in PyTorch; there
    it is ``0.5 * nn.MSELoss()(input, target)``, which this equals bit for bit.)"""

    def forward(self, input, target):
        return super().forward(input, target) * 0.5


class L1Loss(_Loss):
    """Mean absolute error."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(reduction, size_average=size_average, reduce=reduce)

    def forward(self, input, target):
        return F.l1_loss(input, target, reduction=self.reduction)


class SmoothL1Loss(_Loss):
    """Quadratic below ``beta``, absolute error above (``F.smooth_l1_loss``)."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", beta: float = 1.0):
        super().__init__(reduction, size_average=size_average, reduce=reduce)
        self.beta = beta

    def forward(self, input, target):
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    """Quadratic below ``delta``, ``delta`` times the absolute error above (``F.huber_loss``)."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction)
        self.delta = delta

    def forward(self, input, target):
        return F.huber_loss(input, target, self.reduction, self.delta)


class KLDivLoss(_Loss):
    """Kullback-Leibler divergence of log-probabilities from a target (``F.kl_div``);
    ``reduction="batchmean"`` is the divergence per sample."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", log_target: bool = False):
        reduction = legacy_reduction(size_average, reduce, reduction, type(self).__name__)
        if reduction != "batchmean":
            check_reduction(reduction, type(self).__name__)
        Module.__init__(self)
        self.reduction, self.log_target = reduction, log_target

    def forward(self, input, target):
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class BCELoss(_WeightedLoss):
    """Binary cross-entropy of probabilities (after a sigmoid)."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(weight, reduction, size_average=size_average, reduce=reduce)

    def forward(self, input, target):
        return F.binary_cross_entropy(input, target, self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of raw scores; stable where sigmoid + BCELoss saturates.
    ``weight`` and ``pos_weight`` are buffers, as in PyTorch."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean", pos_weight=None):
        super().__init__(reduction, size_average=size_average, reduce=reduce)
        self.register_buffer("weight", _as_buffer(weight))
        self.register_buffer("pos_weight", _as_buffer(pos_weight))

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(input, target, self.weight, reduction=self.reduction,
                                                  pos_weight=self.pos_weight)


class CrossEntropyLoss(_WeightedLoss):
    """Softmax cross-entropy of logits against class indices (or class probabilities)."""

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(weight, reduction, size_average=size_average, reduce=reduce)
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction,
                               label_smoothing=self.label_smoothing)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities (after LogSoftmax)."""

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean"):
        super().__init__(weight, reduction, size_average=size_average, reduce=reduce)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return F.nll_loss(input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction)


class NLLLoss2d(NLLLoss):
    """``NLLLoss`` under its deprecated name, as ``torch.nn.NLLLoss2d``: constructing one warns
    (a FutureWarning, as PyTorch's) and it takes PyTorch's arguments in PyTorch's order,
    ``(weight, size_average, ignore_index, reduce, reduction)``, the deprecated
    ``size_average``/``reduce`` read as PyTorch reads them. Use ``NLLLoss``, a drop-in
    replacement (it takes ``(N, C, H, W)`` log-probabilities too)."""

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean"):
        import warnings

        warnings.warn("`NLLLoss2d` has been deprecated. Please use `NLLLoss` instead as a drop-in replacement and "
                      "see https://pytorch.org/docs/main/nn.html#torch.nn.NLLLoss for more details.",
                      FutureWarning, stacklevel=2)
        super().__init__(weight, size_average, ignore_index, reduce, reduction)
