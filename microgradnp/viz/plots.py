"""The lab's figures with matplotlib: ground truth vs prediction, decision boundary,
learning curves, sweep heat-maps.

Every function returns a ``matplotlib.figure.Figure`` built without pyplot (so it
works headless and leaves pyplot's state alone) and saves it when given ``path``.
In Jupyter, after ``%matplotlib inline``, a
returned Figure displays itself. Needs the ``plot`` extra
(``pip install "microgradnp[plot]"``).
"""

from __future__ import annotations

import os
import textwrap

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


_NAN = -1  # the "class" of a prediction that is NaN: drawn apart, never counted as a class


def _colour(label) -> str:
    return "grey" if label == _NAN else _CLASS_COLOURS[int(label) % len(_CLASS_COLOURS)]


def _scatter(axis, X, labels, title):
    for label in np.unique(labels):
        chosen = labels == label
        axis.scatter(X[chosen, 0], X[chosen, 1], s=28, color=_colour(label), edgecolors="white", linewidths=0.5,
                     label="NaN" if label == _NAN else f"class {label}")
    axis.set_title(title)
    axis.set_xlabel("x1")
    axis.set_ylabel("x2")
    axis.set_aspect("equal", adjustable="datalim")


def ground_truth_vs_prediction(X, y, prediction, threshold: float = 0.5, path=None, title: str | None = None):
    """The lab's comparison figure: the points coloured by their label (left, "Ground
    truth") and by the model's predicted class (right, "Prediction"); misclassified points
    are circled and counted. The figure's title is ``title``, by default the count of
    correct points ("Ground truth vs prediction: 20/21 correct").

    ``y`` and ``prediction`` may each be a 0/1 column or probabilities (thresholded at
    ``threshold``), integer class indices (as ``make_spiral(classes=3)`` returns), or one
    score column per class (arg-max). A NaN prediction is no class: it is drawn in grey,
    counted as wrong, and the title says how many there are."""
    X = _points(X, "ground_truth_vs_prediction", "at least two columns")
    truth, predicted = _labels(y), _labels(prediction, threshold)
    if not len(truth) == len(predicted) == len(X):
        raise ValueError(f"ground_truth_vs_prediction: X has {len(X)} points, y {len(truth)} labels and prediction "
                         f"{len(predicted)}; give one of each per point")
    values = _array(prediction)
    if values.dtype.kind in "fc":
        # A NaN prediction (a diverged model) is no class: shown in grey and counted as wrong,
        # where thresholding would make it class 0 and arg-max the class of the NaN.
        predicted[np.isnan(values.reshape(len(predicted), -1)).any(axis=1)] = _NAN
    figure, (left, right) = _figure(9, 4.4, columns=2)
    _scatter(left, X, truth, "Ground truth")
    wrong = predicted != truth
    _scatter(right, X, predicted, f"Prediction ({wrong.sum()} wrong)" if wrong.any() else "Prediction")
    if wrong.any():
        right.scatter(X[wrong, 0], X[wrong, 1], s=120, facecolors="none", edgecolors="black", linewidths=1.2,
                      label="wrong")
    left.legend(loc="best", fontsize=8)
    right.legend(loc="best", fontsize=8)
    nans = int(np.sum(predicted == _NAN))
    counted = f"{len(truth) - wrong.sum()}/{len(truth)} correct" + (f", {nans} predictions NaN" if nans else "")
    figure.suptitle(title or f"Ground truth vs prediction: {counted}")
    return _finish(figure, path)


def _points(X, caller: str, columns: str = "two columns") -> np.ndarray:
    """``X`` as an array of at least one point, with the ``columns`` the figure needs ("two
    columns": exactly those of the plane; "at least two columns": x1, x2 drawn)."""
    X = _array(X)
    if X.ndim != 2 or X.shape[1] < 2 or (columns == "two columns" and X.shape[1] != 2):
        raise ValueError(f"{caller}: X must have {columns} (the plane's axes x1, x2), got shape {X.shape}")
    if len(X) == 0:
        raise ValueError(f"{caller}: X has no points")
    return X


