"""MLA prolog (MLAPO): torch_npu ``npu_mla_prolog_v3`` semantics (a documented subset).

Contract: docs/ops/mla_prolog.md. Reference: ascend_glm5.reference.mla_prolog.
"""

from __future__ import annotations

import math

import torch

from . import _validate as v
from ._backend import cpu_module, npu_module

ROPE_DIM = 64
KV_LORA_RANK = 512
COMBINED_DIM = KV_LORA_RANK + ROPE_DIM  # the combined cache's row: c^KV then the roped k (kr_cache=None)
MAX_HIDDEN = 8192
MAX_Q_LORA = 2048
MAX_NOPE = 256
MAX_HEADS = 128
MAX_BLOCK_SIZE = 1024
CACHE_MODES = ("PA_BSND", "BSND", "TND")
_DTYPE_IDS = {torch.float16: 0, torch.bfloat16: 1}
# Kernel argument order (csrc/host/mla_prolog/mla_prolog_host.h, MlaPrologArg).
_ARGS = (
    "token_x", "weight_dq", "weight_uq_qr", "weight_uk", "weight_dkv_kr", "rmsnorm_gamma_cq", "rmsnorm_gamma_ckv",
    "rope_sin", "rope_cos", "cache_index", "kv_cache", "kr_cache", "dequant_scale_x", "dequant_scale_w_dq",
    "dequant_scale_w_uq_qr", "dequant_scale_w_dkv_kr", "smooth_scales_cq", "rmsnorm_gamma_x", "query", "query_rope",
    "query_norm", "dequant_scale_q_norm",
)  # fmt: skip


