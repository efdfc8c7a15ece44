"""Every built-in primitive against PyTorch as an oracle: forward values, input
gradients for a random upstream gradient, second-order gradients (create_graph=True),
dtype preservation in float32, and numerical stability for large inputs.

Each row of ``CASES`` names an mg function, the same computation written in torch
(it receives the torch module first: torch is never imported at module level, so
everything here is skipped when it is absent) and the inputs as (shape, domain).
"""

from __future__ import annotations

import operator
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import microgradnp as mg

TOLERANCES = {np.dtype(np.float64): (1e-10, 1e-12), np.dtype(np.float32): (1e-5, 1e-6)}


@dataclass(frozen=True)
class Case:
    mg_fn: Any  # (*mg tensors) -> mg tensor
    th_fn: Any  # (torch, *torch tensors) -> torch tensor
    inputs: tuple  # one (shape, domain) per differentiable input


def case(name, mg_fn, th_fn, *inputs):
    return pytest.param(Case(mg_fn, th_fn, inputs), id=name)


def same(fn):
    """A torch function for an expression that reads the same in both frameworks."""
    return lambda th, *xs: fn(*xs)


def sample(rng, shape, domain, dtype):
    if domain == "real":
        a = rng.standard_normal(shape)
    elif domain == "pos":  # logs, roots, powers with a tensor exponent
        a = rng.uniform(0.5, 2.0, shape)
    elif domain == "nonzero":  # denominators
        a = rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    elif domain == "int":  # small integers: exact zeros, ties and clip boundaries
        a = rng.integers(-1, 2, shape)
    else:
        raise ValueError(domain)
    return np.asarray(a, dtype=dtype)


# -- the table ---------------------------------------------------------------------------
SHAPE_PAIRS = [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((2, 3, 4), (4,)), ((), (2, 3)), ((2, 3), ())]
BINARY = [
    ("add", operator.add, "real", "real"),
    ("sub", operator.sub, "real", "real"),
    ("mul", operator.mul, "real", "real"),
    ("div", operator.truediv, "real", "nonzero"),
    ("pow", operator.pow, "pos", "real"),
]
BINARY_CASES = [
    case(f"{name}-{sa}-{sb}", fn, same(fn), (sa, da), (sb, db))
    for name, fn, da, db in BINARY
    for sa, sb in SHAPE_PAIRS
]
# Exact ties ("int" inputs): torch gives each side half of the gradient.
EXTREMUM_CASES = [
    case(f"{name}-{domain}-{sa}-{sb}", mg_fn, th_fn, (sa, domain), (sb, domain))
    for name, mg_fn, th_fn in [
        ("maximum", mg.maximum, lambda th, a, b: th.maximum(a, b)),
        ("minimum", mg.minimum, lambda th, a, b: th.minimum(a, b)),
    ]
    for domain in ("real", "int")
    for sa, sb in SHAPE_PAIRS
]

