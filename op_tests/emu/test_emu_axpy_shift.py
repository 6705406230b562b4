"""Axpy and ShiftRight against numpy: every overload CANN 8.5 declares for A2/A3 (count form, continuous
and bit masks with repeats and strides, isSetMask = false under the registers), Axpy's three (dst, src)
pairs with inf / NaN / overflow, ShiftRight's logical / arithmetic rule, shifts of 0 and the full bit
width, roundEn, and the run-time rules (the shift range, the mask range, bounds)."""

from __future__ import annotations

import numpy as np
import pytest

from ascend_glm5.perf import costs

NP = {"half": np.float16, "float": np.float32, "int16": np.int16, "uint16": np.uint16, "int32": np.int32,
      "uint32": np.uint32}
AXPY_PAIRS = [("half", "half"), ("float", "float"), ("float", "half")]  # (dst, src), Axpy.md table 3


def axpy_ref(src, scalar, dst, dst_t):
    """dst + src * scalar with the product rounded to the dst type, then the sum (no FMA)."""
    t = NP[dst_t]
    prod = (src.astype(np.float32) * np.float32(scalar)).astype(t)  # exact in fp32 for half x half
    return (prod.astype(np.float32) + dst.astype(np.float32)).astype(t) if t == np.float16 else prod + dst


def axpy_data(dst_t, src_t, n, seed):
    rng = np.random.default_rng(seed)
    src = rng.uniform(-4, 4, n).astype(NP[src_t])
    dst = rng.uniform(-4, 4, n).astype(NP[dst_t])
    return src, dst


def lanes_of(dst_t, src_t):
    return 256 // max(np.dtype(NP[dst_t]).itemsize, np.dtype(NP[src_t]).itemsize)


@pytest.mark.parametrize("dst_t,src_t", AXPY_PAIRS)
@pytest.mark.parametrize("count", [1, 77, 300])
def test_axpy_count_form(emu, dst_t, src_t, count):
    src, dst = axpy_data(dst_t, src_t, 512, count)
    scalar = -1.375
    got, _ = emu.vec("Axpy", dst_t, dtype2=src_t, in0=src, out=dst, count=count, scalar=scalar)
    want = dst.copy()
    want[:count] = axpy_ref(src[:count], np.asarray(scalar, NP[src_t]), dst[:count], dst_t)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dst_t,src_t", AXPY_PAIRS)
def test_axpy_mask_forms_with_strides(emu, dst_t, src_t):
    lanes = lanes_of(dst_t, src_t)
    d_b, s_b = np.dtype(NP[dst_t]).itemsize, np.dtype(NP[src_t]).itemsize
    src, dst = axpy_data(dst_t, src_t, 4096, 7)
    sc = np.asarray(0.8125, NP[src_t])
    # Continuous mask (lanes - 5), 3 repeats, dst blocks 2 apart and repeats 16 apart, src repeats 9 apart.
    mask, rep = lanes - 5, 3
    got, _ = emu.vec("Axpy", dst_t, dtype2=src_t, in0=src, out=dst, form="mask", mask=mask, repeat=rep,
                     scalar=float(sc), dst_blk=2, dst_rep=16, src0_rep=9)
    r, lane = emu.active_lanes(lanes, rep, mask=mask)
    di, si = emu.elem_index(r, lane, d_b, 2, 16), emu.elem_index(r, lane, s_b, 1, 9)
    want = dst.copy()
    want[di] = axpy_ref(src[si], sc, dst[di], dst_t)
    np.testing.assert_array_equal(got, want)
    # Bit mask: every third lane, 2 repeats; float <- half reads 4 src blocks a repeat (src rep 4).
    on = [i for i in range(lanes) if i % 3 == 0]
    bits = (sum(1 << i for i in on if i < 64), sum(1 << (i - 64) for i in on if i >= 64))
    srep = 4 if s_b < d_b else 8
    got, _ = emu.vec("Axpy", dst_t, dtype2=src_t, in0=src, out=dst, form="bits", bits=bits, repeat=2,
                     scalar=float(sc), src0_rep=srep)
    r, lane = emu.active_lanes(lanes, 2, bits=bits)
    di, si = emu.elem_index(r, lane, d_b), emu.elem_index(r, lane, s_b, 1, srep)
    want = dst.copy()
    want[di] = axpy_ref(src[si], sc, dst[di], dst_t)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dst_t,src_t", AXPY_PAIRS)
