"""Training: the lab's loop (``fit``), what it records (``History``), and the lab's grid
of runs (``sweep``, vectorised over seeds and learning rates)."""

from microgradnp.train.fit import History, count_correct, fit, fit_ensemble, output_threshold, predict
from microgradnp.train.sweep import (
    LAB_DEFAULTS,
    LAB_GRID,
    SweepConfig,
    SweepResult,
    cluster_executor,
    expand_grid,
    sweep,
)

__all__ = ["LAB_DEFAULTS", "LAB_GRID", "History", "SweepConfig", "SweepResult", "cluster_executor", "count_correct",
           "expand_grid", "fit", "fit_ensemble", "output_threshold", "predict", "sweep"]
