"""The Connectionist Temporal Classification loss, as ``torch.nn.functional.ctc_loss``.

One primitive: ``forward`` runs the alpha (forward-variable) recursion in log space, vectorised
over the batch and the extended label sequence (blanks between and around the labels) with a
loop over time only; ``backward`` runs the beta recursion and gives PyTorch's gradient with
respect to ``log_probs``, ``exp(log_probs) - posterior occupancy of each class`` (scaled by the
loss's gradient). That is the gradient with respect to the logits behind a ``log_softmax``; as
the extra ``exp(log_probs)`` term sums to a constant over the classes, it vanishes when it is
propagated through ``log_softmax``, so the gradient of the logits is exact.
"""

from __future__ import annotations

import numpy as np

from microgradnp.errors import DtypeError, InvalidArgumentError
from microgradnp.nn.loss import _Loss
from microgradnp.ops.losses import check_reduction
from microgradnp.ops.primitive import Primitive

_NAME = "ctc_loss"


def _error(message: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"{_NAME}: {message}")


def _int_array(value, what: str) -> np.ndarray:
    """``value`` (an int, a sequence or an array of whole numbers) as an int64 array."""
    array = np.asarray(value)
    if array.dtype.kind in "iu":
        return array.astype(np.int64, copy=False)
    if array.dtype.kind == "f" and array.size and np.all(np.isfinite(array)) and np.all(array == np.round(array)):
        return array.astype(np.int64)
    if array.dtype.kind == "f" and array.size == 0:
        return array.astype(np.int64)
    raise _error(f"{what} must hold integers, got {array.dtype} values {array.ravel()[:5].tolist()}")


def _lengths(value, batch: int, unbatched: bool, what: str) -> np.ndarray:
    lengths = _int_array(value, what)
    if unbatched and lengths.size == 1:
        lengths = lengths.reshape(1)
    if lengths.shape != (batch,):
        expected = "an int (or a 0-d or 1-element tensor)" if unbatched else f"{batch} values (one per sample)"
        raise _error(f"{what} must have {expected}, got shape {lengths.shape}")
    if np.any(lengths < 0):
        raise _error(f"{what} must be >= 0, got {lengths.tolist()}")
    return lengths


def _check(log_probs, targets, input_lengths, target_lengths, blank):
    """Validate the arguments; return (log_probs (T, N, C), padded targets (N, S), input and
    target lengths (N,), whether the input was unbatched)."""
    if not isinstance(log_probs, np.ndarray):
        log_probs = np.asarray(log_probs)
    if log_probs.dtype.kind != "f":
        raise DtypeError(f"{_NAME}: log_probs must be a floating-point tensor (log_softmax output), "
                         f"got {log_probs.dtype}")
    if log_probs.ndim not in (2, 3):
        raise _error(f"log_probs must have shape (T, N, C) or, unbatched, (T, C), got {log_probs.shape}")
    unbatched = log_probs.ndim == 2
    if unbatched:
        log_probs = log_probs[:, None, :]
    steps, batch, classes = log_probs.shape
    if not isinstance(blank, (int, np.integer)) or isinstance(blank, bool) or not 0 <= blank < classes:
        raise _error(f"blank must be an int in [0, {classes}) (the number of classes), got {blank!r}")
    input_lengths = _lengths(input_lengths, batch, unbatched, "input_lengths")
    target_lengths = _lengths(target_lengths, batch, unbatched, "target_lengths")
    if np.any(input_lengths > steps):
        raise _error(f"input_lengths must be at most T={steps} (log_probs' first axis), "
                     f"got {input_lengths.tolist()}")
    targets = _int_array(targets, "targets")
    if unbatched:
        if targets.ndim != 1:
            raise _error(f"unbatched log_probs (T, C) need 1-D targets (S,), got shape {targets.shape}")
        if targets.shape[0] != target_lengths[0]:  # (PyTorch reads them as concatenated targets)
            raise _error(f"unbatched targets must have target_length={target_lengths[0]} entries, "
                         f"got {targets.shape[0]}")
    if targets.ndim == 2:
        if targets.shape[0] != batch:
            raise _error(f"padded targets must have shape (N, S) with N={batch}, got {targets.shape}")
        if np.any(target_lengths > targets.shape[1]):
            raise _error(f"target_lengths {target_lengths.tolist()} exceed the padded targets' length "
                         f"S={targets.shape[1]}")
        padded = targets
    elif targets.ndim == 1:
        total = int(target_lengths.sum())
        if targets.shape[0] != total:
            raise _error(f"concatenated 1-D targets must have sum(target_lengths)={total} entries, "
                         f"got {targets.shape[0]}")
        width = int(target_lengths.max(initial=0))
        padded = np.full((batch, width), blank, np.int64)
        starts = np.concatenate([[0], np.cumsum(target_lengths)[:-1]]) if batch else np.zeros(0, np.int64)
        for n in range(batch):
            padded[n, :target_lengths[n]] = targets[starts[n]:starts[n] + target_lengths[n]]
    else:
        raise _error(f"targets must be padded (N, S) or concatenated 1-D, got shape {targets.shape}")
    used = np.arange(padded.shape[1])[None, :] < target_lengths[:, None]
    if np.any(used & ((padded < 0) | (padded >= classes))):
        bad = padded[used & ((padded < 0) | (padded >= classes))]
        raise _error(f"targets must be class indices in [0, {classes}), got {bad[:5].tolist()}")
    if np.any(used & (padded == blank)):
        raise _error(f"targets must not contain the blank index {blank} (PyTorch forbids it too: its "
                     "gradient is then wrong); check blank= and target_lengths")
    padded = np.where(used, padded, blank)
    return log_probs, padded, input_lengths, target_lengths, unbatched


