"""Reference for MoE routing (torch_npu ``npu_moe_init_routing_v2`` / ``npu_moe_finalize_routing``),
written element by element from the formulas: slow, for small tests only."""

from __future__ import annotations

import torch


def moe_init_routing_v2(
    x: torch.Tensor,
    expert_idx: torch.Tensor,
    *,
    scale: torch.Tensor | None = None,
    expert_num: int,
    active_expert_range: tuple[int, int] | None = None,
    row_idx_type: int = 0,
    expert_tokens_num_type: int = 1,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The unquantized mode (``quant_mode=-1``); see ``ascend_glm5.ops.moe_routing`` for the contract.

    Pairs ``j = t*K + k`` are visited expert by expert (``start .. end-1``), and within an expert in
    increasing ``j``: that visiting order is the expanded row order.
    """
    tokens, top_k = expert_idx.shape
    start, end = active_expert_range if active_expert_range is not None else (0, expert_num)
    ids = expert_idx.reshape(-1).tolist()
    pairs = len(ids)
    sorted_pairs = [j for e in range(start, end) for j in range(pairs) if ids[j] == e]
    expanded_x = torch.zeros(pairs, x.shape[1], dtype=x.dtype)
    expanded_scale = torch.zeros(pairs, dtype=torch.float32)
    gather = [-1] * pairs
    scatter = [-1] * pairs
    for i, j in enumerate(sorted_pairs):
        expanded_x[i] = x[j // top_k]
        if scale is not None:
            expanded_scale[i] = scale[j // top_k]
        gather[j] = i
        scatter[i] = j
    counts = torch.tensor([ids.count(e) for e in range(start, end)], dtype=torch.int64)
    expert_tokens = counts if expert_tokens_num_type == 1 else counts.cumsum(0)
    row_idx = torch.tensor(gather if row_idx_type == 0 else scatter, dtype=torch.int32)
    return expanded_x, row_idx, expert_tokens, expanded_scale


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
    """``out[t] = skip1[t] + skip2[t] + sum_k scales[t, k] * (rows[dst(t, k)] + bias[expert(t, k)])`` in
    float64, rounded once to the rows' dtype; ``dst`` outside ``[0, rows)`` contributes nothing."""
    rows, hidden = expanded_permuted_rows.shape
    top_k = rows // tokens if tokens else 0
    dst = expanded_src_to_dst_row.tolist()
    out = torch.zeros(tokens, hidden, dtype=torch.float64)
    for t in range(tokens):
        if skip1 is not None:
            out[t] += skip1[t].double()
        if skip2 is not None:
            out[t] += skip2[t].double()
        for k in range(top_k):
            d = dst[k * tokens + t] if drop_pad_mode == 0 else dst[t * top_k + k]
            if not 0 <= d < rows:
                continue
            term = expanded_permuted_rows[d].double()
            if bias is not None:
                term = term + bias[int(export_for_source_row[t, k])].double()
            out[t] += term * (1.0 if scales is None else float(scales[t, k]))
    return out.to(expanded_permuted_rows.dtype)
