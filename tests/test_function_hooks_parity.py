"""Custom Functions, tensor, node and module hooks against PyTorch (probed findings)."""

import warnings

import numpy as np
import pytest

import microgradnp as mg


def _values(t):
    return None if t is None else np.asarray(t.detach() if hasattr(t, "detach") else t, dtype=np.float64)


# -- Function.apply with keyword arguments ----------------------------------------------

def _scaled(base):
    """``x * w * k`` as a Function of ``base`` (microgradnp's or PyTorch's: the same code)."""

    class Scaled(base):
        @staticmethod
        def forward(ctx, x, w, k=1.0):
            ctx.save_for_backward(x, w)
            ctx.k = k
            return x * w * k

        @staticmethod
        def backward(ctx, g):
            x, w = ctx.saved_tensors
            return g * w * ctx.k, g * x * ctx.k, None

    return Scaled


_Scaled = _scaled(mg.Function)


class _ScaledSetup(mg.Function):
    @staticmethod
    def forward(x, w, k=1.0):
        return x * w * k

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, w, k = inputs
        ctx.save_for_backward(x, w)
        ctx.k = k

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        return g * w * ctx.k, g * x * ctx.k, None


@pytest.mark.parametrize("function", [_Scaled, _ScaledSetup])
def test_a_tensor_passed_by_keyword_gets_its_gradient_as_torch(function):
    torch = pytest.importorskip("torch")
    TorchScaled = _scaled(torch.autograd.Function)

    x0, w0 = np.array([1.0, 2.0]), np.array([3.0, -4.0])
    x, w = mg.tensor(x0, requires_grad=True), mg.tensor(w0, requires_grad=True)
    tx, tw = torch.tensor(x0, requires_grad=True), torch.tensor(w0, requires_grad=True)
    y = function.apply(x, k=2.0, w=w)  # (w by keyword, after k: bound to forward's order)
    ty = TorchScaled.apply(tx, k=2.0, w=tw)
    assert y.requires_grad
    np.testing.assert_allclose(y.data, ty.detach().numpy())
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy())
    np.testing.assert_allclose(w.grad, tw.grad.numpy())
    # Only a keyword given: the same.
    x.grad = None
    function.apply(w=mg.tensor(w0), x=x).sum().backward()
    np.testing.assert_allclose(x.grad, w0)


def test_a_tensor_for_a_keyword_only_parameter_is_refused():
    class KeywordOnly(mg.Function):
        @staticmethod
        def forward(ctx, x, *, w):
            return x * w

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(TypeError, match="keyword-only parameter 'w'"):
        KeywordOnly.apply(mg.tensor([1.0], requires_grad=True), w=mg.tensor([2.0], requires_grad=True))
    # Not Tensors: keyword arguments stay parameters, as before.
    assert KeywordOnly.apply(mg.tensor([1.0], requires_grad=True), w=2.0).requires_grad


# -- vjp, backward's other name ---------------------------------------------------------

def test_vjp_is_backward_under_another_name_as_torch():
    torch = pytest.importorskip("torch")

    def square(base):  # (the same code on microgradnp's Function and PyTorch's)
        class Square(base):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * x

            @staticmethod
            def vjp(ctx, g):
                (x,) = ctx.saved_tensors
                return 2 * x * g

        return Square

    Square, TorchSquare = square(mg.Function), square(torch.autograd.Function)

    x = mg.tensor([1.0, -3.0], requires_grad=True)
    tx = torch.tensor([1.0, -3.0], dtype=torch.float64, requires_grad=True)
    Square.apply(x).sum().backward()
    TorchSquare.apply(tx).sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy())
    mg.gradcheck(Square.apply, (mg.tensor([0.5, 2.0], requires_grad=True),))

    with pytest.raises(TypeError, match="both backward and vjp"):
        class Both(mg.Function):
            @staticmethod
            def forward(ctx, x):
                return x

            @staticmethod
            def backward(ctx, g):
                return g

            @staticmethod
            def vjp(ctx, g):
                return g


# -- outputs that are not arrays --------------------------------------------------------

def test_a_none_output_is_returned_as_it_is_and_backward_gets_none_for_it_as_torch():
    torch = pytest.importorskip("torch")
    seen = {}

    def with_none(base, library):  # (the same code on microgradnp's Function and PyTorch's)
        class WithNone(base):
            @staticmethod
            def forward(ctx, x):
                return x * 2, None

            @staticmethod
            def backward(ctx, g, g_none):
                seen[library] = g_none
                return g * 2

        return WithNone

    WithNone, TorchWithNone = with_none(mg.Function, "mg"), with_none(torch.autograd.Function, "torch")

    x = mg.tensor([1.0, 2.0], requires_grad=True)
    tx = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    y, nothing = WithNone.apply(x)
    ty, tnothing = TorchWithNone.apply(tx)
    assert nothing is None and tnothing is None
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy())
    assert seen == {"mg": None, "torch": None}


# -- double backward through a saved output the user no longer holds --------------------

