"""torch's ``*_copy`` functions and ``torch.put``: the view's values as a new tensor (no shared
memory), the view's gradient, against PyTorch (optional oracle) and finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import microgradnp as mg

CASES = [
    ("alias_copy", ()), ("diagonal_copy", (0, 2, 3)), ("diagonal_copy", (1, -1, -2)),
    ("expand_copy", ((5, 2, 3, 3, 4),)), ("expand_copy", ((-1, 2, -1, -1),)), ("permute_copy", ((3, 0, 2, 1),)),
    ("select_copy", (2, -1)), ("slice_copy", (3, 1, None, 2)), ("slice_copy", ()), ("split_copy", (2, 3)),
    ("split_with_sizes_copy", ([1, 2], 2)), ("squeeze_copy", ()), ("squeeze_copy", (1,)), ("squeeze_copy", (0,)),
    ("squeeze_copy", ((0, 1),)), ("t_copy", ()), ("transpose_copy", (0, 3)), ("unbind_copy", (2,)),
    ("unfold_copy", (3, 2, 1)), ("unsqueeze_copy", (-1,)), ("view_copy", ((6, 4),)), ("view_copy", ([-1],)),
]


def _input(name, rng):
    return rng.standard_normal((3, 4) if name == "t_copy" else (2, 1, 3, 4))


def _pieces(result):
    return result if isinstance(result, tuple | list) else (result,)


@pytest.mark.parametrize(("name", "args"), CASES)
def test_a_copy_is_the_views_values_in_new_memory_with_the_views_gradient(rng, name, args):
    a = _input(name, rng)
    x = mg.tensor(a, requires_grad=True)
    pieces = _pieces(getattr(mg, name)(x, *args))
    for piece in pieces:
        assert not np.shares_memory(piece.data, x.data)
        piece.data[...] = 0  # (writing into the copy leaves the input alone)
    np.testing.assert_array_equal(x.data, a)
    assert mg.gradcheck(lambda t: sum((p * p).sum() for p in _pieces(getattr(mg, name)(t, *args))),
                        [mg.tensor(a, requires_grad=True)])


@pytest.mark.parametrize(("name", "args"), CASES)
def test_copies_match_torch(torch, rng, name, args):
    a = _input(name, rng)
    x, t = mg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    ours, theirs = _pieces(getattr(mg, name)(x, *args)), _pieces(getattr(torch, name)(t, *args))
    assert len(ours) == len(theirs)
    for p, q in zip(ours, theirs):
        np.testing.assert_array_equal(p.data, q.detach().numpy())
    weights = [rng.standard_normal(p.shape) for p in ours]
    sum((p * w).sum() for p, w in zip(ours, weights)).backward()
    sum((q * torch.tensor(w)).sum() for q, w in zip(theirs, weights)).backward()
    np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-12)


def test_detach_copy_and_out():
    x = mg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    copy = mg.detach_copy(x)
    assert not copy.requires_grad and not np.shares_memory(copy.data, x.data)
    out = mg.empty(0)
    assert mg.t_copy(x.detach(), out=out) is out
    np.testing.assert_array_equal(out.data, x.data.T)
    with pytest.raises(ValueError, match="step must be positive"):
        mg.slice_copy(x, 0, 0, 2, 0)


@pytest.mark.parametrize("accumulate", [False, True])
def test_put_is_put_on_a_copy(torch, rng, accumulate):
    a, source = rng.standard_normal((2, 3)), rng.standard_normal(3)
    index = np.array([4, 0, 4 if accumulate else 2])
    x, s = mg.tensor(a, requires_grad=True), mg.tensor(source, requires_grad=True)
    result = mg.put(x, mg.tensor(index, dtype=mg.int64), s, accumulate=accumulate)
    np.testing.assert_array_equal(x.data, a)  # (the input itself is not written)
    t, ts = torch.tensor(a, requires_grad=True), torch.tensor(source, requires_grad=True)
    expected = torch.put(t, torch.tensor(index), ts, accumulate=accumulate)
    np.testing.assert_array_equal(result.data, expected.detach().numpy())
    np.testing.assert_array_equal(x.put(mg.tensor(index, dtype=mg.int64), s, accumulate).data, result.data)
    w = rng.standard_normal((2, 3))
    (result * mg.tensor(w)).sum().backward()
    (expected * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(x.grad, t.grad.numpy())
    np.testing.assert_array_equal(s.grad, ts.grad.numpy())


def test_zero_dimensional_inputs(torch):
    x = mg.tensor(3.0, requires_grad=True)
    assert mg.permute_copy(x, ()).shape == () and mg.unfold_copy(x, 0, 1, 1).shape == (1,)
    assert x.unfold(0, 0, 1).shape == tuple(torch.tensor(3.0).unfold(0, 0, 1).shape) == (0,)
    x.unfold(0, 1, 1).sum().backward()
    assert x.grad == 1.0
    with pytest.raises(ValueError):
        mg.permute_copy(x, (0,))


# -- as_strided --------------------------------------------------------------------------------


def _strided_reference(storage, size, stride, offset):
    """Element (i, j, ...) = storage[offset + i stride_0 + j stride_1 + ...], by loops."""
    out = np.empty(size)
    for index in np.ndindex(*size):
        out[index] = storage[offset + sum(i * s for i, s in zip(index, stride))]
    return out


@pytest.mark.parametrize(("size", "stride", "offset"), [
    ((3, 2), (1, 1), None), ((2, 2), (1, 2), 1), ((4,), (0,), 2), ((2, 3), (3, 1), 0), ((0, 2), (1, 1), 5),
])
def test_as_strided_reads_the_storage_and_sums_the_gradient_where_elements_share_it(rng, size, stride, offset):
    values = rng.standard_normal(6)
    x = mg.tensor(values, requires_grad=True)
    out = x.as_strided(size, stride, offset)
    np.testing.assert_array_equal(out.data, _strided_reference(values, size, stride, offset or 0))
    weights = rng.standard_normal(size)
    (out * weights).sum().backward()
    expected = np.zeros(6)
    for index in np.ndindex(*size):
        expected[(offset or 0) + sum(i * s for i, s in zip(index, stride))] += weights[index]
    np.testing.assert_allclose(x.grad, expected, rtol=1e-15)


def test_as_strided_of_a_view_counts_from_the_owners_memory_and_is_read_only(rng):
    values = rng.standard_normal(6)
    tail = mg.tensor(values)[1:]
    np.testing.assert_array_equal(tail.as_strided((2,), (1,)).data, values[1:3])  # (its own storage offset, 1)
    np.testing.assert_array_equal(tail.as_strided((2,), (1,), 0).data, values[:2])
    out = mg.as_strided(tail, (2,), (2,))
    with pytest.raises(ValueError, match="read-only"):
        out.add_(1)  # (PyTorch's view would write into the tensor: refused rather than silently not)
    np.testing.assert_array_equal(mg.as_strided_copy(tail, (2,), (2,)).add_(1).data, values[[1, 3]] + 1)


def test_as_strided_matches_torch_on_views_and_expanded_inputs(torch, rng):
    a = rng.standard_normal((3, 4))
    weights = rng.standard_normal((2, 3))
    m, t = mg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    out, expected = m.T.as_strided((2, 3), (2, 1), 1), t.T.as_strided((2, 3), (2, 1), 1)
    np.testing.assert_array_equal(out.data, expected.detach().numpy())
    (out * weights).sum().backward()
    (expected * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(m.grad, t.grad.numpy(), rtol=1e-15)
    # an expanded input: its elements share storage, and PyTorch shares their gradient evenly
    e, te = mg.tensor([1.0, 2.0], requires_grad=True), torch.tensor([1.0, 2.0], requires_grad=True)
    (e.expand(3, 2).as_strided((2,), (1,)) * mg.tensor([1.0, 10.0])).sum().backward()
    (te.expand(3, 2).as_strided((2,), (1,)) * torch.tensor([1.0, 10.0])).sum().backward()
    np.testing.assert_allclose(e.grad, te.grad.numpy())


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda x: x.as_strided((3,), (3,)), ValueError, "need a storage of 7 elements; this tensor's memory holds 6"),
    (lambda x: x.as_strided((2,), (-1,), 3), ValueError, "Negative strides"),
    (lambda x: x.as_strided((2, 2), (1,)), ValueError, "mismatch in length"),
    (lambda x: x.as_strided((2.0,), (1,)), TypeError, "sequence of ints"),
    (lambda x: mg.as_strided_scatter(x, mg.ones(3), (2,), (1,)), ValueError, "src to have a size equal"),
])
def test_as_strided_errors(call, error, message):
    with pytest.raises(error, match=message):
        call(mg.zeros(6))


def test_as_strided_scatter_writes_src_at_the_positions_with_the_functions_derivative(torch, rng):
    a, src = rng.standard_normal((2, 3)), rng.standard_normal((2, 2))
    x, s = mg.tensor(a, requires_grad=True), mg.tensor(src, requires_grad=True)
    out = mg.as_strided_scatter(x, s, (2, 2), (1, 2), 1)
    expected = a.reshape(-1).copy()
    expected[[1, 3, 2, 4]] = src.reshape(-1)
    np.testing.assert_array_equal(out.data, expected.reshape(2, 3))
    np.testing.assert_array_equal(out.data, torch.as_strided_scatter(torch.tensor(a), torch.tensor(src),
                                                                      (2, 2), (1, 2), 1).numpy())
    weights = rng.standard_normal((2, 3))
    (out * weights).sum().backward()
    np.testing.assert_array_equal(s.grad, weights.reshape(-1)[[1, 3, 2, 4]].reshape(2, 2))
    np.testing.assert_array_equal(x.grad, np.where(np.isin(np.arange(6), [1, 2, 3, 4]), 0, weights.reshape(-1))
                                  .reshape(2, 3))


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.float32, np.bool_])
def test_as_strided_keeps_the_dtype(dtype):
    x = mg.tensor(np.arange(6).astype(dtype), dtype=dtype)
    out = x.as_strided((2,), (2,))
    assert out.dtype == dtype
    np.testing.assert_array_equal(out.data, np.arange(6).astype(dtype)[[0, 2]])


@pytest.mark.parametrize("write", [lambda w: w.mul_(3), lambda w: w.fill_(1.0), lambda w: w.__setitem__(0, 5.0),
                                   lambda w: w.__iadd__(1.0)])
def test_a_write_into_unfolds_windows_raises_rather_than_being_lost(write):
    # PyTorch's unfold is a view and writes through; here the windows are a copy, so a write
    # would silently not reach x (and not bump its version): refused
    x = mg.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    y = x * 1
    with pytest.raises(ValueError, match=r"read-only.*unfold"):
        write(y.unfold(0, 2, 2))
    with mg.no_grad(), pytest.raises(ValueError, match="read-only"):
        write(x.unfold(0, 2, 2))
    np.testing.assert_array_equal(y.unfold(0, 2, 2).clone().add_(1).data, [[2.0, 3.0], [4.0, 5.0]])


def test_a_write_into_an_expanded_view_says_why_it_is_refused():
    with pytest.raises(ValueError, match="read-only: it is a view whose elements may share memory"):
        mg.zeros(2, 3)[:, :1].expand(2, 3).fill_(1.0)
