"""``torch.func``'s function transforms on the engine: ``grad``, ``grad_and_value``, ``vjp``,
``jvp``, ``jacrev``, ``jacfwd``, ``hessian``, ``vmap`` and ``stack_module_state``.

Each transform runs the function on tensors of its own that record a graph and asks the
engine (``mg.grad``) for the derivatives, so every rule comes from the primitives. The
arguments may be pytrees: a tensor, or tuples, lists and dicts of them. Transforms nest
(``grad(grad(f))``, ``vmap(grad(f))``, ``jacrev(jacrev(f))``): where an input already
belongs to a graph (an outer transform's, or a tensor that requires grad), the inner
transform keeps its results differentiable (``create_graph``), so the outer one, or
``backward()``, differentiates them again.

``vmap`` calls the function once per slice of the mapped axis and stacks the results: the
same values and gradients as PyTorch's batching rules give, at the cost of one call per
slice.
"""

from __future__ import annotations

import numbers
import threading

import numpy as np

from microgradnp.autograd.engine import grad as _engine_grad
from microgradnp.autograd.engine import topological_order
from microgradnp.autograd.grad_mode import enable_grad, mode
from microgradnp.tensor import Tensor

__all__ = ["grad", "grad_and_value", "hessian", "jacfwd", "jacrev", "jvp", "stack_module_state", "vjp", "vmap"]


# -- pytrees: a tensor, or tuples, lists and dicts of pytrees ------------------------------------
def _flatten(tree) -> tuple[list, object]:
    """The leaves of ``tree`` (in order) and its structure, for ``_unflatten``."""
    if isinstance(tree, tuple | list):
        parts = [_flatten(item) for item in tree]
        return [leaf for leaves, _ in parts for leaf in leaves], (type(tree), [s for _, s in parts])
    if isinstance(tree, dict):
        parts = {key: _flatten(item) for key, item in tree.items()}
        return [leaf for leaves, _ in parts.values() for leaf in leaves], (dict, {k: s for k, (_, s) in parts.items()})
    return [tree], None


def _unflatten(leaves, structure):
    leaves = iter(leaves)

    def build(structure):
        if structure is None:
            return next(leaves)
        kind, parts = structure
        if kind is dict:
            return {key: build(part) for key, part in parts.items()}
        items = [build(part) for part in parts]
        return tuple(items) if kind is tuple else items

    return build(structure)


def _tensors(leaves, what: str) -> list[Tensor]:
    for leaf in leaves:
        if not isinstance(leaf, Tensor):
            raise TypeError(f"{what}: expected tensors (or tuples, lists and dicts of them), got "
                            f"{type(leaf).__name__}; wrap values with mg.tensor")
    return leaves


# -- the differentiable copies of the inputs --------------------------------------------------------
def _inputs(tensors: list[Tensor], what: str, grad_enabled: bool) -> tuple[list[Tensor], bool]:
    """Tensors to differentiate with respect to, standing for ``tensors``, and whether the
    results must stay differentiable (``grad_enabled``: the caller's grad mode): an input that
    already records a graph (an outer transform's, a parameter) is followed through
    (``view_as``), so the outer derivative sees this one; any other is a fresh leaf."""
    connected = grad_enabled and any(t.requires_grad for t in tensors)
    fresh = []
    for t in tensors:
        if t.data.dtype.kind not in "fc":
            raise TypeError(f"{what}: can only differentiate with respect to floating point tensors, got dtype "
                            f"{t.data.dtype}")
        fresh.append(t.view_as(t) if connected and t.requires_grad else _own_leaf(t.detach().requires_grad_()))
    return fresh, connected


# How many transforms are running in this thread: the leaves each makes are marked with its
# depth, so that once it has returned, an outer transform does not count them as a captured
# tensor of its own (they are internal to the finished call).
_calls = threading.local()


def _depth() -> int:
    return getattr(_calls, "depth", 0)


def _own_leaf(leaf: Tensor, deeper: int = 0) -> Tensor:
    leaf._transform_depth = _depth() + deeper
    return leaf


