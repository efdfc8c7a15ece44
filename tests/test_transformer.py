"""Attention and Transformer layers: F.scaled_dot_product_attention, nn.MultiheadAttention,
nn.TransformerEncoder(Layer), nn.TransformerDecoder(Layer), nn.Transformer. Gradients against
finite differences, and values and gradients against PyTorch (optional oracle) with the same weights."""

from __future__ import annotations

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import nn
from microgradnp.nn import functional as F

RNG = np.random.default_rng(0)
# PyTorch's warnings about its own fast paths and mixed mask types (torch is only the oracle here)
pytestmark = pytest.mark.filterwarnings("ignore:.*(mismatched|enable_nested_tensor).*:UserWarning")


def _normal(*shape):
    return RNG.normal(size=shape)


def _leaves(*arrays):
    return [mg.tensor(a, requires_grad=True) for a in arrays]


# -- scaled_dot_product_attention without torch ----------------------------------------------
def _reference_attention(q, k, v, allowed=None, scale=None):
    """The definition, in NumPy: softmax over the allowed keys of q k^T * scale, times v."""
    scores = q @ np.swapaxes(k, -1, -2) * (1 / np.sqrt(q.shape[-1]) if scale is None else scale)
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    return weights / weights.sum(-1, keepdims=True) @ v


def test_sdpa_matches_its_definition_with_masks_and_scale():
    q, k, v = _normal(2, 3, 4), _normal(2, 5, 4), _normal(2, 5, 6)
    allowed = RNG.random((3, 5)) > 0.3
    allowed[:, 0] = True
    np.testing.assert_allclose(F.scaled_dot_product_attention(q, k, v).data, _reference_attention(q, k, v))
    np.testing.assert_allclose(F.scaled_dot_product_attention(q, k, v, attn_mask=allowed).data,
                               _reference_attention(q, k, v, allowed))
    additive = np.where(allowed, 0.0, -np.inf)
    np.testing.assert_allclose(F.scaled_dot_product_attention(q, k, v, attn_mask=additive).data,
                               _reference_attention(q, k, v, allowed))
    causal = np.tril(np.ones((3, 5), dtype=bool))
    np.testing.assert_allclose(F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.7).data,
                               _reference_attention(q, k, v, causal, scale=0.7))


def test_sdpa_takes_any_number_of_batch_axes_that_broadcast():
    q, k, v = _normal(2, 3, 1, 4, 5), _normal(3, 7, 6, 5), _normal(1, 6, 2)
    out = F.scaled_dot_product_attention(q, k, v)
    assert out.shape == (2, 3, 7, 4, 2)
    np.testing.assert_allclose(out.data, _reference_attention(q, k, v))
    assert F.scaled_dot_product_attention(_normal(4, 5), _normal(6, 5), _normal(6, 3)).shape == (4, 3)


@pytest.mark.parametrize("options", [{}, {"is_causal": True}, {"mask": "bool"}, {"mask": "float"}, {"scale": 0.4},
                                     {"gqa": True}])
def test_sdpa_gradients_match_finite_differences(options):
    heads_kv = 1 if options.get("gqa") else 2
    q, k, v = _leaves(_normal(2, 2, 3, 2), _normal(2, heads_kv, 4, 2), _normal(2, heads_kv, 4, 3))
    mask = None
    if options.get("mask") == "bool":
        mask = np.array([[True, False, True, True], [False, True, True, False], [True, True, True, True]])
    elif options.get("mask") == "float":
        mask = _normal(3, 4)

    def attention(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=options.get("is_causal", False),
                                              scale=options.get("scale"), enable_gqa=options.get("gqa", False))

    assert mg.gradcheck(attention, [q, k, v])


def test_sdpa_gradient_of_a_float_mask_that_requires_grad():
    q, k, v, mask = _leaves(_normal(3, 2), _normal(4, 2), _normal(4, 2), _normal(3, 4))
    assert mg.gradcheck(lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m), [q, k, v, mask])


