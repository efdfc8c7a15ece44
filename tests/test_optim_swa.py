"""optim.swa_utils (AveragedModel, SWALR, update_bn) and optim.Adafactor: by hand, against
PyTorch (optional oracle), their checkpoints, and the errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import nn, optim
from microgradnp.optim.swa_utils import (
    SWALR,
    AveragedModel,
    get_ema_avg_fn,
    get_ema_multi_avg_fn,
    get_swa_avg_fn,
    get_swa_multi_avg_fn,
    update_bn,
)


def _bn_model(rng=0):
    return nn.Sequential(nn.Linear(3, 4, rng=rng), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2, rng=rng))


def _torch_copy(torch, model):
    """The same network in torch, with model's parameters and buffers."""
    twin = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    twin.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    return twin


def _perturbed(model, scale, seed):
    """A model of the same architecture with every parameter and buffer moved by noise."""
    rng = np.random.default_rng(seed)
    for tensor in (*model.parameters(), *model.buffers()):
        if tensor.data.dtype.kind == "f":
            tensor.data[...] += scale * rng.standard_normal(tensor.data.shape)
    return model


# -- AveragedModel --------------------------------------------------------------------------------
def test_swa_average_is_the_mean_of_the_models_seen():
    model = nn.Linear(3, 2, rng=0)
    swa = AveragedModel(model)
    snapshots = []
    for seed in range(5):
        _perturbed(model, 0.5, seed)
        snapshots.append([p.data.copy() for p in model.parameters()])
        swa.update_parameters(model)
    assert int(swa.n_averaged.data) == 5
    for i, p in enumerate(swa.module.parameters()):
        np.testing.assert_allclose(p.data, np.mean([s[i] for s in snapshots], axis=0), rtol=1e-12, atol=1e-14)
    X = np.random.default_rng(9).standard_normal((6, 3))
    np.testing.assert_allclose(swa(X).data, swa.module(X).data)  # forward is the copy's
    assert swa.module is not model and swa.module.weight is not model.weight  # a deep copy


@pytest.mark.parametrize("kind", ["avg_fn", "multi_avg_fn"])
def test_ema_by_hand(kind):
    model = nn.Linear(3, 2, rng=0)
    fn = get_ema_avg_fn(0.9) if kind == "avg_fn" else get_ema_multi_avg_fn(0.9)
    ema = AveragedModel(model, **{kind: fn})
    expected = None
    for seed in range(4):
        _perturbed(model, 0.5, seed)
        weight = model.weight.data.copy()
        expected = weight if expected is None else 0.9 * expected + 0.1 * weight
        ema.update_parameters(model)
    np.testing.assert_allclose(ema.module.weight.data, expected, rtol=1e-12)


def test_float32_stays_float32():
    model = nn.Linear(3, 2, rng=0, dtype=np.float32)
    for fn in ({}, {"avg_fn": get_ema_avg_fn(0.5)}, {"multi_avg_fn": get_swa_multi_avg_fn()}):
        averaged = AveragedModel(model, **fn)
        averaged.update_parameters(model)
        averaged.update_parameters(_perturbed(model, 0.1, 0))
        assert averaged.module.weight.data.dtype == np.float32


def _compare_averages(torch, kwargs_of, use_buffers):
    model = _bn_model()
    twin = _torch_copy(torch, model)
    ours = AveragedModel(model, use_buffers=use_buffers, **kwargs_of(mg))
    theirs = torch.optim.swa_utils.AveragedModel(twin, use_buffers=use_buffers, **kwargs_of(torch))
    X = np.random.default_rng(3).standard_normal((8, 3))
    for seed in range(4):
        _perturbed(model, 0.3, seed)
        model(X)  # train mode: the BatchNorm statistics move too
        twin.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
        ours.update_parameters(model)
        theirs.update_parameters(twin)
    mine, reference = ours.state_dict(), theirs.state_dict()
    assert list(mine) == list(reference)
    for key, value in reference.items():
        np.testing.assert_allclose(mine[key], value.numpy(), rtol=0, atol=1e-13, err_msg=key)