def _reaches_other_tensors(values, inputs: list[Tensor]) -> bool:
    """Whether ``values`` were computed from a tensor that requires grad other than
    ``inputs``: a variable captured from an outer transform (``grad(lambda x: grad(lambda y:
    x * y)(y))``) or a parameter. The results must then stay differentiable, as torch.func's,
    or the outer derivative would silently miss this one."""
    own, depth = {id(t) for t in inputs}, _depth()

    def captured(x) -> bool:  # a leaf that requires grad, not made by this call or one it made
        return (isinstance(x, Tensor) and x._node is None and x._requires_grad and id(x) not in own
                and getattr(x, "_transform_depth", 0) < depth)

    roots = [v for v in values if isinstance(v, Tensor) and v.requires_grad]
    return any(map(captured, roots)) or any(
        captured(x) for tensor in topological_order(roots) for x in tensor._node.inputs)


def _derivatives(outputs: list[Tensor], inputs: list[Tensor], cotangents, create_graph: bool) -> list[Tensor]:
    """The vector-Jacobian products of ``outputs`` (with ``cotangents``) at ``inputs``: zeros
    for an input the outputs do not depend on, as ``torch.func``."""
    pairs = [(o, c) for o, c in zip(outputs, cotangents) if o.requires_grad]
    found = [None] * len(inputs)
    if pairs:
        found = _engine_grad([o for o, _ in pairs], inputs, grad_outputs=[c for _, c in pairs], retain_graph=True,
                             create_graph=create_graph, allow_unused=True)
    return [Tensor(np.zeros_like(x.data)) if g is None else g if create_graph else g.detach()
            for g, x in zip(found, inputs)]


def _settled(value, connected: bool):
    """A result handed back: detached unless it must stay differentiable."""
    leaves, structure = _flatten(value)
    return _unflatten([v.detach() if isinstance(v, Tensor) and not connected else v for v in leaves], structure)


def _argnums(argnums, args: tuple, what: str) -> tuple[int, ...]:
    if isinstance(argnums, bool) or not isinstance(argnums, int | tuple):
        raise TypeError(f"{what}: argnums must be int or Tuple[int, ...], got {type(argnums).__name__}")
    numbers_ = (argnums,) if isinstance(argnums, int) else argnums
    if not numbers_:
        raise RuntimeError(f"{what}: argnums must be non-empty")
    if any(isinstance(n, bool) or not isinstance(n, int) for n in numbers_):
        raise RuntimeError(f"{what}: argnums must be int or Tuple[int, ...], got {argnums!r}")
    for n in numbers_:
        if not -len(args) <= n < len(args):
            raise RuntimeError(f"{what}: Got argnum={n}, but only {len(args)} positional inputs")
    normalised = tuple(n % len(args) for n in numbers_)
    if len(set(normalised)) != len(normalised):
        raise RuntimeError(f"{what}: argnums must be unique, got {argnums!r}")
    return normalised


def _split_aux(output, has_aux: bool, what: str):
    if not has_aux:
        return output, None
    if not (isinstance(output, tuple) and len(output) == 2):
        raise RuntimeError(f"{what}: output of function f should be a tuple: (output, aux) if has_aux is True")
    return output


class _Differentiated:
    """One call of ``func`` on stand-ins for its arguments at ``argnums``: the flat inputs,
    their structure, the output and whether results stay differentiable."""

    def __init__(self, func, args: tuple, kwargs: dict, argnums, what: str, has_aux: bool = False):
        positions = _argnums(argnums, args, what)
        args = list(args)
        self.structures = []
        chosen = [_flatten(args[i]) for i in positions]
        grad_enabled = mode.grad_enabled  # (the caller's: inside, grad mode is on to record func)
        depth = _calls.depth = _depth() + 1  # this call's: its leaves are marked with it
        try:
            with enable_grad():
                fresh, self.connected = _inputs([t for leaves, _ in chosen for t in _tensors(leaves, what)], what,
                                                grad_enabled)
                start = 0
                for position, (leaves, structure) in zip(positions, chosen):
                    args[position] = _unflatten(fresh[start:start + len(leaves)], structure)
                    self.structures.append((start, len(leaves), structure))
                    start += len(leaves)
                self.inputs = fresh
                self.output, self.aux = _split_aux(func(*args, **kwargs), has_aux, what)
                if grad_enabled and not self.connected:
                    values = [*_flatten(self.output)[0], *_flatten(self.aux)[0]]
                    self.connected = _reaches_other_tensors(values, fresh)
        finally:
            _calls.depth = depth - 1
        self.single = isinstance(argnums, int)

    def arranged(self, flat: list):
        """``flat`` (one item per input) in the structure of the arguments at argnums."""
        trees = [_unflatten(flat[start:start + n], structure) for start, n, structure in self.structures]
        return trees[0] if self.single else tuple(trees)


