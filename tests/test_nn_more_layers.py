"""More layers (``microgradnp/nn/more_layers.py``): Conv3d, adaptive 3-D pooling, Softmax2d,
ChannelShuffle, LPPool, MaxUnpool, EmbeddingBag, TripletMarginWithDistanceLoss,
MultiLabelMarginLoss and LazyLinear. Values and gradients against PyTorch (float64) when it is
installed, central finite differences, errors, float32 and ``mg.compile``."""

from __future__ import annotations

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import nn
from microgradnp.nn import functional as F

RNG = np.random.default_rng(1)
X3 = RNG.standard_normal((2, 4, 9))
X4 = RNG.standard_normal((2, 4, 6, 7))
X5 = RNG.standard_normal((2, 2, 5, 6, 4))
POS4 = np.abs(X4) + 0.1


def _check_against_torch(fn, torch_fn, arrays, grads=(0,), tol=1e-10):
    """Same values and gradients (of a random weighting of the output) as PyTorch."""
    torch = pytest.importorskip("torch")
    ours = [mg.tensor(a, requires_grad=i in grads) if np.asarray(a).dtype.kind == "f" else a
            for i, a in enumerate(arrays)]
    theirs = [torch.tensor(a, requires_grad=i in grads) for i, a in enumerate(arrays)]
    out, expected = fn(*ours), torch_fn(*theirs)
    assert out.shape == tuple(expected.shape)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=tol, atol=tol)
    weights = np.random.default_rng(5).standard_normal(out.shape)
    out.backward(weights)
    expected.backward(torch.tensor(weights))
    for i in grads:
        np.testing.assert_allclose(ours[i].grad, theirs[i].grad.numpy(), rtol=tol, atol=tol)


def _gradcheck(fn, *arrays):
    assert mg.gradcheck(fn, [mg.tensor(a, requires_grad=True) for a in arrays])


# -- Conv3d ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [{}, {"stride": 2, "padding": 1}, {"padding": "same", "dilation": (1, 2, 1)},
                                    {"groups": 2, "stride": (1, 2, 1)}])
