"""Reference for dequant -> SwiGLU -> per-token int8 quant (torch_npu ``npu_dequant_swiglu_quant``,
dynamic mode): the step between the two grouped matmuls of a quantized MoE expert MLP."""

from __future__ import annotations

import torch


def _group_of_rows(group_index: torch.Tensor | None, rows: int, device) -> tuple[torch.Tensor, int]:
    """(group id of each row, number of valid rows). Without ``group_index`` every row is group 0."""
    if group_index is None:
        return torch.zeros(rows, dtype=torch.int64, device=device), rows
    counts = group_index.to(torch.int64).cpu()
    ids = torch.repeat_interleave(torch.arange(counts.numel()), counts)
    valid = int(ids.numel())
    group = torch.zeros(rows, dtype=torch.int64)
    group[:valid] = ids
    return group.to(device), valid


def _rows_of(t: torch.Tensor | None, group: torch.Tensor) -> torch.Tensor | None:
    """A per-channel parameter ``[C]`` / ``[1, C]`` (shared) or ``[G, C]`` (per group), one row per x row."""
    if t is None:
        return None
    t = t.float().reshape(-1, t.shape[-1])
    return t.expand(group.numel(), -1) if t.shape[0] == 1 else t[group]


def dequant_swiglu_quant(
    x: torch.Tensor,
    *,
    weight_scale: torch.Tensor | None = None,
    activation_scale: torch.Tensor | None = None,
    quant_scale: torch.Tensor | None = None,
    group_index: torch.Tensor | None = None,
    activate_left: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Dequantize ``x [T, 2H]``, apply SwiGLU, quantize each row to int8.

    Args:
        x: int32 (GEMM sums, dequantized with the two scales) or float16/bfloat16 (used as is).
        weight_scale: float32 ``[2H]`` or ``[G, 2H]`` (per group); int32 ``x`` only.
        activation_scale: float32 ``[T]`` or ``[T, 1]``; int32 ``x`` only.
        quant_scale: optional float32 smooth scale ``[H]`` or ``[G, H]``, multiplied in before quantizing.
        group_index: optional int64 ``[G]``, rows per group (count mode): rows
            ``[sum(g[:i]), sum(g[:i+1]))`` use row ``i`` of the per-group parameters.
        activate_left: True: ``silu(left half) * right half``; False: ``silu(right) * left``.

    Returns:
        ``(y, scale)``: int8 ``[T, H]`` and float32 ``[T]``. Rows at or past ``sum(group_index)`` are
        zeros with scale 0.

    All in fp32, in this order: ``v = float(x) * weight_scale * activation_scale`` (int32 ``x``),
    ``a, b`` = the activated and the linear half, ``s = a / (1 + exp(-a)) * b``, ``s *= quant_scale``,
    ``m = max|s|``, ``y = round_half_even(s * (127 / m))``, ``scale = m / 127`` (``y = 0``,
    ``scale = 0`` for a zero row), exactly as ``dynamic_quant`` quantizes. ``exp`` is evaluated in
    float64 and rounded once to fp32 (a correctly rounded fp32 exp in all but rare halfway cases).
    """
    rows, width = x.shape
    half = width // 2
    group, valid = _group_of_rows(group_index, rows, x.device)
    v = x.float()  # int32 -> fp32 rounds to nearest even beyond 2**24, as the kernel's Cast does
    if x.dtype == torch.int32:
        v = v * _rows_of(weight_scale, group)
        v = v * activation_scale.float().reshape(rows, 1)
    left, right = v[:, :half], v[:, half:]
    a, b = (left, right) if activate_left else (right, left)
    e = torch.exp(-a.double()).float()
    s = a / (e + 1.0) * b
    if quant_scale is not None:
        s = s * _rows_of(quant_scale, group)
    m = s.abs().amax(dim=-1, keepdim=True) if half > 0 else s.new_zeros(rows, 1)
    factor = torch.where(m > 0, torch.full_like(m, 127.0) / m, torch.zeros_like(m))
    y = torch.round(s * factor).clamp_(-127, 127).to(torch.int8)
    scale = (m / 127.0).squeeze(-1)
    y[valid:] = 0
    scale[valid:] = 0
    return y, scale
