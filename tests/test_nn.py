"""nn: Module bookkeeping, layers, activations, losses and init, against PyTorch
(optional oracle) and finite differences."""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import pytest
from conftest import numeric_grad

import microgradnp as mg
from microgradnp import nn, optim
from microgradnp.nn import functional as F


class TwoLayer(nn.Module):
    def __init__(self, rng=0):
        super().__init__()
        self.hidden = nn.Linear(3, 4, rng=rng)
        self.out = nn.Linear(4, 2, rng=rng)
        self.scale = nn.Parameter(np.array([1.5]))
        self.not_a_parameter = mg.tensor([1.0], requires_grad=True)

    def forward(self, x):
        return self.out(self.hidden(x).tanh()) * self.scale


# -- Module bookkeeping ------------------------------------------------------------------------
def test_parameters_and_modules_register_by_attribute_in_order():
    model = TwoLayer()
    names = [name for name, _ in model.named_parameters()]
    assert names == ["scale", "hidden.weight", "hidden.bias", "out.weight", "out.bias"]
    assert [type(m).__name__ for m in model.children()] == ["Linear", "Linear"]
    assert [name for name, _ in model.named_modules()] == ["", "hidden", "out"]
    assert len(list(model.parameters())) == 5
    assert model.num_parameters() == 1 + 3 * 4 + 4 + 4 * 2 + 2


def test_reassigning_an_attribute_replaces_the_registration():
    model = TwoLayer()
    model.out = nn.Identity()
    model.scale = nn.Parameter(np.array([2.0]))
    assert [name for name, _ in model.named_parameters()] == ["scale", "hidden.weight", "hidden.bias"]
    with pytest.raises(TypeError, match="cannot assign 'float' as parameter 'scale'"):
        model.scale = 2.0
    del model.hidden, model.scale
    assert list(model.named_parameters()) == []


def test_shared_parameter_is_listed_once():
    shared = nn.Linear(2, 2, rng=0)
    model = nn.Sequential(shared, nn.Tanh(), shared)
    assert len(list(model.parameters())) == 2
    assert [name for name, _ in model.named_parameters()] == ["0.weight", "0.bias"]


def test_assigning_before_init_says_to_call_super():
    class Broken(nn.Module):
        def __init__(self):
            self.layer = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Broken()


def test_train_eval_and_zero_grad():
    model = nn.Sequential(nn.Linear(2, 3, rng=0), nn.Dropout(0.5))
    assert model.training and model[1].training
    model.eval()
    assert not model.training and not model[1].training
    x = mg.tensor(np.ones((4, 2)))
    model(x).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_state_dict_round_trip_shares_memory_and_deepcopy_snapshots():
    import copy

    a, b = TwoLayer(rng=1), TwoLayer(rng=2)
    snapshot = copy.deepcopy(a.state_dict())  # PyTorch's idiom for a copy
    state = a.state_dict()
    assert list(state) == [name for name, _ in a.named_parameters()]
    assert all(isinstance(v, mg.Tensor) and not v.requires_grad for v in state.values())
    state["scale"][0] = 99.0  # as PyTorch's: detached Tensors sharing the parameters' memory
    assert a.scale.data[0] == 99.0
    assert snapshot["scale"].data[0] == 1.5
    a.load_state_dict(snapshot)
    assert a.scale.data[0] == 1.5
    b.load_state_dict(a.state_dict())
    x = mg.tensor(np.random.default_rng(0).standard_normal((5, 3)))
    np.testing.assert_array_equal(a(x).data, b(x).data)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (lambda s: s.pop("out.bias"), KeyError, r"missing keys \['out.bias'\]"),
        (lambda s: s.update(extra=np.ones(1)), KeyError, r"unexpected keys \['extra'\]"),
        (lambda s: s.update({"out.bias": np.ones(3)}), ValueError, r"'out.bias' has shape \(3,\)"),
        (lambda s: s.update({"out.bias": np.ones(2, np.float32)}), ValueError, r"'out.bias' has dtype float32"),
    ],
    ids=["missing", "unexpected", "shape", "dtype"],
)
def test_load_state_dict_errors_name_the_key_and_change_nothing(change, error, message):
    model = TwoLayer()
    before = model.state_dict()
    state = TwoLayer(rng=5).state_dict()
    change(state)
    with pytest.raises(error, match=message):
        model.load_state_dict(state)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_load_state_dict_non_strict_reports_what_it_skipped():
    model = TwoLayer()
    state = TwoLayer(rng=3).state_dict()
    state.pop("scale")
    state["extra"] = np.zeros(1)
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert missing == ["scale"] and unexpected == ["extra"]
    np.testing.assert_array_equal(model.out.weight.data, state["out.weight"])


