"""The GLM-5 table of docs/performance.md: every op at GLM-5 decode (batch 1 / 16 / 64; context
8K / 32K / 128K for the attention ops) and prefill, emulated with tracing and replayed on the
timing model, next to the published anchors (perf_anchors.md) converted to the same shape.

    python -m ascend_glm5.perf.glm5 [--soc Ascend910B3] [--budget-min 5] [--only lightning_indexer]
    python -m ascend_glm5.perf.glm5 --only sparse_flash_attention --write docs/performance.md
    python -m ascend_glm5.perf.glm5 --sensitivity [--write docs/performance.md]
    python -m ascend_glm5.perf.glm5 --spread [--only sparse_flash_attention --batch 64] [--write docs/performance.md]
    python -m ascend_glm5.perf.glm5 --floors [--only sparse_flash_attention --batch 16] [--write docs/performance.md]
    python -m ascend_glm5.perf.glm5 --paths [--only sparse_flash_attention --batch 16] [--write docs/performance.md]
    python -m ascend_glm5.perf.glm5 --goal-grids --write docs/performance.md

Cases whose emulation would take longer than the budget (predicted from the measured speed of
the smaller cases of the same op) are listed as not emulated; nothing is extrapolated here.
`--write` replaces the rows of the cases it ran in the doc's table (between its markers) and the
provenance line of their op (commit, SoC), leaving the other ops' rows as they were. `--floors
--write` also re-renders each op's goal grid (the decode rows, batches by contexts) from the doc's
floors table; `--goal-grids` does only that.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import torch

from .. import ops
from . import floors
from .model import PIPES, Roofline, emulated_soc, replay, tracing
from .report import format_report

LI_HEADS, DIM, TOPK, BLOCK = 32, 128, 2048, 128  # GLM-5 indexer: 32 heads x 128, top-2048; 128-token pages
SFA_HEADS, SFA_SCALE = 64, 0.0625  # GLM-5 MLA: 64 heads, kv_lora 512 + rope 64
HIDDEN = 6144
# An SFA decode cache past this size is built sparse: only the rows some index selects are written (the
# kernel reads no other), so the untouched rest takes no host memory (B = 64 x 128K: 9.7 GB dense).
SFA_DENSE_CACHE_BYTES = 4e9

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

    linear: str = ""  # quant_matmul: the GLM-5 linear; grouped_matmul_a8w4: the expert projection

    @property
    def gm_bytes(self) -> float:
        """Host memory the inputs need (the key / latent cache dominates)."""
        if self.op == "lightning_indexer":
            return (self.batch if self.phase == "decode" else 1) * self.ctx * DIM * 2
        if self.op == "sparse_flash_attention":
            if self.sparse_cache:  # at most one 4 KiB page a selected row
                return self.batch * TOPK * 4096
            return (self.batch if self.phase == "decode" else 1) * self.ctx * 1152
        if self.op == "quant_matmul":
            return LINEARS[self.linear][0] * LINEARS[self.linear][1]
        if self.op == "grouped_matmul_a8w4":
            return LOCAL * EXPERT_PROJ[self.linear][0] * EXPERT_PROJ[self.linear][1] // 2
        return max(self.batch, self.ctx) * HIDDEN * 3

    @property
    def sparse_cache(self) -> bool:
        """An SFA decode case whose cache is built with its selected rows only (see SFA_DENSE_CACHE_BYTES)."""
        return self.op == "sparse_flash_attention" and self.phase == "decode" and self.linear != SFA_SEPARATE and (
            self.batch * self.ctx * 1152 > SFA_DENSE_CACHE_BYTES)

    @property
    def shape(self) -> str:
        what = f"{self.linear}, " if self.linear else ""
        if self.phase == "prefill":
            return f"{what}S={self.ctx}"
        return f"{what}B={self.batch}, {self.ctx // 1024}K" if self.ctx else f"{what}B={self.batch}"


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
    return Roofline(bytes=q.numel() * 2 + w.numel() * 4 + key_bytes + rows * TOPK * 4, macs=pairs * LI_HEADS * DIM,
                    written=rows * TOPK * 4)


def unwritten_bf16(*shape: int) -> torch.Tensor:
    """A bf16 tensor left as allocated: its pages take host memory only once written."""
    return torch.empty(*shape, dtype=torch.bfloat16)


SFA_SEPARATE = "separate rope"  # Case.linear of an SFA decode row over the separate key / key_rope caches


def sfa_inputs(case: Case, g: torch.Generator):
    """Paged bf16 latent cache (512 + 64 rope), TND queries, `TOPK` random visible rows per token.
    Decode reads the combined cache (a row: latent, then rope; key_rope None), unless the case is
    the separate layout's; prefill the separate key / key_rope caches. A sparse case's cache has only
    its selected rows written (drawn after the indices), the rest left untouched."""
    seqs, s1 = (case.batch, 1) if case.phase == "decode" else (1, case.ctx)
    kv = case.ctx
    tokens, blocks = seqs * s1, seqs * (-(-kv // BLOCK))
    q = torch.randn(tokens, SFA_HEADS, 512, generator=g).bfloat16()
    q_rope = torch.randn(tokens, SFA_HEADS, 64, generator=g).bfloat16()
    if case.sparse_cache:
        key = unwritten_bf16(blocks, BLOCK, 1, 576)
    else:
        key = torch.randn(blocks, BLOCK, 1, 576, generator=g).bfloat16()
    key_rope = None
    if case.phase == "prefill" or case.linear == SFA_SEPARATE:
        key, key_rope = key[..., :512].contiguous(), key[..., 512:].contiguous()
    table = torch.randperm(blocks, generator=g).to(torch.int32).reshape(seqs, -1)
    idx = torch.full((tokens, 1, TOPK), -1, dtype=torch.int32)
    selected = 0
    for t in range(tokens):
        n = min(kv - s1 + t % s1 + 1, TOPK)
        ids = torch.randperm(kv - s1 + t % s1 + 1, generator=g)[:n]
        idx[t, 0, :n] = ids.to(torch.int32)
        selected += n
    if case.sparse_cache:  # decode: token t is sequence t
        ids = idx[:, 0].long().clamp(min=0)  # a -1 (none at these shapes) writes row 0 of its block 0
        rows = (table.long().gather(1, ids // BLOCK) * BLOCK + ids % BLOCK).flatten()
        key.view(-1, 576)[rows] = torch.randn(rows.numel(), 576, generator=g).bfloat16()
    kw = dict(query_rope=q_rope, key_rope=key_rope, block_table=table, layout_query="TND", layout_kv="PA_BSND",
              actual_seq_lengths_query=[s1 * (i + 1) for i in range(seqs)], actual_seq_lengths_kv=[kv] * seqs,
              sparse_mode=3)  # fmt: skip
    # Bytes: each sequence's selected rows once (decode: a token's own; prefill: neighbours share),
    # q in, the output out, the indices; MACs: q.k (576) and p.v (512) of every head and selected row.
    distinct = sum(int(torch.unique(idx[i * s1:(i + 1) * s1]).ge(0).sum()) for i in range(seqs))
    roof = Roofline(bytes=distinct * 1152 + tokens * SFA_HEADS * (576 + 512) * 2 + idx.numel() * 4,
                    macs=selected * SFA_HEADS * (576 + 512), written=tokens * SFA_HEADS * 512 * 2)
    return (q, key, key, idx, SFA_SCALE), kw, roof


# GLM-5 W8A8 linears of the attention (K, N): q_a 6144 -> 2048, o_proj 64 x 256 -> 6144.
LINEARS = {"q_a_proj": (6144, 2048), "o_proj": (16384, 6144)}
# GLM-5 experts (K, N), one expert-parallel rank holding 8 of the 256 experts (EP 32).
EXPERT_PROJ = {"gate_up": (6144, 4096), "down": (2048, 6144)}
EXPERTS, TOP_K, LOCAL = 256, 8, 8


def qmm_inputs(case: Case, g: torch.Generator):
    m = case.batch if case.phase == "decode" else case.ctx
    k, n = LINEARS[case.linear]
    x1 = torch.randint(-127, 128, (m, k), dtype=torch.int8, generator=g)
    w = torch.randint(-127, 128, (n, k), dtype=torch.int8, generator=g)
    scale = torch.rand(n, generator=g) * 1e-3
    pts = torch.rand(m, generator=g) * 1e-2
    fn = lambda: ops.quant_matmul(x1, w.t(), scale, pertoken_scale=pts)  # noqa: E731
    return fn, Roofline(m * k + k * n + n * 4 + m * 4 + m * n * 2, m * k * n, 8)


def gmm_inputs(case: Case, g: torch.Generator):
    from ..quant import pack_int4_int32

    tokens = case.batch if case.phase == "decode" else case.ctx
    k, n = EXPERT_PROJ[case.linear]
    picks = torch.rand(tokens, EXPERTS, generator=g).argsort(dim=1)[:, :TOP_K]
    counts = torch.bincount(picks.flatten(), minlength=EXPERTS)[:LOCAL].to(torch.int64)
    if counts.sum() == 0:  # a rank no token picked launches nothing: model one that got a row
        counts[0] = 1
    m = int(counts.sum())
    x = torch.randint(-127, 128, (m, k), dtype=torch.int8, generator=g)
    w = pack_int4_int32(torch.randint(-8, 8, (LOCAL, k, n), dtype=torch.int8, generator=g))
    scale = torch.rand(LOCAL, n, generator=g) * 1e-2
    pts = torch.rand(m, generator=g) * 1e-2
    active = int((counts > 0).sum())
    fn = lambda: ops.grouped_matmul_a8w4(x, w, scale, pts, counts)  # noqa: E731
    # The rank's rows and each active expert's int4 weights once, bf16 out; int8 x int4 MACs at the int8 peak.
    return fn, Roofline(m * k + active * k * n // 2 + active * n * 4 + m * 4 + m * n * 2, m * k * n, 8)


# GLM-5 MLA prolog in W8A8 (weight_quant_mode 2: int8 x, W_dq, W_uq_qr, W_dkv_kr; bf16 W_uk), by tensor
# parallelism: TP1 holds all 64 heads, TP16 four (only W_uq_qr and W_uk split).
MLA_Q_LORA, MLA_NOPE, MLA_ROPE, KV_LORA = 2048, 192, 64, 512
MLA_HEADS = {"TP1": 64, "TP16": 4}


def _int8_columns(w: torch.Tensor):
    """Symmetric per-column int8 and its fp32 scale [1, N]."""
    scale = w.abs().amax(0, keepdim=True) / 127
    return torch.round(w / scale).clamp(-127, 127).to(torch.int8), scale


def mla_inputs(case: Case, g: torch.Generator):
    from .. import reference

    t = case.batch if case.phase == "decode" else case.ctx
    h = MLA_HEADS[case.linear]
    cols = MLA_NOPE + MLA_ROPE

    def rnd(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g) * scale).bfloat16()

    x, x_scale = reference.dynamic_quant(rnd(t, HIDDEN))
    w_dq, s_dq = _int8_columns(torch.randn(HIDDEN, MLA_Q_LORA, generator=g) * HIDDEN**-0.5)
    w_uq, s_uq = _int8_columns(torch.randn(MLA_Q_LORA, h * cols, generator=g) * MLA_Q_LORA**-0.5)
    w_dkv, s_dkv = _int8_columns(torch.randn(HIDDEN, KV_LORA + MLA_ROPE, generator=g) * HIDDEN**-0.5)
    w_uk = rnd(h, MLA_NOPE, KV_LORA, scale=MLA_NOPE**-0.5)
    angle = torch.arange(t)[:, None].double() * 1e4 ** (-torch.arange(0, MLA_ROPE, 2).double() / MLA_ROPE)
    sin, cos = (torch.cat([f(angle)] * 2, -1).bfloat16() for f in (torch.sin, torch.cos))
    blocks = -(-t // BLOCK)
    kv_cache = torch.zeros(blocks, BLOCK, 1, KV_LORA + MLA_ROPE).bfloat16()  # the combined cache the models use
    args = (x, w_dq, w_uq, w_uk, w_dkv, 1 + rnd(MLA_Q_LORA, scale=0.2), 1 + rnd(KV_LORA, scale=0.2), sin, cos,
            kv_cache, None)
    kw = dict(cache_index=torch.randperm(blocks * BLOCK, generator=g)[:t], query_norm_flag=True, weight_quant_mode=2,
              dequant_scale_x=x_scale[:, None], dequant_scale_w_dq=s_dq, dequant_scale_w_uq_qr=s_uq,
              dequant_scale_w_dkv_kr=s_dkv, rmsnorm_epsilon_cq=1e-6, rmsnorm_epsilon_ckv=1e-6)
    fn = lambda: ops.mla_prolog(*args, **kw)  # noqa: E731
    # Bytes: every weight (and scale) once, x and the rope tables in; query, query_rope, query_norm
    # (+ scale) and the cache rows out. MACs: the int8 projections at the int8 peak, W_uk in bf16.
    weights = HIDDEN * (MLA_Q_LORA + KV_LORA + MLA_ROPE) + MLA_Q_LORA * h * cols + h * MLA_NOPE * KV_LORA * 2
    scales = (MLA_Q_LORA + KV_LORA + MLA_ROPE + h * cols) * 4 + (MLA_Q_LORA + KV_LORA) * 2
    per_token = (HIDDEN + 4 + 2 * MLA_ROPE * 2 + h * (KV_LORA + MLA_ROPE) * 2 + MLA_Q_LORA + 4
                 + (KV_LORA + MLA_ROPE) * 2 + 8)
    int8_macs = t * (HIDDEN * (MLA_Q_LORA + KV_LORA + MLA_ROPE) + MLA_Q_LORA * h * cols)
    return fn, Roofline(weights + scales + t * per_token, int8_macs, 8, {16: t * h * MLA_NOPE * KV_LORA})


# GLM-5 MoE: 256 routed experts, top-8, moe_intermediate 2048 (gate/up 4096 int32 columns per row).
MOE_HALF = 2048


def dsq_inputs(case: Case, g: torch.Generator):
    tokens = case.batch if case.phase == "decode" else case.ctx
    rows = tokens * TOP_K
    group_index = torch.bincount(torch.randint(0, EXPERTS, (rows,), generator=g), minlength=EXPERTS)
    x = torch.randint(-(2**20), 2**20, (rows, 2 * MOE_HALF), dtype=torch.int32, generator=g)
    kw = dict(weight_scale=torch.rand(EXPERTS, 2 * MOE_HALF, generator=g) * 1e-5,
              activation_scale=torch.rand(rows, generator=g), group_index=group_index, activate_left=True)
    fn = lambda: ops.dequant_swiglu_quant(x, quant_mode=1, **kw)  # noqa: E731
    used = int((group_index > 0).sum())
    # x, the activation scales and each used expert's weight scales in; int8 rows and their scales out.
    return fn, Roofline(x.numel() * 4 + rows * 4 + used * 2 * MOE_HALF * 4 + rows * MOE_HALF + rows * 4)


def routing_inputs(case: Case, g: torch.Generator):
    tokens = case.batch if case.phase == "decode" else case.ctx
    ids = torch.stack([torch.randperm(EXPERTS, generator=g)[:TOP_K] for _ in range(tokens)]).to(torch.int32)
    pairs = ids.numel()
    if case.op == "moe_init_routing_v2":
        x = torch.randint(-127, 128, (tokens, HIDDEN), dtype=torch.int8, generator=g)
        scale = torch.rand(tokens, generator=g)
        fn = lambda: ops.moe_init_routing_v2(x, ids, scale=scale, expert_num=EXPERTS,  # noqa: E731
                                             expert_tokens_num_type=1, quant_mode=-1)
        # ids and one x row per pair in; the permuted rows, row indices, scales and counts out.
        return fn, Roofline(pairs * 4 + 2 * pairs * HIDDEN + 2 * pairs * 4 + EXPERTS * 8)
    # finalize: the expert outputs (bf16) of every pair weighted back into their token's row.
    dst = torch.randperm(pairs, generator=g).to(torch.int32)
    rows = torch.randn(pairs, HIDDEN, generator=g).bfloat16()
    weights = torch.rand(tokens, TOP_K, generator=g)
    fn = lambda: ops.moe_finalize_routing(rows, None, None, None, weights, dst, ids, 2)  # noqa: E731
    return fn, Roofline(pairs * HIDDEN * 2 + tokens * HIDDEN * 2 + pairs * 8 + tokens * TOP_K * 4)


def cases(only: str | None) -> list[Case]:
    """Every case of the table, smallest first within an op (so the budget skips the largest)."""
    out = []
    for b in (1, 16, 64):
        out.append(Case("dynamic_quant", "decode", b, 0, b * HIDDEN))
    out.append(Case("dynamic_quant", "prefill", 1, 4096, 4096 * HIDDEN))
    for ctx in (8192, 32768, 131072):
        for b in (1, 16, 64):
            out.append(Case("lightning_indexer", "decode", b, ctx, b * ctx))
    for s in (1024, 2048, 4096, 8192, 32768, 131072):
        out.append(Case("lightning_indexer", "prefill", 1, s, s * (s + 1) / 2))
    for ctx in (8192, 32768, 131072):
        for b in (1, 16, 64):
            out.append(Case("sparse_flash_attention", "decode", b, ctx, b))
    out.append(Case("sparse_flash_attention", "decode", 16, 32768, 16, linear=SFA_SEPARATE))
    for s in (1024, 2048, 4096, 8192, 32768, 131072):
        out.append(Case("sparse_flash_attention", "prefill", 1, s, sum(min(i + 1, TOPK) for i in range(s)) / TOPK))
    out.append(Case("mla_prolog", "decode", 1, 0, 16, linear="TP16"))
    for b in (1, 16, 64):
        out.append(Case("mla_prolog", "decode", b, 0, max(b, 16) * 16, linear="TP1"))
    out.append(Case("mla_prolog", "prefill", 1, 1024, 1024 * 16, linear="TP1"))
    for lin, (k, n) in LINEARS.items():
        for b in (1, 16, 64):
            out.append(Case("quant_matmul", "decode", b, 0, max(b, 16) * k * n, linear=lin))
        out.append(Case("quant_matmul", "prefill", 1, 1024, 1024 * k * n, linear=lin))
    for proj, (k, n) in EXPERT_PROJ.items():
        for b in (1, 16, 64):
            out.append(Case("grouped_matmul_a8w4", "decode", b, 0, max(b * TOP_K * LOCAL / EXPERTS, 1) * 3 * k * n,
                            linear=proj))
        out.append(Case("grouped_matmul_a8w4", "prefill", 1, 1024, 1024 * TOP_K * LOCAL / EXPERTS * 3 * k * n,
                        linear=proj))
    for op in ("dequant_swiglu_quant", "moe_init_routing_v2", "moe_finalize_routing"):
        for b in (1, 16, 64):
            out.append(Case(op, "decode", b, 0, b * TOP_K))
        out.append(Case(op, "prefill", 1, 1024, 1024 * TOP_K))
    return [c for c in out if only in (None, c.op)]


def build(case: Case, g: torch.Generator):
    """(fn launching the op on the case's inputs, the op's Roofline)."""
    if case.op == "dynamic_quant":
        tokens = case.batch if case.phase == "decode" else case.ctx
        x = torch.randn(tokens, HIDDEN, generator=g).bfloat16()
        smooth = torch.rand(HIDDEN, generator=g).bfloat16() + 0.5
        return (lambda: ops.dynamic_quant(x, smooth_scales=smooth),
                Roofline(bytes=x.numel() * 2 + HIDDEN * 2 + x.numel() + tokens * 4))
    if case.op == "lightning_indexer":
        (q, k, w), kw, key_bytes = li_inputs(case, g)
        return lambda: ops.lightning_indexer(q, k, w, **kw), li_roofline(case, q, w, key_bytes)
    if case.op == "sparse_flash_attention":
        args, kw, roof = sfa_inputs(case, g)
        return lambda: ops.sparse_flash_attention(*args, **kw), roof
    builders = {"quant_matmul": qmm_inputs, "grouped_matmul_a8w4": gmm_inputs, "mla_prolog": mla_inputs,
                "dequant_swiglu_quant": dsq_inputs, "moe_init_routing_v2": routing_inputs,
                "moe_finalize_routing": routing_inputs}
    return builders[case.op](case, g)


MAX_RECORDS = 96 << 20  # 3 GiB of trace per launch: the largest prefill cases that emulate within the budget


def run_case(case: Case, soc: str, keep_traces: bool = False) -> dict:
    """`case` emulated and replayed on `soc`: a row of the GLM-5 table (with its traces when
    `keep_traces`, for further replays such as the floors)."""
    fn, roof = build(case, torch.Generator().manual_seed(0))
    t0 = time.perf_counter()
    with emulated_soc(soc), tracing(MAX_RECORDS) as traces:
        fn()
    emulated = time.perf_counter() - t0
    t1 = time.perf_counter()
    reports = [replay(t, soc) for t in traces]
    replayed = time.perf_counter() - t1
    if not reports:
        raise RuntimeError("the op launched no kernel on this case")
    modeled = sum(r.time_us for r in reports)
    row = dict(case=case, modeled_us=modeled, roofline_us=roof.time_us(soc), bound=reports[-1].bound(),
               emulated_s=emulated, replay_s=replayed, records=sum(t.records for t in traces),
               trace_mb=sum(t.bytes for t in traces) / 1e6, cores=sum(1 for c in reports[-1].cores if c["type"] == "AIC"),
               util={p: reports[-1].utilisation(p) for p in PIPES}, report=reports[-1], roof=roof)
    if case.op == "lightning_indexer":
        free = {name: (0.0, 0.0, 0.0, 0.0) for name in TOPK_APIS}
        without = sum(replay(t, soc, cost_overrides=free).time_us for t in traces)
        row["topk_share"] = 1 - without / modeled
    if keep_traces:
        row["traces"] = traces
    return row


# ---- published anchors (perf_anchors.md §2-3), converted to a case --------------------------------
# An anchor measured on other hardware or at another shape converts through its efficiency: the
# anchor's time over its own roofline (on its device, at its shape), times this case's roofline. It
# says what this case would take on the SoC if the kernel were as close to its bound as the anchor.
ANCHORS = {
    # FlashMLA sparse decode, H800, h=128, C8 KV: 1.39 us per query token, 2.4x its roofline (0.58 us/token).
    ("sparse_flash_attention", "decode"): (1.39 / 0.58, "FlashMLA sparse decode (H800, h=128): 1.39 us/token = 2.4x its roofline"),
    # FlashMLA sparse prefill, H800: 640 TFLOPS of 989 = 1.55x the compute roofline.
    ("sparse_flash_attention", "prefill"): (989 / 640, "FlashMLA sparse prefill (H800, h=128): 640 of 989 TFLOPS = 1.55x"),
    # DeepGEMM masked grouped FP8 GEMM (decode MoE), H800: 2047 GB/s of 3350 = 1.64x the memory roofline.
    ("grouped_matmul_a8w4", "decode"): (3350 / 2047, "DeepGEMM masked grouped GEMM (H800): 2047 of 3350 GB/s = 1.64x"),
    # DeepGEMM contiguous grouped FP8 GEMM (prefill MoE), H800: 1346 of 1979 TFLOPS = 1.47x.
    ("grouped_matmul_a8w4", "prefill"): (1979 / 1346, "DeepGEMM contiguous grouped GEMM (H800): 1346 of 1979 TFLOPS = 1.47x"),
    # DeepGEMM decode-shaped FP8 GEMM (M 64/128), H800: ~80 % of HBM = 1.25x; PyPTO's IndexerProlog
    # matmul (8,1536)@(1536,8192) on A3 reached its 13 us limit (1.0x).
    ("quant_matmul", "decode"): (3350 / 2668, "DeepGEMM decode GEMM (H800): 2668 of 3350 GB/s = 1.26x (PyPTO on A3: 1.0x)"),
}
# The fused indexer (FlashInfer, logits + top-k, DSV3.2 B=1, L=32K): 17.2 us on a GPU the PR does not
# name; its K stream is 32K x 132 B = 4.3 MB: 1.29 us on an H100 (3.35 TB/s) = 13.3x (on a B200, 30x).
LI_FUSED = (17.2 / (32768 * 132 / 3.35e12 * 1e6), "FlashInfer fused indexer (B=1, 32K; GPU not stated, "
            "H100 assumed): 17.2 us = 13.3x its roofline")
# MLAPO (xLLM, GLM W8A8 TP16, one request): 97 us against the 18 us TP16 weight floor = 5.4x.
MLAPO = (97 / 18, "xLLM fused MLA preprocess (GLM W8A8, TP16, 1 request, Ascend): 97 us = 5.4x its floor")


def anchor(case: Case, roofline_us: float) -> str:
    """The anchor converted to `case` ('' where none applies): 'ratio x -> us'."""
    if case.op == "lightning_indexer" and case.phase == "decode" and case.batch == 1 and case.ctx == 32768:
        ratio = LI_FUSED[0]
    elif case.op == "mla_prolog" and case.phase == "decode" and case.batch == 1 and case.linear == "TP16":
        ratio = MLAPO[0]
    elif (case.op, case.phase) in ANCHORS:
        ratio = ANCHORS[(case.op, case.phase)][0]
    else:
        return ""
    return f"{ratio:.2f}x: {ratio * roofline_us:.1f}"


# The assumed constants (and the HBM bandwidth, a public estimate that perf_anchors.md says must be
# measured), each halved and doubled: how much the modeled time depends on them.
SENSITIVE = ("hbm_bytes_per_cycle", "l2_bytes_per_cycle", "l2_line_bytes", "gm_read_latency", "gm_copy_overhead",
             "local_copy_overhead", "ub_to_l1_rate", "cross_core_latency", "issue_cycles",
             "scalar_local_cycles", "scalar_gm_hit_cycles", "scalar_gm_miss_cycles", "scalar_cache_lines", "queue_depth")
SENSITIVITY_CASES = (Case("lightning_indexer", "decode", 16, 32768, 0), Case("sparse_flash_attention", "decode", 16, 32768, 0))


def trace_case(case: Case, soc: str) -> tuple[list, Roofline]:
    """The traces of `case`'s launches (seed 0, host tilings sized for `soc`) and its roofline: recorded
    once, then replayed under other constants (sensitivity, spread)."""
    fn, roof = build(case, torch.Generator().manual_seed(0))
    with emulated_soc(soc), tracing(MAX_RECORDS) as traces:
        fn()
    return traces, roof


def sensitivity(case: Case, soc: str) -> list[str]:
    """Markdown rows: modeled time of `case` with each assumed constant halved and doubled."""
    from .soc import params

    traces, _ = trace_case(case, soc)
    base = sum(replay(t, soc).time_us for t in traces)
    rows = []
    for key in SENSITIVE:
        v = params(soc)[key]
        half, double = (sum(replay(t, soc, param_overrides={key: f}).time_us for t in traces) for f in (v / 2, v * 2))
        rows.append(f"| {case.op} {case.phase} {case.shape} | `{key}` {v:g} | {base:.1f} | {half:.1f} ({half / base - 1:+.0%}) "
                    f"| {double:.1f} ({double / base - 1:+.0%}) |")
    return rows


# Issue 14's yardstick: modeled time within 1.25x the roofline at GLM-5 decode shapes (LI and SFA).
GOAL_RATIO = 1.25
# The HBM bandwidth (a public estimate: perf_anchors.md) moved by up to 3 %. Where the cores' copies
# keep the shared pool near saturation (SFA decode B = 64), the modeled time moves with where those
# copies meet, not only with the bandwidth: a goal row that holds at the nominal value but not at its
# neighbours is held by where the copies happen to meet, not by the kernel.
SPREAD_FACTORS = (0.97, 0.98, 0.99, 1.0, 1.01, 1.02, 1.03)
SPREAD_OPS = ("lightning_indexer", "sparse_flash_attention")


def spread_times(traces, soc: str) -> tuple[list[float], float]:
    """Modeled us of the launches in `traces` with the HBM bandwidth scaled by each of SPREAD_FACTORS,
    and with both shared pools (HBM, L2) unlimited: every copy at its own path's rate, so that what
    is left is the kernel's own chain of work."""
    from .soc import params

    hbm = params(soc)["hbm_bytes_per_cycle"]
    times = [sum(replay(t, soc, param_overrides={"hbm_bytes_per_cycle": hbm * f}).time_us for t in traces)
             for f in SPREAD_FACTORS]
    unlimited = {"hbm_bytes_per_cycle": 1e12, "l2_bytes_per_cycle": 1e12}
    return times, sum(replay(t, soc, param_overrides=unlimited).time_us for t in traces)