# -- the transforms -----------------------------------------------------------------------------------
def grad_and_value(func, argnums=0, has_aux: bool = False):
    """``func``'s gradient with respect to the arguments at ``argnums`` and its value, as
    ``torch.func.grad_and_value``: ``func`` returns a scalar tensor (and, with ``has_aux``,
    ``(scalar, aux)``). The gradient has the structure of those arguments (a tuple of them
    when ``argnums`` is a tuple); an argument ``func`` does not use gets zeros."""

    def wrapper(*args, **kwargs):
        what = "grad_and_value(f)(*args)"
        call = _Differentiated(func, args, kwargs, argnums, what, has_aux)
        output = call.output
        if not isinstance(output, Tensor):
            raise RuntimeError(f"{what}: Expected f(*args) to return a Tensor, got {type(output).__name__}")
        if output.data.ndim != 0:
            raise RuntimeError(f"{what}: Expected f(*args) to return a scalar Tensor, got tensor with "
                               f"{output.data.ndim} dims. Maybe you wanted to use the vjp or jacrev APIs instead?")
        grads = _derivatives([output], call.inputs, [Tensor(np.ones_like(output.data))], call.connected)
        value = _settled(output, call.connected)
        gradient = call.arranged(grads)
        if has_aux:
            return gradient, (value, _settled(call.aux, call.connected))
        return gradient, value

    return wrapper


def grad(func, argnums=0, has_aux: bool = False):
    """``func``'s gradient with respect to the arguments at ``argnums``, as
    ``torch.func.grad`` (see ``grad_and_value``); with ``has_aux``, ``(gradient, aux)``."""
    both = grad_and_value(func, argnums, has_aux)

    def wrapper(*args, **kwargs):
        gradient, value = both(*args, **kwargs)
        return (gradient, value[1]) if has_aux else gradient

    return wrapper


def vjp(func, *primals, has_aux: bool = False):
    """``(func(*primals), vjp_fn)`` as ``torch.func.vjp``: ``vjp_fn(cotangents)``, with
    cotangents of the output's structure and shapes, gives the vector-Jacobian products
    with respect to every primal, as a tuple (one per primal, each of its structure)."""
    what = "vjp(f, *primals)"
    if not primals:
        raise RuntimeError(f"{what}: expected at least one primal")
    call = _Differentiated(func, primals, {}, tuple(range(len(primals))), what, has_aux)
    outputs, structure = _flatten(call.output)
    _tensors(outputs, f"{what}: the outputs of f")

    def vjp_fn(cotangents):
        given, given_structure = _flatten(cotangents)
        if given_structure != structure or len(given) != len(outputs):
            raise RuntimeError("vjp_fn: Expected cotangents to have the same structure as the output of f")
        for c, o in zip(_tensors(given, "vjp_fn"), outputs):
            if c.shape != o.shape:
                raise RuntimeError(f"vjp_fn: Mismatch in shape: the cotangent has shape {c.shape} and the output "
                                   f"has shape {o.shape}")
        create_graph = call.connected or any(c.requires_grad for c in given)
        products = call.arranged(_derivatives(outputs, call.inputs, given, create_graph))
        return products if isinstance(products, tuple) else (products,)

    value = _settled(call.output, call.connected)
    return (value, vjp_fn, _settled(call.aux, call.connected)) if has_aux else (value, vjp_fn)


