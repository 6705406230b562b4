"""catlass's GEMM-side vector tiles (catlass/gemm/tile/atlasa2/, Arch::AtlasA2) on the emulator
(kernels in catlass_gemm_cast.cpp), against numpy / torch.

Exercised:
- Gemm::Tile::TileCastInt8ToFp16Dequant: int8 -> half, then + zeroPoint, then * scalar, each a half
  operation (Cast CAST_NONE, Adds, Muls), row- and column-major;
- Gemm::Tile::TileCastFp8ToFp16Dequant: fp8 bytes -> half with integer / bit instructions (A2 has no
  fp8 unit), then + zeroPoint, * scalar. The bits decode as E4M3 (bias 7): Cast uint8 -> half, + 1024
  (puts the byte in the mantissa), << 7, sign to bit 15, the low 7 bits to half bits 13..7, * 256. So
  exponent 0 is subnormal (m/8 * 2^-6, exactly), -0 stays -0, and there is no NaN or inf: 0x7F / 0xFF
  (NaN in e4m3fn) decode to +-480 = 1.875 * 2^8 (e4m3fn's max is 448). Checked bit for bit on all 256
  codes against an arithmetic model cross-checked with torch.float8_e4m3fn; also its EpCastFp32ToFp16
  (float -> half, CAST_RINT);
- Gemm::Tile::TileMuls (counter-mode Muls) with Gemm::Tile::CopyGm2Ub (VectorLayout) and CopyUb2Gm
  (RowMajor), half / float / int16 / int32;
- Gemm::Tile::TileCopyTla GM -> UB and UB -> GM (RowMajor tla tensors; copy_gm_to_ub / copy_ub_to_gm.hpp),
  and TileCopyTlaExt<..., RowMajor, PaddingRowMajor> UB -> GM a row at a time, as upstream's
  PaddingMatrixBlockND uses it;
- the mixed kernel these casts are for (MIX mode): AIVs dequantise B (int8 or fp8, row- or column-major)
  into a 3-slot ring in GM, the AIC multiplies half A by it with Gemm::Tile::TileCopy / TileMmad; the
  hand-over is Arch::CrossCoreFlagWithReverse (reverse every 2 tiles).

Not run: TileCastFp8ToFp16Dequant's path for rows longer than COMPUTE_LENGTH / 2 (also in
EpCastFp32ToFp16): there catlass never sets storeLen (uninitialised) and keeps the shortened loadLen
for the next row, so its result is undefined; rows here stay within the other path. Casts of rows
longer than COMPUTE_LEN in TileCastInt8ToFp16Dequant divide by zero (tilesPerLoop = 0): not run.

Casts, copies and single IEEE operations must match exactly (each half operation is one correctly
rounded operation: the reference computes it exactly in float64 and rounds once). The GEMM is checked
against the float64 product of A and the reference-dequantised B within the fp32 accumulation bound
K * 2^-24 * sum|a b| (as test_catlass_gemm.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

TILE, MIX = "catlass_gemm_cast_tile", "catlass_gemm_cast_mix"
PAD = 64  # elements past every GM image
SENTINEL = {np.uint16: 0x7C01, np.int8: 0x5A, np.uint8: 0x5A, np.float32: np.nan, np.int16: 0x5A5A,
            np.int32: 0x5A5A5A5A}  # fmt: skip


def header(ld_src: int, ld_dst: int, scalar: float = 1.0, zero: float = 0.0, muls: np.ndarray | None = None):
    h = np.zeros(64, np.uint8)
    h[:8] = np.array([ld_src, ld_dst], np.uint32).view(np.uint8)
    h[8:12] = np.array([scalar, zero], np.float16).view(np.uint8)
    if muls is not None:
        h[16:16 + muls.nbytes] = muls.view(np.uint8)
    return h


def gm_matrix(x: np.ndarray, ld: int, col_major: bool = False) -> np.ndarray:
    """[m, n] into a GM image with leading dimension ld (row stride, or column stride if col_major)."""
    tiles, length = (x.shape[1], x.shape[0]) if col_major else x.shape
    img = np.full(tiles * ld + PAD, SENTINEL[x.dtype.type], x.dtype)
    view = img[:tiles * ld].reshape(tiles, ld)[:, :length]
    view[...] = x.T if col_major else x
    return img


def from_gm(img: np.ndarray, m: int, n: int, ld: int, col_major: bool = False):
    """(the [m, n] matrix, everything else of the image) of a GM image."""
    tiles, length = (n, m) if col_major else (m, n)
    body = img[:tiles * ld].reshape(tiles, ld)
    x = body[:, :length]
    rest = np.concatenate([body[:, length:].ravel(), img[tiles * ld:]])
    return (x.T if col_major else x), rest


def assert_untouched(rest: np.ndarray, dtype):
    np.testing.assert_array_equal(rest.view(np.uint8), np.full(rest.shape, SENTINEL[dtype], dtype).view(np.uint8))


def f16(x) -> np.ndarray:
    """One rounding to half of exactly computed (float64) values."""
    return np.asarray(x, np.float64).astype(np.float16)


def dequant_int8(q: np.ndarray, scalar: float, zero: float) -> np.ndarray:
    scalar, zero = float(np.float16(scalar)), float(np.float16(zero))  # the kernel gets them as half
    return f16(f16(f16(q.astype(np.float64)).astype(np.float64) + zero).astype(np.float64) * scalar)


def fp8_e4m3_decode(q: np.ndarray) -> np.ndarray:
    """The E4M3 value of each byte, float64, as catlass's A2 bit trick yields it (no NaN: 0x7F -> 480)."""
    u = q.view(np.uint8).astype(np.int64)
    sign = np.where(u & 0x80, -1.0, 1.0)
    e, m = (u >> 3) & 0xF, u & 7
    mag = np.where(e == 0, m / 8 * 2.0**-6, (1 + m / 8) * 2.0 ** (e - 7))
    return sign * mag


