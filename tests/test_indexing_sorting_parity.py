"""Indexing, scatter/gather and sorting against PyTorch (the optional oracle): the cases
adversarial probing found wrong, each compared on values, dtypes, shapes and gradients
(or, where PyTorch's own gradient is a documented quirk, against finite differences)."""

from __future__ import annotations

import numpy as np
import pytest

import microgradnp as mg
from microgradnp.errors import DtypeError, InvalidArgumentError


def _mg(array, requires_grad=False):
    """A microgradnp tensor with the array's own dtype (mg.tensor alone makes ints float)."""
    array = np.asarray(array)
    return mg.tensor(array, dtype=array.dtype, requires_grad=requires_grad)


def _same(ours, theirs):
    """Same dtype, shape and values (nan where nan)."""
    expected = theirs.detach().numpy()
    assert ours.dtype == expected.dtype
    np.testing.assert_array_equal(ours.data, expected)


REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "bool"])
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("reduce", REDUCTIONS)
def test_scatter_reduce_keeps_integer_and_bool_dtypes(dtype, include_self, reduce):
    torch = pytest.importorskip("torch")
    if dtype == "bool" and reduce == "mean":
        pytest.skip("PyTorch has no bool mean (checked below)")
    x = np.array([[7, 0, 3, 9], [4, 5, 0, 1]]).astype(dtype)
    src = np.array([[2, 6, 1, 3], [5, 2, 0, 8], [1, 1, 4, 2]]).astype(dtype)
    index = np.array([[0, 2, 1, 0], [0, 2, 3, 3], [1, 2, 1, 0]])
    ours = _mg(x).scatter_reduce(1, _mg(index[:2]), _mg(src), reduce, include_self=include_self)
    theirs = torch.from_numpy(x).scatter_reduce(1, torch.from_numpy(index[:2]), torch.from_numpy(src), reduce,
                                                include_self=include_self)
    _same(ours, theirs)


def test_scatter_reduce_integer_mean_rounds_down_and_bool_mean_is_refused():
    torch = pytest.importorskip("torch")
    x, src, index = np.zeros(3, np.int64), np.array([-3, -4, 5, -1]), np.array([0, 0, 1, 2])
    for include_self in (True, False):
        ours = _mg(x).scatter_reduce(0, _mg(index), _mg(src), "mean", include_self=include_self)
        theirs = torch.from_numpy(x).scatter_reduce(0, torch.from_numpy(index), torch.from_numpy(src), "mean",
                                                    include_self=include_self)
        _same(ours, theirs)
    with pytest.raises(DtypeError, match="bool"):
        _mg(np.array([True, False])).scatter_reduce(0, _mg(np.array([0])), _mg(np.array([True])), "mean")


@pytest.mark.filterwarnings("ignore:The reduce argument of torch.scatter")
def test_scatter_with_reduce_on_integers_keeps_dtype():
    torch = pytest.importorskip("torch")
    x, index, src = np.array([[1, 2, 3], [4, 5, 6]]), np.array([[0], [2]]), np.array([[2], [3]])
    for reduce in ("add", "multiply"):
        _same(_mg(x).scatter(1, _mg(index), _mg(src), reduce=reduce),
              torch.from_numpy(x).scatter(1, torch.from_numpy(index), torch.from_numpy(src), reduce=reduce))


@pytest.mark.parametrize("reduce", REDUCTIONS)
def test_scatter_reduce_of_0d_tensors(reduce):
    torch = pytest.importorskip("torch")
    x = _mg(np.array(3.0), requires_grad=True)
    src = _mg(np.array(5.0), requires_grad=True)
    out = x.scatter_reduce(0, _mg(np.array(0)), src, reduce, include_self=True)
    tx = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    tsrc = torch.tensor(5.0, dtype=torch.float64, requires_grad=True)
    expected = tx.scatter_reduce(0, torch.tensor(0), tsrc, reduce, include_self=True)
    assert out.shape == ()
    np.testing.assert_allclose(out.data, expected.detach().numpy())
    out.backward()
    expected.backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy())
    np.testing.assert_allclose(src.grad, tsrc.grad.numpy())


@pytest.mark.filterwarnings("ignore:The reduce argument of torch.scatter")
def test_scatter_function_takes_reduce():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, src = rng.standard_normal((3, 4)), rng.standard_normal((3, 2))
    index = np.array([[0, 0], [3, 1], [2, 2]])
    for reduce in ("add", "multiply"):
        ours = mg.scatter(_mg(x), 1, _mg(index), _mg(src), reduce=reduce)
        theirs = torch.scatter(torch.from_numpy(x), 1, torch.from_numpy(index), torch.from_numpy(src), reduce=reduce)
        np.testing.assert_allclose(ours.data, theirs.numpy())
        ours = mg.scatter(_mg(x), 1, _mg(index), value=2.5, reduce=reduce)
        theirs = torch.scatter(torch.from_numpy(x), 1, torch.from_numpy(index), value=2.5, reduce=reduce)
        np.testing.assert_allclose(ours.data, theirs.numpy())


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "bool"])
def test_index_copy_keeps_the_dtype(dtype):
    torch = pytest.importorskip("torch")
    x = np.array([[1, 0, 3], [4, 5, 0]]).astype(dtype)
    source = np.array([[1, 1, 0]]).astype(dtype)
    _same(_mg(x).index_copy(0, _mg(np.array([1])), _mg(source)),
          torch.from_numpy(x).index_copy(0, torch.tensor([1]), torch.from_numpy(source)))


