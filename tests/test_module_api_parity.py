"""nn.Module's PyTorch methods beyond the basics: access by dotted name, dtype and
device conversions, train()'s recursion, zero_grad(set_to_none=False), the options of
named_modules/named_parameters/state_dict/load_state_dict; against PyTorch where it
is installed, and on their own."""

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import nn
from microgradnp.errors import StateDictKeyError


def _tree(lib):
    """A small nested model with a shared (tied) layer and a buffer, in either library."""
    block = lib.Sequential(lib.Linear(3, 4), lib.Tanh())
    model = lib.Sequential(block, lib.BatchNorm1d(4), lib.Linear(4, 2))
    model.add_module("tied", block)  # the same module under a second name
    return model


def _errors(fn):
    try:
        return ("ok", fn())
    except Exception as error:
        return (type(error).__name__, str(error))


@pytest.mark.parametrize("target", ["", "0", "0.0", "0.1", "1", "2.weight", "0.5", "0.0.weight", "3", "tied.0"])
def test_get_submodule_parameter_buffer_match_pytorch(target):
    torch = pytest.importorskip("torch")
    ours, theirs = _tree(nn), _tree(torch.nn)
    for method in ("get_submodule", "get_parameter", "get_buffer"):
        mine = _errors(lambda m=method: type(getattr(ours, m)(target)).__name__)
        reference = _errors(lambda m=method: type(getattr(theirs, m)(target)).__name__)
        assert mine[0] == reference[0], (method, mine, reference)
        if mine[0] == "AttributeError":
            assert mine[1] == reference[1]
    for target in ("1.running_mean", "1.num_batches_tracked", "1.weight"):
        assert _errors(lambda t=target: type(ours.get_buffer(t)).__name__)[0] == \
            _errors(lambda t=target: type(theirs.get_buffer(t)).__name__)[0]


def test_set_submodule_replaces_adds_and_refuses_as_pytorch():
    model = _tree(nn)
    new = nn.Linear(4, 4)
    model.set_submodule("0.0", new)
    assert model.get_submodule("0.0") is new and model.get_submodule("tied.0") is new  # the shared block
    model.set_submodule("0.extra", nn.ReLU())
    assert isinstance(model[0].extra, nn.ReLU)
    with pytest.raises(AttributeError, match=r"has no attribute `missing`"):
        model.set_submodule("0.missing", nn.ReLU(), strict=True)
    with pytest.raises(ValueError, match="without a target name"):
        model.set_submodule("", nn.ReLU())
    with pytest.raises(ValueError, match=r"is not an nn\.Module"):
        model.set_submodule("0.0", "a string")
    with pytest.raises(AttributeError, match=r"`weight` is not an nn\.Module"):
        model.set_submodule("2.weight", nn.ReLU())
    model.register_module("head", nn.Linear(2, 1))
    assert "head" in dict(model.named_children())


def test_named_modules_and_parameters_remove_duplicate_match_pytorch():
    torch = pytest.importorskip("torch")
    ours, theirs = _tree(nn), _tree(torch.nn)
    for remove in (True, False):
        assert [n for n, _ in ours.named_modules(remove_duplicate=remove)] == \
            [n for n, _ in theirs.named_modules(remove_duplicate=remove)]
        assert [n for n, _ in ours.named_parameters(remove_duplicate=remove)] == \
            [n for n, _ in theirs.named_parameters(remove_duplicate=remove)]
        assert [n for n, _ in ours.named_buffers(remove_duplicate=remove)] == \
            [n for n, _ in theirs.named_buffers(remove_duplicate=remove)]
    assert [n for n, _ in ours.named_modules(prefix="net")] == [n for n, _ in theirs.named_modules(prefix="net")]
    memo = {ours[0]}
    assert [n for n, _ in ours.named_modules(memo)] == ["", "1", "2"]
    assert ours in memo


