"""Optimizers and learning-rate schedulers probed against PyTorch (the oracle): each test
pins a discrepancy that was found and fixed."""

from __future__ import annotations

import copy
import pickle
import warnings

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import optim

ORDER = "before `optimizer.step()`"
GET_LR = "please use `get_last_lr()`"


def _params(lib, n=2, rng=0):
    values = np.random.default_rng(rng).standard_normal((n, 3))
    if lib is mg:
        return [mg.tensor(v.copy(), requires_grad=True) for v in values]
    return [lib.tensor(v.copy(), requires_grad=True) for v in values]


def _sgd(lib, lrs=(0.1, 0.05)):
    params = _params(lib, len(lrs))
    groups = [{"params": [p], "lr": lr} for p, lr in zip(params, lrs)]
    return (lib.optim.SGD if lib is not mg else optim.SGD)(groups, lr=0.1, momentum=0.9)


def _messages(record) -> list[str]:
    return [str(w.message) for w in record]


# -- LinearLR resumed with last_epoch >= 0 ------------------------------------------------------------
@pytest.mark.parametrize("last_epoch", [1, 3, 7, 8, 12])
def test_linear_lr_resumed_with_last_epoch_matches_torch(last_epoch):
    torch = pytest.importorskip("torch")
    history = {}
    for lib, schedulers in ((torch, torch.optim.lr_scheduler), (mg, optim.lr_scheduler)):
        opt = _sgd(lib)
        for group in opt.param_groups:
            group["initial_lr"] = 2 * group["lr"]
        scheduler = schedulers.LinearLR(opt, start_factor=0.2, end_factor=0.9, total_iters=8, last_epoch=last_epoch)
        lrs = [scheduler.get_last_lr()]
        for _ in range(12):
            opt.step()
            scheduler.step()
            lrs.append(scheduler.get_last_lr() + [group["lr"] for group in opt.param_groups])
        history[lib] = lrs
    np.testing.assert_allclose(np.array(history[mg][0]), np.array(history[torch][0]), rtol=1e-13)
    for ours, theirs in zip(history[mg][1:], history[torch][1:]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-13)


# -- the warning about scheduler.step() before optimizer.step() -----------------------------------------
def _order_warnings(lib, build, optimizer_first: bool, metric=False) -> int:
    schedulers = lib.optim.lr_scheduler if lib is not mg else optim.lr_scheduler
    opt = _sgd(lib)
    scheduler = build(schedulers, opt)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for _ in range(3):
            if optimizer_first:
                opt.step()
            scheduler.step(1.0) if metric else scheduler.step()
    return sum(ORDER in message for message in _messages(record))


ORDER_CASES = {
    "StepLR": (lambda s, o: s.StepLR(o, 2), False),
    "OneCycleLR": (lambda s, o: s.OneCycleLR(o, 1.0, total_steps=10), False),
    "CyclicLR": (lambda s, o: s.CyclicLR(o, 0.01, 0.1), False),
    "CosineAnnealingWarmRestarts": (lambda s, o: s.CosineAnnealingWarmRestarts(o, 3), False),
    "ChainedScheduler": (lambda s, o: s.ChainedScheduler([s.StepLR(o, 2), s.ExponentialLR(o, 0.9)]), False),
    "SequentialLR": (lambda s, o: s.SequentialLR(o, [s.StepLR(o, 2), s.ExponentialLR(o, 0.9)], milestones=[2]),
                     False),
    "ReduceLROnPlateau": (lambda s, o: s.ReduceLROnPlateau(o), True),
}


@pytest.mark.parametrize("kind", sorted(ORDER_CASES))
@pytest.mark.parametrize("optimizer_first", [False, True])
def test_scheduler_step_before_optimizer_step_warns_as_torch(kind, optimizer_first):
    torch = pytest.importorskip("torch")
    build, metric = ORDER_CASES[kind]
    expected = _order_warnings(torch, build, optimizer_first, metric)
    assert _order_warnings(mg, build, optimizer_first, metric) == expected
    if kind == "StepLR":
        assert expected == (0 if optimizer_first else 1)


def test_step_tracking_leaves_the_optimizer_as_it_was_after_its_first_step():
    opt = _sgd(mg)
    optim.lr_scheduler.StepLR(opt, 2)
    clone = copy.deepcopy(opt)
    pickle.loads(pickle.dumps(opt))
    opt.step()
    assert "step" not in vars(opt)  # the plain method again: no wrapper on the hot path
    clone.step()
    assert "step" not in vars(clone) and clone._opt_called and opt._opt_called
    scheduler = optim.lr_scheduler.StepLR(opt, 2)  # a second scheduler: no new wrapper needed
    assert "step" not in vars(opt)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scheduler.step()


