"""grouped_matmul_a8w4 kernel (on the emulator) against the pure-torch reference.

The int32 K-sums (output_dtype=torch.int32) must match the reference exactly: the kernel's MSD
split (x = 16 hi + lo + 8) and its ones-row correction are exact integer identities. Dequantised
outputs: fp32(acc) * scale * per_token_scale in fp32, rounded once, against the exact value
rounded once: bf16 / fp16 within 1 ulp, fp32 within 2 ulps. Weights come in msModelSlim's file
layout and go through vllm-ascend's conversion (ascend_glm5.quant).
"""

from __future__ import annotations

import pytest
import torch

from ascend_glm5 import ops, reference
from ascend_glm5.ops._backend import cpu_module
from ascend_glm5.quant import (
    msmodelslim_to_int32,
    pack_int4_int8,
    pack_int4_int32,
    quantize_weight_int4,
    scale_bias,
    scale_to_int64,
)

from ._cores import ai_cores
from ._split_k import split_tails
from ._ulps import ulp_distance

OUT_DTYPES = [torch.bfloat16, torch.float16, torch.float32]
_ULPS = {torch.bfloat16: 1, torch.float16: 1, torch.float32: 2}


def _experts(e, n, k, g):
    """Expert weights as a checkpoint holds them -> (weight int32 [E, K, N/8], scale [E, N], bias [E, N])."""
    w_float = torch.randn(e, n, k, generator=g)
    w_q, scale = quantize_weight_int4(w_float)  # per-channel symmetric int4, msModelSlim's convention
    file_weight = pack_int4_int8(w_q)  # msModelSlim W4A8_DYNAMIC: int8 [E, N/2, K]
    return msmodelslim_to_int32(file_weight), scale, scale_bias(w_q, scale)


def _inputs(counts, m, n, k, g):
    x = torch.randint(-128, 128, (m, k), dtype=torch.int8, generator=g)
    weight, scale, bias = _experts(len(counts), n, k, g)
    pts = torch.rand(m, generator=g) * 0.05 + 1e-3
    return x, weight, scale, pts, torch.tensor(counts, dtype=torch.int64), bias


def _check(x, weight, scale, pts, group_list, *, bias=None, output_dtype=torch.bfloat16):
    got = ops.grouped_matmul_a8w4(x, weight, scale, pts, group_list, bias=bias, output_dtype=output_dtype)
    want = reference.grouped_matmul_a8w4(x, weight, scale, pts, group_list, bias=bias, output_dtype=output_dtype)
    assert got.dtype == output_dtype and got.shape == want.shape
    if output_dtype == torch.int32:
        assert torch.equal(got, want), (got - want).abs().max()
    else:
        assert torch.isfinite(got).all()
        dist = ulp_distance(got, want)
        assert dist.max() <= _ULPS[output_dtype], f"{dist.max()} ulps"
    return got


# (group_list, M, N, K): empty and single-token experts, sum < M, one expert with several passes,
# N tails (multiples of 8 only), K tails (no multiple needed), many experts.
CASES = [
    ([3, 0, 5], 10, 64, 100),
    ([1], 1, 8, 1),
    ([0, 1, 0, 1, 1], 3, 16, 64),
    ([40, 0, 100, 1], 150, 200, 700),
    ([2, 3], 9, 136, 257),
    ([130], 130, 64, 192),
    ([7] * 12 + [0] * 4, 90, 24, 33),
    ([0, 0, 0], 4, 32, 64),
]


@pytest.mark.parametrize("counts,m,n,k", CASES)
def test_int32_k_sums_are_exact(counts, m, n, k):
    g = torch.Generator().manual_seed(sum(counts) * 31 + m + n + k)
    x, weight, scale, pts, gl, _ = _inputs(counts, m, n, k, g)
    got = _check(x, weight, scale, pts, gl, output_dtype=torch.int32)
    assert (got[sum(counts):] == 0).all()  # rows past the groups are zeros


@pytest.mark.parametrize("out", OUT_DTYPES)
@pytest.mark.parametrize("counts,m,n,k", CASES[:6])
def test_dequantised_outputs_within_ulp(counts, m, n, k, out):
    g = torch.Generator().manual_seed(sum(counts) + 7 * m + n + k)
    x, weight, scale, pts, gl, _ = _inputs(counts, m, n, k, g)
    got = _check(x, weight, scale, pts, gl, output_dtype=out)
    assert (got[sum(counts):] == 0).all()


