"""More of PyTorch's top-level names and Tensor methods that generic PyTorch code (and other
projects' test suites) reach for: the queries a real, dense, CPU tensor answers the same way
every time (``t.is_sparse``, ``t.is_conj()``, ``t.layout``, ``t.data_ptr()``...), the
``torch.xxx`` forms of ``nn.functional`` whose top-level signature differs (``torch.batch_norm``,
the losses taking ``reduction`` as an int), window functions, ``torch.abs_(t)`` and the other
in-place functions, and the global switches (deterministic algorithms, threads, default device).

Everything differentiable here is a composition of existing operations (or the existing
function itself), so gradients come from the engine; nothing writes a rule of its own."""

from __future__ import annotations

import numbers
import os

import numpy as np

from microgradnp import ops
from microgradnp.device import check_device, device, takes_device
from microgradnp.errors import DtypeError, InvalidArgumentError
from microgradnp.ops.torch_functions import _method_function
from microgradnp.ops.torch_math import _tensor
from microgradnp.tensor import Tensor, _constructor, _new, get_default_dtype

# -- layouts -------------------------------------------------------------------------------------------------------


class layout:
    """A tensor's memory layout, as ``torch.layout``: microgradnp's tensors are all dense
    NumPy arrays, so ``mg.strided`` is the only one (printed as PyTorch prints it, so that
    code comparing ``t.layout == torch.strided`` or printing it reads the same)."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"torch.{self.name}"

    def __reduce__(self):  # pickled as the one object it is
        return "strided"


strided = layout("strided")


def _check_layout(value, where: str) -> None:
    if value is not None and value is not strided:
        raise RuntimeError(f"{where}: microgradnp has dense (strided) tensors only, got layout={value!r}")


# -- Tensor queries: what a real, dense, CPU tensor answers --------------------------------------------------------


def data_ptr(self) -> int:
    """The address of the first element (``torch.Tensor.data_ptr``): NumPy's
    ``__array_interface__['data'][0]``, so a view shares it as in PyTorch (a view at offset 0
    has the same address, ``t[1:]`` one row further). An empty tensor has none: 0."""
    return 0 if self.data.size == 0 else int(self.data.__array_interface__["data"][0])


def _itself(self):
    return self


def _false(self) -> bool:
    return False


def _imag(self):
    # PyTorch's message: microgradnp has real dtypes only, so it is always this one.
    raise RuntimeError("imag is not implemented for tensors with non-complex dtypes.")


def _angle(self):
    """The argument of each element as a complex number (``torch.angle``): pi where the value is
    negative, 0 elsewhere (also at -0.0 and +-inf as PyTorch's; NaN stays NaN), in a floating
    dtype (integers give the default one). The gradient is zero, as PyTorch's for real input."""
    # (Operations all the way, comparisons included, so that an mg.compile replay recomputes it.)
    x = self if self.dtype.kind == "f" else ops.astype(self, get_default_dtype())
    # The NaNs of x times 0 (x itself is left out elsewhere, as inf * 0 would be NaN too) keep
    # NaN as NaN and tie the result to x with a zero gradient: the engine's, not a rule of ours.
    return ops.where(x.isnan(), x, 0.0) * 0.0 + (x < 0).to(x.dtype) * np.pi


#: Properties that are False for every microgradnp tensor (dense, real, on the CPU).
FALSE_PROPERTIES = ("is_sparse", "is_quantized", "is_meta", "is_nested", "is_mkldnn", "is_sparse_csr")
#: Methods that answer False for the same reasons (nothing is pinned, conjugated or negated lazily).
FALSE_METHODS = ("is_pinned", "is_conj", "is_neg")
#: Methods that return the tensor itself: for real dtypes the conjugate is the tensor (PyTorch
#: returns ``self`` too), no view is lazily conjugated or negated, and NumPy memory is shared and
#: has no pinning. (``pin_memory`` raises in PyTorch without an accelerator; here it is a no-op.)
IDENTITY_METHODS = ("conj", "conj_physical", "conj_physical_", "resolve_conj", "resolve_neg", "share_memory_",
                    "pin_memory")
#: ``torch.<name>(input)`` for these methods, as ``input.<name>()``.
FUNCTIONS = ("angle", "conj", "conj_physical", "is_conj", "is_neg", "resolve_conj", "resolve_neg")


def attach(tensor_class) -> None:
    """Add this module's methods to the Tensor class, where it has none of that name yet."""
    methods = {name: property(_false, doc=f"False (``torch.Tensor.{name}``): microgradnp's tensors are dense, "
                                          "real and on the CPU.") for name in FALSE_PROPERTIES}
    methods |= {name: _named(_false, name, "False: no tensor here is pinned, lazily conjugated or negated.")
                for name in FALSE_METHODS}
    methods |= {name: _named(_itself, name, "The tensor itself (real, dense NumPy memory: nothing to conjugate, "
                                            "resolve, share or pin).") for name in IDENTITY_METHODS}
    methods |= {"data_ptr": data_ptr, "angle": _angle,
                "real": property(_itself, doc="The tensor itself: its values are real (``torch.Tensor.real``)."),
                "imag": property(_imag, doc="Raises RuntimeError, as PyTorch's for real dtypes."),
                "layout": property(lambda self: strided, doc="``mg.strided``: every tensor is a dense array."),
                "output_nr": property(lambda self: 0, doc="0 (``torch.Tensor.output_nr``: here every result is "
                                                          "its primitive's first output).")}
    for name, method in methods.items():
        if not hasattr(tensor_class, name):
            setattr(tensor_class, name, method)


def _named(function, name: str, doc: str):
    def method(self):
        return function(self)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = doc
    return method


for _name in FUNCTIONS:
    globals()[_name] = _method_function(_name)
del _name


def real(input):  # noqa: A002  (PyTorch's argument name)
    """``torch.real``: the tensor itself, its values being real."""
    return _tensor(input).real


def imag(input):  # noqa: A002
    """``torch.imag``: raises RuntimeError, as PyTorch's for real dtypes."""
    return _tensor(input).imag


# -- torch's top-level forms of nn.functional, where the signature differs ------------------------------------------
# (Those whose signature is F's, as torch.conv_transpose3d is F.conv_transpose3d, are imported from
# nn.functional in microgradnp/__init__.py. nn.functional is imported at the call: it cannot be
# while the Tensor class is being set up, which is when this module is first imported.)

_REDUCTIONS = ("none", "mean", "sum")  # PyTorch's at::Reduction enum: 0, 1, 2


def _reduction(name: str, reduction) -> str:
    """The top-level losses take ``reduction`` as PyTorch's enum value (an int), not F's str."""
    if not isinstance(reduction, numbers.Integral) or isinstance(reduction, bool):
        raise TypeError(f"{name}(): argument 'reduction' must be int, not {type(reduction).__name__} (the "
                        f"top-level form takes 0 for 'none', 1 for 'mean', 2 for 'sum'; F.{name} takes the str)")
    if not 0 <= reduction < len(_REDUCTIONS):
        raise InvalidArgumentError(f"{name}(): reduction must be 0 ('none'), 1 ('mean') or 2 ('sum'), got {reduction}")
    return _REDUCTIONS[reduction]


def _functional():
    from microgradnp.nn import functional

    return functional


def batch_norm(input, weight, bias, running_mean, running_var, training: bool, momentum: float,  # noqa: A002
               eps: float, cudnn_enabled: bool):
    """``torch.batch_norm``: ``F.batch_norm`` with the arguments in ATen's order (weight and bias
    before the running statistics, all of them required; ``cudnn_enabled`` is ignored)."""
    return _functional().batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def instance_norm(input, weight, bias, running_mean, running_var, use_input_stats: bool,  # noqa: A002
                  momentum: float, eps: float, cudnn_enabled: bool):
    """``torch.instance_norm``: ``F.instance_norm`` with the arguments in ATen's order."""
    return _functional().instance_norm(input, running_mean, running_var, weight, bias, use_input_stats, momentum,
                                       eps)


def kl_div(input, target, reduction: int = 1, *, log_target: bool = False):  # noqa: A002
    """``torch.kl_div``: ``F.kl_div`` with ``reduction`` as an int (1 is 'mean', elementwise, as F's)."""
    return _functional().kl_div(input, target, reduction=_reduction("kl_div", reduction), log_target=log_target)


def cosine_embedding_loss(input1, input2, target, margin: float = 0.0, reduction: int = 1):
    """``torch.cosine_embedding_loss``: ``F.cosine_embedding_loss`` with ``reduction`` as an int."""
    return _functional().cosine_embedding_loss(input1, input2, target, margin,
                                               reduction=_reduction("cosine_embedding_loss", reduction))


def margin_ranking_loss(input1, input2, target, margin: float = 0.0, reduction: int = 1):
    """``torch.margin_ranking_loss``: ``F.margin_ranking_loss`` with ``reduction`` as an int."""
    return _functional().margin_ranking_loss(input1, input2, target, margin,
                                             reduction=_reduction("margin_ranking_loss", reduction))


def hinge_embedding_loss(input, target, margin: float = 1.0, reduction: int = 1):  # noqa: A002
    """``torch.hinge_embedding_loss``: ``F.hinge_embedding_loss`` with ``reduction`` as an int."""
    return _functional().hinge_embedding_loss(input, target, margin,
                                              reduction=_reduction("hinge_embedding_loss", reduction))


def triplet_margin_loss(anchor, positive, negative, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6,
                        swap: bool = False, reduction: int = 1):
    """``torch.triplet_margin_loss``: ``F.triplet_margin_loss`` with ``reduction`` as an int."""
    return _functional().triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap,
                                             reduction=_reduction("triplet_margin_loss", reduction))


