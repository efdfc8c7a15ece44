"""``Optimizer``: the base of the update rules, with PyTorch's parameter groups, state and checkpoints."""

from __future__ import annotations

import numbers
import types
import weakref
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Mapping

import numpy as np

from microgradnp.autograd.grad_mode import enable_grad, mode, records_calls, replayed, watchers
from microgradnp.autograd.versions import bump as bump_version
from microgradnp.nn.module import Module
from microgradnp.ops.primitive import constant
from microgradnp.tensor import Tensor
from microgradnp.utils.hooks import RemovableHandle

__all__ = ["Optimizer", "required"]


class _Required:
    """The default of an option that every parameter group must then give itself (SGD's ``lr``)."""

    def __repr__(self) -> str:
        return "<required option>"


required = _Required()

# torch.optim's choices of how to compute one and the same update (see Optimizer).
IMPLEMENTATION_SWITCHES = ("foreach", "fused", "capturable", "differentiable")

LR_HINT = "a negative learning rate climbs the loss; to maximize on purpose pass maximize=True"
# (for the optimizers without a maximize option: LBFGS, Muon)
LR_HINT_NO_MAXIMIZE = "a negative learning rate climbs the loss; to maximize, minimize the negated objective"
EPS_HINT = "eps keeps the denominator away from zero (e.g. 1e-8)"