class _SinCos(mg.Function):
    differentiable_backward = True

    @staticmethod
    def forward(ctx, x):
        s, c = np.sin(x), np.cos(x)
        ctx.save_for_backward(s, c)
        return s, c

    @staticmethod
    def backward(ctx, gs, gc):
        s, c = ctx.saved_tensors
        return gs * c - gc * s


@pytest.mark.parametrize("packed", [False, True])
def test_second_derivative_through_a_saved_output_that_was_dropped(packed):
    x0 = np.array([0.5, 1.5, -2.0])
    x = mg.tensor(x0, requires_grad=True)
    if packed:
        with mg.autograd.graph.saved_tensors_hooks(lambda t: t * 1, lambda t: t):
            s, c = _SinCos.apply(x)
    else:
        s, c = _SinCos.apply(x)
    del s  # saved by the node, but no longer held: its derivatives must still count
    (g,) = mg.grad(c.sum(), x, create_graph=True)
    (h,) = mg.grad(g.sum(), x)
    np.testing.assert_allclose(g.data, -np.sin(x0))
    np.testing.assert_allclose(h.data, -np.cos(x0))


# -- hooks on a leaf's AccumulateGrad node ----------------------------------------------

def _accumulate_grad_log(lib):
    x = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
    y = x * 3
    node = y.grad_fn.next_functions[0][0]
    log = []
    x.register_hook(lambda g: log.append(("tensor hook", _values(g).tolist())) or g + 1)
    node.register_prehook(lambda go: log.append(("prehook", _values(go[0]).tolist())) or (go[0] * 2,))
    node.register_hook(lambda gi, go: log.append(("hook", gi, _values(go[0]).tolist(), _values(x.grad).tolist())))
    x.register_post_accumulate_grad_hook(lambda t: log.append(("post accumulate", _values(t.grad).tolist())))
    z = (y + x * 2).sum()
    z.backward(retain_graph=True)
    log.append("grad")
    lib.autograd.grad(z, x, retain_graph=True)  # accumulates nothing: the node's hooks do not run
    log.append("inputs")
    z.backward(inputs=[x])
    return log, _values(x.grad).tolist()


def test_accumulate_grad_node_hooks_run_as_torchs():
    torch = pytest.importorskip("torch")
    assert _accumulate_grad_log(mg) == _accumulate_grad_log(torch)


def test_accumulate_grad_node_hook_results_are_checked():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    node = (x * 1).grad_fn.next_functions[0][0]
    handle = node.register_prehook(lambda go: go[0])
    with pytest.raises(RuntimeError, match="tuple of one gradient"):
        (x * 1).sum().backward()
    handle.remove()
    handle = node.register_hook(lambda gi, go: 5)
    with pytest.raises(RuntimeError, match="must return None"):
        (x * 1).sum().backward()
    handle.remove()
    x.grad = None
    (x * 1).sum().backward()
    np.testing.assert_allclose(x.grad, [1.0, 1.0])


# -- module backward hooks when no gradient came through the outputs --------------------

def _module_hook_calls(lib):
    nn = lib.nn

    class Cube(nn.Module):
        def forward(self, a):
            return a ** 3

    class AsDict(nn.Module):
        def forward(self, a):
            return {"y": a * 2}

    log = []

    def hook(module, grad_input, grad_output):
        log.append((type(module).__name__, [_values(g).tolist() for g in grad_input],
                    [_values(g).tolist() for g in grad_output]))

    cube, as_dict = Cube(), AsDict()
    cube.register_full_backward_hook(hook)
    as_dict.register_full_backward_hook(hook)
    a = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
    (g,) = lib.autograd.grad(cube(a).sum(), a, create_graph=True)
    (h,) = lib.autograd.grad(g.sum(), a)  # from the input's gradient to the input: no output gradient
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        as_dict(a)["y"].sum().backward()  # the output is no Tensor: only a warning, no hook call
    return log, _values(h).tolist(), _values(a.grad).tolist()


def test_module_backward_hooks_do_not_run_without_output_gradients_as_torch():
    torch = pytest.importorskip("torch")
    assert _module_hook_calls(mg) == _module_hook_calls(torch)


# -- PyTorch's older state-dict hook registrations --------------------------------------

def _legacy_state_dict_hooks(lib):
    nn = lib.nn
    model = nn.Sequential(nn.Linear(2, 1))
    model._register_state_dict_hook(lambda module, state, prefix, metadata: {"root": 1})
    model[0]._register_state_dict_hook(lambda module, state, prefix, metadata: {"child": 1})  # ignored
    keys = sorted(model.state_dict())

    model = nn.Sequential(nn.Linear(2, 1))
    log = []

    def rename(state, prefix, *rest):
        log.append((prefix, len(rest)))
        if prefix + "w" in state:
            state[prefix + "weight"] = state.pop(prefix + "w")

    model[0]._register_load_state_dict_pre_hook(rename)
    model[0]._register_load_state_dict_pre_hook(lambda module, *rest: log.append(type(module).__name__),
                                                with_module=True)
    state = dict(model.state_dict())
    state["0.w"] = state.pop("0.weight")
    result = model.load_state_dict(state)
    return keys, log, list(result.missing_keys), list(result.unexpected_keys)


