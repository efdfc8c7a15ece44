"""Training: the lab's loop (``fit``) and what it records (``History``)."""

from microgradnp.train.fit import History, count_correct, fit, predict

__all__ = ["History", "count_correct", "fit", "predict"]