CONST = np.random.default_rng(42).standard_normal((3, 4))
UNARY_CASES = [
    case("neg", operator.neg, same(operator.neg), ((3, 4), "real")),
    case("abs", abs, same(abs), ((3, 4), "real")),
    case("abs-at-zero", mg.abs, lambda th, x: th.abs(x), ((3, 4), "int")),
    case("exp", mg.exp, lambda th, x: th.exp(x), ((3, 4), "real")),
    case("log", lambda x: x.log(), lambda th, x: th.log(x), ((3, 4), "pos")),
    case("sqrt", mg.sqrt, lambda th, x: th.sqrt(x), ((3, 4), "pos")),
    case("sin", mg.sin, lambda th, x: th.sin(x), ((3, 4), "real")),
    case("cos", lambda x: x.cos(), lambda th, x: th.cos(x), ((3, 4), "real")),
    case("tanh", mg.tanh, lambda th, x: th.tanh(x), ((3, 4), "real")),
    case("sigmoid", lambda x: x.sigmoid(), lambda th, x: th.sigmoid(x), ((3, 4), "real")),
    case("relu", mg.relu, lambda th, x: th.relu(x), ((3, 4), "real")),
    case("relu-at-zero", mg.relu, lambda th, x: th.relu(x), ((3, 4), "int")),
    case("leaky_relu", mg.leaky_relu, lambda th, x: th.nn.functional.leaky_relu(x), ((3, 4), "real")),
    case(
        "leaky_relu-0.2-at-zero",
        lambda x: x.leaky_relu(0.2),
        lambda th, x: th.nn.functional.leaky_relu(x, negative_slope=0.2),
        ((3, 4), "int"),
    ),
    case("clip", lambda x: mg.clip(x, -0.5, 0.7), lambda th, x: th.clamp(x, -0.5, 0.7), ((3, 4), "real")),
    # On the bounds themselves torch's clamp passes the gradient through.
    case("clip-at-bounds", lambda x: x.clip(-1.0, 0.0), lambda th, x: th.clamp(x, -1.0, 0.0), ((3, 4), "int")),
    case("clip-lo", lambda x: mg.clip(x, lo=0.0), lambda th, x: th.clamp(x, min=0.0), ((3, 4), "int")),
    case("clip-hi", lambda x: mg.clip(x, hi=0.3), lambda th, x: th.clamp(x, max=0.3), ((3, 4), "real")),
    case("square", lambda x: x**2, lambda th, x: x**2, ((3, 4), "real")),
    case("cube", lambda x: x**3, lambda th, x: x**3, ((3, 4), "real")),
    case("pow-int-at-zero", lambda x: x**3, lambda th, x: x**3, ((3, 4), "int")),
    case("pow-half", lambda x: x**0.5, lambda th, x: x**0.5, ((3, 4), "pos")),
    case("pow-neg", lambda x: x**-1.5, lambda th, x: x**-1.5, ((3, 4), "pos")),
    case("rpow-2", lambda x: 2.0**x, lambda th, x: 2.0**x, ((3, 4), "real")),
    case("rpow-half", lambda x: 0.5**x, lambda th, x: 0.5**x, ((3, 4), "real")),
    case("add-scalar", lambda x: x + 2.5, lambda th, x: x + 2.5, ((3, 4), "real")),
    case("rsub-scalar", lambda x: 2.5 - x, lambda th, x: 2.5 - x, ((3, 4), "real")),
    case("rmul-scalar", lambda x: 3.0 * x, lambda th, x: 3.0 * x, ((3, 4), "real")),
    case("div-scalar", lambda x: x / 4.0, lambda th, x: x / 4.0, ((3, 4), "real")),
    case("rdiv-scalar", lambda x: 3.0 / x, lambda th, x: 3.0 / x, ((3, 4), "nonzero")),
    # An ndarray on the left goes through Tensor.__array_ufunc__.
    case("ndarray-sub", lambda x: CONST.astype(x.dtype) - x, lambda th, x: th.tensor(CONST, dtype=x.dtype) - x,
         ((3, 4), "real")),
    case("ndarray-mul-bcast", lambda x: CONST.astype(x.dtype) * x, lambda th, x: th.tensor(CONST, dtype=x.dtype) * x,
         ((4,), "real")),
]

COND = np.random.default_rng(1).random((3, 4)) > 0.5
WHERE_CASES = [
    case("where", lambda a, b: mg.where(COND, a, b), lambda th, a, b: th.where(th.from_numpy(COND), a, b),
         ((3, 4), "real"), ((3, 4), "real")),
    case("where-bcast", lambda a, b: mg.where(COND, a, b), lambda th, a, b: th.where(th.from_numpy(COND), a, b),
         ((3, 1), "real"), ((4,), "real")),
    case("where-tensor-cond", lambda a, b: mg.where(a > b, a, b), lambda th, a, b: th.where(a > b, a, b),
         ((3, 4), "real"), ((3, 4), "real")),
]


def _dims(axis):
    return (0, 1, 2) if axis is None else axis


