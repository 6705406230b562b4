"""sparse_flash_attention at GLM-5 / DeepSeek-V3.2 decode shapes: latent rows gathered against the
minimum, cube work against the op's FLOPs, the cube <-> vector workspace traffic, and CPU wall time."""

from __future__ import annotations

import torch

from .. import ops, reference
from ..ops._backend import cpu_module
from ..perf.model import Roofline
from ._common import model_case, print_counters, print_row, wall_time

TOPK, BLOCK = 2048, 128
ROW_BYTES = (512 + 64) * 2  # one latent row + its rope, bf16
TILE = 64  # selected rows per kernel tile

# (name, heads, scale, sequences, query tokens per sequence, cached tokens per sequence)
CASES = [
    ("GLM-5 16x1", 64, 0.0625, 16, 1, 4096),
    ("GLM-5 12x2", 64, 0.0625, 12, 2, 4096),  # MTP: two query tokens per sequence, causal
    ("DSV3.2 8x1", 128, 0.1352338, 8, 1, 4096),
]
QUICK_CASES = [("GLM-5 4x1", 64, 0.0625, 4, 1, 2560)]


def _inputs(heads, seqs, s1, kv_len, g):
    tokens, blocks = seqs * s1, seqs * (-(-kv_len // BLOCK))
    q = torch.randn(tokens, heads, 512, generator=g).bfloat16()
    q_rope = torch.randn(tokens, heads, 64, generator=g).bfloat16()
    key = torch.randn(blocks, BLOCK, 1, 512, generator=g).bfloat16()
    key_rope = torch.randn(blocks, BLOCK, 1, 64, generator=g).bfloat16()
    table = torch.randperm(blocks, generator=g).to(torch.int32).reshape(seqs, -1)
    # Token i of a sequence sees kv_len - s1 + i + 1 cached tokens (causal); it selects the top-k of them.
    idx = torch.full((tokens, 1, TOPK), -1, dtype=torch.int32)
    visible = []
    for t in range(tokens):
        n = kv_len - s1 + t % s1 + 1
        ids = torch.randperm(n, generator=g)[:TOPK]
        idx[t, 0, : ids.numel()] = ids.to(torch.int32)
        visible.append(ids.numel())
    kw = dict(query_rope=q_rope, key_rope=key_rope, block_table=table, layout_query="TND", layout_kv="PA_BSND",
              actual_seq_lengths_query=[s1 * (i + 1) for i in range(seqs)], actual_seq_lengths_kv=[kv_len] * seqs,
              sparse_mode=3, return_softmax_lse=True)  # fmt: skip
    return q, key, idx, kw, visible


def main(quick: bool) -> int:
    g = torch.Generator().manual_seed(0)
    print(f"sparse_flash_attention decode: top-k {TOPK}, bf16, paged latent cache (block {BLOCK}), TND, causal")
    widths = [11, 6, 11, 9, 9, 9, 10, 10, 9]
    print_row(["case", "cores", "gather MB", "read/min", "ws MB", "MAC/FLOP", "emulated", "reference", "max err"],
              widths)  # fmt: skip
    counters = []
    for name, heads, scale, seqs, s1, kv_len in QUICK_CASES if quick else CASES:
        q, key, idx, kw, visible = _inputs(heads, seqs, s1, kv_len, g)
        run = lambda: ops.sparse_flash_attention(q, key, key, idx, scale, **kw)  # noqa: E731
        t_emu = wall_time(run, repeat=1)
        got = run()[0]
        launch = cpu_module().last_launch()
        counters.append((name, launch["total"]))
        want = reference.sparse_flash_attention(q, key, key, idx, scale, **kw)[0]
        t_ref = wall_time(lambda: reference.sparse_flash_attention(q, key, key, idx, scale, **kw), repeat=1)
        # The cube reads q once per token, each selected row once per token, and P once per tile
        # (padded to 16 columns); what remains of its GM reads is the gather.
        tiles = [min(TILE, n - t) for n in visible for t in range(0, n, TILE)]
        p_bytes = sum(heads * (-(-n // 16) * 16) * 2 for n in tiles)
        cube_read = sum(c["mte2_bytes"] for c in launch["per_core"][0::3])  # MIX order per block: AIC, AIV, AIV
        gathered = cube_read - q.numel() // 512 * ROW_BYTES - p_bytes
        minimum = sum(visible) * ROW_BYTES
        ws_read = launch["total"]["mte2_bytes"] - cube_read
        macs = sum(visible) * heads * (576 + 512)  # q.k and p.v of every head over every selected row
        err = float((got.float() - want.float()).abs().max())
        print_row([name, str(launch["block_dim"]), f"{gathered / 1e6:.2f}", f"{gathered / minimum:.3f}",
                   f"{ws_read / 1e6:.2f}", f"{launch['total']['cube_macs'] / macs:.2f}", f"{t_emu:.2f} s",
                   f"{t_ref:.2f} s", f"{err:.4f}"], widths)  # fmt: skip
        # Roofline: the selected rows once per token, q and the indices in, the output out; q.k and p.v on the cube.
        op_bytes = minimum + q.numel() // 512 * 576 * 2 + idx.numel() * 4 + got.numel() * 2
        model_case(name, run, Roofline(op_bytes, macs, 16))
    print()
    print_counters(counters)
    print()
    print("read/min: latent + rope bytes the cube gathered over each selected row read once per token.")
    print("ws MB: bytes the vector cores read back from the workspace (score tiles S and P.V tiles, fp32).")
    print("MAC/FLOP: cube MACs issued (whole 16x16 fractals) over the q.k + p.v MACs of the selected rows.")
    print("max err: largest |emulated - reference| of attention_out (bf16; outputs are O(1)).")
    return 0
