"""Reference for the A8W4 grouped MoE matmul (torch_npu ``npu_grouped_matmul``, int8 x int4 path)."""

from __future__ import annotations

import torch

from .._qgemm_args import check_group_counts, check_grouped_matmul_a8w4
from ..quant.int4_pack import unpack_int4_int32
from ..quant.w4a8 import scale_from_int64

# Slack for a checkpoint's scale_bias against the exact value: msModelSlim sums fp32 products
# (over 16 K-chunks for down_proj), so it carries fp32 summation error, far below this.
_BIAS_RTOL = 1e-4


def grouped_matmul_a8w4(
    x: torch.Tensor,
    weight: torch.Tensor,
    scale: torch.Tensor,
    per_token_scale: torch.Tensor,
    group_list: torch.Tensor,
    *,
    bias: torch.Tensor | None = None,
    group_list_type: int = 1,
    output_dtype: torch.dtype = torch.bfloat16,
) -> torch.Tensor:
    """Per-expert ``y = (x @ w) * scale * per_token_scale`` over rows of ``x`` grouped by expert.

    Args:
        x: int8 ``[M, K]``; rows sorted by expert: the first ``group_list[0]`` rows go to expert 0, ...
        weight: int32 ``[E, K, N/8]``, int4 values packed 8 per int32 along N (element n at bits
            ``4*(n % 8)``), as vllm-ascend passes them (see ``ascend_glm5.quant.int4_pack``).
        scale: per-channel weight scale ``[E, N]`` or ``[E, 1, N]``, float32 or int64 holding the
            fp32 bit pattern (vllm-ascend ``_process_scale``).
        per_token_scale: float32 ``[M]`` or ``[M, 1]``, the dynamic activation scale of each row.
        group_list: int64 ``[E]``, tokens per expert (count mode).
        bias: optional float32 ``[E, N]``, the CANN auxiliary ``8 * sum_k(w * scale)``. It is checked
            against the weights (ValueError if it differs by more than 1e-4 relative to
            ``8 * scale * sum_k |w|``) and not otherwise used: CANN computes
            ``((x - 8) @ w * scale + bias) * per_token_scale``, which is the same value.
        group_list_type: must be 1 (counts). CANN's A8W4 path only reads counts and ignores this flag,
            so cumsum lists (0) are refused rather than silently misread.
        output_dtype: bfloat16 (default), float16, float32, or int32. float32 and int32 are
            extensions: int32 returns the exact K-sums ``x @ w`` without dequantisation (``scale`` and
            ``per_token_scale`` are validated, not applied), for a consumer that dequantises itself
            (``dequant_swiglu_quant``) and for tests that compare the integer sums exactly.

    Returns:
        ``[M, N]`` of ``output_dtype``. Rows ``>= sum(group_list)`` are zeros (torch_npu leaves them
        unwritten).

    Numerics: the K-sum is exact in int64; dequantisation runs in float64 and is rounded once to
    ``output_dtype``, so the result is the exact real-arithmetic value correctly rounded (up to one
    float64 rounding).
    """
    w, s_w, counts = _validate(x, weight, scale, per_token_scale, group_list, bias, group_list_type, output_dtype)
    if bias is not None:
        _check_bias(bias, w, s_w)
    pts = per_token_scale.reshape(-1)
    exact = output_dtype == torch.int32
    out = torch.zeros(x.shape[0], w.shape[2], dtype=torch.int64 if exact else torch.float64, device=x.device)
    start = 0
    for e, count in enumerate(counts):
        rows = slice(start, start + count)
        acc = x[rows].to(torch.int64) @ w[e].to(torch.int64)  # exact integer accumulation
        out[rows] = acc if exact else acc.double() * s_w[e].double() * pts[rows, None].double()
        start += count
    return out.to(output_dtype)


def _validate(x, weight, scale, per_token_scale, group_list, bias, group_list_type, output_dtype):
    check_grouped_matmul_a8w4(x, weight, scale, per_token_scale, bias, group_list_type, output_dtype)
    e, n = weight.shape[0], 8 * weight.shape[2]
    if group_list.dtype != torch.int64 or tuple(group_list.shape) != (e,):
        raise ValueError(f"group_list must be int64 [E] = [{e}], got {group_list.dtype} {tuple(group_list.shape)}")
    counts = group_list.tolist()
    check_group_counts(counts, x.shape[0])
    s_w = scale.reshape(e, n)
    if s_w.dtype == torch.int64:
        s_w = scale_from_int64(s_w)
    return unpack_int4_int32(weight), s_w, counts


def _check_bias(bias: torch.Tensor, w: torch.Tensor, s_w: torch.Tensor) -> None:
    """bias (float32 [E, N], checked with the other arguments) against the weights and scales."""
    s = 8 * s_w.double()
    expected = s * w.to(torch.int64).sum(dim=1).double()
    tol = _BIAS_RTOL * s * w.to(torch.int64).abs().sum(dim=1).double()
    if ((bias.double() - expected).abs() > tol).any():
        raise ValueError("bias does not match 8 * sum_k(weight * scale) for these weights and scales")
