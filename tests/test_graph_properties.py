"""Property tests of the graph walk: random programs in which tensors are used several
times (``x + x``, a result added to what it was made from, leaves reached directly and
through other nodes) give the leaves the gradient of central finite differences, of
``mg.grad``, of PyTorch (when installed) and, bit for bit, of a compiled replay."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import numeric_grad
from hypothesis import example, given, settings
from hypothesis import strategies as st

import microgradnp as mg

BINARY = ("add", "add", "sub", "mul")  # add (its rule gives one array to both inputs) twice as often
UNARY = ("tanh", "sin", "neg", "scale", "shift", "plus_sum", "plus_mean")


@st.composite
def programs(draw):
    """``(steps, losses)``: each step an op on earlier values (0 and 1 are the leaves, of
    shapes (3,) and (1,)); the loss sums the values listed in ``losses``."""
    steps = []
    for k in range(draw(st.integers(1, 8))):
        # the leaves and the newest value often: a leaf used by a node and directly is the hard case
        available = st.sampled_from((0, 1, k + 1)) | st.integers(0, k + 1)
        if draw(st.integers(0, 2)):
            steps.append((draw(st.sampled_from(BINARY)), draw(available), draw(available)))
        else:
            steps.append((draw(st.sampled_from(UNARY)), draw(available)))
    last = len(steps) + 1
    losses = sorted(set(draw(st.lists(st.integers(0, last), max_size=3))) | {last})
    return steps, losses


OPS = {
    "add": lambda a, b, f: a + b, "sub": lambda a, b, f: a - b, "mul": lambda a, b, f: a * b,
    "tanh": lambda a, b, f: f["tanh"](a), "sin": lambda a, b, f: f["sin"](a), "neg": lambda a, b, f: -a,
    "scale": lambda a, b, f: a * 1.5, "shift": lambda a, b, f: a + 0.25,
    "plus_sum": lambda a, b, f: a + a.sum(), "plus_mean": lambda a, b, f: a + a.mean(),
}


def run(program, x, y, **functions):
    """The program's loss on ``x`` and ``y``, with ``functions`` (tanh, sin) of their kind."""
    steps, losses = program
    values = [x, y]
    for op, *operands in steps:
        b = values[operands[1]] if len(operands) > 1 else None
        values.append(OPS[op](values[operands[0]], b, functions))
    total = values[losses[0]].sum()
    for k in losses[1:]:
        total = total + values[k].sum()
    return total


def run_mg(program, x, y):
    return run(program, x, y, tanh=mg.tanh, sin=mg.sin)


def run_numpy(program, x, y):
    return run(program, x, y, tanh=np.tanh, sin=np.sin)


# Found by hand: add's rule gave its gradient to (x + x) and to x, x kept it as .grad and
# then added into it in place what (x + x) passed on: 4 instead of 3.
X_PLUS_X_PLUS_X = ([("add", 0, 0), ("add", 2, 0)], [3])
X_PLUS_3X_PLUS_X = ([("scale", 0), ("add", 0, 2), ("add", 3, 0)], [4])
TANH_OF_SUM_PLUS_X = ([("add", 0, 0), ("tanh", 2), ("add", 3, 0), ("add", 4, 1)], [0, 5])
KNOWN = (X_PLUS_X_PLUS_X, X_PLUS_3X_PLUS_X, TANH_OF_SUM_PLUS_X)


def with_known(test):
    for program in KNOWN:
        test = example(program)(test)
    return test


X0 = np.array([0.3, -0.7, 1.1])
Y0 = np.array([0.45])


def backward_grads(program):
    x, y = mg.tensor(X0, requires_grad=True), mg.tensor(Y0, requires_grad=True)
    run_mg(program, x, y).backward()
    return [np.zeros_like(v) if t.grad is None else t.grad for t, v in ((x, X0), (y, Y0))]


@settings(max_examples=150, deadline=None)
@given(programs())
@with_known
def test_backward_gives_the_finite_difference_gradient(program):
    grads = backward_grads(program)
    for index, grad in enumerate(grads):
        expected = numeric_grad(lambda x, y: run_numpy(program, x, y), [X0, Y0], index)
        np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-8, err_msg=str(program))


@settings(max_examples=100, deadline=None)
@given(programs())
@with_known
def test_backward_and_mg_grad_agree_and_backward_accumulates(program):
    x, y = mg.tensor(X0, requires_grad=True), mg.tensor(Y0, requires_grad=True)
    expected = mg.grad(run_mg(program, x, y), [x, y], allow_unused=True)
    for _ in range(2):
        run_mg(program, x, y).backward()
    for leaf, value, grad in ((x, X0, expected[0]), (y, Y0, expected[1])):
        grad = np.zeros_like(value) if grad is None else grad.data
        got = np.zeros_like(value) if leaf.grad is None else leaf.grad
        np.testing.assert_allclose(got, 2 * grad, rtol=1e-12, atol=1e-15, err_msg=str(program))


@settings(max_examples=60, deadline=None)
@given(programs())
@with_known
def test_backward_agrees_with_pytorch(program):
    torch = pytest.importorskip("torch")
    x, y = (torch.tensor(v, requires_grad=True) for v in (X0, Y0))
    run(program, x, y, tanh=torch.tanh, sin=torch.sin).backward()
    for ours, theirs, value in zip(backward_grads(program), (x.grad, y.grad), (X0, Y0)):
        theirs = np.zeros_like(value) if theirs is None else theirs.numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15, err_msg=str(program))


@settings(max_examples=40, deadline=None)
@given(programs())
@with_known
def test_a_compiled_replay_gives_the_eager_gradients_bit_for_bit(program):
    expected = backward_grads(program)
    x, y = mg.tensor(X0, requires_grad=True), mg.tensor(Y0, requires_grad=True)

    @mg.compile
    def step():
        x.grad = y.grad = None
        run_mg(program, x, y).backward()

    for _ in range(3):  # the trace, then replays
        step()
        for leaf, grad in zip((x, y), expected):
            got = np.zeros_like(grad) if leaf.grad is None else leaf.grad
            np.testing.assert_array_equal(got, grad, err_msg=str(program))
