"""mg.compile against eager execution, bit for bit: optimizers and schedulers made inside
the compiled function (each eager call starts a fresh one, so a replay must not keep stepping
the traced one), custom optimizers and schedulers with their own step() (replayed as the
built-in ones are), and every optimizer's state with clipping and a schedule."""

import copy
import warnings

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import nn, optim

F = nn.functional
RNG = np.random.default_rng(0)
X = mg.tensor(RNG.normal(size=(10, 4)))
Y = mg.tensor(RNG.normal(size=(10, 2)))


def _model():
    return nn.Sequential(nn.Linear(4, 8, rng=0), nn.Tanh(), nn.Linear(8, 2, rng=1))


def _assert_bit_identical(eager_model, compiled_model):
    for p, q in zip(eager_model.parameters(), compiled_model.parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data)
        np.testing.assert_array_equal(p.grad, q.grad)


def _compare(step, make_optimizer=None, steps=6, prepare=None):
    """Run ``step`` eagerly on one model and compiled on its twin; every call must give the
    same bits. Returns the compiled function and the warnings it gave."""
    m1 = _model()
    m2 = copy.deepcopy(m1)
    extra1 = extra2 = ()
    if make_optimizer is not None:
        o1, o2 = make_optimizer(m1.parameters()), make_optimizer(m2.parameters())
        if prepare is not None:
            prepare(o1)
            prepare(o2)
        extra1, extra2 = (o1,), (o2,)
    compiled = mg.compile(step)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(steps):
            eager = step(m1, *extra1, X, Y)
            replayed = compiled(m2, *extra2, X, Y)
            assert eager.data.tobytes() == replayed.data.tobytes(), f"call {i}"
            _assert_bit_identical(m1, m2)
            if make_optimizer is not None:
                assert extra1[0].param_groups[0]["lr"] == extra2[0].param_groups[0]["lr"], f"call {i}"
    return compiled, [str(w.message) for w in caught]


@pytest.mark.parametrize("make", [
    lambda ps: optim.Adam(ps, lr=0.01),
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
    lambda ps: optim.RMSprop(ps, lr=0.01, centered=True),
])
def test_an_optimizer_made_inside_the_function_starts_fresh_at_every_call(make):
    # Eager: a new optimizer (empty state, step count 0) at every call. A replay used to
    # step the optimizer made while tracing again, its moments and step count growing.
    def step(model, X, y):
        opt = make(model.parameters())
        opt.zero_grad()
        loss = F.mse_loss(model(X), y)
        loss.backward()
        opt.step()
        return loss.detach()

    _, messages = _compare(step)
    assert any("made inside the function" in m and "outside the compiled function" in m for m in messages)


