"""Fuzz strategy for moe_finalize_routing: T 0-30 tokens, K 1-8 (and 64), H 1-300 (and 2100),
fp16 / bf16 / fp32 rows with NaN in every row no pair points at (it must not leak in), optional
skips, bias with expert ids, scales of any float dtype; dst entries shuffled, dropped (-1), out of
range on either side and (int64) past int32; both index orders; non-contiguous views; NaN / inf in
the rows read and the scales; then one argument broken. Valid cases must equal the reference bit
for bit (docs/ops/moe_routing.md), NaN where it has NaN."""

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

FLOATS = (torch.float16, torch.bfloat16, torch.float32)


def _check(got, want):
    assert got.dtype == want.dtype and got.shape == want.shape
    assert torch.equal(got.isnan(), want.isnan()), "NaN positions differ"
    assert torch.equal(got.nan_to_num(), want.nan_to_num()), f"max diff {(got.float() - want.float()).abs().max()}"


@st.composite
def cases(draw, Case):
    g = U.seeded(draw)
    tokens = draw(st.integers(0, 30))
    top_k = draw(U.mostly(st.integers(1, 8), 64))
    if top_k == 64:
        tokens = min(tokens, 3)
    hidden = draw(U.mostly(st.integers(1, 300), 2100))
    dtype = draw(st.sampled_from(FLOATS))
    pairs = tokens * top_k
    rows = (torch.randn(pairs, hidden, generator=g) * 3).to(dtype)
    order = draw(st.sampled_from([0, 2]))
    dst = torch.randperm(pairs, generator=g)
    dropped = torch.rand(pairs, generator=g) < draw(st.sampled_from([0.0, 0.2, 1.0]))
    dst[dropped] = torch.randint(-3, 1, (int(dropped.sum()),), generator=g)  # -3..0: negative, or (0) ...
    dst[dropped & (dst == 0)] = pairs + 5  # ... past the rows
    dst_dtype = draw(st.sampled_from([torch.int32, torch.int64]))
    dst = dst.to(dst_dtype)
    if dst_dtype == torch.int64 and pairs and draw(st.booleans()):  # past int32: out of range, not wrapped
        U.plant(draw, dst, values=[2**32, 2**32 + 1, -(2**32) + 1])
    read = torch.zeros(pairs, dtype=torch.bool)
    valid = dst[(dst >= 0) & (dst < pairs)].long()
    read[valid] = True
    rows[~read] = float("nan")  # never read
    if draw(st.integers(0, 3)) == 0 and read.any():
        U.plant(draw, rows[read.nonzero()[0, 0]][None])
    skip1 = (torch.randn(tokens, hidden, generator=g)).to(dtype) if draw(st.booleans()) else None
    skip2 = (torch.randn(tokens, hidden, generator=g)).to(dtype) if skip1 is not None and draw(st.booleans()) else None
    experts = draw(st.integers(1, 9))
    expert_ids, bias = None, None
    if draw(st.booleans()):
        expert_ids = torch.randint(0, experts, (tokens, top_k), generator=g).to(draw(st.sampled_from([torch.int32,
                                                                                                       torch.int64])))
        if draw(st.booleans()):
            bias = torch.randn(experts, hidden, generator=g).to(dtype)
    scales = None
    if draw(st.booleans()) or (skip1 is None and expert_ids is None):
        scales = torch.rand(tokens, top_k, generator=g).to(draw(st.sampled_from(FLOATS)))
        if draw(st.integers(0, 4)) == 0:
            U.plant(draw, scales)
    rows = U.maybe_noncontiguous(draw, rows)
    if scales is not None:
        scales = U.maybe_noncontiguous(draw, scales)
    mutation = draw(st.sampled_from([None] * 12 + ["rows 3-D", "rows int8", "dst shape", "dst float", "mode 1",
                                                  "skip2 alone", "scales shape", "skip1 dtype", "bias alone",
                                                  "bias shape", "export shape", "K 65", "H 0", "no T",
                                                  "bias expert id", "not a tensor"]))  # fmt: skip
    if mutation == "rows 3-D":
        rows = rows[None]
    elif mutation == "rows int8":
        rows = torch.zeros(pairs, hidden, dtype=torch.int8)
    elif mutation == "dst shape":
        dst = torch.zeros(pairs + 1, dtype=torch.int32)
    elif mutation == "dst float":
        dst = dst.float()
    elif mutation == "mode 1":
        order = 1
    elif mutation == "skip2 alone" and tokens:
        skip1, skip2 = None, torch.zeros(tokens, hidden, dtype=dtype)
    elif mutation == "scales shape" and scales is not None:
        scales = torch.ones(tokens + 1, top_k)  # (T+1)*K != T*K rows (K+1 columns would fit T = 0)
    elif mutation == "skip1 dtype" and skip1 is not None:
        skip1 = skip1.to(torch.float32 if dtype != torch.float32 else torch.float16)
    elif mutation == "bias alone" and tokens:
        bias, expert_ids = torch.zeros(experts, hidden, dtype=dtype), None
        scales = torch.ones(tokens, top_k) if scales is None else scales
    elif mutation == "bias shape" and bias is not None:
        bias = torch.zeros(experts, hidden + 1, dtype=dtype)
    elif mutation == "export shape" and expert_ids is not None:
        # One column fewer is a different K unless something else fixes K: no tokens and no scales
        # leave the empty [0, K - 1] ids self-consistent (the long profile found it), so go 3-D there.
        if top_k > 1 and (tokens or scales is not None):
            expert_ids = expert_ids[:, :-1]
        else:
            expert_ids = expert_ids[:-1] if tokens else expert_ids[None]
    elif mutation == "K 65":
        rows, dst = torch.zeros(65, hidden, dtype=dtype), torch.arange(65, dtype=torch.int32)
        skip1 = skip2 = bias = expert_ids = None
        scales = torch.ones(1, 65)
    elif mutation == "H 0":
        rows = rows[:, :0]
        skip1 = skip2 = bias = None
    elif mutation == "no T":
        scales = expert_ids = skip1 = skip2 = bias = None
    elif mutation == "bias expert id" and bias is not None and tokens:
        expert_ids = expert_ids.clone()
        expert_ids[draw(st.integers(0, tokens - 1)), draw(st.integers(0, top_k - 1))] = draw(
            st.sampled_from([-1, experts, 2**31 - 1]))
    elif mutation == "not a tensor":
        dst = dst.tolist()
    else:
        mutation = None
    args = (rows, skip1, skip2, bias, scales, dst, expert_ids, order)
    names = ("expanded_permuted_rows", "skip1", "skip2", "bias", "scales", "expanded_src_to_dst_row",
             "export_for_source_row")  # fmt: skip
    tensors = {name: t for name, t in zip(names, args) if isinstance(t, torch.Tensor)}
    return Case(
        call=lambda: ops.moe_finalize_routing(*args),
        reference=lambda: reference.moe_finalize_routing(*args, tokens=tokens),
        check=_check, valid=mutation is None, tensors=tensors,
        what=f"{tokens=} {top_k=} {hidden=} {dtype} dst {dst_dtype} {order=} skips {skip1 is not None}/"
             f"{skip2 is not None} bias {bias is not None} scales {getattr(scales, 'dtype', None)} mutation {mutation}",
    )  # fmt: skip
