"""More of PyTorch's names: ``F.upsample_nearest``/``upsample_bilinear``, the ``*_with_indices``
pooling forms, ``F.pdist``, ``F.gumbel_softmax``, the in-place activations ``F.relu_`` ...
``F.rrelu_``, ``nn.NLLLoss2d`` and ``mg.gradgradcheck``.

Each against PyTorch (the optional oracle: those tests skip without it) and by a check that
does not need it (exact expected values, or central finite differences in float64)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import numeric_grad

import microgradnp as mg
from microgradnp import nn
from microgradnp.autograd.gradcheck import GradcheckError
from microgradnp.errors import DtypeError
from microgradnp.nn import functional as F

EXACT = {"rtol": 1e-12, "atol": 1e-12}



def _same_as_torch(out, expected, x, tx, rng):
    """``out`` (of ``x``) and torch's ``expected`` (of ``tx``): the same values, and the same
    gradients of a random weighting of them."""
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    weights = rng.normal(size=out.shape)
    (out * weights).sum().backward()
    (expected * expected.new_tensor(weights)).sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-12)

def _leaf(data, dtype=None):
    return mg.tensor(np.array(data, dtype=dtype), requires_grad=True)


# == signatures ===================================================================================
SIGNATURES = {
    "upsample_nearest": "(input, size=None, scale_factor=None)",
    "upsample_bilinear": "(input, size=None, scale_factor=None)",
    "max_pool1d_with_indices": "(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, "
                               "return_indices=False)",
    "max_pool2d_with_indices": "(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, "
                               "return_indices=False)",
    "adaptive_max_pool1d_with_indices": "(input, output_size, return_indices=False)",
    "adaptive_max_pool2d_with_indices": "(input, output_size, return_indices=False)",
    "pdist": "(input, p=2)",
    "gumbel_softmax": "(logits, tau=1, hard=False, eps=1e-10, dim=-1, *, rng=None)",
    "relu_": "(input)",
    "elu_": "(input, alpha=1.0)",
    "leaky_relu_": "(input, negative_slope=0.01)",
    "hardtanh_": "(input, min_val=-1.0, max_val=1.0)",
    "selu_": "(input)",
    "celu_": "(input, alpha=1.0)",
    "threshold_": "(input, threshold, value)",
    "rrelu_": "(input, lower=0.125, upper=0.3333333333333333, training=False, *, rng=None)",
}


def _plain_signature(function) -> str:
    import inspect

    parameters = [parameter.replace(annotation=inspect.Parameter.empty)
                  for parameter in inspect.signature(function).parameters.values()]
    return str(inspect.Signature(parameters))


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_signatures_are_pytorchs(name):
    assert name in F.__all__
    assert _plain_signature(getattr(F, name)) == SIGNATURES[name]  # PyTorch's, plus rng= where random


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_signatures_match_torch(torch, name):
    import inspect

    theirs = getattr(torch.nn.functional, name)
    try:
        expected = _plain_signature(theirs)
    except ValueError:  # a builtin: its signature is the first line of its docstring
        first = theirs.__doc__.strip().splitlines()[0]
        expected = first[first.index("("):first.rindex(")") + 1]
        expected = expected.replace("1./8", "0.125").replace("1./3", "0.3333333333333333").replace("1.", "1.0")
    ours = _plain_signature(getattr(F, name)).replace(", *, rng=None", "")
    assert ours == expected, inspect.signature(getattr(F, name))


# == upsample_nearest / upsample_bilinear ==========================================================
def test_upsample_bilinear_is_interpolate_with_aligned_corners():
    x = mg.tensor([[[[0.0, 3.0], [6.0, 9.0]]]])
    with pytest.warns(UserWarning, match="upsample_bilinear` is deprecated"):
        out = F.upsample_bilinear(x, size=4)
    # align_corners=True keeps the corners and spaces the new entries evenly: 2 i + j here.
    np.testing.assert_allclose(out.data[0, 0], 2 * np.arange(4)[:, None] + np.arange(4), **EXACT)
    assert not np.allclose(out.data, F.interpolate(x, size=4, mode="bilinear").data)  # not the default corners


def test_upsample_nearest_repeats_entries():
    x = mg.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    with pytest.warns(UserWarning, match="upsample_nearest` is deprecated"):
        out = F.upsample_nearest(x, scale_factor=2)
    np.testing.assert_array_equal(out.data[0, 0], np.kron([[1.0, 2.0], [3.0, 4.0]], np.ones((2, 2))))
    with pytest.warns(UserWarning):
        np.testing.assert_array_equal(F.upsample_nearest(x, (3, 5)).data, F.interpolate(x, (3, 5)).data)


@pytest.mark.parametrize("name", ["upsample_nearest", "upsample_bilinear"])
@pytest.mark.parametrize("kwargs", [{"scale_factor": 2}, {"size": (5, 7)}, {"scale_factor": (1.5, 2.0)}])
def test_upsample_aliases_match_torch(torch, rng, name, kwargs):
    data = rng.normal(size=(2, 3, 4, 5))
    x = _leaf(data)
    with pytest.warns(UserWarning):
        out = getattr(F, name)(x, **kwargs)
    tx = torch.tensor(data, requires_grad=True)
    with pytest.warns(UserWarning):
        expected = getattr(torch.nn.functional, name)(tx, **kwargs)
    _same_as_torch(out, expected, x, tx, rng)


def test_upsample_bilinear_gradient_by_finite_differences(rng):
    data = rng.normal(size=(1, 2, 3, 4))
    weights = rng.normal(size=(1, 2, 5, 6))
    x = _leaf(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        (F.upsample_bilinear(x, size=(5, 6)) * weights).sum().backward()

        def numpy_fn(a):
            return F.upsample_bilinear(mg.tensor(a), size=(5, 6)).data

        np.testing.assert_allclose(x.grad, numeric_grad(numpy_fn, [data], 0, weights=weights), rtol=1e-6, atol=1e-8)


# == max_pool*_with_indices, adaptive_max_pool*_with_indices =========================================
def test_max_pool1d_with_indices_exact():
    x = mg.tensor([[[1.0, 5.0, 2.0, 2.0, 7.0, 0.0]]])
    values, indices = F.max_pool1d_with_indices(x, 2)
    np.testing.assert_array_equal(values.data, [[[5.0, 2.0, 7.0]]])
    np.testing.assert_array_equal(indices.data, [[[1, 2, 4]]])  # the first maximum of a tie
    assert indices.dtype == np.int64
    # return_indices is accepted and ignored: always the pair.
    values, indices = F.max_pool1d_with_indices(x, 3, 1, return_indices=False)
    np.testing.assert_array_equal(indices.data, [[[1, 1, 4, 4]]])


def test_max_pool2d_with_indices_exact_and_gradient():
    data = np.array([[[[1.0, 9.0, 2.0, 3.0], [4.0, 0.0, 8.0, 5.0], [6.0, 7.0, 1.0, 1.0]]]])
    x = _leaf(data)
    values, indices = F.max_pool2d_with_indices(x, 2, ceil_mode=True)
    np.testing.assert_array_equal(values.data, [[[[9.0, 8.0], [7.0, 1.0]]]])
    np.testing.assert_array_equal(indices.data, [[[[1, 6], [9, 10]]]])  # flat h * W + w
    values.sum().backward()
    expected = np.zeros(12)
    expected[[1, 6, 9, 10]] = 1
    np.testing.assert_array_equal(x.grad, expected.reshape(data.shape))


def test_adaptive_max_pool_with_indices_exact():
    x = mg.tensor([[[3.0, 1.0, 4.0, 1.0, 5.0]]])
    values, indices = F.adaptive_max_pool1d_with_indices(x, 2)  # windows [0, 3) and [2, 5)
    np.testing.assert_array_equal(values.data, [[[4.0, 5.0]]])
    np.testing.assert_array_equal(indices.data, [[[2, 4]]])
    square = mg.tensor(np.arange(16.0).reshape(1, 4, 4))
    values, indices = F.adaptive_max_pool2d_with_indices(square, (2, 1), return_indices=False)
    np.testing.assert_array_equal(values.data, [[[7.0], [15.0]]])
    np.testing.assert_array_equal(indices.data, [[[7], [15]]])


@pytest.mark.parametrize(("name", "shape", "args"), [
    ("max_pool1d_with_indices", (2, 3, 9), (3,)),
    ("max_pool1d_with_indices", (3, 9), (3, 2, 1, 2, True)),
    ("max_pool2d_with_indices", (2, 3, 6, 7), (2,)),
    ("max_pool2d_with_indices", (3, 6, 7), ((3, 2), (2, 1), 1, 1, True)),
    ("adaptive_max_pool1d_with_indices", (2, 3, 9), (4,)),
    ("adaptive_max_pool2d_with_indices", (2, 3, 6, 7), ((4, 3),)),
    ("adaptive_max_pool2d_with_indices", (3, 5, 5), (2,)),
])
def test_with_indices_match_torch(torch, rng, name, shape, args):
    data = rng.normal(size=shape)
    x = _leaf(data)
    values, indices = getattr(F, name)(x, *args)
    tx = torch.tensor(data, requires_grad=True)
    t_values, t_indices = getattr(torch.nn.functional, name)(tx, *args)
    np.testing.assert_array_equal(values.data, t_values.detach().numpy())
    np.testing.assert_array_equal(indices.data, t_indices.numpy())
    assert indices.dtype == np.int64 and indices.shape == tuple(t_indices.shape)
    weights = rng.normal(size=values.shape)
    (values * weights).sum().backward()
    (t_values * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), **EXACT)


def test_with_indices_refuse_as_torch(torch):
    with pytest.raises(TypeError):
        F.max_pool2d_with_indices(mg.tensor(np.ones((1, 2, 2), dtype=bool), dtype=bool), 2)
    with pytest.raises(RuntimeError):
        torch.nn.functional.max_pool2d_with_indices(torch.ones(1, 2, 2, dtype=torch.bool), 2)
    with pytest.raises(RuntimeError):
        F.adaptive_max_pool1d_with_indices(mg.ones(1, 2, 3, 4), 2)
    with pytest.raises(RuntimeError):
        torch.nn.functional.adaptive_max_pool1d_with_indices(torch.ones(1, 2, 3, 4), 2)
    with pytest.raises(RuntimeError):
        F.adaptive_max_pool2d_with_indices(mg.ones(2, 0, 4), 2)
    with pytest.raises(RuntimeError):
        torch.nn.functional.adaptive_max_pool2d_with_indices(torch.ones(2, 0, 4), 2)


# == pdist ========================================================================================
def _naive_pdist(a, p):
    rows = []
    for i in range(len(a)):
        for j in range(i + 1, len(a)):
            d = np.abs(a[i] - a[j])
            rows.append(np.count_nonzero(d) if p == 0 else d.max(initial=0) if p == np.inf else (d**p).sum() ** (1 / p))
    return np.array(rows, dtype=np.float64)


@pytest.mark.parametrize("p", [0, 0.5, 1, 1.5, 2, 3, np.inf])
def test_pdist_values_in_upper_triangle_order(rng, p):
    data = rng.normal(size=(5, 3))
    np.testing.assert_allclose(F.pdist(mg.tensor(data), p).data, _naive_pdist(data, p), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("p", [0.5, 1, 1.5, 2, 3, np.inf])
def test_pdist_gradient_by_finite_differences(rng, p):
    data = rng.normal(size=(4, 3))  # distinct rows and entries, no ties: differentiable everywhere
    weights = rng.normal(size=6)
    x = _leaf(data)
    (F.pdist(x, p) * weights).sum().backward()
    expected = numeric_grad(lambda a: _naive_pdist(a, p), [data], 0, weights=weights)
    np.testing.assert_allclose(x.grad, expected, rtol=1e-6, atol=1e-8)


def test_pdist_gradients_at_kinks_are_torchs_exactly():
    # Rows 0 and 2 coincide: their distance has zero gradient (PyTorch's), not NaN.
    data = [[0.0, 0.0], [1.0, 1.0], [0.0, 0.0]]
    x = _leaf(data)
    F.pdist(x).sum().backward()
    s = 1 / np.sqrt(2)
    np.testing.assert_allclose(x.grad, [[-s, -s], [2 * s, 2 * s], [-s, -s]], **EXACT)
    # p = inf with a tie: each tied entry gets the whole gradient (norm would share it).
    x = _leaf([[0.0, 0.0], [1.0, -1.0]])
    F.pdist(x, float("inf")).sum().backward()
    np.testing.assert_array_equal(x.grad, [[-1.0, 1.0], [1.0, -1.0]])
    # p = 0 counts differing entries and has a zero gradient.
    x = _leaf([[0.0, 2.0], [1.0, 2.0]])
    out = F.pdist(x, 0)
    out.sum().backward()
    np.testing.assert_array_equal(out.data, [1.0])
    np.testing.assert_array_equal(x.grad, np.zeros((2, 2)))


def test_pdist_shapes_dtypes_and_errors():
    assert F.pdist(mg.ones(1, 3)).shape == (0,)
    assert F.pdist(mg.ones(0, 3)).shape == (0,)
    np.testing.assert_array_equal(F.pdist(mg.ones(3, 0)).data, np.zeros(3))
    assert F.pdist(mg.tensor(np.ones((3, 2), dtype=np.float32))).dtype == np.float32
    assert F.pdist([[0.0, 3.0], [4.0, 0.0]]).data.tolist() == [5.0]
    for bad in (mg.ones(3), mg.ones(2, 3, 3)):
        with pytest.raises(ValueError, match="pdist only supports 2D tensors"):
            F.pdist(bad)
    for p in (-1.0, float("nan"), float("-inf")):
        with pytest.raises(RuntimeError, match="non-negative p"):
            F.pdist(mg.ones(3, 2), p)
    with pytest.raises(DtypeError, match="floating-point"):
        F.pdist(mg.tensor(np.ones((3, 2), dtype=np.int64), dtype=np.int64))


@pytest.mark.parametrize("p", [0, 0.5, 1, 1.5, 2, 3, float("inf")])
def test_pdist_matches_torch_with_coincident_rows_and_ties(torch, rng, p):
    data = np.round(rng.normal(size=(6, 4)), 0)  # small integers: equal rows, equal entries, ties
    data[3] = data[1]
    x = _leaf(data)
    out = F.pdist(x, p)
    tx = torch.tensor(data, requires_grad=True)
    expected = torch.pdist(tx, p)
    _same_as_torch(out, expected, x, tx, rng)


def test_pdist_errors_match_torch(torch):
    for ours, theirs in [
        (lambda: F.pdist(mg.ones(3)), lambda: torch.pdist(torch.ones(3))),
        (lambda: F.pdist(mg.ones(3, 2), -1.0), lambda: torch.pdist(torch.ones(3, 2), -1.0)),
        (lambda: F.pdist(mg.tensor(np.ones((3, 2), dtype=np.int64), dtype=np.int64)),
         lambda: torch.pdist(torch.ones(3, 2, dtype=torch.int64))),
    ]:
        with pytest.raises(RuntimeError) as theirs_error:
            theirs()
        with pytest.raises(RuntimeError) as ours_error:
            ours()
        assert str(theirs_error.value).split(",")[0][:30] in str(ours_error.value)
    assert F.pdist(mg.tensor(np.ones((3, 2), dtype=np.float32))).dtype == np.float32
    assert torch.pdist(torch.ones(3, 2, dtype=torch.float32)).dtype == torch.float32


# == gumbel_softmax ===============================================================================
def test_gumbel_softmax_soft_samples_are_distributions():
    logits = mg.tensor(np.log([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]]))
    y = F.gumbel_softmax(logits, rng=0)
    assert y.shape == (2, 3) and y.dtype == np.float64
    np.testing.assert_allclose(y.data.sum(axis=-1), 1.0, rtol=1e-12)
    assert (y.data > 0).all()
    np.testing.assert_array_equal(F.gumbel_softmax(logits, rng=0).data, y.data)  # a seed reproduces it
    assert not np.array_equal(F.gumbel_softmax(logits, rng=1).data, y.data)
    y32 = F.gumbel_softmax(mg.tensor(np.zeros((4, 3), dtype=np.float32)), dim=0, rng=0)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32.data.sum(axis=0), 1.0, rtol=1e-6)


def test_gumbel_softmax_hard_samples_follow_the_softmax():
    # The Gumbel-max trick: the one-hot sample is class k with probability softmax(logits)_k.
    probabilities = np.array([0.1, 0.2, 0.7])
    logits = mg.tensor(np.tile(np.log(probabilities), (20000, 1)))
    y = F.gumbel_softmax(logits, tau=0.3, hard=True, rng=np.random.default_rng(0))
    assert set(np.unique(y.data)) == {0.0, 1.0}
    np.testing.assert_array_equal(y.data.sum(axis=1), 1.0)
    frequencies = y.data.mean(axis=0)
    np.testing.assert_allclose(frequencies, probabilities, atol=0.015)  # ~5 standard errors
    soft = F.gumbel_softmax(logits, rng=np.random.default_rng(1))
    np.testing.assert_allclose(soft.data.mean(axis=0) @ np.ones(3), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.bincount(soft.data.argmax(axis=1), minlength=3) / 20000, probabilities,
                               atol=0.015)


def test_gumbel_softmax_hard_is_one_hot_with_the_soft_gradient(rng):
    data, weights = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    soft_logits, hard_logits = _leaf(data), _leaf(data)
    soft = F.gumbel_softmax(soft_logits, tau=0.7, dim=0, rng=5)
    hard = F.gumbel_softmax(hard_logits, tau=0.7, hard=True, dim=0, rng=5)  # the same noise
    expected = np.zeros((3, 4))
    expected[soft.data.argmax(axis=0), np.arange(4)] = 1.0
    np.testing.assert_allclose(hard.data, expected, atol=1e-15)
    (soft * weights).sum().backward()
    (hard * weights).sum().backward()
    np.testing.assert_allclose(hard_logits.grad, soft_logits.grad, **EXACT)  # straight-through
    assert np.abs(soft_logits.grad).max() > 1e-3


def test_gumbel_softmax_gradient_by_finite_differences(rng):
    data, weights = rng.normal(size=(2, 5)), rng.normal(size=(2, 5))
    x = _leaf(data)
    (F.gumbel_softmax(x, tau=0.5, rng=3) * weights).sum().backward()
    expected = numeric_grad(lambda a: F.gumbel_softmax(mg.tensor(a), tau=0.5, rng=3).data, [data], 0,
                            weights=weights)
    np.testing.assert_allclose(x.grad, expected, rtol=1e-6, atol=1e-9)


def test_gumbel_softmax_warns_and_refuses_as_torch(torch):
    logits = np.zeros((2, 3))
    with pytest.warns(UserWarning, match="`eps` parameter is deprecated"):
        F.gumbel_softmax(mg.tensor(logits), eps=1e-5)
    with pytest.warns(UserWarning, match="`eps` parameter is deprecated"):
        torch.nn.functional.gumbel_softmax(torch.tensor(logits), eps=1e-5)
    with pytest.raises(RuntimeError):
        torch.nn.functional.gumbel_softmax(torch.tensor([[1, 2]]))
    with pytest.raises(RuntimeError, match="floating-point"):
        F.gumbel_softmax(mg.tensor(np.array([[1, 2]]), dtype=np.int64))


class _Draws(np.random.Generator):
    """A Generator whose exponential draws are given: PyTorch's, to reproduce its noise."""

    def __init__(self, draws):
        super().__init__(np.random.PCG64(0))
        self.draws = draws

    def exponential(self, scale=1.0, size=None):
        assert scale == 1.0 and tuple(size) == self.draws.shape
        return self.draws


