"""Every built-in primitive against NumPy: forward values and shapes, and gradients
against central finite differences of an independent NumPy formula (plus
``mg.gradcheck``), in float64; dtype and shape of ``.grad`` in float32; and the
gradient conventions at kinks, checked against hand-computed values.

Each row of ``CASES`` is (mg function, the same computation in plain NumPy, one
(shape, sampler) per differentiable input). Samplers keep inputs inside the domain
and clear of kinks, so that finite differences are meaningful.
"""

from __future__ import annotations

import math
import operator
from functools import partial

import numpy as np
import pytest
from conftest import numeric_grad

import microgradnp as mg

# -- input samplers ---------------------------------------------------------------------


def _real(rng, shape):
    return rng.standard_normal(shape)


def _positive(rng, shape):
    return rng.uniform(0.5, 2.0, shape)


def _off_kinks(rng, shape):
    # |x| in [0.1, 0.4] or [0.6, 1.5]: clear of 0 (abs, relu, division) and of the clip bounds ±0.5.
    magnitude = np.where(rng.random(shape) < 0.5, rng.uniform(0.1, 0.4, shape), rng.uniform(0.6, 1.5, shape))
    return magnitude * rng.choice([-1.0, 1.0], shape)


def _distinct(rng, shape):
    # At least 0.09 apart: a max/min never ties, and a perturbation of eps cannot change the winner.
    size = math.prod(shape)
    return (rng.permutation(size) * 0.1 + rng.uniform(0, 0.01, size) - 0.05 * size).reshape(shape)


def real(*shape):
    return shape, _real


def positive(*shape):
    return shape, _positive


def off_kinks(*shape):
    return shape, _off_kinks


def distinct(*shape):
    return shape, _distinct


def case(name, mg_fn, np_fn, *inputs):
    return pytest.param(mg_fn, np_fn, inputs, id=name)


def _shape_id(shape) -> str:
    return "x".join(map(str, shape)) or "scalar"


# -- independent NumPy references -------------------------------------------------------


def np_sigmoid(a):
    return 1 / (1 + np.exp(-a))


def np_logsumexp(a, axis=None, keepdims=False):
    return np.log(np.sum(np.exp(a), axis=axis, keepdims=keepdims))


def np_softmax(a, axis=-1):
    e = np.exp(a)
    return e / e.sum(axis=axis, keepdims=True)


def np_log_softmax(a, axis=-1):
    return a - np_logsumexp(a, axis=axis, keepdims=True)


def _checkerboard(a, b):
    """A fixed condition for ``where`` with the broadcast shape of ``a`` and ``b``."""
    shape = np.broadcast_shapes(np.shape(a), np.shape(b))
    return np.indices(shape).sum(axis=0) % 2 == 0


CONST_34 = np.linspace(-1.5, 2.0, 12).reshape(3, 4)
MASK_34 = np.array([[True, False, True, True], [False, False, True, False], [True, True, False, True]])

# -- elementwise and activations ----------------------------------------------------------

