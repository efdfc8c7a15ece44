"""Attention and Transformer layers, as ``torch.nn``'s: ``F.scaled_dot_product_attention``,
``F.multi_head_attention_forward`` (the implementation of ``MultiheadAttention``, which calls it
with its parameters), ``MultiheadAttention``, ``TransformerEncoderLayer``, ``TransformerEncoder``,
``TransformerDecoderLayer``, ``TransformerDecoder`` and ``Transformer``.

Everything is composed of existing differentiable operations (matmul, softmax, masked
fill, concatenation), so gradients of every order are automatic. Parameter names are
PyTorch's, so a ``torch`` state_dict converted to NumPy arrays loads with
``load_state_dict`` and gives the same outputs.
"""

from __future__ import annotations

import copy
import math

import numpy as np

from microgradnp import ops
from microgradnp.errors import InvalidArgumentError
from microgradnp.nn import functional as F
from microgradnp.nn import init
from microgradnp.nn.containers import ModuleList
from microgradnp.nn.layers import GELU, Dropout, Linear, ReLU, _layer_rng
from microgradnp.nn.module import Module, Parameter
from microgradnp.nn.normalization import LayerNorm
from microgradnp.ops.linalg import linear
from microgradnp.ops.shape import Cast
from microgradnp.tensor import Tensor, _data, _rng, get_default_dtype

__all__ = [
    "MultiheadAttention",
    "Transformer",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
    "multi_head_attention_forward",
    "scaled_dot_product_attention",
]


# -- masks -----------------------------------------------------------------------------------
def _float_dtype(x) -> np.dtype:
    dtype = np.asarray(_data(x)).dtype
    return dtype if dtype.kind == "f" else np.dtype(get_default_dtype())


def _additive_mask(mask, name: str, dtype, masked_value: bool):
    """A mask as a tensor to add to the attention scores: a bool mask becomes ``-inf`` where
    it equals ``masked_value`` and 0 elsewhere; a float mask is cast to ``dtype`` (its
    gradient flows when it requires one). Made by operations, so ``mg.compile`` replays it
    with each call's mask."""
    if mask is None:
        return None
    kind = np.asarray(_data(mask)).dtype
    if kind.kind == "b":
        blocked, open_ = np.array(-np.inf, dtype=dtype), np.zeros((), dtype=dtype)
        return ops.where(mask, blocked, open_) if masked_value else ops.where(mask, open_, blocked)
    if kind.kind != "f":
        raise TypeError(f"{name} must be a bool or a float mask, got dtype {kind}")
    return ops.astype(mask, dtype) if isinstance(mask, Tensor) else Cast.apply(mask, dtype=dtype)


def _causal_mask(target: int, source: int, dtype) -> np.ndarray:
    """0 on and below the diagonal, ``-inf`` above: position i attends to positions <= i."""
    return np.triu(np.full((target, source), -np.inf, dtype=dtype), 1)


def _pad_last(mask):
    """``mask`` with one more (unmasked, 0) column on its last axis: for an appended key."""
    if mask is None:
        return None
    return ops.pad(mask, [(0, 0)] * (np.ndim(_data(mask)) - 1) + [(0, 1)])


def _attend(query, key, value, mask, dropout_p: float, scale: float, rng, fully_masked_rows: bool = True):
    """``softmax(query @ key^T * scale + mask) @ value`` and the attention weights. A row
    whose keys are all masked out gets weights 0 (and output 0), as PyTorch's safe softmax in
    ``scaled_dot_product_attention``; with ``fully_masked_rows=False`` the plain softmax gives
    it NaN, as PyTorch's multi-head attention when it returns the weights (and no row can be
    fully masked by a causal mask alone)."""
    scores = ops.matmul(query, ops.swapaxes(key, -1, -2)) * scale
    if mask is not None:
        scores = scores + mask
    if mask is not None and fully_masked_rows and _shape(scores)[-1]:
        # Found by operations, not by a Python branch on the values, so that mg.compile replays it.
        dead = ops.all(scores == -np.inf, axis=-1, keepdims=True)
        weights = ops.masked_fill(ops.softmax(ops.masked_fill(scores, dead, 0.0), axis=-1), dead, 0.0)
    else:
        weights = ops.softmax(scores, axis=-1)
    if dropout_p > 0:
        weights = F.dropout(weights, dropout_p, True, rng=rng)
    return ops.matmul(weights, value), weights