def test_a_query_with_every_key_masked_gets_zero_and_no_nan():
    q, k, v = _leaves(_normal(2, 3), _normal(4, 3), _normal(4, 2))
    allowed = np.array([[True, False, True, False], [False, False, False, False]])
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    np.testing.assert_array_equal(out.data[1], 0.0)
    np.testing.assert_allclose(out.data[0], _reference_attention(q.data[:1], k.data, v.data, allowed[:1])[0])
    out.sum().backward()
    assert all(np.isfinite(t.grad).all() for t in (q, k, v))
    np.testing.assert_array_equal(q.grad[1], 0.0)


def test_sdpa_dropout_scales_kept_weights_and_is_seeded():
    q, k, v = _normal(2, 5, 3), _normal(2, 6, 3), _normal(2, 6, 4)
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5, rng=7)
    np.testing.assert_array_equal(out.data, F.scaled_dot_product_attention(q, k, v, dropout_p=0.5, rng=7).data)
    weights = mg.softmax(mg.tensor(q @ np.swapaxes(k, -1, -2) / np.sqrt(3)), axis=-1)
    np.testing.assert_allclose(out.data, (F.dropout(weights, 0.5, True, rng=7) @ v).data)
    assert not np.allclose(out.data, F.scaled_dot_product_attention(q, k, v).data)
    np.testing.assert_array_equal(F.scaled_dot_product_attention(q, k, v, dropout_p=1.0).data, 0.0)


def test_sdpa_float32_stays_float32():
    q, k, v = (mg.tensor(_normal(2, 3, 4).astype(np.float32), requires_grad=True) for _ in range(3))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=_normal(3, 3), dropout_p=0.1, rng=0)
    assert out.dtype == np.float32
    out.sum().backward()
    assert q.grad.dtype == k.grad.dtype == v.grad.dtype == np.float32
    assert F.scaled_dot_product_attention(q, k, v, is_causal=True).dtype == np.float32


def test_sdpa_errors_are_clear():
    q, k, v = _normal(2, 3, 4), _normal(2, 5, 4), _normal(2, 5, 6)
    with pytest.raises(ValueError, match="same last axis"):
        F.scaled_dot_product_attention(q, _normal(2, 5, 3), v)
    with pytest.raises(ValueError, match="same sequence length"):
        F.scaled_dot_product_attention(q, k, _normal(2, 4, 6))
    with pytest.raises(ValueError, match="at least 2 axes"):
        F.scaled_dot_product_attention(_normal(4), k, v)
    with pytest.raises(ValueError, match="not both"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((3, 5), bool), is_causal=True)
    with pytest.raises(ValueError, match="does not broadcast"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((3, 4), bool))
    with pytest.raises(ValueError, match="enable_gqa"):
        F.scaled_dot_product_attention(_normal(4, 3, 4), _normal(2, 5, 4), _normal(2, 5, 4))
    with pytest.raises(ValueError, match="must divide"):
        F.scaled_dot_product_attention(_normal(4, 3, 4), _normal(3, 5, 4), _normal(3, 5, 4), enable_gqa=True)
    with pytest.raises(ValueError, match="dropout_p"):
        F.scaled_dot_product_attention(q, k, v, dropout_p=1.5)
    with pytest.raises(TypeError, match="bool or a float mask"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((3, 5), int))


# -- MultiheadAttention without torch --------------------------------------------------------
def test_mha_parameters_and_initialisation_are_pytorchs():
    mha = nn.MultiheadAttention(8, 2, rng=0)
    assert list(mha.state_dict()) == ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]
    assert mha.in_proj_weight.shape == (24, 8) and mha.head_dim == 4
    np.testing.assert_array_equal(mha.in_proj_bias.data, 0.0)
    np.testing.assert_array_equal(mha.out_proj.bias.data, 0.0)
    assert np.abs(mha.in_proj_weight.data).max() <= np.sqrt(6 / (8 + 24))
    np.testing.assert_array_equal(mha.in_proj_weight.data, nn.MultiheadAttention(8, 2, rng=0).in_proj_weight.data)
    separate = nn.MultiheadAttention(8, 4, bias=False, add_bias_kv=True, kdim=3, vdim=5)
    assert list(separate.state_dict()) == ["q_proj_weight", "k_proj_weight", "v_proj_weight", "bias_k", "bias_v",
                                           "out_proj.weight"]
    assert separate.k_proj_weight.shape == (8, 3) and separate.v_proj_weight.shape == (8, 5)
    assert separate.bias_k.shape == (1, 1, 8)


