"""Indexing along an axis and padding: ``gather take_along_axis index_select scatter
scatter_add masked_fill one_hot nonzero argwhere`` and ``pad``'s copying modes (``mg.pad``
with NumPy's names, ``F.pad`` with PyTorch's).

Each differentiable op is checked against central finite differences (``mg.gradcheck``),
to second order (finite differences of a gradient built with ``create_graph=True``),
against PyTorch as an optional oracle (forward values, shapes, dtypes and the gradients of
a random weighted sum, with negative axes, repeated indices, broadcast masks and 0-d
values), and, for gather/take_along_axis, by hypothesis over random shapes against NumPy.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import microgradnp as mg
import microgradnp.nn.functional as F

RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4, 5))
IDX = RNG.integers(0, 4, (3, 6, 5))  # along axis 1, longer than x there: repeats guaranteed
SRC = RNG.standard_normal((3, 6, 5))
SCATTER_IDX = np.stack([np.stack([RNG.permutation(4)[:2] for _ in range(5)], axis=1) for _ in range(3)])  # (3, 2, 5)
DUP_IDX = np.zeros((3, 2, 5), dtype=np.int64)  # both rows write element 0: the second wins
MASK = RNG.random((4, 1)) < 0.5  # broadcasts over axes 0 and 2 of X


def leaf(array):
    return mg.tensor(np.array(array, dtype=np.float64), requires_grad=True)


# (name, function of the differentiable inputs, the inputs as arrays)
CASES = [
    ("gather", lambda x: mg.gather(x, 1, IDX[:, :, :4]), [X[:, :, :4]]),
    ("gather_neg_dim", lambda x: mg.gather(x, -1, IDX[:, :3, :3]), [X]),
    ("take_along_axis", lambda x: mg.take_along_axis(x, IDX[:1] - 2, 1), [X]),  # negative indices, broadcast
    ("take_along_axis_none", lambda x: mg.take_along_axis(x, IDX.reshape(-1)[:7] * 3, None), [X]),
    ("index_select", lambda x: mg.index_select(x, -2, np.array([3, 0, 3, 1])), [X]),
    ("scatter", lambda x, s: mg.scatter(x, 1, SCATTER_IDX, s), [X, SRC]),
    ("scatter_duplicates", lambda x, s: mg.scatter(x, 1, DUP_IDX, s), [X, SRC]),
    ("scatter_value", lambda x: mg.scatter(x, 1, SCATTER_IDX, value=2.5), [X]),
    ("scatter_add", lambda x, s: mg.scatter_add(x, 1, IDX[:, :, :4], s), [X[:, :, :4], SRC]),
    ("masked_fill", lambda x, v: mg.masked_fill(x, MASK, v), [X, 1.5]),
    ("masked_fill_number", lambda x: mg.masked_fill(x, MASK, -1.0), [X]),
    ("pad_reflect", lambda x: mg.pad(x, ((1, 2), (3, 2), (0, 4)), "reflect"), [X]),
    ("pad_reflect_wide", lambda x: mg.pad(x, ((0, 0), (7, 9), (0, 0)), "reflect"), [X]),  # reflects again
    ("pad_symmetric", lambda x: mg.pad(x, ((2, 1), (0, 5), (1, 1)), "symmetric"), [X]),
    ("pad_edge", lambda x: mg.pad(x, ((1, 0), (2, 3), (4, 1)), "edge"), [X]),
    ("pad_wrap", lambda x: mg.pad(x, ((4, 0), (1, 9), (5, 5)), "wrap"), [X]),
    ("F_pad_reflect", lambda x: F.pad(x, (2, 1, 3, 0), mode="reflect"), [X]),
    ("F_pad_replicate", lambda x: F.pad(x, (2, 1, 3, 0, 1, 1), mode="replicate"), [X]),
    ("F_pad_circular", lambda x: F.pad(x, (5, 5), mode="circular"), [X]),
    ("F_pad_constant", lambda x: F.pad(x, (1, 2, 0, 1), value=-2.0), [X]),
]
IDS = [case[0] for case in CASES]


@pytest.mark.parametrize(("name", "fn", "arrays"), CASES, ids=IDS)
def test_gradient_matches_finite_differences(name, fn, arrays):
    assert mg.gradcheck(fn, [leaf(a) for a in arrays])


@pytest.mark.parametrize(("name", "fn", "arrays"), CASES, ids=IDS)
def test_second_order_matches_finite_differences_of_the_gradient(name, fn, arrays):
    # The ops are linear in each input, so square the output: the gradient 2 J^T (w * f)
    # then depends on every input, and differentiating it runs the backward's own backward.
    inputs = [leaf(a) for a in arrays]
    weights = np.random.default_rng(1).uniform(0.5, 1.5, fn(*inputs).shape)
    for i in range(len(inputs)):

        def gradient(*xs, i=i):
            return mg.grad((weights * fn(*xs) ** 2).sum(), [xs[i]], create_graph=True)[0]

        assert mg.gradcheck(gradient, inputs)


def test_second_order_builds_a_graph_through_the_copying_pad():
    x = leaf(X)
    (g,) = mg.grad((mg.pad(x, 2, "reflect") ** 2).sum(), [x], create_graph=True)
    assert g.requires_grad
    # d/dx sum(pad(x)^2) = 2 * x * copies(x); its gradient again is 2 * copies(x).
    copies = np.zeros(X.shape)
    sources = [np.pad(np.arange(n), 2, mode="reflect") for n in X.shape]
    np.add.at(copies, np.ix_(*sources), 1)  # how often each input element is copied
    assert copies.max() > 1
    np.testing.assert_allclose(g.data, 2 * X * copies)
    (gg,) = mg.grad(g.sum(), [x])
    np.testing.assert_allclose(gg.data, 2 * copies)


# -- forward values against NumPy --------------------------------------------------------


@pytest.mark.parametrize("mode", ["reflect", "symmetric", "edge", "wrap", "constant"])
@pytest.mark.parametrize("width", [0, 1, (2, 3), ((1, 0), (0, 7)), ((6, 2), (3, 12))])
def test_pad_matches_np_pad(mode, width):
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    out = mg.pad(mg.tensor(x), width, mode)
    expected = np.pad(x, width, mode=mode)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.data, expected)
    # np.pad on a Tensor dispatches to mg.pad and stays in the graph.
    t = mg.tensor(x, requires_grad=True)
    through_numpy = np.pad(t, width, mode=mode)
    assert isinstance(through_numpy, mg.Tensor) and through_numpy.requires_grad
    np.testing.assert_array_equal(through_numpy.data, expected)


def test_np_pad_on_a_tensor_refuses_what_it_cannot_honour():
    t = mg.tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(TypeError, match="mode='mean'"):
        np.pad(t, 1, mode="mean")
    with pytest.raises(TypeError, match="reflect_type"):
        np.pad(t, 1, mode="reflect", reflect_type="odd")
    with pytest.raises(TypeError, match="constant_values"):
        np.pad(t, 1, mode="edge", constant_values=3)
    np.testing.assert_array_equal(np.pad(t, 1, constant_values=3).data, np.pad(np.ones((2, 3)), 1, constant_values=3))


def test_pad_errors():
    t = mg.tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match="'replicate' is 'edge'"):
        mg.pad(t, 1, "replicate")
    with pytest.raises(ValueError, match="only for mode 'constant'"):
        mg.pad(t, 1, "reflect", constant_values=1.0)
    with pytest.raises(ValueError):
        mg.pad(t, -1, "edge")
    with pytest.raises(ValueError):
        mg.pad(mg.tensor(np.ones((0, 3))), 1, "wrap")
    with pytest.raises(ValueError, match="even number"):
        F.pad(t, (1, 2, 3))
    with pytest.raises(ValueError, match="at most 2 per axis"):
        F.pad(t, (1,) * 6)
    with pytest.raises(ValueError, match="below"):
        F.pad(t, (3, 0), mode="reflect")
    with pytest.raises(ValueError, match="at most"):
        F.pad(t, (0, 4), mode="circular")
    np.testing.assert_array_equal(F.pad(t, (1, -1)).data, [[0.0, 1.0, 1.0]] * 2)  # negative widths crop, as PyTorch
    with pytest.raises(ValueError, match="crop more than the 3 entries"):
        F.pad(t, (-4, 0))
    with pytest.raises(ValueError, match="takes no value"):
        F.pad(t, (1, 1), mode="replicate", value=0.0)
    with pytest.raises(ValueError, match="unknown mode"):
        F.pad(t, (1, 1), mode="edge")


def test_take_along_axis_matches_numpy():
    out = mg.take_along_axis(mg.tensor(X), IDX[:1] - 2, 1)
    np.testing.assert_array_equal(out.data, np.take_along_axis(X, IDX[:1] - 2, 1))
    np.testing.assert_array_equal(np.take_along_axis(mg.tensor(X), IDX, axis=1).data, np.take_along_axis(X, IDX, 1))
    flat = IDX.reshape(-1)[:9]
    np.testing.assert_array_equal(mg.take_along_axis(mg.tensor(X), flat, None).data, np.take_along_axis(X, flat, None))


def test_scatter_with_repeated_indices_keeps_the_last_write_and_only_it_gets_a_gradient():
    x, src = leaf(np.zeros((2, 3))), leaf([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    out = mg.scatter(x, 1, np.array([[0, 0, 2], [1, 1, 1]]), src)
    np.testing.assert_array_equal(out.data, [[2.0, 0.0, 3.0], [0.0, 6.0, 0.0]])
    (out * np.arange(1.0, 7.0).reshape(2, 3)).sum().backward()
    np.testing.assert_array_equal(src.grad, [[0.0, 1.0, 3.0], [0.0, 0.0, 5.0]])
    np.testing.assert_array_equal(x.grad, [[0.0, 2.0, 0.0], [4.0, 0.0, 6.0]])


# -- errors ---------------------------------------------------------------------------------


def test_index_errors():
    x = mg.tensor(X)
    with pytest.raises(IndexError, match="out of bounds"):
        mg.gather(x, 1, np.full((3, 1, 5), 4))
    with pytest.raises(IndexError, match="out of bounds"):
        mg.gather(x, 1, np.full((3, 1, 5), -1))  # PyTorch's gather has no negative indices
    with pytest.raises(TypeError, match="integer"):
        mg.gather(x, 1, np.zeros((3, 1, 5), dtype=bool))
    with pytest.raises(ValueError, match="as many axes"):
        mg.gather(x, 1, np.zeros((3, 1), dtype=int))
    with pytest.raises(ValueError, match="larger than the input"):
        mg.gather(x, 1, np.zeros((4, 1, 5), dtype=int))
    with pytest.raises(np.exceptions.AxisError):
        mg.gather(x, 3, IDX)
    with pytest.raises(IndexError, match="1-D"):
        mg.index_select(x, 0, np.zeros((1, 1), dtype=int))
    with pytest.raises(IndexError, match="out of bounds"):
        mg.index_select(x, 0, np.array([-1]))
    with pytest.raises(ValueError, match="larger than src"):
        mg.scatter(x, 1, SCATTER_IDX, mg.tensor(SRC[:, :1]))
    with pytest.raises(TypeError, match="exactly one"):
        mg.scatter(x, 1, SCATTER_IDX)
    with pytest.raises(TypeError, match="value must be a number"):
        mg.scatter(x, 1, SCATTER_IDX, value=mg.tensor(1.0, requires_grad=True))
    with pytest.raises(TypeError, match="dtype"):
        mg.scatter_add(x, 1, SCATTER_IDX, mg.tensor(SRC, dtype=np.float32))
    with pytest.raises(TypeError, match="bool"):
        mg.masked_fill(x, MASK.astype(int), 1.0)
    with pytest.raises(ValueError, match="does not broadcast"):
        mg.masked_fill(x, np.ones((2, 4, 5), dtype=bool), 1.0)
    with pytest.raises(TypeError, match="0-d"):
        mg.masked_fill(x, MASK, mg.tensor([1.0]))
    with pytest.raises(ValueError, match="num_classes"):
        mg.one_hot(np.array([0, 3]), 3)
    with pytest.raises(ValueError, match="num_classes"):
        mg.one_hot(np.array([-1, 0]))
    with pytest.raises(TypeError, match="integers"):
        mg.one_hot(np.array([0.5]))
    with pytest.raises(TypeError, match="integers"):
        mg.gather(x, 1, np.full((3, 1, 5), 0.5))


# -- non-differentiable results ---------------------------------------------------------------


def test_one_hot_nonzero_argwhere():
    codes = mg.one_hot(mg.tensor(np.array([[0, 2], [1, 1]])))
    assert codes.dtype == np.int64 and codes.shape == (2, 2, 3) and not codes.requires_grad
    np.testing.assert_array_equal(codes.data[1, 0], [0, 1, 0])
    assert F.one_hot(np.array([1]), 4).shape == (1, 4)
    x = mg.tensor(np.array([[0.0, 1.5], [2.0, 0.0]]), requires_grad=True)
    rows, cols = mg.nonzero(x)
    np.testing.assert_array_equal(rows.data, [0, 1])
    np.testing.assert_array_equal(cols.data, [1, 0])
    assert not rows.requires_grad and rows.dtype == np.int64
    np.testing.assert_array_equal(x.nonzero(as_tuple=False).data, [[0, 1], [1, 0]])
    np.testing.assert_array_equal(mg.argwhere(x).data, np.argwhere(x.data))
    np.testing.assert_array_equal(np.nonzero(x)[1].data, [1, 0])
    assert mg.nonzero(mg.tensor(3.0))[0].shape == (1,)  # 0-d counts as 1-D, as in PyTorch
    assert mg.argwhere(mg.tensor(0.0)).shape == (0, 0)


def test_pytorch_argument_names_and_methods():
    x = mg.tensor(X)
    np.testing.assert_array_equal(x.gather(dim=2, index=IDX[:, :4, :3]).data, mg.gather(x, 2, IDX[:, :4, :3]).data)
    np.testing.assert_array_equal(x.index_select(dim=0, index=[2, 0]).data, X[[2, 0]])
    np.testing.assert_array_equal(x.masked_fill(MASK, 0.0).data, np.where(MASK, 0.0, X))
    np.testing.assert_array_equal(x.scatter_add(1, SCATTER_IDX, mg.tensor(SRC)).data,
                                  mg.scatter_add(x, dim=1, index=SCATTER_IDX, src=SRC).data)
    np.testing.assert_array_equal(x.scatter(1, SCATTER_IDX, 0.0).data, mg.scatter(x, 1, SCATTER_IDX, value=0.0).data)
    # Index tensors from mg.tensor hold floats (whole numbers): accepted, as cross_entropy's targets.
    np.testing.assert_array_equal(mg.gather(x, 0, mg.tensor(IDX[:, :4] % 3)).data, mg.gather(x, 0, IDX[:, :4] % 3).data)
    # Comparisons give bool tensors: a mask.
    np.testing.assert_array_equal(x.masked_fill(x > 0, 0.0).data, np.minimum(X, 0.0))


def test_float32_stays_float32():
    x = mg.tensor(X.astype(np.float32), requires_grad=True)
    outs = [mg.gather(x, 1, IDX[:, :, :4] % 4), mg.scatter(x, 1, SCATTER_IDX, 1.0), mg.masked_fill(x, MASK, 2.0),
            mg.pad(x, 2, "wrap"), F.pad(x, (1, 1), mode="reflect"), mg.take_along_axis(x, IDX, 1)]
    sum(o.sum() for o in outs).backward()
    assert all(o.dtype == np.float32 for o in outs) and x.grad.dtype == np.float32


# -- PyTorch as an oracle ---------------------------------------------------------------------


def _compare_with_torch(torch, mg_fn, torch_fn, arrays):
    """Forward values, shapes and dtypes, and the gradients of a random weighted sum."""
    ours = [leaf(a) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in arrays]
    theirs = [torch.tensor(a, requires_grad=bool(isinstance(a, np.ndarray) and a.dtype.kind == "f"))
              if isinstance(a, np.ndarray) else a for a in arrays]
    out, expected = mg_fn(*ours), torch_fn(*theirs)
    assert out.shape == tuple(expected.shape)
    assert out.dtype == np.dtype(str(expected.dtype).removeprefix("torch."))
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    if expected.requires_grad:
        weights = np.random.default_rng(2).uniform(0.5, 1.5, out.shape)
        (out * weights).sum().backward()
        (expected * torch.tensor(weights)).sum().backward()
        for a, b in zip(ours, theirs):
            if isinstance(a, mg.Tensor):
                np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=1e-12, atol=1e-12)


TORCH_CASES = [
    ("gather", lambda x: mg.gather(x, 1, IDX[:, :, :4]), lambda th, x: th.gather(x, 1, th.tensor(IDX[:, :, :4])),
     [X]),
    ("gather_neg", lambda x: x.gather(-3, IDX[:2, :4] % 3), lambda th, x: x.gather(-3, th.tensor(IDX[:2, :4] % 3)),
     [X]),
    ("gather_0d", lambda x: mg.gather(x, 0, np.array(0)), lambda th, x: th.gather(x, 0, th.tensor(0)),
     [np.array(1.5)]),
    ("index_select", lambda x: mg.index_select(x, -1, np.array([4, 4, 0])),
     lambda th, x: th.index_select(x, -1, th.tensor([4, 4, 0])), [X]),
    ("index_select_0d", lambda x: mg.index_select(x, 1, np.array(2)),
     lambda th, x: th.index_select(x, 1, th.tensor(2)), [X]),
    ("scatter", lambda x, s: mg.scatter(x, -2, SCATTER_IDX, s),
     lambda th, x, s: th.scatter(x, -2, th.tensor(SCATTER_IDX), s), [X, SRC[:, :2].copy()]),
    # (PyTorch's backward fails for a src larger than the index; CASES checks ours by finite differences)
    ("scatter_value", lambda x: mg.scatter(x, 2, SCATTER_IDX[:, :, :2], 7.0),
     lambda th, x: th.scatter(x, 2, th.tensor(SCATTER_IDX[:, :, :2]), 7.0), [X]),
    ("scatter_add", lambda x, s: mg.scatter_add(x, 1, IDX[:, :, :4], s),
     lambda th, x, s: th.scatter_add(x, 1, th.tensor(IDX[:, :, :4]), s),
     [X[:, :, :4].copy(), SRC[:, :, :4].copy()]),
    ("scatter_add_0d", lambda x, s: mg.scatter_add(x, 0, np.array(0), s),
     lambda th, x, s: th.scatter_add(x, 0, th.tensor(0), s), [np.array(1.0), np.array(2.0)]),
    ("masked_fill", lambda x: mg.masked_fill(x, MASK, 1e6), lambda th, x: x.masked_fill(th.tensor(MASK), 1e6), [X]),
    ("masked_fill_0d_value", lambda x, v: mg.masked_fill(x, MASK[:, 0][None, :, None], v),
     lambda th, x, v: x.masked_fill(th.tensor(MASK[:, 0][None, :, None]), v), [X, np.array(-3.0)]),
    ("masked_fill_0d_input", lambda x: mg.masked_fill(x, np.array(True), 2.0),
     lambda th, x: x.masked_fill(th.tensor(True), 2.0), [np.array(1.0)]),
]
for mode in ["reflect", "replicate", "circular", "constant"]:
    for pad in [(1, 2), (0, 3, 2, 1), (1, 1, 0, 2, 2, 0)]:
        TORCH_CASES.append((f"F.pad-{mode}-{pad}", lambda x, m=mode, p=pad: F.pad(x, p, mode=m),
                            lambda th, x, m=mode, p=pad: th.nn.functional.pad(x, p, mode=m),
                            [X if len(pad) < 6 else X[None]]))  # the ranks PyTorch accepts


@pytest.mark.parametrize(("name", "mg_fn", "torch_fn", "arrays"), TORCH_CASES, ids=[c[0] for c in TORCH_CASES])
def test_against_pytorch(torch, name, mg_fn, torch_fn, arrays):
    _compare_with_torch(torch, mg_fn, lambda *xs: torch_fn(torch, *xs), arrays)


def test_one_hot_and_nonzero_against_pytorch(torch):
    labels = RNG.integers(0, 5, (3, 4))
    ours, theirs = mg.one_hot(labels), torch.nn.functional.one_hot(torch.tensor(labels))
    assert ours.dtype == np.int64 and ours.shape == tuple(theirs.shape)
    np.testing.assert_array_equal(ours.data, theirs.numpy())
    np.testing.assert_array_equal(F.one_hot(labels, 7).data, torch.nn.functional.one_hot(torch.tensor(labels), 7))
    x = (X > 0.5) * X
    np.testing.assert_array_equal(mg.nonzero(x, as_tuple=False).data, torch.nonzero(torch.tensor(x)).numpy())
    for ours, theirs in zip(mg.nonzero(x), torch.nonzero(torch.tensor(x), as_tuple=True), strict=True):
        np.testing.assert_array_equal(ours.data, theirs.numpy())


# -- hypothesis: gather and take_along_axis over random shapes --------------------------------


@st.composite
def along_axis_problems(draw):
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=ndim, max_size=ndim)))
    axis = draw(st.integers(-ndim, ndim - 1))
    # NumPy broadcasting: each other axis of the index is the input's length or 1 (or the
    # input's is 1); the picked axis may be any length, including 0.
    index_shape = []
    for d, n in enumerate(shape):
        index_shape.append(draw(st.integers(0, 5)) if d == axis % ndim else draw(st.sampled_from([n, 1])))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    index = rng.integers(-shape[axis], shape[axis], index_shape)
    return rng.standard_normal(shape), index, axis


@settings(max_examples=40, deadline=None)
@given(along_axis_problems())
def test_take_along_axis_and_gather_agree_with_numpy(problem):
    data, index, axis = problem
    x = leaf(data)
    out = mg.take_along_axis(x, index, axis)
    expected = np.take_along_axis(data, index, axis)
    np.testing.assert_array_equal(out.data, expected)
    weights = np.random.default_rng(3).uniform(0.5, 1.5, out.shape)
    (out * weights).sum().backward()
    # The gradient, independently: add each weight at the element it was picked from.
    grad = np.zeros(data.shape)
    sources = np.take_along_axis(np.arange(data.size).reshape(data.shape), index, axis)  # flat positions
    np.add.at(grad.reshape(-1), sources.reshape(-1), weights.reshape(-1))
    np.testing.assert_allclose(x.grad, grad)
    # gather is take_along_axis where the index does not broadcast and has no negatives.
    if all(n <= m for d, (n, m) in enumerate(zip(index.shape, data.shape)) if d != axis % data.ndim):
        positive = index % data.shape[axis]
        np.testing.assert_array_equal(mg.gather(mg.tensor(data), axis, positive).data,
                                      np.take_along_axis(data[tuple(slice(0, n) if d != axis % data.ndim else
                                                                    slice(None) for d, n in
                                                                    enumerate(positive.shape))],
                                                         positive, axis))


def test_compiled_replay_follows_indices_computed_inside_the_function():
    # The index comes from argmax of changing data: a replay must use the new indices.
    w = mg.tensor(np.random.default_rng(4).standard_normal((3, 4)), requires_grad=True)
    x = mg.tensor(np.zeros((3, 4)))

    def step():
        w.grad = None
        idx = (x * w).argmax(axis=1, keepdims=True)
        y = (mg.gather(w, 1, idx) ** 2).sum() + mg.take_along_axis(w, idx, 1).sum()
        y = y + (mg.scatter(w, 1, idx, 5.0) ** 2).sum() + mg.scatter_add(w, 1, idx, w[:, :1]).sum()
        y = y + (mg.index_select(w, 1, idx[:, 0]) ** 2).sum() + mg.masked_fill(w, x > 0, 0.0).sum()
        y = y + (F.pad(w * x, (2, 1), mode="reflect") ** 2).sum()
        y.backward()
        return y

    compiled = mg.compile(step)
    for seed in range(3):
        x.data[...] = np.random.default_rng(seed).standard_normal((3, 4))
        replayed, replayed_grad = compiled().data.copy(), w.grad.copy()
        eager, eager_grad = step().data.copy(), w.grad.copy()
        np.testing.assert_allclose(replayed, eager)
        np.testing.assert_allclose(replayed_grad, eager_grad)


def test_a_float_tensor_index_says_how_to_index():
    """mg.tensor([True, False]) and mg.tensor([2, 0]) hold floats (the default dtype): as in
    PyTorch they cannot index, and the error names the fix."""
    x = mg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    for index in (mg.tensor([True, False]), (slice(None), mg.tensor([2, 0]))):
        with pytest.raises(IndexError, match=r"cannot index: .* t\.long\(\) .* t\.bool\(\)"):
            x[index]
    np.testing.assert_array_equal(x[mg.tensor([True, False]).bool()].data, [[0.0, 1.0, 2.0]])
    np.testing.assert_array_equal(x[:, mg.tensor([2, 0]).long()].data, [[2.0, 0.0], [5.0, 3.0]])


@pytest.mark.parametrize("index", [(0, slice(None), (2, 1, 0)), (1, None, (2, 1, 0)),
                                   (1, (2, 1, 0), None, (3, 0, 1))])
def test_a_tuple_inside_an_index_is_an_array_with_pytorchs_int_rule(index):
    # x[0, :, (2, 1, 0)] is x[0, :, [2, 1, 0]]: the sliced axis first (a tuple was read as NumPy does: (3, 5))
    x = np.arange(40.0).reshape(2, 5, 4)
    as_list = tuple(list(part) if isinstance(part, tuple) else part for part in index)
    t = mg.tensor(x, requires_grad=True)
    np.testing.assert_array_equal(t[index].data, mg.tensor(x)[as_list].data)
    assert t[(0, slice(None), (2, 1, 0))].shape == (5, 3)
    (t[index] * 2).sum().backward()
    listed = mg.tensor(x, requires_grad=True)
    (listed[as_list] * 2).sum().backward()
    np.testing.assert_array_equal(t.grad, listed.grad)