def _shape(x) -> tuple[int, ...]:
    return tuple(np.shape(_data(x)))


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p: float = 0.0, is_causal: bool = False,
                                 scale: float | None = None, enable_gqa: bool = False, *, rng=None):
    """Attention ``softmax(query @ key^T * scale + mask) @ value``, as
    ``torch.nn.functional.scaled_dot_product_attention``.

    Args:
        query: a tensor of shape (..., L, E).
        key: a tensor of shape (..., S, E).
        value: a tensor of shape (..., S, Ev). The leading (batch) axes of the three broadcast.
        attn_mask: a mask that broadcasts to (..., L, S): bool (True: the query attends to
            that key, False: it does not) or float (added to the scores, e.g. 0 / ``-inf``).
        dropout_p: dropout probability applied to the attention weights (always, as PyTorch:
            pass 0 outside training).
        is_causal: attend only to keys at positions <= the query's (the lower-triangular
            mask, aligned at the top left when L != S). Not together with ``attn_mask``.
        scale: the factor of the scores; ``1 / sqrt(E)`` when None.
        enable_gqa: grouped-query attention: ``key`` and ``value`` may have fewer heads
            (axis -3) than ``query``, a number dividing it; each is shared by consecutive query heads.
        rng: a ``np.random.Generator`` or a seed for the dropout (not in PyTorch).

    Returns:
        A tensor of shape (..., L, Ev). A query whose keys are all masked out gets 0, as PyTorch's.

    Raises:
        ValueError: mismatched shapes, a mask that does not broadcast, or both
            ``attn_mask`` and ``is_causal``.
    """
    q_shape, k_shape, v_shape = _shape(query), _shape(key), _shape(value)
    if min(len(q_shape), len(k_shape), len(v_shape)) < 2:
        raise InvalidArgumentError(
            f"scaled_dot_product_attention: query, key and value need at least 2 axes (..., L, E), "
            f"got shapes {q_shape}, {k_shape}, {v_shape}")
    if q_shape[-1] != k_shape[-1]:
        raise InvalidArgumentError(
            f"scaled_dot_product_attention: query and key must have the same last axis (the embedding "
            f"E), got shapes {q_shape} and {k_shape}")
    if k_shape[-2] != v_shape[-2]:
        raise InvalidArgumentError(f"scaled_dot_product_attention: key and value must have the same sequence length S "
                         f"(axis -2), got shapes {k_shape} and {v_shape}")
    if not 0 <= dropout_p <= 1:
        raise InvalidArgumentError(
            f"scaled_dot_product_attention: dropout_p must be a probability in [0, 1], got {dropout_p}")
    if enable_gqa:
        key, value = _repeat_heads(query, key, "key"), _repeat_heads(query, value, "value")
        k_shape, v_shape = _shape(key), _shape(value)
    try:
        batch = np.broadcast_shapes(q_shape[:-2], k_shape[:-2], v_shape[:-2])
    except ValueError:
        raise InvalidArgumentError(
            f"scaled_dot_product_attention: the batch axes of query {q_shape}, key {k_shape} and value "
            f"{v_shape} do not broadcast (with fewer key/value heads, pass enable_gqa=True)") from None
    dtype = _float_dtype(query)
    mask = _additive_mask(attn_mask, "attn_mask", dtype, masked_value=False)
    if is_causal:
        if attn_mask is not None:
            raise InvalidArgumentError("scaled_dot_product_attention: give attn_mask or is_causal=True, not both")
        mask = _causal_mask(q_shape[-2], k_shape[-2], dtype)
    scores_shape = (*batch, q_shape[-2], k_shape[-2])
    if mask is not None:
        try:
            np.broadcast_shapes(_shape(mask), scores_shape)
        except ValueError:
            raise InvalidArgumentError(
                f"scaled_dot_product_attention: attn_mask of shape {_shape(mask)} does not broadcast "
                f"to the attention scores' shape {scores_shape} (..., L, S)") from None
    scale = 1.0 / math.sqrt(q_shape[-1]) if scale is None else scale
    return _attend(query, key, value, mask, dropout_p, scale, _rng(rng), fully_masked_rows=not is_causal)[0]


def _repeat_heads(query, x, name: str):
    """``x`` (..., Hk, S, E) with each head repeated for Hq / Hk consecutive query heads
    (``repeat_interleave`` on axis -3)."""
    q_shape, shape = _shape(query), _shape(x)
    if len(q_shape) < 3 or len(shape) < 3 or shape[-3] == 0 or q_shape[-3] % shape[-3]:
        raise InvalidArgumentError(
            f"scaled_dot_product_attention: with enable_gqa the heads (axis -3) of {name} {shape} must "
            f"divide those of query {q_shape}")
    groups = q_shape[-3] // shape[-3]
    if groups == 1:
        return x
    expanded = ops.broadcast_to(ops.expand_dims(x, -3), (*shape[:-2], groups, *shape[-2:]))
    return ops.reshape(expanded, (*shape[:-3], shape[-3] * groups, *shape[-2:]))


# -- multi-head attention --------------------------------------------------------------------
class _AttentionAssertionError(InvalidArgumentError, AssertionError):
    """A bad argument where PyTorch's multi-head attention raises AssertionError: also a
    ValueError and a RuntimeError, as this library's other argument errors, so code written
    for either library catches it."""


def _in_projection(query, key, value, in_proj_weight, in_proj_bias, use_separate_proj_weight,
                   q_proj_weight, k_proj_weight, v_proj_weight):
    """The query, key and value projections, as PyTorch's ``_in_projection(_packed)``."""
    E = _shape(query)[-1]
    bias = in_proj_bias
    b_q, b_k, b_v = (None,) * 3 if bias is None else (bias[:E], bias[E:2 * E], bias[2 * E:])
    if not use_separate_proj_weight:
        if in_proj_weight is None:
            raise _AttentionAssertionError("use_separate_proj_weight is False but in_proj_weight is None")
        if query is key and key is value:  # self-attention: one product, then split
            qkv = linear(query, in_proj_weight, bias)
            return qkv[..., :E], qkv[..., E:2 * E], qkv[..., 2 * E:]
        w_q, w_k, w_v = in_proj_weight[:E], in_proj_weight[E:2 * E], in_proj_weight[2 * E:]
    else:
        for label, weight in (("q", q_proj_weight), ("k", k_proj_weight), ("v", v_proj_weight)):
            if weight is None:
                raise _AttentionAssertionError(f"use_separate_proj_weight is True but {label}_proj_weight is None")
        w_q, w_k, w_v = q_proj_weight, k_proj_weight, v_proj_weight
    for label, x, weight in (("query", query, w_q), ("key", key, w_k), ("value", value, w_v)):
        if _shape(x)[-1] != _shape(weight)[-1]:
            raise InvalidArgumentError(f"multi_head_attention_forward: {label} of shape {_shape(x)} must have "
                                       f"{_shape(weight)[-1]} features (last axis), as its projection weight "
                                       f"{_shape(weight)}")
    return linear(query, w_q, b_q), linear(key, w_k, b_k), linear(value, w_v, b_v)


