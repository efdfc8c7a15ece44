"""empty_strided, empty_permuted, new_empty_strided, nonzero_static, resize_ and resize_as_:
shapes, strides and values as PyTorch's (optional oracle), and their errors."""

from __future__ import annotations

import numpy as np
import pytest

import microgradnp as mg


@pytest.mark.parametrize(("size", "stride"), [((2, 3), (1, 2)), ((2, 3), (3, 1)), ((3, 2), (0, 1)),
                                              ((0, 4), (4, 1)), ((), ()), ((2, 2, 2), (1, 4, 2))])
def test_empty_strided_has_the_strides_asked_for(size, stride):
    t = mg.empty_strided(size, stride, dtype=mg.float32)
    assert t.shape == size and t.stride() == stride and t.dtype == np.float32
    assert mg.ones(1).new_empty_strided(size, stride).stride() == stride


def test_empty_strided_with_a_zero_stride_shares_elements_as_torchs():
    t = mg.empty_strided((2, 2), (0, 1))
    t[0, 1] = 5.0
    np.testing.assert_array_equal(t.data, [[0.0, 5.0], [0.0, 5.0]])
    with pytest.raises(ValueError, match="length of strides"):
        mg.empty_strided((2, 2), (1,))
    with pytest.raises(ValueError, match="non-negative"):
        mg.empty_strided((2,), (-1,))


def test_empty_permuted_lays_dimensions_out_in_the_order_given(torch):
    t = mg.empty_permuted((2, 3, 4), (0, 2, 1))
    assert t.shape == (2, 3, 4) and t.stride() == torch.empty_permuted((2, 3, 4), (0, 2, 1)).stride() == (12, 1, 3)
    with pytest.raises(ValueError, match="permutation"):
        mg.empty_permuted((2, 3), (0, 0))


@pytest.mark.parametrize("size", [0, 1, 2, 4])
def test_nonzero_static_cuts_or_pads_to_its_size(torch, size):
    a = np.array([[0.0, 1.0], [2.0, 0.0]])
    for fill in (-1, 7):
        ours = mg.nonzero_static(mg.tensor(a), size=size, fill_value=fill)
        assert ours.dtype == np.int64
        np.testing.assert_array_equal(ours.data, torch.nonzero_static(torch.tensor(a), size=size,
                                                                      fill_value=fill).numpy())
    assert mg.nonzero_static(mg.tensor(3.0), size=2).shape == (2, 0)


def test_resize_keeps_the_elements_in_memory_order(torch):
    for shape, new in (((2, 3), (4,)), ((2, 3), (2, 4)), ((2, 3), (3, 2))):
        a = np.arange(6.0).reshape(shape)
        for view in (lambda t: t, lambda t: t.t()):
            ours, theirs = view(mg.tensor(a)), view(torch.tensor(a))
            before = ours.data
            assert ours.resize_(*new) is ours
            theirs.resize_(*new)
            kept = min(6, int(np.prod(new)))
            np.testing.assert_array_equal(ours.data.reshape(-1)[:kept], theirs.numpy().reshape(-1)[:kept])
            assert ours.shape == new
            assert (ours.data is before) == (before.shape == new)  # (the same shape: nothing to do)
    t = mg.zeros(5)
    assert t.resize_as_(mg.zeros(2, 2)).shape == (2, 2)
    assert mg.zeros(3).resize_((1, 3)).shape == (1, 3)


def test_resize_refuses_a_tensor_that_requires_grad_and_moves_the_version():
    with pytest.raises(RuntimeError, match="cannot resize variables that require grad"):
        mg.ones(3, requires_grad=True).resize_(4)
    with pytest.raises(ValueError, match="non-negative"):
        mg.ones(3).resize_(-1)
    w = mg.ones(3, requires_grad=True)
    x = mg.ones(3)
    y = (w * x).sum()  # (the product saved x's values for w's gradient)
    x.resize_(4)
    with pytest.raises(RuntimeError):
        y.backward()
