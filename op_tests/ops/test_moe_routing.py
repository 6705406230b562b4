"""moe_init_routing_v2 / moe_finalize_routing kernels (on the emulator) against the vectorised torch
reference: bit-exact (integer bookkeeping and row copies; the combine's fp32 operations run in the
same order). The reference in turn is checked against the torch_npu formulas written out element
by element here (the oracle)."""

from __future__ import annotations

import pytest
import torch

from ascend_glm5 import ops, reference
from ascend_glm5.ops._backend import cpu_module
from ascend_glm5.reference.moe_routing import moe_finalize_routing as ref_finalize
from ascend_glm5.reference.moe_routing import moe_init_routing_v2 as ref_init

from ._cores import ai_cores


# ---- the oracle: torch_npu's formulas, one element at a time (slow; small cases only) -------------

def _oracle_init(
    x: torch.Tensor,
    expert_idx: torch.Tensor,
    *,
    scale: torch.Tensor | None = None,
    expert_num: int,
    active_expert_range: tuple[int, int] | None = None,
    row_idx_type: int = 0,
    expert_tokens_num_type: int = 1,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The unquantized mode (``quant_mode=-1``); see ``ascend_glm5.ops.moe_routing`` for the contract.

    Pairs ``j = t*K + k`` are visited expert by expert (``start .. end-1``), and within an expert in
    increasing ``j``: that visiting order is the expanded row order.
    """
    tokens, top_k = expert_idx.shape
    start, end = active_expert_range if active_expert_range is not None else (0, expert_num)
    ids = expert_idx.reshape(-1).tolist()
    pairs = len(ids)
    sorted_pairs = [j for e in range(start, end) for j in range(pairs) if ids[j] == e]
    expanded_x = torch.zeros(pairs, x.shape[1], dtype=x.dtype)
    expanded_scale = torch.zeros(pairs, dtype=torch.float32)
    gather = [-1] * pairs
    scatter = [-1] * pairs
    for i, j in enumerate(sorted_pairs):
        expanded_x[i] = x[j // top_k]
        if scale is not None:
            expanded_scale[i] = scale[j // top_k]
        gather[j] = i
        scatter[i] = j
    counts = torch.tensor([ids.count(e) for e in range(start, end)], dtype=torch.int64)
    expert_tokens = counts if expert_tokens_num_type == 1 else counts.cumsum(0)
    row_idx = torch.tensor(gather if row_idx_type == 0 else scatter, dtype=torch.int32)
    return expanded_x, row_idx, expert_tokens, expanded_scale


def _oracle_finalize(
    expanded_permuted_rows: torch.Tensor,
    skip1: torch.Tensor | None,
    skip2: torch.Tensor | None,
    bias: torch.Tensor | None,
    scales: torch.Tensor | None,
    expanded_src_to_dst_row: torch.Tensor,
    export_for_source_row: torch.Tensor | None,
    drop_pad_mode: int = 0,
    *,
    tokens: int,
) -> torch.Tensor:
    """``out[t] = skip1[t] + skip2[t] + sum_k scales[t, k] * (rows[dst(t, k)] + bias[expert(t, k)])`` in
    float64, rounded once to the rows' dtype; ``dst`` outside ``[0, rows)`` contributes nothing."""
    rows, hidden = expanded_permuted_rows.shape
    top_k = rows // tokens if tokens else 0
    dst = expanded_src_to_dst_row.tolist()
    out = torch.zeros(tokens, hidden, dtype=torch.float64)
    for t in range(tokens):
        if skip1 is not None:
            out[t] += skip1[t].double()
        if skip2 is not None:
            out[t] += skip2[t].double()
        for k in range(top_k):
            d = dst[k * tokens + t] if drop_pad_mode == 0 else dst[t * top_k + k]
            if not 0 <= d < rows:
                continue
            term = expanded_permuted_rows[d].double()
            if bias is not None:
                term = term + bias[int(export_for_source_row[t, k])].double()
            out[t] += term * (1.0 if scales is None else float(scales[t, k]))
    return out.to(expanded_permuted_rows.dtype)


# ---- tests ------------------------------------------------------------------------------------------

def _ids(tokens, top_k, experts, g, *, dropped=True):
    """Distinct experts per token (as top-k gives) with some -1 and `experts` ("no expert") slots."""
    if tokens == 0:
        return torch.empty(0, top_k, dtype=torch.int32)
    if top_k <= experts:
        ids = torch.stack([torch.randperm(experts, generator=g)[:top_k] for _ in range(tokens)])
    else:
        ids = torch.randint(0, experts, (tokens, top_k), generator=g)
    if dropped:
        mask = torch.rand(tokens, top_k, generator=g)
        ids[mask < 0.1] = -1
        ids[(mask >= 0.1) & (mask < 0.2)] = experts
    return ids.to(torch.int32)


def _init_both(x, ids, scale, experts, rng, row_idx_type, count_type):
    got = ops.moe_init_routing_v2(x, ids, scale=scale, active_num=ids.numel(), expert_num=experts,
                                  expert_tokens_num_type=count_type, expert_tokens_num_flag=True, quant_mode=-1,
                                  active_expert_range=rng, row_idx_type=row_idx_type)
    want = ref_init(x, ids, scale=scale, expert_num=experts, active_expert_range=rng, row_idx_type=row_idx_type,
                    expert_tokens_num_type=count_type)
    for name, a, b in zip(("expanded_x", "expanded_row_idx", "expert_tokens", "expanded_scale"), got, want):
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b), (name, rng, row_idx_type, count_type)
    return got


