"""QuaRot for HF GLM-5 / DeepSeek-V3.2 float models: RMSNorm gains folded into the next linears, then
Hadamard rotations folded into the weights, so the model computes the same function while the
activations the quantized linears see have their outlier channels spread over all channels.

The map is msModelSlim's GLM-5 one (``msmodelslim/model/glm_5/quarot.py``, ``model_adapter.py``), all
offline (nothing rotates at run time):

* norm folds (``W <- W diag(g)``, ``g <- 1``): ``input_layernorm`` -> q_a_proj, kv_a_proj_with_mqa,
  indexer.wk, indexer.weights_proj; ``q_a_layernorm`` -> q_b_proj, indexer.wq_b; ``kv_a_layernorm``
  -> kv_b_proj; ``post_attention_layernorm`` -> dense gate/up, routed and shared gate/up, router gate;
  ``model.norm`` -> lm_head;
* residual rotation ``Q`` (hidden size): embed ``E <- E Q``; linears reading the residual ``W <- W Q``
  (the ones above fed by input/post-attention norms, and lm_head); linears writing it ``W <- Q^T W``
  (o_proj, down_proj of dense, routed and shared MLPs);
* ``Q_b`` (q_lora_rank): rows of q_a_proj, columns of q_b_proj and indexer.wq_b;
* ``Q_kv`` (kv_lora_rank, identity on the rope rows): rows of kv_a_proj_with_mqa, columns of kv_b_proj
  (the latent KV cache is stored rotated);
* ``Q_v`` (v_head_dim, per head): the V rows of kv_b_proj, the matching o_proj columns.

RMSNorm without gain commutes with an orthogonal ``Q`` (``||x Q|| = ||x||``), which makes every step exact
in real arithmetic. Rotations are random-sign Hadamards (:func:`ascend_glm5.quant.hadamard.random_hadamard`),
any size ``m * 2**a`` with a Paley block ``m`` (6144 = 12 * 512, 7168 = 28 * 256).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .hadamard import random_hadamard


@dataclass
class Rotations:
    """The rotations folded into a model (float64): ``hidden`` is msModelSlim's ``global_rotation``."""

    hidden: torch.Tensor
    q_lora: torch.Tensor
    kv_lora: torch.Tensor
    v_head: torch.Tensor


