"""More of PyTorch's in-place Tensor methods (``t.uniform_(-a, a)``, ``t.clamp_min_(0)``,
``t.t_()``...), with the rules of every in-place method here: refused on a leaf that
requires grad while gradients are recorded (write them under ``mg.no_grad()``) and on a
tensor in a recorded graph (microgradnp does not record in-place operations), and each
write bumps the version counter, so a backward that saved the old values raises.

The random fills take the framework's ``rng`` (a ``np.random.Generator``, a seed, or None
for the global generator seeded by ``mg.manual_seed``); ``generator=``, PyTorch's name,
is accepted as a synonym. PyTorch's ``from`` argument is spelled ``from_`` (``from`` is a
Python keyword); positionally, ``t.uniform_(-a, a)``, they are the same.
"""

from __future__ import annotations

import numpy as np

from microgradnp import ops
from microgradnp.autograd.grad_mode import no_grad
from microgradnp.autograd.versions import bump
from microgradnp.errors import IndexOutOfRangeError, InvalidArgumentError
from microgradnp.ops.torch_methods import _in_place

# -- random fills ---------------------------------------------------------------------


def _fill_random(self, op: str, draw, generator, rng, kinds: str = "f"):
    """Check, draw ``draw(generator, shape)`` (float64 or int64 samples), cast into the
    data, bump the version; returns self."""
    from microgradnp.tensor import _rng

    if not self._records():
        self._check_in_place(op)
    if self.dtype.kind not in kinds:
        raise TypeError(f"{op}: draws real numbers, so the tensor must be floating-point; this one is "
                        f"{self.dtype}. Convert it first (t = t.double()) or use random_/bernoulli_/geometric_")
    if generator is not None and rng is not None:
        raise TypeError(f"{op}: give the generator once, as rng= (generator= is its PyTorch name)")
    drawn = draw(_rng(rng if generator is None else generator), self.shape)
    if self._records():  # a tensor of the graph: the new values are constants (gradient zero), as PyTorch's
        return self._recorded_in_place(f"{op}()", lambda before: ops.where(np.ones(self.shape, bool), drawn, before))
    self.data[...] = drawn
    bump(self.data)
    return self


def _require(op: str, condition: bool, what: str) -> None:
    if not condition:
        raise InvalidArgumentError(f"{op}: expects {what}")


def uniform_(self, from_=0.0, to=1.0, *, generator=None, rng=None):
    """Fill with samples from the uniform distribution on [from_, to); returns self."""
    from microgradnp.tensor import uniform_samples

    _require("uniform_", from_ <= to, f"from_ <= to, got from_={from_} > to={to}")
    return _fill_random(self, "uniform_", lambda g, shape: uniform_samples(g, from_, to, shape, self.dtype),
                        generator, rng)


def normal_(self, mean=0.0, std=1.0, *, generator=None, rng=None):
    """Fill with samples from N(mean, std²); returns self."""
    _require("normal_", std >= 0, f"std >= 0, got std={std}")
    return _fill_random(self, "normal_", lambda g, shape: g.normal(mean, std, shape), generator, rng)


def log_normal_(self, mean=1.0, std=2.0, *, generator=None, rng=None):
    """Fill with samples exp(N(mean, std²)) (the log is normal); returns self."""
    _require("log_normal_", std > 0, f"std > 0, got std={std}")
    return _fill_random(self, "log_normal_", lambda g, shape: g.lognormal(mean, std, shape), generator, rng)


def exponential_(self, lambd=1.0, *, generator=None, rng=None):
    """Fill with samples from the exponential distribution of rate ``lambd`` (density
    lambd·exp(-lambd·x)); returns self."""
    _require("exponential_", lambd > 0, f"lambd > 0, got lambd={lambd}")
    return _fill_random(self, "exponential_", lambda g, shape: g.exponential(1 / lambd, shape), generator, rng)


def cauchy_(self, median=0.0, sigma=1.0, *, generator=None, rng=None):
    """Fill with samples from the Cauchy distribution (density 1/(π·sigma·(1 + ((x-median)/sigma)²)));
    returns self."""
    _require("cauchy_", sigma > 0, f"sigma > 0, got sigma={sigma}")
    return _fill_random(self, "cauchy_", lambda g, shape: median + sigma * g.standard_cauchy(shape), generator, rng)


def geometric_(self, p, *, generator=None, rng=None):
    """Fill with the number of Bernoulli(p) trials up to the first success (1, 2, ...);
    integer tensors too; returns self."""
    _require("geometric_", 0 < p < 1, f"p in (0, 1), got p={p}")
    return _fill_random(self, "geometric_", lambda g, shape: g.geometric(p, shape), generator, rng, "fiu")