@pytest.mark.parametrize("make", [
    lambda o: optim.lr_scheduler.StepLR(o, 1, 0.5),
    lambda o: optim.lr_scheduler.LambdaLR(o, lambda epoch: 0.5 ** epoch),
    # (the loss falls: a fresh "max" scheduler never sees a bad epoch, the traced one at every replay)
    lambda o: optim.lr_scheduler.ReduceLROnPlateau(o, mode="max", patience=0, factor=0.5),
])
def test_a_scheduler_made_inside_the_function_is_made_again_at_every_call(make):
    # The optimizer already has its "initial_lr" (from a scheduler made before), so making
    # the scheduler changes no option: a replay used to step the traced scheduler again.
    def step(model, opt, X, y):
        scheduler = make(opt)
        opt.zero_grad()
        loss = F.mse_loss(model(X), y)
        loss.backward()
        opt.step()
        if isinstance(scheduler, optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(loss)
        else:
            scheduler.step()
        return loss.detach()

    def prepare(opt):
        opt.param_groups[0]["initial_lr"] = opt.param_groups[0]["lr"]

    _compare(step, lambda ps: optim.SGD(ps, lr=0.1), prepare=prepare)


def test_optimizers_and_schedulers_made_outside_still_replay():
    schedulers = {}

    def make(ps):
        opt = optim.Adam(ps, lr=0.01)
        schedulers[id(opt)] = optim.lr_scheduler.ExponentialLR(opt, 0.9)
        return opt

    compiled, messages = _compare(_step_with_scheduler(schedulers), make, steps=8)
    assert compiled.traces == 1 and not messages


class _TorchStyleSGD(optim.Optimizer):
    """A custom optimizer written as PyTorch's tutorials write them: its own step() reads
    p.grad and writes p.data, and counts its steps in self."""

    def __init__(self, params, lr=0.1, momentum=0.9):
        super().__init__(params, {"lr": lr, "momentum": momentum})
        self.steps = 0

    @mg.no_grad()
    def step(self, closure=None):
        self.steps += 1
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "buf" not in state:
                    state["buf"] = p.grad.copy()
                else:
                    state["buf"] *= group["momentum"]
                    state["buf"] += p.grad
                p.data -= group["lr"] * state["buf"]


class _Lookahead(optim.Optimizer):
    """Lookahead (Zhang et al., 2019) around another optimizer, with its own step() and
    zero_grad(): every k steps the weights move part of the way back to slow weights."""

    def __init__(self, base, k=3, alpha=0.5):
        self.base, self.k, self.alpha, self.steps = base, k, alpha, 0
        super().__init__([p for group in base.param_groups for p in group["params"]], {"lr": base.defaults["lr"]})
        self.slow = {p: p.data.copy() for p in self.param_groups[0]["params"]}

    def zero_grad(self, set_to_none=True):
        self.base.zero_grad(set_to_none)

    def step(self, closure=None):
        self.base.step()
        self.steps += 1
        if self.steps % self.k == 0:
            for p, slow in self.slow.items():
                slow += self.alpha * (p.data - slow)
                p.data[...] = slow


class _CountingStepLR(optim.lr_scheduler.StepLR):
    def __init__(self, *args, **kwargs):
        self.calls = 0
        super().__init__(*args, **kwargs)

    def step(self, epoch=None):
        self.calls += 1
        super().step(epoch)


@pytest.mark.parametrize("make", [_TorchStyleSGD, lambda ps: _Lookahead(optim.Adam(ps, lr=0.01))])
def test_a_custom_optimizers_own_step_is_replayed_as_the_built_in_ones(make):
    # Its step() used to be traced into: reading p.grad raised TraceError, and counting
    # steps in self made the function run eagerly.
    compiled, messages = _compare(_step_with_scheduler(None), make, steps=8)
    assert compiled.traces == 1 and not messages


def test_a_custom_schedulers_own_step_is_replayed_as_the_built_in_ones():
    # Its step() (self.calls += 1, then the StepLR's) used to make the function run eagerly.
    schedulers = {}

    def make(ps):
        opt = optim.SGD(ps, lr=0.1)
        schedulers[id(opt)] = _CountingStepLR(opt, 2, 0.5)
        return opt

    compiled, messages = _compare(_step_with_scheduler(schedulers), make, steps=8)
    assert compiled.traces == 1 and not messages
    assert [s.calls for s in schedulers.values()] == [1 + 8, 1 + 8]  # (its first step at construction)


def _step_with_scheduler(schedulers):
    def step(model, opt, X, y):
        opt.zero_grad()
        loss = F.mse_loss(model(X), y)
        loss.backward()
        opt.step()
        if schedulers is not None:
            schedulers[id(opt)].step()
        return loss.detach()

    return step


def _assert_same_state(eager, compiled):
    """Two optimizer state_dicts hold the same bits (arrays) and the same numbers."""
    assert eager.keys() == compiled.keys()
    for key, value in eager.items():
        if isinstance(value, dict):
            _assert_same_state(value, compiled[key])
        elif isinstance(value, np.ndarray):
            assert value.dtype == compiled[key].dtype and value.tobytes() == compiled[key].tobytes(), key
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for a, b in zip(value, compiled[key], strict=True):
                _assert_same_state(a, b)
        else:
            assert value == compiled[key], key


@pytest.mark.parametrize("make_optimizer", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.5, dampening=0.1, weight_decay=0.01, maximize=True),
    lambda ps: optim.AdamW(ps, lr=0.01, amsgrad=True),
    lambda ps: optim.ASGD(ps, lr=0.01, t0=3),
    lambda ps: optim.Rprop(ps, lr=0.01),
    lambda ps: optim.Adafactor(ps, lr=0.01, weight_decay=0.01),
    lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True, maximize=True),
])
def test_every_optimizers_state_replays_bit_identically_with_clipping_and_a_schedule(make_optimizer):
    # Mini-batches of two sizes (two replays), batch norm and dropout drawing from their
    # own generators, gradient clipping and a scheduler stepping inside the function.
    def make_model():
        return nn.Sequential(nn.Linear(4, 8, rng=0), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.3, rng=5),
                             nn.Linear(8, 2, rng=1))

    def step(model, opt, scheduler, X, y):
        opt.zero_grad()
        loss = F.mse_loss(model(X), y)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        opt.step()
        scheduler.step()
        return loss.detach()

    rng = np.random.default_rng(1)
    batches = [(mg.tensor(rng.normal(size=(n, 4))), mg.tensor(rng.normal(size=(n, 2)))) for n in (8, 3)]
    twins = []
    for _ in range(2):  # (made alike rather than deep-copied: each dropout keeps its own generator)
        model = make_model()
        opt = make_optimizer(model.parameters())
        twins.append((model, opt, optim.lr_scheduler.StepLR(opt, 3, 0.5)))
    compiled = mg.compile(step)
    for i in range(12):
        X, y = batches[i % 2]
        eager = step(*twins[0], X, y)
        replayed = compiled(*twins[1], X, y)
        assert eager.data.tobytes() == replayed.data.tobytes(), f"call {i}"
    _assert_bit_identical(twins[0][0], twins[1][0])
    for (name, a), (_, b) in zip(twins[0][0].named_buffers(), twins[1][0].named_buffers(), strict=True):
        np.testing.assert_array_equal(a.data if hasattr(a, "data") else a, b.data if hasattr(b, "data") else b, name)
    _assert_same_state(twins[0][1].state_dict(), twins[1][1].state_dict())
    assert compiled.traces == 2
