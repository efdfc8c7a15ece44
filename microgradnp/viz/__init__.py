"""Pictures of what the network does: ``plots`` (matplotlib figures of data, predictions
and training; needs the ``plot`` extra)."""

from microgradnp.viz import plots

__all__ = ["plots"]
