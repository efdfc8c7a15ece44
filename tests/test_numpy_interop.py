"""NumPy calls on Tensors beyond single-array ufuncs: Tensors inside lists and tuples
(np.stack / np.mean([x, y]) ...), np.dot with NumPy's semantics, and mg.stack's checks.

Which NumPy calls ever see a Tensor inside a list (probed on NumPy 2.4): the functions
whose argument is itself a sequence of arrays (np.stack, np.concatenate, np.hstack,
np.vstack, np.dstack, np.column_stack, np.block) dispatch ``__array_function__`` and are
answered differentiably or refused. All others (np.mean([x, y]), np.sum, np.array([x, y]),
ufuncs on lists) convert each element with ``Tensor.__array__``, exactly as
``np.asarray(t)`` does; see ``microgradnp.ops.check_array_conversion`` for what is refused.
"""

from __future__ import annotations

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import ops


def _leaf(shape, seed=0):
    return mg.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


def _check_against_numpy(fn, *shapes):
    """``fn`` on Tensors gives a Tensor with NumPy's values, and gradients that pass gradcheck."""
    tensors = [_leaf(shape, seed) for seed, shape in enumerate(shapes)]
    out = fn(*tensors)
    assert isinstance(out, mg.Tensor) and out.requires_grad
    expected = fn(*[t.data for t in tensors])
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)
    assert mg.gradcheck(fn, tensors)


# -- calls that dispatch on a sequence of Tensors ---------------------------------------------
SEQUENCE_CALLS = {
    "stack": (lambda x, y: np.stack([x, y]), (2, 3), (2, 3)),
    "stack-axis-last": (lambda x, y: np.stack((x, y), axis=-1), (2, 3), (2, 3)),
    "stack-with-array": (lambda x: np.stack([np.ones((2, 3)), x], axis=1), (2, 3)),
    "concatenate": (lambda x, y: np.concatenate([x, y], axis=1), (2, 3), (2, 1)),
    "concatenate-axis-none": (lambda x, y: np.concatenate([x, y], axis=None), (2, 3), (4,)),
    "hstack-1d": (lambda x, y: np.hstack([x, y]), (3,), (2,)),
    "hstack-2d": (lambda x, y: np.hstack([x, y]), (2, 3), (2, 1)),
    "hstack-scalars": (lambda x, y: np.hstack([x, y]), (), ()),
    "vstack-1d": (lambda x, y: np.vstack([x, y]), (3,), (3,)),
    "vstack-2d": (lambda x, y: np.vstack((x, y)), (2, 3), (1, 3)),
    "dstack": (lambda x, y: np.dstack([x, y]), (2, 3), (2, 3)),
    "dstack-1d": (lambda x, y: np.dstack([x, y]), (3,), (3,)),
    "column_stack": (lambda x, y: np.column_stack([x, y]), (3,), (3, 2)),
    "atleast_1d": (lambda x: np.atleast_1d(x), ()),
    "atleast_2d": (lambda x: np.atleast_2d(x), (3,)),
    "atleast_3d": (lambda x: np.atleast_3d(x), (2, 3)),
}


@pytest.mark.parametrize("name", SEQUENCE_CALLS)
def test_numpy_calls_on_sequences_of_tensors_are_differentiable(name):
    fn, *shapes = SEQUENCE_CALLS[name]
    _check_against_numpy(fn, *shapes)


def test_stacked_list_gets_gradients_to_every_element():
    x = _leaf(3)
    y = _leaf(3, seed=1)
    np.stack([x, x + 2, y]).sum().backward()
    np.testing.assert_array_equal(x.grad, np.full(3, 2.0))
    np.testing.assert_array_equal(y.grad, np.ones(3))


@pytest.mark.parametrize(
    "call",
    [
        lambda x: np.block([x, x]),
        lambda x: np.stack([x, x], out=np.empty((2, 3))),
        lambda x: np.concatenate([x, x], dtype=np.float32),
        lambda x: np.hstack([x, x], casting="unsafe"),
        lambda x: np.dot(x, x, out=np.empty(())),
    ],
    ids=["block", "stack-out", "concatenate-dtype", "hstack-casting", "dot-out"],
)
def test_sequence_calls_that_cannot_be_honoured_raise(call):
    with pytest.raises(TypeError, match=r"np\.asarray"):
        call(_leaf(3))


