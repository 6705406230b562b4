"""The W4A8 MoE chain (ascend_glm5.quant.moe) as the experts of HF GLM-5 / DeepSeek-V3.2 MoE blocks.

``backend="kernels"`` (dynamic_quant, grouped_matmul_a8w4, dequant_swiglu_quant: our ops) is checked
against the same block computed with the reference ops, composed independently here from the
element-by-element references. Tolerance (bf16 block): 2**-6 of the magnitude of the summed terms,
``sum_k |w_k| |y_k|``: the int8/int32 steps are exact or bit-exact on the emulator (int32 GEMM sums,
dynamic_quant, dequant_swiglu_quant measured bit-exact), so what remains is the bf16 rounding of
each down-projection row (at most 1 bf16 ulp <= 2**-7 relative between a kernel with an fp32
epilogue and the exactly rounded reference) and the final rounding of the fp32 combine to bf16
(half an ulp <= 2**-8). fp32 models (down-projection in fp32) are held to 1e-5 of the logit range.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("transformers")

from ascend_glm5 import reference  # noqa: E402
from ascend_glm5.integrations.tiny_models import KINDS, build_tiny_model  # noqa: E402
from ascend_glm5.ops._backend import cpu_module  # noqa: E402
from ascend_glm5.quant import quantize_weight_int4, unpack_int4_int32  # noqa: E402
from ascend_glm5.quant.moe import W4A8MoeExperts, quantize_moe_experts, set_moe_backend  # noqa: E402
from ascend_glm5.reference.moe_routing import moe_finalize_routing, moe_init_routing_v2  # noqa: E402

# 8 experts, 3 per token; moe_intermediate 48 (gate_up 96: a SwiGLU half that is not a multiple of 64).
GEOMETRY = dict(n_routed_experts=8, num_experts_per_tok=3, moe_intermediate_size=48)
TOKENS = 40


@pytest.fixture(scope="module", params=KINDS)
def block(request):
    """(kind, bf16 MoE block, bf16 hidden states, top-k ids, top-k weights, float expert output)."""
    model = build_tiny_model(request.param, seed=0, **GEOMETRY)
    moe = model.model.layers[1].mlp.to(torch.bfloat16)
    x = torch.randn(TOKENS, model.config.hidden_size, generator=torch.Generator().manual_seed(1)).to(torch.bfloat16)
    with torch.no_grad():
        _, weights, ids = moe.gate(x)
        expected = moe.experts(x, ids, weights)
    return request.param, moe, x, ids, weights, expected


def _reference_chain(q: W4A8MoeExperts, x, ids, weights):
    """The chain from the reference ops and the element-by-element routing reference: the output
    and the magnitude ``sum_k |w_k| |y_k|`` of its terms."""
    tokens, top_k = ids.shape
    x_q, x_scale = reference.dynamic_quant(x)
    rows, row_idx, counts, row_scale = moe_init_routing_v2(x_q, ids, scale=x_scale, expert_num=q.num_experts)
    h = reference.grouped_matmul_a8w4(rows, q.w13_weight, q.w13_scale, row_scale, counts, output_dtype=torch.int32)
    a_q, a_scale = reference.dequant_swiglu_quant(h, weight_scale=q.w13_scale, activation_scale=row_scale,
                                                  group_index=counts, activate_left=True)
    y = reference.grouped_matmul_a8w4(a_q, q.w2_weight, q.w2_scale, a_scale, counts, output_dtype=torch.float32)
    out = moe_finalize_routing(y.to(x.dtype), None, None, None, weights, row_idx, ids, 2, tokens=tokens)
    magnitude = moe_finalize_routing(y.abs(), None, None, None, weights.abs(), row_idx, ids, 2, tokens=tokens)
    return out, magnitude


@pytest.mark.parametrize("backend", ["kernels", "reference"])
def test_chain_matches_reference_ops_within_bf16_rounding(block, backend):
    kind, moe, x, ids, weights, _ = block
    q = W4A8MoeExperts.from_float(moe.experts, backend=backend)
    launches = cpu_module().cumulative_launches()
    with torch.no_grad():
        out = q(x, ids, weights)
    launched = cpu_module().cumulative_launches() - launches
    # The kernels backend runs the kernels (dynamic_quant, moe_init_routing_v2, dequant_swiglu_quant,
    # moe_finalize_routing, and the two GEMMs once their kernel is built); the reference backend none.
    assert launched >= 4 if backend == "kernels" else launched == 0
    want, magnitude = _reference_chain(q, x, ids, weights)
    assert out.dtype == torch.bfloat16 and out.shape == x.shape
    err = (out.float() - want.float()).abs()
    assert (err <= 2**-6 * magnitude).all(), (kind, (err / magnitude.clamp(min=1e-30)).max().item())


def test_whole_block_with_w4a8_experts(block):
    # The MoE block (router + W4A8 experts + float shared expert) on both backends.
    kind, moe, x, ids, weights, _ = block
    original = moe.experts
    try:
        moe.experts = W4A8MoeExperts.from_float(original, backend="kernels")
        with torch.no_grad():
            out_kernels = moe(x)
            moe.experts.backend = "reference"
            out_reference = moe(x)
            shared = moe.shared_experts(x)
        _, magnitude = _reference_chain(moe.experts, x, ids, weights)
    finally:
        moe.experts = original
    # On top of the experts' bound: both add the same shared-expert output and round to bf16 again.
    err = (out_kernels.float() - out_reference.float()).abs()
    assert (err <= 2**-6 * magnitude + 2**-7 * (out_reference.float().abs() + shared.float().abs())).all()


def test_close_to_the_float_experts(block):
    # Quantization error, not a kernel check: W4A8 (minmax int4 weights, int8 activations) against
    # HF's bf16 experts, and against the same int4 weights with float activations.
    kind, moe, x, ids, weights, expected = block
    q = W4A8MoeExperts.from_float(moe.experts, backend="reference")
    with torch.no_grad():
        out = q(x, ids, weights).float()
        gate_up_q, gate_up_s = quantize_weight_int4(moe.experts.gate_up_proj.float())
        down_q, down_s = quantize_weight_int4(moe.experts.down_proj.float())
        fake = moe.experts.float()
        saved = fake.gate_up_proj.data.clone(), fake.down_proj.data.clone()
        fake.gate_up_proj.data = gate_up_q * gate_up_s[..., None]
        fake.down_proj.data = down_q * down_s[..., None]
        fake_w4 = fake(x.float(), ids, weights)
        fake.gate_up_proj.data, fake.down_proj.data = saved
        moe.experts.to(torch.bfloat16)

    def cos(a, b):
        return F.cosine_similarity(a.flatten(), b.flatten(), dim=0).item()

    # int8 per-token activations cost little (measured cos 0.9995+); 4-bit minmax weights cost more
    # (measured 0.98 on these random layers). A swapped gate/up order would give cos ~ 0.
    assert cos(out, fake_w4) > 0.998, kind
    assert cos(out, expected.float()) > 0.97, kind


def test_converter_layout_and_prepared_weights(block):
    kind, moe, *_ = block
    gate_up = moe.experts.gate_up_proj.detach()
    q = W4A8MoeExperts.from_float(moe.experts)
    w_q, s = quantize_weight_int4(gate_up)
    assert torch.equal(unpack_int4_int32(q.w13_weight), w_q.transpose(1, 2)) and torch.equal(q.w13_scale, s)
    assert q.w13_weight.shape == (8, moe.experts.hidden_dim, 2 * 48 // 8) and q.w2_weight.shape == (8, 48, 128 // 8)
    # Prepared (w_q, scale) pairs are taken as given (e.g. SSZ scales): halve every scale and double
    # nothing else -> the stored scales are exactly the given ones.
    prepared = W4A8MoeExperts.from_float(moe.experts, gate_up=(w_q, s / 2), down=quantize_weight_int4(
        moe.experts.down_proj.detach()))
    assert torch.equal(prepared.w13_scale, s / 2) and torch.equal(prepared.w13_weight, q.w13_weight)
    with pytest.raises(ValueError, match="gate_up w_q must have the float weight's shape"):
        W4A8MoeExperts.from_float(moe.experts, gate_up=(w_q[:, :8], s[:, :8]))
    with pytest.raises(ValueError, match="backend must be one of"):
        q.backend = "npu"


def test_no_expert_slots_and_empty_batch(block):
    # HF marks "no expert" with id E; such slots contribute nothing (same as a zero weight).
    kind, moe, x, ids, weights, _ = block
    q = W4A8MoeExperts.from_float(moe.experts, backend="kernels")
    dropped = ids.clone()
    dropped[::3, 0] = q.num_experts
    zero_weight = weights.clone()
    zero_weight[::3, 0] = 0
    with torch.no_grad():
        a = q(x, dropped, weights)
        b = q(x, ids, zero_weight)
        assert torch.equal(a, b), kind
        empty = q(x[:0], ids[:0], weights[:0])
    assert empty.shape == (0, x.shape[1]) and empty.dtype == x.dtype


def test_full_model_logits_on_both_backends():
    # All MoE layers of a tiny fp32 GLM-5 quantized; the fp32 down-projection keeps the two backends
    # within fp32 rounding, and the quantized model stays close to the float one.
    model = build_tiny_model("glm_moe_dsa", seed=0, **GEOMETRY)
    ids = torch.randint(0, model.config.vocab_size, (2, 12), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        float_logits = model(input_ids=ids).logits
        assert quantize_moe_experts(model, backend="kernels") == 2
        kernels = model(input_ids=ids).logits
        set_moe_backend(model, "reference")
        ref = model(input_ids=ids).logits
    assert (kernels - ref).abs().max() <= 1e-5 * ref.abs().max()
    assert F.cosine_similarity(kernels.flatten(), float_logits.flatten(), dim=0) > 0.99
