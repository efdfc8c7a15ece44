"""microgradnp/ops/torch_names_more.py: tensor queries (data_ptr, is_sparse, layout, angle...),
torch's top-level forms of nn.functional, window functions, torch.X_ in-place functions,
mg.fill and the global switches; against PyTorch where it is installed."""

import inspect
import sys

import numpy as np
import pytest

import microgradnp as mg
from microgradnp.ops import torch_names_more

F = mg.nn.functional
WINDOWS = ["hann_window", "hamming_window", "blackman_window", "bartlett_window", "kaiser_window"]


def _torch():
    return pytest.importorskip("torch")


# -- tensor queries -------------------------------------------------------------------------------------------------


def test_data_ptr_follows_views_as_in_torch():
    x = mg.arange(12.0).reshape(3, 4)
    assert x.data_ptr() == x.data.__array_interface__["data"][0]
    assert x.T.data_ptr() == x.data_ptr()  # a view at offset 0
    assert x[1:].data_ptr() - x.data_ptr() == 4 * x.data.itemsize
    assert x[:, 2].data_ptr() - x.data_ptr() == 2 * x.data.itemsize
    assert x.clone().data_ptr() != x.data_ptr()
    assert mg.zeros(0).data_ptr() == 0


def test_data_ptr_offsets_match_torch():
    torch = _torch()
    t, x = torch.arange(24.0, dtype=torch.float64).reshape(4, 6), mg.arange(24.0).reshape(4, 6)
    for index in [(slice(1, None),), (slice(None), 3), (2, slice(1, 4)), (slice(None, None, 2),)]:
        assert x[index].data_ptr() - x.data_ptr() == t[index].data_ptr() - t.data_ptr(), index
    assert torch.empty(0).data_ptr() == mg.zeros(0).data_ptr() == 0


def test_queries_and_identities_of_a_real_dense_tensor():
    x = mg.tensor([1.0, -2.0], requires_grad=True)
    for name in torch_names_more.FALSE_PROPERTIES:
        assert getattr(x, name) is False, name
    for name in torch_names_more.FALSE_METHODS:
        assert getattr(x, name)() is False, name
    for name in torch_names_more.IDENTITY_METHODS:
        assert getattr(x, name)() is x, name
    assert x.real is x and mg.real(x) is x and mg.conj(x) is x and mg.resolve_neg(x) is x
    assert x.output_nr == 0
    assert x.layout is mg.strided and repr(mg.strided) == str(mg.strided) == "torch.strided"
    with pytest.raises(RuntimeError, match="imag is not implemented for tensors with non-complex dtypes"):
        x.imag
    with pytest.raises(RuntimeError, match="imag is not implemented"):
        mg.imag(x)


def test_queries_match_torch():
    torch = _torch()
    t, x = torch.tensor([1.0, -2.0]), mg.tensor([1.0, -2.0])
    for name in torch_names_more.FALSE_PROPERTIES:
        assert getattr(t, name) == getattr(x, name), name
    for name in ("is_conj", "is_neg", "is_pinned"):
        assert getattr(t, name)() == getattr(x, name)(), name
    for name in ("conj", "conj_physical", "resolve_conj", "resolve_neg", "share_memory_"):
        assert (getattr(t, name)() is t) == (getattr(x, name)() is x), name
    assert (t.real is t) and str(t.layout) == str(x.layout) and t.output_nr == x.output_nr
    with pytest.raises(RuntimeError) as expected:
        t.imag
    with pytest.raises(RuntimeError, match=str(expected.value)):
        x.imag