def test_train_checks_its_argument_and_goes_through_the_childrens_own_train():
    calls = []

    class Frozen(nn.Linear):
        def train(self, mode=True):  # stays in eval mode, as a frozen backbone does
            calls.append(mode)
            return super().train(False)

    model = nn.Sequential(Frozen(2, 2), nn.Dropout(0.5))
    model.train()
    assert calls == [True] and model.training and not model[0].training and model[1].training
    with pytest.raises(ValueError, match="boolean"):
        model.train("yes")
    with pytest.raises(RuntimeError, match="boolean"):
        model.train(1)


def test_zero_grad_set_to_none_false_fills_zeros_in_place():
    layer = nn.Linear(3, 2)
    layer(mg.tensor(np.ones((1, 3)))).sum().backward()
    grad = layer.weight.grad
    layer.zero_grad(set_to_none=False)
    assert layer.weight.grad is grad and not grad.any()
    layer.zero_grad()
    assert layer.weight.grad is None


def test_conversions_as_pytorch():
    layer = nn.Linear(3, 2)
    assert layer.half().weight.data.dtype == np.float16
    assert layer.to(dtype=np.float32).weight.data.dtype == np.float32
    assert layer.to("cpu", np.float64).weight.data.dtype == np.float64
    assert layer.to(mg.tensor(np.zeros(1, np.float32))).weight.data.dtype == np.float32
    assert layer.to(device="cpu", non_blocking=True).weight.data.dtype == np.float32
    assert layer.type(np.float64).bias.data.dtype == np.float64
    assert layer.cpu() is layer and layer.share_memory() is layer
    with pytest.raises(TypeError, match="unexpected keyword"):
        layer.to(memory_format="channels_last")
    with pytest.raises(TypeError, match="bfloat16"):
        layer.bfloat16()
    with pytest.raises(RuntimeError, match="CPU only"):
        layer.cuda()
    weight = layer.weight
    layer.to_empty(device="cpu")
    assert layer.weight is weight and weight.data.shape == (2, 3) and weight.data.dtype == np.float64


def test_state_dict_options_and_load_state_dict_result_match_pytorch():
    torch = pytest.importorskip("torch")
    ours, theirs = _tree(nn), _tree(torch.nn).double()
    assert list(ours.state_dict(prefix="model.")) == list(theirs.state_dict(prefix="model."))
    kept = ours.state_dict(keep_vars=True)
    assert kept["2.weight"] is ours[2].weight
    destination = {"other": 1}
    assert ours.state_dict(destination=destination) is destination and "2.bias" in destination
    state = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    result = ours.load_state_dict(state)
    reference = theirs.load_state_dict(theirs.state_dict())
    assert result == reference and result.missing_keys == [] and result.unexpected_keys == []
    partial = dict(state)
    del partial["2.bias"]
    partial["extra"] = np.zeros(1)
    with pytest.raises(RuntimeError, match="Error\\(s\\) in loading state_dict for Sequential"):
        ours.load_state_dict(partial)
    result = ours.load_state_dict(partial, strict=False)
    assert result.missing_keys == ["2.bias"] and result.unexpected_keys == ["extra"]


def test_load_state_dict_strict_error_is_a_key_error_and_a_runtime_error():
    with pytest.raises(StateDictKeyError) as caught:
        nn.Linear(2, 2).load_state_dict({"weight": np.zeros((2, 2))})
    assert isinstance(caught.value, KeyError) and isinstance(caught.value, RuntimeError)
    assert str(caught.value).startswith("Error(s) in loading state_dict for Linear: missing keys ['bias']")


def test_load_state_dict_assign_keeps_the_parameters_and_takes_the_arrays():
    layer = nn.Linear(2, 2)
    weight = layer.weight
    state = {"weight": np.arange(4.0).reshape(2, 2), "bias": np.ones(2)}
    layer.load_state_dict(state, assign=True)
    assert layer.weight is weight and layer.weight.data is state["weight"]
    np.testing.assert_array_equal(layer(mg.tensor(np.ones((1, 2)))).data, [[2.0, 6.0]])


