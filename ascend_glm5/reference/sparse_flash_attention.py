"""Reference for sparse flash attention over a latent MLA cache (torch_npu ``npu_sparse_flash_attention``,
``attention_mode=2``).

Contract: docs/ops/sparse_flash_attention.md.
"""

from __future__ import annotations

import torch

from ._layouts import rows, spans, write_rows

_DEFAULT_TOKENS = 2**63 - 1


def sparse_flash_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    sparse_indices: torch.Tensor,
    scale_value: float,
    *,
    block_table: torch.Tensor | None = None,
    actual_seq_lengths_query: torch.Tensor | None = None,
    actual_seq_lengths_kv: torch.Tensor | None = None,
    query_rope: torch.Tensor | None = None,
    key_rope: torch.Tensor | None = None,
    sparse_block_size: int = 1,
    layout_query: str = "BSND",
    layout_kv: str = "BSND",
    sparse_mode: int = 3,
    pre_tokens: int = _DEFAULT_TOKENS,
    next_tokens: int = _DEFAULT_TOKENS,
    attention_mode: int = 2,
    return_softmax_lse: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Attention of each query token over the latent-cache entries its index row selects.

    Args:
        query: bf16/fp16/fp32 ``[B, S1, N1, Dn]`` (BSND) or ``[T1, N1, Dn]`` (TND): the absorbed
            query ``W_UK^T q_nope`` (Dn = kv_lora_rank, 512 for the kernel).
        key: the latent cache, same dtype; ``[B, S2, 1, Dn]`` (BSND), ``[T2, 1, Dn]`` (TND) or
            ``[num_blocks, block_size, 1, Dn]`` (PA_BSND). With ``key_rope`` None, the combined
            cache: rows ``Dn + Dr`` wide, the latent then the rope (FlashMLA's layout).
        value: the rows attention averages, ``key``'s shape and dtype: in MLA's absorbed form the
            latent cache itself (``key``), which torch_npu callers also pass as a copy. With the
            combined cache its first ``Dn`` columns are V.
        sparse_indices: int32 ``[B, S1, 1, K]`` / ``[T1, 1, K]``; entries are sparse-block ids into
            the batch's kv sequence, valid ones first. Reading stops at the first ``-1``; entries
            outside the visible range (``< 0``, ``>= kv length``, or masked by ``sparse_mode`` 3) are
            skipped. A repeated id is attended once per occurrence.
        scale_value: softmax scale applied to ``q . k``.
        block_table: int32 ``[B, max_blocks]``, PA_BSND only.
        actual_seq_lengths_query: int ``[B]``; BSND: valid rows (default S1); TND: prefix sums, mandatory.
        actual_seq_lengths_kv: int ``[B]``; BSND: valid kv rows (default S2); TND: prefix sums;
            PA_BSND: per-batch lengths; mandatory for TND and PA_BSND.
        query_rope: ``[.., N1, Dr]`` (Dr = 64 for the kernel), same layout as ``query``; mandatory.
        key_rope: ``[.., 1, Dr]``, same layout as ``key``; None: the rope is in ``key``'s rows.
        sparse_block_size: id ``j`` selects kv tokens ``[j*sbs, (j+1)*sbs)`` (clipped to the visible range).
        layout_query: BSND or TND. layout_kv: BSND, TND or PA_BSND (must equal layout_query unless PA).
        sparse_mode: 0 = no extra mask; 3 = right-down causal: query row ``i`` of a batch with
            ``Lq`` queries and ``Lkv`` kv tokens sees tokens ``t <= Lkv - Lq + i``.
        pre_tokens, next_tokens: only the default is supported.
        attention_mode: only 2 (MLA absorbed: scores ``[query|query_rope] . [key|key_rope]``).
        return_softmax_lse: also return ``softmax_max`` / ``softmax_sum``.

    Returns:
        ``(attention_out, softmax_max, softmax_sum)``. ``attention_out`` has ``query``'s shape and
        dtype. With ``return_softmax_lse``: fp32 ``[B, 1, S1, N1]`` (BSND) or ``[1, T1, N1]`` (TND)
        holding ``m = max_s z_s`` and ``l = sum_s exp(z_s - m)`` for ``z = scale * q.k`` over the
        attended tokens (so ``lse = m + log l``); otherwise ``None``. A row that attends nothing
        (no valid index, or outside the valid query rows) gives zeros in ``attention_out`` and
        ``m = l = 0``.

    Math in fp32; the normalised probabilities are rounded to ``query``'s dtype before ``P @ V``
    (the kernel feeds them to the cube in that dtype), the output is rounded to ``query``'s dtype.
    """
    if attention_mode != 2:
        raise ValueError(f"attention_mode must be 2 (MLA absorbed), got {attention_mode}")
    if layout_query not in ("BSND", "TND"):
        raise ValueError(f"layout_query must be BSND or TND, got {layout_query!r}")
    if layout_kv not in ("BSND", "TND", "PA_BSND"):
        raise ValueError(f"layout_kv must be BSND, TND or PA_BSND, got {layout_kv!r}")
    if layout_kv != "PA_BSND" and layout_kv != layout_query:
        raise ValueError(f"layout_kv {layout_kv!r} must equal layout_query {layout_query!r} without paging")
    if sparse_mode not in (0, 3):
        raise ValueError(f"sparse_mode must be 0 or 3, got {sparse_mode}")
    if pre_tokens != _DEFAULT_TOKENS or next_tokens != _DEFAULT_TOKENS:
        raise ValueError("pre_tokens / next_tokens support only their default 2**63-1")
    if sparse_block_size < 1 or sparse_block_size & (sparse_block_size - 1):
        raise ValueError(f"sparse_block_size must be a power of two >= 1, got {sparse_block_size}")
    if query_rope is None:
        raise ValueError("attention_mode 2 needs query_rope")
    if value.shape != key.shape:
        raise ValueError(f"value must have key's shape {tuple(key.shape)}, got {tuple(value.shape)}")
    if key_rope is None:  # the combined cache: split each row into its latent and its rope
        n_latent = query.shape[-1]
        if key.shape[-1] != n_latent + query_rope.shape[-1]:
            raise ValueError(f"key_rope None: key rows must be Dn + Dr = {n_latent + query_rope.shape[-1]} wide")
        same = value is key
        key, key_rope = key[..., :n_latent], key[..., n_latent:]
        value = key if same else value[..., :n_latent]
    if {t.dtype for t in (query, key, value, query_rope, key_rope)} != {query.dtype} or not query.is_floating_point():
        raise TypeError("query, key, value, query_rope and key_rope must share one float dtype")
    q_dims = 4 if layout_query == "BSND" else 3
    if query.dim() != q_dims or query_rope.shape[:-1] != query.shape[:-1]:
        raise ValueError(f"query / query_rope must be {q_dims}-D with matching leading dims for {layout_query}")
    if key.shape[-2] != 1 or key.shape[-1] != query.shape[-1] or key_rope.shape[:-1] != key.shape[:-1]:
        raise ValueError("key must be [.., 1, Dn] with query's Dn and key_rope [.., 1, Dr] with key's leading dims")
    if key_rope.shape[-1] != query_rope.shape[-1]:
        raise ValueError("query_rope and key_rope must have the same last dim")
    if sparse_indices.shape[:-1] != (*query.shape[:-2], 1) or sparse_indices.shape[-1] < 1:
        raise ValueError(f"sparse_indices must be {(*query.shape[:-2], 1, 'K')}, got {tuple(sparse_indices.shape)}")

    q_spans = spans(query, layout_query, actual_seq_lengths_query, name="actual_seq_lengths_query")
    kv_spans = spans(key, layout_kv, actual_seq_lengths_kv, name="actual_seq_lengths_kv")
    if len(kv_spans) != len(q_spans):
        raise ValueError(f"query has {len(q_spans)} batches but key has {len(kv_spans)}")

    n_heads = query.shape[-2]
    out = torch.zeros(query.shape, dtype=torch.float32)
    # Per-row stats are filled in [rows, N1] form, then moved to torch_npu's N2-first shape.
    row_max = torch.zeros((*query.shape[:-2], n_heads))
    row_sum = torch.zeros((*query.shape[:-2], n_heads))
    for b, (q_span, kv_span) in enumerate(zip(q_spans, kv_spans)):
        n_q, n_kv = q_span[1], kv_span[1]
        if n_q == 0 or n_kv == 0:
            continue
        q = torch.cat([rows(query, layout_query, b, q_span), rows(query_rope, layout_query, b, q_span)], -1).float()
        latent = rows(key, layout_kv, b, kv_span, block_table)[:, 0].float()  # [n_kv, Dn]
        k = torch.cat([latent, rows(key_rope, layout_kv, b, kv_span, block_table)[:, 0].float()], -1)
        v = latent if value is key else rows(value, layout_kv, b, kv_span, block_table)[:, 0].float()
        idx = rows(sparse_indices, layout_query, b, q_span)[:, 0].long()  # [n_q, K]

        before_stop = (idx != -1).long().cumprod(dim=-1).bool()
        token = (idx[..., None] * sparse_block_size + torch.arange(sparse_block_size)).flatten(1)
        live = (before_stop & (idx >= 0)).repeat_interleave(sparse_block_size, dim=-1)
        end = torch.full((n_q, 1), n_kv)  # first invisible token of each row
        if sparse_mode == 3:
            end = (n_kv - n_q + 1 + torch.arange(n_q))[:, None]
        live &= token < end
        token = token.clamp(0, n_kv - 1)

        z = torch.einsum("snd,smd->snm", q, k[token]) * scale_value  # [n_q, N1, M]
        z = z.masked_fill(~live[:, None, :], float("-inf"))
        any_live = live.any(dim=-1)[:, None]  # [n_q, 1]
        m = torch.where(any_live, z.amax(dim=-1), 0.0)
        e = torch.exp(z - m[..., None])  # exp(-inf) = 0 for skipped entries
        s = e.sum(dim=-1)
        p = (e / torch.where(any_live, s, 1.0)[..., None]).to(query.dtype).float()
        write_rows(out, layout_query, b, q_span, torch.einsum("snm,smc->snc", p, v[token]))
        write_rows(row_max, layout_query, b, q_span, m)
        write_rows(row_sum, layout_query, b, q_span, s)

    if not return_softmax_lse:
        return out.to(query.dtype), None, None
    if layout_query == "BSND":
        row_max, row_sum = row_max.unsqueeze(1), row_sum.unsqueeze(1)  # [B, 1, S1, N1]
    else:
        row_max, row_sum = row_max.unsqueeze(0), row_sum.unsqueeze(0)  # [1, T1, N1]
    return out.to(query.dtype), row_max, row_sum
