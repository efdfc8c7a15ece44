"""``fit``: the lab's training loop, with a lab-style log, a progress bar, early stop at
a target accuracy, and a clean stop when the loss stops being a number."""

from __future__ import annotations

import math
import numbers
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from microgradnp.autograd.compile import TraceError
from microgradnp.autograd.compile import compile as mg_compile
from microgradnp.autograd.grad_mode import mode, no_grad, watchers
from microgradnp.data import DataLoader
from microgradnp.nn import functional as F
from microgradnp.nn.loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HalfMSELoss, MSELoss
from microgradnp.tensor import Tensor


@dataclass
class History:
    """What ``fit`` recorded: one entry per epoch and how training ended. Full batch, both
    are measured on the epoch's forward pass, before its update; with mini-batches the
    loss is the mean of the batches' and the accuracy that of the model the epoch ends
    with (see ``fit``).

    ``status`` is "reached" (``stop_at_accuracy`` met at ``stop_epoch``), "completed"
    (ran all epochs), "diverged" (the loss became nan/inf; ``message`` says when) or
    "stopped" (``fit``'s ``should_stop`` asked to stop after ``stop_epoch``).
    """

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    stop_epoch: int | None = None
    status: str = "completed"
    message: str = ""
    wall_time: float = 0.0

    @property
    def epochs(self) -> int:
        """How many epochs ran."""
        return len(self.loss)

    @property
    def converged(self) -> bool:
        """True when the target accuracy was reached."""
        return self.status == "reached"

    @property
    def best_accuracy(self) -> float:
        """The highest accuracy of any epoch (nan before training)."""
        return max(self.accuracy, default=float("nan"))

    @property
    def final_loss(self) -> float:
        """The loss of the last epoch (nan before training)."""
        return self.loss[-1] if self.loss else float("nan")

    @property
    def final_accuracy(self) -> float:
        """The accuracy of the last epoch (nan before training)."""
        return self.accuracy[-1] if self.accuracy else float("nan")

    def to_dict(self) -> dict:
        """Plain numbers and lists, ready for ``json.dump``."""
        return {
            "epochs": self.epochs, "stop_epoch": self.stop_epoch, "status": self.status, "message": self.message,
            "wall_time": self.wall_time, "final_loss": _json_number(self.final_loss),
            "final_accuracy": _json_number(self.final_accuracy), "best_accuracy": _json_number(self.best_accuracy),
            "loss": [_json_number(v) for v in self.loss], "accuracy": list(self.accuracy),
        }

    def __repr__(self) -> str:
        return (f"History(epochs={self.epochs}, status={self.status!r}, stop_epoch={self.stop_epoch}, "
                f"final_loss={self.final_loss:.4g}, final_accuracy={self.final_accuracy:.4f}, "
                f"wall_time={self.wall_time:.2f}s)")


def _json_number(value: float):
    return value if np.isfinite(value) else None


def count_correct(prediction: np.ndarray, target: np.ndarray, threshold: float = 0.5) -> int:
    """Correct predictions: ``prediction > threshold`` against 0/1 labels for one output
    column, arg-max against class indices (or one-hot rows) for several. (For the outputs
    of a logits loss, pass ``output_threshold(loss, threshold)``.)"""
    if prediction.ndim >= 2 and prediction.shape[1] > 1:
        predicted = prediction.argmax(axis=1)
        if target.shape == prediction.shape:
            target = target.argmax(axis=1)
        return int(np.count_nonzero(predicted == target))
    if target.shape != prediction.shape:
        target = target.reshape(prediction.shape)
    return int(np.count_nonzero((prediction > threshold) == (target > 0.5)))


def is_logits_loss(loss) -> bool:
    """Whether ``loss`` (a name, function or module) takes logits for one output column
    (binary cross-entropy with logits): its outputs are not probabilities."""
    return (loss == "bce_with_logits" if isinstance(loss, str)
            else loss is F.binary_cross_entropy_with_logits or isinstance(loss, BCEWithLogitsLoss))


