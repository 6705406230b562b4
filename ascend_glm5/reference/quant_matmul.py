"""Reference for the W8A8 linear (torch_npu ``npu_quant_matmul``, int8 x int8 path)."""

from __future__ import annotations

import torch

from .._qgemm_args import check_quant_matmul, check_scale_words
from ..quant.w4a8 import scale_from_int64


def quant_matmul(
    x1: torch.Tensor,
    x2: torch.Tensor,
    scale: torch.Tensor,
    *,
    offset: torch.Tensor | None = None,
    pertoken_scale: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    output_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """``y = (x1 @ x2 [+ int bias]) * scale * pertoken_scale [+ float bias]``, int8 inputs.

    Args:
        x1: int8 ``[M, K]``, activations (per-token quantized: ``dynamic_quant``).
        x2: int8 ``[K, N]``, weights. Any strides; ``w.t()`` of an msModelSlim ``[N, K]`` weight is
            the kernel's native layout, as is a contiguous ``[K, N]``.
        scale: per-output-channel ``[N]`` or per-tensor ``[1]``: float32, bfloat16 (exact in fp32), or
            int64 holding fp32 bits in its low word (msModelSlim ``deq_scale``, or
            ``npu_trans_quant_param`` output: bit 46 may be set, the offset bits 37..45 must be 0).
        offset: must be None (torch_npu uses it only for int8 output, which is not supported).
        pertoken_scale: optional float32 ``[M]`` or ``[M, 1]``, per-row activation scale.
        bias: optional ``[N]``. int32: added to the int32 accumulator before dequantisation (static
            W8A8 ``quant_bias``). bfloat16/float16/float32: added after dequantisation.
        output_dtype: None (= bfloat16), bfloat16, float16, float32, or int32. int32 returns the
            exact accumulator ``x1 @ x2 (+ int32 bias)`` with no scale applied (``scale`` and
            ``pertoken_scale`` are validated, not used); a float bias is refused then.

    Returns:
        ``[M, N]`` of ``output_dtype``.

    Numerics: the K-sum (plus int32 bias) is exact in int64; the rest runs in float64 and is rounded
    once to ``output_dtype``: the real-arithmetic value correctly rounded (up to one float64 rounding).
    """
    out_dtype = check_quant_matmul(x1, x2, scale, offset, pertoken_scale, bias, output_dtype)
    s = decode_scale(scale)
    pts = None if pertoken_scale is None else pertoken_scale.reshape(x1.shape[0])
    acc = x1.to(torch.int64) @ x2.to(torch.int64)  # exact integer accumulation
    if bias is not None and bias.dtype == torch.int32:
        acc = acc + bias.to(torch.int64)
    if out_dtype == torch.int32:
        return acc.to(torch.int32)
    y = acc.double() * s.double()
    if pts is not None:
        y = y * pts.double()[:, None]
    if bias is not None and bias.dtype != torch.int32:
        y = y + bias.double()
    return y.to(out_dtype)


def decode_scale(scale: torch.Tensor) -> torch.Tensor:
    """``scale`` as float32 ``[N]`` or ``[1]``: bf16 widened exactly, int64 scale words decoded."""
    if scale.dtype == torch.int64:
        check_scale_words(scale)
        return scale_from_int64(scale & 0xFFFFFFFF)
    return scale.float()
