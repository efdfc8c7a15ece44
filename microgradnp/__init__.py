"""microgradnp: reverse-mode automatic differentiation on NumPy arrays."""

from microgradnp.tensor import (  # noqa: I001  (Tensor first: the rest builds on it)
    Generator,
    Tensor,
    arange,
    argmax,
    argmin,
    from_numpy,
    full,
    get_default_dtype,
    initial_seed,
    manual_seed,
    ones,
    ones_like,
    full_like,
    rand,
    randn,
    set_default_dtype,
    set_printoptions,
    tensor,
    zeros,
    zeros_like,
)
from microgradnp.autograd import (
    Compiled,
    Function,
    TraceError,
    compile,
    GradcheckError,
    detect_anomaly,
    enable_grad,
    grad,
    gradcheck,
    gradgradcheck,
    is_anomaly_check_nan_enabled,
    is_anomaly_enabled,
    is_grad_enabled,
    no_grad,
    set_detect_anomaly,
    set_grad_enabled,
)
from microgradnp.ops import (
    abs,
    argwhere,
    astype,
    broadcast_to,
    clip,
    concatenate,
    cos,
    dot,
    exp,
    expand_dims,
    flatten,
    gather,
    hstack,
    index_select,
    leaky_relu,
    log,
    log_softmax,
    logsumexp,
    masked_fill,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    nonzero,
    one_hot,
    pad,
    relu,
    reshape,
    scatter,
    scatter_add,
    sigmoid,
    sin,
    softmax,
    sqrt,
    squeeze,
    stack,
    sum,
    swapaxes,
    take_along_axis,
    tanh,
    transpose,
    var,
    vstack,
    where,
)
from microgradnp.ops import concatenate as cat  # PyTorch's name
from microgradnp.ops import (  # shapes and linear algebra
    chunk, diag, diagonal, einsum, eye, flip, linspace, moveaxis, outer, repeat, repeat_interleave, roll, split,
    tensordot, tile, trace, tril, triu,
)
from microgradnp.ops import (  # more elementwise math, and activations
    acos, arccos, arcsin, arctan, arctan2, asin, atan, atan2, ceil, cosh, erf, erfc, exp2, expm1, floor, log1p, log2,
    log10, logaddexp, reciprocal, round, sign, sinh, square, tan, trunc, floor_divide, remainder, fmod,
    celu, elu, gelu, hardsigmoid, hardswish, hardtanh, logsigmoid, mish, relu6, selu, silu, softplus, softsign,
)
from microgradnp.ops import ValuesIndices, all, any, argsort, cumprod, cumsum, logcumsumexp, norm, prod, sort, std, topk
from microgradnp.ops.torch_math import (  # PyTorch's math functions
    absolute, acosh, addbmm, addcdiv, addcmul, addmm, addmv, addr, arccosh, arcsinh, arctanh, asinh, atanh, baddbmm,
    copysign, count_nonzero, cummax, cummin, deg2rad, diff, digamma, dist, erfinv, fix, float_power, fmax, fmin,
    frac, greater, greater_equal, heaviside, hypot, is_complex, is_floating_point, isclose, isneginf, isposinf,
    isreal, kthvalue, less, less_equal, lgamma, logaddexp2, logical_and, logical_or, logical_xor, logit, median, mode,
    nan_to_num, nanmean, nanmedian, nanquantile, nansum, not_equal, positive, quantile, rad2deg, renorm, sgn, sinc,
    xlogy,
)
from microgradnp.ops.torch_functions import (  # the rest of torch's top-level functions
    add, adjoint, allclose, amax, amin, aminmax, as_tensor, asarray, atleast_1d, atleast_2d, atleast_3d, bernoulli,
    bincount, block_diag, bmm, broadcast_shapes, broadcast_tensors, bucketize, can_cast, cartesian_prod, cdist,
    chain_matmul, cholesky, clamp, clamp_max, clamp_min, clone, column_stack, combinations, concat, corrcoef, cov,
    cross, cumulative_trapezoid, det, detach, diag_embed, diagflat, div, divide, dsplit, dstack, empty, empty_like,
    empty_permuted, empty_strided, eq, equal,
    fliplr, flipud, ge, ger, gt, histc, hsplit, index_add, index_copy, index_fill, inference_mode, inner,
    inverse, is_inference_mode_enabled, is_nonzero, is_same_size, is_tensor, isfinite, isin, isinf, isnan, kron,
    ldexp, le, lerp, logdet, logical_not, logspace, lt, masked_scatter, masked_select, matrix_exp, matrix_power,
    meshgrid, mm, movedim, msort, mul, multinomial, multiply, mv, narrow, narrow_copy, ne, neg, negative,
    nonzero_static, normal,
    numel, permute, pinverse, poisson, pow, promote_types, qr, rand_like, randint, randint_like, randn_like,
    randperm, range, ravel, result_type, rot90, row_stack, rsqrt, rsub, scalar_tensor, scatter_reduce, searchsorted,
    select, signbit, slogdet, split_with_sizes, std_mean, sub, subtract, svd, swapdims, t, take, take_along_dim,
    tensor_split, trapezoid, trapz, tril_indices, triu_indices, true_divide, unbind, unflatten, unique,
    unique_consecutive, unravel_index, unsqueeze, var_mean, vdot, vsplit,
)
from microgradnp import data, errors, func, linalg, nn, optim, train, utils, viz  # after the core: they build on it
from microgradnp import special  # torch.special's functions
from microgradnp.func import vmap  # torch.vmap is torch.func.vmap
from microgradnp.linalg import lu_unpack  # torch.lu_unpack (torch.linalg has none)
from microgradnp.linalg import (  # torch's, not torch.linalg's
    cholesky_inverse, cholesky_solve, geqrf, orgqr, ormqr, pca_lowrank, svd_lowrank, triangular_solve,
)
from microgradnp.linalg import torch_lu as lu, torch_lu_solve as lu_solve  # torch.lu (linalg.lu differs)
from microgradnp.ops.torch_extras import (  # torch's bitwise functions, on bool and integer tensors
    bitwise_and, bitwise_left_shift, bitwise_not, bitwise_or, bitwise_right_shift, bitwise_xor,
)
from microgradnp.device import cuda, device
from microgradnp._random import get_rng_state, set_rng_state  # torch.random's names
from microgradnp.check import check_backprop
from microgradnp.nn.functional import (  # torch.conv2d(...) is F.conv2d(...): the same arguments
    adaptive_avg_pool1d, avg_pool1d, bilinear, channel_shuffle, conv1d, conv2d, conv3d, conv_transpose1d,
    conv_transpose2d, cosine_similarity, group_norm, hardshrink, layer_norm, max_pool1d, max_pool2d, max_pool3d,
    pairwise_distance, pixel_shuffle, pixel_unshuffle, prelu, rms_norm, threshold,
)
from microgradnp.nn.functional import conv_transpose3d  # torch.conv_transpose3d is F.conv_transpose3d
from microgradnp.ops.out_argument import accept_out as _accept_out
from microgradnp.ops.torch_names_more import *  # noqa: F403  (its __all__: windows, torch.abs_...)
from microgradnp.ops.view_copies import *  # noqa: F403  (torch.t_copy, torch.diagonal_copy... and torch.put)
from microgradnp.ops.torch_names_extra import *  # noqa: F403  (torch.celu_, torch.native_layer_norm...)
from microgradnp.nn.rnn import (  # torch's functional cells and layers
    gru, gru_cell, lstm, lstm_cell, rnn_relu, rnn_relu_cell, rnn_tanh, rnn_tanh_cell,
)
from microgradnp.ops.torch_more import (  # more of torch's top-level names
    diagonal_scatter, dropout, embedding, finfo, frexp, gcd, gradient, histogram, histogramdd, i0, igamma, igammac,
    iinfo, index_put, index_reduce, is_inference, is_signed, lcm, load, mvlgamma, nextafter, pdist, polygamma, rrelu,
    save, seed, select_scatter, slice_scatter, typename, unsafe_chunk, unsafe_split, unsafe_split_with_sizes, vander,
)

