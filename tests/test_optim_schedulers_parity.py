"""Parity of the optimizers and learning-rate schedulers with PyTorch where a probe found them apart."""

import numpy as np
import pytest

import microgradnp as mg
from microgradnp.optim import lr_scheduler as mg_sched


def _sgd(lib, groups=1, momentum=0.9):
    params = [{"params": [lib.zeros(1, requires_grad=True)], "lr": 0.1 * (i + 1)} for i in range(groups)]
    return lib.optim.SGD(params, lr=0.1, momentum=momentum)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize(("T_0", "T_mult"), [(1, 3), (1, 10), (2, 3), (3, 2)])
def test_warm_restarts_at_a_restart_epoch_restarts(T_0, T_mult):
    # step(epoch) must land where as many plain step() calls land: at the first epoch of a
    # period the rate is back at initial_lr. (PyTorch's log() rounds below the period
    # number at some of these epochs, e.g. 121 for T_0=1, T_mult=3, and gives eta_min.)
    walked = _sgd(mg, groups=2)
    walker = mg_sched.CosineAnnealingWarmRestarts(walked, T_0, T_mult, eta_min=0.01)
    for epoch in range(1, 250):
        walked.step()
        walker.step()
        jumped = _sgd(mg, groups=2)
        jumper = mg_sched.CosineAnnealingWarmRestarts(jumped, T_0, T_mult, eta_min=0.01)
        jumped.step()
        jumper.step(epoch)
        assert jumper.T_i == walker.T_i
        assert jumper.T_cur == walker.T_cur
        assert jumper.get_last_lr() == pytest.approx(walker.get_last_lr(), rel=1e-12)
    # between two restarts a fractional epoch falls in the period that started before it
    jumper.step(120.5 if (T_0, T_mult) == (1, 3) else 0.5)
    assert 0 < jumper.T_cur < jumper.T_i


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_cyclic_lr_with_no_falling_half_is_a_sawtooth_as_torch():
    torch = pytest.importorskip("torch")
    runs = []
    for lib in (torch, mg):
        optimizer = _sgd(lib, groups=2)
        scheduler = lib.optim.lr_scheduler.CyclicLR(optimizer, 0.01, 0.1, step_size_up=3, step_size_down=0,
                                                    mode="triangular2")
        seen = []
        for _ in range(12):
            optimizer.step()
            scheduler.step()
            seen += [value for group in optimizer.param_groups for value in (group["lr"], group["momentum"])]
        runs.append(seen)
    assert runs[1] == pytest.approx(runs[0], rel=1e-12)
    with pytest.raises(ValueError, match="step_size_down"):
        mg_sched.CyclicLR(_sgd(mg), 0.01, 0.1, step_size_down=-1)
    with pytest.raises(ValueError, match="step_size_up"):
        mg_sched.CyclicLR(_sgd(mg), 0.01, 0.1, step_size_up=0)


