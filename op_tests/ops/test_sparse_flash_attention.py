"""sparse_flash_attention kernel (on the emulator) against the pure-torch reference.

Tolerances. Scores, softmax statistics and the P.V accumulation are fp32 in both. They differ in
where P is rounded to the input dtype: the reference rounds the normalised p = e / l, the kernel
rounds e = exp(z - m_running) per tile and divides the fp32 accumulation by l at the end (then
rounds the output). Each rounding is half a unit in the last place (ulp) of the dtype, so
attention_out is asserted within 2 ulp of the largest output value |out|_max (ulp = 2^(e - 7) for
bf16, 2^(e - 10) for fp16, e = floor(log2 |out|_max)), absolute, on every element; measured: at
most 1 ulp over these cases and 100 fuzzed ones. softmax_max / softmax_sum agree to fp32 rounding
of the 576-long dot products and of the sums (rtol = atol = 1e-5).
"""

from __future__ import annotations

import math

import pytest
import torch

from ascend_glm5 import ops, reference
from ascend_glm5.ops._backend import cpu_module

MANTISSA_BITS = {torch.bfloat16: 7, torch.float16: 10}
GLM5_SCALE, DSV32_SCALE = 0.0625, 0.1352338


def check(query, key, indices, scale, *, value=None, **kw):
    """Runs op and reference with return_softmax_lse and compares; returns the op's outputs.
    `value` defaults to `key` itself (MLA's absorbed form)."""
    kw.setdefault("return_softmax_lse", True)
    value = key if value is None else value
    got = ops.sparse_flash_attention(query, key, value, indices, scale, **kw)
    want = reference.sparse_flash_attention(query, key, value, indices, scale, **kw)
    out, ref = got[0].float(), want[0].float()
    assert got[0].shape == query.shape and got[0].dtype == query.dtype
    torch.testing.assert_close(out, ref, rtol=0, atol=2 * ulp_of_max(ref, query.dtype))
    if kw["return_softmax_lse"]:
        for g, w in zip(got[1:], want[1:]):
            assert g.shape == w.shape and g.dtype == torch.float32
            torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-5)
    return got


def ulp_of_max(ref: torch.Tensor, dtype: torch.dtype) -> float:
    """One unit in the last place of the dtype at the largest |ref|."""
    top = float(ref.abs().max()) if ref.numel() else 0.0
    return 2.0 ** (math.floor(math.log2(top)) - MANTISSA_BITS[dtype]) if top > 0 else 0.0


def _randn(shape, dtype, g):
    return torch.randn(shape, generator=g).to(dtype)


def _queries(shape, dtype, g):
    """query [..., N1, 512] and query_rope [..., N1, 64]."""
    return _randn((*shape, 512), dtype, g), _randn((*shape, 64), dtype, g)