def spread(case: Case, soc: str) -> str:
    """A markdown row: `case`'s modeled time across SPREAD_FACTORS against the goal's limit."""
    traces, roof = trace_case(case, soc)
    times, free = spread_times(traces, soc)
    r = roof.time_us(soc)
    nominal = times[SPREAD_FACTORS.index(1.0)]
    within = sum(t <= GOAL_RATIO * r for t in times)
    return (f"| {case.op} | {case.phase} | {case.shape} | {GOAL_RATIO * r:.2f} | {nominal:.2f} ({nominal / r:.3f}x) | "
            f"{' / '.join(f'{t:.2f}' for t in times)} | {sum(times) / len(times) / r:.3f}x, {max(times) / r:.3f}x | "
            f"{within} of {len(times)} | {free:.2f} ({free / r:.3f}x) |")


# Dependent GM reads before a goal row's first streamed byte can be asked for, whatever the kernel
# (decode over a paged cache): a key's address needs its block-table entry (LI); a selected row's
# needs its id, then that id's block-table entry (SFA). floors.any_kernel_us.
LEAD_READS = {"lightning_indexer": 1, "sparse_flash_attention": 2}


def any_kernel_us(case: Case, roof: Roofline, soc: str) -> float:
    """The least time of any kernel for a goal row (floors.any_kernel_us): its lead reads, then the op's
    reads from HBM at the pool's rate."""
    return floors.any_kernel_us(roof.read_bytes, LEAD_READS[case.op], soc)


