"""``mg.func.functional_call`` (= ``nn.utils.stateless.functional_call``), ``nn.utils.parametrize``,
``nn.utils.parametrizations`` (weight_norm, spectral_norm, orthogonal), the hook-based
``nn.utils.weight_norm`` / ``spectral_norm``, ``get_total_norm`` / ``clip_grads_with_norm_``,
BatchNorm fusion, ``skip_init`` and ``nn.init.dirac_`` / ``sparse_``. Values, gradients and
``state_dict`` keys against PyTorch (float64) when it is installed, finite differences, errors,
float32 and ``mg.compile``."""

from __future__ import annotations

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import nn
from microgradnp.nn import functional as F
from microgradnp.nn.utils import parametrizations as P
from microgradnp.nn.utils import parametrize

RNG = np.random.default_rng(0)
X = RNG.standard_normal((5, 4))


def _copy_from_torch(module, torch_module):
    module.load_state_dict({k: v.detach().numpy().copy() for k, v in torch_module.state_dict().items()})


def _same_values_and_grads(module, torch_module, x, steps=2, tol=1e-10):
    """Run both (train mode, ``steps`` forwards with backward) and compare outputs, gradients, states."""
    torch = pytest.importorskip("torch")
    for _ in range(steps):
        ours, theirs = module(mg.tensor(x)), torch_module(torch.tensor(x))
        (ours * ours).sum().backward()
        (theirs * theirs).sum().backward()
        np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=tol, atol=tol)
    assert [n for n, _ in module.named_parameters()] == [n for n, _ in torch_module.named_parameters()]
    for (name, p), (_, q) in zip(module.named_parameters(), torch_module.named_parameters(), strict=True):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=tol, atol=tol, err_msg=name)
    theirs_state = torch_module.state_dict()
    assert list(module.state_dict()) == list(theirs_state)
    for key, value in module.state_dict().items():
        np.testing.assert_allclose(value, theirs_state[key].numpy(), rtol=tol, atol=tol, err_msg=key)


# -- functional_call ---------------------------------------------------------------------------------
def test_functional_call_uses_the_given_tensors_and_leaves_the_module_alone():
    model = nn.Sequential(nn.Linear(4, 3, rng=0), nn.Tanh(), nn.Linear(3, 2, rng=1))
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    weight = mg.tensor(RNG.standard_normal((3, 4)), requires_grad=True)
    out = mg.func.functional_call(model, {"0.weight": weight}, (mg.tensor(X),))
    expected = model[2](F.linear(mg.tensor(X), weight, model[0].bias).tanh())
    np.testing.assert_allclose(out.data, expected.data)
    out.sum().backward()
    assert weight.grad is not None and model[0].weight.grad is None and model[0].bias.grad is not None
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())
    assert model[0].weight is model._modules["0"]._parameters["weight"]
    assert nn.utils.stateless.functional_call is mg.func.functional_call


def test_functional_call_gradcheck_buffers_kwargs_and_dict_sequences():
    model = nn.BatchNorm1d(4).eval()
    mean = mg.tensor(RNG.standard_normal(4))

    def fn(x, w):
        return mg.func.functional_call(model, ({"weight": w}, {"running_mean": mean}), x)

    assert mg.gradcheck(fn, [mg.tensor(X, requires_grad=True), mg.tensor(RNG.random(4) + 0.5, requires_grad=True)])
    np.testing.assert_allclose(fn(mg.tensor(X), model.weight).data, (X - mean.data) / np.sqrt(1 + 1e-5))

    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(np.ones(4))

        def forward(self, x, scale=1.0):
            return x * self.w * scale

    out = mg.func.functional_call(Scaled(), {"w": mg.tensor(np.full(4, 2.0))}, mg.tensor(X), {"scale": 3.0})
    np.testing.assert_allclose(out.data, 6 * X)


