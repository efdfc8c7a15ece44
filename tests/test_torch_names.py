"""PyTorch's spellings beside NumPy's: dim=/keepdim=, view, unsqueeze, permute, flatten,
clone, numel, argmax/argmin, float/double/to, mg.cat, mg.from_numpy, constructors' name=."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import microgradnp as mg
from microgradnp.nn import functional as F

RNG = np.random.default_rng(0)
X = RNG.normal(size=(3, 4, 5))


def _leaf(data=X):
    return mg.tensor(data, requires_grad=True)


@pytest.mark.parametrize(("name", "kwargs", "numpy_kwargs"), [
    ("sum", {"dim": 1}, {"axis": 1}),
    ("sum", {"dim": (0, 2), "keepdim": True}, {"axis": (0, 2), "keepdims": True}),
    ("mean", {"dim": -1, "keepdim": True}, {"axis": -1, "keepdims": True}),
    ("max", {"axis": 0}, {"axis": 0}),
    ("min", {"axis": 2, "keepdim": True}, {"axis": 2, "keepdims": True}),
    ("var", {"dim": 1}, {"axis": 1, "ddof": 1}),  # dim=: PyTorch's correction=1
    ("logsumexp", {"dim": 1, "keepdim": True}, {"axis": 1, "keepdims": True}),
    ("softmax", {"dim": 0}, {"axis": 0}),
    ("log_softmax", {"dim": 1}, {"axis": 1}),
    ("flatten", {"start_dim": 1}, {"start_axis": 1}),
    ("flatten", {"start_dim": 0, "end_dim": 1}, {"start_axis": 0, "end_axis": 1}),
])
def test_dim_and_keepdim_mean_axis_and_keepdims(name, kwargs, numpy_kwargs):
    by_torch_names, by_numpy_names = _leaf(), _leaf()
    out = getattr(by_torch_names, name)(**kwargs)
    expected = getattr(mg, name)(by_numpy_names, **numpy_kwargs)
    np.testing.assert_array_equal(out.data, expected.data)
    weights = RNG.normal(size=out.shape)
    (out * weights).sum().backward()
    (expected * weights).sum().backward()
    np.testing.assert_array_equal(by_torch_names.grad, by_numpy_names.grad)


def test_functions_and_functional_take_dim_too():
    x = _leaf()
    np.testing.assert_array_equal(mg.sum(x, dim=2).data, X.sum(axis=2))
    np.testing.assert_array_equal(F.softmax(x, dim=1).data, mg.softmax(x, axis=1).data)
    np.testing.assert_array_equal(mg.cat([x, x], dim=2).data, np.concatenate([X, X], axis=2))
    np.testing.assert_array_equal(mg.stack([x, x], dim=1).data, np.stack([X, X], axis=1))
    assert mg.squeeze(mg.tensor(np.ones((2, 1, 3))), dim=1).shape == (2, 3)


def test_both_spellings_of_one_argument_is_an_error():
    x = _leaf()
    with pytest.raises(TypeError, match="got both dim= and axis="):
        x.sum(axis=1, dim=1)
    with pytest.raises(TypeError, match="got both dim= and axis="):
        mg.mean(x, 0, dim=0)
    with pytest.raises(TypeError, match="got both keepdim= and keepdims="):
        x.sum(1, keepdims=True, keepdim=True)


def test_view_unsqueeze_permute_numel():
    x = _leaf()
    assert x.view(12, 5).shape == (12, 5) and x.view(-1).shape == (60,) and x.view((4, 15)).shape == (4, 15)
    assert x.unsqueeze(0).shape == (1, 3, 4, 5) and x.unsqueeze(-1).shape == (3, 4, 5, 1)
    np.testing.assert_array_equal(x.permute(2, 0, 1).data, X.transpose(2, 0, 1))
    np.testing.assert_array_equal(x.permute((1, 2, 0)).data, X.transpose(1, 2, 0))
    assert x.numel() == 60
    weights = RNG.normal(size=(5, 3, 4))
    (x.permute(2, 0, 1) * weights).sum().backward()
    np.testing.assert_array_equal(x.grad, weights.transpose(1, 2, 0))
    as_ints = x.view(np.int64)  # PyTorch's view(dtype): the same bytes, outside the graph
    assert as_ints.dtype == np.int64 and not as_ints.requires_grad
    np.testing.assert_array_equal(as_ints.data, X.view(np.int64))
    with pytest.raises(TypeError, match="expected a shape"):
        x.view("not a dtype")
    with pytest.raises(TypeError, match="permute"):
        x.permute()


def test_transpose_with_two_dims_swaps_them_as_in_pytorch():
    """Two ints are PyTorch's transpose(dim0, dim1); a tuple (or three ints) is NumPy's
    permutation, and permute always is one: t.transpose(0, 1) of a matrix is its
    transpose, never NumPy's no-op permutation (0, 1)."""
    m = mg.tensor(RNG.normal(size=(3, 3)), requires_grad=True)
    np.testing.assert_array_equal(m.transpose(0, 1).data, m.data.T)
    np.testing.assert_array_equal(mg.transpose(m, 0, 1).data, m.data.T)
    np.testing.assert_array_equal(m.transpose((0, 1)).data, m.data)  # a tuple: NumPy's permutation
    np.testing.assert_array_equal(m.permute(0, 1).data, m.data)
    np.testing.assert_array_equal(m.transpose(np.int64(1), np.int64(0)).data, m.data.T)
    x = _leaf()
    for dims in [(0, 1), (0, 2), (2, 0), (-1, 1), (1, 1)]:
        np.testing.assert_array_equal(x.transpose(*dims).data, X.swapaxes(*dims))
    np.testing.assert_array_equal(x.transpose(1, 2, 0).data, X.transpose(1, 2, 0))
    weights = RNG.normal(size=(5, 4, 3))
    (x.transpose(0, 2) * weights).sum().backward()
    np.testing.assert_array_equal(x.grad, weights.swapaxes(0, 2))
    with pytest.raises(np.exceptions.AxisError, match="out of bounds"):
        x.transpose(0, 3)