def test_mha_gradients_match_finite_differences():
    mha = nn.MultiheadAttention(4, 2, add_bias_kv=True, add_zero_attn=True, kdim=3, vdim=2, rng=1).double()
    q, k, v = _leaves(_normal(3, 2, 4), _normal(5, 2, 3), _normal(5, 2, 2))
    padding = np.array([[False, False, True, False, False], [True, False, False, False, False]])

    def attention(q, k, v, *weights):
        return mha(q, k, v, key_padding_mask=padding, attn_mask=np.tril(np.ones((3, 5), bool), 1))[0]

    assert mg.gradcheck(attention, [q, k, v, mha.q_proj_weight, mha.bias_k, mha.in_proj_bias])


def test_mha_unbatched_equals_a_batch_of_one():
    mha = nn.MultiheadAttention(6, 3, rng=2)
    x, padding = _normal(4, 6), np.array([False, False, False, True])
    out, weights = mha(x, x, x, key_padding_mask=padding, average_attn_weights=False)
    batch_out, batch_weights = mha(x[:, None], x[:, None], x[:, None], key_padding_mask=padding[None],
                                   average_attn_weights=False)
    assert out.shape == (4, 6) and weights.shape == (3, 4, 4)
    np.testing.assert_allclose(out.data, batch_out.data[:, 0])
    np.testing.assert_allclose(weights.data, batch_weights.data[0])
    np.testing.assert_array_equal(weights.data[..., 3], 0.0)


def test_mha_is_causal_without_a_mask_is_refused_as_in_pytorch():
    # is_causal is a hint that the mask given is causal; it used to apply a causal mask silently
    mha = nn.MultiheadAttention(4, 2, rng=0)
    x = _normal(3, 2, 4)
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        mha(x, x, x, is_causal=True)
    causal = np.triu(np.ones((3, 3), bool), 1)
    out = mha(x, x, x, attn_mask=causal, is_causal=True)
    np.testing.assert_array_equal(out[0].data, mha(x, x, x, attn_mask=causal)[0].data)


def test_compiled_attention_uses_each_calls_masks():
    mha = nn.MultiheadAttention(4, 2, rng=0)

    def step(x, padding, mask):
        out = mha(x, x, x, key_padding_mask=padding)[0] + F.scaled_dot_product_attention(x, x, x, attn_mask=mask)
        loss = (out * out).sum()
        loss.backward()
        return loss

    compiled = mg.compile(step)
    x = _normal(3, 2, 4)
    none_padded, all_attend = np.zeros((2, 3), bool), np.ones((3, 2, 2), bool)
    second_padded = none_padded.copy()
    second_padded[1] = True  # every key of the second sequence: its rows are all masked out
    for padding, mask in [(none_padded, all_attend), (second_padded, ~all_attend), (~second_padded, all_attend)]:
        mha.zero_grad()
        loss = compiled(mg.tensor(x), padding, mask).item()
        grad = mha.in_proj_weight.grad.copy()
        mha.zero_grad()
        np.testing.assert_allclose(loss, step(mg.tensor(x), padding, mask).item(), rtol=1e-13)
        np.testing.assert_allclose(grad, mha.in_proj_weight.grad, rtol=1e-12, atol=1e-14)


def test_mha_float32_stays_float32():
    mha = nn.MultiheadAttention(4, 2, dtype=np.float32, rng=0)
    x = mg.tensor(_normal(3, 2, 4).astype(np.float32), requires_grad=True)
    out, weights = mha(x, x, x, attn_mask=np.zeros((3, 3)), key_padding_mask=np.zeros((2, 3), bool))
    assert out.dtype == weights.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == mha.in_proj_weight.grad.dtype == np.float32


