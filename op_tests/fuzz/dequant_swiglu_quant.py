"""Fuzz strategy for dequant_swiglu_quant: int32 sums (up to 2^27) with weight / activation scales,
or fp16 / bf16 x; 0-70 rows, H from 1 to 8192; optional groups (empty ones, sum below T, int32 or
int64 counts) with shared or per-group weight and smooth scales; both gate sides; non-contiguous
views; NaN / inf in float x and in the scales; then one argument broken. Valid cases: int8 within 1
and scales within 1e-6 relative of the reference (docs/ops/dequant_swiglu_quant.md), NaN scales
where the reference's are NaN."""

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

Q_TOL, SCALE_RTOL = 1, 1e-6


def _check(got, want):
    y, scale = got
    y_ref, scale_ref = want
    assert y.dtype == torch.int8 and y.shape == y_ref.shape and scale.dtype == torch.float32
    assert scale.shape == scale_ref.shape
    diff = (y.int() - y_ref.int()).abs()
    if diff.numel():
        assert int(diff.max()) <= Q_TOL, f"int8 differs by {int(diff.max())}"
        assert int((diff > 0).sum()) <= max(1, diff.numel() // 1000), f"{int((diff > 0).sum())} int8 values differ"
    assert torch.equal(scale.isnan(), scale_ref.isnan()), "NaN scales differ"
    torch.testing.assert_close(scale.nan_to_num(), scale_ref.nan_to_num(), rtol=SCALE_RTOL, atol=0)


def _counts(draw, rows: int) -> list[int]:
    groups = draw(st.integers(1, 6))
    cuts = sorted(draw(st.lists(st.integers(0, rows), min_size=groups, max_size=groups)))
    bounds = [0, *cuts]
    return [bounds[i + 1] - bounds[i] for i in range(groups)]  # sums to cuts[-1] <= rows


@st.composite
def cases(draw, Case):
    g = U.seeded(draw)
    dtype = draw(st.sampled_from([torch.int32, torch.bfloat16, torch.float16]))
    half = draw(U.mostly(st.integers(1, 200), 1024, 1025, 2048, 8192))
    rows = draw(st.integers(0, 70 if half <= 1025 else 6))
    counts = _counts(draw, rows) if draw(st.booleans()) else None
    groups = 1 if counts is None else len(counts)
    kw = {"activate_left": draw(st.booleans()), "quant_mode": 1}
    if dtype == torch.int32:
        x = torch.randint(-(2**27), 2**27, (rows, 2 * half), dtype=torch.int32, generator=g)
        ws_rows = draw(st.sampled_from([None, 1, groups]))
        ws = (torch.rand(ws_rows or 1, 2 * half, generator=g) + 0.1) * 2e-7
        kw["weight_scale"] = ws[0] if ws_rows is None else ws
        act = torch.rand(rows, generator=g) * 30 + 0.01
        kw["activation_scale"] = act[:, None] if draw(st.booleans()) else act
    else:
        x = (torch.randn(rows, 2 * half, generator=g) * draw(st.sampled_from([0.01, 4.0, 300.0]))).to(dtype)
    if draw(st.booleans()):
        qs_rows = draw(st.sampled_from([None, 1, groups]))
        qs = torch.rand(qs_rows or 1, half, generator=g) + 0.5
        kw["quant_scale"] = qs[0] if qs_rows is None else qs
    if counts is not None:
        kw["group_index"] = torch.tensor(counts, dtype=draw(st.sampled_from([torch.int64, torch.int32])))
    if draw(st.integers(0, 3)) == 0:  # NaN / inf in x (float) or in a scale
        target = x if dtype != torch.int32 else draw(st.sampled_from([kw["weight_scale"], kw["activation_scale"]]))
        U.plant(draw, target)
    x = U.maybe_noncontiguous(draw, x)
    if "weight_scale" in kw:
        kw["weight_scale"] = U.maybe_noncontiguous(draw, kw["weight_scale"])
    mutation = draw(st.sampled_from([None] * 12 + ["quant_mode 0", "bias", "quant_offset", "odd width", "3-D x",
                                                   "H 8193", "fp32 x", "float x with scales", "no activation_scale",
                                                   "weight_scale shape", "quant_scale shape", "groups sum > T",
                                                   "negative count", "group_index 2-D", "group_index float",
                                                   "not a tensor"]))  # fmt: skip
    if mutation == "quant_mode 0":
        kw["quant_mode"] = 0
    elif mutation == "bias":
        kw["bias"] = torch.zeros(2 * half)
    elif mutation == "quant_offset":
        kw["quant_offset"] = torch.zeros(half)
    elif mutation == "odd width":
        x = x[:, :-1]
    elif mutation == "3-D x":
        x = x[None]
    elif mutation == "H 8193":
        x = torch.zeros(1, 2 * 8193, dtype=dtype)
    elif mutation == "fp32 x":
        x = x.float()
    elif mutation == "float x with scales" and dtype != torch.int32:
        kw["weight_scale"], kw["activation_scale"] = torch.ones(2 * half), torch.ones(rows)
    elif mutation == "no activation_scale" and dtype == torch.int32:
        del kw["activation_scale"]
    elif mutation == "weight_scale shape" and dtype == torch.int32:
        kw["weight_scale"] = torch.ones(groups + 1, 2 * half)
    elif mutation == "quant_scale shape":
        kw["quant_scale"] = torch.ones(half + 1)
    elif mutation == "groups sum > T":
        kw["group_index"] = torch.tensor([rows + 1], dtype=torch.int64)
        if dtype == torch.int32:  # one shared row: the scale shapes stay valid with G = 1
            kw["weight_scale"] = torch.ones(2 * half)
        kw.pop("quant_scale", None)
    elif mutation == "negative count" and counts is not None and len(counts) > 1:
        kw["group_index"] = torch.tensor([-1, *counts[1:]], dtype=torch.int64)
    elif mutation == "group_index 2-D" and counts is not None:
        kw["group_index"] = kw["group_index"][None]
    elif mutation == "group_index float" and counts is not None:
        kw["group_index"] = kw["group_index"].float()
    elif mutation == "not a tensor":
        x = x.tolist()
    else:
        mutation = None
    tensors = {k: t for k, t in [("x", x), *kw.items()] if isinstance(t, torch.Tensor)}
    ref_kw = {k: val for k, val in kw.items() if k != "quant_mode"}
    return Case(
        call=lambda: ops.dequant_swiglu_quant(x, **kw),
        reference=lambda: reference.dequant_swiglu_quant(x, **ref_kw),
        check=_check, valid=mutation is None, tensors=tensors,
        what=f"x {getattr(x, 'dtype', None)} {tuple(getattr(x, 'shape', ()))} counts {counts} "
             f"{ {k: tuple(t.shape) for k, t in kw.items() if isinstance(t, torch.Tensor)} } mutation {mutation}",
    )  # fmt: skip