def _mul_cols(w: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """``w @ m`` computed in float64, back in ``w``'s dtype (``m`` acts on the input channels)."""
    return (w.double() @ m).to(w.dtype)


def _mul_rows(m_t: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return (m_t @ w.double()).to(w.dtype)


def _set(param: nn.Parameter, value: torch.Tensor) -> None:
    with torch.no_grad():
        param.copy_(value)


def _fold_norm(norm: nn.Module, consumers: list[torch.Tensor]) -> None:
    """Fold ``norm``'s gain into the input columns of ``consumers`` (weights ``[..., N, K]``), then set it to 1."""
    gain = norm.weight.detach().double()
    for w in consumers:
        _set(w, (w.double() * gain).to(w.dtype))
    _set(norm.weight, torch.ones_like(norm.weight))


def _layer_parts(layer):
    """(attention, its indexer or None, dense MLP or None, MoE or None) of a decoder layer."""
    attn = layer.self_attn
    mlp = layer.mlp
    moe = mlp if hasattr(mlp, "experts") else None
    return attn, attn.indexer, (None if moe else mlp), moe


def fold_norms(model) -> None:
    """Step 1: every RMSNorm gain folded into the linears it feeds (gains become 1)."""
    for layer in model.model.layers:
        attn, indexer, dense, moe = _layer_parts(layer)
        readers = [attn.q_a_proj.weight, attn.kv_a_proj_with_mqa.weight]
        if indexer is not None:
            readers += [indexer.wk.weight, indexer.weights_proj.weight]
        _fold_norm(layer.input_layernorm, readers)
        _fold_norm(attn.q_a_layernorm, [attn.q_b_proj.weight] + ([indexer.wq_b.weight] if indexer is not None else []))
        _fold_norm(attn.kv_a_layernorm, [attn.kv_b_proj.weight])
        if dense is not None:
            post = [dense.gate_proj.weight, dense.up_proj.weight]
        else:
            post = [moe.experts.gate_up_proj, moe.shared_experts.gate_proj.weight, moe.shared_experts.up_proj.weight,
                    moe.gate.weight]  # fmt: skip
        _fold_norm(layer.post_attention_layernorm, post)
    _fold_norm(model.model.norm, [model.lm_head.weight])


def make_rotations(config, seed: int = 1234) -> Rotations:
    return Rotations(
        hidden=random_hadamard(config.hidden_size, seed),
        q_lora=random_hadamard(config.q_lora_rank, seed + 1),
        kv_lora=random_hadamard(config.kv_lora_rank, seed + 2),
        v_head=random_hadamard(config.v_head_dim, seed + 3),
    )


def apply_quarot(model, seed: int = 1234) -> Rotations:
    """Fold norms and rotations into ``model`` (an HF ``GlmMoeDsaForCausalLM`` / ``DeepseekV32ForCausalLM``,
    in place). The model computes the same logits (to float rounding). Returns the rotations."""
    config = model.config
    if getattr(config, "tie_word_embeddings", False):
        raise ValueError("QuaRot needs untied embeddings (the norm gain is folded into lm_head only)")
    if getattr(config, "attention_bias", False):
        raise ValueError("QuaRot here assumes attention_bias=False (GLM-5 / DeepSeek-V3.2 have no biases)")
    rot = make_rotations(config, seed)
    q, qt = rot.hidden, rot.hidden.T
    fold_norms(model)
    nope, v = config.qk_nope_head_dim, config.v_head_dim
    heads = config.num_attention_heads
    kv_rows = torch.block_diag(rot.kv_lora, torch.eye(config.qk_rope_head_dim, dtype=torch.float64))
    # per head [nope | v] rows of kv_b_proj: identity on nope, Q_v on v
    kvb_rows = torch.block_diag(*([torch.eye(nope, dtype=torch.float64), rot.v_head] * heads))
    o_cols = torch.block_diag(*([rot.v_head] * heads))
    with torch.no_grad():
        emb = model.model.embed_tokens.weight
        _set(emb, _mul_cols(emb, q))
        _set(model.lm_head.weight, _mul_cols(model.lm_head.weight, q))
        for layer in model.model.layers:
            attn, indexer, dense, moe = _layer_parts(layer)
            # q path: residual in, Q_b out
            _set(attn.q_a_proj.weight, _mul_rows(rot.q_lora.T, _mul_cols(attn.q_a_proj.weight, q)))
            _set(attn.q_b_proj.weight, _mul_cols(attn.q_b_proj.weight, rot.q_lora))
            _set(attn.kv_a_proj_with_mqa.weight, _mul_rows(kv_rows.T, _mul_cols(attn.kv_a_proj_with_mqa.weight, q)))
            _set(attn.kv_b_proj.weight, _mul_rows(kvb_rows.T, _mul_cols(attn.kv_b_proj.weight, rot.kv_lora)))
            _set(attn.o_proj.weight, _mul_rows(qt, _mul_cols(attn.o_proj.weight, o_cols)))
            if indexer is not None:
                for w in (indexer.wk.weight, indexer.weights_proj.weight):
                    _set(w, _mul_cols(w, q))
                _set(indexer.wq_b.weight, _mul_cols(indexer.wq_b.weight, rot.q_lora))
            mlps = [dense] if dense is not None else [moe.shared_experts]
            for mlp in mlps:
                for w in (mlp.gate_proj.weight, mlp.up_proj.weight):
                    _set(w, _mul_cols(w, q))
                _set(mlp.down_proj.weight, _mul_rows(qt, mlp.down_proj.weight))
            if moe is not None:
                _set(moe.gate.weight, _mul_cols(moe.gate.weight, q))
                ex = moe.experts
                _set(ex.gate_up_proj, _mul_cols(ex.gate_up_proj, q))  # [E, 2I, D] @ Q
                _set(ex.down_proj, _mul_rows(qt, ex.down_proj))  # Q^T @ [E, D, I]
    return rot