ELEMENTWISE = [
    case("neg", lambda x: -x, np.negative, real(3, 4)),
    case("exp", mg.exp, np.exp, real(3, 4)),
    case("log", lambda x: x.log(), np.log, positive(3, 4)),
    case("sqrt", mg.sqrt, np.sqrt, positive(3, 4)),
    case("abs", mg.abs, np.abs, off_kinks(3, 4)),
    case("abs_builtin", abs, np.abs, off_kinks(5)),
    case("sin", lambda x: x.sin(), np.sin, real(3, 4)),
    case("cos", mg.cos, np.cos, real(3, 4)),
    case("tanh", mg.tanh, np.tanh, real(3, 4)),
    case("sigmoid", mg.sigmoid, np_sigmoid, real(3, 4)),
    case("sigmoid_0d", lambda x: x.sigmoid(), np_sigmoid, real()),
    case("relu", mg.relu, lambda a: np.maximum(a, 0), off_kinks(3, 4)),
    case("leaky_relu_default", mg.leaky_relu, lambda a: np.where(a > 0, a, 0.01 * a), off_kinks(3, 4)),
    case("leaky_relu_slope", lambda x: x.leaky_relu(slope=0.2), lambda a: np.where(a > 0, a, 0.2 * a), off_kinks(7)),
    case("clip_lo", lambda x: x.clip(-0.5), lambda a: np.clip(a, -0.5, None), off_kinks(3, 4)),
    case("clip_hi", lambda x: mg.clip(x, hi=0.5), lambda a: np.clip(a, None, 0.5), off_kinks(3, 4)),
    case("clip_both", lambda x: mg.clip(x, -0.5, 0.5), lambda a: np.clip(a, -0.5, 0.5), off_kinks(3, 4)),
    case("pow_square", lambda x: x**2, lambda a: a * a, real(3, 4)),
    case("pow_cube", lambda x: x**3, lambda a: a * a * a, real(3, 4)),
    case("pow_half", lambda x: x**0.5, np.sqrt, positive(3, 4)),
    case("pow_negative_fraction", lambda x: x**-1.5, lambda a: 1 / (a * np.sqrt(a)), positive(3, 4)),
    case("pow_zero", lambda x: x**0, np.ones_like, positive(3, 4)),
    case("rpow_two", lambda x: 2.0**x, lambda a: np.exp(a * math.log(2.0)), real(3, 4)),
    case("rpow_half", lambda x: 0.5**x, lambda a: np.exp(-a * math.log(2.0)), real(3, 4)),
    case("pow_tensors", operator.pow, lambda a, b: np.exp(b * np.log(a)), positive(3, 4), real(3, 4)),
    case("remainder", operator.mod, lambda a, b: a - b * np.floor(a / b), real(3, 4), positive(4)),
    case("remainder_negative_divisor", lambda a, b: a % -b, lambda a, b: a + b * np.floor(a / -b), real(3, 4),
         positive(3, 1)),
    case("rmod_scalar", lambda x: 5.0 % x, lambda a: 5.0 - a * np.floor(5.0 / a), positive(3, 4)),
    case("fmod", mg.fmod, lambda a, b: a - b * np.trunc(a / b), real(3, 4), positive(4)),
    case("fmod_method_negative", lambda a, b: a.fmod(-b), lambda a, b: a + b * np.trunc(a / -b), real(2, 3),
         positive(3)),
    case("rsub_scalar", lambda x: 2.0 - x, lambda a: 2.0 - a, real(3, 4)),
    case("radd_int", lambda x: 1 + x, lambda a: 1.0 + a, real(3, 4)),
    case("rdiv_scalar", lambda x: 3.0 / x, lambda a: 3.0 / a, off_kinks(3, 4)),
    case("rmul_list", lambda x: [1.0, -2.0, 0.5, 3.0] * x, lambda a: np.array([1.0, -2.0, 0.5, 3.0]) * a, real(3, 4)),
    case("ndarray_left", lambda x: CONST_34 - x, lambda a: CONST_34 - a, real(3, 4)),
    # One leaf reached along two paths whose gradients (float64 constant) need summing.
    case("float64_constant_two_paths", lambda x: x * CONST_34 + x / CONST_34, lambda a: a * CONST_34 + a / CONST_34,
         real(3, 4)),
    case("same_tensor_both_sides", lambda x: x * x, lambda a: a * a, real(3, 4)),
    case("where_constant_branch", lambda x: mg.where(MASK_34, x, 0.0), lambda a: np.where(MASK_34, a, 0.0), real(3, 4)),
    case("where_bool_tensor", lambda x: mg.where(x > 0, x, -x), np.abs, off_kinks(3, 4)),
]

