"""The dtype of a binary operation's result follows PyTorch's rule (``torch.result_type``),
not NumPy's: an int and a float tensor give the float tensor's dtype, and 0-d tensors and
numbers decide the dtype only when they are of a higher kind than the tensors with
dimensions. Checked against PyTorch (run with its default dtype set to float64, which is
microgradnp's default) where it is installed, and against the rule written out otherwise."""

from __future__ import annotations

import itertools
import operator

import numpy as np
import pytest

import microgradnp as mg
from microgradnp.ops.primitive import promote, result_dtype

RNG = np.random.default_rng(0)

DTYPES = [np.bool_, np.uint8, np.int8, np.int16, np.int32, np.int64, np.float16, np.float32, np.float64]
# The operators, as the operator module spells them (maximum is called on each library below).
BINARY = {name: getattr(operator, name) for name in ("add", "sub", "mul", "truediv", "pow", "mod", "floordiv")}
BINARY["maximum"] = None


def _values(dtype, shape):
    if np.dtype(dtype) == np.bool_:
        return np.ones(shape, dtype=bool)  # (True: no integer division by zero)
    return np.resize(np.array([1, 2, 3], dtype=dtype), shape)


@pytest.fixture(scope="module")
def torch():
    torch = pytest.importorskip("torch")
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # microgradnp's default dtype
    yield torch
    torch.set_default_dtype(previous)


def _allowed(name, dtype_a, dtype_b) -> bool:
    kinds = {np.dtype(dtype_a).kind, np.dtype(dtype_b).kind}
    if kinds == {"b"} and name in ("sub", "pow", "mod", "floordiv", "truediv"):
        return False  # PyTorch refuses (or NumPy does) on two bools
    if name == "sub" and "b" in kinds:
        return False  # bool - x: PyTorch refuses
    # integer powers: negative exponents differ (an error in NumPy)
    return not (name == "pow" and kinds <= {"b", "u", "i"})


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("shapes", [((3,), (3,)), ((3,), ()), ((), (3,)), ((), ())], ids=str)
def test_tensor_pairs_give_pytorchs_dtype(torch, name, shapes):
    mismatches = []
    for dtype_a, dtype_b in itertools.product(DTYPES, DTYPES):
        if not _allowed(name, dtype_a, dtype_b):
            continue
        a, b = _values(dtype_a, shapes[0]), _values(dtype_b, shapes[1])
        function = BINARY[name]
        theirs, ours = (torch.from_numpy(np.asarray(a)), torch.from_numpy(np.asarray(b))), \
            (mg.tensor(a, dtype=dtype_a), mg.tensor(b, dtype=dtype_b))
        expected = function(*theirs) if function else torch.maximum(*theirs)
        got = function(*ours) if function else mg.maximum(*ours)
        want = np.dtype(str(expected.dtype).removeprefix("torch."))
        if got.dtype != want:
            mismatches.append(f"{np.dtype(dtype_a)}{shapes[0]} {name} {np.dtype(dtype_b)}{shapes[1]}: "
                              f"{got.dtype}, PyTorch {want}")
        elif want.kind == "f":
            np.testing.assert_allclose(got.data, expected.numpy(), rtol=1e-3, equal_nan=True)
        else:
            np.testing.assert_array_equal(got.data, expected.numpy())
    assert not mismatches, "\n".join(mismatches)


@pytest.mark.parametrize("number", [True, 2, 2.5, np.float64(2.5), np.float32(2.5), np.int64(2), np.int8(2)],
                         ids=repr)
@pytest.mark.parametrize("dtype", DTYPES[1:], ids=lambda d: np.dtype(d).name)
def test_numbers_are_weak_as_in_pytorch(torch, number, dtype):
    x = _values(dtype, (3,))
    for op in (lambda a, b: a * b, lambda a, b: b * a, lambda a, b: a + b):
        expected = op(torch.from_numpy(x), number)
        got = op(mg.tensor(x, dtype=dtype), number)
        assert got.dtype == np.dtype(str(expected.dtype).removeprefix("torch.")), (dtype, number)