def test_transpose_matches_pytorch(torch):
    for shape in [(2, 3), (2, 3, 4), (2, 1, 3, 5)]:
        values = RNG.normal(size=shape)
        for dims in [(0, 1), (1, 0), (0, -1), (-2, -1)]:
            ours, theirs = mg.tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)
            upstream = RNG.normal(size=np.swapaxes(values, *dims).shape)
            (ours.transpose(*dims) * upstream).sum().backward()
            (theirs.transpose(*dims) * torch.tensor(upstream)).sum().backward()
            np.testing.assert_array_equal(ours.transpose(*dims).data, theirs.transpose(*dims).detach().numpy())
            np.testing.assert_array_equal(ours.grad, theirs.grad.numpy())


def test_max_and_min_read_positional_arguments_as_pytorch():
    """out.max(1)[1] is the predicted class, as in every PyTorch training loop; with NumPy's
    reading it would silently be the second row of the values."""
    scores = mg.tensor(RNG.normal(size=(4, 3)), requires_grad=True)
    values, indices = scores.max(1)
    np.testing.assert_array_equal(indices.data, scores.data.argmax(1))
    np.testing.assert_array_equal(values.data, scores.data.max(1))
    assert scores.max(1)[1].shape == (4,) and scores.max(1, True).values.shape == (4, 1)
    np.testing.assert_array_equal(scores.min(0).indices.data, scores.data.argmin(0))
    np.testing.assert_array_equal(scores.min(np.int64(0), keepdim=True).values.data, scores.data.min(0, keepdims=True))
    zeros = np.zeros((4, 3))
    np.testing.assert_array_equal(scores.max(mg.tensor(zeros)).data, np.maximum(scores.data, 0))
    np.testing.assert_array_equal(scores.min(zeros).data, np.minimum(scores.data, 0))
    # Keywords and no arguments as before; the function mg.max is NumPy's.
    np.testing.assert_array_equal(scores.max(axis=1).data, scores.data.max(1))
    np.testing.assert_array_equal(mg.max(scores, 1).data, scores.data.max(1))
    assert scores.max().item() == scores.data.max() and scores.max((0, 1)).item() == scores.data.max()
    scores.max(1)[0].sum().backward()
    np.testing.assert_array_equal(scores.grad, np.eye(3)[scores.data.argmax(1)])
    with pytest.raises(TypeError, match="dim, keepdim"):
        scores.max(1, axis=0)
    with pytest.raises(TypeError, match="elementwise maximum"):
        scores.max(mg.tensor(zeros), 1)


