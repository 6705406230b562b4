"""quantize (static W8A8 activation quantization): GM traffic against the minimum, and CPU time."""

from __future__ import annotations

import torch

from .. import ops, reference
from ._common import launch_counters, print_row, wall_time

# (tokens, hidden): decode and prefill at GLM-5's hidden size 6144 and q_lora 2048.
SHAPES = [(1, 6144), (16, 6144), (256, 6144), (1024, 2048)]
QUICK_SHAPES = [(16, 6144), (64, 2048)]


def main(quick: bool) -> int:
    torch.manual_seed(0)
    widths = [7, 6, 11, 11, 6, 6, 11, 11]
    print("quantize (bf16 in, int8 out, per-channel bf16 scales and offsets, div_mode=False as vllm-ascend)")
    print_row(["tokens", "K", "GM read", "GM write", "cores", "ratio", "emulated", "reference"], widths)
    for tokens, hidden in QUICK_SHAPES if quick else SHAPES:
        x = torch.randn(tokens, hidden, dtype=torch.bfloat16)
        s = (torch.rand(hidden) + 0.5).to(torch.bfloat16)
        o = torch.randint(-8, 8, (hidden,)).to(torch.bfloat16)

        def run():
            return ops.quantize(x, s, o, torch.qint8, -1, False)

        c = launch_counters(run)
        from ..ops._backend import cpu_module

        cores = cpu_module().last_launch()["cores"]
        # Minimum: x read once, y written once, the fp32 scales and offsets read once (per core that needs them).
        min_read = x.numel() * 2 + hidden * 8
        ratio = (c["mte2_bytes"] + c["mte3_bytes"]) / (min_read + x.numel())
        t_emu = wall_time(run)
        t_ref = wall_time(lambda: reference.quantize(x, s, o, torch.qint8, -1, False))
        print_row([str(tokens), str(hidden), str(c["mte2_bytes"]), str(c["mte3_bytes"]), str(cores), f"{ratio:.3f}",
                   f"{t_emu * 1e3:.1f} ms", f"{t_ref * 1e3:.1f} ms"], widths)
    return 0
