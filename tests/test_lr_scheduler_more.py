"""lr_scheduler.CyclicLR, SequentialLR and ChainedScheduler: learning rates (and momenta)
against PyTorch's (optional oracle) over 50 steps, checkpoints, get_last_lr and the errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from test_optim import as_json

import microgradnp as mg
from microgradnp import optim
from microgradnp.optim import lr_scheduler

STEPS = 50


def optimizer(lib, kind="sgd"):
    """Two parameter groups of ``lib``'s (mg or torch) SGD with momentum, or Adam."""
    if lib is mg:
        params = [mg.tensor(np.ones(2), requires_grad=True), mg.tensor(np.ones(3), requires_grad=True)]
        module = optim
    else:
        params = [lib.ones(2, requires_grad=True), lib.ones(3, requires_grad=True)]
        module = lib.optim
    groups = [{"params": params[:1]}, {"params": params[1:], "lr": 0.05}]
    if kind == "adam":
        return module.Adam(groups, lr=0.01, betas=(0.9, 0.99))
    return module.SGD(groups, lr=0.1, momentum=0.9)


class Halving:
    """A scale_fn that is a callable object: its attributes are saved with the scheduler."""

    def __init__(self, base):
        self.base = base

    def __call__(self, x):
        return self.base ** (x - 1)


def cyclic(kind, **options):
    return kind, lambda s, opt: s.CyclicLR(opt, **options)


CYCLIC = [
    cyclic("sgd", base_lr=0.01, max_lr=0.1, step_size_up=4),
    cyclic("sgd", base_lr=[0.01, 0.02], max_lr=[0.1, 0.3], step_size_up=3, step_size_down=7, mode="triangular2"),
    cyclic("sgd", base_lr=0.01, max_lr=0.1, step_size_up=5, mode="exp_range", gamma=0.97,
           base_momentum=[0.7, 0.75], max_momentum=[0.95, 0.9]),
    cyclic("sgd", base_lr=0.001, max_lr=0.01, step_size_up=6, scale_fn=lambda x: 1 / (1 + x) ** 0.5,
           scale_mode="iterations"),
    cyclic("sgd", base_lr=0.001, max_lr=0.01, step_size_up=6, scale_fn=lambda x: 0.5 ** x, mode="unused"),
    cyclic("sgd", base_lr=0.01, max_lr=0.1, step_size_up=2.5, step_size_down=4, cycle_momentum=False),
    cyclic("adam", base_lr=1e-4, max_lr=1e-3, step_size_up=5, base_momentum=0.85, max_momentum=0.95),
]


def sequential(milestones, *makers):
    return "sgd", lambda s, opt: s.SequentialLR(opt, [make(s, opt) for make in makers], milestones=milestones)


def chained(*makers, pass_optimizer=False):
    return "sgd", lambda s, opt: s.ChainedScheduler([make(s, opt) for make in makers],
                                                    optimizer=opt if pass_optimizer else None)


COMPOSED = [
    sequential([5], lambda s, o: s.LinearLR(o, start_factor=0.1, total_iters=5),
               lambda s, o: s.CosineAnnealingLR(o, T_max=30, eta_min=0.001)),
    sequential([4, 20], lambda s, o: s.ConstantLR(o, factor=0.5, total_iters=10),
               lambda s, o: s.ExponentialLR(o, gamma=0.9), lambda s, o: s.StepLR(o, step_size=7, gamma=0.5)),
    sequential([3, 3, 12], lambda s, o: s.LambdaLR(o, lambda e: 1 / (e + 1)),
               lambda s, o: s.MultiplicativeLR(o, lambda e: 0.95), lambda s, o: s.MultiStepLR(o, [0, 4, 9], 0.5),
               lambda s, o: s.PolynomialLR(o, total_iters=20, power=2.0)),
    sequential([0, 10], lambda s, o: s.ExponentialLR(o, gamma=0.5), lambda s, o: s.LinearLR(o, total_iters=4),
               lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=6, T_mult=2)),
    sequential([6], lambda s, o: s.ChainedScheduler([s.ConstantLR(o, factor=0.2, total_iters=3),
                                                     s.ExponentialLR(o, gamma=0.95)]),
               lambda s, o: s.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=4)),
    chained(lambda s, o: s.ConstantLR(o, factor=0.1, total_iters=2), lambda s, o: s.ExponentialLR(o, gamma=0.9)),
    chained(lambda s, o: s.LinearLR(o, start_factor=0.5, total_iters=8), lambda s, o: s.StepLR(o, 5, 0.7),
            lambda s, o: s.MultiStepLR(o, [10, 20, 20]), pass_optimizer=True),
    chained(lambda s, o: s.CosineAnnealingLR(o, T_max=10), lambda s, o: s.CyclicLR(o, 0.01, 0.1, step_size_up=3)),
]
CASES = CYCLIC + COMPOSED
IDS = [f"cyclic{i}" for i in range(len(CYCLIC))] + [f"composed{i}" for i in range(len(COMPOSED))]


