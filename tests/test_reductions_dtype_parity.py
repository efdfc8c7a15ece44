"""PyTorch parity of reductions and their relatives: the ``dtype=`` keyword of sum, mean, prod,
cumsum, cumprod, nansum, nanmean, softmax and log_softmax (the input is cast first, the gradient
comes back in the input's dtype); ``norm`` with p = 0, negative p, "fro" and "nuc"; ``where``
with the condition alone; ``tensordot``'s ``dims``; -1 in ``broadcast_to``/``expand``; and the
dtypes of integer and bool inputs (median, nansum, scans, bitwise operators with 0-d tensors)."""

import math

import numpy as np
import pytest
from conftest import numeric_grad

import microgradnp as mg
import microgradnp.nn.functional as F


def _pair(torch, a, requires_grad=False):
    """The same values as an mg tensor and a torch tensor (same dtype, int and bool too)."""
    a = np.asarray(a)
    return (mg.tensor(a, dtype=a.dtype, requires_grad=requires_grad),
            torch.tensor(a, requires_grad=requires_grad))


def _same(ours, theirs, rtol=1e-6):
    theirs = theirs.detach().numpy()
    assert ours.dtype == theirs.dtype
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours.data, theirs, rtol=rtol, atol=1e-12)


# -- 1. dtype= -------------------------------------------------------------------------------------------------------

DTYPE_CASES = {
    "sum": (lambda m, x, d: m.sum(x, dtype=d), lambda t, x, d: t.sum(x, dtype=d)),
    "sum-dim": (lambda m, x, d: m.sum(x, 1, keepdim=True, dtype=d), lambda t, x, d: t.sum(x, 1, keepdim=True, dtype=d)),
    "sum-method": (lambda m, x, d: x.sum(dim=0, dtype=d), lambda t, x, d: x.sum(dim=0, dtype=d)),
    "mean": (lambda m, x, d: m.mean(x, dtype=d), lambda t, x, d: t.mean(x, dtype=d)),
    "mean-dim": (lambda m, x, d: m.mean(x, dim=0, dtype=d), lambda t, x, d: t.mean(x, dim=0, dtype=d)),
    "mean-method": (lambda m, x, d: x.mean(1, dtype=d), lambda t, x, d: x.mean(1, dtype=d)),
    "prod": (lambda m, x, d: m.prod(x, dtype=d), lambda t, x, d: t.prod(x, dtype=d)),
    "prod-dim": (lambda m, x, d: m.prod(x, dim=1, dtype=d), lambda t, x, d: t.prod(x, 1, dtype=d)),
    "prod-method": (lambda m, x, d: x.prod(0, dtype=d), lambda t, x, d: x.prod(0, dtype=d)),
    "cumsum": (lambda m, x, d: m.cumsum(x, 0, dtype=d), lambda t, x, d: t.cumsum(x, 0, dtype=d)),
    "cumsum-method": (lambda m, x, d: x.cumsum(1, dtype=d), lambda t, x, d: x.cumsum(1, dtype=d)),
    "cumprod": (lambda m, x, d: m.cumprod(x, dim=1, dtype=d), lambda t, x, d: t.cumprod(x, 1, dtype=d)),
    "cumprod-method": (lambda m, x, d: x.cumprod(0, dtype=d), lambda t, x, d: x.cumprod(0, dtype=d)),
    "nansum": (lambda m, x, d: m.nansum(x, dtype=d), lambda t, x, d: t.nansum(x, dtype=d)),
    "nansum-method": (lambda m, x, d: x.nansum(1, dtype=d), lambda t, x, d: x.nansum(1, dtype=d)),
    "nanmean": (lambda m, x, d: m.nanmean(x, 0, dtype=d), lambda t, x, d: t.nanmean(x, 0, dtype=d)),
    "softmax": (lambda m, x, d: m.softmax(x, 1, dtype=d), lambda t, x, d: t.softmax(x, 1, dtype=d)),
    "softmax-positional": (lambda m, x, d: m.softmax(x, 0, d), lambda t, x, d: t.softmax(x, 0, d)),
    "softmax-method": (lambda m, x, d: x.softmax(1, dtype=d), lambda t, x, d: x.softmax(1, dtype=d)),
    "log_softmax": (lambda m, x, d: m.log_softmax(x, 1, dtype=d), lambda t, x, d: t.log_softmax(x, 1, dtype=d)),
    "log_softmax-F": (lambda m, x, d: F.log_softmax(x, 0, dtype=d),
                      lambda t, x, d: t.nn.functional.log_softmax(x, 0, dtype=d)),
    "log_softmax-method": (lambda m, x, d: x.log_softmax(dim=1, dtype=d), lambda t, x, d: x.log_softmax(1, dtype=d)),
}


