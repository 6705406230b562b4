"""Sparse Flash Attention: torch_npu ``npu_sparse_flash_attention`` semantics (attention_mode 2).

Contract: docs/ops/sparse_flash_attention.md. Reference: ascend_glm5.reference.sparse_flash_attention.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from . import _validate as v
from ._backend import cpu_module, npu_module
from ._layouts import Spans, as_tensor, lengths, spans

LATENT_DIM = 512
ROPE_DIM = 64
HEADS = (1, 2, 4, 8, 16, 32, 64, 128)
MAX_SPARSE_COUNT = 2048
_DEFAULT_TOKENS = 2**63 - 1
_DTYPE_IDS = {torch.float16: 0, torch.bfloat16: 1}


def _spans(query, key, block_table, asl_q, asl_k, layout_query: str, layout_key: str) -> Spans:
    asl_q, asl_k = lengths("actual_seq_lengths_query", asl_q), lengths("actual_seq_lengths_kv", asl_k)
    return spans(query, key, block_table, asl_q, asl_k, layout_query, layout_key, key_name="actual_seq_lengths_kv")


def _check(query, key, value, sparse_indices, scale_value, block_table, query_rope, key_rope, sparse_block_size,
           layout_query, layout_kv, sparse_mode, pre_tokens, next_tokens, attention_mode) -> None:  # fmt: skip
    if attention_mode != 2:
        raise ValueError(f"attention_mode must be 2 (MLA absorbed), got {attention_mode}")
    if query_rope is None:
        raise ValueError("query_rope is required (attention_mode 2)")
    # key_rope None: the combined cache, each key row its latent then its rope (576 wide).
    tensors = (("query", query), ("key", key), ("value", value), ("sparse_indices", sparse_indices),
               ("query_rope", query_rope), *((("key_rope", key_rope),) if key_rope is not None else ()))  # fmt: skip
    for name, t in tensors:
        v.require_tensor(name, t)
    v.require_dtype("query", query, tuple(_DTYPE_IDS))
    for name, t in tensors[1:]:
        if name != "sparse_indices":
            v.require_dtype(name, t, (query.dtype,))
    v.require_dtype("sparse_indices", sparse_indices, (torch.int32,))
    v.require_same_device([n for n, _ in tensors] + ["block_table"], [t for _, t in tensors] + [block_table])
    if isinstance(scale_value, bool) or not isinstance(scale_value, (int, float)) or not math.isfinite(scale_value):
        raise TypeError(f"scale_value must be a finite float, got {scale_value!r}")
    if layout_query not in ("BSND", "TND"):
        raise ValueError(f"layout_query must be 'BSND' or 'TND', got {layout_query!r}")
    if layout_kv not in ("BSND", "TND", "PA_BSND"):
        raise ValueError(f"layout_kv must be 'BSND', 'TND' or 'PA_BSND', got {layout_kv!r}")
    if layout_kv != "PA_BSND" and layout_kv != layout_query:
        raise ValueError(f"layout_kv {layout_kv!r} must equal layout_query {layout_query!r} unless it is PA_BSND")
    q_dims, k_dims = (4 if layout_query == "BSND" else 3), (3 if layout_kv == "TND" else 4)
    if query.dim() != q_dims:
        raise ValueError(f"query must be {q_dims}-D for layout {layout_query}, got shape {tuple(query.shape)}")
    if key.dim() != k_dims:
        raise ValueError(f"key must be {k_dims}-D for layout {layout_kv}, got shape {tuple(key.shape)}")
    if query.shape[-1] != LATENT_DIM:
        raise ValueError(f"query latent dim D must be {LATENT_DIM}, got {query.shape[-1]}")
    key_dim = LATENT_DIM if key_rope is not None else LATENT_DIM + ROPE_DIM
    if key.shape[-1] != key_dim:
        what = "the latent" if key_rope is not None else "latent then rope, key_rope being None"
        raise ValueError(f"key's last dim must be {key_dim} ({what}), got {key.shape[-1]}")
    if query.shape[-2] not in HEADS:
        raise ValueError(f"query heads N1 must be one of {HEADS}, got {query.shape[-2]}")
    if key.shape[-2] != 1:
        raise ValueError(f"key must have one head (KV_N = 1), got {key.shape[-2]}")
    v.require_shape("value", value, tuple(key.shape))
    v.require_shape("query_rope", query_rope, (*query.shape[:-1], ROPE_DIM))
    if key_rope is not None:
        v.require_shape("key_rope", key_rope, (*key.shape[:-1], ROPE_DIM))
    if sparse_indices.dim() != q_dims or sparse_indices.shape[:-1] != (*query.shape[:-2], 1):
        raise ValueError(f"sparse_indices must be {(*query.shape[:-2], 1, 'K')}, got {tuple(sparse_indices.shape)}")
    if not 1 <= sparse_indices.shape[-1] <= MAX_SPARSE_COUNT:
        raise ValueError(f"sparse_indices K must be in [1, {MAX_SPARSE_COUNT}], got {sparse_indices.shape[-1]}")
    if sparse_block_size != 1:
        raise ValueError(f"sparse_block_size must be 1 for the kernel, got {sparse_block_size}")
    if sparse_mode not in (0, 3):
        raise ValueError(f"sparse_mode must be 0 (no mask) or 3 (right-down causal), got {sparse_mode}")
    if pre_tokens != _DEFAULT_TOKENS or next_tokens != _DEFAULT_TOKENS:
        raise ValueError("pre_tokens / next_tokens support only their default 2**63 - 1")


def _is_key(value: torch.Tensor, key: torch.Tensor) -> bool:
    """value views key's very elements: the kernel then reads V from the key rows it gathered."""
    return value is key or (value.data_ptr() == key.data_ptr() and value.shape == key.shape
                            and value.stride() == key.stride())  # fmt: skip


