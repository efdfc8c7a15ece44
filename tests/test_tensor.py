"""The Tensor API as a PyTorch / NumPy user expects it: construction and dtypes,
attributes and methods, constructors, operators on either side, indexing, NumPy
interoperability, repr, stability of the softmax family, and DESIGN.md's public names.

Expected values come from NumPy on the same arrays; gradients from central finite
differences of the NumPy version of the same function (conftest.numeric_grad)."""

from __future__ import annotations

import functools
import math
import operator
import warnings

import numpy as np
import pytest
from conftest import numeric_grad

import microgradnp as mg


def assert_grads_match(mg_fn, np_fn, *values, atol=1e-6):
    """Backward of sum(w * mg_fn(*leaves)) with random w equals the finite-difference
    gradient of sum(w * np_fn(*arrays)) for every input (random w catches transposed
    or mis-summed gradients that a plain .sum() would hide)."""
    values = [np.asarray(v, dtype=np.float64) for v in values]
    leaves = [mg.tensor(v, requires_grad=True) for v in values]
    out = mg_fn(*leaves)
    assert isinstance(out, mg.Tensor)
    assert out.requires_grad and not out.is_leaf and out.grad_fn is not None
    weights = np.random.default_rng(1).standard_normal(out.shape)
    (out * weights).sum().backward()
    for i, leaf in enumerate(leaves):
        expected = numeric_grad(np_fn, values, i, weights=weights)
        assert leaf.grad is not None and leaf.grad.shape == leaf.shape
        np.testing.assert_allclose(leaf.grad, expected, rtol=1e-5, atol=atol)


@pytest.fixture
def x_values(rng):
    return rng.uniform(-2.0, 2.0, size=(2, 3))


@pytest.fixture
def positive_values(rng):
    # bases of ** and divisors: away from 0 so finite differences stay accurate
    return rng.uniform(0.5, 2.0, size=(2, 3))


# -- construction and dtypes ---------------------------------------------------------------
@pytest.mark.parametrize("make", [mg.tensor, mg.Tensor], ids=["mg.tensor", "mg.Tensor"])
@pytest.mark.parametrize(
    "data",
    [3, 2.5, True, [[1, 2], [3, 4]], [[1.5], [-2.0]], np.arange(6).reshape(2, 3), np.linspace(0, 1, 4)],
    ids=["int", "float", "bool", "int-lists", "float-lists", "int-array", "float-array"],
)
def test_construction_from_numbers_lists_and_arrays(make, data):
    t = make(data)
    expected = np.asarray(data, dtype=np.float64)
    assert isinstance(t, mg.Tensor) and isinstance(t.data, np.ndarray)
    assert t.shape == expected.shape
    np.testing.assert_array_equal(t.data, expected)
    assert not t.requires_grad and t.is_leaf and t.grad is None and t.name is None


def test_construction_from_a_tensor_copies_and_keeps_dtype():
    source = mg.tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    t = mg.Tensor(source)
    assert t.dtype == np.float32 and not t.requires_grad and t.is_leaf
    source.data[0] = 99.0
    assert t.data[0] == 1.0


@pytest.mark.parametrize(
    "source",
    [np.array([1.0, 2.0]), np.array([1.0, 2.0], dtype=np.float32), [1.0, 2.0], [[1.0, 2.0]]],
    ids=["float64-array", "float32-array", "list", "nested-list"],
)
def test_construction_copies_the_source(source):
    t = mg.tensor(source)
    before = t.data.copy()
    if isinstance(source, np.ndarray):
        source[0] = 42.0
    elif isinstance(source[0], list):
        source[0][0] = 42.0
    else:
        source[0] = 42.0
    np.testing.assert_array_equal(t.data, before)


def test_name_and_requires_grad_are_kept():
    t = mg.tensor([1.0], requires_grad=True, name="weight")
    assert t.name == "weight" and t.requires_grad


# Each case: data, and the dtype it must have (None: the default float dtype).
DTYPE_CASES = [
    (np.array([1.0], dtype=np.float32), np.float32),
    (np.array([1.0], dtype=np.float64), np.float64),
    (np.float32(1.5), np.float32),
    (np.float64(1.5), np.float64),
    (1.5, None),
    (3, None),
    (True, None),
    ([1.0, 2.0], None),
    ([1, 2], None),
    (np.array([1, 2], dtype=np.int32), None),
    (np.array([1, 2], dtype=np.int64), None),
    (np.array([True, False]), None),
    (np.uint8(7), None),
]
DTYPE_IDS = ["f32-array", "f64-array", "f32-scalar", "f64-scalar", "float", "int", "bool", "float-list",
             "int-list", "i32-array", "i64-array", "bool-array", "u8-scalar"]


@pytest.mark.parametrize("default", [np.float64, np.float32])
@pytest.mark.parametrize(("data", "expected"), DTYPE_CASES, ids=DTYPE_IDS)
def test_dtype_rules(default, data, expected):
    mg.set_default_dtype(default)
    t = mg.tensor(data)
    assert t.dtype == np.dtype(expected or default)
    np.testing.assert_array_equal(t.data, np.asarray(data, dtype=np.float64))


def test_default_dtype_starts_as_float64_and_can_change():
    assert mg.get_default_dtype() == np.float64
    mg.set_default_dtype(np.float32)
    assert mg.get_default_dtype() == np.float32
    assert mg.tensor(1.0).dtype == np.float32
    assert mg.zeros(2).dtype == np.float32


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.bool_, np.complex128])
def test_set_default_dtype_refuses_non_float(dtype):
    with pytest.raises(TypeError, match="float"):
        mg.set_default_dtype(dtype)
    assert mg.get_default_dtype() == np.float64


@pytest.mark.parametrize(
    ("data", "dtype", "expected"),
    [
        (np.array([1.0], dtype=np.float32), np.float64, np.float64),
        (np.array([1.0], dtype=np.float64), np.float32, np.float32),
        (1.5, np.float32, np.float32),
        ([1, 2], np.int64, np.int64),
        ([1.0, 2.0], "float16", np.float16),
    ],
)
def test_explicit_dtype_wins(data, dtype, expected):
    t = mg.tensor(data, dtype=dtype)
    assert t.dtype == expected
    np.testing.assert_array_equal(t.data, np.asarray(data, dtype=expected))


@pytest.mark.parametrize(
    "make",
    [
        lambda: mg.tensor([1, 2], dtype=np.int64, requires_grad=True),
        lambda: mg.Tensor(np.array([1, 2]), dtype=np.int32, requires_grad=True),
        lambda: mg.tensor([1, 2], dtype=np.int64).requires_grad_(),
        lambda: mg.zeros(2, dtype=np.int32, requires_grad=True),
        lambda: mg.arange(3, dtype=np.int64, requires_grad=True),
    ],
    ids=["tensor", "Tensor", "requires_grad_", "zeros", "arange"],
)
def test_integer_tensors_cannot_require_grad(make):
    # The message must say what to do, not only what went wrong.
    with pytest.raises(TypeError, match=r"float.*(dtype=|convert)"):
        make()


