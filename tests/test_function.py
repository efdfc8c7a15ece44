"""Custom primitives (``mg.Function``), ``mg.gradcheck`` and ``mg.detect_anomaly``."""

from __future__ import annotations

import numpy as np
import pytest

import microgradnp as mg


class MySigmoid(mg.Function):
    @staticmethod
    def forward(ctx, x):
        s = 1 / (1 + np.exp(-x))
        ctx.save_for_backward(s)
        return s

    @staticmethod
    def backward(ctx, grad):
        (s,) = ctx.saved_tensors
        return grad * s * (1 - s)


class SlipSigmoid(MySigmoid):
    """The lab's classic slip: sigmoid'(z) written as z * (1 - z) of the pre-activation."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return 1 / (1 + np.exp(-x))


class ScaledAdd(mg.Function):
    """Two inputs, a keyword parameter, and a None gradient for a constant."""

    @staticmethod
    def forward(ctx, a, b, scale=1.0):
        ctx.scale = scale
        return a + scale * b

    @staticmethod
    def backward(ctx, grad):
        return grad, (grad * ctx.scale if ctx.needs_input_grad[1] else None)


def test_custom_function_builds_graph_and_backward():
    x = mg.randn(4, 3, requires_grad=True, rng=0)
    y = MySigmoid.apply(x)
    assert y.op == "MySigmoid" and y.requires_grad and not y.is_leaf
    (y * y).sum().backward()
    s = 1 / (1 + np.exp(-x.data))
    np.testing.assert_allclose(x.grad, 2 * s * s * (1 - s), rtol=1e-12)


def test_custom_function_with_two_inputs_broadcasting_and_params():
    a = mg.randn(2, 3, requires_grad=True, rng=1)
    b = mg.randn(3, requires_grad=True, rng=2)
    out = ScaledAdd.apply(a, b, scale=2.5)
    np.testing.assert_allclose(out.data, a.data + 2.5 * b.data)
    out.sum().backward()
    np.testing.assert_array_equal(a.grad, np.ones((2, 3)))
    np.testing.assert_array_equal(b.grad, np.full(3, 2 * 2.5))  # summed over the broadcast axis
    assert mg.gradcheck(lambda p, q: ScaledAdd.apply(p, q, scale=-0.5), [a, b])


def test_custom_function_constant_input_needs_no_grad():
    a = mg.randn(3, requires_grad=True, rng=3)
    out = ScaledAdd.apply(a, np.ones(3), scale=2.0)
    out.sum().backward()
    np.testing.assert_array_equal(a.grad, np.ones(3))


def test_custom_function_without_grad_inputs_records_nothing():
    y = MySigmoid.apply(mg.tensor([0.0, 1.0]))
    assert not y.requires_grad and y.is_leaf


def test_gradcheck_accepts_correct_and_rejects_slip():
    x = mg.randn(5, requires_grad=True, rng=4)
    assert mg.gradcheck(MySigmoid.apply, [x])
    with pytest.raises(mg.GradcheckError, match=r"input 0 at index \(\d+,\).*analytic .* numeric"):
        mg.gradcheck(SlipSigmoid.apply, [x])


def test_gradcheck_names_the_worst_entry():
    class WrongAtOne(mg.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            g = grad * 2
            g[1, 2] += 0.5  # a small error at one entry, a larger one elsewhere
            g[0, 0] += 3.0
            return g

    x = mg.randn(2, 3, requires_grad=True, rng=5)
    with pytest.raises(mg.GradcheckError, match=r"index \(0, 0\)"):
        mg.gradcheck(lambda t: WrongAtOne.apply(t).sum(), [x])


def test_gradcheck_runs_in_float64_on_float32_inputs():
    x = mg.randn(4, requires_grad=True, dtype=np.float32, rng=6)
    # float32 finite differences with eps=1e-6 would be pure noise: passing shows float64 was used
    assert mg.gradcheck(lambda t: (t * t).exp().sum(), [x])


def test_gradcheck_with_a_non_tensor_argument_and_an_unused_input():
    x = mg.randn(3, requires_grad=True, rng=7)
    unused = mg.randn(3, requires_grad=True, rng=8)
    assert mg.gradcheck(lambda t, k, u: (t * k).sum(), [x, 3.0, unused])


def test_gradcheck_without_grad_inputs_has_nothing_to_check():
    with pytest.raises(ValueError, match="nothing to check"):
        mg.gradcheck(lambda t: t * 2.0, [mg.tensor([1.0])])


def test_gradcheck_function_must_return_a_tensor():
    with pytest.raises(TypeError, match="must return a Tensor"):
        mg.gradcheck(lambda t: 3.0, [mg.tensor([1.0], requires_grad=True)])


def test_backward_returning_wrong_number_of_grads_is_a_clear_error():
    class TooMany(mg.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, grad):
            return grad, grad

    x = mg.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"returned 2 gradient.*1 input"):
        TooMany.apply(x).sum().backward()


def test_function_subclass_without_forward_says_so():
    class Nothing(mg.Function):
        pass

    with pytest.raises(NotImplementedError, match="forward"):
        Nothing.apply(mg.tensor([1.0], requires_grad=True))


def test_differentiable_backward_gives_second_derivatives():
    class Square(mg.Function):
        differentiable_backward = True

        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return 2 * x * grad

    x = mg.tensor([1.5, -2.0], requires_grad=True)
    (g,) = mg.grad((Square.apply(x) * x).sum(), x, create_graph=True)  # d/dx x^3 = 3x^2
    np.testing.assert_allclose(g.data, 3 * x.data**2)
    (h,) = mg.grad(g.sum(), x)
    np.testing.assert_allclose(h.data, 6 * x.data)


# -- detect_anomaly -----------------------------------------------------------------------
def test_anomaly_in_forward_names_the_primitive_and_the_users_line():
    x = mg.tensor([1.0, -1.0], requires_grad=True)
    with mg.detect_anomaly(), pytest.raises(FloatingPointError) as info, np.errstate(invalid="ignore"):
        x.log()  # the line that must be named
    message = str(info.value)
    assert "log produced nan in its forward" in message
    assert "test_function.py" in message and "x.log()" in message


def test_anomaly_in_backward_names_the_primitive():
    x = mg.tensor([0.0, 1.0], requires_grad=True)
    with mg.detect_anomaly(), np.errstate(divide="ignore"):
        y = x.sqrt().sum()  # finite forward, infinite derivative at 0
        with pytest.raises(FloatingPointError, match=r"sqrt produced inf in its backward .*x\.sqrt\(\)\.sum\(\)"):
            y.backward()


def test_anomaly_in_backward_of_graph_built_outside_says_how_to_see_the_line():
    x = mg.tensor([0.0, 1.0], requires_grad=True)
    with np.errstate(divide="ignore"):
        y = x.sqrt().sum()
        with mg.detect_anomaly(), pytest.raises(FloatingPointError, match=r"inside mg\.detect_anomaly"):
            y.backward()


def test_without_anomaly_mode_nan_passes_silently_like_numpy():
    x = mg.tensor([-1.0], requires_grad=True)
    with np.errstate(invalid="ignore"):
        assert np.isnan(x.log().data).all()


def test_anomaly_mode_leaves_finite_computations_alone_and_restores():
    x = mg.tensor([1.0, 2.0], requires_grad=True)

    @mg.detect_anomaly()
    def run():
        (x.log() * x).sum().backward()

    run()
    np.testing.assert_allclose(x.grad, np.log([1.0, 2.0]) + 1)
    from microgradnp.autograd.grad_mode import mode

    assert mode.anomaly is False


def test_a_function_may_keep_its_own_order_in_ctx():
    """``ctx.order`` is the user's: the engine's creation stamp lives elsewhere."""

    class Permute(mg.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.order = np.argsort(a)
            return a[ctx.order]

        @staticmethod
        def backward(ctx, grad):
            out = np.empty_like(grad)
            out[ctx.order] = grad
            return out

    x = mg.tensor([3.0, 1.0, 2.0], requires_grad=True)
    (Permute.apply(x) * mg.tensor([1.0, 10.0, 100.0])).sum().backward()
    np.testing.assert_array_equal(x.grad, [100.0, 1.0, 10.0])
