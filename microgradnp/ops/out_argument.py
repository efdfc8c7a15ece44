"""PyTorch's ``out=`` argument for the top-level functions that take it in PyTorch
(``mg.add(a, b, out=c)``, ``mg.cat(xs, out=buffer)``, ``mg.max(t, 1, out=(values, indices))``).

As in PyTorch, the result is written into ``out``'s memory (views of it see the new values;
its version is bumped, so a graph that saved it refuses to backward), ``out`` keeps its dtype
(a result that cannot be cast to it safely, such as floats into an integer tensor, raises),
an ``out`` of another shape is resized (with PyTorch's deprecation warning unless it was
empty), and ``out`` itself is returned. Functions with ``out=`` are not differentiable in
PyTorch, and so here: an argument that requires grad (while gradients are recorded) raises
rather than silently giving a result without a graph."""

from __future__ import annotations

import functools
import warnings

import numpy as np

from microgradnp.autograd.grad_mode import mode, no_grad
from microgradnp.tensor import Tensor

# The functions that take out= in PyTorch: torch.<name>, torch.linalg.<name>, torch.special.<name>.
TAKES_OUT = frozenset((  # noqa: SIM905  (one list of names, easy to scan)
    "abs acos acosh add addbmm addcdiv addcmul addmm addmv addr all amax amin aminmax angle any arange asin "
    "asinh atan atan2 atanh baddbmm bernoulli bitwise_and bitwise_left_shift bitwise_not bitwise_or "
    "bitwise_right_shift bitwise_xor bmm bucketize cat ceil chain_matmul cholesky cholesky_inverse cholesky_solve "
    "clamp clip column_stack concat "
    "concatenate conj_physical copysign cos cosh cross cummax cummin cumprod cumsum deg2rad diag diff digamma "
    "div divide dot dstack empty eq erf erfc erfinv exp exp2 expm1 eye fix float_power floor floor_divide fmax "
    "fmin fmod frac frexp full gather gcd ge geqrf ger greater greater_equal gt heaviside histc histogram histogramdd "
    "hstack hypot i0 igamma igammac index_select inner inverse isneginf isposinf kron kthvalue lcm ldexp le "
    "lerp less less_equal lgamma linspace log log10 log1p log2 logaddexp logaddexp2 logcumsumexp logical_and "
    "logical_not logical_or logical_xor logit logspace logsumexp lt lu_solve lu_unpack masked_select matmul "
    "matrix_power max maximum mean median min minimum mm mode msort mul multinomial multiply mv mvlgamma "
    "nan_to_num nanmean nanmedian nanquantile narrow_copy ne neg negative nextafter nonzero norm normal "
    "not_equal ones ormqr outer polygamma pow qr quantile rad2deg rand randint randn randperm range reciprocal "
    "remainder renorm round row_stack rsqrt searchsorted sgn sigmoid sign signbit sin sinc sinh sort sqrt "
    "square stack std std_mean sub subtract svd take_along_dim tan tanh topk triangular_solve tril triu trunc var "
    "var_mean "
    "vdot vstack where xlogy zeros "
    # (their PyTorch docstrings do not show it, but they take it)
    "absolute arccos arccosh arcsin arcsinh arctan arctan2 arctanh argmax argmin clamp_max clamp_min index_add "
    "index_copy index_reduce isin log_softmax nansum prod scatter scatter_add scatter_reduce softmax sum take "
    "tensordot true_divide nuclear_norm frobenius_norm "
    # (the *_copy functions and put, microgradnp.ops.view_copies)
    "alias_copy as_strided_copy as_strided_scatter detach_copy "
    "diagonal_copy expand_copy permute_copy put select_copy slice_copy split_copy "
    "split_with_sizes_copy squeeze_copy t_copy transpose_copy unbind_copy unfold_copy unsqueeze_copy view_copy"
).split())
LINALG_TAKES_OUT = frozenset((  # noqa: SIM905
    "cholesky cholesky_ex cond cross det eig eigh eigvals eigvalsh householder_product inv inv_ex lu lu_factor "
    "lu_factor_ex lu_solve matmul matrix_norm matrix_power matrix_rank multi_dot norm pinv qr slogdet solve "
    "solve_ex solve_triangular svd svdvals tensorinv tensorsolve vecdot vector_norm"
).split())
SPECIAL_TAKES_OUT = frozenset((  # noqa: SIM905
    "digamma entr erf erfc erfcx erfinv exp2 expit expm1 gammainc gammaincc gammaln i0 i0e i1 i1e log1p log_ndtr "
    "logit logsumexp multigammaln ndtr ndtri polygamma psi round sinc xlog1py xlogy zeta "
    "chebyshev_polynomial_t chebyshev_polynomial_u chebyshev_polynomial_v chebyshev_polynomial_w "
    "shifted_chebyshev_polynomial_t shifted_chebyshev_polynomial_u shifted_chebyshev_polynomial_v "
    "shifted_chebyshev_polynomial_w hermite_polynomial_h hermite_polynomial_he laguerre_polynomial_l "
    "legendre_polynomial_p bessel_j0 bessel_j1 bessel_y0 bessel_y1 modified_bessel_i0 modified_bessel_i1 "
    "modified_bessel_k0 modified_bessel_k1 scaled_modified_bessel_k0 scaled_modified_bessel_k1 spherical_bessel_j0 "
    "airy_ai"
).split())