@pytest.mark.parametrize(
    ("data", "dtype"),
    [
        ("abc", None),
        (["a", "b"], None),
        (np.array([1.0, None], dtype=object), None),
        ([1 + 2j], None),
        (np.array([1.0], dtype=np.complex64), None),
        ([1.0], np.complex128),
        ([1.0], object),
        ([1.0], str),
    ],
    ids=["str", "str-list", "object-array", "complex-list", "complex-array", "dtype=complex", "dtype=object",
         "dtype=str"],
)
def test_non_real_data_is_refused(data, dtype):
    with pytest.raises(TypeError, match="real"):
        mg.tensor(data, dtype=dtype)


# -- attributes ---------------------------------------------------------------------------
def test_attributes_of_a_leaf(x_values):
    x = mg.tensor(x_values, requires_grad=True, name="x")
    assert x.data is not x_values and isinstance(x.data, np.ndarray)
    assert (x.shape, x.ndim, x.size, x.dtype) == (x_values.shape, x_values.ndim, x_values.size, x_values.dtype)
    np.testing.assert_array_equal(x.T.data, x_values.T)
    assert x.T.requires_grad  # the transpose is an operation on the graph
    assert x.name == "x" and x.requires_grad and x.is_leaf
    assert x.op is None and x.grad_fn is None and x.grad is None


def test_T_reverses_all_axes_differentiably(rng):
    values = rng.standard_normal((2, 3, 4))
    assert mg.tensor(values).T.shape == (4, 3, 2)
    assert_grads_match(lambda t: t.T, lambda a: a.T, values)


