"""Tensor methods under PyTorch's names (clamp, neg, pow, mm, t, expand, repeat, split,
unbind, narrow, amax, rsqrt, comparisons, casts, new_*, in-place exp_ and friends):
values and gradients against finite differences and against PyTorch (optional oracle)."""

from __future__ import annotations

import numpy as np
import pytest

import microgradnp as mg

RNG = np.random.default_rng(3)
A = RNG.uniform(0.5, 2.0, size=(3, 4)) * RNG.choice([-1, 1], size=(3, 4))
B = RNG.normal(size=(4, 3))
V = RNG.normal(size=4)

# name -> the call, written once for both libraries (x: a tensor of A's values).
CASES = {
    "clamp": lambda x: x.clamp(min=-0.7, max=1.1),
    "clamp_min": lambda x: x.clamp(min=0),
    "clamp_min_method": lambda x: x.clamp_min(-0.6),
    "clamp_max_method": lambda x: x.clamp_max(0.9),
    "mT": lambda x: x[None].mT * 2,
    "neg": lambda x: x.neg(),
    "pow": lambda x: x.pow(3),
    "mm": lambda x: x.mm(x.t()),
    "t": lambda x: x.t() * 2,
    "expand": lambda x: x[:1].expand(5, -1, -1),
    "expand_as": lambda x: x[:, :1].expand_as(x),
    "repeat": lambda x: x.repeat(2, 1, 3),
    "split": lambda x: x.split(3, 1)[1],
    "split_sizes": lambda x: x.split([1, 2], 0)[1],
    "unbind": lambda x: x.unbind(1)[2],
    "narrow": lambda x: x.narrow(1, 1, 2),
    "amax": lambda x: x.amax(1),
    "amin": lambda x: x.amin(0, keepdim=True),
    "rsqrt": lambda x: (x * x).rsqrt(),
    "lerp": lambda x: x.lerp(x * x, 0.3),
    "add_alpha": lambda x: x.add(x * x, alpha=2),
    "sub_alpha": lambda x: x.sub(x * x, alpha=0.5),
    "mul": lambda x: x.mul(x),
    "div": lambda x: x.div(x * x + 1),
    "view_as": lambda x: x.view_as(x.reshape(12)),
    "where": lambda x: x.where(x > 0, x * 3),
    "norm_p1": lambda x: x.norm(p=1),
    "norm_p2_dim": lambda x: x.norm(p=2, dim=1),
    "norm_fro_keepdim": lambda x: x.norm(p="fro", dim=(0, 1), keepdim=True),
    "norm_p3_dim0": lambda x: x.norm(p=3, dim=0),
    "norm_inf_3d": lambda x: x.reshape(2, 3, 2).norm(p=float("inf"), dim=(0, 2)),
}


def _value_and_gradient(case, x):
    out = CASES[case](x)
    weights = np.linspace(-1, 1, out.numel()).reshape(tuple(out.shape))
    return out, weights


@pytest.mark.parametrize("case", CASES)
def test_gradients_against_finite_differences(case):
    x = mg.tensor(A, requires_grad=True)
    assert mg.gradcheck(lambda t: (CASES[case](t) * _value_and_gradient(case, t)[1]).sum(), (x,))


