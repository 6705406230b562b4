"""sparse_flash_attention at GLM-5 shapes (64 heads, absorbed MLA 512 + 64, top-2048, bf16, paged
latent cache): per case the two goals of the op, modeled time against the roofline on the timing
model and CPU wall time of the emulated kernel against the torch reference on the same inputs,
plus the latent rows gathered against the minimum and the error against the reference."""

from __future__ import annotations

import torch

from .. import ops, perf, reference
from ..ops._backend import cpu_module
from ..perf.model import Roofline
from ._common import _MODEL, model_case, print_counters, print_row, wall_time, with_plan_times

TOPK, BLOCK = 2048, 128
ROW_BYTES = (512 + 64) * 2  # one latent row + its rope, bf16
DEFAULT_SOC = "Ascend910B3"  # the model's SoC when --soc is not given
GLM5 = (64, 0.0625)
DSV32 = (128, 0.1352338)

# (name, (heads, scale), sequences, query tokens per sequence, cached tokens per sequence, combined cache:
# key rows 576 wide, latent then rope, key_rope None)
CASES = [
    ("B=1 8K", GLM5, 1, 1, 8192, False),
    ("B=16 8K", GLM5, 16, 1, 8192, False),
    ("B=64 8K", GLM5, 64, 1, 8192, False),
    ("B=1 32K", GLM5, 1, 1, 32768, False),
    ("B=16 32K", GLM5, 16, 1, 32768, False),
    ("B=64 32K", GLM5, 64, 1, 32768, False),
    ("B=1 128K", GLM5, 1, 1, 131072, False),
    ("B=16 128K", GLM5, 16, 1, 131072, False),  # B=64 x 128K needs a 9.7 GB cache on the host: not run
    ("B=16 32K 576", GLM5, 16, 1, 32768, True),  # the combined cache (FlashMLA's layout): one copy per row
    ("MTP 12x2 8K", GLM5, 12, 2, 8192, False),  # two query tokens per sequence, causal
    ("prefill 1K", GLM5, 1, 1024, 1024, False),  # causal: token i selects min(i + 1, 2048) rows
    ("DSV3.2 B=16 8K", DSV32, 16, 1, 8192, False),  # 128 heads: 64-row tiles
]
QUICK_CASES = [("B=4 2.5K", GLM5, 4, 1, 2560, False)]


def _inputs(heads, seqs, s1, kv_len, combined, g):
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
    if combined:
        key, key_rope = torch.cat([key, key_rope], -1), None
    kw = dict(query_rope=q_rope, key_rope=key_rope, block_table=table, layout_query="TND", layout_kv="PA_BSND",
              actual_seq_lengths_query=[s1 * (i + 1) for i in range(seqs)], actual_seq_lengths_kv=[kv_len] * seqs,
              sparse_mode=3, return_softmax_lse=True)  # fmt: skip
    return q, key, idx, kw, visible


def _roofline(q, idx, out, heads, seqs, s1, visible) -> Roofline:
    """Each sequence's distinct selected rows once, q and the indices in, the output out; q.k (576)
    and p.v (512) of every head and selected row on the cube (as ascend_glm5.perf.glm5)."""
    distinct = sum(int(torch.unique(idx[i * s1:(i + 1) * s1]).ge(0).sum()) for i in range(seqs))
    return Roofline(bytes=distinct * ROW_BYTES + q.numel() * 2 + out.numel() * 2 + idx.numel() * 4,
                    macs=sum(visible) * heads * (576 + 512), mac_bits=16)


