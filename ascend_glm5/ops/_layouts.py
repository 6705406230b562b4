"""BSND / TND / PA_BSND argument handling shared by the attention ops (lightning_indexer,
sparse_flash_attention): per-batch spans of the flattened query and key, validated before launch.

Written independently of ``ascend_glm5.reference._layouts`` on purpose: the ops are tested against
the references, so they must not share the code that decides what a batch is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from . import _validate as v

MAX_BLOCK_SIZE = 1024


@dataclass
class Spans:
    """Per batch: first row and valid rows of the flattened query, first key row and key tokens."""

    q_start: list[int]
    q_len: list[int]
    k_start: list[int]
    k_len: list[int]
    num_rows: int


def lengths(name: str, value) -> list[int] | None:
    """``actual_seq_lengths_*`` as a list of ints (a 1-D int tensor or a list), or None."""
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        if value.dim() != 1 or value.dtype not in (torch.int32, torch.int64):
            raise TypeError(f"{name} must be a 1-D int32/int64 tensor, got {value.dtype} of shape {tuple(value.shape)}")
        return [int(x) for x in value.tolist()]
    if isinstance(value, Sequence) and all(isinstance(x, int) for x in value):
        return list(value)
    raise TypeError(f"{name} must be a 1-D integer tensor or a list of ints")


def as_tensor(name: str, value) -> torch.Tensor | None:
    """Lists of lengths become int64 tensors, the form the registered ops take."""
    if value is None or isinstance(value, torch.Tensor):
        return value
    return torch.tensor(lengths(name, value), dtype=torch.int64)


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


def spans(query, key, block_table, asl_q, asl_k, layout_query: str, layout_key: str, *, key_name: str) -> Spans:
    """Validates the lengths against the tensors. ``key_name`` is the op's name for the key lengths
    argument (``actual_seq_lengths_key`` or ``actual_seq_lengths_kv``), used in the messages."""
    if layout_query == "BSND":
        batch, s1 = query.shape[0], query.shape[1]
        q_len = asl_q if asl_q is not None else [s1] * batch
        if len(q_len) != batch or any(not 0 <= n <= s1 for n in q_len):
            raise ValueError(f"actual_seq_lengths_query must hold {batch} lengths in [0, {s1}], got {q_len}")
        q_start, num_rows = [b * s1 for b in range(batch)], batch * s1
    else:
        q_start, q_len = _prefix_sums("actual_seq_lengths_query", asl_q, query.shape[0])
        batch, num_rows = len(q_len), query.shape[0]
    if layout_key == "BSND":
        if key.shape[0] != batch:
            raise ValueError(f"key has {key.shape[0]} batches, query has {batch}")
        s2 = key.shape[1]
        k_len = asl_k if asl_k is not None else [s2] * batch
        if len(k_len) != batch or any(not 0 <= n <= s2 for n in k_len):
            raise ValueError(f"{key_name} must hold {batch} lengths in [0, {s2}], got {k_len}")
        k_start = [b * s2 for b in range(batch)]
    elif layout_key == "TND":
        k_start, k_len = _prefix_sums(key_name, asl_k, key.shape[0])
    else:
        if asl_k is None:
            raise ValueError(f"{key_name} is required for layout PA_BSND (per-batch lengths)")
        k_len, k_start = asl_k, [0] * len(asl_k)
        check_block_table(block_table, k_len, key.shape[0], key.shape[1])
    if len(k_len) != batch:
        raise ValueError(f"{key_name} has {len(k_len)} batches, the query has {batch}")
    if any(n < 0 or n >= 2**31 for n in k_len):
        raise ValueError(f"{key_name} must be in [0, 2^31), got {k_len}")
    return Spans(q_start, q_len, k_start, k_len, num_rows)


def check_block_table(block_table, k_len: list[int], num_blocks: int, block_size: int) -> None:
    """The paged cache: block size the kernels take, and every block a batch needs in range."""
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
                             f"for {n} tokens of block_size {block_size}")  # fmt: skip
        used = block_table[b, :need]
        if need and (used.min() < 0 or used.max() >= num_blocks):
            raise ValueError(f"block_table[{b}] refers to blocks outside [0, {num_blocks})")