def momenta(opt):
    return [group["betas"][0] if "betas" in group else group["momentum"] for group in opt.param_groups]


def trace(lib, schedulers, kind, make, steps=STEPS):
    """The learning rates and momenta of every group at construction and after each step."""
    opt = optimizer(lib, kind)
    scheduler = make(schedulers, opt)
    rows = [(scheduler.get_last_lr(), [g["lr"] for g in opt.param_groups], momenta(opt))]
    for _ in range(steps):
        opt.step()
        scheduler.step()
        rows.append((scheduler.get_last_lr(), [g["lr"] for g in opt.param_groups], momenta(opt)))
    return rows, scheduler, opt


@pytest.mark.parametrize(("kind", "make"), CASES, ids=IDS)
def test_matches_pytorch_over_50_steps(torch, kind, make):
    import warnings

    ours, _, _ = trace(mg, lr_scheduler, kind, make)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's warnings about the order of step() calls
        theirs, _, _ = trace(torch, torch.optim.lr_scheduler, kind, make)
    for step, (mine, reference) in enumerate(zip(ours, theirs)):
        for a, b in zip(mine, reference):
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=0, err_msg=f"step {step}")


def test_cyclic_triangular_by_hand():
    opt = optimizer(mg)
    scheduler = lr_scheduler.CyclicLR(opt, base_lr=0.0, max_lr=1.0, step_size_up=2, step_size_down=4,
                                      base_momentum=0.8, max_momentum=0.9)
    lrs, moms = [], []
    for _ in range(8):
        lrs.append(scheduler.get_last_lr()[0])
        moms.append(opt.param_groups[0]["momentum"])
        scheduler.step()
    np.testing.assert_allclose(lrs, [0, 0.5, 1, 0.75, 0.5, 0.25, 0, 0.5], atol=1e-15)
    np.testing.assert_allclose(moms, [0.9 - 0.1 * lr for lr in lrs], atol=1e-15)
    assert opt.param_groups[0]["max_momentum"] == 0.9 and opt.param_groups[0]["base_momentum"] == 0.8


def test_cyclic_triangular2_halves_the_amplitude_each_cycle():
    scheduler = lr_scheduler.CyclicLR(optimizer(mg), base_lr=0.0, max_lr=1.0, step_size_up=1, mode="triangular2")
    peaks = []
    for step in range(1, 8):
        scheduler.step()
        if step % 2:
            peaks.append(scheduler.get_last_lr()[0])
    assert peaks == [1.0, 0.5, 0.25, 0.125]


def test_sequential_switches_at_milestones_from_base_lrs():
    opt = optimizer(mg)
    warmup = lr_scheduler.LinearLR(opt, start_factor=0.5, total_iters=2)
    decay = lr_scheduler.ExponentialLR(opt, gamma=0.5)
    scheduler = lr_scheduler.SequentialLR(opt, [warmup, decay], milestones=[3])
    lrs = [scheduler.get_last_lr()[0]]
    for _ in range(5):
        scheduler.step()
        lrs.append(scheduler.get_last_lr()[0])
    np.testing.assert_allclose(lrs, [0.05, 0.075, 0.1, 0.1, 0.05, 0.025])
    assert scheduler.last_epoch == 5 and decay.last_epoch == 2


