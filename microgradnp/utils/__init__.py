"""PyTorch's ``torch.utils`` spelling: ``from microgradnp.utils.data import DataLoader, TensorDataset``,
``microgradnp.utils.hooks.RemovableHandle``."""

from microgradnp.utils import data, hooks

__all__ = ["data", "hooks"]
