"""ParameterList and ParameterDict keep values that are no Tensors (a number, a string)
in their places, as PyTorch's do; only Tensors and arrays become registered Parameters."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import nn


def test_a_list_keeps_other_values_in_their_places():
    values = nn.ParameterList([1, mg.ones(2), "x"])
    assert len(values) == 3 and values[0] == 1 and values[-1] == "x"
    assert isinstance(values[1], nn.Parameter) and list(values.state_dict()) == ["1"]
    assert [type(v).__name__ for v in values] == ["int", "Parameter", "str"]
    values[0] = np.zeros(3)  # a value replaced by a parameter is registered, and the other way round
    values[1] = 2.5
    assert [name for name, _ in values.named_parameters()] == ["0"] and values[1] == 2.5
    assert [type(v).__name__ for v in values[1:]] == ["float", "str"]
    assert "(2): Object of type: str" in repr(values)


def test_a_dict_keeps_other_values_in_insertion_order():
    values = nn.ParameterDict([("a", 1), ("b", mg.ones(2)), ("c", "x")])
    assert list(values) == ["a", "b", "c"] and list(values.keys()) == ["a", "b", "c"]
    assert values["a"] == 1 and list(values.state_dict()) == ["b"] and "c" in values
    assert [type(v).__name__ for v in values.values()] == ["int", "Parameter", "str"]
    assert values.pop("a") == 1 and list(values) == ["b", "c"]
    assert values.popitem() == ("c", "x") and values.get("c", 7) == 7
    with pytest.raises(KeyError):
        values["c"]
    with pytest.raises(TypeError, match="keys are strings"):
        values[1] = 2.0


def test_copies_and_pickles_keep_the_other_values():
    torch = pytest.importorskip("torch")
    ours = nn.ParameterDict({"scale": 0.5, "w": mg.ones(2)})
    theirs = torch.nn.ParameterDict({"scale": 0.5, "w": torch.ones(2)})
    for copied in (copy.deepcopy(ours), pickle.loads(pickle.dumps(ours)), ours.copy()):
        assert dict(copied.items()).keys() == dict(theirs.items()).keys() and copied["scale"] == theirs["scale"]
        assert len(list(copied.parameters())) == len(list(theirs.parameters())) == 1
