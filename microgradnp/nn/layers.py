"""Dense layers, containers, activations and other parameter-free layers."""

from __future__ import annotations

import copy
import math
import operator
from collections import OrderedDict
from collections.abc import Iterable

import numpy as np

from microgradnp import ops
from microgradnp.errors import InvalidArgumentError
from microgradnp.nn import functional as F
from microgradnp.nn.init import constant_, default_layer_init_
from microgradnp.nn.module import Module, Parameter
from microgradnp.ops.activations import ReLU as ReLUOp
from microgradnp.ops.activations import Sigmoid as SigmoidOp
from microgradnp.ops.activations import Tanh as TanhOp
from microgradnp.ops.linalg import Linear as LinearOp
from microgradnp.tensor import _rng, get_default_dtype


class Linear(Module):
    """``y = x @ weight.T + bias``: weight (out_features, in_features), bias (out_features,),
    initialised as in PyTorch (uniform in +-1/sqrt(in_features)). ``rng`` seeds it."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=None, rng=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        dtype = dtype or get_default_dtype()
        self.weight = Parameter(np.empty((out_features, in_features), dtype=dtype))
        self.bias = Parameter(np.empty(out_features, dtype=dtype)) if bias else None
        self.reset_parameters(rng)

    def reset_parameters(self, rng=None) -> None:
        """Initialise ``weight`` and ``bias`` again, in place, as in ``__init__`` (``rng``: a
        ``np.random.Generator``, a seed, or None for the global generator)."""
        default_layer_init_(self.weight, self.bias, rng)

    def forward(self, x):
        try:
            return LinearOp.apply(x, self.weight, self.bias)  # F.linear without its wrapper's call
        except ValueError:
            # Checked only on failure (it costs nothing then): the error names the layer,
            # where NumPy's matmul reports a "core dimension" mismatch in its gufunc signature.
            shape = getattr(x, "shape", None)
            if shape is None:
                shape = np.shape(x)
            if not shape or shape[-1] != self.in_features:
                raise InvalidArgumentError(
                    f"Linear(in_features={self.in_features}, out_features={self.out_features}): the input has "
                    f"shape {tuple(shape)}, but its last axis must have {self.in_features} features"
                ) from None
            raise

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Sequential(Module):
    """Modules applied one after the other: ``Sequential(Linear(2, 8), Tanh(), Linear(8, 1))``
    (children named "0", "1", ...) or ``Sequential(OrderedDict(name=module, ...))``.

    It is also a list of its modules, as PyTorch's: ``seq[i]``, ``seq[i] = module``,
    ``del seq[i]`` (or a slice), ``len``, iteration, ``append``, ``extend``, ``insert``,
    ``pop``, ``seq + other``, ``seq += other``, ``seq * 2``. Deleting or inserting renumbers
    the children "0", "1", ... as PyTorch does."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict | dict):
            modules = modules[0].items()
        else:
            modules = ((str(i), m) for i, m in enumerate(modules))
        for name, module in modules:
            if not isinstance(module, Module):
                raise TypeError(f"Sequential: entry {name!r} is a {type(module).__name__}, not an nn.Module")
            self.add_module(name, module)

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x

    # -- as a list of modules, with PyTorch's names and errors ------------------------------
    def _name_at(self, index) -> str:
        index = operator.index(index)
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is out of range")
        return list(self._modules)[index]

    def _renumber(self, modules) -> None:
        """Hold ``modules`` as "0", "1", ... (PyTorch renumbers after a deletion or insertion)."""
        for name in list(self._modules):
            delattr(self, name)
        for i, module in enumerate(modules):
            self.add_module(str(i), module)

    def append(self, module: Module) -> Sequential:
        """Add ``module`` at the end; returns self."""
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules) -> Sequential:
        """Append every module of ``modules`` (a Sequential or any iterable); returns self."""
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> Sequential:
        """Insert ``module`` before position ``index`` (-len..len); returns self."""
        if not isinstance(module, Module):
            raise TypeError(f"Sequential.insert: module should be an nn.Module, got {type(module).__name__}")
        modules = list(self._modules.values())
        index = operator.index(index)
        if not -len(modules) <= index <= len(modules):
            raise IndexError(f"Index out of range: {index}")
        modules.insert(index, module)
        self._renumber(modules)
        return self

    def pop(self, index: int | slice) -> Module | Sequential:
        """Remove and return the module (or the Sequential of a slice) at ``index``."""
        removed = self[index]
        del self[index]
        return removed

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        if isinstance(index, slice):
            # Of this class, as PyTorch's, when it is built like a Sequential; a subclass with its
            # own constructor (MLP takes layer sizes) cannot be: a plain Sequential then.
            cls = type(self) if type(self).__init__ is Sequential.__init__ else Sequential
            return cls(OrderedDict(list(self._modules.items())[index]))
        return self._modules[self._name_at(index)]

    def __setitem__(self, index: int, module: Module) -> None:
        setattr(self, self._name_at(index), module)

    def __delitem__(self, index: int | slice) -> None:
        names = list(self._modules)[index] if isinstance(index, slice) else [self._name_at(index)]
        for name in names:
            delattr(self, name)
        self._renumber(list(self._modules.values()))

    def __add__(self, other: Sequential) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError(f"add operator supports only objects of Sequential class, but {type(other)} is given.")
        return Sequential().extend(self).extend(other)

    def __iadd__(self, other: Sequential) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError(f"add operator supports only objects of Sequential class, but {type(other)} is given.")
        return self.extend(list(other))

    def __mul__(self, times: int) -> Sequential:
        return Sequential().extend(list(self) * self._check_times(times))

    __rmul__ = __mul__

    def __imul__(self, times: int) -> Sequential:
        return self.extend(list(self) * (self._check_times(times) - 1))

    def _check_times(self, times) -> int:
        if isinstance(times, bool) or not isinstance(times, int):
            raise TypeError(f"unsupported operand type(s) for *: {type(self)} and {type(times)}")
        if times <= 0:
            raise ValueError(f"Non-positive multiplication factor {times} for {type(self)}")
        return times


