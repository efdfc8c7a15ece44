"""Multi-head attention against PyTorch 2.13: queries whose keys are all masked out (NaN when
the weights are returned, 0 otherwise, as PyTorch), the ``is_causal`` hint without a mask (a
RuntimeError), and ``F.multi_head_attention_forward``, the implementation ``nn.MultiheadAttention``
shares. Values and gradients are compared with PyTorch when it is installed (an optional oracle)."""

from __future__ import annotations

import numpy as np
import pytest
from test_transformer import outputs_agree

import microgradnp as mg
from microgradnp import nn
from microgradnp.nn import functional as F

# NumPy warns about the NaN of a fully masked softmax row; PyTorch warns about its fast paths.
pytestmark = pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning",
                                        "ignore:.*(mismatched|enable_nested_tensor).*:UserWarning")


def _rng(seed=0):
    return np.random.default_rng(seed)


def _torch():
    torch = pytest.importorskip("torch")
    torch.backends.mha.set_fastpath_enabled(False)  # its eval fast path is another kernel
    return torch


def _pair(torch, seed=0, **options):
    """A float64 torch MultiheadAttention(8, 2) and ours with the same weights."""
    torch.manual_seed(seed)
    reference = torch.nn.MultiheadAttention(8, 2, dtype=torch.float64, **options)
    ours = nn.MultiheadAttention(8, 2, **options)
    ours.load_state_dict({k: v.detach().numpy() for k, v in reference.state_dict().items()})
    return reference, ours


def _as_torch(torch, value):
    return torch.tensor(value) if isinstance(value, np.ndarray) else value


def _compare(torch, reference, ours, inputs, kwargs, params=()):
    """Same call in both: outputs and gradients (of inputs and of ``params``, pairs of
    (ours, torch's)) must agree, NaN where PyTorch has NaN."""
    mine = [mg.tensor(x, requires_grad=True) for x in inputs]
    theirs = [torch.tensor(x, requires_grad=True) for x in inputs]
    out, expected = outputs_agree(ours(*mine, **kwargs),
                                  reference(*theirs, **{k: _as_torch(torch, v) for k, v in kwargs.items()}))
    upstream = _rng(1).normal(size=out.shape)
    (out * upstream).sum().backward()
    (expected * torch.tensor(upstream)).sum().backward()
    for a, b in [*zip(mine, theirs), *params]:
        if b.grad is None:  # not used (e.g. key and value with static_k and static_v)
            assert a.grad is None or not a.grad.any()
        else:
            np.testing.assert_allclose(a.grad, b.grad.numpy(), atol=1e-10)
    return out


def _masks(kind, batch=2, heads=2, target=3, source=3):
    """Masks that leave query 1 (of batch element 1 for key padding) with no key at all."""
    if kind.startswith("padding"):
        padding = np.zeros((batch, source), bool)
        padding[1] = True
        padding[0, 0] = True
        return {"key_padding_mask": padding if kind == "padding_bool" else np.where(padding, -np.inf, 0.0)}
    blocked = np.zeros((target, source), bool)
    blocked[1] = True
    blocked[0, 2] = True
    if kind == "attn_bool":
        return {"attn_mask": blocked}
    return {"attn_mask": np.broadcast_to(np.where(blocked, -np.inf, 0.0), (batch * heads, target, source)).copy()}


MASK_KINDS = ["padding_bool", "padding_float", "attn_bool", "attn_float3d"]


# -- fully masked queries ------------------------------------------------------------------------
@pytest.mark.parametrize("kind", MASK_KINDS)
def test_fully_masked_query_is_nan_with_weights_and_zero_without(kind):
    mha = nn.MultiheadAttention(8, 2, rng=0)
    x = _rng().normal(size=(3, 2, 8))
    kwargs = _masks(kind)
    out, weights = mha(x, x, x, **kwargs)
    dead = (slice(None), 1) if kind.startswith("padding") else (1, slice(None))  # (query, batch)
    assert np.isnan(out.data[dead]).all() and np.isfinite(out.data[0, 0]).all()
    assert np.isnan(weights.data[(dead[1], dead[0])]).all()
    out, weights = mha(mg.tensor(x, requires_grad=True), x, x, need_weights=False, **kwargs)
    assert weights is None
    # attention 0 for that query: only the output projection's bias (zero-initialised) is left
    np.testing.assert_array_equal(out.data[dead], 0.0)