def poisson_nll_loss(input, target, log_input: bool, full: bool, eps: float, reduction: int):  # noqa: A002
    """``torch.poisson_nll_loss``: ``F.poisson_nll_loss``, every argument required, ``reduction`` an int."""
    return _functional().poisson_nll_loss(input, target, log_input, full, eps=eps,
                                          reduction=_reduction("poisson_nll_loss", reduction))


def binary_cross_entropy_with_logits(input, target, weight=None, pos_weight=None, reduction: int = 1):  # noqa: A002
    """``torch.binary_cross_entropy_with_logits``: F's, with ``pos_weight`` fourth and ``reduction`` an int."""
    return _functional().binary_cross_entropy_with_logits(
        input, target, weight, reduction=_reduction("binary_cross_entropy_with_logits", reduction),
        pos_weight=pos_weight)


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank: int = 0, reduction: int = 1,
             zero_infinity: bool = False):
    """``torch.ctc_loss``: ``F.ctc_loss`` with ``reduction`` as an int."""
    return _functional().ctc_loss(log_probs, targets, input_lengths, target_lengths, blank,
                                  _reduction("ctc_loss", reduction), zero_infinity)


def alpha_dropout(input, p: float, train: bool, *, rng=None):  # noqa: A002
    """``torch.alpha_dropout(input, p, train)``: ``F.alpha_dropout(input, p, training=train)``."""
    return _functional().alpha_dropout(input, p, training=train, rng=rng)