@pytest.mark.parametrize(
    ("build", "op"),
    [
        (lambda x, y: x + y, "add"),
        (lambda x, y: x - y, "sub"),
        (lambda x, y: x * y, "mul"),
        (lambda x, y: x / y, "div"),
        (lambda x, y: x**2, "pow"),
        (lambda x, y: -x, "neg"),
        (lambda x, y: abs(x), "abs"),
        (lambda x, y: x @ y.T, "matmul"),
        (lambda x, y: x.sigmoid(), "sigmoid"),
        (lambda x, y: x.exp(), "exp"),
        (lambda x, y: x.sum(), "sum"),
        (lambda x, y: x.reshape(3, 2), "reshape"),
        (lambda x, y: x.T, "transpose"),
        (lambda x, y: x[0], "getitem"),
        (lambda x, y: x.leaky_relu(), "leaky_relu"),
        (lambda x, y: x.log_softmax(), "log_softmax"),
        (lambda x, y: x.logsumexp(), "logsumexp"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_results_name_the_primitive_that_made_them(x_values, build, op):
    x = mg.tensor(x_values, requires_grad=True)
    y = mg.tensor(x_values + 3.0)
    out = build(x, y)
    assert out.op == op
    assert not out.is_leaf and out.requires_grad
    with pytest.warns(UserWarning, match="not a leaf"):  # as PyTorch: read before retain_grad()
        assert out.grad is None
    assert out.grad_fn is not None and out.grad_fn.name == op


def test_results_of_tensors_without_grad_are_leaves_without_graph(x_values):
    out = (mg.tensor(x_values) * 2.0).exp()
    assert out.is_leaf and out.op is None and out.grad_fn is None and not out.requires_grad


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_grad_has_the_shape_and_dtype_of_the_data(dtype, x_values):
    x = mg.tensor(x_values.astype(dtype), requires_grad=True)
    b = mg.tensor(np.ones(3, dtype=dtype), requires_grad=True)
    ((x + b) * 2.0).sum().backward()
    for leaf in (x, b):
        assert isinstance(leaf.grad, np.ndarray)
        assert leaf.grad.shape == leaf.shape and leaf.grad.dtype == dtype
    np.testing.assert_array_equal(b.grad, np.full(3, 4.0))


@pytest.mark.parametrize("twice", ["one-backward", "two-backwards"])
def test_float32_grad_stays_float32_when_mixed_with_float64_constants(twice):
    # float64 constants promote the forward to float64 (as in NumPy), but x.grad must
    # keep x's dtype however many gradients accumulate into it.
    x = mg.tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    a, b = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    if twice == "one-backward":
        (x * a + x * b).sum().backward()
    else:
        (x * a).sum().backward()
        (x * b).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad, a + b)


# -- methods ------------------------------------------------------------------------------
def test_backward_with_grad_and_retain_graph(x_values):
    x = mg.tensor(x_values, requires_grad=True)
    y = x * x
    seed = np.arange(6.0).reshape(2, 3)
    y.backward(seed, retain_graph=True)
    np.testing.assert_allclose(x.grad, 2 * x_values * seed)
    y.backward(mg.tensor(seed))
    np.testing.assert_allclose(x.grad, 4 * x_values * seed)
    with pytest.raises(RuntimeError, match="shape"):
        (x * x).backward()


def test_detach_shares_data_and_leaves_the_graph(x_values):
    x = mg.tensor(x_values, requires_grad=True)
    y = x * 2.0
    d = y.detach()
    assert np.shares_memory(d.data, y.data)
    assert d.is_leaf and not d.requires_grad and d.op is None and d.grad_fn is None
    (d * x).sum().backward()
    np.testing.assert_allclose(x.grad, 2.0 * x_values)  # d counts as a constant


def test_numpy_returns_the_data(x_values):
    x = mg.tensor(x_values, requires_grad=True)
    assert isinstance(x.numpy(), np.ndarray)
    assert np.shares_memory(x.numpy(), x.data)
    np.testing.assert_array_equal(x.numpy(), x_values)


@pytest.mark.parametrize("data", [2.5, [2.5], [[2.5]]])
def test_item_of_one_element(data):
    value = mg.tensor(data).item()
    assert type(value) is float and value == 2.5


def test_item_of_several_elements_says_what_to_do():
    with pytest.raises(ValueError, match=r"3 elements"):
        mg.tensor([1.0, 2.0, 3.0]).item()


def test_tolist(x_values):
    assert mg.tensor(x_values).tolist() == x_values.tolist()
    assert mg.tensor(1.5).tolist() == 1.5


def test_requires_grad_(x_values):
    x = mg.tensor(x_values)
    assert x.requires_grad_() is x and x.requires_grad
    assert x.requires_grad_(False) is x and not x.requires_grad
    y = x.requires_grad_() * 2.0
    with pytest.raises(RuntimeError, match="detach"):
        y.requires_grad_(False)


@pytest.mark.parametrize("value", [False, True])
def test_setting_requires_grad_on_a_computed_tensor_raises_as_pytorch(x_values, value):
    # (y.requires_grad = False would silently cut y's graph off from everything computed from it)
    x = mg.tensor(x_values, requires_grad=True)
    y = x * 2.0
    with pytest.raises(RuntimeError, match="only change requires_grad flags of leaf"):
        y.requires_grad = value
    assert y.requires_grad and not y.is_leaf
    (y * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad, np.full_like(x_values, 6.0))


def test_setting_requires_grad_on_a_leaf_checks_the_value_and_the_dtype(x_values):
    x = mg.tensor(x_values)
    x.requires_grad = True
    assert x.requires_grad and x.is_leaf
    (x * 2.0).sum().backward()
    np.testing.assert_array_equal(x.grad, np.full_like(x_values, 2.0))
    x.requires_grad = False
    assert not x.requires_grad
    with pytest.raises(RuntimeError, match="must be a bool"):
        x.requires_grad = 1
    with pytest.raises(TypeError, match="only floating-point"):
        mg.tensor([1, 2], dtype=np.int64).requires_grad = True
    with mg.no_grad():
        y = mg.tensor(x_values, requires_grad=True) * 2.0
    y.requires_grad = True  # computed without recording: a leaf, as in PyTorch
    assert y.requires_grad and y.is_leaf


def test_register_hook_sees_and_can_replace_the_gradient(x_values):
    x = mg.tensor(x_values, requires_grad=True)
    seen = []
    handle = x.register_hook(lambda g: seen.append(np.array(g)))
    doubling = x.register_hook(lambda g: 2 * g)
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(seen[0], np.full_like(x_values, 3.0))
    np.testing.assert_allclose(x.grad, np.full_like(x_values, 6.0))
    handle.remove()
    doubling.remove()
    x.zero_grad()
    (x * 3.0).sum().backward()
    assert len(seen) == 1
    np.testing.assert_allclose(x.grad, np.full_like(x_values, 3.0))


def test_register_hook_on_intermediate(x_values):
    x = mg.tensor(x_values, requires_grad=True)
    y = x * 2.0
    y.register_hook(lambda g: g * 0.0)
    (y * y).sum().backward()
    np.testing.assert_array_equal(x.grad, np.zeros_like(x_values))


def test_register_hook_needs_requires_grad():
    with pytest.raises(RuntimeError, match="require"):
        mg.tensor([1.0]).register_hook(lambda g: g)


def test_zero_grad_forgets_the_accumulated_gradient(x_values):
    x = mg.tensor(x_values, requires_grad=True)
    (x * 2.0).sum().backward()
    (x * 2.0).sum().backward()
    np.testing.assert_allclose(x.grad, np.full_like(x_values, 4.0))  # accumulates
    x.zero_grad()
    assert x.grad is None
    (x * 2.0).sum().backward()
    np.testing.assert_allclose(x.grad, np.full_like(x_values, 2.0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_retain_grad_keeps_an_intermediate_gradient(dtype, x_values):
    x = mg.tensor(x_values.astype(dtype), requires_grad=True)
    kept, dropped = x * 2.0, x * 3.0
    assert kept.retain_grad() is kept
    weights = np.random.default_rng(2).standard_normal(x_values.shape)  # float64 on purpose
    (kept * dropped * weights).sum().backward()
    np.testing.assert_allclose(kept.grad, (3.0 * x_values * weights).astype(dtype), rtol=1e-6)
    assert kept.grad.dtype == dtype
    with pytest.warns(UserWarning, match="not a leaf"):
        assert dropped.grad is None


def test_len_and_iter(x_values):
    x = mg.tensor(x_values, requires_grad=True)
    assert len(x) == 2
    rows = list(x)
    assert len(rows) == 2 and all(isinstance(r, mg.Tensor) for r in rows)
    for row, expected in zip(rows, x_values):
        np.testing.assert_array_equal(row.data, expected)
    # rows stay on the graph: weight row k by k + 1
    sum((k + 1) * r.sum() for k, r in enumerate(rows)).backward()
    np.testing.assert_array_equal(x.grad, np.array([[1.0] * 3, [2.0] * 3]))


def test_reversed_flips_the_first_axis_on_the_graph_as_pytorch(x_values):
    x = mg.tensor(x_values, requires_grad=True)
    flipped = reversed(x)
    assert isinstance(flipped, mg.Tensor)
    np.testing.assert_array_equal(flipped.data, x_values[::-1])
    (flipped * mg.tensor([[1.0], [2.0]])).sum().backward()  # row k of the result weighted k + 1
    np.testing.assert_array_equal(x.grad, np.array([[2.0] * 3, [1.0] * 3]))
    scalar = mg.tensor(3.0)
    assert reversed(scalar) is scalar


@pytest.mark.parametrize(("value", "expected"), [(0.0, False), (-0.5, True), ([[3.0]], True)])
def test_bool(value, expected):
    assert bool(mg.tensor(value)) is expected


def test_bool_of_several_elements_is_ambiguous():
    with pytest.raises(ValueError, match="ambiguous"):
        bool(mg.tensor([1.0, 2.0]))


@pytest.mark.parametrize("value", [3.7, -2.2, [[5.0]]])
def test_float_and_int(value):
    number = float(np.asarray(value).item())
    assert float(mg.tensor(value)) == number
    assert int(mg.tensor(value)) == int(number)


def test_index_of_an_integer_tensor():
    i = mg.tensor(2, dtype=np.int64)
    assert operator.index(i) == 2
    assert [10, 20, 30][i] == 30
    with pytest.raises(TypeError):
        operator.index(mg.tensor(2.0))  # floats are not indices, as in Python and PyTorch


# -- constructors -------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "fill"), [("zeros", 0.0), ("ones", 1.0)])
@pytest.mark.parametrize("shape_args", [(2, 3), ((2, 3),), ([2, 3],), (4,)], ids=["2,3", "(2,3)", "[2,3]", "4"])
def test_zeros_ones(name, fill, shape_args):
    shape = tuple(shape_args[0]) if isinstance(shape_args[0], tuple | list) else shape_args
    t = getattr(mg, name)(*shape_args)
    assert t.dtype == np.float64 and t.is_leaf and not t.requires_grad
    np.testing.assert_array_equal(t.data, np.full(shape, fill))


@pytest.mark.parametrize(
    "make",
    [
        lambda **kw: mg.zeros(2, 3, **kw),
        lambda **kw: mg.ones((2, 3), **kw),
        lambda **kw: mg.full((2, 3), 1.5, **kw),
        lambda **kw: mg.zeros_like(np.zeros((2, 3), dtype=np.int64), **kw),
        lambda **kw: mg.ones_like(mg.zeros(2, 3), **kw),
        lambda **kw: mg.randn(2, 3, rng=0, **kw),
        lambda **kw: mg.rand((2, 3), rng=0, **kw),
        lambda **kw: mg.arange(6, **kw),
    ],
    ids=["zeros", "ones", "full", "zeros_like", "ones_like", "randn", "rand", "arange"],
)
@pytest.mark.parametrize("dtype", [None, np.float32, np.dtype("float64"), "float32"])
@pytest.mark.parametrize("requires_grad", [False, True])
def test_constructors_take_dtype_and_requires_grad(make, dtype, requires_grad):
    t = make(dtype=dtype, requires_grad=requires_grad)
    assert t.dtype == np.dtype(dtype or np.float64)
    assert t.requires_grad is requires_grad and t.is_leaf and t.grad is None


@pytest.mark.parametrize(
    "make",
    [lambda: mg.zeros(2), lambda: mg.ones(2), lambda: mg.full(2, 3.0), lambda: mg.zeros_like([1, 2]),
     lambda: mg.randn(2), lambda: mg.rand(2), lambda: mg.arange(3), lambda: mg.arange(0, 1, 0.25)],
    ids=["zeros", "ones", "full", "zeros_like-int-list", "randn", "rand", "arange", "arange-float"],
)
def test_constructors_follow_the_default_dtype(make):
    mg.set_default_dtype(np.float32)
    assert make().dtype == np.float32


@pytest.mark.parametrize(("shape", "expected"), [((2, 3), (2, 3)), (4, (4,)), ((), ())])
def test_full(shape, expected):
    t = mg.full(shape, -1.5)
    np.testing.assert_array_equal(t.data, np.full(expected, -1.5))


@pytest.mark.parametrize("name", ["zeros_like", "ones_like"])
def test_like_constructors(name):
    reference = getattr(np, name)
    f32 = np.ones((2, 3), dtype=np.float32)
    like_tensor = getattr(mg, name)(mg.tensor(f32, requires_grad=True))
    assert like_tensor.dtype == np.float32 and not like_tensor.requires_grad
    np.testing.assert_array_equal(like_tensor.data, reference(f32))
    assert getattr(mg, name)(np.arange(4)).dtype == np.float64
    source = mg.tensor([1.0, 2.0])
    assert not np.shares_memory(getattr(mg, name)(source).data, source.data)


@pytest.mark.parametrize(("name", "draw"), [("randn", "standard_normal"), ("rand", "random")])
def test_random_constructors_are_reproducible(name, draw):
    make = getattr(mg, name)
    a = make(2, 3, rng=7)
    assert a.shape == (2, 3)
    np.testing.assert_array_equal(a.data, make((2, 3), rng=7).data)
    np.testing.assert_array_equal(a.data, make(2, 3, rng=np.random.default_rng(7)).data)
    np.testing.assert_array_equal(a.data, getattr(np.random.default_rng(7), draw)((2, 3)))
    assert not np.array_equal(a.data, make(2, 3, rng=8).data)
    # one Generator is consumed, so successive draws differ
    generator = np.random.default_rng(7)
    assert not np.array_equal(make(2, 3, rng=generator).data, make(2, 3, rng=generator).data)


def test_random_constructors_distribution():
    normal = mg.randn(20_000, rng=3).data
    uniform = mg.rand(20_000, rng=3).data
    assert abs(normal.mean()) < 0.05 and abs(normal.std() - 1) < 0.05
    assert uniform.min() >= 0.0 and uniform.max() < 1.0 and abs(uniform.mean() - 0.5) < 0.02


@pytest.mark.parametrize("name", ["randn", "rand"])
@pytest.mark.parametrize("rng", ["seed", 1.5, np.random.RandomState(0)], ids=["str", "float", "RandomState"])
def test_random_constructors_refuse_a_bad_rng(name, rng):
    with pytest.raises(TypeError, match="Generator"):
        getattr(mg, name)(2, rng=rng)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((5,), {}), ((1, 5), {}), ((1, 8, 3), {}), ((0, 1, 0.25), {}), ((5,), {"step": 2}), ((-3, 3), {"step": 1.5}),
     ((10, 0, -3), {})],
)
def test_arange_matches_numpy(args, kwargs):
    t = mg.arange(*args, **kwargs)
    assert t.dtype == np.float64
    np.testing.assert_allclose(t.data, np.arange(*args, **kwargs))


def test_arange_with_an_integer_dtype_stays_integer():
    t = mg.arange(4, dtype=np.int64)
    assert t.dtype == np.int64
    np.testing.assert_array_equal(t.data, np.arange(4))


# -- operators ----------------------------------------------------------------------------
ARITHMETIC = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "**": operator.pow}

# The non-Tensor operand: how to make it from an ndarray of shape (3,) or (2, 3).
OTHER_KINDS = {
    "int": lambda v: 2,
    "float": lambda v: 1.5,
    "np.float64": lambda v: np.float64(1.25),
    "list": lambda v: v[0].tolist(),
    "ndarray-row": lambda v: v[0],
    "ndarray": lambda v: v,
    "tensor": mg.tensor,
}


@pytest.mark.parametrize("symbol", ARITHMETIC)
@pytest.mark.parametrize("kind", OTHER_KINDS)
@pytest.mark.parametrize("side", ["tensor-left", "tensor-right"])
def test_arithmetic_with_any_operand_on_either_side(symbol, kind, side, positive_values, rng):
    op = ARITHMETIC[symbol]
    other = OTHER_KINDS[kind](rng.uniform(0.5, 2.0, size=(2, 3)))
    other_array = np.asarray(other.data if isinstance(other, mg.Tensor) else other, dtype=np.float64)
    snapshot = other_array.copy()
    if side == "tensor-left":
        mg_fn, np_fn = (lambda t: op(t, other)), (lambda a: op(a, other_array))
    else:
        mg_fn, np_fn = (lambda t: op(other, t)), (lambda a: op(other_array, a))
    out = mg_fn(mg.tensor(positive_values))
    assert isinstance(out, mg.Tensor)
    np.testing.assert_allclose(out.data, np_fn(positive_values), rtol=1e-12)
    # The gradient goes to the Tensor side only; the other operand is untouched.
    assert_grads_match(mg_fn, np_fn, positive_values)
    if isinstance(other, mg.Tensor):
        assert other.grad is None and not other.requires_grad
    np.testing.assert_array_equal(np.asarray(other_array), snapshot)


@pytest.mark.parametrize("symbol", ARITHMETIC)
def test_arithmetic_between_two_tensors_that_require_grad(symbol, positive_values, rng):
    op = ARITHMETIC[symbol]
    # A (3,) operand broadcasts against (2, 3): its gradient is summed over the rows.
    assert_grads_match(op, op, positive_values, rng.uniform(0.5, 2.0, size=3))
    assert_grads_match(op, op, rng.uniform(0.5, 2.0, size=3), positive_values)


@pytest.mark.parametrize("symbol", ["+", "*", "-", "/", "**"])
def test_ndarray_on_the_left_goes_through_array_ufunc_and_keeps_the_graph(symbol, positive_values):
    array = np.linspace(0.5, 1.5, 6).reshape(2, 3)
    x = mg.tensor(positive_values, requires_grad=True)
    out = ARITHMETIC[symbol](array, x)
    # NumPy must not have turned x into an array (that would silently drop the graph).
    assert isinstance(out, mg.Tensor) and out.requires_grad and out.grad_fn is not None


def test_float32_with_a_python_scalar_stays_float32(positive_values):
    x = mg.tensor(positive_values.astype(np.float32))
    for symbol, op in ARITHMETIC.items():
        for out in (op(x, 2.0), op(2.0, x)):
            assert out.dtype == np.float32, symbol


@pytest.mark.parametrize(
    ("other_shape", "side"),
    [((3, 4), "tensor-left"), ((3,), "tensor-left"), ((4, 2), "tensor-right"), ((2,), "tensor-right")],
)
@pytest.mark.parametrize("kind", ["list", "ndarray", "tensor"])
def test_matmul_with_any_operand_on_either_side(other_shape, side, kind, x_values, rng):
    other_array = rng.standard_normal(other_shape)
    other = {"list": other_array.tolist(), "ndarray": other_array, "tensor": mg.tensor(other_array)}[kind]
    if side == "tensor-left":
        mg_fn, np_fn = (lambda t: t @ other), (lambda a: a @ other_array)
    else:
        mg_fn, np_fn = (lambda t: other @ t), (lambda a: other_array @ a)
    out = mg_fn(mg.tensor(x_values))
    assert isinstance(out, mg.Tensor)
    np.testing.assert_allclose(out.data, np_fn(x_values), rtol=1e-12)
    assert_grads_match(mg_fn, np_fn, x_values)


@pytest.mark.parametrize(
    ("a_shape", "b_shape"), [((2, 3), (3, 4)), ((3,), (3, 4)), ((2, 3), (3,)), ((3,), (3,)), ((5, 2, 3), (3, 4)),
                             ((5, 2, 3), (5, 3, 4)), ((1, 2, 3), (5, 3, 4)),
                             ((4, 3), (3, 1)), ((4, 1), (1, 1)), ((0, 3), (3, 1))],  # (one output column)
)
def test_matmul_between_tensors_follows_numpy_rules(a_shape, b_shape, rng):
    assert_grads_match(operator.matmul, operator.matmul, rng.standard_normal(a_shape), rng.standard_normal(b_shape))


def test_matmul_with_one_output_column_gives_blas_numbers_and_second_derivatives(rng):
    # grad @ b.T is then an outer product, computed by multiplying (one rounded product per
    # element, as BLAS): the same gradient, and a graph under create_graph=True.
    a, b = rng.standard_normal((6, 5)), rng.standard_normal((5, 1))
    seed = rng.standard_normal((6, 1))
    ta, tb = mg.tensor(a, requires_grad=True), mg.tensor(b, requires_grad=True)
    (ga,) = mg.autograd.grad(ta @ tb, [ta], grad_outputs=mg.tensor(seed), create_graph=True)
    np.testing.assert_array_equal(ga.data, seed @ b.T)
    (gb,) = mg.autograd.grad((ga * ga).sum(), [tb])  # d/db sum((seed b^T)^2) = 2 (seed . seed) b
    np.testing.assert_allclose(gb.data, 2 * (seed.T @ seed) * b, rtol=1e-12)


@pytest.mark.parametrize(
    ("mg_fn", "np_fn"),
    [(operator.neg, np.negative), (operator.pos, np.positive), (abs, np.abs)],
    ids=["neg", "pos", "abs"],
)
def test_unary_operators(mg_fn, np_fn, x_values):
    out = mg_fn(mg.tensor(x_values))
    np.testing.assert_array_equal(out.data, np_fn(x_values))
    x = mg.tensor(x_values, requires_grad=True)
    out = mg_fn(x)
    (out * x_values).sum().backward()
    np.testing.assert_allclose(x.grad, numeric_grad(np_fn, [x_values], 0, weights=x_values), rtol=1e-6)


COMPARISONS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq,
               "!=": operator.ne}