def test_chained_multiplies_the_factors():
    opt = optimizer(mg)
    scheduler = lr_scheduler.ChainedScheduler([lr_scheduler.ConstantLR(opt, factor=0.5, total_iters=2),
                                               lr_scheduler.ExponentialLR(opt, gamma=0.9)])
    lrs = [scheduler.get_last_lr()[0]]
    for _ in range(3):
        scheduler.step()
        lrs.append(scheduler.get_last_lr()[0])
    np.testing.assert_allclose(lrs, [0.05, 0.045, 0.081, 0.0729])
    assert scheduler.get_last_lr() == [g["lr"] for g in opt.param_groups]
    assert scheduler.get_last_lr() is not scheduler.get_last_lr()  # a copy each time


@pytest.mark.parametrize("via_json", [False, True], ids=["dict", "json"])
@pytest.mark.parametrize(("kind", "make"), CASES, ids=IDS)
def test_state_dict_round_trip_continues_identically(kind, make, via_json):
    if via_json and kind == "sgd" and make is CYCLIC[3][1]:
        pytest.skip("the custom scale_fn is a function: not saved, given again on construction")
    opt = optimizer(mg, kind)
    scheduler = make(lr_scheduler, opt)
    for _ in range(17):
        opt.step()
        scheduler.step()
    saved_opt, saved = opt.state_dict(), scheduler.state_dict()
    if via_json:
        saved = as_json(saved)
    fresh_opt = optimizer(mg, kind)
    fresh = make(lr_scheduler, fresh_opt)
    fresh_opt.load_state_dict(saved_opt)
    fresh.load_state_dict(saved)
    assert fresh.get_last_lr() == scheduler.get_last_lr()
    for _ in range(20):
        scheduler.step()
        fresh.step()
        assert fresh.get_last_lr() == scheduler.get_last_lr()
        assert momenta(fresh_opt) == momenta(opt)


def test_cyclic_state_dict_keeps_a_callable_objects_settings_only():
    opt = optimizer(mg)
    scheduler = lr_scheduler.CyclicLR(opt, 0.01, 0.1, step_size_up=2, scale_fn=Halving(0.5))
    state = scheduler.state_dict()
    assert state["_scale_fn_custom"] == {"base": 0.5}
    assert json.loads(json.dumps(state)) == state
    other = lr_scheduler.CyclicLR(optimizer(mg), 0.01, 0.1, step_size_up=2, scale_fn=Halving(0.9))
    other.load_state_dict(state)
    assert other._scale_fn_custom.base == 0.5 and callable(other._scale_fn_custom)
    plain = lr_scheduler.CyclicLR(optimizer(mg), 0.01, 0.1, scale_fn=lambda x: 1.0).state_dict()
    assert plain["_scale_fn_custom"] is None


