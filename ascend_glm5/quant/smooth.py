"""SmoothQuant for HF GLM-5 / DeepSeek-V3.2 float models (arXiv 2211.10438): per input channel ``j``
``s_j = max|X_j|**alpha / max|W_j|**(1 - alpha)``; the activation is divided by ``s`` where it is
produced and the consuming weights' columns are multiplied by it, so the model is unchanged while
activation outlier channels shrink and their weight columns grow.

Subgraphs, as msModelSlim's GLM-5 / DeepSeek-V3.2 adapters define them (``flex_smooth_quant``):
* norm-linear: ``input_layernorm`` -> q_a_proj, kv_a_proj_with_mqa, indexer wk / weights_proj;
  ``q_a_layernorm`` -> q_b_proj, indexer wq_b (the norm gain is divided by ``s``);
* ov: the V rows of kv_b_proj (divided) -> o_proj columns (multiplied), per head;
* up-down (w4a8 recipes, dense and shared MLPs): up_proj rows -> down_proj columns.
A subgraph is smoothed only when one of its consumers is quantized. ``post_attention_layernorm`` is
never smoothed (its consumers include the int4 experts and the float router).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class ChannelRange:
    """Per-input-channel min and max of a linear's input over the calibration tokens (fp32 [K])."""

    low: torch.Tensor
    high: torch.Tensor

    def absmax(self) -> torch.Tensor:
        return torch.maximum(self.low.abs(), self.high.abs())


def smoothing_scale(act_absmax: torch.Tensor, weights: list[torch.Tensor], alpha: float) -> torch.Tensor:
    """``s`` fp64 [K] for activation channel maxima ``act_absmax`` and consumer weights ``[N_i, K]``."""
    w_max = torch.stack([w.detach().double().abs().amax(dim=0) for w in weights]).amax(dim=0)
    a = act_absmax.double()
    s = a.pow(alpha) / w_max.clamp(min=1e-12).pow(1 - alpha)
    s = torch.where((a > 0) & (w_max > 0), s, torch.ones_like(s))
    return s.clamp(min=1e-5)


def _scale_cols(w: torch.Tensor, s: torch.Tensor) -> None:
    with torch.no_grad():
        w.copy_((w.double() * s).to(w.dtype))


def _scale_rows(w: torch.Tensor, rows: torch.Tensor, divisor: torch.Tensor) -> None:
    with torch.no_grad():
        w[rows] = (w[rows].double() / divisor[:, None]).to(w.dtype)


def smooth_norm_linear(norm, linears: list, act: ChannelRange, alpha: float) -> torch.Tensor:
    """Divide ``norm``'s gain by ``s``, multiply the linears' input columns by ``s``; returns ``s``."""
    s = smoothing_scale(act.absmax(), [lin.weight for lin in linears], alpha)
    with torch.no_grad():
        norm.weight.copy_((norm.weight.double() / s).to(norm.weight.dtype))
    for lin in linears:
        _scale_cols(lin.weight, s)
    return s


def smooth_ov(attn, act: ChannelRange, alpha: float) -> torch.Tensor:
    """kv_b_proj's V rows divided by ``s``, o_proj's columns multiplied (``s`` over heads x v_head_dim)."""
    s = smoothing_scale(act.absmax(), [attn.o_proj.weight], alpha)
    heads, nope, v = attn.num_heads, attn.qk_nope_head_dim, attn.v_head_dim
    rows = (torch.arange(heads)[:, None] * (nope + v) + nope + torch.arange(v)[None, :]).reshape(-1)
    _scale_rows(attn.kv_b_proj.weight, rows, s)
    _scale_cols(attn.o_proj.weight, s)
    return s


def smooth_up_down(mlp, act: ChannelRange, alpha: float) -> torch.Tensor:
    """up_proj's rows divided by ``s``, down_proj's columns multiplied (SwiGLU is linear in ``up``)."""
    s = smoothing_scale(act.absmax(), [mlp.down_proj.weight], alpha)
    _scale_rows(mlp.up_proj.weight, torch.arange(s.numel()), s)
    _scale_cols(mlp.down_proj.weight, s)
    return s
