"""Every kernel once on the multi-core emulator (each AI core a thread), for the TSan job in
.ci/run: shapes that spread work over many cores, cross-core flags and SyncAll included. A data
race makes TSan abort the process (halt_on_error); here the results are also checked against the
references so a run that races silently still fails."""

import torch

from ascend_glm5 import ops, reference
from ascend_glm5.ops._backend import cpu_module
from ascend_glm5.perf.model import model

g = torch.Generator().manual_seed(0)

x = torch.randn(100, 3000, generator=g).to(torch.bfloat16)
assert all(torch.equal(a, b) for a, b in zip(ops.dynamic_quant(x), reference.dynamic_quant(x)))
print("dynamic_quant", cpu_module().last_launch()["cores"], "cores: ok")


def li_scores(q, k, w):
    """Dense fp32 indexer scores [B, S, N] of BSND inputs, and each row's scale (largest sum of |terms|)."""
    terms = torch.einsum("bshd,bnd->bshn", q.float(), k[:, :, 0].float()).relu()
    scale = torch.einsum("bsh,bshn->bsn", w.float().abs(), terms).amax(-1)
    return torch.einsum("bsh,bshn->bsn", w.float(), terms), scale


def check_li(label, q, k, w, sparse_count):
    """The kernel's top-k (causal) against the reference's, judged on scores: where keys tie, either
    may be picked, so each row's selected scores must match the reference's best within 1e-5 of the
    row's scale; indices must be distinct, visible and -1 only in the tail."""
    got, _ = ops.lightning_indexer(q, k, w, sparse_count=sparse_count, sparse_mode=3)
    _, want_val = reference.lightning_indexer(q, k, w, sparse_count=sparse_count, sparse_mode=3, return_value=True)
    scores, scale = li_scores(q, k, w)
    n_q, n_k = q.shape[1], k.shape[1]
    for b in range(q.shape[0]):
        for i in range(n_q):
            row, want = got[b, i, 0], want_val[b, i, 0]
            n = int(torch.isfinite(want).sum())
            picked = row[:n].long()
            assert (row[n:] == -1).all() and (picked >= 0).all() and (picked < n_k - n_q + i + 1).all(), (label, b, i)
            assert len(set(picked.tolist())) == n, (label, b, i)
            torch.testing.assert_close(scores[b, i, picked].sort().values, want[:n].sort().values,
                                       rtol=0, atol=1e-5 * float(scale[b, i]))
    print("lightning_indexer", label, cpu_module().last_launch()["block_dim"], "cores: ok")


def li_inputs(batch, rows, heads, keys, hot=None):
    """Random BSND indexer inputs; hot = (first, end): those keys scaled 16x over the others (which
    are scaled by 1/4), so they hold the top k, with positive weights."""
    q = torch.randn(batch, rows, heads, 128, generator=g).to(torch.bfloat16)
    k = torch.randn(batch, keys, 1, 128, generator=g)
    if hot:
        k *= 0.25
        k[:, hot[0]:hot[1]] *= 16
    w = torch.rand(batch, rows, heads, generator=g) if hot else torch.randn(batch, rows, heads, generator=g) * 0.1
    return q, k.to(torch.bfloat16), w


# Decode rows: each row's keys split over the cores, the partial lists merged after SyncAll.
check_li("(decode, key splits)", *li_inputs(4, 1, 32, 3000), 256)
# One row over every core, its lists written as heads before SyncAll and tails after it: a stretch
# of keys scaled up holds the top k, so the merge reads its lists past their heads (a GM counter wait).
check_li("(decode, list tails)", *li_inputs(1, 1, 8, 30000, hot=(14000, 15500)), 2048)
# Prefill: causal groups of 4 rows on every core, each group's rows split between its two vector
# cores, which keep their rows' whole top-k and write the indices before any SyncAll.
check_li("(prefill, rows split between vector cores)", *li_inputs(3, 150, 32, 150), 64)
# Two rows (one group, split by rows) over 20,000 keys: the group is cut over the cores and each
# row's partial lists are merged after SyncAll, past their heads (the scaled stretch holds the top k).
check_li("(prefill group cut over cores)", *li_inputs(1, 2, 8, 20000, hot=(9000, 11000)), 2048)