def test_functional_call_matches_torch_and_ties_weights():
    torch = pytest.importorskip("torch")
    from torch.func import functional_call as torch_call

    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(4, 4, bias=False, rng=0)
            self.b = nn.Linear(4, 4, bias=False, rng=1)
            self.b.weight = self.a.weight

        def forward(self, x):
            return self.b(self.a(x))

    new = RNG.standard_normal((4, 4))
    ours = mg.tensor(new, requires_grad=True)
    out = mg.func.functional_call(Tied(), {"a.weight": ours}, (mg.tensor(X),))
    theirs_w = torch.tensor(new, requires_grad=True)
    tm = torch.nn.Sequential(torch.nn.Linear(4, 4, bias=False), torch.nn.Linear(4, 4, bias=False)).double()
    tm[1].weight = tm[0].weight
    expected = torch_call(tm, {"0.weight": theirs_w}, (torch.tensor(X),))
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12)
    out.sum().backward()
    expected.sum().backward()
    np.testing.assert_allclose(ours.grad, theirs_w.grad.numpy(), rtol=1e-12)
    untied = mg.func.functional_call(Tied(), {"a.weight": ours}, (mg.tensor(X),), tie_weights=False)
    assert not np.allclose(untied.data, out.data)
    with pytest.raises(ValueError, match="which are tied"):
        mg.func.functional_call(Tied(), {"a.weight": ours, "b.weight": mg.tensor(new)}, (mg.tensor(X),))


def test_functional_call_errors():
    model = nn.Linear(4, 2, rng=0)
    with pytest.raises(RuntimeError, match=r"Unexpected key\(s\): 'foo'.*\n\tMissing key\(s\): 'bias', 'weight'"):
        mg.func.functional_call(model, {"foo": mg.tensor(1.0)}, mg.tensor(X), strict=True)
    with pytest.raises(ValueError, match="appeared in multiple dictionaries"):
        mg.func.functional_call(model, ({"bias": mg.tensor(np.zeros(2))}, {"bias": mg.tensor(np.ones(2))}),
                                mg.tensor(X))
    with pytest.raises(TypeError, match="must be a microgradnp Tensor"):
        mg.func.functional_call(model, {"bias": np.zeros(2)}, mg.tensor(X))
    with pytest.raises(ValueError, match="to be a dict"):
        mg.func.functional_call(model, 3, mg.tensor(X))
    assert isinstance(model.bias, nn.Parameter) and list(model.state_dict()) == ["weight", "bias"]


def test_functional_call_replaces_a_parametrized_tensor_as_torch():
    torch = pytest.importorskip("torch")
    tm = torch.nn.Linear(4, 3).double()
    model = nn.Linear(4, 3)
    _copy_from_torch(model, tm)
    torch.nn.utils.parametrizations.weight_norm(tm)
    P.weight_norm(model)
    w = RNG.standard_normal((3, 4))
    ours = mg.func.functional_call(model, {"weight": mg.tensor(w)}, mg.tensor(X))
    theirs = torch.func.functional_call(tm, {"weight": torch.tensor(w)}, (torch.tensor(X),))
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(model.weight.data, tm.weight.detach().numpy(), rtol=1e-12)


# -- parametrize ---------------------------------------------------------------------------------------
class Symmetric(nn.Module):
    def forward(self, x):
        return x.triu() + x.triu(1).T

    def right_inverse(self, a):
        return a.triu()


def test_register_parametrization_keeps_the_parameter_and_caches_and_removes():
    layer = nn.Linear(3, 3, rng=0)
    weight = layer.weight
    optimizer = mg.optim.SGD(layer.parameters(), lr=0.1)
    parametrize.register_parametrization(layer, "weight", Symmetric())
    assert parametrize.is_parametrized(layer) and parametrize.is_parametrized(layer, "weight")
    assert not parametrize.is_parametrized(layer, "bias")
    assert type(layer).__name__ == "ParametrizedLinear"
    assert parametrize.type_before_parametrizations(layer) is nn.Linear
    assert layer.parametrizations.weight.original is weight
    assert list(layer.state_dict()) == ["bias", "parametrizations.weight.original"]
    np.testing.assert_allclose(layer.weight.data, layer.weight.data.T)
    layer(mg.tensor(RNG.standard_normal((2, 3)))).sum().backward()
    optimizer.step()
    np.testing.assert_allclose(layer.weight.data, layer.weight.data.T)
    with parametrize.cached():
        assert layer.weight is layer.weight
    assert layer.weight is not layer.weight
    target = RNG.standard_normal((3, 3))
    layer.weight = target + target.T  # right_inverse stores the upper triangle
    np.testing.assert_allclose(layer.weight.data, target + target.T)
    kept = layer.weight.data.copy()
    parametrize.remove_parametrizations(layer, "weight")
    assert type(layer) is nn.Linear and layer.weight is weight and not parametrize.is_parametrized(layer)
    np.testing.assert_allclose(layer.weight.data, kept)
    assert list(layer.state_dict()) == ["bias", "weight"]  # re-registered last, as PyTorch


