"""Module and containers against PyTorch, second round: ``state_dict()`` holds detached
Tensors sharing the model's memory (and everything that consumes a state dict copes),
checkpoints give back Tensors, and the repr layout of extra_repr, None children and
ModuleList runs."""

from __future__ import annotations

import copy
import json
from collections import OrderedDict

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import nn, optim
from microgradnp.nn import serialization


def _model():
    return nn.Sequential(nn.Linear(3, 4, rng=0), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2, rng=1))


def _torch_twin(torch, model):
    twin = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.ReLU(),
                               torch.nn.Linear(4, 2)).double()
    twin.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in model.state_dict().items()})
    return twin


# -- state_dict(): detached Tensors sharing memory --------------------------------------------------------------
def test_state_dict_values_are_detached_tensors_like_torch():
    torch = pytest.importorskip("torch")
    model = _model()
    ours, theirs = model.state_dict(), _torch_twin(torch, model).state_dict()
    assert isinstance(ours, OrderedDict) and list(ours) == list(theirs)
    for key, value in ours.items():
        assert type(value) is mg.Tensor, key  # a Tensor, not a Parameter, not an ndarray
        assert value.requires_grad is theirs[key].requires_grad is False
        assert value.is_leaf
        assert value.shape == tuple(theirs[key].shape)
    assert ours["1.num_batches_tracked"].dtype == np.int64  # (an integer buffer stays one)
    kept = model.state_dict(keep_vars=True)
    assert kept["0.weight"] is model[0].weight and kept["1.running_mean"] is model[1].running_mean


def test_state_dict_shares_memory_with_parameters_and_buffers():
    torch = pytest.importorskip("torch")
    model = _model()
    twin = _torch_twin(torch, model)
    for sd, lib in ((model.state_dict(), mg), (twin.state_dict(), torch)):
        sd["0.weight"].fill_(0.0)
        sd["0.bias"].copy_(lib.ones(4, dtype=lib.float64))
        sd["1.running_mean"][1] = 5.0
        sd["3.bias"] += 2.0
    np.testing.assert_array_equal(model[0].weight.data, 0.0)
    np.testing.assert_array_equal(model[0].bias.data, 1.0)
    assert model[1].running_mean.data[1] == 5.0
    for key, value in twin.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[key].numpy(), value.numpy(), err_msg=key)


def test_state_dict_follows_optimizer_steps_and_deepcopy_is_a_snapshot():
    model = _model()
    state, snapshot = model.state_dict(), copy.deepcopy(model.state_dict())
    assert all(type(v) is mg.Tensor and not np.shares_memory(v.data, state[k].data) for k, v in snapshot.items())
    optimizer = optim.SGD(model.parameters(), lr=0.5)
    x = mg.tensor(np.random.default_rng(0).standard_normal((5, 3)))
    model(x).pow(2).sum().backward()
    optimizer.step()
    np.testing.assert_array_equal(state["0.weight"].data, model[0].weight.data)  # the live values
    assert not np.array_equal(snapshot["0.weight"].data, model[0].weight.data)
    assert snapshot["1.num_batches_tracked"].data == 0 and state["1.num_batches_tracked"].data == 1
    model.load_state_dict(snapshot)
    for key, value in snapshot.items():
        np.testing.assert_array_equal(model.state_dict()[key].data, value.data, err_msg=key)


def test_load_state_dict_of_the_models_own_tensors_under_swapped_names():
    # The values of a state_dict() are the model's memory: loading them under each other's
    # names must read every value before it is overwritten.
    model = nn.Sequential(nn.Linear(2, 2, rng=0), nn.Linear(2, 2, rng=1))
    first, second = model[0].weight.data.copy(), model[1].weight.data.copy()
    state = model.state_dict()
    state["0.weight"], state["1.weight"] = state["1.weight"], state["0.weight"]
    model.load_state_dict(state)
    np.testing.assert_array_equal(model[0].weight.data, second)
    np.testing.assert_array_equal(model[1].weight.data, first)
    model.load_state_dict(model.state_dict())  # onto itself: nothing changes
    np.testing.assert_array_equal(model[0].weight.data, second)


def test_load_state_dict_takes_tensors_and_arrays_and_returns_torchs_named_tuple():
    torch = pytest.importorskip("torch")
    ours, theirs = nn.Linear(2, 3, rng=0), torch.nn.Linear(2, 3)
    got = ours.load_state_dict({"weight": np.ones((3, 2)), "extra": mg.zeros(1)}, strict=False)
    want = theirs.load_state_dict({"weight": torch.ones(3, 2), "extra": torch.zeros(1)}, strict=False)
    assert (got.missing_keys, got.unexpected_keys) == (want.missing_keys, want.unexpected_keys) == (["bias"], ["extra"])
    assert tuple(got) == tuple(want)
    assert str(ours.load_state_dict(nn.Linear(2, 3).state_dict())) == str(
        theirs.load_state_dict(torch.nn.Linear(2, 3).state_dict()))
    ours.load_state_dict({"weight": mg.full((3, 2), 2.0), "bias": np.zeros(3)})
    np.testing.assert_array_equal(ours.weight.data, 2.0)