def test_random_routing_many_experts():
    # 64 experts, random counts (many empty), int64 scale words and [M, 1] per-token scales as
    # vllm-ascend passes them, [E, 1, N] scales.
    g = torch.Generator().manual_seed(11)
    counts = torch.randint(0, 4, (64,), generator=g) * torch.randint(0, 2, (64,), generator=g)
    m = int(counts.sum()) + 5
    x, weight, scale, pts, _, _ = _inputs(counts.tolist(), m, 48, 160, g)
    want = _check(x, weight, scale, pts, counts)
    got = ops.grouped_matmul_a8w4(x, weight, scale_to_int64(scale)[:, None, :], pts[:, None], counts)
    assert torch.equal(got, want)


def test_weights_match_the_int4_math_of_the_checkpoint():
    # The msModelSlim -> vllm-ascend conversion must give the same int32 weights as packing the
    # int4 values along N directly: both are what the kernel reads.
    g = torch.Generator().manual_seed(12)
    w_q, _ = quantize_weight_int4(torch.randn(3, 40, 24, generator=g))
    assert torch.equal(msmodelslim_to_int32(pack_int4_int8(w_q)), pack_int4_int32(w_q.transpose(1, 2)))


def test_bias_is_checked_for_shape_and_not_used():
    g = torch.Generator().manual_seed(13)
    x, weight, scale, pts, gl, bias = _inputs([4, 6], 10, 32, 96, g)
    want = _check(x, weight, scale, pts, gl, output_dtype=torch.float32)
    with_bias = _check(x, weight, scale, pts, gl, bias=bias, output_dtype=torch.float32)
    assert torch.equal(with_bias, want)
    stale = bias + 1.0
    assert torch.equal(ops.grouped_matmul_a8w4(x, weight, scale, pts, gl, bias=stale, output_dtype=torch.float32), want)
    with pytest.raises(ValueError, match="bias"):  # the reference verifies the value
        reference.grouped_matmul_a8w4(x, weight, scale, pts, gl, bias=stale)
    with pytest.raises(ValueError, match="bias"):
        ops.grouped_matmul_a8w4(x, weight, scale, pts, gl, bias=bias[:, :16])


def test_no_rows():
    g = torch.Generator().manual_seed(14)
    _, weight, scale, _, _, _ = _inputs([0, 0], 0, 16, 32, g)
    y = ops.grouped_matmul_a8w4(torch.empty(0, 32, dtype=torch.int8), weight, scale, torch.empty(0),
                                torch.zeros(2, dtype=torch.int64))  # fmt: skip
    assert y.shape == (0, 16) and y.dtype == torch.bfloat16


def test_extreme_activations_and_weights_are_exact():
    # x = -128 and +127 split into hi / lo at both ends; w = -8 and +7.
    k = 300
    x = torch.tensor([[-128] * k, [127] * k, [-1] * k, [8] * k], dtype=torch.int8)
    w = torch.stack([torch.full((k, 16), -8), torch.full((k, 16), 7)]).to(torch.int8)
    weight = pack_int4_int32(w)
    got = ops.grouped_matmul_a8w4(x, weight, torch.ones(2, 16), torch.ones(4), torch.tensor([2, 2]),
                                  output_dtype=torch.int32)  # fmt: skip
    want = torch.tensor([-128 * -8, 127 * -8, -1 * 7, 8 * 7])[:, None] * k
    assert torch.equal(got, want.expand(4, 16).to(torch.int32))


def test_long_k_rows_go_one_by_one():
    # kPad / 2 > 65535 bytes: the hi / lo rows exceed ND2NZ's 16-bit source pitch.
    g = torch.Generator().manual_seed(15)
    x, weight, scale, pts, gl, _ = _inputs([2], 2, 8, 131200, g)
    _check(x, weight, scale, pts, gl, output_dtype=torch.int32)


def test_long_n_weight_rows_go_one_by_one():
    # N / 2 > 65535 bytes per weight row: beyond ND2NZ's 16-bit source pitch.
    g = torch.Generator().manual_seed(19)
    x, weight, scale, pts, gl, _ = _inputs([1, 1], 3, 131200, 2, g)
    _check(x, weight, scale, pts, gl, output_dtype=torch.int32)


