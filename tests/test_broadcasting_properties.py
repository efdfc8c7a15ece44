"""Property tests: for random shapes, broadcasting ops, reductions, shape round trips
and integer-array indexing agree with NumPy in the forward pass, and every input's
gradient has exactly the input's shape and equals a gradient computed independently
(finite differences of the NumPy forward, or a closed form written in NumPy)."""

from __future__ import annotations

import math
import operator

import numpy as np
import pytest
from conftest import numeric_grad
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import microgradnp as mg

SETTINGS = settings(max_examples=60, deadline=None)

FINITE = st.floats(-3, 3, allow_nan=False, allow_infinity=False, allow_subnormal=False)
NONZERO = st.floats(0.5, 3) | st.floats(-3, -0.5)
# Few distinct values, so that ties (maximum, minimum, max, min) happen often.
FEW_VALUES = st.sampled_from([-1.0, 0.0, 0.5, 2.0])


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` back to ``shape``: over the leading axes broadcasting added, then
    over the axes where ``shape`` has length 1."""
    grad = grad.sum(axis=tuple(range(grad.ndim - len(shape))))
    return grad.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True)


def weights_like(shape) -> np.ndarray:
    # Not all ones: a gradient summed over the wrong axes or permuted still fails.
    return np.random.default_rng(1).uniform(0.5, 1.5, shape)


def leaves(*arrays):
    return [mg.tensor(a, requires_grad=True) for a in arrays]


def assert_grads(tensors, expected):
    for i, (t, g) in enumerate(zip(tensors, expected)):
        assert t.grad is not None, f"input {i} got no gradient"
        assert t.grad.shape == t.data.shape, f"input {i}: grad {t.grad.shape} vs data {t.data.shape}"
        # atol: the finite difference divides the rounding error of a sum of up to ~100 terms
        # of size ~10 by 2e-6, a few 1e-8; a wrong rule is off by O(1).
        np.testing.assert_allclose(t.grad, g, rtol=1e-6, atol=1e-6, err_msg=f"gradient of input {i}")


def _tie_share(first_wins, tie):
    return first_wins + 0.5 * tie


# name -> (mg op, NumPy op, d(sum(w * op(a, b)))/da and /db before summing over broadcast axes)
BINARY = {
    "add": (operator.add, np.add, lambda a, b, w: (w, w)),
    "sub": (operator.sub, np.subtract, lambda a, b, w: (w, -w)),
    "mul": (operator.mul, np.multiply, lambda a, b, w: (w * b, w * a)),
    "div": (operator.truediv, np.divide, lambda a, b, w: (w / b, -w * a / (b * b))),
    "maximum": (mg.maximum, np.maximum,
                lambda a, b, w: (w * _tie_share(a > b, a == b), w * _tie_share(b > a, a == b))),
    "minimum": (mg.minimum, np.minimum,
                lambda a, b, w: (w * _tie_share(a < b, a == b), w * _tie_share(b < a, a == b))),
}
SMOOTH = {"add", "sub", "mul", "div"}


@pytest.mark.parametrize("name", BINARY)
@SETTINGS
@given(data=st.data())
def test_binary_op_broadcasts_like_numpy(name, data):
    mg_op, np_op, closed_form = BINARY[name]
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=3))
    shape_a, shape_b = shapes.input_shapes
    a = data.draw(hnp.arrays(np.float64, shape_a, elements=FINITE | FEW_VALUES))
    b = data.draw(hnp.arrays(np.float64, shape_b, elements=NONZERO if name == "div" else FINITE | FEW_VALUES))
    x, y = leaves(a, b)
    out = mg_op(x, y)
    expected = np_op(a, b)
    assert out.shape == np.shape(expected) == shapes.result_shape
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=0)

    w = weights_like(out.shape)
    out.backward(w)
    grad_a, grad_b = closed_form(a, b, w)
    assert_grads((x, y), (unbroadcast(np.broadcast_to(grad_a, out.shape), shape_a),
                          unbroadcast(np.broadcast_to(grad_b, out.shape), shape_b)))
    if name in SMOOTH:
        assert_grads((x, y), [numeric_grad(np_op, [a, b], i, weights=w) for i in (0, 1)])


@SETTINGS
@given(data=st.data())
def test_where_broadcasts_condition_and_both_branches(data):
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=4, max_side=3))
    shape_c, shape_a, shape_b = shapes.input_shapes
    condition = data.draw(hnp.arrays(np.bool_, shape_c))
    a = data.draw(hnp.arrays(np.float64, shape_a, elements=FINITE))
    b = data.draw(hnp.arrays(np.float64, shape_b, elements=FINITE))
    x, y = leaves(a, b)
    out = mg.where(condition, x, y)
    np.testing.assert_array_equal(out.data, np.where(condition, a, b))
    assert out.shape == shapes.result_shape

    w = weights_like(out.shape)
    out.backward(w)
    picked = np.broadcast_to(condition, out.shape)
    assert_grads((x, y), (unbroadcast(w * picked, shape_a), unbroadcast(w * ~picked, shape_b)))


@SETTINGS
@given(data=st.data())
def test_matmul_with_broadcast_batch_axes(data):
    # NumPy's gufunc signature covers 1-D operands on either side as well as batches.
    shapes = data.draw(hnp.mutually_broadcastable_shapes(signature=np.matmul.signature, max_dims=3, max_side=3))
    shape_a, shape_b = shapes.input_shapes
    a = data.draw(hnp.arrays(np.float64, shape_a, elements=FINITE))
    b = data.draw(hnp.arrays(np.float64, shape_b, elements=FINITE))
    x, y = leaves(a, b)
    out = x @ y
    expected = np.matmul(a, b)
    assert out.shape == np.shape(expected) == shapes.result_shape
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)

    w = weights_like(out.shape)
    out.backward(w)
    assert_grads((x, y), [numeric_grad(np.matmul, [a, b], i, weights=w) for i in (0, 1)])


# -- reductions -----------------------------------------------------------------------------


@st.composite
def arrays_with_axis(draw, elements):
    """An array and an ``axis`` NumPy accepts for it: None, an int or a tuple of
    distinct axes (possibly empty), each counted from either end."""
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=3))
    a = draw(hnp.arrays(np.float64, shape, elements=elements))
    ndim = len(shape)
    axes = draw(st.lists(st.integers(0, ndim - 1), unique=True)) if ndim else []
    axes = [axis - ndim if draw(st.booleans()) else axis for axis in axes]
    choices = [st.none(), st.just(tuple(axes))] + ([st.just(axes[0])] if axes else [])
    return a, draw(st.one_of(choices)), draw(st.booleans())


def reduced_count(shape, axis) -> int:
    if axis is None:
        return math.prod(shape)
    axes = (axis,) if isinstance(axis, int) else axis
    return math.prod(shape[i] for i in axes)


def np_logsumexp(a, axis=None, keepdims=False):
    return np.log(np.sum(np.exp(a), axis=axis, keepdims=keepdims))


SMOOTH_REDUCTIONS = {
    "sum": (mg.sum, np.sum, 0),
    "mean": (mg.mean, np.mean, 0),
    "var": (mg.var, np.var, 0),
    "var_ddof1": (lambda x, **kw: mg.var(x, ddof=1, **kw), lambda a, **kw: np.var(a, ddof=1, **kw), 1),
    "logsumexp": (mg.logsumexp, np_logsumexp, 0),
}


@pytest.mark.parametrize("name", SMOOTH_REDUCTIONS)
@SETTINGS
@given(case=arrays_with_axis(FINITE))
def test_smooth_reduction_shapes_and_gradients(name, case):
    mg_fn, np_fn, ddof = SMOOTH_REDUCTIONS[name]
    a, axis, keepdims = case
    assume(reduced_count(a.shape, axis) > ddof)  # otherwise NumPy divides by zero degrees of freedom
    (x,) = leaves(a)
    out = mg_fn(x, axis=axis, keepdims=keepdims)
    expected = np_fn(a, axis=axis, keepdims=keepdims)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.data, expected, rtol=1e-10, atol=1e-12)

    w = weights_like(out.shape)
    out.backward(w)
    reference = numeric_grad(lambda arr: np_fn(arr, axis=axis, keepdims=keepdims), [a], 0, weights=w)
    np.testing.assert_allclose(x.grad, reference, rtol=1e-5, atol=1e-7)
    assert x.grad.shape == a.shape


@pytest.mark.parametrize(("mg_fn", "np_fn"), [(mg.max, np.max), (mg.min, np.min)], ids=["max", "min"])
@SETTINGS
@given(case=arrays_with_axis(FEW_VALUES))
def test_extreme_reduction_shares_ties_evenly(mg_fn, np_fn, case):
    a, axis, keepdims = case
    (x,) = leaves(a)
    out = mg_fn(x, axis=axis, keepdims=keepdims)
    expected = np_fn(a, axis=axis, keepdims=keepdims)
    assert out.shape == np.shape(expected)
    np.testing.assert_array_equal(out.data, expected)

    w = weights_like(out.shape)
    out.backward(w)
    peak = np_fn(a, axis=axis, keepdims=True)
    hits = a == peak
    assert_grads([x], [hits * np.reshape(w, peak.shape) / hits.sum(axis=axis, keepdims=True)])


# -- moving elements around -----------------------------------------------------------------


@SETTINGS
@given(data=st.data())
def test_transpose_round_trip_and_gradient(data):
    a = data.draw(hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=5, max_side=3), elements=FINITE))
    ndim = a.ndim
    perm = data.draw(st.permutations(range(ndim)))
    inverse = tuple(int(i) for i in np.argsort(perm))
    # Axes may be given counted from the end, as NumPy allows.
    perm = tuple(p - ndim if data.draw(st.booleans()) else p for p in perm)
    (x,) = leaves(a)
    y = x.transpose(perm)
    np.testing.assert_array_equal(y.data, np.transpose(a, perm))
    back = y.transpose(inverse)
    np.testing.assert_array_equal(back.data, a)

    w = weights_like(y.shape)
    y.backward(w)
    assert_grads([x], [np.transpose(w, inverse)])


@SETTINGS
@given(data=st.data())
def test_reshape_round_trip_and_gradient(data):
    a = data.draw(hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=4, max_side=4), elements=FINITE))
    # Same size: a permutation of the sides, with length-1 axes inserted and maybe one side left to -1.
    target = list(data.draw(st.permutations(a.shape)))
    for _ in range(data.draw(st.integers(0, 2))):
        target.insert(data.draw(st.integers(0, len(target))), 1)
    if target and data.draw(st.booleans()):
        target[data.draw(st.integers(0, len(target) - 1))] = -1
    (x,) = leaves(a)
    y = x.reshape(tuple(target))
    np.testing.assert_array_equal(y.data, a.reshape(target))
    back = y.reshape(a.shape)
    np.testing.assert_array_equal(back.data, a)

    w = weights_like(back.shape)
    (back * w).sum().backward()
    assert_grads([x], [w])


# -- indexing ---------------------------------------------------------------------------------


@st.composite
def integer_index(draw, length, max_dims=2):
    """An integer array (possibly 0-d, with repeats and negative aliases) into an axis of ``length``."""
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=1, max_side=5))
    return draw(hnp.arrays(np.intp, shape, elements=st.integers(-length, length - 1)))


@SETTINGS
@given(data=st.data())
def test_integer_array_index_accumulates_like_add_at(data):
    a = data.draw(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), elements=FINITE))
    axis = data.draw(st.integers(0, a.ndim - 1))
    index = (slice(None),) * axis + (data.draw(integer_index(a.shape[axis])),)
    (x,) = leaves(a)
    y = x[index]
    np.testing.assert_array_equal(y.data, a[index])

    w = weights_like(y.shape)
    y.backward(w)
    expected = np.zeros_like(a)
    np.add.at(expected, index, w)
    assert_grads([x], [expected])


@SETTINGS
@given(data=st.data())
def test_two_broadcasting_index_arrays_accumulate_like_add_at(data):
    a = data.draw(hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=3, max_side=4), elements=FINITE))
    rows = data.draw(integer_index(a.shape[0], max_dims=1))[..., None]  # a column: broadcasts against cols
    cols = data.draw(integer_index(a.shape[1], max_dims=1))
    (x,) = leaves(a)
    y = x[rows, cols]
    np.testing.assert_array_equal(y.data, a[rows, cols])

    w = weights_like(y.shape)
    y.backward(w)
    expected = np.zeros_like(a)
    np.add.at(expected, (rows, cols), w)
    assert_grads([x], [expected])
