"""Sanity of the timing model (ascend_glm5.perf) on micro-kernels whose bound is known: a streaming
copy on every vector core must take its HBM roofline, a double-buffered fp32 matmul on every cube
core its cube roofline (each within 10 %), and the variants without double buffering must come
out slower, as their instruction mix says. Plus: the trace is recorded only when asked, and a
truncated trace is refused."""

from __future__ import annotations

import numpy as np
import pytest

from ascend_glm5 import perf
from ascend_glm5.ops._backend import cpu_module
from ascend_glm5.perf import soc as socs

SOC = "Ascend910B3"  # 20 AIC + 40 AIV at 1.8 GHz
AIV, AIC = 40, 20
COPY_BYTES = 1 << 20  # per core
TILE = 32 << 10


def _copy(kern, buffers: int, src: np.ndarray, cores: int = AIV, l2_bytes: float | None = None):
    with perf.tracing() as traces:
        out = kern.stream_copy(src, cores, TILE, buffers)
    assert np.array_equal(out, src)
    assert len(traces) == 1
    return perf.replay(traces[0], SOC, param_overrides={"l2_bytes": l2_bytes} if l2_bytes else None)


@pytest.fixture(scope="module")
def src() -> np.ndarray:
    return np.random.default_rng(0).integers(-30000, 30000, AIV * COPY_BYTES // 2, dtype=np.int16)


def test_trace_only_when_enabled(kern, src):
    c = cpu_module()
    c.set_trace(False)
    part = src[: 4 * 8 * 4096]  # 4 cores x 8 tiles of 8 KiB
    kern.stream_copy(part, 4, 8192, 2)
    assert c.take_traces() == []
    with perf.tracing() as traces:
        kern.stream_copy(part, 4, 8192, 2)
    (t,) = traces
    # Per tile: copy in, EnQue (set), DeQue (wait), copy out, FreeTensor (set); AllocTensor waits
    # for the buffer's last FreeTensor from the third tile on (two buffers).
    tiles = 8
    assert t.cores == 4 and t.records == 4 * (5 * tiles + (tiles - 2)) and t.bytes == 32 * t.records


def test_truncated_trace_is_refused(kern, src):
    with perf.tracing(max_records=10) as traces:
        kern.stream_copy(src[: 4 * 4096], 4, 8192, 2)
    assert traces[0].truncated
    with pytest.raises(RuntimeError, match="record limit"):
        perf.replay(traces[0], SOC)


def test_streaming_copy_takes_the_hbm_roofline(kern, src):
    # With an L2 of 1 MiB the copy's written lines are pushed out (written back) within the launch,
    # as in a stream too large for L2: its roofline is reading the data once and writing it once.
    rep = _copy(kern, 2, src, l2_bytes=1 << 20)
    roofline = perf.Roofline(bytes=2 * src.nbytes)
    ratio = rep.time_us / roofline.time_us(SOC)
    assert 0.9 <= ratio <= 1.1, perf.format_report(rep, roofline)
    # HBM moves whole L2 lines: the source and the destination once, up to a line more per core slice.
    assert src.nbytes <= rep.hbm_read_bytes <= src.nbytes + AIV * 256
    assert src.nbytes <= rep.hbm_write_bytes + rep.l2_dirty_bytes <= src.nbytes + AIV * 256
    assert rep.l2_dirty_bytes <= 1 << 20


def test_copy_that_fits_l2_leaves_its_writes_there(kern, src):
    # L2 is write-back: the 40 MiB the copy writes stay in the 192 MiB L2 (dirty, written back after
    # the launch), so only the reads take HBM time and the launch beats the read + write roofline.
    rep = _copy(kern, 2, src)
    assert rep.hbm_write_bytes == 0 and src.nbytes <= rep.l2_dirty_bytes <= src.nbytes + AIV * 256
    assert rep.time_us < 0.8 * perf.Roofline(bytes=2 * src.nbytes).time_us(SOC)


def test_copy_without_double_buffering_is_slower(kern, src):
    # On 8 cores HBM is not the limit, each core's pipeline is: one buffer serialises copy-in,
    # the read latency and copy-out; two buffers keep MTE2 streaming. (On all 40 cores both
    # variants saturate HBM, and the model says so.)
    part = src[: 8 * COPY_BYTES // 2]
    single, double = _copy(kern, 1, part, 8), _copy(kern, 2, part, 8)
    assert single.time_us > 1.5 * double.time_us
    assert single.utilisation("MTE2") < double.utilisation("MTE2")


MATMUL_N, MATMUL_K = 1024, 512  # 8 output tiles per core: pipeline fill and drain stay under 10 %


@pytest.fixture(scope="module")
def matmul(kern):
    """The fp32 matmul (20 cores x 128 rows, N 1024, K 512) with and without overlapped copies."""
    rng = np.random.default_rng(1)
    n, k = MATMUL_N, MATMUL_K
    a = rng.standard_normal((AIC * 128, k), dtype=np.float32)
    bt = rng.standard_normal((n, k), dtype=np.float32)
    reports, traces = {}, {}
    for overlap in (True, False):
        with perf.tracing() as recorded:
            c = kern.matmul(a, bt, AIC, overlap)
        np.testing.assert_allclose(c, a @ bt.T, rtol=1e-4, atol=1e-3)
        traces[overlap] = recorded[0]
        reports[overlap] = perf.replay(recorded[0], SOC)
    roofline = perf.Roofline(bytes=a.nbytes + bt.nbytes + a.shape[0] * n * 4, macs=a.shape[0] * n * k, mac_bits=32)
    return reports, roofline, traces


def test_matmul_takes_the_cube_roofline(matmul):
    reports, roofline, _ = matmul
    rep = reports[True]
    assert roofline.which(SOC) == "cube"
    ratio = rep.time_us / roofline.time_us(SOC)
    assert 0.9 <= ratio <= 1.1, perf.format_report(rep, roofline)
    assert rep.cube_macs[32] == roofline.macs


def test_matmul_without_overlapped_copies_is_slower(matmul):
    reports, _, _ = matmul
    serial, overlapped = reports[False], reports[True]
    assert serial.time_us > 1.2 * overlapped.time_us
    assert serial.utilisation("M") < overlapped.utilisation("M")


def test_l2_bandwidth_is_shared(matmul):
    # Every cube core reads all of Bt (2 MiB) for each of its row blocks: after the first, from L2.
    # At the assumed shared L2 rate those hits cost nothing extra; squeeze the pool and they set the time.
    reports, _, traces = matmul
    base = reports[True]
    n, k = MATMUL_N, MATMUL_K
    assert base.l2_hit_bytes >= (AIC - 1) * n * k * 4
    need = base.l2_hit_bytes / base.cycles  # L2 bytes per cycle the launch used on average
    squeezed = perf.replay(traces[True], SOC, param_overrides={"l2_bytes_per_cycle": need / 4})
    assert squeezed.time_us > 3 * base.time_us
    assert perf.replay(traces[True], SOC, param_overrides={"l2_bytes_per_cycle": need * 4}).time_us < 1.05 * base.time_us


def test_soc_table_is_the_documented_one():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "performance.md").read_text()
    assert socs.markdown(SOC) in doc and perf.costs.markdown() in doc


# ---- dependencies: each kind the trace records must order the work it orders on the NPU ----------
DEP_TILE, DEP_COPIES, DEP_VECS, DEP_CORES = 16 << 10, 24, 160, 4


def _deps(kern, kind: str, mix: bool, copies: int = DEP_COPIES, vecs: int = DEP_VECS):
    with perf.tracing() as traces:
        kern.dependencies(DEP_CORES, DEP_TILE, copies, vecs, kind, mix)
    (t,) = traces
    return perf.replay(t, SOC)


# The records the dependency adds: one PipeBarrier per core; SyncAll: one per core, and the copies of
# every core but block 0 go; cross-core: per block the AIC's set and each of the 2 AIVs' wait.
DEP_RECORDS = {"barrier": DEP_CORES, "sync_all": DEP_CORES - (DEP_CORES - 1) * DEP_COPIES, "cross_core": 3 * DEP_CORES,
               "cross_core_mte2": 3 * DEP_CORES}


# cross_core_mte2: the AIV waits naming PIPE_MTE2, which its vector part does not use; on A2/A3 the wait
# holds every later instruction (dav_c220 wait_flag_dev takes no pipe), so the parts still run in turn.
@pytest.mark.parametrize("kind, mix", [("barrier", False), ("sync_all", False), ("cross_core", True), ("cross_core_mte2", True)])
def test_dependencies_serialise_the_work(kern, kind, mix):
    # A copy part and a vector part that share no data: without the dependency their pipes overlap
    # (time near the longer part), with it they run one after the other (at least the sum).
    copy_part = _deps(kern, "none", mix, vecs=0).time_us
    vector_part = _deps(kern, "none", mix, copies=0).time_us
    assert 0.5 < copy_part / vector_part < 2, (copy_part, vector_part)  # comparable parts: the test can tell
    free, ordered = _deps(kern, "none", mix), _deps(kern, kind, mix)
    assert ordered.records - free.records == DEP_RECORDS[kind]
    assert free.time_us < 0.8 * (copy_part + vector_part), perf.format_report(free)
    assert ordered.time_us >= 0.95 * (copy_part + vector_part), perf.format_report(ordered)
    if mix:  # the critical path runs through the cube core's copies, then a vector core's work
        kinds = {core.split()[0] for core, pipe, _, _ in ordered.critical_path() if pipe != "-"}
        assert kinds == {"AIC", "AIV"}, ordered.critical_path()


@pytest.mark.parametrize("mix, hops", [(False, 1), (True, 3)])
def test_sync_all_costs_its_flag_hops(kern, mix, hops):
    # CANN 8.5 dav_c220 SyncAllImpl: SyncAll<true> (AIV only) is one mode-0 cross-core flag; SyncAll<false>
    # goes AIV -> AIC (mode 2), AIC -> AIC (mode 0), AIC -> AIV (mode 2). With nothing else on the
    # path, a dearer cross-core flag delays the launch by exactly that many hops.
    with perf.tracing() as traces:
        kern.dependencies(DEP_CORES, DEP_TILE, 2, 4, "sync_all", mix)
    (t,) = traces
    base, dear = (perf.replay(t, SOC, param_overrides={"cross_core_latency": lat}) for lat in (200, 1200))
    assert dear.cycles - base.cycles == pytest.approx(hops * 1000, abs=1), (perf.format_report(base), perf.format_report(dear))


# ---- outputs: the timeline plot and the bench's --soc / --plot --------------------------------------
def test_plot_timeline_writes_a_png(kern, src, tmp_path):
    rep = _copy(kern, 2, src[: 4 * 8 * 4096], 4)
    out = tmp_path / "copy.png"
    perf.plot_timeline(rep, str(out))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


def test_bench_soc_plot_prints_modeled_vs_roofline(tmp_path, capsys):
    from ascend_glm5 import bench

    assert bench.run("dynamic_quant", quick=True, soc=SOC, plot=str(tmp_path / "dq.png")) == 0
    out = capsys.readouterr().out
    pngs = sorted(tmp_path.glob("dq_*.png"))
    assert pngs and all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs), out
    assert "modeled / roofline" in out and f"timing model, {SOC}" in out
    # The summary line of each case: modeled us, roofline us, their ratio.
    rows = [line.split() for line in out.splitlines() if line.rstrip().endswith("critical path)") and "x" in line]
    assert rows, out


