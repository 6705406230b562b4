"""Argument checks of the MoE routing ops (moe_init_routing_v2, moe_finalize_routing): clear Python
exceptions before any kernel runs. None of them reads tensor values (no device synchronisation)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from . import _validate as v

_X_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.int8)
_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32)
_INDEX_DTYPES = (torch.int32, torch.int64)
MAX_EXPERTS = 4096  # active experts of one call (two int32 and one int64 per expert stay in UB)
MAX_TOP_K = 64  # slots per token in the combine (kept as a 64-bit mask)


def _expert_range(active_expert_range: Sequence[int], expert_num: int) -> tuple[int, int]:
    if len(active_expert_range) == 0:
        if expert_num < 1:
            raise ValueError(f"expert_num must be >= 1 when active_expert_range is empty, got {expert_num}")
        return 0, expert_num
    if len(active_expert_range) != 2:
        raise ValueError(f"active_expert_range must be [] or [start, end], got {list(active_expert_range)}")
    start, end = (int(e) for e in active_expert_range)
    if not 0 <= start < end or (expert_num >= 0 and end > expert_num):
        raise ValueError(f"active_expert_range must satisfy 0 <= start < end <= expert_num ({expert_num}), "
                         f"got [{start}, {end}]")
    return start, end


def check_init(x, expert_idx, scale, offset, active_num, expert_num, drop_pad_mode, expert_tokens_num_type,
               quant_mode, active_expert_range, row_idx_type) -> tuple[int, int]:
    """Validates moe_init_routing_v2's arguments; returns the active expert range (start, end)."""
    v.require_tensor("x", x)
    v.require_tensor("expert_idx", expert_idx)
    v.require_dtype("x", x, _X_DTYPES)
    v.require_dtype("expert_idx", expert_idx, _INDEX_DTYPES)
    if x.dim() != 2 or expert_idx.dim() != 2 or expert_idx.shape[0] != x.shape[0]:
        raise ValueError(f"x must be [T, H] and expert_idx [T, K] with the same T, got {tuple(x.shape)} and "
                         f"{tuple(expert_idx.shape)}")
    tokens, top_k = expert_idx.shape
    pairs = tokens * top_k
    start, end = _expert_range(active_expert_range, expert_num)
    if offset is not None:
        raise ValueError("offset is not supported (torch_npu takes none in the dynamic and unquantized modes)")
    if active_num not in (-1, pairs):
        raise ValueError(f"active_num must be -1 or T*K = {pairs} (torch_npu does not use it either), got {active_num}")
    if drop_pad_mode != 0:
        raise ValueError(f"drop_pad_mode must be 0 (dropless), got {drop_pad_mode}")
    if expert_tokens_num_type not in (0, 1):
        raise ValueError(f"expert_tokens_num_type must be 0 (cumsum) or 1 (count), got {expert_tokens_num_type}")
    if quant_mode not in (-1, 1):
        raise ValueError(f"quant_mode must be -1 (none) or 1 (dynamic per-token), got {quant_mode}")
    if row_idx_type not in (0, 1):
        raise ValueError(f"row_idx_type must be 0 (gather) or 1 (scatter), got {row_idx_type}")
    if scale is not None:
        v.require_tensor("scale", scale)
        if quant_mode == 1:
            raise ValueError("scale (per-expert smooth scales) with quant_mode=1 is not supported; quantize x first "
                             "with dynamic_quant and pass its per-token scales as scale with quant_mode=-1")
        v.require_dtype("scale", scale, (torch.float32,))
        if tuple(scale.shape) != (tokens,):
            raise ValueError(f"scale must be float32 [T] = [{tokens}] (one value per token), got {tuple(scale.shape)}")
    if quant_mode == 1 and x.dtype not in (torch.float16, torch.bfloat16):
        raise TypeError(f"quant_mode=1 quantizes fp16/bf16 x, got {x.dtype}")
    v.require_same_device(("x", "expert_idx", "scale"), (x, expert_idx, scale))

    if end - start > MAX_EXPERTS:
        raise ValueError(f"the active expert range may hold at most {MAX_EXPERTS} experts, got {end - start}")
    if x.shape[1] < 1:
        raise ValueError("x must have at least one column")
    return start, end


