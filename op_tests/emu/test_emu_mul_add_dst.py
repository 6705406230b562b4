"""MulAddDst (dst = src0 * src1 + dst) against numpy: every overload CANN 8.5 declares for A2/A3 (count form,
continuous and bit masks with repeats and strides, a broadcast src1 with repeat stride 1 as kernels weight
rows with it, isSetMask = false under the registers), its three (dst, src) pairs with inf / NaN / overflow,
and the run-time rules (the mask range, bounds)."""

from __future__ import annotations

import numpy as np
import pytest

from ascend_glm5.perf import costs

NP = {"half": np.float16, "float": np.float32}
PAIRS = [("half", "half"), ("float", "float"), ("float", "half")]  # (dst, src), MulAddDst.md table 3


def mla_ref(src0, src1, dst, dst_t):
    """dst + src0 * src1 with the product rounded to the dst type, then the sum (no FMA)."""
    t = NP[dst_t]
    prod = (src0.astype(np.float32) * src1.astype(np.float32)).astype(t)  # exact in fp32 for half x half
    return (prod.astype(np.float32) + dst.astype(np.float32)).astype(t) if t == np.float16 else prod + dst


def data(dst_t, src_t, n, seed):
    rng = np.random.default_rng(seed)
    s0, s1 = (rng.uniform(-4, 4, n).astype(NP[src_t]) for _ in range(2))
    return s0, s1, rng.uniform(-4, 4, n).astype(NP[dst_t])


def sizes(dst_t, src_t):
    return np.dtype(NP[dst_t]).itemsize, np.dtype(NP[src_t]).itemsize


