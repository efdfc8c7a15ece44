"""mg.compile: a fourth probe's findings (generators made inside the function, methods
replaced on an instance, arrays handed to replayed calls, copies of dropout layers, the
global generator shared by layers and constructors, unused array arguments)."""

import copy
import pickle
import types
import warnings

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import nn, optim

F = nn.functional


def _replays_cleanly(compiled) -> bool:
    return compiled._eager_reason is None and compiled.traces == 1


# -- a generator made inside the function -----------------------------------------------------
@pytest.mark.parametrize("make", ["a dropout layer", "a dropout layer in a Sequential", "an RReLU layer"])
def test_a_generator_the_library_makes_from_a_seed_inside_the_function_is_made_anew_at_every_replay(make):
    layers = {"a dropout layer": lambda: nn.Dropout(0.5, rng=0),
              "a dropout layer in a Sequential": lambda: nn.Sequential(nn.ReLU(), nn.Dropout(0.5, rng=0)),
              "an RReLU layer": lambda: nn.RReLU(rng=0)}
    x = mg.tensor(np.arange(-8.0, 8.0).reshape(2, 8))

    def step(x):
        return layers[make]()(x) * 2  # (eager: a fresh, identically seeded generator at every call)

    compiled = mg.compile(step)
    with mg.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(4):
            assert np.array_equal(compiled(x).data, step(x).data)
    assert _replays_cleanly(compiled)


@pytest.mark.parametrize("draw", ["F.dropout", "mg.randn"])
def test_a_numpy_generator_made_inside_the_function_makes_it_run_eagerly(draw):
    draws = {"F.dropout": lambda x: F.dropout(x, 0.5, rng=np.random.default_rng(0)),
             "mg.randn": lambda x: x + mg.randn(2, 8, rng=np.random.default_rng(1))}
    x = mg.ones(2, 8)
    compiled = mg.compile(draws[draw])
    with mg.no_grad(), pytest.warns(UserWarning, match="NumPy generator made inside the function"):
        compiled(x)
    with mg.no_grad():
        for _ in range(3):
            assert np.array_equal(compiled(x).data, draws[draw](x).data)


# -- a method replaced on the instance after tracing ----------------------------------------------
def _clipping_step(self, closure=None):  # a wrapper as a gradient clipper installs it
    nn.utils.clip_grad_norm_(self.param_groups[0]["params"], 0.01)
    return type(self).step(self, closure)


def _keeping_grads(self, set_to_none=True):  # gradient accumulation: zero_grad made a no-op
    return None


def _stepping_twice(self, epoch=None):  # a scheduler's step replaced: the decay comes twice as fast
    type(self).step(self, epoch)
    return type(self).step(self, epoch)


@pytest.mark.parametrize(("owner", "name", "replacement"), [("optimizer", "step", _clipping_step),
                                                            ("optimizer", "zero_grad", _keeping_grads),
                                                            ("scheduler", "step", _stepping_twice)])
def test_a_method_assigned_on_the_instance_after_tracing_is_what_replays_call(owner, name, replacement):
    X = mg.tensor(np.random.default_rng(0).normal(size=(10, 4)))
    y = mg.tensor(np.random.default_rng(1).normal(size=(10, 2)))
    m1 = nn.Linear(4, 2, rng=0)
    m2 = copy.deepcopy(m1)
    o1, o2 = optim.SGD(m1.parameters(), lr=0.1), optim.SGD(m2.parameters(), lr=0.1)
    s1, s2 = optim.lr_scheduler.StepLR(o1, 1, gamma=0.5), optim.lr_scheduler.StepLR(o2, 1, gamma=0.5)

    def step(m, o, s):
        o.zero_grad()
        loss = F.mse_loss(m(X), y)
        loss.backward()
        o.step()
        s.step()
        return loss.detach()

    compiled = mg.compile(step)
    for i in range(5):
        if i == 2:
            for target in ((o1, o2) if owner == "optimizer" else (s1, s2)):
                setattr(target, name, types.MethodType(replacement, target))
        assert step(m1, o1, s1).item() == compiled(m2, o2, s2).item()
        assert np.array_equal(m1.weight.data, m2.weight.data) and np.array_equal(m1.bias.data, m2.bias.data)
        assert o1.param_groups[0]["lr"] == o2.param_groups[0]["lr"]
    assert compiled.traces == 2 and compiled._eager_reason is None


