"""Fuzz strategy for lightning_indexer: BSND / TND queries over BSND / TND / PA_BSND keys, random
lengths (0 included), shuffled and shared cache blocks, 1-64 heads, fp16 / bf16 with fp16 / bf16 /
fp32 weights, sparse_count 1-2048, both masks, non-contiguous views, NaN in every row the op must
not read; then, for a third of the cases, one argument broken (dtype, shape, layout, length, block
id, count, mode). Valid cases: per row the reference's key set up to near-ties, **best first**
(the contract's order), -1 after the valid entries, values equal to the reference's scores."""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import torch
from hypothesis import strategies as st

from ascend_glm5 import ops, reference

_spec = importlib.util.spec_from_file_location("fuzz_attention", pathlib.Path(__file__).with_name("_attention.py"))
A = sys.modules.setdefault("fuzz_attention", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(A)

REL = 1e-5  # fp32 summation-order differences, relative to the row's term scale


def _rows(t, last_dims):
    return t.reshape(-1, *t.shape[t.dim() - last_dims :])


def _check(args):
    query, key, weights, kw = args

    def check(got, want):
        indices, values = got
        ref_idx, ref_val = want
        k = kw["sparse_count"]
        assert indices.shape == (*query.shape[:-2], 1, k) and indices.dtype == torch.int32
        if kw.get("return_value"):
            assert values.shape == indices.shape and values.dtype == torch.float32
        else:
            assert values is None
        # Full reference ranking of every visible key, to judge order and near-ties.
        full_idx, full_val = reference.lightning_indexer(query, key, weights, **{**kw, "sparse_count": 2048,
                                                                                  "return_value": True})  # fmt: skip
        # Term scale bound per query row: sum_h |w_h| |q_h| max_t |k_t| (finite keys only).
        k_max = float(key.float().nan_to_num(0).norm(dim=-1).max()) if key.numel() else 0.0
        q_norm = _rows(query.float().nan_to_num(0), 2).norm(dim=-1)
        scale = (_rows(weights.float().nan_to_num(0), 1).abs() * q_norm).sum(-1) * k_max
        for r, (row, ref_row, full_row, full_v) in enumerate(zip(_rows(indices, 1), _rows(ref_idx, 1),
                                                                 _rows(full_idx, 1), _rows(full_val, 1))):  # fmt: skip
            n = int((ref_row >= 0).sum())
            assert int((row >= 0).sum()) == n and (row[n:] == -1).all(), f"row {r}: valid entries / -1 tail"
            if not n:
                continue
            score = {int(i): float(v) for i, v in zip(full_row, full_v) if i >= 0}
            mine = row[:n].tolist()
            assert len(set(mine)) == n and all(i in score for i in mine), f"row {r}: duplicate or invisible key"
            tol = REL * float(scale[r]) + 1e-30
            s = [score[i] for i in mine]
            assert all(a >= b - tol for a, b in zip(s, s[1:])), f"row {r}: not best first: {s}"
            kth = float(full_v[n - 1])
            assert min(s) >= kth - tol, f"row {r}: a key below the k-th best"
            if kw.get("return_value"):
                v = _rows(values, 1)[r]
                assert (v[:n] - torch.tensor(s)).abs().max() <= tol and torch.isneginf(v[n:]).all(), f"row {r}: values"

    return check


@st.composite
def cases(draw, Case):
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    lay = draw(A.layouts(g))
    dtype = draw(st.sampled_from([torch.bfloat16, torch.float16]))
    wdtype = draw(st.sampled_from([dtype, torch.float32]))
    heads = draw(st.sampled_from([1, 2, 8, 32, 64]))
    query = torch.randn(*lay.query_shape, heads, 128, generator=g).to(dtype)
    key = torch.randn(*lay.key_shape(), 1, 128, generator=g).to(dtype)
    weights = (torch.randn(*lay.query_shape, heads, generator=g) * 0.1).to(wdtype)
    valid_q = A.valid_query_mask(lay)
    query.view(-1, heads, 128)[~valid_q] = A.NAN  # rows the op must not read
    weights.view(-1, heads)[~valid_q] = A.NAN
    A.plant_nan_outside(lay, key)
    if draw(st.booleans()):
        query = A.noncontiguous(query)
    if draw(st.booleans()):
        key = A.noncontiguous(key)
    kw = dict(actual_seq_lengths_query=lay.lengths_q, actual_seq_lengths_key=lay.lengths_k, block_table=lay.block_table,
              layout_query=lay.layout_query, layout_key=lay.layout_key,
              sparse_count=draw(st.sampled_from([1, 2, 7, 16, 64, 2048])), sparse_mode=draw(st.sampled_from([0, 3])),
              return_value=draw(st.booleans()))  # fmt: skip
    mutation = draw(st.sampled_from([None] * 8 + ["D 64", "heads 65", "key dtype", "weights shape", "count 0",
                                                   "count 2049", "mode 1", "layout", "key length", "table dtype",
                                                   "block id", "short table", "tnd decreasing", "not a tensor"]))  # fmt: skip
    if mutation == "D 64":
        query, key = query[..., :64], key[..., :64]
    elif mutation == "heads 65":
        query = torch.zeros(*lay.query_shape, 65, 128, dtype=dtype)
        weights = torch.zeros(*lay.query_shape, 65, dtype=wdtype)
    elif mutation == "key dtype":
        key = key.to(torch.float16 if dtype == torch.bfloat16 else torch.bfloat16)
    elif mutation == "weights shape":
        weights = weights[..., :-1] if heads > 1 else weights[..., None]
    elif mutation == "count 0":
        kw["sparse_count"] = 0
    elif mutation == "count 2049":
        kw["sparse_count"] = 2049
    elif mutation == "mode 1":
        kw["sparse_mode"] = 1
    elif mutation == "layout":
        kw["layout_query"] = "BNSD"
    elif mutation == "key length":  # one more key than the storage (or the blocks) holds
        if lay.layout_key == "BSND":
            kw["actual_seq_lengths_key"] = [lay.s2 + 1] * len(lay.k_lens)
        elif lay.layout_key == "TND":
            kw["actual_seq_lengths_key"] = [key.shape[0] + 1] * len(lay.k_lens)
        else:
            kw["actual_seq_lengths_key"] = [lay.block_table.shape[1] * lay.block_size + 1] * len(lay.k_lens)
    elif mutation == "table dtype" and lay.block_table is not None:
        kw["block_table"] = lay.block_table.long()
    elif mutation == "block id" and lay.block_table is not None and max(lay.k_lens) > 0:
        table = lay.block_table.clone()
        b = max(range(len(lay.k_lens)), key=lambda i: lay.k_lens[i])
        table[b, 0] = draw(st.sampled_from([-1, lay.num_blocks]))
        kw["block_table"] = table
    elif mutation == "short table" and lay.block_table is not None and max(lay.k_lens) > 0:
        kw["block_table"] = lay.block_table[:, :0].contiguous()
    elif mutation == "tnd decreasing" and lay.layout_query == "TND" and len(lay.q_rows) > 1 and sum(lay.q_rows):
        ends = torch.tensor(lay.q_rows).cumsum(0).tolist()
        kw["actual_seq_lengths_query"] = [ends[-1]] + ends[1:-1] + [0]
    elif mutation == "not a tensor":
        weights = weights.tolist()
    else:
        mutation = None
    tensors = {n: t for n, t in (("query", query), ("key", key), ("weights", weights),
                                 ("block_table", kw["block_table"])) if isinstance(t, torch.Tensor)}  # fmt: skip
    return Case(
        call=lambda: ops.lightning_indexer(query, key, weights, **kw),
        reference=lambda: reference.lightning_indexer(query, key, weights, **kw),
        check=_check((query, key, weights, kw)), valid=mutation is None, tensors=tensors,
        what=f"{lay} heads {heads} {dtype}/{wdtype} {kw['sparse_count']=} {kw['sparse_mode']=} mutation {mutation}",
    )  # fmt: skip
