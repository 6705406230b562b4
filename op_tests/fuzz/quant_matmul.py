"""Fuzz strategy for quant_matmul: M 0-300 (multi-pass row counts), K 1-520 (tails), N 1-300;
x2 as w.t() of an [N, K] weight, a contiguous [K, N], or other strides; float32 / bfloat16 / int64
(fp32 bits, with npu_trans_quant_param's bit 46 or without) scales of [N] or [1]; optional [M] /
[M, 1] per-token scales; int32 or float biases; every output dtype; NaN / inf in the scales and
float bias; then one argument broken. Valid cases: int32 exact; bf16 / fp16 within 1 ulp, fp32
within 2, plus a few fp32 ulps of |y| + |bias| with a float bias (docs/ops/quant_matmul.md); NaN
where the reference has NaN and the largest finite value where it overflows (saturating cast)."""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import torch
from hypothesis import strategies as st

from ascend_glm5 import ops, reference

_spec = importlib.util.spec_from_file_location("fuzz_util", pathlib.Path(__file__).with_name("_util.py"))
U = sys.modules.setdefault("fuzz_util", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(U)

OUT_DTYPES = (None, torch.bfloat16, torch.float16, torch.float32, torch.int32)
ULPS = {torch.bfloat16: 1, torch.float16: 1, torch.float32: 2}


def _check(x1, x2, scale, kw):
    def check(got, want):
        assert got.dtype == want.dtype and got.shape == want.shape
        if got.dtype == torch.int32:
            assert torch.equal(got, want), f"int32 differs by {int((got - want).abs().max())}"
            return
        assert torch.equal(got.isnan(), want.isnan()), "NaN positions differ"
        ok = want.isnan() | (got == want) | U.saturated(got, want)
        finite = ~ok & want.isfinite() & got.isfinite()
        dist = torch.zeros_like(want, dtype=torch.int64)
        dist[finite] = U.ulp_distance(got[finite], want[finite])
        ok |= finite & (dist <= ULPS[got.dtype])
        bias = kw.get("bias")
        if bias is not None and bias.dtype != torch.int32:  # one more fp32 rounding of |y| + |bias|
            unbiased = reference.quant_matmul(x1, x2, scale, pertoken_scale=kw.get("pertoken_scale"),
                                              output_dtype=torch.float32)  # fmt: skip
            slack = 4 * torch.finfo(torch.float32).eps * (unbiased.double().abs() + bias.double().abs())
            ok |= (got.double() - want.double()).abs() <= slack
        assert ok.all(), f"{int((~ok).sum())} values off: got {got[~ok][:4]} want {want[~ok][:4]}"

    return check


@st.composite
def cases(draw, Case):
    g = U.seeded(draw)
    m = draw(U.mostly(st.integers(0, 40), 256, 257, 300))
    k = draw(U.mostly(st.integers(1, 130), 256, 257, 520))
    n = draw(U.mostly(st.integers(1, 100), 128, 300))
    x1 = U.maybe_noncontiguous(draw, torch.randint(-128, 128, (m, k), dtype=torch.int8, generator=g))
    w = torch.randint(-128, 128, (n, k), dtype=torch.int8, generator=g)
    layout = draw(st.sampled_from(["nk", "kn", "strided"]))
    x2 = w.t() if layout == "nk" else w.t().contiguous() if layout == "kn" else U.noncontiguous(w.t().contiguous(), 0)
    out = draw(st.sampled_from(OUT_DTYPES))
    scale = torch.rand(draw(st.sampled_from([n, 1])), generator=g) * 1e-3 + 1e-5
    kw = {"output_dtype": out}
    if draw(st.booleans()):
        pts = torch.rand(m, generator=g) * 0.05 + 1e-3
        kw["pertoken_scale"] = pts[:, None] if draw(st.booleans()) else pts
    bias_kind = draw(st.sampled_from([None, torch.int32] + ([] if out == torch.int32 else
                                                            [torch.bfloat16, torch.float16, torch.float32])))  # fmt: skip
    if bias_kind == torch.int32:
        kw["bias"] = torch.randint(-(2**20), 2**20, (n,), dtype=torch.int32, generator=g)
    elif bias_kind is not None:
        kw["bias"] = (torch.randn(n, generator=g) * draw(st.sampled_from([1e-3, 1.0, 100.0]))).to(bias_kind)
    if out != torch.int32 and draw(st.integers(0, 3)) == 0:
        targets = [scale] + [kw[name] for name in ("pertoken_scale", "bias")
                             if name in kw and kw[name].dtype != torch.int32]  # fmt: skip
        U.plant(draw, draw(st.sampled_from(targets)))
    scale_kind = draw(st.sampled_from(["float32", "bfloat16", "int64", "int64 flag"]))
    if scale_kind == "bfloat16":
        scale = scale.to(torch.bfloat16)
    elif scale_kind.startswith("int64"):
        scale = (scale.view(torch.int32).to(torch.int64) & 0xFFFFFFFF) | ((1 << 46) if "flag" in scale_kind else 0)
    mutation = draw(st.sampled_from([None] * 12 + ["x1 dtype", "x2 dtype", "x1 3-D", "K mismatch", "scale shape",
                                                  "scale dtype", "scale word", "offset", "pts shape", "pts dtype",
                                                  "bias shape", "bias dtype", "float bias int32 out", "output int8",
                                                  "K 0", "K 131072", "not a tensor"]))  # fmt: skip
    if mutation == "x1 dtype":
        x1 = x1.to(torch.int32)
    elif mutation == "x2 dtype":
        x2 = x2.to(torch.uint8)
    elif mutation == "x1 3-D":
        x1 = x1[None]
    elif mutation == "K mismatch":
        x2 = torch.zeros(k + 1, n, dtype=torch.int8)
    elif mutation == "scale shape":
        scale = torch.ones(n + 1)
    elif mutation == "scale dtype":
        scale = torch.ones(n, dtype=torch.float16)
    elif mutation == "scale word":
        scale = torch.full((n,), 5 << 37, dtype=torch.int64)
    elif mutation == "offset":
        kw["offset"] = torch.zeros(n)
    elif mutation == "pts shape":
        kw["pertoken_scale"] = torch.ones(m + 1)
    elif mutation == "pts dtype":
        kw["pertoken_scale"] = torch.ones(m, dtype=torch.bfloat16)
    elif mutation == "bias shape":
        kw["bias"] = torch.zeros(n + 1, dtype=torch.int32)
    elif mutation == "bias dtype":
        kw["bias"] = torch.zeros(n, dtype=torch.int64)
    elif mutation == "float bias int32 out":
        kw["bias"], kw["output_dtype"] = torch.zeros(n), torch.int32
    elif mutation == "output int8":
        kw["output_dtype"] = torch.int8
    elif mutation == "K 0":
        x1, x2 = x1[:, :0], x2[:0]
    elif mutation == "K 131072":
        x1, x2 = torch.zeros(1, 131072, dtype=torch.int8), torch.zeros(131072, 1, dtype=torch.int8)
        scale = torch.ones(1)
    elif mutation == "not a tensor":
        scale = scale.tolist()
    else:
        mutation = None
    tensors = {name: t for name, t in [("x1", x1), ("x2", x2), ("scale", scale), *kw.items()]
               if isinstance(t, torch.Tensor)}  # fmt: skip
    return Case(
        call=lambda: ops.quant_matmul(x1, x2, scale, **kw),
        reference=lambda: reference.quant_matmul(x1, x2, scale, **kw),
        check=_check(x1, x2, scale, kw), valid=mutation is None, tensors=tensors,
        what=f"{m=} {k=} {n=} {layout} scale {scale_kind} {getattr(scale, 'shape', None)} "
             f"{ {k_: (t.dtype, tuple(t.shape)) if isinstance(t, torch.Tensor) else t for k_, t in kw.items()} } "
             f"mutation {mutation}",
    )  # fmt: skip