def test_float32_stays_float32_with_float64_scalars_and_0d_tensors():
    x = mg.tensor(np.ones(3, np.float32), requires_grad=True)
    scale = mg.tensor(2.0, requires_grad=True)  # 0-d, float64
    y = x * scale + np.float64(1.5) - mg.tensor(0.5) / np.sqrt(2.0)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32 and scale.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad, [2.0, 2.0, 2.0])
    np.testing.assert_allclose(scale.grad, 3.0)


def test_int_and_float_tensors_give_the_float_dtype():
    ints = mg.tensor([1, 2, 3], dtype=np.int32)
    floats = mg.tensor([0.5, 1.5, 2.5], dtype=np.float32, requires_grad=True)
    for result in (ints + floats, floats * ints, ints / floats, mg.where(ints > 1, ints, floats),
                   mg.maximum(ints, floats), floats ** ints, mg.atan2(ints, floats)):
        assert result.dtype == np.float32
    (ints * floats).sum().backward()
    assert floats.grad.dtype == np.float32
    np.testing.assert_array_equal(floats.grad, [1, 2, 3])


def test_int_tensors_with_a_float_number_give_the_default_dtype():
    ints = mg.tensor([1, 2], dtype=np.int32)
    assert (ints * 0.5).dtype == np.float64 and (ints / ints).dtype == np.float64
    mg.set_default_dtype(np.float32)
    try:
        assert (ints * 0.5).dtype == np.float32
        assert (ints / ints).dtype == np.float32
        np.testing.assert_array_equal((ints * 0.5).data, [0.5, 1.0])
    finally:
        mg.set_default_dtype(np.float64)


def test_0d_tensors_of_a_higher_kind_decide():
    ints = mg.tensor([1, 2], dtype=np.int32)
    assert (ints + mg.tensor(1.5)).dtype == np.float64  # a float 0-d tensor over int tensors
    assert (ints + mg.tensor(3, dtype=np.int64)).dtype == np.int32  # same kind: the tensor with dims
    assert (mg.tensor([True, False], dtype=bool) + mg.tensor(3, dtype=np.int64)).dtype == np.int64
    assert (mg.tensor(1.5, dtype=np.float32) + mg.tensor(2.5)).dtype == np.float64  # both 0-d


def test_the_rule_itself():
    i32, f32, f16 = np.ones(2, np.int32), np.ones(2, np.float32), np.ones(2, np.float16)
    assert result_dtype(i32, f32) == np.float32
    assert result_dtype(np.ones(2, np.int64), f16) == np.float16
    assert result_dtype(np.ones(2, np.uint8), np.ones(2, np.int8)) == np.int16
    assert result_dtype(f32, np.array(1.0)) == np.float32
    assert result_dtype(i32, np.array(1.0)) == np.float64
    assert result_dtype(i32, 2.5) == np.float64 and result_dtype(i32, 2) == np.int32
    assert result_dtype(np.ones(2, bool), 2) == np.int64
    assert result_dtype(i32, "x") is None
    a, b = promote(i32, f32)
    assert a.dtype == b.dtype == np.float32
    same = np.ones(2)
    assert promote(same, same)[0] is same  # nothing cast when NumPy already agrees
    assert mg.result_type(mg.tensor([1, 2], dtype=np.int32), 2.5) == np.float64
    assert mg.promote_types(np.int64, np.float16) == np.float16


def test_in_place_operations_cast_as_pytorch(torch):
    ints = mg.tensor([1, 2], dtype=np.int32)
    for update in (lambda t, m: t.add_(m.tensor([1.5, 2.5])), lambda t, m: t.div_(2), lambda t, m: t.mul_(0.5)):
        with pytest.raises(RuntimeError, match="cannot be cast to this tensor's dtype int32"):
            update(ints, mg)
        with pytest.raises(RuntimeError):
            update(torch.tensor([1, 2], dtype=torch.int32), torch)
    with pytest.raises(TypeError, match="t = t / other"):  # (a TypeError too, as NumPy's refusal)
        ints /= 2
    ints += mg.tensor([True, False], dtype=bool)
    ints *= mg.tensor(3, dtype=np.int64)
    np.testing.assert_array_equal(ints.data, [6, 6])
    assert ints.dtype == np.int32
    # float32 data with a float64 0-d tensor: computed in float32, as PyTorch
    x = mg.tensor([1.0, 3.0], dtype=np.float32)
    tx = torch.tensor([1.0, 3.0], dtype=torch.float32)
    third = 1 / 3
    x.mul_(mg.tensor(third))
    tx.mul_(torch.tensor(third, dtype=torch.float64))
    np.testing.assert_array_equal(x.data, tx.numpy())


