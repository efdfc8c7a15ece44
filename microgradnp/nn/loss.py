"""Loss modules: configured once, called as ``loss_fn(prediction, target)``."""

from __future__ import annotations

from microgradnp.nn import functional as F
from microgradnp.nn.module import Module
from microgradnp.ops.losses import check_reduction


class _Loss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        check_reduction(reduction, type(self).__name__)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    """Mean squared error (the lab's loss)."""

    def forward(self, input, target):
        return F.mse_loss(input, target, self.reduction)


class HalfMSELoss(MSELoss):
    """Half the mean squared error, ``sum((input - target)^2) / (2 n)``: the lab reports'
    "MSE/2", whose gradient ``(input - target) / n`` has no factor 2. (Not in PyTorch; there
    it is ``0.5 * nn.MSELoss()(input, target)``, which this equals bit for bit.)"""

    def forward(self, input, target):
        return super().forward(input, target) * 0.5


class L1Loss(_Loss):
    """Mean absolute error."""

    def forward(self, input, target):
        return F.l1_loss(input, target, self.reduction)


class SmoothL1Loss(_Loss):
    """Quadratic below ``beta``, absolute error above (``F.smooth_l1_loss``)."""

    def __init__(self, reduction: str = "mean", beta: float = 1.0):
        super().__init__(reduction)
        self.beta = beta

    def forward(self, input, target):
        return F.smooth_l1_loss(input, target, self.reduction, self.beta)


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

    def __init__(self, reduction: str = "mean", log_target: bool = False):
        if reduction != "batchmean":
            check_reduction(reduction, type(self).__name__)
        Module.__init__(self)
        self.reduction, self.log_target = reduction, log_target

    def forward(self, input, target):
        return F.kl_div(input, target, self.reduction, self.log_target)


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities (after a sigmoid)."""

    def __init__(self, weight=None, reduction: str = "mean"):
        super().__init__(reduction)
        self.weight = weight

    def forward(self, input, target):
        return F.binary_cross_entropy(input, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of raw scores; stable where sigmoid + BCELoss saturates."""

    def __init__(self, weight=None, reduction: str = "mean", pos_weight=None):
        super().__init__(reduction)
        self.weight, self.pos_weight = weight, pos_weight

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(input, target, self.weight, self.reduction, self.pos_weight)


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy of logits against class indices (or class probabilities)."""

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(reduction)
        self.weight, self.ignore_index, self.label_smoothing = weight, ignore_index, label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, self.weight, self.ignore_index, self.reduction, self.label_smoothing)


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (after LogSoftmax)."""

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__(reduction)
        self.weight, self.ignore_index = weight, ignore_index

    def forward(self, input, target):
        return F.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


def _legacy_reduction(size_average, reduce, reduction: str, name: str) -> str:
    """PyTorch's reading of the deprecated ``size_average``/``reduce`` pair (each None means
    True): ``reduce=False`` gives ``"none"``, else ``size_average`` picks ``"mean"`` or
    ``"sum"``; with both None, ``reduction`` as given. PyTorch warns when either is set."""
    if size_average is None and reduce is None:
        return reduction
    import warnings

    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    legacy = "none" if not reduce else "mean" if size_average else "sum"
    warnings.warn(f"{name}: size_average and reduce args will be deprecated, please use reduction='{legacy}' "
                  "instead.", UserWarning, stacklevel=3)
    return legacy


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
        super().__init__(weight, ignore_index, _legacy_reduction(size_average, reduce, reduction, "NLLLoss2d"))
