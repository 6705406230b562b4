"""catlass's GEMV tile operators (catlass/gemv/tile/*, Arch::AtlasA2) on the emulator, against torch /
numpy (kernels in catlass_gemv.cpp).

Exercised on AIV cores (AIV mode): Gemv::Tile::VecCopyGmToUB, VecCopyUBToGm (plain and atomic-add),
MatrixCopyGmToUB (RowMajor and ColumnMajor, each of its three copy paths), TileCopyGemvAiv, TileVmad
(the four A2 specialisations: half and float, row- and column-major A) and TileVmuls, alone and in a
block loop written in the style of catlass's BlockGemv: y = alpha * A x + beta * y_in,
double-buffered UB tiles of A, y kept in UB in the element type; column-major A splits the reduction
over cores and adds to GM atomically. On AIC cores (AIC mode): TileCopyGemvAic's copies with
Gemm::Tile::TileMmad, y = A x.

Copies and integer products must be exact (bit for bit). AIV GEMV results are checked two ways:
- integer-valued data small enough that every product, partial and sum is exact in half: exact;
- random data: within a bound of the float64 value of A @ fl(alpha x) + fl(beta y_in) (TileVmuls
  rounds those products once to the element type; modelled). The bound adds what catlass's way of
  accumulating can lose: fp32 sums inside a tile, K * 2^-24 * sum|a x|, then one rounding to the
  element type of each tile's partial sum (half: TileVmad's Cast) and of each running sum in UB
  (TileVmad's Add), and of each atomic add to GM (u = 2^-11 half, 2^-24 float, of those values).
bf16 is not run through TileVmad: A2 lacks its instructions (test_bf16_vmad_does_not_compile_for_a2)."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import torch

KERNEL, COPY = "catlass_gemv", "catlass_gemv_copy"
PAD = 64  # elements past every GM image: catlass's copies read whole 32-byte blocks

# name: (variant, torch dtype, A layout, M_ROUND, N_ROUND as compiled in catlass_gemv.cpp)
GEMV = {
    "half_row": (0, torch.float16, "row", 48, 128),
    "float_row": (1, torch.float32, "row", 40, 128),
    "half_col": (2, torch.float16, "col", 80, 32),
    "float_col": (3, torch.float32, "col", 72, 24),
}
# (M, N = reduction length, AIV cores, splits of N for column-major A): M = 1, N off every multiple of
# 8 / 16 / 64, N below one 64-lane repeat, tails inside a tile, several row blocks per core, more cores
# than work, one aligned case.
SHAPES = [(1, 333, 1, 1), (1, 50, 2, 2), (37, 130, 2, 2), (100, 77, 3, 3), (129, 50, 4, 2), (70, 530, 3, 4),
          (16, 256, 2, 1)]
# (alpha, beta): no bias (beta 0 must cancel y_in), plain bias, both scaled (alpha * x rounds in half).
SCALES = [(1.0, 0.0), (1.0, 1.0), (1.5, -1.25)]
UNIT = {torch.float16: 2.0**-11, torch.float32: 2.0**-24}


def gm(t: torch.Tensor, pad: int = PAD) -> np.ndarray:
    """A tensor's bytes as a GM image, followed by `pad` zero elements."""
    flat = t.contiguous().reshape(-1)
    return np.concatenate([flat.numpy(), np.zeros(pad, flat.numpy().dtype)])


def tiles(n: int, splits: int, n_round: int) -> list[list[tuple[int, int]]]:
    """Per split, the [begin, end) of each UB tile of the reduction, as the kernel cuts them."""
    out = []
    for s in range(splits):
        begin, end = s * n // splits, (s + 1) * n // splits
        out.append([(b, min(b + n_round, end)) for b in range(begin, end, n_round)])
    return out


def run_gemv(catlass, name, a, x, y_in, alpha, beta, cores, splits):
    variant, dtype, layout, _, _ = GEMV[name]
    m, n = a.shape
    a_gm = gm(a if layout == "row" else a.t())  # column-major A: n columns of m in GM
    header = np.zeros(16, np.float32)
    header[:2] = alpha, beta
    ws = np.concatenate([header.view(np.uint8), gm(y_in).view(np.uint8)])
    if layout == "row":
        c = np.full(m + PAD, np.nan, gm(y_in).dtype)  # every row must be written
    else:
        c = gm(y_in).copy()  # the cores add to y_in
        c[m:] = np.nan
    catlass.run(KERNEL, "aiv", cores, a_gm, gm(x), c, ws, m=m, n=n, k=splits if layout == "col" else 1,
                variant=variant)
    assert np.isnan(c[m:]).all(), "written past y"
    return torch.from_numpy(c[:m].copy()).double()


