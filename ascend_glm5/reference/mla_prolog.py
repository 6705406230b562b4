"""Reference for the fused MLA front end (a documented subset of torch_npu ``npu_mla_prolog_v3``).

Contract: docs/ops/mla_prolog.md.
"""

from __future__ import annotations

import torch

from .dynamic_quant import dynamic_quant
from .rope import rope_interleaved


def _rms_norm(x: torch.Tensor, gamma: torch.Tensor, eps: float) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * gamma.float()


def _matmul(a: torch.Tensor, a_scale, w: torch.Tensor, w_scale, dtype: torch.dtype) -> torch.Tensor:
    """``a @ w`` as CANN computes it: a float matmul accumulates in fp32 and its result is rounded
    to ``dtype`` (the cube writes it in the compute dtype); int8 x int8 accumulates exactly and is
    dequantized per token and per channel in fp32, not rounded. Returned in fp32."""
    if w.dtype == torch.int8:
        # fp64 holds every int8 dot product exactly (|sum| <= 127 * 127 * K << 2**53) and uses BLAS.
        acc = (a.double() @ w.double()).float()
        return acc * a_scale.float()[:, None] * w_scale.float().reshape(1, -1)
    return (a.float() @ w.float()).to(dtype).float()


def _check_cache(name: str, cache: torch.Tensor, dim: int, cache_mode: str, cache_index, lead) -> None:
    if cache.shape[-2:] != (1, dim):
        raise ValueError(f"{name} must end in (1, {dim}), got {tuple(cache.shape)}")
    if cache_mode != "PA_BSND":
        if tuple(cache.shape[:-2]) != tuple(lead):
            raise ValueError(f"{cache_mode} {name} must have leading dims {tuple(lead)}, got {tuple(cache.shape)}")
        return
    if cache.dim() != 4:
        raise ValueError(f"PA_BSND {name} must be [num_blocks, block_size, 1, {dim}], got {tuple(cache.shape)}")
    capacity = cache.shape[0] * cache.shape[1]
    if cache_index is None or tuple(cache_index.shape) != tuple(lead) or (cache_index >= capacity).any():
        raise ValueError(f"cache_index must be {tuple(lead)} slots below {capacity} for PA_BSND (negative = skip)")
    slots = cache_index.reshape(-1)
    slots = slots[slots >= 0]
    if slots.unique().numel() != slots.numel():
        raise ValueError("cache_index has duplicate slots: two tokens would write the same cache row")