def test_axpy_without_set_mask_runs_under_the_registers(emu, dst_t, src_t):
    lanes = lanes_of(dst_t, src_t)
    srep = 4 if NP[src_t] != NP[dst_t] else 8
    src, dst = axpy_data(dst_t, src_t, 1024, 3)
    sc = np.asarray(2.5, NP[src_t])
    # Counter mode: 150 elements whatever the repeat count (isSetMask = false, as kernels run long tails).
    got, _ = emu.vec("Axpy", dst_t, dtype2=src_t, in0=src, out=dst, form="counter_regs", count=150, repeat=1,
                     scalar=float(sc), src0_rep=srep)
    want = dst.copy()
    want[:150] = axpy_ref(src[:150], sc, dst[:150], dst_t)
    np.testing.assert_array_equal(got, want)
    # A lane mask in the registers: lanes 0..9 and the top lane, 2 repeats.
    bits = ((1 << 10) - 1 | (1 << 63 if lanes == 64 else 0), 1 << 63 if lanes == 128 else 0)
    got, _ = emu.vec("Axpy", dst_t, dtype2=src_t, in0=src, out=dst, form="mask_regs", bits=bits, repeat=2,
                     scalar=float(sc), src0_rep=srep)
    r, lane = emu.active_lanes(lanes, 2, bits=bits)
    di = emu.elem_index(r, lane, np.dtype(NP[dst_t]).itemsize)
    si = emu.elem_index(r, lane, np.dtype(NP[src_t]).itemsize, 1, srep)
    want = dst.copy()
    want[di] = axpy_ref(src[si], sc, dst[di], dst_t)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dst_t,src_t", AXPY_PAIRS)
def test_axpy_inf_nan_and_overflow(emu, dst_t, src_t):
    big = 60000.0 if src_t == "half" else 3e38
    src = np.array([np.inf, -np.inf, np.nan, 1.0, big, -big, 0.0, 1.0] * 8, NP[src_t])
    dst = np.array([1.0, np.inf, 0.0, np.nan, big, -big, -np.inf, np.inf] * 8, NP[dst_t])
    with np.errstate(all="ignore"):
        want = axpy_ref(src, np.asarray(2.0, NP[src_t]), dst, dst_t)
    got, _ = emu.vec("Axpy", dst_t, dtype2=src_t, in0=src, out=dst, count=64, scalar=2.0)
    np.testing.assert_array_equal(got, want)  # NaN positions must match too
    assert np.isnan(got[2]) and np.isnan(got[3]) and np.isnan(got[1])  # inf + -inf is NaN
    if dst_t == "half":
        assert np.isinf(got[4]) and got[4] > 0  # 60000 * 2 + 60000 overflows half


def test_axpy_rules(emu):
    src, dst = axpy_data("float", "half", 256, 1)
    # float <- half runs 64 lanes a repeat: a continuous mask of 128 is out of range.
    with pytest.raises(emu.EmuError, match=r"Axpy.*continuous mask 128 outside \[1, 64\]"):
        emu.vec("Axpy", "float", dtype2="half", in0=src, out=dst, form="mask", mask=128, repeat=1, scalar=1.0)
    # 300 elements do not fit the 256-element dst buffer.
    with pytest.raises(emu.EmuError, match=r"Axpy"):
        emu.vec("Axpy", "float", dtype2="half", in0=src, out=dst, count=300, scalar=1.0)