@pytest.mark.parametrize("hard", [False, True])
@pytest.mark.parametrize(("tau", "dim"), [(1.0, -1), (0.4, 0)])
def test_gumbel_softmax_matches_torch_given_torchs_noise(torch, rng, hard, tau, dim):
    data, weights = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    torch.manual_seed(7)
    draws = torch.empty(3, 4).exponential_().numpy()  # what gumbel_softmax draws after this seed
    torch.manual_seed(7)
    tx = torch.tensor(data, requires_grad=True)
    expected = torch.nn.functional.gumbel_softmax(tx, tau=tau, hard=hard, dim=dim)
    x = _leaf(data)
    out = F.gumbel_softmax(x, tau=tau, hard=hard, dim=dim, rng=_Draws(draws))
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-15)
    (out * weights).sum().backward()
    (expected * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_gumbel_softmax_distribution_matches_torch(torch):
    probabilities = np.array([0.5, 0.3, 0.2])
    logits = np.tile(np.log(probabilities), (20000, 1))
    ours = F.gumbel_softmax(mg.tensor(logits), hard=True, rng=0).data.mean(axis=0)
    torch.manual_seed(0)
    theirs = torch.nn.functional.gumbel_softmax(torch.tensor(logits), hard=True).numpy().mean(axis=0)
    np.testing.assert_allclose(ours, theirs, atol=0.02)


# == in-place activations =========================================================================
IN_PLACE = [
    ("relu_", (), F.relu),
    ("elu_", (0.7,), F.elu),
    ("leaky_relu_", (0.2,), F.leaky_relu),
    ("hardtanh_", (-0.5, 1.5), F.hardtanh),
    ("selu_", (), F.selu),
    ("celu_", (2.0,), F.celu),
    ("threshold_", (0.3, -4.0), F.threshold),
    ("rrelu_", (0.1, 0.3), F.rrelu),
]


@pytest.mark.parametrize(("name", "args", "out_of_place"), IN_PLACE)
def test_in_place_activation_writes_into_the_tensor(name, args, out_of_place):
    data = np.array([-2.0, -0.5, 0.0, 0.4, 3.0])
    x = mg.tensor(data)
    version = x._version
    result = getattr(F, name)(x, *args)
    assert result is x
    assert x._version == version + 1
    np.testing.assert_allclose(x.data, out_of_place(mg.tensor(data), *args).data, **EXACT)
    assert not np.allclose(x.data, data)


@pytest.mark.parametrize(("name", "args", "out_of_place"), IN_PLACE)
def test_in_place_activation_refused_on_a_leaf_and_recorded_in_a_graph(name, args, out_of_place):
    leaf = mg.tensor([-1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError) as ours:
        getattr(F, name)(leaf, *args)
    with pytest.raises(RuntimeError) as methods:
        leaf.clamp_(0.0, 1.0)  # the framework's own in-place methods say the same
    assert str(ours.value).startswith(f"{name}(): ")
    assert str(ours.value).split(": ", 1)[1] == str(methods.value).split(": ", 1)[1]
    np.testing.assert_array_equal(leaf.data, [-1.0, 2.0])
    with mg.no_grad():
        assert getattr(F, name)(leaf, *args) is leaf
    assert leaf.requires_grad
    source, reference = mg.tensor([-1.0, 2.0], requires_grad=True), mg.tensor([-1.0, 2.0], requires_grad=True)
    hidden, expected = source * 2, out_of_place(reference * 2, *args)
    assert getattr(F, name)(hidden, *args) is hidden  # recorded in the graph, as PyTorch
    np.testing.assert_allclose(hidden.data, expected.data, **EXACT)
    hidden.sum().backward()
    expected.sum().backward()
    np.testing.assert_allclose(source.grad, reference.grad, **EXACT)
    with pytest.raises(TypeError, match="must be Tensor, not list"):
        getattr(F, name)([1.0, 2.0], *args)


def test_in_place_write_invalidates_a_saved_tensor():
    x = mg.tensor([-1.0, 2.0], requires_grad=True)
    with mg.no_grad():
        saved = x.detach()
    out = (x * saved).sum()  # saves `saved` for the gradient of x
    F.elu_(saved)
    with pytest.raises(RuntimeError, match="version"):
        out.backward()


def test_in_place_dtypes_and_edge_cases():
    ints = mg.tensor(np.array([-2, 0, 3]), dtype=np.int64)
    assert F.relu_(ints).dtype == np.int64 and ints.data.tolist() == [0, 0, 3]
    ints = mg.tensor(np.array([-2, 0, 3]), dtype=np.int64)
    assert F.hardtanh_(ints).data.tolist() == [-1, 0, 1] and ints.dtype == np.int64
    ints = mg.tensor(np.array([-2, 0, 3]), dtype=np.int64)
    assert F.threshold_(ints, 0.5, 5.7).data.tolist() == [5, 5, 3] and ints.dtype == np.int64
    for name in ("elu_", "leaky_relu_", "selu_", "celu_", "rrelu_"):
        with pytest.raises(DtypeError, match="not implemented for int64"):
            getattr(F, name)(mg.tensor(np.array([-2, 0, 3]), dtype=np.int64))
    for name in ("relu_", "hardtanh_", "threshold_"):
        with pytest.raises(RuntimeError):
            getattr(F, name)(mg.tensor(np.array([True, False]), dtype=bool), *((0, 1) if name == "threshold_" else ()))
    # min_val > max_val: unchecked in PyTorch's in-place form, every entry becomes max_val.
    np.testing.assert_array_equal(F.hardtanh_(mg.tensor([-2.0, 0.0, 3.0]), 2.0, 1.0).data, [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="alpha"):
        F.celu_(mg.tensor([1.0]), 0.0)
    with pytest.raises(ValueError, match="lower"):
        F.rrelu_(mg.tensor([1.0]), 0.5, 0.1)
    # In training, rrelu_'s slopes come from rng and lie in [lower, upper].
    x = F.rrelu_(mg.tensor(-np.ones(1000)), 0.1, 0.3, True, rng=0)
    assert x.data.min() >= -0.3 and x.data.max() <= -0.1 and x.data.std() > 0.03
    np.testing.assert_array_equal(F.rrelu_(mg.tensor(-np.ones(1000)), 0.1, 0.3, True, rng=0).data, x.data)


@pytest.mark.parametrize(("name", "args", "out_of_place"), IN_PLACE)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
def test_in_place_activation_matches_torch(torch, name, args, out_of_place, dtype):
    data = np.array([-2.0, -0.5, 0.0, 0.4, 3.0]).astype(dtype)
    t = torch.tensor(data)
    try:
        expected = getattr(torch.nn.functional, name)(t, *args)
    except RuntimeError:  # (NotImplementedError too)
        with pytest.raises(RuntimeError):
            getattr(F, name)(mg.tensor(data, dtype=data.dtype), *args)
        return
    assert expected is t
    x = mg.tensor(data, dtype=data.dtype)
    assert getattr(F, name)(x, *args) is x
    assert str(x.dtype) == str(t.dtype).removeprefix("torch.")
    np.testing.assert_allclose(x.data, t.numpy(), rtol=1e-6)
    leaf = torch.tensor([-1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError):
        getattr(torch.nn.functional, name)(leaf, *args)
    with pytest.raises(RuntimeError):
        getattr(F, name)(mg.tensor([-1.0, 2.0], requires_grad=True), *args)


def test_hardtanh_in_place_with_reversed_bounds_matches_torch(torch):
    t = torch.nn.functional.hardtanh_(torch.tensor([-2.0, 0.0, 3.0]), 2.0, 1.0)
    np.testing.assert_array_equal(F.hardtanh_(mg.tensor([-2.0, 0.0, 3.0]), 2.0, 1.0).data, t.numpy())


# == NLLLoss2d ====================================================================================
def test_nll_loss_2d_is_a_deprecated_nll_loss(rng):
    log_probs = mg.log_softmax(mg.tensor(rng.normal(size=(2, 3, 4, 5))), axis=1)
    target = rng.integers(0, 3, size=(2, 4, 5))
    with pytest.warns(FutureWarning, match="NLLLoss2d` has been deprecated"):
        loss = nn.NLLLoss2d(ignore_index=1, reduction="sum")
    assert isinstance(loss, nn.NLLLoss)
    expected = -sum(log_probs.data[n, target[n, h, w], h, w] for n in range(2) for h in range(4) for w in range(5)
                    if target[n, h, w] != 1)
    np.testing.assert_allclose(loss(log_probs, target).data, expected, rtol=1e-12)
    with pytest.warns(FutureWarning), pytest.warns(UserWarning, match="reduction='none'"):
        assert nn.NLLLoss2d(None, True, -100, False).reduction == "none"
    with pytest.warns(FutureWarning), pytest.warns(UserWarning, match="reduction='sum'"):
        assert nn.NLLLoss2d(None, False).reduction == "sum"
    with pytest.warns(FutureWarning), pytest.raises(ValueError):
        nn.NLLLoss2d(reduction="average")


@pytest.mark.parametrize("kwargs", [{}, {"reduction": "none"}, {"ignore_index": 0}, {"size_average": False},
                                    {"reduce": False}, {"weight": [0.2, 1.0, 3.0]}])
def test_nll_loss_2d_matches_torch(torch, rng, kwargs):
    data, target = rng.normal(size=(2, 3, 4, 5)), rng.integers(0, 3, size=(2, 4, 5))
    ours_kwargs = dict(kwargs)
    theirs_kwargs = {k: torch.tensor(v) if k == "weight" else v for k, v in kwargs.items()}
    if "weight" in ours_kwargs:
        ours_kwargs["weight"] = np.array(ours_kwargs["weight"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, theirs = nn.NLLLoss2d(**ours_kwargs), torch.nn.NLLLoss2d(**theirs_kwargs)
    assert ours.reduction == theirs.reduction
    x, tx = _leaf(data), torch.tensor(data, requires_grad=True)
    out = ours(mg.log_softmax(x, axis=1), target)
    expected = theirs(torch.log_softmax(tx, 1), torch.tensor(target))
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12)
    out.sum().backward()
    expected.sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-14)
    with pytest.warns(FutureWarning):
        nn.NLLLoss2d()
    with pytest.warns(FutureWarning):
        torch.nn.NLLLoss2d()


# == gradgradcheck ================================================================================
def _constant(value):
    """``value`` cut off from the graph (backward runs on Tensors only when building a graph)."""
    return value.detach() if isinstance(value, mg.Tensor) else value


def _square_forgetting_second_order(base, cut_off):
    """x ** 2 as a ``base`` Function whose backward is right but cut off from x (by
    ``cut_off``): the second derivative is lost."""

    class Square(base):
        differentiable_backward = True

        @staticmethod
        def forward(ctx, x):
            return ctx.save_for_backward(x) or x * x

        @staticmethod
        def backward(ctx, grad):
            return grad * 2 * cut_off(ctx.saved_tensors[0])

    return Square


_SquareForgettingSecondOrder = _square_forgetting_second_order(mg.Function, _constant)


class _SquareForgettingGradOutput(_SquareForgettingSecondOrder):
    """x ** 2 whose backward is cut off from the incoming gradient (linear in it)."""

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return _constant(grad) * 2 * x


def test_gradgradcheck_passes_on_correct_second_derivatives(rng):
    a, b = _leaf(rng.normal(size=(3, 2))), _leaf(rng.normal(size=(2, 4)))
    assert mg.gradgradcheck(lambda x, w: mg.tanh(x @ w) * x.sum(), [a, b])
    assert mg.gradgradcheck(lambda x: (x**3).sin(), a)
    assert mg.autograd.gradgradcheck is mg.gradgradcheck
    assert mg.gradgradcheck(lambda x, c: x * c, [a, 3.0])  # a linear function: zero second derivatives
    assert mg.gradgradcheck(F.pdist, [_leaf(rng.normal(size=(4, 3)))])  # distinct rows: smooth
    assert mg.gradgradcheck(lambda x: (x**2).sum(), [a], grad_outputs=mg.tensor(2.0, requires_grad=True))
    assert mg.gradgradcheck(lambda x: x.exp(), [a], grad_outputs=[np.ones((3, 2))])  # constant grad_outputs


def test_gradgradcheck_catches_a_wrong_second_derivative(rng):
    x = _leaf(rng.normal(size=(3,)))
    assert mg.gradcheck(_SquareForgettingSecondOrder.apply, [x])  # first derivatives are right
    with pytest.raises(GradcheckError, match=r"gradgradcheck failed for input 0"):
        mg.gradgradcheck(_SquareForgettingSecondOrder.apply, [x])
    assert mg.gradcheck(_SquareForgettingGradOutput.apply, [x])
    with pytest.raises(GradcheckError, match="gradgradcheck failed for grad_outputs"):
        mg.gradgradcheck(_SquareForgettingGradOutput.apply, [x])
    # grad_outputs that do not require grad are not checked, as in PyTorch.
    assert mg.gradgradcheck(_SquareForgettingGradOutput.apply, [x], grad_outputs=mg.ones(3))


def test_gradgradcheck_finite_difference_by_hand(rng):
    """The first derivative it differentiates: d/dx of sum(v * x**3) = 3 v x**2, whose
    derivatives are 6 v x (in x) and 3 x**2 (in v); a tolerance below the error fails."""
    x = _leaf(rng.normal(size=(2,)))
    v = _leaf(rng.normal(size=(2,)))
    (g,) = mg.grad(x**3, x, grad_outputs=v, create_graph=True)
    np.testing.assert_allclose(g.data, 3 * v.data * x.data**2, **EXACT)
    assert mg.gradgradcheck(lambda t: t**3, [x], grad_outputs=v)
    with pytest.raises(GradcheckError):  # eps so large that the finite differences are off
        mg.gradgradcheck(lambda t: t**4, [x], eps=0.5, atol=1e-9, rtol=1e-9)


def test_gradgradcheck_argument_errors(rng):
    x = _leaf(rng.normal(size=(2,)))
    with pytest.raises(ValueError, match="nothing to check"):
        mg.gradgradcheck(lambda t: t * 2, [mg.tensor([1.0])])
    with pytest.raises(TypeError, match="must return a Tensor"):
        mg.gradgradcheck(lambda t: 1.0, [x])
    with pytest.raises(ValueError, match="shape"):
        mg.gradgradcheck(lambda t: t**2, [x], grad_outputs=mg.ones(3))
    with pytest.raises(ValueError, match="one grad_output"):
        mg.gradgradcheck(lambda t: t**2, [x], grad_outputs=[mg.ones(2), mg.ones(2)])


def test_gradgradcheck_defaults_are_torchs(torch):
    import inspect

    ours = inspect.signature(mg.gradgradcheck).parameters
    theirs = inspect.signature(torch.autograd.gradgradcheck).parameters
    for name in ("grad_outputs", "eps", "atol", "rtol"):
        assert ours[name].default == theirs[name].default
    assert list(ours)[:3] == ["fn", "inputs", "grad_outputs"] and list(theirs)[1:3] == ["inputs", "grad_outputs"]


def test_gradgradcheck_agrees_with_torch(torch, rng):
    data = rng.normal(size=(3, 2))

    def functions(lib):
        return [lambda x: lib.tanh(x) * x.sum(), lambda x: (x**3).sin(), lambda x: x.exp() * x]

    for ours_fn, theirs_fn in zip(functions(mg), functions(torch), strict=True):
        assert mg.gradgradcheck(ours_fn, [_leaf(data)])
        assert torch.autograd.gradgradcheck(theirs_fn, [torch.tensor(data, requires_grad=True)])

    Square = _square_forgetting_second_order(torch.autograd.Function, lambda x: x.detach())

    from torch.autograd.gradcheck import GradcheckError as TorchGradcheckError

    with pytest.raises(TorchGradcheckError):
        torch.autograd.gradgradcheck(Square.apply, [torch.tensor(data, requires_grad=True)])
    with pytest.raises(GradcheckError):
        mg.gradgradcheck(_SquareForgettingSecondOrder.apply, [_leaf(data)])


# == parity fixes: LPPool, embedding_bag, Unflatten, F.linear, pairwise_distance, clip foreach =========
@pytest.mark.parametrize("p", [float("inf"), -float("inf"), 2.0, 3.0, 1.5])
def test_lp_pool_with_infinite_orders_and_windows_of_zeros(p, torch):
    x = np.array([[[0.0, 0.0, 1.0, 2.0, -0.7, 0.3]]])
    ours, theirs = _leaf(x), torch.tensor(x, requires_grad=True)
    out, expected = mg.nn.LPPool1d(p, 2)(ours), torch.nn.LPPool1d(p, 2)(theirs)
    out.sum().backward()
    expected.sum().backward()
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-10)
    assert np.isfinite(ours.grad[..., :2]).all()  # (the window of zeros)


def test_lp_pool_infinite_order_is_max_pooling_of_magnitudes():
    x = _leaf(np.array([[[0.2, -0.7, 1.4, 0.3, -2.0, 0.5]]]))
    out = mg.nn.functional.lp_pool1d(x, float("inf"), 2)
    out.sum().backward()
    np.testing.assert_array_equal(out.data, [[[0.7, 1.4, 2.0]]])
    np.testing.assert_array_equal(x.grad, [[[0.0, -1.0, 1.0, 0.0, -1.0, 0.0]]])


def test_embedding_bag_max_gives_ties_to_the_first_row_and_the_last_bag_runs_to_the_end(torch):
    table = np.ones((3, 2))
    table[2] = [0.5, 3.0]
    for index, offsets, include_last in ((np.array([[0, 1]]), None, False),
                                         (np.array([1, 2, 0, 1, 0, 2, 1, 2]), np.array([0, 2, 2, 5]), True)):
        for mode in ("max", "sum", "mean"):
            ours, theirs = _leaf(table), torch.tensor(table, requires_grad=True)
            out = F.embedding_bag(mg.tensor(index, dtype=mg.int64), ours,
                                  None if offsets is None else mg.tensor(offsets, dtype=mg.int64), mode=mode,
                                  include_last_offset=include_last)
            expected = torch.nn.functional.embedding_bag(torch.tensor(index), theirs,
                                                         None if offsets is None else torch.tensor(offsets),
                                                         mode=mode, include_last_offset=include_last)
            out.sum().backward()
            expected.sum().backward()
            np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12)
            np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-12)


def test_unflatten_infers_one_size_and_linear_takes_a_vector_of_weights(rng, torch):
    x = rng.normal(size=(2, 6, 5))
    assert mg.nn.Unflatten(1, (2, -1))(mg.tensor(x)).shape == (2, 2, 3, 5)
    with pytest.raises(ValueError, match="cannot split axis 1"):
        mg.nn.Unflatten(1, (4, -1))(mg.tensor(x))
    ours, weight = _leaf(x), _leaf(x[0, 0])
    theirs, weight_t = torch.tensor(x, requires_grad=True), torch.tensor(x[0, 0], requires_grad=True)
    _same_as_torch(F.linear(ours, weight, mg.tensor(0.5)), torch.nn.functional.linear(theirs, weight_t,
                                                                                       torch.tensor(0.5)),
                   ours, theirs, rng)


def test_pairwise_distance_of_order_zero_counts_differences():
    a, b = mg.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]), mg.tensor([[1.0, 0.0, 3.0], [1.0, 1.0, 1.0]])
    np.testing.assert_array_equal(F.pairwise_distance(a, b, p=0, eps=0.0).data, [1.0, 3.0])
    assert F.pairwise_distance(a, b, p=0, eps=0.0, keepdim=True).shape == (2, 1)