def test_cyclic_modes_fix_the_scale_mode():
    opt = optimizer(mg)
    assert lr_scheduler.CyclicLR(opt, 0.01, 0.1, mode="exp_range", scale_mode="cycle").scale_mode == "iterations"
    assert lr_scheduler.CyclicLR(opt, 0.01, 0.1, mode="triangular2",
                                 scale_mode="iterations").scale_mode == "cycle"
    assert lr_scheduler.CyclicLR(opt, 0.01, 0.1, scale_fn=math.exp, scale_mode="iterations").scale_mode == "iterations"


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda o: lr_scheduler.CyclicLR(o, 0.01, 0.1, mode="sawtooth"), ValueError,
     "mode must be 'triangular', 'triangular2' or 'exp_range' \\(or give scale_fn\\), got 'sawtooth'"),
    (lambda o: lr_scheduler.CyclicLR(o, 0.01, 0.1, scale_mode="epochs"), ValueError,
     "scale_mode must be 'cycle' or 'iterations'"),
    (lambda o: lr_scheduler.CyclicLR(o, 0.01, 0.1, step_size_up=0), ValueError, "step_size_up must be a number"),
    (lambda o: lr_scheduler.CyclicLR(o, 0.01, 0.1, step_size_down=-2), ValueError, "step_size_down must be"),
    (lambda o: lr_scheduler.CyclicLR(o, [0.01], 0.1), ValueError, "one base_lr per parameter group \\(2\\), got 1"),
    (lambda o: lr_scheduler.CyclicLR(o, 0.01, -0.1), ValueError, "max_lr must be >= 0"),
    (lambda o: lr_scheduler.CyclicLR(o, 0.01, 0.1, max_momentum=[0.9, 0.9, 0.9]), ValueError,
     "one max_momentum per parameter group"),
    (lambda o: lr_scheduler.CyclicLR(o, 0.01, 0.1, gamma=0), ValueError, "gamma must be a number > 0"),
    (lambda o: lr_scheduler.CyclicLR(o, 0.01, 0.1, scale_fn=3), TypeError, "scale_fn must be a function"),
    (lambda o: lr_scheduler.CyclicLR("sgd", 0.01, 0.1), TypeError, "expected an optimizer"),
    (lambda o: lr_scheduler.CyclicLR(optim.Adagrad([mg.tensor([1.0], requires_grad=True)]), 0.01, 0.1), ValueError,
     "cycle_momentum=True needs an optimizer with momentum .* pass cycle_momentum=False"),
    (lambda o: lr_scheduler.SequentialLR(o, [], milestones=[]), ValueError, "expects at least one scheduler"),
    (lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.StepLR(o, 2)], milestones=[3]), ValueError,
     "one milestone fewer than schedulers, but got 1 scheduler\\(s\\) and 1 milestone\\(s\\)"),
    (lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.StepLR(o, 2)] * 3, milestones=[5, 2]), ValueError,
     "milestones must be in increasing order"),
    (lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.StepLR(o, 2)] * 2, milestones=[1.5]), ValueError,
     "milestones must be epochs"),
    (lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.StepLR(optimizer(mg), 2)], milestones=[]), ValueError,
     "all schedulers to belong to the same optimizer"),
    (lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.ReduceLROnPlateau(o)], milestones=[]), ValueError,
     "does not support ReduceLROnPlateau"),
    (lambda o: lr_scheduler.SequentialLR(o, lr_scheduler.StepLR(o, 2), milestones=[]), TypeError,
     "schedulers must be a list of schedulers"),
    (lambda o: lr_scheduler.ChainedScheduler([]), ValueError, "expects at least one scheduler"),
    (lambda o: lr_scheduler.ChainedScheduler([lr_scheduler.StepLR(o, 2), "StepLR"]), TypeError,
     "index 1 is a str, not a learning-rate scheduler"),
    (lambda o: lr_scheduler.ChainedScheduler([lr_scheduler.StepLR(o, 2)], optimizer=optimizer(mg)), ValueError,
     "all schedulers to belong to the same optimizer"),
    (lambda o: lr_scheduler.ChainedScheduler([lr_scheduler.StepLR(o, 2)]).load_state_dict({"_schedulers": []}),
     ValueError, "must hold 1 scheduler state"),
])
def test_errors(call, error, message):
    with pytest.raises(error, match=message):
        call(optimizer(mg))


@pytest.mark.parametrize("name, options", [("StepLR", dict(step_size=2, gamma=0.5)), ("ExponentialLR", dict(gamma=0.9)),
                                           ("CosineAnnealingLR", dict(T_max=10)),
                                           ("MultiStepLR", dict(milestones=[2, 5])), ("LinearLR", {}),
                                           ("PolynomialLR", {}), ("LambdaLR", dict(lr_lambda=lambda e: 1 / (e + 1)))])
def test_step_to_an_epoch_is_deprecated_and_jumps_as_pytorchs(name, options):
    torch = pytest.importorskip("torch")
    rates = []
    for lib in (mg, torch):
        p = lib.zeros(2, requires_grad=True)
        opt = lib.optim.SGD([p], lr=1.0)
        scheduler = getattr(lib.optim.lr_scheduler, name)(opt, **options)
        seen = []
        for epoch in (1, 2, 5, 3, 7):
            opt.step()
            with pytest.warns(UserWarning, match="epoch parameter"):
                scheduler.step(epoch)
            seen.append(scheduler.get_last_lr()[0])
        scheduler.step()
        seen.append(scheduler.get_last_lr()[0])
        rates.append(seen)
    np.testing.assert_allclose(rates[0], rates[1], rtol=1e-12)
