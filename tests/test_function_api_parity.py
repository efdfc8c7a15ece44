"""PyTorch parity of the custom-Function API (setup_context, mark_dirty, once_differentiable),
of mg.autograd.functional's keywords (strict, vectorize, strategy), and of a few names
(calculate_gain's checks, the global generator's state, vector_to_parameters(vec=),
forward(input=) of the norm layers, mse_loss's weight). PyTorch is the oracle."""

import warnings

import numpy as np
import pytest

import microgradnp as mg
from microgradnp.autograd.function import once_differentiable

torch = pytest.importorskip("torch")
TF = torch.autograd.functional
MF = mg.autograd.functional

X = np.array([0.5, -1.0, 2.0])
Y = np.array([1.5, 0.3, -0.7])


# -- setup_context style -------------------------------------------------------------------------


def _scaled_cube(base):
    """The same PyTorch 2-style Function, built on mg.Function or torch.autograd.Function."""

    class ScaledCube(base):
        @staticmethod
        def forward(x, scale=2.0):
            return scale * x**3

        @staticmethod
        def setup_context(ctx, inputs, output):
            x, scale = inputs  # (the default is bound in, as PyTorch binds it)
            ctx.save_for_backward(x)
            ctx.scale = scale

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * 3 * ctx.scale * x**2, None

    return ScaledCube


ScaledCube, TorchScaledCube = _scaled_cube(mg.Function), _scaled_cube(torch.autograd.Function)


@pytest.mark.parametrize("args", [(), (3.0,)])
def test_setup_context_style_matches_torch(args):
    x = mg.tensor(X, requires_grad=True)
    xt = torch.tensor(X, requires_grad=True)
    y, yt = ScaledCube.apply(x, *args), TorchScaledCube.apply(xt, *args)
    (y * mg.tensor(Y)).sum().backward()
    (yt * torch.tensor(Y)).sum().backward()
    np.testing.assert_allclose(y.data, yt.detach().numpy())
    np.testing.assert_allclose(x.grad, xt.grad.numpy())
    assert y.op == "ScaledCube"
    assert mg.gradcheck(ScaledCube.apply, [mg.randn(4, requires_grad=True, rng=0)])


def test_setup_context_style_with_a_differentiable_backward():
    class Cube(mg.Function):
        differentiable_backward = True

        @staticmethod
        def forward(x):
            return x**3

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * 3 * x**2

    assert mg.gradgradcheck(Cube.apply, [mg.randn(3, requires_grad=True, rng=1)])


def test_setup_context_with_a_ctx_forward_is_refused():
    with pytest.raises(TypeError, match="without ctx"):
        class Wrong(mg.Function):
            @staticmethod
            def forward(ctx, x):
                return x

            @staticmethod
            def setup_context(ctx, inputs, output):
                pass


def test_setup_context_style_replays_under_compile():
    w = mg.tensor(X, requires_grad=True)

    @mg.compile
    def step():
        w.grad = None
        loss = ScaledCube.apply(w).sum()
        loss.backward()
        return loss

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (a fallback to eager would warn)
        for k in range(3):
            with mg.no_grad():
                w += 0.25
            loss = step()
            assert loss.item() == pytest.approx((2 * w.data**3).sum())
            np.testing.assert_allclose(w.grad, 6 * w.data**2)
            assert k < 1 or step._replays  # (replayed, not traced again and again)


# -- mark_dirty ----------------------------------------------------------------------------------


class ExpInPlace(mg.Function):
    @staticmethod
    def forward(ctx, x):
        np.exp(x, out=x)
        ctx.mark_dirty(x)
        ctx.save_for_backward(x)  # (the output: exp's derivative)
        return x

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * y


