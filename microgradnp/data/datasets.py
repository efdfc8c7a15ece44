"""Toy 2-D data sets: the lab's "linear" and "XOR" sets, moons, circles and spirals.

Every generator returns ``(X, y)``: ``X`` of shape ``(n, 2)`` in the default float dtype
(``mg.get_default_dtype()``, so the data matches the model's parameters), and the labels
in the shape its ``labels`` argument names:

- ``labels="column"`` (the default): ``y`` of shape ``(n, 1)`` in the default float dtype,
  0.0 and 1.0, ready for ``MSELoss``/``BCELoss`` on a network with one output;
- ``labels="indices"``: ``y`` of shape ``(n,)``, integer class indices (``int64``), ready
  for ``cross_entropy`` on a network with one output per class.

``make_spiral`` with more than two classes has only class indices (its default).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from types import MappingProxyType

import numpy as np

from microgradnp.tensor import _rng, get_default_dtype


def _check_n(n, name: str, minimum: int = 1) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < minimum:
        raise ValueError(f"{name}: n must be an integer >= {minimum}, got {n!r}")
    return int(n)


def _check_noise(noise, name: str) -> float:
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real) or not math.isfinite(noise) or noise < 0:
        raise ValueError(f"{name}: noise must be a finite number >= 0, got {noise!r}")
    return float(noise)


LABELS = ("column", "indices")
"""The values of every generator's ``labels`` argument."""


def _check_labels(labels, name: str) -> str:
    if isinstance(labels, str) and labels in LABELS:
        return labels
    raise ValueError(f"{name}: labels must be 'column' (an (n, 1) column of 0.0/1.0, for mse/bce) or 'indices' "
                     f"(class indices of shape (n,), for cross_entropy), got {labels!r}")


def _binary(X: np.ndarray, classes: np.ndarray, labels: str = "column") -> tuple[np.ndarray, np.ndarray]:
    """``X`` in the default dtype and the classes (0/1) as ``labels`` says."""
    dtype = get_default_dtype()
    if labels == "indices":
        return X.astype(dtype, copy=False), classes.astype(np.int64)
    return X.astype(dtype, copy=False), classes.astype(dtype).reshape(-1, 1)


def _add_noise(X: np.ndarray, noise: float, rng) -> np.ndarray:
    # Draw only when asked: noise-free sets leave a shared Generator's stream untouched.
    return X + rng.normal(scale=noise, size=X.shape) if noise else X


def _halves(n: int) -> tuple[int, int]:
    """Sizes of class 0 and class 1, scikit-learn's split (the odd point goes to class 1)."""
    return n // 2, n - n // 2


def _shuffled(X: np.ndarray, labels: np.ndarray, shuffle: bool, rng) -> tuple[np.ndarray, np.ndarray]:
    if not shuffle:
        return X, labels
    order = rng.permutation(len(X))
    return X[order], labels[order]


def make_linear(n: int = 100, rng=None, *, labels: str = "column") -> tuple[np.ndarray, np.ndarray]:
    """The lab's "linear" set: ``n`` points uniform in the unit square, label 1 above the diagonal.

    Args:
        n: number of points (>= 1).
        rng: a ``np.random.Generator``, an integer seed, or None (the global generator).
        labels: ``"column"`` (the default), ``y`` of shape ``(n, 1)`` with 0.0 and 1.0 (for
            mse/bce on one output); ``"indices"``, ``y`` of shape ``(n,)`` with class
            indices 0 and 1 as ``int64`` (for ``cross_entropy`` on two outputs).

    Returns:
        ``(X, y)``: ``X`` of shape ``(n, 2)`` with coordinates in ``[0, 1)``, and ``y``
        holding 1 where ``X[:, 1] > X[:, 0]`` (y > x) and 0 elsewhere.

    Example:
        >>> X, y = make_linear(100, rng=0)
        >>> X.shape, y.shape
        ((100, 2), (100, 1))
        >>> make_linear(100, rng=0, labels="indices")[1].shape
        (100,)
    """
    n = _check_n(n, "make_linear")
    labels = _check_labels(labels, "make_linear")
    X = _rng(rng).uniform(0.0, 1.0, size=(n, 2))
    return _binary(X, X[:, 1] > X[:, 0], labels)


