"""dequant_swiglu_quant kernel (on the emulator) against the pure-torch reference.

Tolerance: int8 outputs within 1 and fp32 scales within 1e-6 relative. Every step is an IEEE fp32
operation in the same order on both sides except ``exp`` (the emulator: the C library's expf; the
reference: exp in float64 rounded once to fp32); they agree to the ulp in practice (measured: no
difference in any test here), a 1-ulp exp difference could move one int8 value by 1 and the scale
by ~1e-7.
"""

from __future__ import annotations

import contextlib

import pytest
import torch

from ascend_glm5 import ops, reference
from ascend_glm5.ops._backend import cpu_module

from ._cores import ai_cores

Q_TOL, SCALE_RTOL = 1, 1e-6


def _inputs(rows, half, dtype, groups, g, *, smooth=False, shared_ws=False):
    """x [rows, 2H] and keyword args; int32 sums of GEMM-like magnitude (up to 2**27, past fp32's 2**24)."""
    kw = {}
    if dtype == torch.int32:
        x = torch.randint(-(2**27), 2**27, (rows, 2 * half), dtype=torch.int32, generator=g)
        ws_rows = 1 if shared_ws or groups is None else len(groups)
        kw["weight_scale"] = (torch.rand(ws_rows, 2 * half, generator=g) + 0.1) * 2e-7
        if shared_ws:
            kw["weight_scale"] = kw["weight_scale"][0]
        kw["activation_scale"] = torch.rand(rows, generator=g) * 30 + 0.01
    else:
        x = (torch.randn(rows, 2 * half, generator=g) * 4).to(dtype)
    if groups is not None:
        kw["group_index"] = torch.tensor(groups, dtype=torch.int64)
    if smooth:
        kw["quant_scale"] = torch.rand(1 if groups is None else len(groups), half, generator=g) + 0.5
    return x, kw


