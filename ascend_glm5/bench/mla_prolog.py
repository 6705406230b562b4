"""mla_prolog at GLM-5 shapes (He 6144, Hcq 2048, 64 heads of D 192): weight bytes the cube reads
against the minimum, cube MACs against the useful ones, cube / vector overlap of the pipeline, and
CPU wall time of the emulated kernel and of the reference.

Weight bytes: the cube cores' GM reads minus the activations the design reads (x once per MM1 column
tile, c^Q once per AI core with MM2 columns, q_nope once per whole head and per split head part);
the minimum is every weight byte once per token group (the kernel's groups of 64 tokens, 128 in
prefill when L1 holds their c^Q, share one pass over the weights). In decode (one group) the last
N mod cores heads are split over all AI cores by columns (mlap_cube.h); the model follows that.

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
GROUP = 64  # tokens per group in decode (kMlapGroupTokens)
PREFILL_GROUP = 128  # in prefill when L1 holds the group's c^Q (kMlapPrefillGroupTokens)
L1_BYTES = 512 * 1024 - 128  # what a kernel may use of the cube's L1
COL_TILE = 128  # MM2 / MM3 tiles
MM1_TILE = 256  # MM1 tiles (a 128-row group's take all of L0C)
CUBE_MACS_PER_CYCLE = {2: 4096, 1: 8192}  # by operand bytes: bf16 16x16x16, int8 16x32x16 per cycle
GM_BYTES_PER_CYCLE = 36.0  # ~1.6 TB/s over 24 AI cores at 1.8 GHz
VEC_ELEMS_PER_CYCLE = 64.0  # 256 bytes of fp32 per repeat

# (name, tokens, weight_quant_mode)
CASES = [("decode 1", 1, 0), ("decode 16", 16, 0), ("decode 64", 64, 0), ("decode 16 m1", 16, 1),
         ("decode 16 m2", 16, 2), ("prefill 1024", 1024, 0), ("prefill 1024 m2", 1024, 2)]  # fmt: skip
QUICK_CASES = [("decode 1", 1, 0), ("decode 16", 16, 0), ("decode 16 m2", 16, 2), ("prefill 256 m2", 256, 2)]


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


def _group_tokens(tokens: int, mode: int) -> int:
    """Tokens per group as the host tiling picks them (mla_prolog_tiling.cpp GroupTokens): 128 in
    prefill when the cube's L1 holds the chunk slots and the group's c^Q and q_nope, else 64."""
    big = PREFILL_GROUP
    fits = 2 * 32 * 1024 + 2 * 64 * 1024 + big * Q_LORA * (2 if mode == 0 else 1) + big * NOPE * 2 <= L1_BYTES
    return big if tokens > GROUP and fits else GROUP


def _head_bytes(mode: int) -> int:
    return Q_LORA * (NOPE + ROPE) * (1 if mode else 2) + NOPE * KV_LORA * 2  # W_uq_qr and W_uk of one head


def _mm1_tiles(cores: int, core: int, unit: int, more: int, mode: int, decode: bool, by_rows: bool) -> tuple[list, list]:
    """(first column, width) of core's MM1 tiles over [W_dq | W_dkv_kr] as the kernel cuts them
    (mlap_common.h MlapMm1Columns), tiles of up to 256 columns: (range 0, range 1). Decode: a share
    of W_dq (the first cores a unit more), then a share of W_dkv_kr (the last cores a unit more).
    Else one range: units of 32 bytes spread so that every core streams about the same weight bytes
    with its heads (the `more` cores with a whole head more take fewer units, rounded down; the
    others split the rest evenly), tiles that may
    straddle W_dq / W_dkv_kr; range 1 empty."""
    def tiles(c, end):
        out = []
        while c < end:
            out.append((c, min(end - c, MM1_TILE)))
            c += out[-1][1]
        return out

    if decode:
        b0, e0 = _split_columns(Q_LORA, unit, cores, core, False)
        b1, e1 = _split_columns(KV_LORA + ROPE, unit, cores, core, True) if not by_rows else (0, 0)
        return tiles(b0, e0), tiles(Q_LORA + b1, Q_LORA + e1)
    units, unit_bytes, head = (Q_LORA + KV_LORA + ROPE) // unit, HIDDEN * 32, _head_bytes(mode)
    level = (units * unit_bytes + more * head) // cores
    more_units = (level - head) // unit_bytes if level > head else 0  # the `more` cores' share, rounded down
    rest, others = units - more * more_units, cores - more

    def start(c: int) -> int:
        if c >= cores:
            return units
        m = min(c, more)
        i = c - m
        return m * more_units + i * (rest // others) + min(i, rest % others)

    return tiles(start(core) * unit, start(core + 1) * unit), []


def _kv_rows(cores: int, core: int) -> int:
    """Rows of W_dkv_kr a core multiplies with kvByRows (mlap_common.h MlapKvRows): units of 32 rows,
    the last cores a unit more."""
    b, e = _split_columns(HIDDEN, 32, cores, core, True)
    return e - b


def _split_columns(cols: int, unit: int, cores: int, core: int, last_more: bool) -> tuple[int, int]:
    """A core's columns of the split heads (mlap_common.h MlapSplitColumns)."""
    units = cols // unit
    if last_more:
        b, e = _split(units, cores, cores - 1 - core)
        b, e = units - e, units - b
    else:
        b, e = _split(units, cores, core)
    return b * unit, e * unit