ACTIVATIONS_ALONG_AXIS = [
    case(f"{name}-axis{axis}", lambda x, f=mg_f, axis=axis: f(x, axis=axis), partial(np_f, axis=axis), real(2, 3, 4))
    for name, mg_f, np_f in (("softmax", mg.softmax, np_softmax), ("log_softmax", mg.log_softmax, np_log_softmax))
    for axis in (0, 1, 2, -1, -2)
] + [
    case("softmax_default_axis", lambda x: x.softmax(), np_softmax, real(3, 4)),
    case("log_softmax_default_axis", lambda x: x.log_softmax(), np_log_softmax, real(3, 4)),
]

# -- binary elementwise ops over shape pairs ------------------------------------------------

BINARY = {
    "add": (operator.add, np.add, _real, _real),
    "sub": (operator.sub, np.subtract, _real, _real),
    "mul": (operator.mul, np.multiply, _real, _real),
    "div": (operator.truediv, np.divide, _real, _off_kinks),
    "pow": (operator.pow, lambda a, b: np.exp(b * np.log(a)), _positive, _real),
    "maximum": (mg.maximum, np.maximum, _real, _real),
    "minimum": (mg.minimum, np.minimum, _real, _real),
    "where": (lambda a, b: mg.where(_checkerboard(a, b), a, b), lambda a, b: np.where(_checkerboard(a, b), a, b),
              _real, _real),
}

SHAPE_PAIRS = [
    ((), ()),
    ((), (4,)),
    ((4,), ()),
    ((4,), (4,)),
    ((3, 4), (3, 4)),
    ((3, 1), (1, 4)),
    ((2, 3, 4), (4,)),
    ((5,), (2, 1, 5)),
    ((), (2, 3)),
    ((2, 1, 4), (3, 1)),
]

BINARY_CASES = [
    case(f"{name}-{_shape_id(sa)}&{_shape_id(sb)}", mg_f, np_f, (sa, sample_a), (sb, sample_b))
    for name, (mg_f, np_f, sample_a, sample_b) in BINARY.items()
    for sa, sb in SHAPE_PAIRS
]

# -- reductions -----------------------------------------------------------------------------

REDUCTIONS = {
    "sum": (mg.sum, np.sum),
    "mean": (lambda x, **kw: x.mean(**kw), np.mean),
    "var": (mg.var, np.var),
    "var_ddof1": (partial(mg.var, ddof=1), partial(np.var, ddof=1)),
    "max": (lambda x, **kw: x.max(**kw), np.max),
    "min": (mg.min, np.min),
    "logsumexp": (mg.logsumexp, np_logsumexp),
}

REDUCTION_CASES = [
    case(
        f"{name}-axis{axis}-keepdims{keepdims}",
        lambda x, f=mg_f, axis=axis, keepdims=keepdims: f(x, axis=axis, keepdims=keepdims),
        partial(np_f, axis=axis, keepdims=keepdims),
        distinct(2, 3, 4),
    )
    for name, (mg_f, np_f) in REDUCTIONS.items()
    for axis in (None, 1, -1, (0, 2), (-1, 0))
    for keepdims in (False, True)
] + [
    case("sum_0d", mg.sum, np.sum, real()),
    case("sum_vector_axis0", lambda x: x.sum(axis=0), np.sum, real(5)),
    case("sum_empty_axis_tuple", lambda x: x.sum(axis=()), lambda a: np.sum(a, axis=()), real(2, 3)),
    case("mean_vector", mg.mean, np.mean, real(5)),
    case("var_all_axes_tuple", lambda x: x.var(axis=(0, 1, 2)), np.var, real(2, 3, 4)),
    case("max_vector", mg.max, np.max, distinct(5)),
    case("min_0d", mg.min, np.min, real()),
    case("logsumexp_matrix_rows", lambda x: x.logsumexp(axis=1), partial(np_logsumexp, axis=1), real(3, 4)),
]

# -- moving elements around -----------------------------------------------------------------

