"""The in-place methods of microgradnp/ops/torch_in_place.py: random fills, in-place forms
of elementwise/comparison/shape methods, writes at positions and Python callables; their
values against PyTorch, the version bump, and the refusals every in-place method makes."""

from __future__ import annotations

import numpy as np
import pytest

import microgradnp as mg
from microgradnp.autograd.gradcheck import gradcheck

MODIFIED = "modified by an in-place operation"
LEAF = r"leaf tensor of shape .* requires grad.*mg.no_grad"
GRAPH = r"output of sigmoid.*does not record in-place"


def _long(values):
    return mg.tensor(np.array(values), dtype=np.int64)


# -- random fills ----------------------------------------------------------------------------
N = 40_000


@pytest.mark.parametrize(
    ("method", "args", "check"),
    [
        ("uniform_", (-2.0, 3.0), lambda v: v.min() >= -2 and v.max() < 3 and abs(v.mean() - 0.5) < 0.05
         and abs(v.var() - 25 / 12) < 0.1),
        ("normal_", (1.0, 2.0), lambda v: abs(v.mean() - 1) < 0.05 and abs(v.std() - 2) < 0.05),
        ("log_normal_", (0.5, 0.25), lambda v: v.min() > 0 and abs(np.log(v).mean() - 0.5) < 0.01
         and abs(np.log(v).std() - 0.25) < 0.01),
        ("exponential_", (4.0,), lambda v: v.min() >= 0 and abs(v.mean() - 0.25) < 0.01),
        ("cauchy_", (1.0, 2.0), lambda v: abs(np.median(v) - 1) < 0.1
         and abs(np.subtract(*np.percentile(v, [75, 25])) - 4) < 0.2),
        ("geometric_", (0.25,), lambda v: v.min() == 1 and np.all(v == np.round(v)) and abs(v.mean() - 4) < 0.1),
        ("bernoulli_", (0.3,), lambda v: set(np.unique(v)) == {0, 1} and abs(v.mean() - 0.3) < 0.02),
        ("random_", (2, 5), lambda v: set(np.unique(v)) == {2, 3, 4}),
        ("random_", (3,), lambda v: set(np.unique(v)) == {0, 1, 2}),
    ],
)
def test_random_fills_follow_their_distribution_keep_dtype_and_bump_the_version(method, args, check):
    for dtype in (np.float64, np.float32):
        t = mg.zeros(N, dtype=dtype)
        data = t.data
        assert getattr(t, method)(*args, rng=0) is t
        assert t.data is data and t.dtype == dtype and t._version == 1
        assert check(t.data.astype(np.float64))


def test_random_fills_are_seeded_by_rng_generator_and_manual_seed():
    a, b = mg.zeros(5), mg.zeros(5)
    np.testing.assert_array_equal(a.normal_(rng=3).data, b.normal_(generator=3).data)
    g1, g2 = np.random.default_rng(7), np.random.default_rng(7)
    np.testing.assert_array_equal(a.uniform_(rng=g1).data, b.uniform_(generator=g2).data)
    mg.manual_seed(11)
    first = mg.zeros(5).exponential_().data
    mg.manual_seed(11)
    np.testing.assert_array_equal(mg.zeros(5).exponential_().data, first)
    assert not np.array_equal(mg.zeros(5).exponential_().data, first)
    with pytest.raises(TypeError, match="give the generator once"):
        a.uniform_(rng=1, generator=1)
    with pytest.raises(TypeError, match="numpy Generator"):
        a.uniform_(rng="seed")


