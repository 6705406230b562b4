"""W4A8 weight side: per-channel symmetric int4 quantization, ``scale_bias``, int64 scale encoding.

Conventions follow msModelSlim's symmetric quantizer (``s = max|w| / 7``, ``q = clamp(round(w / s),
-8, 7)``, ``s >= fp32 eps``) and vllm-ascend's load path for ``W4A8_DYNAMIC`` MoE experts.
"""

from __future__ import annotations

import torch

from .int4_pack import msmodelslim_to_int32, pack_int4_int8

_FP32_EPS = torch.finfo(torch.float32).eps


def quantize_weight_int4(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-output-channel symmetric int4 round-to-nearest quantization.

    Args:
        w: float ``[..., N, K]`` (``nn.Linear`` layout: N output channels, K inputs).

    Returns:
        ``(w_q, scale)``: ``w_q`` int8 ``[..., N, K]`` with values in [-8, 7] (in practice [-7, 7]),
        ``scale`` float32 ``[..., N]`` (msModelSlim files store it as ``[N, 1]``), ``w ~= w_q * scale``.

    All in fp32: ``scale = max(max_k |w| / 7, eps_fp32)`` -- an all-zero row gets a tiny positive
    scale and ``w_q = 0`` -- and ``w_q = clamp(round_half_even(w / scale), -8, 7)``.
    """
    if not w.is_floating_point():
        raise TypeError(f"w must be a float tensor, got {w.dtype}")
    if w.dim() < 2:
        raise ValueError(f"w must be [..., N, K], got shape {tuple(w.shape)}")
    wf = w.float()
    scale = (wf.abs().amax(dim=-1) / 7).clamp(min=_FP32_EPS)
    w_q = torch.round(wf / scale.unsqueeze(-1)).clamp_(-8, 7).to(torch.int8)  # round = half-to-even
    return w_q, scale


def scale_bias(w_q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """The A8W4 auxiliary bias ``8 * sum_k(w_q[n, k] * scale[n])``: float32 ``[..., N]``.

    ``w_q`` int ``[..., N, K]``, ``scale`` float32 ``[..., N]``. The integer sum is exact, followed by one
    fp32 product. msModelSlim sums the float products instead (and, for down_proj, stores 16 partial
    sums over K chunks, ``[N, 16]``, that vllm-ascend adds up), so file values may differ from this
    one by fp32 rounding.
    """
    if w_q.dtype not in (torch.int8, torch.int16, torch.int32, torch.int64):
        raise TypeError(f"w_q must be an integer tensor, got {w_q.dtype}")
    if scale.shape != w_q.shape[:-1]:
        raise ValueError(f"scale must have shape {tuple(w_q.shape[:-1])}, got {tuple(scale.shape)}")
    return 8 * scale.float() * w_q.to(torch.int64).sum(dim=-1).float()


def scale_to_int64(scale: torch.Tensor) -> torch.Tensor:
    """fp32 scale -> its IEEE bit pattern zero-extended to int64 (vllm-ascend ``_process_scale``)."""
    if scale.dtype != torch.float32:
        raise TypeError(f"scale must be float32, got {scale.dtype}")
    return scale.contiguous().view(torch.int32).to(torch.int64) & 0xFFFFFFFF


def scale_from_int64(bits: torch.Tensor) -> torch.Tensor:
    """Inverse of ``scale_to_int64``: int64 holding fp32 bits in its low word -> float32."""
    if bits.dtype != torch.int64:
        raise TypeError(f"bits must be int64, got {bits.dtype}")
    if bits.numel() and (int(bits.min()) < 0 or int(bits.max()) >= 2**32):
        raise ValueError("int64 scale must hold an fp32 bit pattern in its low 32 bits (0 <= v < 2**32)")
    word = torch.where(bits >= 2**31, bits - 2**32, bits)
    return word.to(torch.int32).view(torch.float32)


def prepare_w4a8_gmm_weight(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Float expert weights ``[E, N, K]`` -> ``(weight, scale, bias)`` as vllm-ascend passes them.

    Goes through the msModelSlim file layout (int8 ``[E, N/2, K]``) and vllm-ascend's conversion, so
    the result is what a real checkpoint would give: ``weight`` int32 ``[E, K, N/8]``, ``scale``
    float32 ``[E, N]``, ``bias = scale_bias(...)`` float32 ``[E, N]``. Needs N % 8 == 0.
    """
    w_q, scale = quantize_weight_int4(w)
    return msmodelslim_to_int32(pack_int4_int8(w_q)), scale, scale_bias(w_q, scale)
