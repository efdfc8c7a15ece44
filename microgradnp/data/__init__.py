"""Data: the lab's point sets and other toy 2-D sets, PyTorch's datasets and samplers, and ``DataLoader``."""

from microgradnp.data import dataset
from microgradnp.data.dataset import *  # noqa: F403 (PyTorch's torch.utils.data names, listed in its __all__)
from microgradnp.data.datasets import (
    DATASETS,
    load,
    make_circles,
    make_linear,
    make_moons,
    make_spiral,
    make_xor_easy,
)

__all__ = [
    "DATASETS",
    "load",
    "make_circles",
    "make_linear",
    "make_moons",
    "make_spiral",
    "make_xor_easy",
    *dataset.__all__,
]