def test_angle_values_and_zero_gradient_match_torch():
    torch = _torch()
    values = [-1.0, 0.0, 2.0, np.nan, -0.0, np.inf, -np.inf]
    for dtype in (np.float64, np.float32):
        t = torch.tensor(np.array(values, dtype=dtype), requires_grad=True)
        x = mg.tensor(np.array(values, dtype=dtype), requires_grad=True)
        expected, got = torch.angle(t), x.angle()
        assert got.dtype == dtype and got.requires_grad
        np.testing.assert_array_equal(got.data, expected.detach().numpy())
        expected.sum().backward()
        got.sum().backward()
        np.testing.assert_array_equal(x.grad, t.grad.numpy())
    integers = torch.angle(torch.tensor([-3, 4])).numpy()
    np.testing.assert_allclose(mg.angle(mg.tensor([-3, 4]).long()).data, integers, rtol=1e-6)


def test_angle_without_torch():
    x = mg.tensor([-2.0, 3.0, np.nan], requires_grad=True)
    y = mg.angle(x)
    np.testing.assert_array_equal(y.data, [np.pi, 0.0, np.nan])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0])
    assert mg.angle(mg.tensor([-1, 1]).long()).dtype == mg.get_default_dtype()


# -- torch's top-level forms of nn.functional ----------------------------------------------------------------------


def _pair(rng, *shape):
    data = rng.standard_normal(shape)
    return data, mg.tensor(data, requires_grad=True)


def test_losses_take_reduction_as_an_int_as_torch():
    torch = _torch()
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    sign, probs = np.array([1.0, -1.0, 1.0]), 1 / (1 + np.exp(-b))
    cases = {
        "cosine_embedding_loss": ((a, b, sign, 0.1), {}),
        "margin_ranking_loss": ((a[:, 0], b[:, 0], sign, 0.2), {}),
        "hinge_embedding_loss": ((a, np.sign(b), 0.5), {}),
        "triplet_margin_loss": ((a, b, 2 * a, 1.0, 2.0, 1e-6, True), {}),
        "poisson_nll_loss": ((a, np.abs(b), True, True, 1e-8), {}),
        "binary_cross_entropy_with_logits": ((a, probs, np.abs(a), np.abs(b[0])), {}),
        "kl_div": ((a, b), {"log_target": True}),
    }
    for name, (args, kwargs) in cases.items():
        for reduction in (0, 1, 2):
            theirs = [torch.tensor(v, requires_grad=i == 0) if isinstance(v, np.ndarray) else v
                      for i, v in enumerate(args)]
            ours = [mg.tensor(v, requires_grad=i == 0) if isinstance(v, np.ndarray) else v
                    for i, v in enumerate(args)]
            expected = getattr(torch, name)(*theirs, reduction=reduction, **kwargs)
            got = getattr(mg, name)(*ours, reduction=reduction, **kwargs)
            np.testing.assert_allclose(got.data, expected.detach().numpy(), rtol=1e-10, err_msg=name)
            expected.sum().backward()
            got.sum().backward()
            np.testing.assert_allclose(ours[0].grad, theirs[0].grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)
        with pytest.raises(TypeError, match="must be int"):
            getattr(torch, name)(*[torch.tensor(v) if isinstance(v, np.ndarray) else v for v in args],
                                 reduction="sum", **kwargs)
        with pytest.raises(TypeError, match="must be int"):
            getattr(mg, name)(*ours, reduction="sum", **kwargs)


def test_top_level_losses_without_torch():
    a, b = mg.tensor([[0.5, -1.0]]), mg.tensor([[0.2, 0.4]])
    for reduction, expected in zip((0, 1, 2), ("none", "mean", "sum")):
        got = mg.kl_div(a, b, reduction)
        np.testing.assert_array_equal(got.data, F.kl_div(a, b, reduction=expected).data)
    with pytest.raises(TypeError, match="reduction"):
        mg.kl_div(a, b, "mean")
    with pytest.raises(ValueError, match="reduction"):
        mg.kl_div(a, b, 3)
    with pytest.raises(TypeError):
        mg.poisson_nll_loss(a, b)  # every argument is required at the top level, as in torch