def test_a_compiled_step_with_a_new_scheduler_still_replays():
    w = mg.tensor(np.array([1.0, -2.0]), requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    scheduler = optim.lr_scheduler.StepLR(opt, 1, gamma=0.5)

    @mg.compile
    def train_step():
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()

    expected = w.data.copy()
    lr = 0.1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(4):
            train_step()
            expected -= lr * 2 * expected
            scheduler.step()
            lr *= 0.5
    np.testing.assert_allclose(w.data, expected, rtol=1e-12)


# -- the warning about get_lr() called by the user ------------------------------------------------------
@pytest.mark.parametrize("kind", ["StepLR", "LambdaLR", "MultiplicativeLR", "OneCycleLR", "CyclicLR",
                                  "CosineAnnealingWarmRestarts", "LinearLR"])
def test_get_lr_outside_step_warns_as_torch(kind):
    torch = pytest.importorskip("torch")
    builds = {
        "StepLR": lambda s, o: s.StepLR(o, 2),
        "LambdaLR": lambda s, o: s.LambdaLR(o, lambda e: 0.9**e),
        "MultiplicativeLR": lambda s, o: s.MultiplicativeLR(o, lambda e: 0.9),
        "OneCycleLR": lambda s, o: s.OneCycleLR(o, 1.0, total_steps=10),
        "CyclicLR": lambda s, o: s.CyclicLR(o, 0.01, 0.1),
        "CosineAnnealingWarmRestarts": lambda s, o: s.CosineAnnealingWarmRestarts(o, 3),
        "LinearLR": lambda s, o: s.LinearLR(o),
    }
    counts = {}
    for lib, schedulers in ((torch, torch.optim.lr_scheduler), (mg, optim.lr_scheduler)):
        opt = _sgd(lib)
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            scheduler = builds[kind](schedulers, opt)
            for _ in range(3):
                opt.step()
                scheduler.step()
            quiet = sum(GET_LR in message for message in _messages(record))
            values = scheduler.get_lr()
        counts[lib] = (quiet, sum(GET_LR in message for message in _messages(record)), len(values))
    assert counts[mg] == counts[torch] == (0, 1, 2)


def test_get_lr_warning_does_not_enter_the_state_dict():
    opt = _sgd(mg)
    scheduler = optim.lr_scheduler.StepLR(opt, 2)
    opt.step()
    scheduler.step()
    state = scheduler.state_dict()
    assert "_get_lr_called_within_step" not in state
    again = optim.lr_scheduler.StepLR(_sgd(mg), 2)
    again.load_state_dict(state)
    assert again.get_last_lr() == scheduler.get_last_lr()


def test_warm_restarts_step_count_matches_torch():
    torch = pytest.importorskip("torch")
    counts = {}
    for lib, schedulers in ((torch, torch.optim.lr_scheduler), (mg, optim.lr_scheduler)):
        opt = _sgd(lib)
        scheduler = schedulers.CosineAnnealingWarmRestarts(opt, 3)
        for _ in range(4):
            opt.step()
            scheduler.step()
        counts[lib] = scheduler.state_dict()["_step_count"]
    assert counts[mg] == counts[torch]


# -- Adagrad's initial accumulator ------------------------------------------------------------------------
def test_adagrad_accumulator_starts_from_the_constructors_value_as_torch():
    torch = pytest.importorskip("torch")
    results = {}
    for lib in (torch, mg):
        params = _params(lib, 3, rng=1)
        cls = torch.optim.Adagrad if lib is torch else optim.Adagrad
        groups = [{"params": [params[0]]}, {"params": [params[1]], "initial_accumulator_value": 2.0},
                  {"params": [params[2]], "initial_accumulator_value": 0.0, "lr": 0.2}]
        opt = cls(groups, lr=0.1, initial_accumulator_value=0.5)
        for step in range(5):
            for i, p in enumerate(params):
                g = np.cos(np.arange(3.0) * (step + i))
                p.grad = torch.tensor(g) if lib is torch else g
            opt.step()
        results[lib] = [p.detach().numpy() if lib is torch else p.data for p in params]
    for ours, theirs in zip(results[mg], results[torch]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-13)


# -- Rprop with NaN gradients -------------------------------------------------------------------------------
def test_rprop_nan_gradient_moves_nothing_as_torch():
    torch = pytest.importorskip("torch")
    grads = [np.array([np.nan, np.inf, 1.0, -2.0]), np.array([1.0, 1.0, np.nan, -1.0]),
             np.array([-1.0, 2.0, 1.0, -1.0])]
    results = {}
    for lib in (torch, mg):
        p = torch.ones(4, dtype=torch.float64, requires_grad=True) if lib is torch else \
            mg.tensor(np.ones(4), requires_grad=True)
        opt = (torch.optim.Rprop if lib is torch else optim.Rprop)([p], lr=0.1)
        trajectory = []
        for g in grads:
            p.grad = torch.tensor(g) if lib is torch else g.copy()
            with np.errstate(invalid="ignore"):
                opt.step()
            trajectory.append(np.array(p.detach().numpy() if lib is torch else p.data))
        results[lib] = trajectory
    for ours, theirs in zip(results[mg], results[torch]):
        np.testing.assert_array_equal(ours, theirs)


# -- a Tensor lr: one clear error, naming the number to pass ----------------------------------------------
@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam, optim.RMSprop])
def test_tensor_lr_error_says_what_to_pass(cls):
    w = mg.tensor(np.zeros(2), requires_grad=True)
    with pytest.raises(TypeError, match=r"lr must be a number, got Tensor .*pass lr=0\.25 \(tensor\.item\(\)\)"):
        cls([w], lr=mg.tensor(0.25))
    with pytest.raises(TypeError, match=r"pass one number as lr"):
        cls([w], lr=mg.tensor([0.1, 0.2]))