def jvp(func, primals, tangents, *, strict: bool = False, has_aux: bool = False):
    """``(func(*primals), the Jacobian-vector product with tangents)``, as ``torch.func.jvp``:
    ``primals`` and ``tangents`` are tuples of the same structure. Computed in reverse mode
    (the vjp of the vjp), so it takes the same derivatives as ``vjp``."""
    what = "jvp(f, primals, tangents)"
    if not isinstance(primals, tuple) or not isinstance(tangents, tuple):
        raise RuntimeError(f"{what}: Expected primals and tangents to be tuples")
    if strict:
        raise RuntimeError(f"{what}: strict=True is not implemented, as in torch.func")
    flat_primals, structure = _flatten(primals)
    flat_tangents, tangent_structure = _flatten(tangents)
    if structure != tangent_structure:
        raise RuntimeError(f"{what}: Expected primals and tangents to have the same python structure")
    for p, t in zip(_tensors(flat_primals, what), _tensors(flat_tangents, what)):
        if p.shape != t.shape:
            raise RuntimeError(f"{what}: Expected primals and tangents to have the same shape, got {p.shape} "
                               f"and {t.shape}")
    grad_enabled = mode.grad_enabled  # (the caller's: the work below records a graph)
    with enable_grad():
        out = vjp(func, *primals, has_aux=has_aux)
        value, back = out[0], out[1]
        outputs, out_structure = _flatten(value)
        # The vjp is linear in the cotangent u: differentiating <vjp(u), tangents> by u gives J @ tangents.
        # (marked as a deeper call's leaves: a transform around this one does not count them as captured)
        cotangents = [_own_leaf(Tensor(np.zeros_like(o.data)).requires_grad_(), 1) for o in outputs]
        products, _ = _flatten(back(_unflatten(cotangents, out_structure)))
        terms = [(p * t).sum() for p, t in zip(products, flat_tangents) if p.requires_grad]
        # (the value stays differentiable when it reaches the primals or a captured tensor)
        connected = grad_enabled and any(t.requires_grad for t in (*flat_primals, *flat_tangents, *outputs))
        if terms:
            total = terms[0]
            for term in terms[1:]:
                total = total + term
            directional = _derivatives([total], cotangents, [Tensor(np.ones((), total.data.dtype))], connected)
        else:  # (the outputs do not depend on the primals)
            directional = [Tensor(np.zeros_like(o.data)) for o in outputs]
    if not grad_enabled:  # (under no_grad: plain results, as torch.func's)
        value, directional = _settled(value, False), [d.detach() for d in directional]
    result = (value, _unflatten(directional, out_structure))
    return (*result, _settled(out[2], grad_enabled)) if has_aux else result


def jacrev(func, argnums=0, *, has_aux: bool = False, chunk_size: int | None = None):
    """``func``'s Jacobian with respect to the arguments at ``argnums`` by reverse mode, as
    ``torch.func.jacrev``: for an output of shape ``O`` and an input of shape ``I``, a tensor
    of shape ``O + I``; for several outputs or inputs, their structures nested (outputs
    outside). One backward pass per output element (``chunk_size`` is accepted)."""
    _check_chunk_size(chunk_size)

    def wrapper(*args, **kwargs):
        what = "jacrev(f)(*args)"
        call = _Differentiated(func, args, kwargs, argnums, what, has_aux)
        outputs, structure = _flatten(call.output)
        jacobians = []
        for output in _tensors(outputs, f"{what}: the outputs of f"):
            rows = []
            for index in range(output.data.size):
                basis = np.zeros(output.data.size, output.data.dtype)
                basis[index] = 1
                rows.append(_derivatives([output], call.inputs, [Tensor(basis.reshape(output.shape))],
                                         call.connected))
            per_input = [_stacked([row[i] for row in rows], output.shape, x.shape, x.data.dtype)
                         for i, x in enumerate(call.inputs)]
            jacobians.append(call.arranged(per_input))
        result = _unflatten(jacobians, structure)
        return (result, _settled(call.aux, call.connected)) if has_aux else result

    return wrapper


def _stacked(rows: list, out_shape: tuple, in_shape: tuple, dtype) -> Tensor:
    from microgradnp.ops.shape import stack

    if not rows:
        return Tensor(np.zeros(out_shape + in_shape, dtype))
    return stack(rows, 0).reshape(out_shape + in_shape)


