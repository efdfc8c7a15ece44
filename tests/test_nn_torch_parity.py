"""nn layers and nn.functional called as PyTorch's, against PyTorch:
Embedding's max_norm/_weight/from_pretrained, the inplace arguments, F.softmax's PyTorch
signature and implicit dim, F.dropout's argument order, BatchNorm/GroupNorm bias=False."""

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import nn
from microgradnp.nn import functional as F

RNG = np.random.default_rng(11)


def _close(ours, theirs, atol=1e-12):
    np.testing.assert_allclose(np.asarray(getattr(ours, "data", ours)), theirs.detach().numpy(), rtol=1e-12, atol=atol)


def _load(ours, theirs):
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0])
def test_embedding_max_norm_matches_torch(norm_type):
    torch = pytest.importorskip("torch")
    theirs = torch.nn.Embedding(10, 4, max_norm=1.5, norm_type=norm_type).double()
    ours = nn.Embedding(10, 4, max_norm=1.5, norm_type=norm_type, dtype=np.float64)
    _load(ours, theirs)
    x = np.array([[1, 3, 3], [7, 1, 0]])
    out, t_out = ours(x), theirs(torch.tensor(x))
    _close(out, t_out)
    _close(ours.weight, theirs.weight)  # rows looked up were renormalised in place, the others not
    out.backward(np.ones(out.shape))
    t_out.sum().backward()
    _close(ours.weight.grad, theirs.weight.grad)


def test_functional_embedding_max_norm_renorms_the_table_in_place():
    torch = pytest.importorskip("torch")
    w = RNG.standard_normal((6, 3)) * 3
    ours, theirs = mg.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)
    idx = np.array([0, 5, 5])
    _close(F.embedding(idx, ours, max_norm=1.0), torch.nn.functional.embedding(torch.tensor(idx), theirs, max_norm=1.0))
    _close(ours, theirs)


def test_embedding_from_pretrained_and_weight_argument():
    torch = pytest.importorskip("torch")
    w = RNG.standard_normal((5, 3))
    for freeze in (True, False):
        theirs = torch.nn.Embedding.from_pretrained(torch.tensor(w), freeze=freeze, padding_idx=1)
        ours = nn.Embedding.from_pretrained(mg.tensor(w), freeze=freeze, padding_idx=1)
        assert ours.weight.requires_grad == theirs.weight.requires_grad == (not freeze)
        assert ours.padding_idx == theirs.padding_idx
        _close(ours.weight, theirs.weight, atol=0)  # the padding row is kept, as PyTorch
        _close(ours(np.array([1, 4])), theirs(torch.tensor([1, 4])))
    ours, theirs = nn.Embedding(5, 3, _weight=w), torch.nn.Embedding(5, 3, _weight=torch.tensor(w))
    _close(ours.weight, theirs.weight, atol=0)
    assert ours.weight.requires_grad and theirs.weight.requires_grad
    with pytest.raises(ValueError, match="2-dimensional"):
        nn.Embedding.from_pretrained(np.zeros(3))
    with pytest.raises(ValueError, match="_weight"):
        nn.Embedding(4, 3, _weight=w)
    with pytest.raises(NotImplementedError, match="sparse"):
        nn.Embedding(4, 3, sparse=True)


def test_inplace_arguments_write_the_input_as_torch():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x = RNG.standard_normal((2, 3, 4))
    cases = [(nn.ReLU(inplace=True), tf.relu), (nn.ReLU(True), tf.relu),
             (nn.LeakyReLU(0.2, True), lambda t: tf.leaky_relu(t, 0.2)),
             (nn.Dropout(0.5, True).eval(), lambda t: t),
             (lambda m: F.relu(input=m, inplace=True), tf.relu),
             (lambda m: F.leaky_relu(m, 0.2, True), lambda t: tf.leaky_relu(t, 0.2)),
             (lambda m: F.dropout(m, 0.5, False, True), lambda t: t)]
    for ours, theirs in cases:
        before = mg.tensor(x)
        result = ours(before)
        _close(result, theirs(torch.tensor(x)))
        _close(before, theirs(torch.tensor(x)))  # written in place: the input holds the result
    assert repr(nn.ReLU(inplace=True)) == repr(torch.nn.ReLU(inplace=True))
    assert repr(nn.Dropout(0.3)) == repr(torch.nn.Dropout(0.3))
    assert repr(nn.LeakyReLU(0.2, True)) == repr(torch.nn.LeakyReLU(0.2, True))


