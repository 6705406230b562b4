"""Proof of the MLA-prolog, lightning-indexer and sparse-attention references against HF transformers.

Tiny random GLM-5 and DeepSeek-V3.2 models (fp32, CPU) run a left-padded batch: a prefill and one
decode step. For every layer the references are fed from the module's own weights and the recorded
layer input, as a serving stack would (packed TND prefill, paged caches with shuffled blocks), and
must reproduce what the HF modules computed:

- mla_prolog writes the same latent / rope caches as HF's DynamicCache;
- lightning_indexer selects the same top-k sets as HF's indexer (prefill and decode) wherever the
  choice is not a near-tie: both compute the scores in fp32 in different summation orders (~1e-6
  of the scale), so rows whose k-th and (k+1)-th scores are within ``TIE_BAND`` of the row's scale
  ``max_t sum_h |w_h| relu(q_h . k_t)`` are not compared (exact ties occur: a key every head
  scores <= 0 has score 0, and HF's torch.topk breaks ties its own way);
- mla_prolog + sparse_flash_attention (absorbed, over the paged latent cache, HF's indices) + W_UV
  + o_proj give HF's attention output, and the naive (expanded) form gives the same.
"""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F

from ascend_glm5.reference import lightning_indexer, mla_prolog, rope_half_split, rope_interleaved
from ascend_glm5.reference import sparse_flash_attention
from ascend_glm5.integrations.tiny_models import INDEXER_ROPE, KINDS, build_tiny_model, run_prefill_decode

SEEDS = range(8)  # every test holds for each of these random models
TIE_BAND = 1e-4  # 100x the fp32 summation-order differences
PAD = [0, 5]  # left padding per batch row
SEQ = 16
LENGTHS = [SEQ - p for p in PAD]  # valid prefill tokens per batch row
LAYERS = range(3)
BLOCK = 16


def assert_rel(actual, expected, tol=1e-5):
    err = (actual - expected).abs().max() / expected.abs().max()
    assert err <= tol, f"max relative error {err:.3g} > {tol}"


@functools.cache
def capture(kind, seed):
    model = build_tiny_model(kind, seed=seed)
    return model, run_prefill_decode(model, pad=PAD, seq_len=SEQ)