# -- calls that convert a list themselves (np.mean([x, y]) ...) --------------------------------
def test_tensor_array_runs_the_conversion_check():
    x = _leaf(3)
    with pytest.raises(TypeError, match=r"mg\.stack"):
        np.mean([x, x + 2])


HIDDEN_IN_A_LIST = {
    "mean": (lambda x, y: np.mean([x, x + 2]), "mg.stack([x, y]).mean()"),
    "sum": (lambda x, y: np.sum([x, y]), "mg.stack([x, y]).sum()"),
    "sum-tuple-axis": (lambda x, y: np.sum((x, y), axis=0), "mg.stack([x, y]).sum()"),
    "max": (lambda x, y: np.max([x, y]), "mg.stack([x, y]).max()"),
    "min": (lambda x, y: np.min([y, x]), "mg.stack([x, y]).min()"),
    "var": (lambda x, y: np.var([x, y]), "mg.stack([x, y]).var()"),
    "median": (lambda x, y: np.median([x, y]), "mg.stack([x, y]).mean()"),
    "average": (lambda x, y: np.average([x, y]), "mg.stack([x, y]).mean()"),
    "prod": (lambda x, y: np.prod([x, y]), "mg.stack([x, y]).prod()"),
    "nested-lists": (lambda x, y: np.mean([[x], [y]]), "mg.stack([x, y]).mean()"),
    "one-requires-grad": (lambda x, y: np.sum([x.detach(), y]), "mg.stack([x, y]).sum()"),
}


@pytest.mark.parametrize("name", HIDDEN_IN_A_LIST)
def test_numpy_math_on_a_list_of_tensors_raises_and_says_what_to_do(name):
    fn, suggestion = HIDDEN_IN_A_LIST[name]
    with pytest.raises(TypeError) as info:
        fn(_leaf(3), _leaf(3, seed=1))
    message = str(info.value)
    assert f"np.{name.split('-')[0]}" in message or name in ("nested-lists", "one-requires-grad")
    assert suggestion in message and "np.asarray" in message and "list or tuple" in message


def test_the_recommended_alternative_is_differentiable():
    x = _leaf(3)
    mg.stack([x, x + 2]).mean().backward()
    np.testing.assert_allclose(x.grad, np.full(3, 2 / 6))


def test_explicit_conversions_still_work():
    x, y = _leaf((2, 3)), _leaf((2, 3), seed=1)
    assert np.shares_memory(np.asarray(x), x.data)  # DESIGN.md: np.asarray(t) works
    np.testing.assert_array_equal(np.array(x), x.data)
    np.testing.assert_array_equal(np.asarray(x, dtype=np.float32), x.data.astype(np.float32))
    # np.array / np.asarray of a list from user code: the same __array__ call as np.asarray(x)
    # (NumPy gives no way to tell them apart), and the result is visibly an ndarray.
    both = np.asarray([x, y])
    assert type(both) is np.ndarray
    np.testing.assert_array_equal(both, np.stack([x.data, y.data]))
    np.testing.assert_allclose(x, x.data)  # np.testing only compares values
    assert type(np.ma.asarray(x)) is np.ma.MaskedArray  # the tensor itself was passed


def test_list_math_is_allowed_where_no_gradient_is_at_stake():
    x, y = _leaf(3), _leaf(3, seed=1)
    expected = np.mean([x.data, y.data])
    with mg.no_grad():
        assert np.mean([x, y]) == expected
    assert np.mean([x.detach(), y.detach()]) == expected
    assert np.mean([mg.tensor(x.data), mg.tensor(y.data)]) == expected