def decision_boundary(model, X, y, resolution: int = 200, threshold: float = 0.5, path=None, margin: float = 0.1,
                      title: str | None = None):
    """The model's output over the input plane (shaded), the ``threshold`` contour, and
    the points; with one output column per class, each class's region in its points' colour.

    The shaded region fills the axes: the grid spans the points plus ``margin`` on every
    side and the axes show exactly that range. ``X`` needs two columns (the plane's
    axes). The title is ``title``, by default "Decision boundary"."""
    from microgradnp.train.fit import predict

    X = _points(X, "decision_boundary")
    if isinstance(resolution, bool) or not isinstance(resolution, int | np.integer) or resolution < 2:
        raise ValueError(f"decision_boundary: resolution must be an int of at least 2 (grid points per axis), "
                         f"got {resolution!r}")
    low, high = X.min(axis=0) - margin, X.max(axis=0) + margin
    xs, ys = np.linspace(low[0], high[0], resolution), np.linspace(low[1], high[1], resolution)
    grid_x, grid_y = np.meshgrid(xs, ys)
    dtype = X.dtype if X.dtype.kind == "f" else np.float64  # (a grid of integer points would be coarse)
    grid = np.column_stack([grid_x.ravel(), grid_y.ravel()]).astype(dtype, copy=False)
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
    _scatter(axis, X, _labels(y), title or "Decision boundary")
    # The axes show the grid's range and nothing more (no white band around the shading):
    # equal scales by shrinking the box, not by widening the limits past the grid, and
    # only when the two ranges are comparable (else the box would be a sliver).
    axis.set_xlim(xs[0], xs[-1])
    axis.set_ylim(ys[0], ys[-1])
    width, height = xs[-1] - xs[0], ys[-1] - ys[0]
    equal = width > 0 and height > 0 and 1 / 3 <= width / height <= 3
    axis.set_aspect("equal" if equal else "auto", adjustable="box")
    axis.legend(loc="best", fontsize=8)
    return _finish(figure, path)


def learning_curves(history, path=None, title: str | None = None, log_loss: bool = True):
    """Loss (log scale) and accuracy per epoch from a ``fit`` History, or several drawn on
    the same axes: a dict label -> History, or a list of them (labelled "run 1", "run 2",
    ...). An epoch with no neighbour to draw a line to (one epoch, or NaN on both sides) is
    drawn as a dot. The figure's title is ``title``, by default "Learning curves"."""
    if isinstance(history, dict):
        histories = history
    elif isinstance(history, list | tuple):
        histories = {f"run {number}": run for number, run in enumerate(history, start=1)}
    else:
        histories = {None: history}
    for label, run in histories.items():
        if not hasattr(run, "loss") or not hasattr(run, "accuracy"):
            which = "" if label is None else f" ({label})"
            raise TypeError(f"learning_curves: expected a History (what fit returns), a list of them or a dict "
                            f"label -> History, got {type(run).__name__}{which}")
        if len(run.loss) != len(run.accuracy):
            raise ValueError(f"learning_curves: the history{'' if label is None else f' {label!r}'} has "
                             f"{len(run.loss)} losses but {len(run.accuracy)} accuracies; it needs one of each "
                             "per epoch")
    figure, (loss_axis, accuracy_axis) = _figure(10, 3.8, columns=2)
    for label, run in histories.items():
        epochs = np.arange(1, len(run.loss) + 1)
        loss_axis.plot(epochs, run.loss, label=label, linewidth=1.2, **_dots(run.loss))
        # (the loss panel's legend names the runs)
        (line,) = accuracy_axis.plot(epochs, run.accuracy, linewidth=1.2, **_dots(run.accuracy))
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
    figure.suptitle(title or "Learning curves")
    return _finish(figure, path)


def _dots(values) -> dict:
    """``plot``'s arguments marking the points a line cannot show: those with no finite
    neighbour (a one-epoch history, a value between two NaN)."""
    finite = np.isfinite(np.asarray(values, dtype=float))
    padded = np.concatenate([[False], finite, [False]])
    alone = finite & ~padded[:-2] & ~padded[2:]
    return {"marker": "o", "markersize": 4, "markevery": np.flatnonzero(alone).tolist()} if alone.any() else {}


