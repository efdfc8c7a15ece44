"""PyTorch parity found by probing: the result dtype of joining tensors of mixed dtypes and of
clamping integer tensors at float bounds, comparisons with None, 0-d flips. Checked against
PyTorch (the oracle; skipped without it)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import microgradnp as mg

DTYPES = {"int64": (np.int64, "int64"), "bool": (np.bool_, "bool"), "float16": (np.float16, "float16"),
          "float32": (np.float32, "float32"), "float64": (np.float64, "float64")}


def _pair(torch, values, name):
    dtype, torch_name = DTYPES[name]
    array = np.asarray(values).astype(dtype)
    return mg.tensor(array, dtype=dtype), torch.tensor(array, dtype=getattr(torch, torch_name))


@pytest.mark.parametrize("first", list(DTYPES))
@pytest.mark.parametrize("second", list(DTYPES))
def test_cat_and_stack_of_mixed_dtypes_give_torchs_result_dtype(torch, first, second):
    (a, ta), (b, tb) = _pair(torch, [1, 0], first), _pair(torch, [0, 1], second)
    for ours, theirs in ((mg.cat([a, b]), torch.cat([ta, tb])), (mg.stack([a, b]), torch.stack([ta, tb]))):
        assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
        np.testing.assert_array_equal(ours.data, theirs.numpy())


def test_cat_of_mixed_float_dtypes_gives_each_input_its_gradient_in_its_own_dtype(torch):
    half = mg.tensor(np.array([1.0, 2.0], np.float16), dtype=np.float16, requires_grad=True)
    single = mg.tensor(np.array([3.0], np.float32), dtype=np.float32, requires_grad=True)
    out = mg.cat([half, single])
    assert out.dtype == np.float32
    (out * mg.tensor(np.array([1.0, 2.0, 3.0], np.float32), dtype=np.float32)).sum().backward()
    assert half.grad.dtype == np.float16 and single.grad.dtype == np.float32
    np.testing.assert_array_equal(half.grad, [1.0, 2.0])
    np.testing.assert_array_equal(single.grad, [3.0])
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    (gx, gy) = mg.autograd.grad((mg.cat([x, single]) ** 2).sum(), [x, single], create_graph=True)
    assert gx.dtype == np.float64 and gy.dtype == np.float32
    (gx.sum() + gy.sum()).backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])


@pytest.mark.parametrize("default", [np.float64, np.float32])
@pytest.mark.parametrize("bounds", [{"min": 2.5}, {"min": 2}, {"max": 2}, {"min": 1, "max": 2.5}])
def test_clamping_an_integer_tensor_at_a_float_bound_gives_the_default_float_dtype(torch, default, bounds):
    before = mg.get_default_dtype()
    torch_before = torch.get_default_dtype()
    mg.set_default_dtype(default)
    torch.set_default_dtype(torch.float64 if default is np.float64 else torch.float32)
    try:
        a, ta = _pair(torch, [1, 3], "int64")
        ours, theirs = a.clamp(**bounds), ta.clamp(**bounds)
        assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
        np.testing.assert_array_equal(ours.data, theirs.numpy())
    finally:
        mg.set_default_dtype(before)
        torch.set_default_dtype(torch_before)


def test_clamp_in_place_refuses_a_float_bound_on_an_integer_tensor(torch):
    a, ta = _pair(torch, [1, 3], "int64")
    with pytest.raises(RuntimeError, match="can't be cast"):
        ta.clamp_(min=1.5)
    with pytest.raises(mg.errors.DtypeError, match="cannot be cast to this tensor's dtype int64 in place"):
        a.clamp_(min=1.5)
    np.testing.assert_array_equal(a.data, [1, 3])  # unchanged
    a.clamp_(min=2)
    np.testing.assert_array_equal(a.data, [2, 3])


def test_a_tensor_compared_with_none_or_a_string_is_unequal_as_torch(torch):
    for lib in (mg, torch):
        t = lib.tensor([1.0, 2.0])
        assert (t == None) is False and (t != None) is True  # noqa: E711  (what is tested)
        assert (None == t) is False and (t == "a") is False and (t != "a") is True  # noqa: E711, SIM300
        assert t in [None, t]
    assert (mg.tensor([1.0, 2.0]) == 1.0).tolist() == [True, False]


def test_flipping_a_0d_tensor_along_its_dim_0_is_the_tensor_as_torch(torch):
    x = mg.tensor(2.5, requires_grad=True)
    for dims in (0, -1, (0,)):
        torch_dims = (dims,) if isinstance(dims, int) else dims
        assert mg.flip(x, dims).item() == torch.flip(torch.tensor(2.5), torch_dims).item()
    x.flip(0).backward()
    assert x.grad == 1.0
    with pytest.raises(IndexError):
        x.flip(1)
    with pytest.raises(ValueError, match="repeated"):
        x.flip((0, 0))


# -- views of a plain tensor taken before a value that requires grad was written into it ---------
def _buffer_with_an_early_view():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    buffer = mg.zeros(3)
    early = buffer[1:3]  # a view taken while the buffer is a plain tensor
    buffer[0:2] = x * 2.0  # the buffer's memory now holds values of x's graph
    return x, buffer, early


@pytest.mark.parametrize("use", [lambda v: v * 3.0, lambda v: v.sum(), lambda v: v[0:1], lambda v: mg.exp(v)])
def test_a_view_taken_before_a_write_that_brings_a_graph_refuses_to_be_used(use):
    # It shows the new values (x's) without being in their graph: x's gradient through it would
    # be silently missing (PyTorch's view tracking puts it in the graph).
    _, _, early = _buffer_with_an_early_view()
    np.testing.assert_array_equal(early.data, [4.0, 0.0])
    with pytest.raises(RuntimeError, match="view taken before a value that requires grad was written"):
        use(early)
    with mg.no_grad():
        np.testing.assert_array_equal(use(early).data, use(mg.tensor(early.data)).data)  # a constant there


@pytest.mark.parametrize("write", [
    lambda v: v.__setitem__(0, 7.0), lambda v: v.mul_(2.0), lambda v: v.fill_(3.0), lambda v: v.__iadd__(1.0)])
def test_writing_through_a_view_taken_before_a_write_that_brings_a_graph_raises(torch, write):
    # PyTorch records the write on the buffer (v.grad [1, 0] after a[0] = 7) or refuses it; writing
    # through unrecorded would leave the buffer's graph describing values it no longer holds.
    _, buffer, early = _buffer_with_an_early_view()
    with pytest.raises(RuntimeError, match="view taken before a value that requires grad was written"):
        write(early)
    np.testing.assert_array_equal(buffer.data, [2.0, 4.0, 0.0])


def test_views_taken_after_the_write_and_detached_views_are_fine(torch):
    x, buffer, _ = _buffer_with_an_early_view()
    later = buffer[0:2]
    (later * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [6.0, 6.0])
    weights = mg.tensor([1.0, 1.0], requires_grad=True)
    (buffer.detach()[0:2] * weights).sum().backward()  # a constant, as PyTorch's detach
    np.testing.assert_array_equal(weights.grad, [2.0, 4.0])
    h = mg.tensor([1.0, 2.0], requires_grad=True)
    rows = mg.zeros(3, 2)
    for t in range(3):  # an RNN's output buffer, row by row
        rows[t] = h * (t + 1.0)
    rows.sum().backward()
    np.testing.assert_array_equal(h.grad, [6.0, 6.0])


# -- indexing as PyTorch reads it -------------------------------------------------------------
INDICES = {  # (rows r, columns c, a 0-d index i) -> the index
    "[r, c]": lambda r, c, i: [r, c], "[[0, 1], [1, 0]]": lambda r, c, i: [[0, 1], [1, 0]],
    "[[0, 1]]": lambda r, c, i: [[0, 1]], "[0, :]": lambda r, c, i: [0, slice(None)], "[0, 1]": lambda r, c, i: [0, 1],
    "i": lambda r, c, i: i, "[i, i]": lambda r, c, i: [i, i], "[r, None]": lambda r, c, i: [r, None],
    "[..., 1]": lambda r, c, i: [Ellipsis, 1]}


@pytest.mark.parametrize("index", list(INDICES))
def test_a_list_holding_index_sequences_indexes_as_a_tuple_as_torch(torch, index):
    values = np.arange(12.0).reshape(3, 4)
    weights = np.random.default_rng(0).standard_normal(values.shape)
    got = []
    for lib in (mg, torch):
        t = lib.tensor(values, requires_grad=True)
        parts = [lib.tensor(np.array(v), dtype=lib.int64) for v in ([0, 1], [1, 2], 1)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (torch warns that the list form is deprecated)
            out = t[INDICES[index](*parts)]
        (out * lib.tensor(np.ones(tuple(out.shape)))).sum().backward()
        (t * lib.tensor(weights)).sum().backward()
        got.append((tuple(out.shape), np.asarray(out.detach().numpy() if lib is torch else out.data),
                    np.asarray(t.grad)))
    assert got[0][0] == got[1][0]
    np.testing.assert_array_equal(got[0][1], got[1][1])
    np.testing.assert_array_equal(got[0][2], got[1][2])


def test_indexing_with_a_0d_integer_tensor_gives_a_view_as_torch(torch):
    for lib in (mg, torch):
        a = lib.zeros(2, 3)
        i = lib.tensor(np.array(1), dtype=lib.int64)
        a[i].add_(1.0)
        a[i][0] = 5.0
        np.testing.assert_array_equal(np.asarray(a), [[0, 0, 0], [5, 1, 1]])


def test_view_refuses_a_shape_that_needs_a_copy_as_torch(torch):
    values = np.arange(6.0).reshape(2, 3)
    for lib, error in ((mg, ValueError), (torch, RuntimeError)):
        a = lib.tensor(values)
        with pytest.raises(error, match="view size is not compatible with input tensor's size and stride"):
            a.T.view(6)
        with pytest.raises(error, match="view size is not compatible"):
            a[:, :2].view(4)
        assert tuple(a.T.contiguous().view(6).shape) == (6,) and tuple(a[:, :2].view(2, 2, 1).shape) == (2, 2, 1)
        v = a.view(3, 2)
        v[0, 0] = 9.0  # the same memory
        assert float(a[0, 0]) == 9.0


@pytest.mark.parametrize("write", [lambda v: v.__setitem__(0, 7.0), lambda v: v.mul_(2.0), lambda v: v.__iadd__(1.0)])
@pytest.mark.parametrize("leaf", [True, False])
def test_a_view_made_under_no_grad_is_not_written_in_place_with_grad_mode_on_as_torch(torch, write, leaf):
    for lib in (torch, mg):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        base = x if leaf else x * 1.0
        with lib.no_grad():
            view = base[1:3]
        with pytest.raises(RuntimeError, match="no_grad mode"):  # (the change would bypass base's graph)
            write(view)
        with lib.no_grad():
            write(view)  # both inside no_grad: fine
            write(base[0:2])


@pytest.mark.parametrize("name", ["sum", "mean", "nansum", "nanmean", "amax", "amin", "std", "var", "count_nonzero",
                                  "norm", "var_mean", "std_mean"])
@pytest.mark.parametrize("dim", [(), []])
def test_an_empty_dim_reduces_every_axis_as_torch_and_an_empty_axis_none_as_numpy(torch, name, dim):
    values = np.arange(6.0).reshape(2, 3)
    x = mg.tensor(values, requires_grad=True)
    calls = [getattr(mg, name)(x, dim=dim)]
    if hasattr(x, name):
        calls.append(getattr(x, name)(dim=dim))
    theirs = getattr(torch, name)(torch.tensor(values), dim=dim)
    theirs = theirs if isinstance(theirs, tuple) else (theirs,)
    for ours in calls:
        ours = ours if isinstance(ours, tuple) else (ours,)
        for a, b in zip(ours, theirs, strict=True):
            assert a.shape == tuple(b.shape) == ()
            np.testing.assert_allclose(a.data, b.numpy(), rtol=1e-12)
    if name in ("sum", "mean"):
        assert getattr(mg, name)(x, axis=()).shape == (2, 3)  # NumPy's reading of axis=()


# -- PyTorch's keyword names ------------------------------------------------------------------
INITS = ["uniform_", "normal_", "trunc_normal_", "orthogonal_", "xavier_uniform_", "xavier_normal_",
         "kaiming_uniform_", "kaiming_normal_"]


@pytest.mark.parametrize("name", INITS)
def test_init_functions_take_torchs_generator_as_their_rng(name):
    init = getattr(mg.nn.init, name)
    weight = mg.nn.Parameter(np.empty((3, 4)))
    by_generator = init(weight, generator=np.random.default_rng(3)).data.copy()
    by_rng = init(weight, rng=np.random.default_rng(3)).data.copy()
    by_seed = init(weight, generator=3).data.copy()
    np.testing.assert_array_equal(by_generator, by_rng)
    np.testing.assert_array_equal(by_generator, by_seed)
    assert not np.array_equal(by_generator, init(weight, generator=4).data)
    with pytest.raises(TypeError, match="both generator= and rng="):
        init(weight, generator=1, rng=2)


def test_constant_takes_torchs_val(torch):
    weight = mg.nn.Parameter(np.empty(3))
    t = torch.empty(3)
    np.testing.assert_array_equal(mg.nn.init.constant_(weight, val=2.5).data, torch.nn.init.constant_(t, val=2.5))
    np.testing.assert_array_equal(mg.nn.init.constant_(weight, 1.5).data, [1.5] * 3)
    np.testing.assert_array_equal(mg.nn.init.constant_(weight, value=0.5).data, [0.5] * 3)
    with pytest.raises(TypeError, match="once"):
        mg.nn.init.constant_(weight, 1.0, value=2.0)


@pytest.mark.parametrize("options", [{}, {"atol": 1e-3}, {"rtol": 1e-3}, {"atol": 1e-3, "rtol": 1e-12},
                                     {"rtol": 1e-5, "rcond": None}])
@pytest.mark.parametrize("hermitian", [False, True])
def test_pinv_takes_torchs_atol_and_rtol(torch, options, hermitian):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 3))
    a[:, 2] = a[:, 0] * 1e-9  # a singular value far below the others: the tolerances decide
    matrix = a @ a.T if hermitian else a
    options = {k: v for k, v in options.items() if v is not None}
    ours = mg.linalg.pinv(mg.tensor(matrix), hermitian=hermitian, **options)
    theirs = torch.linalg.pinv(torch.tensor(matrix), hermitian=hermitian, **options)
    np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(mg.pinverse(mg.tensor(a)).data, torch.pinverse(torch.tensor(a)).numpy(), rtol=1e-6,
                               atol=1e-8)
    with pytest.raises(TypeError, match="rcond"):
        mg.linalg.pinv(mg.tensor(a), rcond=1e-5, rtol=1e-5)


def test_gather_takes_torchs_sparse_grad(torch):
    values, index = np.arange(6.0).reshape(2, 3), np.array([[0, 0], [2, 1]])
    x, t = mg.tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)
    mg.gather(x, 1, index, sparse_grad=True).sum().backward()
    torch.gather(t, 1, torch.tensor(index), sparse_grad=True).sum().backward()
    np.testing.assert_array_equal(x.grad, t.grad.to_dense().numpy())  # (dense here, the same values)


# -- the Module API --------------------------------------------------------------------------
def test_parameter_dict_orders_a_plain_dict_and_has_dicts_methods_as_torch(torch):
    from collections import OrderedDict

    for lib in (mg, torch):
        plain = lib.nn.ParameterDict({"w": lib.nn.Parameter(lib.ones(2)), "v": lib.nn.Parameter(lib.zeros(2))})
        ordered = lib.nn.ParameterDict(OrderedDict([("w", lib.nn.Parameter(lib.ones(2))),
                                                    ("v", lib.nn.Parameter(lib.zeros(2)))]))
        assert list(plain) == list(plain.state_dict()) == ["v", "w"]  # a plain dict's keys sorted
        assert list(ordered) == ["w", "v"]
        assert plain.copy()["v"] is plain["v"] and list(reversed(plain)) == ["w", "v"]
        extra = lib.nn.Parameter(lib.ones(1))
        assert plain.setdefault("a", extra) is extra and plain.setdefault("a", None) is extra
        assert plain.popitem()[0] == "a" and list(plain) == ["v", "w"]
        merged = plain | ordered
        assert list(merged) == ["v", "w"] and merged["w"] is ordered["w"]
        assert list(plain.fromkeys(["x", "y"], lib.ones(1))) == ["x", "y"]
        plain |= ordered
        assert plain["v"] is ordered["v"]


def test_module_type_casts_integer_buffers_too_as_torch(torch):
    for lib in (mg, torch):
        norm = lib.nn.BatchNorm1d(3)
        norm.type(lib.float64)
        assert str(norm.num_batches_tracked.dtype).endswith("float64") and str(norm.weight.dtype).endswith("float64")
    norm = mg.nn.BatchNorm1d(3)
    norm.to(np.float64)
    assert norm.num_batches_tracked.dtype == np.int64  # to(dtype) keeps them, as PyTorch's


def test_deep_copying_a_module_leaves_the_gradients_behind_as_torch(torch):
    import copy

    for lib in (mg, torch):
        layer = lib.nn.Linear(2, 2)
        layer(lib.ones(1, 2, dtype=layer.weight.dtype)).sum().backward()
        layer.bias.requires_grad_(False)
        twin = copy.deepcopy(layer)
        assert layer.weight.grad is not None and twin.weight.grad is None
        assert twin.weight.requires_grad and not twin.bias.requires_grad
        assert type(twin.weight).__name__ == "Parameter"
        np.testing.assert_array_equal(np.asarray(twin.weight.detach()), np.asarray(layer.weight.detach()))
        shared = copy.deepcopy(lib.nn.Sequential(layer, layer))
        assert shared[0] is shared[1] and shared[0].weight is shared[1].weight
    ints = mg.nn.Parameter(np.array([1, 2]), requires_grad=False, dtype=np.int64)
    assert copy.deepcopy(ints).dtype == np.int64


def _counter_model(lib):
    class Counter(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = lib.nn.Linear(2, 2)
            self.steps = 0

        def get_extra_state(self):
            return {"steps": self.steps}

        def set_extra_state(self, state):
            self.steps = state["steps"]

    class Outer(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = Counter()
            self.register_buffer("b", lib.zeros(1))

    return Outer


def test_extra_state_is_saved_and_restored_as_torch(torch):
    for lib in (mg, torch):
        outer = _counter_model(lib)
        model = outer()
        model.a.steps = 7
        state = model.state_dict()
        assert list(state) == ["b", "a._extra_state", "a.lin.weight", "a.lin.bias"]
        assert state["a._extra_state"] == {"steps": 7}
        other = outer()
        assert repr(other.load_state_dict(state)) == "<All keys matched successfully>"
        assert other.a.steps == 7
        del state["a._extra_state"]
        with pytest.raises(RuntimeError, match=r"a\._extra_state"):
            outer().load_state_dict(state)
        assert list(outer().load_state_dict(state, strict=False).missing_keys) == ["a._extra_state"]
    with pytest.raises(RuntimeError, match="override"):
        mg.nn.Linear(2, 2).get_extra_state()


def test_unpad_sequence_takes_whole_number_float_lengths():
    from microgradnp.nn.utils import rnn

    padded = mg.zeros(3, 3, 2)
    assert [t.shape for t in rnn.unpad_sequence(padded, mg.tensor([3, 1, 2]), batch_first=True)] == [
        (3, 2), (1, 2), (2, 2)]
    with pytest.raises(TypeError, match="lengths must hold integers"):
        rnn.unpad_sequence(padded, mg.tensor([3, 1.5, 2]), batch_first=True)


# -- creation, formatting and conversions ------------------------------------------------------
CREATIONS = {
    "arange(-3.7, 0, int64)": lambda lib: lib.arange(-3.7, 0, dtype=lib.int64),
    "arange(-2.5, 1, int64)": lambda lib: lib.arange(-2.5, 1, dtype=lib.int64),
    "arange(end=5)": lambda lib: lib.arange(end=5, dtype=lib.float64),  # (mg.arange is float by default)
    "linspace(-1, 0, 3, int64)": lambda lib: lib.linspace(-1, 0, 3, dtype=lib.int64),
    "linspace(-1.5, 1.5, 4, int64)": lambda lib: lib.linspace(-1.5, 1.5, 4, dtype=lib.int64),
    "linspace(steps=)": lambda lib: lib.linspace(0, 1, steps=5),
    "linspace(start=, end=, steps=)": lambda lib: lib.linspace(start=0, end=1, steps=3),
    "logspace(0.5, 2.5, 3, int64)": lambda lib: lib.logspace(0.5, 2.5, 3, dtype=lib.int64),
    "zeros(size=)": lambda lib: lib.zeros(size=(2, 3)),
    "ones(size=)": lambda lib: lib.ones(size=[2]),
    "full(size=, fill_value=)": lambda lib: lib.full(size=(2,), fill_value=1.5),
    "full with a 0-d fill": lambda lib: lib.full((2,), lib.tensor(1.5)),
    "full_like with a 0-d fill": lambda lib: lib.full_like(lib.zeros(2), lib.tensor(2.0)),
    "zeros_like(input=)": lambda lib: lib.zeros_like(input=lib.ones(2)),
}


@pytest.mark.parametrize("name", list(CREATIONS))
def test_constructors_take_torchs_keywords_and_integer_semantics(torch, name):
    ours, theirs = CREATIONS[name](mg), CREATIONS[name](torch)
    np.testing.assert_array_equal(ours.data, theirs.numpy())
    assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")


def test_random_constructors_take_size_and_generator():
    assert mg.rand(size=(2, 3)).shape == (2, 3) and mg.empty(size=(1, 2)).shape == (1, 2)
    np.testing.assert_array_equal(mg.randn(3, generator=0).data, np.random.default_rng(0).standard_normal(3))
    with pytest.raises(ValueError, match="step must be nonzero"):
        mg.arange(0, 1, 0.3, dtype=mg.int64)  # (0.3 is 0 in int64, as in PyTorch)
    with pytest.raises(TypeError, match="needs the end"):
        mg.arange()


def test_generator_is_torchs_seeded_generator(torch):
    import copy
    import pickle

    assert mg.Generator().initial_seed() == torch.Generator().initial_seed()
    generator = mg.Generator().manual_seed(0)
    assert generator.initial_seed() == 0 and isinstance(generator, np.random.Generator)
    np.testing.assert_array_equal(mg.randn(3, generator=generator).data,
                                  np.random.default_rng(0).standard_normal(3))
    state = generator.get_state()
    first = mg.rand(2, generator=generator).data
    np.testing.assert_array_equal(mg.rand(2, generator=generator.set_state(state)).data, first)
    for twin in (pickle.loads(pickle.dumps(generator)), copy.deepcopy(generator)):
        assert type(twin) is mg.Generator and twin.initial_seed() == 0
        again = copy.deepcopy(twin)
        np.testing.assert_array_equal(mg.rand(2, generator=twin).data, mg.rand(2, generator=again).data)
    data = mg.data.TensorDataset(mg.arange(10.0))
    splits = [mg.data.random_split(data, [0.5, 0.5], generator=mg.Generator().manual_seed(1))[0].indices
              for _ in range(2)]
    assert list(splits[0]) == list(splits[1])
    assert str(generator.device) == "cpu"
    with pytest.raises(RuntimeError, match="CPU only"):
        mg.Generator("cuda")


def test_0d_tensors_format_as_their_number_and_others_as_their_repr(torch):
    for lib in (mg, torch):
        assert f"{lib.tensor(2.5)}" == "2.5" and f"{lib.tensor(2.5):.2f}" == "2.50"
        assert f"{lib.tensor(2.5):5}|" == "  2.5|"
        assert f"{lib.tensor(3, dtype=lib.int64):d}" == "3"
        assert f"{lib.tensor([1.0, 2.0])}" == str(lib.tensor([1.0, 2.0]))


def test_membership_and_index_conversion_as_torch(torch):
    import operator

    for lib in (mg, torch):
        matrix = lib.tensor([[1.0, 2.0], [3.0, 4.0]])
        assert lib.tensor([1.0, 2.0]) in matrix and 3.0 in matrix and 5 not in matrix
        assert lib.tensor([3.0, 9.0]) in matrix  # anywhere, elementwise
        with pytest.raises(RuntimeError, match="only supports Tensor or scalar"):
            _ = "a" in matrix
        assert [10, 20, 30][lib.tensor([1], dtype=lib.int64)] == 20
        assert operator.index(lib.tensor(True, dtype=lib.bool)) == 1
        with pytest.raises(TypeError):
            [1, 2][lib.tensor([0, 1], dtype=lib.int64)]
        with pytest.raises(TypeError):
            operator.index(lib.tensor(1.0))


@pytest.mark.parametrize(("left", "right"), [("int64", "float32"), ("float32", "int64"), ("int32", "float16"),
                                             ("float64", "float32")])
def test_matrix_products_of_mixed_dtypes_give_torchs_promoted_dtype(torch, left, right):
    a = mg.tensor(np.ones((2, 3)), dtype=getattr(np, left))
    b = mg.tensor(np.ones((3, 2)), dtype=getattr(np, right), requires_grad=right.startswith("float"))
    out = a @ b
    promoted = torch.promote_types(getattr(torch, left), getattr(torch, right))
    assert str(out.dtype) == str(promoted).removeprefix("torch.")
    if b.requires_grad:
        out.sum().backward()
        assert b.grad.dtype == b.dtype


def test_where_of_two_numbers_takes_the_default_dtype(torch):
    before = mg.get_default_dtype()
    mg.set_default_dtype(np.float32)
    try:
        condition = mg.tensor([True, False], dtype=bool)
        assert mg.where(condition, 1, 0.5).dtype == np.float32 and mg.where(condition, 1, 2).dtype == np.int64
    finally:
        mg.set_default_dtype(before)


def test_pytorchs_old_sized_tensor_constructor_is_refused_not_misread():
    with pytest.raises(TypeError, match=r"requires_grad must be True or False, got 3.*mg\.empty\(2, 3\)"):
        mg.Tensor(2, 3)  # it was the number 2 requiring grad
    with pytest.raises(TypeError, match="requires_grad must be True or False"):
        mg.nn.Parameter(mg.Tensor(4, 5))
    assert mg.Tensor(2, True).requires_grad and mg.Tensor(3).shape == ()


@pytest.mark.parametrize(("mean", "std"), [("float32", None), ("float32", "float64"), ("float64", "float32"),
                                           (None, "float32"), ("float16", "float32")])
def test_normal_takes_the_dtype_of_a_tensor_mean_else_of_a_tensor_std_as_torch(torch, mean, std):
    def arguments(lib, module):
        return [0.0 if name is None else lib.zeros(2, dtype=getattr(module, name)) + value
                for name, value in ((mean, 0.0), (std, 1.0))]

    ours = mg.normal(*arguments(mg, np))
    theirs = torch.normal(*arguments(torch, torch))
    assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