# -- the optimizer hooks (torch.optim.Optimizer.register_*_hook) -------------------------------------------
def _hook_log(lib, cls_name="SGD", kwargs=None):
    w = _zeros(lib)
    opt = getattr(lib.optim if lib is not mg else optim, cls_name)([w], **(kwargs or {"lr": 0.1}))
    log = []
    first = opt.register_step_pre_hook(lambda o, a, k: log.append(("pre", len(a), a[0] is o, sorted(k))))
    second = opt.register_step_post_hook(lambda o, a, k: log.append(("post", len(a), sorted(k))))
    opt.register_state_dict_pre_hook(lambda o: log.append("state_dict pre"))
    opt.register_state_dict_post_hook(lambda o, sd: log.append(("state_dict post", sorted(sd))) or {**sd, "extra": 1})
    opt.register_state_dict_post_hook(lambda o, sd: log.append("first"), prepend=True)
    opt.register_load_state_dict_pre_hook(
        lambda o, sd: log.append(("load pre", sorted(sd))) or {k: v for k, v in sd.items() if k != "extra"})
    opt.register_load_state_dict_post_hook(lambda o: log.append("load post"))
    w.grad = np.ones(2) if lib is mg else lib.ones(2, dtype=lib.float64)
    opt.step()
    opt.step(closure=lambda: 3)
    first.remove()
    opt.step()
    second.remove()
    opt.step()
    saved = opt.state_dict()
    log.append(sorted(saved))
    opt.load_state_dict(saved)
    opt.register_step_pre_hook(lambda o, a, k: (a, {"closure": lambda: 42}))
    log.append(opt.step())
    log.append([float(v) for v in (w.data if lib is mg else w.detach().numpy())])
    return log


def _zeros(lib):
    if lib is mg:
        return mg.tensor(np.zeros(2), requires_grad=True)
    return lib.zeros(2, dtype=lib.float64, requires_grad=True)


@pytest.mark.parametrize("cls_name, kwargs", [("SGD", {"lr": 0.1, "momentum": 0.9}), ("Adam", {"lr": 0.1})])
def test_optimizer_hooks_run_as_torch(cls_name, kwargs):
    torch = pytest.importorskip("torch")
    ours, theirs = _hook_log(mg, cls_name, kwargs), _hook_log(torch, cls_name, kwargs)
    np.testing.assert_allclose(ours.pop(), theirs.pop(), rtol=1e-13)
    assert ours == theirs
    assert ours[0] == ("pre", 1, True, []) and ours[-1] == 42