REDUCTION_AXES = [(None, False), (1, False), (-1, True), ((0, 2), False), ((0, 2), True)]
REDUCTION_CASES = [
    case(f"{name}-{axis}-{'keep' if keep else 'drop'}", mg_fn, th_fn, ((2, 3, 4), domain))
    for axis, keep in REDUCTION_AXES
    for name, domain, mg_fn, th_fn in [
        ("sum", "real", lambda x, a=axis, k=keep: x.sum(axis=a, keepdims=k),
         lambda th, x, a=axis, k=keep: x.sum(dim=_dims(a), keepdim=k)),
        ("mean", "real", lambda x, a=axis, k=keep: mg.mean(x, axis=a, keepdims=k),
         lambda th, x, a=axis, k=keep: x.mean(dim=_dims(a), keepdim=k)),
        ("var0", "real", lambda x, a=axis, k=keep: mg.var(x, axis=a, keepdims=k),
         lambda th, x, a=axis, k=keep: th.var(x, dim=_dims(a), keepdim=k, correction=0)),
        ("var1", "real", lambda x, a=axis, k=keep: x.var(axis=a, keepdims=k, ddof=1),
         lambda th, x, a=axis, k=keep: th.var(x, dim=_dims(a), keepdim=k, correction=1)),
        # torch.amax/amin (not torch.max(dim), which routes the gradient to one index)
        # share the gradient evenly among tied extremes; "int" inputs tie a lot.
        ("max", "real", lambda x, a=axis, k=keep: x.max(axis=a, keepdims=k),
         lambda th, x, a=axis, k=keep: th.amax(x, dim=_dims(a), keepdim=k)),
        ("max-ties", "int", lambda x, a=axis, k=keep: mg.max(x, axis=a, keepdims=k),
         lambda th, x, a=axis, k=keep: th.amax(x, dim=_dims(a), keepdim=k)),
        ("min-ties", "int", lambda x, a=axis, k=keep: x.min(axis=a, keepdims=k),
         lambda th, x, a=axis, k=keep: th.amin(x, dim=_dims(a), keepdim=k)),
        ("logsumexp", "real", lambda x, a=axis, k=keep: mg.logsumexp(x, axis=a, keepdims=k),
         lambda th, x, a=axis, k=keep: th.logsumexp(x, dim=_dims(a), keepdim=k)),
    ]
] + [
    case("sum-0d", mg.sum, lambda th, x: x.sum(), ((), "real")),
    case("max-0d", mg.max, lambda th, x: th.amax(x), ((), "real")),
    case("min-1d", lambda x: x.min(axis=0), lambda th, x: th.amin(x, dim=0), ((5,), "real")),
] + [
    case(f"{name}-{axis}", mg_fn, th_fn, ((2, 3, 4), "real"))
    for axis in (0, 1, -1)
    for name, mg_fn, th_fn in [
        ("softmax", lambda x, a=axis: mg.softmax(x, axis=a), lambda th, x, a=axis: th.softmax(x, dim=a)),
        ("log_softmax", lambda x, a=axis: x.log_softmax(axis=a), lambda th, x, a=axis: th.log_softmax(x, dim=a)),
    ]
]