def floors_row(case: Case, soc: str) -> str:
    """A markdown row: `case` replayed with its data movement free (perf/floors.py), after the least
    time of any kernel (any_kernel_us)."""
    traces, roof = trace_case(case, soc)
    times, stream, pipe = floors.summarize(traces, soc)
    return floors.row(case.op, case.phase, case.shape, times, stream, pipe, roof.time_us(soc), GOAL_RATIO,
                      any_kernel_us(case, roof, soc))


def paths_row(case: Case, soc: str) -> str:
    """A markdown row: `case` replayed with each data path free alone (perf/floors.py)."""
    traces, _ = trace_case(case, soc)
    return floors.paths_row(case.op, case.phase, case.shape, floors.path_times(traces, soc))


def goal_cases(only: str | None, batch: int | None, ctx: int | None) -> list[Case]:
    """The goal's rows (LI and SFA decode), narrowed to `only` / `batch` / `ctx` where given."""
    return [c for c in cases(only) if c.op in SPREAD_OPS and c.phase == "decode" and not c.linear
            and (not batch or c.batch == batch) and (not ctx or c.ctx == ctx)]


def fmt_row(r: dict) -> str:
    c: Case = r["case"]
    topk = f"{r['topk_share']:.0%}" if "topk_share" in r else ""
    return (f"| {c.op} | {c.phase} | {c.shape} | {r['modeled_us']:.1f} | {r['roofline_us']:.2f} | "
            f"{r['modeled_us'] / r['roofline_us']:.1f}x | {topk} | {anchor(c, r['roofline_us'])} | {r['bound']} | "
            f"{r['emulated_s']:.1f} s, {r['records'] / 1e6:.2f}M rec, replay {r['replay_s']:.2f} s |")