# -- checkpoints give Tensors back -------------------------------------------------------------------------------
def test_nn_load_and_mg_load_give_tensors_for_a_state_dict(tmp_path):
    model = _model()
    nn.save(model, tmp_path / "model.npz")
    mg.save(model.state_dict(), tmp_path / "model.pt")
    for state in (nn.load(tmp_path / "model.npz"), mg.load(tmp_path / "model.pt")):
        assert list(state) == list(model.state_dict())
        for key, value in model.state_dict().items():
            assert type(state[key]) is mg.Tensor and not state[key].requires_grad, key
            assert state[key].dtype == value.dtype, key  # num_batches_tracked stays int64
            np.testing.assert_array_equal(state[key].data, value.data, err_msg=key)
        fresh = _model()
        fresh[0].weight.data[...] = 0
        fresh.load_state_dict(state)
        np.testing.assert_array_equal(fresh[0].weight.data, model[0].weight.data)


def test_a_nested_checkpoint_gives_back_tensors_where_tensors_were_saved(tmp_path):
    model = _model()
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    model(mg.tensor(np.ones((4, 3)))).sum().backward()
    optimizer.step()
    checkpoint = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 3,
                  "points": np.arange(3.0), "loss": mg.tensor(0.5)}
    mg.save(checkpoint, tmp_path / "checkpoint.pt")
    loaded = mg.load(tmp_path / "checkpoint.pt")
    assert all(type(v) is mg.Tensor for v in loaded["model"].values())
    assert type(loaded["points"]) is np.ndarray and loaded["epoch"] == 3
    assert type(loaded["loss"]) is mg.Tensor and loaded["loss"].item() == 0.5
    exp_avg = loaded["optimizer"]["state"][0]["exp_avg"]
    assert isinstance(exp_avg, np.ndarray | mg.Tensor)  # as the optimizer's state_dict() gave it
    assert type(exp_avg) is type(optimizer.state_dict()["state"][0]["exp_avg"])
    fresh = _model()
    fresh_optimizer = optim.Adam(fresh.parameters(), lr=0.01)
    fresh.load_state_dict(loaded["model"])
    fresh_optimizer.load_state_dict(loaded["optimizer"])
    for opt in (optimizer, fresh_optimizer):
        opt.zero_grad()
    for m, opt in ((model, optimizer), (fresh, fresh_optimizer)):
        m(mg.tensor(np.ones((4, 3)))).sum().backward()
        opt.step()
    np.testing.assert_array_equal(fresh[0].weight.data, model[0].weight.data)


def _write(path, arrays: dict, metadata: dict) -> None:
    arrays = {**arrays, serialization.METADATA_KEY: np.array(json.dumps(metadata))}
    with open(path, "wb") as file:
        np.savez(file, **arrays)


def test_files_written_before_the_tensor_list_still_load(tmp_path):
    # A flat state dict (format 1) was always a state_dict(): its entries come back as Tensors;
    # a nested state's arrays come back as the ndarrays it held.
    old = {"format": serialization.FORMAT, "format_version": 1, "microgradnp_version": "0.1.0", "class": "Linear"}
    _write(tmp_path / "flat.npz", {"weight": np.ones((3, 2)), "bias": np.zeros(3)}, old)
    state = nn.load(tmp_path / "flat.npz")
    assert all(type(v) is mg.Tensor for v in state.values()) and list(state) == ["weight", "bias"]
    layer = nn.Linear(2, 3)
    nn.load(tmp_path / "flat.npz", into=layer)
    np.testing.assert_array_equal(layer.weight.data, 1.0)
    nested = {**old, "format_version": 2, "class": None,
              "structure": {"dict": [["model", {"dict": [["w", {"array": "model.w", "scalar": False}]]}],
                                     ["epoch", 3]]}}
    _write(tmp_path / "nested.npz", {"model.w": np.ones(2)}, nested)
    loaded = nn.load(tmp_path / "nested.npz")
    assert type(loaded["model"]["w"]) is np.ndarray and loaded["epoch"] == 3


@pytest.mark.parametrize("tensors", ["weight", [1], {"weight": 1}])
def test_a_malformed_tensor_list_is_not_a_checkpoint(tmp_path, tensors):
    metadata = {"format": serialization.FORMAT, "format_version": 1, "tensors": tensors}
    _write(tmp_path / "bad.npz", {"weight": np.ones(2)}, metadata)
    with pytest.raises(ValueError, match="list of tensors is malformed"):
        nn.load(tmp_path / "bad.npz")


def test_metadata_lists_the_tensors_saved(tmp_path):
    nn.save({"a": mg.ones(2), "b": np.zeros(2)}, tmp_path / "mixed.npz")
    state = nn.load(tmp_path / "mixed.npz")
    assert type(state["a"]) is mg.Tensor and type(state["b"]) is np.ndarray


# -- repr ----------------------------------------------------------------------------------------------------------
class _Settings:
    @staticmethod
    def make(lib, with_child: bool):
        class Settings(lib.nn.Module):
            def __init__(self):
                super().__init__()
                if with_child:
                    self.act = lib.nn.ReLU()

            def extra_repr(self):
                return "k=1\nj=2"

        return Settings()


