"""Distances in units in the last place, for tests that hold a kernel to a stated number of ulps."""

from __future__ import annotations

import torch


def ulp_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Distance in units in the last place between same-dtype float tensors (finite values)."""
    bits = {torch.bfloat16: (torch.int16, 15), torch.float16: (torch.int16, 15), torch.float32: (torch.int32, 31)}
    itype, top = bits[a.dtype]

    def ordered(t):
        u = t.contiguous().view(itype).to(torch.int64) & ((1 << (top + 1)) - 1)
        mag = u & ((1 << top) - 1)
        return torch.where(u >> top == 1, -mag, mag)

    return (ordered(a) - ordered(b)).abs()
