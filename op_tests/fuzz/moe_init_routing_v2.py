"""Fuzz strategy for moe_init_routing_v2: T 0-40 tokens, K 1-8 slots, H 1-300 (and wide rows),
fp16 / bf16 / fp32 / int8 rows, expert ids anywhere in [-2, E] (dropped ids, another rank's
experts), int64 ids past int32 (2^32 + a valid id must still be dropped), full or partial active
ranges, per-token scales, quant_mode -1 / 1, both index forms and count forms, non-contiguous
views, NaN / inf in the rows and scales; then one argument broken. Valid cases must equal the
reference bit for bit (docs/ops/moe_routing.md; a NaN scale as NaN), with quant_mode=1 against the reference
dynamic_quant followed by the reference gather."""

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

X_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.int8)


def _same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return torch.equal(a.contiguous().view(torch.uint8), b.contiguous().view(torch.uint8)) if a.numel() else True


def _check(got, want):
    # Rows are copied: byte-identical (NaN payloads included). Scales (quant_mode=1: computed, a NaN's
    # bits are the arithmetic's): equal, NaN where the reference has NaN.
    names = ("expanded_x", "expanded_row_idx", "expert_tokens")
    for name, a, b in zip(names, got, want):
        assert _same_bits(a, b), f"{name} differs: {a.dtype} {tuple(a.shape)} vs {b.dtype} {tuple(b.shape)}"
    scale, scale_ref = got[3], want[3]
    assert scale.dtype == scale_ref.dtype and scale.shape == scale_ref.shape
    assert torch.equal(scale.isnan(), scale_ref.isnan()) and torch.equal(scale.nan_to_num(), scale_ref.nan_to_num())


def _reference(x, expert_idx, kw, quant):
    scale = kw.get("scale")
    if quant:
        x, scale = reference.dynamic_quant(x)
    return reference.moe_init_routing_v2(x, expert_idx, scale=scale, expert_num=kw["expert_num"],
                                         active_expert_range=kw["active_expert_range"],
                                         row_idx_type=kw["row_idx_type"],
                                         expert_tokens_num_type=kw["expert_tokens_num_type"])  # fmt: skip


@st.composite
def cases(draw, Case):
    g = U.seeded(draw)
    tokens, top_k = draw(st.integers(0, 40)), draw(st.integers(1, 8))
    hidden = draw(U.mostly(st.integers(1, 300), 2048, 7168))
    dtype = draw(st.sampled_from(X_DTYPES))
    if dtype == torch.int8:
        x = torch.randint(-128, 128, (tokens, hidden), dtype=torch.int8, generator=g)
    else:
        x = (torch.randn(tokens, hidden, generator=g) * 4).to(dtype)
        if draw(st.integers(0, 3)) == 0:
            U.plant(draw, x)
    experts = draw(st.sampled_from([1, 2, 8, 16, 256, 300]))
    rng = []
    if draw(st.booleans()):
        start = draw(st.integers(0, experts - 1))
        rng = [start, draw(st.integers(start + 1, experts))]
    id_dtype = draw(st.sampled_from([torch.int32, torch.int64]))
    ids = torch.randint(-2, experts + 1, (tokens, top_k), generator=g).to(id_dtype)
    if id_dtype == torch.int64 and ids.numel() and draw(st.booleans()):  # past int32: never a valid id
        U.plant(draw, ids, values=[2**32, 2**32 + (rng[0] if rng else 0), -(2**32) + 1, 2**40])
    quant = dtype in (torch.float16, torch.bfloat16) and draw(st.booleans())
    kw = dict(expert_num=experts, active_expert_range=rng, row_idx_type=draw(st.integers(0, 1)),
              expert_tokens_num_type=draw(st.integers(0, 1)), quant_mode=1 if quant else -1,
              active_num=draw(st.sampled_from([-1, tokens * top_k])))  # fmt: skip
    if not quant and draw(st.booleans()):
        kw["scale"] = torch.rand(tokens, generator=g) + 0.01
        if draw(st.integers(0, 3)) == 0:
            U.plant(draw, kw["scale"])
    x = U.maybe_noncontiguous(draw, x)
    ids = U.maybe_noncontiguous(draw, ids)
    mutation = draw(st.sampled_from([None] * 12 + ["x 3-D", "T mismatch", "ids float", "x int32", "offset",
                                                  "active_num", "drop_pad_mode 1", "count type 2", "quant_mode 0",
                                                  "row_idx_type 2", "scale with quant 1", "scale shape",
                                                  "scale dtype", "quant int8 x", "range reversed", "range past E",
                                                  "range of 3", "expert_num 0", "H 0", "4097 experts",
                                                  "not a tensor"]))  # fmt: skip
    if mutation == "x 3-D":
        x = x[None]
    elif mutation == "T mismatch":
        ids = torch.zeros(tokens + 1, top_k, dtype=torch.int32)
    elif mutation == "ids float":
        ids = ids.float()
    elif mutation == "x int32":
        x, kw["quant_mode"] = torch.zeros(tokens, hidden, dtype=torch.int32), -1
    elif mutation == "offset":
        kw["offset"] = torch.zeros(tokens)
    elif mutation == "active_num":
        kw["active_num"] = tokens * top_k + 1
    elif mutation == "drop_pad_mode 1":
        kw["drop_pad_mode"] = 1
    elif mutation == "count type 2":
        kw["expert_tokens_num_type"] = 2
    elif mutation == "quant_mode 0":
        kw["quant_mode"] = 0
    elif mutation == "row_idx_type 2":
        kw["row_idx_type"] = 2
    elif mutation == "scale with quant 1" and quant:
        kw["scale"] = torch.ones(tokens)
    elif mutation == "scale shape" and not quant:
        kw["scale"] = torch.ones(tokens + 1)
    elif mutation == "scale dtype" and not quant:
        kw["scale"] = torch.ones(tokens, dtype=torch.float16)
    elif mutation == "quant int8 x":
        x, kw["quant_mode"] = torch.zeros(tokens, hidden, dtype=torch.int8), 1
        kw.pop("scale", None)
    elif mutation == "range reversed" and experts > 1:
        kw["active_expert_range"] = [1, 1]
    elif mutation == "range past E":
        kw["active_expert_range"] = [0, experts + 1]
    elif mutation == "range of 3":
        kw["active_expert_range"] = [0, 1, 2]
    elif mutation == "expert_num 0":
        kw["expert_num"], kw["active_expert_range"] = 0, []
    elif mutation == "H 0":
        x = x[:, :0]
    elif mutation == "4097 experts":
        kw["expert_num"], kw["active_expert_range"] = 4097, []
    elif mutation == "not a tensor":
        ids = ids.tolist()
    else:
        mutation = None
    tensors = {name: t for name, t in (("x", x), ("expert_idx", ids), ("scale", kw.get("scale")))
               if isinstance(t, torch.Tensor)}  # fmt: skip
    return Case(
        call=lambda: ops.moe_init_routing_v2(x, ids, **kw),
        reference=lambda: _reference(x, ids, kw, quant),
        check=_check, valid=mutation is None, tensors=tensors,
        what=f"x {getattr(x, 'dtype', None)} {tuple(getattr(x, 'shape', ()))} ids {getattr(ids, 'dtype', None)} "
             f"{ {k: v for k, v in kw.items() if not isinstance(v, torch.Tensor)} } mutation {mutation}",
    )  # fmt: skip