@pytest.mark.parametrize("op", ["dynamic_quant", "lightning_indexer"])  # the indexer's bench has its own model path
def test_bench_floors_prints_each_cases_replays(op, capsys):
    """`bench <op> --floors` (perf/floors.py format_floors): after each case's report, its replays with
    data movement free, each freeing more than the one before it in its line, the first being the
    modeled time the report printed, and the own paths' busiest pipe within them."""
    import re

    from ascend_glm5 import bench
    from ascend_glm5.perf import floors

    assert bench.run(op, quick=True, floors=True) == 0
    out = capsys.readouterr().out
    modeled = [float(m) for m in re.findall(rf"\] {op} on \S+ .*?: modeled ([\d.]+) us", out)]
    lines = [line for line in out.splitlines() if line.startswith("  floors (perf/floors.py): ")]
    pipes = [line for line in out.splitlines() if line.startswith("  own paths' busiest pipe: ")]
    assert modeled and len(lines) == len(pipes) == len(modeled), out  # one launch a case
    for line, pipe, report_us in zip(lines, pipes, modeled):
        cells = [re.fullmatch(r"(.+) ([\d.]+) us \([\d.]+x\)", c) for c in line.split(": ", 1)[1].split(", ")]
        t = {m.group(1): float(m.group(2)) for m in cells}
        assert list(t) == list(floors.REPLAYS), line
        assert t["modeled"] == pytest.approx(report_us, abs=0.006)
        assert t["chain without round trips"] <= t["chain"] <= t["chain + HBM"] <= t["modeled"]
        assert t["chain without round trips"] <= t["own paths"] <= t["modeled"]
        name, us = re.match(r"  own paths' busiest pipe: (A[IV][CV] \S+) ([\d.]+) us", pipe).groups()
        assert 0 < float(us) <= t["own paths"]