HEADER = ("| op | phase | shape | modeled us | roofline us | modeled / roofline | top-k share | anchor: its ratio, "
          "converted us | bound (share of the critical path) | emulation wall, trace, replay |\n"
          "|---|---|---|---|---|---|---|---|---|---|")
TABLE_BEGIN, TABLE_END = "<!-- glm5-table begin -->", "<!-- glm5-table end -->"
SENS_BEGIN, SENS_END = "<!-- glm5-sensitivity begin -->", "<!-- glm5-sensitivity end -->"
SENS_HEADER = "| case | constant | modeled us | halved | doubled |\n|---|---|---|---|---|"
SPREAD_BEGIN, SPREAD_END = "<!-- glm5-spread begin -->", "<!-- glm5-spread end -->"
SPREAD_HEADER = ("| op | phase | shape | 1.25x allows us | modeled us | HBM x0.97 / 0.98 / 0.99 / 1 / 1.01 / 1.02 / 1.03: us "
                 "| mean, worst / roofline | within 1.25x | pools unlimited us |\n|---|---|---|---|---|---|---|---|---|")


def _key(row: str) -> tuple[str, ...]:
    return tuple(cell.strip() for cell in row.strip().strip("|").split("|")[:3])


def _commit() -> str:
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             check=True).stdout.strip()
        # What the numbers depend on: the kernels, the emulator, the ops' host code and the model.
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "--", "csrc",
                                "ascend_glm5/ops", "ascend_glm5/perf"], capture_output=True, text=True, check=True).stdout.strip()
        kernels = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%h", "--", "csrc/kernels", "csrc/host"],
                                 capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{sha}{' + uncommitted changes' if dirty else ''} (kernels and host code last changed in {kernels})"