def _logsumexp(*terms):
    """Elementwise log(sum(exp(terms))), -inf where every term is -inf."""
    top = terms[0]
    for term in terms[1:]:
        top = np.maximum(top, term)
    shift = np.where(np.isfinite(top), top, 0.0)
    total = sum(np.exp(term - shift) for term in terms)
    with np.errstate(divide="ignore"):
        return np.log(total) + shift


def _shift_right(x, k):
    """``x[:, s - k]`` (-inf for s < k): the states ``k`` places before each state."""
    out = np.full_like(x, -np.inf)
    out[:, k:] = x[:, :x.shape[1] - k]
    return out


def _shift_left(x, k):
    """``x[:, s + k]`` (-inf past the end): the states ``k`` places after each state."""
    out = np.full_like(x, -np.inf)
    out[:, :x.shape[1] - k] = x[:, k:]
    return out


class CTCLossFunction(Primitive):
    """``ctc_loss`` as one graph node; gradients reach ``log_probs`` only."""

    name = _NAME
    differentiable_backward = False  # the recursions run in NumPy: no second derivative

    @staticmethod
    def forward(ctx, log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean",
                zero_infinity=False):
        check_reduction(reduction, _NAME)
        dtype = np.asarray(log_probs).dtype
        lp, padded, il, tl, unbatched = _check(log_probs, targets, input_lengths, target_lengths, blank)
        lp = lp.astype(np.float64)  # the recursions in float64 whatever the input's dtype
        steps, batch, _ = lp.shape
        width = 2 * padded.shape[1] + 1
        ext = np.full((batch, width), blank, np.int64)  # the extended labels: blank, l1, blank, l2, ...
        ext[:, 1::2] = padded
        lpe = np.take_along_axis(lp, np.broadcast_to(ext[None], (steps, batch, width)), axis=2)  # (T, N, L)
        state = np.arange(width)
        valid = state[None, :] < 2 * tl[:, None] + 1
        skip = np.zeros((batch, width), bool)  # may state s be reached from s - 2 (over a blank)?
        skip[:, 2:] = ext[:, 2:] != ext[:, :-2]

        alpha = np.full((steps, batch, width), -np.inf)
        if steps:
            a = np.full((batch, width), -np.inf)
            a[:, 0] = lpe[0, :, 0]
            if width > 1:
                a[:, 1] = lpe[0, :, 1]
            a = np.where(valid, a, -np.inf)
            alpha[0] = a
            for t in range(1, steps):
                a = lpe[t] + _logsumexp(a, _shift_right(a, 1), np.where(skip, _shift_right(a, 2), -np.inf))
                a = np.where(valid, a, -np.inf)
                alpha[t] = a
        last = np.maximum(il - 1, 0)
        rows = np.arange(batch)
        end = alpha[last, rows, 2 * tl] if steps else np.full(batch, -np.inf)
        before = alpha[last, rows, np.maximum(2 * tl - 1, 0)] if steps else np.full(batch, -np.inf)
        before = np.where(tl > 0, before, -np.inf)
        nll = -np.logaddexp(end, before)
        nll = np.where(il == 0, np.where(tl == 0, 0.0, np.inf), nll)
        infinite = np.isinf(nll)
        losses = np.where(infinite, 0.0, nll) if zero_infinity else nll

        ctx.save_for_backward(lp, lpe, alpha, ext, valid, skip, il, tl, nll)
        ctx.reduction, ctx.zero_infinity, ctx.unbatched, ctx.dtype = reduction, zero_infinity, unbatched, dtype
        if reduction == "none":
            out = losses[0] if unbatched else losses
        elif reduction == "sum":
            out = losses.sum()
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                out = (losses / np.maximum(tl, 1)).sum() / batch
        return np.asarray(out, dtype=dtype)

    @staticmethod
    def backward(ctx, grad):
        lp, lpe, alpha, ext, valid, skip, il, tl, nll = ctx.saved_tensors
        steps, batch, classes = lp.shape
        width = ext.shape[1]
        # beta_t(s): log-probability of emitting the rest of the labels from state s at time t,
        # the emission at t included (as PyTorch's), so alpha * beta counts lp[t] twice.
        skip_next = np.zeros((batch, width), bool)
        skip_next[:, :-2] = skip[:, 2:]
        beta = np.full((steps, batch, width), -np.inf)
        b = np.full((batch, width), -np.inf)
        rows = np.arange(batch)
        for t in range(steps - 1, -1, -1):
            recursed = lpe[t] + _logsumexp(b, _shift_left(b, 1), np.where(skip_next, _shift_left(b, 2), -np.inf))
            start = np.full((batch, width), -np.inf)
            start[rows, 2 * tl] = lpe[t, rows, 2 * tl]
            with_label = tl > 0
            start[rows[with_label], 2 * tl[with_label] - 1] = lpe[t, rows[with_label], 2 * tl[with_label] - 1]
            b = np.where((t == il - 1)[:, None], start, np.where((t < il - 1)[:, None], recursed, -np.inf))
            b = np.where(valid, b, -np.inf)
            beta[t] = b
        reached = np.isfinite(alpha) & np.isfinite(beta)
        with np.errstate(invalid="ignore", over="ignore"):
            log_occupancy = np.where(reached, alpha + beta - np.where(reached, lpe, 0.0), -np.inf)
            occupancy = np.exp(log_occupancy + nll[None, :, None])  # posterior of each state, (T, N, L)
        one_hot = np.zeros((batch, width, classes))
        one_hot[rows[:, None], np.arange(width)[None, :], ext] = 1.0
        per_class = np.matmul(occupancy.transpose(1, 0, 2), one_hot).transpose(1, 0, 2)  # (T, N, C)
        with np.errstate(over="ignore", invalid="ignore"):
            grad_lp = np.exp(lp) - per_class
        infinite = np.isinf(nll)
        grad_lp[:, infinite, :] = 0.0 if ctx.zero_infinity else np.nan
        grad_lp[np.arange(steps)[:, None] >= il[None, :]] = 0.0  # steps past each input's length

        grad = np.asarray(grad, dtype=np.float64)
        weights = np.broadcast_to(grad, (batch,)) if grad.ndim == 0 else grad.reshape(batch)
        if ctx.reduction == "mean":
            weights = weights / (np.maximum(tl, 1) * batch)
        grad_lp = grad_lp * weights[None, :, None]
        if ctx.unbatched:
            grad_lp = grad_lp[:, 0, :]
        return grad_lp.astype(ctx.dtype, copy=False), None, None, None