def main(quick: bool) -> int:
    g = torch.Generator().manual_seed(0)
    soc = _MODEL["soc"] or DEFAULT_SOC
    print(f"sparse_flash_attention: top-k {TOPK}, bf16, paged latent cache (block {BLOCK}, shuffled), TND, causal;"
          f" timing model {soc}")  # fmt: skip
    widths = [15, 6, 9, 9, 11, 9, 8, 8, 7, 9, 7, 8]
    head = ["case", "cores", "gathered", "model us", "roofline us", "mod/roof", "emu s", "ref s", "emu/ref",
            "max err", "plan us", "bound"]  # fmt: skip
    print_row(head, widths)
    counters, rows = [], []
    for name, (heads, scale), seqs, s1, kv_len, combined in QUICK_CASES if quick else CASES:
        q, key, idx, kw, visible = _inputs(heads, seqs, s1, kv_len, combined, g)
        run, plan_us = with_plan_times(lambda: ops.sparse_flash_attention(q, key, key, idx, scale, **kw))
        t_emu = wall_time(run, repeat=2)
        got = run()[0]
        launch = cpu_module().last_launch()
        counters.append((name, launch["total"]))
        ref = lambda: reference.sparse_flash_attention(q, key, key, idx, scale, **kw)  # noqa: E731
        t_ref = wall_time(ref, repeat=2)
        want = ref()[0]
        err = float((got.float() - want.float()).abs().max())
        # The cube and the vector cores gather; what they read besides q, S, P, the P.V tiles and
        # the gather slots is the selected rows: counted from the rows the kernel copies.
        minimum = sum(visible) * ROW_BYTES
        roof = _roofline(q, idx, got, heads, seqs, s1, visible)
        reports = model_case(name, run, roof) or perf.model(run, soc=soc)
        modeled = sum(r.time_us for r in reports)
        gathered = _gathered_bytes(launch, visible, heads) / minimum
        cores = sum(1 for c in reports[-1].cores if c["type"] == "AIC")  # AI cores used on the modeled SoC
        cells = [name, str(cores), f"{gathered:.3f}", f"{modeled:.1f}", f"{roof.time_us(soc):.2f}",
                 f"{modeled / roof.time_us(soc):.2f}x", f"{t_emu:.2f}", f"{t_ref:.2f}", f"{t_emu / t_ref:.1f}x",
                 f"{err:.4f}", f"{min(plan_us):.1f}", reports[-1].bound().split(" (")[0]]  # fmt: skip
        print_row(cells, widths)
        rows.append(cells)
    print()
    print_counters(counters)
    print()
    print(f"cores: AI cores (1 cube + 2 vector cores each) the launch uses on the modeled SoC.")
    print("gathered: latent + rope bytes copied out of the cache (by the cube and the vector cores) over each")
    print("  selected row read once per token.")
    print(f"model us: the kernel on the timing model ({soc}); roofline us: max(bytes / HBM bandwidth, MACs /")
    print("  cube peak) of the op; goal: mod/roof <= 1.25 at GLM-5 decode.")
    print("emu s / ref s: CPU wall time of the emulated kernel / of the torch reference (best of 2) on the same")
    print("  inputs; goal: emu/ref <= 20.")
    print("max err: largest |emulated - reference| of attention_out (bf16; outputs are O(1)).")
    print("plan us: host time to make the launch's plan (best of the runs), which the NPU path spends before every")
    print("  launch too (same host code).")
    return 0


def _tile_rows(heads: int) -> int:
    """Selected rows per kernel tile (SfaTileRows in sparse_flash_attention_tiling.h)."""
    return 128 if heads <= 64 else 64


def _pieces(visible: list[int], heads: int, cores: int) -> list[int]:
    """Selected rows of each work item (a row, or a piece of a split row) in the host's plan
    (csrc/host/sparse_flash_attention/sparse_flash_attention_tiling.cpp): whole rows with 4+ rows per
    core, else equal shares of tiles per core (tiles of 128 rows, 64 at 128 heads)."""
    tile = _tile_rows(heads)
    work = [-(-min(TOPK, n) // tile) for n in visible]
    if len(work) >= 4 * cores:
        return list(visible)
    share, filled, out = max(1, -(-sum(work) // cores)), 0, []
    for n, w in zip(visible, work):
        t = 0
        while t < w:
            if filled == share:
                filled = 0
            take = min(w - t, share - filled)
            out.append(min(n, (t + take) * tile) - t * tile)
            t, filled = t + take, filled + take
    return out


def _gathered_bytes(launch, visible: list[int], heads: int) -> int:
    """Cache bytes the kernel gathered: the cube's GM reads (MIX order per block: AIC, AIV, AIV) are q
    once per work item, P once per tile (rows padded to 16), and the selected rows (its own share
    straight from the cache, the vector cores' share through the gather slots)."""
    tile = _tile_rows(heads)
    cube_read = sum(c["mte2_bytes"] for c in launch["per_core"][0::3])
    pieces = _pieces(visible, heads, cpu_module().emulator_limits()["aic_cores"])
    q_bytes = len(pieces) * heads * ROW_BYTES
    p_bytes = sum(heads * (-(-min(tile, n - t) // 16) * 16) * 2 for n in pieces for t in range(0, n, tile))
    return cube_read - q_bytes - p_bytes