def test_legacy_state_dict_hook_registrations_as_torch():
    torch = pytest.importorskip("torch")
    assert _legacy_state_dict_hooks(mg) == _legacy_state_dict_hooks(torch)


# -- the node API of a Function with arguments that are not Tensors ---------------------

def _node_of_function_with_a_number(lib):
    base = mg.Function if lib is mg else lib.autograd.Function

    class Scale(base):
        @staticmethod
        def forward(ctx, x, k, w):
            return x * k * w

        @staticmethod
        def backward(ctx, g):
            return g * 2, None, None

    x = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
    y = Scale.apply(x, 2.0, lib.tensor([3.0, 4.0], dtype=lib.float64))
    edges = [(None if node is None else type(node).__name__, i) for node, i in y.grad_fn.next_functions]
    sizes = []
    y.grad_fn.register_hook(lambda grad_inputs, grad_outputs: sizes.append(len(grad_inputs))
                            or (grad_inputs[0] * 10, grad_inputs[1]))
    y.sum().backward()
    return edges, sizes, _values(x.grad).tolist()


def test_a_user_functions_node_lists_its_tensor_inputs_only_as_torch():
    torch = pytest.importorskip("torch")
    assert _node_of_function_with_a_number(mg) == _node_of_function_with_a_number(torch)


def _always_call_after_a_failing_pre_hook(lib):
    module = lib.nn.Identity()
    log = []

    def failing(module, args):
        raise KeyError("pre-hook error")

    module.register_forward_pre_hook(failing)
    module.register_forward_hook(lambda module, args, output: log.append("always"), always_call=True)
    module.register_forward_hook(lambda module, args, output: log.append("not always"))
    with pytest.raises(KeyError, match="pre-hook error"):
        module(lib.tensor([1.0]))
    return log


def test_always_call_forward_hooks_run_when_a_pre_hook_raises_as_torch():
    torch = pytest.importorskip("torch")
    assert _always_call_after_a_failing_pre_hook(mg) == _always_call_after_a_failing_pre_hook(torch) == ["always"]


@pytest.mark.parametrize("register", ["register_full_backward_hook", "register_full_backward_pre_hook"])
def test_a_module_backward_hook_returning_a_wrong_shape_is_named(register):
    module = mg.nn.Tanh()
    wrong = mg.ones(3)
    hook = (lambda m, grad_input, grad_output: (wrong,)) if register == "register_full_backward_hook" \
        else (lambda m, grad_output: (wrong,))
    getattr(module, register)(hook)
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"hook of Tanh returned grad_\w+\[0\] of shape \(3,\)"):
        module(x).sum().backward()


def test_a_functions_forward_records_nothing_as_torch():
    torch = pytest.importorskip("torch")
    captured = mg.tensor([2.0], requires_grad=True)
    seen = {}

    class Twice(mg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            seen["ours"] = (mg.is_grad_enabled(), (captured * 3).requires_grad)
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad * 2

    class TorchTwice(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            seen["theirs"] = (torch.is_grad_enabled(), (torch.ones(1, requires_grad=True) * 3).requires_grad)
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad * 2

    x = mg.tensor([1.0], requires_grad=True)
    Twice.apply(x).sum().backward()
    TorchTwice.apply(torch.ones(1, requires_grad=True))
    assert seen["ours"] == seen["theirs"] == (False, False)
    assert x.grad.tolist() == [2.0] and mg.is_grad_enabled()


_MIXED = {
    "mul": lambda a, b: a * b, "div": lambda a, b: a / b, "pow": lambda a, b: a ** b,
    "sub_squared": lambda a, b: (a - b) * (a - b), "atan2": mg.atan2, "logaddexp": mg.logaddexp,
    "hypot": mg.hypot, "add_exp": lambda a, b: (a + b).exp(), "where": lambda a, b: mg.where(a > 1.5, a * b, b * b),
}


@pytest.mark.parametrize("name", sorted(_MIXED))
def test_second_derivatives_through_an_operand_promoted_to_float64(name):
    # a float32 operand promoted by the forward: the saved float64 copy must carry its derivatives
    # (they were lost: the gradient with respect to the float64 operand came back constant)
    function = _MIXED[name]
    values_a, values_b = np.array([1.0, 2.0], dtype=np.float32), np.array([3.0, 0.5])

    def hessian_sums(promote_first):
        a, b = mg.tensor(values_a, requires_grad=True), mg.tensor(values_b, requires_grad=True)
        first = function(a.double() if promote_first else a, b).sum()
        ga, gb = mg.grad(first, [a, b], create_graph=True)
        return [np.asarray(g, dtype=np.float64) for g in mg.grad(ga.sum() + gb.sum(), [a, b], allow_unused=True,
                                                                 materialize_grads=True)]

    for ours, expected in zip(hessian_sums(False), hessian_sums(True)):
        np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-6)  # (float32 rounding of the first gradients)
