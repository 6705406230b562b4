"""quant_matmul at GLM-5 W8A8 linear shapes: weight bytes the cube reads against the minimum,
cube MACs against the useful ones, idle cube cores, and CPU time of the emulated kernel.

GLM-5's W8A8_DYNAMIC linears (msModelSlim recipe): attention q_a_proj (6144 -> 2048), q_b_proj
(2048 -> 64 x 256), kv_a_proj (6144 -> 512 + 64), o_proj (64 x 256 -> 6144), shared expert and
dense MLP gate_up / down. Weights are passed as w.t() of msModelSlim's [N, K] (vllm-ascend's view).
Large M and N are sliced (noted) to keep the emulator within minutes: the ratios are properties
of a column tile and its passes.
"""

from __future__ import annotations

import torch

from .. import ops
from ..ops._backend import cpu_module
from ..perf.model import Roofline
from ._common import model_case, print_row, wall_time

# (name, linear, M tokens, K, N emulated)
CASES = [
    ("decode 8", "q_a_proj", 8, 6144, 2048),
    ("decode 8", "kv_a_proj", 8, 6144, 576),
    ("decode 8", "o_proj", 8, 16384, 1024),
    ("decode 64", "shared gate_up", 64, 6144, 1024),
    ("decode 256", "q_b_proj", 256, 2048, 1024),
    ("prefill 1K", "shared down", 1024, 2048, 1536),
    ("prefill 4K", "shared down", 4096, 2048, 128),
]
QUICK_CASES = [("decode 8", "q_a_proj", 8, 6144, 512), ("prefill 1K", "shared down", 1024, 2048, 64)]


def main(quick: bool) -> int:
    g = torch.Generator().manual_seed(0)
    aic = cpu_module().emulator_limits()["aic_cores"]
    print(f"quant_matmul (W8A8 dynamic: per-channel x per-token, bf16 out), GLM-5 linears, {aic} AI cores")
    widths = [11, 15, 5, 6, 5, 6, 8, 7, 9, 10, 7, 8, 5, 9]
    print_row(["case", "linear", "M", "K", "N", "nTile", "mBlock", "passes", "resident", "w read/min", "A MB",
               "MAC/use", "idle", "emulated"], widths)  # fmt: skip
    for name, linear, m, k, n in QUICK_CASES if quick else CASES:
        x1 = torch.randint(-127, 128, (m, k), dtype=torch.int8, generator=g)
        w = torch.randint(-127, 128, (n, k), dtype=torch.int8, generator=g)
        scale = torch.rand(n, generator=g) * 1e-3
        pts = torch.rand(m, generator=g) * 1e-2
        plan = cpu_module().quant_matmul_plan(m=m, n=n, k=k, weight_nk=True, out_dtype=1)
        seconds = wall_time(lambda: ops.quant_matmul(x1, w.t(), scale, pertoken_scale=pts), repeat=1)
        launch = cpu_module().last_launch()
        cubes = launch["per_core"][0::3]  # MIX launch order per block: AIC, AIV, AIV
        cube_read = sum(c["mte2_bytes"] for c in cubes)
        tiles = plan["n_tiles"]
        block_rows = plan["item_rows"] or m
        blocks = -(-m // block_rows)
        per_pass = plan["tokens_per_pass"]
        passes = -(-block_rows // per_pass)
        resident = plan["resident"] or passes == 1
        a_bytes = m * k * tiles  # every column tile reads its rows once
        w_reads = blocks * (1 if resident else passes)
        print_row([name, linear, str(m), str(k), str(n), str(plan["n_tile"]), str(block_rows), str(passes),
                   "yes" if plan["resident"] else "no", f"{(cube_read - a_bytes) / (k * n):.3f}",
                   f"{a_bytes / 1e6:.2f}", f"{launch['total']['cube_macs'] / (m * k * n):.2f}",
                   str(aic - sum(1 for c in cubes if c["cube_calls"] > 0)), f"{seconds:.1f} s"], widths)  # fmt: skip
        assert cube_read - a_bytes == w_reads * k * n, "weight reads differ from the plan"
        # Roofline: x1 and the weights read once, the bf16 output written once; int8 cube MACs.
        model_case(f"{name} {linear}", lambda: ops.quant_matmul(x1, w.t(), scale, pertoken_scale=pts),
                   Roofline(m * k + k * n + n * 4 + m * 4 + m * n * 2, m * k * n, 8))
    print()
    print("w read/min: weight bytes the cube cores read from GM (MTE2 bytes minus the x1 rows) over K x N once.")
    print("  mBlock: rows per work item; when the column tiles alone leave cores idle, rows are cut into")
    print("  blocks and each block reads its weight tile again. resident: weights stay in L1 over an item's passes.")
    print("A MB: x1 rows read, once per column tile. MAC/use: cube MACs (rows padded to 16) over M x K x N.")
    print("idle: AI cores whose cube ran no Mmad.")
    return 0