@pytest.mark.parametrize("kind", MASK_KINDS)
@pytest.mark.parametrize("need_weights", [True, False])
def test_fully_masked_query_matches_torch(kind, need_weights):
    torch = _torch()
    reference, ours = _pair(torch, add_zero_attn=False)
    x = _rng(2).normal(size=(3, 2, 8))
    named = dict(reference.named_parameters())
    params = [(p, named[n]) for n, p in ours.named_parameters()]
    _compare(torch, lambda *a, **k: reference(a[0], a[0], a[0], **k), lambda *a, **k: ours(a[0], a[0], a[0], **k),
             [x], {**_masks(kind), "need_weights": need_weights}, params)


@pytest.mark.parametrize("options", [{"batch_first": True}, {"kdim": 3, "vdim": 5}, {"add_zero_attn": True}])
@pytest.mark.parametrize("unbatched", [False, True])
@pytest.mark.parametrize("need_weights", [True, False])
def test_fully_masked_query_matches_torch_in_every_layout(options, unbatched, need_weights):
    torch = _torch()
    reference, ours = _pair(torch, seed=5, **options)
    rng = _rng(5)

    def shape(length, features):
        if unbatched:
            return length, features
        return (2, length, features) if options.get("batch_first") else (length, 2, features)

    inputs = [rng.normal(size=shape(3, 8)), rng.normal(size=shape(4, options.get("kdim", 8))),
              rng.normal(size=shape(4, options.get("vdim", 8)))]
    blocked = np.zeros((3, 4), bool)
    blocked[1] = True  # query 1 sees no key (but the zero one, with add_zero_attn)
    named = dict(reference.named_parameters())
    _compare(torch, reference, ours, inputs, {"attn_mask": blocked, "need_weights": need_weights},
             [(p, named[n]) for n, p in ours.named_parameters()])


@pytest.mark.parametrize("mask", ["bool", "float"])
def test_sdpa_fully_masked_query_matches_torch(mask):
    torch = _torch()
    rng = _rng(3)
    q, k, v = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 5, 4)), rng.normal(size=(2, 5, 3))
    allowed = rng.random((2, 3, 5)) > 0.3
    allowed[:, 1] = False
    attn_mask = allowed if mask == "bool" else np.where(allowed, 0.0, -np.inf)
    out = _compare(torch, torch.nn.functional.scaled_dot_product_attention, F.scaled_dot_product_attention,
                   [q, k, v], {"attn_mask": attn_mask})
    np.testing.assert_array_equal(out.data[:, 1], 0.0)


# -- is_causal needs the mask --------------------------------------------------------------------
def _causal_calls():
    x = _rng().normal(size=(3, 2, 8))
    mha = nn.MultiheadAttention(8, 2, rng=0)
    encoder_layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, rng=0)
    decoder_layer = nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, rng=0)
    transformer = nn.Transformer(8, 2, 1, 1, 16, dropout=0.0, rng=0)
    return {
        "mha": lambda: mha(x, x, x, is_causal=True),
        "mha_no_weights": lambda: mha(x, x, x, is_causal=True, need_weights=False),
        "mha_unbatched": lambda: mha(x[:, 0], x[:, 0], x[:, 0], is_causal=True),
        "encoder_layer": lambda: encoder_layer(x, is_causal=True),
        "encoder": lambda: nn.TransformerEncoder(encoder_layer, 2)(x, is_causal=True),
        "decoder_layer_tgt": lambda: decoder_layer(x, x, tgt_is_causal=True),
        "decoder_layer_memory": lambda: decoder_layer(x, x, memory_is_causal=True),
        "decoder": lambda: nn.TransformerDecoder(decoder_layer, 2)(x, x, tgt_is_causal=True),
        "transformer_src": lambda: transformer(x, x, src_is_causal=True),
        "transformer_tgt": lambda: transformer(x, x, tgt_is_causal=True),
        "transformer_memory": lambda: transformer(x, x, memory_is_causal=True),
    }


@pytest.mark.parametrize("call", list(_causal_calls()))
def test_is_causal_without_a_mask_raises(call):
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        _causal_calls()[call]()


def test_is_causal_without_a_mask_raises_in_torch_too():
    torch = _torch()
    x = torch.zeros(3, 2, 8, dtype=torch.float64)
    layer = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, dtype=torch.float64)
    for call in (lambda: torch.nn.MultiheadAttention(8, 2, dtype=torch.float64)(x, x, x, is_causal=True),
                 lambda: layer(x, is_causal=True),
                 lambda: torch.nn.Transformer(8, 2, 1, 1, 16, dtype=torch.float64)(x, x, tgt_is_causal=True)):
        with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
            call()


