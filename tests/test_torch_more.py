"""microgradnp.ops.torch_more: mg.save/load, finfo/iinfo, typename, seed, torch's top-level
forms of F functions, integer and special functions, gradient, histograms, vander, the
*_scatter functions, index_put, index_reduce and small Tensor methods, against PyTorch."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from conftest import numeric_grad

import microgradnp as mg


def _grads(fn, arrays, weights):
    """The gradients of ``sum(weights * fn(*tensors))`` with respect to each array, by microgradnp."""
    tensors = [mg.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    (out * weights).sum().backward()
    return out.data, [t.grad for t in tensors]


def _torch_grads(torch, fn, arrays, weights):
    tensors = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    (out * torch.tensor(weights)).sum().backward()
    return out.detach().numpy(), [t.grad.numpy() for t in tensors]


def check(torch, mg_fn, torch_fn, arrays, rng, which=None, rtol=1e-7, atol=1e-9, finite_differences=True):
    """Values and gradients (of the inputs in ``which``, all by default) of ``mg_fn`` against
    ``torch_fn``, and the gradients against central finite differences in float64."""
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    which = range(len(arrays)) if which is None else which
    shape = np.shape(mg_fn(*[mg.tensor(a) for a in arrays]).data)
    weights = rng.standard_normal(shape)
    values, grads = _grads(mg_fn, arrays, weights)
    expected, expected_grads = _torch_grads(torch, torch_fn, arrays, weights)
    np.testing.assert_allclose(values, expected, rtol=rtol, atol=atol)
    for i in which:
        np.testing.assert_allclose(grads[i], expected_grads[i], rtol=rtol, atol=atol)
        if not finite_differences:  # (where torch's gradient is not the derivative: a padding row)
            continue
        numeric = numeric_grad(lambda *a: mg_fn(*[mg.tensor(x) for x in a]).data, arrays, i, weights=weights)
        np.testing.assert_allclose(grads[i], numeric, rtol=1e-5, atol=1e-6)


# -- 1. save / load ---------------------------------------------------------------------------------------------


def _trained(rng):
    model = mg.nn.Sequential(mg.nn.Linear(3, 4, rng=rng), mg.nn.ReLU(), mg.nn.Linear(4, 1, rng=rng))
    optimizer = mg.optim.Adam(model.parameters(), lr=0.01, betas=(0.8, 0.9))
    for _ in range(2):
        optimizer.zero_grad()
        model(mg.tensor(rng.standard_normal((5, 3)))).pow(2).mean().backward()
        optimizer.step()
    return model, optimizer


def _assert_equal_structure(a, b):
    assert type(a) is type(b) or (isinstance(a, dict) and isinstance(b, dict)), (type(a), type(b))
    if isinstance(a, dict):
        assert list(a) == list(b)
        for key in a:
            _assert_equal_structure(a[key], b[key])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_equal_structure(x, y)
    elif isinstance(a, np.ndarray | mg.Tensor):  # (a Tensor saved comes back a Tensor, as torch.load)
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b


def test_save_load_state_dicts_and_checkpoint_round_trip(tmp_path, rng):
    model, optimizer = _trained(rng)
    checkpoint = {"epoch": 3, "model": model.state_dict(), "optimizer": optimizer.state_dict(), "loss": 0.1}
    for name, obj in [("model.pt", model.state_dict()), ("opt.pt", optimizer.state_dict()),
                      ("checkpoint.pt", checkpoint)]:
        mg.save(obj, tmp_path / name)
        assert (tmp_path / name).exists()  # at the path given, no suffix appended
        _assert_equal_structure(obj, mg.load(tmp_path / name))
    # resuming: a fresh model and optimizer continue exactly where the saved ones were
    fresh_model, fresh_optimizer = _trained(np.random.default_rng(1))
    loaded = mg.load(str(tmp_path / "checkpoint.pt"), map_location="cpu", weights_only=True)
    fresh_model.load_state_dict(loaded["model"])
    fresh_optimizer.load_state_dict(loaded["optimizer"])
    x = mg.tensor(rng.standard_normal((5, 3)))
    for m, o in [(model, optimizer), (fresh_model, fresh_optimizer)]:
        o.zero_grad()
        m(x).pow(2).mean().backward()
        o.step()
    for a, b in zip(model.parameters(), fresh_model.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def test_save_is_atomic_and_load_refuses_bad_files(tmp_path, monkeypatch):
    path = tmp_path / "state.pt"
    mg.save({"w": np.ones(2)}, path)
    with pytest.raises(TypeError):
        mg.save({"w": object()}, path)  # a failed save leaves the previous file
    np.testing.assert_array_equal(mg.load(path)["w"], np.ones(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.pt"]
    (tmp_path / "junk.pt").write_bytes(b"\x80\x04not a checkpoint")
    with pytest.raises(ValueError, match="not a valid microgradnp checkpoint"):
        mg.load(tmp_path / "junk.pt")
    with pytest.raises(FileNotFoundError):
        mg.load(tmp_path / "missing.pt")


def test_save_refuses_modules_and_load_refuses_other_devices(tmp_path):
    with pytest.raises(TypeError, match="state_dict"):
        mg.save(mg.nn.Linear(2, 2), tmp_path / "m.pt")
    mg.save({"w": np.zeros(1)}, tmp_path / "w.pt")
    with pytest.raises(ValueError, match="map_location"):
        mg.load(tmp_path / "w.pt", map_location="cuda:0")
    assert mg.load(tmp_path / "w.pt", map_location=mg.device("cpu"))["w"].shape == (1,)


# -- 2. dtype information, typename, seed, aliases ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["float16", "float32", "float64"])
def test_finfo_matches_torch(torch, name):
    ours, theirs = mg.finfo(getattr(mg, name)), torch.finfo(getattr(torch, name))
    for attribute in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution", "dtype"):
        assert getattr(ours, attribute) == getattr(theirs, attribute), attribute
        assert type(getattr(ours, attribute)) is type(getattr(theirs, attribute)), attribute
    assert repr(ours) == repr(theirs)


def test_finfo_default_and_errors(torch):
    assert mg.finfo().dtype == np.dtype(mg.get_default_dtype()).name
    assert mg.finfo(float).dtype == torch.finfo(float).dtype == "float64"
    with pytest.raises(TypeError, match="iinfo"):
        mg.finfo(mg.int32)
    with pytest.raises(TypeError, match="finfo"):
        mg.iinfo(mg.float32)
    with pytest.raises(TypeError, match="bool"):
        mg.iinfo(mg.bool)


@pytest.mark.parametrize("name", ["uint8", "int8", "int16", "int32", "int64"])
def test_iinfo_matches_torch(torch, name):
    ours, theirs = mg.iinfo(getattr(mg, name)), torch.iinfo(getattr(torch, name))
    for attribute in ("bits", "max", "min", "dtype"):
        assert getattr(ours, attribute) == getattr(theirs, attribute)
        assert type(getattr(ours, attribute)) is type(getattr(theirs, attribute))
    assert repr(ours) == repr(theirs)


def test_typename_as_torch(torch):
    assert mg.typename(mg.tensor([1.0], dtype=mg.float32)) == torch.typename(torch.ones(1, dtype=torch.float32))
    assert mg.typename(mg.tensor([1], dtype=mg.int64)) == torch.typename(torch.ones(1, dtype=torch.int64))
    assert mg.typename(3) == torch.typename(3) == "int"
    assert mg.typename(mg.nn.Linear(1, 1)) == f"{mg.nn.Linear.__module__}.Linear"
    assert mg.typename(mg.nn.Linear) == f"{mg.nn.Linear.__module__}.Linear"


def test_seed_reseeds_and_returns_the_seed():
    first = mg.seed()
    assert isinstance(first, int) and 0 <= first < 2**64
    drawn = mg.rand(4).data
    mg.manual_seed(first)
    np.testing.assert_array_equal(mg.rand(4).data, drawn)
    assert mg.seed() != first


def test_top_level_aliases_of_functional(torch, rng):
    x = rng.standard_normal((4, 3))
    np.testing.assert_allclose(mg.pdist(mg.tensor(x)).data, torch.pdist(torch.tensor(x)).numpy(), rtol=1e-12)
    np.testing.assert_allclose(mg.rrelu(mg.tensor(x)).data, torch.rrelu(torch.tensor(x)).numpy(), rtol=1e-12)
    np.testing.assert_array_equal(mg.dropout(mg.tensor(x), 0.5, False).data, x)
    kept = mg.dropout(mg.tensor(np.ones((100, 10))), 0.5, True, rng=np.random.default_rng(0)).data
    assert set(np.unique(kept)) <= {0.0, 2.0} and 300 < np.count_nonzero(kept) < 700
    weight = rng.standard_normal((5, 3))
    index = np.array([0, 2, 0])
    check(torch, lambda w: mg.embedding(w, mg.tensor(index, dtype=mg.int64), 0),
          lambda w: torch.embedding(w, torch.tensor(index), 0), [weight], rng, finite_differences=False)
    check(torch, lambda w: mg.embedding(w, mg.tensor(index, dtype=mg.int64)),
          lambda w: torch.embedding(w, torch.tensor(index)), [weight], rng)


# -- 3. integer and floating-point helpers ----------------------------------------------------------------------


def test_gcd_lcm_as_torch(torch):
    a, b = np.array([12, -18, 0, 7, 0]), np.array([8, 4, 0, -21, 5])
    for name in ("gcd", "lcm"):
        ours = getattr(mg, name)(mg.tensor(a, dtype=mg.int64), mg.tensor(b, dtype=mg.int64))
        theirs = getattr(torch, name)(torch.tensor(a), torch.tensor(b))
        assert ours.dtype == np.int64
        np.testing.assert_array_equal(ours.data, theirs.numpy())
        method = getattr(mg.tensor(a, dtype=mg.int32), name)(mg.tensor(b, dtype=mg.int32))
        np.testing.assert_array_equal(method.data, theirs.numpy())
    t = mg.tensor(a, dtype=mg.int64)
    t.gcd_(mg.tensor(b, dtype=mg.int64))
    np.testing.assert_array_equal(t.data, torch.gcd(torch.tensor(a), torch.tensor(b)).numpy())
    with pytest.raises(TypeError, match="integer"):
        mg.gcd(mg.tensor([1.0]), mg.tensor([2.0]))
    with pytest.raises(TypeError, match="Tensor"):
        mg.gcd(mg.tensor([1], dtype=mg.int64), 3)


def test_frexp_values_dtypes_and_gradient(torch, rng):
    x = np.array([0.0, 1.0, -3.5, np.inf, np.nan, 1e-310, 6.0])
    mantissa, exponent = mg.frexp(mg.tensor(x))
    m, e = torch.frexp(torch.tensor(x))
    np.testing.assert_array_equal(mantissa.data, m.numpy())
    np.testing.assert_array_equal(exponent.data, e.numpy())
    assert exponent.dtype == np.int32 and mg.frexp(mg.tensor([3.0], dtype=mg.float32)).mantissa.dtype == np.float32
    check(torch, lambda t: mg.frexp(t)[0], lambda t: torch.frexp(t)[0], [rng.standard_normal(5) * 10], rng)
    with pytest.raises(TypeError, match="floating"):
        mg.frexp(mg.tensor([3], dtype=mg.int64))


def test_nextafter_values_and_gradient(torch, rng):
    a, b = np.array([1.0, 0.0, 2.0, -1.0, 0.0]), np.array([2.0, -1.0, 2.0, -5.0, 0.0])
    np.testing.assert_array_equal(mg.nextafter(mg.tensor(a), mg.tensor(b)).data,
                                  torch.nextafter(torch.tensor(a), torch.tensor(b)).numpy())
    a32 = mg.tensor(a, dtype=mg.float32)
    np.testing.assert_array_equal(a32.nextafter(mg.tensor(b, dtype=mg.float32)).data,
                                  torch.nextafter(torch.tensor(a, dtype=torch.float32),
                                                  torch.tensor(b, dtype=torch.float32)).numpy())
    x, o = mg.tensor(a, requires_grad=True), mg.tensor(b, requires_grad=True)
    mg.nextafter(x, o).sum().backward()
    tx, to = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    torch.nextafter(tx, to).sum().backward()
    np.testing.assert_array_equal(x.grad, tx.grad.numpy())
    assert o.grad is None or not np.any(o.grad)  # torch gives zeros: nothing flows to `other`
    with pytest.raises(TypeError):
        mg.nextafter(mg.tensor([1], dtype=mg.int64), mg.tensor([2], dtype=mg.int64))


# -- special functions -------------------------------------------------------------------------------------------


def test_i0_values_and_gradients(torch, rng):
    x = np.array([-2.0, 0.0, 0.5, 3.0, 29.9, 30.1, 50.0, 700.0, 710.0])
    np.testing.assert_allclose(mg.i0(mg.tensor(x)).data, torch.i0(torch.tensor(x)).numpy(), rtol=1e-12)
    assert mg.i0(mg.tensor([1.0], dtype=mg.float32)).dtype == np.float32
    assert mg.i0(mg.tensor([1, 2], dtype=mg.int64)).dtype == mg.get_default_dtype()
    check(torch, mg.i0, torch.i0, [np.array([-2.0, 0.0, 0.5, 3.0, 8.0])], rng)
    check(torch, mg.i0, torch.i0, [np.array([35.0])], rng)  # (the asymptotic branch, alone: the sum stays exact)
    # second order: i0'' = i1' = i0 - i1/x, against torch and finite differences of i0' = i1
    x2 = np.array([-2.0, 0.0, 0.5, 3.0, 8.0])
    t = mg.tensor(x2, requires_grad=True)
    (first,) = mg.grad(mg.i0(t).sum(), t, create_graph=True)
    np.testing.assert_allclose(first.data, torch.special.i1(torch.tensor(x2)).numpy(), rtol=1e-12)
    first.sum().backward()
    tt = torch.tensor(x2, requires_grad=True)
    (tfirst,) = torch.autograd.grad(torch.i0(tt).sum(), tt, create_graph=True)
    tfirst.sum().backward()
    np.testing.assert_allclose(t.grad, tt.grad.numpy(), rtol=1e-10)

    def derivative(a):
        leaf = mg.tensor(a, requires_grad=True)
        mg.i0(leaf).sum().backward()
        return leaf.grad

    np.testing.assert_allclose(t.grad, numeric_grad(derivative, [x2], 0), rtol=1e-6)
    t = mg.tensor(x[:3])
    t.i0_()
    np.testing.assert_allclose(t.data, torch.i0(torch.tensor(x[:3])).numpy(), rtol=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_polygamma_values_and_gradients(torch, rng, n):
    x = np.array([-2.5, 0.3, 5.0, 1e-3, 40.0, -0.5, 2.0])
    np.testing.assert_allclose(mg.polygamma(n, mg.tensor(x)).data, torch.polygamma(n, torch.tensor(x)).numpy(),
                               rtol=1e-9)
    check(torch, lambda t: mg.polygamma(n, t), lambda t: torch.polygamma(n, t), [np.array([0.3, 2.0, 7.5, -1.5])],
          rng, rtol=1e-8)
    np.testing.assert_allclose(mg.tensor(x).polygamma(n).data, torch.tensor(x).polygamma(n).numpy(), rtol=1e-9)


def test_polygamma_order_zero_and_errors(torch):
    x = np.array([0.3, 2.0, 7.5])
    np.testing.assert_allclose(mg.polygamma(0, mg.tensor(x)).data, torch.polygamma(0, torch.tensor(x)).numpy(),
                               rtol=1e-12)
    assert np.isinf(mg.polygamma(3, mg.tensor([0.0])).data).all()
    with pytest.raises(ValueError, match="negative n"):
        mg.polygamma(-1, mg.tensor([1.0]))


def test_mvlgamma_values_and_gradient(torch, rng):
    x = np.array([2.5, 3.0, 7.25])
    for p in (1, 2, 3):
        np.testing.assert_allclose(mg.mvlgamma(mg.tensor(x), p).data, torch.mvlgamma(torch.tensor(x), p).numpy(),
                                   rtol=1e-12)
        check(torch, lambda t, p=p: t.mvlgamma(p), lambda t, p=p: torch.mvlgamma(t, p), [x], rng)
    with pytest.raises(ValueError, match="p has to be"):
        mg.mvlgamma(mg.tensor(x), 0)


def test_igamma_igammac_values(torch):
    # (with tails of 1e-22 and 1e-63, which each function computes directly, not as 1 - the other)
    a = np.array([0.5, 1.0, 3.0, 0.0, 2.0, 1e4, 100.0, 5.0, 0.1, 30.0, -1.0, 0.0, 1.0, 2.0, 0.5, 100.0])
    x = np.array([1.0, 0.0, 2.0, 1.0, np.inf, 1.01e4, 90.0, 50.0, 1e-5, 28.0, 1.0, 0.0, 50.0, 60.0, 1e-30, 10.0])
    for name in ("igamma", "igammac"):
        ours = getattr(mg, name)(mg.tensor(a), mg.tensor(x)).data
        theirs = getattr(torch, name)(torch.tensor(a), torch.tensor(x)).numpy()
        # PyTorch's large-argument branch is accurate to ~1e-9 (ours is closer to the exact values)
        np.testing.assert_allclose(ours, theirs, rtol=1e-8, atol=0, equal_nan=True)
    assert np.isnan(mg.igamma(mg.tensor([1.0]), mg.tensor([-1.0])).data).all()
    assert mg.igamma(mg.tensor([1.0], dtype=mg.float32), mg.tensor([1.0], dtype=mg.float32)).dtype == np.float32


def test_igamma_gradient_in_x_only(torch, rng):
    a = np.array([0.5, 1.5, 3.0, 10.0])
    x = np.array([1.0, 0.7, 2.0, 12.0])
    for name in ("igamma", "igammac"):
        check(torch, lambda t, name=name: getattr(mg, name)(mg.tensor(a), t),
              lambda t, name=name: getattr(torch, name)(torch.tensor(a), t), [x], rng)
    shape, value = mg.tensor(a, requires_grad=True), mg.tensor(x, requires_grad=True)
    out = mg.igamma(shape, value).sum()
    with pytest.raises(NotImplementedError, match="first argument"):
        out.backward()
    with pytest.raises(TypeError, match="Tensor"):
        mg.igamma(mg.tensor(a), 2.0)


# -- gradient (finite differences) ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [
    {}, {"spacing": 2.0}, {"spacing": [2.0, 3.0]}, {"dim": 1, "edge_order": 2}, {"dim": [1]},
    {"spacing": (np.array([0.0, 1.0, 3.0, 7.0, 8.0]),), "dim": 1, "edge_order": 2},
    {"spacing": (np.array([0.0, 1.0, 3.0, 7.0, 8.0]),), "dim": -1},
    {"spacing": [np.array([0.0, 0.5, 2.0]), np.array([0.0, 1.0, 3.0, 7.0, 8.0])], "edge_order": 2},
])
def test_gradient_as_torch(torch, rng, kwargs):
    f = rng.standard_normal((3, 5))
    torch_kwargs = {k: [torch.tensor(s) if isinstance(s, np.ndarray) else s for s in v]
                    if isinstance(v, list | tuple) and k == "spacing" else v for k, v in kwargs.items()}
    ours = mg.gradient(mg.tensor(f), **kwargs)
    theirs = torch.gradient(torch.tensor(f), **torch_kwargs)
    assert isinstance(ours, tuple) and len(ours) == len(theirs)
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.data, t.numpy(), rtol=1e-12, atol=1e-12)
    for k in range(len(ours)):
        check(torch, lambda t, k=k: mg.gradient(t, **kwargs)[k],
              lambda t, k=k: torch.gradient(t, **torch_kwargs)[k], [f], rng)


def test_gradient_errors_and_dtypes(torch):
    f = mg.tensor(np.ones((2, 4)))
    with pytest.raises(ValueError, match="edge_order"):
        mg.gradient(f, edge_order=3)
    with pytest.raises(ValueError, match="at least edge_order"):
        mg.gradient(f, dim=0, edge_order=2)
    with pytest.raises(ValueError, match="length"):
        mg.gradient(f, spacing=[1.0, 2.0, 3.0])
    ints = mg.gradient(mg.tensor([1, 4, 9, 16], dtype=mg.int64))[0]
    assert ints.dtype == mg.get_default_dtype()
    np.testing.assert_allclose(ints.data, torch.gradient(torch.tensor([1, 4, 9, 16]))[0].numpy())


# -- histograms, vander ---------------------------------------------------------------------------------------------


def _same(ours, theirs):
    np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-6)
    assert ours.dtype == np.dtype(str(theirs.dtype).removeprefix("torch."))


@pytest.mark.parametrize("args, kwargs", [
    ((3,), {}), ((3,), {"range": (0.0, 5.0), "density": True}), ((4,), {"weight": True}),
    ((2,), {"range": (0.0, 2.0)}), ((np.array([0.0, 1.0, 2.0, 5.0]),), {}),
    ((np.array([0.0, 1.0, 2.0, 5.0]),), {"weight": True, "density": True}),
])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_histogram_as_torch(torch, args, kwargs, dtype):
    x = np.array([[1.0, 2.0, 1.0], [4.0, 2.5, 5.0]])
    weights = np.arange(1.0, 7.0)

    def convert(v, library):
        if isinstance(v, np.ndarray):
            return library.tensor(v, dtype=getattr(library, dtype))
        return v

    ours_kwargs = {k: (mg.tensor(weights, dtype=getattr(mg, dtype)) if k == "weight" else v) for k, v in kwargs.items()}
    torch_kwargs = {k: (torch.tensor(weights, dtype=getattr(torch, dtype)) if k == "weight" else v)
                    for k, v in kwargs.items()}
    hist, edges = mg.histogram(mg.tensor(x, dtype=getattr(mg, dtype)), *[convert(a, mg) for a in args], **ours_kwargs)
    expected = torch.histogram(torch.tensor(x, dtype=getattr(torch, dtype)), *[convert(a, torch) for a in args],
                               **torch_kwargs)
    _same(hist, expected.hist)
    _same(edges, expected.bin_edges)
    method = mg.tensor(x, dtype=getattr(mg, dtype)).histogram(*[convert(a, mg) for a in args], **ours_kwargs)
    np.testing.assert_array_equal(method.hist.data, hist.data)


def test_histogram_edge_cases_and_errors(torch):
    for values, kwargs in [([3.0, 3.0], {}), ([], {}), ([float("nan"), 1.0], {"range": (0.0, 2.0)})]:
        ours = mg.histogram(mg.tensor(values), 2, **kwargs)
        theirs = torch.histogram(torch.tensor(values), 2, **kwargs)
        _same(ours.hist, theirs.hist)
        _same(ours.bin_edges, theirs.bin_edges)
    t = mg.tensor([1.0, 2.0], requires_grad=True)
    assert not mg.histogram(t, 2).hist.requires_grad
    with pytest.raises(TypeError, match="floating"):
        mg.histogram(mg.tensor([1, 2], dtype=mg.int64), 2)
    with pytest.raises(ValueError, match="min should not exceed max"):
        mg.histogram(mg.tensor([1.0]), 2, range=(3.0, 1.0))
    with pytest.raises(ValueError, match="bins must be > 0"):
        mg.histogram(mg.tensor([1.0]), 0)
    with pytest.raises(TypeError, match="same dtype"):
        mg.histogram(mg.tensor([1.0], dtype=mg.float32), mg.tensor([0.0, 2.0], dtype=mg.float64))
    with pytest.raises(ValueError, match="not finite"):
        mg.histogram(mg.tensor([float("nan"), 1.0]), 2)


@pytest.mark.parametrize("bins, kwargs", [
    ([2, 2], {}), (2, {"range": [0.0, 2.0, 0.0, 1.0], "weight": True, "density": True}),
    ([np.array([0.0, 1.0, 3.0]), np.array([0.0, 2.0])], {}), ([3, 1], {"weight": True}),
])
def test_histogramdd_as_torch(torch, bins, kwargs):
    z = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.5], [0.3, 0.9]])
    weights = np.array([1.0, 2.0, 3.0, 0.5])

    def convert(library):
        b = [library.tensor(e) if isinstance(e, np.ndarray) else e for e in bins] if isinstance(bins, list) else bins
        kw = {k: (library.tensor(weights) if k == "weight" else v) for k, v in kwargs.items()}
        return b, kw

    ours = mg.histogramdd(mg.tensor(z), convert(mg)[0], **convert(mg)[1])
    theirs = torch.histogramdd(torch.tensor(z), convert(torch)[0], **convert(torch)[1])
    _same(ours.hist, theirs.hist)
    assert len(ours.bin_edges) == len(theirs.bin_edges) == 2
    for o, t in zip(ours.bin_edges, theirs.bin_edges):
        _same(o, t)


def test_vander_as_torch(torch, rng):
    for x, kwargs in [([1, 2, 3], {}), ([1.0, 2.0], {"N": 3, "increasing": True}), ([True, False], {}),
                      ([2.0, -1.0, 0.5], {"N": 0})]:
        ours = mg.vander(mg.tensor(x, dtype=mg.int64 if isinstance(x[0], int | bool) else None), **kwargs)
        theirs = torch.vander(torch.tensor(x), **kwargs)
        np.testing.assert_array_equal(ours.data, theirs.numpy())
        assert ours.dtype == np.dtype(str(theirs.dtype).removeprefix("torch."))
    # torch's own vander backward fails (an in-place cumprod); its gradient is d/dx x**k = k x**(k-1)
    x = rng.standard_normal(4)
    x[1] = 0.0
    t = mg.tensor(x, requires_grad=True)
    weights = rng.standard_normal((4, 5))
    (mg.vander(t, N=5) * weights).sum().backward()
    powers = np.arange(4, -1, -1)
    expected = (weights * powers * np.where(powers > 0, x[:, None] ** np.maximum(powers - 1, 0), 0)).sum(axis=1)
    np.testing.assert_allclose(t.grad, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(t.grad, numeric_grad(lambda a: np.vander(a, 5), [x], 0, weights=weights),
                               rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="one-dimensional"):
        mg.vander(mg.tensor(np.ones((2, 2))))


# -- writing into copies --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, src_shape, args", [
    ("select_scatter", (3,), (1, 2)), ("select_scatter", (4,), (0, -1)),
    ("slice_scatter", (3, 2), (1, 0, 4, 2)), ("slice_scatter", (1, 4), (0, 1, 2)), ("slice_scatter", (3, 2), (1, 2)),
    ("diagonal_scatter", (3,), (0,)), ("diagonal_scatter", (3,), (1,)), ("diagonal_scatter", (3,), (-1, 1, 0)),
])
def test_scatters_as_torch_with_gradients_in_both(torch, rng, name, src_shape, args):
    x, src = rng.standard_normal((3, 4)), rng.standard_normal(src_shape)
    check(torch, lambda a, b: getattr(mg, name)(a, b, *args), lambda a, b: getattr(torch, name)(a, b, *args),
          [x, src], rng)
    method = getattr(mg.tensor(x), name)(mg.tensor(src), *args)
    np.testing.assert_array_equal(method.data, getattr(torch, name)(torch.tensor(x), torch.tensor(src), *args).numpy())


def test_scatters_write_in_the_input_dtype(torch):
    ours = mg.select_scatter(mg.zeros(2, 3, dtype=mg.float32), mg.tensor([1.0, 2.0, 3.0], dtype=mg.float64), 0, 1)
    theirs = torch.select_scatter(torch.zeros(2, 3, dtype=torch.float32),
                                  torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64), 0, 1)
    assert ours.dtype == np.float32 and theirs.dtype == torch.float32
    ints = mg.slice_scatter(mg.zeros(2, 3, dtype=mg.int64), mg.tensor([[7], [8]], dtype=mg.int32), 1, 2)
    expected = torch.slice_scatter(torch.zeros(2, 3, dtype=torch.int64), torch.tensor([[7], [8]], dtype=torch.int32),
                                   1, 2)
    assert ints.dtype == np.int64
    np.testing.assert_array_equal(ints.data, expected.numpy())


def test_scatters_refuse_a_source_of_the_wrong_shape():
    with pytest.raises(ValueError, match="slice size"):
        mg.slice_scatter(mg.zeros(3, 4), mg.ones(3, 3), 1, 0, 4, 2)
    with pytest.raises(ValueError, match="slice size"):
        mg.diagonal_scatter(mg.zeros(3, 4), mg.ones(2), 1)


@pytest.mark.parametrize("accumulate", [False, True])
def test_index_put_as_torch(torch, rng, accumulate):
    x = rng.standard_normal((3, 4))
    rows, cols = np.array([0, 2, 0]), np.array([1, 3, 1] if accumulate else [1, 3, 2])
    values = rng.standard_normal(3)
    check(torch, lambda a, v: mg.index_put(a, (mg.tensor(rows, dtype=mg.int64), mg.tensor(cols, dtype=mg.int64)),
                                           v, accumulate=accumulate),
          lambda a, v: torch.index_put(a, (torch.tensor(rows), torch.tensor(cols)), v, accumulate=accumulate),
          [x, values], rng)
    # a whole row, a broadcast value, and a bool mask
    np.testing.assert_array_equal(
        mg.tensor(x).index_put((mg.tensor([0, 2], dtype=mg.int64),), mg.tensor(5.0), accumulate).data,
        torch.tensor(x).index_put((torch.tensor([0, 2]),), torch.tensor(5.0), accumulate).numpy())
    mask = x > 0
    np.testing.assert_array_equal(mg.index_put(mg.tensor(x), (mg.tensor(mask, dtype=mg.bool),), mg.tensor(0.0)).data,
                                  torch.index_put(torch.tensor(x), (torch.tensor(mask),), torch.tensor(0.0)).numpy())
    with pytest.raises(TypeError, match="dtypes match"):
        mg.index_put(mg.tensor(x, dtype=mg.float32), (mg.tensor([0], dtype=mg.int64),), mg.tensor(1.0))


@pytest.mark.parametrize("reduce", ["prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_index_reduce_as_torch(torch, rng, reduce, include_self):
    x = rng.standard_normal((3, 4))
    source = rng.standard_normal((4, 4))
    index = np.array([0, 2, 0, 0])
    check(torch, lambda a, s: mg.index_reduce(a, 0, mg.tensor(index, dtype=mg.int64), s, reduce,
                                              include_self=include_self),
          lambda a, s: a.index_reduce(0, torch.tensor(index), s, reduce, include_self=include_self), [x, source], rng)
    # along another dimension, as a method
    index1 = np.array([3, 3, 1])
    source1 = rng.standard_normal((3, 3))
    check(torch, lambda a, s: a.index_reduce(1, mg.tensor(index1, dtype=mg.int64), s, reduce,
                                             include_self=include_self),
          lambda a, s: a.index_reduce(1, torch.tensor(index1), s, reduce, include_self=include_self), [x, source1],
          rng)
    # a 0-d input and source: one slice of length 1
    check(torch, lambda a, s: mg.index_reduce(a, 0, mg.tensor([0], dtype=mg.int64), s, reduce,
                                              include_self=include_self),
          lambda a, s: a.index_reduce(0, torch.tensor([0]), s, reduce, include_self=include_self),
          [np.array(0.7), np.array(-1.3)], rng)


def test_index_reduce_ties_share_the_gradient_and_integer_mean(torch):
    x, source = mg.tensor([1.0, 5.0], requires_grad=True), mg.tensor([5.0, 5.0], requires_grad=True)
    x.index_reduce(0, mg.tensor([0, 1], dtype=mg.int64), source, "amax").sum().backward()
    tx, ts = torch.tensor([1.0, 5.0], requires_grad=True), torch.tensor([5.0, 5.0], requires_grad=True)
    tx.index_reduce(0, torch.tensor([0, 1]), ts, "amax").sum().backward()
    np.testing.assert_array_equal(x.grad, tx.grad.numpy())
    np.testing.assert_array_equal(source.grad, ts.grad.numpy())
    ints = mg.tensor([1, 2, -3], dtype=mg.int64).index_reduce(0, mg.tensor([0, 0, 2], dtype=mg.int64),
                                                              mg.tensor([4, 5, 2], dtype=mg.int64), "mean")
    expected = torch.tensor([1, 2, -3]).index_reduce(0, torch.tensor([0, 0, 2]), torch.tensor([4, 5, 2]), "mean")
    np.testing.assert_array_equal(ints.data, expected.numpy())
    t = mg.tensor([1.0, 2.0, 3.0])
    t.index_reduce_(0, mg.tensor([1], dtype=mg.int64), mg.tensor([4.0]), "prod")
    np.testing.assert_array_equal(t.data, [1.0, 8.0, 3.0])
    with pytest.raises(ValueError, match="prod, mean, amax or amin"):
        mg.index_reduce(mg.zeros(2), 0, mg.tensor([0], dtype=mg.int64), mg.ones(1), "sum")
    with pytest.raises(TypeError, match="same dtype"):
        mg.index_reduce(mg.zeros(2), 0, mg.tensor([0], dtype=mg.int64), mg.ones(1, dtype=mg.float32), "prod")
    with pytest.raises(IndexError, match="out of range"):
        mg.index_reduce(mg.zeros(2), 0, mg.tensor([2], dtype=mg.int64), mg.ones(1), "prod")


# -- Tensor methods ---------------------------------------------------------------------------------------------------


def test_existing_functions_as_methods(torch, rng):
    x = rng.standard_normal((3, 5))
    t, tt = mg.tensor(x), torch.tensor(x)
    np.testing.assert_allclose(t.cov().data, tt.cov().numpy(), rtol=1e-12)
    np.testing.assert_allclose(t.corrcoef().data, tt.corrcoef().numpy(), rtol=1e-12)
    np.testing.assert_allclose(t.msort().data, tt.msort().numpy())
    np.testing.assert_allclose(t.aminmax().max.data, tt.aminmax().max.numpy())
    np.testing.assert_allclose(t.hardshrink(0.7).data, tt.hardshrink(0.7).numpy())
    weight = np.array([0.25])
    np.testing.assert_allclose(t.prelu(mg.tensor(weight)).data, tt.prelu(torch.tensor(weight)).numpy())
    np.testing.assert_array_equal(t.adjoint().data, tt.adjoint().numpy())
    exponents = np.array([2, -1, 0, 3, 1])
    np.testing.assert_array_equal(t.ldexp(mg.tensor(exponents, dtype=mg.int64)).data,
                                  tt.ldexp(torch.tensor(exponents)).numpy())
    assert mg.tensor([2.0]).is_nonzero() and not mg.tensor([0.0]).is_nonzero()
    drawn = mg.tensor(np.full(6, 0.5)).bernoulli(rng=np.random.default_rng(0))
    assert set(np.unique(drawn.data)) <= {0.0, 1.0}
    picked = mg.tensor([0.0, 1.0, 0.0]).multinomial(2, replacement=True, generator=np.random.default_rng(0))
    assert picked.data.tolist() == [1, 1]


def test_mH_and_H(torch, rng):
    x = rng.standard_normal((2, 3, 4))
    check(torch, lambda a: a.mH, lambda a: a.mH, [x], rng)
    check(torch, lambda a: a.H, lambda a: a.H, [x[0]], rng)
    with pytest.raises(ValueError, match="mH"):
        mg.tensor([1.0, 2.0]).mH
    with pytest.raises(ValueError, match="mH"):
        mg.tensor(x).H


def test_is_signed_storage_offset_is_inference(torch):
    for dtype in ("float32", "int64", "int8", "uint8", "bool"):
        ours = mg.tensor([1], dtype=getattr(mg, dtype))
        assert ours.is_signed() == torch.tensor([1], dtype=getattr(torch, dtype)).is_signed()
        assert mg.is_signed(ours) == ours.is_signed()
    t = mg.arange(6.0)
    assert t.storage_offset() == 0 and t[2:].storage_offset() == torch.arange(6.0)[2:].storage_offset() == 2
    assert not t.is_inference()
    with mg.inference_mode():
        assert not mg.ones(2).is_inference()  # an ordinary tensor here: autograd may use it later


def test_new_legacy_constructor(torch):
    t = mg.tensor([1.0, 2.0], dtype=mg.float32, requires_grad=True)
    tt = torch.tensor([1.0, 2.0], dtype=torch.float32, requires_grad=True)
    for args in [([1, 2],), ((2, 3),), (2, 3), (3,), ()]:
        ours, theirs = t.new(*args), tt.new(*args)
        assert ours.shape == tuple(theirs.shape) and ours.dtype == np.float32
        assert not ours.requires_grad
        if args and isinstance(args[0], list | tuple):
            np.testing.assert_array_equal(ours.data, theirs.numpy())
    assert mg.tensor([1], dtype=mg.int64).new([1.5]).data.tolist() == torch.tensor([1]).new([1.5]).tolist()
    with pytest.raises(TypeError):
        t.new(2, "3")


def test_sum_to_size_as_torch(torch, rng):
    x = rng.standard_normal((2, 3, 4))
    for size in [(1, 3, 1), (3, 4), ((4,),), (1, 1, 1), (2, 3, 4)]:
        check(torch, lambda a, size=size: a.sum_to_size(*size), lambda a, size=size: a.sum_to_size(*size), [x], rng)
    with pytest.raises(ValueError, match="expandable"):
        mg.tensor(x).sum_to_size(2, 2)


def test_unsafe_chunk_and_split(torch):
    x = np.arange(7.0)
    for ours, theirs in [(mg.tensor(x).unsafe_chunk(3), torch.tensor(x).unsafe_chunk(3)),
                         (mg.tensor(x).unsafe_split(3), torch.tensor(x).unsafe_split(3)),
                         (mg.unsafe_split(mg.tensor(x), 2), torch.unsafe_split(torch.tensor(x), 2)),
                         (mg.tensor(x).unsafe_split_with_sizes([2, 5]),
                          torch.tensor(x).unsafe_split_with_sizes([2, 5])),
                         (mg.unsafe_split_with_sizes(mg.tensor(x), [3, 4]),
                          torch.unsafe_split_with_sizes(torch.tensor(x), [3, 4]))]:
        assert [o.data.tolist() for o in ours] == [t.tolist() for t in theirs]


def test_igamma_large_shape_and_polygamma_far_below_zero(torch):
    a, x = np.array([1e6, 1e6]), np.array([1e6 + 1000, 1e6 - 500])
    np.testing.assert_allclose(mg.igamma(mg.tensor(a), mg.tensor(x)).data,
                               torch.igamma(torch.tensor(a), torch.tensor(x)).numpy(), rtol=1e-7)
    # many terms below 0 are summed (not looped over one by one, which would take hours)
    far = np.array([-1e7 - 0.5, -1e4 - 0.3])
    np.testing.assert_allclose(mg.polygamma(2, mg.tensor(far)).data,
                               torch.polygamma(2, torch.tensor(far)).numpy(), rtol=1e-9, atol=2e-15)
    assert np.isnan(mg.polygamma(2, mg.tensor([-np.inf])).data).all()


def test_post_accumulate_grad_hook_runs_after_accumulation(torch):
    x, seen = mg.tensor([1.0, 2.0], requires_grad=True), []
    tx, tseen = torch.tensor([1.0, 2.0], requires_grad=True), []
    handle = x.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.copy()))
    thandle = tx.register_post_accumulate_grad_hook(lambda t: tseen.append(t.grad.clone().numpy()))
    for leaf in (x, tx):
        (leaf * leaf).sum().backward()
        (leaf * 3).sum().backward()
    np.testing.assert_array_equal(np.array(seen), np.array(tseen))
    handle.remove()
    thandle.remove()
    (x * 3).sum().backward()
    assert len(seen) == 2


@pytest.mark.parametrize("correction", [0, 1, 2])
def test_cov_and_corrcoef_methods_with_weights_and_gradients(torch, rng, correction):
    x = rng.standard_normal((3, 6))
    fweights = np.array([1, 2, 1, 3, 1, 2])
    aweights = rng.random(6) + 0.1
    check(torch, lambda t, w: t.cov(correction=correction, fweights=mg.tensor(fweights, dtype=mg.int64), aweights=w),
          lambda t, w: t.cov(correction=correction, fweights=torch.tensor(fweights), aweights=w), [x, aweights], rng)
    check(torch, lambda t: t.cov(correction=correction), lambda t: t.cov(correction=correction), [x], rng)
    check(torch, lambda t: t.corrcoef(), lambda t: t.corrcoef(), [x], rng)


def test_compiled_functions_match_eager_and_value_reads_run_eagerly():
    def smooth(x):
        return (mg.i0(x) + mg.polygamma(2, x) + mg.gradient(x)[0] * mg.vander(x, N=2)[:, 0]).sum()

    def reading(x):
        return (mg.frexp(x)[0] + mg.nextafter(x, mg.zeros(2))).sum()

    for fn in (smooth, reading):
        compiled = mg.compile(fn)
        with pytest.warns(UserWarning, match="reads tensor values") if fn is reading else contextlib.nullcontext():
            for values in ([1.0, 2.0], [3.0, 0.7], [5.0, 9.0]):
                x = mg.tensor(values)
                assert float(compiled(x).data) == float(fn(x).data)


def test_in_place_forms(torch):
    x = np.array([0.5, 2.0, 3.5])
    other = np.array([1.0, 1.5, 4.0])
    for name, args, targs in [("polygamma_", (2,), (2,)), ("mvlgamma_", (1,), (1,)),
                              ("igamma_", (mg.tensor(other),), (torch.tensor(other),)),
                              ("igammac_", (mg.tensor(other),), (torch.tensor(other),)),
                              ("nextafter_", (mg.tensor(other),), (torch.tensor(other),)), ("i0_", (), ())]:
        ours, theirs = mg.tensor(x), torch.tensor(x)
        assert getattr(ours, name)(*args) is ours
        getattr(theirs, name)(*targs)
        np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-9, err_msg=name)
    leaf = mg.tensor(x, requires_grad=True)
    with pytest.raises(RuntimeError):
        leaf.i0_()
    ints = mg.tensor([12, 18], dtype=mg.int64)
    ints.lcm_(mg.tensor([8, 4], dtype=mg.int64))
    assert ints.data.tolist() == torch.tensor([12, 18]).lcm_(torch.tensor([8, 4])).tolist()


def test_gradient_takes_pytorchs_explicit_nones():
    f = mg.tensor(np.arange(5.0) ** 2)
    (explicit,) = mg.gradient(f, dim=None, spacing=None, edge_order=1)
    (default,) = mg.gradient(f)
    np.testing.assert_array_equal(explicit.data, default.data)
    np.testing.assert_array_equal(default.data, [1.0, 2.0, 4.0, 6.0, 7.0])