def dequant_fp8(q: np.ndarray, scalar: float, zero: float) -> np.ndarray:
    scalar, zero = float(np.float16(scalar)), float(np.float16(zero))
    return f16(f16(f16(fp8_e4m3_decode(q)).astype(np.float64) + zero).astype(np.float64) * scalar)


def test_fp8_model_is_e4m3fn_except_its_nan():
    codes = np.arange(256, dtype=np.uint8)
    ref = torch.from_numpy(codes.copy()).view(torch.float8_e4m3fn).double().numpy()
    got = fp8_e4m3_decode(codes.view(np.int8))
    nan = np.isnan(ref)
    assert list(np.flatnonzero(nan)) == [0x7F, 0xFF]
    np.testing.assert_array_equal(got[~nan], ref[~nan])
    assert np.signbit(got[0x80]) and got[0x7F] == 480 and got[0xFF] == -480


# (m, n, ld_src, ld_dst, cores): one row / column, tails off every 32 / 256 multiple, several rounds of
# kCastLen per band, more cores than tiles, leading dimensions past the width.
CAST_SHAPES = [(1, 1000, 1000, 1008, 1), (37, 130, 150, 140, 3), (100, 33, 40, 33, 4), (5, 700, 777, 800, 2),
               (3, 17, 17, 20, 5)]
# (scalar, zero point): identity with -0 (keeps -0 and shows the raw decode), a scale, and both rounding.
DEQ_PARAMS = [(1.0, -0.0), (0.5, 0.0), (0.0123, -3.3)]


def run_cast(catlass, variant, q, m, n, ld_src, ld_dst, cores, col, scalar, zero, out_dtype=np.uint16):
    a = gm_matrix(q, ld_src, col)
    tiles = n if col else m
    c = np.full(tiles * ld_dst + PAD, SENTINEL[out_dtype], out_dtype)
    catlass.run(TILE, "aiv", cores, a, np.zeros(8, np.int32), c, header(ld_src, ld_dst, scalar, zero), m=m, n=n,
                variant=variant)
    got, rest = from_gm(c, m, n, ld_dst, col)
    assert_untouched(rest, out_dtype)
    return got


@pytest.mark.parametrize("layout", ["row", "col"])
@pytest.mark.parametrize("scalar, zero", DEQ_PARAMS)
@pytest.mark.parametrize("m, n, ld_src, ld_dst, cores", CAST_SHAPES)
def test_int8_dequant_is_exact(catlass, layout, scalar, zero, m, n, ld_src, ld_dst, cores):
    col = layout == "col"
    if col:  # a column is a tile: the same shapes transposed
        m, n = n, m
    q = np.random.default_rng(m * n + cores).integers(-128, 128, (m, n)).astype(np.int8)
    got = run_cast(catlass, 1 if col else 0, q, m, n, ld_src, ld_dst, cores, col, scalar, zero)
    np.testing.assert_array_equal(got, dequant_int8(q, scalar, zero).view(np.uint16))