def test_signatures_match_torchs_top_level():
    params = {name: list(inspect.signature(getattr(mg, name)).parameters) for name in (
        "batch_norm", "instance_norm", "poisson_nll_loss", "binary_cross_entropy_with_logits", "kl_div",
        "max_pool1d_with_indices", "constant_pad_nd", "alpha_dropout")}
    assert params["batch_norm"] == ["input", "weight", "bias", "running_mean", "running_var", "training",
                                    "momentum", "eps", "cudnn_enabled"]
    assert params["instance_norm"][5] == "use_input_stats"
    assert params["poisson_nll_loss"] == ["input", "target", "log_input", "full", "eps", "reduction"]
    assert params["binary_cross_entropy_with_logits"] == ["input", "target", "weight", "pos_weight", "reduction"]
    assert params["kl_div"] == ["input", "target", "reduction", "log_target"]
    assert params["max_pool1d_with_indices"] == ["input", "kernel_size", "stride", "padding", "dilation",
                                                 "ceil_mode"]
    assert params["constant_pad_nd"] == ["input", "pad", "value"]
    assert params["alpha_dropout"][:3] == ["input", "p", "train"]
    assert mg.conv_transpose3d is F.conv_transpose3d


def test_batch_and_instance_norm_in_atens_order_match_torch():
    torch = _torch()
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((4, 3, 5)), rng.standard_normal(3), rng.standard_normal(3)
    for training in (False, True):
        tm, tv = torch.tensor(rng.standard_normal(3)), torch.tensor(rng.uniform(0.5, 2, 3))
        mm, mv = mg.tensor(tm.numpy().copy()), mg.tensor(tv.numpy().copy())
        tx, mx = torch.tensor(x, requires_grad=True), mg.tensor(x, requires_grad=True)
        expected = torch.batch_norm(tx, torch.tensor(w), torch.tensor(b), tm, tv, training, 0.3, 1e-5, False)
        got = mg.batch_norm(mx, mg.tensor(w), mg.tensor(b), mm, mv, training, 0.3, 1e-5, False)
        np.testing.assert_allclose(got.data, expected.detach().numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(mm.data, tm.numpy(), rtol=1e-12)  # running statistics updated alike
        np.testing.assert_allclose(mv.data, tv.numpy(), rtol=1e-12)
        (expected * torch.tensor(x)).sum().backward()
        (got * mg.tensor(x)).sum().backward()
        np.testing.assert_allclose(mx.grad, tx.grad.numpy(), rtol=1e-8, atol=1e-12)
    expected = torch.instance_norm(torch.tensor(x), torch.tensor(w), torch.tensor(b), None, None, True, 0.1,
                                   1e-5, False)
    got = mg.instance_norm(mg.tensor(x), mg.tensor(w), mg.tensor(b), None, None, True, 0.1, 1e-5, False)
    np.testing.assert_allclose(got.data, expected.numpy(), rtol=1e-9, atol=1e-12)


def test_pooling_and_padding_forms_match_torch():
    torch = _torch()
    x = np.random.default_rng(2).standard_normal((2, 3, 7))
    tx, mx = torch.tensor(x, requires_grad=True), mg.tensor(x, requires_grad=True)
    calls = [("max_pool1d_with_indices", (2,), {}), ("max_pool1d_with_indices", (3, 2, 1, 1, True), {}),
             ("adaptive_max_pool1d", (3,), {}), ("constant_pad_nd", ([1, 2], 3.5), {}),
             ("constant_pad_nd", ((1, 2, 0, 1),), {}), ("max_pool1d_with_indices", (), {"kernel_size": 2})]
    for name, args, kwargs in calls:
        expected, got = getattr(torch, name)(tx, *args, **kwargs), getattr(mg, name)(mx, *args, **kwargs)
        assert isinstance(got, tuple) == isinstance(expected, tuple), name
        if isinstance(expected, tuple):
            np.testing.assert_array_equal(got[1].data, expected[1].numpy())
            assert got[1].dtype == np.int64
            expected, got = expected[0], got[0]
        np.testing.assert_array_equal(got.data, expected.detach().numpy())
        expected.pow(2).sum().backward()
        got.pow(2).sum().backward()
        np.testing.assert_allclose(mx.grad, tx.grad.numpy())


def test_dropout_forms():
    x = mg.ones(4, 6, 3, 2, requires_grad=True)
    assert mg.alpha_dropout(x, 0.5, False) is x and mg.feature_dropout(x, 0.5, False) is x
    assert mg.feature_alpha_dropout(x, 0.5, False) is x
    y = mg.feature_dropout(x, 0.5, True, rng=np.random.default_rng(0))
    kept = y.data[:, :, :1, :1]
    assert np.all(y.data == kept)  # one draw per (n, c): whole features dropped
    assert set(np.unique(y.data)) == {0.0, 2.0}
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, y.data)  # the gradient of x * mask is the mask
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        mg.feature_dropout(mg.ones(3), 0.5, True)
    z = mg.alpha_dropout(mg.ones(1000), 0.3, True, rng=np.random.default_rng(0))
    assert len(np.unique(np.round(z.data, 6))) == 2


