"""Proof of the MLA-prolog, lightning-indexer and sparse-attention references against HF transformers.

Tiny random GLM-5 and DeepSeek-V3.2 models (fp32, CPU) run a left-padded batch: a prefill and one
decode step. For every layer the references are fed from the module's own weights and the recorded
layer input, and must reproduce what the HF modules computed:

- mla_prolog writes the same latent / rope caches as HF's DynamicCache;
- lightning_indexer selects the same top-k sets as HF's indexer (prefill and decode);
- mla_prolog + sparse_flash_attention (absorbed, over a paged latent cache) + W_UV + o_proj give
  HF's attention output, and the naive (expanded) form gives the same.
"""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F
from op_tests.reference.hf_models import INDEXER_ROPE, KINDS, build_tiny_model, run_prefill_decode

from ascend_glm5.reference import lightning_indexer, mla_prolog, rope_half_split, rope_interleaved
from ascend_glm5.reference import sparse_flash_attention

PAD = [0, 5]
SEQ = 16
BLOCK = 16


def assert_rel(actual, expected, tol=1e-5):
    err = (actual - expected).abs().max() / expected.abs().max()
    assert err <= tol, f"max relative error {err:.3g} > {tol}"


@functools.cache
def capture(kind):
    model = build_tiny_model(kind)
    return model, run_prefill_decode(model, pad=PAD, seq_len=SEQ)


