"""Matrix products, and the LU decomposition (``mg.linalg.lu_factor``, ``lu``, ``lu_solve``)."""

from __future__ import annotations

import collections
import math
import string

import numpy as np

from microgradnp.errors import InvalidArgumentError
from microgradnp.ops.elementwise import Mul
from microgradnp.ops.primitive import Primitive, broadcast_grad, floating, promote, refuse_non_numbers
from microgradnp.ops.reductions import Sum
from microgradnp.ops.shape import BroadcastTo, Reshape, Transpose, diagonal
from microgradnp.tensor import Tensor, _data


def _swap_last(x):
    return x.T if x.ndim == 2 else np.swapaxes(x, -1, -2)


class MatMul(Primitive):
    _writes_out = True
    _saved_needed_by = ((1,), (0,))  # a's values are used only for b's gradient, b's for a's

    @staticmethod
    def forward(ctx, a, b):
        if type(a) is np.ndarray and type(b) is np.ndarray and a.dtype is not b.dtype:
            a, b = promote(a, b)  # PyTorch's result dtype (int64 @ float32 is float32; NumPy's is float64)
        ctx.save_for_backward(a, b)
        try:
            return np.matmul(a, b, out=ctx._out)
        except TypeError:  # (costs nothing until raised)
            refuse_non_numbers("@", a, b)
            raise
        except ValueError:
            _refuse_shapes(np.shape(a), np.shape(b))
            raise

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        if a.ndim == 2 and b.ndim == 2:
            # With one output column, grad @ b.T is an outer product (see Linear.backward)
            grad_a = None if not need_a else grad * b.T if b.shape[1] == 1 else grad @ b.T
            return grad_a, (a.T @ grad if need_b else None)
        # A 1-D operand acts as a row (left) or column (right) matrix; give the
        # gradient that axis back, multiply as matrices, then drop it again.
        if a.ndim == 1:
            grad = np.expand_dims(grad, -2 if b.ndim > 1 else 0)
        if b.ndim == 1:
            grad = np.expand_dims(grad, -1)
        a2 = a.reshape(1, -1) if a.ndim == 1 else a
        b2 = b.reshape(-1, 1) if b.ndim == 1 else b
        grad_a = grad_b = None
        if need_a:
            grad_a = grad @ _swap_last(b2)
            grad_a = np.squeeze(grad_a, -2) if a.ndim == 1 and grad_a.ndim > 1 else grad_a
        if need_b:
            grad_b = _swap_last(a2) @ grad
            grad_b = np.squeeze(grad_b, -1) if b.ndim == 1 else grad_b
        return grad_a, grad_b


def _refuse_shapes(a_shape, b_shape) -> None:
    """Raise a ValueError naming the shapes when ``a @ b`` cannot be computed, and saying
    how to fix it (NumPy's message speaks of gufunc core dimensions); return otherwise."""

    def shown(shape):
        return "x".join(map(str, shape)) if shape else "scalar"

    head = f"matmul: cannot multiply ({shown(a_shape)}) by ({shown(b_shape)})"
    if not a_shape or not b_shape:
        raise InvalidArgumentError(
            f"{head}: @ needs operands with at least one axis; multiply by a scalar with *") from None
    inner_b = b_shape[0] if len(b_shape) == 1 else b_shape[-2]
    if a_shape[-1] != inner_b:
        fix = "Reshape or transpose an operand so that they agree."
        if len(b_shape) >= 2 and a_shape[-1] == b_shape[-1]:
            fix = "Did you mean a @ b.T" + (" (b.swapaxes(-1, -2) for a batch)" if len(b_shape) > 2 else "") + "?"
        elif len(a_shape) >= 2 and a_shape[-2] == inner_b:
            fix = "Did you mean a.T" + (" (a.swapaxes(-1, -2) for a batch)" if len(a_shape) > 2 else "") + " @ b?"
        second = ("the length of the 1-D second operand" if len(b_shape) == 1
                  else "the second operand's second-to-last axis")
        raise InvalidArgumentError(
            f"{head}: the first operand's last axis ({a_shape[-1]}) must equal {second} ({inner_b}), the axis "
            f"summed over. {fix}"
        ) from None
    batch_a, batch_b = a_shape[:-2], b_shape[:-2]
    try:
        np.broadcast_shapes(batch_a, batch_b)
    except ValueError:
        raise InvalidArgumentError(
            f"{head}: the matrices match, but the batch axes {batch_a} and {batch_b} do not broadcast together "
            "(each pair of batch lengths must be equal or 1)"
        ) from None


