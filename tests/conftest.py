"""Shared test helpers: finite differences, the optional PyTorch oracle, dtype hygiene."""

from __future__ import annotations

import re

import numpy as np
import pytest

import microgradnp as mg
from microgradnp.autograd.grad_mode import mode


def numeric_grad(fn, arrays, index, eps=1e-6, weights=None):
    """Central finite-difference gradient of ``sum(weights * fn(*arrays))`` with respect
    to ``arrays[index]``, in float64. ``fn`` takes and returns plain ndarrays."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    x = arrays[index]
    out = np.asarray(fn(*arrays), dtype=np.float64)
    weights = np.ones_like(out) if weights is None else weights
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        original = x[i]
        x[i] = original + eps
        above = np.sum(weights * fn(*arrays))
        x[i] = original - eps
        below = np.sum(weights * fn(*arrays))
        x[i] = original
        grad[i] = (above - below) / (2 * eps)
    return grad


@pytest.fixture(autouse=True)
def _restore_global_modes():
    """A test that changes the default dtype or a grad mode must not leak it."""
    dtype = mg.get_default_dtype()
    grad_enabled, anomaly = mode.grad_enabled, mode.anomaly
    yield
    mg.set_default_dtype(dtype)
    mode.grad_enabled, mode.anomaly = grad_enabled, anomaly


@pytest.fixture
def torch():
    """PyTorch as an optional oracle: the test is skipped when it is not installed."""
    torch = pytest.importorskip("torch")
    torch.set_default_dtype(torch.float64)
    return torch


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def renderer_available() -> bool:
    """Whether a Graphviz renderer (the system ``dot`` or graphviz-pure) can make SVG."""
    try:
        mg.viz.find_renderer("svg")
    except mg.viz.RenderError:
        return False
    return True


needs_renderer = pytest.mark.skipif(not renderer_available(), reason="no Graphviz renderer installed")


def labels(dot) -> dict[str, str]:
    """node id -> label, parsed from the DOT source (quoted labels may span lines)."""
    found = {}
    for match in re.finditer(r'^\s*(\w+) \[label="((?:[^"\\]|\\.)*)"', dot.source, re.M):
        found[match.group(1)] = match.group(2)
    for match in re.finditer(r"^\s*(\w+) \[label=(-?[\w.\-]+)", dot.source, re.M):
        found.setdefault(match.group(1), match.group(2))
    return found
