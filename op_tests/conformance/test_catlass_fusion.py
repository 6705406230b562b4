"""catlass's tla epilogue tiles and epilogue fusion visitors (EVG) on AIV cores (Arch::AtlasA2), against numpy /
torch (catlass_fusion.cpp).

- Epilogue::Tile::CopyGm2UbTla / CopyUb2GmTla (named through TileCopyDequantTla's aliases): tiles of a strided
  row-major GM matrix through UB and back (half, bf16, float, int8; tails in both dimensions): a copy, so bit
  for bit, and the GM gaps between rows must keep their sentinel.
- TileRowBroadcastMulTla, TileBroadcastOneBlkTla + TileOneBlkColumnBroadcastMulTla: X * v[None, :] and
  X * u[:, None] (half, float; > 255 rows): one rounded product per element, so equal to torch's.
- Epilogue::Fusion (TreeVisitor, TopologicalVisitor over VisitorAccLoad (GM and UB), VisitorAuxLoad,
  VisitorRowBroadcast, VisitorCompute<Muls / Add / Mul / Silu / AddRelu>, VisitorCast, VisitorAuxStore),
  driven per tile LOAD / COMPUTE / STORE as catlass's BlockEpilogue<EpilogueVisitor> does, on an fp32
  "accumulator" C in GM: chains of correctly rounded fp32 steps are compared bit for bit, Silu within the
  rounding of its steps (tolerances at each test); a tree too large for UB must trip catlass's own assert.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

ALPHA = np.float32(1.25)  # kAlpha in catlass_fusion.cpp
EVG = {"bias_half": 0, "bias_bf16": 1, "bias_float": 2, "silu_mul_float": 3, "silu_mul_half": 4, "silu_gate_dag": 5,
       "ub_add_relu": 6, "ub_overflow": 7}


def bits(t: torch.Tensor) -> np.ndarray:
    """The raw bits of a 16-bit tensor (numpy has no bfloat16)."""
    return t.contiguous().view(torch.int16).numpy()


def from_bits(a: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    return torch.from_numpy(a.copy()).view(dtype)


# ---- tla copies ---------------------------------------------------------------------------------------
COPY = {"half": (0, np.uint16), "bf16": (1, np.uint16), "float": (2, np.uint32), "int8": (3, np.uint8)}


# (m, n, extra columns per GM row, cores): tails in both dimensions against every variant's tile
# (half 7 x 40, bf16 5 x 24, float 9 x 13, int8 6 x 70), one row, dense rows, more cores than tiles.
@pytest.mark.parametrize("dtype", list(COPY))
@pytest.mark.parametrize("m, n, k, cores", [(1, 77, 3, 2), (37, 130, 0, 3), (20, 41, 9, 1), (64, 200, 5, 4)])
def test_tla_copy_gm_ub_gm(catlass, dtype, m, n, k, cores):
    variant, raw = COPY[dtype]
    rng = np.random.default_rng(m * n + k)
    a = rng.integers(0, np.iinfo(raw).max, (m, n + k), dtype=raw, endpoint=True)  # any bits: NaNs too
    sentinel = raw(0x5A5A5A5A & np.iinfo(raw).max)
    d = np.full((m, n + k), sentinel, raw)
    catlass.run("catlass_tla_copy", "aiv", cores, a, a, d, m=m, n=n, k=k, variant=variant)
    np.testing.assert_array_equal(d[:, :n], a[:, :n])
    assert (d[:, n:] == sentinel).all(), "the copy wrote into the gaps between GM rows"


# ---- tla broadcast tiles ------------------------------------------------------------------------------
BCAST = [(0, torch.float32, 21, 72), (1, torch.float16, 19, 144), (2, torch.float32, 260, 16)]


@pytest.mark.parametrize("variant, dtype, rows, cols", BCAST, ids=["float_21x72", "half_19x144", "float_260x16"])
def test_tla_broadcast_mul(catlass, variant, dtype, rows, cols):
    g = torch.Generator().manual_seed(rows * cols)
    x = (torch.rand(rows, cols, generator=g) * 8 - 4).to(dtype)
    v = (torch.rand(cols, generator=g) * 4 - 2).to(dtype)
    u = (torch.rand(rows, generator=g) * 4 - 2).to(dtype)
    d = torch.full((2, rows, cols), float("nan"), dtype=dtype)
    catlass.run("catlass_tla_bcast", "aiv", 1, x.numpy(), torch.cat([v, u]).numpy(), d.numpy(), m=rows, n=cols,
                variant=variant)
    # One product per element, rounded once to the type, as torch's (which computes half in fp32): exact.
    torch.testing.assert_close(d[0], x * v[None, :], rtol=0, atol=0)
    torch.testing.assert_close(d[1], x * u[:, None], rtol=0, atol=0)


# ---- fusion visitors ----------------------------------------------------------------------------------
# (m, n, block width, cores), kBlockM = 24 rows, COMPUTE_LENGTH = 1024: one row; column tails (130 = 2 x 64
# + 2) with several tiles of 16 / 24 rows; rows wider than COMPUTE_LENGTH (split 1024 + 76); tiles of 3 rows
# alternating between the two callback sets. The UB accumulator holds a block below 64 KiB, so its widest
# case is 600 columns.
SHAPES = [(1, 77, 77, 2), (37, 130, 64, 2), (50, 1100, 1100, 3), (24, 300, 300, 1)]
UB_SHAPES = [(1, 77, 77, 2), (37, 130, 64, 2), (50, 600, 600, 3), (24, 300, 300, 1)]


def evg_inputs(m, n, seed, aux_dtype=np.float32, c_range=4.0):
    rng = np.random.default_rng(seed)
    c = rng.uniform(-c_range, c_range, (m, n)).astype(np.float32)
    bias = rng.uniform(-2, 2, n).astype(np.float32)
    aux = (rng.uniform(0.5, 2, (m, n)) * rng.choice([-1, 1], (m, n))).astype(aux_dtype)
    off = -(-n * 4 // 32) * 32  # aux starts 32-byte aligned after bias
    b = np.zeros(off + aux.nbytes, np.uint8)
    b[: n * 4] = bias.view(np.uint8)
    b[off:] = aux.view(np.uint8).ravel()
    return c, bias, aux, b


def run_evg(catlass, name, m, n, bn, cores, c, b, d, ws=None):
    return catlass.run("catlass_evg", "aiv", cores, c, b, d, ws, m=m, n=n, k=bn, variant=EVG[name])


@pytest.mark.parametrize("out", ["half", "bf16", "float"])
@pytest.mark.parametrize("m, n, bn, cores", SHAPES)
def test_evg_alpha_c_plus_bias_cast(catlass, out, m, n, bn, cores):
    c, bias, _, b = evg_inputs(m, n, m + n)
    # alpha * C, + bias (fp32, one rounding each), then a round-to-nearest-even cast: bit for bit.
    ref = torch.from_numpy(ALPHA * c + bias[None, :])
    if out == "float":
        d = np.full((m, n), np.nan, np.float32)
        run_evg(catlass, "bias_float", m, n, bn, cores, c, b, d)
        np.testing.assert_array_equal(d, ref.numpy())
    else:
        dtype = torch.float16 if out == "half" else torch.bfloat16
        d = np.full((m, n), -1, np.int16)  # a NaN in both types
        run_evg(catlass, f"bias_{out}", m, n, bn, cores, c, b, d)
        np.testing.assert_array_equal(d, bits(ref.to(dtype)))


@pytest.mark.parametrize("m, n, bn, cores", SHAPES)
def test_evg_silu_times_aux_float(catlass, m, n, bn, cores):
    c, _, aux, b = evg_inputs(m, n, 7 * m + n, c_range=8.0)
    d = np.full((m, n), np.nan, np.float32)
    run_evg(catlass, "silu_mul_float", m, n, bn, cores, c, b, d)
    # Silu's fp32 exp, + 1 and divide, then the product: 4 roundings of 2^-24 plus the exp's error (expf,
    # within an ulp): 8 ulp relative is a bound with room; tiny values are relative too (no cancellation).
    want = torch.nn.functional.silu(torch.from_numpy(c).double()) * torch.from_numpy(aux).double()
    np.testing.assert_allclose(d, want.numpy(), rtol=8 * 2.0**-24, atol=0)


@pytest.mark.parametrize("m, n, bn, cores", SHAPES)
def test_evg_silu_times_aux_half(catlass, m, n, bn, cores):
    c, _, aux, b = evg_inputs(m, n, 3 * m + n, aux_dtype=np.float16, c_range=8.0)
    d = np.full((m, n), np.nan, np.float16)
    run_evg(catlass, "silu_mul_half", m, n, bn, cores, c, b, d)
    # C cast to half (taken as the input), then Silu in half (exp, + 1, divide each rounded to half) and the
    # product: 4 roundings of 2^-11 relative; results below half's normal range are absolute (2^-24).
    x = torch.from_numpy(c.astype(np.float16)).double()
    want = torch.nn.functional.silu(x) * torch.from_numpy(aux).double()
    np.testing.assert_allclose(d.astype(np.float64), want.numpy(), rtol=5 * 2.0**-11, atol=2.0**-24)


@pytest.mark.parametrize("m, n, bn, cores", SHAPES)
def test_evg_topological_silu_gate(catlass, m, n, bn, cores):
    c, bias, _, b = evg_inputs(m, n, 5 * m + n)
    d = np.full((m, n), np.nan, np.float16)
    z = np.full((m, n), np.nan, np.float32)
    run_evg(catlass, "silu_gate_dag", m, n, bn, cores, c, b, d, ws=z)
    want_z = c + bias[None, :]  # one fp32 rounding: exact
    np.testing.assert_array_equal(z, want_z)
    # silu(Z) * Z in fp32 (a few ulp of 2^-24) then rounded to half: within one half ulp (2^-10 relative) of
    # the exact value; 2^-24 absolute below half's normal range.
    zt = torch.from_numpy(want_z).double()
    want = (torch.nn.functional.silu(zt) * zt).numpy()
    np.testing.assert_allclose(d.astype(np.float64), want, rtol=2.0**-10, atol=2.0**-24)


@pytest.mark.parametrize("m, n, bn, cores", UB_SHAPES)
def test_evg_ub_accumulator_add_relu(catlass, m, n, bn, cores):
    c, bias, _, b = evg_inputs(m, n, 11 * m + n)
    d = np.full((m, n), np.nan, np.float32)
    run_evg(catlass, "ub_add_relu", m, n, bn, cores, c, b, d)
    np.testing.assert_array_equal(d, np.maximum(c + bias[None, :], np.float32(0)))  # one rounding: exact


def test_evg_ub_overflow_trips_catlass_assert(catlass):
    # The visitors' get_callbacks assert(ub_offset <= UB_SIZE) (CANN's kernel assert, on by default) must
    # stop a tree whose buffers exceed UB before anything runs.
    c, _, _, b = evg_inputs(4, 64, 1)
    d = np.full((4, 64), np.nan, np.float32)
    with pytest.raises(catlass.EmuError, match=r"assert: .*Assertion `ub_offset <= ArchTag::UB_SIZE' failed"):
        run_evg(catlass, "ub_overflow", 4, 64, 64, 1, c, b, d)
    assert np.isnan(d).all()