def output_threshold(loss, threshold: float = 0.5) -> float:
    """The output above which a prediction counts as class 1 when trained with ``loss``:
    ``threshold`` itself, except for a logits loss, whose outputs are logits: there it is
    the logit of ``threshold``, ``log(threshold / (1 - threshold))`` (0 for 0.5), so that a
    point is class 1 when ``sigmoid(output) > threshold``, as for a sigmoid output."""
    if not is_logits_loss(loss):
        return threshold
    if not 0 < threshold < 1:
        raise ValueError(f"threshold: with a logits loss (bce_with_logits) the threshold is a probability in (0, 1) "
                         f"(0.5: a positive logit is class 1), got {threshold!r}")
    return math.log(threshold / (1 - threshold))


LOSSES = {"mse": F.mse_loss, "mse/2": HalfMSELoss(), "bce": F.binary_cross_entropy,
          "bce_with_logits": F.binary_cross_entropy_with_logits, "cross_entropy": F.cross_entropy}
# The losses an ensemble takes by name: modules whose unreduced form member_losses reduces per member.
ENSEMBLE_LOSSES = {"mse": MSELoss, "mse/2": HalfMSELoss, "bce": BCELoss, "bce_with_logits": BCEWithLogitsLoss}


def resolve_loss(loss):
    """A loss given as a module, a function ``(prediction, target) -> scalar`` or a name."""
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}: use one of {sorted(LOSSES)}, or pass a loss module/function")
        return LOSSES[loss]
    if not callable(loss):
        raise TypeError(f"loss must be a loss module, a function or a name, got {type(loss).__name__}")
    return loss


def _check_finite(values: np.ndarray, name: str, function: str = "fit") -> None:
    """nan or inf in the data would make every loss nan, reported as a divergence."""
    if values.dtype.kind in "fc" and not np.isfinite(values).all():
        row = int(np.argwhere(~np.isfinite(values))[0][0])
        raise ValueError(f"{function}: {name} holds nan or inf (first in row {row}); clean or drop those rows first")


def _check_class_indices(loss_fn, y: np.ndarray) -> None:
    """Cross-entropy takes class indices ``(N,)``: a column of 0/1 floats ``(N, 1)`` (the
    generators' default, for mse and bce) would fail on several outputs and, on one,
    train nothing (one class's cross-entropy is always 0)."""
    if loss_fn is not F.cross_entropy and not isinstance(loss_fn, CrossEntropyLoss):
        return
    if y.ndim == 2 and y.shape[1] == 1 and y.dtype.kind == "f":
        raise ValueError(f"fit: cross_entropy takes class indices of shape (N,), got targets of shape {y.shape} "
                         "(a column of labels, as mse and bce take them): pass y.ravel().astype(int), or make "
                         "the data with labels='indices' (mg.data.make_moons(..., labels='indices')), and give "
                         "the model one output per class")


def _as_array(values) -> np.ndarray:
    return values.data if isinstance(values, Tensor) else np.asarray(values)


def _check_arguments(function: str, epochs, stop_at_accuracy, threshold, optimizer) -> None:
    """The checks fit and fit_ensemble make before training: one clear error each."""
    if not isinstance(epochs, int | np.integer) or isinstance(epochs, bool) or epochs < 1:
        raise ValueError(f"{function}: epochs must be a positive integer, got {epochs!r}")
    if stop_at_accuracy is not None and (isinstance(stop_at_accuracy, bool) or not isinstance(
            stop_at_accuracy, numbers.Real) or not 0 <= stop_at_accuracy <= 1):
        # Checked because 100 (meaning 100 %) would silently never be reached.
        raise ValueError(f"{function}: stop_at_accuracy is a fraction in [0, 1] (1.0 for 100 %) or None, "
                         f"got {stop_at_accuracy!r}")
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or threshold != threshold:
        raise TypeError(f"{function}: threshold is a number (0.5: an output above it counts as class 1), "
                        f"got {threshold!r}")
    if not callable(getattr(optimizer, "step", None)) or not callable(getattr(optimizer, "zero_grad", None)):
        raise TypeError(f"{function}: optimizer must be an optimizer (optim.SGD(model.parameters(), lr=0.1)), got "
                        f"{type(optimizer).__name__}")


