"""Lazy convolutions and normalizations (``microgradnp/nn/lazy.py``), ``SyncBatchNorm``
(``microgradnp/nn/sync_batchnorm.py``) and ``divisor_override`` of ``avg_pool2d`` /
``avg_pool3d``: lazy == eager with the same seed, and values, gradients and buffers against
PyTorch (float64) when it is installed."""

from __future__ import annotations

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import nn
from microgradnp.nn import functional as F

RNG = np.random.default_rng(7)
X2 = RNG.standard_normal((6, 3))
X3 = RNG.standard_normal((2, 3, 9))
X4 = RNG.standard_normal((2, 3, 6, 7))
X5 = RNG.standard_normal((2, 3, 5, 6, 4))

# (lazy class name, eager class name, lazy arguments, input)
CONVS = [
    ("LazyConv1d", "Conv1d", dict(out_channels=4, kernel_size=3, padding=1), X3),
    ("LazyConv2d", "Conv2d", dict(out_channels=6, kernel_size=(2, 3), stride=2, groups=3, padding_mode="reflect",
                                  padding=1), X4),
    ("LazyConv3d", "Conv3d", dict(out_channels=2, kernel_size=2, dilation=(1, 2, 1), bias=False), X5),
    ("LazyConvTranspose1d", "ConvTranspose1d", dict(out_channels=4, kernel_size=3, stride=2, output_padding=1),
     X3),
    ("LazyConvTranspose2d", "ConvTranspose2d", dict(out_channels=6, kernel_size=2, groups=3, dilation=2), X4),
    ("LazyConvTranspose3d", "ConvTranspose3d", dict(out_channels=2, kernel_size=(1, 2, 2), padding=(0, 1, 0)),
     X5),
]
NORMS = [
    ("LazyBatchNorm1d", "BatchNorm1d", {}, X2),
    ("LazyBatchNorm1d", "BatchNorm1d", dict(momentum=None, affine=False), X3),
    ("LazyBatchNorm2d", "BatchNorm2d", dict(eps=1e-3, bias=False), X4),
    ("LazyBatchNorm3d", "BatchNorm3d", dict(track_running_stats=False), X5),
    ("LazyInstanceNorm1d", "InstanceNorm1d", {}, X3),
    ("LazyInstanceNorm2d", "InstanceNorm2d", dict(affine=False, momentum=0.3), X4),
    ("LazyInstanceNorm3d", "InstanceNorm3d", dict(track_running_stats=False), X5),
]


def _weighted_grads(module, x, weights):
    """The output, and the gradients of ``sum(out * weights)`` for the input and each parameter."""
    inp = mg.tensor(x, requires_grad=True)
    out = module(inp)
    (out * mg.tensor(weights)).sum().backward()
    return out.data, inp.grad, {name: p.grad for name, p in module.named_parameters()}