@pytest.mark.parametrize("symbol", COMPARISONS)
@pytest.mark.parametrize("kind", ["float", "np.float64", "list", "ndarray", "tensor", "grad-tensor"])
@pytest.mark.parametrize("side", ["tensor-left", "tensor-right"])
def test_comparisons_give_bool_tensors_outside_the_graph(symbol, kind, side):
    op = COMPARISONS[symbol]
    values = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    row = np.array([2.0, 2.0, 2.0])
    other = {"float": 2.0, "np.float64": np.float64(2.0), "list": row.tolist(), "ndarray": row,
             "tensor": mg.tensor(row), "grad-tensor": mg.tensor(row, requires_grad=True)}[kind]
    x = mg.tensor(values, requires_grad=True)
    out = op(x, other) if side == "tensor-left" else op(other, x)
    expected = op(values, row) if side == "tensor-left" else op(row, values)
    assert isinstance(out, mg.Tensor)
    assert out.dtype == np.bool_
    np.testing.assert_array_equal(out.data, expected)
    assert not out.requires_grad and out.grad_fn is None and out.is_leaf


def test_tensors_stay_hashable_despite_elementwise_eq():
    a, b = mg.tensor([1.0, 2.0]), mg.tensor([1.0, 2.0])
    assert hash(a) == hash(a)
    table = {a: "a", b: "b"}
    assert table[a] == "a" and table[b] == "b"
    assert len({a, b, a}) == 2 and a in {a}