def _float_arg(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError(f"{name} must be a finite float, got {value!r}")
    return float(value)


def _check(token_x, weight_dq, weight_uq_qr, weight_uk, weight_dkv_kr, gamma_cq, gamma_ckv, rope_sin, rope_cos,
           kv_cache, kr_cache, cache_index, scale_x, scale_w_dq, scale_w_uq_qr, scale_w_dkv_kr, smooth, gamma_x,
           eps_cq, eps_ckv, eps_x, cache_mode, weight_quant_mode, qc_qr_scale, kc_scale) -> tuple[int, ...]:  # fmt: skip
    """Every argument the kernel reads, checked before anything runs. Returns (T, He, Hcq, N, D)."""
    tensors = {
        "token_x": token_x, "weight_dq": weight_dq, "weight_uq_qr": weight_uq_qr, "weight_uk": weight_uk,
        "weight_dkv_kr": weight_dkv_kr, "rmsnorm_gamma_cq": gamma_cq, "rmsnorm_gamma_ckv": gamma_ckv,
        "rope_sin": rope_sin, "rope_cos": rope_cos, "kv_cache": kv_cache,
        **({"kr_cache": kr_cache} if kr_cache is not None else {}),  # None: the combined cache
    }  # fmt: skip
    for name, t in tensors.items():
        v.require_tensor(name, t)
    optional = {
        "cache_index": cache_index, "dequant_scale_x": scale_x, "dequant_scale_w_dq": scale_w_dq,
        "dequant_scale_w_uq_qr": scale_w_uq_qr, "dequant_scale_w_dkv_kr": scale_w_dkv_kr,
        "smooth_scales_cq": smooth, "rmsnorm_gamma_x": gamma_x,
    }  # fmt: skip
    for name, t in optional.items():
        if t is not None:
            v.require_tensor(name, t)
    v.require_same_device([*tensors, *optional], [*tensors.values(), *optional.values()])
    for name, value in (("rmsnorm_epsilon_cq", eps_cq), ("rmsnorm_epsilon_ckv", eps_ckv),
                        ("rmsnorm_epsilon_x", eps_x), ("qc_qr_scale", qc_qr_scale), ("kc_scale", kc_scale)):  # fmt: skip
        _float_arg(name, value)
    if cache_mode not in CACHE_MODES:
        raise ValueError(f"cache_mode must be one of {CACHE_MODES}, got {cache_mode!r}")
    if weight_quant_mode not in (0, 1, 2):
        raise ValueError(f"weight_quant_mode must be 0, 1 or 2, got {weight_quant_mode!r}")

    # Dtypes: weight_uk's float dtype is the compute dtype of every float tensor.
    v.require_dtype("weight_uk", weight_uk, tuple(_DTYPE_IDS))
    dt = weight_uk.dtype
    int8_x, int8_uq = weight_quant_mode == 2, weight_quant_mode in (1, 2)
    fused = gamma_x is not None
    v.require_dtype("token_x", token_x, (torch.int8,) if int8_x and not fused else (dt,))
    v.require_dtype("weight_dq", weight_dq, (torch.int8,) if int8_x else (dt,))
    v.require_dtype("weight_dkv_kr", weight_dkv_kr, (torch.int8,) if int8_x else (dt,))
    v.require_dtype("weight_uq_qr", weight_uq_qr, (torch.int8,) if int8_uq else (dt,))
    for name in ("rmsnorm_gamma_cq", "rmsnorm_gamma_ckv", "rope_sin", "rope_cos", "kv_cache", "kr_cache"):
        if name in tensors:
            v.require_dtype(name, tensors[name], (dt,))
    if fused:
        v.require_dtype("rmsnorm_gamma_x", gamma_x, (dt,))

    # Shapes.
    lead_dims = {"BSND": (2,), "TND": (1,), "PA_BSND": (1, 2)}[cache_mode]
    if token_x.dim() - 1 not in lead_dims:
        raise ValueError(f"token_x must be [T, He]{' or [B, S, He]' if cache_mode == 'PA_BSND' else ''} for "
                         f"cache_mode {cache_mode} ([B, S, He] for BSND), got {tuple(token_x.shape)}")  # fmt: skip
    lead = tuple(token_x.shape[:-1])
    tokens, hidden = math.prod(lead), token_x.shape[-1]
    if weight_uk.dim() != 3:
        raise ValueError(f"weight_uk must be [N, D, {KV_LORA_RANK}], got {tuple(weight_uk.shape)}")
    heads, nope, ckv = weight_uk.shape
    if ckv != KV_LORA_RANK:
        raise ValueError(f"weight_uk's last dim (Hckv) must be {KV_LORA_RANK}, got {ckv}")
    if weight_dq.dim() != 2:
        raise ValueError(f"weight_dq must be [He, Hcq], got {tuple(weight_dq.shape)}")
    q_lora = weight_dq.shape[1]
    if not (64 <= hidden <= MAX_HIDDEN and hidden % 64 == 0):
        raise ValueError(f"token_x hidden size He must be a multiple of 64 in [64, {MAX_HIDDEN}], got {hidden}")
    if not (64 <= q_lora <= MAX_Q_LORA and q_lora % 64 == 0):
        raise ValueError(f"weight_dq's Hcq must be a multiple of 64 in [64, {MAX_Q_LORA}], got {q_lora}")
    if not (16 <= nope <= MAX_NOPE and nope % 16 == 0):
        raise ValueError(f"weight_uk's D must be a multiple of 16 in [16, {MAX_NOPE}], got {nope}")
    if not 1 <= heads <= MAX_HEADS:
        raise ValueError(f"weight_uk's N must be in [1, {MAX_HEADS}], got {heads}")
    v.require_shape("weight_dq", weight_dq, (hidden, q_lora))
    v.require_shape("weight_uq_qr", weight_uq_qr, (q_lora, heads * (nope + ROPE_DIM)))
    v.require_shape("weight_dkv_kr", weight_dkv_kr, (hidden, KV_LORA_RANK + ROPE_DIM))
    v.require_shape("rmsnorm_gamma_cq", gamma_cq, (q_lora,))
    v.require_shape("rmsnorm_gamma_ckv", gamma_ckv, (KV_LORA_RANK,))
    v.require_shape("rope_sin", rope_sin, (*lead, ROPE_DIM))
    v.require_shape("rope_cos", rope_cos, (*lead, ROPE_DIM))
    if fused:
        v.require_shape("rmsnorm_gamma_x", gamma_x, (hidden,))
    _check_caches(kv_cache, kr_cache, cache_index, cache_mode, lead)

    # Quantization scales: present exactly when the mode needs them.
    for name, t, needed, shape in (
        ("dequant_scale_x", scale_x, int8_x and not fused, (*lead, 1)),
        ("dequant_scale_w_dq", scale_w_dq, int8_x, (1, q_lora)),
        ("dequant_scale_w_dkv_kr", scale_w_dkv_kr, int8_x, (1, KV_LORA_RANK + ROPE_DIM)),
        ("dequant_scale_w_uq_qr", scale_w_uq_qr, int8_uq, (1, heads * (nope + ROPE_DIM))),
    ):
        if (t is not None) != needed:
            raise ValueError(f"{name} {'must' if needed else 'must not'} be given for weight_quant_mode "
                             f"{weight_quant_mode}{' with rmsnorm_gamma_x' if fused else ''}")  # fmt: skip
        if t is not None:
            v.require_dtype(name, t, (torch.float32,))
            v.require_shape(name, t, shape)
    if smooth is not None:
        if not int8_uq:
            raise ValueError("smooth_scales_cq is only used with weight_quant_mode 1 or 2")
        v.require_dtype("smooth_scales_cq", smooth, (torch.float32,))
        v.require_shape("smooth_scales_cq", smooth, (1, q_lora))
    return tokens, hidden, q_lora, heads, nope


def _check_caches(kv_cache, kr_cache, cache_index, cache_mode, lead) -> None:
    """Separate caches (latent 512 | rope 64 wide) or, with ``kr_cache=None``, the combined one (576)."""
    combined = kr_cache is None
    if combined and kv_cache.shape[-1:] != (COMBINED_DIM,):
        raise ValueError(f"kr_cache may only be None with the combined cache: kv_cache rows of {COMBINED_DIM} "
                         f"(c^KV then the roped k), got kv_cache {tuple(kv_cache.shape)}")  # fmt: skip
    if not combined and kv_cache.shape[-1:] == (COMBINED_DIM,):
        raise ValueError(f"kv_cache rows of {COMBINED_DIM} are the combined cache: pass kr_cache=None, "
                         f"got kr_cache {tuple(kr_cache.shape)}")  # fmt: skip
    caches = (("kv_cache", kv_cache, COMBINED_DIM),) if combined else (
        ("kv_cache", kv_cache, KV_LORA_RANK), ("kr_cache", kr_cache, ROPE_DIM))  # fmt: skip
    for name, cache, dim in caches:
        if not cache.is_contiguous():
            raise ValueError(f"{name} must be contiguous (it is written in place)")
        if cache_mode == "PA_BSND":
            if cache.dim() != 4 or cache.shape[2:] != (1, dim):
                raise ValueError(f"PA_BSND {name} must be [num_blocks, block_size, 1, {dim}], got {tuple(cache.shape)}")
        else:
            v.require_shape(name, cache, (*lead, 1, dim))
    if cache_mode != "PA_BSND":
        if cache_index is not None:
            raise ValueError(f"cache_index is only used with cache_mode PA_BSND, not {cache_mode}")
        return
    if not combined and kv_cache.shape[:2] != kr_cache.shape[:2]:
        raise ValueError(f"kv_cache and kr_cache must have the same [num_blocks, block_size], got "
                         f"{tuple(kv_cache.shape[:2])} and {tuple(kr_cache.shape[:2])}")  # fmt: skip
    block_size = kv_cache.shape[1]
    if block_size % 16 or not 16 <= block_size <= MAX_BLOCK_SIZE:
        raise ValueError(f"PA_BSND block_size must be a multiple of 16 in [16, {MAX_BLOCK_SIZE}], got {block_size}")
    if cache_index is None:
        raise ValueError("cache_index is required for cache_mode PA_BSND")
    v.require_dtype("cache_index", cache_index, (torch.int32, torch.int64))
    v.require_shape("cache_index", cache_index, lead)
    capacity = kv_cache.shape[0] * block_size
    slots = cache_index.reshape(-1)
    if slots.numel() and int(slots.max()) >= capacity:
        raise ValueError(f"cache_index holds slot {int(slots.max())}, outside the {capacity} cache rows "
                         f"(negative slots skip a token)")  # fmt: skip
    kept = slots[slots >= 0]
    if kept.unique().numel() != kept.numel():
        raise ValueError("cache_index has duplicate slots: two tokens would write the same cache row")


def _outputs(token_x, weight_uk, q_lora: int, query_norm_flag: bool, weight_quant_mode: int):
    lead = token_x.shape[:-1]
    heads, dev, dt = weight_uk.shape[0], token_x.device, weight_uk.dtype
    query = torch.empty((*lead, heads, KV_LORA_RANK), dtype=dt, device=dev)
    query_rope = torch.empty((*lead, heads, ROPE_DIM), dtype=dt, device=dev)
    norm_dtype = dt if weight_quant_mode == 0 else torch.int8
    query_norm = torch.empty((*lead, q_lora) if query_norm_flag else (0,), dtype=norm_dtype, device=dev)
    has_scale = query_norm_flag and weight_quant_mode != 0
    norm_scale = torch.empty((*lead, 1) if has_scale else (0,), dtype=torch.float32, device=dev)
    return query, query_rope, query_norm, norm_scale


@torch.library.custom_op("ascend_glm5::mla_prolog", mutates_args=("kv_cache", "kr_cache"), device_types="cpu")
def _mla_prolog(
    token_x: torch.Tensor, weight_dq: torch.Tensor, weight_uq_qr: torch.Tensor, weight_uk: torch.Tensor,
    weight_dkv_kr: torch.Tensor, rmsnorm_gamma_cq: torch.Tensor, rmsnorm_gamma_ckv: torch.Tensor,
    rope_sin: torch.Tensor, rope_cos: torch.Tensor, kv_cache: torch.Tensor, kr_cache: torch.Tensor | None,
    cache_index: torch.Tensor | None, dequant_scale_x: torch.Tensor | None, dequant_scale_w_dq: torch.Tensor | None,
    dequant_scale_w_uq_qr: torch.Tensor | None, dequant_scale_w_dkv_kr: torch.Tensor | None,
    smooth_scales_cq: torch.Tensor | None, rmsnorm_gamma_x: torch.Tensor | None, rmsnorm_epsilon_cq: float,
    rmsnorm_epsilon_ckv: float, rmsnorm_epsilon_x: float, cache_mode: str, query_norm_flag: bool,
    weight_quant_mode: int, qc_qr_scale: float, kc_scale: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    args = (token_x, weight_dq, weight_uq_qr, weight_uk, weight_dkv_kr, rmsnorm_gamma_cq, rmsnorm_gamma_ckv, rope_sin,
            rope_cos, kv_cache, kr_cache, cache_index, dequant_scale_x, dequant_scale_w_dq, dequant_scale_w_uq_qr,
            dequant_scale_w_dkv_kr, smooth_scales_cq, rmsnorm_gamma_x)  # fmt: skip
    tokens, hidden, q_lora, heads, nope = _check(*args, rmsnorm_epsilon_cq, rmsnorm_epsilon_ckv, rmsnorm_epsilon_x,
                                                 cache_mode, weight_quant_mode, qc_qr_scale, kc_scale)  # fmt: skip
    outs = _outputs(token_x, weight_uk, q_lora, query_norm_flag, weight_quant_mode)
    if tokens == 0:
        return outs
    tensors = [t.contiguous() if t is not None else None for t in args[:9]]
    index = cache_index.to(torch.int64).contiguous() if cache_index is not None else None
    tensors += [index, kv_cache, kr_cache]
    tensors += [t.contiguous() if t is not None else None for t in args[12:]]
    tensors += [outs[0], outs[1], outs[2] if query_norm_flag else None, outs[3] if outs[3].numel() else None]
    cpu_module().mla_prolog(
        ptrs=[t.data_ptr() if t is not None else 0 for t in tensors],
        bytes=[t.nbytes if t is not None else 0 for t in tensors],
        tokens=tokens, hidden=hidden, q_lora=q_lora, heads=heads, nope=nope, mode=weight_quant_mode,
        dtype=_DTYPE_IDS[weight_uk.dtype], has_gamma_x=rmsnorm_gamma_x is not None,
        has_smooth=smooth_scales_cq is not None, query_norm=query_norm_flag, paged=cache_mode == "PA_BSND",
        combined=kr_cache is None, eps_x=rmsnorm_epsilon_x, eps_cq=rmsnorm_epsilon_cq, eps_ckv=rmsnorm_epsilon_ckv,
        qc_qr_scale=qc_qr_scale, kc_scale=kc_scale,
    )  # fmt: skip
    return outs


@_mla_prolog.register_fake
def _(token_x, weight_dq, weight_uq_qr, weight_uk, weight_dkv_kr, rmsnorm_gamma_cq, rmsnorm_gamma_ckv, rope_sin,
      rope_cos, kv_cache, kr_cache, cache_index, dequant_scale_x, dequant_scale_w_dq, dequant_scale_w_uq_qr,
      dequant_scale_w_dkv_kr, smooth_scales_cq, rmsnorm_gamma_x, rmsnorm_epsilon_cq, rmsnorm_epsilon_ckv,
      rmsnorm_epsilon_x, cache_mode, query_norm_flag, weight_quant_mode, qc_qr_scale, kc_scale):  # fmt: skip
    return _outputs(token_x, weight_uk, weight_dq.shape[-1], query_norm_flag, weight_quant_mode)


if npu_module() is not None:

    @_mla_prolog.register_kernel("npu")
    def _(token_x, weight_dq, weight_uq_qr, weight_uk, weight_dkv_kr, rmsnorm_gamma_cq, rmsnorm_gamma_ckv, rope_sin,
          rope_cos, kv_cache, kr_cache, cache_index, dequant_scale_x, dequant_scale_w_dq, dequant_scale_w_uq_qr,
          dequant_scale_w_dkv_kr, smooth_scales_cq, rmsnorm_gamma_x, rmsnorm_epsilon_cq, rmsnorm_epsilon_ckv,
          rmsnorm_epsilon_x, cache_mode, query_norm_flag, weight_quant_mode, qc_qr_scale, kc_scale):  # fmt: skip
        args = (token_x, weight_dq, weight_uq_qr, weight_uk, weight_dkv_kr, rmsnorm_gamma_cq, rmsnorm_gamma_ckv,
                rope_sin, rope_cos, kv_cache, kr_cache, cache_index, dequant_scale_x, dequant_scale_w_dq,
                dequant_scale_w_uq_qr, dequant_scale_w_dkv_kr, smooth_scales_cq, rmsnorm_gamma_x)  # fmt: skip
        tokens, hidden, q_lora, heads, nope = _check(*args, rmsnorm_epsilon_cq, rmsnorm_epsilon_ckv, rmsnorm_epsilon_x,
                                                     cache_mode, weight_quant_mode, qc_qr_scale, kc_scale)  # fmt: skip
        outs = _outputs(token_x, weight_uk, q_lora, query_norm_flag, weight_quant_mode)
        if tokens == 0:
            return outs
        tensors = [t.contiguous() if t is not None else None for t in args[:9]]
        tensors += [cache_index.to(torch.int64).contiguous() if cache_index is not None else None, kv_cache, kr_cache]
        tensors += [t.contiguous() if t is not None else None for t in args[12:]]
        tensors += [outs[0], outs[1], outs[2] if query_norm_flag else None, outs[3] if outs[3].numel() else None]
        npu_module().mla_prolog(
            tensors, tokens, hidden, q_lora, heads, nope, weight_quant_mode, rmsnorm_gamma_x is not None,
            smooth_scales_cq is not None, query_norm_flag, cache_mode == "PA_BSND", kr_cache is None,
            rmsnorm_epsilon_x, rmsnorm_epsilon_cq, rmsnorm_epsilon_ckv, qc_qr_scale, kc_scale,
        )  # fmt: skip
        return outs


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
    """The fused MLA front end on the MLA prolog kernel; arguments, shapes and results as
    :func:`ascend_glm5.reference.mla_prolog` (docs/ops/mla_prolog.md), float tensors in bf16 or fp16
    (``weight_uk``'s dtype). ``kv_cache`` / ``kr_cache`` are written in place (rows of negative
    ``cache_index`` slots are not); with ``kr_cache=None``, ``kv_cache`` is the combined cache
    ``[..., 1, 576]``: each row c^KV (512) then the roped k (64), one write per token, the layout
    ``sparse_flash_attention`` reads with ``key_rope=None``. Every argument is checked first, so a
    refused call changes nothing.

    Returns ``(query, query_rope, None, query_norm, dequant_scale_q_norm)``; ``query_norm`` (and, in
    modes 1 and 2, its fp32 scale) only with ``query_norm_flag``, else ``None``.
    """
    args = (token_x, weight_dq, weight_uq_qr, weight_uk, weight_dkv_kr, rmsnorm_gamma_cq, rmsnorm_gamma_ckv, rope_sin,
            rope_cos, kv_cache, kr_cache, cache_index, dequant_scale_x, dequant_scale_w_dq, dequant_scale_w_uq_qr,
            dequant_scale_w_dkv_kr, smooth_scales_cq, rmsnorm_gamma_x)  # fmt: skip
    _check(*args, rmsnorm_epsilon_cq, rmsnorm_epsilon_ckv, rmsnorm_epsilon_x, cache_mode, weight_quant_mode,
           qc_qr_scale, kc_scale)  # fmt: skip
    if not isinstance(query_norm_flag, bool):
        raise TypeError(f"query_norm_flag must be a bool, got {query_norm_flag!r}")
    query, query_rope, query_norm, norm_scale = torch.ops.ascend_glm5.mla_prolog(
        *args, float(rmsnorm_epsilon_cq), float(rmsnorm_epsilon_ckv), float(rmsnorm_epsilon_x), cache_mode,
        query_norm_flag, int(weight_quant_mode), float(qc_qr_scale), float(kc_scale),
    )  # fmt: skip
    if not query_norm_flag:
        return query, query_rope, None, None, None
    return query, query_rope, None, query_norm, (norm_scale if weight_quant_mode != 0 else None)