def test_axpy_and_shift_right_have_vector_costs():
    # Both are profiled in pto-isa's cost table (kVaxpyProfile, kVshrProfile), so no default entry.
    assert costs.VECTOR["Axpy"].source.endswith("kVaxpyProfile")
    assert costs.VECTOR["ShiftRight"].source.endswith("kVshrProfile")


# ---- ShiftRight ---------------------------------------------------------------------------------

def int_data(t, n, seed):
    info = np.iinfo(NP[t])
    return np.random.default_rng(seed).integers(info.min, info.max, n, dtype=NP[t], endpoint=True)


def shr_ref(x, s, round_en=False):
    t = x.dtype
    if np.issubdtype(t, np.unsignedinteger):  # logical; roundEn has no effect (ShiftRight.md)
        return (x.astype(np.uint64) >> np.uint64(s)).astype(t)
    w = x.astype(np.int64)
    q = w >> s
    if round_en and s > 0:
        q = q + ((w >> (s - 1)) & 1)
    return q.astype(t)


@pytest.mark.parametrize("t", ["int16", "uint16", "int32", "uint32"])
@pytest.mark.parametrize("which", ["zero", "one", "mid", "width-1", "width"])
def test_shift_right_count_form(emu, t, which):
    bits = np.dtype(NP[t]).itemsize * 8
    s = {"zero": 0, "one": 1, "mid": 5, "width-1": bits - 1, "width": bits}[which]
    x = int_data(t, 512, s)
    x[:4] = np.array([-1, np.iinfo(NP[t]).min, np.iinfo(NP[t]).max, 17]).astype(NP[t])  # edge values
    out = np.full(512, 0x5A, NP[t])
    got, _ = emu.vec("ShiftRight", t, in0=x, out=out, count=300, scalar=s)
    want = out.copy()
    want[:300] = shr_ref(x[:300], s)
    np.testing.assert_array_equal(got, want)
    if t.startswith("int") and s == bits:
        assert got[0] == -1 and got[1] == -1 and got[2] == 0  # all sign bits


def test_shift_right_examples_of_the_doc(emu):
    # ShiftRight.md: 0b1010101010101010 >> 1 is 0b0101... (uint16) and 0b1101... (int16); >> 3 is 0b1111010101010101.
    u = np.full(128, 0b1010101010101010, np.uint16)
    got, _ = emu.vec("ShiftRight", "uint16", in0=u, out=np.zeros(128, np.uint16), count=128, scalar=1)
    assert got[0] == 0b0101010101010101
    i = u.view(np.int16)
    got, _ = emu.vec("ShiftRight", "int16", in0=i, out=np.zeros(128, np.int16), count=128, scalar=1)
    assert got.view(np.uint16)[0] == 0b1101010101010101
    got, _ = emu.vec("ShiftRight", "int16", in0=i, out=np.zeros(128, np.int16), count=128, scalar=3)
    assert got.view(np.uint16)[0] == 0b1111010101010101
    # roundEn: 17 >> 5 with rounding is 1 (the last bit shifted out, bit 4, is set).
    x = np.full(128, 17, np.int16)
    got, _ = emu.vec("ShiftRight", "int16", in0=x, out=np.zeros(128, np.int16), form="mask", mask=128, repeat=1,
                     scalar=5, aux=1)
    assert got[0] == 1


