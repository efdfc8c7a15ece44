"""PyTorch's keyword names (``input=``, ``other=``, ``dim=``, ``diagonal=``, ``dim0=``,
``shape=``/``size=``, ``dims=``, ``gradient=``...) give PyTorch's results, checked against torch:
values and gradients. ``mg.split`` with ``dim=`` is PyTorch's split, with ``axis=`` NumPy's."""

import numpy as np
import pytest

import microgradnp as mg
import microgradnp.nn.functional as F

torch = pytest.importorskip("torch")


def _leaves(*arrays):
    return ([mg.tensor(a, requires_grad=True) for a in arrays],
            [torch.tensor(a, requires_grad=True) for a in arrays])


def _flat(out):
    """The tensors of a result (one tensor, or a tuple/list of them such as split's pieces)."""
    return list(out) if isinstance(out, tuple | list) else [out]


def _check(mg_call, torch_call, *arrays):
    """The same values (and, for floating results, the same gradients of their weighted sum)."""
    ours, theirs = _leaves(*arrays)
    got, expected = _flat(mg_call(*ours)), _flat(torch_call(*theirs))
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == tuple(e.shape)
        np.testing.assert_allclose(g.data, e.detach().numpy(), rtol=1e-10, atol=1e-12)
    weights = [np.random.default_rng(i).normal(size=g.shape) for i, g in enumerate(got)]
    if not any(e.requires_grad for e in expected):
        return
    sum(mg.sum(g * w) for g, w in zip(got, weights)).backward()
    sum((e * torch.tensor(w)).sum() for e, w in zip(expected, weights) if e.requires_grad).backward()
    for o, t in zip(ours, theirs):
        expected_grad = np.zeros_like(o.data) if t.grad is None else t.grad.numpy(force=True)  # (sgn: a ZeroTensor)
        np.testing.assert_allclose(np.zeros_like(o.data) if o.grad is None else o.grad, expected_grad,
                                   rtol=1e-10, atol=1e-12)


@pytest.fixture
def x():
    return np.random.default_rng(0).normal(size=(3, 5))


# -- 1. mg.split: PyTorch's meaning with dim= / split_size_or_sections= -----------------------------------------

@pytest.mark.parametrize("size, dim", [(1, 1), (2, 1), (2, 0), (5, 1), (7, 1), ([1, 4], 1), ([2, 0, 1], 0),
                                       ((3, 2), -1)])
def test_split_with_dim_is_torch_split(x, size, dim):
    _check(lambda t: mg.split(t, size, dim=dim), lambda t: torch.split(t, size, dim=dim), x)
    _check(lambda t: mg.split(t, split_size_or_sections=size, dim=dim),
           lambda t: torch.split(t, split_size_or_sections=size, dim=dim), x)


def test_split_with_split_size_or_sections_alone_is_torch_split(x):
    _check(lambda t: mg.split(t, split_size_or_sections=2), lambda t: torch.split(t, split_size_or_sections=2), x)
    _check(lambda t: mg.split(input=t, split_size_or_sections=2, dim=1),
           lambda t: torch.split(t, split_size_or_sections=2, dim=1), x)


def test_split_with_axis_or_positionally_stays_numpy_split(x):
    # NumPy's meaning, as documented: a number of equal sections, or the split indices.
    for pieces in (mg.split(mg.tensor(x), 5, axis=1), mg.split(mg.tensor(x), 5, 1)):
        assert [p.shape for p in pieces] == [(3, 1)] * 5
    for got, expected in zip(mg.split(mg.tensor(x), [1, 4], axis=1), np.split(x, [1, 4], axis=1)):
        np.testing.assert_array_equal(got.data, expected)
    assert [p.shape for p in mg.split(mg.tensor(x), 3)] == [(1, 5)] * 3


def test_tensor_split_takes_torch_split_size_keyword(x):
    _check(lambda t: t.split(split_size=2), lambda t: t.split(split_size=2), x)
    _check(lambda t: t.split(split_size=2, dim=1), lambda t: t.split(split_size=2, dim=1), x)


# -- 2. backward(gradient=) ------------------------------------------------------------------------------------

def test_backward_takes_torch_gradient_keyword(x):
    seed = np.random.default_rng(1).normal(size=x.shape)
    (a,), (b,) = _leaves(x)
    (a * a).backward(gradient=seed)
    (b * b).backward(gradient=torch.tensor(seed))
    np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=1e-12)