@pytest.mark.parametrize("name", DTYPE_CASES)
def test_dtype_casts_the_input_first_and_the_gradient_comes_back_in_its_dtype(torch, name, rng):
    ours_fn, theirs_fn = DTYPE_CASES[name]
    a = rng.uniform(0.5, 2.0, (3, 4)).astype(np.float32)
    x, tx = _pair(torch, a, requires_grad=True)
    out, expected = ours_fn(mg, x, mg.float64), theirs_fn(torch, tx, torch.float64)
    assert out.dtype == np.float64
    _same(out, expected, rtol=1e-12)  # computed in float64, not float32 then widened
    weights = rng.standard_normal(out.shape)
    (out * mg.tensor(weights)).sum().backward()
    (expected * torch.tensor(weights)).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-5)


@pytest.mark.parametrize("name", ["sum", "prod", "cumsum", "cumprod", "nansum", "mean", "log_softmax"])
def test_gradient_through_dtype_matches_finite_differences(name, rng):
    ours_fn, _ = DTYPE_CASES[name]
    a = rng.uniform(0.5, 2.0, (3, 4))
    weights = rng.standard_normal(np.shape(ours_fn(mg, mg.tensor(a), mg.float32).data))
    x = mg.tensor(a, requires_grad=True)
    (ours_fn(mg, x, mg.float64) * mg.tensor(weights)).sum().backward()
    expected = numeric_grad(lambda v: ours_fn(mg, mg.tensor(v), mg.float64).data, [a], 0, weights=weights)
    np.testing.assert_allclose(x.grad, expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", ["sum", "sum-dim", "prod", "prod-dim", "cumsum", "cumprod", "nansum"])
@pytest.mark.parametrize(("source", "target"), [("int64", "int32"), ("int32", "int8"), ("float64", "int64"),
                                                ("bool", "int16"), ("uint8", "float32"), ("int8", "uint8")])
def test_integer_dtypes_are_kept_as_torch_keeps_them(torch, name, source, target):
    ours_fn, theirs_fn = DTYPE_CASES[name]
    a = np.array([[3, 1, 2, 0], [5, 3, 1, 1]]).astype(source)
    x, tx = _pair(torch, a)
    _same(ours_fn(mg, x, np.dtype(target)), theirs_fn(torch, tx, getattr(torch, target)))


@pytest.mark.parametrize("name", ["sum-method", "prod-method", "cumsum-method", "cumprod-method", "nansum-method"])
def test_integer_dtype_of_the_methods_is_kept_as_torch_keeps_it(torch, name):
    ours_fn, theirs_fn = DTYPE_CASES[name]
    x, tx = _pair(torch, np.array([[3, 1, 2, 0], [5, 3, 1, 1]]))
    _same(ours_fn(mg, x, mg.int32), theirs_fn(torch, tx, torch.int32))


@pytest.mark.parametrize("dtype", ["bool", "uint8", "int8", "int32", "int64"])
@pytest.mark.parametrize("name", ["sum", "prod", "cumsum", "cumprod", "nansum"])
def test_bool_and_integer_inputs_reduce_in_int64_as_torch(torch, name, dtype):
    function = {"sum": lambda m, x: m.sum(x, 1), "prod": lambda m, x: m.prod(x),
                "cumsum": lambda m, x: m.cumsum(x, dim=1), "cumprod": lambda m, x: m.cumprod(x, dim=0),
                "nansum": lambda m, x: m.nansum(x, 1)}[name]
    x, tx = _pair(torch, (np.array([[3, 1, 2], [5, 0, 7]]) % 2 if dtype == "bool" else
                          np.array([[3, 1, 2], [5, 0, 7]])).astype(dtype))
    _same(function(mg, x), function(torch, tx))
    assert function(mg, x).dtype == np.int64


def test_dtype_refusals(torch):
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="floating dtype"):
        mg.mean(mg.tensor([1, 2], dtype=mg.int64), dtype=mg.int64)
    with pytest.raises(RuntimeError):
        torch.mean(torch.tensor([1, 2]), dtype=torch.int64)
    with pytest.raises(TypeError, match="no gradient"):  # torch: "Autograd not support dtype"
        mg.sum(x, dtype=mg.int64)
    with pytest.raises(RuntimeError):
        torch.sum(torch.tensor([1.0, 2.0], requires_grad=True), dtype=torch.int64)
    with pytest.raises(TypeError, match="dtype twice"):
        mg.softmax(x, 0, mg.float32, dtype=mg.float32)