def test_conv3d_matches_torch(kwargs):
    torch = pytest.importorskip("torch")
    w, b = RNG.standard_normal((4, 2 // kwargs.get("groups", 1), 3, 2, 3)), RNG.standard_normal(4)
    _check_against_torch(lambda x, w_, b_: F.conv3d(x, w_, b_, **kwargs),
                         lambda x, w_, b_: torch.nn.functional.conv3d(x, w_, b_, **kwargs), (X5, w, b), (0, 1, 2))


def test_conv3d_module_matches_torch():
    torch = pytest.importorskip("torch")
    layer, theirs = nn.Conv3d(2, 3, (2, 3, 2), padding=1, rng=0), torch.nn.Conv3d(2, 3, (2, 3, 2), padding=1).double()
    layer.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    np.testing.assert_allclose(layer(mg.tensor(X5)).data, theirs(torch.tensor(X5)).detach().numpy(), rtol=1e-10)


def test_conv3d_module_gradcheck_unbatched_float32_and_errors():
    layer = nn.Conv3d(2, 3, (2, 3, 2), padding=1, rng=0)
    assert layer(mg.tensor(X5[0])).shape == (3, 6, 6, 5)
    small = X5[:1, :, :3, :3, :3]
    _gradcheck(lambda x, w: F.conv3d(x, w, stride=2, padding=1), small, RNG.standard_normal((2, 2, 2, 2, 2)))
    out = nn.Conv3d(2, 3, 2, dtype=np.float32, rng=0)(mg.tensor(X5.astype(np.float32)))
    assert out.dtype == np.float32
    with pytest.raises(ValueError, match=r"expected an input of shape \(N, C_in, D, H, W\)"):
        layer(mg.tensor(X3))
    assert "kernel_size=(2, 3, 2)" in repr(layer)


# -- adaptive 3-D pooling, Softmax2d, ChannelShuffle ---------------------------------------------
@pytest.mark.parametrize("size", [2, (3, None, 2), 1])
def test_adaptive_pool3d_matches_torch(size):
    torch = pytest.importorskip("torch")
    _check_against_torch(lambda x: nn.AdaptiveAvgPool3d(size)(x),
                         lambda x: torch.nn.AdaptiveAvgPool3d(size)(x), (X5,))
    _check_against_torch(lambda x: nn.AdaptiveMaxPool3d(size)(x),
                         lambda x: torch.nn.AdaptiveMaxPool3d(size)(x), (X5,))
    _, index = F.adaptive_max_pool3d(mg.tensor(X5), size, return_indices=True)
    _, expected = torch.nn.functional.adaptive_max_pool3d(torch.tensor(X5), size, return_indices=True)
    np.testing.assert_array_equal(index.data, expected.numpy())


def test_softmax2d_and_channel_shuffle_match_torch():
    torch = pytest.importorskip("torch")
    _check_against_torch(nn.Softmax2d(), torch.nn.Softmax2d(), (X4,))
    _check_against_torch(nn.Softmax2d(), torch.nn.Softmax2d(), (X4[0],))
    _check_against_torch(lambda x: nn.ChannelShuffle(2)(x), lambda x: torch.nn.ChannelShuffle(2)(x), (X4,))
    _check_against_torch(lambda x: F.channel_shuffle(x, 4), lambda x: torch.nn.functional.channel_shuffle(x, 4),
                         (X3,))
    _gradcheck(nn.Softmax2d(), X4[:1, :, :2, :2])
    with pytest.raises(ValueError, match=r"Softmax2d: expected an input of shape \(N, C, H, W\)"):
        nn.Softmax2d()(mg.tensor(X3[0]))
    with pytest.raises(ValueError, match=r"number of channels \(4\) must be divisible by groups \(3\)"):
        F.channel_shuffle(mg.tensor(X4), 3)
    with pytest.raises(ValueError, match="at least 3 dimensions"):
        F.channel_shuffle(mg.tensor(X4[0, 0]), 2)


# -- LPPool ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, x, args", [
    ("lp_pool1d", X3, (2.0, 3)), ("lp_pool1d", np.abs(X3), (3.0, 2, 1, True)), ("lp_pool2d", POS4, (1.5, 2)),
    ("lp_pool2d", X4, (2, (2, 3), (1, 2))), ("lp_pool3d", X5, (2.0, 2)),
])
def test_lp_pool_matches_torch(name, x, args):
    torch = pytest.importorskip("torch")
    _check_against_torch(lambda a: getattr(F, name)(a, *args), lambda a: getattr(torch.nn.functional, name)(a, *args),
                         (x,))
    layer = {"lp_pool1d": nn.LPPool1d, "lp_pool2d": nn.LPPool2d, "lp_pool3d": nn.LPPool3d}[name]
    torch_layer = getattr(torch.nn, layer.__name__)
    _check_against_torch(layer(*args), torch_layer(*args), (x,))


def test_lp_pool_gradcheck_float32_and_errors():
    _gradcheck(lambda a: F.lp_pool2d(a, 2.0, 2), POS4[:1, :2])
    out = nn.LPPool1d(2, 3)(mg.tensor(X3.astype(np.float32)))
    assert out.dtype == np.float32
    with pytest.raises(ValueError, match="norm_type must not be 0"):
        F.lp_pool1d(mg.tensor(X3), 0, 2)


# -- MaxUnpool ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("ndim, kwargs", [(1, {"kernel_size": 3}), (1, {"kernel_size": 2, "stride": 1}),
                                          (2, {"kernel_size": 2}), (2, {"kernel_size": 3, "stride": 2, "padding": 1}),
                                          (3, {"kernel_size": 2})])
