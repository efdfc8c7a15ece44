"""``mg.optim.Muon`` against ``torch.optim.Muon``: in float64 (PyTorch's Newton-Schulz step
then run in float64 too) to 1e-9, and against PyTorch's own bfloat16 iteration to 1e-3."""

import numpy as np
import pytest

import microgradnp as mg
from microgradnp.optim import Muon

RNG = np.random.default_rng(1337)
X0 = RNG.standard_normal((1, 4)).astype(np.float32)
W0 = RNG.standard_normal((4, 4)).astype(np.float32)
M0 = RNG.standard_normal((1, 4)).astype(np.float32)
T0 = RNG.standard_normal((5, 3)).astype(np.float32)  # a tall matrix: the iteration runs on its transpose


def _run(lib, make, steps, dtype, **kw):
    """A small network: ``log_softmax(relu(x @ W)) * m + m``, plus a tall weight."""
    torch = pytest.importorskip("torch")
    arrays = [a.astype(dtype) for a in (X0, W0, T0)]
    if lib == "torch":
        params = [torch.tensor(a, requires_grad=True) for a in arrays]
        m = torch.tensor(M0.astype(dtype))
    else:
        params = [mg.nn.Parameter(a) for a in arrays]
        m = mg.tensor(M0.astype(dtype))
    x, w, tall = params
    opt = make(params, **kw)
    for _ in range(steps):
        out = x.matmul(w).relu().log_softmax(1).mul(m).add(m).sum() + (tall * tall).mean()
        opt.zero_grad()
        out.backward()
        opt.step()
    return [p.detach().numpy() if lib == "torch" else p.data for p in params]


def _exact_newton_schulz(torch):
    """torch's Muon with its Newton-Schulz iteration in the parameter's dtype instead of bfloat16."""
    def ns(grad, coefficients, steps, eps):
        a, b, c = coefficients
        tall = grad.size(0) > grad.size(1)
        x = grad.T if tall else grad
        x = x / x.norm().clamp(min=eps)
        for _ in range(steps):
            gram = x @ x.T
            x = a * x + (b * gram + c * (gram @ gram)) @ x
        return x.T if tall else x
    return ns


@pytest.mark.parametrize("kw", [
    {"lr": 0.01},
    {"lr": 0.02, "nesterov": False, "weight_decay": 0.3},
    {"lr": 0.01, "adjust_lr_fn": "match_rms_adamw", "momentum": 0.5},
    {"lr": 0.001, "momentum": 0.90, "weight_decay": 0.01, "ns_steps": 3, "ns_coefficients": (2.0, -1.5, 0.5)},
    {"lr": 0.05, "adjust_lr_fn": "original", "eps": 1e-3},
])
def test_muon_matches_torch_step_by_step(kw, monkeypatch):
    torch = pytest.importorskip("torch")
    muon_module = pytest.importorskip("torch.optim._muon")
    monkeypatch.setattr(muon_module, "_zeropower_via_newtonschulz", _exact_newton_schulz(torch))
    ours = _run("mg", Muon, 10, np.float64, **kw)
    theirs = _run("torch", torch.optim.Muon, 10, np.float64, **kw)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_muon_close_to_torch_bfloat16_at_1e_3():
    torch = pytest.importorskip("torch")
    for a, b in zip(_run("mg", Muon, 10, np.float32, lr=0.001, weight_decay=0.01),
                    _run("torch", torch.optim.Muon, 10, np.float32, lr=0.001, weight_decay=0.01), strict=True):
        np.testing.assert_allclose(a, b, atol=3e-3, rtol=0)
        assert a.dtype == np.float32


def test_muon_defaults_state_and_errors_as_torch():
    torch = pytest.importorskip("torch")
    ours = Muon([mg.nn.Parameter(np.zeros((2, 3)))]).param_groups[0]
    theirs = torch.optim.Muon([torch.zeros(2, 3, requires_grad=True)]).param_groups[0]
    for key, value in theirs.items():
        if key != "params":
            assert key in ours and ours[key] == value, key
    p = mg.nn.Parameter(np.ones((2, 3)))
    opt = Muon([p], lr=0.1)
    p.grad = np.ones((2, 3))
    opt.step()
    assert set(opt.state_dict()["state"][0]) == {"momentum_buffer"}
    with pytest.raises(ValueError, match="2D parameters"):
        Muon([mg.nn.Parameter(np.zeros(3))])
    with pytest.raises(ValueError, match="2D parameters"):
        Muon([mg.nn.Parameter(np.zeros((2, 2)))]).add_param_group({"params": [mg.nn.Parameter(np.zeros(3))]})
    with pytest.raises(ValueError, match="adjust_lr_fn"):
        Muon([mg.nn.Parameter(np.zeros((2, 2)))], adjust_lr_fn="other")
    with pytest.raises(ValueError, match="ns_steps"):
        Muon([mg.nn.Parameter(np.zeros((2, 2)))], ns_steps=100)
    with pytest.raises(ValueError, match="lr"):
        Muon([mg.nn.Parameter(np.zeros((2, 2)))], lr=-1)