def feature_alpha_dropout(input, p: float, train: bool, *, rng=None):  # noqa: A002
    """``torch.feature_alpha_dropout(input, p, train)``: ``F.feature_alpha_dropout(input, p, training=train)``."""
    return _functional().feature_alpha_dropout(input, p, training=train, rng=rng)


def feature_dropout(input, p: float, train: bool, *, rng=None):  # noqa: A002
    """``torch.feature_dropout(input, p, train)``: dropout of whole features of ``(N, C, ...)``
    (one draw per ``(n, c)``, the rest scaled by 1 / (1 - p)), the rule of ``F.dropout2d`` for
    any number of dimensions from 2 (for 2-D input every element is its own feature)."""
    x = _tensor(input)
    if x.ndim < 2:
        raise InvalidArgumentError("Feature dropout requires at least 2 dimensions in the input")
    if not train or p == 0:
        return input
    # The mask is F.dropout of ones of shape (N, C, 1, ...), so the draw and its scaling are F's.
    ones = Tensor._wrap(np.ones(x.shape[:2] + (1,) * (x.ndim - 2), dtype=x.dtype))
    return x * _functional().dropout(ones, p, training=True, rng=rng)


def max_pool1d_with_indices(input, kernel_size, stride=(), padding=0, dilation=1,  # noqa: A002
                            ceil_mode: bool = False):
    """``torch.max_pool1d_with_indices``: ``F.max_pool1d(..., return_indices=True)``, the pair
    ``(values, indices)``; an empty ``stride`` (the default) is the kernel size."""
    stride = None if isinstance(stride, tuple | list) and not stride else stride
    return _functional().max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)


def adaptive_max_pool1d(input, output_size):  # noqa: A002
    """``torch.adaptive_max_pool1d``: ``F.adaptive_max_pool1d(..., return_indices=True)``, always the pair."""
    return _functional().adaptive_max_pool1d(input, output_size, return_indices=True)


def constant_pad_nd(input, pad, value=0):  # noqa: A002
    """``torch.constant_pad_nd``: ``F.pad(input, pad, "constant", value)`` (pairs from the last dimension)."""
    return _functional().pad(input, tuple(pad), "constant", value)


# -- window functions --------------------------------------------------------------------------------------------


