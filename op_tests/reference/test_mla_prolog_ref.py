"""mla_prolog reference against the MLA front-end equations written with HF-layout weights.

The expected values use ``nn.Linear``-layout weights (``[out, in]``), HF's RMSNorm order and HF
transformers' own interleaved RoPE, so layout, transposition or pairing mistakes show up.
"""

from dataclasses import dataclass

import pytest
import torch

from ascend_glm5.reference import dynamic_quant, mla_prolog

from transformers.models.deepseek_v32.modeling_deepseek_v32 import apply_rotary_pos_emb_interleave as rope_hf

GLM5 = dict(hidden=6144, q_lora=2048, heads=64, nope=192, v=256)
DSV32 = dict(hidden=7168, q_lora=1536, heads=128, nope=128, v=128)
TINY = dict(hidden=96, q_lora=48, heads=3, nope=16, v=24)
KV_LORA, ROPE = 512, 64


@dataclass
class Weights:
    """An MLA layer in HF ``nn.Linear`` layout."""

    q_a: torch.Tensor  # [q_lora, hidden]
    q_b: torch.Tensor  # [heads * (nope + rope), q_lora]
    kv_a: torch.Tensor  # [kv_lora + rope, hidden]
    kv_b: torch.Tensor  # [heads * (nope + v), kv_lora]
    gamma_q: torch.Tensor
    gamma_kv: torch.Tensor
    heads: int
    nope: int

    @classmethod
    def random(cls, hidden, q_lora, heads, nope, v, seed=0):
        gen = torch.Generator().manual_seed(seed)

        def lin(n_out, n_in):
            return torch.randn(n_out, n_in, generator=gen) * n_in**-0.5

        return cls(
            lin(q_lora, hidden), lin(heads * (nope + ROPE), q_lora), lin(KV_LORA + ROPE, hidden),
            lin(heads * (nope + v), KV_LORA), 1 + 0.2 * torch.randn(q_lora, generator=gen),
            1 + 0.2 * torch.randn(KV_LORA, generator=gen), heads, nope,
        )

    def w_uk(self):
        return self.kv_b.view(self.heads, -1, KV_LORA)[:, : self.nope]

    def prolog_args(self, dtype=torch.float32):
        """Positional weight arguments of mla_prolog, in torch_npu's [K, N] layout."""
        return [t.to(dtype) for t in (self.q_a.T, self.q_b.T, self.w_uk(), self.kv_a.T, self.gamma_q, self.gamma_kv)]


def rms_norm(x, gamma, eps):
    return gamma * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rope_tables(positions):
    angle = positions[:, None].double() * 1e4 ** (-torch.arange(0, ROPE, 2).double() / ROPE)
    return torch.cat([angle.sin()] * 2, -1).float(), torch.cat([angle.cos()] * 2, -1).float()


def expected(w, x, sin, cos, eps=1e-5, c_q=None):
    """query, query_rope, c^Q, latent and roped key of every token (fp32), by the MLA equations."""
    c_q = rms_norm(x @ w.q_a.T, w.gamma_q, eps) if c_q is None else c_q
    q = (c_q @ w.q_b.T).view(len(x), w.heads, -1)
    query = torch.einsum("tnd,ndc->tnc", q[..., : w.nope], w.w_uk())
    c_kv, k_pe = (x @ w.kv_a.T).split([KV_LORA, ROPE], -1)
    q_pe, k_pe = rope_hf(q[..., w.nope :], k_pe[:, None], cos, sin, unsqueeze_dim=1)
    return query, q_pe, c_q, rms_norm(c_kv, w.gamma_kv, eps), k_pe[:, 0]


def caches(blocks, block_size=16, fill=float("nan"), dtype=torch.float32):
    return torch.full((blocks, block_size, 1, KV_LORA), fill, dtype=dtype), torch.full(
        (blocks, block_size, 1, ROPE), fill, dtype=dtype
    )


def assert_rel(actual, want, tol):
    err = (actual.float() - want).abs().max() / want.abs().max()
    assert err <= tol, f"max relative error {err:.3g} > {tol}"