def test_random_fills_on_integer_and_bool_tensors():
    t = mg.tensor(np.zeros(2000, dtype=np.int64), dtype=np.int64)
    t.random_(-3, 3, rng=0)
    assert t.dtype == np.int64 and set(np.unique(t.data)) == set(range(-3, 3))
    assert t.geometric_(0.5, rng=0).data.min() == 1
    assert set(np.unique(t.bernoulli_(rng=0).data)) == {0, 1}
    flags = mg.tensor(np.zeros(100, dtype=bool), dtype=bool).random_(rng=0)
    assert flags.dtype == bool and flags.data.any() and not flags.data.all()
    small = mg.zeros(1000, dtype=np.float32).random_(rng=0)
    assert small.data.max() <= 2**24 and small.data.max() > 2**20 and np.all(small.data == np.round(small.data))
    with pytest.raises(TypeError, match=r"uniform_: .*must be floating-point.*int64"):
        t.uniform_()
    with pytest.raises(TypeError, match=r"normal_: .*floating-point"):
        t.normal_()


def test_bernoulli_takes_a_tensor_of_probabilities():
    p = mg.tensor([0.0, 1.0, 0.0, 1.0])
    np.testing.assert_array_equal(mg.ones(3, 4).bernoulli_(p, rng=0).data, np.tile([0.0, 1.0, 0.0, 1.0], (3, 1)))
    with pytest.raises(ValueError, match=r"p in \[0, 1\]"):
        mg.zeros(3).bernoulli_(1.5)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda t: t.uniform_(1.0, 0.0), "from_ <= to"),
        (lambda t: t.normal_(0.0, -1.0), "std >= 0"),
        (lambda t: t.log_normal_(0.0, 0.0), "std > 0"),
        (lambda t: t.exponential_(0.0), "lambd > 0"),
        (lambda t: t.cauchy_(0.0, -1.0), "sigma > 0"),
        (lambda t: t.geometric_(1.0), r"p in \(0, 1\)"),
        (lambda t: t.random_(3, 3), "from_ < to"),
    ],
)
def test_random_fills_refuse_bad_parameters(call, match):
    with pytest.raises(ValueError, match=match):
        call(mg.zeros(3))


@pytest.mark.parametrize("method", ["uniform_", "normal_", "bernoulli_", "random_", "exponential_", "log_normal_",
                                    "cauchy_"])
def test_random_fills_refuse_a_leaf_that_requires_grad_outside_no_grad(method):
    w = mg.tensor([0.5, 0.25], requires_grad=True)
    with pytest.raises(RuntimeError, match=LEAF):
        getattr(w, method)()
    np.testing.assert_array_equal(w.data, [0.5, 0.25])
    with mg.no_grad():
        getattr(w, method)(rng=0)
    assert w.requires_grad and w.is_leaf and w._version == 1
    with pytest.raises(RuntimeError, match=LEAF):
        w.geometric_(0.5)


def test_custom_initialisation_then_training_gives_correct_gradients():
    w = mg.zeros(3, 2, requires_grad=True)
    with mg.no_grad():
        w.uniform_(-1.0, 1.0, rng=0)
    x = mg.tensor(np.random.default_rng(1).normal(size=(4, 3)))
    assert gradcheck(lambda w: (x @ w).tanh().sum(), [w])


