"""W8A8 linear: torch_npu ``npu_quant_matmul`` semantics (int8 x int8, per-channel x per-token dequant).

Contract: docs/ops/quant_matmul.md. Reference: ascend_glm5.reference.quant_matmul.
"""

from __future__ import annotations

import torch

from .. import _qgemm_args as args
from . import _validate as v
from ._backend import cpu_module, npu_module

# The int32 accumulator is exact while |sum| < 2**31: 128 * 128 * K < 2**31.
MAX_K = 2**17 - 1
_OUT_IDS = {torch.float16: 0, torch.bfloat16: 1, torch.float32: 2, torch.int32: 4}
# Bias kinds as the kernel takes them.
_BIAS_NONE, _BIAS_INT32, _BIAS_FLOAT = 0, 1, 2


def _check(x1, x2, scale, offset, pertoken_scale, bias, output_dtype, *, values: bool = True) -> torch.dtype:
    """Every argument; ``values=False`` (the fake kernel: no data) skips the one check that reads
    tensor values, the int64 scale words."""
    for name, t in (("x1", x1), ("x2", x2), ("scale", scale)):
        v.require_tensor(name, t)
    for name, t in (("pertoken_scale", pertoken_scale), ("bias", bias)):
        if t is not None:
            v.require_tensor(name, t)
    out = args.check_quant_matmul(x1, x2, scale, offset, pertoken_scale, bias, output_dtype)
    k = x1.shape[1]
    if k > MAX_K:
        raise ValueError(f"K must be in [1, {MAX_K}] (exact int32 accumulation), got {k}")
    v.require_same_device(("x1", "x2", "scale", "pertoken_scale", "bias"), (x1, x2, scale, pertoken_scale, bias))
    if values and scale.dtype == torch.int64:
        args.check_scale_words(scale)
    return out


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
    out_dtype = _check(x1, x2, scale, offset, pertoken_scale, bias, output_dtype, values=False)
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
