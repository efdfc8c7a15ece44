"""mg.compile is never stale: what a function reads from places a replay does not run
again (a settings module, default arguments, generators, optimizer hooks, library code
that reads tensor values) re-traces, runs eagerly, or raises, as eager execution needs."""

import contextlib
import importlib
import types
import warnings

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import nn, optim


def _compare(function, changes):
    """Call ``function`` eagerly and compiled after each change; the results must agree."""
    compiled = mg.compile(function)
    for change in changes:
        change()
        np.testing.assert_array_equal(compiled().data, function().data)
        np.testing.assert_array_equal(compiled().data, function().data)  # (replayed, not only traced)
    return compiled


def test_values_read_through_a_settings_module_are_guarded(tmp_path, monkeypatch):
    (tmp_path / "lab_settings.py").write_text(
        "import numpy as np\nimport microgradnp as mg\n"
        "SCALE = 1.0\nOPTIONS = {'shift': 0.0}\nnet = mg.nn.Linear(2, 1, rng=0)\n"
        "target = mg.tensor(np.zeros((1, 1)))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    settings = importlib.import_module("lab_settings")
    x = mg.tensor(np.ones((1, 2)))

    def predict():
        with mg.no_grad():
            return (settings.net(x) - settings.target) * settings.SCALE + settings.OPTIONS["shift"]

    def rebind(name, value):
        return lambda: setattr(settings, name, value)

    compiled = _compare(predict, [lambda: None, rebind("SCALE", 3.0), lambda: settings.OPTIONS.update(shift=5.0),
                                  rebind("net", nn.Linear(2, 1, rng=5)), rebind("target", mg.ones(1, 1))])
    assert compiled.traces == 5


def test_default_arguments_are_guarded():
    config = {"scale": 1.0}
    x = mg.tensor(np.ones(2))

    def scaled(cfg=config, power=1.0):
        return x * cfg["scale"] ** power

    def replace_defaults():
        scaled.__defaults__ = ({"scale": 7.0}, 2.0)

    compiled = _compare(scaled, [lambda: None, lambda: config.update(scale=3.0), replace_defaults])
    assert compiled.traces == 3


def test_a_users_module_attribute_set_behind_its_back_is_seen():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.temperature = nn.Linear(2, 1, rng=0), 1.0

        def forward(self, x):
            return self.fc(x) / self.temperature

    net, x = Net(), mg.tensor(np.ones((1, 2)))

    def predict():
        with mg.no_grad():
            return net(x)

    _compare(predict, [lambda: None, lambda: vars(net).update(temperature=10.0),
                       lambda: object.__setattr__(net, "temperature", 4.0)])


HIDDEN = {"noise": np.random.default_rng(0)}
HELPERS_GENERATOR = np.random.default_rng(0)
DEFAULTS_GENERATOR = np.random.default_rng(0)


def _noise():
    return mg.tensor(HELPERS_GENERATOR.standard_normal(3))


@pytest.mark.parametrize("where", ["a global dict", "a default argument", "a helper's global",
                                   "an attribute two levels down"])
def test_numpy_generators_wherever_they_are_make_the_function_run_eagerly(where):
    x = mg.tensor(np.zeros(3))
    config = types.SimpleNamespace(sub=types.SimpleNamespace(rng=np.random.default_rng(0)))
    functions = {
        "a global dict": lambda: x + mg.tensor(HIDDEN["noise"].standard_normal(3)),
        "a default argument": lambda rng=DEFAULTS_GENERATOR: x + mg.tensor(rng.standard_normal(3)),
        "a helper's global": lambda: x + _noise(),
        "an attribute two levels down": lambda: x + mg.tensor(config.sub.rng.standard_normal(3)),
    }
    compiled = mg.compile(functions[where])
    with pytest.warns(UserWarning, match="random numbers drawn with NumPy"):
        draws = [compiled().data for _ in range(3)]
    assert not np.array_equal(draws[0], draws[1]) and not np.array_equal(draws[1], draws[2])


def test_a_dropout_layers_own_generator_is_replayed_not_refused():
    model = nn.Sequential(nn.Linear(2, 8, rng=0), nn.Dropout(0.5, rng=1))
    x = mg.tensor(np.ones((4, 2)))
    compiled = mg.compile(lambda: model(x))
    with mg.no_grad():
        masks = [compiled().data for _ in range(3)]
    assert compiled._eager_reason is None and compiled.traces == 1
    assert not np.array_equal(masks[1], masks[2])  # (a fresh mask at every replay)


def test_step_hooks_registered_after_tracing_run():
    def make():
        model = nn.Linear(2, 1, rng=0)
        opt = optim.SGD(model.parameters(), lr=0.1)
        x, y = mg.tensor(np.ones((4, 2))), mg.tensor(np.zeros((4, 1)))

        def step():
            opt.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            opt.step()
            return loss

        return model, opt, step

    def skip_update(opt, args, kwargs):
        for p in opt.param_groups[0]["params"]:
            p.grad = None

    (eager_model, eager_opt, eager_step), (model, opt, step) = make(), make()
    step = mg.compile(step)
    handles = []
    for call in range(6):
        if call == 2:
            handles = [eager_opt.register_step_pre_hook(skip_update), opt.register_step_pre_hook(skip_update)]
        if call == 4:
            for handle in handles:
                handle.remove()
        with pytest.warns(UserWarning) if call == 2 else contextlib.nullcontext():
            step()
        eager_step()
        np.testing.assert_array_equal(model.weight.data, eager_model.weight.data)


def test_library_functions_that_read_tensor_values_run_eagerly():
    rnn = nn.utils.rnn
    padded = mg.tensor(np.arange(8.0).reshape(4, 2, 1))
    lengths = mg.tensor([4, 1], dtype=mg.int64)

    def packed_sum():
        return rnn.pack_padded_sequence(padded, lengths, enforce_sorted=False).data.sum()

    a, b = mg.tensor(np.ones((2, 3))), mg.tensor(np.ones((3, 2)))
    dims = mg.tensor(1)

    def contracted():
        return mg.tensordot(a, b, dims=dims)

    lu = mg.tensor(np.eye(3) + np.triu(np.ones((3, 3)), 1))
    pivots = mg.tensor([1, 2, 3], dtype=mg.int32)

    def permutation():
        return mg.lu_unpack(lu, pivots).P

    for function, change in ((packed_sum, lambda: lengths.data.__setitem__(slice(None), [2, 3])),
                             (contracted, lambda: dims.data.__setitem__((), 0)),
                             (permutation, lambda: pivots.data.__setitem__(slice(None), [3, 2, 3]))):
        compiled = mg.compile(function)
        with pytest.warns(UserWarning, match="reads tensor values"):
            compiled()
        change()
        np.testing.assert_array_equal(compiled().data, function().data)


@pytest.mark.parametrize("make", [lambda x, y: x.new_tensor(y), lambda x, y: x.new(y)])
def test_a_copy_of_a_tensors_values_is_refused_as_mg_tensor_is(make):
    x, y = mg.tensor(np.zeros(3)), mg.tensor(np.ones(3))
    with pytest.raises(mg.TraceError, match="a copy of a tensor's values"):
        mg.compile(lambda: make(x, y) * 2)()


def test_a_parameter_given_another_memory_layout_retraces():
    weight = mg.tensor(np.random.default_rng(0).standard_normal((40, 30)), requires_grad=True)

    def total():
        weight.grad = None
        s = (weight * 1.1).exp().sum(axis=0).sum()
        s.backward()
        return s

    def fortran_order():
        weight.data = np.asfortranarray(weight.data)

    compiled = mg.compile(total)
    for change in (lambda: None, fortran_order):
        change()
        for _ in range(2):
            got = compiled()
            grad = weight.grad.copy()
            expected = total()
            assert got.data.tobytes() == expected.data.tobytes()
            np.testing.assert_array_equal(grad, weight.grad)
    assert compiled.traces == 2


@pytest.mark.parametrize("kind", ["dict", "list", "setattr", "vars"])
def test_a_change_the_function_makes_to_your_data_makes_it_run_eagerly(kind):
    # A hidden state carried between calls in a dict or list, a counter set with setattr:
    # a replay would not make the change again, and would read the traced value for good.
    x = mg.tensor(np.random.default_rng(1).normal(size=(4, 2, 3)))

    def run(compiled):
        gru = nn.GRU(3, 5, rng=0)
        holder = {"h": None} if kind == "dict" else [None] if kind == "list" else types.SimpleNamespace(h=None)

        def step():
            h = holder["h"] if kind == "dict" else holder[0] if kind == "list" else holder.h
            out, h = gru(x, h)
            if kind == "dict":
                holder["h"] = h.detach()
            elif kind == "list":
                holder[0] = h.detach()
            elif kind == "setattr":
                setattr(holder, "h", h.detach())  # noqa: B010
            else:
                vars(holder)["h"] = h.detach()
            return out.sum()

        function = mg.compile(step) if compiled else step
        with mg.no_grad():
            return [function().data.tobytes() for _ in range(4)]

    with pytest.warns(UserWarning, match="a change the function made"):
        compiled = run(True)
    assert compiled == run(False)


def test_data_the_function_makes_itself_is_no_change_outside():
    w = mg.tensor(np.ones(3), requires_grad=True)

    @mg.compile
    def step(x):
        w.grad = None
        metrics = {"parts": []}
        metrics["parts"].append((w * x).sum())
        loss = metrics["parts"][0] * 2
        loss.backward()
        return loss.detach()

    for value in (1.0, 2.0, 3.0):
        assert step(mg.tensor(np.full(3, value))).item() == 6 * value
    assert step.traces == 1 and step._eager_reason is None


def test_instance_norm_running_statistics_follow_each_batch():
    X = np.random.default_rng(0).normal(size=(4, 3, 5, 5))

    def run(compiled):
        norm = nn.InstanceNorm2d(3, affine=True, track_running_stats=True)

        def step(x):
            loss = norm(x).pow(3).mean()
            loss.backward()
            return loss

        function = mg.compile(step) if compiled else step
        losses = [function(mg.tensor(X * (i + 1), requires_grad=True)).item() for i in range(3)]
        return losses, norm.running_mean.data.tobytes(), norm.running_var.data.tobytes()

    assert run(True) == run(False)


def test_a_list_your_module_keeps_and_its_forward_changes_makes_the_function_run_eagerly():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.seen = nn.Linear(2, 1, rng=0), []

        def forward(self, x):
            self.seen.append(len(self.seen))
            return self.fc(x) * len(self.seen)

    net, x = Net(), mg.tensor(np.ones((1, 2)))
    compiled = mg.compile(lambda: net(x))
    with mg.no_grad(), pytest.warns(UserWarning, match="a change the function made"):
        outputs = [compiled().item() for _ in range(3)]
    assert net.seen == [0, 1, 2] and outputs == [net.fc(x).item() * n for n in (1, 2, 3)]


LAYERS_WITH_THEIR_OWN_GENERATOR = {  # (layer, input shape): each draws inside an operation a replay runs again
    "Dropout": (lambda rng: nn.Dropout(0.4, rng=rng), (4, 6)),
    "Dropout1d": (lambda rng: nn.Dropout1d(0.4, rng=rng), (4, 3, 6)),
    "Dropout2d": (lambda rng: nn.Dropout2d(0.4, rng=rng), (2, 3, 4, 4)),
    "AlphaDropout": (lambda rng: nn.AlphaDropout(0.4, rng=rng), (4, 6)),
    "FeatureAlphaDropout": (lambda rng: nn.FeatureAlphaDropout(0.4, rng=rng), (4, 3, 6)),
    "RReLU": (lambda rng: nn.RReLU(rng=rng), (4, 6)),
    "GRU dropout": (lambda rng: nn.GRU(6, 5, num_layers=2, dropout=0.4, rng=rng), (3, 4, 6)),
    "LSTM dropout": (lambda rng: nn.LSTM(6, 5, num_layers=3, dropout=0.4, rng=rng), (3, 4, 6)),
    "MultiheadAttention dropout": (lambda rng: nn.MultiheadAttention(6, 2, dropout=0.4, rng=rng), (3, 4, 6)),
}


@pytest.mark.parametrize("layer", list(LAYERS_WITH_THEIR_OWN_GENERATOR))
def test_a_layer_drawing_from_its_own_generator_replays_with_fresh_draws(layer):
    make, shape = LAYERS_WITH_THEIR_OWN_GENERATOR[layer]

    def run(compiled):
        module = make(np.random.default_rng(0))
        x = mg.tensor(np.random.default_rng(1).normal(size=shape), requires_grad=True)

        def step():
            out = module(x, x, x) if layer.startswith("Multihead") else module(x)
            loss = ((out[0] if isinstance(out, tuple) else out) ** 2).sum()
            loss.backward()
            return loss

        function = mg.compile(step) if compiled else step
        results = []
        for _ in range(4):
            x.grad = None
            results.append((function().item(), x.grad.tobytes()))
        return results, function

    eager, _ = run(False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "runs eagerly" warning: the draws are replayed
        compiled, function = run(True)
    assert compiled == eager and len({loss for loss, _ in eager}) == 4  # fresh draws at every call
    assert function.traces == 1 and function.code is not None


def test_a_layer_given_another_generator_between_calls_draws_from_the_new_one():
    def run(compiled):
        drop, x = nn.Dropout(0.5, rng=np.random.default_rng(0)), mg.tensor(np.arange(1.0, 13.0).reshape(3, 4))
        function = mg.compile(lambda: drop(x).sum()) if compiled else (lambda: drop(x).sum())
        losses = []
        for i in range(4):
            if i == 2:
                drop.rng = np.random.default_rng(7)
            losses.append(function().item())
        return losses

    assert run(True) == run(False)


def test_draws_from_your_generator_through_mg_randn_are_replayed_anew():
    def run(compiled):
        rng, w = np.random.default_rng(3), mg.tensor(np.ones(3), requires_grad=True)

        def step():
            w.grad = None
            loss = (w * mg.randn(3, rng=rng)).sum()
            loss.backward()
            return loss

        function = mg.compile(step) if compiled else step
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return [(function().item(), w.grad.tobytes()) for _ in range(4)]

    eager = run(False)
    assert run(True) == eager and len(set(eager)) == 4


def test_a_draw_between_the_replayed_ones_from_the_same_generator_makes_the_function_run_eagerly():
    class Noisy(nn.Module):  # draws from the generator it gave its dropout, in Python
        def __init__(self):
            super().__init__()
            self.drop = nn.Dropout(0.5, rng=np.random.default_rng(0))

        def forward(self, x):
            return self.drop(x) * float(self.drop.rng.random())

    def run(compiled):
        net, x = Noisy(), mg.tensor(np.ones((3, 4)))
        function = mg.compile(lambda: net(x).sum()) if compiled else (lambda: net(x).sum())
        return [function().item() for _ in range(4)]

    with pytest.warns(UserWarning, match="a module's own NumPy generator"):
        compiled = run(True)
    assert compiled == run(False) and len(set(compiled)) == 4


def test_a_function_that_can_reach_an_iterator_runs_eagerly_and_says_why():
    # next() inside the function: a replay would give the first call's batch every time
    w = mg.tensor([1.0], requires_grad=True)
    batches = iter([mg.tensor([float(i)]) for i in range(4)])

    def generated():
        yield from (mg.tensor([float(i)]) for i in range(4))

    for source in (batches, generated()):
        @mg.compile
        def step(source=source):
            return (w * next(source)).sum()

        with pytest.warns(UserWarning, match=r"runs eagerly from now on: it uses an iterator"):
            first = step().item()
        assert [first, *(step().item() for _ in range(3))] == [0.0, 1.0, 2.0, 3.0]


def test_a_write_into_a_numpy_array_of_the_users_makes_the_function_run_eagerly():
    # a replay would not make the write again: x * b would keep the first call's b
    scale = np.ones(3)
    x = mg.tensor([1.0, 2.0, 3.0])

    @mg.compile
    def doubled_global(x):
        np.multiply(scale, 2, out=scale)
        return x * mg.tensor(scale)

    @mg.compile
    def doubled_argument(x, factors):
        factors *= 2
        return x * mg.tensor(factors)

    with pytest.warns(UserWarning, match="a write into a NumPy array of yours"):
        first = doubled_global(x).data.tolist()
    assert [first, doubled_global(x).data.tolist()] == [[2.0, 4.0, 6.0], [4.0, 8.0, 12.0]]
    factors = np.ones(3)
    with pytest.warns(UserWarning, match="a write into a NumPy array of yours"):
        doubled_argument(x, factors)
    assert doubled_argument(x, factors).data.tolist() == [4.0, 8.0, 12.0]


def test_a_replay_sees_a_key_added_a_private_setting_changed_and_an_attribute_over_a_class_default():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 1, rng=0)
            self._cfg = {"scale": 1.0}  # the user's own, though private

        def forward(self, x):
            return self.fc(x) * self._cfg["scale"]

    class Settings:
        temperature = 1.0

    net, x, weights, settings = Net(), mg.tensor([[1.0, 2.0]]), {"a": 1.0}, Settings()
    with mg.no_grad():
        scaled = mg.compile(lambda x: net(x).sum())
        summed = mg.compile(lambda x: x * sum(weights.values()))
        cooled = mg.compile(lambda x: x / settings.temperature)
        before = scaled(x).item(), summed(x).data.tolist(), cooled(x).data.tolist()
        net._cfg["scale"], weights["b"], settings.temperature = 2.0, 2.0, 0.5
        assert scaled(x).item() == 2 * before[0] == net(x).sum().item()
        assert summed(x).data.tolist() == [[3.0, 6.0]] and before[1] == [[1.0, 2.0]]
        assert cooled(x).data.tolist() == [[2.0, 4.0]]


def test_a_replay_sees_a_method_of_your_class_replaced():
    class Base(nn.Module):
        def act(self, h):
            return h.tanh()

    class Net(Base):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 1, rng=0)

        def forward(self, x):
            return self.act(self.fc(x))

    net, x = Net(), mg.tensor([[1.0, 2.0]])
    with mg.no_grad():
        step = mg.compile(lambda x: net(x).sum())
        step(x)
        Base.act = lambda self, h: h.sigmoid()  # a parent's method: the replay kept tanh
        assert step(x).item() == net(x).sum().item()
        Net.forward = lambda self, x: self.fc(x) * 3
        assert step(x).item() == net(x).sum().item()