def _checked_data(function: str, X, y) -> tuple[np.ndarray, np.ndarray]:
    """``X`` and ``y`` as arrays, refused when they hold nan or inf or no point."""
    X, y = _as_array(X), _as_array(y)
    for name, values in (("X", X), ("y", y)):
        if values.ndim == 0:  # (len() of it would fail with a bare TypeError)
            raise ValueError(f"{function}: {name} is a single number (a 0-d array); it takes one row per point, "
                             "e.g. X of shape (n, features) and y of shape (n, 1)")
    _check_finite(X, "X", function)
    _check_finite(y, "y", function)
    if len(X) == 0:
        raise ValueError(f"{function}: the data set is empty")
    return X, y


def fit(model, X, y, loss, optimizer, epochs: int, batch_size: int | None = None,
        stop_at_accuracy: float | None = None, threshold: float = 0.5, log_every: int | None = None,
        progress: bool | None = None, rng=None, file=None, compile: bool = True,  # noqa: A002
        should_stop: Callable[[], bool] | None = None) -> History:
    """Train ``model`` on ``(X, y)`` and return the ``History``.

    Each epoch runs the forward pass, the loss, ``backward()`` and ``optimizer.step()``
    (over mini-batches of ``batch_size``, shuffled with ``rng``, or the full batch).
    Accuracy is ``prediction > threshold`` for one output (with a logits loss,
    ``bce_with_logits``, the output is a logit: ``sigmoid(prediction) > threshold``, so
    ``prediction > 0`` at 0.5; see ``output_threshold``), arg-max for several. The epoch's
    loss is the mean over the points (the sum, for a loss with ``reduction="sum"``).
    Full batch, the accuracy is measured on the epoch's own predictions; with
    ``stop_at_accuracy`` (a fraction, e.g. ``1.0``), training stops at the first epoch
    that reaches it, before that epoch's update, so the model returned is the one that
    reached it. With mini-batches the model changes between the batches, so the epoch's
    accuracy is always that of the model the epoch ends with: one more forward pass over
    the whole set, in eval mode, at the end of every epoch (about a third of an epoch's
    work more; the batches' own predictions, a mix of models, are not used). The loss stays
    the mean of the batches' losses, as a PyTorch loop usually records it. ``log_every=N`` prints
    ``epoch N, loss L, acc A`` lines (a loss of a million or more in scientific notation);
    ``progress`` shows a tqdm bar on stderr (when tqdm is installed): None (the default)
    shows it only when stderr is a terminal, so a log redirected to a file holds the log
    lines alone; True or False forces it on or off. A loss that turns nan or inf stops
    training with one message: the epoch, the last finite loss, and a hint (and no NumPy
    overflow warnings: the run's arithmetic is done under ``np.errstate``).

    With ``compile`` (the default) each batch's forward, loss and backward run as one
    ``mg.compile``-d step: the same numbers as eager, faster. A model that cannot be
    traced (Python code reading tensor values in its forward) trains eagerly, with a
    warning that says why; ``compile=False`` trains eagerly from the start. The update
    follows the checks above, so the gradients of the stopping epoch are computed but
    not applied.

    ``should_stop`` is called at the end of every epoch, after its update; when it returns
    True training ends there with status "stopped" (the CLI's Ctrl-C handler is one).
    """
    _check_arguments("fit", epochs, stop_at_accuracy, threshold, optimizer)
    if log_every is not None and (isinstance(log_every, bool) or not isinstance(log_every, numbers.Integral)
                                  or log_every < 1):
        raise ValueError(f"fit: log_every must be a positive integer (log every N epochs) or None, got {log_every!r}")
    loss_fn = resolve_loss(loss)
    threshold = output_threshold(loss_fn, threshold)
    X, y = _checked_data("fit", X, y)
    _check_class_indices(loss_fn, y)
    loader = DataLoader(X, y, batch_size=batch_size, shuffle=batch_size is not None, rng=rng)
    file = file or sys.stdout
    history = History()
    bar = _progress_bar(epochs, progress)
    if bar is not None:
        def write(line: str) -> None:
            bar.write(line, file=file)  # (above the bar, which stays at the bottom)
    else:
        def write(line: str) -> None:
            print(line, file=file)
    started = time.perf_counter()
    last_finite = None
    full_batch = batch_size is None
    # A loss summed over a batch adds up over the epoch; a mean is weighted by the batch's size.
    summed = getattr(loss_fn, "reduction", "mean") == "sum"
    model.train()
    step = _gradient_step(model, loss_fn, optimizer)
    if compile:
        step = _compiled_or_eager(step)
    # Overflow in a diverging run is reported once, below, not as a warning per operation.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for epoch in range(1, epochs + 1):
            total_loss, correct = 0.0, 0
            last_finite_batch = None
            for batch, (X_batch, y_batch) in enumerate(loader, start=1):
                prediction, value = step(X_batch, y_batch)
                batch_loss = float(value.data)
                total_loss += batch_loss if summed else batch_loss * len(X_batch.data)
                if full_batch:  # (mini-batches: measured on the model the epoch ends with, below)
                    correct += count_correct(prediction.data, _as_array(y_batch), threshold)
                if not math.isfinite(batch_loss):  # (np.isfinite on a float costs 10x more)
                    break
                last_finite_batch = (batch, batch_loss)
                # The same test as the epoch's below (correct / n, not correct >= target * n,
                # which rounds differently), so a reached epoch never gets its update.
                if full_batch and stop_at_accuracy is not None and correct / len(X) >= stop_at_accuracy:
                    break  # reached: keep the model that reached it
                optimizer.step()
            epoch_loss, epoch_accuracy = total_loss / (1 if summed else len(X)), correct / len(X)
            if not full_batch:
                # The batches' predictions came from a model that changed between them: the
                # accuracy (and so the stop rule) is the model's the epoch ends with, so a
                # reached model is returned and the history does not depend on the target.
                epoch_accuracy = count_correct(_outputs_now(model, X), y, threshold) / len(X)
            history.loss.append(epoch_loss)
            history.accuracy.append(epoch_accuracy)
            if not math.isfinite(epoch_loss):
                history.status, history.stop_epoch = "diverged", epoch
                if last_finite is None and not full_batch and last_finite_batch is not None:
                    last_finite = (epoch, *last_finite_batch)
                history.message = _divergence_message(epoch, last_finite, _member_lr(optimizer, 0))
                write(history.message)
                break
            last_finite = (epoch, None, epoch_loss)
            logged = bool(log_every) and (epoch % log_every == 0 or epoch == 1)
            if logged:
                write(_log_line(epoch, epoch_loss, epoch_accuracy))
            if bar is not None:
                bar.update(1)
                if epoch % 100 == 0 or epoch == epochs:
                    bar.set_postfix_str(f"loss {_loss_text(epoch_loss)}, acc {epoch_accuracy:.4f}", refresh=False)
            if stop_at_accuracy is not None and epoch_accuracy >= stop_at_accuracy:
                history.status, history.stop_epoch = "reached", epoch
                if log_every and not logged:
                    write(_log_line(epoch, epoch_loss, epoch_accuracy))
                break
            if should_stop is not None and should_stop():
                history.status, history.stop_epoch = "stopped", epoch
                break
    if bar is not None:
        bar.close()
    history.wall_time = time.perf_counter() - started
    return history