# -- indexing -----------------------------------------------------------------------------
INDICES = {
    "int": 1,
    "negative-int": -1,
    "slice": (slice(None), slice(1, None)),
    "step-slice": (slice(None, None, -1), slice(None, None, 2)),
    "ellipsis": (Ellipsis, 0),
    "newaxis": (None, 0),
    "int-list-repeated": [0, 0, 1],
    "int-arrays-repeated": (np.array([0, 1, 1, 1]), np.array([2, 0, 0, 0])),
    "mixed": (slice(None), [2, 2, 0]),
    "bool-mask": np.array([[True, False, True], [False, False, True]]),
    "bool-row-mask": np.array([False, True]),
}


# Array-like indices can also be given as Tensors (an int or bool dtype, as in PyTorch).
INDEX_CASES = [(name, False) for name in INDICES] + [
    (name, True) for name, index in INDICES.items() if isinstance(index, np.ndarray | list)
]


@pytest.mark.parametrize(("name", "as_tensor"), INDEX_CASES,
                         ids=[name + ("-as-tensor" if as_tensor else "") for name, as_tensor in INDEX_CASES])
def test_indexing_matches_numpy_and_repeated_indices_accumulate(name, as_tensor, x_values):
    index = INDICES[name]
    mg_index = mg.tensor(np.asarray(index), dtype=np.asarray(index).dtype) if as_tensor else index
    out = mg.tensor(x_values)[mg_index]
    np.testing.assert_array_equal(out.data, x_values[index])
    assert_grads_match(lambda t: t[mg_index], lambda a: a[index], x_values)


def test_mask_from_a_comparison_indexes_differentiably(x_values):
    x = mg.tensor(x_values, requires_grad=True)
    x[x > 0].sum().backward()
    np.testing.assert_array_equal(x.grad, (x_values > 0).astype(np.float64))


def test_setitem_on_a_tensor_requiring_grad_is_refused(x_values):
    x = mg.tensor(x_values, requires_grad=True)
    with pytest.raises(RuntimeError, match="no_grad"):
        x[0, 0] = 5.0
    np.testing.assert_array_equal(x.data, x_values)


@pytest.mark.parametrize("value", [5.0, np.array([1.0, 2.0, 3.0]), mg.tensor([1.0, 2.0, 3.0])],
                         ids=["scalar", "ndarray", "tensor"])
def test_setitem_under_no_grad_or_without_grad(value, x_values):
    expected = x_values.copy()
    expected[1] = np.asarray(value)
    x = mg.tensor(x_values, requires_grad=True)
    with mg.no_grad():
        x[1] = value
    np.testing.assert_array_equal(x.data, expected)
    plain = mg.tensor(x_values)
    plain[1] = value
    np.testing.assert_array_equal(plain.data, expected)