AVERAGES = {
    "swa": lambda lib: {},
    "ema-avg_fn": lambda lib: {"avg_fn": (_swa_module(lib)).get_ema_avg_fn(0.8)},
    "ema-multi": lambda lib: {"multi_avg_fn": (_swa_module(lib)).get_ema_multi_avg_fn(0.8)},
    "swa-avg_fn": lambda lib: {"avg_fn": (_swa_module(lib)).get_swa_avg_fn()},
    "swa-multi": lambda lib: {"multi_avg_fn": (_swa_module(lib)).get_swa_multi_avg_fn()},
}


def _swa_module(lib):
    return lib.optim.swa_utils


@pytest.mark.parametrize("use_buffers", [False, True])
@pytest.mark.parametrize("kind", list(AVERAGES))
def test_averaged_model_matches_pytorch(torch, kind, use_buffers):
    if kind == "swa-multi" and use_buffers:
        pytest.skip("torch's get_swa_multi_avg_fn fails on integer buffers (addcdiv on integers)")
    _compare_averages(torch, AVERAGES[kind], use_buffers)


def test_state_dict_round_trip_and_keys():
    model = _bn_model()
    swa = AveragedModel(model)
    swa.update_parameters(model)
    state = swa.state_dict()
    assert list(state)[:2] == ["n_averaged", "module.0.weight"] and "module.1.running_mean" in state
    other = AveragedModel(_bn_model(rng=1))
    other.load_state_dict(state)
    assert int(other.n_averaged.data) == 1
    np.testing.assert_array_equal(other.module[0].weight.data, model[0].weight.data)


def test_averaged_model_errors():
    model = nn.Linear(3, 2, rng=0)
    with pytest.raises(ValueError, match=r"avg_fn .* or multi_avg_fn .*not both"):
        AveragedModel(model, avg_fn=get_swa_avg_fn(), multi_avg_fn=get_swa_multi_avg_fn())
    with pytest.raises(ValueError, match="only device='cpu'"):
        AveragedModel(model, device="cuda")
    with pytest.raises(TypeError, match=r"expected an nn\.Module"):
        AveragedModel([model])
    with pytest.raises(TypeError, match="avg_fn must be a function"):
        AveragedModel(model, avg_fn=0.9)
    with pytest.raises(ValueError, match=r"decay must be a number in \[0, 1\]"):
        get_ema_multi_avg_fn(1.5)
    with pytest.raises(ValueError, match=r"decay must be a number in \[0, 1\]"):
        get_ema_avg_fn(-0.1)
    swa = AveragedModel(model)
    with pytest.raises(ValueError, match=r"has shape .* pass the model it was built from"):
        swa.update_parameters(nn.Linear(4, 2, rng=0))
    with pytest.raises(ValueError, match="the model has 1 parameters but the averaged copy has 2"):
        swa.update_parameters(nn.Linear(3, 2, bias=False, rng=0))
    bn = AveragedModel(nn.Sequential(nn.Linear(3, 3, rng=0)))
    before = bn.module[0].weight.data.copy()
    with pytest.raises(ValueError, match="the model has 3 buffers but the averaged copy has 0"):
        bn.update_parameters(nn.Sequential(nn.Linear(3, 3, rng=1), nn.BatchNorm1d(3, affine=False)))
    np.testing.assert_array_equal(bn.module[0].weight.data, before)  # nothing changed
    assert int(bn.n_averaged.data) == 0


# -- update_bn ------------------------------------------------------------------------------------
def test_update_bn_is_the_plain_average_of_the_batches():
    model = nn.Sequential(nn.BatchNorm1d(3))
    rng = np.random.default_rng(0)
    batches = [rng.standard_normal((5, 3)) + i for i in range(4)]
    model.eval()
    update_bn([(b, None) for b in batches], model)
    assert not model.training and model[0].momentum == 0.1
    np.testing.assert_allclose(model[0].running_mean.data, np.mean([b.mean(0) for b in batches], axis=0))
    np.testing.assert_allclose(model[0].running_var.data, np.mean([b.var(0, ddof=1) for b in batches], axis=0))
    assert int(model[0].num_batches_tracked.data) == 4