def test_positional_max_min_match_pytorch(torch):
    values = RNG.normal(size=(3, 4, 5))
    for name in ("max", "min"):
        for args in [(0,), (1,), (-1,), (2, True)]:
            ours, theirs = mg.tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)
            mine, reference = getattr(ours, name)(*args), getattr(theirs, name)(*args)
            np.testing.assert_array_equal(mine.values.data, reference.values.detach().numpy())
            np.testing.assert_array_equal(mine.indices.data, reference.indices.numpy())
            upstream = RNG.normal(size=reference.values.shape)
            (mine[0] * upstream).sum().backward()
            (reference[0] * torch.tensor(upstream)).sum().backward()
            np.testing.assert_array_equal(ours.grad, theirs.grad.numpy())
        other = RNG.normal(size=(4, 5))
        np.testing.assert_array_equal(getattr(mg.tensor(values), name)(mg.tensor(other)).data,
                                      getattr(torch.tensor(values), name)(torch.tensor(other)).numpy())


def test_var_and_std_methods_divide_by_n_minus_1_as_pytorch_unless_spelled_as_numpy():
    x = mg.tensor(RNG.normal(size=(4, 5)), requires_grad=True)
    for name in ("var", "std"):
        method, function, numpy = getattr(x, name), getattr(mg, name), getattr(np, name)
        # PyTorch's spellings (the method's positional forms, dim=, none): Bessel's correction.
        for value, expected in [(method(dim=1), numpy(x.data, axis=1, ddof=1)),
                                (method(1), numpy(x.data, axis=1, ddof=1)), (method(), numpy(x.data, ddof=1)),
                                (method(True), numpy(x.data, ddof=1)),
                                (method(False), numpy(x.data)), (method(1, False), numpy(x.data, axis=1)),
                                (method(0, True, True), numpy(x.data, axis=0, ddof=1, keepdims=True)),
                                (method(dim=1, unbiased=False), numpy(x.data, axis=1)),
                                (method(dim=1, correction=0), numpy(x.data, axis=1)),
                                (method(1, unbiased=True), numpy(x.data, axis=1, ddof=1)),
                                (function(x, dim=0, keepdim=True), numpy(x.data, axis=0, ddof=1, keepdims=True))]:
            np.testing.assert_allclose(value.data, expected, rtol=1e-15)
            assert value.shape == expected.shape
        # NumPy's spellings (axis=, keepdims=, ddof=, and the function mg.var) keep NumPy's population variance.
        for value, expected in [(method(axis=1), numpy(x.data, axis=1)), (function(x, 1), numpy(x.data, axis=1)),
                                (function(x), numpy(x.data)), (method(ddof=0), numpy(x.data)),
                                (method(1, keepdims=True), numpy(x.data, axis=1, keepdims=True))]:
            np.testing.assert_allclose(value.data, expected, rtol=1e-15)
        with pytest.raises(TypeError, match="unbiased= with ddof= or correction="):
            method(dim=1, unbiased=True, correction=1)
        with pytest.raises(TypeError, match="at most 3 positional arguments"):
            method(1, True, True, 1)
        with pytest.raises(TypeError, match="multiple values for argument 'dim'"):
            method(1, dim=1)