def _matches_torch(torch, module, theirs, x, weights):
    """``module`` and PyTorch's ``theirs`` give the same output and gradients for ``sum(out * weights)``."""
    out, grad_x, grads = _weighted_grads(module, x, weights)
    inp = torch.tensor(x, requires_grad=True)
    expected = theirs(inp)
    (expected * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(out, expected.detach().numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(grad_x, inp.grad.numpy(), rtol=1e-9, atol=1e-10)
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(grads[name], p.grad.numpy(), rtol=1e-9, atol=1e-10)


# -- lazy modules, torch-independent -----------------------------------------------------------------
@pytest.mark.parametrize(("lazy_name", "eager_name", "kwargs", "x"), CONVS, ids=[c[0] for c in CONVS])
def test_lazy_conv_is_the_eager_layer_with_the_same_seed(lazy_name, eager_name, kwargs, x):
    lazy = getattr(nn, lazy_name)(**kwargs, rng=3)
    assert lazy.has_uninitialized_params() and lazy.in_channels == 0
    assert lazy.cls_to_become is getattr(nn, eager_name)
    assert all(p.shape == (0,) for p in lazy.parameters())
    assert {k: v.shape for k, v in lazy.state_dict().items()} == {
        k: (0,) for k in (["weight", "bias"] if kwargs.get("bias", True) else ["weight"])}
    parameters = dict(lazy.named_parameters())
    optimizer = mg.optim.SGD(lazy.parameters(), lr=0.1)  # built before the first call
    eager = getattr(nn, eager_name)(x.shape[1], **kwargs, rng=3)
    weights = np.random.default_rng(0).standard_normal(eager(mg.tensor(x)).shape)
    out, grad_x, grads = _weighted_grads(lazy, x, weights)
    assert type(lazy) is getattr(nn, eager_name) and lazy.in_channels == x.shape[1]
    assert not hasattr(lazy, "has_uninitialized_params") and repr(lazy) == repr(eager)
    assert all(p is parameters[name] for name, p in lazy.named_parameters())
    for name, p in eager.named_parameters():
        np.testing.assert_array_equal(getattr(lazy, name).data, p.data)
    eager_out, eager_grad_x, eager_grads = _weighted_grads(eager, x, weights)
    np.testing.assert_array_equal(out, eager_out)
    np.testing.assert_array_equal(grad_x, eager_grad_x)
    for name in eager_grads:
        np.testing.assert_array_equal(grads[name], eager_grads[name])
    before = lazy.weight.data.copy()
    optimizer.step()
    assert not np.array_equal(lazy.weight.data, before)  # the optimizer sees the materialised weight
    eager.load_state_dict(lazy.state_dict())  # same keys and shapes as the eager layer


def test_lazy_conv_global_rng_unbatched_dtype_and_errors():
    x = mg.tensor(X4[0])  # unbatched (C, H, W): the channels are axis 0
    mg.manual_seed(11)
    eager = nn.Conv2d(3, 5, 3)
    mg.manual_seed(11)
    lazy = nn.LazyConv2d(5, 3)  # building it does not draw from the global generator
    out = lazy(x)
    np.testing.assert_array_equal(lazy.weight.data, eager.weight.data)
    np.testing.assert_array_equal(out.data, eager(x).data)
    assert lazy.in_channels == 3 and out.shape == (5, 4, 5)
    lazy32 = nn.LazyConvTranspose1d(2, 3, dtype=np.float32, rng=0)
    assert lazy32(mg.tensor(X3.astype(np.float32))).dtype == np.float32 and lazy32.weight.dtype == np.float32
    doubled = nn.LazyConv1d(2, 3, dtype=np.float32, rng=0).double()  # converted before the first call
    assert doubled(mg.tensor(X3)).dtype == np.float64 and doubled.weight.dtype == np.float64
    with pytest.raises(ValueError, match=r"expected 3D \(unbatched\) or 4D \(batched\) input"):
        nn.LazyConv2d(2, 3)(mg.tensor(X3[0]))
    lazy = nn.LazyConv1d(4, 3, groups=2)
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        lazy(mg.tensor(X3))
    assert lazy.has_uninitialized_params()  # a failed first call leaves it lazy
    assert type(lazy) is nn.LazyConv1d and lazy(mg.tensor(X3[:, :2])).shape == (2, 4, 7)
    with pytest.raises(ValueError, match="kernel_size"):
        nn.LazyConv1d(4, 0)  # the settings are checked when it is built, as the eager layer's
    with pytest.raises(ValueError, match="shape"):
        nn.LazyConv1d(4, 3).load_state_dict(nn.Conv1d(3, 4, 3).state_dict())  # load after the first call


@pytest.mark.parametrize(("lazy_name", "eager_name", "kwargs", "x"), NORMS, ids=[n[0] for n in NORMS])
def test_lazy_norm_is_the_eager_layer(lazy_name, eager_name, kwargs, x):
    lazy = getattr(nn, lazy_name)(**kwargs)
    # PyTorch's defaults for every lazy normalization: affine=True, track_running_stats=True
    eager_kwargs = {"affine": True, "track_running_stats": True, **kwargs}
    eager = getattr(nn, eager_name)(x.shape[1], **eager_kwargs)
    assert lazy.num_features == 0 and lazy.has_uninitialized_params()
    assert list(lazy.state_dict()) == list(eager.state_dict())
    assert all(v.shape == (0,) for k, v in lazy.state_dict().items() if k != "num_batches_tracked")
    weights = np.random.default_rng(0).standard_normal(x.shape)
    for _ in range(2):
        out, grad_x, grads = _weighted_grads(lazy, x, weights)
        expected, expected_x, expected_grads = _weighted_grads(eager, x, weights)
        np.testing.assert_array_equal(out, expected)
        np.testing.assert_array_equal(grad_x, expected_x)
        assert grads.keys() == expected_grads.keys()
        for name in grads:
            np.testing.assert_array_equal(grads[name], expected_grads[name])
    assert type(lazy) is getattr(nn, eager_name) and lazy.num_features == x.shape[1]
    for (name, value), (_, expected_value) in zip(lazy.state_dict().items(), eager.state_dict().items(),
                                                  strict=True):
        np.testing.assert_array_equal(value, expected_value, err_msg=name)
    lazy.eval()
    eager.eval()
    np.testing.assert_array_equal(lazy(mg.tensor(x)).data, eager(mg.tensor(x)).data)


def test_lazy_norm_errors_and_unbatched_instance_norm():
    with pytest.raises(ValueError, match=r"expected 4D input \(got 3D input\)"):
        nn.LazyBatchNorm2d()(mg.tensor(X3))
    norm = nn.LazyInstanceNorm1d()
    assert norm(mg.tensor(X3[0])).shape == X3[0].shape and norm.num_features == 3  # (C, L): C is axis 0
    assert nn.LazyBatchNorm1d(dtype=np.float32)(mg.tensor(X2.astype(np.float32))).dtype == np.float32


# -- lazy modules against PyTorch -------------------------------------------------------------------
@pytest.mark.parametrize(("lazy_name", "eager_name", "kwargs", "x"), CONVS + NORMS,
                         ids=[c[0] for c in CONVS + NORMS])
def test_lazy_modules_against_torch(lazy_name, eager_name, kwargs, x):
    torch = pytest.importorskip("torch")
    ours = getattr(nn, lazy_name)(**kwargs)
    theirs = getattr(torch.nn, lazy_name)(**kwargs, dtype=torch.float64)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert ours.affine == theirs.affine if hasattr(theirs, "affine") else True
    assert getattr(ours, "track_running_stats", None) == getattr(theirs, "track_running_stats", None)
    theirs(torch.tensor(x))  # materialise, then start both from PyTorch's values
    ours(mg.tensor(x))
    assert type(ours).__name__ == type(theirs).__name__ == eager_name
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    for name in ("in_channels", "num_features"):
        assert getattr(ours, name, None) == getattr(theirs, name, None)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    weights = np.random.default_rng(2).standard_normal(tuple(theirs(torch.tensor(x)).shape))
    ours(mg.tensor(x))  # the same number of training steps as PyTorch's, for the running statistics
    _matches_torch(torch, ours, theirs, x, weights)
    for name, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[name], value.numpy(), rtol=1e-12, err_msg=name)


# -- SyncBatchNorm ------------------------------------------------------------------------------------
@pytest.mark.parametrize("x", [X2, X3, X4, X5], ids=["2d", "3d", "4d", "5d"])
@pytest.mark.parametrize("kwargs", [{}, dict(momentum=None, eps=1e-3), dict(affine=False, track_running_stats=False)],
                         ids=["default", "cumulative", "plain"])
def test_sync_batch_norm_against_torch(x, kwargs):
    torch = pytest.importorskip("torch")
    ours = nn.SyncBatchNorm(3, **kwargs)
    theirs = torch.nn.SyncBatchNorm(3, **kwargs, dtype=torch.float64)
    assert repr(ours).split(")")[0] == repr(theirs).split(")")[0]
    assert list(ours.state_dict()) == list(theirs.state_dict()) and ours.process_group is None
    weights = np.random.default_rng(3).standard_normal(x.shape)
    for step in range(3):
        if step == 2:
            ours.eval()
            theirs.eval()
        ours.zero_grad()
        _matches_torch(torch, ours, theirs, x * (step + 1), weights)
        for p in theirs.parameters():
            p.grad = None
        for name, value in theirs.state_dict().items():
            np.testing.assert_allclose(ours.state_dict()[name], value.numpy(), rtol=1e-12, err_msg=name)


def test_sync_batch_norm_checks_its_input():
    with pytest.raises(ValueError, match=r"expected at least 2D input \(got 1D input\)"):
        nn.SyncBatchNorm(3)(mg.tensor(X2[0]))
    with pytest.raises(ValueError, match="non-zero"):
        nn.SyncBatchNorm(0)(mg.tensor(np.ones((4, 0))))
    assert nn.SyncBatchNorm(3, dtype=np.float32)(mg.tensor(X4.astype(np.float32))).dtype == np.float32


def test_convert_sync_batchnorm_shares_parameters_buffers_and_mode():
    bn1, bn2 = nn.BatchNorm1d(3, momentum=0.2), nn.BatchNorm2d(3, eps=1e-3, affine=False)
    bn3 = nn.BatchNorm3d(2, bias=False, track_running_stats=False, dtype=np.float32)
    bn1(mg.tensor(X2))  # some state to carry over
    bn2.eval()
    inner = nn.Sequential(bn2, nn.ReLU())
    model = nn.Sequential(nn.Linear(3, 3), bn1, inner, nn.ModuleList([bn3]), nn.LayerNorm(3))
    before = [(name, id(t)) for name, t in [*model.named_parameters(), *model.named_buffers()]]
    state = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(model, process_group="group")
    assert converted is model and model[2] is inner
    syncs = [model[1], inner[0], model[3][0]]
    assert all(type(m) is nn.SyncBatchNorm and m.process_group == "group" for m in syncs)
    assert [(name, id(t)) for name, t in [*model.named_parameters(), *model.named_buffers()]] == before
    assert model[1].weight is bn1.weight and model[1].running_mean is bn1.running_mean
    assert model[1].num_batches_tracked is bn1.num_batches_tracked and model[1].momentum == 0.2
    assert inner[0].eps == 1e-3 and not inner[0].affine and not inner[0].training and model[1].training
    assert model[3][0].bias is None and model[3][0].weight is bn3.weight and model[3][0].running_mean is None
    assert model[3][0].weight.dtype == np.float32 and type(model[4]) is nn.LayerNorm
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, state[k])
    lone = nn.BatchNorm2d(3)
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(lone)
    assert type(converted) is nn.SyncBatchNorm and converted is not lone and converted.weight is lone.weight
    np.testing.assert_array_equal(converted(mg.tensor(X4)).data, nn.BatchNorm2d(3)(mg.tensor(X4)).data)