SHAPE_OPS = [
    case("reshape", lambda x: x.reshape(6, 4), lambda a: a.reshape(6, 4), real(2, 3, 4)),
    case("reshape_tuple_minus1", lambda x: mg.reshape(x, (4, -1)), lambda a: a.reshape(4, -1), real(2, 3, 4)),
    case("reshape_to_0d", lambda x: x.reshape(()), lambda a: a.reshape(()), real(1, 1)),
    case("transpose_reverse", lambda x: x.transpose(), np.transpose, real(2, 3, 4)),
    case("T", lambda x: x.T, lambda a: a.T, real(3, 4)),
    case("transpose_axes", lambda x: x.transpose(1, 2, 0), lambda a: a.transpose(1, 2, 0), real(2, 3, 4)),
    case("transpose_axes_tuple", lambda x: mg.transpose(x, (2, 0, 1)), lambda a: a.transpose(2, 0, 1), real(2, 3, 4)),
    case("transpose_negative_axes", lambda x: x.transpose(-1, 0, 1), lambda a: a.transpose(-1, 0, 1), real(2, 3, 4)),
    case("swapaxes", lambda x: x.swapaxes(0, 2), lambda a: a.swapaxes(0, 2), real(2, 3, 4)),
    case("swapaxes_negative", lambda x: mg.swapaxes(x, -1, 0), lambda a: a.swapaxes(-1, 0), real(2, 3, 4)),
    case("broadcast_to_unit_and_new_axes", lambda x: x.broadcast_to((2, 3, 4)),
         lambda a: np.broadcast_to(a, (2, 3, 4)), real(3, 1)),
    case("broadcast_to_from_vector", lambda x: mg.broadcast_to(x, (2, 3, 4)),
         lambda a: np.broadcast_to(a, (2, 3, 4)), real(4)),
    case("broadcast_to_from_0d", lambda x: mg.broadcast_to(x, (2, 3)), lambda a: np.broadcast_to(a, (2, 3)), real()),
    case("pad_per_axis", lambda x: x.pad(((1, 2), (0, 3))), lambda a: np.pad(a, ((1, 2), (0, 3))), real(3, 4)),
    case("pad_int_constant", lambda x: mg.pad(x, 1, constant_values=5.0),
         lambda a: np.pad(a, 1, constant_values=5.0), real(3, 4)),
    case("pad_one_pair_for_all_axes", lambda x: mg.pad(x, (2, 1)), lambda a: np.pad(a, (2, 1)), real(2, 3, 4)),
    case("concatenate_axis0", lambda x, y: mg.concatenate([x, y]), lambda a, b: np.concatenate([a, b]),
         real(2, 3), real(4, 3)),
    case("concatenate_negative_axis", lambda x, y, z: mg.concatenate([x, y, z], axis=-1),
         lambda a, b, c: np.concatenate([a, b, c], axis=-1), real(2, 1), real(2, 3), real(2, 2)),
    case("concatenate_with_constant", lambda x: mg.concatenate([CONST_34, x], axis=1),
         lambda a: np.concatenate([CONST_34, a], axis=1), real(3, 2)),
    *[
        case(f"stack_axis{axis}", lambda x, y, axis=axis: mg.stack([x, y], axis=axis),
             lambda a, b, axis=axis: np.stack([a, b], axis=axis), real(3, 4), real(3, 4))
        for axis in (0, 1, 2, -1, -3)
    ],
    case("squeeze_all", lambda x: x.squeeze(), np.squeeze, real(1, 3, 1, 4)),
    case("squeeze_axis", lambda x: x.squeeze(0), lambda a: np.squeeze(a, 0), real(1, 3, 1, 4)),
    case("squeeze_negative_axis", lambda x: mg.squeeze(x, -2), lambda a: np.squeeze(a, -2), real(1, 3, 1, 4)),
    case("squeeze_axis_tuple", lambda x: mg.squeeze(x, (0, 2)), lambda a: np.squeeze(a, (0, 2)), real(1, 3, 1, 4)),
    case("expand_dims", lambda x: x.expand_dims(0), lambda a: np.expand_dims(a, 0), real(3, 4)),
    case("expand_dims_negative", lambda x: mg.expand_dims(x, -1), lambda a: np.expand_dims(a, -1), real(3, 4)),
    case("expand_dims_tuple", lambda x: mg.expand_dims(x, (0, 2)), lambda a: np.expand_dims(a, (0, 2)), real(3, 4)),
    case("flatten", lambda x: x.flatten(), np.ravel, real(2, 3, 4)),
    case("flatten_from_axis1", lambda x: mg.flatten(x, 1), lambda a: a.reshape(2, -1), real(2, 3, 4)),
    case("flatten_axes_0_1", lambda x: mg.flatten(x, 0, 1), lambda a: a.reshape(6, 4), real(2, 3, 4)),
]

