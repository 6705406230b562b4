"""Reference for the W8A8 linear (torch_npu ``npu_quant_matmul``, int8 x int8 path)."""

from __future__ import annotations

import torch

from ..quant.w4a8 import scale_from_int64

_OUTPUT_DTYPES = (torch.bfloat16, torch.float16, torch.float32, torch.int32)
_FLOAT_BIAS_DTYPES = (torch.bfloat16, torch.float16, torch.float32)
# npu_trans_quant_param's int64 scale word: fp32 bits in 0..31, bit 46 set, an int8-output offset
# in bits 37..45 (hicann/ops-nn quant/trans_quant_param/docs/aclnnTransQuantParam.md).
_TRANS_QUANT_FLAG = 1 << 46


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
    n, s, pts, out_dtype = _validate(x1, x2, scale, offset, pertoken_scale, bias, output_dtype)
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
        words = scale
        if words.numel() and int(words.min()) < 0:
            raise ValueError("int64 scale must be non-negative (fp32 bits in the low word)")
        high = words >> 32
        if bool(((high != 0) & (high != _TRANS_QUANT_FLAG >> 32)).any()):
            raise ValueError(
                "int64 scale may only hold fp32 bits in bits 0..31 and npu_trans_quant_param's flag bit 46; "
                "an offset in bits 37..45 (int8 output) is not supported"
            )
        return scale_from_int64(words & 0xFFFFFFFF)
    return scale.float()


def _validate(x1, x2, scale, offset, pertoken_scale, bias, output_dtype):
    if x1.dtype != torch.int8 or x1.dim() != 2:
        raise TypeError(f"x1 must be int8 [M, K], got {x1.dtype} of shape {tuple(x1.shape)}")
    if x2.dtype != torch.int8 or x2.dim() != 2:
        raise TypeError(f"x2 must be int8 [K, N], got {x2.dtype} of shape {tuple(x2.shape)}")
    m, k = x1.shape
    k2, n = x2.shape
    if k2 != k:
        raise ValueError(f"x2 K ({k2}) must equal x1 K ({k})")
    if k < 1 or n < 1:
        raise ValueError(f"K and N must be >= 1, got K = {k}, N = {n}")
    if scale.dtype not in (torch.float32, torch.bfloat16, torch.int64):
        raise TypeError(f"scale must be float32, bfloat16 or int64 (fp32 bits), got {scale.dtype}")
    if scale.dim() != 1 or scale.shape[0] not in (1, n):
        raise ValueError(f"scale must be [N] = [{n}] or [1], got {tuple(scale.shape)}")
    s = decode_scale(scale)
    if offset is not None:
        raise ValueError("offset is only meaningful for int8 output, which is not supported: pass offset=None")
    pts = None
    if pertoken_scale is not None:
        if pertoken_scale.dtype != torch.float32 or tuple(pertoken_scale.shape) not in ((m,), (m, 1)):
            raise ValueError(
                f"pertoken_scale must be float32 [M] or [M, 1] with M = {m}, "
                f"got {pertoken_scale.dtype} {tuple(pertoken_scale.shape)}"
            )
        pts = pertoken_scale.reshape(m)
    out_dtype = torch.bfloat16 if output_dtype is None else output_dtype
    if out_dtype not in _OUTPUT_DTYPES:
        raise ValueError(f"output_dtype must be None or one of {_OUTPUT_DTYPES}, got {output_dtype}")
    if bias is not None:
        if bias.dtype not in (torch.int32, *_FLOAT_BIAS_DTYPES):
            raise TypeError(f"bias must be int32, bfloat16, float16 or float32, got {bias.dtype}")
        if tuple(bias.shape) != (n,):
            raise ValueError(f"bias must be [N] = [{n}], got {tuple(bias.shape)}")
        if out_dtype == torch.int32 and bias.dtype != torch.int32:
            raise ValueError("output_dtype int32 takes only an int32 bias (added to the accumulator)")
    return n, s, pts, out_dtype