def bernoulli_(self, p=0.5, *, generator=None, rng=None):
    """Fill with 1 (probability ``p``, a number or a tensor that broadcasts to this shape)
    or 0; any dtype; returns self."""
    probability = np.asarray(p.data if hasattr(p, "data") else p, dtype=np.float64)
    _require("bernoulli_", bool(np.all((probability >= 0) & (probability <= 1))), "p in [0, 1]")
    return _fill_random(self, "bernoulli_", lambda g, shape: g.random(shape) < probability, generator, rng, "fiub")


def random_(self, from_=None, to=None, *, generator=None, rng=None):
    """Fill with integers drawn uniformly from [from_, to); ``random_(to)`` draws from
    [0, to), ``random_()`` from [0, 2**mantissa] for floats and [0, max] for integers
    (PyTorch's ranges); returns self."""
    if from_ is not None and to is None:
        from_, to = 0, from_
    if from_ is None:
        dtype = self.dtype
        high = (2 ** (np.finfo(dtype).nmant + 1) if dtype.kind == "f" else 1 if dtype.kind == "b"
                else int(np.iinfo(dtype).max))
        kind = dtype if dtype.kind in "iu" else np.int64
        draw = lambda g, shape: g.integers(0, high, shape, dtype=kind, endpoint=True)  # noqa: E731
    else:
        _require("random_", from_ < to, f"from_ < to, got from_={from_} >= to={to}")
        draw = lambda g, shape: g.integers(from_, to, shape)  # noqa: E731
    return _fill_random(self, "random_", draw, generator, rng, "fiub")


# -- elementwise forms of existing methods ------------------------------------------------

#: ``t.name_(...)`` is ``t.name(...)`` written back into the data.
SAME_NAME = (  # noqa: SIM905
    "absolute acos arccos arcsin arctan arctan2 asin atan atan2 clamp_max clamp_min cosh cumprod cumsum erf erfc"
    " exp2 floor_divide fmod heaviside lerp log10 log2 multiply negative remainder rsqrt sinh subtract tan"
    " true_divide scatter_add"
).split()
#: Methods whose results carry no gradient (bool): the other operand may require grad.
NO_GRADIENT = (  # noqa: SIM905
    "eq ne lt le gt ge greater greater_equal less less_equal not_equal logical_and logical_or logical_xor logical_not"
).split()


def _without_gradient(name: str, method):
    """``method`` with its tensor operands detached (a comparison's result has no gradient)."""

    def compare(self, *args, **kwargs):
        return method(self, *(a.detach() if hasattr(a, "requires_grad") else a for a in args), **kwargs)

    compare.__name__, compare.__doc__ = name, method.__doc__
    return compare


def _divide(self, other, *, rounding_mode=None):
    if rounding_mode is None:
        return ops.divide(self, other)
    if rounding_mode not in ("trunc", "floor"):
        raise InvalidArgumentError(f"divide_: rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")
    if rounding_mode == "floor":  # PyTorch's floor mode is Python's and NumPy's //
        return self.floor_divide(other)
    a, b = self.data, np.asarray(getattr(other, "data", other))
    if np.result_type(a, b).kind in "iub":  # exact on integers (no float rounding): // moved toward zero
        quotient = np.floor_divide(a, b)
        return type(self)._wrap(quotient + ((np.remainder(a, b) != 0) & ((a < 0) != (b < 0))))
    return ops.trunc(ops.divide(self, other))


def _float_power(self, exponent):
    if self.dtype != np.float64:
        raise TypeError(f"float_power_: the result is float64, but this tensor is {self.dtype}; convert it "
                        "first (t = t.double()) or use the out-of-place t.float_power(exponent)")
    return self.float_power(exponent)


def _triangle(name: str):
    def triangle(self, diagonal=0):
        if self.ndim < 2:
            raise InvalidArgumentError(f"{name}_: needs a tensor with at least 2 dimensions, got shape {self.shape}")
        return getattr(ops, name)(self, diagonal)

    return triangle


def _scatter(self, dim, index, src=None, value=None, *, reduce=None):
    """PyTorch's ``scatter_(dim, index, src | value, reduce=None | 'add' | 'multiply')``."""
    if src is not None and not hasattr(src, "shape") and value is None:
        src, value = None, src  # scatter_(dim, index, 1.0): the number is the value
    if reduce is None:
        return ops.scatter(self, dim, index, src=src, value=value)
    if reduce not in ("add", "multiply"):
        raise InvalidArgumentError(f"scatter_: reduce must be None, 'add' or 'multiply', got {reduce!r}")
    if src is None:
        src = np.full(np.shape(getattr(index, "data", index)), value, dtype=self.dtype)
    return self.scatter_reduce(dim, index, src, "sum" if reduce == "add" else "prod")


# -- shape-changing forms: they change the tensor's own shape (a view of the same memory) ----