def _design(tokens: int, mode: int, cores: int) -> dict:
    """Per AI core and group: the design's activation reads, cube MACs and weight bytes by stage.
    Whole heads (N // cores each, the first N % cores one more) and, in decode (one group), the split
    heads: the last N % cores heads shared by all cores by columns (MM2: their q columns; MM3: their
    query columns, a head's part at a time with its q_nope), as mlap_cube.h does."""
    x_size, uq_size = (1 if mode == 2 else 2), (1 if mode else 2)
    cols = NOPE + ROPE
    group = _group_tokens(tokens, mode)
    groups = [min(group, tokens - s) for s in range(0, tokens, group)]
    split = HEADS % cores if len(groups) == 1 else 0
    whole = HEADS - split
    # mla_prolog_tiling.cpp kvByRows: decode in mode 2 with split heads and at most 16 tokens splits
    # W_dkv_kr by rows (each core all 576 columns of its rows, int32 partial sums added in GM).
    by_rows = mode == 2 and split > 0 and tokens <= 16
    # uqByRows: the split heads' W_uq_qr by rows too when every head is split and all their q columns
    # fit one L0C slot as 16 rows.
    uq_by_rows = by_rows and split == HEADS and -(-split * cols // 32) * 32 <= 1024

    def pad(n: int, size: int) -> int:  # int8 B tiles are multiplied as whole 32-column blocks
        return -(-n // (32 // size)) * (32 // size)

    per_core = []
    for core in range(cores):
        h0, h1 = _split(whole, cores, core)
        heads = h1 - h0
        tiles, kv_tiles = _mm1_tiles(cores, core, 32 // x_size, whole % cores, mode, len(groups) == 1, by_rows)
        kv_rows = _kv_rows(cores, core) if by_rows else 0
        q2 = _split_columns(split * cols, 32 if mode and split * cols % 32 == 0 else 16, cores, core, False)
        # mlap_common.h MlapUqRows: 32-row units, the cores after W_dq's extra ones a unit more
        uq_units = _split(Q_LORA // 32, cores, (core - (Q_LORA // 32) % cores) % cores)
        uq_rows = (uq_units[1] - uq_units[0]) * 32 if uq_by_rows else 0
        q3 = _split_columns(split * KV_LORA, 16, cores, core, True)
        q2_tiles = [min(COL_TILE, q2[1] - c) for c in range(*q2, COL_TILE)]
        q3_parts = []  # (columns, q_nope loads): one load per split head the range touches
        c = q3[0]
        while c < q3[1]:
            end = min((c // KV_LORA + 1) * KV_LORA, q3[1])
            q3_parts.append(end - c)
            c = end
        stages, act = [], 0
        for rows in groups:
            m = -(-rows // 16) * 16
            mm1_macs = sum(m * n * HIDDEN for _, n in tiles)
            mm1_bytes = sum(n * HIDDEN * x_size for _, n in tiles)
            kv = (sum(m * n * HIDDEN for _, n in kv_tiles), sum(n * HIDDEN * x_size for _, n in kv_tiles), x_size)
            if by_rows:
                kv = (m * (KV_LORA + ROPE) * kv_rows, (KV_LORA + ROPE) * kv_rows * x_size, x_size)
            # mlap_cube.h KvInHalves: one W_dkv_kr tile within half an L0C slot, with split heads: K's
            # first half before the split heads' MM2, the second after it (by rows: of its rows).
            halves = by_rows or bool(split) and len(kv_tiles) == 1 and m * kv_tiles[0][1] * 4 <= 32 * 1024
            q_tiles = [min(COL_TILE, cols - c) for c in range(0, cols, COL_TILE)]
            mm2_macs = sum(m * pad(n, uq_size) * Q_LORA for n in q_tiles)
            mm3_macs = m * KV_LORA * NOPE
            mm2s = (sum(m * pad(n, uq_size) * Q_LORA for n in q2_tiles), (q2[1] - q2[0]) * Q_LORA * uq_size, uq_size)
            if uq_by_rows:  # all split q columns over our rows of W_uq_qr
                mm2s = (m * pad(split * cols, uq_size) * uq_rows, split * cols * uq_rows * uq_size, uq_size)
            mm3s = (m * (q3[1] - q3[0]) * NOPE, (q3[1] - q3[0]) * NOPE * 2, 2)
            stages.append(dict(rows=rows, mm1=(mm1_macs, mm1_bytes, x_size), kv=kv, kv_halves=halves, heads=heads,
                               mm2=(mm2_macs, Q_LORA * cols * uq_size, uq_size), mm3=(mm3_macs, NOPE * KV_LORA * 2, 2),
                               mm2s=mm2s, mm3s=mm3s, split=split,
                               split_nope=split * NOPE // cores if uq_by_rows else _split_nope(q2)))  # fmt: skip
            act += (len(tiles) + len(kv_tiles)) * rows * HIDDEN * x_size  # KvInHalves: half of x twice
            act += rows * kv_rows * x_size  # by rows: x's columns of our rows once
            act += rows * Q_LORA * uq_size if heads or (uq_rows if uq_by_rows else q2[1] > q2[0]) else 0  # c^Q once
            act += (heads + len(q3_parts)) * rows * NOPE * 2  # q_nope per whole head and per split head part
        per_core.append(dict(stages=stages, activations=act))
    return dict(per_core=per_core, groups=len(groups), group=group, split=split)


def _split_nope(q2: tuple[int, int]) -> int:
    """Nope columns among a core's split q columns (modes 1, 2 dequantize them on its vector cores)."""
    cols = NOPE + ROPE
    return sum(max(0, min(q2[1], j * cols + NOPE) - max(q2[0], j * cols)) for j in range(HEADS))


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
    cube step s = MM1(s), then for group s-1 (after c^Q is ready) the split heads' MM2 (decode), per
    whole head MM2 (waits for q ring slot k-2 to be free) and MM3 (modes 1, 2: waits for the vector
    cores' q_nope), then the split heads' MM3 (waits for the barrier after their q); vector step s =
    the split heads of group s-1 (modes 1, 2: dequantize this core's nope columns, the barrier, then
    their rope rows spread over all vector cores), its whole heads (each as soon as its q is ready),
    then the barrier on MM1(s), norm(s), a barrier (-> c^Q ready) and kv(s). Decode (one group): MM1
    posts its W_dq columns first and streams its W_dkv_kr ones while the vectors normalize c^Q (with
    KvInHalves, the second half after the split heads' MM2); the vectors' kv rows come after the
    split heads and wait for every core's W_dkv_kr columns. Barriers are taken at this core's own
    time (the split spreads every stage evenly). The cube streams up to 2 weight chunks while it
    waits for c^Q / q_nope / the split barrier."""
    def group_w(st):  # norm of c^Q and of the kv rows: the group's rows spread over all vector cores
        return st["rows"] / (2 * cores) * 10 * (Q_LORA + KV_LORA + ROPE)

    def head_w(st):
        return st["rows"] / 2 * (6 * ROPE + (5 * NOPE if mode else 0))

    def split_w(st):  # this core's dequantized nope columns (modes 1, 2), then its share of the rope rows
        return st["rows"] / 2 * 5 * st["split_nope"] * (1 if mode else 0), st["rows"] * st["split"] / (2 * cores) * 6 * ROPE

    total_w = sum(group_w(st) + st["heads"] * head_w(st) + sum(split_w(st)) for st in stages) or 1.0
    k_vec = vec_ops / total_w / VEC_ELEMS_PER_CYCLE  # cycles per unit of shape weight

    def cube_parts(macs, nbytes, size):
        return macs / CUBE_MACS_PER_CYCLE[size], nbytes / GM_BYTES_PER_CYCLE

    def prefetch(k, size, load):  # PrefetchB: up to 2 L1 chunks of the first 128-column tile
        return min(min(2 * 32 * 1024 // size, k) * COL_TILE * size / GM_BYTES_PER_CYCLE, load)

    cube_t = vec_t = cube_busy = vec_busy = 0.0
    mm1_done, cq_ready = [], []
    kv_done, kv_w = 0.0, 0.0  # decode: when this core's W_dkv_kr columns are in GM; the vector kv rows then
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
            # Decode: the W_dkv_kr columns after posting the W_dq ones (KvInHalves: half of them).
            kv_comp, kv_load = cube_parts(*stages[s]["kv"])
            share = 0.5 if stages[s]["kv_halves"] else 1.0
            cube_t += share * max(kv_comp, kv_load)
            cube_busy += max(kv_comp, kv_load)
            kv_done = cube_t
        if s >= 1:  # cube MM2 / MM3 and the vector heads of group s-1, interleaved by their flags
            st = stages[s - 1]
            c2, l2 = cube_parts(*st["mm2"])
            c3, l3 = cube_parts(*st["mm3"])
            c2s, l2s = cube_parts(*st["mm2s"])
            c3s, l3s = cube_parts(*st["mm3s"])
            first = l2s if st["mm2s"][1] else l2 if st["heads"] else 0.0
            pre = prefetch(Q_LORA, st["mm2"][2], first)
            cube_t = max(cube_t + pre, cq_ready[s - 1])
            if st["mm2s"][1]:  # the split heads' q first
                cube_t += max(c2s, l2s - pre)
                cube_busy += max(c2s, l2s)
                pre = 0.0
            split_q = cube_t  # the split heads' q is in GM
            if st["kv_halves"]:  # then the second half of the W_dkv_kr columns
                cube_t += 0.5 * max(*cube_parts(*st["kv"])[:2])
                kv_done = cube_t
            split_ready = None
            if st["split"]:  # vectors: dequantize our nope columns, the barrier, then the split rope rows
                nope_w, rope_w = split_w(st)
                vec_t = max(vec_t, split_q) + nope_w * k_vec
                split_ready = vec_t
                vec_t += rope_w * k_vec
                vec_busy += (nope_w + rope_w) * k_vec
            if kv_w:  # decode: the kv rows after a barrier on every core's W_dkv_kr columns
                vec_t = max(vec_t, kv_done) + kv_w
                kv_w = 0.0
            for h in range(st["heads"]):
                kk = len(q_free)
                if kk >= 2:
                    cube_t = max(cube_t, q_free[kk - 2])
                c = max(c2, l2 - pre if h == 0 else l2)
                cube_t += c
                cube_busy += max(c2, l2)
                q_ready = cube_t
                vec_t = max(vec_t, q_ready) + head_w(st) * k_vec
                vec_busy += head_w(st) * k_vec
                q_free.append(vec_t)
                if mode:  # MM3 waits for the dequantized q_nope; W_uk streams meanwhile
                    pre3 = prefetch(NOPE, 2, l3)
                    cube_t = max(cube_t + pre3, vec_t) + max(c3, l3 - pre3)
                else:
                    cube_t += max(c3, l3)
                cube_busy += max(c3, l3)
            if split_ready is not None:  # the split heads' query columns, W_uk prefetched meanwhile
                pre3 = prefetch(NOPE, 2, l3s)
                cube_t = max(cube_t + pre3, split_ready) + max(c3s, l3s - pre3)
                cube_busy += max(c3s, l3s)
        if s < n:  # vectors: barrier on every core's MM1(s), then norm(s), a barrier, kv(s)
            vec_t = max(vec_t, mm1_done[s])
            barrier[s] = vec_t
            w = group_w(stages[s]) * k_vec
            vec_t += w * Q_LORA / (Q_LORA + KV_LORA + ROPE)
            cq_ready.append(vec_t)
            if stages[s]["kv"][1]:  # decode: after the split heads (mlap_vector.h Process)
                kv_w = w * (KV_LORA + ROPE) / (Q_LORA + KV_LORA + ROPE)
            else:
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
        model_macs = sum(st["mm1"][0] + st["kv"][0] + st["heads"] * (st["mm2"][0] + st["mm3"][0]) + st["mm2s"][0] + st["mm3s"][0]
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
    print("  token group (64 tokens; 128 in prefill when L1 holds their c^Q: modes 1, 2 at these dims; cube GM")
    print("  reads minus the activations of the design, see this module's doc).")
    print("MAC/use: cube MACs issued (rows padded to 16, int8 columns to 32) over the op's useful MACs.")
    print("overlap: (cube + vector - schedule) / min(cube, vector) of the busiest AI core, a replay of the")
    print("  kernel's flag protocol with busy times from the counters at A2 rates (the emulator has no clock).")
    print("max ulp: largest query error against the reference, in bf16 ulps of its largest value.")
    return 0