def _lengths_argument(value):
    """Tuples, lists and ints as arrays (checked in ``forward``); Tensors and arrays pass through."""
    return np.asarray(value) if isinstance(value, (list, tuple, int, np.integer)) else value


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank: int = 0, reduction: str = "mean",
             zero_infinity: bool = False):
    """The Connectionist Temporal Classification loss, as ``torch.nn.functional.ctc_loss``.

    Args:
        log_probs: ``(T, N, C)`` or unbatched ``(T, C)`` log-probabilities (``log_softmax``
            output) over ``C`` classes, blank included, for ``T`` time steps.
        targets: padded ``(N, S)`` class indices (entries past a sample's target length are
            ignored), or all targets concatenated in 1-D (``sum(target_lengths)`` entries);
            ``(target_length,)`` when unbatched.
        input_lengths: the number of valid time steps of each sample (``<= T``): a tuple,
            list or int tensor of ``N`` values (an int when unbatched).
        target_lengths: the length of each sample's target, likewise.
        blank: the blank class's index.
        reduction: ``"mean"`` (each loss divided by its target length, clamped to at least
            1, then the batch mean), ``"sum"`` or ``"none"`` (one loss per sample).
        zero_infinity: replace infinite losses (targets too long for their inputs) and
            their gradients by zero.

    Returns:
        The loss: a scalar, or ``(N,)`` with ``reduction="none"`` (0-d when unbatched).
        Gradients flow to ``log_probs`` only, as PyTorch's (``exp(log_probs)`` minus each
        class's posterior occupancy: exact for the logits behind a ``log_softmax``).
    """
    check_reduction(reduction, _NAME)
    return CTCLossFunction.apply(log_probs, _lengths_argument(targets), _lengths_argument(input_lengths),
                                 _lengths_argument(target_lengths), blank=blank, reduction=reduction,
                                 zero_infinity=bool(zero_infinity))


class CTCLoss(_Loss):
    """``nn.functional.ctc_loss`` as a module, as ``torch.nn.CTCLoss``; called as
    ``loss(log_probs, targets, input_lengths, target_lengths)``.

    Args:
        blank: the blank class's index.
        reduction: ``"mean"`` (per-sample losses divided by their target lengths, then
            averaged), ``"sum"`` or ``"none"``.
        zero_infinity: replace infinite losses and their gradients by zero.
    """

    def __init__(self, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False):
        super().__init__(reduction)
        self.blank, self.zero_infinity = blank, zero_infinity

    def forward(self, log_probs, targets, input_lengths, target_lengths):
        return ctc_loss(log_probs, targets, input_lengths, target_lengths, self.blank, self.reduction,
                        self.zero_infinity)

    def extra_repr(self) -> str:
        return f"blank={self.blank}, reduction={self.reduction!r}, zero_infinity={self.zero_infinity}"


__all__ = ["CTCLoss", "ctc_loss"]
