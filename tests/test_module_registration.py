"""nn.Module attribute registration as torch.nn.Module does it: a registered name keeps its
kind, names are checked, shared parameters are listed once but saved under every name,
``del`` unregisters. PyTorch, when importable, is the oracle for the error kinds."""

from __future__ import annotations

from collections import OrderedDict
from types import SimpleNamespace

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 3, rng=0)
        self.act = nn.Tanh()
        self.scale = nn.Parameter(np.array([1.5]))

    def forward(self, x):
        return self.act(self.fc(x)) * self.scale


def names(module):
    return [name for name, _ in module.named_parameters()]


# -- a parameter slot takes a Parameter or None ---------------------------------------------
@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        (mg.tensor(np.zeros((3, 2)), requires_grad=True), r"microgradnp\.Tensor"),
        (np.zeros((3, 2)), r"numpy\.ndarray"),
        (2.0, "float"),
        (3, "int"),
        (nn.ReLU(), r"microgradnp\.nn\.layers\.ReLU"),
    ],
    ids=["tensor", "ndarray", "float", "int", "module"],
)
def test_assigning_anything_but_a_parameter_to_a_parameter_raises_and_changes_nothing(value, type_name):
    layer = nn.Linear(2, 3, rng=0)
    weight, before = layer.weight, layer.state_dict()
    with pytest.raises(TypeError, match=rf"cannot assign '{type_name}' as parameter 'weight' "
                                        r"\(nn.Parameter or None expected\)"):
        layer.weight = value
    assert layer.weight is weight
    assert names(layer) == ["weight", "bias"]
    assert list(layer.state_dict()) == list(before)


def test_the_optimizer_keeps_updating_the_weight_the_model_uses():
    layer = nn.Linear(2, 1, rng=0)
    optimizer = mg.optim.SGD(layer.parameters(), lr=0.1)
    with pytest.raises(TypeError):
        layer.weight = mg.tensor(np.ones((1, 2)), requires_grad=True)
    layer(mg.tensor(np.ones((4, 2)))).sum().backward()
    before = layer.weight.data.copy()
    optimizer.step()
    assert not np.array_equal(layer.weight.data, before)  # the updated weight is still the model's
    assert optimizer.param_groups[0]["params"][0] is layer.weight


def test_a_parameter_replaces_a_parameter_in_place_of_the_old_one():
    layer = nn.Linear(2, 3, rng=0)
    new = nn.Parameter(np.ones((3, 2)))
    layer.weight = new
    assert layer.weight is new and names(layer) == ["weight", "bias"]
    np.testing.assert_array_equal(layer.state_dict()["weight"], np.ones((3, 2)))


def test_none_keeps_the_parameter_slot_registered_but_empty():
    layer = nn.Linear(2, 3, rng=0)
    layer.bias = None
    assert layer.bias is None
    assert "bias" in layer._parameters and layer._parameters["bias"] is None
    assert names(layer) == ["weight"] and list(layer.state_dict()) == ["weight"]
    assert len(list(layer.parameters())) == 1
    with pytest.raises(TypeError, match="as parameter 'bias'"):
        layer.bias = np.zeros(3)  # still a parameter slot
    layer.bias = nn.Parameter(np.zeros(3))
    assert names(layer) == ["weight", "bias"]  # back in its place
    assert nn.Linear(2, 3, bias=False, rng=0).bias is None


def test_none_on_a_new_name_is_a_plain_attribute():
    module = nn.Module()
    module.extra = None
    assert module.extra is None and "extra" not in module._parameters and "extra" not in module._modules
    module.extra = 3  # nothing registered: anything goes


# -- a module slot takes a Module (or a Parameter) or None ----------------------------------------
def _function(x):
    return x


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        (lambda x: x.relu(), "function"),
        (_function, "function"),
        (np.tanh, r"numpy\.ufunc"),
        (3, "int"),
        (mg.tensor([1.0]), r"microgradnp\.Tensor"),
    ],
    ids=["lambda", "function", "ufunc", "int", "tensor"],
)
def test_assigning_anything_but_a_module_to_a_module_raises_and_changes_nothing(value, type_name):
    net = Net()
    act = net.act
    with pytest.raises(TypeError, match=rf"cannot assign '{type_name}' as child module 'act' "
                                        r"\(nn.Module or None expected\)"):
        net.act = value
    assert net.act is act and list(net.children()) == [net.fc, act]