# -- elementwise in-place forms against PyTorch ------------------------------------------------
X = np.array([[0.2, -0.7, 0.45], [-0.3, 0.9, 0.6]])
Y = np.array([[0.5, 0.3, -0.8], [-0.3, 0.25, 0.6]])
IDX = np.array([[1, 0, 1]])
SRC = np.array([[2.0, 3.0, 4.0]])
ELEMENTWISE = [
    ("absolute_", ()), ("acos_", ()), ("arccos_", ()), ("arcsin_", ()), ("asin_", ()), ("arctan_", ()),
    ("atan_", ()), ("arctan2_", ("Y",)), ("atan2_", ("Y",)), ("clamp_max_", (0.3,)), ("clamp_min_", (0.3,)),
    ("clamp_min_", ("Y",)), ("cosh_", ()), ("sinh_", ()), ("tan_", ()), ("cumprod_", (1,)), ("cumsum_", (0,)),
    ("erf_", ()), ("erfc_", ()), ("exp2_", ()), ("floor_divide_", (0.3,)), ("fmod_", (0.3,)),
    ("remainder_", (-0.3,)), ("remainder_", ("Y",)), ("heaviside_", ("Y",)), ("lerp_", ("Y", 0.3)),
    ("lerp_", ("Y", "Y")), ("multiply_", ("Y",)), ("negative_", ()), ("subtract_", ("Y",)),
    ("true_divide_", ("Y",)), ("divide_", ("Y",)), ("divide_", ("Y",), {"rounding_mode": "trunc"}),
    ("divide_", ("Y",), {"rounding_mode": "floor"}), ("float_power_", (3.0,)), ("tril_", ()), ("triu_", (1,)),
    ("tril_", (), {"diagonal": -1}), ("scatter_", (0, "IDX", "SRC")), ("scatter_", (0, "IDX", 2.5)),
    ("scatter_", (0, "IDX", "SRC"), {"reduce": "add"}), ("scatter_", (0, "IDX", "SRC"), {"reduce": "multiply"}),
    ("scatter_", (0, "IDX"), {"value": 2.5, "reduce": "multiply"}), ("scatter_add_", (0, "IDX", "SRC")),
    ("eq_", ("Y",)), ("eq_", (0.2,)), ("ne_", ("Y",)), ("lt_", ("Y",)), ("le_", ("Y",)), ("gt_", (0.2,)),
    ("ge_", ("Y",)), ("greater_", ("Y",)), ("greater_equal_", ("Y",)), ("less_", ("Y",)), ("less_equal_", ("Y",)),
    ("not_equal_", ("Y",)), ("logical_and_", ("Y",)), ("logical_or_", ("Y",)), ("logical_xor_", ("Y",)),
    ("logical_not_", ()), ("fill_diagonal_", (5.0,)), ("index_put_", (("IDX0", "IDX1"), "ROW")),
    ("index_put_", (("IDX0", "IDX1"), "ROW", True)), ("put_", ("IDX", "SRC")), ("put_", ("NEG", "SRC", True)),
]


def _operands(args, lib):
    """The named operands as microgradnp (lib="mg") or torch tensors."""
    import torch

    make = {"mg": lambda a: mg.tensor(a, dtype=a.dtype), "torch": torch.from_numpy}[lib]
    named = {"Y": Y, "IDX": IDX, "SRC": SRC, "ROW": SRC[0], "IDX0": np.array([0, 1, 0]), "IDX1": np.array([2, 2, 2]),
             "NEG": np.array([-1, 0, -1])}
    return tuple(_operands(a, lib) if isinstance(a, tuple) else make(named[a]) if isinstance(a, str) else a
                 for a in args)


@pytest.mark.filterwarnings("ignore:The reduce argument of torch.scatter")
@pytest.mark.parametrize("case", ELEMENTWISE, ids=lambda case: case[0])
def test_in_place_forms_match_pytorch_and_bump_the_version(case):
    torch = pytest.importorskip("torch")
    name, args, kwargs = (*case, {})[:3]
    t = mg.tensor(X.copy())
    data = t.data
    assert getattr(t, name)(*_operands(args, "mg"), **kwargs) is t
    expected = getattr(torch.tensor(X.copy()), name)(*_operands(args, "torch"), **kwargs)
    np.testing.assert_allclose(t.data, expected.numpy(), rtol=1e-12, atol=1e-12)
    assert t.data is data and t._version == 1


def test_integer_division_in_place_rounds_exactly_as_pytorch():
    torch = pytest.importorskip("torch")
    a, b = np.array([7, -7, 7, -7, 2**62 + 1]), np.array([2, 2, -2, -2, 3])
    for mode in ("trunc", "floor"):
        t = mg.tensor(a.copy(), dtype=np.int64).divide_(mg.tensor(b, dtype=np.int64), rounding_mode=mode)
        assert t.dtype == np.int64
        np.testing.assert_array_equal(t.data, torch.tensor(a).divide_(torch.tensor(b), rounding_mode=mode))
    with pytest.raises(ValueError, match=r"divide_.*int64"):
        mg.tensor(a.copy(), dtype=np.int64).divide_(mg.tensor(b, dtype=np.int64))