def check_sfa(label, n_kv, selected, key_rope_dim, rising=False):
    """30 query tokens of 16 heads over n_kv cache rows, `selected` distinct rows each; the rope
    either separate (key_rope_dim = 64) or in the combined 576-wide row (key_rope_dim = 0).
    rising: each row's ids in ascending score order over a wide range (the first rope column),
    so the vector cores rescale the P . V sum in GM between the cube's atomic adds."""
    q = torch.randn(30, 16, 512, generator=g).to(torch.bfloat16)
    qr = torch.randn(30, 16, 64, generator=g)
    kv = torch.randn(n_kv, 1, 576 - key_rope_dim, generator=g)
    kr = torch.randn(n_kv, 1, key_rope_dim, generator=g) if key_rope_dim else None
    if rising:
        qr[..., 0] = 150.0  # z = 0.1 * 150 * rope0: [-15, 15], past the reference's slack of 8
        (kr if key_rope_dim else kv[..., 512:])[:, 0, 0] = torch.rand(n_kv, generator=g) * 2 - 1
    qr, kv = qr.to(torch.bfloat16), kv.to(torch.bfloat16)
    kr = kr.to(torch.bfloat16) if key_rope_dim else None
    idx = torch.stack([torch.randperm(n_kv, generator=g)[:selected] for _ in range(30)])
    if rising:
        rope0 = (kr[:, 0, 0] if key_rope_dim else kv[:, 0, 512]).float()
        idx = torch.gather(idx, 1, rope0[idx].argsort(dim=1))
    idx = idx.to(torch.int32)[:, None]
    kw = dict(query_rope=qr, key_rope=kr, layout_query="TND", layout_kv="TND", actual_seq_lengths_query=[30],
              actual_seq_lengths_kv=[n_kv], sparse_mode=0)
    out = ops.sparse_flash_attention(q, kv, kv, idx, 0.1, **kw)[0]
    ref = reference.sparse_flash_attention(q, kv, kv, idx, 0.1, **kw)[0]
    torch.testing.assert_close(out.float(), ref.float(), rtol=0, atol=2 ** -5)
    print("sparse_flash_attention", label, cpu_module().last_launch()["block_dim"], "cores: ok")


check_sfa("(separate rope)", 200, 100, 64)
# Rows split over the cores: pieces of several tiles (and whole rows), whose P . V the cube writes
# and then atomically adds into the piece (or the O ring slot) while the vector cores post P.
check_sfa("(combined cache, split rows)", 400, 300, 0)
# Scores rising past the reference max: the vector cores rescale the GM sum of a piece (or a whole
# row's O ring slot) after the cube's P . V of the previous tile and before it adds the next; the
# columns the cube sums in L0C are corrected through its snapshot (the rebase word it reads, the
# snapshot the vector core reads after the cube's flag, the correction added after the item).
check_sfa("(combined cache, split rows, rising scores)", 400, 300, 0, rising=True)