def test_doc_rows_are_replaced_not_duplicated(tmp_path):
    """`--write` of the GLM-5 table keeps other ops' rows; the sensitivity block is replaced whole
    (its rows carry the base time in their key cells, so keyed merging would keep stale copies)."""
    from ascend_glm5.perf import glm5

    doc = tmp_path / "perf.md"
    old_li = "| lightning_indexer | decode | B=1, 8K | 9.4 | 1.32 | 7.1x |  |  | AIC MTE2 | 1 s |"
    old_sfa = "| sparse_flash_attention | decode | B=1, 8K | 17.3 | 1.57 | 11.1x |  |  | AIC MTE2 | 1 s |"
    old_sens = "| lightning_indexer decode B=16, 32K | `gm_read_latency` 400 | 127.0 | 114.1 (-10%) | 155.4 (+22%) |"
    doc.write_text("\n".join(["intro", glm5.TABLE_BEGIN, glm5.HEADER, old_li, old_sfa, glm5.TABLE_END, "between",
                              glm5.SENS_BEGIN, glm5.SENS_HEADER, old_sens, glm5.SENS_END, "outro", ""]))
    new_li = old_li.replace("9.4 | 1.32 | 7.1x", "5.0 | 1.32 | 3.8x")
    glm5.write_rows(str(doc), glm5.TABLE_BEGIN, glm5.TABLE_END, glm5.HEADER, [new_li], {"lightning_indexer": "now"})
    new_sens = old_sens.replace("127.0 | 114.1", "93.0 | 85.0")
    glm5.write_rows(str(doc), glm5.SENS_BEGIN, glm5.SENS_END, glm5.SENS_HEADER, [new_sens], {"sensitivity": "now"},
                    keep_others=False)
    text = doc.read_text()
    assert new_li in text and old_li not in text and old_sfa in text
    assert new_sens in text and old_sens not in text
    assert text.startswith("intro\n") and "\nbetween\n" in text and text.endswith("outro\n")
    assert text.count("- `lightning_indexer`: now") == 1 and text.count("- `sensitivity`: now") == 1