def test_parametrizations_chain_gradcheck_and_errors():
    layer = nn.Linear(3, 3, rng=0).double()

    class Double(nn.Module):
        def forward(self, x):
            return 2 * x

    parametrize.register_parametrization(layer, "weight", Symmetric())
    parametrize.register_parametrization(layer, "weight", Double())
    original = layer.parametrizations.weight.original
    np.testing.assert_allclose(layer.weight.data, 2 * (np.triu(original.data) + np.triu(original.data, 1).T))

    def fn(w):
        return mg.func.functional_call(layer, {"parametrizations.weight.original": w}, mg.tensor(X[:, :3]))

    assert mg.gradcheck(fn, [mg.tensor(original.data.copy(), requires_grad=True)])
    with pytest.raises(ValueError, match="does not have a parametrization on bias"):
        parametrize.remove_parametrizations(layer, "bias")
    with pytest.raises(ValueError, match="does not have a parameter, a buffer, or a parametrized element"):
        parametrize.register_parametrization(layer, "nothing", Double())

    class Shrink(nn.Module):
        def forward(self, x):
            return x[:2]

    with pytest.raises(ValueError, match="may not change the shape"):
        parametrize.register_parametrization(nn.Linear(3, 3), "weight", Shrink())
    wn = P.weight_norm(nn.Linear(3, 2))
    with pytest.raises(ValueError, match="Cannot leave unparametrized"):
        parametrize.remove_parametrizations(wn, "weight", leave_parametrized=False)


@pytest.mark.parametrize("shape", [(4, 3), (3, 3), (3, 5)])
@pytest.mark.parametrize("name, kwargs", [
    ("weight_norm", {}), ("weight_norm", {"dim": 1}), ("weight_norm", {"dim": None}),
    ("spectral_norm", {}), ("spectral_norm", {"n_power_iterations": 3, "dim": 1}),
    ("orthogonal", {}), ("orthogonal", {"orthogonal_map": "cayley"}), ("orthogonal", {"orthogonal_map": "householder"}),
    ("orthogonal", {"orthogonal_map": "matrix_exp"}),
])
def test_parametrizations_match_torch(shape, name, kwargs):
    torch = pytest.importorskip("torch")
    tm, model = torch.nn.Linear(*shape).double(), nn.Linear(*shape)
    _copy_from_torch(model, tm)
    getattr(torch.nn.utils.parametrizations, name)(tm, **kwargs)
    getattr(P, name)(model, **kwargs)
    with torch.no_grad():
        for p in tm.parameters():
            p.add_(0.3 * torch.randn(p.shape, dtype=p.dtype, generator=torch.Generator().manual_seed(0)))
    _copy_from_torch(model, tm)
    _same_values_and_grads(model, tm, RNG.standard_normal((5, shape[0])))
    tm.eval()
    model.eval()
    _same_values_and_grads(model, tm, RNG.standard_normal((5, shape[0])), steps=1)


@pytest.mark.parametrize("name, torch_name, kwargs", [
    ("weight_norm", "weight_norm", {}), ("weight_norm", "weight_norm", {"dim": None}),
    ("spectral_norm", "spectral_norm", {}), ("spectral_norm", "spectral_norm", {"n_power_iterations": 2}),
])
def test_hook_based_norms_match_torch_and_remove(name, torch_name, kwargs):
    torch = pytest.importorskip("torch")
    tm, model = torch.nn.Conv1d(3, 4, 3).double(), nn.Conv1d(3, 4, 3)
    _copy_from_torch(model, tm)
    with pytest.warns(FutureWarning) if name == "weight_norm" else _no_warning():
        getattr(torch.nn.utils, torch_name)(tm, **kwargs)
    getattr(nn.utils, name)(model, **kwargs)
    assert isinstance(model, nn.Conv1d)
    _copy_from_torch(model, tm)
    x = RNG.standard_normal((2, 3, 6))
    _same_values_and_grads(model, tm, x)
    getattr(torch.nn.utils, "remove_" + torch_name)(tm)
    getattr(nn.utils, "remove_" + name)(model)
    assert list(model.state_dict()) == list(tm.state_dict())
    np.testing.assert_allclose(model.weight.data, tm.weight.detach().numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match=f"{name} of 'weight' not found in Conv1d"):
        getattr(nn.utils, "remove_" + name)(model)