def make_xor_easy(*, labels: str = "column") -> tuple[np.ndarray, np.ndarray]:
    """The lab's 21-point XOR set: the two diagonals of the unit square.

    For ``i = 0..10`` the point ``(0.1 i, 0.1 i)`` has label 0 and, except for
    ``i = 5`` (the centre, already on the other diagonal), the point
    ``(0.1 i, 1 - 0.1 i)`` has label 1. Points come in the lab generator's order: for
    each ``i``, first the label-0 point, then the label-1 point.

    Args:
        labels: ``"column"`` (the default), ``y`` of shape ``(21, 1)`` with 0.0 and 1.0;
            ``"indices"``, ``y`` of shape ``(21,)`` with class indices 0 and 1 as ``int64``
            (for ``cross_entropy``).

    Returns:
        ``(X, y)``: ``X`` of shape ``(21, 2)``; 11 zeros and 10 ones in ``y``.
    """
    labels = _check_labels(labels, "make_xor_easy")
    points, classes = [], []
    for i in range(11):
        points.append((0.1 * i, 0.1 * i))
        classes.append(0)
        if i != 5:
            points.append((0.1 * i, 1 - 0.1 * i))
            classes.append(1)
    return _binary(np.array(points), np.array(classes), labels)


def make_moons(n: int = 100, noise: float = 0.0, rng=None, *, shuffle: bool = False,
               labels: str = "column") -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles, as scikit-learn's ``make_moons``.

    Class 0 (``n // 2`` points) lies on the upper half of the unit circle, class 1 (the
    rest) on a lower half circle centred at ``(1, 0.5)``; the points are evenly spaced in
    angle from 0 to pi.

    Args:
        n: number of points (>= 1).
        noise: standard deviation of Gaussian noise added to every coordinate (>= 0).
        rng: a ``np.random.Generator``, an integer seed, or None (the global generator).
        shuffle: mix the classes instead of returning class 0 first, then class 1.
        labels: ``"column"`` (the default), ``y`` of shape ``(n, 1)`` with 0.0 and 1.0 (for
            mse/bce on one output); ``"indices"``, ``y`` of shape ``(n,)`` with class
            indices 0 and 1 as ``int64`` (for ``cross_entropy`` on two outputs).

    Returns:
        ``(X, y)``: ``X`` of shape ``(n, 2)`` and ``y`` as ``labels`` says.
    """
    n = _check_n(n, "make_moons")
    noise = _check_noise(noise, "make_moons")
    labels = _check_labels(labels, "make_moons")
    rng = _rng(rng)
    n_outer, n_inner = _halves(n)
    outer = np.linspace(0.0, np.pi, n_outer)
    inner = np.linspace(0.0, np.pi, n_inner)
    X = np.concatenate([
        np.column_stack([np.cos(outer), np.sin(outer)]),
        np.column_stack([1 - np.cos(inner), 1 - np.sin(inner) - 0.5]),
    ])
    classes = np.repeat([0, 1], [n_outer, n_inner])
    X, classes = _shuffled(_add_noise(X, noise, rng), classes, shuffle, rng)
    return _binary(X, classes, labels)


def make_circles(n: int = 100, noise: float = 0.0, factor: float = 0.8, rng=None, *,
                 shuffle: bool = False, labels: str = "column") -> tuple[np.ndarray, np.ndarray]:
    """A circle inside a circle, as scikit-learn's ``make_circles``.

    Class 0 (``n // 2`` points) lies on the unit circle, class 1 (the rest) on the
    concentric circle of radius ``factor``; each ring is evenly spaced in angle,
    starting at angle 0.

    Args:
        n: number of points (>= 1).
        noise: standard deviation of Gaussian noise added to every coordinate (>= 0).
        factor: radius of the inner circle relative to the outer one, ``0 < factor < 1``.
        rng: a ``np.random.Generator``, an integer seed, or None (the global generator).
        shuffle: mix the classes instead of returning class 0 first, then class 1.
        labels: ``"column"`` (the default), ``y`` of shape ``(n, 1)`` with 0.0 and 1.0 (for
            mse/bce on one output); ``"indices"``, ``y`` of shape ``(n,)`` with class
            indices 0 and 1 as ``int64`` (for ``cross_entropy`` on two outputs).

    Returns:
        ``(X, y)``: ``X`` of shape ``(n, 2)`` and ``y`` as ``labels`` says, class 0 the
        outer circle and class 1 the inner one.
    """
    n = _check_n(n, "make_circles")
    noise = _check_noise(noise, "make_circles")
    labels = _check_labels(labels, "make_circles")
    if isinstance(factor, bool) or not isinstance(factor, numbers.Real) or not 0 < factor < 1:
        raise ValueError(f"make_circles: factor must be a number with 0 < factor < 1, got {factor!r}")
    rng = _rng(rng)
    n_outer, n_inner = _halves(n)
    outer = np.linspace(0.0, 2 * np.pi, n_outer, endpoint=False)
    inner = np.linspace(0.0, 2 * np.pi, n_inner, endpoint=False)
    X = np.concatenate([
        np.column_stack([np.cos(outer), np.sin(outer)]),
        factor * np.column_stack([np.cos(inner), np.sin(inner)]),
    ])
    classes = np.repeat([0, 1], [n_outer, n_inner])
    X, classes = _shuffled(_add_noise(X, noise, rng), classes, shuffle, rng)
    return _binary(X, classes, labels)


def make_spiral(n: int = 100, classes: int = 2, noise: float = 0.0, rng=None, *,
                shuffle: bool = False, labels: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved spiral arms, one per class: the classic CS231n spiral set.

    Class ``k`` gets ``n // classes`` points (the first ``n % classes`` classes one
    more). Its ``m`` points have radius ``linspace(0, 1, m)`` and angle
    ``linspace(4k, 4(k + 1), m)`` radians plus noise, at ``(r sin t, r cos t)``.

    Args:
        n: total number of points (>= ``classes``, so that every class has a point).
        classes: number of arms (>= 2).
        noise: standard deviation of Gaussian noise on the angle, in radians (>= 0;
            CS231n uses 0.2).
        rng: a ``np.random.Generator``, an integer seed, or None (the global generator).
        shuffle: mix the classes instead of returning them in order 0, 1, 2, ...
        labels: ``"column"``, ``y`` of shape ``(n, 1)`` with 0.0 and 1.0 (two classes
            only: for mse/bce on one output); ``"indices"``, ``y`` of shape ``(n,)`` with
            class indices as ``int64`` (for ``cross_entropy``, one output per class);
            None (the default), ``"column"`` for two classes and ``"indices"`` for more.

    Returns:
        ``(X, y)``: ``X`` of shape ``(n, 2)`` and ``y`` as ``labels`` says.
    """
    if isinstance(classes, bool) or not isinstance(classes, numbers.Integral) or classes < 2:
        raise ValueError(f"make_spiral: classes must be an integer >= 2, got {classes!r}")
    classes = int(classes)
    if labels is None:
        labels = "column" if classes == 2 else "indices"
    labels = _check_labels(labels, "make_spiral")
    if labels == "column" and classes > 2:
        raise ValueError(f"make_spiral: labels='column' (one 0/1 column, for mse/bce) is for two classes; with "
                         f"{classes} classes use labels='indices' (the default), class indices for cross_entropy")
    n = _check_n(n, f"make_spiral (with {classes} classes)", minimum=classes)
    noise = _check_noise(noise, "make_spiral")
    rng = _rng(rng)
    sizes = [n // classes + (k < n % classes) for k in range(classes)]
    arms = []
    for k, m in enumerate(sizes):
        radius = np.linspace(0.0, 1.0, m)
        angle = np.linspace(4.0 * k, 4.0 * (k + 1), m)
        if noise:
            angle = angle + rng.normal(scale=noise, size=m)
        arms.append(np.column_stack([radius * np.sin(angle), radius * np.cos(angle)]))
    X = np.concatenate(arms)
    indices = np.repeat(np.arange(classes, dtype=np.int64), sizes)
    X, indices = _shuffled(X, indices, shuffle, rng)
    return _binary(X, indices, labels)


DATASETS: MappingProxyType[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = MappingProxyType({
    "linear": make_linear,
    "xor": make_xor_easy,
    "xor_easy": make_xor_easy,
    "moons": make_moons,
    "circles": make_circles,
    "spiral": make_spiral,
})
"""The data sets ``load`` knows, by name (read-only)."""


def load(name: str, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """A data set by name: ``load("xor")``, ``load("linear", n=200, rng=0)``.

    Args:
        name: one of ``"linear"``, ``"xor"`` (same as ``"xor_easy"``), ``"moons"``,
            ``"circles"``, ``"spiral"`` (see ``DATASETS``).
        **kwargs: passed to the generator (``make_linear``, ``make_xor_easy``, ...).

    Returns:
        ``(X, y)`` as the generator returns it.

    Raises:
        ValueError: for an unknown name; the message lists the known ones.
    """
    try:
        generator = DATASETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown data set {name!r}: use one of {', '.join(DATASETS)}") from None
    return generator(**kwargs)
