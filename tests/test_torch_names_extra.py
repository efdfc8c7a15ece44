"""PyTorch names added in microgradnp/ops/torch_names_extra.py, microgradnp/nn/torch_names_extra.py,
microgradnp/nn/adaptive.py, and the base classes of nn/rnn.py and nn/lazy.py: compared with
PyTorch 2.13 (values, dtypes, gradients) and with finite differences."""

import copy
import warnings

import numpy as np
import pytest

import microgradnp as mg
from microgradnp.nn import functional as F
from microgradnp.nn import torch_names_extra as X


def _F(name):
    """``F.<name>`` once nn/functional.py imports it, else the function from its module."""
    return getattr(F, name, None) or getattr(X, name)


def _close(theirs, ours, tol=1e-10):
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    ours = ours.data if isinstance(ours, mg.Tensor) else np.asarray(ours)
    assert theirs.shape == ours.shape
    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol, equal_nan=True)


def _long(values):
    return mg.tensor(np.asarray(values), dtype=mg.long)


# -- nn.AdaptiveLogSoftmaxWithLoss ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("cutoffs", "div_value", "head_bias"), [([3, 6], 4.0, False), ([1, 4, 8], 1.5, True)])
def test_adaptive_log_softmax_matches_torch(cutoffs, div_value, head_bias):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (torch: "Initializing zero-element tensors is a no-op")
        theirs = torch.nn.AdaptiveLogSoftmaxWithLoss(8, 10, cutoffs, div_value=div_value, head_bias=head_bias)
        ours = mg.nn.AdaptiveLogSoftmaxWithLoss(8, 10, cutoffs, div_value=div_value, head_bias=head_bias)
    theirs = theirs.double()
    state = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    assert set(state) == set(ours.state_dict())
    ours.load_state_dict(state)
    x = np.random.default_rng(0).standard_normal((7, 8))
    y = np.array([0, 9, 3, 5, 2, 7, 1])
    tx, mx = torch.tensor(x, requires_grad=True), mg.tensor(x, requires_grad=True)
    t_out, m_out = theirs(tx, torch.tensor(y)), ours(mx, _long(y))
    assert m_out._fields == ("output", "loss")
    _close(t_out.output, m_out.output)
    _close(t_out.loss, m_out.loss)
    (t_out.loss + 0.3 * t_out.output.sum()).backward()
    (m_out.loss + 0.3 * m_out.output.sum()).backward()
    _close(tx.grad, mx.grad)
    parameters = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        _close(p.grad, parameters[name].grad)
    _close(theirs.log_prob(tx), ours.log_prob(mx))
    predicted = ours.predict(mx)
    assert predicted.dtype == np.int64
    np.testing.assert_array_equal(predicted.data, theirs.predict(tx).numpy())
    _close(theirs(tx[0], torch.tensor(y[1])).output, ours(mx[0], mg.tensor(float(y[1]))).output)  # 0-d target


def test_adaptive_log_softmax_errors():
    with pytest.raises(ValueError, match="cutoffs"):
        mg.nn.AdaptiveLogSoftmaxWithLoss(8, 10, [6, 3])
    with pytest.raises(ValueError, match="cutoffs"):
        mg.nn.AdaptiveLogSoftmaxWithLoss(8, 10, [3, 10])
    module = mg.nn.AdaptiveLogSoftmaxWithLoss(8, 10, [3])
    with pytest.raises(ValueError, match=r"Target values should be in \[0, 9\]"):
        module(mg.randn(2, 8), _long([1, 10]))
    with pytest.raises(ValueError, match="0D or 1D target"):
        module(mg.randn(2, 8), _long([[1], [2]]))


# -- nn.RNNBase, nn.RNNCellBase, nn.UninitializedParameter / UninitializedBuffer --------------------------------------


def test_rnn_base_classes_as_torch():
    torch = pytest.importorskip("torch")
    for layer in (mg.nn.RNN(2, 3), mg.nn.LSTM(2, 3), mg.nn.GRU(2, 3)):
        assert isinstance(layer, mg.nn.RNNBase)
    for cell in (mg.nn.RNNCell(2, 3), mg.nn.LSTMCell(2, 3), mg.nn.GRUCell(2, 3)):
        assert isinstance(cell, mg.nn.RNNCellBase)
    ours, theirs = mg.nn.RNNBase("LSTM", 3, 4, num_layers=2), torch.nn.RNNBase("LSTM", 3, 4, num_layers=2)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    ours, theirs = mg.nn.RNNCellBase(3, 4, True, 4), torch.nn.RNNCellBase(3, 4, True, 4)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    with pytest.raises(ValueError, match="proj_size"):
        mg.nn.RNNBase("GRU", 3, 4, proj_size=2)
    with pytest.raises(ValueError, match="mode"):
        mg.nn.RNNBase("LSTMX", 3, 4)
    with pytest.raises(ValueError, match="weights"):  # (the functional form: one tensor is not a layer)
        mg.lstm(mg.randn(5, 2, 4), (mg.zeros(1, 2, 3), mg.zeros(1, 2, 3)), [mg.randn(12, 4)], True, 1, 0.0, False,
                False, False)