def test_update_bn_matches_pytorch(torch):
    model = _perturbed(_bn_model(), 0.5, 1)
    twin = _torch_copy(torch, model)
    rng = np.random.default_rng(2)
    batches = [rng.standard_normal((6, 3)) for _ in range(5)]
    swa, swa_twin = AveragedModel(model), torch.optim.swa_utils.AveragedModel(twin)
    swa.update_parameters(model)
    swa_twin.update_parameters(twin)
    update_bn(batches, swa)
    torch.optim.swa_utils.update_bn([torch.tensor(b) for b in batches], swa_twin)
    mine, reference = swa.state_dict(), swa_twin.state_dict()
    for key in ("module.1.running_mean", "module.1.running_var", "module.1.num_batches_tracked"):
        np.testing.assert_allclose(mine[key], reference[key].numpy(), rtol=0, atol=1e-13, err_msg=key)
    assert swa.training == swa_twin.training


def test_update_bn_without_batchnorm_does_nothing_and_checks_device():
    model = nn.Linear(2, 2, rng=0)
    update_bn(iter(()), model)  # not even an iteration
    with pytest.raises(ValueError, match="only device='cpu'"):
        update_bn([], model, device="cuda:0")


# -- SWALR ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", ["cos", "linear"])
@pytest.mark.parametrize("anneal_epochs", [0, 1, 10])
def test_swalr_matches_pytorch_over_30_steps(torch, strategy, anneal_epochs):
    ours_opt = optim.SGD([{"params": [mg.tensor([1.0], requires_grad=True)]},
                          {"params": [mg.tensor([1.0], requires_grad=True)], "lr": 0.3}], lr=0.5)
    their_opt = torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)]},
                                 {"params": [torch.zeros(1, requires_grad=True)], "lr": 0.3}], lr=0.5)
    ours = SWALR(ours_opt, swa_lr=[0.05, 0.01], anneal_epochs=anneal_epochs, anneal_strategy=strategy)
    theirs = torch.optim.swa_utils.SWALR(their_opt, swa_lr=[0.05, 0.01], anneal_epochs=anneal_epochs,
                                         anneal_strategy=strategy)
    for step in range(30):
        assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-15, abs=1e-17), step
        assert ours_opt.param_groups[0]["swa_lr"] == their_opt.param_groups[0]["swa_lr"]
        ours_opt.step()
        their_opt.step()
        ours.step()
        theirs.step()
    assert ours.get_last_lr() == pytest.approx([0.05, 0.01], rel=1e-12)


def test_swalr_state_dict_round_trip():
    opt = optim.SGD([mg.tensor([1.0], requires_grad=True)], lr=0.5)
    scheduler = SWALR(opt, swa_lr=0.05, anneal_epochs=4, anneal_strategy="linear")
    for _ in range(2):
        scheduler.step()
    state = scheduler.state_dict()
    assert "anneal_func" not in state and state["_anneal_strategy"] == "linear"
    other = SWALR(optim.SGD([mg.tensor([1.0], requires_grad=True)], lr=0.5), swa_lr=0.05)
    other.load_state_dict(state)
    assert other.anneal_func(0.25) == 0.25 and other.anneal_epochs == 4


def test_swalr_errors():
    opt = optim.SGD([mg.tensor([1.0], requires_grad=True)], lr=0.5)
    with pytest.raises(ValueError, match="anneal_strategy must be one of 'cos' or 'linear'"):
        SWALR(opt, 0.05, anneal_strategy="cosine")
    with pytest.raises(ValueError, match="anneal_epochs must be an integer >= 0"):
        SWALR(opt, 0.05, anneal_epochs=-1)
    with pytest.raises(ValueError, match=r"one swa_lr per parameter group \(1\), got 2"):
        SWALR(opt, [0.05, 0.01])
    with pytest.raises(ValueError, match="swa_lr must be >= 0"):
        SWALR(opt, -0.05)
    with pytest.raises(TypeError, match="expected an optimizer"):
        SWALR([opt], 0.05)