def _check_mha_shapes(query, key, value, key_padding_mask, attn_mask, num_heads) -> bool:
    """PyTorch's ``_mha_shape_check``: the numbers of axes; return whether the input is batched."""
    q, k, v = _shape(query), _shape(key), _shape(value)
    if len(q) not in (2, 3):
        raise _AttentionAssertionError(
            f"multi_head_attention_forward: query should be unbatched 2-D or batched 3-D, got shape {q}")
    batched = len(q) == 3
    kind = "batched (3-D)" if batched else "unbatched (2-D)"
    if len(k) != len(q) or len(v) != len(q):
        raise _AttentionAssertionError(f"multi_head_attention_forward: query, key and value must all be 3-D "
                                       f"(batched) or all 2-D (unbatched), got shapes {q}, {k} and {v}")
    if key_padding_mask is not None and np.ndim(_data(key_padding_mask)) != len(q) - 1:
        raise _AttentionAssertionError(
            f"multi_head_attention_forward: key_padding_mask must be {'2-D (N, S)' if batched else '1-D (S,)'} "
            f"for a {kind} query, got shape {_shape(key_padding_mask)}")
    if attn_mask is not None:
        if np.ndim(_data(attn_mask)) not in (2, 3):
            raise _AttentionAssertionError(f"multi_head_attention_forward: attn_mask must be 2-D (L, S) or 3-D "
                                           f"(N * num_heads, L, S), got shape {_shape(attn_mask)}")
        expected = (num_heads, q[0], k[0])
        if not batched and np.ndim(_data(attn_mask)) == 3 and _shape(attn_mask) != expected:
            raise _AttentionAssertionError(
                f"multi_head_attention_forward: attn_mask has shape {_shape(attn_mask)}, expected {expected}")
    return batched


def _check_mask_dtype(mask, name: str) -> None:
    if mask is not None and np.asarray(_data(mask)).dtype.kind not in "bf":
        raise _AttentionAssertionError(f"only bool and floating types of {name} are supported, got dtype "
                                       f"{np.asarray(_data(mask)).dtype}")