def test_functional_dropout_takes_inplace_fourth_and_rng_by_keyword():
    a = F.dropout(mg.ones((50,)), 0.5, True, False, rng=3)
    b = F.dropout(mg.ones((50,)), 0.5, True, rng=3)
    np.testing.assert_array_equal(a.data, b.data)
    layer = nn.Dropout(0.5, rng=3)
    np.testing.assert_array_equal(layer(mg.ones((50,))).data, b.data)


@pytest.mark.parametrize("shape", [(3,), (2, 3), (2, 3, 4), (2, 3, 4, 5)])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_torch_signature_and_implicit_dim(shape, name):
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal(shape)
    ours, theirs = getattr(F, name), getattr(torch.nn.functional, name)
    _close(ours(input=mg.tensor(x), dim=0, dtype=np.float32), theirs(input=torch.tensor(x), dim=0, dtype=torch.float32),
           atol=1e-6)
    assert ours(mg.tensor(x), dim=0, dtype=np.float32).dtype == np.float32
    with pytest.warns(UserWarning, match="Implicit dimension"):
        implicit = ours(mg.tensor(x))
    with pytest.warns(UserWarning):
        t_implicit = theirs(torch.tensor(x))
    _close(implicit, t_implicit)  # axis 0 for 1-D and 3-D input, 1 otherwise, as PyTorch
    _close(ours(mg.tensor(x), axis=-1), theirs(torch.tensor(x), dim=-1))
    t = mg.tensor(x, requires_grad=True)
    tt = torch.tensor(x, requires_grad=True)
    up = RNG.standard_normal(shape)
    ours(t, 0).backward(up)
    theirs(tt, 0).backward(torch.tensor(up))
    _close(t.grad, tt.grad)


@pytest.mark.parametrize("make", [lambda m: m.BatchNorm2d(3, bias=False),
                                  lambda m: m.BatchNorm1d(3, affine=False, bias=False),
                                  lambda m: m.GroupNorm(1, 3, bias=False)])
def test_norm_layers_bias_false(make):
    torch = pytest.importorskip("torch")
    theirs, ours = make(torch.nn).double(), make(nn)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    _load(ours, theirs)
    with torch.no_grad():
        for p in theirs.parameters():
            p.uniform_(0.5, 1.5)
    _load(ours, theirs)
    x = RNG.standard_normal((4, 3, 5))
    x = x[..., None] if isinstance(theirs, torch.nn.BatchNorm2d) else x
    t_x, m_x = torch.tensor(x, requires_grad=True), mg.tensor(x, requires_grad=True)
    out, t_out = ours(m_x), theirs(t_x)
    _close(out, t_out, atol=1e-10)
    up = RNG.standard_normal(x.shape)
    out.backward(up)
    t_out.backward(torch.tensor(up))
    _close(m_x.grad, t_x.grad, atol=1e-10)
    for (_, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters(), strict=True):
        _close(p.grad, tp.grad, atol=1e-10)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("padding", [1, 2, "same"])
def test_conv_padding_modes_as_pytorchs(mode, ndim, padding):
    torch = pytest.importorskip("torch")
    kernel = 3 if padding != "same" else 4  # an even kernel: "same" pads one more on the right
    ours_cls, theirs_cls = getattr(nn, f"Conv{ndim}d"), getattr(torch.nn, f"Conv{ndim}d")
    theirs = theirs_cls(2, 3, kernel, padding=padding, padding_mode=mode).double()
    ours = ours_cls(2, 3, kernel, padding=padding, padding_mode=mode)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    data = RNG.normal(size=(2, 2) + (5,) * ndim)
    x, tx = mg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    out, tout = ours(x), theirs(tx)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = RNG.normal(size=out.shape)
    out.backward(g)
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert f"padding_mode={mode}" in repr(ours)