def test_var_and_std_with_dim_match_pytorch(torch):
    values = RNG.normal(size=(3, 4, 5))
    for name in ("var", "std"):
        for args, kwargs in [((), {"dim": 1}), ((), {"dim": (0, 2), "keepdim": True}),
                             ((), {"dim": -1, "unbiased": False}), ((), {"dim": None}), ((), {}), ((1,), {}),
                             ((0, False), {}), ((2, True, True), {}),
                             ((False,), {}), ((-1,), {"keepdim": True, "correction": 2})]:
            ours, theirs = mg.tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)
            mine, reference = getattr(ours, name)(*args, **kwargs), getattr(theirs, name)(*args, **kwargs)
            np.testing.assert_allclose(mine.data, reference.detach().numpy(), rtol=1e-12)
            mine.sum().backward()
            reference.sum().backward()
            np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_norm_method_reads_positional_arguments_as_pytorch():
    x = mg.tensor(RNG.normal(size=(3, 4)), requires_grad=True)
    values = x.data
    np.testing.assert_allclose(x.norm(1).data, np.abs(values).sum(), rtol=1e-15)  # NumPy's ord=1 is a matrix norm
    np.testing.assert_allclose(x.norm(2).data, np.sqrt((values ** 2).sum()), rtol=1e-15)
    np.testing.assert_allclose(x.norm(np.inf).data, np.abs(values).max(), rtol=1e-15)
    np.testing.assert_allclose(x.norm(3, 1).data, (np.abs(values) ** 3).sum(1) ** (1 / 3), rtol=1e-14)
    np.testing.assert_allclose(x.norm(1, 0, True).data, np.abs(values).sum(0, keepdims=True), rtol=1e-15)
    np.testing.assert_allclose(x.norm(None, 1).data, np.linalg.norm(values, axis=1), rtol=1e-15)
    # NumPy's spelling is np.linalg.norm's, whose matrix norms other than Frobenius are refused.
    np.testing.assert_allclose(x.norm(ord=None, axis=1).data, np.linalg.norm(values, axis=1), rtol=1e-15)
    with pytest.raises(ValueError, match="matrix norm ord=1 is not supported"):
        x.norm(ord=1)
    with pytest.raises(TypeError, match="multiple values for argument 'dim'"):
        x.norm(2, 1, dim=1)


@pytest.mark.parametrize("call", ["norm(2)", "norm(1)", "norm(float('inf'))", "norm(3, 1)", "norm(1, 0, True)",
                                  "norm(2, (0, 1))", "norm(p=1)", "norm(dim=1)", "norm('fro')", "norm(0.5, -1)"])
@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4)])
def test_norm_method_matches_pytorch(torch, call, shape):
    values = RNG.normal(size=shape)
    ours, theirs = mg.tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)
    mine, reference = eval(f"ours.{call}"), eval(f"theirs.{call}")  # the same call for both libraries
    np.testing.assert_allclose(mine.data, reference.detach().numpy(), rtol=1e-13)
    mine.sum().backward()
    reference.sum().backward()
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_roll_and_flip_take_pytorchs_shifts_and_dims():
    x = mg.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    np.testing.assert_array_equal(x.roll(shifts=(1, 2), dims=(0, 1)).data, np.roll(x.data, (1, 2), (0, 1)))
    np.testing.assert_array_equal(mg.roll(x, shifts=-1, dims=1).data, np.roll(x.data, -1, 1))
    np.testing.assert_array_equal(x.flip(dims=(0,)).data, x.data[::-1])
    x.roll(shifts=1, dims=0)[0].sum().backward()
    np.testing.assert_array_equal(x.grad, np.eye(3)[2][:, None] * np.ones((3, 4)))  # out[0] is x[2]
    with pytest.raises(TypeError, match="got both shifts= and shift="):
        x.roll(1, shifts=1)


def test_size_is_numpys_count_and_called_pytorchs_shape(torch):
    x = _leaf()
    t = torch.zeros(x.shape)
    assert x.size == 60 and x.size + 1 == 61 and isinstance(x.size, int)
    assert x.size() == tuple(t.size()) == (3, 4, 5)
    for dim in (0, 1, 2, -1, -3):
        assert x.size(dim) == t.size(dim) and x.size(dim=dim) == t.size(dim=dim)
    for dim in (3, -4):
        with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-3, 2\]"):
            x.size(dim)
        with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-3, 2\]"):
            t.size(dim)
    with pytest.raises(IndexError, match="tensor has no dimensions"):
        mg.tensor(1.0).size(0)
    assert mg.tensor(1.0).size() == () and mg.tensor(1.0).size == 1
    assert pickle.loads(pickle.dumps(x.size)) == 60 and copy.deepcopy(x.size) == 60


def test_argmax_and_argmin_are_integer_tensors_outside_the_graph():
    x = _leaf()
    for name in ("argmax", "argmin"):
        numpy = getattr(np, name)
        for kwargs, numpy_kwargs in [({}, {}), ({"dim": 1}, {"axis": 1}),
                                     ({"dim": -1, "keepdim": True}, {"axis": -1, "keepdims": True})]:
            got = getattr(x, name)(**kwargs)
            assert isinstance(got, mg.Tensor) and not got.requires_grad and got.dtype.kind == "i"
            np.testing.assert_array_equal(got.data, numpy(X, **numpy_kwargs))
            np.testing.assert_array_equal(getattr(mg, name)(x, **kwargs).data, got.data)


