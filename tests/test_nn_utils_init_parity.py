"""``nn.utils`` parametrizations, spectral/weight norm, pruning, clipping and ``nn.init``: behaviours
found to differ from PyTorch 2.13 (or wrong in both), each checked against torch (float64) when it
is installed, or against the mathematics."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import nn
from microgradnp.nn.utils import parametrizations as P
from microgradnp.nn.utils import parametrize

RNG = np.random.default_rng(0)


class _Double(nn.Module):
    def forward(self, x):
        return 2 * x

    def right_inverse(self, x):
        return x / 2


class _NoInverse(nn.Module):
    """A parametrization whose ``right_inverse`` says it has none (PyTorch's convention)."""

    def forward(self, x):
        return 2 * x

    def right_inverse(self, x):
        raise NotImplementedError


class _ToFloat32(nn.Module):
    def forward(self, x):
        return x

    def right_inverse(self, x):
        return x.to(np.float32)


# -- parametrize ---------------------------------------------------------------------------------
def test_register_parametrization_takes_the_modules_training_mode():
    """Registered on a module in eval mode, spectral_norm must not run its power iteration (torch
    sets the parametrization's mode from the module's)."""
    layer = nn.Linear(4, 3).eval()
    P.spectral_norm(layer)
    assert not layer.parametrizations.weight[0].training
    u = layer.parametrizations.weight[0]._u.data.copy()
    layer.parametrizations.weight.original.data[...] += 0.5
    layer(mg.ones((1, 4)))
    np.testing.assert_array_equal(layer.parametrizations.weight[0]._u.data, u)
    layer.train()
    assert layer.parametrizations.weight[0].training


def test_register_parametrization_when_right_inverse_raises_not_implemented():
    layer = nn.Linear(2, 2)
    weight = layer.weight.data.copy()
    parametrize.register_parametrization(layer, "weight", _NoInverse())
    np.testing.assert_array_equal(layer.parametrizations.weight.original.data, weight)  # kept as it was
    np.testing.assert_array_equal(layer.weight.data, 2 * weight)
    parametrize.register_parametrization(layer, "weight", _NoInverse())  # a second one on the same tensor
    np.testing.assert_array_equal(layer.weight.data, 4 * weight)


def test_assigning_through_a_parametrization_without_right_inverse_raises_even_if_unsafe():
    layer = nn.Linear(2, 2)
    parametrize.register_parametrization(layer, "weight", _Double())
    parametrize.register_parametrization(layer, "weight", nn.Identity(), unsafe=True)
    with pytest.raises(RuntimeError, match="right_inverse"):
        layer.weight = mg.ones((2, 2))


class _ToFloat32Later(nn.Module):
    """Keeps the dtype when registered, changes it on later assignments."""

    registered = False

    def forward(self, x):
        return x

    def right_inverse(self, x):
        if not self.registered:
            self.registered = True
            return x
        return x.to(np.float32)


def test_right_inverse_may_not_change_the_dtype_of_the_original():
    layer = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="dtype"):  # even unsafe, as torch
        parametrize.register_parametrization(layer, "weight", _ToFloat32(), unsafe=True)
    assert layer.weight.dtype == np.float64 and not parametrize.is_parametrized(layer)
    parametrize.register_parametrization(layer, "weight", _ToFloat32Later(), unsafe=True)
    with pytest.raises(ValueError, match="dtype"):
        layer.weight = mg.ones((2, 2))
    assert layer.parametrizations.weight.original.dtype == np.float64


def test_deepcopy_of_a_parametrized_module_has_a_class_of_its_own():
    """Adding or removing a parametrization on a deep copy must leave the original working
    (PyTorch's copies share the class holding the properties, and break each other)."""
    layer = nn.Linear(3, 3)
    parametrize.register_parametrization(layer, "weight", _Double())
    twin = copy.deepcopy(layer)
    assert type(twin) is not type(layer) and type(twin).__name__ == "ParametrizedLinear"
    parametrize.register_parametrization(twin, "bias", _Double())
    assert not parametrize.is_parametrized(layer, "bias")
    np.testing.assert_array_equal(layer(mg.ones((1, 3))).data, twin(mg.ones((1, 3))).data)  # (bias = 2 * bias/2)
    parametrize.remove_parametrizations(twin, "weight")
    np.testing.assert_array_equal(layer.weight.data, 2 * layer.parametrizations.weight.original.data)
    assert parametrize.type_before_parametrizations(twin) is nn.Linear