def test_max_unpool_matches_torch(ndim, kwargs):
    torch = pytest.importorskip("torch")
    x = {1: X3, 2: X4, 3: X5}[ndim]
    pool = getattr(torch.nn.functional, f"max_pool{ndim}d")
    pooled, indices = pool(torch.tensor(x), return_indices=True, **kwargs)
    ours_fn, theirs_fn = getattr(F, f"max_unpool{ndim}d"), getattr(torch.nn.functional, f"max_unpool{ndim}d")
    index, sizes = indices.numpy(), x.shape[2:]
    _check_against_torch(lambda p: ours_fn(p, index, output_size=sizes, **kwargs),
                         lambda p: theirs_fn(p, indices, output_size=sizes, **kwargs), (pooled.numpy(),))
    layer = getattr(nn, f"MaxUnpool{ndim}d")(**kwargs)
    torch_layer = getattr(torch.nn, f"MaxUnpool{ndim}d")(**kwargs)
    _check_against_torch(lambda p: layer(p, mg.tensor(index, dtype=np.int64), output_size=x.shape),
                         lambda p: torch_layer(p, indices, output_size=x.shape), (pooled.numpy(),))
    assert layer(mg.tensor(pooled.numpy()), index, sizes).shape == x.shape


def test_max_unpool_gradcheck_float32_and_errors():
    index = np.array([[[0, 3, 5]]])
    _gradcheck(lambda p: F.max_unpool1d(p, index, 2), RNG.standard_normal((1, 1, 3)))
    out = F.max_unpool1d(mg.tensor(np.ones((1, 1, 3), np.float32)), index, 2)
    assert out.dtype == np.float32 and out.shape == (1, 1, 6)
    with pytest.raises(IndexError, match="invalid max index 7"):
        F.max_unpool1d(mg.tensor(np.ones((1, 1, 3))), np.array([[[0, 7, 5]]]), 2)
    with pytest.raises(ValueError, match="indices of integers with the input's shape"):
        F.max_unpool1d(mg.tensor(np.ones((1, 1, 3))), np.array([[0, 1, 2]]), 2)
    with pytest.raises(ValueError, match="within a stride of the default"):
        F.max_unpool1d(mg.tensor(np.ones((1, 1, 3))), index, 2, output_size=(9,))
    with pytest.raises(ValueError, match=r"expected an input of shape \(N, C, H, W\)"):
        F.max_unpool2d(mg.tensor(np.ones(3)), np.zeros(3, np.int64), 2)


# -- EmbeddingBag ------------------------------------------------------------------------------------
TABLE = RNG.standard_normal((10, 3))
FLAT = np.array([1, 2, 4, 5, 4, 3, 2, 9, 0, 0])
OFFSETS = np.array([0, 4, 4, 7])
PER_SAMPLE = RNG.random(10) + 0.5


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("case", ["offsets", "2d", "padding", "last_offset"])
def test_embedding_bag_matches_torch(mode, case):
    torch = pytest.importorskip("torch")
    kwargs = {"mode": mode}
    if case == "2d":
        index, offsets = FLAT.reshape(2, 5), None
    elif case == "last_offset":
        index, offsets = FLAT, np.array([0, 4, 4, 7, 10])
        kwargs["include_last_offset"] = True
    else:
        index, offsets = FLAT, OFFSETS
    if case == "padding":
        kwargs["padding_idx"] = 4
    t_offsets = None if offsets is None else torch.tensor(offsets)
    _check_against_torch(lambda w: F.embedding_bag(index, w, offsets, **kwargs),
                         lambda w: torch.nn.functional.embedding_bag(torch.tensor(index), w, t_offsets, **kwargs),
                         (TABLE,))


