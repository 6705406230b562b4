"""``W8A8_DYNAMIC`` routed experts (msModelSlim's w8a8 recipes), a drop-in for HF
``GlmMoeDsaExperts`` / ``DeepseekV32Experts``: ``experts(hidden [T, D], top_k_index [T, K],
top_k_weights [T, K]) -> [T, D]``. (``W4A8_DYNAMIC`` experts are :class:`ascend_glm5.quant.moe.W4A8MoeExperts`.)

The chain, the same as the W4A8 one with int8 weights::

    dynamic_quant (each token once) -> moe_init_routing_v2 (rows sorted by expert, group_list)
      -> per expert: quant_matmul(gate), quant_matmul(up) with exact int32 output
      -> dequant_swiglu_quant (per-expert weight scales, per-row activation scales; int8 + scale out)
      -> per expert: quant_matmul(down) -> moe_finalize_routing (weighted combine, token order)

Per-expert weights stay the checkpoint's ``[N, K]`` int8 tensors: ``quant_matmul`` reads ``weight.t()``
in place (there is no grouped int8 x int8 matmul here, so each expert with tokens is one launch).
"""

from __future__ import annotations

import torch
from torch import nn

from .linear import QuantModule, kernel_input


class W8A8DynamicExperts(QuantModule):
    quant_type = "W8A8_DYNAMIC"

    def __init__(self, gate: list, up: list, down: list, *, backend: str = "kernels"):
        """``gate``, ``up``, ``down``: per expert ``(weight int8 [N, K], weight_scale fp32 [N])``."""
        super().__init__(backend)
        self.num_experts = len(gate)
        if not (len(up) == len(down) == self.num_experts) or self.num_experts == 0:
            raise ValueError("gate, up and down need one entry per expert")
        self.intermediate_dim, self.hidden_dim = gate[0][0].shape
        for e in range(self.num_experts):  # children "0", "1", ...: state_dict keys are msModelSlim's names
            self.add_module(str(e), _Expert(gate[e], up[e], down[e]))
        scales = [torch.cat([g[1], u[1]]) for g, u in zip(gate, up)]
        self.register_buffer("gate_up_scale", torch.stack(scales), persistent=False)  # [E, 2I] for the SwiGLU step

    def extra_repr(self) -> str:
        return (f"num_experts={self.num_experts}, hidden={self.hidden_dim}, intermediate={self.intermediate_dim}, "
                f"backend={self.backend}")  # fmt: skip

    def forward(self, hidden_states: torch.Tensor, top_k_index: torch.Tensor, top_k_weights: torch.Tensor):
        f = self.ops
        tokens, top_k = top_k_index.shape
        experts = self.num_experts
        x_q, x_scale = f.dynamic_quant(kernel_input(hidden_states))
        rows, row_idx, group_list, row_scale = f.moe_init_routing_v2(
            x_q, top_k_index, scale=x_scale, active_num=tokens * top_k, expert_num=experts, expert_tokens_num_type=1,
            expert_tokens_num_flag=True, quant_mode=-1, active_expert_range=[0, experts], row_idx_type=0,
        )  # fmt: skip
        counts = group_list.tolist()
        gate_up = torch.zeros(rows.shape[0], 2 * self.intermediate_dim, dtype=torch.int32, device=rows.device)
        start = 0
        for e, count in enumerate(counts):
            if count:
                part = rows[start : start + count]
                expert = self.get_submodule(str(e))
                for half, linear in ((0, expert.gate_proj), (1, expert.up_proj)):
                    cols = slice(half * self.intermediate_dim, (half + 1) * self.intermediate_dim)
                    gate_up[start : start + count, cols] = f.quant_matmul(part, linear.weight.t(), linear.weight_scale,
                                                                          output_dtype=torch.int32)  # fmt: skip
            start += count
        act_q, act_scale = f.dequant_swiglu_quant(gate_up, weight_scale=self.gate_up_scale, activation_scale=row_scale,
                                                  group_index=group_list, activate_left=True, quant_mode=1)  # fmt: skip
        down = torch.zeros(rows.shape[0], self.hidden_dim, dtype=hidden_states.dtype, device=rows.device)
        start = 0
        for e, count in enumerate(counts):
            if count:
                linear = self.get_submodule(str(e)).down_proj
                down[start : start + count] = f.quant_matmul(
                    act_q[start : start + count], linear.weight.t(), linear.weight_scale,
                    pertoken_scale=act_scale[start : start + count], output_dtype=hidden_states.dtype,
                )  # fmt: skip
            start += count
        out = f.moe_finalize_routing(down, None, None, None, top_k_weights, row_idx, top_k_index, drop_pad_mode=2)
        return out.to(hidden_states.dtype)


class _Weight(nn.Module):
    """One expert projection's int8 ``weight`` [N, K] and fp32 ``weight_scale`` [N] (checkpoint names)."""

    def __init__(self, weight: torch.Tensor, weight_scale: torch.Tensor):
        super().__init__()
        self.register_buffer("weight", weight)
        self.register_buffer("weight_scale", weight_scale)


class _Expert(nn.Module):
    def __init__(self, gate, up, down):
        super().__init__()
        self.gate_proj, self.up_proj, self.down_proj = _Weight(*gate), _Weight(*up), _Weight(*down)