def _squeeze(self, dim=None):
    """The axes of length 1 among ``dim`` (all when None) removed; other axes named are kept, as PyTorch."""
    if dim is None:
        return self.data.squeeze()
    dims, ndim = ((dim,) if isinstance(dim, int | np.integer) else tuple(dim)), max(self.ndim, 1)
    for d in dims:
        if not -ndim <= d < ndim:
            raise IndexError(f"squeeze_: dim {d} is out of range for a tensor of shape {self.shape}")
    return self.data.squeeze(tuple(d % ndim for d in dims if self.ndim and self.shape[d % ndim] == 1))


RESHAPING = {
    "t_": lambda self: self.t().data,
    "transpose_": lambda self, dim0, dim1: ops.swapaxes(self, dim0, dim1).data,
    "swapaxes_": lambda self, axis0, axis1: ops.swapaxes(self, axis0, axis1).data,
    "swapdims_": lambda self, dim0, dim1: ops.swapaxes(self, dim0, dim1).data,
    "unsqueeze_": lambda self, dim: self.unsqueeze(dim).data,
    "squeeze_": _squeeze,
}


def _reshaping(name: str, view):
    def method(self, *args, **kwargs):
        from microgradnp.tensor import describe

        self._check_in_place(f"{name}()")
        if self._node is not None:
            raise RuntimeError(f"{name}(): {describe(self)} is in a recorded graph, whose backward expects its "
                               f"shape; use the out-of-place form, y = y.{name[:-1]}(...)")
        with no_grad():
            self.data = view(self.detach(), *args, **kwargs)
        bump(self.data)
        return self

    method.__name__ = name
    method.__doc__ = (f"``{name[:-1]}`` in place: this tensor takes the new shape (a view of the same memory); "
                      "returns self.")
    return method


def detach_(self):
    """Make this leaf stop requiring grad (PyTorch's ``detach_``); returns self. A tensor
    computed in a recorded graph is refused: rebind it, ``h = h.detach()``."""
    if self._node is not None:
        raise RuntimeError("detach_(): this tensor was computed in a recorded graph, and microgradnp cannot cut "
                           "it out of the graph in place; rebind it instead: h = h.detach()")
    self._requires_grad = False
    return self



def resize_(self, *sizes, memory_format=None):
    """Give this tensor the shape ``sizes`` in place (``torch.Tensor.resize_``): its elements,
    in memory order, fill the new shape from the start; new ones are zeros here (PyTorch leaves
    them uninitialised). As PyTorch, refused for a tensor that requires grad. The tensor gets
    new memory (views of the old one no longer see it) and its version moves."""
    shape = sizes[0] if len(sizes) == 1 and isinstance(sizes[0], tuple | list) else sizes
    shape = tuple(int(n) for n in shape)
    if any(n < 0 for n in shape):
        raise InvalidArgumentError(f"resize_: sizes must be non-negative, got {shape}")
    if self.requires_grad:
        raise RuntimeError("cannot resize variables that require grad")
    old = self.data
    if shape == old.shape:
        return self
    flat = np.ravel(old, order="K")  # (memory order, as the storage PyTorch keeps)
    new = np.zeros(shape, dtype=old.dtype)
    kept = min(new.size, flat.size)
    new.reshape(-1)[:kept] = flat[:kept]
    bump(old)  # (a graph that saved the old values must not use them as this tensor's)
    self.data = new
    return self


def resize_as_(self, tensor, memory_format=None):
    """``resize_`` to ``tensor``'s shape (``torch.Tensor.resize_as_``)."""
    return resize_(self, tuple(np.shape(_array(tensor))), memory_format=memory_format)


# -- writes at positions ----------------------------------------------------------------------


def _array(value):
    return value.data if hasattr(value, "requires_grad") else np.asarray(value)


def _write(self, op: str, value, write):
    """Check, ``write(data, value array)``, bump; returns self."""
    self._check_in_place(op, value)
    try:
        write(self.data, _array(value))
    except (IndexError, ValueError) as error:
        raise type(error)(f"{op}: {error}") from None
    bump(self.data)
    return self


def fill_diagonal_(self, fill_value, wrap=False):
    """Write ``fill_value`` on the main diagonal (all axes of equal length beyond 2-D); for
    a tall matrix ``wrap=True`` starts again N+1 rows down, as PyTorch; returns self."""
    if self.ndim < 2 or (self.ndim > 2 and len(set(self.shape)) != 1):
        raise InvalidArgumentError(
            f"fill_diagonal_: needs a 2-D tensor or one whose dimensions are all of equal length, "
            f"got shape {self.shape}")
    if self._records(fill_value):
        diagonal = np.zeros(self.shape, bool)
        np.fill_diagonal(diagonal, True, wrap=wrap)
        return self._recorded_in_place("fill_diagonal_()", lambda before: ops.indexing.placed(
            before, np.nonzero(diagonal), None, fill_value))
    return _write(self, "fill_diagonal_", fill_value, lambda data, v: np.fill_diagonal(data, v, wrap=wrap))