def matmul(a, b):
    """Matrix product with NumPy's ``@`` rules (1-D operands, batched leading axes).

    Raises:
        ValueError: the shapes do not fit, naming them: ``cannot multiply (2x3) by (2x3)``.
    """
    return MatMul.apply(a, b)


def dot(a, b):
    """``np.dot``'s product, differentiable: scalars multiply, 1-D with 1-D is the inner
    product, 2-D with 2-D the matrix product, N-D with 1-D sums over the last axis of
    ``a``, and N-D with M-D (M >= 2) sums over the last axis of ``a`` and the
    second-to-last of ``b`` (every leading axis of both is kept, without ``@``'s
    broadcasting): ``out[i, j, k, m] = sum(a[i, j, :] * b[k, :, m])``.

    Built from reshape, transpose and matmul, so the gradient (and higher ones) come
    from those primitives.
    """
    a = a if isinstance(a, Tensor) else np.asarray(a)
    b = b if isinstance(b, Tensor) else np.asarray(b)
    a_shape, b_shape = a.shape, b.shape
    if not a_shape or not b_shape:
        return Mul.apply(a, b)
    if len(a_shape) == 1 or len(b_shape) == 1 or len(a_shape) == len(b_shape) == 2:
        # Here ``@`` is np.dot: a 1-D operand is contracted as a row (left) or column (right).
        if a_shape[-1] != b_shape[-1 if len(b_shape) == 1 else -2]:
            _not_aligned(a_shape, b_shape)
        return MatMul.apply(a, b)
    if a_shape[-1] != b_shape[-2]:
        _not_aligned(a_shape, b_shape)
    k, b_lead = a_shape[-1], len(b_shape) - 2
    rows = Reshape.apply(a, shape=(math.prod(a_shape[:-1]), k))
    # b's contracted axis first, then its other axes in order: (k, *b_shape[:-2], m).
    columns = Transpose.apply(b, axes=(b_lead, *range(b_lead), b_lead + 1))
    columns = Reshape.apply(columns, shape=(k, math.prod(b_shape[:-2]) * b_shape[-1]))
    return Reshape.apply(MatMul.apply(rows, columns), shape=a_shape[:-1] + b_shape[:-2] + b_shape[-1:])


def _not_aligned(a_shape, b_shape):
    axis = len(b_shape) - 1 if len(b_shape) == 1 else len(b_shape) - 2
    raise InvalidArgumentError(
        f"dot: shapes {a_shape} and {b_shape} not aligned: {a_shape[-1]} (dim {len(a_shape) - 1}) "
        f"!= {b_shape[axis]} (dim {axis})"
    )