SHAPE_CASES = [
    case("reshape", lambda x: x.reshape(4, -1), lambda th, x: x.reshape(4, -1), ((2, 3, 4), "real")),
    case("reshape-tuple", lambda x: mg.reshape(x, (3, 8)), lambda th, x: x.reshape(3, 8), ((2, 3, 4), "real")),
    case("transpose", mg.transpose, lambda th, x: x.permute(2, 1, 0), ((2, 3, 4), "real")),
    case("transpose-axes", lambda x: x.transpose(1, 2, 0), lambda th, x: x.permute(1, 2, 0), ((2, 3, 4), "real")),
    case("T", lambda x: x.T, lambda th, x: x.T, ((3, 4), "real")),
    case("swapaxes", lambda x: mg.swapaxes(x, 0, -1), lambda th, x: th.swapaxes(x, 0, -1), ((2, 3, 4), "real")),
    case("flatten", mg.flatten, lambda th, x: th.flatten(x), ((2, 3, 4), "real")),
    case("flatten-0d", mg.flatten, lambda th, x: th.flatten(x), ((), "real")),
    case("flatten-1-2", lambda x: x.flatten(1, 2), lambda th, x: th.flatten(x, 1, 2), ((2, 3, 4, 2), "real")),
    case("squeeze", mg.squeeze, lambda th, x: th.squeeze(x), ((1, 3, 1, 4), "real")),
    case("squeeze-axis", lambda x: x.squeeze(axis=2), lambda th, x: x.squeeze(2), ((1, 3, 1, 4), "real")),
    case("squeeze-axes", lambda x: mg.squeeze(x, (0, -2)), lambda th, x: x.squeeze((0, 2)), ((1, 3, 1, 4), "real")),
    case("expand_dims", lambda x: mg.expand_dims(x, 1), lambda th, x: x.unsqueeze(1), ((3, 4), "real")),
    case("expand_dims-neg", lambda x: x.expand_dims(-1), lambda th, x: x.unsqueeze(-1), ((3, 4), "real")),
    case("expand_dims-tuple", lambda x: mg.expand_dims(x, (0, 2)), lambda th, x: x.unsqueeze(0).unsqueeze(2),
         ((3, 4), "real")),
    case("broadcast_to", lambda x: mg.broadcast_to(x, (2, 3, 4)), lambda th, x: x.expand(2, 3, 4), ((3, 1), "real")),
    case("broadcast_to-0d", lambda x: x.broadcast_to((2, 3)), lambda th, x: x.expand(2, 3), ((), "real")),
    # np.pad widths go first axis first, (before, after); F.pad's go LAST axis first.
    case("pad", lambda x: mg.pad(x, ((1, 2), (0, 3))), lambda th, x: th.nn.functional.pad(x, (0, 3, 1, 2)),
         ((3, 4), "real")),
    case("pad-value", lambda x: x.pad(((0, 0), (1, 0), (2, 1)), constant_values=1.5),
         lambda th, x: th.nn.functional.pad(x, (2, 1, 1, 0, 0, 0), value=1.5), ((2, 3, 4), "real")),
    case("pad-int", lambda x: mg.pad(x, 1), lambda th, x: th.nn.functional.pad(x, (1, 1, 1, 1)), ((3, 4), "real")),
    case("pad-pair", lambda x: mg.pad(x, (2, 1)), lambda th, x: th.nn.functional.pad(x, (2, 1, 2, 1)),
         ((3, 4), "real")),
    case("concatenate", lambda a, b, c: mg.concatenate([a, b, c]), lambda th, a, b, c: th.cat([a, b, c]),
         ((2, 3), "real"), ((1, 3), "real"), ((4, 3), "real")),
    case("concatenate-last", lambda a, b: mg.concatenate([a, b], axis=-1), lambda th, a, b: th.cat([a, b], dim=-1),
         ((2, 3, 1), "real"), ((2, 3, 4), "real")),
] + [
    case(f"stack-{axis}", lambda a, b, c, k=axis: mg.stack([a, b, c], axis=k),
         lambda th, a, b, c, k=axis: th.stack([a, b, c], dim=k), ((3, 4), "real"), ((3, 4), "real"), ((3, 4), "real"))
    for axis in (0, 1, 2, -1)
]

IDX = np.array([0, 2, 0, 0])
ROWS, COLS = np.array([0, 1, 1, 3, 1]), np.array([2, 2, 0, 2, 2])
MASK = np.random.default_rng(2).random((4, 5)) > 0.4
ROW_MASK = np.array([True, False, True, True])
IDX2D = np.array([[0, 0], [3, 1]])
INDEX_CASES = [
    case("slice", lambda x: x[1:3], lambda th, x: x[1:3], ((4, 5), "real")),
    case("slice-step", lambda x: x[:, ::2], lambda th, x: x[:, ::2], ((4, 5), "real")),
    case("ellipsis-int", lambda x: x[..., -1], lambda th, x: x[..., -1], ((4, 5), "real")),
    case("int-int", lambda x: x[1, 2], lambda th, x: x[1, 2], ((4, 5), "real")),
    case("newaxis", lambda x: x[None, 1:], lambda th, x: x[None, 1:], ((4, 5), "real")),
    case("negative-step", lambda x: x[::-1, 1::-1], lambda th, x: x.flip(0)[:, :2].flip(1), ((4, 5), "real")),
    case("int-array-repeats", lambda x: x[IDX], lambda th, x: x[th.from_numpy(IDX)], ((4, 5), "real")),
    case("int-list-repeats", lambda x: x[[3, 3, 1]], lambda th, x: x[[3, 3, 1]], ((4, 5), "real")),
    case("int-arrays-pair", lambda x: x[ROWS, COLS], lambda th, x: x[th.from_numpy(ROWS), th.from_numpy(COLS)],
         ((4, 5), "real")),
    case("slice-and-array", lambda x: x[:, [1, 1, 3]], lambda th, x: x[:, [1, 1, 3]], ((4, 5), "real")),
    case("int-array-2d", lambda x: x[IDX2D], lambda th, x: x[th.from_numpy(IDX2D)], ((4, 5), "real")),
    case("bool-mask", lambda x: x[MASK], lambda th, x: x[th.from_numpy(MASK)], ((4, 5), "real")),
    case("bool-rows", lambda x: x[ROW_MASK], lambda th, x: x[th.from_numpy(ROW_MASK)], ((4, 5), "real")),
    case("bool-tensor-mask", lambda x: x[x > 0], lambda th, x: x[x > 0], ((4, 5), "real")),
]

