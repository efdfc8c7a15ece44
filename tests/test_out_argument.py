"""PyTorch's out= argument: results written into the given tensor (its memory, its dtype),
resized with PyTorch's warning, refused where a gradient is wanted, tuples for the functions
returning several tensors."""

import warnings

import numpy as np
import pytest

import microgradnp as mg
from microgradnp.ops.out_argument import LINALG_TAKES_OUT, SPECIAL_TAKES_OUT, TAKES_OUT

RNG = np.random.default_rng(3)
X = RNG.standard_normal((3, 4))
Y = RNG.standard_normal((3, 4))
SQUARE = RNG.standard_normal((3, 3)) + 3 * np.eye(3)

# name -> (microgradnp call, torch call), each given its module and the out tensor(s)
CASES = {
    "exp": (lambda m, out: m.exp(m.tensor(X), out=out), (3, 4)),
    "add alpha": (lambda m, out: m.add(m.tensor(X), m.tensor(Y), alpha=2, out=out), (3, 4)),
    "mul scalar": (lambda m, out: m.mul(m.tensor(X), 3.0, out=out), (3, 4)),
    "matmul": (lambda m, out: m.matmul(m.tensor(X), m.tensor(Y).T, out=out), (3, 3)),
    "sum dim": (lambda m, out: m.sum(m.tensor(X), dim=1, out=out), (3,)),
    "mean keepdim": (lambda m, out: m.mean(m.tensor(X), dim=0, keepdim=True, out=out), (1, 4)),
    "cat": (lambda m, out: m.cat([m.tensor(X), m.tensor(Y)], dim=0, out=out), (6, 4)),
    "stack": (lambda m, out: m.stack([m.tensor(X), m.tensor(Y)], out=out), (2, 3, 4)),
    "clamp": (lambda m, out: m.clamp(m.tensor(X), -0.5, 0.5, out=out), (3, 4)),
    "argmax": (lambda m, out: m.argmax(m.tensor(X), 1, out=out), (3,)),
    "where": (lambda m, out: m.where(m.tensor(X) > 0, m.tensor(X), m.tensor(Y), out=out), (3, 4)),
    "linalg.inv": (lambda m, out: m.linalg.inv(m.tensor(SQUARE), out=out), (3, 3)),
    "special.expit": (lambda m, out: m.special.expit(m.tensor(X), out=out), (3, 4)),
}


@pytest.mark.parametrize("case", CASES)
def test_out_gets_the_result_in_place_as_torch(case):
    torch = pytest.importorskip("torch")
    call, shape = CASES[case]
    dtype = "int64" if case == "argmax" else "float64"  # (indices go into an int64 tensor)
    out = mg.empty(*shape, dtype=getattr(mg, dtype))
    memory = out.data
    returned = call(mg, out)
    t_out = torch.empty(*shape, dtype=getattr(torch, dtype))
    call(torch, t_out)
    assert returned is out and out.data is memory  # written into its memory, returned itself
    np.testing.assert_allclose(out.data, t_out.numpy(), rtol=1e-12, atol=1e-12)


def test_out_keeps_its_dtype_and_refuses_a_lower_category():
    ints = mg.tensor(np.arange(6).reshape(2, 3), dtype=mg.int64)
    out = mg.empty(2, 3, dtype=mg.float32)
    assert mg.add(ints, 1, out=out).dtype == mg.float32  # ints into floats: allowed, as in PyTorch
    np.testing.assert_array_equal(out.data, np.arange(1, 7).reshape(2, 3))
    with pytest.raises(RuntimeError, match="can't be cast to the desired output type int64"):
        mg.add(mg.ones(2, 3), 1, out=mg.empty(2, 3, dtype=mg.int64))
    flags = mg.empty(2, 3, dtype=mg.float64)
    mg.gt(ints, 2, out=flags)  # bools into floats
    np.testing.assert_array_equal(flags.data, ints.data > 2)


