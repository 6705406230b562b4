"""Fuzz strategy for mla_prolog: small model dims (He 64-256, Hcq 64-128, 1-3 heads, D 16-32: the
kernel's tiling is per multiple of 64 / 16, the model dims are the op tests'), 0-40 tokens as [T] or
[B, S], all three cache modes, separate or combined caches (kr_cache=None, 576-wide kv_cache rows),
block sizes 16-64, shuffled slots with skipped (-1) tokens and spare blocks, weight_quant_mode
0 / 1 / 2 with and without smoothing, the fused input RMSNorm, both query_norm_flag values,
epsilons and scales, non-contiguous inputs, NaN in every cache row the op must not write; then one
argument broken, after which the caches must be byte-identical.
Valid cases: the tolerances of docs/ops/mla_prolog.md (float outputs within 2 bf16 ulps of each
output's largest value, int8 query_norm within 1, its scale within 1e-3 relative; with the fused norm
in mode 2, rows whose int8 x has a near-tie element are compared with either rounding of it, as in
the op tests), written cache rows exactly the reference's."""

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

# The quick (CI) profile runs 50 cases: one case runs two cube pipelines on the emulator, and the op
# tests sweep the same space (the long profile runs the full 1,000).
QUICK_CASES = 50
DIMS = [(64, 64, 1, 16), (128, 64, 2, 32), (256, 128, 3, 32), (192, 128, 1, 48)]
NAMES = ("token_x", "weight_dq", "weight_uq_qr", "weight_uk", "weight_dkv_kr", "rmsnorm_gamma_cq",
         "rmsnorm_gamma_ckv", "rope_sin", "rope_cos", "kv_cache", "kr_cache")  # fmt: skip


def _checker(args, ref_caches, kw):
    T = U.load("ops/test_mla_prolog.py")

    def check(got, want):
        # With the fused norm in mode 2 an int8 x element within fp32 rounding of a half-integer may
        # round either way: the op tests' reference takes, on such rows, the rounding closest to the op.
        if kw.get("weight_quant_mode", 0) == 2 and kw.get("rmsnorm_gamma_x") is not None:
            want = T._reference(args, kw, got, *ref_caches)
        T.assert_close_ulps(got[0], want[0], "query")
        T.assert_close_ulps(got[1], want[1], "query_rope")
        assert got[2] is None
        if not kw.get("query_norm_flag"):
            assert got[3] is None and got[4] is None
        elif kw.get("weight_quant_mode", 0) == 0:
            T.assert_close_ulps(got[3], want[3], "query_norm")
            assert got[4] is None
        else:
            assert got[3].dtype == torch.int8 and got[3].shape == want[3].shape
            assert (got[3].int() - want[3].int()).abs().le(1).all(), "int8 query_norm differs by more than 1"
            torch.testing.assert_close(got[4], want[4], rtol=T.SCALE_RTOL, atol=0)
        if args[10] is None:  # the combined cache: each half of a row as its separate cache is checked
            kv, ref = args[9], ref_caches[0]
            caches = (("kv_cache c^KV", kv[..., :512], ref[..., :512]),
                      ("kv_cache k_rope", kv[..., 512:], ref[..., 512:]))
        else:
            caches = (("kv_cache", args[9], ref_caches[0]), ("kr_cache", args[10], ref_caches[1]))
        for name, cache, ref in caches:
            written = ~torch.isnan(ref)
            assert torch.equal(written, ~torch.isnan(cache)), f"{name}: written rows differ from the reference's"
            if written.any():
                T.assert_close_ulps(cache[written], ref[written], name)

    return check