def multi_head_attention_forward(query, key, value, embed_dim_to_check: int, num_heads: int, in_proj_weight,
                                 in_proj_bias, bias_k, bias_v, add_zero_attn: bool, dropout_p: float,
                                 out_proj_weight, out_proj_bias, training: bool = True, key_padding_mask=None,
                                 need_weights: bool = True, attn_mask=None, use_separate_proj_weight: bool = False,
                                 q_proj_weight=None, k_proj_weight=None, v_proj_weight=None, static_k=None,
                                 static_v=None, average_attn_weights: bool = True, is_causal: bool = False, *,
                                 rng=None):
    """Multi-head attention on given weights, as ``torch.nn.functional.multi_head_attention_forward``
    (``nn.MultiheadAttention`` calls it with its parameters).

    Args:
        query: (L, N, E) or unbatched (L, E): the sequence axis comes first.
        key: (S, N, kdim) or (S, kdim).
        value: (S, N, vdim) or (S, vdim).
        embed_dim_to_check: E, checked against the query.
        num_heads: H, dividing E.
        in_proj_weight: (3E, E), the stacked query, key and value projections (unless
            ``use_separate_proj_weight``).
        in_proj_bias: (3E,) or None.
        bias_k: a (1, 1, E) key appended to the sequence, or None.
        bias_v: the (1, 1, E) value appended with it, or None.
        add_zero_attn: append a zero key and value (after ``bias_k``/``bias_v``).
        dropout_p: dropout probability on the attention weights when ``training``.
        out_proj_weight: (E, E), the output projection.
        out_proj_bias: (E,) or None.
        training: apply the dropout.
        key_padding_mask: (N, S) or (S,): bool (True: ignore that key) or float (added).
        need_weights: also return the attention weights.
        attn_mask: (L, S) or (N * H, L, S): bool (True: may *not* attend) or float (added).
        use_separate_proj_weight: use ``q_proj_weight`` (E, E), ``k_proj_weight`` (E, kdim) and
            ``v_proj_weight`` (E, vdim) rather than ``in_proj_weight``.
        static_k: (N * H, S, E / H) keys used instead of the projected ones, or None.
        static_v: (N * H, S, E / H) values used instead of the projected ones, or None.
        average_attn_weights: average the returned weights over the heads.
        is_causal: a hint that ``attn_mask`` is the causal mask (it must be given). Without
            ``need_weights`` and ``key_padding_mask``, the causal mask replaces it, as PyTorch's.
        rng: a ``np.random.Generator`` or a seed for the dropout (not in PyTorch).

    Returns:
        ``(output, weights)``: output (L, N, E) or (L, E); weights (N, L, S), or (N, H, L, S)
        when not averaged, without N when unbatched, or None unless ``need_weights``. A query
        whose keys are all masked out gets NaN with ``need_weights`` and 0 without, as PyTorch's
        (which then uses ``scaled_dot_product_attention``).

    Raises:
        RuntimeError: ``is_causal`` without ``attn_mask``; an attention mask of the wrong shape.
        AssertionError: other bad shapes, as PyTorch (the errors are ValueErrors too).
    """
    batched = _check_mha_shapes(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not batched:  # as a batch of one, in axis 1 (the batch axis of the sequence-first layout)
        query, key, value = _map_keeping_identity(lambda x: ops.expand_dims(x, 1), query, key, value)
        key_padding_mask = None if key_padding_mask is None else ops.expand_dims(key_padding_mask, 0)
    L, N, E = _shape(query)
    dtype = _float_dtype(query)
    _check_mask_dtype(key_padding_mask, "key_padding_mask")
    _check_mask_dtype(attn_mask, "attn_mask")
    kpm = _additive_mask(key_padding_mask, "key_padding_mask", dtype, masked_value=True)
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the Transformer module "
                           "method `generate_square_subsequent_mask` to create this mask.")
    if is_causal and kpm is None and not need_weights:
        attn_mask = None  # PyTorch then trusts the hint: scaled_dot_product_attention's causal mask
    else:
        is_causal = False  # the mask given is used (merged with the key padding)
    mask = _additive_mask(attn_mask, "attn_mask", dtype, masked_value=True)
    if embed_dim_to_check != E:
        raise _AttentionAssertionError(f"multi_head_attention_forward: query of shape {_shape(query)} must have "
                                       f"{embed_dim_to_check} features (last axis), the embed_dim")
    H = num_heads
    D = E // H
    if D * H != E:
        raise _AttentionAssertionError(f"embed_dim {E} not divisible by num_heads {H}")
    k_shape, v_shape = _shape(key), _shape(value)
    if k_shape[:2] != v_shape[:2] or (not use_separate_proj_weight and k_shape != v_shape):
        raise _AttentionAssertionError(f"multi_head_attention_forward: key {k_shape} and value {v_shape} must "
                                       "have the same sequence length and batch size")
    if k_shape[1] != N:
        raise InvalidArgumentError(f"multi_head_attention_forward: query {_shape(query)} and key {k_shape} must "
                                   "have the same batch size")
    q, k, v = _in_projection(query, key, value, in_proj_weight, in_proj_bias, use_separate_proj_weight,
                             q_proj_weight, k_proj_weight, v_proj_weight)
    S = k_shape[0]
    if mask is not None:
        expected = (L, S) if np.ndim(_data(mask)) == 2 else (N * H, L, S)
        if _shape(mask) != expected:
            raise InvalidArgumentError(f"multi_head_attention_forward: attn_mask has shape {_shape(mask)}, "
                                       f"expected {expected} (L, S) or (N * num_heads, L, S)")
        if len(expected) == 2:
            mask = ops.expand_dims(mask, 0)
    if bias_k is not None or bias_v is not None:
        if bias_k is None or bias_v is None:
            raise _AttentionAssertionError("bias_k and bias_v must be given together")
        if static_k is not None or static_v is not None:
            raise _AttentionAssertionError("bias cannot be added to static key or value")
        k = ops.concatenate([k, ops.broadcast_to(bias_k, (1, N, E))], axis=0)
        v = ops.concatenate([v, ops.broadcast_to(bias_v, (1, N, E))], axis=0)
        mask, kpm = _pad_last(mask), _pad_last(kpm)
    # Heads as a batch: (L, N, E) -> (N * H, L, D), as PyTorch's (and its static_k / static_v).
    q, k, v = (ops.swapaxes(ops.reshape(x, (_shape(x)[0], N * H, D)), 0, 1) for x in (q, k, v))
    for label, static, name in (("k", static_k, "static_k"), ("v", static_v, "static_v")):
        if static is not None:
            if _shape(static)[0] != N * H or _shape(static)[2] != D:
                raise _AttentionAssertionError(f"expecting {name} of shape ({N * H}, S, {D}) (N * num_heads, S, "
                                               f"head_dim), got {_shape(static)}")
            k, v = (static, v) if label == "k" else (k, static)
    if add_zero_attn:
        zeros = np.zeros((N * H, 1, D), dtype=dtype)
        k, v = ops.concatenate([k, zeros], axis=1), ops.concatenate([v, zeros], axis=1)
        mask, kpm = _pad_last(mask), _pad_last(kpm)
    S = _shape(k)[1]
    if kpm is not None:
        if _shape(kpm) != (N, S):
            raise _AttentionAssertionError(f"multi_head_attention_forward: key_padding_mask has shape "
                                           f"{_shape(kpm)}, expected {(N, S)} (True or -inf: ignore that key)")
        kpm = ops.reshape(ops.broadcast_to(ops.reshape(kpm, (N, 1, 1, S)), (N, H, 1, S)), (N * H, 1, S))
        mask = kpm if mask is None else mask + kpm
    if not training:
        dropout_p = 0.0
    if need_weights:
        # PyTorch's explicit softmax: a query with every key masked out gets NaN weights and output.
        out, weights = _attend(q, k, v, mask, dropout_p, 1.0 / math.sqrt(D), _rng(rng), fully_masked_rows=False)
        weights = ops.reshape(weights, (N, H, L, S))
        if average_attn_weights:
            weights = ops.mean(weights, axis=1)
    else:
        # PyTorch's scaled_dot_product_attention: such a query gets 0.
        heads = (ops.reshape(x, (N, H, -1, D)) for x in (q, k, v))
        if mask is not None:
            mask = ops.expand_dims(mask, 0) if _shape(mask)[0] == 1 else ops.reshape(mask, (N, H, -1, S))
        out = scaled_dot_product_attention(*heads, attn_mask=mask, dropout_p=dropout_p, is_causal=is_causal,
                                           rng=rng)
        out, weights = ops.reshape(out, (N * H, L, D)), None
    out = linear(ops.reshape(ops.swapaxes(out, 0, 1), (L, N, E)), out_proj_weight, out_proj_bias)
    if not batched:
        out = ops.squeeze(out, 1)
        weights = None if weights is None else ops.squeeze(weights, 0)
    return out, weights


def _map_keeping_identity(fn, query, key, value):
    """``fn`` of each of ``query``, ``key`` and ``value``, applied once to arguments that are the
    same object, so that ``query is key is value`` (self-attention: a single projection
    product) survives a change of layout."""
    q = fn(query)
    k = q if key is query else fn(key)
    v = k if value is key else q if value is query else fn(value)
    return q, k, v