def _paged_cache(lens, block_size, dtype, g, spare=2):
    """PA_BSND key / key_rope with a shuffled block_table covering `lens` (plus unused blocks)."""
    per = [-(-n // block_size) for n in lens]
    width = max(max(per), 1)
    num_blocks = sum(per) + spare
    ids = torch.randperm(num_blocks, generator=g).to(torch.int32)
    table = torch.zeros((len(lens), width), dtype=torch.int32)
    used = 0
    for b, n in enumerate(per):
        table[b, :n] = ids[used : used + n]
        used += n
    key = _randn((num_blocks, block_size, 1, 512), dtype, g)
    key_rope = _randn((num_blocks, block_size, 1, 64), dtype, g)
    return key, key_rope, table


def _indices(rows, k, lens, g, *, over=0):
    """int32 [rows, 1, k]: per row a random permutation of [0, len + over) cut to k, -1 padded.
    Ids >= len (over > 0) are out of range and must be skipped."""
    out = torch.full((rows, 1, k), -1, dtype=torch.int32)
    for r, n in enumerate(lens):
        ids = torch.randperm(n + over, generator=g)[:k]
        out[r, 0, : ids.numel()] = ids.to(torch.int32)
    return out


def _decode_problem(heads, kv_lens, k, g, *, dtype=torch.bfloat16, block_size=128, over=0):
    """One query token per row over the combined cache (decode's layout): q, q_rope, key, table, indices."""
    rows = len(kv_lens)
    q, qr = _queries((rows, heads), dtype, g)
    key, key_rope, table = _paged_cache(kv_lens, block_size, dtype, g)
    return q, qr, torch.cat([key, key_rope], -1), table, _indices(rows, k, kv_lens, g, over=over)


def check_decode(q, qr, key, table, idx, kv_lens):
    """check() for a _decode_problem: TND queries of one token per row, PA_BSND cache."""
    return check(q, key, idx, GLM5_SCALE, query_rope=qr, block_table=table, layout_query="TND", layout_kv="PA_BSND",
                 actual_seq_lengths_query=list(range(1, len(kv_lens) + 1)), actual_seq_lengths_kv=kv_lens)  # fmt: skip


def _sequences_problem(heads, kv_lens, per, k, g, *, over=0):
    """len(kv_lens) causal sequences of `per` query tokens each, the last `per` positions of each (TND)
    over a paged cache: q, q_rope, key, key_rope (separate caches), table, indices [rows, 1, k]."""
    rows = per * len(kv_lens)
    q, qr = _queries((rows, heads), torch.bfloat16, g)
    key, key_rope, table = _paged_cache(kv_lens, 128, torch.bfloat16, g)
    idx = _indices(rows, k, [n - per + 1 + i for n in kv_lens for i in range(per)], g, over=over)
    return q, qr, key, key_rope, table, idx


def check_sequences(q, qr, key, table, idx, kv_lens, per, *, key_rope=None):
    """check() for a _sequences_problem; key_rope None: `key` is the combined cache."""
    return check(q, key, idx, GLM5_SCALE, query_rope=qr, key_rope=key_rope, block_table=table, layout_query="TND",
                 layout_kv="PA_BSND", actual_seq_lengths_query=[per * (b + 1) for b in range(len(kv_lens))],
                 actual_seq_lengths_kv=kv_lens)  # fmt: skip


# ---- layouts, heads, dtypes, masks ---------------------------------------------------------------

@pytest.mark.parametrize("heads", [1, 8, 32])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("sparse_mode", [0, 3])
def test_bsnd_mixed_lengths(heads, dtype, sparse_mode):
    g = torch.Generator().manual_seed(heads * 10 + sparse_mode)
    batch, s1, s2, k = 3, 2, 150, 96  # 96 selected rows: one full tile of 64 and a partial one
    q, qr = _queries((batch, s1, heads), dtype, g)
    key, key_rope = _randn((batch, s2, 1, 512), dtype, g), _randn((batch, s2, 1, 64), dtype, g)
    kv_lens = [150, 37, 1]
    idx = _indices(batch * s1, k, [n for n in kv_lens for _ in range(s1)], g, over=20).reshape(batch, s1, 1, k)
    check(q, key, idx, 0.1, query_rope=qr, key_rope=key_rope, actual_seq_lengths_query=[2, 1, 2],
          actual_seq_lengths_kv=kv_lens, sparse_mode=sparse_mode)  # fmt: skip


def test_tnd_query_paged_cache_causal():
    g = torch.Generator().manual_seed(1)
    q, qr = _queries((13, 16), torch.bfloat16, g)
    q_ends, kv_lens = [3, 3, 10], [40, 5, 70]  # batch 1 has no query rows
    key, key_rope, table = _paged_cache(kv_lens, 16, torch.bfloat16, g)
    rows_kv = [40] * 3 + [70] * 7 + [0] * 3  # rows past the last batch attend nothing
    idx = _indices(13, 48, rows_kv, g)
    check(q, key, idx, 0.2, query_rope=qr, key_rope=key_rope, block_table=table, layout_query="TND",
          layout_kv="PA_BSND", actual_seq_lengths_query=q_ends, actual_seq_lengths_kv=kv_lens)  # fmt: skip


def test_shared_physical_blocks():
    # Prefix sharing: both sequences map their first two logical blocks to the same physical
    # blocks, and one block appears twice in a row. Reads alias; nothing is written: allowed.
    g = torch.Generator().manual_seed(9)
    q, qr = _queries((2, 1, 16), torch.bfloat16, g)
    key, key_rope, _ = _paged_cache([64], 16, torch.bfloat16, g, spare=4)
    table = torch.tensor([[0, 1, 2, 3], [0, 1, 4, 4]], dtype=torch.int32)
    idx = _indices(2, 40, [64, 60], g).reshape(2, 1, 1, 40)
    check(q, key, idx, 0.1, query_rope=qr, key_rope=key_rope, block_table=table, layout_kv="PA_BSND",
          actual_seq_lengths_kv=[64, 60])  # fmt: skip


def test_tnd_query_tnd_cache():
    g = torch.Generator().manual_seed(2)
    q, qr = _queries((6, 4), torch.float16, g)
    key, key_rope = _randn((90, 1, 512), torch.float16, g), _randn((90, 1, 64), torch.float16, g)
    idx = _indices(6, 70, [30, 30, 60, 60, 60, 60], g)
    check(q, key, idx, 0.15, query_rope=qr, key_rope=key_rope, layout_query="TND", layout_kv="TND",
          actual_seq_lengths_query=[2, 6], actual_seq_lengths_kv=[30, 90], sparse_mode=0)  # fmt: skip


@pytest.mark.parametrize("k", [1, 7, 2048])
def test_top_k_sizes(k):
    g = torch.Generator().manual_seed(k)
    tokens = 2 if k == 2048 else 5
    q, qr = _queries((tokens, 1, 16), torch.bfloat16, g)
    kv_lens = [3000] * tokens
    key, key_rope, table = _paged_cache(kv_lens, 128, torch.bfloat16, g)
    idx = _indices(tokens, k, kv_lens, g).reshape(tokens, 1, 1, k)
    check(q, key, idx, GLM5_SCALE, query_rope=qr, key_rope=key_rope, block_table=table, layout_kv="PA_BSND",
          actual_seq_lengths_kv=kv_lens)  # fmt: skip


@pytest.mark.parametrize("heads, scale", [(64, GLM5_SCALE), (128, DSV32_SCALE)], ids=["glm5", "dsv32"])
def test_model_decode_top_2048(heads, scale):
    # Decode of two sequences: one with more cached tokens than top-k, one with fewer (-1 padded).
    g = torch.Generator().manual_seed(heads)
    q, qr = _queries((2, 1, heads), torch.bfloat16, g)
    kv_lens = [5000, 1500]
    key, key_rope, table = _paged_cache(kv_lens, 128, torch.bfloat16, g)
    idx = _indices(2, 2048, kv_lens, g).reshape(2, 1, 1, 2048)
    check(q, key, idx, scale, query_rope=qr, key_rope=key_rope, block_table=table, layout_kv="PA_BSND",
          actual_seq_lengths_kv=kv_lens)  # fmt: skip


# ---- the index rules ------------------------------------------------------------------------------

def test_rows_that_attend_nothing_give_zeros():
    g = torch.Generator().manual_seed(3)
    q, qr = _queries((2, 4, 8), torch.bfloat16, g)
    key, key_rope = _randn((2, 20, 1, 512), torch.bfloat16, g), _randn((2, 20, 1, 64), torch.bfloat16, g)
    idx = _indices(8, 10, [20] * 8, g).reshape(2, 4, 1, 10)
    idx[0, 0] = -1                          # nothing selected
    idx[0, 1] = torch.arange(20, 30)        # every id beyond the kv length
    idx[0, 2, 0, :3] = torch.tensor([-1, 4, 5])  # reading stops at the first -1
    # Batch 1: 3 valid query rows over 2 kv tokens, causal: row i sees token ids < i; row 3 is padding.
    idx[1, :, 0, :3] = torch.tensor([[0, 1, -1], [1, 5, -1], [1, 0, -1], [0, 1, -1]])
    out, m, s = check(q, key, idx, 0.3, query_rope=qr, key_rope=key_rope, actual_seq_lengths_query=[4, 3],
                      actual_seq_lengths_kv=[20, 2], sparse_mode=3)  # fmt: skip
    for b, r in [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 3)]:
        assert (out[b, r] == 0).all() and (m[b, 0, r] == 0).all() and (s[b, 0, r] == 0).all()
    assert (out[0, 3] != 0).any()


def test_kv_shorter_than_top_k():
    g = torch.Generator().manual_seed(4)
    q, qr = _queries((3, 1, 4), torch.float16, g)
    kv_lens = [50, 64, 1]
    key, key_rope, table = _paged_cache(kv_lens, 32, torch.float16, g)
    # The indexer's form: every visible token once, then -1; plus ids past the length mixed in.
    idx = _indices(3, 128, kv_lens, g, over=30).reshape(3, 1, 1, 128)
    check(q, key, idx, 0.25, query_rope=qr, key_rope=key_rope, block_table=table, layout_kv="PA_BSND",
          actual_seq_lengths_kv=kv_lens)  # fmt: skip


def test_repeated_ids_are_attended_per_occurrence():
    g = torch.Generator().manual_seed(5)
    q, qr = _queries((1, 2, 4), torch.bfloat16, g)
    key, key_rope = _randn((1, 40, 1, 512), torch.bfloat16, g), _randn((1, 40, 1, 64), torch.bfloat16, g)
    ids = torch.tensor([3, 3, 3, 9, 17, 9, 30, 3] * 10, dtype=torch.int32)  # 80 entries over two tiles
    idx = torch.stack([ids, ids.flip(0)]).reshape(1, 2, 1, 80)
    out, _, _ = check(q, key, idx, 0.02, query_rope=qr, key_rope=key_rope, sparse_mode=0)
    once = torch.tensor([3, 9, 17, 30], dtype=torch.int32).expand(1, 2, 1, 4).contiguous()
    once, _, _ = ops.sparse_flash_attention(q, key, key, once, 0.02, query_rope=qr, key_rope=key_rope, sparse_mode=0)
    assert (out.float() - once.float()).abs().max() > 0.05  # duplicates change the weights


def _cube_reads(idx, ends, heads, cores):
    """GM bytes the cube cores must read for one launch, from the documented work split
    (docs/ops/sparse_flash_attention.md, "Work plan"): q once per piece that selects a row, each
    selected row once (latent + rope), and P once per tile (padded to 16) of 128 selected rows
    (64 at 128 heads); and q of a core's first piece that could attend (its row sees keys), which
    the cube loads before the selection is known, if that piece selects nothing."""
    k = idx.shape[-1]
    tile_rows = 128 if heads <= 64 else 64
    rows = idx.reshape(-1, k).tolist()
    work = [-(-min(k, e) // tile_rows) if e > 0 else 0 for e in ends]
    split = sum(w > 0 for w in work) < 4 * cores
    share = max(1, -(-sum(work) // cores))
    # A split launch shares positions out in grains of 64; of 8 with fewer tiles than cores; whole
    # tiles with a tile a core.
    grain = tile_rows if not split or sum(work) == cores else 64 if sum(work) > cores else 8
    grains = [-(-min(k, e) // grain) if e > 0 else 0 for e in ends]
    grain_share = max(1, -(-sum(grains) // cores))
    pieces, filled, core, done = [], 0, 0, 0  # pieces: (core, row, begin, end)
    for r, w in enumerate(work):
        if w == 0:
            pieces.append((core, r, 0, 0))
            continue
        if not split:
            core = min(cores - 1, (2 * done + w) // (2 * share))
            pieces.append((core, r, 0, k))
            done += w
            continue
        at = 0
        while at < grains[r]:
            if filled == grain_share and core + 1 < cores:
                core, filled = core + 1, 0
            take = min(grains[r] - at, max(grain_share - filled, 1))
            pieces.append((core, r, grain * at, k if at + take == grains[r] else grain * (at + take)))
            at, filled = at + take, filled + take
    total, preloaded = 0, set()
    for c, r, begin, end in pieces:
        ids = rows[r][: rows[r].index(-1)] if -1 in rows[r] else rows[r]
        n = sum(0 <= i < ends[r] for i in ids[begin:end])
        first = begin < end and c not in preloaded
        if first:
            preloaded.add(c)
        if n:
            tiles = [min(tile_rows, n - t) for t in range(0, n, tile_rows)]
            total += heads * 576 * 2 + n * 576 * 2 + sum(heads * (-(-t // 16) * 16) * 2 for t in tiles)
        elif first:
            total += heads * 576 * 2
    return total


def test_pieces_cut_inside_tiles():
    # 5 decode rows of 2048 (80 tiles) over the cores (24 here): a split launch with more tiles than
    # cores shares the positions out in grains of 64, 7 a core (448 positions), so pieces start and
    # end inside a tile. The cube's GM reads follow that split: q once per piece, every selected row
    # once, P once per tile of each piece.
    g = torch.Generator().manual_seed(12)
    rows, heads, k = 5, 8, 2048
    kv_lens = [2500 + 9 * r for r in range(rows)]
    q, qr = _queries((rows, heads), torch.bfloat16, g)
    key, key_rope, table = _paged_cache(kv_lens, 128, torch.bfloat16, g)
    key = torch.cat([key, key_rope], -1)
    idx = _indices(rows, k, kv_lens, g)
    check(q, key, idx, GLM5_SCALE, query_rope=qr, block_table=table, layout_query="TND", layout_kv="PA_BSND",
          actual_seq_lengths_query=list(range(1, rows + 1)), actual_seq_lengths_kv=kv_lens)  # fmt: skip
    launch = cpu_module().last_launch()
    cores = cpu_module().emulator_limits()["aic_cores"]
    assert launch["block_dim"] == -(-rows * k // 64 // -(-rows * k // 64 // cores))  # cores with grains
    cube_reads = sum(c["mte2_bytes"] for c in launch["per_core"][0::3])
    assert cube_reads == _cube_reads(idx, kv_lens, heads, cores)


@pytest.mark.parametrize("combined", [False, True], ids=["separate-rope", "combined-cache"])
def test_contiguous_ids_read_once(combined):
    # Ascending ids over pages laid out back to back: the gather merges them into long copies. Every
    # selected row is still read exactly once: the cube's GM reads are q (once per piece of a row),
    # the selected rows and P.
    g = torch.Generator().manual_seed(6)
    heads, kv_len, k = 8, 200, 150
    q, qr = _queries((2, 1, heads), torch.bfloat16, g)
    key, key_rope = _randn((16, 16, 1, 512), torch.bfloat16, g), _randn((16, 16, 1, 64), torch.bfloat16, g)
    if combined:
        key, key_rope = torch.cat([key, key_rope], -1), None
    table = torch.arange(26, dtype=torch.int32).reshape(2, 13) % 16
    ids = torch.arange(k, dtype=torch.int32)
    idx = torch.stack([ids, ids + 100]).reshape(2, 1, 1, k)  # row 1: ids 200.. are past the length
    check(q, key, idx, 0.2, query_rope=qr, key_rope=key_rope, block_table=table, layout_kv="PA_BSND",
          actual_seq_lengths_kv=[kv_len, kv_len], return_softmax_lse=False)  # fmt: skip
    launch = cpu_module().last_launch()
    cube_reads = sum(c["mte2_bytes"] for c in launch["per_core"][0::3])  # MIX: AIC, AIV, AIV per block
    assert cube_reads == _cube_reads(idx, [kv_len, kv_len], heads, cpu_module().emulator_limits()["aic_cores"])


def _spaced_rows_launch(step, combined):
    """Two decode rows whose 300 ids rise by `step` cache rows (a paged cache laid out in order),
    checked against the reference; returns the MTE2 copy counts of the cube cores and of the
    vector cores."""
    g = torch.Generator().manual_seed(40)
    heads, k, block = 16, 300, 128
    kv_len = 7 + step * k
    blocks = -(-kv_len // block)
    q, qr = _queries((2, heads), torch.bfloat16, g)
    key, key_rope = _randn((blocks, block, 1, 512), torch.bfloat16, g), _randn((blocks, block, 1, 64), torch.bfloat16, g)
    if combined:
        key, key_rope = torch.cat([key, key_rope], -1), None
    table = torch.arange(blocks, dtype=torch.int32).repeat(2, 1)
    ids = torch.arange(k, dtype=torch.int32) * step
    idx = torch.stack([ids, ids + 7]).reshape(2, 1, k)
    check(q, key, idx, GLM5_SCALE, query_rope=qr, key_rope=key_rope, block_table=table, layout_query="TND",
          layout_kv="PA_BSND", actual_seq_lengths_query=[1, 2], actual_seq_lengths_kv=[kv_len, kv_len])  # fmt: skip
    per_core = cpu_module().last_launch()["per_core"]  # MIX: AIC, AIV, AIV per block
    return sum(c["mte2_calls"] for c in per_core[0::3]), sum(c["mte2_calls"] for c in per_core) - sum(
        c["mte2_calls"] for c in per_core[0::3]
    )


@pytest.mark.parametrize("combined, cube_max_step", [(False, 127), (True, 113)], ids=["separate-rope", "combined-cache"])
def test_evenly_spaced_rows_take_one_copy(combined, cube_max_step):
    # Rows that rise by a fixed step are one copy however far apart, as contiguous ones are (step 1):
    # on the cube while the step's row stride fits ND2NZ's 16-bit srcDValue (65535 elements: 113
    # rows of 576, 127 of 512), on the vector cores at any step (DataCopyPad's srcStride counts
    # bytes in 32 bits). One step more, the cube copies each of its rows alone.
    cube_runs, vector_runs = _spaced_rows_launch(1, combined)
    cube_far, vector_far = _spaced_rows_launch(cube_max_step, combined)
    cube_singles, vector_singles = _spaced_rows_launch(cube_max_step + 1, combined)
    assert (cube_far, vector_far) == (cube_runs, vector_runs)
    assert vector_singles == vector_runs
    assert cube_singles > cube_runs + 100  # the cube gathers over a third of the 600 rows


def test_many_rows_share_each_core():
    # More rows than AI cores: each core pipelines tiles across rows (including empty ones).
    g = torch.Generator().manual_seed(7)
    # 72 rows of one tile each (100 ids < 128 rows of a tile at 4 heads): 3 rows per core.
    q, qr = _queries((72, 4), torch.bfloat16, g)
    kv_lens = [90] * 72
    idx = _indices(72, 100, kv_lens, g)
    idx[::7] = -1
    key, key_rope = _randn((90, 1, 512), torch.bfloat16, g), _randn((90, 1, 64), torch.bfloat16, g)
    check(q, key, idx, 0.2, query_rope=qr, key_rope=key_rope, layout_query="TND", layout_kv="TND",
          actual_seq_lengths_query=[72], actual_seq_lengths_kv=[90], sparse_mode=0)  # fmt: skip
    assert cpu_module().last_launch()["block_dim"] == cpu_module().emulator_limits()["aic_cores"]


def _causal_paged_prefill(rows, heads, kv_len, g):
    """bf16 queries of one TND batch of `rows` prefill rows over a 16-token paged cache of kv_len
    tokens (sparse_mode 3): (query, key, each row's causal end, the op's other arguments)."""
    q, qr = _queries((rows, heads), torch.bfloat16, g)
    key, key_rope, table = _paged_cache([kv_len], 16, torch.bfloat16, g)
    ends = [kv_len - rows + i + 1 for i in range(rows)]
    kw = dict(query_rope=qr, key_rope=key_rope, block_table=table, layout_query="TND", layout_kv="PA_BSND",
              actual_seq_lengths_query=[rows], actual_seq_lengths_kv=[kv_len], sparse_mode=3)  # fmt: skip
    return q, key, ends, kw


def _check_sorted_as_in_order(q, key, shuffled, in_order, kw):
    """Sorted rows: `shuffled` ids match the reference and give the outputs (bit-equal) and GM copies
    of the same ids `in_order`."""
    got = check(q, key, shuffled, GLM5_SCALE, **kw)
    copies = cpu_module().last_launch()["total"]["mte2_calls"]
    want = ops.sparse_flash_attention(q, key, key, in_order, GLM5_SCALE, return_softmax_lse=True, **kw)
    assert cpu_module().last_launch()["total"]["mte2_calls"] == copies
    for a, b in zip(got, want):
        assert torch.equal(a, b)


@pytest.mark.parametrize("heads", [64, pytest.param(128, marks=pytest.mark.heavy)])
def test_prefill_rows_sorted_into_runs(heads):
    # A launch of whole rows (prefill: >= 4 rows per AI core) at N1 >= 64 sorts each row's selected
    # cache rows, so ids in the indexer's (random) order are gathered in runs as if given in order:
    # the same GM copies and bit-equal outputs for a row's ids shuffled or pre-sorted. Rows with
    # duplicates, ids past the causal end, -1 padding and one that attends nothing; paged 16-token
    # blocks (runs end at block edges).
    g = torch.Generator().manual_seed(23)
    rows, kv_len, k = 100, 300, 192
    q, key, ends, kw = _causal_paged_prefill(rows, heads, kv_len, g)
    idx = _indices(rows, k, ends, g, over=8)
    idx[1::4, 0, 7] = idx[1::4, 0, 3]  # duplicates
    idx[::5, 0, 150:] = -1
    idx[3, 0, 0] = -1  # row 3 attends nothing
    in_order = idx.clone()
    for r in range(rows):
        n = int((idx[r, 0] == -1).nonzero()[0]) if bool((idx[r, 0] == -1).any()) else k
        in_order[r, 0, :n] = idx[r, 0, :n].sort().values
    _check_sorted_as_in_order(q, key, idx, in_order, kw)


@pytest.mark.parametrize("kv_len", [pytest.param(300, marks=pytest.mark.heavy), 400], ids=["density-boundary", "all-sparse"])
def test_prefill_sorts_only_dense_rows(kv_len):
    # The host marks a whole row sorted when it sees at most 4 x K keys (SfaRow::sorted; denser rows
    # form runs and pairs in cache order). Ids 0..K-1 per row: in order, one GM copy per 16-token
    # page. A sorted row's shuffled ids cost the copies of the in-order ones (bit-equal outputs); a
    # row past 4 x K keeps its order, so shuffling it costs more copies. kv_len 300: rows see
    # 201..300 keys, the boundary (256, 257) inside the launch; 400: rows see 301..400 keys, none
    # sorted.
    g = torch.Generator().manual_seed(29)
    rows, heads, k = 100, 64, 64
    q, key, ends, kw = _causal_paged_prefill(rows, heads, kv_len, g)
    kw["return_softmax_lse"] = True
    in_order = torch.arange(k, dtype=torch.int32).repeat(rows, 1, 1).reshape(rows, 1, k)

    def run(shuffled_rows):
        idx = in_order.clone()
        for r in shuffled_rows:
            idx[r, 0] = idx[r, 0, torch.randperm(k, generator=g)]
        got = check(q, key, idx, GLM5_SCALE, **kw)
        return got, cpu_module().last_launch()["total"]["mte2_calls"]

    base, copies = run([])
    dense = [r for r in range(rows) if ends[r] <= 4 * k]
    if dense:
        got, shuffled_copies = run(dense)
        assert shuffled_copies == copies
        for a, b in zip(got, base):
            assert torch.equal(a, b)
    first_sparse = len(dense)
    assert ends[first_sparse] == 4 * k + 1 or not dense
    _, shuffled_copies = run([first_sparse])
    assert shuffled_copies > copies


def test_prefill_sort_merges_only_the_rows_there_are():
    # A sorted row is padded to whole runs of 32 ids, not to 32 x 4^k (SfaRowSorter): each merge
    # round takes its groups of 4 whole runs in one MrgSort and the rest (1 to 4 runs, the last
    # shorter) in one more, or copies it when it is one run. The row lengths cover each form: a lone
    # run (33 ids: 2 runs; 160: a group and one run), a rest of 2, 3 or 4 runs (64, 96, 224, 700),
    # whole groups (128, 512) and a second round's lone run (544). Shuffled ids must give the
    # outputs and GM copies of the same ids in order.
    g = torch.Generator().manual_seed(31)
    rows, heads, k = 100, 64, 704
    q, key, ends, kw = _causal_paged_prefill(rows, heads, 800, g)
    lengths = [1, 31, 33, 64, 96, 128, 160, 224, 288, 512, 544, 640, 700]
    shuffled = torch.full((rows, 1, k), -1, dtype=torch.int32)
    in_order = shuffled.clone()
    for r in range(rows):
        n = lengths[r % len(lengths)]
        ids = torch.randperm(ends[r], generator=g)[:n].to(torch.int32)
        shuffled[r, 0, :n] = ids
        in_order[r, 0, :n] = ids.sort().values
    _check_sorted_as_in_order(q, key, shuffled, in_order, kw)


# ---- value, split rows (flash-decoding), work-split boundaries ------------------------------------

@pytest.mark.parametrize("layout", ["BSND", "TND", "PA_BSND"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_value_copy_or_separate_tensor(layout, dtype):
    # torch_npu callers pass value as key.clone() or as a separate latent tensor: V is read from it.
    g = torch.Generator().manual_seed(21)
    heads, k, kv_lens = 8, 80, [70, 130]
    if layout == "PA_BSND":
        key, key_rope, table = _paged_cache(kv_lens, 16, dtype, g)
        q, qr = _queries((2, 2, heads), dtype, g)
        kw = dict(block_table=table, layout_kv="PA_BSND", actual_seq_lengths_kv=kv_lens)
    elif layout == "BSND":
        key, key_rope = _randn((2, 130, 1, 512), dtype, g), _randn((2, 130, 1, 64), dtype, g)
        q, qr = _queries((2, 2, heads), dtype, g)
        kw = dict(actual_seq_lengths_kv=kv_lens)
    else:
        key, key_rope = _randn((200, 1, 512), dtype, g), _randn((200, 1, 64), dtype, g)
        q, qr = _queries((4, heads), dtype, g)
        kw = dict(layout_query="TND", layout_kv="TND", actual_seq_lengths_query=[2, 4], actual_seq_lengths_kv=[70, 200])
    idx = _indices(4, k, [70, 70, 130, 130], g, over=10).reshape(*q.shape[:-2], 1, k)
    kw.update(query_rope=qr, key_rope=key_rope)
    same = check(q, key, idx, 0.1, **kw)
    copy = check(q, key, idx, 0.1, value=key.clone(), **kw)
    for a, b in zip(same, copy):  # a copy of key is key: the same numbers
        assert torch.equal(a, b)
    other = _randn(key.shape, dtype, g)
    out, _, _ = check(q, key, idx, 0.1, value=other, **kw)
    assert (out.float() - same[0].float()).abs().max() > 0.1  # V really comes from value


@pytest.mark.parametrize("layout, heads", [("BSND", 8), ("TND", 1), ("PA_BSND", 64), pytest.param("PA_BSND", 128, marks=pytest.mark.heavy)])
def test_combined_cache(layout, heads):
    # key_rope None: each key row is its latent then its rope (576 wide, FlashMLA's cache), value is
    # key (or of its shape: V is its latent part). The same numbers as the separate key / key_rope
    # layout: the same results (the kernel only copies the rows differently), and the reference's.
    # Decode-sized paged cases cut rows across cores; 128 heads use 64-row tiles.
    g = torch.Generator().manual_seed(heads + 7)
    dtype = torch.float16 if layout == "TND" else torch.bfloat16
    if layout == "PA_BSND":
        kv_lens, k = [5000, 1500], 2048
        key, key_rope, table = _paged_cache(kv_lens, 128, dtype, g)
        q, qr = _queries((2, 1, heads), dtype, g)
        kw = dict(block_table=table, layout_kv="PA_BSND", actual_seq_lengths_kv=kv_lens)
        idx = _indices(2, k, kv_lens, g).reshape(2, 1, 1, k)
        idx[0, 0, 0, 100:400] = torch.arange(1000, 1300, dtype=torch.int32)  # a run of contiguous rows
    elif layout == "BSND":
        kv_lens, k = [70, 130], 80
        key, key_rope = _randn((2, 130, 1, 512), dtype, g), _randn((2, 130, 1, 64), dtype, g)
        q, qr = _queries((2, 2, heads), dtype, g)
        kw = dict(actual_seq_lengths_kv=kv_lens)
        idx = _indices(4, k, [70, 70, 130, 130], g, over=10).reshape(2, 2, 1, k)
    else:
        kv_lens, k = [70, 130], 80
        key, key_rope = _randn((200, 1, 512), dtype, g), _randn((200, 1, 64), dtype, g)
        q, qr = _queries((4, heads), dtype, g)
        kw = dict(layout_query="TND", layout_kv="TND", actual_seq_lengths_query=[2, 4], actual_seq_lengths_kv=[70, 200])
        idx = _indices(4, k, [70, 70, 130, 130], g, over=10).reshape(4, 1, k)
    combined = torch.cat([key, key_rope], -1)
    got = check(q, combined, idx, GLM5_SCALE, query_rope=qr, key_rope=None, **kw)
    separate = ops.sparse_flash_attention(q, key, key, idx, GLM5_SCALE, query_rope=qr, key_rope=key_rope,
                                          return_softmax_lse=True, **kw)  # fmt: skip
    for a, b in zip(got, separate):
        assert torch.equal(a, b)
    view = torch.cat([combined, combined[..., :32]], -1)[..., :576]  # rows apart: the op makes it contiguous
    assert not view.is_contiguous()
    assert torch.equal(ops.sparse_flash_attention(q, view, view, idx, GLM5_SCALE, query_rope=qr, **kw)[0], got[0])
    # value of key's shape, not key itself: a copy gives the same; another tensor's latent columns are V.
    copy = ops.sparse_flash_attention(q, combined, combined.clone(), idx, GLM5_SCALE, query_rope=qr, **kw)[0]
    assert torch.equal(copy, got[0])
    other = _randn(combined.shape, dtype, g)
    out = check(q, combined, idx, GLM5_SCALE, value=other, query_rope=qr, key_rope=None, **kw)[0]
    assert torch.equal(out, ops.sparse_flash_attention(q, key, other[..., :512].contiguous(), idx, GLM5_SCALE,
                                                       query_rope=qr, key_rope=key_rope, **kw)[0])  # fmt: skip


@pytest.mark.parametrize("heads", [1, 16, 64])
def test_decode_rows_split_across_cores(heads):
    # Fewer rows than AI cores: each row's top-2048 is cut into pieces on several cores and the
    # pieces' (out, max, sum) are merged; softmax_max is the exact maximum, softmax_sum the sum.
    g = torch.Generator().manual_seed(heads + 100)
    kv_lens = [5000, 2100, 3000]
    q, qr = _queries((3, 1, heads), torch.bfloat16, g)
    key, key_rope, table = _paged_cache(kv_lens, 128, torch.bfloat16, g)
    idx = _indices(3, 2048, kv_lens, g).reshape(3, 1, 1, 2048)
    check(q, key, idx, GLM5_SCALE, query_rope=qr, key_rope=key_rope, block_table=table, layout_kv="PA_BSND",
          actual_seq_lengths_kv=kv_lens)  # fmt: skip
    assert cpu_module().last_launch()["block_dim"] == cpu_module().emulator_limits()["aic_cores"]


@pytest.mark.parametrize("heads", [16, 64])
def test_every_row_split_with_more_tiles_than_cores(heads):
    # Fewer rows than AI cores but more tiles than cores, over the combined cache (GLM-5 decode
    # B = 16): every row is cut into pieces, two items a core, and the vector cores gather their
    # own share of each tile (2 x 36 of 128 rows) into the gather slot. 6 rows of 640-700 ids over
    # 24 cores: 34 tiles, some tiles short at the pieces' ends.
    g = torch.Generator().manual_seed(heads + 36)
    kv_lens = [3000, 2400, 4100, 1800, 2600, 3300]
    k = 700
    q, qr, key, table, idx = _decode_problem(heads, kv_lens, k, g, over=10)
    idx[2, 0, 640:] = -1
    check_decode(q, qr, key, table, idx, kv_lens)
    assert cpu_module().last_launch()["block_dim"] > 3 * len(kv_lens)  # 11 grains a row, 3 a core


@pytest.mark.parametrize("heads", [16, 64])
@pytest.mark.parametrize("combined", [False, True], ids=["separate-rope", "combined-cache"])
def test_last_tile_scores_own_rows_before_the_slot(heads, combined):
    # Split decode rows whose vector cores gather: each core's last tile is scored in two passes,
    # the cube's own whole row blocks while the gather slot's copy is in flight, then the slot's rows
    # into the same S (sfa_cube.h OwnBlocks). 4 rows of 2048 ids over 24 cores (6 grains a core: the
    # last tiles whole, 3 own row blocks of 8), one row cut short by a -1 inside a tile (a short last
    # tile: 1 own block), one of 40 ids (a cube share under 16 rows: one pass), ids past the lengths.
    g = torch.Generator().manual_seed(heads + 67 + combined)
    kv_lens = [5000, 3000, 4100, 2600]
    q, qr = _queries((len(kv_lens), heads), torch.bfloat16, g)
    key, key_rope, table = _paged_cache(kv_lens, 128, torch.bfloat16, g)
    if combined:
        key, key_rope = torch.cat([key, key_rope], -1), None
    idx = _indices(len(kv_lens), 2048, kv_lens, g, over=10)
    idx[1, 0, 1000:] = -1
    idx[3, 0, 40:] = -1
    check(q, key, idx, GLM5_SCALE, query_rope=qr, key_rope=key_rope, block_table=table, layout_query="TND",
          layout_kv="PA_BSND", actual_seq_lengths_query=list(range(1, len(kv_lens) + 1)), actual_seq_lengths_kv=kv_lens)
    assert cpu_module().last_launch()["block_dim"] > 3 * len(kv_lens)  # every row in pieces


@pytest.mark.parametrize("heads", [2, 32, 64])
def test_second_score_pass_keeps_query_chunks(heads):
    # Decode B = 1 (one row of 2048 ids over every core, one tile each): every tile is a core's last,
    # scored in two passes, which keep q's 5 chunks in 4 places of L0A (sfa_cube.h QueryPlace: the
    # rope chunk takes chunk 2's); the second pass loads only chunks 2 and 4 again. 2 heads: one row
    # block of q; 32 and 64: 2 and 4 (GLM-5). Half of the heads with sharper scores, so that a chunk
    # of q taken for another would show.
    g = torch.Generator().manual_seed(heads + 83)
    kv_lens = [9000]
    q, qr, key, table, idx = _decode_problem(heads, kv_lens, 2048, g, over=20)
    q[0, : max(1, heads // 2)] *= 3
    qr[0, : max(1, heads // 2)] *= 3
    check_decode(q, qr, key, table, idx, kv_lens)
    assert cpu_module().last_launch()["block_dim"] == cpu_module().emulator_limits()["aic_cores"]


@pytest.mark.parametrize("heads", [16, 64])
def test_separate_rope_tiles_over_eight_parts(heads):
    # A separate key / key_rope (two GM copies a row): the cube issues its own rows of every tile
    # over 8 parts (kEarlyGatherParts), the last three after the first P . V chunks, not 13. Split
    # decode rows (6 rows of 700 ids over 24 cores, some tiles short at the pieces' ends: a cube
    # share of fewer rows than parts), one row cut short by a -1, ids past the lengths. Each core's
    # first selection also brings its row's block table with the ids (one GM round trip).
    g = torch.Generator().manual_seed(heads + 52)
    kv_lens = [3000, 2400, 4100, 1800, 2600, 3300]
    q, qr = _queries((len(kv_lens), heads), torch.bfloat16, g)
    key, key_rope, table = _paged_cache(kv_lens, 128, torch.bfloat16, g)
    idx = _indices(len(kv_lens), 700, kv_lens, g, over=10)
    idx[2, 0, 640:] = -1
    check(q, key, idx, GLM5_SCALE, query_rope=qr, key_rope=key_rope, block_table=table, layout_query="TND",
          layout_kv="PA_BSND", actual_seq_lengths_query=list(range(1, len(kv_lens) + 1)), actual_seq_lengths_kv=kv_lens)
    assert cpu_module().last_launch()["block_dim"] > 3 * len(kv_lens)  # 11 grains a row, 3 a core


@pytest.mark.parametrize("heads", [16, 128])
@pytest.mark.parametrize("combined", [False, True], ids=["separate-rope", "combined-cache"])
def test_separate_value_with_several_items_per_core(heads, combined):
    # Four decode rows of 2048 cut over the cores: a core ends one row's piece and starts the next
    # row's. A separate value's rows of a tile are copied after the cube has taken the next item's
    # list: they must still come from the tile's own list (128 heads: the cube copies every row).
    g = torch.Generator().manual_seed(heads + 41)
    kv_lens = [3000] * 4
    q, qr = _queries((4, heads), torch.bfloat16, g)
    key, key_rope, table = _paged_cache(kv_lens, 128, torch.bfloat16, g)
    value = _randn(key.shape, torch.bfloat16, g)
    if combined:
        key, key_rope, value = torch.cat([key, key_rope], -1), None, torch.cat([value, key_rope], -1)
    idx = _indices(4, 2048, kv_lens, g)
    check(q, key, idx, GLM5_SCALE, value=value, query_rope=qr, key_rope=key_rope, block_table=table,
          layout_query="TND", layout_kv="PA_BSND", actual_seq_lengths_query=[1, 2, 3, 4], actual_seq_lengths_kv=kv_lens)


def test_split_rows_with_empty_pieces():
    # Pieces of one row that select nothing must not disturb the merge: ids after the row's first -1
    # (a later piece starts past it), pieces whose ids are all out of range, and a row whose every
    # piece is empty (zeros, max = sum = 0). A separate value goes through the merge too.
    g = torch.Generator().manual_seed(31)
    heads, k, kv_len = 8, 2048, 3000
    q, qr = _queries((4, heads), torch.float16, g)
    key, key_rope, table = _paged_cache([kv_len] * 4, 64, torch.float16, g)
    idx = _indices(4, k, [kv_len] * 4, g)
    idx[0, 0, 300] = -1                         # row 0: only the first 300 ids count
    idx[1, 0, :1900] += kv_len                  # row 1: the first 1900 ids are past the length
    idx[2, 0, :] = -1                           # row 2: nothing
    idx[3, 0, 1000:] = idx[3, 0, :1048].clone()  # row 3: repeats
    kw = dict(query_rope=qr, key_rope=key_rope, block_table=table, layout_query="TND", layout_kv="PA_BSND",
              actual_seq_lengths_query=[1, 2, 3, 4], actual_seq_lengths_kv=[kv_len] * 4, sparse_mode=0)
    out, m, s = check(q, key, idx, 0.07, **kw)
    assert (out[2] == 0).all() and (m[0, 2] == 0).all() and (s[0, 2] == 0).all()
    check(q, key, idx, 0.07, value=_randn(key.shape, torch.float16, g), **kw)


@pytest.mark.parametrize("heads", [1, 2])
def test_row_flags_count_every_vector_core(heads):
    # A split row is merged once each vector core of each of its pieces' AI cores has counted its
    # part in the row's flag (no SyncAll). N1 = 1: the second vector core of every AI core has no
    # head and writes nothing, yet must count its part, for empty pieces (row 0 ends at a -1 early,
    # row 2 selects nothing) as for pieces with rows. Row 1's merge waits for core 0's last piece.
    g = torch.Generator().manual_seed(heads + 7)
    kv_lens = [3000, 2500, 3000, 2800]
    rows, k = len(kv_lens), 2048
    q, qr = _queries((rows, heads), torch.float16, g)
    key, key_rope, table = _paged_cache(kv_lens, 128, torch.float16, g)
    idx = _indices(rows, k, kv_lens, g)
    idx[0, 0, 200] = -1
    idx[2, 0, :] += 4000  # every id past the row's length
    kw = dict(query_rope=qr, key_rope=key_rope, block_table=table, layout_query="TND", layout_kv="PA_BSND",
              actual_seq_lengths_query=list(range(1, rows + 1)), actual_seq_lengths_kv=kv_lens)
    out, m, s = check(q, key, idx, GLM5_SCALE, **kw)
    assert (out[2] == 0).all() and (m[0, 2] == 0).all() and (s[0, 2] == 0).all()
    assert cpu_module().last_launch()["block_dim"] > rows


@pytest.mark.parametrize("rows, k", [(1, 2048), (1, 257), (2, 2048), (4, 2048), pytest.param(16, 2048, marks=pytest.mark.heavy)])
def test_merge_of_pieces_at_decode_batches(rows, k):
    # 64 heads, decode rows cut over the cores (24 here). B = 1: every piece is one tile, written by
    # the cube straight into its partial-result slot; the merge runs of 1-3 heads weigh all pieces
    # per instruction. B = 2: pieces of 192 positions (3 grains of 64: they start inside a tile).
    # B = 4: runs of 5-6 heads over 5-6 pieces (two copied one by one, the rest in one). B = 16:
    # runs of 16 heads over 2-3 pieces. B = 4 and 16 (combined cache, at most 3 items per core, not
    # an early merge) take each core's first list from the selector's UB (KeepList). One row has a
    # -1 mid-way (its later pieces select nothing) and out-of-range ids, so some pieces are short
    # or empty (at B = 1 an empty piece's vector cores still set the all-AIV flag the row's
    # normalise waits for: left out, every vector core deadlocks).
    g = torch.Generator().manual_seed(rows * 10 + k)
    kv_lens = [3000 + 7 * r for r in range(rows)]
    q, qr = _queries((rows, 64), torch.bfloat16, g)
    key, key_rope, table = _paged_cache(kv_lens, 128, torch.bfloat16, g)
    key = torch.cat([key, key_rope], -1)  # the combined cache, as decode reads it
    idx = _indices(rows, k, kv_lens, g, over=40)
    idx[0, 0, k // 2] = -1
    check(q, key, idx, GLM5_SCALE, query_rope=qr, block_table=table, layout_query="TND", layout_kv="PA_BSND",
          actual_seq_lengths_query=list(range(1, rows + 1)), actual_seq_lengths_kv=kv_lens)  # fmt: skip
    assert cpu_module().last_launch()["block_dim"] > rows


@pytest.mark.parametrize("k", [129, 257, 385, pytest.param(2048, marks=pytest.mark.heavy)])
@pytest.mark.parametrize("combined", [False, True], ids=["separate-rope", "combined-cache"])
def test_pieces_summed_by_the_cube(k, combined):
    # 16 decode rows over the cores (24 here): pieces of one or several tiles, a core's last item
    # the first piece of a row. The cube writes the P . V of a piece's first tile into the piece and
    # adds every later one (atomic add); the vector cores only leave the statistics. Short last
    # tiles (K = 129, 257, 385), a -1 mid-row, a -1 in a row's last tile and out-of-range ids.
    g = torch.Generator().manual_seed(k * 2 + combined)
    rows = 16
    kv_lens = [3000 + 5 * r for r in range(rows)]
    q, qr = _queries((rows, 64), torch.bfloat16, g)
    key, key_rope, table = _paged_cache(kv_lens, 128, torch.bfloat16, g)
    if combined:
        key, key_rope = torch.cat([key, key_rope], -1), None
    idx = _indices(rows, k, kv_lens, g, over=30)
    idx[3, 0, k // 3] = -1
    idx[8, 0, k - 2] = -1
    check(q, key, idx, GLM5_SCALE, query_rope=qr, key_rope=key_rope, block_table=table, layout_query="TND",
          layout_kv="PA_BSND", actual_seq_lengths_query=list(range(1, rows + 1)), actual_seq_lengths_kv=kv_lens)


def test_cores_of_pieces_take_their_shortest_first():
    # 7 decode rows (104 tiles, 208 grains of 64 positions) over 24 cores, 9 grains each: a core that
    # holds only pieces takes its shorter one first, e.g. the first 3 grains of row 3 before the last
    # 6 of row 2 (pieces that start and end inside a tile): a core starts
    # a row's later piece and ends with its first (the pieces' merge must not depend on the order),
    # and the cube starts a new row's rows during the previous tile's scores. Row 4 sees 1000 keys
    # (8 tiles: its last piece is shorter than its positions), and a query row outside every batch
    # (no work) goes first on its core.
    g = torch.Generator().manual_seed(77)
    rows, heads, k = 7, 16, 2048
    kv_lens = [3000, 3000, 3000, 3000, 1000, 3000, 3000]
    q, qr = _queries((rows + 1, heads), torch.bfloat16, g)
    key, key_rope, table = _paged_cache(kv_lens, 128, torch.bfloat16, g)
    key = torch.cat([key, key_rope], -1)
    idx = torch.cat([_indices(rows, k, kv_lens, g), torch.full((1, 1, k), -1, dtype=torch.int32)])
    out, m, s = check(q, key, idx, GLM5_SCALE, query_rope=qr, block_table=table, layout_query="TND",
                      layout_kv="PA_BSND", actual_seq_lengths_query=list(range(1, rows + 1)),
                      actual_seq_lengths_kv=kv_lens)  # fmt: skip
    assert (out[rows] == 0).all() and (m[0, rows] == 0).all() and (s[0, rows] == 0).all()
    assert cpu_module().last_launch()["block_dim"] == 24  # 208 grains, 9 a core


@pytest.mark.parametrize("heads", [64, pytest.param(128, marks=pytest.mark.heavy)])
def test_pieces_and_whole_rows_on_one_core(heads):
    # 40 decode rows of 3 tiles over 24 cores (5 tiles each): a core takes the end of one row (a
    # piece), a whole row, then the start of the next (a piece). A piece selects its rows from one
    # copy of its ids at N1 <= 64, a whole row chunk by chunk: each must use its own ids.
    g = torch.Generator().manual_seed(heads + 3)
    rows, k = 40, 300 if heads == 64 else 150
    kv_lens = [700 + r for r in range(rows)]
    q, qr = _queries((rows, heads), torch.bfloat16, g)
    key, key_rope, table = _paged_cache(kv_lens, 128, torch.bfloat16, g)
    key = torch.cat([key, key_rope], -1)
    idx = _indices(rows, k, kv_lens, g)
    idx[5, 0, 100] = -1
    check(q, key, idx, GLM5_SCALE, query_rope=qr, block_table=table, layout_query="TND", layout_kv="PA_BSND",
          actual_seq_lengths_query=list(range(1, rows + 1)), actual_seq_lengths_kv=kv_lens)  # fmt: skip


def _rising_rows(rows, heads, k, kv_len, dtype, g):
    """q, query_rope, key, key_rope [TND] and each row's k ids in ascending order of its head 0's
    score (so the reference max moves within an item): the rebase and kept-column cases' inputs."""
    q = (0.02 * torch.randn(rows, heads, 512, generator=g)).to(dtype)
    qr = 0.1 * torch.randn(rows, heads, 64, generator=g)
    qr[..., 0] = 1.0
    key = _randn((kv_len, 1, 512), dtype, g)
    key_rope = 0.1 * torch.randn(kv_len, 1, 64, generator=g)
    key_rope[:, 0, 0] = torch.rand(kv_len, generator=g) * 17 - 15
    qr, key_rope = qr.to(dtype), key_rope.to(dtype)
    score = q[:, 0].float() @ key[:, 0].float().T + qr[:, 0].float() @ key_rope[:, 0].float().T
    idx = torch.stack([torch.randperm(kv_len, generator=g)[:k] for _ in range(rows)])
    idx = torch.gather(idx, 1, torch.gather(score, 1, idx).argsort(dim=1)).to(torch.int32)[:, None]
    return q, qr, key, key_rope, idx


@pytest.mark.parametrize("rows, heads, k", [(16, 16, 2048), (40, 8, 300), (100, 4, 300), (40, 64, 300), (48, 32, 700)],
                         ids=["pieces-of-many-tiles", "pieces-and-whole-rows", "whole-rows", "s-shares-l0c-n64",
                              "six-kept-n32"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_scores_rising_past_the_reference_max(rows, heads, k, dtype):
    # The P . V of an item's tiles is summed in GM against a reference max (its first tile's) that
    # moves only when a later score exceeds it by more than 8; then l and the sum so far are rescaled.
    # Each row's ids sorted by ascending score, z spread over [-15, 2] by one rope column (the
    # latent, which is also V, stays N(0, 1); |z| is small where exp(z - m) counts, so the fp32
    # rounding of z stays within the stats' 1e-5): the reference moves once or more per item.
    # Without that rescale the sum mixes references (wrong output); without the move fp16's
    # P = exp(z - r) overflows (z - r reaches ~11). At N1 <= 64 half the P . V columns are summed in
    # the cube's L0C over the item, which cannot be rescaled: a rebase there goes through the cube's
    # snapshot of that sum and the vector core's correction (at every rebase, often several per
    # item); leaving the correction out fails every case here (checked). 16 rows of 16 tiles are cut into pieces of many
    # tiles, 40 rows of 3 tiles give pieces and whole rows on one core, 100 rows of 3 tiles whole
    # rows only (which read their sum back from the O ring). With more items than cores 6 chunks
    # are kept at N1 = 32 / 64 (SfaKeptCols), and at N1 = 64 S shares its L0C place with the
    # streamed chunks; the snapshot is taken after the next tile's gather (sfa_cube.h OutputKept).
    g = torch.Generator().manual_seed(rows + k)
    kv_len = 3000
    q, qr, key, key_rope, idx = _rising_rows(rows, heads, k, kv_len, dtype, g)
    check(q, key, idx, 1.0, query_rope=qr, key_rope=key_rope, layout_query="TND", layout_kv="TND",
          actual_seq_lengths_query=[rows], actual_seq_lengths_kv=[kv_len], sparse_mode=0)  # fmt: skip


@pytest.mark.parametrize("heads, k, dtype", [(h, 300, d) for d in (torch.bfloat16, torch.float16) for h in (64, 32, 16)] +
                         [(64, 1200, torch.bfloat16)])
def test_whole_rows_sum_transposed_with_rebases(heads, k, dtype):
    # In decode B = 64's launch form (a split launch of more than 3 items a core) at N1 a multiple
    # of 16 up to 64, a whole row's P . V is V^T P^T: its sum leaves L0C as O^T ([512, N1] rows,
    # SfaOutT), the kept columns' snapshots too; the vector cores read their heads as a column
    # range, rebase it by column, fold the kept columns' correction by column and transpose it in
    # UB (Gather) before the output, a 64-column chunk at each of the next Accumulates (FinalizeStep;
    # all at once where acc_ is taken: a rebase, the kept columns' update or fold, the next row's
    # finalize); pieces keep O for the merge. 90 rows of k ids (whole rows and pieces over 24 cores:
    # 300 ids, 3 tiles, the steps cut short by the next item's end; 1200, 10 tiles, all 8 steps
    # within the next item), each row's ids by ascending score (the reference max moves within
    # items, as in test_scores_rising_past_the_reference_max), rows cut to 1 / 100 / 129 ids (a
    # one-tile item, a tile of one row), one that selects nothing. 6 kept chunks at N1 = 32 / 64, 4 at 16.
    g = torch.Generator().manual_seed(401 + heads + k)
    rows, kv_len, block = 90, 3072, 128
    q, qr, key, key_rope, idx = _rising_rows(rows, heads, k, kv_len, dtype, g)
    for r, cut in ((3, 1), (17, 100), (40, 129), (61, 0)):
        idx[r, 0, cut:] = -1
    # Every row over the same paged cache (PA_BSND, 24 blocks of 128).
    cache = torch.cat([key, key_rope], -1).reshape(kv_len // block, block, 1, 576)
    table = torch.arange(kv_len // block, dtype=torch.int32).repeat(rows, 1)
    check(q, cache, idx, 1.0, query_rope=qr, block_table=table, layout_query="TND", layout_kv="PA_BSND",
          actual_seq_lengths_query=list(range(1, rows + 1)), actual_seq_lengths_kv=[kv_len] * rows)  # fmt: skip
    assert cpu_module().last_launch()["block_dim"] == cpu_module().emulator_limits()["aic_cores"]


def _decode_plan(rows, heads, k, kv_len, block=128, ai_cores=None, deterministic=False):
    """The host plan of `rows` decode rows (TND, one token each) over a combined paged cache."""
    return cpu_module().sparse_flash_attention_plan(
        query_start=list(range(rows)), query_len=[1] * rows, key_start=[0] * rows, key_len=[kv_len] * rows,
        num_rows=rows, heads=heads, sparse_count=k, sparse_mode=3, paged=True, block_size=block,
        max_blocks=-(-kv_len // block), combined=True, ai_cores=ai_cores or cpu_module().emulator_limits()["aic_cores"],
        deterministic=deterministic)  # fmt: skip


@pytest.mark.parametrize("rows, seeded, finished", [(64, 19, 0), (16, 0, 13), (1, 0, 0)], ids=["b64", "b16", "b1"])
def test_seeded_rows_at_glm5_decode_on_20_cores(rows, seeded, finished):
    # The host seeds a two-piece row only where its earlier piece A follows, on its core, items of at
    # least twice its later piece B's positions, so that A's first tile does not wait for B (at B = 16
    # seeding every core-boundary pair took the modeled launch from 72,934 to 105,303 cycles). On
    # the 910B3's 20 cores at GLM-5 (64 heads, top-2048, 32K): B = 64 seeds all its 19 split rows and
    # merges none; B = 16 (two pieces a core, of similar lengths) seeds none, and its late pieces
    # finish 13 of its 16 rows (11 of 2 pieces, 2 of 3: each row's one late piece; rows 2, 6 and 10
    # have two and are merged); B = 1 (an early-merge launch, one row in 20 pieces) neither.
    plan = _decode_plan(rows, 64, 2048, 32768, ai_cores=20)
    items = [it for core in plan["cores"] for it in core["items"]]
    assert sum(piece <= -2 for *_, piece in items) == seeded
    assert sum(sp[3] > 0 for sp in plan["splits"]) == finished
    units = sum(hi - lo for core in plan["cores"] for lo, hi in core["merge"])
    merged = len(plan["splits"]) - seeded - finished
    assert units == merged * 64 * (8 if rows == 1 else 1)  # B = 1: 64-column chunks
    assert len(plan["splits"]) == {64: 19, 16: 16, 1: 1}[rows]
    if rows == 16:
        assert sorted(row for row, *_, f in plan["splits"] if f == 0) == [2, 6, 10]


def _banded_problem(rows, heads, k, kv_len, low, dtype, g):
    """Decode queries over a cache whose key rope column 0 (the score's main term, z) lies in [-30, -25]
    for ids below `low` and in [-15, 2] above: q, q_rope, key, key_rope, random ids [rows, k], z."""
    q = (0.02 * torch.randn(rows, heads, 512, generator=g)).to(dtype)
    qr = 0.1 * torch.randn(rows, heads, 64, generator=g)
    qr[..., 0] = 1.0
    key = _randn((kv_len, 1, 512), dtype, g)
    key_rope = 0.1 * torch.randn(kv_len, 1, 64, generator=g)
    key_rope[:low, 0, 0] = torch.rand(low, generator=g) * 5 - 30
    key_rope[low:, 0, 0] = torch.rand(kv_len - low, generator=g) * 17 - 15
    qr, key_rope = qr.to(dtype), key_rope.to(dtype)
    idx = torch.stack([torch.randperm(kv_len, generator=g)[:k] for _ in range(rows)]).to(torch.int32)
    return q, qr, key, key_rope, idx, key_rope[:, 0, 0].float()


def _check_banded(q, qr, key, key_rope, idx, kv_len, block):
    """check() of a _banded_problem over a combined paged cache in order (scale 1): out, m, l."""
    rows = q.shape[0]
    cache = torch.cat([key, key_rope], -1).reshape(kv_len // block, block, 1, 576)
    table = torch.arange(kv_len // block, dtype=torch.int32).repeat(rows, 1)
    return check(q, cache, idx[:, None], 1.0, query_rope=qr, block_table=table, layout_query="TND", layout_kv="PA_BSND",
                 actual_seq_lengths_query=list(range(1, rows + 1)), actual_seq_lengths_kv=[kv_len] * rows)  # fmt: skip


@pytest.mark.parametrize("heads, dtype", [(64, torch.bfloat16), (32, torch.float16), (16, torch.bfloat16)])
def test_two_piece_rows_seeded_by_their_later_piece(heads, dtype):
    # A split row of two pieces whose later piece B opens a core and whose earlier piece A closes
    # another is seeded (SfaSeeded): A starts from B's reference max, sum and true max, the cube adds
    # A's P . V into B's acc (from A's first tile on, the kept L0C columns at its last), and A's last
    # tile finalises the row; the row has no merge units. 40 rows of 600 ids over 24 cores: 14 split
    # rows are seeded, 7 not (3 pieces, not at core boundaries, or A not after twice B's positions),
    # of which 3 are finished by their late piece and 4 merged. Scores: key rope column 0 (the score's main term) in [-30, -25] for ids below 768,
    # [-15, 2] above. Every other seeded row is "far": B's ids from the low band, A's from the high
    # one, so A's first tile exceeds B's reference by more than 8 (a rebase of B's sum, all of it in
    # GM, and no kept-column correction: the cube's L0C sum of A starts after it). The others are
    # "near": both pieces from the high band, B's weight in the row comparable to A's (a plain first
    # write of A's sum, streamed or kept columns, would lose it). Each piece's ids rise, so the
    # reference moves within pieces too. Special seeded rows: B selects nothing (ids after a -1); A
    # selects nothing (ids past the length: the row is B's alone, finalised after the core's items);
    # neither (zeros, max = sum = 0); and core 0's A follows a whole row that selects nothing, so its
    # first tile (a rebase) is the core's first, with no tile before it to wait for. Leaving out B's
    # statistics, the first tile's exemption from the kept-column correction, the row of B alone, or
    # the cube's adds of A's first tile or kept columns fails each case (checked).
    g = torch.Generator().manual_seed(97 + heads)
    rows, k, kv_len, block, low = 40, 600, 3072, 128, 768
    plan = _decode_plan(rows, heads, k, kv_len, block)
    firsts = {c["items"][0][3]: c["items"][0] for c in plan["cores"] if c["items"]}
    seeded = {}
    for core in plan["cores"]:
        for row, begin, end, piece in core["items"]:
            if piece > -2:
                continue
            assert (row, begin, end, piece) == core["items"][-1] and len(core["items"]) > 1
            b = firsts[-2 - piece]  # B: the first item of another core, the rest of the row
            assert b[0] == row and b[1] == end and b[2] == k
            seeded[row] = end
    unseeded = plan["splits"][: len(plan["splits"]) - len(seeded)]
    merged = [sp for sp in unseeded if sp[3] == 0]  # the others are finished by their late piece
    assert len(seeded) == 14 and len(unseeded) == 7 and len(merged) == 4
    assert all(r not in seeded for r, *_ in unseeded) and {r for r, *_ in plan["splits"]} >= set(seeded)
    units = sum(hi - lo for c in plan["cores"] for lo, hi in c["merge"])
    assert units == len(merged) * heads

    q, qr, key, key_rope, idx, z = _banded_problem(rows, heads, k, kv_len, low, dtype, g)
    for i, (row, cut) in enumerate(sorted(seeded.items())):
        ids = low + torch.randperm(kv_len - low, generator=g)[:k]
        a = ids[:cut]
        b = ids[cut:] if i % 2 else torch.randperm(low, generator=g)[: k - cut]  # near / far
        idx[row] = torch.cat([a[z[a].argsort()], b[z[b].argsort()]]).to(torch.int32)
    b_empty, a_empty, both = sorted(seeded)[3:6]
    idx[b_empty, seeded[b_empty]:] = -1
    idx[a_empty, : seeded[a_empty]] += kv_len
    idx[both] = -1
    *before, a = plan["cores"][0]["items"]
    assert a[0] == sorted(seeded)[0] and all(piece == -1 for _, _, _, piece in before)  # a "far" row
    for row, _, _, _ in before:
        idx[row] = -1
    out, m, s = _check_banded(q, qr, key, key_rope, idx, kv_len, block)
    assert (out[both] == 0).all() and (m[0, both] == 0).all() and (s[0, both] == 0).all()
    assert cpu_module().last_launch()["block_dim"] == len(plan["cores"])


@pytest.mark.parametrize("heads, dtype", [(64, torch.bfloat16), (32, torch.float16), (16, torch.bfloat16)])
def test_rows_finished_by_their_late_piece(heads, dtype):
    # A split row whose one late piece L (its core's last item, on a core that ends with the launch)
    # follows pieces that end two tiles or more before it is finished by L's vector cores
    # (SfaSplit::finisher, sfa-finish): they weigh the other pieces in after L's last softmax, add L's
    # own sum once the cube has it, and write the row; the row has no merge units, and the vector
    # cores of a core that finishes a row merge none. 16 rows of 640 ids over 24 cores: 9 finished
    # rows (5 of 2 pieces, 4 of 3, where L is a whole core between two short pieces), 7 merged.
    # Scores: key rope column 0 (the score's main term) in [-30, -25] for ids below 1024, [-15, 2]
    # above. Per finished row, in turn: the other pieces far below L (they weigh ~0), L far below
    # them (it weighs ~0: a finish that drops the other pieces or swaps the weights fails), and all
    # near, each piece's ids rising in score (the reference moves within L, whose last tile then
    # leaves a kept-column correction: the late form, weighed after the fold). Special rows: an
    # other piece that selects nothing (ids past the length), L that selects nothing in a row of 3
    # pieces and in one of 2 (the row from the other pieces alone, after the core's items; with 3, the
    # second other piece goes through the chunk buffers, whose events L's write then takes), and a
    # row that selects nothing (zeros).
    g = torch.Generator().manual_seed(313 + heads)
    rows, k, kv_len, block, low = 16, 640, 3072, 128, 1024
    plan = _decode_plan(rows, heads, k, kv_len, block)
    finished = [sp for sp in plan["splits"] if sp[3] > 0]
    assert sorted(sp[2] for sp in finished) == [2] * 5 + [3] * 4 and len(plan["splits"]) == 16
    pieces = {}  # slot -> (core, row, begin, end)
    for c, core in enumerate(plan["cores"]):
        for row, begin, end, piece in core["items"]:
            assert piece > -2  # no seeded row here
            if piece >= 0:
                pieces[piece] = (c, row, begin, end)
    rowsOf = {}
    for row, first, n, finisher in finished:
        late = first + finisher - 1
        core = pieces[late][0]
        assert plan["cores"][core]["items"][-1][3] == late  # L is its core's last item
        assert all(hi == lo for lo, hi in plan["cores"][core]["merge"])  # its vector cores merge nothing
        rowsOf[row] = (pieces[late][2:], [pieces[first + i][2:] for i in range(n) if i != finisher - 1])
    units = sum(hi - lo for c in plan["cores"] for lo, hi in c["merge"])
    assert units == (len(plan["splits"]) - len(finished)) * heads

    q, qr, key, key_rope, idx, z = _banded_problem(rows, heads, k, kv_len, low, dtype, g)
    for i, (row, (own, others)) in enumerate(sorted(rowsOf.items())):
        high = low + torch.randperm(kv_len - low, generator=g)[:k]
        lows = torch.randperm(low, generator=g)[:k]
        for begin, end in [own] + others:
            far = (i % 3 == 0 and (begin, end) != own) or (i % 3 == 1 and (begin, end) == own)
            ids = (lows if far else high)[begin:end]
            idx[row, begin:end] = ids[z[ids].argsort()].to(torch.int32)
    own_empty3, other_empty, own_empty, both = sorted(rowsOf)[-4:]
    assert [len(rowsOf[r][1]) for r in (own_empty3, own_empty)] == [2, 1]  # rows of 3 and of 2 pieces
    begin, end = rowsOf[other_empty][1][0]
    idx[other_empty, begin:end] += kv_len
    for row in (own_empty3, own_empty):
        begin, end = rowsOf[row][0]
        idx[row, begin:end] += kv_len
    idx[both] = -1
    out, m, s = _check_banded(q, qr, key, key_rope, idx, kv_len, block)
    assert (out[both] == 0).all() and (m[0, both] == 0).all() and (s[0, both] == 0).all()
    assert cpu_module().last_launch()["block_dim"] == len(plan["cores"])


@pytest.mark.parametrize("heads", [64, 32, 16, 2])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_softmax_max_subtracted_over_both_row_halves(heads, dtype):
    # At 128-column tiles (N1 <= 64) the softmax subtracts each head's reference max from both
    # 64-column halves of its score row in one Sub (repeat = half row, 256 bytes on), reading the
    # max from a broadcast with each head's max in two consecutive blocks, written by two Brcbs into
    # the bcast vector and P's buffer (sfa_vector.h Probabilities, SfaSubBcastBlocks). Heads per
    # vector core: 32 (GLM-5), 16, 8 (P's buffer grown for the output scale's broadcast) and 1 (a
    # Brcb past the bcast vector into P's). Each head's scores sit at their own level (a per-head
    # rope column), so a head read against another's max gives another sum l (softmax_sum checked);
    # ids sorted by ascending score move the reference within items; 300 ids: a tile of 44 rows
    # whose padding columns are -inf.
    g = torch.Generator().manual_seed(181 + heads)
    rows, k, kv_len = 24, 300, 2000
    level = torch.linspace(-12.0, 1.0, heads)
    q = (0.02 * torch.randn(rows, heads, 512, generator=g)).to(dtype)
    qr = 0.1 * torch.randn(rows, heads, 64, generator=g)
    qr[..., 0] = 1.0
    qr[..., 1] = level
    key = _randn((kv_len, 1, 512), dtype, g)
    key_rope = 0.1 * torch.randn(kv_len, 1, 64, generator=g)
    key_rope[:, 0, 0] = torch.rand(kv_len, generator=g) * 14 - 12
    key_rope[:, 0, 1] = 1.0
    qr, key_rope = qr.to(dtype), key_rope.to(dtype)
    score = q[:, 0].float() @ key[:, 0].float().T + qr[:, 0].float() @ key_rope[:, 0].float().T
    idx = torch.stack([torch.randperm(kv_len, generator=g)[:k] for _ in range(rows)])
    idx = torch.gather(idx, 1, torch.gather(score, 1, idx).argsort(dim=1)).to(torch.int32)[:, None]
    idx[3, 0, 200:] = -1
    check(q, key, idx, 1.0, query_rope=qr, key_rope=key_rope, layout_query="TND", layout_kv="TND",
          actual_seq_lengths_query=[rows], actual_seq_lengths_kv=[kv_len], sparse_mode=0)  # fmt: skip


@pytest.mark.parametrize("heads", [2, 4, 8, 16, 64, 128])
def test_output_rows_scaled_in_lanes_of_four(heads):
    # A whole row's output is its P . V sum times 1 / l, 8 rows (heads) a chunk as they are read
    # back, one Mul per 4 rows over their 64-column strips in turn, the scale of each row spread 8
    # blocks apart by two Brcbs into P's buffer (sfa_row_scale.h SfaRowScale): chunks of 1, 2, 4 and 8
    # rows (two lanes), at 128 heads beside 64-column tiles. 60 decode rows of up to 256 ids over 24
    # cores (whole rows), each head's scores at its own level so its sum l differs from its
    # neighbours' (a row scaled by another's 1 / l is off by their ratio); two rows select nothing.
    g = torch.Generator().manual_seed(191 + heads)
    rows, k = 60, 256
    kv_lens = [300 + 11 * r for r in range(rows)]
    q, qr, key, table, idx = _decode_problem(heads, kv_lens, k, g, over=4)
    q = q * torch.linspace(0.2, 3.0, heads).to(q.dtype)[None, :, None]
    idx[7, 0, :] = -1
    idx[31, 0, 1:] = -1
    check_decode(q, qr, key, table, idx, kv_lens)


@pytest.mark.parametrize("k", [63, 64, 65, 127, 128, 129, 255, 256, 257, 1535, 1536, 1537, 2047, 2048])
def test_one_row_at_split_boundaries(k):
    # One row cut over every core: K around tile (64 rows at 128 heads, 128 below) and per-core share
    # boundaries.
    g = torch.Generator().manual_seed(k)
    q, qr = _queries((1, 1, 4), torch.bfloat16, g)
    key, key_rope = _randn((1, 2000, 1, 512), torch.bfloat16, g), _randn((1, 2000, 1, 64), torch.bfloat16, g)
    idx = _indices(1, k, [2000], g).reshape(1, 1, 1, k)
    check(q, key, idx, 0.1, query_rope=qr, key_rope=key_rope, sparse_mode=0)


@pytest.mark.parametrize("block_size, kv_len", [(48, 1000), (16, 16500)], ids=["odd-block", "long-table"])
def test_paged_block_sizes(block_size, kv_len):
    # Block ids come from a vector division by the block size (a correction step when it is not a
    # power of two); a block table longer than the vector cores hold at once is read in chunks.
    g = torch.Generator().manual_seed(block_size)
    q, qr = _queries((2, 1, 4), torch.bfloat16, g)
    key, key_rope, table = _paged_cache([kv_len, kv_len // 2], block_size, torch.bfloat16, g)
    idx = _indices(2, 256, [kv_len, kv_len // 2], g)
    idx[0, 0, :8] = torch.tensor([0, block_size - 1, block_size, 2 * block_size - 1, 2 * block_size,
                                  kv_len - 1, kv_len - block_size, kv_len - block_size - 1], dtype=torch.int32)
    check(q, key, idx.reshape(2, 1, 1, 256), 0.1, query_rope=qr, key_rope=key_rope, block_table=table,
          layout_kv="PA_BSND", actual_seq_lengths_kv=[kv_len, kv_len // 2])  # fmt: skip


def test_kv_length_limit():
    # Key ids pass through fp32 on the vector cores: at most 2^24 cached tokens per sequence.
    g = torch.Generator().manual_seed(0)
    q, qr = _queries((1, 1, 4), torch.bfloat16, g)
    key, key_rope = _randn((1, 1024, 1, 512), torch.bfloat16, g), _randn((1, 1024, 1, 64), torch.bfloat16, g)
    idx = _indices(1, 4, [1024], g).reshape(1, 1, 1, 4)
    table = torch.zeros((1, (1 << 24) // 1024 + 1), dtype=torch.int32)  # one shared block, repeated
    with pytest.raises(ValueError, match="at most 2\\^24"):
        ops.sparse_flash_attention(q, key, key, idx, 0.1, query_rope=qr, key_rope=key_rope, block_table=table,
                                   layout_kv="PA_BSND", actual_seq_lengths_kv=[(1 << 24) + 1])  # fmt: skip


# ---- validation -------------------------------------------------------------------------------------

def _valid(heads=4, dtype=torch.bfloat16):
    g = torch.Generator().manual_seed(0)
    q, qr = _queries((1, 2, heads), dtype, g)
    key, key_rope = _randn((1, 8, 1, 512), dtype, g), _randn((1, 8, 1, 64), dtype, g)
    return q, qr, key, key_rope, _indices(2, 4, [8, 8], g).reshape(1, 2, 1, 4)


@pytest.mark.parametrize(
    "change, error, message",
    [
        (dict(query=lambda a: a[..., :256]), ValueError, "latent dim D must be 512"),
        (dict(query_rope=lambda a: a[..., :32]), ValueError, r"query_rope must have shape \(1, 2, 4, 64\)"),
        (dict(key_rope=lambda a: a[..., :32]), ValueError, r"key_rope must have shape \(1, 8, 1, 64\)"),
        (dict(key=lambda a: a.half()), TypeError, "key must have dtype in"),
        (dict(query_rope=lambda a: a.half()), TypeError, "query_rope must have dtype in"),
        (dict(sparse_indices=lambda a: a.long()), TypeError, "sparse_indices must have dtype in"),
        (dict(sparse_indices=lambda a: a[..., :0]), ValueError, r"sparse_indices K must be in \[1, 2048\]"),
        (dict(attention_mode=0), ValueError, "attention_mode must be 2"),
        (dict(layout_query="BNSD"), ValueError, "layout_query"),
        (dict(layout_kv="TND"), ValueError, "must equal layout_query"),
        (dict(sparse_mode=1), ValueError, "sparse_mode"),
        (dict(sparse_block_size=2), ValueError, "sparse_block_size must be 1"),
        (dict(pre_tokens=10), ValueError, "pre_tokens"),
        (dict(actual_seq_lengths_kv=[9]), ValueError, r"actual_seq_lengths_kv must hold 1 lengths in \[0, 8\]"),
        (dict(query_rope=None), ValueError, "query_rope is required"),
        (dict(key_rope=None), ValueError, r"key's last dim must be 576 \(latent then rope, key_rope being None\), got 512"),
        (dict(scale_value=float("nan")), TypeError, "scale_value"),
    ],
)
def test_rejects_bad_arguments(change, error, message):
    q, qr, key, key_rope, idx = _valid()
    args = dict(query=q, key=key, value=key, sparse_indices=idx, scale_value=0.1, query_rope=qr, key_rope=key_rope)
    for name, new in change.items():
        args[name] = new(args[name]) if callable(new) else new
    if "key" in change:
        args["value"] = args["key"]
    with pytest.raises(error, match=message):
        ops.sparse_flash_attention(**args)


def test_rejects_unsupported_heads_and_bad_value():
    q, qr, key, key_rope, idx = _valid(heads=3)
    with pytest.raises(ValueError, match=r"heads N1 must be one of \(1, 2, 4, 8, 16, 32, 64, 128\)"):
        ops.sparse_flash_attention(q, key, key, idx, 0.1, query_rope=qr, key_rope=key_rope)
    q, qr, key, key_rope, idx = _valid()
    with pytest.raises(ValueError, match=r"value must have shape \(1, 8, 1, 512\)"):
        ops.sparse_flash_attention(q, key, key[:, :7], idx, 0.1, query_rope=qr, key_rope=key_rope)
    with pytest.raises(TypeError, match="value must have dtype in"):
        ops.sparse_flash_attention(q, key, key.half(), idx, 0.1, query_rope=qr, key_rope=key_rope)


def test_rejects_bad_combined_cache():
    # key_rope None: key rows must be 576 wide and value of key's shape (V is its latent part); a
    # 576-wide key with a key_rope is refused too.
    q, qr, key, key_rope, idx = _valid()
    combined = torch.cat([key, key_rope], -1)
    with pytest.raises(ValueError, match=r"value must have shape \(1, 8, 1, 576\)"):
        ops.sparse_flash_attention(q, combined, key, idx, 0.1, query_rope=qr)
    with pytest.raises(ValueError, match=r"key's last dim must be 512 \(the latent\), got 576"):
        ops.sparse_flash_attention(q, combined, combined, idx, 0.1, query_rope=qr, key_rope=key_rope)
    with pytest.raises(TypeError, match="key must have dtype in"):
        ops.sparse_flash_attention(q, combined.half(), combined.half(), idx, 0.1, query_rope=qr)


def test_rejects_short_or_foreign_block_table():
    g = torch.Generator().manual_seed(0)
    q, qr = _queries((1, 1, 4), torch.bfloat16, g)
    key, key_rope = _randn((4, 16, 1, 512), torch.bfloat16, g), _randn((4, 16, 1, 64), torch.bfloat16, g)
    idx = _indices(1, 4, [40], g).reshape(1, 1, 1, 4)
    kw = dict(query_rope=qr, key_rope=key_rope, layout_kv="PA_BSND")
    with pytest.raises(ValueError, match="block_table has 2 blocks per batch but batch 0 needs 3"):
        ops.sparse_flash_attention(q, key, key, idx, 0.1, block_table=torch.tensor([[0, 1]], dtype=torch.int32),
                                   actual_seq_lengths_kv=[40], **kw)  # fmt: skip
    with pytest.raises(ValueError, match="outside"):
        ops.sparse_flash_attention(q, key, key, idx, 0.1, block_table=torch.tensor([[0, 7]], dtype=torch.int32),
                                   actual_seq_lengths_kv=[20], **kw)  # fmt: skip
    with pytest.raises(ValueError, match="actual_seq_lengths_kv is required"):
        ops.sparse_flash_attention(q, key, key, idx, 0.1, block_table=torch.tensor([[0, 1]], dtype=torch.int32), **kw)


def test_fake_tensor():
    with torch._subclasses.fake_tensor.FakeTensorMode():
        q, qr = torch.empty(3, 2, 8, 512, dtype=torch.bfloat16), torch.empty(3, 2, 8, 64, dtype=torch.bfloat16)
        key, key_rope = torch.empty(3, 9, 1, 512, dtype=torch.bfloat16), torch.empty(3, 9, 1, 64, dtype=torch.bfloat16)
        idx = torch.empty(3, 2, 1, 16, dtype=torch.int32)
        out, m, s = torch.ops.ascend_glm5.sparse_flash_attention(q, key, key, idx, 0.1, None, None, None, qr, key_rope,
                                                                 "BSND", "BSND", 3, True)  # fmt: skip
        assert out.shape == q.shape and out.dtype == q.dtype and m.shape == s.shape == (3, 1, 2, 8)


@pytest.mark.parametrize("layout", ["BSND", "TND-PA_BSND", "combined"])
def test_opcheck(layout):
    """torch.library.opcheck: schema (no mutation declared, none done), fake kernel, autograd
    registration, AOT dispatch."""
    g = torch.Generator().manual_seed(11)
    if layout == "BSND":
        q, qr = _queries((2, 2, 4), torch.bfloat16, g)
        key, key_rope = _randn((2, 12, 1, 512), torch.bfloat16, g), _randn((2, 12, 1, 64), torch.bfloat16, g)
        idx = _indices(4, 6, [12] * 4, g).reshape(2, 2, 1, 6)
        args = (q, key, key.clone(), idx, 0.1, None, None, torch.tensor([12, 9], dtype=torch.int32), qr, key_rope, "BSND", "BSND",
                3, True)  # fmt: skip
    else:
        q, qr = _queries((3, 8), torch.float16, g)
        key, key_rope, table = _paged_cache([30, 5], 16, torch.float16, g)
        if layout == "combined":  # key rows hold their rope: key_rope None
            key, key_rope = torch.cat([key, key_rope], -1), None
        idx = _indices(3, 8, [30, 30, 5], g)
        args = (q, key, key, idx, 0.2, table, torch.tensor([2, 3], dtype=torch.int64), torch.tensor([30, 5]), qr, key_rope,
                "TND", "PA_BSND", 0, False)  # fmt: skip
    torch.library.opcheck(torch.ops.ascend_glm5.sparse_flash_attention.default, args)


def test_merge_split_by_pieces():
    # The merge's (row, head) units go to the vector cores by weight (the row's pieces + 1, host
    # plan): 3 rows of 16 tiles and 3 of 2-3 over the cores (24 here, 3 tiles each), so a long row is
    # cut into 6 pieces and a short one into 1-2, and a vector core's range starts and ends inside
    # a row at uneven head counts. Every head of every split row must be merged exactly once.
    g = torch.Generator().manual_seed(31)
    kv_lens = [3000, 300, 3000, 200, 3000, 330]
    rows, k = len(kv_lens), 2048
    q, qr, key, table, idx = _decode_problem(64, kv_lens, k, g)
    check_decode(q, qr, key, table, idx, kv_lens)
    assert cpu_module().last_launch()["block_dim"] > rows


@pytest.mark.parametrize("rows, heads, k", [(1, 1, 300), (1, 8, 129), (1, 8, 2048), (2, 8, 1000), (1, 64, 2048),
                                            (1, 128, 1536), (1, 16, 24)],
                         ids=["one-head", "2-pieces", "16-pieces", "pieces-inside-tiles", "glm5-b1", "128-heads",
                              "three-head-runs"])
def test_merge_of_few_heads_streamed_columns_first(rows, heads, k):
    # At N1 <= 64, in a launch whose merge is a few heads per vector core (decode B = 1, 2 here), a
    # piece's vector cores post its statistics and its streamed P . V columns [256, 512) once the
    # cube has written those, then the upper kept half [128, 256) (the cube writes it before the
    # lower half [0, 128)), and a merge run of 1-3 heads weighs the streamed columns first, then the
    # upper kept half once every piece posted it, then the lower half once every piece is whole;
    # each head's columns are weighed as their copy lands (a run of 2 heads: glm5-b1, 2-pieces; of
    # 3: three-head-runs, 16 heads over 3 pieces of 8 positions, i.e. 6 vector cores), and the pieces
    # are summed in halving rounds. B = 1 cuts the row in grains of 8 positions. Rows cut into 2, 4 or 16 one-tile
    # pieces (B = 1), or at B = 2 into pieces of 64-position grains that start inside a tile; a -1
    # mid-row empties the last pieces. N1 = 1: each AI core's second vector core has no head and only
    # counts. N1 = 128 (no kept columns): runs of few heads over 24 one-tile pieces, summed in two
    # batches of 16.
    g = torch.Generator().manual_seed(rows * 1000 + heads * 10 + k)
    kv_lens = [3000 + 11 * r for r in range(rows)]
    q, qr, key, table, idx = _decode_problem(heads, kv_lens, k, g, over=20)
    idx[0, 0, k * 3 // 4] = -1
    check_decode(q, qr, key, table, idx, kv_lens)
    assert cpu_module().last_launch()["block_dim"] > rows


@pytest.mark.parametrize("lens", [[5, 12, 13, 700], [0, 1, 11, 3000]], ids=["short-lists", "empty-and-long"])
def test_work_slot_carries_first_list_entries(lens):
    # The work slot that tells the cube an item's selected-row count also carries the first (up to
    # 12) entries of its row list, which the cube copies without reading the list's own line: lists
    # of fewer, exactly, and more than 12 rows (and a row that sees nothing), in pieces of split rows
    # (4 rows over the cores); repeated ids make runs that straddle the carried entries. Whole rows
    # (the prefill tests) carry theirs too, or none when sorted or longer than one 512-id chunk.
    g = torch.Generator().manual_seed(sum(lens))
    rows, k = len(lens), 1024
    q, qr = _queries((rows, 8), torch.bfloat16, g)
    key, key_rope, table = _paged_cache([max(n, 1) for n in lens], 16, torch.bfloat16, g)
    key = torch.cat([key, key_rope], -1)
    idx = _indices(rows, k, lens, g)
    idx[-1, 0, 10:20] = idx[-1, 0, :10]  # repeated ids straddle the carried 12
    check(q, key, idx, GLM5_SCALE, query_rope=qr, block_table=table, layout_query="TND", layout_kv="PA_BSND",
          actual_seq_lengths_query=list(range(1, rows + 1)), actual_seq_lengths_kv=[max(n, 1) for n in lens])  # fmt: skip


@pytest.mark.parametrize("case", ["decode-b1", "whole-rows"])
def test_gather_takes_its_list_from_ub_or_gm(case):
    # The vector cores gather their share of a tile from their own copy of the item's list: taken
    # from the selector's scratch in UB when the list is one piece of it (its rows from one 512-id
    # chunk), no earlier item's tile is left to gather and the launch merges few heads per vector
    # core (SfaEarlyMerge: decode B = 1), else read back from GM. decode-b1: one
    # row cut into a piece per core (grains of 8, lists of a few dozen rows, with a -1 mid-row and
    # ids past the length). whole-rows: 4 rows per core of 1 to 5 tiles (the three gather slots
    # reused), lists over one chunk or within one, cut short by a -1, or empty: all read back from
    # GM (no split rows), though each core's first row and the rows after one-tile rows would
    # qualify otherwise.
    g = torch.Generator().manual_seed(41 if case == "decode-b1" else 43)
    if case == "decode-b1":
        rows, heads, k = 1, 8, 1000
        kv_lens = [3000]
        q, qr, key, table, idx = _decode_problem(heads, kv_lens, k, g, over=30)
        idx[0, 0, 777] = -1
        check_decode(q, qr, key, table, idx, kv_lens)
        assert cpu_module().last_launch()["block_dim"] > rows
        return
    cores = cpu_module().emulator_limits()["aic_cores"]
    rows, heads, k, kv_len = 4 * cores, 2, 600, 700
    q, qr = _queries((rows, heads), torch.bfloat16, g)
    key, key_rope = _randn((kv_len, 1, 512), torch.bfloat16, g), _randn((kv_len, 1, 64), torch.bfloat16, g)
    idx = _indices(rows, k, [kv_len] * rows, g)
    idx[0::4, 0, 100:] = -1  # a core's first row, one tile: its list from UB, and the next item's too
    idx[2::4, 0, 300:] = -1  # one chunk, 3 tiles
    idx[3::8, 0, 520:] = -1  # just past a chunk: from GM
    idx[7::16, 0, :] = -1  # nothing selected
    check(q, key, idx, 0.2, query_rope=qr, key_rope=key_rope, layout_query="TND", layout_kv="TND",
          actual_seq_lengths_query=[rows], actual_seq_lengths_kv=[kv_len], sparse_mode=0)  # fmt: skip
    assert cpu_module().last_launch()["block_dim"] == cores


@pytest.mark.parametrize("heads, dtype", [(32, torch.bfloat16), (64, torch.float16)])
def test_late_merge_prefetches_next_run(heads, dtype):
    # The merge of many split rows (not the early merge: 19-20 rows of 7 grains of 64 cut over 24
    # cores, 600+ (row, head) units) gives each vector core 2-4 runs of up to 16 heads over 2 pieces;
    # a run's statistics and pieces are loaded into the other slot of the load buffer while the run
    # before is weighed (the two slots alternate, the second at the buffer's end), and runs of 1-3
    # heads take the strided path in either slot. Rows 5 and 6 select nothing (their runs write
    # zeros from their own slot), row 0 stops at a -1 and some ids are out of range. The units are
    # split by the host's estimate of each vector core's merge time.
    g = torch.Generator().manual_seed(heads + 1234)
    rows, k = 20, 420
    kv_lens = [900 + 13 * r for r in range(rows)]
    q, qr, key, table, idx = _decode_problem(heads, kv_lens, k, g, dtype=dtype, block_size=64, over=30)
    idx[0, 0, 250] = -1
    idx[5:7] = -1
    out, m, s = check_decode(q, qr, key, table, idx, kv_lens)
    assert (out[5:7] == 0).all() and (m[0, 5:7] == 0).all() and (s[0, 5:7] == 0).all()
    assert cpu_module().last_launch()["block_dim"] == cpu_module().emulator_limits()["aic_cores"]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_late_merge_waits_once_for_two_rows(dtype):
    # B = 16's late merge, smaller: 16 rows of 512 ids at 64 heads over 21 of 24 cores (8 grains of 64
    # a row, 6 a core: rows of 2-3 pieces), 960 split (row, head) units, 20 a vector core, so most
    # vector cores' units span two consecutive rows. Such a core waits once for both rows (the first
    # row's pair word, which each whole-piece post of either row counts) and cuts each row's heads
    # into equal runs (20 heads of a 2-piece row: 10 + 10, not 12 + 8). Row 9 sees 40 keys (one
    # grain: a whole row, so the units around it span rows 8 and 10, which wait one by one); row 5
    # selects nothing (its pieces post all the same), row 2 stops at a -1, some ids are out of range.
    g = torch.Generator().manual_seed(77 + MANTISSA_BITS[dtype])
    rows, k = 16, 512
    kv_lens = [1000 + 9 * r for r in range(rows)]
    kv_lens[9] = 40
    q, qr, key, table, idx = _decode_problem(64, kv_lens, k, g, dtype=dtype, over=25)
    idx[2, 0, 300] = -1
    idx[5] = -1
    out, m, s = check_decode(q, qr, key, table, idx, kv_lens)
    assert (out[5] == 0).all() and (m[0, 5] == 0).all() and (s[0, 5] == 0).all()
    assert cpu_module().last_launch()["block_dim"] == 21  # 121 grains, 6 a core


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_late_merge_weighs_pieces_per_head(dtype):
    # The late merge weighs a run of 4-16 heads piece by piece, one instruction per head and piece
    # (Muls for the first piece, Axpy for each later one, the weight read by the scalar). On 24
    # cores: 6 rows of 512 ids at 128 heads (tiles of 64) give each AI core 2 grains of 64, so every
    # row is cut into 4 pieces, and each vector core merges 16 (row, head) units: runs of 16 heads
    # over 4 pieces, fetched in two batches (3 pieces fill the load buffer, the 4th is weighed
    # after the first three). Row 1 stops at a -1 after its first piece (its later pieces weigh 0),
    # row 3 selects nothing (zeros, and the next run's loads were issued before its M was read).
    g = torch.Generator().manual_seed(4242 + MANTISSA_BITS[dtype])
    rows, k = 6, 512
    kv_lens = [1500 + 11 * r for r in range(rows)]
    q, qr, key, table, idx = _decode_problem(128, kv_lens, k, g, dtype=dtype, over=20)
    idx[1, 0, 100] = -1
    idx[3] = -1
    out, m, s = check_decode(q, qr, key, table, idx, kv_lens)
    assert (out[3] == 0).all() and (m[0, 3] == 0).all() and (s[0, 3] == 0).all()
    assert cpu_module().last_launch()["block_dim"] == cpu_module().emulator_limits()["aic_cores"]


@pytest.mark.parametrize("heads", [32, 64])
def test_piece_statistics_grouped_by_split_row(heads):
    # The pieces' statistics (m, l, true max) lie in groups of G = the most pieces of a split row
    # (its m rows, then l, then true max), and a merge run loads its row's in one copy of 2 G +
    # pieces rows, the unused slots' rows between coming along. 6 rows of 2,048 ids over 24 cores
    # (grains of 64, 3 a core): row 0 sees 4,000 keys (32 grains: 11 pieces, so G = 11), rows 1-5
    # 500 (8 grains: 3-4 pieces each, 7-8 slots of their group unused); a run of row 0's pieces fits
    # the prefetch slot (11 x 8 floats a statistic). Row 3 selects nothing (its pieces write m =
    # -inf, l = 0), row 2 stops at a -1, ids past the lengths.
    g = torch.Generator().manual_seed(2718 + heads)
    rows, k = 6, 2048
    kv_lens = [4000] + [500] * (rows - 1)
    q, qr, key, table, idx = _decode_problem(heads, kv_lens, k, g, over=40)
    idx[2, 0, 230] = -1
    idx[3] = -1
    out, m, s = check_decode(q, qr, key, table, idx, kv_lens)
    assert (out[3] == 0).all() and (m[0, 3] == 0).all() and (s[0, 3] == 0).all()
    assert cpu_module().last_launch()["block_dim"] == cpu_module().emulator_limits()["aic_cores"] == 24


@pytest.mark.parametrize("rows, heads, k", [(1, 16, 2048), (1, 8, 700), (4, 32, 512), (3, 2, 300)],
                         ids=["heads-over-cores", "few-columns-each", "several-runs", "empty-row"])
def test_early_merge_split_by_column_chunks(rows, heads, k):
    # In an early-merge launch (few (row, head) units per vector core) the host plans the merge in
    # units of (row, head, 64-column chunk): a head's columns are shared by up to three vector cores,
    # a run starts and ends inside a head (its first and last heads partial), and a run without
    # columns in a stage (streamed [256, 512), kept-high [128, 256), kept-low [0, 128)) skips that
    # stage's wait. Each writes only its columns of the output; softmax_max / softmax_sum are written
    # by the core that holds a head's last chunk. On 24 cores: 16 heads of one row, 128 chunks over
    # 48 vector cores (2-3 each); 8 heads, 1-2 chunks each (some cores without a merge); 4 rows of
    # 32 heads, 21-22 chunks each (runs capped at 3 heads: two runs on some cores, the second of
    # the same row); 3 rows of 2 heads where row 1 selects nothing (the zero rows written by columns)
    # and row 0 stops at a -1.
    g = torch.Generator().manual_seed(rows * 100 + heads + k)
    kv_lens = [2500 + 17 * r for r in range(rows)]
    q, qr, key, table, idx = _decode_problem(heads, kv_lens, k, g, over=20)
    idx[0, 0, k * 2 // 3] = -1
    if rows == 3:
        idx[1, 0, :] += 5000  # every id past the row's length
    out, m, s = check_decode(q, qr, key, table, idx, kv_lens)
    if rows == 3:
        assert (out[1] == 0).all() and (m[0, 1] == 0).all() and (s[0, 1] == 0).all()
    assert cpu_module().last_launch()["block_dim"] > rows


def _one_ref(rows, heads, k, kv_len):
    """Whether decode rows of this shape are planned as one-reference rows (sfa-oneref)."""
    return _decode_plan(rows, heads, k, kv_len)["one_ref"]


@pytest.mark.parametrize("rows, heads, k, dtype", [(1, 64, 2048, torch.bfloat16), (1, 32, 1500, torch.float16),
                                                   (2, 64, 1024, torch.bfloat16), (1, 64, 300, torch.float16)],
                         ids=["glm5-b1", "32-heads-fp16", "two-rows", "short-pieces"])
def test_one_reference_rows(rows, heads, k, dtype):
    # A decode launch whose pieces are one tile each (decode B = 1) gives every piece of a row the same
    # reference max: the scores of the row's first key, which each piece scores as one extra row. The
    # cube adds every piece's P . V into one sum of the row, and the row is normalised, not merged
    # (sfa_one_ref.h). Two rows: each has its own sum, and a vector core's units may span both.
    # One row has a piece on every core: the pieces' posts are then one all-AIV flag (mode 0), which
    # every vector core sets once its cube's P . V is in the sum; two rows count theirs in GM.
    kv_lens = [9000] * rows
    plan = _decode_plan(rows, heads, k, kv_lens[0])
    assert plan["one_ref"] and plan["one_ref_all_cores"] == (rows == 1)
    assert plan["one_ref_all_cores"] == all(len(core["items"]) == 1 for core in plan["cores"])
    g = torch.Generator().manual_seed(rows * 1000 + heads + k)
    q, qr, key, table, idx = _decode_problem(heads, kv_lens, k, g, dtype=dtype)
    check_decode(q, qr, key, table, idx, kv_lens)
    assert cpu_module().last_launch()["block_dim"] > rows


def _one_ref_trip_problem(heads, k, kv_len, dtype, low, high, g):
    """One decode row whose scores (scale 1) are about key_rope[..., 0] for the first half of the heads
    (query_rope[..., 0] = 1) and about 0 for the other half: ids in [low, low + 5], the first selected
    id at low, and the ids at positions 300 and 1500 at `high` (their pieces pass the first id's score
    by far more than the slack; the row's max stays near 0, where fp32 scores are exact enough for
    the statistics' 1e-5). Returns check()'s arguments."""
    q = (0.02 * torch.randn(1, heads, 512, generator=g)).to(dtype)
    qr = 0.1 * torch.randn(1, heads, 64, generator=g)
    qr[:, : heads // 2, 0] = 1.0
    qr[:, heads // 2 :, 0] = 0.0
    blocks = kv_len // 128
    key = (0.02 * torch.randn(blocks, 128, 1, 512, generator=g)).to(dtype)
    rope = 0.1 * torch.randn(blocks, 128, 1, 64, generator=g)
    rope[..., 0] = torch.rand(blocks, 128, 1, generator=g) * 5 + low
    table = torch.randperm(blocks, generator=g).to(torch.int32)[None]
    idx = torch.randperm(kv_len, generator=g)[:k].to(torch.int32)
    at = lambda i: (table[0, int(i) // 128], int(i) % 128, 0, 0)  # noqa: E731
    rope[at(idx[0])] = low
    for pos in (300, 1500):
        rope[at(idx[pos])] = high
    cache = torch.cat([key, rope.to(dtype)], -1)
    return q, cache, idx[None, None], qr.to(dtype), table


@pytest.mark.parametrize("heads, dtype, low", [(64, torch.float16, -20.0), (64, torch.bfloat16, -100.0),
                                               (32, torch.bfloat16, -20.0)],
                         ids=["fp16-past-its-range", "bf16-past-fp32s-range", "32-heads"])
def test_one_reference_pieces_that_trip(heads, dtype, low):
    # A piece whose max passes the row's first key's score by more than the slack (11) keeps its own
    # reference, as a merged piece: its P = exp(z - R) would leave fp16's range (e^18) or even fp32's
    # (e^98). Only the first half of the heads' scores rise: their vector cores' rows go to the
    # piece's own acc, the other half's to the row sum (two fixpipes a chunk), and the normalise
    # weighs the tripped rows in. Unhandled, the output is inf / NaN.
    kv_len, k = 8960, 2048
    assert _one_ref(1, heads, k, kv_len)
    g = torch.Generator().manual_seed(heads)
    q, cache, idx, qr, table = _one_ref_trip_problem(heads, k, kv_len, dtype, low, -2.0, g)
    out, m, _ = check(q, cache, idx, 1.0, query_rope=qr, block_table=table, layout_query="TND", layout_kv="PA_BSND",
                      actual_seq_lengths_query=[1], actual_seq_lengths_kv=[kv_len])  # fmt: skip
    assert (m[0, : heads // 2] > -5).all() and (m[0, heads // 2 :] < 5).all()  # the trips are where meant


@pytest.mark.parametrize("first", [9100, 9000], ids=["past-the-keys", "at-the-end"])
def test_one_reference_without_a_valid_first_key(first):
    # The row's first selected id is out of range (skipped, as every such id): no piece has the row's
    # reference, so every piece keeps its own and the normalise merges them all.
    kv_lens, k = [9000], 2048
    g = torch.Generator().manual_seed(first)
    q, qr, key, table, idx = _decode_problem(64, kv_lens, k, g, over=200)
    idx[0, 0, 0] = first
    check_decode(q, qr, key, table, idx, kv_lens)


def test_deterministic_algorithms_give_bit_identical_runs(deterministic_algorithms):
    # One-reference rows add the pieces' fp32 P . V into one row sum in the order the cores reach it,
    # so two runs may differ in an output's last bit. With torch's deterministic algorithms on, the op
    # asks the host for bit-identical runs (`deterministic`): the row's pieces are then merged in
    # their fixed order, and every run gives the same out, softmax_max and softmax_sum. GLM-5 decode
    # B = 1 (64 heads, top-2048), where the plan would otherwise take one reference.
    kv_lens, k = [9000], 2048
    assert _decode_plan(1, 64, k, kv_lens[0])["one_ref"]
    assert not _decode_plan(1, 64, k, kv_lens[0], deterministic=True)["one_ref"]
    g = torch.Generator().manual_seed(7)
    problem = _decode_problem(64, kv_lens, k, g)
    runs = [check_decode(*problem, kv_lens) for _ in range(3)]
    for run in runs[1:]:
        for got, first in zip(run, runs[0]):
            assert torch.equal(got, first)
    # The flag reached the kernel: the one-reference path rounds differently (~1 ulp) in many places.
    torch.use_deterministic_algorithms(False)
    one_ref = check_decode(*problem, kv_lens)[0]
    assert not torch.equal(one_ref, runs[0][0])


@pytest.mark.parametrize("heads, k, kept", [(2, 700, 0), (8, 129, 1), (64, 2048, 0)],
                         ids=["nothing-2-heads", "one-id-8-heads", "nothing-glm5-b1"])
def test_early_merge_weights_without_scalar_read(heads, k, kept):
    # The early merge (decode B = 1) builds its weights with no scalar read of M: M floored at -FLT_MAX,
    # 1 / max(l, tiny), softmax_max = M * min(l * 1e30, 1) + 0. A row that attends nothing (every piece
    # empty, M = -inf) must still give exact +0 output, softmax_max and softmax_sum (no NaN, no -0);
    # a row that attends one id (one non-empty piece, l = 1, the other pieces empty) the reference.
    g = torch.Generator().manual_seed(heads * 10 + k + kept)
    kv_lens = [2600]
    q, qr, key, table, idx = _decode_problem(heads, kv_lens, k, g, over=20)
    idx[0, 0, kept:] = -1
    out, m, s = check_decode(q, qr, key, table, idx, kv_lens)
    assert cpu_module().last_launch()["block_dim"] > 1
    if kept == 0:
        for t in (out, m, s):
            assert (t == 0).all() and not torch.signbit(t.float()).any()


@pytest.mark.parametrize("heads, k", [(64, 2048), (32, 1500)], ids=["glm5-b1", "32-heads"])
def test_early_merge_last_stage_by_scalar_weights(heads, k):
    # The early merge's last stage (kept-low columns [0, 128)) weighs each piece and head with a
    # Muls by the weight the scalar reads (WeighByScalar), and a run's columns go out in one strided
    # copy per group of heads with the same columns (CopyRunColumns). 64 heads over 48 vector cores:
    # runs of 2-3 heads, some with 2 whole heads in a stage; 32 heads: 5-6 chunks a core, runs
    # starting and ending inside a head. Pieces see different keys, so their weights differ per piece
    # and head; the output must be the reference's.
    g = torch.Generator().manual_seed(heads + k)
    kv_lens = [9000]
    q, qr, key, table, idx = _decode_problem(heads, kv_lens, k, g, over=20)
    q[0, : heads // 2] *= 3  # half of the heads with sharper scores: weights far from uniform
    check_decode(q, qr, key, table, idx, kv_lens)
    assert cpu_module().last_launch()["block_dim"] == cpu_module().emulator_limits()["aic_cores"]


@pytest.mark.parametrize("heads", [4, 16])
def test_split_rows_with_more_than_three_items_per_core(heads):
    # Decode rows cut over the cores with more than 3 items a core (as GLM-5 B = 64): each item's
    # record is read before the next item is selected (SfaVector::itemFirst_), and the tiles of the
    # item must still be those of its own record (its row, piece and positions). 60 rows of 300 ids
    # (5 grains of 64 each, 13 grains a core: 19 rows cut at core boundaries, 79 items over 24
    # cores), lengths that differ per row, one row that selects nothing and one cut short by a -1.
    g = torch.Generator().manual_seed(heads + 61)
    rows, k = 60, 300
    kv_lens = [400 + 13 * r for r in range(rows)]
    q, qr, key, table, idx = _decode_problem(heads, kv_lens, k, g, over=20)
    idx[7, 0, :] = -1
    idx[30, 0, 150:] = -1
    check_decode(q, qr, key, table, idx, kv_lens)
    launch = cpu_module().last_launch()
    assert launch["block_dim"] == cpu_module().emulator_limits()["aic_cores"]


def test_early_rows_where_most_tiles_are_sorted():
    # A split launch at 64 heads with more than 3 items a core (as GLM-5 B = 64): its rows are
    # sorted in steps, the work slots carry kSfaSlotEarlyRows and the cube issues each tile's own
    # rows over 8 parts instead of 13 (SfaCube::GatherSome). 80 rows of 512 ids (8
    # grains each, 27 grains a core: 23 rows cut at core boundaries, 103 items over 24 cores; at
    # 70 rows each core takes exactly 3 rows and the flag stays off) as 4 sequences of 20 query
    # tokens (causal: each row sees at most 1,970 <= 4 x 512 keys; few sequences keep the
    # reference fast); one row cut short inside a tile, one with 3 ids (a cube share smaller than
    # the parts) and one that selects nothing.
    g = torch.Generator().manual_seed(83)
    heads, k, per = 64, 512, 20
    kv_lens = [1700 + 90 * b for b in range(4)]
    q, qr, key, key_rope, table, idx = _sequences_problem(heads, kv_lens, per, k, g)
    rows = idx.shape[0]
    idx[9, 0, 333:] = -1
    idx[26, 0, 3:] = -1
    idx[40, 0, :] = -1
    check_sequences(q, qr, torch.cat([key, key_rope], -1), table, idx, kv_lens, per)
    cores = cpu_module().emulator_limits()["aic_cores"]
    assert cpu_module().last_launch()["block_dim"] == cores and rows > 3 * cores


@pytest.mark.parametrize("heads", [16, 64])
@pytest.mark.parametrize("combined", [False, True], ids=["separate-rope", "combined-cache"])
def test_split_launch_with_many_items_and_unsorted_rows(heads, combined):
    # A split launch with more than 3 items a core whose rows are not sorted (16 heads: the sort
    # needs the stage of 64, SfaStepSortFits; no kSfaSlotEarlyRows): the core's last tile scores in
    # two passes, the cube's own whole row blocks, then the gather slot's rows (SfaCube::OwnBlocks);
    # every other tile in one. At 64 heads the rows are sorted in steps (early rows) and every tile
    # scores in one pass.
    # 80 rows of 512 ids (4 tiles each, about 27 grains a core: rows cut at core boundaries, more
    # than 3 items a core over 24 cores) as 4 sequences of 20 query tokens (causal: every row sees 2,181 or more keys);
    # one row cut short inside a tile, one with 20 ids (a cube share under a row block: one pass),
    # one that selects nothing, ids past the lengths.
    g = torch.Generator().manual_seed(97 + heads + combined)
    k, per = 512, 20
    kv_lens = [2200 + 90 * b for b in range(4)]
    q, qr, key, key_rope, table, idx = _sequences_problem(heads, kv_lens, per, k, g, over=6)
    rows = idx.shape[0]
    if combined:
        key, key_rope = torch.cat([key, key_rope], -1), None
    idx[9, 0, 333:] = -1
    idx[26, 0, 20:] = -1
    idx[40, 0, :] = -1
    check_sequences(q, qr, key, table, idx, kv_lens, per, key_rope=key_rope)
    cores = cpu_module().emulator_limits()["aic_cores"]
    assert cpu_module().last_launch()["block_dim"] == cores and rows > 3 * cores


def _ninety_decode_rows(heads: int, k: int, base: int, step: int, seed: int):
    """90 decode rows of k ids over the combined cache (more than 3 items a core over 24 cores: the
    launch form of GLM-5 B = 64), row r seeing base + step * r keys."""
    g = torch.Generator().manual_seed(seed)
    kv_lens = [base + step * r for r in range(90)]
    q, qr, key, table, idx = _decode_problem(heads, kv_lens, k, g, over=8)
    return q, qr, key, table, idx, kv_lens


@pytest.mark.parametrize("heads", [16, 64])
def test_gather_three_tiles_ahead_over_short_items(heads):
    # Decode over the combined cache with more than 3 items a core (as GLM-5 B = 64): the vector
    # cores gather 3 tiles ahead of the softmax into 4 gather slots (SfaGatherAhead), so a slot is
    # rewritten one tile after the cube took it, and the gather runs up to 3 items ahead of the
    # softmax over one-tile items. 90 rows of 256 ids (4 grains each, 15 grains a core: 6 items a
    # core over 24 cores) that see at most 4 x K keys (sorted in steps); every third row keeps only
    # 40 or 3 ids (a one-tile item, a cube share under its parts), one row selects nothing, ids
    # past the lengths are skipped.
    q, qr, key, table, idx, kv_lens = _ninety_decode_rows(heads, 256, 600, 7, seed=151 + heads)
    for r in range(0, 90, 3):
        idx[r, 0, (40 if r % 2 else 3):] = -1
    idx[44, 0, :] = -1
    check_decode(q, qr, key, table, idx, kv_lens)
    cores = cpu_module().emulator_limits()["aic_cores"]
    assert cpu_module().last_launch()["block_dim"] == cores


def _split_launch_rows(seed: int):
    """30 decode rows of 2048 ids, 16 heads: 16 tiles a row, 20 a core over 24 cores (whole rows and
    pieces of a split launch). Returns q, q_rope, key, block table, ids and the lengths."""
    kv_lens = [2100 + 37 * r for r in range(30)]
    return (*_decode_problem(16, kv_lens, 2048, torch.Generator().manual_seed(seed), over=8), kv_lens)


def _check_split_launch(q, qr, key, table, idx, kv_lens):
    check_decode(q, qr, key, table, idx, kv_lens)
    assert cpu_module().last_launch()["block_dim"] == cpu_module().emulator_limits()["aic_cores"]


def test_whole_rows_of_a_split_launch_read_their_ids_in_one_copy():
    # A split launch (fewer rows than 4 a core) reads a whole row's ids in one copy, as a piece's
    # (SfaSelector::Run, wide), and then checks them in chunks of 512. 30 rows of 2048 ids (16 tiles
    # each, 20 a core over 24 cores: whole rows and pieces) whose first -1 falls in every chunk, on a
    # chunk's boundary, at 0 (nothing selected) or nowhere; ids past the lengths are skipped.
    q, qr, key, table, idx, kv_lens = _split_launch_rows(173)
    cuts = [1536, 1100, 513, 512, 40, 0, 2047, 1024, 700]
    for r in range(0, len(kv_lens), 2):
        cut = cuts[(r // 2) % len(cuts)]
        idx[r, 0, cut:] = -1
    _check_split_launch(q, qr, key, table, idx, kv_lens)


def test_first_minus_one_in_the_upper_half_of_a_64_lane_read():
    # The selection looks for a row's first -1 reading the compare's mask 64 lanes at a time
    # (SfaSelector::FirstMinusOne), and a whole row's or a piece's chunks (wide) write their lists
    # without waiting for each write (one wait after the last). 30 rows of 2048 ids (16 tiles each,
    # whole rows and pieces over 24 cores) whose first -1 falls in the upper 32 lanes of a 64-lane
    # read, in the first, a middle and the last chunk, and before a later piece's start (that piece
    # selects nothing), with valid ids after it (which the row must not read); every second row has
    # no -1. Ids past the lengths are skipped.
    q, qr, key, table, idx, kv_lens = _split_launch_rows(191)
    cuts = [33, 63, 96, 575, 1022, 1570, 2040, 1087, 1190]
    for r in range(0, len(kv_lens), 2):
        cut = cuts[(r // 2) % len(cuts)]
        assert cut % 64 >= 32
        idx[r, 0, cut] = -1
    _check_split_launch(q, qr, key, table, idx, kv_lens)


@pytest.mark.parametrize("heads", [16, 64])
def test_next_ids_prefetched_before_an_items_last_tile(heads):
    # A split launch copies the ids of the item selected after an item's last tile (Ensure(1) at
    # the next item's start) one tile early, after the second-to-last tile (SfaSelector::Prefetch);
    # the selection then waits for that copy instead of issuing it. 90 rows of 512 ids (4 tiles
    # each; more than 3 items a core over 24 cores: whole rows and pieces, 3 tiles gathered ahead):
    # rows cut by one -1 at several places with valid ids after it, a row with nothing before its
    # -1 (an empty item between two that select), rows of one id, ids past the lengths.
    q, qr, key, table, idx, kv_lens = _ninety_decode_rows(heads, 512, 600, 9, seed=211 + heads)
    cuts = [300, 0, 129, 511, 1, 256, 450]
    for r in range(1, 90, 3):
        idx[r, 0, cuts[(r // 3) % len(cuts)]] = -1
    _check_split_launch(q, qr, key, table, idx, kv_lens)


@pytest.mark.parametrize("heads", [16, 64])
def test_first_gathers_in_two_buffers(heads):
    # The launch's first tiles are gathered into two UB buffers in turn (SfaVectorGather::Lend:
    # acc_, until the core's first item starts), in decode B = 64's form (a split launch with more
    # than 3 items a core, 3 tiles gathered ahead). 90 rows of 512 ids over 24 cores
    # (4 tiles a row: pieces and whole rows); first items of every length from part of a tile to
    # 4 tiles, tiles of fewer rows than the share (a row cut after 5 / 40 / 100 ids), and a row that
    # selects nothing at a core's start.
    q, qr, key, table, idx, kv_lens = _ninety_decode_rows(heads, 512, 700, 7, seed=307 + heads)
    for r, cut in ((0, 5), (4, 40), (9, 100), (13, 0), (21, 300), (50, 130)):
        idx[r, 0, cut:] = -1
    _check_split_launch(q, qr, key, table, idx, kv_lens)


@pytest.mark.heavy  # under TSan in .ci/tsan_kernels.py (check_sfa_decode_sorted)
def test_split_rows_sorted_in_steps():
    # A split launch at 64 heads sorts the rows' lists (kSfaSortSteps) in steps over the tiles of
    # the item before them (SfaVector::SortStep), where that item has
    # enough tiles (a core's first item keeps its order). 40 rows of 1024 dense ids (8 tiles each,
    # 27 grains a core: a piece, a whole row, a piece). The ids are shuffled within each 64-position
    # grain, so every item holds the same set as with each grain's ids in increasing order: an item
    # sorted in steps then gathers the same list in either case, and a row whose items were all
    # sorted gives bit-equal outputs (here rows 10 and 37: whole rows after a first piece of 7 tiles
    # or more; a split row has a piece that is a core's first item).
    g = torch.Generator().manual_seed(71)
    heads, rows, k = 64, 40, 1024
    kv_lens = [1100 + 10 * r for r in range(rows)]
    q, qr, key, table, idx = _decode_problem(heads, kv_lens, k, g)
    idx[5, 0, 700:] = -1  # a row cut short by a -1 (a shorter list)
    ordered = idx.clone().reshape(rows, k // 64, 64).sort(-1).values.reshape(rows, 1, k)
    ordered[5, 0, 700:] = -1
    ordered[5, 0, 640:700] = idx[5, 0, 640:700].sort().values
    shuffled = check_decode(q, qr, key, table, idx, kv_lens)
    assert cpu_module().last_launch()["block_dim"] == cpu_module().emulator_limits()["aic_cores"]
    in_order = check_decode(q, qr, key, table, ordered, kv_lens)
    def row(outs, r):  # attention_out [T1, N1, 512], softmax_max / softmax_sum [1, T1, N1]
        return [outs[0][r], outs[1][0, r], outs[2][0, r]]

    equal = [r for r in range(rows) if all(torch.equal(a, b) for a, b in zip(row(shuffled, r), row(in_order, r)))]
    assert len(equal) >= 2


def test_sparse_rows_sorted_in_steps_with_many_items():
    # A split launch at 64 heads with more than 3 items a core whose rows see between 4 x K and
    # 8 x K keys (sparser than GLM-5 B = 64 at 8K): their lists are sorted in steps as every row's,
    # a tile's rising rows then go to the gathers in pairs (evenly spaced rows in one copy).
    # 80 rows of 1024 ids (8 tiles each, more than 3 items a core over 24 cores) as 4 sequences of
    # 20 query tokens (causal: every row sees 4,181 to 6,900 keys). The ids are shuffled within each
    # 64-position grain, so an item sorted in steps gathers the same list as with each grain's ids
    # in increasing order, and a row whose items were all sorted gives bit-equal outputs.
    g = torch.Generator().manual_seed(131)
    heads, k, per = 64, 1024, 20
    kv_lens = [4200 + 900 * b for b in range(4)]
    q, qr, key, key_rope, table, idx = _sequences_problem(heads, kv_lens, per, k, g)
    rows, key = idx.shape[0], torch.cat([key, key_rope], -1)
    ordered = idx.clone().reshape(rows, k // 64, 64).sort(-1).values.reshape(rows, 1, k)

    def run(ids):
        return check_sequences(q, qr, key, table, ids, kv_lens, per)

    shuffled = run(idx)
    cores = cpu_module().emulator_limits()["aic_cores"]
    assert cpu_module().last_launch()["block_dim"] == cores and rows > 3 * cores
    in_order = run(ordered)

    def row(outs, r):  # attention_out [T1, N1, 512], softmax_max / softmax_sum [1, T1, N1]
        return [outs[0][r], outs[1][0, r], outs[2][0, r]]

    equal = [r for r in range(rows) if all(torch.equal(a, b) for a, b in zip(row(shuffled, r), row(in_order, r)))]
    assert len(equal) >= 20  # 38 of 80


@pytest.mark.parametrize("short", [0, 5, 11], ids=lambda n: f"short{n}")
def test_sorted_in_steps_slot_carries_sorted_head(short):
    # A split launch at 64 heads with more rows than cores but at most 3 items a core: an item
    # selected while a long item runs is sorted in steps, and its work slot (no kSfaSlotEarlyRows
    # in this launch form) carries the sorted list's first entries (up to 12, fewer for a shorter
    # list), which the cube copies instead of reading the list. 40 rows of 1024 ids (8 tiles each,
    # 20 grains a core over 24 cores: a piece, a whole row, a piece) that see 4,100 to 7,610 keys;
    # with `short`, every fourth row keeps only that many valid ids (then -1).
    g = torch.Generator().manual_seed(173 + short)
    heads, rows, k = 64, 40, 1024
    kv_lens = [4100 + 90 * r for r in range(rows)]
    q, qr, key, table, idx = _decode_problem(heads, kv_lens, k, g)
    if short:
        idx[1::4, 0, short:] = -1
    check_decode(q, qr, key, table, idx, kv_lens)
    assert cpu_module().last_launch()["block_dim"] == cpu_module().emulator_limits()["aic_cores"]


@pytest.mark.parametrize("heads", [16, 64])
@pytest.mark.parametrize("combined", [False, True], ids=["separate-rope", "combined-cache"])
def test_plan_opens_with_core_heads(heads, combined):
    # A split launch with at most 3 items a core: the core heads open the plan (tiling headOffset 0),
    # the row records, items and split rows follow them, the row flags after the split rows, and
    # each vector core reads its head while its tiling copy is in flight. 21 rows of 512 ids (8
    # grains each, 7 grains a core on 24 cores: most rows in 2 pieces, a core's second item on
    # another row than its head's), lengths that differ per row, one row that selects nothing, one
    # cut short by a -1, ids past the lengths.
    g = torch.Generator().manual_seed(113 + heads + combined)
    rows, k = 21, 512
    kv_lens = [600 + 37 * r for r in range(rows)]
    q, qr = _queries((rows, heads), torch.bfloat16, g)
    key, key_rope, table = _paged_cache(kv_lens, 128, torch.bfloat16, g)
    if combined:
        key, key_rope = torch.cat([key, key_rope], -1), None
    idx = _indices(rows, k, kv_lens, g, over=12)
    idx[4, 0, :] = -1
    idx[13, 0, 200:] = -1
    check(q, key, idx, GLM5_SCALE, query_rope=qr, key_rope=key_rope, block_table=table, layout_query="TND",
          layout_kv="PA_BSND", actual_seq_lengths_query=list(range(1, rows + 1)),
          actual_seq_lengths_kv=kv_lens)  # fmt: skip
    cores = cpu_module().emulator_limits()["aic_cores"]
    assert cpu_module().last_launch()["block_dim"] == cores and 2 * rows <= 3 * cores