MATMUL_SHAPES = [
    ((3,), (3,)),
    ((3,), (3, 4)),
    ((2, 3), (3,)),
    ((2, 3), (3, 4)),
    ((5, 2, 3), (5, 3, 4)),
    ((2, 1, 2, 3), (3, 3, 2)),
    ((4, 2, 3), (3, 2)),
    ((3,), (2, 3, 4)),
    ((2, 3, 4), (4,)),
]
MATMUL_CASES = [
    case(f"matmul-{sa}-{sb}", operator.matmul, same(operator.matmul), (sa, "real"), (sb, "real"))
    for sa, sb in MATMUL_SHAPES
] + [case("mg.matmul", mg.matmul, lambda th, a, b: th.matmul(a, b), ((3, 2, 3), "real"), ((3, 4), "real"))]

CASES = (
    BINARY_CASES + EXTREMUM_CASES + UNARY_CASES + WHERE_CASES + REDUCTION_CASES + SHAPE_CASES + INDEX_CASES
    + MATMUL_CASES
)


# -- helpers -----------------------------------------------------------------------------
def assert_close(actual, expected, dtype, what):
    rtol, atol = TOLERANCES[np.dtype(dtype)]
    expected = expected.detach().numpy() if hasattr(expected, "detach") else np.asarray(expected)
    assert np.shape(actual) == expected.shape, f"{what}: shape {np.shape(actual)} != torch's {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


def make_inputs(th, rng, case_, dtype):
    arrays = [sample(rng, shape, domain, dtype) for shape, domain in case_.inputs]
    xs = [mg.tensor(a, requires_grad=True) for a in arrays]
    ts = [th.tensor(a, requires_grad=True) for a in arrays]
    return xs, ts


def torch_grads(th, outputs, inputs, grad_outputs=None, create_graph=False):
    """torch.autograd.grad with None (unused input) as zeros."""
    grads = th.autograd.grad(outputs, inputs, grad_outputs, create_graph=create_graph, allow_unused=True)
    return [th.zeros_like(t) if g is None else g for t, g in zip(inputs, grads)]


def mg_grads(outputs, inputs, grad_outputs=None, create_graph=False):
    grads = mg.grad(outputs, inputs, grad_outputs, create_graph=create_graph, allow_unused=True)
    return [mg.zeros_like(x) if g is None else g for x, g in zip(inputs, grads)]


# -- forward and first-order gradients ---------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case_", CASES)
def test_forward_and_gradient_match_torch(torch, rng, case_, dtype):
    xs, ts = make_inputs(torch, rng, case_, dtype)
    y = case_.mg_fn(*xs)
    yt = case_.th_fn(torch, *ts)
    assert isinstance(y, mg.Tensor) and y.requires_grad
    assert y.dtype == dtype, f"output dtype {y.dtype} for {np.dtype(dtype)} inputs"
    assert_close(y.data, yt, dtype, "forward")

    g = np.asarray(rng.standard_normal(y.shape), dtype=dtype)
    y.backward(g)
    yt.backward(torch.from_numpy(g.copy()))
    for i, (x, t) in enumerate(zip(xs, ts)):
        assert x.grad is not None, f"input {i} got no gradient"
        assert x.grad.dtype == dtype, f"input {i}: gradient dtype {x.grad.dtype}"
        assert_close(x.grad, torch.zeros_like(t) if t.grad is None else t.grad, dtype, f"gradient of input {i}")