def test_lazy_placeholders_are_uninitialized():
    norm = mg.nn.LazyBatchNorm1d()
    assert isinstance(norm.weight, mg.nn.UninitializedParameter) and isinstance(norm.weight, mg.nn.Parameter)
    assert isinstance(norm.running_mean, mg.nn.UninitializedBuffer)
    weight = norm.weight
    norm(mg.randn(4, 3))
    assert norm.weight is weight and type(weight) is mg.nn.Parameter and weight.shape == (3,)
    assert type(norm.running_mean) is mg.Tensor and norm.running_mean.shape == (3,)
    conv = mg.nn.LazyConv2d(4, 3)
    assert isinstance(conv.weight, mg.nn.UninitializedParameter)
    conv(mg.randn(1, 2, 5, 5))
    assert type(conv.weight) is mg.nn.Parameter and conv.weight.shape == (4, 2, 3, 3)
    copied = copy.deepcopy(mg.nn.LazyBatchNorm1d())  # (a lazy module before its first call copies)
    assert isinstance(copied.weight, mg.nn.UninitializedParameter)
    copied(mg.randn(4, 2))
    assert type(copied.weight) is mg.nn.Parameter and copied.weight.shape == (2,)
    p = mg.nn.UninitializedParameter(dtype=mg.float32)
    p.materialize((2, 3))
    assert type(p) is mg.nn.Parameter and p.shape == (2, 3) and p.dtype == np.float32 and p.requires_grad
    b = mg.nn.UninitializedBuffer()
    b.materialize(4)
    assert type(b) is mg.Tensor and b.shape == (4,) and not b.requires_grad
    linear = mg.nn.LazyLinear(3, rng=0)
    assert all(isinstance(p, mg.nn.UninitializedParameter) for p in (linear.weight, linear.bias))
    weight = linear.weight
    linear(mg.ones(2, 4))
    assert linear.weight is weight and type(weight) is mg.nn.Parameter and weight.shape == (3, 4)
    assert type(linear.bias) is mg.nn.Parameter and linear.bias.shape == (3,)


# -- nn.CrossMapLRN2d --------------------------------------------------------------------------------------------------