class Paging:
    """Shuffled cache blocks holding each batch row's valid tokens plus one decode token."""

    def __init__(self, seed=0):
        blocks = [-(-(n + 1) // BLOCK) for n in LENGTHS]
        perm = torch.randperm(sum(blocks) + 3, generator=torch.Generator().manual_seed(seed)).to(torch.int32)
        self.num_blocks = len(perm)
        self.table = torch.full((len(LENGTHS), max(blocks)), -1, dtype=torch.int32)
        for b, n in enumerate(blocks):
            self.table[b, :n] = perm[sum(blocks[:b]) : sum(blocks[: b + 1])]

    def slots(self, b, positions):
        return self.table[b, positions // BLOCK].long() * BLOCK + positions % BLOCK

    def cache(self, dim):
        return torch.full((self.num_blocks, BLOCK, 1, dim), float("nan"))  # unwritten rows must not be read

    def read(self, cache, b, n):
        slots = self.slots(b, torch.arange(n))
        return cache[slots // BLOCK, slots % BLOCK, 0]


def to_reference_indices(hf_topk, pad, k, last=None):
    """One HF top-k row -> reference index space (relative to the row's first valid token), padded
    with -1. For rows with fewer visible keys than k, HF appends masked positions: padding ones are
    dropped; future ones (beyond ``last``) too if ``last`` is given, else they are left for sparse
    attention's causal mask to skip."""
    keep = [i - pad for i in hf_topk.tolist() if i >= pad and (last is None or i <= last)]
    return keep + [-1] * (k - len(keep))


def index_qkw(attn, x, q_norm, cos, sin, rope):
    """Indexer query, key and weights from the module's weights, as ``GlmMoeDsaIndexer.forward`` builds
    them; ``weights`` carries the head and softmax scales (the op applies none)."""
    idx = attn.indexer
    heads, dim, d_rope = idx.n_heads, idx.head_dim, idx.qk_rope_head_dim
    q = (q_norm @ idx.wq_b.weight.T).unflatten(-1, (heads, dim))
    k = F.layer_norm(x @ idx.wk.weight.T, (dim,), idx.k_norm.weight, idx.k_norm.bias, idx.k_norm.eps)
    q = torch.cat([rope(q[..., :d_rope], cos.unsqueeze(-2), sin.unsqueeze(-2)), q[..., d_rope:]], -1)
    k = torch.cat([rope(k[..., :d_rope], cos, sin), k[..., d_rope:]], -1)
    w = (x @ idx.weights_proj.weight.T) * heads**-0.5 * dim**-0.5
    return q, k.unsqueeze(-2), w


def kv_b(attn):
    """kv_b_proj split per head into W_UK [N, dn, C] and W_UV [N, dv, C]."""
    w = attn.kv_b_proj.weight.view(attn.num_heads, -1, attn.kv_lora_rank)
    return w[:, : attn.qk_nope_head_dim], w[:, attn.qk_nope_head_dim :]


def prolog(attn, x, sin, cos, caches, slots):
    weights = (
        attn.q_a_proj.weight.T,
        attn.q_b_proj.weight.T,
        kv_b(attn)[0],
        attn.kv_a_proj_with_mqa.weight.T,
        attn.q_a_layernorm.weight,
        attn.kv_a_layernorm.weight,
    )
    query, query_rope, _, q_norm, _ = mla_prolog(
        x, *weights, sin, cos, *caches, cache_index=slots, query_norm_flag=True,
        rmsnorm_epsilon_cq=attn.q_a_layernorm.variance_epsilon,
        rmsnorm_epsilon_ckv=attn.kv_a_layernorm.variance_epsilon,
    )
    return query, query_rope, q_norm


def naive_attention(attn, q_norm, q_rope, c_kv, k_rope, indices):
    """Expanded MLA of one prefill batch row over the selected keys: per-head keys and values."""
    w_uk, w_uv = kv_b(attn)
    q_nope = (q_norm @ attn.q_b_proj.weight.T).view(len(q_norm), attn.num_heads, -1)[..., : attn.qk_nope_head_dim]
    k_nope = torch.einsum("sc,ndc->snd", c_kv, w_uk)
    z = torch.einsum("tnd,snd->tns", q_nope, k_nope) + torch.einsum("tnr,sr->tns", q_rope, k_rope)
    selected = torch.zeros(len(q_norm), len(c_kv), dtype=torch.bool)
    for t, row in enumerate(indices.tolist()):
        selected[t, [i for i in row if 0 <= i <= t]] = True  # causal: query t is key t
    p = (z * attn.scaling).masked_fill(~selected[:, None, :], float("-inf")).softmax(-1)
    return attn.o_proj(torch.einsum("tns,snv->tnv", p, torch.einsum("sc,nvc->snv", c_kv, w_uv)).flatten(1))


@functools.cache
def reference_layer(kind, seed, layer, rope=None):
    """Run the references on one layer's recorded prefill and decode. ``rope`` overrides the
    indexer's RoPE pairing (for the pairing test)."""
    model, run = capture(kind, seed)
    attn = model.model.layers[layer].self_attn
    rope = rope or INDEXER_ROPE[kind]
    k_top = model.config.index_topk
    pre, dec = run.prefill[layer][0], run.decode[layer][0]
    paging = Paging()
    kv, kr, k_index = paging.cache(attn.kv_lora_rank), paging.cache(attn.qk_rope_head_dim), paging.cache(128)
    out = {"paging": paging, "kv": kv, "kr": kr}

    # Prefill: the valid tokens of all batch rows packed as TND.
    x, cos, sin = (torch.cat([t[b, p:] for b, p in enumerate(PAD)]) for t in (pre.hidden_states, pre.cos, pre.sin))
    slots = torch.cat([paging.slots(b, torch.arange(n)) for b, n in enumerate(LENGTHS)])
    cu = torch.tensor(LENGTHS).cumsum(0).to(torch.int32)
    query, query_rope, q_norm = prolog(attn, x, sin, cos, (kv, kr), slots)
    qi, ki, wi = index_qkw(attn, x, q_norm, cos, sin, rope)
    k_index[slots // BLOCK, slots % BLOCK] = ki
    # One extra slot gives the margin after the top-k.
    topk, scores = lightning_indexer(
        qi, ki, wi, actual_seq_lengths_query=cu, actual_seq_lengths_key=cu, layout_query="TND", layout_key="TND",
        sparse_count=k_top + 1, return_value=True,
    )
    out["prefill_topk"] = topk[..., :k_top]
    out["prefill_margin"] = margins(scores[:, 0], k_top, [
        term_scale(qi[r], ki[r], wi[r], causal=True) for r in rows_of(LENGTHS)])
    hf_idx = [to_reference_indices(pre.topk[b, p + r], p, k_top) for b, p in enumerate(PAD) for r in range(SEQ - p)]
    hf_idx = torch.tensor(hf_idx, dtype=torch.int32).unsqueeze(1)
    latent, _, _ = sparse_flash_attention(
        query, kv, kv, hf_idx, attn.scaling, block_table=paging.table, actual_seq_lengths_query=cu,
        actual_seq_lengths_kv=torch.tensor(LENGTHS, dtype=torch.int32), query_rope=query_rope, key_rope=kr,
        layout_query="TND", layout_kv="PA_BSND",
    )
    out["prefill_attn"] = attn.o_proj(torch.einsum("tnc,nvc->tnv", latent, kv_b(attn)[1]).flatten(1))
    rows = rows_of(LENGTHS)
    out["prefill_naive"] = torch.cat([
        naive_attention(attn, q_norm[r], query_rope[r], paging.read(kv, b, n), paging.read(kr, b, n), hf_idx[r, 0])
        for b, (r, n) in enumerate(zip(rows, LENGTHS))
    ])

    # Decode: one token per batch row (BSND) against the paged caches.
    slots = torch.stack([paging.slots(b, torch.tensor([n])) for b, n in enumerate(LENGTHS)])
    query, query_rope, q_norm = prolog(attn, dec.hidden_states, dec.sin, dec.cos, (kv, kr), slots)
    qi, ki, wi = index_qkw(attn, dec.hidden_states, q_norm, dec.cos, dec.sin, rope)
    k_index[slots // BLOCK, slots % BLOCK] = ki
    kv_len = torch.tensor(LENGTHS, dtype=torch.int32) + 1
    topk, scores = lightning_indexer(
        qi, k_index, wi, actual_seq_lengths_key=kv_len, block_table=paging.table, layout_key="PA_BSND",
        sparse_count=k_top + 1, return_value=True,
    )
    out["decode_topk"] = topk[..., :k_top]
    keys = [paging.read(k_index, b, int(n)) for b, n in enumerate(kv_len)]
    out["decode_margin"] = margins(scores.reshape(-1, k_top + 1), k_top, [
        term_scale(qi[b], keys[b], wi[b], causal=False) for b in range(len(PAD))])
    hf_idx = [[to_reference_indices(dec.topk[b, 0], p, k_top)] for b, p in enumerate(PAD)]
    latent, _, _ = sparse_flash_attention(
        query, kv, kv, torch.tensor(hf_idx, dtype=torch.int32).unsqueeze(1), attn.scaling, block_table=paging.table,
        actual_seq_lengths_kv=kv_len, query_rope=query_rope, key_rope=kr, layout_kv="PA_BSND",
    )
    out["decode_attn"] = attn.o_proj(torch.einsum("bsnc,nvc->bsnv", latent, kv_b(attn)[1]).flatten(2))
    return out


def rows_of(lengths):
    """The packed (TND) rows of each batch row."""
    ends = torch.tensor(lengths).cumsum(0).tolist()
    return [slice(end - n, end) for end, n in zip(ends, lengths)]


def term_scale(q, k, w, causal):
    """Per query row: max over its visible keys of sum_h |w_h| relu(q_h . k_t), the scale rounding
    acts on (q [S, H, D], k [T, 1, D] or [T, D], w [S, H])."""
    terms = torch.einsum("sh,sht->st", w.abs(), torch.einsum("shd,td->sht", q, k.reshape(len(k), -1)).relu())
    if causal:  # query s (of S, the last S of the T keys) sees keys <= T - S + s
        visible = torch.arange(terms.shape[1])[None, :] <= terms.shape[1] - terms.shape[0] + torch.arange(terms.shape[0])[:, None]
        terms = terms.masked_fill(~visible, 0)
    return terms.amax(-1)


def margins(scores, k_top, scales):
    """(k-th - (k+1)-th score) / scale per row; inf where there is no (k+1)-th visible key."""
    scale = torch.cat(scales)
    gap = scores[:, k_top - 1] - scores[:, k_top]
    return torch.where(torch.isfinite(scores[:, k_top]), gap / scale, torch.inf)


def ref_sets(topk, k_top):
    return [set(row[:k_top]) - {-1} for row in topk.reshape(-1, topk.shape[-1]).tolist()]


def hf_prefill_sets(kind, seed, layer):
    model, run = capture(kind, seed)
    topk = run.prefill[layer][0].topk
    k_top = model.config.index_topk
    return [set(to_reference_indices(topk[b, p + r], p, k_top, last=p + r)) - {-1} for b, p in enumerate(PAD)
            for r in range(SEQ - p)]


def assert_sets_match(ours, hf, margin, what):
    """Equal sets on every row whose margin is clear of the tie band; the data must leave most rows
    clear (else the test would compare nothing)."""
    clear = (margin > TIE_BAND).tolist()
    differ = [r for r, (a, b, c) in enumerate(zip(ours, hf, clear)) if c and a != b]
    assert not differ, f"{what}: rows {differ} differ from HF at margins {[float(margin[r]) for r in differ]}"
    return sum(clear)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layer", LAYERS)
def test_indexer_prefill_matches_hf(kind, layer):
    compared = decided = 0
    for seed in SEEDS:
        k_top = capture(kind, seed)[0].config.index_topk
        ref = reference_layer(kind, seed, layer)
        margin = ref["prefill_margin"]
        compared += assert_sets_match(ref_sets(ref["prefill_topk"], k_top), hf_prefill_sets(kind, seed, layer),
                                      margin, f"seed {seed}")  # fmt: skip
        decided += int(torch.isfinite(margin).sum())
    assert compared >= 0.9 * decided  # near-ties are rare: the comparison is not vacuous


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layer", LAYERS)
def test_indexer_decode_matches_hf(kind, layer):
    compared = 0
    for seed in SEEDS:
        model, run = capture(kind, seed)
        k_top = model.config.index_topk
        hf = [set(to_reference_indices(run.decode[layer][0].topk[b, 0], p, k_top)) for b, p in enumerate(PAD)]
        ref = reference_layer(kind, seed, layer)
        compared += assert_sets_match(ref_sets(ref["decode_topk"], k_top), hf, ref["decode_margin"], f"seed {seed}")
        assert all(len(s) == k_top for s in hf)  # sparse: more cached keys than index_topk
    assert compared >= 0.75 * len(SEEDS) * len(PAD)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layer", LAYERS)
def test_attention_prefill_matches_hf(kind, layer):
    for seed in SEEDS:
        _, run = capture(kind, seed)
        ref = reference_layer(kind, seed, layer)
        hf = torch.cat([run.prefill[layer][0].output[b, p:] for b, p in enumerate(PAD)])
        assert_rel(ref["prefill_attn"], hf)
        assert_rel(ref["prefill_naive"], ref["prefill_attn"])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layer", LAYERS)
def test_attention_decode_matches_hf(kind, layer):
    for seed in SEEDS:
        _, run = capture(kind, seed)
        assert_rel(reference_layer(kind, seed, layer)["decode_attn"], run.decode[layer][0].output)


@pytest.mark.parametrize("kind", KINDS)
def test_latent_caches_match_hf(kind):
    """The paged caches hold HF's cached latents and (de-interleaved) roped keys, token for token."""
    for seed in SEEDS:
        _, run = capture(kind, seed)
        for layer in LAYERS:
            ref = reference_layer(kind, seed, layer)
            hf = run.cache.layers[layer]
            for b, (p, n) in enumerate(zip(PAD, LENGTHS)):
                torch.testing.assert_close(ref["paging"].read(ref["kv"], b, n + 1), hf.keys[b, 0, p:])
                torch.testing.assert_close(ref["paging"].read(ref["kr"], b, n + 1), hf.values[b, 0, p:])


@pytest.mark.parametrize("kind", KINDS)
def test_indexer_rope_pairing_is_model_specific(kind):
    """GLM-5's indexer is interleaved and DeepSeek-V3.2's half-split: the other pairing must change
    the top-k of many rows that have more visible keys than index_topk, so swapping the two fails
    the HF comparison."""
    wrong = rope_half_split if INDEXER_ROPE[kind] is rope_interleaved else rope_interleaved
    differ = rows = 0
    for seed in SEEDS:
        k_top = capture(kind, seed)[0].config.index_topk
        sparse_rows = [i for i, r in enumerate(r for n in LENGTHS for r in range(n)) if r + 1 > k_top]
        for layer in LAYERS:
            hf = hf_prefill_sets(kind, seed, layer)
            swapped = ref_sets(reference_layer(kind, seed, layer, wrong)["prefill_topk"], k_top)
            differ += sum(swapped[i] != hf[i] for i in sparse_rows)
            rows += len(sparse_rows)
    assert differ / rows > 0.2, f"only {differ} of {rows} sparse rows changed"
