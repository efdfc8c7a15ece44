"""``Ensemble``: many networks of one architecture trained as one model.

The parameters of the members are stacked along a new leading *member* axis, and the
layers compute every member at once: a ``Linear`` layer's weight becomes (members,
out_features, in_features), its bias (members, 1, out_features), and its matrix products
run per member, the same BLAS call on the same memory layout as one network's. Each
member's gradient is exactly its own (nothing mixes members), so training the ensemble
gives every member the numbers it would get trained alone (PyTorch's
``torch.func.stack_module_state`` + ``vmap``, for the layers below).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np

from microgradnp.errors import InvalidArgumentError
from microgradnp.nn.layers import MLP, Identity, LeakyReLU, Linear, ReLU, Sequential, Sigmoid, Tanh
from microgradnp.nn.loss import BCELoss, BCEWithLogitsLoss, MSELoss
from microgradnp.nn.module import Module, Parameter
from microgradnp.tensor import Tensor

__all__ = ["Ensemble"]

# Layers that work on a leading member axis: Linear (stacked), containers, and activations,
# which are elementwise. Anything else (a convolution, Flatten, Softmax over an axis) would
# mix or misread the member axis, so an ensemble of it is refused.
_STACKABLE = (Linear, Sequential, MLP, Sigmoid, Tanh, ReLU, LeakyReLU, Identity)
_ELEMENTWISE_LOSSES = (MSELoss, BCELoss, BCEWithLogitsLoss)


class Ensemble(Module):
    """``len(models)`` networks of one architecture as one model with a leading member axis.

    ``Ensemble(models)`` copies the models' parameters into stacked Parameters (the
    models themselves are not changed or shared); ``ensemble(x)`` returns every member's
    output, shape ``(members, *output_shape)``, for an input ``x`` shared by all members
    (a batch of points, or one point of shape ``(features,)``), or one batch per member
    with a leading member axis. Train it like one model: each
    member's gradient is its own, and an optimizer's update of a stacked Parameter is
    each member's update, so member ``m`` follows exactly the trajectory ``models[m]``
    would follow alone (bit for bit in float64; in float32 too with SGD at one rate).
    Give members their own learning rates with ``lr=ensemble.per_member(rates)``.

    Example::

        ensemble = nn.Ensemble([nn.MLP(2, (50, 50), 1, rng=seed) for seed in range(10)])
        optimizer = optim.SGD(ensemble.parameters(), lr=ensemble.per_member([0.1] * 5 + [0.01] * 5))
        losses = ensemble.member_losses(nn.MSELoss(), ensemble(X), y)   # shape (10,)
        losses.sum().backward()
        optimizer.step()
        ensemble.member(3)   # member 3 as an ordinary nn.MLP

    Stackable layers: ``Linear``, ``Sequential``, ``MLP`` and the elementwise activations.
    """

    def __init__(self, models: Sequence[Module]):
        super().__init__()
        models = list(models) if not isinstance(models, Module) else None
        if not models or not all(isinstance(m, Module) for m in models):
            raise TypeError("Ensemble: give a non-empty list of nn.Modules of one architecture, e.g. "
                            "[nn.MLP(2, (50, 50), 1, rng=seed) for seed in range(10)]")
        first = models[0]
        for name, module in first.named_modules():
            if not isinstance(module, _STACKABLE):
                raise TypeError(
                    f"Ensemble: layer {name or 'the model'!r} is a {type(module).__name__}, which cannot work on "
                    f"a leading member axis (stackable: {', '.join(t.__name__ for t in _STACKABLE)}); train such "
                    "models one at a time"
                )
        shapes = _layout(first)
        for i, model in enumerate(models[1:], start=1):
            layout = _layout(model)
            if type(model) is not type(first) or layout != shapes:
                raise InvalidArgumentError(
                    f"Ensemble: model {i} differs from model 0 in its layers or parameters "
                    f"({_difference(layout, shapes)}); every member must have the same architecture, layer "
                    "settings and trainable parameters")
        self.members = len(models)
        template = copy.deepcopy(first)
        parameters = [dict(m.named_parameters()) for m in models]

        def stacked(name: str) -> Parameter:
            original = parameters[0][name]
            return Parameter(np.stack([p[name].data for p in parameters]), requires_grad=original.requires_grad)

        for layer_name, layer in template.named_modules():
            if isinstance(layer, Linear):
                prefix = f"{layer_name}." if layer_name else ""
                layer.weight = stacked(f"{prefix}weight")
                if layer.bias is not None:
                    bias = stacked(f"{prefix}bias")
                    layer.bias = Parameter(bias.data[:, None, :], requires_grad=bias.requires_grad)
        self.module = template

    def forward(self, x):
        if getattr(x, "ndim", None) == 1:
            # One point, as a model takes it: (features,) -> (members, outputs). (The stacked
            # layers need a batch axis between the member axis and the features.)
            return self.module(x[None])[:, 0]
        return self.module(x)

    def extra_repr(self) -> str:
        return f"members={self.members}"

    def member(self, index: int) -> Module:
        """Member ``index`` as a model of the original architecture (a copy of its parameters)."""
        if not isinstance(index, int | np.integer) or not -self.members <= index < self.members:
            raise IndexError(f"Ensemble.member: index {index!r} is out of range for {self.members} members")
        model = copy.deepcopy(self.module)
        for layer in model.modules():
            if isinstance(layer, Linear):
                weight, bias = layer.weight, layer.bias
                layer.weight = Parameter(weight.data[index].copy(), requires_grad=weight.requires_grad)
                if bias is not None:
                    layer.bias = Parameter(bias.data[index, 0].copy(), requires_grad=bias.requires_grad)
        return model

    def keep(self, members, optimizer=None) -> None:
        """Keep only ``members`` (indices, in the order given): the others leave the
        ensemble, and the rest train on faster. Shrinks every stacked parameter, its
        ``.grad``, and, when given, ``optimizer``'s state and per-member options, so
        training goes on exactly where it was for the members kept (new arrays: a graph
        recorded before ``keep`` cannot be differentiated into them)."""
        index = np.asarray(members, dtype=np.intp).reshape(-1)
        if index.size == 0 or np.any((index < -self.members) | (index >= self.members)):
            raise IndexError(f"Ensemble.keep: give member indices in [0, {self.members}), at least one; "
                             f"got {members!r}")
        index %= self.members
        if len(set(index.tolist())) != len(index):
            raise InvalidArgumentError(f"Ensemble.keep: member indices repeat in {members!r}")

        def rows(array):
            return np.ascontiguousarray(array[index])  # each member's memory laid out as before

        for p in self.parameters():
            p.data = rows(p.data)
            if p._grad is not None:
                p._grad = rows(p._grad)
            if optimizer is not None and p in optimizer.state:
                state = optimizer.state[p]
                for key, value in state.items():
                    if isinstance(value, np.ndarray) and value.shape[:1] == (self.members,):
                        state[key] = rows(value)
        if optimizer is not None:
            for group in (*optimizer.param_groups, optimizer.defaults):
                for key, value in group.items():
                    if isinstance(value, np.ndarray) and value.shape[:1] == (self.members,):
                        group[key] = rows(value)
        self.members = len(index)

    def per_member(self, values) -> np.ndarray:
        """One value per member (e.g. learning rates), shaped to broadcast along the member
        axis of every stacked parameter: pass it as an optimizer option,
        ``optim.SGD(ensemble.parameters(), lr=ensemble.per_member(rates))``."""
        # float64, like a Python float: the optimizers cast it to a parameter's dtype where
        # NumPy would cast a Python float (optim.optimizer.as_scalar).
        array = np.asarray(values, dtype=np.float64)
        if array.shape != (self.members,):
            raise InvalidArgumentError(f"Ensemble.per_member: give one value per member ({self.members}), got shape "
                             f"{array.shape}")
        return array.reshape(self.members, 1, 1)

    def member_losses(self, loss_fn: Module, prediction: Tensor, target) -> Tensor:
        """Each member's loss, shape ``(members,)``: ``loss_fn`` (``nn.MSELoss``, ``nn.BCELoss``
        or ``nn.BCEWithLogitsLoss``, reduction "mean" or "sum") of member ``m``'s
        ``prediction[m]`` against ``target`` (shared by all members), with the gradient
        each member's own loss would give it. ``.sum()`` of the result is what to call
        ``backward()`` on."""
        if not isinstance(loss_fn, _ELEMENTWISE_LOSSES) or loss_fn.reduction not in ("mean", "sum"):
            raise TypeError(
                "Ensemble.member_losses: loss_fn must be nn.MSELoss, nn.BCELoss or nn.BCEWithLogitsLoss with "
                f"reduction 'mean' or 'sum', got {loss_fn!r}"
            )
        target = target if isinstance(target, Tensor) else np.asarray(target)
        shape = prediction.shape
        if shape[:1] != (self.members,) or target.shape != shape[1:]:
            raise InvalidArgumentError(
                f"Ensemble.member_losses: expected predictions (members={self.members}, *target shape) "
                f"and a target shared by all members; got predictions {shape} and target {target.shape}")
        per_member = copy.copy(loss_fn)  # the same loss, reduced member by member (ops.losses.PER_MEMBER)
        per_member.reduction = f"{loss_fn.reduction} per member"
        return per_member(prediction, target)


def _difference(layout: dict[str, tuple], first: dict[str, tuple]) -> str:
    """The first entry in which two ``_layout``s differ, as "what: this vs model 0's"."""
    fields = ("shape", "dtype", "requires_grad", "model")
    for key in [*first, *layout]:
        mine, theirs = layout.get(key), first.get(key)
        if mine == theirs:
            continue
        if mine is None or theirs is None:
            return f"{key.strip('<>')}: {'missing' if mine is None else 'extra'}"
        if key.startswith("<layer"):
            return f"{key.strip('<>')}: {mine[0]}({mine[1]}) vs {theirs[0]}({theirs[1]})"
        field = next(f for f, a, b in zip(fields, mine, theirs) if a != b)
        return f"{key} {field}: {mine[fields.index(field)]} vs {theirs[fields.index(field)]}"
    return "the model's class"


def _layout(model: Module) -> dict[str, tuple]:
    """Parameter name -> (shape, dtype, requires_grad) of ``model``, with its layers' types and
    settings in order: members whose layers differ in a setting (a LeakyReLU's slope) or a
    frozen parameter would all be computed and trained as member 0, so they are refused."""
    return {name: (p.shape, p.dtype.name, p.requires_grad, type(model).__name__)
            for name, p in model.named_parameters()} | {
        f"<layer {name}>": (type(m).__name__, m.extra_repr()) for name, m in model.named_modules()
    }