class MultiheadAttention(Module):
    """Multi-head attention, as ``torch.nn.MultiheadAttention``: ``num_heads`` attentions of
    ``embed_dim // num_heads`` features each, on projections of ``query``, ``key`` and
    ``value``, concatenated and projected by ``out_proj``.

    Parameters (PyTorch's names, so state_dicts transfer): ``in_proj_weight`` (3E, E) when
    ``kdim`` and ``vdim`` equal ``embed_dim``, else ``q_proj_weight`` (E, E), ``k_proj_weight``
    (E, kdim) and ``v_proj_weight`` (E, vdim); ``in_proj_bias`` (3E,); ``bias_k`` and ``bias_v``
    (1, 1, E) with ``add_bias_kv``; ``out_proj.weight`` and ``out_proj.bias``. Initialised as
    PyTorch's: Xavier-uniform input projections, zero biases, Xavier-normal ``bias_k``/``bias_v``.

    Args:
        embed_dim: E, the number of features of the query and of the output.
        num_heads: the number of heads; must divide ``embed_dim``.
        dropout: dropout probability on the attention weights while training.
        bias: whether the projections have biases.
        add_bias_kv: append a learnt key and value (``bias_k``, ``bias_v``) to the sequence.
        add_zero_attn: append a zero key and value to the sequence.
        kdim: the features of ``key`` (``embed_dim`` when None).
        vdim: the features of ``value`` (``embed_dim`` when None).
        batch_first: inputs and outputs are (N, L, E) rather than (L, N, E).
        dtype: of the parameters (the default dtype when None).
        rng: a ``np.random.Generator`` or a seed, for the initialisation and the dropout.

    Raises:
        ValueError: ``embed_dim`` not divisible by ``num_heads`` (also an AssertionError, as
            PyTorch's), or non-positive sizes.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, dtype=None, rng=None):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise InvalidArgumentError(
                f"MultiheadAttention: embed_dim and num_heads must be positive, got embed_dim={embed_dim}"
                f" and num_heads={num_heads}")
        if embed_dim % num_heads:
            raise _AttentionAssertionError(f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by "
                                           f"num_heads ({num_heads}): each head gets embed_dim // num_heads features")
        if not 0 <= dropout <= 1:
            raise InvalidArgumentError(f"MultiheadAttention: dropout must be a probability in [0, 1], got {dropout}")
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, dropout
        self.kdim = embed_dim if kdim is None else kdim
        self.vdim = embed_dim if vdim is None else vdim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.head_dim = embed_dim // num_heads
        self.batch_first, self.add_zero_attn = batch_first, add_zero_attn
        self.rng = _layer_rng(rng)  # (None: the global generator, looked up at each call)
        rng = _rng(rng)
        dtype = dtype or get_default_dtype()

        def empty(*shape):
            return Parameter(np.empty(shape, dtype=dtype))

        if self._qkv_same_embed_dim:
            self.in_proj_weight = empty(3 * embed_dim, embed_dim)
            self.q_proj_weight = self.k_proj_weight = self.v_proj_weight = None
        else:
            self.in_proj_weight = None
            self.q_proj_weight = empty(embed_dim, embed_dim)
            self.k_proj_weight = empty(embed_dim, self.kdim)
            self.v_proj_weight = empty(embed_dim, self.vdim)
        self.in_proj_bias = Parameter(np.zeros(3 * embed_dim, dtype=dtype)) if bias else None
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, dtype=dtype, rng=rng)
        if add_bias_kv:
            self.bias_k, self.bias_v = empty(1, 1, embed_dim), empty(1, 1, embed_dim)
        else:
            self.bias_k = self.bias_v = None
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        for weight in (self.in_proj_weight, self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
            if weight is not None:
                init.xavier_uniform_(weight, rng=self.rng)
        for bias in (self.in_proj_bias, self.out_proj.bias):
            if bias is not None:
                init.zeros_(bias)
        for bias in (self.bias_k, self.bias_v):
            if bias is not None:
                init.xavier_normal_(bias, rng=self.rng)

    def forward(self, query, key, value, key_padding_mask=None, need_weights: bool = True, attn_mask=None,
                average_attn_weights: bool = True, is_causal: bool = False):
        """Attend from ``query`` to ``key``/``value`` (``F.multi_head_attention_forward`` with
        this module's parameters).

        Args:
            query: (L, N, E), or (N, L, E) with ``batch_first``, or (L, E) unbatched.
            key: (S, N, kdim), (N, S, kdim) or (S, kdim).
            value: (S, N, vdim), (N, S, vdim) or (S, vdim).
            key_padding_mask: (N, S) or (S,): bool (True: ignore that key) or float (added).
            need_weights: also return the attention weights.
            attn_mask: (L, S) or (N * num_heads, L, S): bool (True: may *not* attend) or
                float (added to the scores).
            average_attn_weights: average the returned weights over the heads.
            is_causal: a hint that ``attn_mask`` is the causal mask; ``attn_mask`` must be
                given (a RuntimeError otherwise, as PyTorch's).

        Returns:
            ``(output, weights)``: output (L, N, E) (or as the query's layout); weights
            (N, L, S), or (N, num_heads, L, S) when not averaged, without N when
            unbatched, or None unless ``need_weights``. A query whose keys are all masked out
            gets NaN with ``need_weights`` and 0 without, as PyTorch's.
        """
        # PyTorch's module calls the functional in its sequence-first layout, so do we.
        swap = self.batch_first and np.ndim(_data(query)) == 3
        if swap:
            query, key, value = _map_keeping_identity(lambda x: ops.swapaxes(x, 0, 1), query, key, value)
        out, weights = multi_head_attention_forward(
            query, key, value, self.embed_dim, self.num_heads, self.in_proj_weight, self.in_proj_bias,
            self.bias_k, self.bias_v, self.add_zero_attn, self.dropout, self.out_proj.weight, self.out_proj.bias,
            training=self.training, key_padding_mask=key_padding_mask, need_weights=need_weights,
            attn_mask=attn_mask, use_separate_proj_weight=not self._qkv_same_embed_dim,
            q_proj_weight=self.q_proj_weight, k_proj_weight=self.k_proj_weight, v_proj_weight=self.v_proj_weight,
            average_attn_weights=average_attn_weights, is_causal=is_causal, rng=self.rng)
        return (ops.swapaxes(out, 0, 1) if swap else out), weights

    def extra_repr(self) -> str:
        extra = "" if self._qkv_same_embed_dim else f", kdim={self.kdim}, vdim={self.vdim}"
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}{extra}, "
                f"batch_first={self.batch_first}")


# -- Transformer layers ----------------------------------------------------------------------
def _activation(activation):
    """PyTorch's ``activation`` argument: "relu", "gelu", or a callable (a Module is registered)."""
    if isinstance(activation, str):
        if activation not in ("relu", "gelu"):
            raise InvalidArgumentError(f"activation should be 'relu' or 'gelu' (or a callable), not {activation!r}")
        return F.relu if activation == "relu" else F.gelu
    if not callable(activation):
        raise TypeError(f"activation must be 'relu', 'gelu' or a callable, got {activation!r}")
    return activation


def _key_padding(mask, dtype):
    """Key-padding masks as float (PyTorch's ``_canonical_mask``), so bool and float ones mix."""
    return _additive_mask(mask, "key_padding_mask", dtype, masked_value=True)


class _FeedForwardLayer(Module):
    """What encoder and decoder layers share: the feed-forward block (``linear1``,
    ``dropout``, ``linear2``), the activation and the norms."""

    _blocks = 2  # the residual blocks: 2 in an encoder layer, 3 in a decoder layer

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, dtype=None, rng=None):
        super().__init__()
        norms = self._blocks
        rng = _rng(rng) if rng is not None else None  # (one generator from a seed, for every sub-layer)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                            dtype=dtype, rng=rng)
        if norms == 3:
            self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                     batch_first=batch_first, dtype=dtype, rng=rng)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype, rng=rng)
        self.dropout = Dropout(dropout, rng=rng)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype, rng=rng)
        self.norm_first = norm_first
        for i in range(1, norms + 1):
            setattr(self, f"norm{i}", LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype))
        for i in range(1, norms + 1):
            setattr(self, f"dropout{i}", Dropout(dropout, rng=rng))
        self.activation = _activation(activation)
        self.batch_first = batch_first

    def _ff_block(self, x):
        return getattr(self, f"dropout{self._blocks}")(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False,
                           is_causal=bool(is_causal))[0]
        return self.dropout1(x)