def jacfwd(func, argnums=0, has_aux: bool = False, *, randomness: str = "error"):
    """``func``'s Jacobian with respect to the arguments at ``argnums``, as
    ``torch.func.jacfwd`` (the same tensor as ``jacrev``; computed here in reverse mode)."""
    _check_randomness(randomness)
    return jacrev(func, argnums, has_aux=has_aux)


def hessian(func, argnums=0):
    """``func``'s Hessian with respect to the arguments at ``argnums``, as
    ``torch.func.hessian``: the Jacobian of its Jacobian."""
    return jacfwd(jacrev(func, argnums), argnums)


# -- vmap -----------------------------------------------------------------------------------------------------
def _check_chunk_size(chunk_size) -> None:
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int)
                                   or chunk_size <= 0):
        raise ValueError(f"vmap: chunk_size should be None or greater than 0. (got {chunk_size})")


def _check_randomness(randomness) -> None:
    if randomness not in ("error", "different", "same"):
        raise RuntimeError(f"Only allowed values for randomness are 'error', 'different', or 'same'. "
                           f"Got {randomness}")


def _dims_per_leaf(in_dims, args: tuple) -> list:
    """One in_dim (an int or None) per leaf of ``args``: ``in_dims`` is one for all, or a
    tuple with one per argument, each one for the whole argument or a matching pytree."""
    if in_dims is None or isinstance(in_dims, int):
        if isinstance(in_dims, bool):
            raise ValueError(f"vmap: in_dims must be an int, None or a tuple of them, got {in_dims!r}")
        return [in_dims] * len(_flatten(args)[0])
    if not isinstance(in_dims, tuple):
        raise ValueError(f"vmap(f, in_dims={in_dims!r}, ...)(<inputs>): expected `in_dims` to be int or a (potentially "
                         f"nested) tuple matching the structure of inputs, got: {type(in_dims).__name__}.")
    if len(in_dims) != len(args):
        raise ValueError(f"vmap(f, in_dims={in_dims!r}, ...)(<inputs>): in_dims is not compatible with the "
                         f"structure of `inputs`. in_dims has structure of length {len(in_dims)} but inputs has "
                         f"{len(args)} arguments.")
    dims = []
    for dim, arg in zip(in_dims, args):
        leaves, structure = _flatten(arg)
        if dim is None or isinstance(dim, int):
            dims += [dim] * len(leaves)
        else:
            dim_leaves, dim_structure = _flatten(dim)
            if dim_structure != structure:
                raise ValueError(f"vmap: in_dims {dim!r} does not match the structure of its input")
            dims += dim_leaves
    return dims