# -- Adafactor ------------------------------------------------------------------------------------
ADAFACTOR_SHAPES = [(3, 4), (2, 3, 5), (4,), ()]
ADAFACTOR_CASES = [
    dict(),
    dict(lr=0.05, beta2_decay=-0.5),
    dict(eps=(1e-10, 1e-2)),
    dict(eps=(1e-3, 0.0)),
    dict(d=2.0),
    dict(d=1.0, lr=0.5),
    dict(weight_decay=0.1),
    dict(maximize=True),
    dict(foreach=True, weight_decay=0.05, maximize=True, lr=0.02),
]


def _adafactor_problem(steps=20, seed=0):
    rng = np.random.default_rng(seed)
    start = [rng.standard_normal(shape) for shape in ADAFACTOR_SHAPES]
    start[1] *= 1e-4  # a small parameter: its RMS is floored by eps2
    grads = [[np.asarray(rng.standard_normal(shape) * (0.1 if i % 2 else 1.0))
              for i, shape in enumerate(ADAFACTOR_SHAPES)] for _ in range(steps)]
    grads[3][1] = None  # a parameter without a gradient at one step: both skip it
    return start, grads


@pytest.mark.parametrize("options", ADAFACTOR_CASES, ids=[",".join(f"{k}={v}" for k, v in o.items()) or "defaults"
                                                          for o in ADAFACTOR_CASES])
def test_adafactor_matches_pytorch_over_20_steps(torch, options):
    start, grads = _adafactor_problem()
    params = [mg.tensor(v, requires_grad=True) for v in start]
    opt = optim.Adafactor(params, **options)
    reference = [torch.tensor(v, requires_grad=True) for v in start]
    reference_opt = torch.optim.Adafactor(reference, **{**options, "foreach": False})
    for step, step_grads in enumerate(grads):
        for p, q, g in zip(params, reference, step_grads):
            p.grad = None if g is None else np.array(g)
            q.grad = None if g is None else torch.tensor(g)
        opt.step()
        reference_opt.step()
        for i, (mine, theirs) in enumerate(zip(params, reference)):
            np.testing.assert_allclose(mine.data, theirs.detach().numpy(), rtol=0, atol=1e-12,
                                       err_msg=f"step {step + 1}, parameter {i}")
    theirs, mine = reference_opt.state_dict(), opt.state_dict()
    assert [set(g) for g in mine["param_groups"]] == [set(g) for g in theirs["param_groups"]]
    for index, entries in theirs["state"].items():
        assert set(mine["state"][index]) == set(entries)
        for key, value in entries.items():
            np.testing.assert_allclose(mine["state"][index][key], value.numpy(), rtol=0, atol=1e-12, err_msg=key)


def test_adafactor_factors_matrices_and_resumes_from_a_checkpoint():
    start, grads = _adafactor_problem(steps=6)
    params = [mg.tensor(v, requires_grad=True) for v in start]
    opt = optim.Adafactor(params, lr=0.05)
    for step_grads in grads[:3]:
        for p, g in zip(params, step_grads):
            p.grad = g
        opt.step()
    state = opt.state[params[1]]
    assert state["row_var"].shape == (2, 3, 1) and state["col_var"].shape == (2, 1, 5) and "variance" not in state
    assert opt.state[params[2]]["variance"].shape == (4,)
    saved = opt.state_dict()
    copies = [mg.tensor(p.data.copy(), requires_grad=True) for p in params]
    resumed = optim.Adafactor(copies, lr=0.05)
    resumed.load_state_dict(saved)
    for step_grads in grads[3:]:
        for p, q, g in zip(params, copies, step_grads):
            p.grad = q.grad = g
        opt.step()
        resumed.step()
    for p, q in zip(params, copies):
        np.testing.assert_array_equal(p.data, q.data)
    saved["state"][1]["row_var"] = np.zeros((2, 3, 5))
    with pytest.raises(ValueError, match=r"state 'row_var' of parameter 1 has shape \(2, 3, 5\) .* needs \(2, 3, 1\)"):
        resumed.load_state_dict(saved)