def assert_lanes_of_bits(emu, got, s0, s1, dst, dst_t, src_t, bits, srep):
    """Two repeats under a bit mask: each active lane is mla_ref of its src lanes (src repeat srep blocks)."""
    d_b, s_b = sizes(dst_t, src_t)
    r, lane = emu.active_lanes(256 // d_b, 2, bits=bits)
    di, si = emu.elem_index(r, lane, d_b), emu.elem_index(r, lane, s_b, 1, srep)
    want = dst.copy()
    want[di] = mla_ref(s0[si], s1[si], dst[di], dst_t)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dst_t,src_t", PAIRS)
@pytest.mark.parametrize("count", [1, 77, 300])
def test_mul_add_dst_count_form(emu, dst_t, src_t, count):
    s0, s1, dst = data(dst_t, src_t, 512, count)
    got, _ = emu.vec("MulAddDst", dst_t, dtype2=src_t, in0=s0, in1=s1, out=dst, count=count)
    want = dst.copy()
    want[:count] = mla_ref(s0[:count], s1[:count], dst[:count], dst_t)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dst_t,src_t", PAIRS)
def test_mul_add_dst_mask_forms_with_strides(emu, dst_t, src_t):
    d_b, s_b = sizes(dst_t, src_t)
    lanes = 256 // d_b
    s0, s1, dst = data(dst_t, src_t, 4096, 7)
    # Continuous mask (lanes - 5), 3 repeats: dst blocks 2 apart and repeats 16 apart, src0 repeats 9 apart,
    # src1 one block broadcast per repeat (block stride 0, repeat stride 1), as LI weights its head rows.
    mask, rep = lanes - 5, 3
    got, _ = emu.vec("MulAddDst", dst_t, dtype2=src_t, in0=s0, in1=s1, out=dst, form="mask", mask=mask, repeat=rep,
                     dst_blk=2, dst_rep=16, src0_rep=9, src1_blk=0, src1_rep=1)
    r, lane = emu.active_lanes(lanes, rep, mask=mask)
    di, i0, i1 = emu.elem_index(r, lane, d_b, 2, 16), emu.elem_index(r, lane, s_b, 1, 9), emu.elem_index(r, lane, s_b, 0, 1)
    want = dst.copy()
    want[di] = mla_ref(s0[i0], s1[i1], dst[di], dst_t)
    np.testing.assert_array_equal(got, want)
    # Bit mask: every third lane, 2 repeats; float <- half reads 4 src blocks a repeat (src rep 4).
    on = [i for i in range(lanes) if i % 3 == 0]
    bits = (sum(1 << i for i in on if i < 64), sum(1 << (i - 64) for i in on if i >= 64))
    srep = 4 if s_b < d_b else 8
    got, _ = emu.vec("MulAddDst", dst_t, dtype2=src_t, in0=s0, in1=s1, out=dst, form="bits", bits=bits, repeat=2,
                     src0_rep=srep, src1_rep=srep)
    assert_lanes_of_bits(emu, got, s0, s1, dst, dst_t, src_t, bits, srep)


@pytest.mark.parametrize("dst_t,src_t", PAIRS)
def test_mul_add_dst_without_set_mask_runs_under_the_registers(emu, dst_t, src_t):
    d_b, s_b = sizes(dst_t, src_t)
    lanes, srep = 256 // d_b, 4 if s_b < d_b else 8
    s0, s1, dst = data(dst_t, src_t, 1024, 3)
    # Counter mode: 150 elements whatever the repeat count.
    got, _ = emu.vec("MulAddDst", dst_t, dtype2=src_t, in0=s0, in1=s1, out=dst, form="counter_regs", count=150,
                     repeat=1, src0_rep=srep, src1_rep=srep)
    want = dst.copy()
    want[:150] = mla_ref(s0[:150], s1[:150], dst[:150], dst_t)
    np.testing.assert_array_equal(got, want)
    # A lane mask in the registers: lanes 0..9 and the top lane, 2 repeats.
    bits = ((1 << 10) - 1 | (1 << 63 if lanes == 64 else 0), 1 << 63 if lanes == 128 else 0)
    got, _ = emu.vec("MulAddDst", dst_t, dtype2=src_t, in0=s0, in1=s1, out=dst, form="mask_regs", bits=bits, repeat=2,
                     src0_rep=srep, src1_rep=srep)
    assert_lanes_of_bits(emu, got, s0, s1, dst, dst_t, src_t, bits, srep)


@pytest.mark.parametrize("dst_t,src_t", PAIRS)
def test_mul_add_dst_inf_nan_and_overflow(emu, dst_t, src_t):
    big = 60000.0 if src_t == "half" else 3e38
    s0 = np.array([np.inf, -np.inf, np.nan, 1.0, big, -big, 0.0, 1.0] * 8, NP[src_t])
    s1 = np.array([2.0, 2.0, 1.0, 1.0, 2.0, 2.0, np.inf, -1.0] * 8, NP[src_t])
    dst = np.array([1.0, np.inf, 0.0, np.nan, big, -big, 1.0, np.inf] * 8, NP[dst_t])
    with np.errstate(all="ignore"):
        want = mla_ref(s0, s1, dst, dst_t)
    got, _ = emu.vec("MulAddDst", dst_t, dtype2=src_t, in0=s0, in1=s1, out=dst, count=64)
    np.testing.assert_array_equal(got, want)  # NaN positions must match too
    assert np.isnan(got[1]) and np.isnan(got[2]) and np.isnan(got[3]) and np.isnan(got[6])  # inf - inf, 0 * inf
    if dst_t == "half":
        assert np.isinf(got[4]) and got[4] > 0  # 60000 * 2 + 60000 overflows half


def test_mul_add_dst_rules(emu):
    s0, s1, dst = data("float", "half", 256, 1)
    # float <- half runs 64 lanes a repeat (the dst type's): a continuous mask of 128 is out of range.
    with pytest.raises(emu.EmuError, match=r"MulAddDst.*continuous mask 128 outside \[1, 64\]"):
        emu.vec("MulAddDst", "float", dtype2="half", in0=s0, in1=s1, out=dst, form="mask", mask=128, repeat=1)
    # 300 elements do not fit the 256-element dst buffer.
    with pytest.raises(emu.EmuError, match=r"MulAddDst"):
        emu.vec("MulAddDst", "float", dtype2="half", in0=s0, in1=s1, out=dst, count=300)


def test_mul_add_dst_has_a_cost_row():
    assert "MulAddDst" in costs.VECTOR and "kVmla" in costs.VECTOR["MulAddDst"].source