def test_lbfgs_state_dict_hooks_see_the_whole_state():
    w = mg.tensor(np.array([1.0, -1.0]), requires_grad=True)
    opt = optim.LBFGS([w], max_iter=3, history_size=2)

    def closure():
        opt.zero_grad()
        loss = ((w - 2.0) ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    seen = []
    opt.register_state_dict_post_hook(lambda o, sd: seen.append(type(sd["state"][0]["old_dirs"])))
    opt.state_dict()
    assert seen == [list]


def test_a_step_hook_makes_compile_run_eagerly_until_it_is_removed():
    w = mg.tensor(np.array([1.0, -2.0]), requires_grad=True)
    plain = mg.tensor(np.array([1.0, -2.0]), requires_grad=True)
    opt, reference = optim.SGD([w], lr=0.1), optim.SGD([plain], lr=0.1)
    calls = []
    handle = opt.register_step_post_hook(lambda o, a, k: calls.append(o))

    def train_step(param, optimizer):
        optimizer.zero_grad()
        loss = (param * param * param).sum()
        loss.backward()
        optimizer.step()
        return loss

    compiled = mg.compile(train_step)
    for _ in range(3):
        compiled(w, opt)
        train_step(plain, reference)
    assert len(calls) == 3 and all(o is opt for o in calls)  # every call ran the hook: eager
    handle.remove()
    for _ in range(3):
        compiled(w, opt)
        train_step(plain, reference)
    assert len(calls) == 3 and compiled.traces >= 1
    np.testing.assert_array_equal(w.data, plain.data)
    assert "step" not in vars(opt)


def test_a_pre_hook_returning_something_else_is_an_error():
    w = mg.tensor(np.zeros(2), requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    opt.register_step_pre_hook(lambda o, a, k: 5)
    w.grad = np.ones(2)
    with pytest.raises(RuntimeError, match=r"must return None or a tuple \(new_args, new_kwargs\)"):
        opt.step()


# -- LambdaLR / MultiplicativeLR: a callable object's attributes are saved and restored ------------------
class _Warmup:
    """A stateful lr_lambda (an object, not a function), as torch's docs allow."""

    def __init__(self):
        self.scale, self.calls = 1.0, 0

    def __call__(self, epoch):
        self.calls += 1
        if epoch == 5:
            self.scale = 0.5
        return self.scale * 0.9**epoch


@pytest.mark.parametrize("kind", ["LambdaLR", "MultiplicativeLR"])
def test_stateful_lr_lambda_resumes_as_torch(kind):
    torch = pytest.importorskip("torch")
    results = {}
    libraries = ((torch, torch.optim.lr_scheduler, torch.optim.SGD), (mg, optim.lr_scheduler, optim.SGD))
    for lib, schedulers, make in libraries:
        w = _zeros(lib)
        opt = make([w], lr=0.1)
        scheduler = getattr(schedulers, kind)(opt, _Warmup())
        for _ in range(8):
            opt.step()
            scheduler.step()
        saved, saved_opt = scheduler.state_dict(), opt.state_dict()
        resumed_opt = make([w], lr=0.1)
        resumed_opt.load_state_dict(saved_opt)
        resumed = getattr(schedulers, kind)(resumed_opt, [_Warmup()])
        resumed.load_state_dict(saved)
        lrs = []
        for _ in range(5):
            resumed_opt.step()
            resumed.step()
            lrs.append(resumed.get_last_lr())
        results[lib] = (saved["lr_lambdas"], vars(resumed.lr_lambdas[0]), lrs)
    assert results[mg][:2] == results[torch][:2]
    np.testing.assert_allclose(results[mg][2], results[torch][2], rtol=1e-13)


def test_lambda_lr_state_without_lr_lambdas_still_loads():
    opt = optim.SGD([_zeros(mg)], lr=0.1)
    scheduler = optim.lr_scheduler.LambdaLR(opt, lambda e: 0.5**e)
    state = scheduler.state_dict()
    assert state["lr_lambdas"] == [None]
    del state["lr_lambdas"]  # as saved before the entry existed
    optim.lr_scheduler.LambdaLR(opt, lambda e: 0.5**e).load_state_dict(state)


# -- error hints name only options the optimizer has --------------------------------------------------------
@pytest.mark.parametrize("cls", [optim.Muon, optim.LBFGS])
def test_negative_lr_hint_of_optimizers_without_maximize(cls):
    w = mg.tensor(np.zeros((2, 2)), requires_grad=True)
    with pytest.raises(ValueError, match="lr must be >= 0") as info:
        cls([w], lr=-1)
    assert "maximize=True" not in str(info.value)  # they take no maximize option
    with pytest.raises(TypeError):
        cls([w], maximize=True)


# -- ReduceLROnPlateau after a parameter group was added ----------------------------------------------------
@pytest.mark.parametrize("min_lr", [0.001, [0.001]])
def test_plateau_with_a_group_added_later_as_torch(min_lr):
    torch = pytest.importorskip("torch")
    results = {}
    for lib, schedulers, make in ((torch, torch.optim.lr_scheduler, torch.optim.SGD),
                                  (mg, optim.lr_scheduler, optim.SGD)):
        opt = make([_zeros(lib)], lr=0.1)
        scheduler = schedulers.ReduceLROnPlateau(opt, patience=0, min_lr=min_lr)
        opt.add_param_group({"params": [_zeros(lib)], "lr": 0.5})
        try:
            for metric in (1.0, 2.0, 3.0):
                scheduler.step(metric)
            results[lib] = (scheduler.get_last_lr(), scheduler.min_lrs)
        except RuntimeError as error:
            results[lib] = type(error), "param groups in the `optimizer` (2) differs" in str(error)
    assert results[mg] == results[torch]


def test_plateau_state_saved_without_default_min_lr_still_loads():
    opt = optim.SGD([_zeros(mg)], lr=0.1)
    state = optim.lr_scheduler.ReduceLROnPlateau(opt).state_dict()
    del state["default_min_lr"]
    optim.lr_scheduler.ReduceLROnPlateau(opt).load_state_dict(state)
