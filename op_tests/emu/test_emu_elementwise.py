"""Element-wise vector instructions of the emulator against numpy: binary, unary, tensor-scalar
and Duplicate, in count form and in the mask/repeat forms (continuous mask, bit mask, and the
isSetMask=false forms driven by the mask registers) with non-default strides."""

import numpy as np
import pytest

NP = {"half": np.float16, "float": np.float32, "int16": np.int16, "int32": np.int32}
LANES = {"half": 128, "float": 64, "int16": 128, "int32": 64}
FLOATS, ALL = ("half", "float"), ("half", "float", "int16", "int32")

BINARY = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide, "Max": np.maximum, "Min": np.minimum}
SCALAR = {"Adds": np.add, "Muls": np.multiply, "Maxs": np.maximum, "Mins": np.minimum}
UNARY = {"Exp": np.exp, "Ln": np.log, "Sqrt": np.sqrt, "Abs": np.abs, "Relu": lambda x: np.maximum(x, x.dtype.type(0))}
UNARY_TYPES = {"Exp": FLOATS, "Ln": FLOATS, "Sqrt": FLOATS, "Abs": FLOATS, "Relu": ("half", "float", "int32")}
# Exp and Ln: the NPU's accuracy is unpublished and the emulator uses the C library in fp32, so
# numpy may differ by an ulp of fp32 (which can flip an fp16 rounding).
TOLERANCE = {("Exp", "float"): 3e-7, ("Ln", "float"): 3e-7, ("Exp", "half"): 1e-3, ("Ln", "half"): 1e-3}


def data(dtype, n, seed, positive=False):
    rng = np.random.default_rng(seed)
    if dtype in FLOATS:
        x = rng.uniform(0.1 if positive else -4.0, 4.0, n)
    else:
        x = rng.integers(1 if positive else -100, 100, n)
    return x.astype(NP[dtype])


def check(got, want, op, dtype):
    tol = TOLERANCE.get((op, dtype))
    if tol:
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=tol, atol=0)
    else:
        np.testing.assert_array_equal(got, want)


def sentinel(dtype, n):
    return np.full(n, 7, NP[dtype])


BINARY_CASES = [(op, t) for op in BINARY for t in (FLOATS if op == "Div" else ALL)]


@pytest.mark.parametrize("op,dtype", BINARY_CASES)
def test_binary_count_form(emu, op, dtype):
    n = 300  # two full repeats and a partial one (half: 128 lanes, float: 64)
    a, b = data(dtype, n, 1), data(dtype, n, 2, positive=op == "Div")
    got, _ = emu.vec(op, dtype, in0=a, in1=b, out=sentinel(dtype, 320), count=n)
    check(got[:n], BINARY[op](a, b), op, dtype)
    assert (got[n:] == 7).all(), "lanes past count must stay untouched"


UNARY_CASES = [(op, t) for op in UNARY for t in UNARY_TYPES[op]]


@pytest.mark.parametrize("op,dtype", UNARY_CASES)
def test_unary_count_form(emu, op, dtype):
    n = 200
    a = data(dtype, n, 3, positive=op in ("Ln", "Sqrt"))
    got, _ = emu.vec(op, dtype, in0=a, out=sentinel(dtype, 224), count=n)
    check(got[:n], UNARY[op](a), op, dtype)
    assert (got[n:] == 7).all()


@pytest.mark.parametrize("op", list(SCALAR))
@pytest.mark.parametrize("dtype", ALL)
def test_scalar_count_form(emu, op, dtype):
    n, s = 130, -1.5 if dtype in FLOATS else -3
    a = data(dtype, n, 4)
    got, _ = emu.vec(op, dtype, in0=a, scalar=s, out=sentinel(dtype, 160), count=n)
    check(got[:n], SCALAR[op](a, NP[dtype](s)), op, dtype)
    assert (got[n:] == 7).all()


