"""mg.compile: a replay gives bit-identical results to eager execution, is never stale,
and refuses what it cannot repeat."""

import collections
import copy
import gc
import tracemalloc
import types
import warnings

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import nn, optim

X_XOR, Y_XOR = mg.data.make_xor_easy()


def _twins(make_model, make_optimizer):
    """Two identical (model, optimizer) pairs: one runs eagerly, one compiled."""
    model = make_model()
    twin = copy.deepcopy(model)
    return (model, make_optimizer(model.parameters())), (twin, make_optimizer(twin.parameters()))


def _step(model, opt, loss_fn, X, y):
    opt.zero_grad()
    loss = loss_fn(model(X), y)
    loss.backward()
    opt.step()
    return loss


def _assert_same(eager_model, compiled_model):
    for p, q in zip(eager_model.parameters(), compiled_model.parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data)
        if p.grad is None:
            assert q.grad is None
        else:
            np.testing.assert_array_equal(p.grad, q.grad)


def _run_both(make_model, make_optimizer, loss_fn, batches, steps):
    (m1, o1), (m2, o2) = _twins(make_model, make_optimizer)
    compiled = mg.compile(_step)
    for i in range(steps):
        X, y = batches[i % len(batches)]
        eager_loss = _step(m1, o1, loss_fn, X, y)
        compiled_loss = compiled(m2, o2, loss_fn, X, y)
        assert eager_loss.data.tobytes() == compiled_loss.data.tobytes(), f"step {i}"
    _assert_same(m1, m2)
    return compiled


@pytest.mark.parametrize("activation", ["sigmoid", "relu", "tanh", "leaky_relu", None])
def test_mlp_replays_bit_identically_with_every_activation(activation):
    compiled = _run_both(lambda: nn.MLP(2, (50, 50), 1, activation=activation, output_activation="sigmoid", rng=0),
                         lambda ps: optim.SGD(ps, lr=0.5), nn.MSELoss(), [(mg.tensor(X_XOR), Y_XOR)], 200)
    assert compiled.traces == 1


OPTIMIZERS = [
    lambda ps: optim.SGD(ps, lr=0.1),
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.5, dampening=0.1, maximize=False),
    lambda ps: optim.Adam(ps, lr=1e-2),
    lambda ps: optim.Adam(ps, lr=1e-2, amsgrad=True, weight_decay=1e-2),
    lambda ps: optim.AdamW(ps, lr=1e-2),
    lambda ps: optim.RMSprop(ps, lr=1e-3, momentum=0.5, centered=True),
    lambda ps: optim.Adagrad(ps, lr=1e-2, lr_decay=1e-3),
    lambda ps: optim.Adamax(ps, lr=1e-2, weight_decay=1e-2),
    lambda ps: optim.NAdam(ps, lr=1e-2, decoupled_weight_decay=True, weight_decay=1e-2),
    lambda ps: optim.RAdam(ps, lr=1e-2),
    lambda ps: optim.Adadelta(ps, lr=1.0),
]


@pytest.mark.parametrize("make_optimizer", OPTIMIZERS)
def test_every_optimizer_replays_bit_identically(make_optimizer):
    _run_both(lambda: nn.MLP(2, (16,), 1, rng=1), make_optimizer, nn.MSELoss(), [(mg.tensor(X_XOR), Y_XOR)], 60)


@pytest.mark.parametrize("loss", ["mse", "bce", "bce_logits", "cross_entropy"])
def test_losses_and_minibatches_of_two_sizes(loss):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    if loss == "cross_entropy":
        y = rng.integers(0, 4, size=50)
        outputs, loss_fn, last = 4, nn.CrossEntropyLoss(), None
    else:
        y = (X[:, :1] > 0).astype(float)
        outputs = 1
        loss_fn = {"mse": nn.MSELoss(), "bce": nn.BCELoss(), "bce_logits": nn.BCEWithLogitsLoss()}[loss]
        last = "sigmoid" if loss == "bce" else None
    batches = [(mg.tensor(X[i:i + 16]), y[i:i + 16]) for i in range(0, 50, 16)]  # 16, 16, 16, 2
    compiled = _run_both(lambda: nn.MLP(3, (8,), outputs, activation="tanh", output_activation=last, rng=2),
                         lambda ps: optim.Adam(ps, lr=1e-2), loss_fn, batches, 40)
    assert compiled.traces == 2  # one per batch size, both kept


def test_conv1d_network_replays_bit_identically():
    rng = np.random.default_rng(3)
    X = mg.tensor(rng.normal(size=(4, 2, 12)))
    y = rng.normal(size=(4, 3 * 4))

    def make():
        return nn.Sequential(nn.Conv1d(2, 3, 3, padding=1, rng=0), nn.ReLU(), nn.MaxPool1d(3), nn.Flatten())

    _run_both(make, lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9), nn.MSELoss(), [(X, y)], 30)


def test_dropout_draws_a_fresh_mask_every_replay_as_eager_does():
    def make():
        return nn.Sequential(nn.Linear(2, 32, rng=0), nn.ReLU(), nn.Dropout(0.5, rng=7), nn.Linear(32, 1, rng=1))

    compiled = _run_both(make, lambda ps: optim.SGD(ps, lr=0.1), nn.MSELoss(), [(mg.tensor(X_XOR), Y_XOR)], 30)
    assert compiled.traces == 1


