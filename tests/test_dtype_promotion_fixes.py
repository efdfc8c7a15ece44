"""Dtypes kept as PyTorch keeps them where options, numbers and integer operands used to
widen them: float32 stays float32 through NumPy-number options, numbers given first to
mg.add/mul, int weights and the gradients of create_graph; in-place integer updates
wrap and refuse as PyTorch's."""

from __future__ import annotations

import numpy as np
import pytest

import microgradnp as mg
from microgradnp.nn import functional as F


def f32(values):
    return mg.tensor(np.asarray(values, dtype=np.float32), requires_grad=True)


def test_create_graph_gradients_take_the_input_dtype():
    x = f32([0.5, 1.5])
    weights = mg.tensor(np.array([1.0, 2.0]))  # a float64 constant in the graph
    (grad,) = mg.autograd.grad((x * weights).pow(3).sum(), x, create_graph=True)
    assert grad.dtype == np.float32 and grad.requires_grad
    (second,) = mg.grad(grad.sum(), x)
    assert second.dtype == np.float32
    np.testing.assert_allclose(second.data, 6 * np.array([0.5, 1.5]) * np.array([1.0, 8.0]), rtol=1e-6)


@pytest.mark.parametrize("call", [
    lambda x, y: x.clamp(np.float64(0.5)),
    lambda x, y: x.clamp(min=np.int64(0)),
    lambda x, y: mg.clip(x, 0, np.float64(1)),
    lambda x, y: x.clamp_max(np.float64(0.4)),
    lambda x, y: F.normalize(x, dim=-1, eps=np.float64(1e-6)),
    lambda x, y: F.huber_loss(x, y, delta=np.float64(0.5)),
    lambda x, y: F.smooth_l1_loss(x, y, beta=np.float64(0.5)),
    lambda x, y: F.cosine_similarity(x, y, eps=np.float64(1e-8)),
    lambda x, y: F.gaussian_nll_loss(x, y, mg.ones_like(x), eps=np.float64(1e-6)),
    lambda x, y: F.cross_entropy(x, np.array([1]), label_smoothing=np.float64(0.1)),
], ids=["clamp", "clamp-min-int", "clip", "clamp_max", "normalize", "huber", "smooth_l1", "cosine", "gaussian_nll",
        "cross_entropy"])
def test_numpy_number_options_keep_float32(call):
    x, y = f32([[0.2, 0.7, 0.1]]), mg.tensor(np.array([[0.3, 0.1, 0.6]], dtype=np.float32))
    out = call(x, y)
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == np.float32


def test_a_number_given_first_counts_as_a_number():
    z = f32(0.7)
    assert mg.add(1.0, z).dtype == np.float32 and mg.mul(2, z).dtype == np.float32
    small = mg.tensor(np.array([1, 2]), dtype=np.int8)
    product = mg.mul(2, small)
    assert product.dtype == np.int8 and product.data.tolist() == [2, 4]
    difference = mg.sub(3.0, z, alpha=2)
    difference.backward()
    assert difference.dtype == np.float32 and z.grad == np.float32(-2)


def test_block_diag_and_int_convolutions_follow_pytorch_promotion():
    mg.set_default_dtype(np.float32)
    try:
        block = mg.block_diag(mg.tensor(np.ones((2, 2), np.float32)), mg.tensor(np.array([[1]]), dtype=np.int64))
        assert block.dtype == np.float32
        ints = mg.tensor(np.arange(5.0).reshape(1, 1, 5), dtype=np.int64)
        int_weight = mg.tensor(np.ones((1, 1, 2)), dtype=np.int64)
        out = F.conv1d(ints, int_weight)
        assert out.dtype == np.float32 and out.data.tolist() == [[[1.0, 3.0, 5.0, 7.0]]]
        assert F.adaptive_avg_pool1d(ints, 2).dtype == np.float32
    finally:
        mg.set_default_dtype(np.float64)
    x = f32(np.arange(5.0).reshape(1, 1, 5))
    out = F.conv1d(x, int_weight, mg.tensor(np.array([1]), dtype=np.int64))
    assert out.dtype == np.float32 and out.data.tolist() == [[[2.0, 4.0, 6.0, 8.0]]]
    out.sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [[[1.0, 2.0, 2.0, 2.0, 1.0]]]


def test_sgd_state_stays_float32_with_numpy_number_options():
    p = f32([1.0, 2.0, 3.0])
    optimizer = mg.optim.SGD([p], lr=np.float64(0.1), momentum=np.float64(0.9), weight_decay=np.float64(1e-4))
    for _ in range(2):
        optimizer.zero_grad()
        (p * p).sum().backward()
        optimizer.step()
    assert p.dtype == np.float32 and optimizer.state[p]["momentum_buffer"].dtype == np.float32