class Linear(Primitive):
    """``x @ weight.T + bias`` in one node: a dense layer's whole forward, with
    ``weight`` of shape (out_features, in_features) as in PyTorch.

    A 3-D ``weight`` (members, out_features, in_features) with a bias (members, 1,
    out_features) is ``nn.Ensemble``'s stack of layers: member ``m`` computes
    ``x[m] @ weight[m].T + bias[m]`` (``x`` of shape (members, N, in_features), or (N,
    in_features) shared by all), and each member's matrix products are the same BLAS
    calls on the same memory layout as a single layer's, so its numbers are too.
    """

    _writes_out = True
    _saved_needed_by = ((1,), (0,))  # x is used only for weight's gradient, weight for x's

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        ctx.save_for_backward(x, weight)
        out = np.matmul(x, weight.T if weight.ndim == 2 else weight.swapaxes(-1, -2), out=ctx._out)
        if bias is not None:
            out += bias
        return out

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        need_x, need_weight, need_bias = ctx.needs_input_grad
        grad_x = None
        if need_x:
            # With one output feature, grad @ weight is an outer product: one rounded product
            # per element however it is computed, and NumPy's matmul loop is slow for it.
            grad_x = grad * weight if weight.shape[-2] == 1 else grad @ weight
        grad_weight = grad_bias = None
        if weight.ndim == 3:  # an ensemble's members: each one's gradients from its own rows
            if need_weight:
                grad_weight = grad.swapaxes(-1, -2) @ x
            if need_bias:
                grad_bias = (np.add.reduce(grad, axis=-2, keepdims=True) if type(grad) is np.ndarray
                             else grad.sum(axis=-2, keepdims=True))
        elif need_weight or need_bias:
            rows = grad.reshape(-1, grad.shape[-1]) if grad.ndim != 2 else grad
            if need_weight:
                grad_weight = rows.T @ (x.reshape(-1, x.shape[-1]) if x.ndim != 2 else x)
            if need_bias:
                # np.add.reduce is ndarray.sum without its Python wrapper (a Tensor under create_graph)
                grad_bias = np.add.reduce(rows, axis=0) if type(rows) is np.ndarray else rows.sum(axis=0)
        return grad_x, grad_weight, grad_bias


def linear(input, weight, bias=None):  # noqa: A002  (F's argument names are PyTorch's)
    """``input @ weight.T + bias`` (PyTorch's ``F.linear``): weight is (out_features, in_features),
    or (in_features,) for one output whose axis is dropped, as PyTorch's."""
    if np.ndim(weight.data if isinstance(weight, Tensor) else weight) == 1:
        out = MatMul.apply(input, weight)
        return out if bias is None else out + bias
    return Linear.apply(input, weight, bias)


# -- outer, tensordot, trace, einsum ------------------------------------------------------


def outer(a, b):
    """The outer product of the flattened ``a`` and ``b``, as ``np.outer`` (and
    ``torch.outer`` for 1-D operands): ``out[i, j] = a.ravel()[i] * b.ravel()[j]``.

    Args:
        a: the first operand (flattened).
        b: the second operand (flattened).

    Returns:
        A 2-D tensor of shape (a.size, b.size).
    """
    return Mul.apply(Reshape.apply(a, shape=(-1, 1)), Reshape.apply(b, shape=(1, -1)))


def tensordot(a, b, axes=2):
    """Sum of products over the given axes, as ``np.tensordot`` (and ``torch.tensordot``).

    Built from transpose, reshape and matmul, as NumPy computes it, so the gradients (and
    higher ones) come from those primitives.

    Args:
        a: the first operand.
        b: the second operand.
        axes: an int N (the last N axes of ``a`` with the first N of ``b``), or a pair of
            sequences of axes (``([1, 0], [0, 1])``) contracted pairwise.

    Returns:
        A tensor with the remaining axes of ``a`` followed by those of ``b``.

    Raises:
        ValueError: if the contracted axes differ in number or length (a length 1 against
            another broadcasts, as in PyTorch).
    """
    a = a if isinstance(a, Tensor) else np.asarray(a)
    b = b if isinstance(b, Tensor) else np.asarray(b)
    if isinstance(axes, int | np.integer):
        axes = int(axes)
        axes_a, axes_b = list(range(-axes, 0)), list(range(axes))
    else:
        axes_a, axes_b = axes
        axes_a = [int(axes_a)] if isinstance(axes_a, int | np.integer) else [int(i) for i in axes_a]
        axes_b = [int(axes_b)] if isinstance(axes_b, int | np.integer) else [int(i) for i in axes_b]
    if len(axes_a) != len(axes_b):
        raise InvalidArgumentError(f"tensordot: {len(axes_a)} axes of a against {len(axes_b)} axes of b")
    shape_a, shape_b = a.shape, b.shape
    axes_a = [i % len(shape_a) if len(shape_a) else i for i in axes_a]
    axes_b = [i % len(shape_b) if len(shape_b) else i for i in axes_b]
    for i, j in zip(axes_a, axes_b):
        if not (0 <= i < len(shape_a) and 0 <= j < len(shape_b)) or (
                shape_a[i] != shape_b[j] and 1 not in (shape_a[i], shape_b[j])):
            raise InvalidArgumentError(f"tensordot: shape-mismatch for sum: axes {axes_a} of {shape_a} against "
                             f"axes {axes_b} of {shape_b}")
    # A contracted axis of length 1 broadcasts against its partner's, as in PyTorch.
    broadcast_a, broadcast_b = list(shape_a), list(shape_b)
    for i, j in zip(axes_a, axes_b):
        broadcast_a[i] = broadcast_b[j] = shape_b[j] if shape_a[i] == 1 else shape_a[i]
    if tuple(broadcast_a) != shape_a:
        a, shape_a = BroadcastTo.apply(a, shape=tuple(broadcast_a)), tuple(broadcast_a)
    if tuple(broadcast_b) != shape_b:
        b, shape_b = BroadcastTo.apply(b, shape=tuple(broadcast_b)), tuple(broadcast_b)
    kept_a = [i for i in range(len(shape_a)) if i not in axes_a]
    kept_b = [i for i in range(len(shape_b)) if i not in axes_b]
    summed = math.prod(shape_a[i] for i in axes_a)
    rows = Reshape.apply(Transpose.apply(a, axes=(*kept_a, *axes_a)), shape=(math.prod(shape_a[i] for i in kept_a),
                                                                             summed))
    cols = Reshape.apply(Transpose.apply(b, axes=(*axes_b, *kept_b)), shape=(summed,
                                                                             math.prod(shape_b[i] for i in kept_b)))
    out_shape = tuple(shape_a[i] for i in kept_a) + tuple(shape_b[i] for i in kept_b)
    return Reshape.apply(MatMul.apply(rows, cols), shape=out_shape)


