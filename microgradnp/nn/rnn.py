"""Recurrent layers, as ``torch.nn``: the cells ``RNNCell``, ``LSTMCell``, ``GRUCell`` and the
multi-layer ``RNN``, ``LSTM``, ``GRU``.

Everything is built from differentiable operations (the dense-layer node, sigmoid, tanh,
slicing, stacking), so gradients come from the engine and are exact to every order. The
parameters have PyTorch's names, shapes and gate order, so a PyTorch model's
``state_dict`` (its tensors as NumPy arrays) loads with ``load_state_dict`` and gives the
same outputs. The layers also take a ``PackedSequence`` (``nn.utils.rnn``), as PyTorch's:
each sequence then runs for its own length only, stepping over ``batch_sizes``.

The time loop multiplies each step's input by ``weight_ih`` on its own rather than taking
slices of one product over all steps: with reverse-mode slicing, every slice's gradient is
an array as large as the whole product, so the backward pass of a sliced product grows with
the square of the sequence length, where per-step products keep it linear.
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings

import numpy as np

from microgradnp import ops
from microgradnp.device import check_device
from microgradnp.errors import InvalidArgumentError
from microgradnp.nn import functional as F
from microgradnp.nn.init import uniform_
from microgradnp.nn.layers import _layer_rng
from microgradnp.nn.module import Module, Parameter
from microgradnp.nn.rnn_utils import PackedSequence
from microgradnp.ops.activations import ReLU as ReLUOp
from microgradnp.ops.activations import Sigmoid as SigmoidOp
from microgradnp.ops.activations import Tanh as TanhOp
from microgradnp.ops.linalg import Linear as LinearOp
from microgradnp.tensor import Tensor, _rng, get_default_dtype

__all__ = ["GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNBase", "RNNCell", "RNNCellBase"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}
_ACTIVATIONS = {"tanh": TanhOp, "relu": ReLUOp}


# -- one time step of each kind ---------------------------------------------------------------
# ``weights`` is (weight_ih, weight_hh, bias_ih, bias_hh[, weight_hr]); biases may be None.
def _rnn_step(x, h, weights, activation):
    w_ih, w_hh, b_ih, b_hh = weights[:4]
    return activation.apply(LinearOp.apply(x, w_ih, b_ih) + LinearOp.apply(h, w_hh, b_hh))


def _lstm_step(x, state, weights):
    h, c = state
    w_ih, w_hh, b_ih, b_hh = weights[:4]
    gates = LinearOp.apply(x, w_ih, b_ih) + LinearOp.apply(h, w_hh, b_hh)
    i, f, g, o = ops.split(gates, 4, axis=-1)  # PyTorch's gate order
    c = SigmoidOp.apply(f) * c + SigmoidOp.apply(i) * TanhOp.apply(g)
    h = SigmoidOp.apply(o) * TanhOp.apply(c)
    if len(weights) == 5:  # proj_size > 0: h = weight_hr @ h
        h = LinearOp.apply(h, weights[4], None)
    return h, c


def _gru_step(x, h, weights):
    w_ih, w_hh, b_ih, b_hh = weights[:4]
    x_r, x_z, x_n = ops.split(LinearOp.apply(x, w_ih, b_ih), 3, axis=-1)
    h_r, h_z, h_n = ops.split(LinearOp.apply(h, w_hh, b_hh), 3, axis=-1)
    r = SigmoidOp.apply(x_r + h_r)
    z = SigmoidOp.apply(x_z + h_z)
    n = TanhOp.apply(x_n + r * h_n)
    return n + z * (h - n)  # (1 - z) * n + z * h


def _step_function(mode: str):
    if mode == "LSTM":
        return _lstm_step
    if mode == "GRU":
        return _gru_step
    return functools.partial(_rnn_step, activation=ReLUOp if mode == "RNN_RELU" else TanhOp)


# -- torch's functional cells: torch.lstm_cell(input, (h, c), w_ih, w_hh, b_ih, b_hh) ------------------
def lstm_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):  # noqa: A002  (PyTorch's argument names)
    """One LSTM step, as ``torch.lstm_cell``: ``hx`` is the pair ``(h, c)``; returns the new
    pair. The weights are ``LSTMCell``'s (gates in PyTorch's order i, f, g, o)."""
    h, c = hx
    return _lstm_step(_as_tensor(input), (_as_tensor(h), _as_tensor(c)), (w_ih, w_hh, b_ih, b_hh))


def gru_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):  # noqa: A002
    """One GRU step, as ``torch.gru_cell``: the new hidden state (gates in PyTorch's order r, z, n)."""
    return _gru_step(_as_tensor(input), _as_tensor(hx), (w_ih, w_hh, b_ih, b_hh))


def rnn_tanh_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):  # noqa: A002
    """One Elman step, as ``torch.rnn_tanh_cell``: ``tanh(input @ w_ih.T + b_ih + hx @ w_hh.T + b_hh)``."""
    return _rnn_step(_as_tensor(input), _as_tensor(hx), (w_ih, w_hh, b_ih, b_hh), TanhOp)