def test_embedding_bag_per_sample_weights_max_norm_and_module():
    torch = pytest.importorskip("torch")
    _check_against_torch(
        lambda w, p: F.embedding_bag(FLAT, w, OFFSETS, mode="sum", per_sample_weights=p),
        lambda w, p: torch.nn.functional.embedding_bag(torch.tensor(FLAT), w, torch.tensor(OFFSETS), mode="sum",
                                                       per_sample_weights=p), (TABLE, PER_SAMPLE), (0, 1))
    ours, theirs = TABLE.copy(), torch.tensor(TABLE)
    out = F.embedding_bag(FLAT, mg.tensor(ours), OFFSETS, max_norm=1.0)
    expected = torch.nn.functional.embedding_bag(torch.tensor(FLAT), theirs, torch.tensor(OFFSETS), max_norm=1.0)
    np.testing.assert_allclose(out.data, expected.numpy(), rtol=1e-7)
    bag = nn.EmbeddingBag(10, 3, mode="sum", padding_idx=0, rng=0)
    assert np.all(bag.weight.data[0] == 0)
    torch_bag = torch.nn.EmbeddingBag(10, 3, mode="sum", padding_idx=0).double()
    torch_bag.load_state_dict({"weight": torch.tensor(bag.weight.data)})
    got = bag(FLAT, OFFSETS, PER_SAMPLE)
    want = torch_bag(torch.tensor(FLAT), torch.tensor(OFFSETS), torch.tensor(PER_SAMPLE))
    np.testing.assert_allclose(got.data, want.detach().numpy(), rtol=1e-12)
    frozen = nn.EmbeddingBag.from_pretrained(TABLE, mode="max")
    assert not frozen.weight.requires_grad and frozen(FLAT.reshape(5, 2)).shape == (5, 3)


def test_embedding_bag_gradcheck_float32_and_errors():
    _gradcheck(lambda w: F.embedding_bag(FLAT, w, OFFSETS), TABLE)
    _gradcheck(lambda w: F.embedding_bag(FLAT.reshape(2, 5), w, mode="max"), TABLE)
    out = nn.EmbeddingBag(10, 3, dtype=np.float32, rng=0)(FLAT, OFFSETS)
    assert out.dtype == np.float32 and out.shape == (4, 3)
    with pytest.raises(ValueError, match="offsets\\[0\\] has to be 0"):
        F.embedding_bag(FLAT, TABLE, np.array([1, 3]))
    with pytest.raises(ValueError, match="offsets has to be None"):
        F.embedding_bag(FLAT.reshape(2, 5), TABLE, OFFSETS)
    with pytest.raises(ValueError, match="offsets has to be a 1D Tensor but got None"):
        F.embedding_bag(FLAT, TABLE)
    with pytest.raises(NotImplementedError, match="only supported for mode='sum'"):
        F.embedding_bag(FLAT, TABLE, OFFSETS, per_sample_weights=PER_SAMPLE)
    with pytest.raises(ValueError, match="mode has to be one of sum, mean or max"):
        nn.EmbeddingBag(10, 3, mode="min")
    with pytest.raises(ValueError, match="max mode does not support scaling the gradient by the frequency"):
        F.embedding_bag(FLAT, TABLE, OFFSETS, mode="max", scale_grad_by_freq=True)
    with pytest.raises(NotImplementedError, match="sparse"):
        F.embedding_bag(FLAT, TABLE, OFFSETS, sparse=True)


@pytest.mark.parametrize(("mode", "weighted"), [("sum", False), ("sum", True), ("mean", False)])
@pytest.mark.parametrize("padding_idx", [None, 4])
def test_embedding_bag_scale_grad_by_freq_divides_each_row_by_its_index_count(mode, padding_idx, weighted):
    # Against the documented rule, by hand: PyTorch 2.13's CPU backward divides some rows by
    # another index's count (pytorch/pytorch#190063), its CUDA backward and later CPU ones do not.
    weights = PER_SAMPLE if weighted else np.ones(FLAT.size)
    grad_out = RNG.standard_normal((len(OFFSETS), 3))
    table = mg.tensor(TABLE, requires_grad=True)
    F.embedding_bag(FLAT, table, OFFSETS, mode=mode, padding_idx=padding_idx, scale_grad_by_freq=True,
                    per_sample_weights=PER_SAMPLE if weighted else None).backward(grad_out)
    counts = np.bincount(FLAT, minlength=len(TABLE))
    ends = [*OFFSETS[1:], FLAT.size]
    want = np.zeros_like(TABLE)
    for bag, (start, end) in enumerate(zip(OFFSETS, ends)):
        members = [i for i in range(start, end) if FLAT[i] != padding_idx]
        for i in members:
            share = weights[i] / (len(members) if mode == "mean" else 1)
            want[FLAT[i]] += grad_out[bag] * share / counts[FLAT[i]]
    np.testing.assert_allclose(table.grad, want, rtol=1e-12, atol=1e-15)
    assert np.unique(counts[FLAT]).size > 1  # (indices of different counts: the case PyTorch's CPU gets wrong)