class Paging:
    """A shuffled paged layout holding each batch's valid tokens plus one decode token."""

    def __init__(self, lengths, seed=0):
        blocks = [-(-(n + 1) // BLOCK) for n in lengths]
        perm = torch.randperm(sum(blocks) + 3, generator=torch.Generator().manual_seed(seed))
        self.num_blocks = len(perm)
        self.table = torch.full((len(lengths), max(blocks)), -1, dtype=torch.int32)
        used = 0
        for b, n in enumerate(blocks):
            self.table[b, :n] = perm[used : used + n].to(torch.int32)
            used += n

    def slots(self, b, positions):
        positions = torch.as_tensor(positions)
        return self.table[b, positions // BLOCK].long() * BLOCK + positions % BLOCK

    def cache(self, dim):
        return torch.full((self.num_blocks, BLOCK, 1, dim), float("nan"))


def to_reference_indices(hf_topk, pad, k, last=None):
    """HF top-k of one row -> reference index space (relative to the first valid token), padded
    with -1. HF fills rows with fewer visible keys than k with masked positions, sorted last: the
    padding ones are dropped, the future ones (beyond ``last``) too if ``last`` is given; otherwise
    they stay for sparse attention's causal mask to skip."""
    keep = [i - pad for i in hf_topk.tolist() if i >= pad and (last is None or i <= last)]
    return keep + [-1] * (k - len(keep))


def index_qkw(attn, x, q_norm, cos, sin, rope):
    """Indexer query, key and weights from the module's weights (model_math.md section 1.3)."""
    idx = attn.indexer
    heads, dim, d_rope = idx.n_heads, idx.head_dim, idx.qk_rope_head_dim
    q = (q_norm.float() @ idx.wq_b.weight.T).unflatten(-1, (heads, dim))
    k = F.layer_norm(x @ idx.wk.weight.T, (dim,), idx.k_norm.weight, idx.k_norm.bias, idx.k_norm.eps)
    q = torch.cat([rope(q[..., :d_rope], cos.unsqueeze(-2), sin.unsqueeze(-2)), q[..., d_rope:]], -1)
    k = torch.cat([rope(k[..., :d_rope], cos, sin), k[..., d_rope:]], -1)
    w = (x @ idx.weights_proj.weight.T) * heads**-0.5 * dim**-0.5
    return q, k.unsqueeze(-2), w


def prolog_weights(attn):
    heads, dn, dv = attn.num_heads, attn.qk_nope_head_dim, attn.v_head_dim
    w_kv = attn.kv_b_proj.weight.view(heads, dn + dv, attn.kv_lora_rank)
    args = (
        attn.q_a_proj.weight.T,
        attn.q_b_proj.weight.T,
        w_kv[:, :dn],
        attn.kv_a_proj_with_mqa.weight.T,
        attn.q_a_layernorm.weight,
        attn.kv_a_layernorm.weight,
    )
    eps = dict(
        rmsnorm_epsilon_cq=attn.q_a_layernorm.variance_epsilon,
        rmsnorm_epsilon_ckv=attn.kv_a_layernorm.variance_epsilon,
    )
    return args, eps, w_kv[:, dn:]


def naive_attention(attn, q_norm, q_rope, c_kv, k_rope, indices):
    """Expanded MLA over the selected keys of one batch: per-head keys / values from the latents."""
    heads, dn, dv = attn.num_heads, attn.qk_nope_head_dim, attn.v_head_dim
    w_kv = attn.kv_b_proj.weight.view(heads, dn + dv, attn.kv_lora_rank)
    q_nope = (q_norm @ attn.q_b_proj.weight.T).view(len(q_norm), heads, -1)[..., :dn]
    k_nope = torch.einsum("sc,ndc->snd", c_kv, w_kv[:, :dn])
    v = torch.einsum("sc,nvc->snv", c_kv, w_kv[:, dn:])
    z = torch.einsum("tnd,snd->tns", q_nope, k_nope) + torch.einsum("tnr,sr->tns", q_rope, k_rope)
    selected = torch.zeros(len(q_norm), len(c_kv), dtype=torch.bool)
    for t, row in enumerate(indices.tolist()):
        selected[t, [i for i in row if 0 <= i <= t]] = True  # prefill: query t is key t
    p = (z * attn.scaling).masked_fill(~selected[:, None, :], float("-inf")).softmax(-1)
    return attn.o_proj(torch.einsum("tns,snv->tnv", p, v).flatten(1))


@functools.cache
def reference_layer(kind, layer, rope_name=None):
    """Run the references on one layer's recorded prefill and decode; ``rope_name`` overrides the
    indexer RoPE pairing (for the pairing test)."""
    model, run = capture(kind)
    attn = model.model.layers[layer].self_attn
    rope = INDEXER_ROPE[kind] if rope_name is None else {"interleaved": rope_interleaved, "half": rope_half_split}[rope_name]
    k_top = model.config.index_topk
    pre, dec = run.prefill[layer][0], run.decode[layer][0]
    lengths = [SEQ - p for p in PAD]
    paging = Paging(lengths)
    args, eps, w_uv = prolog_weights(attn)
    kv_cache, kr_cache, ki_cache = paging.cache(attn.kv_lora_rank), paging.cache(64), paging.cache(128)
    out = {"lengths": lengths, "paging": paging, "kv": kv_cache, "kr": kr_cache}

    # Prefill: the valid tokens of all batches packed as TND.
    x = torch.cat([pre.hidden_states[b, p:] for b, p in enumerate(PAD)])
    cos = torch.cat([pre.cos[b, p:] for b, p in enumerate(PAD)])
    sin = torch.cat([pre.sin[b, p:] for b, p in enumerate(PAD)])
    slots = torch.cat([paging.slots(b, torch.arange(n)) for b, n in enumerate(lengths)])
    cu = torch.tensor(lengths).cumsum(0).to(torch.int32)
    query, query_rope, _, q_norm, _ = mla_prolog(
        x, *args, sin, cos, kv_cache, kr_cache, cache_index=slots, query_norm_flag=True, **eps
    )
    qi, ki, wi = index_qkw(attn, x, q_norm, cos, sin, rope)
    ki_cache[slots // BLOCK, slots % BLOCK] = ki
    out["prefill_topk"], out["prefill_scores"] = lightning_indexer(
        qi, ki, wi, actual_seq_lengths_query=cu, actual_seq_lengths_key=cu, layout_query="TND",
        layout_key="TND", sparse_count=k_top + 1, return_value=True,
    )
    hf_idx = [
        to_reference_indices(pre.topk[b, p + r], p, k_top)
        for b, p in enumerate(PAD)
        for r in range(lengths[b])
    ]
    hf_idx = torch.tensor(hf_idx, dtype=torch.int32).unsqueeze(1)
    latent, _, _ = sparse_flash_attention(
        query, kv_cache, kv_cache, hf_idx, attn.scaling, block_table=paging.table,
        actual_seq_lengths_query=cu, actual_seq_lengths_kv=torch.tensor(lengths, dtype=torch.int32),
        query_rope=query_rope, key_rope=kr_cache, layout_query="TND", layout_kv="PA_BSND",
    )
    out["prefill_attn"] = attn.o_proj(torch.einsum("tnc,nvc->tnv", latent, w_uv).flatten(1))
    naive, start = [], 0
    for b, n in enumerate(lengths):
        cache_rows = paging.slots(b, torch.arange(n))
        rows = slice(start, start + n)
        naive.append(naive_attention(attn, q_norm[rows], query_rope[rows], kv_cache[cache_rows // BLOCK, cache_rows % BLOCK, 0],
                                     kr_cache[cache_rows // BLOCK, cache_rows % BLOCK, 0], hf_idx[rows, 0]))
        start += n
    out["prefill_naive"] = torch.cat(naive)

    # Decode: one token per batch (BSND), caches paged.
    slots = torch.stack([paging.slots(b, torch.tensor([n])) for b, n in enumerate(lengths)])
    query, query_rope, _, q_norm, _ = mla_prolog(
        dec.hidden_states, *args, dec.sin, dec.cos, kv_cache, kr_cache, cache_index=slots, query_norm_flag=True, **eps
    )
    qi, ki, wi = index_qkw(attn, dec.hidden_states, q_norm, dec.cos, dec.sin, rope)
    ki_cache[slots // BLOCK, slots % BLOCK] = ki
    kv_len = torch.tensor(lengths, dtype=torch.int32) + 1
    out["decode_topk"], out["decode_scores"] = lightning_indexer(
        qi, ki_cache, wi, actual_seq_lengths_key=kv_len, block_table=paging.table, layout_key="PA_BSND",
        sparse_count=k_top + 1, return_value=True,
    )
    hf_idx = torch.tensor(
        [[to_reference_indices(dec.topk[b, 0], p, k_top)] for b, p in enumerate(PAD)], dtype=torch.int32
    ).unsqueeze(1)
    latent, _, _ = sparse_flash_attention(
        query, kv_cache, kv_cache, hf_idx, attn.scaling, block_table=paging.table, actual_seq_lengths_kv=kv_len,
        query_rope=query_rope, key_rope=kr_cache, layout_kv="PA_BSND",
    )
    out["decode_attn"] = attn.o_proj(torch.einsum("bsnc,nvc->bsnv", latent, w_uv).flatten(2))
    return out


def ref_lengths(kind):
    return [SEQ - p for p in PAD]


def ref_sets(topk, k_top):
    return [set(row[:k_top]) - {-1} for row in topk.reshape(-1, topk.shape[-1]).tolist()]


def hf_prefill_sets(kind, layer):
    model, run = capture(kind)
    topk = run.prefill[layer][0].topk
    return [
        set(to_reference_indices(topk[b, p + r], p, model.config.index_topk, last=p + r)) - {-1}
        for b, p in enumerate(PAD)
        for r in range(SEQ - p)
    ]


LAYERS = range(3)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layer", LAYERS)
def test_indexer_prefill_matches_hf(kind, layer):
    k_top = capture(kind)[0].config.index_topk
    ref = reference_layer(kind, layer)
    assert ref_sets(ref["prefill_topk"], k_top) == hf_prefill_sets(kind, layer)
    # The data is tie-free at the cut: the k-th and (k+1)-th scores are well apart wherever both exist.
    scores = ref["prefill_scores"][:, 0]
    full = scores[:, k_top] > float("-inf")
    gap = (scores[full, k_top - 1] - scores[full, k_top]) / scores[full, : k_top + 1].abs().amax(-1)
    assert full.sum() >= 10 and gap.min() > 1e-4


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layer", LAYERS)
def test_indexer_decode_matches_hf(kind, layer):
    model, run = capture(kind)
    k_top = model.config.index_topk
    ref = reference_layer(kind, layer)
    hf = [set(to_reference_indices(run.decode[layer][0].topk[b, 0], p, k_top)) for b, p in enumerate(PAD)]
    assert ref_sets(ref["decode_topk"], k_top) == hf
    assert all(len(s) == k_top for s in hf)  # sparse: more keys than index_topk


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layer", LAYERS)
def test_attention_prefill_matches_hf(kind, layer):
    _, run = capture(kind)
    ref = reference_layer(kind, layer)
    hf = torch.cat([run.prefill[layer][0].output[b, p:] for b, p in enumerate(PAD)])
    assert_rel(ref["prefill_attn"], hf)
    assert_rel(ref["prefill_naive"], ref["prefill_attn"])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layer", LAYERS)
def test_attention_decode_matches_hf(kind, layer):
    _, run = capture(kind)
    assert_rel(reference_layer(kind, layer)["decode_attn"], run.decode[layer][0].output)


@pytest.mark.parametrize("kind", KINDS)
def test_latent_caches_match_hf(kind):
    """The paged caches hold HF's cached latents and (de-interleaved) roped keys, token for token."""
    _, run = capture(kind)
    for layer in LAYERS:
        ref = reference_layer(kind, layer)
        hf = run.cache.layers[layer]
        for b, (p, n) in enumerate(zip(PAD, ref["lengths"])):
            slots = ref["paging"].slots(b, torch.arange(n + 1))
            torch.testing.assert_close(ref["kv"][slots // BLOCK, slots % BLOCK, 0], hf.keys[b, 0, p:])
            torch.testing.assert_close(ref["kr"][slots // BLOCK, slots % BLOCK, 0], hf.values[b, 0, p:])


@pytest.mark.parametrize("kind", KINDS)
def test_indexer_rope_pairing_is_model_specific(kind):
    """GLM-5's indexer is interleaved and DeepSeek-V3.2's half-split: the other pairing must change
    the top-k of many sparse rows (model_math.md measured 40-45%), so swapping them fails."""
    model, _ = capture(kind)
    k_top = model.config.index_topk
    wrong = "half" if INDEXER_ROPE[kind] is rope_interleaved else "interleaved"
    differ = total = 0
    for layer in LAYERS:
        hf = hf_prefill_sets(kind, layer)
        swapped = ref_sets(reference_layer(kind, layer, wrong)["prefill_topk"], k_top)
        visible = [r + 1 for n in ref_lengths(kind) for r in range(n)]
        sparse_rows = [i for i, v in enumerate(visible) if v > k_top]
        total += len(sparse_rows)
        differ += sum(swapped[i] != hf[i] for i in sparse_rows)
    assert total > 0 and differ / total > 0.2, f"only {differ}/{total} sparse rows changed"