def test_adafactor_first_step_of_a_vector_by_hand():
    p = mg.tensor([3.0, -4.0], requires_grad=True)
    p.grad = np.array([0.5, -2.0])
    optim.Adafactor([p], lr=0.01).step()
    # step 1: V = g**2 exactly, u = sign(g) (rms 1, no clipping), alpha = rms(p) * min(lr, 1)
    alpha = np.sqrt((9 + 16) / 2) * 0.01
    np.testing.assert_allclose(p.data, [3.0 - alpha, -4.0 + alpha], rtol=1e-14)


def test_adafactor_keeps_float32():
    p = mg.tensor(np.ones((3, 2), dtype=np.float32), requires_grad=True)
    q = mg.tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    opt = optim.Adafactor([p, q], weight_decay=0.1)
    for _ in range(2):
        p.grad, q.grad = np.full((3, 2), 0.5, np.float32), np.full(3, -0.5, np.float32)
        opt.step()
    assert p.data.dtype == q.data.dtype == np.float32
    assert all(v.dtype == np.float32 for v in opt.state[p].values() if isinstance(v, np.ndarray))


def test_adafactor_errors():
    w = mg.tensor([1.0], requires_grad=True)
    cases = [
        (dict(lr=-1.0), ValueError, "lr must be >= 0"),
        (dict(beta2_decay=0.5), ValueError, r"beta2_decay must be <= 0"),
        (dict(beta2_decay="x"), TypeError, "beta2_decay must be a number"),
        (dict(eps=(-1.0, 1e-3)), ValueError, r"eps\[0\] must be >= 0"),
        (dict(eps=(None, -1e-3)), ValueError, r"eps\[1\] must be >= 0"),
        (dict(eps=1e-3), TypeError, r"eps must be a pair \(eps1, eps2\)"),
        (dict(d=0.5), ValueError, "clipping threshold d must be >= 1"),
        (dict(weight_decay=-0.1), ValueError, "weight_decay must be >= 0"),
        (dict(maximize=1), TypeError, "maximize must be True or False"),
        (dict(foreach="yes"), TypeError, "foreach must be None, True or False"),
        (dict(lr=np.full((2, 1, 1), 0.01)), TypeError, "per-member learning rates .* train them one at a time"),
    ]
    for options, error, message in cases:
        with pytest.raises(error, match=message):
            optim.Adafactor([w], **options)


def test_adafactor_is_a_run_and_sweep_option():
    from microgradnp import cli
    from microgradnp.train.runs import OPTIMIZERS, build_optimizer

    assert OPTIMIZERS["adafactor"] is optim.Adafactor and "adafactor" in cli.OPTIMIZERS
    model = nn.Linear(2, 1, rng=0)
    opt = build_optimizer("adafactor", model.parameters(), 0.05, momentum=0.0, nesterov=False, weight_decay=0.1,
                          betas=None)
    assert type(opt) is optim.Adafactor and opt.defaults["weight_decay"] == 0.1
    # the vectorised sweep trains Adafactor one seed at a time (its step mixes an ensemble's members)
    grid = {"optimizer": "adafactor", "lr": 0.05, "hidden": 4}
    kwargs = {"seeds": 2, "epochs": 30, "progress": False, "workers": 1}
    vectorised = mg.train.sweep(grid, "xor", **kwargs)
    one_by_one = mg.train.sweep(grid, "xor", vectorize=False, **kwargs)
    for a, b in zip(vectorised.rows, one_by_one.rows):
        assert a["final_accuracies"] == b["final_accuracies"] and a["stop_epochs"] == b["stop_epochs"]