def test_a_hand_written_step_from_raw_tensor_operations():
    rng = np.random.default_rng(0)
    params = [rng.normal(size=(2, 8)), np.zeros((1, 8)), rng.normal(size=(8, 1)), np.zeros((1, 1))]
    X, y = mg.tensor(X_XOR), mg.tensor(Y_XOR)

    def build():
        ps = [mg.tensor(p, requires_grad=True) for p in params]
        return ps, optim.SGD(ps, lr=0.5)

    def step(ps, opt):
        w1, b1, w2, b2 = ps
        out = ((X @ w1 + b1).tanh() @ w2 + b2).sigmoid()
        loss = ((out - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss, out

    (p1, o1), (p2, o2) = build(), build()
    compiled = mg.compile(step)
    for _ in range(100):
        (l1, out1), (l2, out2) = step(p1, o1), compiled(p2, o2)
        assert l1.item() == l2.item()
        np.testing.assert_array_equal(out1.data, out2.data)
        assert not l2.requires_grad  # a replay returns values, not a graph
    for a, b in zip(p1, p2):
        np.testing.assert_array_equal(a.data, b.data)



@pytest.mark.parametrize("bias_shape", [(8,), (1, 8), (5, 1), (1, 1), (), (3, 1, 8)])
def test_broadcast_gradients_are_summed_as_eager_sums_them(bias_shape):
    # The replay sums a broadcast gradient with the axes worked out while tracing (one
    # NumPy call, no sum_to_shape): the same sums, leading axes dropped, as eager's.
    rng = np.random.default_rng(1)
    x = mg.tensor(rng.normal(size=(5, 8)))
    start = rng.normal(size=bias_shape)

    def build():
        b, w = mg.tensor(start.copy(), requires_grad=True), mg.tensor(np.ones(1), requires_grad=True)
        return b, w, optim.SGD([b, w], lr=0.1)

    def step(b, w, opt):
        opt.zero_grad()
        loss = ((x * w + b).tanh() ** 2).sum()  # w (1,) and b broadcast; a + b hands on one gradient
        loss.backward()
        opt.step()
        return loss.detach()

    eager, replayed = build(), build()
    compiled = mg.compile(step)
    for _ in range(4):
        assert step(*eager).item() == compiled(*replayed).item()
        for a, b in zip(eager[:2], replayed[:2]):
            assert a.grad.shape == a.shape
            np.testing.assert_array_equal(a.grad, b.grad)
            np.testing.assert_array_equal(a.data, b.data)
    assert "sum_to_shape(" not in compiled.code and "add_reduce(" in compiled.code

def test_gradients_accumulate_when_the_step_does_not_zero_them():
    X = mg.tensor(X_XOR)

    def make():
        return nn.Linear(2, 1, rng=0)

    def step(model):
        loss = ((model(X) - Y_XOR) ** 2).sum()
        loss.backward()
        return loss

    m1, m2 = make(), make()
    compiled = mg.compile(step)
    for _ in range(3):
        step(m1), compiled(m2)
    _assert_same(m1, m2)


# -- never stale ------------------------------------------------------------------------------
def _setup():
    model = nn.MLP(2, (8,), 1, rng=0)
    opt = optim.SGD(model.parameters(), lr=0.1)
    X = mg.tensor(X_XOR)
    compiled = mg.compile(lambda: _step(model, opt, nn.MSELoss(), X, Y_XOR))
    twin = copy.deepcopy(model)
    twin_opt = optim.SGD(twin.parameters(), lr=0.1)
    return model, opt, compiled, twin, twin_opt, lambda: _step(twin, twin_opt, nn.MSELoss(), X, Y_XOR)


def test_learning_rate_changes_and_schedulers_are_seen_by_every_replay():
    model, opt, compiled, twin, twin_opt, eager = _setup()
    sched, twin_sched = optim.lr_scheduler.StepLR(opt, 2, 0.5), optim.lr_scheduler.StepLR(twin_opt, 2, 0.5)
    for i in range(8):
        compiled(), eager()
        sched.step(), twin_sched.step()
        if i == 4:
            opt.param_groups[0]["lr"] = twin_opt.param_groups[0]["lr"] = 0.7
    _assert_same(twin, model)
    assert compiled.traces == 1


def test_load_state_dict_reassigned_data_and_frozen_parameters_are_seen():
    model, _, compiled, twin, _, eager = _setup()
    compiled(), eager()
    state = nn.MLP(2, (8,), 1, rng=5).state_dict()
    model.load_state_dict(state), twin.load_state_dict(state)
    compiled(), eager()
    _assert_same(twin, model)
    new = np.full((8, 2), 0.3)
    model.fc1.weight.data, twin.fc1.weight.data = new.copy(), new.copy()  # a new array, same shape
    compiled(), eager()
    _assert_same(twin, model)
    assert compiled.traces == 1
    model.fc1.weight.data, twin.fc1.weight.data = np.zeros((8, 2), np.float32), np.zeros((8, 2), np.float32)
    compiled(), eager()  # another dtype: traced again
    _assert_same(twin, model)
    assert compiled.traces == 2
    model.fc1.bias.requires_grad = twin.fc1.bias.requires_grad = False
    model.fc1.bias.grad = twin.fc1.bias.grad = None
    compiled(), eager()
    _assert_same(twin, model)
    assert compiled.traces == 3


def test_train_and_eval_switch_replays():
    model = nn.Sequential(nn.Linear(2, 16, rng=0), nn.Dropout(0.5, rng=1), nn.Linear(16, 1, rng=2))
    X = mg.tensor(X_XOR)
    with mg.no_grad():
        predict = mg.compile(lambda: model(X))
        training = predict().data.copy()
        model.eval()
        evaluated = predict().data.copy()
        np.testing.assert_array_equal(evaluated, model(X).data)
        assert not np.array_equal(training, evaluated)
        assert predict.traces == 2


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden, self.act, self.out = nn.Linear(2, 8, rng=0), nn.Tanh(), nn.Linear(8, 1, rng=1)
        self.drop, self.leaky = nn.Dropout(0.0), nn.LeakyReLU(0.01)

    def forward(self, x):
        return self.leaky(self.out(self.drop(self.act(self.hidden(x)))))


_MODULE_CHANGES = {
    "a sub-module replaced": lambda net, loss: setattr(net, "out", nn.Linear(8, 1, rng=5)),
    "an activation replaced": lambda net, loss: setattr(net, "act", nn.Sigmoid()),
    "a parameter replaced": lambda net, loss: setattr(net.hidden, "weight", nn.Parameter(mg.ones(8, 2))),
    "a bias removed": lambda net, loss: setattr(net.out, "bias", None),
    "a sub-module deleted": lambda net, loss: (delattr(net, "act"), setattr(net, "act", nn.Identity())),
    "a buffer registered": lambda net, loss: net.leaky.register_buffer("unused", mg.zeros(1)),
    "a loss's reduction": lambda net, loss: setattr(loss, "reduction", "sum"),
    "a slope": lambda net, loss: setattr(net.leaky, "negative_slope", 0.5),
    "a dropout probability": lambda net, loss: setattr(net.drop, "p", 0.5),
    "eval mode": lambda net, loss: net.eval(),
}


@pytest.mark.parametrize("change", list(_MODULE_CHANGES))
def test_a_module_changed_between_calls_is_seen(change):
    net, loss_fn = _Net(), nn.MSELoss()
    X = mg.tensor(X_XOR)

    def run():
        return loss_fn(net(X), Y_XOR).data

    with mg.no_grad():
        compiled = mg.compile(run)
        compiled(), compiled()
        _MODULE_CHANGES[change](net, loss_fn)
        for seed in range(2):
            results = []
            for function in (compiled, run):
                mg.manual_seed(seed)  # the same dropout masks for both
                results.append(function().tobytes())
            assert results[0] == results[1]
    assert compiled.traces == 2


def test_an_unrelated_module_changed_costs_no_trace():
    net, other = _Net(), nn.Linear(2, 2)
    X = mg.tensor(X_XOR)
    with mg.no_grad():
        compiled = mg.compile(lambda: net(X))
        compiled()
        other.eval()
        other.weight = nn.Parameter(mg.zeros(2, 2))
        net.train()  # already in training mode: no change
        compiled(), compiled()
    assert compiled.traces == 1


def test_train_and_eval_inside_the_function_replay_without_tracing_again():
    model = nn.Sequential(nn.Linear(2, 16, rng=0), nn.Dropout(0.5, rng=1), nn.Linear(16, 1, rng=2))
    X = mg.tensor(X_XOR)

    def evaluate():
        model.eval()
        out = model(X)
        model.train()
        return out

    with mg.no_grad():
        compiled = mg.compile(evaluate)
        results = [compiled().data for _ in range(3)]
    assert model.training and compiled.traces == 1
    for result in results:
        np.testing.assert_array_equal(result, results[0])  # no dropout: evaluated in eval mode


def test_a_global_module_hook_registered_after_tracing_is_honoured():
    model = nn.Linear(2, 1, rng=0)
    X = mg.tensor(X_XOR)
    calls = []
    with mg.no_grad():
        compiled = mg.compile(lambda: model(X))
        compiled(), compiled()
        handle = nn.register_module_forward_hook(lambda module, args, out: calls.append(module))
        try:
            with pytest.warns(UserWarning, match="hook"):
                compiled()
            compiled()
        finally:
            handle.remove()
    assert calls == [model, model]


_CLIPPINGS = {
    "clip_grad_norm_": lambda params: nn.utils.clip_grad_norm_(params, 0.05),
    "clip_grad_norm_ inf": lambda params: nn.utils.clip_grad_norm_(params, 0.01, norm_type=float("inf")),
    "clip_grad_value_": lambda params: nn.utils.clip_grad_value_(params, 0.002),
    "clip_grads_with_norm_": lambda params: nn.utils.clip_grads_with_norm_(params, 0.05, 2.0),
}


@pytest.mark.parametrize("clipping", list(_CLIPPINGS))
def test_gradient_clipping_in_a_compiled_step_replays_bit_identically(clipping):
    def step(model, opt, X, y):
        opt.zero_grad()
        loss = nn.MSELoss()(model(X), y)
        loss.backward()
        norm = _CLIPPINGS[clipping](model.parameters())  # a generator: listed once by the trace
        opt.step()
        return loss.detach(), norm

    (m1, o1), (m2, o2) = _twins(lambda: nn.MLP(2, (16,), 1, rng=0), lambda ps: optim.SGD(ps, lr=0.5, momentum=0.9))
    compiled = mg.compile(step)
    X = mg.tensor(X_XOR)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback to eager
        for _ in range(20):
            (eager_loss, eager_norm), (loss, norm) = step(m1, o1, X, Y_XOR), compiled(m2, o2, X, Y_XOR)
            assert loss.data.tobytes() == eager_loss.data.tobytes()
            if eager_norm is None:
                assert norm is None
            else:  # the norm of this call's gradients, not the traced one
                assert norm.data.tobytes() == eager_norm.data.tobytes()
    _assert_same(m1, m2)
    assert compiled.traces == 1


def test_a_total_norm_used_after_clipping_is_the_replays_own():
    model = nn.Linear(2, 1, rng=0)
    opt = optim.SGD(model.parameters(), lr=0.1)
    X = mg.tensor(X_XOR)

    @mg.compile
    def step():
        opt.zero_grad()
        nn.MSELoss()(model(X), Y_XOR).backward()
        norm = nn.utils.clip_grad_norm_(model.parameters(), 1e9)
        opt.step()
        return norm * 2

    norms = [float(step()) for _ in range(5)]
    assert len(set(norms)) == 5 and step.traces == 1


_TARGET = mg.tensor(Y_XOR)


def _loss_against_global_target(model, X):
    return nn.MSELoss()(model(X), _TARGET).detach()


def test_a_rebound_global_is_seen():
    global _TARGET
    model, X = nn.Linear(2, 1, rng=0), mg.tensor(X_XOR)
    compiled = mg.compile(_loss_against_global_target)
    first = compiled(model, X)
    saved = _TARGET
    try:
        _TARGET = mg.tensor(1 - Y_XOR)
        assert compiled(model, X).data.tobytes() == _loss_against_global_target(model, X).data.tobytes()
        assert compiled(model, X).data.tobytes() != first.data.tobytes() and compiled.traces == 2
    finally:
        _TARGET = saved


def test_a_rebound_closure_variable_is_seen():
    model, X = nn.Linear(2, 1, rng=0), mg.tensor(X_XOR)

    def predict():
        return model(X)

    with mg.no_grad():
        compiled = mg.compile(predict)
        compiled()
        model = nn.Linear(2, 1, rng=7)  # read by predict through its closure
        np.testing.assert_array_equal(compiled().data, predict().data)
    assert compiled.traces == 2


def test_a_variable_rebound_at_every_call_warns_once_and_stays_right():
    X = mg.tensor(X_XOR)
    model = nn.Linear(2, 1, rng=0)
    batch = None

    def predict():
        return model(batch)

    compiled = mg.compile(predict)
    with mg.no_grad(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(12):
            batch = X * (i + 1)  # a new tensor each call, read from the closure
            np.testing.assert_array_equal(compiled().data, predict().data)
    messages = [str(w.message) for w in caught if "traced 8 times again" in str(w.message)]
    assert len(messages) == 1 and "variable 'batch'" in messages[0] and "argument" in messages[0]


def test_a_module_read_without_being_called_is_watched_too():
    layer, X = nn.Linear(2, 1, rng=0), mg.tensor(X_XOR)

    def predict():
        return nn.functional.linear(X, layer.weight, layer.bias)  # its parameters, not its forward

    with mg.no_grad():
        compiled = mg.compile(predict)
        compiled()
        layer.weight = nn.Parameter(mg.ones(1, 2))
        np.testing.assert_array_equal(compiled().data, predict().data)
    assert compiled.traces == 2


def test_an_argument_passed_twice_at_tracing_is_not_assumed_twice_later():
    X, Y = mg.tensor(np.ones(3)), mg.tensor(np.full(3, 10.0))

    def f(a, b):
        return (a * 2 + b * 3).sum()

    compiled = mg.compile(f)
    with mg.no_grad():
        assert compiled(X, X).item() == f(X, X).item() == 15.0
        assert compiled(X, Y).item() == f(X, Y).item() == 96.0  # traced again: no longer one array
        assert compiled(Y, X).item() == f(Y, X).item() == 69.0
        assert compiled(X, X.detach()).item() == 15.0  # one array for both names: the replay is right
    assert compiled.traces == 2


def test_an_argument_that_was_a_parameters_array_at_tracing():
    p = mg.tensor(np.ones((1, 3)), requires_grad=True)

    def f(a):
        return ((a * p).sum() + a.sum()).detach()

    compiled = mg.compile(f)
    other = mg.tensor(np.full((1, 3), 10.0), requires_grad=True)  # the same signature as p
    with mg.no_grad():
        assert compiled(p).item() == f(p).item()
        assert compiled(other).item() == f(other).item() == 60.0
    assert compiled.traces == 2


@pytest.mark.parametrize("kind", ["tensor", "array", "module parameter"])
def test_an_argument_that_was_a_closure_variable_at_tracing(kind):
    X, Y = np.ones((1, 3)), np.full((1, 3), 10.0)
    layer = nn.Linear(3, 1, rng=0)
    if kind == "tensor":
        X, Y = mg.tensor(X), mg.tensor(Y)

        def f(a):
            return (a * 2 + X * 3).sum()
    elif kind == "array":
        def f(a):
            return (mg.tensor(a) * 2 + mg.tensor(X) * 3).sum()
    else:
        X, Y = layer.weight, mg.tensor(Y, requires_grad=True)

        def f(a):
            return (layer(a) + a.sum()).sum()

    compiled = mg.compile(f)
    with mg.no_grad():
        assert compiled(X).item() == f(X).item()
        assert compiled(Y).item() == f(Y).item()  # Y is not X: traced again
        assert compiled(X).item() == f(X).item()
    assert compiled.traces == 2


def test_an_argument_or_parameter_returned_is_returned_itself():
    layer = nn.Linear(2, 1, rng=0)

    def f(x):
        with mg.no_grad():
            out = layer(x)
        return out, layer.weight, x

    compiled = mg.compile(f)
    for x in (mg.tensor(X_XOR), mg.tensor(X_XOR), mg.tensor(1 - X_XOR)):
        out, weight, same = compiled(x)
        assert weight is layer.weight and weight.requires_grad and same is x  # as eager returns them
        np.testing.assert_array_equal(out.data, f(x)[0].data)
    assert compiled.traces == 1


def test_numbers_the_function_reads_are_guarded_as_torch_compile_does():
    scale, shape = 2.0, (1,)  # a tuple of numbers is held as the object itself: no trace per call
    w = mg.tensor([1.0])
    compiled = mg.compile(lambda: (w * scale).reshape(shape).detach())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compiled(), compiled()
    assert compiled.traces == 1
    scale = 3.0  # a rebound closure variable: traced anew, never the old constant
    assert compiled().item() == 3.0 and compiled.traces == 2
    assert compiled().item() == 3.0 and compiled.traces == 2
    scale = -0.0  # equal to 0.0 but not the same number
    assert compiled().item() == 0.0 and compiled.traces == 3
    scale = 3  # equal, but an int: another type
    assert compiled().item() == 3.0 and compiled.traces == 4


SCALE = 2.0
SETTINGS = {"loss": {"weight": 2.0, "kind": "sum"}}


class _Settings:
    pass


def test_global_numbers_strings_and_nested_settings_are_watched():
    global SCALE
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    config = _Settings()
    config.optim = _Settings()
    config.optim.schedule = {"factors": [1.0, 2.0]}

    @mg.compile
    def step():
        loss = (w * SCALE * SETTINGS["loss"]["weight"] * config.optim.schedule["factors"][1])
        loss = loss.sum() if SETTINGS["loss"]["kind"] == "sum" else loss.mean()
        loss.backward()
        return loss.detach()

    def eager_value():
        value = np.array([1.0, 2.0]) * SCALE * SETTINGS["loss"]["weight"] * config.optim.schedule["factors"][1]
        return value.sum() if SETTINGS["loss"]["kind"] == "sum" else value.mean()

    try:
        for change in (lambda: None, lambda: globals().update(SCALE=5.0),
                       lambda: SETTINGS["loss"].update(weight=0.5),
                       lambda: SETTINGS["loss"].update(kind="mean"),
                       lambda: config.optim.schedule["factors"].__setitem__(1, 7.0)):
            change()
            assert step().item() == eager_value()
            assert step().item() == eager_value()  # the replay too
    finally:
        SCALE = 2.0
        SETTINGS["loss"].update(weight=2.0, kind="sum")


def test_a_rebound_global_function_is_traced_anew():
    global _activation
    w = mg.tensor([-1.0, 2.0])
    _activation = mg.relu
    compiled = mg.compile(lambda: _activation(w).detach())
    np.testing.assert_array_equal(compiled().data, [0.0, 2.0])
    np.testing.assert_array_equal(compiled().data, [0.0, 2.0])
    _activation = mg.tanh
    np.testing.assert_array_equal(compiled().data, np.tanh([-1.0, 2.0]))


_activation = None


def test_a_library_objects_numbers_are_not_guarded():
    import logging

    log = logging.getLogger("microgradnp-test-compile")
    w = mg.tensor([1.0])
    compiled = mg.compile(lambda: (w * (2.0 if log.disabled is False else 3.0)).detach())
    compiled(), compiled()
    log.level = 7  # a library object's numbers change without changing what the function computes
    compiled()
    assert compiled.traces == 1


def test_a_new_parameter_group_is_updated():
    def make():
        model = nn.Linear(2, 1, rng=0)
        scale = mg.tensor([1.0], requires_grad=True)  # in the loss, not yet in the optimizer
        return model, scale, optim.SGD(model.parameters(), lr=0.1)

    def step(model, scale, opt):
        opt.zero_grad()
        scale.grad = None
        loss = ((model(X) * scale - Y_XOR) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    X = mg.tensor(X_XOR)
    (m1, s1, o1), (m2, s2, o2) = make(), make()
    compiled = mg.compile(step)
    for i in range(6):
        step(m1, s1, o1), compiled(m2, s2, o2)
        if i == 2:
            o1.add_param_group({"params": [s1], "lr": 0.5})
            o2.add_param_group({"params": [s2], "lr": 0.5})
    _assert_same(m1, m2)
    np.testing.assert_array_equal(s1.data, s2.data)
    assert s1.data[0] != 1.0 and compiled.traces == 1


def test_the_cache_is_bounded():
    seen = []
    compiled = mg.compile(lambda x: (x * 2).sum(), cache_size=2)
    for n in (1, 2, 3, 1):
        seen.append(compiled(mg.tensor(np.ones(n))).item())
    assert seen == [2.0, 4.0, 6.0, 2.0]
    assert compiled.traces == 4  # n=1 was evicted by n=3


def test_python_values_are_part_of_the_signature():
    compiled = mg.compile(lambda x, k: (x * k).sum())
    x = mg.tensor([1.0, 2.0])
    assert compiled(x, 2).item() == 6.0
    assert compiled(x, 3).item() == 9.0
    assert compiled(x, 2).item() == 6.0
    assert compiled.traces == 2


def test_shapes_dtypes_and_requires_grad_of_array_and_tensor_arguments_are_the_signature():
    def squared_error(x, y):
        loss = ((x - y) ** 2).sum()
        if x.requires_grad:  # (part of the signature: each kind of call is traced once)
            loss.backward()
        return loss

    compiled = mg.compile(squared_error)
    x = mg.tensor([1.0, 2.0])
    calls = [
        (x, np.array([0.0, 0.0])),                           # trace 1
        (x, np.array([1.0, 1.0])),                           # replay: new values, same signature
        (x, np.array([1.0, 1.0], dtype=np.float32)),         # trace 2: dtype
        (x, np.array([[1.0], [1.0]])),                       # trace 3: shape
        (mg.tensor([1.0, 2.0], requires_grad=True), np.array([1.0, 1.0])),  # trace 4: requires_grad
        (nn.Parameter(np.array([1.0, 2.0])), np.array([1.0, 1.0])),  # replay: a Parameter is such a Tensor
        (x, mg.tensor([1.0, 1.0])),                          # trace 5: a Tensor where an ndarray was
    ]
    for args in calls:
        assert compiled(*args).item() == ((args[0].data - np.asarray(getattr(args[1], "data", args[1]))) ** 2).sum()
    assert compiled.traces == 5


# -- refusals ---------------------------------------------------------------------------------
@pytest.mark.parametrize("read", [
    lambda loss, w: loss.item(),
    lambda loss, w: float(loss),
    lambda loss, w: bool(loss > 0),
    lambda loss, w: np.asarray(loss),
    lambda loss, w: w.grad,
    lambda loss, w: w.add_(1.0),
])
def test_python_code_that_reads_values_or_writes_in_place_is_refused_with_the_line(read):
    w = mg.tensor([1.0, 2.0], requires_grad=True)

    def step():
        loss = (w * w).sum()
        loss.backward()
        with mg.no_grad():
            read(loss, w)
        return loss

    with pytest.raises(mg.TraceError, match=r"test_compile\.py:\d+: lambda loss, w:.*without mg\.compile"):
        mg.compile(step)()


def test_a_returned_graph_is_refused():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(mg.TraceError, match="Call backward"):
        mg.compile(lambda: (w * 3).sum())()


def test_backward_into_a_graph_built_outside_is_refused():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    h = w * 2
    with pytest.raises(mg.TraceError, match="computed before the compiled function"):
        mg.compile(lambda: (h * 3).sum().backward())()


def test_hooks_make_the_function_run_eagerly_with_a_warning():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    w.register_hook(lambda g: g * 10)

    def step():
        w.grad = None
        (w * w).sum().backward()

    compiled = mg.compile(step)
    with pytest.warns(UserWarning, match="runs eagerly.*hook"):
        compiled()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compiled()
    np.testing.assert_array_equal(w._grad, [20.0, 40.0])


def test_a_hook_added_after_tracing_is_honoured():
    w = mg.tensor([1.0, 2.0], requires_grad=True)

    def step():
        w.grad = None
        (w * w).sum().backward()

    compiled = mg.compile(step)
    compiled()
    w.register_hook(lambda g: g * 10)
    with pytest.warns(UserWarning, match="hook"):
        compiled()
    np.testing.assert_array_equal(w._grad, [20.0, 40.0])


def test_detect_anomaly_runs_the_function_eagerly():
    w = mg.tensor([0.0], requires_grad=True)
    compiled = mg.compile(lambda: (w.log() * 1.0).sum().backward())
    with pytest.warns(RuntimeWarning):
        compiled()  # traced: -inf, no anomaly mode
    with mg.detect_anomaly(), np.errstate(divide="ignore"), pytest.raises(FloatingPointError, match="log"):
        compiled()


def test_grad_reads_work_again_after_tracing():
    w = mg.tensor([1.0], requires_grad=True)
    mg.compile(lambda: (w * 2).sum().backward())()
    assert w.grad[0] == 2.0
    assert mg.Tensor.__dict__["grad"].fget is mg.Tensor._get_grad  # the plain getter is back


def test_compiled_steps_allocate_nothing_that_stays():
    model = nn.MLP(2, (16, 16), 1, rng=0)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    X = mg.tensor(X_XOR)
    compiled = mg.compile(lambda: _step(model, opt, nn.MSELoss(), X, Y_XOR))
    for _ in range(100):
        compiled()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(10_000):
        compiled()
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert grown < 50_000


def test_replays_reuse_the_memory_of_intermediate_outputs():
    model = nn.MLP(2, (8,), 1, rng=0)
    X = mg.tensor(X_XOR)
    compiled = mg.compile(lambda: nn.MSELoss()(model(X), Y_XOR).backward())
    compiled()
    assert "_out = empty((21, 8), float64)" in compiled.code
    (replay,) = next(iter(compiled._replays.values()))
    nodes = replay.run.__self__.idle[0].__closure__
    buffers = {id(cell.cell_contents._out) for cell in nodes if hasattr(cell.cell_contents, "_out")} - {id(None)}
    assert buffers
    for _ in range(3):
        compiled()
        assert {id(cell.cell_contents._out) for cell in nodes if hasattr(cell.cell_contents, "_out")} - {
            id(None)} == buffers
        # between calls a copy keeps its buffers, not what its nodes saved for backward
        assert all(cell.cell_contents._saved == () for cell in nodes if hasattr(cell.cell_contents, "_saved"))


def test_returned_outputs_and_gradients_are_never_overwritten_by_a_later_call():
    model = nn.MLP(2, (8,), 1, rng=0)
    opt = optim.SGD(model.parameters(), lr=0.5)
    X = mg.tensor(X_XOR)

    def step():
        opt.zero_grad()
        hidden = model.act1(model.fc1(X))
        prediction = model(X)
        loss = nn.MSELoss()(prediction, Y_XOR)
        loss.backward()
        opt.step()
        hidden = hidden.detach()
        return loss, prediction, hidden, hidden.reshape(-1)

    compiled, eager = mg.compile(step), []
    results, grads = [], []
    twin = copy.deepcopy((model, opt))
    for _ in range(4):
        results.append(compiled())
        grads.append([p.grad for p in model.parameters()])
    model, opt = twin
    for i in range(4):
        eager = step()
        for got, want in zip(results[i], eager, strict=True):
            np.testing.assert_array_equal(got.data, want.data)
        for got, p in zip(grads[i], model.parameters(), strict=True):
            np.testing.assert_array_equal(got, p.grad)


def test_threads_calling_one_compiled_function_use_their_own_copies():
    import threading

    model = nn.MLP(2, (32, 32), 1, rng=0)
    compiled = mg.compile(lambda x: model(x))
    inputs = [mg.tensor(np.random.default_rng(i).standard_normal((64, 2))) for i in range(4)]
    with mg.no_grad():
        expected = [model(x).data for x in inputs]
        compiled(inputs[0])
    failures = []

    def work(i):
        with mg.no_grad():
            for _ in range(300):
                if compiled(inputs[i]).data.tobytes() != expected[i].tobytes():
                    failures.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures


# -- where it is used ---------------------------------------------------------------------------
@pytest.mark.parametrize(("optimizer", "batch_size"), [("sgd", None), ("adam", 7)])
def test_fit_compiled_and_eager_train_the_same_numbers(optimizer, batch_size):
    histories, models = [], []
    for compiled in (True, False):
        model = nn.MLP(2, (8, 8), 1, rng=0)
        opt = optim.SGD(model.parameters(), lr=2.0) if optimizer == "sgd" else optim.Adam(model.parameters(), 0.05)
        histories.append(mg.train.fit(model, X_XOR, Y_XOR, "mse", opt, epochs=300, batch_size=batch_size,
                                      stop_at_accuracy=1.0, progress=False, rng=0, compile=compiled))
        models.append(model)
    assert histories[0].loss == histories[1].loss and histories[0].accuracy == histories[1].accuracy
    assert histories[0].stop_epoch == histories[1].stop_epoch
    for p, q in zip(models[0].parameters(), models[1].parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data)


def test_fit_trains_a_model_it_cannot_trace_eagerly_and_says_why():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.Linear(2, 1, rng=0)

        def forward(self, x):
            out = self.layer(x)
            return out.sigmoid() if out.sum() > 0 else out.tanh()  # Python logic on values

    eager, compiled = Branchy(), Branchy()
    h1 = mg.train.fit(eager, X_XOR, Y_XOR, "mse", optim.SGD(eager.parameters(), lr=0.5), epochs=20,
                      progress=False, compile=False)
    with pytest.warns(UserWarning, match=r"fit: training eagerly.*bool\(t\)"):
        h2 = mg.train.fit(compiled, X_XOR, Y_XOR, "mse", optim.SGD(compiled.parameters(), lr=0.5), epochs=20,
                          progress=False)
    assert h1.loss == h2.loss


def test_cli_train_without_compile(capsys, tmp_path):
    from microgradnp.cli import main

    for flags in ([], ["--no-compile"]):
        assert main(["train", "--hidden", "4", "--epochs", "50", "--no-progress", "--out", str(tmp_path), *flags]) == 0
    runs = capsys.readouterr().out.split("final loss")
    assert len(runs) == 3 and runs[1].split(",")[0] == runs[2].split(",")[0]  # the same final loss


def test_tensors_made_inside_the_function_are_made_again_at_every_replay():
    """mg.tensor of an argument, random tensors and comparison masks follow each call."""
    mg.manual_seed(0)

    def step(batch, w):
        x = mg.tensor(batch)  # a copy of this call's array
        noisy = x + mg.randn(*x.shape) * 0.1  # fresh noise each call
        mask = noisy > 0.5  # a mask of this call's values
        loss = (mg.where(mask, noisy, 0.0) @ w).sum()
        loss.backward()
        return loss, mask

    rng = np.random.default_rng(1)
    batches = [rng.uniform(size=(5, 2)) for _ in range(6)]
    w1, w2 = mg.tensor([[1.0], [2.0]], requires_grad=True), mg.tensor([[1.0], [2.0]], requires_grad=True)
    compiled = mg.compile(step)
    eager = []
    mg.manual_seed(0)
    for batch in batches:
        eager.append(step(batch, w1))
    mg.manual_seed(0)
    for batch, (loss, mask) in zip(batches, eager):
        compiled_loss, compiled_mask = compiled(batch, w2)
        assert compiled_loss.item() == loss.item()
        np.testing.assert_array_equal(compiled_mask.data, mask.data)
    np.testing.assert_array_equal(w1.grad, w2.grad)
    assert compiled.traces == 1


def test_a_parameter_created_inside_the_function_is_refused():
    with pytest.raises(mg.TraceError, match="create parameters outside"):
        mg.compile(lambda: (mg.randn(3, requires_grad=True) * 2).sum().backward())()


def test_gradients_from_mg_grad_replay():
    w = mg.tensor([1.0, 2.0], requires_grad=True)

    def f(x):
        (g,) = mg.grad((w * w * x).sum(), w)
        return g * 2

    compiled = mg.compile(f)
    for values in ([3.0, 4.0], [5.0, -1.0], [0.5, 0.25]):
        x = mg.tensor(values)
        np.testing.assert_array_equal(compiled(x).data, f(x).data)
    assert compiled.traces == 1


def test_an_index_computed_inside_the_compiled_function_is_computed_at_every_replay():
    """``w[rows, scores.argmax(axis=1)]``: the index tuple holds an array the trace computed,
    so a replay must use this call's, not the traced one."""
    w = mg.tensor(np.random.default_rng(0).normal(size=(4, 3)), requires_grad=True)
    rows = np.arange(4)

    def step(x):
        w.grad = None
        loss = (w[rows, (x * w).argmax(axis=1)] * x.sum(axis=1)).sum()
        loss.backward()
        return loss

    compiled = mg.compile(step)
    for seed in range(1, 6):
        x = mg.tensor(np.random.default_rng(seed).normal(size=(4, 3)))
        replayed = compiled(x).item()
        replayed_grad = w.grad.copy()
        assert replayed == step(x).item()
        np.testing.assert_array_equal(replayed_grad, w.grad)


@pytest.mark.parametrize("call", ["x.long()", "x.int()", "x.short()", "x.bool()", "x.gt(0)", "x.le(0)", "x.signbit()",
                                  "x.isnan()", "x.unique()", "x.type(np.int64)", "x.long().float() * 2",
                                  "(x > 0).logical_not()", "x.argmax(1)", "x.nonzero(as_tuple=False)"])
def test_values_computed_outside_the_graph_are_computed_again_by_a_replay(call):
    # Integer casts, comparisons and queries carry no gradient, but a replay must not return
    # the values of the traced call.
    compiled = mg.compile(lambda x: eval(call))
    first = mg.tensor([[0.5, -1.5, 2.0], [3.0, -0.25, 1.0]])
    second = mg.tensor([[-2.0, 1.0, 0.5], [1.5, 4.0, -1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (a query that makes the function eager says so)
        compiled(first)
        replayed = compiled(second)
    np.testing.assert_array_equal(replayed.data, eval(call, {"x": second, "np": np}).data)


def test_a_compiled_function_returns_named_tuples_as_eager_does():
    compiled = mg.compile(lambda x: x.max(1))
    first, second = mg.tensor([[0.5, -1.5], [3.0, 1.0]]), mg.tensor([[-2.0, 1.0], [1.5, 4.0]])
    traced, replayed = compiled(first), compiled(second)
    for result, x in ((traced, first), (replayed, second)):
        expected = x.max(1)
        assert type(result) is type(expected) and result._fields == ("values", "indices")
        np.testing.assert_array_equal(result.values.data, expected.values.data)
        np.testing.assert_array_equal(result.indices.data, expected.indices.data)


# -- what a replay must not get wrong: arguments, returned objects, values, outside state --------
def test_gradients_of_an_argument_go_to_this_calls_tensor():
    compiled = mg.compile(lambda x: (x * x).sum().backward())
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    b = mg.tensor([3.0, 4.0], requires_grad=True)
    compiled(a)
    compiled(b)
    np.testing.assert_array_equal(a.grad, [2.0, 4.0])
    np.testing.assert_array_equal(b.grad, [6.0, 8.0])
    assert compiled.traces == 1


def test_requires_grad_set_inside_the_function_is_set_by_every_replay():
    def input_gradient(x):
        x.requires_grad_()
        (x * x * x).sum().backward()

    compiled = mg.compile(input_gradient)
    compiled(mg.tensor([1.0, 2.0]))
    b = mg.tensor([3.0, 4.0])
    compiled(b)
    assert b.requires_grad
    np.testing.assert_array_equal(b.grad, [27.0, 48.0])


def test_a_hook_registered_on_an_argument_after_tracing_is_honoured():
    def step(x):
        x.grad = None
        (x * x).sum().backward()

    compiled = mg.compile(step)
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    compiled(x)
    x.register_hook(lambda g: g * 10)
    with pytest.warns(UserWarning, match="hook"):
        compiled(x)
    np.testing.assert_array_equal(x.grad, [20.0, 40.0])


def test_a_users_function_with_its_own_backward_is_replayed():
    class Cube(mg.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x * x

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return 3 * x * x * grad

    w = mg.tensor([1.0, 2.0], requires_grad=True)

    def step(x):
        w.grad = None
        loss = Cube.apply(w * x).sum()
        loss.backward()
        return loss.detach()

    compiled = mg.compile(step)
    compiled(mg.tensor([1.0, 2.0]))
    replayed, replayed_grad = compiled(mg.tensor([3.0, 4.0])).item(), w.grad.copy()
    assert replayed == step(mg.tensor([3.0, 4.0])).item()
    np.testing.assert_array_equal(replayed_grad, w.grad)
    assert compiled.traces == 1


def test_an_object_holding_computed_tensors_cannot_be_returned():
    from dataclasses import dataclass

    @dataclass
    class Out:
        loss: mg.Tensor

    with pytest.raises(mg.TraceError, match="tuple or a dict"):
        mg.compile(lambda x: Out((x * x).sum()))(mg.tensor([1.0, 2.0]))


def test_dict_and_list_subclasses_are_returned_as_themselves():
    from collections import OrderedDict

    class Losses(list):
        pass

    for make in (lambda v: OrderedDict(loss=v), lambda v: Losses([v])):
        compiled = mg.compile(lambda x, make=make: make((x * x).sum()))
        for values in ([1.0, 2.0], [3.0, 4.0]):
            result = compiled(mg.tensor(values))
            assert type(result) is type(make(None))
            assert next(iter(result.values() if isinstance(result, dict) else result)).item() == sum(
                v * v for v in values)


@pytest.mark.parametrize("fn", [
    lambda x: (x[x > 0] * 2).sum(),
    lambda x: x.sum() / x[x > 1.5].numel(),
    lambda x: x[mg.nonzero(x > 0)].sum(),
    lambda x: (x.nonzero() * 1.0).sum(),
    lambda x: mg.nn.functional.one_hot((x > 0).long()).sum() * 1.0,
    lambda x: x.repeat_interleave((x > 0).long()).sum(),
])
def test_results_whose_shape_depends_on_values_are_computed_eagerly(fn):
    compiled = mg.compile(fn)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for values in ([1.0, -1.0, 2.0, 3.0], [-1.0, -1.0, 5.0, -1.0], [1.0, 2.0, -3.0, -4.0]):
            x = mg.tensor(values)
            assert compiled(x).item() == fn(x).item()


@pytest.mark.parametrize("fn", [lambda x, y: x if mg.equal(x, y) else y, lambda x, y: x if x.allclose(y) else y,
                                lambda x, y: x if mg.is_nonzero(x[0]) else y])
def test_python_bools_of_tensor_values_are_refused(fn):
    with pytest.raises(mg.TraceError, match="Python bool"):
        mg.compile(fn)(mg.tensor([1.0, 2.0]), mg.tensor([1.0, 2.0]))


def test_replacing_data_or_initialising_inside_the_function_is_refused():
    p = mg.tensor([1.0, 2.0], requires_grad=True)

    def project():
        p.data = p.clamp(0.0, 1.5).data * 2

    with pytest.raises(mg.TraceError, match=r"t\.data"):
        mg.compile(project)()
    with pytest.raises(mg.TraceError, match=r"nn\.init"):
        mg.compile(lambda: nn.init.uniform_(p))()


def test_a_lazy_module_is_set_up_by_the_traced_call_and_then_replayed():
    for lazy in (nn.LazyLinear(3), nn.LazyConv1d(2, 1)):
        compiled = mg.compile(lambda x, lazy=lazy: lazy(x).sum().detach())
        x = mg.tensor(np.ones((1, 2, 4)) if isinstance(lazy, nn.LazyConv1d) else [[1.0, 2.0]])
        assert compiled(x).item() == compiled(x).item() == lazy(x).sum().item()
        assert compiled.traces == 1


def test_an_embeddings_max_norm_and_an_averaged_model_update_at_every_call():
    from microgradnp.optim.swa_utils import AveragedModel

    X = mg.tensor([[1.0, 2.0], [3.0, -1.0]])

    def step(model, opt, averaged):
        opt.zero_grad()
        loss = model(X).pow(2).mean()
        loss.backward()
        opt.step()
        averaged.update_parameters(model)
        return loss

    def make():
        model = nn.Linear(2, 1, rng=0)
        return model, optim.SGD(model.parameters(), lr=0.1), AveragedModel(model)

    eager, twin = make(), make()
    compiled = mg.compile(step)
    for _ in range(5):
        step(*eager)
        compiled(*twin)
    assert twin[2].n_averaged.item() == eager[2].n_averaged.item() == 5
    np.testing.assert_array_equal(twin[2].module.weight.data, eager[2].module.weight.data)

    def lookup(table, index):
        return table(index).sum().detach()

    tables = []
    for _ in range(2):
        mg.manual_seed(0)
        tables.append(nn.Embedding(10, 4, max_norm=1.0))
    compiled = mg.compile(lookup)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for index in ([0, 1], [2, 3], [0, 3]):
            assert compiled(tables[1], np.array(index)).item() == lookup(tables[0], np.array(index)).item()


def test_detect_anomaly_inside_the_function_is_honoured_by_later_calls():
    w = mg.tensor([1.0, 1.0], requires_grad=True)

    def step(x):
        with mg.detect_anomaly():
            loss = (w * x).log().sum()
            loss.backward()
        return loss.detach()

    compiled = mg.compile(step)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled(mg.tensor([1.0, 2.0]))
        with np.errstate(invalid="ignore"), pytest.raises(FloatingPointError):
            compiled(mg.tensor([-1.0, 2.0]))


def test_the_default_dtype_and_the_sign_of_zero_are_part_of_the_signature():
    compiled = mg.compile(lambda: mg.tensor([1.1, 2.2]) * 3 + 1)
    compiled()
    mg.set_default_dtype(np.float32)
    try:
        assert compiled().dtype == np.float32
    finally:
        mg.set_default_dtype(np.float64)
    compiled = mg.compile(lambda x, s: 1.0 / (x * s))
    x = mg.tensor([1.0, 2.0])
    with np.errstate(divide="ignore"):
        compiled(x, 0.0)
        np.testing.assert_array_equal(compiled(x, -0.0).data, [-np.inf, -np.inf])


def test_a_scheduler_stepped_with_the_loss_inside_the_function_is_replayed():
    def make():
        model = nn.Linear(2, 1, rng=0)
        opt = optim.SGD(model.parameters(), lr=0.1)
        scheduler = optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", patience=1, factor=0.5)
        X = mg.tensor([[1.0, 2.0]])

        def step():
            loss = _step(model, opt, lambda prediction, _: prediction.pow(2).mean(), X, None)
            scheduler.step(loss)
            return loss

        return step, opt

    (step, opt), (twin_step, twin_opt) = make(), make()
    compiled = mg.compile(twin_step)
    for _ in range(6):
        assert step().item() == compiled().item()
        assert opt.param_groups[0]["lr"] == twin_opt.param_groups[0]["lr"]
    assert opt.param_groups[0]["lr"] < 0.1 and compiled.traces == 1


class _Predictor(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 1, rng=0)

    def forward(self, x):
        return self.fc(x)

    @mg.compile
    def predict(self, x):
        return self.forward(x).detach()


class _Trainer:
    def __init__(self, model):
        self.model, self.opt = model, optim.SGD(model.parameters(), lr=0.1)

    @mg.compile
    def step(self, X, y):
        self.opt.zero_grad()
        loss = ((self.model(X) - y) ** 2).mean()
        loss.backward()
        self.opt.step()
        return loss


def test_objects_passed_in_are_watched_like_variables():
    x = mg.tensor([[1.0, 2.0]])
    net = _Predictor()
    net.predict(x)
    net.fc = nn.Linear(2, 1, rng=1)  # a module argument (self) never called as a whole
    assert net.predict(x).item() == net(x).item()

    trainer = _Trainer(nn.Linear(2, 1, rng=0))
    trainer.step(x, mg.tensor([[1.0]]))
    new = nn.Linear(2, 1, rng=1)
    before = new.weight.data.copy()
    trainer.model, trainer.opt = new, optim.SGD(new.parameters(), lr=0.1)
    trainer.step(x, mg.tensor([[1.0]]))
    assert not np.array_equal(before, new.weight.data)  # the new model was trained


def test_objects_passed_in_are_keyed_by_identity_and_their_attributes_checked():
    from dataclasses import dataclass

    @dataclass
    class Batch:
        x: mg.Tensor

    w = mg.tensor([1.0, 1.0])
    compiled = mg.compile(lambda batch: (batch.x * w).sum())
    for i in range(20):  # (new objects may take a freed one's address)
        assert compiled(Batch(mg.tensor([float(i), 0.0]))).item() == i
    batch = Batch(mg.tensor([1.0, 0.0]))
    compiled(batch)
    batch.x = mg.tensor([7.0, 0.0])
    assert compiled(batch).item() == 7.0


_target = mg.tensor([1.0, 1.0])
_layers = [nn.Linear(2, 1, rng=0)]
_config = {"w": mg.tensor([1.0, 2.0])}


def _loss_of(prediction):
    return ((prediction - _target) ** 2).sum()


def test_items_of_watched_containers_and_globals_of_called_functions_are_watched():
    global _target
    x = mg.tensor([1.0, 2.0])
    compiled = mg.compile(lambda x: _loss_of(x * 2))
    compiled(x)
    saved, _target = _target, mg.tensor([10.0, 10.0])
    try:
        assert compiled(x).item() == _loss_of(x * 2).item() == 100.0
    finally:
        _target = saved
    X = mg.tensor([[1.0, 2.0]])
    compiled = mg.compile(lambda X: _layers[0](X).detach())
    compiled(X)
    _layers[0] = nn.Linear(2, 1, rng=1)
    assert compiled(X).item() == _layers[0](X).item()
    compiled = mg.compile(lambda x: (x * _config["w"]).sum())
    compiled(x)
    _config["w"] = mg.tensor([5.0, 5.0])
    assert compiled(x).item() == 15.0


def test_manual_seed_inside_the_function_reseeds_at_every_replay():
    def draw():
        mg.manual_seed(0)
        return mg.randn(3) * 1

    compiled = mg.compile(draw)
    traced, replayed = compiled().data, compiled().data
    np.testing.assert_array_equal(traced, replayed)
    np.testing.assert_array_equal(replayed, draw().data)
    assert compiled.traces == 1


def test_grad_mode_switched_off_inside_the_function_stays_off_after_a_replay():
    def half_step(x):
        mg.set_grad_enabled(False)
        return x * 2

    compiled = mg.compile(half_step)
    try:
        for _ in range(2):
            mg.set_grad_enabled(True)
            compiled(mg.tensor([1.0]))
            assert not mg.is_grad_enabled()
    finally:
        mg.set_grad_enabled(True)
    assert compiled.traces == 1


def _calls_agree(fn, *inputs):
    """``fn`` eagerly and compiled on each of ``inputs`` (argument tuples): the same values."""
    compiled = mg.compile(fn)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for arguments in inputs:
            np.testing.assert_array_equal(np.asarray(compiled(*arguments).data), np.asarray(fn(*arguments).data))
    return compiled


@pytest.mark.parametrize("fn, first, second", [
    (mg.sinc, 1.0, 0.0), (mg.nan_to_num, 1.0, np.nan), (lambda x: mg.fmax(x, -x), 1.0, -2.0),
    (lambda x: mg.copysign(mg.tensor(2.0), x), 1.0, -2.0), (mg.nansum, 1.0, np.nan),
    (lambda x: mg.nanmean(x), [1.0, np.nan, 3.0], [1.0, 2.0, 3.0]),
    (lambda x: mg.nn.utils.get_total_norm([x * 2]), [1.0, 2.0], [3.0, 4.0]),
])
def test_values_numpy_computes_for_zero_d_tensors_are_computed_again(fn, first, second):
    _calls_agree(fn, (mg.tensor(first),), (mg.tensor(second),))


def test_a_compiled_function_called_while_another_traces_is_part_of_that_trace():
    w = mg.tensor([1.0, 2.0])
    inner = mg.compile(lambda x: x * w)
    inner(mg.tensor([1.0, 1.0]))
    outer = _calls_agree(lambda x: inner(x) + 1, (mg.tensor([1.0, 1.0]),), (mg.tensor([5.0, 5.0]),))
    assert outer.traces == 1


def test_an_argument_computed_by_operations_is_not_taken_for_a_leaf():
    def step(x):
        loss = (x**2).sum()
        loss.backward()
        return loss.detach()

    compiled = mg.compile(step)
    compiled(mg.tensor([3.0, 4.0], requires_grad=True))
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(mg.TraceError, match="computed before"):
        compiled(w * 2)


def _make_helper():
    w = mg.tensor([1.0, 2.0])

    def helper(x):
        return x * w

    def set_w(value):
        nonlocal w
        w = value

    return helper, set_w


class _Config:
    w = mg.tensor([1.0, 2.0])


class _Slotted:
    __slots__ = ("w",)


_SCALE = mg.tensor([1.0, 2.0])


def _scaled(x, scale):
    return x * scale * _SCALE


class _Scaler(nn.Module):
    def __init__(self):
        super().__init__()
        self.scales = [mg.tensor([1.0, 2.0])]

    def forward(self, x):
        for scale in self.scales:
            x = x * scale * _SCALE
        return x


def test_closures_of_helpers_class_attributes_and_bound_objects_are_watched():
    global _SCALE
    one = mg.tensor([1.0, 1.0])
    helper, set_w = _make_helper()
    compiled = mg.compile(lambda x: helper(x))
    compiled(one)
    set_w(mg.tensor([10.0, 20.0]))
    np.testing.assert_array_equal(compiled(one).data, [10.0, 20.0])

    compiled = mg.compile(lambda x: x * _Config.w)
    compiled(one)
    saved, _Config.w = _Config.w, mg.tensor([3.0, 4.0])
    try:
        np.testing.assert_array_equal(compiled(one).data, [3.0, 4.0])
    finally:
        _Config.w = saved

    slotted = _Slotted()
    slotted.w = mg.tensor([1.0, 1.0])
    compiled = mg.compile(lambda x, holder: x * holder.w)
    compiled(one, slotted)
    slotted.w = mg.tensor([4.0, 4.0])
    np.testing.assert_array_equal(compiled(one, slotted).data, [4.0, 4.0])

    held = ([mg.tensor([1.0, 1.0])],)
    compiled = mg.compile(lambda x: x * held[0][0])
    compiled(one)
    held[0][0] = mg.tensor([3.0, 3.0])
    np.testing.assert_array_equal(compiled(one).data, [3.0, 3.0])

    import functools

    scaler = _Scaler()
    compiled_partial, compiled_module = mg.compile(functools.partial(_scaled, scale=3.0)), mg.compile(scaler)
    compiled_partial(one), compiled_module(one)
    saved, _SCALE = _SCALE, mg.tensor([5.0, 5.0])
    try:
        np.testing.assert_array_equal(compiled_partial(one).data, [15.0, 15.0])
        np.testing.assert_array_equal(compiled_module(one).data, [5.0, 10.0])
        scaler.scales.append(mg.tensor([2.0, 2.0]))  # a plain list a module holds
        np.testing.assert_array_equal(compiled_module(one).data, [50.0, 100.0])
    finally:
        _SCALE = saved


def test_a_compiled_bound_method_watches_its_object():
    net = _Predictor()
    compiled = mg.compile(_Predictor.predict.fn.__get__(net))  # (the plain method, bound to net)
    x = mg.tensor([[1.0, 2.0]])
    compiled(x)
    net.fc = nn.Linear(2, 1, rng=1)
    np.testing.assert_array_equal(compiled(x).data, net(x).data)


def test_zeros_of_every_float_type_slices_and_nan_arguments_have_their_own_keys():
    x = mg.tensor([1.0])
    compiled = mg.compile(lambda x, s: 1.0 / (x * s))
    with np.errstate(divide="ignore"):
        for zero in (np.float32(0.0), np.float16(0.0), 0.0):
            compiled(x, zero)
            assert compiled(x, -zero).data[0] == -np.inf
    compiled = mg.compile(lambda x, index: x[index] * 2)
    t = mg.tensor([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(compiled(t, slice(0, 2)).data, [2.0, 4.0])
    np.testing.assert_array_equal(compiled(t, slice(1, 3)).data, [4.0, 6.0])
    compiled = mg.compile(lambda x, s: x * s)
    for _ in range(3):
        compiled(t, float("nan"))
    assert compiled.traces == 1


def test_a_tensor_returned_twice_is_one_tensor_as_in_eager():
    compiled = mg.compile(lambda x: (lambda d: (d, [d]))(x * 2))
    for values in ([1.0], [2.0]):
        first, (second,) = compiled(mg.tensor(values))
        assert first is second and first.data[0] == 2 * values[0]


_INTEGERS = [np.array([[[1, 5, 2, 8]]]), np.array([[[10, 50, 90, 80]]])]


@pytest.mark.parametrize("fn, arrays", [
    (lambda x: mg.nn.functional.max_pool1d(x, 2, return_indices=True)[0] * 1.0,
     [np.array([[[1.0, 5.0, 2.0, 0.0]]]), np.array([[[7.0, 1.0, 0.0, 3.0]]])]),
    (lambda x: mg.nn.functional.max_pool1d(x, 2, return_indices=True)[1] * 1, _INTEGERS),
    (lambda x: mg.nn.functional.max_pool1d(x, 2) * 1, _INTEGERS),
    (lambda x: mg.nn.functional.avg_pool1d(x, 2) * 1, _INTEGERS),
    (lambda x: mg.nn.functional.avg_pool2d(x.reshape(1, 1, 2, 2), 2, divisor_override=3) * 1, _INTEGERS),
    (lambda x: mg.nn.functional.normalize(x, p=0, dim=0), [np.array([1.0, 0.0]), np.array([1.0, 2.0])]),
])
def test_pooling_and_norms_found_in_numpy_are_computed_again(fn, arrays):
    _calls_agree(fn, *[(mg.from_numpy(a),) for a in arrays])


def test_outputs_not_in_c_order_are_computed_as_eagerly_and_never_overwritten():
    model = nn.Sequential(nn.Conv1d(2, 3, 3, rng=1), nn.ReLU(), nn.Flatten())  # (conv's output is not C-ordered)

    @mg.compile
    def embed(x):
        with mg.no_grad():
            return model(x)

    rng = np.random.default_rng(0)
    batches = [mg.tensor(rng.normal(size=(4, 2, 6))) for _ in range(3)]
    kept = [embed(x) for x in batches]
    for result, x in zip(kept, batches, strict=True):
        np.testing.assert_array_equal(result.data, model(x).data)
    assert not np.shares_memory(kept[1].data, kept[2].data)
    x = mg.tensor(rng.normal(size=(300, 7)).astype(np.float32))
    _calls_agree(lambda x: (x.T * 1.0).sum(axis=1), (x,), (x * 2,), (x,))  # the same order of sums


def test_an_argument_in_another_memory_layout_is_traced_anew():
    rng = np.random.default_rng(1)
    c_ordered = mg.tensor(rng.normal(size=(300, 7)).astype(np.float32))
    f_ordered = mg.tensor(np.asfortranarray(rng.normal(size=(300, 7)).astype(np.float32)))
    compiled = _calls_agree(lambda x: (x * 1.0).sum(axis=1), (c_ordered,), (f_ordered,), (c_ordered,))
    assert compiled.traces == 2


# == gradients through single numbers, and backward(inputs=...) ==================================
@pytest.mark.parametrize("loss_of", [
    lambda w, s: (w * w).sum() ** 2,
    lambda w, s: (w * w).sum().sqrt(),
    lambda w, s: (w * w).sum() * s,
    lambda w, s: w.sum() / (w * w).sum(),
    lambda w, s: mg.stack([w.sum(), w.mean() ** 2]).sum(),
    lambda w, s: w[0] * w[1] + w.mean() * w[1] * s,
])
def test_gradients_through_0d_values_are_computed_at_every_replay(loss_of):
    def run(compiled):
        w = mg.tensor([1.0, 2.0], requires_grad=True)
        opt = optim.SGD([w], lr=0.01)

        def step(s):
            opt.zero_grad()
            loss = loss_of(w, s)
            loss.backward()
            opt.step()
            return loss.detach()

        step = mg.compile(step) if compiled else step
        losses = [step(mg.tensor(i + 1.0)).item() for i in range(4)]
        assert type(w.grad) is np.ndarray
        return losses, w.data.copy(), w.grad.copy()

    for eager, replayed in zip(run(False), run(True)):
        np.testing.assert_array_equal(eager, replayed)


def test_backward_with_inputs_accumulates_at_every_replay():
    def run(compiled):
        model = nn.Linear(2, 1, rng=0)
        opt = optim.SGD(model.parameters(), lr=0.1)

        def step():
            opt.zero_grad()
            loss = ((model(mg.tensor(X_XOR)) - Y_XOR) ** 2).mean()
            loss.backward(inputs=[model.bias], retain_graph=True)
            loss.backward()
            opt.step()
            return loss.detach()

        step = mg.compile(step) if compiled else step
        return [step().item() for _ in range(3)], model.weight.data.copy(), model.bias.data.copy()

    for eager, replayed in zip(run(False), run(True)):
        np.testing.assert_array_equal(eager, replayed)


def test_an_indexed_product_of_single_numbers_gives_an_array_gradient():
    w = mg.tensor([1.5, 2.0], requires_grad=True)
    (w[0] * w[1]).backward()
    assert type(w.grad) is np.ndarray
    np.testing.assert_array_equal(w.grad, [2.0, 1.5])
    optim.SGD([w], lr=0.1).step()
    np.testing.assert_allclose(w.data, [1.3, 1.85])


class _Tempered(nn.Module):
    temperature = 1.0  # a class attribute the forward reads

    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(2, 1, rng=0)
        self.settings = types.SimpleNamespace(scale=1.0, shift={"value": 0.0})

    def forward(self, x):
        return (self.layer(x) * self.settings.scale + self.settings.shift["value"]) / self.temperature


def test_a_modules_class_attributes_and_settings_objects_are_watched():
    model, x = _Tempered(), mg.tensor(np.ones((3, 2)))
    compiled = mg.compile(lambda: model(x).detach())
    changes = [lambda: None, lambda: setattr(_Tempered, "temperature", 4.0),
               lambda: setattr(model.settings, "scale", 3.0), lambda: model.settings.shift.update(value=0.5)]
    try:
        for change in changes:
            change()
            np.testing.assert_array_equal(compiled().data, model(x).data)
            np.testing.assert_array_equal(compiled().data, model(x).data)  # the replay too
    finally:
        _Tempered.temperature = 1.0


# -- NumPy code of the user's own, and states a replay keeps apart ----------------------------
def _eager_and_compiled(make):
    """(eager, compiled) steps over two identical states made by ``make() -> (state, step)``."""
    (eager_state, eager), (compiled_state, step) = make(), make()
    return (eager_state, eager), (compiled_state, mg.compile(step))


def test_a_zero_d_integer_tensor_index_is_read_at_every_call():
    # x[i] with a 0-d integer tensor takes i's value as a Python int (a view, as PyTorch):
    # a replay would keep the first call's row, so the function runs eagerly.
    def make():
        table = nn.Parameter(np.arange(6.0).reshape(3, 2))
        opt = optim.SGD([table], lr=0.1)

        def step(i):
            opt.zero_grad()
            loss = (table[i] ** 2).sum()
            loss.backward()
            opt.step()
            return loss
        return table, step

    (t1, eager), (t2, compiled) = _eager_and_compiled(make)
    with pytest.warns(UserWarning, match="0-d integer tensor as an index"):
        compiled(mg.tensor(0).long())
    eager(mg.tensor(0).long())
    for k in (2, 1, 2):
        assert compiled(mg.tensor(k).long()).item() == eager(mg.tensor(k).long()).item()
    np.testing.assert_array_equal(t1.data, t2.data)


@pytest.mark.parametrize("numpy_code", ["write", "clip", "metric"])
def test_numpy_code_on_a_tensors_array_runs_eagerly_with_the_line(numpy_code):
    def make():
        model = nn.Linear(2, 1, rng=0)
        opt = optim.SGD(model.parameters(), lr=0.5)

        def step():
            loss = _step(model, opt, nn.MSELoss(), mg.tensor(X_XOR), Y_XOR)
            if numpy_code == "write":
                model.weight.data[0, 0] = 0.0
            elif numpy_code == "clip":
                np.clip(model.weight.data, -0.05, 0.05, out=model.weight.data)
            else:
                return loss, float((np.abs(model(mg.tensor(X_XOR)).data - Y_XOR) < 0.5).mean())
            return loss, 0.0
        return model, step

    (m1, eager), (m2, compiled) = _eager_and_compiled(make)
    with pytest.warns(UserWarning, match=r"t\.data, t\.numpy\(\)\) at .*test_compile\.py"):
        compiled()
    eager()
    for _ in range(3):
        (a, a_metric), (b, b_metric) = compiled(), eager()
        assert a.item() == b.item() and a_metric == b_metric
    _assert_same(m1, m2)


def test_returning_a_tensors_array_still_replays():
    model = nn.Linear(2, 1, rng=0)
    opt = optim.SGD(model.parameters(), lr=0.5)
    compiled = mg.compile(lambda: _step(model, opt, nn.MSELoss(), mg.tensor(X_XOR), Y_XOR).data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        losses = [compiled() for _ in range(3)]
    assert compiled.traces == 1 and losses[0] > losses[1] > losses[2]


def test_a_numpy_argument_no_tensor_operation_reads_runs_eagerly():
    # y.astype(...) on an array argument is NumPy code: a replay would keep its first result.
    def make():
        model = nn.Linear(4, 3, rng=0)
        opt = optim.SGD(model.parameters(), lr=0.1)

        def step(x, y):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y.astype(np.int64))
            loss.backward()
            opt.step()
            return loss
        return model, step

    (m1, eager), (m2, compiled) = _eager_and_compiled(make)
    rng = np.random.default_rng(0)
    for i in range(3):
        x, y = rng.normal(size=(8, 4)), rng.integers(0, 3, 8).astype(float)
        if i == 0:
            with pytest.warns(UserWarning, match="2nd array argument, which no tensor operation reads"):
                a = compiled(x, y)
        else:
            a = compiled(x, y)
        assert a.item() == eager(x, y).item()
    _assert_same(m1, m2)


def test_train_and_eval_steps_called_in_turn_trace_once_each():
    def make():
        model = nn.Sequential(nn.Linear(2, 8, rng=0), nn.ReLU(), nn.Dropout(0.3, rng=np.random.default_rng(1)),
                              nn.Linear(8, 1, rng=2))
        opt = optim.SGD(model.parameters(), lr=0.1)

        def train_step():
            model.train()
            return _step(model, opt, nn.MSELoss(), mg.tensor(X_XOR), Y_XOR)

        def eval_step():
            with mg.no_grad():
                return nn.MSELoss()(model(mg.tensor(X_XOR)), Y_XOR)
        return model, (train_step, eval_step)

    (m1, (train1, eval1)), (m2, (train2, eval2)) = make(), make()
    train2, eval2 = mg.compile(train2), mg.compile(eval2)
    for _ in range(6):
        assert train1().item() == train2().item()
        m1.eval()
        m2.eval()
        assert eval1().item() == eval2().item()
        m1.train()
        m2.train()
        assert eval1().item() == eval2().item()  # (in train mode: the dropout of that call)
    assert train2.traces == 1 and eval2.traces == 2
    _assert_same(m1, m2)


def test_a_step_that_freezes_a_module_and_unfreezes_it_traces_once():
    # A GAN's generator step: D.requires_grad_(False) ... D.requires_grad_(True).
    def make():
        g, d = nn.Linear(2, 2, rng=0), nn.Linear(2, 1, rng=1)
        opt = optim.Adam(g.parameters(), lr=0.01)
        z = mg.tensor(np.random.default_rng(0).normal(size=(16, 2)))

        def generator_step():
            d.requires_grad_(False)
            opt.zero_grad()
            loss = -d(g(z)).mean()
            loss.backward()
            opt.step()
            d.requires_grad_(True)
            return loss
        return (g, d), generator_step

    ((g1, d1), eager), ((g2, d2), compiled) = _eager_and_compiled(make)
    for _ in range(5):
        assert eager().item() == compiled().item()
    assert compiled.traces == 1
    _assert_same(g1, g2)
    _assert_same(d1, d2)
    assert all(p.requires_grad and p.grad is None for p in d2.parameters())


@pytest.mark.parametrize("momentum", [0.1, None])
def test_batch_norm_in_training_replays_its_running_statistics(momentum):
    def make():
        model = nn.Sequential(nn.Linear(3, 8, rng=0), nn.BatchNorm1d(8, momentum=momentum), nn.ReLU())
        return model, optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    (m1, o1), (m2, o2) = make(), make()
    compiled = mg.compile(lambda x: _step(m2, o2, lambda out, _: (out ** 2).mean(), x, None))
    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (no fallback to eager)
        for i in range(6):
            if i == 4:
                m1.eval(), m2.eval()
            x = mg.tensor(rng.normal(size=(16, 3)))
            eager_loss = _step(m1, o1, lambda out, _: (out ** 2).mean(), x, None)
            assert eager_loss.item() == compiled(x).item()
    assert compiled.traces == 2
    for (name, a), b in zip(m1.state_dict().items(), m2.state_dict().values(), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=name)
    assert int(m2[1].num_batches_tracked.data) == 4


def test_a_function_traced_again_and_again_says_why():
    w = mg.tensor([1.0, 2.0])
    compiled = mg.compile(lambda beta: (w * beta).sum())
    with pytest.warns(UserWarning, match="traced 32 times.*0-d tensors"):
        for i in range(40):
            compiled(i / 100)
    assert compiled.traces == 40


def test_replays_of_one_signature_count_against_the_cache_size():
    model = nn.Sequential(nn.Linear(2, 4, rng=0), nn.Dropout(0.5))
    compiled = mg.compile(lambda: model(mg.tensor(X_XOR)).sum(), cache_size=2)
    with mg.no_grad():
        for training in (True, False, True, False):
            model.train(training)
            compiled()
        assert compiled.traces == 2
        compiled(), model.eval()
        extra = mg.compile(lambda: None)  # (unrelated: the bound is per compiled function)
        assert extra() is None
        assert sum(map(len, compiled._replays.values())) == 2


_calls = 0


def _counting_step(w):
    global _calls
    _calls += 1
    with mg.no_grad():
        return w * 0.5 ** _calls


def test_a_function_that_assigns_a_global_or_nonlocal_runs_eagerly():
    global _calls
    _calls = 0
    w = mg.tensor([1.0])
    compiled = mg.compile(_counting_step)
    with pytest.warns(UserWarning, match="assignment to global '_calls' in _counting_step"):
        compiled(w)
    assert [compiled(w).item() for _ in range(3)] == [0.25, 0.125, 0.0625]

    count = 0

    def counting(x):
        nonlocal count
        count += 1
        return x * count

    compiled = mg.compile(counting)
    with pytest.warns(UserWarning, match="nonlocal 'count'"):
        compiled(w)
    assert [compiled(w).item() for _ in range(2)] == [2.0, 3.0]


class _CountingTrainer:
    def __init__(self):
        self.model = nn.Linear(2, 1, rng=0)
        self.opt = optim.SGD(self.model.parameters(), lr=0.1)
        self.steps = 0

    def step(self, x):
        self.steps += 1  # an attribute assigned in the function: a replay would not count
        return _step(self.model, self.opt, lambda out, _: (out ** 2).mean() * self.steps, x, None)


def test_an_attribute_assigned_in_the_function_runs_it_eagerly():
    eager, trainer = _CountingTrainer(), _CountingTrainer()
    compiled = mg.compile(trainer.step)
    x = mg.tensor(X_XOR)
    with pytest.warns(UserWarning, match="assignment to attribute 'steps' in step"):
        compiled(x)
    eager.step(x)
    for _ in range(3):
        assert compiled(x).item() == eager.step(x).item()
    assert trainer.steps == eager.steps == 4


class _ScaledSquare(mg.Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale  # (a Function's forward runs again at each replay: no need to run eagerly)
        ctx.save_for_backward(x)
        return scale * x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 2 * ctx.scale * x * grad, None


def test_assignments_in_code_a_replay_runs_again_and_in_the_calls_own_frames_replay():
    w = mg.tensor([1.0, -2.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.1)

    @mg.compile
    def step():
        opt.zero_grad()
        h = w
        squares = [(h := _ScaledSquare.apply(h, 0.5)) for _ in range(2)]  # (a walrus in a comprehension)
        loss = squares[-1].sum()
        loss.backward()
        opt.step()
        return loss

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        losses = [step().item() for _ in range(3)]
    assert step.traces == 1 and step._eager_reason is None
    assert losses[0] == 0.5 * (0.5 * 1.0) ** 2 + 0.5 * (0.5 * 4.0) ** 2


def test_printed_or_formatted_values_and_predict_run_eagerly():
    model = nn.Linear(2, 1, rng=0)
    opt = optim.SGD(model.parameters(), lr=0.5)
    x = mg.tensor(X_XOR)

    def step(show):
        loss = _step(model, opt, nn.MSELoss(), x, Y_XOR)
        return loss, show(loss)

    for show, match in ((lambda loss: f"{loss:.6f}", "formatted"), (str, "printed"),
                        (lambda loss: mg.train.predict(model, x).sum(), r"t\.data"),
                        (lambda loss: loss.numpy() * 2, r"t\.numpy\(\)")):
        compiled = mg.compile(step)
        with pytest.warns(UserWarning, match=match):
            compiled(show)
        texts = [compiled(show)[1] for _ in range(2)]
        assert texts[0] != texts[1]


def test_returning_t_numpy_replays_like_t_data():
    model = nn.Linear(2, 1, rng=0)
    opt = optim.SGD(model.parameters(), lr=0.5)
    compiled = mg.compile(lambda: _step(model, opt, nn.MSELoss(), mg.tensor(X_XOR), Y_XOR).numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        losses = [float(compiled()) for _ in range(3)]
    assert compiled.traces == 1 and losses[0] > losses[1] > losses[2]


def test_assignments_are_seen_under_another_profiler():
    import cProfile

    global _calls
    _calls = 0
    compiled = mg.compile(_counting_step)
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        with pytest.warns(UserWarning, match="assignment to global '_calls'"):
            compiled(mg.tensor([1.0]))
    finally:
        profiler.disable()
    assert compiled(mg.tensor([1.0])).item() == 0.25


def test_a_replay_checks_each_variable_once():
    # The step's closure variables were checked twice (the function is also one of the
    # helpers the trace ran) and a namedtuple's generated __new__ counted as user code.
    X, y = mg.tensor(X_XOR), mg.tensor(Y_XOR)
    w = mg.tensor(np.ones((2, 1)), requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    Pair = collections.namedtuple("Pair", "loss out")

    @mg.compile
    def step():
        out = X @ w
        loss = ((out - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return Pair(loss, out)

    step()
    assert step.code.count("raise _Retrace(\"variable 'X'\")") == 1
    assert "_tuple_new" not in step.code
    first = w.data.copy()
    assert isinstance(step(), Pair) and step.traces == 1 and not np.array_equal(w.data, first)


def test_a_function_replays_again_once_a_tensor_hook_is_removed():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    compiled = mg.compile(lambda: setattr(w, "grad", None) or (w**3).sum().backward())
    compiled()
    handle = w.register_hook(lambda g: g * 10)
    with pytest.warns(UserWarning, match="runs eagerly while the hooks stay registered"):
        compiled()
    np.testing.assert_array_equal(w.grad, [30.0, 120.0])
    compiled()  # eager still: the hook is honoured at every call
    np.testing.assert_array_equal(w.grad, [30.0, 120.0])
    handle.remove()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compiled()
    np.testing.assert_array_equal(w.grad, [3.0, 12.0])
    assert compiled.traces == 2 and compiled._eager_reason is None  # the first replay serves again


def test_a_function_replays_again_once_a_module_hook_is_removed():
    model = nn.Linear(2, 1, rng=0)
    X = mg.tensor(X_XOR)
    calls = []
    compiled = mg.compile(lambda: model(X).sum().detach())
    compiled()
    handle = model.register_forward_hook(lambda module, args, out: calls.append(1))
    with pytest.warns(UserWarning, match="while the hooks stay registered"):
        compiled()
    compiled()
    assert calls == [1, 1]
    handle.remove()
    for _ in range(2):
        assert compiled().item() == model(X).sum().item()
    assert calls == [1, 1] and compiled._eager_reason is None


def test_a_hook_registered_inside_the_function_keeps_it_eager():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    seen = []

    def step():
        w.grad = None
        h = w * w
        h.register_hook(lambda g: seen.append(1) or g)
        h.sum().backward()

    compiled = mg.compile(step)
    with pytest.warns(UserWarning, match="from now on"):
        compiled()
    compiled(), compiled()
    assert seen == [1, 1, 1] and compiled.traces == 1


_NUMPY_DRAWS = {  # name -> (the generator the function reads, its draw)
    "np.random": (None, lambda rng: np.random.randn(5, 1)),
    "Generator": (np.random.default_rng(0), lambda rng: rng.normal(size=(5, 1))),
    "RandomState": (np.random.RandomState(0), lambda rng: rng.standard_normal((5, 1))),
    "random": (None, lambda rng: np.full((5, 1), __import__("random").random())),
}


@pytest.mark.parametrize("draw", list(_NUMPY_DRAWS))
def test_numpy_or_python_random_draws_make_the_function_eager(draw):
    # A tensor made from NumPy's random numbers would be a constant of the replay: the same
    # "noise" at every call, silently.
    rng, draws = _NUMPY_DRAWS[draw]
    w = mg.tensor(np.ones((3, 1)), requires_grad=True)
    X = mg.tensor(np.arange(15.0).reshape(5, 3))

    def noisy():
        return (X @ w + mg.tensor(draws(rng))).sum().detach()

    compiled = mg.compile(noisy)
    with mg.no_grad(), pytest.warns(UserWarning, match="random numbers drawn with NumPy"):
        first = compiled().item()
    with mg.no_grad():
        assert compiled().item() != first


def test_mg_random_draws_replay_fresh_and_unused_generators_do_not_matter():
    rng = np.random.default_rng(0)  # read by the function, never drawn from
    w = mg.tensor(np.ones((3, 1)), requires_grad=True)
    X = mg.tensor(np.arange(15.0).reshape(5, 3))
    compiled = mg.compile(lambda: (X @ w + mg.randn(5, 1) * (rng is not None)).sum().detach())
    with mg.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("error")
        values = {compiled().item() for _ in range(3)}
    assert len(values) == 3 and compiled.traces == 1