def test_mha_errors_are_clear():
    with pytest.raises(ValueError, match=r"embed_dim \(10\) must be divisible by num_heads \(3\)"):
        nn.MultiheadAttention(10, 3)
    mha = nn.MultiheadAttention(4, 2)
    x = _normal(3, 2, 4)
    with pytest.raises(ValueError, match="must have 4 features"):
        mha(_normal(3, 2, 5), x, x)
    with pytest.raises(ValueError, match="all be 3-D"):
        mha(x, _normal(3, 4), x)
    with pytest.raises(ValueError, match="same sequence length"):
        mha(x, x, _normal(4, 2, 4))
    with pytest.raises(ValueError, match="same batch size"):
        mha(x, _normal(3, 1, 4), _normal(3, 1, 4))
    with pytest.raises(ValueError, match=r"attn_mask has shape \(2, 3\), expected \(3, 3\)"):
        mha(x, x, x, attn_mask=np.zeros((2, 3), bool))
    with pytest.raises(ValueError, match="key_padding_mask has shape"):
        mha(x, x, x, key_padding_mask=np.zeros((2, 4), bool))
    with pytest.raises(ValueError, match="key_padding_mask must be 2-D"):
        mha(x, x, x, key_padding_mask=np.zeros(3, bool))


# -- Transformer layers without torch --------------------------------------------------------
def test_transformer_parameter_names_follow_pytorch():
    model = nn.Transformer(8, 2, 2, 1, 16, rng=0)
    names = list(model.state_dict())
    assert "encoder.layers.1.self_attn.in_proj_weight" in names and "encoder.norm.weight" in names
    assert "decoder.layers.0.multihead_attn.out_proj.bias" in names and "decoder.layers.0.norm3.bias" in names
    assert not any(name.startswith("decoder.layers.1") for name in names)
    assert all(np.abs(p.data).max() <= np.sqrt(6 / sum(p.shape)) for p in model.parameters() if p.ndim > 1)


def test_encoder_layers_start_equal_and_share_the_dropout_generator():
    encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(4, 2, 8, rng=0), 2)
    np.testing.assert_array_equal(encoder.layers[0].linear1.weight.data, encoder.layers[1].linear1.weight.data)
    assert encoder.layers[0].linear1.weight is not encoder.layers[1].linear1.weight
    assert encoder.layers[0].dropout.rng is encoder.layers[1].dropout.rng


def test_eval_mode_is_dropout_zero_and_training_draws_masks():
    layer = nn.TransformerEncoderLayer(4, 2, 8, dropout=0.3, rng=0)
    plain = nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0)
    plain.load_state_dict(layer.state_dict())
    x = _normal(3, 2, 4)
    trained = layer(x).data
    assert not np.allclose(trained, plain(x).data)
    np.testing.assert_allclose(layer.eval()(x).data, plain(x).data)


def test_transformer_gradients_match_finite_differences():
    model = nn.Transformer(4, 2, 1, 1, 6, dropout=0.0, activation="gelu", norm_first=True, rng=3).double()
    src, tgt = _leaves(_normal(3, 2, 4), _normal(2, 2, 4))
    mask = nn.Transformer.generate_square_subsequent_mask(2)
    weight = model.decoder.layers[0].multihead_attn.in_proj_weight
    assert mg.gradcheck(lambda s, t, w: model(s, t, tgt_mask=mask), [src, tgt, weight])


def test_transformer_float32_stays_float32():
    model = nn.Transformer(4, 2, 1, 1, 8, dropout=0.1, dtype=np.float32, rng=0)
    src = mg.tensor(_normal(3, 2, 4).astype(np.float32), requires_grad=True)
    out = model(src, _normal(2, 2, 4).astype(np.float32), tgt_mask=nn.Transformer.generate_square_subsequent_mask(2),
                src_key_padding_mask=np.zeros((2, 3), bool))
    assert out.dtype == np.float32
    out.sum().backward()
    assert src.grad.dtype == np.float32 and all(p.grad.dtype == np.float32 for p in model.parameters())