def reference_and_bound(name, a, x, y_in, alpha, beta, splits):
    """float64 A @ fl(alpha x) + fl(beta y_in), and the bound on catlass's accumulation error."""
    _, dtype, layout, _, n_round = GEMV[name]
    u = UNIT[dtype]
    a64, xs = a.double(), (alpha * x.double()).to(dtype).double()
    k = a.shape[1]
    err = k * 2.0**-24 * (a64.abs() @ xs.abs())
    if layout == "row":
        splits = 1
    parts = []
    for s, split in enumerate(tiles(k, splits, n_round)):
        if layout == "row":
            run = (beta * y_in.double()).to(dtype).double()
        else:  # split 0 adds fl((beta - 1) * y_in) to y_in in GM, the others 0 * y_in
            run = ((beta - 1.0) * y_in.double()).to(dtype).double() if s == 0 else torch.zeros_like(xs[:1])
        for b, e in split:
            p = a64[:, b:e] @ xs[b:e]
            run = run + p
            err = err + u * (p.abs() + run.abs())  # Cast of the partial, Add into y
        parts.append(run)
    total = sum(parts)
    if layout == "col":  # each atomic add rounds the GM sum
        total = total + y_in.double()
        err = err + splits * u * (y_in.double().abs() + sum(q.abs() for q in parts))
    rounds = 2 * sum(len(sp) for sp in tiles(k, splits, n_round)) + splits + 1
    return total, 1.05 * err + rounds * 2.0**-24  # 5 % for second-order terms; half's subnormal spacing


@pytest.mark.parametrize("alpha, beta", SCALES)
@pytest.mark.parametrize("m, n, cores, splits", SHAPES)
@pytest.mark.parametrize("name", GEMV)
def test_gemv_random(catlass, name, m, n, cores, splits, alpha, beta):
    dtype = GEMV[name][1]
    g = torch.Generator().manual_seed(m * 1000 + n)
    a, x, y_in = (torch.randn(*s, generator=g).to(dtype) for s in ((m, n), (n,), (m,)))
    y = run_gemv(catlass, name, a, x, y_in, alpha, beta, cores, splits)
    ref, bound = reference_and_bound(name, a, x, y_in, alpha, beta, splits)
    err = (y - ref).abs()
    assert (err <= bound).all(), f"max err {err.max():.3g}, worst ratio {(err / bound).max():.3g}"


@pytest.mark.parametrize("m, n, cores, splits", SHAPES)
@pytest.mark.parametrize("name", GEMV)
def test_gemv_integer_data_is_exact(catlass, name, m, n, cores, splits):
    """A in {-1, 0, 1}, x and y_in in [-2, 2]: every value on the way is an integer below 2^11, exact in
    half and float, so any lost, repeated or misplaced term shows."""
    dtype = GEMV[name][1]
    g = torch.Generator().manual_seed(m + n)
    a = torch.randint(-1, 2, (m, n), generator=g).to(dtype)
    x, y_in = (torch.randint(-2, 3, (s,), generator=g).to(dtype) for s in (n, m))
    y = run_gemv(catlass, name, a, x, y_in, 1.0, 1.0, cores, splits)
    torch.testing.assert_close(y, a.double() @ x.double() + y_in.double(), rtol=0, atol=0)


# ---- TileCopyGemvAic: the same product on the cube ----------------------------------------------------
# name: (variant, input dtype, A layout, output dtype) as compiled in catlass_gemv.cpp
GEMV_AIC = {
    "half_row": (0, torch.float16, "row", torch.float16),
    "half_col": (1, torch.float16, "col", torch.float32),
    "bf16_row": (2, torch.bfloat16, "row", torch.float32),
    "bf16_col": (3, torch.bfloat16, "col", torch.bfloat16),
    "int8_row": (4, torch.int8, "row", torch.int32),
    "int8_col": (5, torch.int8, "col", torch.int32),
    "float_row": (6, torch.float32, "row", torch.float32),
    "float_col": (7, torch.float32, "col", torch.float32),
}
# (4100, 40): column-major A with 16 columns past the 65536-element ND2NZ stride limit (one copy per
# 16 columns).
AIC_SHAPES = [(1, 333, 1), (37, 130, 2), (100, 77, 3), (129, 530, 4), (64, 256, 2), (70, 50, 3), (4100, 40, 4)]


