"""Many copies of one MLP architecture trained as one batched model.

``BatchedMLP`` stacks the parameters of ``members`` independent ``nn.MLP`` networks
along a leading member axis and trains them together, full batch, with per-member
learning rates, per-member early stop and per-member divergence detection. It is the
engine behind the vectorised ``mg.train.sweep``.

Why a hand-derived step rather than the Tensor graph: every operation below is the
NumPy call that microgradnp's own primitives make (``Linear``, ``Sigmoid``, ``Tanh``,
``ReLU``, ``MSELoss``, ``SGD``, ``Adam``), in the same order, so each member follows the
exact floating-point trajectory of a one-at-a-time ``fit`` run; written out, the step
also reuses preallocated buffers (``out=``) instead of allocating every intermediate,
which at these sizes is what the time goes to (fresh arrays of a few hundred KB come
from ``mmap`` and page-fault on every step: measured, 2.5x slower), and it skips the
graph bookkeeping that would otherwise be paid 100,000 times per sweep cell. The test
suite checks the step's gradients against autograd on the same batched model.

Layout: weights are stored as ``(members, out_features, in_features)``, each member's
slice laid out exactly as its ``nn.Linear.weight``; ``weights`` returns them as the
``(members, in_features, out_features)`` views that the forward pass multiplies by.
Keeping each member's memory layout identical to the single model's is what makes the
batched matrix products (NumPy calls the same BLAS routine per member) bit-identical.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from microgradnp.nn.layers import MLP
from microgradnp.ops.activations import sigmoid_of_negated_

__all__ = ["ACTIVATIONS", "OPTIMIZERS", "BatchedMLP", "Handoff", "MemberResult"]

ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8
LEAKY_SLOPE = 0.01  # nn.LeakyReLU's default, which MLP(activation="leaky_relu") uses


@dataclass(frozen=True)
class MemberResult:
    """How one member's training ended.

    ``status`` is "reached" (the target accuracy at ``stop_epoch``), "completed" (ran
    all epochs without reaching it) or "diverged" (the loss became nan/inf at
    ``epochs``), as ``History.status``. ``best_accuracy`` is the best accuracy of any
    epoch's forward pass, the last one included; ``seconds`` the member's share of the
    batch's compute time.
    """

    index: int
    status: str
    stop_epoch: int | None
    epochs: int
    best_accuracy: float
    seconds: float


# -- activations: in place on the pre-activation buffer, as microgradnp's primitives -------------
class _Activation:
    """A hidden activation applied in place; ``aux`` is a per-layer buffer for what the
    backward pass needs besides the output (a mask), when ``needs_aux``."""

    needs_aux = False

    def forward_(self, z, aux) -> None:
        """Overwrite the pre-activation ``z`` with the activation."""

    def backward_(self, grad, out, aux, tmp) -> None:
        """Multiply ``grad`` in place by the derivative, given the forward output ``out``."""


def sigmoid_(z: np.ndarray) -> np.ndarray:
    """``ops.Sigmoid``'s forward, in place."""
    return sigmoid_of_negated_(np.negative(z, out=z))


def _sigmoid_backward(grad, out, tmp) -> None:
    """``grad * out * (1 - out)``, rounded as ``ops.Sigmoid.backward`` rounds it."""
    np.multiply(grad, out, out=grad)
    np.subtract(1, out, out=tmp)
    np.multiply(grad, tmp, out=grad)


class _Sigmoid(_Activation):
    def forward_(self, z, aux) -> None:
        sigmoid_(z)

    def backward_(self, grad, out, aux, tmp) -> None:
        _sigmoid_backward(grad, out, tmp)


class _Tanh(_Activation):
    def forward_(self, z, aux) -> None:
        np.tanh(z, out=z)

    def backward_(self, grad, out, aux, tmp) -> None:
        np.multiply(out, out, out=tmp)
        np.subtract(1, tmp, out=tmp)
        np.multiply(grad, tmp, out=grad)


class _ReLU(_Activation):
    needs_aux = True

    def forward_(self, z, aux) -> None:
        np.greater(z, 0, out=aux)
        np.maximum(z, 0, out=z)

    def backward_(self, grad, out, aux, tmp) -> None:
        np.multiply(grad, aux, out=grad)


