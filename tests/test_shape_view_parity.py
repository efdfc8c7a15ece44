"""Shape and view operations against PyTorch (the oracle, optional): the corners that
adversarial probing found (views that must not silently copy, empty dimensions, PyTorch's
keyword names and tensor arguments, ``as_strided_``)."""

from __future__ import annotations

import numpy as np
import pytest

import microgradnp as mg
from microgradnp.errors import InvalidArgumentError

A = np.arange(24.0).reshape(2, 3, 4) / 7


def _shapes(pieces) -> list:
    return [tuple(piece.shape) for piece in pieces]


def test_view_as_is_a_view_and_refuses_what_needs_a_copy():
    torch = pytest.importorskip("torch")
    x, t = mg.tensor(A.copy()), torch.tensor(A.copy())
    with pytest.raises(RuntimeError):
        t.mT.view_as(torch.zeros(2, 12))
    # Before: a silent copy, so a write into the "view" never reached x.
    with pytest.raises(InvalidArgumentError, match="view size is not compatible"):
        x.mT.view_as(mg.zeros(2, 12))
    for lib, z in ((mg, x), (torch, t)):
        with lib.no_grad():
            z.mT.view_as(lib.zeros(2, 4, 3)).add_(1.0)
    np.testing.assert_array_equal(x.numpy(), t.numpy())


def test_view_as_gradient():
    torch = pytest.importorskip("torch")
    x, t = mg.tensor(A, requires_grad=True), torch.tensor(A, requires_grad=True)
    weights = np.arange(24.0).reshape(4, 6)
    (x.view_as(mg.zeros(4, 6)) * mg.tensor(weights)).sum().backward()
    (t.view_as(torch.zeros(4, 6)) * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(np.asarray(x.grad), t.grad.numpy())


@pytest.mark.parametrize("shape, dim", [((2, 0, 3), 1), ((0, 3), 0), ((2, 0), -1)])
def test_unbind_of_an_empty_dimension_gives_no_pieces(shape, dim):
    torch = pytest.importorskip("torch")
    assert _shapes(mg.zeros(*shape).unbind(dim)) == _shapes(torch.zeros(*shape).unbind(dim)) == []


@pytest.mark.parametrize("split", [0, [], [0, 0], 2])
def test_split_of_an_empty_dimension(split):
    torch = pytest.importorskip("torch")
    got = mg.zeros(2, 0, 3).split(split, 1)
    assert _shapes(got) == _shapes(torch.zeros(2, 0, 3).split(split, 1))


def test_split_size_zero_of_a_nonempty_dimension_raises():
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError):
        torch.zeros(2, 3).split(0, 1)
    with pytest.raises(InvalidArgumentError, match="piece size"):
        mg.zeros(2, 3).split(0, 1)


def test_narrow_and_split_take_one_element_integer_tensors():
    torch = pytest.importorskip("torch")
    x, t = mg.tensor(A, requires_grad=True), torch.tensor(A, requires_grad=True)
    for start in (1, -3):
        got = x.narrow(2, mg.tensor(start, dtype=mg.int64), 2)
        expected = t.narrow(2, torch.tensor(start), 2)
        np.testing.assert_array_equal(got.detach().numpy(), expected.detach().numpy())
    got = x.split(mg.tensor(3, dtype=mg.int64), -1)
    expected = t.split(torch.tensor(3), -1)
    assert _shapes(got) == _shapes(expected)
    sum(((p * (i + 1)) ** 2).sum() for i, p in enumerate(got)).backward()
    sum(((p * (i + 1)) ** 2).sum() for i, p in enumerate(expected)).backward()
    np.testing.assert_allclose(np.asarray(x.grad), t.grad.numpy())


def test_swapaxes_and_repeat_take_torchs_keyword_names():
    torch = pytest.importorskip("torch")
    x, t = mg.tensor(A), torch.tensor(A)
    assert x.swapaxes(axis0=0, axis1=2).shape == tuple(t.swapaxes(axis0=0, axis1=2).shape)
    assert mg.swapaxes(x, axis0=1, axis1=-1).shape == tuple(torch.swapaxes(t, axis0=1, axis1=-1).shape)
    assert mg.swapaxes(x, axis1=0, axis2=1).shape == (3, 2, 4)  # NumPy's names stay NumPy's
    with pytest.raises(TypeError, match="axis0= with axis2="):
        mg.swapaxes(x, axis0=0, axis2=1)
    np.testing.assert_array_equal(x.repeat(repeats=(2, 1, 3)).numpy(), t.repeat(repeats=(2, 1, 3)).numpy())


def _state(lib, base, view):
    return (view.numpy().tolist(), tuple(view.shape), tuple(view.stride()), view.storage_offset(),
            base.numpy().tolist(), base._version, view._version)


@pytest.mark.parametrize("size, stride, offset", [((2, 3), (3, 1), 1), ((3, 2), (1, 3), None), ((2,), (4,), 0)])
def test_as_strided_in_place_is_a_view_of_the_same_memory(size, stride, offset):
    torch = pytest.importorskip("torch")
    states = []
    for lib in (mg, torch):
        base = lib.tensor(np.arange(10.0))
        view = base[2:]
        assert view.as_strided_(size, stride, offset) is view
        with lib.no_grad():
            view.add_(100.0)  # reaches base, and moves both versions
        states.append(_state(lib, base, view))
    assert states[0] == states[1]