def test_half_arithmetic_rounds_once_to_nearest_even(emu):
    # 1 + 2^-11 is a tie between 1 and 1 + 2^-10 in fp16: it must round to even (1.0);
    # 1 + 3*2^-11 rounds up to 1 + 2^-9. Overflow gives inf, as IEEE.
    a = np.array([1, 1, 60000, -60000] + [0] * 124, np.float16)
    b = np.array([2.0**-11, 3 * 2.0**-11, 60000, -60000] + [0] * 124, np.float16)
    got, _ = emu.vec("Add", "half", in0=a, in1=b, out=sentinel("half", 128), count=128)
    assert got[:4].tolist() == [1.0, 1.0 + 2.0**-9, np.inf, -np.inf]


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Muls", "Adds"])
@pytest.mark.parametrize("dtype", ["int16", "int32"])
def test_integer_overflow_wraps(emu, op, dtype):
    # CTRL[53] = 0 truncates an overflowing integer result to its low bits (asc_set_ctrl.md).
    # numpy's fixed-width integers wrap the same way; the operands span the whole range.
    info, n = np.iinfo(NP[dtype]), 130
    rng = np.random.default_rng(11)
    a = rng.integers(info.min, info.max, n, endpoint=True).astype(NP[dtype])
    a[:2] = info.max, info.min
    if op in SCALAR:
        s = NP[dtype](info.max // 3 + 1)
        got, _ = emu.vec(op, dtype, in0=a, scalar=int(s), out=sentinel(dtype, 160), count=n)
        want = SCALAR[op](a, s)
    else:
        b = rng.integers(info.min, info.max, n, endpoint=True).astype(NP[dtype])
        b[:2] = info.max, info.max
        got, _ = emu.vec(op, dtype, in0=a, in1=b, out=sentinel(dtype, 160), count=n)
        want = BINARY[op](a, b)
    np.testing.assert_array_equal(got[:n], want)


def run_repeat_case(emu, op, dtype, form, strides, repeat=3, scalar=None):
    """A mask/repeat form with the given strides; returns (got, expected)."""
    lanes, eb = LANES[dtype], np.dtype(NP[dtype]).itemsize
    kw = {"mask": 37} if form == "mask" else {"bits": (0x8000_0000_F0F0_0F0F, 0x5555_0000_0000_0001)}
    if form == "counter_regs":
        kw = {"count": 2 * lanes + 11}
    r, lane = emu.active_lanes(lanes, repeat, **kw)
    dst_blk, src0_blk, src1_blk, dst_rep, src0_rep, src1_rep = strides
    di = emu.elem_index(r, lane, eb, dst_blk, dst_rep)
    i0 = emu.elem_index(r, lane, eb, src0_blk, src0_rep)
    i1 = emu.elem_index(r, lane, eb, src1_blk, src1_rep)
    size = lambda idx: int(idx.max()) + 64  # noqa: E731
    a, b = data(dtype, size(i0), 5, positive=op in ("Ln", "Sqrt")), data(dtype, size(i1), 6)
    out = sentinel(dtype, size(di))
    want = out.copy()
    if op in BINARY:
        want[di] = BINARY[op](a[i0], b[i1])
    elif op in SCALAR:
        want[di] = SCALAR[op](a[i0], NP[dtype](scalar))
    elif op == "Duplicate":
        want[di] = NP[dtype](scalar)
    else:
        want[di] = UNARY[op](a[i0])
    got, _ = emu.vec(op, dtype, form=form, in0=a, in1=b, out=out, repeat=repeat, scalar=scalar or 0.0,
                     count=kw.get("count", 0), mask=kw.get("mask", 0), bits=kw.get("bits", (0, 0)),
                     dst_blk=dst_blk, src0_blk=src0_blk, src1_blk=src1_blk, dst_rep=dst_rep, src0_rep=src0_rep,
                     src1_rep=src1_rep)
    return got, want


STRIDES = [(1, 1, 1, 8, 8, 8), (2, 1, 3, 16, 9, 24), (1, 2, 1, 10, 16, 0)]  # src1 repStride 0: re-read


@pytest.mark.parametrize("form", ["mask", "bits", "counter_regs", "mask_regs"])
@pytest.mark.parametrize("strides", STRIDES)
@pytest.mark.parametrize("op,dtype", [("Add", "half"), ("Mul", "float"), ("Max", "int16"), ("Sub", "int32")])
def test_binary_repeat_forms(emu, op, dtype, form, strides):
    got, want = run_repeat_case(emu, op, dtype, form, strides)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("form", ["mask", "bits", "mask_regs"])
@pytest.mark.parametrize("op,dtype", [("Exp", "float"), ("Sqrt", "half"), ("Abs", "float"), ("Relu", "half")])
def test_unary_repeat_forms(emu, op, dtype, form):
    got, want = run_repeat_case(emu, op, dtype, form, (2, 3, 1, 17, 24, 8))
    check(got, want, op, dtype)


@pytest.mark.parametrize("form", ["mask", "bits"])
@pytest.mark.parametrize("op,dtype", [("Muls", "half"), ("Adds", "int32"), ("Mins", "float"), ("Duplicate", "int16"),
                                      ("Duplicate", "float")])
def test_scalar_and_duplicate_repeat_forms(emu, op, dtype, form):
    # Duplicate's mask form takes (dstBlockStride, dstRepeatStride) only.
    got, want = run_repeat_case(emu, op, dtype, form, (2, 1, 1, 20, 8, 8), scalar=-2)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", ALL)
def test_duplicate_count_form(emu, dtype):
    got, _ = emu.vec("Duplicate", dtype, out=sentinel(dtype, 96), count=70, scalar=5)
    assert (got[:70] == 5).all() and (got[70:] == 7).all()


def test_vector_counters(emu):
    emu.vec("Add", "float", in0=np.ones(256, np.float32), in1=np.ones(256, np.float32), out=np.zeros(256, np.float32),
            count=200)
    c, cores = emu.counters()
    assert cores == 1
    assert c["vecElemOps"] == 200 and c["vecCalls"] == 1
    assert c["mte2Bytes"] == 3 * 1024 + 32 and c["mte3Bytes"] == 1024  # in0, in1, out + a 32-byte in2; out back


def test_continuous_mask_beyond_lanes_is_an_error(emu):
    with pytest.raises(emu.EmuError, match=r"kernel 'vec_kernel', core AIV 0: Add: param-range: continuous mask 65"):
        emu.vec("Add", "float", form="mask", mask=65, in0=np.ones(64, np.float32), in1=np.ones(64, np.float32),
                out=np.zeros(64, np.float32))


def test_repeat_overrunning_the_buffer_is_an_error(emu):
    with pytest.raises(emu.EmuError, match=r"Exp: local-bounds: src touches UB bytes"):
        emu.vec("Exp", "float", form="mask", mask=64, repeat=3, in0=np.ones(128, np.float32),
                out=np.zeros(192, np.float32))