def test_backward_refuses_grad_and_gradient_together(x):
    a = mg.tensor(x, requires_grad=True)
    with pytest.raises(TypeError, match="gradient"):
        (a * a).backward(np.ones(x.shape), gradient=np.ones(x.shape))


# -- 3. PyTorch's keyword names --------------------------------------------------------------------------------

_KEYWORD_CASES = {
    "triu(diagonal=)": (lambda t: t.triu(diagonal=1), lambda t: t.triu(diagonal=1)),
    "tril(diagonal=)": (lambda t: mg.tril(t, diagonal=-1), lambda t: torch.tril(t, diagonal=-1)),
    "diag(diagonal=)": (lambda t: mg.diag(t[0], diagonal=1), lambda t: torch.diag(t[0], diagonal=1)),
    "diag(input=, diagonal=) of a matrix": (lambda t: mg.diag(input=t, diagonal=1),
                                            lambda t: torch.diag(input=t, diagonal=1)),
    "transpose(dim0=, dim1=)": (lambda t: t.transpose(dim0=0, dim1=1), lambda t: t.transpose(dim0=0, dim1=1)),
    "mg.transpose(input=, dim0=, dim1=)": (lambda t: mg.transpose(input=t, dim0=1, dim1=0),
                                            lambda t: torch.transpose(input=t, dim0=1, dim1=0)),
    "permute(dims=)": (lambda t: t.permute(dims=(1, 0)), lambda t: t.permute(dims=(1, 0))),
    "reshape(shape=)": (lambda t: t.reshape(shape=(5, 3)), lambda t: t.reshape(shape=(5, 3))),
    "mg.reshape(input=, shape=)": (lambda t: mg.reshape(input=t, shape=(15,)),
                                   lambda t: torch.reshape(input=t, shape=(15,))),
    "view(size=)": (lambda t: t.view(size=(5, 3)), lambda t: t.view(size=(5, 3))),
    "expand(size=)": (lambda t: t[:, :1].expand(size=(3, 4)), lambda t: t[:, :1].expand(size=(3, 4))),
    "broadcast_to(size=)": (lambda t: mg.broadcast_to(t, size=(2, 3, 5)),
                            lambda t: torch.broadcast_to(t, size=(2, 3, 5))),
    "tile(dims=)": (lambda t: mg.tile(t, dims=(2, 1)), lambda t: torch.tile(t, dims=(2, 1))),
    "swapdims(dim0=, dim1=)": (lambda t: t.swapdims(dim0=0, dim1=1), lambda t: t.swapdims(dim0=0, dim1=1)),
    "diagonal(offset=, dim1=, dim2=)": (lambda t: mg.diagonal(t, offset=1, dim1=1, dim2=0),
                                        lambda t: torch.diagonal(t, offset=1, dim1=1, dim2=0)),
    "sum(input=)": (lambda t: mg.sum(input=t), lambda t: torch.sum(input=t)),
    "mean(input=, dim=)": (lambda t: mg.mean(input=t, dim=1), lambda t: torch.mean(input=t, dim=1)),
    "var(input=, dim=)": (lambda t: mg.var(input=t, dim=1), lambda t: torch.var(input=t, dim=1)),
    "max(input=, dim=)": (lambda t: mg.max(input=t, dim=1), lambda t: tuple(torch.max(input=t, dim=1))),
    "sort(input=, dim=)": (lambda t: mg.sort(input=t, dim=0)[0], lambda t: torch.sort(input=t, dim=0)[0]),
    "softmax(input=, dim=)": (lambda t: mg.softmax(input=t, dim=0), lambda t: torch.softmax(input=t, dim=0)),
    "nanmean(dim=[0, 1])": (lambda t: mg.nanmean(t, dim=[0, 1]), lambda t: torch.nanmean(t, dim=[0, 1])),
    "nanmean(dim=[1], keepdim=)": (lambda t: t.nanmean(dim=[1], keepdim=True),
                                   lambda t: t.nanmean(dim=[1], keepdim=True)),
    "nansum(dim=[0, 1])": (lambda t: mg.nansum(t, dim=[0, 1]), lambda t: torch.nansum(t, dim=[0, 1])),
    "matmul(input=, other=)": (lambda t: mg.matmul(input=t, other=t.T), lambda t: torch.matmul(input=t, other=t.T)),
    "F.linear(input=, weight=)": (lambda t: F.linear(input=t, weight=t[:2]), lambda t: torch.nn.functional.linear(
        input=t, weight=t[:2])),
    "mul(x, other=2)": (lambda t: mg.mul(t, other=2), lambda t: torch.mul(t, other=2)),
    "t.mul(other=)": (lambda t: t.mul(other=t), lambda t: t.mul(other=t)),
    "t.pow(exponent=)": (lambda t: t.pow(exponent=2), lambda t: t.pow(exponent=2)),
    "pow(input=, exponent=)": (lambda t: mg.pow(input=t, exponent=3), lambda t: torch.pow(input=t, exponent=3)),
    "maximum(x, other=)": (lambda t: mg.maximum(t, other=t.flip(0)), lambda t: torch.maximum(t, other=t.flip(0))),
    "flip(0, 1)": (lambda t: t.flip(0, 1), lambda t: t.flip(0, 1)),
    "flip(dims=)": (lambda t: t.flip(dims=(1,)), lambda t: t.flip(dims=(1,))),
    "clip(min=)": (lambda t: t.clip(min=0), lambda t: t.clip(min=0)),
    "clip(max=)": (lambda t: t.clip(max=0.5), lambda t: t.clip(max=0.5)),
    "mg.clip(input=, min=, max=)": (lambda t: mg.clip(input=t, min=-0.5, max=0.5),
                                    lambda t: torch.clip(input=t, min=-0.5, max=0.5)),
}


