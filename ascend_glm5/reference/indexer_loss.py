"""Reference for the DSA lightning-indexer KL loss (DeepSeek-V3.2 paper section 2.1, eqs. 3 and 4).

Target: per query token t, the main attention probabilities summed over heads and L1-normalised over
keys, ``p[t, s] = sum_h A[h, t, s] / sum_{s'} sum_h A[h, t, s']`` with
``A[h, t, :] = softmax(scale_value * q[t, h] . k[:, h] over the support of t)``.
Loss: ``L = sum_{b, t} KL(p[t, :] || softmax(I[t, :] over the support of t))``.

The support of query t is its causally visible keys (``sparse_mode=3``, right-down aligned: key s is
visible iff ``s <= t + S2 - S1``; ``sparse_mode=0``: all keys). Dense warm-up form: that is all.
Sparse form: intersected with the top-k set ``sparse_indices[t]`` (``-1`` = unused slot), so both
distributions are renormalised over the selected keys, as Megatron-LM's ``compute_dsa_indexer_loss``
does by adding the index mask to both logits before both softmaxes.

The gradient with respect to the index scores is ``dL/dI[t, s] = softmax(I[t])[s] - p[t, s]`` on the
support and 0 elsewhere (``indexer_loss_grad``). The target is a constant (the indexer's input is
detached from the main model), so no gradient flows into ``query``/``key``.
"""

from __future__ import annotations

import torch


def indexer_loss_target(
    query: torch.Tensor,
    key: torch.Tensor,
    scale_value: float,
    *,
    sparse_indices: torch.Tensor | None = None,
    query_rope: torch.Tensor | None = None,
    key_rope: torch.Tensor | None = None,
    sparse_mode: int = 3,
) -> torch.Tensor:
    """The target distribution ``p``: ``[B, S1, S2]``, zero off the support.

    Args:
        query: main-attention query ``[B, S1, N1, D]`` (BSND).
        key: main-attention key ``[B, S2, N2, D]``; N2 divides N1 (query head h uses key head
            ``h // (N1 // N2)``): N2 = 1 for absorbed MLA (MQA over the latent), N2 = N1 for MHA.
        scale_value: softmax scale applied to ``q . k``.
        sparse_indices: optional int ``[B, S1, K]`` or ``[B, S1, 1, K]`` key indices, ``-1`` padded.
            Duplicates count once. ``None`` gives the dense warm-up form.
        query_rope, key_rope: optional ``[B, S1, N1, Dr]`` / ``[B, S2, N2, Dr]``, added to the score
            as ``q_rope . k_rope`` (same as concatenating them onto query/key).
        sparse_mode: 3 (causal, right-down aligned) or 0 (no mask).

    Computed in float32 (float64 if the inputs are float64). A query row with an empty support
    (no visible or no selected key) gets an all-zero target.
    """
    support, dt = _support(query, key, None, sparse_indices, sparse_mode)
    scores = torch.einsum("bqhd,bkhd->bhqk", query.to(dt), _expand_heads(key, query).to(dt))
    if (query_rope is None) != (key_rope is None):
        raise ValueError("query_rope and key_rope must be given together")
    if query_rope is not None:
        if (query_rope.shape[:3], key_rope.shape[:3]) != (query.shape[:3], key.shape[:3]) or (
            query_rope.shape[-1] != key_rope.shape[-1]
        ):
            raise ValueError(
                f"query_rope {tuple(query_rope.shape)} / key_rope {tuple(key_rope.shape)} must be "
                f"[B, S1, N1, Dr] / [B, S2, N2, Dr] matching query {tuple(query.shape)} / key {tuple(key.shape)}"
            )
        scores = scores + torch.einsum("bqhd,bkhd->bhqk", query_rope.to(dt), _expand_heads(key_rope, query).to(dt))
    scores = (scores * scale_value).masked_fill(~support[:, None], float("-inf"))
    has_key = support.any(dim=-1)[:, None, :, None]
    probs = torch.where(has_key, torch.softmax(torch.where(has_key, scores, 0.0), dim=-1), 0.0)
    summed = probs.sum(dim=1)  # over heads
    total = summed.sum(dim=-1, keepdim=True)
    return torch.where(total > 0, summed / torch.where(total > 0, total, 1.0), 0.0)


