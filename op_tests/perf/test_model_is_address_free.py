"""The modeled time of a launch must not depend on where the host's allocator put its buffers: the
same op on the same values, with its inputs at other host offsets, replays to the same cycles and
bytes (GM lines and scalar-cache lines are cut from each buffer's start; csrc/perf/replay.cpp,
emu/trace.h). Before, malloc's alignment moved the modeled time by ~1 us between identical runs."""

from __future__ import annotations

import pytest
import torch

from ascend_glm5 import ops
from ascend_glm5.perf import model


def shifted(t: torch.Tensor, offset_bytes: int) -> torch.Tensor:
    """A contiguous copy of `t` whose data starts `offset_bytes` past a 512-byte boundary."""
    elem = t.element_size()
    assert offset_bytes % elem == 0
    spare = (512 + offset_bytes) // elem
    buf = torch.empty(t.numel() + 2 * spare, dtype=t.dtype)
    start = (-(buf.data_ptr() % 512) // elem) % (512 // elem) + offset_bytes // elem
    out = buf[start : start + t.numel()].view(t.shape)
    out.copy_(t)
    assert out.data_ptr() % 512 == offset_bytes
    return out


def modeled(fn) -> tuple[float, float, float]:
    reports = model(fn, "Ascend910B3")
    assert reports
    return (sum(r.cycles for r in reports), sum(r.hbm_read_bytes for r in reports),
            sum(r.hbm_write_bytes for r in reports))  # fmt: skip


@pytest.mark.parametrize("offset", [32, 96, 224])
def test_copies_model_the_same_at_any_host_offset(offset):
    x = torch.randn(48, 7168, generator=torch.Generator().manual_seed(1)).bfloat16()
    smooth = torch.rand(7168, generator=torch.Generator().manual_seed(2)).bfloat16() + 0.5
    base = modeled(lambda: ops.dynamic_quant(shifted(x, 0), smooth_scales=shifted(smooth, 0)))
    moved = modeled(lambda: ops.dynamic_quant(shifted(x, offset), smooth_scales=shifted(smooth, offset)))
    assert moved == base


@pytest.mark.parametrize("offset", [4, 20, 44])
def test_scalar_reads_model_the_same_at_any_host_offset(offset):
    """The indexer reads its block table with scalar GM reads, grouped by 64-byte line."""
    g = torch.Generator().manual_seed(3)
    b, blocks, block = 3, 24, 128
    q = torch.randn(b, 1, 64, 128, generator=g).bfloat16()
    w = torch.randn(b, 1, 64, generator=g) / 64
    k = torch.randn(b * blocks, block, 1, 128, generator=g).bfloat16()
    table = torch.randperm(b * blocks, generator=g).to(torch.int32).reshape(b, blocks)
    kw = dict(sparse_count=2048, layout_key="PA_BSND", actual_seq_lengths_key=[blocks * block - 5] * b)

    def run(off: int):
        return modeled(lambda: ops.lightning_indexer(shifted(q, 0), shifted(k, 0), shifted(w, 0),
                                                     block_table=shifted(table, off), **kw))  # fmt: skip

    assert run(offset) == run(0)