def vmap(func, in_dims=0, out_dims=0, randomness: str = "error", *, chunk_size: int | None = None):
    """``func`` mapped over an axis of its inputs, as ``torch.vmap``: the inputs are sliced
    along ``in_dims`` (None: not mapped; an int or a pytree per argument), ``func`` runs on
    each slice, and its outputs are stacked along ``out_dims``. Gradients flow through, and
    ``vmap(grad(f))`` gives per-sample gradients. ``randomness``: "error" refuses random
    operations in ``func``, "different" draws anew for each slice, "same" gives every slice
    the same draws. Keyword arguments are passed unmapped."""
    _check_randomness(randomness)
    _check_chunk_size(chunk_size)

    def wrapper(*args, **kwargs):
        from microgradnp._random import _global_rng
        from microgradnp.ops.shape import stack

        leaves, structure = _flatten(args)
        dims = _dims_per_leaf(in_dims, args)
        sizes = set()
        for leaf, dim in zip(leaves, dims):
            if dim is None:
                continue
            if not isinstance(leaf, Tensor):
                raise ValueError(f"vmap: Got in_dim={dim} for an input but the input is of type "
                                 f"{type(leaf).__name__}. We cannot vmap over non-Tensor arguments, please use None "
                                 "as the respective in_dim")
            if not -leaf.ndim <= dim < max(leaf.ndim, 1) or leaf.ndim == 0:
                raise ValueError(f"vmap: Got in_dim={dim} for some input, but that input is a Tensor of "
                                 f"dimensionality {leaf.ndim} so expected in_dim to satisfy "
                                 f"-{leaf.ndim} <= in_dim < {leaf.ndim}.")
            sizes.add(leaf.shape[dim])
        if not sizes:
            raise ValueError("vmap: at least one input must be mapped over (got in_dims=None for every input)")
        if len(sizes) > 1:
            raise ValueError(f"vmap: Expected all tensors to have the same size in the mapped dimension, got sizes "
                             f"{sorted(sizes)} for the mapped dimension")
        (size,) = sizes
        state = _global_rng.bit_generator.state
        results = []
        if size == 0:  # f once on zeros, for the results' shapes: each is then empty along its out_dim
            with np.errstate(all="ignore"):
                zeros = [leaf if dim is None else Tensor._wrap(np.zeros(np.delete(leaf.shape, dim), leaf.data.dtype))
                         for leaf, dim in zip(leaves, dims)]
                results.append(func(*_unflatten(zeros, structure), **kwargs))
        for index in range(size):
            if randomness == "same":
                _global_rng.bit_generator.state = state
            sliced = [leaf if dim is None else leaf.select(dim, index) for leaf, dim in zip(leaves, dims)]
            results.append(func(*_unflatten(sliced, structure), **kwargs))
            if randomness == "error" and _global_rng.bit_generator.state != state:
                raise RuntimeError("vmap: called random operation while in randomness error mode. Please either use "
                                   "the 'same' or 'different' randomness flags on vmap or perform the randomness "
                                   "operation out of vmap")
        flat_results = [_flatten(r) for r in results]
        out_structure = flat_results[0][1]
        columns = list(zip(*(leaves_ for leaves_, _ in flat_results)))
        out_dim_leaves = ([out_dims] * len(columns) if out_dims is None or isinstance(out_dims, int)
                          else _flatten(out_dims)[0])
        if len(out_dim_leaves) != len(columns):
            raise ValueError(f"vmap(f, ..., out_dims={out_dims!r})(<inputs>): out_dims is not compatible with the "
                             "structure of `outputs`")
        stacked = []
        for column, dim in zip(columns, out_dim_leaves):
            if not all(isinstance(v, Tensor) for v in column):
                bad = next(v for v in column if not isinstance(v, Tensor))
                raise ValueError(f"vmap(f, ...): `f` must only return Tensors, got type {type(bad).__name__}. Did "
                                 "you mean to set out_dims= to None for output?")
            if dim is None:
                if any(v is not column[0] and not np.array_equal(v.data, column[0].data) for v in column):
                    raise ValueError("vmap: out_dims=None for an output that differs between the slices")
                stacked.append(column[0])
            else:
                if not isinstance(dim, numbers.Integral) or isinstance(dim, bool):
                    raise ValueError(f"vmap: out_dims must be an int or None, got {dim!r}")
                batched = stack(list(column), int(dim))
                stacked.append(batched if size else Tensor._wrap(np.delete(batched.data, 0, axis=int(dim))))
        return _unflatten(stacked, out_structure)

    return wrapper


def stack_module_state(models) -> tuple[dict, dict]:
    """The parameters and buffers of ``models`` (modules of one structure) stacked along a
    new first axis, as ``torch.func.stack_module_state``: ``(params, buffers)``, dicts by
    name; the stacked parameters are new leaves that require grad as the originals do.
    With ``functional_call`` and ``vmap`` they run the models as one ensemble."""
    models = list(models)
    if not models:
        raise RuntimeError("stack_module_state: Expected at least one model, got 0.")
    if not (all(m.training for m in models) or not any(m.training for m in models)):
        raise RuntimeError("stack_module_state: Expected all models to have the same training/eval mode.")
    kinds = {type(m) for m in models}
    if len(kinds) > 1:
        raise RuntimeError(f"stack_module_state: Expected all models to be of the same class, got {kinds}")

    def stacked(named):
        names = [dict(named(m)) for m in models]
        return {name: Tensor(np.stack([n[name].data for n in names])).requires_grad_(tensor.requires_grad)
                for name, tensor in names[0].items()}

    return stacked(lambda m: m.named_parameters()), stacked(lambda m: m.named_buffers())
