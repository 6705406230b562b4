"""2D convolutions built from catlass's Atlas A2 conv tile operators on the emulator, against torch.

Huawei code exercised (catlass_conv.cpp): Catlass::Conv::Tile::TileCopy<AtlasA2, ...> with its
CopyGmToL1 (NC1HWC0 fmap window, CI1KHKWCOCI0 filter), CopyL1ToL0A (LoadData 3Dv2 im2col with
Conv2dFilterParams and the block's padding), CopyL1ToL0B (LoadData 2D), CopyL0CToGm (NZ fixpipe into
NC1HWC0, F322F16 / F322BF16), and Gemm::Tile::TileMmad; the block loop is ours, in catlass's style.

Checked against torch.nn.functional.conv2d in float64 on the same rounded inputs, with the bound of
fp32 accumulation over K = Cin * Kh * Kw terms, |err| <= K * 2^-24 * sum |w x| (the cube's summation
order is not published), plus the rounding of the half / bf16 output (2^-11 / 2^-8 relative). The
output's channel padding (C0 tail of the last Cout1 plane) is not compared; every real element must
have been written (the GM image starts as NaN)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

C0 = 16
# name: (torch dtype, variant in catlass_conv.cpp, output rounding); "_tla": the PackedTileCopyTla loop.
DTYPES = {"half": (torch.float16, 0, 2.0**-11), "bf16": (torch.bfloat16, 1, 2.0**-8),
          "half_tla": (torch.float16, 2, 2.0**-11), "bf16_tla": (torch.bfloat16, 3, 2.0**-8)}

# (batch, cin, h, w, cout, (kh, kw), (strideH, strideW), (padH, padW), (dilH, dilW), cores): channels off
# every multiple of C0, H / W off 16 and off the 4 x 8 output block, stride 2, padding, 3x3 / 1x1 /
# 3x2 filters, dilation 2, Cin1 tails in the L1 and L0 K loops, Cout tails in the 48-wide block.
SHAPES = [
    (1, 20, 9, 13, 40, (3, 3), (1, 1), (1, 1), (1, 1), 2),
    (2, 35, 11, 10, 17, (3, 3), (2, 2), (1, 1), (1, 1), 3),
    (1, 16, 7, 19, 50, (1, 1), (1, 1), (0, 0), (1, 1), 2),
    (1, 8, 12, 12, 16, (3, 3), (1, 1), (2, 2), (2, 2), 2),
    (1, 24, 10, 9, 33, (3, 2), (2, 1), (1, 0), (1, 1), 4),
]


def to_nc1hwc0(x: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] -> [N, C1, H, W, C0], channels zero-padded to whole C0 blocks."""
    n, c, h, w = x.shape
    c1 = -(-c // C0)
    x = F.pad(x, (0, 0, 0, 0, 0, c1 * C0 - c))
    return x.reshape(n, c1, C0, h, w).permute(0, 1, 3, 4, 2).contiguous()


def to_ci1khkwcoci0(w: torch.Tensor) -> torch.Tensor:
    """[Cout, Cin, Kh, Kw] -> [Cin1, Kh, Kw, Cout, C0], Cin zero-padded to whole C0 blocks."""
    co, ci, kh, kw = w.shape
    c1 = -(-ci // C0)
    w = F.pad(w, (0, 0, 0, 0, 0, c1 * C0 - ci))
    return w.reshape(co, c1, C0, kh, kw).permute(1, 3, 4, 0, 2).contiguous()


def bits(t: torch.Tensor) -> np.ndarray:
    return t.contiguous().view(torch.int16).numpy().copy()


def run_conv(catlass, dtype, batch, cin, h, w, cout, k, stride, pad, dil, cores, seed=0):
    tdt, variant, out_rnd = DTYPES[dtype]
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, cin, h, w, generator=g).to(tdt)
    wt = torch.randn(cout, cin, *k, generator=g).to(tdt)
    ho = (h + 2 * pad[0] - dil[0] * (k[0] - 1) - 1) // stride[0] + 1
    wo = (w + 2 * pad[1] - dil[1] * (k[1] - 1) - 1) // stride[1] + 1
    cin1, cout1 = -(-cin // C0), -(-cout // C0)
    shape = np.array([batch, cin1, h, w, cout, k[0], k[1], pad[1], pad[1], pad[0], pad[0], stride[0], stride[1],
                      dil[0], dil[1], ho, wo], np.uint32)  # fmt: skip
    out = np.full(batch * cout1 * ho * wo * C0, 0x7FC0 if tdt == torch.bfloat16 else 0x7E00, np.uint16).view(np.int16)
    catlass.run("catlass_conv2d", "aic", cores, bits(to_nc1hwc0(x)), bits(to_ci1khkwcoci0(wt)), out, ws=shape,
                variant=variant)
    got = torch.from_numpy(out.copy()).view(tdt).reshape(batch, cout1, ho, wo, C0).float()
    got = got.permute(0, 1, 4, 2, 3).reshape(batch, cout1 * C0, ho, wo)[:, :cout].double()
    args = dict(stride=stride, padding=pad, dilation=dil)
    ref = F.conv2d(x.double(), wt.double(), **args)
    mag = F.conv2d(x.double().abs(), wt.double().abs(), **args)
    return got, ref, mag, cin * k[0] * k[1], out_rnd


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s[:5])) + f"_k{s[5][0]}{s[5][1]}_s{s[6][0]}")
def test_conv2d_matches_torch(catlass, dtype, shape):
    got, ref, mag, k, out_rnd = run_conv(catlass, dtype, *shape)
    assert not torch.isnan(got).any(), "output elements left unwritten"
    tol = k * 2.0**-24 * mag + out_rnd * ref.abs() + 2.0**-25  # + half subnormal spacing / 2
    err = (got - ref).abs()
    assert (err <= tol).all(), f"max err {err.max():.3g}, at {torch.nonzero(err > tol)[0].tolist()}"
