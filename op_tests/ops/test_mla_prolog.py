"""mla_prolog kernel (on the emulator) against the pure-torch reference.

Both compute in fp32 with the same rounding points (docs/ops/mla_prolog.md); they differ in the
fp32 summation order of the matmuls and RMSNorms. A sum that lands within an fp32 ulp of a bf16
rounding boundary may then round the other way, and that one-ulp step propagates through the
later stages. So float outputs must agree within TOL_ULPS bf16 ulps of each output's largest
magnitude (measured: at most 1), int8 query_norm within 1 (a rounding tie may fall either way).
Its scale, max|c^Q| / 127, moves with the row's RMS: one bf16 step of one input element of the
RMSNorm (the rounded x @ W_dq) changes it by up to 2^-7 x that element's share of the sum of
squares, so it must agree within SCALE_RTOL (measured: 3e-5). With the fused norm in mode 2 an
int8 x element may round either way near a half-integer (X_TIE_BAND): such rows are compared
against the reference with either rounding (_reference). Cache rows the op must not write
(skipped slots, unused rows) must keep their NaN sentinel, and every refused call must leave the
caches untouched.
"""

from __future__ import annotations

import contextlib
import math

import pytest
import torch

from ascend_glm5 import ops, reference
from ascend_glm5.ops._backend import cpu_module

TOL_ULPS = 2
SCALE_RTOL = 1e-3
MODES = (0, 1, 2)
KV_LORA, ROPE = 512, 64
# (He, Hcq, N, D): small dims for the sweeps, and both models' dims with a TP slice of heads.
SMALL = (256, 128, 3, 32)
GLM5_TP = (6144, 2048, 4, 192)  # GLM-5, 4 of 64 heads (TP16)
DSV32_TP = (7168, 1536, 8, 128)  # DeepSeek-V3.2, 8 of 128 heads (TP16)
GLM5_FULL = (6144, 2048, 64, 192)


def _rope_tables(positions, dtype):
    angle = positions[..., None].double() * 1e4 ** (-torch.arange(0, ROPE, 2).double() / ROPE)
    return torch.cat([angle.sin()] * 2, -1).to(dtype), torch.cat([angle.cos()] * 2, -1).to(dtype)


def _quantize_columns(w: torch.Tensor):
    """int8 symmetric per-output-channel quantization of a [K, N] weight -> (int8 [K, N], fp32 [1, N])."""
    scale = w.abs().amax(0, keepdim=True) / 127
    return torch.round(w / scale).clamp(-127, 127).to(torch.int8), scale


def plan_of(dims, tokens, mode, cores):
    """The host plan of a launch of `tokens` at dims (hidden, q_lora, heads, nope) on `cores` AI cores."""
    return cpu_module().mla_prolog_plan(tokens=tokens, hidden=dims[0], q_lora=dims[1], heads=dims[2], nope=dims[3],
                                        mode=mode, ai_cores=cores)  # fmt: skip


def check_planned(dims, tokens, mode, cores, **case):
    """Checks one launch of `tokens` at dims on `cores` AI cores against the reference (make_case's
    keywords in `case`); returns the host plan it ran with."""
    args, kw = make_case(dims, (tokens,), mode=mode, **case)
    with ai_cores(cores):
        check(args, kw, query_norm_flag=True)
    return plan_of(dims, tokens, mode, cores)


