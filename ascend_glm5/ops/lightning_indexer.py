"""Lightning Indexer: torch_npu ``npu_lightning_indexer`` semantics.

Contract: docs/ops/lightning_indexer.md. Reference: ascend_glm5.reference.lightning_indexer.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from . import _validate as v
from ._backend import cpu_module, npu_module
from ._layouts import Spans, as_tensor, lengths, spans

HEAD_DIM = 128
MAX_HEADS = 64
MAX_SPARSE_COUNT = 2048
_DEFAULT_TOKENS = 2**63 - 1
_DTYPE_IDS = {torch.float16: 0, torch.bfloat16: 1, torch.float32: 2}


def _spans(query, key, block_table, asl_q, asl_k, layout_query: str, layout_key: str) -> Spans:
    asl_q, asl_k = lengths("actual_seq_lengths_query", asl_q), lengths("actual_seq_lengths_key", asl_k)
    return spans(query, key, block_table, asl_q, asl_k, layout_query, layout_key, key_name="actual_seq_lengths_key")


def _check(query, key, weights, block_table, layout_query, layout_key, sparse_count, sparse_mode, pre_tokens,
           next_tokens) -> None:
    for name, t in (("query", query), ("key", key), ("weights", weights)):
        v.require_tensor(name, t)
    v.require_dtype("query", query, (torch.float16, torch.bfloat16))
    v.require_dtype("key", key, (query.dtype,))
    v.require_dtype("weights", weights, (torch.float16, torch.bfloat16, torch.float32))
    v.require_same_device(("query", "key", "weights", "block_table"), (query, key, weights, block_table))
    if layout_query not in ("BSND", "TND"):
        raise ValueError(f"layout_query must be 'BSND' or 'TND', got {layout_query!r}")
    if layout_key not in ("BSND", "TND", "PA_BSND"):
        raise ValueError(f"layout_key must be 'BSND', 'TND' or 'PA_BSND', got {layout_key!r}")
    if layout_key != "PA_BSND" and layout_key != layout_query:
        raise ValueError(f"layout_key {layout_key!r} must equal layout_query {layout_query!r} unless it is PA_BSND")
    q_dims, k_dims = (4 if layout_query == "BSND" else 3), (3 if layout_key == "TND" else 4)
    if query.dim() != q_dims:
        raise ValueError(f"query must be {q_dims}-D for layout {layout_query}, got shape {tuple(query.shape)}")
    if key.dim() != k_dims:
        raise ValueError(f"key must be {k_dims}-D for layout {layout_key}, got shape {tuple(key.shape)}")
    if query.shape[-1] != HEAD_DIM or key.shape[-1] != HEAD_DIM:
        raise ValueError(f"query and key head dim D must be {HEAD_DIM}, got {query.shape[-1]} and {key.shape[-1]}")
    if not 1 <= query.shape[-2] <= MAX_HEADS:
        raise ValueError(f"query heads N1 must be in [1, {MAX_HEADS}], got {query.shape[-2]}")
    if key.shape[-2] != 1:
        raise ValueError(f"key must have one head (N2 = 1), got {key.shape[-2]}")
    v.require_shape("weights", weights, query.shape[:-1])
    if not 1 <= sparse_count <= MAX_SPARSE_COUNT:
        raise ValueError(f"sparse_count must be in [1, {MAX_SPARSE_COUNT}], got {sparse_count}")
    if sparse_mode not in (0, 3):
        raise ValueError(f"sparse_mode must be 0 (no mask) or 3 (causal), got {sparse_mode}")
    if pre_tokens != _DEFAULT_TOKENS or next_tokens != _DEFAULT_TOKENS:
        raise ValueError("pre_tokens / next_tokens support only their default 2**63 - 1")


def _outputs(query: torch.Tensor, sparse_count: int, return_value: bool) -> tuple[torch.Tensor, torch.Tensor]:
    shape = (*query.shape[:-2], 1, sparse_count)
    indices = torch.full(shape, -1, dtype=torch.int32, device=query.device)
    values = torch.full(shape if return_value else (0,), float("-inf"), dtype=torch.float32, device=query.device)
    return indices, values


@torch.library.custom_op("ascend_glm5::lightning_indexer", mutates_args=(), device_types="cpu")
def _lightning_indexer(
    query: torch.Tensor, key: torch.Tensor, weights: torch.Tensor, actual_seq_lengths_query: torch.Tensor | None,
    actual_seq_lengths_key: torch.Tensor | None, block_table: torch.Tensor | None, layout_query: str, layout_key: str,
    sparse_count: int, sparse_mode: int, return_value: bool,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    _check(query, key, weights, block_table, layout_query, layout_key, sparse_count, sparse_mode, _DEFAULT_TOKENS,
           _DEFAULT_TOKENS)  # fmt: skip
    sp = _spans(query, key, block_table, actual_seq_lengths_query, actual_seq_lengths_key, layout_query, layout_key)
    indices, values = _outputs(query, sparse_count, return_value)
    query, key, weights = query.contiguous(), key.contiguous(), weights.contiguous()
    table = block_table.contiguous() if block_table is not None else None
    paged = layout_key == "PA_BSND"
    cpu_module().lightning_indexer(
        query=query.data_ptr(), query_bytes=query.nbytes, key=key.data_ptr(), key_bytes=key.nbytes,
        weights=weights.data_ptr(), weights_bytes=weights.nbytes,
        block_table=table.data_ptr() if table is not None else 0, block_table_bytes=table.nbytes if table is not None else 0,
        indices=indices.data_ptr(), values=values.data_ptr() if return_value else 0,
        query_start=sp.q_start, query_len=sp.q_len, key_start=sp.k_start, key_len=sp.k_len,
        num_rows=sp.num_rows, heads=query.shape[-2], sparse_count=sparse_count, sparse_mode=sparse_mode,
        query_dtype=_DTYPE_IDS[query.dtype], weight_dtype=_DTYPE_IDS[weights.dtype], paged=paged,
        block_size=key.shape[1] if paged else 0, max_blocks=table.shape[1] if paged else 0,
    )  # fmt: skip
    return indices, values


@_lightning_indexer.register_fake
def _(query, key, weights, actual_seq_lengths_query, actual_seq_lengths_key, block_table, layout_query, layout_key,
      sparse_count, sparse_mode, return_value):  # fmt: skip
    shape = (*query.shape[:-2], 1, sparse_count)
    return (query.new_empty(shape, dtype=torch.int32),
            query.new_empty(shape if return_value else (0,), dtype=torch.float32))  # fmt: skip


if npu_module() is not None:

    @_lightning_indexer.register_kernel("npu")
    def _(query, key, weights, actual_seq_lengths_query, actual_seq_lengths_key, block_table, layout_query, layout_key,
          sparse_count, sparse_mode, return_value):  # fmt: skip
        _check(query, key, weights, block_table, layout_query, layout_key, sparse_count, sparse_mode, _DEFAULT_TOKENS,
               _DEFAULT_TOKENS)  # fmt: skip
        sp = _spans(query, key, block_table, actual_seq_lengths_query, actual_seq_lengths_key, layout_query, layout_key)
        indices, values = _outputs(query, sparse_count, return_value)
        paged = layout_key == "PA_BSND"
        npu_module().lightning_indexer(
            query, key, weights, block_table if paged else None, indices, values if return_value else None,
            sp.q_start, sp.q_len, sp.k_start, sp.k_len, sp.num_rows, sparse_count, sparse_mode,
            key.shape[1] if paged else 0,
        )  # fmt: skip
        return indices, values


def lightning_indexer(
    query: torch.Tensor,
    key: torch.Tensor,
    weights: torch.Tensor,
    *,
    actual_seq_lengths_query: torch.Tensor | Sequence[int] | None = None,
    actual_seq_lengths_key: torch.Tensor | Sequence[int] | None = None,
    block_table: torch.Tensor | None = None,
    layout_query: str = "BSND",
    layout_key: str = "BSND",
    sparse_count: int = 2048,
    sparse_mode: int = 3,
    pre_tokens: int = _DEFAULT_TOKENS,
    next_tokens: int = _DEFAULT_TOKENS,
    return_value: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Top-``sparse_count`` keys per query token by ``sum_h weights[h] * relu(query[h] . key)``.

    Arguments and layouts as torch_npu ``npu_lightning_indexer`` (docs/ops/lightning_indexer.md):
    query ``[B,S1,N1,128]`` (BSND) or ``[T,N1,128]`` (TND), fp16/bf16; key of the same dtype,
    ``[B,S2,1,128]`` / ``[T2,1,128]`` / ``[num_blocks, block_size, 1, 128]`` (PA_BSND with
    ``block_table``); weights ``query.shape[:-1]``. Returns int32 indices ``[..., 1, sparse_count]``,
    best first, ties to the lower key, ``-1`` in unused slots; with ``return_value`` also the fp32
    scores (``-inf`` in unused slots), else ``None``.
    """
    _check(query, key, weights, block_table, layout_query, layout_key, sparse_count, sparse_mode, pre_tokens,
           next_tokens)  # fmt: skip
    asl_q = as_tensor("actual_seq_lengths_query", actual_seq_lengths_query)
    asl_k = as_tensor("actual_seq_lengths_key", actual_seq_lengths_key)
    # The registered op validates the lengths and block_table before it launches anything.
    indices, values = torch.ops.ascend_glm5.lightning_indexer(
        query, key, weights, asl_q, asl_k, block_table, layout_query, layout_key, sparse_count, sparse_mode, return_value
    )
    return indices, (values if return_value else None)