class TransformerEncoderLayer(_FeedForwardLayer):
    """Self-attention then a feed-forward network, each with a residual connection and a
    LayerNorm, as ``torch.nn.TransformerEncoderLayer``: sub-modules ``self_attn``, ``linear1``,
    ``dropout``, ``linear2``, ``norm1``, ``norm2``, ``dropout1``, ``dropout2`` (PyTorch's names).

    Args:
        d_model: the number of features E.
        nhead: the number of attention heads (must divide ``d_model``).
        dim_feedforward: the hidden width of the feed-forward network.
        dropout: dropout probability (attention weights, feed-forward, residual branches).
        activation: "relu", "gelu" or a callable (a Module is registered as ``activation``).
        layer_norm_eps: the LayerNorms' eps.
        batch_first: inputs and outputs are (N, S, E) rather than (S, N, E).
        norm_first: LayerNorm before each block (pre-norm) rather than after the residual sum.
        bias: whether the Linear layers and LayerNorms have biases.
        dtype: of the parameters (the default dtype when None).
        rng: a ``np.random.Generator`` or a seed, for the initialisation and the dropouts.
    """

    _blocks = 2

    @property
    def activation_relu_or_gelu(self) -> int:
        """PyTorch's code for the activation, read by code written for its fast path: 1 for ReLU
        (``"relu"``, ``F.relu`` or an ``nn.ReLU``), 2 for GELU (likewise), 0 for anything else.
        Derived from ``activation``, so it stays right when the activation is replaced."""
        activation = self.activation
        if activation is F.relu or isinstance(activation, ReLU):
            return 1
        return 2 if activation is F.gelu or isinstance(activation, GELU) else 0

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal: bool = False):
        """Encode ``src`` (S, N, E), (N, S, E) with ``batch_first``, or (S, E).

        Args:
            src: the input sequence.
            src_mask: (S, S) or (N * nhead, S, S): bool (True: may not attend) or float (added).
            src_key_padding_mask: (N, S) or (S,): bool (True: padding, ignored) or float.
            is_causal: a hint that ``src_mask`` is the causal mask (which must be given: a
                RuntimeError otherwise, as PyTorch's).

        Returns:
            A tensor of the shape of ``src``.
        """
        key_padding_mask = _key_padding(src_key_padding_mask, _float_dtype(src))
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, key_padding_mask, is_causal)
            return x + self._ff_block(self.norm2(x))
        x = self.norm1(x + self._sa_block(x, src_mask, key_padding_mask, is_causal))
        return self.norm2(x + self._ff_block(x))