# -- NumPy interoperability -----------------------------------------------------------------
def test_asarray_gives_the_data(x_values):
    x = mg.tensor(x_values, requires_grad=True)
    assert np.shares_memory(np.asarray(x), x.data)
    as_f32 = np.asarray(x, dtype=np.float32)
    assert as_f32.dtype == np.float32
    np.testing.assert_array_equal(as_f32, x_values.astype(np.float32))
    copy = np.array(x)
    assert not np.shares_memory(copy, x.data)
    np.testing.assert_array_equal(copy, x_values)


# Each case: a callable applied both to a Tensor and to an ndarray, and whether its input must be positive.
UFUNC_CASES = {
    "exp": (np.exp, False),
    "log": (np.log, True),
    "sqrt": (np.sqrt, True),
    "tanh": (np.tanh, False),
    "sin": (np.sin, False),
    "cos": (np.cos, False),
    "negative": (np.negative, False),
    "absolute": (np.absolute, False),
    "square": (np.square, False),
    "reciprocal": (np.reciprocal, True),
    "add-array": (lambda a: np.add(a, np.arange(3.0)), False),
    "add-array-first": (lambda a: np.add(np.arange(3.0), a), False),
    "subtract": (lambda a: np.subtract(1.0, a), False),
    "multiply": (lambda a: np.multiply(a, a), False),
    "divide": (lambda a: np.divide(np.arange(3.0), a), True),
    "power": (lambda a: np.power(a, 3), False),
    "power-exponent": (lambda a: np.power(2.0, a), False),
    "maximum": (lambda a: np.maximum(a, 0.1), False),
    "minimum": (lambda a: np.minimum(np.full(3, 0.2), a), False),
    "matmul": (lambda a: np.matmul(a, np.arange(12.0).reshape(3, 4)), False),
    "matmul-first": (lambda a: np.matmul(np.arange(4.0).reshape(2, 2), a), False),
}


@pytest.mark.parametrize("name", UFUNC_CASES)
def test_supported_ufuncs_are_differentiable(name, x_values, positive_values):
    fn, positive = UFUNC_CASES[name]
    values = positive_values if positive else x_values
    out = fn(mg.tensor(values))
    assert isinstance(out, mg.Tensor)
    np.testing.assert_allclose(out.data, fn(values), rtol=1e-12)
    assert_grads_match(fn, fn, values)


ARRAY_FUNCTION_CASES = {
    "sum": lambda a: np.sum(a),
    "sum-axis": lambda a: np.sum(a, axis=0),
    "sum-keepdims": lambda a: np.sum(a, axis=1, keepdims=True),
    "mean": lambda a: np.mean(a, axis=-1),
    "max": lambda a: np.max(a, axis=1),
    "min": lambda a: np.min(a),
    "var": lambda a: np.var(a, axis=0),
    "reshape": lambda a: np.reshape(a, (3, 2)),
    "reshape-flat": lambda a: np.reshape(a, -1),
    "transpose": lambda a: np.transpose(a),
    "transpose-axes": lambda a: np.transpose(a[None], (2, 0, 1)),
    "swapaxes": lambda a: np.swapaxes(a, 0, 1),
    "expand_dims": lambda a: np.expand_dims(a, 1),
    "squeeze": lambda a: np.squeeze(a[:, None]),
    "broadcast_to": lambda a: np.broadcast_to(a, (4, 2, 3)),
    "concatenate": lambda a: np.concatenate([a, np.ones((1, 3)), a * 2], axis=0),
    "concatenate-array-first": lambda a: np.concatenate([np.ones((2, 1)), a], axis=1),
    "stack": lambda a: np.stack([a, np.zeros((2, 3))], axis=1),
    "where": lambda a: np.where(np.array([True, False, True]), a, 0.5),
    "where-second": lambda a: np.where(np.array([[True], [False]]), np.ones(3), a),
    "clip": lambda a: np.clip(a, -0.5, 0.7),
    "pad": lambda a: np.pad(a, 1),
    "pad-widths": lambda a: np.pad(a, ((1, 0), (0, 2)), constant_values=3.0),
    "dot": lambda a: np.dot(a, np.ones(3)),
}


@pytest.mark.parametrize("name", ARRAY_FUNCTION_CASES)
def test_supported_array_functions_are_differentiable(name, x_values):
    fn = ARRAY_FUNCTION_CASES[name]
    out = fn(mg.tensor(x_values))
    assert isinstance(out, mg.Tensor)
    np.testing.assert_allclose(out.data, fn(x_values), rtol=1e-12)
    assert_grads_match(fn, fn, x_values)


def test_mask_from_a_tensor_comparison_in_np_where(x_values):
    x = mg.tensor(x_values, requires_grad=True)
    out = np.where(x > 0, x, 0.0)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, (x_values > 0).astype(np.float64))


def test_shape_queries(x_values):
    x = mg.tensor(x_values, requires_grad=True)
    assert np.shape(x) == (2, 3) and np.ndim(x) == 2 and np.size(x) == 6


def test_one_argument_where_gives_indices_like_numpy(x_values):
    x = mg.tensor(x_values, requires_grad=True)
    found = np.where(x > 0)
    expected = np.where(x_values > 0)
    assert len(found) == len(expected)
    for f, e in zip(found, expected):
        np.testing.assert_array_equal(np.asarray(f), e)


UNSUPPORTED = {
    "np.arcsinh": lambda t: np.arcsinh(t),
    "np.hypot": lambda t: np.hypot(t, t),
    "np.add.reduce": lambda t: np.add.reduce(t),
    "np.add.accumulate": lambda t: np.add.accumulate(t),
    "np.multiply.outer": lambda t: np.multiply.outer(t, t),
    "np.add.at": lambda t: np.add.at(t, [0], 1.0),
    "out=": lambda t: np.add(t, 1.0, out=np.empty((2, 3))),
    "in-place-ndarray": lambda t: operator.iadd(np.zeros((2, 3)), t),
    "np.median": lambda t: np.median(t),
    "np.nancumsum": lambda t: np.nancumsum(t),
    "np.linalg.det": lambda t: np.linalg.det(t),
}


@pytest.mark.parametrize("name", UNSUPPORTED)
@pytest.mark.parametrize("requires_grad", [True, False])
def test_unsupported_numpy_calls_raise_and_say_how_to_proceed(name, requires_grad, x_values):
    x = mg.tensor(x_values, requires_grad=requires_grad)
    with pytest.raises(TypeError) as info:
        UNSUPPORTED[name](x)
    message = str(info.value)
    assert "differentiable" in message and "np.asarray" in message


# Results that need not carry a graph: they are piecewise constant in the input (zero
# derivative almost everywhere), do not depend on its values, or are not floats.
CONSTANT_RESULTS = {"np.sign", "np.floor", "np.ceil", "np.rint", "np.round", "np.zeros_like", "np.ones_like",
                    "np.full_like", "np.empty_like", "np.isfinite", "np.argmax"}