# -- a computed tensor handed to a replayed call -------------------------------------------------
class _KeepingStepLR(optim.lr_scheduler.StepLR):
    def __init__(self, *args, **kwargs):
        self.kept = []
        super().__init__(*args, **kwargs)

    def step(self, epoch=None, extra=None):
        if extra is not None:
            self.kept.append(extra)
        super().step(epoch)


def test_a_tensor_handed_to_a_replayed_call_is_not_overwritten_by_later_replays():
    rng = np.random.default_rng(0)

    def step(m, o, s, X, y):
        o.zero_grad()
        h = m(X)
        loss = F.mse_loss(h, y)
        loss.backward()
        o.step()
        s.step(None, (h * 2).detach())  # (2-D: an output a replay could write into a reused buffer)
        return loss.detach()

    m1 = nn.Linear(4, 2, rng=0)
    m2 = copy.deepcopy(m1)
    o1, o2 = optim.SGD(m1.parameters(), lr=0.1), optim.SGD(m2.parameters(), lr=0.1)
    s1, s2 = _KeepingStepLR(o1, 2), _KeepingStepLR(o2, 2)
    compiled = mg.compile(step)
    for _ in range(4):
        X, y = mg.tensor(rng.normal(size=(3, 4))), mg.tensor(rng.normal(size=(3, 2)))
        step(m1, o1, s1, X, y)
        compiled(m2, o2, s2, X, y)
    assert _replays_cleanly(compiled)
    assert all(np.array_equal(a.data, b.data) for a, b in zip(s1.kept, s2.kept, strict=True))


# -- copies of a dropout layer drawing from the global generator ------------------------------------
_RANDOM_LAYERS = {
    "Dropout": (lambda **kw: nn.Dropout(0.5, **kw), (2, 8)),
    "Dropout1d": (lambda **kw: nn.Dropout1d(0.5, **kw), (2, 6, 3)),
    "AlphaDropout": (lambda **kw: nn.AlphaDropout(0.5, **kw), (2, 8)),
    "RReLU": (lambda **kw: nn.RReLU(**kw), (2, 8)),
}


@pytest.mark.parametrize("layer", list(_RANDOM_LAYERS))
@pytest.mark.parametrize("copied", ["deepcopy", "pickle"])
def test_a_copy_of_a_random_layer_draws_from_the_global_generator_as_pytorchs(layer, copied):
    make, shape = _RANDOM_LAYERS[layer]
    x = mg.tensor(np.linspace(-1.0, 1.0, int(np.prod(shape))).reshape(shape))
    mg.manual_seed(12345)  # (the global generator in a state of its own when the copy is made)
    original = make()
    twin = copy.deepcopy(original) if copied == "deepcopy" else pickle.loads(pickle.dumps(original))
    outputs = []
    for module in (original, twin):
        mg.manual_seed(0)  # (seeds every layer that draws from the global generator, copies too)
        outputs.append(module(x).data)
    assert np.array_equal(*outputs)
    own = make(rng=3)  # a layer's own generator is copied with it: the copy draws the same, apart
    own_twin = copy.deepcopy(own) if copied == "deepcopy" else pickle.loads(pickle.dumps(own))
    assert own_twin.rng is not own.rng and np.array_equal(own(x).data, own_twin(x).data)