def test_streaming_weights_when_k_does_not_fit_l1():
    # K > 12288 int4 at the narrowest tile: an expert's weights stream once per pass (two passes).
    m, n, k = 130, 64, 12352
    plan = cpu_module().grouped_matmul_a8w4_plan(m=m, n=n, k=k, experts=1, out_dtype=1)
    assert not plan["resident"] and plan["tokens_per_pass"] < m
    g = torch.Generator().manual_seed(16)
    x, weight, scale, pts, gl, _ = _inputs([m], m, n, k, g)
    _check(x, weight, scale, pts, gl, output_dtype=torch.int32)


def test_resident_weights_serve_every_pass():
    # GLM-5 down_proj geometry (K = 2048): one expert with more rows than a pass holds. The plan keeps
    # the weights in L1, so the cube reads each weight byte from GM once.
    m, n, k = 130, 256, 2048
    plan = cpu_module().grouped_matmul_a8w4_plan(m=m, n=n, k=k, experts=1, out_dtype=1)
    assert plan["resident"] and plan["tokens_per_pass"] < m
    g = torch.Generator().manual_seed(17)
    x, weight, scale, pts, gl, _ = _inputs([m], m, n, k, g)
    _check(x, weight, scale, pts, gl, output_dtype=torch.int32)
    launch = cpu_module().last_launch()
    cube_read = sum(c["mte2_bytes"] for i, c in enumerate(launch["per_core"]) if i % 3 == 0)
    passes = (m + plan["tokens_per_pass"] - 1) // plan["tokens_per_pass"]
    a_bytes = (2 * m + passes) * k // 2 * (n // plan["n_tile"])
    assert cube_read == k * n // 2 + a_bytes  # weights once, the hi / lo / ones rows once per column tile


@pytest.mark.parametrize("out", [torch.int32, torch.bfloat16])
def test_one_row_balanced_column_tiles(out):
    # One row (at most one expert has rows): N = 1600 (25 units of 64) is cut into 24 tiles of 64 /
    # 128 columns, one per core of the default SoC; K = 300 has a K tail.
    m, n, k = 1, 1600, 300
    plan = cpu_module().grouped_matmul_a8w4_plan(m=m, n=n, k=k, experts=3, out_dtype=1)
    assert (plan["n_tiles"], plan["n_tile"], plan["n_gran"]) == (24, 128, 64)
    g = torch.Generator().manual_seed(20)
    x, weight, scale, pts, gl, _ = _inputs([0, 1, 0], m, n, k, g)
    _check(x, weight, scale, pts, gl, output_dtype=out)


@pytest.mark.parametrize("counts,m,n,k", [([1, 0], 1, 512, 3000), ([0, 2, 1, 0], 3, 128, 1000), ([2, 0, 4], 6, 256, 700)])
def test_multi_step_loads(counts, m, n, k):
    # One pass: several K steps (256 int4) a copy, an unfinished last unit (3000: 12 steps in units of
    # 8), K tails inside a step, empty experts.
    plan = cpu_module().grouped_matmul_a8w4_plan(m=m, n=n, k=k, experts=len(counts), out_dtype=1)
    assert plan["unit_steps"] > 1 and not plan["resident"]
    g = torch.Generator().manual_seed(m + n + k)
    x, weight, scale, pts, gl, _ = _inputs(counts, m, n, k, g)
    _check(x, weight, scale, pts, gl, output_dtype=torch.int32)
    _check(x, weight, scale, pts, gl, output_dtype=torch.bfloat16)


# MoE prefill (groups of a few dozen rows): 128 x 256 tiles that fill L0C, one pass for a group of up
# to 63 rows. (counts, M, N, K, resident): K = 3200 streams (13 steps in units of 3, the last unit
# short), an expert of 70 rows takes two passes, each streaming its weights; K = 700 stays in L1
# for both passes of the 100-row expert; N = 200 a column tail; 4 cores.
WIDE = [([70, 3, 0, 5], 80, 256, 3200, False), ([40, 0, 100, 1], 150, 200, 700, True)]