def test_transformer_errors_are_clear():
    model = nn.Transformer(4, 2, 1, 1, 8, rng=0)
    with pytest.raises(ValueError, match="batch number of src"):
        model(_normal(3, 2, 4), _normal(3, 1, 4))
    with pytest.raises(ValueError, match="equal to d_model=4"):
        model(_normal(3, 2, 5), _normal(3, 2, 5))
    with pytest.raises(ValueError, match="should be 'relu' or 'gelu'"):
        nn.TransformerEncoderLayer(4, 2, activation="tanh")
    with pytest.raises(ValueError, match="divisible by num_heads"):
        nn.TransformerDecoderLayer(6, 4)
    with pytest.raises(ValueError, match="num_layers must be a positive int"):
        nn.TransformerEncoder(nn.TransformerEncoderLayer(4, 2), 0)


def test_generate_square_subsequent_mask():
    mask = nn.Transformer.generate_square_subsequent_mask(3)
    np.testing.assert_array_equal(mask.data, [[0, -np.inf, -np.inf], [0, 0, -np.inf], [0, 0, 0]])
    assert nn.Transformer.generate_square_subsequent_mask(2, dtype=np.float32).dtype == np.float32


# -- PyTorch as the oracle -------------------------------------------------------------------
def _torch():
    torch = pytest.importorskip("torch")
    torch.backends.mha.set_fastpath_enabled(False)  # PyTorch's eval fast path zeroes padded positions
    return torch


def _from_torch(torch_module, module):
    """Load ``torch_module``'s weights into ``module`` (a state_dict converted to NumPy)."""
    module.load_state_dict({name: value.detach().numpy() for name, value in torch_module.state_dict().items()})
    return module


def outputs_agree(out, expected):
    """Our output and torch's agree (NaN where torch has NaN); for attention's (output,
    weights) pairs the weights too. Returns the (first) outputs, for their gradients."""
    if isinstance(expected, tuple):
        assert (out[1] is None) == (expected[1] is None)
        if expected[1] is not None:
            np.testing.assert_allclose(out[1].data, expected[1].detach().numpy(), atol=1e-12)
        out, expected = out[0], expected[0]
    np.testing.assert_allclose(out.data, expected.detach().numpy(), atol=1e-12)
    return out, expected


def _compare(torch, torch_module, module, inputs, kwargs, parameters=True):
    """Run both on the same inputs; compare outputs and the gradients of inputs and parameters."""
    ours = [mg.tensor(x, requires_grad=True) for x in inputs]
    theirs = [torch.tensor(x, requires_grad=True) for x in inputs]
    torch_kwargs = {name: torch.tensor(value) if isinstance(value, np.ndarray) else value
                    for name, value in kwargs.items()}
    out, expected = outputs_agree(module(*ours, **kwargs), torch_module(*theirs, **torch_kwargs))
    upstream = _normal(*out.shape)
    (out * upstream).sum().backward()
    (expected * torch.tensor(upstream)).sum().backward()
    for mine, reference in zip(ours, theirs):
        np.testing.assert_allclose(mine.grad, reference.grad.numpy(), atol=1e-10)
    if not parameters:
        return
    named = dict(torch_module.named_parameters())
    for name, parameter in module.named_parameters():
        np.testing.assert_allclose(parameter.grad, named[name].grad.numpy(), atol=1e-10, err_msg=name)


@pytest.mark.parametrize("options", [
    {}, {"is_causal": True}, {"mask": "bool"}, {"mask": "float"}, {"scale": 0.3}, {"gqa": True}, {"broadcast": True},
    {"mask": "bool", "masked_row": True},
])
def test_sdpa_matches_torch(options):
    torch = _torch()
    heads_kv = 1 if options.get("gqa") else 2
    q, k, v = _normal(2, 2, 3, 4), _normal(2, heads_kv, 5, 4), _normal(2, heads_kv, 5, 3)
    if options.get("broadcast"):
        k, v = k[:1], v[:1]
    kwargs = {"is_causal": options.get("is_causal", False), "scale": options.get("scale"),
              "enable_gqa": options.get("gqa", False)}
    if options.get("mask") == "bool":
        mask = RNG.random((2, 1, 3, 5)) > 0.4
        mask[..., 0] = not options.get("masked_row")
        kwargs["attn_mask"] = mask
    elif options.get("mask") == "float":
        kwargs["attn_mask"] = _normal(3, 5)
    _compare(torch, torch.nn.functional.scaled_dot_product_attention, F.scaled_dot_product_attention, [q, k, v],
             kwargs, parameters=False)