def _lse_shape(query: torch.Tensor, layout_query: str) -> tuple[int, ...]:
    if layout_query == "BSND":
        return (query.shape[0], 1, query.shape[1], query.shape[2])
    return (1, query.shape[0], query.shape[1])


@torch.library.custom_op("ascend_glm5::sparse_flash_attention", mutates_args=(), device_types="cpu")
def _sparse_flash_attention(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, sparse_indices: torch.Tensor, scale_value: float,
    block_table: torch.Tensor | None, actual_seq_lengths_query: torch.Tensor | None,
    actual_seq_lengths_kv: torch.Tensor | None, query_rope: torch.Tensor, key_rope: torch.Tensor | None, layout_query: str,
    layout_kv: str, sparse_mode: int, return_softmax_lse: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    _check(query, key, value, sparse_indices, scale_value, block_table, query_rope, key_rope, 1, layout_query,
           layout_kv, sparse_mode, _DEFAULT_TOKENS, _DEFAULT_TOKENS, 2)  # fmt: skip
    sp = _spans(query, key, block_table, actual_seq_lengths_query, actual_seq_lengths_kv, layout_query, layout_kv)
    out = torch.empty_like(query, memory_format=torch.contiguous_format)
    lse_shape = _lse_shape(query, layout_query) if return_softmax_lse else (0,)
    softmax_max = torch.empty(lse_shape, dtype=torch.float32)
    softmax_sum = torch.empty(lse_shape, dtype=torch.float32)
    if sp.num_rows == 0:
        return out, softmax_max, softmax_sum
    same_value = _is_key(value, key)
    query, query_rope, key = (t.contiguous() for t in (query, query_rope, key))
    key_rope = key_rope.contiguous() if key_rope is not None else None
    value = key if same_value else value.contiguous()
    indices = sparse_indices.contiguous()
    table = block_table.contiguous() if block_table is not None else None
    paged = layout_kv == "PA_BSND"
    cpu_module().sparse_flash_attention(
        query=query.data_ptr(), query_bytes=query.nbytes, query_rope=query_rope.data_ptr(),
        query_rope_bytes=query_rope.nbytes, key=key.data_ptr(), key_bytes=key.nbytes, value=value.data_ptr(),
        value_bytes=value.nbytes, key_rope=key_rope.data_ptr() if key_rope is not None else 0,
        key_rope_bytes=key_rope.nbytes if key_rope is not None else 0, sparse_indices=indices.data_ptr(), sparse_indices_bytes=indices.nbytes,
        block_table=table.data_ptr() if paged else 0, block_table_bytes=table.nbytes if paged else 0,
        out=out.data_ptr(), softmax_max=softmax_max.data_ptr() if return_softmax_lse else 0,
        softmax_sum=softmax_sum.data_ptr() if return_softmax_lse else 0, query_start=sp.q_start,
        query_len=sp.q_len, key_start=sp.k_start, key_len=sp.k_len, num_rows=sp.num_rows,
        heads=query.shape[-2], sparse_count=indices.shape[-1], sparse_mode=sparse_mode,
        dtype=_DTYPE_IDS[query.dtype], paged=paged, block_size=key.shape[1] if paged else 0,
        max_blocks=table.shape[1] if paged else 0, scale=float(scale_value),
        deterministic=torch.are_deterministic_algorithms_enabled(),
    )  # fmt: skip
    return out, softmax_max, softmax_sum


@_sparse_flash_attention.register_fake
def _(query, key, value, sparse_indices, scale_value, block_table, actual_seq_lengths_query, actual_seq_lengths_kv,
      query_rope, key_rope, layout_query, layout_kv, sparse_mode, return_softmax_lse):  # fmt: skip
    lse_shape = _lse_shape(query, layout_query) if return_softmax_lse else (0,)
    return (torch.empty_like(query, memory_format=torch.contiguous_format),
            query.new_empty(lse_shape, dtype=torch.float32), query.new_empty(lse_shape, dtype=torch.float32))  # fmt: skip


if npu_module() is not None:

    @_sparse_flash_attention.register_kernel("npu")
    def _(query, key, value, sparse_indices, scale_value, block_table, actual_seq_lengths_query, actual_seq_lengths_kv,
          query_rope, key_rope, layout_query, layout_kv, sparse_mode, return_softmax_lse):  # fmt: skip
        _check(query, key, value, sparse_indices, scale_value, block_table, query_rope, key_rope, 1, layout_query,
               layout_kv, sparse_mode, _DEFAULT_TOKENS, _DEFAULT_TOKENS, 2)  # fmt: skip
        sp = _spans(query, key, block_table, actual_seq_lengths_query, actual_seq_lengths_kv, layout_query, layout_kv)
        out = torch.empty_like(query, memory_format=torch.contiguous_format)
        lse_shape = _lse_shape(query, layout_query) if return_softmax_lse else (0,)
        softmax_max = torch.empty(lse_shape, dtype=torch.float32, device=query.device)
        softmax_sum = torch.empty(lse_shape, dtype=torch.float32, device=query.device)
        paged = layout_kv == "PA_BSND"
        value = key if _is_key(value, key) else value
        npu_module().sparse_flash_attention(
            query, query_rope, key, value, key_rope, sparse_indices, block_table if paged else None, out,
            softmax_max if return_softmax_lse else None, softmax_sum if return_softmax_lse else None,
            sp.q_start, sp.q_len, sp.k_start, sp.k_len, sp.num_rows, sparse_mode, key.shape[1] if paged else 0,
            float(scale_value), torch.are_deterministic_algorithms_enabled(),
        )  # fmt: skip
        return out, softmax_max, softmax_sum


def sparse_flash_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    sparse_indices: torch.Tensor,
    scale_value: float,
    *,
    block_table: torch.Tensor | None = None,
    actual_seq_lengths_query: torch.Tensor | Sequence[int] | None = None,
    actual_seq_lengths_kv: torch.Tensor | Sequence[int] | None = None,
    query_rope: torch.Tensor | None = None,
    key_rope: torch.Tensor | None = None,
    sparse_block_size: int = 1,
    layout_query: str = "BSND",
    layout_kv: str = "BSND",
    sparse_mode: int = 3,
    pre_tokens: int = _DEFAULT_TOKENS,
    next_tokens: int = _DEFAULT_TOKENS,
    attention_mode: int = 2,
    return_softmax_lse: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Attention of each query token over the latent-cache rows its ``sparse_indices`` row selects.

    Arguments and layouts as torch_npu ``npu_sparse_flash_attention`` with ``attention_mode=2``
    (docs/ops/sparse_flash_attention.md): query ``[B,S1,N1,512]`` (BSND) or ``[T1,N1,512]`` (TND)
    with ``query_rope`` ``[..., 64]``, fp16/bf16; ``key``, ``value`` (``key`` itself, a copy, or
    a separate latent tensor of the same shape: V is read from it) and ``key_rope``
    ``[B,S2,1,512|64]`` / ``[T2,1,512|64]`` / ``[num_blocks, block_size, 1, 512|64]``
    (PA_BSND with ``block_table``); or, with ``key_rope=None``, the combined cache: ``key`` rows
    576 wide (latent 512, then rope 64; FlashMLA's layout, one copy per selected row) and
    ``value`` of key's shape (usually ``key`` itself; V is its first 512 columns);
    ``sparse_indices`` int32 ``[..., 1, K]``, ``-1`` padded.
    Returns ``attention_out`` (query's shape and dtype) and, with ``return_softmax_lse``, fp32
    ``softmax_max`` / ``softmax_sum`` ``[B,1,S1,N1]`` / ``[1,T1,N1]`` (else ``None``).
    Runs are bit-identical under ``torch.use_deterministic_algorithms(True)``; otherwise a decode
    batch of one may differ in an output's last bit from run to run (its pieces' fp32 sums add in
    the order the cores reach them).
    """
    _check(query, key, value, sparse_indices, scale_value, block_table, query_rope, key_rope, sparse_block_size,
           layout_query, layout_kv, sparse_mode, pre_tokens, next_tokens, attention_mode)  # fmt: skip
    asl_q = as_tensor("actual_seq_lengths_query", actual_seq_lengths_query)
    asl_kv = as_tensor("actual_seq_lengths_kv", actual_seq_lengths_kv)
    # The registered op validates the lengths and block_table before it launches anything.
    out, softmax_max, softmax_sum = torch.ops.ascend_glm5.sparse_flash_attention(
        query, key, value, sparse_indices, float(scale_value), block_table, asl_q, asl_kv, query_rope, key_rope, layout_query,
        layout_kv, sparse_mode, return_softmax_lse,
    )  # fmt: skip
    if not return_softmax_lse:
        return out, None, None
    return out, softmax_max, softmax_sum