def write_rows(path: str, begin: str, end: str, header: str, rows: list[str], provenance: dict[str, str],
               keep_others: bool = True) -> None:
    """Replaces, in the block between `begin` and `end` of `path`, the rows with the same (first three
    cells) key as `rows` (others stay, new ones are added in the order of `cases()`; with
    `keep_others=False` the block's rows are all replaced), and the provenance lines ('- `op`: ...')
    of the ops in `provenance`."""
    text = open(path, encoding="utf-8").read()
    i, j = text.find(begin), text.find(end)
    if i < 0 or j < i:
        raise SystemExit(f"{path}: no block between '{begin}' and '{end}'")
    old = [line for line in text[i + len(begin):j].splitlines() if line.startswith("| ") and not line.startswith(header[:20])]
    old = [line for line in old if not set(line) <= set("|-")]
    notes = {line.split("`")[1]: line for line in text[i + len(begin):j].splitlines() if line.startswith("- `")}
    new = {_key(r): r for r in rows}
    merged = {_key(r): r for r in old if keep_others and _key(r) not in new}
    merged.update(new)
    order = {(c.op, c.phase, c.shape): n for n, c in enumerate(cases(None))}
    body = sorted(merged.values(), key=lambda r: order.get(_key(r), len(order)))
    notes.update({op: f"- `{op}`: {what}" for op, what in provenance.items()})
    block = "\n".join([begin, header, *body, "", "Generated at (per op):", "", *(notes[k] for k in sorted(notes)), end])
    open(path, "w", encoding="utf-8").write(text[:i] + block + text[j + len(end):])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ascend_glm5.perf.glm5", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--soc", default="Ascend910B3")
    ap.add_argument("--budget-min", type=float, default=5.0, help="skip cases predicted to emulate longer than this")
    ap.add_argument("--max-gb", type=float, default=4.0, help="skip cases whose inputs need more host memory")
    ap.add_argument("--only", help="one op (its rows only)")
    ap.add_argument("--phase", choices=["decode", "prefill"], help="one phase")
    ap.add_argument("--batch", type=int, help="one batch size")
    ap.add_argument("--ctx", type=int, help="one context / prompt length")
    ap.add_argument("--reports", action="store_true", help="print each case's full report")
    ap.add_argument("--write", metavar="DOC", help="also replace these rows in DOC's table (docs/performance.md)")
    ap.add_argument("--sensitivity", action="store_true",
                    help="instead: LI and SFA decode B=16, 32K with each assumed constant halved and doubled")
    ap.add_argument("--spread", action="store_true",
                    help="instead: LI and SFA decode (the goal's shapes) with the HBM bandwidth moved by up to 3 %%")
    ap.add_argument("--floors", action="store_true",
                    help="instead: LI and SFA decode (the goal's shapes) with their data movement free (perf/floors.py)")
    ap.add_argument("--paths", action="store_true",
                    help="instead: LI and SFA decode (the goal's shapes) with each data path free alone (perf/floors.py)")
    ap.add_argument("--goal-grids", action="store_true",
                    help="instead: re-render each op's goal grid in --write's doc from the doc's floors table (no emulation)")
    args = ap.parse_args(argv)
    if args.goal_grids:
        if not args.write:
            ap.error("--goal-grids needs --write DOC")
        print("goal grids written:", ", ".join(floors.write_goal_grids(args.write, GOAL_RATIO, (TABLE_BEGIN, TABLE_END))) or "none")
        return 0
    commit = _commit()
    goal_tables = {"spread": (SPREAD_HEADER, SPREAD_BEGIN, SPREAD_END, spread),
                   "floors": (floors.HEADER, floors.BEGIN, floors.END, floors_row),
                   "paths": (floors.PATHS_HEADER, floors.PATHS_BEGIN, floors.PATHS_END, paths_row)}
    table = next((name for name in goal_tables if getattr(args, name)), None)
    if table:
        header, begin, end, make_row = goal_tables[table]
        print(header, flush=True)
        rows = []
        for case in goal_cases(args.only, args.batch, args.ctx):
            rows.append(make_row(case, args.soc))
            print(rows[-1], flush=True)
        if args.write and rows:
            write_rows(args.write, begin, end, header, rows, {table: f"commit {commit}, {args.soc}, {time.strftime('%Y-%m-%d')}"})
            if table == "floors":  # each op's goal grid is the floors table's view of it
                floors.write_goal_grids(args.write, GOAL_RATIO, (TABLE_BEGIN, TABLE_END))
        return 0
    if args.sensitivity:
        print(SENS_HEADER, flush=True)
        rows = []
        for case in SENSITIVITY_CASES:
            for row in sensitivity(case, args.soc):
                print(row, flush=True)
                rows.append(row)
        if args.write:
            # One run gives every row; keyed rows would keep a stale copy whenever a base time changed.
            write_rows(args.write, SENS_BEGIN, SENS_END, SENS_HEADER, rows,
                       {"sensitivity": f"commit {commit}, {args.soc}, {time.strftime('%Y-%m-%d')}"}, keep_others=False)
        return 0
    print(HEADER, flush=True)
    # Seconds of emulation per unit of work, per op and phase, from its largest case so far (the
    # first, small case of an op also pays the warm-up: its speed would overstate the large ones).
    speed: dict[str, tuple[float, float]] = {}  # key -> (work, seconds per unit of work)
    rows: list[str] = []
    ran: set[str] = set()
    for case in cases(args.only):
        if (args.phase and case.phase != args.phase) or (args.batch and case.batch != args.batch) or (
                args.ctx and case.ctx != args.ctx):
            continue
        ran.add(case.op)
        key = f"{case.op}/{case.phase}"
        skip = ""
        if case.gm_bytes > args.max_gb * 1e9:
            skip = f"inputs need {case.gm_bytes / 1e9:.1f} GB > {args.max_gb:g} GB of host memory"
        elif key in speed and speed[key][1] * case.work > args.budget_min * 60:
            skip = f"predicted {speed[key][1] * case.work / 60:.0f} min of emulation > {args.budget_min:g} min"
        if skip:
            rows.append(f"| {case.op} | {case.phase} | {case.shape} | not emulated | {build_roofline_us(case, args.soc)} "
                        f"| | | | | {skip} |")
            print(rows[-1], flush=True)
            continue
        try:
            r = run_case(case, args.soc)
        except RuntimeError as e:  # e.g. a trace past the record limit: say so, go on
            rows.append(f"| {case.op} | {case.phase} | {case.shape} | failed | | | | | | {str(e).splitlines()[0]} |")
            print(rows[-1], flush=True)
            continue
        if key not in speed or case.work >= speed[key][0]:
            speed[key] = (case.work, r["emulated_s"] / case.work)
        rows.append(fmt_row(r))
        print(rows[-1], flush=True)
        if args.reports:
            print("\n" + "\n".join("    " + line for line in format_report(r["report"], r["roof"]).splitlines()) + "\n")
    if args.write and rows:
        when = time.strftime("%Y-%m-%d")
        write_rows(args.write, TABLE_BEGIN, TABLE_END, HEADER, rows,
                   {op: f"commit {commit}, {args.soc}, {when}" for op in sorted(ran)})
    return 0