@pytest.mark.parametrize("layout", ["row", "col"])
@pytest.mark.parametrize("scalar, zero", DEQ_PARAMS)
@pytest.mark.parametrize("m, n, ld_src, ld_dst, cores", CAST_SHAPES)
def test_fp8_dequant_is_bit_exact(catlass, layout, scalar, zero, m, n, ld_src, ld_dst, cores):
    col = layout == "col"
    if col:
        m, n = n, m
    q = np.random.default_rng(m * n + cores + 1).integers(0, 256, (m, n)).astype(np.uint8)
    flat = q.reshape(-1)
    flat[:min(256, flat.size)] = np.arange(min(256, flat.size))  # every code, where the shape holds 256
    q = q.view(np.int8)
    got = run_cast(catlass, 3 if col else 2, q, m, n, ld_src, ld_dst, cores, col, scalar, zero)
    np.testing.assert_array_equal(got, dequant_fp8(q, scalar, zero).view(np.uint16))


@pytest.mark.parametrize("m, n, ld_src, ld_dst, cores", [(1, 1000, 1000, 1000, 1), (37, 130, 150, 140, 3),
                                                         (9, 700, 777, 800, 2), (4, 5, 5, 16, 5)])
def test_ep_cast_fp32_to_fp16_rounds_to_nearest_even(catlass, m, n, ld_src, ld_dst, cores):
    rng = np.random.default_rng(m + n)
    x = (rng.standard_normal((m, n)) * rng.choice([1e-3, 1.0, 300.0], (m, n))).astype(np.float32)
    # Ties between two halves (to even, both ways), within half's normal range.
    ties = np.array([1 + 2.0**-11, 1 + 3 * 2.0**-11, -(2048 + 1), 2048 + 3, 0.5 + 2.0**-12, 6e4 + 16], np.float32)
    x.ravel()[:ties.size] = ties[:x.size]
    got = run_cast(catlass, 4, x, m, n, ld_src, ld_dst, cores, False, 1.0, 0.0)
    np.testing.assert_array_equal(got, x.astype(np.float16).view(np.uint16))


MULS = {"half": (10, np.float16), "float": (11, np.float32), "int16": (12, np.int16), "int32": (13, np.int32)}


@pytest.mark.parametrize("dtype", list(MULS))
@pytest.mark.parametrize("m, n, ld_src, ld_dst, cores", [(1, 1000, 1000, 1000, 1), (37, 130, 150, 140, 3),
                                                         (13, 7, 9, 7, 2), (20, 333, 333, 340, 4)])
def test_tile_muls_with_gemm_copies(catlass, dtype, m, n, ld_src, ld_dst, cores):
    variant, np_t = MULS[dtype]
    rng = np.random.default_rng(m + n)
    if np_t in (np.int16, np.int32):
        x, s = rng.integers(-1000, 1000, (m, n)).astype(np_t), np.array([-7], np_t)
        want = (x.astype(np.int64) * int(s[0])).astype(np_t)
    else:
        x, s = rng.standard_normal((m, n)).astype(np_t), np.array([-1.37], np_t)
        want = (x.astype(np.float64) * float(s[0])).astype(np_t)  # one rounding of the exact product
    store = np.uint16 if np_t == np.float16 else np_t
    a = gm_matrix(x.view(store), ld_src)
    c = np.full(m * ld_dst + PAD, SENTINEL[store], store)
    catlass.run(TILE, "aiv", cores, a, np.zeros(8, np.int32), c, header(ld_src, ld_dst, muls=s), m=m, n=n,
                variant=variant)
    got, rest = from_gm(c, m, n, ld_dst)
    assert_untouched(rest, store)
    np.testing.assert_array_equal(got, want.view(store))


COPIES = {"half": (20, np.uint16), "int8": (21, np.int8), "float": (22, np.float32), "bf16": (23, np.uint16)}


@pytest.mark.parametrize("dtype", list(COPIES))
@pytest.mark.parametrize("m, n, ld_src, ld_dst, cores", [(1, 77, 77, 80, 1), (50, 130, 150, 131, 3),
                                                         (41, 400, 401, 400, 4)])
def test_tile_copy_tla_gm_ub_gm(catlass, dtype, m, n, ld_src, ld_dst, cores):
    variant, np_t = COPIES[dtype]
    x = np.random.default_rng(m * n).integers(-100, 100, (m, n)).astype(np_t)
    c = np.full(m * ld_dst + PAD, SENTINEL[np_t], np_t)
    catlass.run(TILE, "aiv", cores, gm_matrix(x, ld_src), np.zeros(8, np.int32), c, header(ld_src, ld_dst), m=m, n=n,
                variant=variant)
    got, rest = from_gm(c, m, n, ld_dst)
    assert_untouched(rest, np_t)
    np.testing.assert_array_equal(got, x)


