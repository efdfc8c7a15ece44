"""nn.utils.rnn's PackedSequence (pack_padded_sequence, pad_packed_sequence, pack_sequence,
unpack_sequence) and the recurrent layers on packed input: against hand-made values, each
sequence run on its own, central finite differences, and PyTorch (the optional oracle)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import numeric_grad

import microgradnp as mg
from microgradnp import nn
from microgradnp.nn.rnn_utils import (
    PackedSequence,
    invert_permutation,
    pack_padded_sequence,
    pack_sequence,
    pad_packed_sequence,
    pad_sequence,
    unpack_sequence,
)

LAYERS = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}


def _rng(seed=0):
    return np.random.default_rng(seed)


def _padded(rng, lengths, features, batch_first=False, longest=None):
    longest = longest or max(lengths)
    shape = (len(lengths), longest, features) if batch_first else (longest, len(lengths), features)
    return rng.normal(size=shape)


def _flat_state(name, state):
    return list(state) if name == "LSTM" else [state]


def _hx(name, states):
    if states is None:
        return None
    return tuple(states) if name == "LSTM" else states[0]


def _state_shapes(name, kwargs, batch, hidden):
    layers = kwargs.get("num_layers", 1) * (2 if kwargs.get("bidirectional") else 1)
    h = (layers, batch, kwargs.get("proj_size", 0) or hidden)
    return [h, (layers, batch, hidden)] if name == "LSTM" else [h]


# -- packing and unpacking ----------------------------------------------------------------------
def test_pack_padded_sequence_interleaves_the_steps_longest_first():
    x = np.arange(4 * 3, dtype=np.float64).reshape(4, 3, 1)  # x[t, b] = 3 t + b
    packed = pack_padded_sequence(x, [4, 2, 1])
    assert isinstance(packed, tuple) and packed._fields == ("data", "batch_sizes", "sorted_indices",
                                                            "unsorted_indices")
    np.testing.assert_array_equal(packed.data.data[:, 0], [0, 1, 2, 3, 4, 6, 9])
    assert packed.batch_sizes.dtype == np.int64 and packed.batch_sizes.tolist() == [3, 2, 1, 1]
    assert packed.sorted_indices is None and packed.unsorted_indices is None

    packed = pack_padded_sequence(np.swapaxes(x, 0, 1), mg.tensor([1, 4, 2]), batch_first=True,
                                  enforce_sorted=False)
    assert packed.sorted_indices.tolist() == [1, 2, 0] and packed.unsorted_indices.tolist() == [2, 0, 1]
    assert packed.sorted_indices.dtype == np.int64 and packed.unsorted_indices.dtype == np.int64
    np.testing.assert_array_equal(packed.data.data[:, 0], [1, 2, 0, 4, 5, 7, 10])
    assert packed.batch_sizes.tolist() == [3, 2, 1, 1]


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("lengths", [[5, 3, 3, 1], [2, 5, 1, 4]])
def test_pad_packed_sequence_inverts_packing(batch_first, lengths):
    rng = _rng(1)
    x = _padded(rng, lengths, 2, batch_first, longest=6)
    packed = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=lengths == sorted(lengths)[::-1])
    padded, got_lengths = pad_packed_sequence(packed, batch_first=batch_first, padding_value=-7.0)
    assert got_lengths.dtype == np.int64 and got_lengths.tolist() == lengths
    assert padded.shape == (4, 5, 2) if batch_first else (5, 4, 2)
    padded = padded.data if batch_first else np.swapaxes(padded.data, 0, 1)
    x = x if batch_first else np.swapaxes(x, 0, 1)
    for b, n in enumerate(lengths):
        np.testing.assert_array_equal(padded[b, :n], x[b, :n])
        np.testing.assert_array_equal(padded[b, n:], -7.0)
    longer, _ = pad_packed_sequence(packed, batch_first=batch_first, total_length=7)
    assert longer.shape == ((4, 7, 2) if batch_first else (7, 4, 2))
    np.testing.assert_array_equal(longer.data[(slice(None), slice(5, None)) if batch_first else slice(5, None)], 0)


def test_pack_sequence_and_unpack_sequence_round_trip():
    rng = _rng(2)
    seqs = [mg.tensor(rng.normal(size=(n, 2, 3)), requires_grad=True) for n in (2, 4, 1)]
    with pytest.raises(ValueError, match="enforce_sorted=False"):
        pack_sequence(seqs)
    packed = pack_sequence(seqs, enforce_sorted=False)
    assert packed.data.shape == (7, 2, 3) and packed.batch_sizes.tolist() == [3, 2, 1, 1]
    back = unpack_sequence(packed)
    assert [b.shape for b in back] == [(2, 2, 3), (4, 2, 3), (1, 2, 3)]
    for s, b in zip(seqs, back):
        np.testing.assert_array_equal(s.data, b.data)
    weights = [rng.normal(size=s.shape) for s in seqs]
    sum((b * w).sum() for b, w in zip(back, weights)).backward()
    for s, w in zip(seqs, weights):
        np.testing.assert_array_equal(s.grad, w)
    assert pack_sequence([np.ones((3, 1), np.float32), np.ones((2, 1), np.float32)]).data.dtype == np.float32


def test_packed_sequence_class():
    data = mg.tensor(np.arange(6.0).reshape(3, 2))
    packed = PackedSequence(data, np.array([2, 1]), [1, 0])
    assert packed.data is data and packed.batch_sizes.dtype == np.int64
    assert packed.sorted_indices.tolist() == [1, 0] and packed.unsorted_indices.tolist() == [1, 0]
    _, batch_sizes, _, unsorted_indices = packed  # a named tuple
    assert batch_sizes.tolist() == [2, 1] and unsorted_indices is packed.unsorted_indices
    legacy = PackedSequence((data, [2, 1]))
    assert legacy.sorted_indices is None and legacy.unsorted_indices is None
    single = packed.float()
    assert single.data.dtype == np.float32 and single.batch_sizes is packed.batch_sizes
    assert single.sorted_indices is packed.sorted_indices and isinstance(single, PackedSequence)
    assert single.to(np.float32) is single and packed.double() is packed and packed.cpu() is packed
    assert not packed.is_cuda
    assert invert_permutation(None) is None
    assert invert_permutation(np.array([2, 0, 3, 1])).tolist() == [1, 3, 0, 2]


def test_packing_errors_are_clear():
    x = np.zeros((4, 3, 2))
    with pytest.raises(ValueError, match=r"sorted in decreasing order.*pass `enforce_sorted=False`"):
        pack_padded_sequence(x, [2, 4, 1])
    with pytest.raises(ValueError, match="greater than 0"):
        pack_padded_sequence(x, [4, 3, 0])
    with pytest.raises(ValueError, match="greater than 0"):
        pack_padded_sequence(x, [4, 0, 3], enforce_sorted=False)
    with pytest.raises(ValueError, match=r"must be at most the padded length 4"):
        pack_padded_sequence(x, [5, 3, 2])
    with pytest.raises(ValueError, match=r"but got 2 \(batch_size=3\)"):
        pack_padded_sequence(x, [4, 3])
    with pytest.raises(ValueError, match=r"but got 3 \(batch_size=4\)"):
        pack_padded_sequence(x, [4, 3, 3], batch_first=True)
    with pytest.raises(TypeError, match="lengths must hold integers"):
        pack_padded_sequence(x, [4.5, 3, 2])
    with pytest.raises(ValueError, match="at least 2 axes"):
        pack_padded_sequence(np.zeros(3), [1])
    packed = pack_padded_sequence(x, [4, 3, 2])
    with pytest.raises(ValueError, match="total_length=3 and max sequence length being 4"):
        pad_packed_sequence(packed, total_length=3)
    with pytest.raises(TypeError, match="expected a PackedSequence"):
        pad_packed_sequence(x)
    with pytest.raises(ValueError, match="greater than 0"):
        pack_sequence([np.ones((2, 1)), np.ones((0, 1))])


def test_packing_gradients_match_finite_differences():
    rng = _rng(3)
    x = mg.tensor(_padded(rng, [3, 4, 1], 2, batch_first=True), requires_grad=True)
    weights = rng.normal(size=(8, 2))

    def packed_data(x):
        return (pack_padded_sequence(x, [3, 4, 1], batch_first=True, enforce_sorted=False).data * weights).sum()

    assert mg.gradcheck(packed_data, (x,), atol=1e-8, rtol=1e-6)
    packed_data(x).backward()
    expected = np.zeros_like(x.data)  # each packed row's weight, back at its place in x
    expected[[1, 0, 2, 1, 0, 1, 0, 1], [0, 0, 0, 1, 1, 2, 2, 3]] = weights
    np.testing.assert_array_equal(x.grad, expected)

    data = mg.tensor(rng.normal(size=(8, 2)), requires_grad=True)
    template = pack_padded_sequence(np.zeros((4, 3, 2)), [3, 4, 1], enforce_sorted=False)
    out_weights = rng.normal(size=(5, 3, 2))

    def padded(data):
        sequence = PackedSequence(data, template.batch_sizes, template.sorted_indices)
        return (pad_packed_sequence(sequence, padding_value=2.0, total_length=5)[0] * out_weights).sum()

    assert mg.gradcheck(padded, (data,), atol=1e-8, rtol=1e-6)


# -- the recurrent layers on packed input, without PyTorch -------------------------------------------
SOLO_CASES = [
    ("RNN", {}),
    ("RNN", {"nonlinearity": "relu", "num_layers": 2, "bidirectional": True}),
    ("LSTM", {"num_layers": 2, "bidirectional": True}),
    ("LSTM", {"proj_size": 2, "bidirectional": True, "batch_first": True}),
    ("GRU", {"bidirectional": True, "bias": False}),
]


@pytest.mark.parametrize(("name", "kwargs"), SOLO_CASES)
def test_a_packed_batch_equals_each_sequence_run_alone(name, kwargs):
    rng = _rng(4)
    module = LAYERS[name](3, 4, rng=rng, **kwargs)
    lengths = [2, 5, 1, 5, 3]
    batch_first = kwargs.get("batch_first", False)
    x = _padded(rng, lengths, 3, batch_first)
    states = [rng.normal(size=s) for s in _state_shapes(name, kwargs, len(lengths), 4)]
    packed = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
    out, final = module(packed, _hx(name, states))
    assert isinstance(out, PackedSequence) and out.batch_sizes is packed.batch_sizes
    assert out.sorted_indices is packed.sorted_indices and out.unsorted_indices is packed.unsorted_indices
    padded, _ = pad_packed_sequence(out, batch_first=batch_first)
    padded = padded.data if batch_first else np.swapaxes(padded.data, 0, 1)
    final = [f.data for f in _flat_state(name, final)]
    for b, n in enumerate(lengths):
        sequence = x[b, :n] if batch_first else x[:n, b]
        alone_out, alone_final = module(sequence, _hx(name, [s[:, b] for s in states]))  # unbatched
        np.testing.assert_allclose(padded[b, :n], alone_out.data, rtol=1e-12, atol=1e-14)
        np.testing.assert_array_equal(padded[b, n:], 0.0)
        for f, a in zip(final, _flat_state(name, alone_final)):
            np.testing.assert_allclose(f[:, b], a.data, rtol=1e-12, atol=1e-14)


def _check_parameter_gradients(module, fn):
    module.zero_grad()
    fn().backward()
    parameters = [p for _, p in module.named_parameters()]
    originals = [p.data for p in parameters]

    def value(*arrays):
        for p, a in zip(parameters, arrays):
            p.data = a
        return fn().data

    try:
        for index, (pname, parameter) in enumerate(module.named_parameters()):
            numeric = numeric_grad(value, originals, index)
            np.testing.assert_allclose(parameter.grad, numeric, atol=1e-7, rtol=1e-5, err_msg=pname)
    finally:
        for p, a in zip(parameters, originals):
            p.data = a


@pytest.mark.parametrize(("name", "kwargs"), [("RNN", {"num_layers": 2, "bidirectional": True}),
                                              ("LSTM", {"bidirectional": True, "proj_size": 2}),
                                              ("GRU", {"batch_first": True, "bidirectional": True})])
def test_packed_layer_gradients_match_finite_differences(name, kwargs):
    rng = _rng(5)
    module = LAYERS[name](2, 3, rng=rng, **kwargs)
    lengths = [2, 3, 1]
    batch_first = kwargs.get("batch_first", False)
    x = mg.tensor(_padded(rng, lengths, 2, batch_first), requires_grad=True)
    states = [mg.tensor(rng.normal(size=s), requires_grad=True) for s in _state_shapes(name, kwargs, 3, 3)]
    out, final = module(pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False),
                        _hx(name, states))
    weights = [rng.uniform(0.5, 1.5, size=o.shape) for o in [out.data, *_flat_state(name, final)]]

    def fn(x, *states):
        packed = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
        out, final = module(packed, _hx(name, states))
        return sum((o * w).sum() for o, w in zip([out.data, *_flat_state(name, final)], weights))

    assert mg.gradcheck(fn, (x, *states), atol=1e-7, rtol=1e-5)
    _check_parameter_gradients(module, lambda: fn(x, *states))


def test_packed_input_keeps_float32_and_the_padded_path():
    rng = _rng(6)
    gru = nn.GRU(2, 3, bidirectional=True, dtype=np.float32, rng=0)
    x = rng.normal(size=(4, 3, 2)).astype(np.float32)
    out, h_n = gru(pack_padded_sequence(x, [4, 4, 4]))
    assert out.data.dtype == np.float32 and h_n.dtype == np.float32
    padded_out, padded_h = gru(x)  # equal lengths: the same as the padded batch
    np.testing.assert_allclose(pad_packed_sequence(out)[0].data, padded_out.data, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(h_n.data, padded_h.data, rtol=1e-6, atol=1e-7)


def test_packed_input_errors_are_clear():
    lstm = nn.LSTM(3, 4, num_layers=2, rng=0)
    packed = pack_padded_sequence(np.zeros((3, 2, 3)), [3, 1])
    with pytest.raises(ValueError, match=r"input\.size\(-1\) must be equal to input_size\. Expected 2, got 3"):
        nn.GRU(2, 4)(packed)
    with pytest.raises(ValueError, match=r"expected h_0 of shape \(2, 2, 4\)"):
        lstm(packed, (np.zeros((2, 3, 4)), np.zeros((2, 2, 4))))
    with pytest.raises(ValueError, match="should also be 3-D"):
        lstm(packed, (np.zeros((2, 4)), np.zeros((2, 4))))
    with pytest.raises(ValueError, match="invalid PackedSequence"):
        lstm(PackedSequence(np.zeros((4, 3)), [2, 1]))


def test_exported_where_pad_sequence_is():
    from microgradnp.nn.utils.rnn import PackedSequence as ByTorchPath  # PyTorch's import path

    assert ByTorchPath is PackedSequence
    assert mg.nn.utils.rnn.pack_padded_sequence is pack_padded_sequence
    assert nn.utils.rnn.PackedSequence is PackedSequence and nn.utils.rnn.pad_sequence is pad_sequence
    assert set(nn.utils.rnn.__all__) == {"PackedSequence", "invert_permutation", "pack_padded_sequence",
                                         "pad_packed_sequence", "pad_sequence", "unpad_sequence", "pack_sequence",
                                         "unpack_sequence"}


# -- PyTorch as the oracle ---------------------------------------------------------------------
def test_packing_matches_pytorch():
    torch = pytest.importorskip("torch")
    from torch.nn.utils import rnn as reference

    assert set(reference.__all__) == set(nn.utils.rnn.__all__)
    rng = _rng(7)
    for batch_first, lengths, enforce_sorted in [(False, [5, 3, 3, 1], True), (True, [2, 5, 1, 5, 2], False)]:
        x = _padded(rng, lengths, 3, batch_first, longest=6)
        x_t, x_m = torch.tensor(x, requires_grad=True), mg.tensor(x, requires_grad=True)
        expected = reference.pack_padded_sequence(x_t, torch.tensor(lengths), batch_first, enforce_sorted)
        got = pack_padded_sequence(x_m, np.array(lengths), batch_first, enforce_sorted)
        np.testing.assert_array_equal(got.data.data, expected.data.detach().numpy())
        for field in ("batch_sizes", "sorted_indices", "unsorted_indices"):
            e, g = getattr(expected, field), getattr(got, field)
            assert (g is None) == (e is None) and (g is None or g.tolist() == e.tolist()), field
        for kwargs in ({"batch_first": batch_first}, {"padding_value": -1.5, "total_length": 8}):
            (pad_t, len_t), (pad_m, len_m) = reference.pad_packed_sequence(expected, **kwargs), \
                pad_packed_sequence(got, **kwargs)
            np.testing.assert_array_equal(pad_m.data, pad_t.detach().numpy())
            assert len_m.tolist() == len_t.tolist()
        weights = rng.normal(size=tuple(pad_t.shape))
        (pad_t * torch.tensor(weights)).sum().backward()
        (pad_m * weights).sum().backward()
        np.testing.assert_array_equal(x_m.grad, x_t.grad.numpy())
    seqs = [rng.normal(size=(n, 2)) for n in (1, 3, 2)]
    expected = reference.pack_sequence([torch.tensor(s) for s in seqs], enforce_sorted=False)
    got = pack_sequence(seqs, enforce_sorted=False)
    np.testing.assert_array_equal(got.data.data, expected.data.numpy())
    for e, g in zip(reference.unpack_sequence(expected), unpack_sequence(got)):
        np.testing.assert_array_equal(g.data, e.numpy())


TORCH_CASES = [
    ("RNN", {}, True, True),
    ("RNN", {"nonlinearity": "relu", "num_layers": 2}, False, False),
    ("RNN", {"num_layers": 2, "bidirectional": True, "batch_first": True}, False, True),
    ("LSTM", {}, False, True),
    ("LSTM", {"num_layers": 2, "bidirectional": True}, True, False),
    ("LSTM", {"num_layers": 2, "bidirectional": True, "batch_first": True}, False, True),
    ("LSTM", {"proj_size": 2, "num_layers": 2, "bidirectional": True}, False, False),
    ("LSTM", {"proj_size": 3, "bias": False}, True, True),
    ("GRU", {}, False, False),
    ("GRU", {"num_layers": 2, "bidirectional": True}, False, True),
    ("GRU", {"bidirectional": True, "batch_first": True, "bias": False}, True, False),
]


@pytest.mark.parametrize(("name", "kwargs", "enforce_sorted", "with_states"), TORCH_CASES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_packed_layers_match_pytorch(name, kwargs, enforce_sorted, with_states, dtype):
    torch = pytest.importorskip("torch")
    from torch.nn.utils import rnn as reference

    rng = _rng(8)
    torch_dtype = getattr(torch, dtype)
    tight = dtype == "float64"
    close = {"rtol": 1e-11, "atol": 1e-12} if tight else {"rtol": 1e-4, "atol": 1e-5}
    reference_layer = getattr(torch.nn, name)(4, 5, dtype=torch_dtype, **kwargs)
    module = LAYERS[name](4, 5, dtype=dtype, rng=0, **kwargs)
    module.load_state_dict({k: v.detach().numpy() for k, v in reference_layer.state_dict().items()})
    lengths = [6, 4, 4, 2, 1] if enforce_sorted else [3, 6, 1, 4, 6]
    batch_first = kwargs.get("batch_first", False)
    x = _padded(rng, lengths, 4, batch_first).astype(dtype)
    states = [rng.normal(size=s).astype(dtype) for s in _state_shapes(name, kwargs, 5, 5)] if with_states else None
    x_t, x_m = torch.tensor(x, requires_grad=True), mg.tensor(x, requires_grad=True)
    states_t = None if states is None else [torch.tensor(s, requires_grad=True) for s in states]
    states_m = None if states is None else [mg.tensor(s, requires_grad=True) for s in states]
    packed_t = reference.pack_padded_sequence(x_t, lengths, batch_first, enforce_sorted)
    packed_m = pack_padded_sequence(x_m, lengths, batch_first, enforce_sorted)
    out_t, final_t = reference_layer(packed_t, _hx(name, states_t))
    out_m, final_m = module(packed_m, _hx(name, states_m))
    assert isinstance(out_m, PackedSequence)
    assert out_m.batch_sizes.tolist() == out_t.batch_sizes.tolist()
    expected = [out_t.data, *_flat_state(name, final_t)]
    got = [out_m.data, *_flat_state(name, final_m)]
    for e, g in zip(expected, got):
        assert g.shape == tuple(e.shape) and g.dtype == np.dtype(dtype)
        np.testing.assert_allclose(g.data, e.detach().numpy(), **close)
    weights = [rng.normal(size=tuple(e.shape)).astype(dtype) for e in expected]
    sum((e * torch.tensor(w)).sum() for e, w in zip(expected, weights)).backward()
    sum((g * w).sum() for g, w in zip(got, weights)).backward()
    grad_close = {"rtol": 1e-9, "atol": 1e-11} if tight else {"rtol": 1e-3, "atol": 1e-4}
    np.testing.assert_allclose(x_m.grad, x_t.grad.numpy(), **grad_close)
    for s_m, s_t in zip(states_m or [], states_t or []):
        np.testing.assert_allclose(s_m.grad, s_t.grad.numpy(), **grad_close)
    for (pname, p_t), p_m in zip(reference_layer.named_parameters(), module.parameters()):
        np.testing.assert_allclose(p_m.grad, p_t.grad.numpy(), err_msg=pname, **grad_close)
