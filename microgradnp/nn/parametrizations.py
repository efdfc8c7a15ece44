"""``torch.nn.utils.parametrizations``: ``weight_norm``, ``spectral_norm`` and ``orthogonal``
as parametrizations (``nn.utils.parametrize``), and the older hook-based
``nn.utils.weight_norm`` / ``spectral_norm`` with their ``remove_`` functions.

All are written with existing differentiable ops, so gradients reach the stored tensors;
``state_dict`` keys are PyTorch's (``parametrizations.weight.original0``, ``weight_g``,
``weight_orig``...).
"""

from __future__ import annotations

import copy

import numpy as np

from microgradnp import ops
from microgradnp.autograd.grad_mode import no_grad
from microgradnp.errors import InvalidArgumentError
from microgradnp.nn.extra_losses import eager_only
from microgradnp.nn.module import Module, Parameter
from microgradnp.nn.parametrize import register_parametrization
from microgradnp.tensor import Tensor, _rng

__all__ = ["orthogonal", "spectral_norm", "weight_norm"]


# == weight norm ==================================================================================
def norm_except_dim(v: Tensor, dim: int) -> Tensor:
    """The 2-norm of ``v`` over every axis but ``dim``, kept with length-1 axes (``dim=-1``: the
    norm of everything, a 0-d tensor), as ``torch.norm_except_dim(v, 2, dim)``."""
    if dim == -1:
        return ops.sqrt(ops.sum(v * v))
    axes = tuple(a for a in range(v.ndim) if a != dim)
    return ops.sqrt(ops.sum(v * v, axis=axes, keepdims=True))


def _weight_norm(v: Tensor, g: Tensor, dim: int) -> Tensor:
    return v * (g / norm_except_dim(v, dim))


def _check_dim(dim, ndim: int, function: str) -> int:
    if dim is None:
        return -1
    if not -ndim <= dim < ndim:
        raise IndexError(f"{function}: dim {dim} is out of range for a weight of {ndim} dimensions")
    return dim if dim == -1 else dim % ndim


class _WeightNorm(Module):
    """``weight = g * v / ||v||`` (norm over every axis but ``dim``) from ``(g, v)``."""

    def __init__(self, dim: int | None = 0):
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g, weight_v):
        return _weight_norm(weight_v, weight_g, self.dim)

    def right_inverse(self, weight):
        return norm_except_dim(weight, self.dim), weight