def make_case(dims, lead, *, dtype=torch.bfloat16, cache_mode="PA_BSND", block_size=16, seed=0, skip=0,
              fused_norm=False, mode=0, smooth=True):  # fmt: skip
    """Random weights, inputs and NaN-filled caches. lead: token shape ([T] or [B, S]). PA_BSND slots
    are a random permutation of a cache with spare blocks; `skip` tokens get slot -1. mode 1 / 2:
    int8 weights (per-channel scales; W_uq_qr of the smoothed c^Q when `smooth`), mode 2 also an
    int8 token_x with its per-token scale (unless the input norm is fused: the kernel quantizes)."""
    hidden, q_lora, heads, nope = dims
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, scale=1.0):
        return torch.randn(*shape, generator=g) * scale

    tokens = math.prod(lead)
    x = rnd(*lead, hidden) * (3.0 if fused_norm else 1.0)  # a hidden state is not normalized
    args = [
        x.to(dtype),
        rnd(hidden, q_lora, scale=hidden**-0.5).to(dtype),
        rnd(q_lora, heads * (nope + ROPE), scale=q_lora**-0.5).to(dtype),
        rnd(heads, nope, KV_LORA, scale=nope**-0.5).to(dtype),
        rnd(hidden, KV_LORA + ROPE, scale=hidden**-0.5).to(dtype),
        (1 + 0.2 * rnd(q_lora)).to(dtype),
        (1 + 0.2 * rnd(KV_LORA)).to(dtype),
    ]
    positions = torch.randint(0, 4096, lead, generator=g)
    sin, cos = _rope_tables(positions, dtype)
    args += [sin, cos]
    kw = {"cache_mode": cache_mode}
    if cache_mode == "PA_BSND":
        blocks = -(-tokens // block_size) + 2
        slots = torch.randperm(blocks * block_size, generator=g)[:tokens]
        slots[torch.randperm(tokens, generator=g)[:skip]] = -1
        kw["cache_index"] = slots.reshape(lead)
        cache_lead = (blocks, block_size)
    else:
        cache_lead = lead
    args += [torch.full((*cache_lead, 1, KV_LORA), float("nan"), dtype=dtype),
             torch.full((*cache_lead, 1, ROPE), float("nan"), dtype=dtype)]  # fmt: skip
    if fused_norm:
        kw["rmsnorm_gamma_x"] = (1 + 0.2 * rnd(hidden)).to(dtype)
        kw["rmsnorm_epsilon_x"] = 1e-6
    if mode:
        kw["weight_quant_mode"] = mode
        w_uq = args[2].float()
        if smooth:
            kw["smooth_scales_cq"] = 0.5 + torch.rand(1, q_lora, generator=g)
            w_uq = w_uq / kw["smooth_scales_cq"].T  # SmoothQuant: the op multiplies c^Q by smooth
        args[2], kw["dequant_scale_w_uq_qr"] = _quantize_columns(w_uq)
    if mode == 2:
        args[1], kw["dequant_scale_w_dq"] = _quantize_columns(args[1].float())
        args[4], kw["dequant_scale_w_dkv_kr"] = _quantize_columns(args[4].float())
        if not fused_norm:
            args[0], x_scale = reference.dynamic_quant(args[0])
            kw["dequant_scale_x"] = x_scale[..., None]
    return args, kw


def _max_ulp_error(got: torch.Tensor, want: torch.Tensor) -> float:
    """Largest |got - want| in bf16 ulps of max |want| (an ulp of the output's top binade)."""
    if want.numel() == 0:
        return 0.0
    want = want.float()
    top = want.abs().max()
    if top == 0:
        return float((got.float() - want).abs().max())
    ulp = 2.0 ** (math.floor(math.log2(float(top))) - 7)
    return float((got.float() - want).abs().max()) / ulp


def assert_close_ulps(got, want, what):
    assert got.shape == want.shape and got.dtype == want.dtype, f"{what}: {got.shape}/{got.dtype} vs {want.shape}"
    assert not torch.isnan(want).any() and not torch.isnan(got).any(), f"{what}: NaN"
    err = _max_ulp_error(got, want)
    assert err <= TOL_ULPS, f"{what}: max error {err:.2f} bf16 ulps of the largest value > {TOL_ULPS}"


# Mode 2 with the fused input norm: the op quantizes its normed x per token, t = v * (127 / max|v|)
# with v = x * r * gamma, in fp32 in the reference's order. The row factor r (a sum of squares in
# another order) cancels in v / max|v|, so each side's t is the exact value times (1 + e) with
# |e| <= 6 u (u = 2^-24: two roundings in v, two in max|v|, one in 127 / m, one in the product): the
# two t differ by at most 12 u * 127 = 9.1e-5, and an element whose t is that close to a half-integer
# may round to either int8. One int8 unit of x[k] moves c^Q[j] by x_scale * w_dq_scale[j] * W_dq[k, j],
# which can move the row's dequant_scale_q_norm beyond SCALE_RTOL (measured 1.2e-3 at small dims).
X_TIE_BAND = 12 * 127 * 2.0**-24
MAX_X_TIES_PER_ROW = 8  # measured up to 6 (t values sit on a grid: x and gamma are bf16)


def _fused_x_near_ties(args, kw):
    """The reference's int8 x of the fused norm, its per-token scale, the elements within X_TIE_BAND
    of a half-integer and their other rounding."""
    x = args[0].float()
    normed = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + kw["rmsnorm_epsilon_x"]) * kw["rmsnorm_gamma_x"].float()
    x_int8, x_scale = reference.dynamic_quant(normed)
    t = normed * (127.0 / normed.abs().amax(-1, keepdim=True))
    near = (t - (t.floor() + 0.5)).abs() <= X_TIE_BAND
    other = torch.where(x_int8.float() == t.floor(), t.floor() + 1, t.floor()).to(torch.int8)
    return x_int8, x_scale[..., None], near, other


def _reference(args, kw, got, ref_kv, ref_kr):
    """The reference's outputs (caches written into ref_kv / ref_kr). With the fused norm in mode 2,
    rows with near-tie x elements (X_TIE_BAND) take the rounding of those elements, among all
    combinations, whose outputs are closest to the op's; every other row is the plain reference's."""
    want = reference.mla_prolog(*args[:9], ref_kv, ref_kr, **kw)
    if kw.get("weight_quant_mode", 0) != 2 or kw.get("rmsnorm_gamma_x") is None:
        return want
    x_int8, x_scale, near, other = _fused_x_near_ties(args, kw)
    hidden = x_int8.shape[-1]
    x_int8, near, other = x_int8.reshape(-1, hidden), near.reshape(-1, hidden), other.reshape(-1, hidden)
    rows = near.any(-1).nonzero().flatten()  # tokens are independent: only these rows are re-run
    if rows.numel() == 0:
        return want
    count = int(near.sum(-1).max())
    assert count <= MAX_X_TIES_PER_ROW, f"{count} near-tie x elements in a row"
    unfused = {k: v for k, v in kw.items() if k not in ("rmsnorm_gamma_x", "rmsnorm_epsilon_x", "cache_index")}
    unfused.update(cache_mode="TND", dequant_scale_x=x_scale.reshape(-1, 1)[rows])
    sin, cos = (a.reshape(-1, ROPE)[rows] for a in args[7:9])
    n, dtype = rows.numel(), args[9].dtype

    def run_rows(x):  # the reference on these rows alone, as TND tokens with throwaway caches
        caches = torch.zeros(n, 1, KV_LORA, dtype=dtype), torch.zeros(n, 1, ROPE, dtype=dtype)
        return reference.mla_prolog(x, *args[1:7], sin, cos, *caches, **unfused)

    def token_rows(out):  # the op's / reference's outputs with the token dims flattened, at `rows`
        return [None if o is None else o.reshape(-1, *o.shape[args[0].dim() - 1 :])[rows] for o in out]

    rank = (near.cumsum(-1) - 1).clamp(min=0)[rows]  # each near-tie element's index within its row
    got_rows, want_rows = token_rows(got), token_rows(want)
    best, best_x = torch.full((n,), math.inf), x_int8[rows]
    for combo in range(2**count):
        x = torch.where(near[rows] & ((combo >> rank) & 1).bool(), other[rows], x_int8[rows])
        cand = run_rows(x)
        if combo == 0:  # the test's int8 x must be the reference's own
            assert all(w is None or torch.equal(w, c) for w, c in zip(want_rows, cand)), "int8 x replica differs"
        dist = sum(_row_distance(g, c) for g, c in zip(got_rows, cand) if c is not None and c.dtype != torch.int8)
        take = dist < best
        best, best_x = torch.where(take, dist, best), torch.where(take[:, None], x, best_x)
    x_int8[rows] = best_x
    unfused = {k: v for k, v in kw.items() if k not in ("rmsnorm_gamma_x", "rmsnorm_epsilon_x")}
    x_int8 = x_int8.reshape(args[0].shape)
    return reference.mla_prolog(x_int8, *args[1:9], ref_kv, ref_kr, dequant_scale_x=x_scale, **unfused)  # same rows