def test_a_module_slot_takes_a_module_none_or_a_parameter():
    net = Net()
    net.act = nn.ReLU()
    assert isinstance(net.act, nn.ReLU) and net._modules["act"] is net.act
    net.act = None
    assert net.act is None and "act" in net._modules and list(net.children()) == [net.fc]
    with pytest.raises(TypeError, match="as child module 'act'"):
        net.act = lambda x: x
    net.act = nn.Sigmoid()
    assert [name for name, _ in net.named_children()] == ["fc", "act"]
    net.fc = nn.Parameter(np.ones(2))  # as PyTorch: a Parameter replaces the module
    assert "fc" not in net._modules and names(net) == ["scale", "fc"]


def test_a_plain_attribute_can_become_a_parameter_or_a_module():
    module = nn.Module()
    module.a, module.b = 1, "text"
    module.a = nn.Parameter(np.ones(1))
    module.b = nn.Identity()
    assert names(module) == ["a"] and list(module._modules) == ["b"]


# -- before Module.__init__() ----------------------------------------------------------------
def test_assigning_a_parameter_before_init_raises_an_attribute_error():
    class Broken(nn.Module):
        def __init__(self):
            self.weight = nn.Parameter(np.ones(1))
            super().__init__()

    with pytest.raises(AttributeError, match=r"cannot assign parameters before Module\.__init__\(\) call.*"
                                             r"super\(\)\.__init__\(\) first in Broken\.__init__"):
        Broken()


def test_assigning_a_module_before_init_raises_an_attribute_error():
    class Broken(nn.Module):
        def __init__(self):
            self.layer = nn.Identity()
            super().__init__()

    with pytest.raises(AttributeError, match=r"cannot assign module before Module\.__init__\(\) call"):
        Broken()


def test_plain_attributes_before_init_are_fine():
    class Early(nn.Module):
        def __init__(self):
            self.size = 3
            super().__init__()
            self.layer = nn.Linear(self.size, 1, rng=0)

    assert names(Early()) == ["layer.weight", "layer.bias"]


@pytest.mark.parametrize("method", ["register_parameter", "add_module"])
def test_register_methods_before_init_raise_an_attribute_error(method):
    bare = nn.Module.__new__(nn.Module)
    value = nn.Parameter(np.ones(1)) if method == "register_parameter" else nn.Identity()
    with pytest.raises(AttributeError, match=r"before Module\.__init__\(\) call"):
        getattr(bare, method)("x", value)


# -- names -----------------------------------------------------------------------------------
def _module_with_attributes():
    module = nn.Module()
    module.plain = 1
    module.param = nn.Parameter(np.ones(1))
    module.child = nn.Identity()
    return module


@pytest.mark.parametrize("method", ["register_parameter", "add_module"])
@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        (1, TypeError, r"name should be a string, got int"),
        (None, TypeError, r"name should be a string, got NoneType"),
        ("", KeyError, r"name can\\'t be empty string \"\""),
        ("a.b", KeyError, r"can\\'t contain \"\.\""),
        (".", KeyError, r"can\\'t contain \"\.\""),
        ("plain", KeyError, r"attribute 'plain' already exists"),
        ("forward", KeyError, r"attribute 'forward' already exists"),
        ("training", KeyError, r"attribute 'training' already exists"),
        ("_parameters", KeyError, r"attribute '_parameters' already exists"),
    ],
    ids=["int", "None", "empty", "dot", "only-dot", "plain-attribute", "method", "training", "registry"],
)
def test_register_methods_reject_bad_names_and_change_nothing(method, name, error, message):
    module = _module_with_attributes()
    value = nn.Parameter(np.ones(1)) if method == "register_parameter" else nn.Identity()
    before = (dict(module.__dict__), dict(module._parameters), dict(module._modules))
    with pytest.raises(error, match=message):
        getattr(module, method)(name, value)
    assert (dict(module.__dict__), dict(module._parameters), dict(module._modules)) == before


def test_a_name_of_the_other_kind_is_taken():
    module = _module_with_attributes()
    with pytest.raises(KeyError, match="attribute 'child' already exists"):
        module.register_parameter("child", nn.Parameter(np.ones(1)))
    with pytest.raises(KeyError, match="attribute 'param' already exists"):
        module.add_module("param", nn.Identity())
    assert names(module) == ["param"] and list(module._modules) == ["child"]


def test_register_methods_reject_values_of_the_wrong_type():
    module = nn.Module()
    with pytest.raises(TypeError, match=r"cannot assign 'microgradnp\.Tensor' object to parameter 'w' "
                                        r"\(nn.Parameter or None required\)"):
        module.register_parameter("w", mg.tensor([1.0]))
    with pytest.raises(TypeError, match=r"function is not a Module subclass"):
        module.add_module("f", lambda x: x)
    assert not module._parameters and not module._modules and not hasattr(module, "w")


