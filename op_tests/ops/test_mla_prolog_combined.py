"""mla_prolog with the combined latent cache (``kr_cache=None``, ``kv_cache`` rows of 576: c^KV in
[0, 512), the roped k in [512, 576); FlashMLA's layout, sparse_flash_attention's ``key_rope=None``).

Against the reference with the tolerances of test_mla_prolog.py (each half of a written row within
TOL_ULPS of that half's largest value, as the separate caches are checked); against the separate
caches bit for bit (the same kernel arithmetic, only the destination differs); refusals of the new
form with the caches untouched.
"""

from __future__ import annotations

import pytest
import torch

from ascend_glm5 import ops, reference

from .test_mla_prolog import KV_LORA, MODES, ROPE, SMALL, assert_close_ulps, make_case

WIDE = KV_LORA + ROPE


def combined_case(dims, lead, **kw):
    """make_case's inputs with one NaN-filled combined cache in place of kv_cache / kr_cache."""
    args, kw = make_case(dims, lead, **kw)
    kv, kr = args[9], args[10]
    args[9] = torch.full((*kv.shape[:-1], WIDE), float("nan"), dtype=kv.dtype)
    args[10] = None
    return args, kw, (kv, kr)


def check_combined(args, kw, **extra):
    kw = {**kw, **extra}
    ref_cache = args[9].clone()
    got = ops.mla_prolog(*args, **kw)
    want = reference.mla_prolog(*args[:9], ref_cache, None, **kw)
    assert_close_ulps(got[0], want[0], "query")
    assert_close_ulps(got[1], want[1], "query_rope")
    if kw.get("query_norm_flag") and kw.get("weight_quant_mode", 0) == 0:
        assert_close_ulps(got[3], want[3], "query_norm")
    elif kw.get("query_norm_flag"):
        assert (got[3].int() - want[3].int()).abs().le(1).all()
    cache = args[9]
    written = ~torch.isnan(ref_cache)
    assert torch.equal(written, ~torch.isnan(cache)), "combined cache: written rows differ from the reference's"
    assert torch.equal(written[..., :KV_LORA].all(-1), written.any(-1)), "a row must be written whole or not at all"
    for name, part in (("c^KV", slice(0, KV_LORA)), ("k_rope", slice(KV_LORA, WIDE))):
        got_part, want_part = cache[..., part], ref_cache[..., part]
        mask = written[..., part]
        if mask.any():
            assert_close_ulps(got_part[mask], want_part[mask], f"combined cache {name}")
    return got


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "cache_mode,lead,block_size,skip",
    [("PA_BSND", (1,), 16, 0), ("PA_BSND", (70,), 64, 9), ("PA_BSND", (2, 9), 1024, 3), ("BSND", (2, 9), 0, 0),
     ("TND", (17,), 0, 0)],
    ids=["pa-1", "pa-70-b64-skip", "pa-2x9-b1024", "bsnd", "tnd"],
)  # fmt: skip
def test_combined_matches_reference(mode, cache_mode, lead, block_size, skip):
    extra = {"block_size": block_size, "skip": skip} if cache_mode == "PA_BSND" else {}
    args, kw, _ = combined_case(SMALL, lead, cache_mode=cache_mode, mode=mode, seed=40 + mode + len(lead), **extra)
    check_combined(args, kw, query_norm_flag=True)


@pytest.mark.parametrize("mode", MODES)
def test_combined_fused_norm_and_scales(mode):
    args, kw, _ = combined_case(SMALL, (23,), fused_norm=True, mode=mode, skip=4, seed=50 + mode)
    check_combined(args, kw, kc_scale=1.5, rmsnorm_epsilon_ckv=1e-2)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cache_mode,lead", [("PA_BSND", (37,)), ("TND", (5,))])
