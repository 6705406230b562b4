"""Reference for per-token dynamic int8 quantization (torch_npu ``npu_dynamic_quant`` semantics)."""

from __future__ import annotations

import torch


def dynamic_quant(
    x: torch.Tensor, *, smooth_scales: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize each row of ``x`` symmetrically to int8.

    Args:
        x: ``[..., H]`` float16 or bfloat16.
        smooth_scales: optional ``[H]`` multiplier applied (in fp32) before quantization.

    Returns:
        ``(q, scale)``: ``q`` int8 of ``x.shape``, ``scale`` float32 of ``x.shape[:-1]``.

    Per row, all in fp32: ``v = x * smooth``, ``m = max|v|``, ``q = round_half_even(v * (127 / m))``,
    ``scale = m / 127`` so that ``v ~= q * scale``. An all-zero row gives ``q = 0`` and ``scale = 0``.
    """
    v = x.float()
    if smooth_scales is not None:
        v = v * smooth_scales.float()
    m = v.abs().amax(dim=-1, keepdim=True) if v.shape[-1] > 0 else v.new_zeros((*v.shape[:-1], 1))
    # 127 / m in fp32, exactly as the kernel's scalar unit computes it; a zero row uses factor 0.
    factor = torch.where(m > 0, torch.full_like(m, 127.0) / m, torch.zeros_like(m))
    q = torch.round(v * factor).clamp_(-127, 127).to(torch.int8)  # torch.round is half-to-even
    scale = (m / 127.0).squeeze(-1)
    return q, scale