def test_repr_shows_layers_shapes_and_parameter_count():
    text = repr(nn.MLP(2, (50, 50), 1, rng=0))
    assert "(fc1): Linear(in_features=2, out_features=50, bias=True)" in text
    assert "weight: 50x2" in text and "(act1): Sigmoid()" in text
    assert f"{2 * 50 + 50 + 50 * 50 + 50 + 50 + 1:,} parameters" in text


# -- Linear, MLP, containers ------------------------------------------------------------------
def test_linear_matches_formula_and_finite_differences():
    layer = nn.Linear(3, 2, rng=0)
    x = mg.tensor(np.random.default_rng(1).standard_normal((5, 3)), requires_grad=True)
    out = layer(x)
    np.testing.assert_allclose(out.data, x.data @ layer.weight.data.T + layer.bias.data)
    assert mg.gradcheck(lambda x, w, b: F.linear(x, w, b), [x, layer.weight, layer.bias])
    assert mg.gradcheck(lambda x, w: F.linear(x, w), [mg.tensor(np.ones((2, 4, 3)), requires_grad=True), layer.weight])


@pytest.mark.parametrize("x", [np.ones((4, 3)), mg.tensor(np.ones((4, 3))), np.ones(3), np.float64(1.0)],
                         ids=["array", "tensor", "vector", "scalar"])
def test_linear_names_itself_when_the_input_has_the_wrong_number_of_features(x):
    expected = r"Linear\(in_features=2, out_features=5\): the input has shape \([^)]*\), but its last axis must have 2"
    with pytest.raises(ValueError, match=expected):
        nn.MLP(2, (5,), 1, rng=0)(x)


def test_linear_default_init_is_pytorchs_bound():
    layer = nn.Linear(400, 300, rng=0)
    bound = 1 / math.sqrt(400)
    for p in (layer.weight.data, layer.bias.data):
        assert np.abs(p).max() <= bound
        assert np.abs(p).max() > 0.95 * bound  # uniform over the whole range, not a narrower one
    assert layer.weight.data.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)


def test_same_rng_seed_gives_the_same_model():
    a, b, c = nn.MLP(2, (5, 5), rng=7), nn.MLP(2, (5, 5), rng=7), nn.MLP(2, (5, 5), rng=8)
    for (_, p), (_, q), (_, r) in zip(a.named_parameters(), b.named_parameters(), c.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data)
        assert not np.array_equal(p.data, r.data)


@pytest.mark.parametrize(
    ("activation", "expected"),
    [("sigmoid", nn.Sigmoid), ("relu", nn.ReLU), ("tanh", nn.Tanh), ("leaky_relu", nn.LeakyReLU),
     ("none", nn.Identity), (None, nn.Identity), (nn.LeakyReLU(0.2), nn.LeakyReLU)],
)
def test_mlp_activation_by_name_or_module(activation, expected):
    model = nn.MLP(2, (4, 3), 1, activation=activation, rng=0)
    assert isinstance(model.act1, expected) and isinstance(model.act2, expected)
    assert isinstance(model.out_act, nn.Sigmoid)  # the lab's "no activation" still ends in a sigmoid
    assert [name for name, _ in model.named_parameters()] == [
        "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"]


def test_mlp_forward_is_the_lab_network():
    model = nn.MLP(2, (4, 3), 1, activation="tanh", output_activation=None, rng=0)
    x = np.random.default_rng(0).standard_normal((6, 2))
    h = x
    for i, act in ((1, np.tanh), (2, np.tanh), (3, lambda v: v)):
        layer = getattr(model, f"fc{i}")
        h = act(h @ layer.weight.data.T + layer.bias.data)
    np.testing.assert_allclose(model(mg.tensor(x)).data, h, rtol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"activation": "swish"}, "unknown activation 'swish'"), ({"hidden": (4, 0)}, "positive integers")],
)
def test_mlp_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        nn.MLP(2, **{"hidden": (4,), **kwargs})


def test_sequential_indexing_append_and_ordered_dict():
    seq = nn.Sequential(OrderedDict(first=nn.Linear(2, 3, rng=0), act=nn.ReLU()))
    assert len(seq) == 2 and isinstance(seq[1], nn.ReLU) and isinstance(seq[-1], nn.ReLU)
    assert [name for name, _ in seq.named_children()] == ["first", "act"]
    seq.append(nn.Linear(3, 1, rng=0))
    assert len(seq[1:]) == 2
    with pytest.raises(TypeError, match=r"not an nn\.Module"):
        nn.Sequential(nn.ReLU(), lambda x: x)


