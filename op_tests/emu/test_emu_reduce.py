"""ReduceMax / ReduceSum (count forms), WholeReduceMax / WholeReduceSum (mask/repeat forms, every
ReduceOrder), BlockReduceMax / Min / Sum and Brcb against numpy. The summation order is the
emulator's documented one: a binary tree over the lane positions of a repeat (of a 32-byte block
for BlockReduceSum), repeats in order, every add rounded to T."""

import numpy as np
import pytest

NP = {"half": np.float16, "float": np.float32, "int16": np.int16, "int32": np.int32}
UINT = {"half": np.uint16, "float": np.uint32, "int16": np.uint16, "int32": np.uint32}
LANES = {"half": 128, "float": 64}
ORDERS = ["VALUE_INDEX", "INDEX_VALUE", "ONLY_VALUE", "ONLY_INDEX"]


def tree_sum(v, dtype):
    """Adjacent pairs, level by level, each add rounded to dtype."""
    v = np.asarray(v, dtype)
    while v.size > 1:
        v = (v[0::2] + v[1::2]).astype(dtype)
    return v[0]


def first_max(v):
    """Value and index of the maximum, lowest index on ties, the first NaN if any."""
    i = int(np.argmax(v))  # numpy: first occurrence; a NaN counts as the maximum
    return v[i], i


def values(dtype, n, seed):
    # Few distinct values, so that ties are common.
    return (np.random.default_rng(seed).integers(-40, 40, n) / 4).astype(NP[dtype])