def _write_cache(cache: torch.Tensor, values: torch.Tensor, cache_mode: str, cache_index, lead) -> None:
    if cache_mode == "PA_BSND":
        slots = cache_index.reshape(-1).long()
        keep = slots >= 0
        cache[slots[keep] // cache.shape[1], slots[keep] % cache.shape[1], 0] = values[keep].to(cache.dtype)
    else:
        cache.select(-2, 0).copy_(values.reshape(*lead, values.shape[-1]))


def mla_prolog(
    token_x: torch.Tensor,
    weight_dq: torch.Tensor,
    weight_uq_qr: torch.Tensor,
    weight_uk: torch.Tensor,
    weight_dkv_kr: torch.Tensor,
    rmsnorm_gamma_cq: torch.Tensor,
    rmsnorm_gamma_ckv: torch.Tensor,
    rope_sin: torch.Tensor,
    rope_cos: torch.Tensor,
    kv_cache: torch.Tensor,
    kr_cache: torch.Tensor | None,
    *,
    cache_index: torch.Tensor | None = None,
    dequant_scale_x: torch.Tensor | None = None,
    dequant_scale_w_dq: torch.Tensor | None = None,
    dequant_scale_w_uq_qr: torch.Tensor | None = None,
    dequant_scale_w_dkv_kr: torch.Tensor | None = None,
    smooth_scales_cq: torch.Tensor | None = None,
    rmsnorm_epsilon_cq: float = 1e-5,
    rmsnorm_epsilon_ckv: float = 1e-5,
    cache_mode: str = "PA_BSND",
    query_norm_flag: bool = False,
    weight_quant_mode: int = 0,
    qc_qr_scale: float = 1.0,
    kc_scale: float = 1.0,
    rmsnorm_gamma_x: torch.Tensor | None = None,
    rmsnorm_epsilon_x: float = 1e-5,
):
    """MLA preprocessing: absorbed query, roped query, latent KV written to the caches.

    Shapes (He hidden, Hcq q_lora_rank, N heads, D qk_nope, Dr qk_rope, Hckv kv_lora_rank; ``T``
    tokens, or ``[B, S]`` in place of ``[T]`` everywhere):

    Args:
        token_x: ``[T, He]``; bf16/fp16/fp32, or int8 for ``weight_quant_mode`` 2.
        weight_dq: ``[He, Hcq]`` (``x @ weight_dq``; = ``q_a_proj.weight.T``); int8 in mode 2.
        weight_uq_qr: ``[Hcq, N*(D+Dr)]``, columns per head ``[D nope | Dr rope]``
            (= ``q_b_proj.weight.T``); int8 in modes 1 and 2.
        weight_uk: ``[N, D, Hckv]`` float (= ``kv_b_proj.weight.view(N, D+Dv, Hckv)[:, :D]``). Its
            dtype is the compute dtype of the floating outputs.
        weight_dkv_kr: ``[He, Hckv+Dr]``, columns ``[latent | rope]`` (= ``kv_a_proj_with_mqa.weight.T``);
            int8 in mode 2.
        rmsnorm_gamma_cq: ``[Hcq]``. rmsnorm_gamma_ckv: ``[Hckv]``.
        rope_sin, rope_cos: ``[T, Dr]`` in half layout (``cat(freqs, freqs)``, as HF's rotary
            embedding returns). The rope slices are rotated in interleaved pairs
            ``(x[2j], x[2j+1])`` and written de-interleaved (see :func:`rope_interleaved`).
        kv_cache: ``[num_blocks, block_size, 1, Hckv]`` (PA_BSND), ``[B, S, 1, Hckv]`` (BSND) or
            ``[T, 1, Hckv]`` (TND); float. Written in place.
        kr_cache: same as ``kv_cache`` with ``Dr`` last. Written in place. ``None``: ``kv_cache`` is
            the combined cache, ``Hckv+Dr`` wide (``[num_blocks, block_size, 1, 576]`` ...): each row
            holds c^KV in ``[0, Hckv)`` and the roped k in ``[Hckv, Hckv+Dr)`` (FlashMLA's layout;
            sparse_flash_attention's ``key_rope=None``).
        cache_index: PA_BSND only, int ``[T]``: flat slot ``block * block_size + offset`` of each
            token; a negative slot skips the token. BSND/TND caches are written in token order.
        dequant_scale_x: mode 2, fp32 ``[T, 1]``: per-token scale of the int8 ``token_x``.
        dequant_scale_w_dq / _w_uq_qr / _w_dkv_kr: fp32 ``[1, n]`` per-output-channel scales of the
            int8 weights (``_w_uq_qr`` in modes 1 and 2, the others in mode 2).
        smooth_scales_cq: modes 1 and 2, optional fp32 ``[1, Hcq]`` applied before quantizing c^Q.
        rmsnorm_epsilon_cq, rmsnorm_epsilon_ckv: RMSNorm epsilons.
        cache_mode: "PA_BSND", "BSND" or "TND".
        query_norm_flag: also return ``query_norm`` (c^Q, the indexer's input).
        weight_quant_mode: 0 float weights; 1 int8 ``weight_uq_qr`` only; 2 int8 ``token_x``,
            ``weight_dq``, ``weight_uq_qr``, ``weight_dkv_kr``.
        qc_qr_scale, kc_scale: scales alpha_q, alpha_kv applied to c^Q and c^KV.
        rmsnorm_gamma_x: ``[He]``, optional: ``token_x`` is the layer's hidden state and
            ``x = RMSNorm(token_x; rmsnorm_gamma_x, rmsnorm_epsilon_x)`` is computed here (MLAPO's
            fused input norm), rounded to the compute dtype (modes 0, 1) or quantized per token
            with ``dynamic_quant`` (mode 2, where ``token_x`` is then float and
            ``dequant_scale_x`` must be None).
        rmsnorm_epsilon_x: epsilon of that norm.

    Returns:
        ``(query, query_rope, dequant_scale_q_nope, query_norm, dequant_scale_q_norm)``:
        ``query`` ``[T, N, Hckv]`` = ``q_nope @ weight_uk`` per head; ``query_rope`` ``[T, N, Dr]``;
        both in ``weight_uk``'s dtype. ``dequant_scale_q_nope`` is always ``None`` (no KV-cache
        quantization). With ``query_norm_flag``: ``query_norm`` ``[T, Hcq]`` is c^Q in
        ``weight_uk``'s dtype (mode 0) or its int8 per-token quantization (modes 1, 2) with
        ``dequant_scale_q_norm`` fp32 ``[T, 1]`` (mode 0: ``None``); otherwise both ``None``.

    Math in fp32:
        ``c^Q = qc_qr_scale * RMSNorm(x @ W_dq)``; ``[q_nope | q_pe] = c^Q @ W_uq_qr`` (mode 1/2: the
        int8 quantization of c^Q, by ``dynamic_quant``, times its scale); ``query = q_nope @ W_uk``;
        ``query_rope = RoPE(q_pe)``; ``[c | k_pe] = x @ W_dkv_kr``;
        ``kv_cache <- kc_scale * RMSNorm(c)``; ``kr_cache <- RoPE(k_pe)`` (combined:
        ``kv_cache <- [kc_scale * RMSNorm(c) | RoPE(k_pe)]``).
        Rounding points as CANN's ``mla_prolog`` (``weight_uk``'s dtype; none for fp32 inputs): the
        result of every float matmul (``x @ W_dq``, ``x @ W_dkv_kr``, ``c^Q @ W_uq_qr``), and the
        float operands of the second and third matmul (c^Q, q_nope). int8 matmul results are
        dequantized in fp32 and not rounded.
    Raises:
        ValueError / TypeError before any cache is written (duplicate non-negative ``cache_index``
        slots included).
    """
    if weight_quant_mode not in (0, 1, 2):
        raise ValueError(f"weight_quant_mode must be 0, 1 or 2, got {weight_quant_mode}")
    if cache_mode not in ("PA_BSND", "BSND", "TND"):
        raise ValueError(f"cache_mode must be PA_BSND, BSND or TND, got {cache_mode!r}")
    if token_x.dim() not in {"BSND": (3,), "TND": (2,)}.get(cache_mode, (2, 3)):
        raise ValueError(f"token_x must be [T, He] or [B, S, He] (BSND: 3-D, TND: 2-D), got {tuple(token_x.shape)}")
    if weight_uk.dim() != 3 or not weight_uk.is_floating_point():
        raise ValueError(f"weight_uk must be a float [N, D, Hckv] tensor, got {weight_uk.dtype} "
                         f"{tuple(weight_uk.shape)}")
    dtype = weight_uk.dtype
    lead = token_x.shape[:-1]
    x = token_x.reshape(-1, token_x.shape[-1])
    n_tok, hidden = x.shape
    heads, d_nope, d_ckv = weight_uk.shape
    d_rope = rope_cos.shape[-1]
    d_cq = weight_dq.shape[-1]
    expected = {
        "weight_dq": (weight_dq, (hidden, d_cq)),
        "weight_uq_qr": (weight_uq_qr, (d_cq, heads * (d_nope + d_rope))),
        "weight_dkv_kr": (weight_dkv_kr, (hidden, d_ckv + d_rope)),
        "rmsnorm_gamma_cq": (rmsnorm_gamma_cq, (d_cq,)),
        "rmsnorm_gamma_ckv": (rmsnorm_gamma_ckv, (d_ckv,)),
        "rope_sin": (rope_sin, (*lead, d_rope)),
        "rope_cos": (rope_cos, (*lead, d_rope)),
    }
    for name, (t, shape) in expected.items():
        if tuple(t.shape) != shape:
            raise ValueError(f"{name} must have shape {shape}, got {tuple(t.shape)}")
    combined = kr_cache is None
    kv_name = "kv_cache (the combined cache, as kr_cache is None)" if combined else "kv_cache"
    _check_cache(kv_name, kv_cache, d_ckv + d_rope if combined else d_ckv, cache_mode, cache_index, lead)
    if not combined:
        _check_cache("kr_cache", kr_cache, d_rope, cache_mode, cache_index, lead)

    int8_dq = weight_quant_mode == 2
    int8_uq = weight_quant_mode in (1, 2)
    fused_norm = rmsnorm_gamma_x is not None
    if fused_norm and tuple(rmsnorm_gamma_x.shape) != (hidden,):
        raise ValueError(f"rmsnorm_gamma_x must have shape {(hidden,)}, got {tuple(rmsnorm_gamma_x.shape)}")
    for name, t, want_int8 in (
        ("token_x", token_x, int8_dq and not fused_norm),
        ("weight_dq", weight_dq, int8_dq),
        ("weight_dkv_kr", weight_dkv_kr, int8_dq),
        ("weight_uq_qr", weight_uq_qr, int8_uq),
    ):
        if (t.dtype == torch.int8) != want_int8 or (not want_int8 and not t.is_floating_point()):
            kind = "int8" if want_int8 else "float"
            raise TypeError(f"{name} must be {kind} for weight_quant_mode {weight_quant_mode}")
    for name, t, needed in (
        ("dequant_scale_x", dequant_scale_x, int8_dq and not fused_norm),
        ("dequant_scale_w_dq", dequant_scale_w_dq, int8_dq),
        ("dequant_scale_w_dkv_kr", dequant_scale_w_dkv_kr, int8_dq),
        ("dequant_scale_w_uq_qr", dequant_scale_w_uq_qr, int8_uq),
    ):
        if (t is not None) != needed:
            verb = "must" if needed else "must not"
            raise ValueError(f"{name} {verb} be given for weight_quant_mode {weight_quant_mode}")
    if smooth_scales_cq is not None and not int8_uq:
        raise ValueError("smooth_scales_cq is only used with weight_quant_mode 1 or 2")

    x_scale = dequant_scale_x.reshape(-1) if int8_dq and not fused_norm else None
    if fused_norm:
        x = _rms_norm(x.float(), rmsnorm_gamma_x, rmsnorm_epsilon_x)
        if int8_dq:
            x, x_scale = dynamic_quant(x)
        else:
            x = x.to(dtype)
    c_q = _matmul(x, x_scale, weight_dq, dequant_scale_w_dq, dtype)
    c_q = qc_qr_scale * _rms_norm(c_q, rmsnorm_gamma_cq, rmsnorm_epsilon_cq)
    if int8_uq:
        smooth = None if smooth_scales_cq is None else smooth_scales_cq.reshape(-1)
        query_norm, q_norm_scale = dynamic_quant(c_q, smooth_scales=smooth)
        q_all = _matmul(query_norm, q_norm_scale, weight_uq_qr, dequant_scale_w_uq_qr, dtype)
        q_norm_scale = q_norm_scale[:, None]
    else:
        query_norm, q_norm_scale = c_q.to(dtype), None
        q_all = _matmul(query_norm, None, weight_uq_qr, None, dtype)
    q_nope, q_pe = q_all.view(n_tok, heads, d_nope + d_rope).split([d_nope, d_rope], dim=-1)
    query = torch.einsum("tnd,ndc->tnc", q_nope.to(dtype).float(), weight_uk.float())
    cos, sin = rope_cos.reshape(n_tok, 1, d_rope), rope_sin.reshape(n_tok, 1, d_rope)
    query_rope = rope_interleaved(q_pe, cos, sin)

    c_kv, k_pe = _matmul(x, x_scale, weight_dkv_kr, dequant_scale_w_dkv_kr, dtype).split([d_ckv, d_rope], dim=-1)
    c_kv = kc_scale * _rms_norm(c_kv, rmsnorm_gamma_ckv, rmsnorm_epsilon_ckv)
    k_rope = rope_interleaved(k_pe, cos[:, 0], sin[:, 0])
    if combined:  # one row per token: c^KV then the roped k
        _write_cache(kv_cache, torch.cat([c_kv, k_rope], dim=-1), cache_mode, cache_index, lead)
    else:
        _write_cache(kv_cache, c_kv, cache_mode, cache_index, lead)
        _write_cache(kr_cache, k_rope, cache_mode, cache_index, lead)

    if not query_norm_flag:
        query_norm = q_norm_scale = None
    else:
        query_norm = query_norm.reshape(*lead, d_cq)
        q_norm_scale = None if q_norm_scale is None else q_norm_scale.reshape(*lead, 1)
    return (
        query.to(dtype).reshape(*lead, heads, d_ckv),
        query_rope.to(dtype).reshape(*lead, heads, d_rope),
        None,
        query_norm,
        q_norm_scale,
    )