def test_pytorchs_dtype_names_and_casts(torch):
    pairs = {"float16": "float16", "half": "float16", "float32": "float32", "float": "float32", "float64": "float64",
             "double": "float64", "int8": "int8", "uint8": "uint8", "int16": "int16", "short": "int16",
             "int32": "int32", "int": "int32", "int64": "int64", "long": "int64", "bool": "bool"}
    for name, numpy_name in pairs.items():
        assert getattr(mg, name) == np.dtype(numpy_name) == np.dtype(str(getattr(torch, name)).removeprefix("torch."))
    assert mg.zeros(2, dtype=mg.float32).dtype == np.float32
    x = mg.tensor([1.5, -2.5], requires_grad=True)
    for method in ("half", "byte", "char", "short", "int", "long", "bool", "float", "double"):
        ours, theirs = getattr(x, method)(), getattr(torch.tensor([1.5, -2.5], dtype=torch.float64), method)()
        assert ours.dtype == np.dtype(str(theirs.dtype).removeprefix("torch.")), method
        np.testing.assert_array_equal(ours.data, theirs.numpy())
    as_long = x.to(mg.long)  # an integer cast: outside the graph, as PyTorch's
    assert as_long.dtype == np.int64 and not as_long.requires_grad
    np.testing.assert_array_equal(as_long.data, [1, -2])
    assert x.to("cpu") is x and x.to("cpu", mg.float64) is x and x.to(x) is x
    assert x.to(x, copy=True) is not x
    x.to(dtype=mg.float16).sum().backward()  # the float casts stay differentiable
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])
    with pytest.raises(TypeError, match="at most one dtype"):
        x.to(mg.float32, mg.float64)


def test_star_import_leaves_builtins_alone():
    namespace: dict = {}
    exec("from microgradnp import *", namespace)
    assert "float" not in namespace and "range" not in namespace and "all" not in namespace
    assert "tensor" in namespace and "nn" in namespace and "float32" in namespace


@pytest.mark.parametrize("dtype", ["int32", "int16", "uint8", "float16", "float64"])
def test_view_as_another_dtype_reinterprets_bytes_as_pytorch(torch, dtype):
    data = RNG.normal(size=(3, 4)).astype(np.float32)
    ours, theirs = mg.tensor(data).view(getattr(mg, dtype)), torch.tensor(data).view(getattr(torch, dtype))
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_array_equal(ours.data, theirs.numpy())
    with pytest.raises(RuntimeError):  # a last axis the new size does not divide: both refuse
        mg.tensor(RNG.normal(size=(3, 3)).astype(np.float32)).view(mg.float64)


@pytest.mark.parametrize("name", ["copysign", "ldexp", "atan2", "hypot", "fmax", "fmin", "xlogy", "logaddexp",
                                  "true_divide", "floor_divide", "remainder", "fmod", "float_power"])
def test_binary_functions_give_pytorchs_dtype(torch, name):
    f32, i32 = np.array([1.5, -2.5, 3.0], np.float32), np.array([1, -2, 3], np.int32)
    for a, b in [(f32, np.array(-2.0)), (i32, f32), (f32, i32), (i32, np.array(2.0)), (f32.astype(np.float64), f32)]:
        if name in ("floor_divide", "remainder", "fmod") and b.dtype.kind == "i" and a.dtype.kind == "i":
            continue
        theirs = getattr(torch, name)(torch.from_numpy(a), torch.from_numpy(b))
        ours = getattr(mg, name)(mg.from_numpy(a), mg.from_numpy(b))
        assert ours.dtype == np.dtype(str(theirs.dtype).removeprefix("torch.")), (a.dtype, b.dtype, b.shape)
        np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-6, equal_nan=True)
