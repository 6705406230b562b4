"""Axpy against numpy: every overload CANN 8.5 declares for A2/A3 (count form, continuous and bit masks
with repeats and strides, isSetMask = false under the registers), the three (dst, src) pairs with
inf / NaN / overflow, and the run-time rules (the mask range, bounds)."""

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


def test_axpy_has_a_vector_cost():
    # Profiled in pto-isa's cost table (kVaxpyProfile), so no default entry.
    assert costs.VECTOR["Axpy"].source.endswith("kVaxpyProfile")