def fit_ensemble(ensemble, X, y, loss, optimizer, epochs: int, stop_at_accuracy: float | None = None,
                 threshold: float = 0.5, on_finish=None, compile: bool = True) -> list[History]:  # noqa: A002
    """Train every member of ``ensemble`` (an ``nn.Ensemble``) full batch on ``(X, y)`` and
    return one ``History`` per member, in member order: for each member, the epochs, stop
    epoch and status that ``fit(model, X, y, loss, optimizer, epochs,
    stop_at_accuracy=...)`` gives the member's model trained alone, and the same parameters.

    ``loss`` is "mse", "mse/2", "bce", "bce_with_logits" or one of those loss modules (reduction
    "mean" or "sum"); ``optimizer`` updates ``ensemble.parameters()`` (per-member learning
    rates: ``lr=ensemble.per_member(rates)``). A member that reaches ``stop_at_accuracy``
    or whose loss turns nan/inf leaves the ensemble before that epoch's update, as ``fit``
    stops, and the others go on; ``on_finish(member, history)`` is called as each one
    finishes. At the end ``ensemble`` holds every member again, each with its final
    parameters and gradients, and ``optimizer`` covers them again: each member's learning
    rate (and other per-member options) and state (momentum, moments) as it finished. A
    state shared by all members, such as Adam's step count, is the last members'.
    """
    from microgradnp.nn.ensemble import Ensemble

    if not isinstance(ensemble, Ensemble):
        raise TypeError(f"fit_ensemble: expected an nn.Ensemble, got {type(ensemble).__name__}; use fit for one model")
    _check_arguments("fit_ensemble", epochs, stop_at_accuracy, threshold, optimizer)
    loss_fn = ENSEMBLE_LOSSES.get(loss, lambda: loss)() if isinstance(loss, str) else loss
    threshold = output_threshold(loss_fn, threshold)
    X, y = _checked_data("fit_ensemble", X, y)
    X_tensor, n = Tensor(X), len(X)
    # fit's epoch loss: a mean weighted by the batch's size over the set's (n / n for the
    # full batch), a sum as it is
    scale = 1 if getattr(loss_fn, "reduction", "mean") == "sum" else n
    members = ensemble.members
    histories = [History() for _ in range(members)]
    live = list(range(members))  # the member number in each row of the shrinking ensemble
    final = {}  # member -> its parameters when it finished
    started = time.perf_counter()

    def gradient_step(X_batch, y_batch):
        optimizer.zero_grad()
        prediction = ensemble(X_batch)
        losses = ensemble.member_losses(loss_fn, prediction, y_batch)
        losses.backward(np.ones(losses.shape, losses.dtype))  # each member's loss seeded with 1, as .sum() would
        return prediction, losses

    step = _compiled_or_eager(gradient_step) if compile else gradient_step

    def finish(row, status, epoch):
        member = live[row]
        history = histories[member]
        history.status, history.stop_epoch = status, epoch if status != "completed" else None
        history.wall_time = time.perf_counter() - started
        final[member] = _member_rows(ensemble, optimizer, row, len(live))
        if on_finish is not None:
            on_finish(member, history)

    # Each epoch's losses and correct counts wait here (one list per epoch, in row order)
    # until a member finishes: the common epoch costs a few list operations, not a
    # Python loop over the members.
    waiting_losses, waiting_correct = [], []

    def record():
        """Move the waiting epochs into the live members' histories."""
        for member, member_losses, member_correct in zip(live, zip(*waiting_losses), zip(*waiting_correct)):
            history = histories[member]
            history.loss += [loss_value * scale / scale for loss_value in member_losses]
            history.accuracy += [correct / n for correct in member_correct]
        waiting_losses.clear()
        waiting_correct.clear()

    ensemble.train()
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for epoch in range(1, epochs + 1):
            prediction, losses = step(X_tensor, y)
            loss_values = losses.data.tolist()
            correct = _count_correct_per_member(prediction.data, y, threshold)
            waiting_losses.append(loss_values)
            waiting_correct.append(correct)
            # (c / n grows with c: the largest count alone tells whether any member stops)
            stopping = stop_at_accuracy is not None and max(correct) / n >= stop_at_accuracy
            if stopping or not _all_finite(loss_values, scale):
                record()
                staying = []
                for row, member in enumerate(live):
                    history = histories[member]
                    if not math.isfinite(history.loss[-1]):
                        before = (epoch - 1, None, history.loss[-2]) if epoch > 1 else None
                        history.message = _divergence_message(epoch, before, _member_lr(optimizer, row))
                        finish(row, "diverged", epoch)
                    elif stop_at_accuracy is not None and history.accuracy[-1] >= stop_at_accuracy:
                        finish(row, "reached", epoch)
                    else:
                        staying.append(row)
                if len(staying) < len(live):
                    if not staying:
                        break
                    ensemble.keep(staying, optimizer)
                    live = [live[row] for row in staying]
            elif len(waiting_losses) >= _RECORD_EVERY:
                record()
            optimizer.step()
        else:
            record()
            for row in range(len(live)):
                finish(row, "completed", epochs)
    _restore_members(ensemble, optimizer, [final[member] for member in range(members)])
    return histories


