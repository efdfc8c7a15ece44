"""PyTorch parity found by probing: the result dtype of joining tensors of mixed dtypes and of
clamping integer tensors at float bounds, comparisons with None, 0-d flips. Checked against
PyTorch (the oracle; skipped without it)."""

from __future__ import annotations

import numpy as np
import pytest

import microgradnp as mg

DTYPES = {"int64": (np.int64, "int64"), "bool": (np.bool_, "bool"), "float16": (np.float16, "float16"),
          "float32": (np.float32, "float32"), "float64": (np.float64, "float64")}


def _pair(torch, values, name):
    dtype, torch_name = DTYPES[name]
    array = np.asarray(values).astype(dtype)
    return mg.tensor(array, dtype=dtype), torch.tensor(array, dtype=getattr(torch, torch_name))


@pytest.mark.parametrize("first", list(DTYPES))
@pytest.mark.parametrize("second", list(DTYPES))
def test_cat_and_stack_of_mixed_dtypes_give_torchs_result_dtype(torch, first, second):
    (a, ta), (b, tb) = _pair(torch, [1, 0], first), _pair(torch, [0, 1], second)
    for ours, theirs in ((mg.cat([a, b]), torch.cat([ta, tb])), (mg.stack([a, b]), torch.stack([ta, tb]))):
        assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
        np.testing.assert_array_equal(ours.data, theirs.numpy())


def test_cat_of_mixed_float_dtypes_gives_each_input_its_gradient_in_its_own_dtype(torch):
    half = mg.tensor(np.array([1.0, 2.0], np.float16), dtype=np.float16, requires_grad=True)
    single = mg.tensor(np.array([3.0], np.float32), dtype=np.float32, requires_grad=True)
    out = mg.cat([half, single])
    assert out.dtype == np.float32
    (out * mg.tensor(np.array([1.0, 2.0, 3.0], np.float32), dtype=np.float32)).sum().backward()
    assert half.grad.dtype == np.float16 and single.grad.dtype == np.float32
    np.testing.assert_array_equal(half.grad, [1.0, 2.0])
    np.testing.assert_array_equal(single.grad, [3.0])
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    (gx, gy) = mg.autograd.grad((mg.cat([x, single]) ** 2).sum(), [x, single], create_graph=True)
    assert gx.dtype == np.float64 and gy.dtype == np.float32
    (gx.sum() + gy.sum()).backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])


@pytest.mark.parametrize("default", [np.float64, np.float32])
@pytest.mark.parametrize("bounds", [{"min": 2.5}, {"min": 2}, {"max": 2}, {"min": 1, "max": 2.5}])
def test_clamping_an_integer_tensor_at_a_float_bound_gives_the_default_float_dtype(torch, default, bounds):
    before = mg.get_default_dtype()
    torch_before = torch.get_default_dtype()
    mg.set_default_dtype(default)
    torch.set_default_dtype(torch.float64 if default is np.float64 else torch.float32)
    try:
        a, ta = _pair(torch, [1, 3], "int64")
        ours, theirs = a.clamp(**bounds), ta.clamp(**bounds)
        assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
        np.testing.assert_array_equal(ours.data, theirs.numpy())
    finally:
        mg.set_default_dtype(before)
        torch.set_default_dtype(torch_before)


def test_clamp_in_place_refuses_a_float_bound_on_an_integer_tensor(torch):
    a, ta = _pair(torch, [1, 3], "int64")
    with pytest.raises(RuntimeError, match="can't be cast"):
        ta.clamp_(min=1.5)
    with pytest.raises(mg.errors.DtypeError, match="cannot be cast to this tensor's dtype int64 in place"):
        a.clamp_(min=1.5)
    np.testing.assert_array_equal(a.data, [1, 3])  # unchanged
    a.clamp_(min=2)
    np.testing.assert_array_equal(a.data, [2, 3])


def test_a_tensor_compared_with_none_or_a_string_is_unequal_as_torch(torch):
    for lib in (mg, torch):
        t = lib.tensor([1.0, 2.0])
        assert (t == None) is False and (t != None) is True  # noqa: E711  (what is tested)
        assert (None == t) is False and (t == "a") is False and (t != "a") is True  # noqa: E711, SIM300
        assert t in [None, t]
    assert (mg.tensor([1.0, 2.0]) == 1.0).tolist() == [True, False]


def test_flipping_a_0d_tensor_along_its_dim_0_is_the_tensor_as_torch(torch):
    x = mg.tensor(2.5, requires_grad=True)
    for dims in (0, -1, (0,)):
        torch_dims = (dims,) if isinstance(dims, int) else dims
        assert mg.flip(x, dims).item() == torch.flip(torch.tensor(2.5), torch_dims).item()
    x.flip(0).backward()
    assert x.grad == 1.0
    with pytest.raises(IndexError):
        x.flip(1)
    with pytest.raises(ValueError, match="repeated"):
        x.flip((0, 0))
