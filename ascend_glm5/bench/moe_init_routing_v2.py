"""moe_init_routing_v2 / moe_finalize_routing: GM traffic against the minimum and scalar work, at GLM-5
routing shapes (256 experts, 8 per token, hidden 6144; int8 rows in, bf16 rows back)."""

from __future__ import annotations

import torch

from .. import ops
from ._common import launch_counters, print_row, wall_time

EXPERTS, TOP_K, HIDDEN = 256, 8, 6144
TOKENS = [8, 64, 256, 4096]
QUICK_TOKENS = [8, 64]


def main(quick: bool) -> int:
    g = torch.Generator().manual_seed(0)
    widths = [7, 6, 12, 12, 6, 11, 9, 12, 6, 9]
    print(f"moe_init_routing_v2 (int8 x [T, {HIDDEN}] + scales) and moe_finalize_routing (bf16 rows -> [T, {HIDDEN}])")
    print_row(["tokens", "pairs", "init read", "init write", "ratio", "scalar ops", "init", "final read", "ratio",
               "final"], widths)
    for tokens in QUICK_TOKENS if quick else TOKENS:
        ids = torch.stack([torch.randperm(EXPERTS, generator=g)[:TOP_K] for _ in range(tokens)]).to(torch.int32)
        x = torch.randint(-127, 128, (tokens, HIDDEN), dtype=torch.int8, generator=g)
        scale = torch.rand(tokens, generator=g)
        pairs = ids.numel()

        def init():
            return ops.moe_init_routing_v2(x, ids, scale=scale, expert_num=EXPERTS, expert_tokens_num_type=1,
                                           quant_mode=-1)

        c = launch_counters(init)
        # Minimum: ids and x rows read once per pair, rows / indices / scales / counts written once.
        min_init = pairs * 4 + pairs * HIDDEN + pairs * HIDDEN + 2 * pairs * 4 + EXPERTS * 8
        ratio_init = (c["mte2_bytes"] + c["mte3_bytes"]) / min_init
        t_init = wall_time(init, repeat=1)
        _, row_idx, _, _ = init()
        rows = torch.randn(pairs, HIDDEN, generator=g).to(torch.bfloat16)
        weights = torch.rand(tokens, TOP_K, generator=g)

        def final():
            return ops.moe_finalize_routing(rows, None, None, None, weights, row_idx, ids, 2)

        f = launch_counters(final)
        ratio_final = (f["mte2_bytes"] + f["mte3_bytes"]) / (pairs * HIDDEN * 2 + tokens * HIDDEN * 2)
        t_final = wall_time(final, repeat=1)
        print_row([str(tokens), str(pairs), str(c["mte2_bytes"]), str(c["mte3_bytes"]), f"{ratio_init:.3f}",
                   str(c["scalar_ops"]), f"{t_init * 1e3:.0f} ms", str(f["mte2_bytes"]), f"{ratio_final:.3f}",
                   f"{t_final * 1e3:.0f} ms"], widths)
    return 0