def _member_rows(ensemble, optimizer, row: int, count: int) -> dict:
    """What member ``row`` of the ``count`` still training has: its parameters and their
    gradients, the optimizer's per-member state (momentum, moments) and options (rates)."""
    params = list(ensemble.parameters())
    state = getattr(optimizer, "state", {})

    def own(values: dict) -> dict:
        return {key: value[row].copy() for key, value in values.items()
                if isinstance(value, np.ndarray) and value.shape[:1] == (count,)}

    return {"data": [p.data[row].copy() for p in params],
            "grad": [None if p._grad is None else p._grad[row].copy() for p in params],
            "state": [own(state[p]) if p in state else {} for p in params],
            "options": [own(group) for group in _option_dicts(optimizer)]}


def _option_dicts(optimizer) -> list[dict]:
    """Where an optimizer keeps its options: each parameter group, and its defaults."""
    return [*getattr(optimizer, "param_groups", ()), getattr(optimizer, "defaults", {})]


def _restore_members(ensemble, optimizer, rows: list[dict]) -> None:
    """Put every member back into ``ensemble`` and its optimizer, each as it finished
    (``_member_rows``), so that the optimizer covers the members again. A state a member
    never had (it stopped before its first update) starts from zeros, as a new buffer
    does; a state shared by all members (a step count) stays the last members'."""
    members = len(rows)

    def stacked(values):
        out = np.empty((members, *values[0].shape), values[0].dtype)
        for member, value in enumerate(values):
            out[member] = value
        return out

    def gathered(key, per_member):
        known = next(v for v in per_member if key in v)[key]
        return stacked([v.get(key, np.zeros_like(known)) for v in per_member])

    state = getattr(optimizer, "state", {})
    for i, p in enumerate(ensemble.parameters()):
        p.data = stacked([row["data"][i] for row in rows])
        grads = [row["grad"][i] for row in rows]
        p._grad = None if any(g is None for g in grads) else stacked(grads)
        per_member = [row["state"][i] for row in rows]
        for key in dict.fromkeys(k for v in per_member for k in v):
            state[p][key] = gathered(key, per_member)
    for g, group in enumerate(_option_dicts(optimizer)):
        per_member = [row["options"][g] for row in rows]
        for key in dict.fromkeys(k for v in per_member for k in v):
            group[key] = gathered(key, per_member)
    ensemble.members = members


