"""``torch.utils.data`` under PyTorch's module path: the names of ``microgradnp.data.dataset``.

``from microgradnp.utils.data import DataLoader, TensorDataset, random_split`` is
``from microgradnp.data import ...``: the same objects.
"""

from microgradnp.data import dataset as _dataset
from microgradnp.data.dataset import *  # noqa: F403 (exactly the names of its __all__)

__all__ = list(_dataset.__all__)