# -- 2. norm -----------------------------------------------------------------------------------------------------------

NORM_CASES = [(p, dim) for p in (0, -1, -2, -0.5, 0.5, 3, math.inf, -math.inf, "fro")
              for dim in (None, 1, (0, 1), -1)] + [("nuc", None), ("nuc", (0, 1)), ("nuc", (1, 0)), ("fro", (1, 2))]


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize(("p", "dim"), NORM_CASES)
def test_norm_values_match_torch(torch, p, dim, keepdim, rng):
    a = rng.standard_normal((3, 4) if dim != (1, 2) else (2, 3, 4))
    a[0, 1] = 0.0  # a zero: counted out by p=0, and the whole norm for p < 0
    x, tx = _pair(torch, a)
    ours = x.norm(p, dim, keepdim) if dim is not None else x.norm(p, keepdim=keepdim)
    theirs = torch.norm(tx, p, dim, keepdim)
    _same(ours, theirs, rtol=1e-10)
    _same(mg.norm(x, p=p, dim=dim, keepdim=keepdim), theirs, rtol=1e-10)


def test_nuclear_norm_over_a_pair_of_axes_of_a_batch(torch, rng):
    x, tx = _pair(torch, rng.standard_normal((2, 3, 4)), requires_grad=True)
    out, expected = mg.norm(x, p="nuc", dim=(2, 1), keepdim=True), torch.norm(tx, p="nuc", dim=(2, 1), keepdim=True)
    _same(out, expected, rtol=1e-10)
    out.sum().backward()
    expected.sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-8)


@pytest.mark.parametrize(("p", "dim"), [(-1, None), (-1, 1), (-2.5, 0), (-0.5, (0, 1)), ("nuc", None),
                                        ("nuc", (1, 0)), (0.5, 1), (3, None), ("fro", 0)])
def test_norm_gradients_match_finite_differences_and_torch(torch, p, dim, rng):
    # Away from zeros (and, for "nuc", with distinct nonzero singular values): the norm is smooth.
    a = rng.uniform(0.5, 2.0, (3, 4)) * rng.choice([-1.0, 1.0], (3, 4))
    weights = rng.standard_normal(np.shape(torch.norm(torch.tensor(a), p, dim)))
    x, tx = _pair(torch, a, requires_grad=True)
    (mg.norm(x, p=p, dim=dim) * mg.tensor(weights)).sum().backward()
    (torch.norm(tx, p, dim) * torch.tensor(weights)).sum().backward()
    expected = numeric_grad(lambda v: mg.norm(mg.tensor(v), p=p, dim=dim).data, [a], 0, weights=weights)
    np.testing.assert_allclose(x.grad, expected, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(("p", "dim"), [(-1, 1), (-2.5, None), ("nuc", (0, 1))])
def test_norm_second_derivatives_match_torch(torch, p, dim, rng):
    a = rng.uniform(0.5, 2.0, (3, 4))
    x, tx = _pair(torch, a, requires_grad=True)
    assert mg.gradgradcheck(lambda t: mg.norm(t, p=p, dim=dim), (x,))
    (g,) = mg.grad(mg.norm(x, p=p, dim=dim).sum(), x, create_graph=True)
    (tg,) = torch.autograd.grad(torch.norm(tx, p, dim).sum(), tx, create_graph=True)
    (h,) = mg.grad((g * g).sum(), x)
    (th,) = torch.autograd.grad((tg * tg).sum(), tx)
    np.testing.assert_allclose(np.asarray(h), th.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("p", [-1, -2, -0.5])
def test_negative_p_norm_with_a_zero_is_zero_with_zero_gradient_as_torch(torch, p):
    a = np.array([[0.0, 1.0, -2.0], [0.5, 1.0, -2.0]])
    x, tx = _pair(torch, a, requires_grad=True)
    out, expected = x.norm(p, 1), tx.norm(p, 1)
    _same(out, expected, rtol=1e-12)
    out.sum().backward()
    expected.sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-12, atol=0)
    assert np.all(x.grad[0] == 0) and np.all(x.grad[1] != 0)


def test_negative_p_norm_of_a_wide_range_stays_finite():
    # (sum |x|**p)**(1/p) scaled by the smallest magnitude: 1e-200**-2 alone would overflow.
    x = mg.tensor([1e-200, 1.0, 3e-200], requires_grad=True)
    out = mg.norm(x, p=-2)
    expected = 1e-200 / math.sqrt(1 + 1 / 9)
    assert out.item() == pytest.approx(expected, rel=1e-12)
    out.backward()
    assert np.all(np.isfinite(x.grad))
    # d/dx_i (sum x**-2)**(-1/2) = (x_i / norm)**-3
    np.testing.assert_allclose(x.grad, (x.data / expected) ** -3, rtol=1e-10)


def test_zero_norm_counts_nonzeros_and_has_zero_gradient(torch):
    a = np.array([[0.0, 1.5, -2.0], [0.0, 0.0, 3.0]])
    x, tx = _pair(torch, a, requires_grad=True)
    out = x.norm(0, 1)
    _same(out, tx.norm(0, 1))
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, np.zeros_like(a))
    assert mg.norm(mg.zeros((0, 3)), p=0).item() == torch.norm(torch.zeros(0, 3), p=0).item() == 0


