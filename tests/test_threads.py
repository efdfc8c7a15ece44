"""Grad mode, anomaly mode and backward's own switching are per thread."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import nn, optim

STEPS = 2000


def _train(seed: int, steps: int, barrier: threading.Barrier | None = None) -> list[np.ndarray]:
    """SGD on the XOR set; every step also evaluates under no_grad (the switch that used to
    leak into other threads). Returns the first layer's gradient at every step."""
    X, y = mg.data.make_xor_easy()
    X, y = mg.tensor(X), mg.tensor(y)
    model = nn.MLP(2, (8, 8), 1, rng=seed)
    opt = optim.SGD(model.parameters(), lr=0.5)
    loss_fn = nn.MSELoss()
    grads = []
    if barrier is not None:
        barrier.wait()
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        grads.append(next(model.parameters()).grad.copy())
        opt.step()
        with mg.no_grad():
            prediction = model(X)
        assert not prediction.requires_grad
    return grads


def test_two_threads_training_get_the_gradients_of_single_threaded_runs():
    expected = {seed: _train(seed, STEPS) for seed in (0, 1)}
    got, errors = {}, []
    barrier = threading.Barrier(2)

    def run(seed):
        try:
            got[seed] = _train(seed, STEPS, barrier)
        except Exception as error:  # reported below: an exception in a thread is otherwise lost
            errors.append(error)

    threads = [threading.Thread(target=run, args=(seed,)) for seed in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for seed in (0, 1):
        wrong = sum(not np.array_equal(a, b) for a, b in zip(got[seed], expected[seed], strict=True))
        assert wrong == 0, f"seed {seed}: {wrong} of {STEPS} steps had different gradients"


def _in_thread(function):
    result = []
    thread = threading.Thread(target=lambda: result.append(function()))
    thread.start()
    thread.join()
    return result[0]


@pytest.mark.parametrize(
    "switch",
    [mg.no_grad, lambda: mg.set_grad_enabled(False)],
    ids=["no_grad", "set_grad_enabled"],
)
def test_no_grad_in_one_thread_does_not_stop_recording_in_another(switch):
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    with switch():
        assert not mg.is_grad_enabled()
        assert _in_thread(lambda: (x * 2).requires_grad)
    assert mg.is_grad_enabled()


def test_enable_grad_in_another_thread_does_not_leak_into_no_grad():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    with mg.no_grad():
        assert _in_thread(lambda: mg.is_grad_enabled())
        with mg.enable_grad():
            assert (x * 2).requires_grad
        assert not (x * 2).requires_grad


def test_anomaly_mode_is_per_thread():
    x = mg.tensor([0.0], requires_grad=True)
    with mg.detect_anomaly():
        with pytest.raises(FloatingPointError), np.errstate(divide="ignore"):
            mg.log(x)

        def log_in_thread():
            with np.errstate(divide="ignore"):  # NumPy's error state is per thread too
                return mg.log(x).data[0]

        assert _in_thread(log_in_thread) == -np.inf


def test_set_grad_enabled_called_alone_switches_until_switched_back():
    mg.set_grad_enabled(False)
    try:
        assert not mg.is_grad_enabled()
    finally:
        mg.set_grad_enabled(True)
    assert mg.is_grad_enabled()


def test_set_grad_enabled_as_decorator_switches_only_the_calls():
    @mg.set_grad_enabled(False)
    def inside():
        return mg.is_grad_enabled()

    assert mg.is_grad_enabled()
    assert inside() is False
    assert mg.is_grad_enabled()


@pytest.mark.parametrize("decorator", [mg.no_grad, mg.no_grad()], ids=["bare", "called"])
def test_no_grad_decorated_generator_records_nothing_in_its_body(decorator):
    x = mg.tensor([1.0, 2.0], requires_grad=True)

    @decorator
    def steps():
        received = yield (x * 2).requires_grad
        yield received, mg.is_grad_enabled()
        return "done"

    gen = steps()
    assert next(gen) is False
    assert mg.is_grad_enabled()  # the caller records between the steps
    assert (x * 2).requires_grad
    assert gen.send("sent") == ("sent", False)
    with pytest.raises(StopIteration) as stop:
        next(gen)
    assert stop.value.value == "done"


def test_enable_grad_decorated_generator_records_inside_no_grad():
    x = mg.tensor([1.0, 2.0], requires_grad=True)

    @mg.enable_grad()
    def steps():
        yield (x * 2).requires_grad

    with mg.no_grad():
        assert list(steps()) == [True]


def test_decorated_generator_passes_thrown_exceptions_and_close():
    closed = []

    @mg.no_grad()
    def steps():
        try:
            yield 1
        except ValueError:
            yield mg.is_grad_enabled()
        finally:
            closed.append(mg.is_grad_enabled())

    gen = steps()
    next(gen)
    assert gen.throw(ValueError("x")) is False
    gen.close()
    assert closed == [False]


def test_backward_in_one_thread_does_not_switch_recording_in_another():
    # backward() turns recording off (on with create_graph) while it runs; only in its thread.
    x = mg.tensor(np.linspace(-1, 1, 50), requires_grad=True)
    stop = threading.Event()
    results = []

    def forward_loop():
        while not stop.is_set():
            results.append((x * 3).requires_grad)

    thread = threading.Thread(target=forward_loop)
    thread.start()
    try:
        for _ in range(300):
            (x.sigmoid() * x).sum().backward()
    finally:
        stop.set()
        thread.join()
    assert results and all(results)


@pytest.mark.parametrize("compiled", [False, True])
def test_backward_in_two_threads_into_one_leaf_adds_every_gradient(compiled):
    # (the check that .grad is None and the in-place sum raced: a contribution was lost now and then)
    def run(w, step):
        threads = [threading.Thread(target=lambda: [step() for _ in range(5)]) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        np.testing.assert_array_equal(w.grad, 20.0)

    for _ in range(15):
        w = mg.tensor(np.ones(200_000), requires_grad=True)

        def backward(w=w):
            (w * 2.0).sum().backward()

        step = mg.compile(backward) if compiled else backward
        if compiled:
            step()
            w.grad = None
        run(w, step)
