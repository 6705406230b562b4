"""grouped_matmul_a8w4 at GLM-5 expert shapes: expert weight bytes the cube reads against the
minimum (each active expert's weights once), cube MACs against the useful int8 x int4 MACs, idle
cube cores, and CPU time of the emulated kernel.

GLM-5 MoE: hidden 6144, moe_intermediate 2048 (gate_up: K 6144, N 4096; down: K 2048, N 6144),
256 experts, 8 per token. The emulated launch is one expert-parallel rank holding 8 of the 256
experts (EP 32): of T tokens routed top-8 at random, it gets the rows of its 8 experts. Emulating a
whole layer is out of reach (decode at 256 tokens issues ~13 G int4 MACs per rank without EP; the
emulator's cube runs ~0.1 G/s), so larger cases take a slice of N: the ratios are properties of
one column tile (its K, rows and passes), while idle cores need the slice noted.
"""

from __future__ import annotations

import torch

from .. import ops
from ..ops._backend import cpu_module
from ..quant import pack_int4_int32
from ..perf.model import Roofline
from ._common import model_case, print_row, wall_time

HIDDEN, INTER, EXPERTS, TOP_K, LOCAL = 6144, 2048, 256, 8, 8
PROJ = {"gate_up": (HIDDEN, 2 * INTER), "down": (INTER, HIDDEN)}  # (K, N)

# (name, global tokens T, projection, N columns emulated: None = all)
CASES = [
    ("decode 8", 8, "gate_up", None),
    ("decode 8", 8, "down", None),
    ("decode 64", 64, "gate_up", None),
    ("decode 256", 256, "gate_up", 2048),
    ("decode 256", 256, "down", 1536),
    ("prefill 4K", 4096, "gate_up", 256),
    ("prefill 4K", 4096, "down", 512),
]
QUICK_CASES = [("decode 8", 8, "gate_up", 512), ("prefill 512", 512, "down", 256)]


def _local_counts(tokens: int, g: torch.Generator) -> torch.Tensor:
    """Rows of experts 0..LOCAL-1 when each token picks TOP_K distinct experts of EXPERTS at random."""
    picks = torch.rand(tokens, EXPERTS, generator=g).argsort(dim=1)[:, :TOP_K]
    return torch.bincount(picks.flatten(), minlength=EXPERTS)[:LOCAL].to(torch.int64)