def test_flatten_and_dropout():
    x = mg.tensor(np.arange(24.0).reshape(2, 3, 4), requires_grad=True)
    assert nn.Flatten()(x).shape == (2, 12)
    drop = nn.Dropout(0.25, rng=0)
    ones = mg.tensor(np.ones((200, 50)), requires_grad=True)
    out = drop(ones)
    kept = out.data != 0
    assert 0.7 < kept.mean() < 0.8
    np.testing.assert_allclose(out.data[kept], 1 / 0.75)
    out.sum().backward()
    np.testing.assert_allclose(ones.grad, kept / 0.75)
    drop.eval()
    assert drop(ones) is ones
    with pytest.raises(ValueError, match="probability"):
        nn.Dropout(1.5)


# -- losses --------------------------------------------------------------------------------
rng = np.random.default_rng(11)
LOGITS = rng.standard_normal((6, 4))
TARGET = rng.standard_normal((6, 4))
PROBS = rng.uniform(0.05, 0.95, (6, 4))
BINARY = rng.integers(0, 2, (6, 4)).astype(float)
CLASSES = np.array([0, 3, 1, 1, 2, -100])
WEIGHT = rng.uniform(0.5, 2.0, 4)


def _numpy_losses():
    """Reference formulas, straight from the definitions."""
    def log_softmax(z):
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    def cross_entropy(z):
        valid = CLASSES != -100
        picked = log_softmax(z)[np.arange(6)[valid], CLASSES[valid]]
        w = WEIGHT[CLASSES[valid]]
        return -(picked * w).sum() / w.sum()

    return {
        "mse": (lambda p: F.mse_loss(p, TARGET), lambda p: np.mean((p - TARGET) ** 2), LOGITS),
        "bce": (lambda p: F.binary_cross_entropy(p, BINARY),
                lambda p: -np.mean(BINARY * np.log(p) + (1 - BINARY) * np.log(1 - p)), PROBS),
        "bce_logits": (lambda z: F.binary_cross_entropy_with_logits(z, BINARY, reduction="sum"),
                       lambda z: np.sum(np.log1p(np.exp(z)) - z * BINARY), LOGITS),
        "cross_entropy": (lambda z: F.cross_entropy(z, CLASSES, weight=WEIGHT), cross_entropy, LOGITS),
        "nll": (lambda z: F.nll_loss(mg.log_softmax(z, axis=1), CLASSES, weight=WEIGHT), cross_entropy, LOGITS),
        "l1": (lambda p: F.l1_loss(p, TARGET), lambda p: np.mean(np.abs(p - TARGET)), LOGITS),
        "smooth_l1": (lambda p: F.smooth_l1_loss(p, TARGET, beta=0.8),
                      lambda p: np.mean(np.where(np.abs(p - TARGET) < 0.8, 0.5 * (p - TARGET) ** 2 / 0.8,
                                                 np.abs(p - TARGET) - 0.4)), LOGITS),
        "huber": (lambda p: F.huber_loss(p, TARGET, reduction="sum", delta=0.6),
                  lambda p: np.sum(np.where(np.abs(p - TARGET) < 0.6, 0.5 * (p - TARGET) ** 2,
                                            0.6 * (np.abs(p - TARGET) - 0.3))), LOGITS),
        "kl_div": (lambda z: F.kl_div(mg.log_softmax(z, axis=1), PROBS / PROBS.sum(1, keepdims=True),
                                      reduction="batchmean"),
                   lambda z: np.sum(PROBS / PROBS.sum(1, keepdims=True)
                                    * (np.log(PROBS / PROBS.sum(1, keepdims=True)) - log_softmax(z))) / 6, LOGITS),
    }