def _window(name: str, window_length, periodic: bool, dtype, layout, pin_memory: bool, requires_grad: bool,
            values) -> Tensor:
    """``values(k, n)`` (the symmetric window of ``n`` points at ``k = 0..n-1``, in float64) as
    PyTorch's ``<name>``: a periodic window is the symmetric one of ``window_length + 1`` points
    without its last (so that it repeats seamlessly, as for spectral analysis); lengths 0 and 1
    are ``[]`` and ``[1.]``. Computed in float64 and rounded once to ``dtype``."""
    if not isinstance(window_length, numbers.Integral) or isinstance(window_length, bool):
        raise TypeError(f"{name}(): argument 'window_length' (position 1) must be int, not "
                        f"{type(window_length).__name__}")
    if window_length < 0:
        raise InvalidArgumentError(f"{name} requires non-negative window_length, got window_length={window_length}")
    _check_layout(layout, name)
    if pin_memory:
        raise RuntimeError(f"{name}: pin_memory=True needs an accelerator; microgradnp runs on the CPU only")
    dtype = get_default_dtype() if dtype is None else np.dtype(dtype)
    if dtype.kind != "f":
        raise DtypeError(f"{name} expects floating point dtypes, got: {dtype}")
    if window_length <= 1:
        window = np.ones(window_length)
    else:
        n = window_length + 1 if periodic else window_length
        window = values(np.arange(n, dtype=np.float64), n)[:window_length]
    return _new(window.astype(dtype), requires_grad)


def _cosine_sum(*coefficients):
    """The window ``a0 - a1 cos(2 pi k / (n - 1)) + a2 cos(4 pi k / (n - 1)) - ...``."""

    def values(k, n):
        return sum((-1) ** i * a * np.cos(2 * np.pi * i * k / (n - 1)) for i, a in enumerate(coefficients))

    return values


@_constructor
@takes_device
def hann_window(window_length: int, periodic: bool = True, *, dtype=None, layout=strided, pin_memory: bool = False,
                requires_grad: bool = False) -> Tensor:
    """The Hann window ``0.5 - 0.5 cos(2 pi k / (N - 1))`` (``torch.hann_window``)."""
    return _window("hann_window", window_length, periodic, dtype, layout, pin_memory, requires_grad,
                   _cosine_sum(0.5, 0.5))


@_constructor
@takes_device
def hamming_window(window_length: int, periodic: bool = True, alpha: float = 0.54, beta: float = 0.46, *,
                   dtype=None, layout=strided, pin_memory: bool = False, requires_grad: bool = False) -> Tensor:
    """The Hamming window ``alpha - beta cos(2 pi k / (N - 1))`` (``torch.hamming_window``)."""
    return _window("hamming_window", window_length, periodic, dtype, layout, pin_memory, requires_grad,
                   _cosine_sum(alpha, beta))


@_constructor
@takes_device
def blackman_window(window_length: int, periodic: bool = True, *, dtype=None, layout=strided,
                    pin_memory: bool = False, requires_grad: bool = False) -> Tensor:
    """The Blackman window ``0.42 - 0.5 cos(2 pi k / (N - 1)) + 0.08 cos(4 pi k / (N - 1))``
    (``torch.blackman_window``)."""
    return _window("blackman_window", window_length, periodic, dtype, layout, pin_memory, requires_grad,
                   _cosine_sum(0.42, 0.5, 0.08))


@_constructor
@takes_device
def bartlett_window(window_length: int, periodic: bool = True, *, dtype=None, layout=strided,
                    pin_memory: bool = False, requires_grad: bool = False) -> Tensor:
    """The triangular window ``1 - |2k / (N - 1) - 1|`` (``torch.bartlett_window``)."""
    return _window("bartlett_window", window_length, periodic, dtype, layout, pin_memory, requires_grad,
                   lambda k, n: 1 - np.abs(2 * k / (n - 1) - 1))


@_constructor
@takes_device
def kaiser_window(window_length: int, periodic: bool = True, beta: float = 12.0, *, dtype=None, layout=strided,
                  pin_memory: bool = False, requires_grad: bool = False) -> Tensor:
    """The Kaiser window ``I0(beta sqrt(1 - ((k - a) / a)^2)) / I0(beta)``, ``a = (N - 1) / 2``
    (``torch.kaiser_window``; NumPy's ``np.kaiser``)."""
    return _window("kaiser_window", window_length, periodic, dtype, layout, pin_memory, requires_grad,
                   lambda k, n: np.kaiser(n, beta))


# -- in-place functions: torch.abs_(t) is t.abs_() ---------------------------------------------------------------

