"""Shape and linear-algebra-shape operations: split, chunk, flip, roll, repeat
(repeat_interleave), tile, tril, triu, diag, diagonal, trace, outer, tensordot, einsum,
moveaxis, and the constructors eye and linspace.

Each differentiable op is checked against NumPy's forward, central finite differences
(``mg.gradcheck``, float64), second order (finite differences of a gradient computed
with ``create_graph=True``), PyTorch as an optional oracle (forward values, shapes,
dtypes and gradients of a random weighted sum), and hypothesis for the shape
behaviour of roll, flip and moveaxis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from conftest import numeric_grad
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import microgradnp as mg


@dataclass(frozen=True)
class Case:
    mg_fn: Any  # (*mg tensors) -> mg tensor
    np_fn: Any  # (*ndarrays) -> ndarray, NumPy's own function
    th_fn: Any  # (torch, *torch tensors) -> torch tensor, or None when torch has no counterpart
    shapes: tuple  # one shape per differentiable input


def case(name, mg_fn, np_fn, th_fn, *shapes):
    return pytest.param(Case(mg_fn, np_fn, th_fn, shapes), id=name)


def _joined(pieces, axis):
    """Join pieces, each scaled differently, so a gradient routed to the wrong piece fails."""
    return mg.concatenate([p * (i + 1.0) for i, p in enumerate(pieces)], axis=axis)


def _np_joined(pieces, axis):
    return np.concatenate([p * (i + 1.0) for i, p in enumerate(pieces)], axis=axis)


def _th_joined(th, pieces, axis):
    return th.cat([p * (i + 1.0) for i, p in enumerate(pieces)], dim=axis)


CASES = [
    case("split_sections", lambda x: _joined(mg.split(x, 3, axis=1), 1),
         lambda x: _np_joined(np.split(x, 3, axis=1), 1),
         lambda th, x: _th_joined(th, th.split(x, 2, dim=1), 1), (2, 6)),
    case("split_indices_negative_axis", lambda x: _joined(mg.split(x, [1, 3, 3, -1], axis=-2), -2),
         lambda x: _np_joined(np.split(x, [1, 3, 3, -1], axis=-2), -2),
         lambda th, x: _th_joined(th, th.split(x, [1, 2, 0, 1, 1], dim=-2), -2), (2, 5, 3)),
    case("chunk_uneven", lambda x: _joined(mg.chunk(x, 3, axis=0), 0),
         lambda x: _np_joined(np.split(x, [2, 4]), 0),
         lambda th, x: _th_joined(th, th.chunk(x, 3, dim=0), 0), (5, 2)),
    case("chunk_fewer_pieces", lambda x: _joined(mg.chunk(x, 4, dim=1), 1),
         lambda x: _np_joined(np.split(x, [2, 4], axis=1), 1),
         lambda th, x: _th_joined(th, th.chunk(x, 4, dim=1), 1), (3, 6)),
    case("flip_all", lambda x: mg.flip(x), np.flip, lambda th, x: th.flip(x, (0, 1, 2)), (2, 3, 4)),
    case("flip_axes", lambda x: mg.flip(x, (0, -1)), lambda x: np.flip(x, (0, -1)),
         lambda th, x: th.flip(x, (0, -1)), (2, 3, 4)),
    case("roll_flat", lambda x: mg.roll(x, 4), lambda x: np.roll(x, 4), lambda th, x: th.roll(x, 4), (2, 3)),
    case("roll_axes", lambda x: mg.roll(x, (1, -5), (0, -1)), lambda x: np.roll(x, (1, -5), (0, -1)),
         lambda th, x: th.roll(x, (1, -5), (0, -1)), (3, 2, 4)),
    case("repeat_scalar_flat", lambda x: mg.repeat(x, 2), lambda x: np.repeat(x, 2),
         lambda th, x: th.repeat_interleave(x, 2), (2, 3)),
    case("repeat_counts_axis", lambda x: mg.repeat(x, [2, 0, 3], axis=-1),
         lambda x: np.repeat(x, [2, 0, 3], axis=-1),
         lambda th, x: th.repeat_interleave(x, th.tensor([2, 0, 3]), dim=-1), (2, 3)),
    case("repeat_interleave_dim", lambda x: mg.repeat_interleave(x, 3, dim=0), lambda x: np.repeat(x, 3, axis=0),
         lambda th, x: th.repeat_interleave(x, 3, dim=0), (2, 2)),
    case("tile_more_reps", lambda x: mg.tile(x, (2, 1, 3)), lambda x: np.tile(x, (2, 1, 3)),
         lambda th, x: th.tile(x, (2, 1, 3)), (2, 3)),
    case("tile_fewer_reps", lambda x: mg.tile(x, 2), lambda x: np.tile(x, 2), lambda th, x: th.tile(x, (2,)),
         (2, 3)),
    case("tril", lambda x: mg.tril(x), np.tril, lambda th, x: th.tril(x), (3, 4)),
    case("tril_batched_k", lambda x: mg.tril(x, -1), lambda x: np.tril(x, -1), lambda th, x: th.tril(x, -1),
         (2, 3, 4)),
    case("triu_k", lambda x: mg.triu(x, 2), lambda x: np.triu(x, 2), lambda th, x: th.triu(x, 2), (4, 3)),
    case("triu_1d_numpy", lambda x: mg.triu(x, -1), lambda x: np.triu(x, -1), None, (3,)),
    case("diag_1d", lambda x: mg.diag(x, -2), lambda x: np.diag(x, -2), lambda th, x: th.diag(x, -2), (3,)),
    case("diag_2d", lambda x: mg.diag(x, 1), lambda x: np.diag(x, 1), lambda th, x: th.diag(x, 1), (3, 4)),
    case("diagonal_axes", lambda x: mg.diagonal(x, 1, 2, 0), lambda x: np.diagonal(x, 1, 2, 0),
         lambda th, x: th.diagonal(x, 1, 2, 0), (3, 2, 4)),
    case("diagonal_below", lambda x: mg.diagonal(x, -1, -1, -2), lambda x: np.diagonal(x, -1, -1, -2),
         lambda th, x: th.diagonal(x, -1, -1, -2), (2, 4, 3)),
    case("trace", lambda x: mg.trace(x), np.trace, lambda th, x: th.trace(x), (3, 4)),
    case("trace_offset_batched", lambda x: mg.trace(x, 1, 1, 2), lambda x: np.trace(x, 1, 1, 2),
         lambda th, x: th.diagonal(x, 1, 1, 2).sum(-1), (2, 3, 3)),
    case("outer", mg.outer, np.outer, lambda th, a, b: th.outer(a, b), (4,), (3,)),
    case("outer_flattens", mg.outer, np.outer, lambda th, a, b: th.outer(a.flatten(), b.flatten()), (2, 2), (3,)),
    case("tensordot_int", lambda a, b: mg.tensordot(a, b), lambda a, b: np.tensordot(a, b),
         lambda th, a, b: th.tensordot(a, b), (2, 3, 4), (3, 4, 2)),
    case("tensordot_pairs", lambda a, b: mg.tensordot(a, b, ([1, 0], [0, 2])),
         lambda a, b: np.tensordot(a, b, ([1, 0], [0, 2])),
         lambda th, a, b: th.tensordot(a, b, ([1, 0], [0, 2])), (3, 2, 4), (2, 5, 3)),
    case("tensordot_zero_is_outer", lambda a, b: mg.tensordot(a, b, 0), lambda a, b: np.tensordot(a, b, 0),
         lambda th, a, b: th.tensordot(a, b, 0), (2, 3), (2,)),
    case("moveaxis", lambda x: mg.moveaxis(x, [0, 1], [-1, 0]), lambda x: np.moveaxis(x, [0, 1], [-1, 0]),
         lambda th, x: th.movedim(x, (0, 1), (-1, 0)), (2, 3, 4)),
]

EINSUMS = [
    ("ij,jk->ik", (2, 3), (3, 4)),  # matmul
    ("bij,bjk->bik", (2, 3, 4), (2, 4, 2)),  # batch matmul
    ("ij->ji", (2, 3)),  # transpose (a view in NumPy)
    ("ii->i", (3, 3)),  # diagonal extraction
    ("ii", (3, 3)),  # trace
    ("iij->j", (3, 3, 2)),  # a diagonal with another axis
    ("iji->j", (2, 3, 2)),  # repeated letters apart
    ("iii->i", (2, 2, 2)),  # a letter three times
    ("ij->", (2, 3)),  # sum of everything
    ("ij->j", (2, 3)),  # column sums
    ("i,j->ij", (3,), (4,)),  # outer product
    ("i,i->", (4,), (4,)),  # inner product
    ("ij,jk", (2, 3), (3, 4)),  # implicit output
    ("ba", (2, 3)),  # implicit: alphabetical, a transpose
    ("Ab,bc", (2, 3), (3, 4)),  # implicit: upper case sorts first
    ("...ij,...jk->...ik", (2, 3, 4), (4, 2)),  # ellipsis broadcasting
    ("...ij->...ji", (2, 2, 3)),  # batched transpose
    ("i...->...", (3, 2, 2)),  # sum over the first axis
    ("...,...", (2, 3), (3,)),  # implicit output with ellipsis: elementwise product
    ("ij,jk,kl->il", (2, 3), (3, 4), (4, 2)),  # three operands
    ("ij,ij,ij->i", (2, 3), (2, 3), (2, 3)),  # repeated operands' letters
    ("ii,ij->j", (3, 3), (3, 2)),  # diagonal of one operand contracted with another
    ("bhid,bhjd->bhij", (1, 2, 3, 2), (1, 2, 4, 2)),  # attention scores
    ("ij,jk->ik", (2, 1), (3, 4)),  # length-1 axis broadcast against a longer one
]


def einsum_case(subscripts, *shapes):
    return case(f"einsum_{subscripts}", lambda *xs: mg.einsum(subscripts, *xs),
                lambda *xs: np.einsum(subscripts, *xs),
                lambda th, *xs: th.einsum(subscripts, *xs), *shapes)


CASES += [einsum_case(*row) for row in EINSUMS]


def _inputs(rng, shapes, dtype=np.float64):
    return [rng.standard_normal(shape).astype(dtype) for shape in shapes]


def _leaves(arrays):
    return [mg.tensor(a, requires_grad=True) for a in arrays]


@pytest.mark.parametrize("case_", CASES)
def test_forward_matches_numpy_and_gradient_matches_finite_differences(rng, case_):
    arrays = _inputs(rng, case_.shapes)
    xs = _leaves(arrays)
    out = case_.mg_fn(*xs)
    expected = case_.np_fn(*arrays)
    assert out.shape == expected.shape and out.dtype == expected.dtype
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)
    weights = rng.uniform(0.5, 1.5, expected.shape)
    (out * weights).sum().backward()
    for i, x in enumerate(xs):
        numeric = numeric_grad(case_.np_fn, arrays, i, weights=weights)
        assert x.grad.shape == x.shape and x.grad.dtype == x.dtype
        np.testing.assert_allclose(x.grad, numeric, rtol=1e-6, atol=1e-7)
    assert mg.gradcheck(case_.mg_fn, _leaves(arrays))


@pytest.mark.parametrize("case_", CASES)
def test_second_order_matches_finite_differences_of_the_gradient(rng, case_):
    """The gradient of sum(w * f(x)**2), taken with create_graph=True, differentiated again:
    this runs every backward on Tensors and differentiates it."""
    arrays = _inputs(rng, case_.shapes)
    weights = rng.uniform(0.5, 1.5, case_.np_fn(*arrays).shape)

    def gradient(*xs):
        out = case_.mg_fn(*xs)
        return mg.grad((out * out * weights).sum(), xs[0], create_graph=True)[0]

    assert mg.gradcheck(gradient, _leaves(arrays))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case_", [c for c in CASES if c.values[0].th_fn is not None])
def test_forward_and_gradient_match_torch(torch, rng, case_, dtype):
    arrays = _inputs(rng, case_.shapes, dtype)
    xs = _leaves(arrays)
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, expected = case_.mg_fn(*xs), case_.th_fn(torch, *ts)
    assert out.shape == tuple(expected.shape)
    assert out.dtype == np.dtype(dtype) and str(expected.dtype) == f"torch.{np.dtype(dtype).name}"
    rtol, atol = (1e-10, 1e-12) if dtype == np.float64 else (1e-5, 1e-5)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=rtol, atol=atol)
    weights = rng.uniform(0.5, 1.5, out.shape).astype(dtype)
    (out * weights).sum().backward()
    (expected * torch.tensor(weights)).sum().backward()
    for x, t in zip(xs, ts):
        assert x.grad.dtype == np.dtype(dtype)
        np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=rtol, atol=atol)


@pytest.mark.parametrize("case_", [c for c in CASES if c.values[0].th_fn is not None][::3])
def test_hessian_vector_product_matches_torch(torch, rng, case_):
    arrays = _inputs(rng, case_.shapes)
    xs, ts = _leaves(arrays), [torch.tensor(a, requires_grad=True) for a in arrays]
    weights = rng.uniform(0.5, 1.5, case_.np_fn(*arrays).shape)
    v = rng.standard_normal(arrays[0].shape)
    out = case_.mg_fn(*xs)
    (g,) = mg.grad((out * out * weights).sum(), xs[0], create_graph=True)
    (g * v).sum().backward()
    expected = case_.th_fn(torch, *ts)
    (tg,) = torch.autograd.grad((expected * expected * torch.tensor(weights)).sum(), ts[0], create_graph=True)
    (tg * torch.tensor(v)).sum().backward()
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-9, atol=1e-10)


# -- split and chunk ---------------------------------------------------------------------


def test_split_returns_a_list_like_numpy_and_refuses_unequal_sections(rng):
    x = mg.tensor(rng.standard_normal((6, 2)), requires_grad=True)
    pieces = mg.split(x, [2, 10, 1])
    assert isinstance(pieces, list)
    assert [p.shape for p in pieces] == [a.shape for a in np.split(x.data, [2, 10, 1])] == [(2, 2), (4, 2), (0, 2),
                                                                                            (5, 2)]
    pieces[1].sum().backward()
    np.testing.assert_array_equal(x.grad, np.r_[np.zeros((2, 2)), np.ones((4, 2))])
    with pytest.raises(ValueError, match="equal sections"):
        mg.split(x, 4)
    with pytest.raises(ValueError, match="larger than 0"):
        mg.split(x, 0)
    with pytest.raises(np.exceptions.AxisError):
        mg.split(x, 2, axis=2)
    with pytest.raises(np.exceptions.AxisError):
        mg.split(mg.tensor(1.0), 1)


def test_chunk_returns_a_tuple_like_torch_including_empty_axes(torch):
    for n, chunks in [(5, 3), (6, 4), (2, 5), (0, 3), (7, 1), (7, 7)]:
        x = mg.zeros(n, 2)
        got = mg.chunk(x, chunks)
        expected = torch.chunk(torch.zeros(n, 2), chunks)
        assert isinstance(got, tuple)
        assert [p.shape for p in got] == [tuple(t.shape) for t in expected], (n, chunks)
    with pytest.raises(ValueError, match="larger than 0"):
        mg.chunk(mg.zeros(3), 0)


def test_pieces_that_are_not_used_get_zero_gradient_and_empty_pieces_work(rng):
    x = mg.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    _, b, empty = mg.split(x, [1, 4], axis=0)
    (b.sum() + empty.sum() * 5.0).backward()
    np.testing.assert_array_equal(x.grad, np.r_[np.zeros((1, 3)), np.ones((3, 3))])


# -- repeat, tile, roll, flip ------------------------------------------------------------


def test_repeat_and_tile_differ_as_in_numpy():
    x = mg.tensor([1.0, 2.0])
    np.testing.assert_array_equal(mg.repeat(x, 2).data, [1, 1, 2, 2])
    np.testing.assert_array_equal(mg.tile(x, 2).data, [1, 2, 1, 2])


@pytest.mark.parametrize("repeats", [0, [0, 0, 0], [0, 1, 0]])
def test_repeat_with_zero_counts_gives_zero_gradients(repeats):
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    out = mg.repeat(x, repeats)
    assert out.shape == np.repeat(x.data, repeats).shape
    (out * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad, 3.0 * np.broadcast_to(repeats, 3))


def test_repeat_ignores_later_changes_to_the_repeats_array():
    counts = np.array([1, 2])
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    out = mg.repeat(x, counts)
    counts[:] = 0
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 2.0])


def test_repeat_of_0d_and_errors():
    np.testing.assert_array_equal(mg.repeat(mg.tensor(2.0), 3).data, [2.0, 2.0, 2.0])
    with pytest.raises(ValueError):
        mg.repeat(mg.zeros(3), [1, 2])
    with pytest.raises(ValueError):
        mg.repeat(mg.zeros(3), -1)


def test_tile_with_zero_reps_and_negative_reps():
    x = mg.tensor([[1.0, 2.0]], requires_grad=True)
    out = mg.tile(x, (0, 2))
    assert out.shape == np.tile(x.data, (0, 2)).shape == (0, 4)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, np.zeros((1, 2)))
    with pytest.raises(ValueError, match="non-negative"):
        mg.tile(x, -1)
    assert mg.tile(mg.tensor(3.0), ()).shape == np.tile(3.0, ()).shape == ()


def test_flip_refuses_repeated_or_out_of_bounds_axes():
    x = mg.zeros(2, 3)
    with pytest.raises(ValueError):
        mg.flip(x, (0, 0))
    with pytest.raises(np.exceptions.AxisError):
        mg.flip(x, 2)
    assert mg.flip(mg.tensor(1.5)).item() == 1.5


SHAPES = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4)


@settings(max_examples=40, deadline=None)
@given(shape=SHAPES, data=st.data())
def test_roll_matches_numpy_and_its_gradient_rolls_back(shape, data):
    x = np.arange(float(np.prod(shape))).reshape(shape)
    if shape:
        axes = data.draw(st.lists(st.integers(-len(shape), len(shape) - 1), min_size=1, max_size=3))
        shift = tuple(data.draw(st.integers(-7, 7)) for _ in axes)
    else:
        axes, shift = None, data.draw(st.integers(-7, 7))
    t = mg.tensor(x, requires_grad=True)
    out = mg.roll(t, shift, axes)
    np.testing.assert_array_equal(out.data, np.roll(x, shift, axes))
    weights = np.arange(out.size, dtype=float).reshape(out.shape)
    (out * weights).sum().backward()
    # d/dx sum(w * roll(x)) = roll(w) backwards, whatever the shifts.
    np.testing.assert_array_equal(t.grad, np.roll(weights, tuple(-s for s in shift) if axes else -shift, axes))


@settings(max_examples=40, deadline=None)
@given(shape=SHAPES, data=st.data())
def test_flip_matches_numpy_and_its_gradient_flips_back(shape, data):
    x = np.arange(float(np.prod(shape))).reshape(shape)
    axes = None
    if shape and data.draw(st.booleans()):
        axes = tuple(data.draw(st.sets(st.integers(0, len(shape) - 1), min_size=1)))
        axes = tuple(a - len(shape) if data.draw(st.booleans()) else a for a in axes)
    t = mg.tensor(x, requires_grad=True)
    out = mg.flip(t, axes)
    np.testing.assert_array_equal(out.data, np.flip(x, axes))
    weights = np.arange(out.size, dtype=float).reshape(out.shape)
    (out * weights).sum().backward()
    np.testing.assert_array_equal(t.grad, np.flip(weights, axes))


@settings(max_examples=40, deadline=None)
@given(shape=hnp.array_shapes(min_dims=1, max_dims=5, min_side=1, max_side=3), data=st.data())
def test_moveaxis_matches_numpy_and_its_gradient_moves_back(shape, data):
    ndim = len(shape)
    source = data.draw(st.lists(st.integers(0, ndim - 1), unique=True, min_size=1, max_size=ndim))
    destination = data.draw(st.permutations(range(ndim)))[: len(source)]
    source = [s - ndim if data.draw(st.booleans()) else s for s in source]
    x = np.arange(float(np.prod(shape))).reshape(shape)
    t = mg.tensor(x, requires_grad=True)
    out = mg.moveaxis(t, source, destination)
    np.testing.assert_array_equal(out.data, np.moveaxis(x, source, destination))
    weights = np.arange(out.size, dtype=float).reshape(out.shape)
    (out * weights).sum().backward()
    np.testing.assert_array_equal(t.grad, np.moveaxis(weights, destination, source))


def test_moveaxis_errors_like_numpy():
    x = mg.zeros(2, 3)
    with pytest.raises(ValueError, match="same number"):
        mg.moveaxis(x, [0, 1], [0])
    with pytest.raises(ValueError):
        mg.moveaxis(x, [0, 0], [0, 1])
    with pytest.raises(np.exceptions.AxisError):
        mg.moveaxis(x, 2, 0)


# -- triangles and diagonals -------------------------------------------------------------


def test_tril_triu_keep_infinities_out_of_the_zeroed_part():
    x = mg.tensor([[1.0, np.inf], [-np.inf, 2.0]], requires_grad=True)
    np.testing.assert_array_equal(mg.tril(x).data, [[1.0, 0.0], [-np.inf, 2.0]])
    np.testing.assert_array_equal(mg.triu(x).data, [[1.0, np.inf], [0.0, 2.0]])
    mg.tril(x).sum().backward()
    np.testing.assert_array_equal(x.grad, [[1.0, 0.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="at least one axis"):
        mg.tril(mg.tensor(1.0))


def test_diag_and_diagonal_edge_cases(rng):
    with pytest.raises(ValueError, match="1-D or 2-D"):
        mg.diag(mg.zeros(2, 2, 2))
    with pytest.raises(ValueError):
        mg.diagonal(mg.zeros(3))
    with pytest.raises(ValueError):
        mg.diagonal(mg.zeros(3, 3), 0, 1, 1)
    x = mg.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    far = mg.diagonal(x, 5)  # past the corner: empty, as in NumPy
    assert far.shape == np.diagonal(x.data, 5).shape == (0,)
    (far.sum() + mg.trace(x, -1)).backward()
    np.testing.assert_array_equal(x.grad, [[0, 0, 0], [1, 0, 0]])


def test_diagonal_is_a_view_that_writes_through_as_pytorchs(rng):
    start = rng.standard_normal((3, 3))
    x = mg.tensor(start)
    mg.diagonal(x).zero_()
    x.diagonal(1).fill_(7.0)
    x[1:, 1:].diagonal()[...] = 5.0
    expected = start.copy()
    expected[[0, 1, 2], [0, 1, 2]] = 0.0
    expected[[0, 1], [1, 2]] = 7.0
    expected[[1, 2], [1, 2]] = 5.0
    np.testing.assert_array_equal(x.data, expected)
    torch = pytest.importorskip("torch")
    t = torch.tensor(start)
    torch.diagonal(t).zero_()
    t.diagonal(1).fill_(7.0)
    t[1:, 1:].diagonal()[...] = 5.0
    np.testing.assert_array_equal(t.numpy(), expected)


def test_writing_through_a_diagonal_is_seen_by_backward():
    x = mg.tensor(np.arange(9.0).reshape(3, 3), requires_grad=True)
    y = (x * x).sum()
    with mg.no_grad():
        x.diagonal().zero_()
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y.backward()


# -- einsum ------------------------------------------------------------------------------


def test_einsum_result_never_aliases_its_operand(rng):
    for subscripts in ("ii->i", "ij->ji", "ij->ij"):
        x = mg.tensor(rng.standard_normal((3, 3)))
        out = mg.einsum(subscripts, x)
        out.data[...] = 7.0
        assert not np.any(x.data == 7.0), subscripts


def test_einsum_sums_an_ellipsis_left_out_of_the_output_like_torch(torch, rng):
    x = rng.standard_normal((2, 3, 4))
    t = mg.tensor(x, requires_grad=True)
    out = mg.einsum("...j->j", t)
    np.testing.assert_allclose(out.data, torch.einsum("...j->j", torch.tensor(x)).numpy())
    out.sum().backward()
    np.testing.assert_array_equal(t.grad, np.ones_like(x))


@pytest.mark.parametrize(
    "subscripts, shapes, error",
    [
        ("ij,jk", [(2, 3)], "2 operand"),
        ("ij", [(2, 3, 4)], "do not fit"),
        ("i1->i", [(2,)], "invalid subscript"),
        ("i.j->i", [(2, 3)], "ellipsis"),
        ("i->i->i", [(2,)], "one '->'"),
        ("ij,jk->ik", [(2, 3), (4, 5)], None),  # np.einsum's own error
    ],
)
def test_einsum_errors(subscripts, shapes, error):
    with pytest.raises(ValueError, match=error):
        mg.einsum(subscripts, *[mg.zeros(*s) for s in shapes])


def test_einsum_refuses_the_interleaved_form():
    x = mg.zeros(2, 2)
    with pytest.raises(TypeError, match="subscripts as a string"):
        mg.einsum(x, [0, 1])


def test_einsum_keeps_integer_dtype_and_float32(rng):
    a = np.arange(6).reshape(2, 3)
    assert mg.einsum("ij->j", a).dtype == np.einsum("ij->j", a).dtype
    x = mg.tensor(rng.standard_normal((2, 3)).astype(np.float32), requires_grad=True)
    mg.einsum("ij,ij->", x, x).backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad, 2 * x.data, rtol=1e-6)


def test_einsum_gradient_of_a_large_matmul_matches_matmul(rng):
    a = mg.tensor(rng.standard_normal((20, 30)) * 1e3, requires_grad=True)
    b = mg.tensor(rng.standard_normal((30, 10)) * 1e3, requires_grad=True)
    w = rng.standard_normal((20, 10))
    (mg.einsum("ij,jk->ik", a, b) * w).sum().backward()
    np.testing.assert_allclose(a.grad, w @ b.data.T, rtol=1e-10)
    np.testing.assert_allclose(b.grad, a.data.T @ w, rtol=1e-10)


# -- tensordot, outer, trace -------------------------------------------------------------


def test_tensordot_errors():
    with pytest.raises(ValueError, match="shape-mismatch"):
        mg.tensordot(mg.zeros(2, 3), mg.zeros(2, 3), 1)
    with pytest.raises(ValueError, match="axes of a against"):
        mg.tensordot(mg.zeros(2, 3), mg.zeros(2, 3), ([0, 1], [0]))


@pytest.mark.parametrize(("a_shape", "b_shape", "dims"), [
    ((2, 1, 4), (3, 4, 5), ([1], [0])), ((2, 3, 4), (1, 4, 5), ([1, 2], [0, 1])), ((1, 1), (3, 3), 2),
    ((2, 1), (0, 3), ([1], [0])), ((2, 0), (1, 3), ([1], [0])),
])
def test_tensordot_broadcasts_a_contracted_axis_of_length_one_as_pytorch(a_shape, b_shape, dims, rng):
    # PyTorch broadcasts such a pair (NumPy refuses it): the length-1 side is repeated, so its
    # gradient sums over the partner's length.
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    axes_a, axes_b = ([-2, -1], [0, 1]) if dims == 2 else dims
    wide_a, wide_b = list(a_shape), list(b_shape)
    for i, j in zip(axes_a, axes_b):
        wide_a[i] = wide_b[j] = b_shape[j] if a_shape[i] == 1 else a_shape[i]

    def reference(x, y):
        return np.tensordot(np.broadcast_to(x, tuple(wide_a)), np.broadcast_to(y, tuple(wide_b)), dims)

    ta, tb = mg.tensor(a, requires_grad=True), mg.tensor(b, requires_grad=True)
    out = mg.tensordot(ta, tb, dims)
    np.testing.assert_allclose(out.data, reference(a, b), rtol=1e-12)
    weights = rng.standard_normal(out.shape)
    (out * weights).sum().backward()
    for i, t in enumerate((ta, tb)):
        np.testing.assert_allclose(t.grad, numeric_grad(reference, [a, b], i, weights=weights), rtol=1e-6, atol=1e-9)


def test_tensordot_with_single_int_axes_pair(rng):
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    np.testing.assert_allclose(mg.tensordot(a, b, (1, 0)).data, np.tensordot(a, b, (1, 0)))


# -- constructors ------------------------------------------------------------------------


def test_eye_and_linspace_are_constructors_like_zeros():
    e = mg.eye(3, 4, k=1, name="e")
    np.testing.assert_array_equal(e.data, np.eye(3, 4, 1))
    assert e.dtype == mg.get_default_dtype() and e.name == "e" and not e.requires_grad
    assert mg.eye(2, dtype=np.int64).dtype == np.int64
    w = mg.eye(2, requires_grad=True)
    assert w.requires_grad and w.grad is None
    with pytest.raises(TypeError, match="require grad"):
        mg.eye(2, dtype=np.int64, requires_grad=True)
    line = mg.linspace(0, 1, 5)
    np.testing.assert_array_equal(line.data, np.linspace(0, 1, 5))
    np.testing.assert_array_equal(mg.linspace(0, 1, 4, endpoint=False).data, np.linspace(0, 1, 4, endpoint=False))
    assert mg.linspace(0, 10, 3, dtype=np.int32).dtype == np.int32
    assert mg.linspace(0, 1).shape == (50,)
    mg.set_default_dtype(np.float32)
    assert mg.linspace(0, 1, 3).dtype == np.float32 and mg.eye(2).dtype == np.float32
    with pytest.raises(TypeError):
        mg.linspace(0, 1, 3, dtype=np.complex128)


def test_eye_matches_torch(torch):
    np.testing.assert_array_equal(mg.eye(3, 2).data, torch.eye(3, 2).numpy())
    np.testing.assert_array_equal(mg.linspace(-1, 2, 7).data, torch.linspace(-1, 2, 7).numpy())


# -- NumPy dispatch and Tensor methods ---------------------------------------------------


def test_numpy_functions_on_tensors_are_differentiable(rng):
    x = mg.tensor(rng.standard_normal((3, 3)), requires_grad=True)
    results = [
        *np.split(x, 3), np.flip(x, 0), np.roll(x, 1, 1), np.repeat(x, 2, 0), np.tile(x, 2), np.tril(x),
        np.triu(x), np.diag(x), np.diagonal(x), np.trace(x), np.outer(x, x), np.tensordot(x, x),
        np.einsum("ij,jk->ik", x, x, optimize=True), np.moveaxis(x, 0, 1),
    ]
    for result in results:
        assert isinstance(result, mg.Tensor) and result.requires_grad
    with pytest.raises(TypeError, match="out"):
        np.trace(x, out=np.zeros(()))
    with pytest.raises(TypeError, match="out"):
        np.einsum("ii", x, out=np.zeros(()))


def test_tensor_methods_and_torch_argument_names(rng):
    x = mg.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    np.testing.assert_array_equal(x.flip(0).data, np.flip(x.data, 0))
    np.testing.assert_array_equal(x.roll(1, dim=1).data, np.roll(x.data, 1, axis=1))
    assert [p.shape for p in x.chunk(2, dim=1)] == [(4, 2), (4, 1)]
    np.testing.assert_array_equal(x.repeat_interleave(2, dim=0).data, np.repeat(x.data, 2, axis=0))
    np.testing.assert_array_equal(x.tile((2, 1)).data, np.tile(x.data, (2, 1)))
    np.testing.assert_array_equal(x.tril().data, np.tril(x.data))
    np.testing.assert_array_equal(x.triu(1).data, np.triu(x.data, 1))
    np.testing.assert_array_equal(x.diag().data, np.diag(x.data))
    np.testing.assert_array_equal(x.diagonal(-1).data, np.diagonal(x.data, -1))
    np.testing.assert_allclose(x.trace().data, np.trace(x.data))
    np.testing.assert_array_equal(x.outer(x[0]).data, np.outer(x.data, x.data[0]))
    np.testing.assert_array_equal(x.moveaxis(0, 1).data, x.data.T)
    np.testing.assert_array_equal(mg.flip(x, dim=1).data, np.flip(x.data, 1))
    # mg.split is NumPy's (3 sections) with axis=, PyTorch's (pieces of 2 elements) with dim=, as the method.
    assert [p.shape for p in mg.split(x, 3, axis=1)] == [(4, 1)] * 3
    assert [p.shape for p in mg.split(x, 2, dim=1)] == [(4, 2), (4, 1)]
    assert [p.shape for p in x.split(2, dim=1)] == [(4, 2), (4, 1)]


def test_a_compiled_step_with_these_ops_replays_exactly_like_eager_calls():
    w = mg.randn(3, 4, requires_grad=True, rng=0)

    def step(x):
        w.grad = None
        a, b = mg.chunk(x, 2, axis=1)
        h = mg.einsum("ij,jk->ik", a, w[:2]) + mg.repeat(b, [1, 3], axis=1).sum() + mg.tril(mg.outer(x[0], x[0])).sum()
        h = h + mg.flip(mg.roll(h, 1, 1), 0) * mg.eye(4)[0] + mg.trace(mg.tensordot(h, h, ([0], [0])))
        loss = (mg.tile(h, 2) ** 2).mean() + mg.diag(mg.diagonal(w, 1)).sum() + mg.split(x, 5)[2].sum()
        loss.backward()
        return loss

    compiled = mg.compile(step)
    x = mg.tensor(np.random.default_rng(1).standard_normal((5, 4)))
    for _ in range(3):
        replayed = compiled(x)
        replayed_grad = w.grad.copy()
        eager = step(x)
        assert replayed.item() == eager.item()
        np.testing.assert_array_equal(replayed_grad, w.grad)