@pytest.mark.parametrize("name", list(_numpy_losses()))
def test_loss_value_and_gradient_match_the_definition(name):
    mg_loss, np_loss, values = _numpy_losses()[name]
    x = mg.tensor(values, requires_grad=True)
    out = mg_loss(x)
    assert out.shape == ()
    assert out.item() == pytest.approx(np_loss(values), rel=1e-12)
    out.backward()
    np.testing.assert_allclose(x.grad, numeric_grad(np_loss, [values], 0), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(
    ("mg_name", "torch_name", "inputs", "kwargs"),
    [
        ("mse_loss", "mse_loss", (LOGITS, TARGET), {}),
        ("binary_cross_entropy", "binary_cross_entropy", (PROBS, BINARY), {"weight": WEIGHT}),
        ("binary_cross_entropy", "binary_cross_entropy", (PROBS, PROBS[::-1].copy()), {}),
        ("binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits", (LOGITS, PROBS),
         {"weight": WEIGHT, "pos_weight": WEIGHT[::-1].copy()}),
        ("cross_entropy", "cross_entropy", (LOGITS,), {"target": CLASSES, "weight": WEIGHT, "label_smoothing": 0.1}),
        ("cross_entropy", "cross_entropy", (LOGITS,), {"target": np.abs(TARGET) / np.abs(TARGET).sum(1, keepdims=True),
                                                       "weight": WEIGHT, "label_smoothing": 0.2}),
        ("cross_entropy", "cross_entropy", (rng.standard_normal((3, 4, 5)),),
         {"target": rng.integers(0, 4, (3, 5)), "ignore_index": 2}),
        ("cross_entropy", "cross_entropy", (LOGITS[:5].copy(),), {"target": CLASSES[:5]}),  # nothing ignored
        ("cross_entropy", "cross_entropy", (LOGITS[0].copy(),), {"target": np.array(CLASSES[0])}),
        ("nll_loss", "nll_loss", (LOGITS,), {"target": CLASSES, "weight": WEIGHT}),
        ("l1_loss", "l1_loss", (LOGITS, TARGET), {}),
        ("l1_loss", "l1_loss", (LOGITS, np.round(LOGITS, 1)), {}),  # some differences exactly 0
        ("smooth_l1_loss", "smooth_l1_loss", (LOGITS, TARGET), {"beta": 0.7}),
        ("smooth_l1_loss", "smooth_l1_loss", (LOGITS, TARGET), {"beta": 0.0}),
        ("huber_loss", "huber_loss", (LOGITS, TARGET), {"delta": 0.4}),
        ("kl_div", "kl_div", (np.log(PROBS), PROBS[::-1].copy()), {}),
        ("kl_div", "kl_div", (np.log(PROBS), np.log(PROBS[::-1])), {"log_target": True}),
        ("nll_loss", "nll_loss", (rng.standard_normal((3, 4, 5)),),
         {"target": rng.integers(0, 4, (3, 5)), "ignore_index": 1}),
        ("nll_loss", "nll_loss", (LOGITS[1].copy(),), {"target": np.array(CLASSES[1])}),
    ],
    ids=["mse", "bce-weight", "bce-soft", "bce-logits-pos-weight", "ce-weight-smoothing", "ce-probabilities",
         "ce-3d-ignore", "ce-plain", "ce-unbatched", "nll", "l1", "l1-ties", "smooth-l1", "smooth-l1-beta0", "huber",
         "kl-div", "kl-div-log-target", "nll-3d-ignore", "nll-unbatched"],
)
@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides the total loss")  # torch's kl_div note
def test_losses_match_pytorch(torch, mg_name, torch_name, inputs, kwargs, reduction):
    """Values and the gradients of every float input (targets included), all reductions."""
    tf = torch.nn.functional
    upstream = None
    mg_inputs = [mg.tensor(v, requires_grad=True) for v in inputs]
    torch_inputs = [torch.tensor(v, requires_grad=True) for v in inputs]

    def torch_value(v):
        return torch.tensor(v) if isinstance(v, np.ndarray) else v

    ours = getattr(F, mg_name)(*mg_inputs, **kwargs, reduction=reduction)
    theirs = getattr(tf, torch_name)(*torch_inputs, **{k: torch_value(v) for k, v in kwargs.items()},
                                     reduction=reduction)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    upstream = np.random.default_rng(0).standard_normal(ours.shape)
    ours.backward(upstream)
    theirs.backward(torch.tensor(upstream))
    for m, t in zip(mg_inputs, torch_inputs):
        np.testing.assert_allclose(m.grad, t.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_bce_with_logits_is_stable_for_huge_scores():
    z = mg.tensor([1e4, -1e4, 50.0], requires_grad=True)
    out = F.binary_cross_entropy_with_logits(z, np.array([0.0, 1.0, 1.0]), reduction="none")
    np.testing.assert_allclose(out.data, [1e4, 1e4, np.log1p(np.exp(-50.0))])
    out.sum().backward()
    np.testing.assert_allclose(z.grad, [1.0, -1.0, -np.exp(-50.0) / (1 + np.exp(-50.0))], atol=1e-20)


def test_bce_clamps_log_at_minus_100_like_pytorch():
    out = F.binary_cross_entropy(mg.tensor([0.0, 1.0]), np.array([1.0, 0.0]), reduction="none")
    np.testing.assert_array_equal(out.data, [100.0, 100.0])


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: F.mse_loss(mg.tensor(np.ones((4, 1))), np.ones(4)), ValueError, r"y.reshape\(-1, 1\)"),
        (lambda: F.mse_loss(mg.tensor([1.0]), np.ones(1), reduction="avg"), ValueError, "reduction must be one of"),
        (lambda: F.binary_cross_entropy(mg.tensor([1.5]), np.ones(1)), ValueError, "apply sigmoid first"),
        (lambda: F.cross_entropy(mg.tensor(np.ones((3, 2))), np.array([0.5, 1, 0])), TypeError, "class indices"),
        (lambda: F.cross_entropy(mg.tensor(np.ones((3, 2))), np.array([0, 1])), ValueError, r"targets of shape \(3,\)"),
        (lambda: nn.MSELoss(reduction="all"), ValueError, "reduction must be one of"),
    ],
    ids=["mse-shape", "reduction", "bce-range", "ce-float-target", "ce-shape", "module-reduction"],
)
def test_loss_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_loss_modules_call_the_functions():
    x = mg.tensor(LOGITS, requires_grad=True)
    assert nn.MSELoss(reduction="sum")(x, TARGET).item() == pytest.approx(np.sum((LOGITS - TARGET) ** 2))
    assert nn.CrossEntropyLoss(weight=WEIGHT)(x, CLASSES).item() == pytest.approx(
        F.cross_entropy(x, CLASSES, weight=WEIGHT).item())
    assert nn.BCEWithLogitsLoss()(x, BINARY).item() == pytest.approx(
        F.binary_cross_entropy_with_logits(x, BINARY).item())
    assert nn.BCELoss()(mg.tensor(PROBS), BINARY).item() == pytest.approx(
        F.binary_cross_entropy(mg.tensor(PROBS), BINARY).item())
    assert nn.NLLLoss()(x, CLASSES).item() == pytest.approx(F.nll_loss(x, CLASSES).item())


