"""dynamic_quant: GM traffic against the minimum, and CPU time, at GLM-5 activation shapes."""

from __future__ import annotations

import torch

from .. import ops, reference
from ..perf.model import Roofline
from ._common import launch_counters, model_case, print_row, wall_time

# (tokens, hidden): decode and prefill batches at GLM-5's hidden size 6144, MoE intermediate
# 2048, and the largest supported row.
SHAPES = [(16, 6144), (256, 6144), (1024, 2048), (64, 16384)]
QUICK_SHAPES = [(16, 6144), (64, 2048)]


def main(quick: bool) -> int:
    torch.manual_seed(0)
    widths = [7, 6, 11, 11, 6, 11, 11, 9]
    print("dynamic_quant (bf16 in, int8 + fp32 scale out, with smooth_scales)")
    print_row(["tokens", "H", "GM read", "GM write", "ratio", "emulated", "reference", "vec ops"], widths)
    for tokens, hidden in QUICK_SHAPES if quick else SHAPES:
        x = torch.randn(tokens, hidden, dtype=torch.bfloat16)
        smooth = torch.rand(hidden, dtype=torch.bfloat16) + 0.5
        c = launch_counters(lambda: ops.dynamic_quant(x, smooth_scales=smooth))
        # Minimum: read x and smooth once per core that needs them, write q and the scales once.
        min_read = x.numel() * 2 + hidden * 2 * min(tokens, 48)
        min_write = x.numel() + tokens * 4
        ratio = (c["mte2_bytes"] + c["mte3_bytes"]) / (min_read + min_write)
        t_emu = wall_time(lambda: ops.dynamic_quant(x, smooth_scales=smooth))
        t_ref = wall_time(lambda: reference.dynamic_quant(x, smooth_scales=smooth))
        print_row([str(tokens), str(hidden), str(c["mte2_bytes"]), str(c["mte3_bytes"]), f"{ratio:.3f}",
                   f"{t_emu * 1e3:.1f} ms", f"{t_ref * 1e3:.1f} ms", str(c["vector_elem_ops"])], widths)
        model_case(f"{tokens}x{hidden}", lambda: ops.dynamic_quant(x, smooth_scales=smooth),
                   Roofline(x.numel() * 2 + hidden * 2 + min_write))
    return 0
