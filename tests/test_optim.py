"""optim: update rules against PyTorch (optional oracle) and against closed forms, parameter
groups, checkpoints, dtypes, learning-rate schedulers and the errors for bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import nn, optim
from microgradnp.nn import functional as F
from microgradnp.optim import lr_scheduler

SHAPES = [(3, 4), (4,), ()]
STEPS = 10
SKIPPED = (3, 1)  # (step, parameter) left without a gradient: both libraries must skip it

CASES = [
    (optim.SGD, dict(lr=0.1)),
    (optim.SGD, dict(lr=0.1, momentum=0.9)),
    (optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.3)),
    (optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    (optim.SGD, dict(lr=0.05, weight_decay=0.1)),
    (optim.SGD, dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1, maximize=True)),
    (optim.Adam, dict(lr=0.1)),
    (optim.Adam, dict(lr=0.1, amsgrad=True)),
    (optim.Adam, dict(lr=0.05, betas=(0.5, 0.9), eps=1e-3, weight_decay=0.1)),
    (optim.Adam, dict(lr=0.1, amsgrad=True, weight_decay=0.2, maximize=True)),
    (optim.Adam, dict(lr=0.1, weight_decay=0.2, decoupled_weight_decay=True)),
    (optim.AdamW, dict(lr=0.1)),
    (optim.AdamW, dict(lr=0.1, weight_decay=0.3, amsgrad=True)),
    (optim.AdamW, dict(lr=0.1, betas=(0.8, 0.99), maximize=True)),
    (optim.RMSprop, dict(lr=0.01)),
    (optim.RMSprop, dict(lr=0.01, centered=True)),
    (optim.RMSprop, dict(lr=0.01, momentum=0.9)),
    (optim.RMSprop, dict(lr=0.01, alpha=0.9, eps=1e-3, weight_decay=0.1, momentum=0.5, centered=True)),
    (optim.RMSprop, dict(lr=0.01, maximize=True)),
    (optim.Adagrad, dict(lr=0.1)),
    (optim.Adagrad, dict(lr=0.1, lr_decay=0.05)),
    (optim.Adagrad, dict(lr=0.1, weight_decay=0.1, initial_accumulator_value=0.5)),
    (optim.Adagrad, dict(lr=0.1, eps=1e-3, maximize=True)),
    (optim.Adamax, dict(lr=0.05)),
    (optim.Adamax, dict(lr=0.05, betas=(0.8, 0.99), eps=1e-3, weight_decay=0.1, maximize=True)),
    (optim.NAdam, dict(lr=0.05)),
    (optim.NAdam, dict(lr=0.05, weight_decay=0.1, momentum_decay=0.01)),
    (optim.NAdam, dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    (optim.RAdam, dict(lr=0.05)),
    (optim.RAdam, dict(lr=0.05, betas=(0.9, 0.9), weight_decay=0.1)),
    (optim.RAdam, dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    (optim.Adadelta, dict(lr=1.0)),
    (optim.Adadelta, dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.1, maximize=True)),
]
CASE_IDS = [f"{cls.__name__}-" + ",".join(f"{k}={v}" for k, v in options.items()) for cls, options in CASES]

# One configuration per class that fills every kind of state it has.
FULL_STATE = [
    (optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (optim.Adam, dict(lr=0.1, amsgrad=True)),
    (optim.AdamW, dict(lr=0.1, amsgrad=True)),
    (optim.RMSprop, dict(lr=0.01, momentum=0.9, centered=True)),
    (optim.Adagrad, dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)),
    (optim.Adamax, dict(lr=0.05)),
    (optim.NAdam, dict(lr=0.05)),
    (optim.RAdam, dict(lr=0.05)),
    (optim.Adadelta, dict(lr=1.0)),
    (optim.Rprop, dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.2))),
    (optim.ASGD, dict(lr=0.05, lambd=0.01, alpha=0.5, t0=2, weight_decay=0.1)),
]
FULL_IDS = [cls.__name__ for cls, _ in FULL_STATE]


def start_values(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for shape in SHAPES]


def gradient_sequence(steps=STEPS, seed=1):
    rng = np.random.default_rng(seed)
    grads = [[rng.standard_normal(shape) for shape in SHAPES] for _ in range(steps)]
    step, index = SKIPPED
    if step < steps:
        grads[step][index] = None
    return grads


def leaves(values, dtype=np.float64):
    return [mg.tensor(np.asarray(v, dtype=dtype), requires_grad=True) for v in values]


def feed(params, grads):
    for p, g in zip(params, grads):
        p.grad = None if g is None else np.array(g, dtype=p.data.dtype)


def run(opt, params, grads):
    """Step ``opt`` through ``grads``; the parameters' values after each step."""
    history = []
    for step_grads in grads:
        feed(params, step_grads)
        opt.step()
        history.append([p.data.copy() for p in params])
    return history


