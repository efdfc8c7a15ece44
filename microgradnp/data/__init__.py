"""Data: the lab's point sets and other toy 2-D sets, and a mini-batch ``DataLoader``."""

from microgradnp.data.datasets import (
    DATASETS,
    load,
    make_circles,
    make_linear,
    make_moons,
    make_spiral,
    make_xor_easy,
)
from microgradnp.data.loader import DataLoader

__all__ = [
    "DATASETS",
    "DataLoader",
    "load",
    "make_circles",
    "make_linear",
    "make_moons",
    "make_spiral",
    "make_xor_easy",
]
