"""A bad argument to an operation raises an error that code written for NumPy (ValueError,
TypeError) and code written for PyTorch (RuntimeError) both catch, with microgradnp's own
message; checked against PyTorch's class where it is installed."""

from __future__ import annotations

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import nn
from microgradnp.errors import DtypeError, InvalidArgumentError

RNG = np.random.default_rng(0)


def _pair(module, shape, dtype=None):
    values = RNG.normal(size=shape)
    if module is mg:
        return mg.tensor(values if dtype is None else values.astype(dtype))
    import torch

    return torch.tensor(values if dtype is None else values.astype(dtype))


# Each case: (name, a call taking the module (mg or torch) and its functional namespace).
SHAPE_MISTAKES = {
    "matmul": lambda m, F: _pair(m, (2, 4)) @ _pair(m, (1, 3)),
    "reshape": lambda m, F: _pair(m, (2, 3)).reshape(4),
    "permute": lambda m, F: _pair(m, (2, 3)).permute(0, 0),
    "flip": lambda m, F: _pair(m, (2, 3)).flip((0, 0)),
    "diagonal": lambda m, F: _pair(m, (3, 3)).diagonal(dim1=0, dim2=0),
    "clip": lambda m, F: _pair(m, (3, 3)).clip(None, None),
    "einsum": lambda m, F: m.einsum("ij,jk->ik", _pair(m, (2, 3)), _pair(m, (4, 5))),
    "conv2d": lambda m, F: F.conv2d(_pair(m, (1, 1, 6, 7)), _pair(m, (6, 1, 3, 3)), dilation=3),
    "cat": lambda m, F: m.cat([_pair(m, (2, 3)), _pair(m, (2, 4))]),
    "linear": lambda m, F: F.linear(_pair(m, (2, 3)), _pair(m, (4, 5))),
}


@pytest.mark.parametrize("name", sorted(SHAPE_MISTAKES))
def test_shape_mistakes_are_value_and_runtime_errors(name):
    with pytest.raises(InvalidArgumentError) as caught:
        SHAPE_MISTAKES[name](mg, nn.functional)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, RuntimeError)
    assert str(caught.value)  # a message, not a bare class


@pytest.mark.parametrize("name", sorted(SHAPE_MISTAKES))
def test_pytorch_raises_runtime_error_for_the_same_calls(name):
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError):
        SHAPE_MISTAKES[name](torch, torch.nn.functional)


DTYPE_MISTAKES = {
    "lshift on floats": lambda m: _pair(m, (3,)) << 2,
    "masked_select with a float mask": lambda m: _pair(m, (3,)).masked_select(_pair(m, (3,))),
    "in-place float result into ints": lambda m: m.from_numpy(np.array([1, 2], dtype=np.int32)).add_(1.5),
    "scatter_reduce of another dtype": lambda m: _pair(m, (3, 3)).half().scatter_reduce(
        0, m.from_numpy(np.zeros((3, 3), dtype=np.int64)), _pair(m, (3, 3)), "sum"),
    "scatter of another dtype": lambda m: _pair(m, (3, 3)).half().scatter(
        1, m.from_numpy(np.zeros((3, 3), dtype=np.int64)), _pair(m, (3, 3))),
    "linspace of bools": lambda m: m.linspace(5, 10, 3, dtype=m.bool),
}


@pytest.mark.parametrize("name", sorted(DTYPE_MISTAKES))
def test_dtype_mistakes_are_type_and_runtime_errors(name):
    with pytest.raises(DtypeError) as caught:
        DTYPE_MISTAKES[name](mg)
    assert isinstance(caught.value, TypeError) and isinstance(caught.value, RuntimeError)
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError):
        DTYPE_MISTAKES[name](torch)


def test_the_classes():
    assert issubclass(InvalidArgumentError, ValueError) and issubclass(InvalidArgumentError, RuntimeError)
    assert issubclass(DtypeError, TypeError) and issubclass(DtypeError, RuntimeError)
    assert mg.errors.InvalidArgumentError is InvalidArgumentError


@pytest.mark.parametrize("values", [[1.0, 2.0], []])
def test_truth_value_of_several_or_no_elements_is_refused_as_by_both(values):
    with pytest.raises(InvalidArgumentError, match="ambiguous"):
        bool(mg.tensor(values))
    with pytest.raises(ValueError):  # NumPy's class
        bool(np.array(values)) if values else bool(mg.tensor(values))
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError):
        bool(torch.tensor(values))
    assert bool(mg.tensor([2.0])) and not bool(mg.tensor(0.0))


OUT_OF_RANGE = {
    "gather": lambda m: m.zeros(2, 3).gather(1, m.from_numpy(np.array([[5]]))),
    "narrow": lambda m: m.zeros(4).narrow(0, 2, 5),
    "kthvalue": lambda m: m.zeros(3).kthvalue(5),
}


@pytest.mark.parametrize("name", sorted(OUT_OF_RANGE))
def test_indices_out_of_range_are_index_and_runtime_errors(name):
    with pytest.raises(mg.errors.IndexOutOfRangeError) as caught:
        OUT_OF_RANGE[name](mg)
    assert isinstance(caught.value, IndexError) and isinstance(caught.value, RuntimeError)
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError):
        OUT_OF_RANGE[name](torch)


CONSTRUCTOR_MISTAKES = {
    "zeros(-1)": lambda m: m.zeros(-1),
    "randn(2, -2)": lambda m: m.randn(2, -2),
    "eye(-1)": lambda m: m.eye(-1),
    "arange step 0": lambda m: m.arange(0, 5, 0),
    "linspace -1 steps": lambda m: m.linspace(0, 1, -1),
    "flatten(1, 0)": lambda m: m.zeros(2, 3).flatten(1, 0),
}


@pytest.mark.parametrize("name", sorted(CONSTRUCTOR_MISTAKES))
def test_impossible_sizes_raise_as_both(name):
    with pytest.raises(InvalidArgumentError):
        CONSTRUCTOR_MISTAKES[name](mg)
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError):
        CONSTRUCTOR_MISTAKES[name](torch)
