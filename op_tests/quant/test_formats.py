"""What `quantize` writes equals msModelSlim's conventions for the same weights, bit for bit.

Expected values are computed here in numpy from the documented conventions (msModelSlim
`ir/api/impl/int_quantization.py`, saver `save/ascendv1.py`, `save/utils/pack.py`; summary in
docs/quantization.md), not with ascend_glm5's own helpers:
  int8 weight:   s = max(max_k |w| / 127, eps_fp32) (fp32),  q = clip(round_half_even(w / s), -128, 127)
  static W8A8:   deq_scale = fp32(input_scale * s), quant_bias = -input_offset * sum_k q
  int4 weight:   q = clip(round_half_even(w / s), -8, 7) for the stored s; packed [N/2, K] with
                 byte[j, k] = (q[2j+1, k] << 4) | (q[2j, k] & 0xF)
  scale_bias:    8 * s_n * sum_{k in chunk} q[n, k], fp32 [N, 1] (gate/up) or [N, 16] (down_proj)
"""

import json
import os
import re

import numpy as np
import pytest
import torch
from safetensors import safe_open

from ascend_glm5.quant.scales import activation_params_asymmetric

from .conftest import KINDS, SCHEMES

EPS = np.finfo(np.float32).eps


def _tensors(path):
    out = {}
    for file in os.listdir(path):
        if file.endswith(".safetensors"):
            with safe_open(os.path.join(path, file), "pt") as f:
                out.update({k: f.get_tensor(k) for k in f.keys()})
    return out


def _float_weights(src):
    return _tensors(src)


def _int8_minmax(w: np.ndarray):
    w32 = w.astype(np.float32)
    s = np.maximum(np.abs(w32).max(axis=1) / np.float32(127), EPS).astype(np.float32)
    return np.clip(np.round(w32 / s[:, None]), -128, 127).astype(np.int8), s


def _pack(q: np.ndarray) -> np.ndarray:
    byte = ((q[1::2].astype(np.int16) & 0xF) << 4) | (q[0::2].astype(np.int16) & 0xF)
    return byte.astype(np.uint8).view(np.int8)


def _scale_bias(q: np.ndarray, s: np.ndarray, chunks: int) -> np.ndarray:
    sums = q.astype(np.int64).reshape(q.shape[0], chunks, -1).sum(axis=2)
    return (8.0 * s.astype(np.float64)[:, None] * sums).astype(np.float32)  # exact in fp64, rounded once


# The recipes (msModelSlim lab_practice/glm_5/glm_5_{w8a8,w4a8}.yaml, deepseek_v3_2/deepseek_{w8a8,w4a8}.yaml)
ATTENTION = {
    ("glm_moe_dsa", "w8a8"): dict(q_a_proj="W8A8", q_b_proj="W8A8", kv_a_proj_with_mqa="W8A8", o_proj="W8A8",
                                  **{"indexer.wq_b": "W8A8"}),
    ("glm_moe_dsa", "w4a8"): dict(q_a_proj="W8A8_DYNAMIC", q_b_proj="W8A8_DYNAMIC", kv_a_proj_with_mqa="W8A8_DYNAMIC",
                                  o_proj="W8A8_DYNAMIC", **{"indexer.wq_b": "W8A8_DYNAMIC"}),
    ("deepseek_v32", "w8a8"): dict(q_a_proj="W8A8", q_b_proj="W8A8", kv_a_proj_with_mqa="W8A8", o_proj="W8A8",
                                   **{"indexer.wq_b": "FLOAT"}),
    ("deepseek_v32", "w4a8"): dict(q_a_proj="FLOAT", q_b_proj="W8A8_DYNAMIC", kv_a_proj_with_mqa="FLOAT",
                                   o_proj="W8A8_DYNAMIC", **{"indexer.wq_b": "FLOAT"}),
}  # fmt: skip
ALWAYS_FLOAT = ("self_attn.kv_b_proj.weight", "self_attn.indexer.wk.weight", "self_attn.indexer.weights_proj.weight",
                "mlp.gate.weight", "mlp.gate.e_score_correction_bias", "input_layernorm.weight")  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("scheme", SCHEMES)