# -- activations ----------------------------------------------------------------------------
class Sigmoid(Module):
    def forward(self, x):
        return SigmoidOp.apply(x)  # ops.sigmoid without its wrapper's call: this runs every step


class Tanh(Module):
    def forward(self, x):
        return TanhOp.apply(x)  # ops.tanh without its wrapper's call: this runs every step


class ReLU(Module):
    """``max(x, 0)``; with ``inplace=True`` the result is written into the input, which is
    returned, as PyTorch's (``F.relu_``)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        if self.inplace:
            return F.relu_(x)
        return ReLUOp.apply(x)  # ops.relu without its wrapper's call: this runs every step

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """x where x > 0, else ``negative_slope * x``; with ``inplace=True`` the result is written
    into the input, which is returned, as PyTorch's."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class PReLU(Module):
    """``max(0, x) + a * min(0, x)`` with a learnt slope ``a`` (``weight``, each starting at
    ``init``): one shared by all channels, or one per channel (axis 1) with
    ``num_parameters=C``, as ``torch.nn.PReLU``."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, dtype=None):
        super().__init__()
        self.num_parameters, self.init = num_parameters, init
        self.weight = Parameter(np.full(num_parameters, init, dtype=dtype or get_default_dtype()))

    def reset_parameters(self) -> None:
        """Every slope back to ``init``, in place, as PyTorch's."""
        constant_(self.weight, self.init)

    def forward(self, x):
        return F.prelu(x, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class Identity(Module):
    """Returns its input unchanged (the "no activation" of the lab). Any arguments are
    accepted and ignored, as PyTorch's, so that code swapping a layer for it keeps working."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class Softmax(Module):
    """Softmax along ``dim`` (PyTorch's name; ``axis=`` is NumPy's, the same argument).
    Without one, PyTorch's deprecated implicit choice, with its warning: ``F.softmax``'s rule
    (axis 0 for 0-, 1- and 3-D input, else 1), as ``torch.nn.Softmax()``."""

    def __init__(self, dim: int | None = None, *, axis: int | None = None):
        super().__init__()
        if dim is not None and axis is not None:
            raise TypeError(f"{type(self).__name__}() got both dim= and axis= (the same argument)")
        self.dim = self.axis = axis if dim is None else dim

    def forward(self, x):
        return F.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    def forward(self, x):
        return F.log_softmax(x, self.dim)


class _InplaceFlag(Module):
    """An activation with PyTorch's ``inplace`` flag: with ``inplace=True`` the result is
    written into the input, which is returned (the functional form's ``inplace=True``)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Softplus(Module):
    """``log(1 + exp(beta * x)) / beta``, the identity where ``beta * x > threshold``
    (``mg.softplus``)."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        return ops.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class GELU(Module):
    """``x * Phi(x)``; ``approximate="tanh"`` for the tanh form (``mg.gelu``)."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise InvalidArgumentError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return ops.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(_InplaceFlag):
    """``x * sigmoid(x)`` (``mg.silu``)."""

    def forward(self, x):
        return F.silu(x, self.inplace) if self.inplace else ops.silu(x)


class ELU(Module):
    """``x`` for x > 0, else ``alpha * (exp(x) - 1)`` (``mg.elu``); with ``inplace=True`` the
    result is written into the input, which is returned, as PyTorch's."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, x):
        return F.elu(x, self.alpha, self.inplace) if self.inplace else ops.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class CELU(ELU):
    """``x`` for x > 0, else ``alpha * (exp(x / alpha) - 1)`` (``mg.celu``)."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        if alpha == 0:
            raise InvalidArgumentError("CELU: alpha cannot be 0")
        super().__init__(alpha, inplace)

    def forward(self, x):
        return F.celu(x, self.alpha, self.inplace) if self.inplace else ops.celu(x, self.alpha)


class SELU(_InplaceFlag):
    """Scaled ELU with PyTorch's constants (``mg.selu``)."""

    def forward(self, x):
        return F.selu(x, self.inplace) if self.inplace else ops.selu(x)


class Mish(_InplaceFlag):
    """``x * tanh(softplus(x))`` (``mg.mish``)."""

    def forward(self, x):
        return F.mish(x, self.inplace) if self.inplace else ops.mish(x)


class Hardtanh(Module):
    """``x`` clipped to ``[min_val, max_val]``, gradient 0 at the bounds (``mg.hardtanh``); with
    ``inplace=True`` the result is written into the input, which is returned, as PyTorch's."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
        super().__init__()
        if max_val < min_val:
            raise InvalidArgumentError(f"Hardtanh: max_val ({max_val}) must be at least min_val ({min_val})")
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace

    def forward(self, x):
        if self.inplace:
            return F.hardtanh(x, self.min_val, self.max_val, self.inplace)
        return ops.hardtanh(x, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}" + (", inplace=True" if self.inplace else "")


class ReLU6(Hardtanh):
    """``min(max(x, 0), 6)`` (``mg.relu6``)."""

    def __init__(self, inplace: bool = False):
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Hardsigmoid(_InplaceFlag):
    """``relu6(x + 3) / 6`` (``mg.hardsigmoid``)."""

    def forward(self, x):
        return F.hardsigmoid(x, self.inplace) if self.inplace else ops.hardsigmoid(x)

    def extra_repr(self) -> str:
        return ""  # as PyTorch's


class Hardswish(Hardsigmoid):
    """``x * relu6(x + 3) / 6`` (``mg.hardswish``)."""

    def forward(self, x):
        return F.hardswish(x, self.inplace) if self.inplace else ops.hardswish(x)


class LogSigmoid(Module):
    """``log(sigmoid(x))``, finite for any ``x`` (``mg.logsigmoid``)."""

    def forward(self, x):
        return ops.logsigmoid(x)


class Softsign(Module):
    """``x / (1 + |x|)`` (``mg.softsign``)."""

    def forward(self, x):
        return ops.softsign(x)


ACTIVATIONS = {"sigmoid": Sigmoid, "relu": ReLU, "tanh": Tanh, "leaky_relu": LeakyReLU, "none": Identity,
               "identity": Identity, "linear": Identity}
ACTIVATIONS.update({"gelu": GELU, "silu": SiLU, "elu": ELU, "selu": SELU, "celu": CELU,
                    "softplus": Softplus, "mish": Mish, "hardtanh": Hardtanh, "relu6": ReLU6,
                    "hardsigmoid": Hardsigmoid, "hardswish": Hardswish, "logsigmoid": LogSigmoid,
                    "softsign": Softsign})


def activation_module(activation) -> Module:
    """A Module for an activation given by name ("sigmoid", "relu", "tanh", "leaky_relu",
    "gelu", "silu", "elu", "selu", "celu", "softplus", "mish", "hardtanh", "relu6",
    "hardsigmoid", "hardswish", "logsigmoid", "softsign", "none"/None; any case), by Module
    instance, or by Module class."""
    if activation is None:
        return Identity()
    if isinstance(activation, Module):
        return copy.deepcopy(activation)  # one per layer: an activation may hold parameters
    if isinstance(activation, type) and issubclass(activation, Module):
        return activation()
    if isinstance(activation, str) and activation.lower() in ACTIVATIONS:
        return ACTIVATIONS[activation.lower()]()
    raise InvalidArgumentError(
        f"unknown activation {activation!r}: use one of {sorted(set(ACTIVATIONS) - {'identity', 'linear'})}, "
        "None, or an nn.Module"
    )


# -- other layers ---------------------------------------------------------------------------
class Flatten(Module):
    """Merge axes ``start_dim``..``end_dim`` (by default all but the batch axis)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return ops.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split axis ``dim`` into ``unflattened_size`` (the inverse of ``Flatten``), as
    ``torch.nn.Unflatten``: ``Unflatten(1, (1, 2))`` turns points ``(N, 2)`` into one-channel
    signals ``(N, 1, 2)`` for a ``Conv1d``."""

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(int(n) for n in unflattened_size)

    def forward(self, x):
        shape = x.shape
        dim = self.dim % len(shape) if -len(shape) <= self.dim < len(shape) else None
        sizes = self.unflattened_size
        if dim is not None and sizes.count(-1) == 1:  # one size inferred, as in PyTorch
            known = -math.prod(sizes)
            sizes = tuple(shape[dim] // known if n == -1 and known and not shape[dim] % known else n for n in sizes)
        if dim is None or math.prod(sizes) != shape[dim]:
            raise InvalidArgumentError(
                f"Unflatten({self.dim}, {self.unflattened_size}): cannot split axis {self.dim} of an "
                f"input of shape {tuple(shape)} into {self.unflattened_size}")
        return ops.reshape(x, (*shape[:dim], *sizes, *shape[dim + 1:]))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


def _layer_rng(rng) -> np.random.Generator | None:
    """The generator a random layer (dropout, RReLU) keeps: its own for a seed or a generator
    given, else None, the global generator looked up at each call, so that copies of the layer
    (deepcopy, pickle) draw from it too, as PyTorch's, and mg.manual_seed seeds them all."""
    return None if rng is None else _rng(rng)


class Dropout(Module):
    """Zero elements with probability ``p`` while training (scaling the rest by 1/(1-p));
    the identity in ``eval()`` mode. ``inplace=True`` writes the result into the input, as
    PyTorch's."""

    def __init__(self, p: float = 0.5, inplace: bool = False, rng=None):
        super().__init__()
        if not 0 <= p <= 1:
            raise InvalidArgumentError(f"Dropout: p must be a probability in [0, 1], got {p}")
        self.p, self.inplace = p, inplace
        self.rng = _layer_rng(rng)

    def forward(self, x):
        return F.dropout(x, self.p, self.training, self.inplace, rng=self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class MLP(Sequential):
    """A fully connected network: ``in_features -> hidden[0] -> ... -> out_features``.

    ``activation`` follows every hidden layer and ``output_activation`` the last one;
    each is a name ("sigmoid", "relu", "tanh", "leaky_relu", "gelu", "silu", "elu", "selu",
    "celu", "softplus", "mish", "hardtanh", "relu6", "hardsigmoid", "hardswish", "logsigmoid",
    "softsign", "none"/None) or a Module.
    The lab's network is ``MLP(2, (50, 50), 1)``: sigmoid everywhere. Layers are named
    ``fc1, act1, fc2, act2, ..., fc{n}, out_act`` so parameters read ``fc1.weight``.
    """

    def __init__(self, in_features: int, hidden: Iterable[int] | int = (50, 50), out_features: int = 1,
                 activation="sigmoid", output_activation="sigmoid", bias: bool = True, dtype=None, rng=None):
        hidden = (hidden,) if isinstance(hidden, int) else tuple(hidden)
        sizes = (in_features, *hidden, out_features)
        if any(not isinstance(n, int | np.integer) or n < 1 for n in sizes):
            raise InvalidArgumentError(f"MLP: layer sizes must be positive integers, got {sizes}")
        rng = _rng(rng)
        layers = OrderedDict()
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            layers[f"fc{i}"] = Linear(n_in, n_out, bias=bias, dtype=dtype, rng=rng)
            last = i == len(sizes) - 1
            act = activation_module(output_activation if last else activation)
            layers["out_act" if last else f"act{i}"] = act
        super().__init__(layers)
        self.sizes = sizes

    def extra_repr(self) -> str:
        return "sizes=" + "-".join(str(n) for n in self.sizes)