def trace(x, offset: int = 0, axis1: int = 0, axis2: int = 1):
    """Sum of the ``offset`` diagonal of the axes ``axis1``, ``axis2``, as ``np.trace``
    (``torch.trace`` for a matrix).

    Args:
        x: the input tensor (at least 2-D).
        offset: which diagonal (positive above the main one).
        axis1: the axis of the rows.
        axis2: the axis of the columns.

    Returns:
        A 0-d tensor for a matrix; for more axes, the traces over the other axes.
    """
    return Sum.apply(diagonal(x, offset, axis1, axis2), axis=-1)


_LETTERS = string.ascii_uppercase + string.ascii_lowercase  # np.einsum's labels, in its (code point) order


def _parse_einsum(subscripts: str, shapes: list) -> tuple:
    """``subscripts`` with every ellipsis spelled out as letters (right-aligned, as the
    axes it stands for broadcast) and the output made explicit: (one string of letters per
    operand, the output's letters, the letters still unused)."""
    spec = subscripts.replace(" ", "")
    bad = sorted(set(spec) - set(_LETTERS) - set(".,->"))
    if bad:
        raise InvalidArgumentError(
            f"einsum: invalid subscript character(s) {''.join(bad)!r} in {subscripts!r}: use letters")
    inputs, arrow, output = spec.partition("->")
    if "-" in inputs or ">" in inputs or "-" in output or ">" in output:
        raise InvalidArgumentError(f"einsum: {subscripts!r} should have at most one '->'")
    terms = inputs.split(",")
    if len(terms) != len(shapes):
        raise InvalidArgumentError(f"einsum: {subscripts!r} has subscripts for {len(terms)} operand(s), "
                         f"but {len(shapes)} operand(s) were given")
    for term in (*terms, output):
        if term.replace("...", "", 1).count("."):
            raise InvalidArgumentError(
                f"einsum: invalid '.' in {subscripts!r}: an ellipsis is three dots, at most one per term")
    widths = []
    for term, shape in zip(terms, shapes):
        letters = len(term) - 3 if "..." in term else len(term)
        width = len(shape) - letters if "..." in term else 0
        if width < 0 or ("..." not in term and letters != len(shape)):
            raise InvalidArgumentError(f"einsum: the subscripts {term!r} do not fit an operand of shape {shape}")
        widths.append(width)
    unused = [c for c in _LETTERS if c not in spec]
    width = max(widths, default=0)
    if width > len(unused):
        raise InvalidArgumentError("einsum: too many axes under the ellipsis: not enough letters left to name them")
    ellipsis, unused = "".join(unused[:width]), unused[width:]
    named = [term.replace("...", "") for term in terms]
    if not arrow:  # implicit output: the ellipsis' axes, then the letters used once, in order
        counts = collections.Counter("".join(named))
        output = ellipsis + "".join(sorted(c for c, k in counts.items() if k == 1))
    terms = [term.replace("...", ellipsis[width - w :]) for term, w in zip(terms, widths)]
    return tuple(terms), output.replace("...", ellipsis), "".join(unused)


