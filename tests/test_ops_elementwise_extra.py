"""The extra elementwise functions (log1p ... logaddexp, the zero-gradient step functions)
and activations (softplus ... softsign): forward values against independent NumPy/math
formulas, gradients against central finite differences in float64, second derivatives
against finite differences of the first (``create_graph=True``), PyTorch as an optional
oracle (values and gradients, large magnitudes and kinks included), the NumPy ufuncs a
Tensor answers with them, the ``nn`` modules and ``nn.functional`` signatures."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
from conftest import numeric_grad
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import microgradnp as mg
from microgradnp import nn
from microgradnp.nn import functional as F

_erf = np.vectorize(math.erf, otypes=[np.float64])
_erfc = np.vectorize(math.erfc, otypes=[np.float64])
SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _np_sigmoid(x):
    return np.exp(-np.logaddexp(0, -x))


def _np_elu(x, alpha=1.0, scale=1.0, input_scale=1.0):
    return np.where(x > 0, scale * x, scale * alpha * np.expm1(np.minimum(x, 0) * input_scale))


# -- input samplers: inside the domain and at least 0.05 away from every kink ----------------
def _away_from(*kinks, scale=2.0):
    def sample(rng, shape):
        x = rng.standard_normal(shape) * scale
        for kink in kinks:
            near = np.abs(x - kink) < 0.05
            x = np.where(near, kink + np.where(x >= kink, 0.1, -0.1), x)
        return x

    return sample


def _uniform(lo, hi):
    return lambda rng, shape: rng.uniform(lo, hi, shape)


REAL = _away_from()

# name -> (mg function, independent NumPy reference, sampler)
UNARY = {
    "log1p": (mg.log1p, lambda x: np.log(1 + x), _uniform(-0.5, 3)),
    "expm1": (mg.expm1, lambda x: np.exp(x) - 1, REAL),
    "log2": (mg.log2, lambda x: np.log(x) / np.log(2), _uniform(0.3, 4)),
    "log10": (mg.log10, lambda x: np.log(x) / np.log(10), _uniform(0.3, 4)),
    "exp2": (mg.exp2, lambda x: 2.0**x, REAL),
    "sinh": (mg.sinh, lambda x: (np.exp(x) - np.exp(-x)) / 2, REAL),
    "cosh": (mg.cosh, lambda x: (np.exp(x) + np.exp(-x)) / 2, REAL),
    "tan": (mg.tan, lambda x: np.sin(x) / np.cos(x), _uniform(-1.2, 1.2)),
    "arcsin": (mg.arcsin, np.arcsin, _uniform(-0.9, 0.9)),
    "arccos": (mg.arccos, np.arccos, _uniform(-0.9, 0.9)),
    "arctan": (mg.arctan, np.arctan, REAL),
    "erf": (mg.erf, _erf, REAL),
    "erfc": (mg.erfc, _erfc, REAL),
    "square": (mg.square, lambda x: x * x, REAL),
    "reciprocal": (mg.reciprocal, lambda x: 1 / x, _away_from(0.0)),
    "abs": (mg.abs, np.abs, _away_from(0.0)),
    # activations
    "softplus": (mg.softplus, lambda x: np.log(1 + np.exp(x)), REAL),
    "softplus_beta2_threshold5": (
        lambda x: mg.softplus(x, beta=2.0, threshold=5.0),
        lambda x: np.where(2 * x > 5, x, np.log(1 + np.exp(2 * x)) / 2),
        _away_from(2.5),
    ),
    "softplus_beta_negative": (
        lambda x: mg.softplus(x, beta=-1.5), lambda x: np.log(1 + np.exp(-1.5 * x)) / -1.5, REAL
    ),
    "gelu": (mg.gelu, lambda x: x * 0.5 * (1 + _erf(x / np.sqrt(2))), REAL),
    "gelu_tanh": (
        lambda x: mg.gelu(x, approximate="tanh"),
        lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3))),
        REAL,
    ),
    "silu": (mg.silu, lambda x: x / (1 + np.exp(-x)), REAL),
    "elu": (mg.elu, lambda x: np.where(x > 0, x, np.exp(x) - 1), _away_from(0.0)),
    "elu_alpha": (lambda x: mg.elu(x, alpha=1.7), lambda x: np.where(x > 0, x, 1.7 * (np.exp(x) - 1)), _away_from(0.0)),
    "selu": (mg.selu, lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * (np.exp(x) - 1)), _away_from(0.0)),
    "celu": (
        lambda x: mg.celu(x, alpha=2.5),
        lambda x: np.where(x > 0, x, 2.5 * (np.exp(x / 2.5) - 1)),
        _away_from(0.0),
    ),
    "mish": (mg.mish, lambda x: x * np.tanh(np.log(1 + np.exp(x))), REAL),
    "hardtanh": (mg.hardtanh, lambda x: np.clip(x, -1, 1), _away_from(-1.0, 1.0)),
    "hardtanh_bounds": (lambda x: mg.hardtanh(x, -2.0, 0.5), lambda x: np.clip(x, -2, 0.5), _away_from(-2.0, 0.5)),
    "relu6": (mg.relu6, lambda x: np.minimum(np.maximum(x, 0), 6), _away_from(0.0, 6.0, scale=4.0)),
    "hardsigmoid": (
        mg.hardsigmoid, lambda x: np.minimum(np.maximum(x + 3, 0), 6) / 6, _away_from(-3.0, 3.0, scale=3.0)
    ),
    "hardswish": (
        mg.hardswish,
        lambda x: x * np.minimum(np.maximum(x + 3, 0), 6) / 6,
        _away_from(-3.0, 3.0, scale=3.0),
    ),
    "logsigmoid": (mg.logsigmoid, lambda x: np.log(1 / (1 + np.exp(-x))), REAL),
    "softsign": (mg.softsign, lambda x: x / (1 + np.abs(x)), _away_from(0.0)),
}

BINARY = {
    "arctan2": (mg.arctan2, lambda y, x: np.arctan2(y, x)),
    "logaddexp": (mg.logaddexp, lambda a, b: np.log(np.exp(a) + np.exp(b))),
}

STEPS = {"floor": (mg.floor, np.floor), "ceil": (mg.ceil, np.ceil), "trunc": (mg.trunc, np.trunc),
         "round": (mg.round, np.round), "sign": (mg.sign, np.sign)}


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("shape", [(), (3,), (2, 3)], ids=["scalar", "3", "2x3"])
def test_unary_forward_and_gradient_against_finite_differences(name, shape):
    function, reference, sample = UNARY[name]
    x = sample(np.random.default_rng(len(name)), shape)
    t = mg.tensor(x, requires_grad=True)
    out = function(t)
    assert out.shape == shape and out.dtype == np.float64
    np.testing.assert_allclose(out.data, reference(x), rtol=1e-12, atol=1e-14)
    weights = np.random.default_rng(1).uniform(0.5, 1.5, shape)
    (out * weights).sum().backward()
    expected = numeric_grad(lambda a: np.asarray(function(mg.tensor(a)).data), [x], 0, weights=weights)
    np.testing.assert_allclose(t.grad, expected, rtol=1e-6, atol=1e-8)
    assert mg.gradcheck(function, mg.tensor(x, requires_grad=True))


@pytest.mark.parametrize("name", UNARY)
def test_unary_second_derivative(name):
    function, _, sample = UNARY[name]
    x = mg.tensor(sample(np.random.default_rng(2), (4,)), requires_grad=True)

    def first_derivative(t):
        (g,) = mg.grad(function(t).sum(), t, create_graph=True)
        return g

    assert mg.gradcheck(first_derivative, x, atol=1e-5, rtol=1e-4)


def test_second_derivative_values_are_right_not_just_consistent():
    # d2/dx2 of known functions, by formula: a backward that dropped its dependence on x
    # under create_graph would give 0 here.
    x = mg.tensor([-0.7, 0.3, 1.2], requires_grad=True)
    cases = {
        mg.erf: lambda a: -4 * a / np.sqrt(np.pi) * np.exp(-a * a),
        mg.silu: lambda a: _np_sigmoid(a) * (1 - _np_sigmoid(a)) * (2 + a * (1 - 2 * _np_sigmoid(a))),
        mg.logsigmoid: lambda a: -_np_sigmoid(a) * (1 - _np_sigmoid(a)),
        mg.softplus: lambda a: _np_sigmoid(a) * (1 - _np_sigmoid(a)),
        mg.tan: lambda a: 2 * np.tan(a) / np.cos(a) ** 2,
        mg.gelu: lambda a: np.exp(-a * a / 2) / np.sqrt(2 * np.pi) * (2 - a * a),
    }
    for function, second in cases.items():
        (g,) = mg.grad(function(x).sum(), x, create_graph=True)
        (h,) = mg.grad(g.sum(), x)
        np.testing.assert_allclose(h.data, second(x.data), rtol=1e-10, err_msg=function.__name__)


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("shapes", [((3,), (3,)), ((2, 1), (1, 3)), ((), (2, 3)), ((2, 3), ())])
def test_binary_forward_gradients_and_broadcasting(name, shapes):
    function, reference = BINARY[name]
    rng = np.random.default_rng(3)
    a, b = (rng.standard_normal(s) * 2 for s in shapes)
    ta, tb = mg.tensor(a, requires_grad=True), mg.tensor(b, requires_grad=True)
    out = function(ta, tb)
    np.testing.assert_allclose(out.data, reference(a, b), rtol=1e-12, atol=1e-14)
    weights = rng.uniform(0.5, 1.5, out.shape)
    (out * weights).sum().backward()
    for i, t in enumerate((ta, tb)):
        assert t.grad.shape == t.shape
        np.testing.assert_allclose(t.grad, numeric_grad(reference, [a, b], i, weights=weights), rtol=1e-6, atol=1e-8)
    assert mg.gradcheck(function, (mg.tensor(a, requires_grad=True), mg.tensor(b, requires_grad=True)))

    def first_derivatives(u, v):
        gu, gv = mg.grad(function(u, v).sum(), (u, v), create_graph=True)
        return gu.sum() * 0.7 + gv.sum() * 1.3 + (gu * gu).sum()

    assert mg.gradcheck(first_derivatives, (mg.tensor(a, requires_grad=True), mg.tensor(b, requires_grad=True)),
                        atol=1e-5, rtol=1e-4)


@settings(max_examples=25, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
       name=st.sampled_from(sorted(BINARY)))
def test_binary_broadcasting_property(shapes, name):
    function, reference = BINARY[name]
    rng = np.random.default_rng(4)
    a, b = (rng.uniform(0.2, 2.0, s) * rng.choice([-1, 1], s) for s in shapes.input_shapes)
    ta, tb = mg.tensor(a, requires_grad=True), mg.tensor(b, requires_grad=True)
    out = function(ta, tb)
    assert out.shape == shapes.result_shape
    out.sum().backward()
    for i, t in enumerate((ta, tb)):
        assert t.grad.shape == t.shape
        np.testing.assert_allclose(t.grad, numeric_grad(reference, [a, b], i), rtol=1e-6, atol=1e-8)


# -- step functions: NumPy's values, in the graph, gradient 0 ---------------------------------
@pytest.mark.parametrize("name", STEPS)
def test_step_functions_have_numpy_values_and_zero_gradient(name):
    function, reference = STEPS[name]
    x = np.array([-2.5, -1.5, -0.5, -0.2, 0.0, 0.3, 0.5, 1.5, 2.5, 2.7])
    t = mg.tensor(x, requires_grad=True)
    out = function(t)
    np.testing.assert_array_equal(out.data, reference(x))
    assert out.requires_grad and out.op == name  # graph-connected, as torch.floor(x).requires_grad
    (out * 3 + t).sum().backward()
    np.testing.assert_array_equal(t.grad, np.ones_like(x))  # only the "+ t" path contributes
    (g,) = mg.grad(function(t).sum(), t)
    np.testing.assert_array_equal(g.data, np.zeros_like(x))


def test_round_is_half_to_even_and_takes_decimals():
    t = mg.tensor([0.5, 1.5, 2.5, -0.5, -1.5, 1.25, 1.35, 123.456])
    np.testing.assert_array_equal(mg.round(t).data, [0, 2, 2, -0, -2, 1, 1, 123])
    np.testing.assert_array_equal(mg.round(t, 1).data, np.round(t.data, 1))
    np.testing.assert_array_equal(t.round(decimals=-1).data, np.round(t.data, -1))
    np.testing.assert_array_equal(np.round(t, 2).data, np.round(t.data, 2))
    np.testing.assert_array_equal(np.rint(t).data, np.rint(t.data))
    with pytest.raises(TypeError, match="out"):
        np.round(t, out=np.empty(8))


def test_step_functions_keep_integer_and_float32_dtypes():
    ints = np.array([-2, 0, 3])
    for function, reference in STEPS.values():
        assert function(ints).dtype == reference(ints).dtype
        assert function(mg.tensor([1.5, -0.5], dtype=np.float32)).dtype == np.float32


def test_sign_of_nan_and_zero_follows_pytorch():
    # torch.sign(nan) is 0 (np.sign gives nan); tests/test_elementwise_nan_parity.py checks it against torch
    np.testing.assert_array_equal(mg.sign(mg.tensor([np.nan, -0.0, 0.0, -3.0])).data, [0, 0, 0, -1])


def test_abs_gradient_at_zero_is_zero_as_pytorch():
    t = mg.tensor([0.0, -0.0, 2.0, -2.0], requires_grad=True)
    mg.abs(t).sum().backward()
    np.testing.assert_array_equal(t.grad, [0, 0, 1, -1])


# -- special points and stability ---------------------------------------------------------
def test_erf_matches_math_erf_to_the_last_bit_and_keeps_float32():
    x = np.concatenate([np.linspace(-6, 6, 101), [0.0, -0.0, 1e-300, 30.0, -30.0, np.inf, -np.inf]])
    np.testing.assert_array_equal(mg.erf(x).data, [math.erf(v) for v in x])
    np.testing.assert_array_equal(mg.erfc(x).data, [math.erfc(v) for v in x])
    assert np.isnan(mg.erf(np.array([np.nan])).data[0])
    out = mg.erf(mg.tensor(x, dtype=np.float32))
    assert out.dtype == np.float32
    assert mg.erf(mg.tensor([], requires_grad=True)).shape == (0,)


def test_arctan2_gradient_at_the_origin_is_zero_as_pytorch():
    y, x = mg.tensor([0.0, 1.0], requires_grad=True), mg.tensor([0.0, 0.0], requires_grad=True)
    mg.arctan2(y, x).sum().backward()
    np.testing.assert_array_equal(y.grad, [0.0, 0.0])
    np.testing.assert_array_equal(x.grad, [0.0, -1.0])


def test_large_magnitudes_are_finite_and_exact():
    x = np.array([-1e3, -50.0, -30.0, 30.0, 50.0, 1e3])
    t = mg.tensor(x, requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no overflow, no nan, no log(0)
        softplus, logsigmoid = mg.softplus(t), mg.logsigmoid(t)
        tail = np.log1p(np.exp(-np.abs(x)))  # log(1 + e^-|x|), exact and tiny for large |x|
        np.testing.assert_allclose(softplus.data, np.where(x > 20, x, np.where(x > 0, x + tail, tail)), rtol=1e-15,
                                   atol=0)  # x itself above the threshold 20, as PyTorch
        np.testing.assert_allclose(logsigmoid.data, np.where(x < 0, x - tail, -tail), rtol=1e-15, atol=0)
        (softplus + logsigmoid + mg.mish(t) + mg.silu(t) + mg.gelu(t)).sum().backward()
        big = mg.logaddexp(mg.tensor([1e3, -1e3, 1e3]), mg.tensor([1e3 - 1, -1e3, -1e3]))
    assert np.isfinite(t.grad).all()
    np.testing.assert_allclose(big.data, [1e3 + np.log1p(np.exp(-1)), -1e3 + np.log(2), 1e3], rtol=1e-15)
    # GELU's left tail from erfc: x * Phi(x) keeps its relative accuracy where 1 + erf(x) would be 0.
    tail = mg.gelu(mg.tensor([-10.0, -20.0]))
    np.testing.assert_allclose(tail.data, [-10 * 0.5 * math.erfc(10 / math.sqrt(2)),
                                           -20 * 0.5 * math.erfc(20 / math.sqrt(2))], rtol=1e-12)
    assert tail.data[0] < 0


def test_float32_inputs_give_float32_outputs_and_gradients():
    names = ["log1p", "erf", "reciprocal", "softplus", "gelu", "gelu_tanh", "silu", "elu", "selu", "celu", "mish",
             "hardtanh", "relu6", "hardsigmoid", "hardswish", "logsigmoid", "softsign"]
    for name in names:
        function, _, sample = UNARY[name]
        t = mg.tensor(sample(np.random.default_rng(5), (3,)), dtype=np.float32, requires_grad=True)
        out = function(t)
        out.sum().backward()
        assert out.dtype == np.float32 and t.grad.dtype == np.float32, name


def test_empty_and_zero_d_inputs():
    for name, (function, reference, _) in UNARY.items():
        t = mg.tensor(np.zeros((0, 2)), requires_grad=True)
        out = function(t)
        assert out.shape == (0, 2), name
        out.sum().backward()
        assert t.grad.shape == (0, 2)
        scalar = mg.tensor(0.4, requires_grad=True)
        s = function(scalar)
        assert s.shape == () and isinstance(s.data, np.ndarray), name
        np.testing.assert_allclose(s.data, reference(np.float64(0.4)), rtol=1e-12)


def test_argument_errors():
    x = mg.tensor([1.0])
    with pytest.raises(ValueError, match="beta"):
        mg.softplus(x, beta=0)
    with pytest.raises(ValueError, match="alpha"):
        mg.celu(x, alpha=0)
    with pytest.raises(ValueError, match="approximate"):
        mg.gelu(x, approximate="fast")
    with pytest.raises(ValueError, match="max_val"):
        mg.hardtanh(x, 1.0, -1.0)
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU("erf")
    with pytest.raises(ValueError, match="alpha"):
        nn.CELU(0.0)


# -- methods, aliases, NumPy ufuncs -------------------------------------------------------------
def test_tensor_methods_and_pytorch_aliases():
    t = mg.tensor([0.2, 0.5], requires_grad=True)
    other = mg.tensor([1.0, -2.0])
    assert mg.asin is mg.arcsin and mg.acos is mg.arccos and mg.atan is mg.arctan and mg.atan2 is mg.arctan2
    for name in ["log1p", "expm1", "log2", "log10", "exp2", "sinh", "cosh", "tan", "arcsin", "arccos", "arctan",
                 "asin", "acos", "atan", "erf", "erfc", "square", "reciprocal", "floor", "ceil", "round", "trunc",
                 "sign"]:
        np.testing.assert_array_equal(getattr(t, name)().data, getattr(mg, name)(t).data, err_msg=name)
    np.testing.assert_array_equal(t.atan2(other).data, np.arctan2(t.data, other.data))
    np.testing.assert_array_equal(t.arctan2(other).data, np.arctan2(t.data, other.data))
    np.testing.assert_array_equal(t.logaddexp(other).data, np.logaddexp(t.data, other.data))


UFUNCS = {np.log1p: "log1p", np.expm1: "expm1", np.log2: "log2", np.log10: "log10", np.exp2: "exp2",
          np.sinh: "sinh", np.cosh: "cosh", np.tan: "tan", np.arcsin: "arcsin", np.arccos: "arccos",
          np.arctan: "arctan", np.square: "square", np.reciprocal: "reciprocal", np.floor: "floor",
          np.ceil: "ceil", np.trunc: "trunc", np.rint: "round", np.sign: "sign"}


@pytest.mark.parametrize("ufunc", UFUNCS, ids=lambda u: u.__name__)
def test_numpy_ufuncs_on_tensors_are_differentiable(ufunc):
    x = np.array([0.3, 0.45, 0.8])
    t = mg.tensor(x, requires_grad=True)
    out = ufunc(t)
    assert isinstance(out, mg.Tensor) and out.op == UFUNCS[ufunc] and out.requires_grad
    np.testing.assert_allclose(out.data, ufunc(x), rtol=1e-15)
    out.sum().backward()
    np.testing.assert_allclose(t.grad, numeric_grad(ufunc, [x], 0), rtol=1e-6, atol=1e-8)


def test_binary_numpy_ufuncs_on_tensors():
    a, b = mg.tensor([0.3, -2.0], requires_grad=True), mg.tensor([1.0, 5.0], requires_grad=True)
    assert np.arctan2(a, b).op == "arctan2" and np.logaddexp(a, 1.0).op == "logaddexp"
    np.logaddexp(a, b).sum().backward()
    np.testing.assert_allclose(b.grad, _np_sigmoid(b.data - a.data), rtol=1e-14)


def test_reciprocal_of_integers_is_a_float_as_pytorch():
    np.testing.assert_array_equal(mg.reciprocal(np.array([2, 4])).data, [0.5, 0.25])


# -- PyTorch as the oracle ----------------------------------------------------------------------
TORCH_UNARY = {  # name in UNARY -> torch callable (built from the torch module)
    "log1p": lambda torch: torch.log1p, "expm1": lambda torch: torch.expm1, "log2": lambda torch: torch.log2,
    "log10": lambda torch: torch.log10, "exp2": lambda torch: torch.exp2, "sinh": lambda torch: torch.sinh,
    "cosh": lambda torch: torch.cosh, "tan": lambda torch: torch.tan, "arcsin": lambda torch: torch.asin,
    "arccos": lambda torch: torch.acos, "arctan": lambda torch: torch.atan, "erf": lambda torch: torch.erf,
    "erfc": lambda torch: torch.erfc, "square": lambda torch: torch.square,
    "reciprocal": lambda torch: torch.reciprocal, "abs": lambda torch: torch.abs,
    "softplus": lambda torch: torch.nn.functional.softplus,
    "softplus_beta2_threshold5": lambda torch: lambda x: torch.nn.functional.softplus(x, beta=2.0, threshold=5.0),
    "softplus_beta_negative": lambda torch: lambda x: torch.nn.functional.softplus(x, beta=-1.5),
    "gelu": lambda torch: torch.nn.functional.gelu,
    "gelu_tanh": lambda torch: lambda x: torch.nn.functional.gelu(x, approximate="tanh"),
    "silu": lambda torch: torch.nn.functional.silu, "elu": lambda torch: torch.nn.functional.elu,
    "elu_alpha": lambda torch: lambda x: torch.nn.functional.elu(x, alpha=1.7),
    "selu": lambda torch: torch.nn.functional.selu,
    "celu": lambda torch: lambda x: torch.nn.functional.celu(x, alpha=2.5),
    "mish": lambda torch: torch.nn.functional.mish, "hardtanh": lambda torch: torch.nn.functional.hardtanh,
    "hardtanh_bounds": lambda torch: lambda x: torch.nn.functional.hardtanh(x, -2.0, 0.5),
    "relu6": lambda torch: torch.nn.functional.relu6, "hardsigmoid": lambda torch: torch.nn.functional.hardsigmoid,
    "hardswish": lambda torch: torch.nn.functional.hardswish,
    "logsigmoid": lambda torch: torch.nn.functional.logsigmoid,
    "softsign": lambda torch: torch.nn.functional.softsign,
}
# Inputs at every kink of the piecewise activations (PyTorch's one-sided conventions there).
KINKS = [-3.0, -2.0, -1.0, 0.0, 0.5, 1.0, 2.5, 3.0, 6.0]
LARGE = [-1e3, -50.0, -20.5, 20.5, 50.0, 1e3]
STABLE = {"softplus", "softplus_beta2_threshold5", "softplus_beta_negative", "gelu", "gelu_tanh", "silu", "elu",
          "elu_alpha", "selu", "celu", "mish", "hardtanh", "hardtanh_bounds", "relu6", "hardsigmoid", "hardswish",
          "logsigmoid", "softsign", "erf", "erfc", "arctan", "abs", "square"}


def test_every_unary_case_has_a_torch_oracle():
    assert set(TORCH_UNARY) == set(UNARY)


@pytest.mark.parametrize("name", UNARY)
def test_unary_against_torch(torch, name):
    function, _, sample = UNARY[name]
    x = sample(np.random.default_rng(6), (2, 5)).ravel()
    if name in STABLE:
        x = np.concatenate([x, KINKS, LARGE])
    t = mg.tensor(x, requires_grad=True)
    tt = torch.tensor(x, requires_grad=True)
    weights = np.random.default_rng(7).uniform(0.5, 1.5, x.shape)
    out = function(t)
    expected = TORCH_UNARY[name](torch)(tt)
    (out * weights).sum().backward()
    (expected * torch.tensor(weights)).sum().backward()
    assert out.shape == tuple(expected.shape) and out.dtype == np.float64
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(t.grad, tt.grad.numpy(), rtol=_grad_rtol(name), atol=1e-14)


def _grad_rtol(name: str) -> float:
    # PyTorch's hardsigmoid backward multiplies by the float32 constant 1/6 even in float64
    # (0.1666666716...); microgradnp's 1/6 is the float64 one.
    return 1e-7 if name.lower() == "hardsigmoid" else 1e-9


@pytest.mark.parametrize("name", BINARY)
def test_binary_against_torch(torch, name):
    function, _ = BINARY[name]
    torch_function = {"arctan2": torch.atan2, "logaddexp": torch.logaddexp}[name]
    rng = np.random.default_rng(8)
    a = np.concatenate([rng.standard_normal(6), [0.0, 0.0, 1e3, -1e3, 50.0, -50.0, 1e3]])
    b = np.concatenate([rng.standard_normal(6), [0.0, -1.0, 1e3, -1e3, -50.0, 50.0, -1e3]])
    a, b = a.reshape(13, 1), b.reshape(1, 13)  # broadcast to 13 x 13, ties and extremes included
    ta, tb = mg.tensor(a, requires_grad=True), mg.tensor(b, requires_grad=True)
    pa, pb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    out, expected = function(ta, tb), torch_function(pa, pb)
    out.sum().backward()
    expected.sum().backward()
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ta.grad, pa.grad.numpy(), rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(tb.grad, pb.grad.numpy(), rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize("name", STEPS)
def test_step_functions_against_torch(torch, name):
    function, _ = STEPS[name]
    x = np.array([-2.5, -1.5, -0.5, 0.0, 0.5, 1.5, 2.5, 3.7, -3.7])
    tt = torch.tensor(x, requires_grad=True)
    t = mg.tensor(x, requires_grad=True)
    expected = getattr(torch, name)(tt)
    expected.sum().backward()
    function(t).sum().backward()
    np.testing.assert_array_equal(function(t).data, expected.detach().numpy())
    np.testing.assert_array_equal(t.grad, tt.grad.numpy())


def test_erf_against_torch_to_a_few_ulp(torch):
    x = np.linspace(-5, 5, 1001)
    np.testing.assert_allclose(mg.erf(x).data, torch.erf(torch.tensor(x)).numpy(), rtol=4e-16, atol=0)


def test_second_derivatives_against_torch(torch):
    x = np.array([-2.2, -0.7, 0.4, 1.9])
    pairs = [(mg.gelu, torch.nn.functional.gelu), (mg.mish, torch.nn.functional.mish),
             (mg.logsigmoid, torch.nn.functional.logsigmoid), (mg.elu, torch.nn.functional.elu),
             (mg.erf, torch.erf), (mg.arcsin, torch.asin), (mg.hardswish, torch.nn.functional.hardswish),
             (lambda v: mg.gelu(v, "tanh"), lambda v: torch.nn.functional.gelu(v, approximate="tanh")),
             (lambda v: mg.softplus(v, 2.0), lambda v: torch.nn.functional.softplus(v, 2.0))]
    for ours, theirs in pairs:
        t, tt = mg.tensor(x * 0.4, requires_grad=True), torch.tensor(x * 0.4, requires_grad=True)
        (g,) = mg.grad(ours(t).sum(), t, create_graph=True)
        (h,) = mg.grad((g * g).sum(), t)
        (gt,) = torch.autograd.grad(theirs(tt).sum(), tt, create_graph=True)
        (ht,) = torch.autograd.grad((gt * gt).sum(), tt)
        np.testing.assert_allclose(h.data, ht.numpy(), rtol=1e-9, atol=1e-14)


# -- nn modules and nn.functional -------------------------------------------------------------
MODULES = [("Softplus", (), {}), ("Softplus", (2.0, 5.0), {}), ("GELU", (), {}), ("GELU", (), {"approximate": "tanh"}),
           ("SiLU", (), {}), ("SiLU", (True,), {}), ("ELU", (), {}), ("ELU", (0.5,), {"inplace": True}),
           ("SELU", (), {}), ("CELU", (), {}), ("CELU", (2.0,), {}), ("Mish", (), {}), ("Hardtanh", (), {}),
           ("Hardtanh", (-2.0, 3.0), {}), ("ReLU6", (), {}), ("ReLU6", (True,), {}), ("Hardsigmoid", (), {}),
           ("Hardswish", (), {}), ("LogSigmoid", (), {}), ("Softsign", (), {})]


@pytest.mark.parametrize(("cls", "args", "kwargs"), MODULES)
def test_modules_against_torch_modules(torch, cls, args, kwargs):
    ours, theirs = getattr(nn, cls)(*args, **kwargs), getattr(torch.nn, cls)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    assert list(ours.parameters()) == []
    x = np.concatenate([np.random.default_rng(9).standard_normal(10) * 3, KINKS, LARGE]).reshape(5, 1, 5)
    t = mg.tensor(x, requires_grad=True)
    tt = torch.tensor(x.copy(), requires_grad=True)
    out = ours(t * 1.0)  # an in-place module must not write to a leaf that requires grad (both refuse)
    expected = theirs(tt * 1.0)
    out.sum().backward()
    expected.sum().backward()
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(t.grad, tt.grad.numpy(), rtol=_grad_rtol(cls), atol=1e-14)
    np.testing.assert_array_equal(t.data, x)


FUNCTIONAL_SIGNATURES = {  # as torch.nn.functional (some of torch's are builtins without a signature)
    "softplus": [("beta", 1.0), ("threshold", 20.0)],
    "gelu": [("approximate", "none")],
    "silu": [("inplace", False)],
    "elu": [("alpha", 1.0), ("inplace", False)],
    "selu": [("inplace", False)],
    "celu": [("alpha", 1.0), ("inplace", False)],
    "mish": [("inplace", False)],
    "hardtanh": [("min_val", -1.0), ("max_val", 1.0), ("inplace", False)],
    "relu6": [("inplace", False)],
    "hardsigmoid": [("inplace", False)],
    "hardswish": [("inplace", False)],
    "logsigmoid": [],
    "softsign": [],
}


@pytest.mark.parametrize("name", FUNCTIONAL_SIGNATURES)
def test_functional_signatures_and_values(name):
    parameters = list(inspect.signature(getattr(F, name)).parameters.values())
    assert parameters[0].name == "input"
    assert [(p.name, p.default) for p in parameters[1:]] == FUNCTIONAL_SIGNATURES[name]
    assert name in F.__all__
    x = mg.tensor([-1.3, 0.2, 2.1], requires_grad=True)
    np.testing.assert_array_equal(getattr(F, name)(x).data, getattr(mg, name)(x).data)


def test_functional_signatures_match_torch_where_it_has_them(torch):
    for name in FUNCTIONAL_SIGNATURES:
        try:
            theirs = inspect.signature(getattr(torch.nn.functional, name))
        except (TypeError, ValueError):
            continue  # a builtin
        ours = inspect.signature(getattr(F, name))
        assert [(p.name, p.default) for p in ours.parameters.values()] == [
            (p.name, p.default) for p in theirs.parameters.values()
        ], name


def test_functional_keyword_arguments():
    x = mg.tensor([-1.0, 0.5, 3.0])
    np.testing.assert_allclose(F.softplus(x, beta=2, threshold=1).data, [np.log1p(np.exp(-2)) / 2, np.log1p(np.e) / 2,
                                                                         3.0])
    written = mg.tensor([-1.0, 0.5, 3.0])
    np.testing.assert_allclose(F.hardtanh(written, min_val=-0.5, max_val=0.7, inplace=True).data, [-0.5, 0.5, 0.7])
    np.testing.assert_allclose(written.data, [-0.5, 0.5, 0.7])  # in place, as PyTorch
    np.testing.assert_allclose(F.elu(x, alpha=2.0).data, [2 * np.expm1(-1), 0.5, 3.0])
    np.testing.assert_allclose(F.gelu(x, approximate="tanh").data, UNARY["gelu_tanh"][1](x.data))


@pytest.mark.parametrize("name", ["gelu", "silu", "elu", "selu", "celu", "softplus", "mish", "hardtanh",
                                  "relu6", "hardsigmoid", "hardswish", "logsigmoid", "softsign", "GELU"])
def test_mlp_activation_names(name):
    model = nn.MLP(2, (4,), 1, activation=name, output_activation=name, rng=0)
    expected = nn.layers.ACTIVATIONS[name.lower()]
    assert type(model.act1) is expected and type(model.out_act) is expected
    x = mg.tensor(np.random.default_rng(10).standard_normal((5, 2)))
    model(x).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