def test_mse_second_derivative():
    x = mg.tensor(LOGITS, requires_grad=True)
    (g,) = mg.grad(F.mse_loss(x, TARGET), x, create_graph=True)
    (h,) = mg.grad((g * g).sum(), x)
    np.testing.assert_allclose(h.data, 2 * (2 / LOGITS.size) ** 2 * (LOGITS - TARGET))


# -- layers vs PyTorch -------------------------------------------------------------------------
def test_mlp_matches_pytorch_with_the_same_weights(torch):
    model = nn.MLP(2, (5, 4), 1, activation="relu", rng=0)
    reference = torch.nn.Sequential(torch.nn.Linear(2, 5), torch.nn.ReLU(), torch.nn.Linear(5, 4), torch.nn.ReLU(),
                                    torch.nn.Linear(4, 1), torch.nn.Sigmoid()).double()
    with torch.no_grad():
        for i, layer in zip((0, 2, 4), (model.fc1, model.fc2, model.fc3)):
            reference[i].weight.copy_(torch.tensor(layer.weight.data))
            reference[i].bias.copy_(torch.tensor(layer.bias.data))
    x = np.random.default_rng(3).standard_normal((7, 2))
    y = np.random.default_rng(4).uniform(0, 1, (7, 1))
    ours = nn.MSELoss()(model(mg.tensor(x)), y)
    theirs = torch.nn.MSELoss()(reference(torch.tensor(x)), torch.tensor(y))
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-12)
    ours.backward()
    theirs.backward()
    for i, layer in zip((0, 2, 4), (model.fc1, model.fc2, model.fc3)):
        np.testing.assert_allclose(layer.weight.grad, reference[i].weight.grad.numpy(), rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(layer.bias.grad, reference[i].bias.grad.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [(lambda: nn.Sigmoid(), lambda t: t.nn.Sigmoid()), (lambda: nn.Tanh(), lambda t: t.nn.Tanh()),
     (lambda: nn.ReLU(), lambda t: t.nn.ReLU()), (lambda: nn.LeakyReLU(0.2), lambda t: t.nn.LeakyReLU(0.2)),
     (lambda: nn.Softmax(axis=1), lambda t: t.nn.Softmax(dim=1)),
     (lambda: nn.LogSoftmax(axis=1), lambda t: t.nn.LogSoftmax(dim=1)),
     (lambda: nn.Softmax(dim=0), lambda t: t.nn.Softmax(dim=0)),
     (lambda: nn.LogSoftmax(0), lambda t: t.nn.LogSoftmax(0)),
     (lambda: nn.Identity(), lambda t: t.nn.Identity())],
    ids=["sigmoid", "tanh", "relu", "leaky_relu", "softmax", "log_softmax", "softmax-dim", "log_softmax-positional",
         "identity"],
)
def test_activation_modules_match_pytorch(torch, ours, theirs):
    x = np.random.default_rng(5).standard_normal((4, 3))
    a, b = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out_a, out_b = ours()(a), theirs(torch)(b)
    np.testing.assert_allclose(out_a.data, out_b.detach().numpy(), rtol=1e-12)
    g = np.random.default_rng(6).standard_normal(x.shape)
    out_a.backward(g)
    out_b.backward(torch.tensor(g))
    np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=1e-12, atol=1e-15)