def sweep_heatmap(table, rows: str = "hidden", columns: str = "lr", value: str = "mean_stop_epoch", path=None,
                  title: str | None = None, fmt: str | None = None):
    """A heat-map of one sweep column over two grid axes, each cell written with its number.

    ``table`` is a ``SweepResult`` (what ``mg.train.sweep`` returns), a list of dicts (e.g.
    ``SweepResult.rows``) or anything with a ``rows`` attribute; ``rows``/``columns`` name
    the keys on the two axes (by default hidden units down and learning rates across),
    ``value`` the number shown (by default the mean stop epoch); ``fmt`` formats it (by
    default without decimals for counts such as epochs, else three significant digits).

    A configuration with a seed that never reached the target has no mean stop epoch: its
    cell says what the results tables say, the epoch limit followed by + ("100000+"), in
    the colour beyond the colour bar's top. Cells without a row stay blank.

    When several rows fall in one cell (a sweep over more keys than the two axes, such as
    ``LAB_GRID``), the rows whose other configuration keys equal those of the first row
    are drawn, and the title names those values.

    Raises:
        ValueError: no rows, a row without the ``rows`` or ``columns`` key, or several
            rows in one cell that differ in no configuration key.
    """
    records = list(getattr(table, "rows", table))
    if not records:
        raise ValueError("sweep_heatmap: the table has no rows")
    for key in (rows, columns):
        if any(key not in record for record in records):
            raise ValueError(f"sweep_heatmap: {key!r} is not a key of every row; the rows have "
                             f"{', '.join(map(repr, records[0]))}")
    records, fixed = _one_row_per_cell(records, rows, columns)
    row_keys = sorted({_hashable(record[rows]) for record in records}, key=_sort_key)
    column_keys = sorted({_hashable(record[columns]) for record in records}, key=_sort_key)
    grid = np.full((len(row_keys), len(column_keys)), np.nan)
    beyond = np.zeros(grid.shape, dtype=bool)  # never reached the target: past the epoch limit
    texts = {}
    for record in records:
        cell = row_keys.index(_hashable(record[rows])), column_keys.index(_hashable(record[columns]))
        number = record.get(value)
        if number is not None:
            grid[cell] = float(number)
        else:
            text = _text_of_missing(record, value, getattr(table, "epochs", None))
            if text is not None:
                texts[cell] = text
                beyond[cell] = text.endswith("+")

    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    finite = grid[np.isfinite(grid)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if high <= low:
        high = low + 1.0
    shown = grid.copy()
    shown[beyond] = high + (high - low)  # above the norm's top: drawn in the "over" colour
    cmap = colormaps["viridis_r"].with_extremes(bad="white", over="0.3")
    width = max(4.8, 1.6 + 0.9 * len(column_keys))
    figure, (axis,) = _figure(width, 1.6 + 0.55 * len(row_keys))
    image = axis.imshow(np.ma.masked_invalid(shown), cmap=cmap, norm=Normalize(low, high), aspect="auto",
                        interpolation="nearest")
    axis.set_xticks(range(len(column_keys)), [_key_text(k) for k in column_keys])
    axis.set_yticks(range(len(row_keys)), [_key_text(k) for k in row_keys])
    label = value.replace("_", " ")
    if title is None:
        title = f"{label} by {rows} and {columns}"
        if getattr(table, "dataset", None):
            title = f"{table.dataset}: {title}"
        title = textwrap.fill(title, int(width * 10))
        if fixed:  # (on a line of its own, so that the values stay together)
            title += f"\n({', '.join(f'{key} {_key_text(v)}' for key, v in fixed.items())})"
    axis.set(xlabel=columns, ylabel=rows, title=title)
    if fmt is None:
        fmt = "{:.0f}" if finite.size and (np.all(finite == np.round(finite)) or finite.min() >= 100) else "{:.3g}"
    middle = (low + high) / 2
    for (i, j), number in np.ndenumerate(grid):
        if np.isfinite(number):
            axis.text(j, i, fmt.format(number), ha="center", va="center", fontsize=8,
                      color="white" if number > middle else "black")
        elif (i, j) in texts:
            axis.text(j, i, texts[i, j], ha="center", va="center", fontsize=8,
                      color="white" if beyond[i, j] else "black")
    if finite.size:  # (a scale of no numbers would say nothing)
        figure.colorbar(image, ax=axis, label=label, extend="max" if beyond.any() else "neither")
    return _finish(figure, path)


def _text_of_missing(record, value: str, epochs) -> str | None:
    """What a cell without a number says: for the mean stop epoch, the sweep table's text
    ("100000+" when a seed never reached the target, "failed", "-" without a target)."""
    if value != "mean_stop_epoch":
        return None
    text = record.get("stop_epoch_text")
    if text:
        return str(text)
    if record.get("never_converged") and epochs:
        return f"{epochs}+"
    return None


def _one_row_per_cell(records: list, rows: str, columns: str) -> tuple[list, dict]:
    """The records to draw, one per cell, and the configuration values fixed to get there."""
    from microgradnp.train.sweep import GRID_KEYS

    def cells(chosen):
        return {(_hashable(r[rows]), _hashable(r[columns])) for r in chosen}

    if len(cells(records)) == len(records):
        return records, {}
    first = records[0]
    varying = [key for key in GRID_KEYS if key not in (rows, columns) and all(key in r for r in records)
               and len({_hashable(r[key]) for r in records}) > 1]
    chosen = [r for r in records if all(_hashable(r[key]) == _hashable(first[key]) for key in varying)]
    if len(cells(chosen)) != len(chosen):
        raise ValueError(f"sweep_heatmap: several rows have the same {rows} and {columns} and differ in no "
                         "configuration key; pass one row per cell")
    return chosen, {key: first[key] for key in varying}


def _hashable(value):
    """Layer widths as a tuple (JSON gives them back as lists)."""
    return tuple(value) if isinstance(value, list) else value


def _key_text(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _sort_key(value):
    return (0, value, "") if isinstance(value, int | float) else (1, 0, str(value))