import builtins as _builtins
import numpy as _np

# PyTorch's dtype names, as the NumPy dtypes they stand for: mg.zeros(3, dtype=mg.float32),
# t.to(mg.long), t.dtype == mg.bool. (mg.float is float32, as torch.float; the default
# dtype of new tensors is still get_default_dtype().)
float16 = half = _np.dtype(_np.float16)
float32 = float = _np.dtype(_np.float32)  # noqa: A001
float64 = double = _np.dtype(_np.float64)
int8, uint8 = _np.dtype(_np.int8), _np.dtype(_np.uint8)
int16 = short = _np.dtype(_np.int16)
int32 = int = _np.dtype(_np.int32)  # noqa: A001
int64 = long = _np.dtype(_np.int64)
bool = _np.dtype(_np.bool_)  # noqa: A001
dtype = _np.dtype  # (isinstance(mg.float32, mg.dtype), as torch.dtype)
# torch's constants (floats, as Python's math module gives them; newaxis is None, as NumPy's)
e, pi, inf, nan, newaxis = _np.e, _np.pi, _np.inf, _np.nan, None

__version__ = "0.1.0"

_accept_out(globals())  # torch.add(a, b, out=c) and the other functions that take out= in PyTorch

# ``from microgradnp import *`` leaves Python's builtins alone (mg.float, mg.range, mg.all...
# are there as attributes, as in PyTorch).
__all__ = sorted(name for name in dir() if not name.startswith("_") and not hasattr(_builtins, name))