@pytest.mark.parametrize("options", [{"add_bias_kv": True}, {"add_zero_attn": True}, {}])
def test_is_causal_hint_without_weights_matches_torch(options):
    """Without weights and key padding PyTorch trusts the hint (scaled_dot_product_attention's
    causal mask, which then also hides appended keys from early queries)."""
    torch = _torch()
    reference, ours = _pair(torch, seed=4, **options)
    x = _rng(4).normal(size=(3, 2, 8))
    causal = np.triu(np.ones((3, 3), bool), 1)
    _compare(torch, lambda a, **k: reference(a, a, a, **k), lambda a, **k: ours(a, a, a, **k), [x],
             {"attn_mask": causal, "is_causal": True, "need_weights": False})


# -- F.multi_head_attention_forward --------------------------------------------------------------
def _weights(rng, E=8, kdim=8, vdim=8, bias_kv=False):
    w = {"in_proj_weight": rng.normal(size=(3 * E, E)), "in_proj_bias": rng.normal(size=3 * E),
         "out_proj_weight": rng.normal(size=(E, E)), "out_proj_bias": rng.normal(size=E),
         "q_proj_weight": rng.normal(size=(E, E)), "k_proj_weight": rng.normal(size=(E, kdim)),
         "v_proj_weight": rng.normal(size=(E, vdim))}
    if bias_kv:
        w["bias_k"], w["bias_v"] = rng.normal(size=(1, 1, E)), rng.normal(size=(1, 1, E))
    return w


FUNCTIONAL_CASES = [
    {},
    {"need_weights": False},
    {"average_attn_weights": False},
    {"separate": True, "kdim": 3, "vdim": 5},
    {"bias_kv": True, "add_zero_attn": True},
    {"static": True},
    {"masks": True},
    {"masks": True, "need_weights": False, "bias_kv": True},
    {"unbatched": True, "masks": True},
    {"training": False, "dropout_p": 0.5},
]