def test_combined_equals_separate(mode, cache_mode, lead):
    """The same values in the two layouts: row[:512] is what kv_cache gets, row[512:] what kr_cache
    gets, bit for bit; rows of skipped slots stay NaN in both."""
    args, kw, (kv, kr) = combined_case(SMALL, lead, cache_mode=cache_mode, mode=mode, skip=lead[0] // 5,
                                       seed=60 + mode)  # fmt: skip
    got = ops.mla_prolog(*args, **kw, query_norm_flag=True)
    separate = ops.mla_prolog(*args[:9], kv, kr, **kw, query_norm_flag=True)
    for a, b in zip(got, separate):
        assert (a is None and b is None) or torch.equal(a, b)
    assert torch.equal(args[9][..., :KV_LORA].isnan(), kv.isnan())
    assert torch.equal(args[9][..., KV_LORA:].isnan(), kr.isnan())
    written = ~kv.isnan()
    assert written.any()
    assert torch.equal(args[9][..., :KV_LORA][written], kv[written])
    assert torch.equal(args[9][..., KV_LORA:][~kr.isnan()], kr[~kr.isnan()])
    # The reference writes the same layouts too.
    ref_combined, ref_kv, ref_kr = torch.full_like(args[9], float("nan")), torch.full_like(kv, float("nan")), \
        torch.full_like(kr, float("nan"))  # fmt: skip
    reference.mla_prolog(*args[:9], ref_combined, None, **kw)
    reference.mla_prolog(*args[:9], ref_kv, ref_kr, **kw)
    assert torch.equal(ref_combined.nan_to_num(7.0), torch.cat([ref_kv, ref_kr], -1).nan_to_num(7.0))


# ---- refusals of the combined form: clear errors before launch, cache untouched ------------------


def _refused(args, kw, exc, match, *, ref=True, **extra):
    before = args[9].clone() if isinstance(args[9], torch.Tensor) else None
    with pytest.raises(exc, match=match):
        ops.mla_prolog(*args, **{**kw, **extra})
    if before is not None:
        assert torch.equal(args[9].isnan(), before.isnan())
    if ref:
        with pytest.raises((TypeError, ValueError)):
            reference.mla_prolog(*args, **{**kw, **extra})


def test_refuses_bad_combined_caches():
    args, kw, (kv, kr) = combined_case(SMALL, (4,))
    # kr_cache None needs the 576-wide rows; 576-wide rows need kr_cache None.
    _refused([*args[:9], kv, None], kw, ValueError, "kr_cache may only be None with the combined cache")
    _refused([*args[:9], args[9], kr], kw, ValueError, "pass kr_cache=None", ref=False)
    _refused([*args[:9], args[9].float(), None], kw, TypeError, "kv_cache must have dtype", ref=False)
    wide = torch.full((args[9].shape[0], 16, 1, 2 * WIDE), float("nan"), dtype=torch.bfloat16)
    _refused([*args[:9], wide[..., ::2], None], kw, ValueError, "kv_cache must be contiguous", ref=False)
    _refused([*args[:9], args[9][:, :, 0], None], kw, ValueError, r"PA_BSND kv_cache must be \[num_blocks")
    odd = torch.full((3, 24, 1, WIDE), float("nan"), dtype=torch.bfloat16)
    _refused([*args[:9], odd, None], {**kw, "cache_index": torch.arange(4)}, ValueError,
             "block_size must be a multiple of 16", ref=False)  # fmt: skip
    dup = kw["cache_index"].clone()
    dup[0] = dup[1]
    _refused(args, {**kw, "cache_index": dup}, ValueError, "duplicate slots")
    _refused(args, {**kw, "cache_index": kw["cache_index"] + 10_000}, ValueError, "outside")
    _refused([*args[:9], "cache", None], kw, TypeError, "kv_cache must be a torch.Tensor", ref=False)
    t_args, t_kw, _ = combined_case(SMALL, (5,), cache_mode="TND")
    short = torch.full((4, 1, WIDE), float("nan"), dtype=torch.bfloat16)
    _refused([*t_args[:9], short, None], t_kw, ValueError, "kv_cache must have shape")


def test_combined_opcheck_and_fake():
    """Schema with an absent (None) kr_cache: only kv_cache written, fake kernel, AOT dispatch."""
    args, kw, _ = combined_case(SMALL, (5,), skip=1, mode=1, seed=70)
    args[9] = torch.zeros_like(args[9])  # opcheck compares caches: no NaN
    optional = [kw.get("cache_index"), None, None, kw["dequant_scale_w_uq_qr"], None, kw["smooth_scales_cq"], None]
    op_args = (*args, *optional, 1e-5, 1e-5, 1e-5, "PA_BSND", True, 1, 1.0, 1.0)
    torch.library.opcheck(torch.ops.ascend_glm5.mla_prolog.default, op_args)
    with torch._subclasses.fake_tensor.FakeTensorMode() as fake_mode:
        fake = [fake_mode.from_tensor(a) if isinstance(a, torch.Tensor) else a for a in op_args]
        q, qr, _, _ = torch.ops.ascend_glm5.mla_prolog(*fake)
    assert q.shape == (5, SMALL[2], KV_LORA) and qr.shape == (5, SMALL[2], ROPE)
