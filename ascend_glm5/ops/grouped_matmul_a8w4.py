"""W4A8 grouped MoE matmul: torch_npu ``npu_grouped_matmul`` A8W4 semantics (int8 x, int4 expert weights).

Contract: docs/ops/grouped_matmul_a8w4.md. Reference: ascend_glm5.reference.grouped_matmul_a8w4.
"""

from __future__ import annotations

import torch

from . import _validate as v
from ._backend import cpu_module, npu_module

# The int32 K-sums are exact while 128 * 8 * K < 2**31.
MAX_K = 2**21 - 1
_OUTPUT_DTYPES = (torch.bfloat16, torch.float16, torch.float32, torch.int32)
_OUT_IDS = {torch.float16: 0, torch.bfloat16: 1, torch.float32: 2, torch.int32: 4}


def _check(x, weight, scale, per_token_scale, group_list, bias, group_list_type, output_dtype) -> None:
    for name, t in (("x", x), ("weight", weight), ("scale", scale), ("per_token_scale", per_token_scale),
                    ("group_list", group_list)):  # fmt: skip
        v.require_tensor(name, t)
    v.require_dtype("x", x, (torch.int8,))
    v.require_dtype("weight", weight, (torch.int32,))
    if x.dim() != 2:
        raise ValueError(f"x must be [M, K], got shape {tuple(x.shape)}")
    if weight.dim() != 3:
        raise ValueError(f"weight must be [E, K, N/8] (int4 packed 8 per int32 along N), got shape {tuple(weight.shape)}")
    m, k = x.shape
    e, kw, n8 = weight.shape
    n = 8 * n8
    if kw != k:
        raise ValueError(f"weight must be [E, K, N/8] with K = x.shape[1] = {k}, got shape {tuple(weight.shape)}")
    if not 1 <= k <= MAX_K:
        raise ValueError(f"K must be in [1, {MAX_K}] (exact int32 accumulation), got {k}")
    if e < 1 or n < 8:
        raise ValueError(f"weight needs E >= 1 experts and N >= 8 columns, got shape {tuple(weight.shape)}")
    v.require_dtype("scale", scale, (torch.float32, torch.int64))
    if tuple(scale.shape) not in ((e, n), (e, 1, n)):
        raise ValueError(f"scale must be [E, N] = [{e}, {n}] or [E, 1, N] (per-channel), got shape {tuple(scale.shape)}")
    v.require_dtype("per_token_scale", per_token_scale, (torch.float32,))
    if tuple(per_token_scale.shape) not in ((m,), (m, 1)):
        raise ValueError(f"per_token_scale must be [M] = [{m}] or [M, 1], got shape {tuple(per_token_scale.shape)}")
    v.require_dtype("group_list", group_list, (torch.int64,))
    v.require_shape("group_list", group_list, (e,))
    if group_list_type != 1:
        raise ValueError(f"group_list_type must be 1 (tokens per expert), got {group_list_type}")
    if output_dtype not in _OUTPUT_DTYPES:
        names = ", ".join(str(d).replace("torch.", "") for d in _OUTPUT_DTYPES)
        raise ValueError(f"output_dtype must be one of ({names}), got {output_dtype}")
    if bias is not None:
        v.require_tensor("bias", bias)
        v.require_dtype("bias", bias, (torch.float32,))
        v.require_shape("bias", bias, (e, n))
    v.require_same_device(("x", "weight", "scale", "per_token_scale", "group_list", "bias"),
                          (x, weight, scale, per_token_scale, group_list, bias))  # fmt: skip


def _check_values(x: torch.Tensor, scale: torch.Tensor, group_list: torch.Tensor) -> None:
    """Checks that read tensor values: done where reading them costs no device synchronisation (CPU)."""
    counts = group_list.tolist()
    if any(c < 0 for c in counts) or sum(counts) > x.shape[0]:
        raise ValueError(f"group_list counts must be >= 0 and sum to at most M = {x.shape[0]}, got {counts}")
    if scale.dtype == torch.int64 and scale.numel() and (int(scale.min()) < 0 or int(scale.max()) >= 2**32):
        raise ValueError("int64 scale must hold an fp32 bit pattern in its low 32 bits (0 <= value < 2**32)")


