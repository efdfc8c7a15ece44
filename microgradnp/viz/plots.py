"""The lab's figures with matplotlib: ground truth vs prediction, decision boundary,
learning curves, sweep heat-maps.

Every function returns a ``matplotlib.figure.Figure`` built without pyplot (so it
works headless and leaves pyplot's state alone) and saves it when given ``path``.
In Jupyter a returned Figure displays itself. Needs the ``plot`` extra
(``pip install "microgradnp[plot]"``).
"""

from __future__ import annotations

import os

import numpy as np

from microgradnp._files import write_atomically
from microgradnp.tensor import Tensor

__all__ = ["decision_boundary", "ground_truth_vs_prediction", "learning_curves", "sweep_heatmap"]

_CLASS_COLOURS = ("tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple")


def _figure(width: float, height: float, columns: int = 1):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            'microgradnp.viz.plots needs matplotlib: pip install "microgradnp[plot]" (or pip install matplotlib)'
        ) from None
    figure = Figure(figsize=(width, height), layout="constrained")
    axes = figure.subplots(1, columns, squeeze=False)[0]
    return figure, list(axes)


def _finish(figure, path):
    """Save ``figure`` to ``path`` (its format from the extension, PNG without one, as
    matplotlib does) through the same atomic writer as every output of the library."""
    if path is not None:
        path = os.fspath(path)
        extension = os.path.splitext(path)[1][1:].lower()
        if not extension:
            extension = "png"
            path = f"{path}.png"
        write_atomically(path, lambda file: figure.savefig(file, dpi=120, format=extension))
    return figure


def _array(values) -> np.ndarray:
    return values.data if isinstance(values, Tensor) else np.asarray(values)


def _labels(values, threshold: float = 0.5) -> np.ndarray:
    """Class labels from score rows (arg-max), class indices (integers, as ``make_spiral``
    and ``cross_entropy`` use them) or 0/1 columns and probabilities (thresholded)."""
    values = _array(values)
    if values.ndim == 2 and values.shape[1] > 1:
        return values.argmax(axis=1)
    values = values.reshape(-1)
    if values.dtype.kind in "biu":
        return values.astype(int)
    if values.size and np.all(values == np.round(values)) and values.max() > 1:  # float class indices 0., 1., 2.
        return values.astype(int)
    return (values > threshold).astype(int)


def _colour(label) -> str:
    return _CLASS_COLOURS[int(label) % len(_CLASS_COLOURS)]


def _scatter(axis, X, labels, title):
    for label in np.unique(labels):
        chosen = labels == label
        axis.scatter(X[chosen, 0], X[chosen, 1], s=28, color=_colour(label),
                     edgecolors="white", linewidths=0.5, label=f"class {label}")
    axis.set_title(title)
    axis.set_xlabel("x1")
    axis.set_ylabel("x2")
    axis.set_aspect("equal", adjustable="datalim")


def ground_truth_vs_prediction(X, y, prediction, threshold: float = 0.5, path=None, title: str | None = None):
    """The lab's comparison figure: the points coloured by their label (left) and by the
    model's predicted class (right); misclassified points are circled and counted.

    ``y`` and ``prediction`` may each be a 0/1 column or probabilities (thresholded at
    ``threshold``), integer class indices (as ``make_spiral(classes=3)`` returns), or one
    score column per class (arg-max)."""
    X = _array(X)
    truth, predicted = _labels(y), _labels(prediction, threshold)
    figure, (left, right) = _figure(9, 4.2, columns=2)
    _scatter(left, X, truth, "Ground truth")
    wrong = predicted != truth
    _scatter(right, X, predicted, f"Predict result ({wrong.sum()} wrong)" if wrong.any() else "Predict result")
    if wrong.any():
        right.scatter(X[wrong, 0], X[wrong, 1], s=120, facecolors="none", edgecolors="black", linewidths=1.2,
                      label="wrong")
    left.legend(loc="best", fontsize=8)
    right.legend(loc="best", fontsize=8)
    if title:
        figure.suptitle(title)
    return _finish(figure, path)