def rnn_relu_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):  # noqa: A002
    """One Elman step with ReLU, as ``torch.rnn_relu_cell``."""
    return _rnn_step(_as_tensor(input), _as_tensor(hx), (w_ih, w_hh, b_ih, b_hh), ReLUOp)


# -- torch's functional layers: torch.lstm(input, hx, params, has_biases, num_layers, ...) -------------
def _functional_layers(mode: str, input, hx: tuple, params, has_biases: bool, num_layers: int,  # noqa: A002
                       dropout: float, train: bool, bidirectional: bool, batch_first: bool):
    """The multi-layer recurrence of ``RNNBase`` with the weights ``params`` (flat, in PyTorch's
    order: per layer and direction ``w_ih, w_hh[, b_ih, b_hh][, w_hr]``): the output and the
    stacked final states. Only the (padded) input form; for packed sequences use the modules."""
    name = "torch." + {"LSTM": "lstm", "GRU": "gru", "RNN_TANH": "rnn_tanh", "RNN_RELU": "rnn_relu"}[mode]
    params = [p if p is None or isinstance(p, Tensor) else Tensor(p) for p in params]
    count = num_layers * (2 if bidirectional else 1)
    base = 4 if has_biases else 2  # w_ih, w_hh[, b_ih, b_hh]
    per_layer = len(params) // count if count > 0 else 0
    if count <= 0 or len(params) % count or per_layer not in (base, base + (mode == "LSTM")):
        names = "w_ih, w_hh, b_ih, b_hh" if has_biases else "w_ih, w_hh"
        raise InvalidArgumentError(
            f"{name}: expected the {base} weights {names}{' (and w_hr with projections)' if mode == 'LSTM' else ''} "
            f"for each of num_layers={num_layers} layers and {count // max(num_layers, 1) or 1} direction(s), "
            f"got {len(params)} tensors")
    groups = [params[i * per_layer:(i + 1) * per_layer] for i in range(count)]
    hidden = groups[0][0].shape[0] // _GATES[mode]
    proj_size = groups[0][-1].shape[0] if per_layer == base + 1 else 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (the dropout-with-one-layer warning is for modules)
        layers = RNNBase(mode, groups[0][0].shape[1], hidden, num_layers, has_biases, batch_first, dropout,
                         bidirectional, proj_size, rng=0)
    layers._given_weights = [tuple(g) if has_biases else (g[0], g[1], None, None, *g[2:]) for g in groups]
    layers.train(bool(train))
    layers.rng = None  # (dropout draws from the global generator, as F.dropout's)
    return layers._forward(input, hx)


def lstm(input, hx, params, has_biases: bool, num_layers: int, dropout: float, train: bool,  # noqa: A002
         bidirectional: bool, batch_first: bool):
    """``torch.lstm``: the layers of ``nn.LSTM`` with the weights ``params``; ``hx`` is the pair
    ``(h_0, c_0)``. Returns ``(output, h_n, c_n)``."""
    output, (h_n, c_n) = _functional_layers("LSTM", input, tuple(hx), params, has_biases, num_layers, dropout,
                                            train, bidirectional, batch_first)
    return output, h_n, c_n


def gru(input, hx, params, has_biases: bool, num_layers: int, dropout: float, train: bool,  # noqa: A002
        bidirectional: bool, batch_first: bool):
    """``torch.gru``: the layers of ``nn.GRU`` with the weights ``params``. Returns ``(output, h_n)``."""
    output, (h_n,) = _functional_layers("GRU", input, (hx,), params, has_biases, num_layers, dropout, train,
                                        bidirectional, batch_first)
    return output, h_n


def rnn_tanh(input, hx, params, has_biases: bool, num_layers: int, dropout: float, train: bool,  # noqa: A002
             bidirectional: bool, batch_first: bool):
    """``torch.rnn_tanh``: the layers of ``nn.RNN`` with the weights ``params``. Returns ``(output, h_n)``."""
    output, (h_n,) = _functional_layers("RNN_TANH", input, (hx,), params, has_biases, num_layers, dropout, train,
                                        bidirectional, batch_first)
    return output, h_n


def rnn_relu(input, hx, params, has_biases: bool, num_layers: int, dropout: float, train: bool,  # noqa: A002
             bidirectional: bool, batch_first: bool):
    """``torch.rnn_relu``: the layers of ``nn.RNN(nonlinearity="relu")`` with the weights ``params``."""
    output, (h_n,) = _functional_layers("RNN_RELU", input, (hx,), params, has_biases, num_layers, dropout, train,
                                        bidirectional, batch_first)
    return output, h_n


# -- shared checks ------------------------------------------------------------------------
def _as_tensor(x):
    return x if isinstance(x, Tensor) else Tensor(x)