def _indices(op: str, indices) -> tuple:
    arrays = tuple(_array(i) for i in (indices if isinstance(indices, tuple | list) else (indices,)))
    for array in arrays:
        if array.dtype.kind not in "iub":
            raise TypeError(f"{op}: indices must be integer or bool tensors, got dtype {array.dtype}")
    return arrays


def index_put_(self, indices, values, accumulate=False):
    """``self[indices] = values`` (``+=`` with ``accumulate=True``, repeated indices adding
    up); ``indices`` is a tuple of integer or bool tensors; returns self."""
    where = _indices("index_put_", indices)
    if self._records(values):
        return self._recorded_in_place("index_put_()", lambda before: ops.indexing.placed(
            before, where, None, values, accumulate), value=values)

    def write(data, value):
        if accumulate:
            np.add.at(data, where, value)
        else:
            data[where] = value

    return _write(self, "index_put_", values, write)


def put_(self, index, source, accumulate=False):
    """Write ``source`` at the flat (row-major, negative from the end) positions ``index``
    (``+=`` with ``accumulate=True``); returns self."""
    if not self._records(source):
        self._check_in_place("put_", source)
    (flat,) = _indices("put_", index)
    source_size = np.size(_array(source))
    if flat.size != source_size:
        raise InvalidArgumentError(f"put_: index has {flat.size} elements but source has {source_size}; give as many")
    if flat.size and not (-self.data.size <= flat.min() and flat.max() < self.data.size):
        raise IndexOutOfRangeError(f"put_: index out of range for a tensor of {self.data.size} elements")
    where = np.unravel_index(flat.ravel() % max(self.data.size, 1), self.shape)
    flat_source = ops.reshape(source, (-1,)) if hasattr(source, "requires_grad") else np.ravel(source)
    return index_put_(self, where, flat_source, accumulate)


# -- Python callables, elementwise (PyTorch's CPU-only apply_/map_/map2_) -----------------------


def _map(self, op: str, function, *others):
    if self.requires_grad or any(getattr(o, "requires_grad", False) for o in others):
        raise RuntimeError(f"{op}: cannot call a Python function on a tensor that requires grad (no gradient "
                           f"would flow through it); use t.detach().{op}(...)")
    self._check_in_place(op)
    columns = [np.broadcast_to(_array(o), self.shape).ravel().tolist() for o in others]
    values = [function(*args) for args in zip(self.data.ravel().tolist(), *columns, strict=True)]
    self.data[...] = np.asarray(values).reshape(self.shape)
    bump(self.data)
    return self


def apply_(self, callable):  # noqa: A002  (PyTorch's argument name)
    """Replace each element ``v`` by ``callable(v)`` (a Python number in, one out); returns self."""
    return _map(self, "apply_", callable)


def map_(self, tensor, callable):  # noqa: A002
    """Replace each element ``v`` by ``callable(v, w)``, ``w`` from ``tensor`` broadcast to this
    shape; returns self."""
    return _map(self, "map_", callable, tensor)


def map2_(self, x, y, callable):  # noqa: A002
    """Replace each element ``v`` by ``callable(v, a, b)``, ``a`` and ``b`` from ``x`` and ``y``
    broadcast to this shape; returns self."""
    return _map(self, "map2_", callable, x, y)


RANDOM = (uniform_, normal_, log_normal_, exponential_, cauchy_, geometric_, bernoulli_, random_)
OTHERS = (detach_, fill_diagonal_, index_put_, put_, apply_, map_, map2_, resize_, resize_as_)


def attach(tensor_class) -> None:
    """Give ``tensor_class`` the in-place methods of this module it does not have yet."""
    methods = {function.__name__: function for function in (*RANDOM, *OTHERS)}
    methods |= {f"{name}_": _in_place(f"{name}_", getattr(tensor_class, name)) for name in SAME_NAME}
    methods |= {f"{name}_": _without_gradient(f"{name}_", _in_place(f"{name}_", getattr(tensor_class, name)))
                for name in NO_GRADIENT}
    methods |= {name: _in_place(name, function) for name, function in {
        "divide_": _divide, "float_power_": _float_power, "tril_": _triangle("tril"), "triu_": _triangle("triu"),
        "scatter_": _scatter}.items()}
    methods |= {name: _reshaping(name, view) for name, view in RESHAPING.items()}
    for name, method in methods.items():
        if not hasattr(tensor_class, name):
            setattr(tensor_class, name, method)