class Optimizer:
    """Base class of the optimizers, with PyTorch's semantics.

    Args:
        params: what to optimize: an iterable of Tensors (usually ``model.parameters()``),
            or of dicts, each a *parameter group* ``{"params": [...], "lr": 0.01, ...}``
            whose options override the optimizer's defaults for those parameters.
        defaults: option name -> value used wherever a group does not give its own.

    Attributes:
        param_groups: list of dicts holding ``"params"`` (a list of Tensors) and every
            option; change options between steps: ``opt.param_groups[0]["lr"] = 0.01``.
        state: per-parameter state (``opt.state[p]``: step count, moment buffers...).
        defaults: the default options.

    ``step()`` updates ``p.data`` in place from ``p.grad`` and skips parameters whose
    ``.grad`` is None, so frozen (``requires_grad=False``) or unused parameters may be
    passed. A parameter may belong to one group only.

    PyTorch's switches between implementations of one update are accepted where
    ``torch.optim`` accepts them, and kept in the groups: ``foreach`` and ``fused`` (which
    kernels compute the update: here it is always the same NumPy code) and ``capturable``
    (CUDA graph capture: nothing to do on the CPU). ``differentiable=True`` (recording the
    update in the autograd graph) is refused: the step writes ``p.data`` outside the graph.

    Hooks as in PyTorch: ``register_step_pre_hook``/``register_step_post_hook`` (run around
    ``step()``), ``register_state_dict_pre_hook``/``..._post_hook`` and
    ``register_load_state_dict_pre_hook``/``..._post_hook``; each returns a handle whose
    ``remove()`` unregisters the hook.

    A new optimizer subclasses this and implements ``_update(param, grad, state, group)``
    (the rule, on ndarrays, updating ``param`` in place) and ``_check_options(options)``,
    or overrides ``step()`` as PyTorch's custom optimizers do. Either way, inside an
    ``mg.compile``-d function the step runs for real at every replay, as the built-in ones do.
    """

    # State entries that are numbers; every other entry is an array shaped like its parameter.
    _scalar_state: tuple[str, ...] = ("step",)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        replay_overrides(cls, "step", "zero_grad")

    def __init__(self, params, defaults: dict):
        made_inside_trace(self)
        self.defaults = dict(defaults)
        self.state: defaultdict[Tensor, dict] = defaultdict(dict)
        self.param_groups: list[dict] = []
        self._optimizer_step_pre_hooks: OrderedDict[int, Callable] = OrderedDict()
        self._optimizer_step_post_hooks: OrderedDict[int, Callable] = OrderedDict()
        self._optimizer_state_dict_pre_hooks: OrderedDict[int, Callable] = OrderedDict()
        self._optimizer_state_dict_post_hooks: OrderedDict[int, Callable] = OrderedDict()
        self._optimizer_load_state_dict_pre_hooks: OrderedDict[int, Callable] = OrderedDict()
        self._optimizer_load_state_dict_post_hooks: OrderedDict[int, Callable] = OrderedDict()
        self._check_all_options({k: v for k, v in self.defaults.items() if v is not required})
        entries = self._param_entries(params)
        if all(isinstance(entry, Mapping) for entry in entries):
            for entry in entries:
                self.add_param_group(entry)
        elif any(isinstance(entry, Mapping) for entry in entries):
            raise TypeError(
                f"{self._name}: params mixes Tensors and parameter-group dicts; pass either Tensors "
                "or dicts only, e.g. [{'params': [w1]}, {'params': [w2], 'lr': 0.1}]"
            )
        else:
            self._add_group({"params": entries}, where="")

    @property
    def _name(self) -> str:
        return type(self).__name__

    # -- parameter groups -----------------------------------------------------------------------
    def _param_entries(self, params) -> list:
        name = self._name
        if isinstance(params, Tensor):
            raise TypeError(
                f"{name}: params must be an iterable of Tensors or of parameter-group dicts, got a single "
                f"Tensor; wrap it in a list: {name}([w], ...)"
            )
        if isinstance(params, Module):
            raise TypeError(f"{name}: got a Module as params; pass its parameters: {name}(model.parameters(), ...)")
        if isinstance(params, Mapping):
            raise TypeError(f"{name}: got a single parameter-group dict; wrap it in a list: {name}([{{...}}], ...)")
        if isinstance(params, set | frozenset):
            raise TypeError(
                f"{name}: params is a set, whose order changes between runs (and with it the state_dict's "
                "parameter indices); pass a list"
            )
        if not isinstance(params, Iterable):
            raise TypeError(
                f"{name}: params must be an iterable of Tensors or of parameter-group dicts "
                f"(e.g. model.parameters()), got {type(params).__name__}"
            )
        entries = list(params)
        if not entries:
            raise ValueError(
                f"{name}: got an empty parameter list. Pass model.parameters() of a model that has "
                "parameters, and note that a generator is used up after one pass: call "
                "model.parameters() again rather than reusing it."
            )
        return entries

    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters with its own options, e.g. layers unfrozen part-way through training.

        ``param_group`` is a dict with ``"params"`` (a Tensor or an iterable of Tensors) and any
        options that differ from the optimizer's defaults.
        """
        self._add_group(param_group, where=f" (parameter group {len(self.param_groups)})")

    def _add_group(self, param_group, where: str) -> None:
        name = self._name
        if not isinstance(param_group, Mapping):
            raise TypeError(f"{name}: a parameter group must be a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(
                f"{name}: a parameter group needs a 'params' entry{where}, e.g. {{'params': [w, b], 'lr': 0.01}}"
            )
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set | frozenset):
            raise TypeError(f"{name}: 'params' is a set, whose order changes between runs; pass a list{where}")
        elif isinstance(params, Module):
            raise TypeError(f"{name}: 'params' is a Module; use model.parameters(){where}")
        elif isinstance(params, Iterable):
            params = list(params)
        else:
            raise TypeError(f"{name}: 'params' must be a Tensor or an iterable of Tensors{where}, "
                            f"got {type(params).__name__}")
        named = [type(p) is tuple and len(p) == 2 and isinstance(p[0], str) for p in params]
        names = None
        if any(named):  # model.named_parameters(): the names are kept in the group, as PyTorch 2.13 does
            if not all(named):
                raise ValueError(f"{name}: all parameters must come with their names or none{where}; pass "
                                 "model.named_parameters() or model.parameters()")
            names, params = [p[0] for p in params], [p[1] for p in params]
        if self.param_groups and ("param_names" in self.param_groups[0]) != (names is not None):
            raise ValueError(f"{name}: all parameter groups must be with names or all without{where}; the first "
                             f"group was given {'with' if names is None else 'without'} them")
        for i, p in enumerate(params):
            self._check_param(p, _label(i, p, where))
        group = {"params": params} if names is None else {"params": params, "param_names": names}
        for option, default in self.defaults.items():
            group[option] = param_group.get(option, default)
            if group[option] is required:
                raise ValueError(
                    f"{name}: no {option} given{where}; pass {option}=... to {name}(...) "
                    f"or give every parameter group its own {option!r}"
                )
        group.update((k, v) for k, v in param_group.items() if k not in group)
        try:
            self._check_all_options(group)
        except (TypeError, ValueError) as error:
            raise self._located(error, f"{name}{where}") from None
        self._check_unique(params, where)
        self.param_groups.append(group)

    def _check_param(self, p, which: str) -> None:
        name = self._name
        if not isinstance(p, Tensor):
            hint = ""
            if isinstance(p, tuple):
                hint = "; pass model.parameters() or model.named_parameters() (pairs of a name and a tensor)"
            elif isinstance(p, np.ndarray):
                hint = "; make it a tensor first: w = mg.tensor(array, requires_grad=True)"
            raise TypeError(f"{name}: can only optimize mg.Tensors, but {which} is a {type(p).__name__}{hint}")
        if not p.is_leaf:
            raise ValueError(
                f"{name}: {which} was computed by the operation {p.op!r}, not created by you, so updating "
                "it would not change anything the model uses; optimize the tensors it was computed from "
                "(or make it a new leaf with t.detach().requires_grad_())"
            )
        if p.data.dtype.kind != "f":
            raise TypeError(f"{name}: {which} has dtype {p.data.dtype}; only floating-point tensors can be optimized")

    def _check_unique(self, params: list, where: str) -> None:
        seen: dict[int, int] = {}
        for group_index, group in enumerate(self.param_groups):
            for p in group["params"]:
                seen[id(p)] = group_index
        own: set[int] = set()
        for i, p in enumerate(params):
            label = f"{self._name}: {_label(i, p, where)}"
            if id(p) in own:
                raise ValueError(f"{label} appears twice in the same group; list each parameter once")
            if id(p) in seen:
                raise ValueError(
                    f"{label} is already in parameter group {seen[id(p)]}; a parameter can belong to one "
                    "group only (filter it out of one of them)"
                )
            own.add(id(p))

    # -- option checks (subclasses call these from _check_options) ------------------------------
    def _check_all_options(self, options: dict) -> None:
        for switch in ("foreach", "fused"):
            if options.get(switch) is not None and not isinstance(options[switch], bool | np.bool_):
                raise TypeError(f"{self._name}: {switch} must be None, True or False, got {options[switch]!r}")
        self._check_flags(options, "capturable", "differentiable")
        if options.get("differentiable"):
            raise ValueError(
                f"{self._name}: differentiable=True (recording the update in the autograd graph, for "
                "meta-learning) is not supported: step() updates p.data in place, outside the graph. "
                "Write that update with Tensor operations instead (e.g. w2 = w - lr * mg.grad(loss, w, "
                "create_graph=True)[0])"
            )
        self._check_options(options)

    def _check_options(self, options: dict) -> None:
        """Raise TypeError/ValueError for an invalid option; checks only the options present."""

    def _located(self, error: Exception, owner: str) -> Exception:
        """``error`` (whose message starts "ClassName: ") re-addressed as "owner: ..."."""
        message = str(error).removeprefix(f"{self._name}: ")
        return type(error)(f"{owner}: {message}")

    def _check_flags(self, options: dict, *flags: str) -> None:
        """Each of ``flags`` present in ``options`` must be True or False."""
        for flag in flags:
            if flag in options and not isinstance(options[flag], bool | np.bool_):
                raise TypeError(f"{self._name}: {flag} must be True or False, got {options[flag]!r}")

    def _check_number(self, options: dict, option: str, *, high: float | None = None,
                      high_included: bool = False, hint: str = "") -> None:
        """``options[option]`` must be a real number >= 0 (and < or <= ``high``)."""
        if option in options:
            _check_number(self._name, option, options[option], high=high, high_included=high_included, hint=hint)

    # -- stepping -------------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: ``.grad = None`` (default), or fill them with zeros in place."""
        if watchers.count and records_calls():  # (as @replayed, without a wrapper's cost per step)
            return mode.tracer.replayed_call(type(self).zero_grad, self, () if set_to_none else (False,), {})
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p._grad = None  # the checked .grad setter is for users; None is always valid
                elif p._grad is not None:
                    p._grad.fill(0)

    def step(self, closure: Callable | None = None):
        """Update every parameter that has a ``.grad``; parameters whose grad is None are skipped.

        ``closure``, when given, is called first (with gradient recording on) to recompute
        the loss and gradients; its return value is returned.
        """
        if watchers.count and records_calls():  # an mg.compile trace records the call (see @replayed)
            return mode.tracer.replayed_call(type(self).step, self, () if closure is None else (closure,), {})
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        written = []
        for group in self.param_groups:
            params = [p for p in group["params"] if p._grad is not None]
            self._update_group(params, group)
            written += [p.data for p in params]
        bump_version(*written)  # a graph that saved the old values must not use these
        return loss

    def _update_group(self, params: list, group: dict) -> None:
        """Update ``params`` (a group's parameters that have a ``.grad``) one by one with
        ``_update``; an optimizer overrides this to settle the group's options once."""
        state = self.state
        for p in params:
            self._update(p.data, p._grad, state[p], group)

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict, group: dict) -> None:
        """Apply the update rule to ``param`` in place; ``grad`` must not be modified."""
        raise NotImplementedError(f"{self._name} must define _update(param, grad, state, group)")

    @staticmethod
    def _effective_grad(param: np.ndarray, grad: np.ndarray, group: dict, l2: bool = True) -> np.ndarray:
        """The gradient the rule follows: ``-grad`` when ``maximize``, plus ``weight_decay * param``
        (L2 decay) unless ``l2`` is False. ``grad`` itself is never modified; the result may be it."""
        weight_decay = group["weight_decay"] if l2 else 0
        if weight_decay:
            # (in the parameter's dtype: a NumPy float64 weight_decay would make float32 state float64)
            decayed = np.multiply(param, weight_decay, dtype=param.dtype)
            if group["maximize"]:
                decayed -= grad
            else:
                decayed += grad
            return decayed
        return -grad if group["maximize"] else grad

    @staticmethod
    def _new_array(param: np.ndarray) -> np.ndarray:
        """An uninitialised array like ``param``, for ``out=``: unlike a ufunc's own result it
        stays an ndarray (a writable target) when ``param`` is 0-d."""
        return np.empty_like(param)

    @staticmethod
    def _state_array(state: dict, key: str, param: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """``state[key]``, created as an array like ``param`` filled with ``fill`` on first use."""
        array = state.get(key)
        if array is None:
            array = state[key] = np.full_like(param, fill)
        return array

    # -- hooks (as torch.optim.Optimizer's) --------------------------------------------------------
    def register_step_pre_hook(self, hook: Callable) -> RemovableHandle:
        """Call ``hook(optimizer, args, kwargs)`` before each ``step()``; ``args`` starts with the
        optimizer. It may return ``(new_args, new_kwargs)`` for the step. Returns a handle whose
        ``remove()`` unregisters it. (A function compiled by ``mg.compile`` whose step has hooks
        runs eagerly, hooks and all, until they are removed.)"""
        return self._add_step_hook(self._optimizer_step_pre_hooks, hook)

    def register_step_post_hook(self, hook: Callable) -> RemovableHandle:
        """Call ``hook(optimizer, args, kwargs)`` after each ``step()``; returns a removable handle."""
        return self._add_step_hook(self._optimizer_step_post_hooks, hook)

    def register_state_dict_pre_hook(self, hook: Callable, prepend: bool = False) -> RemovableHandle:
        """Call ``hook(optimizer)`` at the start of ``state_dict()`` (first of all when ``prepend``)."""
        return _register(self._optimizer_state_dict_pre_hooks, hook, prepend)

    def register_state_dict_post_hook(self, hook: Callable, prepend: bool = False) -> RemovableHandle:
        """Call ``hook(optimizer, state_dict)`` at the end of ``state_dict()``; a dict it returns
        replaces the state dict."""
        return _register(self._optimizer_state_dict_post_hooks, hook, prepend)

    def register_load_state_dict_pre_hook(self, hook: Callable, prepend: bool = False) -> RemovableHandle:
        """Call ``hook(optimizer, state_dict)`` before ``load_state_dict()`` loads (a shallow copy of)
        ``state_dict``; a dict it returns is loaded instead."""
        return _register(self._optimizer_load_state_dict_pre_hooks, hook, prepend)

    def register_load_state_dict_post_hook(self, hook: Callable, prepend: bool = False) -> RemovableHandle:
        """Call ``hook(optimizer)`` after ``load_state_dict()`` has loaded the state."""
        return _register(self._optimizer_load_state_dict_post_hooks, hook, prepend)

    def _add_step_hook(self, hooks: dict, hook: Callable) -> RemovableHandle:
        handle = _register(hooks, hook, False)
        _watch_step(self)
        return handle

    # -- checkpoints ----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """A copy of the optimizer's state: ``{"state": {index: {name: array or number}},
        "param_groups": [{option: value, ..., "params": [index, ...]}]}``.

        Parameters are numbered 0, 1, ... in group order; only ndarrays, numbers, bools and
        tuples appear, so it can be written to JSON (arrays as lists), or to a checkpoint
        with ``nn.save(optimizer.state_dict(), path)``, read back by ``nn.load(path)``.
        """
        for hook in list(_hooks(self, "_optimizer_state_dict_pre_hooks")):
            hook(self)
        state_dict = self._state_dict()
        for hook in list(_hooks(self, "_optimizer_state_dict_post_hooks")):
            result = hook(self, state_dict)
            if result is not None:
                state_dict = result
        return state_dict

    def _state_dict(self) -> dict:
        """``state_dict()`` without its hooks."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                entries = self.state.get(p)
                if entries:
                    state[index[id(p)]] = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in entries.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping) -> None:
        """Restore a state saved by ``state_dict()`` (possibly via JSON, or ``nn.save``/``nn.load``).

        The optimizer must have the same number of groups, each with the same number of
        parameters, as the one saved; options come from the saved groups, arrays are copied
        into the parameters' dtype. Everything is checked before anything changes.
        """
        if isinstance(state_dict, Mapping):
            state_dict = dict(state_dict)  # (a shallow copy for the hooks, as torch)
        for hook in list(_hooks(self, "_optimizer_load_state_dict_pre_hooks")):
            result = hook(self, state_dict)
            if result is not None:
                state_dict = result
        self._load_state_dict(state_dict)
        for hook in list(_hooks(self, "_optimizer_load_state_dict_post_hooks")):
            hook(self)

    def _load_state_dict(self, state_dict: Mapping) -> None:
        """``load_state_dict()`` without its hooks."""
        name = f"{self._name}.load_state_dict"
        if not isinstance(state_dict, Mapping) or not {"state", "param_groups"} <= set(state_dict):
            raise ValueError(
                f"{name}: expected a dict with 'state' and 'param_groups', as returned by optimizer.state_dict()"
            )
        saved_state, saved_groups = state_dict["state"], state_dict["param_groups"]
        if (not isinstance(saved_state, Mapping) or not all(isinstance(e, Mapping) for e in saved_state.values())
                or not isinstance(saved_groups, list | tuple) or not all(isinstance(g, Mapping) for g in saved_groups)):
            raise ValueError(
                f"{name}: 'state' must map parameter indices to dicts and 'param_groups' must be a list of dicts, "
                "as returned by optimizer.state_dict()"
            )
        saved_groups = list(saved_groups)
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{name}: the state has {len(saved_groups)} parameter group(s) but this optimizer has "
                f"{len(self.param_groups)}; build the optimizer with the same groups as the one that was saved"
            )
        by_index: dict[int, Tensor] = {}
        new_groups = []
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            saved_params = list(saved.get("params", ()))
            if len(saved_params) != len(group["params"]):
                raise ValueError(
                    f"{name}: parameter group {i} has {len(saved_params)} parameter(s) in the state but "
                    f"{len(group['params'])} here; build the optimizer over the same parameters as the one saved"
                )
            # (a state saved before the implementation switches were options gets their defaults)
            saved = {**saved, **{flag: self.defaults[flag] for flag in IMPLEMENTATION_SWITCHES
                                 if flag in self.defaults and flag not in saved}}
            missing = [option for option in self.defaults if option not in saved]
            if missing:
                raise ValueError(
                    f"{name}: parameter group {i} of the state lacks the option(s) {missing}; "
                    f"was it saved from another kind of optimizer than {self._name}?"
                )
            by_index.update((_index(index), p) for index, p in zip(saved_params, group["params"]))
            new_group = {"params": group["params"]}
            new_group.update((k, _plain(v)) for k, v in saved.items() if k != "params")
            try:
                self._check_all_options(new_group)
            except (TypeError, ValueError) as error:
                raise self._located(error, f"{name} (parameter group {i} of the state)") from None
            new_groups.append(new_group)
        new_state: defaultdict[Tensor, dict] = defaultdict(dict)
        for key, entries in saved_state.items():
            p = by_index.get(_index(key))
            if p is None:
                raise ValueError(f"{name}: the state has an entry for parameter {key}, which is in no parameter group")
            new_state[p] = {k: self._loaded_state_value(name, key, k, v, p) for k, v in entries.items()}
        for group, new_group in zip(self.param_groups, new_groups):
            # Update the dicts in place: schedulers and user code may hold references to them.
            group.clear()
            group.update(new_group)
        self.state = new_state

    def _loaded_state_value(self, name: str, index, key: str, value, p: Tensor):
        if value is None or key in self._scalar_state:
            return _plain(value)
        array = np.array(_as_numpy(value), dtype=p.data.dtype)
        if array.shape != p.data.shape:
            raise ValueError(
                f"{name}: state {key!r} of parameter {index} has shape {array.shape} but the parameter has "
                f"shape {p.data.shape}; the state was saved for a different model"
            )
        return array

    def __repr__(self) -> str:
        lines = [f"{self._name} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {k}: {group[k]}" for k in sorted(group) if k != "params")
        lines.append(")")
        return "\n".join(lines)