class TransformerDecoderLayer(_FeedForwardLayer):
    """Self-attention, attention to the encoder's output (``memory``), then a feed-forward
    network, each with a residual connection and a LayerNorm, as
    ``torch.nn.TransformerDecoderLayer``: sub-modules ``self_attn``, ``multihead_attn``,
    ``linear1``, ``dropout``, ``linear2``, ``norm1``-``norm3``, ``dropout1``-``dropout3``.

    Args:
        d_model: the number of features E.
        nhead: the number of attention heads (must divide ``d_model``).
        dim_feedforward: the hidden width of the feed-forward network.
        dropout: dropout probability.
        activation: "relu", "gelu" or a callable.
        layer_norm_eps: the LayerNorms' eps.
        batch_first: inputs and outputs are (N, T, E) rather than (T, N, E).
        norm_first: LayerNorm before each block (pre-norm).
        bias: whether the Linear layers and LayerNorms have biases.
        dtype: of the parameters (the default dtype when None).
        rng: a ``np.random.Generator`` or a seed, for the initialisation and the dropouts.
    """

    _blocks = 3

    def _mha_block(self, x, memory, attn_mask, key_padding_mask, is_causal):
        x = self.multihead_attn(x, memory, memory, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                need_weights=False, is_causal=bool(is_causal))[0]
        return self.dropout2(x)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal: bool = False, memory_is_causal: bool = False):
        """Decode ``tgt`` (T, N, E) attending to ``memory`` (S, N, E) (batch first with
        ``batch_first``; unbatched (T, E) and (S, E) too).

        Args:
            tgt: the target sequence.
            memory: the encoder's output.
            tgt_mask: (T, T) or (N * nhead, T, T) mask of the self-attention.
            memory_mask: (T, S) or (N * nhead, T, S) mask of the attention to ``memory``.
            tgt_key_padding_mask: (N, T): True (or -inf) where ``tgt`` is padding.
            memory_key_padding_mask: (N, S): True (or -inf) where ``memory`` is padding.
            tgt_is_causal: a hint that ``tgt_mask`` is the causal mask (which must be given).
            memory_is_causal: likewise for ``memory_mask``.

        Returns:
            A tensor of the shape of ``tgt``.
        """
        dtype = _float_dtype(tgt)
        tgt_padding = _key_padding(tgt_key_padding_mask, dtype)
        memory_padding = _key_padding(memory_key_padding_mask, dtype)
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_padding, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_padding, memory_is_causal)
            return x + self._ff_block(self.norm3(x))
        x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_padding, tgt_is_causal))
        x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_padding, memory_is_causal))
        return self.norm3(x + self._ff_block(x))


def _clones(layer: Module, num_layers: int) -> ModuleList:
    """``num_layers`` deep copies of ``layer`` (same initial weights, as PyTorch's), sharing
    its random generators so that their dropouts draw different masks."""
    if not isinstance(num_layers, int) or num_layers < 1:
        raise InvalidArgumentError(f"num_layers must be a positive int, got {num_layers!r}")
    generators = {id(m.rng): m.rng for m in layer.modules() if isinstance(getattr(m, "rng", None),
                                                                           np.random.Generator)}
    return ModuleList(copy.deepcopy(layer, dict(generators)) for _ in range(num_layers))


def _is_causal_hint(mask, is_causal, size: int) -> bool:
    """PyTorch's ``_detect_is_causal_mask``: the hint given, else whether ``mask`` is the causal mask."""
    if is_causal is not None:
        return bool(is_causal)
    if mask is None:
        return False
    values = np.asarray(_data(mask))
    return values.shape == (size, size) and bool(np.all(values == _causal_mask(size, size, values.dtype)))


class TransformerEncoder(Module):
    """A stack of ``num_layers`` copies of ``encoder_layer`` (``layers.0``, ``layers.1``, ...)
    and an optional final ``norm``, as ``torch.nn.TransformerEncoder``.

    Args:
        encoder_layer: a ``TransformerEncoderLayer`` (copied: the layers start equal).
        num_layers: how many layers.
        norm: a Module applied to the output (e.g. ``LayerNorm(d_model)``), or None.
        enable_nested_tensor: accepted for compatibility; it only chooses PyTorch's sparse
            fast path (whose output at padded positions is 0; here they are computed).
        mask_check: accepted for compatibility (PyTorch's fast-path check).
    """

    def __init__(self, encoder_layer: Module, num_layers: int, norm: Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True):
        super().__init__()
        self.layers = _clones(encoder_layer, num_layers)
        self.num_layers, self.norm = num_layers, norm
        self.enable_nested_tensor, self.mask_check = enable_nested_tensor, mask_check

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal: bool | None = None):
        """Pass ``src`` through every layer (arguments as ``TransformerEncoderLayer.forward``);
        ``is_causal=None`` detects whether ``mask`` is the causal mask."""
        sequence_axis = 1 if getattr(self.layers[0], "batch_first", False) and np.ndim(_data(src)) == 3 else 0
        is_causal = _is_causal_hint(mask, is_causal, _shape(src)[sequence_axis])
        padding = _key_padding(src_key_padding_mask, _float_dtype(src))
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=padding, is_causal=is_causal)
        return x if self.norm is None else self.norm(x)