def raw(t: torch.Tensor) -> torch.Tensor:
    return t.view(torch.int16) if t.dtype == torch.bfloat16 else t


@pytest.mark.parametrize("m, n, cores", AIC_SHAPES)
@pytest.mark.parametrize("name", GEMV_AIC)
def test_gemv_aic(catlass, name, m, n, cores):
    """y = A x through TileCopyGemvAic's copies (x: VectorLayout -> zN -> zZ; A: RowMajor -> zN -> zN,
    ColumnMajor -> nN -> zN, int8 ColumnMajor -> nZ -> zN) and TileMmad (m = 16) on AIC cores. int8
    exact; floats within K * 2^-24 * sum|a x| (fp32 accumulation in L0C) plus the output rounding."""
    variant, dtype, layout, out = GEMV_AIC[name]
    g = torch.Generator().manual_seed(m * 7 + n)
    if dtype == torch.int8:
        a, x = torch.randint(-128, 128, (m, n), generator=g), torch.randint(-128, 128, (n,), generator=g)
        a, x = a.to(dtype), x.to(dtype)
    else:
        a, x = torch.randn(m, n, generator=g).to(dtype), torch.randn(n, generator=g).to(dtype)
    a_gm = gm(raw(a if layout == "row" else a.t()))
    c = gm(raw(torch.zeros(m, dtype=out)))
    c[:] = np.array(-7, c.dtype)  # never a result past m: must stay
    catlass.run("catlass_gemv_aic", "aic", cores, a_gm, gm(raw(x)), c, m=m, n=n, variant=variant)
    assert (c[m:] == np.array(-7, c.dtype)).all(), "written past y"
    y = torch.from_numpy(c[:m].copy())
    y = (y.view(torch.bfloat16) if out == torch.bfloat16 else y).double()
    ref = a.double() @ x.double()
    if dtype == torch.int8:
        torch.testing.assert_close(y, ref, rtol=0, atol=0)
        return
    u_out = {torch.float16: 2.0**-11, torch.bfloat16: 2.0**-8, torch.float32: 0.0}[out]
    bound = n * 2.0**-24 * (a.double().abs() @ x.double().abs()) * (1 + u_out) + u_out * ref.abs() + 2.0**-24
    err = (y - ref).abs()
    assert (err <= bound).all(), f"max err {err.max():.3g}, worst ratio {(err / bound).max():.3g}"


# A leading dimension of 65536 or more: CopyGmToL1 (RowMajor -> zN, ColumnMajor -> nN) copies one line
# at a time with srcDValue = dstNzNStride = 0 (a single row never steps by them). 16 lines of the
# ColumnMajor copy: within one fractal group.
@pytest.mark.parametrize("name, m, n", [("half_col", 65540, 16), ("half_row", 2, 65540)])
def test_gemv_aic_strides_past_65536(catlass, name, m, n):
    test_gemv_aic(catlass, name, m, n, 1)


def test_gemv_aic_col_strides_past_65536_misplace_lines_past_16(catlass):
    """catlass 2.1.0's ColumnMajor -> nN line-by-line copy puts line i at i * (i / 16) fractal groups,
    not i / 16 (`offsetDst = i * idxR0 * stride(3)`, gemm/tile/atlasa2/copy_gm_to_l1.hpp): with 20 lines,
    lines 16-19 land past the tile and the Mmad reads L1 nobody wrote, which the emulator poisons (NaN)."""
    m, n = 65540, 20
    a, x = torch.ones(m, n, dtype=torch.float16), torch.ones(n, dtype=torch.float16)
    c = gm(torch.zeros(m, dtype=torch.float32))
    catlass.run("catlass_gemv_aic", "aic", 1, gm(a.t()), gm(x), c, m=m, n=n, variant=GEMV_AIC["half_col"][0])
    assert np.isnan(c[:m]).any()


# ---- the copy operators alone -------------------------------------------------------------------------
# name: (dtype code in catlass_gemv.cpp, numpy type of the raw bits, elements per 32-byte block)
DTYPES = {"half": (0, np.float16, 16), "bf16": (1, np.int16, 16), "float": (2, np.float32, 8),
          "int8": (3, np.int8, 32), "int16": (4, np.int16, 16), "int32": (5, np.int32, 8)}  # fmt: skip