MHA_OPTIONS = [
    {},
    {"bias": False},
    {"add_bias_kv": True},
    {"add_zero_attn": True},
    {"kdim": 3, "vdim": 5},
    {"batch_first": True},
    {"add_bias_kv": True, "add_zero_attn": True, "kdim": 3, "vdim": 2, "batch_first": True},
]
MHA_CALLS = [
    {},
    {"need_weights": False},
    {"average_attn_weights": False},
    {"attn_mask": "bool2d", "key_padding_mask": "bool"},
    {"attn_mask": "float3d", "key_padding_mask": "float"},
    {"attn_mask": "causal", "is_causal": True},
    {"attn_mask": "causal", "is_causal": True, "need_weights": False},
]


def _mha_masks(call, batch, heads, target, source):
    kwargs = dict(call)
    masks = {
        "bool2d": np.array([[False, True, False, True], [False, False, True, False], [True, False, True, False]]),
        "float3d": _normal(batch * heads, target, source),
        "causal": np.triu(np.ones((target, source), bool), 1),
    }
    if "attn_mask" in kwargs:
        kwargs["attn_mask"] = masks[kwargs["attn_mask"]]
    if "key_padding_mask" in kwargs:
        padding = np.zeros((batch, source), bool)
        padding[0, -1] = padding[-1, 2] = True
        kwargs["key_padding_mask"] = padding if kwargs["key_padding_mask"] == "bool" else np.where(padding, -1e9, 0.0)
    return kwargs


@pytest.mark.parametrize("options", MHA_OPTIONS)
@pytest.mark.parametrize("call", MHA_CALLS)
def test_mha_matches_torch(options, call):
    torch = _torch()
    torch.manual_seed(0)
    reference = torch.nn.MultiheadAttention(8, 2, dtype=torch.float64, **options)
    mha = _from_torch(reference, nn.MultiheadAttention(8, 2, **options))
    assert list(mha.state_dict()) == list(reference.state_dict())
    batch, target, source = 2, 3, 4
    order = (lambda n, s, e: (n, s, e)) if options.get("batch_first") else (lambda n, s, e: (s, n, e))
    inputs = [_normal(*order(batch, target, 8)), _normal(*order(batch, source, options.get("kdim", 8))),
              _normal(*order(batch, source, options.get("vdim", 8)))]
    _compare(torch, reference, mha, inputs, _mha_masks(call, batch, 2, target, source))


def test_mha_self_attention_unbatched_and_in_eval_matches_torch():
    torch = _torch()
    reference = torch.nn.MultiheadAttention(6, 3, dtype=torch.float64).eval()
    mha = _from_torch(reference, nn.MultiheadAttention(6, 3)).eval()
    x = _normal(4, 6)
    kwargs = {"key_padding_mask": np.array([False, True, False, False]), "attn_mask": np.zeros((3, 4, 4))}
    ours, theirs = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, weights = mha(ours, ours, ours, **kwargs)
    expected, expected_weights = reference(theirs, theirs, theirs, **{n: torch.tensor(m) for n, m in kwargs.items()})
    np.testing.assert_allclose(out.data, expected.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(weights.data, expected_weights.detach().numpy(), atol=1e-12)
    out.sum().backward()
    expected.sum().backward()
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), atol=1e-10)