def test_register_methods_register_replace_and_take_none():
    module = nn.Module()
    first, second = nn.Parameter(np.ones(1)), nn.Parameter(np.zeros(1))
    module.register_parameter("w", first)
    module.register_parameter("w", second)  # re-registering the same kind replaces
    module.add_module("layer", nn.Identity())
    module.add_module("layer", nn.Tanh())
    module.register_parameter("empty", None)
    module.add_module("nothing", None)
    assert module.w is second and isinstance(module.layer, nn.Tanh)
    assert module.empty is None and module.nothing is None
    assert list(module._parameters) == ["w", "empty"] and list(module._modules) == ["layer", "nothing"]
    assert names(module) == ["w"] and list(module.state_dict()) == ["w"]
    assert list(module.children()) == [module.layer]


def test_dotted_names_cannot_make_state_dict_keys_collide():
    # "a" + "weight" and "a.weight" would both be the state_dict key "a.weight".
    module = nn.Module()
    module.add_module("a", nn.Linear(1, 1, rng=0))
    with pytest.raises(KeyError, match=r"can\\'t contain"):
        module.register_parameter("a.weight", nn.Parameter(np.ones((1, 1))))
    with pytest.raises(KeyError, match=r"can\\'t contain"):
        setattr(module, "a.weight", nn.Parameter(np.ones((1, 1))))
    with pytest.raises(KeyError, match=r"can\\'t contain"):
        setattr(module, "a.b", nn.Identity())  # stricter than PyTorch, which lets setattr through
    with pytest.raises(KeyError, match=r"can\\'t contain"):
        nn.Sequential(OrderedDict([("x.y", nn.Identity())]))
    assert list(module.state_dict()) == ["a.weight", "a.bias"]


def test_a_parameter_cannot_shadow_a_class_attribute():
    class WithMethod(nn.Module):
        def __init__(self):
            super().__init__()
            self.forward = nn.Parameter(np.ones(1))

    with pytest.raises(KeyError, match="attribute 'forward' already exists"):
        WithMethod()


# -- shared parameters and modules -----------------------------------------------------------
def test_a_parameter_registered_twice_is_listed_once_and_saved_under_both_names():
    module = nn.Module()
    shared = nn.Parameter(np.array([1.0, 2.0]))
    module.a = shared
    module.b = shared
    assert list(module.parameters()) == [shared]
    assert names(module) == ["a"]
    state = module.state_dict()
    assert list(state) == ["a", "b"]
    assert state["a"] is not state["b"]  # copies
    module.load_state_dict(state)  # both names expected and accepted
    with pytest.raises(KeyError, match=r"missing keys \['b'\]"):
        module.load_state_dict({"a": np.zeros(2)})


def test_a_module_registered_twice_is_saved_under_both_names(tmp_path):
    shared = nn.Linear(2, 2, rng=0)
    model = nn.Sequential(shared, nn.Tanh(), shared)
    assert names(model) == ["0.weight", "0.bias"] and len(list(model.parameters())) == 2
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    other_shared = nn.Linear(2, 2, rng=1)
    other = nn.Sequential(other_shared, nn.Tanh(), other_shared)
    nn.save(model, tmp_path / "tied.npz")
    nn.load(tmp_path / "tied.npz", other)
    np.testing.assert_array_equal(other_shared.weight.data, shared.weight.data)


def test_a_module_that_contains_itself_does_not_hang_state_dict():
    module = nn.Linear(1, 1, rng=0)
    module.me = module
    assert list(module.state_dict()) == ["weight", "bias"]


# -- del -------------------------------------------------------------------------------------
def test_del_unregisters_parameters_and_modules():
    net = Net()
    del net.scale
    assert not hasattr(net, "scale") and "scale" not in net._parameters
    assert list(net.state_dict()) == ["fc.weight", "fc.bias"]
    net.scale = 2.0  # no longer a parameter slot: a plain attribute
    assert net.scale == 2.0 and names(net) == ["fc.weight", "fc.bias"]
    del net.act
    assert not hasattr(net, "act") and "act" not in net._modules
    net.act = lambda x: x
    del net.fc
    assert list(net.state_dict()) == [] and list(net.children()) == []
    with pytest.raises(AttributeError):
        del net.fc


def test_del_removes_an_empty_slot():
    layer = nn.Linear(2, 3, rng=0)
    layer.bias = None
    del layer.bias
    assert "bias" not in layer._parameters and not hasattr(layer, "bias")
    layer.bias = np.zeros(3)


def test_reassigning_replaces_the_registration_with_the_same_kind():
    net = Net()
    net.fc = nn.Identity()
    net.scale = nn.Parameter(np.array([2.0]))
    assert names(net) == ["scale"]
    assert [type(m).__name__ for m in net.children()] == ["Identity", "Tanh"]