# The code of every method @replayed wraps (one wrapper function serves them all).
_REPLAYED_CODE = replayed(lambda self: None).__code__


def replay_overrides(cls, *names: str) -> None:
    """Make a subclass's own ``names`` methods @replayed, as the built-in ones are: a custom
    optimizer's ``step()`` written as PyTorch's are (reading ``p.grad``, writing ``p.data``,
    counting steps in ``self``) is then one call that an ``mg.compile`` trace records and
    every replay makes again, not Python code that the trace refuses or runs eagerly."""
    for name in names:
        method = cls.__dict__.get(name)
        if isinstance(method, types.FunctionType) and method.__code__ is not _REPLAYED_CODE:
            setattr(cls, name, replayed(method))


def made_inside_trace(owner) -> None:
    """``owner`` (an optimizer or a learning-rate scheduler) is being made: inside an
    ``mg.compile`` trace, the function runs eagerly. Each eager call makes a fresh one (a
    fresh state, a schedule that starts again), while a replay would make no new one and
    step the one made while tracing again, call after call (an Adam step count that keeps
    growing, a decay applied again)."""
    if watchers.count and records_calls():
        mode.tracer.cannot_replay(
            f"a new {type(owner).__name__} made inside the function (make it outside the compiled function: "
            "each call starts a fresh one, where a replay would step the one made while tracing again)"
        )