@pytest.mark.parametrize("dtype", ["half", "float"])
@pytest.mark.parametrize("count", [1, 63, 64, 129, 1000])
def test_reduce_sum_count_form(emu, dtype, count):
    lanes, x = LANES[dtype], values(dtype, count, count)
    work, out = np.zeros(256, NP[dtype]), np.full(16, 9, NP[dtype])
    got, _ = emu.vec("ReduceSum", dtype, in0=x, in2=work, out=out, count=count)
    padded = np.zeros(-(-count // lanes) * lanes, NP[dtype])
    padded[:count] = x
    parts = [tree_sum(p, NP[dtype]) for p in padded.reshape(-1, lanes)]
    want = parts[0]
    for p in parts[1:]:
        want = NP[dtype](want + p)
    assert got[0] == want and (got[1:] == 9).all()


def test_reduce_sum_half_uses_the_documented_tree_order(emu):
    # Tree: (1+1) + (1+2048) = 2 + 2048 = 2050 (2049 rounds to even). In order or exactly: 2051 -> 2052.
    x = np.zeros(128, np.float16)
    x[:4] = [1, 1, 1, 2048]
    got, _ = emu.vec("ReduceSum", "half", in0=x, in2=np.zeros(16, np.float16), out=np.zeros(16, np.float16), count=128)
    assert got[0] == 2050


@pytest.mark.parametrize("dtype", ["half", "float"])
@pytest.mark.parametrize("count", [1, 100, 1000])
@pytest.mark.parametrize("cal_index", [0, 1])
def test_reduce_max_count_form(emu, dtype, count, cal_index):
    x = values(dtype, count, count + 7)
    work, out = np.zeros(256, NP[dtype]), np.full(16, 9, NP[dtype])
    got, _ = emu.vec("ReduceMax", dtype, in0=x, in2=work, out=out, count=count, aux=cal_index)
    value, index = first_max(x)
    assert got[0] == value
    slot = got.view(UINT[dtype])[1]
    assert slot == (index if cal_index else np.array(9, NP[dtype]).view(UINT[dtype]))


def test_reduce_max_propagates_nan(emu):
    x = np.arange(300, dtype=np.float32)
    x[[17, 200]] = np.nan
    got, _ = emu.vec("ReduceMax", "float", in0=x, in2=np.zeros(64, np.float32), out=np.zeros(8, np.float32), count=300,
                     aux=1)
    assert np.isnan(got[0]) and got.view(np.uint32)[1] == 17


def test_reduce_work_local_too_small(emu):
    # 1000 floats = 16 repeats: ReduceMax needs 2 results per repeat = 128 bytes of workLocal.
    error = r"kernel 'vec_kernel', core AIV 0: ReduceMax: local-bounds: workLocal touches"
    with pytest.raises(emu.EmuError, match=error):
        emu.vec("ReduceMax", "float", in0=np.zeros(1000, np.float32), in2=np.zeros(16, np.float32),
                out=np.zeros(8, np.float32), count=1000)


def test_reduce_count_zero_is_an_error(emu):
    with pytest.raises(emu.EmuError, match=r"ReduceSum: param-range: count 0"):
        emu.vec("ReduceSum", "float", in0=np.zeros(8, np.float32), out=np.zeros(8, np.float32), count=0)


def whole_reduce_case(emu, op, dtype, form, order, src_blk, src_rep, dst_rep, repeat=4):
    lanes, t = LANES[dtype], NP[dtype]
    kw = {"mask": {"mask": lanes - 5}, "bits": {"bits": (0x00FF_0000_8001_F00F, 0x0101_0101_0000_0000)},
          "mask_regs": {"bits": (0xFFFF_0000_0000_FFFF, 0x1)}, "counter_regs": {"count": 2 * lanes + 9}}[form]
    r, lane = emu.active_lanes(lanes, repeat, **kw)
    si = emu.elem_index(r, lane, t().itemsize, src_blk, src_rep)
    x = values(dtype, int(si.max()) + 64, 11)
    if "count" in kw:
        repeat = -(-kw["count"] // lanes)
    out = np.full(512, 9, t)
    want = out.copy()
    words = want.view(UINT[dtype])
    for k in range(repeat):
        on = r == k
        lane_values = np.zeros(lanes, t)
        lane_values[lane[on]] = x[si[on]]
        if op == "WholeReduceSum":
            want[k * dst_rep] = tree_sum(lane_values, t)
            continue
        value, i = first_max(x[si[on]])
        index = int(lane[on][i])
        if order == "VALUE_INDEX":
            want[2 * k * dst_rep], words[2 * k * dst_rep + 1] = value, index
        elif order == "INDEX_VALUE":
            words[2 * k * dst_rep], want[2 * k * dst_rep + 1] = index, value
        elif order == "ONLY_VALUE":
            want[k * dst_rep] = value
        else:
            want.view(np.uint32)[k * dst_rep] = index
    got, _ = emu.vec(op, dtype, form=form, in0=x, out=out, repeat=repeat, aux=ORDERS.index(order), src0_blk=src_blk,
                     src0_rep=src_rep, dst_rep=dst_rep, mask=kw.get("mask", 0), bits=kw.get("bits", (0, 0)),
                     count=kw.get("count", 0))
    np.testing.assert_array_equal(got.view(UINT[dtype]), want.view(UINT[dtype]))


@pytest.mark.parametrize("form", ["mask", "bits", "mask_regs", "counter_regs"])
@pytest.mark.parametrize("dtype", ["half", "float"])
@pytest.mark.parametrize("order", ORDERS)
def test_whole_reduce_max(emu, dtype, form, order):
    whole_reduce_case(emu, "WholeReduceMax", dtype, form, order, src_blk=1, src_rep=8, dst_rep=1)


@pytest.mark.parametrize("form", ["mask", "bits", "counter_regs"])
@pytest.mark.parametrize("dtype", ["half", "float"])
def test_whole_reduce_sum(emu, dtype, form):
    whole_reduce_case(emu, "WholeReduceSum", dtype, form, "ONLY_VALUE", src_blk=1, src_rep=8, dst_rep=1)


@pytest.mark.parametrize("op,order", [("WholeReduceMax", "VALUE_INDEX"), ("WholeReduceMax", "ONLY_INDEX"),
                                      ("WholeReduceSum", "ONLY_VALUE")])
def test_whole_reduce_strides(emu, op, order):
    whole_reduce_case(emu, op, "half", "bits", order, src_blk=2, src_rep=17, dst_rep=3)


def block_reduce_case(emu, op, dtype, form, src_blk, src_rep, dst_rep, repeat=4):
    lanes, t = LANES[dtype], NP[dtype]
    per_block = lanes // 8
    kw = {"mask": {"mask": lanes - 5}, "bits": {"bits": (0x00FF_0000_8001_F00F, 0x0101_0101_0000_0000)},
          "mask_regs": {"bits": (0xFFFF_0000_0000_FFFF, 0x1)}, "counter_regs": {"count": 2 * lanes + 9}}[form]
    r, lane = emu.active_lanes(lanes, repeat, **kw)
    si = emu.elem_index(r, lane, t().itemsize, src_blk, src_rep)
    x = values(dtype, int(si.max()) + 64, 13)
    x[si[(r == 1) & (lane == 3)]] = np.nan if op != "BlockReduceSum" else x[si[(r == 1) & (lane == 3)]]
    if "count" in kw:
        repeat = -(-kw["count"] // lanes)
    out = np.full(512, 9, t)
    want = out.copy()
    poisoned = np.zeros(512, bool)
    for k in range(repeat):
        for b in range(8):
            on = (r == k) & (lane // per_block == b)
            slot = k * dst_rep * 8 + b
            if op == "BlockReduceSum":
                block = np.zeros(per_block, t)
                block[lane[on] % per_block] = x[si[on]]
                want[slot] = tree_sum(block, t)
            elif not on.any():
                poisoned[slot] = True
            else:
                v = x[si[on]]
                # The lowest lane wins ties; a NaN wins over numbers.
                want[slot] = v[np.isnan(v)][0] if np.isnan(v).any() else (v.max() if op == "BlockReduceMax" else v.min())
    got, _ = emu.vec(op, dtype, form=form, in0=x, out=out, repeat=repeat, src0_blk=src_blk, src0_rep=src_rep,
                     dst_rep=dst_rep, mask=kw.get("mask", 0), bits=kw.get("bits", (0, 0)), count=kw.get("count", 0))
    np.testing.assert_array_equal(got.view(UINT[dtype])[~poisoned], want.view(UINT[dtype])[~poisoned])
    assert poisoned.any() == (form != "mask" and op != "BlockReduceSum")  # the masks leave some blocks empty
    assert np.isnan(got[poisoned]).all()  # a block with no active lane: the poison pattern, not a stale value


@pytest.mark.parametrize("form", ["mask", "bits", "mask_regs", "counter_regs"])
@pytest.mark.parametrize("dtype", ["half", "float"])
@pytest.mark.parametrize("op", ["BlockReduceMax", "BlockReduceMin", "BlockReduceSum"])
def test_block_reduce(emu, op, dtype, form):
    block_reduce_case(emu, op, dtype, form, src_blk=1, src_rep=8, dst_rep=1)


@pytest.mark.parametrize("op", ["BlockReduceMax", "BlockReduceSum"])
def test_block_reduce_strides(emu, op):
    block_reduce_case(emu, op, "float", "bits", src_blk=2, src_rep=17, dst_rep=3)


def test_two_block_reduce_sums_are_a_whole_reduce_sum(emu):
    # A 64-lane float row by blocks, then the 8 block sums: the same tree as WholeReduceSum (the kernels
    # rely on it: SFA's row sums moved to BlockReduceSum keep their bits).
    x = np.random.default_rng(5).standard_normal(8 * 64).astype(np.float32) * 1000
    blocks, _ = emu.vec("BlockReduceSum", "float", form="mask", in0=x, out=np.zeros(64, np.float32), repeat=8,
                        src0_blk=1, src0_rep=8, dst_rep=1, mask=64)
    rows, _ = emu.vec("BlockReduceSum", "float", form="mask", in0=blocks, out=np.zeros(64, np.float32), repeat=1,
                      src0_blk=1, src0_rep=8, dst_rep=1, mask=64)
    whole, _ = emu.vec("WholeReduceSum", "float", form="mask", in0=x, out=np.zeros(64, np.float32), repeat=8,
                       src0_blk=1, src0_rep=8, dst_rep=1, mask=64)
    np.testing.assert_array_equal(rows[:8].view(np.uint32), whole[:8].view(np.uint32))
    np.testing.assert_allclose(rows[:8], x.reshape(8, 64).astype(np.float64).sum(1), rtol=1e-5)


@pytest.mark.parametrize("dtype", ["half", "float", "int16", "int32"])
@pytest.mark.parametrize("dst_blk,dst_rep", [(1, 8), (2, 16), (1, 11)])
def test_brcb(emu, dtype, dst_blk, dst_rep):
    t, repeat = NP[dtype], 3
    per_block = 32 // t().itemsize
    src = np.arange(1, 8 * repeat + 1).astype(t)
    out = np.zeros(((repeat - 1) * dst_rep + 7 * dst_blk + 1) * per_block + per_block, t)
    want = out.copy()
    for k in range(repeat):
        for j in range(8):
            start = (k * dst_rep + j * dst_blk) * per_block
            want[start : start + per_block] = src[k * 8 + j]
    got, _ = emu.vec("Brcb", dtype, in0=src, out=out, repeat=repeat, dst_blk=dst_blk, dst_rep=dst_rep)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", ["half", "float"])
def test_brcb_writes_in_one_bank_group_take_8_beats_a_repeat(emu, dtype):
    # CANN's bank guide (NPU arch 2201): 8 blocks written into one bank group take 8 beats. A dst block
    # stride of 16 rows puts a repeat's 8 blocks in one group; 1 spreads them over 8 (at most one more
    # beat, where the source row shares a bank with a write). The model prices Brcb's beats
    # (emu/runtime/ub_banks.cpp); its conflict-free rate is 1 a repeat.
    from ascend_glm5 import perf

    t, repeat = NP[dtype], 16
    per_block = 32 // t().itemsize
    src = np.arange(8 * repeat).astype(t)
    conflict = {}
    for dst_blk, dst_rep in ((16, 1), (1, 8)):
        out = np.zeros(((repeat - 1) * dst_rep + 7 * dst_blk + 1) * per_block, t)
        with perf.tracing() as traces:
            emu.vec("Brcb", dtype, in0=src, out=out, repeat=repeat, dst_blk=dst_blk, dst_rep=dst_rep)
        rep = perf.replay(traces[-1], "Ascend910B1")
        conflict[dst_blk] = rep.bank_conflict_cycles.get("Brcb", 0.0)
    assert 7 * (repeat - 1) <= conflict[16] <= 7 * (repeat - 1) + 2  # the first repeat writes nothing yet
    assert conflict[1] <= repeat