class TorchExpInPlace(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        x.exp_()
        ctx.mark_dirty(x)
        ctx.save_for_backward(x)
        return x

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.saved_tensors[0]


def test_mark_dirty_records_the_in_place_change_as_torch():
    a, at = mg.tensor(X, requires_grad=True), torch.tensor(X, requires_grad=True)
    h, ht = a * 2, at * 2
    out, outt = ExpInPlace.apply(h), TorchExpInPlace.apply(ht)
    assert out is h and outt is ht  # the input itself, now the output of the operation
    assert h.op == "ExpInPlace"
    np.testing.assert_allclose(h.data, ht.detach().numpy())
    (h * h).sum().backward()
    (ht * ht).sum().backward()
    np.testing.assert_allclose(a.grad, at.grad.numpy())


def test_mark_dirty_on_a_plain_tensor_with_a_value_that_requires_grad():
    class AddInto(mg.Function):
        @staticmethod
        def forward(ctx, buffer, v):
            buffer += v
            ctx.mark_dirty(buffer)
            return buffer

        @staticmethod
        def backward(ctx, grad):
            return grad, grad

    class TorchAddInto(torch.autograd.Function):
        @staticmethod
        def forward(ctx, buffer, v):
            buffer.add_(v)
            ctx.mark_dirty(buffer)
            return buffer

        @staticmethod
        def backward(ctx, grad):
            return grad, grad

    b, v = mg.ones(3), mg.tensor(X, requires_grad=True)
    bt, vt = torch.ones(3, dtype=torch.float64), torch.tensor(X, requires_grad=True)
    assert AddInto.apply(b, v) is b and TorchAddInto.apply(bt, vt) is bt
    assert b.requires_grad and bt.requires_grad
    (b * b).sum().backward()
    (bt * bt).sum().backward()
    np.testing.assert_allclose(v.grad, vt.grad.numpy())


def test_mark_dirty_without_recording_as_torch():
    plain, plain_t = mg.tensor(X), torch.tensor(X)
    assert ExpInPlace.apply(plain) is plain and TorchExpInPlace.apply(plain_t) is plain_t
    np.testing.assert_allclose(plain.data, np.exp(X))
    with mg.no_grad():  # a leaf that requires grad, under no_grad: a new tensor of the same memory
        w = mg.tensor(X, requires_grad=True)
        out = ExpInPlace.apply(w)
    with torch.no_grad():
        wt = torch.tensor(X, requires_grad=True)
        outt = TorchExpInPlace.apply(wt)
    assert (out is w) == (outt is wt) is False
    assert out.requires_grad == outt.requires_grad is False
    np.testing.assert_allclose(w.data, np.exp(X))
    assert np.shares_memory(out.data, w.data)


def test_mark_dirty_on_a_leaf_that_requires_grad_raises_as_torch():
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        TorchExpInPlace.apply(torch.tensor(X, requires_grad=True))
    with pytest.raises(RuntimeError, match="requires grad and cannot be changed in place"):
        ExpInPlace.apply(mg.tensor(X, requires_grad=True))


def test_mark_dirty_of_an_array_not_returned_raises():
    class NotReturned(mg.Function):
        @staticmethod
        def forward(ctx, x):
            x *= 2
            ctx.mark_dirty(x)
            return x.copy()

        @staticmethod
        def backward(ctx, grad):
            return grad

    with pytest.raises(RuntimeError, match="mark_dirty for one input array"):
        NotReturned.apply(mg.tensor(X, requires_grad=True) * 1)


def test_mark_dirty_a_tensor_used_before_raises_instead_of_a_wrong_gradient():
    h = mg.tensor(X, requires_grad=True) * 2
    h.sin()  # (an operation recorded on h's old values)
    with pytest.raises(RuntimeError, match="already an input of an operation"):
        ExpInPlace.apply(h)


# -- once_differentiable -------------------------------------------------------------------------


class SquareOnce(mg.Function):
    differentiable_backward = True  # (the decorator wins: backward runs on arrays)

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        assert type(x) is np.ndarray and type(grad) is np.ndarray
        return 2 * x * grad


class TorchSquareOnce(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 2 * x * grad


def test_once_differentiable_first_derivative_then_refusal_as_torch():
    assert mg.autograd.function.once_differentiable is once_differentiable
    assert SquareOnce.differentiable_backward is False
    x, xt = mg.tensor(X, requires_grad=True), torch.tensor(X, requires_grad=True)
    (g,) = mg.grad(SquareOnce.apply(x).sum(), x, create_graph=True)
    (gt,) = torch.autograd.grad(TorchSquareOnce.apply(xt).sum(), xt, create_graph=True)
    np.testing.assert_allclose(g.data, gt.detach().numpy())
    with pytest.raises(RuntimeError):
        torch.autograd.grad(gt.sum(), xt)
    with pytest.raises(RuntimeError, match="marked with @once_differentiable"):
        mg.grad(g.sum(), x)
    x.grad = None
    SquareOnce.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * X)


# -- autograd.functional: strict, vectorize, strategy --------------------------------------------


def _strict_cases(F, T, ones, one):
    x, y, v = T(X), T(Y), T(np.ones(3))
    return {
        "jacobian, an input unused": lambda: F.jacobian(lambda a, b: a * 2, (x, y), strict=True),
        "jacobian, a constant output": lambda: F.jacobian(lambda a: ones(), x, strict=True),
        "jacobian, linear, create_graph": lambda: F.jacobian(lambda a: a * 2, x, strict=True, create_graph=True),
        "jacobian, strict and vectorize": lambda: F.jacobian(lambda a: a * 2, x, strict=True, vectorize=True),
        "jacobian, forward mode without vectorize": lambda: F.jacobian(lambda a: a * a, x, strategy="forward-mode"),
        "jacobian, forward mode and create_graph": lambda: F.jacobian(
            lambda a: a * a, x, strategy="forward-mode", vectorize=True, create_graph=True),
        "jacobian, forward mode and strict": lambda: F.jacobian(
            lambda a: a * a, x, strategy="forward-mode", vectorize=True, strict=True),
        "hessian, an input unused": lambda: F.hessian(lambda a, b: (a * a).sum(), (x, y), strict=True),
        "hessian, linear": lambda: F.hessian(lambda a: a.sum(), x, strict=True),
        "hessian, a product": lambda: F.hessian(lambda a, b: (a * b).sum(), (x, y), strict=True),
        "hessian, a constant": lambda: F.hessian(lambda a: one(), x, strict=True),
        "hessian, quadratic, create_graph": lambda: F.hessian(lambda a: (a * a).sum(), x, strict=True,
                                                              create_graph=True),
        "vjp, an input unused": lambda: F.vjp(lambda a, b: a * 2, (x, y), v, strict=True),
        "vjp, linear, create_graph": lambda: F.vjp(lambda a: a * 2, x, v, strict=True, create_graph=True),
        "jvp, an input unused": lambda: F.jvp(lambda a, b: a * 2, (x, y), (v, v), strict=True),
        "jvp, a constant output": lambda: F.jvp(lambda a: ones(), x, v, strict=True),
        "jvp, linear, create_graph": lambda: F.jvp(lambda a: a * 2, x, v, strict=True, create_graph=True),
        "hvp, linear": lambda: F.hvp(lambda a: a.sum(), x, v, strict=True),
        "hvp, an input unused": lambda: F.hvp(lambda a, b: (a * a).sum(), (x, y), (v, v), strict=True),
        "hvp, quadratic, create_graph": lambda: F.hvp(lambda a: (a * a).sum(), x, v, strict=True, create_graph=True),
        "vhp, linear": lambda: F.vhp(lambda a: a.sum(), x, v, strict=True),
        "vhp, quadratic, create_graph": lambda: F.vhp(lambda a: (a * a).sum(), x, v, strict=True, create_graph=True),
        "vhp, a constant": lambda: F.vhp(lambda a: one(), x, v, strict=True),
    }


TORCH_CASES = _strict_cases(TF, torch.tensor, lambda: torch.ones(3, dtype=torch.float64),
                            lambda: torch.tensor(1.0, dtype=torch.float64))
MG_CASES = _strict_cases(MF, mg.tensor, lambda: mg.ones(3), lambda: mg.tensor(1.0))


@pytest.mark.parametrize("case", list(TORCH_CASES))
def test_strict_and_option_checks_raise_as_torch(case):
    with pytest.raises((RuntimeError, NotImplementedError)) as expected:
        TORCH_CASES[case]()
    with pytest.raises(type(expected.value)) as got:
        MG_CASES[case]()
    if "user-provided function" in str(expected.value):  # strict's checks: PyTorch's own sentence
        assert str(got.value) == str(expected.value)
    else:  # the option checks: the same options named
        for option in ("create_graph", "strict", "vectorize"):
            assert (option in str(got.value)) == (option in str(expected.value).replace("vectorized", "vectorize"))


STRICT_OK = {
    "jacobian": lambda F, x, v: F.jacobian(lambda a: a * a * a, x, strict=True),
    "jacobian of a part": lambda F, x, v: F.jacobian(lambda a: a[:2] * 2, x, strict=True),
    "hessian": lambda F, x, v: F.hessian(lambda a: (a**3).sum(), x, strict=True, create_graph=True),
    "vjp": lambda F, x, v: F.vjp(lambda a: a * a, x, v, strict=True, create_graph=True)[1],
    "jvp": lambda F, x, v: F.jvp(lambda a: a * a, x, v, strict=True, create_graph=True)[1],
    "hvp": lambda F, x, v: F.hvp(lambda a: (a**3).sum(), x, v, strict=True)[1],
    "vhp": lambda F, x, v: F.vhp(lambda a: (a**3).sum(), x, v, strict=True)[1],
}


@pytest.mark.parametrize("case", list(STRICT_OK))
def test_strict_gives_the_same_numbers_where_torch_accepts(case):
    expected = STRICT_OK[case](TF, torch.tensor(X), torch.tensor(Y))
    got = STRICT_OK[case](MF, mg.tensor(X), mg.tensor(Y))
    np.testing.assert_allclose(got.data, expected.detach().numpy())


def test_vectorize_and_forward_mode_give_the_same_numbers():
    def f(a, b):
        return a * b.sum(), (a * a).sum()

    for options in ({"vectorize": True}, {"vectorize": True, "strategy": "forward-mode"}):
        expected = TF.jacobian(f, (torch.tensor(X), torch.tensor(Y)), **options)
        got = MF.jacobian(f, (mg.tensor(X), mg.tensor(Y)), **options)
        for row, row_t in zip(got, expected):
            for j, j_t in zip(row, row_t):
                np.testing.assert_allclose(j.data, j_t.numpy())
    expected = TF.hessian(lambda a: (a**3).sum(), torch.tensor(X), vectorize=True,
                          outer_jacobian_strategy="forward-mode")
    got = MF.hessian(lambda a: (a**3).sum(), mg.tensor(X), vectorize=True, outer_jacobian_strategy="forward-mode")
    np.testing.assert_allclose(got.data, expected.detach().numpy())


def test_an_unknown_strategy_is_refused():
    with pytest.raises(AssertionError):
        TF.jacobian(lambda a: a, torch.tensor(X), strategy="sideways")
    with pytest.raises(ValueError, match="forward-mode"):
        MF.jacobian(lambda a: a, mg.tensor(X), strategy="sideways")
    with pytest.raises(ValueError, match="forward-mode"):
        MF.hessian(lambda a: a.sum(), mg.tensor(X), outer_jacobian_strategy="sideways")


# -- calculate_gain ------------------------------------------------------------------------------


@pytest.mark.parametrize("param", [True, False, "0.2", [0.2]])
def test_calculate_gain_refuses_a_slope_that_is_not_a_number_as_torch(param):
    with pytest.raises(ValueError, match="not a valid number") as expected:
        torch.nn.init.calculate_gain("leaky_relu", param)
    with pytest.raises(ValueError) as got:
        mg.nn.init.calculate_gain("leaky_relu", param)
    assert str(got.value) == str(expected.value)


@pytest.mark.parametrize("args", [("leaky_relu",), ("leaky_relu", 0.2), ("leaky_relu", 1), ("relu",), ("tanh",),
                                  ("selu",), ("sigmoid",), ("conv2d",), ("linear", 5)])
def test_calculate_gain_values_as_torch(args):
    assert mg.nn.init.calculate_gain(*args) == pytest.approx(torch.nn.init.calculate_gain(*args))


def test_calculate_gain_refuses_an_unknown_nonlinearity():
    with pytest.raises(ValueError):
        torch.nn.init.calculate_gain("swish")
    with pytest.raises(ValueError, match="swish"):
        mg.nn.init.calculate_gain("swish")


# -- names ----------------------------------------------------------------------------------------


def test_get_and_set_rng_state_repeat_the_draws():
    mg.manual_seed(3)
    state = mg.get_rng_state()
    first = (mg.randn(4).data, mg.nn.Linear(3, 2).weight.data.copy())
    mg.set_rng_state(state)
    second = (mg.randn(4).data, mg.nn.Linear(3, 2).weight.data.copy())
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(mg.randn(4).data, first[0])  # (the state was a copy: draws moved on)
    with pytest.raises(TypeError):
        torch.set_rng_state([1, 2])
    with pytest.raises(TypeError, match="get_rng_state"):
        mg.set_rng_state([1, 2])


def test_vector_to_parameters_takes_vec_by_name():
    model = mg.nn.Linear(3, 2)
    vec = mg.arange(8, dtype=np.float64)
    mg.nn.utils.vector_to_parameters(vec=vec, parameters=model.parameters())
    tmodel = torch.nn.Linear(3, 2).double()
    torch.nn.utils.vector_to_parameters(vec=torch.arange(8, dtype=torch.float64), parameters=tmodel.parameters())
    np.testing.assert_array_equal(model.weight.data, tmodel.weight.detach().numpy())
    np.testing.assert_array_equal(model.bias.data, tmodel.bias.detach().numpy())


NORMS = {
    "BatchNorm1d": (lambda m: m.BatchNorm1d(3), (4, 3)),
    "BatchNorm2d": (lambda m: m.BatchNorm2d(3), (2, 3, 2, 2)),
    "BatchNorm3d": (lambda m: m.BatchNorm3d(3), (2, 3, 2, 1, 2)),
    "LayerNorm": (lambda m: m.LayerNorm(3), (4, 3)),
    "GroupNorm": (lambda m: m.GroupNorm(1, 3), (2, 3, 4)),
    "InstanceNorm1d": (lambda m: m.InstanceNorm1d(3), (2, 3, 4)),
    "InstanceNorm2d": (lambda m: m.InstanceNorm2d(3), (2, 3, 2, 2)),
    "InstanceNorm3d": (lambda m: m.InstanceNorm3d(3), (2, 3, 2, 1, 2)),
    "LocalResponseNorm": (lambda m: m.LocalResponseNorm(2), (2, 3, 4)),
}


@pytest.mark.parametrize("name", list(NORMS))
def test_norm_layers_take_input_by_name(name):
    make, shape = NORMS[name]
    data = np.random.default_rng(0).normal(size=shape)
    got = make(mg.nn)(input=mg.tensor(data))
    expected = make(torch.nn).double()(input=torch.tensor(data))
    np.testing.assert_allclose(got.data, expected.detach().numpy(), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("loss", ["mse_loss", "l1_loss", "huber_loss"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_weighted_losses_as_torch(loss, reduction):
    # (PyTorch's "mean" is sum(w * loss) / sum(w) for mse and l1, the mean of w * loss for huber)
    rng = np.random.default_rng(1)
    x, y, w = rng.normal(size=(4, 3)), rng.normal(size=(4, 3)) * 2, rng.random((4, 3))
    xm, wm = mg.tensor(x, requires_grad=True), mg.tensor(w, requires_grad=True)
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    got = getattr(mg.nn.functional, loss)(xm, mg.tensor(y), weight=wm, reduction=reduction)
    expected = getattr(torch.nn.functional, loss)(xt, torch.tensor(y), weight=wt, reduction=reduction)
    np.testing.assert_allclose(got.data, expected.detach().numpy())
    (got * mg.tensor(np.arange(1.0, 13.0).reshape(4, 3) if reduction == "none" else 1.0)).sum().backward()
    (expected * (torch.arange(1.0, 13.0, dtype=torch.float64).reshape(4, 3) if reduction == "none"
                 else 1.0)).sum().backward()
    np.testing.assert_allclose(xm.grad, xt.grad.numpy())
    np.testing.assert_allclose(wm.grad, wt.grad.numpy())


def test_mse_loss_weight_as_an_array_and_its_checks():
    rng = np.random.default_rng(2)
    x, y, w = rng.normal(size=5), rng.normal(size=5), rng.random(5)
    got = mg.nn.functional.mse_loss(mg.tensor(x), mg.tensor(y), weight=w)
    assert got.item() == pytest.approx((w * (x - y) ** 2).sum() / w.sum())
    with pytest.raises(ValueError, match="same size"):
        torch.nn.functional.mse_loss(torch.tensor(x), torch.tensor(y), weight=torch.ones(1))
    with pytest.raises(ValueError, match="same size"):
        mg.nn.functional.mse_loss(mg.tensor(x), mg.tensor(y), weight=np.ones(1))
    with pytest.raises(ValueError, match="huber_loss: weight and input must have the same size"):
        mg.nn.functional.huber_loss(mg.tensor(x), mg.tensor(y), weight=np.ones(1))
    with pytest.raises(ValueError, match="l1_loss: weight and input must have the same size"):
        mg.nn.functional.l1_loss(mg.tensor(x), mg.tensor(y), weight=np.ones(1))
    with pytest.raises(ValueError):
        torch.nn.functional.mse_loss(torch.tensor(x), torch.tensor(y), weight=torch.tensor(w), reduction="avg")
    with pytest.raises(ValueError):
        mg.nn.functional.mse_loss(mg.tensor(x), mg.tensor(y), weight=w, reduction="avg")


def test_initial_seed_is_the_seed_of_the_global_generator_as_pytorch():
    torch = pytest.importorskip("torch")
    for seed in (0, 5, -1, -5, 2**63, -(2**63)):
        mg.manual_seed(seed)
        torch.manual_seed(seed)
        assert mg.initial_seed() == torch.initial_seed()
    drawn = mg.seed()
    assert mg.initial_seed() == drawn
    first = mg.randn(3)
    mg.manual_seed(mg.initial_seed())
    np.testing.assert_array_equal(mg.randn(3).data, first.data)


@pytest.mark.parametrize("name", ["uniform", "normal", "constant", "eye", "dirac", "xavier_uniform", "xavier_normal",
                                  "kaiming_uniform", "kaiming_normal", "orthogonal", "sparse"])
def test_init_functions_under_their_deprecated_names_warn_as_pytorch(name):
    args = {"constant": (0.5,), "sparse": (0.5,)}.get(name, ())
    shape = (2, 3, 3) if name == "dirac" else (3, 4)
    ours = mg.tensor(np.zeros(shape))
    with pytest.warns(FutureWarning, match=rf"`nn.init.{name}` is now deprecated in favor of `nn.init.{name}_`"):
        returned = getattr(mg.nn.init, name)(ours, *args, **({"rng": 0} if name not in ("constant", "eye", "dirac")
                                                              else {}))
    assert returned is ours
    expected = mg.tensor(np.zeros(shape))
    getattr(mg.nn.init, f"{name}_")(expected, *args, **({"rng": 0} if name not in ("constant", "eye", "dirac") else {}))
    np.testing.assert_array_equal(ours.data, expected.data)
    with pytest.warns(FutureWarning, match="deprecated"):
        getattr(torch.nn.init, name)(torch.zeros(shape), *args)


class _Floor(mg.Function):
    @staticmethod
    def forward(ctx, x):
        return np.floor(x).astype(np.int64)

    @staticmethod
    def backward(ctx, grad):
        return grad


class _Identity(mg.Function):
    @staticmethod
    def forward(ctx, x):
        return x

    @staticmethod
    def backward(ctx, grad):
        return grad, None  # (an extra trailing None: dropped, as PyTorch drops it)


def test_a_functions_single_integer_output_has_no_gradient_as_pytorchs():
    x = mg.tensor([1.5, 2.5], requires_grad=True)
    y = _Floor.apply(x)
    assert not y.requires_grad and y.dtype == np.int64
    (y * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 2.0])  # (only through the product's x)


def test_an_input_a_function_returns_as_it_is_is_not_changed_by_a_write_into_the_output():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = _Identity.apply(x)
    with pytest.raises(RuntimeError, match="view of a leaf tensor that requires grad"):
        y.mul_(2)
    np.testing.assert_array_equal(x.data, [1.0, 2.0])
    (y * y).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])


def test_needs_input_grad_is_known_while_forward_runs():
    seen = []

    class Scale(mg.Function):
        @staticmethod
        def forward(ctx, x, w):
            seen.append(ctx.needs_input_grad)
            if ctx.needs_input_grad[0]:
                ctx.save_for_backward(w)
            return x * w

        @staticmethod
        def backward(ctx, grad):
            (w,) = ctx.saved_tensors
            return grad * w, None

    x = mg.tensor([1.0, 2.0], requires_grad=True)
    Scale.apply(x, mg.tensor([3.0, 4.0])).sum().backward()
    assert seen == [(True, False)]
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])