def _positive_int(name: str, what: str, value, zero_ok: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: {what} should be of type int, got {type(value).__name__}")
    if value < 0 or (value == 0 and not zero_ok):
        raise InvalidArgumentError(
            f"{name}: {what} must be {'non-negative' if zero_ok else 'greater than zero'}, got {value}")
    return int(value)


def _nonlinearity_mode(name: str, nonlinearity: str) -> str:
    if nonlinearity not in _ACTIVATIONS:
        raise InvalidArgumentError(f"{name}: unknown nonlinearity {nonlinearity!r}; select from 'tanh' or 'relu'")
    return "RNN_" + nonlinearity.upper()


def _checked_input(module: Module, x, batched_ndim: int) -> tuple[Tensor, bool]:
    """``x`` as a Tensor, after checking its number of axes and features, and whether it
    is unbatched (one axis fewer than a batch)."""
    name = type(module).__name__
    x = _as_tensor(x)
    if x.ndim not in (batched_ndim - 1, batched_ndim):
        raise InvalidArgumentError(
            f"{name}: expected input to be {batched_ndim - 1}-D (unbatched) or {batched_ndim}-D, "
            f"got {x.ndim}-D input of shape {x.shape}")
    if x.shape[-1] != module.input_size:
        raise InvalidArgumentError(f"{name}: input.size(-1) must be equal to input_size. Expected {module.input_size}, "
                         f"got {x.shape[-1]} (input of shape {x.shape})")
    return x, x.ndim < batched_ndim


def _zeros(shape, like) -> Tensor:
    return Tensor(np.zeros(shape, dtype=like.dtype))


def _rows(state, start: int, stop: int):
    """Rows ``start:stop`` (batch entries) of a state: a tensor, or LSTM's (h, c) pair."""
    if isinstance(state, tuple):
        return tuple(part[start:stop] for part in state)
    return state[start:stop]


def _joined(parts: list):
    """The states in ``parts`` (tensors or (h, c) pairs) concatenated along the batch."""
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], tuple):
        return tuple(ops.concatenate(list(pieces), axis=0) for pieces in zip(*parts))
    return ops.concatenate(parts, axis=0)


def _reset_uniform(module: Module, hidden_size: int, rng) -> None:
    """PyTorch's initialisation of recurrent layers: every parameter from
    U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), in registration order."""
    rng = _rng(rng)
    bound = 1 / math.sqrt(hidden_size) if hidden_size > 0 else 0
    for parameter in module.parameters():
        uniform_(parameter, -bound, bound, rng)