@pytest.mark.parametrize(("shape", "p", "dim"), [
    ((3,), "nuc", None),             # a matrix norm needs 2 dimensions
    ((3, 4), "nuc", 1),              # ... and a pair of axes
    ((2, 3, 4), "nuc", None),        # (all the axes of a 3-D tensor are not a pair)
    ((2, 3, 4), "fro", (0, 1, 2)),   # "fro" over more than two axes is a matrix norm too
    ((3, 4), "abc", None),
    ((3, 0), -1, 1),                 # p < 0 over an empty axis: no identity
    ((0, 3), -2, None),
    ((3, 0), math.inf, 1),
])
def test_norm_refuses_what_torch_refuses(torch, shape, p, dim):
    x, tx = _pair(torch, np.ones(shape))
    with pytest.raises(RuntimeError):
        torch.norm(tx, p, dim)
    with pytest.raises(RuntimeError):  # (InvalidArgumentError: a RuntimeError and a ValueError)
        mg.norm(x, p=p, dim=dim)


def test_norm_dtype_widens_and_refuses_narrowing(torch):
    a = np.array([3.0, -4.0], dtype=np.float32)
    x, tx = _pair(torch, a, requires_grad=True)
    out, expected = mg.norm(x, p=2, dtype=mg.float64), torch.norm(tx, 2, dtype=torch.float64)
    _same(out, expected, rtol=1e-12)
    out.backward()
    expected.backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad, tx.grad.numpy())
    with pytest.raises(RuntimeError):
        torch.norm(tx.double(), 2, dtype=torch.float32)
    with pytest.raises(RuntimeError, match="narrowing"):
        mg.norm(x.double(), p=2, dtype=mg.float32)


# -- 3. where(condition) -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("a", [np.array([[1, 0, 2], [0, 3, 0]]) > 0, np.array([[0.5, 0.0], [0.0, -1.0]]),
                               np.array(True), np.zeros((2, 0), dtype=bool)])
def test_where_with_the_condition_alone_gives_the_nonzero_indices(torch, a):
    x, tx = _pair(torch, a)
    ours, theirs = mg.where(x), torch.where(tx)
    assert isinstance(ours, tuple) and len(ours) == len(theirs)
    for o, t in zip(ours, theirs, strict=True):
        _same(o, t)


def test_where_needs_both_values_or_neither(torch):
    c = mg.tensor([True, False], dtype=mg.bool)
    with pytest.raises(TypeError):
        torch.where(torch.tensor([True, False]), torch.ones(2))
    with pytest.raises(TypeError, match="both"):
        mg.where(c, mg.ones(2))
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    mg.where(c, x, 0.0).sum().backward()  # the three-argument form is unchanged
    np.testing.assert_array_equal(x.grad, [1.0, 0.0])


# -- 4. tensordot(dims=) -----------------------------------------------------------------------------------------------

def _dims(torch, kind):
    return {"int": 2, "int-tensor": torch.tensor(2), "lists": ([1, 2], [1, 0]), "list-of-lists": [[2, 1], [0, 1]],
            "tensor": torch.tensor([[1, 2], [1, 0]]), "zero": 0}[kind]