def test_spread_follows_the_hbm_bandwidth_of_a_stream(kern, src):
    """`--spread`'s replays: a stream held by HBM takes time in inverse proportion to the bandwidth
    at each factor, and with the shared pools unlimited it runs at the cores' own path rate."""
    from ascend_glm5.perf import glm5

    with perf.tracing() as traces:
        kern.stream_copy(src, AIV, TILE, 2)
    times, free = glm5.spread_times(traces, SOC)
    assert len(times) == len(glm5.SPREAD_FACTORS)
    nominal = times[glm5.SPREAD_FACTORS.index(1.0)]
    for f, t in zip(glm5.SPREAD_FACTORS, times):
        assert t * f == pytest.approx(nominal, rel=0.02)
    # Without the pools the reads run at the 40 cores' gm_to_ub_rate, far above the HBM pool's; the
    # copies out (ub_to_gm_rate a core) then bound the stream.
    assert free < 0.8 * min(times)


def test_spread_row_counts_its_own_times(monkeypatch):
    """A spread row's cells agree with each other: the times within the goal's ratio of the roofline
    are counted against the limit the row prints, and the mean and worst ratios are those of the
    listed times. The ratio is moved into the widest gap between the case's times, so that the count
    is neither none nor all and no time lies within the cells' rounding of the limit."""
    from ascend_glm5.perf import glm5

    case = glm5.Case("lightning_indexer", "decode", 16, 4096, 0)  # held by HBM: its times spread
    first = [c.strip() for c in glm5.spread(case, SOC).strip().strip("|").split("|")]
    roof0 = float(first[3]) / glm5.GOAL_RATIO
    ratios = sorted(float(t) / roof0 for t in first[5].split(" / "))
    lo, hi = max(zip(ratios, ratios[1:]), key=lambda pair: pair[1] - pair[0])
    assert (hi - lo) * roof0 >= 0.02  # us: four times the cells' rounding
    monkeypatch.setattr(glm5, "GOAL_RATIO", (lo + hi) / 2)
    row = glm5.spread(case, SOC)
    cells = [c.strip() for c in row.strip().strip("|").split("|")]
    limit = float(cells[3])
    times = [float(t) for t in cells[5].split(" / ")]
    roof = limit / glm5.GOAL_RATIO  # from printed (rounded) cells: ratios agree to 0.5 %
    assert len(times) == len(glm5.SPREAD_FACTORS)
    assert float(cells[4].split()[0]) == times[glm5.SPREAD_FACTORS.index(1.0)]
    mean, worst = (float(x.strip().rstrip("x")) for x in cells[6].split(","))
    assert mean == pytest.approx(sum(times) / len(times) / roof, rel=5e-3)
    assert worst == pytest.approx(max(times) / roof, rel=5e-3)
    within = sum(t <= limit for t in times)
    assert 0 < within < len(times) and cells[7] == f"{within} of {len(times)}"
    assert float(cells[8].split()[0]) <= min(times)