@pytest.mark.parametrize("with_child", [False, True])
def test_repr_of_a_multi_line_extra_repr_is_torchs(with_child):
    torch = pytest.importorskip("torch")
    ours, theirs = _Settings.make(mg, with_child), _Settings.make(torch, with_child)
    # microgradnp adds the parameter count under sub-modules
    assert repr(ours).removesuffix("  # 0 parameters") == repr(theirs)


def test_repr_puts_a_one_line_extra_repr_on_its_own_line_beside_children():
    torch = pytest.importorskip("torch")

    def make(lib):
        class Block(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.act = lib.nn.Tanh()
                self.none = None
                self.register_module("empty", None)

            def extra_repr(self):
                return "width=3"

        return Block()

    assert repr(make(mg)).removesuffix("  # 0 parameters") == repr(make(torch))
    assert "(empty): None" in repr(make(mg))


def test_module_list_repr_groups_repeated_modules_as_torch():
    torch = pytest.importorskip("torch")

    def make(lib):
        return lib.nn.ModuleList([lib.nn.ReLU(), lib.nn.ReLU(), lib.nn.ReLU(), lib.nn.Tanh(), lib.nn.ReLU(),
                                  lib.nn.Sequential(lib.nn.ELU(), lib.nn.ELU())])

    assert repr(make(mg)).replace("  # 0 parameters", "") == repr(make(torch))
    assert repr(nn.ModuleList()) == repr(torch.nn.ModuleList()) == "ModuleList()"
    layers = repr(nn.ModuleList([nn.Linear(2, 2) for _ in range(3)]))
    assert "(0-2): 3 x Linear(in_features=2, out_features=2, bias=True)" in layers and "18 parameters" in layers


def test_dir_leaves_out_numbered_children_as_torch():
    torch = pytest.importorskip("torch")
    ours, theirs = nn.Sequential(nn.ReLU(), nn.Tanh()), torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Tanh())
    assert not [name for name in dir(ours) if name[0].isdigit()]
    assert not [name for name in dir(theirs) if name[0].isdigit()]
    layer = nn.BatchNorm1d(2)
    assert {"weight", "bias", "running_mean", "forward", "training"} <= set(dir(layer))
    assert dir(layer) == sorted(set(dir(layer)))


# -- state-dict hooks ------------------------------------------------------------------------------------------------
def _hooks_log(lib, ones):
    log = []
    model = lib.nn.Sequential(lib.nn.Linear(2, 2), lib.nn.Sequential(lib.nn.Linear(2, 1)))
    handle = model.register_state_dict_pre_hook(lambda module, prefix, keep_vars: log.append(
        ("pre", type(module).__name__, prefix, keep_vars)))
    model[1].register_state_dict_pre_hook(lambda module, prefix, keep_vars: log.append(("pre1", prefix)))

    def post(module, state, prefix, local_metadata):
        log.append(("post", prefix, list(state)))
        state.pop(prefix + "0.bias", None)

    model[1].register_state_dict_post_hook(post)
    log.append(list(model.state_dict(keep_vars=True)))
    handle.remove()
    model.state_dict()
    log.append(len(log))

    def rename(module, state, prefix, local_metadata, strict, missing, unexpected, errors):
        log.append(("load pre", prefix, strict))
        if prefix + "old_weight" in state:
            state[prefix + "weight"] = state.pop(prefix + "old_weight")

    def forgive(module, incompatible):
        log.append(("load post", sorted(incompatible.missing_keys), sorted(incompatible.unexpected_keys)))
        if "1.0.bias" in incompatible.missing_keys:
            incompatible.missing_keys.remove("1.0.bias")

    model[0].register_load_state_dict_pre_hook(rename)
    model[1].register_load_state_dict_post_hook(forgive)
    state = {"0.old_weight": ones((2, 2)), "0.bias": ones((2,)), "1.0.weight": ones((1, 2))}
    result = model.load_state_dict(state)
    log.append((list(state), result.missing_keys, result.unexpected_keys, float(model[0].weight.sum().item())))
    with pytest.raises(RuntimeError):
        model.load_state_dict({**state, "surplus": ones((1,))})
    refusing = lib.nn.Linear(1, 1)
    refusing.register_load_state_dict_pre_hook(lambda module, *args: args[-1].append("refused"))
    with pytest.raises(RuntimeError, match=r"Error\(s\) in loading state_dict for Linear:\n\trefused"):
        refusing.load_state_dict(refusing.state_dict())
    returning = lib.nn.Linear(1, 1)
    returning.register_state_dict_post_hook(lambda *args: 1)
    with pytest.raises(RuntimeError, match="state_dict post-hook must return None"):
        returning.state_dict()
    return log


def test_state_dict_and_load_state_dict_hooks_as_torch():
    torch = pytest.importorskip("torch")
    with torch.no_grad():
        theirs = _hooks_log(torch, lambda shape: torch.ones(*shape))
    assert _hooks_log(mg, lambda shape: mg.ones(*shape)) == theirs