_RECORD_EVERY = 1000  # epochs an ensemble's losses wait as lists before they join the histories


def _all_finite(loss_values: list, n: int) -> bool:
    """Whether ``loss_value * n / n`` (fit's epoch loss; n is 1 for a sum) is finite for every value: a sum
    is nan or inf if any term is, and the value furthest from 0 overflows first. (A sum
    that overflows says no: the caller then checks each value.)"""
    return math.isfinite(sum(loss_values)) and math.isfinite(max(max(loss_values), -min(loss_values)) * n)


def _gradient_step(model, loss_fn, optimizer):
    """One batch's forward, loss and backward; fit updates after its checks."""

    def gradient_step(X_batch, y_batch):
        optimizer.zero_grad()
        prediction = model(X_batch)
        value = loss_fn(prediction, y_batch)
        if not isinstance(value, Tensor):  # (a float has no backward(): nothing could be trained)
            raise TypeError(f"fit: the loss returned a {type(value).__name__}, not a Tensor: compute it from the "
                            "prediction with tensor operations (F.mse_loss, (p - y).pow(2).mean(), ...), without "
                            ".item() or float(), so that backward() reaches the parameters")
        value.backward()
        return prediction, value

    return gradient_step


def _compiled_or_eager(step):
    """``step`` compiled; if the model cannot be traced, ``step`` itself, with a warning."""
    compiled = mg_compile(step)

    def run(X_batch, y_batch):
        nonlocal compiled
        if compiled is None:
            return step(X_batch, y_batch)
        try:
            return compiled(X_batch, y_batch)
        except TraceError as error:
            warnings.warn(f"fit: training eagerly, the model cannot be compiled: {error}", stacklevel=3)
            compiled = None
            return step(X_batch, y_batch)

    return run