# -- indexing -------------------------------------------------------------------------------

MASK_456 = np.random.default_rng(7).random((4, 5, 6)) < 0.4

INDICES = {
    "int": 1,
    "negative_int": -1,
    "two_ints": (1, 2),
    "all_ints_to_0d": (1, 2, 3),
    "slice": slice(1, 3),
    "negative_step": slice(None, None, -1),
    "mixed_steps": (slice(None), slice(None, None, -2), slice(1, 5, 2)),
    "newaxis": None,
    "newaxis_between": (slice(None), None, 2),
    "ellipsis": (Ellipsis, 1),
    "ellipsis_between": (1, Ellipsis, slice(None, None, -1)),
    "int_array_repeated": np.array([0, 2, 2, 3, 0]),
    "list_all_repeated": [1, 1, 1],
    "negative_int_array": np.array([-1, -1, 0]),
    "int_array_2d": np.array([[0, 1], [1, 3]]),
    "slices_and_array": (slice(None), [1, 1, 4], slice(2, None)),
    "arrays_split_by_slice": ([0, 1, 1], slice(None), [2, 3, 2]),
    "broadcasting_arrays": (np.array([[0], [3]]), np.array([1, 1, 4])),
    "int_and_array": (2, [0, 0, 3]),
    "ellipsis_and_array": (Ellipsis, [5, 0, 5]),
    "bool_mask_full": MASK_456,
    "bool_mask_axis0": np.array([True, False, True, True]),
    "bool_mask_axis1": (slice(None), np.array([False, True, True, False, True])),
    "bool_list": [True, False, False, True],
}

INDEX_CASES = [
    case(f"getitem-{name}", lambda x, index=index: x[index], lambda a, index=index: a[index], real(4, 5, 6))
    for name, index in INDICES.items()
] + [
    case("getitem-mask_from_comparison", lambda x: x[x > 0], lambda a: a[a > 0], real(4, 5)),
]

# -- matrix products ------------------------------------------------------------------------

MATMUL_SHAPES = [
    ((4,), (4,)),
    ((4,), (4, 3)),
    ((3, 4), (4,)),
    ((3, 4), (4, 5)),
    ((2, 3, 4), (2, 4, 5)),
    ((2, 3, 4), (4, 5)),
    ((3, 4), (2, 4, 5)),
    ((2, 1, 3, 4), (5, 4, 2)),
    ((4,), (2, 4, 3)),
    ((2, 3, 4), (4,)),
]

MATMUL_CASES = [
    case(f"matmul-{_shape_id(sa)}@{_shape_id(sb)}", operator.matmul, np.matmul, (sa, _real), (sb, _real))
    for sa, sb in MATMUL_SHAPES
] + [
    case("matmul_function", mg.matmul, np.matmul, real(2, 3, 4), real(4, 2)),
    case("matmul_constant_right", lambda x: x @ CONST_34.T, lambda a: a @ CONST_34.T, real(2, 4)),
    case("matmul_ndarray_left", lambda x: CONST_34 @ x, lambda a: CONST_34 @ a, real(4, 2)),
]