# -- Sequential as a list of modules, and manual_seed --------------------------------------
def _sequential_story(lib):
    """The names (and errors) that Sequential's list methods give, in PyTorch's or ours."""
    nn_ = lib.nn

    def build():
        return nn_.Sequential(nn_.Linear(2, 3), nn_.Tanh(), nn_.Linear(3, 1))

    def names(seq):
        return [(name, type(module).__name__) for name, module in seq._modules.items()]

    seq, story = build(), []
    seq[1] = nn_.Sigmoid()
    story.append(names(seq))
    del seq[0]
    story.append(names(seq))
    seq.insert(0, nn_.ReLU())
    seq.insert(-1, nn_.Tanh())
    story.append(names(seq))
    story.append((type(seq.pop(1)).__name__, names(seq)))
    story.append(names(seq + build()))
    seq += build()
    story.append(names(seq))
    story += [names(build() * 2), names(2 * build()), names(build()[-2:]), names(build().extend(build()))]
    repeated = build()
    repeated *= 3
    del repeated[1:4]
    story.append(names(repeated))
    for bad in (lambda: build()[3], lambda: build().insert(5, nn_.ReLU()), lambda: build() * 0,
                lambda: build() + 1, lambda: build().__setitem__(-4, nn_.ReLU()), lambda: build() * 1.5):
        with pytest.raises(Exception) as error:
            bad()
        story.append(error.type.__name__)
    return story


def test_sequential_list_methods_match_pytorch():
    torch = pytest.importorskip("torch")
    assert _sequential_story(mg) == _sequential_story(torch)


def test_sequential_list_methods_keep_modules_registered():
    seq = nn.Sequential(nn.Linear(2, 3, rng=0), nn.Tanh(), nn.Linear(3, 1, rng=1))
    last = seq[2]
    seq.insert(1, nn.ReLU())
    assert seq[3] is last and getattr(seq, "3") is last
    assert [name for name, _ in seq.named_parameters()] == ["0.weight", "0.bias", "3.weight", "3.bias"]
    del seq[0]
    assert not hasattr(seq, "3") and seq[2] is last
    x = mg.tensor(np.ones((4, 2)))
    with pytest.raises(ValueError):
        seq(x)  # the first layer left: 2 features no longer fit the remaining Linear(3, 1)
    seq.insert(0, nn.Linear(2, 3, rng=2))
    assert seq(x).shape == (4, 1)


def test_manual_seed_reseeds_layers_made_before_it():
    dropout = nn.Dropout(0.5)  # holds the global generator
    x = mg.ones(64)
    mg.manual_seed(3)
    first = dropout(x).data
    mg.manual_seed(3)
    np.testing.assert_array_equal(dropout(x).data, first)
    assert mg.manual_seed(-1) is mg.manual_seed(5)  # the one global generator, returned as torch returns its own


@pytest.mark.parametrize("seed, error", [(1.5, TypeError), (True, TypeError), (2**64, ValueError)])
def test_manual_seed_refuses_what_torch_refuses(seed, error):
    with pytest.raises(error, match="manual_seed"):
        mg.manual_seed(seed)


def test_a_batch_norm_state_without_num_batches_tracked_loads_as_pytorchs_older_checkpoints():
    model = mg.nn.Sequential(mg.nn.Linear(3, 3, rng=0), mg.nn.BatchNorm1d(3))
    model[1].num_batches_tracked.data[...] = 5
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    state["1.running_mean"] = np.full(3, 2.0)
    assert model.load_state_dict(state) == ([], [])
    assert model[1].num_batches_tracked.item() == 5 and (model[1].running_mean.data == 2.0).all()
    del state["1.running_var"]  # any other missing buffer still raises
    with pytest.raises(KeyError, match=r"missing keys \['1.running_var'\]"):
        model.load_state_dict(state)
