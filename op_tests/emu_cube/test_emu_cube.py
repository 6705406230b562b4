"""The cube path GM -(ND2NZ)-> L1 -(LoadData 2D)-> L0A/L0B -(Mmad)-> L0C -(Fixpipe)-> GM.

C = A @ B^T with A [M, K] and B [N, K] row-major in GM (the Lightning Indexer layout: A rows are
query heads, B rows keys). The emulator accumulates fp16/bf16 products in fp32, one fused
multiply-add per k in k order; a float32 numpy loop over k reproduces that bit for bit (the
products of 11-bit significands are exact in fp32, so each step rounds once, as an fma does).
int8 accumulates exactly in int32."""

from __future__ import annotations

import numpy as np
import pytest

SHAPES = [(5, 37, 128), (5, 37, 256), (33, 130, 128)]


def bf16_bits(x: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bits, round to nearest even (no NaN inputs here)."""
    b = np.ascontiguousarray(x, np.float32).view(np.uint32).astype(np.uint64)
    return ((b + 0x7FFF + ((b >> 16) & 1)) >> 16).astype(np.uint16)


def bf16_value(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


def operands(dtype, m, n, k, rng, *, trans_b=False):
    """GM arrays for A [m, k] and B [n, k] (or [k, n]) and their exact float / int values."""
    shape_b = (k, n) if trans_b else (n, k)
    if dtype == "int8":
        a, b = rng.integers(-128, 128, (m, k), dtype=np.int8), rng.integers(-128, 128, shape_b, dtype=np.int8)
        return a, b, a.astype(np.int64), b.astype(np.int64)
    a, b = rng.standard_normal((m, k), np.float32), rng.standard_normal(shape_b, np.float32)
    if dtype == "half":
        a, b = a.astype(np.float16), b.astype(np.float16)
        return a, b, a.astype(np.float32), b.astype(np.float32)
    a, b = bf16_bits(a), bf16_bits(b)
    return a, b, bf16_value(a), bf16_value(b)


def fma_ref(a: np.ndarray, b_nk: np.ndarray) -> np.ndarray:
    """C[m, n] = sum over k in order of a[m, k] * b[n, k], float32, one rounding per step."""
    acc = np.zeros((a.shape[0], b_nk.shape[0]), np.float32)
    for kk in range(a.shape[1]):
        acc = acc + np.outer(a[:, kk], b_nk[:, kk])
    return acc


def run(kern, dtype, m, n, k, *, seed=0, out="acc", trans_b=False, **kw):
    """Runs the cube kernel with row-major output; returns (C as stored, the exact reference before
    the output conversion)."""
    rng = np.random.default_rng(seed)
    a, b, av, bv = operands(dtype, m, n, k, rng, trans_b=trans_b)
    ref = av @ bv.T if dtype == "int8" else fma_ref(av, bv.T if trans_b else bv)
    out_dtype = {"acc": np.int32 if dtype == "int8" else np.float32, "half": np.float16, "bf16": np.uint16}[out]
    c = kern.cube(dtype, a, b, c_bytes=m * n * np.dtype(out_dtype).itemsize, out=out, trans_b=trans_b, **kw)
    return c.view(out_dtype).reshape(m, n), ref


@pytest.mark.parametrize("dtype", ["half", "int8"])
def test_mmad_m1_is_a_gemv_reading_l0a_as_nd(kern, dtype):
    # Mmad.md: with M = 1 the cube runs a GEMV and reads L0A as ND (element k at k), not as Zz.
    c, ref = run(kern, dtype, 1, 37, 160, seed=21, nd_l0a=True)
    np.testing.assert_array_equal(c, ref)


def test_mmad_m1_with_a_zz_l0a_gives_the_gemv_result(kern):
    # The same row loaded as Zz: the GEMV's ND read takes rows 1-15 of the first fractal (never written:
    # poison) for k >= 16, so the numbers are wrong, as on the NPU; within one fractal (k <= 16) both agree.
    c, ref = run(kern, "half", 1, 37, 160, seed=22)
    assert np.isnan(c).all() and not np.isnan(ref).any()
    c, ref = run(kern, "half", 1, 37, 16, seed=23)
    np.testing.assert_array_equal(c, ref)


@pytest.mark.parametrize("dtype", ["half", "bf16"])
@pytest.mark.parametrize("m, n, k", SHAPES)
def test_matmul_fp32_accumulation_exact(kern, dtype, m, n, k):
    c, ref = run(kern, dtype, m, n, k, seed=m + k)
    np.testing.assert_array_equal(c, ref)


@pytest.mark.parametrize("m, n, k", [SHAPES[0], (33, 130, 256)])
def test_matmul_int8_exact(kern, m, n, k):
    c, ref = run(kern, "int8", m, n, k)
    np.testing.assert_array_equal(c, ref.astype(np.int32))


def pack_int4(x: np.ndarray) -> np.ndarray:
    """[r, c] values in [-8, 7] -> [r, c/2] bytes, element 2i in the low nibble (AscendC int4b_t)."""
    u = (x & 0xF).astype(np.uint8)
    return u[:, 0::2] | (u[:, 1::2] << 4)


@pytest.mark.parametrize("m, n, k", [(5, 37, 128), (33, 130, 256)])
@pytest.mark.parametrize("split_k", [False, True])
def test_int4_matmul_exact(kern, m, n, k, split_k):
    rng = np.random.default_rng(m + k)
    a, b = rng.integers(-8, 8, (m, k)), rng.integers(-8, 8, (n, k))
    c = kern.cube("int4", pack_int4(a), pack_int4(b), c_bytes=m * n * 4, split_k=split_k)
    np.testing.assert_array_equal(c.view(np.int32).reshape(m, n), a @ b.T)


@pytest.mark.parametrize("dtype", ["half", "bf16", "int8"])
def test_split_k_accumulates_into_l0c(kern, dtype):
    # Two Mmads over the K halves, the second with cmatrixInitVal = false: the same sum in the same order.
    c, ref = run(kern, dtype, 33, 130, 256, split_k=True)
    np.testing.assert_array_equal(c, ref.astype(c.dtype))  # an overwrite would leave only the second half's sum


def test_load_data_transpose(kern):
    # B given as [K, N]: ND2NZ makes (n1, k1) fractals of k-rows; LoadData ifTranspose turns them into Zn.
    c, ref = run(kern, "half", 33, 130, 128, trans_b=True)
    np.testing.assert_array_equal(c, ref)


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("out", ["acc", "half", "bf16"])
def test_fixpipe_relu_and_conversion(kern, out, relu):
    c, ref = run(kern, "half", 5, 37, 128, out=out, relu=relu)
    if relu:
        ref = np.where(ref < 0, np.float32(0), ref)
        assert (ref == 0).any() and (ref > 0).any()
    want = {"acc": ref, "half": ref.astype(np.float16), "bf16": bf16_bits(ref)}[out]  # F322F16 / F322BF16 round to even
    np.testing.assert_array_equal(c, want)


@pytest.mark.parametrize("relu", [False, True])
def test_fixpipe_deqf16_truncates_the_scale(kern, relu):
    # The fixpipe keeps sign, exponent and the top 10 mantissa bits of the fp32 scale (bits 13-22).
    scale_bits = int(np.array(0.0123457, np.float32).view(np.uint32))
    assert scale_bits & 0x1FFF
    trunc = float(np.array(scale_bits & 0xFFFFE000, np.uint32).view(np.float32))
    c, ref = run(kern, "int8", 33, 130, 128, out="half", relu=relu, deq_scalar=scale_bits)
    if relu:
        ref = np.where(ref < 0, 0, ref)
    np.testing.assert_array_equal(c, (ref * trunc).astype(np.float16))
    full = float(np.array(scale_bits, np.uint32).view(np.float32))
    assert not np.array_equal(c, (ref * full).astype(np.float16))  # the truncation is visible


@pytest.mark.parametrize("out, out_dtype", [("acc", np.float32), ("half", np.float16)])
def test_fixpipe_nz_layout(kern, out, out_dtype):
    m, n, k = 33, 37, 128
    rng = np.random.default_rng(5)
    a, b, av, bv = operands("half", m, n, k, rng)
    ref = fma_ref(av, bv).astype(out_dtype)
    item = np.dtype(out_dtype).itemsize
    dst_stride = m * 16 * item // 32 + 3  # 32 B units between block starts: 3 units of gap after each block
    pitch = dst_stride * 32 // item
    n1 = (n + 15) // 16
    marker = np.full((n1 * pitch * item,), 0x5A, np.uint8)
    raw = kern.cube("half", a, b, c_bytes=marker.size, out=out, nz=True, dst_stride=dst_stride, c_init=marker)
    vals = raw.view(out_dtype)
    for blk in range(n1):
        cols = slice(blk * 16, min(n, blk * 16 + 16))
        block = vals[blk * pitch: blk * pitch + m * 16].reshape(m, 16)
        np.testing.assert_array_equal(block[:, : cols.stop - cols.start], ref[:, cols])
        gap = raw[(blk * pitch + m * 16) * item: (blk + 1) * pitch * item]
        assert gap.size == 3 * 32 and (gap == 0x5A).all()  # rows beyond mSize are not written


def test_cube_counters(kern):
    run(kern, "half", 33, 130, 128)
    c = kern.counters()
    assert c["cubeCalls"] == 1 and c["cubeMacs"] == 48 * 144 * 128
    assert c["fixpipeBytes"] == 33 * 130 * 4


@pytest.mark.parametrize(
    "name, message",
    [
        ("MmadOnAiv", r"core AIV 0: Mmad: core-type: cube instruction on a vector \(AIV\) core"),
        ("LoadDataToL1", r"LoadData\(2D\): position: dst must be in L0A or L0B, it is in L1"),
        ("Nd2NzC0Stride", r"DataCopy\(ND2NZ\): param-range: dstNzC0Stride 16 is smaller than nValue 32"),
        ("MmadOutside", r"Mmad: local-bounds: fm touches L0A bytes \[0, 1024\) outside its buffer \[0, 512\)"),
    ],
)
def test_cube_rules(kern, name, message):
    with pytest.raises(kern.EmuError, match=message):
        kern.cube_rule(name)


def test_fixpipe_nz_blocks_must_not_overlap(kern):
    a, b = np.zeros((33, 128), np.float16), np.zeros((37, 128), np.float16)
    message = r"Fixpipe: param-range: dstStride 10 x 32 B is shorter than a block of mSize 33"
    with pytest.raises(kern.EmuError, match=message):
        kern.cube("half", a, b, c_bytes=8192, nz=True, dst_stride=10)
