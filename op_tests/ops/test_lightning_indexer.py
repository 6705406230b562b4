"""lightning_indexer kernel (on the emulator) against the pure-torch reference.

Index sets must equal the reference's, in the contract's order (best first). Scores are fp32 sums
of bf16/fp16 products whose accumulation order differs from torch's, so scores closer than 1e-5 of
the row's scale -- the largest sum of absolute head terms, max_t sum_h |w_h| relu(q_h . k_t), which
rounding acts on (a score itself can cancel between heads of opposite weight) -- are near-ties:
either key may come first, or be chosen at the k-th place. So per row: the same number of valid
entries then -1; no repeats; the selected keys' reference scores non-increasing and none below the
reference's k-th best, each up to that tolerance. Exact ties (identical keys) must follow the
contract's rule, the lower key first (test_ties_go_to_the_lower_index compares indices exactly).
"""

from __future__ import annotations

import pytest
import torch

from ascend_glm5 import ops, reference
from ascend_glm5.ops._backend import cpu_module
from ascend_glm5.perf.model import emulated_soc, replay, tracing

from ._cores import ai_cores

REL_TOL = 1e-5


def _reference_scores(query, key_rows, weights):
    """Dense fp32 scores [rows, keys] of one batch and each row's scale (largest sum of |terms|)."""
    terms = torch.einsum("shd,td->sht", query.float(), key_rows.float()).relu()
    scale = torch.einsum("sh,sht->st", weights.float().abs(), terms).amax(-1, keepdim=True)
    return torch.einsum("sh,sht->st", weights.float(), terms), scale


def _check_row(got: torch.Tensor, want: torch.Tensor, scores: torch.Tensor, scale: float, what: str) -> None:
    """got/want: int32 [k] index lists of one row; scores: reference scores of the row's visible keys."""
    n_valid = int((want >= 0).sum())
    assert int((got >= 0).sum()) == n_valid, f"{what}: {int((got >= 0).sum())} valid indices, want {n_valid}"
    assert (got[:n_valid] >= 0).all() and (got[n_valid:] == -1).all(), f"{what}: -1 must fill the tail only"
    g, w = got[:n_valid].long(), want[:n_valid].long()
    assert len(set(g.tolist())) == n_valid, f"{what}: duplicate indices"
    tol = REL_TOL * scale
    s = scores[g]
    assert (s[1:] <= s[:-1] + tol).all(), f"{what}: not best first: {s.tolist()}"
    if set(g.tolist()) == set(w.tolist()):
        return
    kth = float(scores[w[-1]])
    worst = float(s.min())
    assert worst >= kth - tol, f"{what}: selected key scoring {worst} is below the k-th best {kth} - {tol}"


def check(query, key, weights, **kw):
    got, got_val = ops.lightning_indexer(query, key, weights, **kw)
    want, want_val = reference.lightning_indexer(query, key, weights, **kw)
    assert got.shape == want.shape and got.dtype == torch.int32
    flat_got, flat_want = got.reshape(-1, got.shape[-1]), want.reshape(-1, want.shape[-1])
    # Dense reference scores per flattened row, to judge near-ties.
    dense, scale = _dense_scores(query, key, weights, **kw)
    for r in range(flat_got.shape[0]):
        _check_row(flat_got[r], flat_want[r], dense[r], float(scale[r]), f"row {r}")
    if kw.get("return_value"):
        vals = got_val.reshape(-1, got.shape[-1])
        for r in range(flat_got.shape[0]):
            valid = flat_got[r] >= 0
            torch.testing.assert_close(vals[r][valid], dense[r][flat_got[r][valid].long()], rtol=0,
                                       atol=REL_TOL * float(scale[r]))  # fmt: skip
            assert torch.isneginf(vals[r][~valid]).all()
    return got


