"""W4A8 routed experts: the quantized MoE FFN chain as a drop-in ``experts`` module for HF
``GlmMoeDsaForCausalLM`` / ``DeepseekV32ForCausalLM`` MoE blocks.

    x [T, H] --dynamic_quant--> int8 + per-token scale
      --moe_init_routing_v2--> rows sorted by expert, tokens per expert (group_list)
      --grouped_matmul_a8w4(gate_up, int32 out)--> exact int32 sums [T*K, 2I]
      --dequant_swiglu_quant--> int8 + per-row scale [T*K, I]   (no float round trip through GM)
      --grouped_matmul_a8w4(down)--> [T*K, H]
      --moe_finalize_routing--> sum_k top_k_weight * row, back in token order [T, H]

Each token is quantized once, before the gather (quantizing each of its K copies gives the same
int8 row and scale, K times the work). ``backend="kernels"`` runs our ops (the AscendC kernels,
emulated on the CPU, natively on an NPU); ``backend="reference"`` runs their pure-torch references
with the same arguments (per-token quant, exact integer GEMMs), so the two are comparable step
for step. Design and measurements: docs/ops/moe_w4a8.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .. import ops, reference
from ..reference import moe_routing as reference_routing
from .int4_pack import msmodelslim_to_int32, pack_int4_int8
from .w4a8 import quantize_weight_int4

BACKENDS = ("kernels", "reference")


@dataclass(frozen=True)
class _Ops:
    dynamic_quant: Callable
    moe_init_routing_v2: Callable
    grouped_matmul_a8w4: Callable
    dequant_swiglu_quant: Callable
    moe_finalize_routing: Callable


# The reference functions take the arguments the chain passes (torch_npu names), minus the mode
# switches that only select what the ops support.
def _reference_init_routing(x, expert_idx, *, scale, expert_num, active_expert_range, **modes):
    assert modes == dict(active_num=x.shape[0] * expert_idx.shape[1], expert_tokens_num_type=1,
                         expert_tokens_num_flag=True, quant_mode=-1, row_idx_type=0)
    return reference_routing.moe_init_routing_v2(x, expert_idx, scale=scale, expert_num=expert_num,
                                                 active_expert_range=active_expert_range)


def _reference_dequant_swiglu_quant(x, *, weight_scale, activation_scale, group_index, activate_left, quant_mode):
    assert quant_mode == 1
    return reference.dequant_swiglu_quant(x, weight_scale=weight_scale, activation_scale=activation_scale,
                                          group_index=group_index, activate_left=activate_left)


def _reference_finalize_routing(rows, skip1, skip2, bias, scales, dst, experts, drop_pad_mode):
    return reference_routing.moe_finalize_routing(rows, skip1, skip2, bias, scales, dst, experts, drop_pad_mode,
                                                  tokens=scales.shape[0])


_BACKEND_OPS = {
    "kernels": _Ops(ops.dynamic_quant, ops.moe_init_routing_v2, ops.grouped_matmul_a8w4, ops.dequant_swiglu_quant,
                    ops.moe_finalize_routing),
    "reference": _Ops(reference.dynamic_quant, _reference_init_routing, reference.grouped_matmul_a8w4,
                      _reference_dequant_swiglu_quant, _reference_finalize_routing),
}


def gmm_weight(w_q: torch.Tensor, scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """int4 values ``[E, N, K]`` (``nn.Linear`` layout, any int dtype) and scales ``[E, N]`` (or
    ``[E, N, 1]`` as msModelSlim stores them) -> the grouped matmul's int32 ``[E, K, N/8]`` and
    float32 ``[E, N]``, through msModelSlim's packed file layout and vllm-ascend's conversion."""
    if w_q.dim() != 3 or w_q.shape[1] % 8:
        raise ValueError(f"w_q must be [E, N, K] int4 values with N % 8 == 0, got shape {tuple(w_q.shape)}")
    scale = scale.reshape(w_q.shape[0], w_q.shape[1]).float().contiguous()
    return msmodelslim_to_int32(pack_int4_int8(w_q)), scale


class W4A8MoeExperts(nn.Module):
    """Routed experts with int4 per-channel weights and int8 per-token activations.

    Buffers (the grouped matmul's layout, as vllm-ascend loads msModelSlim ``W4A8_DYNAMIC``):
    ``w13_weight`` int32 ``[E, H, 2I/8]`` (gate rows first, then up, as HF's ``gate_up_proj``),
    ``w13_scale`` float32 ``[E, 2I]``, ``w2_weight`` int32 ``[E, I, H/8]``, ``w2_scale`` float32 ``[E, H]``.
    msModelSlim's ``scale_bias`` is not needed: the grouped matmul computes int8 x int4 exactly.

    ``forward(hidden_states [T, H], top_k_index [T, K], top_k_weights [T, K]) -> [T, H]`` as HF's
    experts module: expert ids outside ``[0, E)`` (HF uses ``E`` for "no expert") contribute nothing.
    fp32 ``hidden_states`` are rounded to bf16 before quantization (the quantizer takes fp16/bf16;
    int8 per-token quantization is coarser than that rounding). The down-projection writes the
    hidden dtype (fp32 for fp32 models) and the weighted combine runs in fp32.
    """

    def __init__(self, w13_weight: torch.Tensor, w13_scale: torch.Tensor, w2_weight: torch.Tensor,
                 w2_scale: torch.Tensor, *, backend: str = "kernels"):
        super().__init__()
        if w13_weight.dtype != torch.int32 or w2_weight.dtype != torch.int32 or w13_weight.dim() != 3 \
                or w2_weight.dim() != 3:
            raise TypeError("w13_weight and w2_weight must be int32 [E, K, N/8] (int4 packed along N)")
        experts, hidden, gate_up8 = w13_weight.shape
        intermediate = 4 * gate_up8  # 2I = 8 * gate_up8
        if tuple(w2_weight.shape) != (experts, intermediate, hidden // 8) or hidden % 8:
            raise ValueError(f"w2_weight must be [E, I, H/8] = [{experts}, {intermediate}, {hidden // 8}] for "
                             f"w13_weight {tuple(w13_weight.shape)}, got {tuple(w2_weight.shape)}")
        if tuple(w13_scale.shape) != (experts, 2 * intermediate) or tuple(w2_scale.shape) != (experts, hidden):
            raise ValueError(f"w13_scale must be [{experts}, {2 * intermediate}] and w2_scale [{experts}, {hidden}], "
                             f"got {tuple(w13_scale.shape)} and {tuple(w2_scale.shape)}")
        self.num_experts, self.hidden_dim, self.intermediate_dim = experts, hidden, intermediate
        self.register_buffer("w13_weight", w13_weight)
        self.register_buffer("w13_scale", w13_scale.float())
        self.register_buffer("w2_weight", w2_weight)
        self.register_buffer("w2_scale", w2_scale.float())
        self.backend = backend

    @property
    def backend(self) -> str:
        return self._backend

    @backend.setter
    def backend(self, value: str) -> None:
        if value not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {value!r}")
        self._backend = value

    @classmethod
    def from_float(cls, experts: nn.Module, *, backend: str = "kernels",
                   gate_up: tuple[torch.Tensor, torch.Tensor] | None = None,
                   down: tuple[torch.Tensor, torch.Tensor] | None = None) -> "W4A8MoeExperts":
        """Quantize an HF experts module (``gate_up_proj [E, 2I, H]``, ``down_proj [E, H, I]``).

        ``gate_up`` / ``down`` are optional prepared ``(w_q int4 values [E, N, K], scale [E, N])`` pairs
        (e.g. from an SSZ scale search); a missing one is quantized here with per-channel minmax
        (``ascend_glm5.quant.quantize_weight_int4``: ``s = max|w| / 7``, round half-to-even).
        """
        gate_up_proj, down_proj = experts.gate_up_proj.detach(), experts.down_proj.detach()
        gate_up = gate_up if gate_up is not None else quantize_weight_int4(gate_up_proj)
        down = down if down is not None else quantize_weight_int4(down_proj)
        for name, (w_q, _), ref in (("gate_up", gate_up, gate_up_proj), ("down", down, down_proj)):
            if tuple(w_q.shape) != tuple(ref.shape):
                raise ValueError(f"{name} w_q must have the float weight's shape {tuple(ref.shape)}, got {tuple(w_q.shape)}")
        w13, s13 = gmm_weight(*gate_up)
        w2, s2 = gmm_weight(*down)
        device = gate_up_proj.device
        return cls(w13.to(device), s13.to(device), w2.to(device), s2.to(device), backend=backend)

    def forward(self, hidden_states: torch.Tensor, top_k_index: torch.Tensor,
                top_k_weights: torch.Tensor) -> torch.Tensor:
        f = _BACKEND_OPS[self._backend]
        tokens, top_k = top_k_index.shape
        experts = self.num_experts
        x = hidden_states if hidden_states.dtype in (torch.float16, torch.bfloat16) else hidden_states.to(torch.bfloat16)
        x_q, x_scale = f.dynamic_quant(x)
        rows, row_idx, group_list, row_scale = f.moe_init_routing_v2(
            x_q, top_k_index, scale=x_scale, active_num=tokens * top_k, expert_num=experts,
            expert_tokens_num_type=1, expert_tokens_num_flag=True, quant_mode=-1, active_expert_range=[0, experts],
            row_idx_type=0)
        gate_up = f.grouped_matmul_a8w4(rows, self.w13_weight, self.w13_scale, row_scale, group_list,
                                        group_list_type=1, output_dtype=torch.int32)
        act_q, act_scale = f.dequant_swiglu_quant(gate_up, weight_scale=self.w13_scale, activation_scale=row_scale,
                                                  group_index=group_list, activate_left=True, quant_mode=1)
        down = f.grouped_matmul_a8w4(act_q, self.w2_weight, self.w2_scale, act_scale, group_list,
                                     group_list_type=1, output_dtype=hidden_states.dtype)
        out = f.moe_finalize_routing(down, None, None, None, top_k_weights, row_idx, top_k_index, 2)
        return out.to(hidden_states.dtype)

    def extra_repr(self) -> str:
        return (f"num_experts={self.num_experts}, hidden_dim={self.hidden_dim}, "
                f"intermediate_dim={self.intermediate_dim}, backend={self._backend!r}")


def quantize_moe_experts(model: nn.Module, *, backend: str = "kernels") -> int:
    """Replace every HF routed-experts module of ``model`` (a module with 3-D ``gate_up_proj`` and
    ``down_proj`` parameters, e.g. ``GlmMoeDsaExperts`` / ``DeepseekV32Experts``) by a minmax-quantized
    ``W4A8MoeExperts``. Returns how many were replaced."""
    targets = [(name, module) for name, module in model.named_modules()
               if isinstance(getattr(module, "gate_up_proj", None), nn.Parameter)
               and isinstance(getattr(module, "down_proj", None), nn.Parameter) and module.gate_up_proj.dim() == 3]
    for name, module in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, W4A8MoeExperts.from_float(module, backend=backend))
    return len(targets)


def set_moe_backend(model: nn.Module, backend: str) -> None:
    """Switch every ``W4A8MoeExperts`` of ``model`` to ``backend`` ("kernels" or "reference")."""
    for module in model.modules():
        if isinstance(module, W4A8MoeExperts):
            module.backend = backend