# -- np.dot --------------------------------------------------------------------------------------
DOT_SHAPES = [
    ((), ()),
    ((), (2, 3)),
    ((3,), ()),
    ((3,), (3,)),
    ((2, 3), (3, 4)),
    ((2, 3), (3,)),
    ((3,), (3, 2)),
    ((2, 3, 4), (4,)),
    ((2, 3, 4), (4, 5)),
    ((3,), (2, 3, 4)),
    ((2, 3, 4), (5, 4, 6)),
    ((2, 3), (5, 3, 6)),
    ((2, 1, 3, 4), (2, 4, 2)),
]


@pytest.mark.parametrize(("a_shape", "b_shape"), DOT_SHAPES, ids=[f"{a}.{b}" for a, b in DOT_SHAPES])
def test_np_dot_follows_numpy_semantics_and_is_differentiable(a_shape, b_shape):
    _check_against_numpy(np.dot, a_shape, b_shape)
    _check_against_numpy(ops.dot, a_shape, b_shape)


@pytest.mark.parametrize("tensor_side", ["left", "right"])
def test_np_dot_with_an_ndarray_operand(tensor_side):
    a = np.random.default_rng(3).standard_normal((2, 3, 4))
    b = np.random.default_rng(4).standard_normal((5, 4, 6))
    if tensor_side == "left":
        fn, t, expected = (lambda x: np.dot(x, b)), _leaf(a.shape), None
    else:
        fn, t, expected = (lambda x: np.dot(a, x)), _leaf(b.shape), None
    out = fn(t)
    expected = fn(t.data)
    assert isinstance(out, mg.Tensor) and out.requires_grad
    np.testing.assert_allclose(out.data, expected, rtol=1e-12)
    assert mg.gradcheck(fn, [t])


@pytest.mark.parametrize(("a_shape", "b_shape"), [((3,), (4,)), ((2, 3), (4, 2)), ((2, 3, 4), (5, 3, 6))])
def test_np_dot_with_misaligned_shapes_raises_like_numpy(a_shape, b_shape):
    with pytest.raises(ValueError, match="not aligned"):
        np.dot(np.ones(a_shape), np.ones(b_shape))
    with pytest.raises(ValueError, match="not aligned"):
        np.dot(_leaf(a_shape), _leaf(b_shape))


def test_np_dot_matches_torch_tensordot(torch):
    a, b = _leaf((2, 3, 4)), _leaf((5, 4, 6), seed=1)
    np.dot(a, b).sum().backward()
    ta = torch.tensor(a.data, requires_grad=True)
    tb = torch.tensor(b.data, requires_grad=True)
    torch.tensordot(ta, tb, dims=([2], [1])).sum().backward()
    np.testing.assert_allclose(a.grad, ta.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(b.grad, tb.grad.numpy(), rtol=1e-12)


# -- mg.stack's checks -----------------------------------------------------------------------------
@pytest.mark.parametrize("axis", [-3, -1, 0, 2])
def test_stack_accepts_every_axis_numpy_accepts(axis):
    x, y = _leaf((2, 3)), _leaf((2, 3), seed=1)
    np.testing.assert_array_equal(mg.stack([x, y], axis=axis).data, np.stack([x.data, y.data], axis=axis))


@pytest.mark.parametrize("axis", [3, -4, 10])
def test_stack_out_of_range_axis_raises_axis_error(axis):
    x = _leaf((2, 3))
    with pytest.raises(np.exceptions.AxisError):
        np.stack([x.data, x.data], axis=axis)
    with pytest.raises(np.exceptions.AxisError):
        mg.stack([x, x], axis=axis)
    with pytest.raises(np.exceptions.AxisError):
        np.stack([x, x], axis=axis)


def test_stack_of_nothing_raises_value_error():
    with pytest.raises(ValueError, match="at least one"):
        mg.stack([])


def test_stack_of_different_shapes_names_them():
    with pytest.raises(ValueError, match=r"same shape.*\(2, 3\).*\(3, 2\)"):
        mg.stack([_leaf((2, 3)), _leaf((2, 3)), _leaf((3, 2))])
    with pytest.raises(ValueError, match=r"\(3,\).*\(\)"):
        np.stack([_leaf(3), np.float64(1.0)])