# -- losses --------------------------------------------------------------------------------------------
A, B, C = RNG.standard_normal((3, 5, 4))


@pytest.mark.parametrize("kwargs", [{}, {"margin": 0.5, "swap": True}, {"reduction": "none"},
                                    {"reduction": "sum", "distance": "cosine"}])
def test_triplet_margin_with_distance_loss_matches_torch(kwargs):
    torch = pytest.importorskip("torch")
    kwargs = dict(kwargs)
    ours_kwargs, theirs_kwargs = dict(kwargs), dict(kwargs)
    if kwargs.pop("distance", None):
        ours_kwargs.pop("distance")
        theirs_kwargs.pop("distance")
        ours_kwargs["distance_function"] = lambda x, y: 1 - F.cosine_similarity(x, y)
        theirs_kwargs["distance_function"] = lambda x, y: 1 - torch.nn.functional.cosine_similarity(x, y)
    _check_against_torch(lambda a, p, n: F.triplet_margin_with_distance_loss(a, p, n, **ours_kwargs),
                         lambda a, p, n: torch.nn.functional.triplet_margin_with_distance_loss(a, p, n,
                                                                                               **theirs_kwargs),
                         (A, B, C), (0, 1, 2))
    loss = nn.TripletMarginWithDistanceLoss(**ours_kwargs)
    theirs = torch.nn.TripletMarginWithDistanceLoss(**theirs_kwargs)
    _check_against_torch(loss, theirs, (A, B, C), (0, 1, 2))


MULTI_TARGET = np.array([[3, 0, -1, 1], [1, 2, 3, -1], [0, -1, 2, 2], [-1, 1, 0, 0], [2, 2, 0, 1]])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_multilabel_margin_loss_matches_torch(reduction):
    torch = pytest.importorskip("torch")
    _check_against_torch(lambda x: F.multilabel_margin_loss(x, MULTI_TARGET, reduction=reduction),
                         lambda x: torch.nn.functional.multilabel_margin_loss(x, torch.tensor(MULTI_TARGET),
                                                                              reduction=reduction), (A,))
    _check_against_torch(lambda x: nn.MultiLabelMarginLoss(reduction=reduction)(x, MULTI_TARGET[1]),
                         lambda x: torch.nn.MultiLabelMarginLoss(reduction=reduction)(x,
                                                                                      torch.tensor(MULTI_TARGET[1])),
                         (A[1],))


def test_losses_gradcheck_float32_and_errors():
    _gradcheck(lambda a, p, n: F.triplet_margin_with_distance_loss(a, p, n, swap=True), A, B, C)
    _gradcheck(lambda x: F.multilabel_margin_loss(x, MULTI_TARGET), A)
    a32 = mg.tensor(A.astype(np.float32), requires_grad=True)
    loss = F.multilabel_margin_loss(a32, MULTI_TARGET) + F.triplet_margin_with_distance_loss(a32, B.astype(np.float32),
                                                                                            C.astype(np.float32))
    loss.backward()
    assert loss.dtype == np.float32 and a32.grad.dtype == np.float32
    with pytest.raises(ValueError, match="expected margin to be greater than 0"):
        F.triplet_margin_with_distance_loss(A, B, C, margin=0)
    with pytest.raises(ValueError, match="same number of dimensions"):
        F.triplet_margin_with_distance_loss(A, B, C[0])
    with pytest.raises(ValueError, match="target must hold class indices"):
        F.multilabel_margin_loss(A, MULTI_TARGET + 1)
    with pytest.raises(ValueError, match="same shape"):
        F.multilabel_margin_loss(A, MULTI_TARGET[:, :2])