def check_finalize(expanded_permuted_rows, skip1, skip2, bias, scales, expanded_src_to_dst_row, export_for_source_row,
                   drop_pad_mode) -> tuple[int, int]:
    """Validates moe_finalize_routing's arguments; returns (T, K)."""
    v.require_tensor("expanded_permuted_rows", expanded_permuted_rows)
    v.require_dtype("expanded_permuted_rows", expanded_permuted_rows, _FLOAT_DTYPES)
    if expanded_permuted_rows.dim() != 2:
        raise ValueError(f"expanded_permuted_rows must be [T*K, H], got shape {tuple(expanded_permuted_rows.shape)}")
    rows, hidden = expanded_permuted_rows.shape
    v.require_tensor("expanded_src_to_dst_row", expanded_src_to_dst_row)
    v.require_dtype("expanded_src_to_dst_row", expanded_src_to_dst_row, _INDEX_DTYPES)
    if expanded_src_to_dst_row.dim() != 1 or expanded_src_to_dst_row.numel() != rows:
        raise ValueError(f"expanded_src_to_dst_row must be 1-D [T*K] = [{rows}], got {tuple(expanded_src_to_dst_row.shape)}")
    if drop_pad_mode not in (0, 2):
        raise ValueError(f"drop_pad_mode must be 0 or 2 (dropless, column or row order), got {drop_pad_mode}")
    if skip2 is not None and skip1 is None:
        raise ValueError("skip2 requires skip1 (as in torch_npu)")
    shaped = [t for t in (scales, export_for_source_row) if t is not None]
    if shaped:
        if shaped[0].dim() != 2:
            raise ValueError(f"scales / export_for_source_row must be [T, K], got {tuple(shaped[0].shape)}")
        tokens, top_k = shaped[0].shape
    elif skip1 is not None:
        tokens = skip1.shape[0]
        top_k = rows // tokens if tokens else 0
    else:
        raise ValueError("one of scales, export_for_source_row or skip1 must be given (it fixes the token count T)")
    if rows != tokens * top_k:
        raise ValueError(f"expanded_permuted_rows must have T*K rows with T = {tokens}, got {rows}")
    if scales is not None:
        v.require_dtype("scales", scales, _FLOAT_DTYPES)
        v.require_shape("scales", scales, (tokens, top_k))
    for name, t in (("skip1", skip1), ("skip2", skip2)):
        if t is not None:
            v.require_tensor(name, t)
            v.require_dtype(name, t, (expanded_permuted_rows.dtype,))
            v.require_shape(name, t, (tokens, hidden))
    if bias is not None:
        v.require_tensor("bias", bias)
        v.require_dtype("bias", bias, (expanded_permuted_rows.dtype,))
        if bias.dim() != 2 or bias.shape[1] != hidden:
            raise ValueError(f"bias must be [E, {hidden}], got {tuple(bias.shape)}")
        if export_for_source_row is None:
            raise ValueError("bias needs export_for_source_row (the expert of each (token, k))")
    if export_for_source_row is not None:
        v.require_dtype("export_for_source_row", export_for_source_row, _INDEX_DTYPES)
        v.require_shape("export_for_source_row", export_for_source_row, (tokens, top_k))
    v.require_same_device(
        ("expanded_permuted_rows", "skip1", "skip2", "bias", "scales", "expanded_src_to_dst_row", "export_for_source_row"),
        (expanded_permuted_rows, skip1, skip2, bias, scales, expanded_src_to_dst_row, export_for_source_row))

    if top_k > MAX_TOP_K:
        raise ValueError(f"K (slots per token) must be at most {MAX_TOP_K}, got {top_k}")
    if hidden < 1:
        raise ValueError("expanded_permuted_rows must have at least one column")
    return tokens, top_k
