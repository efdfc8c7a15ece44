"""Layers and training utilities for custom models: ModuleList, ModuleDict, buffers,
LayerNorm, BatchNorm1d, Embedding (modules and ``F`` forms), ``nn.utils`` gradient
clipping, and optimizer checkpoints through ``nn.save``/``nn.load`` with a bit-identical
resume. Gradients against finite differences (first and second order) and, when
PyTorch is installed, everything against ``torch.nn`` with copied weights."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from conftest import numeric_grad
from hypothesis import given, settings
from hypothesis import strategies as st

import microgradnp as mg
from microgradnp import nn
from microgradnp.nn import functional as F
from microgradnp.nn.serialization import METADATA_KEY
from microgradnp.nn.utils import clip_grad_norm_, clip_grad_value_


def _torch():
    return pytest.importorskip("torch")


def _second_order_check(fn, x):
    """Second order: the gradient of ``sum(w * fn(x))`` is itself gradient-checked."""
    w = np.random.default_rng(7).standard_normal(fn(x).shape)

    def gradient(x_):
        (g,) = mg.grad((fn(x_) * mg.tensor(w)).sum(), x_, create_graph=True)
        return g

    assert mg.gradcheck(gradient, [x])


# -- ModuleList / ModuleDict -------------------------------------------------------------------
def _linears(n):
    return [nn.Linear(2, 2, rng=i) for i in range(n)]


def test_module_list_registers_parameters_and_state_dict_keys_as_torch():
    torch = _torch()
    ours = nn.ModuleList(_linears(2))
    ours.append(nn.Linear(2, 3, rng=5))
    ours.extend([nn.Linear(3, 1, rng=6)])
    ours.insert(1, nn.Linear(2, 2, bias=False, rng=7))
    theirs = torch.nn.ModuleList([torch.nn.Linear(2, 2) for _ in range(2)])
    theirs.append(torch.nn.Linear(2, 3))
    theirs.extend([torch.nn.Linear(3, 1)])
    theirs.insert(1, torch.nn.Linear(2, 2, bias=False))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert len(list(mg.optim.SGD(ours.parameters(), lr=0.1).param_groups[0]["params"])) == 9


def test_module_list_indexing_and_deletion():
    layers = _linears(4)
    ml = nn.ModuleList(layers)
    assert len(ml) == 4 and list(ml) == layers
    assert ml[-1] is layers[3] and ml[0] is layers[0]
    sliced = ml[1:3]
    assert isinstance(sliced, nn.ModuleList) and list(sliced) == layers[1:3]
    assert list(sliced.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    with pytest.raises(IndexError, match="out of range"):
        ml[4]
    with pytest.raises(IndexError, match="out of range"):
        ml[-5]
    new = nn.Linear(2, 2, rng=9)
    ml[-2] = new
    assert ml[2] is new and ml._modules["2"] is new and ml.__dict__["2"] is new
    with pytest.raises(TypeError):
        ml[0] = "not a module"
    del ml[0]
    assert list(ml) == [layers[1], new, layers[3]]
    assert list(ml._modules) == ["0", "1", "2"]
    assert ml[0] is layers[1] and getattr(ml, "0") is layers[1] and not hasattr(ml, "3")
    del ml[::2]
    assert list(ml) == [new] and list(ml.state_dict()) == ["0.weight", "0.bias"]
    assert ml.pop() is new and len(ml) == 0
    ml += _linears(2)
    assert len(ml + nn.ModuleList(_linears(1))) == 3 and len(ml) == 2
    with pytest.raises(TypeError, match="iterable"):
        ml.extend(5)
    with pytest.raises(NotImplementedError):
        ml(mg.zeros(2))


def test_module_list_matches_torch_after_deletions():
    torch = _torch()
    ours, theirs = nn.ModuleList(_linears(5)), torch.nn.ModuleList([torch.nn.Linear(2, 2) for _ in range(5)])
    for container in (ours, theirs):
        del container[1]
        del container[-1]
        container.append(container[0])  # the same layer twice: state_dict lists both names
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]


def test_module_dict_mapping_interface_and_registration():
    torch = _torch()
    a, b, c = _linears(3)
    md = nn.ModuleDict({"enc": a, "dec": b})
    td = torch.nn.ModuleDict({"enc": torch.nn.Linear(2, 2), "dec": torch.nn.Linear(2, 2)})
    md.update([("head", c)])
    td.update([("head", torch.nn.Linear(2, 2))])
    assert list(md.state_dict()) == list(td.state_dict())
    assert list(md.keys()) == ["enc", "dec", "head"] and list(md) == list(md.keys())
    assert list(md.values()) == [a, b, c] and list(md.items())[1] == ("dec", b)
    assert "enc" in md and "nope" not in md and len(md) == 3 and md["dec"] is b and md.enc is a
    assert md.pop("enc") is a and "enc" not in md and not hasattr(md, "enc")
    assert [n for n, _ in md.named_parameters()] == ["dec.weight", "dec.bias", "head.weight", "head.bias"]
    del md["dec"]
    assert list(md) == ["head"]
    with pytest.raises(KeyError):
        del md["dec"]
    with pytest.raises(KeyError, match="already exists"):
        md["train"] = a
    with pytest.raises(KeyError, match=r'contain "\."'):
        md["a.b"] = a
    with pytest.raises(ValueError, match="length 3; 2 is required"):
        md.update([("x", a, b)])
    with pytest.raises(TypeError, match="should be Iterable"):
        md.update([5])
    md.update(nn.ModuleDict({"x": a}))
    assert list(md) == ["head", "x"]
    md.clear()
    assert len(md) == 0 and list(md.state_dict()) == []


def test_containers_inside_a_model_train():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList(nn.Linear(3, 3, rng=i) for i in range(2))
            self.heads = nn.ModuleDict({"out": nn.Linear(3, 1, rng=3)})

        def forward(self, x):
            for block in self.blocks:
                x = block(x).tanh()
            return self.heads["out"](x)

    net = Net()
    assert list(net.state_dict()) == ["blocks.0.weight", "blocks.0.bias", "blocks.1.weight", "blocks.1.bias",
                                      "heads.out.weight", "heads.out.bias"]
    net(mg.ones(4, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())


# -- buffers -------------------------------------------------------------------------------------
def test_register_buffer_in_state_dict_and_load():
    m = nn.Linear(2, 2, rng=0)
    m.register_buffer("count", mg.tensor(3, dtype=np.int64))
    m.register_buffer("scratch", mg.zeros(2), persistent=False)
    assert list(m.state_dict()) == ["weight", "bias", "count"]
    assert [n for n, _ in m.named_buffers()] == ["count", "scratch"]
    assert len(list(m.parameters())) == 2
    other = nn.Linear(2, 2, rng=1)
    other.register_buffer("count", mg.tensor(0, dtype=np.int64))
    other.load_state_dict(m.state_dict())
    assert int(other.count.data) == 3
    m.count = mg.tensor(5, dtype=np.int64)
    assert m.state_dict()["count"] == 5
    with pytest.raises(TypeError, match="buffer"):
        m.count = np.zeros(())
    with pytest.raises(TypeError):
        m.register_buffer("x", np.zeros(2))
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("weight", mg.zeros(2))
    del m.count
    assert "count" not in m.state_dict()
    m.bias = nn.Parameter(np.zeros(2))
    m.register_buffer("b2", mg.zeros(1))
    m.b2 = nn.Parameter(np.ones(1))  # a Parameter replaces a buffer, as in torch
    assert "b2" in dict(m.named_parameters()) and "b2" not in dict(m.named_buffers())


# -- LayerNorm ---------------------------------------------------------------------------------
def _layer_norm_np(x, shape, w, b, eps=1e-5):
    axes = tuple(range(-len(shape), 0))
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


@pytest.mark.parametrize("shape", [(5,), (3, 4)])
def test_layer_norm_gradients_first_and_second_order(shape):
    rng = np.random.default_rng(0)
    x = mg.tensor(rng.standard_normal((2, *shape)), requires_grad=True)
    w = mg.tensor(rng.standard_normal(shape), requires_grad=True)
    b = mg.tensor(rng.standard_normal(shape), requires_grad=True)
    out = F.layer_norm(x, shape, w, b)
    np.testing.assert_allclose(out.data, _layer_norm_np(x.data, shape, w.data, b.data), rtol=1e-12, atol=1e-12)
    assert mg.gradcheck(lambda x_, w_, b_: F.layer_norm(x_, shape, w_, b_), [x, w, b])
    _second_order_check(lambda x_: F.layer_norm(x_, shape, w, b, eps=1e-3), x)


@pytest.mark.parametrize(("shape", "affine", "bias"), [((6,), True, True), ((2, 3), True, False), ((3,), False, True)])
def test_layer_norm_module_against_torch(shape, affine, bias):
    torch = _torch()
    rng = np.random.default_rng(1)
    ours = nn.LayerNorm(shape, eps=1e-4, elementwise_affine=affine, bias=bias, dtype=np.float64)
    theirs = torch.nn.LayerNorm(shape, eps=1e-4, elementwise_affine=affine, bias=bias).double()
    for p in ours.parameters():
        p.data[...] = rng.standard_normal(p.shape)
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = rng.standard_normal((4, *shape)) * 100 + 3  # large magnitudes
    w = rng.standard_normal(x.shape)
    xm, xt = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (ours(xm) * mg.tensor(w)).sum().backward()
    out_t = theirs(xt)
    (out_t * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(ours(xm).data, out_t.detach().numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(xm.grad, xt.grad.numpy(), rtol=1e-8, atol=1e-10)
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-8, atol=1e-10, err_msg=name)
    layer = nn.LayerNorm(3, dtype=np.float32)
    assert layer.weight.dtype == np.float32 and layer(mg.ones(2, 3, dtype=np.float32)).dtype == np.float32


def test_layer_norm_rejects_a_wrong_trailing_shape():
    with pytest.raises(ValueError, match="trailing shape"):
        F.layer_norm(mg.ones(2, 3), (4,))
    with pytest.raises(ValueError, match="trailing shape"):
        nn.LayerNorm((2, 3))(mg.ones(3))


# -- BatchNorm1d ---------------------------------------------------------------------------------
@pytest.mark.parametrize("input_shape", [(6, 3), (4, 3, 5)])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_batch_norm_train_and_eval_against_torch(input_shape, momentum):
    torch = _torch()
    rng = np.random.default_rng(2)
    ours = nn.BatchNorm1d(3, momentum=momentum, dtype=np.float64)
    theirs = torch.nn.BatchNorm1d(3, momentum=momentum).double()
    ours.weight.data[...] = rng.standard_normal(3)
    ours.bias.data[...] = rng.standard_normal(3)
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    for step in range(4):
        ours.train(step != 2)
        theirs.train(step != 2)
        x = rng.standard_normal(input_shape) * 3 + step
        w = rng.standard_normal(input_shape)
        xm, xt = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        out_m, out_t = ours(xm), theirs(xt)
        (out_m * mg.tensor(w)).sum().backward()
        (out_t * torch.tensor(w)).sum().backward()
        np.testing.assert_allclose(out_m.data, out_t.detach().numpy(), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(xm.grad, xt.grad.numpy(), rtol=1e-8, atol=1e-10)
        for name, value in theirs.state_dict().items():
            np.testing.assert_allclose(ours.state_dict()[name], value.numpy(), rtol=1e-12, err_msg=name)
        for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
            np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-8, atol=1e-10, err_msg=name)
    assert ours.num_batches_tracked.data == 3 and ours.num_batches_tracked.dtype == np.int64


def test_batch_norm_without_running_stats_and_affine_against_torch():
    torch = _torch()
    x = np.random.default_rng(3).standard_normal((5, 2, 3))
    ours = nn.BatchNorm1d(2, affine=False, track_running_stats=False, dtype=np.float64).eval()
    theirs = torch.nn.BatchNorm1d(2, affine=False, track_running_stats=False).double().eval()
    assert list(ours.state_dict()) == list(theirs.state_dict()) == []
    np.testing.assert_allclose(ours(mg.tensor(x)).data, theirs(torch.tensor(x)).numpy(), rtol=1e-10, atol=1e-12)


def test_batch_norm_gradients_first_and_second_order():
    rng = np.random.default_rng(4)
    x = mg.tensor(rng.standard_normal((4, 3, 2)), requires_grad=True)
    w = mg.tensor(rng.standard_normal(3), requires_grad=True)
    b = mg.tensor(rng.standard_normal(3), requires_grad=True)
    assert mg.gradcheck(lambda x_, w_, b_: F.batch_norm(x_, None, None, w_, b_, training=True), [x, w, b])
    _second_order_check(lambda x_: F.batch_norm(x_, None, None, w, b, training=True, eps=1e-3), x)
    rm, rv = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    assert mg.gradcheck(lambda x_, w_: F.batch_norm(x_, rm, rv, w_, b, training=False), [x, w])


def test_batch_norm_errors_and_compile_replays_the_running_statistics():
    bn = nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(mg.ones(1, 3))
    with pytest.raises(ValueError, match="2D or 3D"):
        bn(mg.ones(2, 3, 4, 5))
    with pytest.raises(ValueError, match="3 channels"):
        F.batch_norm(mg.ones(2, 3), np.zeros(4), np.ones(4))
    bn = nn.BatchNorm1d(2, dtype=np.float64)
    reference = copy.deepcopy(bn)
    step = mg.compile(lambda x: bn(x).sum().backward())
    xs = [np.random.default_rng(i).standard_normal((4, 2)) for i in range(3)]
    for x in xs:
        step(mg.tensor(x))
    for x in xs:
        reference(mg.tensor(x)).sum().backward()
    assert step.traces == 1 and step._eager_reason is None
    np.testing.assert_array_equal(bn.running_mean.data, reference.running_mean.data)
    np.testing.assert_array_equal(bn.running_var.data, reference.running_var.data)
    assert bn.num_batches_tracked.data == 3
    np.testing.assert_array_equal(bn.weight.grad, reference.weight.grad)


def test_batch_norm_eval_under_compile_reads_the_current_running_stats():
    bn = nn.BatchNorm1d(2).eval()
    fast = mg.compile(lambda x: bn(x).sum().backward())
    x = mg.tensor(np.random.default_rng(0).standard_normal((3, 2)))

    def grads(run):
        bn.zero_grad()
        run()
        return bn.weight.grad.copy()

    grads(lambda: fast(x))
    bn.load_state_dict({**bn.state_dict(), "running_mean": np.array([0.5, 2.0]), "running_var": np.array([2.0, 3.0])})
    np.testing.assert_array_equal(grads(lambda: fast(x)), grads(lambda: bn(x).sum().backward()))
    assert fast.traces == 1


# -- Embedding -----------------------------------------------------------------------------------
def test_embedding_against_torch_with_padding_and_repeats():
    torch = _torch()
    ours = nn.Embedding(6, 3, padding_idx=-2, dtype=np.float64, rng=0)
    assert ours.padding_idx == 4 and np.all(ours.weight.data[4] == 0)
    ours.weight.data[4] = 1.5  # the padding row is returned as it is, but never trained
    theirs = torch.nn.Embedding(6, 3, padding_idx=4).double()
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    idx = np.array([[4, 2, 2], [0, 4, 5]])
    w = np.random.default_rng(5).standard_normal((2, 3, 3))
    out_m, out_t = ours(idx), theirs(torch.tensor(idx))
    (out_m * mg.tensor(w)).sum().backward()
    (out_t * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(out_m.data, out_t.detach().numpy())
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-12)
    assert np.all(ours.weight.grad[4] == 0) and np.all(ours.weight.grad[1] == 0)
    np.testing.assert_allclose(ours.weight.grad[2], w[0, 1] + w[0, 2])
    assert nn.Embedding(3, 2)(np.array(1)).shape == (2,)


def test_embedding_under_compile_matches_eager():
    eager, compiled = nn.Embedding(5, 2, padding_idx=0, rng=2), nn.Embedding(5, 2, padding_idx=0, rng=2)

    def step(model, idx):
        model.zero_grad()
        (model(idx) ** 2).sum().backward()
        return model.weight.grad.copy()

    fast = mg.compile(lambda idx: (compiled(idx) ** 2).sum().backward())
    for idx in (np.array([1, 2, 2]), np.array([0, 0, 4]), np.array([3, 0, 1])):
        compiled.zero_grad()
        fast(idx)
        np.testing.assert_array_equal(compiled.weight.grad, step(eager, idx))
    assert fast.traces == 1  # replayed, not re-traced
    with pytest.raises(IndexError, match="out of range"):
        fast(np.array([1, -1, 2]))


def test_embedding_init_is_standard_normal_and_errors():
    table = nn.Embedding(2000, 5, rng=1).weight.data
    assert table.dtype == mg.get_default_dtype() and nn.Embedding(2, 2, dtype=np.float32).weight.dtype == np.float32
    assert abs(table.mean()) < 0.02 and abs(table.std() - 1) < 0.02
    with pytest.raises(IndexError, match="out of range"):
        F.embedding(np.array([3]), mg.ones(3, 2))
    with pytest.raises(TypeError, match=r"integers, got dtype float64 .* pass t.long\(\)"):
        nn.Embedding(3, 2)(mg.tensor([[0, 2]]))  # mg.tensor made the whole numbers floats
    with pytest.raises(IndexError, match="padding_idx"):
        nn.Embedding(3, 2, padding_idx=3)


def test_embedding_gradients_first_and_second_order():
    weight = mg.tensor(np.random.default_rng(6).standard_normal((5, 2)), requires_grad=True)
    idx = np.array([0, 3, 3, 1])
    assert mg.gradcheck(lambda w_: F.embedding(idx, w_) ** 2, [weight])
    # With a padding row: finite differences agree on every other row; that row gets 0, as torch.
    (g,) = mg.grad((F.embedding(idx, weight, padding_idx=3) ** 2).sum(), weight)
    numeric = numeric_grad(lambda w_: w_[idx] ** 2, [weight.data], 0)
    np.testing.assert_allclose(np.delete(g.data, 3, axis=0), np.delete(numeric, 3, axis=0), rtol=1e-6)
    assert np.all(g.data[3] == 0) and np.any(numeric[3] != 0)
    _second_order_check(lambda w_: F.embedding(idx, w_, padding_idx=3) ** 3, weight)
    # third order goes through the gather primitive's backward
    (g1,) = mg.grad((F.embedding(idx, weight, padding_idx=3) ** 4).sum(), weight, create_graph=True)
    (g2,) = mg.grad(g1.sum(), weight, create_graph=True)
    (g3,) = mg.grad(g2.sum(), weight)
    counts = np.bincount(idx, minlength=5)[:, None] * (np.arange(5) != 3)[:, None]
    np.testing.assert_allclose(g3.data, 24 * weight.data * counts)
    (h,) = mg.grad(mg.grad((F.embedding(idx, weight, padding_idx=3) ** 3).sum(), weight, create_graph=True)[0].sum(),
                   weight)
    np.testing.assert_allclose(h.data, np.where(np.arange(5)[:, None] == 3, 0, 6 * weight.data * np.bincount(
        idx, minlength=5)[:, None]))


# -- gradient clipping ---------------------------------------------------------------------------
def _with_grads(rng, dtype=np.float64):
    params = [mg.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True) for s in ((3, 2), (4,), ())]
    for p in params:
        p.grad = np.asarray(rng.standard_normal(p.shape) * 3, dtype=dtype)
    params.append(mg.tensor(np.zeros(2, dtype=dtype), requires_grad=True))  # no grad: skipped
    return params


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_against_torch(norm_type, max_norm):
    torch = _torch()
    params = _with_grads(np.random.default_rng(8))
    tensors = [torch.tensor(p.data, requires_grad=True) for p in params]
    for p, t in zip(params, tensors):
        if p.grad is not None:
            t.grad = torch.tensor(p.grad)
    total = clip_grad_norm_(params, max_norm, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_(tensors, max_norm, norm_type=norm_type)
    assert isinstance(total, mg.Tensor) and total.shape == ()
    np.testing.assert_allclose(total.data, expected.numpy(), rtol=1e-12)
    for p, t in zip(params, tensors):
        if p.grad is None:
            assert t.grad is None
        else:
            np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12)


def test_clip_grad_norm_edge_cases():
    torch = _torch()
    params = _with_grads(np.random.default_rng(9), np.float32)
    total = clip_grad_norm_(iter(params), 1.0)
    assert total.dtype == np.float32 and params[0].grad.dtype == np.float32
    assert np.linalg.norm(np.concatenate([p.grad.ravel() for p in params[:3]])) <= 1.0 + 1e-5
    assert clip_grad_norm_([mg.zeros(2, requires_grad=True)], 1.0).item() == 0
    single = mg.tensor([3.0, 4.0], requires_grad=True, dtype=np.float32)
    single.grad = np.array([3.0, 4.0], dtype=np.float32)
    assert clip_grad_norm_(single, 10.0).item() == 5.0
    np.testing.assert_array_equal(single.grad, [3.0, 4.0])
    single.grad = np.array([np.inf, 1.0], dtype=np.float32)
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(single, 1.0, error_if_nonfinite=True)
    t = torch.tensor([0.0, 0.0], requires_grad=True)
    t.grad = torch.tensor([np.inf, 1.0])
    expected = torch.nn.utils.clip_grad_norm_([t], 1.0)
    assert clip_grad_norm_(single, 1.0).item() == expected.item()
    np.testing.assert_array_equal(single.grad, t.grad.numpy())
    with pytest.raises(TypeError):
        clip_grad_norm_(5, 1.0)


def test_clip_grad_value_against_torch():
    torch = _torch()
    params = _with_grads(np.random.default_rng(10))
    tensors = [torch.tensor(p.data) for p in params]
    for p, t in zip(params, tensors):
        t.grad = None if p.grad is None else torch.tensor(p.grad)
    assert clip_grad_value_(params, 1.5) is None
    torch.nn.utils.clip_grad_value_(tensors, 1.5)
    for p, t in zip(params, tensors):
        assert (p.grad is None) == (t.grad is None)
        if p.grad is not None:
            np.testing.assert_array_equal(p.grad, t.grad.numpy())


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-10, 10), min_size=1, max_size=6), st.floats(0.01, 20))
def test_clip_grad_norm_bounds_the_norm_and_keeps_the_direction(values, max_norm):
    p = mg.tensor(np.zeros(len(values)), requires_grad=True)
    original = np.array(values)
    p.grad = original.copy()
    total = clip_grad_norm_([p], max_norm).item()
    assert np.isclose(total, np.linalg.norm(original))
    assert np.linalg.norm(p.grad) <= max_norm * (1 + 1e-9) or np.allclose(p.grad, original)
    np.testing.assert_allclose(p.grad, original * min(1.0, max_norm / (total + 1e-6)))


# -- optimizer checkpoints -----------------------------------------------------------------------
def _model_and_data():
    X = np.random.default_rng(11).standard_normal((32, 2)).astype(np.float32)
    y = (X[:, :1] * X[:, 1:] > 0).astype(np.float32)
    return nn.MLP(2, (8,), 1, dtype=np.float32, rng=3), X, y


def _train(model, optimizer, X, y, steps, start=0):
    for i in range(start, start + steps):
        batch = slice((i * 8) % 32, (i * 8) % 32 + 8)
        optimizer.zero_grad()
        loss = F.binary_cross_entropy(model(mg.tensor(X[batch])), mg.tensor(y[batch]))
        loss.backward()
        optimizer.step()


@pytest.mark.parametrize("make", [
    lambda ps: mg.optim.SGD(ps, lr=0.3, momentum=0.9, nesterov=True, weight_decay=1e-3),
    lambda ps: mg.optim.Adam(ps, lr=0.01, amsgrad=True),
    lambda ps: mg.optim.AdamW([{"params": ps[:2], "lr": 0.02}, {"params": ps[2:]}], lr=0.01),
])
def test_resume_from_a_checkpoint_is_bit_identical(tmp_path, make):
    model, X, y = _model_and_data()
    optimizer = make(list(model.parameters()))
    _train(model, optimizer, X, y, 5)
    nn.save(model, tmp_path / "model.npz")
    nn.save(optimizer.state_dict(), tmp_path / "optimizer.npz")
    _train(model, optimizer, X, y, 6, start=5)  # the uninterrupted run

    resumed, _, _ = _model_and_data()
    resumed_optimizer = make(list(resumed.parameters()))
    nn.load(tmp_path / "model.npz", into=resumed)
    resumed_optimizer.load_state_dict(nn.load(tmp_path / "optimizer.npz"))
    _train(resumed, resumed_optimizer, X, y, 6, start=5)
    for (name, p), q in zip(model.named_parameters(), resumed.parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)
    assert json.dumps(_plain(optimizer.state_dict())) == json.dumps(_plain(resumed_optimizer.state_dict()))


def _plain(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def test_optimizer_state_round_trip_keeps_types(tmp_path):
    model, X, y = _model_and_data()
    optimizer = mg.optim.Adam(model.parameters(), lr=0.01)
    _train(model, optimizer, X, y, 2)
    saved = optimizer.state_dict()
    nn.save(saved, tmp_path / "opt")
    loaded = nn.load(tmp_path / "opt")
    assert loaded["param_groups"] == saved["param_groups"]
    assert loaded["param_groups"][0]["betas"] == (0.9, 0.999)
    assert list(loaded["state"]) == list(saved["state"]) == [0, 1, 2, 3]
    for index, entries in saved["state"].items():
        assert loaded["state"][index]["step"] == entries["step"] and type(loaded["state"][index]["step"]) is int
        for key in ("exp_avg", "exp_avg_sq"):
            assert loaded["state"][index][key].dtype == np.float32
            np.testing.assert_array_equal(loaded["state"][index][key], entries[key])
    fresh = mg.optim.Adam(nn.MLP(2, (8,), 1, dtype=np.float32).parameters())
    nn.load(tmp_path / "opt", into=fresh)
    assert fresh.param_groups[0]["lr"] == 0.01 and fresh.state_dict()["state"][0]["step"] == 2
    # one checkpoint for everything, as torch.save({...})
    everything = {"model": model.state_dict(), "optimizer": saved, "epoch": 7, "note": None,
                  "scale": np.float32(0.5)}
    nn.save(everything, tmp_path / "all.npz")
    back = nn.load(tmp_path / "all.npz")
    assert back["epoch"] == 7 and back["note"] is None and type(back["scale"]) is np.float32
    assert list(back["model"]) == list(model.state_dict())
    with np.load(tmp_path / "all.npz") as contents:  # a plain .npz, entries by path
        assert "optimizer.state.0.exp_avg" in contents.files and "model.fc1.weight" in contents.files


def test_mismatched_or_corrupt_optimizer_checkpoints_raise_one_clear_error(tmp_path):
    model, X, y = _model_and_data()
    optimizer = mg.optim.Adam(model.parameters())
    _train(model, optimizer, X, y, 1)
    path = tmp_path / "opt.npz"
    nn.save(optimizer.state_dict(), path)
    with pytest.raises(ValueError, match="lacks the option") as error:
        nn.load(path, into=mg.optim.SGD(model.parameters(), lr=0.1))
    assert "opt.npz" in "".join(getattr(error.value, "__notes__", []))
    other = nn.MLP(2, (5,), 1)
    with pytest.raises(ValueError, match="shape"):
        mg.optim.Adam(other.parameters()).load_state_dict(nn.load(path))
    with pytest.raises(ValueError, match="parameter group"):
        mg.optim.Adam(list(model.parameters())[:2]).load_state_dict(nn.load(path))
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        mg.optim.Adam(model.parameters()).load_state_dict(nn.load(nn.save(model, tmp_path / "m") or tmp_path / "m"))
    with pytest.raises(ValueError, match="must map parameter indices"):
        mg.optim.Adam(model.parameters()).load_state_dict({"state": [1], "param_groups": [{}]})
    # corrupt files
    data = path.read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a valid microgradnp checkpoint"):
        nn.load(tmp_path / "cut.npz")
    with np.load(path) as contents:
        entries = {name: contents[name] for name in contents.files}
    metadata = json.loads(str(entries[METADATA_KEY]))
    for broken in ({"array": "missing", "scalar": False}, {"weird": 1}):
        metadata["structure"] = broken
        entries[METADATA_KEY] = np.array(json.dumps(metadata))
        np.savez(tmp_path / "bad.npz", **entries)
        with pytest.raises(ValueError, match="not a valid microgradnp checkpoint"):
            nn.load(tmp_path / "bad.npz")
    with pytest.raises(TypeError, match="never pickled"):
        nn.save({"state": {0: {"f": lambda: 0}}, "param_groups": []}, tmp_path / "x")
    with pytest.raises(TypeError, match="into"):
        nn.load(path, into="optimizer")


def test_flat_state_dicts_keep_format_version_1(tmp_path):
    model = nn.MLP(2, (3,), 1)
    nn.save(model.state_dict(), tmp_path / "flat")
    with np.load(tmp_path / "flat") as contents:
        metadata = json.loads(str(contents[METADATA_KEY]))
    assert metadata["format_version"] == 1 and "structure" not in metadata
    bn = nn.BatchNorm1d(3)
    bn(mg.tensor(np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)))
    nn.save(bn, tmp_path / "bn")
    fresh = nn.BatchNorm1d(3)
    nn.load(tmp_path / "bn", into=fresh)
    np.testing.assert_array_equal(fresh.running_var.data, bn.running_var.data)
    assert fresh.num_batches_tracked.data == 1


# -- BatchNorm2d, GroupNorm, PReLU, adaptive average pooling ----------------------------------
def _copy_parameters(ours, theirs, torch):
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        values = np.random.default_rng(len(name)).uniform(0.5, 1.5, p.data.shape)
        p.data[...] = values
        with torch.no_grad():
            q.copy_(torch.tensor(values))


@pytest.mark.parametrize(("make", "shape"), [
    (lambda nn_: nn_.BatchNorm2d(6), (3, 6, 4, 5)),
    (lambda nn_: nn_.BatchNorm3d(2, momentum=None), (2, 2, 3, 2, 2)),
    (lambda nn_: nn_.GroupNorm(3, 6), (3, 6, 4, 5)),
    (lambda nn_: nn_.GroupNorm(2, 4, affine=False), (2, 4, 7)),
    (lambda nn_: nn_.GroupNorm(1, 3), (5, 3)),
    (lambda nn_: nn_.PReLU(), (4, 3, 5)),
    (lambda nn_: nn_.PReLU(3), (2, 3, 4, 4)),
    (lambda nn_: nn_.AdaptiveAvgPool1d(4), (2, 3, 10)),
    (lambda nn_: nn_.AdaptiveAvgPool2d((3, 4)), (2, 3, 7, 9)),
    (lambda nn_: nn_.AdaptiveAvgPool2d(1), (2, 3, 5, 6)),
    (lambda nn_: nn_.AdaptiveAvgPool2d((None, 2)), (3, 7, 9)),
    (lambda nn_: nn_.AdaptiveAvgPool2d((7, 8)), (2, 3, 5, 5)),
], ids=["bn2d", "bn3d-cumulative", "groupnorm", "groupnorm-no-affine", "groupnorm-1-group", "prelu", "prelu-channels",
        "adaptive1d", "adaptive2d", "global-average", "adaptive2d-keep-axis", "adaptive2d-upsample"])
def test_more_layers_match_pytorch_in_train_and_eval(torch, make, shape):
    ours, theirs = make(nn), make(torch.nn).double()
    _copy_parameters(ours, theirs, torch)
    rng = np.random.default_rng(2)
    for training in (True, False, True):
        ours.train(training)
        theirs.train(training)
        values = rng.standard_normal(shape)
        x, tx = mg.tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)
        out, expected = ours(x), theirs(tx)
        np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
        upstream = rng.standard_normal(out.shape)
        out.backward(upstream)
        expected.backward(torch.tensor(upstream))
        np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-9, atol=1e-12)
        for p, q in zip(ours.parameters(), theirs.parameters()):
            np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-9, atol=1e-12)
            p.grad, q.grad = None, None
        for (name, buffer), (_, reference) in zip(ours.named_buffers(), theirs.named_buffers()):
            np.testing.assert_allclose(buffer.data, reference.numpy(), rtol=1e-12, err_msg=name)


def test_group_norm_prelu_and_adaptive_pooling_gradients_and_errors():
    x = mg.tensor(np.random.default_rng(3).standard_normal((2, 4, 5)), requires_grad=True)
    weight = mg.tensor(np.array([0.5, 1.5, -1.0, 2.0]), requires_grad=True)
    assert mg.gradcheck(lambda t, w: F.group_norm(t, 2, w) ** 2, (x, weight))
    assert mg.gradcheck(lambda t, w: F.prelu(t, w) ** 2, (x, weight))
    assert mg.gradcheck(lambda t: F.adaptive_avg_pool1d(t, 3) ** 2, (x,))
    np.testing.assert_allclose(F.adaptive_avg_pool1d(x, 1).data[..., 0], x.data.mean(axis=2))
    with pytest.raises(ValueError, match="divides the 4 channels"):
        F.group_norm(x, 3)
    with pytest.raises(ValueError, match="divides num_channels"):
        nn.GroupNorm(3, 4)
    with pytest.raises(ValueError, match="4 slopes but the input of shape"):
        F.prelu(mg.ones(2, 3), weight)
    with pytest.raises(ValueError, match="non-negative"):
        F.adaptive_avg_pool2d(mg.ones(1, 1, 4, 4), (2, -1))
    with pytest.raises(ValueError, match="expected 4D input"):
        nn.BatchNorm2d(4)(x)