def test_feature_dropout_mask_shape_as_torch():
    torch = _torch()
    for shape in [(3, 4), (2, 3, 5), (2, 3, 4, 5)]:
        t = torch.feature_dropout(torch.ones(shape), 0.5, True)
        m = mg.feature_dropout(mg.ones(*shape), 0.5, True)
        # the same mask shape: constant over the dimensions after the second
        for y in (t.numpy(), m.data):
            assert np.all(y == y[(slice(None), slice(None)) + (slice(0, 1),) * (len(shape) - 2)])
            assert set(np.unique(y)) <= {0.0, 2.0}


# -- window functions ----------------------------------------------------------------------------------------------


def test_windows_match_torch_in_float64_and_float32():
    torch = _torch()
    for name in WINDOWS:
        for length in (0, 1, 2, 3, 4, 5, 16, 33):
            for periodic in (True, False):
                for torch_dtype, dtype, atol in ((torch.float64, np.float64, 1e-14), (torch.float32, np.float32, 1e-6)):
                    expected = getattr(torch, name)(length, periodic, dtype=torch_dtype).numpy()
                    got = getattr(mg, name)(length, periodic, dtype=dtype)
                    assert got.dtype == expected.dtype and got.shape == expected.shape
                    np.testing.assert_allclose(got.data, expected, rtol=0, atol=atol, err_msg=f"{name}({length})")
    np.testing.assert_allclose(mg.hamming_window(9, False, 0.6, 0.3).data,
                               torch.hamming_window(9, False, 0.6, 0.3, dtype=torch.float64).numpy(), atol=1e-14)
    np.testing.assert_allclose(mg.kaiser_window(9, True, 5.0).data,
                               torch.kaiser_window(9, True, 5.0, dtype=torch.float64).numpy(), atol=1e-14)
    assert mg.hann_window(5).dtype == mg.get_default_dtype()


def test_windows_without_torch():
    np.testing.assert_allclose(mg.hann_window(4).data, [0.0, 0.5, 1.0, 0.5])  # periodic by default
    np.testing.assert_allclose(mg.hann_window(5, periodic=False).data, [0.0, 0.5, 1.0, 0.5, 0.0], atol=1e-15)
    np.testing.assert_allclose(mg.bartlett_window(5, False).data, [0.0, 0.5, 1.0, 0.5, 0.0])
    np.testing.assert_allclose(mg.kaiser_window(6, False, beta=3.0).data, np.kaiser(6, 3.0))
    np.testing.assert_allclose(mg.blackman_window(7, False).data, np.blackman(7), atol=1e-15)
    np.testing.assert_allclose(mg.hamming_window(7, False).data, np.hamming(7))
    for name in WINDOWS:
        window = getattr(mg, name)
        assert window(0).shape == (0,) and window(1).data.tolist() == [1.0]
        w = window(3, dtype=np.float32, requires_grad=True, device="cpu")
        assert w.dtype == np.float32 and w.requires_grad and w.is_leaf
        assert inspect.signature(window).parameters["periodic"].default is True
        with pytest.raises(RuntimeError, match="non-negative window_length"):
            window(-1)
        with pytest.raises(TypeError, match="must be int"):
            window(3.0)
        with pytest.raises(RuntimeError, match="floating point dtypes"):
            window(3, dtype=np.int64)
        with pytest.raises(RuntimeError, match="CPU only"):
            window(3, device="cuda")
    assert inspect.signature(mg.kaiser_window).parameters["beta"].default == 12.0
    assert inspect.signature(mg.hamming_window).parameters["alpha"].default == 0.54