# -- second order --------------------------------------------------------------------------
@pytest.mark.parametrize("case_", CASES)
def test_hessian_vector_product_matches_torch(torch, rng, case_):
    """HVP of L = sum(g * f(x)**2): it runs every primitive's backward on Tensors
    (including the linear ones, whose gradient J^T (2 g f) still depends on x) and
    differentiates it again."""
    xs, ts = make_inputs(torch, rng, case_, np.float64)
    y, yt = case_.mg_fn(*xs), case_.th_fn(torch, *ts)
    g = rng.standard_normal(y.shape)
    vs = [rng.standard_normal(x.shape) for x in xs]

    first = mg_grads((y * y * g).sum(), xs, create_graph=True)
    first_t = torch_grads(torch, (yt * yt * torch.from_numpy(g)).sum(), ts, create_graph=True)
    for i, (a, b) in enumerate(zip(first, first_t)):
        assert_close(a.data, b, np.float64, f"create_graph gradient of input {i}")

    s = sum((a * v).sum() for a, v in zip(first, vs))
    s_t = sum((b * torch.from_numpy(v)).sum() for b, v in zip(first_t, vs))
    hv = mg_grads(s, xs) if s.requires_grad else [np.zeros(x.shape) for x in xs]
    hv_t = torch_grads(torch, s_t, ts) if s_t.requires_grad else [torch.zeros_like(t) for t in ts]
    for i, (a, b) in enumerate(zip(hv, hv_t)):
        assert_close(getattr(a, "data", a), b, np.float64, f"Hessian-vector product, input {i}")


def test_hessian_vector_product_of_a_small_network(torch, rng):
    x0, w0 = rng.standard_normal((3, 4)), rng.standard_normal((4, 5))
    vx, vw = rng.standard_normal((3, 4)), rng.standard_normal((4, 5))

    x, w = mg.tensor(x0, requires_grad=True), mg.tensor(w0, requires_grad=True)
    z = x @ w
    loss = (mg.tanh(z) ** 2).sum() + mg.logsumexp(z)
    gx, gw = mg.grad(loss, [x, w], create_graph=True)
    assert gx.requires_grad and gw.requires_grad
    hx, hw = mg.grad((gx * vx).sum() + (gw * vw).sum(), [x, w])

    xt, wt = torch.tensor(x0, requires_grad=True), torch.tensor(w0, requires_grad=True)
    zt = xt @ wt
    loss_t = (torch.tanh(zt) ** 2).sum() + torch.logsumexp(zt, dim=(0, 1))
    gxt, gwt = torch.autograd.grad(loss_t, [xt, wt], create_graph=True)
    hxt, hwt = torch.autograd.grad((gxt * torch.from_numpy(vx)).sum() + (gwt * torch.from_numpy(vw)).sum(), [xt, wt])

    assert_close(loss.data, loss_t, np.float64, "loss")
    assert_close(gx.data, gxt, np.float64, "gradient x")
    assert_close(gw.data, gwt, np.float64, "gradient W")
    assert_close(hx.data, hxt, np.float64, "HVP x")
    assert_close(hw.data, hwt, np.float64, "HVP W")


def test_third_derivative_of_tanh(torch):
    points = np.array([-2.0, -0.5, 0.0, 0.3, 1.7])
    x = mg.tensor(points, requires_grad=True)
    xt = torch.tensor(points, requires_grad=True)
    y, yt = mg.tanh(x), torch.tanh(xt)
    for order in (1, 2, 3):
        (y,) = mg.grad(y.sum(), x, create_graph=order < 3)
        (yt,) = torch.autograd.grad(yt.sum(), xt, create_graph=order < 3)
        assert_close(y.data, yt, np.float64, f"derivative {order}")
    # and against the closed form d3/dx3 tanh = (6 t^2 - 2)(1 - t^2), t = tanh(x)
    t = np.tanh(points)
    np.testing.assert_allclose(y.data, (6 * t**2 - 2) * (1 - t**2), rtol=1e-12, atol=1e-14)


