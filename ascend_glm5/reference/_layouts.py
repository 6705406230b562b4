"""Per-batch views of the BSND / TND / PA_BSND tensors the attention references take.

Conventions are torch_npu's (``npu_lightning_indexer``, ``npu_sparse_flash_attention``):

- ``BSND``: ``x[B, S, N, D]``. ``actual_seq_lengths[b]`` is the number of valid rows of batch ``b``
  (rows ``0 .. len-1``); ``None`` means all ``S`` rows.
- ``TND``: ``x[T, N, D]`` packs the batches back to back. ``actual_seq_lengths`` is mandatory and
  holds *prefix sums*: batch ``b`` is rows ``[a[b-1], a[b])`` with ``a[-1] = 0``; ``len(a)`` is ``B``.
- ``PA_BSND`` (keys only): ``x[num_blocks, block_size, N, D]`` with ``block_table[B, max_blocks]``
  (int32). Token ``t`` of batch ``b`` is ``x[block_table[b, t // block_size], t % block_size]``.
  ``actual_seq_lengths`` is mandatory and holds per-batch *lengths* (not prefix sums).

A batch is described by a span ``(start, length)``; ``start`` is only meaningful for TND.
"""

from __future__ import annotations

import torch

Span = tuple[int, int]


def _int_list(values, name: str) -> list[int] | None:
    if values is None:
        return None
    vals = values.tolist() if isinstance(values, torch.Tensor) else list(values)
    if any(isinstance(v, list) for v in vals):
        raise ValueError(f"{name} must be one-dimensional, got {values}")
    return [int(v) for v in vals]


def spans(x: torch.Tensor, layout: str, actual_seq_lengths, *, name: str) -> list[Span]:
    """Per-batch ``(start, length)`` of ``x`` in ``layout``, validated against ``x``'s shape."""
    lens = _int_list(actual_seq_lengths, name)
    if layout == "BSND":
        batch, seq = x.shape[0], x.shape[1]
        if lens is None:
            return [(0, seq)] * batch
        if len(lens) != batch or any(not 0 <= n <= seq for n in lens):
            raise ValueError(f"{name} must hold {batch} lengths in [0, {seq}] for BSND, got {lens}")
        return [(0, n) for n in lens]
    if layout == "TND":
        if lens is None:
            raise ValueError(f"{name} is required for layout TND (prefix sums)")
        out, prev = [], 0
        for end in lens:
            if end < prev:
                raise ValueError(f"{name} must be non-decreasing prefix sums for TND, got {lens}")
            out.append((prev, end - prev))
            prev = end
        if prev > x.shape[0]:
            raise ValueError(f"{name} ends at {prev} but the TND tensor has only {x.shape[0]} rows")
        return out
    if layout == "PA_BSND":
        if lens is None:
            raise ValueError(f"{name} is required for layout PA_BSND (per-batch lengths)")
        if any(n < 0 for n in lens):
            raise ValueError(f"{name} must be non-negative, got {lens}")
        return [(0, n) for n in lens]
    raise ValueError(f"unsupported layout {layout!r}; expected BSND, TND or PA_BSND")


def rows(x: torch.Tensor, layout: str, b: int, span: Span, block_table: torch.Tensor | None = None):
    """The ``length`` valid rows of batch ``b``: ``[length, *x.shape[-2:]]`` (a view except for PA)."""
    start, length = span
    if layout == "BSND":
        return x[b, :length]
    if layout == "TND":
        return x[start : start + length]
    if block_table is None:
        raise ValueError("block_table is required for layout PA_BSND")
    block_size = x.shape[1]
    n_blocks = -(-length // block_size)
    if n_blocks > block_table.shape[1]:
        raise ValueError(
            f"batch {b} needs {n_blocks} blocks of {block_size} but block_table has {block_table.shape[1]} columns"
        )
    ids = block_table[b, :n_blocks].long()
    if n_blocks and (ids.min() < 0 or ids.max() >= x.shape[0]):
        raise ValueError(f"block_table[{b}] holds block ids outside [0, {x.shape[0]}): {ids.tolist()}")
    return x[ids].reshape(n_blocks * block_size, *x.shape[2:])[:length]


def write_rows(out: torch.Tensor, layout: str, b: int, span: Span, values: torch.Tensor) -> None:
    """Store the rows of batch ``b`` into ``out`` (BSND or TND), the inverse of :func:`rows`."""
    start, length = span
    if layout == "BSND":
        out[b, :length] = values
    else:
        out[start : start + length] = values
