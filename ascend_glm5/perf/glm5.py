"""The GLM-5 table of docs/performance.md: every op at GLM-5 decode (batch 1 / 16 / 64, context
8K / 32K / 128K) and prefill, emulated with tracing and replayed on the timing model.

    python -m ascend_glm5.perf.glm5 --soc Ascend910B3 [--budget-min 5] [--only lightning_indexer]

Cases whose emulation would take longer than the budget (predicted from the measured speed of
the smaller cases of the same op) are listed as not emulated; nothing is extrapolated here.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import torch

from .. import ops
from .model import PIPES, Roofline, emulated_soc, replay, tracing
from .report import format_report

LI_HEADS, DIM, TOPK, BLOCK = 32, 128, 2048, 128  # GLM-5 indexer: 32 heads x 128, top-2048; 128-token pages
SFA_HEADS, SFA_SCALE = 64, 0.0625  # GLM-5 MLA: 64 heads, kv_lora 512 + rope 64
HIDDEN = 6144

# Vector instructions of the top-k (RunningTopK, the partial-list merge): their share of LI time is
# the time the model saves when they cost nothing.
TOPK_APIS = ("CompareScalar", "GatherMask", "Sort32", "MrgSort", "Extract", "Duplicate")


@dataclass
class Case:
    op: str
    phase: str  # "decode" / "prefill"
    batch: int
    ctx: int  # keys per sequence (decode) / prompt length (prefill)
    work: float  # what emulation time scales with (row x key pairs, tokens, elements)

    @property
    def gm_bytes(self) -> float:
        """Host memory the inputs need (the key / latent cache dominates)."""
        if self.op == "lightning_indexer":
            return (self.batch if self.phase == "decode" else 1) * self.ctx * DIM * 2
        if self.op == "sparse_flash_attention":
            return (self.batch if self.phase == "decode" else 1) * self.ctx * 1152
        return max(self.batch, self.ctx) * HIDDEN * 3

    @property
    def shape(self) -> str:
        if self.phase == "prefill":
            return f"S={self.ctx}"
        return f"B={self.batch}, {self.ctx // 1024}K" if self.ctx else f"B={self.batch}"


def li_inputs(case: Case, g: torch.Generator):
    """Decode: one query token per sequence over a paged cache of `ctx` keys; prefill: `ctx` tokens, causal."""
    b, s1 = (case.batch, 1) if case.phase == "decode" else (1, case.ctx)
    q = torch.randn(b, s1, LI_HEADS, DIM, generator=g).bfloat16()
    w = torch.randn(b, s1, LI_HEADS, generator=g) * LI_HEADS**-0.5 * DIM**-0.5
    if case.phase == "prefill":
        k = torch.randn(b, case.ctx, 1, DIM, generator=g).bfloat16()
        return (q, k, w), dict(sparse_count=TOPK), k.numel() * 2
    blocks = -(-case.ctx // BLOCK)
    k = torch.randn(b * blocks, BLOCK, 1, DIM, generator=g).bfloat16()
    table = torch.randperm(b * blocks, generator=g).to(torch.int32).reshape(b, blocks)
    kw = dict(sparse_count=TOPK, layout_key="PA_BSND", block_table=table, actual_seq_lengths_key=[case.ctx] * b)
    return (q, k, w), kw, b * case.ctx * DIM * 2


def li_roofline(case: Case, q, w, key_bytes: int) -> Roofline:
    rows = q.shape[0] * q.shape[1]
    if case.phase == "decode":
        pairs = rows * case.ctx
    else:
        pairs = sum(i + 1 for i in range(case.ctx))  # causal
    return Roofline(bytes=q.numel() * 2 + w.numel() * 4 + key_bytes + rows * TOPK * 4, macs=pairs * LI_HEADS * DIM)


def sfa_inputs(case: Case, g: torch.Generator):
    """Paged bf16 latent cache (512 + 64 rope), TND queries, `TOPK` random visible rows per token."""
    seqs, s1 = (case.batch, 1) if case.phase == "decode" else (1, case.ctx)
    kv = case.ctx
    tokens, blocks = seqs * s1, seqs * (-(-kv // BLOCK))
    q = torch.randn(tokens, SFA_HEADS, 512, generator=g).bfloat16()
    q_rope = torch.randn(tokens, SFA_HEADS, 64, generator=g).bfloat16()
    key = torch.randn(blocks, BLOCK, 1, 512, generator=g).bfloat16()
    key_rope = torch.randn(blocks, BLOCK, 1, 64, generator=g).bfloat16()
    table = torch.randperm(blocks, generator=g).to(torch.int32).reshape(seqs, -1)
    idx = torch.full((tokens, 1, TOPK), -1, dtype=torch.int32)
    selected = 0
    for t in range(tokens):
        n = min(kv - s1 + t % s1 + 1, TOPK)
        ids = torch.randperm(kv - s1 + t % s1 + 1, generator=g)[:n]
        idx[t, 0, :n] = ids.to(torch.int32)
        selected += n
    kw = dict(query_rope=q_rope, key_rope=key_rope, block_table=table, layout_query="TND", layout_kv="PA_BSND",
              actual_seq_lengths_query=[s1 * (i + 1) for i in range(seqs)], actual_seq_lengths_kv=[kv] * seqs,
              sparse_mode=3)  # fmt: skip
    # Bytes: each sequence's selected rows once (decode: a token's own; prefill: neighbours share),
    # q in, the output out, the indices; MACs: q.k (576) and p.v (512) of every head and selected row.
    distinct = sum(int(torch.unique(idx[i * s1:(i + 1) * s1]).ge(0).sum()) for i in range(seqs))
    roof = Roofline(bytes=distinct * 1152 + tokens * SFA_HEADS * (576 + 512) * 2 + idx.numel() * 4,
                       macs=selected * SFA_HEADS * (576 + 512))
    return (q, key, key, idx, SFA_SCALE), kw, roof


def cases(only: str | None) -> list[Case]:
    out = []
    for b in (1, 16, 64):
        out.append(Case("dynamic_quant", "decode", b, 0, b * HIDDEN))
    out.append(Case("dynamic_quant", "prefill", 1, 4096, 4096 * HIDDEN))
    for ctx in (8192, 32768, 131072):
        for b in (1, 16, 64):
            out.append(Case("lightning_indexer", "decode", b, ctx, b * ctx))
    for s in (1024, 2048, 4096):
        out.append(Case("lightning_indexer", "prefill", 1, s, s * (s + 1) / 2))
    for ctx in (8192, 32768, 131072):
        for b in (1, 16, 64):
            out.append(Case("sparse_flash_attention", "decode", b, ctx, b))
    for s in (1024, 2048):
        out.append(Case("sparse_flash_attention", "prefill", 1, s, sum(min(i + 1, TOPK) for i in range(s)) / TOPK))
    return [c for c in out if only in (None, c.op)]


def run_case(case: Case, soc: str) -> dict:
    g = torch.Generator().manual_seed(0)
    if case.op == "dynamic_quant":
        tokens = case.batch if case.phase == "decode" else case.ctx
        x = torch.randn(tokens, HIDDEN, generator=g).bfloat16()
        smooth = torch.rand(HIDDEN, generator=g).bfloat16() + 0.5
        fn = lambda: ops.dynamic_quant(x, smooth_scales=smooth)  # noqa: E731
        roof = Roofline(bytes=x.numel() * 2 + HIDDEN * 2 + x.numel() + tokens * 4)
    elif case.op == "lightning_indexer":
        (q, k, w), kw, key_bytes = li_inputs(case, g)
        fn = lambda: ops.lightning_indexer(q, k, w, **kw)  # noqa: E731
        roof = li_roofline(case, q, w, key_bytes)
    else:
        args, kw, roof = sfa_inputs(case, g)
        fn = lambda: ops.sparse_flash_attention(*args, **kw)  # noqa: E731
    t0 = time.perf_counter()
    with emulated_soc(soc), tracing() as traces:
        fn()
    emulated = time.perf_counter() - t0
    t1 = time.perf_counter()
    reports = [replay(t, soc) for t in traces]
    replayed = time.perf_counter() - t1
    modeled = sum(r.time_us for r in reports)
    row = dict(case=case, modeled_us=modeled, roofline_us=roof.time_us(soc), bound=reports[-1].bound(),
               emulated_s=emulated, replay_s=replayed, records=sum(t.records for t in traces),
               trace_mb=sum(t.bytes for t in traces) / 1e6, cores=sum(1 for c in reports[-1].cores if c["type"] == "AIC"),
               util={p: reports[-1].utilisation(p) for p in PIPES}, report=reports[-1], roof=roof)
    if case.op == "lightning_indexer":
        free = {name: (0.0, 0.0, 0.0, 0.0) for name in TOPK_APIS}
        without = sum(replay(t, soc, cost_overrides=free).time_us for t in traces)
        row["topk_share"] = 1 - without / modeled
    return row


def fmt_row(r: dict) -> str:
    c: Case = r["case"]
    topk = f"{r['topk_share']:.0%}" if "topk_share" in r else ""
    return (f"| {c.op} | {c.phase} | {c.shape} | {r['modeled_us']:.1f} | {r['roofline_us']:.2f} | "
            f"{r['modeled_us'] / r['roofline_us']:.1f}x | {topk} | {r['bound']} | {r['emulated_s']:.0f} s, "
            f"{r['records'] / 1e6:.2f}M rec, replay {r['replay_s']:.2f} s |")


HEADER = ("| op | phase | shape | modeled us | roofline us | modeled / roofline | top-k share | bound (share of "
          "the critical path) | emulation, trace, replay |\n|---|---|---|---|---|---|---|---|---|")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ascend_glm5.perf.glm5", description=__doc__)
    ap.add_argument("--soc", default="Ascend910B3")
    ap.add_argument("--budget-min", type=float, default=5.0, help="skip cases predicted to emulate longer than this")
    ap.add_argument("--max-gb", type=float, default=4.0, help="skip cases whose inputs need more host memory")
    ap.add_argument("--only", help="one op")
    ap.add_argument("--phase", choices=["decode", "prefill"], help="one phase")
    ap.add_argument("--reports", action="store_true", help="print each case's full report")
    args = ap.parse_args(argv)
    print(HEADER, flush=True)
    speed: dict[str, float] = {}  # seconds of emulation per unit of work, per op (the slowest seen)
    for case in cases(args.only):
        if args.phase and case.phase != args.phase:
            continue
        key = f"{case.op}/{case.phase}"
        skip = ""
        if case.gm_bytes > args.max_gb * 1e9:
            skip = f"inputs need {case.gm_bytes / 1e9:.1f} GB > {args.max_gb:g} GB"
        elif key in speed and speed[key] * case.work > args.budget_min * 60:
            skip = f"predicted {speed[key] * case.work / 60:.0f} min of emulation > {args.budget_min:g} min"
        if skip:
            print(f"| {case.op} | {case.phase} | {case.shape} | not emulated | | | | | {skip} |", flush=True)
            continue
        r = run_case(case, args.soc)
        speed[key] = max(speed.get(key, 0.0), r["emulated_s"] / case.work)
        print(fmt_row(r), flush=True)
        if args.reports:
            print("\n" + "\n".join("    " + line for line in format_report(r["report"], r["roof"]).splitlines()) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