#: torch's top-level ``X_`` functions whose method ``t.X_`` microgradnp has (torch 2.13; the tests
#: check this list against torch's). Each ``mg.X_(t, ...)`` calls ``t.X_(...)``.
IN_PLACE = (  # noqa: SIM905  (one list of names, easy to scan)
    "abs_ acos_ acosh_ addmv_ arccos_ arccosh_ arcsin_ arcsinh_ arctan_ arctanh_ as_strided_ asin_ asinh_ atan_ "
    "atanh_ ceil_ "
    "clamp_ clamp_max_ clamp_min_ clip_ conj_physical_ cos_ cosh_ deg2rad_ detach_ erf_ erfc_ exp2_ exp_ expm1_ "
    "fill_ fix_ floor_ frac_ gcd_ i0_ index_put_ lcm_ ldexp_ log10_ log1p_ log2_ log_ logit_ nan_to_num_ neg_ "
    "negative_ rad2deg_ reciprocal_ relu_ resize_as_ round_ rsqrt_ sigmoid_ sin_ sinc_ sinh_ sqrt_ square_ tan_ tanh_ "
    "trunc_ xlogy_ "
    "zero_"
).split()

for _name in IN_PLACE:
    globals()[_name] = _method_function(_name)
del _name


def fill(input, value):  # noqa: A002
    """``torch.fill``: a new tensor of ``input``'s shape and dtype holding ``value`` (a number or a
    one-element tensor). The gradient is zero for ``input`` and the sum for ``value``, as the
    in-place ``fill_`` it is made of (on a copy)."""
    return _tensor(input).clone().fill_(value)


# -- global switches ------------------------------------------------------------------------------------------------

_deterministic = {"mode": False, "warn_only": False}


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Record PyTorch's switch (``torch.use_deterministic_algorithms``). Every operation here is
    deterministic already (NumPy on the CPU; random draws come from the seeded generator), so it
    changes no result: it is kept so that code setting and reading it works."""
    for name, value in (("mode", mode), ("warn_only", warn_only)):
        if not isinstance(value, bool | np.bool_):
            raise TypeError(f"use_deterministic_algorithms(): argument '{name}' must be bool, not "
                            f"{type(value).__name__}")
    _deterministic.update(mode=bool(mode), warn_only=bool(warn_only))


def are_deterministic_algorithms_enabled() -> bool:
    """The ``mode`` last given to ``use_deterministic_algorithms`` (False at first)."""
    return _deterministic["mode"]


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    """The ``warn_only`` last given to ``use_deterministic_algorithms`` (False at first)."""
    return _deterministic["warn_only"]


def get_num_threads() -> int:
    """The number of CPUs (``torch.get_num_threads``). microgradnp has no thread pool of its own;
    NumPy's BLAS uses its own threads (see ``set_num_threads``)."""
    return os.cpu_count() or 1


def set_num_threads(int) -> None:  # noqa: A002  (torch.set_num_threads(int): PyTorch's argument name)
    """Check the argument as ``torch.set_num_threads`` does, and change nothing: microgradnp runs
    no threads of its own, and NumPy's BLAS reads its thread count from the environment when it
    loads (``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS`` or ``OMP_NUM_THREADS``; or use
    ``threadpoolctl.threadpool_limits``)."""
    if not isinstance(int, numbers.Integral) or isinstance(int, bool):
        raise DtypeError(f"set_num_threads expects an int, but got {type(int).__name__}")
    if int <= 0:
        raise InvalidArgumentError("set_num_threads expects a positive integer")


def get_default_device():
    """``mg.device("cpu")``: the one device (``torch.get_default_device``)."""
    return device("cpu")


def set_default_device(device) -> None:  # (PyTorch's argument name)
    """Accept the CPU (``"cpu"``, ``mg.device("cpu")``) or None, as ``torch.set_default_device``;
    another device raises, as everywhere in microgradnp (it runs on the CPU only)."""
    check_device(device, "set_default_device")


#: What ``microgradnp`` exports from here (``mg.hann_window``, ``mg.abs_``, ``mg.strided``...).
__all__ = [*FUNCTIONS, *IN_PLACE, "real", "imag", "layout", "strided", "batch_norm", "instance_norm", "kl_div",
           "cosine_embedding_loss", "margin_ranking_loss", "hinge_embedding_loss", "triplet_margin_loss",
           "poisson_nll_loss", "binary_cross_entropy_with_logits", "ctc_loss", "alpha_dropout",
           "feature_alpha_dropout", "feature_dropout", "max_pool1d_with_indices", "adaptive_max_pool1d",
           "constant_pad_nd", "hann_window", "hamming_window", "blackman_window", "bartlett_window",
           "kaiser_window", "fill", "use_deterministic_algorithms", "are_deterministic_algorithms_enabled",
           "is_deterministic_algorithms_warn_only_enabled", "get_num_threads", "set_num_threads",
           "get_default_device", "set_default_device"]
