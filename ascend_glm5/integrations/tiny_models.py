"""Tiny random GLM-5 (``GlmMoeDsa``) and DeepSeek-V3.2 (``DeepseekV32``) models from HF transformers,
and a recorder of their attention calls. Used by the tests and the demo; needs ``transformers``.

The models keep the kernel geometry (kv_lora_rank 512, qk_rope_head_dim 64, index_head_dim 128) and
shrink everything else, so they run in well under a second on CPU. ``index_topk`` is smaller than
the sequences used here, so the sparse selection matters.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import DeepseekV32Config, DeepseekV32ForCausalLM, GlmMoeDsaConfig, GlmMoeDsaForCausalLM

from ascend_glm5.integrations.transformers import INDEXER_ROPE  # noqa: F401  (re-exported for the tests)

KINDS = ("glm_moe_dsa", "deepseek_v32")

KERNEL_GEOMETRY = dict(kv_lora_rank=512, qk_rope_head_dim=64, index_head_dim=128)

_SMALL = dict(
    vocab_size=64,
    hidden_size=128,
    intermediate_size=96,
    moe_intermediate_size=32,
    num_hidden_layers=3,
    num_attention_heads=4,
    num_key_value_heads=4,
    n_routed_experts=4,
    n_shared_experts=1,
    num_experts_per_tok=2,
    n_group=1,
    topk_group=1,
    q_lora_rank=64,
    index_n_heads=8,
    index_topk=5,
    first_k_dense_replace=1,
    initializer_range=0.08,
)

_PER_KIND = {
    # GLM-5: default RoPE (theta 1e6), v_head_dim != qk_nope_head_dim as in the real model (192/256).
    "glm_moe_dsa": (
        GlmMoeDsaConfig,
        GlmMoeDsaForCausalLM,
        dict(
            qk_nope_head_dim=48,
            v_head_dim=64,
            max_position_embeddings=256,
            rope_parameters={"rope_type": "default", "rope_theta": 1e6},
        ),
    ),
    # DeepSeek-V3.2: YaRN (factor 40 over 4096), which also changes the softmax scale via mscale.
    "deepseek_v32": (
        DeepseekV32Config,
        DeepseekV32ForCausalLM,
        dict(
            qk_nope_head_dim=32,
            v_head_dim=32,
            max_position_embeddings=163840,
            rope_parameters={
                "rope_type": "yarn",
                "rope_theta": 1e4,
                "factor": 40.0,
                "original_max_position_embeddings": 4096,
                "beta_fast": 32,
                "beta_slow": 1,
                "mscale": 1.0,
                "mscale_all_dim": 1.0,
            },
        ),
    ),
}


def tiny_config(kind: str, **overrides):
    """A small config of model type ``kind`` ("glm_moe_dsa" or "deepseek_v32") with kernel geometry."""
    config_cls, _, extra = _PER_KIND[kind]
    config = config_cls(**{**_SMALL, **KERNEL_GEOMETRY, **extra, **overrides})
    config._attn_implementation = "eager"
    return config


def build_tiny_model(kind: str, *, seed: int = 0, **overrides):
    """A tiny fp32 eval-mode model with random weights; norm weights/biases are randomized too, so a
    missing gamma or bias shows up in comparisons."""
    _, model_cls, _ = _PER_KIND[kind]
    torch.manual_seed(seed)
    model = model_cls(tiny_config(kind, **overrides)).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm) or type(module).__name__.endswith("RMSNorm"):
                module.weight.add_(0.2 * torch.randn_like(module.weight))
                if getattr(module, "bias", None) is not None:
                    module.bias.add_(0.1 * torch.randn_like(module.bias))
    return model


@dataclass
class AttentionCall:
    """One call of a decoder layer's attention: its input (after ``input_layernorm``), RoPE tables,
    output (after ``o_proj``), the indexer's top-k (HF: int32 ``[B, S, index_topk]``; a patched
    model: the lightning_indexer's packed ``[T, 1, index_topk]``) and the 4-D attention mask."""

    hidden_states: torch.Tensor
    cos: torch.Tensor
    sin: torch.Tensor
    output: torch.Tensor
    topk: torch.Tensor | None = None
    attention_mask: torch.Tensor | None = None


class AttentionRecorder:
    """Context manager recording every attention call of ``model``: ``calls[layer]`` is a list of
    :class:`AttentionCall` in call order."""

    def __init__(self, model: torch.nn.Module):
        self.model = model
        self.calls: dict[int, list[AttentionCall]] = {}
        self._handles = []
        self._topk = None  # set by the indexer hook, consumed by the enclosing attention hook

    def __enter__(self):
        for idx, layer in enumerate(self.model.model.layers):
            attn = layer.self_attn
            self.calls[idx] = []
            self._handles.append(attn.register_forward_hook(self._attn_hook(idx), with_kwargs=True))
            if attn.indexer is not None:
                self._handles.append(attn.indexer.register_forward_hook(self._indexer_hook))
        return self

    def __exit__(self, *exc):
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _attn_hook(self, idx):
        def hook(module, args, kwargs, output):
            cos, sin = kwargs["position_embeddings"]
            hidden = kwargs["hidden_states"].detach()
            mask = kwargs.get("attention_mask")
            self.calls[idx].append(
                AttentionCall(hidden, cos.detach(), sin.detach(), output[0].detach(), self._topk, mask)
            )
            self._topk = None

        return hook

    def _indexer_hook(self, module, args, output):
        self._topk = output.detach()


@dataclass
class PrefillDecode:
    """A left-padded prefill of ``input_ids`` followed by one decode step, with recorded calls."""

    pad: list[int]  # left padding per batch row
    prefill: dict[int, list[AttentionCall]]
    decode: dict[int, list[AttentionCall]]
    cache: object  # the HF DynamicCache after the decode step


@torch.no_grad()
def run_prefill_decode(model, *, pad: list[int], seq_len: int, seed: int = 1) -> PrefillDecode:
    """Prefill ``len(pad)`` sequences of ``seq_len`` tokens (row ``b`` left-padded by ``pad[b]``), then
    decode one token each. Position ids count valid tokens only, as ``generate`` does."""
    gen = torch.Generator().manual_seed(seed)
    vocab = model.config.vocab_size
    batch = len(pad)
    input_ids = torch.randint(0, vocab, (batch, seq_len), generator=gen)
    mask = torch.ones(batch, seq_len, dtype=torch.long)
    for b, p in enumerate(pad):
        mask[b, :p] = 0
    position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
    with AttentionRecorder(model) as prefill:
        out = model(input_ids=input_ids, attention_mask=mask, position_ids=position_ids, use_cache=True)
    next_ids = torch.randint(0, vocab, (batch, 1), generator=gen)
    mask = torch.cat([mask, torch.ones(batch, 1, dtype=torch.long)], dim=-1)
    with AttentionRecorder(model) as decode:
        model(
            input_ids=next_ids,
            attention_mask=mask,
            position_ids=mask[:, :-1].sum(-1, keepdim=True),
            cache=out.cache,
            use_cache=True,
        )
    return PrefillDecode(list(pad), prefill.calls, decode.calls, out.cache)