def test_as_strided_in_place_refusals():
    x = mg.tensor(np.arange(10.0))
    with pytest.raises(InvalidArgumentError, match="need a storage"):
        x.as_strided_((2,), (1,), 9)
    overlapping = x.view(-1).as_strided_((3, 3), (1, 1))
    with pytest.raises(InvalidArgumentError, match="read-only"), mg.no_grad():
        overlapping.add_(1.0)  # elements sharing memory (PyTorch writes them in an unspecified order)
    with pytest.raises(RuntimeError, match="requires grad"):
        mg.tensor(np.arange(6.0), requires_grad=True).as_strided_((2,), (1,))


def test_concatenate_axis_none_flattens_as_numpy():
    a, b = np.arange(6.0).reshape(2, 3), np.arange(2.0)
    x, y = mg.tensor(a, requires_grad=True), mg.tensor(b, requires_grad=True)
    joined = mg.concatenate([x.T, y], axis=None)
    np.testing.assert_array_equal(joined.numpy(), np.concatenate([a.T, b], axis=None))
    (joined * mg.tensor(np.arange(8.0))).sum().backward()
    # each element's gradient is its position in the flattened, joined result
    np.testing.assert_array_equal(np.asarray(x.grad), np.arange(6.0).reshape(3, 2).T)
    np.testing.assert_array_equal(np.asarray(y.grad), [6.0, 7.0])


def test_expand_that_repeats_nothing_writes_through_as_torch():
    torch = pytest.importorskip("torch")
    results = []
    for lib in (mg, torch):
        x = lib.tensor(np.arange(6.0).reshape(2, 3))
        with lib.no_grad():
            x.expand(1, 2, 3).add_(1.0)
            x.expand_as(x).mul_(2.0)
            x[:, :1].expand(2, 1).add_(100.0)
        with pytest.raises(RuntimeError), lib.no_grad():  # repeated elements: refused by both
            x[:, :1].expand(2, 3).add_(1.0)
        results.append((x.numpy().tolist(), x._version))
    assert results[0] == results[1]


def test_transpose_takes_dim0_positionally_and_dim1_by_name():
    torch = pytest.importorskip("torch")
    x, t = mg.tensor(A), torch.tensor(A)
    np.testing.assert_array_equal(x.transpose(0, dim1=2).numpy(), t.transpose(0, dim1=2).numpy())
    np.testing.assert_array_equal(mg.transpose(x, 2, dim1=1).numpy(), torch.transpose(t, 2, dim1=1).numpy())
    with pytest.raises(TypeError, match="dim0 by name and positionally"):
        x.transpose(0, dim0=2)
    with pytest.raises(TypeError, match="shape by name and positionally"):
        mg.reshape(x, 2, shape=(24,))


@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("pack", [lambda v: (v,), lambda v: [v], lambda v: (v, v[0])])
def test_atleast_of_a_sequence_gives_a_tuple_of_its_tensors_as_torch(ndim, pack):
    torch = pytest.importorskip("torch")
    ours = getattr(mg, f"atleast_{ndim}d")(pack(mg.tensor([1.0, 2.0, 3.0, 4.0])))
    theirs = getattr(torch, f"atleast_{ndim}d")(pack(torch.tensor([1.0, 2.0, 3.0, 4.0])))
    assert isinstance(ours, tuple) and [x.shape for x in ours] == [tuple(x.shape) for x in theirs]
    for x, y in zip(ours, theirs):
        np.testing.assert_array_equal(x.data, y.numpy())


@pytest.mark.parametrize(("function", "keywords"), [
    ("tensor_split", {"sections": 3, "dim": 1}), ("tensor_split", {"indices": [1, 4], "dim": 1}),
    ("tensor_split", {"tensor_indices_or_sections": [1, 3], "dim": 1}), ("hsplit", {"sections": 2}),
    ("hsplit", {"indices": [1]}), ("vsplit", {"sections": 2}), ("vsplit", {"indices": [1]})])
def test_splits_take_torchs_keyword_names(function, keywords):
    torch = pytest.importorskip("torch")
    data = np.arange(12.0).reshape(2, 6)
    keywords_theirs = {k: torch.tensor(v) if k == "tensor_indices_or_sections" else v for k, v in keywords.items()}
    keywords_ours = {k: mg.tensor(v, dtype=np.int64) if k == "tensor_indices_or_sections" else v
                     for k, v in keywords.items()}
    ours = getattr(mg, function)(mg.tensor(data), **keywords_ours)
    theirs = getattr(torch, function)(torch.tensor(data), **keywords_theirs)
    assert [x.data.tolist() for x in ours] == [y.tolist() for y in theirs]
    with pytest.raises(TypeError, match="takes one of indices_or_sections"):
        getattr(mg, function)(mg.tensor(data), 2, sections=2)


@pytest.mark.parametrize(("shape", "dims"), [((0, 3, 4), (1, -1)), ((0, 3, 4), (0, 1)), ((2, 0, 4), (1, -1))])
def test_flatten_of_an_empty_tensor_as_torch(shape, dims):
    torch = pytest.importorskip("torch")
    assert mg.zeros(*shape).flatten(*dims).shape == tuple(torch.zeros(*shape).flatten(*dims).shape)
    assert mg.nn.Flatten()(mg.zeros(*shape)).shape == tuple(torch.nn.Flatten()(torch.zeros(*shape)).shape)