class _no_warning:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_parametrization_errors_float32_and_compile():
    with pytest.raises(ValueError, match="no parameter or buffer with name 'nothing'"):
        P.spectral_norm(nn.Linear(2, 2), "nothing")
    with pytest.raises(ValueError, match="n_power_iterations to be positive"):
        P.spectral_norm(nn.Linear(2, 2), n_power_iterations=0)
    with pytest.raises(IndexError, match="out of range"):
        P.weight_norm(nn.Linear(2, 2), dim=3)
    with pytest.raises(ValueError, match="orthogonal_map has to be one of"):
        P.orthogonal(nn.Linear(2, 2), orthogonal_map="qr")
    with pytest.raises(ValueError, match="Expected a matrix"):
        P.orthogonal(nn.Linear(2, 2), "bias")
    with pytest.raises(RuntimeError, match="Cannot register two weight_norm hooks"):
        nn.utils.weight_norm(nn.utils.weight_norm(nn.Linear(2, 2)))
    with pytest.raises(ValueError, match="has no parameter 'nothing'"):
        nn.utils.spectral_norm(nn.Linear(2, 2), "nothing")

    for wrap in (P.weight_norm, P.spectral_norm, P.orthogonal, nn.utils.weight_norm, nn.utils.spectral_norm):
        layer = wrap(nn.Linear(4, 4, dtype=np.float32, rng=0))
        x = mg.tensor(X.astype(np.float32))
        out = layer(x)
        out.sum().backward()
        assert out.dtype == np.float32
        assert all(p.grad.dtype == np.float32 for p in layer.parameters())

    model = P.spectral_norm(nn.Linear(4, 3, rng=0), rng=0)
    reference = P.spectral_norm(nn.Linear(4, 3, rng=0), rng=0)
    orthogonal = P.orthogonal(nn.Linear(4, 3, rng=0))

    def step(x_):
        out = (model(x_) ** 2).sum() + (orthogonal(x_) ** 2).sum()
        out.backward()
        return out.detach()

    compiled = mg.compile(step)
    for i in range(3):  # the power iteration moves u and v at every call: never a stale replay
        with pytest.warns(UserWarning, match="runs eagerly") if i == 0 else _no_warning():
            got = compiled(mg.tensor(X)).item()
        expected = (reference(mg.tensor(X)) ** 2).sum().item() + (orthogonal(mg.tensor(X)) ** 2).sum().item()
        assert got == pytest.approx(expected, rel=1e-12)


def test_compiled_training_steps_replay_parametrized_layers():
    model = nn.Sequential(P.weight_norm(nn.Linear(4, 4, rng=0)), nn.Tanh(),
                          P.orthogonal(nn.Linear(4, 4, rng=1), orthogonal_map="cayley"),
                          P.spectral_norm(nn.Linear(4, 2, rng=2), rng=0))
    model[3].eval()  # no power iteration: a pure function of the parameters
    optimizer = mg.optim.SGD(model.parameters(), lr=0.1)

    def step(x_):
        optimizer.zero_grad()
        loss = (model(x_) ** 2).mean()
        loss.backward()
        optimizer.step()
        return loss.detach()

    compiled = mg.compile(step)
    losses = [compiled(mg.tensor(X)).item() for _ in range(4)]
    assert compiled.traces == 1 and losses[-1] < losses[0]
    eager = (model(mg.tensor(X)) ** 2).mean().item()
    assert compiled(mg.tensor(X)).item() == pytest.approx(eager, rel=1e-12)


