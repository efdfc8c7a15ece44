"""Loss weights that require grad: never silently dropped. Class and element weights of the
losses PyTorch does not differentiate (nll_loss, cross_entropy with class indices, the binary
cross-entropies, multi_margin_loss) raise as PyTorch raises; cross_entropy with class
probabilities, which PyTorch differentiates, gives the weight its gradient."""

import numpy as np
import pytest

import microgradnp as mg
from microgradnp.nn import functional as F

RNG = np.random.default_rng(11)
LOGITS = RNG.standard_normal((4, 5))
CLASSES = np.array([1, 0, 4, 2])
PROBS = RNG.random((4, 5))
WEIGHT = RNG.random(5) + 0.5

REFUSED = {
    "nll_loss": lambda x, w: F.nll_loss(F.log_softmax(x, dim=1), mg.tensor(CLASSES, dtype=mg.int64), weight=w),
    "cross_entropy": lambda x, w: F.cross_entropy(x, mg.tensor(CLASSES, dtype=mg.int64), weight=w),
    "binary_cross_entropy": lambda x, w: F.binary_cross_entropy(x.sigmoid(), mg.tensor(PROBS), weight=w),
    "binary_cross_entropy_with_logits": lambda x, w: F.binary_cross_entropy_with_logits(x, mg.tensor(PROBS), weight=w),
    "pos_weight": lambda x, w: F.binary_cross_entropy_with_logits(x, mg.tensor(PROBS), pos_weight=w),
    "multi_margin_loss": lambda x, w: F.multi_margin_loss(x, mg.tensor(CLASSES, dtype=mg.int64), weight=w),
    "CrossEntropyLoss": lambda x, w: mg.nn.CrossEntropyLoss(weight=w)(x, mg.tensor(CLASSES, dtype=mg.int64)),
}


@pytest.mark.parametrize("loss", REFUSED)
def test_a_weight_that_requires_grad_is_refused_not_dropped(loss):
    x, weight = mg.tensor(LOGITS, requires_grad=True), mg.tensor(WEIGHT, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"not differentiable with respect to .*weight.*detach"):
        REFUSED[loss](x, weight)
    expected = REFUSED[loss](x, weight.detach())  # the fix the message gives works
    with mg.no_grad():  # no gradient wanted: nothing to refuse
        np.testing.assert_allclose(REFUSED[loss](x, weight).data, expected.data, rtol=1e-12)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_cross_entropy_with_probabilities_differentiates_its_weight(label_smoothing):
    targets = PROBS / PROBS.sum(1, keepdims=True)

    def loss(weight):
        return F.cross_entropy(mg.tensor(LOGITS), mg.tensor(targets), weight=mg.tensor(weight),
                               label_smoothing=label_smoothing).item()

    weight = mg.tensor(WEIGHT, requires_grad=True)
    F.cross_entropy(mg.tensor(LOGITS), mg.tensor(targets), weight=weight, label_smoothing=label_smoothing).backward()
    step = 1e-6
    numeric = [(loss(WEIGHT + step * e) - loss(WEIGHT - step * e)) / (2 * step) for e in np.eye(5)]
    np.testing.assert_allclose(weight.grad.data, numeric, rtol=1e-7, atol=1e-10)
    torch = pytest.importorskip("torch")
    t_weight = torch.tensor(WEIGHT, requires_grad=True)
    torch.nn.functional.cross_entropy(torch.tensor(LOGITS), torch.tensor(targets), weight=t_weight,
                                      label_smoothing=label_smoothing).backward()
    np.testing.assert_allclose(weight.grad.data, t_weight.grad.numpy(), rtol=1e-10)


def test_torch_refuses_the_same_weights():
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match="not differentiable with respect to argument 'weight'"):
        torch.nn.functional.nll_loss(torch.tensor(LOGITS, requires_grad=True), torch.tensor(CLASSES),
                                     weight=torch.tensor(WEIGHT, requires_grad=True))