def test_cross_map_lrn2d():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    for size in (3, 5):  # where PyTorch's legacy kernel has no bug to show (see the class's docstring)
        x = rng.standard_normal((2, (size + 1) // 2, 3, 3))
        _close(torch.nn.CrossMapLRN2d(size, 0.3, 0.7, 2.0)(torch.tensor(x)),
               mg.nn.CrossMapLRN2d(size, 0.3, 0.7, 2.0)(mg.tensor(x)))
    # Everywhere: the formula, in NumPy, with the window of size channels around c.
    x = rng.standard_normal((2, 6, 2, 3))
    size, alpha, beta, k = 3, 0.3, 0.7, 2.0
    squares = np.pad(x**2, ((0, 0), (size // 2, (size - 1) // 2), (0, 0), (0, 0)))
    sums = sum(squares[:, i:i + 6] for i in range(size))
    _close(x / (k + alpha / size * sums) ** beta, mg.nn.CrossMapLRN2d(size, alpha, beta, k)(mg.tensor(x)))
    module = mg.nn.CrossMapLRN2d(4, 0.3, 0.7, 2.0)
    mg.gradcheck(lambda t: module(t), [mg.tensor(x[:1], requires_grad=True)])
    with pytest.raises(ValueError, match="4D"):
        module(mg.randn(2, 3, 4))


# -- torch-level in-place activations and dropouts ------------------------------------------------------------------


def test_in_place_activations_as_torch():
    torch = pytest.importorskip("torch")
    values = np.array([-1.5, 2.0, -0.25, 0.0])
    for name, args in (("celu_", (2.0,)), ("selu_", ()), ("rrelu_", (0.1, 0.3)), ("threshold_", (0.5, 9.0))):
        t, m = torch.tensor(values), mg.tensor(values)
        result = getattr(mg, name)(m, *args)
        assert result is m
        _close(getattr(torch, name)(t, *args), m)


def test_in_place_dropouts():
    for name in ("dropout_", "alpha_dropout_", "feature_alpha_dropout_", "feature_dropout_"):
        x = mg.randn(3, 4, 5)
        before = x.data.copy()
        assert getattr(mg, name)(x, 0.5, False) is x
        np.testing.assert_array_equal(x.data, before)
        assert getattr(mg, name)(x, 0.5, True, rng=0) is x
        assert not np.array_equal(x.data, before)
        with pytest.raises(RuntimeError):
            getattr(mg, name)(mg.randn(3, 4, requires_grad=True), 0.5, True)
    x = mg.ones(3, 4, 5)
    mg.feature_dropout_(x, 0.5, True, rng=0)  # whole features: each (n, c) row is all 0 or all 2
    rows = x.data.reshape(12, 5)
    assert set(np.unique(rows)) <= {0.0, 2.0} and all(len(set(row)) == 1 for row in rows)


def test_native_dropout():
    x = mg.randn(3, 4)
    out, mask = mg.native_dropout(x, 0.5, True)
    assert mask.dtype == np.bool_
    np.testing.assert_allclose(out.data, x.data * mask.data * 2)
    out, mask = mg.native_dropout(x, 0.5, False)
    assert mask.data.all() and out is not x
    np.testing.assert_array_equal(out.data, x.data)


# -- embedding_bag, segment_reduce, binomial --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0, 1, 2])
@pytest.mark.parametrize("padding_idx", [None, 5, -1, -4])
def test_embedding_bag_torch_form(mode, padding_idx):
    torch = pytest.importorskip("torch")
    w = np.random.default_rng(2).standard_normal((6, 3))
    indices, offsets = np.array([0, 2, 1, 4, 3, 5, 5, 2]), np.array([0, 2, 2, 5])
    extra = [] if padding_idx is None else [padding_idx]
    tw, mw = torch.tensor(w, requires_grad=True), mg.tensor(w, requires_grad=True)
    theirs = torch.embedding_bag(tw, torch.tensor(indices), torch.tensor(offsets), False, mode, False, None, False,
                                 *extra)
    ours = mg.embedding_bag(mw, _long(indices), _long(offsets), False, mode, False, None, False, *extra)
    _close(theirs[0], ours[0])
    theirs[0].sum().backward()
    ours[0].sum().backward()
    _close(tw.grad, mw.grad)
    _close(theirs[1][:0] if mode == 0 else theirs[1], ours[1][:0] if mode == 0 else ours[1])
    if mode:  # (mode sum: PyTorch's CPU kernel leaves offset2bag empty and the rest zero)
        for a, b in zip(theirs[1:], ours[1:]):
            assert b.dtype == np.int64
            _close(a, b)
    last = np.append(offsets, indices.size)  # include_last_offset: the same bags
    theirs = torch.embedding_bag(tw, torch.tensor(indices), torch.tensor(last), False, mode, False, None, True,
                                 *extra)
    ours = mg.embedding_bag(mw, _long(indices), _long(last), False, mode, False, None, True, *extra)
    for a, b in zip(theirs[: 1 if mode == 0 else 4], ours):
        _close(a, b)


@pytest.mark.parametrize("reduce", ["sum", "mean", "max", "min", "prod"])
@pytest.mark.parametrize("initial", [None, 0.5])
def test_segment_reduce_matches_torch(reduce, initial):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    data, lengths = rng.standard_normal(6), np.array([2, 0, 3, 1])
    td, md = torch.tensor(data, requires_grad=True), mg.tensor(data, requires_grad=True)
    theirs = torch.segment_reduce(td, reduce, lengths=torch.tensor(lengths), initial=initial)
    ours = mg.segment_reduce(md, reduce, lengths=_long(lengths), initial=initial)
    _close(theirs, ours)
    weights = np.array([1.0, 0.0, 3.0, 4.0])  # (the empty segment's nan mean gets no gradient)
    (torch.nan_to_num(theirs, 0.0) * torch.tensor(weights)).sum().backward()
    (mg.nan_to_num(ours, 0.0) * mg.tensor(weights)).sum().backward()
    _close(td.grad, md.grad)
    _close(torch.segment_reduce(torch.tensor(data), reduce, offsets=torch.tensor([0, 2, 2, 5, 6]), initial=initial),
           mg.segment_reduce(mg.tensor(data), reduce, offsets=_long([0, 2, 2, 5, 6]), initial=initial))
    batched, batched_lengths = rng.standard_normal((3, 4, 2)), np.array([[1, 3], [2, 2], [4, 0]])
    _close(torch.segment_reduce(torch.tensor(batched), reduce, lengths=torch.tensor(batched_lengths), axis=1,
                                initial=initial),
           mg.segment_reduce(mg.tensor(batched), reduce, lengths=_long(batched_lengths), axis=1, initial=initial))


def test_segment_reduce_options_and_errors():
    torch = pytest.importorskip("torch")
    data = np.arange(6.0)
    _close(torch.segment_reduce(torch.tensor(data), "sum", lengths=torch.tensor([2, 2]), unsafe=True),
           mg.segment_reduce(mg.tensor(data), "sum", lengths=_long([2, 2]), unsafe=True))
    two_d = np.arange(12.0).reshape(3, 4)
    _close(torch.segment_reduce(torch.tensor(two_d), "max", lengths=torch.tensor([1, 2])),
           mg.segment_reduce(mg.tensor(two_d), "max", lengths=_long([1, 2])))
    with pytest.raises(ValueError, match="sum to"):
        mg.segment_reduce(mg.tensor(data), "sum", lengths=_long([2, 2]))
    with pytest.raises(ValueError, match="negative"):
        mg.segment_reduce(mg.tensor(data), "sum", lengths=_long([2, -2, 6]))
    with pytest.raises(ValueError, match="last dimension of lengths"):
        mg.segment_reduce(mg.tensor(two_d), "sum", lengths=_long([1, 3]), axis=1)
    with pytest.raises(NotImplementedError):
        mg.segment_reduce(mg.tensor(data), "sum", indices=_long([0, 0, 1, 1, 1, 2]))
    with pytest.raises(TypeError, match="floating-point"):
        mg.segment_reduce(_long([1, 2, 3]), "sum", lengths=_long([3]))


def test_binomial():
    draws = mg.binomial(mg.full((2000,), 10.0), mg.full((2000,), 0.3), rng=0)
    assert draws.dtype == np.float64
    assert np.all((draws.data >= 0) & (draws.data <= 10) & (draws.data == np.round(draws.data)))
    np.testing.assert_array_equal(draws.data, mg.binomial(mg.full((2000,), 10.0), mg.full((2000,), 0.3),
                                                          generator=0).data)
    edge = mg.binomial(mg.tensor([4.0, 4.0, 4.0]), mg.tensor([0.0, 1.0, np.nan]))
    np.testing.assert_array_equal(edge.data, [0.0, 4.0, np.nan])
    count = mg.tensor([3.0], requires_grad=True)
    mg.binomial(count, mg.tensor([0.5])).sum().backward()
    np.testing.assert_array_equal(count.grad, [0.0])
    with pytest.raises(TypeError, match="floating-point"):
        mg.binomial(_long([3]), mg.tensor([0.5]))
    with pytest.raises(ValueError, match="prob"):
        mg.binomial(mg.tensor([3.0]), mg.tensor([1.5]))


# -- deprecated norms ------------------------------------------------------------------------------------------------


def test_deprecated_norms_match_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(4).standard_normal((3, 4, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (torch: "at::nuclear_norm is deprecated")
        cases = [
            (torch.nuclear_norm(torch.tensor(x[0])), mg.nuclear_norm(mg.tensor(x[0]))),
            (torch.nuclear_norm(torch.tensor(x)), mg.nuclear_norm(mg.tensor(x))),
            (torch.nuclear_norm(torch.tensor(x[0]), True), mg.nuclear_norm(mg.tensor(x[0]), True)),
            (torch.nuclear_norm(torch.tensor(x), (0, 2), True), mg.nuclear_norm(mg.tensor(x), (0, 2), True)),
            (torch.frobenius_norm(torch.tensor(x), (1, 2)), mg.frobenius_norm(mg.tensor(x), (1, 2))),
            (torch.frobenius_norm(torch.tensor(x), (-1,), True), mg.frobenius_norm(mg.tensor(x), (-1,), True)),
            (torch.frobenius_norm(torch.tensor(x), ()), mg.frobenius_norm(mg.tensor(x), ())),
        ]
    for theirs, ours in cases:
        _close(theirs, ours)
    with pytest.raises(ValueError, match="at most 2"):
        mg.frobenius_norm(mg.tensor(x), (0, 1, 2))
    with pytest.raises(RuntimeError, match=r"linalg\.matrix_rank"):  # removed from PyTorch, which raises
        mg.matrix_rank(mg.eye(3))


# -- convolutions ------------------------------------------------------------------------------------------------------


def test_convolution_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((2, 4, 7)), rng.standard_normal((6, 2, 3)), rng.standard_normal(6)
    tx, mx = torch.tensor(x, requires_grad=True), mg.tensor(x, requires_grad=True)
    theirs = torch.convolution(tx, torch.tensor(w), torch.tensor(b), [2], [1], [1], False, [0], 2)
    ours = mg.convolution(mx, mg.tensor(w), mg.tensor(b), [2], [1], [1], False, [0], 2)
    _close(theirs, ours)
    theirs.sum().backward()
    ours.sum().backward()
    _close(tx.grad, mx.grad)
    wt = rng.standard_normal((4, 3, 3))
    _close(torch.convolution(tx, torch.tensor(wt), None, [2], [1], [1], True, [1], 2),
           mg.convolution(mx, mg.tensor(wt), None, [2], [1], [1], True, [1], 2))
    x2, w2 = rng.standard_normal((2, 4, 5, 6)), rng.standard_normal((3, 4, 2, 3))
    _close(torch.convolution(torch.tensor(x2), torch.tensor(w2), None, [1, 2], [1, 0], [2, 1], False, [0, 0], 1),
           mg.convolution(mg.tensor(x2), mg.tensor(w2), None, [1, 2], [1, 0], [2, 1], False, [0, 0], 1))


@pytest.mark.parametrize("pad", [0, 2])
def test_conv_tbc_matches_torch(pad):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    x, w, b = rng.standard_normal((7, 2, 4)), rng.standard_normal((3, 4, 5)), rng.standard_normal(5)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    mx, mw = mg.tensor(x, requires_grad=True), mg.tensor(w, requires_grad=True)
    for conv_tbc in (mg.conv_tbc, _F("conv_tbc")):
        mx.grad = mw.grad = None
        theirs, ours = torch.conv_tbc(tx, tw, torch.tensor(b), pad), conv_tbc(mx, mw, mg.tensor(b), pad)
        _close(theirs, ours)
        tx.grad = tw.grad = None
        (theirs**2).sum().backward()
        (ours**2).sum().backward()
        _close(tx.grad, mx.grad)
        _close(tw.grad, mw.grad)


# -- native_* ---------------------------------------------------------------------------------------------------------


def test_native_norms_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 4))
    pairs = [
        (torch.native_layer_norm(torch.tensor(x), [4], None, None, 1e-5),
         mg.native_layer_norm(mg.tensor(x), [4], None, None, 1e-5)),
        (torch.native_layer_norm(torch.tensor(x), [3, 4], torch.ones(3, 4, dtype=torch.float64), None, 1e-5),
         mg.native_layer_norm(mg.tensor(x), [3, 4], mg.ones(3, 4), None, 1e-5)),
    ]
    g = rng.standard_normal((2, 6, 5))
    pairs.append((torch.native_group_norm(torch.tensor(g), None, None, 2, 6, 5, 3, 1e-5),
                  mg.native_group_norm(mg.tensor(g), None, None, 2, 6, 5, 3, 1e-5)))
    for training in (True, False):
        t_stats = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
        m_stats = mg.zeros(3), mg.ones(3)
        pairs.append((torch.native_batch_norm(torch.tensor(x), None, None, *t_stats, training, 0.1, 1e-5),
                      mg.native_batch_norm(mg.tensor(x), None, None, *m_stats, training, 0.1, 1e-5)))
        pairs.append((t_stats, m_stats))
    for theirs, ours in pairs:
        assert len(theirs) == len(ours)
        for a, b in zip(theirs, ours):
            _close(a, b)


# -- switches, frombuffer, Tensor.resize ----------------------------------------------------------------------------


def test_global_switches():
    assert mg.set_flush_denormal(True) is False
    threads = mg.get_num_interop_threads()
    mg.set_num_interop_threads(3)
    assert mg.get_num_interop_threads() == 3
    mg.set_num_interop_threads(threads)
    with pytest.raises(RuntimeError, match="positive"):
        mg.set_num_interop_threads(0)
    assert mg.is_warn_always_enabled() is False
    mg.set_warn_always(True)
    assert mg.is_warn_always_enabled() is True
    mg.set_warn_always(False)
    assert mg.get_float32_matmul_precision() == "highest"
    mg.set_float32_matmul_precision("medium")
    assert mg.get_float32_matmul_precision() == "medium"
    with pytest.warns(UserWarning, match="highest"):
        mg.set_float32_matmul_precision("fastest")
    assert mg.get_float32_matmul_precision() == "medium"
    mg.set_float32_matmul_precision("highest")


def test_frombuffer_matches_torch():
    torch = pytest.importorskip("torch")
    raw = np.arange(3, dtype=np.int32).tobytes()  # (12 bytes: not a whole number of float64)
    for kwargs in ({}, {"count": 2, "offset": 4}):
        theirs = torch.frombuffer(bytearray(raw), dtype=torch.int32, **kwargs)
        ours = mg.frombuffer(bytearray(raw), dtype=mg.int32, **kwargs)
        assert ours.dtype == np.int32
        _close(theirs, ours)
    buffer = bytearray(raw)
    shared = mg.frombuffer(buffer, dtype=mg.int32)
    shared.data[0] = 9  # the memory is the buffer's, as in PyTorch
    assert buffer[:4] == np.int32(9).tobytes()
    assert mg.frombuffer(bytearray(8), dtype=mg.float32, requires_grad=True).requires_grad
    for kwargs in ({"dtype": mg.float64}, {"dtype": mg.int32, "count": 5}):
        with pytest.raises(ValueError):
            mg.frombuffer(bytearray(raw), **kwargs)
    with pytest.raises(ValueError):
        mg.frombuffer(bytearray(), dtype=mg.float32)


def test_tensor_resize_out_of_place():
    torch = pytest.importorskip("torch")
    values = np.arange(6.0)
    weights = np.arange(6.0).reshape(3, 2) ** 2
    t, m = torch.tensor(values, requires_grad=True), mg.tensor(values, requires_grad=True)
    with pytest.warns(UserWarning, match="resize"):
        ours = m.resize(3, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = t.resize(3, 2)
        _close(torch.Tensor.resize_as(t, torch.zeros(2, 3)), m.resize_as(mg.zeros(2, 3)))
    _close(theirs, ours)
    (theirs * torch.tensor(weights)).sum().backward()
    (ours * mg.tensor(weights)).sum().backward()
    _close(t.grad, m.grad)
    with pytest.raises(ValueError, match="number of elements"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.resize(2, 2)


# -- F-level additions (called as F.<name> once nn/functional.py imports them) ------------------------------------


def test_F_max_pool3d_with_indices():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(8).standard_normal((2, 3, 5, 6, 7))
    for args in ((2,), (3, 2, 1, 1, True), ((2, 3, 2), (1, 2, 2), (1, 1, 0), (2, 1, 1))):
        theirs = torch.nn.functional.max_pool3d_with_indices(torch.tensor(x), *args)
        ours = _F("max_pool3d_with_indices")(mg.tensor(x), *args)
        for a, b in zip(theirs, ours, strict=True):
            _close(a, b)


def test_F_adaptive_max_pool3d_with_indices():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(9).standard_normal((2, 3, 5, 6, 7))
    for size in ((2, 3, 4), 3, (None, 2, 5)):
        theirs = torch.nn.functional.adaptive_max_pool3d_with_indices(torch.tensor(x), size)
        ours = _F("adaptive_max_pool3d_with_indices")(mg.tensor(x), size)
        for a, b in zip(theirs, ours, strict=True):
            _close(a, b)


@pytest.mark.parametrize("case", ["plain", "bias", "weight_sum", "smoothing", "none", "probabilities", "unbatched",
                                  "k_dimensional"])
def test_F_linear_cross_entropy(case):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(10)
    n, features, classes = 5, 4, 6
    x, target = rng.standard_normal((n, features)), rng.integers(0, classes, n)
    target[1] = -100
    weight = rng.standard_normal((classes, features))
    theirs_kw, ours_kw = {}, {}
    if case == "bias":
        bias = rng.standard_normal(classes)
        theirs_kw["linear_bias"], ours_kw["linear_bias"] = torch.tensor(bias), mg.tensor(bias)
    elif case == "weight_sum":
        w = rng.random(classes)
        theirs_kw = {"weight": torch.tensor(w), "reduction": "sum"}
        ours_kw = {"weight": mg.tensor(w), "reduction": "sum"}
    elif case == "smoothing":
        theirs_kw = ours_kw = {"label_smoothing": 0.2, "ignore_index": -100}
    elif case == "none":
        theirs_kw = ours_kw = {"reduction": "none"}
    elif case == "probabilities":
        target = rng.random((n, classes))
        target /= target.sum(1, keepdims=True)
    elif case == "unbatched":
        x, target = x[0], np.int64(3)
    elif case == "k_dimensional":
        weight, target = rng.standard_normal((classes, 2, 3, features)), rng.integers(0, classes, (n, 2, 3))
        bias = rng.standard_normal((classes, 2, 3))
        theirs_kw["linear_bias"], ours_kw["linear_bias"] = torch.tensor(bias), mg.tensor(bias)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(weight, requires_grad=True)
    mx, mw = mg.tensor(x, requires_grad=True), mg.tensor(weight, requires_grad=True)
    m_target = mg.tensor(target) if case == "probabilities" else _long(target)
    theirs = torch.nn.functional.linear_cross_entropy(tx, tw, torch.tensor(target), **theirs_kw)
    ours = _F("linear_cross_entropy")(mx, mw, m_target, **ours_kw)
    _close(theirs, ours)
    theirs.sum().backward()
    ours.sum().backward()
    _close(tx.grad, mx.grad)
    _close(tw.grad, mw.grad)


def test_linear_cross_entropy_loss_module():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    theirs = torch.nn.LinearCrossEntropyLoss(4, 6, out_features=(2, 3), bias=True, label_smoothing=0.1).double()
    ours = mg.nn.LinearCrossEntropyLoss(4, 6, out_features=(2, 3), bias=True, label_smoothing=0.1)
    assert set(ours.state_dict()) == set(theirs.state_dict())
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x, target = rng.standard_normal((5, 4)), rng.integers(0, 6, (5, 2, 3))
    _close(theirs(torch.tensor(x), torch.tensor(target)), ours(mg.tensor(x), _long(target)))
    assert repr(mg.nn.LinearCrossEntropyOptions()) == repr(torch.nn.LinearCrossEntropyOptions())
    options = mg.nn.LinearCrossEntropyOptions(batch_chunk_size=2)  # (same result: the options save memory only)
    _close(torch.nn.functional.linear_cross_entropy(torch.tensor(x), torch.ones(6, 4, dtype=torch.float64),
                                                    torch.tensor(target[:, 0, 0])),
           _F("linear_cross_entropy")(mg.tensor(x), mg.ones(6, 4), _long(target[:, 0, 0]), options=options))
    with pytest.raises(ValueError, match="ignore_index"):
        _F("linear_cross_entropy")(mg.tensor(x), mg.ones(6, 4), mg.tensor(np.full((5, 6), 1 / 6)), ignore_index=0)


def test_F_native_channel_shuffle():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(12).standard_normal((2, 6, 3, 2))
    _close(torch.nn.functional.native_channel_shuffle(torch.tensor(x), 3),
           _F("native_channel_shuffle")(mg.tensor(x), 3))
    _close(torch.native_channel_shuffle(torch.tensor(x), 2), mg.native_channel_shuffle(mg.tensor(x), 2))


# -- functional cells, norm_except_dim, embedding_renorm_, samplers, switches, constants ------------------------


@pytest.mark.parametrize(("name", "gates"), [("lstm_cell", 4), ("gru_cell", 3), ("rnn_tanh_cell", 1),
                                             ("rnn_relu_cell", 1)])
def test_functional_cells_match_torch(name, gates):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(13)
    x, h, c = rng.standard_normal((3, 4)), rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    weights = [rng.standard_normal(shape) for shape in ((gates * 5, 4), (gates * 5, 5), (gates * 5,), (gates * 5,))]
    tx, mx = torch.tensor(x, requires_grad=True), mg.tensor(x, requires_grad=True)
    t_hx = (torch.tensor(h), torch.tensor(c)) if name == "lstm_cell" else torch.tensor(h)
    m_hx = (mg.tensor(h), mg.tensor(c)) if name == "lstm_cell" else mg.tensor(h)
    for count in (4, 2):  # with and without the biases
        tx.grad, mx.grad = None, None
        theirs = getattr(torch, name)(tx, t_hx, *[torch.tensor(w) for w in weights[:count]])
        ours = getattr(mg, name)(mx, m_hx, *[mg.tensor(w) for w in weights[:count]])
        theirs = theirs if isinstance(theirs, tuple) else (theirs,)
        ours = ours if isinstance(ours, tuple) else (ours,)
        for a, b in zip(theirs, ours, strict=True):
            _close(a, b)
        sum(a.sum() for a in theirs).backward()
        sum(b.sum() for b in ours).backward()
        _close(tx.grad, mx.grad)


def test_norm_except_dim_and_embedding_renorm_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(14)
    v = rng.standard_normal((3, 4, 5))
    for args in ((), (2, 1), (3, -1), (2, 2), (2, -2)):
        _close(torch.norm_except_dim(torch.tensor(v), *args), mg.norm_except_dim(mg.tensor(v), *args))
    _close(torch.norm_except_dim(torch.tensor(v[0, 0]), 2, 0), mg.norm_except_dim(mg.tensor(v[0, 0]), 2, 0))
    w = rng.standard_normal((5, 3)) * 3
    theirs, ours = torch.tensor(w), mg.tensor(w)
    torch.embedding_renorm_(theirs, torch.tensor([0, 2, 2]), 1.0, 2.0)
    assert mg.embedding_renorm_(ours, _long([0, 2, 2]), 1.0, 2.0) is ours
    _close(theirs, ours)


def test_grid_sampler_and_affine_grid_generator_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(15)
    x, grid = rng.standard_normal((2, 3, 5, 6)), rng.uniform(-1.2, 1.2, (2, 4, 3, 2))
    for interpolation in range(3):
        for padding in range(3):
            _close(torch.grid_sampler(torch.tensor(x), torch.tensor(grid), interpolation, padding, True),
                   mg.grid_sampler(mg.tensor(x), mg.tensor(grid), interpolation, padding, True))
    volume, grid3 = rng.standard_normal((1, 2, 3, 4, 5)), rng.uniform(-1, 1, (1, 2, 2, 3, 3))
    _close(torch.grid_sampler_3d(torch.tensor(volume), torch.tensor(grid3), 0, 1, False),
           mg.grid_sampler_3d(mg.tensor(volume), mg.tensor(grid3), 0, 1, False))
    _close(torch.grid_sampler_2d(torch.tensor(x), torch.tensor(grid), 1, 2, False),
           mg.grid_sampler_2d(mg.tensor(x), mg.tensor(grid), 1, 2, False))
    with pytest.raises(ValueError, match="4D"):
        mg.grid_sampler_2d(mg.tensor(volume), mg.tensor(grid3), 0, 0, False)
    theta = rng.standard_normal((2, 2, 3))
    _close(torch.affine_grid_generator(torch.tensor(theta), [2, 3, 5, 6], False),
           mg.affine_grid_generator(mg.tensor(theta), [2, 3, 5, 6], False))
    with pytest.raises(ValueError, match="interpolation_mode"):
        mg.grid_sampler(mg.tensor(x), mg.tensor(grid), 3, 0, True)


def test_deterministic_debug_mode_device_and_constants():
    torch = pytest.importorskip("torch")
    assert mg.get_deterministic_debug_mode() == 0
    for mode, expected in (("warn", 1), ("error", 2), (1, 1), ("default", 0)):
        mg.set_deterministic_debug_mode(mode)
        assert mg.get_deterministic_debug_mode() == expected
        assert mg.are_deterministic_algorithms_enabled() == (expected > 0)
    with pytest.raises(RuntimeError, match="debug_mode"):
        mg.set_deterministic_debug_mode("sometimes")
    assert mg.get_device(mg.zeros(2)) == -1
    assert isinstance(mg.float32, mg.dtype)
    for name in ("e", "pi", "inf", "newaxis"):
        assert getattr(mg, name) == getattr(torch, name)
    assert np.isnan(mg.nan)


def test_set_anomaly_enabled_and_data_parallel():
    torch = pytest.importorskip("torch")
    try:
        mg.set_anomaly_enabled(True)
        assert mg.is_anomaly_enabled() and mg.is_anomaly_check_nan_enabled()
        mg.set_anomaly_enabled(True, False)
        assert not mg.is_anomaly_check_nan_enabled()
    finally:
        mg.set_anomaly_enabled(False)
    assert not mg.is_anomaly_enabled() and mg.is_anomaly_check_nan_enabled()
    theirs = torch.nn.DataParallel(torch.nn.Linear(2, 3).double(), device_ids=[0])
    ours = mg.nn.DataParallel(mg.nn.Linear(2, 3), device_ids=[0])
    assert list(ours.state_dict()) == list(theirs.state_dict()) and ours.device_ids == theirs.device_ids == []
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(16).standard_normal((4, 2))
    _close(theirs(torch.tensor(x)), ours(mg.tensor(x)))


@pytest.mark.parametrize(("name", "gates", "proj"), [("lstm", 4, 0), ("lstm", 4, 2), ("gru", 3, 0),
                                                     ("rnn_tanh", 1, 0), ("rnn_relu", 1, 0)])
@pytest.mark.parametrize(("bias", "bidirectional", "batch_first"), [(True, False, False), (False, True, True)])
def test_functional_layers_match_torch(name, gates, proj, bias, bidirectional, batch_first):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(17)
    layers, hidden, features, steps, batch = 2, 3, 4, 5, 2
    directions, out = (2 if bidirectional else 1), (proj or hidden)
    params = []
    for layer in range(layers):
        for _ in range(directions):
            params += [rng.standard_normal((gates * hidden, features if layer == 0 else out * directions)),
                       rng.standard_normal((gates * hidden, out))]
            if bias:
                params += [rng.standard_normal(gates * hidden), rng.standard_normal(gates * hidden)]
            if proj:
                params.append(rng.standard_normal((proj, hidden)))
    x = rng.standard_normal((batch, steps, features) if batch_first else (steps, batch, features))
    h0, c0 = rng.standard_normal((layers * directions, batch, out)), rng.standard_normal((layers * directions, batch,
                                                                                          hidden))
    t_params, m_params = [torch.tensor(p, requires_grad=True) for p in params], [mg.tensor(p, requires_grad=True)
                                                                                 for p in params]
    tx, mx = torch.tensor(x, requires_grad=True), mg.tensor(x, requires_grad=True)
    t_hx = (torch.tensor(h0), torch.tensor(c0)) if name == "lstm" else torch.tensor(h0)
    m_hx = (mg.tensor(h0), mg.tensor(c0)) if name == "lstm" else mg.tensor(h0)
    theirs = getattr(torch, name)(tx, t_hx, t_params, bias, layers, 0.0, False, bidirectional, batch_first)
    ours = getattr(mg, name)(mx, m_hx, m_params, bias, layers, 0.0, False, bidirectional, batch_first)
    assert len(theirs) == len(ours)
    for a, b in zip(theirs, ours):
        _close(a, b)
    sum((a * a).sum() for a in theirs).backward()
    sum((b * b).sum() for b in ours).backward()
    _close(tx.grad, mx.grad, 1e-9)
    for a, b in zip(t_params, m_params):
        _close(a.grad, b.grad, 1e-9)


@pytest.mark.parametrize("name", ["nuclear_norm", "frobenius_norm"])
def test_deprecated_matrix_norms_take_out_as_torch(name):
    torch = pytest.importorskip("torch")
    data = np.arange(9.0).reshape(3, 3) - 4
    out, dims = mg.zeros(()), ((0, 1),) if name == "frobenius_norm" else ()  # (frobenius_norm needs its dims)
    result = getattr(mg, name)(mg.tensor(data), *dims, out=out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (PyTorch's deprecation notice)
        expected = getattr(torch, name)(torch.tensor(data), *dims)
    assert result is out
    np.testing.assert_allclose(out.data, expected.numpy(), rtol=1e-12)
