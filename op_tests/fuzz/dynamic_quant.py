"""Fuzz strategy for dynamic_quant: shapes (rank 1-3, zero-size, H up to 16385), dtypes, smooth
scales (missing, wrong dtype / shape), non-contiguous views, magnitudes from 1e-30 to 6e4 and
NaN / inf anywhere. Valid cases must equal the reference bit for bit (NaN scales where both are NaN)."""

from __future__ import annotations

import torch
from hypothesis import strategies as st

from ascend_glm5 import ops, reference

FLOATS = (torch.float16, torch.bfloat16)


def _check(got, want):
    q, scale = got
    q_ref, scale_ref = want
    assert q.dtype == torch.int8 and scale.dtype == torch.float32
    assert torch.equal(q, q_ref), f"{int((q != q_ref).sum())} int8 values differ"
    assert torch.equal(scale.isnan(), scale_ref.isnan())
    assert torch.equal(scale.nan_to_num(), scale_ref.nan_to_num())


@st.composite
def cases(draw, Case):
    dtype = draw(st.sampled_from(FLOATS))
    hidden = draw(st.one_of(st.integers(1, 300), st.sampled_from([2048, 2049, 7173, 16384])))
    lead = draw(st.lists(st.integers(0, 4), min_size=0, max_size=2))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    magnitude = draw(st.sampled_from([1e-30, 1.0, 3.0, 6e4]))
    if dtype == torch.float16 and magnitude == 1e-30:
        magnitude = 1e-6
    if draw(st.booleans()):  # non-contiguous: every other column of a wider tensor
        x = (torch.randn(*lead, 2 * hidden, generator=g) * magnitude).clamp(-6e4, 6e4).to(dtype)[..., ::2]
    else:
        x = (torch.randn(*lead, hidden, generator=g) * magnitude).clamp(-6e4, 6e4).to(dtype)
    if x.numel() and draw(st.booleans()):  # NaN / inf anywhere
        for value in draw(st.lists(st.sampled_from([float("nan"), float("inf"), -float("inf")]), min_size=1, max_size=3)):
            x[tuple(draw(st.integers(0, n - 1)) for n in x.shape)] = value
    smooth = None
    if draw(st.booleans()):
        smooth = (torch.rand(hidden, generator=g) + 0.5).to(dtype)
    valid = True
    mutation = draw(st.sampled_from([None] * 6 + ["fp32 x", "int8 x", "smooth dtype", "smooth shape", "H 0",
                                                   "H 16385", "0-d", "not a tensor"]))  # fmt: skip
    if mutation == "fp32 x":
        x = x.float()
    elif mutation == "int8 x":
        x = x.to(torch.int8) if not x.isnan().any() else x.float()
    elif mutation == "smooth dtype":
        smooth = torch.ones(hidden, dtype=torch.float32)
    elif mutation == "smooth shape":
        smooth = torch.ones(hidden + 1, dtype=dtype)
    elif mutation == "H 0":
        x = x[..., :0]
    elif mutation == "H 16385":
        x = torch.zeros(2, 16385, dtype=dtype)
    elif mutation == "0-d":
        x = torch.tensor(1.0, dtype=dtype)
    elif mutation == "not a tensor":
        x = [[1.0, 2.0]]
    valid = mutation is None
    tensors = {"x": x} if isinstance(x, torch.Tensor) else {}
    if smooth is not None:
        tensors["smooth_scales"] = smooth
    return Case(
        call=lambda: ops.dynamic_quant(x, smooth_scales=smooth),
        reference=lambda: reference.dynamic_quant(x, smooth_scales=smooth),
        check=_check, valid=valid, tensors=tensors,
        what=f"x {getattr(x, 'dtype', type(x))} {tuple(getattr(x, 'shape', ()))} smooth {smooth is not None} mutation {mutation}",
    )  # fmt: skip
