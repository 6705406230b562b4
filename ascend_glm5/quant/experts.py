"""Quantized routed experts, drop-ins for HF ``GlmMoeDsaExperts`` / ``DeepseekV32Experts``.

Same call as HF's: ``experts(hidden [T, D], top_k_index [T, K], top_k_weights [T, K]) -> [T, D]``
(the weights already normalised and scaled by the router).

``W8A8DynamicExperts`` (msModelSlim ``W8A8_DYNAMIC`` experts, the w8a8 recipes): each token is
quantized once (``dynamic_quant``); per expert, its tokens go through ``quant_matmul`` for gate and up
(int8 x int8, per-token x per-channel dequant), SwiGLU in fp32, ``dynamic_quant`` again and
``quant_matmul`` for down; the outputs are weighted and summed per token. The per-expert weights stay
the checkpoint's ``[N, K]`` int8 tensors (``weight.t()`` goes to ``quant_matmul`` as is).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .linear import Ops, kernel_input


def dispatch(top_k_index: torch.Tensor, num_experts: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(order, counts)``: the flat (token, slot) pairs sorted by expert (stable; pair ``p`` is token
    ``p // K``), and the number of pairs per expert."""
    flat = top_k_index.reshape(-1)
    order = torch.argsort(flat, stable=True)
    return order, torch.bincount(flat, minlength=num_experts)


class W8A8DynamicExperts(nn.Module):
    quant_type = "W8A8_DYNAMIC"

    def __init__(self, gate: list, up: list, down: list, *, backend: str = "kernels"):
        """``gate``, ``up``, ``down``: per expert ``(weight int8 [N, K], weight_scale fp32 [N])``."""
        super().__init__()
        self.num_experts = len(gate)
        if not (len(up) == len(down) == self.num_experts):
            raise ValueError("gate, up and down need one entry per expert")
        for kind, items in (("gate", gate), ("up", up), ("down", down)):
            for e, (w, s) in enumerate(items):
                self.register_buffer(f"{kind}_{e}_weight", w)
                self.register_buffer(f"{kind}_{e}_weight_scale", s)
        self.intermediate_dim, self.hidden_dim = gate[0][0].shape
        self.ops = Ops(backend)

    @property
    def backend(self) -> str:
        return self.ops.backend

    def set_backend(self, backend: str) -> None:
        self.ops = Ops(backend)

    def extra_repr(self) -> str:
        return f"num_experts={self.num_experts}, hidden={self.hidden_dim}, intermediate={self.intermediate_dim}, " \
               f"backend={self.backend}"  # fmt: skip

    def _linear(self, kind: str, e: int, q: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        w, scale = getattr(self, f"{kind}_{e}_weight"), getattr(self, f"{kind}_{e}_weight_scale")
        return self.ops.quant_matmul(q, w.t(), scale, pertoken_scale=s, output_dtype=torch.float32)

    def forward(self, hidden_states: torch.Tensor, top_k_index: torch.Tensor, top_k_weights: torch.Tensor):
        out = torch.zeros(hidden_states.shape, dtype=torch.float32, device=hidden_states.device)
        if hidden_states.shape[0] == 0:
            return out.to(hidden_states.dtype)
        q, s = self.ops.dynamic_quant(kernel_input(hidden_states))
        order, counts = dispatch(top_k_index, self.num_experts)
        k = top_k_index.shape[1]
        weights = top_k_weights.reshape(-1).float()
        start = 0
        for e, count in enumerate(counts.tolist()):
            if count == 0:
                continue
            pairs = order[start : start + count]
            start += count
            rows = pairs // k
            xq, xs = q[rows], s[rows]
            h = F.silu(self._linear("gate", e, xq, xs)) * self._linear("up", e, xq, xs)
            hq, hs = self.ops.dynamic_quant(kernel_input(h))
            y = self._linear("down", e, hq, hs)
            out.index_add_(0, rows, y * weights[pairs, None])
        return out.to(hidden_states.dtype)


class W4A8Experts(nn.Module):
    """msModelSlim ``W4A8_DYNAMIC`` experts on ``grouped_matmul_a8w4``: tokens quantized once, sorted
    by expert, gate|up in one grouped matmul, SwiGLU, re-quantized, down in a second grouped matmul.

    Weights in vllm-ascend's layout (``ascend_glm5.quant.int4_pack``): ``w13`` int32 ``[E, H, 2I/8]``
    (gate columns then up), ``w2`` int32 ``[E, I, H/8]``; scales fp32 ``[E, 2I]`` / ``[E, H]``;
    ``scale_bias`` fp32 ``[E, 2I]`` / ``[E, H]`` (the CANN auxiliary bias, summed over its chunks).
    """

    quant_type = "W4A8_DYNAMIC"

    def __init__(self, w13, w13_scale, w13_bias, w2, w2_scale, w2_bias, *, backend: str = "kernels"):
        super().__init__()
        for name, t in (("w13", w13), ("w13_scale", w13_scale), ("w13_bias", w13_bias), ("w2", w2),
                        ("w2_scale", w2_scale), ("w2_bias", w2_bias)):  # fmt: skip
            self.register_buffer(name, t)
        self.num_experts, self.hidden_dim = w13.shape[0], w13.shape[1]
        self.intermediate_dim = w2.shape[1]
        self.set_backend(backend)

    def set_backend(self, backend: str) -> None:
        self.ops = Ops(backend)
        if backend == "kernels":
            from ..ops import grouped_matmul_a8w4
        else:
            from ..reference import grouped_matmul_a8w4
        self.gmm = grouped_matmul_a8w4

    @property
    def backend(self) -> str:
        return self.ops.backend

    def extra_repr(self) -> str:
        return f"num_experts={self.num_experts}, hidden={self.hidden_dim}, intermediate={self.intermediate_dim}, " \
               f"backend={self.backend}"  # fmt: skip

    def forward(self, hidden_states: torch.Tensor, top_k_index: torch.Tensor, top_k_weights: torch.Tensor):
        out = torch.zeros(hidden_states.shape, dtype=torch.float32, device=hidden_states.device)
        if hidden_states.shape[0] == 0:
            return out.to(hidden_states.dtype)
        q, s = self.ops.dynamic_quant(kernel_input(hidden_states))
        order, counts = dispatch(top_k_index, self.num_experts)
        rows = order // top_k_index.shape[1]
        gate_up = self.gmm(q[rows], self.w13, self.w13_scale, s[rows], counts, bias=self.w13_bias,
                           output_dtype=torch.float32)  # fmt: skip
        gate, up = gate_up.chunk(2, dim=-1)
        hq, hs = self.ops.dynamic_quant(kernel_input(F.silu(gate) * up))
        y = self.gmm(hq, self.w2, self.w2_scale, hs, counts, bias=self.w2_bias, output_dtype=torch.float32)
        out.index_add_(0, rows, y * top_k_weights.reshape(-1).float()[order, None])
        return out.to(hidden_states.dtype)
