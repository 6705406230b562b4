"""GEMMs built from catlass's Atlas A2 tile operators (GM->L1 ND2NZ, L1->L0A/L0B loads and
transposes, TileMmad, L0C->GM fixpipe) on the emulator, against torch.

Integers must match exactly. Floating results are checked against the float64 product with the
bound of fp32 accumulation over K terms, |err| <= K * 2^-24 * sum_k |a_mk b_kn| (the hardware's
summation order is not published), plus the final rounding of a bf16 / half output (2^-8 / 2^-11
relative)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

# name: (torch input dtype, B layout, output, L1 tile M, N, K as compiled in catlass_kernels.cpp)
VARIANTS = {
    "bf16_row_b": (torch.bfloat16, "row", torch.bfloat16),
    "bf16_col_b_f32": (torch.bfloat16, "col", torch.float32),
    "half_col_b": (torch.float16, "col", torch.float32),
    "int8_row_b": (torch.int8, "row", torch.int32),
    "int8_col_b": (torch.int8, "col", torch.int32),
    "int4_row_b": ("int4", "row", torch.int32),
    "int4_col_b": ("int4", "col", torch.int32),
}

# Awkward shapes: M = 1, M / N / K off every 16 / 32 / 64 multiple, K tails inside an L1 tile, several
# output tiles per core, more cores than tiles.
SHAPES = [(1, 77, 200, 2), (37, 130, 333, 3), (129, 65, 47, 4), (16, 32, 64, 1), (70, 100, 530, 5)]
INT4_SHAPES = [(1, 90, 200, 2), (37, 130, 334, 3), (129, 66, 46, 4), (70, 100, 530, 5)]  # int4 rows: even K / N


def pack_int4(x: torch.Tensor) -> np.ndarray:
    """[r, c] values in [-8, 7], c even -> [r, c/2] bytes, element 2i in the low nibble (AscendC int4b_t)."""
    u = (x.numpy().astype(np.int64) & 0xF).astype(np.uint8)
    return np.ascontiguousarray(u[:, 0::2] | (u[:, 1::2] << 4))


def gm_image(x: torch.Tensor, dtype) -> np.ndarray:
    if dtype == "int4":
        return pack_int4(x)
    if x.dtype == torch.bfloat16:
        return x.contiguous().view(torch.int16).numpy().copy()
    return x.contiguous().numpy().copy()


def operands(dtype, m, n, k, seed):
    g = torch.Generator().manual_seed(seed)
    if dtype == "int4":
        return torch.randint(-8, 8, (m, k), generator=g), torch.randint(-8, 8, (k, n), generator=g)
    if dtype == torch.int8:
        return (torch.randint(-128, 128, (m, k), generator=g, dtype=torch.int8),
                torch.randint(-128, 128, (k, n), generator=g, dtype=torch.int8))
    return torch.randn(m, k, generator=g).to(dtype), torch.randn(k, n, generator=g).to(dtype)


def run(catlass, variant, m, n, k, cores, seed=0):
    dtype, b_layout, out = VARIANTS[variant]
    a, b = operands(dtype, m, n, k, seed)
    b_gm = b if b_layout == "row" else b.t().contiguous()  # ColumnMajor B is [N, K] in GM
    out_np = {torch.bfloat16: np.uint16, torch.float32: np.float32, torch.int32: np.int32}[out]
    c = np.full((m, n), 0x7FC0 if out == torch.bfloat16 else -1, dtype=out_np)  # never a plausible result
    catlass.gemm(variant, gm_image(a, dtype), gm_image(b_gm, dtype), c, m, n, k, cores)
    if out == torch.bfloat16:
        c = torch.from_numpy(c.view(np.int16)).view(torch.bfloat16)
    else:
        c = torch.from_numpy(c)
    return a, b, c


@pytest.mark.parametrize("variant", ["int8_row_b", "int8_col_b"])
@pytest.mark.parametrize("m, n, k, cores", SHAPES)
def test_int8_gemm_is_exact(catlass, variant, m, n, k, cores):
    a, b, c = run(catlass, variant, m, n, k, cores, seed=m + n + k)
    torch.testing.assert_close(c, a.int() @ b.int(), rtol=0, atol=0)


@pytest.mark.parametrize("variant", ["int4_row_b", "int4_col_b"])
@pytest.mark.parametrize("m, n, k, cores", INT4_SHAPES)
def test_int4_gemm_is_exact(catlass, variant, m, n, k, cores):
    a, b, c = run(catlass, variant, m, n, k, cores, seed=m + n + k)
    torch.testing.assert_close(c, a.int() @ b.int(), rtol=0, atol=0)


@pytest.mark.parametrize("variant", ["bf16_row_b", "bf16_col_b_f32", "half_col_b"])
@pytest.mark.parametrize("m, n, k, cores", SHAPES)
def test_float_gemm_within_fp32_accumulation(catlass, variant, m, n, k, cores):
    a, b, c = run(catlass, variant, m, n, k, cores, seed=m + n + k)
    a64, b64 = a.double(), b.double()
    ref = a64 @ b64  # products of bf16 / half values are exact in float64; the sum nearly so
    bound = k * 2.0**-24 * (a64.abs() @ b64.abs())
    if c.dtype == torch.bfloat16:
        bound += 2.0**-8 * ref.abs()
    err = (c.double() - ref).abs()
    assert torch.isfinite(c.double()).all()
    assert (err <= bound).all(), f"max error {err.max():.3g}, worst err/bound {(err / bound).max():.3g}"


@pytest.mark.parametrize("m, n, k, cores", [(1, 77, 200, 2), (37, 130, 333, 3), (70, 100, 530, 5)])
def test_int8_gemm_per_channel_dequant(catlass, m, n, k, cores):
    # catlass's CopyGmToL1 (VectorLayout) + CopyL1ToFP put the scales in the fixpipe buffer, its
    # CopyL0CToGm<..., PER_CHANNEL> calls SetFixPipeConfig and a VDEQF16 Fixpipe. The fixpipe keeps 10
    # mantissa bits of each fp32 scale (as for DEQF16); the int32 x scale product is exact in float64,
    # so the one rounding to half must match (numpy rounds float64 -> float16 once; torch goes through
    # float32, rounding twice).
    g = torch.Generator().manual_seed(m + k)
    a = torch.randint(-128, 128, (m, k), generator=g, dtype=torch.int8)
    b = torch.randint(-128, 128, (k, n), generator=g, dtype=torch.int8)
    scales = torch.rand(n, generator=g, dtype=torch.float32) * 1e-3 + 1e-5
    bits = scales.view(torch.int32).numpy().astype(np.uint32)
    c = catlass.w8a8_per_channel(a.numpy(), b.numpy(), bits.astype(np.uint64), cores)
    kept = (bits & 0xFFFFE000).astype(np.uint32).view(np.float32).astype(np.float64)
    want = ((a.long() @ b.long()).double().numpy() * kept).astype(np.float16)
    np.testing.assert_array_equal(c, want)