def build_roofline_us(case: Case, soc: str) -> str:
    """The roofline of an attention case too big to emulate, from its shape alone ('' for others):
    as li_roofline / sfa_inputs, with every selected SFA row taken as distinct in decode and every
    key row of the sequence read once in prefill."""
    n = case.batch if case.phase == "decode" else case.ctx  # query rows
    if case.op == "lightning_indexer":
        keys = case.batch * case.ctx if case.phase == "decode" else case.ctx
        pairs = n * case.ctx if case.phase == "decode" else case.ctx * (case.ctx + 1) / 2
        r = Roofline(bytes=n * (LI_HEADS * DIM * 2 + LI_HEADS * 4 + TOPK * 4) + keys * DIM * 2, macs=pairs * LI_HEADS * DIM,
                     written=n * TOPK * 4)
    elif case.op == "sparse_flash_attention":
        selected = n * min(TOPK, case.ctx) if case.phase == "decode" else sum(min(i + 1, TOPK) for i in range(n))
        distinct = selected if case.phase == "decode" else case.ctx
        r = Roofline(bytes=distinct * 1152 + n * (SFA_HEADS * (576 + 512) * 2 + TOPK * 4),
                     macs=selected * SFA_HEADS * (576 + 512), written=n * SFA_HEADS * 512 * 2)
    else:
        return ""
    return f"{r.time_us(soc):.2f}"


if __name__ == "__main__":
    raise SystemExit(main())
