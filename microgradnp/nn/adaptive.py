"""``nn.AdaptiveLogSoftmaxWithLoss``: the adaptive softmax of Grave et al. (2016), "Efficient
softmax approximation for GPUs", as PyTorch's module (the same parameters and names, so a
PyTorch ``state_dict`` loads and gives the same outputs).

The frequent classes (below ``cutoffs[0]``) are scored by the head together with one entry per
cluster of rarer classes; a class of cluster ``i`` has the log-probability of its cluster in the
head plus its log-probability in the cluster's own (smaller) projection. Everything is built
from differentiable operations (linear layers, log_softmax, indexing), so gradients come from
the engine.
"""

from __future__ import annotations

import collections

import numpy as np

from microgradnp import ops
from microgradnp.device import check_device
from microgradnp.errors import InvalidArgumentError
from microgradnp.nn.containers import ModuleList
from microgradnp.nn.init import default_layer_init_
from microgradnp.nn.layers import Linear, Sequential
from microgradnp.nn.module import Module
from microgradnp.tensor import Tensor, _data, _rng

__all__ = ["AdaptiveLogSoftmaxWithLoss"]

#: What ``forward`` returns, as PyTorch's ``_ASMoutput``: the target's log-probability of each
#: sample, and the mean negative log-likelihood.
_ASMoutput = collections.namedtuple("_ASMoutput", ["output", "loss"])