def _einsum_vjp(grad, output: str, operands: tuple, terms: tuple, i: int, unused: str):
    """The gradient of operand ``i``: an einsum of ``grad`` with the other operands.

    A letter repeated in the operand (``"ii"``: a diagonal) is renamed at its repeats and
    tied to the first by an identity matrix, so the gradient lands on the diagonal only.
    Letters found in no other operand and not in the output (summed over) get the
    gradient broadcast along them, and axes of length 1 that broadcast against longer
    ones are summed back."""
    term, shape = terms[i], operands[i].shape
    fresh = iter(unused)
    target, subscripts, arrays = [], [output], [grad]
    for axis, letter in enumerate(term):
        if letter in target:
            renamed = next(fresh, None)
            if renamed is None:
                raise NotImplementedError("einsum: not enough unused letters to differentiate a repeated subscript")
            target.append(renamed)
            subscripts.append(letter + renamed)
            arrays.append(np.eye(shape[axis], dtype=grad.dtype))
        else:
            target.append(letter)
    for j, (other, operand) in enumerate(zip(terms, operands)):
        if j != i:
            subscripts.append(other)
            arrays.append(operand)
    present = set("".join(subscripts))
    kept = "".join(c for c in target if c in present)
    g = np.einsum(",".join(subscripts) + "->" + kept, *arrays, optimize=len(arrays) > 2)
    if len(kept) < len(target):  # summed letters of this operand alone: every position gets the gradient
        g = g.reshape(tuple(g.shape[kept.index(c)] if c in present else 1 for c in target))
    broadcast = tuple(axis for axis, n in enumerate(shape) if n == 1 and g.shape[axis] != 1)
    if broadcast:
        g = g.sum(axis=broadcast, keepdims=True)
    return broadcast_grad(g, shape) if g.shape != shape else g


class Einsum(Primitive):
    @staticmethod
    def forward(ctx, *operands, terms, output, unused):
        ctx.terms, ctx.output, ctx.unused = terms, output, unused
        ctx.save_for_backward(*operands)
        out = np.einsum(",".join(terms) + "->" + output, *operands, optimize=len(operands) > 1)
        if isinstance(out, np.ndarray) and any(np.may_share_memory(out, a) for a in operands):
            out = out.copy()  # np.einsum returns views for some subscripts ("ii->i", "ij->ji")
        return out

    @staticmethod
    def backward(ctx, grad):
        operands = ctx.saved_tensors
        grads = tuple(
            _einsum_vjp(grad, ctx.output, operands, ctx.terms, i, ctx.unused) if need else None
            for i, need in enumerate(ctx.needs_input_grad)
        )
        return grads if len(grads) > 1 else grads[0]