def _row_distance(got, want):
    """Per token (first dim), max |got - want| relative to the output's largest magnitude."""
    err = (got.float() - want.float()).abs().reshape(want.shape[0], -1).amax(-1)
    return err / want.float().abs().max().clamp(min=1e-30)


def check(args, kw, **extra):
    """Runs the op and the reference on copies of the caches and compares everything."""
    kw = {**kw, **extra}
    ref_kv, ref_kr = args[9].clone(), args[10].clone()
    got = ops.mla_prolog(*args, **kw)
    want = _reference(args, kw, got, ref_kv, ref_kr)
    assert_close_ulps(got[0], want[0], "query")
    assert_close_ulps(got[1], want[1], "query_rope")
    assert got[2] is None
    if not kw.get("query_norm_flag"):
        assert got[3] is None and got[4] is None
    elif kw.get("weight_quant_mode", 0) == 0:
        assert_close_ulps(got[3], want[3], "query_norm")
        assert got[4] is None
    else:
        assert got[3].dtype == torch.int8 and got[3].shape == want[3].shape
        assert (got[3].int() - want[3].int()).abs().le(1).all(), "int8 query_norm differs by more than 1"
        torch.testing.assert_close(got[4], want[4], rtol=SCALE_RTOL, atol=0)
    # Caches: written rows close, every other row still NaN (nothing written where it must not be).
    for name, cache, ref in (("kv_cache", args[9], ref_kv), ("kr_cache", args[10], ref_kr)):
        written = ~torch.isnan(ref)
        assert torch.equal(written, ~torch.isnan(cache)), f"{name}: written rows differ from the reference's"
        if written.any():
            assert_close_ulps(cache[written], ref[written], name)
    return got