# -- clipping, fusion, skip_init ----------------------------------------------------------------------
def _grad_params(dtype=np.float64):
    params = [nn.Parameter(RNG.standard_normal(s).astype(dtype)) for s in ((3, 4), (5,), (2, 2))]
    for p in params:
        p.grad = RNG.standard_normal(p.shape).astype(dtype)
    return params


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.5, float("inf")])
def test_get_total_norm_and_clip_grads_with_norm_match_torch(norm_type):
    torch = pytest.importorskip("torch")
    params = _grad_params()
    theirs = [torch.tensor(p.data, requires_grad=True) for p in params]
    for p, q in zip(params, theirs, strict=True):
        q.grad = torch.tensor(p.grad)
    total = nn.utils.get_total_norm([p.grad for p in params], norm_type)
    expected = torch.nn.utils.get_total_norm([q.grad for q in theirs], norm_type)
    assert total.item() == pytest.approx(expected.item(), rel=1e-12)
    nn.utils.clip_grads_with_norm_(params, 0.5, total)
    torch.nn.utils.clip_grads_with_norm_(theirs, 0.5, expected)
    for p, q in zip(params, theirs, strict=True):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-12)


def test_clipping_float32_errors_and_deprecated_alias():
    params = _grad_params(np.float32)
    total = nn.utils.get_total_norm([p.grad for p in params])
    assert total.dtype == np.float32
    nn.utils.clip_grads_with_norm_(params, 0.1, total)
    assert all(p.grad.dtype == np.float32 for p in params)
    assert nn.utils.get_total_norm([p.grad for p in params]).item() == pytest.approx(0.1, rel=1e-4)
    assert nn.utils.get_total_norm([]).item() == 0.0
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.get_total_norm([np.array([np.inf])], error_if_nonfinite=True)
    with pytest.warns(FutureWarning, match="clip_grad_norm_"):
        norm = nn.utils.clip_grad_norm(params, 0.05)
    assert norm.item() == pytest.approx(0.1, rel=1e-4)
    assert nn.utils.get_total_norm([p.grad for p in params]).item() == pytest.approx(0.05, rel=1e-4)


def test_fuse_conv_and_linear_with_batch_norm():
    conv, bn = nn.Conv2d(3, 4, 3, rng=0), nn.BatchNorm2d(4)
    bn.running_mean.data[...] = RNG.standard_normal(4)
    bn.running_var.data[...] = RNG.random(4) + 0.5
    bn.weight.data[...] = RNG.standard_normal(4)
    bn.bias.data[...] = RNG.standard_normal(4)
    x = mg.tensor(RNG.standard_normal((2, 3, 6, 6)))
    with pytest.raises(ValueError, match="Fusion only for eval"):
        nn.utils.fuse_conv_bn_eval(conv, bn)
    conv.eval()
    bn.eval()
    fused = nn.utils.fuse_conv_bn_eval(conv, bn)
    assert fused is not conv and isinstance(fused.weight, nn.Parameter)
    np.testing.assert_allclose(fused(x).data, bn(conv(x)).data, rtol=1e-10, atol=1e-12)
    no_bias = nn.Conv2d(3, 4, 3, bias=False, rng=0).eval()
    np.testing.assert_allclose(nn.utils.fuse_conv_bn_eval(no_bias, bn)(x).data, bn(no_bias(x)).data, atol=1e-12)
    transposed = nn.ConvTranspose2d(3, 4, 2, rng=0).eval()
    fused = nn.utils.fuse_conv_bn_eval(transposed, bn, transpose=True)
    np.testing.assert_allclose(fused(x).data, bn(transposed(x)).data, rtol=1e-10, atol=1e-12)
    linear, bn1 = nn.Linear(4, 3, rng=0).eval(), nn.BatchNorm1d(3).eval()
    bn1.running_mean.data[...] = [1.0, -2.0, 0.5]
    fused = nn.utils.fuse_linear_bn_eval(linear, bn1)
    np.testing.assert_allclose(fused(mg.tensor(X)).data, bn1(linear(mg.tensor(X))).data, atol=1e-12)
    with pytest.raises(ValueError, match=r"linear\.out_features must equal bn\.num_features"):
        nn.utils.fuse_linear_bn_eval(linear, nn.BatchNorm1d(5).eval())
    _, b = nn.utils.fuse_linear_bn_weights(linear.weight, None, bn1.running_mean, bn1.running_var, 1e-5, None, None)
    np.testing.assert_allclose(b.data, -bn1.running_mean.data / np.sqrt(1 + 1e-5))


