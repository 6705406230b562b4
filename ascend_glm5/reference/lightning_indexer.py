"""Reference for the DSA Lightning Indexer (torch_npu ``npu_lightning_indexer`` semantics).

Contract: docs/ops/lightning_indexer.md.
"""

from __future__ import annotations

import torch

from ._layouts import rows, spans, write_rows

_DEFAULT_TOKENS = 2**63 - 1


def lightning_indexer(
    query: torch.Tensor,
    key: torch.Tensor,
    weights: torch.Tensor,
    *,
    actual_seq_lengths_query: torch.Tensor | None = None,
    actual_seq_lengths_key: torch.Tensor | None = None,
    block_table: torch.Tensor | None = None,
    layout_query: str = "BSND",
    layout_key: str = "BSND",
    sparse_count: int = 2048,
    sparse_mode: int = 3,
    pre_tokens: int = _DEFAULT_TOKENS,
    next_tokens: int = _DEFAULT_TOKENS,
    return_value: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Top-``sparse_count`` keys per query token by the lightning-indexer score.

    Args:
        query: bf16/fp16/fp32, ``[B, S1, N1, D]`` (BSND) or ``[T1, N1, D]`` (TND).
        key: same dtype as ``query``; ``[B, S2, 1, D]`` (BSND), ``[T2, 1, D]`` (TND) or
            ``[num_blocks, block_size, 1, D]`` (PA_BSND).
        weights: ``[B, S1, N1]`` / ``[T1, N1]``, any float dtype. Any softmax / head scale must
            already be folded in: the op applies none.
        actual_seq_lengths_query: int ``[B]``; BSND: valid query rows per batch (default S1);
            TND: prefix sums, mandatory (its length defines B).
        actual_seq_lengths_key: int ``[B]``; BSND: valid keys per batch (default S2); TND: prefix
            sums, mandatory; PA_BSND: per-batch lengths, mandatory.
        block_table: int32 ``[B, max_blocks]``, PA_BSND only.
        layout_query: "BSND" or "TND". layout_key: "BSND", "TND" or "PA_BSND"; without paging it
            must equal ``layout_query``.
        sparse_count: number of output slots ``K`` (>= 1).
        sparse_mode: 0 = every valid key is visible; 3 = right-down causal: query row ``i`` of a
            batch with ``Lq`` queries and ``Lk`` keys sees keys ``t <= Lk - Lq + i``.
        pre_tokens, next_tokens: accepted for schema parity; only the default is supported.
        return_value: also return the scores of the selected keys.

    Returns:
        ``(sparse_indices, sparse_values)``. ``sparse_indices`` is int32 ``[B, S1, 1, K]`` (BSND) or
        ``[T1, 1, K]`` (TND): per row the visible keys sorted by score, best first, ties to the lower
        key index, at most ``K`` of them; the remaining slots (and rows outside the valid query
        lengths) are ``-1``. Indices count from the start of the batch's key sequence.
        ``sparse_values`` (only with ``return_value``, else ``None``) has the same shape, fp32, the
        score of each selected key and ``-inf`` in ``-1`` slots.

    Score, in fp32: ``I[s, t] = sum_h weights[s, h] * relu(query[s, h, :] . key[t, :])``.
    """
    if layout_query not in ("BSND", "TND"):
        raise ValueError(f"layout_query must be BSND or TND, got {layout_query!r}")
    if layout_key not in ("BSND", "TND", "PA_BSND"):
        raise ValueError(f"layout_key must be BSND, TND or PA_BSND, got {layout_key!r}")
    if layout_key != "PA_BSND" and layout_key != layout_query:
        raise ValueError(f"layout_key {layout_key!r} must equal layout_query {layout_query!r} without paging")
    if sparse_mode not in (0, 3):
        raise ValueError(f"sparse_mode must be 0 or 3, got {sparse_mode}")
    if sparse_count < 1:
        raise ValueError(f"sparse_count must be >= 1, got {sparse_count}")
    if pre_tokens != _DEFAULT_TOKENS or next_tokens != _DEFAULT_TOKENS:
        raise ValueError("pre_tokens / next_tokens support only their default 2**63-1")
    if key.dtype != query.dtype or not query.is_floating_point():
        raise TypeError(f"query and key must share a float dtype, got {query.dtype} and {key.dtype}")
    q_dims = 4 if layout_query == "BSND" else 3
    k_dims = 3 if layout_key == "TND" else 4
    if query.dim() != q_dims or key.dim() != k_dims:
        raise ValueError(f"query must be {q_dims}-D and key {k_dims}-D for {layout_query}/{layout_key}")
    if key.shape[-2] != 1 or key.shape[-1] != query.shape[-1]:
        raise ValueError(f"key must have 1 head of dim {query.shape[-1]}, got shape {tuple(key.shape)}")
    if weights.shape != query.shape[:-1]:
        raise ValueError(f"weights must have shape {tuple(query.shape[:-1])}, got {tuple(weights.shape)}")

    q_spans = spans(query, layout_query, actual_seq_lengths_query, name="actual_seq_lengths_query")
    k_spans = spans(key, layout_key, actual_seq_lengths_key, name="actual_seq_lengths_key")
    if len(k_spans) != len(q_spans):
        raise ValueError(f"query has {len(q_spans)} batches but key has {len(k_spans)}")

    out_shape = (*query.shape[:-2], 1, sparse_count)
    indices = torch.full(out_shape, -1, dtype=torch.int32)
    values = torch.full(out_shape, float("-inf"), dtype=torch.float32) if return_value else None
    for b, (q_span, k_span) in enumerate(zip(q_spans, k_spans)):
        n_q, n_k = q_span[1], k_span[1]
        if n_q == 0:
            continue
        q = rows(query, layout_query, b, q_span).float()  # [n_q, N1, D]
        k = rows(key, layout_key, b, k_span, block_table)[:, 0].float()  # [n_k, D]
        w = rows(weights, layout_query, b, q_span).float()  # [n_q, N1]
        # Every key's score is a function of the key alone, so identical keys tie exactly, as the
        # contract's tie rule needs: the q.k sums of bf16 / fp16 products are exact in fp64 (whatever
        # order BLAS takes, which on some CPUs differs for the keys of a block's tail) and rounded
        # once to fp32, as the kernel's fp32 scores; the head sum is rounded once from fp64 too.
        dots = torch.einsum("shd,td->sht", q.double(), k.double()).float()
        score = torch.einsum("sh,sht->st", w.double(), dots.relu().double()).float()

        visible = torch.ones(n_q, n_k, dtype=torch.bool)
        if sparse_mode == 3:
            last = n_k - n_q + torch.arange(n_q)  # last visible key of each row
            visible = torch.arange(n_k)[None, :] <= last[:, None]
        # Stable descending sort keeps equal scores in key order: ties go to the lower index.
        top_val, top_idx = score.masked_fill(~visible, float("-inf")).sort(dim=-1, descending=True, stable=True)
        k_eff = min(sparse_count, n_k)
        used = torch.arange(k_eff)[None, :] < visible.sum(dim=-1, keepdim=True)
        row_idx = torch.full((n_q, 1, sparse_count), -1, dtype=torch.int32)
        row_idx[:, 0, :k_eff] = torch.where(used, top_idx[:, :k_eff], -1).to(torch.int32)
        write_rows(indices, layout_query, b, q_span, row_idx)
        if values is not None:
            row_val = torch.full((n_q, 1, sparse_count), float("-inf"))
            row_val[:, 0, :k_eff] = torch.where(used, top_val[:, :k_eff], float("-inf"))
            write_rows(values, layout_query, b, q_span, row_val)
    return indices, values