CASES = ELEMENTWISE + ACTIVATIONS_ALONG_AXIS + BINARY_CASES + REDUCTION_CASES + SHAPE_OPS + INDEX_CASES + MATMUL_CASES


# -- the checks -----------------------------------------------------------------------------


def _sample(inputs, dtype=np.float64) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [np.asarray(sample(rng, shape), dtype=np.float64).astype(dtype) for shape, sample in inputs]


def _weights(shape) -> np.ndarray:
    # Not all ones: a Jacobian whose rows are permuted or mis-summed still fails.
    return np.random.default_rng(1).uniform(0.5, 1.5, shape)


def _forward_and_backward(mg_fn, arrays):
    leaves = [mg.tensor(a, requires_grad=True) for a in arrays]
    out = mg_fn(*leaves)
    weights = _weights(out.shape)
    out.backward(weights)
    return out, leaves, weights


@pytest.mark.parametrize(("mg_fn", "np_fn", "inputs"), CASES)
def test_float64_forward_and_gradient_match_numpy_finite_differences(mg_fn, np_fn, inputs):
    arrays = _sample(inputs)
    expected = np.asarray(np_fn(*arrays))
    out, leaves, weights = _forward_and_backward(mg_fn, arrays)
    assert out.shape == expected.shape
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.data, expected, rtol=1e-10, atol=1e-12)
    for i, leaf in enumerate(leaves):
        assert leaf.grad is not None
        assert leaf.grad.shape == leaf.data.shape
        assert leaf.grad.dtype == np.float64
        numeric = numeric_grad(np_fn, arrays, i, weights=weights)
        np.testing.assert_allclose(leaf.grad, numeric, rtol=1e-5, atol=1e-7, err_msg=f"gradient of input {i}")


@pytest.mark.parametrize(("mg_fn", "np_fn", "inputs"), CASES)
def test_gradcheck_accepts_every_primitive(mg_fn, np_fn, inputs):
    assert mg.gradcheck(mg_fn, [mg.tensor(a, requires_grad=True) for a in _sample(inputs)])


@pytest.mark.parametrize(("mg_fn", "np_fn", "inputs"), CASES)
def test_float32_keeps_dtype_and_gradient_shape(mg_fn, np_fn, inputs):
    arrays = _sample(inputs, np.float32)
    # NumPy's own promotion decides the output dtype (float32 unless a float64 constant joins in).
    expected = np.asarray(np_fn(*arrays))
    out, leaves, weights = _forward_and_backward(mg_fn, arrays)
    assert out.shape == expected.shape
    assert out.dtype == expected.dtype
    np.testing.assert_allclose(out.data, expected, rtol=1e-5, atol=1e-6)
    for i, leaf in enumerate(leaves):
        assert leaf.grad.shape == leaf.data.shape
        assert leaf.grad.dtype == np.float32, f"input {i}: grad is {leaf.grad.dtype}"
        numeric = numeric_grad(np_fn, arrays, i, weights=weights)
        np.testing.assert_allclose(leaf.grad, numeric, rtol=2e-3, atol=2e-4, err_msg=f"gradient of input {i}")


# -- conventions at kinks, with hand-computed expectations -------------------------------------