def test_description_follows_the_recipe(exported, kind, scheme):
    _, dst, _ = exported(kind, scheme)
    with open(os.path.join(dst, "quant_model_description.json")) as f:
        desc = json.load(f)
    with open(os.path.join(dst, "quant_model_weights.safetensors.index.json")) as f:
        index = json.load(f)
    tensors = _tensors(dst)
    assert desc["version"] == "1.0.0" and desc["group_size"] == 0
    assert desc["model_quant_type"] == ("W8A8" if scheme == "w8a8" else "W8A8_DYNAMIC")  # W4A8 is never reported
    assert set(index["weight_map"]) == set(tensors)
    assert all(re.fullmatch(r"quant_model_weights-\d{5}-of-\d{5}\.safetensors", f) for f in index["weight_map"].values())
    described = {k for k, v in desc.items() if isinstance(v, str) and k not in ("version", "model_quant_type")}
    assert described == set(tensors)  # every tensor described, nothing else
    for proj, qtype in ATTENTION[kind, scheme].items():
        assert desc[f"model.layers.1.self_attn.{proj}.weight"] == qtype, proj
    experts = "W8A8_DYNAMIC" if scheme == "w8a8" else "W4A8_DYNAMIC"
    for e in range(4):
        for proj in ("gate_proj", "up_proj", "down_proj"):
            assert desc[f"model.layers.1.mlp.experts.{e}.{proj}.weight"] == experts
            assert desc[f"model.layers.2.mlp.shared_experts.{proj}.weight"] == "W8A8_DYNAMIC"
            assert desc[f"model.layers.0.mlp.{proj}.weight"] == "W8A8_DYNAMIC"
    for name in ALWAYS_FLOAT:
        assert desc[f"model.layers.2.{name}"] == "FLOAT", name
    for name in ("model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"):
        assert desc[name] == "FLOAT"


@pytest.mark.parametrize("kind", KINDS)
def test_w8a8_dynamic_tensors_are_msmodelslims(exported, kind):
    src, dst, _ = exported(kind, "w4a8")
    weights, saved = _float_weights(src), _tensors(dst)
    names = [n[: -len(".weight")] for n, t in saved.items() if n.endswith(".weight") and t.dtype == torch.int8
             and f"{n[:-len('.weight')]}.scale_bias" not in saved]  # fmt: skip
    assert len(names) >= 10
    for name in names:
        q, s = _int8_minmax(weights[f"{name}.weight"].numpy())
        assert np.array_equal(saved[f"{name}.weight"].numpy(), q), name
        scale = saved[f"{name}.weight_scale"]
        assert scale.dtype == torch.float32 and tuple(scale.shape) == (q.shape[0], 1)
        assert np.array_equal(scale.numpy()[:, 0], s), name
        offset = saved[f"{name}.weight_offset"]
        assert offset.dtype == torch.float32 and tuple(offset.shape) == (q.shape[0], 1) and not offset.any()


@pytest.mark.parametrize("kind", KINDS)
def test_w8a8_static_tensors_are_msmodelslims(exported, kind):
    src, dst, _ = exported(kind, "w8a8")
    weights, saved = _float_weights(src), _tensors(dst)
    names = [n[: -len(".quant_bias")] for n in saved if n.endswith(".quant_bias")]
    assert len(names) >= 8
    for name in names:
        q, s = _int8_minmax(weights[f"{name}.weight"].numpy())
        assert np.array_equal(saved[f"{name}.weight"].numpy(), q), name
        in_scale, in_offset = saved[f"{name}.input_scale"], saved[f"{name}.input_offset"]
        assert in_scale.dtype == in_offset.dtype == torch.float32 and in_scale.shape == in_offset.shape == (1,)
        o = float(in_offset)
        assert o == round(o) and -128 <= o <= 127 and float(in_scale) > 0
        deq = np.float32(in_scale.numpy()[0]) * s  # fp32 product
        # fp32 model: deq_scale stored as its fp32 bit pattern in an int64 (msModelSlim deqscale2int64)
        stored = saved[f"{name}.deq_scale"]
        assert stored.dtype == torch.int64 and tuple(stored.shape) == (q.shape[0],)
        assert np.array_equal(stored.numpy(), deq.astype(np.float32).view(np.int32).astype(np.int64)), name
        bias = saved[f"{name}.quant_bias"]
        assert bias.dtype == torch.int32
        assert np.array_equal(bias.numpy(), (-int(o) * q.astype(np.int64).sum(axis=1)).astype(np.int32)), name
        assert f"{name}.weight_scale" not in saved  # msModelSlim's static saver writes none