# -- the hot path ----------------------------------------------------------------------------
def test_registered_attributes_are_plain_instance_attributes():
    # Reading self.weight in forward is a dict lookup: no __getattr__ on the way.
    assert "__getattr__" not in vars(nn.Module)
    layer = nn.Linear(2, 3, rng=0)
    assert vars(layer)["weight"] is layer._parameters["weight"]


# -- PyTorch as the oracle -------------------------------------------------------------------
def _scenarios():
    def param_gets_tensor(lib):
        m = lib.nn.Linear(2, 3)
        m.weight = lib.tensor(3, 2)

    def param_gets_number(lib):
        m = lib.nn.Linear(2, 3)
        m.weight = 2.0

    def param_gets_module(lib):
        m = lib.nn.Linear(2, 3)
        m.weight = lib.nn.ReLU()

    def param_gets_none_then_number(lib):
        m = lib.nn.Linear(2, 3)
        m.bias = None
        m.bias = 1

    def module_gets_lambda(lib):
        m = lib.nn.Sequential(lib.nn.ReLU())
        m.act = lib.nn.Tanh()
        m.act = lambda x: x

    def module_gets_parameter(lib):
        m = lib.nn.Sequential(lib.nn.ReLU())
        m.act = lib.nn.Tanh()
        m.act = lib.param(1)

    def parameter_before_init(lib):
        class Broken(lib.nn.Module):
            def __init__(self):
                self.w = lib.param(1)

        Broken()

    def module_before_init(lib):
        class Broken(lib.nn.Module):
            def __init__(self):
                self.m = lib.nn.ReLU()

        Broken()

    def register(kind, name, value="good"):
        def scenario(lib):
            m = lib.nn.Module()
            m.plain = 1
            m.p = lib.param(1)
            m.c = lib.nn.ReLU()
            good = lib.param(1) if kind == "register_parameter" else lib.nn.ReLU()
            getattr(m, kind)(name, good if value == "good" else value)

        return scenario

    def deleted_then_plain(lib):
        m = lib.nn.Linear(2, 3)
        del m.weight
        m.weight = 2.0
        del m.bias
        m.bias = 2.0

    cases = {
        "param-gets-tensor": param_gets_tensor,
        "param-gets-number": param_gets_number,
        "param-gets-module": param_gets_module,
        "param-gets-none-then-number": param_gets_none_then_number,
        "module-gets-lambda": module_gets_lambda,
        "module-gets-parameter": module_gets_parameter,
        "parameter-before-init": parameter_before_init,
        "module-before-init": module_before_init,
        "deleted-then-plain": deleted_then_plain,
    }
    for kind in ("register_parameter", "add_module"):
        for label, name in [("int", 1), ("empty", ""), ("dot", "a.b"), ("plain", "plain"),
                            ("forward", "forward"), ("param", "p"), ("child", "c"), ("new", "new")]:
            cases[f"{kind}-{label}"] = register(kind, name)
        cases[f"{kind}-bad-value"] = register(kind, "new", value=3)
        cases[f"{kind}-none"] = register(kind, "new", value=None)
    return cases


SCENARIOS = _scenarios()


def _outcome(scenario, lib):
    try:
        scenario(lib)
    except Exception as error:  # the kind of error is what is compared
        return type(error).__name__
    return "ok"


@pytest.mark.parametrize("scenario", list(SCENARIOS), ids=list(SCENARIOS))
def test_errors_are_the_kinds_pytorch_raises(torch, scenario):
    ours = SimpleNamespace(nn=nn, param=lambda *shape: nn.Parameter(np.zeros(shape)),
                           tensor=lambda *shape: mg.tensor(np.zeros(shape), requires_grad=True))
    theirs = SimpleNamespace(nn=torch.nn, param=lambda *shape: torch.nn.Parameter(torch.zeros(shape)),
                             tensor=lambda *shape: torch.zeros(shape, requires_grad=True))
    assert _outcome(SCENARIOS[scenario], ours) == _outcome(SCENARIOS[scenario], theirs)


def test_shared_parameters_and_empty_slots_give_pytorchs_names(torch):
    def build(lib, param):
        model = lib.Sequential()
        shared = lib.Linear(2, 2)
        model.add_module("first", shared)
        model.add_module("act", lib.Tanh())
        model.add_module("second", shared)
        model.add_module("empty", None)
        model.tied = shared.weight
        model.register_parameter("slot", None)
        model.own = param()
        model.first.bias = None
        return model

    ours = build(nn, lambda: nn.Parameter(np.zeros(1)))
    theirs = build(torch.nn, lambda: torch.nn.Parameter(torch.zeros(1)))
    assert names(ours) == [name for name, _ in theirs.named_parameters()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert len(list(ours.parameters())) == len(list(theirs.parameters()))
    assert [name for name, _ in ours.named_children()] == [name for name, _ in theirs.named_children()]
