"""The shared HBM pool is shared the way hardware shares it (max-min fair, csrc/perf/flows.h): cores
that stream at the same time get the same bandwidth whichever of them the replay visits first, the
pool is fully used when the cores want more than it has, a transfer whose own path is slower than
its fair share gets its path rate, and cheaper scalar work never makes a kernel slower.

The work is the stream-copy micro-kernel (perf_kernels.cpp) with a head start per core: `leads[i]`
scalar UB writes before core i's first copy (1 cycle each: the replay's `scalar_local_cycles` is set
so), so the order in which
cores start, and the order the replay visits them in, can be permuted. Its reads miss L2 and take
the HBM pool; its writes go into L2 (write-back: HBM pays when a written line is pushed out)."""

from __future__ import annotations

import numpy as np
import pytest

from ascend_glm5 import perf
from ascend_glm5.perf.soc import params

SOC = "Ascend910B3"
AIV = 40
BYTES = 256 << 10  # per core: 8 tiles of 32 KiB in, 8 out
TILE = 32 << 10
OVERHEAD = params(SOC)["gm_copy_overhead"]


@pytest.fixture(scope="module")
def src() -> np.ndarray:
    return np.random.default_rng(2).integers(-30000, 30000, AIV * BYTES // 2, dtype=np.int16)


def _trace(kern, src, cores, leads):
    part = src[: cores * BYTES // 2]
    with perf.tracing() as traces:
        out = kern.stream_copy(part, cores, TILE, 2, leads)
    assert np.array_equal(out, part)
    (t,) = traces
    return t


def _api(rep, pipe: str) -> tuple[float, float]:
    """(busy cycles over all cores, instructions) of the GM copies on `pipe`."""
    (row,) = [a for a in rep.apis if a[1] == pipe and "GM" in a[0]]
    return row[2], row[3]


# Head starts of 0..39 x 8 scalar writes: at most 312 cycles against ~12,000 cycles of reading at
# the HBM rate. The same head starts handed to the cores in three orders.
LEAD_CYCLES = {"scalar_local_cycles": 1}
ORDERS = {"by index": np.arange(AIV), "reversed": np.arange(AIV)[::-1],
          "shuffled": np.random.default_rng(3).permutation(AIV)}


@pytest.fixture(scope="module")
def streams(kern, src):
    return {name: perf.replay(_trace(kern, src, AIV, leads * 8), SOC, param_overrides=LEAD_CYCLES)
            for name, leads in ORDERS.items()}


@pytest.mark.parametrize("order", list(ORDERS))
def test_streaming_cores_share_hbm_equally(streams, order):
    rep = streams[order]
    # 40 cores x 58.6 B/cycle of GM -> UB path want 2.6x what HBM gives: the pool is the limit.
    busy = np.array([c["busy"][4] for c in rep.cores])  # MTE2: the reads, through the HBM pool
    end = np.array([c["end"] for c in rep.cores])
    # Equal shares: every core's copies take as long (within 3 %), and a core ends later than
    # another by no more than it started later (the largest head start, 39 x 8 scalar writes).
    assert busy.max() / busy.min() < 1.03, (order, busy.min(), busy.max())
    lead = 39 * 8 * LEAD_CYCLES["scalar_local_cycles"]
    assert end.max() - end.min() <= 1.5 * lead, (order, end.min(), end.max(), lead)


def test_launch_time_does_not_depend_on_start_order(streams):
    times = [r.time_us for r in streams.values()]
    assert max(times) / min(times) < 1.005, times


def test_saturated_pool_is_fully_used(streams):
    rep = streams["by index"]
    moved = rep.hbm_read_bytes + rep.hbm_write_bytes
    # The pool is busy from the first copy's first byte (after its overhead) until the last read ends
    # (the last writes go into L2 after it).
    tl = rep.timeline
    last_read = tl["end"][np.asarray(tl["pipe"]) == 4].max()  # MTE2
    span = last_read - OVERHEAD
    rate = moved / span
    assert rate >= 0.95 * params(SOC)["hbm_bytes_per_cycle"], (rate, params(SOC)["hbm_bytes_per_cycle"])


def test_transfer_below_its_fair_share_gets_its_path_rate(kern, src):
    # 6 cores and an L2 of 64 lines, so each read's lines push the previous write's out: the reads
    # (GM -> UB path, 58.6 B/cycle) and those write-backs (UB -> GM path, 27) share an HBM pool of
    # 400 B/cycle, 6 x 85.6 = 514 wanted. Max-min: the write-backs (below an equal share of 400 / 12
    # = 33) keep their path rate and the reads share the rest, (400 - 6 x 27) / 6 = 40 each; a
    # proportional share would give the reads 58.6 x 400 / 514 = 46.
    p = params(SOC)
    rep = perf.replay(_trace(kern, src, 6, np.zeros(6)), SOC,
                      param_overrides={"l2_bytes": 64 * p["l2_line_bytes"], "hbm_bytes_per_cycle": 400})
    rd_busy, rd_n = _api(rep, "MTE2")
    rate = TILE / (rd_busy / rd_n - OVERHEAD)
    assert rate <= 0.95 * p["gm_to_ub_rate"] * 400 / (6 * (p["gm_to_ub_rate"] + p["ub_to_gm_rate"])), rate
    assert rate >= 0.9 * (400 - 6 * p["ub_to_gm_rate"]) / 6, rate  # and no slower than that


def test_cheaper_scalar_work_never_slows_the_launch(kern, src):
    # The head starts scale with the scalar cost; a cheaper scalar unit starts every core earlier,
    # so the launch can only end earlier (0.2 % tie band for float rounding in the pools).
    t = _trace(kern, src, AIV, ORDERS["shuffled"] * 8)
    times = [perf.replay(t, SOC, param_overrides={"scalar_local_cycles": s}).time_us for s in (1, 1.5, 2, 2.5, 3)]
    assert all(a <= b * 1.002 for a, b in zip(times, times[1:])), times


def test_pool_never_moves_more_than_it_has(kern, src):
    # 20 streaming cores saturate HBM (20 x 58.6 B/cycle of reads alone want 1.3x of it); 20 cores
    # each issue two GM -> UB copies back to back and then two UB -> GM copies that wait for nothing.
    # Their scalar unit issues the UB -> GM copies right after the second GM -> UB one, so the pool
    # gets them at their true start: no byte of HBM traffic is credited outside its capacity.
    streamers = AIV // 2
    with perf.tracing() as traces:
        out = kern.late_copy(src, AIV, TILE, streamers)
    half = streamers * BYTES // 2
    assert np.array_equal(out[:half], src[:half])
    assert (out[half:] == 7).all()
    rep = perf.replay(traces[0], SOC)
    cap = params(SOC)["hbm_bytes_per_cycle"]
    moved = rep.hbm_read_bytes + rep.hbm_write_bytes
    # The pools are busy from the first copy's first byte (after its overhead) to the launch's end at most.
    rate = moved / (rep.cycles - OVERHEAD)
    assert rate <= 1.001 * cap, (rate, cap, rep.late_bytes)
    assert rep.cycles >= moved / cap, (rep.cycles, moved / cap)
    # ... because no copy reached the pools after their clock passed its start.
    assert rep.late_bytes == 0, rep.late_bytes


def test_pool_never_moves_more_than_it_has_across_cores(kern, src):
    # 10 blocks of 1 AIC + 2 AIV: the AICs read tile after tile and flag each to their AIVs, which
    # wait for the flag (the kernel names MTE3; on A2/A3 the wait holds the whole core) and then
    # read (20 x 2 x 58.6 B/cycle wanted: HBM is the limit). Cores held back by cross-core waits
    # still hand every copy to the pool at its true start.
    blocks = 10
    part = src[: 3 * blocks * (BYTES // 2)]
    with perf.tracing() as traces:
        out = kern.late_cross_copy(part, blocks, TILE)
    per = BYTES // 2  # int16 elements of one AIV slice
    want = np.zeros_like(part)
    for v in range(2 * blocks):  # each AIV wrote the first half of its slice with 7s, nothing else
        want[v * per: v * per + per // 2] = 7
    assert np.array_equal(out, want)
    rep = perf.replay(traces[0], SOC)
    cap = params(SOC)["hbm_bytes_per_cycle"]
    moved = rep.hbm_read_bytes + rep.hbm_write_bytes
    rate = moved / (rep.cycles - OVERHEAD)
    assert rate <= 1.001 * cap, (rate, cap, rep.late_bytes)
    assert rep.late_bytes == 0, rep.late_bytes
