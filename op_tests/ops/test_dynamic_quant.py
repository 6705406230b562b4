"""dynamic_quant kernel (on the emulator) against the pure-torch reference: bit-exact."""

from __future__ import annotations

import pytest
import torch

from ascend_glm5 import ops, reference
from ascend_glm5.ops._backend import cpu_module

from ._cores import ai_cores

DTYPES = [torch.float16, torch.bfloat16]

# Shapes chosen to hit: H not a multiple of 16/32/64, H spanning several tiles (at most 4096
# elements, fewer where UB is short: 6 tiles at H = 16384 with smooth scales) with a ragged tail,
# the maximum H, fewer rows than cores, more rows than cores, uneven row splits.
SHAPES = [(1, 1), (3, 17), (5, 33), (2, 3, 100), (7, 2048), (4, 2049), (2, 6144), (3, 7168 + 5), (2, 16384),
          (97, 64), (50, 129)]


def _check_exact(x: torch.Tensor, smooth: torch.Tensor | None) -> None:
    q, scale = ops.dynamic_quant(x, smooth_scales=smooth)
    q_ref, scale_ref = reference.dynamic_quant(x, smooth_scales=smooth)
    assert q.dtype == torch.int8 and q.shape == x.shape
    assert scale.dtype == torch.float32 and scale.shape == x.shape[:-1]
    assert torch.equal(scale.isnan(), scale_ref.isnan())
    assert torch.equal(scale.nan_to_num(), scale_ref.nan_to_num()), (scale - scale_ref).abs().max()
    mismatch = (q != q_ref).sum().item()
    assert mismatch == 0, f"{mismatch} int8 values differ"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("smooth", [False, True])
def test_matches_reference(shape, dtype, smooth):
    g = torch.Generator().manual_seed(hash((shape, smooth)) % 2**31)
    x = (torch.randn(shape, generator=g) * 3).to(dtype)
    s = (torch.rand(shape[-1], generator=g) + 0.5).to(dtype) if smooth else None
    _check_exact(x, s)


def test_several_rows_and_tiles_per_core_with_smooth_scales():
    # The smooth scales come in with the tiles of a core's first row and stay resident for the
    # rows after it: 2 vector cores, 5 rows of 3 tiles each.
    g = torch.Generator().manual_seed(8)
    x = (torch.randn(10, 9000, generator=g) * 3).to(torch.bfloat16)
    s = (torch.rand(9000, generator=g) + 0.5).to(torch.bfloat16)
    with ai_cores(1):
        _check_exact(x, s)


@pytest.mark.parametrize("dtype", DTYPES)
def test_zero_rows_give_zero_and_finite_scale(dtype):
    x = torch.randn(6, 300).to(dtype)
    x[1] = 0
    x[4] = 0
    q, scale = ops.dynamic_quant(x)
    assert torch.isfinite(scale).all()
    assert scale[1] == 0 and scale[4] == 0
    assert (q[1] == 0).all() and (q[4] == 0).all()
    _check_exact(x, None)


def test_no_rows():
    x = torch.empty(0, 128, dtype=torch.bfloat16)
    q, scale = ops.dynamic_quant(x)
    assert q.shape == (0, 128) and scale.shape == (0,)
    q, scale = ops.dynamic_quant(torch.empty(2, 0, 64, dtype=torch.float16))
    assert q.shape == (2, 0, 64) and scale.shape == (2, 0)


def test_one_dim_input_is_one_row():
    x = torch.randn(257).to(torch.bfloat16)
    q, scale = ops.dynamic_quant(x)
    assert scale.shape == ()
    _check_exact(x, None)


@pytest.mark.parametrize("dtype,magnitude", [(torch.float16, 6.0e4), (torch.bfloat16, 1.0e30), (torch.bfloat16, 1.0e-30)])
def test_extreme_magnitudes(dtype, magnitude):
    x = ((torch.rand(9, 1000) * 2 - 1) * magnitude).to(dtype)  # finite in the dtype
    _check_exact(x, None)
    q, _ = ops.dynamic_quant(x)
    assert q.abs().max() == 127  # the largest element always maps to +-127


def test_ties_round_half_to_even():
    # max |x| = 127 gives factor 1, so x = k + 0.5 must round to the even neighbour.
    row = torch.tensor([127.0, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5], dtype=torch.float16)
    q, scale = ops.dynamic_quant(row[None])
    assert scale.item() == 1.0
    assert q[0].tolist() == [127, 0, 2, 2, 0, -2, -2, 126]


def test_non_contiguous_input():
    x = torch.randn(64, 40).to(torch.bfloat16).t()
    assert not x.is_contiguous()
    _check_exact(x, None)


