"""LambdaLR, MultiStepLR, ReduceLROnPlateau, OneCycleLR, LinearLR, ConstantLR, PolynomialLR,
MultiplicativeLR and CosineAnnealingWarmRestarts: step by step against PyTorch's
schedulers (learning rates and cycled momenta to 1e-12), state_dict round trips, bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import optim
from microgradnp.optim import lr_scheduler

BASE_LRS = (0.1, 0.5)


def two_groups(cls=optim.SGD, **options):
    a, b = mg.tensor([0.0], requires_grad=True), mg.tensor([0.0], requires_grad=True)
    return cls([{"params": [a], "lr": BASE_LRS[0]}, {"params": [b], "lr": BASE_LRS[1]}], **options)


def torch_two_groups(torch, cls_name="SGD", **options):
    return getattr(torch.optim, cls_name)(
        [{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in BASE_LRS], **options)


def halve_then_linear(epoch):
    return 0.5**epoch if epoch < 4 else 1.0 / (epoch + 1)


CASES = [
    ("LambdaLR", dict(lr_lambda=halve_then_linear), 12),
    ("LambdaLR", dict(lr_lambda=[halve_then_linear, lambda epoch: 0.9**epoch]), 12),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 9], gamma=0.3), 14),
    ("OneCycleLR", dict(max_lr=1.0, total_steps=20), 20),
    ("OneCycleLR", dict(max_lr=[1.0, 0.2], epochs=3, steps_per_epoch=7, pct_start=0.25, anneal_strategy="linear",
                        div_factor=10.0, final_div_factor=100.0), 21),
    ("OneCycleLR", dict(max_lr=0.3, total_steps=17, three_phase=True, base_momentum=[0.8, 0.7]), 17),
    ("OneCycleLR", dict(max_lr=0.3, total_steps=9, cycle_momentum=False), 9),
    ("LinearLR", dict(), 9),
    ("LinearLR", dict(start_factor=0.2, end_factor=0.7, total_iters=6), 10),
    ("ConstantLR", dict(factor=0.5, total_iters=4), 8),
    ("PolynomialLR", dict(total_iters=6, power=2.0), 9),
    ("MultiplicativeLR", dict(lr_lambda=[lambda epoch: 0.9, lambda epoch: 1 / (epoch + 1)]), 8),
    ("CosineAnnealingWarmRestarts", dict(T_0=3, T_mult=2, eta_min=0.01), 25),
    ("CosineAnnealingWarmRestarts", dict(T_0=4), 13),
]
CASE_IDS = [f"{name}-{i}" for i, (name, _, _) in enumerate(CASES)]


def momenta(opt):
    return [group["betas"][0] if "betas" in group else group.get("momentum") for group in opt.param_groups]


@pytest.mark.parametrize(("name", "kwargs", "steps"), CASES, ids=CASE_IDS)
@pytest.mark.parametrize("opt_name", ["SGD", "Adam"])
def test_scheduler_matches_pytorch_step_by_step(name, kwargs, steps, opt_name):
    torch = pytest.importorskip("torch")
    options = dict(momentum=0.9) if opt_name == "SGD" else {}
    opt = two_groups(getattr(optim, opt_name), **options)
    reference_opt = torch_two_groups(torch, opt_name, **options)
    scheduler = getattr(lr_scheduler, name)(opt, **kwargs)
    reference = getattr(torch.optim.lr_scheduler, name)(reference_opt, **kwargs)
    for step in range(steps):
        np.testing.assert_allclose(scheduler.get_last_lr(), reference.get_last_lr(), rtol=1e-12, atol=0,
                                   err_msg=f"{step=}")
        assert [g["lr"] for g in opt.param_groups] == scheduler.get_last_lr()
        np.testing.assert_allclose(momenta(opt), momenta(reference_opt), rtol=1e-12, atol=0, err_msg=f"{step=}")
        assert scheduler.last_epoch == reference.last_epoch == step
        opt.step()
        reference_opt.step()
        scheduler.step()
        reference.step()


def test_multistep_lr_carries_a_hand_changed_rate_as_pytorch():
    torch = pytest.importorskip("torch")
    opt, reference_opt = two_groups(), torch_two_groups(torch)
    scheduler = lr_scheduler.MultiStepLR(opt, [3, 6])
    reference = torch.optim.lr_scheduler.MultiStepLR(reference_opt, [3, 6])
    for step in range(9):
        if step == 4:
            opt.param_groups[0]["lr"] = reference_opt.param_groups[0]["lr"] = 0.7
        np.testing.assert_allclose(scheduler.get_last_lr(), reference.get_last_lr(), rtol=1e-12, atol=0)
        reference_opt.step()
        scheduler.step()
        reference.step()


PLATEAU_CASES = [
    dict(),
    dict(patience=1, factor=0.5),
    dict(mode="max", patience=0, factor=0.5, threshold=0.05),
    dict(patience=1, threshold_mode="abs", threshold=0.2, cooldown=2, factor=0.5),
    dict(mode="max", threshold_mode="abs", patience=0, factor=0.2, min_lr=[0.01, 0.05]),
    dict(patience=0, factor=0.5, min_lr=0.03, eps=1e-3),
]


@pytest.mark.parametrize("kwargs", PLATEAU_CASES, ids=[str(i) for i in range(len(PLATEAU_CASES))])
def test_reduce_lr_on_plateau_matches_pytorch(kwargs):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    # Noisy plateaus with occasional improvements, and exact ties with the best.
    metrics = [*np.round(1.0 + 0.1 * rng.standard_normal(40), 1), 0.5, 0.5, 0.5, *np.linspace(2, 0, 20)]
    opt, reference_opt = two_groups(), torch_two_groups(torch)
    scheduler = lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    reference = torch.optim.lr_scheduler.ReduceLROnPlateau(reference_opt, **kwargs)
    reductions = 0
    for step, metric in enumerate(metrics):
        before = scheduler.get_last_lr()
        scheduler.step(mg.tensor(metric) if step % 2 else metric)
        reference.step(metric)
        reductions += scheduler.get_last_lr() != before
        np.testing.assert_allclose(scheduler.get_last_lr(), reference.get_last_lr(), rtol=1e-12, atol=0,
                                   err_msg=f"{step=}")
        assert [g["lr"] for g in opt.param_groups] == scheduler.get_last_lr()
        assert (scheduler.num_bad_epochs, scheduler.cooldown_counter, scheduler.last_epoch) == (
            reference.num_bad_epochs, reference.cooldown_counter, reference.last_epoch)
        assert scheduler.best == reference.best
    assert reductions > 0


def test_reduce_lr_on_plateau_closed_form():
    opt = two_groups()
    scheduler = lr_scheduler.ReduceLROnPlateau(opt, patience=2, factor=0.5)
    for metric, expected in [(1.0, 0.1), (1.0, 0.1), (1.0, 0.1), (1.0, 0.05), (0.5, 0.05), (0.6, 0.05)]:
        scheduler.step(metric)
        assert scheduler.get_last_lr()[0] == pytest.approx(expected)


ROUND_TRIP = [
    (lambda opt: lr_scheduler.LambdaLR(opt, halve_then_linear), None),
    (lambda opt: lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=3), None),
    (lambda opt: lr_scheduler.MultiStepLR(opt, [2, 7, 9], gamma=0.5), None),
    (lambda opt: lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=20, three_phase=True), None),
    (lambda opt: lr_scheduler.ReduceLROnPlateau(opt, patience=1, factor=0.5, cooldown=1),
     [3.0, 2.0, 2.5, 2.5, 2.5, 1.0, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 0.1, 1.0]),
]


@pytest.mark.parametrize(("make", "metrics"), ROUND_TRIP,
                         ids=["LambdaLR", "WarmRestarts", "MultiStepLR", "OneCycleLR", "Plateau"])
def test_state_dict_round_trip_continues_identically(make, metrics):
    metrics = metrics or [None] * 14
    opt = two_groups(momentum=0.9)
    scheduler = make(opt)

    def step(s, i):
        s.step() if metrics[i] is None else s.step(metrics[i])

    for i in range(6):
        step(scheduler, i)
    saved_opt, saved = opt.state_dict(), json.loads(json.dumps(scheduler.state_dict()))
    fresh_opt = two_groups(momentum=0.9)
    fresh_opt.load_state_dict(saved_opt)
    fresh = make(fresh_opt)
    fresh.load_state_dict(saved)
    assert fresh.last_epoch == scheduler.last_epoch == 6
    assert fresh.get_last_lr() == scheduler.get_last_lr()
    for i in range(6, 14):
        step(scheduler, i)
        step(fresh, i)
        assert fresh.get_last_lr() == scheduler.get_last_lr()
        assert momenta(fresh_opt) == momenta(opt)


def test_one_cycle_peaks_at_max_lr_and_ends_at_min_lr():
    opt = two_groups(momentum=0.9)
    scheduler = lr_scheduler.OneCycleLR(opt, max_lr=2.0, total_steps=10, pct_start=0.5, anneal_strategy="linear")
    lrs, moms = [], []
    for step in range(10):
        lrs.append(scheduler.get_last_lr()[0])
        moms.append(momenta(opt)[0])
        if step < 9:
            scheduler.step()
    assert lrs[0] == pytest.approx(2.0 / 25) and max(lrs) == pytest.approx(2.0)
    assert lrs[-1] == pytest.approx(2.0 / 25 / 1e4)
    assert moms[0] == pytest.approx(0.95) and min(moms) == pytest.approx(0.85)
    assert int(np.argmax(lrs)) == int(np.argmin(moms))
    assert int(np.argmax(lrs)) == 4
    scheduler.step()  # step 10 == total_steps is still allowed, as in PyTorch
    with pytest.raises(ValueError, match="past total_steps=10"):
        scheduler.step()


@pytest.mark.parametrize(("make", "message"), [
    (lambda opt: lr_scheduler.LambdaLR(opt, 0.5), "lr_lambda must be a function of the epoch"),
    (lambda opt: lr_scheduler.LambdaLR(opt, [math.exp]), r"one lr_lambda per parameter group \(2\), got 1"),
    (lambda opt: lr_scheduler.MultiStepLR(opt, [1, -2]), "milestones must be epochs"),
    (lambda opt: lr_scheduler.MultiStepLR(opt, [1], gamma=0), "gamma must be a number > 0"),
    (lambda opt: lr_scheduler.ReduceLROnPlateau(opt, mode="lowest"), "mode must be 'min'"),
    (lambda opt: lr_scheduler.ReduceLROnPlateau(opt, threshold_mode="pct"), "threshold_mode must be 'rel' or 'abs'"),
    (lambda opt: lr_scheduler.ReduceLROnPlateau(opt, factor=1.0), r"factor must be in \[0, 1\)"),
    (lambda opt: lr_scheduler.ReduceLROnPlateau(opt, patience=-1), "patience must be an integer >= 0"),
    (lambda opt: lr_scheduler.ReduceLROnPlateau(opt, min_lr=[0.1]), "one min_lr per parameter group"),
    (lambda opt: lr_scheduler.ReduceLROnPlateau("sgd"), "expected an optimizer"),
    (lambda opt: lr_scheduler.LinearLR(opt, start_factor=0), r"start_factor must be in \(0, 1\]"),
    (lambda opt: lr_scheduler.ConstantLR(opt, factor=1.5), r"factor must be in \(0, 1\]"),
    (lambda opt: lr_scheduler.PolynomialLR(opt, total_iters=0), "total_iters must be a positive integer"),
    (lambda opt: lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=0), "T_mult must be a positive"),
    (lambda opt: lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2).step(-1), "epoch must be a number >= 0"),
    (lambda opt: lr_scheduler.OneCycleLR(opt, max_lr=1.0), "give the cycle's length as total_steps"),
    (lambda opt: lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=0), "total_steps must be a positive integer"),
    (lambda opt: lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=5, pct_start=1.5), r"pct_start must be in"),
    (lambda opt: lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=5, anneal_strategy="exp"), "'cos' or 'linear'"),
    (lambda opt: lr_scheduler.OneCycleLR(opt, max_lr=[1.0], total_steps=5), "one max_lr per parameter group"),
    (lambda opt: lr_scheduler.OneCycleLR(optim.Adagrad(opt.param_groups[0]["params"]), max_lr=1.0, total_steps=5),
     "cycle_momentum=True needs an optimizer with momentum"),
])
def test_bad_input_raises_one_clear_error(make, message):
    with pytest.raises((TypeError, ValueError), match=message):
        make(two_groups())


def test_warm_restarts_fractional_epochs_match_pytorch():
    torch = pytest.importorskip("torch")
    opt, reference_opt = two_groups(), torch_two_groups(torch)
    scheduler = lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2, eta_min=0.001)
    reference = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(reference_opt, T_0=3, T_mult=2, eta_min=0.001)
    for epoch in np.arange(0.0, 25.0, 0.3):
        scheduler.step(epoch)
        reference.step(epoch)
        np.testing.assert_allclose(scheduler.get_last_lr(), reference.get_last_lr(), rtol=1e-12)
        assert scheduler.last_epoch == reference.last_epoch


def test_warm_restarts_restart_at_the_initial_rate():
    opt = two_groups()
    scheduler = lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2)
    rates = [scheduler.get_last_lr()[0]]
    for _ in range(7):
        scheduler.step()
        rates.append(scheduler.get_last_lr()[0])
    # periods of 2, then 4 epochs: restarts at epochs 2 and 6
    assert rates[0] == rates[2] == rates[6] == BASE_LRS[0]
    assert rates[1] == pytest.approx(BASE_LRS[0] / 2) and rates[4] == pytest.approx(BASE_LRS[0] / 2)