@st.composite
def cases(draw, Case):
    T = U.load("ops/test_mla_prolog.py")
    dims = draw(st.sampled_from(DIMS))
    cache_mode = draw(st.sampled_from(["PA_BSND", "BSND", "TND"]))
    if cache_mode == "BSND" or (cache_mode == "PA_BSND" and draw(st.booleans())):
        lead = (draw(st.integers(0, 3)), draw(st.integers(0, 7)))
    else:
        lead = (draw(st.integers(0, 40)),)
    tokens = lead[0] * (lead[1] if len(lead) > 1 else 1)
    mode = draw(st.sampled_from([0, 1, 2]))
    fused = draw(st.booleans())
    args, kw = T.make_case(dims, lead, dtype=draw(st.sampled_from([torch.bfloat16, torch.float16])),
                           cache_mode=cache_mode, block_size=draw(st.sampled_from([16, 32, 64])),
                           seed=draw(st.integers(0, 2**31 - 1)), skip=draw(st.integers(0, tokens)), fused_norm=fused,
                           mode=mode, smooth=draw(st.booleans()))  # fmt: skip
    kw["query_norm_flag"] = draw(st.booleans())
    combined = draw(st.booleans())
    if combined:  # one cache, rows of c^KV (512) then the roped k (64)
        args[9], args[10] = torch.full((*args[9].shape[:-1], 576), float("nan"), dtype=args[9].dtype), None
    if draw(st.integers(0, 3)) == 0:
        kw.update(rmsnorm_epsilon_cq=draw(st.sampled_from([1e-6, 1e-2])), rmsnorm_epsilon_ckv=draw(st.sampled_from([1e-6, 0.5])),
                  qc_qr_scale=draw(st.sampled_from([0.5, 1.0, 2.0])), kc_scale=draw(st.sampled_from([0.25, 1.0, 3.0])))  # fmt: skip
    for i in (0, 1, 2, 4, 7, 8):  # inputs read only: any strides
        if args[i].dim() == 2 or draw(st.booleans()):
            args[i] = U.maybe_noncontiguous(draw, args[i])
    heads, nope = dims[2], dims[3]
    mutation = draw(st.sampled_from([None] * 12 + ["cache_mode", "quant mode 3", "duplicate slot", "slot past cache",
                                                  "no cache_index", "cache_index with BSND", "block_size 8",
                                                  "cache not contiguous", "rope shape", "gamma dtype",
                                                  "scale missing", "smooth in mode 0", "eps NaN", "flag int",
                                                  "weight_uk 256", "cache_index float", "heads 129", "He 96",
                                                  "x dtype", "not a tensor", "cache layout"]))  # fmt: skip
    paged = cache_mode == "PA_BSND"
    kept = (kw["cache_index"] >= 0).reshape(-1).nonzero().reshape(-1) if paged else None
    if mutation == "cache_mode":
        kw["cache_mode"] = "BNSD"
    elif mutation == "quant mode 3":
        kw["weight_quant_mode"] = 3
    elif mutation == "duplicate slot" and paged and kept.numel() >= 2:
        slots = kw["cache_index"].clone().reshape(-1)
        slots[kept[1]] = slots[kept[0]]
        kw["cache_index"] = slots.reshape(kw["cache_index"].shape)
    elif mutation == "slot past cache" and paged and tokens:
        slots = kw["cache_index"].clone().reshape(-1)
        slots[0] = args[9].shape[0] * args[9].shape[1]
        kw["cache_index"] = slots.reshape(kw["cache_index"].shape)
    elif mutation == "no cache_index" and paged:
        kw["cache_index"] = None
    elif mutation == "cache_index with BSND" and not paged:
        kw["cache_index"] = torch.zeros(lead, dtype=torch.int64)
    elif mutation == "block_size 8" and paged:
        args[9] = args[9].reshape(-1, 8, 1, args[9].shape[-1])
        args[10] = None if combined else args[10].reshape(-1, 8, 1, 64)
    elif mutation == "cache not contiguous" and args[9].shape[0] > 1:
        args[9] = U.noncontiguous(args[9], 0)
    elif mutation == "rope shape":
        args[7] = args[7][..., :32]
    elif mutation == "gamma dtype":
        args[5] = args[5].float()
    elif mutation == "scale missing" and mode:
        kw.pop("dequant_scale_w_uq_qr")
    elif mutation == "smooth in mode 0" and mode == 0:
        kw["smooth_scales_cq"] = torch.ones(1, dims[1])
    elif mutation == "eps NaN":
        kw["rmsnorm_epsilon_cq"] = float("nan")
    elif mutation == "flag int":
        kw["query_norm_flag"] = 1
    elif mutation == "weight_uk 256":
        args[3] = torch.zeros(heads, nope, 256, dtype=args[3].dtype)
    elif mutation == "cache_index float" and paged:
        kw["cache_index"] = kw["cache_index"].float()
    elif mutation == "heads 129":
        args[3] = torch.zeros(129, nope, 512, dtype=args[3].dtype)
    elif mutation == "He 96":
        args[0] = torch.zeros(*lead, 96, dtype=args[0].dtype)
    elif mutation == "x dtype":
        args[0] = args[0].to(torch.float32)
    elif mutation == "not a tensor":
        args[6] = args[6].tolist()
    elif mutation == "cache layout":  # a kr_cache with the 576-wide rows, or none with the 512-wide ones
        args[10] = torch.zeros(*args[9].shape[:-1], 64, dtype=args[9].dtype) if combined else None
    else:
        mutation = None
    valid = mutation is None
    ref_caches = tuple(c.clone() if c is not None else None for c in args[9:11])
    # Caches are written by a valid call (checked against the reference's); a refused one must leave them.
    tensors = {n: t for n, t in zip(NAMES, args)
               if isinstance(t, torch.Tensor) and (not valid or n not in ("kv_cache", "kr_cache"))}  # fmt: skip
    tensors.update({n: t for n, t in kw.items() if isinstance(t, torch.Tensor)})
    return Case(
        call=lambda: ops.mla_prolog(*args, **kw),
        reference=lambda: reference.mla_prolog(*args[:9], *ref_caches, **kw),
        check=_checker(args, ref_caches, kw), valid=valid, tensors=tensors,
        what=f"dims {dims} lead {lead} {cache_mode} combined {combined} mode {mode} fused {fused} "
             f"{ {k: v for k, v in kw.items() if not isinstance(v, torch.Tensor)} } mutation {mutation}",
    )  # fmt: skip