def _dense_scores(query, key, weights, *, layout_query="BSND", layout_key="BSND", actual_seq_lengths_query=None,
                  actual_seq_lengths_key=None, block_table=None, **_):  # fmt: skip
    """Reference scores of every key for every flattened query row (keys outside a batch: -inf)."""
    q_rows = query.reshape(-1, *query.shape[-2:])
    w_rows = weights.reshape(-1, weights.shape[-1])
    out = torch.full((q_rows.shape[0], max(1 << 14, key.numel() // key.shape[-1])), float("-inf"))  # >= any batch's keys
    scale = torch.zeros(q_rows.shape[0], 1)
    spans_q = _spans(query, layout_query, actual_seq_lengths_query)
    for b, (qs, qn) in enumerate(spans_q):
        keys = _batch_keys(key, layout_key, b, actual_seq_lengths_key, block_table)
        if qn and keys.shape[0]:
            rows = slice(qs, qs + qn)
            out[rows, : keys.shape[0]], scale[rows] = _reference_scores(q_rows[rows], keys, w_rows[rows])
    return out, scale


def _spans(t, layout, lens):
    if layout == "BSND":
        b, s = t.shape[0], t.shape[1]
        lens = list(lens) if lens is not None else [s] * b
        return [(i * s, int(lens[i])) for i in range(b)]
    prev, out = 0, []
    for end in lens:
        out.append((prev, int(end) - prev))
        prev = int(end)
    return out


def _batch_keys(key, layout, b, lens, block_table):
    if layout == "BSND":
        n = int(lens[b]) if lens is not None else key.shape[1]
        return key[b, :n, 0]
    if layout == "TND":
        start = int(lens[b - 1]) if b else 0
        return key[start : int(lens[b]), 0]
    n, bs = int(lens[b]), key.shape[1]
    blocks = block_table[b, : -(-n // bs)].long()
    return key[blocks].reshape(-1, key.shape[-1])[:n]


def _inputs(shape_q, shape_k, dtype=torch.bfloat16, wdtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(shape_q, generator=g).to(dtype)
    k = torch.randn(shape_k, generator=g).to(dtype)
    w = (torch.randn(shape_q[:-1], generator=g) * 0.1).to(wdtype)
    return q, k, w


def _decode_row(keys, heads, seed, distinct=None, stretch=None):
    # One decode row of `keys` keys. `distinct`: the keys repeat with that period (tied scores);
    # `stretch` = (begin, end): those keys scaled by 4 (exact in bf16) and the weights made >= 0, so
    # the stretch holds the row's best scores.
    q, k, w = _inputs((1, 1, heads, 128), (1, keys, 1, 128), seed=seed)
    if distinct:
        k = k[:, torch.arange(keys) % distinct]
    if stretch:
        k[:, stretch[0] : stretch[1]] *= 4
        w = w.abs()
    return q, k, w


def _assert_decode_row(got, q, k, w, sparse_count, distinct=None, stretch=None, more_than=0):
    # `_decode_row`'s cases: tied keys must give the reference's indices exactly; a stretch must hold
    # more than `more_than` of the row's picks (its lists are cut past their heads).
    if distinct:
        want, _ = reference.lightning_indexer(q, k, w, sparse_count=sparse_count)
        assert torch.equal(got, want)
    if stretch:
        assert int(((got >= stretch[0]) & (got < stretch[1])).sum()) > more_than


@pytest.mark.parametrize("heads", [32, 64])
@pytest.mark.parametrize("sparse_mode", [0, 3])
def test_bsnd_decode_mixed_lengths(heads, sparse_mode):
    q, k, w = _inputs((4, 1, heads, 128), (4, 300, 1, 128), seed=heads + sparse_mode)
    lens = torch.tensor([0, 1, 37, 300], dtype=torch.int32)
    check(q, k, w, actual_seq_lengths_key=lens, sparse_count=64, sparse_mode=sparse_mode)


@pytest.mark.parametrize("shape_q,lens_q", [((3, 1, 1, 128), None), ((2, 5, 1, 128), [5, 1])])
def test_one_head_one_row_items(shape_q, lens_q):
    # One head: an item of one query row is a single cube row, m = 1, which A2/A3 would run as a GEMV
    # reading L0A as ND (Mmad.md); the kernel pads it to m = 16 as CANN's Matmul does.
    q, k, w = _inputs(shape_q, (shape_q[0], 150, 1, 128), seed=9)
    check(q, k, w, actual_seq_lengths_query=lens_q, actual_seq_lengths_key=[150, 70, 3][: shape_q[0]],
          sparse_count=32, sparse_mode=3 if lens_q else 0, return_value=True)  # fmt: skip


@pytest.mark.parametrize("dtype,wdtype", [(torch.bfloat16, torch.bfloat16), (torch.float16, torch.float16),
                                          (torch.float16, torch.float32)])  # fmt: skip
def test_bsnd_prefill_causal(dtype, wdtype):
    q, k, w = _inputs((2, 70, 8, 128), (2, 90, 1, 128), dtype, wdtype, seed=3)
    check(q, k, w, actual_seq_lengths_query=[70, 33], actual_seq_lengths_key=[90, 20], sparse_count=16, sparse_mode=3)


def test_tnd_prefix_sums():
    q, k, w = _inputs((75, 16, 128), (120, 1, 128), seed=4)
    got = check(q, k, w, layout_query="TND", layout_key="TND", actual_seq_lengths_query=[5, 5, 75],
                actual_seq_lengths_key=[40, 40, 120], sparse_count=24, sparse_mode=3)  # fmt: skip
    assert got.shape == (75, 1, 24)


@pytest.mark.parametrize("block_size", [16, 64])
def test_paged_shuffled_blocks(block_size):
    lens = [0, 1, 31, 32, 33, 200]  # around sparse_count = 32
    max_blocks = -(-max(lens) // block_size)
    num_blocks = len(lens) * max_blocks
    g = torch.Generator().manual_seed(block_size)
    table = torch.randperm(num_blocks, generator=g).to(torch.int32).reshape(len(lens), max_blocks)
    q, k, w = _inputs((len(lens), 2, 32, 128), (num_blocks, block_size, 1, 128), seed=5)
    check(q, k, w, layout_key="PA_BSND", block_table=table, actual_seq_lengths_key=lens, sparse_count=32,
          return_value=True)  # fmt: skip


@pytest.mark.parametrize("block_size", [48, 128, 256])
def test_paged_long_rows_load_keys_in_pairs_of_steps(block_size):
    # The cube loads two steps' keys per L1 buffer: a half's 128 keys in one copy of two ND matrices
    # when they lie in one block (128, 256), split at the blocks' and the tiles' boundaries otherwise
    # (48: runs start and end inside a 64-row tile); single steps at odd cores' starts, at a core's
    # last two steps and where a row's pieces start off a 128-key boundary.
    lens = [3000, 4500, 1900, 70]
    max_blocks = -(-max(lens) // block_size)
    num_blocks = len(lens) * max_blocks
    g = torch.Generator().manual_seed(block_size + 1)
    table = torch.randperm(num_blocks, generator=g).to(torch.int32).reshape(len(lens), max_blocks)
    q, k, w = _inputs((len(lens), 1, 32, 128), (num_blocks, block_size, 1, 128), seed=block_size)
    check(q, k, w, layout_key="PA_BSND", block_table=table, actual_seq_lengths_key=lens, sparse_count=2048,
          return_value=True)  # fmt: skip


def test_long_decode_splits_across_cores_and_full_sparse_count():
    # One query token, 5000 keys: the key range is split over the AI cores and merged back.
    q, k, w = _inputs((1, 1, 32, 128), (1, 5000, 1, 128), seed=6)
    check(q, k, w, sparse_count=2048, return_value=True)
    launch = cpu_module().last_launch()
    assert launch["kernel"] == "lightning_indexer" and launch["block_dim"] > 1


def test_ties_go_to_the_lower_index():
    # Duplicate key rows score identically; the stable order must prefer the lower key index.
    q, k, w = _inputs((1, 3, 8, 128), (1, 64, 1, 128), seed=7)
    k = k[:, torch.arange(64) % 9]  # 9 distinct keys, each repeated
    got = check(q, k, w, sparse_count=20, sparse_mode=0)
    want, _ = reference.lightning_indexer(q, k, w, sparse_count=20, sparse_mode=0)
    assert torch.equal(got, want)


@pytest.mark.parametrize("keys", [511, 512, 513, 2047, 2048, 2049, 4097])
@pytest.mark.parametrize("heads", [1, 64])
def test_decode_key_counts_around_split_boundaries(keys, heads):
    # Decode rows cut over cores (pieces of at least 512 keys, 128-key steps): key counts around the
    # piece size and around sparse_count; one head (a single cube row) and the largest head count.
    q, k, w = _inputs((2, 1, heads, 128), (2, keys, 1, 128), seed=keys + heads)
    check(q, k, w, actual_seq_lengths_key=[keys, keys - 1], sparse_count=2048, return_value=True)


@pytest.mark.parametrize("heads, lens, sparse_count, distinct", [(20, [300, 129], 2048, None), (48, [5000], 2048, None),
                                                                  (20, [5000], 2048, 37), (16, [5000], 2048, None),
                                                                  (1, [380], 64, None), (64, [700], 2048, 23)])
def test_decode_last_tile_by_key_halves(heads, lens, sparse_count, distinct):
    # A core's last score tile goes to the vector cores by key halves: half 0's keys (their own copy),
    # Mmad, fixpipe and flag first, then half 1's, in two parts of head rows (16 + 4 at 20 heads, 32 +
    # 16 at 48, 32 + 32 at 64; whole at 16 and 1 head), each with its own Mmad, fixpipe and flag.
    # Rows on one core each (300, 380 keys; 129: the last step of key half 1 sees none; rows shorter than
    # k), rows over many cores, and tied scores (37 / 23 distinct keys) against the reference.
    q, k, w = _inputs((len(lens), 1, heads, 128), (len(lens), max(lens), 1, 128), seed=heads + lens[0])
    if distinct:
        k = k[:, torch.arange(k.shape[1]) % distinct]
    got = check(q, k, w, actual_seq_lengths_key=lens, sparse_count=sparse_count, return_value=True)
    cores = cpu_module().last_launch()["block_dim"]
    assert cores == (len(lens) if max(lens) < 1024 else 9)  # a row per core / 9 pieces
    if distinct:
        want, _ = reference.lightning_indexer(q, k, w, actual_seq_lengths_key=lens, sparse_count=sparse_count)
        assert torch.equal(got, want)


@pytest.mark.parametrize("heads, lens, distinct", [(32, [400, 513], None), (20, [385, 384, 300], 37), (1, [640, 520], None),
                                                    (64, [512, 700], 23), (32, [5000, 3000], 41), (16, [3000, 7000, 2500], None)])
def test_batched_decode_tile_before_the_last_by_key_halves(heads, lens, distinct):
    # A core's tile before the last goes out by key halves too (LiStepHalves; with one batch too since li-ahead):
    # its half 0's keys, Mmad, fixpipe and flag, then half 1's in one part, when the core's last item has
    # 4 steps or more (400, 385, 384, 513, 520 keys on a core each: 4-5 steps; 300: 3 steps, whole as
    # before; 640 at 1 head; 5000 / 3000 and 3 long rows: rows cut over cores). Ties (37, 23, 41
    # distinct keys) against the reference's indices exactly; values against the dense scores.
    q, k, w = _inputs((len(lens), 1, heads, 128), (len(lens), max(lens), 1, 128), seed=heads + lens[1])
    if distinct:
        k = k[:, torch.arange(k.shape[1]) % distinct]
    got = check(q, k, w, actual_seq_lengths_key=lens, sparse_count=2048, return_value=True)
    if distinct:
        want, _ = reference.lightning_indexer(q, k, w, actual_seq_lengths_key=lens, sparse_count=2048)
        assert torch.equal(got, want)



@pytest.mark.parametrize("heads, keys, distinct", [(32, 5000, None), (20, 5000, 37), (64, 2600, 23), (1, 4100, None),
                                                   (16, 384, 7)])
def test_single_row_decode_tile_before_the_last_by_key_halves(heads, keys, distinct):
    # One decode row (one batch) cut over cores: each core's tile before the last goes out by key
    # halves too, half 1 in one part, when its piece has 4 steps or more (5000 keys: 9 pieces of 5
    # steps; 2600: 5 of 5; 4100 at 1 head: 8 of 4; 384: one core, 3 steps, whole as before), and
    # the vector cores work on a tile before they wait for the flags of the one two steps on (the
    # tile before the last then waits for no flag of the last). Ties (37, 23, 7 distinct keys)
    # against the reference's indices exactly; values against the dense scores.
    q, k, w = _decode_row(keys, heads, seed=heads + keys, distinct=distinct)
    got = check(q, k, w, sparse_count=2048, return_value=True)
    assert cpu_module().last_launch()["block_dim"] == {5000: 9, 2600: 5, 4100: 8, 384: 1}[keys]
    _assert_decode_row(got, q, k, w, 2048, distinct=distinct)

@pytest.mark.parametrize("heads, lens, sparse_count", [(2, [700, 300], 256), (4, [700, 129], 256), (8, [5000], 512),
                                                       (16, [700, 300], 2048), (32, [700, 513], 256), (64, [700, 300], 256),
                                                       (24, [700, 300], 256), (5, [700, 300], 256)])
def test_decode_head_sums_through_the_other_ub_bank(heads, lens, sparse_count):
    # Decode: the broadcast weights a head row apart and (power-of-two heads >= 4) the folding tree's
    # levels between the tile and a buffer in UB's second 64-KiB bank (LiVector::CarveApart,
    # SumHeadsApart): every level count (1 at 4 heads, its last level then read from that buffer, to
    # 5 at 64), the last tile's half 1 in two parts of head rows (its second part's weights from a
    # head row on: 24, 32 and 64 heads), 2 heads (one level, in place), 24 and 5 heads (the weights
    # apart, the heads summed in place as before). The weights' Mul and the folds' Adds meet no UB
    # bank conflict (the model's bank beats) where the layout avoids them: the Mul at an even head
    # count (tile buffers 512 B apart), the Adds at power-of-two heads.
    q, k, w = _inputs((len(lens), 1, heads, 128), (len(lens), max(lens), 1, 128), seed=heads + lens[-1])
    with tracing() as traces:
        check(q, k, w, actual_seq_lengths_key=lens, sparse_count=sparse_count, return_value=True)
    conflicts = replay(traces[-1]).bank_conflict_cycles
    if heads % 2 == 0:
        assert conflicts.get("Mul", 0.0) == 0.0
    if heads & (heads - 1) == 0:
        assert conflicts.get("Add", 0.0) == 0.0


def _launch_on_5_cores(q, k, w, **kw):
    """check() on 5 AI cores, traced: its result, the launch's MTE3 bytes and GM counter waits."""
    with ai_cores(5), tracing() as traces:
        got = check(q, k, w, **kw)
        written = cpu_module().last_launch()["total"]["mte3_bytes"]
    waits = sum(n for name, _, _, n in replay(traces[-1]).apis if name == "GmFlagWaitAtLeast")
    return got, written, waits


def test_batched_decode_lists_of_four_in_two_parts():
    # 4 rows of 8192 keys on 5 AI cores (6,553 keys a core, as GLM-5's B = 16 x 8K on 20): each row
    # on two cores, 4 lists, k = 2048. A core's last list goes to GM as its head (1,024 pairs, what
    # the cut keeps of a list with a quantile below the threshold) before SyncAll (FewListsInParts);
    # the rows' merges are placed on the cores holding those lists (PlaceMergesByTails), which drop
    # their tails when the cut keeps no list whole. Random keys: no merge waits for the tails. Then
    # 1,900 keys of row 1 scaled by 4 (exact in bf16; weights >= 0), all in core 1's key half 0: that
    # list keeps more than its head, its tail (1,024 pairs, 8 KB more written) goes to GM and part 1
    # of row 1's merge (its band reaches down to the threshold) waits for the tails; part 0's band ends
    # inside that list's head (its lower edge among every list's 16 quantiles, LiCut::StartCut).
    q, k, w = _inputs((4, 1, 32, 128), (4, 8192, 1, 128), seed=51)
    w = w.abs()
    _, random_bytes, waits = _launch_on_5_cores(q, k, w, sparse_count=2048, return_value=True)
    assert waits == 0
    k[1, 500:2400] *= 4
    got, stretch_bytes, waits = _launch_on_5_cores(q, k, w, sparse_count=2048, return_value=True)
    assert waits == 1 and stretch_bytes - random_bytes == 1024 * 8
    assert int(((got[1, 0] >= 500) & (got[1, 0] < 2400)).sum()) > 1024


def test_batched_decode_lists_of_four_in_two_parts_with_ties():
    # As above with 41 distinct keys: every score tied ~200 times, on every list; the heads, the
    # threshold and the bands must still keep the lower indices (the reference's exactly).
    q, k, w = _inputs((4, 1, 32, 128), (4, 8192, 1, 128), seed=52)
    k = k[:, torch.arange(8192) % 41]
    got, _, _ = _launch_on_5_cores(q, k, w, sparse_count=2048, return_value=True)
    want, _ = reference.lightning_indexer(q, k, w, sparse_count=2048, return_value=True)
    assert torch.equal(got, want)


@pytest.mark.parametrize("seed, distinct, stretch, return_value", [(61, None, None, False), (62, None, None, True),
                                                                   (63, 41, None, False), (64, None, (300, 2500), True),
                                                                   (65, 23, (3000, 5000), False)])
def test_decode_band_parts_read_their_own_list_from_ub(seed, distinct, stretch, return_value):
    # 4 rows of 8192 keys on 5 AI cores (as B = 16 x 8K on 20): each final-merge part runs on a vector
    # core that kept its own list of the row in UB (LiMerger::OwnListInUb: a vector copy of its head, no
    # GM copy), its other lists come in GM copies, two neighbouring ones of one length in one strided
    # copy (LoadTwoLists), their windows compared and read in the order they land (order_); the
    # lengths come from the quantiles (no header copy), the quantiles' scores are gathered for the
    # counts (LiCut::StartCut / CompareFewQuantiles). Random keys, every score tied (41 distinct keys),
    # one list holding the best (its tail read, the own list loaded again from GM), a tied stretch:
    # against the reference's indices.
    q, k, w = _inputs((4, 1, 32, 128), (4, 8192, 1, 128), seed=seed)
    if distinct is not None:
        k = k[:, torch.arange(8192) % distinct]
    if stretch is not None:
        w = w.abs()
        k[1, stretch[0]:stretch[1]] *= 4
    with ai_cores(5), tracing() as traces:
        got = check(q, k, w, sparse_count=2048, return_value=return_value)
    if distinct is not None:
        want, _ = reference.lightning_indexer(q, k, w, sparse_count=2048, return_value=return_value)
        assert torch.equal(got, want)
    apis = {name: n for name, _, _, n in replay(traces[-1]).apis}
    assert apis.get("DataCopy(local->local)", 0) >= 8  # every part's own list from UB (8 parts)


@pytest.mark.parametrize("stretch, distinct", [(None, None), ((6000, 8000), None), ((4000, 6000), None),
                                              ((6000, 8000), 23), ((4000, 8000), 17), (None, 41)])
def test_decode_core_without_a_merge_decides_on_its_tail(stretch, distinct):
    # 4 rows of 8192 keys on 5 AI cores (as B = 16 x 8K on 20): 8 final-merge parts on 10 vector cores.
    # AI core 3's vector cores hold row 2's last two lists (slots 10, 11), written in two parts, and no
    # merge: each gets a copy of row 2's merge that only cuts (kLiTailDecision: the row's quantiles, T,
    # KeptWhole) and writes its tail only where the cut keeps its list whole. Random keys: neither tail
    # written (no merge waits). Row 2's keys 6000-8000 (vector core 7's half) or 4000-6000 (core 6's)
    # scaled by 4 (weights >= 0): that list is kept whole, its tail (1,024 pairs) written, the last
    # part waits for it (part 0's band ends inside the list's head). With the stretch made of 23 or 17 distinct keys (tied at the threshold; 4000-8000:
    # both cores' lists) and the whole row of 41: the reference's indices exactly (the lower key first).
    q, k, w = _inputs((4, 1, 32, 128), (4, 8192, 1, 128), seed=51)
    w = w.abs()
    _, random_bytes, waits = _launch_on_5_cores(q, k, w, sparse_count=2048)
    assert waits == 0
    if stretch is not None:
        a, b = stretch
        k[2, a:b] = (k[2, a + torch.arange(b - a) % distinct] if distinct else k[2, a:b]) * 4
    elif distinct is not None:
        k = k[:, torch.arange(8192) % distinct]
    got, bytes_, waits = _launch_on_5_cores(q, k, w, sparse_count=2048)
    if stretch is not None and distinct is None:
        assert waits == 1 and bytes_ - random_bytes == 1024 * 8
    if distinct is not None:  # the tied rows (row 2; every row at 41) against the reference's indices exactly
        want, _ = reference.lightning_indexer(q, k, w, sparse_count=2048)
        tied = [2] if stretch is not None else range(4)
        assert all(torch.equal(got[r], want[r]) for r in tied)


@pytest.mark.parametrize(
    "rows, keys, cores, sparse_count, lens",
    [
        (4, 8192, 5, 2048, None),  # band parts of ~1,000 ranks: 4 pieces of 256, the last not a multiple of 64
        (4, 8192, 5, 2016, None),  # bestPairs 2,016 (not a multiple of 64): a last piece near it is gathered exactly
        (4, 8192, 5, 100, None),  # one piece, gathered in a whole repeat of 64
        (2, 1500, 4, 2048, None),  # rows seeing fewer than k keys: uncut final merges in parts (ranks from `from`)
        (12, 2000, 2, 512, None),  # more final merges than vector cores: the offsets built once per core
        (3, 2500, 3, 2048, [2500, 700, 40]),  # padded outputs (-1 past a row's keys)
    ],
)
def test_decode_indices_gathered_from_the_merged_pairs(rows, keys, cores, sparse_count, lens):
    # Without values, a final merge's indices are gathered from its merged (score, index) pairs by
    # Gather at the byte offsets 8 i + 4 (LiMerger::BuildOutOffsets, 64 a repeat) in pieces of 256
    # ranks (whole repeats where the output buffer holds them). Against the reference.
    q, k, w = _inputs((rows, 1, 32, 128), (rows, keys, 1, 128), seed=rows * 7 + keys + sparse_count)
    kw = dict(sparse_count=sparse_count)
    if lens is not None:
        kw["actual_seq_lengths_key"] = lens
    with ai_cores(cores):
        check(q, k, w, **kw)


@pytest.mark.parametrize(
    "rows, keys, cores, sparse_count, distinct, stretch",
    [
        (4, 8192, 5, 2048, None, None),  # 2 parts of rows of 4 lists; 51-block pieces (the tail flush)
        (4, 8192, 5, 2048, 41, None),  # every score tied ~200 times
        (4, 8192, 5, 2048, None, (300, 2500)),  # one list holds the best: all its 16 quantiles above T
        (2, 6000, 4, 2048, None, None),  # 4 parts (upper and lower edges), 24-block pieces
        (2, 6000, 4, 2048, 23, (3100, 4000)),
        (5, 4000, 5, 512, None, None),  # rows of 2 lists in 2 parts
        (5, 4000, 5, 512, 7, (100, 900)),
        (4, 4096, 4, 2048, None, None),  # rows of 2 lists (quantile step 128: windows of 4 repeats)
        (4, 4096, 4, 2048, 29, (1000, 3000)),
    ],
)
def test_decode_band_merge_of_few_lists_counts_quantiles_by_vector(rows, keys, cores, sparse_count, distinct, stretch):
    # A final merge in parts of a row of up to 4 lists counts each list's quantiles at or above T and
    # the band's edges with vector compares (LiCut::CompareFewQuantiles) and searches each list's edge
    # within the quantile step the counts give (FewRange) by a vector compare of that step as each list lands
    # (LiCut::CompareBandWindow; a range longer than 256 pairs: the scalar's search); a decode piece of 24 blocks or more merges its
    # candidates into the best list 12 blocks before its end (LiVector::TailFlush). Checked against the
    # reference (values too), with tied scores its indices exactly (the lower index first).
    q, k, w = _inputs((rows, 1, 32, 128), (rows, keys, 1, 128), seed=rows * 131 + keys + (distinct or 0))
    if distinct is not None:
        k = k[:, torch.arange(keys) % distinct]
    if stretch is not None:
        w = w.abs()
        k[rows // 2, stretch[0] : stretch[1]] *= 4
    with ai_cores(cores):
        got = check(q, k, w, sparse_count=sparse_count, return_value=True)
    if distinct is not None:  # tied scores: the reference's indices exactly
        want, _ = reference.lightning_indexer(q, k, w, sparse_count=sparse_count, return_value=True)
        assert torch.equal(got, want)


def test_decode_many_lists_merged_over_levels():
    # One row over every core: 2 lists per core, merged 4 at a time over several levels after the
    # quantile threshold has cut them; the result is exact, in the contract's order.
    q, k, w = _inputs((1, 1, 32, 128), (1, 16000, 1, 128), seed=12)
    got = check(q, k, w, sparse_count=2048, return_value=True)
    want, _ = reference.lightning_indexer(q, k, w, sparse_count=2048)
    assert torch.equal(got, want)  # random data: no scores within rounding of each other here


@pytest.mark.parametrize("rows, keys", [(1, 16000), (2, 5000), (12, 5000)])
def test_decode_best_keys_in_one_stretch(rows, keys):
    # The last quarter of each row's keys scaled by 4 (exact in bf16) holds nearly all of its best:
    # the lists of that stretch stay far longer after the cut than a cut merge loads ahead (its
    # estimate assumes the best spread by keys seen), so they must be loaded again. One row over
    # every core (a wide merge of ~30 lists), rows of 8 lists, and rows of 4 lists (on the 24 AI
    # cores the emulator has by default: 12 x 5000 keys put each row on 2 cores).
    q, k, w = _inputs((rows, 1, 32, 128), (rows, keys, 1, 128), seed=14)
    k[:, keys * 3 // 4 :] *= 4
    check(q, k, w, sparse_count=2048, return_value=True)


@pytest.mark.parametrize("rows, keys", [(1, 16000), (12, 5000)])
def test_decode_best_keys_in_one_stretch_with_ties(rows, keys):
    # As above, the stretch made of 50 distinct keys repeated: a part of the final merge may take all
    # of its band from one list (merged as a single run), full of tied scores in key order.
    q, k, w = _inputs((rows, 1, 32, 128), (rows, keys, 1, 128), seed=15)
    start = keys * 3 // 4
    k[:, start:] = k[:, start + torch.arange(keys - start) % 50] * 4
    got = check(q, k, w, sparse_count=2048, return_value=True)
    for r, row in enumerate(got.reshape(rows, -1)):  # each tied class of the stretch: its lowest keys, in order
        by_class: dict[int, list[int]] = {}
        for t in row[row >= start].tolist():
            by_class.setdefault((t - start) % 50, []).append(t)
        assert len(by_class) >= 4, f"row {r}: too few of the stretch's keys selected to test ties"
        for c, ts in by_class.items():
            assert ts == list(range(start + c, start + c + 50 * len(ts), 50)), f"row {r}: tied keys {ts[:8]}..."


def test_decode_ties_across_split_lists():
    # 97 distinct keys repeated over 6000: every score is shared by ~62 keys, on every core's list.
    # The threshold lands on tied scores and the merges must still prefer the lower indices.
    q, k, w = _inputs((1, 1, 8, 128), (1, 6000, 1, 128), seed=13)
    k = k[:, torch.arange(6000) % 97]
    got = check(q, k, w, sparse_count=2048, sparse_mode=0)
    want, _ = reference.lightning_indexer(q, k, w, sparse_count=2048, sparse_mode=0)
    assert torch.equal(got, want)


@pytest.mark.parametrize("keys, sparse_count, distinct", [(2000, 2048, None), (1000, 50, 7), (1000, 50, 1)])
def test_decode_short_lists_merged_one_block_before_the_end(keys, sparse_count, distinct):
    # A vector core's blocks of 64 are merged into a short best list one block before the end, and the
    # last block's runs with it at the end. 2000 keys: pieces over 3 cores, halves of 5-6 blocks.
    # 1000 keys, k = 50 (one core, halves of 8 blocks): the early merge fills the best list, so the last
    # block is filtered by its k-th best; with tied scores (7 distinct keys) a tie with the k-th best
    # must lose, and with one distinct key no entry of the last block survives (the final list is the
    # best list as merged early).
    q, k, w = _inputs((1, 1, 8, 128), (1, keys, 1, 128), seed=keys + sparse_count)
    _check_key_classes(q, k, w, distinct, sparse_count=sparse_count, sparse_mode=0)
    assert cpu_module().last_launch()["block_dim"] == (1 if keys == 1000 else 3)


@pytest.mark.parametrize("keys, sparse_count, distinct", [(2048, 2048, None), (2048, 100, 7), (2048, 60, 1), (3000, 100, None)])
def test_decode_short_pieces_merged_two_and_three_blocks_before_the_end(keys, sparse_count, distinct):
    # One row in pieces of 4 steps (2048 keys on 4 cores; 3000: 5 and 6 steps on 5 cores): a vector
    # core merges its candidates into its best list after each of its first blocks (two and three
    # blocks before its end, at most 256 keys offered), then one block before the end, then the last
    # block's runs. k = 100 / 60: the merge two blocks before the end fills the best list, so the
    # last blocks are filtered by its k-th best; with tied scores (7 distinct keys, or all equal) a tie
    # with the k-th best must lose.
    q, k, w = _inputs((1, 1, 8, 128), (1, keys, 1, 128), seed=keys + sparse_count + 5)
    _check_key_classes(q, k, w, distinct, sparse_count=sparse_count, sparse_mode=0)
    assert cpu_module().last_launch()["block_dim"] == (4 if keys == 2048 else 5)


@pytest.mark.parametrize("sparse_count", [100, 2048])
def test_decode_best_list_moves_between_merge_buffers(sparse_count):
    # One row of 60,000 keys (halves of ~20 blocks a core): a vector core merges its candidates into
    # its best list every 8 blocks, each merge's output becoming the best list (no copy back), which
    # the next merge reads and whose k-th best filters the next blocks. Scores ramp up with the key
    # (positive weights, keys scaled up to 5x), so most blocks beat the k-th best and every merge
    # rewrites the list.
    keys = 60000
    q, k, w = _inputs((1, 1, 8, 128), (1, keys, 1, 128), seed=sparse_count + 11)
    k = (k.float() * (1 + 4 * torch.arange(keys) / keys).view(1, keys, 1, 1)).bfloat16()
    check(q, k, w.abs(), sparse_count=sparse_count, sparse_mode=0, return_value=True)


@pytest.mark.parametrize("keys, sparse_count, distinct", [(1000, 2048, None), (1000, 2048, 5), (3000, 100, 7), (3000, 100, None)])
def test_decode_unfiltered_blocks_sorted_as_they_are(keys, sparse_count, distinct):
    # While a vector core's best list is short of k, a block of 64 keys the row sees in full goes to
    # Sort32 unfiltered, its scores and key indices as they are (the indices from the step's buffer,
    # two alternating); a block with masked keys (1000 = 15 x 64 + 40: the last one) is filtered.
    # With tied scores (5 / 7 distinct keys) Sort32 must keep the lower index first. k = 100: the
    # best list fills after a few blocks, and the later blocks are filtered by its k-th best.
    q, k, w = _inputs((1, 1, 32, 128), (1, keys, 1, 128), seed=keys + sparse_count + 17)
    _check_key_classes(q, k, w, distinct, sparse_count=sparse_count, sparse_mode=0)


@pytest.mark.parametrize("lens", [[3000, 7000, 2500, 9000, 4100], [2200] * 30])
def test_batched_decode_cut_at_core_boundaries(lens):
    # Decode batches whose key ranges are cut into equal stretches per core: a row's pieces start
    # and end inside its range at 128-key steps, a core holds the tail of one row and the head of
    # the next; 30 equal rows on 24 cores: cut, rather than 2 on some cores and 1 on the others (a
    # core then holds a whole row and the short head of the next, which it takes first: its lists
    # are written out of row order).
    q, k, w = _inputs((len(lens), 1, 32, 128), (len(lens), max(lens), 1, 128), seed=len(lens))
    check(q, k, w, actual_seq_lengths_key=lens, sparse_count=2048, return_value=True)  # up to near-ties
    if len(lens) == 5:
        assert cpu_module().last_launch()["block_dim"] > len(lens)  # rows over more cores than rows


def _check_key_classes(q, k, w, distinct, **kw):
    """check() on keys repeated in `distinct` classes (None: the random keys as they are); with classes,
    whose scores are far apart and tie exactly within a class, also the reference's indices exactly."""
    if distinct:
        k = k[:, torch.arange(k.shape[1]) % distinct]
    got = check(q, k, w, return_value=True, **kw)
    if distinct:
        want, _ = reference.lightning_indexer(q, k, w, **kw)
        assert torch.equal(got, want)
    return got


def _assert_ties_to_lower_index(got: torch.Tensor, distinct: int) -> None:
    """Keys t and t' with t % distinct == t' % distinct are identical rows, so they score exactly the
    same whatever the summation order: in every row the selected keys of each such class must be its
    lowest indices (c, c + distinct, ...), listed in increasing order. (The order between classes is
    left to check(): near-ties between different keys depend on the BLAS path.)"""
    for r, row in enumerate(got.reshape(-1, got.shape[-1])):
        by_class: dict[int, list[int]] = {}
        for t in row[row >= 0].tolist():
            by_class.setdefault(t % distinct, []).append(t)
        for c, ts in by_class.items():
            assert ts == list(range(c, c + distinct * len(ts), distinct)), f"row {r}: tied keys {ts[:8]}... of class {c}"


def test_two_row_decode_cut_lists_with_ties():
    # Two query tokens per sequence (one group of 2 rows, cut over cores); 131 distinct keys repeated
    # over 5000: every row sees more than k keys, so its lists are cut at the quantile threshold
    # before their first merge, on tied scores; the lower indices must still win.
    q, k, w = _inputs((6, 2, 32, 128), (6, 5000, 1, 128), seed=14)
    k = k[:, torch.arange(5000) % 131]
    _assert_ties_to_lower_index(check(q, k, w, sparse_count=2048), 131)


def test_prefill_rows_past_k_cut_their_two_lists_with_ties():
    # Many 4-row groups (one item each, no cuts): the rows that see more than k keys cut their two
    # lists (one per vector core) at the threshold before their final merge; tied scores throughout.
    q, k, w = _inputs((1, 120, 8, 128), (1, 2300, 1, 128), seed=15)
    k = k[:, torch.arange(2300) % 89]
    _assert_ties_to_lower_index(check(q, k, w, sparse_count=2048), 89)


@pytest.mark.parametrize("lens", [[67, 66, 65], [4]])
def test_prefill_rows_split_between_vector_cores(lens):
    # Prefill items are split between the two vector cores by rows (LiVector::StepsRowSplit), each
    # writing its rows' indices in phase 1 (EmitRow). Causal batches of 67, 66 and 65 rows end in
    # groups of 3, 2 and 1 rows (2 + 1 rows per core, 1 + 1, 1 + none) and in key blocks cut by the
    # causal limit (a last step's second block without keys); [4]: one group of one step on one core.
    q, k, w = _inputs((len(lens), max(lens), 32, 128), (len(lens), max(lens), 1, 128), seed=sum(lens))
    check(q, k, w, actual_seq_lengths_query=lens, actual_seq_lengths_key=lens, sparse_count=2048, sparse_mode=3,
          return_value=True)  # fmt: skip
    if lens == [4]:
        assert cpu_module().last_launch()["block_dim"] == 1


@pytest.mark.parametrize("sparse_count, distinct", [(2048, None), (2048, 11), (40, 11)])
def test_prefill_unfiltered_blocks_sorted_as_they_are(sparse_count, distinct):
    # Prefill rows split between the vector cores (StepsRowSplit): a block of 64 keys a row sees in full
    # goes to Sort32 unfiltered while its best list is short of k, a block the causal limit cuts is
    # filtered (its masked keys must not be listed). k = 40: the best lists fill after the first block
    # and the later blocks are filtered by their k-th best. Ties (11 distinct keys): lower index first.
    q, k, w = _inputs((1, 300, 32, 128), (1, 300, 1, 128), seed=sparse_count + 23)
    _check_key_classes(q, k, w, distinct, sparse_count=sparse_count, sparse_mode=3)


@pytest.mark.heavy
def test_prefill_rows_split_past_k_with_ties():
    # Rows split between the vector cores over many 4-row groups per core, the last rows seeing more
    # than k keys (their whole top-k kept by one core); 89 distinct keys repeated: ties must keep the
    # lower index.
    q, k, w = _inputs((1, 2150, 32, 128), (1, 2150, 1, 128), seed=16)
    k = k[:, torch.arange(2150) % 89]
    _assert_ties_to_lower_index(check(q, k, w, sparse_count=2048), 89)


@pytest.mark.parametrize("heads, lens", [(12, [9, 7]), (64, [5, 70])])
def test_prefill_rows_split_other_head_counts(heads, lens):
    # 12 heads (not a power of two: each row's heads summed on their own, not folded for all rows at
    # once) in groups of 4 rows; 64 heads: groups of 2 rows, one per vector core. sparse_count 40:
    # the long rows see more than k keys, the short ones fewer.
    q, k, w = _inputs((len(lens), max(lens), heads, 128), (len(lens), max(lens), 1, 128), seed=heads)
    check(q, k, w, actual_seq_lengths_query=lens, actual_seq_lengths_key=lens, sparse_count=40, sparse_mode=3,
          return_value=heads == 12)  # fmt: skip


@pytest.mark.parametrize("heads, lens, sparse_count, return_value", [(8, [9, 70], 40, False), (16, [70, 5], 64, True),
                                                                     (32, [70, 9], 2048, False), (32, [70, 33], 2048, True),
                                                                     (32, [70, 70], 40, False), (64, [5, 70], 2048, False)])
def test_prefill_head_sums_through_the_other_ub_bank(heads, lens, sparse_count, return_value):
    # Prefill (rows split between the vector cores): the folds of power-of-two heads >= 8 go between the
    # tile and a buffer in UB's second 64-KiB bank (LiVector::CarveRowSplitFold, FoldRowsApart), its
    # first two levels by passes of as many virtual rows (a row's column block) as the buffer holds:
    # 32 heads and k = 2048 (GLM-5's groups of 4 rows): 2 of the 4 a pass, 1 with the values' output
    # buffer too, all 4 at k = 40; 8 / 16 / 64 heads: one pass, the last two sums read from the tile (8,
    # 32) or the buffer (16, 64). Causal rows seeing fewer and more than k keys. The folds' Adds meet
    # no UB bank conflict (the model's bank beats).
    q, k, w = _inputs((len(lens), max(lens), heads, 128), (len(lens), max(lens), 1, 128), seed=heads + sparse_count)
    with tracing() as traces:
        check(q, k, w, actual_seq_lengths_query=lens, actual_seq_lengths_key=lens, sparse_count=sparse_count,
              sparse_mode=3, return_value=return_value)  # fmt: skip
    assert replay(traces[-1]).bank_conflict_cycles.get("Add", 0.0) == 0.0


@pytest.mark.heavy
def test_prefill_rows_split_cut_over_cores_read_past_heads():
    # Two query rows (one group, its rows split between the vector cores) over 40,000 keys: the group
    # is cut over every AI core, each row has one partial list per item and is merged in one step;
    # 5000 consecutive keys scaled by 4 (the others by 1/4) hold nearly all of the top k, so the merge
    # reads their lists past the heads written before SyncAll and waits for their tails.
    q, k, w = _inputs((1, 2, 8, 128), (1, 40000, 1, 128), seed=18)
    k *= 0.25
    k[:, 21000:26000] *= 16
    w = w.abs()
    got = check(q, k, w, sparse_count=2048, return_value=True)
    assert cpu_module().last_launch()["block_dim"] > 4
    assert int(((got >= 21000) & (got < 26000)).sum()) > 2 * 2 * 512  # lists hold more than their heads


@pytest.mark.parametrize("rows, keys, distinct", [(1, 16000, 61), (12, 5000, 53), (3, 9000, 7)])
def test_decode_final_merge_parts_split_on_tied_scores(rows, keys, distinct):
    # A decode row's final merge runs in parts on several vector cores, each merging the entries of
    # one score band (between two quantiles) and writing them at the rank where the band starts.
    # Few distinct keys: every band edge falls on a score shared by hundreds of keys across all of
    # the row's lists; one row over every core (a wide merge in 8 parts), rows of 4 lists (2 parts),
    # and 7 distinct keys (a band may hold a single run, or a single entry).
    q, k, w = _inputs((rows, 1, 32, 128), (rows, keys, 1, 128), seed=rows + distinct)
    k = k[:, torch.arange(keys) % distinct]
    got = check(q, k, w, sparse_count=2048, sparse_mode=0, return_value=True)
    _assert_ties_to_lower_index(got, distinct)
    want, _ = reference.lightning_indexer(q, k, w, sparse_count=2048, sparse_mode=0)
    assert torch.equal(got, want)  # distinct scores between classes are far apart here


@pytest.mark.parametrize("keys, distinct", [(8192, None), (8192, 29), (30001, None)])
def test_decode_final_merge_parts_load_band_windows(keys, distinct):
    # One row over the Ascend910B3's AI cores, merged in one step in 32 parts: each part loads only
    # the window of every list where its band is expected (from the plan) and finds its band there by
    # compares. Random keys (the windows hold the bands: 32 lists of 256 keys, the modeled B = 1 x 8K),
    # tied scores (band edges on scores shared across lists), 40 lists of unequal length. The bands
    # far from where expected (loaded again from every list's start) are test_decode_best_keys_in_one_stretch's.
    q, k, w = _inputs((1, 1, 32, 128), (1, keys, 1, 128), seed=keys + (distinct or 0))
    with emulated_soc("Ascend910B3"):
        _check_key_classes(q, k, w, distinct, sparse_count=2048)  # random keys: near-ties judged by check()


@pytest.mark.parametrize("keys, distinct, seed", [(8192, None, 3), (8192, None, 7), (8192, 700, 0), (30001, None, 5), (30001, 900, 0)])
def test_decode_band_edges_placed_by_the_host(keys, distinct, seed):
    # One row over the Ascend910B3's AI cores, merged in one step in 32 parts, each band's two edges
    # placed by the host in the plan (LiPlan::BandEdges): at equal expected ranks, between two merged
    # quantiles by a fraction, the first parts' above the first merged quantile, extrapolated from its
    # gap to the ninth. Random keys (32 lists of 256 keys; 40 lists of unequal length) and keys in 700
    # / 900 classes (a score shared by ~12 / ~33 keys: merged quantiles tie, an edge then is one of
    # them). Parts p and p + 1 read the same code for their shared edge, in order: no entry is lost or
    # merged twice.
    q, k, w = _inputs((1, 1, 32, 128), (1, keys, 1, 128), seed=keys + seed + (distinct or 0))
    with emulated_soc("Ascend910B3"):
        _check_key_classes(q, k, w, distinct, sparse_count=2048)


@pytest.mark.parametrize(
    "rows, keys, sparse_count, block_dim",
    [(1, 32768, 2048, 20), (1, 32768, 2040, 20), (1, 1500, 1500, None), (6, 8192, 2048, None)],
)
def test_decode_final_merge_in_one_part_per_vector_core(rows, keys, sparse_count, block_dim):
    # A plan of one level splits each final merge into one part per vector core it has, in parts of
    # a multiple of 4 ranks (not of 32): B = 1 x 32K on the Ascend910B3's 40 vector cores in 40 band
    # merges of 52 ranks (k = 2,040: of 52 and a last of 12), one uncut row of 1,500 keys (every part
    # merges in full and writes its own 376 ranks from a rank not a multiple of 32) and 6 rows of
    # 8K (6 parts of 344 ranks).
    q, k, w = _inputs((rows, 1, 32, 128), (rows, keys, 1, 128), seed=keys + sparse_count + rows)
    with emulated_soc("Ascend910B3"):
        check(q, k, w, sparse_count=sparse_count, return_value=True)
        if block_dim:
            assert cpu_module().last_launch()["block_dim"] == block_dim


@pytest.mark.parametrize("keys, distinct, stretch", [(30001, None, None), (30001, 13, None), (8192, None, (5000, 5300))])
def test_decode_band_window_compared_chunk_by_chunk(keys, distinct, stretch):
    # One row over the Ascend910B3's AI cores, merged in one step in 32 parts: a part's window of the
    # lists comes in chunks of lists (40 lists: 12, 12, 12 and 4; 32: 4 x 8), each compared with
    # the band's edges as it arrives, between the quantiles' compare and its reads, and read after them.
    # Random keys and 13 distinct keys over 40 lists of unequal length; 300 keys scaled by 4 (weights
    # >= 0) in lists 19 and 20, in a middle chunk: the bands lie far below the windows there, the
    # parts load every list again while the last chunk's compares are still to be waited for.
    q, k, w = _decode_row(keys, 32, seed=keys + (distinct or 0) + 3, stretch=stretch)
    with emulated_soc("Ascend910B3"):
        if stretch:
            got = check(q, k, w, sparse_count=2048, return_value=True)
            assert int(((got >= stretch[0]) & (got < stretch[1])).sum()) > 256  # more than a list's share
        else:
            _check_key_classes(q, k, w, distinct, sparse_count=2048)
        assert cpu_module().last_launch()["block_dim"] == (20 if keys > 8192 else 16)


@pytest.mark.parametrize(
    "keys, stretch", [(8192, (30, 230)), (8192, (7200, 7400)), (30001, (27100, 27400)), (30001, (29300, 29600))]
)
def test_decode_band_merged_while_its_window_is_read(keys, stretch):
    # A part of a wide band merge issues its band's first merges (4 lists' bands at a time) while the
    # scalar reads the next lists' bands from the window's compare bits (LiMerger::WindowBandMerge). A
    # stretch of 200-300 keys scaled by 4 (weights >= 0) in one list puts its bands far below the
    # windows: in list 0 the parts fail before any merge is issued (every chunk's compares are waited
    # for after it), in the last chunk (list 28 of 32, ~36 of 40) after most merges were issued, which
    # are dropped: the parts load every list and merge again. At 30001 keys that list is read past its
    # head: every tail is copied and counted (the vector unit waits for its copy, the scalar for the
    # add's before the poll). The window comes in 4 chunks (LiCut::kWindowChunks): at 30001 keys the
    # last holds 4 lists of 40 (36-39, fewer than the others' 12), the last case's stretch in list 39.
    q, k, w = _decode_row(keys, 32, seed=keys + stretch[0], stretch=stretch)
    with emulated_soc("Ascend910B3"):
        got = check(q, k, w, sparse_count=2048, return_value=True)
    _assert_decode_row(got, q, k, w, 2048, stretch=stretch, more_than=8 * 16)


@pytest.mark.parametrize("distinct, stretch", [(None, None), (700, None), (None, (2600, 2800)), (None, (7900, 8100))])
def test_decode_window_read_before_the_lists_are_cut(distinct, stretch):
    # B = 1 x 8K on the Ascend910B3: 32 lists of 256 keys, each written whole (no tails), so a part of
    # the wide band merge reads its window with the lists' full lengths and counts their quantiles at
    # the threshold only when the window misses a band (LiCut::CutPending / CutLate). Random keys and
    # 700 key classes: every window holds its bands. 200 keys scaled by 4 (weights >= 0) in list 10
    # (chunk 1) and in lists 30-31 (the last chunk): their bands lie far below the windows (a list
    # whose threshold lies past its window's end misses), the parts cut the lists and load them again.
    q, k, w = _decode_row(8192, 32, seed=8192 + (distinct or 0) + (stretch or (0,))[0], distinct=distinct, stretch=stretch)
    with emulated_soc("Ascend910B3"):
        got = check(q, k, w, sparse_count=2048, return_value=True)
        assert cpu_module().last_launch()["block_dim"] == 16
    _assert_decode_row(got, q, k, w, 2048, distinct=distinct, stretch=stretch, more_than=8 * 16)


@pytest.mark.parametrize(
    "distinct, stretch", [(None, None), (700, None), (None, (9100, 9160)), (None, (28600, 28660)), (None, (15000, 15300))]
)
def test_decode_window_read_before_the_lists_with_tails_are_cut(distinct, stretch):
    # B = 1 x 30,001 keys on the Ascend910B3: 40 lists of ~750 keys, each written as its head (128
    # pairs) before SyncAll and its tail after. Where no list's last loaded quantile (8 of 16) is at or
    # above the threshold, no list is kept whole and none is read past its head: a part of the wide
    # band merge drops its kept tail, reads its window with the lists' full lengths and cuts them only
    # if the window misses (LiCut::BestLastLoaded, CutPending). Random keys and 700 key classes: every
    # window holds its bands. 60 keys scaled by 4 (weights >= 0) in list 12 (chunk 1) and in list 38
    # (the last chunk): ~6 quantile steps of the top k in one list (with its other keys above the
    # threshold), past the window of most parts but inside its head, so those parts cut the lists and
    # load them again without the tails (31 and 34 of 40 parts). 300 keys: the list is kept whole
    # (every loaded quantile at or above the threshold), the parts decide on the tails first.
    q, k, w = _decode_row(30001, 32, seed=30001 + (distinct or 0) + (stretch or (0,))[0], distinct=distinct, stretch=stretch)
    with emulated_soc("Ascend910B3"):
        got = check(q, k, w, sparse_count=2048, return_value=True)
    _assert_decode_row(got, q, k, w, 2048, distinct=distinct, stretch=stretch, more_than=3 * 16)


@pytest.mark.parametrize(
    "rows, keys, sparse_count, distinct",
    [(1, 8192, 2048, None), (1, 8192, 2048, 11), (1, 4096, 256, None), (1, 30001, 2048, None), (10, 8192, 2048, None)],
)
def test_decode_quantiles_gathered_from_full_lists(rows, keys, sparse_count, distinct):
    # A partial list of a row whose lists are cut holding all its 16 quantiles (16 quantile steps of
    # pairs or more) publishes them by one GatherMask with a block stride of one step (the 4 pairs
    # ending at each quantile), not a scalar loop. Steps of 16 (32 lists of 256 and 40 lists of ~750
    # on the Ascend910B3, random and 11 distinct keys), 4 (16 lists of 256 at k = 256: blocks back
    # to back) and 64 (10 rows over 2 AI cores each: 4 lists of 2,048): a quantile gathered at the
    # wrong rank raises the threshold and the cut drops keys of the top k.
    q, k, w = _inputs((rows, 1, 32, 128), (rows, keys, 1, 128), seed=keys + sparse_count + (distinct or 0) + rows)
    with emulated_soc("Ascend910B3"):
        _check_key_classes(q, k, w, distinct, sparse_count=sparse_count)


@pytest.mark.parametrize("lens, distinct", [([8192], None), ([8192], 11), ([3000, 7000, 2500, 9000, 4100], None), ([9000, 1500], 7)])
def test_decode_last_quantiles_copied_on_the_way_to_syncall(lens, distinct):
    # A core's last list before SyncAll: its scalar unit does not wait for the quantiles' copy (SyncAll
    # waits for every pipe), the earlier lists' copies are waited for before quant_ is written again.
    # B = 1 x 8K on the Ascend910B3 (one list per vector core: only the last), 5 rows cut at core
    # boundaries (cores holding the tail of one row and the head of the next: both kinds) and a row
    # of 9,000 keys followed by one below k (no quantiles for the short row's lists).
    q, k, w = _inputs((len(lens), 1, 32, 128), (len(lens), max(lens), 1, 128), seed=sum(lens) + (distinct or 0))
    with emulated_soc("Ascend910B3"):
        _check_key_classes(q, k, w, distinct, actual_seq_lengths_key=lens, sparse_count=2048)


@pytest.mark.parametrize(
    "lens, distinct, stretch",
    [([8192], None, None), ([8192], 11, None), ([8192], None, (5130, 5330)), ([8700], None, None), ([8700], None, (2600, 2750)),
     ([9000, 1500], 7, None)],
)  # fmt: skip
def test_decode_wide_row_lists_in_parts_at_their_loaded_quantiles(lens, distinct, stretch):
    # A row merged in one step writes each partial list's head before SyncAll: as many quantile steps as
    # its merge loads quantiles per list (LiLoadedQuantiles, the most over the launch's wide rows), and
    # only those quantiles. B = 1 x 8K on the Ascend910B3: 32 lists of 256 keys, heads of 128 (8 of 16
    # quantiles), random and 11 distinct keys (no tail read), and 200 keys scaled by 4 (weights >= 0) in
    # one list: its 8 quantiles at or above the threshold, the merge waits for its tail. 8,700 keys
    # (two lists of ~512 among 256s) and rows of 9,000 and 1,500 keys (lists of 256-768): longer runs,
    # 12 quantiles loaded and heads of 192; 150 keys scaled by 4 in one list of 8,700 keys: ~170
    # entries at or above the threshold, cut at its 12th quantile, past 8 quantiles' head.
    if stretch:
        q, k, w = _decode_row(lens[0], 32, seed=lens[0] + 7, stretch=stretch)
        with emulated_soc("Ascend910B3"):
            got = check(q, k, w, sparse_count=2048, return_value=True)
        _assert_decode_row(got, q, k, w, 2048, stretch=stretch, more_than=8 * 16)
        return
    q, k, w = _inputs((len(lens), 1, 32, 128), (len(lens), max(lens), 1, 128), seed=sum(lens) + (distinct or 0) + 3)
    with emulated_soc("Ascend910B3"):
        _check_key_classes(q, k, w, distinct, actual_seq_lengths_key=lens, sparse_count=2048)


@pytest.mark.parametrize(
    "keys, distinct, scaled",
    [(8192, None, None), (8192, 11, None), (8192, None, (192, 256)), (8192, None, (224, 256)), (30001, None, None),
     (30001, 9, None)],
)  # fmt: skip
def test_decode_list_head_merge_stops_when_the_head_is_used_up(keys, distinct, scaled):
    # B = 1 on the Ascend910B3 (32 / 40 lists written in two parts, heads of 128): a core's final merge
    # before SyncAll stops once its head queue (the early head or the best list, 128 pairs) is used up
    # (MrgSort's exhausted suspension, RunningTopK::MergeHead), as only the head is read before the rest
    # is merged. Random keys and tied key classes; keys [a, b) of every 256 (a vector core's keys at 8K)
    # scaled by 4 (weights >= 0): its last block, or that block's second run of 32, ranks above its whole
    # head, so that run is used up first, the merge stops short and is redone whole.
    q, k, w = _inputs((1, 1, 32, 128), (1, keys, 1, 128), seed=keys + (distinct or 0) + 83)
    if scaled:
        at = torch.arange(keys) % 256
        k[:, (at >= scaled[0]) & (at < scaled[1])] *= 4
        w = w.abs()
    with emulated_soc("Ascend910B3"):
        _check_key_classes(q, k, w, distinct, sparse_count=2048)


@pytest.mark.parametrize("sparse_count, distinct", [(2048, None), (2048, 11), (64, None), (64, 1)])
def test_decode_lists_read_after_a_merge_left_unsettled(sparse_count, distinct):
    # GLM-5's B = 1 x 8K row on the Ascend910B3 (32 heads, 40 vector cores of 4 blocks each): the merge
    # one block before a core's end and its final merge leave their barrier to the list's next reader
    # (RunningTopK::Settle), the last tile's two parts of head rows are weighted back to back. k = 2048:
    # every key survives, the final merge's list goes out and its quantiles are gathered from it. k =
    # 64: the lists are full before the last block; with one distinct key none of its keys survive,
    # so the final list is the best list as merged one block before (no merge at the end).
    q, k, w = _inputs((1, 1, 32, 128), (1, 8192, 1, 128), seed=sparse_count + (distinct or 0) + 61)
    with emulated_soc("Ascend910B3"):
        _check_key_classes(q, k, w, distinct, sparse_count=sparse_count)


@pytest.mark.parametrize("keys, stretch", [(8192, (5130, 5330)), (30001, (15000, 15300))])
def test_decode_wide_merge_list_above_its_loaded_quantiles(keys, stretch):
    # A row merged in one step loads only each list's first quantiles (its run and a margin, 8 of 16
    # here). A list whose loaded quantiles are all at or above the threshold is not cut (its next ones
    # are not known): here 200 or 300 keys scaled by 4 (weights >= 0) in one list (32 lists of 256 keys;
    # 40 of ~750, where the stretch may span two) hold more than 8 quantile steps of the top k.
    q, k, w = _inputs((1, 1, 32, 128), (1, keys, 1, 128), seed=keys + 5)
    k[:, stretch[0] : stretch[1]] *= 4
    w = w.abs()
    with emulated_soc("Ascend910B3"):
        got = check(q, k, w, sparse_count=2048, return_value=True)
    assert int(((got >= stretch[0]) & (got < stretch[1])).sum()) > 8 * 16  # past a list's loaded quantiles (step 16)


@pytest.mark.parametrize(
    "keys, sparse_count, distinct",
    [(2560, 512, None), (2560, 512, 7), (4608, 1024, None), (4608, 1024, 13), (8704, 2048, None)],
)
def test_decode_wide_quantile_runs_wait_for_the_second_round(keys, sparse_count, distinct):
    # A row merged in one step merges its lists' quantile runs 4 at a time; the first round merges only
    # the leading runs the later rounds need merged first, and the others join the second round from
    # where they were loaded. 10 lists (5 AI cores: two 4-way merges, 2 runs left), 18 (9 cores: one
    # 3-way merge, 15 left, then 16 -> 4 -> 1) and 34 (17 cores), random and tied keys: a run read from
    # the wrong buffer moves the threshold and the band edges, and the cut drops keys of the top k.
    q, k, w = _inputs((1, 1, 32, 128), (1, keys, 1, 128), seed=keys + sparse_count + (distinct or 0) + 29)
    with emulated_soc("Ascend910B3"):
        _check_key_classes(q, k, w, distinct, sparse_count=sparse_count)
        assert cpu_module().last_launch()["block_dim"] == keys // 512


@pytest.mark.heavy
def test_decode_best_keys_in_one_list_read_past_its_head():
    # One row over every core, merged in one step: each partial list goes to GM as its head (what its
    # cut can keep when it has a quantile below the threshold) before SyncAll and its tail after.
    # Here 5000 consecutive keys scaled by 4 and the others by 1/4 (exact in bf16; weights >= 0) hold nearly all of
    # the row's top k, in two or three lists of ~2,500 keys: every quantile of those lists is above
    # the threshold, the merge reads them past their heads (128 pairs) and must wait for their tails.
    q, k, w = _inputs((1, 1, 32, 128), (1, 120000, 1, 128), seed=17)
    k *= 0.25
    k[:, 61000:66000] *= 16
    w = w.abs()  # scores >= 0: the scaled keys' are the largest
    got = check(q, k, w, sparse_count=2048, return_value=True)
    assert int(((got >= 61000) & (got < 66000)).sum()) > 3 * 256  # one of the stretch's lists holds more than its head


@pytest.mark.parametrize("stretch, distinct", [(None, None), (None, 7), ((1536, 1856), None), ((1536, 1856), 13)])
def test_decode_wide_row_final_merge_cut_to_the_head(stretch, distinct):
    # One row of 4096 keys with k = 256 over 8 AI cores: 16 lists of 256 keys, merged in one step, each
    # written as its head (32 pairs) before SyncAll and its tail after. A core's last list is merged with
    # its queues (the best list, the last block's runs) cut to the head before SyncAll and in full after
    # it, before its tail is written. Random keys, 7 distinct keys, and a stretch of 320 keys scaled by 4
    # (exact in bf16; weights >= 0) holding the row's best: its lists are cut past their heads, so the
    # merge reads their tails (the full merges' output); with 13 distinct keys, tied there.
    q, k, w = _decode_row(4096, 8, seed=19 + (distinct or 0), distinct=distinct, stretch=stretch)
    got = check(q, k, w, sparse_count=256, return_value=True)
    assert cpu_module().last_launch()["block_dim"] == 8
    _assert_decode_row(got, q, k, w, 256, distinct, stretch, more_than=2 * 64)


@pytest.mark.parametrize("stretch", [None, (12000, 13600)])
def test_decode_wide_row_tail_written_only_when_read(stretch):
    # One row of 30001 keys over the Ascend910B3's 20 AI cores: 40 lists of ~750 keys, written as their
    # heads (128 pairs) before SyncAll. The 32 vector cores with a part of the row's merge write their
    # tails only when that merge finds a list cut past its head (the same on every part), the other 8
    # after SyncAll as before. Random keys (no tail read, none written by the parts), and a stretch of
    # 1600 keys scaled by 4 (weights >= 0) over 2-3 lists, cut past their heads: every tail is written.
    q, k, w = _decode_row(30001, 32, seed=23, stretch=stretch)
    with emulated_soc("Ascend910B3"):
        got = check(q, k, w, sparse_count=2048, return_value=True)
        assert cpu_module().last_launch()["block_dim"] == 20
    _assert_decode_row(got, q, k, w, 2048, stretch=stretch, more_than=2 * 256)


@pytest.mark.parametrize("stretch, distinct", [(None, None), (None, 13), ((9000, 9600), None), ((9000, 9600), 7)])
def test_decode_wide_row_head_merged_before_the_end(stretch, distinct):
    # One row of 20480 keys with k = 1024 over 8 AI cores: 16 lists of 1280 keys (20 blocks a vector
    # core), written as their heads (128 pairs) before SyncAll. Three blocks before a list's end its best
    # list (512, short of k) and its pending runs (9 blocks: two rounds) are merged cut to the head
    # (RunningTopK::EarlyHead), two and one blocks before the end each block's runs into one run with
    # those merged before, and the final merge takes that head, that run and the last block's runs; the
    # full merge after SyncAll (24 runs: two rounds, through the head's buffer and the candidate buffer)
    # gives the tail. Random keys, tied keys (13 or 7 distinct, against the reference's indices exactly),
    # and a stretch of 600 keys scaled by 4 (weights >= 0) in one list: cut past its head, the merge
    # reads its tail.
    q, k, w = _decode_row(20480, 8, seed=31 + (distinct or 0), distinct=distinct, stretch=stretch)
    with ai_cores(8):
        got = check(q, k, w, sparse_count=1024, return_value=True)
        assert cpu_module().last_launch()["block_dim"] == 8
    _assert_decode_row(got, q, k, w, 1024, distinct, stretch, more_than=256)


@pytest.mark.parametrize("distinct", [1, 3])
def test_decode_row_merged_in_one_step_when_all_scores_tie(distinct):
    # One row over every core, its lists merged in one step: with every score tied (or 3 values)
    # the threshold cuts nothing, the lists do not fit in UB together and are merged 3 at a time
    # onto the best k; the lowest indices of the best score(s) must win.
    q, k, w = _inputs((1, 1, 16, 128), (1, 16000, 1, 128), seed=16)
    k = k[:, torch.arange(16000) % distinct]
    _assert_ties_to_lower_index(check(q, k, w, sparse_count=2048, sparse_mode=0), distinct)


def test_more_queries_than_keys_gives_empty_rows():
    q, k, w = _inputs((1, 6, 4, 128), (1, 3, 1, 128), seed=8)
    got = check(q, k, w, sparse_count=4, sparse_mode=3)
    assert (got[0, :3] == -1).all() and (got[0, 3:, 0, 0] >= 0).all()


# ---- validation ----------------------------------------------------------------------------------

def _valid():
    return _inputs((1, 2, 4, 128), (1, 8, 1, 128))


def test_rejects_bad_arguments():
    q, k, w = _valid()
    with pytest.raises(ValueError, match="head dim D must be 128"):
        ops.lightning_indexer(q[..., :64], k[..., :64], w)
    with pytest.raises(ValueError, match=r"heads N1 must be in \[1, 64\]"):
        qq, kk, ww = _inputs((1, 2, 65, 128), (1, 8, 1, 128))
        ops.lightning_indexer(qq, kk, ww)
    for bad in (0, 2049):
        with pytest.raises(ValueError, match="sparse_count"):
            ops.lightning_indexer(q, k, w, sparse_count=bad)
    with pytest.raises(TypeError, match="key must have dtype"):
        ops.lightning_indexer(q, k.half(), w)
    with pytest.raises(ValueError, match="layout_query"):
        ops.lightning_indexer(q, k, w, layout_query="BNSD")
    with pytest.raises(ValueError, match="actual_seq_lengths_key must hold 1 lengths in \\[0, 8\\]"):
        ops.lightning_indexer(q, k, w, actual_seq_lengths_key=[9])
    with pytest.raises(ValueError, match="sparse_mode"):
        ops.lightning_indexer(q, k, w, sparse_mode=1)


def test_rejects_short_block_table():
    q, k, w = _inputs((1, 1, 4, 128), (4, 16, 1, 128))
    table = torch.tensor([[0, 1]], dtype=torch.int32)
    with pytest.raises(ValueError, match="block_table has 2 blocks per batch but batch 0 needs 3"):
        ops.lightning_indexer(q, k, w, layout_key="PA_BSND", block_table=table, actual_seq_lengths_key=[40])
    with pytest.raises(ValueError, match="outside"):
        ops.lightning_indexer(q, k, w, layout_key="PA_BSND", block_table=torch.tensor([[0, 7]], dtype=torch.int32),
                              actual_seq_lengths_key=[20])  # fmt: skip


def test_fake_tensor():
    with torch._subclasses.fake_tensor.FakeTensorMode():
        fq, fk = torch.empty(1, 2, 4, 128, dtype=torch.bfloat16), torch.empty(1, 8, 1, 128, dtype=torch.bfloat16)
        fw = torch.empty(1, 2, 4)
        idx, val = torch.ops.ascend_glm5.lightning_indexer(fq, fk, fw, None, None, None, "BSND", "BSND", 16, 3, True)
        assert idx.shape == (1, 2, 1, 16) and idx.dtype == torch.int32 and val.shape == (1, 2, 1, 16)


@pytest.mark.parametrize("layout", ["BSND", "TND-PA_BSND"])
def test_opcheck(layout):
    """torch.library.opcheck: schema (no mutation declared, none done), fake kernel, autograd
    registration, AOT dispatch."""
    if layout == "BSND":
        q, k, w = _inputs((2, 3, 4, 128), (2, 20, 1, 128))
        args = (q, k, w, torch.tensor([3, 2], dtype=torch.int32), torch.tensor([20, 7], dtype=torch.int32), None,
                "BSND", "BSND", 8, 3, True)  # fmt: skip
    else:
        q, k, w = _inputs((5, 4, 128), (4, 16, 1, 128))
        table = torch.tensor([[2, 0], [3, 1]], dtype=torch.int32)
        args = (q, k, w, torch.tensor([2, 5], dtype=torch.int64), torch.tensor([20, 9], dtype=torch.int64), table,
                "TND", "PA_BSND", 6, 0, False)  # fmt: skip
    torch.library.opcheck(torch.ops.ascend_glm5.lightning_indexer.default, args)
