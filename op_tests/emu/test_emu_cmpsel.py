"""Compare / CompareScalar (bit masks), Select (all three SELMODEs, count and mask/repeat forms),
GatherMask (built-in and user patterns, normal and counter mode) and Gather against numpy."""

import numpy as np
import pytest

NP = {"half": np.float16, "float": np.float32, "int32": np.int32, "uint16": np.uint16, "uint32": np.uint32}
LANES = {"half": 128, "float": 64, "int32": 64, "uint16": 128, "uint32": 64}
CMP = {"LT": np.less, "GT": np.greater, "EQ": np.equal, "LE": np.less_equal, "GE": np.greater_equal, "NE": np.not_equal}
CMP_MODES = list(CMP)
SEL_MODES = ["CMPMASK_SPR", "TENSOR_SCALAR", "TENSOR_TENSOR"]


def bits_of(cond):
    return np.packbits(np.asarray(cond, bool), bitorder="little")


def mask_bit(mask_bytes, i):
    return (mask_bytes[i // 8] >> (i % 8)) & 1 == 1


def pair(dtype, n, seed):
    """Two operands with many equal elements, and NaNs for floats."""
    rng = np.random.default_rng(seed)
    a, b = rng.integers(-3, 4, n).astype(NP[dtype]), rng.integers(-3, 4, n).astype(NP[dtype])
    if dtype in ("half", "float"):
        a[5], b[6], a[7], b[7] = np.nan, np.nan, np.nan, np.nan
    return a, b


@pytest.mark.parametrize("mode", CMP_MODES)
@pytest.mark.parametrize("dtype", ["half", "float"])
def test_compare(emu, dtype, mode):
    n = 3 * LANES[dtype]
    a, b = pair(dtype, n, 1)
    with np.errstate(invalid="ignore"):
        want = bits_of(CMP[mode](a, b))
    out = np.full(n // 8 + 32, 0xAA, np.uint8)
    got, _ = emu.vec("Compare", dtype, in0=a, in1=b, out=out, count=n, aux=CMP_MODES.index(mode))
    np.testing.assert_array_equal(got[: n // 8], want)
    assert (got[n // 8 :] == 0xAA).all()


@pytest.mark.parametrize("mode", CMP_MODES)
@pytest.mark.parametrize("dtype", ["half", "float"])
def test_compare_scalar(emu, dtype, mode):
    n = 2 * LANES[dtype]
    a, _ = pair(dtype, n, 2)
    got, _ = emu.vec("CompareScalar", dtype, in0=a, out=np.zeros(n // 8, np.uint8), count=n, scalar=1.0,
                     aux=CMP_MODES.index(mode))
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(got, bits_of(CMP[mode](a, NP[dtype](1))))


# Poison bit i % 32 of the pattern 0xFFC0FFC0 (bytes C0 FF C0 FF): what a lane the mask disables writes.
POISON_BITS = np.unpackbits(np.array([0xC0, 0xFF, 0xC0, 0xFF], np.uint8), bitorder="little").astype(bool)


@pytest.mark.parametrize("op", ["Compare", "CompareScalar"])
@pytest.mark.parametrize("dtype", ["half", "float"])
def test_compare_count_form_runs_under_the_mask_register(emu, op, dtype):
    # Compare.md: on A2/A3 the mask argument is reserved; dav_c220's count form (CompareCompute) issues
    # vcmpv without setting the mask. A lane the register disables writes an undefined bit (poison).
    lanes, n = LANES[dtype], 3 * LANES[dtype]
    a, b = pair(dtype, n, 4)
    rng = np.random.default_rng(5)
    bits = (int(rng.integers(1, 2**63)), int(rng.integers(1, 2**63)) if lanes == 128 else 0)
    with np.errstate(invalid="ignore"):
        cmp = CMP["LE"](a, b if op == "Compare" else NP[dtype](0))
    lane = np.arange(n) % lanes
    on = (np.array(bits, dtype=np.uint64)[lane // 64] >> (lane % 64).astype(np.uint64)) & np.uint64(1) == 1
    want = bits_of(np.where(on, cmp, POISON_BITS[np.arange(n) % 32]))
    got, _ = emu.vec(op, dtype, in0=a, in1=b, out=np.zeros(n // 8, np.uint8), count=n, form="mask_regs", bits=bits,
                     aux=CMP_MODES.index("LE"))
    np.testing.assert_array_equal(got, want)
    assert (want != bits_of(cmp)).any()  # the plain comparison (the old emulator) is wrong here


@pytest.mark.parametrize("dtype", ["half", "float"])
def test_compare_count_form_in_counter_mode_compares_the_register_count(emu, dtype):
    # In counter mode every vcmpv compares MASK elements whatever its repeat count: here fewer than `count`.
    lanes, n, active = LANES[dtype], 4 * LANES[dtype], LANES[dtype] + 5
    a, b = pair(dtype, n, 6)
    with np.errstate(invalid="ignore"):
        cmp = CMP["GT"](a, b)
    written = 2 * lanes  # the repeats the register's count touches
    want = np.full(n // 8, 0x5A, np.uint8)
    want[: written // 8] = bits_of(np.where(np.arange(written) < active, cmp[:written],
                                            POISON_BITS[np.arange(written) % 32]))
    got, _ = emu.vec("Compare", dtype, in0=a, in1=b, out=np.full(n // 8, 0x5A, np.uint8), count=n,
                     form="counter_regs", mask=active, aux=CMP_MODES.index("GT"))
    np.testing.assert_array_equal(got, want)


def test_compare_after_an_api_that_leaves_the_mask_undefined(emu):
    # ReduceMax's dav_c220 steps leave a mask of their own; the count-form Compare that follows would use it.
    with pytest.raises(emu.EmuError, match=r"Compare: mask-state: runs under the vector mask register, which "
                                           r"ReduceMax left undefined"):
        emu.vec("Compare", "float", in0=np.ones(64, np.float32), in1=np.ones(64, np.float32),
                in2=np.zeros(16, np.float32), out=np.zeros(8, np.uint8), count=64, aux2=1)


def test_compare_int32_eq_only(emu):
    a, b = pair("int32", 64, 3)
    got, _ = emu.vec("Compare", "int32", in0=a, in1=b, out=np.zeros(8, np.uint8), count=64, aux=CMP_MODES.index("EQ"))
    np.testing.assert_array_equal(got, bits_of(a == b))
    with pytest.raises(emu.EmuError, match=r"Compare: param-range: int32_t supports only CMPMODE::EQ"):
        emu.vec("Compare", "int32", in0=a, in1=b, out=np.zeros(8, np.uint8), count=64, aux=CMP_MODES.index("LT"))


def test_compare_count_must_cover_whole_repeats(emu):
    x = np.zeros(96, np.float32)
    error = r"kernel 'vec_kernel', core AIV 0: Compare: compare-count: count 96 x 4 bytes"
    with pytest.raises(emu.EmuError, match=error):
        emu.vec("Compare", "float", in0=x, in1=x, out=np.zeros(32, np.uint8), count=96)


@pytest.mark.parametrize("mode", SEL_MODES)
@pytest.mark.parametrize("dtype", ["half", "float"])
def test_select_count_form(emu, dtype, mode):
    lanes, n = LANES[dtype], 2 * LANES[dtype] + 40
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=n).astype(NP[dtype]), rng.normal(size=n).astype(NP[dtype])
    sel = rng.integers(0, 256, 64).astype(np.uint8)
    scalar = mode == "TENSOR_SCALAR"
    # Mode 0 reuses the first `lanes` bits in every repeat; modes 1 and 2 walk through the mask.
    bit = np.array([mask_bit(sel, i % lanes if mode == "CMPMASK_SPR" else i) for i in range(n)])
    want = np.concatenate([np.where(bit, a, NP[dtype](-7) if scalar else b), np.full(16, 5, NP[dtype])])
    got, _ = emu.vec("Select", dtype, in0=a, in1=b, in2=sel, out=np.full(n + 16, 5, NP[dtype]), count=n,
                     aux=SEL_MODES.index(mode), aux2=int(scalar), scalar=-7.0)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("form", ["mask", "bits"])
@pytest.mark.parametrize("mode", SEL_MODES)
def test_select_repeat_forms(emu, mode, form):
    dtype, lanes, repeat = "float", 64, 3
    kw = {"mask": 50} if form == "mask" else {"bits": (0xF0F0_0000_FFFF_0003, 0)}
    r, lane = emu.active_lanes(lanes, repeat, **kw)
    di, i0, i1 = (emu.elem_index(r, lane, 4, blk, rep) for blk, rep in [(2, 17), (1, 8), (1, 10)])
    rng = np.random.default_rng(5)
    a, b = (rng.normal(size=int(i.max()) + 64).astype(np.float32) for i in (i0, i1))
    sel = rng.integers(0, 256, 64).astype(np.uint8)
    scalar = mode == "TENSOR_SCALAR"
    bit = np.array([mask_bit(sel, lane[k] + (0 if mode == "CMPMASK_SPR" else r[k] * lanes)) for k in range(r.size)])
    out = np.full(int(di.max()) + 64, 5, np.float32)
    want = out.copy()
    want[di] = np.where(bit, a[i0], np.float32(-7) if scalar else b[i1])
    got, _ = emu.vec("Select", dtype, form=form, in0=a, in1=b, in2=sel, out=out, repeat=repeat,
                     aux=SEL_MODES.index(mode), aux2=int(scalar), scalar=-7.0, mask=kw.get("mask", 0),
                     bits=kw.get("bits", (0, 0)), dst_blk=2, dst_rep=17, src1_rep=10)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("mode,scalar", [("TENSOR_SCALAR", 0), ("TENSOR_TENSOR", 1), ("CMPMASK_SPR", 1)])
def test_select_mode_must_match_src1(emu, mode, scalar):
    with pytest.raises(emu.EmuError, match=r"Select: sel-mode: SELMODE"):
        x = np.zeros(64, np.float32)
        emu.vec("Select", "float", in0=x, in1=x, in2=np.zeros(32, np.uint8), out=x, count=64,
                aux=SEL_MODES.index(mode), aux2=scalar)


PATTERNS = {1: lambda i: i % 2 == 0, 2: lambda i: i % 2 == 1, 3: lambda i: i % 4 == 0, 4: lambda i: i % 4 == 1,
            5: lambda i: i % 4 == 2, 6: lambda i: i % 4 == 3, 7: lambda i: True}


@pytest.mark.parametrize("pattern", list(PATTERNS))
@pytest.mark.parametrize("dtype", ["half", "uint32"])
def test_gather_mask_builtin_patterns(emu, dtype, pattern):
    lanes, repeat, rep = LANES[dtype], 2, 10
    src = np.arange(1, lanes * 4).astype(NP[dtype])
    start = [r * rep * 32 // src.itemsize for r in range(repeat)]
    keep = [src[start[r] + i] for r in range(repeat) for i in range(lanes) if PATTERNS[pattern](i)]
    out = np.zeros(lanes * repeat + 16, NP[dtype])
    got, kept = emu.vec("GatherMask", dtype, in0=src, out=out, repeat=repeat, aux=pattern, src0_blk=1, src0_rep=rep)
    assert kept == len(keep)
    np.testing.assert_array_equal(got[: len(keep)], keep)
    assert (got[len(keep) :] == 0).all()


@pytest.mark.parametrize("reduce_mode,mask", [(0, 0), (1, 70)])
def test_gather_mask_user_pattern(emu, reduce_mode, mask):
    # uint32 data, a uint32 pattern tensor; counter mode runs `mask` elements per repeat (A2 configuration 1).
    lanes, repeat, src0_rep, src1_rep = 64, 2, 4, 1
    per_repeat = mask if reduce_mode else lanes
    rng = np.random.default_rng(6)
    src = np.arange(1, 400).astype(np.uint32)
    pattern = rng.integers(0, 256, 64).astype(np.uint8)
    keep = [src[r * src0_rep * 8 + i] for r in range(repeat) for i in range(per_repeat)
            if mask_bit(pattern, r * src1_rep * 256 + i)]
    got, kept = emu.vec("GatherMask", "uint32", in0=src, in1=pattern, out=np.zeros(256, np.uint32), repeat=repeat,
                        aux=0, aux2=reduce_mode, mask=mask, src0_blk=1, src0_rep=src0_rep, src1_rep=src1_rep)
    assert kept == len(keep)
    np.testing.assert_array_equal(got[: len(keep)], keep)


@pytest.mark.parametrize("dtype", ["half", "float", "int32"])
def test_gather(emu, dtype):
    rng = np.random.default_rng(7)
    t = NP[dtype]
    src = rng.integers(-1000, 1000, 300).astype(t)
    base, n = 32, 150
    offsets = (rng.integers(0, 300 - base // t().itemsize, n) * t().itemsize).astype(np.uint32)
    got, _ = emu.vec("Gather", dtype, in0=src, in1=offsets, out=np.zeros(160, t), count=n, aux=base)
    np.testing.assert_array_equal(got[:n], src[(base + offsets) // t().itemsize])


@pytest.mark.parametrize("offset,error", [(2, r"Gather: alignment: byte offset 34"),
                                          (4000, r"Gather: local-bounds: src")])
def test_gather_bad_offset(emu, offset, error):
    offsets = np.zeros(8, np.uint32)
    offsets[3] = offset
    with pytest.raises(emu.EmuError, match=error):
        emu.vec("Gather", "float", in0=np.zeros(64, np.float32), in1=offsets, out=np.zeros(8, np.float32), count=8,
                aux=32)
