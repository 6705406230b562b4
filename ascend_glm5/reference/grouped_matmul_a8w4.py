"""Reference for the A8W4 grouped MoE matmul (torch_npu ``npu_grouped_matmul``, int8 x int4 path)."""

from __future__ import annotations

import torch

from ..quant.int4_pack import unpack_int4_int32
from ..quant.w4a8 import scale_from_int64

_OUTPUT_DTYPES = (torch.bfloat16, torch.float16, torch.float32, torch.int32)
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
    w, s_w, counts = _validate(x, weight, scale, per_token_scale, group_list, group_list_type, output_dtype)
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


def _validate(x, weight, scale, per_token_scale, group_list, group_list_type, output_dtype):
    if x.dtype != torch.int8 or x.dim() != 2:
        raise TypeError(f"x must be int8 [M, K], got {x.dtype} of shape {tuple(x.shape)}")
    if weight.dtype != torch.int32 or weight.dim() != 3:
        raise TypeError(f"weight must be int32 [E, K, N/8], got {weight.dtype} of shape {tuple(weight.shape)}")
    m, k = x.shape
    e, kw, n8 = weight.shape
    n = 8 * n8
    if kw != k:
        raise ValueError(f"weight K ({kw}) must equal x K ({k})")
    if scale.dtype not in (torch.float32, torch.int64):
        raise TypeError(f"scale must be float32 or int64 (fp32 bits), got {scale.dtype}")
    if tuple(scale.shape) not in ((e, n), (e, 1, n)):
        raise ValueError(f"scale must be [E, N] = [{e}, {n}] or [E, 1, N] (per-channel), got {tuple(scale.shape)}")
    s_w = scale.reshape(e, n)
    if s_w.dtype == torch.int64:
        s_w = scale_from_int64(s_w)
    if per_token_scale.dtype != torch.float32 or tuple(per_token_scale.shape) not in ((m,), (m, 1)):
        raise ValueError(
            f"per_token_scale must be float32 [M] or [M, 1] with M = {m}, "
            f"got {per_token_scale.dtype} {tuple(per_token_scale.shape)}"
        )
    if group_list_type != 1:
        raise ValueError(f"group_list_type must be 1 (tokens per expert); got {group_list_type}")
    if group_list.dtype != torch.int64 or tuple(group_list.shape) != (e,):
        raise ValueError(f"group_list must be int64 [E] = [{e}], got {group_list.dtype} {tuple(group_list.shape)}")
    counts = group_list.tolist()
    if any(c < 0 for c in counts) or sum(counts) > m:
        raise ValueError(f"group_list counts must be >= 0 and sum to at most M = {m}, got {counts}")
    if output_dtype not in _OUTPUT_DTYPES:
        raise ValueError(f"output_dtype must be one of {_OUTPUT_DTYPES}, got {output_dtype}")
    return unpack_int4_int32(weight), s_w, counts


def _check_bias(bias: torch.Tensor, w: torch.Tensor, s_w: torch.Tensor) -> None:
    e, _, n = w.shape
    if bias.dtype != torch.float32 or tuple(bias.shape) != (e, n):
        raise ValueError(
            f"bias must be float32 [E, N] = [{e}, {n}] (8 * sum_k w * scale), got {bias.dtype} {tuple(bias.shape)}"
        )
    s = 8 * s_w.double()
    expected = s * w.to(torch.int64).sum(dim=1).double()
    tol = _BIAS_RTOL * s * w.to(torch.int64).abs().sum(dim=1).double()
    if ((bias.double() - expected).abs() > tol).any():
        raise ValueError("bias does not match 8 * sum_k(weight * scale) for these weights and scales")
