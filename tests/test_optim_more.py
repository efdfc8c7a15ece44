"""optim.LBFGS, optim.Rprop and optim.ASGD: against PyTorch (optional oracle) step by step,
their checkpoints, dtypes, their place in runs and sweeps, and the errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest
from test_optim import as_json, leaves, run, start_values

import microgradnp as mg
from microgradnp import nn, optim

STEPS = 20


def gradient_sequence(steps=STEPS, seed=1):
    """Gradients whose signs often repeat and sometimes flip (Rprop's three cases), some exactly 0."""
    rng = np.random.default_rng(seed)
    base = [rng.standard_normal(value.shape) for value in start_values()]
    grads = []
    for _ in range(steps):
        step = [b + 0.8 * rng.standard_normal(b.shape) for b in base]
        step[0][0, 0] = 0.0
        grads.append(step)
    grads[3][1] = None  # a parameter without a gradient at one step: both libraries skip it
    return grads


STEP_CASES = [
    (optim.Rprop, dict()),
    (optim.Rprop, dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.2))),
    (optim.Rprop, dict(lr=0.1, etas=(0.6, 1.1), step_sizes=(0.01, 1.0), maximize=True, capturable=True)),
    (optim.ASGD, dict()),
    (optim.ASGD, dict(lr=0.05, lambd=0.01, alpha=0.5, t0=5, weight_decay=0.1)),
    (optim.ASGD, dict(lr=0.1, lambd=0.001, alpha=0.9, t0=0, weight_decay=0.05, maximize=True)),
]
STEP_IDS = [f"{cls.__name__}-" + ",".join(f"{k}={v}" for k, v in options.items()) for cls, options in STEP_CASES]


# -- Rprop and ASGD ------------------------------------------------------------------------------
@pytest.mark.parametrize(("cls", "options"), STEP_CASES, ids=STEP_IDS)
def test_matches_pytorch_over_20_steps(torch, cls, options):
    start, grads = start_values(), gradient_sequence()
    params = leaves(start)
    opt = cls(params, **options)
    ours = run(opt, params, grads)
    # torch keeps ASGD's eta and mu in its default dtype: float64 here (the fixture), as ours
    reference = [torch.tensor(v, requires_grad=True) for v in start]
    # (capturable=True is for CUDA graphs; torch refuses it on the CPU, ours ignores it)
    reference_opt = getattr(torch.optim, cls.__name__)(reference, **{**options, "capturable": False})
    for step, step_grads in enumerate(grads):
        for p, g in zip(reference, step_grads):
            p.grad = None if g is None else torch.tensor(g)
        reference_opt.step()
        for i, (mine, theirs) in enumerate(zip(ours[step], reference)):
            np.testing.assert_allclose(mine, theirs.detach().numpy(), rtol=0, atol=1e-12,
                                       err_msg=f"step {step + 1}, parameter {i}")
    theirs = reference_opt.state_dict()
    mine = opt.state_dict()
    assert [set(g) - {"params"} for g in mine["param_groups"]] <= [set(g) for g in theirs["param_groups"]]
    for index, entries in theirs["state"].items():
        assert set(mine["state"][index]) == set(entries)
        for key, value in entries.items():
            np.testing.assert_allclose(mine["state"][index][key], value.numpy(), rtol=0, atol=1e-12, err_msg=key)


def test_rprop_follows_the_sign_rules_by_hand():
    w = mg.tensor([0.0, 0.0, 0.0], requires_grad=True)
    opt = optim.Rprop([w], lr=0.1, etas=(0.5, 2.0), step_sizes=(0.01, 0.3))
    for grad, expected_steps, expected_w in [
        ([1.0, -1.0, 0.0], [0.1, 0.1, 0.1], [-0.1, 0.1, 0.0]),    # first step: sizes stay at lr
        ([2.0, 1.0, 0.0], [0.2, 0.05, 0.1], [-0.3, 0.1, 0.0]),    # same sign grows, flip shrinks and waits
        ([3.0, 1.0, 1.0], [0.3, 0.05, 0.1], [-0.6, 0.05, -0.1]),  # capped at 0.3; after a flip: factor 1
    ]:
        w.grad = np.array(grad)
        opt.step()
        np.testing.assert_allclose(opt.state[w]["step_size"], expected_steps)
        np.testing.assert_allclose(w.data, expected_w)