# -- init ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("init", "kwargs", "expected_std"),
    [
        (nn.init.xavier_uniform_, {}, math.sqrt(2 / (300 + 200))),
        (nn.init.xavier_normal_, {"gain": 2.0}, 2 * math.sqrt(2 / (300 + 200))),
        (nn.init.kaiming_uniform_, {"nonlinearity": "relu"}, math.sqrt(2) / math.sqrt(300)),
        (nn.init.kaiming_normal_, {"mode": "fan_out", "nonlinearity": "relu"}, math.sqrt(2) / math.sqrt(200)),
        (nn.init.normal_, {"std": 0.3}, 0.3),
        (nn.init.uniform_, {"a": -1.0, "b": 1.0}, 1 / math.sqrt(3)),
    ],
)
def test_init_statistics(init, kwargs, expected_std):
    weight = mg.zeros(200, 300)  # (out, in): fan_in 300, fan_out 200
    assert init(weight, **kwargs, rng=0) is weight
    assert weight.data.std() == pytest.approx(expected_std, rel=0.02)
    assert abs(weight.data.mean()) < 0.05 * expected_std + 1e-3


def test_init_fans_of_conv_weights_and_errors():
    weight = mg.zeros(16, 8, 5)  # conv (out, in, k): fan_in 40
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5), rng=0)
    assert np.abs(weight.data).max() <= 1 / math.sqrt(40)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        nn.init.xavier_uniform_(mg.zeros(3))
    with pytest.raises(ValueError, match="unsupported nonlinearity"):
        nn.init.calculate_gain("swish")
    nn.init.ones_(weight)
    assert (weight.data == 1).all()
    nn.init.zeros_(weight)
    assert (weight.data == 0).all()


def test_calculate_gain_matches_pytorch(torch):
    for name, param in [("sigmoid", None), ("tanh", None), ("relu", None), ("leaky_relu", 0.2), ("linear", None)]:
        assert nn.init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param))


def test_softmax_modules_take_dim_or_axis():
    x = mg.tensor(np.arange(6.0).reshape(2, 3))
    np.testing.assert_allclose(nn.Softmax(dim=0)(x).data.sum(0), np.ones(3))
    np.testing.assert_allclose(nn.Softmax()(x).data.sum(1), np.ones(2))  # the last axis by default
    assert repr(nn.LogSoftmax(dim=1)) == "LogSoftmax(dim=1)" and nn.Softmax(axis=0).dim == 0
    with pytest.raises(TypeError, match="both dim= and axis="):
        nn.Softmax(dim=1, axis=1)


def test_apply_visits_every_module_after_its_children_as_pytorch():
    inner = nn.Sequential(nn.ReLU(), nn.Linear(3, 1))
    model = nn.Sequential(nn.Linear(2, 3), inner)
    visited = []
    assert model.apply(visited.append) is model
    assert visited == [model[0], inner[0], inner[1], inner, model]

    def init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.constant_(module.weight, 0.5)
            nn.init.zeros_(module.bias)

    model.apply(init_weights)
    assert all((layer.weight.data == 0.5).all() and (layer.bias.data == 0).all() for layer in (model[0], inner[1]))
    deep = nn.Identity()
    for _ in range(5000):  # no recursion limit
        deep = nn.Sequential(deep)
    count = []
    deep.apply(count.append)
    assert len(count) == 5001


def test_to_float_and_double_cast_parameters_buffers_and_grads_in_place():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    weight = model[0].weight
    model(mg.tensor(np.ones((4, 2)))).sum().backward()
    assert model.float() is model
    assert model[0].weight is weight and optimizer.param_groups[0]["params"][0] is weight
    assert all(p.dtype == np.float32 and p.grad.dtype == np.float32 for p in model.parameters())
    assert model[1].running_mean.dtype == np.float32 and model[1].num_batches_tracked.dtype == np.int64
    optimizer.step()
    assert model(mg.tensor(np.ones((4, 2), dtype=np.float32))).dtype == np.float32
    assert model.double()[0].weight.dtype == np.float64 and model.to("float32")[0].bias.dtype == np.float32
    assert model.to("cpu") is model
    with pytest.raises(TypeError, match="must stay floating point"):
        model.to(np.int64)