def _tensor_attribute(module: Module, name: str, function: str) -> Tensor:
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise InvalidArgumentError(
            f"{function}: module '{type(module).__name__}' has no parameter or buffer with name '{name}'")
    return weight


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Weight normalisation as a parametrization, as ``torch.nn.utils.parametrizations.weight_norm``:
    ``weight = g * v / ||v||``, the norm over every axis but ``dim`` (``dim=None``: over all).
    ``g`` and ``v`` are stored as ``parametrizations.<name>.original0`` and ``original1``
    (initialised so that the weight is unchanged).

    Returns:
        ``module``.

    Raises:
        ValueError: ``module`` has no tensor ``name``.
        IndexError: ``dim`` out of range.
    """
    weight = _tensor_attribute(module, name, "weight_norm")
    dim = _check_dim(dim, weight.ndim, "weight_norm")
    return register_parametrization(module, name, _WeightNorm(dim), unsafe=True)


# == spectral norm ================================================================================
def _matrix(weight, dim: int):
    """``weight`` as a matrix with axis ``dim`` as its rows (array or Tensor)."""
    if dim != 0:
        weight = weight.transpose((dim, *(d for d in range(weight.ndim) if d != dim)))
    return weight.reshape(weight.shape[0], -1)


def _normalize(x: np.ndarray, eps: float) -> np.ndarray:
    return x / max(float(np.linalg.norm(x)), eps)


def _spectral_dim(module: Module, dim) -> int:
    if dim is not None:
        return dim
    from microgradnp.nn.extra_layers import ConvTranspose1d

    return 1 if isinstance(module, ConvTranspose1d) else 0  # ConvTranspose2d derives from it


def _random_unit_vectors(weight: np.ndarray, eps: float, rng) -> tuple[np.ndarray, np.ndarray]:
    rng = _rng(rng)
    h, w = weight.shape
    u = _normalize(rng.normal(0.0, 1.0, h).astype(weight.dtype), eps)
    v = _normalize(rng.normal(0.0, 1.0, w).astype(weight.dtype), eps)
    return u, v


def _frozen(u: Tensor, v: Tensor, updated: bool) -> tuple[Tensor, Tensor]:
    """The vectors used for ``sigma``: copies after a power iteration (the next one writes into the
    buffers, which a graph still waiting for its backward must not see), else the buffers."""
    return (Tensor(u.data.copy()), Tensor(v.data.copy())) if updated else (u, v)


class _SpectralNorm(Module):
    """``weight / sigma``, ``sigma`` the largest singular value of the weight seen as a matrix with
    axis ``dim`` as rows, estimated by power iteration on the buffers ``_u`` and ``_v``."""

    def __init__(self, weight: Tensor, n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12, rng=None):
        super().__init__()
        ndim = weight.ndim
        if not -ndim <= dim < ndim:
            raise IndexError(f"Dimension out of range (expected to be in range of [{-ndim}, {ndim - 1}] but got {dim})")
        if n_power_iterations <= 0:
            raise InvalidArgumentError(f"Expected n_power_iterations to be positive, but got "
                             f"n_power_iterations={n_power_iterations}")
        self.dim = dim % ndim
        self.eps = eps
        self.n_power_iterations = n_power_iterations
        if ndim > 1:
            matrix = _matrix(weight.data, self.dim)
            u, v = _random_unit_vectors(matrix, eps, rng)
            self.register_buffer("_u", Tensor(u))
            self.register_buffer("_v", Tensor(v))
            self._power_method(matrix, 15)

    def _power_method(self, matrix: np.ndarray, iterations: int) -> None:
        u, v = self._u.data, self._v.data
        for _ in range(iterations):
            u[...] = _normalize(matrix @ v, self.eps)
            v[...] = _normalize(matrix.conj().T @ u, self.eps)

    def forward(self, weight):
        if weight.ndim == 1:
            return weight / ops.maximum(ops.sqrt(ops.sum(weight * weight)), self.eps)
        if self.training:
            eager_only("spectral_norm's power iteration")
            self._power_method(_matrix(weight.data, self.dim), self.n_power_iterations)
        u, v = _frozen(self._u, self._v, self.training)
        sigma = ops.sum(u * ops.matmul(_matrix(weight, self.dim), v))
        return weight / sigma

    def right_inverse(self, value):
        return value


def spectral_norm(module: Module, name: str = "weight", n_power_iterations: int = 1, eps: float = 1e-12,
                  dim: int | None = None, *, rng=None) -> Module:
    """Spectral normalisation as a parametrization, as ``torch.nn.utils.parametrizations.spectral_norm``:
    ``weight / sigma(weight)``, ``sigma`` estimated by ``n_power_iterations`` steps of power
    iteration per forward in training mode (none in eval mode), on the buffers
    ``parametrizations.<name>.0._u`` and ``_v`` (random unit vectors from ``rng``, then 15 steps).

    Args:
        module: the module.
        name: the tensor to normalise.
        n_power_iterations: power-iteration steps per training forward.
        eps: the smallest norm divided by when normalising ``u`` and ``v``.
        dim: the axis of the output features (None: 1 for ConvTranspose layers, else 0).
        rng: a seed or ``np.random.Generator`` for the initial ``u`` and ``v``.

    Raises:
        ValueError: no tensor ``name``, or ``n_power_iterations`` not positive.
        IndexError: ``dim`` out of range.
    """
    weight = _tensor_attribute(module, name, "spectral_norm")
    parametrization = _SpectralNorm(weight, n_power_iterations, _spectral_dim(module, dim), eps, rng)
    return register_parametrization(module, name, parametrization)


# == orthogonal ===================================================================================
def _make_orthogonal(a: np.ndarray) -> np.ndarray:
    """The Q of the QR decomposition of ``a`` with R's diagonal made positive (as PyTorch's)."""
    q, r = np.linalg.qr(a)
    return (q * np.where(np.diagonal(r, axis1=-2, axis2=-1) < 0, -1.0, 1.0)[..., None, :]).astype(a.dtype)


def _householder_product(a, tau, n: int, k: int):
    """``(H_1 ... H_k)[:, :k]`` with ``H_i = I - tau_i v_i v_i^T``, ``v_i = e_i + a[:, i]`` (``a``
    strictly lower triangular), as ``torch.linalg.householder_product``, with differentiable ops."""
    eye = np.eye(n, dtype=a.dtype)
    q = Tensor(np.broadcast_to(eye, (*a.shape[:-2], n, n)).copy())
    for i in range(k):
        v = (a[..., :, i] + eye[:, i])[..., :, None]
        qv = ops.matmul(q, v)
        q = q - (tau[..., i][..., None, None] * qv) * v.transpose((*range(v.ndim - 2), v.ndim - 1, v.ndim - 2))
    return q[..., :, :k]


class _Orthogonal(Module):
    def __init__(self, weight: Tensor, orthogonal_map: str, *, use_trivialization: bool = True, rng=None):
        super().__init__()
        self.shape = weight.data.shape
        self.orthogonal_map = orthogonal_map
        self.rng = _rng(rng)
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, x):
        n, k = x.shape[-2], x.shape[-1]
        transposed = n < k
        swap = (*range(x.ndim - 2), x.ndim - 1, x.ndim - 2)
        if transposed:
            x = x.transpose(swap)
            n, k = k, n
        if self.orthogonal_map in ("matrix_exp", "cayley"):
            x = ops.tril(x)
            if n != k:
                x = ops.concatenate([x, Tensor(np.zeros((*x.shape[:-2], n, n - k), dtype=x.dtype))], axis=-1)
            a = x - x.transpose(swap)
            if self.orthogonal_map == "matrix_exp":
                from microgradnp.linalg import matrix_exp

                q = matrix_exp(a)
            else:
                from microgradnp.linalg import solve

                eye = np.eye(n, dtype=a.dtype)
                q = solve(eye - 0.5 * a, eye + 0.5 * a)
            if n != k:
                q = q[..., :k]
        else:
            a = ops.tril(x, -1)
            tau = 2.0 / (1.0 + ops.sum(a * a, axis=-2))
            q = _householder_product(a, tau, n, k)
            eager_only("orthogonal's householder map, which reads the signs of the diagonal")
            signs = np.diagonal(x.data, axis1=-2, axis2=-1).astype(np.int64).astype(x.dtype)
            q = q * signs[..., None, :]
        base = self._buffers.get("base")  # (none without use_trivialization)
        if base is not None:
            q = ops.matmul(base, q)
        if transposed:
            q = q.transpose(swap)
        return q

    def right_inverse(self, q):
        if tuple(q.shape) != self.shape:
            raise InvalidArgumentError(
                f"Expected a matrix or batch of matrices of shape {self.shape}. Got a tensor of shape "
                f"{tuple(q.shape)}.")
        values = np.asarray(q.data)
        n, k = values.shape[-2], values.shape[-1]
        transposed = n < k
        if transposed:
            values = np.swapaxes(values, -1, -2)
            n, k = k, n
        if "base" not in self._buffers:
            return self._householder_inverse(values, transposed)
        if n != k:
            extra = self.rng.normal(0.0, 1.0, (*values.shape[:-2], n, n - k)).astype(values.dtype)
            values = np.concatenate([values, extra], axis=-1)
        self.base = Tensor(_make_orthogonal(values))
        neg_eye = np.zeros(self.shape, dtype=values.dtype)
        diagonal = np.arange(min(self.shape[-2:]))
        neg_eye[..., diagonal, diagonal] = -1.0
        return Tensor(neg_eye)

    def _householder_inverse(self, values: np.ndarray, transposed: bool) -> Tensor:
        """Without ``use_trivialization``: the original whose Householder map is the Q of the QR of
        ``values`` (tall), as PyTorch's: the reflectors of LAPACK's geqrf (NumPy's ``qr(mode="raw")``)
        with the diagonal replaced by the signs that give Q (a reflection LAPACK skipped,
        ``tau == 0``, flips it). The matrix exponential and Cayley maps have no such inverse."""
        if self.orthogonal_map != "householder":
            raise NotImplementedError("It is not possible to assign to the matrix exponential or the Cayley "
                                      "parametrizations when use_trivialization=False.")
        h, tau = np.linalg.qr(values, mode="raw")  # h is geqrf's matrix transposed
        a = np.swapaxes(h, -1, -2).copy()
        diagonal = np.arange(a.shape[-1])
        signs = np.sign(a[..., diagonal, diagonal])
        a[..., diagonal, diagonal] = np.where(tau == 0.0, -signs, signs)
        return Tensor(np.swapaxes(a, -1, -2) if transposed else a)


def orthogonal(module: Module, name: str = "weight", orthogonal_map: str | None = None, *,
               use_trivialization: bool = True, rng=None) -> Module:
    """Keep a matrix (or batch of matrices) orthogonal, as ``torch.nn.utils.parametrizations.orthogonal``.

    ``orthogonal_map`` is ``"matrix_exp"``, ``"cayley"`` or ``"householder"`` (default:
    ``"matrix_exp"`` for square matrices, else ``"householder"``). With ``use_trivialization``
    (PyTorch's default) the current weight is made orthogonal (QR) and kept as the buffer
    ``base``, and the original starts at ``-I``, as PyTorch's; ``rng`` seeds the random
    completion of a non-square weight. Without it there is no ``base``: the map applies to the
    original directly (with ``"householder"`` the original starts as the reflectors of the
    weight's QR, so the weight is its Q; with the other maps it starts as the weight itself, and
    assigning to ``module.<name>`` raises NotImplementedError).

    Raises:
        ValueError: no tensor ``name``, a weight of fewer than 2 dimensions, an unknown map.
    """
    weight = _tensor_attribute(module, name, "orthogonal")
    if weight.ndim < 2:
        raise InvalidArgumentError(f"Expected a matrix or batch of matrices. Got a tensor of {weight.ndim} dimensions.")
    n, k = weight.shape[-2], weight.shape[-1]
    if orthogonal_map is None:
        orthogonal_map = "matrix_exp" if n == k else "householder"
    if orthogonal_map not in ("matrix_exp", "cayley", "householder"):
        raise InvalidArgumentError(f"orthogonal_map has to be one of 'matrix_exp', 'cayley', 'householder'. Got: "
                         f"{orthogonal_map!r}")
    parametrization = _Orthogonal(weight, orthogonal_map, use_trivialization=use_trivialization, rng=rng)
    return register_parametrization(module, name, parametrization, unsafe=True)


# == the older hook-based forms ===================================================================
def _hooked_class(module: Module) -> None:
    """Swap ``module``'s class for one whose call first recomputes the hooked weights (PyTorch's
    forward pre-hooks)."""
    if type(module).__dict__.get("_norm_hooked"):
        return
    cls = type(module)

    def __call__(self, *args, **kwargs):
        for hook in list(self.__dict__.get("_norm_hooks", {}).values()):
            hook(self)
        return cls.__call__(self, *args, **kwargs)

    object.__setattr__(module, "_norm_hooks", {})
    namespace = {"_norm_hooked": True, "__call__": __call__, "__module__": cls.__module__}
    if not hasattr(cls, "__deepcopy__"):  # (a class's own deep copy is left to it)
        namespace["__deepcopy__"] = _hooked_deepcopy
    object.__setattr__(module, "__class__", type(cls.__name__, (cls,), namespace))


def _hooked_deepcopy(self, memo):
    """A deep copy of a module with hook-based weight or spectral norm. The hooked weights are
    outputs of the graph, which cannot be deep-copied (PyTorch fails there): they are computed
    afresh on the copy from its own copied tensors instead (no power iteration)."""
    hooks = self.__dict__.get("_norm_hooks", {})
    replica = object.__new__(type(self))
    memo[id(self)] = replica
    replica.__dict__.update(copy.deepcopy({k: v for k, v in self.__dict__.items() if k not in hooks}, memo))
    for hook in replica._norm_hooks.values():
        hook.refresh(replica)
    return replica


def _drop_hook(module: Module, name: str, kind: type, function: str):
    hooks = module.__dict__.get("_norm_hooks", {})
    hook = hooks.get(name)
    if not isinstance(hook, kind):
        raise InvalidArgumentError(f"{function} of '{name}' not found in {type(module).__name__}")
    del hooks[name]
    return hook


class _WeightNormHook:
    def __init__(self, name: str, dim: int):
        self.name, self.dim = name, dim

    def compute_weight(self, module: Module) -> Tensor:
        return _weight_norm(getattr(module, self.name + "_v"), getattr(module, self.name + "_g"), self.dim)

    def __call__(self, module: Module) -> None:
        object.__setattr__(module, self.name, self.compute_weight(module))

    refresh = __call__  # (recomputing has no side effect here)


def legacy_weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Weight normalisation by a hook, as ``torch.nn.utils.weight_norm``: the parameter ``name``
    is replaced by ``<name>_g`` (the norms over every axis but ``dim``; ``dim=None``: over all)
    and ``<name>_v`` (the direction), and ``module.<name> = g * v / ||v||`` is recomputed before
    every call. ``nn.utils.remove_weight_norm`` undoes it.

    Raises:
        ValueError: no parameter ``name``, or weight norm already on it.
        IndexError: ``dim`` out of range.
    """
    if name in module.__dict__.get("_norm_hooks", {}):
        raise RuntimeError(f"Cannot register two weight_norm hooks on the same parameter {name}")
    weight = module._parameters.get(name)
    if not isinstance(weight, Parameter):
        raise InvalidArgumentError(f"weight_norm: module '{type(module).__name__}' has no parameter '{name}'")
    dim = _check_dim(dim, weight.ndim, "weight_norm")
    hook = _WeightNormHook(name, dim)
    with no_grad():
        g = norm_except_dim(weight, dim)
    delattr(module, name)
    module.register_parameter(name + "_g", Parameter(g.data.copy()))
    module.register_parameter(name + "_v", Parameter(weight.data))
    _hooked_class(module)
    module._norm_hooks[name] = hook
    hook(module)
    return module


def remove_weight_norm(module: Module, name: str = "weight") -> Module:
    """Undo ``nn.utils.weight_norm``: ``name`` is a Parameter again, with the current weight.

    Raises:
        ValueError: no weight norm on ``name``.
    """
    hook = _drop_hook(module, name, _WeightNormHook, "weight_norm")
    with no_grad():
        weight = hook.compute_weight(module)
    delattr(module, name)
    delattr(module, name + "_g")
    delattr(module, name + "_v")
    module.register_parameter(name, Parameter(weight.data.copy()))
    return module


class _SpectralNormHook:
    def __init__(self, name: str, n_power_iterations: int, dim: int, eps: float):
        self.name, self.n_power_iterations, self.dim, self.eps = name, n_power_iterations, dim, eps

    def compute_weight(self, module: Module, do_power_iteration: bool) -> Tensor:
        weight = getattr(module, self.name + "_orig")
        u, v = getattr(module, self.name + "_u"), getattr(module, self.name + "_v")
        if do_power_iteration:
            eager_only("spectral_norm's power iteration")
            matrix = _matrix(weight.data, self.dim)
            for _ in range(self.n_power_iterations):
                v.data[...] = _normalize(matrix.T @ u.data, self.eps)
                u.data[...] = _normalize(matrix @ v.data, self.eps)
        u, v = _frozen(u, v, do_power_iteration)
        sigma = ops.sum(u * ops.matmul(_matrix(weight, self.dim), v))
        return weight / sigma

    def __call__(self, module: Module) -> None:
        object.__setattr__(module, self.name, self.compute_weight(module, module.training))

    def refresh(self, module: Module) -> None:
        """Recompute ``module.<name>`` from the current vectors, leaving them as they are."""
        object.__setattr__(module, self.name, self.compute_weight(module, False))


def legacy_spectral_norm(module: Module, name: str = "weight", n_power_iterations: int = 1, eps: float = 1e-12,
                         dim: int | None = None, *, rng=None) -> Module:
    """Spectral normalisation by a hook, as ``torch.nn.utils.spectral_norm``: the parameter
    ``name`` becomes ``<name>_orig``, the buffers ``<name>_u`` and ``<name>_v`` hold the power
    iteration's vectors (random unit vectors from ``rng``), and before every call (with
    ``n_power_iterations`` steps in training mode) ``module.<name> = <name>_orig / sigma``.
    ``dim`` (None: 1 for ConvTranspose layers, else 0) is the output axis.
    ``nn.utils.remove_spectral_norm`` undoes it.

    Raises:
        ValueError: no parameter ``name``, or ``n_power_iterations`` not positive.
        RuntimeError: spectral norm already on ``name``.
    """
    if name in module.__dict__.get("_norm_hooks", {}):
        raise RuntimeError(f"Cannot register two spectral_norm hooks on the same parameter {name}")
    weight = module._parameters.get(name)
    if not isinstance(weight, Parameter):
        raise InvalidArgumentError(f"spectral_norm: module '{type(module).__name__}' has no parameter '{name}'")
    if n_power_iterations <= 0:  # (with none, sigma would come from the random initial u and v)
        raise InvalidArgumentError(f"Expected n_power_iterations to be positive, but got "
                                   f"n_power_iterations={n_power_iterations}")
    dim = _check_dim(_spectral_dim(module, dim), weight.ndim, "spectral_norm") % weight.ndim
    hook = _SpectralNormHook(name, n_power_iterations, dim, eps)
    u, v = _random_unit_vectors(_matrix(weight.data, dim), eps, rng)
    delattr(module, name)
    module.register_parameter(name + "_orig", weight)
    object.__setattr__(module, name, Tensor(weight.data))
    module.register_buffer(name + "_u", Tensor(u))
    module.register_buffer(name + "_v", Tensor(v))
    _hooked_class(module)
    module._norm_hooks[name] = hook
    return module


def remove_spectral_norm(module: Module, name: str = "weight") -> Module:
    """Undo ``nn.utils.spectral_norm``: ``name`` is a Parameter again, with the current
    normalised weight (no power iteration).

    Raises:
        ValueError: no spectral norm on ``name``.
    """
    hook = _drop_hook(module, name, _SpectralNormHook, "spectral_norm")
    with no_grad():
        weight = hook.compute_weight(module, False)
    for suffix in ("", "_u", "_v", "_orig"):
        delattr(module, name + suffix)
    module.register_parameter(name, Parameter(weight.data.copy()))
    return module