def test_float_double_and_to_convert_differentiably():
    x = _leaf()
    single = x.float()
    assert single.dtype == np.float32 and single.requires_grad
    np.testing.assert_array_equal(single.data, X.astype(np.float32))
    assert x.double() is x and x.to(np.float64) is x and x.to("cpu") is x
    assert x.to("float32").dtype == np.float32 and x.to(single).dtype == np.float32
    (single.double() * 3).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad, np.full(X.shape, 3.0))
    as_ints = x.to(np.int64)  # as PyTorch: integer values, outside the graph
    assert as_ints.dtype == np.int64 and not as_ints.requires_grad
    with pytest.raises(TypeError, match="expected a dtype"):
        x.to("gpu")


def test_cast_gradients_against_finite_differences_and_second_order():
    x = mg.tensor(RNG.normal(size=(2, 3)), requires_grad=True)
    assert mg.gradcheck(lambda t: (t.to(np.float64) ** 3).sum(), (x,))
    (first,) = mg.grad((x.float().double() ** 3).sum(), [x], create_graph=True)
    (second,) = mg.grad(first.sum(), [x])
    np.testing.assert_allclose(second, 6 * x.data.astype(np.float32).astype(np.float64), rtol=1e-6)


def test_cat_from_numpy_and_names_of_constructors():
    a = np.arange(4.0)
    shared = mg.from_numpy(a)
    a[0] = 9
    assert shared.data[0] == 9 and shared.dtype == a.dtype
    assert mg.from_numpy(np.arange(3)).dtype.kind == "i"
    with pytest.raises(TypeError, match=r"expected a numpy\.ndarray"):
        mg.from_numpy([1.0, 2.0])
    with pytest.raises(TypeError, match="real numbers"):
        mg.from_numpy(np.array(["a"]))
    assert mg.cat is mg.concatenate
    made = [mg.zeros(2, name="a"), mg.ones(2, name="b"), mg.full(2, 3.0, name="c"), mg.zeros_like(a, name="d"),
            mg.ones_like(a, name="e"), mg.randn(2, name="f", rng=0), mg.rand(2, name="g", rng=0),
            mg.arange(3, name="h"), mg.tensor([1.0], name="i")]
    assert [t.name for t in made] == list("abcdefghi")
    assert mg.zeros(2).name is None


def test_against_pytorch():
    torch = pytest.importorskip("torch")
    x, t = _leaf(), torch.tensor(X, requires_grad=True)
    pairs = [
        (x.sum(dim=1, keepdim=True), t.sum(dim=1, keepdim=True)),
        (x.view(4, 15), t.view(4, 15)),
        (x.unsqueeze(1).permute(3, 0, 1, 2), t.unsqueeze(1).permute(3, 0, 1, 2)),
        (x.flatten(start_dim=1), t.flatten(start_dim=1)),
        (x.clone() * 2, t.clone() * 2),
        (mg.cat([x, x], dim=-1), torch.cat([t, t], dim=-1)),
        (x.mean(dim=(0, 2)), t.mean(dim=(0, 2))),
        (x.float().double(), t.float().double()),
    ]
    total, torch_total = 0, 0
    for ours, theirs in pairs:
        assert ours.shape == tuple(theirs.shape)
        np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-6)
        weights = RNG.normal(size=ours.shape)
        total = total + (ours * weights).sum()
        torch_total = torch_total + (theirs * torch.tensor(weights)).sum()
    total.backward()
    torch_total.backward()
    np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-6)
    np.testing.assert_array_equal(x.argmax(dim=1).data, t.argmax(dim=1).numpy())
    assert x.numel() == t.numel()