def _functional_call(case, rng):
    """Arguments of ``multi_head_attention_forward`` (arrays) for a case, and the inputs."""
    E, H, L, S, N = 8, 2, 3, 4, 2
    kdim, vdim = case.get("kdim", E), case.get("vdim", E)
    w = _weights(rng, E, kdim, vdim, case.get("bias_kv", False))
    batch = () if case.get("unbatched") else (N,)
    inputs = [rng.normal(size=(L, *batch, E)), rng.normal(size=(S, *batch, kdim)), rng.normal(size=(S, *batch, vdim))]
    kwargs = {"training": case.get("training", True), "need_weights": case.get("need_weights", True),
              "average_attn_weights": case.get("average_attn_weights", True)}
    if case.get("separate"):
        kwargs.update(use_separate_proj_weight=True, q_proj_weight=w["q_proj_weight"],
                      k_proj_weight=w["k_proj_weight"], v_proj_weight=w["v_proj_weight"])
    if case.get("static"):
        static_shape = (N * H, S + 1, E // H)  # (a sequence length of its own)
        kwargs.update(static_k=rng.normal(size=static_shape), static_v=rng.normal(size=static_shape))
    if case.get("masks"):
        padding = np.zeros((*batch, S), bool)
        padding[..., -1] = True
        kwargs.update(attn_mask=rng.normal(size=(L, S)), key_padding_mask=padding)
    args = [E, H, w["in_proj_weight"], w["in_proj_bias"], w.get("bias_k"), w.get("bias_v"),
            case.get("add_zero_attn", False), case.get("dropout_p", 0.0), w["out_proj_weight"], w["out_proj_bias"]]
    return inputs, args, kwargs


@pytest.mark.parametrize("case", FUNCTIONAL_CASES)
def test_multi_head_attention_forward_matches_torch(case):
    torch = _torch()
    inputs, args, kwargs = _functional_call(case, _rng(5))
    ours_args = [mg.tensor(a, requires_grad=True) if isinstance(a, np.ndarray) else a for a in args]
    torch_args = [torch.tensor(a, requires_grad=True) if isinstance(a, np.ndarray) else a for a in args]
    ours_kwargs = {k: mg.tensor(v, requires_grad=True) if isinstance(v, np.ndarray) and v.dtype != bool else v
                   for k, v in kwargs.items()}
    torch_kwargs = {k: torch.tensor(v, requires_grad=v.dtype != bool) if isinstance(v, np.ndarray) else v
                    for k, v in kwargs.items()}
    params = [(a, b) for a, b in zip(ours_args, torch_args) if isinstance(a, mg.Tensor)]
    params += [(ours_kwargs[k], torch_kwargs[k]) for k in ours_kwargs
               if isinstance(ours_kwargs[k], mg.Tensor) and ours_kwargs[k].requires_grad]
    _compare(torch, lambda q, k, v: torch.nn.functional.multi_head_attention_forward(q, k, v, *torch_args,
                                                                                      **torch_kwargs),
             lambda q, k, v: F.multi_head_attention_forward(q, k, v, *ours_args, **ours_kwargs), inputs, {}, params)


@pytest.mark.parametrize("options", [{}, {"batch_first": True}, {"kdim": 3, "vdim": 5, "add_bias_kv": True}])
def test_module_is_the_functional_with_its_parameters(options):
    mha = nn.MultiheadAttention(8, 2, rng=1, **options)
    rng = _rng(6)
    shape = (lambda n, s, e: (n, s, e)) if options.get("batch_first") else (lambda n, s, e: (s, n, e))
    q, k, v = (rng.normal(size=shape(2, s, e)) for s, e in ((3, 8), (4, options.get("kdim", 8)),
                                                                (4, options.get("vdim", 8))))
    out, weights = mha(q, k, v)
    if options.get("batch_first"):
        q, k, v = (np.swapaxes(x, 0, 1) for x in (q, k, v))
    expected, expected_weights = F.multi_head_attention_forward(
        q, k, v, 8, 2, mha.in_proj_weight, mha.in_proj_bias, mha.bias_k, mha.bias_v, False, 0.0,
        mha.out_proj.weight, mha.out_proj.bias, use_separate_proj_weight=not mha._qkv_same_embed_dim,
        q_proj_weight=mha.q_proj_weight, k_proj_weight=mha.k_proj_weight, v_proj_weight=mha.v_proj_weight)
    if options.get("batch_first"):
        expected = mg.swapaxes(expected, 0, 1)
    np.testing.assert_array_equal(out.data, expected.data)
    np.testing.assert_array_equal(weights.data, expected_weights.data)


def test_multi_head_attention_forward_gradients_match_finite_differences():
    rng = _rng(7)
    inputs, args, _ = _functional_call({"bias_kv": True}, rng)
    leaves = [mg.tensor(a, requires_grad=True) for a in [*inputs, args[2], args[4], args[8]]]

    def fn(q, k, v, w_in, b_k, w_out):
        return F.multi_head_attention_forward(q, k, v, 8, 2, w_in, args[3], b_k, args[5], True, 0.0, w_out,
                                              args[9], attn_mask=np.triu(np.ones((3, 4), bool), 2))[0]

    assert mg.gradcheck(fn, leaves)


def _bad_calls(lib, tensor, mask):
    """Calls to ``lib``'s multi_head_attention_forward with one mistake each (``mask`` makes
    masks: an integer array stays one, which ``mg.tensor`` would make float)."""
    rng = _rng(8)
    x = tensor(rng.normal(size=(3, 2, 8)))
    w_in, b_in, w_out = tensor(rng.normal(size=(24, 8))), tensor(np.zeros(24)), tensor(rng.normal(size=(8, 8)))
    f = lib.multi_head_attention_forward

    def call(q=x, k=x, v=x, embed=8, heads=2, **kwargs):
        return lambda: f(q, k, v, embed, heads, w_in, b_in, None, None, False, 0.0, w_out, None, **kwargs)

    return {
        "embed_dim": call(embed=6),
        "heads": call(heads=3),
        "key_ndim": call(k=tensor(rng.normal(size=(3, 8)))),
        "value_length": call(v=tensor(rng.normal(size=(4, 2, 8)))),
        "attn_mask_shape": call(attn_mask=mask(np.zeros((2, 3), bool))),
        "attn_mask_ndim": call(attn_mask=mask(np.zeros((1, 4, 3, 3), bool))),
        "padding_shape": call(key_padding_mask=mask(np.zeros((2, 4), bool))),
        "padding_ndim": call(key_padding_mask=mask(np.zeros(3, bool))),
        "padding_dtype": call(key_padding_mask=mask(np.zeros((2, 3), np.int64))),
        "causal_without_mask": call(is_causal=True),
        "separate_without_weights": call(use_separate_proj_weight=True),
    }


@pytest.mark.parametrize("name", list(_bad_calls(F, mg.tensor, np.asarray)))
def test_multi_head_attention_forward_errors_are_torchs(name):
    torch = _torch()
    with pytest.raises(Exception) as expected:
        _bad_calls(torch.nn.functional, torch.tensor, torch.tensor)[name]()
    with pytest.raises(type(expected.value)):
        _bad_calls(F, mg.tensor, np.asarray)[name]()


def test_errors_are_value_errors_too():
    """PyTorch's AssertionErrors here are also this library's usual ValueError."""
    with pytest.raises(ValueError, match="must be divisible"):
        nn.MultiheadAttention(10, 3)
    with pytest.raises(AssertionError, match="must be divisible"):
        nn.MultiheadAttention(10, 3)
    for name, call in _bad_calls(F, mg.tensor, np.asarray).items():
        with pytest.raises(ValueError if name not in ("causal_without_mask", "separate_without_weights")
                           else (RuntimeError, AssertionError)):
            call()