def test_tiny_fp32_outputs_and_paged_cache_writes():
    w = Weights.random(**TINY)
    x = torch.randn(5, TINY["hidden"], generator=torch.Generator().manual_seed(1))
    sin, cos = rope_tables(torch.tensor([0.0, 1.0, 7.0, 2.0, 30.0]))
    kv, kr = caches(4)
    slots = torch.tensor([17, 3, 63, -1, 40])  # token 3 is not cached (negative slot)
    query, query_rope, q_nope_scale, query_norm, q_norm_scale = mla_prolog(
        x, *w.prolog_args(), sin, cos, kv, kr, cache_index=slots, query_norm_flag=True
    )
    want_q, want_qr, want_cq, want_kv, want_kr = expected(w, x, sin, cos)
    assert query.shape == (5, 3, KV_LORA) and query_rope.shape == (5, 3, ROPE) and query_norm.shape == (5, 48)
    assert q_nope_scale is None and q_norm_scale is None
    assert_rel(query, want_q, 1e-5)
    assert_rel(query_rope, want_qr, 1e-5)
    assert_rel(query_norm, want_cq, 1e-5)
    written = slots >= 0
    blocks, offsets = slots[written] // 16, slots[written] % 16
    assert_rel(kv[blocks, offsets, 0], want_kv[written], 1e-5)
    assert_rel(kr[blocks, offsets, 0], want_kr[written], 1e-5)
    untouched = torch.ones(4 * 16, dtype=torch.bool)
    untouched[slots[written]] = False
    assert kv.view(-1, KV_LORA)[untouched].isnan().all() and kr.view(-1, ROPE)[untouched].isnan().all()
    assert mla_prolog(x, *w.prolog_args(), sin, cos, *caches(4), cache_index=slots)[3] is None


def test_epsilons_and_scale_factors():
    w = Weights.random(**TINY, seed=9)
    x = torch.randn(3, TINY["hidden"], generator=torch.Generator().manual_seed(10)) * 0.3
    sin, cos = rope_tables(torch.arange(3.0))
    kv, kr = caches(1)
    query, query_rope, _, c_q, _ = mla_prolog(
        x, *w.prolog_args(), sin, cos, kv, kr, cache_index=torch.arange(3), rmsnorm_epsilon_cq=0.5,
        rmsnorm_epsilon_ckv=0.25, qc_qr_scale=0.5, kc_scale=2.0, query_norm_flag=True,
    )
    want_cq = 0.5 * rms_norm(x @ w.q_a.T, w.gamma_q, 0.5)
    want_q, want_qr, _, _, _ = expected(w, x, sin, cos, c_q=want_cq)
    assert_rel(c_q, want_cq, 1e-5)
    assert_rel(query, want_q, 1e-5)
    assert_rel(query_rope, want_qr, 1e-5)
    assert_rel(kv[0, :3, 0], 2.0 * rms_norm((x @ w.kv_a.T)[:, :KV_LORA], w.gamma_kv, 0.25), 1e-5)


def test_bsnd_and_tnd_cache_modes_match_paged():
    w = Weights.random(**TINY, seed=2)
    x = torch.randn(2, 3, TINY["hidden"], generator=torch.Generator().manual_seed(3))
    sin, cos = (t.view(2, 3, ROPE) for t in rope_tables(torch.arange(6.0)))
    kv, kr = caches(1)
    out_pa = mla_prolog(x, *w.prolog_args(), sin, cos, kv, kr, cache_index=torch.arange(6).view(2, 3))
    kv_b, kr_b = torch.zeros(2, 3, 1, KV_LORA), torch.zeros(2, 3, 1, ROPE)
    out_b = mla_prolog(x, *w.prolog_args(), sin, cos, kv_b, kr_b, cache_mode="BSND")
    kv_t, kr_t = torch.zeros(6, 1, KV_LORA), torch.zeros(6, 1, ROPE)
    out_t = mla_prolog(x.view(6, -1), *w.prolog_args(), sin.view(6, -1), cos.view(6, -1), kv_t, kr_t, cache_mode="TND")
    assert out_pa[0].shape == (2, 3, 3, KV_LORA)
    torch.testing.assert_close(out_b[0], out_pa[0])
    torch.testing.assert_close(out_t[0], out_pa[0].view(6, 3, KV_LORA))
    torch.testing.assert_close(kv_b.view(6, 1, -1), kv[0, :6])
    torch.testing.assert_close(kr_t, kr[0, :6])


