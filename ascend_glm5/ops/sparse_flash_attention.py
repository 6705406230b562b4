"""Sparse Flash Attention: torch_npu ``npu_sparse_flash_attention`` semantics (attention_mode 2).

Contract: docs/ops/sparse_flash_attention.md. Reference: ascend_glm5.reference.sparse_flash_attention.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from . import _validate as v
from ._backend import cpu_module, npu_module

LATENT_DIM = 512
ROPE_DIM = 64
HEADS = (1, 2, 4, 8, 16, 32, 64, 128)
MAX_SPARSE_COUNT = 2048
MAX_BLOCK_SIZE = 1024
_DEFAULT_TOKENS = 2**63 - 1
_DTYPE_IDS = {torch.float16: 0, torch.bfloat16: 1}


class _Spans:
    """Per batch: first row and valid rows of the flattened query, first key row and key tokens."""

    def __init__(self, q_start, q_len, k_start, k_len, num_rows):
        self.q_start, self.q_len, self.k_start, self.k_len, self.num_rows = q_start, q_len, k_start, k_len, num_rows


def _lengths(name: str, value) -> list[int] | None:
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        if value.dim() != 1 or value.dtype not in (torch.int32, torch.int64):
            raise TypeError(f"{name} must be a 1-D int32/int64 tensor, got {value.dtype} of shape {tuple(value.shape)}")
        return [int(x) for x in value.tolist()]
    if isinstance(value, Sequence) and all(isinstance(x, int) for x in value):
        return list(value)
    raise TypeError(f"{name} must be a 1-D integer tensor or a list of ints")


def _prefix_sums(name: str, ends: list[int] | None, rows: int) -> tuple[list[int], list[int]]:
    if ends is None:
        raise ValueError(f"{name} is required for layout TND (prefix sums of the per-batch lengths)")
    starts, counts, prev = [], [], 0
    for end in ends:
        if end < prev:
            raise ValueError(f"{name} must be non-decreasing prefix sums for TND, got {ends}")
        starts.append(prev)
        counts.append(end - prev)
        prev = end
    if prev > rows:
        raise ValueError(f"{name} ends at {prev}, beyond the {rows} rows of the TND tensor")
    return starts, counts


def _spans(query, key, block_table, asl_q, asl_kv, layout_query, layout_kv) -> _Spans:
    if layout_query == "BSND":
        batch, s1 = query.shape[0], query.shape[1]
        q_len = asl_q if asl_q is not None else [s1] * batch
        if len(q_len) != batch or any(not 0 <= n <= s1 for n in q_len):
            raise ValueError(f"actual_seq_lengths_query must hold {batch} lengths in [0, {s1}], got {q_len}")
        q_start, num_rows = [b * s1 for b in range(batch)], batch * s1
    else:
        q_start, q_len = _prefix_sums("actual_seq_lengths_query", asl_q, query.shape[0])
        batch, num_rows = len(q_len), query.shape[0]
    if layout_kv == "BSND":
        if key.shape[0] != batch:
            raise ValueError(f"key has {key.shape[0]} batches, query has {batch}")
        s2 = key.shape[1]
        k_len = asl_kv if asl_kv is not None else [s2] * batch
        if len(k_len) != batch or any(not 0 <= n <= s2 for n in k_len):
            raise ValueError(f"actual_seq_lengths_kv must hold {batch} lengths in [0, {s2}], got {k_len}")
        k_start = [b * s2 for b in range(batch)]
    elif layout_kv == "TND":
        k_start, k_len = _prefix_sums("actual_seq_lengths_kv", asl_kv, key.shape[0])
    else:
        if asl_kv is None:
            raise ValueError("actual_seq_lengths_kv is required for layout PA_BSND (per-batch lengths)")
        k_len, k_start = asl_kv, [0] * len(asl_kv)
        _check_block_table(block_table, k_len, key.shape[0], key.shape[1])
    if len(k_len) != batch:
        raise ValueError(f"actual_seq_lengths_kv has {len(k_len)} batches, the query has {batch}")
    if any(n < 0 or n >= 2**31 for n in k_len):
        raise ValueError(f"actual_seq_lengths_kv must be in [0, 2^31), got {k_len}")
    return _Spans(q_start, q_len, k_start, k_len, num_rows)


def _check_block_table(block_table, k_len, num_blocks, block_size) -> None:
    if block_table is None:
        raise ValueError("block_table is required for layout PA_BSND")
    v.require_tensor("block_table", block_table)
    v.require_dtype("block_table", block_table, (torch.int32,))
    if block_table.dim() != 2 or block_table.shape[0] != len(k_len):
        raise ValueError(f"block_table must be [B={len(k_len)}, max_blocks], got {tuple(block_table.shape)}")
    if block_size % 16 or not 16 <= block_size <= MAX_BLOCK_SIZE:
        raise ValueError(f"key block_size (dim 1) must be a multiple of 16 in [16, {MAX_BLOCK_SIZE}], got {block_size}")
    for b, n in enumerate(k_len):
        need = -(-n // block_size)
        if need > block_table.shape[1]:
            raise ValueError(f"block_table has {block_table.shape[1]} blocks per batch but batch {b} needs {need} "
                             f"for {n} kv tokens of block_size {block_size}")  # fmt: skip
        used = block_table[b, :need]
        if need and (used.min() < 0 or used.max() >= num_blocks):
            raise ValueError(f"block_table[{b}] refers to blocks outside [0, {num_blocks})")


def _check(query, key, value, sparse_indices, scale_value, block_table, query_rope, key_rope, sparse_block_size,
           layout_query, layout_kv, sparse_mode, pre_tokens, next_tokens, attention_mode) -> None:  # fmt: skip
    if attention_mode != 2:
        raise ValueError(f"attention_mode must be 2 (MLA absorbed), got {attention_mode}")
    if query_rope is None or key_rope is None:
        raise ValueError("query_rope and key_rope are required (attention_mode 2)")
    tensors = (("query", query), ("key", key), ("value", value), ("sparse_indices", sparse_indices),
               ("query_rope", query_rope), ("key_rope", key_rope))  # fmt: skip
    for name, t in tensors:
        v.require_tensor(name, t)
    v.require_dtype("query", query, tuple(_DTYPE_IDS))
    for name, t in (("key", key), ("query_rope", query_rope), ("key_rope", key_rope)):
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
    if value is not key and (value.shape != key.shape or value.data_ptr() != key.data_ptr()):
        raise ValueError("value must be key itself (attention_mode 2 reads the latent cache once as key and value)")
    q_dims, k_dims = (4 if layout_query == "BSND" else 3), (3 if layout_kv == "TND" else 4)
    if query.dim() != q_dims:
        raise ValueError(f"query must be {q_dims}-D for layout {layout_query}, got shape {tuple(query.shape)}")
    if key.dim() != k_dims:
        raise ValueError(f"key must be {k_dims}-D for layout {layout_kv}, got shape {tuple(key.shape)}")
    if query.shape[-1] != LATENT_DIM or key.shape[-1] != LATENT_DIM:
        raise ValueError(f"query and key latent dim D must be {LATENT_DIM}, got {query.shape[-1]} and {key.shape[-1]}")
    if query.shape[-2] not in HEADS:
        raise ValueError(f"query heads N1 must be one of {HEADS}, got {query.shape[-2]}")
    if key.shape[-2] != 1:
        raise ValueError(f"key must have one head (KV_N = 1), got {key.shape[-2]}")
    v.require_shape("query_rope", query_rope, (*query.shape[:-1], ROPE_DIM))
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


def _lse_shape(query: torch.Tensor, layout_query: str) -> tuple[int, ...]:
    if layout_query == "BSND":
        return (query.shape[0], 1, query.shape[1], query.shape[2])
    return (1, query.shape[0], query.shape[1])


@torch.library.custom_op("ascend_glm5::sparse_flash_attention", mutates_args=(), device_types="cpu")
def _sparse_flash_attention(
    query: torch.Tensor, key: torch.Tensor, sparse_indices: torch.Tensor, scale_value: float,
    block_table: torch.Tensor | None, actual_seq_lengths_query: torch.Tensor | None,
    actual_seq_lengths_kv: torch.Tensor | None, query_rope: torch.Tensor, key_rope: torch.Tensor, layout_query: str,
    layout_kv: str, sparse_mode: int, return_softmax_lse: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    _check(query, key, key, sparse_indices, scale_value, block_table, query_rope, key_rope, 1, layout_query,
           layout_kv, sparse_mode, _DEFAULT_TOKENS, _DEFAULT_TOKENS, 2)  # fmt: skip
    spans = _spans(query, key, block_table, _lengths("actual_seq_lengths_query", actual_seq_lengths_query),
                   _lengths("actual_seq_lengths_kv", actual_seq_lengths_kv), layout_query, layout_kv)  # fmt: skip
    out = torch.empty_like(query, memory_format=torch.contiguous_format)
    lse_shape = _lse_shape(query, layout_query) if return_softmax_lse else (0,)
    softmax_max = torch.empty(lse_shape, dtype=torch.float32)
    softmax_sum = torch.empty(lse_shape, dtype=torch.float32)
    if spans.num_rows == 0:
        return out, softmax_max, softmax_sum
    query, query_rope, key, key_rope = (t.contiguous() for t in (query, query_rope, key, key_rope))
    indices = sparse_indices.contiguous()
    table = block_table.contiguous() if block_table is not None else None
    paged = layout_kv == "PA_BSND"
    cpu_module().sparse_flash_attention(
        query=query.data_ptr(), query_bytes=query.nbytes, query_rope=query_rope.data_ptr(),
        query_rope_bytes=query_rope.nbytes, key=key.data_ptr(), key_bytes=key.nbytes, key_rope=key_rope.data_ptr(),
        key_rope_bytes=key_rope.nbytes, sparse_indices=indices.data_ptr(), sparse_indices_bytes=indices.nbytes,
        block_table=table.data_ptr() if paged else 0, block_table_bytes=table.nbytes if paged else 0,
        out=out.data_ptr(), softmax_max=softmax_max.data_ptr() if return_softmax_lse else 0,
        softmax_sum=softmax_sum.data_ptr() if return_softmax_lse else 0, query_start=spans.q_start,
        query_len=spans.q_len, key_start=spans.k_start, key_len=spans.k_len, num_rows=spans.num_rows,
        heads=query.shape[-2], sparse_count=indices.shape[-1], sparse_mode=sparse_mode,
        dtype=_DTYPE_IDS[query.dtype], paged=paged, block_size=key.shape[1] if paged else 0,
        max_blocks=table.shape[1] if paged else 0, scale=float(scale_value),
    )  # fmt: skip
    return out, softmax_max, softmax_sum


@_sparse_flash_attention.register_fake
def _(query, key, sparse_indices, scale_value, block_table, actual_seq_lengths_query, actual_seq_lengths_kv,
      query_rope, key_rope, layout_query, layout_kv, sparse_mode, return_softmax_lse):  # fmt: skip
    lse_shape = _lse_shape(query, layout_query) if return_softmax_lse else (0,)
    return (torch.empty_like(query, memory_format=torch.contiguous_format),
            query.new_empty(lse_shape, dtype=torch.float32), query.new_empty(lse_shape, dtype=torch.float32))  # fmt: skip


if npu_module() is not None:

    @_sparse_flash_attention.register_kernel("npu")
    def _(query, key, sparse_indices, scale_value, block_table, actual_seq_lengths_query, actual_seq_lengths_kv,
          query_rope, key_rope, layout_query, layout_kv, sparse_mode, return_softmax_lse):  # fmt: skip
        raise NotImplementedError(
            "sparse_flash_attention: the NPU binding is not built yet (see docs/ops/sparse_flash_attention.md)"
        )


def _as_tensor(name: str, value) -> torch.Tensor | None:
    if value is None or isinstance(value, torch.Tensor):
        return value
    return torch.tensor(_lengths(name, value), dtype=torch.int64)


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
    with ``query_rope`` ``[..., 64]``, fp16/bf16; ``key`` (= ``value``, the same tensor) and
    ``key_rope`` ``[B,S2,1,512|64]`` / ``[T2,1,512|64]`` / ``[num_blocks, block_size, 1, 512|64]``
    (PA_BSND with ``block_table``); ``sparse_indices`` int32 ``[..., 1, K]``, ``-1`` padded.
    Returns ``attention_out`` (query's shape and dtype) and, with ``return_softmax_lse``, fp32
    ``softmax_max`` / ``softmax_sum`` ``[B,1,S1,N1]`` / ``[1,T1,N1]`` (else ``None``).
    """
    _check(query, key, value, sparse_indices, scale_value, block_table, query_rope, key_rope, sparse_block_size,
           layout_query, layout_kv, sparse_mode, pre_tokens, next_tokens, attention_mode)  # fmt: skip
    asl_q = _as_tensor("actual_seq_lengths_query", actual_seq_lengths_query)
    asl_kv = _as_tensor("actual_seq_lengths_kv", actual_seq_lengths_kv)
    _spans(query, key, block_table, _lengths("actual_seq_lengths_query", asl_q),
           _lengths("actual_seq_lengths_kv", asl_kv), layout_query, layout_kv)  # fmt: skip
    out, softmax_max, softmax_sum = torch.ops.ascend_glm5.sparse_flash_attention(
        query, key, sparse_indices, float(scale_value), block_table, asl_q, asl_kv, query_rope, key_rope, layout_query,
        layout_kv, sparse_mode, return_softmax_lse,
    )  # fmt: skip
    if not return_softmax_lse:
        return out, None, None
    return out, softmax_max, softmax_sum