def test_clipping_takes_pytorchs_foreach_argument():
    p = mg.nn.Parameter(np.ones(2))
    p.grad = np.full(2, 3.0)
    assert mg.nn.utils.clip_grad_norm_([p], 1.0, foreach=True).item() == pytest.approx(np.sqrt(18))
    mg.nn.utils.clip_grad_value_([p], 0.1, foreach=False)
    np.testing.assert_array_equal(p.grad, [0.1, 0.1])


@pytest.mark.parametrize("call", [
    lambda lib, x, lo, hi: x.clamp_min(lo), lambda lib, x, lo, hi: x.clamp_max(hi),
    lambda lib, x, lo, hi: x.clamp(lo, hi), lambda lib, x, lo, hi: lib.clamp(x, lo),
    lambda lib, x, lo, hi: x.clip(lo, hi),
])
def test_clamp_with_tensor_bounds_gives_them_their_gradient_and_ties_to_the_input(call, rng, torch):
    values = {"x": [0.0, 3.0, 1.0, 1.5], "lo": [1.0, 1.0, 1.0, 0.5], "hi": [2.0, 2.0, 0.5, 1.5]}  # ties at 1 and 1.5
    ours = {k: _leaf(np.array(v)) for k, v in values.items()}
    theirs = {k: torch.tensor(np.array(v), requires_grad=True) for k, v in values.items()}
    out, expected = call(mg, *ours.values()), call(torch, *theirs.values())
    weights = rng.normal(size=out.shape)
    (out * weights).sum().backward()
    (expected * torch.tensor(weights)).sum().backward()
    np.testing.assert_array_equal(out.data, expected.detach().numpy())
    for name in values:
        mine, torchs = ours[name].grad, theirs[name].grad
        np.testing.assert_allclose(0 if mine is None else mine, 0 if torchs is None else torchs.numpy(), rtol=1e-12)