@pytest.mark.parametrize("name", ["eq_", "lt_", "logical_not_", "clamp_min_", "sinh_", "tril_", "fill_diagonal_"])
def test_float32_stays_float32(name):
    args = {"eq_": (0.5,), "lt_": (0.5,), "clamp_min_": (0.0,), "fill_diagonal_": (1.0,)}.get(name, ())
    t = mg.tensor(X, dtype=np.float32)
    assert getattr(t, name)(*args).dtype == np.float32


def test_comparisons_write_one_and_zero_in_the_tensor_dtype_and_take_an_operand_that_requires_grad():
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    t = mg.tensor([1.0, 5.0, 3.0])
    np.testing.assert_array_equal(t.eq_(x).data, [1.0, 0.0, 1.0])
    counts = mg.tensor(np.array([1, 5, 3]), dtype=np.int64)
    assert counts.gt_(2).dtype == np.int64 and counts.data.tolist() == [0, 1, 1]


def test_fill_diagonal_wrap_matches_pytorch():
    torch = pytest.importorskip("torch")
    for wrap in (False, True):
        t = mg.zeros(7, 3).fill_diagonal_(2.0, wrap=wrap)
        np.testing.assert_array_equal(t.data, torch.zeros(7, 3, dtype=torch.float64).fill_diagonal_(2.0, wrap=wrap))
    np.testing.assert_array_equal(mg.zeros(2, 2, 2).fill_diagonal_(1.0).data,
                                  torch.zeros(2, 2, 2, dtype=torch.float64).fill_diagonal_(1.0))


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda t: t.float().float_power_(2), TypeError, "float_power_: the result is float64"),
        (lambda t: t.divide_(2, rounding_mode="round"), ValueError, "rounding_mode must be"),
        (lambda t: t.scatter_(0, _long([[0, 1, 0]]), 1.0, reduce="max"), ValueError, "reduce must be"),
        (lambda t: t[0].tril_(), ValueError, "at least 2 dimensions"),
        (lambda t: t[0].fill_diagonal_(1.0), ValueError, "fill_diagonal_: needs a 2-D tensor"),
        (lambda t: mg.zeros(2, 3, 2).fill_diagonal_(1.0), ValueError, "all of equal length"),
        (lambda t: t.index_put_((mg.tensor([0.0]),), 1.0), TypeError, "integer or bool"),
        (lambda t: t.index_put_((_long([5]),), 1.0), IndexError, "index_put_: .*out of bounds"),
        (lambda t: t.put_(_long([0, 1]), mg.tensor([1.0])), ValueError, "2 elements but source has 1"),
        (lambda t: t.put_(_long([6]), mg.tensor([1.0])), IndexError, "out of range.*6 elements"),
        (lambda t: t.squeeze_(2), IndexError, "dim 2 is out of range"),
        (lambda t: mg.tensor(np.array([1, 2]), dtype=np.int64).sinh_(), ValueError, "sinh_.*int64"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call(mg.tensor(X.copy()))


# -- shape-changing forms ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "args"),
    [("t_", ()), ("transpose_", (0, 2)), ("swapaxes_", (1, 0)), ("swapdims_", (-1, 0)), ("squeeze_", ()),
     ("squeeze_", (1,)), ("squeeze_", (0,)), ("squeeze_", ((0, 1),)), ("unsqueeze_", (-1,)), ("unsqueeze_", (1,))],
)
def test_shape_changing_forms_match_pytorch_and_stay_views_of_the_same_memory(name, args):
    torch = pytest.importorskip("torch")
    values = np.arange(6.0).reshape((2, 3) if name == "t_" else (2, 1, 3))
    t = mg.tensor(values)
    other = t.detach()
    assert getattr(t, name)(*args) is t
    expected = getattr(torch.tensor(values), name)(*args)
    assert t.shape == tuple(expected.shape)
    np.testing.assert_array_equal(t.data, expected.numpy())
    assert np.shares_memory(t.data, other.data) and t._version == other._version == 1
    t.data[...] = -1.0  # the same memory: the detached tensor sees the write, as in PyTorch
    assert np.all(other.data == -1.0) and other.shape == values.shape