def test_regression_losses_second_order_and_argument_checks():
    x = mg.tensor(LOGITS, requires_grad=True)
    for loss in (lambda p: F.smooth_l1_loss(p, TARGET, beta=0.9), lambda p: F.huber_loss(p, TARGET, delta=0.5),
                 lambda p: F.kl_div(mg.log_softmax(p, axis=1), PROBS, reduction="batchmean")):
        (gradient,) = mg.grad(loss(x), x, create_graph=True)
        direction = np.random.default_rng(1).standard_normal(LOGITS.shape)
        (hessian_times_direction,) = mg.grad((gradient * direction).sum(), x)
        eps = 1e-6
        step = eps * direction
        numeric = (_gradient_of(loss, LOGITS + step) - _gradient_of(loss, LOGITS - step)) / (2 * eps)
        np.testing.assert_allclose(hessian_times_direction, numeric, rtol=1e-5, atol=1e-8)
    with pytest.raises(ValueError, match="beta must be >= 0"):
        F.smooth_l1_loss(x, TARGET, beta=-1.0)
    with pytest.raises(ValueError, match="reduction must be one of"):
        nn.KLDivLoss(reduction="batch")
    with pytest.raises(ValueError, match="input has shape"):
        F.l1_loss(x, TARGET[:, :1])
    assert repr(nn.KLDivLoss(reduction="batchmean")) == "KLDivLoss(reduction='batchmean')"


def _gradient_of(loss, values):
    point = mg.tensor(values, requires_grad=True)
    loss(point).backward()
    return point.grad


def test_kl_div_target_gradient_is_nan_where_the_target_is_zero_as_pytorch():
    target = mg.tensor([[0.0, 0.25, 0.75]], requires_grad=True)
    log_probs = mg.tensor(np.log([[0.2, 0.3, 0.5]]), requires_grad=True)
    loss = F.kl_div(log_probs, target, reduction="sum")
    assert loss.item() == pytest.approx(0.25 * np.log(0.25 / 0.3) + 0.75 * np.log(0.75 / 0.5))
    loss.backward()
    np.testing.assert_allclose(log_probs.grad, [[0.0, -0.25, -0.75]])
    assert np.isnan(target.grad[0, 0]) and np.isfinite(target.grad[0, 1:]).all()


@pytest.mark.parametrize(("ours", "theirs"), [
    (lambda x, y: F.normalize(x), lambda tf, x, y: tf.normalize(x)),
    (lambda x, y: F.normalize(x, p=1.0, dim=-1), lambda tf, x, y: tf.normalize(x, p=1.0, dim=-1)),
    (lambda x, y: F.cosine_similarity(x, y), lambda tf, x, y: tf.cosine_similarity(x, y)),
    (lambda x, y: F.cosine_similarity(x, y[:1], dim=-1), lambda tf, x, y: tf.cosine_similarity(x, y[:1], dim=-1)),
], ids=["normalize", "normalize-p1", "cosine", "cosine-broadcast"])
def test_normalize_and_cosine_similarity_match_pytorch(torch, ours, theirs):
    values = np.random.default_rng(8).standard_normal((2, 3, 4))
    values[0, :, 0] = 0.0  # a zero vector along dim 1: divided by eps, it stays zero
    other = np.random.default_rng(9).standard_normal((2, 3, 4))
    mine = [mg.tensor(v, requires_grad=True) for v in (values, other)]
    reference = [torch.tensor(v, requires_grad=True) for v in (values, other)]
    out, expected = ours(*mine), theirs(torch.nn.functional, *reference)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-15)
    upstream = np.random.default_rng(10).standard_normal(out.shape)
    out.backward(upstream)
    expected.backward(torch.tensor(upstream))
    for a, b in zip(mine, reference):
        if b.grad is None:  # normalize does not use the second tensor
            assert a.grad is None
        else:
            np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_normalize_and_cosine_similarity_gradients_match_finite_differences():
    values = np.random.default_rng(4).standard_normal((3, 5))
    other = np.random.default_rng(5).standard_normal((3, 5))
    x = mg.tensor(values, requires_grad=True)
    assert mg.gradcheck(lambda t: (F.normalize(t, dim=1) * other).sum(), (x,))
    assert mg.gradcheck(lambda t: (F.cosine_similarity(t, other) ** 2).sum(), (x,))
    np.testing.assert_allclose(np.linalg.norm(F.normalize(x).data, axis=1), np.ones(3))


