"""int4 packing layouts used by msModelSlim checkpoints and by vllm-ascend's grouped matmul.

Values are signed int4 in [-8, 7], stored as two's-complement nibbles.

* msModelSlim W4A8 (``weight`` int8 ``[N/2, K]``): two int4 per byte, packed along N (the output
  channel). Byte ``P[j, k]`` holds ``W[2j, k]`` in its low nibble and ``W[2j+1, k]`` in its high nibble.
* vllm-ascend / torch_npu A8W4 grouped matmul (``weight`` int32 ``[E, K, N/8]``): eight int4 per
  int32 along N; element ``n`` sits at bits ``4*(n % 8)`` of word ``n // 8``.

vllm-ascend goes from the first to the second by ``transpose(-1, -2)`` then ``view(torch.int32)``
(``msmodelslim_to_int32``). A view reinterprets bytes in host order; Ascend hosts (aarch64, x86_64)
are little-endian, so byte ``b`` of a word holds elements ``2b`` (low) and ``2b+1`` (high), which is
exactly bits ``4*(n % 8)``.
"""

from __future__ import annotations

import torch

_INT_DTYPES = (torch.int8, torch.int16, torch.int32, torch.int64)


def _check_int4_values(w: torch.Tensor, name: str) -> None:
    if w.dtype not in _INT_DTYPES:
        raise TypeError(f"{name} must be an integer tensor holding int4 values, got {w.dtype}")
    if w.numel() and (int(w.min()) < -8 or int(w.max()) > 7):
        raise ValueError(f"{name} values must lie in [-8, 7] (int4)")


def _sign_extend_nibble(v: torch.Tensor) -> torch.Tensor:
    """Map nibbles 0..15 to -8..7 (two's complement)."""
    return ((v & 0xF) ^ 0x8) - 0x8


def pack_int4_int8(w: torch.Tensor) -> torch.Tensor:
    """msModelSlim layout: int4 ``[..., N, K]`` (N even) -> int8 ``[..., N/2, K]`` packed along N."""
    _check_int4_values(w, "w")
    if w.dim() < 2 or w.shape[-2] % 2:
        raise ValueError(f"w must be [..., N, K] with N even, got shape {tuple(w.shape)}")
    v = w.to(torch.int16)
    byte = ((v[..., 1::2, :] & 0xF) << 4) | (v[..., 0::2, :] & 0xF)  # 0..255
    return byte.to(torch.uint8).view(torch.int8)


def unpack_int4_int8(p: torch.Tensor) -> torch.Tensor:
    """Inverse of ``pack_int4_int8``: int8 ``[..., N/2, K]`` -> int8 ``[..., N, K]``."""
    if p.dtype != torch.int8:
        raise TypeError(f"p must be int8, got {p.dtype}")
    if p.dim() < 2:
        raise ValueError(f"p must be [..., N/2, K], got shape {tuple(p.shape)}")
    v = p.to(torch.int16)
    rows = torch.stack((_sign_extend_nibble(v), _sign_extend_nibble(v >> 4)), dim=-2)  # [..., N/2, 2, K]
    return rows.reshape(*p.shape[:-2], 2 * p.shape[-2], p.shape[-1]).to(torch.int8)


def pack_int4_int32(w: torch.Tensor) -> torch.Tensor:
    """int32 layout: int4 ``[..., N]`` (N % 8 == 0) -> int32 ``[..., N/8]``, element n at bits 4*(n%8)."""
    _check_int4_values(w, "w")
    if w.dim() < 1 or w.shape[-1] % 8:
        raise ValueError(f"w must be [..., N] with N % 8 == 0, got shape {tuple(w.shape)}")
    nibbles = (w.to(torch.int64) & 0xF).reshape(*w.shape[:-1], w.shape[-1] // 8, 8)
    shifts = torch.arange(0, 32, 4, dtype=torch.int64, device=w.device)
    word = (nibbles << shifts).sum(dim=-1)  # 0 .. 2**32 - 1, exact in int64
    return torch.where(word >= 2**31, word - 2**32, word).to(torch.int32)


def unpack_int4_int32(p: torch.Tensor) -> torch.Tensor:
    """Inverse of ``pack_int4_int32``: int32 ``[..., N/8]`` -> int8 ``[..., N]``."""
    if p.dtype != torch.int32:
        raise TypeError(f"p must be int32, got {p.dtype}")
    if p.dim() < 1:
        raise ValueError("p must have at least one dimension")
    shifts = torch.arange(0, 32, 4, dtype=torch.int64, device=p.device)
    nibbles = _sign_extend_nibble(p.to(torch.int64).unsqueeze(-1) >> shifts)  # [..., N/8, 8]
    return nibbles.reshape(*p.shape[:-1], 8 * p.shape[-1]).to(torch.int8)


def msmodelslim_to_int32(p: torch.Tensor) -> torch.Tensor:
    """msModelSlim int8 ``[..., N/2, K]`` -> vllm-ascend int32 ``[..., K, N/8]`` (transpose, then view)."""
    if p.dtype != torch.int8:
        raise TypeError(f"p must be int8, got {p.dtype}")
    if p.dim() < 2 or p.shape[-2] % 4:
        raise ValueError(f"p must be [..., N/2, K] with N % 8 == 0, got shape {tuple(p.shape)}")
    t = p.transpose(-1, -2).contiguous()
    # view() through 1-D: a size-1 dim can keep an odd stride that a dtype view would reject
    return t.reshape(-1).view(torch.int32).reshape(*t.shape[:-1], t.shape[-1] // 4)


def int32_to_msmodelslim(p: torch.Tensor) -> torch.Tensor:
    """Inverse of ``msmodelslim_to_int32``: int32 ``[..., K, N/8]`` -> int8 ``[..., N/2, K]``."""
    if p.dtype != torch.int32:
        raise TypeError(f"p must be int32, got {p.dtype}")
    if p.dim() < 2:
        raise ValueError(f"p must be [..., K, N/8], got shape {tuple(p.shape)}")
    t = p.contiguous().reshape(-1).view(torch.int8).reshape(*p.shape[:-1], 4 * p.shape[-1])
    return t.transpose(-1, -2).contiguous()
