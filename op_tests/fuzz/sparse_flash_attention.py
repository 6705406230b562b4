"""Fuzz strategy for sparse_flash_attention: BSND / TND queries over BSND / TND / PA_BSND latent
caches, random lengths (0 included), shuffled and shared blocks, 1-32 heads, fp16 / bf16, index
rows with -1 padding, repeats, ids past the visible end and reads stopping at the first -1, both
masks, with and without the softmax statistics, non-contiguous views, the separate key / key_rope
caches or the combined one (576-wide rows, key_rope None), NaN in every cache row and query row the
op must not read; then, for a third of the cases, one argument broken. Valid cases
agree with the reference to 2 ulp of the largest output (docs/ops/sparse_flash_attention.md) and,
on the statistics, to fp32 rounding of the 576-long score sums: 1e-5 of the largest |score| the
row could see (scores cancel, so a bound relative to the statistic itself would be wrong)."""

from __future__ import annotations

import importlib.util
import math
import pathlib
import sys

import torch
from hypothesis import strategies as st

from ascend_glm5 import ops, reference

_spec = importlib.util.spec_from_file_location("fuzz_attention", pathlib.Path(__file__).with_name("_attention.py"))
A = sys.modules.setdefault("fuzz_attention", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(A)

MANTISSA_BITS = {torch.bfloat16: 7, torch.float16: 10}


def _score_bound(query, query_rope, key, key_rope, scale) -> torch.Tensor:
    """Per query token: max over heads and every finite cache row of |scale (q.k + q_rope.k_rope)|."""
    q = torch.cat([query.float(), query_rope.float()], -1).reshape(-1, query.shape[-2], 576).nan_to_num(0)
    k = torch.cat([key.float(), key_rope.float()], -1).reshape(-1, 576).nan_to_num(0)
    if not len(k) or not len(q):
        return torch.zeros(len(q))
    return (abs(scale) * torch.einsum("thd,kd->thk", q, k).abs()).amax((1, 2))


def _per_row(stat: torch.Tensor, layout_query: str) -> torch.Tensor:
    """softmax_max / softmax_sum ([B, 1, S1, N1] or [1, T1, N1]) as [tokens, N1]."""
    return (stat[:, 0] if layout_query == "BSND" else stat[0]).reshape(-1, stat.shape[-1])


def _check(query, want_lse, bound=None, layout_query="BSND"):
    def check(got, want):
        out, ref = got[0], want[0]
        assert out.shape == query.shape and out.dtype == query.dtype
        top = float(ref.float().abs().max()) if ref.numel() else 0.0
        ulp = 2.0 ** (math.floor(math.log2(top)) - MANTISSA_BITS[query.dtype]) if top > 0 else 0.0
        torch.testing.assert_close(out.float(), ref.float(), rtol=0, atol=2 * ulp)  # 2 ulp of the largest output
        if want_lse:
            for g, w in zip(got[1:], want[1:]):
                assert g.dtype == torch.float32 and g.shape == w.shape
            tol = 1e-5 * bound()[:, None] + 1e-6
            m, m_ref = _per_row(got[1], layout_query), _per_row(want[1], layout_query)
            l, l_ref = _per_row(got[2], layout_query), _per_row(want[2], layout_query)
            assert ((m - m_ref).abs() <= tol).all(), "softmax_max"
            assert ((l - l_ref).abs() <= l_ref * tol + 1e-6).all(), "softmax_sum"
        else:
            assert got[1] is None and got[2] is None

    return check


def _indices(draw, g, lay, rows: int, k: int) -> torch.Tensor:
    """Per query row: ids of its batch's keys (some past the end, some repeated), then -1, and
    sometimes ids after a -1 (never read)."""
    out = torch.full((rows, 1, k), -1, dtype=torch.int32)
    bound = max(lay.k_lens + [1]) + 3
    for r in range(rows):
        n = draw(st.integers(0, k))
        out[r, 0, :n] = torch.randint(0, bound, (n,), generator=g, dtype=torch.int32)
        if n + 1 < k and draw(st.booleans()):
            out[r, 0, n + 1] = 0  # after the first -1: ignored
    return out


@st.composite
def cases(draw, Case):
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    lay = draw(A.layouts(g, max_keys=70))
    dtype = draw(st.sampled_from([torch.bfloat16, torch.float16]))
    heads = draw(st.sampled_from([1, 2, 4, 16, 32]))
    k = draw(st.sampled_from([1, 3, 64, 65, 130]))
    query = torch.randn(*lay.query_shape, heads, 512, generator=g).to(dtype)
    query_rope = torch.randn(*lay.query_shape, heads, 64, generator=g).to(dtype)
    key = torch.randn(*lay.key_shape(), 1, 512, generator=g).to(dtype)
    key_rope = torch.randn(*lay.key_shape(), 1, 64, generator=g).to(dtype)
    valid_q = A.valid_query_mask(lay)
    query.view(-1, heads, 512)[~valid_q] = A.NAN
    query_rope.view(-1, heads, 64)[~valid_q] = A.NAN
    A.plant_nan_outside(lay, key)
    A.plant_nan_outside(lay, key_rope)
    rows = int(torch.tensor(lay.query_shape).prod())
    indices = _indices(draw, g, lay, rows, k).reshape(*lay.query_shape, 1, k)
    latent, latent_rope = key, key_rope  # the separate caches, for the score bound
    combined = draw(st.booleans())
    if combined:  # FlashMLA's cache: a row is its latent, then its rope; key_rope None
        key, key_rope = torch.cat([key, key_rope], -1), None
    if draw(st.booleans()):
        query = A.noncontiguous(query)
    if draw(st.booleans()):
        key = A.noncontiguous(key)
    # value is its own tensor (torch_npu callers pass key, an equal copy or another latent tensor):
    # key itself, a copy, or key's columns reversed (other values of the same magnitudes); with the
    # combined cache V is its first 512 columns.
    value = draw(st.sampled_from([lambda k: k, lambda k: k.clone(), lambda k: k.flip(-1).contiguous()]))(key)
    scale = draw(st.sampled_from([0.0625, 0.1352338, 1.0]))
    kw = dict(block_table=lay.block_table, actual_seq_lengths_query=lay.lengths_q, actual_seq_lengths_kv=lay.lengths_k,
              query_rope=query_rope, key_rope=key_rope, layout_query=lay.layout_query, layout_kv=lay.layout_key,
              sparse_mode=draw(st.sampled_from([0, 3])), return_softmax_lse=draw(st.booleans()))  # fmt: skip
    mutation = draw(st.sampled_from([None] * 8 + ["D 256", "heads 3", "key dtype", "rope shape", "indices dtype",
                                                   "K 0", "K 2049", "value shape", "mode 1", "layout", "kv length",
                                                   "block id", "scale nan", "no rope", "attention_mode",
                                                   "key width"]))  # fmt: skip
    if mutation == "D 256":
        query = query[..., :256]
    elif mutation == "heads 3":
        query, kw["query_rope"] = query[..., :1, :].expand(*query.shape[:-2], 3, 512), query_rope[..., :1, :].expand(
            *query.shape[:-2], 3, 64)
    elif mutation == "key dtype":
        key = value = key.to(torch.float16 if dtype == torch.bfloat16 else torch.bfloat16)
    elif mutation == "rope shape" and not combined:
        kw["key_rope"] = key_rope[..., :32]
    elif mutation == "key width":  # a 576-wide key with a key_rope, or a 512-wide one without
        key = value = torch.cat([key, latent_rope], -1) if not combined else key[..., :512]
    elif mutation == "indices dtype":
        indices = indices.long()
    elif mutation == "K 0":
        indices = indices[..., :0]
    elif mutation == "K 2049":
        indices = torch.full((*lay.query_shape, 1, 2049), -1, dtype=torch.int32)
    elif mutation == "value shape":
        value = value[..., :256]
    elif mutation == "mode 1":
        kw["sparse_mode"] = 1
    elif mutation == "layout":
        kw["layout_query"] = "BNSD"
    elif mutation == "kv length" and lay.layout_key != "PA_BSND":
        kw["actual_seq_lengths_kv"] = [(lay.s2 if lay.layout_key == "BSND" else key.shape[0]) + 1] * len(lay.k_lens)
    elif mutation == "block id" and lay.block_table is not None and max(lay.k_lens) > 0:
        table = lay.block_table.clone()
        table[max(range(len(lay.k_lens)), key=lambda i: lay.k_lens[i]), 0] = lay.num_blocks
        kw["block_table"] = table
    elif mutation == "scale nan":
        scale = float("nan")
    elif mutation == "no rope":
        kw["query_rope"] = None
    elif mutation == "attention_mode":
        kw["attention_mode"] = 0
    else:
        mutation = None
    tensors = {n: t for n, t in (("query", query), ("key", key), ("value", value), ("sparse_indices", indices),
                                 ("query_rope", kw["query_rope"]), ("key_rope", kw["key_rope"]),
                                 ("block_table", kw["block_table"])) if isinstance(t, torch.Tensor)}  # fmt: skip
    return Case(
        call=lambda: ops.sparse_flash_attention(query, key, value, indices, scale, **kw),
        reference=lambda: reference.sparse_flash_attention(query, key, value, indices, scale, **kw),
        check=_check(query, kw["return_softmax_lse"], lambda: _score_bound(query, query_rope, latent, latent_rope, scale),
                     lay.layout_query),
        valid=mutation is None, tensors=tensors,
        what=f"{lay} heads {heads} {dtype} K {k} {combined=} {kw['sparse_mode']=} mutation {mutation}",
    )  # fmt: skip