# -- ties, explicitly ------------------------------------------------------------------------
def test_maximum_minimum_split_tied_gradients_like_torch(torch):
    a0, b0 = np.array([1.0, 2.0, 3.0, -1.0, 0.0]), np.array([1.0, 0.0, 3.0, 2.0, 0.0])
    g = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    for mg_fn, th_fn in [(mg.maximum, torch.maximum), (mg.minimum, torch.minimum)]:
        a, b = mg.tensor(a0, requires_grad=True), mg.tensor(b0, requires_grad=True)
        at, bt = torch.tensor(a0, requires_grad=True), torch.tensor(b0, requires_grad=True)
        mg_fn(a, b).backward(g)
        th_fn(at, bt).backward(torch.from_numpy(g))
        assert_close(a.grad, at.grad, np.float64, "first input")
        assert_close(b.grad, bt.grad, np.float64, "second input")
        assert a.grad[0] == b.grad[0] == g[0] / 2  # the split itself, not just agreement


def test_max_min_share_tied_gradients_like_amax_amin(torch):
    x0 = np.array([[3.0, 1.0, 3.0, 3.0], [0.0, -2.0, -2.0, 5.0]])
    g = np.array([6.0, 4.0])
    for mg_fn, th_fn in [(mg.max, torch.amax), (mg.min, torch.amin)]:
        x, xt = mg.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
        mg_fn(x, axis=1).backward(g)
        th_fn(xt, dim=1).backward(torch.from_numpy(g))
        assert_close(x.grad, xt.grad, np.float64, mg_fn.__name__)
        assert np.count_nonzero(x.grad[0] if mg_fn is mg.max else x.grad[1]) == (3 if mg_fn is mg.max else 2)


# -- numerical stability ---------------------------------------------------------------------
BIG = np.array([[-1e4, 0.0, 1e4], [1e4, 1e4 - 1.0, -3.0], [-1e4, -1e4, -1e4 + 2.0], [-1e4, -1e4, -1e4]])


STABLE = {
    "sigmoid": (mg.sigmoid, lambda th, x: th.sigmoid(x)),
    "softmax": (lambda x: mg.softmax(x, axis=-1), lambda th, x: th.softmax(x, dim=-1)),
    "softmax-axis0": (lambda x: mg.softmax(x, axis=0), lambda th, x: th.softmax(x, dim=0)),
    "log_softmax": (lambda x: mg.log_softmax(x, axis=-1), lambda th, x: th.log_softmax(x, dim=-1)),
    "log_softmax-axis0": (lambda x: mg.log_softmax(x, axis=0), lambda th, x: th.log_softmax(x, dim=0)),
    "logsumexp": (lambda x: mg.logsumexp(x, axis=-1), lambda th, x: th.logsumexp(x, dim=-1)),
    "logsumexp-all": (mg.logsumexp, lambda th, x: th.logsumexp(x, dim=(0, 1))),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(STABLE))
def test_large_inputs_stay_finite_and_match_torch(torch, rng, name, dtype):
    mg_fn, th_fn = STABLE[name]
    x0 = BIG.astype(dtype)
    x, xt = mg.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    yt = th_fn(torch, xt)
    g = np.asarray(rng.standard_normal(tuple(yt.shape)), dtype=dtype)
    yt.backward(torch.from_numpy(g.copy()))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow / invalid-value RuntimeWarning, forward or backward
        y = mg_fn(x)
        y.backward(g)
    assert np.isfinite(y.data).all() and np.isfinite(x.grad).all()
    assert y.dtype == dtype and x.grad.dtype == dtype
    rtol, atol = TOLERANCES[np.dtype(dtype)]
    # Outputs of size 1e4 carry an absolute rounding error of ~1e-3 in float32. (For
    # x < -708, or -87 in float32, sigmoid gives ~1e-308 / ~1e-38 where torch gives 0:
    # the exp argument is clamped to avoid overflow; atol absorbs it.)
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=rtol, atol=atol if dtype == np.float64 else 2e-3)
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=rtol, atol=atol)