@pytest.mark.parametrize("name", list(_KEYWORD_CASES))
def test_torch_keyword_names(x, name):
    ours, theirs = _KEYWORD_CASES[name]
    _check(ours, theirs, x)


# Unary functions: torch.<name>(input=t). The input is in every function's domain.
_UNARY = (  # noqa: SIM905  (a word list)
    "abs acos arccos asin arcsin asinh atan arctan atanh ceil cos cosh deg2rad erf erfc erfinv exp exp2 expm1 "
    "floor frac log log10 log1p log2 logit neg negative rad2deg reciprocal relu round rsqrt sigmoid sign sgn sin "
    "sinc sinh sqrt square tan tanh trunc").split()


@pytest.mark.parametrize("name", _UNARY)
def test_unary_functions_take_input(name):
    values = np.linspace(0.1, 0.9, 6).reshape(2, 3)
    _check(lambda t: getattr(mg, name)(input=t), lambda t: getattr(torch, name)(input=t), values)


# Binary functions: torch.<name>(input=a, other=b), and the method a.<name>(other=b).
_BINARY = (  # noqa: SIM905  (a word list)
    "add sub subtract mul multiply div divide true_divide maximum minimum atan2 arctan2 fmod remainder hypot "
    "copysign fmax fmin xlogy logaddexp logaddexp2").split()


@pytest.mark.parametrize("name", _BINARY)
def test_binary_functions_take_input_and_other(name):
    a, b = np.linspace(0.1, 0.9, 6).reshape(2, 3), np.linspace(1.3, 0.2, 6).reshape(2, 3)
    _check(lambda s, t: getattr(mg, name)(input=s, other=t), lambda s, t: getattr(torch, name)(input=s, other=t), a, b)
    _check(lambda s, t: getattr(mg, name)(s, other=t), lambda s, t: getattr(torch, name)(s, other=t), a, b)
    _check(lambda s, t: getattr(s, name)(other=t), lambda s, t: getattr(s, name)(other=t), a, b)


@pytest.mark.parametrize("call", [
    lambda t: mg.exp(t, input=t),
    lambda t: mg.maximum(t, t, other=t),
    lambda t: mg.tril(t, 1, diagonal=1),
    lambda t: mg.reshape(t, 15, shape=(15,)),
    lambda t: t.clip(0, min=0),
])
def test_an_argument_given_twice_is_a_type_error(x, call):
    with pytest.raises(TypeError):
        call(mg.tensor(x))


_MODULES_CALLED_WITH_INPUT = {  # PyTorch's forward(input): module(input=x) works as module(x)
    "Linear": (lambda: mg.nn.Linear(3, 2, rng=0), (4, 3)),
    "LazyLinear": (lambda: mg.nn.LazyLinear(2), (4, 3)),
    "LazyBatchNorm1d": (lambda: mg.nn.LazyBatchNorm1d(), (4, 3)),
    "Conv1d": (lambda: mg.nn.Conv1d(3, 2, 3, rng=0), (2, 3, 7)),
    "MaxPool1d": (lambda: mg.nn.MaxPool1d(2), (2, 3, 8)),
    "ReLU": (lambda: mg.nn.ReLU(), (4, 3)),
    "Flatten": (lambda: mg.nn.Flatten(), (2, 3, 4)),
    "Sequential": (lambda: mg.nn.Sequential(mg.nn.Linear(3, 2, rng=0), mg.nn.Tanh()), (4, 3)),
}