def test_convert_sync_batchnorm_against_torch():
    torch = pytest.importorskip("torch")
    ours = nn.Sequential(nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3), nn.Sequential(nn.BatchNorm2d(3, affine=False)))
    theirs = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1), torch.nn.BatchNorm2d(3),
                                 torch.nn.Sequential(torch.nn.BatchNorm2d(3, affine=False))).double()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    ours = nn.SyncBatchNorm.convert_sync_batchnorm(ours)
    theirs = torch.nn.SyncBatchNorm.convert_sync_batchnorm(theirs)
    assert [type(m).__name__ for m in ours.modules()] == [type(m).__name__ for m in theirs.modules()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    np.testing.assert_allclose(ours(mg.tensor(X4)).data, theirs(torch.tensor(X4)).detach().numpy(), rtol=1e-9,
                               atol=1e-10)


# -- divisor_override -------------------------------------------------------------------------------
POOLS = [
    (2, dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, divisor_override=5)),
    (2, dict(kernel_size=(2, 3), stride=(2, 2), ceil_mode=True, divisor_override=-3)),
    (2, dict(kernel_size=2, stride=1, padding=1, count_include_pad=False, divisor_override=2)),
    (3, dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, divisor_override=7)),
    (3, dict(kernel_size=(2, 3, 2), padding=(1, 0, 1), ceil_mode=True, count_include_pad=False,
             divisor_override=4)),
]