def _check_number(owner: str, option: str, value, *, high: float | None = None,
                  high_included: bool = False, hint: str = "") -> None:
    """``value`` must be a real number in [0, high) (or [0, high] when ``high_included``), or
    an array of such numbers (one per member of an ``nn.Ensemble``, from ``per_member``)."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "fiu" and value.size:
        low_ok = bool(np.all(value >= 0))
        in_range = low_ok and (high is None or bool(np.all((value < high) | (high_included & (value == high)))))
    elif isinstance(value, bool) or not isinstance(value, numbers.Real):
        hint = ""
        if isinstance(value, Tensor):  # torch.optim takes a Tensor lr; here options are plain numbers
            example = f"{option}={value.data.item()!r}" if value.data.size == 1 else f"one number as {option}"
            hint = (f"; options are plain numbers here (PyTorch also takes a Tensor): pass {example} "
                    f"(tensor.item()), and change it later through optimizer.param_groups[i][{option!r}] "
                    "or a scheduler from mg.optim.lr_scheduler")
        raise TypeError(f"{owner}: {option} must be a number, got {type(value).__name__} {value!r}{hint}")
    else:
        in_range = value >= 0 and (high is None or value < high or (high_included and value == high))
    if not in_range:
        expected = ">= 0" if high is None else f"in [0, {high}{']' if high_included else ')'}"
        raise ValueError(f"{owner}: {option} must be {expected}, got {value!r}" + (f"; {hint}" if hint else ""))


def as_scalar(value, param: np.ndarray):
    """An option's value as an update multiplies ``param``-shaped arrays by it, with a
    Python number's rounding: NumPy casts a Python float to the array's dtype before the
    operation, so per-member values (an ``nn.Ensemble``'s ``per_member`` array, float64)
    are cast the same way, and a float32 member rounds as a float32 model with a
    Python-float learning rate does."""
    return value if type(value) is not np.ndarray else value.astype(param.dtype, copy=False)


def in_dtype(value, param: np.ndarray):
    """``as_scalar``, and a Python number as a 0-d array of ``param``'s dtype: the value NumPy
    casts the number to when it multiplies ``param``-shaped arrays, without the cast at every
    call (see ``ops.primitive.constant``). For a rule's own factor, not for arithmetic with
    other Python numbers first (which would then round in ``param``'s dtype)."""
    if type(value) is float or type(value) is int:
        return constant(value, param.dtype)
    return as_scalar(value, param)


def _label(i: int, p, where: str) -> str:
    """How error messages name the i-th parameter of a group."""
    name = getattr(p, "name", None)
    return f"parameter {i}" + (f" ({name!r})" if isinstance(p, Tensor) and name else "") + where


def _plain(value):
    """A loaded option or scalar state as plain Python: NumPy scalars (from ``.npz``) would
    otherwise turn float32 arithmetic into float64, and JSON gives lists for tuples."""
    value = _as_numpy(value)
    if isinstance(value, np.ndarray | np.generic) and np.ndim(value) == 0:
        return value.item()
    if np.ndim(value) >= 2 and isinstance(value, list | tuple | np.ndarray):
        return np.array(value, dtype=np.float64)  # per-member values of an nn.Ensemble, (members, 1, 1)
    if isinstance(value, list | tuple | np.ndarray):
        return tuple(_plain(v) for v in value)
    return value


def _as_numpy(value):
    """Another library's array (a PyTorch state dict's tensors: "step" is one) as an ndarray, by
    its own ``__array__()`` (through NumPy 2's protocol, one without a ``copy`` keyword warns)."""
    if hasattr(value, "__array__") and not isinstance(value, np.ndarray | np.generic):
        return np.asarray(value.__array__())
    return value


def _index(key) -> int | None:
    """A parameter index from a state dict: an int, or its string form after a JSON round trip."""
    try:
        return int(key)
    except (TypeError, ValueError):
        return None


def _register(hooks: OrderedDict, hook: Callable, prepend: bool) -> RemovableHandle:
    if not callable(hook):
        raise TypeError(f"the hook must be callable, got {type(hook).__name__}")
    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    return handle


def _hooks(optimizer: Optimizer, which: str):
    """The hooks registered under ``which`` (none for an optimizer unpickled from an older version)."""
    hooks = optimizer.__dict__.get(which)
    return hooks.values() if hooks else ()


class _WatchedStep:
    """``optimizer.step`` as an instance attribute while its calls must be watched: it marks
    the optimizer ``_opt_called`` (which a learning-rate scheduler checks, as PyTorch's) and
    runs the step hooks. With no hooks it removes itself at its call, so that the steps after
    that cost nothing more than the plain method."""

    __slots__ = ("optimizer",)

    def __init__(self, optimizer: Optimizer):
        self.optimizer = optimizer

    def __call__(self, *args, **kwargs):
        optimizer = self.optimizer
        optimizer._opt_called = True
        pre, post = _hooks(optimizer, "_optimizer_step_pre_hooks"), _hooks(optimizer, "_optimizer_step_post_hooks")
        step = type(optimizer).step
        if not pre and not post:
            if optimizer.__dict__.get("step") is self:
                del optimizer.__dict__["step"]
            return step(optimizer, *args, **kwargs)
        if watchers.count and records_calls():
            # A replay would skip the hooks' Python code: the compiled function runs eagerly
            # while the optimizer has step hooks, as it does for module and tensor hooks.
            owner = weakref.ref(optimizer)

            def still() -> bool:
                alive = owner()
                return alive is not None and bool(_hooks(alive, "_optimizer_step_pre_hooks")
                                                  or _hooks(alive, "_optimizer_step_post_hooks"))

            mode.tracer.cannot_replay(f"step hooks on {optimizer._name}", still)
        args = (optimizer, *args)
        for hook in list(pre):
            result = hook(optimizer, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError(f"a step pre-hook must return None or a tuple (new_args, new_kwargs), "
                                       f"but got {result!r}")
                args, kwargs = result
        out = step(*args, **kwargs)
        for hook in list(post):
            hook(optimizer, args, kwargs)
        return out


def _watch_step(optimizer: Optimizer) -> None:
    """Make ``optimizer.step`` a ``_WatchedStep`` (unless ``step`` was replaced on the instance)."""
    if "step" not in optimizer.__dict__:
        optimizer.step = _WatchedStep(optimizer)