def test_gm_traffic_is_the_minimum():
    rows, hidden = 100, 3000
    x = torch.randn(rows, hidden).to(torch.bfloat16)
    smooth = torch.rand(hidden).to(torch.bfloat16)
    ops.dynamic_quant(x, smooth_scales=smooth)
    launch = cpu_module().last_launch()
    cores = launch["cores"]
    assert launch["kernel"] == "dynamic_quant" and cores == 48
    # x read once, smooth once per core; q and the scales written once.
    assert launch["total"]["mte2_bytes"] == x.numel() * 2 + hidden * 2 * cores
    assert launch["total"]["mte3_bytes"] == x.numel() + rows * 4
    per_core_rows = [c["mte3_bytes"] // (hidden + 4) for c in launch["per_core"]]
    assert max(per_core_rows) - min(per_core_rows) <= 1  # rows spread evenly


# ---- validation: clear Python errors before any kernel runs --------------------------------------

def test_rejects_bad_dtype():
    with pytest.raises(TypeError, match="x must have dtype"):
        ops.dynamic_quant(torch.randn(2, 8))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        ops.dynamic_quant([[1.0, 2.0]])


def test_rejects_bad_smooth_scales():
    x = torch.randn(2, 8).to(torch.float16)
    with pytest.raises(ValueError, match=r"smooth_scales must have shape \(8,\)"):
        ops.dynamic_quant(x, smooth_scales=torch.ones(9, dtype=torch.float16))
    with pytest.raises(TypeError, match="smooth_scales must have dtype"):
        ops.dynamic_quant(x, smooth_scales=torch.ones(8, dtype=torch.float32))


def test_rejects_hidden_above_maximum():
    with pytest.raises(ValueError, match=r"x.shape\[-1\] \(H\) must be in \[1, 16384\]"):
        ops.dynamic_quant(torch.zeros(1, 16385, dtype=torch.bfloat16))
    with pytest.raises(ValueError, match="0-d"):
        ops.dynamic_quant(torch.tensor(1.0, dtype=torch.bfloat16))


def test_fake_tensor_and_schema():
    x = torch.randn(3, 40).to(torch.bfloat16)
    s = torch.rand(40).to(torch.bfloat16)
    torch.library.opcheck(torch.ops.ascend_glm5.dynamic_quant.default, (x, s))
    torch.library.opcheck(torch.ops.ascend_glm5.dynamic_quant.default, (torch.randn(2, 3, 70).to(torch.float16), None))
    with torch._subclasses.fake_tensor.FakeTensorMode():
        q, scale = torch.ops.ascend_glm5.dynamic_quant(torch.empty(5, 7, 64, dtype=torch.float16), None)
        assert q.shape == (5, 7, 64) and q.dtype == torch.int8 and scale.shape == (5, 7)


@pytest.mark.parametrize("where", [[2048], [5000, 2048], [0, 3000]])
def test_nan_in_a_later_tile_gives_a_nan_scale(where):
    # Regression (found by the long fuzz profile): the row max over 2048-element tiles was kept with
    # `m > rowMax`, false for a NaN tile max, so a NaN past the first tile was dropped (finite scale,
    # garbage q). The max is NaN-sticky now (RowAbsMaxUpdate), also when a larger value follows.
    x = (torch.randn(2, 6000, generator=torch.Generator().manual_seed(0)) * 1e-6).to(torch.float16)
    x[0, where] = float("nan")
    x[0, -1] = 100.0  # a larger finite value in the last tile must not replace the NaN
    _check_exact(x, None)  # the reference: m = NaN, so scale NaN and q 0; row 1 untouched


# A tile's max |v| is taken on the bits of v with the sign bit cleared (an And with 0x7FFFFFFF), in
# halving int32 Max steps down to at most 512 lanes, then a ReduceMax. The row's largest |v| (negative
# here) or a NaN of either sign (a negative one also from inf * 0) is put at positions of the tile's low
# half, high half, ragged tail and first / last lane; rows of tiles of at most 512 (no Max step) and
# tiles that are not a multiple of 64 lanes; -0.0 elsewhere in the row.
@pytest.mark.parametrize("hidden", [100, 600, 6144, 7173])
@pytest.mark.parametrize("what", ["negative max", "nan", "negative nan", "inf times zero"])
def test_tile_max_by_bits(hidden, what):
    g = torch.Generator().manual_seed(hidden)
    positions = sorted({0, 1, hidden // 5, hidden // 2 - 1, hidden // 2 + 3, hidden - 65, hidden - 2, hidden - 1})
    x = torch.randn(len(positions), hidden, generator=g).to(torch.bfloat16)
    x[:, 3::7] = -0.0
    smooth = (torch.rand(hidden, generator=g) + 0.5).to(torch.bfloat16)
    for row, p in enumerate(positions):
        if what == "negative max":
            x[row, p] = -1000.0
        elif what == "nan":
            x[row, p] = float("nan")
        elif what == "negative nan":  # fp32 bits 0xFFC00000 in bf16: 0xFFC0
            x[row, p] = torch.tensor([0xFFC0 - 0x10000], dtype=torch.int16).view(torch.bfloat16)[0]
        else:
            x[row, p] = float("-inf")
    if what == "inf times zero":
        for p in positions:
            smooth[p] = 0.0
    _check_exact(x, smooth)
    _check_exact(x, None)
    q, scale = ops.dynamic_quant(x, smooth_scales=smooth)
    if what == "negative max":
        assert torch.all(scale > 1000 * 0.5 / 127)
    else:
        assert torch.all(scale.isnan())


# Fewer rows than vector cores (decode): a row is cut over several cores, one tile each, which exchange
# their tile's max |v| through the GM workspace after SyncAll (tiling `split`). The row's largest |v|,
# or a NaN, is put in one core's tile only (first, middle, last: a ragged one), so every other core of
# the row quantizes with a max it only gets from the exchange. The launch must use rows x split cores.
@pytest.mark.parametrize("rows, hidden", [(1, 6144), (2, 16384), (3, 7173), (7, 2048), (20, 600)])
@pytest.mark.parametrize("what", ["max", "nan"])
@pytest.mark.parametrize("smooth", [False, True])
def test_split_rows_exchange_the_max(rows, hidden, what, smooth):
    g = torch.Generator().manual_seed(rows * hidden)
    x = torch.randn(rows, hidden, generator=g).to(torch.bfloat16)
    for r in range(rows):
        p = [0, hidden // 2 + 1, hidden - 1][r % 3]
        x[r, p] = float("nan") if what == "nan" and r % 2 == 0 else -500.0
    s = (torch.rand(hidden, generator=g) + 0.5).to(torch.bfloat16) if smooth else None
    _check_exact(x, s)
    cores = cpu_module().last_launch()["cores"]
    assert cores > rows and cores % rows == 0 and cores <= 48, cores
    q, scale = ops.dynamic_quant(x, smooth_scales=s)
    if what == "max":
        assert torch.all(scale > 500 * 0.5 / 127)
    else:
        assert torch.all(scale[0::2].isnan()) and not scale[1::2].isnan().any()


@pytest.mark.parametrize("rows, hidden", [(48, 6144), (100, 7168), (60, 16384), (50, 1000)])
def test_smooth_scales_meet_no_ub_bank_conflict(rows, hidden):
    # The row times the smooth scales (`Mul`) reads both from UB: the smooth scales sit 256 B past the
    # row modulo 512 (PlanDynamicQuantUb), so the two sources of a repeat fall in different bank groups and
    # the model's bank beats add nothing to it, at one tile a row (1000), two (6144, 7168) and 4
    # (16384). The output stays exact.
    from ascend_glm5.perf.model import replay, tracing

    g = torch.Generator().manual_seed(hidden)
    x = torch.randn(rows, hidden, generator=g).bfloat16()
    smooth = (torch.rand(hidden, generator=g) + 0.5).bfloat16()
    with tracing() as traces:
        _check_exact(x, smooth)
    assert replay(traces[-1]).bank_conflict_cycles.get("Mul", 0.0) == 0.0


@pytest.mark.parametrize("rows, hidden, smooth", [(96, 6144, True), (100, 7168, True), (96, 6144, False),
                                                  (60, 16384, True), (50, 1000, False), (48, 3008, True)])
def test_tile_max_halves_meet_their_own_bank_groups(rows, hidden, smooth):
    # With whole rows a core, the tile max's And reads each half of UB's bank groups with the sign
    # mask block in the other half and writes the other half, and its Max steps read lanes an odd
    # number of repeats apart into the other scratch tile, placed in another 64-KiB bank
    # (PlanDynamicQuantUb): the model's bank beats add nothing to the And or the Max, except at
    # 16,384 columns with smooth scales, where UB has no room for the second scratch tile's pad.
    # Every shape stays exact. Each row's max sits in a different lane (both halves of the groups, the
    # ragged tail); one row's is a NaN, one row's -inf.
    from ascend_glm5.perf.model import replay, tracing

    g = torch.Generator().manual_seed(hidden)
    x = torch.randn(rows, hidden, generator=g).bfloat16()
    for r in range(rows):
        x[r, (r * 997) % hidden] = -300.0 - r
    x[1, hidden - 1], x[2, hidden // 3] = float("nan"), float("-inf")
    s = (torch.rand(hidden, generator=g) + 0.5).bfloat16() if smooth else None
    with tracing() as traces:
        _check_exact(x, s)
    assert cpu_module().last_launch()["cores"] == min(rows, 48)
    if not (smooth and hidden == 16384):
        conflicts = replay(traces[-1]).bank_conflict_cycles
        assert conflicts.get("And", 0.0) == 0.0 and conflicts.get("Max", 0.0) == 0.0, conflicts