class AdaptiveLogSoftmaxWithLoss(Module):
    """Efficient softmax approximation for many classes, as ``torch.nn.AdaptiveLogSoftmaxWithLoss``.

    Args:
        in_features: the number of features of each input sample.
        n_classes: the number of classes.
        cutoffs: increasing, unique integers in ``[1, n_classes - 1]``: the classes below
            ``cutoffs[0]`` are in the head, each following interval is one cluster.
        div_value: cluster ``i`` projects onto ``in_features // div_value ** (i + 1)`` features.
        head_bias: whether the head has a bias.
        dtype: the parameters' dtype.
        rng: the generator of their initialisation.

    ``forward(input, target)`` returns the named tuple ``(output, loss)``; ``log_prob(input)``
    gives all classes' log-probabilities and ``predict(input)`` the most likely class.
    """

    def __init__(self, in_features: int, n_classes: int, cutoffs, div_value: float = 4.0, head_bias: bool = False,
                 device=None, dtype=None, rng=None):
        super().__init__()
        check_device(device, "AdaptiveLogSoftmaxWithLoss")
        cutoffs = list(cutoffs)
        if len(cutoffs) == 0:
            raise InvalidArgumentError("cutoffs should be a sequence of length larger than 0")
        if (cutoffs != sorted(cutoffs) or min(cutoffs) <= 0 or max(cutoffs) > n_classes - 1
                or len(set(cutoffs)) != len(cutoffs) or any(int(c) != c for c in cutoffs)):
            raise InvalidArgumentError("cutoffs should be a sequence of unique, positive integers sorted in an "
                                       "increasing order, where each value is between 1 and n_classes-1")
        self.in_features = in_features
        self.n_classes = n_classes
        self.cutoffs = [*cutoffs, n_classes]
        self.div_value = div_value
        self.head_bias = head_bias
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        rng = _rng(rng)  # (one generator for every layer, so that a seed gives one initialisation)
        self.head = Linear(in_features, self.head_size, bias=head_bias, dtype=dtype, rng=rng)
        self.tail = ModuleList()
        for i in range(self.n_clusters):
            hidden = int(in_features // (div_value ** (i + 1)))  # (PyTorch's rounding: floor, then int)
            size = self.cutoffs[i + 1] - self.cutoffs[i]
            self.tail.append(Sequential(Linear(in_features, hidden, bias=False, dtype=dtype, rng=rng),
                                        Linear(hidden, size, bias=False, dtype=dtype, rng=rng)))

    def reset_parameters(self, rng=None) -> None:
        """Initialise every layer again, as in ``__init__``."""
        rng = _rng(rng)
        for layer in self.modules():
            if isinstance(layer, Linear):
                default_layer_init_(layer.weight, layer.bias, rng)

    def forward(self, input, target) -> _ASMoutput:  # noqa: A002  (PyTorch's argument name)
        """The log-probability of each sample's target class, and their mean negative (the loss).

        Args:
            input: ``(N, in_features)``, or ``(in_features,)`` with a 0-d ``target``.
            target: integer classes in ``[0, n_classes - 1]``, ``(N,)`` or 0-d.
        """
        x = input if isinstance(input, Tensor) else Tensor(input)
        labels = np.asarray(_data(target))
        if labels.ndim == 1:
            if x.ndim == 0 or x.shape[0] != labels.shape[0]:
                raise InvalidArgumentError("Input and target should have the same size in the batch dimension.")
            if x.ndim != 2:
                raise InvalidArgumentError(f"1D target tensor expects 2D input tensors, but found inputs with "
                                           f"size {list(x.shape)}")
        elif labels.ndim == 0:
            if x.ndim != 1:
                raise InvalidArgumentError(f"0D target tensor expects 1D input tensors, but found inputs with "
                                           f"size {list(x.shape)}")
        else:
            raise InvalidArgumentError("0D or 1D target tensor expected, multi-target not supported")
        if labels.dtype.kind == "f" and np.all(labels == np.round(labels)):  # (mg.tensor([3, 1]) is float64)
            labels = labels.astype(np.int64)
        if labels.dtype.kind not in "iu":
            raise InvalidArgumentError(f"AdaptiveLogSoftmaxWithLoss: target must hold integer classes, got "
                                       f"{labels.dtype}")
        batched = labels.ndim == 1
        if not batched:
            x, labels = ops.expand_dims(x, 0), labels.reshape(1)
        if labels.size and (labels.min() < 0 or labels.max() >= self.n_classes):
            raise InvalidArgumentError(f"Target values should be in [0, {self.n_classes - 1}], but values in range "
                                       f"[{labels.min()}, {labels.max()}] were found. ")
        # Each row's entry in the head: its class in the shortlist, else its cluster's entry.
        cluster = np.searchsorted(self.cutoffs, labels, side="right")  # 0 for the shortlist, i + 1 for cluster i
        head_index = np.where(cluster == 0, labels, self.shortlist_size + cluster - 1)
        head_logprob = ops.log_softmax(self.head(x), axis=1)
        output = head_logprob[np.arange(labels.size), head_index]
        # The rows of each cluster add their class's log-probability within the cluster; the
        # pieces (zeros for the shortlist's rows) are put back in row order by one permutation.
        pieces, order = [], []
        shortlist_rows = np.flatnonzero(cluster == 0)
        if shortlist_rows.size:
            pieces.append(Tensor._wrap(np.zeros(shortlist_rows.size, dtype=output.dtype)))
            order.append(shortlist_rows)
        for i in range(self.n_clusters):
            rows = np.flatnonzero(cluster == i + 1)
            if rows.size == 0:
                continue
            local = ops.log_softmax(self.tail[i](x[rows]), axis=1)
            pieces.append(local[np.arange(rows.size), labels[rows] - self.cutoffs[i]])
            order.append(rows)
        if pieces:
            output = output + ops.concatenate(pieces)[np.argsort(np.concatenate(order))]
        loss = (-output).mean()
        return _ASMoutput(output if batched else output[0], loss)

    def _full_log_prob(self, x, head_output):
        """The log-probabilities of all classes, from ``x`` and the head's output on it."""
        head_logprob = ops.log_softmax(head_output, axis=1)
        columns = [head_logprob[:, : self.shortlist_size]]
        for i in range(self.n_clusters):
            cluster_logprob = ops.log_softmax(self.tail[i](x), axis=1)
            entry = self.shortlist_size + i
            columns.append(cluster_logprob + head_logprob[:, entry:entry + 1])
        return ops.concatenate(columns, axis=1)

    def log_prob(self, input):  # noqa: A002  (PyTorch's argument name)
        """The log-probabilities of all ``n_classes`` classes: ``(N, in_features)`` gives ``(N, n_classes)``."""
        x = input if isinstance(input, Tensor) else Tensor(input)
        return self._full_log_prob(x, self.head(x))

    def predict(self, input):  # noqa: A002  (PyTorch's argument name)
        """The most likely class of each sample, ``log_prob(input).argmax(1)``; the clusters are
        only evaluated for the rows whose head prefers a cluster to every shortlisted class."""
        x = input if isinstance(input, Tensor) else Tensor(input)
        head_output = self.head(x)
        best = np.argmax(head_output.data, axis=1)
        rare = best >= self.shortlist_size
        if rare.any():
            full = self._full_log_prob(x[rare], head_output[rare])
            best[rare] = np.argmax(full.data, axis=1)
        return Tensor._wrap(best.astype(np.int64))