def test_trunc_normal_orthogonal_and_eye_initialisers():
    weight = mg.zeros(4000, 50)
    nn.init.trunc_normal_(weight, std=0.02, a=-0.04, b=0.04, rng=0)
    values = weight.data
    assert values.min() >= -0.04 and values.max() <= 0.04
    # the standard deviation of N(0, 0.02^2) truncated at two standard deviations: 0.8796 * 0.02
    assert values.std() == pytest.approx(0.02 * 0.87962566, rel=0.01) and abs(values.mean()) < 5e-4
    tail = nn.init.trunc_normal_(mg.zeros(2000), mean=0.0, std=1.0, a=6.0, b=7.0, rng=1).data  # far in a tail
    assert tail.min() >= 6.0 and tail.max() <= 7.0 and tail.mean() < 6.3
    for shape in [(3, 7), (7, 3), (4, 2, 3)]:
        matrix = nn.init.orthogonal_(mg.zeros(*shape), gain=2.0, rng=2).data.reshape(shape[0], -1)
        small = matrix @ matrix.T if matrix.shape[0] <= matrix.shape[1] else matrix.T @ matrix
        np.testing.assert_allclose(small, 4.0 * np.eye(min(matrix.shape)), atol=1e-12)
    np.testing.assert_array_equal(nn.init.eye_(mg.ones(2, 3)).data, np.eye(2, 3))
    with pytest.raises(ValueError, match="2 dimensions"):
        nn.init.orthogonal_(mg.zeros(3))
    with pytest.raises(ValueError, match="a < b"):
        nn.init.trunc_normal_(mg.zeros(3), a=1.0, b=0.0)
    with pytest.raises(ValueError, match="2-D"):
        nn.init.eye_(mg.zeros(2, 2, 2))


def test_trunc_normal_moments_match_pytorch(torch):
    ours = nn.init.trunc_normal_(mg.zeros(200_000), mean=0.5, std=2.0, a=-1.0, b=4.0, rng=3).data
    theirs = torch.nn.init.trunc_normal_(torch.zeros(200_000, dtype=torch.float64), mean=0.5, std=2.0, a=-1.0, b=4.0)
    assert ours.mean() == pytest.approx(theirs.mean().item(), abs=0.02)
    assert ours.std() == pytest.approx(theirs.std().item(), abs=0.02)


def test_parameters_to_vector_and_back():
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    vector = nn.utils.parameters_to_vector(model.parameters())
    assert vector.shape == (13,) and vector.requires_grad
    np.testing.assert_array_equal(vector.data, np.concatenate([p.data.ravel() for p in model.parameters()]))
    (vector * np.arange(13.0)).sum().backward()  # in the graph: the gradient goes back to each parameter
    np.testing.assert_array_equal(model[0].weight.grad, np.arange(6.0).reshape(3, 2))
    nn.utils.vector_to_parameters(mg.tensor(np.arange(13.0) * 2), model.parameters())
    np.testing.assert_array_equal(model[1].weight.data, [[18.0, 20.0, 22.0]])
    np.testing.assert_array_equal(nn.utils.parameters_to_vector(model.parameters()).data, np.arange(13.0) * 2)
    with pytest.raises(ValueError, match="has 12 values, the parameters 13"):
        nn.utils.vector_to_parameters(np.zeros(12), model.parameters())
    with pytest.raises(TypeError, match="must be Tensors"):
        nn.utils.parameters_to_vector([np.zeros(2)])


def test_vector_to_parameters_in_a_compiled_step_runs_it_eagerly():
    model = nn.Linear(2, 1)

    @mg.compile
    def set_and_predict(values, x):
        nn.utils.vector_to_parameters(values, model.parameters())
        return model(x)

    x = mg.tensor([[1.0, 2.0]])
    with pytest.warns(UserWarning, match="runs eagerly from now on.*vector_to_parameters"):
        first = set_and_predict(np.array([1.0, 1.0, 0.0]), x).item()
    second = set_and_predict(np.array([2.0, 0.0, 1.0]), x).item()  # the writes happen on every call
    assert (first, second) == (3.0, 3.0) and model.bias.item() == 1.0


@pytest.mark.parametrize("loss", [F.l1_loss, F.smooth_l1_loss, F.huber_loss, F.kl_div])
def test_new_losses_keep_float32_gradients(loss):
    """The gradient reaching a float32 intermediate stays float32 (no widening masks)."""
    values = np.random.default_rng(3).uniform(0.1, 1.0, (3, 4)).astype(np.float32)
    x, target = mg.tensor(values, requires_grad=True), mg.tensor(values[::-1].copy(), requires_grad=True)
    seen = []
    inner_x, inner_target = x * 1, target * 1
    inner_x.register_hook(lambda g: seen.append(g.dtype))
    inner_target.register_hook(lambda g: seen.append(g.dtype))
    loss(inner_x, inner_target).backward()
    assert seen == [np.float32, np.float32]