def check_sfa_decode_sorted(rows, sparse_count, first_len):
    """GLM-5's decode layout at 64 heads: one query token per row over a paged combined cache
    (shuffled blocks of 128), row r seeing first_len + 10 r keys of which sparse_count are picked.
    Rows that see at most 4 x sparse_count keys are sorted into cache order in steps while the
    item before them runs, and the cube reads the sorted lists the vector cores post in GM; the
    launch must take that path (its MrgSort instructions are counted in the trace)."""
    heads, block = 64, 128
    kv_lens = [first_len + 10 * r for r in range(rows)]
    blocks = [-(-n // block) for n in kv_lens]
    table = torch.zeros(rows, max(blocks), dtype=torch.int32)
    order = torch.randperm(sum(blocks), generator=g).to(torch.int32)
    for r, n in enumerate(blocks):
        table[r, :n] = order[sum(blocks[:r]):sum(blocks[:r]) + n]
    key = torch.randn(sum(blocks), block, 1, 576, generator=g).to(torch.bfloat16)
    q = torch.randn(rows, heads, 512, generator=g).to(torch.bfloat16)
    qr = torch.randn(rows, heads, 64, generator=g).to(torch.bfloat16)
    idx = torch.stack([torch.randperm(n, generator=g)[:sparse_count] for n in kv_lens]).to(torch.int32)[:, None]
    kw = dict(query_rope=qr, block_table=table, layout_query="TND", layout_kv="PA_BSND",
              actual_seq_lengths_query=list(range(1, rows + 1)), actual_seq_lengths_kv=kv_lens)
    outs = []
    launch = lambda: outs.append(ops.sparse_flash_attention(q, key, key, idx, 0.0625, **kw)[0])  # noqa: E731
    (report,) = model(launch, emulate_soc=False)  # the emulator's own core count, as the cases above
    ref = reference.sparse_flash_attention(q, key, key, idx, 0.0625, **kw)[0]
    torch.testing.assert_close(outs[0].float(), ref.float(), rtol=0, atol=2 ** -5)
    sorts = sum(n for name, _, _, n in report.apis if name == "MrgSort")
    assert sorts > 0, "no row was sorted in steps: the shape no longer takes the path"
    print("sparse_flash_attention (decode, lists sorted in steps)", cpu_module().last_launch()["block_dim"],
          f"cores, {sorts:.0f} MrgSort: ok")


check_sfa_decode_sorted(30, 1024, 1100)


def check_sfa_one_ref():
    """Decode B = 1 at 64 heads over a paged combined cache (shuffled blocks of 128): the row's pieces
    share one reference max and the cubes add their P . V into one row sum that the vector cores
    zeroed at the start (sfa-oneref). The first half of the heads' scores rise far past the first
    key's in two pieces, whose vector cores keep their own reference and their piece's own acc."""
    heads, kv_len, k = 64, 8960, 2048
    plan = cpu_module().sparse_flash_attention_plan(
        query_start=[0], query_len=[1], key_start=[0], key_len=[kv_len], num_rows=1, heads=heads, sparse_count=k,
        sparse_mode=3, paged=True, block_size=128, max_blocks=kv_len // 128, combined=True,
        ai_cores=cpu_module().emulator_limits()["aic_cores"])
    assert plan["one_ref"], "the shape no longer takes the one-reference path"
    table = torch.randperm(kv_len // 128, generator=g).to(torch.int32)[None]
    key = torch.randn(kv_len // 128, 128, 1, 576, generator=g)
    q = torch.randn(1, heads, 512, generator=g).to(torch.bfloat16)
    qr = torch.randn(1, heads, 64, generator=g)
    qr[:, : heads // 2, 0] = 16.0  # z = 0.0625 * 16 * rope0 + noise
    idx = torch.randperm(kv_len, generator=g)[:k].to(torch.int32)
    rope0 = key[..., 512].view(-1)
    rope0.uniform_(-2.0, 2.0, generator=g)
    for pos in (300, 1500):  # pieces past the first key's score by ~30 on half of the heads
        i = int(idx[pos])
        key[table[0, i // 128], i % 128, 0, 512] = 32.0
    key, qr = key.to(torch.bfloat16), qr.to(torch.bfloat16)
    kw = dict(query_rope=qr, block_table=table, layout_query="TND", layout_kv="PA_BSND", actual_seq_lengths_query=[1],
              actual_seq_lengths_kv=[kv_len])
    out = ops.sparse_flash_attention(q, key, key, idx[None, None], 0.0625, **kw)[0]
    ref = reference.sparse_flash_attention(q, key, key, idx[None, None], 0.0625, **kw)[0]
    torch.testing.assert_close(out.float(), ref.float(), rtol=0, atol=2 ** -5)
    print("sparse_flash_attention (decode B = 1, one reference)", cpu_module().last_launch()["block_dim"], "cores: ok")


check_sfa_one_ref()
