"""PyTorch's device idioms on the one device microgradnp has: ``mg.device``, ``t.device``,
``device=`` on constructors and layers, ``to(device)``, ``mg.cuda.is_available()``;
any other device raises at once instead of being silently ignored."""

import inspect

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import nn

CONSTRUCTORS = {
    "tensor": lambda **k: mg.tensor([1.0, 2.0], **k),
    "zeros": lambda **k: mg.zeros(2, 3, **k),
    "ones": lambda **k: mg.ones(2, **k),
    "full": lambda **k: mg.full((2,), 1.5, **k),
    "zeros_like": lambda **k: mg.zeros_like(mg.ones(2), **k),
    "ones_like": lambda **k: mg.ones_like(mg.ones(2), **k),
    "full_like": lambda **k: mg.full_like(mg.ones(2), 3.0, **k),
    "empty": lambda **k: mg.empty(2, **k),
    "empty_like": lambda **k: mg.empty_like(mg.ones(2), **k),
    "randn": lambda **k: mg.randn(2, rng=0, **k),
    "rand": lambda **k: mg.rand(2, rng=0, **k),
    "rand_like": lambda **k: mg.rand_like(mg.ones(2), rng=0, **k),
    "randn_like": lambda **k: mg.randn_like(mg.ones(2), rng=0, **k),
    "randint": lambda **k: mg.randint(0, 5, (3,), rng=0, **k),
    "randint_like": lambda **k: mg.randint_like(mg.ones(2), 0, 5, rng=0, **k),
    "randperm": lambda **k: mg.randperm(4, rng=0, **k),
    "normal": lambda **k: mg.normal(0.0, 1.0, (2,), rng=0, **k),
    "arange": lambda **k: mg.arange(3, **k),
    "linspace": lambda **k: mg.linspace(0, 1, 5, **k),
    "logspace": lambda **k: mg.logspace(0, 1, 5, **k),
    "eye": lambda **k: mg.eye(3, **k),
    "scalar_tensor": lambda **k: mg.scalar_tensor(2.0, **k),
    "asarray": lambda **k: mg.asarray([1.0], **k),
    "as_tensor": lambda **k: mg.as_tensor([1.0], **k),
    "tril_indices": lambda **k: mg.tril_indices(3, 3, **k),
    "triu_indices": lambda **k: mg.triu_indices(3, 3, **k),
    "new_zeros": lambda **k: mg.ones(2).new_zeros(3, **k),
    "new_ones": lambda **k: mg.ones(2).new_ones(3, **k),
    "new_empty": lambda **k: mg.ones(2).new_empty(3, **k),
    "new_full": lambda **k: mg.ones(2).new_full((3,), 2.0, **k),
    "new_tensor": lambda **k: mg.ones(2).new_tensor([1.0, 2.0], **k),
}


@pytest.mark.parametrize("name", sorted(CONSTRUCTORS))
def test_constructors_take_the_cpu_and_refuse_other_devices(name):
    make = CONSTRUCTORS[name]
    plain = make()
    for device in ("cpu", "cpu:0", mg.device("cpu"), plain.device):
        made = make(device=device)
        assert made.device == mg.device("cpu") and made.shape == plain.shape and made.dtype == plain.dtype
    for device in ("cuda", "cuda:0", "mps", 0):
        with pytest.raises(RuntimeError, match="CPU only"):
            make(device=device)
    with pytest.raises(TypeError, match="device must be"):
        make(device=1.5)


def test_device_objects_print_and_compare_as_pytorchs():
    torch = pytest.importorskip("torch")
    for args in [("cpu",), ("cpu", 0), ("cpu:1",)]:
        ours, theirs = mg.device(*args), torch.device(*args)
        assert (repr(ours), str(ours), ours.type, ours.index) == (repr(theirs), str(theirs), theirs.type, theirs.index)
    assert mg.device("cpu") == mg.device(mg.device("cpu")) != mg.device("cpu", 0)
    assert len({mg.device("cpu"), mg.device("cpu"), mg.device("cpu:0")}) == 2
    assert mg.device("cpu") != "cpu"  # as torch.device("cpu") != "cpu"
    with pytest.raises(RuntimeError, match="Invalid device string"):
        mg.device("cpu:x")
    with pytest.raises(RuntimeError, match="CPU only"):
        mg.device("cuda")
    with pytest.raises(TypeError):
        mg.device(None)


def test_tensor_device_attributes_and_the_choose_a_device_idiom():
    x = mg.randn(3, rng=0)
    device = mg.device("cuda" if mg.cuda.is_available() else "cpu")
    assert x.device == device and x.is_cpu and not x.is_cuda and x.get_device() == -1
    assert mg.cuda.device_count() == 0
    moved = x.to(device)
    assert moved.device == device
    np.testing.assert_array_equal(moved.data, x.data)
    assert x.to("cpu:0", mg.float32).dtype == np.float32
    with pytest.raises(RuntimeError, match="CPU only"):
        x.to("cuda")


def test_layers_take_device_and_dtype_as_pytorchs_factory_arguments():
    for layer in (nn.Linear(2, 3, device="cpu", dtype=np.float32), nn.Conv2d(1, 2, 3, device=mg.device("cpu")),
                  nn.BatchNorm1d(3, device="cpu"), nn.Embedding(4, 2, device="cpu"), nn.LSTM(2, 3, device="cpu"),
                  nn.LazyLinear(3, device="cpu"), nn.LazyBatchNorm1d(device="cpu"), nn.LayerNorm(3, device="cpu")):
        assert all(p.device == mg.device("cpu") for p in layer.parameters())
    assert "device" in inspect.signature(nn.Linear).parameters
    with pytest.raises(RuntimeError, match="CPU only"):
        nn.Linear(2, 3, device="cuda")
    model = nn.Sequential(nn.Linear(2, 3))
    assert model.to(mg.device("cpu")) is model and model.to("cpu", mg.float32)[0].weight.dtype == np.float32
    with pytest.raises(RuntimeError, match="CPU only"):
        model.to("cuda")


def test_a_users_module_without_dtype_is_left_as_written():
    class Custom(nn.Module):
        def __init__(self, width):
            super().__init__()
            self.layer = nn.Linear(width, 1)

    assert "device" not in inspect.signature(Custom).parameters
    with pytest.raises(TypeError):
        Custom(2, device="cpu")