@pytest.mark.parametrize("name", list(_MODULES_CALLED_WITH_INPUT))
def test_a_module_takes_its_input_as_the_input_keyword(name):
    make, shape = _MODULES_CALLED_WITH_INPUT[name]
    x = mg.tensor(np.random.default_rng(0).standard_normal(shape))
    module = make()
    np.testing.assert_array_equal(module(input=x).data, module(x).data)


def test_the_input_keyword_leaves_a_forward_that_names_it_and_refuses_unknown_ones():
    class Scale(mg.nn.Module):
        def forward(self, input, factor=2.0):  # noqa: A002
            return input * factor

    class Named(mg.nn.Module):
        def forward(self, x, *, input=None):  # noqa: A002  (input is its own keyword here)
            return x if input is None else x + input

    one = mg.tensor([1.0])
    assert Scale()(input=one, factor=3.0).item() == 3.0
    with pytest.raises(TypeError, match="missing 1 required positional argument"):
        Named()(input=one)
    with pytest.raises(TypeError, match="unexpected keyword argument 'inpt'"):
        mg.nn.Linear(1, 1)(inpt=one)
    emb = mg.nn.Embedding(5, 2, rng=0)
    np.testing.assert_array_equal(emb(input=mg.tensor([1, 3]).long()).data, emb.weight.data[[1, 3]])


_METHOD_KEYWORDS = {  # PyTorch's keyword names of Tensor methods whose NumPy-side names differ
    "mm(mat2=)": lambda t: t.mm(mat2=t.T),
    "bmm(mat2=)": lambda t: t[None].bmm(mat2=t.T[None]),
    "outer(vec2=)": lambda t: t[0].outer(vec2=t[1]),
    "subtract(other=, alpha=)": lambda t: t.subtract(other=t * 3, alpha=2),
    "new_zeros(size=)": lambda t: t.new_zeros(size=(2, 5)),
    "new_ones(size=)": lambda t: t.new_ones(size=[3]),
}


@pytest.mark.parametrize("call", list(_METHOD_KEYWORDS))
def test_tensor_methods_take_pytorchs_keyword_names(call):
    torch = pytest.importorskip("torch")
    data = np.arange(6.0).reshape(2, 3) + 1
    got, expected = _METHOD_KEYWORDS[call](mg.tensor(data)), _METHOD_KEYWORDS[call](torch.tensor(data))
    np.testing.assert_array_equal(got.data, expected.numpy())
    assert got.dtype == expected.numpy().dtype


_FUNCTION_KEYWORDS = {  # torch.<name>(input, other=...) where the second operand came by position only
    "eq(other=)": lambda L, t: L.eq(t, other=t * 0 + 2),
    "gt(other=) method": lambda L, t: t.gt(other=t * 0 + 2),
    "isclose(other=, rtol=)": lambda L, t: L.isclose(t, other=t + 1e-9, rtol=1e-5),
    "logical_and(other=)": lambda L, t: L.logical_and(t > 2, other=t < 5),
    "logical_or(other=)": lambda L, t: L.logical_or(t > 5, other=t < 2),
    "dot(tensor=)": lambda L, t: L.dot(t[0], tensor=t[1]),
    "t.dot(tensor=)": lambda L, t: t[0].dot(tensor=t[1]),
}


@pytest.mark.parametrize("call", list(_FUNCTION_KEYWORDS))
def test_comparisons_and_dot_take_pytorchs_keyword_names(call):
    torch = pytest.importorskip("torch")
    data = np.arange(6.0).reshape(2, 3) + 1
    got = _FUNCTION_KEYWORDS[call](mg, mg.tensor(data))
    expected = _FUNCTION_KEYWORDS[call](torch, torch.tensor(data))
    np.testing.assert_array_equal(got.data, expected.numpy())
    with pytest.raises(TypeError, match="unexpected keyword argument 'othr'"):
        mg.tensor(data).eq(othr=1)