@pytest.mark.parametrize(("ndim", "kwargs"), POOLS)
@pytest.mark.parametrize("batched", [True, False])
def test_divisor_override_against_torch(ndim, kwargs, batched):
    torch = pytest.importorskip("torch")
    x = (X4 if ndim == 2 else X5)[:, :2]
    x = x if batched else x[0]
    ours_fn, theirs_fn = (F.avg_pool2d, torch.nn.functional.avg_pool2d) if ndim == 2 else (
        F.avg_pool3d, torch.nn.functional.avg_pool3d)
    layers = (nn.AvgPool2d, torch.nn.AvgPool2d) if ndim == 2 else (nn.AvgPool3d, torch.nn.AvgPool3d)
    for ours, theirs in ((lambda a: ours_fn(a, **kwargs), lambda a: theirs_fn(a, **kwargs)),
                         (layers[0](**kwargs), layers[1](**kwargs))):
        inp = mg.tensor(x, requires_grad=True)
        tin = torch.tensor(x, requires_grad=True)
        out, expected = ours(inp), theirs(tin)
        assert out.shape == tuple(expected.shape)
        np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-13)
        weights = np.random.default_rng(4).standard_normal(out.shape)
        out.backward(weights)
        expected.backward(torch.tensor(weights))
        np.testing.assert_allclose(inp.grad, tin.grad.numpy(), rtol=1e-12, atol=1e-13)
    integers = np.random.default_rng(5).integers(-40, 40, x.shape)
    np.testing.assert_array_equal(ours_fn(mg.from_numpy(integers), **kwargs).data,
                                  theirs_fn(torch.from_numpy(integers), **kwargs).numpy())
    x32 = x.astype(np.float32)
    np.testing.assert_allclose(ours_fn(mg.tensor(x32), **kwargs).data,
                               theirs_fn(torch.from_numpy(x32), **kwargs).numpy(), rtol=1e-6, atol=1e-6)
    assert ours_fn(mg.tensor(x32), **kwargs).dtype == np.float32


