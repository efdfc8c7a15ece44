"""PyTorch's ``torch.utils`` spelling: ``from microgradnp.utils.data import DataLoader, TensorDataset``."""

from microgradnp.utils import data

__all__ = ["data"]
