"""W8A8 linear: torch_npu ``npu_quant_matmul`` semantics (int8 x int8, per-channel x per-token dequant).

Contract: docs/ops/quant_matmul.md. Reference: ascend_glm5.reference.quant_matmul.
"""

from __future__ import annotations

import torch

from . import _validate as v
from ._backend import cpu_module, npu_module

# The int32 accumulator is exact while |sum| < 2**31: 128 * 128 * K < 2**31.
MAX_K = 2**17 - 1
_OUTPUT_DTYPES = (torch.bfloat16, torch.float16, torch.float32, torch.int32)
_FLOAT_BIAS_DTYPES = (torch.bfloat16, torch.float16, torch.float32)
_OUT_IDS = {torch.float16: 0, torch.bfloat16: 1, torch.float32: 2, torch.int32: 4}
_TRANS_QUANT_FLAG_WORD = 1 << 14  # bit 46 of npu_trans_quant_param's int64, seen in the high word
# Bias kinds as the kernel takes them.
_BIAS_NONE, _BIAS_INT32, _BIAS_FLOAT = 0, 1, 2


def _output_dtype(output_dtype: torch.dtype | None) -> torch.dtype:
    out = torch.bfloat16 if output_dtype is None else output_dtype
    if out not in _OUTPUT_DTYPES:
        names = ", ".join(str(d).replace("torch.", "") for d in _OUTPUT_DTYPES)
        raise ValueError(f"output_dtype must be None (bfloat16) or one of ({names}), got {output_dtype}")
    return out


def _check(x1, x2, scale, offset, pertoken_scale, bias, output_dtype) -> torch.dtype:
    for name, t in (("x1", x1), ("x2", x2), ("scale", scale)):
        v.require_tensor(name, t)
    v.require_dtype("x1", x1, (torch.int8,))
    v.require_dtype("x2", x2, (torch.int8,))
    if x1.dim() != 2 or x2.dim() != 2:
        raise ValueError(f"x1 must be [M, K] and x2 [K, N], got shapes {tuple(x1.shape)} and {tuple(x2.shape)}")
    m, k = x1.shape
    n = x2.shape[1]
    if x2.shape[0] != k:
        raise ValueError(f"x2 must be [K, N] with K = x1.shape[1] = {k}, got shape {tuple(x2.shape)}")
    if not 1 <= k <= MAX_K:
        raise ValueError(f"K must be in [1, {MAX_K}] (exact int32 accumulation), got {k}")
    if n < 1:
        raise ValueError(f"N must be >= 1, got {n}")
    v.require_dtype("scale", scale, (torch.float32, torch.bfloat16, torch.int64))
    if scale.dim() != 1 or scale.shape[0] not in (1, n):
        raise ValueError(f"scale must be [N] = [{n}] or [1], got shape {tuple(scale.shape)}")
    if offset is not None:
        raise ValueError("offset is only used by torch_npu for int8 output, which is not supported: pass offset=None")
    if pertoken_scale is not None:
        v.require_tensor("pertoken_scale", pertoken_scale)
        v.require_dtype("pertoken_scale", pertoken_scale, (torch.float32,))
        if tuple(pertoken_scale.shape) not in ((m,), (m, 1)):
            raise ValueError(f"pertoken_scale must be [M] = [{m}] or [M, 1], got shape {tuple(pertoken_scale.shape)}")
    out = _output_dtype(output_dtype)
    if bias is not None:
        v.require_tensor("bias", bias)
        v.require_dtype("bias", bias, (torch.int32, *_FLOAT_BIAS_DTYPES))
        v.require_shape("bias", bias, (n,))
        if out == torch.int32 and bias.dtype != torch.int32:
            raise ValueError("bias must be int32 when output_dtype is int32 (it is added to the accumulator)")
    v.require_same_device(("x1", "x2", "scale", "pertoken_scale", "bias"), (x1, x2, scale, pertoken_scale, bias))
    if scale.dtype == torch.int64:
        _check_scale_words(scale)
    return out


def _check_scale_words(scale: torch.Tensor) -> None:
    """int64 scale: fp32 bits in the low word; the high word may hold only npu_trans_quant_param's bit 46."""
    high = scale >> 32
    if bool(((high != 0) & (high != _TRANS_QUANT_FLAG_WORD)).any()):
        raise ValueError(
            "int64 scale must hold fp32 bits in bits 0..31 (bit 46 may be set, as npu_trans_quant_param does); "
            "negative values or an offset in bits 37..45 (int8 output) are not supported"
        )