@pytest.mark.parametrize("kind", ["int", "int-tensor", "lists", "list-of-lists", "tensor", "zero"])
def test_tensordot_dims_as_torch(torch, kind, rng):
    b_shape = (3, 4, 2) if kind in ("int", "int-tensor") else (4, 3, 2)
    x, tx = _pair(torch, rng.standard_normal((2, 3, 4)), requires_grad=True)
    y, ty = _pair(torch, rng.standard_normal(b_shape), requires_grad=True)
    dims = _dims(torch, kind)
    ours_dims = mg.tensor(dims.numpy(), dtype=np.int64) if isinstance(dims, torch.Tensor) else dims
    out, expected = mg.tensordot(x, y, dims=ours_dims), torch.tensordot(tx, ty, dims=dims)
    _same(out, expected, rtol=1e-10)
    weights = rng.standard_normal(out.shape)
    (out * mg.tensor(weights)).sum().backward()
    (expected * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(y.grad, ty.grad.numpy(), rtol=1e-10)


def test_tensordot_keeps_numpys_axes_and_refuses_what_torch_refuses(torch, rng):
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 2))
    x, y = mg.tensor(a), mg.tensor(b)
    np.testing.assert_allclose(mg.tensordot(x, y, axes=1).data, np.tensordot(a, b, axes=1))
    np.testing.assert_allclose(mg.tensordot(x, y, axes=([0], [1])).data, np.tensordot(a, b, axes=([0], [1])))
    for dims in (-1, 3, ([0, 1], [0])):
        with pytest.raises(RuntimeError):
            torch.tensordot(torch.tensor(a), torch.tensor(b), dims=dims)
        with pytest.raises(RuntimeError):
            mg.tensordot(x, y, dims=dims)
    with pytest.raises(TypeError, match="both dims= and axes="):
        mg.tensordot(x, y, dims=1, axes=1)


# -- 5. broadcast_to / expand with -1 ----------------------------------------------------------------------------------

@pytest.mark.parametrize("sizes", [(-1, 4), (2, -1, 4), (-1, -1), (0, -1, 4), (2, 3, -1)])
def test_minus_one_keeps_a_dimension_as_torch(torch, sizes, rng):
    x, tx = _pair(torch, rng.standard_normal((3, 1)), requires_grad=True)
    for ours, theirs in ((x.expand(*sizes), tx.expand(*sizes)), (x.expand(sizes), tx.expand(sizes)),
                         (mg.broadcast_to(x, sizes), torch.broadcast_to(tx, sizes))):
        _same(ours, theirs)
        weights = rng.standard_normal(ours.shape)
        x.grad, tx.grad = None, None
        (ours * mg.tensor(weights)).sum().backward()
        (theirs * torch.tensor(weights)).sum().backward()
        np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("sizes", [(-1, 3, 4), (-2, 4), (2, -2, 4), (5, 4), (3,)])
def test_expand_refuses_what_torch_refuses(torch, sizes):
    x, tx = _pair(torch, np.zeros((3, 1)))
    with pytest.raises(RuntimeError):
        tx.expand(*sizes)
    with pytest.raises(RuntimeError):
        x.expand(*sizes)
    with pytest.raises(RuntimeError):
        mg.broadcast_to(x, sizes)


def test_minus_one_in_a_new_leading_dimension_names_the_problem():
    with pytest.raises(RuntimeError, match="new leading dimension"):
        mg.ones(3, 1).expand(-1, 3, 4)


# -- 6. dtypes of integer and bool inputs ------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "int16"])
@pytest.mark.parametrize("name", ["median", "nanmedian", "median-dim", "nanmedian-dim", "mode"])
def test_median_and_mode_keep_integer_dtypes(torch, name, dtype):
    function = {"median": lambda m, x: m.median(x), "nanmedian": lambda m, x: m.nanmedian(x),
                "median-dim": lambda m, x: m.median(x, 1)[0], "nanmedian-dim": lambda m, x: m.nanmedian(x, 0)[0],
                "mode": lambda m, x: m.mode(x, 1)[0]}[name]
    x, tx = _pair(torch, np.array([[3, 1, 2, 3], [5, 3, 3, 9]], dtype=dtype))
    _same(function(mg, x), function(torch, tx))
    if name in ("median", "nanmedian"):  # the method too
        _same(getattr(x, name)(), getattr(tx, name)())


