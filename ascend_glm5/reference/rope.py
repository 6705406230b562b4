"""Rotary position embedding in the two pairings GLM-5 / DeepSeek-V3.2 use.

Both functions take ``cos`` / ``sin`` in the "half layout" that HF transformers' rotary embedding and
CANN's ``mla_prolog`` use: ``cos[..., j] = cos(p * w_j)`` and ``cos[..., j + d/2] = cos(p * w_j)`` for
``j < d/2`` (that is ``cat(freqs, freqs)``). They must broadcast against ``x`` (e.g. ``[T, 1, d]`` for
``x`` of ``[T, N, d]``). The math is done in fp32 and returned in fp32.

Which pairing a model needs (see docs/ops/mla_prolog.md and the RoPE test against transformers):
MLA q/k rope of GLM-5 and DeepSeek-V3.2 is interleaved; the DSA indexer is interleaved for GLM-5 and
half-split for DeepSeek-V3.2. Getting this wrong changes the indexer's top-k.
"""

from __future__ import annotations

import torch


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rope_half_split(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Half-split (NeoX) RoPE: rotates the pairs ``(x[j], x[j + d/2])`` by angle ``p * w_j``.

    Args:
        x: ``[..., d]`` float, ``d`` even.
        cos, sin: ``[..., d]`` in half layout, broadcastable to ``x``.

    Returns:
        fp32 ``[..., d]``; ``out[j] = x[j] cos - x[j+d/2] sin``, ``out[j+d/2] = x[j+d/2] cos + x[j] sin``.
    """
    x = x.float()
    return x * cos.float() + _rotate_half(x) * sin.float()


def rope_interleaved(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Interleaved (GPT-J) RoPE: rotates the pairs ``(x[2j], x[2j+1])`` by angle ``p * w_j``.

    The result is written de-interleaved, ``[rotated evens | rotated odds]``: ``out[j]`` is the new
    ``x[2j]`` and ``out[j + d/2]`` the new ``x[2j+1]``. This is the layout HF transformers
    (``apply_rotary_pos_emb_interleave``) caches and the one CANN ``mla_prolog`` writes to
    ``query_rope`` / ``kr_cache``. It is a fixed permutation of the in-place result, so dot products
    between a query and a key roped the same way are unchanged.

    Args:
        x: ``[..., d]`` float, ``d`` even, pairs interleaved.
        cos, sin: ``[..., d]`` in half layout, broadcastable to ``x``.

    Returns:
        fp32 ``[..., d]`` in de-interleaved layout.
    """
    # De-interleaving first turns the pairs into (x[j], x[j + d/2]), i.e. the half-split case.
    return rope_half_split(torch.cat((x[..., 0::2], x[..., 1::2]), dim=-1), cos, sin)