# -- in-place functions and fill ------------------------------------------------------------------------------------


def test_in_place_functions_cover_torchs_where_the_method_exists():
    torch = _torch()
    torch_names = {name for name in dir(torch) if name.endswith("_") and not name.startswith("_")}
    with_method = {name for name in torch_names if hasattr(mg.Tensor, name)}
    assert with_method == set(torch_names_more.IN_PLACE)
    assert all(callable(getattr(mg, name)) for name in with_method)


def test_in_place_functions_write_into_their_tensor():
    for name in torch_names_more.IN_PLACE:
        assert hasattr(mg.Tensor, name) and callable(getattr(mg, name)), name
    x = mg.tensor([-1.0, 4.0])
    assert mg.abs_(x) is x and x.data.tolist() == [1.0, 4.0]
    assert mg.sqrt_(x) is x and x.data.tolist() == [1.0, 2.0]
    assert mg.clamp_(x, min=1.5) is x and x.data.tolist() == [1.5, 2.0]
    assert mg.clip_(x, 0, 1.8).data.tolist() == [1.5, 1.8]
    assert mg.fill_(x, 3).data.tolist() == [3.0, 3.0]
    assert mg.zero_(x).data.tolist() == [0.0, 0.0]
    y = mg.tensor([0.5, -0.5], requires_grad=True) * 1.0
    mg.sigmoid_(y)
    assert y.requires_grad and y.op is not None


def test_in_place_function_gradient_matches_torch():
    torch = _torch()
    data = np.array([0.3, -1.2, 2.0])
    t, x = torch.tensor(data, requires_grad=True), mg.tensor(data, requires_grad=True)
    ty, my = t * 2, x * 2
    for step in ("sin_", "neg_", "tanh_"):
        getattr(torch, step)(ty)
        getattr(mg, step)(my)
    np.testing.assert_allclose(my.data, ty.detach().numpy())
    ty.sum().backward()
    my.sum().backward()
    np.testing.assert_allclose(x.grad, t.grad.numpy())


def test_fill_matches_torch():
    torch = _torch()
    t, v = torch.ones(3, requires_grad=True), torch.tensor(2.0, requires_grad=True)
    x, w = mg.ones(3, requires_grad=True, dtype=np.float32), mg.tensor(2.0, requires_grad=True, dtype=np.float32)
    expected, got = torch.fill(t, v), mg.fill(x, w)
    np.testing.assert_array_equal(got.data, expected.detach().numpy())
    assert got.dtype == np.float32 and got.requires_grad
    expected.sum().backward()
    got.sum().backward()
    np.testing.assert_array_equal(x.grad, t.grad.numpy())
    np.testing.assert_array_equal(w.grad, v.grad.numpy())
    assert mg.fill(mg.tensor([1, 2]).long(), 2.7).data.tolist() == torch.fill(torch.tensor([1, 2]), 2.7).tolist()


def test_fill_without_torch():
    x = mg.tensor([1.0, 5.0])
    y = mg.fill(x, 7)
    assert y.data.tolist() == [7.0, 7.0] and x.data.tolist() == [1.0, 5.0]
    with pytest.raises(ValueError, match="single number"):
        mg.fill(x, mg.ones(2))


# -- global switches -----------------------------------------------------------------------------------------------