def test_max_and_min_with_dim_give_values_and_indices_as_pytorch():
    """``v, i = t.max(dim=1)`` is PyTorch's idiom; with NumPy's ``axis=`` the values alone."""
    x = _leaf()
    values, indices = x.max(dim=1)
    np.testing.assert_array_equal(values.data, X.max(axis=1))
    np.testing.assert_array_equal(indices.data, X.argmax(axis=1))
    assert x.max(dim=1).values is not None and x.min(dim=-1, keepdim=True).indices.shape == (3, 4, 1)
    assert isinstance(x.max(axis=1), mg.Tensor) and isinstance(mg.min(x, 0), mg.Tensor)
    values.sum().backward()
    expected = np.zeros_like(X)
    np.put_along_axis(expected, X.argmax(axis=1)[:, None, :], 1.0, axis=1)
    np.testing.assert_array_equal(x.grad, expected)
    with pytest.raises(TypeError, match="give one int dim"):
        x.max(dim=(0, 1))
    torch = pytest.importorskip("torch")
    theirs = torch.tensor(X).min(dim=2, keepdim=True)
    ours = x.min(dim=2, keepdim=True)
    np.testing.assert_array_equal(ours.values.data, theirs.values.numpy())
    np.testing.assert_array_equal(ours.indices.data, theirs.indices.numpy())


def test_like_constructors_keep_an_integer_or_bool_tensors_dtype_as_pytorch(torch):
    for values in (np.array([[1, 2], [3, 4]], dtype=np.int32), np.array([True, False])):
        ours, theirs = mg.tensor(values, dtype=values.dtype), torch.tensor(values)
        for mine, reference in [(mg.zeros_like(ours), torch.zeros_like(theirs)),
                                (mg.ones_like(ours), torch.ones_like(theirs)),
                                (mg.full_like(ours, 1), torch.full_like(theirs, 1))]:
            assert mine.dtype == np.dtype(str(reference.dtype).removeprefix("torch."))
            np.testing.assert_array_equal(mine.data, reference.numpy())
    # Arrays and lists are read as mg.tensor reads them: whole numbers become floats.
    assert mg.zeros_like(np.arange(3)).dtype == mg.get_default_dtype()
    with pytest.raises(TypeError, match="only floating-point tensors can require grad"):
        mg.zeros_like(mg.tensor([1.0]).long(), requires_grad=True)


def test_sort_and_max_functions_in_pytorchs_spelling_are_pytorchs(torch):
    values = np.array([[3.0, 1.0, 2.0], [0.0, 5.0, 5.0]])
    weights = np.arange(6.0).reshape(2, 3)
    x, t = mg.tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)
    for kwargs in ({"dim": 0}, {"dim": 1, "descending": True}, {"dim": -1, "stable": True}):
        (v, i), (tv, ti) = mg.sort(x, **kwargs), torch.sort(t, **kwargs)
        np.testing.assert_array_equal(v.data, tv.detach().numpy())
        np.testing.assert_array_equal(i.data, ti.numpy())
    v, _ = mg.sort(x, dim=1)
    tv, _ = torch.sort(t, dim=1)
    (v * mg.tensor(weights)).sum().backward()
    (tv * torch.tensor(weights)).sum().backward()
    np.testing.assert_array_equal(x.grad, t.grad.numpy())
    assert mg.sort(x, 0).shape == (2, 3) and isinstance(mg.sort(x, 0), mg.Tensor)  # NumPy's: the values only
    with pytest.raises(TypeError, match="one int dim"):
        mg.sort(x, dim=None)
    other = np.array([[1.0, 2.0, 2.0], [2.0, 2.0, 6.0]])
    for ours, theirs in ((mg.max, torch.max), (mg.min, torch.min)):
        a, b = mg.tensor(values, requires_grad=True), mg.tensor(other, requires_grad=True)
        ta, tb = torch.tensor(values, requires_grad=True), torch.tensor(other, requires_grad=True)
        for out, tout in ((ours(a, b), theirs(ta, tb)), (ours(a, other=b), theirs(ta, other=tb))):
            np.testing.assert_array_equal(out.data, tout.detach().numpy())
            (out * mg.tensor(weights)).sum().backward()
            (tout * torch.tensor(weights)).sum().backward()
        np.testing.assert_array_equal(a.grad, ta.grad.numpy())
        np.testing.assert_array_equal(b.grad, tb.grad.numpy())
    np.testing.assert_array_equal(mg.max(x, 1).data, values.max(1))  # NumPy's axis, positionally
