"""MoE combine: torch_npu ``npu_moe_finalize_routing`` (dropless, drop_pad_mode 0 or 2).

``out[t] = skip1[t] + skip2[t] + sum_k scales[t, k] * (rows[dst(t, k)] + bias[expert(t, k)])`` in one
kernel launch. Contract: docs/ops/moe_routing.md. Reference: ascend_glm5.reference.moe_routing.
"""

from __future__ import annotations

import torch

from ._backend import cpu_module, npu_module
from ._moe_routing_args import check_finalize

_DTYPE_IDS = {torch.float16: 0, torch.bfloat16: 1, torch.float32: 2}


def _normalised(rows, skip1, skip2, bias, scales, dst, expert_ids):
    def c(t, dtype=None):
        return None if t is None else (t if dtype is None else t.to(dtype)).contiguous()

    # dst entries outside [0, T*K) contribute nothing: make them -1 before the int32 conversion, which
    # would wrap an int64 entry past int32 (2**32 + j) onto a real row j.
    dst = torch.where((dst >= 0) & (dst < rows.shape[0]), dst, torch.full_like(dst, -1))
    return (c(rows), c(skip1), c(skip2), c(bias), c(scales, torch.float32), c(dst, torch.int32),
            c(expert_ids, torch.int32) if bias is not None else None)


def _check_values(bias, expert_ids) -> None:
    """Checks that read tensor values: done where reading them costs no device synchronisation (CPU).
    On the NPU the kernel clamps expert ids into [0, E) instead (its reads stay in bounds)."""
    if bias is not None and expert_ids.numel():
        low, high = int(expert_ids.min()), int(expert_ids.max())
        if low < 0 or high >= bias.shape[0]:
            raise ValueError(f"export_for_source_row must hold expert ids in [0, {bias.shape[0]}) (the rows of bias), "
                             f"got values in [{low}, {high}]")


@torch.library.custom_op("ascend_glm5::moe_finalize_routing", mutates_args=(), device_types="cpu")
def _moe_finalize_routing(rows: torch.Tensor, skip1: torch.Tensor | None, skip2: torch.Tensor | None,
                          bias: torch.Tensor | None, scales: torch.Tensor | None, dst: torch.Tensor,
                          expert_ids: torch.Tensor | None, drop_pad_mode: int) -> torch.Tensor:
    tokens, top_k = check_finalize(rows, skip1, skip2, bias, scales, dst, expert_ids, drop_pad_mode)
    _check_values(bias, expert_ids)
    rows, skip1, skip2, bias, scales, dst, expert_ids = _normalised(rows, skip1, skip2, bias, scales, dst, expert_ids)
    out = torch.empty(tokens, rows.shape[1], dtype=rows.dtype)
    if tokens == 0:
        return out

    def ptr(t):
        return 0 if t is None else t.data_ptr()

    cpu_module().moe_finalize_routing(
        rows.data_ptr(), ptr(skip1), ptr(skip2), ptr(bias), ptr(scales), dst.data_ptr(), ptr(expert_ids),
        out.data_ptr(), tokens, top_k, rows.shape[1], _DTYPE_IDS[rows.dtype], drop_pad_mode == 2,
        0 if bias is None else bias.shape[0])
    return out


@_moe_finalize_routing.register_fake
def _(rows, skip1, skip2, bias, scales, dst, expert_ids, drop_pad_mode):
    tokens, _ = check_finalize(rows, skip1, skip2, bias, scales, dst, expert_ids, drop_pad_mode)
    return rows.new_empty((tokens, rows.shape[1]))


if npu_module() is not None:

    @_moe_finalize_routing.register_kernel("npu")
    def _(rows, skip1, skip2, bias, scales, dst, expert_ids, drop_pad_mode):
        tokens, _ = check_finalize(rows, skip1, skip2, bias, scales, dst, expert_ids, drop_pad_mode)
        args = _normalised(rows, skip1, skip2, bias, scales, dst, expert_ids)
        return npu_module().moe_finalize_routing(*args, tokens, drop_pad_mode == 2)


def moe_finalize_routing(
    expanded_permuted_rows: torch.Tensor,
    skip1: torch.Tensor | None,
    skip2: torch.Tensor | None,
    bias: torch.Tensor | None,
    scales: torch.Tensor | None,
    expanded_src_to_dst_row: torch.Tensor,
    export_for_source_row: torch.Tensor | None,
    drop_pad_mode: int = 0,
) -> torch.Tensor:
    """``out[t] = skip1[t] + skip2[t] + sum_k scales[t, k] * (rows[dst(t, k)] + bias[expert(t, k)])``.

    ``dst(t, k) = expanded_src_to_dst_row[k*T + t]`` (``drop_pad_mode=0``, column order) or
    ``[t*K + k]`` (``2``, row order: what ``moe_init_routing_v2(row_idx_type=0)`` returns); a ``dst``
    outside ``[0, T*K)`` (-1: a dropped pair) contributes nothing and its row is not read.
    ``expert(t, k) = export_for_source_row[t, k]`` (needed with ``bias``, must lie in ``[0, E)``);
    ``scales`` None means weight 1 and may be any float dtype (HF's top-k weights are fp32, the rows
    bf16). fp32 accumulation over k in order, one rounding to the rows' dtype ``[T, H]``. ``skip1``,
    ``skip2`` ``[T, H]`` and ``bias`` ``[E, H]`` have the rows' dtype. At most 64 slots per token.
    """
    check_finalize(expanded_permuted_rows, skip1, skip2, bias, scales, expanded_src_to_dst_row, export_for_source_row,
                   drop_pad_mode)
    return torch.ops.ascend_glm5.moe_finalize_routing(expanded_permuted_rows, skip1, skip2, bias, scales,
                                                      expanded_src_to_dst_row, export_for_source_row, drop_pad_mode)
