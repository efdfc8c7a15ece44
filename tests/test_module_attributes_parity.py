"""The settings that PyTorch's convolution, pooling, PReLU and TransformerEncoderLayer modules keep as
attributes, compared with PyTorch's after the same constructor call.

Code written for torch reads them (``conv.kernel_size[0]``, output sizes from ``conv.padding``), so
each must have PyTorch's value *and* type: a tuple where torch makes one (``Conv2d(3, 8, 3).kernel_size``
is ``(3, 3)``), the value as given where torch keeps it (``MaxPool2d(3).kernel_size`` is 3, a list
stays a list), a padding string as a string. Values are compared by ``repr``, which tells those apart
(``==`` would not: ``3 == np.int64(3)``, ``True == 1``). The layers must still compute what PyTorch's do.
"""

from __future__ import annotations

import numpy as np
import pytest

from microgradnp import nn

# (class name, positional arguments, keyword arguments), the same for both libraries.
CONVS = [
    ("Conv1d", (3, 8, 3), {}),
    ("Conv1d", (3, 8, (3,)), dict(stride=(2,), padding=[2], dilation=2)),
    ("Conv1d", (4, 8, 5), dict(padding="same", dilation=2, groups=4, bias=False)),
    ("Conv1d", (3, 6, 3), dict(padding="valid", padding_mode="reflect")),
    ("Conv1d", (3, 6, 4), dict(padding="same", padding_mode="circular")),  # odd total: more on the right
    ("Conv1d", (2, 4, 3), dict(stride=2, padding=1, padding_mode="replicate")),
    ("Conv2d", (3, 8, 3), {}),
    ("Conv2d", (3, 8, [3, 2]), dict(stride=[1, 2], padding=(1, 0), dilation=(2, 1))),
    ("Conv2d", (3, 8, (3, 2)), dict(padding="same", dilation=(2, 1))),
    ("Conv2d", (4, 8, 3), dict(padding="valid", groups=2, bias=False)),
    ("Conv2d", (2, 4, 3), dict(padding=(1, 2), padding_mode="reflect")),
    ("Conv3d", (4, 8, 3), dict(padding=1, dilation=2, groups=2, bias=False, padding_mode="circular")),
    ("Conv3d", (2, 4, (3, 2, 1)), dict(stride=(1, 2, 3), padding=(1, 0, 0))),
    ("Conv3d", (2, 4, 2), dict(padding="same")),
    ("ConvTranspose1d", (4, 8, 3), dict(stride=2, output_padding=1, dilation=2)),
    ("ConvTranspose1d", (4, 8, (3,)), dict(padding=(1,), groups=2, bias=False)),
    ("ConvTranspose2d", (4, 8, 3), dict(stride=2, output_padding=1, padding=[1, 0])),
    ("ConvTranspose2d", (2, 4, (3, 2)), dict(stride=(2, 1), dilation=(1, 2), output_padding=(1, 1))),
    ("ConvTranspose3d", (4, 8, (3, 2, 1)), dict(stride=2, output_padding=(1, 0, 1), groups=4, bias=False)),
    ("ConvTranspose3d", (2, 2, 2), {}),
]