def test_factories_take_out_dtype():
    torch = pytest.importorskip("torch")
    out, t_out = mg.empty(0, dtype=mg.int64), torch.empty(0, dtype=torch.long)
    mg.arange(5, out=out)
    torch.arange(5, out=t_out)
    assert out.dtype == mg.int64
    np.testing.assert_array_equal(out.data, t_out.numpy())
    assert mg.zeros(2, 3, out=mg.empty(0, dtype=mg.int32)).dtype == mg.int32


def test_a_view_as_out_writes_through():
    base = mg.zeros(4, 3)
    mg.add(mg.ones(2, 3), 1, out=base[1:3])
    np.testing.assert_array_equal(base.data, [[0, 0, 0], [2, 2, 2], [2, 2, 2], [0, 0, 0]])


def test_resizing_warns_unless_out_is_empty():
    with pytest.warns(UserWarning, match=r"resized since it had shape \[5\].*required output shape \[2, 3\]"):
        resized = mg.add(mg.ones(2, 3), 1, out=mg.empty(5))
    assert resized.shape == (2, 3)
    np.testing.assert_array_equal(resized.data, np.full((2, 3), 2.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert mg.add(mg.ones(2, 3), 1, out=mg.empty(0)).shape == (2, 3)


def test_tuple_results_fill_a_tuple_of_outs():
    torch = pytest.importorskip("torch")
    values, indices = mg.empty(3), mg.empty(3, dtype=mg.int64)
    result = mg.max(mg.tensor(X), dim=1, out=(values, indices))
    t_values, t_indices = torch.max(torch.tensor(X), dim=1)
    assert result.values is values and result.indices is indices
    np.testing.assert_array_equal(values.data, t_values.numpy())
    np.testing.assert_array_equal(indices.data, t_indices.numpy())
    sorted_values, order = mg.empty(3, 4), mg.empty(3, 4, dtype=mg.int64)
    mg.sort(mg.tensor(X), dim=1, descending=True, out=[sorted_values, order])
    np.testing.assert_array_equal(order.data, torch.sort(torch.tensor(X), dim=1, descending=True).indices.numpy())
    with pytest.raises(TypeError, match="must be a tuple of 2 Tensors"):
        mg.max(mg.tensor(X), dim=1, out=values)
    with pytest.raises(TypeError, match="returns one tensor"):
        mg.exp(mg.tensor(X), out=(values, indices))


def test_out_refuses_what_needs_a_gradient():
    w = mg.ones(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"don't support automatic differentiation.*mg.no_grad"):
        mg.mul(w, 2, out=mg.empty(2, 3))
    with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
        mg.cat([w, mg.ones(2, 3)], out=mg.empty(4, 3))  # a tensor inside a list
    with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
        mg.exp(mg.ones(2, 3), out=mg.empty(2, 3, requires_grad=True))
    with mg.no_grad():  # no gradient wanted: as in PyTorch, allowed
        out = mg.mul(w, 2, out=mg.empty(2, 3))
    assert not out.requires_grad
    np.testing.assert_array_equal(out.data, np.full((2, 3), 2.0))


def test_writing_a_saved_tensor_through_out_makes_backward_refuse():
    w, saved = mg.ones(3, requires_grad=True), mg.ones(3)
    loss = (w * saved).sum()
    mg.exp(mg.zeros(3), out=saved)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        loss.backward()


def test_out_must_be_a_tensor():
    with pytest.raises(TypeError, match="argument 'out' must be a Tensor"):
        mg.add(mg.ones(2), 1, out=np.empty(2))


@pytest.mark.parametrize(("namespace", "names"), [("", TAKES_OUT), ("linalg", LINALG_TAKES_OUT),
                                                  ("special", SPECIAL_TAKES_OUT)])
def test_every_listed_function_exists_and_takes_out(namespace, names):
    module = getattr(mg, namespace) if namespace else mg
    missing = sorted(name for name in names if getattr(getattr(module, name, None), "__wrapped__", None) is None)
    assert not missing, f"not given out=: {missing}"