# -- orthogonal without trivialization -----------------------------------------------------------
@pytest.mark.parametrize("shape", [(3, 3), (5, 3), (3, 5), (2, 5, 3)])
@pytest.mark.parametrize("orthogonal_map", ["householder", "matrix_exp", "cayley"])
def test_orthogonal_without_trivialization_matches_torch(shape, orthogonal_map):
    torch = pytest.importorskip("torch")
    w = RNG.standard_normal(shape) * 0.5
    ours, theirs = nn.Module(), torch.nn.Module()
    ours.weight, theirs.weight = nn.Parameter(w.copy()), torch.nn.Parameter(torch.tensor(w))
    P.orthogonal(ours, orthogonal_map=orthogonal_map, use_trivialization=False)
    torch.nn.utils.parametrizations.orthogonal(theirs, orthogonal_map=orthogonal_map, use_trivialization=False)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["parametrizations.weight.original"]
    np.testing.assert_allclose(ours.parametrizations.weight.original.data,
                               theirs.parametrizations.weight.original.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(ours.weight.data, theirs.weight.detach().numpy(), atol=1e-10)
    c = RNG.standard_normal(shape)
    (ours.weight * mg.tensor(c)).sum().backward()
    (theirs.weight * torch.tensor(c)).sum().backward()
    np.testing.assert_allclose(ours.parametrizations.weight.original.grad,
                               theirs.parametrizations.weight.original.grad.numpy(), atol=1e-9)


def test_orthogonal_without_trivialization_assignment():
    layer = nn.Linear(3, 5)
    P.orthogonal(layer, orthogonal_map="householder", use_trivialization=False)
    q = np.linalg.qr(RNG.standard_normal((5, 3)))[0]
    layer.weight = mg.tensor(q)
    np.testing.assert_allclose(layer.weight.data, q, atol=1e-12)
    layer = nn.Linear(3, 3)
    P.orthogonal(layer, orthogonal_map="cayley", use_trivialization=False)
    w = layer.weight.data
    np.testing.assert_allclose(w.T @ w, np.eye(3), atol=1e-12)
    with pytest.raises(NotImplementedError, match="use_trivialization=False"):
        layer.weight = mg.tensor(np.eye(3))


# -- hook-based spectral norm --------------------------------------------------------------------
def test_legacy_spectral_norm_needs_a_positive_number_of_power_iterations():
    """With none, sigma would be u^T W v for the random initial vectors: not a norm at all."""
    with pytest.raises(ValueError, match="positive"):
        nn.utils.spectral_norm(nn.Linear(3, 2), n_power_iterations=0)


# -- transfer_parametrizations_and_params ------------------------------------------------------------
def test_transfer_parametrizations_and_params_matches_torch():
    torch = pytest.importorskip("torch")
    theirs, theirs_to = torch.nn.Linear(3, 4).double(), torch.nn.Linear(3, 4).double()
    ours, ours_to = nn.Linear(3, 4), nn.Linear(3, 4)
    for module, source in ((ours, theirs), (ours_to, theirs_to)):
        module.load_state_dict({k: v.numpy() for k, v in source.state_dict().items()})
    torch.nn.utils.parametrizations.weight_norm(theirs)
    P.weight_norm(ours)
    torch.nn.utils.parametrize.transfer_parametrizations_and_params(theirs, theirs_to)
    parametrize.transfer_parametrizations_and_params(ours, ours_to)
    assert list(ours_to.state_dict()) == list(theirs_to.state_dict())
    np.testing.assert_allclose(ours_to.weight.data, theirs_to.weight.detach().numpy(), atol=1e-12)
    assert ours_to.parametrizations.weight.original1 is ours.parametrizations.weight.original1  # shared
    bare, theirs_bare = nn.Module(), torch.nn.Module()  # no weight yet: made from the parametrized value
    parametrize.transfer_parametrizations_and_params(ours, bare, "weight")
    torch.nn.utils.parametrize.transfer_parametrizations_and_params(theirs, theirs_bare, "weight")
    assert list(bare.state_dict()) == list(theirs_bare.state_dict())
    np.testing.assert_allclose(bare.weight.data, ours.weight.data, atol=1e-12)
    plain = nn.Linear(2, 2)
    assert parametrize.transfer_parametrizations_and_params(nn.Linear(2, 2), plain) is plain


# -- nn.init -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["uniform_", "normal_", "trunc_normal_", "orthogonal_", "sparse_",
                                  "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_"])
def test_random_initialisers_refuse_integer_tensors(name):
    """Random draws written into an integer tensor would be truncated (torch raises as well)."""
    t = mg.Tensor(np.zeros((3, 3), dtype=np.int64), dtype=np.int64)
    args = (0.5,) if name == "sparse_" else ()
    with pytest.raises(TypeError, match="floating-point"):
        getattr(nn.init, name)(t, *args)
    np.testing.assert_array_equal(t.data, 0)
    nn.init.constant_(t, 2)  # the deterministic fills are fine
    np.testing.assert_array_equal(t.data, 2)


def _truncated_normal_moments(mean, std, a, b):
    """Mean and std of N(mean, std^2) truncated to [a, b], with mpmath (exact in any tail)."""
    mp = pytest.importorskip("mpmath")
    with mp.workdps(60):
        lo, hi = mp.mpf(a - mean) / std, mp.mpf(b - mean) / std
        mass = (mp.erfc(lo / mp.sqrt(2)) - mp.erfc(hi / mp.sqrt(2))) / 2  # (upper-tail form: lo > 0 here)
        pdf_lo, pdf_hi = mp.npdf(lo), (mp.npdf(hi) if mp.isfinite(hi) else 0)
        shift = (pdf_lo - pdf_hi) / mass
        variance = 1 + (lo * pdf_lo - (hi * pdf_hi if mp.isfinite(hi) else 0)) / mass - shift**2
        return float(mean + std * shift), float(std * mp.sqrt(variance))