@pytest.mark.parametrize(
    "name",
    ["np.exp", "np.sinh", "np.expm1", "np.log1p", "np.exp2", "np.hypot", "np.fmax", "np.copy", "np.round",
     "np.sign", "np.floor", "np.ceil", "np.rint", "np.zeros_like", "np.ones_like", "np.full_like",
     "np.empty_like", "np.isfinite", "np.argmax", "np.std", "np.prod", "np.cumsum", "np.diff", "np.ravel",
     "np.flip", "np.roll", "np.tile", "np.repeat", "np.hstack", "np.vstack", "np.split", "np.append",
     "np.outer", "np.tensordot", "np.einsum", "np.trace", "np.median", "np.average", "np.atleast_2d",
     "np.nansum", "np.linalg.norm", "np.linalg.inv"],
)
def test_numpy_never_silently_drops_the_graph(name, positive_values):
    square = mg.tensor(positive_values[:, :2], requires_grad=True)
    calls = {
        "np.hypot": lambda t: np.hypot(t, t), "np.fmax": lambda t: np.fmax(t, 0.0),
        "np.full_like": lambda t: np.full_like(t, 2.0), "np.roll": lambda t: np.roll(t, 1),
        "np.tile": lambda t: np.tile(t, 2), "np.repeat": lambda t: np.repeat(t, 2),
        "np.hstack": lambda t: np.hstack([t, t]), "np.vstack": lambda t: np.vstack([t, t]),
        "np.split": lambda t: np.split(t, 2), "np.append": lambda t: np.append(t, t),
        "np.outer": lambda t: np.outer(t, t), "np.tensordot": lambda t: np.tensordot(t, t),
        "np.einsum": lambda t: np.einsum("ij,jk->ik", t, t),
    }
    fn = calls.get(name) or functools.reduce(getattr, name.split(".")[1:], np)
    try:
        result = fn(square)
    except TypeError as error:
        assert "np.asarray" in str(error)  # refusing is allowed, with a way forward
        return
    results = result if isinstance(result, list | tuple) else [result]
    for r in results:
        floating = np.asarray(getattr(r, "data", r)).dtype.kind == "f"
        if floating and name not in CONSTANT_RESULTS:
            assert isinstance(r, mg.Tensor) and r.requires_grad, f"{name} dropped the graph"


def test_piecewise_constant_ufuncs_act_as_constants(x_values):
    x = mg.tensor(x_values, requires_grad=True)
    (x * np.sign(x)).sum().backward()  # |x|, whose derivative is sign(x)
    np.testing.assert_array_equal(x.grad, np.sign(x_values))


def test_np_copy_keeps_the_graph_and_copies(x_values):
    x = mg.tensor(x_values, requires_grad=True)
    y = np.copy(x)
    assert isinstance(y, mg.Tensor) and not np.shares_memory(y.data, x.data)
    np.testing.assert_array_equal(y.data, x_values)
    assert_grads_match(np.copy, np.copy, x_values)


# -- repr ---------------------------------------------------------------------------------
def test_repr_shows_values_and_what_matters():
    plain = repr(mg.tensor([1.5, -2.25]))
    assert "1.5" in plain and "-2.25" in plain
    assert "dtype" not in plain and "requires_grad" not in plain and "op=" not in plain
    assert "dtype=float32" in repr(mg.tensor(np.array([1.0], dtype=np.float32)))
    assert "dtype=int64" in repr(mg.tensor([1], dtype=np.int64))
    leaf = mg.tensor([1.0], requires_grad=True, name="w")
    assert "requires_grad=True" in repr(leaf) and "w" in repr(leaf)
    assert "op=mul" in repr(leaf * 2.0)
    assert "op=sigmoid" in repr(leaf.sigmoid())


def test_repr_dtype_is_relative_to_the_default():
    mg.set_default_dtype(np.float32)
    assert "dtype" not in repr(mg.tensor([1.0]))
    assert "dtype=float64" in repr(mg.tensor(np.array([1.0])))


# -- numerical stability --------------------------------------------------------------------
def _stable_sigmoid(x):
    return np.vectorize(lambda v: 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v)))(x)


def _reference_log_softmax(x):
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


# Each: (forward reference, vector-Jacobian reference given the input x and the output weights w).
STABILITY = {
    "sigmoid": (_stable_sigmoid, lambda x, w: w * _stable_sigmoid(x) * (1 - _stable_sigmoid(x))),
    "softmax": (
        lambda x: np.exp(_reference_log_softmax(x)),
        lambda x, w: (s := np.exp(_reference_log_softmax(x))) * (w - (w * s).sum(axis=-1, keepdims=True)),
    ),
    "log_softmax": (
        _reference_log_softmax,
        lambda x, w: w - np.exp(_reference_log_softmax(x)) * w.sum(axis=-1, keepdims=True),
    ),
    "logsumexp": (
        lambda x: x.max(axis=-1) + np.log(np.exp(x - x.max(axis=-1, keepdims=True)).sum(axis=-1)),
        lambda x, w: w[:, None] * np.exp(_reference_log_softmax(x)),
    ),
}
EXTREME_INPUTS = np.array([
    [-1e4, 0.0, 1e4],
    [1e4, 1e4 - 1.0, 1e4 - 2.0],
    [-1e4, -1e4 + 1.0, -1e4 + 3.0],
    [-5.0, 0.5, 5.0],
])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", STABILITY)
@pytest.mark.parametrize("form", ["function", "method"])
def test_stable_for_large_inputs_without_warnings(dtype, name, form):
    forward_ref, vjp_ref = STABILITY[name]
    x = mg.tensor(EXTREME_INPUTS.astype(dtype), requires_grad=True)
    kwargs = {} if name == "sigmoid" else {"axis": -1}
    call = (lambda t: getattr(mg, name)(t, **kwargs)) if form == "function" else (lambda t: getattr(t, name)(**kwargs))
    # float32 rounds 1e4 - 1 to a neighbour: the references use the rounded values
    rounded = EXTREME_INPUTS.astype(dtype).astype(np.float64)
    weights = np.random.default_rng(3).standard_normal(forward_ref(rounded).shape).astype(dtype)
    tolerance = {"rtol": 1e-4, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-10, "atol": 1e-12}
    # Gradients like exp(x - logsumexp(x)) subtract numbers near 1e4, whose spacing is
    # eps * 1e4 (1e-3 in float32, as in PyTorch): allow a relative error of that size.
    grad_rtol = max(tolerance["rtol"], 2 * np.finfo(dtype).eps * np.abs(rounded).max())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = call(x)
        (out * weights).sum().backward()
    assert out.dtype == dtype and x.grad.dtype == dtype
    assert np.isfinite(out.data).all() and np.isfinite(x.grad).all()
    np.testing.assert_allclose(out.data, forward_ref(rounded), **tolerance)
    np.testing.assert_allclose(x.grad, vjp_ref(rounded, weights.astype(np.float64)), rtol=grad_rtol,
                               atol=tolerance["atol"])


# -- DESIGN.md's public names ---------------------------------------------------------------
def _leaky(a, slope=0.01):
    return np.where(a > 0, a, slope * a)