def test_skip_init():
    layer = nn.utils.skip_init(nn.Linear, 3, 2, bias=False)
    assert isinstance(layer, nn.Linear) and layer.weight.shape == (2, 3) and layer.bias is None
    with pytest.raises(TypeError, match=r"nn\.Module subclass"):
        nn.utils.skip_init(len, 3)


# -- init ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, groups", [((4, 4, 3), 1), ((6, 2, 3, 3), 3), ((2, 3, 2, 3, 3), 1), ((4, 2, 5), 2)])
def test_dirac_matches_torch_and_passes_the_input_through(shape, groups):
    torch = pytest.importorskip("torch")
    weight = nn.Parameter(np.ones(shape))
    nn.init.dirac_(weight, groups)
    expected = torch.nn.init.dirac_(torch.empty(shape, dtype=torch.float64), groups)
    np.testing.assert_array_equal(weight.data, expected.numpy())


def test_dirac_identity_sparse_and_errors():
    weight = nn.Parameter(np.ones((3, 3, 5)))
    nn.init.dirac_(weight)
    x = mg.tensor(RNG.standard_normal((2, 3, 8)))
    np.testing.assert_allclose(F.conv1d(x, weight, padding=2).data, x.data)
    with pytest.raises(ValueError, match="3, 4, or 5 dimensions"):
        nn.init.dirac_(nn.Parameter(np.ones((3, 3))))
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.init.dirac_(nn.Parameter(np.ones((3, 3, 3))), 2)
    weight = nn.Parameter(np.ones((10, 6), dtype=np.float32))
    nn.init.sparse_(weight, 0.3, std=0.5, rng=0)
    assert weight.dtype == np.float32
    assert ((weight.data == 0).sum(axis=0) == 3).all()
    again = nn.Parameter(np.ones((10, 6), dtype=np.float32))
    np.testing.assert_array_equal(nn.init.sparse_(again, 0.3, std=0.5, rng=0).data, weight.data)
    assert 0.2 < weight.data[weight.data != 0].std() < 1.0
    with pytest.raises(ValueError, match="only tensors with 2 dimensions"):
        nn.init.sparse_(nn.Parameter(np.ones(3)), 0.1)
    with pytest.raises(ValueError, match="sparsity must be in"):
        nn.init.sparse_(nn.Parameter(np.ones((3, 3))), 1.5)


@pytest.mark.parametrize("new_style", [True, False])
def test_spectral_norm_of_conv_transpose_uses_axis_1_as_torch(new_style):
    torch = pytest.importorskip("torch")
    tm, model = torch.nn.ConvTranspose2d(3, 4, 2).double(), nn.ConvTranspose2d(3, 4, 2)
    _copy_from_torch(model, tm)
    if new_style:
        torch.nn.utils.parametrizations.spectral_norm(tm)
        P.spectral_norm(model)
    else:
        torch.nn.utils.spectral_norm(tm)
        nn.utils.spectral_norm(model)
    _copy_from_torch(model, tm)
    _same_values_and_grads(model, tm, RNG.standard_normal((2, 3, 4, 4)))


def test_parametrized_weights_have_second_order_gradients_and_buffers_can_be_parametrized():
    layer = P.weight_norm(nn.Linear(3, 2, rng=0))

    def input_gradient_norm(g, v):
        out = mg.func.functional_call(layer, {"parametrizations.weight.original0": g,
                                              "parametrizations.weight.original1": v}, (x,))
        (grad,) = mg.grad(out.sum(), [x], create_graph=True)
        return (grad ** 2).sum()

    x = mg.tensor(RNG.standard_normal((2, 3)), requires_grad=True)
    originals = [mg.tensor(t.data.copy(), requires_grad=True) for t in layer.parametrizations.weight.originals()]
    assert mg.gradcheck(input_gradient_norm, originals)

    class Twice(nn.Module):
        def forward(self, t):
            return 2 * t

    bn = parametrize.register_parametrization(nn.BatchNorm1d(3), "running_var", Twice())
    assert "parametrizations.running_var.original" in bn.state_dict()
    np.testing.assert_array_equal(bn.running_var.data, [2.0, 2.0, 2.0])
    with pytest.raises(KeyError, match="already exists"):
        layer.weight = nn.Parameter(np.zeros((2, 3)))