@pytest.mark.parametrize("t", ["int16", "uint16", "int32", "uint32"])
@pytest.mark.parametrize("round_en", [0, 1])
@pytest.mark.parametrize("u_form", [0, 2])
def test_shift_right_mask_forms_with_strides(emu, t, round_en, u_form):
    eb = np.dtype(NP[t]).itemsize
    lanes = 256 // eb
    x = int_data(t, 4096, 11)
    out = np.zeros(4096, NP[t])
    s = 3
    got, _ = emu.vec("ShiftRight", t, in0=x, out=out, form="mask", mask=lanes - 7, repeat=3, scalar=s, aux=round_en,
                     aux2=u_form, dst_blk=2, dst_rep=16, src0_blk=1, src0_rep=9)
    r, lane = emu.active_lanes(lanes, 3, mask=lanes - 7)
    di, si = emu.elem_index(r, lane, eb, 2, 16), emu.elem_index(r, lane, eb, 1, 9)
    want = out.copy()
    want[di] = shr_ref(x[si], s, bool(round_en))
    np.testing.assert_array_equal(got, want)
    on = [i for i in range(lanes) if i % 5 != 1]
    bits = (sum(1 << i for i in on if i < 64), sum(1 << (i - 64) for i in on if i >= 64))
    got, _ = emu.vec("ShiftRight", t, in0=x, out=out, form="bits", bits=bits, repeat=2, scalar=s + 8, aux=round_en,
                     aux2=u_form)
    r, lane = emu.active_lanes(lanes, 2, bits=bits)
    idx = emu.elem_index(r, lane, eb)
    want = out.copy()
    want[idx] = shr_ref(x[idx], s + 8, bool(round_en))
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("t", ["int16", "int32"])
def test_shift_right_round_is_the_last_bit_shifted_out(emu, t):
    x = np.array([17, -17, 16, -16, 15, -15, 1, -1, np.iinfo(NP[t]).max, np.iinfo(NP[t]).min] * 13, NP[t])[:128]
    bits = np.dtype(NP[t]).itemsize * 8
    for s in (1, 5, bits):
        got, _ = emu.vec("ShiftRight", t, in0=x, out=np.zeros(128, NP[t]), form="mask", mask=256 // (bits // 8),
                         repeat=128 * (bits // 8) // 256, scalar=s, aux=1)
        np.testing.assert_array_equal(got, shr_ref(x, s, True))


@pytest.mark.parametrize("t", ["int16", "uint32"])
def test_shift_right_without_set_mask(emu, t):
    eb = np.dtype(NP[t]).itemsize
    lanes = 256 // eb
    x = int_data(t, 1024, 5)
    out = np.zeros(1024, NP[t])
    # Mask forms with isSetMask = false: counter mode runs `count` elements whatever the repeat.
    got, _ = emu.vec("ShiftRight", t, in0=x, out=out, form="counter_regs", count=333, repeat=1, scalar=2)
    want = out.copy()
    want[:333] = shr_ref(x[:333], 2)
    np.testing.assert_array_equal(got, want)
    # The count form with isSetMask = false ignores `count` (count = 1 here) and runs one repeat under the
    # registers: in counter mode the register's element count ...
    got, _ = emu.vec("ShiftRight", t, in0=x, out=out, form="counter_regs", count=1, mask=200, scalar=4, aux2=1)
    want = out.copy()
    want[:200] = shr_ref(x[:200], 4)
    np.testing.assert_array_equal(got, want)
    # ... and in normal mode one repeat under the lane mask.
    bits = (0xF0F0F0F0F0F0F0F0, 0x3 if lanes == 128 else 0)
    got, _ = emu.vec("ShiftRight", t, in0=x, out=out, form="mask_regs", count=1000, bits=bits, scalar=4, aux2=1)
    r, lane = emu.active_lanes(lanes, 1, bits=bits)
    want = out.copy()
    want[lane] = shr_ref(x[lane], 4)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("t,s", [("int16", 17), ("int16", -1), ("uint16", 17), ("int32", 33), ("int32", -3),
                                 ("uint32", 33)])
def test_shift_right_amount_out_of_range_fails(emu, t, s):
    x = int_data(t, 128, 1)
    with pytest.raises(emu.EmuError, match=rf"ShiftRight.*shift {s} outside \[0, {np.dtype(NP[t]).itemsize * 8}\]"):
        emu.vec("ShiftRight", t, in0=x, out=np.zeros(128, NP[t]), count=64, scalar=s)
    with pytest.raises(emu.EmuError, match=r"ShiftRight.*param-range"):
        emu.vec("ShiftRight", t, in0=x, out=np.zeros(128, NP[t]), form="mask", mask=8, repeat=1, scalar=s, aux=1)