# -- layers and constructors drawing from the global generator in one step ---------------------------
@pytest.mark.parametrize("layer_rng", ["rng=None", "the global generator given"])
@pytest.mark.parametrize("other", ["mg.randn", "F.dropout"])
def test_global_generator_draws_of_layers_and_constructors_replay_bit_identically(layer_rng, other):
    drop = nn.Dropout(0.5) if layer_rng == "rng=None" else nn.Dropout(0.5, rng=mg.manual_seed(0))
    model = nn.Sequential(nn.Linear(4, 8, rng=0), drop)
    X = mg.tensor(np.ones((3, 4)))

    def step(X):
        h = model(X)
        return h + mg.randn(3, 8) if other == "mg.randn" else F.dropout(h, 0.2)

    compiled = mg.compile(step)
    with mg.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("error")
        for seed in (0, 1, 1, 2):
            mg.manual_seed(seed)
            eager = step(X).data
            mg.manual_seed(seed)
            assert np.array_equal(compiled(X).data, eager)
            mg.manual_seed(seed)
            results = [compiled(X).data, compiled(X).data]  # (in order: the second draws on)
            mg.manual_seed(seed)
            assert np.array_equal(results[0], step(X).data) and np.array_equal(results[1], step(X).data)
    assert _replays_cleanly(compiled)


# -- an array argument the function never reads -------------------------------------------------------
def test_an_array_argument_the_function_never_reads_replays():
    m1 = nn.Linear(3, 1, rng=0)
    m2 = copy.deepcopy(m1)
    o1, o2 = optim.SGD(m1.parameters(), lr=0.1), optim.SGD(m2.parameters(), lr=0.1)
    rng = np.random.default_rng(0)

    def step(m, o, X, y, sample_weight):  # sample_weight: not used (yet)
        o.zero_grad()
        loss = F.mse_loss(m(mg.tensor(X)), mg.tensor(y))
        loss.backward()
        o.step()
        return loss.detach()

    compiled = mg.compile(step)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(4):
            X, y = rng.normal(size=(4, 3)), rng.normal(size=(4, 1))
            assert step(m1, o1, X, y, np.ones(4)).item() == compiled(m2, o2, X, y, np.ones(4)).item()
    assert _replays_cleanly(compiled) and np.array_equal(m1.weight.data, m2.weight.data)


@pytest.mark.parametrize("make", [
    lambda: nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.5),
    lambda: nn.GRU(8, 4, num_layers=2, dropout=0.5),
    lambda: nn.MultiheadAttention(8, 2, dropout=0.5),
], ids=["transformer-layer", "gru", "attention"])
def test_copies_of_attention_and_recurrent_layers_draw_from_the_global_generator(make):
    import copy
    import pickle

    x = mg.ones((3, 2, 8))
    model = make()
    outputs = []
    for module in (model, copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        mg.manual_seed(0)
        out = module(x, x, x) if isinstance(module, nn.MultiheadAttention) else module(x)
        outputs.append((out[0] if isinstance(out, tuple) else out).data)
    np.testing.assert_array_equal(outputs[0], outputs[1])
    np.testing.assert_array_equal(outputs[0], outputs[2])


def test_another_threads_draws_from_pythons_global_generator_are_none_of_the_trace():
    # (Dask's event loop draws from Python's random while a worker traces a training step)
    import random
    import threading
    import time
    import warnings

    stop = threading.Event()

    def draw():
        while not stop.is_set():
            random.random()
            time.sleep(0)

    w = mg.tensor([1.0, 2.0])
    drawing = threading.Thread(target=draw, daemon=True)
    drawing.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # (no "runs eagerly" warning)
            step = mg.compile(lambda: (w * 3).sum())
            for _ in range(3):
                step()
        assert step.traces == 1
        own = mg.compile(lambda: w * random.random())  # this thread's own draw still runs it eagerly
        with pytest.warns(UserWarning, match="Python's random module"):
            own()
    finally:
        stop.set()
        drawing.join()
