"""W4A8 MoE experts built from our references, checked against HF transformers' MoE layer.

A tiny random GLM-5 (``GlmMoeDsaForCausalLM``) and DeepSeek-V3.2 (``DeepseekV32ForCausalLM``) give a
real MoE layer (router + experts, fp32, CPU). Its routed experts are quantized as GLM-5's W4A8 recipe
does (int4 per-channel symmetric weights, round-to-nearest; int8 per-token dynamic activations) and run
through ``grouped_matmul_a8w4`` with tokens grouped by expert, as vllm-ascend's MoE MLP does.
"""

import pytest
import torch
import torch.nn.functional as F

import transformers

from ascend_glm5.quant import prepare_w4a8_gmm_weight, quantize_weight_int4, unpack_int4_int32
from ascend_glm5.reference.dynamic_quant import dynamic_quant  # noqa: E402
from ascend_glm5.reference.grouped_matmul_a8w4 import grouped_matmul_a8w4  # noqa: E402

TINY = dict(
    vocab_size=64, hidden_size=64, intermediate_size=96, moe_intermediate_size=32, num_hidden_layers=2,
    first_k_dense_replace=1, n_routed_experts=8, num_experts_per_tok=2, n_shared_experts=1,
    num_attention_heads=2, num_key_value_heads=2, q_lora_rank=32, kv_lora_rank=16, qk_nope_head_dim=16,
    qk_rope_head_dim=8, v_head_dim=16, index_n_heads=2, index_head_dim=16, index_topk=4,
)
MODELS = {
    "glm_moe_dsa": ("GlmMoeDsaConfig", "GlmMoeDsaForCausalLM", {}),
    "deepseek_v32": ("DeepseekV32Config", "DeepseekV32ForCausalLM", dict(n_group=2, topk_group=1)),
}
TOKENS = 48


@pytest.fixture(scope="module", params=sorted(MODELS))
def routed(request):
    """(moe layer, hidden states, top-k expert ids, top-k weights, HF float routed-expert output)."""
    config_cls, model_cls, extra = MODELS[request.param]
    with torch.random.fork_rng():
        torch.manual_seed(0)
        config = getattr(transformers, config_cls)(**TINY, **extra)
        moe = getattr(transformers, model_cls)(config).float().model.layers[1].mlp
        x = torch.randn(TOKENS, config.hidden_size)
    with torch.no_grad():
        _, top_w, top_i = moe.gate(x)
        expected = moe.experts(x, top_i, top_w)
    return moe, x, top_i, top_w, expected


def _dispatch(top_i, num_experts):
    """Sort (token, slot) pairs by expert: (row order, token of each row, tokens per expert)."""
    flat = top_i.reshape(-1)
    order = torch.argsort(flat, stable=True)
    return order, order // top_i.shape[1], torch.bincount(flat, minlength=num_experts)


def _combine(rows, order, token, top_w, like):
    return torch.zeros_like(like).index_add_(0, token, rows * top_w.reshape(-1)[order, None])


def _grouped_float(x, weight, counts):
    """Per-expert float ``x @ weight[e].T`` over rows grouped by expert."""
    out = x.new_zeros(x.shape[0], weight.shape[1])
    start = 0
    for e, c in enumerate(counts.tolist()):
        out[start : start + c] = x[start : start + c] @ weight[e].T
        start += c
    return out


def _float_experts(x, top_i, top_w, gate_up, down):
    order, token, counts = _dispatch(top_i, gate_up.shape[0])
    gate, up = _grouped_float(x[token], gate_up, counts).chunk(2, dim=-1)
    return _combine(_grouped_float(F.silu(gate) * up, down, counts), order, token, top_w, x)


def _w4a8_experts(x, top_i, top_w, gate_up, down):
    """The W4A8 expert MLP; also returns each GEMM's (x_q, s_tok, packed weight, scale, output)."""
    order, token, counts = _dispatch(top_i, gate_up.shape[0])
    w13, s13, b13 = prepare_w4a8_gmm_weight(gate_up)  # [E, 2I, H] -> int32 [E, H, 2I/8]
    w2, s2, b2 = prepare_w4a8_gmm_weight(down)  # [E, H, I] -> int32 [E, I, H/8]
    xq, xs = dynamic_quant(x[token])
    h = grouped_matmul_a8w4(xq, w13, s13, xs, counts, bias=b13, output_dtype=torch.float32)
    gate, up = h.chunk(2, dim=-1)  # HF gate_up_proj: gate rows first
    aq, as_ = dynamic_quant(F.silu(gate) * up)
    y = grouped_matmul_a8w4(aq, w2, s2, as_, counts, bias=b2, output_dtype=torch.float32)
    gemms = [(xq, xs, w13, s13, h), (aq, as_, w2, s2, y)]
    return _combine(y, order, token, top_w, x), gemms, counts


def test_dispatch_and_combine_reproduce_hf_experts(routed):
    moe, x, top_i, top_w, expected = routed
    with torch.no_grad():
        out = _float_experts(x, top_i, top_w, moe.experts.gate_up_proj, moe.experts.down_proj)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-7)


def test_w4a8_gemms_equal_dequantized_float(routed):
    moe, x, top_i, top_w, _ = routed
    with torch.no_grad():
        _, gemms, counts = _w4a8_experts(x, top_i, top_w, moe.experts.gate_up_proj, moe.experts.down_proj)
    assert (counts > 0).sum() >= 4  # the routing spreads tokens over several experts
    for name, float_weight, (x_q, s_tok, weight, s_w, out) in zip(
        ("gate_up", "down"), (moe.experts.gate_up_proj, moe.experts.down_proj), gemms
    ):
        w_q, s = quantize_weight_int4(float_weight.detach())  # [E, N, K] int4 and [E, N]
        assert torch.equal(unpack_int4_int32(weight), w_q.transpose(1, 2)) and torch.equal(s_w, s)
        # (x_q * s_tok) @ (w_q * s_w)^T in float64, rounded once to fp32.
        dequant = _grouped_float(x_q.double() * s_tok.double()[:, None], w_q.double() * s.double()[..., None], counts)
        err = (out.double() - dequant).abs()
        assert (err <= dequant.abs() * 2**-24 + 1e-12 * dequant.abs().max()).all(), name


def test_w4a8_expert_mlp_close_to_float(routed):
    moe, x, top_i, top_w, expected = routed
    gate_up, down = moe.experts.gate_up_proj.detach(), moe.experts.down_proj.detach()
    out, _, _ = _w4a8_experts(x, top_i, top_w, gate_up, down)
    # Same weights after int4 round-trip, float activations: isolates the int8 activation error.
    w13_q, s13 = quantize_weight_int4(gate_up)
    w2_q, s2 = quantize_weight_int4(down)
    fake_w4 = _float_experts(x, top_i, top_w, w13_q * s13[..., None], w2_q * s2[..., None])

    def cos(a, b):
        return F.cosine_similarity(a.flatten(), b.flatten(), dim=0).item()

    # int8 per-token activations cost little; 4-bit RTN weights (step max|w|/7, about 0.1 relative
    # error per GEMM on Gaussian weights) dominate: measured cos 0.979-0.985 on these layers.
    assert cos(out, fake_w4) > 0.999
    assert cos(out, expected) > 0.97
    assert (out - expected).norm() < 0.3 * expected.norm()