POOLS = [
    ("MaxPool1d", (3,), {}),
    ("MaxPool1d", ([3],), dict(stride=[2], padding=[1], dilation=[1])),
    ("MaxPool1d", ((3,),), dict(stride=2, padding=1, dilation=(2,), ceil_mode=True, return_indices=True)),
    ("MaxPool2d", (3,), {}),
    ("MaxPool2d", ([3, 2],), dict(stride=[1, 1])),
    ("MaxPool2d", ((3, 2),), dict(stride=(1, 1), padding=(1, 0), dilation=(1, 2), ceil_mode=True)),
    ("MaxPool3d", (3,), {}),
    ("MaxPool3d", ([3, 2, 1],), dict(stride=[1, 1, 1], padding=[1, 1, 0])),
    ("AvgPool1d", (3,), {}),
    ("AvgPool1d", (3, 2, 1), dict(ceil_mode=True, count_include_pad=False)),
    ("AvgPool1d", ([3],), dict(stride=[2], padding=[1])),
    ("AvgPool2d", (3,), {}),
    ("AvgPool2d", ([3, 2], [1, 1], [1, 0]), {}),
    ("AvgPool2d", ((3, 2),), dict(ceil_mode=True, divisor_override=2)),
    ("AvgPool3d", (3,), {}),
    ("AvgPool3d", ([3, 2, 1],), dict(padding=[1, 1, 0], divisor_override=2)),
    ("LPPool1d", (2, 3), {}),
    ("LPPool2d", (2, [3, 2], [1, 1]), {}),
    ("LPPool2d", (1.5, 2), dict(ceil_mode=True)),
    ("LPPool3d", (2, 3), {}),
    ("MaxUnpool1d", (3,), {}),
    ("MaxUnpool1d", ([3], 2, 1), {}),
    ("MaxUnpool2d", ([3, 2], [1, 1], [1, 0]), {}),
    ("MaxUnpool3d", (3, 2, 1), {}),
    ("AdaptiveAvgPool1d", (3,), {}),
    ("AdaptiveAvgPool2d", ([3, 4],), {}),
    ("AdaptiveAvgPool3d", ((2, None, 3),), {}),
    ("AdaptiveMaxPool1d", (3,), dict(return_indices=True)),
    ("AdaptiveMaxPool2d", ([3, None],), {}),
    ("AdaptiveMaxPool3d", (2,), {}),
]


def _case_id(case) -> str:
    name, args, kwargs = case
    return f"{name}{args}{kwargs or ''}".replace(" ", "")


def _both(torch, case):
    name, args, kwargs = case
    return getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)


def _settings(theirs, ours) -> tuple[dict, dict]:
    """``name -> repr(value)`` of every setting torch's module keeps (its public instance
    attributes, and the F.pad widths convolutions keep), read from both modules."""
    names = [name for name in vars(theirs) if not name.startswith("_") and name != "training"]
    names += [name for name in ("_reversed_padding_repeated_twice",) if hasattr(theirs, name)]
    assert names, "nothing to compare"
    missing = object()
    return ({name: repr(getattr(theirs, name)) for name in names},
            {name: repr(getattr(ours, name, missing)) for name in names})


@pytest.mark.parametrize("case", CONVS, ids=_case_id)
def test_conv_settings_and_text_match_torch(torch, case):
    ours, theirs = _both(torch, case)
    expected, got = _settings(theirs, ours)
    assert {"kernel_size", "stride", "padding", "dilation", "output_padding", "transposed"} <= expected.keys()
    assert got == expected
    # The repr differs only by the parameter shapes microgradnp's Module.__repr__ appends.
    assert f"{type(ours).__name__}({ours.extra_repr()})" == repr(theirs)
    assert repr(ours).startswith(repr(theirs))


@pytest.mark.parametrize("case", POOLS, ids=_case_id)
def test_pool_settings_and_repr_match_torch(torch, case):
    ours, theirs = _both(torch, case)
    expected, got = _settings(theirs, ours)
    assert got == expected
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("args", [(), (3,), (4, 0.1), (1, -2)])
def test_prelu_keeps_init_and_num_parameters(torch, args):
    ours, theirs = nn.PReLU(*args), torch.nn.PReLU(*args)
    expected, got = _settings(theirs, ours)
    assert expected.keys() == {"num_parameters", "init"} and got == expected


@pytest.mark.parametrize("activation", ["relu", "gelu", "relu-module", "gelu-tanh-module", "tanh-module",
                                        "relu-function", "gelu-function", "silu-function"])
def test_encoder_layer_codes_its_activation_as_torch(torch, activation):
    def make(lib):
        return {"relu": "relu", "gelu": "gelu", "relu-module": lib.nn.ReLU(),
                "gelu-tanh-module": lib.nn.GELU(approximate="tanh"), "tanh-module": lib.nn.Tanh(),
                "relu-function": lib.nn.functional.relu, "gelu-function": lib.nn.functional.gelu,
                "silu-function": lib.nn.functional.silu}[activation]

    import microgradnp as mg

    ours = nn.TransformerEncoderLayer(4, 2, dim_feedforward=8, activation=make(mg))
    theirs = torch.nn.TransformerEncoderLayer(4, 2, dim_feedforward=8, activation=make(torch))
    assert ours.activation_relu_or_gelu == theirs.activation_relu_or_gelu
    assert isinstance(ours.activation_relu_or_gelu, int)