OPS = {"vec": 0, "vec_atomic": 1, "mat_row": 2, "mat_col": 3, "vmuls": 4}


def copy_run(catlass, dtype, op, b, c, cores, m, n=0, k=0):
    code = DTYPES[dtype][0]
    catlass.run(COPY, "aiv", cores, np.zeros(8, np.int8), b, c, m=m, n=n, k=k, variant=code * 8 + OPS[op])
    return c


def random_bits(rng, count, np_type):
    return rng.integers(0, 256, count * np.dtype(np_type).itemsize, dtype=np.uint8).view(np_type)


@pytest.mark.parametrize("length", [1, 7, 33, 250, 1000])
@pytest.mark.parametrize("dtype", DTYPES)
def test_vec_copy_round_trip_is_exact(catlass, dtype, length):
    """VecCopyGmToUB (whole blocks) then VecCopyUBToGm (DataCopyPad, exactly `length` elements) per core,
    at unaligned GM offsets: the bits arrive, nothing after them is written."""
    np_type, cores = DTYPES[dtype][1], 3
    rng = np.random.default_rng(length)
    b = random_bits(rng, cores * length + PAD, np_type)
    c = random_bits(rng, cores * length + PAD, np_type)
    before = c.copy()
    copy_run(catlass, dtype, "vec", b, c, cores, length)
    total = cores * length
    assert c[:total].tobytes() == b[:total].tobytes()
    assert c[total:].tobytes() == before[total:].tobytes()


@pytest.mark.parametrize("length", [1, 7, 33, 250])
@pytest.mark.parametrize("dtype", DTYPES)
def test_vec_copy_atomic_add(catlass, dtype, length):
    """VecCopyUBToGm<..., true> (SetAtomicAdd around DataCopyPad): 4 cores add their segments to the
    same y; small integers, so every sum is exact in each type."""
    np_type, cores = DTYPES[dtype][1], 4
    rng = np.random.default_rng(length)
    x = rng.integers(-20, 21, cores * length + PAD)
    y0 = rng.integers(-20, 21, length + PAD)
    expect = y0.copy()
    expect[:length] += x[: cores * length].reshape(cores, length).sum(0)
    if dtype == "bf16":  # integers below 2^8 are exact in bf16: pass their bits
        b = torch.from_numpy(x).to(torch.bfloat16).view(torch.int16).numpy()
        c = torch.from_numpy(y0).to(torch.bfloat16).view(torch.int16).numpy()
        out = torch.from_numpy(copy_run(catlass, dtype, "vec_atomic", b, c, cores, length)).view(torch.bfloat16)
        got = out.double().numpy()
    else:
        got = copy_run(catlass, dtype, "vec_atomic", x.astype(np_type), y0.astype(np_type), cores, length)
    np.testing.assert_array_equal(np.asarray(got, np.float64), expect.astype(np.float64))


# Muls on A2: half, float, int16, int32 (Muls.md). Scalars that round in half / float.
VMULS = {"half": -1.3, "float": -0.3, "int16": -3, "int32": -7}


@pytest.mark.parametrize("length", [1, 7, 33, 250, 1000])
@pytest.mark.parametrize("dtype", VMULS)
def test_tile_vmuls_is_exact(catlass, dtype, length):
    """TileVmuls (Muls in counter mode over `length` elements) between the vector copies, 3 cores: each
    product rounded once to the type (round to nearest even), or exact for integers; nothing past
    `length` is written."""
    np_type, cores = DTYPES[dtype][1], 3
    rng = np.random.default_rng(length)
    if np.issubdtype(np_type, np.integer):
        x = rng.integers(-1000, 1001, cores * length + PAD).astype(np_type)
    else:
        x = rng.standard_normal(cores * length + PAD).astype(np_type)
    scalar = np.array(VMULS[dtype], np_type)
    word = np.zeros(4, np.uint8)
    word[: scalar.itemsize] = np.frombuffer(scalar.tobytes(), np.uint8)
    c = np.full(cores * length + PAD, 99, np_type)
    catlass.run(COPY, "aiv", cores, np.zeros(8, np.int8), x, c, m=length, k=int(word.view(np.uint32)[0]),
                variant=DTYPES[dtype][0] * 8 + OPS["vmuls"])
    total = cores * length
    expect = (x[:total].astype(np.float64) * float(scalar)).astype(np_type)  # one rounding (exact products)
    assert c[:total].tobytes() == expect.tobytes()
    assert (c[total:] == 99).all()