class TransformerDecoder(Module):
    """A stack of ``num_layers`` copies of ``decoder_layer`` (``layers.0``, ...) and an
    optional final ``norm``, as ``torch.nn.TransformerDecoder``.

    Args:
        decoder_layer: a ``TransformerDecoderLayer`` (copied: the layers start equal).
        num_layers: how many layers.
        norm: a Module applied to the output, or None.
    """

    def __init__(self, decoder_layer: Module, num_layers: int, norm: Module | None = None):
        super().__init__()
        self.layers = _clones(decoder_layer, num_layers)
        self.num_layers, self.norm = num_layers, norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal: bool | None = None, memory_is_causal: bool = False):
        """Pass ``tgt`` through every layer, each attending to ``memory`` (arguments as
        ``TransformerDecoderLayer.forward``); ``tgt_is_causal=None`` detects whether
        ``tgt_mask`` is the causal mask."""
        sequence_axis = 1 if getattr(self.layers[0], "batch_first", False) and np.ndim(_data(tgt)) == 3 else 0
        tgt_is_causal = _is_causal_hint(tgt_mask, tgt_is_causal, _shape(tgt)[sequence_axis])
        x = tgt
        for layer in self.layers:
            x = layer(x, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                      tgt_key_padding_mask=tgt_key_padding_mask, memory_key_padding_mask=memory_key_padding_mask,
                      tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)
        return x if self.norm is None else self.norm(x)


class Transformer(Module):
    """An encoder-decoder Transformer, as ``torch.nn.Transformer``: ``encoder``
    (``TransformerEncoder`` with a final LayerNorm) and ``decoder`` (likewise); every
    parameter with more than one axis is re-initialised Xavier-uniform, as PyTorch's.

    Args:
        d_model: the number of features E.
        nhead: the number of attention heads.
        num_encoder_layers: layers of the encoder.
        num_decoder_layers: layers of the decoder.
        dim_feedforward: the hidden width of the feed-forward networks.
        dropout: dropout probability.
        activation: "relu", "gelu" or a callable.
        custom_encoder: a Module used as the encoder instead.
        custom_decoder: a Module used as the decoder instead.
        layer_norm_eps: the LayerNorms' eps.
        batch_first: inputs and outputs are (N, S, E) rather than (S, N, E).
        norm_first: pre-norm layers.
        bias: whether the Linear layers and LayerNorms have biases.
        dtype: of the parameters (the default dtype when None).
        rng: a ``np.random.Generator`` or a seed, for the initialisation and the dropouts.
    """

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6, num_decoder_layers: int = 6,
                 dim_feedforward: int = 2048, dropout: float = 0.1, activation="relu",
                 custom_encoder: Module | None = None, custom_decoder: Module | None = None,
                 layer_norm_eps: float = 1e-5, batch_first: bool = False, norm_first: bool = False,
                 bias: bool = True, dtype=None, rng=None):
        super().__init__()
        rng = _rng(rng) if rng is not None else None  # (one generator from a seed, for every sub-layer)
        options = dict(dim_feedforward=dim_feedforward, dropout=dropout, activation=activation,
                       layer_norm_eps=layer_norm_eps, batch_first=batch_first, norm_first=norm_first, bias=bias,
                       dtype=dtype, rng=rng)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            self.encoder = TransformerEncoder(TransformerEncoderLayer(d_model, nhead, **options), num_encoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            self.decoder = TransformerDecoder(TransformerDecoderLayer(d_model, nhead, **options), num_decoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype))
        for parameter in self.parameters():
            if parameter.ndim > 1:
                init.xavier_uniform_(parameter, rng=rng)
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None,
                tgt_key_padding_mask=None, memory_key_padding_mask=None, src_is_causal: bool | None = None,
                tgt_is_causal: bool | None = None, memory_is_causal: bool = False):
        """Encode ``src`` and decode ``tgt`` attending to the encoding.

        Args:
            src: (S, N, E), (N, S, E) with ``batch_first``, or (S, E).
            tgt: (T, N, E), (N, T, E) or (T, E).
            src_mask: (S, S) or (N * nhead, S, S) mask of the encoder's self-attention.
            tgt_mask: (T, T) or (N * nhead, T, T), e.g. ``generate_square_subsequent_mask(T)``.
            memory_mask: (T, S) or (N * nhead, T, S).
            src_key_padding_mask: (N, S): True (or -inf) at padding.
            tgt_key_padding_mask: (N, T).
            memory_key_padding_mask: (N, S).
            src_is_causal: hint that ``src_mask`` is causal (None: detected).
            tgt_is_causal: hint that ``tgt_mask`` is causal (None: detected).
            memory_is_causal: hint that ``memory_mask`` is causal.

        Returns:
            A tensor of the shape of ``tgt``.

        Raises:
            ValueError: ``src`` and ``tgt`` with different batch sizes or not ``d_model`` features.
        """
        src_shape, tgt_shape = _shape(src), _shape(tgt)
        batch_axis = 0 if self.batch_first else 1
        if len(src_shape) == 3 and (len(tgt_shape) != 3 or src_shape[batch_axis] != tgt_shape[batch_axis]):
            raise InvalidArgumentError(
                f"Transformer: the batch number of src {src_shape} and tgt {tgt_shape} must be equal "
                f"(axis {batch_axis} with batch_first={self.batch_first})")
        if src_shape[-1] != self.d_model or tgt_shape[-1] != self.d_model:
            raise InvalidArgumentError(
                f"Transformer: the feature number of src {src_shape} and tgt {tgt_shape} must be equal "
                f"to d_model={self.d_model}")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=tgt_is_causal,
                            memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device=None, dtype=None) -> Tensor:
        """The causal mask of a sequence of ``sz`` positions: a float (sz, sz) tensor, ``-inf``
        above the diagonal and 0 elsewhere (position i attends to positions <= i).
        ``device`` is accepted for compatibility (CPU only)."""
        if device not in (None, "cpu"):
            raise InvalidArgumentError(f"generate_square_subsequent_mask: only device='cpu' (or None) exists here, "
                             f"got {device!r}")
        return Tensor(_causal_mask(sz, sz, np.dtype(dtype or get_default_dtype())))
