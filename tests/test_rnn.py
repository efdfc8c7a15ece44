"""Recurrent layers: nn.RNNCell/LSTMCell/GRUCell and nn.RNN/LSTM/GRU against finite
differences and against PyTorch (the optional oracle) with the same weights."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import numeric_grad

import microgradnp as mg
from microgradnp import nn

CELLS = {"RNNCell": nn.RNNCell, "LSTMCell": nn.LSTMCell, "GRUCell": nn.GRUCell}
LAYERS = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}


def _rng(seed=0):
    return np.random.default_rng(seed)


def _input_shape(kwargs, length, batch, features, unbatched):
    if unbatched:
        return (length, features)
    return (batch, length, features) if kwargs.get("batch_first") else (length, batch, features)


def _state_shapes(name, kwargs, batch, hidden, unbatched):
    """The shapes of h_0 (and c_0) for a layer built with ``kwargs``."""
    layers = kwargs.get("num_layers", 1) * (2 if kwargs.get("bidirectional") else 1)
    lead = (layers,) if unbatched else (layers, batch)
    h = (*lead, kwargs.get("proj_size", 0) or hidden)
    return [h, (*lead, hidden)] if name == "LSTM" else [h]


def _outputs(name, out):
    """(output, h_n) or (output, (h_n, c_n)) as a flat list."""
    output, state = out
    return [output, *state] if name == "LSTM" else [output, state]


def _hx(name, states):
    if states is None:
        return None
    return tuple(states) if name == "LSTM" else states[0]


def _weighted_loss(outputs, weights):
    return sum((o * w).sum() for o, w in zip(outputs, weights))


def _check_parameter_gradients(module, fn, *inputs):
    """The gradients of ``fn(*inputs)`` (a scalar Tensor) with respect to every parameter
    of ``module`` against central finite differences."""
    module.zero_grad()
    fn(*inputs).backward()
    parameters = list(module.named_parameters())
    originals = [p.data for _, p in parameters]

    def value(*arrays):
        for (_, p), a in zip(parameters, arrays):
            p.data = a
        return fn(*inputs).data

    try:
        for index, (pname, parameter) in enumerate(parameters):
            numeric = numeric_grad(value, originals, index)
            np.testing.assert_allclose(parameter.grad, numeric, atol=1e-7, rtol=1e-5, err_msg=pname)
    finally:
        for (_, p), a in zip(parameters, originals):
            p.data = a


# -- construction, names, initialisation ---------------------------------------------------
def test_parameter_names_and_shapes_are_pytorchs():
    lstm = nn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2, rng=0)
    shapes = {name: p.shape for name, p in lstm.named_parameters()}
    assert list(shapes) == [
        "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_hr_l0",
        "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse",
        "weight_hr_l0_reverse",
        "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1", "weight_hr_l1",
        "weight_ih_l1_reverse", "weight_hh_l1_reverse", "bias_ih_l1_reverse", "bias_hh_l1_reverse",
        "weight_hr_l1_reverse",
    ]
    assert shapes["weight_ih_l0"] == (20, 3) and shapes["weight_hh_l0"] == (20, 2)
    assert shapes["weight_hr_l0"] == (2, 5) and shapes["weight_ih_l1_reverse"] == (20, 4)
    gru = nn.GRU(3, 4, bias=False)
    assert [n for n, _ in gru.named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]
    assert gru.weight_ih_l0.shape == (12, 3) and not hasattr(gru, "bias_ih_l0")  # as PyTorch
    cell = nn.LSTMCell(3, 4)
    assert {n: p.shape for n, p in cell.named_parameters()} == {
        "weight_ih": (16, 3), "weight_hh": (16, 4), "bias_ih": (16,), "bias_hh": (16,)}
    assert [n for n, _ in nn.RNNCell(2, 3, bias=False).named_parameters()] == ["weight_ih", "weight_hh"]
    assert len(lstm.all_weights) == 4 and len(lstm.all_weights[0]) == 5
    lstm.flatten_parameters()  # accepted, does nothing


@pytest.mark.parametrize("make", [lambda rng: nn.LSTM(3, 16, num_layers=2, rng=rng),
                                  lambda rng: nn.GRUCell(3, 16, rng=rng)])
def test_initialisation_is_uniform_in_one_over_sqrt_hidden_and_seeded(make):
    a, b, c = make(0), make(0), make(1)
    bound = 1 / math.sqrt(16)
    for (name, p), q, r in zip(a.named_parameters(), b.parameters(), c.parameters()):
        assert np.abs(p.data).max() <= bound, name
        assert np.abs(p.data).max() > 0.8 * bound, name  # spread over the whole range
        np.testing.assert_array_equal(p.data, q.data)
        assert not np.array_equal(p.data, r.data)


def test_repr_follows_pytorch():
    assert repr(nn.LSTM(3, 4, num_layers=2, batch_first=True, bidirectional=True, proj_size=2)).startswith(
        "LSTM(3, 4, proj_size=2, num_layers=2, batch_first=True, bidirectional=True)")
    assert repr(nn.RNNCell(3, 4, bias=False, nonlinearity="relu")).startswith(
        "RNNCell(3, 4, bias=False, nonlinearity=relu)")
    assert repr(nn.GRU(2, 3, num_layers=2, dropout=0.25)).startswith("GRU(2, 3, num_layers=2, dropout=0.25)")


# -- finite differences (no torch needed) ----------------------------------------------------
LAYER_CASES = [
    ("RNN", {}),
    ("RNN", {"nonlinearity": "relu", "num_layers": 2, "bias": False}),
    ("RNN", {"bidirectional": True, "batch_first": True}),
    ("LSTM", {"num_layers": 2, "bidirectional": True}),
    ("LSTM", {"proj_size": 2, "batch_first": True}),
    ("GRU", {"num_layers": 2, "bidirectional": True}),
    ("GRU", {"bias": False}),
]


@pytest.mark.parametrize(("name", "kwargs"), LAYER_CASES)
@pytest.mark.parametrize("unbatched", [False, True])
def test_layers_gradients_match_finite_differences(name, kwargs, unbatched):
    rng = _rng(1)
    module = LAYERS[name](2, 3, rng=rng, **kwargs)
    x = mg.tensor(rng.normal(size=_input_shape(kwargs, 3, 2, 2, unbatched)), requires_grad=True)
    states = [mg.tensor(rng.normal(size=s), requires_grad=True)
              for s in _state_shapes(name, kwargs, 2, 3, unbatched)]
    outputs = _outputs(name, module(x, _hx(name, states)))
    weights = [rng.uniform(0.5, 1.5, size=o.shape) for o in outputs]

    def fn(x, *states):
        return _weighted_loss(_outputs(name, module(x, _hx(name, states))), weights)

    assert mg.gradcheck(fn, (x, *states), atol=1e-7, rtol=1e-5)
    _check_parameter_gradients(module, fn, x, *states)


@pytest.mark.parametrize("name", list(CELLS))
@pytest.mark.parametrize("unbatched", [False, True])
def test_cells_gradients_match_finite_differences(name, unbatched):
    rng = _rng(2)
    kwargs = {"nonlinearity": "relu"} if name == "RNNCell" and unbatched else {}
    cell = CELLS[name](3, 4, rng=rng, **kwargs)
    lead = () if unbatched else (2,)
    x = mg.tensor(rng.normal(size=(*lead, 3)), requires_grad=True)
    states = [mg.tensor(rng.normal(size=(*lead, 4)), requires_grad=True) for _ in range(2 if name == "LSTMCell" else 1)]
    hx = tuple(states) if name == "LSTMCell" else states[0]
    out = cell(x, hx)
    out = list(out) if name == "LSTMCell" else [out]
    assert all(o.shape == (*lead, 4) for o in out)
    weights = [rng.uniform(0.5, 1.5, size=o.shape) for o in out]

    def fn(x, *states):
        result = cell(x, tuple(states) if name == "LSTMCell" else states[0])
        return _weighted_loss(result if name == "LSTMCell" else [result], weights)

    assert mg.gradcheck(fn, (x, *states), atol=1e-7, rtol=1e-5)
    _check_parameter_gradients(cell, fn, x, *states)


# -- behaviour ------------------------------------------------------------------------------
def test_a_layer_equals_its_cell_unrolled():
    rng = _rng(3)
    lstm, cell = nn.LSTM(3, 4, rng=0), nn.LSTMCell(3, 4, rng=1)
    cell.load_state_dict({k.removesuffix("_l0"): v for k, v in lstm.state_dict().items()})
    x = rng.normal(size=(5, 2, 3))
    out, (h_n, c_n) = lstm(x)
    h = c = None
    for t in range(5):
        h, c = cell(x[t], None if h is None else (h, c))
        np.testing.assert_allclose(out.data[t], h.data, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(h_n.data[0], h.data, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(c_n.data[0], c.data, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", list(LAYERS))
def test_float32_stays_float32(name):
    rng = _rng(4)
    kwargs = {"proj_size": 2} if name == "LSTM" else {}
    module = LAYERS[name](3, 4, num_layers=2, bidirectional=True, dtype=np.float32, rng=0, **kwargs)
    x = mg.tensor(rng.normal(size=(5, 2, 3)).astype(np.float32), requires_grad=True)
    outputs = _outputs(name, module(x))
    assert all(o.dtype == np.float32 for o in outputs)
    _weighted_loss(outputs, [np.ones(o.shape, np.float32) for o in outputs]).backward()
    assert x.grad.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in module.parameters())
    cell = nn.GRUCell(3, 4, dtype=np.float32)
    assert cell(x[0]).dtype == np.float32


def test_dropout_acts_between_layers_in_training_only():
    rng = _rng(5)
    x = rng.normal(size=(6, 3, 2))
    plain = nn.LSTM(2, 8, num_layers=2, rng=0)
    dropped = nn.LSTM(2, 8, num_layers=2, dropout=0.5, rng=1)
    dropped.load_state_dict(plain.state_dict())
    dropped.eval()
    np.testing.assert_array_equal(dropped(x)[0].data, plain(x)[0].data)
    dropped.train()
    assert not np.allclose(dropped(x)[0].data, plain(x)[0].data)
    # The last layer's output is not dropped: no exact zeros from dropout on the output itself.
    single = nn.GRU(2, 8, num_layers=1)
    assert np.all(single(x)[0].data != 0)


def test_dropout_with_one_layer_warns_as_pytorch():
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        nn.RNN(2, 3, dropout=0.2)


def test_missing_states_are_zeros():
    rng = _rng(6)
    x = rng.normal(size=(4, 2, 3))
    lstm = nn.LSTM(3, 5, num_layers=2, proj_size=2, rng=0)
    zeros = (np.zeros((2, 2, 2)), np.zeros((2, 2, 5)))
    out, (h, c) = lstm(x)
    expected, (_, c0) = lstm(x, zeros)
    np.testing.assert_array_equal(out.data, expected.data)
    np.testing.assert_array_equal(c.data, c0.data)
    assert out.shape == (4, 2, 2) and h.shape == (2, 2, 2) and c.shape == (2, 2, 5)


def test_unbatched_equals_a_batch_of_one():
    rng = _rng(7)
    x = rng.normal(size=(4, 3))
    gru = nn.GRU(3, 5, num_layers=2, bidirectional=True, batch_first=True, rng=0)
    out, h = gru(x)
    batched_out, batched_h = gru(x[None])
    assert out.shape == (4, 10) and h.shape == (4, 5)
    np.testing.assert_array_equal(out.data, batched_out.data[0])
    np.testing.assert_array_equal(h.data, batched_h.data[:, 0])


# -- errors -------------------------------------------------------------------------------------
def test_wrong_input_size_and_dimensions_are_clear_errors():
    rnn = nn.RNN(3, 4)
    with pytest.raises(ValueError, match=r"input.size\(-1\) must be equal to input_size. Expected 3, got 5"):
        rnn(np.zeros((2, 1, 5)))
    with pytest.raises(ValueError, match="expected input to be 2-D \\(unbatched\\) or 3-D, got 4-D"):
        rnn(np.zeros((2, 1, 1, 3)))
    with pytest.raises(ValueError, match="sequence is empty"):
        rnn(np.zeros((0, 1, 3)))
    with pytest.raises(ValueError, match=r"GRUCell: input.size\(-1\) must be equal to input_size. Expected 3, got 2"):
        nn.GRUCell(3, 4)(np.zeros((5, 2)))
    with pytest.raises(ValueError, match=r"LSTMCell: expected input to be 1-D \(unbatched\) or 2-D, got 3-D"):
        nn.LSTMCell(3, 4)(np.zeros((5, 2, 3)))


def test_wrong_state_shapes_are_clear_errors():
    x = np.zeros((5, 2, 3))
    with pytest.raises(ValueError, match=r"expected hx of shape \(2, 2, 4\).*got \(1, 2, 4\)"):
        nn.GRU(3, 4, num_layers=2)(x, np.zeros((1, 2, 4)))
    with pytest.raises(ValueError, match=r"expected c_0 of shape \(1, 2, 4\).*got \(1, 2, 2\)"):
        nn.LSTM(3, 4, proj_size=2)(x, (np.zeros((1, 2, 2)), np.zeros((1, 2, 2))))
    with pytest.raises(ValueError, match=r"expected h_0 of shape \(2, 2, 4\)"):
        nn.LSTM(3, 4, bidirectional=True)(x, (np.zeros((1, 2, 4)), np.zeros((2, 2, 4))))
    with pytest.raises(ValueError, match="for unbatched 2-D input, hx should also be 2-D but got a 3-D"):
        nn.RNN(3, 4)(x[:, 0], np.zeros((1, 1, 4)))
    with pytest.raises(ValueError, match="for batched 3-D input, hx should also be 3-D"):
        nn.RNN(3, 4)(x, np.zeros((1, 4)))
    with pytest.raises(TypeError, match="hx must be a pair \\(h_0, c_0\\)"):
        nn.LSTM(3, 4)(x, np.zeros((1, 2, 4)))
    with pytest.raises(ValueError, match="give both h_0 and c_0"):
        nn.LSTM(3, 4)(x, (np.zeros((1, 2, 4)), None))
    with pytest.raises(ValueError, match=r"RNNCell: hx should be 2-D \(batch, hidden_size\) of shape \(2, 4\)"):
        nn.RNNCell(3, 4)(x[0], np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"c_0 should be 1-D for unbatched 1-D input of shape \(4,\)"):
        nn.LSTMCell(3, 4)(x[0, 0], (np.zeros(4), np.zeros((1, 4))))
    with pytest.raises(TypeError, match="LSTMCell: hx must be a pair"):
        nn.LSTMCell(3, 4)(x[0], np.zeros((2, 4)))


def test_bad_constructor_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="unknown nonlinearity 'sigmoid'; select from 'tanh' or 'relu'"):
        nn.RNN(2, 3, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="unknown nonlinearity"):
        nn.RNNCell(2, 3, nonlinearity="gelu")
    with pytest.raises(ValueError, match="proj_size has to be smaller than hidden_size"):
        nn.LSTM(2, 3, proj_size=3)
    with pytest.raises(ValueError, match="proj_size must be non-negative"):
        nn.LSTM(2, 3, proj_size=-1)
    with pytest.raises(ValueError, match="dropout should be a number in range \\[0, 1\\]"):
        nn.GRU(2, 3, num_layers=2, dropout=1.5)
    with pytest.raises(ValueError, match="hidden_size must be greater than zero"):
        nn.GRU(2, 0)
    with pytest.raises(ValueError, match="num_layers must be greater than zero"):
        nn.RNN(2, 3, num_layers=0)
    with pytest.raises(TypeError, match="hidden_size should be of type int"):
        nn.LSTM(2, 3.0)


# -- PyTorch as the oracle ---------------------------------------------------------------------
TORCH_LAYER_CASES = [
    ("RNN", {}, False),
    ("RNN", {"nonlinearity": "relu"}, False),
    ("RNN", {"num_layers": 2, "bidirectional": True}, False),
    ("RNN", {"batch_first": True, "bias": False}, False),
    ("RNN", {"num_layers": 2}, True),
    ("LSTM", {}, False),
    ("LSTM", {"num_layers": 2, "bidirectional": True, "batch_first": True}, False),
    ("LSTM", {"num_layers": 2, "dropout": 0.0}, False),
    ("LSTM", {"proj_size": 3}, False),
    ("LSTM", {"proj_size": 2, "num_layers": 2, "bidirectional": True}, True),
    ("LSTM", {"bias": False, "batch_first": True}, True),
    ("GRU", {}, False),
    ("GRU", {"num_layers": 2, "bidirectional": True}, False),
    ("GRU", {"batch_first": True, "num_layers": 2}, True),
    ("GRU", {"bias": False, "bidirectional": True, "batch_first": True}, False),
]


def _check_against_torch(torch, reference, module, x, states, hx, flat, rng):
    """Load ``reference``'s weights into ``module``, run both on ``x`` and ``states`` (a list
    of arrays, or None), and compare outputs and the gradients of a random weighting of them
    with respect to the input, the states and every parameter. ``hx`` packs the states for a
    call, ``flat`` lists the outputs of one."""
    assert list(module.state_dict()) == list(reference.state_dict())
    module.load_state_dict({k: v.detach().numpy() for k, v in reference.state_dict().items()})
    x_t, x_m = torch.tensor(x, requires_grad=True), mg.tensor(x, requires_grad=True)
    states_t = None if states is None else [torch.tensor(s, requires_grad=True) for s in states]
    states_m = None if states is None else [mg.tensor(s, requires_grad=True) for s in states]
    expected, got = flat(reference(x_t, hx(states_t))), flat(module(x_m, hx(states_m)))
    weights = [rng.normal(size=tuple(e.shape)) for e in expected]
    for e, g in zip(expected, got):
        assert g.shape == tuple(e.shape)
        np.testing.assert_allclose(g.data, e.detach().numpy(), rtol=1e-12, atol=1e-13)
    sum((e * torch.tensor(w)).sum() for e, w in zip(expected, weights)).backward()
    _weighted_loss(got, weights).backward()
    np.testing.assert_allclose(x_m.grad, x_t.grad.numpy(), rtol=1e-10, atol=1e-12)
    for s_m, s_t in zip(states_m or [], states_t or []):
        np.testing.assert_allclose(s_m.grad, s_t.grad.numpy(), rtol=1e-10, atol=1e-12)
    for (pname, p_t), p_m in zip(reference.named_parameters(), module.parameters()):
        np.testing.assert_allclose(p_m.grad, p_t.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=pname)


@pytest.mark.parametrize(("name", "kwargs", "unbatched"), TORCH_LAYER_CASES)
@pytest.mark.parametrize("with_states", [True, False])
def test_layers_match_pytorch(name, kwargs, unbatched, with_states):
    torch = pytest.importorskip("torch")
    rng = _rng(8)
    reference = getattr(torch.nn, name)(4, 5, dtype=torch.float64, **kwargs).train()
    module = LAYERS[name](4, 5, rng=0, **kwargs)
    x = rng.normal(size=_input_shape(kwargs, 6, 3, 4, unbatched))
    states = [rng.normal(size=s) for s in _state_shapes(name, kwargs, 3, 5, unbatched)] if with_states else None
    _check_against_torch(torch, reference, module, x, states, lambda s: _hx(name, s),
                         lambda out: _outputs(name, out), rng)


@pytest.mark.parametrize("name", list(CELLS))
@pytest.mark.parametrize(("unbatched", "with_states", "bias"), [(False, True, True), (True, True, False),
                                                                 (False, False, True), (True, False, True)])
def test_cells_match_pytorch(name, unbatched, with_states, bias):
    torch = pytest.importorskip("torch")
    rng = _rng(9)
    kwargs = {"nonlinearity": "relu"} if name == "RNNCell" and not bias else {}
    reference = getattr(torch.nn, name)(3, 4, bias=bias, dtype=torch.float64, **kwargs)
    cell = CELLS[name](3, 4, bias=bias, **kwargs)
    lead = () if unbatched else (2,)
    x = rng.normal(size=(*lead, 3))
    pair = name == "LSTMCell"
    states = [rng.normal(size=(*lead, 4)) for _ in range(2 if pair else 1)] if with_states else None
    _check_against_torch(torch, reference, cell, x, states, lambda s: _hx("LSTM" if pair else name, s),
                         lambda out: list(out) if pair else [out], rng)


def test_pytorch_dropout_in_eval_mode_matches():
    torch = pytest.importorskip("torch")
    reference = torch.nn.GRU(3, 4, num_layers=3, dropout=0.7, dtype=torch.float64).eval()
    module = nn.GRU(3, 4, num_layers=3, dropout=0.7).eval()
    module.load_state_dict({k: v.detach().numpy() for k, v in reference.state_dict().items()})
    x = _rng(10).normal(size=(5, 2, 3))
    np.testing.assert_allclose(module(x)[0].data, reference(torch.tensor(x))[0].detach().numpy(), rtol=1e-12)


def test_compiled_training_step_replays_eager_exactly():
    rng = _rng(11)
    x, target = mg.tensor(rng.normal(size=(5, 3, 2))), rng.normal(size=(5, 3, 4))
    models = [nn.LSTM(2, 4, num_layers=2, rng=0) for _ in range(2)]
    optimizers = [mg.optim.SGD(m.parameters(), lr=0.1) for m in models]

    def step(model, optimizer):
        optimizer.zero_grad()
        loss = ((model(x)[0] - target) ** 2).mean()
        loss.backward()
        optimizer.step()
        return loss

    compiled = mg.compile(step)
    for _ in range(3):
        assert float(step(models[0], optimizers[0]).data) == float(compiled(models[1], optimizers[1]).data)


# -- nn.utils.rnn ---------------------------------------------------------------------------
def test_pad_sequence_pads_and_stacks_with_gradients():
    from microgradnp.nn.utils.rnn import pad_sequence  # PyTorch's import path

    rng = _rng(12)
    seqs = [mg.tensor(rng.normal(size=(n, 2)), requires_grad=True) for n in (3, 1, 2)]
    out = pad_sequence(seqs)
    assert out.shape == (3, 3, 2)
    np.testing.assert_array_equal(out.data[:, 1], np.vstack([seqs[1].data, np.zeros((2, 2))]))
    left = nn.utils.rnn.pad_sequence(seqs, batch_first=True, padding_value=-1.0, padding_side="left")
    assert left.shape == (3, 3, 2)
    np.testing.assert_array_equal(left.data[2], np.vstack([-np.ones((1, 2)), seqs[2].data]))
    weights = rng.normal(size=left.shape)
    (left * weights).sum().backward()
    np.testing.assert_array_equal(seqs[1].grad, weights[1, 2:])
    np.testing.assert_array_equal(seqs[0].grad, weights[0])
    back = nn.utils.rnn.unpad_sequence(out, [3, 1, 2])
    for s, b in zip(seqs, back):
        np.testing.assert_array_equal(s.data, b.data)
    back = nn.utils.rnn.unpad_sequence(nn.utils.rnn.pad_sequence(seqs, batch_first=True), np.array([3, 1, 2]),
                                       batch_first=True)
    assert [b.shape for b in back] == [(3, 2), (1, 2), (2, 2)]
    assert nn.utils.rnn.pad_sequence([np.ones(2, np.float32), np.ones(1, np.float32)]).dtype == np.float32


def test_pad_sequence_matches_pytorch():
    torch = pytest.importorskip("torch")
    from torch.nn.utils.rnn import pad_sequence as torch_pad

    seqs = [_rng(13).normal(size=(n, 2, 3)) for n in (2, 4, 1)]
    for kwargs in ({}, {"batch_first": True, "padding_value": 7.0}, {"padding_side": "left"}):
        expected = torch_pad([torch.tensor(s) for s in seqs], **kwargs).numpy()
        np.testing.assert_array_equal(nn.utils.rnn.pad_sequence(seqs, **kwargs).data, expected)


def test_pad_sequence_errors():
    pad = nn.utils.rnn.pad_sequence
    with pytest.raises(ValueError, match="empty list of sequences"):
        pad([])
    with pytest.raises(ValueError, match="padding_side to be one of 'left' or 'right', got 'middle'"):
        pad([np.ones(2)], padding_side="middle")
    with pytest.raises(ValueError, match=r"same trailing shape.*sequence 1 has shape \(1, 3\)"):
        pad([np.ones((2, 2)), np.ones((1, 3))])
    with pytest.raises(ValueError, match="sequence 0 is 0-D"):
        pad([np.float64(1.0)])
    with pytest.raises(ValueError, match="got 2 lengths for a batch of 3"):
        nn.utils.rnn.unpad_sequence(np.zeros((4, 3)), [1, 2])
    with pytest.raises(ValueError, match="between 0 and the padded length 4"):
        nn.utils.rnn.unpad_sequence(np.zeros((4, 3)), [1, 2, 5])