# name -> (args after the tensor, kwargs, NumPy reference, input must be positive)
PUBLIC_OPS = {
    "exp": ((), {}, np.exp, False),
    "log": ((), {}, np.log, True),
    "sqrt": ((), {}, np.sqrt, True),
    "abs": ((), {}, np.abs, False),
    "sin": ((), {}, np.sin, False),
    "cos": ((), {}, np.cos, False),
    "tanh": ((), {}, np.tanh, False),
    "sigmoid": ((), {}, lambda a: 1 / (1 + np.exp(-a)), False),
    "relu": ((), {}, lambda a: np.maximum(a, 0), False),
    "leaky_relu": ((), {}, _leaky, False),
    "leaky_relu-slope": ((), {"slope": 0.2}, lambda a: _leaky(a, 0.2), False),
    "clip": ((-0.5, 0.8), {}, lambda a: np.clip(a, -0.5, 0.8), False),
    "sum": ((), {"axis": 1, "keepdims": True}, lambda a: a.sum(axis=1, keepdims=True), False),
    "mean": ((), {"axis": 0}, lambda a: a.mean(axis=0), False),
    "var": ((), {"axis": 1}, lambda a: a.var(axis=1), False),
    "max": ((), {"axis": 0, "keepdims": True}, lambda a: a.max(axis=0, keepdims=True), False),
    "min": ((), {}, np.min, False),
    "reshape": (((3, 2),), {}, lambda a: a.reshape(3, 2), False),
    "reshape-ints": ((6, 1), {}, lambda a: a.reshape(6, 1), False),
    "transpose": ((), {}, np.transpose, False),
    "swapaxes": ((0, 1), {}, lambda a: np.swapaxes(a, 0, 1), False),
    "flatten": ((), {}, np.ravel, False),
    "squeeze": ((), {}, lambda a: np.squeeze(a), False),
    "expand_dims": ((), {"axis": 0}, lambda a: np.expand_dims(a, 0), False),
    "broadcast_to": (((4, 2, 3),), {}, lambda a: np.broadcast_to(a, (4, 2, 3)), False),
    "pad": ((1,), {}, lambda a: np.pad(a, 1), False),
    "softmax": ((), {"axis": 0}, lambda a: np.exp(a) / np.exp(a).sum(axis=0), False),
    "log_softmax": ((), {}, lambda a: a - np.log(np.exp(a).sum(axis=-1, keepdims=True)), False),
    "logsumexp": ((), {"axis": 1}, lambda a: np.log(np.exp(a).sum(axis=1)), False),
}


@pytest.mark.parametrize("form", ["mg-function", "method"])
@pytest.mark.parametrize("case", PUBLIC_OPS)
def test_every_public_operation_exists_as_function_and_method(case, form, x_values, positive_values):
    name = case.split("-")[0]
    args, kwargs, reference, positive = PUBLIC_OPS[case]
    values = positive_values if positive else x_values
    if form == "mg-function":
        def call(t):
            return getattr(mg, name)(t, *args, **kwargs)
    else:
        def call(t):
            return getattr(t, name)(*args, **kwargs)
    out = call(mg.tensor(values))
    np.testing.assert_allclose(out.data, reference(values), rtol=1e-12, atol=1e-15)
    assert_grads_match(call, reference, values)


# name -> (build from two (2, 3) tensors, NumPy reference on the arrays)
PUBLIC_BINARY = {
    "matmul": (lambda a, b: mg.matmul(a, b.T), lambda a, b: a @ b.T),
    "concatenate": (lambda a, b: mg.concatenate([a, b], axis=1), lambda a, b: np.concatenate([a, b], axis=1)),
    "stack": (lambda a, b: mg.stack([a, b], axis=-1), lambda a, b: np.stack([a, b], axis=-1)),
    "where": (lambda a, b: mg.where(np.array([True, False, True]), a, b),
              lambda a, b: np.where(np.array([True, False, True]), a, b)),
    "maximum": (mg.maximum, np.maximum),
    "minimum": (mg.minimum, np.minimum),
    "method-matmul": (lambda a, b: a.matmul(b.T), lambda a, b: a @ b.T),
    "method-maximum": (lambda a, b: a.maximum(b), np.maximum),
    "method-minimum": (lambda a, b: a.minimum(b), np.minimum),
}


@pytest.mark.parametrize("name", PUBLIC_BINARY)
def test_public_functions_of_several_tensors(name, x_values, rng):
    build, reference = PUBLIC_BINARY[name]
    other = rng.uniform(-2.0, 2.0, size=(2, 3))
    np.testing.assert_allclose(build(mg.tensor(x_values), mg.tensor(other)).data, reference(x_values, other))
    assert_grads_match(build, reference, x_values, other)


@pytest.mark.parametrize(
    "name",
    ["Tensor", "tensor", "zeros", "ones", "full", "zeros_like", "ones_like", "randn", "rand", "arange",
     "set_default_dtype", "get_default_dtype", "no_grad", "enable_grad", "grad", "gradcheck", "Function",
     "detect_anomaly"],
)
def test_public_names_exist(name):
    assert callable(getattr(mg, name))


@pytest.mark.parametrize(
    "name",
    ["data", "grad", "requires_grad", "shape", "ndim", "size", "dtype", "T", "name", "is_leaf", "op", "grad_fn",
     "backward", "detach", "numpy", "item", "tolist", "requires_grad_", "register_hook", "zero_grad", "retain_grad"],
)
def test_tensor_attributes_and_methods_exist(name):
    assert hasattr(mg.tensor([1.0], requires_grad=True), name)


def test_copy_copy_is_a_new_leaf_on_the_same_memory_without_the_gradient_as_pytorchs():
    import copy

    x = mg.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    shallow = copy.copy(x)
    assert shallow.grad is None and shallow.requires_grad and shallow.is_leaf
    assert np.shares_memory(shallow.data, x.data)
    (shallow * shallow).sum().backward()  # (it added into x.grad: the array was shared)
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    copied_intermediate = copy.copy(x * 3)
    assert copied_intermediate.is_leaf and copied_intermediate.requires_grad


def test_copy_deepcopy_copies_a_leaf_with_its_gradient_but_not_its_hooks_and_refuses_an_intermediate():
    import copy

    x = mg.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    x.register_hook(lambda g: g * 10)
    deep = copy.deepcopy(x)
    assert not np.shares_memory(deep.data, x.data) and deep.grad is not x.grad
    (deep * 1).sum().backward()
    np.testing.assert_array_equal(deep.grad, [3.0, 5.0])  # its copied gradient + 1, no hook
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    with pytest.raises(RuntimeError, match="not a leaf"):
        copy.deepcopy(x * 3)


def test_a_uint8_tensor_indexes_as_a_mask_as_in_pytorch():
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    mask = mg.tensor([1, 0, 1], dtype=np.uint8)
    picked = x[mask]
    picked.sum().backward()
    np.testing.assert_array_equal(picked.data, [1.0, 3.0])
    np.testing.assert_array_equal(x.grad, [1.0, 0.0, 1.0])
    z = mg.tensor([1.0, 2.0, 3.0])
    z[mask] = 5.0
    np.testing.assert_array_equal(z.data, [5.0, 2.0, 5.0])