def test_clamp_bounds_broadcast_and_keep_the_inputs_dtype():
    x = mg.tensor(np.array([1.0, 2.0], dtype=np.float32))
    assert x.clamp(mg.zeros((3, 2))).shape == (3, 2)
    assert x.clamp_min(mg.tensor(np.array([2, 1]), dtype=mg.int64)).dtype == np.float32


def test_cosine_similarity_broadcasts_before_normalising(torch):
    a, b = np.array([[1.0], [2.0], [-3.0]]), np.array([[1.0, 2.0, 3.0, 4.0]])
    out = F.cosine_similarity(mg.tensor(a), mg.tensor(b))
    assert np.all(np.abs(out.data) <= 1.0)
    np.testing.assert_allclose(out.data, torch.cosine_similarity(torch.tensor(a), torch.tensor(b)).numpy(),
                               rtol=1e-12)
    assert F.cosine_similarity(mg.ones(4), mg.ones(3, 4), dim=-1).shape == (3,)


def test_a_vector_holding_inf_has_norm_inf(torch):
    data = np.array([[np.inf, 1.0], [3.0, 4.0], [-np.inf, 2.0]])
    for options in ({"dim": 1}, {"dim": 1, "p": 2.5}, {"dim": 1, "p": 3}):
        np.testing.assert_allclose(mg.tensor(data).norm(**options).data, torch.tensor(data).norm(**options).numpy(),
                                   rtol=1e-14)
    assert mg.cdist(mg.tensor([[np.inf, 0.0]]), mg.tensor([[0.0, 0.0]])).item() == np.inf


def test_ldexp_in_place_and_nonzero_static_as_tensor_methods():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    y.ldexp_(mg.tensor([1, 3]))  # y * 2**other, recorded: the gradient is 2**other
    np.testing.assert_array_equal(y.data, [2.0, 16.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 8.0])
    found = mg.tensor([0.0, 3.0, 0.0, 4.0]).nonzero_static(size=3, fill_value=-7)
    np.testing.assert_array_equal(found.data, [[1], [3], [-7]])