def test_settings_index_as_torch_code_reads_them():
    """The motivating use: the output size from the settings, as written for torch."""
    conv = nn.Conv2d(3, 4, (3, 2), stride=(2, 1), padding=1, dilation=(1, 2))
    x = np.zeros((1, 3, 9, 8))
    size = [(n + 2 * conv.padding[i] - conv.dilation[i] * (conv.kernel_size[i] - 1) - 1) // conv.stride[i] + 1
            for i, n in enumerate(x.shape[2:])]
    assert list(conv(x).shape[2:]) == size == [5, 8]


def test_lazy_conv_becomes_a_conv_with_torch_settings(torch):
    ours, theirs = nn.LazyConvTranspose2d(4, (3, 2), stride=2), torch.nn.LazyConvTranspose2d(4, (3, 2), stride=2)
    x = np.random.default_rng(0).standard_normal((1, 2, 3, 3))
    ours(x), theirs(torch.from_numpy(x))
    expected, got = _settings(theirs, ours)
    assert got == expected and ours.in_channels == 2


# (case, input shape): the layers still compute PyTorch's results from their new settings.
FORWARD = [
    (("Conv1d", (3, 6, 3), dict(padding="valid", padding_mode="reflect")), (2, 3, 9)),
    (("Conv1d", (3, 6, 4), dict(padding="same", padding_mode="circular")), (2, 3, 9)),
    (("Conv2d", (3, 8, (3, 2)), dict(padding="same", dilation=(2, 1))), (2, 3, 7, 6)),
    (("Conv2d", (2, 4, 3), dict(padding=(1, 2), padding_mode="reflect")), (1, 2, 6, 7)),
    (("Conv3d", (2, 4, (3, 2, 1)), dict(stride=(1, 2, 3), padding=(1, 0, 0))), (1, 2, 5, 6, 7)),
    (("ConvTranspose1d", (4, 8, (3,)), dict(padding=(1,), groups=2, bias=False)), (2, 4, 6)),
    (("ConvTranspose2d", (2, 4, (3, 2)), dict(stride=(2, 1), dilation=(1, 2), output_padding=(1, 1))), (1, 2, 4, 5)),
    (("MaxPool2d", ([3, 2],), dict(stride=[1, 1])), (1, 2, 5, 6)),
    (("AvgPool1d", ([3],), dict(stride=[2], padding=[1])), (2, 3, 9)),
    (("AvgPool3d", ([3, 2, 1],), dict(padding=[1, 1, 0], divisor_override=2)), (1, 2, 5, 4, 3)),
    (("LPPool2d", (2, [3, 2], [1, 1]), {}), (1, 2, 5, 6)),
]


# PyTorch's own note that it copies the input for an even kernel with padding="same"; not ours to act on.
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
@pytest.mark.parametrize(("case", "shape"), FORWARD, ids=[_case_id(case) for case, _ in FORWARD])
def test_forward_still_matches_torch(torch, case, shape):
    ours, theirs = _both(torch, case)
    ours.load_state_dict({name: value.detach().numpy() for name, value in theirs.state_dict().items()})
    x = np.random.default_rng(1).standard_normal(shape)
    np.testing.assert_allclose(ours(x).data, theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-10, atol=1e-12)


def test_max_unpool_with_tuple_settings_matches_torch(torch):
    x = np.random.default_rng(2).standard_normal((1, 2, 6, 5))
    pool, unpool = nn.MaxPool2d(3, 2, 1, return_indices=True), nn.MaxUnpool2d([3, 3], [2, 2], [1, 1])
    t_pool, t_unpool = torch.nn.MaxPool2d(3, 2, 1, return_indices=True), torch.nn.MaxUnpool2d([3, 3], [2, 2], [1, 1])
    got = unpool(*pool(x), output_size=x.shape).data
    np.testing.assert_array_equal(got, t_unpool(*t_pool(torch.from_numpy(x)), output_size=x.shape).numpy())