def test_glm5_dims_fp32_and_bf16():
    w = Weights.random(**GLM5, seed=4)
    x = torch.randn(2, GLM5["hidden"], generator=torch.Generator().manual_seed(5))
    sin, cos = rope_tables(torch.tensor([5.0, 4000.0]))
    kv, kr = caches(2)
    out = mla_prolog(x, *w.prolog_args(), sin, cos, kv, kr, cache_index=torch.tensor([0, 31]), query_norm_flag=True)
    want_q, want_qr, want_cq, want_kv, want_kr = expected(w, x, sin, cos)
    assert out[0].shape == (2, 64, KV_LORA) and out[1].shape == (2, 64, ROPE) and out[3].shape == (2, 2048)
    for got, want in zip((out[0], out[1], out[3], kv[[0, 1], [0, 15], 0], kr[[0, 1], [0, 15], 0]),
                         (want_q, want_qr, want_cq, want_kv, want_kr)):
        assert_rel(got, want, 1e-5)
    kv16, kr16 = caches(2, dtype=torch.bfloat16)
    out16 = mla_prolog(x.bfloat16(), *w.prolog_args(torch.bfloat16), sin.bfloat16(), cos.bfloat16(), kv16, kr16,
                       cache_index=torch.tensor([0, 31]), query_norm_flag=True)
    assert all(t.dtype == torch.bfloat16 for t in (out16[0], out16[1], out16[3]))
    for got, want in zip((out16[0], out16[1], out16[3], kv16[[0, 1], [0, 15], 0]), (want_q, want_qr, want_cq, want_kv)):
        assert_rel(got, want, 3e-2)


def quantize_per_channel(w_linear):
    """int8 symmetric per-output-channel quantization of an ``[out, in]`` weight -> ([in, out] int8, [1, out])."""
    scale = w_linear.abs().amax(-1) / 127
    return torch.round(w_linear / scale[:, None]).to(torch.int8).T.contiguous(), scale[None, :]


@pytest.mark.parametrize("mode, dims, tokens", [(1, TINY, 4), (2, TINY, 4), (2, DSV32, 1)])
def test_w8a8_matches_dequantized_math(mode, dims, tokens):
    w = Weights.random(**dims, seed=6)
    x = torch.randn(tokens, dims["hidden"], generator=torch.Generator().manual_seed(7))
    sin, cos = rope_tables(torch.arange(tokens).float() * 3)
    smooth = 0.5 + torch.rand(1, dims["q_lora"], generator=torch.Generator().manual_seed(8))
    uq, uq_scale = quantize_per_channel(w.q_b / smooth)  # SmoothQuant: c^Q * smooth meets W / smooth
    args = w.prolog_args()
    args[1] = uq
    kw = dict(dequant_scale_w_uq_qr=uq_scale, smooth_scales_cq=smooth)
    # What the int8 path must equal: float math on the dequantized operands.
    deq = Weights(**{**vars(w), "q_b": (uq.float() * uq_scale).T})
    x_in = x
    if mode == 2:
        x_in, x_scale = dynamic_quant(x)
        dq, dq_scale = quantize_per_channel(w.q_a)
        dkv, dkv_scale = quantize_per_channel(w.kv_a)
        args[0], args[3] = dq, dkv
        kw.update(dequant_scale_x=x_scale[:, None], dequant_scale_w_dq=dq_scale, dequant_scale_w_dkv_kr=dkv_scale)
        deq.q_a, deq.kv_a = (dq.float() * dq_scale).T, (dkv.float() * dkv_scale).T
        x = x_in.float() * x_scale[:, None]
    kv, kr = caches(1)
    query, query_rope, _, q_norm, q_norm_scale = mla_prolog(
        x_in, *args, sin, cos, kv, kr, cache_index=torch.arange(tokens), query_norm_flag=True,
        weight_quant_mode=mode, **kw,
    )
    c_q = rms_norm(x @ deq.q_a.T, w.gamma_q, 1e-5)
    want_i8, want_scale = dynamic_quant(c_q, smooth_scales=smooth[0])
    assert q_norm.dtype == torch.int8 and q_norm_scale.shape == (tokens, 1)
    assert (q_norm.int() - want_i8.int()).abs().max() <= 1  # a rounding tie may fall either way
    torch.testing.assert_close(q_norm_scale[:, 0], want_scale)
    want_q, want_qr, _, want_kv, want_kr = expected(deq, x, sin, cos, c_q=q_norm.float() * q_norm_scale)
    assert_rel(query, want_q, 1e-4)
    assert_rel(query_rope, want_qr, 1e-4)
    assert_rel(kv[0, :tokens, 0], want_kv, 1e-5)
    assert_rel(kr[0, :tokens, 0], want_kr, 1e-5)
    # And the quantized prolog stays close to the float one.
    assert_rel(query, expected(w, x, sin, cos)[0], 5e-2)