def _torch_state(state):
    """A PyTorch state dict with its tensors as NumPy arrays (what reaches microgradnp)."""
    torch = pytest.importorskip("torch")
    if isinstance(state, torch.Tensor):
        return state.detach().numpy().copy()
    if isinstance(state, dict):
        return {key: _torch_state(value) for key, value in state.items()}
    if isinstance(state, list):
        return [_torch_state(value) for value in state]
    return state


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("make", [
    lambda S, o: S.StepLR(o, 4, 0.5),
    lambda S, o: S.MultiStepLR(o, [3, 5, 5, 16], 0.5),
    lambda S, o: S.CosineAnnealingWarmRestarts(o, 3, 2),
    lambda S, o: S.CyclicLR(o, 0.01, 0.1, step_size_up=3, mode="exp_range", gamma=0.9),
    lambda S, o: S.OneCycleLR(o, 1.0, total_steps=40, three_phase=True, anneal_strategy="linear"),
    lambda S, o: S.OneCycleLR(o, 1.0, total_steps=40, cycle_momentum=False),
    lambda S, o: S.SequentialLR(o, [S.LinearLR(o, 0.1, total_iters=5), S.ExponentialLR(o, 0.9)], milestones=[8]),
], ids=["step", "multistep", "warm_restarts", "cyclic", "onecycle", "onecycle_no_momentum", "sequential"])
def test_a_torch_scheduler_state_loads_and_resumes_as_torch(make):
    torch = pytest.importorskip("torch")
    optimizer = _sgd(torch, groups=2)
    scheduler = make(torch.optim.lr_scheduler, optimizer)
    for _ in range(13):
        optimizer.step()
        scheduler.step()
    ours = _sgd(mg, groups=2)
    resumed = make(mg_sched, ours)  # (built first: a new schedule sets the rates it starts from)
    ours.load_state_dict(_torch_state(optimizer.state_dict()))
    resumed.load_state_dict(_torch_state(scheduler.state_dict()))
    for _ in range(20):
        optimizer.step()
        scheduler.step()
        ours.step()
        resumed.step()
        assert resumed.last_epoch == scheduler.last_epoch
        assert resumed.get_last_lr() == pytest.approx(scheduler.get_last_lr(), rel=1e-12)
        assert [g["momentum"] for g in ours.param_groups] == pytest.approx(
            [g["momentum"] for g in optimizer.param_groups], rel=1e-12)
    # and the state saved after it is microgradnp's again (PyTorch's one-call flags are not kept)
    assert "_get_lr_called_within_step" not in resumed.state_dict()
    assert resumed.state_dict().get("_is_initial", False) is False


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_state_saved_with_the_older_initial_flag_still_loads():
    optimizer = _sgd(mg)
    scheduler = mg_sched.StepLR(optimizer, 2, 0.5)
    for _ in range(3):
        optimizer.step()
        scheduler.step()
    state = scheduler.state_dict()
    state["_initial"] = state.pop("_is_initial")
    fresh = mg_sched.StepLR(_sgd(mg), 2, 0.5)
    fresh.load_state_dict(state)
    assert fresh.last_epoch == 3 and "_initial" not in fresh.state_dict()


@pytest.mark.parametrize("inner", ["chained", "sequential"])
def test_sequential_lr_refuses_a_composite_it_would_have_to_restart(inner):
    torch = pytest.importorskip("torch")

    def build(lib):
        S, optimizer = lib.optim.lr_scheduler, _sgd(lib)
        nested = (S.ChainedScheduler([S.ExponentialLR(optimizer, 0.9), S.StepLR(optimizer, 3, 0.5)])
                  if inner == "chained" else
                  S.SequentialLR(optimizer, [S.ConstantLR(optimizer, 0.5, total_iters=2),
                                             S.ExponentialLR(optimizer, 0.9)], milestones=[3]))
        return optimizer, S.SequentialLR(optimizer, [S.LinearLR(optimizer, 0.5, total_iters=4), nested],
                                         milestones=[5])

    # PyTorch builds it, then fails at the milestone without saying why
    optimizer, scheduler = build(torch)
    with pytest.raises(NotImplementedError):
        for _ in range(6):
            optimizer.step()
            scheduler.step()
    with pytest.raises(ValueError, match="at index 1 cannot be restarted at its milestone"):
        build(mg)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_composite_first_in_sequential_lr_still_runs_as_torch():
    torch = pytest.importorskip("torch")
    runs = []
    for lib in (torch, mg):
        S, optimizer = lib.optim.lr_scheduler, _sgd(lib)
        chained = S.ChainedScheduler([S.ExponentialLR(optimizer, 0.5), S.ConstantLR(optimizer, 0.5, total_iters=2)])
        scheduler = S.SequentialLR(optimizer, [chained, S.StepLR(optimizer, 2, 0.1)], milestones=[4])
        seen = []
        for _ in range(8):
            optimizer.step()
            scheduler.step()
            seen.append(optimizer.param_groups[0]["lr"])
        runs.append(seen)
    assert runs[1] == pytest.approx(runs[0], rel=1e-12)