def test_deterministic_flags():
    assert mg.are_deterministic_algorithms_enabled() is False
    try:
        mg.use_deterministic_algorithms(True, warn_only=True)
        assert mg.are_deterministic_algorithms_enabled() is True
        assert mg.is_deterministic_algorithms_warn_only_enabled() is True
        with pytest.raises(TypeError, match="must be bool"):
            mg.use_deterministic_algorithms(1)
        with pytest.raises(TypeError):
            mg.use_deterministic_algorithms(True, True)  # warn_only is keyword-only, as in torch
    finally:
        mg.use_deterministic_algorithms(False)
    assert mg.is_deterministic_algorithms_warn_only_enabled() is False


def test_threads_and_default_device():
    n = mg.get_num_threads()
    assert isinstance(n, int) and n >= 1
    mg.set_num_threads(1)
    with pytest.raises(RuntimeError, match="positive integer"):
        mg.set_num_threads(0)
    with pytest.raises(RuntimeError, match="expects an int"):
        mg.set_num_threads(2.0)
    assert mg.get_default_device() == mg.device("cpu")
    for accepted in ("cpu", None, mg.device("cpu"), "cpu:0"):
        mg.set_default_device(accepted)
    with pytest.raises(RuntimeError, match="CPU only"):
        mg.set_default_device("cuda")
    with pytest.raises(RuntimeError, match="CPU only"):
        mg.set_default_device("meta")


def test_switch_errors_match_torch():
    torch = _torch()
    for call in (lambda m: m.set_num_threads(0), lambda m: m.set_num_threads(2.0),
                 lambda m: m.use_deterministic_algorithms("yes")):
        with pytest.raises(Exception) as theirs:
            call(torch)
        with pytest.raises(type(theirs.value)):
            call(mg)


def test_angle_is_recomputed_by_a_compiled_replay():
    def step(a):
        y = a.angle()
        y.sum().backward()
        return y.detach()

    compiled = mg.compile(step)
    np.testing.assert_array_equal(compiled(mg.tensor([1.0, -2.0], requires_grad=True)).data, [0.0, np.pi])
    x = mg.tensor([-1.0, 2.0], requires_grad=True)
    np.testing.assert_array_equal(compiled(x).data, [np.pi, 0.0])  # the replay: new signs, new values
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])


@pytest.fixture
def print_options():
    tensor_module = sys.modules["microgradnp.tensor"]  # (mg.tensor is the function)
    saved = dict(tensor_module._print_options)
    yield
    tensor_module._print_options.clear()
    tensor_module._print_options.update(saved)


@pytest.mark.parametrize("options", [{"precision": 2}, {"precision": 2, "sci_mode": False}, {"profile": "default"},
                                     {"profile": "short", "threshold": 5}, {"profile": "full", "sci_mode": True},
                                     {"linewidth": 30, "edgeitems": 1, "threshold": 3}])
def test_set_printoptions_prints_as_torch(options, print_options):
    torch = pytest.importorskip("torch")
    values = [[1.23456, 2e-5, 3.0], [4.5, -6.25, 100.0], [0.1, 0.2, 0.3], [7.0, 8.0, 9.0]]
    torch.set_printoptions(**options)
    mg.set_printoptions(**options)
    try:
        expected = repr(torch.tensor(values, dtype=torch.float64)).replace("dtype=torch.float64", "")
        expected = repr(torch.tensor(values)) if mg.get_default_dtype() == np.float32 else expected
        got = repr(mg.tensor(values))
    finally:
        torch.set_printoptions(profile="default")
    assert got.replace(" ", "").replace("\n", "") == expected.replace(" ", "").replace("\n", "").replace(",)", ")")


def test_set_printoptions_refuses_unknown_profiles_and_leaves_numpy_alone(print_options):
    before = np.get_printoptions()
    mg.set_printoptions(precision=1)
    assert np.get_printoptions() == before
    with pytest.raises(ValueError, match="profile must be one of"):
        mg.set_printoptions(profile="long")
    with pytest.raises(ValueError, match="precision must be a non-negative number"):
        mg.set_printoptions(precision=-1)