class _LeakyReLU(_Activation):
    needs_aux = True

    def forward_(self, z, aux) -> None:
        scale = aux  # ops.LeakyReLU keeps the factor (1 or the slope) for its backward
        scale[...] = LEAKY_SLOPE
        np.copyto(scale, 1, where=z > 0)
        np.multiply(z, scale, out=z)

    def backward_(self, grad, out, aux, tmp) -> None:
        np.multiply(grad, aux, out=grad)


_SIGMOID = _Sigmoid()
ACTIVATIONS: dict[str, _Activation] = {"sigmoid": _SIGMOID, "relu": _ReLU(), "tanh": _Tanh(),
                                       "leaky_relu": _LeakyReLU(), "none": _Activation()}
"""Hidden activations the batched model implements, by ``nn.MLP``'s names."""

OPTIMIZERS = ("sgd", "adam")
"""Update rules the batched model implements: ``optim.SGD(lr)`` and ``optim.Adam(lr)``
with their other arguments at their defaults."""


class BatchedMLP:
    """``members`` MLPs ``in -> hidden... -> out`` of one architecture, as one model.

    Hidden layers use ``activation`` ("sigmoid", "relu", "tanh", "leaky_relu" or
    "none"), the output layer a sigmoid, the loss is the mean squared error: the lab's
    network. Build it with :meth:`from_seeds` (member ``i`` starts with exactly the
    weights of ``nn.MLP(..., rng=seeds[i])``) or :meth:`from_models`, train it with
    :meth:`fit`, read a member back with :meth:`to_module`.

    All parameters live in one ``(members, n_parameters)`` array (``fc1.weight``,
    ``fc1.bias``, ``fc2.weight``, ... of each member in a row), so that an optimizer
    step is a few whole-array operations; ``weights`` and ``biases`` are views into it.
    """

    def __init__(self, weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], activation: str = "sigmoid"):
        if activation not in ACTIVATIONS:
            raise ValueError(f"BatchedMLP: unknown activation {activation!r}: use one of {sorted(ACTIVATIONS)}")
        weights, biases = [np.asarray(w) for w in weights], [np.asarray(b) for b in biases]
        if not weights or len(weights) != len(biases) or any(w.ndim != 3 for w in weights):
            raise ValueError("BatchedMLP: give per layer a (members, out, in) weight and a (members, out) bias")
        self.activation = activation
        self.members = len(weights[0])
        self.sizes = (weights[0].shape[2], *(w.shape[1] for w in weights))
        for i, (w, b) in enumerate(zip(weights, biases)):
            if w.shape != (self.members, self.sizes[i + 1], self.sizes[i]) or b.size != self.members * w.shape[1]:
                raise ValueError(f"BatchedMLP: layer {i + 1} has weight {w.shape} and bias {b.shape}, which do not "
                                 f"chain as {self.members} members of sizes {self.sizes}")
        self._flat = np.concatenate([a.reshape(self.members, -1) for pair in zip(weights, biases) for a in pair],
                                    axis=1)

    def _views(self, flat: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per layer, ``(weight (k, out, in), bias (k, 1, out))`` views into the rows of ``flat``."""
        views, start = [], 0
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:]):
            w = flat[:, start: start + n_out * n_in].reshape(len(flat), n_out, n_in)
            start += n_out * n_in
            views.append((w, flat[:, start: start + n_out].reshape(len(flat), 1, n_out)))
            start += n_out
        return views

    @classmethod
    def from_models(cls, models: Sequence[MLP], activation: str = "sigmoid") -> BatchedMLP:
        """Stack the parameters of MLPs of one architecture (``fc1.weight``, ``fc1.bias``, ...)."""
        layers = [[m for m in model.children() if hasattr(m, "weight")] for model in models]
        if not layers or any(len(ls) != len(layers[0]) for ls in layers):
            raise ValueError("BatchedMLP.from_models: give MLPs with the same layer sizes")
        weights = [np.stack([ls[i].weight.data for ls in layers]) for i in range(len(layers[0]))]
        biases = [np.stack([ls[i].bias.data for ls in layers]) for i in range(len(layers[0]))]
        return cls(weights, biases, activation)

    @classmethod
    def from_seeds(cls, sizes: Sequence[int], seeds: Sequence[int], activation: str = "sigmoid",
                   dtype=None) -> BatchedMLP:
        """Member ``i`` initialised as ``nn.MLP(sizes[0], sizes[1:-1], sizes[-1], rng=seeds[i])``."""
        models = [MLP(sizes[0], tuple(sizes[1:-1]), sizes[-1], activation=activation, dtype=dtype, rng=seed)
                  for seed in seeds]
        return cls.from_models(models, activation)

    @property
    def weights(self) -> list[np.ndarray]:
        """Per layer, the weights as ``(members, in_features, out_features)`` views: the
        matrices the forward pass multiplies by (each member's ``weight.T``)."""
        return [w.transpose(0, 2, 1) for w, _ in self._views(self._flat)]

    @property
    def biases(self) -> list[np.ndarray]:
        """Per layer, the biases as ``(members, out_features)`` views."""
        return [b[:, 0, :] for _, b in self._views(self._flat)]

    def to_module(self, member: int) -> MLP:
        """Member ``member`` as an ``nn.MLP`` (a copy of its current parameters)."""
        model = MLP(self.sizes[0], self.sizes[1:-1], self.sizes[-1], activation=self.activation,
                    dtype=self._flat.dtype)
        layers = [m for m in model.children() if hasattr(m, "weight")]
        for layer, (w, b) in zip(layers, self._views(self._flat)):
            layer.weight.data[...] = w[member]
            layer.bias.data[...] = b[member, 0]
        return model

    def forward(self, X) -> np.ndarray:
        """Every member's output for ``X``: shape ``(members, len(X), out_features)``."""
        run = _Run(self, np.asarray(X, dtype=self._flat.dtype), None, "sgd")
        run.forward(run.plan(self.members))
        return run.z[-1].copy()

    def fit(self, X, y, lr, epochs: int, *, optimizer: str = "sgd", stop_at_accuracy: float | None = 1.0,
            threshold: float = 0.5, on_finish: Callable[[MemberResult], None] | None = None,
            on_progress: Callable[[int], None] | None = None, report_every: int = 1000) -> list[MemberResult]:
        """Train every member on ``(X, y)``, full batch, as ``fit`` trains one model.

        Each epoch: forward pass, accuracy (``prediction > threshold`` against 0/1
        labels), then for each member, in ``fit``'s order: a non-finite loss ends it as
        "diverged"; reaching ``stop_at_accuracy`` ends it as "reached", before that
        epoch's update; otherwise it takes its own ``optimizer`` step ("sgd" or "adam")
        with its own learning rate (``lr``: one number, or one per member). Finished
        members leave the batch, so their parameters stay as they were when they
        finished, and the remaining ones run faster.

        ``on_finish(result)`` is called as each member finishes, ``on_progress(n)``
        every ``report_every`` epochs with the member-epochs done since the last call
        (a finished member counts its unused epochs as done). Returns one
        :class:`MemberResult` per member, in member order.
        """
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"BatchedMLP.fit: unknown optimizer {optimizer!r}: use one of {OPTIMIZERS}")
        if isinstance(epochs, bool) or not isinstance(epochs, int | np.integer) or epochs < 1:
            raise ValueError(f"BatchedMLP.fit: epochs must be a positive integer, got {epochs!r}")
        if self.sizes[-1] != 1:
            raise ValueError(f"BatchedMLP.fit: accuracy is defined for one output (0/1 labels), the model has "
                             f"{self.sizes[-1]}")
        dtype = self._flat.dtype
        X = np.asarray(X, dtype=dtype)
        y = np.asarray(y, dtype=dtype)
        if X.ndim != 2 or X.shape[1] != self.sizes[0] or y.size != len(X):
            raise ValueError(f"BatchedMLP.fit: expected X of shape (n, {self.sizes[0]}) and n labels, got X "
                             f"{X.shape} and y {y.shape}")
        lrs = np.broadcast_to(np.asarray(lr, dtype=dtype), (self.members,))
        results = self._train(X, y, lrs, epochs, optimizer, stop_at_accuracy=stop_at_accuracy, threshold=threshold,
                              on_finish=on_finish, on_progress=on_progress, report_every=report_every)
        return [results[i] for i in range(self.members)]

    def _train(self, X: np.ndarray, y: np.ndarray, lrs, epochs: int, optimizer: str, **options) -> dict:
        """``fit`` without the argument checks, with ``_Run.train``'s options (hand-offs)."""
        return _Run(self, X, y.reshape(len(X), 1), optimizer).train(lrs, epochs, **options)


@dataclass
class _Plan:
    """Views of a run's buffers cut to the ``m`` live members: rebuilt only when members
    leave, so the step itself does no slicing."""

    m: int
    forward: list  # per layer: (weight.T view, bias, output buffer, aux buffer, activation)
    backward: list  # per layer, last first: (delta, delta.T, layer input, grad_w, grad_b, weight, below)
    out: np.ndarray
    diff: np.ndarray
    diff_rows: np.ndarray
    hit: np.ndarray
    hit_rows: np.ndarray
    correct: np.ndarray
    best: np.ndarray
    params: np.ndarray
    grads: np.ndarray
    lr: np.ndarray
    state: list
    scale: np.ndarray


class _Run:
    """The buffers of one training run and its step. Every array with a member axis is
    allocated for all members once; the live members are always the first ``m`` rows,
    so their views stay contiguous per member and BLAS sees each member's matrices laid
    out as in a one-model run."""

    def __init__(self, model: BatchedMLP, X: np.ndarray, y: np.ndarray | None, optimizer: str):
        self.model, self.X, self.y = model, X, y
        self.act = ACTIVATIONS[model.activation]
        members, n, dtype = model.members, len(X), X.dtype
        outs = model.sizes[1:]
        self.z = [np.empty((members, n, k), dtype) for k in outs]  # pre-activations, then activations
        self.delta = [np.empty((members, n, k), dtype) for k in outs]
        self.tmp = [np.empty((members, n, k), dtype) for k in outs]
        aux_dtype = bool if model.activation == "relu" else dtype
        self.aux = [np.empty((members, n, k), aux_dtype) if self.act.needs_aux else None for k in outs[:-1]]
        self.grads = np.empty_like(model._flat)
        # Adam: exp_avg, exp_avg_sq, and a scratch array
        self.state = [np.zeros_like(model._flat) for _ in range(2)] + [np.empty_like(model._flat)]
        self.state = self.state if optimizer == "adam" else []
        self.hit = np.empty((members, n, outs[-1]), bool)
        self.correct = np.empty(members, np.intp)
        self.best = np.zeros(members, np.intp)  # best count of correct predictions so far
        self.lr = np.empty((members, 1), dtype)
        self.scale = np.empty((members, 1), dtype)

    def carried(self) -> list[np.ndarray]:
        """What the rest of an epoch still reads when members leave: parameters, optimizer
        state, learning rates, best counts, and the forward pass's results."""
        return [self.model._flat, *self.state[:2], self.lr, self.best, *self.z, self.delta[-1],
                *(a for a in self.aux if a is not None)]

    def plan(self, m: int) -> _Plan:
        model, act = self.model, self.act
        layers = model._views(model._flat[:m])
        grads = model._views(self.grads[:m])
        last = len(layers) - 1
        forward, backward = [], []
        for i, (w, b) in enumerate(layers):
            forward.append((w.transpose(0, 2, 1), b, self.z[i][:m], self.aux[i][:m] if i < last and self.aux[i]
                            is not None else None, _SIGMOID.forward_ if i == last else act.forward_))
        for i in range(last, -1, -1):
            delta = self.delta[i][:m]
            below = None if i == 0 else (self.delta[i - 1][:m], self.z[i - 1][:m],
                                         None if self.aux[i - 1] is None else self.aux[i - 1][:m],
                                         self.tmp[i - 1][:m])
            backward.append((delta, delta.transpose(0, 2, 1), self.X if i == 0 else self.z[i - 1][:m], *grads[i],
                             layers[i][0], below))
        out = self.z[-1][:m]
        return _Plan(m, forward, backward, out, self.delta[-1][:m], self.delta[-1][:m].reshape(m, -1),
                     self.hit[:m], self.hit[:m].reshape(m, -1), self.correct[:m], self.best[:m],
                     model._flat[:m], self.grads[:m], self.lr[:m], [s[:m] for s in self.state], self.scale[:m])

    # -- the step ------------------------------------------------------------------------------
    def forward(self, plan: _Plan) -> None:
        a = self.X
        for weight_t, bias, z, aux, activation in plan.forward:
            np.matmul(a, weight_t, out=z)  # ops.Linear: x @ weight.T, then += bias
            z += bias
            activation(z, aux)
            a = z

    def backward(self, plan: _Plan) -> None:
        """Gradients of each member's mean squared error, with ``out - y`` in ``plan.diff``."""
        backward_ = self.act.backward_
        grad = plan.diff
        # ops.MSELoss.backward: (2 / count) * (x - target); then ops.Sigmoid.backward
        grad *= 2.0 / self.y.size
        _sigmoid_backward(grad, plan.out, self.tmp[-1][: plan.m])
        for delta, delta_t, inputs, grad_w, grad_b, weight, below in plan.backward:
            np.matmul(delta_t, inputs, out=grad_w)  # ops.Linear.backward: grad.T @ x
            np.add.reduce(delta, axis=1, keepdims=True, out=grad_b)  # and grad.sum(axis=0)
            if below is not None:
                lower, out, aux, tmp = below
                if weight.shape[1] == 1:
                    # grad @ weight with one output column is an outer product: one rounded
                    # product per element whatever computes it, and NumPy's loop for it is slow.
                    np.multiply(delta, weight, out=lower)
                else:
                    np.matmul(delta, weight, out=lower)
                backward_(lower, out, aux, tmp)

    # -- training ------------------------------------------------------------------------------
    def train(self, lrs, epochs: int, stop_at_accuracy, threshold: float, on_finish=None, on_progress=None,
              report_every: int = 1000, resume: Handoff | None = None, split: Callable[[int], int] | None = None,
              on_split: Callable[[Handoff], None] | None = None, poll_every: int = 100) -> dict[int, MemberResult]:
        """Run epochs until every member has finished or left; see ``BatchedMLP.fit``.

        ``resume`` continues members handed off by another run (the model must hold
        their parameters). ``split(live)`` is polled every ``poll_every`` epochs with the
        number of live members and says how many of them should leave: they go, as a
        :class:`Handoff`, to ``on_split`` (for a worker with nothing to do to take over).
        Returns the results of the members that finished here, by member number.
        """
        model, y, target = self.model, self.y, self.y > 0.5
        members, n = model.members, len(self.X)
        update = _adam_update if self.state else _sgd_update
        self.lr[:, 0] = lrs
        row = np.arange(members)  # which of the model's rows each live slot holds
        numbers = np.arange(members)  # the member number of each row
        first, seconds = 1, 0.0  # seconds: each live member's share of the compute time so far
        if resume is not None:
            numbers, self.best[:], first, seconds = resume.members, resume.best, resume.next_epoch, resume.seconds
            for array, rows in zip(self.state, resume.state):
                array[...] = rows
        # With labels this small, out - y is finite exactly when its square is, and a sum
        # of such differences is finite exactly when all are: one reduction checks the batch.
        labels_bounded = bool(np.all(np.abs(y) < np.sqrt(np.finfo(y.dtype).max) / 4))
        # The fewest correct points that reach the target, tested as fit tests it (correct / n;
        # correct >= target * n rounds differently).
        reached_at = next((c for c in range(n + 1) if stop_at_accuracy is not None and c / n >= stop_at_accuracy),
                          math.inf)
        final = model._flat.copy()  # each member's parameters as it finished (or left)
        results: dict[int, MemberResult] = {}
        unreported = 0  # member-epochs done since the last on_progress
        m = members
        plan = self.plan(m)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            started = time.perf_counter()
            for epoch in range(first, epochs + 1):
                self.forward(plan)
                np.greater(plan.out, threshold, out=plan.hit)
                np.equal(plan.hit, target, out=plan.hit)
                np.add.reduce(plan.hit_rows, axis=1, out=plan.correct)  # count_correct, per member
                np.maximum(plan.best, plan.correct, out=plan.best)
                np.subtract(plan.out, y, out=plan.diff)
                unreported += m
                last = epoch == epochs
                if (not (labels_bounded and math.isfinite(np.add.reduce(plan.diff_rows, axis=None)))
                        or plan.correct.max() >= reached_at or last):
                    rows = plan.diff_rows
                    finite = np.isfinite(np.add.reduce(rows * rows if not labels_bounded else rows, axis=1))
                    stopping = ~finite | (plan.correct >= reached_at)
                    now = time.perf_counter()
                    seconds += (now - started) / m
                    started = now
                    finishing = np.flatnonzero(stopping)
                    final[row[finishing]] = model._flat[finishing]
                    for j in finishing:
                        status = "reached" if finite[j] else "diverged"
                        unreported += epochs - epoch
                        self._finish(results, on_finish, numbers[row[j]], status, epoch, epochs, plan.best[j] / n,
                                     seconds)
                    if len(finishing):
                        m = self._keep(np.flatnonzero(~stopping), m, row)
                        if not m:
                            break
                        plan = self.plan(m)
                self.backward(plan)
                update(plan, epoch)
                if last:
                    seconds += (time.perf_counter() - started) / m
                    final[row[:m]] = model._flat[:m]
                    for j in range(m):
                        self._finish(results, on_finish, numbers[row[j]], "completed", epoch, epochs,
                                     plan.best[j] / n, seconds)
                    break
                if split is not None and epoch % poll_every == 0 and (leaving := min(split(m), m - 1)) > 0:
                    now = time.perf_counter()
                    seconds += (now - started) / m
                    started = now
                    gone = np.arange(m - leaving, m)
                    final[row[gone]] = model._flat[gone]
                    on_split(Handoff(numbers[row[gone]], model._flat[gone], self.lr[gone, 0],
                                     [s[gone] for s in self.state[:2]], self.best[gone], epoch + 1, seconds))
                    m = self._keep(np.arange(m - leaving), m, row)
                    plan = self.plan(m)
                if on_progress is not None and epoch % report_every == 0:
                    on_progress(unreported)
                    unreported = 0
        model._flat[...] = final
        if on_progress is not None and unreported:
            on_progress(unreported)
        return results

    def _keep(self, keep: np.ndarray, m: int, row: np.ndarray) -> int:
        """Move the live slots ``keep`` (of the first ``m``) to the front; their new count."""
        if len(keep) < m:
            for array in (*self.carried(), row):
                array[: len(keep)] = array[:m][keep]
        return len(keep)

    @staticmethod
    def _finish(results, on_finish, index, status, epoch, epochs, best_accuracy, seconds) -> None:
        result = MemberResult(int(index), status, epoch if status == "reached" else None,
                              epochs if status == "completed" else epoch, float(best_accuracy), seconds)
        results[result.index] = result
        if on_finish is not None:
            on_finish(result)


@dataclass
class Handoff:
    """Members leaving a training run to continue in another (on another core), with all
    that their training depends on: member numbers, parameter rows, learning rates,
    optimizer state, best counts of correct predictions, the next epoch to run, and the
    compute seconds spent on each so far."""

    members: np.ndarray
    params: np.ndarray
    lr: np.ndarray
    state: list
    best: np.ndarray
    next_epoch: int
    seconds: float

    def model(self, sizes: Sequence[int], activation: str) -> BatchedMLP:
        """A :class:`BatchedMLP` holding the members' current parameters."""
        model = BatchedMLP.__new__(BatchedMLP)
        model.activation, model.members, model.sizes = activation, len(self.members), tuple(sizes)
        model._flat = np.array(self.params)
        return model


def _sgd_update(plan: _Plan, step: int) -> None:
    """``optim.SGD``: ``param -= lr * grad``, each member with its own lr."""
    np.multiply(plan.lr, plan.grads, out=plan.grads)
    np.subtract(plan.params, plan.grads, out=plan.params)


def _adam_update(plan: _Plan, step: int) -> None:
    """``optim.Adam`` with its default betas and eps, each member with its own lr; the
    operations and their order are ``Adam._update``'s, so the roundings agree."""
    beta1, beta2 = ADAM_BETAS
    exp_avg, exp_avg_sq, tmp = plan.state
    grad = plan.grads
    np.subtract(grad, exp_avg, out=tmp)  # exp_avg += (1 - beta1) * (grad - exp_avg)
    tmp *= 1 - beta1
    exp_avg += tmp
    exp_avg_sq *= beta2
    np.multiply(1 - beta2, grad, out=tmp)  # exp_avg_sq += (1 - beta2) * grad * grad
    tmp *= grad
    exp_avg_sq += tmp
    denom = np.sqrt(exp_avg_sq, out=grad)  # the gradient is used up: its buffer takes the step
    denom /= (1 - beta2**step) ** 0.5
    denom += ADAM_EPS
    np.divide(exp_avg, denom, out=denom)
    np.divide(plan.lr, 1 - beta1**step, out=plan.scale)  # lr / (1 - beta1**step), per member
    denom *= plan.scale
    plan.params -= denom