def test_shape_changing_forms_refuse_a_graph_tensor_even_under_no_grad():
    x = mg.tensor([[1.0, 2.0]], requires_grad=True)
    h = x.sigmoid()
    with pytest.raises(RuntimeError, match=GRAPH):
        h.t_()
    with mg.no_grad(), pytest.raises(RuntimeError, match=r"t_\(\): the output of sigmoid .*y = y.t\(...\)"):
        h.t_()
    assert h.shape == (1, 2)


def test_gradients_of_a_graph_built_after_the_in_place_changes_are_correct():
    torch = pytest.importorskip("torch")
    start = np.random.default_rng(0).normal(size=(2, 3))
    w = mg.tensor(start, requires_grad=True)
    with mg.no_grad():
        w.t_().clamp_min_(-0.5).unsqueeze_(0).cumsum_(1).sinh_()
    assert w.shape == (1, 3, 2) and w.is_leaf
    assert gradcheck(lambda w: (w * w.tan()).sum(), [w])
    (w * w.tan()).sum().backward()
    tw = torch.tensor(start, requires_grad=True)
    with torch.no_grad():
        tw.t_().clamp_min_(-0.5).unsqueeze_(0).cumsum_(1).sinh_()
    (tw * tw.tan()).sum().backward()
    np.testing.assert_allclose(w.grad, tw.grad.numpy(), rtol=1e-12)