def test_median_gradient_is_unchanged_for_floats(torch):
    x, tx = _pair(torch, np.array([3.0, 1.0, 3.0, 2.0, 5.0]), requires_grad=True)
    out, expected = mg.median(x), torch.median(tx)
    _same(out, expected)
    out.backward()
    expected.backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy())


def test_nansum_of_floats_still_skips_nans_with_zero_gradient_there(torch):
    x, tx = _pair(torch, np.array([1.0, np.nan, 2.5]), requires_grad=True)
    out, expected = mg.nansum(x), torch.nansum(tx)
    _same(out, expected)
    out.backward()
    expected.backward()
    np.testing.assert_array_equal(x.grad, tx.grad.numpy())


@pytest.mark.parametrize("symbol", ["&", "|", "^", "<<", ">>"])
@pytest.mark.parametrize(("dims_dtype", "scalar_dtype"), [("int32", "int64"), ("uint8", "int64"), ("int8", "int32"),
                                                          ("uint8", "int8"), ("bool", "int32"), ("int16", "bool"),
                                                          ("int64", "int8"), ("bool", "bool")])
def test_bitwise_with_a_0d_tensor_follows_torchs_promotion(torch, symbol, dims_dtype, scalar_dtype):
    if symbol in ("<<", ">>") and dims_dtype == scalar_dtype == "bool":
        return  # torch has no shifts of bools
    operate = {"&": lambda a, b: a & b, "|": lambda a, b: a | b, "^": lambda a, b: a ^ b,
               "<<": lambda a, b: a << b, ">>": lambda a, b: a >> b}[symbol]
    x, tx = _pair(torch, np.array([[3, 1, 2], [5, 0, 7]]).astype(dims_dtype))
    s, ts = _pair(torch, np.array(1).astype(scalar_dtype))
    _same(operate(x, s), operate(tx, ts))
    _same(operate(s, x), operate(ts, tx))


def test_comparisons_between_tensors_happen_in_the_result_dtype_as_torch(torch):
    x, tx = _pair(torch, np.array([0.1, 0.5], dtype=np.float32))
    s, ts = _pair(torch, np.array(0.1))  # float64, 0-d: it does not widen the float32 tensor
    _same(x == s, tx == ts)
    _same(x > s, tx > ts)


@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
@pytest.mark.parametrize("dtype", ["float64", "int64", "int32", "bool"])
def test_scans_of_a_0d_tensor_with_dim_are_0d(torch, name, dtype):
    x, tx = _pair(torch, np.array(3).astype(dtype))
    _same(getattr(mg, name)(x, dim=0), getattr(torch, name)(tx, dim=0))
    _same(getattr(x, name)(-1), getattr(tx, name)(-1))
    _same(getattr(mg, name)(x, dim=0, dtype=mg.float32), getattr(torch, name)(tx, 0, dtype=torch.float32))


@pytest.mark.parametrize("name", ["sum", "mean", "std", "var"])
@pytest.mark.parametrize("values", [[60000.0, 60000.0], [1e-4] * 3, "wide", "table"])
def test_half_precision_reductions_sum_in_single_precision_as_torch(torch, name, values):
    # NumPy rounds every partial sum to float16 (and overflows on the way to a finite mean of
    # [60000, 60000]); PyTorch sums in float32 and rounds once.
    rng = np.random.default_rng(5)
    if values == "wide":
        values = rng.standard_normal(1000) * 100
    elif values == "table":
        values = rng.standard_normal((6, 5))
    a = np.asarray(values, dtype=np.float16)
    x = mg.tensor(a, requires_grad=True)
    for kwargs in ({}, {"dim": 0}):
        got, want = getattr(x, name)(**kwargs), getattr(torch.tensor(a), name)(**kwargs).numpy()
        assert got.dtype == np.float16
        np.testing.assert_array_equal(got.data, want)
    x.mean().backward()
    assert x.grad.dtype == np.float16


def test_an_integer_pair_made_float_keeps_each_operands_own_values():
    # uint8 with a 0-d int64 -1 was cast to uint8 first (255) before becoming a float
    small = mg.tensor(np.array([1, 2], np.uint8), dtype=np.uint8)
    minus_one = mg.tensor(-1, dtype=np.int64)
    np.testing.assert_allclose(mg.atan2(small, minus_one).data, np.arctan2([1.0, 2.0], -1.0))
    np.testing.assert_array_equal((small / mg.tensor(-2, dtype=np.int64)).data, [-0.5, -1.0])