@pytest.mark.parametrize("kind", KINDS)
def test_w4a8_expert_tensors_are_msmodelslims(exported, kind):
    src, dst, _ = exported(kind, "w4a8")
    weights, saved = _float_weights(src), _tensors(dst)
    checked = 0
    for name in [n[: -len(".scale_bias")] for n in saved if n.endswith(".scale_bias")]:
        w = weights[f"{name}.weight"].numpy().astype(np.float32)
        s = saved[f"{name}.weight_scale"].numpy()[:, 0]
        q = np.clip(np.round(w / s[:, None]), -8, 7).astype(np.int8)
        packed = saved[f"{name}.weight"]
        assert packed.dtype == torch.int8 and tuple(packed.shape) == (w.shape[0] // 2, w.shape[1])
        assert np.array_equal(packed.numpy(), _pack(q)), name
        chunks = 16 if name.endswith("down_proj") else 1
        sb = saved[f"{name}.scale_bias"]
        assert sb.dtype == torch.float32 and tuple(sb.shape) == (w.shape[0], chunks)
        assert np.array_equal(sb.numpy(), _scale_bias(q, s, chunks)), name
        assert not saved[f"{name}.weight_offset"].any()
        # SSZ: never a worse per-channel fit than minmax (s = max|w| / 7)
        s0 = np.maximum(np.abs(w).max(axis=1) / np.float32(7), EPS).astype(np.float32)
        q0 = np.clip(np.round(w / s0[:, None]), -8, 7)
        err = ((w - q * s[:, None]) ** 2).mean(axis=1)
        err0 = ((w - q0 * s0[:, None]) ** 2).mean(axis=1)
        assert (err <= err0 * (1 + 1e-6)).all(), name
        checked += 1
    assert checked == 2 * 4 * 3  # two MoE layers x four experts x (gate, up, down)


def test_activation_params_follow_msmodelslim():
    for lo, hi in ((-3.0, 5.0), (0.5, 2.0), (-4.0, -1.0), (-1e-3, 7.25), (0.0, 0.0)):
        scale, offset = activation_params_asymmetric(lo, hi)
        l32, h32 = np.float32(min(lo, 0.0)), np.float32(max(hi, 0.0))
        s = np.maximum(h32 / np.float32(255) - l32 / np.float32(255), EPS).astype(np.float32)
        assert scale.dtype == offset.dtype == torch.float32
        assert float(scale) == float(s)
        assert float(offset) == float(np.round(-l32 / s) - 128)


def test_bf16_model_keeps_deq_scale_fp32(tmp_path):
    """msModelSlim writes deq_scale as fp32 for bf16 models (int64 bits otherwise) and FLOAT tensors in
    the model's dtype."""
    from ascend_glm5.integrations.tiny_models import build_tiny_model
    from ascend_glm5.quant.quantizer import Options, quantize

    src, dst = tmp_path / "src", tmp_path / "dst"
    build_tiny_model("deepseek_v32", seed=0, num_hidden_layers=1, first_k_dense_replace=1).to(
        torch.bfloat16).save_pretrained(src)  # fmt: skip
    quantize(str(src), str(dst), Options(scheme="w8a8", progress=False, calib_sequences=2, calib_length=16))
    saved = _tensors(dst)
    assert saved["model.layers.0.self_attn.o_proj.deq_scale"].dtype == torch.float32
    assert saved["model.layers.0.self_attn.kv_b_proj.weight"].dtype == torch.bfloat16
    assert saved["model.embed_tokens.weight"].dtype == torch.bfloat16
