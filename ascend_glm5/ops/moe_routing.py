"""MoE token routing around the grouped matmuls: torch_npu ``npu_moe_init_routing_v2`` (sort the
(token, expert) pairs by expert, count tokens per expert, gather the rows) and
``npu_moe_finalize_routing`` (the weighted combine back into token order).

Plain torch, no kernel, by design: docs/ops/moe_routing.md gives the cost argument (a sort of
T*K integers and two gathers are a handful of library launches next to GEMMs that read every
routed expert's weights). Everything here is device-agnostic and never reads tensor values on
the host, so it does not synchronise an NPU stream. Reference: ascend_glm5.reference.moe_routing.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from . import _validate as v

_X_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.int8)
_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32)
_INDEX_DTYPES = (torch.int32, torch.int64)


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


def moe_init_routing_v2(
    x: torch.Tensor,
    expert_idx: torch.Tensor,
    *,
    scale: torch.Tensor | None = None,
    offset: torch.Tensor | None = None,
    active_num: int = -1,
    expert_capacity: int = -1,
    expert_num: int = -1,
    drop_pad_mode: int = 0,
    expert_tokens_num_type: int = 0,
    expert_tokens_num_flag: bool = False,
    quant_mode: int = 0,
    active_expert_range: Sequence[int] = (),
    row_idx_type: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sort the ``T*K`` (token, slot) pairs of ``expert_idx [T, K]`` by expert and gather ``x``'s rows.

    Pair ``j = t*K + k`` (row-major) goes to expert ``expert_idx[t, k]``. Pairs whose expert lies in
    ``active_expert_range = [start, end)`` (default ``[0, expert_num)``) are active; any other id
    (``-1``, ``expert_num`` as HF's "no expert" slot, experts of another rank) is dropped. Active
    pairs are ordered by (expert, j): ``sorted_row_idx[i]`` is the pair at expanded row ``i``.

    Returns ``(expanded_x, expanded_row_idx, expert_tokens, expanded_scale)``:

    - ``expanded_x [T*K, H]``: ``x[sorted_row_idx[i] // K]``; rows past the active pairs are zeros.
      With ``quant_mode=1`` it is int8 from per-token dynamic quantization (``dynamic_quant``).
    - ``expanded_row_idx`` int32 ``[T*K]``: ``row_idx_type=0`` (gather): entry ``j`` is the expanded
      row of pair ``j`` (``-1`` if dropped), what ``moe_finalize_routing(drop_pad_mode=2)`` reads;
      ``row_idx_type=1`` (scatter): entry ``i`` is ``sorted_row_idx[i]`` (``-1`` past the active pairs).
    - ``expert_tokens`` int64 ``[end - start]``: tokens per expert (``expert_tokens_num_type=1``,
      the grouped matmul's ``group_list``) or their running sum (``0``).
    - ``expanded_scale`` float32 ``[T*K]``: ``scale[sorted_row_idx[i] // K]`` when ``scale [T]`` is given
      (e.g. the per-token scales of an already quantized int8 ``x``), the dynamic quantization
      scales with ``quant_mode=1``, else zeros; zeros past the active pairs.

    Supported (else ValueError): ``drop_pad_mode=0``, ``expert_tokens_num_type`` 0 or 1, ``quant_mode``
    -1 (no quantization) or 1 (dynamic, without per-expert smooth ``scale``), ``offset=None``,
    ``active_num`` -1 or ``T*K``. ``expert_capacity`` and ``expert_tokens_num_flag`` are accepted and
    unused (the counts are always returned).
    """
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

    device = x.device
    experts = end - start
    flat = expert_idx.reshape(-1).to(torch.int64)
    active = (flat >= start) & (flat < end)
    bucket = torch.where(active, flat - start, torch.full_like(flat, experts))  # dropped pairs: one extra bucket
    # Unique keys (bucket, pair index), so any sort algorithm yields the same, stable order.
    order = torch.argsort(bucket * pairs + torch.arange(pairs, device=device))
    row_valid = active[order]
    token = torch.div(order, top_k, rounding_mode="floor")

    if quant_mode == 1:
        from .dynamic_quant import dynamic_quant

        x, scale = dynamic_quant(x)
    expanded_x = torch.where(row_valid[:, None], x[token], torch.zeros((), dtype=x.dtype, device=device))
    if scale is not None:
        expanded_scale = torch.where(row_valid, scale[token], torch.zeros((), dtype=scale.dtype, device=device))
    else:
        expanded_scale = torch.zeros(pairs, dtype=torch.float32, device=device)

    minus_one = torch.full((pairs,), -1, dtype=torch.int64, device=device)
    if row_idx_type == 0:
        position = torch.empty(pairs, dtype=torch.int64, device=device)
        position.scatter_(0, order, torch.arange(pairs, device=device))
        expanded_row_idx = torch.where(active, position, minus_one)
    else:
        expanded_row_idx = torch.where(row_valid, order, minus_one)

    counts = torch.zeros(experts + 1, dtype=torch.int64, device=device)
    counts.scatter_add_(0, bucket, torch.ones_like(bucket))
    expert_tokens = counts[:experts] if expert_tokens_num_type == 1 else counts[:experts].cumsum(0)
    return expanded_x, expanded_row_idx.to(torch.int32), expert_tokens, expanded_scale


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

    ``dst(t, k) = expanded_src_to_dst_row[k*T + t]`` (``drop_pad_mode=0``, column order, the layout of
    ``npu_moe_init_routing``) or ``[t*K + k]`` (``drop_pad_mode=2``, row order, what
    ``moe_init_routing_v2(row_idx_type=0)`` returns). A ``dst`` outside ``[0, rows)`` (``-1`` for a
    dropped pair) contributes nothing. ``expert(t, k) = export_for_source_row[t, k]`` (needed with
    ``bias``). ``scales`` None means weight 1. Sums run in fp32 over k in order; the result has the
    dtype of ``expanded_permuted_rows`` ``[T*K, H]``; ``scales`` may be any float dtype (HF's top-k
    weights are fp32 while the rows are bf16).
    """
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

    device = expanded_permuted_rows.device
    idx = expanded_src_to_dst_row.to(torch.int64)
    idx = idx.view(top_k, tokens).t() if drop_pad_mode == 0 else idx.view(tokens, top_k)
    valid = (idx >= 0) & (idx < rows)
    safe = torch.where(valid, idx, torch.zeros_like(idx))
    out = torch.zeros(tokens, hidden, dtype=torch.float32, device=device)
    if skip1 is not None:
        out += skip1.float()
    if skip2 is not None:
        out += skip2.float()
    for k in range(top_k):
        contrib = expanded_permuted_rows[safe[:, k]].float()
        if bias is not None:
            expert = export_for_source_row[:, k].to(torch.int64).clamp(0, bias.shape[0] - 1)
            contrib = contrib + bias[expert].float()
        weight = valid[:, k].float() if scales is None else torch.where(
            valid[:, k], scales[:, k].float(), torch.zeros((), device=device))
        # where(), not a multiply: an unwritten (garbage, possibly NaN) row of a dropped pair stays out
        out += torch.where(valid[:, k, None], contrib * weight[:, None], torch.zeros((), device=device))
    return out.to(expanded_permuted_rows.dtype)