@pytest.mark.parametrize("counts,m,n,k,resident", WIDE)
def test_moe_prefill_fills_l0c(counts, m, n, k, resident):
    g = torch.Generator().manual_seed(m + n + k)
    x, weight, scale, pts, gl, _ = _inputs(counts, m, n, k, g)
    with ai_cores(4):
        plan = cpu_module().grouped_matmul_a8w4_plan(m=m, n=n, k=k, experts=len(counts), out_dtype=1)
        assert (plan["m_tile"], plan["n_tile"], plan["acc_slots"], plan["tokens_per_pass"]) == (128, 256, 1, 63)
        assert plan["resident"] == resident and (resident or plan["unit_steps"] > 1)
        _check(x, weight, scale, pts, gl, output_dtype=torch.int32)
        _check(x, weight, scale, pts, gl, output_dtype=torch.bfloat16)
    # Up to one pass of the 128-row L0C tile on average, and not on 24 cores (4 column tiles): the
    # two-slot tiles stay.
    assert cpu_module().grouped_matmul_a8w4_plan(m=m, n=n, k=k, experts=len(counts), out_dtype=1)["acc_slots"] == 2
    with ai_cores(4):
        assert cpu_module().grouped_matmul_a8w4_plan(m=300, n=n, k=k, experts=4, out_dtype=1)["acc_slots"] == 2


@pytest.mark.parametrize("out", [torch.bfloat16, torch.int32])
def test_opcheck(out):
    """torch.library.opcheck: schema (no mutation declared, none done), fake kernel, autograd
    registration, AOT dispatch; an empty expert and rows past sum(group_list) included."""
    g = torch.Generator().manual_seed(13)
    x, weight, scale, pts, gl, bias = _inputs([2, 0, 3], 6, 16, 40, g)
    if out == torch.int32:
        scale, bias = scale_to_int64(scale), None
    torch.library.opcheck(torch.ops.ascend_glm5.grouped_matmul_a8w4.default, (x, weight, scale, pts, gl, bias, 1, out))


def test_fake_impl_gives_shape_and_dtype():
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        x = torch.empty(7, 64, dtype=torch.int8)
        weight = torch.empty(3, 64, 4, dtype=torch.int32)
        y = torch.ops.ascend_glm5.grouped_matmul_a8w4(x, weight, torch.empty(3, 32), torch.empty(7),
                                                      torch.empty(3, dtype=torch.int64), None, 1, torch.int32)  # fmt: skip
        assert y.shape == (7, 32) and y.dtype == torch.int32


@pytest.mark.parametrize(
    "change,error",
    [
        (dict(x=torch.zeros(6, 64, dtype=torch.int16)), TypeError),
        (dict(weight=torch.zeros(2, 64, 4, dtype=torch.int8)), TypeError),
        (dict(weight=torch.zeros(2, 63, 4, dtype=torch.int32)), ValueError),
        (dict(scale=torch.ones(2, 31)), ValueError),
        (dict(scale=torch.ones(2, 32, dtype=torch.float16)), TypeError),
        (dict(scale=torch.full((2, 32), -1, dtype=torch.int64)), ValueError),
        (dict(per_token_scale=torch.ones(5)), ValueError),
        (dict(per_token_scale=torch.ones(6, dtype=torch.float64)), TypeError),
        (dict(group_list=torch.tensor([3, 4])), ValueError),  # sums past M
        (dict(group_list=torch.tensor([-1, 2])), ValueError),
        (dict(group_list=torch.tensor([1, 2, 0])), ValueError),
        (dict(group_list=torch.tensor([1, 2], dtype=torch.int32)), TypeError),
        (dict(group_list_type=0), ValueError),
        (dict(bias=torch.zeros(2, 32, dtype=torch.float16)), TypeError),
        (dict(output_dtype=torch.int8), ValueError),
        (dict(x=torch.zeros(6, 2**21, dtype=torch.int8), weight=torch.zeros(2, 2**21, 4, dtype=torch.int32)), ValueError),
    ],
)
def test_bad_input_is_refused(change, error):
    args = dict(x=torch.zeros(6, 64, dtype=torch.int8), weight=torch.zeros(2, 64, 4, dtype=torch.int32),
                scale=torch.ones(2, 32), per_token_scale=torch.ones(6), group_list=torch.tensor([2, 3]), bias=None,
                group_list_type=1, output_dtype=torch.bfloat16)  # fmt: skip
    args.update(change)
    pos = [args.pop(a) for a in ("x", "weight", "scale", "per_token_scale", "group_list")]
    with pytest.raises(error):
        ops.grouped_matmul_a8w4(*pos, **args)