@pytest.mark.parametrize("case", CASES)
def test_values_and_gradients_against_pytorch(case):
    torch = pytest.importorskip("torch")
    x, tx = mg.tensor(A, requires_grad=True), torch.tensor(A, requires_grad=True)
    ours, weights = _value_and_gradient(case, x)
    theirs = CASES[case](tx)
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-12, atol=1e-15)
    (ours * weights).sum().backward()
    (theirs * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_products_of_1d_and_3d_tensors_and_their_shape_errors():
    v = mg.tensor(V, requires_grad=True)
    assert v.dot(v).item() == pytest.approx(V @ V)
    batch = mg.tensor(RNG.normal(size=(2, 3, 4)))
    assert batch.bmm(batch.permute(0, 2, 1)).shape == (2, 3, 3)
    with pytest.raises(ValueError, match="mm: expects two 2-D tensors"):
        v.mm(v)
    with pytest.raises(ValueError, match="bmm: expects two 3-D"):
        v.bmm(v)
    with pytest.raises(ValueError, match="dot: expects two 1-D"):
        batch.dot(v)
    with pytest.raises(ValueError, match="at most 2 dimensions"):
        batch.t()
    with pytest.raises(ValueError, match="at least one per dimension"):
        batch.repeat(2, 2)
    with pytest.raises(ValueError, match="add up to"):
        v.split([1, 2])
    with pytest.raises(ValueError, match="at least one of min and max"):
        v.clamp()


def test_comparisons_tests_and_casts_are_outside_the_graph():
    x = mg.tensor([[1.5, -2.0], [np.nan, np.inf]], requires_grad=True)
    for name, expected in {"eq": x.data == 1.5, "ne": x.data != 1.5, "lt": x.data < 0, "le": x.data <= 1.5,
                           "gt": x.data > 0, "ge": x.data >= -2}.items():
        result = getattr(x, name)(1.5 if name in ("eq", "ne", "le") else 0 if name in ("lt", "gt") else -2)
        assert result.dtype == np.bool_ and not result.requires_grad
        np.testing.assert_array_equal(result.data, expected)
    np.testing.assert_array_equal(x.isnan().data, [[False, False], [True, False]])
    np.testing.assert_array_equal(x.isfinite().data, [[True, True], [False, False]])
    np.testing.assert_array_equal(x.isinf().data, [[False, False], [False, True]])
    assert x[0].long().dtype == np.int64 and x[0].long().data.tolist() == [1, -2]
    assert x[0].int().dtype == np.int32 and x.bool().data.tolist() == [[True, True], [True, True]]
    assert not x[0].long().requires_grad
    assert x.dim() == x.ndimension() == 2 and x.contiguous() is x and x.cpu() is x
    assert x.equal(x.detach()) is False  # nan != nan, as torch.equal
    assert mg.tensor([1.0, 2.0]).equal([1.0, 2.0]) and not mg.tensor([1.0, 2.0]).equal([1.0, 2.0, 3.0])
    assert mg.tensor([1.0, 2.0]).allclose(mg.tensor([1.0, 2.0 + 1e-9]))


def test_new_constructors_take_this_tensors_dtype():
    x = mg.tensor(A, dtype=np.float32)
    for made, value in [(x.new_zeros(2, 3), 0), (x.new_ones((2, 3)), 1), (x.new_full((2, 3), 7.5), 7.5)]:
        assert made.shape == (2, 3) and made.dtype == np.float32 and np.all(made.data == value)
    copied = x.new_tensor([1, 2], requires_grad=True)
    assert copied.dtype == np.float32 and copied.requires_grad and copied.is_leaf
    assert x.new_zeros(2, dtype=np.float64).dtype == np.float64
    assert x.type_as(mg.tensor([1.0])).dtype == np.float64


def test_in_place_methods_write_the_operations_own_values_and_record_graph_tensors():
    for name in ("exp", "log", "sqrt", "abs", "neg", "sigmoid", "tanh", "relu", "square", "reciprocal", "floor"):
        data = np.abs(A) if name in ("log", "sqrt") else A.copy()
        t = mg.tensor(data)
        before = t._version
        assert getattr(t, f"{name}_")() is t
        np.testing.assert_array_equal(t.data, getattr(mg.tensor(data), name)().data)
        assert t._version == before + 1
    t = mg.tensor(A.copy())
    t.pow_(2)
    np.testing.assert_array_equal(t.data, A**2)
    t.masked_fill_(t.data > 1, 0.0)
    assert t.data.max() <= 1
    leaf = mg.tensor(A, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"exp_.*requires grad"):
        leaf.exp_()
    doubled = leaf * 2
    assert doubled.sigmoid_() is doubled and doubled.op == "sigmoid"  # recorded in the graph, as PyTorch
    with mg.no_grad():
        leaf.relu_()
    assert leaf.data.min() == 0
    with pytest.raises(ValueError, match="cannot write a result"):
        mg.tensor([1.0, 2.0]).pow_(mg.tensor([[1.0], [2.0]]))


def test_max_with_dim_sends_the_gradient_to_the_chosen_element_and_amax_shares_ties():
    """PyTorch: ``max(dim=)`` is a selection (one element gets the gradient), ``amax`` and the
    full ``max()`` share it evenly between tied elements."""
    data = [[1.0, 1.0, 0.0], [2.0, 3.0, 3.0]]
    x = mg.tensor(data, requires_grad=True)
    values, indices = x.max(dim=1)
    (values * mg.tensor([1.0, 2.0])).sum().backward()
    np.testing.assert_array_equal(x.grad, [[1, 0, 0], [0, 2, 0]])
    np.testing.assert_array_equal(indices.data, [0, 1])
    y = mg.tensor(data, requires_grad=True)
    y.amax(1).sum().backward()
    np.testing.assert_array_equal(y.grad, [[0.5, 0.5, 0], [0, 0.5, 0.5]])
    torch = pytest.importorskip("torch")
    for method in ("max", "min"):
        ours, theirs = mg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
        getattr(ours, method)(dim=0, keepdim=True).values.sum().backward()
        getattr(theirs, method)(dim=0, keepdim=True).values.sum().backward()
        np.testing.assert_array_equal(ours.grad, theirs.grad.numpy())


def test_one_hot_takes_pytorchs_argument_name():
    from microgradnp.nn import functional as F

    codes = F.one_hot(input=mg.from_numpy(np.array([0, 2, 1])), num_classes=3)
    np.testing.assert_array_equal(codes.data, np.eye(3, dtype=np.int64)[[0, 2, 1]])
    torch = pytest.importorskip("torch")
    np.testing.assert_array_equal(codes.data, torch.nn.functional.one_hot(input=torch.tensor([0, 2, 1]),
                                                                          num_classes=3).numpy())


def test_floor_division_and_remainders_follow_numpy_with_zero_and_pytorch_gradients():
    a = mg.tensor(RNG.normal(size=(3, 4)) * 3, requires_grad=True)
    b = RNG.uniform(0.5, 2.0, 4) * RNG.choice([-1, 1], 4)
    quotient = a // b
    np.testing.assert_array_equal(quotient.data, a.data // b)
    np.testing.assert_array_equal((a % b).data, np.remainder(a.data, b))
    np.testing.assert_array_equal(a.remainder(b).data, np.remainder(a.data, b))
    np.testing.assert_array_equal(a.fmod(b).data, np.fmod(a.data, b))
    np.testing.assert_array_equal((7.0 // a).data, 7.0 // a.data)
    for ufunc in (np.floor_divide, np.remainder, np.mod, np.fmod):  # NumPy's functions on a Tensor
        result = ufunc(a, b)
        assert isinstance(result, mg.Tensor) and result.requires_grad
        np.testing.assert_array_equal(result.data, ufunc(a.data, b))
    (quotient * RNG.normal(size=(3, 4))).sum().backward()  # a step function: gradient 0
    np.testing.assert_array_equal(a.grad, np.zeros((3, 4)))
    counts = mg.tensor([7, -7, 9]).long()  # integers stay integers, as in NumPy and PyTorch
    assert (counts // 2).dtype == np.int64 and (counts % 4).dtype == np.int64
    np.testing.assert_array_equal((counts // 2).data, [3, -4, 4])
    np.testing.assert_array_equal((counts % 4).data, [3, 1, 1])
    with pytest.raises(TypeError, match="unsupported operand for //"):
        a // "2"


def test_in_place_floor_division_and_remainder():
    w = mg.tensor([5.5, -1.25, 3.0], requires_grad=True)
    with mg.no_grad():
        same = w
        w %= 2.0
        w //= 0.5
    assert w is same and w.requires_grad
    np.testing.assert_array_equal(w.data, np.floor_divide(np.remainder([5.5, -1.25, 3.0], 2.0), 0.5))
    with pytest.raises(RuntimeError, match="in place"):
        w %= 2.0  # a leaf that requires grad, outside no_grad, as PyTorch refuses
    y = w * 1.0
    before = y
    y %= 0.7  # a tensor in the graph: recorded in place, as PyTorch
    assert y is before and y.op == "remainder"
    y.sum().backward()
    np.testing.assert_array_equal(w.grad, np.ones(3))


def test_floor_division_and_remainders_match_pytorch(torch):
    values, divisors = RNG.normal(size=(3, 4)) * 3, RNG.uniform(0.5, 2.0, 4) * RNG.choice([-1, 1], 4)
    np.testing.assert_array_equal((mg.tensor(values) // mg.tensor(divisors)).data,
                                  (torch.tensor(values) // torch.tensor(divisors)).numpy())
    for name in ("remainder", "fmod"):
        ours, theirs = mg.tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)
        our_b, their_b = mg.tensor(divisors, requires_grad=True), torch.tensor(divisors, requires_grad=True)
        mine, reference = getattr(ours, name)(our_b), getattr(theirs, name)(their_b)
        np.testing.assert_allclose(mine.data, reference.detach().numpy(), rtol=1e-12, atol=1e-12)
        upstream = RNG.normal(size=(3, 4))
        (mine * upstream).sum().backward()
        (reference * torch.tensor(upstream)).sum().backward()
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-12)
        np.testing.assert_allclose(our_b.grad, their_b.grad.numpy(), rtol=1e-12)


def test_full_like_takes_the_shape_and_float_dtype():
    x = mg.tensor(np.ones((2, 3), dtype=np.float32))
    filled = mg.full_like(x, 2.5, name="filled")
    assert filled.shape == (2, 3) and filled.dtype == np.float32 and filled.name == "filled"
    np.testing.assert_array_equal(filled.data, np.full((2, 3), 2.5))
    assert mg.full_like(x, 1.0, requires_grad=True).requires_grad
    assert mg.full_like(np.zeros(4, dtype=np.int64), 7).dtype == mg.get_default_dtype()
    assert mg.full_like(x, 3, dtype=np.int64).dtype == np.int64


def test_norm_with_p_is_pytorchs_vector_norm_and_ord_stays_numpys():
    x = mg.tensor(A)
    assert x.norm(p=1).item() == pytest.approx(np.abs(A).sum(), rel=1e-15)  # NumPy's ord=1 is a matrix norm
    assert x.norm(1).item() == x.norm(p=1).item()  # the method's positional argument is PyTorch's p
    with pytest.raises(ValueError, match="matrix norm ord=1 is not supported"):
        x.norm(ord=1)
    with pytest.raises(TypeError, match="both ord= and p="):
        x.norm(ord=2, p=2)
    with pytest.raises(TypeError, match="multiple values for argument 'p'"):
        x.norm(2, p=2)
    assert x.norm(p="nuc").item() == pytest.approx(np.linalg.norm(A, "nuc"), rel=1e-14)  # as torch.norm