def test_rejects_bad_arguments():
    w = Weights.random(**TINY)
    x = torch.randn(2, TINY["hidden"])
    sin, cos = rope_tables(torch.arange(2.0))
    with pytest.raises(ValueError, match="cache_index"):
        mla_prolog(x, *w.prolog_args(), sin, cos, *caches(1))
    with pytest.raises(ValueError, match="dequant_scale_w_uq_qr"):
        args = w.prolog_args()
        args[1] = quantize_per_channel(w.q_b)[0]
        mla_prolog(x, *args, sin, cos, *caches(1), cache_index=torch.arange(2), weight_quant_mode=1)
    with pytest.raises(TypeError, match="weight_uq_qr"):
        mla_prolog(x, *args, sin, cos, *caches(1), cache_index=torch.arange(2))
    with pytest.raises(ValueError, match="weight_uq_qr must have shape"):
        args = w.prolog_args()
        args[1] = args[1][:, :-1]
        mla_prolog(x, *args, sin, cos, *caches(1), cache_index=torch.arange(2))
    with pytest.raises(ValueError, match="cache_index"):
        mla_prolog(x, *w.prolog_args(), sin, cos, *caches(1), cache_index=torch.tensor([0, 16]))


def test_bf16_rounding_points_are_canns():
    """In bf16 the reference rounds where CANN's kernel does (docs/ops/mla_prolog.md): every float
    matmul result (x @ W_dq, x @ W_dkv_kr, c^Q @ W_uq_qr) and the operands c^Q, q_nope. Written here
    with HF-layout weights and HF's RoPE; the same math without the rounding of the matmul results
    differs on a large share of elements, so the rounding points are not a detail."""
    w = Weights.random(**{**GLM5, "heads": 4}, seed=12)
    x = torch.randn(6, GLM5["hidden"], generator=torch.Generator().manual_seed(13)).bfloat16()
    sin, cos = (t.bfloat16() for t in rope_tables(torch.tensor([3.0, 70.0, 5.0, 900.0, 1.0, 2047.0])))
    kv, kr = caches(1, dtype=torch.bfloat16)
    bf = [t.bfloat16() for t in (w.q_a, w.q_b, w.kv_a, w.kv_b, w.gamma_q, w.gamma_kv)]
    w16 = Weights(*bf, w.heads, w.nope)
    query, query_rope, _, c_q, _ = mla_prolog(x, *w16.prolog_args(torch.bfloat16), sin, cos, kv, kr,
                                              cache_index=torch.arange(6), query_norm_flag=True)  # fmt: skip

    def rnd(t):
        return t.bfloat16().float()

    def by_hand(round_matmuls):
        r = rnd if round_matmuls else (lambda t: t)
        xf = x.float()
        cq = rnd(rms_norm(r(xf @ w16.q_a.float().T), w16.gamma_q.float(), 1e-5))
        q = r(cq @ w16.q_b.float().T).view(6, 4, -1)
        qa = torch.einsum("tnd,ndc->tnc", rnd(q[..., : w.nope]), w16.w_uk().float())
        c_kv, k_pe = r(xf @ w16.kv_a.float().T).split([KV_LORA, ROPE], -1)
        q_pe, k_pe = rope_hf(q[..., w.nope :], k_pe[:, None], cos.float(), sin.float(), unsqueeze_dim=1)
        return [rnd(t) for t in (qa, q_pe, cq, rms_norm(c_kv, w16.gamma_kv.float(), 1e-5), k_pe[:, 0])]

    got = [query, query_rope, c_q, kv[0, :6, 0], kr[0, :6, 0]]
    for name, g, want in zip(("query", "query_rope", "query_norm", "kv", "kr"), got, by_hand(True)):
        assert torch.equal(g.float(), want), f"{name} is not bitwise the CANN-rounded math"
    unrounded = by_hand(False)
    assert (query.float() != unrounded[0]).float().mean() > 0.01
    assert (query_rope.float() != unrounded[1]).float().mean() > 0.05


