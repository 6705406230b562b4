"""Reference for MoE routing: torch_npu ``npu_moe_init_routing_v2`` (dropless, unquantized) and
``npu_moe_finalize_routing``, in vectorised torch. Contract: docs/ops/moe_routing.md.

Also usable as a routing implementation on any device: it never reads tensor values on the host.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def moe_init_routing_v2(
    x: torch.Tensor,
    expert_idx: torch.Tensor,
    *,
    scale: torch.Tensor | None = None,
    expert_num: int,
    active_expert_range: Sequence[int] = (),
    row_idx_type: int = 0,
    expert_tokens_num_type: int = 1,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sort the pairs ``j = t*K + k`` of ``expert_idx [T, K]`` by expert and gather rows of ``x [T, H]``.

    Active pairs (expert in ``[start, end)``, default ``[0, expert_num)``) are ordered by
    (expert, j); dropped pairs follow. Returns ``(expanded_x [T*K, H], expanded_row_idx int32 [T*K],
    expert_tokens int64 [end - start], expanded_scale float32 [T*K])``: ``expanded_x[i] =
    x[sorted[i] // K]``; ``expanded_row_idx[j]`` = row of pair j (gather, ``row_idx_type=0``) or
    ``[i]`` = pair of row i (scatter, 1), -1 for dropped; per-expert counts (1) or their running sum
    (0); ``expanded_scale[i] = scale[sorted[i] // K]`` (zeros without ``scale``). Rows, indices and
    scales of dropped pairs are zeros / -1 / 0.
    """
    start, end = tuple(active_expert_range) if len(active_expert_range) else (0, expert_num)
    tokens, top_k = expert_idx.shape
    pairs = tokens * top_k
    device = x.device
    experts = end - start
    flat = expert_idx.reshape(-1).to(torch.int64)
    active = (flat >= start) & (flat < end)
    bucket = torch.where(active, flat - start, torch.full_like(flat, experts))  # dropped pairs: one extra bucket
    # Unique keys (bucket, pair), so any sort algorithm gives the same, stable order.
    order = torch.argsort(bucket * pairs + torch.arange(pairs, device=device))
    row_active = active[order]
    token = torch.div(order, top_k, rounding_mode="floor")
    expanded_x = torch.where(row_active[:, None], x[token], torch.zeros((), dtype=x.dtype, device=device))
    if scale is not None:
        expanded_scale = torch.where(row_active, scale.float()[token], torch.zeros((), device=device))
    else:
        expanded_scale = torch.zeros(pairs, dtype=torch.float32, device=device)
    minus_one = torch.full((pairs,), -1, dtype=torch.int64, device=device)
    if row_idx_type == 0:
        position = torch.empty(pairs, dtype=torch.int64, device=device)
        position.scatter_(0, order, torch.arange(pairs, device=device))
        expanded_row_idx = torch.where(active, position, minus_one)
    else:
        expanded_row_idx = torch.where(row_active, order, minus_one)
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
    *,
    tokens: int,
) -> torch.Tensor:
    """``out[t] = skip1[t] + skip2[t] + sum_k scales[t, k] * (rows[dst(t, k)] + bias[expert(t, k)])``.

    ``dst(t, k)`` is ``expanded_src_to_dst_row[k*T + t]`` (``drop_pad_mode=0``) or ``[t*K + k]`` (2); a
    ``dst`` outside ``[0, T*K)`` contributes nothing (its row is never used). fp32, in this order:
    ``0 + skip1 + skip2``, then for k = 0, 1, ...: ``+= (row + bias) * scale``; rounded once to the
    rows' dtype (half-to-even).
    """
    rows, hidden = expanded_permuted_rows.shape
    top_k = rows // tokens if tokens else 0
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
    zero = torch.zeros((), device=device)
    for k in range(top_k):
        contrib = expanded_permuted_rows[safe[:, k]].float()
        if bias is not None:
            contrib = contrib + bias[export_for_source_row[:, k].to(torch.int64)].float()
        weight = torch.ones(tokens, device=device) if scales is None else scales[:, k].float()
        # where(), not a multiply: the row of a dropped pair (never written: may hold NaN) stays out
        out += torch.where(valid[:, k, None], contrib * weight[:, None], zero)
    return out.to(expanded_permuted_rows.dtype)