def test_a_sparse_sfa_cache_writes_every_selected_row(monkeypatch):
    """A decode case past SFA_DENSE_CACHE_BYTES builds its cache with the selected rows only. With the
    rest NaN (not left as allocated) the op and the reference must still agree and be finite: every
    row the indices select was written, and the kernel reads no other."""
    import torch

    from ascend_glm5 import ops
    from ascend_glm5.perf import glm5
    from ascend_glm5.reference import sparse_flash_attention as reference

    case = glm5.Case("sparse_flash_attention", "decode", 3, 4096, 3)
    assert not case.sparse_cache and case.gm_bytes == 3 * 4096 * 1152
    monkeypatch.setattr(glm5, "SFA_DENSE_CACHE_BYTES", 0)
    monkeypatch.setattr(glm5, "unwritten_bf16", lambda *shape: torch.full(shape, float("nan"), dtype=torch.bfloat16))
    assert case.sparse_cache and case.gm_bytes == 3 * glm5.TOPK * 4096
    args, kw, _ = glm5.sfa_inputs(case, torch.Generator().manual_seed(1))
    assert args[1].isnan().any()  # the unselected rows
    got, want = ops.sparse_flash_attention(*args, **kw), reference(*args, **kw)
    got, want = (t[0] if isinstance(t, tuple) else t for t in (got, want))
    assert want.isfinite().all()
    torch.testing.assert_close(got.float(), want.float(), atol=8e-3, rtol=2e-2)


# ---- host time of a launch's plan (`last_plan_us`, the benches' "plan us") -------------------------------
def test_each_launch_records_its_plan_time():
    """LI's and SFA's launches record the host time of their plan (0 after reset_counters), which the
    benches show beside the kernel's modeled time; an op without a plan leaves it at 0."""
    import torch

    from ascend_glm5 import ops

    c = cpu_module()
    g = torch.Generator().manual_seed(0)

    def rnd(*shape):
        return torch.randn(*shape, generator=g).bfloat16()

    c.reset_counters()
    ops.dynamic_quant(rnd(4, 64))
    assert c.last_plan_us() == 0
    ops.lightning_indexer(rnd(1, 2, 4, 128), rnd(1, 600, 1, 128), rnd(1, 2, 4), sparse_count=64)
    li_us = c.last_plan_us()
    c.reset_counters()
    ids = torch.randperm(300, generator=g)[:64].int().view(1, 1, 1, 64)
    key = rnd(1, 300, 1, 512)
    ops.sparse_flash_attention(rnd(1, 1, 4, 512), key, key, ids, 0.1, query_rope=rnd(1, 1, 4, 64), key_rope=rnd(1, 300, 1, 64))
    sfa_us = c.last_plan_us()
    assert 0 < li_us < 1e6 and 0 < sfa_us < 1e6, (li_us, sfa_us)