# -- LazyLinear --------------------------------------------------------------------------------------
def test_lazy_linear_infers_in_features_and_becomes_linear():
    lazy = nn.LazyLinear(3, rng=0)
    assert lazy.has_uninitialized_params()
    weight = lazy.weight
    out = lazy(mg.tensor(X3))
    assert type(lazy) is nn.Linear and lazy.in_features == 9 and lazy.weight is weight
    assert out.shape == (2, 4, 3) and lazy.weight.shape == (3, 9)
    reference = nn.Linear(9, 3, rng=0)
    np.testing.assert_array_equal(lazy.weight.data, reference.weight.data)
    np.testing.assert_array_equal(lazy.bias.data, reference.bias.data)
    optimizer = mg.optim.SGD(lazy.parameters(), lr=0.1)
    lazy(mg.tensor(X3)).sum().backward()
    optimizer.step()
    assert not np.array_equal(lazy.weight.data, reference.weight.data)
    model = nn.Sequential(nn.LazyLinear(2, bias=False, dtype=np.float32, rng=0))
    assert model(mg.tensor(X4.astype(np.float32))).dtype == np.float32
    assert list(model.state_dict()) == ["0.weight"] and model[0].weight.shape == (2, 7)
    with pytest.raises(ValueError, match="at least one dimension"):
        nn.LazyLinear(2)(mg.tensor(1.0))


# -- mg.compile ------------------------------------------------------------------------------------
def test_compiled_steps_stay_correct():
    conv = nn.Conv3d(2, 2, 2, rng=0)
    shuffle, softmax, pool = nn.ChannelShuffle(2), nn.Softmax2d(), nn.LPPool2d(2, 2)

    def pure(x_):
        out = (conv(x_).sum() + softmax(shuffle(x_[:, :, 0])).sum() + pool(x_[:, :, 0] ** 2 + 1).sum()
               + F.adaptive_avg_pool3d(x_, 2).sum())
        out.backward()
        return out.detach()

    compiled = mg.compile(pure)
    for scale in (1.0, -2.0, 0.5):
        conv.zero_grad()
        got = compiled(mg.tensor(X5 * scale)).item()
        grad, conv.weight.grad = conv.weight.grad.copy(), None
        assert got == pure(mg.tensor(X5 * scale)).item()
        np.testing.assert_array_equal(grad, conv.weight.grad)
    assert compiled.traces == 1

    table = mg.tensor(TABLE)
    compiled = mg.compile(lambda offsets: F.embedding_bag(FLAT, table, offsets).sum())
    with pytest.warns(UserWarning, match="runs eagerly"):
        first = compiled(OFFSETS).item()
    assert first == pytest.approx(F.embedding_bag(FLAT, table, OFFSETS).sum().item(), rel=1e-12)
    other = np.array([0, 1, 2, 3])
    assert compiled(other).item() == pytest.approx(F.embedding_bag(FLAT, table, other).sum().item(), rel=1e-12)


def test_buffer_registers_itself():
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.mean = nn.Buffer(np.zeros(3))
            self.scratch = nn.Buffer(mg.tensor([1.0, 2.0]), persistent=False)
            self.layer = nn.Linear(3, 1, rng=0)

    model = Model()
    assert [name for name, _ in model.named_buffers()] == ["mean", "scratch"]
    assert list(model.state_dict()) == ["mean", "layer.weight", "layer.bias"]
    assert len(list(model.parameters())) == 2
    model.mean = mg.tensor([1.0, 2.0, 3.0])  # a registered buffer takes a Tensor
    np.testing.assert_array_equal(model.state_dict()["mean"], [1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="as parameter 'weight'"):
        model.layer.weight = nn.Buffer(np.zeros((1, 3)))
