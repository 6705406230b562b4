"""GEMMs from catlass's tla tile copies on AIC cores (Arch::AtlasA2, catlass_gemm_tla.cpp), with a bias
table and the L0C -> GM modes test_catlass_gemm.py does not reach, against numpy / torch.

Huawei code exercised: Gemm::Tile::PackedTileCopyTla -> TileCopyTla (GM -> L1 RowMajor -> zN and
ColumnMajor -> nZ; L1 -> L0A zN -> zZ and nZ -> zZ, the int8 one by LoadDataWithTranspose, the float zN
one by Load3D; L1 -> L0B zN -> nZ (transposing) and nZ -> nZ) for half, bf16, int8 and float (float:
row-major A, column-major B only; the other float paths need Load3D forms the emulator does not have),
TileMmadTla (plain and with a bias-table operand), CopyGmToL1<VectorLayout> + CopyL1ToBT (a half bias
converted to float on the way), CopyL0CToGmTla (RowMajor, zN; relu), and the non-tla
CopyL0CToGm<..., PER_TENSOR> (DEQF16 with catlass's scalar; F322F16, where the scalar has no effect)
and CopyL0CToGm<zN> with relu (float: isChannelSplit).

Checks: integers exactly; DEQF16 exactly (the int32 times the scale with the 10-bit mantissa the 2201
fixpipe keeps, rounded once to half: Fixpipe.md); floats within the bound of fp32 accumulation over K
terms plus the bias, (K + 1) 2^-24 (sum |a b| + |bias|) (the hardware's order is not published), plus
the final rounding of a half / bf16 output (2^-11 / 2^-8 relative). zN outputs are decoded from the GM
fractal image; the tla copy writes only the tile's rows, so the padding rows must keep their sentinel.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

F16, BF16, F32, I8, I32 = torch.float16, torch.bfloat16, torch.float32, torch.int8, torch.int32
# name: (variant, A dtype, A layout, B layout, C dtype, C layout, bias dtype) as in catlass_gemm_tla.cpp
VARIANTS = {
    "half_rr_f32": (0, F16, "row", "row", F32, "row", None),
    "half_cc_half": (1, F16, "col", "col", F16, "row", None),
    "bf16_rc_bf16": (2, BF16, "row", "col", BF16, "row", None),
    "bf16_cr_f32": (3, BF16, "col", "row", F32, "row", None),
    "int8_rr": (4, I8, "row", "row", I32, "row", None),
    "int8_cc": (5, I8, "col", "col", I32, "row", None),
    "int8_cr": (6, I8, "col", "row", I32, "row", None),
    "half_relu": (7, F16, "row", "col", F16, "row", None),
    "half_zn_half": (8, F16, "row", "row", F16, "zn", None),
    "bf16_zn_f32": (9, BF16, "row", "col", F32, "zn", None),
    "half_bias_f32": (10, F16, "row", "col", F32, "row", F16),
    "bf16_bias_bf16": (11, BF16, "col", "row", BF16, "row", F32),
    "int8_bias": (12, I8, "row", "row", I32, "row", I32),
    "int8_deq": (13, I8, "row", "col", F16, "row", None),
    "int8_deq_relu": (14, I8, "row", "col", F16, "row", None),
    "half_per_tensor": (15, F16, "row", "col", F16, "row", None),
    "half_zn_f32_relu": (16, F16, "row", "col", F32, "zn", None),
    "float_rc_f32": (17, F32, "row", "col", F32, "row", None),
}
RELU = {"half_relu", "int8_deq_relu", "half_zn_f32_relu"}
TLA_ZN = {"half_zn_half", "bf16_zn_f32"}  # CopyL0CToGmTla writes the tile's rows only

# (M, N, K, cores): M = 1 (padded to 16 for Mmad), M / N / K off the tile sizes with tails in L1 and L0 K
# slices, several output tiles per core, more cores than tiles.
SHAPES = [(1, 77, 200, 2), (37, 130, 333, 3), (129, 65, 47, 4), (70, 100, 530, 5)]
# zN through CopyL0CToGmTla: nSize is the tile's column count, which Fixpipe.md wants in whole Z blocks.
ZN_SHAPES = [(1, 96, 200, 2), (37, 112, 333, 3), (70, 160, 47, 4)]
SCALE = np.float32(0.0123457)  # PER_TENSOR scale; bits below the 10-bit mantissa are set
SENTINEL = {F32: 0x7FC00001, I32: -0x5A5A5A5B, F16: 0x7E01, BF16: 0x7FC1}  # NaN payloads / never a result


def raw(t: torch.Tensor) -> np.ndarray:
    """The GM bytes of a tensor (numpy has no bfloat16)."""
    t = t.contiguous()
    return (t.view(torch.int16) if t.dtype == BF16 else t).numpy().copy()


def c0(dtype) -> int:
    return 32 // torch.empty(0, dtype=dtype).element_size()


def zn_size(m, n, dtype) -> int:
    return -(-n // c0(dtype)) * (-(-m // 16) * 16) * c0(dtype)


def from_zn(img: torch.Tensor, m: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """[m, n] from a GM zN image (column blocks of c0, rows padded to 16), and the padding rows."""
    w, m16 = c0(img.dtype), -(-m // 16) * 16
    blocks = img[: zn_size(m, n, img.dtype)].reshape(-1, m16, w)
    full = blocks.permute(1, 0, 2).reshape(m16, -1)
    return full[:m, :n], blocks[:, m:, :]


def run(catlass, name, m, n, k, cores, seed=0):
    variant, dt, la, lb, out, lc, bias_dt = VARIANTS[name]
    g = torch.Generator().manual_seed(seed)
    if dt == I8:
        a = torch.randint(-128, 128, (m, k), generator=g, dtype=I8)
        b = torch.randint(-128, 128, (k, n), generator=g, dtype=I8)
    else:
        a, b = torch.randn(m, k, generator=g).to(dt), torch.randn(k, n, generator=g).to(dt)
    a_gm = a if la == "row" else a.t()  # ColumnMajor A is [k, m] in GM, ColumnMajor B is [n, k]
    b_gm = b if lb == "row" else b.t()
    bias = None
    ws = None
    if bias_dt is not None:
        bias = (torch.randint(-2**20, 2**20, (n,), generator=g, dtype=I32) if bias_dt == I32
                else (torch.randn(n, generator=g) * 8).to(bias_dt))  # fmt: skip
        ws = np.zeros(n + 64, raw(bias).dtype)  # catlass copies the bias in whole 64 B past the tile
        ws[:n] = raw(bias)
    elif name.startswith(("int8_deq", "half_per_tensor")):
        ws = np.array([SCALE], np.float32)
    size = zn_size(m, n, out) if lc == "zn" else m * n
    c = torch.full((size,), 0, dtype=out)
    c.view(torch.int16 if out.itemsize == 2 else torch.int32).fill_(SENTINEL[out])
    c_np = raw(c)
    catlass.run("catlass_gemm_tla", "aic", cores, raw(a_gm), raw(b_gm), c_np, ws=ws, m=m, n=n, k=k, variant=variant)
    c = torch.from_numpy(c_np).view(out) if out == BF16 else torch.from_numpy(c_np)
    pad = None
    if lc == "zn":
        c, pad = from_zn(c, m, n)
    return a, b, bias, c.reshape(m, n), pad


def float_bound_check(a, b, bias, c, k, relu=False):
    a64, b64 = a.double(), b.double()
    ref = a64 @ b64
    mag = a64.abs() @ b64.abs()
    if bias is not None:
        ref, mag = ref + bias.double()[None, :], mag + bias.double().abs()[None, :]
    bound = (k + 1) * 2.0**-24 * mag
    if relu:
        ref = ref.clamp(min=0)
    if c.dtype in (F16, BF16):
        bound += (2.0**-11 if c.dtype == F16 else 2.0**-8) * ref.abs()
    err = (c.double() - ref).abs()
    assert torch.isfinite(c.double()).all()
    assert (err <= bound).all(), f"max error {err.max():.3g}, worst err/bound {(err / bound).max():.3g}"


@pytest.mark.parametrize("name", ["int8_rr", "int8_cc", "int8_cr", "int8_bias"])
@pytest.mark.parametrize("m, n, k, cores", SHAPES)
def test_tla_int8_gemm_is_exact(catlass, name, m, n, k, cores):
    a, b, bias, c, _ = run(catlass, name, m, n, k, cores, seed=m + n + k)
    want = a.int() @ b.int() + (0 if bias is None else bias[None, :])
    torch.testing.assert_close(c, want, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["half_rr_f32", "half_cc_half", "bf16_rc_bf16", "bf16_cr_f32", "half_relu",
                                  "half_bias_f32", "bf16_bias_bf16", "float_rc_f32"])
@pytest.mark.parametrize("m, n, k, cores", SHAPES)
def test_tla_float_gemm_within_fp32_accumulation(catlass, name, m, n, k, cores):
    a, b, bias, c, _ = run(catlass, name, m, n, k, cores, seed=m + n + k)
    float_bound_check(a, b, bias, c, k, relu=name in RELU)
    if name in RELU:
        assert (c == 0).any() and (c >= 0).all()


@pytest.mark.parametrize("name", ["half_zn_half", "bf16_zn_f32"])
@pytest.mark.parametrize("m, n, k, cores", ZN_SHAPES)
def test_tla_zn_output(catlass, name, m, n, k, cores):
    a, b, bias, c, pad = run(catlass, name, m, n, k, cores, seed=m + n + k)
    float_bound_check(a, b, bias, c, k)
    sentinel = SENTINEL[c.dtype]
    bits = pad.contiguous().view(torch.int16 if c.dtype.itemsize == 2 else torch.int32)
    assert (bits == sentinel).all(), "the tla zN copy wrote into the padding rows"


@pytest.mark.parametrize("m, n, k, cores", SHAPES)
def test_legacy_zn_float_relu(catlass, m, n, k, cores):
    # CopyL0CToGm<zN> rounds nSize up to whole 8-column Z blocks (isChannelSplit) and mSize to 16 rows.
    a, b, bias, c, _ = run(catlass, "half_zn_f32_relu", m, n, k, cores, seed=m + n + k)
    float_bound_check(a, b, bias, c, k, relu=True)


@pytest.mark.parametrize("name", ["int8_deq", "int8_deq_relu"])
@pytest.mark.parametrize("m, n, k, cores", SHAPES[:3])
def test_per_tensor_deqf16(catlass, name, m, n, k, cores):
    # CopyL0CToGm<int32 -> half, PER_TENSOR>: quantPre DEQF16, deqScalar = the scale's fp32 bits; the
    # fixpipe keeps 10 mantissa bits of it; numpy rounds the exact float64 product to half once.
    a, b, _, c, _ = run(catlass, name, m, n, k, cores, seed=m + n + k)
    acc = (a.long() @ b.long()).numpy()
    if name in RELU:
        acc = np.maximum(acc, 0)
    kept = float((SCALE.view(np.uint32) & np.uint32(0xFFFFE000)).view(np.float32))
    np.testing.assert_array_equal(c.numpy(), (acc * kept).astype(np.float16))


@pytest.mark.parametrize("m, n, k, cores", SHAPES[:3])
def test_per_tensor_float_to_half_ignores_the_scale(catlass, m, n, k, cores):
    # catlass's CopyL0CToGm<float -> half, PER_TENSOR> sets quantPre F322F16 and deqScalar; F322F16 is a
    # plain conversion (Fixpipe.md lists a scalar only for DEQF16 / QF322B8_PRE / REQ8, and dav_c220's
    # Fixpipe loads deqScalar only for those), so the scale must not show.
    a, b, bias, c, _ = run(catlass, "half_per_tensor", m, n, k, cores, seed=m + n + k)
    float_bound_check(a, b, bias, c, k)
    scaled = (a.double() @ b.double()) * float(SCALE)
    assert not torch.allclose(c.double(), scaled, rtol=1e-2, atol=1e-2)