# -- against PyTorch ---------------------------------------------------------------------------
@pytest.mark.parametrize(("cls", "options"), CASES, ids=CASE_IDS)
def test_matches_pytorch_step_by_step(torch, cls, options):
    start, grads = start_values(), gradient_sequence()
    params = leaves(start)
    ours = run(cls(params, **options), params, grads)

    reference = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in start]
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # NAdam's running momentum product, in float64 as ours
    try:
        reference_opt = getattr(torch.optim, cls.__name__)(reference, **options)
        for step, step_grads in enumerate(grads):
            for p, g in zip(reference, step_grads):
                p.grad = None if g is None else torch.tensor(g, dtype=torch.float64)
            reference_opt.step()
            for i, (mine, theirs) in enumerate(zip(ours[step], reference)):
                np.testing.assert_allclose(mine, theirs.detach().numpy(), rtol=0, atol=1e-12,
                                           err_msg=f"step {step + 1}, parameter {i}")
    finally:
        torch.set_default_dtype(default)


@pytest.mark.parametrize(("cls", "options"), CASES, ids=CASE_IDS)
def test_step_leaves_grad_untouched_and_skips_missing_grads(cls, options):
    start, grads = start_values(), gradient_sequence(steps=SKIPPED[0] + 1)
    params = leaves(start)
    opt = cls(params, **options)
    history = run(opt, params, grads[:-1])
    feed(params, grads[-1])
    given = [None if g is None else g.copy() for g in grads[-1]]
    opt.step()
    for i, (p, g) in enumerate(zip(params, given)):
        if g is None:
            np.testing.assert_array_equal(p.data, history[-1][i])  # skipped: not even weight decay
        else:
            np.testing.assert_array_equal(p.grad, g)
            assert not np.array_equal(p.data, history[-1][i])


# -- closed forms (no PyTorch needed) ------------------------------------------------------------
G = np.array([0.5, -2.0, 3.0])


def steps_of(opt, p, grad, count):
    """The update (old - new) of each of ``count`` steps under a constant gradient."""
    updates = []
    for _ in range(count):
        before = p.data.copy()
        p.grad = grad.copy()
        opt.step()
        updates.append(before - p.data)
    return updates