def _layer_pair(torch, kind, options, seed):
    """A torch layer ``kind`` (float64, no dropout) and ours with the same options; a callable
    activation is given in both frameworks."""
    torch_options = our_options = options
    if options.get("activation") == "callable":
        torch_options, our_options = ({**options, "activation": torch.nn.functional.silu},
                                      {**options, "activation": mg.silu})
    torch.manual_seed(seed)
    layer = getattr(torch.nn, kind)(8, 2, 12, dropout=0.0, dtype=torch.float64, **torch_options)
    return layer, getattr(nn, kind)(8, 2, 12, dropout=0.0, **our_options)


LAYER_OPTIONS = [
    {},
    {"activation": "gelu"},
    {"activation": "callable"},
    {"norm_first": True},
    {"batch_first": True},
    {"bias": False, "layer_norm_eps": 1e-3},
]


@pytest.mark.parametrize("options", LAYER_OPTIONS)
def test_encoder_matches_torch(options):
    torch = _torch()
    layer, our_layer = _layer_pair(torch, "TransformerEncoderLayer", options, seed=1)
    reference = torch.nn.TransformerEncoder(layer, 2, norm=torch.nn.LayerNorm(8, dtype=torch.float64),
                                            enable_nested_tensor=False)
    ours = nn.TransformerEncoder(our_layer, 2, norm=nn.LayerNorm(8))
    _from_torch(reference, ours)
    batch, length = 2, 4
    src = _normal(batch, length, 8) if options.get("batch_first") else _normal(length, batch, 8)
    padding = np.zeros((batch, length), bool)
    padding[1, -1] = True
    mask = nn.Transformer.generate_square_subsequent_mask(length).data
    _compare(torch, reference, ours, [src], {"mask": mask, "src_key_padding_mask": padding})
    _compare(torch, layer, _from_torch(layer, our_layer), [src], {"src_mask": mask, "is_causal": True})


@pytest.mark.parametrize("options", LAYER_OPTIONS)
def test_decoder_matches_torch(options):
    torch = _torch()
    layer, our_layer = _layer_pair(torch, "TransformerDecoderLayer", options, seed=2)
    reference = torch.nn.TransformerDecoder(layer, 2)
    ours = _from_torch(reference, nn.TransformerDecoder(our_layer, 2))
    batch, target, source = 2, 3, 5
    order = (lambda n, s: (n, s, 8)) if options.get("batch_first") else (lambda n, s: (s, n, 8))
    memory_padding = np.zeros((batch, source), bool)
    memory_padding[0, 1] = True
    kwargs = {"tgt_mask": nn.Transformer.generate_square_subsequent_mask(target).data,
              "memory_mask": _normal(target, source), "tgt_key_padding_mask": np.zeros((batch, target), bool),
              "memory_key_padding_mask": memory_padding}
    _compare(torch, reference, ours, [_normal(*order(batch, target)), _normal(*order(batch, source))], kwargs)


@pytest.mark.parametrize("options", [{}, {"batch_first": True, "norm_first": True, "activation": "gelu"}])
def test_transformer_matches_torch_in_eval_and_unbatched(options):
    torch = _torch()
    torch.manual_seed(3)
    reference = torch.nn.Transformer(8, 2, 2, 2, 12, dropout=0.2, dtype=torch.float64, **options).eval()
    ours = _from_torch(reference, nn.Transformer(8, 2, 2, 2, 12, dropout=0.2, **options)).eval()
    assert list(ours.state_dict()) == list(reference.state_dict())
    src, tgt = (_normal(2, n, 8) if options.get("batch_first") else _normal(n, 2, 8) for n in (4, 3))
    mask = nn.Transformer.generate_square_subsequent_mask(3).data
    np.testing.assert_array_equal(mask, torch.nn.Transformer.generate_square_subsequent_mask(3).numpy())
    padding = np.array([[False, False, False, True], [False] * 4])
    _compare(torch, reference, ours, [src, tgt], {"tgt_mask": mask, "src_key_padding_mask": padding,
                                                  "memory_key_padding_mask": padding})
    _compare(torch, reference, ours, [_normal(4, 8), _normal(3, 8)], {"tgt_mask": mask, "tgt_is_causal": True})
