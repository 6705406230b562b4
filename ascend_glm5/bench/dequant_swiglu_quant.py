"""dequant_swiglu_quant: GM traffic against the minimum, and CPU time, at GLM-5 expert shapes."""

from __future__ import annotations

import torch

from .. import ops, reference
from ._common import launch_counters, print_row, wall_time

EXPERTS, TOP_K, HALF = 256, 8, 2048  # GLM-5: 256 routed experts, 8 per token, moe_intermediate 2048
TOKENS = [8, 64, 256, 512]
QUICK_TOKENS = [8, 64]


def main(quick: bool) -> int:
    g = torch.Generator().manual_seed(0)
    widths = [7, 6, 7, 12, 10, 6, 10, 10]
    print(f"dequant_swiglu_quant (int32 gate/up [T*{TOP_K}, {2 * HALF}] -> int8 [T*{TOP_K}, {HALF}], "
          f"{EXPERTS} per-expert weight scales)")
    print_row(["tokens", "rows", "groups", "GM read", "GM write", "ratio", "emulated", "reference"], widths)
    for tokens in QUICK_TOKENS if quick else TOKENS:
        rows = tokens * TOP_K
        experts = torch.randint(0, EXPERTS, (rows,), generator=g)
        group_index = torch.bincount(experts, minlength=EXPERTS)
        x = torch.randint(-(2**20), 2**20, (rows, 2 * HALF), dtype=torch.int32, generator=g)
        kw = dict(weight_scale=torch.rand(EXPERTS, 2 * HALF, generator=g) * 1e-5,
                  activation_scale=torch.rand(rows, generator=g), group_index=group_index, activate_left=True)
        c = launch_counters(lambda: ops.dequant_swiglu_quant(x, quant_mode=1, **kw))
        used = int((group_index > 0).sum())
        # Minimum: x, the activation scales and each used expert's weight scales read once; y and the scales written once.
        min_read = x.numel() * 4 + rows * 4 + used * 2 * HALF * 4
        min_write = rows * HALF + rows * 4
        ratio = (c["mte2_bytes"] + c["mte3_bytes"]) / (min_read + min_write)
        t_emu = wall_time(lambda: ops.dequant_swiglu_quant(x, quant_mode=1, **kw), repeat=1)
        t_ref = wall_time(lambda: reference.dequant_swiglu_quant(x, **kw), repeat=1)
        print_row([str(tokens), str(rows), str(used), str(c["mte2_bytes"]), str(c["mte3_bytes"]), f"{ratio:.3f}",
                   f"{t_emu * 1e3:.0f} ms", f"{t_ref * 1e3:.0f} ms"], widths)
    return 0