def indexer_loss(
    query: torch.Tensor,
    key: torch.Tensor,
    index_scores: torch.Tensor,
    scale_value: float,
    *,
    sparse_indices: torch.Tensor | None = None,
    query_rope: torch.Tensor | None = None,
    key_rope: torch.Tensor | None = None,
    sparse_mode: int = 3,
) -> torch.Tensor:
    """``sum_{b, t} KL(p[b, t] || softmax(I[b, t]))`` over each row's support: a 0-d tensor.

    ``index_scores`` is the dense indexer score ``I`` ``[B, S1, S2]`` (before top-k); the other
    arguments are those of ``indexer_loss_target``. Differentiable with respect to ``index_scores``.
    Exact KL (``0 * log 0 = 0``, log-softmax), no epsilon; rows with an empty support contribute 0.
    """
    p = indexer_loss_target(
        query, key, scale_value, sparse_indices=sparse_indices, query_rope=query_rope, key_rope=key_rope,
        sparse_mode=sparse_mode,
    ).detach()
    support, dt = _support(query, key, index_scores, sparse_indices, sparse_mode)
    log_q = _masked_log_softmax(index_scores.to(dt), support)
    return (torch.xlogy(p, p) - p * log_q).sum()


def indexer_loss_grad(
    query: torch.Tensor,
    key: torch.Tensor,
    index_scores: torch.Tensor,
    scale_value: float,
    *,
    sparse_indices: torch.Tensor | None = None,
    query_rope: torch.Tensor | None = None,
    key_rope: torch.Tensor | None = None,
    sparse_mode: int = 3,
) -> torch.Tensor:
    """Closed-form ``dL/dI`` ``[B, S1, S2]``: ``softmax(I) - p`` on the support, 0 elsewhere."""
    p = indexer_loss_target(
        query, key, scale_value, sparse_indices=sparse_indices, query_rope=query_rope, key_rope=key_rope,
        sparse_mode=sparse_mode,
    )
    support, dt = _support(query, key, index_scores, sparse_indices, sparse_mode)
    q = _masked_log_softmax(index_scores.to(dt), support).exp().masked_fill(~support, 0.0)
    return q - p


def _masked_log_softmax(logits: torch.Tensor, support: torch.Tensor) -> torch.Tensor:
    """log_softmax over the support; 0 off the support (and on empty rows), never NaN."""
    has_key = support.any(dim=-1, keepdim=True)
    masked = torch.where(has_key, logits.masked_fill(~support, float("-inf")), 0.0)
    return torch.log_softmax(masked, dim=-1).masked_fill(~support, 0.0)


def _expand_heads(key: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
    n1, n2 = query.shape[2], key.shape[2]
    return key.repeat_interleave(n1 // n2, dim=2)


def _support(query, key, index_scores, sparse_indices, sparse_mode) -> tuple[torch.Tensor, torch.dtype]:
    """Validate shapes; return the bool support ``[B, S1, S2]`` and the compute dtype."""
    if query.dim() != 4 or key.dim() != 4:
        raise ValueError(f"query and key must be BSND, got {tuple(query.shape)} and {tuple(key.shape)}")
    b, s1, n1, d = query.shape
    bk, s2, n2, dk = key.shape
    if bk != b or dk != d or n2 == 0 or n1 % n2:
        raise ValueError(
            f"key {tuple(key.shape)} does not fit query {tuple(query.shape)} (same B and D, N1 % N2 == 0)"
        )
    if not query.is_floating_point() or not key.is_floating_point():
        raise TypeError("query and key must be floating point")
    dt = torch.promote_types(query.dtype, torch.float32)
    if index_scores is not None:
        if tuple(index_scores.shape) != (b, s1, s2) or not index_scores.is_floating_point():
            raise ValueError(
                f"index_scores must be float [B, S1, S2] = [{b}, {s1}, {s2}], got {tuple(index_scores.shape)}"
            )
        dt = torch.promote_types(dt, index_scores.dtype)
    if sparse_mode == 3:
        t = torch.arange(s1, device=query.device)[:, None]
        s = torch.arange(s2, device=query.device)[None, :]
        support = (s <= t + (s2 - s1)).expand(b, s1, s2)
    elif sparse_mode == 0:
        support = torch.ones(b, s1, s2, dtype=torch.bool, device=query.device)
    else:
        raise ValueError(f"sparse_mode must be 0 or 3, got {sparse_mode}")
    if sparse_indices is not None:
        idx = sparse_indices
        if idx.dim() == 4 and idx.shape[2] == 1:
            idx = idx.squeeze(2)
        if idx.dim() != 3 or tuple(idx.shape[:2]) != (b, s1) or idx.dtype not in (torch.int32, torch.int64):
            raise ValueError(
                f"sparse_indices must be int32/int64 [B, S1, K] or [B, S1, 1, K], got {tuple(sparse_indices.shape)}"
            )
        if idx.numel() and (int(idx.min()) < -1 or int(idx.max()) >= s2):
            raise ValueError(f"sparse_indices must lie in [-1, S2) = [-1, {s2})")
        slot = torch.where(idx >= 0, idx, s2).long()  # -1 -> a spare column, dropped below
        selected = torch.zeros(b, s1, s2 + 1, dtype=torch.bool, device=query.device).scatter_(-1, slot, True)
        support = support & selected[..., :s2]
    return support, dt