def _a_bytes(counts: torch.Tensor, k: int, n: int, plan: dict) -> int:
    """Bytes of hi / lo / ones rows the cube reads: per column tile, every pass's rows once."""
    k_pad = -(-k // 64) * 64
    tiles = plan["n_tiles"]
    total = 0
    for r in counts.tolist():
        if r:
            passes = -(-r // plan["tokens_per_pass"])
            total += (2 * r + passes) * k_pad // 2 * tiles
    return total


def main(quick: bool) -> int:
    g = torch.Generator().manual_seed(0)
    aic = cpu_module().emulator_limits()["aic_cores"]
    print(f"grouped_matmul_a8w4, GLM-5 experts (EP rank with {LOCAL} of {EXPERTS}, top-{TOP_K}), bf16 out, "
          f"{aic} AI cores")  # fmt: skip
    widths = [11, 8, 5, 5, 5, 7, 6, 6, 8, 9, 7, 8, 5, 9]
    print_row(["case", "proj", "K", "N", "rows", "experts", "nTile", "passes", "resident", "w read/min", "A MB",
               "MAC/use", "idle", "emulated"], widths)  # fmt: skip
    for name, tokens, proj, n_cols in QUICK_CASES if quick else CASES:
        k, n_full = PROJ[proj]
        n = n_cols or n_full
        counts = _local_counts(tokens, g)
        m = int(counts.sum())
        x = torch.randint(-127, 128, (m, k), dtype=torch.int8, generator=g)
        w = pack_int4_int32(torch.randint(-8, 8, (LOCAL, k, n), dtype=torch.int8, generator=g))
        scale = torch.rand(LOCAL, n, generator=g) * 1e-2
        pts = torch.rand(m, generator=g) * 1e-2
        plan = cpu_module().grouped_matmul_a8w4_plan(m=m, n=n, k=k, experts=LOCAL, out_dtype=1)
        seconds = wall_time(lambda: ops.grouped_matmul_a8w4(x, w, scale, pts, counts), repeat=1)
        launch = cpu_module().last_launch()
        cubes = launch["per_core"][0::3]  # MIX launch order per block: AIC, AIV, AIV
        cube_read = sum(c["mte2_bytes"] for c in cubes)
        active = int((counts > 0).sum())
        w_min = active * k * n // 2
        a_bytes = _a_bytes(counts, k, n, plan)
        useful = m * k * n
        idle = aic - sum(1 for c in cubes if c["cube_calls"] > 0)
        max_passes = max(-(-int(r) // plan["tokens_per_pass"]) for r in counts.tolist()) if m else 0
        print_row([name, proj, str(k), str(n), str(m), str(active), str(plan["n_tile"]), str(max_passes),
                   "yes" if plan["resident"] else "no", f"{(cube_read - a_bytes) / w_min:.3f}", f"{a_bytes / 1e6:.2f}",
                   f"{launch['total']['cube_macs'] / useful:.2f}", str(idle), f"{seconds:.1f} s"], widths)  # fmt: skip
        # Roofline: the rows and each active expert's int4 weights read once, bf16 out; int8 x int4 MACs
        # at the int8 cube peak (MSD runs them as two int4 x int4 rows).
        model_case(f"{name} {proj}", lambda: ops.grouped_matmul_a8w4(x, w, scale, pts, counts),
                   Roofline(m * k + w_min + active * n * 4 + m * 4 + m * n * 2, useful, 8))
    print()
    print("w read/min: weight bytes the cube cores read from GM (their MTE2 bytes minus the hi/lo/ones rows,")
    print("  counted from the plan) over each active expert's K x N int4 weights once. resident: an item's")
    print("  weights stay in L1 for all its passes.")
    print("A MB: hi/lo/ones rows read per column tile (L2-resident on the NPU: the same rows for every tile).")
    print("MAC/use: int4 cube MACs issued (hi + lo + ones rows, padded to 16) over the rows x K x N int8 x int4 MACs.")
    print("idle: AI cores whose cube ran no Mmad.")
    print()
    _method_comparison(g, quick)
    return 0


# A2 cube throughput per cycle (16 x k0 x 16 fractal MACs): int8 k0 = 32, int4 k0 = 64.
_INT8_MACS_PER_CYCLE, _INT4_MACS_PER_CYCLE = 16 * 32 * 16, 16 * 64 * 16


def _method_comparison(g: torch.Generator, quick: bool) -> None:
    """MSD (this kernel) against unpacking int4 -> int8 and running int8 x int8 (quant_matmul's cube
    path on the unpacked weights, plus the vector pass that writes them), one expert, measured."""
    k, n = HIDDEN, 256 if quick else 512
    print(f"method, one expert, K {k}, N {n}: MSD (int4 x int4 on hi / lo rows) vs int4 -> int8 unpack + int8 x int8")
    widths = [6, 7, 12, 12, 12, 12, 12]
    print_row(["rows", "method", "weight MB", "A MB", "cube MACs", "cube cycles", "vs MSD"], widths)
    for rows in (1, 8) if quick else (1, 8, 120):
        w8 = torch.randint(-8, 8, (k, n), dtype=torch.int8, generator=g)
        x = torch.randint(-127, 128, (rows, k), dtype=torch.int8, generator=g)
        ops.grouped_matmul_a8w4(x, pack_int4_int32(w8[None]), torch.ones(1, n), torch.ones(rows),
                                torch.tensor([rows]), output_dtype=torch.int32)  # fmt: skip
        msd = cpu_module().last_launch()
        plan = cpu_module().grouped_matmul_a8w4_plan(m=rows, n=n, k=k, experts=1, out_dtype=4)
        a_msd = _a_bytes(torch.tensor([rows]), k, n, plan)
        w_msd = sum(c["mte2_bytes"] for c in msd["per_core"][0::3]) - a_msd
        cyc_msd = msd["total"]["cube_macs"] / _INT4_MACS_PER_CYCLE
        ops.quant_matmul(x, w8, torch.ones(n), output_dtype=torch.int32)  # the GEMM after an unpack
        un = cpu_module().last_launch()
        qplan = cpu_module().quant_matmul_plan(m=rows, n=n, k=k, weight_nk=False, out_dtype=4)
        a_un = rows * k * qplan["n_tiles"]
        # The unpack pass reads the int4 weights and writes them back as int8 before the GEMM reads them.
        w_un = sum(c["mte2_bytes"] for c in un["per_core"][0::3]) - a_un + k * n // 2 + k * n
        cyc_un = un["total"]["cube_macs"] / _INT8_MACS_PER_CYCLE
        for name, wb, ab, macs, cyc in (("MSD", w_msd, a_msd, msd["total"]["cube_macs"], cyc_msd),
                                        ("unpack", w_un, a_un, un["total"]["cube_macs"], cyc_un)):  # fmt: skip
            print_row([str(rows), name, f"{wb / 1e6:.2f}", f"{ab / 1e6:.2f}", str(macs), f"{cyc:.0f}",
                       f"x{wb / w_msd:.1f} GM, x{cyc / cyc_msd:.2f} cube"], widths)  # fmt: skip
    print("weight MB: weight-related GM traffic (unpack: int4 read + int8 write + int8 read by the cube).")
    print("cube cycles: MACs over the A2 cube's MACs per cycle (int8 16x32x16, int4 16x64x16).")