def test_index_copy_with_a_repeated_index_copies_the_last_slice():
    """Not the sum of the slices: the last write wins (as on PyTorch's CPU), and only the
    winner gets a gradient (PyTorch gives one to every duplicate, which the forward does not
    use: finite differences say ours is the derivative)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x, source = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    index = np.array([0, 0, 2])
    ours = _mg(x).index_copy(0, _mg(index), _mg(source))
    theirs = torch.from_numpy(x).index_copy(0, torch.from_numpy(index), torch.from_numpy(source))
    np.testing.assert_allclose(ours.data, theirs.numpy())
    a, b = _mg(x, requires_grad=True), _mg(source, requires_grad=True)
    assert mg.gradcheck(lambda a, b: a.index_copy(0, _mg(index), b), (a, b))


def test_masked_fill_broadcasts_the_input_to_a_larger_mask():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x, mask = rng.standard_normal(4), rng.random((3, 4)) < 0.5
    ours = _mg(x, requires_grad=True)
    out = ours.masked_fill(_mg(mask), 2.0)
    tx = torch.from_numpy(x).requires_grad_()
    expected = tx.masked_fill(torch.from_numpy(mask), 2.0)
    weights = rng.standard_normal((3, 4))
    np.testing.assert_allclose(out.data, expected.detach().numpy())
    (out * mg.tensor(weights)).sum().backward()
    (expected * torch.from_numpy(weights)).sum().backward()
    np.testing.assert_allclose(ours.grad, tx.grad.numpy())
    with pytest.raises(Exception, match="masked_fill_"):  # in place, the shape cannot change (as in PyTorch)
        _mg(x).masked_fill_(_mg(mask), 2.0)


def test_masked_scatter_of_0d_tensors():
    torch = pytest.importorskip("torch")
    for flag in (True, False):
        ours = _mg(np.array(2.0)).masked_scatter(_mg(np.array(flag)), _mg(np.array([5.0])))
        theirs = torch.tensor(2.0, dtype=torch.float64).masked_scatter(
            torch.tensor(flag), torch.tensor([5.0], dtype=torch.float64))
        _same(ours, theirs)


def test_index_add_of_an_integer_tensor_keeps_its_dtype():
    torch = pytest.importorskip("torch")
    x, source, index = np.array([[1, 2], [3, 4]]), np.array([[5, 6]]), np.array([1])
    ours = _mg(x).index_add(0, _mg(index), _mg(source), alpha=2.0)
    _same(ours, torch.from_numpy(x).index_add(0, torch.from_numpy(index), torch.from_numpy(source), alpha=2))
    with pytest.raises(InvalidArgumentError, match=r"alpha=2\.5"):  # (PyTorch truncates it to 2, silently)
        _mg(x).index_add(0, _mg(index), _mg(source), alpha=2.5)


@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("case", ["no zero", "zero in self", "zero in src"])
def test_scatter_reduce_prod_has_second_derivatives(case, include_self):
    """Finite differences of the gradient (built with create_graph=True), zeros included."""
    rng = np.random.default_rng(3)
    x, src = rng.uniform(0.5, 2, (3, 4)), rng.uniform(0.5, 2, (2, 4))
    if case == "zero in self":
        x[0, 0] = x[1, 1] = 0.0
    elif case == "zero in src":
        src[0, 0] = src[1, 1] = 0.0
    index = _mg(np.array([[0, 1, 2, 0], [0, 1, 2, 1]]))
    weights = mg.tensor(rng.standard_normal((3, 4)))

    def gradient_norm(a, b):
        grads = mg.grad((a.scatter_reduce(0, index, b, "prod", include_self=include_self) * weights).sum(), [a, b],
                        create_graph=True)
        return sum(((g * g).sum() for g in grads), mg.tensor(0.0))

    assert mg.gradcheck(gradient_norm, (_mg(x, requires_grad=True), _mg(src, requires_grad=True)))


def test_scatter_reduce_prod_refuses_second_derivatives_at_two_zeros():
    x, src = _mg(np.array([0.0, 2.0]), requires_grad=True), _mg(np.array([0.0, 3.0]), requires_grad=True)
    out = x.scatter_reduce(0, _mg(np.array([0, 1])), src, "prod")
    first = mg.grad(out.sum(), [x, src], retain_graph=True)[0]  # the first gradient works
    np.testing.assert_array_equal(first.data, [0.0, 3.0])
    with pytest.raises(RuntimeError, match="two or more"):
        mg.grad(out.sum(), [x, src], create_graph=True)


@pytest.mark.parametrize(("data", "low", "high"), [([0.0, 1, 2, 3, 4, 5, 6], 1, 1), ([0.0, 1, 2, 3, 4, 5, 6], 3, 3),
                                                   ([2.0, 2, 2], 0, 0), ([2.0, 2, 2], 5, 5), ([0.0, 1, 2], 0, 2)])
def test_histc_with_equal_bounds_takes_the_datas_range_as_pytorch(data, low, high):
    torch = pytest.importorskip("torch")
    ours = mg.histc(mg.tensor(data), 4, low, high)
    theirs = torch.histc(torch.tensor(data, dtype=torch.float64), 4, low, high)
    np.testing.assert_array_equal(ours.data, theirs.numpy())