def einsum(subscripts: str, *operands):
    """Einstein summation, as ``np.einsum`` (and ``torch.einsum``): ``einsum("ij,jk->ik",
    a, b)`` is ``a @ b``, ``"bij,bjk->bik"`` a batched product, ``"ii->i"`` a diagonal,
    ``"ii"`` a trace, ``"i,j->ij"`` an outer product, ``"...ij->...ji"`` a transpose of
    the last two axes. Letters missing from the output are summed over; without ``->``
    the output is the ellipsis' axes then the letters used once, in alphabetical order
    (upper case first). As in PyTorch, an explicit output without ``...`` sums over the
    ellipsis' axes (NumPy refuses it).

    The gradient of each operand is itself an einsum of the output's gradient with the
    other operands (so gradients of any order work); repeated letters within one operand
    (diagonals) get their gradient on the diagonal only.

    Args:
        subscripts: the subscripts string (letters, ``,``, ``->`` and ``...``).
        *operands: the tensors or arrays, one per comma-separated term (or one list of them, as
            ``torch.einsum(eq, [a, b])`` takes).

    Returns:
        The result tensor.

    Raises:
        TypeError: for NumPy's interleaved form (operand, sublist, ...).
        ValueError: if the subscripts do not fit the operands.
    """
    if not isinstance(subscripts, str):
        raise TypeError("einsum: give the subscripts as a string first, einsum('ij,jk->ik', a, b); NumPy's "
                        "interleaved form (operand, sublist, ...) is not supported")
    if len(operands) == 1 and isinstance(operands[0], list | tuple):  # torch.einsum(eq, [a, b])
        operands = tuple(operands[0])
    shapes = [np.shape(_data(x)) for x in operands]
    terms, output, unused = _parse_einsum(subscripts, shapes)
    return Einsum.apply(*operands, terms=terms, output=output, unused=unused)


# -- LU decomposition ---------------------------------------------------------------------------