# (contiguous length, lines, leading dimension) in blocks of C0 elements plus extra elements; they
# steer MatrixCopyGmToUB to its three paths: one strided copy (length and ld whole blocks), C0
# interleaved copies (length whole blocks, ld not; with and without a tail of lines), one copy per
# line (length not whole blocks; or ld * C0 past the 65536 stride limit).
MATRIX_CASES = {
    "strided": lambda c0: (2 * c0, 37, 3 * c0),
    "interleaved": lambda c0: (2 * c0, 37, 2 * c0 + 5),
    "interleaved_few_lines": lambda c0: (2 * c0, 5, 2 * c0 + 5),
    "per_line": lambda c0: (c0 + 3, 20, c0 + 3),
    "one_line": lambda c0: (7, 1, 7),
    "stride_limit": lambda c0: (2 * c0, 3, 65536 // c0 + 1),
    "stride_limit_aligned": lambda c0: (2 * c0, 3, 65536 + c0),
}


@pytest.mark.parametrize("case", MATRIX_CASES)
@pytest.mark.parametrize("layout", ["mat_row", "mat_col"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_matrix_copy_gm_to_ub_is_exact(catlass, dtype, layout, case):
    """MatrixCopyGmToUB of a tile of `lines` rows (RowMajor) or columns (ColumnMajor) into UB lines of
    RoundUp(length, C0) + C0 elements; two cores, one tile each. Each UB line must hold the GM line's
    whole blocks (the elements past the line's end come from GM as well)."""
    _, np_type, c0 = DTYPES[dtype]
    length, lines, ld = MATRIX_CASES[case](c0)
    cores, line_ub = 2, -(-length // c0) * c0 + c0
    rng = np.random.default_rng(lines * ld)
    b = random_bits(rng, cores * lines * ld + c0, np_type)
    c = random_bits(rng, cores * lines * line_ub, np_type)
    m, n = (lines, length) if layout == "mat_row" else (length, lines)
    copy_run(catlass, dtype, layout, b, c, cores, m, n, ld)
    copied = -(-length // c0) * c0
    ub = c.reshape(cores, lines, line_ub)[:, :, :copied]
    starts = np.arange(cores)[:, None] * lines * ld + np.arange(lines)[None, :] * ld
    expect = b[starts[:, :, None] + np.arange(copied)]
    assert ub.tobytes() == expect.tobytes()


BF16_VMAD = """#include "catlass_conf.h"
#include "catlass/gemv/tile/tile_vmad.hpp"
using V = Gemm::GemmType<bfloat16_t, layout::VectorLayout>;
template <class L>
void Vmad(AscendC::LocalTensor<bfloat16_t> t, AscendC::LocalTensor<float> w) {
  Gemv::Tile::TileVmad<Arch::AtlasA2, Gemm::GemmType<bfloat16_t, L>, V, V>{}(t, t, t, w, L(16, 64), L(16, 64));
}
template void Vmad<layout::%s>(AscendC::LocalTensor<bfloat16_t>, AscendC::LocalTensor<float>);
"""


@pytest.mark.parametrize("layout, api", [("RowMajor", "MulAddDst"), ("ColumnMajor", "Axpy")])
def test_bf16_vmad_does_not_compile_for_a2(tmp_path, layout, api):
    """TileVmad's generic specialisations take bf16 in C++, but A2 has no MulAddDst / Axpy for bf16
    (MulAddDst.md, Axpy.md: half / float; dav_c220 static_asserts) and no Cast float -> bf16 with
    CAST_NONE (Cast.md, A2 table): CANN refuses them at compile time, and so must the emulator."""
    from ascend_glm5 import emu

    from .conftest import HERE, catlass_include

    src = tmp_path / "bf16_vmad.cpp"
    src.write_text(BF16_VMAD % layout)
    res = subprocess.run(["g++", "-fsyntax-only", "-DCATLASS_ARCH=2201", "-DSPLIT_CORE_VEC", f"-I{HERE}",
                          f"-I{catlass_include()}", *emu.cflags(), str(src)], capture_output=True, text=True)
    assert res.returncode != 0 and api in res.stderr, res.stderr[-3000:]