def test_divisor_override_sums_windows_and_checks_the_divisor():
    x = np.arange(1.0, 17.0).reshape(1, 1, 4, 4)
    # ceil_mode's partial last windows are divided by the override too, padding counting as zeros
    out = F.avg_pool2d(mg.tensor(x), 3, stride=2, padding=1, ceil_mode=True, divisor_override=2)
    padded = np.pad(x[0, 0], 1)  # 6 x 6; windows start at 0, 2, 4 (the last one partial)
    sums = np.array([[padded[i:i + 3, j:j + 3].sum() for j in (0, 2, 4)] for i in (0, 2, 4)])
    assert out.shape == (1, 1, 3, 3)
    np.testing.assert_array_equal(out.data[0, 0], sums / 2)
    assert mg.gradcheck(lambda a: F.avg_pool3d(a, 2, padding=1, ceil_mode=True, divisor_override=3),
                        [mg.tensor(X5[:1, :1, :3, :3, :3], requires_grad=True)])
    np.testing.assert_array_equal(
        nn.AvgPool3d(2, divisor_override=8)(mg.tensor(X5)).data, nn.AvgPool3d(2)(mg.tensor(X5)).data)
    for bad, error in ((0, ValueError), (2.5, TypeError), (True, TypeError)):
        with pytest.raises(error, match="divisor"):
            F.avg_pool2d(mg.tensor(X4), 2, divisor_override=bad)
        with pytest.raises(error, match="divisor"):
            nn.AvgPool3d(2, divisor_override=bad)
    assert nn.AvgPool2d(2, divisor_override=3).divisor_override == 3
