"""Reference for static int8 quantization (torch_npu ``npu_quantize`` with an int8 output)."""

from __future__ import annotations

import torch


def quantize(
    input: torch.Tensor,
    scales: torch.Tensor,
    zero_points: torch.Tensor | None,
    dtype: torch.dtype = torch.qint8,
    axis: int = 1,
    div_mode: bool = True,
) -> torch.Tensor:
    """``q = saturate(round_half_even(input / scales + zero_points))`` (``div_mode=True``) or
    ``input * scales + zero_points`` (``div_mode=False``), as int8 of ``input.shape``.

    ``scales`` (and ``zero_points``, same number of elements) hold one value (per-tensor) or one per
    element of the last axis of ``input`` (per-channel). All arithmetic is fp32, one IEEE operation
    per step in the order written; saturation is to [-128, 127]. ``dtype`` and ``axis`` are accepted
    for the torch_npu signature; the op validates them (int8 output, last axis).
    """
    v = input.float()
    s = scales.float().reshape(-1)
    r = v / s if div_mode else v * s
    if zero_points is not None:
        r = r + zero_points.float().reshape(-1)
    return torch.round(r).clamp_(-128, 127).to(torch.int8)  # torch.round is half-to-even