def test_sgd_is_lr_times_gradient():
    p = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    updates = steps_of(optim.SGD([p], lr=0.1), p, G, 3)
    for update in updates:
        np.testing.assert_allclose(update, 0.1 * G, rtol=1e-12)
    np.testing.assert_allclose(p.data, np.array([1.0, 2.0, 3.0]) - 0.3 * G, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("lr", [0.1, 1, 1e-7, np.float64(0.1), np.float32(0.3)])
@pytest.mark.parametrize("momentum", [0, 0.9])
def test_sgd_rounds_the_learning_rate_as_numpy_rounds_it_for_the_parameter_dtype(dtype, lr, momentum):
    # The step multiplies by lr cast once to the parameter's dtype (a cached 0-d array): the
    # same numbers as NumPy's p -= lr * g with the Python (or NumPy) number itself.
    rng = np.random.default_rng(0)
    start, grad = rng.standard_normal((3, 4)).astype(dtype), rng.standard_normal((3, 4)).astype(dtype)
    p = mg.tensor(start.copy(), requires_grad=True)
    opt = optim.SGD([p], lr=lr, momentum=momentum)
    expected = start.copy()
    for _ in range(2):
        p.grad = mg.tensor(grad.copy())
        opt.step()
        expected -= lr * grad if not momentum else lr * (grad if _ == 0 else momentum * grad + grad)
    assert p.data.dtype == dtype
    np.testing.assert_array_equal(p.data, expected)


def test_sgd_momentum_update_k_is_lr_g_times_geometric_sum():
    lr, mu = 0.1, 0.9
    p = mg.tensor(np.zeros(3), requires_grad=True)
    for k, update in enumerate(steps_of(optim.SGD([p], lr=lr, momentum=mu), p, G, 6), start=1):
        np.testing.assert_allclose(update, lr * G * sum(mu**j for j in range(k)), rtol=1e-12)


def test_sgd_nesterov_update_adds_mu_times_the_buffer():
    lr, mu = 0.1, 0.9
    p = mg.tensor(np.zeros(3), requires_grad=True)
    for k, update in enumerate(steps_of(optim.SGD([p], lr=lr, momentum=mu, nesterov=True), p, G, 6), start=1):
        buffer = G * (1 - mu**k) / (1 - mu)
        np.testing.assert_allclose(update, lr * (G + mu * buffer), rtol=1e-12)


def test_sgd_dampening_scales_only_the_gradients_after_the_first():
    lr, mu, d = 0.1, 0.5, 0.25
    p = mg.tensor(np.zeros(3), requires_grad=True)
    for k, update in enumerate(steps_of(optim.SGD([p], lr=lr, momentum=mu, dampening=d), p, G, 5), start=1):
        buffer = G * (mu ** (k - 1) + (1 - d) * (1 - mu ** (k - 1)) / (1 - mu))
        np.testing.assert_allclose(update, lr * buffer, rtol=1e-12)


def test_weight_decay_alone_shrinks_geometrically():
    start = np.array([1.0, -2.0, 4.0])
    for cls in (optim.SGD, optim.AdamW):
        p = mg.tensor(start, requires_grad=True)
        steps_of(cls([p], lr=0.1, weight_decay=0.5), p, np.zeros(3), 4)
        np.testing.assert_allclose(p.data, start * (1 - 0.1 * 0.5) ** 4, rtol=1e-12, err_msg=cls.__name__)


def test_maximize_climbs_and_weight_decay_still_pulls_towards_zero():
    p = mg.tensor(np.zeros(3), requires_grad=True)
    steps_of(optim.SGD([p], lr=0.1, maximize=True), p, G, 2)
    np.testing.assert_allclose(p.data, 0.2 * G, rtol=1e-12)
    start = np.array([1.0, -1.0, 2.0])
    p = mg.tensor(start, requires_grad=True)
    steps_of(optim.SGD([p], lr=0.1, weight_decay=0.5, maximize=True), p, G, 1)
    np.testing.assert_allclose(p.data, start + 0.1 * G - 0.1 * 0.5 * start, rtol=1e-12)


def test_adam_under_a_constant_gradient_moves_lr_times_sign_every_step():
    # With g constant the bias-corrected averages are exactly g and g**2.
    lr, eps = 0.01, 1e-8
    p = mg.tensor(np.zeros(3), requires_grad=True)
    for update in steps_of(optim.Adam([p], lr=lr, eps=eps), p, G, 5):
        np.testing.assert_allclose(update, lr * G / (np.abs(G) + eps), rtol=1e-10)
        np.testing.assert_allclose(update, lr * np.sign(G), rtol=1e-7)


def test_amsgrad_divides_by_the_largest_second_moment():
    # betas (0, 0.5): m = g; v1 = 0.5 * 2**2 = 2, v2 = 0.25 * 4 + 0.5 * 0.5**2 = 1.125 < v1;
    # the second step divides by sqrt(v / (1 - 0.5**2)).
    lr, first, second = 0.1, np.array([2.0]), np.array([0.5])
    expected = {True: lr * 0.5 / (math.sqrt(2 / 0.75) + 1e-8), False: lr * 0.5 / (math.sqrt(1.125 / 0.75) + 1e-8)}
    for amsgrad, update in expected.items():
        p = mg.tensor([0.0], requires_grad=True)
        opt = optim.Adam([p], lr=lr, betas=(0.0, 0.5), amsgrad=amsgrad)
        np.testing.assert_allclose(steps_of(opt, p, first, 1)[0], [lr * 2 / (2 + 1e-8)], rtol=1e-12)
        np.testing.assert_allclose(steps_of(opt, p, second, 1)[0], [update], rtol=1e-12, err_msg=f"{amsgrad=}")


def test_rmsprop_first_steps():
    lr, alpha, eps = 0.01, 0.9, 1e-8
    for centered, scale in ((False, math.sqrt(1 - alpha)), (True, math.sqrt(alpha * (1 - alpha)))):
        p = mg.tensor(np.zeros(3), requires_grad=True)
        update = steps_of(optim.RMSprop([p], lr=lr, alpha=alpha, eps=eps, centered=centered), p, G, 1)[0]
        np.testing.assert_allclose(update, lr * G / (scale * np.abs(G) + eps), rtol=1e-12, err_msg=f"{centered=}")
    mu = 0.5
    p = mg.tensor(np.zeros(3), requires_grad=True)
    first, second = steps_of(optim.RMSprop([p], lr=lr, alpha=alpha, eps=eps, momentum=mu), p, G, 2)
    normalised_1 = G / (math.sqrt(1 - alpha) * np.abs(G) + eps)
    normalised_2 = G / (math.sqrt(1 - alpha**2) * np.abs(G) + eps)
    np.testing.assert_allclose(first, lr * normalised_1, rtol=1e-12)
    np.testing.assert_allclose(second, lr * (mu * normalised_1 + normalised_2), rtol=1e-12)


def test_adagrad_divides_by_root_of_summed_squares_with_decayed_lr():
    lr, lr_decay, initial, eps = 0.1, 0.5, 0.25, 1e-10
    p = mg.tensor(np.zeros(3), requires_grad=True)
    opt = optim.Adagrad([p], lr=lr, lr_decay=lr_decay, initial_accumulator_value=initial, eps=eps)
    for k, update in enumerate(steps_of(opt, p, G, 4), start=1):
        expected = lr / (1 + (k - 1) * lr_decay) * G / (np.sqrt(initial + k * G**2) + eps)
        np.testing.assert_allclose(update, expected, rtol=1e-12)


# -- parameter groups, zero_grad, closure -------------------------------------------------------
def test_param_groups_have_their_own_options():
    a, b = mg.tensor(np.zeros(3), requires_grad=True), mg.tensor(np.zeros(3), requires_grad=True)
    opt = optim.SGD([{"params": [a], "lr": 0.5}, {"params": b, "momentum": 0.9}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.1]
    assert [g["momentum"] for g in opt.param_groups] == [0, 0.9]
    for _ in range(2):
        a.grad, b.grad = G.copy(), G.copy()
        opt.step()
    np.testing.assert_allclose(a.data, -2 * 0.5 * G, rtol=1e-12)
    np.testing.assert_allclose(b.data, -0.1 * G * (1 + (1 + 0.9)), rtol=1e-12)


def test_changing_lr_in_a_group_takes_effect_at_the_next_step():
    p = mg.tensor(np.zeros(3), requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    steps_of(opt, p, G, 1)
    opt.param_groups[0]["lr"] = 0.01
    np.testing.assert_allclose(steps_of(opt, p, G, 1)[0], 0.01 * G, rtol=1e-12)


def test_sgd_lr_may_come_from_every_group_instead_of_the_default():
    a, b = mg.tensor([0.0], requires_grad=True), mg.tensor([0.0], requires_grad=True)
    opt = optim.SGD([{"params": [a], "lr": 1.0}, {"params": [b], "lr": 2.0}])
    a.grad, b.grad = np.array([1.0]), np.array([1.0])
    opt.step()
    assert (a.item(), b.item()) == (-1.0, -2.0)
    # a group without its own lr takes the default, PyTorch's 1e-3
    assert optim.SGD([{"params": [a], "lr": 1.0}, {"params": [b]}]).param_groups[1]["lr"] == 1e-3
    assert optim.SGD([a]).defaults["lr"] == 1e-3


def test_add_param_group_uses_the_defaults_and_is_stepped():
    a, b = mg.tensor([0.0], requires_grad=True), mg.tensor([0.0], requires_grad=True)
    opt = optim.Adam([a], lr=0.1, betas=(0.5, 0.6))
    opt.add_param_group({"params": [b], "lr": 0.2})
    assert opt.param_groups[1]["betas"] == (0.5, 0.6) and opt.param_groups[1]["lr"] == 0.2
    a.grad, b.grad = np.array([1.0]), np.array([1.0])
    opt.step()
    np.testing.assert_allclose([a.item(), b.item()], [-0.1, -0.2], rtol=1e-6)


def test_zero_grad_sets_none_or_zeros_in_place():
    a, b = mg.tensor([1.0, 2.0], requires_grad=True), mg.tensor([3.0], requires_grad=True)
    opt = optim.SGD([a, b], lr=0.1)
    (a * a).sum().backward()
    held = a.grad
    opt.zero_grad(set_to_none=False)
    assert a.grad is held and np.array_equal(held, [0.0, 0.0]) and b.grad is None
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_params_without_grad_are_skipped_and_get_no_state():
    used, unused = mg.tensor([1.0], requires_grad=True), mg.tensor([5.0], requires_grad=True)
    frozen = mg.tensor([7.0])  # requires_grad=False is allowed, as in PyTorch: it never has a grad
    opt = optim.Adam([used, unused, frozen], lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        (used * used).sum().backward()
        opt.step()
    assert (unused.item(), frozen.item()) == (5.0, 7.0)
    assert opt.state[used]["step"] == 3
    assert unused not in opt.state and frozen not in opt.state
    assert list(opt.state_dict()["state"]) == [0]


def test_step_with_closure_recomputes_and_returns_the_loss():
    p = mg.tensor([3.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.25)
    calls = []

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        calls.append(loss.item())
        return loss

    with mg.no_grad():  # the closure still records: step turns recording on for it
        loss = opt.step(closure)
    assert calls == [9.0] and loss.item() == 9.0
    assert p.item() == 3.0 - 0.25 * 6.0


def test_repr_lists_the_groups_and_options():
    text = repr(optim.SGD([mg.tensor([1.0], requires_grad=True)], lr=0.1, momentum=0.9))
    assert text.startswith("SGD (") and "Parameter Group 0" in text
    assert "    lr: 0.1" in text and "    momentum: 0.9" in text


# -- state_dict ------------------------------------------------------------------------------------
def as_json(state):
    def plain(value):
        if isinstance(value, np.ndarray):
            return value.tolist()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    return json.loads(json.dumps(plain(state)))


@pytest.mark.parametrize("via_json", [False, True], ids=["dict", "json"])
@pytest.mark.parametrize(("cls", "options"), FULL_STATE, ids=FULL_IDS)
def test_state_dict_round_trip_continues_identically(cls, options, via_json):
    grads = gradient_sequence(steps=6)
    params = leaves(start_values())
    opt = cls(params, **options)
    run(opt, params, grads[:3])
    saved = opt.state_dict()
    assert saved["param_groups"][0]["params"] == [0, 1, 2]
    copies = leaves([p.data for p in params])
    fresh = cls(copies, **{**options, "lr": 123.0})  # the loaded state must bring back the lr
    fresh.load_state_dict(as_json(saved) if via_json else saved)
    assert fresh.param_groups[0]["lr"] == options["lr"]
    assert fresh.param_groups[0]["params"][0] is copies[0]
    for mine, theirs in zip(run(opt, params, grads[3:]), run(fresh, copies, grads[3:])):
        for a, b in zip(mine, theirs):
            np.testing.assert_array_equal(a, b)


def save_npz(state, path):
    arrays = {f"state/{index}/{key}": np.asarray(value)
              for index, entries in state["state"].items() for key, value in entries.items()}
    arrays.update((f"param_groups/{i}/{key}", np.asarray(value))  # (None, as foreach's default, has no array)
                  for i, group in enumerate(state["param_groups"]) for key, value in group.items() if value is not None)
    np.savez(path, **arrays)


def load_npz(path):
    state, groups = {}, {}
    with np.load(path) as data:
        for name in data.files:
            kind, index, key = name.split("/")
            (state if kind == "state" else groups).setdefault(int(index), {})[key] = data[name]
    return {"state": state, "param_groups": [groups[i] for i in sorted(groups)]}


def test_state_dict_round_trip_through_npz_gives_plain_numbers_back(tmp_path):
    grads = gradient_sequence(steps=6)
    params = leaves(start_values(), np.float32)
    opt = optim.Adam(params, lr=0.1, betas=(0.8, 0.9), amsgrad=True)
    run(opt, params, grads[:3])
    save_npz(opt.state_dict(), tmp_path / "adam.npz")
    copies = leaves([p.data for p in params], np.float32)
    fresh = optim.Adam(copies)
    fresh.load_state_dict(load_npz(tmp_path / "adam.npz"))
    # 0-d arrays from .npz would make NumPy compute in float64; they come back as Python numbers.
    assert type(fresh.param_groups[0]["lr"]) is float and fresh.param_groups[0]["betas"] == (0.8, 0.9)
    assert type(fresh.param_groups[0]["amsgrad"]) is bool
    assert type(fresh.state[copies[0]]["step"]) is int
    for mine, theirs in zip(run(opt, params, grads[3:]), run(fresh, copies, grads[3:])):
        for a, b in zip(mine, theirs):
            assert b.dtype == np.float32
            np.testing.assert_array_equal(a, b)


def test_state_dict_is_a_copy():
    p = mg.tensor([1.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    steps_of(opt, p, np.array([1.0]), 1)
    saved = opt.state_dict()
    steps_of(opt, p, np.array([1.0]), 1)
    assert saved["state"][0]["momentum_buffer"].tolist() == [1.0]


def test_load_state_dict_casts_arrays_to_the_parameter_dtype():
    p = mg.tensor(np.ones(2, dtype=np.float32), requires_grad=True)
    opt = optim.Adam([p])
    steps_of(opt, p, np.ones(2, dtype=np.float32), 2)
    fresh = optim.Adam([mg.tensor(np.ones(2, dtype=np.float32), requires_grad=True)])
    fresh.load_state_dict(as_json(opt.state_dict()))  # JSON gives Python floats (float64)
    (state,) = fresh.state.values()
    assert state["exp_avg"].dtype == np.float32 and state["step"] == 2
    assert fresh.param_groups[0]["betas"] == (0.9, 0.999)


def test_load_state_dict_rejects_mismatches_and_changes_nothing():
    a, b = mg.tensor([1.0], requires_grad=True), mg.tensor([1.0, 2.0], requires_grad=True)
    source = optim.SGD([a, b], lr=0.1, momentum=0.9)
    steps_of(source, a, np.array([1.0]), 1)
    saved = source.state_dict()
    one_group = optim.SGD([mg.tensor([1.0], requires_grad=True)], lr=0.5)
    with pytest.raises(ValueError, match=r"parameter group 0 has 2 parameter\(s\) in the state but 1 here"):
        one_group.load_state_dict(saved)
    two_groups = optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.5)
    with pytest.raises(ValueError, match=r"the state has 1 parameter group\(s\) but this optimizer has 2"):
        two_groups.load_state_dict(saved)
    swapped = optim.SGD([b, a], lr=0.5)
    with pytest.raises(ValueError, match=r"'momentum_buffer' of parameter 0 has shape \(1,\).*shape \(2,\)"):
        swapped.load_state_dict(saved)
    other_kind = optim.Adam([a, b], lr=0.5)
    with pytest.raises(ValueError, match=r"lacks the option\(s\) \['betas', 'eps', 'amsgrad'.*another kind"):
        other_kind.load_state_dict(saved)
    with pytest.raises(ValueError, match="expected a dict with 'state' and 'param_groups'"):
        swapped.load_state_dict({"lr": 0.1})
    bad_lr = {"state": {}, "param_groups": [{**saved["param_groups"][0], "lr": -1.0}]}
    with pytest.raises(ValueError, match=r"SGD.load_state_dict \(parameter group 0 of the state\): lr must be >= 0"):
        swapped.load_state_dict(bad_lr)
    assert swapped.param_groups[0]["lr"] == 0.5 and not swapped.state


# -- dtypes ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("cls", "options"), CASES, ids=CASE_IDS)
def test_float32_parameters_and_state_stay_float32(cls, options):
    start, grads = start_values(), gradient_sequence(steps=4)
    params = leaves(start, np.float32)
    opt = cls(params, **options)
    run(opt, params, grads[:2])
    opt.param_groups[0]["lr"] = np.float64(options["lr"])  # a NumPy float64 lr must not widen anything
    history32 = run(opt, params, grads[2:])
    for p in params:
        assert p.data.dtype == np.float32
        assert all(v.dtype == np.float32 for v in opt.state[p].values() if isinstance(v, np.ndarray))
    params64 = leaves(start)
    history64 = run(cls(params64, **options), params64, grads)
    for a, b in zip(history32[-1], history64[-1]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


# -- errors ----------------------------------------------------------------------------------------
def bad_inputs():
    w = mg.tensor([1.0, 2.0], requires_grad=True, name="w")
    v = mg.tensor([3.0], requires_grad=True)
    ints = mg.tensor([1.0])
    ints.data = np.arange(3)
    model = nn.Linear(2, 1, rng=0)
    return [
        (lambda: optim.SGD([], lr=0.1), ValueError, "SGD: got an empty parameter list"),
        (lambda: optim.SGD(w, lr=0.1), TypeError, r"got a single Tensor; wrap it in a list: SGD\(\[w\], ...\)"),
        (lambda: optim.SGD(model, lr=0.1), TypeError, r"got a Module as params; pass its parameters"),
        (lambda: optim.SGD({"params": [w]}, lr=0.1), TypeError, "got a single parameter-group dict; wrap it"),
        (lambda: optim.SGD({w}, lr=0.1), TypeError, "params is a set, whose order changes"),
        (lambda: optim.SGD(5, lr=0.1), TypeError, "must be an iterable of Tensors .* got int"),
        (lambda: optim.SGD([w, 3.0], lr=0.1), TypeError, "can only optimize mg.Tensors, but parameter 1 .* float"),
        (lambda: optim.SGD([np.ones(2)], lr=0.1), TypeError, r"is a ndarray; make it a tensor first: w = mg.tensor"),
        (lambda: optim.SGD([("weight", w), v], lr=0.1), ValueError, "must come with their names or none"),
        (lambda: optim.SGD([w * 2], lr=0.1), ValueError, r"was computed by the operation 'mul'.*detach\(\)"),
        (lambda: optim.SGD([ints], lr=0.1), TypeError, "has dtype int64; only floating-point tensors"),
        (lambda: optim.SGD([w, v, w], lr=0.1), ValueError, r"SGD: parameter 2 \('w'\) appears twice in the same group"),
        (lambda: optim.SGD([{"params": [w]}, {"params": [v, w]}], lr=0.1), ValueError,
         r"SGD: parameter 1 \('w'\) \(parameter group 1\) is already in parameter group 0"),
        (lambda: optim.SGD([w, {"params": [v]}], lr=0.1), TypeError, "mixes Tensors and parameter-group dicts"),
        (lambda: optim.SGD([{"params": 3}], lr=0.1), TypeError, r"'params' must be a Tensor or an iterable"),
        (lambda: optim.SGD([{"lr": 0.1}], lr=0.1), ValueError, r"needs a 'params' entry \(parameter group 0\)"),
        (lambda: optim.SGD([w], lr=-0.1), ValueError, r"SGD: lr must be >= 0, got -0.1; .* maximize=True$"),
        (lambda: optim.SGD([w], lr=float("nan")), ValueError, "SGD: lr must be >= 0, got nan"),
        (lambda: optim.SGD([w], lr="0.1"), TypeError, "SGD: lr must be a number, got str '0.1'"),
        (lambda: optim.SGD([{"params": [w], "lr": -1}], lr=0.1), ValueError,
         r"SGD \(parameter group 0\): lr must be >= 0, got -1; "),
        (lambda: optim.SGD([w], lr=0.1, momentum=-0.9), ValueError, "momentum must be >= 0, got -0.9"),
        (lambda: optim.SGD([w], lr=0.1, dampening=1.5), ValueError, r"dampening must be in \[0, 1\], got 1.5"),
        (lambda: optim.SGD([w], lr=0.1, weight_decay=-1e-4), ValueError, "weight_decay must be >= 0"),
        (lambda: optim.SGD([w], lr=0.1, nesterov=True), ValueError,
         "nesterov=True needs momentum > 0 and dampening = 0, got momentum=0"),
        (lambda: optim.SGD([w], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError,
         "nesterov=True needs .* dampening=0.1"),
        (lambda: optim.SGD([w], 0.1, 0.9, 0, 1e-4), TypeError, "positional argument"),  # torch's order differs
        (lambda: optim.SGD([w], lr=0.1, momentum=0.9, nesterov=1e-4), TypeError, "nesterov must be True or False"),
        (lambda: optim.Adam([w], amsgrad="yes"), TypeError, "Adam: amsgrad must be True or False, got 'yes'"),
        (lambda: optim.Adam([w], betas=(1.0, 0.999)), ValueError, r"Adam: betas\[0\] must be in \[0, 1\), got 1.0"),
        (lambda: optim.AdamW([w], betas=(0.9, -0.1)), ValueError, r"AdamW: betas\[1\] must be in \[0, 1\)"),
        (lambda: optim.Adam([w], betas=0.9), TypeError, r"betas must be a pair \(beta1, beta2\)"),
        (lambda: optim.Adam([w], eps=-1e-8), ValueError, "Adam: eps must be >= 0"),
        (lambda: optim.Adam([w], lr=-1e-3), ValueError, "Adam: lr must be >= 0"),
        (lambda: optim.RMSprop([w], alpha=1.5), ValueError, r"RMSprop: alpha must be in \[0, 1\], got 1.5"),
        (lambda: optim.RMSprop([w], momentum=-1), ValueError, "RMSprop: momentum must be >= 0"),
        (lambda: optim.Adagrad([w], lr_decay=-1), ValueError, "Adagrad: lr_decay must be >= 0"),
        (lambda: optim.Adagrad([w], initial_accumulator_value=-1), ValueError,
         "Adagrad: initial_accumulator_value must be >= 0"),
    ]


@pytest.mark.parametrize("case", range(len(bad_inputs())))
def test_bad_input_raises_one_clear_error(case):
    make, error, message = bad_inputs()[case]
    with pytest.raises(error, match=message):
        make()


def test_failed_add_param_group_leaves_the_optimizer_unchanged():
    w, v = mg.tensor([1.0], requires_grad=True), mg.tensor([2.0], requires_grad=True)
    opt = optim.Adam([w])
    with pytest.raises(ValueError, match=r"parameter 1 \(parameter group 1\) is already in parameter group 0"):
        opt.add_param_group({"params": [v, w]})
    with pytest.raises(ValueError, match=r"Adam \(parameter group 1\): betas\[0\] must be in \[0, 1\), got 2; "):
        opt.add_param_group({"params": [v], "betas": (2, 0.9)})
    assert len(opt.param_groups) == 1
    opt.add_param_group({"params": [v]})
    assert len(opt.param_groups) == 2


# -- learning-rate schedulers ---------------------------------------------------------------------
SCHEDULERS = [
    (lr_scheduler.StepLR, dict(step_size=3, gamma=0.5)),
    (lr_scheduler.ExponentialLR, dict(gamma=0.9)),
    (lr_scheduler.CosineAnnealingLR, dict(T_max=5)),
    (lr_scheduler.CosineAnnealingLR, dict(T_max=4, eta_min=0.01)),
]
SCHEDULER_IDS = [f"{cls.__name__}-" + ",".join(f"{k}={v}" for k, v in kw.items()) for cls, kw in SCHEDULERS]
BASE_LRS = (0.1, 0.5)


def closed_form(cls, kwargs, base_lr, epoch):
    if cls is lr_scheduler.StepLR:
        return base_lr * kwargs["gamma"] ** (epoch // kwargs["step_size"])
    if cls is lr_scheduler.ExponentialLR:
        return base_lr * kwargs["gamma"] ** epoch
    eta_min = kwargs.get("eta_min", 0.0)
    return eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * epoch / kwargs["T_max"])) / 2


def two_group_sgd():
    a, b = mg.tensor([0.0], requires_grad=True), mg.tensor([0.0], requires_grad=True)
    return optim.SGD([{"params": [a], "lr": BASE_LRS[0]}, {"params": [b], "lr": BASE_LRS[1]}])


@pytest.mark.parametrize(("cls", "kwargs"), SCHEDULERS, ids=SCHEDULER_IDS)
def test_scheduler_follows_its_closed_form_past_the_first_period(cls, kwargs):
    opt = two_group_sgd()
    scheduler = cls(opt, **kwargs)
    assert [g["initial_lr"] for g in opt.param_groups] == list(BASE_LRS) == scheduler.base_lrs
    for epoch in range(16):
        assert scheduler.last_epoch == epoch
        expected = [closed_form(cls, kwargs, base, epoch) for base in BASE_LRS]
        np.testing.assert_allclose(scheduler.get_last_lr(), expected, rtol=1e-12, atol=1e-15, err_msg=f"{epoch=}")
        assert [g["lr"] for g in opt.param_groups] == scheduler.get_last_lr()
        opt.step()
        scheduler.step()


@pytest.mark.parametrize(("cls", "kwargs"), SCHEDULERS, ids=SCHEDULER_IDS)
def test_scheduler_matches_pytorch_including_hand_changed_lr(torch, cls, kwargs):
    opt = two_group_sgd()
    scheduler = cls(opt, **kwargs)
    reference_opt = torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in BASE_LRS])
    reference = getattr(torch.optim.lr_scheduler, cls.__name__)(reference_opt, **kwargs)
    for epoch in range(25):
        if epoch == 17:  # both libraries carry a learning rate set by hand forward
            opt.param_groups[1]["lr"] = reference_opt.param_groups[1]["lr"] = 0.3
        np.testing.assert_allclose(scheduler.get_last_lr(), reference.get_last_lr(), rtol=1e-13, atol=1e-16,
                                   err_msg=f"{epoch=}")
        opt.step()
        reference_opt.step()
        scheduler.step()
        reference.step()


def test_get_last_lr_is_a_copy():
    scheduler = lr_scheduler.ExponentialLR(two_group_sgd(), gamma=0.5)
    scheduler.get_last_lr()[0] = 99.0
    assert scheduler.get_last_lr() == list(BASE_LRS)


@pytest.mark.parametrize(("cls", "kwargs"), SCHEDULERS, ids=SCHEDULER_IDS)
def test_scheduler_state_dict_round_trip_continues_identically(cls, kwargs):
    opt = two_group_sgd()
    scheduler = cls(opt, **kwargs)
    for _ in range(6):
        scheduler.step()
    saved_opt, saved = opt.state_dict(), json.loads(json.dumps(scheduler.state_dict()))
    fresh_opt = two_group_sgd()
    fresh_opt.load_state_dict(saved_opt)
    fresh = cls(fresh_opt, **kwargs)
    fresh.load_state_dict(saved)
    assert fresh.last_epoch == 6
    for _ in range(8):
        scheduler.step()
        fresh.step()
        assert fresh.get_last_lr() == scheduler.get_last_lr()


def test_scheduler_resumes_from_last_epoch_only_with_initial_lr():
    opt = two_group_sgd()
    with pytest.raises(KeyError, match="needs 'initial_lr' in every parameter group, and group 0 has none"):
        lr_scheduler.StepLR(opt, step_size=2, last_epoch=4)
    for group in opt.param_groups:
        group["initial_lr"] = 1.0
    assert lr_scheduler.ExponentialLR(opt, gamma=0.5, last_epoch=4).base_lrs == [1.0, 1.0]


@pytest.mark.parametrize(("make", "message"), [
    (lambda opt: lr_scheduler.StepLR("sgd", step_size=1), "expected an optimizer such as mg.optim.SGD"),
    (lambda opt: lr_scheduler.StepLR(opt, step_size=0), "step_size must be a positive integer"),
    (lambda opt: lr_scheduler.StepLR(opt, step_size=2.5), "step_size must be a positive integer"),
    (lambda opt: lr_scheduler.StepLR(opt, step_size=2, gamma=-0.1), "gamma must be a number > 0"),
    (lambda opt: lr_scheduler.ExponentialLR(opt, gamma=0), "gamma must be a number > 0"),
    (lambda opt: lr_scheduler.CosineAnnealingLR(opt, T_max=0), "T_max must be a positive integer"),
    (lambda opt: lr_scheduler.CosineAnnealingLR(opt, T_max=10, eta_min=-1), "eta_min must be >= 0"),
    (lambda opt: lr_scheduler.StepLR(opt, step_size=1, last_epoch=-2), "last_epoch must be an integer >= -1"),
    (lambda opt: lr_scheduler.StepLR(opt, 2).load_state_dict(lr_scheduler.ExponentialLR(two_group_sgd(), 0.5)
                                                            .state_dict()), r"lacks \['step_size'\]"),
])
def test_scheduler_bad_input_raises_one_clear_error(make, message):
    with pytest.raises((TypeError, ValueError), match=message):
        make(two_group_sgd())


# -- end to end --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("cls", "options"), [(optim.SGD, dict(lr=0.1, momentum=0.9)), (optim.Adam, dict(lr=0.05))],
                         ids=["SGD", "Adam"])
def test_linear_regression_trains(cls, options):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 3))
    y = X @ np.array([[1.5], [-2.0], [0.5]]) + 0.3 + 0.01 * rng.standard_normal((64, 1))
    model = nn.Linear(3, 1, rng=0)
    opt = cls(model.parameters(), **options)
    losses = []
    for _ in range(150):
        opt.zero_grad()
        loss = F.mse_loss(model(X), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 1e-2 * losses[0]
    np.testing.assert_allclose(model.weight.data, [[1.5, -2.0, 0.5]], atol=0.05)