def decision_boundary(model, X, y, resolution: int = 200, threshold: float = 0.5, path=None, margin: float = 0.1):
    """The model's output over the input plane (shaded), the ``threshold`` contour, and
    the points; with one output column per class, each class's region in its points' colour."""
    from microgradnp.train.fit import predict

    X = _array(X)
    low, high = X.min(axis=0) - margin, X.max(axis=0) + margin
    xs, ys = np.linspace(low[0], high[0], resolution), np.linspace(low[1], high[1], resolution)
    grid_x, grid_y = np.meshgrid(xs, ys)
    grid = np.column_stack([grid_x.ravel(), grid_y.ravel()]).astype(X.dtype, copy=False)
    output = predict(model, grid)
    figure, (axis,) = _figure(5.2, 4.6)
    if output.ndim == 2 and output.shape[1] > 1:
        from matplotlib.colors import ListedColormap

        # Each class's region in the colour of its points.
        classes = output.shape[1]
        surface = output.argmax(axis=1).reshape(grid_x.shape)
        axis.contourf(grid_x, grid_y, surface, levels=np.arange(classes + 1) - 0.5, alpha=0.25,
                      cmap=ListedColormap([_colour(k) for k in range(classes)]))
    else:
        surface = output.reshape(grid_x.shape)
        shading = axis.contourf(grid_x, grid_y, surface, levels=20, cmap="RdBu", alpha=0.6)
        axis.contour(grid_x, grid_y, surface, levels=[threshold], colors="black", linewidths=1.2)
        figure.colorbar(shading, ax=axis, label="model output")
    _scatter(axis, X, _labels(y), "Decision boundary")
    axis.legend(loc="best", fontsize=8)
    return _finish(figure, path)


def learning_curves(history, path=None, title: str | None = None, log_loss: bool = True):
    """Loss (log scale) and accuracy per epoch from a ``fit`` History (or several,
    given as a dict label -> History, drawn on the same axes)."""
    histories = history if isinstance(history, dict) else {None: history}
    figure, (loss_axis, accuracy_axis) = _figure(10, 3.8, columns=2)
    for label, run in histories.items():
        epochs = np.arange(1, len(run.loss) + 1)
        loss_axis.plot(epochs, run.loss, label=label, linewidth=1.2)
        (line,) = accuracy_axis.plot(epochs, run.accuracy, linewidth=1.2)  # the loss panel's legend names runs
        if run.stop_epoch is not None and run.status == "reached":
            reached = f"target reached at epoch {run.stop_epoch}"
            accuracy_axis.axvline(run.stop_epoch, color="grey" if label is None else line.get_color(), linestyle=":",
                                  linewidth=1, label=reached if label is None else f"{label}: {reached}")
    if log_loss and all(np.all(np.asarray(run.loss) > 0) for run in histories.values()):
        loss_axis.set_yscale("log")
    loss_axis.set(title="Loss", xlabel="epoch", ylabel="loss")
    accuracy_axis.set(title="Accuracy", xlabel="epoch", ylabel="accuracy", ylim=(-0.02, 1.02))
    if None not in histories:
        loss_axis.legend(fontsize=8)
    if accuracy_axis.get_legend_handles_labels()[1]:
        accuracy_axis.legend(fontsize=8, loc="lower right")
    if title:
        figure.suptitle(title)
    return _finish(figure, path)


def sweep_heatmap(table, rows: str, columns: str, value: str = "mean_stop_epoch", path=None, title: str | None = None,
                  fmt: str = "{:.0f}"):
    """A heat-map of one sweep column over two grid axes.

    ``table`` is a list of dicts (e.g. ``SweepResult.rows``) or anything with a
    ``rows`` attribute; ``rows``/``columns`` name the keys on the two axes (e.g. "lr",
    "hidden"), ``value`` the number shown. Missing cells stay blank.
    """
    records = list(getattr(table, "rows", table))
    row_keys = sorted({record[rows] for record in records}, key=_sort_key)
    column_keys = sorted({record[columns] for record in records}, key=_sort_key)
    grid = np.full((len(row_keys), len(column_keys)), np.nan)
    for record in records:
        number = record.get(value)
        if number is not None:
            grid[row_keys.index(record[rows]), column_keys.index(record[columns])] = float(number)
    figure, (axis,) = _figure(1.2 + 0.9 * len(column_keys), 1.2 + 0.6 * len(row_keys))
    image = axis.imshow(grid, cmap="viridis_r", aspect="auto")
    axis.set_xticks(range(len(column_keys)), [str(k) for k in column_keys])
    axis.set_yticks(range(len(row_keys)), [str(k) for k in row_keys])
    axis.set(xlabel=columns, ylabel=rows, title=title or value.replace("_", " "))
    finite = grid[np.isfinite(grid)]
    middle = (finite.min() + finite.max()) / 2 if finite.size else 0
    for (i, j), number in np.ndenumerate(grid):
        if np.isfinite(number):
            axis.text(j, i, fmt.format(number), ha="center", va="center", fontsize=8,
                      color="white" if number > middle else "black")
    figure.colorbar(image, ax=axis, label=value.replace("_", " "))
    return _finish(figure, path)


def _sort_key(value):
    return (0, value, "") if isinstance(value, int | float) else (1, 0, str(value))
