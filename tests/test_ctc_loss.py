"""nn.CTCLoss / F.ctc_loss: values and gradients against PyTorch, against a brute-force sum
over every alignment, and against finite differences; argument errors."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import nn
from microgradnp.errors import InvalidArgumentError
from microgradnp.nn import functional as F


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _log_probs(shape, seed=0):
    """Random log-softmax output (float64)."""
    x = np.random.default_rng(seed).normal(size=shape) * 2
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def _compare(torch, log_probs, targets, input_lengths, target_lengths, *, blank=0, reduction="mean",
             zero_infinity=False, dtype=np.float64, atol=1e-10, seed=1):
    """Loss and gradient (for a random upstream gradient) of microgradnp and of torch."""
    log_probs = np.asarray(log_probs, dtype=dtype)
    kwargs = dict(blank=blank, reduction=reduction, zero_infinity=zero_infinity)
    ours_in = mg.Tensor(log_probs.copy(), requires_grad=True, dtype=dtype)
    ours = F.ctc_loss(ours_in, targets, input_lengths, target_lengths, **kwargs)
    theirs_in = torch.tensor(log_probs, requires_grad=True)
    theirs = torch.nn.functional.ctc_loss(theirs_in, torch.as_tensor(np.asarray(targets)),
                                          torch.as_tensor(np.asarray(input_lengths)),
                                          torch.as_tensor(np.asarray(target_lengths)), **kwargs)
    upstream = np.random.default_rng(seed).uniform(0.5, 1.5, size=tuple(theirs.shape)).astype(dtype)
    ours.backward(mg.Tensor(upstream, dtype=dtype))
    theirs.backward(torch.tensor(upstream))
    assert ours.data.dtype == dtype and ours_in.grad.dtype == dtype
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-5 if dtype == np.float32 else 1e-10,
                               atol=atol)
    np.testing.assert_allclose(ours_in.grad, theirs_in.grad.numpy(),
                               rtol=1e-4 if dtype == np.float32 else 1e-9, atol=atol)
    return ours, ours_in.grad


# A batch with repeated labels (1, 1 needs a blank between), a tight fit (input length =
# target length + repeats), an empty target and inputs shorter than T.
TARGETS = [[1, 1, 2, 3], [2, 0, 0, 0], [3, 3, 3, 0], [4, 1, 4, 2], [1, 2, 0, 0]]
INPUT_LENGTHS = [8, 5, 5, 8, 3]
TARGET_LENGTHS = [4, 1, 3, 4, 0]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_padded_targets_match_torch(torch, reduction):
    _compare(torch, _log_probs((8, 5, 5)), TARGETS, INPUT_LENGTHS, TARGET_LENGTHS, reduction=reduction)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_concatenated_targets_match_torch_and_padded(torch, reduction):
    flat = [label for row, n in zip(TARGETS, TARGET_LENGTHS) for label in row[:n]]
    lp = _log_probs((8, 5, 5), seed=3)
    concatenated, grad = _compare(torch, lp, flat, tuple(INPUT_LENGTHS), tuple(TARGET_LENGTHS), reduction=reduction)
    padded, grad_padded = _compare(torch, lp, TARGETS, INPUT_LENGTHS, TARGET_LENGTHS, reduction=reduction)
    np.testing.assert_array_equal(concatenated.data, padded.data)
    np.testing.assert_array_equal(grad, grad_padded)


def test_unbatched_input_matches_torch(torch):
    loss, grad = _compare(torch, _log_probs((7, 4), seed=4), [1, 3, 3], [7], [3], reduction="none")
    assert loss.shape == () and grad.shape == (7, 4)
    _compare(torch, _log_probs((7, 4), seed=5), [2, 2], 6, 2, reduction="mean")


def test_blank_other_than_zero_matches_torch(torch):
    targets = [[0, 1, 1], [2, 0, 0], [1, 0, 2]]
    _compare(torch, _log_probs((6, 3, 4), seed=6), targets, [6, 4, 5], [3, 1, 3], blank=3, reduction="none")
    _compare(torch, _log_probs((6, 3, 4), seed=7), [[0, 2, 2], [3, 3, 0], [2, 0, 3]], [6, 6, 5], [3, 2, 3],
             blank=1, reduction="sum")


def test_float32_keeps_dtype_and_matches_torch(torch):
    _compare(torch, _log_probs((8, 5, 5), seed=8), TARGETS, INPUT_LENGTHS, TARGET_LENGTHS, dtype=np.float32,
             atol=1e-6)


def test_impossible_alignment_is_infinite_or_zeroed(torch):
    # [1, 1, 1] needs 5 steps (1 b 1 b 1): an input of 4 cannot emit it.
    targets, input_lengths, target_lengths = [[1, 1, 1], [2, 3, 0]], [4, 6], [3, 2]
    lp = _log_probs((6, 2, 4), seed=9)
    loss = F.ctc_loss(mg.Tensor(lp), targets, input_lengths, target_lengths, reduction="none")
    assert loss.data[0] == math.inf and np.isfinite(loss.data[1])
    for reduction in ("mean", "sum", "none"):
        _, grad = _compare(torch, lp, targets, input_lengths, target_lengths, reduction=reduction,
                           zero_infinity=True)
        assert np.all(grad[:, 0] == 0) and np.any(grad[:, 1] != 0)
    # Without zero_infinity the impossible sample's gradient is NaN up to its input length, as torch's.
    x = mg.Tensor(lp, requires_grad=True)
    F.ctc_loss(x, targets, input_lengths, target_lengths, reduction="sum").backward()
    assert np.all(np.isnan(x.grad[:4, 0])) and np.all(x.grad[4:, 0] == 0)
    assert np.all(np.isfinite(x.grad[:, 1]))


def test_module_and_tensor_lengths(torch):
    lp = _log_probs((8, 5, 5), seed=10)
    as_tensors = [mg.Tensor(np.array(values)) for values in (TARGETS, INPUT_LENGTHS, TARGET_LENGTHS)]
    ours = nn.CTCLoss(blank=0, reduction="sum")(mg.Tensor(lp), *as_tensors)
    theirs = torch.nn.CTCLoss(reduction="sum")(torch.tensor(lp), torch.tensor(TARGETS),
                                               torch.tensor(INPUT_LENGTHS), torch.tensor(TARGET_LENGTHS))
    np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-12)
    assert "zero_infinity=False" in repr(nn.CTCLoss())


def _brute_force_nll(lp, target, blank):
    """-log of the summed probability of every length-T path that collapses to ``target``."""
    steps, classes = lp.shape
    total = 0.0
    for path in itertools.product(range(classes), repeat=steps):
        collapsed = [c for i, c in enumerate(path) if c != blank and (i == 0 or c != path[i - 1])]
        if collapsed == list(target):
            total += math.exp(sum(lp[t, c] for t, c in enumerate(path)))
    return -math.log(total) if total else math.inf


@pytest.mark.parametrize(("target", "blank"), [([1, 1], 0), ([2, 1], 0), ([0, 0, 2], 1), ([], 0), ([1, 1, 1], 0)])
def test_value_is_the_sum_over_alignments(target, blank):
    lp = _log_probs((5, 3), seed=11)
    loss = F.ctc_loss(mg.Tensor(lp), target, 5, len(target), blank=blank, reduction="sum")
    expected = _brute_force_nll(lp, target, blank)
    assert loss.data == pytest.approx(expected, rel=1e-12)


def test_gradient_by_finite_differences():
    """float64 gradcheck through log_softmax of free logits (where torch's extra exp(log_probs)
    term cancels), and of log_probs directly once that term is taken off."""
    logits = mg.Tensor(np.random.default_rng(12).normal(size=(6, 3, 4)), requires_grad=True)
    targets, input_lengths, target_lengths = [[1, 1, 2], [3, 0, 0], [2, 3, 0]], [6, 4, 5], [3, 1, 2]
    for reduction in ("mean", "none"):
        assert mg.gradcheck(lambda z, r=reduction: F.ctc_loss(F.log_softmax(z, dim=-1), targets, input_lengths,
                                                              target_lengths, reduction=r), [logits])
    lp = _log_probs((5, 2, 3), seed=13)
    x = mg.Tensor(lp, requires_grad=True)
    F.ctc_loss(x, [[1, 2], [2, 0]], [5, 3], [2, 1], reduction="sum").backward()
    free = x.grad - np.exp(lp) * (np.arange(5)[:, None] < np.array([5, 3]))[:, :, None]
    numeric = np.zeros_like(lp)
    for index in np.ndindex(lp.shape):
        shifted = [lp.copy(), lp.copy()]
        shifted[0][index] += 1e-6
        shifted[1][index] -= 1e-6
        above, below = (float(F.ctc_loss(mg.Tensor(s), [[1, 2], [2, 0]], [5, 3], [2, 1], reduction="sum").data)
                        for s in shifted)
        numeric[index] = (above - below) / 2e-6
    np.testing.assert_allclose(free, numeric, atol=1e-7)


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    (((2, 8, 5, 3), [[1]], [1], [1]), {}, r"log_probs must have shape \(T, N, C\)"),
    (((9, 2, 5), [[1, 2]] * 2, [9, 10], [2, 2]), {}, "input_lengths must be at most T=9"),
    (((9, 2, 5), [[1, 2]] * 2, [9, 9], [2, 3]), {}, r"target_lengths \[2, 3\] exceed"),
    (((9, 2, 5), [1, 2, 3], [9, 9], [2, 2]), {}, r"sum\(target_lengths\)=4"),
    (((9, 2, 5), [[1, 2]] * 2, [9], [2, 2]), {}, "input_lengths must have 2 values"),
    (((9, 2, 5), [[1, 2]] * 3, [9, 9], [2, 2]), {}, r"shape \(N, S\) with N=2"),
    (((9, 2, 5), [[1, 5]] * 2, [9, 9], [2, 2]), {}, r"class indices in \[0, 5\), got \[5, 5\]"),
    (((9, 2, 5), [[1, 0]] * 2, [9, 9], [2, 2]), {}, "must not contain the blank index 0"),
    (((9, 2, 5), [[1, 2]] * 2, [9, -1], [2, 2]), {}, "input_lengths must be >= 0"),
    (((9, 2, 5), [[1, 2]] * 2, [9, 9], [2, 2]), {"blank": 5}, r"blank must be an int in \[0, 5\)"),
    (((9, 2, 5), [[1, 2]] * 2, [9, 9], [2, 2]), {"reduction": "avg"}, "reduction must be one of"),
    (((9, 2, 5), [[1, 2]] * 2, [9.5, 9], [2, 2]), {}, "input_lengths must hold integers"),
    (((9, 5), [[1, 2]], 9, 2), {}, r"unbatched log_probs \(T, C\) need 1-D targets"),
    (((9, 5), [1, 2, 0], 9, 2), {}, "unbatched targets must have target_length=2 entries"),
])
def test_errors_say_what_is_wrong(args, kwargs, message):
    shape, *rest = args
    with pytest.raises(InvalidArgumentError, match=message):
        F.ctc_loss(mg.Tensor(_log_probs(shape)), *rest, **kwargs)


def test_integer_log_probs_are_refused():
    with pytest.raises(TypeError, match="log_probs must be a floating-point tensor"):
        F.ctc_loss(np.zeros((3, 1, 2), dtype=np.int64), [[1]], [3], [1])