# ---- sweeps over modes, layouts and token counts (small dims) -------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("tokens", [0, 1, 3, 17, 300])
def test_paged_token_counts(tokens, mode):
    # 300 tokens: prefill groups of 128 (c^Q of small dims fits L1 in every mode), a 44-row tail,
    # the skewed cube pipeline over several groups.
    args, kw = make_case(SMALL, (tokens,), skip=tokens // 4, seed=tokens + mode, mode=mode)
    got = check(args, kw, query_norm_flag=True)
    assert got[0].shape == (tokens, SMALL[2], KV_LORA)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cache_mode,lead", [("BSND", (2, 9)), ("TND", (17,)), ("PA_BSND", (3, 5))])
def test_layouts(cache_mode, lead, mode):
    args, kw = make_case(SMALL, lead, cache_mode=cache_mode, seed=len(lead) + mode, mode=mode)
    got = check(args, kw, query_norm_flag=True)
    assert got[0].shape == (*lead, SMALL[2], KV_LORA) and got[3].shape == (*lead, SMALL[1])
    if mode:
        assert got[3].dtype == torch.int8 and got[4].shape == (*lead, 1)


@pytest.mark.parametrize("mode", [1, 2])
def test_query_norm_flag_off_and_no_smooth(mode):
    args, kw = make_case(SMALL, (6,), mode=mode, smooth=False, seed=30 + mode)
    check(args, kw)


def test_prefill_beyond_1024_tokens():
    # No token cap (vllm-ascend's MLAPO stops at 1024): 9 groups of 128, the last of 16 rows.
    args, kw = make_case((128, 64, 2, 16), (1040,), skip=50, seed=5)
    check(args, kw, query_norm_flag=True)


@pytest.mark.parametrize("mode", MODES)
def test_prefill_groups_of_128_on_two_cores(mode):
    # Prefill takes groups of 128 tokens when L1 holds their c^Q: 200 tokens = 128 + a 72-row tail.
    # Two cores: MM1's 352 columns per core as a 256-column tile over all of L0C and a 96-column one,
    # x streamed in chunks of half the decode k; whole heads only (2 and 1, several groups); each
    # vector core's 64 rows roped in two blocks of 32 per head, the tail's 36 as 32 + 4.
    plan = check_planned(SMALL, 200, mode, 2, skip=9, seed=60 + mode)
    assert (plan["group_tokens"], plan["groups"], plan["split_heads"]) == (128, 2, 0)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cores,fused", [(1, False), (3, True)], ids=["one_core", "three_cores_fused_norm"])
def test_mm1_two_groups_ahead(cores, fused, mode):
    # Prefill of 4 groups (3 x 128 + a 20-row tail): the cube runs MM1(0) and MM1(1), then MM1(g + 2)
    # inside the heads of group g, before the last head's MM3 (MM1(2) in group 0's, MM1(3), the tail,
    # in group 1's; each waits for its ring slot to be read). One core: all 3 heads and MM1 on one
    # cube. Three cores with the fused input norm: MM1(g + 2) also waits for x(g + 2) there.
    plan = check_planned(SMALL, 404, mode, cores, skip=17, seed=cores + mode, fused_norm=fused)
    assert (plan["group_tokens"], plan["groups"], plan["split_heads"]) == (128, 4, 0)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("tokens,cores,fused", [(300, 2, False), (200, 1, True)], ids=["3groups_2cores", "2groups_1core_fused"])
def test_last_group_norm_before_the_heads_before_it(tokens, cores, fused, mode):
    # Prefill: the vector cores normalize the last group's c^Q before they take the heads of the
    # group before it (then those heads, then the last group's cache rows). 300 tokens on 2 cores:
    # groups 128 + 128 + 44, the norm of group 2 before the heads of group 1 (MM1(2) already ran
    # inside group 0's heads); 200 tokens on one core with the fused input norm: 128 + 72, the norm
    # of group 1 before the heads of group 0, the only group whose heads hide it.
    plan = check_planned(SMALL, tokens, mode, cores, skip=13, seed=80 + 3 * mode + cores, fused_norm=fused)
    assert (plan["group_tokens"], plan["groups"], plan["split_heads"]) == (128, -(-tokens // 128), 0)


@pytest.mark.parametrize("mode", MODES)
def test_cq_copied_chunk_by_chunk_beside_the_first_mm2(mode):
    # Whole heads take c^Q into L1 with the first head's first MM2 tile, one K chunk of it beside each
    # W_uq_qr chunk (MlapGemm's fill operand), so its later tiles and heads find it whole. Hcq 1536:
    # 3 chunks of 512 int8 (modes 1, 2: the third after the two PrefetchB loaded while waiting for
    # c^Q) or 6 of 256 bf16 (mode 0); 200 tokens on 2 cores = 128 + 72 rows, 2 heads and 1.
    dims = (256, 1536, 3, 32)
    plan = check_planned(dims, 200, mode, 2, skip=7, seed=90 + mode)
    assert (plan["groups"], plan["split_heads"]) == (-(-200 // plan["group_tokens"]), 0)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("tokens", [200, 300], ids=["2groups", "3groups"])
def test_last_group_cq_copied_during_the_last_mm3_before_it(tokens, mode):
    # Modes 1, 2, whole heads: c^Q of the last group comes into L1 while the last MM3 of the group
    # before it waits for its q_nope (after that MM3's W_uk prefetch), and the last group's heads find
    # it there (no CqReady wait, no chunked fill). 200 tokens: 128 + 72, the copy inside group 0;
    # 300: 128 + 128 + 44 (rows padded to 48), inside group 1. 3 heads on 4 cores: core 3 has no
    # head and loads no c^Q. Mode 0 keeps the chunked fill (no q_nope wait to hide the copy in).
    plan = check_planned(SMALL, tokens, mode, 4, skip=5, seed=110 + 3 * mode + tokens // 100)
    assert (plan["group_tokens"], plan["groups"], plan["split_heads"]) == (128, -(-tokens // 128), 0)


def test_mm1_share_of_cores_with_a_head_more_rounds_down():
    # Prefill (200 tokens: 128 + a 72-row tail) of 10 heads on 4 cores in mode 2: cores 0 and 1 take 3
    # heads, 2 and 3 take 2. MM1's 22 units of 32 columns (8 KiB of W each) are spread by weight bytes
    # with the heads (44 KiB each): (22 x 8 + 2 x 44) / 4 = 66 KiB per core, so a 3-head core's share
    # is 22 KiB = 2.75 units, rounded down to 2; cores 2 and 3 split the other 18: 9 each. In the last
    # group cores 2 and 3 take the 3 heads instead (MlapLastExtraHeadsMoved).
    args, kw = make_case((256, 128, 10, 32), (200,), skip=11, seed=95, mode=2)
    with ai_cores(4):
        check(args, kw, query_norm_flag=True)
        per_core = cpu_module().last_launch()["per_core"]
    head = 128 * 96 + 32 * 512  # MM2 and MM3 MACs of one head per row
    # (MM1 units, heads of group 0, heads of group 1); group 1's 72 rows padded to 80
    cores = ((2, 3, 2), (2, 3, 2), (9, 2, 3), (9, 2, 3))
    want = [208 * 256 * 32 * units + (128 * h0 + 80 * h1) * head for units, h0, h1 in cores]
    assert [per_core[3 * b]["cube_macs"] for b in range(4)] == want


@pytest.mark.parametrize(
    "dims,fused",
    [((256, 128, 10, 32), False), ((256, 1024, 7, 32), True)],
    ids=["2cores_1tile", "3cores_3tiles_fused_norm"],
)
def test_mm1_units_of_cores_with_a_head_more_split_by_k(dims, fused):
    # Mode 2, prefill of 4 groups (404 tokens = 3 x 128 + a 20-row tail) on 4 cores: from group 2 on
    # the cores with a head more take their MM1 units together, each all of those columns over a
    # share of K (He 256: 8 units of 32 rows), adding int32 partial sums into the MM1 ring, whose
    # columns the vector cores zeroed after the norm of group g - 2. 10 heads: cores 0, 1 (3 heads)
    # share 2 x 2 units (128 columns, one tile), K 4 + 4 units (2.75 not rounded up: 2 x 3 units would
    # pass W_dq's 128 columns). 7 heads, Hcq 1024: cores 0-2 share 3 x 9 units (8.5 rounded up: 864
    # columns, 3 tiles of 256 over all of L0C and one of 96), K 3 + 3 + 2 units, with the fused input
    # norm (x from its ring); in the last group core 0's extra head goes to core 3. Groups 0 and 1
    # keep the units (their slots were never zeroed).
    plan = check_planned(dims, 404, 2, 4, skip=19, seed=130 + dims[2], fused_norm=fused)
    assert (plan["group_tokens"], plan["groups"], plan["split_heads"]) == (128, 4, 0)
    per_core = cpu_module().last_launch()["per_core"]
    if dims[2] != 7:
        return
    head = 1024 * 96 + 32 * 512  # MM2 and MM3 MACs of one head per row
    split = [3 * 32, 3 * 32, 2 * 32]  # rows of K of cores 0-2 in groups 2, 3 (128 + 20 rows padded to 32)
    mm1 = [256 * 9 * 32 * 256 + 160 * 864 * k for k in split] + [416 * 23 * 32 * 256]  # core 3: 23 units
    heads = [(2, 1), (2, 2), (2, 2), (1, 2)]  # of groups 0-2 and of group 3
    want = [m + (384 * h0 + 32 * h3) * head for m, (h0, h3) in zip(mm1, heads)]
    assert [per_core[3 * b]["cube_macs"] for b in range(4)] == want


@pytest.mark.parametrize("mode", MODES)
def test_mm1_ring_of_three_slots(mode):
    # From 3 groups on the MM1 ring has 3 slots: MM1(g + 2), which the cube runs inside the heads of
    # group g, writes group g - 1's slot, released at the vector cores' barrier ahead of the norm of g
    # (with 2 slots it took group g's, released only after the vector cores' heads of g). 7 groups
    # (788 tokens = 6 x 128 + a 20-row tail) on 4 cores, 10 heads: MM1(3)..MM1(6) wait for their
    # slot, each slot taken 2 or 3 times. Mode 2: cores 0 and 1 split their MM1 units by K from
    # group 2 on; the vector cores zero slot 2's shared columns at the start, the others after the
    # norm of group g - 3 read them. The workspace holds the third slot (3 groups against 2).
    dims = (256, 128, 10, 32)
    two, three = (plan_of(dims, t, mode, 4) for t in (256, 300))
    assert (two["groups"], three["groups"]) == (2, 3)
    slot = -(-128 * (dims[1] + KV_LORA + ROPE) * (4 if mode == 2 else 2) // 512) * 512
    assert three["workspace_bytes"] - two["workspace_bytes"] == slot
    args, kw = make_case(dims, (788,), skip=23, seed=140 + mode, mode=mode)
    with ai_cores(4):
        check(args, kw, query_norm_flag=True)


@pytest.mark.parametrize("mode", MODES)
def test_prefill_three_chunk_slots(mode):
    # Prefill groups of 128 rows stream through 3 A and 3 B chunk slots of L1 (24 and 32 KiB; decode
    # keeps 2 of 32 and 64): MM1 chunks of 192 int8 k (A: 128 x 192) or 96 bf16 k, He 640 = 3 x 192
    # + a 64-k tail (int8), MM2 chunks of 256 int8 / 128 bf16 k of W_uq_qr (Hcq 576: 2 chunks + a
    # 64-k tail), MM3's D 80 in one chunk; 300 tokens = 128 + 128 + 44 on 2 cores, so the rings
    # wrap within and across tiles, and the c^Q fill comes chunk by chunk beside the first MM2 tile.
    dims = (640, 576, 3, 80)
    plan = check_planned(dims, 300, mode, 2, skip=7, seed=150 + mode)
    assert (plan["group_tokens"], plan["groups"], plan["split_heads"]) == (128, 3, 0)


@pytest.mark.parametrize("mode,tokens,group", [(0, 130, 64), (2, 130, 128), (1, 64, 64)])
def test_group_size_at_the_l1_limit(mode, tokens, group):
    # Hcq 2048, D 192 (GLM-5's): c^Q of 128 rows fits L1 in int8 (with the chunk slots and q_nope:
    # 496 KiB of 512), not in bf16 (512 KiB alone): mode 0 walks 3 groups of 64 (a 2-row tail),
    # mode 2 one group of 128 rows with 130 - 128 in a second; decode (64 tokens) stays at 64.
    dims = (128, 2048, 1, 192)
    plan = plan_of(dims, tokens, mode, 4)
    assert plan["group_tokens"] == group and plan["groups"] == -(-tokens // group)
    args, kw = make_case(dims, (tokens,), skip=5, seed=70 + mode, mode=mode)
    with ai_cores(4):
        check(args, kw, query_norm_flag=True)


def test_all_slots_skipped_writes_nothing():
    args, kw = make_case(SMALL, (5,), skip=5)
    check(args, kw)
    assert args[9].isnan().all() and args[10].isnan().all()


def test_block_size_1024_and_scales():
    args, kw = make_case(SMALL, (70,), block_size=1024, skip=3, seed=7)
    check(args, kw, rmsnorm_epsilon_cq=1e-2, rmsnorm_epsilon_ckv=0.5, qc_qr_scale=0.75, kc_scale=2.0)


@pytest.mark.parametrize("mode", MODES)
def test_fused_input_norm(mode):
    # The whole MLAPO chain: input RMSNorm (and, mode 2, its int8 quantization) in the kernel.
    args, kw = make_case(SMALL, (67,), fused_norm=True, seed=11 + mode, mode=mode)
    check(args, kw, query_norm_flag=True)


def test_fp16():
    args, kw = make_case(SMALL, (9,), dtype=torch.float16, seed=12)
    check(args, kw, query_norm_flag=True)


def test_heads_fewer_than_cores_and_one_head():
    # One head: a single AI core does MM2 / MM3, the others only MM1.
    args, kw = make_case((128, 64, 1, 48), (20,), seed=13)
    check(args, kw, query_norm_flag=True)


# ---- the work split over a given number of AI cores ----------------------------------------------


@contextlib.contextmanager
def ai_cores(n: int):
    """Host tilings see n AI cores (2n vector cores) inside the block."""
    c = cpu_module()
    before = c.emulator_limits()
    c.select_soc(before["soc"], n, 2 * n)
    try:
        yield
    finally:
        c.select_soc(before["soc"], before["aic_cores"], before["aiv_cores"])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cores,tokens", [(1, 140), (1, 17), (2, 17)])
def test_few_cores(cores, tokens, mode):
    # One core: MM1's 704 columns in tiles of 256, the first straddling W_dq (128 columns) and
    # W_dkv_kr; all 3 heads pipelined on one cube (MM2 of head h+1 before MM3 of head h); 140 tokens:
    # two prefill groups (128 + 12), q_nope dequantized in blocks of 16 rows, each vector core's
    # 64 rope rows in two blocks per head, the tail's 6 in one. One core, 17 tokens (decode, no
    # split heads): W_dq's 128 columns first, then W_dkv_kr's 576 in tiles of 256, 256, 64 before the
    # cache rows' barrier. Two cores, one group: a whole head each and the third split by columns
    # over both cores; each core's 288 W_dkv_kr columns take two tiles (no K halves).
    args, kw = make_case(SMALL, (tokens,), skip=tokens // 5, seed=40 + cores + mode, mode=mode)
    with ai_cores(cores):
        check(args, kw, query_norm_flag=True)
        assert cpu_module().last_launch()["block_dim"] == cores


@pytest.mark.parametrize(
    "heads,cores,mode", [(5, 3, 0), (5, 3, 1), (5, 3, 2), (8, 5, 1), (8, 5, 2)], ids=lambda v: str(v)
)
def test_split_heads_across_cores(heads, cores, mode):
    # Decode (one group), D = 48: one whole head per core and the last heads % cores split by columns.
    # 5 heads on 3 cores: 2 split heads, MM2's 224 columns in units of 32 in modes 1, 2 (96 / 64 /
    # 64, core 1's range holding head 0's rope and head 1's nope) and of 16 in mode 0 (80 / 80 /
    # 64); MM3's 1024 query columns as 336 / 336 / 352, core 1's crossing from head 0 into head 1;
    # the split heads' rope rows over the 6 vector cores, one core's across the head boundary.
    # 8 heads on 5 cores: 3 split heads, 336 columns: int8 tiles end at 16-column boundaries.
    # Each core's W_dkv_kr columns are one tile (192 / 96-128 columns): its K halves stream before
    # and after the split heads' MM2.
    args, kw = make_case((128, 64, heads, 48), (20,), skip=3, seed=45 + heads + mode, mode=mode)
    with ai_cores(cores):
        check(args, kw, query_norm_flag=True)


@pytest.mark.parametrize("hidden,heads,cores,tokens", [(128, 5, 3, 5), (320, 4, 3, 16)], ids=lambda v: str(v))
def test_w_dkv_kr_by_rows(hidden, heads, cores, tokens):
    # Decode in mode 2 with split heads and at most 16 tokens: each core multiplies its rows of W_dkv_kr
    # (32-row units, the last cores a unit more) over all 576 columns, in two halves around the split
    # heads' MM2, and adds its int32 partial sums into the MM1 ring (GM atomic add into columns the
    # vector cores zeroed; the emulator poisons the workspace). He 128 on 3 cores: 1 / 1 / 2 units,
    # cores 0 and 1 with an empty first half; He 320: 3 / 3 / 4 units, 16 tokens (one 16-row tile).
    plan = cpu_module().mla_prolog_plan(tokens=tokens, hidden=hidden, q_lora=64, heads=heads, nope=48, mode=2,
                                        ai_cores=cores)  # fmt: skip
    assert plan["kv_by_rows"] == 1 and plan["split_heads"] == heads % cores
    args, kw = make_case((hidden, 64, heads, 48), (tokens,), skip=1, seed=60 + tokens, mode=2)
    with ai_cores(cores):
        check(args, kw, query_norm_flag=True)


def test_w_dkv_kr_by_rows_only_where_it_applies():
    # Rows only in mode 2 (int32 partial sums add exactly; fp32 atomic adds would depend on the order),
    # with split heads (the sums are added after their MM2) and up to 16 tokens (576 fp32 columns of
    # 16 rows share L0C with the heads' tiles).
    def by_rows(tokens=16, heads=5, mode=2, cores=3):
        return cpu_module().mla_prolog_plan(tokens=tokens, hidden=128, q_lora=64, heads=heads, nope=48, mode=mode,
                                            ai_cores=cores)["kv_by_rows"]  # fmt: skip

    assert by_rows() == 1 and by_rows(tokens=1) == 1
    assert by_rows(mode=0) == 0 and by_rows(mode=1) == 0
    assert by_rows(tokens=17) == 0 and by_rows(heads=6) == 0
    # GLM-5 W8A8 decode on Ascend910B3's 20 AI cores: TP16 (4 heads) and TP1 (64) at 1 and 16 tokens.
    glm5 = dict(hidden=6144, q_lora=2048, nope=192, mode=2, ai_cores=20)
    for heads, tokens, want in ((4, 1, 1), (64, 16, 1), (64, 64, 0)):
        assert cpu_module().mla_prolog_plan(tokens=tokens, heads=heads, **glm5)["kv_by_rows"] == want


@pytest.mark.parametrize(
    "dims,cores,tokens",
    [((128, 64, 1, 48), 2, 3), ((128, 64, 2, 48), 3, 5), ((256, 192, 3, 32), 4, 16)],
    ids=["2cores", "3cores-one-empty", "4cores-k-tail"],
)
def test_w_uq_qr_by_rows(dims, cores, tokens):
    # Decode in mode 2, every head split (fewer heads than cores), at most 16 tokens: each core
    # multiplies its rows of the split heads' W_uq_qr (32-row units, the cores after W_dq's extra
    # ones a unit more, in rotated order) over all their q columns in one tile and adds the int32
    # partial sums into the split q ring (zeroed by the vector cores; the emulator poisons the
    # workspace); the vector cores dequantize q_nope after a barrier, spread by (head, row). Hcq 64
    # on 2 cores: one unit each; on 3 cores: core 1 without rows, core 2 the first unit; Hcq 192 on
    # 4 cores: 1 / 1 / 2 / 2 units (cores 2, 3 first), 16 rows (a whole 16-row tile), 288 columns.
    hidden, q_lora, heads, nope = dims
    plan = cpu_module().mla_prolog_plan(tokens=tokens, hidden=hidden, q_lora=q_lora, heads=heads, nope=nope, mode=2,
                                        ai_cores=cores)  # fmt: skip
    assert plan["uq_by_rows"] == 1 and plan["split_heads"] == heads
    args, kw = make_case(dims, (tokens,), skip=1, seed=70 + tokens, mode=2)
    with ai_cores(cores):
        check(args, kw, query_norm_flag=True)


def test_w_uq_qr_by_rows_only_where_it_applies():
    # Rows of W_uq_qr with rows of W_dkv_kr (mode 2, split heads, <= 16 tokens), only when every head
    # is split (with whole heads the extra barrier delays their vector work: TP1 got slower) and the
    # split q columns fit one L0C slot as 16 int32 rows (<= 1024).
    def by_rows(tokens=5, heads=2, mode=2, cores=3, nope=48):
        return cpu_module().mla_prolog_plan(tokens=tokens, hidden=128, q_lora=64, heads=heads, nope=nope, mode=mode,
                                            ai_cores=cores)["uq_by_rows"]  # fmt: skip

    assert by_rows() == 1 and by_rows(tokens=16) == 1
    assert by_rows(mode=0) == 0 and by_rows(mode=1) == 0 and by_rows(tokens=17) == 0
    assert by_rows(heads=5) == 0  # one whole head per core
    assert by_rows(heads=4, nope=192, cores=5) == 1 and by_rows(heads=5, nope=192, cores=6) == 0  # 1024 / 1280 columns
    glm5 = dict(hidden=6144, q_lora=2048, nope=192, mode=2, ai_cores=20)
    for heads, tokens, want in ((4, 1, 1), (4, 16, 1), (64, 1, 0), (64, 16, 0)):
        assert cpu_module().mla_prolog_plan(tokens=tokens, heads=heads, **glm5)["uq_by_rows"] == want


def test_split_heads_without_mm2_columns_and_w_dkv_kr_halves():
    # 7 heads on 6 cores (D 16): one split head of 80 q columns in 5 units of 16 (80 is no multiple
    # of 32), so core 5 has a whole head but no split MM2 columns, and W_dkv_kr goes by rows in two
    # halves: that core must not prefetch its whole head's W_uq_qr ahead of W_dkv_kr's second half
    # (whose Run would take the prefetched chunks).
    args, kw = make_case((128, 64, 7, 16), (4,), seed=75, mode=2)
    with ai_cores(6):
        check(args, kw, query_norm_flag=True)


@pytest.mark.parametrize("mode", [0, 2])
def test_glm5_tp16_on_20_cores(mode):
    # GLM-5's TP16 slice on Ascend910B3's 20 AI cores, one group of 40 tokens: all 4 heads are split
    # heads (fewer heads than cores), their W_uq_qr and query columns spread over all 20 cores, so
    # MM1's columns spread evenly: W_dq's (4 or 3 units) first, then W_dkv_kr's (one unit or none,
    # mode 0 two or one) in K halves around the split heads' MM2.
    args, kw = make_case(GLM5_TP, (40,), seed=50 + mode, mode=mode)
    with ai_cores(20):
        check(args, kw, query_norm_flag=True, rmsnorm_epsilon_cq=1e-6, rmsnorm_epsilon_ckv=1e-6)


# ---- the two models' dimensions ------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dims,tokens", [(GLM5_TP, 3), (DSV32_TP, 1)], ids=["glm5-tp16", "dsv32-tp16"])
def test_model_dims_tp_slice(dims, tokens, mode):
    args, kw = make_case(dims, (tokens,), seed=21 + mode, mode=mode)
    check(args, kw, query_norm_flag=True, rmsnorm_epsilon_cq=1e-6, rmsnorm_epsilon_ckv=1e-6)


@pytest.mark.heavy
def test_glm5_full_dims_decode_token():
    # All 64 heads; int8 W_uq_qr as GLM-5's W8A8 checkpoints have it (q_a / kv_a stay 16-bit).
    args, kw = make_case(GLM5_FULL, (1,), seed=22, mode=1)
    check(args, kw, query_norm_flag=True, rmsnorm_epsilon_cq=1e-6, rmsnorm_epsilon_ckv=1e-6)
    launch = cpu_module().last_launch()
    assert launch["kernel"] == "mla_prolog" and launch["block_dim"] > 1


# ---- refusals: clear errors before launch, caches untouched --------------------------------------


def _refused(args, kw, exc, match, **extra):
    before = [args[9].clone(), args[10].clone()]
    with pytest.raises(exc, match=match):
        ops.mla_prolog(*args, **{**kw, **extra})
    assert torch.equal(args[9].isnan(), before[0].isnan()) and torch.equal(args[10].isnan(), before[1].isnan())


def test_refuses_duplicate_slots_and_bad_slots():
    args, kw = make_case(SMALL, (4,))
    dup = kw["cache_index"].clone()
    dup[1] = dup[3]
    _refused(args, {**kw, "cache_index": dup}, ValueError, "duplicate slots")
    big = kw["cache_index"].clone()
    big[0] = 10_000
    _refused(args, {**kw, "cache_index": big}, ValueError, "outside")
    _refused(args, {k: x for k, x in kw.items() if k != "cache_index"}, ValueError, "cache_index is required")
    with pytest.raises(ValueError, match="duplicate slots"):
        reference.mla_prolog(*args, **{**kw, "cache_index": dup})
    # Duplicates among skipped (-1) slots are fine.
    skip = kw["cache_index"].clone()
    skip[[0, 2]] = -1
    check(args, {**kw, "cache_index": skip})


def test_refuses_bad_arguments():
    args, kw = make_case(SMALL, (4,))
    bad = list(args)
    bad[0] = args[0].float()
    _refused(bad, kw, TypeError, "token_x must have dtype")
    bad = list(args)
    bad[3] = args[3][:, :, :256]
    _refused(bad, kw, ValueError, "Hckv")
    bad = list(args)
    bad[1] = args[1][:, :96]
    _refused(bad, kw, ValueError, "Hcq must be a multiple of 64")
    bad = list(args)
    bad[7] = args[7][:, :32]
    _refused(bad, kw, ValueError, "rope_sin must have shape")
    _refused(args, kw, ValueError, "cache_mode", cache_mode="PA_NZ")
    _refused(args, kw, ValueError, "weight_quant_mode", weight_quant_mode=3)
    _refused(args, kw, TypeError, "weight_uq_qr must have dtype in \\(int8\\)", weight_quant_mode=1)
    q_args, q_kw = make_case(SMALL, (4,), mode=2)
    _refused(q_args, {k: x for k, x in q_kw.items() if k != "dequant_scale_x"}, ValueError,
             "dequant_scale_x must be given")  # fmt: skip
    _refused(q_args, {**q_kw, "rmsnorm_gamma_x": torch.ones(SMALL[0], dtype=torch.bfloat16)}, TypeError,
             "token_x must have dtype in \\(bfloat16\\)")  # fused norm: token_x is the float hidden state
    _refused(q_args, {**q_kw, "dequant_scale_w_dq": q_kw["dequant_scale_w_dq"][:, :-1]}, ValueError,
             "dequant_scale_w_dq must have shape")  # fmt: skip
    _refused(args, kw, ValueError, "smooth_scales_cq is only used", smooth_scales_cq=torch.ones(1, SMALL[1]))
    _refused(args, kw, TypeError, "qc_qr_scale must be a finite float", qc_qr_scale=float("inf"))
    bad = list(args)
    bad[9] = torch.full((3, 24, 1, KV_LORA), float("nan"), dtype=torch.bfloat16)
    bad[10] = torch.full((3, 24, 1, ROPE), float("nan"), dtype=torch.bfloat16)
    _refused(bad, {**kw, "cache_index": torch.arange(4)}, ValueError, "block_size must be a multiple of 16")


_OPTIONAL = ("cache_index", "dequant_scale_x", "dequant_scale_w_dq", "dequant_scale_w_uq_qr",
             "dequant_scale_w_dkv_kr", "smooth_scales_cq", "rmsnorm_gamma_x")  # fmt: skip


@pytest.mark.parametrize("mode,cache_mode,fused", [(0, "PA_BSND", False), (1, "TND", False), (2, "PA_BSND", True),
                                                   (2, "BSND", False)])  # fmt: skip
def test_opcheck(mode, cache_mode, fused):
    """torch.library.opcheck: schema (kv_cache / kr_cache declared mutated and written, nothing else
    touched), fake kernel, autograd registration, AOT dispatch (caches functionalized)."""
    lead = (2, 3) if cache_mode == "BSND" else (5,)
    args, kw = make_case(SMALL, lead, cache_mode=cache_mode, skip=1 if cache_mode == "PA_BSND" else 0, mode=mode,
                         fused_norm=fused, seed=20 + mode)  # fmt: skip
    args[9], args[10] = torch.zeros_like(args[9]), torch.zeros_like(args[10])  # opcheck compares caches: no NaN
    optional = [kw.get(name) for name in _OPTIONAL]
    op_args = (*args, *optional, 1e-5, 1e-5, kw.get("rmsnorm_epsilon_x", 1e-5), cache_mode, True, mode, 1.0, 1.0)
    torch.library.opcheck(torch.ops.ascend_glm5.mla_prolog.default, op_args)


def test_fake_tensor_shapes():
    args, kw = make_case(SMALL, (2, 3))
    with torch._subclasses.fake_tensor.FakeTensorMode() as mode:
        fake = [mode.from_tensor(a) for a in args]
        index = mode.from_tensor(kw["cache_index"])
        q, qr, qn, qs = torch.ops.ascend_glm5.mla_prolog(
            *fake, index, None, None, None, None, None, None, 1e-5, 1e-5, 1e-5, "PA_BSND", True, 0, 1.0, 1.0
        )
    assert q.shape == (2, 3, SMALL[2], KV_LORA) and qr.shape == (2, 3, SMALL[2], ROPE) and qn.shape == (2, 3, SMALL[1])
    assert qs.numel() == 0