def _scale_f32(scale: torch.Tensor, n: int) -> torch.Tensor:
    """The kernel's per-channel scale: float32 [N] (bf16 widened exactly, int64 words decoded)."""
    if scale.dtype == torch.int64:
        low = scale & 0xFFFFFFFF
        s = torch.where(low >= 2**31, low - 2**32, low).to(torch.int32).view(torch.float32)
    else:
        s = scale.float()
    return s.expand(n).contiguous()


def _kernel_weight(x2: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """x2 as the kernel reads it: (tensor, transposed). transposed: the buffer is row-major [N, K]."""
    if x2.t().is_contiguous():
        return x2.t(), True
    if x2.is_contiguous():
        return x2, False
    return x2.t().contiguous(), True


@torch.library.custom_op("ascend_glm5::quant_matmul", mutates_args=(), device_types="cpu")
def _quant_matmul(
    x1: torch.Tensor, x2: torch.Tensor, scale: torch.Tensor, offset: torch.Tensor | None,
    pertoken_scale: torch.Tensor | None, bias: torch.Tensor | None, output_dtype: torch.dtype | None,
) -> torch.Tensor:  # fmt: skip
    out_dtype = _check(x1, x2, scale, offset, pertoken_scale, bias, output_dtype)
    m, k = x1.shape
    n = x2.shape[1]
    y = torch.empty(m, n, dtype=out_dtype)
    if m == 0:
        return y
    x1 = x1.contiguous()
    w, transposed = _kernel_weight(x2)
    s = _scale_f32(scale, n)
    pts = pertoken_scale.reshape(m).contiguous() if pertoken_scale is not None else None
    if bias is None:
        bias_kind, b = _BIAS_NONE, None
    elif bias.dtype == torch.int32:
        bias_kind, b = _BIAS_INT32, bias.contiguous()
    else:
        bias_kind, b = _BIAS_FLOAT, bias.float().contiguous()
    cpu_module().quant_matmul(
        x1=x1.data_ptr(), x2=w.data_ptr(), scale=s.data_ptr(), pertoken_scale=pts.data_ptr() if pts is not None else 0,
        bias=b.data_ptr() if b is not None else 0, out=y.data_ptr(), m=m, n=n, k=k, weight_nk=transposed,
        bias_kind=bias_kind, out_dtype=_OUT_IDS[out_dtype],
    )  # fmt: skip
    return y


@_quant_matmul.register_fake
def _(x1, x2, scale, offset, pertoken_scale, bias, output_dtype):
    out_dtype = _check(x1, x2, scale, offset, pertoken_scale, bias, output_dtype)
    return x1.new_empty((x1.shape[0], x2.shape[1]), dtype=out_dtype)


if npu_module() is not None:

    @_quant_matmul.register_kernel("npu")
    def _(x1, x2, scale, offset, pertoken_scale, bias, output_dtype):
        out_dtype = _check(x1, x2, scale, offset, pertoken_scale, bias, output_dtype)
        m, n = x1.shape[0], x2.shape[1]
        if m == 0:
            return x1.new_empty((0, n), dtype=out_dtype)
        w, transposed = _kernel_weight(x2)
        pts = pertoken_scale.reshape(m).contiguous() if pertoken_scale is not None else None
        b = None if bias is None else (bias.contiguous() if bias.dtype == torch.int32 else bias.float().contiguous())
        return npu_module().quant_matmul(x1.contiguous(), w, _scale_f32(scale, n), pts, b, transposed,
                                         _OUT_IDS[out_dtype])  # fmt: skip


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
    """W8A8 linear: ``y = (x1 @ x2 [+ int32 bias]) * scale * pertoken_scale [+ float bias]``.

    ``x1`` int8 ``[M, K]``; ``x2`` int8 ``[K, N]`` (``w.t()`` of a ``[N, K]`` weight is read in place, a
    contiguous ``[K, N]`` too; other strides are copied); ``scale`` ``[N]`` or ``[1]``, float32 /
    bfloat16 / int64 holding fp32 bits; ``pertoken_scale`` optional float32 ``[M]`` or ``[M, 1]``;
    ``bias`` optional ``[N]``, int32 (added to the accumulator) or bf16/fp16/fp32 (added after
    dequantisation); ``offset`` must be None. ``output_dtype`` None (= bfloat16), bfloat16, float16,
    float32, or int32 (the exact accumulator plus int32 bias, no scale). K is at most 131071.
    Contract and differences from torch_npu: docs/ops/quant_matmul.md.
    """
    _check(x1, x2, scale, offset, pertoken_scale, bias, output_dtype)
    return torch.ops.ascend_glm5.quant_matmul(x1, x2, scale, offset, pertoken_scale, bias, output_dtype)