# (T, K, E, H, x dtype): one pair; more pairs than the 2048-id scan chunk and the 4096-row range of
# a core; int8 rows wider than the 16 KiB copy tile; GLM-5's 256 experts with 8 per token.
CASES = [(1, 1, 1, 1, torch.int8), (7, 3, 5, 33, torch.bfloat16), (40, 8, 256, 6144, torch.int8),
         (3, 2, 4, 20000, torch.int8), (1200, 8, 16, 8, torch.float32), (33, 8, 64, 130, torch.float16)]


@pytest.mark.parametrize("tokens,top_k,experts,hidden,dtype", CASES)
def test_init_routing_matches_reference(tokens, top_k, experts, hidden, dtype):
    g = torch.Generator().manual_seed(tokens * 100 + top_k)
    ids = _ids(tokens, top_k, experts, g)
    x = (torch.randn(tokens, hidden, generator=g) * 50).to(dtype)
    scale = torch.rand(tokens, generator=g)
    mid = [experts // 3, max(experts // 3 + 1, experts - 1)]
    for rng in ([], mid):
        for row_idx_type in (0, 1):
            _init_both(x, ids, scale if row_idx_type == 0 else None, experts, rng, row_idx_type, row_idx_type)


@pytest.mark.parametrize("tokens,top_k,experts", [(0, 2, 4), (1, 8, 256), (9, 3, 5), (33, 8, 64)])
def test_reference_init_matches_the_formulas(tokens, top_k, experts):
    g = torch.Generator().manual_seed(tokens + 7)
    ids = _ids(tokens, top_k, experts, g)
    x = torch.randn(tokens, 24, generator=g).to(torch.bfloat16)
    scale = torch.rand(tokens, generator=g)
    for rng in ((), (experts // 3, max(experts // 3 + 1, experts - 1))):
        for row_idx_type in (0, 1):
            for count_type in (0, 1):
                got = ref_init(x, ids, scale=scale, expert_num=experts, active_expert_range=rng,
                               row_idx_type=row_idx_type, expert_tokens_num_type=count_type)
                want = _oracle_init(x, ids, scale=scale, expert_num=experts, active_expert_range=rng or None,
                                    row_idx_type=row_idx_type, expert_tokens_num_type=count_type)
                for a, b in zip(got, want):
                    assert a.dtype == b.dtype and torch.equal(a, b)


@pytest.mark.parametrize("cores,tokens,top_k,experts", [
    (1, 1200, 8, 16),   # 2 vector cores, 4800 rows each: two row ranges per core (4096 + 704)
    (1, 4100, 1, 3),    # more tokens than the scales UB holds (4096): scales read from GM
    (24, 3, 8, 256),    # 24 pairs over 48 cores: experts without rows inside a core's window
])
def test_init_routing_ranges_windows_and_scales(cores, tokens, top_k, experts):
    g = torch.Generator().manual_seed(tokens + experts)
    ids = _ids(tokens, top_k, experts, g)
    x = torch.randint(-100, 100, (tokens, 3), dtype=torch.int8, generator=g)
    scale = torch.rand(tokens, generator=g)
    with ai_cores(cores):
        for row_idx_type in (0, 1):
            _init_both(x, ids, scale, experts, [], row_idx_type, 1)
        _init_both(x, ids, scale, experts, [1, experts - 1] if experts > 1 else [], 0, 0)


# The second scan picks a window's pairs by vector range compares of the ids in fp32: ids just
# outside the active range, far outside it (2^24 and 2^24 + 1 round in fp32, the int32 extremes),
# 2103 pairs (a full 2048-id chunk and a partial one of 55), cores starting at odd pairs (3 AI cores).
@pytest.mark.parametrize("cores", [1, 3])
def test_init_routing_window_pairs_picked_by_vector(cores):
    g = torch.Generator().manual_seed(cores)
    tokens, top_k, experts = 701, 3, 40
    ids = torch.randint(0, experts, (tokens, top_k), generator=g).to(torch.int32)
    odd = torch.tensor([-1, -(2**31), 2**31 - 1, 2**24 + 1, 2**24, 3, 4, 30, 31, experts], dtype=torch.int32)
    hit = torch.rand(tokens, top_k, generator=g) < 0.15
    ids[hit] = odd[torch.randint(0, len(odd), (int(hit.sum()),), generator=g)]
    x = torch.randint(-100, 100, (tokens, 7), dtype=torch.int8, generator=g)
    scale = torch.rand(tokens, generator=g)
    with ai_cores(cores):
        for rng in ([], [4, 31]):
            for row_idx_type in (0, 1):
                _init_both(x, ids, scale, experts, rng, row_idx_type, row_idx_type)


# Split counts (64 pairs or more): each core counts only its own pairs, the counts meet in the GM
# workspace after SyncAll and each core sums those of the cores before it (its counts before its
# first pair) and the rest by vector, as int16 below 2^15 pairs, else int32. Cases: pairs not a
# multiple of the cores (65 over 48, 2100 over 2 spanning two id chunks), every pair one expert's
# (exactly 2^15 - 1 pairs: the largest int16 sum; 2^15: int32), the first half of the tokens
# dropped (cores counting only dropped pairs), int32 counts with random ids; 63 pairs: not split.
@pytest.mark.parametrize("cores,tokens,top_k,experts,ids_are", [
    (24, 9, 7, 40, "random"), (24, 13, 5, 40, "random"), (1, 300, 7, 33, "random"), (24, 40, 8, 256, "one expert"),
    (24, 60, 8, 64, "half dropped"), (24, 4681, 7, 16, "one expert"), (24, 4096, 8, 16, "one expert"),
    (24, 4100, 8, 16, "random"),
])
def test_init_routing_split_counts(cores, tokens, top_k, experts, ids_are):
    g = torch.Generator().manual_seed(tokens + top_k)
    ids = torch.randint(-1, experts + 1, (tokens, top_k), generator=g).to(torch.int32)
    if ids_are == "one expert":
        ids.fill_(experts // 2)
    elif ids_are == "half dropped":
        ids[: tokens // 2] = -1
    x = torch.randint(-100, 100, (tokens, 3), dtype=torch.int8, generator=g)
    scale = torch.rand(tokens, generator=g)
    with ai_cores(cores):
        for rng in ([], [1, experts - 1]):
            _init_both(x, ids, scale, experts, rng, 0, 1)
        _init_both(x, ids, None, experts, [], 1, 0)
    # Which counts were exchanged: each vector core wrote its table of counts (8 rows of a multiple
    # of 8), each count 2 or 4 bytes.
    launch = cpu_module().last_launch()
    pairs, words = ids.numel(), 8 * (-(-(experts + 1) // 64) * 8)
    outputs = pairs * 3 + pairs * 4 + experts * 8
    exchanged = 0 if pairs < 64 else 2 * cores * words * (2 if pairs < 2**15 else 4)
    assert launch["total"]["mte3_bytes"] == outputs + exchanged


# Per-expert counts and running sums: the kernel keeps them in groups of 8 experts (the dropped
# pairs' bucket after the last): one group exactly (E = 7), a group of one past it (E = 8), an odd
# number of groups (E = 40: 6 groups, and 5 with a range), GLM-5's 256, the most allowed (4096);
# one token, many tokens, and experts shared by many pairs (E = 3).
@pytest.mark.parametrize("tokens,top_k,experts", [
    (1, 8, 256), (1, 3, 7), (5, 2, 8), (64, 8, 40), (16, 8, 4096), (200, 2, 3),
])
def test_init_routing_counts_and_running_sums(tokens, top_k, experts):
    g = torch.Generator().manual_seed(tokens * 7 + experts)
    ids = _ids(tokens, top_k, experts, g)
    x = torch.randint(-100, 100, (tokens, 5), dtype=torch.int8, generator=g)
    scale = torch.rand(tokens, generator=g)
    for rng in ([], [1, experts - 1] if experts > 2 else [1, 2]):
        for count_type in (0, 1):
            _, _, got, _ = _init_both(x, ids, scale, experts, rng, count_type, count_type)
            start, end = rng or (0, experts)
            counts = torch.tensor([int((ids == e).sum()) for e in range(start, end)], dtype=torch.int64)
            assert torch.equal(got, counts if count_type == 1 else counts.cumsum(0))


# Decode paths: up to 16 ids are read by the scalar unit from GM (no copy through UB); a single token
# (rows up to 16 KiB) has its row loaded once per core before the scans and stored to each of the core's
# active rows. Cases: one token with K = 8 and K = 16 (the most ids read from GM), with dropped pairs and
# on 1 AI core (2 vector cores: several rows each from the one load); one token with a row wider than
# 16 KiB (ids from GM, rows copied piece by piece); two tokens (16 ids from GM, rows by pair); one token
# with K = 17 (ids through UB again).
@pytest.mark.parametrize("cores,tokens,top_k,experts,hidden", [
    (24, 1, 8, 256, 6144), (24, 1, 16, 20, 100), (1, 1, 16, 20, 6144), (24, 1, 8, 16, 20000),
    (24, 2, 8, 32, 96), (24, 1, 17, 64, 64),
])
def test_init_routing_few_ids_and_one_token(cores, tokens, top_k, experts, hidden):
    g = torch.Generator().manual_seed(tokens * 31 + top_k + hidden)
    x = torch.randint(-127, 128, (tokens, hidden), dtype=torch.int8, generator=g)
    scale = torch.rand(tokens, generator=g)
    with ai_cores(cores):
        for dropped in (False, True):
            ids = _ids(tokens, top_k, experts, g, dropped=dropped)
            if dropped:
                ids[0, 1] = -1  # at least one dropped pair
            for rng in ([], [1, experts - 2]):
                for row_idx_type in (0, 1):
                    _init_both(x, ids, scale if row_idx_type == 0 else None, experts, rng, row_idx_type,
                               1 - row_idx_type)


def test_init_routing_one_token_reads_its_row_once_per_core():
    # One token, 8 pairs over 8 vector cores: each core loads x[0] once (not once per active row) and
    # reads no ids through UB (they are scalar GM reads); the scale of the token once into UB.
    g = torch.Generator().manual_seed(3)
    hidden, experts = 1024, 64
    ids = _ids(1, 8, experts, g)
    x = torch.randint(-100, 100, (1, hidden), dtype=torch.int8, generator=g)
    ops.moe_init_routing_v2(x, ids, scale=torch.rand(1), expert_num=experts, expert_tokens_num_type=1,
                            quant_mode=-1)
    launch = cpu_module().last_launch()
    busy = 8  # cores with a pair
    assert launch["total"]["mte2_bytes"] == busy * (hidden + 4)
    assert launch["total"]["mte3_bytes"] == 8 * hidden + 2 * 8 * 4 + experts * 8


def test_init_routing_no_pairs_and_all_dropped():
    ex, idx, counts, sc = ops.moe_init_routing_v2(torch.zeros(0, 8, dtype=torch.int8),
                                                  torch.zeros(0, 2, dtype=torch.int32), expert_num=4, quant_mode=-1,
                                                  expert_tokens_num_type=1)
    assert ex.shape == (0, 8) and idx.shape == (0,) and counts.tolist() == [0, 0, 0, 0] and sc.shape == (0,)
    x = torch.randn(3, 8)
    ex, idx, counts, _ = _init_both(x, torch.full((3, 2), 9, dtype=torch.int32), None, 4, [], 0, 1)
    assert (ex == 0).all() and (idx == -1).all() and (counts == 0).all()


def test_quant_mode_1_is_dynamic_quant_then_gather():
    g = torch.Generator().manual_seed(2)
    ids = _ids(20, 4, 16, g)
    x = (torch.randn(20, 300, generator=g) * 5).to(torch.bfloat16)
    got = ops.moe_init_routing_v2(x, ids, expert_num=16, expert_tokens_num_type=1, quant_mode=1)
    q, s = reference.dynamic_quant(x)
    assert got[0].dtype == torch.int8
    for a, b in zip(got, ref_init(q, ids, scale=s, expert_num=16)):
        assert torch.equal(a, b)


def test_rows_are_grouped_by_expert_in_token_order():
    ids = torch.tensor([[1, 3], [0, 2], [1, 2], [0, 3]], dtype=torch.int32)
    x = torch.arange(4, dtype=torch.float32)[:, None]
    ex, gather, counts, _ = ops.moe_init_routing_v2(x, ids, expert_num=4, expert_tokens_num_type=1, quant_mode=-1)
    assert ex[:, 0].tolist() == [1, 3, 0, 2, 1, 2, 0, 3]
    assert counts.tolist() == [2, 2, 2, 2]
    assert gather.tolist() == [2, 6, 0, 4, 3, 5, 1, 7]
    _, scatter, cumsum, _ = ops.moe_init_routing_v2(x, ids, expert_num=4, expert_tokens_num_type=0, quant_mode=-1,
                                                    row_idx_type=1)
    assert scatter.tolist() == [2, 6, 0, 4, 3, 5, 1, 7] and cumsum.tolist() == [2, 4, 6, 8]  # an involution here
    assert torch.equal(scatter[gather.long()], torch.arange(8, dtype=torch.int32))


def _id_words_loaded(pairs: int, cores: int, chunk: int = 2048) -> int:
    """Ids the cores copy into UB with split counts: each core the chunks holding its own pairs
    (its histogram), then every chunk in order (the rows' scan; the chunk still in UB is not copied
    again). Pairs are split evenly, the first cores taking one more."""
    total = 0
    for core in range(cores):
        base, extra = divmod(pairs, cores)
        begin = core * base + min(core, extra)
        end = begin + base + (core < extra)
        loaded = None
        for c in [*range(begin // chunk * chunk, end, chunk), *range(0, pairs, chunk)]:
            if c != loaded:
                total += min(chunk, pairs - c)
                loaded = c
    return total


@pytest.mark.parametrize("tokens", [64, 300])
def test_init_routing_gm_traffic(tokens):
    # Ids: see _id_words_loaded; all per-token scales once (into UB); each core writes its counts
    # (33 buckets in 8 rows of 8, int16 below 2^15 pairs) and reads every core's once; every row of x is copied once per active pair (read and written), dropped rows are
    # written as zeros; indices and scales written once.
    g = torch.Generator().manual_seed(5)
    top_k, experts, hidden = 8, 32, 512
    ids = _ids(tokens, top_k, experts, g)
    x = torch.randint(-100, 100, (tokens, hidden), dtype=torch.int8, generator=g)
    ops.moe_init_routing_v2(x, ids, scale=torch.rand(tokens), expert_num=experts, expert_tokens_num_type=1,
                            quant_mode=-1)
    launch = cpu_module().last_launch()
    pairs, active, cores, count_bytes = ids.numel(), int(((ids >= 0) & (ids < experts)).sum()), 48, 64 * 2
    assert launch["kernel"] == "moe_init_routing_v2" and launch["cores"] == cores
    assert launch["total"]["mte2_bytes"] == (4 * _id_words_loaded(pairs, cores) + cores * tokens * 4
                                             + cores * cores * count_bytes + active * hidden)
    assert launch["total"]["mte3_bytes"] == pairs * hidden + 2 * pairs * 4 + experts * 8 + cores * count_bytes


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("drop_pad_mode", [0, 2])
def test_finalize_routing_matches_reference(dtype, drop_pad_mode):
    g = torch.Generator().manual_seed(3)
    tokens, top_k, experts, hidden = 9, 3, 6, 2100  # two column tiles, the second ragged
    rows = (torch.randn(tokens * top_k, hidden, generator=g) * 3).to(dtype)
    skip1, skip2 = (torch.randn(tokens, hidden, generator=g).to(dtype) for _ in range(2))
    bias = torch.randn(experts, hidden, generator=g).to(dtype)
    scales = torch.rand(tokens, top_k, generator=g)
    dst = torch.randperm(tokens * top_k, generator=g)
    dst[torch.rand(tokens * top_k, generator=g) < 0.15] = -1  # dropped pairs
    expert = torch.randint(0, experts, (tokens, top_k), generator=g, dtype=torch.int32)
    for args in ((skip1, skip2, bias, scales), (None, None, None, scales), (skip1, None, None, None)):
        got = ops.moe_finalize_routing(rows, *args, dst.to(torch.int32), expert, drop_pad_mode)
        assert got.dtype == dtype and got.shape == (tokens, hidden)
        assert torch.equal(got, ref_finalize(rows, *args, dst, expert, drop_pad_mode, tokens=tokens))
        # The reference against the formula in float64: fp32 sums of <= 6 terms, then one rounding to
        # the dtype (bf16/fp16 may land on the neighbouring value: 1 ulp).
        want = _oracle_finalize(rows, *args, dst, expert, drop_pad_mode, tokens=tokens)
        tol = 2**-20 if dtype == torch.float32 else (2**-7 if dtype == torch.bfloat16 else 2**-10)
        assert ((got.float() - want.float()).abs() <= tol * (want.float().abs() + 8)).all()


def _finalize_inputs(tokens, top_k, hidden, experts, seed, dropped=0.0):
    """bf16 rows, skips and bias, fp32 scales, an int32 dst (a share of its pairs dropped), expert ids."""
    g = torch.Generator().manual_seed(seed)
    rows = torch.randn(tokens * top_k, hidden, generator=g).bfloat16()
    skip1, skip2 = (torch.randn(tokens, hidden, generator=g).bfloat16() for _ in range(2))
    bias = torch.randn(experts, hidden, generator=g).bfloat16()
    scales = torch.rand(tokens, top_k, generator=g)
    dst = torch.randperm(tokens * top_k, generator=g).to(torch.int32)
    if dropped:
        dst[torch.rand(tokens * top_k, generator=g) < dropped] = -1  # dropped pairs
    expert = torch.randint(0, experts, (tokens, top_k), generator=g, dtype=torch.int32)
    return rows, skip1, skip2, bias, scales, dst, expert


@pytest.mark.parametrize("cores,tokens,top_k,hidden", [
    (1, 70, 64, 40),     # 2 vector cores, 35 tokens each: index batches of 32 tokens (K = 64), then 3
    (1, 300, 1, 130),    # K = 1: one layout; a batch of all 150 tokens of a core, 3-column tail
    (24, 1, 8, 6144),    # decode: one token over 48 cores in narrow tiles
    (24, 5, 8, 1000),    # few tokens: tiles narrower than H, loads running ahead across tiles
])
def test_finalize_index_batches_and_tiles(cores, tokens, top_k, hidden):
    rows, skip1, skip2, bias, scales, dst, expert = _finalize_inputs(tokens, top_k, hidden, 7, tokens + top_k, 0.2)
    for mode in (0, 2):
        if tokens > 1:  # a token whose every pair is dropped (its row: the skips alone, or zeros)
            idx = [k * tokens + 1 for k in range(top_k)] if mode == 0 else [top_k + k for k in range(top_k)]
            dst_m = dst.clone()
            dst_m[idx] = -1
        else:
            dst_m = dst
        for args in ((skip1, skip2, bias, scales), (None, None, None, scales)):
            with ai_cores(cores):
                got = ops.moe_finalize_routing(rows, *args, dst_m, expert, mode)
            want = ref_finalize(rows, *args, dst_m, expert, mode, tokens=tokens)
            assert torch.equal(got, want), (mode, args[0] is None)


@pytest.mark.parametrize("tokens, top_k, hidden", [(64, 8, 6144), (300, 8, 2048), (20, 4, 1000), (4, 2, 64)])
def test_finalize_sums_meet_no_ub_bank_conflict(tokens, top_k, hidden):
    # acc += row and row += bias run in place: the row sits 256 B past the accumulator and the bias
    # modulo 512, in another 64-KiB bank (WorkOffsets), so the model's bank beats add nothing to the
    # `Add`s, with the skips and the bias and without; the output stays the reference's exactly.
    from ascend_glm5.perf.model import replay, tracing

    rows, skip1, skip2, bias, scales, dst, expert = _finalize_inputs(tokens, top_k, hidden, 5, hidden + tokens)
    for args in ((skip1, skip2, bias, scales), (None, None, None, scales)):
        with tracing() as traces:
            got = ops.moe_finalize_routing(rows, *args, dst, expert, 0)
        assert torch.equal(got, ref_finalize(rows, *args, dst, expert, 0, tokens=tokens))
        assert replay(traces[-1]).bank_conflict_cycles.get("Add", 0.0) == 0.0, args[0] is None


def test_init_then_finalize_is_the_weighted_sum_of_token_rows():
    g = torch.Generator().manual_seed(4)
    tokens, top_k, experts = 50, 8, 32
    ids = _ids(tokens, top_k, experts, g)
    w = torch.rand(tokens, top_k, generator=g)
    x = torch.randn(tokens, 16, generator=g)
    ex, row_idx, counts, _ = ops.moe_init_routing_v2(x, ids, expert_num=experts, expert_tokens_num_type=1,
                                                     quant_mode=-1)
    ex[counts.sum():] = float("nan")  # rows past the active pairs are never read
    out = ops.moe_finalize_routing(ex, None, None, None, w, row_idx, ids, drop_pad_mode=2)
    active = ((ids >= 0) & (ids < experts)).float()
    torch.testing.assert_close(out, x * (w * active).sum(1, keepdim=True), rtol=1e-6, atol=1e-6)


def test_finalize_routing_gm_traffic():
    # Each routed row read once (dropped ones never), out written once; each core copies the scale
    # words of its tokens once (one token per core here: 30 tiles on 48 cores, so its K dst words
    # are scalar GM reads, not copied).
    g = torch.Generator().manual_seed(6)
    tokens, top_k, hidden = 30, 4, 1000
    rows = torch.randn(tokens * top_k, hidden, generator=g).to(torch.bfloat16)
    dst = torch.randperm(tokens * top_k, generator=g).to(torch.int32)
    dst[::5] = -1
    ops.moe_finalize_routing(rows, None, None, None, torch.rand(tokens, top_k), dst, None, 2)
    launch = cpu_module().last_launch()
    assert launch["kernel"] == "moe_finalize_routing"
    assert launch["total"]["mte2_bytes"] == int((dst >= 0).sum()) * hidden * 2 + tokens * top_k * 4
    assert launch["total"]["mte3_bytes"] == tokens * hidden * 2


# A core whose tiles all belong to one token reads that token's K dst words (K <= 16, row order, no
# bias) from GM by the scalar unit and waits for its scales only once its row loads are issued. Cases:
# one token over many cores (K = 8 and 16), with and without scales, dropped slots; two cores with
# several tokens each (dst through UB); K = 17 (through UB); bias (through UB); column order.
@pytest.mark.parametrize("cores,tokens,top_k,hidden", [
    (24, 1, 8, 6144), (24, 1, 16, 700), (24, 3, 8, 256), (1, 5, 8, 192), (24, 1, 17, 640),
])
def test_finalize_one_token_dst_from_gm(cores, tokens, top_k, hidden):
    g = torch.Generator().manual_seed(tokens * 13 + top_k + hidden)
    experts = 40
    pairs = tokens * top_k
    rows = torch.randn(pairs, hidden, generator=g).to(torch.bfloat16)
    dst = torch.randperm(pairs, generator=g).to(torch.int32)
    dst[1::3] = -1
    ids = torch.randint(0, experts, (tokens, top_k), generator=g).to(torch.int32)
    bias = torch.randn(experts, hidden, generator=g).to(torch.bfloat16)
    with ai_cores(cores):
        for w in (torch.rand(tokens, top_k, generator=g), None):
            for b, mode in ((None, 2), (bias, 2), (None, 0)):
                got = ops.moe_finalize_routing(rows, None, None, b, w, dst, ids, mode)
                want = ref_finalize(rows, None, None, b, w, dst, ids, mode, tokens=tokens)
                assert torch.equal(got, want), (w is None, b is None, mode)


def test_rejects_bad_arguments():
    x, ids = torch.randn(4, 8), torch.zeros(4, 2, dtype=torch.int32)
    init = ops.moe_init_routing_v2
    with pytest.raises(ValueError, match="expert_num must be >= 1"):
        init(x, ids, quant_mode=-1)
    with pytest.raises(ValueError, match="active_expert_range must satisfy"):
        init(x, ids, expert_num=4, active_expert_range=[2, 9], quant_mode=-1)
    with pytest.raises(ValueError, match="drop_pad_mode must be 0"):
        init(x, ids, expert_num=4, drop_pad_mode=1, quant_mode=-1)
    with pytest.raises(ValueError, match="quant_mode must be -1"):
        init(x, ids, expert_num=4)
    with pytest.raises(ValueError, match=r"active_num must be -1 or T\*K = 8"):
        init(x, ids, expert_num=4, active_num=5, quant_mode=-1)
    with pytest.raises(ValueError, match=r"scale must be float32 \[T\]"):
        init(x, ids, expert_num=4, quant_mode=-1, scale=torch.ones(3))
    with pytest.raises(TypeError, match="expert_idx must have dtype"):
        init(x, ids.float(), expert_num=4, quant_mode=-1)
    with pytest.raises(ValueError, match="with the same T"):
        init(x, ids[:3], expert_num=4, quant_mode=-1)
    with pytest.raises(ValueError, match="at most 4096 experts"):
        init(x, ids, expert_num=5000, quant_mode=-1)
    rows, dst = torch.randn(8, 8), torch.arange(8, dtype=torch.int32)
    fin = ops.moe_finalize_routing
    with pytest.raises(ValueError, match="drop_pad_mode must be 0 or 2"):
        fin(rows, None, None, None, torch.ones(4, 2), dst, None, 1)
    with pytest.raises(ValueError, match="skip2 requires skip1"):
        fin(rows, None, torch.zeros(4, 8), None, torch.ones(4, 2), dst, None)
    with pytest.raises(ValueError, match="bias needs export_for_source_row"):
        fin(rows, None, None, torch.zeros(3, 8), torch.ones(4, 2), dst, None)
    with pytest.raises(ValueError, match=r"T\*K rows with T = 3"):
        fin(rows, None, None, None, torch.ones(3, 2), dst, None)
    with pytest.raises(ValueError, match="fixes the token count"):
        fin(rows, None, None, None, None, dst, None)
    with pytest.raises(ValueError, match="at most 64"):
        fin(torch.randn(65, 8), None, None, None, torch.ones(1, 65), torch.arange(65), None)


def test_fake_tensor_and_schema():
    ids = torch.tensor([[0, 2], [1, 2], [3, 0]], dtype=torch.int32)
    x = torch.randint(-9, 9, (3, 40), dtype=torch.int8)
    torch.library.opcheck(torch.ops.ascend_glm5.moe_init_routing_v2.default, (x, ids, torch.rand(3), 0, 4, 0, 1))
    torch.library.opcheck(torch.ops.ascend_glm5.moe_init_routing_v2.default,
                          (torch.randn(3, 24).to(torch.bfloat16), ids.long(), None, 1, 3, 1, 0))
    rows = torch.randn(6, 40).to(torch.bfloat16)
    torch.library.opcheck(torch.ops.ascend_glm5.moe_finalize_routing.default,
                          (rows, None, None, None, torch.rand(3, 2), torch.arange(6, dtype=torch.int32), ids, 2))
    skip = torch.randn(3, 40).to(torch.bfloat16)
    bias = torch.randn(4, 40).to(torch.bfloat16)
    dst = torch.tensor([3, -1, 0, 5, 1, 2], dtype=torch.int64)
    torch.library.opcheck(torch.ops.ascend_glm5.moe_finalize_routing.default,
                          (rows, skip, skip.clone(), bias, None, dst, ids, 0))


def test_init_drops_int64_ids_past_int32():
    # Regression (fuzz): int64 ids were converted to int32 by wrapping, so 2**32 + e routed to expert e.
    ids = torch.tensor([[2**32 + 1, 0], [1, -(2**32) + 1], [2**40, 1]], dtype=torch.int64)
    x = torch.randn(3, 16).to(torch.bfloat16)
    got = ops.moe_init_routing_v2(x, ids, expert_num=2, expert_tokens_num_type=1, quant_mode=-1)
    want = ref_init(x, ids, expert_num=2)
    for a, b in zip(got, want):
        assert torch.equal(a, b)
    assert got[2].tolist() == [1, 2]


def test_finalize_skips_int64_dst_past_int32():
    # Regression (fuzz): int64 dst entries were wrapped to int32, so 2**32 + j read row j (here NaN).
    rows = torch.randn(4, 8)
    rows[1] = float("nan")
    dst = torch.tensor([0, 2**32 + 1, 2, 3], dtype=torch.int64)
    scales = torch.rand(2, 2)
    got = ops.moe_finalize_routing(rows, None, None, None, scales, dst, None, 2)
    assert torch.equal(got, ref_finalize(rows, None, None, None, scales, dst, None, 2, tokens=2))
    assert not got.isnan().any()


@pytest.mark.parametrize("bad", [-1, 3, 2**31 - 1])
def test_finalize_refuses_expert_ids_outside_bias(bad):
    # Regression (fuzz): an expert id outside [0, E) read past the bias tensor (ASan / GM bounds).
    rows, bias = torch.randn(4, 8), torch.randn(3, 8)
    out_before = rows.clone()
    ids = torch.tensor([[0, 1], [2, bad]], dtype=torch.int32)
    launches = cpu_module().cumulative_launches()
    with pytest.raises(ValueError, match="export_for_source_row must hold expert ids in"):
        ops.moe_finalize_routing(rows, None, None, bias, torch.rand(2, 2), torch.arange(4), ids, 2)
    assert cpu_module().cumulative_launches() == launches and torch.equal(rows, out_before)


def test_finalize_kernel_clamps_bad_expert_ids():
    # On the NPU the op does not read the ids (no stream sync): the kernel clamps them into [0, E) so
    # that its bias reads stay in bounds. Launched directly here, since the CPU op refuses them.
    g = torch.Generator().manual_seed(5)
    tokens, top_k, hidden, experts = 2, 2, 40, 3
    rows = torch.randn(tokens * top_k, hidden, generator=g)
    bias = torch.randn(experts, hidden, generator=g)
    scales = torch.rand(tokens, top_k, generator=g)
    dst = torch.arange(tokens * top_k, dtype=torch.int32)
    ids = torch.tensor([[0, -5], [experts, 1]], dtype=torch.int32)
    out = torch.empty(tokens, hidden)
    cpu_module().moe_finalize_routing(rows.data_ptr(), 0, 0, bias.data_ptr(), scales.data_ptr(), dst.data_ptr(),
                                      ids.data_ptr(), out.data_ptr(), tokens, top_k, hidden, 2, True, experts)
    clamped = torch.tensor([[0, experts - 1], [experts - 1, 1]], dtype=torch.int32)
    assert torch.equal(out, ref_finalize(rows, None, None, bias, scales, dst, clamped, 2, tokens=tokens))
