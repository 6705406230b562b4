"""What the attention-op fuzz strategies share: batches of query rows and cached keys in the BSND /
TND / PA_BSND layouts with their length arguments, block tables (shuffled, shared blocks), and
NaN planted where the contract says nothing is read (padding rows, keys past the lengths, unused
blocks), so that reading them would show."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from hypothesis import strategies as st

NAN = float("nan")


@dataclass
class Layout:
    layout_query: str
    layout_key: str
    q_rows: list[int]  # valid query rows per batch
    k_lens: list[int]  # valid keys per batch
    s1: int  # BSND query rows per batch (>= max q_rows)
    s2: int  # BSND key rows per batch
    block_size: int
    lengths_q: object  # what is passed as actual_seq_lengths_query
    lengths_k: object
    block_table: torch.Tensor | None
    num_blocks: int

    @property
    def query_shape(self) -> tuple[int, ...]:
        return (len(self.q_rows), self.s1) if self.layout_query == "BSND" else (sum(self.q_rows) + self.s1,)

    def key_shape(self) -> tuple[int, ...]:
        if self.layout_key == "BSND":
            return (len(self.k_lens), self.s2)
        if self.layout_key == "TND":
            return (sum(self.k_lens) + self.s2,)
        return (self.num_blocks, self.block_size)


def _as_lengths(draw, values):
    """Lengths as a list, an int32 or an int64 tensor."""
    kind = draw(st.sampled_from(["list", "int32", "int64"]))
    return list(values) if kind == "list" else torch.tensor(values, dtype=getattr(torch, kind))


@st.composite
def layouts(draw, g: torch.Generator, max_keys: int = 80):
    layout_query = draw(st.sampled_from(["BSND", "TND"]))
    layout_key = draw(st.sampled_from([layout_query, "PA_BSND"]))
    batch = draw(st.integers(1, 3))
    q_rows = draw(st.lists(st.integers(0, 5), min_size=batch, max_size=batch))
    k_lens = draw(st.lists(st.integers(0, max_keys), min_size=batch, max_size=batch))
    s1 = max(q_rows) + draw(st.integers(0, 2))  # BSND: padding rows; TND: rows past the last batch
    if layout_query == "TND":
        s1 = draw(st.integers(0, 2))
    s2 = max(k_lens) + draw(st.integers(0, 3)) if layout_key == "BSND" else draw(st.integers(0, 3))
    block_size = draw(st.sampled_from([16, 32]))
    table, num_blocks = None, 0
    if layout_key == "PA_BSND":
        need = [-(-n // block_size) for n in k_lens]
        width = max(need + [1]) + draw(st.integers(0, 1))
        num_blocks = sum(need) + draw(st.integers(0, 2))
        ids = torch.randperm(max(num_blocks, 1), generator=g).to(torch.int32)
        table = torch.full((batch, width), -1, dtype=torch.int32)  # -1 past what a batch needs: never read
        used = 0
        for b, n in enumerate(need):
            table[b, :n] = ids[used : used + n]
            used += n
        if batch > 1 and need[0] and need[1] and draw(st.booleans()):  # a shared prefix block
            table[1, 0] = table[0, 0]
        num_blocks = max(num_blocks, 1)
    if layout_query == "BSND":
        lengths_q = _as_lengths(draw, q_rows) if draw(st.booleans()) or s1 != max(q_rows) else None
    else:
        lengths_q = _as_lengths(draw, torch.tensor(q_rows).cumsum(0).tolist())
    if layout_key == "TND":
        lengths_k = _as_lengths(draw, torch.tensor(k_lens).cumsum(0).tolist())
    else:
        lengths_k = _as_lengths(draw, k_lens)
    if layout_query == "BSND" and lengths_q is None:
        q_rows = [s1] * batch
    return Layout(layout_query, layout_key, q_rows, k_lens, s1, s2, block_size, lengths_q, lengths_k, table, num_blocks)


def valid_query_mask(lay: Layout) -> torch.Tensor:
    """bool over the flattened query rows: rows inside a batch's valid rows."""
    if lay.layout_query == "BSND":
        return torch.tensor([s < n for n in lay.q_rows for s in range(lay.s1)], dtype=torch.bool)
    total = sum(lay.q_rows)
    return torch.arange(total + lay.s1) < total


def plant_nan_outside(lay: Layout, key: torch.Tensor) -> None:
    """NaN in every key row the contract says is never read (past the lengths, unused blocks)."""
    if lay.layout_key == "BSND":
        for b, n in enumerate(lay.k_lens):
            key[b, n:] = NAN
    elif lay.layout_key == "TND":
        key[sum(lay.k_lens) :] = NAN
    else:
        read = torch.zeros(lay.num_blocks, lay.block_size, dtype=torch.bool)
        for b, n in enumerate(lay.k_lens):
            for t in range(n):
                read[int(lay.block_table[b, t // lay.block_size]), t % lay.block_size] = True
        key[~read] = NAN


def noncontiguous(t: torch.Tensor) -> torch.Tensor:
    """The same values, as a view with a stride gap in the last dimension."""
    wide = torch.empty(*t.shape[:-1], 2 * t.shape[-1], dtype=t.dtype)
    wide[..., ::2] = t
    return wide[..., ::2]
