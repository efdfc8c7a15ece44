"""nn.Ensemble: members stacked along a leading axis train exactly as they would alone."""

import copy
import io
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import microgradnp as mg
from microgradnp import nn, optim
from microgradnp.ops.linalg import Linear as LinearOp

X_LIN, Y_LIN = mg.data.make_linear(100, rng=0)
SEEDS, RATES = (0, 1, 2, 3), (0.1, 0.05, 0.01, 0.5)


def _linear(x, weight, bias, grad):
    """Forward and backward of the Linear primitive on arrays."""
    ctx = LinearOp.__new__(LinearOp)
    ctx._needs = (True, True, bias is not None)
    out = LinearOp.forward(ctx, x, weight, bias)
    return (out, *LinearOp.backward(ctx, grad))


@settings(max_examples=40, deadline=None)
@given(members=st.integers(1, 4), rows=st.integers(1, 9), n_in=st.integers(1, 7), n_out=st.integers(1, 7),
       shared=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_a_stacked_linear_computes_each_member_bit_for_bit_as_a_single_layer(members, rows, n_in, n_out, shared,
                                                                              dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, n_in) if shared else (members, rows, n_in)).astype(dtype)
    weight = rng.standard_normal((members, n_out, n_in)).astype(dtype)
    bias = rng.standard_normal((members, 1, n_out)).astype(dtype)
    grad = rng.standard_normal((members, rows, n_out)).astype(dtype)
    out, grad_x, grad_w, grad_b = _linear(x, weight, bias, grad)
    for m in range(members):
        one = _linear(x if shared else x[m].copy(), weight[m].copy(), bias[m, 0].copy(), grad[m].copy())
        assert out[m].tobytes() == one[0].tobytes()
        assert grad_w[m].tobytes() == one[2].tobytes()
        assert grad_b[m, 0].tobytes() == one[3].tobytes()
        if not shared:
            assert grad_x[m].tobytes() == one[1].tobytes()
    if shared:  # a shared input's gradient is the sum of the members' (the engine sums it)
        np.testing.assert_allclose(grad_x.sum(axis=0), sum(_linear(x, weight[m], bias[m, 0], grad[m])[1]
                                                           for m in range(members)), rtol=1e-4, atol=1e-4)


def test_stacked_linear_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    x = mg.tensor(rng.standard_normal((3, 5, 4)), requires_grad=True)
    weight = mg.tensor(rng.standard_normal((3, 2, 4)), requires_grad=True)
    bias = mg.tensor(rng.standard_normal((3, 1, 2)), requires_grad=True)
    assert mg.gradcheck(lambda x, w, b: (LinearOp.apply(x, w, b) ** 2).sum(), [x, weight, bias])
    shared = mg.tensor(rng.standard_normal((5, 4)), requires_grad=True)
    assert mg.gradcheck(lambda x, w, b: LinearOp.apply(x, w, b).sin().sum(), [shared, weight, bias])


def _train_both(make_model, make_optimizer, loss_fn, dtype, steps, compiled):
    """Train an ensemble of the SEEDS models at RATES and each model alone; return both."""
    X, y = X_LIN.astype(dtype), Y_LIN.astype(dtype)
    ensemble = nn.Ensemble([make_model(seed, dtype) for seed in SEEDS])
    opt = make_optimizer(ensemble.parameters(), ensemble.per_member(RATES))
    Xt = mg.tensor(X)

    def step():
        opt.zero_grad()
        losses = ensemble.member_losses(loss_fn, ensemble(Xt), y)
        losses.sum().backward()
        opt.step()
        return losses

    step = mg.compile(step) if compiled else step
    singles = [make_model(seed, dtype) for seed in SEEDS]
    optimizers = [make_optimizer(m.parameters(), rate) for m, rate in zip(singles, RATES, strict=True)]
    for _ in range(steps):
        losses = step()
        for i, (model, single_opt) in enumerate(zip(singles, optimizers, strict=True)):
            single_opt.zero_grad()
            loss = loss_fn(model(Xt), y)
            loss.backward()
            single_opt.step()
            np.testing.assert_allclose(losses.data[i], loss.data, rtol=1e-5 if dtype == np.float32 else 1e-12)
    return ensemble, singles