def test_asgd_averages_the_parameters_from_t0():
    w = mg.tensor([1.0], requires_grad=True)
    opt = optim.ASGD([w], lr=0.1, lambd=0.0, t0=2)
    values = []
    for _ in range(5):
        w.grad = np.array([1.0])
        opt.step()
        values.append(w.data[0])
    # step t averages with the mu of step t - 1, 1 / max(1, t - 1 - t0): copies up to step
    # t0 + 2 = 4, then the running mean of the parameters from step 4 on
    np.testing.assert_allclose(opt.state[w]["ax"], [np.mean(values[3:])], rtol=1e-15)
    assert opt.state[w]["eta"] == 0.1 and opt.state[w]["mu"] == 1 / 3


@pytest.mark.parametrize(("cls", "options"), STEP_CASES, ids=STEP_IDS)
def test_float32_parameters_stay_float32(cls, options):
    params = leaves(start_values(), np.float32)
    opt = cls(params, **options)
    for step in run(opt, params, gradient_sequence(steps=4)):
        assert all(value.dtype == np.float32 for value in step)
    for entries in opt.state.values():
        assert all(v.dtype == np.float32 for v in entries.values() if isinstance(v, np.ndarray))


def test_parameter_groups_take_their_own_options(torch):
    start, grads = start_values(), gradient_sequence(steps=6)
    params = leaves(start)
    groups = [{"params": params[:1], "etas": (0.2, 1.9)}, {"params": params[1:], "lr": 0.3}]
    ours = run(optim.Rprop(groups, lr=0.02), params, grads)
    reference = [torch.tensor(v, requires_grad=True) for v in start]
    reference_opt = torch.optim.Rprop([{"params": reference[:1], "etas": (0.2, 1.9)},
                                       {"params": reference[1:], "lr": 0.3}], lr=0.02)
    for step_grads in grads:
        for p, g in zip(reference, step_grads):
            p.grad = None if g is None else torch.tensor(g)
        reference_opt.step()
    for mine, theirs in zip(ours[-1], reference):
        np.testing.assert_allclose(mine, theirs.detach().numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize(("cls", "options", "message"), [
    (optim.Rprop, dict(lr=-1.0), "lr must be >= 0"),
    (optim.Rprop, dict(etas=(1.5, 1.2)), r"0 < etaminus < 1 < etaplus, got \(1.5, 1.2\)"),
    (optim.Rprop, dict(etas=(0.5, 0.9)), "0 < etaminus < 1 < etaplus"),
    (optim.Rprop, dict(etas=0.5), r"etas must be a pair such as \(0.5, 1.2\)"),
    (optim.Rprop, dict(step_sizes=(1.0, 0.1)), "min <= max"),
    (optim.Rprop, dict(step_sizes=(-1.0, 0.1)), r"step_sizes\[0\] must be >= 0"),
    (optim.Rprop, dict(maximize=1), "maximize must be True or False"),
    (optim.ASGD, dict(lr=-0.1), "lr must be >= 0"),
    (optim.ASGD, dict(weight_decay=-1), "weight_decay must be >= 0"),
    (optim.ASGD, dict(lambd="big"), "lambd must be a number"),
    (optim.ASGD, dict(alpha=-0.5), "alpha must be >= 0"),
])
def test_bad_options_raise_one_clear_error(cls, options, message):
    with pytest.raises((TypeError, ValueError), match=message):
        cls(leaves(start_values()), **options)


def test_asgd_positional_arguments_are_torchs():
    # torch.optim.ASGD's 7th positional argument is foreach, then maximize: a call written for it means the same
    opt = optim.ASGD(leaves(start_values()), 0.01, 1e-4, 0.75, 1e6, 0, None, True)
    assert opt.defaults["foreach"] is None and opt.defaults["maximize"] is True


def test_runs_and_sweeps_build_rprop_and_asgd():
    from microgradnp import cli
    from microgradnp.train.runs import OPTIMIZERS, build_optimizer

    assert OPTIMIZERS["rprop"] is optim.Rprop and OPTIMIZERS["asgd"] is optim.ASGD
    assert "rprop" in cli.OPTIMIZERS and "asgd" in cli.OPTIMIZERS and "lbfgs" not in cli.OPTIMIZERS
    params = leaves(start_values())
    asgd = build_optimizer("asgd", params, 0.05, momentum=0.0, nesterov=False, weight_decay=0.1, betas=None)
    assert type(asgd) is optim.ASGD and asgd.defaults["weight_decay"] == 0.1 and asgd.defaults["lr"] == 0.05
    rprop = build_optimizer("rprop", params, 0.05, momentum=0.0, nesterov=False, weight_decay=0.0, betas=None)
    assert type(rprop) is optim.Rprop
    with pytest.raises(ValueError, match="optimizer 'rprop' has no option 'weight_decay' \\(it takes only lr\\)"):
        build_optimizer("rprop", params, 0.05, weight_decay=0.1)


# -- LBFGS ---------------------------------------------------------------------------------------
def least_squares(seed=0):
    rng = np.random.default_rng(seed)
    A, b = rng.standard_normal((40, 8)), rng.standard_normal((40, 3))
    return [rng.standard_normal((8, 3)), rng.standard_normal(3)], lambda lib, w, c: (
        ((lib.tensor(A) @ w + c - lib.tensor(b)) ** 2).sum())


def mlp(seed=0):
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((16, 3)), rng.standard_normal((16, 1))
    start = [0.7 * rng.standard_normal((3, 5)), 0.1 * rng.standard_normal(5), 0.7 * rng.standard_normal((5, 1)),
             np.zeros(1)]
    return start, lambda lib, w1, b1, w2, b2: (
        ((lib.tanh(lib.tensor(X) @ w1 + b1) @ w2 + b2 - lib.tensor(y)) ** 2).mean())


def lbfgs_runs(torch, problem, steps, dtype=np.float64, **options):
    """Our LBFGS and torch's on the same problem; the losses, parameters and state after each step."""
    start, loss_of = problem()
    params = leaves(start, dtype)
    opt = optim.LBFGS(params, **options)
    reference = [torch.tensor(v, requires_grad=True) for v in start]
    reference_opt = torch.optim.LBFGS(reference, **options)

    def closure():
        opt.zero_grad()
        loss = loss_of(mg, *params)
        loss.backward()
        return loss

    def reference_closure():
        reference_opt.zero_grad()
        loss = loss_of(torch, *reference)
        loss.backward()
        return loss

    for step in range(steps):
        ours, theirs = opt.step(closure), reference_opt.step(reference_closure)
        yield step, float(ours), float(theirs.detach()), params, reference, opt, reference_opt


SOLVER = [dict(), dict(line_search_fn="strong_wolfe"), dict(lr=0.3, history_size=3, max_iter=7),
          dict(history_size=2, max_iter=5, max_eval=6, line_search_fn="strong_wolfe"),
          dict(lr=0.5, tolerance_grad=1e-3, tolerance_change=1e-4, line_search_fn="strong_wolfe")]
# On the (non-convex) MLP, roundings (torch's fused multiply-adds) grow with the number of
# iterations, so each step does a few: the comparison is of the algorithm, not of chaos.
FEW = [dict(max_iter=4), dict(max_iter=4, line_search_fn="strong_wolfe"), dict(lr=0.3, history_size=3, max_iter=6),
       dict(history_size=2, max_iter=5, max_eval=6, line_search_fn="strong_wolfe"),
       dict(max_iter=5, tolerance_grad=1e-3, tolerance_change=1e-4, line_search_fn="strong_wolfe")]
LBFGS_CASES = [(least_squares, options, 4) for options in SOLVER] + [(mlp, options, 4) for options in FEW] + [
    (mlp, dict(), 2), (mlp, dict(line_search_fn="strong_wolfe"), 2)]
LBFGS_IDS = [f"{problem.__name__}-{steps}-" + ",".join(f"{k}={v}" for k, v in options.items())
             for problem, options, steps in LBFGS_CASES]


@pytest.mark.parametrize(("problem", "options", "steps"), LBFGS_CASES, ids=LBFGS_IDS)
def test_lbfgs_matches_pytorch(torch, problem, options, steps):
    for step, ours, theirs, params, reference, opt, reference_opt in lbfgs_runs(torch, problem, steps, **options):
        assert ours == pytest.approx(theirs, rel=1e-12, abs=1e-12), f"step {step + 1}"
        for mine, ref in zip(params, reference):
            np.testing.assert_allclose(mine.data, ref.detach().numpy(), rtol=0, atol=1e-11,
                                       err_msg=f"step {step + 1}")
        mine, theirs_state = opt.state_dict()["state"][0], reference_opt.state_dict()["state"][0]
        assert set(mine) == set(theirs_state)
        assert mine["func_evals"] == theirs_state["func_evals"] and mine["n_iter"] == theirs_state["n_iter"]
        assert len(mine["old_dirs"]) == len(theirs_state["old_dirs"])
        # (t alone is not compared after the first step: near the minimum the line search's
        # t is rounding noise on a step d * t of nearly nothing)
        np.testing.assert_allclose(mine["d"] * mine["t"], (theirs_state["d"] * theirs_state["t"]).numpy(), rtol=1e-9,
                                   atol=1e-11)
        for key in ("d", "prev_flat_grad", "prev_loss") + (("t", "H_diag") if step == 0 else ()):
            np.testing.assert_allclose(np.asarray(mine[key]), np.asarray(theirs_state[key]), rtol=1e-9, atol=1e-11,
                                       err_msg=key)


def test_lbfgs_solves_least_squares_exactly():
    rng = np.random.default_rng(3)
    A, b = rng.standard_normal((20, 3)), rng.standard_normal(20)
    w = mg.tensor(np.zeros(3), requires_grad=True)
    opt = optim.LBFGS([w], line_search_fn="strong_wolfe", tolerance_grad=1e-12, tolerance_change=1e-15)

    def closure():
        opt.zero_grad()
        loss = ((mg.tensor(A) @ w - mg.tensor(b)) ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    np.testing.assert_allclose(w.data, np.linalg.lstsq(A, b, rcond=None)[0], atol=1e-8)
    assert w.grad is not None  # the closure's last gradient stays, as in PyTorch


@pytest.mark.parametrize("via", ["dict", "json", "nn.save"])
def test_lbfgs_state_dict_round_trip_continues_identically(tmp_path, via):
    start, loss_of = mlp()
    runs = []
    for _ in range(2):
        params = leaves(start)
        opt = optim.LBFGS(params, history_size=4, max_iter=5, line_search_fn="strong_wolfe")

        def closure(opt=opt, params=params):
            opt.zero_grad()
            loss = loss_of(mg, *params)
            loss.backward()
            return loss

        runs.append((params, opt, closure))
    (params, opt, closure), (copies, fresh, fresh_closure) = runs
    opt.step(closure)
    opt.step(closure)
    saved = opt.state_dict()
    if via == "json":
        saved = as_json(saved)
    elif via == "nn.save":
        nn.save(saved, tmp_path / "lbfgs.npz")
        saved = nn.load(tmp_path / "lbfgs.npz")
    for p, q in zip(copies, params):
        p.data[...] = q.data
    fresh.load_state_dict(saved)
    assert fresh.state[copies[0]]["n_iter"] == opt.state[params[0]]["n_iter"] == 10
    for _ in range(2):
        assert float(opt.step(closure)) == float(fresh.step(fresh_closure))
    for p, q in zip(params, copies):
        np.testing.assert_array_equal(p.data, q.data)
    assert opt.state_dict()["state"][0]["old_dirs"][0] is not opt.state[params[0]]["old_dirs"][0]  # a copy


def test_lbfgs_keeps_float32():
    start, loss_of = least_squares()
    params = leaves(start, np.float32)
    opt = optim.LBFGS(params, line_search_fn="strong_wolfe", max_iter=5)

    def closure():
        opt.zero_grad()
        loss = loss_of(mg, *[p for p in params])
        loss.backward()
        return loss

    first = float(opt.step(closure))
    assert float(opt.step(closure)) < first
    assert all(p.data.dtype == np.float32 for p in params)
    state = opt.state[params[0]]
    assert state["d"].dtype == np.float32 and all(v.dtype == np.float32 for v in state["old_dirs"])


def test_lbfgs_parameters_without_gradient_count_as_zero(torch):
    start, loss_of = least_squares()
    unused = np.ones(3)
    params = leaves([*start, unused])
    opt = optim.LBFGS(params, max_iter=4)

    def closure():
        opt.zero_grad()
        loss = loss_of(mg, *params[:2])
        loss.backward()
        return loss

    opt.step(closure)
    np.testing.assert_array_equal(params[2].data, unused)
    assert opt.state[params[0]]["d"].shape == (8 * 3 + 3 + 3,)


def test_lbfgs_errors():
    params = leaves(start_values())
    with pytest.raises(ValueError, match="doesn't support per-parameter options"):
        optim.LBFGS([{"params": params[:1]}, {"params": params[1:]}])
    opt = optim.LBFGS(params)
    with pytest.raises(ValueError, match="doesn't support per-parameter options"):
        opt.add_param_group({"params": [mg.tensor([1.0], requires_grad=True)]})
    with pytest.raises(TypeError, match=r"LBFGS.step needs a closure .* opt.step\(closure\)"):
        opt.step()
    with pytest.raises(ValueError, match="line_search_fn must be None or 'strong_wolfe', got 'wolfe'"):
        optim.LBFGS(params, line_search_fn="wolfe")
    for option, value in [("max_iter", 0), ("max_eval", 2.5), ("history_size", True)]:
        with pytest.raises(ValueError, match=f"{option} must be an integer >= 1, got {value!r}"):
            optim.LBFGS(params, **{option: value})
    with pytest.raises(ValueError, match="lr must be >= 0"):
        optim.LBFGS(params, lr=-1)
    assert optim.LBFGS(params, max_iter=8).defaults["max_eval"] == 10
    saved = opt.state_dict()
    with pytest.raises(ValueError, match="line_search_fn must be None or 'strong_wolfe'"):
        opt.load_state_dict({**saved, "param_groups": [{**saved["param_groups"][0], "line_search_fn": "x"}]})


def test_lbfgs_load_state_dict_rejects_vectors_of_another_model():
    start, loss_of = least_squares()
    params = leaves(start)
    opt = optim.LBFGS(params, max_iter=3)

    def closure():
        opt.zero_grad()
        loss = loss_of(mg, *params)
        loss.backward()
        return loss

    opt.step(closure)
    other = optim.LBFGS(leaves([np.zeros((4, 3)), np.zeros(2)]))
    with pytest.raises(ValueError, match="state 'd' holds vectors of shape \\(27,\\) but the parameters have 14"):
        other.load_state_dict(opt.state_dict())


def test_lbfgs_cannot_be_compiled_with_its_closure():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.LBFGS([w])

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    @mg.compile
    def train_step():
        return opt.step(closure)

    with pytest.raises(Exception, match="closure"):
        train_step()


@pytest.mark.parametrize("grid", [{"optimizer": "rprop", "lr": [0.01, 0.05]},
                                  {"optimizer": "asgd", "lr": [0.1, 0.5], "weight_decay": [0.0, 0.01]}],
                         ids=["rprop", "asgd"])
def test_sweeps_train_with_rprop_and_asgd_vectorised_as_one_by_one(grid):
    grid = {"hidden": 4, "activation": "tanh", **grid}
    options = {"seeds": 2, "epochs": 60, "progress": False, "workers": 1}
    vectorised = mg.train.sweep(grid, "xor", **options)
    one_by_one = mg.train.sweep(grid, "xor", vectorize=False, **options)
    assert vectorised.vectorized
    keys = ("lr", "weight_decay", "stop_epochs", "best_accuracies", "final_accuracies")
    rows = [[row[key] for key in keys] for row in vectorised.rows]
    assert rows == [[row[key] for key in keys] for row in one_by_one.rows]
    assert len({tuple(row[3]) + tuple(row[4]) for row in rows}) >= 2  # the options change the training


# == PyTorch's implementation switches: foreach, fused, capturable, differentiable ================
TORCH_OPTIMIZERS = ["SGD", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "Adagrad", "Adadelta", "ASGD", "RMSprop",
                    "Rprop"]


@pytest.mark.parametrize("name", TORCH_OPTIMIZERS)
def test_the_signature_is_torchs_including_the_implementation_switches(name, torch):
    import inspect

    ours = inspect.signature(getattr(optim, name).__init__).parameters
    theirs = inspect.signature(getattr(torch.optim, name).__init__).parameters
    for switch in ("foreach", "fused", "capturable", "differentiable"):
        assert (switch in ours) == (switch in theirs), switch
        if switch in theirs:
            assert ours[switch].default == theirs[switch].default
            if name != "SGD":  # (SGD keeps weight_decay and nesterov keyword-only on purpose)
                assert ours[switch].kind == theirs[switch].kind


@pytest.mark.parametrize("name", TORCH_OPTIMIZERS)
def test_foreach_fused_and_capturable_compute_the_same_update(name):
    import inspect

    cls = getattr(optim, name)
    switches = {k: True for k in ("foreach", "fused", "capturable") if k in inspect.signature(cls.__init__).parameters}
    grads = gradient_sequence(steps=5)
    plain, switched = leaves(start_values()), leaves(start_values())
    for a, b in zip(run(cls(plain, lr=0.05), plain, grads), run(cls(switched, lr=0.05, **switches), switched, grads)):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


def test_implementation_switches_are_kept_in_the_groups_as_torch():
    opt = optim.Adam(leaves(start_values()), foreach=False, fused=True)
    group = opt.state_dict()["param_groups"][0]
    switches = (group["foreach"], group["fused"], group["capturable"], group["differentiable"])
    assert switches == (False, True, False, False)


def test_a_state_saved_without_the_switches_still_loads():
    params = leaves(start_values())
    opt = optim.SGD(params, lr=0.1, momentum=0.9)
    run(opt, params, gradient_sequence(steps=5))
    state = opt.state_dict()
    for group in state["param_groups"]:
        for switch in ("foreach", "fused", "differentiable"):
            del group[switch]
    fresh = optim.SGD(leaves(start_values()), lr=0.1, momentum=0.9, fused=True)
    fresh.load_state_dict(state)
    assert fresh.param_groups[0]["fused"] is True and fresh.param_groups[0]["lr"] == 0.1


def test_differentiable_and_malformed_switches_are_refused_clearly():
    with pytest.raises(ValueError, match=r"differentiable=True .* not supported"):
        optim.Adam(leaves(start_values()), differentiable=True)
    with pytest.raises(ValueError, match="differentiable"):
        optim.SGD([{"params": leaves(start_values()), "differentiable": True}], lr=0.1)
    with pytest.raises(TypeError, match="foreach must be None, True or False"):
        optim.SGD(leaves(start_values()), lr=0.1, foreach="yes")
    with pytest.raises(TypeError, match="capturable must be True or False"):
        optim.Adam(leaves(start_values()), capturable=None)