# Split-K, one row: N = 1536 is 6 tiles of 256 (24 units of 64 cannot make 5 tiles of <= 256), so on 5
# cores the 6 x 4 K steps (K = 1000: 16 columns of padding in the last step) are cut 4 / 5 / 5 / 5 / 5;
# the row in the first, a middle and the last expert, and in none.
@pytest.mark.parametrize("counts", [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]])
def test_one_row_split_k(counts):
    m, n, k = 1, 1536, 1000
    g = torch.Generator().manual_seed(30 + counts.index(1) if 1 in counts else 30)
    x, weight, scale, pts, gl, _ = _inputs(counts, m, n, k, g)
    with ai_cores(5):
        plan = cpu_module().grouped_matmul_a8w4_plan(m=m, n=n, k=k, experts=3, out_dtype=1)
        assert plan["split_k"] and (plan["n_tiles"], plan["n_tile"], plan["block_dim"]) == (6, 256, 5)
        _check(x, weight, scale, pts, gl, output_dtype=torch.int32)
        _check(x, weight, scale, pts, gl, output_dtype=torch.bfloat16)
    with ai_cores(1):  # one core: no split
        assert not cpu_module().grouped_matmul_a8w4_plan(m=m, n=n, k=k, experts=3, out_dtype=1)["split_k"]


# Split-K with a long group list (40 experts: five 64-byte lines of counts). The cube's schedule
# reads the counts only up to the one group with the row (the host splits K only when at most one
# group can have rows), and that group's rows are all the rows the vector cores split. N = 192 is 3
# tiles of 64 on 4 cores (4 K steps each, units of 4, odd blocks start with half a unit); the row in
# the first expert, one in the fifth line, and in none.
@pytest.mark.parametrize("expert", [0, 37, None])
def test_one_row_split_k_long_group_list(expert):
    e, m, n, k = 40, 1, 192, 1000
    counts = [int(i == expert) for i in range(e)]
    x, weight, scale, pts, gl, _ = _inputs(counts, m, n, k, torch.Generator().manual_seed(40 + (expert or 0)))
    with ai_cores(4):
        plan = cpu_module().grouped_matmul_a8w4_plan(m=m, n=n, k=k, experts=e, out_dtype=1)
        assert plan["split_k"] and (plan["n_tiles"], plan["block_dim"], plan["unit_shift"]) == (3, 4, 2)
        got = _check(x, weight, scale, pts, gl, output_dtype=torch.int32)
        assert got.abs().sum() > 0 if expert is not None else torch.equal(got, torch.zeros_like(got))
        _check(x, weight, scale, pts, gl, output_dtype=torch.bfloat16)


# The stream head (qgemm_tiling.h) in launches that are not split-K: the cube's work split (the
# group list, the MSD pass rows) and its first weight loads come from the tiling's first line, the
# rest of the tiling follows; the vector cores read the group list's first line during the tiling's
# copy. 20 experts (three lines of counts), rows in the first, the second and the third line, one
# expert in two passes, on 4 cores.
def test_stream_head_many_groups():
    counts = [2] + [0] * 8 + [5, 0, 70, 0, 0, 0, 0, 0, 1, 3, 0]
    m, n, k = sum(counts) + 2, 96, 300
    x, weight, scale, pts, gl, _ = _inputs(counts, m, n, k, torch.Generator().manual_seed(50))
    with ai_cores(4):
        plan = cpu_module().grouped_matmul_a8w4_plan(m=m, n=n, k=k, experts=len(counts), out_dtype=1)
        assert not plan["split_k"] and plan["tokens_per_pass"] < 70
        _check(x, weight, scale, pts, gl, output_dtype=torch.int32)
        _check(x, weight, scale, pts, gl, output_dtype=torch.bfloat16)