def _assert_members_equal(ensemble, singles):
    for i, model in enumerate(singles):
        member = ensemble.member(i)
        for (name, p), (_, q) in zip(model.named_parameters(), member.named_parameters(), strict=True):
            assert p.data.tobytes() == q.data.tobytes(), f"member {i}, {name}"


OPTIMIZERS = {
    "sgd": lambda ps, lr: optim.SGD(ps, lr=lr),
    "sgd_momentum": lambda ps, lr: optim.SGD(ps, lr=lr, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adam": lambda ps, lr: optim.Adam(ps, lr=lr),
    "adamw": lambda ps, lr: optim.AdamW(ps, lr=lr, weight_decay=0.1),
    "rmsprop": lambda ps, lr: optim.RMSprop(ps, lr=lr, momentum=0.5),
    "adagrad": lambda ps, lr: optim.Adagrad(ps, lr=lr, lr_decay=0.01),
    "adamax": lambda ps, lr: optim.Adamax(ps, lr=lr, weight_decay=0.01),
    "nadam": lambda ps, lr: optim.NAdam(ps, lr=lr),
    "radam": lambda ps, lr: optim.RAdam(ps, lr=lr, decoupled_weight_decay=True, weight_decay=0.01),
    "adadelta": lambda ps, lr: optim.Adadelta(ps, lr=lr),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_every_member_trains_bit_identically_to_its_model_alone(optimizer, dtype):
    def make_model(seed, dtype):
        return nn.MLP(2, (10, 10), 1, activation="tanh", dtype=dtype, rng=seed)

    ensemble, singles = _train_both(make_model, OPTIMIZERS[optimizer], nn.MSELoss(), dtype, 25, compiled=True)
    _assert_members_equal(ensemble, singles)


@pytest.mark.parametrize("activation", ["sigmoid", "relu", "leaky_relu", "none"])
@pytest.mark.parametrize("loss_fn", [nn.MSELoss(), nn.MSELoss(reduction="sum"), nn.BCELoss()], ids=repr)
def test_activations_losses_and_eager_training_are_exact_too(activation, loss_fn):
    def make_model(seed, dtype):
        return nn.MLP(2, (8,), 1, activation=activation, dtype=dtype, rng=seed)

    ensemble, singles = _train_both(make_model, OPTIMIZERS["sgd"], loss_fn, np.float64, 20, compiled=False)
    _assert_members_equal(ensemble, singles)


def test_logits_loss_and_layers_without_bias():
    def make_model(seed, dtype):
        return nn.MLP(2, (6, 6), 1, output_activation=None, bias=False, dtype=dtype, rng=seed)

    ensemble, singles = _train_both(make_model, OPTIMIZERS["adam"], nn.BCEWithLogitsLoss(), np.float64, 20, True)
    _assert_members_equal(ensemble, singles)
    assert [name for name, _ in ensemble.named_parameters()] == ["module.fc1.weight", "module.fc2.weight",
                                                                  "module.fc3.weight"]


def test_the_models_are_copied_not_shared_and_members_come_back_as_models():
    models = [nn.MLP(2, (4,), 1, rng=seed) for seed in range(3)]
    before = copy.deepcopy(models)
    ensemble = nn.Ensemble(models)
    for p in ensemble.parameters():
        p.data += 1  # (an update)
    for model, original in zip(models, before, strict=True):
        for p, q in zip(model.parameters(), original.parameters(), strict=True):
            np.testing.assert_array_equal(p.data, q.data)
    member = ensemble.member(-1)
    assert type(member) is nn.MLP
    np.testing.assert_array_equal(member.fc1.weight.data, models[2].fc1.weight.data + 1)
    np.testing.assert_array_equal(member(mg.tensor(X_LIN)).data, ensemble(mg.tensor(X_LIN)).data[2])
    assert "members=3" in repr(ensemble)


def test_frozen_parameters_stay_frozen():
    models = [nn.MLP(2, (4,), 1, rng=seed) for seed in range(2)]
    for model in models:
        model.fc1.requires_grad_(False)
    ensemble = nn.Ensemble(models)
    assert not ensemble.module.fc1.weight.requires_grad and ensemble.module.fc2.weight.requires_grad
    assert not ensemble.member(0).fc1.bias.requires_grad


def test_per_member_options_survive_an_optimizer_state_dict_round_trip():
    ensemble = nn.Ensemble([nn.MLP(2, (4,), 1, rng=seed) for seed in range(2)])
    opt = optim.Adam(ensemble.parameters(), lr=ensemble.per_member([0.1, 0.2]))
    other = optim.Adam(ensemble.parameters(), lr=0.5)
    other.load_state_dict(opt.state_dict())
    np.testing.assert_array_equal(other.param_groups[0]["lr"], ensemble.per_member([0.1, 0.2]))
    assert other.param_groups[0]["betas"] == (0.9, 0.999)


def test_what_cannot_be_stacked_is_refused_with_the_reason():
    with pytest.raises(TypeError, match=r"Conv1d.*cannot work on a leading member axis"):
        nn.Ensemble([nn.Sequential(nn.Conv1d(1, 2, 3), nn.Flatten()) for _ in range(2)])
    with pytest.raises(ValueError, match="model 1 differs"):
        nn.Ensemble([nn.MLP(2, (4,), 1), nn.MLP(2, (5,), 1)])
    with pytest.raises(ValueError, match="model 1 differs"):
        nn.Ensemble([nn.MLP(2, (4,), 1), nn.MLP(2, (4,), 1, dtype=np.float32)])
    with pytest.raises(TypeError, match="non-empty list"):
        nn.Ensemble([])
    with pytest.raises(TypeError, match="non-empty list"):
        nn.Ensemble(nn.MLP(2, (4,), 1))
    ensemble = nn.Ensemble([nn.MLP(2, (4,), 1) for _ in range(2)])
    with pytest.raises(ValueError, match="one value per member"):
        ensemble.per_member([0.1, 0.2, 0.3])
    with pytest.raises(IndexError, match="out of range for 2 members"):
        ensemble.member(2)
    with pytest.raises(TypeError, match="loss_fn must be"):
        ensemble.member_losses(nn.CrossEntropyLoss(), ensemble(mg.tensor(X_LIN)), Y_LIN)
    with pytest.raises(TypeError, match="loss_fn must be"):
        ensemble.member_losses(nn.MSELoss(reduction="none"), ensemble(mg.tensor(X_LIN)), Y_LIN)
    with pytest.raises(ValueError, match="target shared by all members"):
        ensemble.member_losses(nn.MSELoss(), ensemble(mg.tensor(X_LIN)), Y_LIN[:10])
    with pytest.raises(ValueError, match="lr must be >= 0"):
        optim.SGD(ensemble.parameters(), lr=ensemble.per_member([0.1, -0.1]))


def test_matches_pytorch_vmap_over_stacked_linear_layers():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((7, 3)), rng.standard_normal((4, 5, 3)), rng.standard_normal((4, 1, 5))
    out = LinearOp.apply(mg.tensor(x), mg.tensor(w, requires_grad=True), mg.tensor(b, requires_grad=True))
    expected = torch.func.vmap(torch.nn.functional.linear, in_dims=(None, 0, 0))(
        torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b[:, 0]))
    np.testing.assert_allclose(out.data, expected.numpy(), rtol=1e-12, atol=1e-12)


# -- leaving members and fit_ensemble -------------------------------------------------------------
def test_members_that_leave_take_their_parameters_grads_state_and_options_with_them():
    ensemble = nn.Ensemble([nn.MLP(2, (4,), 1, rng=seed) for seed in range(4)])
    opt = optim.Adam(ensemble.parameters(), lr=ensemble.per_member([0.1, 0.2, 0.3, 0.4]))
    X = mg.tensor(X_LIN)
    for _ in range(2):
        opt.zero_grad()
        ensemble.member_losses(nn.MSELoss(), ensemble(X), Y_LIN).sum().backward()
        opt.step()
    expected = [ensemble.member(i) for i in (3, 1)]
    weight = ensemble.module.fc1.weight
    moments = opt.state[weight]["exp_avg"][[3, 1]]
    ensemble.keep([3, 1], opt)
    assert ensemble.members == 2 and weight.shape == (2, 4, 2) and weight.grad.shape == (2, 4, 2)
    np.testing.assert_array_equal(opt.state[weight]["exp_avg"], moments)
    np.testing.assert_array_equal(opt.param_groups[0]["lr"].ravel(), [0.4, 0.2])
    for i, model in enumerate(expected):
        for p, q in zip(model.parameters(), ensemble.member(i).parameters(), strict=True):
            np.testing.assert_array_equal(p.data, q.data)
    with pytest.raises(IndexError, match="member indices"):
        ensemble.keep([2])
    with pytest.raises(ValueError, match="repeat"):
        ensemble.keep([0, 0])


@pytest.mark.parametrize(("activation", "output", "rates"), [
    ("relu", "sigmoid", (1.0, 0.5, 5.0, 0.1)),
    ("none", None, (0.05, 0.5, 2.0, 1e-3)),  # no activation at all: the large rates diverge
])
def test_fit_ensemble_gives_every_member_what_fit_gives_it_alone(activation, output, rates):
    X, y = mg.data.make_xor_easy()

    def make_model(seed):
        return nn.MLP(2, (10, 10), 1, activation=activation, output_activation=output, rng=seed)

    seeds = (0, 1, 0, 2)
    ensemble = nn.Ensemble([make_model(seed) for seed in seeds])
    finished = []
    histories = mg.train.fit_ensemble(ensemble, X, y, "mse", optim.SGD(ensemble.parameters(),
                                      lr=ensemble.per_member(rates)), 400, stop_at_accuracy=1.0,
                                      on_finish=lambda member, history: finished.append(member))
    assert sorted(finished) == [0, 1, 2, 3] and ensemble.members == 4
    statuses = set()
    for i, (seed, rate) in enumerate(zip(seeds, rates, strict=True)):
        model = make_model(seed)
        alone = mg.train.fit(model, X, y, "mse", optim.SGD(model.parameters(), lr=rate), 400, stop_at_accuracy=1.0,
                             progress=False, file=io.StringIO())
        got = histories[i]
        assert (got.status, got.stop_epoch, got.accuracy, got.message) == (
            alone.status, alone.stop_epoch, alone.accuracy, alone.message)
        np.testing.assert_array_equal(got.loss, alone.loss)
        for p, q in zip(model.parameters(), ensemble.member(i).parameters(), strict=True):
            assert p.data.tobytes() == q.data.tobytes()
        statuses.add(got.status)
    assert len(statuses) > 1  # the cases cover members that leave early and late


def test_fit_ensemble_histories_are_exact_when_they_are_recorded_in_batches(monkeypatch):
    # The epochs' losses and accuracies wait in lists and join the histories every few
    # epochs, when a member finishes, and at the end: every member's history must still be
    # what fit gives it alone, epoch by epoch (members diverging, reaching and completing).
    monkeypatch.setattr(sys.modules["microgradnp.train.fit"], "_RECORD_EVERY", 7)  # (mg.train.fit: the function)
    X, y = mg.data.make_xor_easy()
    rates = (0.5, 0.8, 1000.0, 1e-4)  # (reached at epochs 5 and 39, diverged at 47, completed)

    def make_model():
        return nn.MLP(2, (6,), 1, activation="relu", output_activation=None, rng=0)

    ensemble = nn.Ensemble([make_model() for _ in rates])
    histories = mg.train.fit_ensemble(ensemble, X, y, "mse", optim.SGD(ensemble.parameters(),
                                      lr=ensemble.per_member(rates)), 60, stop_at_accuracy=0.7)
    statuses = set()
    for i, rate in enumerate(rates):
        model = make_model()
        alone = mg.train.fit(model, X, y, "mse", optim.SGD(model.parameters(), lr=rate), 60, stop_at_accuracy=0.7,
                             progress=False, file=io.StringIO())
        got = histories[i]
        assert (got.status, got.stop_epoch, got.message) == (alone.status, alone.stop_epoch, alone.message)
        assert got.accuracy == alone.accuracy and len(got.loss) == len(alone.loss)
        np.testing.assert_array_equal(got.loss, alone.loss)  # (nan where it diverged)
        statuses.add(got.status)
    assert statuses == {"reached", "diverged", "completed"}


def test_fit_ensemble_leaves_the_optimizer_covering_every_member_as_it_finished():
    # Members leave the ensemble (and the optimizer's rates and buffers shrink with it); at
    # the end every member is back: its rate, momentum buffer and last gradients are those
    # of the member's model trained alone, so a further step updates every member rightly.
    X, y = mg.data.make_xor_easy()
    rates = (0.3, 0.1, 0.05, 1e-3)  # (reached at epochs 7, 12, 17 and 42)

    def make_model():
        return nn.MLP(2, (6,), 1, activation="relu", output_activation=None, rng=0)

    ensemble = nn.Ensemble([make_model() for _ in rates])
    opt = optim.SGD(ensemble.parameters(), lr=ensemble.per_member(rates), momentum=0.9)
    histories = mg.train.fit_ensemble(ensemble, X, y, "mse", opt, 60, stop_at_accuracy=0.7)
    assert len({h.stop_epoch for h in histories}) == len(rates)
    np.testing.assert_array_equal(np.ravel(opt.param_groups[0]["lr"]), rates)
    for i, rate in enumerate(rates):
        model = make_model()
        alone = optim.SGD(model.parameters(), lr=rate, momentum=0.9)
        mg.train.fit(model, X, y, "mse", alone, 60, stop_at_accuracy=0.7, progress=False, file=io.StringIO())
        for p, q in zip(model.parameters(), ensemble.parameters(), strict=True):
            assert alone.state[p]["momentum_buffer"].tobytes() == opt.state[q]["momentum_buffer"][i].tobytes()
            assert p.grad.tobytes() == q.grad[i].tobytes()
    opt.step()  # every member's step, with its own rate and buffer
    for i, rate in enumerate(rates):
        model = make_model()
        alone = optim.SGD(model.parameters(), lr=rate, momentum=0.9)
        mg.train.fit(model, X, y, "mse", alone, 60, stop_at_accuracy=0.7, progress=False, file=io.StringIO())
        alone.step()
        for p, q in zip(model.parameters(), ensemble.member(i).parameters(), strict=True):
            assert p.data.tobytes() == q.data.tobytes()


def test_fit_ensemble_records_a_summed_loss_as_fit_does():
    X, y = mg.data.make_moons(37, rng=0)

    def make_model(seed):
        return nn.MLP(2, (5,), 1, activation="tanh", rng=seed)

    ensemble = nn.Ensemble([make_model(seed) for seed in (0, 1)])
    histories = mg.train.fit_ensemble(ensemble, X, y, nn.MSELoss(reduction="sum"),
                                      optim.SGD(ensemble.parameters(), lr=0.01), 30)
    for seed, got in zip((0, 1), histories, strict=True):
        model = make_model(seed)
        alone = mg.train.fit(model, X, y, nn.MSELoss(reduction="sum"), optim.SGD(model.parameters(), lr=0.01), 30,
                             progress=False, file=io.StringIO())
        assert got.loss == alone.loss and got.accuracy == alone.accuracy


@pytest.mark.parametrize(("arguments", "message"), [
    (dict(stop_at_accuracy=100), "stop_at_accuracy is a fraction"), (dict(threshold="0.5"), "threshold is a number"),
    (dict(optimizer=None), "optimizer must be an optimizer"), (dict(X=np.full((4, 2), np.nan)), "X holds nan"),
    (dict(X=np.empty((0, 2)), y=np.empty((0, 1))), "the data set is empty"),
])
def test_fit_ensemble_checks_its_arguments_as_fit_does(arguments, message):
    ensemble = nn.Ensemble([nn.MLP(2, (3,), 1, rng=seed) for seed in range(2)])
    given = dict(X=X_LIN[:4], y=Y_LIN[:4], optimizer=optim.SGD(ensemble.parameters(), lr=0.1)) | arguments
    with pytest.raises((ValueError, TypeError), match=message):
        mg.train.fit_ensemble(ensemble, given["X"], given["y"], "mse", given["optimizer"], 5,
                              stop_at_accuracy=given.get("stop_at_accuracy"), threshold=given.get("threshold", 0.5))


MEMBER_LOSSES = [nn.MSELoss(), nn.MSELoss(reduction="sum"), nn.BCELoss(weight=np.full((20, 1), 0.5)),
                 nn.BCEWithLogitsLoss(pos_weight=np.array([2.0]))]


@pytest.mark.parametrize("loss_fn", MEMBER_LOSSES, ids=repr)
def test_member_losses_are_each_members_own_loss_and_gradient(loss_fn):
    # One node reduces each member's rows: its value and the gradients it sends back equal
    # the loss of each member's prediction alone, bit for bit, and the shared target's
    # gradient is the sum of the members' (finite differences check the rule itself).
    rng = np.random.default_rng(1)
    prediction = mg.tensor(rng.uniform(0.05, 0.95, (3, 20, 1)), requires_grad=True)
    target = mg.tensor((rng.uniform(size=(20, 1)) > 0.5).astype(float), requires_grad=True)
    ensemble = nn.Ensemble([nn.MLP(2, (4,), 1, rng=seed) for seed in range(3)])
    losses = ensemble.member_losses(loss_fn, prediction, target)
    assert losses.shape == (3,)
    losses.sum().backward()
    target_grad = 0
    for m in range(3):
        alone = mg.tensor(prediction.data[m], requires_grad=True)
        shared = mg.tensor(target.data, requires_grad=True)
        loss = loss_fn(alone, shared)
        loss.backward()
        assert losses.data[m].tobytes() == loss.data.tobytes()
        assert prediction.grad[m].tobytes() == alone.grad.tobytes()
        target_grad = target_grad + shared.grad
    np.testing.assert_allclose(target.grad, target_grad, rtol=1e-12)
    assert mg.gradcheck(lambda p, t: ensemble.member_losses(loss_fn, p, t).sin().sum(), [prediction, target])


def test_fit_ensemble_refuses_a_single_model():
    with pytest.raises(TypeError, match="use fit for one model"):
        mg.train.fit_ensemble(nn.MLP(2, (3,), 1), X_LIN, Y_LIN, "mse", None, 3)


@pytest.mark.parametrize("as_tensor", [False, True])
def test_member_losses_in_a_compiled_step_read_each_calls_target(as_tensor):
    # Mini-batches: the target (an array or a tensor argument) changes at every call; a
    # replay must use the new one (its broadcast is an operation, not NumPy code it would keep).
    def make():
        ensemble = nn.Ensemble([nn.MLP(2, (4,), 1, rng=seed) for seed in range(3)])
        return ensemble, optim.SGD(ensemble.parameters(), lr=0.5)

    def step(ensemble, opt, x, y):
        opt.zero_grad()
        losses = ensemble.member_losses(nn.MSELoss(), ensemble(x), y)
        losses.sum().backward()
        opt.step()
        return losses

    (eager_model, eager_opt), (model, opt) = make(), make()
    compiled = mg.compile(lambda x, y: step(model, opt, x, y))
    for start in (0, 20, 40, 60):
        x, y = mg.tensor(X_LIN[start:start + 20]), Y_LIN[start:start + 20]
        y = mg.tensor(y) if as_tensor else y
        np.testing.assert_array_equal(compiled(x, y).data, step(eager_model, eager_opt, x, y).data)
    assert compiled.traces == 1 and compiled._eager_reason is None  # (replayed, not run eagerly)
    for p, q in zip(eager_model.parameters(), model.parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data)