# Functions that make a tensor from sizes or values: with out= and no dtype, PyTorch makes it
# in out's dtype (mg.zeros(3, out=long_tensor) is a long tensor of zeros, not a cast float one).
_FACTORIES = frozenset("arange empty eye full linspace logspace ones rand randint randn randperm range zeros".split())  # noqa: SIM905


def accept_out(namespace: dict, names=TAKES_OUT) -> None:
    """Give every function of ``namespace`` (a module's globals) named in ``names`` the ``out=``
    argument."""
    wrapped = {}  # one wrapper per function, so aliases stay the same object (mg.asin is mg.arcsin)
    for name in names:
        function = namespace.get(name)
        if callable(function) and not isinstance(function, type):
            if id(function) not in wrapped:
                wrapped[id(function)] = _with_out(function, name)
            namespace[name] = wrapped[id(function)]


def _with_out(function, name: str):
    factory = name in _FACTORIES

    @functools.wraps(function)
    def with_out(*args, out=None, **kwargs):
        if out is None:
            return function(*args, **kwargs)
        _check_out(name, out)
        if mode.grad_enabled and _requires_grad(args, kwargs, out):
            raise RuntimeError(
                f"{name}(): functions with out=... arguments don't support automatic differentiation, but one of "
                "the arguments requires grad. Drop out= and use the returned tensor, or call it under "
                "mg.no_grad() when no gradient is wanted")
        if factory and kwargs.get("dtype") is None:
            kwargs["dtype"] = _first(out).dtype
        with no_grad():  # (also for the write: an out that requires grad is allowed under no_grad)
            return _write(name, function(*args, **kwargs), out)

    return with_out


def _first(out):
    return out[0] if isinstance(out, tuple | list) else out


def _check_out(name: str, out) -> None:
    outs = out if isinstance(out, tuple | list) else (out,)
    for each in outs:
        if not isinstance(each, Tensor):
            raise TypeError(f"{name}(): argument 'out' must be a Tensor (or a tuple of Tensors for a function that "
                            f"returns several), not {type(out).__name__}")


def _requires_grad(args, kwargs, out) -> bool:
    def needs(value) -> bool:
        if isinstance(value, Tensor):
            return value.requires_grad
        return isinstance(value, tuple | list) and any(isinstance(v, Tensor) and v.requires_grad for v in value)

    return needs(out) or any(needs(value) for value in args) or any(needs(value) for value in kwargs.values())


def _write(name: str, result, out):
    if isinstance(result, tuple):
        if not isinstance(out, tuple | list) or len(out) != len(result):
            raise TypeError(f"{name}(): returns {len(result)} tensors, so out= must be a tuple of {len(result)} "
                            f"Tensors, got {type(out).__name__}" + (f" of {len(out)}" if isinstance(out, tuple | list)
                                                                    else ""))
        written = [_write_one(r, o) for r, o in zip(result, out, strict=True)]
        return type(result)(*written) if hasattr(result, "_fields") else tuple(written)
    if isinstance(out, tuple | list):
        raise TypeError(f"{name}(): returns one tensor, so out= must be a Tensor, not a {type(out).__name__}")
    return _write_one(result, out)


def _write_one(result, out: Tensor) -> Tensor:
    values = np.asarray(result.data if isinstance(result, Tensor) else result)
    if not _can_cast(values.dtype, out.dtype):
        raise RuntimeError(f"result type {values.dtype} can't be cast to the desired output type {out.dtype}; "
                           f"give an out tensor of dtype {values.dtype} (or one it casts to safely)")
    if out.shape != values.shape:
        if out.data.size:
            warnings.warn(
                f"An output with one or more elements was resized since it had shape {list(out.shape)}, which does "
                f"not match the required output shape {list(values.shape)}. This behavior is deprecated, as in "
                "PyTorch: give an out tensor of the right shape, or one with zero elements", UserWarning, stacklevel=4)
        out.data = np.empty(values.shape, out.dtype)
    out.copy_(values)
    return out


def _can_cast(source: np.dtype, target: np.dtype) -> bool:
    """PyTorch's rule for out=: no cast to a lower category (bool < integer < float), whatever the width."""
    order = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}
    return order.get(source.kind, 3) <= order.get(target.kind, 3)