def _scale_f32(scale: torch.Tensor, e: int, n: int) -> torch.Tensor:
    """The kernel's scale: float32 [E, N]; int64 words hold the fp32 bits (vllm-ascend ``_process_scale``)."""
    s = scale.reshape(e, n)
    if s.dtype == torch.int64:
        s = torch.where(s >= 2**31, s - 2**32, s).to(torch.int32).view(torch.float32)
    return s.contiguous()


@torch.library.custom_op("ascend_glm5::grouped_matmul_a8w4", mutates_args=(), device_types="cpu")
def _grouped_matmul_a8w4(
    x: torch.Tensor, weight: torch.Tensor, scale: torch.Tensor, per_token_scale: torch.Tensor,
    group_list: torch.Tensor, bias: torch.Tensor | None, group_list_type: int, output_dtype: torch.dtype,
) -> torch.Tensor:  # fmt: skip
    _check(x, weight, scale, per_token_scale, group_list, bias, group_list_type, output_dtype)
    _check_values(x, scale, group_list)
    m, k = x.shape
    e, _, n8 = weight.shape
    n = 8 * n8
    y = torch.empty(m, n, dtype=output_dtype)
    if m == 0:
        return y
    x, weight, gl = x.contiguous(), weight.contiguous(), group_list.contiguous()
    s = _scale_f32(scale, e, n)
    pts = per_token_scale.reshape(m).contiguous()
    cpu_module().grouped_matmul_a8w4(
        x=x.data_ptr(), weight=weight.data_ptr(), scale=s.data_ptr(), per_token_scale=pts.data_ptr(),
        group_list=gl.data_ptr(), out=y.data_ptr(), m=m, n=n, k=k, experts=e, out_dtype=_OUT_IDS[output_dtype],
    )  # fmt: skip
    return y


@_grouped_matmul_a8w4.register_fake
def _(x, weight, scale, per_token_scale, group_list, bias, group_list_type, output_dtype):
    _check(x, weight, scale, per_token_scale, group_list, bias, group_list_type, output_dtype)
    return x.new_empty((x.shape[0], 8 * weight.shape[2]), dtype=output_dtype)


if npu_module() is not None:

    @_grouped_matmul_a8w4.register_kernel("npu")
    def _(x, weight, scale, per_token_scale, group_list, bias, group_list_type, output_dtype):
        # Values (group_list counts, int64 scale words) are not read here: that would synchronise the
        # stream. The kernel clamps counts to [0, M - rows before].
        _check(x, weight, scale, per_token_scale, group_list, bias, group_list_type, output_dtype)
        e, _, n8 = weight.shape
        return npu_module().grouped_matmul_a8w4(
            x.contiguous(), weight.contiguous(), _scale_f32(scale, e, 8 * n8),
            per_token_scale.reshape(-1).contiguous(), group_list.contiguous(), _OUT_IDS[output_dtype],
        )  # fmt: skip


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

    ``x`` int8 ``[M, K]`` (rows sorted by expert); ``weight`` int32 ``[E, K, N/8]`` (int4 packed 8 per
    int32 along N, vllm-ascend's layout); ``scale`` ``[E, N]`` or ``[E, 1, N]``, float32 or int64 holding
    fp32 bits; ``per_token_scale`` float32 ``[M]`` or ``[M, 1]``; ``group_list`` int64 ``[E]`` tokens per
    expert (``group_list_type`` must be 1); ``bias`` optional float32 ``[E, N]``, CANN's auxiliary
    ``8 * sum_k(w * scale)``: dtype and shape are checked, the value is not used (the kernel computes
    the exact correction itself). ``output_dtype`` bfloat16 (default), float16, float32, or int32 (the
    exact K-sums, no dequantisation). Rows ``>= sum(group_list)`` are zeros.
    Contract and differences from torch_npu: docs/ops/grouped_matmul_a8w4.md.
    """
    _check(x, weight, scale, per_token_scale, group_list, bias, group_list_type, output_dtype)
    return torch.ops.ascend_glm5.grouped_matmul_a8w4(x, weight, scale, per_token_scale, group_list, bias,
                                                     group_list_type, output_dtype)  # fmt: skip