def _check(x, kw, activate_left):
    y, scale = ops.dequant_swiglu_quant(x, activate_left=activate_left, quant_mode=1, **kw)
    y_ref, scale_ref = reference.dequant_swiglu_quant(x, activate_left=activate_left, **kw)
    assert y.dtype == torch.int8 and y.shape == (x.shape[0], x.shape[1] // 2)
    assert scale.dtype == torch.float32 and scale.shape == (x.shape[0],)
    diff = (y.int() - y_ref.int()).abs()
    assert diff.max().item() <= Q_TOL if diff.numel() else True
    assert (diff > 0).float().mean().item() <= 1e-3 if diff.numel() else True
    torch.testing.assert_close(scale, scale_ref, rtol=SCALE_RTOL, atol=0)
    return y, scale


# (rows, H): H below a tile, not a multiple of 64, GLM-5 / DeepSeek-V3.2 moe_intermediate 2048 (gate_up
# 4096) and its TP-8 slice 256, several 1024-element tiles with a ragged tail, the maximum 8192;
# fewer rows than the 48 cores, more, uneven splits.
CASES = [(1, 1), (3, 17), (5, 100), (64, 256), (50, 2048), (4, 3000), (2, 8192), (97, 64)]


@pytest.mark.parametrize("dtype", [torch.int32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("rows,half", CASES)
def test_matches_reference(rows, half, dtype):
    g = torch.Generator().manual_seed(rows * 10007 + half)
    x, kw = _inputs(rows, half, dtype, None, g, smooth=bool(rows % 2), shared_ws=True)
    _check(x, kw, activate_left=bool(half % 2))


@pytest.mark.parametrize("activate_left", [True, False])
@pytest.mark.parametrize("smooth", [False, True])
def test_groups_with_empty_and_single_row_groups(activate_left, smooth):
    # Per-group weight and smooth scales; empty groups (first, middle, last), one-row groups, and
    # sum(group_index) < T: the rows past it must come out as zeros with scale 0.
    g = torch.Generator().manual_seed(7)
    groups = [0, 3, 1, 0, 0, 40, 1, 17, 0]
    x, kw = _inputs(70, 300, torch.int32, groups, g, smooth=smooth)
    y, scale = _check(x, kw, activate_left)
    valid = sum(groups)
    assert (y[valid:] == 0).all() and (scale[valid:] == 0).all()
    assert (scale[:valid] > 0).all()


def test_glm5_expert_shape_with_many_groups():
    # 256 experts, 8 per token, 24 tokens: 192 rows spread over many (mostly empty) groups; gate_up 4096.
    g = torch.Generator().manual_seed(3)
    experts = torch.randint(0, 256, (192,), generator=g)
    groups = torch.bincount(experts, minlength=256).tolist()
    x, kw = _inputs(192, 2048, torch.int32, groups, g)
    _check(x, kw, activate_left=True)


def test_group_index_longer_than_one_ub_window():
    # 1300 groups: the kernel holds 512 counts of group_index in UB at a time, so the scan, a core's
    # walk through its groups and its look-ahead to the next group cross windows (also backwards);
    # most groups are empty and sum(group_index) < T.
    g = torch.Generator().manual_seed(21)
    groups = torch.bincount(torch.randint(0, 1300, (90,), generator=g), minlength=1300).tolist()
    x, kw = _inputs(100, 40, torch.int32, groups, g, smooth=True)
    with ai_cores(2):  # 4 vector cores, 25 rows and ~300 groups each
        y, scale = _check(x, kw, activate_left=True)
    assert (y[90:] == 0).all() and (scale[90:] == 0).all()


# (rows, H, groups): H = 300 leaves UB for two groups' scales (the next group's load overlaps the
# current rows), H = 8192 for one (loaded in turn); 75 rows per core span two activation-scale batches.
FEW_CORE_CASES = [(150, 300, [0, 40, 1, 0, 33, 2, 60, 0, 14]), (8, 8192, [1, 0, 2, 3, 0, 2])]


@pytest.mark.parametrize("shared_smooth", [False, True])
@pytest.mark.parametrize("rows,half,groups", FEW_CORE_CASES)
def test_few_cores_walk_many_groups(rows, half, groups, shared_smooth):
    # 2 vector cores: each meets many groups in turn (slots reused); per-group weight scales with
    # per-group or one shared smooth scale.
    g = torch.Generator().manual_seed(rows + half)
    x, kw = _inputs(rows, half, torch.int32, groups, g, smooth=True)
    if shared_smooth:
        kw["quant_scale"] = kw["quant_scale"][:1]
    with ai_cores(1):
        _check(x, kw, activate_left=not shared_smooth)


def test_per_group_scales_really_select_the_group():
    # The same int32 row in two groups whose weight scales differ by 2x must dequantize differently.
    half = 64
    x = torch.randint(-1000, 1000, (1, 2 * half), dtype=torch.int32).repeat(2, 1)
    ws = torch.full((2, 2 * half), 1e-3)
    ws[1, :half] *= 2  # the activated (left) half of group 1
    act = torch.ones(2)
    y, scale = ops.dequant_swiglu_quant(x, weight_scale=ws, activation_scale=act, group_index=torch.tensor([1, 1]),
                                        activate_left=True, quant_mode=1)
    assert not torch.equal(y[0], y[1]) or scale[0] != scale[1]
    _check(x, dict(weight_scale=ws, activation_scale=act, group_index=torch.tensor([1, 1])), True)


def test_gate_half_follows_activate_left():
    # silu(a) * b with a = the left half when activate_left: compare against the formula directly.
    a = torch.linspace(-6, 6, 128)
    b = torch.linspace(1, 2, 128)
    x = torch.cat([a, b])[None].to(torch.bfloat16)
    y, scale = ops.dequant_swiglu_quant(x, activate_left=True, quant_mode=1)
    af, bf = a.bfloat16().double(), b.bfloat16().double()
    expected = torch.nn.functional.silu(af) * bf
    assert ((y[0].double() * scale[0] - expected).abs() <= scale[0] * 0.5 + 1e-6).all()
    y_right, _ = ops.dequant_swiglu_quant(x, activate_left=False, quant_mode=1)
    assert not torch.equal(y, y_right)


def test_zero_rows_and_no_rows():
    x = torch.zeros(3, 64, dtype=torch.bfloat16)
    x[1, 5] = 1.0
    x[1, 32 + 5] = 1.0
    y, scale = ops.dequant_swiglu_quant(x, activate_left=True, quant_mode=1)
    assert scale[0] == 0 and scale[2] == 0 and (y[0] == 0).all() and (y[2] == 0).all()
    assert y[1, 5] == 127 and torch.isfinite(scale).all()
    y, scale = ops.dequant_swiglu_quant(torch.empty(0, 64, dtype=torch.int32), weight_scale=torch.ones(64),
                                        activation_scale=torch.ones(0), quant_mode=1)
    assert y.shape == (0, 32) and scale.shape == (0,)
    y, scale = ops.dequant_swiglu_quant(torch.ones(4, 8, dtype=torch.float16), group_index=torch.tensor([0, 0]),
                                        quant_mode=1)
    assert (y == 0).all() and (scale == 0).all()


def test_non_contiguous_input_and_column_activation_scale():
    g = torch.Generator().manual_seed(5)
    x = torch.randint(-5000, 5000, (96, 40), dtype=torch.int32, generator=g).t()  # [40, 96], strided
    kw = dict(weight_scale=torch.rand(96, generator=g) * 1e-3, activation_scale=torch.rand(40, 1, generator=g))
    assert not x.is_contiguous()
    _check(x, kw, activate_left=True)


def test_gm_traffic_is_the_minimum():
    # x read once; y and the scales written once; activation scales once; each core reads
    # group_index once (one copy into UB) and the weight and smooth scales of every group it meets once.
    rows, half = 100, 1500
    groups = [30, 0, 50, 20]
    g = torch.Generator().manual_seed(11)
    x, kw = _inputs(rows, half, torch.int32, groups, g, smooth=True)
    ops.dequant_swiglu_quant(x, activate_left=True, quant_mode=1, **kw)
    launch = cpu_module().last_launch()
    assert launch["kernel"] == "dequant_swiglu_quant" and launch["cores"] == 48
    # Which groups each core meets: its rows split evenly, then mapped to groups.
    bounds = torch.tensor(groups).cumsum(0).tolist()
    group_of = [next(i for i, end in enumerate(bounds) if r < end) for r in range(rows)]
    base, extra = divmod(rows, 48)
    met, start = 0, 0
    for core in range(48):
        n = base + (core < extra)
        met += len(set(group_of[start:start + n]))
        start += n
    expected_read = x.numel() * 4 + rows * 4 + met * (2 * half + half) * 4 + 48 * len(groups) * 8
    assert launch["total"]["mte2_bytes"] == expected_read, (launch["total"]["mte2_bytes"], expected_read)
    assert launch["total"]["mte3_bytes"] == rows * half + rows * 4


# ---- validation: clear Python errors before any kernel runs --------------------------------------

def test_rejects_bad_arguments():
    x = torch.zeros(4, 16, dtype=torch.int32)
    ws, act = torch.ones(16), torch.ones(4)
    call = ops.dequant_swiglu_quant
    with pytest.raises(ValueError, match="quant_mode must be 1"):
        call(x, weight_scale=ws, activation_scale=act)
    with pytest.raises(ValueError, match="bias is not supported"):
        call(x, weight_scale=ws, activation_scale=act, bias=torch.zeros(16, dtype=torch.int32), quant_mode=1)
    with pytest.raises(ValueError, match="quant_offset"):
        call(x, weight_scale=ws, activation_scale=act, quant_offset=torch.zeros(1), quant_mode=1)
    with pytest.raises(ValueError, match="weight_scale and activation_scale are required"):
        call(x, weight_scale=ws, quant_mode=1)
    with pytest.raises(ValueError, match="apply to int32 x only"):
        call(x.bfloat16(), weight_scale=ws, quant_mode=1)
    with pytest.raises(ValueError, match=r"weight_scale must have shape \(16,\)"):
        call(x, weight_scale=torch.ones(8), activation_scale=act, quant_mode=1)
    with pytest.raises(ValueError, match=r"activation_scale must have shape \(4,\)"):
        call(x, weight_scale=ws, activation_scale=torch.ones(5), quant_mode=1)
    with pytest.raises(TypeError, match="x must have dtype"):
        call(x.float(), quant_mode=1)
    with pytest.raises(ValueError, match="even last dimension"):
        call(torch.zeros(4, 15, dtype=torch.bfloat16), quant_mode=1)
    with pytest.raises(ValueError, match=r"\(H\) must be in \[1, 8192\]"):
        call(torch.zeros(1, 2 * 8193, dtype=torch.bfloat16), quant_mode=1)
    with pytest.raises(ValueError, match="group_index counts must be >= 0 and sum to at most T = 4"):
        call(x, weight_scale=ws, activation_scale=act, group_index=torch.tensor([3, 2]), quant_mode=1)
    with pytest.raises(ValueError, match="group_index counts"):
        call(x, weight_scale=ws, activation_scale=act, group_index=torch.tensor([3, -1]), quant_mode=1)
    with pytest.raises(ValueError, match=r"quant_scale must have shape \(8,\) or \(2, 8\)"):
        call(x, weight_scale=ws, activation_scale=act, quant_scale=torch.ones(3, 8),
             group_index=torch.tensor([2, 2]), quant_mode=1)
    with pytest.raises(TypeError, match="weight_scale must have dtype"):
        call(x, weight_scale=ws.double(), activation_scale=act, quant_mode=1)


def test_fake_tensor_and_schema():
    x = torch.randint(-100, 100, (6, 64), dtype=torch.int32)
    args = (x, torch.rand(2, 64), torch.rand(6), torch.rand(32), torch.tensor([4, 2]), True)
    torch.library.opcheck(torch.ops.ascend_glm5.dequant_swiglu_quant.default, args)
    args = (torch.randn(3, 40).to(torch.bfloat16), None, None, torch.rand(20) + 0.5, None, False)
    torch.library.opcheck(torch.ops.ascend_glm5.dequant_swiglu_quant.default, args)
    with torch._subclasses.fake_tensor.FakeTensorMode():
        y, scale = torch.ops.ascend_glm5.dequant_swiglu_quant(torch.empty(5, 4096, dtype=torch.bfloat16), None, None,
                                                              None, None, False)
        assert y.shape == (5, 2048) and y.dtype == torch.int8 and scale.shape == (5,)


def _check_raw_counts(rows, half, counts, meant, seed):
    # Launches the kernel directly with int64 counts the CPU op would refuse, and compares with the
    # reference given the counts the kernel must act on (`meant`).
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(-3000, 3000, (rows, 2 * half), dtype=torch.int32, generator=g)
    ws = torch.rand(len(counts), 2 * half, generator=g) * 1e-3
    act = torch.rand(rows, generator=g)
    raw = torch.tensor(counts, dtype=torch.int64)
    y = torch.empty(rows, half, dtype=torch.int8)
    scale = torch.empty(rows, dtype=torch.float32)
    cpu_module().dequant_swiglu_quant(x.data_ptr(), ws.data_ptr(), act.data_ptr(), 0, raw.data_ptr(), y.data_ptr(),
                                      scale.data_ptr(), rows, half, 4, len(counts), len(counts), 0, True)
    y_ref, scale_ref = reference.dequant_swiglu_quant(x, weight_scale=ws, activation_scale=act,
                                                      group_index=torch.tensor(meant), activate_left=True)
    assert torch.equal(y, y_ref) and torch.equal(scale, scale_ref)


def test_kernel_clamps_bad_group_counts():
    # On the NPU the op does not read group_index (no stream sync); the kernel must stay in bounds
    # with negative counts (taken as 0) and counts past T (rows end at T). Launched directly here,
    # since the CPU op refuses such counts.
    _check_raw_counts(rows=12, half=40, counts=[5, -4, 30], meant=[5, 0, 7], seed=9)


def test_kernel_saturates_counts_past_int32():
    # The kernel narrows the int64 counts to int32 (saturating) before it scans them: a count of
    # 2^32 + 1 must cover every row left (as 2^31 - 1 does), not wrap to 1; a count below -2^31 is 0.
    _check_raw_counts(rows=9, half=24, counts=[2, -(2**40), 2**32 + 1, 3], meant=[2, 0, 7, 0], seed=11)


def test_odd_group_count_past_a_window():
    # The scan reads the narrowed counts two at a time. 513 groups: the last window holds one count,
    # and the UB word after it still holds group 1's count from the first window: it must not be
    # taken as a 514th group. Rows past sum(group_index) are zeros.
    g = torch.Generator().manual_seed(13)
    groups = [1, 2] + [0] * 510 + [4]
    x, kw = _inputs(10, 40, torch.int32, groups, g, smooth=True)
    with ai_cores(2):  # 4 vector cores, 2-3 rows each: the last core starts past sum(group_index)
        y, scale = _check(x, kw, activate_left=True)
    assert (y[7:] == 0).all() and (scale[7:] == 0).all()


# (rows, H, groups, x dtype, smooth): one row a core, rows of several tiles: the first group's scales
# load in two parts (the first tile's columns, then the rest); H = 8192 has one scale slot; float x
# has only the smooth scale to load.
FIRST_TILE_CASES = [(4, 2500, [1, 0, 2, 1], torch.int32, True), (3, 1100, [0, 3], torch.int32, False),
                    (2, 8192, [1, 1], torch.int32, True), (3, 2100, [2, 0, 1], torch.bfloat16, True)]


@pytest.mark.parametrize("activate_left", [True, False])
@pytest.mark.parametrize("rows,half,groups,dtype,smooth", FIRST_TILE_CASES)
def test_one_row_a_core_loads_the_first_tiles_scales_first(rows, half, groups, dtype, smooth, activate_left):
    g = torch.Generator().manual_seed(rows * 31 + half)
    x, kw = _inputs(rows, half, dtype, groups, g, smooth=smooth)
    with ai_cores(rows):  # two vector cores a row, too few to split it: one core, one whole row
        _check(x, kw, activate_left)


# Few rows (decode): a row's columns are cut over several cores (tiling `split`), which exchange their
# part's max |s| through the GM workspace after SyncAll. Each row's largest |s| is put in one core's part
# only (first, middle, last: a ragged one), so the other cores of the row quantize with a max they only
# get from the exchange; rows past sum(group_index) are zeros on all their cores. (rows, H, groups, x
# dtype, smooth, AI cores): the last case cuts H = 8192 over 4 vector cores, parts of two tiles whose
# first tile's scales load first.
SPLIT_CASES = [(1, 2048, [0, 1], torch.int32, False, None), (8, 2048, [3, 0, 2, 1], torch.int32, True, None),
               (3, 3000, None, torch.bfloat16, True, None), (1, 8192, [1], torch.int32, True, 2)]


@pytest.mark.parametrize("activate_left", [True, False])
@pytest.mark.parametrize("rows,half,groups,dtype,smooth,cores", SPLIT_CASES)
def test_split_rows_exchange_the_max(rows, half, groups, dtype, smooth, cores, activate_left):
    g = torch.Generator().manual_seed(rows * 37 + half)
    x, kw = _inputs(rows, half, dtype, groups, g, smooth=smooth)
    spikes = [[0, half // 2 + 1, half - 1][r % 3] for r in range(rows)]
    for r, p in enumerate(spikes):  # both halves large and positive: silu(a) * b is the row's max there
        x[r, p] = x[r, half + p] = 2**30 if dtype == torch.int32 else 500
    with ai_cores(cores) if cores else contextlib.nullcontext():
        y, scale = _check(x, kw, activate_left)
        launched = cpu_module().last_launch()["cores"]
    assert launched > rows and launched % rows == 0, launched
    valid = rows if groups is None else min(rows, sum(groups))
    assert all(y[r, p] == 127 for r, p in enumerate(spikes[:valid]))
    assert (y[valid:] == 0).all() and (scale[valid:] == 0).all()


@pytest.mark.parametrize("cores", [None, 3])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.int32])
def test_nan_in_a_later_tile_gives_a_nan_scale(dtype, cores):
    # Regression (the row max of dynamic_quant's bug, shared here): a NaN tile max after the first
    # tile was dropped by `m > rowMax`; the row's scale must be NaN and its int8 0, as the reference's.
    # All cores: each row split over cores (the NaN comes through the exchange); 3 AI cores: whole rows.
    g = torch.Generator().manual_seed(4)
    x, kw = _inputs(3, 2500, dtype, None, g, smooth=True, shared_ws=True)
    if dtype == torch.int32:
        kw["weight_scale"][2 * 1024 + 7] = float("nan")  # a weight scale of the linear half, third tile
    else:
        x[0, 2500 + 1500] = float("nan")  # second tile of the linear half
    with ai_cores(cores) if cores else contextlib.nullcontext():
        y, scale = ops.dequant_swiglu_quant(x, activate_left=True, quant_mode=1, **kw)
    y_ref, scale_ref = reference.dequant_swiglu_quant(x, activate_left=True, **kw)
    assert scale_ref[0].isnan() and torch.equal(scale.isnan(), scale_ref.isnan())  # int32: a shared scale, all rows
    assert torch.equal(y, y_ref) and torch.equal(scale.nan_to_num(), scale_ref.nan_to_num())


@pytest.mark.parametrize("rows,half,dtype,smooth", [(96, 2048, torch.int32, False), (80, 3000, torch.int32, True),
                                                   (48, 1024, torch.bfloat16, True)])
def test_tile_ops_meet_no_ub_bank_conflict(rows, half, dtype, smooth):
    # The tile's two-source ops (a and b times the weight scales, a / e, e x b, the row times the smooth
    # scale) read operands placed 256 B apart modulo 512 in UB, and e and the scales past 64 KiB
    # (DsqPadBytes), so the model's bank beats add nothing to them: whole rows on each core (no split),
    # one or several tiles a row. The output stays within the reference's tolerance.
    from ascend_glm5.perf.model import replay, tracing

    g = torch.Generator().manual_seed(half)
    x, kw = _inputs(rows, half, dtype, [rows // 4, 0, rows - rows // 4], g, smooth=smooth)
    with tracing() as traces:
        _check(x, kw, True)
    assert cpu_module().last_launch()["cores"] == min(rows, 48)
    conflicts = replay(traces[-1]).bank_conflict_cycles
    assert conflicts.get("Mul", 0.0) == 0.0 and conflicts.get("Div", 0.0) == 0.0, conflicts