def lu_factor_arrays(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LAPACK's ``getrf`` on a batch of (m, n) matrices: Gaussian elimination with partial
    pivoting (the largest magnitude in the column, the first one on ties), ``P A = L U``.

    NumPy has no LU routine, so this is the textbook algorithm, vectorised over the batch.
    Returns ``(LU, pivots, info)`` as LAPACK and PyTorch do: L (unit diagonal, not stored)
    below the diagonal and U on and above it in one array; ``pivots[..., j]`` the (1-based)
    row swapped with row j at step j; ``info`` 0, or the (1-based) index of the first exactly
    zero diagonal entry of U (the elimination then carries on, as LAPACK's)."""
    m, n = a.shape[-2:]
    batch = a.shape[:-2]
    lu = np.array(a, dtype=a.dtype if a.dtype.kind == "f" else np.float64).reshape(math.prod(a.shape[:-2]), m, n)
    count, k = lu.shape[0], min(m, n)
    pivots = np.empty((count, k), dtype=np.int32)
    info = np.zeros(count, dtype=np.int32)
    every = np.arange(count)
    for j in range(k):
        row = j + np.argmax(np.abs(lu[:, j:, j]), axis=1)
        pivots[:, j] = row + 1
        lu[every, j], lu[every, row] = lu[every, row], lu[every, j].copy()  # swap rows j and row
        pivot = lu[:, j, j]
        zero = pivot == 0
        info[(info == 0) & zero] = j + 1
        # A zero pivot means the column below it is zero too: nothing to eliminate.
        lu[:, j + 1 :, j] /= np.where(zero, 1, pivot)[:, None]
        lu[:, j + 1 :, j + 1 :] -= lu[:, j + 1 :, j : j + 1] * lu[:, j : j + 1, j + 1 :]
    return lu.reshape(*batch, m, n), pivots.reshape(*batch, k), info.reshape(batch)


def permutation_matrix(pivots: np.ndarray, m: int, dtype) -> np.ndarray:
    """The permutation matrix P (..., m, m) of ``A = P L U`` from LAPACK's row swaps ``pivots``."""
    pivots = np.asarray(pivots)
    batch = pivots.shape[:-1]
    pivots = pivots.reshape(-1, pivots.shape[-1]) - 1
    order = np.tile(np.arange(m), (pivots.shape[0], 1))  # order[i]: the row of A that is row i of P^T A
    every = np.arange(pivots.shape[0])
    for j in range(pivots.shape[1]):
        order[every, j], order[every, pivots[:, j]] = order[every, pivots[:, j]], order[every, j].copy()
    p = np.zeros((pivots.shape[0], m, m), dtype=dtype)
    p[every[:, None], order, np.arange(m)] = 1  # column i of P picks row order[i] of L U
    return p.reshape(*batch, m, m)


def lu_unpack(lu, pivots):
    """``(P, L, U)`` from the packed ``LU`` and its ``pivots``: L (m, k) unit lower
    triangular, U (k, n) upper triangular, k = min(m, n). Works on ndarrays and on Tensors
    (then L and U are differentiable in ``LU``; P is a constant)."""
    m, n = lu.shape[-2:]
    k = min(m, n)
    low = np.tril(lu[..., :, :k], -1) + np.eye(m, k, dtype=lu.dtype)
    up = np.triu(lu[..., :k, :])
    return permutation_matrix(_data(pivots), m, lu.dtype), low, up


def _solve_any(a, b):
    """``a^-1 b`` on ndarrays, or recorded when either is a Tensor (building a graph)."""
    from microgradnp.ops.torch_shape import _solve  # (imported here: torch_shape builds on this module)

    return _solve(a, b)


class Geqrf(Primitive):
    """QR as LAPACK's ``geqrf`` packs it (NumPy's ``qr(mode="raw")``, transposed back to row
    order): R on and above the diagonal, the Householder vectors below it, and their scales
    ``tau``. PyTorch has no derivative for it: a backward through it raises, as there."""

    @staticmethod
    def forward(ctx, a):
        a = floating(a)
        m, n = a.shape[-2:]
        if not a.size:  # (NumPy's LAPACK call refuses empty matrices)
            return np.array(a, copy=True), np.zeros((*a.shape[:-2], min(m, n)), dtype=a.dtype)
        raw, tau = np.linalg.qr(a, mode="raw")
        return np.ascontiguousarray(np.swapaxes(raw, -1, -2)).astype(a.dtype, copy=False), tau.astype(a.dtype)

    @staticmethod
    def backward(ctx, grad_a, grad_tau):
        raise NotImplementedError("the derivative for 'geqrf' is not implemented (as in PyTorch); for a "
                                  "differentiable QR use linalg.qr")


class LUFactor(Primitive):
    """``P A = L U`` packed as LAPACK's ``getrf`` (see ``lu_factor_arrays``): outputs
    ``(LU, pivots, info)``, the last two without gradient. The gradient is PyTorch's
    (``linalg_lu_backward`` in its FunctionsManual.cpp): the gradients of L (strictly below
    the diagonal of LU) and of U (on and above it) pulled back through the two triangular
    factors; a wide or tall A carries the extra block of U or L straight through."""

    @staticmethod
    def forward(ctx, a):
        lu, pivots, info = lu_factor_arrays(a)
        ctx.params = {}
        ctx.save_for_backward(lu, pivots, info)
        ctx.mark_non_differentiable(pivots, info)
        return lu, pivots, info

    @staticmethod
    def backward(ctx, grad, grad_pivots=None, grad_info=None):
        from microgradnp.ops.torch_shape import _saved_outputs

        lu, pivots, _ = _saved_outputs(ctx, (grad,))
        p, low, up = lu_unpack(lu, pivots)
        m, n = lu.shape[-2:]
        k = min(m, n)
        grad_low = np.tril(grad[..., :, :k], -1)  # L's diagonal is not stored: no gradient
        grad_up = np.triu(grad[..., :k, :])
        if m >= n:  # tall (or square): L = [L1; L2], L1 square
            g = np.triu(grad_up @ _swap_last(up) - _swap_last(low) @ grad_low)
            g = _solve_any(_swap_last(low[..., :k, :]), g)  # L1^-T g
            if m > n:
                g = np.concatenate([g, np.zeros((*g.shape[:-2], m - n, n), dtype=g.dtype)], axis=-2)
            g = _swap_last(_solve_any(up, _swap_last(g + grad_low)))  # (...) U^-T
        else:  # wide: U = [U1 U2], U1 square
            g = np.tril(_swap_last(low) @ grad_low - grad_up @ _swap_last(up), -1)
            g = _swap_last(_solve_any(up[..., :, :k], _swap_last(g)))  # g U1^-T
            g = np.concatenate([g, np.zeros((*g.shape[:-2], m, n - m), dtype=g.dtype)], axis=-1)
            g = _solve_any(_swap_last(low), g + grad_up)  # L^-T (...)
        return p @ g