# -- the rules every in-place method follows --------------------------------------------------
CALLS = {
    "clamp_min_": lambda t: t.clamp_min_(0.0), "sinh_": lambda t: t.sinh_(), "eq_": lambda t: t.eq_(1.0),
    "lerp_": lambda t: t.lerp_(mg.ones(2), 0.5), "cumsum_": lambda t: t.cumsum_(0), "uniform_": lambda t: t.uniform_(),
    "t_": lambda t: t.t_(), "unsqueeze_": lambda t: t.unsqueeze_(0), "put_": lambda t: t.put_(_long([0]), mg.ones(1)),
    "index_put_": lambda t: t.index_put_((_long([1]),), mg.tensor(2.0)),
    "scatter_": lambda t: t.scatter_(0, _long([1]), mg.ones(1)), "fill_diagonal_": lambda t: t.fill_diagonal_(3.0),
    "logical_not_": lambda t: t.logical_not_(), "divide_": lambda t: t.divide_(2.0),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_in_place_on_a_leaf_that_requires_grad_raises_while_recording(name):
    w = mg.tensor([[0.5, 1.5], [2.5, 3.5]] if name == "fill_diagonal_" else [0.5, 1.5], requires_grad=True)
    before = w.data.copy()
    with pytest.raises(RuntimeError, match=LEAF):
        CALLS[name](w)
    np.testing.assert_array_equal(w.data, before)
    with mg.no_grad():
        CALLS[name](w)
    assert w.requires_grad and w._version == 1


@pytest.mark.parametrize("name", sorted(set(CALLS) - {"fill_diagonal_"}))
def test_in_place_on_a_graph_tensor_is_recorded_as_the_other_in_place_methods(name):
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = x.sigmoid()
    if name in ("t_", "unsqueeze_"):
        with pytest.raises(RuntimeError, match="does not record in-place"):
            CALLS[name](h)
        return
    assert CALLS[name](h) is h  # recorded, as h.add_(1); sigmoid saved h, so backward refuses, as PyTorch
    with pytest.raises(RuntimeError, match=MODIFIED):
        h.sum().backward()


@pytest.mark.parametrize("name", sorted(CALLS))
def test_writing_a_tensor_that_backward_saved_raises_at_backward(name):
    w = mg.tensor([[0.5, 1.5], [2.5, 3.5]] if name == "fill_diagonal_" else [0.5, 1.5], requires_grad=True)
    c = mg.tensor(np.full(w.shape, 2.0))
    loss = (w * c).sum()  # mul saves c for w's gradient
    CALLS[name](c)
    assert c._version == 1
    with pytest.raises(RuntimeError, match=MODIFIED):
        loss.backward()


def test_writing_a_value_that_requires_grad_is_recorded_as_torch(torch):
    results = []
    for lib in (mg, torch):
        src = lib.tensor([2.0], dtype=lib.float64, requires_grad=True)
        index = _long([1]) if lib is mg else torch.tensor([1])
        first = lib.tensor([0.0], dtype=lib.float64) if lib is mg else torch.tensor([0])
        written = [lib.zeros(3, dtype=lib.float64) for _ in range(4)]
        written[0].scatter_(0, index, src)
        written[1].put_(first if lib is torch else _long([0]), src)
        written[2].index_put_((index,), src)
        written[3].lerp_(src * lib.ones(3, dtype=lib.float64), 0.25)
        sum((w * (i + 1)).sum() for i, w in enumerate(written)).backward()
        results.append([np.asarray(w.detach()) for w in written] + [np.asarray(src.grad)])
    for ours, theirs in zip(*results):
        np.testing.assert_array_equal(ours, theirs)


def test_detach_in_place():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    assert w.detach_() is w and not w.requires_grad and w._version == 0
    h = mg.tensor([1.0], requires_grad=True).sigmoid()
    with pytest.raises(RuntimeError, match=r"detach_\(\): .*h = h.detach\(\)"):
        h.detach_()


# -- Python callables --------------------------------------------------------------------------
def test_apply_map_and_map2_match_pytorch():
    torch = pytest.importorskip("torch")
    other, third = np.array([10.0, 20.0, 30.0]), np.array([[1.0], [2.0]])
    t = mg.tensor(X.copy())
    t.apply_(lambda v: v * v + 1)
    t.map_(mg.tensor(other), lambda a, b: max(a, b / 40))
    t.map2_(mg.tensor(other), mg.tensor(third), lambda a, b, c: a + b * c)
    tt = torch.tensor(X.copy())
    tt.apply_(lambda v: v * v + 1)
    tt.map_(torch.tensor(other), lambda a, b: max(a, b / 40))
    tt.map2_(torch.tensor(other), torch.tensor(third), lambda a, b, c: a + b * c)
    np.testing.assert_allclose(t.data, tt.numpy(), rtol=1e-14)
    assert t._version == 3
    counts = mg.tensor(np.array([1, 2]), dtype=np.int64).apply_(lambda v: v * 3)
    assert counts.dtype == np.int64 and counts.data.tolist() == [3, 6]


def test_apply_refuses_a_tensor_that_requires_grad_even_under_no_grad():
    w = mg.tensor([1.0], requires_grad=True)
    with mg.no_grad(), pytest.raises(RuntimeError, match=r"apply_: .*requires grad.*t.detach\(\).apply_"):
        w.apply_(abs)
    with pytest.raises(RuntimeError, match="map_: "):
        mg.zeros(1).map_(w, max)


def test_uniform_draws_stay_below_the_upper_bound_in_float32():
    # An interval a few float32 steps wide: in float64 most draws would round up to `to`.
    low, high = 1.0 - 3e-7, 1.0
    x = mg.zeros(10_000, dtype=np.float32)
    x.uniform_(low, high, rng=0)
    assert x.data.max() < high and x.data.min() >= np.float32(low)
    assert (np.random.default_rng(0).uniform(low, high, 10_000).astype(np.float32) == high).any()  # (the risk)
    w = mg.zeros(10_000, dtype=np.float32)
    mg.nn.init.uniform_(w, low, high, rng=0)
    assert w.data.max() < high
    assert mg.rand(10_000, dtype=np.float16, rng=0).data.max() < 1