def padding_offsets(m: int, n: int, b_rows: int, b_cols: int) -> np.ndarray:
    """[m, n] element offsets of catlass's layout::PaddingRowMajor(m, n, b_rows, b_cols)."""
    r, c = np.arange(m)[:, None], np.arange(n)[None, :]
    ld = -(-n // b_cols) * b_cols
    return r // b_rows * (b_rows * ld) + c // b_cols * (b_rows * b_cols) + r % b_rows * b_cols + c % b_cols


PADS = {"half": (30, np.uint16), "float": (31, np.float32)}


@pytest.mark.parametrize("dtype", list(PADS))
@pytest.mark.parametrize("m, n, ld_src, b_rows, b_cols, cores", [(1, 77, 77, 16, 32, 1), (37, 130, 150, 8, 48, 3),
                                                                 (20, 64, 70, 16, 16, 2), (9, 5, 5, 4, 16, 4)])
def test_tile_copy_tla_ext_to_padding_row_major(catlass, dtype, m, n, ld_src, b_rows, b_cols, cores):
    variant, np_t = PADS[dtype]
    x = np.random.default_rng(m * n).integers(-100, 100, (m, n)).astype(np_t)
    rows_up, cols_up = -(-m // b_rows) * b_rows, -(-n // b_cols) * b_cols
    c = np.full(rows_up * cols_up + PAD, SENTINEL[np_t], np_t)
    h = header(ld_src, 0)
    h[24:32] = np.array([b_rows, b_cols], np.uint32).view(np.uint8)
    catlass.run(TILE, "aiv", cores, gm_matrix(x, ld_src), np.zeros(8, np.int32), c, h, m=m, n=n, variant=variant)
    off = padding_offsets(m, n, b_rows, b_cols)
    np.testing.assert_array_equal(c[off], x)
    # Whole blocks' rows are stored: a row's padding columns hold what UB held. Nothing else is written.
    written = padding_offsets(m, cols_up, b_rows, b_cols).ravel()
    rest = np.delete(c, written)
    assert_untouched(rest, np_t)


# ---- the mixed kernel ----------------------------------------------------------------------------------
SLOT_BYTES = 3 * 128 * 64 * 2  # kSlots half tiles of kL1K x kL1N per block
MIX_VARIANTS = {("int8", "row"): 0, ("int8", "col"): 1, ("fp8", "row"): 2, ("fp8", "col"): 3}


@pytest.mark.parametrize("weights", ["int8", "fp8"])
@pytest.mark.parametrize("layout", ["row", "col"])
@pytest.mark.parametrize("m, n, k, cores", [(1, 64, 128, 1), (37, 130, 334, 2), (70, 98, 600, 1),
                                            (17, 200, 260, 4), (130, 33, 47, 2)])
def test_dequant_then_gemm_within_fp32_accumulation(catlass, weights, layout, m, n, k, cores):
    rng = np.random.default_rng(m * n + k)
    a = rng.standard_normal((m, k)).astype(np.float16)
    if weights == "int8":
        q = rng.integers(-128, 128, (k, n)).astype(np.int8)
        scalar, zero = 0.02, 1.5
        b = dequant_int8(q, scalar, zero)
    else:
        q = rng.integers(0, 256, (k, n)).astype(np.uint8).view(np.int8)
        scalar, zero = 0.125, -0.75
        b = dequant_fp8(q, scalar, zero)
    b_gm = q if layout == "row" else np.ascontiguousarray(q.T)  # column-major B is [N, K] in GM
    ws = np.concatenate([header(0, 0, scalar, zero), np.full(cores * SLOT_BYTES, 0x5A, np.uint8)])
    c = np.full((m, n), np.nan, np.float32)
    catlass.run(MIX, "mix", cores, a.view(np.uint16), b_gm, c, ws, m=m, n=n, k=k,
                variant=MIX_VARIANTS[weights, layout])
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    ref = a64 @ b64
    bound = k * 2.0**-24 * (np.abs(a64) @ np.abs(b64))
    err = np.abs(c.astype(np.float64) - ref)
    assert np.isfinite(c).all()
    assert (err <= bound).all(), f"max error {err.max():.3g}, worst err/bound {(err / bound).max():.3g}"
