"""mla_prolog at GLM-5 shapes (He 6144, Hcq 2048, 64 heads of D 192): weight bytes the cube reads
against the minimum, cube MACs against the useful ones, cube / vector overlap of the pipeline, and
CPU wall time of the emulated kernel and of the reference.

Weight bytes: the cube cores' GM reads minus the activations the design reads (x once per MM1 column
tile, c^Q once per AI core with heads, q_nope once per head); the minimum is every weight byte once
per token group (the kernel's groups of 64 tokens share one pass over the weights).

Overlap: the emulator has no clock, so busy times come from the counters at Atlas A2 rates and the
overlap from replaying the kernel's cross-core protocol (mla_prolog_tiling.h) with those times:
  cube stage = max(MACs / (4096 bf16 | 8192 int8 per cycle), weight bytes / 36 B per cycle),
  vector stage = element-ops / 64 per cycle, the core's vector element-ops shared among the
  stages by their shapes (a norm row costs ~10 element-ops per element, a RoPE row ~6).
"overlap" = (cube + vector - schedule) / min(cube, vector) of the busiest AI core: 1 means the
smaller side is hidden entirely under the other.
"""

from __future__ import annotations

import math

import torch

from .. import ops, reference
from ..ops._backend import cpu_module
from ..perf.model import Roofline
from ._common import model_case, print_counters, print_row, wall_time

HIDDEN, Q_LORA, HEADS, NOPE, ROPE, KV_LORA = 6144, 2048, 64, 192, 64, 512
GROUP = 64  # tokens per group (kMlapGroupTokens)
COL_TILE = 128
CUBE_MACS_PER_CYCLE = {2: 4096, 1: 8192}  # by operand bytes: bf16 16x16x16, int8 16x32x16 per cycle
GM_BYTES_PER_CYCLE = 36.0  # ~1.6 TB/s over 24 AI cores at 1.8 GHz
VEC_ELEMS_PER_CYCLE = 64.0  # 256 bytes of fp32 per repeat

# (name, tokens, weight_quant_mode)
CASES = [("decode 1", 1, 0), ("decode 16", 16, 0), ("decode 64", 64, 0), ("decode 16 m1", 16, 1),
         ("decode 16 m2", 16, 2), ("prefill 1024", 1024, 0)]  # fmt: skip
QUICK_CASES = [("decode 1", 1, 0), ("decode 16", 16, 0), ("decode 16 m2", 16, 2), ("prefill 256", 256, 0)]


def _quantize(w):
    scale = w.abs().amax(0, keepdim=True) / 127
    return torch.round(w / scale).clamp(-127, 127).to(torch.int8), scale