# Split-K combine of one row (qgemm_epilogue.h): N = 1536 is 6 tiles of 256, K = 2048 is 8 steps, so
# on 5 cores the 48 steps are cut 9 / 10 / 9 / 10 / 10 and block 4 ends two tiles (4 and 5). With
# one row, a tile's row goes to the last of its shares, which turn by one vector core on odd tiles:
# block 4's vector cores 1 and 0 combine tiles 4 and 5 (not both on vector core 1). The row
# parameters (scale, per-token scale) of the first piece a vector core has the row of are read
# before the SyncAll: for block 4's vector core 0 that is its second piece (tile 5; its share of
# tile 4 is empty). Checked for every output type, with the row in the second of two experts.
def _one_row_combiners(tiles, steps, cores):
    start = [b * tiles * steps // cores for b in range(cores + 1)]
    block = [next(b for b in range(cores) if start[b] <= s < start[b + 1]) for s in range(tiles * steps)]
    out = []
    for j in range(tiles):
        first, last = block[j * steps], block[j * steps + steps - 1]
        shares = 2 * (last - first + 1)
        out.append(next(2 * b + v for b in range(first, last + 1) for v in (0, 1)
                        if (2 * (b - first) + v + (j & 1)) % shares == shares - 1))
    return out


@pytest.mark.parametrize("out", [torch.int32] + OUT_DTYPES)
def test_one_row_split_k_two_tiles_end_in_a_block(out):
    m, n, k = 1, 1536, 2048
    combiners = _one_row_combiners(6, 8, 5)
    assert combiners[4:] == [9, 8] and len(set(combiners)) == 6  # block 4's two vector cores
    x, weight, scale, pts, gl, _ = _inputs([0, 1], m, n, k, torch.Generator().manual_seed(60))
    with ai_cores(5):
        plan = cpu_module().grouped_matmul_a8w4_plan(m=m, n=n, k=k, experts=2, out_dtype=1)
        assert plan["split_k"] and (plan["n_tiles"], plan["n_tile"], plan["block_dim"]) == (6, 256, 5)
        assert plan["slots_per_block"] == 2
        got = _check(x, weight, scale, pts, gl, output_dtype=out)
        assert got[:, 1024:].abs().sum() > 0  # tiles 4 and 5 written


# Split-K, the tail unit (qgemm_cube.h TailUnit): a block's last piece loads its last step as a unit of
# its own when its last unit would hold more steps (odd blocks' units start half a unit later). The
# rule, per block: (steps of its last piece, whether that piece takes the tail). And the partials'
# handoff: each cube flags its vector cores after each piece's fixpipe, they meet in a vector-only
# SyncAll before any combine (qgemm_handoff.h), and in a block of two pieces the vector core holding
# the row reads its own block's partial of the first piece before the SyncAll (blocks 1-4 here).
# (n, k, experts, cores, tiles, tails): 6 tiles of 256 (8 steps, units of 2) on 5 cores: tails on an
# odd and two even blocks, none after a one-step piece (block 0) or a one-step last unit (block 3).
# 3 tiles of 64 (K = 4000: 16 steps, units of 8) on 5 cores: tile 1 in three pieces (blocks 1-3),
# blocks 0 and 2 end on a one-step unit, blocks 1, 3 (odd: shifted units) and 4 take the tail.
TAILS = [(1536, 2048, 2, 5, 6, [(1, False), (3, True), (4, True), (6, False), (8, True)]),
         (192, 4000, 3, 5, 3, [(9, False), (3, True), (9, False), (6, True), (10, True)])]  # fmt: skip


@pytest.mark.parametrize("n,k,experts,cores,tiles,tails", TAILS)
def test_one_row_split_k_last_step_alone(n, k, experts, cores, tiles, tails):
    counts = [0] * (experts - 1) + [1]
    x, weight, scale, pts, gl, _ = _inputs(counts, 1, n, k, torch.Generator().manual_seed(70 + cores))
    with ai_cores(cores):
        plan = cpu_module().grouped_matmul_a8w4_plan(m=1, n=n, k=k, experts=experts, out_dtype=1)
        assert plan["split_k"] and (plan["n_tiles"], plan["block_dim"]) == (tiles, cores)
        steps = -(-k // 256)
        assert split_tails(tiles, steps, cores, plan["unit_steps"], plan["unit_shift"]) == tails
        got = _check(x, weight, scale, pts, gl, output_dtype=torch.int32)
        assert got.abs().sum() > 0
        _check(x, weight, scale, pts, gl, output_dtype=torch.bfloat16)