@pytest.mark.parametrize(
    ("fn", "x", "expected"),
    [
        pytest.param(mg.relu, [-1.0, 0.0, 2.0], [0.0, 0.0, 1.0], id="relu_zero_at_zero"),
        pytest.param(abs, [-2.0, 0.0, 3.0], [-1.0, 0.0, 1.0], id="abs_zero_at_zero"),
        pytest.param(lambda t: t.leaky_relu(0.1), [-1.0, 0.0, 2.0], [0.1, 0.1, 1.0], id="leaky_relu_slope_at_zero"),
        pytest.param(lambda t: t.clip(-1.0, 1.0), [-2.0, -1.0, 0.0, 1.0, 2.0], [0.0, 1.0, 1.0, 1.0, 0.0],
                     id="clip_passes_at_bounds"),
        pytest.param(lambda t: t.clip(hi=0.0), [-1.0, 0.0, 1.0], [1.0, 1.0, 0.0], id="clip_hi_only_at_bound"),
        pytest.param(lambda t: t.max(), [1.0, 3.0, 3.0, 2.0], [0.0, 0.5, 0.5, 0.0], id="max_ties_share"),
        pytest.param(lambda t: t.min(), [2.0, 1.0, 5.0, 1.0, 1.0], [0.0, 1 / 3, 0.0, 1 / 3, 1 / 3],
                     id="min_three_way_tie"),
        pytest.param(lambda t: t.max(axis=1), [[1.0, 1.0, 0.0], [2.0, 5.0, 5.0], [7.0, 6.0, 5.0]],
                     [[0.5, 0.5, 0.0], [0.0, 0.5, 0.5], [1.0, 0.0, 0.0]], id="max_ties_per_row"),
        pytest.param(lambda t: t.min(axis=0, keepdims=True), [[1.0, 4.0], [1.0, 3.0]], [[0.5, 0.0], [0.5, 1.0]],
                     id="min_ties_per_column_keepdims"),
    ],
)
def test_gradient_convention_at_kinks(fn, x, expected):
    t = mg.tensor(x, requires_grad=True)
    fn(t).sum().backward()
    np.testing.assert_allclose(t.grad, expected, rtol=1e-12)


@pytest.mark.parametrize(
    ("fn", "expected_a", "expected_b"),
    [
        # a = [1, 2, 3], b = [1, 5, 0]: a tie, b wins, a wins.
        (mg.maximum, [0.5, 0.0, 1.0], [0.5, 1.0, 0.0]),
        (mg.minimum, [0.5, 1.0, 0.0], [0.5, 0.0, 1.0]),
    ],
    ids=["maximum", "minimum"],
)
def test_elementwise_extremes_split_ties_half_and_half(fn, expected_a, expected_b):
    a = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = mg.tensor([1.0, 5.0, 0.0], requires_grad=True)
    fn(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad, expected_a)
    np.testing.assert_array_equal(b.grad, expected_b)


def test_maximum_tie_with_broadcast_scalar_sums_the_halves():
    a = mg.tensor([0.0, 1.0, 2.0], requires_grad=True)
    b = mg.tensor(1.0, requires_grad=True)
    mg.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad, [0.0, 0.5, 1.0])
    assert b.grad.shape == ()
    assert b.grad == 1.5  # all of position 0 plus half of the tie at position 1


def test_pow_exponent_gradient_is_zero_where_base_is_zero():
    # d(b**e)/de = b**e log b; at b == 0 the product is taken as 0 (PyTorch's convention), not nan.
    base = mg.tensor([0.0, 2.0])
    exponent = mg.tensor([2.0, 3.0], requires_grad=True)
    (base**exponent).sum().backward()
    np.testing.assert_allclose(exponent.grad, [0.0, 8.0 * math.log(2.0)], rtol=1e-12)


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        ([1, 1, 3, 1], [0.0, 3.0, 0.0, 1.0, 0.0]),
        (np.array([[4, 4], [-1, 0]]), [1.0, 0.0, 0.0, 0.0, 3.0]),
        ([True, False, True, False, True], [1.0, 0.0, 1.0, 0.0, 1.0]),
    ],
    ids=["list", "2d_with_negative_alias", "bool_list"],
)
def test_repeated_indices_accumulate(index, expected):
    x = mg.tensor(np.arange(5.0), requires_grad=True)
    x[index].sum().backward()
    np.testing.assert_array_equal(x.grad, expected)
