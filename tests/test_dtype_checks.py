"""Dtype checks of constructors and binary ops, class-index checks and unbatched / soft
targets of the classification losses, pow's gradients at base 0, and maximum / minimum
of ints and bools. PyTorch, where it is installed, is the oracle."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

import microgradnp as mg
import microgradnp.nn.functional as F
from microgradnp import nn


def _torch():
    torch = pytest.importorskip("torch")
    torch.set_default_dtype(torch.float64)
    return torch


# -- 1. constructors ---------------------------------------------------------------------------
RANDOM = {
    "rand": lambda **kw: mg.rand(2, 3, rng=0, **kw),
    "randn": lambda **kw: mg.randn((2, 3), rng=0, **kw),
}
NON_RANDOM = {
    "zeros": lambda **kw: mg.zeros(2, 3, **kw),
    "ones": lambda **kw: mg.ones((2, 3), **kw),
    "full": lambda **kw: mg.full((2, 3), 2, **kw),
    "zeros_like": lambda **kw: mg.zeros_like(np.zeros((2, 3)), **kw),
    "ones_like": lambda **kw: mg.ones_like(mg.zeros(2, 3), **kw),
    "arange": lambda **kw: mg.arange(6, **kw),
}
NOT_REAL = [np.complex128, np.complex64, object, str, "U3", np.bytes_]


@pytest.mark.parametrize("name", RANDOM)
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, bool, *NOT_REAL], ids=str)
def test_random_constructors_refuse_non_float_dtypes(name, dtype):
    # Before: rand(dtype=np.int64) was all zeros, randn(dtype=complex) had a zero imaginary part.
    with pytest.raises(TypeError, match=rf"mg\.{name}: dtype=.* random samples need a floating dtype"):
        RANDOM[name](dtype=dtype)


@pytest.mark.parametrize("name", NON_RANDOM)
@pytest.mark.parametrize("dtype", NOT_REAL, ids=str)
def test_constructors_refuse_complex_object_and_str_dtypes(name, dtype):
    with pytest.raises(TypeError, match=rf"mg\.{name}: dtype=.* real numbers.*dtype=np\.float32"):
        NON_RANDOM[name](dtype=dtype)


@pytest.mark.parametrize("name", NON_RANDOM)
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, bool], ids=str)
def test_constructors_accept_int_and_bool_dtypes_without_grad(name, dtype):
    if name == "arange" and dtype is bool:
        with pytest.raises(TypeError, match="floating or integer dtype"):  # as torch: no bool ramp
            NON_RANDOM[name](dtype=dtype)
        return
    t = NON_RANDOM[name](dtype=dtype)
    assert t.dtype == np.dtype(dtype) and not t.requires_grad and t.is_leaf
    expected = {"zeros": 0, "ones": 1, "full": 2, "zeros_like": 0, "ones_like": 1}
    reference = np.arange(6) if name == "arange" else np.full((2, 3), expected.get(name, 0))
    np.testing.assert_array_equal(t.data, reference.astype(dtype))


@pytest.mark.parametrize("name", [*NON_RANDOM, *RANDOM])
@pytest.mark.parametrize("dtype", [np.int64, bool], ids=str)
def test_constructors_with_a_non_float_dtype_cannot_require_grad(name, dtype):
    make = {**NON_RANDOM, **RANDOM}[name]
    with pytest.raises(TypeError, match="float"):
        make(dtype=dtype, requires_grad=True)


def test_constructors_keep_float_dtypes():
    for dtype in (np.float16, np.float32, np.float64, np.dtype("float32"), "float64"):
        for make in (*NON_RANDOM.values(), *RANDOM.values()):
            t = make(dtype=dtype, requires_grad=True)
            assert t.dtype == np.dtype(dtype) and t.requires_grad


def test_integer_constructors_match_torch():
    torch = _torch()
    pairs = [
        (mg.zeros(2, 3, dtype=np.int64), torch.zeros(2, 3, dtype=torch.int64)),
        (mg.ones(4, dtype=np.int32), torch.ones(4, dtype=torch.int32)),
        (mg.full((2,), 7, dtype=np.int64), torch.full((2,), 7, dtype=torch.int64)),
        (mg.arange(1, 10, 3, dtype=np.int64), torch.arange(1, 10, 3, dtype=torch.int64)),
        (mg.zeros(3, dtype=bool), torch.zeros(3, dtype=torch.bool)),
    ]
    for t, expected in pairs:
        assert str(t.dtype) == str(expected.dtype).removeprefix("torch.")
        np.testing.assert_array_equal(t.data, expected.numpy())
    # torch refuses random integers from rand / randn, and integer tensors that require grad
    with pytest.raises(RuntimeError):
        torch.rand(3, dtype=torch.int64)
    with pytest.raises(RuntimeError):
        torch.zeros(3, dtype=torch.int64, requires_grad=True)


# -- 2. complex and object operands --------------------------------------------------------------
BINARY = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "**": lambda a, b: a**b,
    "maximum": mg.maximum,
    "minimum": mg.minimum,
    "where": lambda a, b: mg.where(np.array([True, False]), a, b),
}
BAD_OPERANDS = {
    "complex-array": np.array([1j, 2j]),
    "complex-array-real-valued": np.array([1.0, 2.0], dtype=np.complex128),
    "complex-scalar": 1j,
    "numpy-complex-scalar": np.complex64(2 + 1j),
    "object-array": np.array([1.0, 2.0], dtype=object),
}


@pytest.mark.parametrize("op", BINARY)
@pytest.mark.parametrize("operand", BAD_OPERANDS)
@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("requires_grad", [True, False])
def test_binary_ops_refuse_complex_and_object_operands(op, operand, side, requires_grad):
    x = mg.tensor([1.0, 2.0], requires_grad=requires_grad)
    other = BAD_OPERANDS[operand]
    args = (x, other) if side == "right" else (other, x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # complex ** or / may warn before the check
        with pytest.raises(TypeError, match="real numbers"):
            BINARY[op](*args)


def test_the_error_names_the_dtype_and_a_fix():
    with pytest.raises(TypeError, match=r"mul: an operand of dtype complex128 .*np\.float64"):
        mg.tensor([1.0, 2.0]) * np.array([1j, 2j])


@pytest.mark.parametrize("op", BINARY)
def test_binary_ops_keep_accepting_real_operands(op):
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    for other in (2, 2.5, np.float32(1.5), np.array([1, 3]), np.array([True, True]), [0.5, 4.0]):
        if op == "-" and isinstance(other, np.ndarray) and other.dtype == bool:
            continue  # PyTorch refuses a - mask (tests/test_elementwise_nan_parity.py checks it)
        y = BINARY[op](x, other)
        assert y.dtype.kind == "f" and y.requires_grad
    # a Python-number result (0-d data with an object scalar NumPy folds away) is still real
    assert (mg.tensor(1.0) + 0.5).item() == 1.5


def test_integer_tensors_keep_integer_arithmetic():
    a = mg.tensor([1, 2, 3], dtype=np.int64)
    assert (a + 1).dtype == np.int64 and (a * a).dtype == np.int64 and (a - a).dtype == np.int64
    assert (a / 2).dtype == np.float64
    assert mg.where(np.array([True, False, True]), a, 0).dtype == np.int64


# -- 3. cross_entropy and nll_loss ----------------------------------------------------------------
def _logits(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


LOSSES = {
    "cross_entropy": (F.cross_entropy, "cross_entropy"),
    "nll_loss": (lambda x, *a, **kw: F.nll_loss(mg.log_softmax(x, axis=1 if x.ndim > 1 else 0), *a, **kw), "nll_loss"),
}


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize(
    ("shape", "target", "bad"),
    [
        ((3, 4), [0, 4, 1], 4),
        ((3, 4), [0, -1, 1], -1),
        ((3, 4), [0, 2, -5], -5),
        ((3, 4), [0, 2, 17], 17),
        ((2, 4, 3), [[0, 1, 2], [3, -2, 0]], -2),
        ((4,), 4, 4),
        ((4,), -1, -1),
    ],
    ids=["C", "minus-one", "minus-C-1", "far", "spatial", "unbatched", "unbatched-negative"],
)
def test_out_of_range_class_indices_raise(loss, shape, target, bad):
    fn, name = LOSSES[loss]
    x = mg.tensor(_logits(*shape), requires_grad=True)
    with pytest.raises(IndexError, match=rf"{name}: target class index {bad} is out of range for 4 classes"):
        fn(x, np.array(target))
    with pytest.raises(IndexError, match="out of range"):  # through the module too
        (nn.CrossEntropyLoss() if loss == "cross_entropy" else nn.NLLLoss())(
            x if loss == "cross_entropy" else mg.log_softmax(x, axis=1 if x.ndim > 1 else 0), np.array(target)
        )


@pytest.mark.parametrize("loss", LOSSES)
def test_out_of_range_class_indices_raise_in_torch_too(loss):
    torch = _torch()
    x = torch.tensor(_logits(3, 4))
    fn = (
        torch.nn.functional.cross_entropy
        if loss == "cross_entropy"
        else (lambda x, t: torch.nn.functional.nll_loss(torch.log_softmax(x, 1), t))
    )
    for target in ([0, 4, 1], [0, -1, 1]):
        with pytest.raises((IndexError, RuntimeError)):
            fn(x, torch.tensor(target))


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("ignore_index", [-100, -1, 2])
def test_ignore_index_is_exempt_from_the_range_check_and_matches_torch(loss, ignore_index):
    torch = _torch()
    fn, _ = LOSSES[loss]
    data = _logits(3, 4)
    target = np.array([0, ignore_index, 1])
    x, xt = mg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    y = fn(x, target, ignore_index=ignore_index)
    th_fn = (
        torch.nn.functional.cross_entropy
        if loss == "cross_entropy"
        else (lambda x, t, **kw: torch.nn.functional.nll_loss(torch.log_softmax(x, 1), t, **kw))
    )
    yt = th_fn(xt, torch.from_numpy(target), ignore_index=ignore_index)
    y.backward()
    yt.backward()
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("target, weight", [([-100, -100, -100], None), ([-100, 1, -100], [1.0, 0.0, 1.0, 1.0]),
                                            ([0, 1, 0], [0.0, 0.0, 1.0, 1.0]),
                                            ([-100, -100, -100], [1.0, 2.0, 3.0, 4.0])],
                         ids=["all-ignored", "ignored-and-zero-weight", "zero-weights", "all-ignored-weighted"])
def test_a_mean_over_no_weight_gives_torchs_gradient(loss, target, weight):
    # 0 / 0: the loss is nan; ignored targets still get a zero gradient, zero-weighted ones nan.
    torch = _torch()
    fn, _ = LOSSES[loss]
    data = _logits(3, 4)
    x, xt = mg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    th_fn = (
        torch.nn.functional.cross_entropy
        if loss == "cross_entropy"
        else (lambda x, t, **kw: torch.nn.functional.nll_loss(torch.log_softmax(x, 1), t, **kw))
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        fn(x, np.array(target), weight=None if weight is None else mg.tensor(weight)).backward()
    weight_t = None if weight is None else torch.tensor(weight, dtype=torch.float64)
    th_fn(xt, torch.tensor(target), weight=weight_t).backward()
    np.testing.assert_array_equal(np.isnan(x.grad), np.isnan(xt.grad.numpy()))
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("weight_shape", [(3,), (5,), (4, 1), ()])
@pytest.mark.parametrize("shape", [(3, 4), (4,)], ids=["batched", "unbatched"])
def test_weight_must_have_one_entry_per_class(loss, weight_shape, shape):
    fn, name = LOSSES[loss]
    x = mg.tensor(_logits(*shape), requires_grad=True)
    target = np.array([0, 1, 1]) if len(shape) == 2 else np.array(1)
    with pytest.raises(ValueError, match=rf"{name}: weight must hold one weight per class, shape \(4,\)"):
        fn(x, target, weight=np.ones(weight_shape))


@pytest.mark.parametrize("weight_shape", [(3,), (5,)])
def test_weight_must_have_one_entry_per_class_with_probability_targets(weight_shape):
    x = mg.tensor(_logits(3, 4), requires_grad=True)
    with pytest.raises(ValueError, match=r"cross_entropy: weight must hold one weight per class"):
        F.cross_entropy(x, np.full((3, 4), 0.25), weight=np.ones(weight_shape))


def _torch_loss(torch, loss):
    if loss == "cross_entropy":
        return torch.nn.functional.cross_entropy
    return lambda x, t, **kw: torch.nn.functional.nll_loss(torch.log_softmax(x, -1 if x.ndim == 1 else 1), t, **kw)


UNBATCHED_KWARGS = [
    {},
    {"reduction": "sum"},
    {"reduction": "none"},
    {"weight": np.array([0.5, 2.0, 1.0, 3.0])},
    {"weight": np.array([0.5, 2.0, 1.0, 3.0]), "reduction": "none"},
    {"label_smoothing": 0.2},
    {"label_smoothing": 0.2, "weight": np.array([0.5, 2.0, 1.0, 3.0]), "reduction": "none"},
]


@pytest.mark.parametrize(
    ("loss", "kwargs"),
    [
        (loss, kw)
        for loss in LOSSES
        for kw in UNBATCHED_KWARGS
        if loss == "cross_entropy" or "label_smoothing" not in kw
    ],  # nll_loss has no label_smoothing
    ids=lambda v: v if isinstance(v, str) else "-".join(v) or "default",
)
@pytest.mark.parametrize("target", [0, 2, 3])
def test_unbatched_class_index_matches_torch_and_finite_differences(loss, kwargs, target):
    torch = _torch()
    fn, _ = LOSSES[loss]
    data = _logits(4, seed=target)
    x, xt = mg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    th_kwargs = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    y = fn(x, np.array(target), **kwargs)
    yt = _torch_loss(torch, loss)(xt, torch.tensor(target), **th_kwargs)
    assert y.shape == tuple(yt.shape) == ()
    g = 0.7
    y.backward(np.array(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-10, atol=1e-14)
    assert mg.gradcheck(lambda x: fn(x, np.array(target), **kwargs), [mg.tensor(data, requires_grad=True)])


@pytest.mark.parametrize("loss", LOSSES)
def test_unbatched_ignored_target_and_errors(loss):
    fn, name = LOSSES[loss]
    x = mg.tensor(_logits(4), requires_grad=True)
    y = fn(x, np.array(-100), reduction="sum")
    y.backward()
    assert y.item() == 0 and np.all(x.grad == 0)
    with pytest.raises(ValueError, match=rf"{name}: unbatched input of shape \(4,\) .* needs a 0-d target"):
        fn(x, np.array([1]))


@pytest.mark.parametrize("loss", LOSSES)
def test_unbatched_equals_a_batch_of_one(loss):
    fn, _ = LOSSES[loss]
    data = _logits(5)
    a, b = mg.tensor(data, requires_grad=True), mg.tensor(data[None], requires_grad=True)
    ya, yb = fn(a, np.array(3)), fn(b, np.array([3]))
    (ya * 2).backward()
    (yb * 2).backward()
    np.testing.assert_allclose(ya.data, yb.data, rtol=1e-14)
    np.testing.assert_allclose(a.grad, b.grad[0], rtol=1e-14)


def _probabilities(shape, axis, seed=1):
    p = np.random.default_rng(seed).uniform(0.1, 1.0, size=shape)
    return p / p.sum(axis=axis, keepdims=True)


SOFT_CASES = {
    "batched": ((3, 4), {}),
    "batched-sum": ((3, 4), {"reduction": "sum"}),
    "batched-none": ((3, 4), {"reduction": "none"}),
    "weight": ((3, 4), {"weight": np.array([0.5, 2.0, 1.0, 3.0])}),
    "smoothing": ((3, 4), {"label_smoothing": 0.3}),
    "smoothing-weight-none": (
        (3, 4),
        {"label_smoothing": 0.1, "weight": np.array([0.5, 2.0, 1.0, 3.0]), "reduction": "none"},
    ),
    "spatial": ((2, 4, 3), {"label_smoothing": 0.1}),
    "unbatched": ((4,), {}),
    "unbatched-none": ((4,), {"reduction": "none"}),
    "unbatched-weight-smoothing": ((4,), {"weight": np.array([0.5, 2.0, 1.0, 3.0]), "label_smoothing": 0.25}),
}


@pytest.mark.parametrize("case", SOFT_CASES)
def test_probability_targets_match_torch_and_finite_differences(case):
    torch = _torch()
    shape, kwargs = SOFT_CASES[case]
    axis = 0 if len(shape) == 1 else 1
    data, target = _logits(*shape), _probabilities(shape, axis)
    x, xt = mg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    p, pt = mg.tensor(target, requires_grad=True), torch.tensor(target, requires_grad=True)
    th_kwargs = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    y, yt = F.cross_entropy(x, p, **kwargs), torch.nn.functional.cross_entropy(xt, pt, **th_kwargs)
    assert y.shape == tuple(yt.shape)
    g = np.random.default_rng(2).standard_normal(y.shape)
    y.backward(g)
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(p.grad, pt.grad.numpy(), rtol=1e-10, atol=1e-14)
    module = nn.CrossEntropyLoss(**kwargs)
    np.testing.assert_allclose(module(mg.tensor(data), target).data, y.data, rtol=1e-14)
    assert mg.gradcheck(
        lambda x, p: F.cross_entropy(x, p, **kwargs),
        [mg.tensor(data, requires_grad=True), mg.tensor(target, requires_grad=True)],
    )


# -- 4. pow at base 0 -----------------------------------------------------------------------------
BASES = [0.0, 0.5, 2.0, -1.5]
EXPONENTS = [0.0, 1.0, 2.0, 0.5, -1.0, 3.0]


@pytest.mark.parametrize(("base_grad", "exponent_grad"), [(True, True), (True, False), (False, True)])
def test_pow_gradients_match_torch_on_a_grid(base_grad, exponent_grad):
    torch = _torch()
    b0, e0 = (np.array(v) for v in zip(*itertools.product(BASES, EXPONENTS), strict=True))
    b, e = mg.tensor(b0, requires_grad=base_grad), mg.tensor(e0, requires_grad=exponent_grad)
    bt, et = torch.tensor(b0, requires_grad=base_grad), torch.tensor(e0, requires_grad=exponent_grad)
    g = np.random.default_rng(0).uniform(0.5, 1.5, size=b0.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 0 ** -1 and (-1.5) ** 0.5 warn in NumPy
        y = b**e
        y.backward(g)
    yt = bt**et
    yt.backward(torch.from_numpy(g))
    np.testing.assert_array_equal(np.isnan(y.data), torch.isnan(yt).numpy())
    for ours, theirs in [(b.grad, bt.grad), (e.grad, et.grad)]:
        if theirs is None:
            continue
        theirs = theirs.numpy()
        defined = ~np.isnan(theirs)  # where torch gives a number (finite or infinite) we give the same
        assert defined.sum() >= 18
        np.testing.assert_allclose(ours[defined], theirs[defined], rtol=1e-12, atol=0)
        where_ = [(bb, ee) for bb, ee, o in zip(b0[defined], e0[defined], ours[defined], strict=True) if np.isnan(o)]
        assert not where_, f"nan where torch gives a number at (base, exponent) = {where_}"


def test_pow_gradients_at_zero_base_by_hand():
    b = mg.tensor([0.0, 0.0, 0.0, 0.0, 0.0], requires_grad=True)
    e = mg.tensor([0.0, 2.0, 0.5, 1.0, -1.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (b**e).sum().backward()
    np.testing.assert_array_equal(b.grad, [0.0, 0.0, np.inf, 1.0, -np.inf])  # 0**0 is flat in the base
    np.testing.assert_array_equal(e.grad, [0.0, 0.0, 0.0, 0.0, -np.inf])


def test_pow_with_a_constant_array_exponent_is_flat_where_the_exponent_is_zero():
    torch = _torch()
    x, xt = mg.tensor([0.0, 0.0, 3.0], requires_grad=True), torch.tensor([0.0, 0.0, 3.0], requires_grad=True)
    exponent = np.array([0.0, 2.0, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (x**exponent).sum().backward()
    (xt ** torch.from_numpy(exponent)).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(x.grad, xt.grad.numpy())


@pytest.mark.parametrize("base", [0.0, 2.0])
def test_rpow_scalar_base_exponent_gradient_matches_torch(base):
    torch = _torch()
    e0 = np.array(EXPONENTS)
    e, et = mg.tensor(e0, requires_grad=True), torch.tensor(e0, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (base**e).sum().backward()
    (base**et).sum().backward()
    np.testing.assert_allclose(e.grad, et.grad.numpy(), rtol=1e-12)


def test_pow_rule_is_differentiable_on_tensors():
    """create_graph=True runs the rule on Tensors: the same first derivatives, including the
    masked entries, and second derivatives as torch's at positive bases."""
    torch = _torch()
    b0, e0 = np.array([0.0, 0.0, 0.5, 2.0, 2.0]), np.array([0.0, 2.0, 3.0, 0.5, -1.0])
    b, e = mg.tensor(b0, requires_grad=True), mg.tensor(e0, requires_grad=True)
    bt, et = torch.tensor(b0, requires_grad=True), torch.tensor(e0, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gb, ge = mg.grad((b**e).sum(), [b, e], create_graph=True)
        gbt, get = torch.autograd.grad((bt**et).sum(), [bt, et], create_graph=True)
        np.testing.assert_allclose(gb.data, gbt.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(ge.data, get.detach().numpy(), rtol=1e-12)
        hb, he = mg.grad((gb + ge).sum(), [b, e])
        hbt, het = torch.autograd.grad((gbt + get).sum(), [bt, et])
    positive = b0 > 0
    np.testing.assert_allclose(hb.data[positive], hbt.numpy()[positive], rtol=1e-10)
    np.testing.assert_allclose(he.data[positive], het.numpy()[positive], rtol=1e-10)
    assert mg.gradcheck(
        lambda b, e: b**e, [mg.tensor(b0[positive], requires_grad=True), mg.tensor(e0[positive], requires_grad=True)]
    )


# -- 5. maximum and minimum of ints and bools ----------------------------------------------------------
INTS_A, INTS_B = np.array([1, 5, -3, 7]), np.array([2, 5, -4, 0])
BOOLS_A, BOOLS_B = np.array([True, False, True, False]), np.array([False, False, True, True])


@pytest.mark.parametrize("fn", ["maximum", "minimum"])
@pytest.mark.parametrize(
    ("a", "b"),
    [
        (INTS_A, INTS_B),
        (INTS_A.astype(np.int32), INTS_B.astype(np.int32)),
        (INTS_A.astype(np.uint8) % 5, INTS_B.astype(np.uint8) % 5),
        (BOOLS_A, BOOLS_B),
        (INTS_A, BOOLS_B),
        (INTS_A, 3),
        (BOOLS_A, np.True_),
    ],
    ids=["int64", "int32", "uint8", "bool", "int-bool", "int-scalar", "bool-scalar"],
)
@pytest.mark.parametrize("form", ["function", "method", "ufunc"])
def test_maximum_minimum_of_ints_and_bools_give_numpy_result_without_graph(fn, a, b, form):
    x = mg.tensor(a, dtype=a.dtype)
    y = mg.tensor(b, dtype=np.asarray(b).dtype) if isinstance(b, np.ndarray) else b
    assert x.dtype == a.dtype
    if form == "function":
        out = getattr(mg, fn)(x, y)
    elif form == "method":
        out = getattr(x, fn)(y)
    else:
        out = getattr(np, fn)(x, y)
    expected = getattr(np, fn)(a, b)
    assert out.dtype == expected.dtype
    np.testing.assert_array_equal(out.data, expected)
    assert not out.requires_grad and out.is_leaf and out.op is None


def test_maximum_of_an_int_tensor_and_a_float_tensor_is_differentiable():
    a = mg.tensor(INTS_A, dtype=np.int64)
    w = mg.tensor([0.5, 5.0, -10.0, 8.0], requires_grad=True)
    out = mg.maximum(a, w)
    assert out.dtype == np.float64 and out.requires_grad
    out.sum().backward()
    np.testing.assert_array_equal(w.grad, [0.0, 0.5, 0.0, 1.0])