# (NumPy warns that torch.Tensor.__array__ takes no copy argument)
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize(("name", "options"), [
    ("Adam", {"amsgrad": True}), ("NAdam", {}), ("RAdam", {}), ("ASGD", {"t0": 1}), ("Adagrad", {"lr_decay": 0.1}),
    ("Adafactor", {}), ("RMSprop", {"centered": True, "momentum": 0.5}),
])
def test_a_torch_optimizer_state_with_its_tensors_loads_and_resumes_as_torch(name, options):
    # PyTorch's state holds tensors, "step" (and NAdam's mu_product, ASGD's eta and mu) among
    # them: loaded as they are, they become numbers and arrays, not tensors of another library.
    torch = pytest.importorskip("torch")

    start = np.linspace(-1.0, 1.5, 6).reshape(2, 3)
    gradients = [np.cos(start * (k + 1)) for k in range(6)]
    theirs = torch.tensor(start, requires_grad=True)
    optimizer = getattr(torch.optim, name)([theirs], **options)
    for gradient in gradients[:3]:
        theirs.grad = torch.tensor(gradient)
        optimizer.step()
    ours = mg.tensor(theirs.detach().numpy().copy(), requires_grad=True)
    resumed = getattr(mg.optim, name)([ours], **options)
    resumed.load_state_dict(optimizer.state_dict())
    assert all(not hasattr(value, "requires_grad") for value in resumed.state[ours].values())
    for gradient in gradients[3:]:
        theirs.grad = torch.tensor(gradient)
        ours.grad = mg.tensor(gradient)
        optimizer.step()
        resumed.step()
    # (ASGD's eta and mu, NAdam's mu_product are float32 tensors in PyTorch, float64 numbers here)
    tolerance = 1e-6 if name in ("ASGD", "NAdam") else 1e-12
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=tolerance)


def test_adafactor_steps_over_an_empty_parameter():
    # An empty parameter has nothing to update (PyTorch divides its norm by its size 0 and
    # raises ZeroDivisionError); the others move as PyTorch moves them without it.
    torch = pytest.importorskip("torch")

    start = np.linspace(-1.0, 1.0, 6).reshape(2, 3)
    theirs = torch.tensor(start, requires_grad=True)
    optimizer = torch.optim.Adafactor([theirs], weight_decay=0.1)
    ours = mg.tensor(start.copy(), requires_grad=True)
    empties = [mg.zeros(0, 3, requires_grad=True), mg.zeros(0, requires_grad=True)]
    resumed = mg.optim.Adafactor([empties[0], ours, empties[1]], weight_decay=0.1)
    for k in range(3):
        gradient = np.sin(start * (k + 2))
        theirs.grad = torch.tensor(gradient)
        ours.grad = mg.tensor(gradient)
        for empty in empties:
            empty.grad = mg.zeros(*empty.shape)
        optimizer.step()
        resumed.step()
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-12)
    assert [empty.shape for empty in empties] == [(0, 3), (0,)]


def test_named_parameters_keep_their_names_in_the_groups_and_state_as_torch():
    torch = pytest.importorskip("torch")
    ours, theirs = mg.nn.Linear(2, 1, rng=0), torch.nn.Linear(2, 1)
    optimizer, reference = mg.optim.Adam(ours.named_parameters(), lr=0.1), torch.optim.Adam(theirs.named_parameters(),
                                                                                             lr=0.1)
    assert list(optimizer.param_groups[0]) == list(reference.param_groups[0])  # (params, param_names, options)
    assert optimizer.state_dict()["param_groups"][0]["param_names"] == ["weight", "bias"]
    theirs(torch.ones(1, 2)).sum().backward()
    reference.step()
    optimizer.load_state_dict(reference.state_dict())  # (a PyTorch state with names loads)
    assert list(optimizer.param_groups[0]["param_names"]) == ["weight", "bias"]
    with pytest.raises(ValueError, match="all parameter groups must be with names or all without"):
        optimizer.add_param_group({"params": [mg.tensor([1.0], requires_grad=True)]})
    with pytest.raises(ValueError, match="all parameters must come with their names or none"):
        mg.optim.SGD([("weight", ours.weight), ours.bias], lr=0.1)