@pytest.mark.parametrize("update", ["t //= 0", "t %= 0"])
def test_in_place_integer_division_by_zero_raises_as_the_operator(update):
    t = mg.tensor(np.array([1, 2, 3]), dtype=np.int64)
    with pytest.raises(ZeroDivisionError, match="by zero"):
        exec(update)
    assert t.data.tolist() == [1, 2, 3]


def test_in_place_integer_updates_wrap_in_the_tensor_dtype_as_pytorch():
    u = mg.tensor(np.array([250, 3]), dtype=np.uint8)
    u += mg.tensor(np.array([10, 1]), dtype=np.int64)  # 260 wraps to 4
    assert u.dtype == np.uint8 and u.data.tolist() == [4, 4]
    u -= np.int64(1)
    u *= mg.tensor(2, dtype=np.int64)
    u += -1
    assert u.data.tolist() == [5, 5]
    small = mg.tensor(np.array([100]), dtype=np.int8)
    small += 1000  # computed in int8 as PyTorch: 1000 is -24 there
    assert small.data.tolist() == [76]
    with pytest.raises(mg.errors.DtypeError, match="cannot be cast"):
        u += 1.5  # a float result still cannot go into ints
    flags = mg.tensor(np.array([True, False]), dtype=bool)
    with pytest.raises(mg.errors.DtypeError):
        flags += mg.tensor(np.array([1, 2]), dtype=np.int64)


def test_in_place_updates_compute_in_float32_like_pytorch():
    x = mg.tensor(np.array([1.1, 2.2], dtype=np.float32))
    x += mg.tensor(np.float64(1 / 3))  # a 0-d float64 tensor: the sum is taken in float32
    expected = np.array([1.1, 2.2], dtype=np.float32) + np.float32(1 / 3)
    assert x.dtype == np.float32 and x.data.tolist() == expected.tolist()


def test_rounded_division_of_uint8_by_a_0d_int64_stays_uint8():
    u = mg.tensor(np.array([7, 9]), dtype=np.uint8)
    for mode in ("floor", "trunc"):
        out = mg.div(u, mg.tensor(2, dtype=np.int64), rounding_mode=mode)
        assert out.dtype == np.uint8 and out.data.tolist() == [3, 4]


def test_cov_and_corrcoef_of_one_row_are_0d_as_torch():
    row = mg.tensor(np.array([[1.0, 2.0, 4.0, 7.0]]), requires_grad=True)
    variance = mg.cov(row)
    assert variance.shape == () and np.isclose(variance.item(), np.var([1.0, 2.0, 4.0, 7.0], ddof=1))
    assert mg.corrcoef(row).shape == ()
    variance.backward()
    assert row.grad.shape == (1, 4)


def test_where_refuses_an_int_that_does_not_fit_the_other_operand_as_pytorch():
    small = mg.tensor(np.array([1, 2]), dtype=np.int8)
    with pytest.raises(OverflowError, match="1000 cannot be converted to int8"):
        mg.where(small > 1, small, 1000)  # NumPy's where wrapped it to -24
    assert mg.where(small > 1, small, 100).data.tolist() == [100, 2]


def test_diff_of_bools_is_their_xor_as_pytorch():
    flags = mg.tensor(np.array([True, False, False, True]), dtype=bool)
    once = mg.diff(flags)
    assert once.dtype == np.bool_ and once.data.tolist() == [True, False, True]
    assert mg.diff(flags, n=2).data.tolist() == [True, True]


def test_an_out_of_range_python_int_wraps_into_the_integer_dtype_as_pytorch():
    u = mg.tensor(np.array([0, 3]), dtype=np.uint8)
    assert (u + (-1)).data.tolist() == [255, 2] and ((-1) + u).dtype == np.uint8  # NumPy raised OverflowError
    assert (mg.tensor(np.array([100]), dtype=np.int8) + 1000).data.tolist() == [76]
    assert (mg.tensor(np.array([2]), dtype=np.int16) * 70000).data.tolist() == [8928]


def test_bitwise_operations_take_a_numpy_number_as_a_python_one():
    flags = mg.tensor(np.array([True, False]), dtype=bool)
    small = mg.tensor(np.array([1, 2]), dtype=np.int8)
    assert (flags & np.int32(3)).dtype == np.int64  # (NumPy's int32 made it int32; PyTorch: int64)
    assert (small & np.int64(3)).dtype == np.int8 and (small << np.int32(1)).data.tolist() == [2, 4]