def test_duplicate_slots_are_refused_before_any_write():
    w = Weights.random(**TINY)
    x = torch.randn(3, TINY["hidden"])
    sin, cos = rope_tables(torch.arange(3.0))
    kv, kr = caches(1)
    with pytest.raises(ValueError, match="duplicate slots"):
        mla_prolog(x, *w.prolog_args(), sin, cos, kv, kr, cache_index=torch.tensor([4, 9, 4]))
    assert kv.isnan().all() and kr.isnan().all()
    # Negative slots may repeat: they are not written.
    mla_prolog(x, *w.prolog_args(), sin, cos, kv, kr, cache_index=torch.tensor([-1, 9, -1]))
    assert kv.isnan().sum() == (16 - 1) * KV_LORA


@pytest.mark.parametrize("mode", [0, 2])
def test_fused_input_norm_equals_the_separate_norm(mode):
    """rmsnorm_gamma_x: the op normalizes token_x itself (and in mode 2 quantizes it) exactly as the
    caller would have done before a call without it."""
    w = Weights.random(**TINY, seed=14)
    h = 3 * torch.randn(5, TINY["hidden"], generator=torch.Generator().manual_seed(15))
    gamma_x = 1 + 0.2 * torch.randn(TINY["hidden"], generator=torch.Generator().manual_seed(16))
    sin, cos = rope_tables(torch.arange(5.0))
    args, kw = w.prolog_args(), {}
    x = rms_norm(h, gamma_x, 1e-6)
    if mode == 2:
        args[0], dq_scale = quantize_per_channel(w.q_a)
        args[3], dkv_scale = quantize_per_channel(w.kv_a)
        args[1], uq_scale = quantize_per_channel(w.q_b)
        kw = dict(dequant_scale_w_dq=dq_scale, dequant_scale_w_dkv_kr=dkv_scale, dequant_scale_w_uq_qr=uq_scale)
        x, x_scale = dynamic_quant(x)
    fused = mla_prolog(h, *args, sin, cos, *caches(1), cache_index=torch.arange(5), weight_quant_mode=mode,
                       rmsnorm_gamma_x=gamma_x, rmsnorm_epsilon_x=1e-6, query_norm_flag=True, **kw)  # fmt: skip
    if mode == 2:
        kw["dequant_scale_x"] = x_scale[:, None]
    separate = mla_prolog(x, *args, sin, cos, *caches(1), cache_index=torch.arange(5), weight_quant_mode=mode,
                          query_norm_flag=True, **kw)  # fmt: skip
    for a, b in zip(fused, separate):
        assert (a is None and b is None) or torch.equal(a, b)
    if mode == 2:  # the op quantizes the normalized x itself: no caller scale
        with pytest.raises(ValueError, match="dequant_scale_x must not be given"):
            mla_prolog(h, *args, sin, cos, *caches(1), cache_index=torch.arange(5), weight_quant_mode=mode,
                       rmsnorm_gamma_x=gamma_x, **kw)  # fmt: skip
