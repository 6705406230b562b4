"""Fuzz strategy for grouped_matmul_a8w4: 1-6 experts with empty, single-row and uneven groups
(sum below M too), M 0-48, K 1-520 (tails), N 8-264 (multiples of 8), any int32 packing of the int4
weights, float32 or int64 (fp32 bits) scales of both shapes, [M] or [M, 1] per-token scales, every
output dtype, non-contiguous views, NaN / inf in the scales; then one argument broken (dtype,
shape, counts, type, bias). Valid cases: int32 K-sums exact, bf16 / fp16 within 1 ulp and fp32
within 2 of the reference (docs/ops/grouped_matmul_a8w4.md), NaN where the reference has NaN, the
largest finite value where the reference overflows (saturating cast, documented), and rows past
sum(group_list) zero. A given bias is the consistent one (the reference checks its value)."""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import torch
from hypothesis import strategies as st

from ascend_glm5 import ops, reference
from ascend_glm5.quant import scale_bias, unpack_int4_int32

_spec = importlib.util.spec_from_file_location("fuzz_util", pathlib.Path(__file__).with_name("_util.py"))
U = sys.modules.setdefault("fuzz_util", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(U)

OUT_DTYPES = (torch.bfloat16, torch.float16, torch.float32, torch.int32)
ULPS = {torch.bfloat16: 1, torch.float16: 1, torch.float32: 2}


def check_dequantised(got: torch.Tensor, want: torch.Tensor) -> None:
    """NaN exactly where the reference has NaN, infinities equal, finite values within ULPS."""
    assert got.dtype == want.dtype and got.shape == want.shape
    if got.dtype == torch.int32:
        assert torch.equal(got, want), f"int32 differs by {int((got - want).abs().max())}"
        return
    assert torch.equal(got.isnan(), want.isnan()), "NaN positions differ"
    finite = ~want.isnan() & ~U.saturated(got, want)
    g, w = got[finite], want[finite]
    assert torch.equal(g.isinf(), w.isinf()) and torch.equal(g[g.isinf()], w[w.isinf()]), "infinities differ"
    if g.numel():
        dist = U.ulp_distance(g, w)
        assert int(dist.max()) <= ULPS[got.dtype], f"{int(dist.max())} ulps"


def _check(rows_used):
    def check(got, want):
        check_dequantised(got, want)
        assert (got[rows_used:] == 0).all(), "rows past sum(group_list) not zero"

    return check


@st.composite
def cases(draw, Case):
    g = U.seeded(draw)
    experts = draw(st.integers(1, 6))
    m = draw(st.integers(0, 48))
    cuts = sorted(draw(st.lists(st.integers(0, m), min_size=experts, max_size=experts)))
    counts = [b - a for a, b in zip([0, *cuts], cuts)]
    k = draw(U.mostly(st.integers(1, 130), 256, 257, 520))
    n = 8 * draw(st.integers(1, 33))
    x = torch.randint(-128, 128, (m, k), dtype=torch.int8, generator=g)
    weight = torch.randint(-(2**31), 2**31, (experts, k, n // 8), dtype=torch.int64, generator=g).to(torch.int32)
    scale = torch.rand(experts, n, generator=g) * 1e-3 + 1e-5
    if draw(st.booleans()):
        scale = scale[:, None, :]
    pts = torch.rand(m, generator=g) * 0.05 + 1e-3
    if draw(st.booleans()):
        pts = pts[:, None]
    out = draw(st.sampled_from(OUT_DTYPES))
    bias = None
    if draw(st.booleans()):  # CANN's auxiliary 8 * sum_k(w * scale), as a checkpoint holds it
        bias = scale_bias(unpack_int4_int32(weight).transpose(1, 2), scale.reshape(experts, n))
    elif out != torch.int32 and draw(st.integers(0, 2)) == 0:
        U.plant(draw, draw(st.sampled_from([scale, pts])))
    if draw(st.booleans()):  # int64 words holding the fp32 bits (vllm-ascend)
        scale = scale.view(torch.int32).to(torch.int64) & 0xFFFFFFFF
    x = U.maybe_noncontiguous(draw, x)
    weight = U.maybe_noncontiguous(draw, weight)
    pts = U.maybe_noncontiguous(draw, pts)
    group_list = torch.tensor(counts, dtype=torch.int64)
    group_list_type = 1
    mutation = draw(st.sampled_from([None] * 12 + ["x dtype", "weight dtype", "x 3-D", "weight K", "scale shape",
                                                  "scale dtype", "scale word", "pts shape", "pts dtype", "counts sum",
                                                  "negative count", "group_list dtype", "group_list shape",
                                                  "group_list_type 0", "bias dtype", "bias shape", "output int8",
                                                  "K 0", "not a tensor"]))  # fmt: skip
    if mutation == "x dtype":
        x = x.to(torch.int32)
    elif mutation == "weight dtype":
        weight = weight.to(torch.int8)
    elif mutation == "x 3-D":
        x = x[None]
    elif mutation == "weight K":
        weight = torch.zeros(experts, k + 1, n // 8, dtype=torch.int32)
    elif mutation == "scale shape":
        scale = torch.ones(experts + 1, n)
    elif mutation == "scale dtype":
        scale = torch.ones(experts, n, dtype=torch.bfloat16)
    elif mutation == "scale word":
        scale = torch.full((experts, n), -1, dtype=torch.int64)
    elif mutation == "pts shape":
        pts = torch.ones(m + 1)
    elif mutation == "pts dtype":
        pts = torch.ones(m, dtype=torch.float16)
    elif mutation == "counts sum":
        group_list = torch.tensor([m + 1] + [0] * (experts - 1), dtype=torch.int64)
    elif mutation == "negative count" and experts > 1:
        group_list = torch.tensor([-1] + counts[1:], dtype=torch.int64)
    elif mutation == "group_list dtype":
        group_list = group_list.to(torch.int32)
    elif mutation == "group_list shape":
        group_list = torch.tensor([*counts, 0], dtype=torch.int64)
    elif mutation == "group_list_type 0":
        group_list_type = 0
    elif mutation == "bias dtype":
        bias = torch.zeros(experts, n, dtype=torch.bfloat16)
    elif mutation == "bias shape":
        bias = torch.zeros(experts, n + 8)
    elif mutation == "output int8":
        out = torch.int8
    elif mutation == "K 0":
        x, weight = x[:, :0], weight[:, :0]
    elif mutation == "not a tensor":
        group_list = counts
    else:
        mutation = None
    args = (x, weight, scale, pts, group_list)
    kw = dict(bias=bias, group_list_type=group_list_type, output_dtype=out)
    tensors = {name: t for name, t in zip(("x", "weight", "scale", "per_token_scale", "group_list", "bias"), (*args, bias))
               if isinstance(t, torch.Tensor)}  # fmt: skip
    return Case(
        call=lambda: ops.grouped_matmul_a8w4(*args, **kw),
        reference=lambda: reference.grouped_matmul_a8w4(*args, **kw),
        check=_check(sum(counts)), valid=mutation is None, tensors=tensors,
        what=f"counts {counts} {m=} {k=} {n=} scale {scale.dtype} {tuple(scale.shape)} {out} mutation {mutation}",
    )  # fmt: skip