# -- edge inputs -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("mg_fn", "th_fn", "data"),
    [
        # x**0 is constant: torch gives gradient 0 at x == 0, not 0 * 0**-1 = nan.
        pytest.param(lambda x: x**0, lambda th, x: x**0, [0.0, 1.0, -2.0], id="pow-0-at-zero"),
        pytest.param(lambda x: x**0.0, lambda th, x: x**0.0, [0.0, 1.0, -2.0], id="pow-0.0-at-zero"),
        pytest.param(lambda x: x**1, lambda th, x: x**1, [0.0, 1.0, -2.0], id="pow-1-at-zero"),
        # ddof leaving no degrees of freedom: nan value and gradient, not an exception.
        pytest.param(lambda x: x.var(ddof=1), lambda th, x: th.var(x, correction=1), [2.0], id="var-ddof-1-of-one"),
        # An empty batch reduced along a non-empty axis is an empty result, not an error.
        pytest.param(lambda x: x.max(axis=-1), lambda th, x: th.amax(x, dim=-1), np.zeros((0, 4)), id="max-empty"),
        pytest.param(lambda x: x.min(axis=1), lambda th, x: th.amin(x, dim=1), np.zeros((0, 4)), id="min-empty"),
        pytest.param(lambda x: x.logsumexp(axis=-1), lambda th, x: th.logsumexp(x, dim=-1), np.zeros((0, 4)),
                     id="logsumexp-empty"),
        pytest.param(lambda x: x.softmax(axis=-1), lambda th, x: th.softmax(x, dim=-1), np.zeros((0, 4)),
                     id="softmax-empty"),
        pytest.param(lambda x: x.sum(axis=0), lambda th, x: x.sum(dim=0), np.zeros((0, 4)), id="sum-empty-axis"),
        # Masked entries (-inf) in the softmax family, as in attention masks.
        pytest.param(lambda x: mg.softmax(x), lambda th, x: th.softmax(x, dim=-1),
                     [[0.5, -np.inf, 1.0], [2.0, -np.inf, 0.1]], id="softmax-masked"),
        pytest.param(lambda x: mg.log_softmax(x), lambda th, x: th.log_softmax(x, dim=-1),
                     [[0.5, -np.inf, 1.0], [2.0, -np.inf, 0.1]], id="log_softmax-masked"),
        pytest.param(lambda x: mg.logsumexp(x, axis=-1), lambda th, x: th.logsumexp(x, dim=-1),
                     [[0.5, -np.inf, 1.0], [2.0, -np.inf, 0.1]], id="logsumexp-masked"),
        pytest.param(lambda x: x[np.array([-1, -1, 0])], lambda th, x: x[[-1, -1, 0]], [2.0, 1.0, 3.0],
                     id="negative-indices"),
        pytest.param(lambda x: x[np.zeros(3, dtype=bool)], lambda th, x: x[th.zeros(3, dtype=th.bool)],
                     [2.0, 1.0, 3.0], id="empty-mask"),
    ],
)
def test_edge_inputs_match_torch(torch, rng, mg_fn, th_fn, data):
    data = np.asarray(data, dtype=np.float64)
    x, xt = mg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy and torch both warn about var's degrees of freedom
        y, yt = mg_fn(x), th_fn(torch, xt)
        g = rng.standard_normal(y.shape)
        y.backward(g)
        yt.backward(torch.from_numpy(g))
    assert_close(y.data, yt, np.float64, "forward")
    assert_close(x.grad, xt.grad, np.float64, "gradient")


def test_pow_exponent_gradient_at_negative_base_is_zero_by_convention(torch):
    """A documented difference (Pow.backward): d(b**e)/de = b**e log(b) is taken as 0
    where b <= 0. torch agrees at b == 0 (for e >= 0) but gives nan where b < 0. The
    value and the base's gradient agree."""
    b0, e0 = np.array([-2.0, -2.0, 0.0, 3.0]), np.array([2.0, 3.0, 2.0, 0.5])
    b, e = mg.tensor(b0, requires_grad=True), mg.tensor(e0, requires_grad=True)
    bt, et = torch.tensor(b0, requires_grad=True), torch.tensor(e0, requires_grad=True)
    (b**e).sum().backward()
    (bt**et).sum().backward()
    assert_close(b.grad, bt.grad, np.float64, "base gradient")
    np.testing.assert_array_equal(e.grad[:3], 0.0)
    assert torch.isnan(et.grad[:2]).all() and et.grad[2] == 0
    assert_close(e.grad[3:], et.grad[3:], np.float64, "exponent gradient at a positive base")