@pytest.mark.parametrize(("mean", "std", "a", "b"), [(0.0, 1.0, 10.0, 11.0), (0.0, 1.0, 8.0, np.inf),
                                                     (0.0, 1.0, 40.0, 41.0), (3.0, 2.0, 100.0, 200.0)])
def test_trunc_normal_far_in_a_tail(mean, std, a, b):
    """An interval many std from the mean: the draws used to collapse onto one bound (the normal
    CDF, taken as 1 + erf, had no digit left there)."""
    expected_mean, expected_std = _truncated_normal_moments(mean, std, a, b)
    for lower in (False, True):  # and the mirror image, below the mean
        t = mg.zeros(4000)
        if lower:
            nn.init.trunc_normal_(t, -mean, std, -b, -a, rng=1)
            values = -t.data
        else:
            nn.init.trunc_normal_(t, mean, std, a, b, rng=1)
            values = t.data
        assert np.all((values >= a) & (values <= b))
        assert abs(values.mean() - expected_mean) < 5 * expected_std / np.sqrt(values.size)
        assert abs(values.std() - expected_std) < 0.05 * expected_std


# -- clip_grad_norm_ -------------------------------------------------------------------------------
@pytest.mark.parametrize(("grad", "norm_type"), [([1e200, 1e200], 2.0), ([3.0, 0.0], -1.0)])
def test_clip_grad_norm_overflow_is_a_value_not_a_warning(grad, norm_type):
    torch = pytest.importorskip("torch")
    p, q = nn.Parameter(np.zeros(2)), torch.zeros(2, dtype=torch.float64, requires_grad=True)
    p.grad, q.grad = np.array(grad), torch.tensor(grad, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        total = nn.utils.clip_grad_norm_([p], 1.0, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_([q], 1.0, norm_type=norm_type)
    np.testing.assert_array_equal(total.data, expected.numpy())
    np.testing.assert_array_equal(p.grad, q.grad.numpy())


# -- hook-based weight and spectral norm -------------------------------------------------------------
@pytest.mark.parametrize("name", ["weight_norm", "spectral_norm"])
def test_deepcopy_of_a_model_with_hook_based_norms(name):
    """The hooked weight is a graph output, which cannot be deep-copied (PyTorch raises there):
    the copy computes its own from its copied tensors, without a power iteration."""
    model = nn.Sequential(getattr(nn.utils, name)(nn.Linear(3, 4)), nn.Tanh(), nn.Linear(4, 1))
    x = mg.tensor(RNG.standard_normal((5, 3)))
    model(x).sum().backward()  # (a forward first: the weight is now in a graph)
    twin = copy.deepcopy(model)
    assert list(twin.state_dict()) == list(model.state_dict())
    for (key, ours), (_, theirs) in zip(twin.state_dict().items(), model.state_dict().items(), strict=True):
        np.testing.assert_array_equal(ours.data, theirs.data, err_msg=key)
    np.testing.assert_array_equal(twin[0].weight.data, model[0].weight.data)
    model.eval()
    twin.eval()
    np.testing.assert_allclose(twin(x).data, model(x).data, rtol=1e-12)
    twin.zero_grad()
    twin(x).sum().backward()
    assert all(p.grad is not None for p in twin.parameters())
    assert all(p is not q for p, q in zip(twin.parameters(), model.parameters(), strict=True))


# -- nn.utils.rnn ------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_])
def test_pad_packed_sequence_keeps_an_integer_or_bool_dtype(dtype):
    """Token ids packed and padded back stay integers (the padding used to be made in float64)."""
    torch = pytest.importorskip("torch")
    sequences = [np.array([1, 2, 3]).astype(dtype), np.array([4]).astype(dtype), np.array([5, 6]).astype(dtype)]
    packed = nn.utils.rnn.pack_sequence([mg.Tensor(s, dtype=dtype) for s in sequences], enforce_sorted=False)
    padded, lengths = nn.utils.rnn.pad_packed_sequence(packed, batch_first=True, padding_value=0)
    theirs = torch.nn.utils.rnn.pack_sequence([torch.tensor(s) for s in sequences], enforce_sorted=False)
    expected, expected_lengths = torch.nn.utils.rnn.pad_packed_sequence(theirs, batch_first=True, padding_value=0)
    assert padded.dtype == dtype
    np.testing.assert_array_equal(padded.data, expected.numpy())
    np.testing.assert_array_equal(lengths.data, expected_lengths.numpy())
    assert [s.dtype for s in nn.utils.rnn.unpack_sequence(packed)] == [dtype] * 3