def test_a_learning_rate_changed_by_the_functions_own_code_runs_eagerly():
    def make():
        w = mg.tensor([1.0, -2.0], requires_grad=True)
        return w, optim.SGD([w], lr=0.1)

    def step(w, opt):
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()
        for group in opt.param_groups:
            group["lr"] *= 0.5  # a replay would not halve it again

    (w1, o1), (w2, o2) = make(), make()
    compiled = mg.compile(step)
    with pytest.warns(UserWarning, match="a change to an optimizer's parameter groups"):
        compiled(w2, o2)
    step(w1, o1)
    for _ in range(3):
        step(w1, o1)
        compiled(w2, o2)
    assert o2.param_groups[0]["lr"] == o1.param_groups[0]["lr"] == 0.1 / 16
    assert w2.data.tobytes() == w1.data.tobytes()


def test_a_scheduler_inside_the_function_still_replays():
    w = mg.tensor([1.0, -2.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    schedule = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)

    @mg.compile
    def step():
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()
        schedule.step()

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback to eager
        for _ in range(3):
            step()
    assert step.traces == 1 and opt.param_groups[0]["lr"] == 0.1 / 8


def test_side_effects_on_a_deque_or_a_set_make_the_function_run_eagerly():
    import collections

    log, seen, x = collections.deque(), set(), mg.tensor([1.0, 2.0])
    with mg.no_grad():
        steps = [mg.compile(lambda x: (log.append(1), x * 2)[1]),
                 mg.compile(lambda x: (seen.add(len(seen)), x * 2)[1])]
        for step in steps:
            with pytest.warns(UserWarning, match="runs eagerly from now on"):
                step(x)
            step(x)
    assert len(log) == 2 and len(seen) == 2


def test_a_setting_under_a_key_that_is_no_literal_is_watched():
    import enum

    class Kind(enum.Enum):
        SCALE = 1

    settings, x = {Kind.SCALE: 2.0, 3: 1.5}, mg.tensor([1.0])
    with mg.no_grad():
        scaled = mg.compile(lambda x: x * settings[Kind.SCALE] * settings[3])
        assert scaled(x).item() == 3.0
        settings[Kind.SCALE] = 5.0  # (an Enum key: the replay kept 2.0)
        assert scaled(x).item() == 7.5


def test_settings_nested_deep_are_watched_and_deeper_ones_make_the_function_run_eagerly():
    class Node:
        pass

    config = {"a": {"b": {"c": {"d": {"scale": 2.0}}}}}  # five levels: watched
    tree = Node()
    tree.a = Node()
    tree.a.b = Node()
    tree.a.b.c = Node()
    tree.a.b.c.d = Node()
    tree.a.b.c.d.scale = 3.0
    deeper = [[[[[[[{"scale": 1.5}]]]]]]]  # eight levels: beyond what a replay watches
    x = mg.tensor([1.0, 2.0])
    with mg.no_grad():
        by_key = mg.compile(lambda x: (x * config["a"]["b"]["c"]["d"]["scale"]).sum())
        by_attribute = mg.compile(lambda x: (x * tree.a.b.c.d.scale).sum())
        assert by_key(x).item() == by_key(x).item() == 6.0
        assert by_attribute(x).item() == by_attribute(x).item() == 9.0
        config["a"]["b"]["c"]["d"]["scale"], tree.a.b.c.d.scale = 5.0, 7.0
        assert by_key(x).item() == 15.0 and by_attribute(x).item() == 21.0

        too_deep = mg.compile(lambda x: (x * deeper[0][0][0][0][0][0][0]["scale"]).sum())
        with pytest.warns(UserWarning, match="runs eagerly from now on: it uses settings nested more than"):
            assert too_deep(x).item() == 4.5
        deeper[0][0][0][0][0][0][0]["scale"] = 2.5
        assert too_deep(x).item() == 7.5


@pytest.mark.parametrize("read", [lambda a: float(a[0]), lambda a: a.sum(), lambda a: a.tolist()[1], np.mean])
def test_numpy_code_reading_an_array_of_yours_sees_its_new_values(read):
    weights, x = np.array([2.0, 3.0]), mg.tensor([1.0, 2.0])
    with mg.no_grad():
        scaled = mg.compile(lambda x: x * read(weights))
        for values in ([2.0, 3.0], [5.0, -1.0], [0.5, 0.25]):
            weights[:] = values  # (written in place, outside the function: the same array)
            np.testing.assert_array_equal(scaled(x).data, (x * read(weights)).data)
            np.testing.assert_array_equal(scaled(x).data, (x * read(weights)).data)


def test_numpy_code_reading_a_big_array_of_yours_runs_eagerly():
    big, x = np.ones(100_000), mg.tensor([1.0, 2.0])
    with mg.no_grad():
        scaled = mg.compile(lambda x: x * big.sum())
        with pytest.warns(UserWarning, match=r"runs eagerly from now on: it uses a NumPy array of yours \(shape"):
            scaled(x)
        big[0] = 11.0
        np.testing.assert_array_equal(scaled(x).data, [100_010.0, 200_020.0])


def test_a_partial_the_function_calls_is_watched_as_your_settings_are():
    import functools

    settings = {"scale": 2.0}
    calls = {"scaled": functools.partial(lambda v, cfg: v * cfg["scale"], cfg=settings),
             "offset": functools.partial(lambda v, shift=0.0: v + shift, shift=1.0)}
    x = mg.tensor([1.0, 2.0])
    with mg.no_grad():
        compiled = mg.compile(lambda x: calls["offset"](calls["scaled"](x)))
        assert compiled(x).data.tolist() == compiled(x).data.tolist() == [3.0, 5.0]
        settings["scale"] = 5.0  # (inside a partial's keyword argument)
        assert compiled(x).data.tolist() == [6.0, 11.0]
        calls["offset"].keywords["shift"] = -1.0  # (a partial's keyword changed in place)
        assert compiled(x).data.tolist() == [4.0, 9.0]
        calls["offset"] = functools.partial(lambda v, shift=0.0: v - shift, shift=3.0)  # (another partial)
        assert compiled(x).data.tolist() == [2.0, 7.0]


def test_a_bound_method_the_function_calls_is_watched_with_its_object():
    class Scaler:
        def __init__(self, scale):
            self.scale = scale

        def apply(self, v):
            return v * self.scale

    scaler = Scaler(2.0)
    methods = {"scale": scaler.apply}
    x = mg.tensor([1.0, 2.0])
    with mg.no_grad():
        compiled = mg.compile(lambda x: methods["scale"](x))
        assert compiled(x).data.tolist() == compiled(x).data.tolist() == [2.0, 4.0]
        scaler.scale = 5.0  # (the bound method's object changed)
        assert compiled(x).data.tolist() == [5.0, 10.0]
        methods["scale"] = Scaler(-1.0).apply  # (another bound method)
        assert compiled(x).data.tolist() == [-1.0, -2.0]


def test_settings_in_a_chain_map_are_watched():
    import collections

    settings, x = collections.ChainMap({"scale": 2.0}, {"shift": 1.0}), mg.tensor([1.0, 2.0])
    with mg.no_grad():
        compiled = mg.compile(lambda x: x * settings["scale"] + settings["shift"])
        assert compiled(x).data.tolist() == compiled(x).data.tolist() == [3.0, 5.0]
        settings.maps[0]["scale"] = 5.0
        assert compiled(x).data.tolist() == [6.0, 11.0]
        settings.maps.insert(0, {"shift": 3.0})
        assert compiled(x).data.tolist() == [8.0, 13.0]
