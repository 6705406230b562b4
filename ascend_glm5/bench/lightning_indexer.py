"""lightning_indexer at GLM-5 shapes: key bytes read against the minimum, cube work against the
op's FLOPs, the workspace traffic of the cube -> vector handoff, and CPU wall time."""

from __future__ import annotations

import torch

from .. import ops, reference
from ..ops._backend import cpu_module
from ..perf.model import Roofline
from ._common import model_case, print_counters, print_row, wall_time

HEADS, DIM, TOPK = 32, 128, 2048  # GLM-5 indexer: 32 heads of 128, top-2048

# (name, batch, query tokens per batch, keys per batch)
CASES = [("decode 8K", 4, 1, 8192), ("decode 32K", 1, 1, 32768), ("prefill", 1, 256, 256 + 2048)]
QUICK_CASES = [("decode 8K", 1, 1, 8192), ("prefill", 1, 64, 64 + 2048)]


def _per_core_split(launch: dict) -> tuple[int, int]:
    """GM bytes read by the cube cores (queries + keys) and by the vector cores (workspace, weights)."""
    cube = vec = 0
    # MIX launch order per block: AIC, AIV, AIV.
    for i, c in enumerate(launch["per_core"]):
        if i % 3 == 0:
            cube += c["mte2_bytes"]
        else:
            vec += c["mte2_bytes"]
    return cube, vec


def main(quick: bool) -> int:
    torch.manual_seed(0)
    print(f"lightning_indexer, GLM-5 indexer: {HEADS} heads x {DIM}, sparse_count {TOPK}, bf16, causal")
    widths = [10, 6, 10, 9, 10, 9, 10, 10, 10]
    print_row(["case", "cores", "key MB", "read/min", "ws MB", "MAC/FLOP", "emulated", "reference", "agree"], widths)
    counters = []
    for name, batch, s1, s2 in QUICK_CASES if quick else CASES:
        q = torch.randn(batch, s1, HEADS, DIM).bfloat16()
        k = torch.randn(batch, s2, 1, DIM).bfloat16()
        w = torch.randn(batch, s1, HEADS) * HEADS**-0.5 * DIM**-0.5
        got = ops.lightning_indexer(q, k, w, sparse_count=TOPK)[0]
        launch = cpu_module().last_launch()
        counters.append((name, launch["total"]))
        cube_read, vec_read = _per_core_split(launch)
        # Minimum: every query once, and each key once per query block: the keys its last row sees
        # (causal, right-down aligned). Blocks are the kernel's 4 rows of 32 heads (one cube tile).
        rows_per_block = max(1, min(4, 128 // HEADS))
        last_rows = [min(j + rows_per_block, s1) - 1 for j in range(0, s1, rows_per_block)]
        minimum = q.numel() * 2 + batch * sum(s2 - s1 + i + 1 for i in last_rows) * DIM * 2
        flops = batch * sum(s2 - s1 + i + 1 for i in range(s1)) * HEADS * DIM  # MACs of q.k on visible keys
        t_emu = wall_time(lambda: ops.lightning_indexer(q, k, w, sparse_count=TOPK), repeat=1)
        want = reference.lightning_indexer(q, k, w, sparse_count=TOPK)[0]
        t_ref = wall_time(lambda: reference.lightning_indexer(q, k, w, sparse_count=TOPK), repeat=1)
        agree = torch.equal(got.sort(dim=-1).values, want.sort(dim=-1).values)
        print_row([name, str(launch["block_dim"]), f"{cube_read / 1e6:.2f}", f"{cube_read / minimum:.3f}",
                   f"{vec_read / 1e6:.2f}", f"{launch['total']['cube_macs'] / flops:.2f}", f"{t_emu:.2f} s",
                   f"{t_ref:.2f} s", "sets ==" if agree else "DIFFER"], widths)  # fmt: skip
        # Roofline: read q, the weights and every key once, write the indices; the q.k MACs on the cube.
        op_bytes = q.numel() * 2 + w.numel() * 4 + k.numel() * 2 + got.numel() * 4
        model_case(name, lambda: ops.lightning_indexer(q, k, w, sparse_count=TOPK), Roofline(op_bytes, flops, 16))
    print()
    print_counters(counters)
    print()
    print("read/min: GM bytes the cube cores read (queries + keys) over each key read once per query block.")
    print("ws MB: bytes the vector cores read back from the workspace (score tiles, partial top-k lists).")
    print("MAC/FLOP: cube MACs issued (whole 16x16 fractals, 128-key steps) over the q.k MACs of visible keys.")
    return 0