def _inputs(tokens: int, mode: int, g: torch.Generator):
    def rnd(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g) * scale).bfloat16()

    args = [rnd(tokens, HIDDEN), rnd(HIDDEN, Q_LORA, scale=HIDDEN**-0.5),
            rnd(Q_LORA, HEADS * (NOPE + ROPE), scale=Q_LORA**-0.5), rnd(HEADS, NOPE, KV_LORA, scale=NOPE**-0.5),
            rnd(HIDDEN, KV_LORA + ROPE, scale=HIDDEN**-0.5), 1 + rnd(Q_LORA, scale=0.2), 1 + rnd(KV_LORA, scale=0.2)]  # fmt: skip
    angle = torch.arange(tokens)[:, None].double() * 1e4 ** (-torch.arange(0, ROPE, 2).double() / ROPE)
    args += [torch.cat([angle.sin()] * 2, -1).bfloat16(), torch.cat([angle.cos()] * 2, -1).bfloat16()]
    blocks = -(-tokens // 128)
    args += [torch.zeros(blocks, 128, 1, KV_LORA + ROPE).bfloat16(), None]  # the combined cache the models use
    kw = dict(cache_index=torch.randperm(blocks * 128, generator=g)[:tokens], query_norm_flag=True,
              weight_quant_mode=mode, rmsnorm_epsilon_cq=1e-6, rmsnorm_epsilon_ckv=1e-6)  # fmt: skip
    if mode:
        args[2], kw["dequant_scale_w_uq_qr"] = _quantize(args[2].float())
    if mode == 2:
        args[1], kw["dequant_scale_w_dq"] = _quantize(args[1].float())
        args[4], kw["dequant_scale_w_dkv_kr"] = _quantize(args[4].float())
        args[0], scale = reference.dynamic_quant(args[0])
        kw["dequant_scale_x"] = scale[:, None]
    return args, kw


def _split(n: int, parts: int, i: int) -> tuple[int, int]:
    base, extra = divmod(n, parts)
    begin = i * base + min(i, extra)
    return begin, begin + base + (1 if i < extra else 0)


def _mm1_tiles(cores: int, core: int, unit: int) -> list[tuple[int, int]]:
    """(first column, width) of core's MM1 tiles over [W_dq | W_dkv_kr], as the kernel cuts them."""
    c1 = Q_LORA + KV_LORA + ROPE
    u0, u1 = _split(c1 // unit, cores, core)
    tiles, c, end = [], u0 * unit, u1 * unit
    while c < end:
        limit = Q_LORA if c < Q_LORA else c1
        n = min(end - c, COL_TILE, limit - c)
        tiles.append((c, n))
        c += n
    return tiles


def _design(tokens: int, mode: int, cores: int) -> dict:
    """Per AI core and group: the design's activation reads, cube MACs and weight bytes by stage."""
    x_size, uq_size = (1 if mode == 2 else 2), (1 if mode else 2)
    cols = NOPE + ROPE
    groups = [min(GROUP, tokens - s) for s in range(0, tokens, GROUP)]
    per_core = []
    for core in range(cores):
        tiles = _mm1_tiles(cores, core, 32 // x_size)
        h0, h1 = _split(HEADS, cores, core)
        heads = h1 - h0
        stages, act = [], 0
        for rows in groups:
            m = -(-rows // 16) * 16
            mm1_macs = sum(m * -(-n // (32 // x_size)) * (32 // x_size) * HIDDEN for _, n in tiles)
            mm1_bytes = sum(n * HIDDEN * x_size for _, n in tiles)
            q_tiles = [min(COL_TILE, cols - c) for c in range(0, cols, COL_TILE)]
            mm2_macs = sum(m * -(-n // (32 // uq_size)) * (32 // uq_size) * Q_LORA for n in q_tiles)
            mm3_macs = m * KV_LORA * NOPE
            stages.append(dict(rows=rows, mm1=(mm1_macs, mm1_bytes, x_size), heads=heads,
                               mm2=(mm2_macs, Q_LORA * cols * uq_size, uq_size), mm3=(mm3_macs, NOPE * KV_LORA * 2, 2)))  # fmt: skip
            act += len(tiles) * rows * HIDDEN * x_size + (rows * Q_LORA * uq_size if heads else 0)
            act += heads * rows * NOPE * 2
        per_core.append(dict(stages=stages, activations=act))
    return dict(per_core=per_core, groups=len(groups))


def _weight_bytes(mode: int) -> int:
    x_size, uq_size = (1 if mode == 2 else 2), (1 if mode else 2)
    return (HIDDEN * (Q_LORA + KV_LORA + ROPE) * x_size + Q_LORA * HEADS * (NOPE + ROPE) * uq_size
            + HEADS * NOPE * KV_LORA * 2)  # fmt: skip


def _roofline(tokens: int, mode: int) -> Roofline:
    """Every weight once, x in, query / query_rope / query_norm and the cache rows out; each
    projection's MACs at the cube peak of its dtype (for `bench mla_prolog --soc`)."""
    x_size, uq_size = (1 if mode == 2 else 2), (1 if mode else 2)
    macs = {16: tokens * HEADS * NOPE * KV_LORA}
    for size, m in ((x_size, tokens * HIDDEN * (Q_LORA + KV_LORA + ROPE)), (uq_size, tokens * Q_LORA * HEADS * (NOPE + ROPE))):
        macs[8 * size] = macs.get(8 * size, 0) + m
    out = tokens * (HEADS * (KV_LORA + ROPE) * 2 + (KV_LORA + ROPE) * 2 + Q_LORA * 2)
    return Roofline(_weight_bytes(mode) + tokens * HIDDEN * x_size + out, 0, 16, macs)


def _replay(stages, vec_ops: float, mode: int, cores: int) -> tuple[float, float, float]:
    """Cycles (cube busy, vector busy, schedule) of one AI core replaying the kernel's protocol:
    cube step s = MM1(s), then per head of group s-1: MM2 (waits for q ring slot k-2 to be free),
    MM3 (modes 1, 2: waits for the vector cores' q_nope); vector step s = the heads of group s-1
    (each as soon as its q is ready), then the barrier on MM1(s), norm(s), a barrier (-> c^Q ready)
    and kv(s).
    The cube streams up to 2 weight chunks while it waits for c^Q / q_nope."""
    def group_w(st):  # norm of c^Q and of the kv rows: the group's rows spread over all vector cores
        return st["rows"] / (2 * cores) * 10 * (Q_LORA + KV_LORA + ROPE)

    def head_w(st):
        return st["rows"] / 2 * (6 * ROPE + (5 * NOPE if mode else 0))

    total_w = sum(group_w(st) + st["heads"] * head_w(st) for st in stages) or 1.0
    k_vec = vec_ops / total_w / VEC_ELEMS_PER_CYCLE  # cycles per unit of shape weight

    def cube_parts(macs, nbytes, size):
        return macs / CUBE_MACS_PER_CYCLE[size], nbytes / GM_BYTES_PER_CYCLE

    def prefetch(k, size):  # PrefetchB: up to 2 L1 chunks of the first 128-column tile
        return min(2 * 32 * 1024 // size, k) * COL_TILE * size / GM_BYTES_PER_CYCLE
    cube_t = vec_t = cube_busy = vec_busy = 0.0
    mm1_done, cq_ready = [], []
    barrier: dict[int, float] = {}  # vector step s: when every vector core passed its MM1(s) barrier
    q_free: list[float] = []
    n = len(stages)
    for s in range(n + 1):
        if s < n:  # cube MM1(s)
            comp, load = cube_parts(*stages[s]["mm1"])
            # MM1(s) reuses the ring slot of group s-2: free once every vector core passed barrier s-1.
            cube_t = max(cube_t, barrier.get(s - 1, 0.0) if s >= 2 else 0.0) + max(comp, load)
            cube_busy += max(comp, load)
            mm1_done.append(cube_t)
        if s >= 1:  # cube MM2 / MM3 and the vector heads of group s-1, interleaved by their flags
            st = stages[s - 1]
            c2, l2 = cube_parts(*st["mm2"])
            c3, l3 = cube_parts(*st["mm3"])
            if st["heads"]:
                pre = min(prefetch(Q_LORA, st["mm2"][2]), l2)
                cube_t = max(cube_t + pre, cq_ready[s - 1])
                l2_first = l2 - pre
            for h in range(st["heads"]):
                kk = len(q_free)
                if kk >= 2:
                    cube_t = max(cube_t, q_free[kk - 2])
                c = max(c2, l2_first if h == 0 else l2)
                cube_t += c
                cube_busy += max(c2, l2)
                q_ready = cube_t
                vec_t = max(vec_t, q_ready) + head_w(st) * k_vec
                vec_busy += head_w(st) * k_vec
                q_free.append(vec_t)
                if mode:  # MM3 waits for the dequantized q_nope; W_uk streams meanwhile
                    pre3 = min(prefetch(NOPE, 2), l3)
                    cube_t = max(cube_t + pre3, vec_t) + max(c3, l3 - pre3)
                else:
                    cube_t += max(c3, l3)
                cube_busy += max(c3, l3)
        if s < n:  # vectors: barrier on every core's MM1(s), then norm(s), a barrier, kv(s)
            vec_t = max(vec_t, mm1_done[s])
            barrier[s] = vec_t
            w = group_w(stages[s]) * k_vec
            vec_t += w * Q_LORA / (Q_LORA + KV_LORA + ROPE)
            cq_ready.append(vec_t)
            vec_t += w * (KV_LORA + ROPE) / (Q_LORA + KV_LORA + ROPE)
            vec_busy += w
    return cube_busy, vec_busy, max(cube_t, vec_t)


def main(quick: bool) -> int:
    g = torch.Generator().manual_seed(0)
    print(f"mla_prolog, GLM-5: He {HIDDEN}, Hcq {Q_LORA}, {HEADS} heads x D {NOPE} (+{ROPE}), PA_BSND, query_norm")
    widths = [13, 6, 7, 10, 9, 9, 8, 9, 10, 10]
    print_row(["case", "cores", "groups", "weight MB", "read/min", "MAC/use", "overlap", "max ulp", "emulated",
               "reference"], widths)  # fmt: skip
    counters = []
    for name, tokens, mode in QUICK_CASES if quick else CASES:
        args, kw = _inputs(tokens, mode, g)
        run = lambda: ops.mla_prolog(*args, **kw)  # noqa: E731
        t_emu = wall_time(run, repeat=1)
        got = run()
        launch = cpu_module().last_launch()
        counters.append((name, launch["total"]))
        cores = launch["block_dim"]
        design = _design(tokens, mode, cores)
        per = launch["per_core"]  # MIX launch order per block: AIC, AIV, AIV
        # The design model must issue exactly the MACs the kernel did, or its split is not the kernel's.
        model_macs = sum(st["mm1"][0] + st["heads"] * (st["mm2"][0] + st["mm3"][0])
                         for c in design["per_core"] for st in c["stages"])  # fmt: skip
        assert model_macs == launch["total"]["cube_macs"], f"design model {model_macs} != {launch['total']['cube_macs']} MACs"
        cube_reads = sum(per[3 * b]["mte2_bytes"] for b in range(cores))
        weights_read = cube_reads - sum(c["activations"] for c in design["per_core"])
        minimum = _weight_bytes(mode) * design["groups"]
        useful = tokens * (HIDDEN * (Q_LORA + KV_LORA + ROPE) + Q_LORA * HEADS * (NOPE + ROPE) + HEADS * NOPE * KV_LORA)
        overlaps = []
        for b in range(cores):
            vec_ops = per[3 * b + 1]["vector_elem_ops"] + per[3 * b + 2]["vector_elem_ops"]
            cube, vec, span = _replay(design["per_core"][b]["stages"], vec_ops / 2, mode, cores)
            overlaps.append((span, (cube + vec - span) / max(min(cube, vec), 1e-9)))
        overlap = max(overlaps)[1]  # the AI core with the longest schedule
        ref_kv = args[9].clone()
        ref = lambda: reference.mla_prolog(*args[:9], ref_kv, None, **kw)  # noqa: E731
        t_ref = wall_time(ref, repeat=1)
        want = ref()
        top = float(want[0].float().abs().max())
        ulps = float((got[0].float() - want[0].float()).abs().max()) / 2.0 ** (math.floor(math.log2(top)) - 7)
        print_row([name, str(cores), str(design["groups"]), f"{weights_read / 1e6:.1f}", f"{weights_read / minimum:.3f}",
                   f"{launch['total']['cube_macs'] / useful:.2f}", f"{overlap:.2f}", f"{ulps:.1f}", f"{t_emu:.1f} s",
                   f"{t_ref:.2f} s"], widths)  # fmt: skip
        model_case(name, run, _roofline(tokens, mode))
    print()
    print_counters(counters)
    print()
    print("weight MB / read/min: bytes of weights the cube cores read, and that over each weight byte once per")
    print("  token group of 64 (cube GM reads minus the activations of the design, see this module's doc).")
    print("MAC/use: cube MACs issued (rows padded to 16, int8 columns to 32) over the op's useful MACs.")
    print("overlap: (cube + vector - schedule) / min(cube, vector) of the busiest AI core, a replay of the")
    print("  kernel's flag protocol with busy times from the counters at A2 rates (the emulator has no clock).")
    print("max ulp: largest query error against the reference, in bf16 ulps of its largest value.")
    return 0