# -- cells ----------------------------------------------------------------------------------
class RNNCellBase(Module):
    """The parameters and checks shared by ``RNNCell``, ``LSTMCell`` and ``GRUCell``, as
    ``torch.nn.RNNCellBase`` (``isinstance(cell, nn.RNNCellBase)`` holds for each): ``weight_ih``
    ``(num_chunks * hidden_size, input_size)``, ``weight_hh`` ``(num_chunks * hidden_size,
    hidden_size)`` and, with ``bias``, ``bias_ih`` and ``bias_hh``, all from U(-k, k),
    ``k = 1/sqrt(hidden_size)``. It has no ``forward`` of its own."""

    _mode = ""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int, device=None, dtype=None,
                 rng=None):
        super().__init__()
        name = type(self).__name__
        check_device(device, name)
        num_chunks = _positive_int(name, "num_chunks", num_chunks)
        self.input_size = _positive_int(name, "input_size", input_size, zero_ok=True)
        self.hidden_size = _positive_int(name, "hidden_size", hidden_size, zero_ok=True)
        self.bias = bias
        dtype = dtype or get_default_dtype()
        rows = num_chunks * hidden_size
        self.weight_ih = Parameter(np.empty((rows, input_size), dtype=dtype))
        self.weight_hh = Parameter(np.empty((rows, hidden_size), dtype=dtype))
        if bias:
            self.bias_ih = Parameter(np.empty(rows, dtype=dtype))
            self.bias_hh = Parameter(np.empty(rows, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        _reset_uniform(self, hidden_size, rng)

    def _weights(self) -> tuple:
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh

    def _check(self, x, hx: tuple):
        """The input as a batch (N, input_size), the states as (N, hidden_size) (zeros
        when None), and whether the input was one sample."""
        name = type(self).__name__
        x, unbatched = _checked_input(self, x, batched_ndim=2)
        if unbatched:
            x = ops.expand_dims(x, 0)
        states = []
        for i, h in enumerate(hx):
            what = "hx" if len(hx) == 1 else ("h_0", "c_0")[i]
            if h is None:
                states.append(_zeros((x.shape[0], self.hidden_size), x))
                continue
            h = _as_tensor(h)
            expected = (self.hidden_size,) if unbatched else (x.shape[0], self.hidden_size)
            if h.shape != expected:
                kind = "1-D for unbatched 1-D input" if unbatched else "2-D (batch, hidden_size)"
                raise InvalidArgumentError(f"{name}: {what} should be {kind} of shape {expected}, got shape {h.shape}")
            states.append(ops.expand_dims(h, 0) if unbatched else h)
        return x, states, unbatched

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            text += ", bias=False"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            text += f", nonlinearity={self.nonlinearity}"
        return text


class RNNCell(RNNCellBase):
    """An Elman RNN cell, ``h' = tanh(x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh)``
    (``nonlinearity="relu"`` for ReLU), as ``torch.nn.RNNCell``.

    Args:
        input_size: the number of features of the input ``x``.
        hidden_size: the number of features of the hidden state ``h``.
        bias: whether to add ``bias_ih`` and ``bias_hh``.
        nonlinearity: ``"tanh"`` or ``"relu"``.
        dtype: the parameters' dtype (the default float dtype when None).
        rng: a ``np.random.Generator`` or a seed for the initialisation, U(-k, k) with
            ``k = 1/sqrt(hidden_size)`` as PyTorch's.

    Shapes: input (N, input_size) or (input_size,); ``hx`` (N, hidden_size) or
    (hidden_size,), zeros when omitted; the output has the shape of ``hx``.
    Parameters: ``weight_ih`` (hidden_size, input_size), ``weight_hh`` (hidden_size,
    hidden_size), ``bias_ih`` and ``bias_hh`` (hidden_size,).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 dtype=None, rng=None):
        self._mode = _nonlinearity_mode("RNNCell", nonlinearity)
        super().__init__(input_size, hidden_size, bias, num_chunks=1, dtype=dtype, rng=rng)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):  # noqa: A002  (PyTorch's name)
        x, (h,), unbatched = self._check(input, (hx,))
        h = _rnn_step(x, h, self._weights(), _ACTIVATIONS[self.nonlinearity])
        return h[0] if unbatched else h


class LSTMCell(RNNCellBase):
    """A long short-term memory cell, as ``torch.nn.LSTMCell``::

        i, f, g, o = split(x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh, 4)
        c' = sigmoid(f) * c + sigmoid(i) * tanh(g)
        h' = sigmoid(o) * tanh(c')

    Args:
        input_size: the number of features of the input ``x``.
        hidden_size: the number of features of ``h`` and ``c``.
        bias: whether to add ``bias_ih`` and ``bias_hh``.
        dtype: the parameters' dtype (the default float dtype when None).
        rng: a ``np.random.Generator`` or a seed for the initialisation, U(-k, k) with
            ``k = 1/sqrt(hidden_size)`` as PyTorch's.

    Call it as ``h, c = cell(x, (h, c))``: input (N, input_size) or (input_size,), ``h``
    and ``c`` (N, hidden_size) or (hidden_size,), zeros when the pair is omitted.
    Parameters: ``weight_ih`` (4*hidden_size, input_size), ``weight_hh`` (4*hidden_size,
    hidden_size), ``bias_ih`` and ``bias_hh`` (4*hidden_size,), the gates in PyTorch's
    order i, f, g, o.
    """

    _mode = "LSTM"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype=None, rng=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=4, dtype=dtype, rng=rng)

    def forward(self, input, hx=None):  # noqa: A002  (PyTorch's name)
        if hx is None:
            hx = (None, None)
        elif not isinstance(hx, tuple | list) or len(hx) != 2:
            raise TypeError("LSTMCell: hx must be a pair (h_0, c_0) or None")
        x, state, unbatched = self._check(input, tuple(hx))
        h, c = _lstm_step(x, state, self._weights())
        return (h[0], c[0]) if unbatched else (h, c)


class GRUCell(RNNCellBase):
    """A gated recurrent unit cell, as ``torch.nn.GRUCell``::

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
        z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        h' = (1 - z) * n + z * h

    Args:
        input_size: the number of features of the input ``x``.
        hidden_size: the number of features of ``h``.
        bias: whether to add ``bias_ih`` and ``bias_hh``.
        dtype: the parameters' dtype (the default float dtype when None).
        rng: a ``np.random.Generator`` or a seed for the initialisation, U(-k, k) with
            ``k = 1/sqrt(hidden_size)`` as PyTorch's.

    Shapes as ``RNNCell``. Parameters: ``weight_ih`` (3*hidden_size, input_size),
    ``weight_hh`` (3*hidden_size, hidden_size), ``bias_ih`` and ``bias_hh``
    (3*hidden_size,), the gates in PyTorch's order r, z, n.
    """

    _mode = "GRU"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype=None, rng=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=3, dtype=dtype, rng=rng)

    def forward(self, input, hx=None):  # noqa: A002  (PyTorch's name)
        x, (h,), unbatched = self._check(input, (hx,))
        h = _gru_step(x, h, self._weights())
        return h[0] if unbatched else h


# -- multi-layer recurrent networks ------------------------------------------------------------
class RNNBase(Module):
    """The layers, directions and time loop shared by ``RNN``, ``LSTM`` and ``GRU``, as
    ``torch.nn.RNNBase`` (``isinstance(lstm, nn.RNNBase)`` holds for each). ``mode`` is
    ``"LSTM"``, ``"GRU"``, ``"RNN_TANH"`` or ``"RNN_RELU"``; it has no ``forward`` of its own."""

    _given_weights: list | None = None  # the weights of each layer-direction, when given rather than owned

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device=None, dtype=None, rng=None):
        super().__init__()
        name = type(self).__name__
        check_device(device, name)
        if mode not in _GATES:
            raise InvalidArgumentError(f"{name}: unrecognized RNN mode {mode!r}; select from "
                                       f"{', '.join(map(repr, _GATES))}")
        if proj_size and mode != "LSTM":
            raise InvalidArgumentError(f"{name}: proj_size argument is only supported for LSTM, not RNN or GRU")
        self.mode = mode
        self.input_size = _positive_int(name, "input_size", input_size, zero_ok=True)
        self.hidden_size = _positive_int(name, "hidden_size", hidden_size)
        self.num_layers = _positive_int(name, "num_layers", num_layers)
        self.proj_size = _positive_int(name, "proj_size", proj_size, zero_ok=True)
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0 <= dropout <= 1:
            raise InvalidArgumentError(
                f"{name}: dropout should be a number in range [0, 1] representing the probability "
                f"of an element being zeroed, got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{name}: dropout option adds dropout after all but last recurrent layer, so non-zero "
                          f"dropout expects num_layers greater than 1, but got dropout={dropout} and "
                          f"num_layers={num_layers}", UserWarning, stacklevel=3)
        if proj_size >= hidden_size:
            raise InvalidArgumentError(
                f"{name}: proj_size has to be smaller than hidden_size, got proj_size={proj_size} "
                f"and hidden_size={hidden_size}")
        self.bias, self.batch_first, self.bidirectional = bias, batch_first, bidirectional
        self.dropout = float(dropout)
        self.rng = _layer_rng(rng)  # (None: the global generator, looked up at each call)
        dtype = dtype or get_default_dtype()
        rows = _GATES[mode] * hidden_size
        real_hidden = proj_size or hidden_size
        directions = 2 if bidirectional else 1
        self._all_weights = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else real_hidden * directions
            for direction in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                shapes = {"weight_ih": (rows, layer_input), "weight_hh": (rows, real_hidden)}
                if bias:
                    shapes.update(bias_ih=(rows,), bias_hh=(rows,))
                if proj_size:
                    shapes["weight_hr"] = (proj_size, hidden_size)
                names = []
                for kind, shape in shapes.items():
                    self.register_parameter(kind + suffix, Parameter(np.empty(shape, dtype=dtype)))
                    names.append(kind + suffix)
                self._all_weights.append(names)
        _reset_uniform(self, hidden_size, self.rng)
        self._step = _step_function(mode)

    @property
    def all_weights(self) -> list[list[Parameter]]:
        """The parameters of each layer and direction, as ``torch.nn.RNNBase.all_weights``."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def flatten_parameters(self) -> None:
        """Does nothing: PyTorch's call to pack the weights for cuDNN, accepted so that
        PyTorch code runs unchanged."""

    def _layer_weights(self, index: int) -> tuple:
        if self._given_weights is not None:  # (torch.lstm(...) and the other functional forms)
            return self._given_weights[index]
        weights = self.all_weights[index]
        if not self.bias:
            weights[2:2] = [None, None]
        return tuple(weights)

    def _check_input(self, x):
        """The input as (T, N, input_size) and whether it was unbatched."""
        x, unbatched = _checked_input(self, x, batched_ndim=3)
        if unbatched:
            x = ops.expand_dims(x, 1)
        elif self.batch_first:
            x = ops.swapaxes(x, 0, 1)
        if x.shape[0] == 0:
            raise InvalidArgumentError(f"{type(self).__name__}: the input sequence is empty (length 0); "
                             "give at least one time step")
        return x, unbatched

    def _check_hidden(self, hx, what: str, features: int, batch: int, unbatched: bool):
        """``hx`` (or zeros) as (num_layers * num_directions, N, features)."""
        layers = self.num_layers * (2 if self.bidirectional else 1)
        if hx is None:
            return None
        hx = _as_tensor(hx)
        wanted_ndim = 2 if unbatched else 3
        if hx.ndim != wanted_ndim:
            raise InvalidArgumentError(
                f"{type(self).__name__}: for {'unbatched 2-D' if unbatched else 'batched 3-D'} input, "
                f"{what} should also be {wanted_ndim}-D but got a {hx.ndim}-D tensor of shape "
                f"{hx.shape}")
        expected = (layers, features) if unbatched else (layers, batch, features)
        if hx.shape != expected:
            raise InvalidArgumentError(f"{type(self).__name__}: expected {what} of shape {expected} "
                             "(num_layers * num_directions, batch, hidden size; no batch axis for unbatched input), "
                             f"got {hx.shape}")
        return ops.expand_dims(hx, 1) if unbatched else hx

    def _run(self, steps: list, states: list, sizes: list | None = None) -> tuple[list, list]:
        """The time loop over layers and directions. ``states[k]`` is the initial state of
        layer-direction ``k`` (a tensor, or an (h, c) pair for LSTM); returns the last
        layer's outputs per step and the final states. With ``sizes`` (a packed batch's
        ``batch_sizes``), ``steps[t]`` holds only the sequences still running at step t."""
        directions = 2 if self.bidirectional else 1
        final = []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                index = layer * directions + direction
                weights, reverse = self._layer_weights(index), bool(direction)
                if sizes is None:
                    out, state = self._direction(steps, states[index], weights, reverse)
                else:
                    out, state = self._packed_direction(steps, sizes, states[index], weights, reverse)
                outputs.append(out)
                final.append(state)
            if layer == self.num_layers - 1:
                return outputs, final
            steps = outputs[0] if directions == 1 else [ops.concatenate(pair, axis=-1) for pair in zip(*outputs)]
            if self.dropout and self.training:
                steps = [F.dropout(x, self.dropout, True, rng=self.rng) for x in steps]
        raise AssertionError("unreachable")  # pragma: no cover

    def _direction(self, steps: list, state, weights, reverse: bool):
        """One layer-direction over a padded batch: the outputs per step and the final state."""
        out = []
        for x in reversed(steps) if reverse else steps:
            state = self._step(x, state, weights)
            out.append(state[0] if self.mode == "LSTM" else state)
        if reverse:
            out.reverse()
        return out, state

    def _packed_direction(self, steps: list, sizes: list, state, weights, reverse: bool):
        """One layer-direction over a packed batch: ``steps[t]`` holds step t of the
        ``sizes[t]`` longest sequences (sorted longest first), ``state`` the initial state of
        every sequence. Returns the outputs per step and each sequence's final state: forwards,
        a sequence's state stops at its last step; backwards, it starts there."""
        out = []
        if reverse:
            rows = sizes[-1]
            initial, state = state, _rows(state, 0, rows)
            for x, size in zip(reversed(steps), reversed(sizes)):
                if size > rows:  # sequences whose last step is t join
                    state = _joined([state, _rows(initial, rows, size)])
                    rows = size
                state = self._step(x, state, weights)
                out.append(state[0] if self.mode == "LSTM" else state)
            out.reverse()
            return out, state
        finished = []  # the final states of the sequences that ended, shortest first
        rows = sizes[0]
        for x, size in zip(steps, sizes):
            if size < rows:  # sequences whose last step was t - 1 leave
                finished.append(_rows(state, size, rows))
                state = _rows(state, 0, size)
                rows = size
            state = self._step(x, state, weights)
            out.append(state[0] if self.mode == "LSTM" else state)
        return out, _joined([state, *reversed(finished)])

    def _forward_packed(self, packed: PackedSequence, hx: tuple):
        """``_forward`` for a ``PackedSequence``, as PyTorch's: the initial states are taken in
        the original batch order (reordered by ``sorted_indices`` to the packed order), the
        output is a ``PackedSequence`` like the input, and the final states are each
        sequence's, back in the original order (by ``unsorted_indices``)."""
        name = type(self).__name__
        data = packed.data
        if data.ndim != 2:
            raise InvalidArgumentError(
                f"{name}: the data of a PackedSequence input should be 2-D (total steps, input_size), "
                f"got shape {data.shape}")
        if data.shape[-1] != self.input_size:
            raise InvalidArgumentError(
                f"{name}: input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                f"got {data.shape[-1]} (PackedSequence data of shape {data.shape})")
        sizes = [int(n) for n in packed.batch_sizes.data]
        if not sizes or sizes[-1] < 1 or any(a < b for a, b in zip(sizes, sizes[1:])) or sum(sizes) != data.shape[0]:
            raise InvalidArgumentError(
                f"{name}: invalid PackedSequence: batch_sizes {sizes} must be positive, non-increasing "
                f"and sum to the {data.shape[0]} rows of data; make it with pack_padded_sequence")
        batch = sizes[0]
        real_hidden = self.proj_size or self.hidden_size
        features = (real_hidden, self.hidden_size)
        what = ("h_0", "c_0") if len(hx) == 2 else ("hx",)
        given = [self._check_hidden(h, what[i], features[i], batch, False) for i, h in enumerate(hx)]
        if packed.sorted_indices is not None:
            given = [None if h is None else h[:, packed.sorted_indices.data] for h in given]
        count = self.num_layers * (2 if self.bidirectional else 1)
        per_layer = []
        for i, h in enumerate(given):
            if h is None:
                per_layer.append([_zeros((batch, features[i]), data)] * count)
            else:
                per_layer.append([h[k] for k in range(count)])
        states = list(zip(*per_layer)) if len(hx) == 2 else per_layer[0]
        steps = ops.split(data, np.cumsum(sizes)[:-1].tolist(), axis=0) if len(sizes) > 1 else [data]
        outputs, final = self._run(steps, states, sizes)
        output = [ops.concatenate(out, axis=0) if len(out) > 1 else out[0] for out in outputs]
        output = output[0] if len(output) == 1 else ops.concatenate(output, axis=-1)
        if len(hx) == 2:
            final = [ops.stack([state[i] for state in final], axis=0) for i in range(2)]
        else:
            final = [ops.stack(final, axis=0)]
        if packed.unsorted_indices is not None:
            final = [f[:, packed.unsorted_indices.data] for f in final]
        return PackedSequence(output, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices), final

    def _forward(self, x, hx: tuple):
        """Shared forward: ``hx`` is (h_0,) or (h_0, c_0), each possibly None. Returns the
        output and the stacked final states (one per entry of ``hx``)."""
        if isinstance(x, PackedSequence):
            return self._forward_packed(x, hx)
        x, unbatched = self._check_input(x)
        batch = x.shape[1]
        real_hidden = self.proj_size or self.hidden_size
        sizes = (real_hidden, self.hidden_size)
        what = ("h_0", "c_0") if len(hx) == 2 else ("hx",)
        given = [self._check_hidden(h, what[i], sizes[i], batch, unbatched) for i, h in enumerate(hx)]
        count = self.num_layers * (2 if self.bidirectional else 1)
        per_layer = []
        for i, h in enumerate(given):
            if h is None:
                zeros = _zeros((batch, sizes[i]), x)
                per_layer.append([zeros] * count)
            else:
                per_layer.append([h[k] for k in range(count)])
        states = list(zip(*per_layer)) if len(hx) == 2 else per_layer[0]
        steps = [x[t] for t in range(x.shape[0])]
        outputs, final = self._run(steps, states)
        time_axis = 1 if self.batch_first and not unbatched else 0
        output = [ops.stack(out, axis=time_axis) for out in outputs]
        output = output[0] if len(output) == 1 else ops.concatenate(output, axis=-1)
        if len(hx) == 2:
            final = [ops.stack([state[i] for state in final], axis=0) for i in range(2)]
        else:
            final = [ops.stack(final, axis=0)]
        if unbatched:
            output = ops.squeeze(output, axis=1)
            final = [ops.squeeze(f, axis=1) for f in final]
        return output, final

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            text += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if not self.bias:
            text += ", bias=False"
        if self.batch_first:
            text += ", batch_first=True"
        if self.dropout:
            text += f", dropout={self.dropout}"
        if self.bidirectional:
            text += ", bidirectional=True"
        return text


class RNN(RNNBase):
    """A multi-layer Elman RNN, ``h_t = tanh(x_t @ W_ih.T + b_ih + h_{t-1} @ W_hh.T + b_hh)``
    (``nonlinearity="relu"`` for ReLU), as ``torch.nn.RNN``; ``output, h_n = rnn(x, h_0)``.

    Args:
        input_size: the number of features of the input.
        hidden_size: the number of features of the hidden state.
        num_layers: the number of stacked layers, each taking the previous one's outputs.
        nonlinearity: ``"tanh"`` or ``"relu"``.
        bias: whether the layers add ``bias_ih_l{k}`` and ``bias_hh_l{k}``.
        batch_first: input and output as (N, L, features) instead of (L, N, features);
            the hidden state keeps its batch on axis 1.
        dropout: the probability of dropout on each layer's outputs but the last, in
            ``train()`` mode only.
        bidirectional: whether each layer also runs backwards in time (parameters
            ``..._reverse``), its outputs concatenated after the forward ones.
        dtype: the parameters' dtype (the default float dtype when None).
        rng: a ``np.random.Generator`` or a seed, for the initialisation (every parameter
            from U(-k, k), ``k = 1/sqrt(hidden_size)``, as PyTorch's) and the dropout.

    Shapes (L the sequence length, N the batch size, D = 2 if bidirectional else 1):
    input (L, N, input_size), or (N, L, input_size) with ``batch_first=True``, or
    (L, input_size) unbatched; the output (L, N, D * hidden_size) (batch-first likewise, or
    (L, D * hidden_size) unbatched), the last layer's hidden state at every step; ``h_0`` and
    ``h_n`` (D * num_layers, N, hidden_size), or (D * num_layers, hidden_size) unbatched;
    ``h_0`` is zeros when omitted.

    The input may also be a ``PackedSequence`` (``nn.utils.rnn.pack_padded_sequence`` or
    ``pack_sequence``), as PyTorch's: the output is then a ``PackedSequence`` like it, each
    sequence runs for its own length only, and ``h_n`` holds each sequence's state at its
    last step (the reverse direction starting there), in the original batch order;
    ``batch_first`` does not apply (``h_0``/``h_n`` are (D * num_layers, N, hidden_size)).

    Parameters, as PyTorch's: ``weight_ih_l{k}`` (hidden_size, input_size for k = 0, else
    D * hidden_size), ``weight_hh_l{k}`` (hidden_size, hidden_size), ``bias_ih_l{k}`` and
    ``bias_hh_l{k}`` (hidden_size,), with ``_reverse`` versions when bidirectional.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype=None, rng=None):
        mode = _nonlinearity_mode("RNN", nonlinearity)
        super().__init__(mode, input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0,
                         dtype=dtype, rng=rng)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):  # noqa: A002  (PyTorch's name)
        """Returns ``(output, h_n)``; ``hx`` is the initial hidden state (zeros when None).
        ``output`` is a ``PackedSequence`` when ``input`` is one."""
        output, (h_n,) = self._forward(input, (hx,))
        return output, h_n


class LSTM(RNNBase):
    """A multi-layer long short-term memory network, as ``torch.nn.LSTM``;
    ``output, (h_n, c_n) = lstm(x, (h_0, c_0))``. Each layer computes, per step::

        i, f, g, o = split(x_t @ W_ih.T + b_ih + h_{t-1} @ W_hh.T + b_hh, 4)
        c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g)
        h_t = sigmoid(o) * tanh(c_t)           (then h_t @ W_hr.T with proj_size > 0)

    The arguments, the shapes, ``rng`` and the ``PackedSequence`` input are ``RNN``'s
    (without ``nonlinearity``; a packed input gives ``(PackedSequence, (h_n, c_n))``), plus
    ``proj_size``: when > 0, ``h`` is projected to that many features by ``weight_hr_l{k}``
    (proj_size, hidden_size), as PyTorch's LSTM with projections; it must be smaller than
    hidden_size. With H_out = proj_size if > 0 else hidden_size, the output has D * H_out
    features, ``h_0``/``h_n`` H_out and ``c_0``/``c_n`` hidden_size (both zeros when the
    pair is omitted).

    Parameters, as PyTorch's (gates in the order i, f, g, o): ``weight_ih_l{k}``
    (4*hidden_size, input_size for k = 0, else D * H_out), ``weight_hh_l{k}`` (4*hidden_size,
    H_out), ``bias_ih_l{k}`` and ``bias_hh_l{k}`` (4*hidden_size,), ``weight_hr_l{k}`` with
    proj_size > 0, and ``_reverse`` versions when bidirectional.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 dtype=None, rng=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, dtype=dtype, rng=rng)

    def forward(self, input, hx=None):  # noqa: A002  (PyTorch's name)
        """Returns ``(output, (h_n, c_n))``; ``hx`` is the pair ``(h_0, c_0)`` (zeros when None).
        ``output`` is a ``PackedSequence`` when ``input`` is one."""
        if hx is None:
            hx = (None, None)
        elif not isinstance(hx, tuple | list) or len(hx) != 2:
            raise TypeError(f"LSTM: hx must be a pair (h_0, c_0) or None, got {type(hx).__name__}")
        elif (hx[0] is None) != (hx[1] is None):
            raise InvalidArgumentError("LSTM: give both h_0 and c_0, or neither")
        output, (h_n, c_n) = self._forward(input, tuple(hx))
        return output, (h_n, c_n)


class GRU(RNNBase):
    """A multi-layer gated recurrent unit network, as ``torch.nn.GRU``;
    ``output, h_n = gru(x, h_0)``. Each layer computes, per step::

        r = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
        z = sigmoid(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
        n = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn))
        h_t = (1 - z) * n + z * h_{t-1}

    The arguments, the shapes, ``rng`` and the ``PackedSequence`` input are ``RNN``'s
    (without ``nonlinearity``).

    Parameters, as PyTorch's (gates in the order r, z, n): ``weight_ih_l{k}``
    (3*hidden_size, input_size for k = 0, else D * hidden_size), ``weight_hh_l{k}``
    (3*hidden_size, hidden_size), ``bias_ih_l{k}`` and ``bias_hh_l{k}`` (3*hidden_size,),
    with ``_reverse`` versions when bidirectional.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, dtype=None,
                 rng=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0,
                         dtype=dtype, rng=rng)

    def forward(self, input, hx=None):  # noqa: A002  (PyTorch's name)
        """Returns ``(output, h_n)``; ``hx`` is the initial hidden state (zeros when None).
        ``output`` is a ``PackedSequence`` when ``input`` is one."""
        output, (h_n,) = self._forward(input, (hx,))
        return output, h_n