def _loss_text(loss: float) -> str:
    # Fixed point is the lab's format; a loss blowing up towards overflow would print as
    # dozens of digits, so large values switch to scientific notation.
    return f"{loss:.4f}" if abs(loss) < 1e6 else f"{loss:.4e}"


def _log_line(epoch: int, loss: float, accuracy: float) -> str:
    return f"epoch {epoch}, loss {_loss_text(loss)}, acc {accuracy:.4f}"


def _count_correct_per_member(predictions: np.ndarray, target: np.ndarray, threshold: float) -> list[int]:
    """``count_correct`` of each member's predictions (the leading axis), in one pass for
    one output column (the lab's case)."""
    if predictions.ndim == 3 and predictions.shape[2] == 1:
        hits = (predictions > threshold) == (target.reshape(predictions.shape[1:]) > 0.5)
        return np.add.reduce(hits, axis=(1, 2), dtype=np.intp).tolist()  # count_nonzero(axis=) without its wrapper
    return [count_correct(p, target, threshold) for p in predictions]


def _member_lr(optimizer, row: int):
    """The learning rate of an ensemble's member ``row`` (of the first parameter group)."""
    lr = (getattr(optimizer, "param_groups", None) or [{}])[0].get("lr")
    return float(np.ravel(lr)[row]) if isinstance(lr, np.ndarray) else lr


def _divergence_message(epoch: int, last_finite, lr) -> str:
    """``last_finite`` is ``(epoch, batch or None, loss)``: a batch when no whole epoch was finite."""
    if last_finite is None:
        before = "the loss was never finite"
    else:
        at_epoch, batch, loss = last_finite
        where = f"batch {batch} of epoch {at_epoch}" if batch is not None else f"epoch {at_epoch}"
        before = f"the last finite loss was {loss:.4g} at {where}"
    return (f"training stopped at epoch {epoch}: the loss became nan/inf ({before}). "
            f"Try a smaller learning rate{f' than {lr:g}' if lr is not None else ''}, "
            "or add an activation (a network with no activation can grow without bound).")


def stderr_is_terminal() -> bool:
    """Whether ``sys.stderr``, where progress bars go, is a terminal: a bar's redraws are
    only noise in a file or a pipe (``> log 2>&1``)."""
    isatty = getattr(sys.stderr, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except (OSError, ValueError):  # a closed or detached stream
        return False


def show_progress(progress: bool | None) -> bool:
    """``progress`` as fit's and sweep's bars take it: None is "when stderr is a terminal"."""
    return stderr_is_terminal() if progress is None else bool(progress)


def _progress_bar(epochs: int, progress: bool | None):
    if not show_progress(progress):
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # the bar is an extra (pip install "microgradnp[progress]")
        return None
    return tqdm(total=epochs, unit="epoch", leave=False, mininterval=0.25)


@no_grad()
def predict(model, X) -> np.ndarray:
    """The model's output for ``X`` as an ndarray (in eval mode), without recording a graph."""
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            values = model(X if isinstance(X, Tensor) else Tensor(X)).data
        if watchers.count and mode.tracer is not None:  # an mg.compile trace: values given to the caller, as t.data
            mode.tracer.values_taken(values, None)
        return values
    finally:
        model.train(was_training)


def _outputs_now(model, X) -> np.ndarray:
    """``predict`` during training: the modules' modes are switched for the call without
    counting as changes (a compiled training step would otherwise trace again)."""
    modes = [(module, module.training) for module in model.modules()]
    for module, _ in modes:
        object.__setattr__(module, "training", False)
    try:
        with no_grad():
            return model(Tensor(X)).data
    finally:
        for module, training in modes:
            object.__setattr__(module, "training", training)
