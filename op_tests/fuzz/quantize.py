"""Fuzz strategy for quantize: inputs fp16 / bf16 / fp32 of rank 1-3 (zero-size leading dims, K up
to 6144 with ragged tails), per-tensor (1 element, 0-d too) or per-channel scales in three dtypes,
float and integer zero points, both div modes, magnitudes that saturate, non-contiguous views,
NaN / inf in the input; then one argument broken (dtype, shape, axis, mode). Valid cases must equal
the reference bit for bit (docs/ops/quantize.md: bit-exact), except where the input is NaN (no
defined result: outside the contract)."""

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
OFFSET_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.int8, torch.uint8, torch.int32)


def _check(x):
    def check(got, want):
        assert got.dtype == torch.int8 and got.shape == want.shape
        # A NaN input element has no defined int8 (docs: outside the contract); every other element,
        # inf included (saturated), must be exact.
        defined = ~x.isnan()
        differ = (got != want) & defined
        assert not differ.any(), f"{int(differ.sum())} of {got.numel()} int8 values differ"

    return check


@st.composite
def cases(draw, Case):
    g = U.seeded(draw)
    dtype = draw(st.sampled_from(FLOATS))
    cols = draw(U.mostly(st.integers(1, 300), 2048, 2049, 6144))
    lead = draw(st.lists(st.integers(0, 5), max_size=2))
    magnitude = draw(st.sampled_from([1e-3, 1.0, 40.0, 1e4]))
    x = (torch.randn(*lead, cols, generator=g) * magnitude).to(dtype)
    if draw(st.booleans()):
        U.plant(draw, x)
    x = U.maybe_noncontiguous(draw, x)
    per_channel = draw(st.booleans())
    n = cols if per_channel else 1
    sdtype = draw(st.sampled_from([torch.float32, torch.float16, torch.bfloat16]))
    scales = (torch.rand(n, generator=g) * 2 + draw(st.sampled_from([1e-3, 0.05, 1.0]))).to(sdtype)
    if not per_channel and draw(st.booleans()):
        scales = scales.reshape(())
    zero_points = None
    if draw(st.booleans()):
        zdtype = draw(st.sampled_from(OFFSET_DTYPES))
        low = 0 if zdtype == torch.uint8 else -30
        zero_points = torch.randint(low, 30, (n,), generator=g).to(zdtype).reshape(scales.shape)
    div_mode = draw(st.booleans())
    axis = -1
    dtype_out = draw(st.sampled_from([torch.qint8, torch.int8]))
    mutation = draw(st.sampled_from([None] * 10 + ["int8 input", "0-d input", "scales shape", "scales 2-D",
                                                   "scales dtype", "zero_points shape", "zero_points dtype",
                                                   "quint8", "div_mode int", "axis -2", "not a tensor"]))  # fmt: skip
    if mutation == "int8 input":
        x = torch.zeros(*lead, cols, dtype=torch.int8)
    elif mutation == "0-d input":
        x = torch.tensor(1.0, dtype=dtype)
    elif mutation == "scales shape":
        scales = torch.ones(cols + 1, dtype=sdtype)
    elif mutation == "scales 2-D" and cols > 1:
        scales = torch.ones(1, cols, dtype=sdtype)
    elif mutation == "scales dtype":
        scales = torch.ones(n, dtype=torch.int32)
    elif mutation == "zero_points shape":
        zero_points = torch.zeros(n + 1, dtype=torch.float32)
    elif mutation == "zero_points dtype":
        zero_points = torch.zeros(n, dtype=torch.int64)
    elif mutation == "quint8":
        dtype_out = torch.quint8
    elif mutation == "div_mode int":
        div_mode = 1
    elif mutation == "axis -2" and per_channel and cols > 1:
        axis = -2
    elif mutation == "not a tensor":
        scales = scales.tolist()
    else:
        mutation = None
    tensors = {k: t for k, t in (("input", x), ("scales", scales), ("zero_points", zero_points))
               if isinstance(t, torch.Tensor)}  # fmt: skip
    return Case(
        call=lambda: ops.quantize(x, scales, zero_points, dtype_out, axis, div_mode),
        reference=lambda: reference.quantize(x, scales, zero_points, dtype_out, axis, div_mode),
        check=_check(x) if isinstance(x, torch.Tensor) else None, valid=mutation is None, tensors=tensors,
        what=f"x {x.dtype} {tuple(x.shape)} {x.stride()} scales {getattr(scales, 'dtype', None)} "
             f"{tuple(getattr(scales, 'shape', ()))} zp {getattr(zero_points, 'dtype', None)} {div_mode=} {axis=} "
             f"mutation {mutation}",
    )  # fmt: skip
