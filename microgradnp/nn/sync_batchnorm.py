"""``SyncBatchNorm``, as ``torch.nn.SyncBatchNorm``: microgradnp runs in one process, so it is
batch normalization of any ``(N, C, ...)`` input, as PyTorch's falls back to ``batch_norm``
when there is nothing to synchronise."""

from __future__ import annotations

from microgradnp.errors import InvalidArgumentError
from microgradnp.nn.module import Module
from microgradnp.nn.normalization import BatchNorm1d

__all__ = ["SyncBatchNorm"]


class SyncBatchNorm(BatchNorm1d):
    """Batch normalization over every axis of an ``(N, C, ...)`` input but the channels C, as
    ``torch.nn.SyncBatchNorm`` on one process (``BatchNorm1d``'s arguments, statistics and
    buffers; ``process_group`` is kept for PyTorch's API and otherwise unused).

    ``SyncBatchNorm.convert_sync_batchnorm(model)`` replaces the ``BatchNorm*d`` layers of a
    model by ``SyncBatchNorm`` layers sharing their Parameters and buffers.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, process_group=None, dtype=None, *, bias: bool = True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, dtype, bias=bias)
        self.process_group = process_group

    def _check_input(self, shape: tuple) -> None:
        if len(shape) < 2:
            raise InvalidArgumentError(f"SyncBatchNorm: expected at least 2D input (got {len(shape)}D input)")
        if shape[1] == 0:
            raise InvalidArgumentError("SyncBatchNorm: the number of input channels should be non-zero")

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group=None) -> Module:
        """Every ``BatchNorm*d`` of ``module``'s tree replaced by a ``SyncBatchNorm`` holding the
        same Parameters and buffers (the same objects) and the same training mode, as
        ``torch.nn.SyncBatchNorm.convert_sync_batchnorm``. Returns the converted module: a new
        ``SyncBatchNorm`` when ``module`` is itself a batch norm, else ``module`` changed in place."""
        output = module
        if isinstance(module, BatchNorm1d):
            dtype = next((t.data.dtype for t in (module.weight, module.running_mean) if t is not None), None)
            output = cls(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats,
                         process_group, dtype, bias=module.bias is not None)
            if module.affine:
                output.weight = module.weight
                output.bias = module.bias
            output.running_mean = module.running_mean
            output.running_var = module.running_var
            output.num_batches_tracked = module.num_batches_tracked
            output.training = module.training
            if hasattr(module, "qconfig"):
                output.qconfig = module.qconfig
        for name, child in module.named_children():
            output.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        return output
